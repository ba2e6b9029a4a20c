/* 3-D fields (issue #16, docs/DATA.md §1): BOWriter -> BODataset round trips
 * of (N, Nz, Ny, Nx[, C]) on 1, 2 and 3 ranks, the rule that makes a 4-D
 * dataset 2-D or 3-D (attribute Mz, -data_dims), every error of it, the
 * index of a bad value, the sidecar, -merge of 3-D shards, observed cells
 * of a 3-D member's shape, and the one refusal of code that is 2-D only. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "bo_dataset.h"
#include "bo_ensemble.h"
#include "bo_h5.h"
#include "bo_io.h"
#include "testutil.h"

static float ref_value(PetscInt n, PetscInt e, PetscInt mod) { return (float)((n * 131 + e * 7) % mod); }

/* N members of shape (Nz, Ny, Nx, C), each rank its shard, members numbered
 * from first_member (for shards of an ensemble: with bo_sample's provenance). */
static PetscErrorCode write3d(const char *path, PetscInt N, const PetscInt shape[4], PetscInt mod, PetscInt deflate,
                              PetscInt first_member)
{
  PetscMPIInt rank, size;
  PetscInt    first, n, D = shape[0] * shape[1] * shape[2] * shape[3];
  BOWriter    w;
  float      *x;
  double      origin[3] = {0.5, 1.5, 2.5}, spacing[3] = {0.25, 0.5, 2};

  PetscFunctionBegin;
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  BODatasetShard(N, size, rank, &first, &n);
  PetscCall(PetscMalloc1(n * D + 1, &x));
  for (PetscInt s = 0; s < n; s++)
    for (PetscInt e = 0; e < D; e++) x[s * D + e] = ref_value(first_member + first + s, e, mod);
  PetscCall(BOWriterCreate(PETSC_COMM_WORLD, path, "counts", N, 4, shape, &w));
  PetscCall(BOWriterSetMaxCount(w, mod - 1));
  PetscCall(BOWriterSetDeflate(w, deflate));
  PetscCall(BOWriterSetGrid(w, origin, spacing));
  {
    static const char *const keys[] = {"checkpoint_crc32", "sampler", "sample_grid", "totals", NULL};
    static const char *const ints[] = {"seed", "sample_steps", "micro_batch", "label", "observed_cells", NULL};
    for (int i = 0; keys[i]; i++) PetscCall(BOWriterSetAttributeString(w, keys[i], "t"));
    for (int i = 0; ints[i]; i++) PetscCall(BOWriterSetAttributeInt(w, ints[i], 1));
    PetscCall(BOWriterSetAttributeInt(w, "first_member", first_member));
  }
  PetscCall(BOWriterWrite(w, first, n / 2, x)); /* two rounds, the first empty on some ranks */
  PetscCall(BOWriterWrite(w, first + n / 2, n - n / 2, x + (n / 2) * D));
  PetscCall(BOWriterClose(w));
  PetscCall(BOWriterDestroy(&w));
  PetscCall(PetscFree(x));
  PetscFunctionReturn(0);
}

static BODataset open_ds(const char *path, PetscInt data_dims, double chunk_mb)
{
  BODataset ds;
  ck_assert_int_eq(BODatasetCreate(PETSC_COMM_WORLD, &ds), 0);
  ck_assert_int_eq(BODatasetSetFile(ds, path, "counts"), 0);
  ds->data_dims = data_dims, ds->chunk_mb = chunk_mb;
  return ds;
}

/* Every element of this rank's shard, and the shape. */
static int check_read(const char *path, PetscInt N, const PetscInt shape[4], PetscInt mod, double chunk_mb,
                      PetscInt first_member)
{
  BODataset ds = open_ds(path, 0, chunk_mb);
  PetscInt  D  = shape[0] * shape[1] * shape[2] * shape[3];
  int       ok;

  ck_assert_int_eq(BODatasetOpen(ds), 0);
  ok = ds->N == N && ds->D == D && ds->is_field && ds->is_3d && ds->ndim == 4 && ds->Nz == shape[0] &&
       ds->Ny == shape[1] && ds->Nx == shape[2] && ds->C == shape[3] && ds->timestepping;
  for (int i = 0; i < 4; i++) ok = ok && ds->shape[i] == shape[i];
  if (!ds->streaming)
    for (PetscInt s = 0; s < ds->nlocal; s++)
      for (PetscInt e = 0; e < D; e++) ok = ok && ds->x[s * D + e] == ref_value(first_member + ds->first + s, e, mod);
  {
    float *buf = malloc(sizeof(float) * (size_t)D * 2); /* any rows, read collectively */
    ck_assert_int_eq(BODatasetRead(ds, N - 2, 2, buf), 0);
    for (PetscInt e = 0; e < 2 * D; e++) ok = ok && buf[e] == ref_value(first_member + N - 2 + e / D, e % D, mod);
    free(buf);
  }
  BODatasetDestroy(&ds);
  return ok;
}

