/* Small HDF5 helpers: scalar attributes by name on any object. Reading a
 * missing attribute is an error naming it (or, with the *Default variants,
 * gives the default). Collective rules apply when the file is parallel. */
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

/* Turn HDF5's own error stack printing off (we report errors ourselves). */
void BOH5Quiet(void);

#endif
