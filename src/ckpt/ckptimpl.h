/* Private to src/ckpt: names of the rotated files, the checksum, and the
 * reading of one file (write.c writes, read.c reads). */
#ifndef BO_CKPTIMPL_H
#define BO_CKPTIMPL_H
#include <hdf5.h>
#include "bo_checkpoint.h"
#include "bo_h5.h"
#include "bo_sys.h"

/* Length of path without its ".h5" suffix: the stem of FILE-stepN.h5. */
size_t bo_ckpt_stem(const char *path);
/* "dir/ckpt.h5" + step -> "dir/ckpt-step00001234.h5" */
void bo_ckpt_sibling(const char *path, PetscInt step, char *out, size_t len);
/* Is name (found by the glob FILE-step*.h5) a rotated name of path:
 * FILE-step, 8 or more digits, .h5? */
PetscBool bo_ckpt_is_rotated_name(const char *path, const char *name);
/* The checksum attribute, written last (its presence marks a complete
 * file), and the one of older files, which covered only the weights. */
#define BO_CKPT_CHECKSUM    "checksum"
#define BO_CKPT_CHECKSUM_V1 "checksum_crc32"
/* CRC-32 of the four weight buffers and the step. */
uint32_t bo_ckpt_weights_checksum(PetscInt nparams, const float *params, const float *ema, const float *m,
                                  const float *v, int64_t step);
/* CRC-32 of everything the file holds: the weights' CRC, the attributes of
 * / and of /model (names and stored bytes, in name order; the checksums
 * excluded) and the datasets of /data_totals. The writer computes it on
 * the open file before it writes BO_CKPT_CHECKSUM, a reader on the file
 * it has read: a changed T, t_end, model setting or total is caught. */
PetscErrorCode bo_ckpt_checksum(hid_t file, uint32_t weights, uint32_t *checksum);

#endif
