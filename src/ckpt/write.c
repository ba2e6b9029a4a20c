/* Writing checkpoints: rank 0 writes the file under a temporary name, moves
 * the previous newest aside under its step's name, publishes the new one
 * and prunes the oldest beyond `keep`. */
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "ckptimpl.h"

size_t bo_ckpt_stem(const char *path)
{
  size_t n = strlen(path);
  return n > 3 && !strcmp(path + n - 3, ".h5") ? n - 3 : n;
}

void bo_ckpt_sibling(const char *path, PetscInt step, char *out, size_t len)
{
  snprintf(out, len, "%.*s-step%08" PetscInt_FMT ".h5", (int)bo_ckpt_stem(path), path, step);
}

/* FILE-step, 8 or more digits, .h5: the names bo_ckpt_sibling makes. */
PetscBool bo_ckpt_is_rotated_name(const char *path, const char *name)
{
  const size_t stem = bo_ckpt_stem(path);
  const char  *digits;
  size_t       nd = 0;

  if (strncmp(name, path, stem) || strncmp(name + stem, "-step", 5)) return PETSC_FALSE;
  digits = name + stem + 5;
  while (isdigit((unsigned char)digits[nd])) nd++;
  return (PetscBool)(nd >= 8 && !strcmp(digits + nd, ".h5"));
}

