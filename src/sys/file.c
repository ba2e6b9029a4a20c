/* Outputs written under a temporary name and published by a rename, small
 * text files written that way, outputs that would replace inputs, and the
 * wall clock. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "bo_sys.h"

/* realpath(dirname(path)) + "/" + basename(path): the same string for every
 * spelling of a path whose directory exists (false when it does not). */
static PetscBool canonical_path(const char *path, char *buf, size_t len)
{
  char d[PATH_MAX], b[PATH_MAX], dir[PATH_MAX];

  snprintf(d, sizeof(d), "%s", path);
  snprintf(b, sizeof(b), "%s", path);
  if (!realpath(dirname(d), dir)) return PETSC_FALSE;
  snprintf(buf, len, "%s/%s", dir, basename(b));
  return PETSC_TRUE;
}

PetscBool BOSameFile(const char *a, const char *b)
{
  struct stat sa, sb;
  char        ca[2 * PATH_MAX], cb[2 * PATH_MAX];

  if (!a || !b || !a[0] || !b[0]) return PETSC_FALSE;
  if (stat(a, &sa) == 0 && stat(b, &sb) == 0) return (PetscBool)(sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino);
  return (PetscBool)(canonical_path(a, ca, sizeof(ca)) && canonical_path(b, cb, sizeof(cb)) && !strcmp(ca, cb));
}

/* What is wrong with an output's location, as a phrase (d: its directory),
 * or NULL: a name that is a directory (or ends in '/') cannot be replaced
 * by a file, and its directory must exist and be writable. */
static const char *location_problem(const char *path, char *d, size_t len)
{
  struct stat st;
  char        copy[PATH_MAX];
  size_t      n = strlen(path);

  if (path[n - 1] == '/' || (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) return "is a directory, not a file name";
  snprintf(copy, sizeof(copy), "%s", path);
  snprintf(d, len, "%s", dirname(copy)); /* dirname may write into copy */
  if (stat(d, &st) != 0 || !S_ISDIR(st.st_mode)) return "does not exist";
  if (access(d, W_OK | X_OK) != 0) return "is not writable";
  return NULL;
}

PetscErrorCode BOCheckOutputDir(MPI_Comm comm, const char *opt, const char *path)
{
  PetscMPIInt rank;
  char        d[PATH_MAX] = "", why[64] = "";

  PetscFunctionBegin;
  if (!path || !path[0]) PetscFunctionReturn(0);
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    const char *w = location_problem(path, d, sizeof(d));
    snprintf(why, sizeof(why), "%s", w ? w : "");
  }
  PetscCallMPI(MPI_Bcast(why, (int)sizeof(why), MPI_CHAR, 0, comm));
  PetscCallMPI(MPI_Bcast(d, (int)sizeof(d), MPI_CHAR, 0, comm));
  PetscCheck(!why[0], comm, PETSC_ERR_FILE_OPEN, "%s %s: %s%s%s%s", opt, path, d[0] ? "directory " : "", d,
             d[0] ? " " : "", why);
  PetscFunctionReturn(0);
}

/* Raise "A_OPT A <what> B_OPT B<tail>" when a and b name one file. */
static PetscErrorCode check_distinct(MPI_Comm comm, const char *a_opt, const char *a, const char *b_opt, const char *b,
                                     const char *tail)
{
  PetscMPIInt rank;
  int         same = 0;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) same = BOSameFile(a, b);
  PetscCallMPI(MPI_Bcast(&same, 1, MPI_INT, 0, comm));
  PetscCheck(!same, comm, PETSC_ERR_ARG_INCOMP, "%s %s is the same file as %s %s%s", a_opt, a, b_opt, b, tail);
  PetscFunctionReturn(0);
}

PetscErrorCode BOCheckNotInput(MPI_Comm comm, const char *out_opt, const char *out, const char *in_opt, const char *in)
{
  PetscFunctionBegin;
  PetscCall(check_distinct(comm, out_opt, out, in_opt, in, ": an output may not replace an input"));
  PetscFunctionReturn(0);
}

PetscErrorCode BOCheckOutputs(MPI_Comm comm, int nout, const BOFileArg *out, int nin, const BOFileArg *in)
{
  PetscFunctionBegin;
  for (int o = 0; o < nout; o++) {
    for (int i = 0; i < nin; i++) PetscCall(BOCheckNotInput(comm, out[o].opt, out[o].path, in[i].opt, in[i].path));
    for (int e = 0; e < o; e++)
      PetscCall(
          check_distinct(comm, out[o].opt, out[o].path, out[e].opt, out[e].path, ": one would overwrite the other"));
  }
  for (int o = 0; o < nout; o++) PetscCall(BOCheckOutputDir(comm, out[o].opt, out[o].path));
  PetscFunctionReturn(0);
}

void BOPrefixedPath(const char *prefix, const char *suffix, char *out, size_t len)
{
  if (prefix[0]) snprintf(out, len, "%s_%s", prefix, suffix);
  else if (len) out[0] = 0;
}

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

PetscErrorCode BOMemoryPerRank(MPI_Comm comm, double *bytes)
{
  MPI_Comm    node;
  PetscMPIInt nranks;
  double      kb = 0;
  FILE       *f  = fopen("/proc/meminfo", "r");
  char        line[256];

  PetscFunctionBegin;
  while (f && fgets(line, sizeof(line), f))
    if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
  if (f) fclose(f);
  PetscCallMPI(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  PetscCallMPI(MPI_Comm_size(node, &nranks));
  PetscCallMPI(MPI_Comm_free(&node));
  *bytes = kb * 1024.0 / nranks;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, bytes, 1, MPI_DOUBLE, MPI_MIN, comm));
  PetscFunctionReturn(0);
}

PetscErrorCode BOCheckMemory(MPI_Comm comm, const char *what, double need)
{
  double have;

  PetscFunctionBegin;
  PetscCall(BOMemoryPerRank(comm, &have));
  PetscCheck(have <= 0 || need <= 0.9 * have, comm, PETSC_ERR_MEM,
             "%s: needs about %.2f GB per rank, more than the %.2f GB available to each rank of this node", what,
             need / 1e9, have / 1e9);
  PetscFunctionReturn(0);
}

double BOWallTime(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
