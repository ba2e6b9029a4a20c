/* BOProcess: the Blackout forward (pure-death) process, its observation-time
 * schedule, loss weights, the Poisson-type loss, the exact bridge between two
 * times, and the reverse samplers driven by a predictor.
 *
 * Schedule (docs/ALGORITHM.md): T observation times with
 * survival probability p_k = e^{-t_k} = sigmoid(L (1 - 2k/(T-1))),
 * L = log(e^{tEnd} - 1), so logit(p) falls linearly from +L to -L and
 * t_{T-1} = tEnd. By convention t_{-1} = 0 and p_{-1} = 1.
 */
#ifndef BO_PROCESS_H
#define BO_PROCESS_H
#include <petscsys.h>
#include <hdf5.h>
#include <petscviewer.h>
#include <stdint.h>
#include "bo_rng.h"

typedef enum { BO_WEIGHT_INSTANTANEOUS, BO_WEIGHT_FINITE_TIME, BO_WEIGHT_ELBO } BOWeightType;
typedef enum { BO_REVERSE_BRIDGE, BO_REVERSE_TAULEAP } BOReverseStepType;
extern const char *const BOWeightTypes[];
extern const char *const BOReverseStepTypes[];

typedef struct {
  MPI_Comm     comm;
  PetscInt     T;            /* number of observation times (default 1000) */
  PetscReal    tEnd;         /* horizon (default 15) */
  BOWeightType weight_type;  /* loss weights (default instantaneous) */
  PetscReal    weight_floor; /* no weight below this fraction of the largest (default 0.01) */
  PetscReal    grid_power;   /* sampling grid: step j ends at p = (j/(K-1))^grid_power (a sampling setting) */
  PetscReal    empty_hurdle; /* q of BOReverseEmptyHurdle, in [0, 1) (default 0: off; a sampling setting) */
  /* Training times: a fraction focus_fraction (default 0: none) of the draws
   * is uniform among the focus_count indices from focus_first, those whose p
   * lies in [focus[0], focus[1]] (set by BOProcessSetUp). */
  PetscReal focus[2], focus_fraction;
  PetscInt  focus_first, focus_count;
  double   *t, *p, *w; /* per index k = 0..T-1: time, survival e^{-t}, loss weight */
  /* The network's calibration (bo_train measures it, BOTrainerCalibrate; the
   * sampler applies it): cal_bins equal bins of k, and for each the ratio of
   * realised to predicted remaining counts on exact noised training states,
   * cal[b] over the cells empty at k, cal[cal_bins + b] over the others.
   * cal_bins = 0: none. */
  PetscInt cal_bins;
  double  *cal;
} BOProcessData;
typedef BOProcessData *BOProcess;

PetscErrorCode BOProcessCreate(MPI_Comm comm, BOProcess *proc);
/* -T, -t_end, -loss_weight, -loss_weight_floor, -train_time_focus, -train_time_focus_fraction */
PetscErrorCode BOProcessSetFromOptions(BOProcess proc);
PetscErrorCode BOProcessSetUp(BOProcess proc); /* computes t, p, w */
PetscErrorCode BOProcessView(BOProcess proc, PetscViewer viewer);
PetscErrorCode BOProcessDestroy(BOProcess *proc);
/* The settings (T, t_end, loss weights, training-time focus, the
 * calibration) as attributes
 * of an HDF5 object (serial calls), and from rank root to every rank of comm. Call
 * BOProcessSetUp after loading. */
PetscErrorCode BOProcessSave(BOProcess proc, hid_t obj);
PetscErrorCode BOProcessLoad(BOProcess proc, hid_t obj);
PetscErrorCode BOProcessBcast(BOProcess proc, PetscMPIInt root, MPI_Comm comm);

/* The calibration factor at index k for a cell empty at k (empty) or not:
 * linear in k between the bins' centres, the end bins' values beyond them;
 * 1 without a calibration. */
double BOProcessCalibration(BOProcess proc, PetscInt k, PetscBool empty);
/* Replace the calibration: nbins bins, ratios[2 nbins] as cal above
 * (nbins = 0: none). Every ratio must be finite and positive. */