static long long attr_int(hid_t d, const char *name)
{
  int64_t v = -1;
  BOH5ReadAttrInt(d, name, &v);
  return (long long)v;
}

START_TEST(test_roundtrip_3d)
{
  char     path[PETSC_MAX_PATH_LEN];
  PetscInt one[4] = {4, 6, 5, 1}, two[4] = {3, 2, 5, 2};

  /* one component: (N, Nz, Ny, Nx), u16; 7 members: uneven shards */
  BOTestPath("f3.h5", path, sizeof(path));
  ck_assert_int_eq(write3d(path, 7, one, 300, 0, 0), 0);
  ck_assert(BOTestAllRanks(check_read(path, 7, one, 300, 0, 0)));
  /* streaming: windows of one member read by blocks */
  ck_assert(BOTestAllRanks(check_read(path, 7, one, 300, 2 * 120 * 4 / 1048576.0, 0)));
  {
    hid_t   f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d = H5Dopen2(f, "counts", H5P_DEFAULT);
    hid_t   sp = H5Dget_space(d), a;
    hsize_t dims[8];
    double  o[3], s[3];
    ck_assert_int_eq(H5Sget_simple_extent_dims(sp, dims, NULL), 4);
    ck_assert(dims[0] == 7 && dims[1] == 4 && dims[2] == 6 && dims[3] == 5);
    ck_assert(attr_int(d, "Mz") == 4 && attr_int(d, "My") == 6 && attr_int(d, "Mx") == 5 && attr_int(d, "dof") == 1);
    ck_assert(attr_int(d, "timestepping") == 1);
    a = H5Aopen(d, "origin", H5P_DEFAULT);
    H5Aread(a, H5T_NATIVE_DOUBLE, o), H5Aclose(a);
    a = H5Aopen(d, "spacing", H5P_DEFAULT);
    H5Aread(a, H5T_NATIVE_DOUBLE, s), H5Aclose(a);
    ck_assert(o[0] == 0.5 && o[1] == 1.5 && o[2] == 2.5 && s[0] == 0.25 && s[1] == 0.5 && s[2] == 2); /* x, y, z */
    H5Sclose(sp), H5Dclose(d), H5Fclose(f);
  }
  /* two components: (N, Nz, Ny, Nx, C), compressed, one member a chunk */
  BOTestPath("f3c.h5", path, sizeof(path));
  ck_assert_int_eq(write3d(path, 5, two, 200, 3, 0), 0);
  ck_assert(BOTestAllRanks(check_read(path, 5, two, 200, 0, 0)));
  {
    hid_t   f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d = H5Dopen2(f, "counts", H5P_DEFAULT);
    hid_t   sp = H5Dget_space(d), pl = H5Dget_create_plist(d);
    hsize_t dims[8], chunk[8];
    ck_assert_int_eq(H5Sget_simple_extent_dims(sp, dims, NULL), 5);
    ck_assert(dims[1] == 3 && dims[2] == 2 && dims[3] == 5 && dims[4] == 2);
    ck_assert_int_eq(H5Pget_chunk(pl, 8, chunk), 5);
    ck_assert(chunk[0] == 1 && chunk[1] == 3 && chunk[2] == 2 && chunk[3] == 5 && chunk[4] == 2);
    ck_assert(attr_int(d, "Mz") == 3 && attr_int(d, "dof") == 2);
    H5Pclose(pl), H5Sclose(sp), H5Dclose(d), H5Fclose(f);
  }
}
END_TEST

/* Rank 0 writes dataset counts of nd axes dims (values e % 5) and, with
 * mz_kind 1, the integer attribute Mz = mz (2: a string Mz). */
