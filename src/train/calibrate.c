/* BOTrainerCalibrate: how far the trained network's predictions are from the
 * births they predict, on exact noised training states (docs/SAMPLING.md,
 * "Calibration"), stored with the process for the sampler to correct. */
#include <math.h>
#include <stdio.h>
#include "bo_sys.h"
#include "bo_trainer.h"

#define CAL_BINS  BO_CALIBRATION_BINS
#define CAL_SUMS  BO_CALIBRATION_SUMS
#define CAL_PRIOR 10.0 /* pseudo-units of ratio 1 in every bin and group: a bin with few births stays near 1 */

void BOCalibrationAddMember(PetscInt D, const float *nt, const float *y, const float *out, double *sums)
{
  for (PetscInt i = 0; i < D; i++) {
    const double yhat = BOSoftplus(out[i]), yi = y[i];
    double      *g = sums + (nt[i] == 0.0f ? 0 : 5);
    g[0] += yhat, g[1] += yi, g[2] += yi * yi, g[3] += yi * yhat, g[4] += yhat * yhat;
  }
}

double BOCalibrationDispersion(const double *g)
{
  if (g[0] <= 0.0 || g[1] <= 0.0) return 0.0;
  const double c = g[1] / g[0];
  return (g[2] - 2.0 * c * g[3] + c * c * g[4]) / g[1];
}

/* One global batch (round r of the calibration's members) at a time in each
 * bin: the members' own conditions, none dropped, the weights in use. */
static PetscErrorCode calibrate_round(BOTrainer tr, uint64_t seed, PetscInt r, double *sums)
{
  const PetscInt D = tr->data->D, T = tr->proc->T;
  PetscInt       nloc;

  PetscFunctionBegin;
  PetscCall(BODatasetGetMinibatch(tr->data, seed ^ 0x63616c6962ULL, r, tr->batch, &nloc, tr->gidx, tr->n0,
                                  tr->conditional ? tr->labels : NULL));
  for (PetscInt b = 0; b < nloc; b++) tr->totals_b[b] = tr->totals[tr->gidx[b]], tr->drop_b[b] = PETSC_FALSE;
  if (tr->cond_params || tr->cond_inputs)
    PetscCall(BODatasetGetConditions(tr->data, nloc, tr->gidx, tr->cond_params ? tr->params_b : NULL,
                                     tr->cond_inputs ? tr->inputs_b : NULL));
  for (PetscInt bin = 0; bin < CAL_BINS && nloc > 0; bin++) {
    const PetscInt lo = bin * T / CAL_BINS, hi = (bin + 1) * T / CAL_BINS;
    for (PetscInt b = 0; b < nloc; b++) {
      BORng rng;
      /* keyed by round too: a member drawn again (more members than data) gets other states */
      BORngInit(&rng, seed, BO_RNG_CALIBRATE, (uint32_t)tr->gidx[b], (uint32_t)(r * CAL_BINS + bin));
      tr->k[b]  = lo + (PetscInt)BORngBelow(&rng, (uint32_t)(hi - lo));
      tr->pk[b] = tr->proc->p[tr->k[b]];
      BOProcessNoiseAt(tr->proc, &rng, tr->k[b], D, tr->n0 + b * D, tr->nt + b * D, tr->y + b * D);
    }
    PetscCall(BOTrainerForwardBatch(tr, nloc));
    for (PetscInt b = 0; b < nloc; b++)
      BOCalibrationAddMember(D, tr->nt + b * D, tr->y + b * D, tr->out + b * D, sums + CAL_SUMS * bin);
  }
  PetscFunctionReturn(0);
}

/* The table: per bin, the range of t and, over empty and occupied cells,
 * predicted / realised (the calibration curve; the stored factors are its
 * inverse, shrunk towards 1 by CAL_PRIOR), the realised units and the
 * dispersion index around the calibrated predictions (BOCalibrationDispersion). */
