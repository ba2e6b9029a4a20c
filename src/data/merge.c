/* Whole-file ensemble utilities: joining shards, pictures of a file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bo_dataset.h"
#include "bo_h5.h"
#include "bo_io.h"
#include "bo_png.h"
#include "bo_ensemble.h"
#include "bo_sys.h"

/* Provenance that must agree between shards of one ensemble. */
static const char *const shard_keys[] = {"checkpoint_crc32", "sampler", "sample_grid", "totals", NULL};
static const char *const shard_ints[] = {"seed", "sample_steps", "micro_batch", "label", "observed_cells", NULL};

typedef struct {
  char    path[PETSC_MAX_PATH_LEN];
  int64_t first, n;
  BODType dtype; /* the element type on disk; shards of one ensemble share it */
} Shard;

static BODType dtype_of(hid_t type)
{
  size_t size = H5Tget_size(type);
  if (H5Tget_class(type) == H5T_FLOAT) return size == 4 ? BO_DTYPE_F32 : BO_DTYPE_F64;
  return size == 1 ? BO_DTYPE_U8 : size == 2 ? BO_DTYPE_U16 : BO_DTYPE_U32;
}

/* A shard's member range and its identifying attributes, from the open file
 * f, checked against the first shard ref (NULL: this is the first). */
static PetscErrorCode read_shard(hid_t f, const char *path, Shard *sh, const Shard *ref,
                                 char (*strs)[PETSC_MAX_PATH_LEN], int64_t *ints)
{
  hid_t       d, sp, t;
  hsize_t     dims[H5S_MAX_RANK];
  const char *missing = !BOH5HasAttr(f, "first_member") ? "first_member" : NULL;

  PetscFunctionBegin;
  for (int i = 0; !missing && shard_keys[i]; i++)
    if (!BOH5HasAttr(f, shard_keys[i])) missing = shard_keys[i];
  for (int i = 0; !missing && shard_ints[i]; i++)
    if (!BOH5HasAttr(f, shard_ints[i])) missing = shard_ints[i];
  PetscCheck(!missing, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "-merge: %s is not a shard of bo_sample: it has no attribute '%s'", path, missing);
  PetscCall(BOH5ReadAttrInt(f, "first_member", &sh->first));
  BOCallHDF5(d = H5Dopen2(f, "counts", H5P_DEFAULT), "-merge: %s has no dataset 'counts'", path);
  sp = H5Dget_space(d);
  H5Sget_simple_extent_dims(sp, dims, NULL);
  sh->n = (int64_t)dims[0];
  H5Sclose(sp);
  t         = H5Dget_type(d);
  sh->dtype = dtype_of(t);
  H5Tclose(t);
  H5Dclose(d);
  PetscCheck(!ref || sh->dtype == ref->dtype, PETSC_COMM_SELF, PETSC_ERR_ARG_INCOMP,
             "-merge: %s stores another element type than %s", path, ref->path);
  for (int i = 0; shard_keys[i]; i++) {
    char v[PETSC_MAX_PATH_LEN];
    PetscCall(BOH5ReadAttrString(f, shard_keys[i], v, sizeof(v)));
    if (!ref) PetscCall(PetscStrcpy(strs[i], v));
    else
      PetscCheck(!strcmp(v, strs[i]), PETSC_COMM_SELF, PETSC_ERR_ARG_INCOMP,
                 "-merge: %s has %s = %s, the first shard %s", path, shard_keys[i], v, strs[i]);
  }
  for (int i = 0; shard_ints[i]; i++) {
    int64_t v;
    PetscCall(BOH5ReadAttrInt(f, shard_ints[i], &v));
    if (!ref) ints[i] = v;
    else
      PetscCheck(v == ints[i], PETSC_COMM_SELF, PETSC_ERR_ARG_INCOMP, "-merge: %s has %s = %lld, the first shard %lld",
                 path, shard_ints[i], (long long)v, (long long)ints[i]);
  }
  PetscFunctionReturn(0);
}

/* Rank 0: read a shard's member range and check it agrees with the first
 * (the file is closed on every path). */
