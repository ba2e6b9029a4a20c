/* BOTrainerCalibrate: how far the trained network's predictions are from the
 * births they predict, on exact noised training states (docs/SAMPLING.md,
 * "Calibration"), stored with the process for the sampler to correct. */
#include <math.h>
#include <stdio.h>
#include "bo_sys.h"
#include "bo_trainer.h"

#define CAL_BINS  BO_CALIBRATION_BINS
#define CAL_PRIOR 10.0 /* pseudo-units of ratio 1 in every bin and group: a bin with few births stays near 1 */

/* sums[4 b + 0..3]: predicted and realised remaining counts over the cells
 * empty at k, then over the occupied ones, in bin b */
static void add_member(PetscInt D, const float *nt, const float *y, const float *out, double *sums)
{
  for (PetscInt i = 0; i < D; i++) {
    const double yhat = BOSoftplus(out[i]);
    const int    g    = nt[i] == 0.0f ? 0 : 2;
    sums[g] += yhat;
    sums[g + 1] += y[i];
  }
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
    for (PetscInt b = 0; b < nloc; b++) add_member(D, tr->nt + b * D, tr->y + b * D, tr->out + b * D, sums + 4 * bin);
  }
  PetscFunctionReturn(0);
}

/* The table: per bin, the range of t and predicted / realised over empty and
 * occupied cells (the calibration curve; the stored factors are its inverse,
 * shrunk towards 1 by CAL_PRIOR). */
static PetscErrorCode print_table(BOTrainer tr, const double *sums)
{
  const PetscInt T = tr->proc->T;

  PetscFunctionBegin;
  PetscCall(PetscPrintf(tr->comm, "calibration: predicted / realised remaining counts on exact states, by time\n"
                                  "  bin  t from    t to       empty cells (realised)   occupied cells (realised)\n"));
  for (PetscInt b = 0; b < CAL_BINS; b++) {
    const double  *q  = sums + 4 * b;
    const PetscInt lo = b * T / CAL_BINS, hi = (b + 1) * T / CAL_BINS - 1;
    char           cell[2][40];
    for (int g = 0; g < 2; g++) {
      if (q[2 * g + 1] > 0) snprintf(cell[g], sizeof(cell[g]), "%7.4f (%11.0f)", q[2 * g] / q[2 * g + 1], q[2 * g + 1]);
      else snprintf(cell[g], sizeof(cell[g]), "      - (%11.0f)", 0.0);
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
  PetscCall(PetscArrayzero(sums, 4 * CAL_BINS));
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
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, sums, 4 * CAL_BINS, MPI_DOUBLE, MPI_SUM, tr->comm));
  PetscFunctionReturn(0);
}

PetscErrorCode BOTrainerCalibrate(BOTrainer tr, PetscBool *stopped)
{
  const PetscInt members = (tr->calibrate_members + tr->batch - 1) / tr->batch * tr->batch;
  double         sums[4 * CAL_BINS], ratios[2 * CAL_BINS], start = BOWallTime();

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
    const double *q      = sums + 4 * b;
    ratios[b]            = (q[1] + CAL_PRIOR) / (q[0] + CAL_PRIOR);
    ratios[CAL_BINS + b] = (q[3] + CAL_PRIOR) / (q[2] + CAL_PRIOR);
  }
  PetscCall(BOProcessSetCalibration(tr->proc, CAL_BINS, ratios));
  PetscCall(print_table(tr, sums));
  PetscCall(PetscPrintf(tr->comm,
                        "calibration: %" PetscInt_FMT " members x %d bins in %.1f s; bo_sample divides its "
                        "predictions by these ratios (-calibration false: not)\n",
                        members, CAL_BINS, BOWallTime() - start));
  PetscFunctionReturn(0);
}
