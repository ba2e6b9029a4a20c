/* PNG pictures: written atomically, decodable, colours where they belong. */
#include <png.h>
#include <string.h>
#include <unistd.h>
#include "bo_png.h"
#include "testutil.h"

typedef struct {
  png_uint_32    W, H;
  unsigned char *rgb;
  char           title[128];
} Decoded;

/* Decode path with libpng (RGB 8-bit expected). Returns 0 on success. */
static int decode(const char *path, Decoded *d)
{
  FILE       *f = fopen(path, "rb");
  png_structp png;
  png_infop   info;
  png_textp   text;
  int         ntext = 0, depth, ctype;

  if (!f) return 1;
  png  = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    return 2;
  }
  png_init_io(png, f);
  png_read_info(png, info);
  png_get_IHDR(png, info, &d->W, &d->H, &depth, &ctype, NULL, NULL, NULL);
  if (depth != 8 || ctype != PNG_COLOR_TYPE_RGB) longjmp(png_jmpbuf(png), 1);
  d->rgb = malloc((size_t)d->W * d->H * 3);
  for (png_uint_32 y = 0; y < d->H; y++) png_read_row(png, d->rgb + (size_t)y * d->W * 3, NULL);
  png_read_end(png, info);
  d->title[0] = 0;
  png_get_text(png, info, &text, &ntext);
  for (int i = 0; i < ntext; i++)
    if (!strcmp(text[i].key, "Title")) snprintf(d->title, sizeof(d->title), "%s", text[i].text);
  png_destroy_read_struct(&png, &info, NULL);
  fclose(f);
  return 0;
}

static int pixel_is(const Decoded *d, int x, int y, const unsigned char want[3])
{
  const unsigned char *p = d->rgb + ((size_t)y * d->W + x) * 3;
  return p[0] == want[0] && p[1] == want[1] && p[2] == want[2];
}

START_TEST(test_colormap)
{
  unsigned char lo[3], hi[3], mid[3], nan_[3];
  BOColormap(0, lo), BOColormap(1, hi), BOColormap(0.5, mid), BOColormap(NAN, nan_);
  ck_assert(lo[0] == 68 && lo[1] == 1 && lo[2] == 84);     /* dark purple-blue */
  ck_assert(hi[0] == 253 && hi[1] == 231 && hi[2] == 37);  /* yellow */
  ck_assert(mid[1] > mid[0] && mid[2] > mid[0]);           /* teal in the middle */
  ck_assert(!memcmp(nan_, lo, 3));
  /* brightness increases along the map (readable in grey too) */
  double prev = -1;
  for (int i = 0; i <= 64; i++) {
    unsigned char c[3];
    BOColormap(i / 64.0, c);
    double l = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
    ck_assert_msg(l >= prev - 1.0, "luminance falls at %d", i);
    prev = l;
  }
}
END_TEST

START_TEST(test_fields_montage)
{
  char          path[PETSC_MAX_PATH_LEN];
  float         x[5 * 4 * 4];
  Decoded       d;
  unsigned char lo[3], hi[3];

  /* 5 members of 4 x 4: member k is all k except member 0's cell (j=0, i=1) = 8 */
  for (int k = 0; k < 5; k++)
    for (int e = 0; e < 16; e++) x[k * 16 + e] = (float)k;
  x[1] = 8;
  BOTestOK(BOPNGWriteFields(BOTestPath("m.png", path, sizeof(path)), 5, 4, 4, 1, x, -1, "five members"));
  ck_assert(access(path, F_OK) == 0);
  ck_assert_int_eq(decode(path, &d), 0);
  /* 3 x 2 tiles of 96 pixels, gaps of 4, margins of 8, 40 rows for the colour bar */
  ck_assert_int_eq(d.W, 2 * 8 + 3 * 96 + 2 * 4);
  ck_assert_int_eq(d.H, 2 * 8 + 2 * 96 + 4 + 40);
  ck_assert_str_eq(d.title, "five members");
  BOColormap(0, lo), BOColormap(1, hi);
  /* member 0: cell (0, 1) is the maximum, drawn in the bottom row of its tile (y up) */
  ck_assert(pixel_is(&d, 8 + 1 * 24 + 5, 8 + 3 * 24 + 5, hi));
  ck_assert(pixel_is(&d, 8 + 0 * 24 + 5, 8 + 3 * 24 + 5, lo));
  ck_assert(pixel_is(&d, 8 + 1 * 24 + 5, 8 + 0 * 24 + 5, lo));
  /* colour bar: starts dark, ends yellow */
  ck_assert(pixel_is(&d, 8, d.H - 32 + 3, lo));
  ck_assert(pixel_is(&d, d.W - 9, d.H - 32 + 3, hi));
  free(d.rgb);
  /* no temporary file left */
  BOTestPath("", path, sizeof(path));
  char cmd[PETSC_MAX_PATH_LEN + 64];
  snprintf(cmd, sizeof(cmd), "ls '%s' | grep -q 'm.png.tmp'", path);
  ck_assert(system(cmd) != 0);
}
END_TEST

START_TEST(test_heatmap)
{
  char          path[PETSC_MAX_PATH_LEN];
  float         x[3 * 10] = {0};
  Decoded       d;
  unsigned char hi[3];

  x[2 * 10 + 7] = 50; /* member 2, feature 7 */
  BOTestOK(BOPNGWriteHeatmap(BOTestPath("h.png", path, sizeof(path)), 3, 10, x, -1, NULL));
  ck_assert_int_eq(decode(path, &d), 0);
  BOColormap(1, hi);
  /* cells of 16 x 16 pixels */
  ck_assert(pixel_is(&d, 8 + 7 * 16 + 8, 8 + 2 * 16 + 8, hi));
  ck_assert(!pixel_is(&d, 8 + 6 * 16 + 8, 8 + 2 * 16 + 8, hi));
  free(d.rgb);
}
END_TEST

START_TEST(test_png_errors)
{
  char  path[PETSC_MAX_PATH_LEN];
  float x[4] = {0};
  ck_assert(BOTestExpectError(BOPNGWriteFields(BOTestPath("no/dir/x.png", path, sizeof(path)), 1, 2, 2, 1, x, 1, NULL)) != 0);
  ck_assert(BOTestExpectError(BOPNGWriteFields(BOTestPath("x.png", path, sizeof(path)), 0, 2, 2, 1, x, 1, NULL)) != 0);
  ck_assert(BOTestExpectError(BOPNGWriteHeatmap(BOTestPath("y.png", path, sizeof(path)), 1, 0, x, 1, NULL)) != 0);
  ck_assert(access(path, F_OK) != 0);
}
END_TEST

Suite *suite_png(void)
{
  Suite *s  = suite_create("png");
  TCase *tc = tcase_create("png");
  tcase_add_test(tc, test_colormap);
  tcase_add_test(tc, test_fields_montage);
  tcase_add_test(tc, test_heatmap);
  tcase_add_test(tc, test_png_errors);
  suite_add_tcase(s, tc);
  return s;
}
