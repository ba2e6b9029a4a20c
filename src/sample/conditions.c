/* BOSampler's member conditions, fixed before a member's first step:
 *   its total   fixed (-mass M), or drawn from a pool of totals
 *               (-mass_from train|FILE), so that the ensemble's total counts
 *               follow the data's instead of whatever the mean-predicting
 *               steps add up to;
 *   its label   fixed (-label L), or, for a class-conditioned network, the
 *               label of a training member drawn at random (-label_from
 *               train), so that an ensemble without -label is the mixture
 *               sum_c p(c) p(x | c) of the training classes instead of the
 *               null class, which training sees only at the dropout rate.
 * A drawn label comes first and the total is drawn among the totals of that
 * label, so (label, total) pairs follow the training members' joint law. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bo_checkpoint.h"
#include "bo_dataset.h"
#include "bo_sampler.h"
#include "sampleimpl.h"

/* (group, total) ascending */
static int by_group_total(const void *a, const void *b)
{
  const double *x = a, *y = b;
  return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Keep the totals of the label asked for (all when none is, or the source has
 * no labels), group them by label when labels are drawn, and sort them within
 * each group: group g's totals are pool[pool_start[g] .. pool_start[g+1]). */
static PetscErrorCode build_pool(BOSampler s, PetscInt n, const double *totals, const PetscInt *labels)
{
  const PetscBool grouped = s->draw_labels && labels;
  PetscInt        m       = 0;
  double         *pairs;

  PetscFunctionBegin;
  s->ngroups = grouped ? s->model->cfg.num_classes : 1;
  PetscCall(PetscMalloc1(2 * n + 2, &pairs));
  for (PetscInt i = 0; i < n; i++) {
    if (labels && s->label >= 0 && labels[i] != s->label) continue;
    PetscCheck(!grouped || (labels[i] >= 0 && labels[i] < s->ngroups), s->comm, PETSC_ERR_FILE_UNEXPECTED,
               "-mass_from %s: label %" PetscInt_FMT " outside the model's 0..%" PetscInt_FMT, s->mass_from, labels[i],
               s->ngroups - 1);
    pairs[2 * m] = grouped ? (double)labels[i] : 0.0, pairs[2 * m + 1] = totals[i];
    m++;
  }
  qsort(pairs, (size_t)m, 2 * sizeof(double), by_group_total);
  PetscCall(PetscMalloc2(m + 1, &s->pool, s->ngroups + 1, &s->pool_start));
  for (PetscInt g = 0; g <= s->ngroups; g++) s->pool_start[g] = 0;
  for (PetscInt i = 0; i < m; i++) s->pool[i] = pairs[2 * i + 1], s->pool_start[(PetscInt)pairs[2 * i] + 1]++;
  for (PetscInt g = 0; g < s->ngroups; g++) s->pool_start[g + 1] += s->pool_start[g];
  s->npool = m;
  PetscCall(PetscFree(pairs));
  PetscFunctionReturn(0);
}

/* The training labels the checkpoint keeps, sorted: a uniform index into
 * them draws a label with the training frequencies. */
static PetscErrorCode set_up_label_pool(BOSampler s, PetscInt n, const PetscInt *labels)
{
  PetscFunctionBegin;
  PetscCall(PetscMalloc1(n + 1, &s->label_pool));
  for (PetscInt i = 0; i < n; i++) s->label_pool[i] = labels[i]; /* the checkpoint sorts them by label */
  s->nlabel_pool = n;
  PetscFunctionReturn(0);
}

static PetscErrorCode resolve_label_from(BOSampler s, PetscBool ckpt_has_labels)
{
  const PetscBool classes = s->model->cfg.num_classes > 0;

  PetscFunctionBegin;
  if (!strcmp(s->label_from, "auto"))
    PetscCall(PetscStrncpy(s->label_from, classes && s->label < 0 && ckpt_has_labels ? "train" : "none",
                           sizeof(s->label_from)));
  PetscCheck(!strcmp(s->label_from, "train") || !strcmp(s->label_from, "none"), s->comm, PETSC_ERR_ARG_WRONG,
             "-label_from %s: expected auto, train or none", s->label_from);
  s->draw_labels = (PetscBool)!strcmp(s->label_from, "train");
  PetscCheck(!s->draw_labels || classes, s->comm, PETSC_ERR_ARG_INCOMP,
             "-label_from train: the model was trained without labels");
  PetscCheck(!s->draw_labels || s->label < 0, s->comm, PETSC_ERR_ARG_INCOMP,
             "-label_from train draws each member's label; it cannot go with -label %" PetscInt_FMT, s->label);
  PetscCheck(!s->draw_labels || ckpt_has_labels, s->comm, PETSC_ERR_FILE_UNEXPECTED,
             "-label_from train: %s keeps no training labels", s->checkpoint);
  PetscCheck(s->guidance == 0 || s->label >= 0 || s->draw_labels || s->model->cfg.num_params > 0 ||
                 s->model->cfg.num_inputs > 0,
             s->comm, PETSC_ERR_ARG_INCOMP,
             "-guidance %g needs labels: give -label L, or -label_from train (or a network conditioned on "
             "params or inputs)",
             (double)s->guidance);
  PetscFunctionReturn(0);
}

/* The totals of the members of a data file, with their labels if it has any. */
static PetscErrorCode pool_from_file(BOSampler s, const char *path)
{
  BODataset ds;
  double   *totals;
  PetscInt *labels;

  PetscFunctionBegin;
  PetscCall(BODatasetCreate(s->comm, &ds));
  PetscCall(BODatasetSetFile(ds, path, NULL));
  PetscCall(BODatasetOpen(ds));
  PetscCheck(ds->D == s->model->dim, s->comm, PETSC_ERR_ARG_INCOMP,
             "-mass_from %s: its members have %" PetscInt_FMT " elements, the model's %" PetscInt_FMT, path, ds->D,
             s->model->dim);
  PetscCall(BODatasetGatherTotals(ds, &totals, &labels));
  PetscCall(build_pool(s, ds->N, totals, labels));
  PetscCall(PetscFree(totals));
  PetscCall(PetscFree(labels));
  PetscCall(BODatasetDestroy(&ds));
  PetscFunctionReturn(0);
}

static PetscErrorCode free_pools(BOSampler s)
{
  PetscFunctionBegin;
  PetscCall(PetscFree2(s->pool, s->pool_start));
  PetscCall(PetscFree(s->label_pool));
  s->npool = s->nlabel_pool = 0;
  PetscFunctionReturn(0);
}

PetscErrorCode bo_sample_set_up_conditions(BOSampler s)
{
  PetscInt  n = 0, *labels = NULL;
  double   *totals = NULL;
  PetscBool totals_wanted;

  PetscFunctionBegin;
  PetscCall(free_pools(s));
  if (s->checkpoint[0]) PetscCall(BOCheckpointLoadTotals(s->comm, s->checkpoint, &n, &totals, &labels));
  /* (the checkpoint's labels are all 0 when it has none: a model without classes) */
  PetscCall(resolve_label_from(s, (PetscBool)(n > 0 && s->model->cfg.num_classes > 0)));
  if (s->draw_labels) PetscCall(set_up_label_pool(s, n, labels));
  if (!strcmp(s->mass_from, "auto"))
    PetscCall(PetscStrncpy(s->mass_from, s->model->cfg.condition_total ? "train" : "none", sizeof(s->mass_from)));
  totals_wanted = (PetscBool)(s->mass < 0 && strcmp(s->mass_from, "none"));
  if (totals_wanted && !strcmp(s->mass_from, "train") && n > 0)
    PetscCall(build_pool(s, n, totals, s->model->cfg.num_classes > 0 ? labels : NULL));
  else if (totals_wanted && strcmp(s->mass_from, "train")) PetscCall(pool_from_file(s, s->mass_from));
  PetscCall(PetscFree2(totals, labels));
  PetscCheck(!s->model->cfg.condition_total || s->mass >= 0 || s->npool > 0, s->comm, PETSC_ERR_ARG_WRONG,
             "-mass_from %s gives no totals, but the network is conditioned on each member's total: give -mass M, "
             "-mass_from train or -mass_from FILE",
             s->mass_from);
  for (PetscInt i = 0; s->npool > 0 && s->ngroups > 1 && i < s->nlabel_pool; i++) { /* the labels a draw can give */
    const PetscInt g = s->label_pool[i];
    PetscCheck(s->pool_start[g + 1] > s->pool_start[g], s->comm, PETSC_ERR_ARG_INCOMP,
               "-mass_from %s has no member of label %" PetscInt_FMT ", which -label_from train can draw", s->mass_from,
               g);
  }
  /* A step toward a known total is the exact bridge given that total. */
  PetscCheck(s->step_type == BO_REVERSE_BRIDGE || (s->mass < 0 && s->npool == 0), s->comm, PETSC_ERR_ARG_INCOMP,
             "-sampler %s: members with a total (-mass, -mass_from %s) take exact bridge steps; add -mass_from none",
             BOReverseStepTypes[s->step_type], s->mass_from);
  PetscCall(PetscFree(s->totals));
  PetscCall(PetscFree(s->member_labels));
  if (s->mass >= 0 || s->npool > 0) PetscCall(PetscMalloc1(s->micro_batch, &s->totals));
  PetscCall(PetscMalloc1(s->micro_batch, &s->member_labels));
  PetscFunctionReturn(0);
}

PetscErrorCode bo_sample_destroy_conditions(BOSampler s)
{
  PetscFunctionBegin;
  PetscCall(free_pools(s));
  PetscCall(PetscFree(s->totals));
  PetscCall(PetscFree(s->member_labels));
  PetscFunctionReturn(0);
}

/* A draw from group g's totals: the empirical quantile at a uniform level,
 * interpolated between neighbours and stochastically rounded to an integer. */
double bo_sample_draw_sorted(const double *p, PetscInt m, BORng *rng)
{
  double x = BORngUniform(rng) * (double)(m - 1), v;

  v = p[(PetscInt)x];
  if ((PetscInt)x + 1 < m) v += (x - floor(x)) * (p[(PetscInt)x + 1] - p[(PetscInt)x]);
  return (double)BORngStochasticRound(rng, v);
}

static double draw_total(BOSampler s, PetscInt g, BORng *rng)
{
  return bo_sample_draw_sorted(s->pool + s->pool_start[g], s->pool_start[g + 1] - s->pool_start[g], rng);
}

PetscErrorCode BOSamplerMemberConditions(BOSampler s, PetscInt first, PetscInt n, PetscInt *labels, double *totals)
{
  PetscFunctionBegin;
  for (PetscInt b = 0; b < n; b++) {
    const uint32_t member = (uint32_t)(first + b);
    BORng          rng;

    labels[b] = s->label;
    if (s->draw_labels) { /* its own stream, so that the totals' draws stay as without labels */
      BORngInit(&rng, s->seed, BO_RNG_TOTAL, member, 1);
      labels[b] = s->label_pool[(PetscInt)(BORngUniform(&rng) * (double)s->nlabel_pool)];
    }
    if (!totals) continue;
    if (s->mass >= 0) totals[b] = s->mass;
    else {
      BORngInit(&rng, s->seed, BO_RNG_TOTAL, member, 0);
      if (s->point_pool) totals[b] = bo_sample_draw_point_total(s, first + b, &rng);
      else totals[b] = draw_total(s, s->ngroups > 1 ? labels[b] : 0, &rng);
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode bo_sample_view_conditions(BOSampler s, PetscViewer viewer)
{
  double lo = PETSC_MAX_REAL, hi = -PETSC_MAX_REAL;

  PetscFunctionBegin;
  for (PetscInt i = 0; i < s->npool; i++) lo = PetscMin(lo, s->pool[i]), hi = PetscMax(hi, s->pool[i]);
  if (s->draw_labels)
    PetscCall(PetscViewerASCIIPrintf(viewer, "  member labels: drawn from the %" PetscInt_FMT " training labels\n",
                                     s->nlabel_pool));
  if (s->mass >= 0) PetscCall(PetscViewerASCIIPrintf(viewer, "  member totals: exactly %g (-mass)\n", (double)s->mass));
  else if (s->npool > 0)
    PetscCall(PetscViewerASCIIPrintf(viewer, "  member totals: drawn from %" PetscInt_FMT " totals (%s%s), %g to %g\n",
                                     s->npool, !strcmp(s->mass_from, "train") ? "the training members" : s->mass_from,
                                     s->label >= 0    ? " of the label"
                                     : s->ngroups > 1 ? ", within each member's label"
                                                      : "",
                                     lo, hi));
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
  else if (s->field_pools)
    snprintf(buf, len, "train, the %" PetscInt_FMT " members nearest to each member's input field", s->inputs_knn);
  else if (s->point_pool)
    snprintf(buf, len, "train, the %" PetscInt_FMT " members nearest to each member's params%s", s->knn,
             s->knn_linear ? ", moved to the point by a linear fit" : "");
  else if (s->npool > 0) snprintf(buf, len, "%s", s->mass_from);
  else snprintf(buf, len, "none");
}
