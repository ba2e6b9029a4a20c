/* BOWriter: collective parallel writer of count ensembles in the project's
 * on-disk layout (docs/DATA.md), and readers of foreign formats used by
 * bo_convert.
 *
 * Layout written:
 *   /<name>   (N, Ny, Nx[, C]) fields, (N, Nz, Ny, Nx[, C]) 3-D fields or
 *             (N, G) vectors, attribute timestepping = 1 (int32), plus Mx,
 *             My, dof, origin, spacing for fields (and Mz for 3-D ones)
 *   /labels   (N) int32, optional
 *   /params   (N, P) float64 with string attribute names, optional
 *   /inputs   (N, Ny, Nx[, Ci]) float32 on the counts' grid, optional
 *             ((N, Nz, Ny, Nx[, Ci]) with Mz beside 3-D fields)
 *   /         provenance: producer, version, created, mpi_size,
 *             slurm_job_id (when set), and caller-given key/values
 *   FILE.xmf  XDMF sidecar for fields (ParaView / VisIt)
 *
 * The file is created under a temporary name in the same directory and
 * renamed by rank 0 in BOWriterClose(); destroying a writer that was not
 * closed deletes the temporary file, so a failed run never leaves a file
 * under the final name.
 *
 * Usage (all calls collective over the writer's communicator):
 *   BOWriterCreate(comm, "out.h5", "counts", N, 2, (PetscInt[]){Ny, Nx}, &w);
 *   BOWriterSetMaxCount(w, cap);           // or BOWriterSetType()
 *   BOWriterSetFromOptions(w);             // -io_type, -io_deflate, -io_xdmf
 *   BOWriterSetAttributeInt(w, "seed", 7);
 *   BOWriterWrite(w, first, count, data);  // as many rounds as needed; count may be 0
 *   BOWriterClose(w);                      // rename to the final name, write FILE.xmf
 *   BOWriterDestroy(&w);
 */
#ifndef BO_IO_H
#define BO_IO_H
#include <petscsys.h>
#include <hdf5.h>
#include "bo_dataset.h"
#include "bo_sys.h"

/* Element type on disk. AUTO: the smallest unsigned integer type holding the
 * maximum count given with BOWriterSetMaxCount() (u32 if none was given). */
typedef enum { BO_DTYPE_AUTO, BO_DTYPE_U8, BO_DTYPE_U16, BO_DTYPE_U32, BO_DTYPE_F32, BO_DTYPE_F64 } BODType;
extern const char *const BODTypes[];

typedef struct {
  char      key[64];
  int       kind; /* 0 string, 1 integer, 2 real */
  char      s[PETSC_MAX_PATH_LEN];
  long long i;
  double    r;
} BOAttribute;

typedef struct {
  MPI_Comm     comm;
  char         path[PETSC_MAX_PATH_LEN];    /* final name */
  char         tmppath[PETSC_MAX_PATH_LEN]; /* name while writing */
  char         name[256];                   /* dataset path, e.g. "counts" */
  PetscInt     N, ndim, shape[4], D;        /* members, per-member shape, elements per member */
  PetscBool    is_field;                    /* ndim 2, 3 or 4: (Ny, Nx[, C]) or (Nz, Ny, Nx, C) */
  PetscBool    is_3d;                       /* ndim 4: (Nz, Ny, Nx, C) */
  BODType      dtype;                       /* chosen type (never AUTO after set-up) */
  double       max_count;                   /* < 0: unknown */
  PetscInt     deflate;                     /* 0 = no compression, else 1..9 (with shuffle) */
  PetscBool    xdmf, labels;
  double       origin[3], spacing[3]; /* (x, y[, z]) */
  BOAttribute *attrs;
  int          nattrs, maxattrs;
  PetscInt     P; /* params columns (0: no params dataset) */
  char         param_names[BO_NAMES_LEN];
  PetscInt     Ci; /* inputs components (0: no inputs dataset) */
  hid_t        file, dset, lset, pset, iset;
  PetscBool    setup, closed;
} BOWriterData;
typedef BOWriterData *BOWriter;

