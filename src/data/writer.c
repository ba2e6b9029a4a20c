/* BOWriter: the collective parallel writer of count ensembles (bo_io.h).
 * The XDMF sidecar is in xdmf.c, the foreign formats in foreign.c. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "bo_dataset.h"
#include "bo_h5.h"
#include "bo_io.h"
#include "bo_sys.h"
#include "dataimpl.h"

const char *const BODTypes[] = {"auto", "u8", "u16", "u32", "f32", "f64", "BODType", "BO_DTYPE_", NULL};

/* File type and the identical native memory type (a mismatch would turn
 * collective I/O into independent I/O, and compressed writes then fail). */
static void dtype_hdf5(BODType t, hid_t *file_type, hid_t *mem_type, size_t *size)
{
  switch (t) {
  case BO_DTYPE_U8:
    *file_type = H5T_STD_U8LE;
    *mem_type  = H5T_NATIVE_UINT8;
    *size      = 1;
    break;
  case BO_DTYPE_U16:
    *file_type = H5T_STD_U16LE;
    *mem_type  = H5T_NATIVE_UINT16;
    *size      = 2;
    break;
  case BO_DTYPE_F32:
    *file_type = H5T_IEEE_F32LE;
    *mem_type  = H5T_NATIVE_FLOAT;
    *size      = 4;
    break;
  case BO_DTYPE_F64:
    *file_type = H5T_IEEE_F64LE;
    *mem_type  = H5T_NATIVE_DOUBLE;
    *size      = 8;
    break;
  default:
    *file_type = H5T_STD_U32LE;
    *mem_type  = H5T_NATIVE_UINT32;
    *size      = 4;
    break;
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
  PetscCheck(N >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE,
             "%s: an ensemble needs at least one member, got N = %" PetscInt_FMT, path, N);
  PetscCheck(ndim >= 1 && ndim <= 4, comm, PETSC_ERR_ARG_OUTOFRANGE, "%s: member shape must have 1 to 4 axes", path);
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
  wr->is_3d     = ndim == 4 ? PETSC_TRUE : PETSC_FALSE;
  wr->dtype     = BO_DTYPE_AUTO;
  wr->max_count = -1;
  wr->xdmf      = PETSC_TRUE;
  wr->origin[0] = wr->origin[1] = wr->origin[2] = 0.0;
  wr->spacing[0] = wr->spacing[1] = wr->spacing[2] = 1.0;
  wr->file = wr->dset = wr->lset = wr->pset = wr->iset = -1;
  /* temporary name in the same directory, the same on every rank */
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) BOTempPath(path, wr->tmppath, sizeof(wr->tmppath));
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
  PetscCall(
      PetscOptionsBool("-io_xdmf", "write an XDMF sidecar for fields", "BOWriterSetXDMF", w->xdmf, &w->xdmf, NULL));
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

PetscErrorCode BOWriterSetGrid(BOWriter w, const double origin[], const double spacing[])
{
  PetscFunctionBegin;
  for (int i = 0; i < (w->is_3d ? 3 : 2); i++) w->origin[i] = origin[i], w->spacing[i] = spacing[i];
  PetscFunctionReturn(0);
}

static PetscErrorCode writer_attr(BOWriter w, const char *key, BOAttribute **a)
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
  PetscCall(writer_attr(w, key, &a));
  a->kind = 0;
  PetscCall(PetscStrncpy(a->s, value ? value : "", sizeof(a->s)));
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterSetAttributeInt(BOWriter w, const char *key, long long value)
{
  BOAttribute *a;

  PetscFunctionBegin;
  PetscCall(writer_attr(w, key, &a));
  a->kind = 1, a->i = value;
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterSetAttributeReal(BOWriter w, const char *key, double value)
{
  BOAttribute *a;

  PetscFunctionBegin;
  PetscCall(writer_attr(w, key, &a));
  a->kind = 2, a->r = value;
  PetscFunctionReturn(0);
}

/* Attributes are written collectively: every rank, same value (BOH5WriteAttr). */

/* Create parent groups of a dataset path ("a/b/counts" -> a, a/b). */
static PetscErrorCode ensure_groups(hid_t file, const char *path)
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

/* Close what is open, ignoring errors, and remove the temporary file:
 * for a writer that will not be published (a failed write or run). */
static void writer_abandon(void *ctx)
{
  BOWriter    w    = (BOWriter)ctx;
  PetscMPIInt rank = 0;

  if (w->iset >= 0) H5Dclose(w->iset);
  if (w->pset >= 0) H5Dclose(w->pset);
  if (w->lset >= 0) H5Dclose(w->lset);
  if (w->dset >= 0) H5Dclose(w->dset);
  if (w->file >= 0) H5Fclose(w->file);
  w->iset = w->pset = w->lset = w->dset = w->file = -1;
  MPI_Comm_rank(w->comm, &rank);
  if (rank == 0) unlink(w->tmppath);
  BOAppOnFailureRemove(w);
}

PetscErrorCode bo_writer_dataset_properties(PetscInt deflate, int rank, const hsize_t *chunk, hid_t *dcpl)
{
  PetscFunctionBegin;
  BOCallHDF5(*dcpl = H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
  if (deflate > 0) {
    BOCallHDF5(H5Pset_chunk(*dcpl, rank, chunk), "H5Pset_chunk");
    BOCallHDF5(H5Pset_shuffle(*dcpl), "H5Pset_shuffle");
    BOCallHDF5(H5Pset_deflate(*dcpl, (unsigned)deflate), "H5Pset_deflate");
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterSetUp(BOWriter w)
{
  hid_t   fapl, space, dcpl, ftype, mtype;
  hsize_t dims[5], chunk[5];
  size_t  esize;
  /* a 3-D field of one component has no component axis, as VecView writes dof 1 */
  int rank = (int)w->ndim + 1 - (w->is_3d && w->shape[3] == 1);

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
  /* closing the file closes what an error left open (writer_abandon) */
  BOCallHDF5(H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG), "H5Pset_fclose_degree");
  w->file = H5Fcreate(w->tmppath, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  BOCallHDF5(H5Pclose(fapl), "H5Pclose");
  /* every rank sees the same failure (e.g. a missing directory) */
  PetscCheck(w->file >= 0, w->comm, PETSC_ERR_FILE_OPEN,
             "cannot create %s (does the directory exist and is it writable?)", w->tmppath);
  w->setup = PETSC_TRUE;
  PetscCall(BOAppOnFailure(writer_abandon, w)); /* a failed program removes the temporary file */

  dims[0] = (hsize_t)w->N, chunk[0] = 1;
  for (int i = 0; i + 1 < rank; i++) dims[i + 1] = chunk[i + 1] = (hsize_t)w->shape[i]; /* one member a chunk */
  if (!w->is_field) { /* vectors: chunks of about 256 KiB */
    hsize_t rows = (hsize_t)PetscMax(1, (262144 / (PetscInt)esize) / w->D);
    chunk[0]     = PetscMin(rows, dims[0]);
  }
  space = H5Screate_simple(rank, dims, NULL);
  PetscCall(bo_writer_dataset_properties(w->deflate, rank, chunk, &dcpl));
  BOCallHDF5(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), "H5Pset_fill_time");
  PetscCall(ensure_groups(w->file, w->name));
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
  PetscCall(bo_writer_create_conditions(w)); /* params, inputs */
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterWrite(BOWriter w, PetscInt first, PetscInt count, const float *data)
{
  hid_t     ftype, mtype;
  size_t    esize;
  void     *buf;
  double    vmax;
  long long bad = -1, gbad;
  size_t    n   = (size_t)count * (size_t)w->D;

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
      if (BOCountProblem(v, vmax, NULL)) {
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
  PetscCall(PetscLogEventBegin(BOLog.data_write, 0, 0, 0, 0));
  PetscCall(BOH5WriteRows(w->dset, mtype, (hsize_t)first, (hsize_t)count, buf));
  PetscCall(PetscLogEventEnd(BOLog.data_write, 0, 0, 0, 0));
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
  PetscCall(BOH5WriteRows(w->lset, H5T_NATIVE_INT, (hsize_t)first, (hsize_t)count, buf));
  PetscCall(PetscFree(buf));
  PetscFunctionReturn(0);
}

static PetscErrorCode writer_attributes(BOWriter w)
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
  if (w->is_3d) { /* Mz marks the dataset 3-D (docs/DATA.md §1); origin and spacing x, y, z */
    PetscCall(BOH5WriteAttrInt(w->dset, "Mx", w->shape[2]));
    PetscCall(BOH5WriteAttrInt(w->dset, "My", w->shape[1]));
    PetscCall(BOH5WriteAttrInt(w->dset, "Mz", w->shape[0]));
    PetscCall(BOH5WriteAttrInt(w->dset, "dof", w->shape[3]));
    PetscCall(BOH5WriteAttr(w->dset, "origin", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, w->origin));
    PetscCall(BOH5WriteAttr(w->dset, "spacing", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, w->spacing));
  } else if (w->is_field) {
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

static PetscErrorCode writer_close_file(BOWriter w)
{
  PetscFunctionBegin;
  if (w->iset >= 0) BOCallHDF5(H5Dclose(w->iset), "H5Dclose");
  if (w->pset >= 0) BOCallHDF5(H5Dclose(w->pset), "H5Dclose");
  if (w->lset >= 0) BOCallHDF5(H5Dclose(w->lset), "H5Dclose");
  if (w->dset >= 0) BOCallHDF5(H5Dclose(w->dset), "H5Dclose");
  if (w->file >= 0) BOCallHDF5(H5Fclose(w->file), "cannot close %s", w->tmppath);
  w->iset = w->pset = w->lset = w->dset = w->file = -1;
  PetscFunctionReturn(0);
}

static PetscErrorCode publish(void *ctx)
{
  BOWriter w = (BOWriter)ctx;

  PetscFunctionBegin;
  PetscCall(BOPublishFile(w->tmppath, w->path));
  PetscFunctionReturn(0);
}

/* Rank 0: the XDMF sidecar of a field file, or no stale one of another. */
static PetscErrorCode write_sidecar(void *ctx)
{
  BOWriter w = (BOWriter)ctx;

  PetscFunctionBegin;
  if (!(w->xdmf && w->is_field)) BORemoveStaleXDMF(w->path);
  else if (w->is_3d)
    PetscCall(BOWriteXDMF(w->path, w->name, w->N, w->shape[0], w->shape[1], w->shape[2], w->shape[3], w->dtype,
                          w->origin, w->spacing));
  else
    PetscCall(BOWriteXDMF(w->path, w->name, w->N, 0, w->shape[0], w->shape[1], w->ndim == 3 ? w->shape[2] : 1, w->dtype,
                          w->origin, w->spacing));
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterClose(BOWriter w)
{
  PetscFunctionBegin;
  PetscCall(BOWriterSetUp(w));
  PetscCall(writer_attributes(w));
  PetscCall(writer_close_file(w));
  PetscCall(BORootTry(w->comm, publish, w, NULL));
  BOAppOnFailureRemove(w);
  w->closed = PETSC_TRUE;
  /* every rank fails alike when it cannot be written (the .h5 is complete) */
  PetscCall(BORootTry(w->comm, write_sidecar, w, NULL));
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterDestroy(BOWriter *w)
{
  PetscFunctionBegin;
  if (!*w) PetscFunctionReturn(0);
  if ((*w)->setup && !(*w)->closed) writer_abandon(*w);
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
