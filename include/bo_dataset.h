/* BODataset: count data on disk (docs/DATA.md, the layout) and this rank's
 * shard of it.
 *
 * Accepted layouts (any HDF5 integer type, or float holding integers):
 *   fields   dataset (N, Ny, Nx) or (N, Ny, Nx, C)
 *   vectors  dataset (N, G)
 *   sparse   AnnData CSR group X/{data, indices, indptr} with attribute
 *            shape = (N, G); also 10x's matrix/{..., shape} (CSC over cells)
 * plus an optional `labels` dataset (N integers) next to the data, and the
 * optional conditioning datasets `params` (N, P) with attribute `names` and
 * `inputs` (N, Ny, Nx[, Ci]) on the counts' grid (docs/DATA.md): opening
 * checks their shapes and names and loads this rank's params; the inputs are
 * loaded on request (BODatasetLoadInputs).
 *
 * Rank r holds the contiguous shard of samples [first, first + nlocal),
 * read with collective hyperslab reads; elements are floats (counts up to
 * 2^24 are exact). Every value is validated on reading; errors name the
 * file, the dataset and the first offending global index.
 *
 * Minibatches are a pure function of (seed, step, B): the global batch of
 * step s is positions [sB, sB + B) of the concatenation of per-epoch
 * permutations (BOShufflePermutation, bo_rng.h); each rank returns the part
 * it owns (see docs/DATA.md).
 *
 * Options: -data FILE, -data_name PATH (default counts), -max_count M,
 * -data_chunk_mb MB (stream the shard in chunks of at most MB),
 * -data_shuffle_window W (blocks per shuffle window when streaming).
 */
#ifndef BO_DATASET_H
#define BO_DATASET_H
#include <petscsys.h>
#include <petscviewer.h>
#include <stdint.h>
#include <hdf5.h>

/* Room for the comma-separated names of the params columns. */
#define BO_NAMES_LEN 4096

typedef struct {
  MPI_Comm    comm;
  PetscMPIInt rank, size;
  char        filename[PETSC_MAX_PATH_LEN];
  char        name[PETSC_MAX_PATH_LEN]; /* dataset (or CSR group) path */
  double      max_count_limit;          /* -max_count: larger values are errors */
  double      chunk_mb;                 /* -data_chunk_mb; 0 = load the whole shard */
  PetscInt    shuffle_window;           /* -data_shuffle_window (streaming) */

  /* what was found */
  PetscInt  N, D;         /* samples, elements per sample */
  PetscBool is_field;     /* (N, Ny, Nx[, C]) */
  PetscBool is_sparse;    /* CSR group */
  PetscInt  ndim;         /* axes per sample: 3 (Ny, Nx, C) for fields, 1 (G) for vectors */
  PetscInt  shape[3];     /* (Ny, Nx, C) or (G) */
  PetscInt  Ny, Nx, C, G; /* the same, by name (G = D for vectors) */
  PetscBool timestepping; /* the attribute was present and nonzero */
  PetscBool top_down;     /* the file's row_order is "top_down": row 0 is the top (images; pictures only) */
  double    max_count;    /* observed maximum over the whole dataset */
  PetscBool has_labels;
  PetscInt  num_classes;               /* max label + 1 */
  PetscBool has_params;                /* a `params` dataset (N, P) next to the data */
  PetscInt  P;                         /* its columns */
  char      param_names[BO_NAMES_LEN]; /* comma-separated, P names (p0,p1,... when the file has none) */
  PetscBool has_inputs;                /* an `inputs` dataset (N, Ny, Nx[, Ci]) on the counts' grid */
  PetscInt  Ci;                        /* its components per cell */

  /* this rank's shard */
  PetscInt  first, nlocal;
  float    *x;      /* nlocal x D (NULL when streaming) */
  PetscInt *labels; /* nlocal labels (NULL without labels) */
  double   *params; /* nlocal x P parameters (NULL without params) */
  float    *inputs; /* nlocal x Ny x Nx x Ci input fields once BODatasetLoadInputs ran, else NULL */
  double   *totals; /* nlocal member totals (sum of all elements), also when streaming */

  /* streaming and shuffling */
  PetscBool   streaming;
  PetscInt    block; /* samples per shuffle block (0: plain permutation) */
  PetscInt    rows_per_chunk;
  hid_t       file, dset, csr[3]; /* open while streaming: data, indices, indptr */
  hid_t       ftype;              /* native memory type of the values */
  PetscInt64  cache_epoch[2];
  PetscInt   *cache_perm[2];   /* permutation of 0..N-1 for an epoch */
  PetscInt64 *cache_wstart[2]; /* window start positions (streaming) */
  PetscInt    nwindows;
  PetscInt64  win_epoch, win_index; /* the window held in win (-1: none) */
  float      *win;                  /* this rank's rows of the window */
  PetscInt    nseg, seg[64][3];     /* (g0, g1, row in win) per piece */
} BODatasetData;
typedef BODatasetData *BODataset;

