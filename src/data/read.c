/* BODataset reading: rows of dense datasets in the file's own type, rows of
 * CSR matrices densified, every value validated (the first bad one named by
 * its index on every rank). */
#include <limits.h>
#include <math.h>
#include <string.h>
#include "dataimpl.h"

/* Does every component of path exist? (H5Lexists fails on a missing parent.) */
PetscBool bo_data_path_exists(hid_t file, const char *path)
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
void bo_data_sibling_path(const char *path, const char *leaf, char *out, size_t len)
{
  const char *slash = strrchr(path, '/');
  if (slash) snprintf(out, len, "%.*s/%s", (int)(slash - path), path, leaf);
  else snprintf(out, len, "%s", leaf);
}

/* Values read in the file's own (native) type, converted here. */
static double native_to_double(const void *buf, size_t i, H5T_class_t cls, size_t size, H5T_sign_t sign)
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

PetscErrorCode bo_dataset_read_values(BODataset ds, hid_t dset, hsize_t g0, hsize_t count, size_t per_row, double *out)
{
  H5T_class_t cls  = H5Tget_class(ds->ftype);
  size_t      size = H5Tget_size(ds->ftype);
  H5T_sign_t  sign = cls == H5T_INTEGER ? H5Tget_sign(ds->ftype) : H5T_SGN_NONE;
  size_t      n    = (size_t)count * per_row;
  void       *buf;

  PetscFunctionBegin;
  PetscCall(PetscMalloc(n * size + 1, &buf));
  PetscCall(BOH5ReadRows(dset, ds->ftype, g0, count, buf));
  for (size_t i = 0; i < n; i++) out[i] = native_to_double(buf, i, cls, size, sign);
  PetscCall(PetscFree(buf));
  PetscFunctionReturn(0);
}

/* "(n, j, i)" for a flat global element index. */
static void index_string(BODataset ds, long long e, char *s, size_t len)
{
  long long n = e / ds->D, r = e % ds->D;
  if (!ds->is_field) snprintf(s, len, "(%lld, %lld)", n, r);
  else if (ds->is_3d) { /* (member, z, y, x[, component]) */
    long long C = ds->C, cell = r / C, plane = (long long)ds->Ny * ds->Nx;
    int       at = snprintf(s, len, "(%lld, %lld, %lld, %lld", n, cell / plane, (cell % plane) / ds->Nx, cell % ds->Nx);
    if (C > 1 && at > 0 && (size_t)at < len) at += snprintf(s + at, len - (size_t)at, ", %lld", r % C);
    if (at > 0 && (size_t)at < len) snprintf(s + at, len - (size_t)at, ")");
  } else if (ds->C == 1) snprintf(s, len, "(%lld, %lld, %lld)", n, r / ds->Nx, r % ds->Nx);
  else snprintf(s, len, "(%lld, %lld, %lld, %lld)", n, r / (ds->Nx * ds->C), (r / ds->C) % ds->Nx, r % ds->C);
}

/* Collective: all ranks agree on the first bad element (global flat index
 * base + i) and raise the same error. */
PetscErrorCode bo_dataset_validate(BODataset ds, const char *what, size_t n, const double *v, long long base,
                                   PetscBool labels)
{
  long long   bad = LLONG_MAX, gbad;
  double      val = 0, gval;
  const char *why = NULL;
  char        idx[128], vbuf[32], reason[64] = "";

  PetscFunctionBegin;
  for (size_t i = 0; i < n; i++) {
    why = labels ? BOCountProblem(v[i], BO_MAX_CLASSES - 1, "65535 (at most 65536 classes)")
                 : BOCountProblem(v[i], ds->max_count_limit, "the maximum count (-max_count)");
    if (why) {
      bad = base + (long long)i, val = v[i];
      PetscCall(PetscStrncpy(reason, why, sizeof(reason)));
      break;
    }
  }
  PetscCallMPI(MPI_Allreduce(&bad, &gbad, 1, MPI_LONG_LONG, MPI_MIN, ds->comm));
  if (gbad == LLONG_MAX) PetscFunctionReturn(0);
  /* the rank holding the first bad element tells the others what it is */
  PetscMPIInt owner = bad == gbad ? ds->rank : ds->size, gowner;
  PetscCallMPI(MPI_Allreduce(&owner, &gowner, 1, MPI_INT, MPI_MIN, ds->comm));
  gval = val;
  PetscCallMPI(MPI_Bcast(&gval, 1, MPI_DOUBLE, gowner, ds->comm));
  PetscCallMPI(MPI_Bcast(reason, sizeof(reason), MPI_CHAR, gowner, ds->comm));
  if (labels) snprintf(idx, sizeof(idx), "(%lld)", gbad);
  else index_string(ds, gbad, idx, sizeof(idx));
  snprintf(vbuf, sizeof(vbuf), "%g", gval); /* plain C formatting: PETSc's %g would print "3." */
  SETERRQ(ds->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: dataset %s: %s at index %s is %s (%s)", ds->filename, what,
          labels ? "label" : "value", idx, reason, vbuf);
}

