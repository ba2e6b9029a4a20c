/* PNG pictures: written atomically, decodable, colours where they belong. */
#include <string.h>
#include <unistd.h>
#include "bo_png.h"
#include "testutil.h"

static int pixel_is(const BOTestPNG *d, int x, int y, const unsigned char want[3])
{
  const unsigned char *p = d->rgb + ((size_t)y * d->W + x) * 3;
  return p[0] == want[0] && p[1] == want[1] && p[2] == want[2];
}

static const unsigned char black[3] = {0, 0, 0}, white[3] = {255, 255, 255};

/* Non-white pixels of im in the box [x0, x1) x [y0, y1). */
static int ink(const BOImage *im, int x0, int y0, int x1, int y1)
{
  int n = 0;
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++) n += memcmp(im->rgb + 3 * ((size_t)y * im->W + x), white, 3) != 0;
  return n;
}

/* The pixels of one character drawn at (0, 0) of a fresh image one advance wide. */
static void glyph_pixels(const char *ch, unsigned char out[BO_TEXT_ADVANCE * BO_TEXT_HEIGHT * 3])
{
  BOImage im;
  BOTestOK(BOImageCreate(BO_TEXT_ADVANCE, BO_TEXT_HEIGHT, &im));
  BOImageText(&im, 0, 0, ch, black);
  memcpy(out, im.rgb, BO_TEXT_ADVANCE * BO_TEXT_HEIGHT * 3);
  BOTestOK(BOImageDestroy(&im));
}

