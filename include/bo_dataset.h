/* BODataset: count data on disk (docs/DATA.md, the layout) and this rank's
 * shard of it.
 *
 * Accepted layouts (any HDF5 integer type, or float holding integers):
 *   fields   dataset (N, Ny, Nx) or (N, Ny, Nx, C)
 *   3-D      dataset (N, Nz, Ny, Nx) or (N, Nz, Ny, Nx, C): a 4-D dataset is
 *            3-D when its integer attribute Mz equals its second axis, or
 *            with -data_dims 3 (BOFieldSpatialDims; docs/DATA.md)
 *   vectors  dataset (N, G)
 *   sparse   AnnData CSR group X/{data, indices, indptr} with attribute
 *            shape = (N, G); also 10x's matrix/{..., shape} (CSC over cells)
 * plus an optional `labels` dataset (N integers) next to the data, and the
 * optional conditioning datasets `params` (N, P) with attribute `names` and
 * `inputs` (N, Ny, Nx[, Ci]) on the counts' grid (docs/DATA.md): opening
 * checks their shapes and names and loads this rank's params; the inputs are
 * read on request: the whole shard (BODatasetLoadInputs), or for the
 * minibatches (BODatasetUseInputs: the shard, or when streaming window by
 * window with the counts).
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
 * -data_shuffle_window W (blocks per shuffle window when streaming),
 * -data_dims 0|2|3 (a field's spatial dimension; 0: from the file).
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
  PetscInt    data_dims;                /* -data_dims: 0 from the file, 2 or 3 (BOFieldSpatialDims) */

  /* what was found */
  PetscInt  N, D;             /* samples, elements per sample */
  PetscBool is_field;         /* (N, Ny, Nx[, C]) or (N, Nz, Ny, Nx[, C]) */
  PetscBool is_3d;            /* a 3-D field (N, Nz, Ny, Nx[, C]) */
  PetscBool is_sparse;        /* CSR group */
  PetscInt  ndim;             /* axes per sample: 3 (Ny, Nx, C) for 2-D fields, 4 (Nz, Ny, Nx, C) for 3-D, 1 (G) */
  PetscInt  shape[4];         /* (Ny, Nx, C), (Nz, Ny, Nx, C) or (G) */
  PetscInt  Nz, Ny, Nx, C, G; /* the same, by name (Nz = 1 for 2-D fields and vectors, G = D for vectors) */
  PetscBool timestepping;     /* the attribute was present and nonzero */
  PetscBool top_down;         /* the file's row_order is "top_down": row 0 is the top (images; pictures only) */
  double    max_count;        /* observed maximum over the whole dataset */
  PetscBool has_labels;
  PetscInt  num_classes;               /* max label + 1 */
  PetscBool has_params;                /* a `params` dataset (N, P) next to the data */
  PetscInt  P;                         /* its columns */
  char      param_names[BO_NAMES_LEN]; /* comma-separated, P names (p0,p1,... when the file has none) */
  PetscBool has_inputs;                /* an `inputs` dataset (N, Ny, Nx[, Ci]) on the counts' grid */
  PetscInt  Ci;                        /* its components per cell */

  /* this rank's shard */
  PetscInt  first, nlocal;
  float    *x;             /* nlocal x D (NULL when streaming) */
  PetscInt *labels;        /* nlocal labels (NULL without labels) */
  double   *params;        /* nlocal x P parameters (NULL without params) */
  float    *inputs;        /* nlocal x Ny x Nx x Ci input fields once loaded (not when streaming them), else NULL */
  double   *totals;        /* nlocal member totals (sum of all elements), also when streaming */
  double   *input_sums;    /* nlocal x 2 Ci once BODatasetUseInputs ran: per member, each channel's sum over
                              the cells, then its sum of squares (double, cells in order), else NULL */
  double   *input_summary; /* nlocal x BODatasetInputSummarySize once BODatasetUseInputs ran: per member,
                              its field's coarse summary (BOInputSummary), else NULL */

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
  PetscBool   stream_inputs;        /* inputs read with each window (BODatasetUseInputs when streaming) */
  float      *win_inputs;           /* the window's inputs, rows_per_chunk x Di */
  PetscInt    batch_n, batch_cap;   /* the last minibatch's members on this rank, and the room for them */
  PetscInt   *batch_gidx;           /* their global indices */
  float      *batch_inputs;         /* their inputs, batch_n x Di (streamed inputs only) */
} BODatasetData;
typedef BODatasetData *BODataset;

/* Counts are exact in a float up to 2^24. */
#define BO_MAX_EXACT_COUNT 16777216.0
/* Labels are class indices 0 .. BO_MAX_CLASSES - 1: each class costs the
 * network an embedding row, so a stray huge label must not build millions. */
#define BO_MAX_CLASSES 65536
/* Why v is not a count: "NaN", "infinite", "negative", "not an integer",
 * "above 2^24 (not exact as float)", or, when v > limit, "above " followed
 * by limit_name (e.g. "the maximum count (-max_count)"); NULL if it is one.
 * The one validator of the data readers, the writer and the sampler's
 * observed cells. */
