/* HDF5 helpers: attributes, row selections and collective row transfers. */
#include <sys/statvfs.h>
#include <stdio.h>
#include <string.h>
#include "bo_h5.h"
#include "bo_sys.h"

void BOH5Quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* H5Ewalk2 callback: the first description carrying a system reason. The
 * sec2 driver writes "..., errno = 28, error message = 'No space left on
 * device', ..."; the MPI-IO driver says only "file write failed" (errno is
 * stale by then: not used). */
static herr_t find_reason(unsigned n, const H5E_error2_t *e, void *ctx)
{
  const char *key    = "error message = '", *at;
  char       *reason = (char *)ctx;
  size_t      len;

  (void)n;
  if (reason[0] || !e->desc) return 0;
  if (!(at = strstr(e->desc, key)) || !(len = strcspn(at + strlen(key), "'"))) return 0;
  snprintf(reason, 255, ": %.*s", (int)len, at + strlen(key));
  return 0;
}

const char *BOH5Reason(void)
{
  static char reason[256];

  reason[0] = 0;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, find_reason, reason);
  return reason;
}

PetscBool BOH5HasAttr(hid_t obj, const char *name) { return H5Aexists(obj, name) > 0 ? PETSC_TRUE : PETSC_FALSE; }

PetscBool BORowsTopDown(hid_t file)
{
  char  value[16] = "";
  hid_t a, t;
  int   is_string;

  if (H5Aexists(file, "row_order") <= 0 || (a = H5Aopen(file, "row_order", H5P_DEFAULT)) < 0) return PETSC_FALSE;
  t         = H5Aget_type(a);
  is_string = H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t);
  H5Tclose(t);
  H5Aclose(a);
  if (!is_string || BOH5ReadAttrString(file, "row_order", value, sizeof(value))) return PETSC_FALSE;
  return strcmp(value, "top_down") ? PETSC_FALSE : PETSC_TRUE;
}

PetscErrorCode BOH5WriteAttr(hid_t obj, const char *name, hid_t ftype, hid_t mtype, hsize_t n, const void *val)
{
  hid_t space, attr;

  PetscFunctionBegin;
  if (H5Aexists(obj, name) > 0) BOCallHDF5(H5Adelete(obj, name), "cannot replace attribute %s", name);
  space = n ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
  BOCallHDF5(space, "cannot make a dataspace for attribute %s", name);
  BOCallHDF5(attr = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT), "cannot create attribute %s", name);
  BOCallHDF5(H5Awrite(attr, mtype, val), "cannot write attribute %s", name);
  BOCallHDF5(H5Aclose(attr), "H5Aclose");
  BOCallHDF5(H5Sclose(space), "H5Sclose");
  PetscFunctionReturn(0);
}

PetscErrorCode BOH5WriteAttrInt(hid_t obj, const char *name, int64_t value)
{
  return BOH5WriteAttr(obj, name, H5T_NATIVE_INT64, H5T_NATIVE_INT64, 0, &value);
}

PetscErrorCode BOH5WriteAttrReal(hid_t obj, const char *name, double value)
{
  return BOH5WriteAttr(obj, name, H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE, 0, &value);
}

PetscErrorCode BOH5WriteAttrString(hid_t obj, const char *name, const char *value)
{
  hid_t type = H5Tcopy(H5T_C_S1);

  PetscFunctionBegin;
  H5Tset_size(type, strlen(value) + 1);
  H5Tset_strpad(type, H5T_STR_NULLTERM);
  PetscCall(BOH5WriteAttr(obj, name, type, type, 0, value));
  H5Tclose(type);
  PetscFunctionReturn(0);
}

static PetscErrorCode read_attr(hid_t obj, const char *name, hid_t type, void *value)
{
  hid_t attr;

  PetscFunctionBegin;
  PetscCheck(H5Aexists(obj, name) > 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "attribute '%s' is missing", name);
  BOCallHDF5(attr = H5Aopen(obj, name, H5P_DEFAULT), "cannot open attribute %s", name);
  BOCallHDF5(H5Aread(attr, type, value), "cannot read attribute %s", name);
  H5Aclose(attr);
  PetscFunctionReturn(0);
}

PetscErrorCode BOH5ReadAttrInt(hid_t obj, const char *name, int64_t *value)
{
  return read_attr(obj, name, H5T_NATIVE_INT64, value);
}

PetscErrorCode BOH5ReadAttrReal(hid_t obj, const char *name, double *value)
{
  return read_attr(obj, name, H5T_NATIVE_DOUBLE, value);
}

PetscErrorCode BOH5AttrSize(hid_t obj, const char *name, hsize_t *n)
{
  hid_t    attr, space;
  hssize_t np;

  PetscFunctionBegin;
  PetscCheck(H5Aexists(obj, name) > 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "attribute '%s' is missing", name);
  BOCallHDF5(attr = H5Aopen(obj, name, H5P_DEFAULT), "cannot open attribute %s", name);
  space = H5Aget_space(attr);
  np    = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
  if (space >= 0) H5Sclose(space);
  H5Aclose(attr);
  PetscCheck(np >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "cannot read the size of attribute %s", name);
  *n = (hsize_t)np;
  PetscFunctionReturn(0);
}