START_TEST(test_colormap)
{
  unsigned char lo[3], hi[3], mid[3], nan_[3];
  BOColormap(0, lo), BOColormap(1, hi), BOColormap(0.5, mid), BOColormap(NAN, nan_);
  ck_assert(lo[0] == 68 && lo[1] == 1 && lo[2] == 84);    /* dark purple-blue */
  ck_assert(hi[0] == 253 && hi[1] == 231 && hi[2] == 37); /* yellow */
  ck_assert(mid[1] > mid[0] && mid[2] > mid[0]);          /* teal in the middle */
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
  BOTestPNG     d;
  BOImage       im;
  unsigned char lo[3], hi[3];
  int           tw = BOImageTextWidth("five members"), bw = BOImageTextWidth("count");

  /* 5 members of 4 x 4: member k is all k except member 0's cell (j=0, i=1) = 8 */
  for (int k = 0; k < 5; k++)
    for (int e = 0; e < 16; e++) x[k * 16 + e] = (float)k;
  x[1] = 8;
  BOTestOK(BOPNGWriteFields(BOTestPath("m.png", path, sizeof(path)), 5, 4, 4, 1, x, -1,
                            &(BOPNGLabels){"five members", "tiles left to right", "count", PETSC_FALSE}));
  ck_assert(access(path, F_OK) == 0);
  ck_assert_int_eq(BOTestReadPNG(path, &d), 0);
  /* 3 x 2 tiles of 96 pixels with gaps of 4 (296 x 196) centred in the minimum width of 400;
   * margins of 8, title and caption lines of 18 and 6 below them, 56 rows for the colour bar */
  ck_assert_int_eq(d.W, 400);
  ck_assert_int_eq(d.H, 8 + 2 * 18 + 6 + 196 + 56 + 8);
  ck_assert_str_eq(d.title, "five members");
  im = (BOImage){(int)d.W, (int)d.H, d.rgb};
  /* title (bold: a pixel wider) and caption on their lines, left-aligned at the margin */
  ck_assert_int_gt(ink(&im, 8, 8, 8 + tw + 1, 8 + 14), 0);
  ck_assert_int_eq(ink(&im, 8 + tw + 1, 8, 400, 8 + 14), 0);
  ck_assert_int_gt(ink(&im, 8, 26, 8 + BOImageTextWidth("tiles left to right"), 26 + 14), 0);
  ck_assert_int_eq(ink(&im, 0, 0, 400, 8) + ink(&im, 0, 40, 400, 50), 0);
  BOColormap(0, lo), BOColormap(1, hi);
  /* tiles from (52, 50); member 0: cell (0, 1) is the maximum, drawn in the bottom row of its tile (y up) */
  ck_assert(pixel_is(&d, 52 + 1 * 24 + 5, 50 + 3 * 24 + 5, hi));
  ck_assert(pixel_is(&d, 52 + 0 * 24 + 5, 50 + 3 * 24 + 5, lo));
  ck_assert(pixel_is(&d, 52 + 1 * 24 + 5, 50 + 0 * 24 + 5, lo));
  ck_assert(pixel_is(&d, 51, 60, white) && pixel_is(&d, 52, 60, lo) && pixel_is(&d, 52 + 296, 60, white));
  free(d.rgb);
  /* top_down (images): the same cell is drawn in the top row of its tile */
  BOTestOK(BOPNGWriteFields(path, 5, 4, 4, 1, x, -1,
                            &(BOPNGLabels){"five members", "tiles left to right", "count", PETSC_TRUE}));
  ck_assert_int_eq(BOTestReadPNG(path, &d), 0);
  im = (BOImage){(int)d.W, (int)d.H, d.rgb};
  ck_assert(pixel_is(&d, 52 + 1 * 24 + 5, 50 + 0 * 24 + 5, hi));
  ck_assert(pixel_is(&d, 52 + 1 * 24 + 5, 50 + 3 * 24 + 5, lo));
  /* colour bar 10 pixels from the tiles plus a line for its label: starts dark, ends yellow */
  ck_assert(pixel_is(&d, 8, 274 + 3, lo));
  ck_assert(pixel_is(&d, d.W - 9, 274 + 3, hi));
  /* its label centred above it, its range below */
  ck_assert_int_gt(ink(&im, (400 - bw) / 2, 256, (400 + bw) / 2, 270), 0);
  ck_assert_int_eq(ink(&im, 0, 256, (400 - bw) / 2, 270) + ink(&im, (400 + bw) / 2, 256, 400, 270), 0);
  ck_assert_int_gt(ink(&im, 8, 288, 18, 302), 0);
  ck_assert_int_gt(ink(&im, 392 - BOImageTextWidth("8"), 288, 392, 302), 0);
  free(d.rgb);
  /* no temporary file left */
  BOTestPath("", path, sizeof(path));
  char cmd[PETSC_MAX_PATH_LEN + 64];
  snprintf(cmd, sizeof(cmd), "ls '%s' | grep -q 'm.png.tmp'", path);
  ck_assert(system(cmd) != 0);
}
END_TEST

/* Colour of value v on a scale 0..vmax. */
static void colour_of(double v, double vmax, unsigned char c[3]) { BOColormap(v / vmax, c); }