/* shape = (Ny, Nx) or (Ny, Nx, C) for fields, (Nz, Ny, Nx, C) for 3-D fields
 * (ndim 4: written as (N, Nz, Ny, Nx), or (N, Nz, Ny, Nx, C) when C > 1, with
 * the attribute Mz), (G) for vectors; N >= 1. */
PetscErrorCode BOWriterCreate(MPI_Comm comm, const char *path, const char *name, PetscInt N, PetscInt ndim,
                              const PetscInt shape[], BOWriter *w);
PetscErrorCode BOWriterSetFromOptions(BOWriter w); /* -io_type -io_deflate -io_xdmf */
PetscErrorCode BOWriterSetType(BOWriter w, BODType type);
PetscErrorCode BOWriterSetMaxCount(BOWriter w, double max_count);
PetscErrorCode BOWriterSetDeflate(BOWriter w, PetscInt level);
PetscErrorCode BOWriterSetXDMF(BOWriter w, PetscBool flg);
PetscErrorCode BOWriterSetLabels(BOWriter w, PetscBool flg); /* create the labels dataset */
/* Conditioning datasets beside the counts (docs/DATA.md): params (N, P)
 * float64 with the attribute names (comma-separated, P of them; NULL or ""
 * gives p0,p1,...), and inputs (N, Ny, Nx[, Ci]) float32 for fields,
 * (N, Nz, Ny, Nx[, Ci]) with Mz for 3-D fields. */
PetscErrorCode BOWriterSetParams(BOWriter w, PetscInt P, const char *names);
PetscErrorCode BOWriterSetInputs(BOWriter w, PetscInt Ci);
/* origin and spacing: 2 values (x, y), or 3 (x, y, z) for 3-D fields. */
PetscErrorCode BOWriterSetGrid(BOWriter w, const double origin[], const double spacing[]);
/* Provenance key/values on the root group; same values on every rank. May be
 * called any time before BOWriterClose(); a key set twice keeps the last. */
PetscErrorCode BOWriterSetAttributeString(BOWriter w, const char *key, const char *value);
PetscErrorCode BOWriterSetAttributeInt(BOWriter w, const char *key, long long value);
PetscErrorCode BOWriterSetAttributeReal(BOWriter w, const char *key, double value);
/* Create the temporary file and datasets (done by the first write if not called). */
PetscErrorCode BOWriterSetUp(BOWriter w);
/* Members first .. first+count-1 (count x D floats holding counts). Collective;
 * count may be 0. Values must be integral and fit the integer type. */
PetscErrorCode BOWriterWrite(BOWriter w, PetscInt first, PetscInt count, const float *data);
PetscErrorCode BOWriterWriteLabels(BOWriter w, PetscInt first, PetscInt count, const PetscInt *labels);
/* Members first .. first+count-1 of params (count x P) and inputs (count x
 * Ny x Nx x Ci, or count x Nz x Ny x Nx x Ci). Collective; count may be 0; NaN or infinite values are an
 * error naming the first (agreed before the write). */
PetscErrorCode BOWriterWriteParams(BOWriter w, PetscInt first, PetscInt count, const double *params);
PetscErrorCode BOWriterWriteInputs(BOWriter w, PetscInt first, PetscInt count, const float *inputs);
/* Write attributes, close, rename to the final name, write the XDMF sidecar. */
PetscErrorCode BOWriterClose(BOWriter w);
/* Frees the writer; if it was not closed, deletes the temporary file. */
PetscErrorCode BOWriterDestroy(BOWriter *w);

/* One call: write a whole ensemble distributed as a contiguous block per rank
 * (first, count), type chosen from the global maximum count. labels may be
 * NULL. Options as BOWriterSetFromOptions(). */
PetscErrorCode BOWriteEnsemble(MPI_Comm comm, const char *path, const char *name, PetscInt N, PetscInt ndim,
                               const PetscInt shape[], PetscInt first, PetscInt count, const float *data,
                               const PetscInt *labels);

/* The XDMF sidecar of a field file (rank 0 only; called by BOWriterClose).
 * h5path is the .h5 file; the sidecar names it by its base name. Nz = 0: a
 * 2-D field (2DCoRectMesh; origin and spacing x, y); Nz >= 1: a 3-D field
 * (3DCoRectMesh; origin and spacing x, y, z). */