static PetscErrorCode inspect_shard(const char *path, Shard *sh, const Shard *ref, char (*strs)[PETSC_MAX_PATH_LEN],
                                    int64_t *ints)
{
  hid_t          f;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  BOH5Quiet();
  f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  PetscCheck(f >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "-merge: cannot open %s", path);
  PetscCall(PetscStrncpy(sh->path, path, sizeof(sh->path)));
  ierr = read_shard(f, path, sh, ref, strs, ints);
  H5Fclose(f);
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

static int by_first(const void *a, const void *b)
{
  const Shard *x = a, *y = b;
  return x->first < y->first ? -1 : x->first > y->first;
}

typedef struct {
  const char *list;
  int         ns;
  Shard      *sh;
  char        strs[4][PETSC_MAX_PATH_LEN];
  int64_t     ints[5];
} MergeJob;

/* Rank 0: every shard read and checked against the first, then sorted by
 * member range, which must be contiguous without overlap. */
static PetscErrorCode inspect_shards(void *ctx)
{
  MergeJob *j = (MergeJob *)ctx;
  char     *copy, *tok, *save;
  int       i = 0;

  PetscFunctionBegin;
  PetscCall(PetscStrallocpy(j->list, &copy));
  for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save), i++) {
    PetscErrorCode ierr = inspect_shard(tok, &j->sh[i], i ? &j->sh[0] : NULL, j->strs, j->ints);
    if (ierr) PetscCall(PetscFree(copy));
    PetscCall(ierr);
  }
  PetscCall(PetscFree(copy));
  qsort(j->sh, j->ns, sizeof(Shard), by_first);
  for (i = 1; i < j->ns; i++)
    PetscCheck(j->sh[i].first == j->sh[i - 1].first + j->sh[i - 1].n, PETSC_COMM_SELF, PETSC_ERR_ARG_INCOMP,
               "-merge: %s starts at member %lld but %s ends at %lld: shards must be contiguous without overlap",
               j->sh[i].path, (long long)j->sh[i].first, j->sh[i - 1].path,
               (long long)(j->sh[i - 1].first + j->sh[i - 1].n));
  PetscFunctionReturn(0);
}

/* "4 x 6 x 5 x 2 (Nz x Ny x Nx x C)" for members of ds */
static void member_shape(BODataset ds, char *s, size_t len)
{
  if (ds->is_3d)
    snprintf(s, len, "%d x %d x %d x %d (Nz x Ny x Nx x C)", (int)ds->Nz, (int)ds->Ny, (int)ds->Nx, (int)ds->C);
  else if (ds->is_field) snprintf(s, len, "%d x %d x %d (Ny x Nx x C)", (int)ds->Ny, (int)ds->Nx, (int)ds->C);
  else snprintf(s, len, "%d (G)", (int)ds->G);
}

/* A shard's members have the shape of the first shard's (shape: its
 * member_shape, or "" for the first shard itself, which sets it). */
static PetscErrorCode same_shape(BODataset ds, char *shape, size_t len, const char *first_path)
{
  char a[96];

  PetscFunctionBegin;
  member_shape(ds, a, sizeof(a));
  if (!shape[0]) PetscCall(PetscStrncpy(shape, a, len));
  PetscCheck(!strcmp(a, shape), ds->comm, PETSC_ERR_ARG_INCOMP,
             "-merge: %s holds members of %s, the first shard %s of %s", ds->filename, a, first_path, shape);
  PetscFunctionReturn(0);
}

/* A shard's params and inputs are those of the first shard (which set up w). */
static PetscErrorCode same_conditions(BODataset ds, BOWriter w, const char *first)
{
  PetscFunctionBegin;
  PetscCheck(ds->has_params == (w->P > 0) && (!w->P || (ds->P == w->P && !strcmp(ds->param_names, w->param_names))),
             ds->comm, PETSC_ERR_ARG_INCOMP, "-merge: %s has params %s, the first shard %s has %s", ds->filename,
             ds->has_params ? ds->param_names : "none", first, w->P ? w->param_names : "none");
  PetscCheck(ds->has_inputs == (w->Ci > 0) && (!w->Ci || ds->Ci == w->Ci), ds->comm, PETSC_ERR_ARG_INCOMP,
             "-merge: %s has inputs with %" PetscInt_FMT " components, the first shard %s with %" PetscInt_FMT,
             ds->filename, ds->has_inputs ? ds->Ci : 0, first, w->Ci);
  PetscFunctionReturn(0);
}