START_TEST(test_volumes)
{
  enum { Nz = 3, Ny = 4, Nx = 6, C = 2, n = 2, cells = Nz * Ny * Nx };
  char          path[PETSC_MAX_PATH_LEN];
  float         x[n * cells * C];
  BOTestPNG     d;
  BOImage       im;
  unsigned char c[3];

  /* member k's slice z is all k * 3 + z (component 0; component 1 is 5,
   * not drawn), except member 0's cell (z=2, y=0, x=1) = 10, the maximum */
  for (int k = 0; k < n; k++)
    for (int e = 0; e < cells; e++)
      x[(k * cells + e) * C] = (float)(k * 3 + e / (Ny * Nx)), x[(k * cells + e) * C + 1] = 5;
  x[((2 * Ny + 0) * Nx + 1) * C] = 10;
  BOTestOK(BOPNGWriteVolumes(BOTestPath("v.png", path, sizeof(path)), n, Nz, Ny, Nx, C, x, -1,
                             &(BOPNGLabels){"volumes", "rows members", "count", PETSC_FALSE}));
  ck_assert_int_eq(BOTestReadPNG(path, &d), 0);
  /* 3 slices of 6 x 4 cells of 16 pixels (96 x 64), gaps of 4: 296 wide,
   * a line of slice names (18) and 2 rows of tiles (64 + 4 + 64) high,
   * centred in 400; title and caption lines above, the colour bar below */
  ck_assert_int_eq(d.W, 400);
  ck_assert_int_eq(d.H, 8 + 2 * 18 + 6 + 18 + 132 + 56 + 8);
  ck_assert_str_eq(d.title, "volumes");
  im = (BOImage){(int)d.W, (int)d.H, d.rgb};
  /* the slice names over the columns: "z=0" at (52, 50), "z=1" at (152, 50), ... */
  for (int j = 0; j < Nz; j++) {
    ck_assert_int_gt(ink(&im, 52 + 100 * j, 50, 52 + 100 * j + BOImageTextWidth("z=0"), 64), 0);
    ck_assert_int_eq(ink(&im, 52 + 100 * j + BOImageTextWidth("z=0"), 50, 52 + 100 * j + 100, 64), 0);
  }
  /* tile (member k, slice z) from (52 + 100 z, 68 + 68 k): the colour of k * 3 + z at cell (y=2, x=3) */
  for (int k = 0; k < n; k++)
    for (int z = 0; z < Nz; z++) {
      colour_of(k * 3 + z, 10, c);
      ck_assert_msg(pixel_is(&d, 52 + 100 * z + 3 * 16 + 5, 68 + 68 * k + 1 * 16 + 5, c), "tile %d, %d", k, z);
    }
  /* the maximum in the bottom row of member 0's slice z=2 (y up), yellow */
  colour_of(10, 10, c);
  ck_assert(pixel_is(&d, 52 + 200 + 16 + 5, 68 + 3 * 16 + 5, c));
  colour_of(2, 10, c);
  ck_assert(pixel_is(&d, 52 + 200 + 16 + 5, 68 + 0 * 16 + 5, c));
  ck_assert(pixel_is(&d, 51, 80, white) && pixel_is(&d, 52 + 296, 80, white) && pixel_is(&d, 60, 68 + 66, white));
  free(d.rgb);

  /* Nz = 20: 8 slices evenly spaced, z = floor(j 19 / 7) = 0 2 5 8 10 13 16 19,
   * slice z all z; no labels: 8 x 96 + 7 x 4 = 796 wide from x = 8 */
  {
    static float y[20 * Ny * Nx];
    const int    zs[8] = {0, 2, 5, 8, 10, 13, 16, 19};
    for (int e = 0; e < 20 * Ny * Nx; e++) y[e] = (float)(e / (Ny * Nx));
    BOTestOK(BOPNGWriteVolumes(path, 1, 20, Ny, Nx, 1, y, 19, NULL));
    ck_assert_int_eq(BOTestReadPNG(path, &d), 0);
    ck_assert_int_eq(d.W, 8 + 796 + 8);
    ck_assert_int_eq(d.H, 8 + 18 + 64 + 56 + 8);
    for (int j = 0; j < 8; j++) {
      colour_of(zs[j], 19, c);
      ck_assert_msg(pixel_is(&d, 8 + 100 * j + 40, 8 + 18 + 30, c), "slice %d is not z = %d", j, zs[j]);
    }
    free(d.rgb);
  }
  /* nothing to draw: an error, no file */
  ck_assert(
      BOTestExpectError(BOPNGWriteVolumes(BOTestPath("w.png", path, sizeof(path)), 1, 0, Ny, Nx, 1, x, 1, NULL)) != 0);
  ck_assert(access(path, F_OK) != 0);
}
END_TEST