/* Collective check of a condition that may fail on some ranks only. */
PetscErrorCode bo_dataset_all_ok(BODataset ds, PetscBool ok, PetscBool *all)
{
  int l = ok, g;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Allreduce(&l, &g, 1, MPI_INT, MPI_LAND, ds->comm));
  *all = g ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(0);
}

/* CSR rows [g0, g0+count) densified into out (count x D doubles). */
static PetscErrorCode read_rows_csr(BODataset ds, PetscInt g0, PetscInt count, double *out)
{
  int64_t  *ip = NULL, *col = NULL, lo = 0, hi = 0;
  double   *val = NULL;
  PetscBool ok  = PETSC_TRUE, all;
  hsize_t   nnz_total;
  hid_t     sp;

  PetscFunctionBegin;
  sp = H5Dget_space(ds->csr[0]);
  H5Sget_simple_extent_dims(sp, &nnz_total, NULL);
  H5Sclose(sp);
  PetscCall(PetscMalloc1(count + 1, &ip));
  PetscCall(BOH5ReadRows(ds->csr[2], H5T_NATIVE_INT64, (hsize_t)g0, count ? (hsize_t)count + 1 : 0, ip));
  if (count) {
    lo = ip[0], hi = ip[count];
    for (PetscInt r = 0; r < count; r++) ok = (PetscBool)(ok && ip[r] <= ip[r + 1]);
    ok = (PetscBool)(ok && lo >= 0 && lo <= hi && (hsize_t)hi <= nnz_total);
  }
  PetscCall(bo_dataset_all_ok(ds, ok, &all));
  PetscCheck(all, ds->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: CSR group %s: indptr is not non-decreasing within 0..%llu",
             ds->filename, ds->name, (unsigned long long)nnz_total);
  PetscCall(PetscMalloc2(hi - lo + 1, &col, hi - lo + 1, &val));
  PetscCall(BOH5ReadRows(ds->csr[1], H5T_NATIVE_INT64, (hsize_t)lo, (hsize_t)(hi - lo), col));
  PetscCall(bo_dataset_read_values(ds, ds->csr[0], (hsize_t)lo, (hsize_t)(hi - lo), 1, val));
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
  PetscCall(bo_dataset_all_ok(ds, ok, &all));
  PetscCheck(all, ds->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: CSR group %s: a column index is outside 0..%" PetscInt_FMT,
             ds->filename, ds->name, ds->D - 1);
  PetscCall(PetscFree(ip));
  PetscCall(PetscFree2(col, val));
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetRead(BODataset ds, PetscInt first, PetscInt count, float *x)
{
  double *v;
  size_t  n = (size_t)count * (size_t)ds->D;

  PetscFunctionBegin;
  PetscCheck(first >= 0 && count >= 0 && first + count <= ds->N, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "%s: samples %" PetscInt_FMT "..%" PetscInt_FMT " outside 0..%" PetscInt_FMT, ds->filename, first,
             first + count - 1, ds->N - 1);
  PetscCall(PetscLogEventBegin(BOLog.data_read, 0, 0, 0, 0));
  PetscCall(PetscMalloc1(n + 1, &v));
  if (ds->is_sparse) PetscCall(read_rows_csr(ds, first, count, v));
  else PetscCall(bo_dataset_read_values(ds, ds->dset, (hsize_t)first, (hsize_t)count, (size_t)ds->D, v));
  PetscCall(bo_dataset_validate(ds, ds->name, n, v, (long long)first * ds->D, PETSC_FALSE));
  for (size_t i = 0; i < n; i++) x[i] = (float)v[i];
  PetscCall(PetscFree(v));
  PetscCall(PetscLogEventEnd(BOLog.data_read, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}
