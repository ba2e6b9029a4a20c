/* Small HDF5 helpers: attributes by name on any object (reading a missing
 * attribute is an error naming it), and collective row selections and
 * transfers. Collective rules apply when the file is parallel. */
#ifndef BO_H5_H
#define BO_H5_H
#include <hdf5.h>
#include <petscsys.h>

/* Any attribute: n = 0 a scalar, n > 0 a 1-D array of n; ftype on disk,
 * mtype in memory. Replaces an attribute of the same name. */
PetscErrorCode BOH5WriteAttr(hid_t obj, const char *name, hid_t ftype, hid_t mtype, hsize_t n, const void *val);
PetscErrorCode BOH5WriteAttrInt(hid_t obj, const char *name, int64_t value);
PetscErrorCode BOH5WriteAttrReal(hid_t obj, const char *name, double value);
PetscErrorCode BOH5WriteAttrString(hid_t obj, const char *name, const char *value);
PetscErrorCode BOH5ReadAttrInt(hid_t obj, const char *name, int64_t *value);
PetscErrorCode BOH5ReadAttrReal(hid_t obj, const char *name, double *value);
PetscErrorCode BOH5ReadAttrString(hid_t obj, const char *name, char *value, size_t len);
PetscBool      BOH5HasAttr(hid_t obj, const char *name);
/* The number of values of an attribute (1 for a scalar), and n doubles of
 * one (an error names it when it holds another number). */
PetscErrorCode BOH5AttrSize(hid_t obj, const char *name, hsize_t *n);
PetscErrorCode BOH5ReadAttrReals(hid_t obj, const char *name, hsize_t n, double *values);
/* The file's root attribute row_order is "top_down": its fields' row 0 is
 * the top (images), which pictures honour. Absent or anything else: row 0
 * at the bottom, y up, as on PETSc's grids. */
PetscBool BORowsTopDown(hid_t file);

/* Rows [first, first + count) of a dataset (every trailing axis), or
 * nothing when count = 0: the file space and the matching memory space. */
PetscErrorCode BOH5SelectRows(hid_t dset, hsize_t first, hsize_t count, hid_t *fs, hid_t *ms);
/* Collective (MPI-IO) transfer of those rows in memory type mtype; every
 * rank of the file calls, count may be 0. Errors name the dataset and file. */
PetscErrorCode BOH5ReadRows(hid_t dset, hid_t mtype, hsize_t first, hsize_t count, void *buf);
PetscErrorCode BOH5WriteRows(hid_t dset, hid_t mtype, hsize_t first, hsize_t count, const void *buf);

/* Turn HDF5's own error stack printing off (we report errors ourselves). */
void BOH5Quiet(void);

#endif