static void write_raw(const char *path, int nd, const hsize_t *dims, int mz_kind, long long mz)
{
  PetscMPIInt rank;
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  if (rank == 0) {
    hsize_t n = 1;
    for (int i = 0; i < nd; i++) n *= dims[i];
    unsigned char *v = malloc(n);
    for (hsize_t i = 0; i < n; i++) v[i] = (unsigned char)(i % 5);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), sp = H5Screate_simple(nd, dims, NULL);
    hid_t d = H5Dcreate2(f, "counts", H5T_STD_U8LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    if (mz_kind == 1) BOH5WriteAttrInt(d, "Mz", mz);
    if (mz_kind == 2) BOH5WriteAttrString(d, "Mz", "four");
    H5Dclose(d), H5Sclose(sp), H5Fclose(f);
    free(v);
  }
  MPI_Barrier(PETSC_COMM_WORLD);
}

/* Open with -data_dims dd: the fields' dimension and sizes. */
static void expect_shape(const char *path, PetscInt dd, PetscBool is_3d, PetscInt Nz, PetscInt Ny, PetscInt Nx,
                         PetscInt C)
{
  BODataset ds = open_ds(path, dd, 0);
  ck_assert_int_eq(BODatasetOpen(ds), 0);
  ck_assert(ds->is_field && ds->is_3d == is_3d && ds->Nz == Nz && ds->Ny == Ny && ds->Nx == Nx && ds->C == C);
  ck_assert(ds->ndim == (is_3d ? 4 : 3) && ds->D == Nz * Ny * Nx * C);
  BODatasetDestroy(&ds);
}

static void expect_error(const char *path, PetscInt dd, const char *want)
{
  BODataset ds = open_ds(path, dd, 0);
  BOTestExpectErrorMessage(BODatasetOpen(ds), want);
  BODatasetDestroy(&ds);
}

START_TEST(test_four_axes_ambiguity)
{
  char          path[PETSC_MAX_PATH_LEN];
  const hsize_t d4[4] = {3, 3, 4, 5}, d5[5] = {3, 3, 4, 5, 2}, d3[3] = {3, 4, 5};

  /* no Mz: today's meaning (N, Ny, Nx, C); -data_dims 3 reads (N, Nz, Ny, Nx) */
  write_raw(BOTestPath("a4.h5", path, sizeof(path)), 4, d4, 0, 0);
  expect_shape(path, 0, PETSC_FALSE, 1, 3, 4, 5);
  expect_shape(path, 2, PETSC_FALSE, 1, 3, 4, 5);
  expect_shape(path, 3, PETSC_TRUE, 3, 4, 5, 1);
  /* Mz equal to the second axis: 3-D; -data_dims 2 contradicts it */
  write_raw(BOTestPath("a4mz.h5", path, sizeof(path)), 4, d4, 1, 3);
  expect_shape(path, 0, PETSC_TRUE, 3, 4, 5, 1);
  expect_shape(path, 3, PETSC_TRUE, 3, 4, 5, 1);
  expect_error(path, 2,
               "a4mz.h5: dataset counts is a 3-D field (N, Nz, Ny, Nx) = (3, 3, 4, 5) by its attribute Mz, "
               "but -data_dims 2 asks for a 2-D one");
  /* Mz disagreeing with the shape */
  write_raw(BOTestPath("a4bad.h5", path, sizeof(path)), 4, d4, 1, 7);
  expect_error(
      path, 0,
      "a4bad.h5: dataset counts has attribute Mz = 7 but its second axis is 3: (N, Nz, Ny, Nx) = (3, 3, 4, 5)");
  expect_error(path, 3, "has attribute Mz = 7 but its second axis is 3");
  /* Mz = 1: a 2-D grid, as without it; -data_dims 3 contradicts it */
  write_raw(BOTestPath("a4one.h5", path, sizeof(path)), 4, d4, 1, 1);
  expect_shape(path, 0, PETSC_FALSE, 1, 3, 4, 5);
  expect_error(path, 3, "has attribute Mz = 1 (a 2-D grid (N, Ny, Nx, C)), but -data_dims 3 asks for a 3-D one");
  /* Mz that is not an integer */
  write_raw(BOTestPath("a4str.h5", path, sizeof(path)), 4, d4, 2, 0);
  expect_error(path, 0, "a4str.h5: dataset counts has an attribute Mz that is not one integer");
  /* 5 axes: always 3-D with C components; Mz must agree */
  write_raw(BOTestPath("a5.h5", path, sizeof(path)), 5, d5, 0, 0);
  expect_shape(path, 0, PETSC_TRUE, 3, 4, 5, 2);
  expect_shape(path, 3, PETSC_TRUE, 3, 4, 5, 2);
  expect_error(path, 2, "a5.h5: dataset counts is a 3-D field (N, Nz, Ny, Nx, C) = (3, 3, 4, 5, 2), but -data_dims 2");
  write_raw(BOTestPath("a5bad.h5", path, sizeof(path)), 5, d5, 1, 4);
  expect_error(path, 0, "has attribute Mz = 4 but its second axis is 3: (N, Nz, Ny, Nx, C) = (3, 3, 4, 5, 2)");
  /* 3 axes: 2-D; no z axis for Mz or -data_dims 3 */
  write_raw(BOTestPath("a3.h5", path, sizeof(path)), 3, d3, 1, 4);
  expect_error(path, 0, "a3.h5: dataset counts has attribute Mz = 4 but 3 axes (N, Ny, Nx): no z axis");
  write_raw(BOTestPath("a3ok.h5", path, sizeof(path)), 3, d3, 0, 0);
  expect_shape(path, 0, PETSC_FALSE, 1, 4, 5, 1);
  expect_error(path, 3, "a3ok.h5: dataset counts has 3 axes, but -data_dims 3 needs a 3-D field");
}
END_TEST