/* Does the file hold a checkpoint's step and checksum (either version)? */
static PetscBool is_checkpoint_file(const char *name)
{
  hid_t     f;
  PetscBool ok;

  BOH5Quiet();
  f = H5Fopen(name, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return PETSC_FALSE;
  ok = (PetscBool)(BOH5HasAttr(f, "step") && (BOH5HasAttr(f, BO_CKPT_CHECKSUM) || BOH5HasAttr(f, BO_CKPT_CHECKSUM_V1)));
  H5Fclose(f);
  return ok;
}

static uLong crc_bytes(uLong crc, const void *buf, size_t n)
{
  const Bytef *p = (const Bytef *)buf;
  while (n) { /* crc32 takes a uInt length */
    uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
    crc        = crc32(crc, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return crc;
}

uint32_t bo_ckpt_weights_checksum(PetscInt nparams, const float *params, const float *ema, const float *m,
                                  const float *v, int64_t step)
{
  const float *bufs[4] = {params, ema, m, v};
  uLong        crc     = crc32(0L, Z_NULL, 0);
  for (int i = 0; i < 4; i++) crc = crc_bytes(crc, bufs[i], sizeof(float) * (size_t)nparams);
  return (uint32_t)crc_bytes(crc, &step, sizeof(step));
}

/* One attribute into the CRC: its name and its bytes as stored (read in
 * the file's own type, so the writer and any reader see the same bytes). */
static herr_t crc_attribute(hid_t obj, const char *name, const H5A_info_t *info, void *ctx)
{
  uLong  *crc = (uLong *)ctx;
  hid_t   a, type;
  hsize_t n = info->data_size;
  void   *buf;
  herr_t  err;

  if (!strcmp(name, BO_CKPT_CHECKSUM) || !strcmp(name, BO_CKPT_CHECKSUM_V1)) return 0;
  if ((a = H5Aopen(obj, name, H5P_DEFAULT)) < 0) return -1;
  type = H5Aget_type(a);
  buf  = calloc(1, (size_t)n + 1);
  err  = buf && type >= 0 ? H5Aread(a, type, buf) : -1;
  if (err >= 0) *crc = crc_bytes(crc_bytes(*crc, name, strlen(name) + 1), buf, (size_t)n);
  free(buf);
  H5Tclose(type);
  H5Aclose(a);
  return err;
}

/* A dataset's bytes as stored, if it exists. */
static PetscErrorCode crc_dataset(hid_t file, const char *name, uLong *crc)
{
  hid_t  d, type;
  size_t n;
  void  *buf;

  PetscFunctionBegin;
  if (H5Lexists(file, "data_totals", H5P_DEFAULT) <= 0 || H5Lexists(file, name, H5P_DEFAULT) <= 0)
    PetscFunctionReturn(0);
  BOCallHDF5(d = H5Dopen2(file, name, H5P_DEFAULT), "cannot open %s", name);
  type = H5Dget_type(d);
  n    = (size_t)H5Dget_storage_size(d);
  PetscCall(PetscCalloc1(n + 1, (char **)&buf));
  BOCallHDF5(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), "cannot read %s", name);
  *crc = crc_bytes(crc_bytes(*crc, name, strlen(name) + 1), buf, n);
  PetscCall(PetscFree(buf));
  H5Tclose(type);
  H5Dclose(d);
  PetscFunctionReturn(0);
}

PetscErrorCode bo_ckpt_checksum(hid_t file, uint32_t weights, uint32_t *checksum)
{
  uLong crc = crc32(0L, Z_NULL, 0);
  hid_t g;

  PetscFunctionBegin;
  crc = crc_bytes(crc, &weights, sizeof(weights));
  BOCallHDF5(H5Aiterate2(file, H5_INDEX_NAME, H5_ITER_INC, NULL, crc_attribute, &crc),
             "cannot read the root attributes");
  BOCallHDF5(g = H5Gopen2(file, "model", H5P_DEFAULT), "group 'model' is missing");
  BOCallHDF5(H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, NULL, crc_attribute, &crc), "cannot read /model's attributes");
  H5Gclose(g);
  PetscCall(crc_dataset(file, "data_totals/totals", &crc));
  PetscCall(crc_dataset(file, "data_totals/labels", &crc));
  PetscCall(crc_dataset(file, "data_totals/params", &crc));
  PetscCall(crc_dataset(file, "data_totals/input_summary", &crc));
  *checksum = (uint32_t)crc;
  PetscFunctionReturn(0);
}

static PetscErrorCode save_group(BOModel model, hid_t file, const char *name, const float *buf)
{
  hid_t g;

  PetscFunctionBegin;
  BOCallHDF5(g = H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "cannot create group %s", name);
  PetscCall(BOModelSaveParams(model, g, buf));
  H5Gclose(g);
  PetscFunctionReturn(0);
}

/* One (N, cols) float64 dataset of group g. */
static PetscErrorCode save_table(hid_t g, const char *name, hsize_t n, PetscInt cols, const double *v)
{
  hsize_t dims[2] = {n, (hsize_t)cols};
  hid_t   sp      = H5Screate_simple(2, dims, NULL), d;

  PetscFunctionBegin;
  BOCallHDF5(d = H5Dcreate2(g, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
             "cannot create data_totals/%s", name);
  BOCallHDF5(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), "cannot write data_totals/%s", name);
  H5Dclose(d);
  H5Sclose(sp);
  PetscFunctionReturn(0);
}

/* group data_totals: totals (float64), with labels labels (int64), with
 * params params (N, P) float64, with input summaries input_summary (N, S)
 * float64 */
static PetscErrorCode save_totals(hid_t file, const BOCheckpointState *st)
{
  hid_t   g, sp, d;
  hsize_t n = (hsize_t)st->ntotals;

  PetscFunctionBegin;
  BOCallHDF5(g = H5Gcreate2(file, "data_totals", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
             "cannot create group data_totals");
  sp = H5Screate_simple(1, &n, NULL);
  BOCallHDF5(d = H5Dcreate2(g, "totals", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
             "cannot create data_totals/totals");
  BOCallHDF5(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, st->totals),
             "cannot write data_totals/totals");
  H5Dclose(d);
  if (st->total_labels) {
    int64_t *lab;
    PetscCall(PetscMalloc1(st->ntotals, &lab));
    for (PetscInt i = 0; i < st->ntotals; i++) lab[i] = st->total_labels[i];
    BOCallHDF5(d = H5Dcreate2(g, "labels", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
               "cannot create data_totals/labels");
    BOCallHDF5(H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab), "cannot write data_totals/labels");
    H5Dclose(d);
    PetscCall(PetscFree(lab));
  }
  H5Sclose(sp);
  if (st->total_params) PetscCall(save_table(g, "params", n, st->total_P, st->total_params));
  if (st->total_summary) PetscCall(save_table(g, "input_summary", n, st->total_S, st->total_summary));
  H5Gclose(g);
  PetscFunctionReturn(0);
}

static PetscErrorCode write_contents(hid_t file, BOProcess proc, BOModel m, const BOCheckpointState *st, int mpi_size)
{
  hid_t    g;
  uint32_t crc;

  PetscFunctionBegin;
  PetscCall(BOH5WriteAttrString(file, "format", "blackout-checkpoint"));
  PetscCall(BOH5WriteAttrString(file, "producer_version", BO_VERSION));
  PetscCall(BOH5WriteAttrInt(file, "step", st->step));
  PetscCall(BOH5WriteAttrInt(file, "seed", (int64_t)st->seed));
  PetscCall(BOH5WriteAttrInt(file, "batch", st->batch));
  PetscCall(BOH5WriteAttrInt(file, "mpi_size", mpi_size));
  PetscCall(BOProcessSave(proc, file));
  PetscCall(BOH5WriteAttrString(file, "data_file", st->data_file));
  PetscCall(BOH5WriteAttrInt(file, "data_N", st->data_N));
  PetscCall(BOH5WriteAttrReal(file, "data_max_count", st->data_max_count));
  PetscCall(BOH5WriteAttrInt(file, "conditional", st->conditional));
  BOCallHDF5(g = H5Gcreate2(file, "model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "cannot create group model");
  PetscCall(BOModelConfigSave(&m->cfg, g));
  H5Gclose(g);
  PetscCall(save_group(m, file, "params", m->params));
  PetscCall(save_group(m, file, "ema", st->ema));
  PetscCall(save_group(m, file, "adam_m", st->adam_m));
  PetscCall(save_group(m, file, "adam_v", st->adam_v));
  if (st->ntotals > 0) PetscCall(save_totals(file, st));
  /* written last: its presence marks completion */
  PetscCall(bo_ckpt_checksum(
      file, bo_ckpt_weights_checksum(m->nparams, m->params, st->ema, st->adam_m, st->adam_v, st->step), &crc));
  PetscCall(BOH5WriteAttrInt(file, BO_CKPT_CHECKSUM, crc));
  PetscFunctionReturn(0);
}

/* The file is built in memory (HDF5's core driver) and written to tmp with
 * one fwrite: a full disk or a write error is then reported with its
 * reason, and HDF5 never holds a file it cannot flush (HDF5 1.10 crashes
 * at exit closing such a file again). */
static PetscErrorCode write_file(const char *tmp, BOProcess proc, BOModel m, const BOCheckpointState *st, int mpi_size)
{
  hid_t          fapl  = H5Pcreate(H5P_FILE_ACCESS), file;
  size_t         guess = 4 * sizeof(float) * (size_t)m->nparams + (1u << 20);
  ssize_t        size  = -1;
  char          *image = NULL;
  FILE          *f;
  int            err = 0;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  H5Pset_fapl_core(fapl, guess, 0); /* 0: no file of HDF5's own */
  file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  BOCallHDF5(file, "cannot build %s in memory", tmp);
  ierr = write_contents(file, proc, m, st, mpi_size);
  if (!ierr && H5Fflush(file, H5F_SCOPE_LOCAL) >= 0 && (size = H5Fget_file_image(file, NULL, 0)) > 0) {
    ierr = PetscMalloc1((size_t)size, &image);
    if (!ierr && H5Fget_file_image(file, image, (size_t)size) != size) size = -1;
  }
  H5Fclose(file);
  PetscCall(ierr);
  if (size <= 0) PetscCall(PetscFree(image));
  PetscCheck(size > 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "cannot make the image of %s%s", tmp, BOH5Reason());
  if (!(f = fopen(tmp, "wb"))) err = errno;
  else {
    if (fwrite(image, 1, (size_t)size, f) != (size_t)size) err = errno ? errno : EIO;
    if (fclose(f) != 0 && !err) err = errno;
    if (err) unlink(tmp);
  }
  PetscCall(PetscFree(image));
  PetscCheck(!err, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "cannot write %s: %s", tmp, strerror(err));
  PetscFunctionReturn(0);
}

/* Keep the previous newest under its step's name (unless it has this step). */
static PetscErrorCode move_previous_aside(const char *path, PetscInt step)
{
  int64_t prev = -1;
  hid_t   f;

  PetscFunctionBegin;
  if (access(path, F_OK) != 0) PetscFunctionReturn(0);
  f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f >= 0) {
    PetscErrorCode ierr = BOH5HasAttr(f, "step") ? BOH5ReadAttrInt(f, "step", &prev) : 0;
    H5Fclose(f); /* closed on the error path too */
    PetscCall(ierr);
  }
  if (prev >= 0 && prev != step) {
    char old[PETSC_MAX_PATH_LEN + 32];
    bo_ckpt_sibling(path, (PetscInt)prev, old, sizeof(old));
    PetscCheck(access(old, F_OK) != 0 || is_checkpoint_file(old), PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
               "cannot move %s aside to %s: that file exists and is not a checkpoint", path, old);
    PetscCheck(rename(path, old) == 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "cannot rename %s to %s: %s", path, old,
               strerror(errno));
  }
  PetscFunctionReturn(0);
}

/* Rotated siblings sort by step (zero-padded): keep the newest keep - 1.
 * Only files with a rotated name that hold a checkpoint are counted or
 * removed: a user's file that merely shares the prefix (the training data
 * named ckpt-steps.h5, say) is never touched. */
static void prune(const char *path, PetscInt keep)
{
  char       pattern[PETSC_MAX_PATH_LEN + 32];
  glob_t     gl;
  size_t     nrot = 0, seen = 0;
  PetscBool *rot;

  snprintf(pattern, sizeof(pattern), "%.*s-step*.h5", (int)bo_ckpt_stem(path), path);
  if (glob(pattern, 0, NULL, &gl) != 0) return;
  rot = (PetscBool *)calloc(gl.gl_pathc, sizeof(*rot));
  for (size_t i = 0; rot && i < gl.gl_pathc; i++) {
    rot[i] = (PetscBool)(bo_ckpt_is_rotated_name(path, gl.gl_pathv[i]) && is_checkpoint_file(gl.gl_pathv[i]));
    nrot += rot[i];
  }
  for (size_t i = 0; rot && i < gl.gl_pathc; i++)
    if (rot[i] && seen++ + (size_t)(keep - 1) < nrot) unlink(gl.gl_pathv[i]);
  free(rot);
  globfree(&gl);
}

typedef struct {
  const char              *path;
  PetscInt                 keep;
  BOProcess                proc;
  BOModel                  model;
  const BOCheckpointState *st;
  int                      mpi_size;
} WriteJob;

static PetscErrorCode write_on_root(void *ctx)
{
  const WriteJob *j = (const WriteJob *)ctx;
  char            tmp[PETSC_MAX_PATH_LEN + 32];
  PetscErrorCode  ierr;

  PetscFunctionBegin;
  BOTempPath(j->path, tmp, sizeof(tmp));
  ierr = write_file(tmp, j->proc, j->model, j->st, j->mpi_size);
  if (ierr) unlink(tmp);
  PetscCall(ierr);
  ierr = move_previous_aside(j->path, j->st->step);
  if (ierr) unlink(tmp);
  PetscCall(ierr);
  PetscCall(BOPublishFile(tmp, j->path));
  prune(j->path, j->keep);
  PetscFunctionReturn(0);
}

PetscErrorCode BOCheckpointWrite(MPI_Comm comm, const char *path, PetscInt keep, BOProcess proc, BOModel model,
                                 const BOCheckpointState *st)
{
  WriteJob    job = {path, keep, proc, model, st, 1};
  PetscMPIInt size;
  char        what[PETSC_MAX_PATH_LEN + 16];

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  job.mpi_size = size;
  snprintf(what, sizeof(what), "checkpoint %s", path);
  PetscCall(BORootTry(comm, write_on_root, &job, what));
  PetscFunctionReturn(0);
}