PetscErrorCode BOWriteXDMF(const char *h5path, const char *name, PetscInt N, PetscInt Nz, PetscInt Ny, PetscInt Nx,
                           PetscInt C, BODType type, const double origin[], const double spacing[]);
/* Remove the XDMF sidecar of h5path if it describes h5path (a file
 * re-written without one would otherwise keep a stale sidecar). */
void BORemoveStaleXDMF(const char *h5path);
/* "dir/file.h5" -> "dir/file.xmf" (any extension replaced, or appended). */
void BOXDMFPath(const char *h5path, char *xmf, size_t len);
/* BOCheckOutputs for a program that writes ensembles (data[0..ndata-1], through
 * BOWriter) and other files (other[]): each ensemble's XDMF sidecar is checked
 * as an output too ("-out's XDMF sidecar e.xmf"), so that it replaces no
 * input, no other output and not the ensemble itself (an output named
 * e.xmf, or two outputs e.h5 and e.hdf5 that share e.xmf). Collective. */
PetscErrorCode BOCheckEnsembleOutputs(MPI_Comm comm, int ndata, const BOFileArg *data, int nother,
                                      const BOFileArg *other, int nin, const BOFileArg *in);

/* ------------------------------------------------------------------------
 * Foreign formats (serial readers used by bo_convert). Each fills a BOArray:
 * an in-memory ensemble of N members of D = prod(shape) counts each, with
 * optional labels. All values are validated (non-negative, integral, finite,
 * < 2^24); errors name the file and the first bad line/column or index.
 * comm: the ranks that call the reader (all read the file; errors are raised
 * collectively on comm).
 * ------------------------------------------------------------------------ */
typedef struct {
  PetscInt  N, ndim, shape[3], D;
  float    *x;      /* N x D */
  PetscInt *labels; /* N, or NULL */
  PetscInt  P;      /* params per member (0: none) */
  double   *params; /* N x P, or NULL */
  char      param_names[BO_NAMES_LEN];
  PetscInt  Ci;     /* input components per cell (0: none) */
  float    *inputs; /* N x Ny x Nx x Ci, or NULL */
} BOArray;

typedef enum { BO_RAW_U8, BO_RAW_U16, BO_RAW_I16, BO_RAW_I32, BO_RAW_U32, BO_RAW_F32, BO_RAW_F64 } BORawType;
extern const char *const BORawTypes[];

/* CSV (plain or gzip), one member per row. shape (ndim = 1, 2 or 3) may be
 * NULL (ndim = 0): vectors with G = number of data columns. label_column >= 0
 * is moved to labels; drop_column >= 0 is discarded. skip_header skips the
 * first line. */
PetscErrorCode BOReadCSV(MPI_Comm comm, const char *path, PetscInt ndim, const PetscInt shape[], PetscInt label_column,
                         PetscInt drop_column, PetscBool skip_header, BOArray *a);
/* MNIST idx (plain or gzip): idx3 (N, Ny, Nx) fields or idx2 (N, G) vectors;
 * labels_path (an idx1 file, may be NULL) gives labels. */
PetscErrorCode BOReadIDX(MPI_Comm comm, const char *path, const char *labels_path, BOArray *a);
/* Raw binary, no header: offset bytes skipped, then N x prod(shape) values. */
PetscErrorCode BOReadRaw(MPI_Comm comm, const char *path, BORawType type, PetscBool big_endian, long long offset,
                         PetscInt ndim, const PetscInt shape[], BOArray *a);
/* Parameters of the members of a (a->N rows) from a CSV file into a->params
 * and a->param_names: one row of P numbers per member; a first row that is
 * not all numbers gives the names (else p0,p1,...). Errors name the file and
 * the line: wrong number of rows, ragged rows, a token that is not a
 * number, NaN or infinite values. */
PetscErrorCode BOReadParamsCSV(MPI_Comm comm, const char *path, BOArray *a);
/* Cut fields into P x P patches at stride S (labels and params repeat per
 * patch, inputs are cut like the counts). */
