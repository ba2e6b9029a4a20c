/* The reverse (birth) process: the coarse sampling grid, one reverse step
 * (bridge or tau-leap, observed cells by the exact bridge), and whole
 * members generated from the all-zero state with a predictor. */
#include <math.h>
#include "bo_process.h"

const char *const BOReverseStepTypes[] = {"bridge", "tauleap", "BOReverseStepType", "BO_REVERSE_", NULL};

PetscErrorCode BOProcessCheckSampling(BOProcess proc)
{
  PetscFunctionBegin;
  PetscCheck(proc->grid_power >= 1.0 && proc->grid_power <= 16.0, proc->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-sample_grid_power %g: must be in [1, 16]", (double)proc->grid_power);
  PetscCheck(proc->empty_hurdle >= 0.0 && proc->empty_hurdle < 1.0, proc->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-sample_empty_hurdle %g: must be in [0, 1)", (double)proc->empty_hurdle);
  PetscFunctionReturn(0);
}

PetscErrorCode BOProcessSamplingGrid(BOProcess proc, PetscInt K, PetscInt *idx)
{
  const PetscInt T = proc->T;
  PetscInt       k = T - 1;

  PetscFunctionBegin;
  PetscCheck(K >= 1 && K <= T, proc->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-sample_steps %" PetscInt_FMT ": must be between 1 and T = %" PetscInt_FMT, K, T);
  PetscCall(BOProcessCheckSampling(proc));
  idx[0] = T - 1;
  /* Step j ends near survival p_{T-1} + (p_0 - p_{T-1}) (j/(K-1))^a. With a
   * = 1 every step expects the same share of births. A network of the mean
   * predicts badly from a state that many births at once drew from an
   * uninformative prediction (the first steps start from all zeros), so a > 1
   * adds the first units slowly and lets each step see the last. (Evenly
   * spaced k, i.e. evenly spaced logit p, wastes steps at both ends where
   * nothing happens.) Indices stay distinct, leaving room for the steps
   * still to come. */
  for (PetscInt j = 1; j < K; j++) {
    double x      = (double)j / (double)(K - 1);
    double frac   = pow(x, proc->grid_power);
    double target = proc->p[T - 1] + (proc->p[0] - proc->p[T - 1]) * frac;
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

/* v[c] = shares of R given by the weights w[c] >= 0 (evenly when all are
 * 0), none above room[c], filled in rounds: what a full cell cannot take
 * goes to the others. They sum to R unless the rooms cannot hold R (then
 * every cell is full). */
static void shares_of_total(PetscInt n, const double *w, const double *room, double R, double *v)
{
  double left = R;
  for (PetscInt c = 0; c < n; c++) v[c] = 0.0;
  for (int round = 0; round < 16 && left > 1e-9; round++) {
    double wsum = 0.0, ncells = 0.0, placed = 0.0;
    for (PetscInt c = 0; c < n; c++)
      if (v[c] < room[c]) wsum += w[c], ncells += 1.0;
    if (ncells == 0.0) break;
    for (PetscInt c = 0; c < n; c++) {
      if (v[c] >= room[c]) continue;
      double add = left * (wsum > 0.0 ? w[c] / wsum : 1.0 / ncells);
      if (add > room[c] - v[c]) add = room[c] - v[c];
      v[c] += add, placed += add;
    }
    left -= placed;
  }
}

/* m[c] = integers with sum R exactly, near the shares v of R (above), none
 * above room[c]: with one uniform u and the running sums C of v, m[c] =
 * floor(C_c + u) - floor(C_{c-1} + u), which is v[c] rounded down or up with
 * mean v[c], and the sum is exact. */
static void round_to_total(BORng *rng, PetscInt n, const double *w, const double *room, double R, double *v, double *m)
{
  shares_of_total(n, w, room, R, v);
  double u = BORngUniform(rng), sum = 0.0, prev = 0.0;
  for (PetscInt c = 0; c < n; c++) {
    sum += v[c];
    double next = floor(sum + u);
    m[c]        = PetscMin(next - prev, room[c]);
    prev        = next;
  }
}

/* m[c] ~ Multinomial(R, w / sum w) (evenly when all w are 0), none above
 * room[c]: a chain of binomials over the cells, and what full cells could
 * not take drawn again over the others, a few rounds. */
static void multinomial_to_total(BORng *rng, PetscInt n, const double *w, const double *room, double R, double *m)
{
  double left = R;
  for (PetscInt c = 0; c < n; c++) m[c] = 0.0;
  for (int round = 0; round < 16 && left > 0.0; round++) {
    double wsum = 0.0, ncells = 0.0, draw = left;
    for (PetscInt c = 0; c < n; c++)
      if (m[c] < room[c]) wsum += w[c], ncells += 1.0;
    if (ncells == 0.0) break;
    for (PetscInt c = 0; c < n && draw > 0.0; c++) {
      if (m[c] >= room[c]) continue;
      double q = wsum > 0.0 ? w[c] / wsum : 1.0 / ncells, b;
      wsum -= wsum > 0.0 ? w[c] : 0.0, ncells -= 1.0;
      b = (double)BORngBinomial(rng, (int64_t)draw, PetscMin(1.0, q));
      draw -= b;
      b = PetscMin(b, room[c] - m[c]);
      m[c] += b, left -= b;
    }
  }
}

/* The Poisson rate lambda whose draws, cut at room a, have mean v:
 * E[min(X, a)] = sum_{j<a} P(X > j) = v, X ~ Poisson(lambda). The capped
 * multinomial would otherwise starve nearly full cells: the mass above the
 * room is cut off and goes to the others, so a cell one unit short of the cap
 * with mean 0.63 gets its unit with probability 1 - e^{-0.63} = 0.47, at
 * every step and any K. Far from the cap lambda = v. Newton's method, with
 * d/dlambda E[min(X, a)] = P(X < a). */
static double capped_poisson_rate(double v, double a)
{
  double lambda = v;

  if (a <= 0.0 || v <= 0.0) return 0.0;
  if (v >= a * (1.0 - 1e-9)) return 1e6 * (1.0 + a); /* sure to be full */
  if (a - v > 8.0 * sqrt(v) + 8.0) return v;         /* the cut is out of reach */
  for (int it = 0; it < 30; it++) {
    double pj = exp(-lambda), cdf = 0.0, emin = 0.0; /* P(X = j), P(X <= j) */
    for (PetscInt j = 0; j < (PetscInt)a; j++) {
      cdf += pj;
      emin += 1.0 - cdf;
      pj *= lambda / (double)(j + 1);
    }
    double step = (emin - v) / PetscMax(cdf, 1e-300);
    lambda      = PetscMax(0.5 * lambda, lambda - step);
    if (fabs(emin - v) < 1e-9 * (1.0 + v)) break;
  }
  return lambda;
}

/* The step of a member whose total is known. The R units still dead at t
 * are given cells, whole units m[i] summing to R (none above max_count),
 * then every cell takes the exact bridge towards n + m[i]: Binomial(m[i], r)
 * births. The births number Binomial(R, r) whatever the allocation, and the
 * last step (r = 1) brings the member to its total. The allocation depends
 * on what the predictor gave:
 *   a sample of the remaining counts (sampled != 0): m near it, scaled to R
 *     and rounded (round_to_total). Exact if the sample is exact.
 *   their mean, without a cap: m ~ Multinomial(R, weight / sum), the law of
 *     independent Poisson counts with these means given their sum;
 *   their mean, with a cap: the same, with each cell's weight raised to the
 *     rate whose draws cut at the cell's room have its share of R as mean
 *     (capped_poisson_rate), so that nearly full cells are not starved.
 * Observed cells follow their exact bridge, their values counted in the
 * total. work: 3 dim doubles. */
void BOReverseStepTotal(double r, double max_count, int sampled, uint64_t seed, uint32_t member, uint32_t k,
                        PetscInt dim, const float *weight, double total, const float *obs_value, const float *obs_mask,
                        float *state, double *work)
{
  BORng     rng;
  double    R = total, *w = work, *room = work + dim, *v = work + 2 * dim;
  PetscInt  n      = 0;
  const int capped = max_count > 0.0;

  BORngInit(&rng, seed, BO_RNG_SAMPLE, member, k);
  for (PetscInt i = 0; i < dim; i++) {
    if (obs_mask && obs_mask[i]) R -= obs_value[i];
    else {
      R -= state[i];
      room[n] = capped ? PetscMax(0.0, max_count - state[i]) : INFINITY;
      w[n]    = weight[i] > 0.0f && room[n] > 0.0 ? weight[i] : 0.0;
      n++;
    }
  }
  R = R > 0.0 ? R : 0.0;
  if (sampled) round_to_total(&rng, n, w, room, R, v, w); /* m in w */
  else {
    if (capped) { /* the weights become rates that are not starved by the cap */
      shares_of_total(n, w, room, R, v);
      for (PetscInt c = 0; c < n; c++) w[c] = capped_poisson_rate(v[c], room[c]);
    }
    multinomial_to_total(&rng, n, w, room, R, v); /* m in v */
  }
  const double *alloc = sampled ? w : v;
  n                   = 0;
  for (PetscInt i = 0; i < dim; i++) {
    double m = obs_mask && obs_mask[i] ? obs_value[i] - state[i] : alloc[n++];
    if (m > 0.0) state[i] += (float)BORngBinomial(&rng, (int64_t)m, r);
  }
}

void BOReverseEmptyHurdle(double q, double r, uint64_t seed, uint32_t member, uint32_t k, PetscInt dim,
                          const float *state, const float *obs_mask, float *yhat)
{
  const double pi = 1.0 - q * r; /* the chance that an empty cell is open at this step */
  BORng        rng;

  if (q <= 0.0 || r <= 0.0) return;
  BORngInit(&rng, seed, BO_RNG_HURDLE, member, k);
  for (PetscInt i = 0; i < dim; i++) {
    if (state[i] != 0.0f || (obs_mask && obs_mask[i]) || !(yhat[i] > 0.0f)) continue;
    yhat[i] = BORngUniform(&rng) < pi ? (float)(yhat[i] / pi) : 0.0f;
  }
}

PetscErrorCode BOProcessGenerate(BOProcess proc, BOReverseStepType type, PetscInt K, double max_count,
                                 BOPredictor predict, PetscBool sampled, void *ctx, uint64_t seed,
                                 PetscInt first_member, PetscInt nmembers, PetscInt dim, const float *obs_value,
                                 const float *obs_mask, const double *totals, float *state)
{
  PetscInt *idx;
  float    *yhat;
  double   *work = NULL;

  PetscFunctionBegin;
  PetscCall(PetscMalloc2(K, &idx, nmembers * dim, &yhat));
  if (totals) PetscCall(PetscMalloc1(3 * dim, &work));
  PetscCall(BOProcessSamplingGrid(proc, K, idx));
  PetscCall(PetscArrayzero(state, nmembers * dim));
  for (PetscInt j = 0; j < K; j++) {
    double t = proc->t[idx[j]], s = j + 1 < K ? proc->t[idx[j + 1]] : 0.0;
    double r = BOBridgeProbability(s, t);
    PetscCall(predict(ctx, nmembers, dim, state, idx[j], yhat));
    for (PetscInt b = 0; b < nmembers; b++) {
      const uint32_t g = (uint32_t)(first_member + b);
      if (!sampled)
        BOReverseEmptyHurdle(proc->empty_hurdle, r, seed, g, (uint32_t)idx[j], dim, state + b * dim, obs_mask,
                             yhat + b * dim);
      if (totals)
        BOReverseStepTotal(r, max_count, sampled, seed, g, (uint32_t)idx[j], dim, yhat + b * dim, totals[b], obs_value,
                           obs_mask, state + b * dim, work);
      else
        BOReverseStep(type, r, max_count, seed, g, (uint32_t)idx[j], dim, yhat + b * dim, obs_value, obs_mask,
                      state + b * dim);
    }
  }
  PetscCall(PetscFree2(idx, yhat));
  PetscCall(PetscFree(work));
  PetscFunctionReturn(0);
}
