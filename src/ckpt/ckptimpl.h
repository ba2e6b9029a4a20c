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
/* CRC-32 of the four weight buffers and the step. */
uint32_t bo_ckpt_checksum(PetscInt nparams, const float *params, const float *ema, const float *m, const float *v,
                          int64_t step);

#endif
