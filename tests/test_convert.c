/* Readers of foreign formats (bo_convert): CSV, idx, raw, patches; each on
 * a small file written here, and each error path. */
#include <string.h>
#include <zlib.h>
#include "bo_io.h"
#include "testutil.h"

/* Write bytes to a scratch file, gzip-compressed or plain. */
static const char *put(const char *name, const void *data, size_t len, int gz, char *path, size_t plen)
{
  BOTestPath(name, path, plen);
  if (gz) {
    gzFile f = gzopen(path, "wb");
    gzwrite(f, data, (unsigned)len);
    gzclose(f);
  } else {
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
  }
  return path;
}

START_TEST(test_csv)
{
  char        path[PETSC_MAX_PATH_LEN];
  const char *text     = "1,2,3,4,7\n5,6,7,8,3\n\n 0 , 0,1,16,0\r\n";
  PetscInt    shape[2] = {2, 2};
  BOArray     a;

  /* gzip, label in column 4, 2 x 2 fields */
  put("a.csv.gz", text, strlen(text), 1, path, sizeof(path));
  BOTestOK(BOReadCSV(PETSC_COMM_WORLD, path, 2, shape, 4, -1, PETSC_FALSE, &a));
  ck_assert(a.N == 3 && a.D == 4 && a.ndim == 2 && a.labels);
  ck_assert(a.x[0] == 1 && a.x[7] == 8 && a.x[11] == 16 && a.labels[0] == 7 && a.labels[2] == 0);
  BOArrayDestroy(&a);
  /* plain, no shape: vectors; drop column 0 */
  put("a.csv", text, strlen(text), 0, path, sizeof(path));
  BOTestOK(BOReadCSV(PETSC_COMM_WORLD, path, 0, NULL, -1, 0, PETSC_FALSE, &a));
  ck_assert(a.N == 3 && a.D == 4 && a.ndim == 1 && !a.labels && a.x[0] == 2 && a.x[3] == 7);
  BOArrayDestroy(&a);
  /* a header line */
  const char *hdr = "a,b\n1,2\n";
  put("h.csv", hdr, strlen(hdr), 0, path, sizeof(path));
  BOTestOK(BOReadCSV(PETSC_COMM_WORLD, path, 0, NULL, -1, -1, PETSC_TRUE, &a));
  ck_assert(a.N == 1 && a.D == 2);
  BOArrayDestroy(&a);
  BOTestExpectErrorMessage(BOReadCSV(PETSC_COMM_WORLD, path, 0, NULL, -1, -1, PETSC_FALSE, &a),
                           "line 1, column 1: not a number");
}
END_TEST

START_TEST(test_csv_errors)
{
  char     path[PETSC_MAX_PATH_LEN];
  PetscInt shape[2] = {2, 2};
  BOArray  a;
  struct {
    const char *text, *want;
  } cases[] = {
      {"1,2,3\n4,-5,6\n", "line 2, column 2: count negative (-5)"},
      {"1,2,3\n4,5.5,6\n", "line 2, column 2: count not an integer (5.5)"},
      {"1,nan,3\n", "line 1, column 2: count NaN"},
      {"1,inf,3\n", "line 1, column 2: count infinite"},
      {"1,2,3\n4,5\n", "line 2 has 2 columns, expected 3"},
      {"1,2,3\n4,5,6,7\n", "line 2 has more than 3 columns"},
      {"1,2,x3\n", "line 1, column 3: not a number"},
      {"\n\n", "no data rows"},
      {"1,2,99999999\n", "above 2^24"},
  };
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    put("bad.csv", cases[c].text, strlen(cases[c].text), 0, path, sizeof(path));
    BOTestExpectErrorMessage(BOReadCSV(PETSC_COMM_WORLD, path, 0, NULL, -1, -1, PETSC_FALSE, &a), cases[c].want);
    ck_assert(strstr(BOTestErrorMessage, "bad.csv"));
  }
  /* label column: a bad label; shape that does not match; a missing column; missing file */
  put("bad.csv", "1,2,3,4,-1\n", 11, 0, path, sizeof(path));
  BOTestExpectErrorMessage(BOReadCSV(PETSC_COMM_WORLD, path, 2, shape, 4, -1, PETSC_FALSE, &a),
                           "column 5: label negative");
  put("bad.csv", "1,2,3\n", 6, 0, path, sizeof(path));
  BOTestExpectErrorMessage(BOReadCSV(PETSC_COMM_WORLD, path, 2, shape, -1, -1, PETSC_FALSE, &a), "wrong shape");
  BOTestExpectErrorMessage(BOReadCSV(PETSC_COMM_WORLD, path, 0, NULL, 7, -1, PETSC_FALSE, &a), "no column 7");
  BOTestExpectErrorMessage(
      BOReadCSV(PETSC_COMM_WORLD, BOTestPath("none.csv", path, sizeof(path)), 0, NULL, -1, -1, PETSC_FALSE, &a),
      "cannot open");
}
END_TEST

