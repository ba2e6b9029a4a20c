/* BOWriter -> BODataset round trips and minibatches on 1, 2 and 3 ranks.
 * Every rank checks its part against a rank-count-free reference, so the
 * runs on different rank counts see identical global data and batches. */
#include <string.h>
#include "bo_dataset.h"
#include "bo_io.h"
#include "bo_rng.h"
#include "testutil.h"

/* The reference value of element e of sample n. */
static float ref_value(PetscInt n, PetscInt e, PetscInt mod) { return (float)((n * 131 + e * 7) % mod); }

/* Write N samples of shape with values ref_value(.,., mod) and labels n % 3,
 * each rank its shard, in two rounds (the second may be empty on some ranks). */
static PetscErrorCode write_file(const char *path, PetscInt N, PetscInt ndim, const PetscInt shape[], PetscInt mod,
                                 BODType type, PetscInt deflate)
{
  PetscMPIInt rank, size;
  PetscInt    first, n, D = 1;
  BOWriter    w;
  float      *x;
  PetscInt   *lab;

  PetscFunctionBegin;
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  for (PetscInt i = 0; i < ndim; i++) D *= shape[i];
  BODatasetShard(N, size, rank, &first, &n);
  PetscCall(PetscMalloc2(n * D + 1, &x, n + 1, &lab));
  for (PetscInt s = 0; s < n; s++) {
    lab[s] = (first + s) % 3;
    for (PetscInt e = 0; e < D; e++) x[s * D + e] = ref_value(first + s, e, mod);
  }
  PetscCall(BOWriterCreate(PETSC_COMM_WORLD, path, "counts", N, ndim, shape, &w));
  PetscCall(BOWriterSetMaxCount(w, mod - 1));
  if (type != BO_DTYPE_AUTO) PetscCall(BOWriterSetType(w, type));
  PetscCall(BOWriterSetDeflate(w, deflate));
  PetscCall(BOWriterSetLabels(w, PETSC_TRUE));
  PetscCall(BOWriterSetAttributeInt(w, "seed", 42));
  PetscCall(BOWriterWrite(w, first, n / 2, x));
  PetscCall(BOWriterWrite(w, first + n / 2, n - n / 2, x + (n / 2) * D));
  PetscCall(BOWriterWriteLabels(w, first, n, lab));
  PetscCall(BOWriterClose(w));
  PetscCall(BOWriterDestroy(&w));
  PetscCall(PetscFree2(x, lab));
  PetscFunctionReturn(0);
}

/* Open and check every element of this rank's shard. */
static int check_read(const char *path, PetscInt N, PetscInt D, PetscInt mod, double chunk_mb)
{
  BODataset ds;
  int       ok = 1;

  ck_assert_int_eq(BODatasetCreate(PETSC_COMM_WORLD, &ds), 0);
  ck_assert_int_eq(BODatasetSetFile(ds, path, "counts"), 0);
  ds->chunk_mb = chunk_mb;
  ck_assert_int_eq(BODatasetOpen(ds), 0);
  ok = ok && ds->N == N && ds->D == D && ds->has_labels && ds->num_classes == 3 && ds->timestepping;
  {
    float vmax = 0;
    for (PetscInt n = 0; n < N; n++)
      for (PetscInt e = 0; e < D; e++) vmax = PetscMax(vmax, ref_value(n, e, mod));
    ok = ok && ds->max_count == (double)vmax;
  }
  if (!ds->streaming)
    for (PetscInt s = 0; s < ds->nlocal; s++) {
      ok = ok && ds->labels[s] == (ds->first + s) % 3;
      for (PetscInt e = 0; e < D; e++) ok = ok && ds->x[s * D + e] == ref_value(ds->first + s, e, mod);
    }
  BODatasetDestroy(&ds);
  return ok;
}

