/* Permutations of data order keyed by (seed, epoch): a plain Fisher-Yates
 * shuffle, or blocks of consecutive samples shuffled and then samples
 * shuffled within windows of blocks (for streaming). */
#include "bo_rng.h"

/* Fisher-Yates over a[0..n) with draws from rng. */
static void shuffle(BORng *rng, PetscInt n, PetscInt *a)
{
  for (PetscInt i = n - 1; i > 0; i--) {
    PetscInt j = (PetscInt)BORngBelow(rng, (uint32_t)(i + 1)), t = a[i];
    a[i] = a[j], a[j] = t;
  }
}

PetscErrorCode BOShufflePermutation(uint64_t seed, PetscInt64 epoch, PetscInt N, PetscInt block, PetscInt window,
                                    PetscInt *perm, PetscInt64 *wstart)
{
  BORng    rng;
  PetscInt nblocks, *order, pos = 0;

  PetscFunctionBegin;
  if (block <= 0) { /* a uniform permutation */
    for (PetscInt i = 0; i < N; i++) perm[i] = i;
    BORngInit(&rng, seed, BO_RNG_SHUFFLE, (uint32_t)epoch, 0);
    shuffle(&rng, N, perm);
    if (wstart) wstart[0] = 0, wstart[1] = N;
    PetscFunctionReturn(0);
  }
  /* blocks of consecutive samples in random order (stream b = 0) ... */
  nblocks = (N + block - 1) / block;
  PetscCall(PetscMalloc1(nblocks, &order));
  for (PetscInt b = 0; b < nblocks; b++) order[b] = b;
  BORngInit(&rng, seed, BO_RNG_SHUFFLE, (uint32_t)epoch, 0);
  shuffle(&rng, nblocks, order);
  /* ... then samples shuffled within each window of `window` blocks (stream b = 1 + w) */
  for (PetscInt w = 0; w * window < nblocks; w++) {
    PetscInt start = pos;
    if (wstart) wstart[w] = start;
    for (PetscInt b = w * window; b < PetscMin(nblocks, (w + 1) * window); b++)
      for (PetscInt i = order[b] * block; i < PetscMin(N, (order[b] + 1) * block); i++) perm[pos++] = i;
    BORngInit(&rng, seed, BO_RNG_SHUFFLE, (uint32_t)epoch, (uint32_t)(1 + w));
    shuffle(&rng, pos - start, perm + start);
    if (wstart) wstart[w + 1] = pos;
  }
  PetscCall(PetscFree(order));
  PetscFunctionReturn(0);
}
