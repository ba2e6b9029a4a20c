/* Conditioning data (params and inputs beside counts): BOWriter ->
 * BODataset round trips on any rank count, the minibatch interface, and
 * every validation error with its message. */
#include <math.h>
#include <string.h>
#include <unistd.h>
#include "bo_dataset.h"
#include "bo_h5.h"
#include "bo_io.h"
#include "testutil.h"

#define NY 3
#define NX 4

static double ref_param(PetscInt n, PetscInt j) { return 0.5 * n - 1.25 * j; }
static float  ref_input(PetscInt n, PetscInt e) { return (float)(n * 100 + e) * 0.01f - 1.0f; }

/* N fields of NY x NX with P params named names and Ci input components,
 * each rank writing its shard. */
static PetscErrorCode write_file(const char *path, PetscInt N, PetscInt P, const char *names, PetscInt Ci)
{
  PetscMPIInt rank, size;
  PetscInt    first, n, shape[2] = {NY, NX}, Di = NY * NX * Ci;
  BOWriter    w;
  float      *x, *in;
  double     *par;

  PetscFunctionBegin;
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  BODatasetShard(N, size, rank, &first, &n);
  PetscCall(PetscCalloc3(n * NY * NX + 1, &x, n * P + 1, &par, n * Di + 1, &in));
  for (PetscInt s = 0; s < n; s++) {
    x[s * NY * NX] = (float)(first + s);
    for (PetscInt j = 0; j < P; j++) par[s * P + j] = ref_param(first + s, j);
    for (PetscInt e = 0; e < Di; e++) in[s * Di + e] = ref_input(first + s, e);
  }
  PetscCall(BOWriterCreate(PETSC_COMM_WORLD, path, "counts", N, 2, shape, &w));
  PetscCall(BOWriterSetMaxCount(w, 255));
  if (P) PetscCall(BOWriterSetParams(w, P, names));
  if (Ci) PetscCall(BOWriterSetInputs(w, Ci));
  PetscCall(BOWriterWrite(w, first, n, x));
  if (P) PetscCall(BOWriterWriteParams(w, first, n, par));
  if (Ci) PetscCall(BOWriterWriteInputs(w, first, n, in));
  PetscCall(BOWriterClose(w));
  PetscCall(BOWriterDestroy(&w));
  PetscCall(PetscFree3(x, par, in));
  PetscFunctionReturn(0);
}

START_TEST(test_round_trip)
{
  char      path[PETSC_MAX_PATH_LEN];
  BODataset ds;
  int       ok = 1;

  for (PetscInt Ci = 1; Ci <= 2; Ci++) {
    const PetscInt Di = NY * NX * Ci;
    BOTestOK(write_file(BOTestPath("cond.h5", path, sizeof(path)), 7, 3, "corr_len,mean_logk,rate", Ci));
    BOTestOK(BODatasetCreate(PETSC_COMM_WORLD, &ds));
    BOTestOK(BODatasetSetFile(ds, path, NULL));
    BOTestOK(BODatasetOpen(ds));
    ck_assert(ds->has_params && ds->P == 3 && ds->has_inputs && ds->Ci == Ci);
    ck_assert_str_eq(ds->param_names, "corr_len,mean_logk,rate");
    ck_assert(ds->inputs == NULL); /* loaded on request only */
    for (PetscInt s = 0; s < ds->nlocal; s++)
      for (PetscInt j = 0; j < 3; j++) ok = ok && ds->params[s * 3 + j] == ref_param(ds->first + s, j);
    BOTestOK(BODatasetLoadInputs(ds));
    for (PetscInt s = 0; s < ds->nlocal; s++)
      for (PetscInt e = 0; e < Di; e++) ok = ok && ds->inputs[s * Di + e] == ref_input(ds->first + s, e);
    /* a minibatch's conditions, by the batch's global indices */
    {
      PetscInt gidx[7], nb;
      float    x[7 * NY * NX], in[7 * NY * NX * 2];
      double   par[7 * 3];
      BOTestOK(BODatasetGetMinibatch(ds, 5, 1, 4, &nb, gidx, x, NULL));
      BOTestOK(BODatasetGetConditions(ds, nb, gidx, par, in));
      for (PetscInt b = 0; b < nb; b++) {
        ok = ok && x[b * NY * NX] == (float)gidx[b];
        for (PetscInt j = 0; j < 3; j++) ok = ok && par[b * 3 + j] == ref_param(gidx[b], j);
        for (PetscInt e = 0; e < Di; e++) ok = ok && in[b * Di + e] == ref_input(gidx[b], e);
      }
    }
    BOTestOK(BODatasetDestroy(&ds));
  }
  ck_assert_msg(BOTestAllRanks(ok), "params or inputs read back differ from those written");
}
END_TEST

