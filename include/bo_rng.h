/* Counter-based random numbers (Philox4x32-10).
 *
 * A stream is a pure function of (seed, tag, a, b): the 64-bit seed is the
 * Philox key, and the counter holds (draw index, a, b, tag). Any draw can be
 * reproduced from its coordinates alone, so results do not depend on which
 * rank does the work or in which order. Convention for (tag, a, b):
 *   BO_RNG_TRAIN_NOISE  a = global sample index, b = optimiser step
 *   BO_RNG_SAMPLE       a = ensemble member,     b = schedule index of the step
 * Each stream holds 2^34 32-bit words.
 */
#ifndef BO_RNG_H
#define BO_RNG_H
#include <stdint.h>
#include <petscsys.h>

enum {
  BO_RNG_TEST         = 0,
  BO_RNG_TRAIN_NOISE  = 1,
  BO_RNG_SAMPLE       = 2,
  BO_RNG_INIT         = 3,  /* network initialisation: a = tensor index */
  BO_RNG_SHUFFLE      = 4,  /* data order: a = epoch */
  BO_RNG_DATAGEN      = 5,  /* reference simulators: a = realization */
  BO_RNG_DROPOUT      = 6,  /* condition dropout in training: a = sample, b = step */
  BO_RNG_TOTAL        = 7,  /* a generated member's total count: a = member */
  BO_RNG_TRAIN_INPUT  = 8,  /* a distributional network's noise in training: a = sample, b = step */
  BO_RNG_SAMPLE_INPUT = 9,  /* ... and in sampling: a = member, b = schedule index */
  BO_RNG_CALIBRATE    = 10, /* the calibration's times and noise: a = sample, b = round x bins + bin */
  BO_RNG_HURDLE       = 11, /* the empty-cell hurdle of a reverse step: a = member, b = schedule index */
};

typedef struct {
  uint32_t key[2];   /* the seed */
  uint32_t ctr[4];   /* ctr[0] counts blocks; ctr[1..3] = a, b, tag */
  uint32_t block[4]; /* the current output block */
  int      used;     /* words of block already handed out */
} BORng;

/* One Philox4x32-10 block: out = Philox(key, ctr). */
void BOPhilox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]);

void     BORngInit(BORng *rng, uint64_t seed, uint32_t tag, uint32_t a, uint32_t b);
uint32_t BORngU32(BORng *rng);
double   BORngUniform(BORng *rng); /* in (0, 1), 53 random bits; never 0 or 1 */
double   BORngNormal(BORng *rng);  /* standard normal (Box-Muller) */
/* Two independent standard normals by Marsaglia's polar method: no sine or
 * cosine and one logarithm for the pair, about half BORngNormal's cost each. */
void BORngNormalPair(BORng *rng, double *a, double *b);
/* Exact Binomial(n, p) for any n >= 0 and p in [0, 1]: inversion when
 * n*min(p,1-p) < 30, else Hormann's BTRD (transformed rejection). */
int64_t BORngBinomial(BORng *rng, int64_t n, double p);
/* Exact Poisson(lambda) for any lambda >= 0: inversion below 10, else
 * Hormann's PTRS (transformed rejection with squeeze). */
int64_t BORngPoisson(BORng *rng, double lambda);
/* floor(x) + Bernoulli(x - floor(x)): an unbiased integer with mean x. */
int64_t BORngStochasticRound(BORng *rng, double x);
/* Uniform integer in [0, n) without modulo bias. */
uint32_t BORngBelow(BORng *rng, uint32_t n);

/* ---- permutations ---------------------------------------------------------- */
/* Global permutation of 0..N-1 for an epoch, keyed (seed, BO_RNG_SHUFFLE,
 * epoch). block <= 0: a uniform random permutation (Fisher-Yates). block > 0:
 * the order of the ceil(N/block) blocks of consecutive samples is permuted,
 * consecutive runs of `window` permuted blocks form windows, and samples are
 * permuted within each window. Pure function (no communication). If wstart
 * is not NULL it receives the window start positions (nwindows + 1 entries,
 * nwindows = ceil(nblocks / window)). */
PetscErrorCode BOShufflePermutation(uint64_t seed, PetscInt64 epoch, PetscInt N, PetscInt block, PetscInt window,
                                    PetscInt *perm, PetscInt64 *wstart);

#endif