START_TEST(test_idx)
{
  char          path[PETSC_MAX_PATH_LEN], lpath[PETSC_MAX_PATH_LEN];
  unsigned char img[4 + 12 + 2 * 2 * 3], lab[4 + 4 + 2];
  BOArray       a;

  /* idx3 u8: 2 images of 2 x 3, gzip; idx1 labels, plain */
  memcpy(img, (unsigned char[]){0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3}, 16);
  for (int i = 0; i < 12; i++) img[16 + i] = (unsigned char)(i * 20);
  memcpy(lab, (unsigned char[]){0, 0, 0x08, 1, 0, 0, 0, 2, 9, 4}, 10);
  put("img.idx.gz", img, sizeof(img), 1, path, sizeof(path));
  put("lab.idx", lab, sizeof(lab), 0, lpath, sizeof(lpath));
  BOTestOK(BOReadIDX(PETSC_COMM_WORLD, path, lpath, &a));
  ck_assert(a.N == 2 && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 && a.x[11] == 220 && a.labels[0] == 9 &&
            a.labels[1] == 4);
  BOArrayDestroy(&a);
  /* idx2 i16 big-endian with a negative value */
  unsigned char v16[4 + 8 + 4] = {0, 0, 0x0B, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE};
  put("neg.idx", v16, sizeof(v16), 0, path, sizeof(path));
  BOTestExpectErrorMessage(BOReadIDX(PETSC_COMM_WORLD, path, NULL, &a), "sample 0, element 1: count negative (-2)");
  v16[14] = 0, v16[15] = 7;
  put("ok16.idx", v16, sizeof(v16), 0, path, sizeof(path));
  BOTestOK(BOReadIDX(PETSC_COMM_WORLD, path, NULL, &a));
  ck_assert(a.N == 1 && a.ndim == 1 && a.x[0] == 258 && a.x[1] == 7);
  BOArrayDestroy(&a);
  /* bad magic, truncated data, labels of the wrong length, labels as samples */
  unsigned char bad[8] = {1, 2, 3, 4, 0, 0, 0, 0};
  put("magic.idx", bad, sizeof(bad), 0, path, sizeof(path));
  BOTestExpectErrorMessage(BOReadIDX(PETSC_COMM_WORLD, path, NULL, &a), "bad magic");
  put("short.idx.gz", img, sizeof(img) - 1, 1, path, sizeof(path));
  BOTestExpectErrorMessage(BOReadIDX(PETSC_COMM_WORLD, path, NULL, &a), "the header announces");
  lab[7] = 3;
  put("lab3.idx", lab, sizeof(lab), 0, lpath, sizeof(lpath));
  put("img.idx.gz", img, sizeof(img), 1, path, sizeof(path));
  BOTestExpectErrorMessage(BOReadIDX(PETSC_COMM_WORLD, path, lpath, &a), "the header announces");
  lab[7] = 2;
  put("lab.idx", lab, sizeof(lab), 0, lpath, sizeof(lpath));
  BOTestExpectErrorMessage(BOReadIDX(PETSC_COMM_WORLD, lpath, NULL, &a), "holds labels");
  img[2] = 0x42;
  put("type.idx", img, sizeof(img), 0, path, sizeof(path));
  BOTestExpectErrorMessage(BOReadIDX(PETSC_COMM_WORLD, path, NULL, &a), "unsupported idx element type");
}
END_TEST

