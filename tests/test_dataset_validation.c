/* BODataset validation: every error path, with its message. */
#include <math.h>
#include <string.h>
#include "bo_dataset.h"
#include "testutil.h"

/* Open path:name with a -max_count limit; expect an error whose message
 * contains want. */
static void expect_open_error(const char *path, const char *name, double limit, const char *want)
{
  BODataset      ds;
  PetscErrorCode ierr;

  ck_assert_int_eq(BODatasetCreate(PETSC_COMM_WORLD, &ds), 0);
  ck_assert_int_eq(BODatasetSetFile(ds, path, name), 0);
  if (limit > 0) ds->max_count_limit = limit;
  BOTestErrorMessage[0] = 0;
  PetscPushErrorHandler(BOTestCaptureError, NULL);
  ierr = BODatasetOpen(ds);
  PetscPopErrorHandler();
  BODatasetDestroy(&ds);
  ck_assert_msg(ierr != 0, "opening %s:%s should fail with '%s'", path, name, want);
  ck_assert_msg(strstr(BOTestErrorMessage, want) != NULL, "message '%s' lacks '%s'", BOTestErrorMessage, want);
}

/* A dataset of rank nd with dims, HDF5 type ftype, values from doubles. */
static void write_dense(const char *path, const char *name, int nd, const hsize_t *dims, hid_t ftype, const double *v)
{
  hid_t   f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t   s = H5Screate_simple(nd, dims, NULL);
  hid_t   d = H5Dcreate2(f, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t n = 1;
  for (int i = 0; i < nd; i++) n *= dims[i];
  if (n) ck_assert(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
  H5Dclose(d), H5Sclose(s), H5Fclose(f);
}

static void add_labels(const char *path, hsize_t n, const double *v)
{
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), s = H5Screate_simple(1, &n, NULL);
  hid_t d = H5Dcreate2(f, "labels", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  H5Dclose(d), H5Sclose(s), H5Fclose(f);
}

START_TEST(test_missing_file_and_dataset)
{
  char          path[PETSC_MAX_PATH_LEN];
  const hsize_t dims[2] = {2, 3};
  const double  v[6]    = {0, 1, 2, 3, 4, 5};

  expect_open_error(BOTestPath("nope.h5", path, sizeof(path)), NULL, 0, "nope.h5: cannot open");
  /* a file that is not HDF5 */
  FILE *f = fopen(BOTestPath("text.h5", path, sizeof(path)), "w");
  fputs("hello\n", f), fclose(f);
  expect_open_error(path, NULL, 0, "cannot open");
  write_dense(BOTestPath("ok.h5", path, sizeof(path)), "counts", 2, dims, H5T_STD_U8LE, v);
  expect_open_error(path, "other", 0, "no dataset other");
  expect_open_error(path, "grp/deeper", 0, "no dataset grp/deeper");
}
END_TEST

START_TEST(test_wrong_rank_and_type)
{
  char          path[PETSC_MAX_PATH_LEN];
  const hsize_t d1[1] = {4}, d6[6] = {1, 1, 1, 1, 1, 2};
  const double  v[4] = {0, 1, 2, 3};

  write_dense(BOTestPath("r1.h5", path, sizeof(path)), "counts", 1, d1, H5T_STD_U8LE, v);
  expect_open_error(path, NULL, 0, "has 1 axes");
  /* 5 axes are a 3-D field of C components (docs/DATA.md §1); 6 are too many */
  write_dense(BOTestPath("r6.h5", path, sizeof(path)), "counts", 6, d6, H5T_STD_U8LE, v);
  expect_open_error(path, NULL, 0, "has 6 axes");
  {
    /* a string dataset */
    hid_t   f       = H5Fcreate(BOTestPath("str.h5", path, sizeof(path)), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {2, 2};
    hid_t   t = H5Tcopy(H5T_C_S1), s = H5Screate_simple(2, dims, NULL), d;
    H5Tset_size(t, 4);
    d = H5Dcreate2(f, "counts", t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d), H5Sclose(s), H5Tclose(t), H5Fclose(f);
    expect_open_error(path, NULL, 0, "neither an integer nor a floating-point type");
  }
}
END_TEST

START_TEST(test_bad_values)
{
  char          path[PETSC_MAX_PATH_LEN];
  const hsize_t dims[3] = {2, 2, 3};
  double        v[12];

  /* each case: one bad element at sample 1, (j, i) = (0, 2), and a later one */
  struct {
    const char *file;
    hid_t       type;
    double      bad;
    double      limit;
    const char *want;
  } cases[] = {
      {"neg.h5", H5T_STD_I16LE, -3, 0, "value at index (1, 0, 2) is negative (-3)"},
      {"frac.h5", H5T_IEEE_F32LE, 2.5, 0, "value at index (1, 0, 2) is not an integer (2.5)"},
      {"nan.h5", H5T_IEEE_F64LE, NAN, 0, "value at index (1, 0, 2) is NaN"},
      {"inf.h5", H5T_IEEE_F64LE, INFINITY, 0, "value at index (1, 0, 2) is infinite"},
      {"big.h5", H5T_STD_I64LE, 33554432.0, 0, "above 2^24"},
      {"max.h5", H5T_STD_U16LE, 11, 10, "above the maximum count (-max_count) (11)"},
  };
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    for (int i = 0; i < 12; i++) v[i] = i % 5;
    v[8]  = cases[c].bad; /* sample 1 = elements 6..11; (0, 2) is element 8 */
    v[11] = cases[c].bad;
    write_dense(BOTestPath(cases[c].file, path, sizeof(path)), "counts", 3, dims, cases[c].type, v);
    expect_open_error(path, NULL, cases[c].limit, cases[c].want);
    expect_open_error(path, NULL, cases[c].limit, cases[c].file);    /* names the file ... */
    expect_open_error(path, NULL, cases[c].limit, "dataset counts"); /* ... and the dataset */
  }
  /* the 4-D index form names the component */
  {
    const hsize_t d4[4] = {1, 2, 2, 2};
    double        w[8]  = {0, 1, 2, 3, 4, 5, -1, 7};
    write_dense(BOTestPath("neg4.h5", path, sizeof(path)), "counts", 4, d4, H5T_STD_I32LE, w);
    expect_open_error(path, NULL, 0, "index (0, 1, 1, 0) is negative");
  }
}
END_TEST

START_TEST(test_empty)
{
  char          path[PETSC_MAX_PATH_LEN];
  const hsize_t dims[2] = {0, 4}, dims2[2] = {3, 0};

  write_dense(BOTestPath("empty.h5", path, sizeof(path)), "counts", 2, dims, H5T_STD_U8LE, NULL);
  expect_open_error(path, NULL, 0, "is empty");
  write_dense(BOTestPath("empty2.h5", path, sizeof(path)), "counts", 2, dims2, H5T_STD_U8LE, NULL);
  expect_open_error(path, NULL, 0, "is empty");
}
END_TEST

START_TEST(test_labels)
{
  char          path[PETSC_MAX_PATH_LEN];
  const hsize_t dims[2] = {3, 2};
  const double  v[6] = {0, 1, 2, 3, 4, 5}, bad[3] = {0, -1, 2}, good[3] = {2, 0, 4};
  BODataset     ds;

  write_dense(BOTestPath("lab_len.h5", path, sizeof(path)), "counts", 2, dims, H5T_STD_U8LE, v);
  add_labels(path, 2, good);
  expect_open_error(path, NULL, 0, "one label per sample");
  write_dense(BOTestPath("lab_neg.h5", path, sizeof(path)), "counts", 2, dims, H5T_STD_U8LE, v);
  add_labels(path, 3, bad);
  expect_open_error(path, NULL, 0, "label at index (1) is negative");
  /* a stray huge label would build millions of classes: at most 65536 */
  {
    const double huge[3] = {0, 65535, 65536};
    write_dense(BOTestPath("lab_big.h5", path, sizeof(path)), "counts", 2, dims, H5T_STD_U8LE, v);
    add_labels(path, 3, huge);
    expect_open_error(path, NULL, 0, "label at index (2) is above 65535 (at most 65536 classes) (65536)");
  }
  /* good labels: recorded with the number of classes */
  write_dense(BOTestPath("lab_ok.h5", path, sizeof(path)), "counts", 2, dims, H5T_STD_U8LE, v);
  add_labels(path, 3, good);
  BODatasetCreate(PETSC_COMM_WORLD, &ds);
  BODatasetSetFile(ds, path, NULL);
  BOTestOK(BODatasetOpen(ds));
  ck_assert(ds->has_labels && ds->num_classes == 5 && ds->labels[2] == 4);
  ck_assert(!ds->is_field && ds->G == 2 && ds->N == 3 && ds->max_count == 5 && !ds->timestepping);
  {
    /* View: a summary naming the file and the shape */
    PetscViewer v;
    char        vpath[PETSC_MAX_PATH_LEN], text[1024] = "";
    ck_assert_int_eq(PetscViewerASCIIOpen(PETSC_COMM_WORLD, BOTestPath("view.txt", vpath, sizeof(vpath)), &v), 0);
    ck_assert_int_eq(BODatasetView(ds, v), 0);
    PetscViewerDestroy(&v);
    FILE  *f = fopen(vpath, "r");
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = 0;
    ck_assert_msg(strstr(text, "lab_ok.h5:counts") && strstr(text, "N = 3, G = 2") && strstr(text, "(5 classes)"), "%s",
                  text);
  }
  BODatasetDestroy(&ds);
}
END_TEST

START_TEST(test_bad_csr)
{
  char    path[PETSC_MAX_PATH_LEN];
  hsize_t n3 = 3, n4 = 4, two = 2;
  int64_t ip_bad[4] = {0, 2, 1, 3}, idx[3] = {0, 1, 7}, shape[2] = {3, 4};
  double  data[3] = {1, 2, 3};

  /* indptr decreasing; then a column index outside the shape; then no shape */
  for (int which = 0; which < 3; which++) {
    char name[32];
    snprintf(name, sizeof(name), "csr%d.h5", which);
    hid_t   f        = H5Fcreate(BOTestPath(name, path, sizeof(path)), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t   g        = H5Gcreate2(f, "X", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), s, d;
    int64_t ip_ok[4] = {0, 1, 2, 3};
    s                = H5Screate_simple(1, &n3, NULL);
    d                = H5Dcreate2(g, "data", H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), H5Dclose(d);
    d = H5Dcreate2(g, "indices", H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, idx), H5Dclose(d), H5Sclose(s);
    s = H5Screate_simple(1, &n4, NULL);
    d = H5Dcreate2(g, "indptr", H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, which == 0 ? ip_bad : ip_ok), H5Dclose(d), H5Sclose(s);
    if (which < 2) {
      s       = H5Screate_simple(1, &two, NULL);
      hid_t a = H5Acreate2(g, "shape", H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(a, H5T_NATIVE_INT64, shape), H5Aclose(a), H5Sclose(s);
    }
    H5Gclose(g), H5Fclose(f);
    expect_open_error(path, "X", 0,
                      which == 0   ? "indptr is not non-decreasing"
                      : which == 1 ? "column index is outside"
                                   : "no shape attribute");
  }
  /* a group that is not CSR */
  {
    hid_t f = H5Fcreate(BOTestPath("grp.h5", path, sizeof(path)), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "counts", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g), H5Fclose(f);
    expect_open_error(path, NULL, 0, "is not a CSR matrix");
  }
}
END_TEST

START_TEST(test_options)
{
  BODataset      ds;
  PetscErrorCode ierr;

  /* -max_count above 2^24 is refused; no file given is an error */
  BODatasetCreate(PETSC_COMM_WORLD, &ds);
  PetscOptionsSetValue(NULL, "-max_count", "1e9");
  BOTestErrorMessage[0] = 0;
  PetscPushErrorHandler(BOTestCaptureError, NULL);
  ierr = BODatasetSetFromOptions(ds);
  PetscPopErrorHandler();
  PetscOptionsClearValue(NULL, "-max_count");
  ck_assert(ierr != 0 && strstr(BOTestErrorMessage, "-max_count must be"));
  BODatasetDestroy(&ds);
  BODatasetCreate(PETSC_COMM_WORLD, &ds);
  ck_assert(BOTestExpectError(BODatasetOpen(ds)) != 0);
  BODatasetDestroy(&ds);
}
END_TEST

Suite *suite_dataset_validation(void)
{
  Suite *s  = suite_create("dataset_validation");
  TCase *tc = tcase_create("errors");
  tcase_add_test(tc, test_missing_file_and_dataset);
  tcase_add_test(tc, test_wrong_rank_and_type);
  tcase_add_test(tc, test_bad_values);
  tcase_add_test(tc, test_empty);
  tcase_add_test(tc, test_labels);
  tcase_add_test(tc, test_bad_csr);
  tcase_add_test(tc, test_options);
  suite_add_tcase(s, tc);
  return s;
}
