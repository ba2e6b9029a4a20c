/* BOSampler's member totals: fixed (-mass M), or drawn from a pool of totals
 * (-mass_from train|FILE), so that the ensemble's total counts follow the
 * data's instead of whatever the mean-predicting steps add up to. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bo_checkpoint.h"
#include "bo_dataset.h"
#include "bo_sampler.h"
#include "sampleimpl.h"

static int by_value(const void *a, const void *b)
{
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The training totals stored in the checkpoint, of the asked-for class when
 * a label is given (all classes otherwise). */
static PetscErrorCode pool_from_checkpoint(BOSampler s)
{
  PetscInt n, *labels;
  double  *totals;

  PetscFunctionBegin;
  PetscCall(BOCheckpointLoadTotals(s->comm, s->checkpoint, &n, &totals, &labels));
  PetscCall(PetscMalloc1(n + 1, &s->pool));
  s->npool = 0;
  for (PetscInt i = 0; i < n; i++)
    if (s->label < 0 || labels[i] == s->label) s->pool[s->npool++] = totals[i];
  PetscCall(PetscFree2(totals, labels));
  PetscFunctionReturn(0);
}

/* The totals of the members of a data file. */
static PetscErrorCode pool_from_file(BOSampler s, const char *path)
{
  BODataset ds;

  PetscFunctionBegin;
  PetscCall(BODatasetCreate(s->comm, &ds));
  PetscCall(BODatasetSetFile(ds, path, NULL));
  PetscCall(BODatasetOpen(ds));
  PetscCheck(ds->D == s->model->dim, s->comm, PETSC_ERR_ARG_INCOMP,
             "-mass_from %s: its members have %" PetscInt_FMT " elements, the model's %" PetscInt_FMT, path, ds->D,
             s->model->dim);
  PetscCall(BODatasetGatherTotals(ds, &s->pool, NULL));
  s->npool = ds->N;
  PetscCall(BODatasetDestroy(&ds));
  PetscFunctionReturn(0);
}

PetscErrorCode bo_sample_set_up_totals(BOSampler s)
{
  PetscFunctionBegin;
  PetscCall(PetscFree(s->pool));
  s->npool = 0;
  if (!strcmp(s->mass_from, "auto"))
    PetscCall(PetscStrncpy(s->mass_from, s->model->cfg.condition_total ? "train" : "none", sizeof(s->mass_from)));
  if (s->mass < 0 && strcmp(s->mass_from, "none")) {
    if (!strcmp(s->mass_from, "train")) {
      if (s->checkpoint[0]) PetscCall(pool_from_checkpoint(s)); /* (a model set directly has none) */
    } else PetscCall(pool_from_file(s, s->mass_from));
    qsort(s->pool, (size_t)s->npool, sizeof(double), by_value);
  }
  PetscCheck(!s->model->cfg.condition_total || s->mass >= 0 || s->npool > 0, s->comm, PETSC_ERR_ARG_WRONG,
             "-mass_from %s gives no totals, but the network is conditioned on each member's total: give -mass M, "
             "-mass_from train or -mass_from FILE",
             s->mass_from);
  /* A step toward a known total is the exact bridge given that total. */
  PetscCheck(s->step_type == BO_REVERSE_BRIDGE || (s->mass < 0 && s->npool == 0), s->comm, PETSC_ERR_ARG_INCOMP,
             "-sampler %s: members with a total (-mass, -mass_from %s) take exact bridge steps; add -mass_from none",
             BOReverseStepTypes[s->step_type], s->mass_from);
  PetscCall(PetscFree(s->totals));
  if (s->mass >= 0 || s->npool > 0) PetscCall(PetscMalloc1(s->micro_batch, &s->totals));
  PetscFunctionReturn(0);
}

PetscErrorCode BOSamplerMemberTotals(BOSampler s, PetscInt first, PetscInt n, double *totals)
{
  PetscFunctionBegin;
  for (PetscInt b = 0; b < n; b++) {
    BORng  rng;
    double x, v;
    if (s->mass >= 0) {
      totals[b] = s->mass;
      continue;
    }
    if (s->npool == 0) {
      totals[b] = -1;
      continue;
    }
    BORngInit(&rng, s->seed, BO_RNG_TOTAL, (uint32_t)(first + b), 0);
    x = BORngUniform(&rng) * (double)(s->npool - 1);
    v = s->pool[(PetscInt)x];
    if ((PetscInt)x + 1 < s->npool) v += (x - floor(x)) * (s->pool[(PetscInt)x + 1] - s->pool[(PetscInt)x]);
    totals[b] = (double)BORngStochasticRound(&rng, v);
  }
  PetscFunctionReturn(0);
}

PetscErrorCode bo_sample_view_totals(BOSampler s, PetscViewer viewer)
{
  PetscFunctionBegin;
  if (s->mass >= 0) PetscCall(PetscViewerASCIIPrintf(viewer, "  member totals: exactly %g (-mass)\n", (double)s->mass));
  else if (s->npool > 0)
    PetscCall(PetscViewerASCIIPrintf(viewer, "  member totals: drawn from %" PetscInt_FMT " totals (%s%s), %g to %g\n",
                                     s->npool, !strcmp(s->mass_from, "train") ? "the training members" : s->mass_from,
                                     s->label >= 0 ? " of the label" : "", s->pool[0], s->pool[s->npool - 1]));
  else
    PetscCall(PetscViewerASCIIPrintf(viewer, "  member totals: not conditioned (%s)\n",
                                     strcmp(s->mass_from, "none") ? "the checkpoint has no training totals"
                                                                  : "-mass_from none"));
  PetscFunctionReturn(0);
}

/* The attribute that says where the totals came from. */
void bo_sample_totals_provenance(BOSampler s, char *buf, size_t len)
{
  if (s->mass >= 0) snprintf(buf, len, "mass %.17g", (double)s->mass);
  else if (s->npool > 0) snprintf(buf, len, "%s", s->mass_from);
  else snprintf(buf, len, "none");
}