PetscErrorCode BOMergeEnsembles(MPI_Comm comm, const char *list, const char *out)
{
  MergeJob  job;
  Shard    *sh;
  int       ns              = 1;
  BOWriter  w               = NULL;
  char      first_shape[96] = ""; /* the members' shape, from the first shard */
  PetscInt  total           = 0;
  PetscBool labels          = PETSC_FALSE; /* the shards carry each member's label (drawn labels) */

  PetscFunctionBegin;
  PetscCall(PetscMemzero(&job, sizeof(job)));
  for (const char *c = list; *c; c++) ns += *c == ',';
  PetscCall(PetscCalloc1(ns, &sh));
  job.list = list, job.ns = ns, job.sh = sh;
  /* 1. rank 0 checks the shards: same ensemble, contiguous, no overlap */
  PetscCall(BORootTry(comm, inspect_shards, &job, NULL));
  PetscCallMPI(MPI_Bcast(sh, (int)(ns * sizeof(Shard)), MPI_BYTE, 0, comm));
  PetscCallMPI(MPI_Bcast(job.strs, sizeof(job.strs), MPI_CHAR, 0, comm));
  PetscCallMPI(MPI_Bcast(job.ints, 5, MPI_INT64_T, 0, comm));
  for (int i = 0; i < ns; i++) total += (PetscInt)sh[i].n;

  /* 2. copy each shard's rows, read and written collectively */
  for (int i = 0; i < ns; i++) {
    BODataset ds;
    PetscCall(BODatasetCreate(comm, &ds));
    PetscCall(BODatasetSetFile(ds, sh[i].path, "counts"));
    PetscCall(BODatasetOpen(ds));
    PetscCall(same_shape(ds, first_shape, sizeof(first_shape), sh[0].path));
    if (!w) {
      PetscInt shape[4] = {ds->Ny, ds->Nx, ds->C, 1}, ndim = ds->is_field ? (ds->C > 1 ? 3 : 2) : 1;
      if (!ds->is_field) shape[0] = ds->G;
      if (ds->is_3d) { /* (Nz, Ny, Nx, C): the writer drops the component axis for C = 1 */
        ndim = 4;
        for (int a = 0; a < 4; a++) shape[a] = ds->shape[a];
      }
      PetscCall(BOWriterCreate(comm, out, "counts", total, ndim, shape, &w));
      PetscCall(BOWriterSetType(w, sh[0].dtype));
      PetscCall(BOWriterSetFromOptions(w));
      for (int k = 0; shard_keys[k]; k++) PetscCall(BOWriterSetAttributeString(w, shard_keys[k], job.strs[k]));
      for (int k = 0; shard_ints[k]; k++) PetscCall(BOWriterSetAttributeInt(w, shard_ints[k], job.ints[k]));
      PetscCall(BOWriterSetAttributeInt(w, "first_member", sh[0].first));
      PetscCall(BOWriterSetAttributeInt(w, "merged_shards", ns));
      PetscCall(BOWriterSetAttributeString(w, "labels_from", ds->has_labels ? "train" : "none"));
      if (ds->top_down) PetscCall(BOWriterSetAttributeString(w, "row_order", "top_down"));
      labels = ds->has_labels;
      PetscCall(BOWriterSetLabels(w, labels));
      if (ds->has_params) PetscCall(BOWriterSetParams(w, ds->P, ds->param_names));
      if (ds->has_inputs) PetscCall(BOWriterSetInputs(w, ds->Ci));
    }
    PetscCheck(ds->has_labels == labels, comm, PETSC_ERR_ARG_INCOMP, "-merge: %s %s member labels, the first shard %s",
               sh[i].path, ds->has_labels ? "has" : "has no", labels ? "has" : "has none");
    PetscCall(same_conditions(ds, w, sh[0].path));
    PetscInt at = (PetscInt)(sh[i].first - sh[0].first) + ds->first;
    PetscCall(BOWriterWrite(w, at, ds->nlocal, ds->x));
    if (labels) PetscCall(BOWriterWriteLabels(w, at, ds->nlocal, ds->labels));
    if (w->P) PetscCall(BOWriterWriteParams(w, at, ds->nlocal, ds->params));
    if (w->Ci) PetscCall(BODatasetLoadInputs(ds));
    if (w->Ci) PetscCall(BOWriterWriteInputs(w, at, ds->nlocal, ds->inputs));
    PetscCall(BODatasetDestroy(&ds));
  }
  PetscCall(BOWriterClose(w));
  PetscCall(BOWriterDestroy(&w));
  PetscCall(PetscPrintf(comm, "merged %d shards, %" PetscInt_FMT " members, into %s\n", ns, total, out));
  PetscCall(PetscFree(sh));
  PetscFunctionReturn(0);
}

/* Rank 0 reads the first members of a dataset as floats: shape[0..ndim-1]
 * the axes of a member, is_3d for (N, Nz, Ny, Nx[, C]). */
