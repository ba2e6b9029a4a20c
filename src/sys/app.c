/* Program plumbing: one-line errors, the launcher guard, BLAS threads. */
#include <cblas.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "bo_sys.h"

static char app_name[64]    = "blackout";
static int  app_error_seen  = 0; /* an error message was already printed */
static int  app_error_local = 0; /* the first error was raised on a subset of ranks */

/* PETSc's parse errors ("Input string abc has no integer value", "Unknown
 * logical value: maybe") do not name the option: find the one given that
 * value, "-seed abc", in the options database (out is "" when none or
 * several match). */
static void option_of_bad_value(const char *mess, char *out, size_t len)
{
  const char *keys[] = {"Input string ", "Unknown logical value: "}, *at = NULL;
  char        value[256], *all = NULL, *tok, *prev = NULL, *save;
  int         found = 0;

  out[0] = 0;
  for (int k = 0; k < 2 && !at; k++)
    if ((at = strstr(mess, keys[k]))) at += strlen(keys[k]);
  if (!at || sscanf(at, "%255s", value) != 1 || PetscOptionsGetAll(NULL, &all)) return;
  for (tok = strtok_r(all, " ", &save); tok; prev = tok, tok = strtok_r(NULL, " ", &save))
    if (prev && prev[0] == '-' && !strcmp(tok, value) && !found++) snprintf(out, len, "%s %s: ", prev, value);
  if (found != 1) out[0] = 0;
  PetscFree(all);
}

/* PETSc calls this for every frame of an error's traceback; print only the
 * first (the place and message where the error was raised), on one line. */
static PetscErrorCode one_line_error_handler(MPI_Comm comm, int line, const char *func, const char *file,
                                             PetscErrorCode n, PetscErrorType p, const char *mess, void *ctx)
{
  PetscMPIInt size = 1, wsize = 1, rank = 0;

  (void)line;
  (void)func;
  (void)file;
  (void)ctx;
  if (p != PETSC_ERROR_INITIAL || app_error_seen) return n;
  app_error_seen = 1;
  if (comm != MPI_COMM_NULL) MPI_Comm_size(comm, &size);
  MPI_Comm_size(MPI_COMM_WORLD, &wsize);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  app_error_local = size < wsize;
  if (app_error_local || rank == 0) {
    char option[300];
    if (!mess || !mess[0]) PetscErrorMessage(n, &mess, NULL);
    option_of_bad_value(mess, option, sizeof(option));
    if (wsize > 1 && app_error_local) fprintf(stderr, "%s: error [rank %d]: %s%s\n", app_name, rank, option, mess);
    else fprintf(stderr, "%s: error: %s%s\n", app_name, option, mess);
    fflush(stderr);
  }
  return n;
}

static int         app_help = 0; /* -help, --help or -h: the program's own options */
static const char *app_help_text;

int BOAppArgs(int *argc, char **argv, const char *progname, const char *help)
{
  const char *rank = getenv("OMPI_COMM_WORLD_RANK");
  int         n    = 1;

  if (!rank) rank = getenv("PMI_RANK");
  if (!rank) rank = getenv("SLURM_PROCID");
  for (int i = 1; i + 1 < *argc; i++)
    if (!strcmp(argv[i], "-options_file") && access(argv[i + 1], R_OK) != 0) {
      if (!rank || !strcmp(rank, "0"))
        fprintf(stderr, "%s: error: -options_file %s: %s\n", progname, argv[i + 1], strerror(errno));
      return 1;
    }
  /* -help all keeps PETSc's own listing (its generic options first) */
  for (int i = 1; i < *argc; i++) {
    int is_help = !strcmp(argv[i], "-help") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
    if (is_help && i + 1 < *argc && !strcmp(argv[i + 1], "all")) argv[n++] = (char *)"-help", i++; /* PETSc's */
    else if (is_help) app_help = 1;
    else argv[n++] = argv[i];
  }
  *argc         = n;
  argv[n]       = NULL;
  app_help_text = help;
  return 0;
}

PetscErrorCode BOAppStart(const char *progname)
{
  PetscFunctionBegin;
  PetscCall(PetscStrncpy(app_name, progname, sizeof(app_name)));
  PetscCall(PetscPushErrorHandler(one_line_error_handler, NULL));
  if (app_help) { /* the help text, then the options as the program reads them */
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s\n", app_help_text ? app_help_text : ""));
    PetscCall(PetscOptionsSetValue(NULL, "-help", NULL));
  }
  BOSetBLASThreads();
  PetscCall(BOCheckLauncher(PETSC_COMM_WORLD));
  PetscFunctionReturn(0);
}