START_TEST(test_roundtrip_fields)
{
  char     path[PETSC_MAX_PATH_LEN];
  PetscInt shape[3] = {5, 4, 2};

  /* u16 (max 299), 7 samples: uneven shards on 2 and 3 ranks */
  BOTestPath("fields.h5", path, sizeof(path));
  ck_assert_int_eq(write_file(path, 7, 3, shape, 300, BO_DTYPE_AUTO, 0), 0);
  ck_assert(BOTestAllRanks(check_read(path, 7, 40, 300, 0)));
  {
    /* the smallest type that holds the counts was chosen */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d = H5Dopen2(f, "counts", H5P_DEFAULT), t = H5Dget_type(d);
    ck_assert(H5Tequal(t, H5T_STD_U16LE) > 0);
    H5Tclose(t), H5Dclose(d), H5Fclose(f);
  }
  /* compressed (collective transfers), u8, 3-D fields */
  BOTestPath("fields_z.h5", path, sizeof(path));
  ck_assert_int_eq(write_file(path, 5, 2, shape, 200, BO_DTYPE_AUTO, 4), 0);
  ck_assert(BOTestAllRanks(check_read(path, 5, 20, 200, 0)));
}
END_TEST

START_TEST(test_roundtrip_vectors)
{
  char     path[PETSC_MAX_PATH_LEN];
  PetscInt G = 6;

  BOTestPath("vec.h5", path, sizeof(path));
  ck_assert_int_eq(write_file(path, 9, 1, &G, 70000, BO_DTYPE_F32, 1), 0);
  ck_assert(BOTestAllRanks(check_read(path, 9, 6, 70000, 0)));
  /* streaming: windows of 2 blocks of 1 sample; scanning validates the whole file */
  ck_assert(BOTestAllRanks(check_read(path, 9, 6, 70000, 2 * 6 * 4 / 1048576.0)));
}
END_TEST

/* Reference minibatch sequence in one process, compared with what each rank
 * returns: the owned members of the global batch, in batch order. */
static int check_minibatches(BODataset ds, PetscInt mod, PetscInt B, PetscInt steps)
{
  PetscInt  N = ds->N, D = ds->D, *perm, *gidx, *lab, nloc, owned;
  PetscInt *tmp = NULL;
  float    *x;
  int       ok   = 1;
  uint64_t  seed = 1234;

  PetscMalloc3(N, &perm, B, &gidx, B, &lab);
  PetscMalloc1((size_t)B * D, &x);
  PetscMalloc1(N, &tmp);
  for (PetscInt step = 0; step < steps; step++) {
    PetscInt m = 0, total;
    ok         = ok && BODatasetGetMinibatch(ds, seed, step, B, &nloc, gidx, x, lab) == 0;
    for (PetscInt j = 0; j < B; j++) {
      PetscInt64 p = (PetscInt64)step * B + j;
      BOShufflePermutation(seed, p / N, N, ds->streaming ? ds->block : 0, ds->shuffle_window, perm, NULL);
      BODatasetEpochPermutation(ds, seed, p / N, tmp);
      ok         = ok && !memcmp(tmp, perm, sizeof(PetscInt) * N);
      PetscInt g = perm[p % N];
      if (g < ds->first || g >= ds->first + ds->nlocal) continue;
      ok = ok && m < nloc && gidx[m] == g && lab[m] == g % 3;
      for (PetscInt e = 0; ok && e < D; e++) ok = ok && x[m * D + e] == ref_value(g, e, mod);
      m++;
    }
    ok    = ok && m == nloc;
    owned = nloc;
    MPI_Allreduce(&owned, &total, 1, MPIU_INT, MPI_SUM, PETSC_COMM_WORLD);
    ok = ok && total == B;
  }
  PetscFree3(perm, gidx, lab);
  PetscFree(x);
  PetscFree(tmp);
  return ok;
}