START_TEST(test_heatmap)
{
  const char   *title = "a title long enough to need more than one line in the narrowest picture";
  char          path[PETSC_MAX_PATH_LEN];
  float         x[3 * 100] = {0};
  BOTestPNG     d;
  unsigned char hi[3];
  int           lines = BOImageTextWrap(NULL, 0, 0, 400 - 16, title, NULL);

  x[2 * 10 + 7] = 50; /* member 2, feature 7 */
  BOTestOK(BOPNGWriteHeatmap(BOTestPath("h.png", path, sizeof(path)), 3, 10, x, -1, NULL));
  ck_assert_int_eq(BOTestReadPNG(path, &d), 0);
  /* no labels: cells of 16 x 16 pixels (160 x 48) centred in 400, from y = 8 */
  ck_assert_int_eq(d.W, 400);
  ck_assert_int_eq(d.H, 8 + 48 + 56 + 8);
  ck_assert_str_eq(d.title, "");
  BOColormap(1, hi);
  ck_assert(pixel_is(&d, 120 + 7 * 16 + 8, 8 + 2 * 16 + 8, hi));
  ck_assert(!pixel_is(&d, 120 + 6 * 16 + 8, 8 + 2 * 16 + 8, hi));
  free(d.rgb);
  /* a wrapped title pushes the map down; 100 features of 6 pixels widen the picture */
  ck_assert_int_eq(lines, 3);
  BOTestOK(BOPNGWriteHeatmap(path, 3, 10, x, -1, &(BOPNGLabels){title, NULL, NULL, PETSC_FALSE}));
  ck_assert_int_eq(BOTestReadPNG(path, &d), 0);
  ck_assert_int_eq(d.H, 8 + lines * 18 + 6 + 48 + 56 + 8);
  ck_assert(pixel_is(&d, 120 + 7 * 16 + 8, 8 + lines * 18 + 6 + 2 * 16 + 8, hi));
  ck_assert_str_eq(d.title, title);
  free(d.rgb);
  BOTestOK(BOPNGWriteHeatmap(path, 3, 100, x, -1, NULL));
  ck_assert_int_eq(BOTestReadPNG(path, &d), 0);
  ck_assert_int_eq(d.W, 8 + 100 * 6 + 8);
  free(d.rgb);
}
END_TEST

/* Every character of the font has ink inside its 10 x 14 cell (none in the
 * gap to the next), lower case looks like upper case, and no two glyphs or a
 * glyph and the box of unknown characters look alike. */
START_TEST(test_font)
{
  static unsigned char pix[64][BO_TEXT_ADVANCE * BO_TEXT_HEIGHT * 3];
  unsigned char        box[sizeof(pix[0])], lower[sizeof(pix[0])];

  glyph_pixels("\x01", box);
  for (int i = 0; i < 64; i++) {
    char    ch[2] = {(char)(32 + i), 0};
    BOImage im    = {BO_TEXT_ADVANCE, BO_TEXT_HEIGHT, pix[i]};
    glyph_pixels(ch, pix[i]);
    if (ch[0] == ' ') ck_assert_int_eq(ink(&im, 0, 0, BO_TEXT_ADVANCE, BO_TEXT_HEIGHT), 0);
    else ck_assert_msg(ink(&im, 0, 0, BO_TEXT_ADVANCE, BO_TEXT_HEIGHT) > 0, "'%c' is empty", ch[0]);
    ck_assert_msg(ink(&im, BO_TEXT_ADVANCE - 2, 0, BO_TEXT_ADVANCE, BO_TEXT_HEIGHT) == 0, "'%c' spills into the gap",
                  ch[0]);
    ck_assert_msg(memcmp(pix[i], box, sizeof(box)), "'%c' looks like an unknown character", ch[0]);
    for (int j = 0; j < i; j++)
      ck_assert_msg(memcmp(pix[i], pix[j], sizeof(box)), "'%c' looks like '%c'", ch[0], 32 + j);
    if (ch[0] >= 'A' && ch[0] <= 'Z') {
      ch[0] += 'a' - 'A';
      glyph_pixels(ch, lower);
      ck_assert_msg(!memcmp(lower, pix[i], sizeof(box)), "'%c' differs from upper case", ch[0]);
    }
  }
}
END_TEST