START_TEST(test_raw)
{
  char     path[PETSC_MAX_PATH_LEN];
  PetscInt shape[2] = {1, 2}, G = 3;
  BOArray  a;
  /* 3 bytes of header, then big-endian u16: 2 samples of 1 x 2 */
  unsigned char be[3 + 8] = {9, 9, 9, 0x01, 0x00, 0x00, 0x05, 0x00, 0x00, 0xFF, 0xFF};
  put("be.raw", be, sizeof(be), 0, path, sizeof(path));
  BOTestOK(BOReadRaw(PETSC_COMM_WORLD, path, BO_RAW_U16, PETSC_TRUE, 3, 2, shape, &a));
  ck_assert(a.N == 2 && a.x[0] == 256 && a.x[1] == 5 && a.x[2] == 0 && a.x[3] == 65535);
  BOArrayDestroy(&a);
  /* the same bytes little-endian give other values */
  BOTestOK(BOReadRaw(PETSC_COMM_WORLD, path, BO_RAW_U16, PETSC_FALSE, 3, 2, shape, &a));
  ck_assert(a.x[0] == 1 && a.x[1] == 1280);
  BOArrayDestroy(&a);
  /* little-endian f64 vectors, one non-integral value */
  double f[3] = {1, 2, 3.25};
  put("f.raw", f, sizeof(f), 0, path, sizeof(path));
  BOTestExpectErrorMessage(BOReadRaw(PETSC_COMM_WORLD, path, BO_RAW_F64, PETSC_FALSE, 0, 1, &G, &a),
                           "element 2: count not an integer (3.25)");
  /* big-endian i32 negative */
  unsigned char i32[12] = {0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 2};
  put("i.raw", i32, sizeof(i32), 0, path, sizeof(path));
  BOTestExpectErrorMessage(BOReadRaw(PETSC_COMM_WORLD, path, BO_RAW_I32, PETSC_TRUE, 0, 1, &G, &a),
                           "count negative (-1)");
  /* sizes that are not whole samples; offset beyond the end; no shape */
  BOTestExpectErrorMessage(BOReadRaw(PETSC_COMM_WORLD, path, BO_RAW_U8, PETSC_FALSE, 1, 1, &G, &a), "wrong shape");
  BOTestExpectErrorMessage(BOReadRaw(PETSC_COMM_WORLD, path, BO_RAW_U8, PETSC_FALSE, 100, 1, &G, &a),
                           "beyond the file");
  BOTestExpectErrorMessage(BOReadRaw(PETSC_COMM_WORLD, path, BO_RAW_U8, PETSC_FALSE, 0, 0, NULL, &a), "needs -shape");
}
END_TEST

START_TEST(test_patches)
{
  BOArray a;
  PetscMemzero(&a, sizeof(a));
  /* one 3 x 4 field with 1 component, value 10 j + i, label 5 */
  a.N = 1, a.ndim = 2, a.shape[0] = 3, a.shape[1] = 4, a.D = 12;
  PetscMalloc1(12, &a.x);
  PetscMalloc1(1, &a.labels);
  a.labels[0] = 5;
  for (int j = 0; j < 3; j++)
    for (int i = 0; i < 4; i++) a.x[j * 4 + i] = (float)(10 * j + i);
  BOTestOK(BOArrayExtractPatches(&a, 2, 1)); /* 2 x 3 patches of 2 x 2 */
  ck_assert(a.N == 6 && a.D == 4 && a.shape[0] == 2 && a.shape[1] == 2);
  /* patch (1, 2): rows 1..2, columns 2..3 */
  ck_assert(a.x[5 * 4 + 0] == 12 && a.x[5 * 4 + 3] == 23 && a.labels[5] == 5);
  BOTestExpectErrorMessage(BOArrayExtractPatches(&a, 3, 1), "must be positive and fit");
  BOArrayDestroy(&a);
}
END_TEST

/* A 4 x 3 x 2 GRDECL file: comments, repeats, SPECGRID, ACTNUM, a section
 * header, a property on one line with its '/'. */
static const char grdecl_text[] = "-- a test grid\n"
                                  "GRID\n"
                                  "SPECGRID\n 4 3 2 1 F /\n"
                                  "PERMX -- mD\n"
                                  " 1 2 3 4 5 6 7 8 9 10 11 12\n"
                                  " 12*2.5 /\n"
                                  "ACTNUM\n 4*1 0 7*1 -- one inactive\n 12*1 /\n"
                                  "PORO 24*0.25/\n";