START_TEST(test_minibatch_independent_of_ranks)
{
  char      path[PETSC_MAX_PATH_LEN];
  PetscInt  G = 3;
  BODataset ds;

  BOTestPath("mb.h5", path, sizeof(path));
  ck_assert_int_eq(write_file(path, 11, 1, &G, 50, BO_DTYPE_AUTO, 0), 0);
  /* loaded shard; B = 4 and B = 13 (> N: a batch spans several epochs) */
  ck_assert_int_eq(BODatasetCreate(PETSC_COMM_WORLD, &ds), 0);
  ck_assert_int_eq(BODatasetSetFile(ds, path, NULL), 0);
  ck_assert_int_eq(BODatasetOpen(ds), 0);
  ck_assert(BOTestAllRanks(check_minibatches(ds, 50, 4, 10)));
  ck_assert(BOTestAllRanks(check_minibatches(ds, 50, 3, 9)));
  BODatasetDestroy(&ds);
  /* streaming: 4 rows per chunk -> windows of 2 blocks of 2 samples */
  ck_assert_int_eq(BODatasetCreate(PETSC_COMM_WORLD, &ds), 0);
  ck_assert_int_eq(BODatasetSetFile(ds, path, NULL), 0);
  ds->chunk_mb = 4 * 3 * 4 / 1048576.0, ds->shuffle_window = 2;
  ck_assert_int_eq(BODatasetOpen(ds), 0);
  ck_assert(ds->streaming && ds->block == 2);
  ck_assert(BOTestAllRanks(check_minibatches(ds, 50, 4, 12)));
  BODatasetDestroy(&ds);
}
END_TEST

START_TEST(test_shuffle_is_a_permutation)
{
  /* every block/window setting gives a permutation, and blocks stay whole
   * inside their window */
  const PetscInt N = 23;
  PetscInt       perm[23], seen[23];
  PetscInt64     ws[30];
  for (PetscInt block = 0; block <= 5; block++) {
    ck_assert_int_eq(BOShufflePermutation(7, 3, N, block, 2, perm, ws), 0);
    memset(seen, 0, sizeof(seen));
    for (PetscInt i = 0; i < N; i++) seen[perm[i]]++;
    for (PetscInt i = 0; i < N; i++) ck_assert_int_eq(seen[i], 1);
    if (block > 0) /* window w holds whole blocks: its samples' blocks number at most 2 */
      for (PetscInt w = 0; ws[w] < N; w++) {
        PetscInt b0 = -1, b1 = -1;
        for (PetscInt64 p = ws[w]; p < ws[w + 1]; p++) {
          PetscInt b = perm[p] / block;
          if (b0 < 0 || b == b0) b0 = b;
          else if (b1 < 0 || b == b1) b1 = b;
          else ck_abort_msg("window %d holds a third block", (int)w);
        }
      }
  }
  /* another epoch gives another order */
  {
    PetscInt a[23], b[23];
    BOShufflePermutation(7, 0, N, 0, 1, a, NULL);
    BOShufflePermutation(7, 1, N, 0, 1, b, NULL);
    ck_assert(memcmp(a, b, sizeof(a)));
  }
}
END_TEST

/* A small AnnData-style CSR file written serially by rank 0. */
static void write_csr(const char *path, PetscInt N, PetscInt G)
{
  PetscMPIInt rank;
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  if (rank == 0) {
    int64_t indptr[64], indices[512], shape[2] = {N, G};
    int32_t data[512];
    hsize_t nnz = 0, n1 = (hsize_t)N + 1, two = 2;
    indptr[0] = 0;
    for (PetscInt r = 0; r < N; r++) {
      for (PetscInt c = 0; c < G; c++)
        if ((r + c) % 3 == 0) indices[nnz] = c, data[nnz] = (int32_t)(r * 10 + c + 1), nnz++;
      indptr[r + 1] = (int64_t)nnz;
    }
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "X", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t s = H5Screate_simple(1, &nnz, NULL), d;
    d       = H5Dcreate2(g, "data", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), H5Dclose(d);
    d = H5Dcreate2(g, "indices", H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, indices), H5Dclose(d), H5Sclose(s);
    s = H5Screate_simple(1, &n1, NULL);
    d = H5Dcreate2(g, "indptr", H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, indptr), H5Dclose(d), H5Sclose(s);
    s       = H5Screate_simple(1, &two, NULL);
    hid_t a = H5Acreate2(g, "shape", H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT64, shape), H5Aclose(a), H5Sclose(s);
    H5Gclose(g), H5Fclose(f);
  }
  MPI_Barrier(PETSC_COMM_WORLD);
}

