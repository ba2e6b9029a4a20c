/* The test harness itself under MPI: ranks see each other and agree. */
#include "blackout.h"
#include "testutil.h"

START_TEST(test_ranks_agree)
{
  PetscMPIInt rank, size;
  int         sum = 0, one = 1;
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, PETSC_COMM_WORLD);
  ck_assert(BOTestAllRanks(sum == size));
  ck_assert(!BOTestAllRanks(rank != 0)); /* false on rank 0 makes it false everywhere */
}
END_TEST

Suite *suite_harness(void)
{
  Suite *s  = suite_create("harness");
  TCase *tc = tcase_create("mpi");
  tcase_add_test(tc, test_ranks_agree);
  suite_add_tcase(s, tc);
  return s;
}