static PetscErrorCode read_first_members(const char *path, const char *name, PetscInt maxn, PetscInt *n,
                                         PetscInt shape[4], PetscInt *ndim, PetscBool *is_3d, PetscBool *top_down,
                                         float **x)
{
  hid_t    f, d, fs, ms;
  hsize_t  dims[5], start[5] = {0, 0, 0, 0, 0}, count[5];
  int      rank, sdim;
  char     why[256];
  PetscInt D = 1;

  PetscFunctionBegin;
  BOH5Quiet();
  BOCallHDF5(f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), "cannot open %s", path);
  BOCallHDF5(d = H5Dopen2(f, name, H5P_DEFAULT), "%s has no dataset '%s'", path, name);
  *top_down = BORowsTopDown(f);
  sdim      = BOFieldSpatialDims(d, 0, why, sizeof(why));
  if (sdim < 0) H5Dclose(d), H5Fclose(f);
  PetscCheck(sdim >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s: dataset %s %s", path, name, why);
  *is_3d = (PetscBool)(sdim == 3);
  fs     = H5Dget_space(d);
  rank   = H5Sget_simple_extent_ndims(fs);
  if (rank < 2 || rank > 5) H5Sclose(fs), H5Dclose(d), H5Fclose(f);
  PetscCheck(rank >= 2 && rank <= 5, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s:%s has rank %d", path, name, rank);
  H5Sget_simple_extent_dims(fs, dims, NULL);
  *n    = (PetscInt)PetscMin((hsize_t)maxn, dims[0]);
  *ndim = rank - 1;
  for (int i = 0; i < 4; i++) shape[i] = i + 1 < rank ? (PetscInt)dims[i + 1] : 1;
  for (int i = 1; i < rank; i++) D *= (PetscInt)dims[i];
  count[0] = (hsize_t)*n;
  for (int i = 1; i < rank; i++) count[i] = dims[i];
  H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
  ms = H5Screate_simple(rank, count, NULL);
  PetscCall(PetscMalloc1(*n * D, x));
  BOCallHDF5(H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, *x), "cannot read %s:%s", path, name);
  H5Sclose(ms), H5Sclose(fs), H5Dclose(d), H5Fclose(f);
  PetscFunctionReturn(0);
}

typedef struct {
  const char *path, *name, *png;
  PetscInt    maxn;
} PictureJob;

/* Rank 0: read the first members and draw them (3-D fields: a row of
 * z-slices per member). */
static PetscErrorCode draw_first_members(void *ctx)
{
  const PictureJob *j = (const PictureJob *)ctx;
  PetscInt          n = 0, shape[4] = {0, 0, 0, 0}, ndim = 0;
  PetscBool         top_down = PETSC_FALSE, is_3d = PETSC_FALSE;
  float            *x = NULL;
  char              title[PETSC_MAX_PATH_LEN + 32], caption[96];
  PetscErrorCode    ierr;

  PetscFunctionBegin;
  snprintf(title, sizeof(title), "%s: first members", j->path);
  ierr = read_first_members(j->path, j->name, j->maxn, &n, shape, &ndim, &is_3d, &top_down, &x);
  if (!ierr && is_3d) {
    snprintf(caption, sizeof(caption), "rows: members 1 to %d; columns: z-slices", (int)n);
    ierr = BOPNGWriteVolumes(j->png, n, shape[0], shape[1], shape[2], ndim == 4 ? shape[3] : 1, x, 0.0,
                             &(BOPNGLabels){title, caption, "count", top_down});
  } else if (!ierr && ndim >= 2) {
    snprintf(caption, sizeof(caption), "members 1 to %d, left to right, top to bottom", (int)n);
    ierr = BOPNGWriteFields(j->png, n, shape[0], shape[1], ndim == 3 ? shape[2] : 1, x, 0.0,
                            &(BOPNGLabels){title, caption, "count", top_down});
  } else if (!ierr) {
    snprintf(caption, sizeof(caption), "rows: members 1 to %d; columns: features", (int)n);
    ierr = BOPNGWriteHeatmap(j->png, n, shape[0], x, 0.0,
                             &(BOPNGLabels){title, caption, "count (log scale)", PETSC_FALSE});
  }
  PetscCall(PetscFree(x));
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

PetscErrorCode BOPNGFromFile(MPI_Comm comm, const char *path, const char *name, PetscInt maxn, const char *png)
{
  PictureJob job = {path, name, png, maxn};
  char       what[2 * PETSC_MAX_PATH_LEN + 32];

  PetscFunctionBegin;
  snprintf(what, sizeof(what), "cannot write the picture %s of %s", png, path);
  PetscCall(BORootTry(comm, draw_first_members, &job, what));
  PetscFunctionReturn(0);
}