START_TEST(test_grdecl)
{
  BOGrdecl       g;
  BOQuantize     q;
  PetscInt       dims[3];
  float         *x;
  unsigned char *active;
  char           name[32];

  BOTestOK(BOGrdeclParse(PETSC_COMM_WORLD, "t.grdecl", grdecl_text, &g));
  ck_assert(g.dims[0] == 4 && g.dims[1] == 3 && g.dims[2] == 2 && g.dims_line == 3 && g.nkw == 3);
  ck_assert(!strcmp(g.kw[0].name, "PERMX") && g.kw[0].n == 24 && g.kw[0].line == 5);
  ck_assert(g.kw[0].v[0] == 1 && g.kw[0].v[11] == 12 && g.kw[0].v[12] == 2.5 && g.kw[0].v[23] == 2.5);
  ck_assert(!strcmp(g.kw[1].name, "ACTNUM") && g.kw[1].n == 24 && g.kw[1].v[3] == 1 && g.kw[1].v[4] == 0);
  ck_assert(!strcmp(g.kw[2].name, "PORO") && g.kw[2].n == 24 && g.kw[2].v[23] == 0.25);
  /* two properties: -keyword needed */
  BOTestOK(BOQuantizeParse(PETSC_COMM_WORLD, "", &q));
  BOTestExpectErrorMessage(BOGrdeclCounts(PETSC_COMM_WORLD, "t.grdecl", &g, NULL, NULL, &q, name, dims, &x, &active),
                           "several properties (PERMX, PORO)");
  BOTestExpectErrorMessage(BOGrdeclCounts(PETSC_COMM_WORLD, "t.grdecl", &g, "PERMX", NULL, &q, name, dims, &x, &active),
                           "PERMX (line 5), value 13: count not an integer (2.5)");
  /* linear:10 over the active cells' 1..12 */
  BOTestOK(BOQuantizeParse(PETSC_COMM_WORLD, "linear:11", &q));
  BOTestOK(BOGrdeclCounts(PETSC_COMM_WORLD, "t.grdecl", &g, "PERMX", NULL, &q, name, dims, &x, &active));
  ck_assert(dims[0] == 4 && dims[1] == 3 && dims[2] == 2 && q.lo == 1 && q.hi == 12);
  ck_assert(x[0] == 0 && x[3] == 3 && x[4] == 0 && active[4] == 0 && active[5] == 1 && x[11] == 11);
  ck_assert(x[12] == 2 && x[23] == 2); /* 1.5 rounds half up */
  PetscFree(x);
  PetscFree(active);
  BOGrdeclDestroy(&g);
}
END_TEST

START_TEST(test_grdecl_errors)
{
  struct {
    const char *text, *want;
  } cases[] = {
      {"PERMX\n 1 2\n x3 /\n", "t.grdecl: line 3: 'x3' is not a number (in the PERMX record of line 1"},
      {"PERMX\n 1 2\nPORO 3 /\n", "line 3: 'PORO' is not a number"},
      {"PERMX 1 2", "the PERMX record of line 1 has no closing '/'"},
      {"PERMX 3* /", "line 1: '3*' (default values) in PERMX is not supported"},
      {"PERMX 0*1 /", "line 1: bad repeat '0*1'"},
      {"INCLUDE\n 'a.inc' /", "line 1: INCLUDE is not supported"},
      {"1 2 /", "line 1: '1' where a keyword was expected"},
      {"PERMX 1 / PERMX 2 /", "PERMX given twice (first on line 1)"},
      {"DIMENS 2 2 0 /", "DIMENS: 0 is not a positive grid size"},
  };
  BOGrdecl g;

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    BOTestExpectErrorMessage(BOGrdeclParse(PETSC_COMM_WORLD, "t.grdecl", cases[i].text, &g), cases[i].want);
    ck_assert(g.nkw == 0 && !g.kw); /* freed on error */
  }
}
END_TEST

Suite *suite_convert(void)
{
  Suite *s  = suite_create("convert");
  TCase *tc = tcase_create("readers");
  tcase_add_test(tc, test_csv);
  tcase_add_test(tc, test_csv_errors);
  tcase_add_test(tc, test_idx);
  tcase_add_test(tc, test_raw);
  tcase_add_test(tc, test_patches);
  tcase_add_test(tc, test_grdecl);
  tcase_add_test(tc, test_grdecl_errors);
  suite_add_tcase(s, tc);
  return s;
}