PetscErrorCode BOWarnUnusedOptions(void)
{
  static PetscBool warned = PETSC_FALSE;
  PetscInt         n;
  char           **names, **values;
  PetscMPIInt      rank;

  PetscFunctionBegin;
  if (warned) PetscFunctionReturn(0);
  warned = PETSC_TRUE;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(PetscOptionsLeftGet(NULL, &n, &names, &values));
  for (PetscInt i = 0; i < n && rank == 0; i++)
    fprintf(stderr, "%s: warning: option -%s is not one of this program's (misspelled? %s -help lists them)\n",
            app_name, names[i], app_name);
  fflush(stderr);
  PetscCall(PetscOptionsLeftRestore(NULL, &n, &names, &values));
  PetscFunctionReturn(0);
}

#define BO_MAX_CLEANUPS 32
static struct {
  BOCleanupFn fn;
  void       *ctx;
} cleanups[BO_MAX_CLEANUPS];
static int ncleanups = 0;

PetscErrorCode BOAppOnFailure(BOCleanupFn fn, void *ctx)
{
  PetscFunctionBegin;
  PetscCheck(ncleanups < BO_MAX_CLEANUPS, PETSC_COMM_SELF, PETSC_ERR_MEM, "more than %d outputs open at once",
             BO_MAX_CLEANUPS);
  cleanups[ncleanups].fn = fn, cleanups[ncleanups++].ctx = ctx;
  PetscFunctionReturn(0);
}

void BOAppOnFailureRemove(void *ctx)
{
  for (int i = 0; i < ncleanups; i++)
    if (cleanups[i].ctx == ctx) {
      for (int j = i + 1; j < ncleanups; j++) cleanups[j - 1] = cleanups[j];
      ncleanups--;
      return;
    }
}

/* After an error HDF5 may still hold a file whose last flush failed (a
 * full disk under MPI-IO); HDF5 1.10 crashes closing it again inside
 * MPI_Finalize. The error is reported by then, and its exit status must
 * not become a crash's. */
static void exit_failed(int sig)
{
  (void)sig;
  _exit(1);
}

int BOAppFinish(PetscErrorCode ierr)
{
  if (!ierr && app_help)
    ierr = PetscPrintf(PETSC_COMM_WORLD,
                       "\n(%s -help all also lists PETSc's generic options: debugging, memory, "
                       "profiling)\n",
                       app_name);
  if (!ierr) {
    ierr = BOWarnUnusedOptions();
    if (!ierr) ierr = PetscFinalize();
    return ierr ? 1 : 0;
  }
  while (ncleanups > 0) { /* last registered first */
    ncleanups--;
    cleanups[ncleanups].fn(cleanups[ncleanups].ctx);
  }
  /* Errors raised on one rank leave the others waiting in a collective:
   * take the whole job down. Collective errors end cleanly. */
  if (app_error_local) MPI_Abort(MPI_COMM_WORLD, 1);
  PetscPopSignalHandler(); /* PETSc's would report the crash as its own error */
  signal(SIGSEGV, exit_failed);
  PetscFinalize();
  return 1;
}

int BOSetBLASThreads(void)
{
  const char *env = getenv("OPENBLAS_NUM_THREADS");
  int         n   = 1;
  if (!env || !env[0]) env = getenv("SLURM_CPUS_PER_TASK");
  if (env && atoi(env) > 0) n = atoi(env);
  openblas_set_num_threads(n);
  return n;
}

PetscErrorCode BOCheckLauncher(MPI_Comm comm)
{
  const char *ntasks = getenv("SLURM_NTASKS"), *step = getenv("SLURM_STEP_ID");
  PetscMPIInt size;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  /* Only inside a job step (srun): a batch script's own shell also sees
   * SLURM_NTASKS but may legitimately run a 1-rank helper. */
  if (ntasks && step && atoi(ntasks) > 1)
    PetscCheck(size > 1, comm, PETSC_ERR_SUP_SYS,
               "Slurm started %s tasks but MPI sees 1 rank: the launcher has no PMI support for this MPI "
               "(use mpirun, or srun --mpi=pmix; see jobs/README.md)",
               ntasks);
  PetscFunctionReturn(0);
}