START_TEST(test_bad_value_index_3d)
{
  char        path[PETSC_MAX_PATH_LEN];
  PetscMPIInt rank;
  PetscInt    one[4] = {2, 3, 4, 1}, two[4] = {2, 3, 4, 2};

  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  /* element 7 of member 0 is the first above 48: z 0, y 1, x 3 (or y 0, x 3, component 1) */
  BOTestPath("bad3.h5", path, sizeof(path));
  ck_assert_int_eq(write3d(path, 3, one, 50, 0, 0), 0);
  {
    BODataset ds        = open_ds(path, 0, 0);
    ds->max_count_limit = 48; /* the values reach 49 */
    BOTestExpectErrorMessage(BODatasetOpen(ds), "bad3.h5: dataset counts: value at index (0, 0, 1, 3) is above");
    BODatasetDestroy(&ds);
  }
  BOTestPath("bad3c.h5", path, sizeof(path));
  ck_assert_int_eq(write3d(path, 3, two, 50, 0, 0), 0);
  {
    BODataset ds        = open_ds(path, 0, 0);
    ds->max_count_limit = 48;
    BOTestExpectErrorMessage(BODatasetOpen(ds), "bad3c.h5: dataset counts: value at index (0, 0, 0, 3, 1) is above");
    BODatasetDestroy(&ds);
  }
}
END_TEST

START_TEST(test_sidecar_3d)
{
  char        path[PETSC_MAX_PATH_LEN], xmf[PETSC_MAX_PATH_LEN], text[1 << 14] = "";
  PetscInt    two[4] = {4, 6, 5, 2};
  PetscMPIInt rank;

  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  BOTestPath("side3.h5", path, sizeof(path));
  ck_assert_int_eq(write3d(path, 3, two, 90, 0, 0), 0);
  if (rank == 0) {
    FILE *f;
    BOXDMFPath(path, xmf, sizeof(xmf));
    ck_assert((f = fopen(xmf, "r")) != NULL);
    text[fread(text, 1, sizeof(text) - 1, f)] = 0;
    fclose(f);
    /* node counts z, y, x; origin and spacing z, y, x; member 2, component 1 of the 5-D dataset */
    ck_assert(strstr(text, "TopologyType=\"3DCoRectMesh\" Dimensions=\"5 7 6\""));
    ck_assert(strstr(text, "GeometryType=\"ORIGIN_DXDYDZ\""));
    ck_assert(strstr(text, "Dimensions=\"3\">2.5 1.5 0.5</DataItem>"));
    ck_assert(strstr(text, "Dimensions=\"3\">2 0.5 0.25</DataItem>"));
    ck_assert(strstr(text, "Dimensions=\"3 4 6 5 2\">side3.h5:/counts"));
    ck_assert(strstr(text,
                     "<Attribute Name=\"counts_1\" Center=\"Cell\"><DataItem ItemType=\"HyperSlab\" "
                     "Dimensions=\"4 6 5\"><DataItem Dimensions=\"3 5\" Format=\"XML\">2 0 0 0 1 1 1 1 1 1 1 4 6 5 "
                     "1</DataItem>"));
  }
}
END_TEST