static PetscErrorCode print_table(BOTrainer tr, const double *sums)
{
  const PetscInt T = tr->proc->T;

  PetscFunctionBegin;
  PetscCall(PetscPrintf(tr->comm, "calibration: predicted / realised remaining counts on exact states, by time, with "
                                  "the dispersion of the realised around the calibrated predictions (1: Poisson)\n"
                                  "  bin  t from    t to       empty cells (realised, dispersion)   occupied cells "
                                  "(realised, dispersion)\n"));
  for (PetscInt b = 0; b < CAL_BINS; b++) {
    const double  *q  = sums + CAL_SUMS * b;
    const PetscInt lo = b * T / CAL_BINS, hi = (b + 1) * T / CAL_BINS - 1;
    char           cell[2][48];
    for (int g = 0; g < 2; g++) {
      const double pred = q[5 * g], real = q[5 * g + 1];
      if (real > 0 && pred > 0)
        snprintf(cell[g], sizeof(cell[g]), "%7.4f (%11.0f, %6.3f)", pred / real, real,
                 BOCalibrationDispersion(q + 5 * g));
      else snprintf(cell[g], sizeof(cell[g]), "      - (%11.0f,      -)", real);
    }
    PetscCall(PetscPrintf(tr->comm, "  %3" PetscInt_FMT "  %-8.3g  %-8.3g  %s     %s\n", b, tr->proc->t[lo],
                          tr->proc->t[hi], cell[0], cell[1]));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOTrainerCalibrationSums(BOTrainer tr, uint64_t seed, double *sums, PetscBool *stopped)
{
  const PetscInt np = tr->model->nparams, rounds = (tr->calibrate_members + tr->batch - 1) / tr->batch;
  float         *raw;
  int            signalled = 0;

  PetscFunctionBegin;
  PetscCall(PetscArrayzero(sums, CAL_SUMS * CAL_BINS));
  PetscCall(PetscMalloc1(np, &raw));
  /* the sampler's weights: the EMA */
  PetscCall(PetscArraycpy(raw, tr->model->params, np));
  PetscCall(PetscArraycpy(tr->model->params, tr->ema, np));
  for (PetscInt r = 0; r < rounds && !signalled; r++) {
    PetscCall(calibrate_round(tr, seed, r, sums));
    signalled = BOTrainerSignalled(); /* the ranks agree on it, as in the training loop */
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &signalled, 1, MPI_INT, MPI_MAX, tr->comm));
  }
  if (stopped) *stopped = signalled ? PETSC_TRUE : PETSC_FALSE;
  PetscCall(PetscArraycpy(tr->model->params, raw, np));
  PetscCall(PetscFree(raw));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, sums, CAL_SUMS * CAL_BINS, MPI_DOUBLE, MPI_SUM, tr->comm));
  PetscFunctionReturn(0);
}

PetscErrorCode BOTrainerCalibrate(BOTrainer tr, PetscBool *stopped)
{
  const PetscInt members = (tr->calibrate_members + tr->batch - 1) / tr->batch * tr->batch;
  double         sums[CAL_SUMS * CAL_BINS], ratios[2 * CAL_BINS], start = BOWallTime();

  PetscFunctionBegin;
  *stopped = PETSC_FALSE;
  if (tr->calibrate_members <= 0) PetscFunctionReturn(0);
  if (tr->loss == BO_LOSS_ENERGY) {
    PetscCall(PetscPrintf(tr->comm, "calibration: none for a distributional network (its outputs are samples)\n"));
    PetscFunctionReturn(0);
  }
  PetscCall(PetscPrintf(tr->comm, "calibration: %" PetscInt_FMT " members x %d bins of time on exact states...\n",
                        members, CAL_BINS));
  PetscCall(BOTrainerCalibrationSums(tr, tr->seed, sums, stopped));
  if (*stopped) {
    PetscCall(PetscPrintf(tr->comm, "calibration: stopped by signal; the checkpoint keeps none (-restart does it)\n"));
    PetscFunctionReturn(0);
  }
  for (PetscInt b = 0; b < CAL_BINS; b++) {
    const double *q      = sums + CAL_SUMS * b;
    ratios[b]            = (q[1] + CAL_PRIOR) / (q[0] + CAL_PRIOR);
    ratios[CAL_BINS + b] = (q[6] + CAL_PRIOR) / (q[5] + CAL_PRIOR);
  }
  PetscCall(BOProcessSetCalibration(tr->proc, CAL_BINS, ratios));
  PetscCall(print_table(tr, sums));
  PetscCall(PetscPrintf(tr->comm,
                        "calibration: %" PetscInt_FMT " members x %d bins in %.1f s; bo_sample divides its "
                        "predictions by these ratios (-calibration false: not)\n",
                        members, CAL_BINS, BOWallTime() - start));
  PetscFunctionReturn(0);
}
