/* Outputs written under a temporary name and published by a rename, small
 * text files written that way, and the wall clock. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "bo_sys.h"

void BOTempPath(const char *path, char *tmp, size_t len) { snprintf(tmp, len, "%s.tmp%ld", path, (long)getpid()); }

PetscErrorCode BOPublishFile(const char *tmp, const char *path)
{
  PetscFunctionBegin;
  if (rename(tmp, path) != 0) {
    int err = errno;
    unlink(tmp);
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "cannot write %s: renaming %s failed: %s", path, tmp, strerror(err));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriteTextFile(MPI_Comm comm, const char *path, BOTextBody body, const void *a, const void *b)
{
  PetscMPIInt rank;
  int         err = 0;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    char  tmp[PETSC_MAX_PATH_LEN + 32];
    FILE *f;
    BOTempPath(path, tmp, sizeof(tmp));
    if (!(f = fopen(tmp, "w"))) err = errno;
    else {
      body(f, a, b);
      if (ferror(f)) err = errno ? errno : EIO;
      if (fclose(f) != 0 && !err) err = errno;
      if (!err && rename(tmp, path) != 0) err = errno;
      if (err) unlink(tmp);
    }
  }
  PetscCallMPI(MPI_Bcast(&err, 1, MPI_INT, 0, comm));
  PetscCheck(!err, comm, PETSC_ERR_FILE_WRITE, "cannot write %s: %s", path, strerror(err));
  PetscFunctionReturn(0);
}

double BOWallTime(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
