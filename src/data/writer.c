/* Collective parallel writer of count ensembles, XDMF sidecars, and serial
 * readers of foreign formats (CSV, MNIST idx, raw binary). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "bo_h5.h"
#include "bo_io.h"
#include "bo_sys.h"

const char *const BODTypes[]   = {"auto", "u8", "u16", "u32", "f32", "f64", "BODType", "BO_DTYPE_", NULL};
const char *const BORawTypes[] = {"u8", "u16", "i16", "i32", "u32", "f32", "f64", "BORawType", "BO_RAW_", NULL};

/* Largest count stored exactly in a float. */
#define BO_MAX_EXACT 16777216.0

/* ------------------------------------------------------------------------
 * Writer
 * ------------------------------------------------------------------------ */

/* File type and the identical native memory type (a mismatch would turn
 * collective I/O into independent I/O, and compressed writes then fail). */
static void dtype_hdf5(BODType t, hid_t *file_type, hid_t *mem_type, size_t *size)
{
  switch (t) {
  case BO_DTYPE_U8: *file_type = H5T_STD_U8LE; *mem_type = H5T_NATIVE_UINT8; *size = 1; break;
  case BO_DTYPE_U16: *file_type = H5T_STD_U16LE; *mem_type = H5T_NATIVE_UINT16; *size = 2; break;
  case BO_DTYPE_F32: *file_type = H5T_IEEE_F32LE; *mem_type = H5T_NATIVE_FLOAT; *size = 4; break;
  case BO_DTYPE_F64: *file_type = H5T_IEEE_F64LE; *mem_type = H5T_NATIVE_DOUBLE; *size = 8; break;
  default: *file_type = H5T_STD_U32LE; *mem_type = H5T_NATIVE_UINT32; *size = 4; break;
  }
}

static double dtype_max(BODType t)
{
  switch (t) {
  case BO_DTYPE_U8: return 255.0;
  case BO_DTYPE_U16: return 65535.0;
  case BO_DTYPE_U32: return 4294967295.0;
  default: return INFINITY;
  }
}