/* Streamed inputs (-data_chunk_mb): BODatasetUseInputs reads the inputs with
 * each window of counts instead of loading the shard. 11 members in windows
 * of 2 blocks of 2 (4 rows), batches of 5 (they cross windows and epochs)
 * and one of 13 > N (members twice): every member's inputs are those
 * written, the same bits as from the loaded shard, ds->inputs stays NULL,
 * and the per-member sums are those of the loaded shard, bit for bit. A
 * member outside the last minibatch is refused. */
static BODataset open_cond(const char *path, double chunk_mb)
{
  BODataset ds;
  BOTestOK(BODatasetCreate(PETSC_COMM_WORLD, &ds));
  BOTestOK(BODatasetSetFile(ds, path, NULL));
  ds->chunk_mb = chunk_mb, ds->shuffle_window = 2;
  BOTestOK(BODatasetOpen(ds));
  return ds;
}

START_TEST(test_streamed_inputs)
{
  enum { N = 11, D = NY * NX };
  char path[PETSC_MAX_PATH_LEN];
  int  ok = 1;

  for (PetscInt Ci = 1; Ci <= 2; Ci++) {
    const PetscInt Di = D * Ci;
    BOTestOK(write_file(BOTestPath("cond_stream.h5", path, sizeof(path)), N, 2, "a,b", Ci));
    BODataset str = open_cond(path, 4.0 * D * 4 / 1048576.0), whole = open_cond(path, 0);
    ck_assert(str->streaming && str->rows_per_chunk == 4 && str->block == 2 && !whole->streaming);
    BOTestOK(BODatasetUseInputs(str));
    BOTestOK(BODatasetUseInputs(whole));
    ck_assert(str->inputs == NULL && str->stream_inputs && whole->inputs != NULL && !whole->stream_inputs);
    ok = ok && !memcmp(str->input_sums, whole->input_sums, sizeof(double) * 2 * Ci * str->nlocal);
    for (PetscInt l = 0; l < str->nlocal; l++) { /* the sums themselves */
      double s = 0;
      for (PetscInt e = 0; e < Di; e += Ci) s += ref_input(str->first + l, e);
      ok = ok && str->input_sums[2 * Ci * l] == s;
    }
    for (PetscInt step = 0; step < 12; step++) {
      const PetscInt B = step == 11 ? 13 : 5;
      PetscInt       gidx[13], nb;
      float          x[13 * D], in[13 * D * 2], in_whole[13 * D * 2];
      double         par[13 * 2];
      BOTestOK(BODatasetGetMinibatch(str, 3, step, B, &nb, gidx, x, NULL));
      BOTestOK(BODatasetGetConditions(str, nb, gidx, par, in));
      BOTestOK(BODatasetGetConditions(whole, nb, gidx, NULL, in_whole));
      ok = ok && !memcmp(in, in_whole, sizeof(float) * nb * Di);
      for (PetscInt b = 0; b < nb; b++) {
        ok = ok && x[b * D] == (float)gidx[b] && par[b * 2 + 1] == ref_param(gidx[b], 1);
        for (PetscInt e = 0; e < Di; e++) ok = ok && in[b * Di + e] == ref_input(gidx[b], e);
      }
    }
    /* a batch of one: another member of the shard is not in it */
    {
      PetscInt gidx[1], nb, other;
      float    x[D], in[D * 2];
      BOTestOK(BODatasetGetMinibatch(str, 3, 0, 1, &nb, gidx, x, NULL));
      other = nb && gidx[0] == str->first ? str->first + 1 : str->first;
      if (other < str->first + str->nlocal)
        BOTestExpectErrorMessage(BODatasetGetConditions(str, 1, &other, NULL, in), "is not in the last minibatch");
    }
    BOTestOK(BODatasetDestroy(&str));
    BOTestOK(BODatasetDestroy(&whole));
  }
  ck_assert_msg(BOTestAllRanks(ok), "streamed inputs differ from those written or from the loaded shard's");
}
END_TEST

