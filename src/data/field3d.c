/* 3-D fields (docs/DATA.md §1): which 4-D datasets are 3-D (the one rule),
 * the one refusal of 3-D fields by code that handles 2-D fields only, and
 * member-shaped datasets (the observed cells' value and mask). */
#include <stdio.h>
#include <string.h>
#include "dataimpl.h"

/* The dataset's integer attribute Mz: 0 absent, 1 read into *mz, -1 not
 * one integer. */
static int read_mz(hid_t dset, long long *mz)
{
  hid_t a, t, sp;
  int   ok;

  if (H5Aexists(dset, "Mz") <= 0) return 0;
  if ((a = H5Aopen(dset, "Mz", H5P_DEFAULT)) < 0) return -1;
  t  = H5Aget_type(a);
  sp = H5Aget_space(a);
  ok = H5Tget_class(t) == H5T_INTEGER && H5Sget_simple_extent_npoints(sp) == 1 && H5Aread(a, H5T_NATIVE_LLONG, mz) >= 0;
  H5Sclose(sp);
  H5Tclose(t);
  H5Aclose(a);
  return ok ? 1 : -1;
}

/* "(N, Nz, Ny, Nx) = (3, 4, 6, 5)" for a 4-D or 5-D extent */
static void extent_string(int nd, const hsize_t *dims, char *s, size_t len)
{
  size_t at = (size_t)snprintf(s, len, "%s = (", nd == 5 ? "(N, Nz, Ny, Nx, C)" : "(N, Nz, Ny, Nx)");
  for (int i = 0; i < nd && at < len; i++)
    at += (size_t)snprintf(s + at, len - at, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
  if (at < len) snprintf(s + at, len - at, ")");
}

int BOFieldSpatialDims(hid_t dset, PetscInt data_dims, char *why, size_t len)
{
  hsize_t   dims[H5S_MAX_RANK] = {0};
  hid_t     sp                 = H5Dget_space(dset);
  int       nd                 = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1, has;
  long long mz                 = 0;
  char      ext[160];

  if (nd > 0 && nd <= H5S_MAX_RANK) H5Sget_simple_extent_dims(sp, dims, NULL);
  if (sp >= 0) H5Sclose(sp);
  why[0] = 0;
  if (nd < 2 || nd > 5) {
    snprintf(why, len,
             "has %d axes; expected (N, G), (N, Ny, Nx), (N, Ny, Nx, C), (N, Nz, Ny, Nx) or (N, Nz, Ny, Nx, C)", nd);
    return -1;
  }
  has = read_mz(dset, &mz);
  if (has < 0) {
    snprintf(why, len, "has an attribute Mz that is not one integer");
    return -1;
  }
  if (data_dims == 3 && nd < 4) {
    snprintf(why, len, "has %d axes, but -data_dims 3 needs a 3-D field (N, Nz, Ny, Nx) or (N, Nz, Ny, Nx, C)", nd);
    return -1;
  }
  if (nd == 2) return 0;
  if (nd == 3) {
    if (has && mz != 1) {
      snprintf(why, len, "has attribute Mz = %lld but 3 axes (N, Ny, Nx): no z axis", mz);
      return -1;
    }
    return 2;
  }
  extent_string(nd, dims, ext, sizeof(ext));
  /* Mz = 1 on a 4-D dataset declares a 2-D grid (N, Ny, Nx, C) */
  if (has && (unsigned long long)mz != dims[1] && !(mz == 1 && nd == 4)) {
    snprintf(why, len, "has attribute Mz = %lld but its second axis is %llu: %s", mz, (unsigned long long)dims[1], ext);
    return -1;
  }
  if (nd == 5 || (has && (unsigned long long)mz == dims[1])) {
    if (data_dims == 2) {
      snprintf(why, len, "is a 3-D field %s%s, but -data_dims 2 asks for a 2-D one", ext,
               nd == 5 ? "" : " by its attribute Mz");
      return -1;
    }
    return 3;
  }
  if (has && data_dims == 3) { /* Mz = 1 and a second axis that is not 1 */
    snprintf(why, len, "has attribute Mz = 1 (a 2-D grid (N, Ny, Nx, C)), but -data_dims 3 asks for a 3-D one");
    return -1;
  }
  return data_dims == 3 ? 3 : 2;
}

PetscErrorCode BOFieldRefuse3D(MPI_Comm comm, const char *file, const char *name, PetscBool is_3d, PetscInt Nz,
                               PetscInt Ny, PetscInt Nx, const char *who)
{
  PetscFunctionBegin;
  PetscCheck(!is_3d, comm, PETSC_ERR_SUP,
             "%s: dataset %s is a 3-D field (Nz x Ny x Nx = %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT
             "); %s does not handle 3-D fields yet",
             file, name, Nz, Ny, Nx, who);
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetRequire2D(BODataset ds, const char *who)
{
  PetscFunctionBegin;
  PetscCall(BOFieldRefuse3D(ds->comm, ds->filename, ds->name, ds->is_3d, ds->Nz, ds->Ny, ds->Nx, who));
  PetscFunctionReturn(0);
}

/* "4 x 6 x 5" */
static void dims_string(int nd, const hsize_t *dims, char *s, size_t len)
{
  size_t at = 0;
  s[0]      = 0;
  for (int i = 0; i < nd && at < len; i++)
    at += (size_t)snprintf(s + at, len - at, "%s%llu", i ? " x " : "", (unsigned long long)dims[i]);
}

PetscErrorCode BOMemberShapedRead(hid_t file, const char *what, const char *name, const char *members, PetscInt ndim,
                                  const PetscInt shape[], float *buf)
{
  hid_t    d, space;
  hssize_t n;
  hsize_t  dims[H5S_MAX_RANK] = {0}, want[4];
  int      nd, ok = 1;
  PetscInt D = 1;
  char     have[128], need[128];

  PetscFunctionBegin;
  for (PetscInt i = 0; i < ndim; i++) D *= shape[i];
  PetscCheck(H5Lexists(file, name, H5P_DEFAULT) > 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset '%s' is missing", what, name);
  BOCallHDF5(d = H5Dopen2(file, name, H5P_DEFAULT), "%s: cannot open '%s'", what, name);
  space = H5Dget_space(d);
  n     = H5Sget_simple_extent_npoints(space);
  nd    = H5Sget_simple_extent_ndims(space);
  if (nd > 0 && nd <= H5S_MAX_RANK) H5Sget_simple_extent_dims(space, dims, NULL);
  H5Sclose(space);
  if (ndim == 4) { /* a 3-D member: its shape exactly, the component axis optional for C = 1 */
    int wn = shape[3] > 1 ? 4 : 3;
    for (int i = 0; i < 4; i++) want[i] = (hsize_t)shape[i];
    ok = nd == wn || (nd == 4 && shape[3] == 1);
    for (int i = 0; ok && i < nd; i++) ok = dims[i] == want[i];
    if (!ok) {
      dims_string(nd, dims, have, sizeof(have));
      dims_string(wn, want, need, sizeof(need));
      H5Dclose(d);
      SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s: '%s' is %s, but %s are %s (Nz x Ny x Nx%s)", what, name,
              have, members, need, wn == 4 ? " x C" : "");
    }
  }
  if (n != D) H5Dclose(d);
  PetscCheck(n == D, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s: '%s' has %lld elements, %s have %" PetscInt_FMT,
             what, name, (long long)n, members, D);
  {
    herr_t e = H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Dclose(d);
    BOCallHDF5(e, "%s: cannot read '%s'", what, name);
  }
  PetscFunctionReturn(0);
}
