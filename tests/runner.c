/* Check test runner for Blackout, serial and under mpirun.
 *
 *   build/run_tests              every suite, on however many ranks were launched
 *   build/run_tests -mpi_only    only the suites from tests/mpi_*.c
 *   build/run_tests -suite NAME  one suite (CK_RUN_CASE works too)
 *   build/run_tests -shard I,N   share I of N (make check runs N at once):
 *                                the suites go, most tests first, to the
 *                                share with the fewest tests so far
 *
 * Without -suite every test of the chosen suites must run, with -suite at
 * least one: fewer (Check's CK_RUN_SUITE, CK_RUN_CASE, CK_INCLUDE_TAGS or
 * CK_EXCLUDE_TAGS in the environment) fail the run, so that it cannot pass
 * having run nothing.
 *
 * Tests run in no-fork mode (fork and MPI do not mix). A failure on any rank
 * fails the run: the failure count is summed over ranks. Ranks other than 0
 * print only their own failures. The launcher carries the timeout, because
 * Check's timeouts need fork mode.
 */
#include <check.h>
#include <petscsys.h>
#include <string.h>
#include "testutil.h"

#define BO_SUITE(name, is_mpi, ntests) Suite *suite_##name(void);
#include "suites.h"
#undef BO_SUITE

typedef struct {
  const char *name;
  Suite *(*make)(void);
  int is_mpi;
  int ntests; /* its tcase_add_test calls, counted by scripts/gen-suites.sh */
} SuiteEntry;

#define BO_SUITE(name, is_mpi, ntests) {#name, suite_##name, is_mpi, ntests},
static const SuiteEntry all_suites[] = {
#include "suites.h"
};
#undef BO_SUITE

#define NSUITES (sizeof(all_suites) / sizeof(all_suites[0]))

/* share[i] of suite i among n shares: largest first (ties in file order)
 * to the share with the fewest tests so far, so that the heavy suites
 * spread out. The same on every call, hence the same in every process. */
static void assign_shares(int n, int share[])
{
  int done[NSUITES] = {0}, load[64] = {0};

  for (size_t k = 0; k < NSUITES; k++) {
    size_t big = 0;
    int    to  = 0;
    while (done[big]) big++;
    for (size_t i = big + 1; i < NSUITES; i++)
      if (!done[i] && all_suites[i].ntests > all_suites[big].ntests) big = i;
    for (int j = 1; j < n; j++)
      if (load[j] < load[to]) to = j;
    share[big] = to, done[big] = 1, load[to] += all_suites[big].ntests;
  }
}

int main(int argc, char **argv)
{
  PetscMPIInt rank, size;
  PetscBool   mpi_only = PETSC_FALSE;
  char        only[64] = "";
  int         local_failed, total_failed, local_run, total_run, least_run, expected = 0, share[NSUITES];
  PetscInt    shard[2] = {0, 1}, nshard = 2;
  PetscBool   sharded = PETSC_FALSE;
  SRunner    *sr      = NULL;

  /* -no_signal_handler: let a crash be a crash, with the sanitizer's report */
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PetscOptionsHasName(NULL, NULL, "-mpi_only", &mpi_only));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-suite", only, sizeof(only), NULL));
  PetscCall(PetscOptionsGetIntArray(NULL, NULL, "-shard", shard, &nshard, &sharded));
  if (sharded && (nshard != 2 || shard[1] < 1 || shard[1] > 64 || shard[0] < 0 || shard[0] >= shard[1])) {
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "run_tests: error: -shard I,N needs 0 <= I < N <= 64\n"));
    PetscCall(PetscFinalize());
    return 1;
  }
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(BOTestSetUp());

  assign_shares((int)shard[1], share);
  for (size_t i = 0; i < NSUITES; i++) {
    if (mpi_only && !all_suites[i].is_mpi) continue;
    if (only[0] && strcmp(only, all_suites[i].name)) continue;
    if (share[i] != shard[0]) continue;
    expected += all_suites[i].ntests;
    if (!sr) sr = srunner_create(all_suites[i].make());
    else srunner_add_suite(sr, all_suites[i].make());
  }
  if (!sr) {
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "run_tests: no suite matches '%s'\n", only));
    PetscCall(BOTestTearDown());
    PetscCall(PetscFinalize());
    return 1;
  }
  srunner_set_fork_status(sr, CK_NOFORK);
  if (rank == 0) PetscCall(PetscPrintf(PETSC_COMM_SELF, "run_tests on %d rank%s\n", size, size > 1 ? "s" : ""));
  srunner_run_all(sr, rank == 0 ? CK_NORMAL : CK_SILENT);
  local_failed = srunner_ntests_failed(sr);
  local_run    = srunner_ntests_run(sr);
  if (rank != 0 && local_failed) {
    /* Rank 0's summary line cannot show these, so each rank reports its own. */
    TestResult **tr = srunner_failures(sr);
    for (int i = 0; i < local_failed; i++)
      fprintf(stderr, "[rank %d] %s:%d: %s: %s\n", rank, tr_lfile(tr[i]), tr_lno(tr[i]), tr_tcname(tr[i]),
              tr_msg(tr[i]));
    free(tr);
  }
  srunner_free(sr);
  PetscCallMPI(MPI_Allreduce(&local_failed, &total_failed, 1, MPI_INT, MPI_SUM, PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Allreduce(&local_run, &total_run, 1, MPI_INT, MPI_SUM, PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Allreduce(&local_run, &least_run, 1, MPI_INT, MPI_MIN, PETSC_COMM_WORLD));
  if (size > 1)
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "all %d ranks: %d checks, %d failed\n", size, total_run, total_failed));
  if (least_run < (only[0] ? 1 : expected)) {
    PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                          "run_tests: FAILED: %d of the %d tests ran (CK_RUN_SUITE, CK_RUN_CASE, CK_INCLUDE_TAGS or "
                          "CK_EXCLUDE_TAGS set?)\n",
                          least_run, expected));
    total_failed++;
  }
  PetscCall(BOTestTearDown());
  PetscCall(PetscFinalize());
  return total_failed ? 1 : 0;
}