START_TEST(test_merge_3d)
{
  char     a[PETSC_MAX_PATH_LEN], b[PETSC_MAX_PATH_LEN], c[PETSC_MAX_PATH_LEN], out[PETSC_MAX_PATH_LEN];
  char     list[3 * PETSC_MAX_PATH_LEN + 8];
  PetscInt shape[4] = {2, 3, 4, 2}, other[4] = {2, 4, 3, 2};

  /* members 3..5 and 0..2 of one ensemble (given out of order) */
  ck_assert_int_eq(write3d(BOTestPath("m_b.h5", b, sizeof(b)), 3, shape, 97, 0, 3), 0);
  ck_assert_int_eq(write3d(BOTestPath("m_a.h5", a, sizeof(a)), 3, shape, 97, 0, 0), 0);
  snprintf(list, sizeof(list), "%s,%s", b, a);
  BOTestOK(BOMergeEnsembles(PETSC_COMM_WORLD, list, BOTestPath("m.h5", out, sizeof(out))));
  ck_assert(BOTestAllRanks(check_read(out, 6, shape, 97, 0, 0)));
  /* a shard of another member shape (the same number of elements) */
  ck_assert_int_eq(write3d(BOTestPath("m_c.h5", c, sizeof(c)), 3, other, 97, 0, 3), 0);
  snprintf(list, sizeof(list), "%s,%s", a, c);
  BOTestExpectErrorMessage(BOMergeEnsembles(PETSC_COMM_WORLD, list, BOTestPath("m2.h5", out, sizeof(out))),
                           "m_c.h5 holds members of 2 x 4 x 3 x 2 (Nz x Ny x Nx x C), the first shard");
}
END_TEST

/* inputs (N, Nz, Ny, Nx[, Ci]) beside 3-D counts, with Mz (one shard per
 * rank); values on every rank's shard as written, a NaN named by its 3-D
 * index. */
static void write_inputs3d(const char *path, const PetscInt shape[4], PetscInt Ci, PetscBool with_nan)
{
  const PetscInt N = 3, D = shape[0] * shape[1] * shape[2], Di = D * Ci;
  PetscMPIInt    rank, size;
  PetscInt       first, n;
  float          x[3 * 24] = {0}, in[3 * 24 * 2];
  BOWriter       w;

  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  BODatasetShard(N, size, rank, &first, &n);
  for (PetscInt e = 0; e < n * Di; e++) in[e] = (float)(0.5 * (first * Di + e));
  if (with_nan && first <= 2 && 2 < first + n) in[(2 - first) * Di + 5 * Ci + Ci - 1] = NAN; /* member 2, (0, 1, 1) */
  BOTestOK(BOWriterCreate(PETSC_COMM_WORLD, path, "counts", N, 4, shape, &w));
  BOTestOK(BOWriterSetInputs(w, Ci));
  BOTestOK(BOWriterWrite(w, first, n, x));
  if (with_nan) {
    BOTestExpectErrorMessage(BOWriterWriteInputs(w, first, n, in), Ci > 1
                                                                       ? "inputs: value at index (2, 0, 1, 1, 1) is NaN"
                                                                       : "inputs: value at index (2, 0, 1, 1) is NaN");
    BOTestOK(BOWriterDestroy(&w));
    return;
  }
  BOTestOK(BOWriterWriteInputs(w, first, n, in));
  BOTestOK(BOWriterClose(w));
  BOTestOK(BOWriterDestroy(&w));
}