const char *BOCountProblem(double v, double limit, const char *limit_name);

PetscErrorCode BODatasetCreate(MPI_Comm comm, BODataset *ds);
PetscErrorCode BODatasetSetFile(BODataset ds, const char *filename, const char *name);
/* -data -data_name -max_count -data_chunk_mb -data_shuffle_window -data_dims */
PetscErrorCode BODatasetSetFromOptions(BODataset ds);
/* Open, validate and load (or scan, when streaming) this rank's shard. Collective. */
PetscErrorCode BODatasetOpen(BODataset ds);
PetscErrorCode BODatasetView(BODataset ds, PetscViewer viewer);
PetscErrorCode BODatasetDestroy(BODataset *ds);

/* 3-D fields (docs/DATA.md §1). The spatial dimension of the dense dataset
 * dset: 0 for vectors (N, G), 2 for (N, Ny, Nx) and (N, Ny, Nx, C), 3 for
 * (N, Nz, Ny, Nx) and (N, Nz, Ny, Nx, C). A 4-D dataset is 2-D (today's
 * meaning) unless its integer attribute Mz equals its second axis, or
 * data_dims is 3 (-data_dims; files PETSc wrote have no attributes); 5-D is
 * always 3-D. data_dims 0 lets the file decide. Returns -1 and the reason
 * (e.g. "has attribute Mz = 7 but its second axis is 4 (N, Nz, Ny, Nx) = (3,
 * 4, 6, 5)"), to follow "FILE: dataset NAME ", when the dataset's axes, its
 * Mz attribute and data_dims disagree. Not collective; no PETSc errors. */
int BOFieldSpatialDims(hid_t dset, PetscInt data_dims, char *why, size_t len);
/* The one refusal of 3-D fields by code that handles 2-D fields only: when
 * is_3d, the error "FILE: dataset NAME is a 3-D field (Nz x Ny x Nx = 8 x 16
 * x 16); WHO does not handle 3-D fields yet" on comm (who: "bo_train", ...).
 * BODatasetRequire2D(ds, who) is the same for an open dataset. */
PetscErrorCode BOFieldRefuse3D(MPI_Comm comm, const char *file, const char *name, PetscBool is_3d, PetscInt Nz,
                               PetscInt Ny, PetscInt Nx, const char *who);
PetscErrorCode BODatasetRequire2D(BODataset ds, const char *who);
/* Read a member-shaped float dataset (e.g. the observed cells' value and
 * mask) from file into buf, members of (ndim, shape) as in BODataset: ndim 4
 * (Nz, Ny, Nx, C), 3 (Ny, Nx, C) or 1 (G). A 3-D member's dataset must be
 * (Nz, Ny, Nx, C), or (Nz, Ny, Nx) when C = 1, else "WHAT: 'NAME' is 4 x 6 x
 * 4, but MEMBERS are 4 x 6 x 5 (Nz x Ny x Nx[ x C])"; a 2-D or vector member's
 * needs D elements ("WHAT: 'NAME' has 20 elements, MEMBERS have 24"). A
 * missing dataset: "WHAT: dataset 'NAME' is missing". Serial. */
PetscErrorCode BOMemberShapedRead(hid_t file, const char *what, const char *name, const char *members, PetscInt ndim,
                                  const PetscInt shape[], float *buf);

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
/* Inputs for the minibatches: without streaming, BODatasetLoadInputs; when
 * streaming (-data_chunk_mb), ds->inputs stays NULL and every window of
 * counts is read with its members' inputs (the same rows, so the memory of
 * inputs is bounded like that of counts: rows_per_chunk x Di floats), and
 * GetMinibatch keeps its members' inputs for GetConditions. Either way every
 * input value of the shard is read and validated now (chunk by chunk when
 * streaming) and ds->input_sums and ds->input_summary are filled.
 * Collective. */
PetscErrorCode BODatasetUseInputs(BODataset ds);
/* An input field's summary, for drawing totals near a field (bo_sample):
 * each channel averaged over the cells (and all z) of a coarse Gy x Gx grid,
 * Gy = BOInputSummaryGrid(Ny) = min(Ny, 4) (likewise Gx), block (by, bx)
 * holding the cells y * Gy / Ny = by, x * Gx / Nx = bx; summary[(by Gx + bx)
 * Ci + j], in double, cells in order. field is (Nz, Ny, Nx, Ci). */
#define BO_INPUT_SUMMARY_GRID 4
PetscInt BOInputSummaryGrid(PetscInt N);
void     BOInputSummary(PetscInt Nz, PetscInt Ny, PetscInt Nx, PetscInt Ci, const float *field, double *summary);
/* Gy Gx Ci: the length of a member's summary */
PetscInt BODatasetInputSummarySize(BODataset ds);
/* The params (n x P) and, if inputs != NULL, inputs (n x Ny x Nx x Ci) of
 * members gidx[0..n) of this rank's shard: inputs from the loaded shard, or,
 * when they are streamed, from the last minibatch of BODatasetGetMinibatch,
 * which must hold the members gidx. Not collective. */
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