/* Without names the writer gives p0,p1,...; without params or inputs the
 * dataset says so and holds none. */
START_TEST(test_defaults_and_absence)
{
  char      path[PETSC_MAX_PATH_LEN];
  BODataset ds;

  BOTestOK(write_file(BOTestPath("cond_def.h5", path, sizeof(path)), 4, 2, NULL, 0));
  BOTestOK(BODatasetCreate(PETSC_COMM_WORLD, &ds));
  BOTestOK(BODatasetSetFile(ds, path, NULL));
  BOTestOK(BODatasetOpen(ds));
  ck_assert(ds->has_params && !ds->has_inputs);
  ck_assert_str_eq(ds->param_names, "p0,p1");
  BOTestExpectErrorMessage(BODatasetLoadInputs(ds), "no inputs dataset");
  BOTestOK(BODatasetDestroy(&ds));
  BOTestOK(write_file(path, 4, 0, NULL, 0));
  BOTestOK(BODatasetCreate(PETSC_COMM_WORLD, &ds));
  BOTestOK(BODatasetSetFile(ds, path, NULL));
  BOTestOK(BODatasetOpen(ds));
  ck_assert(!ds->has_params && !ds->has_inputs && ds->params == NULL);
  BOTestOK(BODatasetDestroy(&ds));
}
END_TEST

/* Rank 0 replaces (or adds) dataset name of file path: nd axes dims, values
 * v (doubles), and, if names != NULL, its names attribute. */
static void put_dataset(const char *path, const char *name, int nd, const hsize_t *dims, const double *v,
                        const char *names)
{
  PetscMPIInt rank;
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  if (rank == 0) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert(f >= 0);
    if (H5Lexists(f, name, H5P_DEFAULT) > 0) H5Ldelete(f, name, H5P_DEFAULT);
    hid_t s = H5Screate_simple(nd, dims, NULL);
    hid_t d = H5Dcreate2(f, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    if (names) ck_assert(BOH5WriteAttrString(d, "names", names) == 0);
    H5Dclose(d), H5Sclose(s), H5Fclose(f);
  }
  MPI_Barrier(PETSC_COMM_WORLD);
}

static void expect_open_error(const char *path, const char *want)
{
  BODataset ds;
  BOTestOK(BODatasetCreate(PETSC_COMM_WORLD, &ds));
  BOTestOK(BODatasetSetFile(ds, path, NULL));
  BOTestExpectErrorMessage(BODatasetOpen(ds), want);
  BODatasetDestroy(&ds);
}

START_TEST(test_errors)
{
  char          path[PETSC_MAX_PATH_LEN];
  double        v[6 * NY * (NX + 1)] = {0}; /* the largest dataset below */
  const hsize_t p5[2] = {5, 2}, p6[2] = {6, 2}, i_grid[3] = {6, NY, NX + 1}, i_n[3] = {5, NY, NX}, p1[1] = {6};

  BOTestPath("cond_bad.h5", path, sizeof(path));
  BOTestOK(write_file(path, 6, 0, NULL, 0));
  /* N mismatch with counts */
  put_dataset(path, "params", 2, p5, v, "a,b");
  expect_open_error(path, "cond_bad.h5: dataset params has 5 rows but counts has 6 members");
  /* names count != P */
  put_dataset(path, "params", 2, p6, v, "a,b,c");
  expect_open_error(path, "dataset params: attribute names has 3 names (a,b,c) but params has P = 2 columns");
  put_dataset(path, "params", 2, p6, v, "a,");
  expect_open_error(path, "attribute names (a,) has an empty name");
  /* a params vector */
  put_dataset(path, "params", 1, p1, v, NULL);
  expect_open_error(path, "dataset params has 1 axes; expected (N, P)");
  /* NaN and infinity, named by (member, column) */
  v[2 * 4 + 1] = NAN;
  put_dataset(path, "params", 2, p6, v, "a,b");
  expect_open_error(path, "cond_bad.h5: dataset params: value at index (4, 1) is NaN");
  v[2 * 4 + 1] = 0, v[2 * 2] = INFINITY;
  put_dataset(path, "params", 2, p6, v, "a,b");
  expect_open_error(path, "dataset params: value at index (2, 0) is infinite");
  v[2 * 2] = 0;
  put_dataset(path, "params", 2, p6, v, "a,b");
  /* inputs off the counts' grid, or of another member count */
  put_dataset(path, "inputs", 3, i_grid, v, NULL);
  expect_open_error(path, "dataset inputs is on a 3 x 5 grid but counts on 3 x 4 (Ny x Nx)");
  put_dataset(path, "inputs", 3, i_n, v, NULL);
  expect_open_error(path, "dataset inputs has 5 members but counts has 6");
}
END_TEST

