/* BOWriter: types, attributes, atomic rename, XDMF sidecar, error paths. */
#include <string.h>
#include <unistd.h>
#include "bo_io.h"
#include "bo_sys.h"
#include "testutil.h"

static int exists(const char *path) { return access(path, F_OK) == 0; }

/* Number of entries in the scratch directory whose name starts with prefix. */
static int count_files(const char *prefix)
{
  char cmd[PETSC_MAX_PATH_LEN * 2], dir[PETSC_MAX_PATH_LEN];
  int  n = 0;
  BOTestPath("", dir, sizeof(dir));
  snprintf(cmd, sizeof(cmd), "ls -1 '%s' | grep -c '^%s' ", dir, prefix);
  FILE *p = popen(cmd, "r");
  if (p) {
    if (fscanf(p, "%d", &n) != 1) n = -1;
    pclose(p);
  }
  return n;
}

static hid_t dataset_type(const char *path)
{
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d = H5Dopen2(f, "counts", H5P_DEFAULT), t = H5Dget_type(d);
  H5Dclose(d), H5Fclose(f);
  return t;
}

START_TEST(test_type_choice)
{
  char     path[PETSC_MAX_PATH_LEN];
  PetscInt shape[1] = {3};
  float    x[3]     = {0, 1, 2};
  double   maxc[3]  = {200, 300, 70000};
  hid_t    want[3]  = {H5T_STD_U8LE, H5T_STD_U16LE, H5T_STD_U32LE};
  for (int c = 0; c < 3; c++) {
    BOWriter w;
    char     name[32];
    snprintf(name, sizeof(name), "type%d.h5", c);
    BOTestOK(BOWriterCreate(PETSC_COMM_WORLD, BOTestPath(name, path, sizeof(path)), "counts", 1, 1, shape, &w));
    BOTestOK(BOWriterSetMaxCount(w, maxc[c]));
    BOTestOK(BOWriterWrite(w, 0, 1, x));
    BOTestOK(BOWriterClose(w));
    BOTestOK(BOWriterDestroy(&w));
    hid_t t = dataset_type(path);
    ck_assert_msg(H5Tequal(t, want[c]) > 0, "max %g: wrong type", maxc[c]);
    H5Tclose(t);
  }
  /* caller's choice: f32 */
  {
    BOWriter w;
    BOTestOK(BOWriterCreate(PETSC_COMM_WORLD, BOTestPath("typef.h5", path, sizeof(path)), "counts", 1, 1, shape, &w));
    BOTestOK(BOWriterSetType(w, BO_DTYPE_F32));
    BOTestOK(BOWriterWrite(w, 0, 1, x));
    BOTestOK(BOWriterClose(w));
    BOTestOK(BOWriterDestroy(&w));
    hid_t t = dataset_type(path);
    ck_assert(H5Tequal(t, H5T_IEEE_F32LE) > 0);
    H5Tclose(t);
  }
}
END_TEST

static void read_attr_string(hid_t obj, const char *name, char *buf, size_t len)
{
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = H5Aget_type(a), m = H5Tcopy(H5T_C_S1);
  ck_assert_msg(a >= 0, "no attribute %s", name);
  ck_assert(H5Tget_size(t) <= len);
  H5Tset_size(m, H5Tget_size(t));
  H5Aread(a, m, buf);
  H5Tclose(m), H5Tclose(t), H5Aclose(a);
}

static long long read_attr_int(hid_t obj, const char *name)
{
  long long v = -1;
  hid_t     a = H5Aopen(obj, name, H5P_DEFAULT);
  ck_assert_msg(a >= 0, "no attribute %s", name);
  H5Aread(a, H5T_NATIVE_LLONG, &v);
  H5Aclose(a);
  return v;
}