START_TEST(test_csr)
{
  char      path[PETSC_MAX_PATH_LEN];
  BODataset ds;
  int       ok;

  BOTestPath("csr.h5", path, sizeof(path));
  write_csr(path, 8, 5);
  ck_assert_int_eq(BODatasetCreate(PETSC_COMM_WORLD, &ds), 0);
  ck_assert_int_eq(BODatasetSetFile(ds, path, "counts"), 0); /* falls back to X */
  ck_assert_int_eq(BODatasetOpen(ds), 0);
  ok = ds->is_sparse && ds->N == 8 && ds->G == 5 && !ds->is_field && ds->max_count == 73; /* row 7, column 2 */
  for (PetscInt s = 0; s < ds->nlocal; s++)
    for (PetscInt c = 0; c < 5; c++) {
      PetscInt r = ds->first + s;
      ok         = ok && ds->x[s * 5 + c] == ((r + c) % 3 == 0 ? (float)(r * 10 + c + 1) : 0.0f);
    }
  ck_assert(BOTestAllRanks(ok));
  BODatasetDestroy(&ds);

  /* streaming a CSR matrix: windows of 2 blocks of 1 row; every batch member
   * carries its row's values */
  ck_assert_int_eq(BODatasetCreate(PETSC_COMM_WORLD, &ds), 0);
  ck_assert_int_eq(BODatasetSetFile(ds, path, "X"), 0);
  ds->chunk_mb = 2 * 5 * 4 / 1048576.0, ds->shuffle_window = 2;
  ck_assert_int_eq(BODatasetOpen(ds), 0);
  ck_assert(ds->streaming && ds->block == 1 && ds->max_count == 73);
  {
    PetscInt gidx[3], lab[3], n, total = 0, perm[8];
    float    x[15];
    ok = 1;
    for (PetscInt step = 0; step < 8; step++) {
      ok = ok && BODatasetGetMinibatch(ds, 99, step, 3, &n, gidx, x, lab) == 0;
      for (PetscInt m = 0; m < n; m++)
        for (PetscInt c = 0; c < 5; c++)
          ok = ok && x[m * 5 + c] == ((gidx[m] + c) % 3 == 0 ? (float)(gidx[m] * 10 + c + 1) : 0.0f);
      total += n;
    }
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPIU_INT, MPI_SUM, PETSC_COMM_WORLD);
    ck_assert(BOTestAllRanks(ok && total == 24));
    /* the batches of 3 epochs cover every row 3 times */
    BODatasetEpochPermutation(ds, 99, 1, perm);
    for (PetscInt i = 0, seen = 0; i < 8; i++, seen = 0) {
      for (PetscInt j = 0; j < 8; j++) seen += perm[j] == i;
      ck_assert_int_eq(seen, 1);
    }
  }
  BODatasetDestroy(&ds);
}
END_TEST

START_TEST(test_fewer_samples_than_ranks)
{
  char           path[PETSC_MAX_PATH_LEN];
  PetscInt       G = 2;
  PetscMPIInt    size;
  BODataset      ds;
  PetscErrorCode ierr;

  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  BOTestPath("one.h5", path, sizeof(path));
  ck_assert_int_eq(write_file(path, 1, 1, &G, 5, BO_DTYPE_AUTO, 0), 0);
  BODatasetCreate(PETSC_COMM_WORLD, &ds);
  BODatasetSetFile(ds, path, NULL);
  ierr = BOTestExpectError(BODatasetOpen(ds));
  ck_assert(BOTestAllRanks(size == 1 ? ierr == 0 : ierr != 0)); /* raised collectively: no rank hangs */
  BODatasetDestroy(&ds);
}
END_TEST

Suite *suite_dataset(void)
{
  Suite *s  = suite_create("dataset");
  TCase *tc = tcase_create("roundtrip");
  tcase_add_test(tc, test_roundtrip_fields);
  tcase_add_test(tc, test_roundtrip_vectors);
  tcase_add_test(tc, test_minibatch_independent_of_ranks);
  tcase_add_test(tc, test_shuffle_is_a_permutation);
  tcase_add_test(tc, test_csr);
  tcase_add_test(tc, test_fewer_samples_than_ranks);
  suite_add_tcase(s, tc);
  return s;
}
