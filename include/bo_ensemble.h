/* Whole-file utilities on ensembles written by bo_sample. */
#ifndef BO_ENSEMBLE_H
#define BO_ENSEMBLE_H
#include <petscsys.h>

/* Join shard files (comma-separated list) of one ensemble, written by
 * bo_sample -first_member F, into one file in member order. The shards must
 * come from the same checkpoint, seed, sampler, steps and micro-batch, and
 * cover a contiguous range without overlap. Collective. */
PetscErrorCode BOMergeEnsembles(MPI_Comm comm, const char *list, const char *out);

/* A PNG montage (fields) or heat map (vectors) of the first maxn members of
 * dataset `name` in `path`, made on rank 0. Collective. */
PetscErrorCode BOPNGFromFile(MPI_Comm comm, const char *path, const char *name, PetscInt maxn, const char *png);

#endif
