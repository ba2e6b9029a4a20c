/* BODataset minibatches: a pure function of (seed, step, B), never of the
 * number of ranks. The global batch of step s is positions [sB, sB + B) of
 * the concatenated epoch permutations (core/shuffle.c); each rank takes the
 * members it owns, from its shard or, when streaming, from the window of
 * the permutation that holds them. Streamed inputs come with their window
 * and are kept per minibatch member for BODatasetGetConditions. */
#include "dataimpl.h"

/* Floats of one member's inputs. */
static size_t input_size(BODataset ds) { return (size_t)ds->Nz * ds->Ny * ds->Nx * ds->Ci; }

PetscErrorCode BODatasetEpochPermutation(BODataset ds, uint64_t seed, PetscInt64 epoch, PetscInt *perm)
{
  PetscFunctionBegin;
  PetscCall(BOShufflePermutation(seed, epoch, ds->N, ds->streaming ? ds->block : 0, ds->shuffle_window, perm, NULL));
  PetscFunctionReturn(0);
}

/* The permutation of an epoch, cached (two slots: a batch spans at most
 * two epochs when B <= N, and consecutive epochs use different slots). */
static PetscErrorCode get_epoch(BODataset ds, uint64_t seed, PetscInt64 epoch, PetscInt **perm, PetscInt64 **wstart)
{
  int s = (int)(epoch % 2);

  PetscFunctionBegin;
  if (!ds->cache_perm[s]) {
    PetscInt nblocks = ds->streaming ? (ds->N + ds->block - 1) / ds->block : 1;
    ds->nwindows     = ds->streaming ? (nblocks + ds->shuffle_window - 1) / ds->shuffle_window : 1;
    PetscCall(PetscMalloc1(ds->N, &ds->cache_perm[s]));
    PetscCall(PetscMalloc1(ds->nwindows + 1, &ds->cache_wstart[s]));
  }
  if (ds->cache_epoch[s] != epoch) {
    PetscCall(BOShufflePermutation(seed, epoch, ds->N, ds->streaming ? ds->block : 0, ds->shuffle_window,
                                   ds->cache_perm[s], ds->cache_wstart[s]));
    ds->cache_epoch[s] = epoch;
  }
  *perm   = ds->cache_perm[s];
  *wstart = ds->cache_wstart[s];
  PetscFunctionReturn(0);
}

/* Collective: bring this rank's rows of window w of an epoch into ds->win.
 * The window's samples are whole blocks; each block meets this rank's shard
 * in at most one piece. All ranks do the same number of collective reads. */
static PetscErrorCode load_window(BODataset ds, PetscInt64 epoch, PetscInt64 w, const PetscInt *perm,
                                  const PetscInt64 *wstart)
{
  PetscInt blocks[64], nb = 0, row = 0, maxseg;

  PetscFunctionBegin;
  for (PetscInt64 p = wstart[w]; p < wstart[w + 1]; p++) {
    PetscInt b = perm[p] / ds->block, k;
    for (k = 0; k < nb && blocks[k] != b; k++) {}
    if (k == nb) blocks[nb++] = b;
  }
  PetscCall(PetscSortInt(nb, blocks));
  ds->nseg = 0;
  for (PetscInt k = 0; k < nb; k++) {
    PetscInt g0 = PetscMax(blocks[k] * ds->block, ds->first);
    PetscInt g1 = PetscMin(PetscMin((blocks[k] + 1) * ds->block, ds->N), ds->first + ds->nlocal);
    if (g1 <= g0) continue;
    ds->seg[ds->nseg][0] = g0, ds->seg[ds->nseg][1] = g1, ds->seg[ds->nseg][2] = row;
    ds->nseg++, row += g1 - g0;
  }
  PetscCallMPI(MPI_Allreduce(&ds->nseg, &maxseg, 1, MPIU_INT, MPI_MAX, ds->comm));
  for (PetscInt s = 0; s < maxseg; s++) {
    const PetscInt g0 = s < ds->nseg ? ds->seg[s][0] : 0, n = s < ds->nseg ? ds->seg[s][1] - g0 : 0;
    const PetscInt row = s < ds->nseg ? ds->seg[s][2] : 0;
    PetscCall(BODatasetRead(ds, g0, n, ds->win + (size_t)row * ds->D));
    if (ds->stream_inputs) PetscCall(BODatasetReadInputs(ds, g0, n, ds->win_inputs + (size_t)row * input_size(ds)));
  }
  ds->win_epoch = epoch, ds->win_index = w;
  PetscFunctionReturn(0);
}

/* Room for streamed inputs of a minibatch of B members. */
static PetscErrorCode reserve_batch(BODataset ds, PetscInt B)
{
  PetscFunctionBegin;
  ds->batch_n = 0;
  if (!ds->stream_inputs || B <= ds->batch_cap) PetscFunctionReturn(0);
  PetscCall(PetscFree2(ds->batch_gidx, ds->batch_inputs));
  PetscCall(PetscMalloc2(B, &ds->batch_gidx, (size_t)B * input_size(ds), &ds->batch_inputs));
  ds->batch_cap = B;
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetGetMinibatch(BODataset ds, uint64_t seed, PetscInt step, PetscInt B, PetscInt *nlocal,
                                     PetscInt *gidx, float *x, PetscInt *labels)
{
  PetscInt n = 0;

  PetscFunctionBegin;
  PetscCheck(step >= 0 && B >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "minibatch needs step >= 0 and B >= 1");
  PetscCall(reserve_batch(ds, B));
  for (PetscInt j = 0; j < B; j++) {
    PetscInt64   p = (PetscInt64)step * B + j, epoch = p / ds->N, pos = p % ds->N;
    PetscInt    *perm   = NULL, g;
    PetscInt64  *wstart = NULL;
    const float *src;

    PetscCall(get_epoch(ds, seed, epoch, &perm, &wstart));
    g = perm[pos];
    if (ds->streaming) {
      /* the window holding position pos (binary search on the window starts) */
      PetscInt64 lo = 0, hi = ds->nwindows - 1;
      while (lo < hi) {
        PetscInt64 mid = (lo + hi + 1) / 2;
        if (wstart[mid] <= pos) lo = mid;
        else hi = mid - 1;
      }
      if (ds->win_epoch != epoch || ds->win_index != lo) PetscCall(load_window(ds, epoch, lo, perm, wstart));
    }
    if (g < ds->first || g >= ds->first + ds->nlocal) continue;
    if (ds->streaming) {
      PetscInt s = 0;
      while (!(g >= ds->seg[s][0] && g < ds->seg[s][1])) s++;
      const size_t row = (size_t)(ds->seg[s][2] + g - ds->seg[s][0]);
      src              = ds->win + row * ds->D;
      if (ds->stream_inputs) { /* this member's inputs, while the window holds them */
        ds->batch_gidx[n] = g;
        PetscCall(PetscArraycpy(ds->batch_inputs + (size_t)n * input_size(ds), ds->win_inputs + row * input_size(ds),
                                input_size(ds)));
      }
    } else src = ds->x + (size_t)(g - ds->first) * ds->D;
    gidx[n] = g;
    PetscCall(PetscArraycpy(x + (size_t)n * ds->D, src, ds->D));
    if (labels && ds->has_labels) labels[n] = ds->labels[g - ds->first];
    n++;
  }
  *nlocal = n;
  if (ds->stream_inputs) ds->batch_n = n;
  PetscFunctionReturn(0);
}