/* Bytes outside the font are all drawn as the same non-empty box, one
 * character each, so the text after them stays in place. */
START_TEST(test_unknown_characters)
{
  static const char *const unknown[] = {"\x01", "~", "{", "`", "\n", "\x7f", "\x80", "\xff"};
  unsigned char            box[BO_TEXT_ADVANCE * BO_TEXT_HEIGHT * 3], other[sizeof(box)];
  BOImage                  a, b;

  glyph_pixels(unknown[0], box);
  ck_assert_int_gt(ink(&(BOImage){BO_TEXT_ADVANCE, BO_TEXT_HEIGHT, box}, 0, 0, BO_TEXT_ADVANCE, BO_TEXT_HEIGHT), 20);
  for (size_t i = 1; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
    glyph_pixels(unknown[i], other);
    ck_assert_msg(!memcmp(box, other, sizeof(box)), "unknown character %zu drawn differently", i);
  }
  /* a two-byte UTF-8 character is two boxes: "A\xc3\xa9B" draws B where "A??B" does,
   * and the same boxes as "A\x01\x01B" */
  BOTestOK(BOImageCreate(4 * BO_TEXT_ADVANCE, BO_TEXT_HEIGHT, &a));
  BOTestOK(BOImageCreate(4 * BO_TEXT_ADVANCE, BO_TEXT_HEIGHT, &b));
  BOImageText(&a, 0, 0,
              "A\xc3\xa9"
              "B",
              black);
  BOImageText(&b, 0, 0,
              "A\x01\x01"
              "B",
              black);
  ck_assert(!memcmp(a.rgb, b.rgb, (size_t)a.W * a.H * 3));
  BOTestOK(BOImageDestroy(&a));
  BOTestOK(BOImageDestroy(&b));
}
END_TEST

/* Text partly or wholly outside the picture: the visible part is drawn,
 * nothing is written outside (guard bytes around the pixels). */
START_TEST(test_text_clipped)
{
  enum { W = 30, H = 20, GUARD = 256 };
  static const struct {
    int         x, y;
    const char *s;
    int         bx, by, wx, wy; /* a pixel drawn black, one left white; bx < 0: nothing shows */
  } cases[] = {
      {-6, 0, "8", 0, 0, 2, 0},            /* top row .###., cut on the left */
      {W - 4, H - 4, "W", 27, 19, 28, 16}, /* top rows #...#, cut right and below */
      {W - 8, H - 2, "W", 22, 18, 24, 18}, /* its right column just outside, on the last row */
      {-3, -13, "T", 1, 0, 3, 0},          /* only the foot of the stem shows */
      {0, 8, "A LINE MUCH LONGER THAN THE PICTURE IS WIDE", 2, 8, 0, 8}, /* top row of A .###. */
      {-10000, 5, "FAR LEFT", -1, 0, 0, 0},
      {10000, 5, "FAR RIGHT", -1, 0, 0, 0},
      {5, -10000, "ABOVE", -1, 0, 0, 0},
      {5, 10000, "BELOW", -1, 0, 0, 0},
  };
  static unsigned char buf[GUARD + W * H * 3 + GUARD];
  BOImage              im = {W, H, buf + GUARD};

  memset(buf, 0xab, sizeof(buf));
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    memset(im.rgb, 255, W * H * 3);
    BOImageText(&im, cases[k].x, cases[k].y, cases[k].s, black);
    if (cases[k].bx < 0) ck_assert_msg(ink(&im, 0, 0, W, H) == 0, "case %zu drew inside", k);
    else {
      ck_assert_msg(!memcmp(im.rgb + 3 * (cases[k].by * W + cases[k].bx), black, 3), "case %zu: pixel not drawn", k);
      ck_assert_msg(!memcmp(im.rgb + 3 * (cases[k].wy * W + cases[k].wx), white, 3), "case %zu: wrong pixel drawn", k);
    }
  }
  ck_assert_int_eq(BOImageTextWrap(&im, -20, H - 2, 40, "WRAPPED TEXT RUNNING OUT OF THE PICTURE", black), 14);
  for (int i = 0; i < GUARD; i++) {
    ck_assert_msg(buf[i] == 0xab, "written %d bytes before the pixels", GUARD - i);
    ck_assert_msg(buf[GUARD + W * H * 3 + i] == 0xab, "written %d bytes after the pixels", i + 1);
  }
}
END_TEST

