/* Shared plumbing, the bottom layer (src/sys): error macros for raw HDF5
 * calls, the one-line error handler of the programs, rank-0 work with a
 * collective outcome, outputs published by rename, profiling ids, clocks. */
#ifndef BO_SYS_H
#define BO_SYS_H
#include <petscsys.h>
#include <stdint.h>

#define BO_VERSION "0.1.0"

/* Wrap a raw HDF5 call that returns a negative value on failure. The
 * message (a string literal) gets the system's reason when HDF5 recorded
 * one (BOH5Reason: ": No space left on device", ": File too large", ...). */
#define BOCallHDF5(call, fmt, ...)                                                                                     \
  do {                                                                                                                 \
    if ((call) < 0) SETERRQ(PETSC_COMM_SELF, PETSC_ERR_LIB, fmt "%s", ##__VA_ARGS__, BOH5Reason());                    \
  } while (0)
/* ": reason" from the current HDF5 error stack (the errno text of a failed
 * read or write, or MPI-IO's error string), or "" when it has none. */
const char *BOH5Reason(void);

/* Programs: BOAppStart, right after PetscInitialize, installs an error
 * handler that prints one line naming the culprit ("bo_train: error: ...")
 * instead of PETSc's traceback, sets the BLAS threads (BOSetBLASThreads) and
 * checks the launcher (BOCheckLauncher). BOAppFinish() returns main's exit
 * status: 0, or 1 after an error raised collectively, or aborts all ranks
 * after an error raised on one rank only (so no rank can hang in a
 * collective). Every program's main is
 *   PetscInitialize; ierr = BOAppStart(name); if (!ierr) ierr = run(); return BOAppFinish(ierr);
 */
PetscErrorCode BOAppStart(const char *progname);
/* Before PetscInitialize, on main's arguments: 1, after one line on stderr,
 * when an -options_file cannot be read (PETSc would print a traceback and
 * call MPI_Abort). -help, --help and -h are taken out, so that PETSc does
 * not list its generic options first; BOAppStart then prints the help text
 * and sets -help, and the program's option blocks list its own options.
 * -help all keeps PETSc's whole listing. Every program's main starts with
 *   if (BOAppArgs(&argc, argv, name, help)) return 1; */
int BOAppArgs(int *argc, char **argv, const char *progname, const char *help);
/* A warning on stderr (rank 0) for every option no one has read: a
 * misspelled -stpes would otherwise go unnoticed. Printed once; BOAppFinish
 * calls it after a successful run, and a program whose long work starts
 * after all its options are read calls it then (bo_train). */
PetscErrorCode BOWarnUnusedOptions(void);
/* Cleanups for a failed run: an output under construction registers
 * fn(ctx) (closing its files and removing its temporary one) and removes
 * it when it is published or destroyed; BOAppFinish runs those left, last
 * first, before a failed program exits, so no error path leaves a
 * temporary file or an open HDF5 file behind. Not collective. */
typedef void (*BOCleanupFn)(void *ctx);
PetscErrorCode BOAppOnFailure(BOCleanupFn fn, void *ctx);
void           BOAppOnFailureRemove(void *ctx);
int            BOAppFinish(PetscErrorCode ierr);

/* The wrong-launcher guard: fails when Slurm started several tasks
 * (SLURM_NTASKS > 1, inside a job step) but MPI sees a single rank, the
 * classic sign of `srun` without PMI support starting N singletons. */
PetscErrorCode BOCheckLauncher(MPI_Comm comm);

/* Profiling (-log_view): the library's stages and events, registered once
 * by BOLogRegister (the objects' Create functions call it). */
typedef struct {
  PetscClassId  classid, dataset, writer;
  PetscLogStage train, sample;
  PetscLogEvent load, forward, backward, allreduce, optimizer, checkpoint; /* training */
  PetscLogEvent sample_steps, sample_net, sample_write;                    /* sampling */
  PetscLogEvent data_read, data_write;                                     /* BODataset, BOWriter */
} BOLogIds;
extern BOLogIds BOLog;
PetscErrorCode  BOLogRegister(void);

/* Rank 0 runs fn(ctx) with PETSc's and HDF5's error printing off; then
 * every rank either goes on or raises the same error, with rank 0's code and
 * message (after "what: " when what is not NULL), so no rank hangs and every
 * rank says the same. Collective. */
typedef PetscErrorCode (*BORootFn)(void *ctx);
PetscErrorCode BORootTry(MPI_Comm comm, BORootFn fn, void *ctx, const char *what);

/* Outputs are written under a temporary name in their own directory,
 * "path.tmpPID", and published by renaming it (atomic on one file system),
 * so an interrupted run never leaves a partial file under the final name.
 * BOPublishFile removes tmp if the rename fails and names path and the
 * reason. Not collective. */
void           BOTempPath(const char *path, char *tmp, size_t len);
PetscErrorCode BOPublishFile(const char *tmp, const char *path);

/* An output must never replace one of the run's inputs: BOCheckNotInput
 * raises "OUT_OPT OUT is the same file as IN_OPT IN" when the two paths name
 * one file, compared by identity (device and inode) when both exist, else by
 * the canonical path of their directory and their name, so that neither
 * spelling ("./a.h5", "dir/../a.h5") nor a link fools it. An empty path or
 * option pair is skipped. Rank 0 decides; collective. */
PetscBool BOSameFile(const char *a, const char *b);
/* An output's location, checked before the work: its directory must exist
 * and be writable ("OPT PATH: directory DIR does not exist", or "is not
 * writable"), and the name must not be a directory or end in '/' ("OPT
 * PATH: is a directory, not a file name"). An empty path is skipped. Rank 0
 * decides; collective. */
PetscErrorCode BOCheckOutputDir(MPI_Comm comm, const char *opt, const char *path);
PetscErrorCode BOCheckNotInput(MPI_Comm comm, const char *out_opt, const char *out, const char *in_opt, const char *in);
/* A program's outputs before its work: each output's location
 * (BOCheckOutputDir), each output against every input (BOCheckNotInput)
 * and every earlier output ("... is the same file as ...: one would
 * overwrite the other"). Entries with an empty path are skipped. */
typedef struct {
  const char *opt, *path;
} BOFileArg;
PetscErrorCode BOCheckOutputs(MPI_Comm comm, int nout, const BOFileArg *out, int nin, const BOFileArg *in);

/* The file PREFIX_SUFFIX a picture prefix names ("" for an empty prefix),
 * for BOCheckOutputs. */
void BOPrefixedPath(const char *prefix, const char *suffix, char *out, size_t len);

/* A small text output (CSV, JSON) written atomically: rank 0 calls
 * body(f, a, b) on path's temporary name and renames it; every rank learns
 * whether that worked (an error names the file). Collective. */
typedef void (*BOTextBody)(FILE *f, const void *a, const void *b);
PetscErrorCode BOWriteTextFile(MPI_Comm comm, const char *path, BOTextBody body, const void *a, const void *b);

/* Monotonic wall clock in seconds. */
double BOWallTime(void);
/* The memory a rank may use: the node's available memory (MemAvailable of
 * /proc/meminfo) shared by the ranks on the node; 0 when unknown.
 * Collective on comm. */
PetscErrorCode BOMemoryPerRank(MPI_Comm comm, double *bytes);
/* An error naming the option when a run would need more memory per rank
 * than BOMemoryPerRank gives (what: e.g. "-batch 1000000"). Collective. */
PetscErrorCode BOCheckMemory(MPI_Comm comm, const char *what, double need);

/* Threads for OpenBLAS: OPENBLAS_NUM_THREADS if set, else SLURM_CPUS_PER_TASK
 * if set, else 1 (ranks are the parallelism). Returns the number chosen. */
int BOSetBLASThreads(void);

#endif