START_TEST(test_attributes_and_xdmf)
{
  char     path[PETSC_MAX_PATH_LEN], xmf[PETSC_MAX_PATH_LEN], s[256];
  PetscInt shape[3] = {3, 4, 2};
  float    x[2 * 24];
  double   origin[2] = {0.5, -1}, spacing[2] = {0.25, 2};
  BOWriter w;

  for (int i = 0; i < 48; i++) x[i] = (float)(i % 7);
  BOTestOK(BOWriterCreate(PETSC_COMM_WORLD, BOTestPath("attrs.h5", path, sizeof(path)), "counts", 2, 3, shape, &w));
  BOTestOK(BOWriterSetMaxCount(w, 6));
  BOTestOK(BOWriterSetGrid(w, origin, spacing));
  BOTestOK(BOWriterSetAttributeInt(w, "seed", 17));
  BOTestOK(BOWriterSetAttributeString(w, "sampler", "bridge"));
  BOTestOK(BOWriterSetAttributeString(w, "sampler", "tauleap")); /* the last value wins */
  BOTestOK(BOWriterSetAttributeReal(w, "t_end", 15.0));
  BOTestOK(BOWriterWrite(w, 0, 2, x));
  /* nothing under the final name until the writer is closed */
  ck_assert(!exists(path));
  ck_assert_int_eq(count_files("attrs.h5.tmp"), 1);
  BOTestOK(BOWriterClose(w));
  BOTestOK(BOWriterDestroy(&w));
  ck_assert(exists(path));
  ck_assert_int_eq(count_files("attrs.h5.tmp"), 0);

  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), root = H5Gopen2(f, "/", H5P_DEFAULT);
  hid_t d = H5Dopen2(f, "counts", H5P_DEFAULT);
  read_attr_string(root, "producer", s, sizeof(s));
  ck_assert_str_eq(s, "blackout");
  read_attr_string(root, "version", s, sizeof(s));
  ck_assert_str_eq(s, BO_VERSION);
  read_attr_string(root, "sampler", s, sizeof(s));
  ck_assert_str_eq(s, "tauleap");
  read_attr_string(root, "created", s, sizeof(s));
  ck_assert(strlen(s) == 20 && s[19] == 'Z');
  ck_assert_int_eq(read_attr_int(root, "seed"), 17);
  ck_assert_int_eq(read_attr_int(root, "mpi_size"), 1);
  ck_assert_int_eq(read_attr_int(d, "timestepping"), 1);
  ck_assert_int_eq(read_attr_int(d, "Mx"), 4);
  ck_assert_int_eq(read_attr_int(d, "My"), 3);
  ck_assert_int_eq(read_attr_int(d, "dof"), 2);
  {
    hid_t  a = H5Aopen(d, "spacing", H5P_DEFAULT);
    double sp[2];
    H5Aread(a, H5T_NATIVE_DOUBLE, sp), H5Aclose(a);
    ck_assert(sp[0] == 0.25 && sp[1] == 2);
    a       = H5Aopen(d, "timestepping", H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    ck_assert(H5Tequal(t, H5T_STD_I32LE) > 0); /* as PETSc writes it */
    H5Tclose(t), H5Aclose(a);
  }
  H5Dclose(d), H5Gclose(root), H5Fclose(f);

  /* the XDMF sidecar: a temporal collection of 2 grids, hyperslabs of the 4-D dataset */
  BOXDMFPath(path, xmf, sizeof(xmf));
  ck_assert(strstr(xmf, "attrs.xmf") != NULL);
  FILE *fp = fopen(xmf, "r");
  ck_assert(fp != NULL);
  char   text[16384];
  size_t n = fread(text, 1, sizeof(text) - 1, fp);
  fclose(fp);
  text[n] = 0;
  ck_assert(strstr(text, "CollectionType=\"Temporal\""));
  ck_assert(strstr(text, "TopologyType=\"2DCoRectMesh\" Dimensions=\"4 5\""));
  ck_assert(strstr(text, "Center=\"Cell\""));
  ck_assert(strstr(text, "1 0 0 1 1 1 1 1 1 3 4 1")); /* member 1, component 1 */
  ck_assert(strstr(text, ">attrs.h5:/counts<"));      /* relative name */
  /* the dataset is described once, and each member's grid refers to it */
  ck_assert(strstr(strstr(text, ">attrs.h5:/counts<") + 1, ">attrs.h5:/counts<") == NULL);
  ck_assert(strstr(text, "<DataItem Reference=\"/Xdmf/Domain/DataItem[1]\"/>"));
  ck_assert(strstr(text, "-1 0.5")); /* origin in (y, x) order */
  ck_assert(strstr(text, "member 2") == NULL);
}
END_TEST