/* Widths, and wrapping: at spaces, long words cut, counting = drawing. */
START_TEST(test_text_wrap)
{
  const int w = 5 * BO_TEXT_ADVANCE - 2; /* five characters a line */
  BOImage   a, b;

  ck_assert_int_eq(BOImageTextWidth(""), 0);
  ck_assert_int_eq(BOImageTextWidth("A"), 10);
  ck_assert_int_eq(BOImageTextWidth("A B"), 34);
  ck_assert_int_eq(BOImageTextWrap(NULL, 0, 0, w, NULL, NULL), 0);
  ck_assert_int_eq(BOImageTextWrap(NULL, 0, 0, w, "", NULL), 0);
  ck_assert_int_eq(BOImageTextWrap(NULL, 0, 0, w, "ABCDE", NULL), 1);
  ck_assert_int_eq(BOImageTextWrap(NULL, 0, 0, w, "AB CD", NULL), 1);
  ck_assert_int_eq(BOImageTextWrap(NULL, 0, 0, w - 1, "ABCDE", NULL), 2);
  ck_assert_int_eq(BOImageTextWrap(NULL, 0, 0, w, "ABCDEFGHIJKL", NULL), 3);
  ck_assert_int_eq(BOImageTextWrap(NULL, 0, 0, 1, "ABC", NULL), 3);
  /* in lines of five: ONE / TWO / THREE (the spaces at a break dropped), drawn as three texts would be */
  BOTestOK(BOImageCreate(80, 70, &a));
  BOTestOK(BOImageCreate(80, 70, &b));
  ck_assert_int_eq(BOImageTextWrap(&a, 3, 4, w, "ONE TWO   THREE", black), 3);
  BOImageText(&b, 3, 4, "ONE", black);
  BOImageText(&b, 3, 4 + BO_TEXT_LINE, "TWO", black);
  BOImageText(&b, 3, 4 + 2 * BO_TEXT_LINE, "THREE", black);
  ck_assert(!memcmp(a.rgb, b.rgb, (size_t)a.W * a.H * 3));
  /* a word longer than a line is cut: ABCDE / FG */
  memset(a.rgb, 255, (size_t)a.W * a.H * 3), memset(b.rgb, 255, (size_t)a.W * a.H * 3);
  ck_assert_int_eq(BOImageTextWrap(&a, 0, 0, w, "ABCDEFG", black), 2);
  BOImageText(&b, 0, 0, "ABCDE", black), BOImageText(&b, 0, BO_TEXT_LINE, "FG", black);
  ck_assert(!memcmp(a.rgb, b.rgb, (size_t)a.W * a.H * 3));
  BOTestOK(BOImageDestroy(&a));
  BOTestOK(BOImageDestroy(&b));
}
END_TEST

START_TEST(test_png_errors)
{
  char  path[PETSC_MAX_PATH_LEN];
  float x[4] = {0};
  ck_assert(
      BOTestExpectError(BOPNGWriteFields(BOTestPath("no/dir/x.png", path, sizeof(path)), 1, 2, 2, 1, x, 1, NULL)) != 0);
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
  tcase_add_test(tc, test_volumes);
  tcase_add_test(tc, test_heatmap);
  tcase_add_test(tc, test_font);
  tcase_add_test(tc, test_unknown_characters);
  tcase_add_test(tc, test_text_clipped);
  tcase_add_test(tc, test_text_wrap);
  tcase_add_test(tc, test_png_errors);
  suite_add_tcase(s, tc);
  return s;
}