PetscErrorCode BOH5ReadAttrReals(hid_t obj, const char *name, hsize_t n, double *values)
{
  hsize_t size;

  PetscFunctionBegin;
  PetscCall(BOH5AttrSize(obj, name, &size));
  PetscCheck(size == n, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "attribute %s has %llu values, expected %llu", name,
             (unsigned long long)size, (unsigned long long)n);
  PetscCall(read_attr(obj, name, H5T_NATIVE_DOUBLE, values));
  PetscFunctionReturn(0);
}

PetscErrorCode BOH5ReadAttrString(hid_t obj, const char *name, char *value, size_t len)
{
  hid_t  attr, ftype, mtype;
  size_t size;
  char  *buf;

  PetscFunctionBegin;
  PetscCheck(H5Aexists(obj, name) > 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "attribute '%s' is missing", name);
  BOCallHDF5(attr = H5Aopen(obj, name, H5P_DEFAULT), "cannot open attribute %s", name);
  ftype = H5Aget_type(attr);
  PetscCheck(H5Tget_class(ftype) == H5T_STRING && !H5Tis_variable_str(ftype), PETSC_COMM_SELF,
             PETSC_ERR_FILE_UNEXPECTED, "attribute '%s' is not a fixed-length string", name);
  size  = H5Tget_size(ftype);
  mtype = H5Tcopy(H5T_C_S1);
  H5Tset_size(mtype, size + 1);
  PetscCall(PetscCalloc1(size + 1, &buf));
  BOCallHDF5(H5Aread(attr, mtype, buf), "cannot read attribute %s", name);
  PetscCall(PetscStrncpy(value, buf, len));
  PetscCall(PetscFree(buf));
  H5Tclose(mtype);
  H5Tclose(ftype);
  H5Aclose(attr);
  PetscFunctionReturn(0);
}

PetscErrorCode BOH5SelectRows(hid_t dset, hsize_t first, hsize_t count, hid_t *fs, hid_t *ms)
{
  hsize_t dims[8], start[8] = {0};
  int     nd;

  PetscFunctionBegin;
  *fs = H5Dget_space(dset);
  nd  = H5Sget_simple_extent_dims(*fs, dims, NULL);
  BOCallHDF5(nd, "H5Sget_simple_extent_dims");
  PetscCheck(nd >= 1 && nd <= 8, PETSC_COMM_SELF, PETSC_ERR_SUP, "datasets of %d axes are not supported", nd);
  start[0] = first, dims[0] = count;
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

/* "dataset /counts of out.h5" for messages */
static void dset_name(hid_t dset, char *buf, size_t len)
{
  char name[256] = "?", file[PETSC_MAX_PATH_LEN] = "?";
  H5Iget_name(dset, name, sizeof(name));
  H5Fget_name(dset, file, sizeof(file));
  snprintf(buf, len, "dataset %s of %s", name, file);
}

/* When the driver gives no reason (MPI-IO): how much room the file's
 * file system has left, the usual culprit. */
static void free_space_note(hid_t obj, char *note, size_t len)
{
  char           file[PETSC_MAX_PATH_LEN] = ".", *slash;
  struct statvfs fs;

  H5Fget_name(obj, file, sizeof(file));
  if ((slash = strrchr(file, '/'))) *slash = 0;
  else strcpy(file, ".");
  if (statvfs(file, &fs) == 0)
    snprintf(note, len, " (its file system has %.0f MB free)", (double)fs.f_bavail * (double)fs.f_frsize / 1048576.0);
}

/* One collective transfer of rows [first, first + count) (write != 0: from
 * buf to the file). */
static PetscErrorCode transfer_rows(hid_t dset, hid_t mtype, hsize_t first, hsize_t count, void *buf, int write)
{
  hid_t  fs, ms, dxpl;
  char   dummy[16], what[PETSC_MAX_PATH_LEN + 300], reason[256] = "";
  herr_t st;

  PetscFunctionBegin;
  PetscCall(BOH5SelectRows(dset, first, count, &fs, &ms));
  dxpl = H5Pcreate(H5P_DATASET_XFER);
  BOCallHDF5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio");
  if (write) st = H5Dwrite(dset, mtype, ms, fs, dxpl, count ? buf : dummy);
  else st = H5Dread(dset, mtype, ms, fs, dxpl, count ? buf : dummy);
  if (st < 0) PetscCall(PetscStrncpy(reason, BOH5Reason(), sizeof(reason))); /* before other calls clear it */
  H5Pclose(dxpl);
  H5Sclose(ms);
  H5Sclose(fs);
  if (st < 0) {
    dset_name(dset, what, sizeof(what));
    if (write && !reason[0]) free_space_note(dset, reason, sizeof(reason));
    SETERRQ(PETSC_COMM_SELF, write ? PETSC_ERR_FILE_WRITE : PETSC_ERR_FILE_READ, "cannot %s rows %llu..%llu of %s%s",
            write ? "write" : "read", (unsigned long long)first, (unsigned long long)(first + count), what, reason);
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOH5ReadRows(hid_t dset, hid_t mtype, hsize_t first, hsize_t count, void *buf)
{
  PetscFunctionBegin;
  PetscCall(transfer_rows(dset, mtype, first, count, buf, 0));
  PetscFunctionReturn(0);
}

PetscErrorCode BOH5WriteRows(hid_t dset, hid_t mtype, hsize_t first, hsize_t count, const void *buf)
{
  PetscFunctionBegin;
  PetscCall(transfer_rows(dset, mtype, first, count, (void *)buf, 1));
  PetscFunctionReturn(0);
}