START_TEST(test_abandoned_writer_leaves_nothing)
{
  char     path[PETSC_MAX_PATH_LEN];
  PetscInt shape[2] = {2, 2};
  float    x[4]     = {0, 1, 2.5f, 3};
  BOWriter w;

  /* a non-integral count for an integer type: error, then destroy */
  BOTestOK(BOWriterCreate(PETSC_COMM_WORLD, BOTestPath("bad.h5", path, sizeof(path)), "counts", 1, 2, shape, &w));
  BOTestOK(BOWriterSetMaxCount(w, 10));
  BOTestExpectErrorMessage(BOWriterWrite(w, 0, 1, x), "member 0 element 2 is not a count");
  BOTestOK(BOWriterDestroy(&w));
  ck_assert(!exists(path));
  ck_assert_int_eq(count_files("bad.h5"), 0);
  ck_assert_int_eq(count_files("bad.xmf"), 0);
  /* a value above the type's range */
  x[2] = 300;
  BOTestOK(BOWriterCreate(PETSC_COMM_WORLD, path, "counts", 1, 2, shape, &w));
  BOTestOK(BOWriterSetType(w, BO_DTYPE_U8));
  BOTestExpectErrorMessage(BOWriterWrite(w, 0, 1, x), "fits type u8");
  BOTestOK(BOWriterDestroy(&w));
  ck_assert_int_eq(count_files("bad.h5"), 0);
  /* a declared maximum too large for the chosen type */
  BOTestOK(BOWriterCreate(PETSC_COMM_WORLD, path, "counts", 1, 2, shape, &w));
  BOTestOK(BOWriterSetType(w, BO_DTYPE_U8));
  BOTestOK(BOWriterSetMaxCount(w, 1000));
  BOTestExpectErrorMessage(BOWriterSetUp(w), "does not fit element type u8");
  BOTestOK(BOWriterDestroy(&w));
  /* members out of range; labels not requested */
  x[2] = 2;
  BOTestOK(BOWriterCreate(PETSC_COMM_WORLD, path, "counts", 1, 2, shape, &w));
  BOTestExpectErrorMessage(BOWriterWrite(w, 1, 1, x), "outside 0..0");
  PetscInt lab = 0;
  BOTestExpectErrorMessage(BOWriterWriteLabels(w, 0, 1, &lab), "BOWriterSetLabels");
  BOTestOK(BOWriterDestroy(&w));
  ck_assert_int_eq(count_files("bad.h5"), 0);
  /* a directory that does not exist */
  BOTestOK(
      BOWriterCreate(PETSC_COMM_WORLD, BOTestPath("no/such/dir.h5", path, sizeof(path)), "counts", 1, 2, shape, &w));
  BOTestExpectErrorMessage(BOWriterWrite(w, 0, 1, x), "cannot create");
  BOTestOK(BOWriterDestroy(&w));
  /* bad arguments at creation */
  BOTestExpectErrorMessage(BOWriterCreate(PETSC_COMM_WORLD, path, "counts", 0, 2, shape, &w), "at least one member");
  BOTestExpectErrorMessage(BOWriterCreate(PETSC_COMM_WORLD, path, "counts", 1, 5, shape, &w), "1 to 4 axes");
}
END_TEST

START_TEST(test_nested_name_and_labels)
{
  char     path[PETSC_MAX_PATH_LEN];
  PetscInt G = 2, lab[3] = {4, 0, 2};
  float    x[6] = {1, 2, 3, 4, 5, 6};

  BOTestOK(BOWriteEnsemble(PETSC_COMM_WORLD, BOTestPath("nested.h5", path, sizeof(path)), "fields/state", 3, 1, &G, 0,
                           3, x, lab));
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  ck_assert(H5Lexists(f, "fields/state", H5P_DEFAULT) > 0);
  hid_t d = H5Dopen2(f, "fields/labels", H5P_DEFAULT);
  int   got[3];
  H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, got);
  ck_assert(got[0] == 4 && got[1] == 0 && got[2] == 2);
  H5Dclose(d), H5Fclose(f);
  /* vectors get no sidecar */
  ck_assert_int_eq(count_files("nested.xmf"), 0);
}
END_TEST

Suite *suite_io(void)
{
  Suite *s  = suite_create("io");
  TCase *tc = tcase_create("writer");
  tcase_add_test(tc, test_type_choice);
  tcase_add_test(tc, test_attributes_and_xdmf);
  tcase_add_test(tc, test_abandoned_writer_leaves_nothing);
  tcase_add_test(tc, test_nested_name_and_labels);
  suite_add_tcase(s, tc);
  return s;
}