PetscErrorCode BOWriterCreate(MPI_Comm comm, const char *path, const char *name, PetscInt N, PetscInt ndim,
                              const PetscInt shape[], BOWriter *w)
{
  BOWriter    wr;
  PetscMPIInt rank;

  PetscFunctionBegin;
  PetscCheck(N >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "%s: an ensemble needs at least one member, got N = %" PetscInt_FMT, path, N);
  PetscCheck(ndim >= 1 && ndim <= 3, comm, PETSC_ERR_ARG_OUTOFRANGE, "%s: member shape must have 1 to 3 axes", path);
  PetscCall(PetscNew(&wr));
  wr->comm = comm;
  PetscCall(PetscStrncpy(wr->path, path, sizeof(wr->path)));
  PetscCall(PetscStrncpy(wr->name, name && name[0] ? name : "counts", sizeof(wr->name)));
  wr->N = N, wr->ndim = ndim, wr->D = 1;
  for (PetscInt i = 0; i < ndim; i++) {
    PetscCheck(shape[i] >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "%s: shape axis %" PetscInt_FMT " is empty", path, i);
    wr->shape[i] = shape[i], wr->D *= shape[i];
  }
  wr->is_field  = ndim >= 2 ? PETSC_TRUE : PETSC_FALSE;
  wr->dtype     = BO_DTYPE_AUTO;
  wr->max_count = -1;
  wr->xdmf      = PETSC_TRUE;
  wr->origin[0] = wr->origin[1] = 0.0;
  wr->spacing[0] = wr->spacing[1] = 1.0;
  wr->file = wr->dset = wr->lset = -1;
  /* temporary name in the same directory, the same on every rank */
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) snprintf(wr->tmppath, sizeof(wr->tmppath), "%s.tmp%ld", path, (long)getpid());
  PetscCallMPI(MPI_Bcast(wr->tmppath, sizeof(wr->tmppath), MPI_CHAR, 0, comm));
  *w = wr;
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterSetFromOptions(BOWriter w)
{
  PetscFunctionBegin;
  PetscOptionsBegin(w->comm, NULL, "Ensemble writer", "BOWriter");
  PetscCall(PetscOptionsEnum("-io_type", "element type on disk (auto: smallest unsigned type holding the counts)",
                             "BOWriterSetType", BODTypes, (PetscEnum)w->dtype, (PetscEnum *)&w->dtype, NULL));
  PetscCall(PetscOptionsRangeInt("-io_deflate", "shuffle + deflate level (0 = none)", "BOWriterSetDeflate", w->deflate,
                                 &w->deflate, NULL, 0, 9));
  PetscCall(PetscOptionsBool("-io_xdmf", "write an XDMF sidecar for fields", "BOWriterSetXDMF", w->xdmf, &w->xdmf, NULL));
  PetscOptionsEnd();
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterSetType(BOWriter w, BODType type)
{
  PetscFunctionBegin;
  PetscCheck(!w->setup, w->comm, PETSC_ERR_ORDER, "set the type before the first write");
  w->dtype = type;
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterSetMaxCount(BOWriter w, double max_count)
{
  PetscFunctionBegin;
  PetscCheck(!w->setup, w->comm, PETSC_ERR_ORDER, "set the maximum count before the first write");
  w->max_count = max_count;
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterSetDeflate(BOWriter w, PetscInt level)
{
  PetscFunctionBegin;
  PetscCheck(level >= 0 && level <= 9, w->comm, PETSC_ERR_ARG_OUTOFRANGE, "deflate level must be 0..9");
  w->deflate = level;
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterSetXDMF(BOWriter w, PetscBool flg)
{
  PetscFunctionBegin;
  w->xdmf = flg;
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterSetLabels(BOWriter w, PetscBool flg)
{
  PetscFunctionBegin;
  PetscCheck(!w->setup, w->comm, PETSC_ERR_ORDER, "request labels before the first write");
  w->labels = flg;
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterSetGrid(BOWriter w, const double origin[2], const double spacing[2])
{
  PetscFunctionBegin;
  for (int i = 0; i < 2; i++) w->origin[i] = origin[i], w->spacing[i] = spacing[i];
  PetscFunctionReturn(0);
}

static PetscErrorCode WriterAttr(BOWriter w, const char *key, BOAttribute **a)
{
  PetscFunctionBegin;
  for (int i = 0; i < w->nattrs; i++)
    if (!strcmp(w->attrs[i].key, key)) {
      *a = &w->attrs[i];
      PetscFunctionReturn(0);
    }
  if (w->nattrs == w->maxattrs) {
    w->maxattrs = w->maxattrs ? 2 * w->maxattrs : 16;
    PetscCall(PetscRealloc(sizeof(BOAttribute) * w->maxattrs, &w->attrs));
  }
  *a = &w->attrs[w->nattrs++];
  PetscCall(PetscMemzero(*a, sizeof(**a)));
  PetscCall(PetscStrncpy((*a)->key, key, sizeof((*a)->key)));
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterSetAttributeString(BOWriter w, const char *key, const char *value)
{
  BOAttribute *a;

  PetscFunctionBegin;
  PetscCall(WriterAttr(w, key, &a));
  a->kind = 0;
  PetscCall(PetscStrncpy(a->s, value ? value : "", sizeof(a->s)));
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterSetAttributeInt(BOWriter w, const char *key, long long value)
{
  BOAttribute *a;

  PetscFunctionBegin;
  PetscCall(WriterAttr(w, key, &a));
  a->kind = 1, a->i = value;
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterSetAttributeReal(BOWriter w, const char *key, double value)
{
  BOAttribute *a;

  PetscFunctionBegin;
  PetscCall(WriterAttr(w, key, &a));
  a->kind = 2, a->r = value;
  PetscFunctionReturn(0);
}

/* Attributes are written collectively: every rank, same value (BOH5WriteAttr). */

/* Create parent groups of a dataset path ("a/b/counts" -> a, a/b). */
static PetscErrorCode EnsureGroups(hid_t file, const char *path)
{
  char buf[256];

  PetscFunctionBegin;
  PetscCall(PetscStrncpy(buf, path, sizeof(buf)));
  for (char *s = strchr(buf + 1, '/'); s; s = strchr(s + 1, '/')) {
    *s = 0;
    if (H5Lexists(file, buf, H5P_DEFAULT) <= 0) {
      hid_t g = H5Gcreate2(file, buf, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      BOCallHDF5(g, "cannot create group %s", buf);
      BOCallHDF5(H5Gclose(g), "H5Gclose");
    }
    *s = '/';
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterSetUp(BOWriter w)
{
  hid_t   fapl, space, dcpl, ftype, mtype;
  hsize_t dims[4], chunk[4];
  size_t  esize;
  int     rank = (int)w->ndim + 1;

  PetscFunctionBegin;
  if (w->setup) PetscFunctionReturn(0);
  BOH5Quiet(); /* errors are reported as PETSc errors, on one line */
  if (w->dtype == BO_DTYPE_AUTO) {
    if (w->max_count < 0) w->dtype = BO_DTYPE_U32;
    else if (w->max_count <= 255) w->dtype = BO_DTYPE_U8;
    else if (w->max_count <= 65535) w->dtype = BO_DTYPE_U16;
    else w->dtype = BO_DTYPE_U32;
  }
  PetscCheck(w->max_count <= dtype_max(w->dtype), w->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "%s: maximum count %g does not fit element type %s", w->path, w->max_count, BODTypes[w->dtype]);
  dtype_hdf5(w->dtype, &ftype, &mtype, &esize);

  fapl = H5Pcreate(H5P_FILE_ACCESS);
  BOCallHDF5(H5Pset_fapl_mpio(fapl, w->comm, MPI_INFO_NULL), "H5Pset_fapl_mpio");
  w->file = H5Fcreate(w->tmppath, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  BOCallHDF5(H5Pclose(fapl), "H5Pclose");
  /* every rank sees the same failure (e.g. a missing directory) */
  PetscCheck(w->file >= 0, w->comm, PETSC_ERR_FILE_OPEN, "cannot create %s (does the directory exist and is it writable?)",
             w->tmppath);
  w->setup = PETSC_TRUE;

  dims[0] = (hsize_t)w->N, chunk[0] = 1;
  for (int i = 0; i < w->ndim; i++) dims[i + 1] = chunk[i + 1] = (hsize_t)w->shape[i];
  if (!w->is_field) { /* vectors: chunks of about 256 KiB */
    hsize_t rows = (hsize_t)PetscMax(1, (262144 / (PetscInt)esize) / w->D);
    chunk[0]     = PetscMin(rows, dims[0]);
  }
  space = H5Screate_simple(rank, dims, NULL);
  dcpl  = H5Pcreate(H5P_DATASET_CREATE);
  if (w->deflate > 0) {
    BOCallHDF5(H5Pset_chunk(dcpl, rank, chunk), "H5Pset_chunk");
    BOCallHDF5(H5Pset_shuffle(dcpl), "H5Pset_shuffle");
    BOCallHDF5(H5Pset_deflate(dcpl, (unsigned)w->deflate), "H5Pset_deflate");
  }
  BOCallHDF5(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), "H5Pset_fill_time");
  PetscCall(EnsureGroups(w->file, w->name));
  w->dset = H5Dcreate2(w->file, w->name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  BOCallHDF5(w->dset, "%s: cannot create dataset %s", w->path, w->name);
  BOCallHDF5(H5Sclose(space), "H5Sclose");
  BOCallHDF5(H5Pclose(dcpl), "H5Pclose");
  if (w->labels) {
    char lname[300], *slash;
    PetscCall(PetscStrncpy(lname, w->name, sizeof(lname)));
    slash = strrchr(lname, '/');
    if (slash) strcpy(slash + 1, "labels");
    else strcpy(lname, "labels");
    space   = H5Screate_simple(1, dims, NULL);
    w->lset = H5Dcreate2(w->file, lname, H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    BOCallHDF5(w->lset, "%s: cannot create dataset %s", w->path, lname);
    BOCallHDF5(H5Sclose(space), "H5Sclose");
  }
  PetscFunctionReturn(0);
}

/* Select members first..first+count-1 (or nothing) in the file; make the
 * matching memory space. */
static PetscErrorCode SelectMembers(hid_t dset, PetscInt first, PetscInt count, hid_t *fs, hid_t *ms)
{
  hsize_t dims[5], start[5] = {0}, cnt[5];
  int     rank;

  PetscFunctionBegin;
  *fs  = H5Dget_space(dset);
  rank = H5Sget_simple_extent_dims(*fs, dims, NULL);
  for (int i = 0; i < rank; i++) cnt[i] = dims[i];
  start[0] = (hsize_t)first, cnt[0] = (hsize_t)count;
  if (count > 0) {
    BOCallHDF5(H5Sselect_hyperslab(*fs, H5S_SELECT_SET, start, NULL, cnt, NULL), "H5Sselect_hyperslab");
    *ms = H5Screate_simple(rank, cnt, NULL);
  } else {
    hsize_t one = 1;
    BOCallHDF5(H5Sselect_none(*fs), "H5Sselect_none");
    *ms = H5Screate_simple(1, &one, NULL);
    BOCallHDF5(H5Sselect_none(*ms), "H5Sselect_none");
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode CollectiveWrite(hid_t dset, hid_t mtype, PetscInt first, PetscInt count, const void *buf)
{
  hid_t fs, ms, dxpl;
  char  dummy[8];

  PetscFunctionBegin;
  PetscCall(SelectMembers(dset, first, count, &fs, &ms));
  dxpl = H5Pcreate(H5P_DATASET_XFER);
  BOCallHDF5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio");
  BOCallHDF5(H5Dwrite(dset, mtype, ms, fs, dxpl, count > 0 ? buf : dummy), "H5Dwrite failed");
  BOCallHDF5(H5Pclose(dxpl), "H5Pclose");
  BOCallHDF5(H5Sclose(ms), "H5Sclose");
  BOCallHDF5(H5Sclose(fs), "H5Sclose");
  PetscFunctionReturn(0);
}

/* -log_view: time spent writing (event BODataWrite). */
static PetscLogEvent event_write = -1;
static PetscErrorCode RegisterEvents(void)
{
  PetscClassId cid;

  PetscFunctionBegin;
  if (event_write >= 0) PetscFunctionReturn(0);
  PetscCall(PetscClassIdRegister("BOWriter", &cid));
  PetscCall(PetscLogEventRegister("BODataWrite", cid, &event_write));
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterWrite(BOWriter w, PetscInt first, PetscInt count, const float *data)
{
  hid_t     ftype, mtype;
  size_t    esize;
  void     *buf;
  double    vmax;
  long long bad = -1, gbad;
  size_t    n = (size_t)count * (size_t)w->D;

  PetscFunctionBegin;
  PetscCall(BOWriterSetUp(w));
  PetscCheck(count >= 0 && first >= 0 && first + count <= w->N, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "%s: members %" PetscInt_FMT "..%" PetscInt_FMT " outside 0..%" PetscInt_FMT, w->path, first,
             first + count - 1, w->N - 1);
  dtype_hdf5(w->dtype, &ftype, &mtype, &esize);
  vmax = dtype_max(w->dtype);
  /* convert in memory to exactly the file type */
  PetscCall(PetscMalloc(n * esize + 1, &buf));
  for (size_t i = 0; i < n; i++) {
    double v = data[i];
    if (w->dtype == BO_DTYPE_F32) ((float *)buf)[i] = (float)v;
    else if (w->dtype == BO_DTYPE_F64) ((double *)buf)[i] = v;
    else {
      if (!(v >= 0 && v <= vmax && v == floor(v))) {
        if (bad < 0) bad = (long long)((size_t)first * (size_t)w->D + i);
        v = 0;
      }
      if (w->dtype == BO_DTYPE_U8) ((uint8_t *)buf)[i] = (uint8_t)v;
      else if (w->dtype == BO_DTYPE_U16) ((uint16_t *)buf)[i] = (uint16_t)v;
      else ((uint32_t *)buf)[i] = (uint32_t)v;
    }
  }
  /* agree on the first bad value before the collective write */
  if (bad < 0) bad = LLONG_MAX;
  PetscCallMPI(MPI_Allreduce(&bad, &gbad, 1, MPI_LONG_LONG, MPI_MIN, w->comm));
  if (gbad != LLONG_MAX) PetscCall(PetscFree(buf));
  PetscCheck(gbad == LLONG_MAX, w->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "%s: member %lld element %lld is not a count that fits type %s (negative, non-integral, NaN or too large)",
             w->path, gbad / (long long)w->D, gbad % (long long)w->D, BODTypes[w->dtype]);
  PetscCall(RegisterEvents());
  PetscCall(PetscLogEventBegin(event_write, 0, 0, 0, 0));
  PetscCall(CollectiveWrite(w->dset, mtype, first, count, buf));
  PetscCall(PetscLogEventEnd(event_write, 0, 0, 0, 0));
  PetscCall(PetscFree(buf));
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterWriteLabels(BOWriter w, PetscInt first, PetscInt count, const PetscInt *labels)
{
  int *buf;

  PetscFunctionBegin;
  PetscCall(BOWriterSetUp(w));
  PetscCheck(w->labels, w->comm, PETSC_ERR_ORDER, "%s: call BOWriterSetLabels() before writing labels", w->path);
  PetscCheck(count >= 0 && first >= 0 && first + count <= w->N, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "%s: labels %" PetscInt_FMT "..%" PetscInt_FMT " outside 0..%" PetscInt_FMT, w->path, first,
             first + count - 1, w->N - 1);
  PetscCall(PetscMalloc1(count + 1, &buf));
  for (PetscInt i = 0; i < count; i++) buf[i] = (int)labels[i];
  PetscCall(CollectiveWrite(w->lset, H5T_NATIVE_INT, first, count, buf));
  PetscCall(PetscFree(buf));
  PetscFunctionReturn(0);
}

static PetscErrorCode WriterAttributes(BOWriter w)
{
  PetscMPIInt size, rank;
  char        created[64] = "";
  const char *job         = getenv("SLURM_JOB_ID");
  int         one         = 1;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(w->comm, &size));
  PetscCallMPI(MPI_Comm_rank(w->comm, &rank));
  /* on the dataset: PETSc's timestepping flag (int32, as VecView writes it) and the grid */
  PetscCall(BOH5WriteAttr(w->dset, "timestepping", H5T_STD_I32LE, H5T_NATIVE_INT, 0, &one));
  if (w->is_field) {
    PetscCall(BOH5WriteAttrInt(w->dset, "Mx", w->shape[1]));
    PetscCall(BOH5WriteAttrInt(w->dset, "My", w->shape[0]));
    PetscCall(BOH5WriteAttrInt(w->dset, "dof", w->ndim == 3 ? w->shape[2] : 1));
    PetscCall(BOH5WriteAttr(w->dset, "origin", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, w->origin));
    PetscCall(BOH5WriteAttr(w->dset, "spacing", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, w->spacing));
  }
  /* on the root: provenance (rank 0's clock, so all ranks write the same value) */
  if (rank == 0) {
    time_t    now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
  }
  PetscCallMPI(MPI_Bcast(created, sizeof(created), MPI_CHAR, 0, w->comm));
  {
    hid_t root = H5Gopen2(w->file, "/", H5P_DEFAULT);
    PetscCall(BOH5WriteAttrString(root, "producer", "blackout"));
    PetscCall(BOH5WriteAttrString(root, "version", BO_VERSION));
    PetscCall(BOH5WriteAttrString(root, "created", created));
    PetscCall(BOH5WriteAttrInt(root, "mpi_size", size));
    if (job && job[0]) PetscCall(BOH5WriteAttrString(root, "slurm_job_id", job));
    for (int i = 0; i < w->nattrs; i++) {
      BOAttribute *a = &w->attrs[i];
      if (a->kind == 0) PetscCall(BOH5WriteAttrString(root, a->key, a->s));
      else if (a->kind == 1) PetscCall(BOH5WriteAttrInt(root, a->key, a->i));
      else PetscCall(BOH5WriteAttrReal(root, a->key, a->r));
    }
    BOCallHDF5(H5Gclose(root), "H5Gclose");
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode WriterCloseFile(BOWriter w)
{
  PetscFunctionBegin;
  if (w->lset >= 0) BOCallHDF5(H5Dclose(w->lset), "H5Dclose");
  if (w->dset >= 0) BOCallHDF5(H5Dclose(w->dset), "H5Dclose");
  if (w->file >= 0) BOCallHDF5(H5Fclose(w->file), "cannot close %s", w->tmppath);
  w->lset = w->dset = w->file = -1;
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterClose(BOWriter w)
{
  PetscMPIInt rank;
  int         err = 0;

  PetscFunctionBegin;
  PetscCall(BOWriterSetUp(w));
  PetscCall(WriterAttributes(w));
  PetscCall(WriterCloseFile(w));
  PetscCallMPI(MPI_Comm_rank(w->comm, &rank));
  if (rank == 0 && rename(w->tmppath, w->path)) err = errno;
  PetscCallMPI(MPI_Bcast(&err, 1, MPI_INT, 0, w->comm));
  PetscCheck(!err, w->comm, PETSC_ERR_FILE_WRITE, "cannot rename %s to %s: %s", w->tmppath, w->path, strerror(err));
  w->closed = PETSC_TRUE;
  if (w->xdmf && w->is_field && rank == 0)
    PetscCall(BOWriteXDMF(w->path, w->name, w->N, w->shape[0], w->shape[1], w->ndim == 3 ? w->shape[2] : 1, w->dtype,
                          w->origin, w->spacing));
  PetscCallMPI(MPI_Barrier(w->comm));
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterDestroy(BOWriter *w)
{
  PetscMPIInt rank;

  PetscFunctionBegin;
  if (!*w) PetscFunctionReturn(0);
  if ((*w)->setup && !(*w)->closed) {
    PetscCall(WriterCloseFile(*w));
    PetscCallMPI(MPI_Comm_rank((*w)->comm, &rank));
    if (rank == 0) unlink((*w)->tmppath);
  }
  PetscCall(PetscFree((*w)->attrs));
  PetscCall(PetscFree(*w));
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriteEnsemble(MPI_Comm comm, const char *path, const char *name, PetscInt N, PetscInt ndim,
                               const PetscInt shape[], PetscInt first, PetscInt count, const float *data,
                               const PetscInt *labels)
{
  BOWriter w;
  double   vmax = 0, gmax;
  PetscInt D    = 1;
  int      has  = labels != NULL, all;

  PetscFunctionBegin;
  for (PetscInt i = 0; i < ndim; i++) D *= shape[i];
  for (size_t i = 0; i < (size_t)count * (size_t)D; i++) vmax = PetscMax(vmax, (double)data[i]);
  PetscCallMPI(MPI_Allreduce(&vmax, &gmax, 1, MPI_DOUBLE, MPI_MAX, comm));
  PetscCallMPI(MPI_Allreduce(&has, &all, 1, MPI_INT, MPI_LAND, comm));
  PetscCall(BOWriterCreate(comm, path, name, N, ndim, shape, &w));
  PetscCall(BOWriterSetMaxCount(w, gmax));
  PetscCall(BOWriterSetLabels(w, all ? PETSC_TRUE : PETSC_FALSE));
  PetscCall(BOWriterSetFromOptions(w));
  PetscCall(BOWriterWrite(w, first, count, data));
  if (all) PetscCall(BOWriterWriteLabels(w, first, count, labels));
  PetscCall(BOWriterClose(w));
  PetscCall(BOWriterDestroy(&w));
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------
 * XDMF sidecar: a temporal collection with one cell-centred 2DCoRectMesh
 * grid per member; each attribute is a HyperSlab picking member k (and
 * component c) out of the 3-D or 4-D dataset.
 * ------------------------------------------------------------------------ */
void BOXDMFPath(const char *h5path, char *xmf, size_t len)
{
  const char *slash = strrchr(h5path, '/'), *dot = strrchr(h5path, '.');
  if (dot && (!slash || dot > slash)) snprintf(xmf, len, "%.*s.xmf", (int)(dot - h5path), h5path);
  else snprintf(xmf, len, "%s.xmf", h5path);
}

PetscErrorCode BOWriteXDMF(const char *h5path, const char *name, PetscInt N, PetscInt Ny, PetscInt Nx, PetscInt C,
                           BODType type, const double origin[2], const double spacing[2])
{
  char        xmf[PETSC_MAX_PATH_LEN], tmp[PETSC_MAX_PATH_LEN + 16];
  const char *base = strrchr(h5path, '/') ? strrchr(h5path, '/') + 1 : h5path;
  const char *ntype = (type == BO_DTYPE_F32 || type == BO_DTYPE_F64) ? "Float" : "UInt";
  int         prec  = type == BO_DTYPE_U8 ? 1 : type == BO_DTYPE_U16 ? 2 : type == BO_DTYPE_F64 ? 8 : 4;
  int         nd    = C > 1 ? 4 : 3;
  FILE       *f;

  PetscFunctionBegin;
  BOXDMFPath(h5path, xmf, sizeof(xmf));
  snprintf(tmp, sizeof(tmp), "%s.tmp%ld", xmf, (long)getpid());
  f = fopen(tmp, "w");
  PetscCheck(f, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot create %s", tmp);
  fprintf(f, "<?xml version=\"1.0\" ?>\n<!DOCTYPE Xdmf SYSTEM \"Xdmf.dtd\" []>\n<Xdmf Version=\"2.0\">\n <Domain>\n");
  fprintf(f, "  <Grid Name=\"ensemble\" GridType=\"Collection\" CollectionType=\"Temporal\">\n");
  for (PetscInt k = 0; k < N; k++) {
    fprintf(f, "   <Grid Name=\"member %" PetscInt_FMT "\" GridType=\"Uniform\">\n", k);
    fprintf(f, "    <Time Value=\"%" PetscInt_FMT "\"/>\n", k);
    /* node counts, slowest axis first */
    fprintf(f, "    <Topology TopologyType=\"2DCoRectMesh\" Dimensions=\"%" PetscInt_FMT " %" PetscInt_FMT "\"/>\n", Ny + 1,
            Nx + 1);
    fprintf(f, "    <Geometry GeometryType=\"ORIGIN_DXDY\">\n");
    fprintf(f, "     <DataItem Format=\"XML\" NumberType=\"Float\" Dimensions=\"2\">%.17g %.17g</DataItem>\n", origin[1],
            origin[0]);
    fprintf(f, "     <DataItem Format=\"XML\" NumberType=\"Float\" Dimensions=\"2\">%.17g %.17g</DataItem>\n", spacing[1],
            spacing[0]);
    fprintf(f, "    </Geometry>\n");
    for (PetscInt c = 0; c < C; c++) {
      char aname[64];
      if (C > 1) snprintf(aname, sizeof(aname), "%s_%" PetscInt_FMT, name, c);
      else snprintf(aname, sizeof(aname), "%s", name);
      fprintf(f, "    <Attribute Name=\"%s\" AttributeType=\"Scalar\" Center=\"Cell\">\n", aname);
      fprintf(f, "     <DataItem ItemType=\"HyperSlab\" Dimensions=\"%" PetscInt_FMT " %" PetscInt_FMT "\">\n",
              Ny, Nx);
      if (nd == 4) {
        fprintf(f, "      <DataItem Dimensions=\"3 4\" Format=\"XML\">%" PetscInt_FMT " 0 0 %" PetscInt_FMT " 1 1 1 1 1 %" PetscInt_FMT " %" PetscInt_FMT " 1</DataItem>\n",
                k, c, Ny, Nx);
        fprintf(f, "      <DataItem Format=\"HDF\" NumberType=\"%s\" Precision=\"%d\" Dimensions=\"%" PetscInt_FMT " %" PetscInt_FMT " %" PetscInt_FMT " %" PetscInt_FMT "\">%s:/%s</DataItem>\n",
                ntype, prec, N, Ny, Nx, C, base, name[0] == '/' ? name + 1 : name);
      } else {
        fprintf(f, "      <DataItem Dimensions=\"3 3\" Format=\"XML\">%" PetscInt_FMT " 0 0 1 1 1 1 %" PetscInt_FMT " %" PetscInt_FMT "</DataItem>\n",
                k, Ny, Nx);
        fprintf(f, "      <DataItem Format=\"HDF\" NumberType=\"%s\" Precision=\"%d\" Dimensions=\"%" PetscInt_FMT " %" PetscInt_FMT " %" PetscInt_FMT "\">%s:/%s</DataItem>\n",
                ntype, prec, N, Ny, Nx, base, name[0] == '/' ? name + 1 : name);
      }
      fprintf(f, "     </DataItem>\n    </Attribute>\n");
    }
    fprintf(f, "   </Grid>\n");
  }
  fprintf(f, "  </Grid>\n </Domain>\n</Xdmf>\n");
  PetscCheck(!ferror(f) && fclose(f) == 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "cannot write %s", tmp);
  PetscCheck(!rename(tmp, xmf), PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "cannot rename %s to %s", tmp, xmf);
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------
 * Foreign formats
 * ------------------------------------------------------------------------ */

/* v as C's %g prints it (PETSc's own %g appends a '.' to integers). */
static const char *G(double v)
{
  static char buf[4][32];
  static int  k = 0;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof(buf[k]), "%g", v);
  return buf[k];
}

/* Why v is not a storable count, or NULL if it is. */
static const char *CountProblem(double v)
{
  if (isnan(v)) return "NaN";
  if (isinf(v)) return "infinite";
  if (v < 0) return "negative";
  if (v != floor(v)) return "not an integer";
  if (v > BO_MAX_EXACT) return "above 2^24 (not exact as float)";
  return NULL;
}

/* The whole file (gzip or plain) into memory. */
static PetscErrorCode ReadWholeFile(MPI_Comm comm, const char *path, unsigned char **data, size_t *len)
{
  gzFile f = gzopen(path, "rb");
  size_t cap = 1 << 16, n = 0;
  int    got;

  PetscFunctionBegin;
  PetscCheck(f, comm, PETSC_ERR_FILE_OPEN, "cannot open %s", path);
  PetscCall(PetscMalloc(cap, data));
  for (;;) {
    if (n == cap) {
      cap *= 2;
      PetscCall(PetscRealloc(cap, data));
    }
    got = gzread(f, *data + n, (unsigned)PetscMin(cap - n, (size_t)1 << 30));
    if (got <= 0) break;
    n += (size_t)got;
  }
  if (got < 0) {
    int         e;
    const char *msg = gzerror(f, &e);
    gzclose(f);
    PetscCall(PetscFree(*data));
    SETERRQ(comm, PETSC_ERR_FILE_READ, "cannot read %s: %s", path, msg);
  }
  gzclose(f);
  *len = n;
  PetscFunctionReturn(0);
}

static PetscErrorCode ArraySetShape(MPI_Comm comm, const char *path, BOArray *a, PetscInt ndim, const PetscInt shape[])
{
  PetscFunctionBegin;
  PetscCheck(ndim >= 1 && ndim <= 3, comm, PETSC_ERR_ARG_WRONG, "%s: shape must have 1 to 3 axes", path);
  a->ndim = ndim, a->D = 1;
  for (PetscInt i = 0; i < ndim; i++) {
    PetscCheck(shape[i] >= 1, comm, PETSC_ERR_ARG_WRONG, "%s: shape axes must be positive", path);
    a->shape[i] = shape[i], a->D *= shape[i];
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOReadCSV(MPI_Comm comm, const char *path, PetscInt ndim, const PetscInt shape[], PetscInt label_column,
                         PetscInt drop_column, PetscBool skip_header, BOArray *a)
{
  unsigned char *text;
  size_t         len, capN = 64;
  PetscInt       ncols = -1, line = 0, D = -1;
  char          *s, *end;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(a, sizeof(*a)));
  PetscCall(ReadWholeFile(comm, path, &text, &len));
  PetscCall(PetscRealloc(len + 1, &text));
  text[len] = 0;
  s         = (char *)text;
  a->N      = 0;
  while (*s) {
    char    *eol = strchr(s, '\n'), *p;
    PetscInt col = 0, d = 0;
    if (eol) *eol = 0;
    end = eol ? eol + 1 : s + strlen(s);
    line++;
    if (eol && eol > s && eol[-1] == '\r') eol[-1] = 0;
    if ((line == 1 && skip_header) || strspn(s, " \t\r") == strlen(s)) {
      s = end;
      continue;
    }
    /* count columns on the first data line, then allocate */
    if (ncols < 0) {
      ncols = 1;
      for (p = s; *p; p++) ncols += *p == ',';
      PetscCheck(label_column < ncols && drop_column < ncols, comm, PETSC_ERR_ARG_WRONG,
                 "%s: line %" PetscInt_FMT " has %" PetscInt_FMT " columns; no column %" PetscInt_FMT, path, line, ncols,
                 PetscMax(label_column, drop_column));
      D = ncols - (label_column >= 0) - (drop_column >= 0 && drop_column != label_column);
      if (ndim > 0) {
        PetscCall(ArraySetShape(comm, path, a, ndim, shape));
        PetscCheck(a->D == D, comm, PETSC_ERR_ARG_SIZ,
                   "%s: wrong shape: rows have %" PetscInt_FMT " data columns but -shape gives %" PetscInt_FMT " elements",
                   path, D, a->D);
      } else {
        a->ndim = 1, a->shape[0] = D, a->D = D;
      }
      PetscCheck(D >= 1, comm, PETSC_ERR_ARG_SIZ, "%s: no data columns", path);
      PetscCall(PetscMalloc1(capN * (size_t)D, &a->x));
      if (label_column >= 0) PetscCall(PetscMalloc1(capN, &a->labels));
    }
    if (a->N == (PetscInt)capN) {
      capN *= 2;
      PetscCall(PetscRealloc(sizeof(float) * capN * (size_t)D, &a->x));
      if (a->labels) PetscCall(PetscRealloc(sizeof(PetscInt) * capN, &a->labels));
    }
    for (p = s;; col++) {
      char       *q;
      double      v;
      const char *why;
      PetscCheck(col < ncols, comm, PETSC_ERR_ARG_SIZ, "%s: line %" PetscInt_FMT " has more than %" PetscInt_FMT " columns",
                 path, line, ncols);
      v = strtod(p, &q);
      while (*q == ' ' || *q == '\t') q++;
      PetscCheck(q != p && (*q == ',' || *q == 0), comm, PETSC_ERR_ARG_WRONG,
                 "%s: line %" PetscInt_FMT ", column %" PetscInt_FMT ": not a number", path, line, col + 1);
      why = CountProblem(v);
      PetscCheck(!why, comm, PETSC_ERR_ARG_OUTOFRANGE, "%s: line %" PetscInt_FMT ", column %" PetscInt_FMT ": %s %s (%s)",
                 path, line, col + 1, col == label_column ? "label" : "count", why, G(v));
      if (col == label_column) a->labels[a->N] = (PetscInt)v;
      else if (col != drop_column) a->x[(size_t)a->N * (size_t)D + (size_t)d++] = (float)v;
      if (*q == 0) break;
      p = q + 1;
    }
    PetscCheck(col + 1 == ncols, comm, PETSC_ERR_ARG_SIZ,
               "%s: line %" PetscInt_FMT " has %" PetscInt_FMT " columns, expected %" PetscInt_FMT, path, line, col + 1, ncols);
    a->N++;
    s = end;
  }
  PetscCall(PetscFree(text));
  PetscCheck(a->N > 0, comm, PETSC_ERR_ARG_SIZ, "%s: no data rows", path);
  PetscFunctionReturn(0);
}

static uint32_t BigEndian32(const unsigned char *b) { return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]; }

static int HostIsBigEndian(void)
{
  const uint16_t one = 1;
  return *(const unsigned char *)&one == 0;
}

/* Decode one value of raw type t at p (byte order big or little). */
static double DecodeValue(const unsigned char *p, BORawType t, int big)
{
  unsigned char b[8];
  size_t        n = t == BO_RAW_U8 ? 1 : (t == BO_RAW_U16 || t == BO_RAW_I16) ? 2 : t == BO_RAW_F64 ? 8 : 4;
  int           swap = big != HostIsBigEndian();
  for (size_t i = 0; i < n; i++) b[i] = swap ? p[n - 1 - i] : p[i];
  switch (t) {
  case BO_RAW_U8: return b[0];
  case BO_RAW_U16: { uint16_t v; memcpy(&v, b, 2); return v; }
  case BO_RAW_I16: { int16_t v; memcpy(&v, b, 2); return v; }
  case BO_RAW_I32: { int32_t v; memcpy(&v, b, 4); return v; }
  case BO_RAW_U32: { uint32_t v; memcpy(&v, b, 4); return v; }
  case BO_RAW_F32: { float v; memcpy(&v, b, 4); return v; }
  default: { double v; memcpy(&v, b, 8); return v; }
  }
}

static size_t RawSize(BORawType t) { return t == BO_RAW_U8 ? 1 : (t == BO_RAW_U16 || t == BO_RAW_I16) ? 2 : t == BO_RAW_F64 ? 8 : 4; }

/* Decode and validate N*D values into a->x; what names the element. */
static PetscErrorCode DecodeCounts(MPI_Comm comm, const char *path, const unsigned char *p, BORawType t, int big, BOArray *a)
{
  size_t n = (size_t)a->N * (size_t)a->D, es = RawSize(t);

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(n, &a->x));
  for (size_t i = 0; i < n; i++) {
    double      v   = DecodeValue(p + i * es, t, big);
    const char *why = CountProblem(v);
    PetscCheck(!why, comm, PETSC_ERR_ARG_OUTOFRANGE, "%s: sample %zu, element %zu: count %s (%s)", path, i / (size_t)a->D,
               i % (size_t)a->D, why, G(v));
    a->x[i] = (float)v;
  }
  PetscFunctionReturn(0);
}

/* idx element type code -> raw type */
static PetscErrorCode IDXType(MPI_Comm comm, const char *path, int code, BORawType *t)
{
  PetscFunctionBegin;
  switch (code) {
  case 0x08: *t = BO_RAW_U8; break;
  case 0x0B: *t = BO_RAW_I16; break;
  case 0x0C: *t = BO_RAW_I32; break;
  case 0x0D: *t = BO_RAW_F32; break;
  case 0x0E: *t = BO_RAW_F64; break;
  default: SETERRQ(comm, PETSC_ERR_FILE_UNEXPECTED, "%s: unsupported idx element type 0x%02x", path, code);
  }
  PetscFunctionReturn(0);
}

/* Parse an idx header: type, rank and dims; returns the data offset. */
static PetscErrorCode IDXHeader(MPI_Comm comm, const char *path, const unsigned char *b, size_t len, BORawType *t,
                                int *nd, uint32_t dims[4], size_t *off)
{
  size_t total;

  PetscFunctionBegin;
  PetscCheck(len >= 4 && b[0] == 0 && b[1] == 0, comm, PETSC_ERR_FILE_UNEXPECTED, "%s: not an idx file (bad magic number)", path);
  PetscCall(IDXType(comm, path, b[2], t));
  *nd = b[3];
  PetscCheck(*nd >= 1 && *nd <= 4, comm, PETSC_ERR_FILE_UNEXPECTED, "%s: idx rank %d not supported (1 to 4)", path, *nd);
  PetscCheck(len >= 4 + 4 * (size_t)*nd, comm, PETSC_ERR_FILE_UNEXPECTED, "%s: truncated idx header", path);
  total = RawSize(*t);
  for (int i = 0; i < *nd; i++) dims[i] = BigEndian32(b + 4 + 4 * i), total *= dims[i];
  *off = 4 + 4 * (size_t)*nd;
  PetscCheck(len == *off + total, comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: idx file has %zu data bytes, the header announces %zu", path, len - *off, total);
  PetscFunctionReturn(0);
}

PetscErrorCode BOReadIDX(MPI_Comm comm, const char *path, const char *labels_path, BOArray *a)
{
  unsigned char *b;
  size_t         len, off;
  BORawType      t;
  int            nd;
  uint32_t       dims[4];
  PetscInt       shape[3];

  PetscFunctionBegin;
  PetscCall(PetscMemzero(a, sizeof(*a)));
  PetscCall(ReadWholeFile(comm, path, &b, &len));
  PetscCall(IDXHeader(comm, path, b, len, &t, &nd, dims, &off));
  PetscCheck(nd >= 2, comm, PETSC_ERR_FILE_UNEXPECTED, "%s: an idx%d file holds labels, not samples (use -labels)", path, nd);
  a->N = dims[0];
  PetscCheck(a->N > 0, comm, PETSC_ERR_ARG_SIZ, "%s: no samples", path);
  for (int i = 1; i < nd; i++) shape[i - 1] = dims[i];
  PetscCall(ArraySetShape(comm, path, a, nd - 1, shape));
  PetscCall(DecodeCounts(comm, path, b + off, t, 1, a));
  PetscCall(PetscFree(b));
  if (labels_path && labels_path[0]) {
    PetscCall(ReadWholeFile(comm, labels_path, &b, &len));
    PetscCall(IDXHeader(comm, labels_path, b, len, &t, &nd, dims, &off));
    PetscCheck(nd == 1 && (PetscInt)dims[0] == a->N, comm, PETSC_ERR_ARG_SIZ,
               "%s: labels must be an idx1 file of %" PetscInt_FMT " entries", labels_path, a->N);
    PetscCall(PetscMalloc1(a->N, &a->labels));
    for (PetscInt i = 0; i < a->N; i++) {
      double      v   = DecodeValue(b + off + (size_t)i * RawSize(t), t, 1);
      const char *why = CountProblem(v);
      PetscCheck(!why, comm, PETSC_ERR_ARG_OUTOFRANGE, "%s: label %" PetscInt_FMT " %s (%s)", labels_path, i, why, G(v));
      a->labels[i] = (PetscInt)v;
    }
    PetscCall(PetscFree(b));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOReadRaw(MPI_Comm comm, const char *path, BORawType type, PetscBool big_endian, long long offset,
                         PetscInt ndim, const PetscInt shape[], BOArray *a)
{
  unsigned char *b;
  size_t         len, bytes;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(a, sizeof(*a)));
  PetscCheck(ndim >= 1, comm, PETSC_ERR_ARG_WRONG, "%s: raw input needs -shape", path);
  PetscCall(ArraySetShape(comm, path, a, ndim, shape));
  PetscCall(ReadWholeFile(comm, path, &b, &len));
  PetscCheck(offset >= 0 && (size_t)offset <= len, comm, PETSC_ERR_ARG_OUTOFRANGE, "%s: offset %lld beyond the file's %zu bytes",
             path, offset, len);
  bytes = (size_t)a->D * RawSize(type);
  PetscCheck(len > (size_t)offset && (len - (size_t)offset) % bytes == 0, comm, PETSC_ERR_ARG_SIZ,
             "%s: wrong shape: %zu data bytes are not a whole number of samples of %zu bytes", path, len - (size_t)offset, bytes);
  a->N = (PetscInt)((len - (size_t)offset) / bytes);
  PetscCall(DecodeCounts(comm, path, b + offset, type, big_endian, a));
  PetscCall(PetscFree(b));
  PetscFunctionReturn(0);
}

PetscErrorCode BOArrayExtractPatches(BOArray *a, PetscInt P, PetscInt S)
{
  PetscInt Ny = a->shape[0], Nx = a->shape[1], C = a->ndim == 3 ? a->shape[2] : 1, py, px, n = 0;
  float   *x;
  PetscInt *lab = NULL;

  PetscFunctionBegin;
  PetscCheck(a->ndim >= 2, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "patches need fields (-shape Ny,Nx[,C])");
  PetscCheck(P >= 1 && S >= 1 && P <= Ny && P <= Nx, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "patch size %" PetscInt_FMT " and stride %" PetscInt_FMT " must be positive and fit the %" PetscInt_FMT " x %" PetscInt_FMT " field",
             P, S, Ny, Nx);
  py = (Ny - P) / S + 1, px = (Nx - P) / S + 1;
  PetscCall(PetscMalloc1((size_t)a->N * py * px * P * P * C, &x));
  if (a->labels) PetscCall(PetscMalloc1((size_t)a->N * py * px, &lab));
  for (PetscInt s = 0; s < a->N; s++)
    for (PetscInt by = 0; by < py; by++)
      for (PetscInt bx = 0; bx < px; bx++, n++) {
        for (PetscInt j = 0; j < P; j++)
          for (PetscInt i = 0; i < P; i++)
            for (PetscInt c = 0; c < C; c++)
              x[(((size_t)n * P + j) * P + i) * C + c] = a->x[(((size_t)s * Ny + by * S + j) * Nx + bx * S + i) * C + c];
        if (lab) lab[n] = a->labels[s];
      }
  PetscCall(PetscFree(a->x));
  PetscCall(PetscFree(a->labels));
  a->x = x, a->labels = lab, a->N = n;
  a->shape[0] = a->shape[1] = P, a->D = P * P * C;
  PetscFunctionReturn(0);
}

PetscErrorCode BOArrayDestroy(BOArray *a)
{
  PetscFunctionBegin;
  PetscCall(PetscFree(a->x));
  PetscCall(PetscFree(a->labels));
  PetscFunctionReturn(0);
}
