/* Private to src/data: what the BODataset files share. */
#ifndef BO_DATAIMPL_H
#define BO_DATAIMPL_H
#include <hdf5.h>
#include "bo_dataset.h"
#include "bo_rng.h"
#include "bo_h5.h"
#include "bo_sys.h"

/* Does every component of path exist? (H5Lexists fails on a missing parent.) */
PetscBool bo_data_path_exists(hid_t file, const char *path);
/* "grp/counts" + "labels" -> "grp/labels". */
void bo_data_sibling_path(const char *path, const char *leaf, char *out, size_t len);
/* Collective read of count rows [g0, g0 + count) of dset in the file's own
 * type (ds->ftype), as doubles (count x per_row). */
PetscErrorCode bo_dataset_read_values(BODataset ds, hid_t dset, hsize_t g0, hsize_t count, size_t per_row, double *out);
/* Collective: every rank agrees on the first bad value (global flat index
 * base + i) and raises the same error naming it. */
PetscErrorCode bo_dataset_validate(BODataset ds, const char *what, size_t n, const double *v, long long base,
                                   PetscBool labels);
/* Collective: ok on every rank. */
PetscErrorCode bo_dataset_all_ok(BODataset ds, PetscBool ok, PetscBool *all);

/* Conditioning data (conditions.c): create the params and inputs datasets a
 * writer was asked for (in BOWriterSetUp); find, check and load the params
 * and inputs beside a dataset's counts (in BODatasetOpen). */
#include "bo_io.h"
PetscErrorCode bo_writer_create_conditions(BOWriter w);
/* The creation properties of a dataset a BOWriter writes: chunks of the given
 * shape, shuffled and deflated at level deflate (none when deflate is 0).
 * Close with H5Pclose. */
PetscErrorCode bo_writer_dataset_properties(PetscInt deflate, int rank, const hsize_t *chunk, hid_t *dcpl);
PetscErrorCode bo_dataset_open_conditions(BODataset ds);

/* The whole file (gzip or plain) into memory (foreign.c). */
PetscErrorCode bo_read_whole_file(MPI_Comm comm, const char *path, unsigned char **data, size_t *len);
/* v as C's %g prints it (PETSc's own %g appends a '.' to integers); four
 * calls' results stay valid at once (rotating static buffers). */
const char *bo_fmt_g(double v);

#endif