START_TEST(test_inputs_3d)
{
  char     path[PETSC_MAX_PATH_LEN];
  PetscInt shape[4] = {2, 3, 4, 1};

  /* the writer: (N, Nz, Ny, Nx) for Ci = 1, (N, Nz, Ny, Nx, Ci) else, Mz like the counts */
  for (PetscInt Ci = 1; Ci <= 2; Ci++) {
    PetscMPIInt rank;
    int         ok = 1;
    write_inputs3d(BOTestPath("in3.h5", path, sizeof(path)), shape, Ci, PETSC_FALSE);
    MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
    if (rank == 0) { /* checked on rank 0, asserted on all (no rank waits for a failed one) */
      hid_t   f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d = H5Dopen2(f, "inputs", H5P_DEFAULT);
      hid_t   sp      = H5Dget_space(d);
      hsize_t dims[5] = {0};
      int     nd      = H5Sget_simple_extent_ndims(sp);
      int64_t mz      = 0;
      float   v[3 * 24 * 2];
      H5Sget_simple_extent_dims(sp, dims, NULL);
      ok = nd == (Ci > 1 ? 5 : 4) && dims[0] == 3 && dims[1] == 2 && dims[2] == 3 && dims[3] == 4 &&
           (Ci == 1 || dims[4] == 2);
      ok = ok && BOTestExpectError(BOH5ReadAttrInt(d, "Mz", &mz)) == 0 && mz == 2;
      ok = ok && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
      for (PetscInt e = 0; ok && e < 3 * 24 * Ci; e++) ok = v[e] == (float)(0.5 * e);
      H5Sclose(sp), H5Dclose(d), H5Fclose(f);
    }
    ck_assert_msg(BOTestAllRanks(ok), "inputs beside 3-D counts with Ci = %d: wrong shape, Mz or values", (int)Ci);
    write_inputs3d(BOTestPath("nan3.h5", path, sizeof(path)), shape, Ci, PETSC_TRUE);
  }
  /* the reader: every rank's shard of inputs, member k's element e = 0.5 (k Di + e) */
  for (PetscInt Ci = 1; Ci <= 2; Ci++) {
    BODataset ds;
    int       ok;
    write_inputs3d(BOTestPath("in3.h5", path, sizeof(path)), shape, Ci, PETSC_FALSE);
    ds = open_ds(path, 0, 0);
    BOTestOK(BODatasetOpen(ds));
    BOTestOK(BODatasetLoadInputs(ds));
    const PetscInt Di = 24 * Ci;
    ok                = ds->has_inputs && ds->Ci == Ci;
    for (PetscInt e = 0; ok && e < ds->nlocal * Di; e++) ok = ds->inputs[e] == (float)(0.5 * (ds->first * Di + e));
    if (ds->nlocal > 0) { /* a minibatch's copy: the shard's last member, all its Nz planes */
      float          got[24 * 2];
      const PetscInt k = ds->first + ds->nlocal - 1;
      BOTestOK(BODatasetGetConditions(ds, 1, &k, NULL, got));
      for (PetscInt e = 0; ok && e < Di; e++) ok = got[e] == (float)(0.5 * (k * Di + e));
    }
    ck_assert_msg(BOTestAllRanks(ok), "inputs beside 3-D counts read back wrong (Ci = %d)", (int)Ci);
    BODatasetDestroy(&ds);
    /* streamed (-data_chunk_mb, windows of one block of one member): each
     * batch member's inputs, all its Nz planes, from its window */
    ds                 = open_ds(path, 0, 24 * 4 / 1048576.0);
    ds->shuffle_window = 1;
    BOTestOK(BODatasetOpen(ds));
    BOTestOK(BODatasetUseInputs(ds));
    ok = ds->streaming && ds->rows_per_chunk == 1 && ds->stream_inputs && ds->inputs == NULL;
    for (PetscInt step = 0; ok && step < 4; step++) {
      PetscInt gidx[2], nb;
      float    x[2 * 24], got[2 * 24 * 2];
      BOTestOK(BODatasetGetMinibatch(ds, 1, step, 2, &nb, gidx, x, NULL));
      BOTestOK(BODatasetGetConditions(ds, nb, gidx, NULL, got));
      for (PetscInt b = 0; b < nb; b++)
        for (PetscInt e = 0; e < Di; e++) ok = ok && got[b * Di + e] == (float)(0.5 * (gidx[b] * Di + e));
    }
    ck_assert_msg(BOTestAllRanks(ok), "streamed inputs beside 3-D counts wrong (Ci = %d)", (int)Ci);
    BODatasetDestroy(&ds);
  }
  /* a NaN in 3-D inputs, named by its 3-D index (member, z, y, x) when read */
  {
    PetscMPIInt rank;
    BODataset   ds;
    write_inputs3d(BOTestPath("innan.h5", path, sizeof(path)), shape, 1, PETSC_FALSE);
    MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
    if (rank == 0) { /* member 2, cell (z, y, x) = (1, 0, 3): element 12 + 3 = 15 of 24 */
      hid_t         f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), d = H5Dopen2(f, "inputs", H5P_DEFAULT);
      hid_t         fs    = H5Dget_space(d), ms;
      const hsize_t at[4] = {2, 1, 0, 3}, one[4] = {1, 1, 1, 1};
      const float   nan = NAN;
      H5Sselect_hyperslab(fs, H5S_SELECT_SET, at, NULL, one, NULL);
      ms = H5Screate_simple(4, one, NULL);
      H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, &nan);
      H5Sclose(ms), H5Sclose(fs), H5Dclose(d), H5Fclose(f);
    }
    MPI_Barrier(PETSC_COMM_WORLD);
    ds = open_ds(path, 0, 0);
    BOTestOK(BODatasetOpen(ds));
    BOTestExpectErrorMessage(BODatasetLoadInputs(ds), "dataset inputs: value at index (2, 1, 0, 3) is NaN");
    BODatasetDestroy(&ds);
  }
  /* inputs of another volume beside 3-D counts, and of a 2-D member's axes: refused at open */
  for (int bad = 0; bad < 2; bad++) {
    PetscMPIInt   rank;
    const hsize_t other[4] = {3, 2, 3, 5}, flat[3] = {3, 3, 4};
    write_inputs3d(BOTestPath("inbad.h5", path, sizeof(path)), shape, 1, PETSC_FALSE);
    MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
    if (rank == 0) { /* replace /inputs by a float dataset of the wrong shape */
      static float zeros[3 * 2 * 3 * 5];
      hid_t        f  = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
      hid_t        sp = H5Screate_simple(bad ? 3 : 4, bad ? flat : other, NULL);
      H5Ldelete(f, "inputs", H5P_DEFAULT);
      hid_t d = H5Dcreate2(f, "inputs", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros);
      H5Dclose(d), H5Sclose(sp), H5Fclose(f);
    }
    MPI_Barrier(PETSC_COMM_WORLD);
    expect_error(
        path, 0,
        bad ? "inbad.h5: dataset inputs has 3 axes; expected (N, Nz, Ny, Nx) or (N, Nz, Ny, Nx, Ci) beside 3-D "
              "counts"
            : "inbad.h5: dataset inputs is on a 2 x 3 x 5 grid but counts on 2 x 3 x 4 (Nz x Ny x Nx): "
              "inputs must be on the counts' grid");
  }
}
END_TEST