PetscErrorCode BOProcessSetCalibration(BOProcess proc, PetscInt nbins, const double *ratios);

/* Probability that a unit dead at time t was still alive at time s < t:
 * r = (e^{-s} - e^{-t}) / (1 - e^{-t}), computed without cancellation. */
double BOBridgeProbability(double s, double t);

/* Forward noising of one sample (training). The stream is keyed by
 * (seed, BO_RNG_TRAIN_NOISE, sample, step): the time index k is drawn
 * uniformly from 0..T-1 (with a focus, it is then replaced, with probability
 * focus_fraction, by one drawn uniformly from the focused indices), then
 * BOProcessNoiseAt. Returns k. */
PetscInt BOProcessNoiseSample(BOProcess proc, uint64_t seed, uint32_t sample, uint32_t step, PetscInt dim,
                              const float *n0, float *nt, float *y);
/* The exact forward state at index k from rng: n_t[i] ~ Binomial(n0[i], p_k)
 * and the target y[i] = n0[i] - n_t[i]. */
void BOProcessNoiseAt(BOProcess proc, BORng *rng, PetscInt k, PetscInt dim, const float *n0, float *nt, float *y);

/* Poisson-type loss on the raw network output x (before softplus), per element
 *   l = w (yhat - y log yhat - (y - y log y)),  yhat = softplus(x),
 * i.e. the reference's w (yhat - y log yhat) shifted by a constant so that it
 * is >= 0 and 0 for yhat = y (half the Poisson deviance; same gradient),
 * with log yhat evaluated stably for very negative x (never log 0). Returns
 * the sum of l over dim elements; if dx is not NULL, stores
 *   dl/dx = scale w sigmoid(x) (1 - y / yhat)
 * (computed stably as well). */
double BOPoissonLoss(PetscInt dim, const float *x, const float *y, double w, double scale, float *dx);

/* The loss of a distributional network: M >= 2 samples xhat_j = softplus(x_j)
 * (x: M x dim raw outputs for the same noised input, different noise) of
 * the remaining counts, against the truth y (dim):
 *   l = w [ dim ES + lambda sum_i (mbar_i - y_i log mbar_i - (y_i - y_i log y_i)) ],
 *   ES = (1/M) sum_j |xhat_j - y| - 1/(M (M-1)) sum_{j<l} |xhat_j - xhat_l|,
 * with |a| = sqrt(sum_i a_i^2 / dim + 1e-12) (root mean square over the
 * member) and mbar the mean of the samples. ES, the energy score, is a
 * proper scoring rule: its expectation is smallest exactly when the samples
 * follow the law of y given the input, jointly over the member's cells (the
 * first term pulls the samples to the data, the second keeps them apart).
 * The second term is the Poisson loss of their mean, whose minimiser is the
 * posterior mean, as for a mean network. Returns l; if dx is not NULL,
 * stores scale dl/dx (M x dim). work: M dim floats. */
double BOEnergyLoss(PetscInt M, PetscInt dim, const float *x, const float *y, double w, double lambda, double scale,
                    float *dx, float *work);

/* softplus(x) = log(1 + e^x), the network's raw output mapped to a rate,
 * and its log, accurate for all x. */
double BOSoftplus(double x);
double BOLogSoftplus(double x);

/* Coarse sampling grid: K distinct schedule indices, idx[0] = T-1 > ... >
 * idx[K-1] = 0 (for K > 1), spaced in the survival probability p as
 * p_j = p_min + (1 - p_min) (j/(K-1))^a with a = proc->grid_power: a = 1
 * is even in p (every step expects the same share of births); a > 1 takes
 * short steps first, while the member is still almost empty (default 4, see
 * docs/SAMPLING.md). K = T gives every index. The
 * reverse sampler evaluates the predictor at each and steps to the next (the
 * last step goes to time 0). Any 1 <= K <= T. */
PetscErrorCode BOProcessSamplingGrid(BOProcess proc, PetscInt K, PetscInt *idx);
/* The sampling options' ranges (grid_power in [1, 16], empty_hurdle in
 * [0, 1)), with an error naming the option; BOProcessSamplingGrid calls it,
 * and bo_sample on every rank when it reads them. */
