/* The reverse (birth) process: the coarse sampling grid, one reverse step
 * (bridge or tau-leap, observed cells by the exact bridge), and whole
 * members generated from the all-zero state with a predictor. */
#include <math.h>
#include "bo_process.h"

const char *const BOReverseStepTypes[] = {"bridge", "tauleap", "BOReverseStepType", "BO_REVERSE_", NULL};

PetscErrorCode BOProcessSamplingGrid(BOProcess proc, PetscInt K, PetscInt *idx)
{
  const PetscInt T = proc->T;
  PetscInt       k = T - 1;

  PetscFunctionBegin;
  PetscCheck(K >= 1 && K <= T, proc->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-sample_steps %" PetscInt_FMT ": must be between 1 and T = %" PetscInt_FMT, K, T);
  idx[0] = T - 1;
  /* Step j ends near survival p_{T-1} + (p_0 - p_{T-1}) j/(K-1): equal
   * expected births per step. (Evenly spaced k, i.e. evenly spaced logit p,
   * wastes steps at both ends where nothing happens; with a mean-only
   * predictor that costs accuracy, see docs/SAMPLING.md.) Indices stay
   * distinct, leaving room for the steps still to come. */
  for (PetscInt j = 1; j < K; j++) {
    double target = proc->p[T - 1] + (proc->p[0] - proc->p[T - 1]) * (double)j / (double)(K - 1);
    while (k > 0 && fabs(proc->p[k - 1] - target) <= fabs(proc->p[k] - target)) k--; /* p decreases with k */
    if (k > idx[j - 1] - 1) k = idx[j - 1] - 1;
    if (k < K - 1 - j) k = K - 1 - j;
    idx[j] = k;
  }
  PetscFunctionReturn(0);
}

void BOReverseStep(BOReverseStepType type, double r, double max_count, uint64_t seed, uint32_t member, uint32_t k,
                   PetscInt dim, const float *yhat, const float *obs_value, const float *obs_mask, float *state)
{
  BORng rng;

  BORngInit(&rng, seed, BO_RNG_SAMPLE, member, k);
  for (PetscInt i = 0; i < dim; i++) {
    double n = state[i], mean = yhat[i] > 0.0f ? yhat[i] : 0.0;
    if (obs_mask && obs_mask[i]) {
      /* the exact bridge towards the known n0 */
      double m = obs_value[i] - n;
      if (m > 0.0) n += (double)BORngBinomial(&rng, (int64_t)m, r);
    } else if (type == BO_REVERSE_BRIDGE) {
      double m = (double)BORngStochasticRound(&rng, mean);
      if (max_count > 0.0 && m > max_count - n) m = max_count - n;
      if (m > 0.0) n += (double)BORngBinomial(&rng, (int64_t)m, r);
    } else {
      n += (double)BORngPoisson(&rng, mean * r);
      if (max_count > 0.0 && n > max_count) n = max_count;
    }
    state[i] = (float)n;
  }
}

PetscErrorCode BOProcessGenerate(BOProcess proc, BOReverseStepType type, PetscInt K, double max_count,
                                 BOPredictor predict, void *ctx, uint64_t seed, PetscInt first_member,
                                 PetscInt nmembers, PetscInt dim, const float *obs_value, const float *obs_mask,
                                 float *state)
{
  PetscInt *idx;
  float    *yhat;

  PetscFunctionBegin;
  PetscCall(PetscMalloc2(K, &idx, nmembers * dim, &yhat));
  PetscCall(BOProcessSamplingGrid(proc, K, idx));
  PetscCall(PetscArrayzero(state, nmembers * dim));
  for (PetscInt j = 0; j < K; j++) {
    double t = proc->t[idx[j]], s = j + 1 < K ? proc->t[idx[j + 1]] : 0.0;
    double r = BOBridgeProbability(s, t);
    PetscCall(predict(ctx, nmembers, dim, state, idx[j], yhat));
    for (PetscInt b = 0; b < nmembers; b++)
      BOReverseStep(type, r, max_count, seed, (uint32_t)(first_member + b), (uint32_t)idx[j], dim, yhat + b * dim,
                    obs_value, obs_mask, state + b * dim);
  }
  PetscCall(PetscFree2(idx, yhat));
  PetscFunctionReturn(0);
}