START_TEST(test_refuse_2d_only)
{
  char      path[PETSC_MAX_PATH_LEN];
  PetscInt  shape[4] = {4, 6, 5, 1};
  BODataset ds;

  ck_assert_int_eq(write3d(BOTestPath("r3.h5", path, sizeof(path)), 3, shape, 9, 0, 0), 0);
  ds = open_ds(path, 0, 0);
  BOTestOK(BODatasetOpen(ds));
  BOTestExpectErrorMessage(BODatasetRequire2D(ds, "bo_train"), "r3.h5: dataset counts is a 3-D field (Nz x Ny x Nx = "
                                                               "4 x 6 x 5); bo_train does not handle 3-D fields yet");
  BODatasetDestroy(&ds);
  /* pictures of volumes (bo_sample -png): rows of z-slices (BOPNGWriteVolumes; pixels in test_png.c) */
  {
    char        png[PETSC_MAX_PATH_LEN];
    static char text[1 << 17];
    const char *want = "3 members (rows) x 4 z-slices of 4 (columns)";
    size_t      n, found = 0;
    FILE       *f;
    BOTestOK(BOPNGFromFile(PETSC_COMM_WORLD, path, "counts", 4, BOTestPath("r3.png", png, sizeof(png))));
    f = fopen(png, "rb");
    ck_assert(f != NULL);
    n = fread(text, 1, sizeof(text), f);
    fclose(f);
    /* the PNG's Comment chunk (uncompressed text) */
    for (size_t i = 0; i + strlen(want) <= n && !found; i++) found = !memcmp(text + i, want, strlen(want));
    ck_assert_msg(found, "%s: no comment '%s'", png, want);
  }
  /* a 2-D field passes */
  {
    const hsize_t d3[3] = {3, 4, 5};
    write_raw(BOTestPath("r2.h5", path, sizeof(path)), 3, d3, 0, 0);
    ds = open_ds(path, 0, 0);
    BOTestOK(BODatasetOpen(ds));
    BOTestOK(BODatasetRequire2D(ds, "bo_train"));
    BODatasetDestroy(&ds);
  }
}
END_TEST