PetscErrorCode BOArrayExtractPatches(BOArray *a, PetscInt P, PetscInt S);
/* Put the members (and their labels, params and inputs) in the order of a uniform random
 * permutation keyed by seed (BOShufflePermutation, epoch 0). */
PetscErrorCode BOArrayPermute(BOArray *a, uint64_t seed);
PetscErrorCode BOArrayDestroy(BOArray *a);

/* ------------------------------------------------------------------------
 * Eclipse/OPM keyword files (GRDECL, src/data/grdecl.c). Keywords, each
 * followed by whitespace-separated values ended by '/'; "--" comments to the
 * end of the line; N*value repeats. SPECGRID (NX NY NZ ...) or DIMENS
 * (NX NY NZ) give the grid; section headers (GRID, EDIT, ...) are skipped;
 * INCLUDE, BOX, EQUALS, COPY, ADD, MULTIPLY and N* (defaults) are refused.
 * Errors name the file and the line.
 * ------------------------------------------------------------------------ */
typedef struct {
  char      name[32];
  PetscInt  n, line; /* values; line of the keyword */
  double   *v;       /* n values, i fastest, then j, then k */
  PetscBool text;    /* quoted strings: not a property */
} BOGrdeclKeyword;

typedef struct {
  PetscInt         dims[3];   /* NX, NY, NZ of SPECGRID or DIMENS (0: none) */
  PetscInt         dims_line; /* its line */
  char             dims_keyword[16];
  PetscInt         nkw;
  BOGrdeclKeyword *kw;
} BOGrdecl;

/* Parse text (NUL-terminated; path names it in errors) into g. */
PetscErrorCode BOGrdeclParse(MPI_Comm comm, const char *path, const char *text, BOGrdecl *g);
/* Read the file (plain or gzip) and parse it. */
PetscErrorCode BOGrdeclRead(MPI_Comm comm, const char *path, BOGrdecl *g);
PetscErrorCode BOGrdeclDestroy(BOGrdecl *g);

/* Float values -> counts 0..levels: none (values must be counts), linear
 * (min..max of the active cells) or log (log10 of positive values). */
typedef enum { BO_QUANTIZE_NONE, BO_QUANTIZE_LINEAR, BO_QUANTIZE_LOG } BOQuantizeKind;
typedef struct {
  BOQuantizeKind kind;
  PetscInt       levels;
  double         lo, hi; /* the range mapped to 0..levels (set by BOGrdeclCounts) */
} BOQuantize;
/* "linear:LEVELS" or "log:LEVELS"; "" gives none. */
PetscErrorCode BOQuantizeParse(MPI_Comm comm, const char *s, BOQuantize *q);

/* One 3-D member from g: the property keyword (NULL or "": the only one;
 * its name into chosen),
 * on the grid shape = (Nx, Ny, Nz) (NULL: SPECGRID/DIMENS). dims (Nx, Ny,
 * Nz), x (the counts) and active (1 active, 0 inactive by ACTNUM; inactive
 * counts are 0) of Nx*Ny*Nz cells, to be freed with PetscFree. */
PetscErrorCode BOGrdeclCounts(MPI_Comm comm, const char *path, const BOGrdecl *g, const char *keyword,
                              const PetscInt shape[], BOQuantize *q, char chosen[32], PetscInt dims[3], float **x,
                              unsigned char **active);
/* Cut the grid dims (Nx, Ny, Nz) of x and active (as BOGrdeclCounts gives
 * them) into *N patches of P[0] x P[1] x P[2] cells at strides S[0..2],
 * in natural order (x fastest); x and active are replaced. */
PetscErrorCode BOGrdeclPatches(const PetscInt dims[3], const PetscInt P[3], const PetscInt S[3], PetscInt *N, float **x,
                               unsigned char **active);
/* Write the dataset "active" (N, Nz, Ny, Nx) uint8 beside a 3-D writer's
 * counts: members first .. first+count-1 (count x D). Collective, once,
 * between the counts' write and BOWriterClose. */
PetscErrorCode BOWriterWriteActive(BOWriter w, PetscInt first, PetscInt count, const unsigned char *active);

#endif