/* Counts are exact in a float up to 2^24. */
#define BO_MAX_EXACT_COUNT 16777216.0
/* Why v is not a count: "NaN", "infinite", "negative", "not an integer",
 * "above 2^24 (not exact as float)", or, when v > limit, "above " followed
 * by limit_name (e.g. "the maximum count (-max_count)"); NULL if it is one.
 * The one validator of the data readers, the writer and the sampler's
 * observed cells. */
const char *BOCountProblem(double v, double limit, const char *limit_name);

PetscErrorCode BODatasetCreate(MPI_Comm comm, BODataset *ds);
PetscErrorCode BODatasetSetFile(BODataset ds, const char *filename, const char *name);
PetscErrorCode
BODatasetSetFromOptions(BODataset ds); /* -data -data_name -max_count -data_chunk_mb -data_shuffle_window */
/* Open, validate and load (or scan, when streaming) this rank's shard. Collective. */
PetscErrorCode BODatasetOpen(BODataset ds);
PetscErrorCode BODatasetView(BODataset ds, PetscViewer viewer);
PetscErrorCode BODatasetDestroy(BODataset *ds);

/* The shard of rank r of size ranks: samples [first, first + n). */
void BODatasetShard(PetscInt N, PetscMPIInt size, PetscMPIInt r, PetscInt *first, PetscInt *n);

/* The permutation this dataset uses (depends on -data_chunk_mb, never on the rank count). */
PetscErrorCode BODatasetEpochPermutation(BODataset ds, uint64_t seed, PetscInt64 epoch, PetscInt *perm);

/* Global minibatch of optimiser step `step`: positions [step B, step B + B)
 * of the concatenated epoch permutations. This rank gets the members it owns,
 * in batch order: *nlocal of them, their global indices gidx, data x
 * (nlocal x D) and labels (if labels != NULL and the dataset has them).
 * Arrays must hold B entries (x: B x D). Not collective for a loaded shard;
 * collective when streaming (all ranks call with the same arguments). */
PetscErrorCode BODatasetGetMinibatch(BODataset ds, uint64_t seed, PetscInt step, PetscInt B, PetscInt *nlocal,
                                     PetscInt *gidx, float *x, PetscInt *labels);

/* Every member's total (N doubles, in member order) and, if labels != NULL
 * and the dataset has them, label (N entries; else *labels = NULL), on every
 * rank. Free with PetscFree. Collective. */
PetscErrorCode BODatasetGatherTotals(BODataset ds, double **totals, PetscInt **labels);

/* Read samples [first, first + count) into x (count x D). Collective (count
 * may differ per rank, including 0); validates like BODatasetOpen. */
PetscErrorCode BODatasetRead(BODataset ds, PetscInt first, PetscInt count, float *x);

/* Conditioning data (docs/DATA.md, "params and inputs"). */
/* Rows [first, first + count) of params (count x P) or inputs (count x Ny x
 * Nx x Ci). Collective (count may differ per rank, including 0); NaN and
 * infinite values are errors naming the first one. */
PetscErrorCode BODatasetReadParams(BODataset ds, PetscInt first, PetscInt count, double *params);
PetscErrorCode BODatasetReadInputs(BODataset ds, PetscInt first, PetscInt count, float *inputs);
/* Load this rank's shard of inputs into ds->inputs. Collective; an error
 * when the file has none. */
PetscErrorCode BODatasetLoadInputs(BODataset ds);
/* The params (n x P) and, if inputs != NULL, inputs (n x Ny x Nx x Ci, after
 * BODatasetLoadInputs) of members gidx[0..n) of this rank's shard, e.g. the
 * minibatch of BODatasetGetMinibatch. Not collective. */
PetscErrorCode BODatasetGetConditions(BODataset ds, PetscInt n, const PetscInt *gidx, double *params, float *inputs);

/* The whole params table of a file (every rank reads it; the file needs no
 * counts): rows x P values (free with PetscFree) and the names. Validated
 * like BODatasetOpen: shape, names, NaN and infinite values. Collective. */
PetscErrorCode BOParamsFileRead(MPI_Comm comm, const char *path, PetscInt *rows, PetscInt *P, double **values,
                                char names[BO_NAMES_LEN]);
/* Names of P params columns: checks that names (comma-separated) has P
 * non-empty names, else an error "what: attribute names has ...". */
PetscErrorCode BOParamNamesCheck(MPI_Comm comm, const char *what, const char *names, PetscInt P);
/* "p0,p1,...,p{P-1}" into names. */
PetscErrorCode BOParamNamesDefault(PetscInt P, char *names, size_t len);
/* Name j of the comma-separated names into buf ("" when there are fewer). */
void BOParamName(const char *names, PetscInt j, char *buf, size_t len);
/* Whether two parameter rows of P values are the same point: each pair of
 * values equal, or within tol x the larger magnitude. */
PetscBool BOParamsEqual(PetscInt P, const double *a, const double *b, double tol);

#endif