/* Observed cells of a member's shape (serial: each rank its own file). */
START_TEST(test_member_shaped)
{
  char        path[PETSC_MAX_PATH_LEN], name[64];
  PetscMPIInt rank;
  float       buf[240];
  hid_t       f;

  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  snprintf(name, sizeof(name), "obs%d.h5", (int)rank);
  f = H5Fcreate(BOTestPath(name, path, sizeof(path)), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  {
    const hsize_t shapes[5][4] = {{4, 6, 5}, {4, 6, 4}, {4, 6, 5, 2}, {4, 6, 5, 1}, {30, 4}};
    const int     nds[5]       = {3, 3, 4, 4, 2};
    const char   *names[5]     = {"value", "mask", "value2", "value1", "flat"};
    float         v[240];
    for (int i = 0; i < 240; i++) v[i] = (float)(i % 3);
    for (int k = 0; k < 5; k++) {
      hid_t sp = H5Screate_simple(nds[k], shapes[k], NULL);
      hid_t d  = H5Dcreate2(f, names[k], H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
      H5Dclose(d), H5Sclose(sp);
    }
  }
  {
    const PetscInt m1[4] = {4, 6, 5, 1}, m2[4] = {4, 6, 5, 2}, flat2d[3] = {6, 5, 4};
    BOTestOK(BOMemberShapedRead(f, "-condition o.h5", "value", "the members", 4, m1, buf));
    ck_assert(buf[0] == 0 && buf[1] == 1 && buf[119] == 2);
    BOTestOK(BOMemberShapedRead(f, "-condition o.h5", "value1", "the members", 4, m1, buf)); /* with the C axis */
    BOTestOK(BOMemberShapedRead(f, "-condition o.h5", "value2", "the members", 4, m2, buf));
    BOTestExpectErrorMessage(BOMemberShapedRead(f, "-condition o.h5", "mask", "the members", 4, m1, buf),
                             "-condition o.h5: 'mask' is 4 x 6 x 4, but the members are 4 x 6 x 5 (Nz x Ny x Nx)");
    BOTestExpectErrorMessage(BOMemberShapedRead(f, "-condition o.h5", "value", "the members", 4, m2, buf),
                             "-condition o.h5: 'value' is 4 x 6 x 5, but the members are 4 x 6 x 5 x 2 (Nz x Ny x Nx "
                             "x C)");
    BOTestExpectErrorMessage(BOMemberShapedRead(f, "-condition o.h5", "flat", "the members", 4, m1, buf),
                             "'flat' is 30 x 4, but the members are 4 x 6 x 5");
    BOTestExpectErrorMessage(BOMemberShapedRead(f, "-condition o.h5", "none", "the members", 4, m1, buf),
                             "-condition o.h5: dataset 'none' is missing");
    /* 2-D members keep the element count rule */
    BOTestOK(BOMemberShapedRead(f, "-condition o.h5", "flat", "the model's members", 3, flat2d, buf));
    BOTestExpectErrorMessage(BOMemberShapedRead(f, "-condition o.h5", "mask", "the model's members", 3, flat2d, buf),
                             "-condition o.h5: 'mask' has 96 elements, the model's members have 120");
  }
  H5Fclose(f);
}
END_TEST

Suite *suite_dataset3d(void)
{
  Suite *s  = suite_create("dataset3d");
  TCase *tc = tcase_create("fields3d");
  tcase_add_test(tc, test_roundtrip_3d);
  tcase_add_test(tc, test_four_axes_ambiguity);
  tcase_add_test(tc, test_bad_value_index_3d);
  tcase_add_test(tc, test_sidecar_3d);
  tcase_add_test(tc, test_merge_3d);
  tcase_add_test(tc, test_inputs_3d);
  tcase_add_test(tc, test_refuse_2d_only);
  tcase_add_test(tc, test_member_shaped);
  suite_add_tcase(s, tc);
  return s;
}