/* NaN in the values read: BODatasetReadInputs names the element. */
START_TEST(test_inputs_nan)
{
  char          path[PETSC_MAX_PATH_LEN];
  double        v[6 * NY * NX] = {0};
  const hsize_t dims[3]        = {6, NY, NX};
  BODataset     ds;

  BOTestPath("cond_nan.h5", path, sizeof(path));
  BOTestOK(write_file(path, 6, 1, "k", 0));
  v[5 * NY * NX + 1 * NX + 2] = NAN;
  put_dataset(path, "inputs", 3, dims, v, NULL);
  BOTestOK(BODatasetCreate(PETSC_COMM_WORLD, &ds));
  BOTestOK(BODatasetSetFile(ds, path, NULL));
  BOTestOK(BODatasetOpen(ds));
  BOTestExpectErrorMessage(BODatasetLoadInputs(ds), "dataset inputs: value at index (5, 1, 2) is NaN");
  BOTestOK(BODatasetDestroy(&ds));
  /* streamed: found when BODatasetUseInputs scans the shard, before any minibatch */
  ds = open_cond(path, 2.0 * NY * NX * 4 / 1048576.0);
  ck_assert(ds->streaming && ds->rows_per_chunk == 2);
  BOTestExpectErrorMessage(BODatasetUseInputs(ds), "dataset inputs: value at index (5, 1, 2) is NaN");
  BOTestOK(BODatasetDestroy(&ds));
}
END_TEST

/* The writer refuses what the reader would: names != P, NaN, inputs for vectors. */
START_TEST(test_writer_errors)
{
  char     path[PETSC_MAX_PATH_LEN];
  PetscInt G = 3, first, n;
  BOWriter w;
  double   par[2 * 8] = {0};
  float    x[3 * 8]   = {0};

  BOTestPath("cond_w.h5", path, sizeof(path));
  BOTestOK(BOWriterCreate(PETSC_COMM_WORLD, path, "counts", 4, 1, &G, &w));
  BOTestExpectErrorMessage(BOWriterSetParams(w, 2, "a"), "attribute names has 1 names (a) but params has P = 2");
  BOTestExpectErrorMessage(BOWriterSetInputs(w, 1), "inputs are fields on the counts' grid");
  BOTestOK(BOWriterSetParams(w, 2, "a,b"));
  {
    PetscMPIInt rank, size;
    MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
    MPI_Comm_size(PETSC_COMM_WORLD, &size);
    BODatasetShard(4, size, rank, &first, &n);
  }
  BOTestOK(BOWriterWrite(w, first, n, x));
  for (PetscInt s = 0; s < n; s++)
    if (first + s == 3) par[s * 2 + 1] = -INFINITY;
  BOTestExpectErrorMessage(BOWriterWriteParams(w, first, n, par),
                           "cond_w.h5: params: value at index (3, 1) is infinite");
  BOTestOK(BOWriterDestroy(&w)); /* not closed: nothing published */
  ck_assert(access(path, F_OK) != 0);
}
END_TEST

Suite *suite_conditions(void)
{
  Suite *s  = suite_create("conditions");
  TCase *tc = tcase_create("params_inputs");
  tcase_add_test(tc, test_round_trip);
  tcase_add_test(tc, test_streamed_inputs);
  tcase_add_test(tc, test_defaults_and_absence);
  tcase_add_test(tc, test_errors);
  tcase_add_test(tc, test_inputs_nan);
  tcase_add_test(tc, test_writer_errors);
  suite_add_tcase(s, tc);
  return s;
}