PetscErrorCode BOProcessCheckSampling(BOProcess proc);

/* One reverse step for one member, from time t down to s (r = bridge
 * probability), given the predicted remaining births yhat ~ E[n0 - n_t | n_t]:
 *   bridge:  m = stochastic_round(yhat) clipped to [0, max_count - n];  n += Binomial(m, r)
 *   tauleap: n = min(n + Poisson(yhat r), max_count)
 * max_count <= 0 means no limit. Observed elements (obs_mask[i] != 0, obs_value[i]
 * the observed count; both may be NULL) follow the exact bridge to their known
 * n0 instead, n += Binomial(obs_value - n, r), so they reach obs_value exactly
 * at time 0 along a path of the true conditional process. The stream is
 * (seed, BO_RNG_SAMPLE, member, k). */
void BOReverseStep(BOReverseStepType type, double r, double max_count, uint64_t seed, uint32_t member, uint32_t k,
                   PetscInt dim, const float *yhat, const float *obs_value, const float *obs_mask, float *state);

/* The empty-cell hurdle of a coarse step (docs/SAMPLING.md, "The empty-cell
 * hurdle"). The remaining count of a cell still empty at t is zero-inflated:
 * given its mean it is 0 more often than a Poisson count, so a step that
 * commits births from the mean alone fills too many empty cells. Each empty,
 * unobserved cell is therefore open at this step with probability
 * pi = 1 - q r, its prediction divided by pi, or closed (prediction 0): the
 * mean is kept, the chance of no birth rises, and as r -> 0 (fine steps)
 * nothing changes. q = 0 is off. The stream is (seed, BO_RNG_HURDLE,
 * member, k). */
void BOReverseEmptyHurdle(double q, double r, uint64_t seed, uint32_t member, uint32_t k, PetscInt dim,
                          const float *state, const float *obs_mask, float *yhat);

/* The predictor: given nmembers states (nmembers x dim, counts as floats) at
 * schedule index k, write yhat (same shape), the predicted E[n0 - n_t | n_t]. */
typedef PetscErrorCode (*BOPredictor)(void *ctx, PetscInt nmembers, PetscInt dim, const float *state, PetscInt k,
                                      float *yhat);

/* One reverse step for a member whose total (all cells, observed ones
 * included) is known: the R units still missing get cells, m_i summing to
 * R, near the predictor's sample of the remaining counts (sampled != 0), or
 * drawn Multinomial(R, weight/sum) from its mean (with a cap, the weights
 * of nearly full cells raised so the cut does not starve them); then each
 * cell takes the exact bridge, Binomial(m_i, r) births, no cell above
 * max_count. The last step (s = 0, r = 1) brings the member to its total exactly, unless max_count
 * leaves no room. Exact when the sample is exact (src/core/reverse.c).
 * work: 3 dim doubles. */
void BOReverseStepTotal(double r, double max_count, int sampled, uint64_t seed, uint32_t member, uint32_t k,
                        PetscInt dim, const float *weight, double total, const float *obs_value, const float *obs_mask,
                        float *state, double *work);

/* Generate members first_member .. first_member+nmembers-1 from the all-zero
 * state with K reverse steps on BOProcessSamplingGrid. The predictor gives
 * the mean of the remaining counts n0 - n_t, or (sampled) a sample of them
 * (a distributional network); a sample is rounded stochastically by the
 * bridge like a mean. Optional: observed elements (obs_value/obs_mask: dim
 * entries shared by all members, or NULL; see BOReverseStep) and known
 * totals (totals: one per member, or NULL; then every step is
 * BOReverseStepTotal). A predicted mean passes BOReverseEmptyHurdle first
 * when proc->empty_hurdle > 0. The result depends only on (seed, member
 * index) and on what the predictor returns for it. */
PetscErrorCode BOProcessGenerate(BOProcess proc, BOReverseStepType type, PetscInt K, double max_count,
                                 BOPredictor predict, PetscBool sampled, void *ctx, uint64_t seed,
                                 PetscInt first_member, PetscInt nmembers, PetscInt dim, const float *obs_value,
                                 const float *obs_mask, const double *totals, float *state);

#endif
