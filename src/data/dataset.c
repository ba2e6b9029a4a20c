/* BODataset: open, validate and shard count data; minibatches that depend
 * only on (seed, step, B), never on the number of ranks. */
#include <limits.h>
#include <math.h>
#include <string.h>
#include "bo_dataset.h"
#include "bo_h5.h"
#include "bo_rng.h"
#include "bo_sys.h"

#define BO_MAX_EXACT 16777216.0 /* 2^24: the largest range of integers exact in a float */

PetscErrorCode BODatasetCreate(MPI_Comm comm, BODataset *ds)
{
  BODataset d;

  PetscFunctionBegin;
  PetscCall(PetscNew(&d));
  d->comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &d->rank));
  PetscCallMPI(MPI_Comm_size(comm, &d->size));
  PetscCall(PetscStrncpy(d->name, "counts", sizeof(d->name)));
  d->max_count_limit = BO_MAX_EXACT;
  d->shuffle_window  = 4;
  d->file = d->dset = d->csr[0] = d->csr[1] = d->csr[2] = -1;
  d->cache_epoch[0] = d->cache_epoch[1] = -1;
  d->win_epoch = d->win_index = -1;
  *ds = d;
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetSetFile(BODataset ds, const char *filename, const char *name)
{
  PetscFunctionBegin;
  if (filename) PetscCall(PetscStrncpy(ds->filename, filename, sizeof(ds->filename)));
  if (name && name[0]) PetscCall(PetscStrncpy(ds->name, name, sizeof(ds->name)));
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetSetFromOptions(BODataset ds)
{
  PetscFunctionBegin;
  PetscOptionsBegin(ds->comm, NULL, "Count dataset", "BODataset");
  PetscCall(PetscOptionsString("-data", "HDF5 file of count data", "BODatasetSetFile", ds->filename, ds->filename,
                               sizeof(ds->filename), NULL));
  PetscCall(PetscOptionsString("-data_name", "dataset (or AnnData CSR group) in the file", "BODatasetSetFile", ds->name,
                               ds->name, sizeof(ds->name), NULL));
  PetscCall(PetscOptionsReal("-max_count", "largest count accepted (at most 2^24)", "BODatasetOpen", ds->max_count_limit,
                             &ds->max_count_limit, NULL));
  PetscCall(PetscOptionsReal("-data_chunk_mb", "stream the shard in chunks of at most this many MiB (0: load it all)",
                             "BODatasetOpen", ds->chunk_mb, &ds->chunk_mb, NULL));
  PetscCall(PetscOptionsRangeInt("-data_shuffle_window", "blocks per shuffle window when streaming", "BOShufflePermutation",
                                 ds->shuffle_window, &ds->shuffle_window, NULL, 1, 64));
  PetscOptionsEnd();
  PetscCheck(ds->max_count_limit > 0 && ds->max_count_limit <= BO_MAX_EXACT, ds->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-max_count must be in (0, 2^24 = 16777216]: larger counts are not exact as float");
  PetscCheck(ds->chunk_mb >= 0, ds->comm, PETSC_ERR_ARG_OUTOFRANGE, "-data_chunk_mb must be >= 0");
  PetscFunctionReturn(0);
}

void BODatasetShard(PetscInt N, PetscMPIInt size, PetscMPIInt r, PetscInt *first, PetscInt *n)
{
  PetscInt q = N / size, rem = N % size;
  *n     = q + (r < rem);
  *first = r * q + PetscMin(r, rem);
}

/* ------------------------------------------------------------------------
 * Low-level reading
 * ------------------------------------------------------------------------ */

/* Does every component of path exist? (H5Lexists fails on a missing parent.) */
static PetscBool PathExists(hid_t file, const char *path)
{
  char buf[PETSC_MAX_PATH_LEN];
  strncpy(buf, path, sizeof(buf) - 1);
  buf[sizeof(buf) - 1] = 0;
  for (char *s = buf[0] == '/' ? buf + 1 : buf;; s++) {
    char *slash = strchr(s, '/');
    if (slash) *slash = 0;
    if (buf[0] && strcmp(buf, "/") && H5Lexists(file, buf, H5P_DEFAULT) <= 0) return PETSC_FALSE;
    if (!slash) return PETSC_TRUE;
    *slash = '/';
    s      = slash;
  }
}

/* Sibling path: "grp/counts" + "labels" -> "grp/labels". */
static void SiblingPath(const char *path, const char *leaf, char *out, size_t len)
{
  const char *slash = strrchr(path, '/');
  if (slash) snprintf(out, len, "%.*s/%s", (int)(slash - path), path, leaf);
  else snprintf(out, len, "%s", leaf);
}

/* Select rows [g0, g0 + count) of a dataset (all trailing axes) or nothing. */
static PetscErrorCode SelectRows(hid_t dset, hsize_t g0, hsize_t count, hid_t *fs, hid_t *ms)
{
  hsize_t dims[8], start[8] = {0};
  int     nd;

  PetscFunctionBegin;
  *fs = H5Dget_space(dset);
  nd  = H5Sget_simple_extent_dims(*fs, dims, NULL);
  BOCallHDF5(nd, "H5Sget_simple_extent_dims");
  start[0] = g0, dims[0] = count;
  if (count > 0) {
    BOCallHDF5(H5Sselect_hyperslab(*fs, H5S_SELECT_SET, start, NULL, dims, NULL), "H5Sselect_hyperslab");
    *ms = H5Screate_simple(nd, dims, NULL);
  } else {
    hsize_t one = 1;
    BOCallHDF5(H5Sselect_none(*fs), "H5Sselect_none");
    *ms = H5Screate_simple(1, &one, NULL);
    BOCallHDF5(H5Sselect_none(*ms), "H5Sselect_none");
  }
  PetscFunctionReturn(0);
}

/* Collective read of rows [g0, g0+count) in memory type mtype into buf. */
static PetscErrorCode ReadRowsRaw(BODataset ds, hid_t dset, hid_t mtype, hsize_t g0, hsize_t count, void *buf)
{
  hid_t fs, ms, dxpl;
  char  dummy[16];

  PetscFunctionBegin;
  PetscCall(SelectRows(dset, g0, count, &fs, &ms));
  dxpl = H5Pcreate(H5P_DATASET_XFER);
  BOCallHDF5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio");
  BOCallHDF5(H5Dread(dset, mtype, ms, fs, dxpl, count ? buf : dummy), "%s: cannot read %s", ds->filename, ds->name);
  BOCallHDF5(H5Pclose(dxpl), "H5Pclose");
  BOCallHDF5(H5Sclose(ms), "H5Sclose");
  BOCallHDF5(H5Sclose(fs), "H5Sclose");
  PetscFunctionReturn(0);
}

/* Values read in the file's own (native) type, converted here. */
static double NativeToDouble(const void *buf, size_t i, H5T_class_t cls, size_t size, H5T_sign_t sign)
{
  if (cls == H5T_FLOAT) return size == 4 ? (double)((const float *)buf)[i] : ((const double *)buf)[i];
  if (sign == H5T_SGN_NONE) {
    switch (size) {
    case 1: return ((const uint8_t *)buf)[i];
    case 2: return ((const uint16_t *)buf)[i];
    case 4: return ((const uint32_t *)buf)[i];
    default: return (double)((const uint64_t *)buf)[i];
    }
  }
  switch (size) {
  case 1: return ((const int8_t *)buf)[i];
  case 2: return ((const int16_t *)buf)[i];
  case 4: return ((const int32_t *)buf)[i];
  default: return (double)((const int64_t *)buf)[i];
  }
}

static PetscErrorCode ReadValues(BODataset ds, hid_t dset, hsize_t g0, hsize_t count, size_t per_row, double *out)
{
  H5T_class_t cls  = H5Tget_class(ds->ftype);
  size_t      size = H5Tget_size(ds->ftype);
  H5T_sign_t  sign = cls == H5T_INTEGER ? H5Tget_sign(ds->ftype) : H5T_SGN_NONE;
  size_t      n    = (size_t)count * per_row;
  void       *buf;

  PetscFunctionBegin;
  PetscCall(PetscMalloc(n * size + 1, &buf));
  PetscCall(ReadRowsRaw(ds, dset, ds->ftype, g0, count, buf));
  for (size_t i = 0; i < n; i++) out[i] = NativeToDouble(buf, i, cls, size, sign);
  PetscCall(PetscFree(buf));
  PetscFunctionReturn(0);
}

/* "(n, j, i)" for a flat global element index. */
static void IndexString(BODataset ds, long long e, char *s, size_t len)
{
  long long n = e / ds->D, r = e % ds->D;
  if (!ds->is_field) snprintf(s, len, "(%lld, %lld)", n, r);
  else if (ds->C == 1) snprintf(s, len, "(%lld, %lld, %lld)", n, r / ds->Nx, r % ds->Nx);
  else snprintf(s, len, "(%lld, %lld, %lld, %lld)", n, r / (ds->Nx * ds->C), (r / ds->C) % ds->Nx, r % ds->C);
}

static int ValueProblem(double v, double limit)
{
  if (isnan(v)) return 1;
  if (isinf(v)) return 2;
  if (v < 0) return 3;
  if (v != floor(v)) return 4;
  if (v > BO_MAX_EXACT) return 5;
  if (v > limit) return 6;
  return 0;
}

/* Collective: all ranks agree on the first bad element (global flat index
 * base + i) and raise the same error. */
static PetscErrorCode ValidateValues(BODataset ds, const char *what, size_t n, const double *v, long long base,
                                     PetscBool labels)
{
  static const char *why[] = {"", "NaN", "infinite", "negative", "not an integer", "above 2^24 (not exact as float)",
                              "above the maximum count (-max_count)"};
  long long          bad = LLONG_MAX, gbad;
  int                code = 0, gcode;
  double             val = 0, gval;
  char               idx[128], vbuf[32];

  PetscFunctionBegin;
  for (size_t i = 0; i < n; i++) {
    int c = ValueProblem(v[i], labels ? BO_MAX_EXACT : ds->max_count_limit);
    if (c) {
      bad = base + (long long)i, code = c, val = v[i];
      break;
    }
  }
  PetscCallMPI(MPI_Allreduce(&bad, &gbad, 1, MPI_LONG_LONG, MPI_MIN, ds->comm));
  if (gbad == LLONG_MAX) PetscFunctionReturn(0);
  if (bad != gbad) code = 0, val = 0;
  PetscCallMPI(MPI_Allreduce(&code, &gcode, 1, MPI_INT, MPI_MAX, ds->comm));
  PetscCallMPI(MPI_Allreduce(&val, &gval, 1, MPI_DOUBLE, MPI_SUM, ds->comm));
  if (labels) snprintf(idx, sizeof(idx), "(%lld)", gbad);
  else IndexString(ds, gbad, idx, sizeof(idx));
  snprintf(vbuf, sizeof(vbuf), "%g", gval); /* plain C formatting: PETSc's %g would print "3." */
  SETERRQ(ds->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: dataset %s: %s at index %s is %s (%s)", ds->filename, what,
          labels ? "label" : "value", idx, why[gcode], vbuf);
}

/* Collective check of a condition that may fail on some ranks only. */
static PetscErrorCode AllOK(BODataset ds, PetscBool ok, PetscBool *all)
{
  int l = ok, g;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Allreduce(&l, &g, 1, MPI_INT, MPI_LAND, ds->comm));
  *all = g ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(0);
}

/* CSR rows [g0, g0+count) densified into out (count x D doubles). */
static PetscErrorCode ReadRowsCSR(BODataset ds, PetscInt g0, PetscInt count, double *out)
{
  int64_t  *ip = NULL, *col = NULL, lo = 0, hi = 0;
  double   *val = NULL;
  PetscBool ok = PETSC_TRUE, all;
  hsize_t   nnz_total;
  hid_t     sp;

  PetscFunctionBegin;
  sp = H5Dget_space(ds->csr[0]);
  H5Sget_simple_extent_dims(sp, &nnz_total, NULL);
  H5Sclose(sp);
  PetscCall(PetscMalloc1(count + 1, &ip));
  PetscCall(ReadRowsRaw(ds, ds->csr[2], H5T_NATIVE_INT64, (hsize_t)g0, count ? (hsize_t)count + 1 : 0, ip));
  if (count) {
    lo = ip[0], hi = ip[count];
    for (PetscInt r = 0; r < count; r++) ok = (PetscBool)(ok && ip[r] <= ip[r + 1]);
    ok = (PetscBool)(ok && lo >= 0 && lo <= hi && (hsize_t)hi <= nnz_total);
  }
  PetscCall(AllOK(ds, ok, &all));
  PetscCheck(all, ds->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: CSR group %s: indptr is not non-decreasing within 0..%llu",
             ds->filename, ds->name, (unsigned long long)nnz_total);
  PetscCall(PetscMalloc2(hi - lo + 1, &col, hi - lo + 1, &val));
  PetscCall(ReadRowsRaw(ds, ds->csr[1], H5T_NATIVE_INT64, (hsize_t)lo, (hsize_t)(hi - lo), col));
  PetscCall(ReadValues(ds, ds->csr[0], (hsize_t)lo, (hsize_t)(hi - lo), 1, val));
  PetscCall(PetscArrayzero(out, (size_t)count * ds->D));
  for (PetscInt r = 0; r < count; r++)
    for (int64_t k = ip[r]; k < ip[r + 1]; k++) {
      int64_t c = col[k - lo];
      if (c < 0 || c >= ds->D) {
        ok = PETSC_FALSE;
        break;
      }
      out[(size_t)r * ds->D + c] += val[k - lo]; /* duplicates add, as in scipy */
    }
  PetscCall(AllOK(ds, ok, &all));
  PetscCheck(all, ds->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: CSR group %s: a column index is outside 0..%" PetscInt_FMT,
             ds->filename, ds->name, ds->D - 1);
  PetscCall(PetscFree(ip));
  PetscCall(PetscFree2(col, val));
  PetscFunctionReturn(0);
}

/* -log_view: time spent reading (event BODataRead). */
static PetscLogEvent event_read = -1;
static PetscErrorCode RegisterEvents(void)
{
  PetscClassId cid;

  PetscFunctionBegin;
  if (event_read >= 0) PetscFunctionReturn(0);
  PetscCall(PetscClassIdRegister("BODataset", &cid));
  PetscCall(PetscLogEventRegister("BODataRead", cid, &event_read));
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetRead(BODataset ds, PetscInt first, PetscInt count, float *x)
{
  double *v;
  size_t  n = (size_t)count * (size_t)ds->D;

  PetscFunctionBegin;
  PetscCall(RegisterEvents());
  PetscCheck(first >= 0 && count >= 0 && first + count <= ds->N, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "%s: samples %" PetscInt_FMT "..%" PetscInt_FMT " outside 0..%" PetscInt_FMT, ds->filename, first,
             first + count - 1, ds->N - 1);
  PetscCall(PetscLogEventBegin(event_read, 0, 0, 0, 0));
  PetscCall(PetscMalloc1(n + 1, &v));
  if (ds->is_sparse) PetscCall(ReadRowsCSR(ds, first, count, v));
  else PetscCall(ReadValues(ds, ds->dset, (hsize_t)first, (hsize_t)count, (size_t)ds->D, v));
  PetscCall(ValidateValues(ds, ds->name, n, v, (long long)first * ds->D, PETSC_FALSE));
  for (size_t i = 0; i < n; i++) x[i] = (float)v[i];
  PetscCall(PetscFree(v));
  PetscCall(PetscLogEventEnd(event_read, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------
 * Open
 * ------------------------------------------------------------------------ */

static PetscErrorCode CheckValueType(BODataset ds, hid_t dset, const char *what)
{
  hid_t       t   = H5Dget_type(dset);
  H5T_class_t cls = H5Tget_class(t);

  PetscFunctionBegin;
  PetscCheck(cls == H5T_INTEGER || cls == H5T_FLOAT, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset %s has neither an integer nor a floating-point type", ds->filename, what);
  ds->ftype = H5Tget_native_type(t, H5T_DIR_ASCEND);
  BOCallHDF5(H5Tclose(t), "H5Tclose");
  PetscFunctionReturn(0);
}

static PetscErrorCode OpenDense(BODataset ds)
{
  hid_t   sp;
  hsize_t dims[8];
  int     nd;

  PetscFunctionBegin;
  ds->dset = H5Dopen2(ds->file, ds->name, H5P_DEFAULT);
  PetscCheck(ds->dset >= 0, ds->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: cannot open dataset %s", ds->filename, ds->name);
  sp = H5Dget_space(ds->dset);
  nd = H5Sget_simple_extent_ndims(sp);
  PetscCheck(nd >= 2 && nd <= 4, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset %s has %d axes; expected (N, G), (N, Ny, Nx) or (N, Ny, Nx, C)", ds->filename, ds->name, nd);
  H5Sget_simple_extent_dims(sp, dims, NULL);
  BOCallHDF5(H5Sclose(sp), "H5Sclose");
  PetscCall(CheckValueType(ds, ds->dset, ds->name));
  ds->N        = (PetscInt)dims[0];
  ds->is_field = nd >= 3 ? PETSC_TRUE : PETSC_FALSE;
  if (ds->is_field) {
    ds->Ny = (PetscInt)dims[1], ds->Nx = (PetscInt)dims[2], ds->C = nd == 4 ? (PetscInt)dims[3] : 1;
    ds->ndim = 3, ds->shape[0] = ds->Ny, ds->shape[1] = ds->Nx, ds->shape[2] = ds->C;
    ds->D    = ds->Ny * ds->Nx * ds->C;
  } else {
    ds->G = ds->D = (PetscInt)dims[1];
    ds->ndim = 1, ds->shape[0] = ds->G;
  }
  if (H5Aexists(ds->dset, "timestepping") > 0) {
    int   ts = 0;
    hid_t a  = H5Aopen(ds->dset, "timestepping", H5P_DEFAULT);
    if (a >= 0 && H5Aread(a, H5T_NATIVE_INT, &ts) >= 0) ds->timestepping = ts ? PETSC_TRUE : PETSC_FALSE;
    if (a >= 0) H5Aclose(a);
  }
  PetscFunctionReturn(0);
}

/* AnnData: X/{data,indices,indptr} + attribute shape (N, G). 10x: matrix/{...}
 * + dataset shape (G, N) with indptr over cells, which is the same CSR. */
static PetscErrorCode OpenCSR(BODataset ds, hid_t grp)
{
  static const char *parts[3] = {"data", "indices", "indptr"};
  int64_t            shape[2] = {-1, -1};
  hsize_t            nptr;
  hid_t              sp;

  PetscFunctionBegin;
  for (int i = 0; i < 3; i++) {
    PetscCheck(H5Lexists(grp, parts[i], H5P_DEFAULT) > 0, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
               "%s: group %s is not a CSR matrix: no dataset %s/%s", ds->filename, ds->name, ds->name, parts[i]);
    ds->csr[i] = H5Dopen2(grp, parts[i], H5P_DEFAULT);
    BOCallHDF5(ds->csr[i], "%s: cannot open %s/%s", ds->filename, ds->name, parts[i]);
  }
  PetscCall(CheckValueType(ds, ds->csr[0], "data"));
  if (H5Aexists(grp, "shape") > 0) {
    hid_t a = H5Aopen(grp, "shape", H5P_DEFAULT);
    BOCallHDF5(H5Aread(a, H5T_NATIVE_INT64, shape), "%s: cannot read attribute %s/shape", ds->filename, ds->name);
    H5Aclose(a);
  } else if (H5Lexists(grp, "shape", H5P_DEFAULT) > 0) {
    int64_t s10x[2];
    hid_t   d = H5Dopen2(grp, "shape", H5P_DEFAULT);
    BOCallHDF5(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, s10x), "%s: cannot read %s/shape", ds->filename,
               ds->name);
    H5Dclose(d);
    shape[0] = s10x[1], shape[1] = s10x[0]; /* 10x stores (genes, cells) */
  }
  PetscCheck(shape[0] >= 0 && shape[1] >= 0, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: CSR group %s has no shape attribute", ds->filename, ds->name);
  sp = H5Dget_space(ds->csr[2]);
  H5Sget_simple_extent_dims(sp, &nptr, NULL);
  H5Sclose(sp);
  PetscCheck((int64_t)nptr == shape[0] + 1, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: CSR group %s: indptr has %llu entries, expected N + 1 = %lld", ds->filename, ds->name,
             (unsigned long long)nptr, (long long)shape[0] + 1);
  ds->is_sparse = PETSC_TRUE;
  ds->N = (PetscInt)shape[0], ds->G = ds->D = (PetscInt)shape[1];
  ds->ndim = 1, ds->shape[0] = ds->G;
  PetscFunctionReturn(0);
}

static PetscErrorCode OpenLabels(BODataset ds)
{
  char    path[PETSC_MAX_PATH_LEN];
  hid_t   d, sp;
  hsize_t n = 0;
  int     nd;
  double *v;
  PetscInt lmax = -1;

  PetscFunctionBegin;
  SiblingPath(ds->name, "labels", path, sizeof(path));
  if (!PathExists(ds->file, path)) PetscFunctionReturn(0);
  d = H5Dopen2(ds->file, path, H5P_DEFAULT);
  PetscCheck(d >= 0, ds->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: %s is not a dataset", ds->filename, path);
  sp = H5Dget_space(d);
  nd = H5Sget_simple_extent_ndims(sp);
  if (nd == 1) H5Sget_simple_extent_dims(sp, &n, NULL);
  H5Sclose(sp);
  PetscCheck(nd == 1 && (PetscInt)n == ds->N, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset %s must hold one label per sample (%" PetscInt_FMT ")", ds->filename, path, ds->N);
  PetscCall(PetscMalloc1(ds->nlocal, &v));
  PetscCall(PetscMalloc1(ds->nlocal, &ds->labels));
  PetscCall(ReadRowsRaw(ds, d, H5T_NATIVE_DOUBLE, (hsize_t)ds->first, (hsize_t)ds->nlocal, v));
  H5Dclose(d);
  PetscCall(ValidateValues(ds, path, (size_t)ds->nlocal, v, ds->first, PETSC_TRUE));
  for (PetscInt i = 0; i < ds->nlocal; i++) {
    ds->labels[i] = (PetscInt)v[i];
    lmax          = PetscMax(lmax, ds->labels[i]);
  }
  PetscCall(PetscFree(v));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &lmax, 1, MPIU_INT, MPI_MAX, ds->comm));
  ds->has_labels  = PETSC_TRUE;
  ds->num_classes = lmax + 1;
  PetscFunctionReturn(0);
}

/* Read (and validate) the shard chunk by chunk: into ds->x when loading it,
 * or only to validate and find the maximum when streaming. */
static PetscErrorCode ScanShard(BODataset ds)
{
  PetscInt rounds, done = 0;
  float   *buf  = NULL;
  float    vmax = 0;

  PetscFunctionBegin;
  rounds = (ds->nlocal + ds->rows_per_chunk - 1) / ds->rows_per_chunk;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &rounds, 1, MPIU_INT, MPI_MAX, ds->comm));
  if (ds->streaming) PetscCall(PetscMalloc1((size_t)ds->rows_per_chunk * ds->D, &buf));
  else PetscCall(PetscMalloc1((size_t)ds->nlocal * ds->D, &ds->x));
  for (PetscInt r = 0; r < rounds; r++) {
    PetscInt n   = PetscMin(ds->rows_per_chunk, ds->nlocal - done);
    float   *out = ds->streaming ? buf : ds->x + (size_t)done * ds->D;
    PetscCall(BODatasetRead(ds, ds->first + done, n, out));
    for (size_t i = 0; i < (size_t)n * ds->D; i++) vmax = PetscMax(vmax, out[i]);
    done += n;
  }
  PetscCall(PetscFree(buf));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &vmax, 1, MPI_FLOAT, MPI_MAX, ds->comm));
  ds->max_count = vmax;
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetOpen(BODataset ds)
{
  hid_t      fapl, obj;
  H5I_type_t kind;

  PetscFunctionBegin;
  BOH5Quiet(); /* errors are reported as PETSc errors, on one line */
  PetscCheck(ds->filename[0], ds->comm, PETSC_ERR_USER_INPUT, "no data file given (-data FILE)");
  fapl = H5Pcreate(H5P_FILE_ACCESS);
  BOCallHDF5(H5Pset_fapl_mpio(fapl, ds->comm, MPI_INFO_NULL), "H5Pset_fapl_mpio");
  ds->file = H5Fopen(ds->filename, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  PetscCheck(ds->file >= 0, ds->comm, PETSC_ERR_FILE_OPEN, "%s: cannot open (missing, unreadable or not an HDF5 file)",
             ds->filename);

  /* AnnData files keep the matrix in X: accept it when the default is absent */
  if (!PathExists(ds->file, ds->name) && !strcmp(ds->name, "counts") && PathExists(ds->file, "X"))
    PetscCall(PetscStrncpy(ds->name, "X", sizeof(ds->name)));
  if (!PathExists(ds->file, ds->name) && !strcmp(ds->name, "counts") && PathExists(ds->file, "matrix"))
    PetscCall(PetscStrncpy(ds->name, "matrix", sizeof(ds->name)));
  PetscCheck(PathExists(ds->file, ds->name), ds->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: no dataset %s (see -data_name)",
             ds->filename, ds->name);
  obj  = H5Oopen(ds->file, ds->name, H5P_DEFAULT);
  kind = H5Iget_type(obj);
  if (kind == H5I_GROUP) PetscCall(OpenCSR(ds, obj));
  H5Oclose(obj);
  if (kind == H5I_DATASET) PetscCall(OpenDense(ds));
  PetscCheck(kind == H5I_DATASET || kind == H5I_GROUP, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: %s is neither a dataset nor a CSR group", ds->filename, ds->name);
  PetscCheck(ds->N > 0 && ds->D > 0, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset %s is empty (%" PetscInt_FMT " samples of %" PetscInt_FMT " elements)", ds->filename, ds->name,
             ds->N, ds->D);
  PetscCheck(ds->N >= ds->size, ds->comm, PETSC_ERR_ARG_SIZ,
             "%s: dataset %s has %" PetscInt_FMT " samples but the run has %d ranks: every rank needs at least one sample",
             ds->filename, ds->name, ds->N, ds->size);
  BODatasetShard(ds->N, ds->size, ds->rank, &ds->first, &ds->nlocal);

  /* Chunking. Loading: 16 MiB of doubles per read. Streaming: windows of
   * shuffle_window blocks, a window never more than chunk_mb of floats. */
  ds->streaming = ds->chunk_mb > 0 ? PETSC_TRUE : PETSC_FALSE;
  if (ds->streaming) {
    double rows        = ds->chunk_mb * 1048576.0 / (4.0 * ds->D);
    ds->rows_per_chunk = (PetscInt)PetscMax(1.0, PetscMin(rows, (double)ds->N));
    ds->block          = PetscMax(1, ds->rows_per_chunk / ds->shuffle_window);
    ds->rows_per_chunk = ds->block * ds->shuffle_window;
    PetscCall(PetscMalloc1((size_t)ds->rows_per_chunk * ds->D, &ds->win));
  } else {
    ds->rows_per_chunk = PetscMax(1, (PetscInt)(16777216.0 / (8.0 * ds->D)));
  }
  PetscCall(OpenLabels(ds));
  PetscCall(ScanShard(ds));
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetView(BODataset ds, PetscViewer viewer)
{
  PetscFunctionBegin;
  if (!viewer) viewer = PETSC_VIEWER_STDOUT_(ds->comm);
  PetscCall(PetscViewerASCIIPrintf(viewer, "BODataset %s:%s\n", ds->filename, ds->name));
  PetscCall(PetscViewerASCIIPushTab(viewer));
  if (ds->is_field)
    PetscCall(PetscViewerASCIIPrintf(viewer, "fields: N = %" PetscInt_FMT ", Ny = %" PetscInt_FMT ", Nx = %" PetscInt_FMT ", C = %" PetscInt_FMT "\n",
                                     ds->N, ds->Ny, ds->Nx, ds->C));
  else
    PetscCall(PetscViewerASCIIPrintf(viewer, "vectors%s: N = %" PetscInt_FMT ", G = %" PetscInt_FMT "\n",
                                     ds->is_sparse ? " (CSR)" : "", ds->N, ds->G));
  PetscCall(PetscViewerASCIIPrintf(viewer, "max count %g; labels: %s", ds->max_count, ds->has_labels ? "yes" : "no"));
  if (ds->has_labels) PetscCall(PetscViewerASCIIPrintf(viewer, " (%" PetscInt_FMT " classes)", ds->num_classes));
  PetscCall(PetscViewerASCIIPrintf(viewer, "\n"));
  if (ds->streaming)
    PetscCall(PetscViewerASCIIPrintf(viewer, "streaming: windows of %" PetscInt_FMT " blocks of %" PetscInt_FMT " samples\n",
                                     ds->shuffle_window, ds->block));
  PetscCall(PetscViewerASCIIPrintf(viewer, "shards: %d ranks, about %" PetscInt_FMT " samples each\n", ds->size, ds->N / ds->size));
  PetscCall(PetscViewerASCIIPopTab(viewer));
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetDestroy(BODataset *ds)
{
  BODataset d = *ds;

  PetscFunctionBegin;
  if (!d) PetscFunctionReturn(0);
  for (int i = 0; i < 3; i++)
    if (d->csr[i] >= 0) H5Dclose(d->csr[i]);
  if (d->dset >= 0) H5Dclose(d->dset);
  if (d->ftype > 0) H5Tclose(d->ftype);
  if (d->file >= 0) H5Fclose(d->file);
  PetscCall(PetscFree(d->x));
  PetscCall(PetscFree(d->labels));
  PetscCall(PetscFree(d->win));
  for (int s = 0; s < 2; s++) {
    PetscCall(PetscFree(d->cache_perm[s]));
    PetscCall(PetscFree(d->cache_wstart[s]));
  }
  PetscCall(PetscFree(*ds));
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------
 * Shuffling and minibatches
 * ------------------------------------------------------------------------ */

/* Fisher-Yates over a[0..n) with draws from rng. */
static void Shuffle(BORng *rng, PetscInt n, PetscInt *a)
{
  for (PetscInt i = n - 1; i > 0; i--) {
    PetscInt j = (PetscInt)BORngBelow(rng, (uint32_t)(i + 1)), t = a[i];
    a[i] = a[j], a[j] = t;
  }
}

PetscErrorCode BOShufflePermutation(uint64_t seed, PetscInt64 epoch, PetscInt N, PetscInt block, PetscInt window,
                                    PetscInt *perm, PetscInt64 *wstart)
{
  BORng     rng;
  PetscInt  nblocks, *order, pos = 0;

  PetscFunctionBegin;
  if (block <= 0) { /* a uniform permutation */
    for (PetscInt i = 0; i < N; i++) perm[i] = i;
    BORngInit(&rng, seed, BO_RNG_SHUFFLE, (uint32_t)epoch, 0);
    Shuffle(&rng, N, perm);
    if (wstart) wstart[0] = 0, wstart[1] = N;
    PetscFunctionReturn(0);
  }
  /* blocks of consecutive samples in random order (stream b = 0) ... */
  nblocks = (N + block - 1) / block;
  PetscCall(PetscMalloc1(nblocks, &order));
  for (PetscInt b = 0; b < nblocks; b++) order[b] = b;
  BORngInit(&rng, seed, BO_RNG_SHUFFLE, (uint32_t)epoch, 0);
  Shuffle(&rng, nblocks, order);
  /* ... then samples shuffled within each window of `window` blocks (stream b = 1 + w) */
  for (PetscInt w = 0; w * window < nblocks; w++) {
    PetscInt start = pos;
    if (wstart) wstart[w] = start;
    for (PetscInt b = w * window; b < PetscMin(nblocks, (w + 1) * window); b++)
      for (PetscInt i = order[b] * block; i < PetscMin(N, (order[b] + 1) * block); i++) perm[pos++] = i;
    BORngInit(&rng, seed, BO_RNG_SHUFFLE, (uint32_t)epoch, (uint32_t)(1 + w));
    Shuffle(&rng, pos - start, perm + start);
    if (wstart) wstart[w + 1] = pos;
  }
  PetscCall(PetscFree(order));
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetEpochPermutation(BODataset ds, uint64_t seed, PetscInt64 epoch, PetscInt *perm)
{
  PetscFunctionBegin;
  PetscCall(BOShufflePermutation(seed, epoch, ds->N, ds->streaming ? ds->block : 0, ds->shuffle_window, perm, NULL));
  PetscFunctionReturn(0);
}

/* The permutation of an epoch, cached (two slots: a batch spans at most
 * two epochs when B <= N, and consecutive epochs use different slots). */
static PetscErrorCode GetEpoch(BODataset ds, uint64_t seed, PetscInt64 epoch, PetscInt **perm, PetscInt64 **wstart)
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
    PetscCall(BOShufflePermutation(seed, epoch, ds->N, ds->streaming ? ds->block : 0, ds->shuffle_window, ds->cache_perm[s],
                                   ds->cache_wstart[s]));
    ds->cache_epoch[s] = epoch;
  }
  *perm   = ds->cache_perm[s];
  *wstart = ds->cache_wstart[s];
  PetscFunctionReturn(0);
}

/* Collective: bring this rank's rows of window w of an epoch into ds->win.
 * The window's samples are whole blocks; each block meets this rank's shard
 * in at most one piece. All ranks do the same number of collective reads. */
static PetscErrorCode LoadWindow(BODataset ds, PetscInt64 epoch, PetscInt64 w, const PetscInt *perm, const PetscInt64 *wstart)
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
    if (s < ds->nseg) PetscCall(BODatasetRead(ds, ds->seg[s][0], ds->seg[s][1] - ds->seg[s][0], ds->win + (size_t)ds->seg[s][2] * ds->D));
    else PetscCall(BODatasetRead(ds, 0, 0, ds->win));
  }
  ds->win_epoch = epoch, ds->win_index = w;
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetGetMinibatch(BODataset ds, uint64_t seed, PetscInt step, PetscInt B, PetscInt *nlocal,
                                     PetscInt *gidx, float *x, PetscInt *labels)
{
  PetscInt n = 0;

  PetscFunctionBegin;
  PetscCheck(step >= 0 && B >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "minibatch needs step >= 0 and B >= 1");
  for (PetscInt j = 0; j < B; j++) {
    PetscInt64  p = (PetscInt64)step * B + j, epoch = p / ds->N, pos = p % ds->N;
    PetscInt   *perm = NULL, g;
    PetscInt64 *wstart = NULL;
    const float *src;

    PetscCall(GetEpoch(ds, seed, epoch, &perm, &wstart));
    g = perm[pos];
    if (ds->streaming) {
      /* the window holding position pos (binary search on the window starts) */
      PetscInt64 lo = 0, hi = ds->nwindows - 1;
      while (lo < hi) {
        PetscInt64 mid = (lo + hi + 1) / 2;
        if (wstart[mid] <= pos) lo = mid;
        else hi = mid - 1;
      }
      if (ds->win_epoch != epoch || ds->win_index != lo) PetscCall(LoadWindow(ds, epoch, lo, perm, wstart));
    }
    if (g < ds->first || g >= ds->first + ds->nlocal) continue;
    if (ds->streaming) {
      PetscInt s = 0;
      while (!(g >= ds->seg[s][0] && g < ds->seg[s][1])) s++;
      src = ds->win + (size_t)(ds->seg[s][2] + g - ds->seg[s][0]) * ds->D;
    } else src = ds->x + (size_t)(g - ds->first) * ds->D;
    gidx[n] = g;
    PetscCall(PetscArraycpy(x + (size_t)n * ds->D, src, ds->D));
    if (labels && ds->has_labels) labels[n] = ds->labels[g - ds->first];
    n++;
  }
  *nlocal = n;
  PetscFunctionReturn(0);
}
