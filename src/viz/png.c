/* PNG montages and heat maps of count data. */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bo_png.h"
#include "bo_sys.h"

/* Viridis-like anchors at t = 0, 1/8, ..., 1 (dark blue -> teal -> yellow). */
static const unsigned char anchors[9][3] = {{68, 1, 84},    {72, 36, 117},  {65, 68, 135},
                                            {53, 95, 141},  {42, 120, 142}, {33, 145, 140},
                                            {53, 183, 121}, {144, 215, 67}, {253, 231, 37}};

void BOColormap(double t, unsigned char rgb[3])
{
  double s;
  int    k;
  if (!(t > 0)) t = 0; /* NaN -> 0 */
  if (t > 1) t = 1;
  s = t * 8, k = (int)s;
  if (k > 7) k = 7;
  s -= k;
  for (int c = 0; c < 3; c++) rgb[c] = (unsigned char)lround((1 - s) * anchors[k][c] + s * anchors[k + 1][c]);
}

/* A 5 x 7 font for ASCII 32 (space) to 95 (underscore): rows top to bottom,
 * 5 bits each, the high bit on the left. */
static const unsigned char font[64][7] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* space */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04}, /* ! */
    {0x0a, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00}, /* double quote */
    {0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a}, /* # */
    {0x04, 0x0f, 0x14, 0x0e, 0x05, 0x1e, 0x04}, /* $ */
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}, /* % */
    {0x0c, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0d}, /* & */
    {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00}, /* quote */
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}, /* ( */
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}, /* ) */
    {0x00, 0x04, 0x15, 0x0e, 0x15, 0x04, 0x00}, /* asterisk */
    {0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00}, /* + */
    {0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08}, /* , */
    {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00}, /* - */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c}, /* . */
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}, /* / */
    {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e}, /* 0 */
    {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e}, /* 1 */
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f}, /* 2 */
    {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e}, /* 3 */
    {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02}, /* 4 */
    {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e}, /* 5 */
    {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e}, /* 6 */
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}, /* 7 */
    {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e}, /* 8 */
    {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c}, /* 9 */
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00}, /* : */
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x04, 0x08}, /* ; */
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}, /* < */
    {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00}, /* = */
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}, /* > */
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}, /* ? */
    {0x0e, 0x11, 0x01, 0x0d, 0x15, 0x15, 0x0e}, /* @ */
    {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}, /* A */
    {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e}, /* B */
    {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e}, /* C */
    {0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c}, /* D */
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f}, /* E */
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10}, /* F */
    {0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f}, /* G */
    {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}, /* H */
    {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}, /* I */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c}, /* J */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, /* K */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f}, /* L */
    {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11}, /* M */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}, /* N */
    {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}, /* O */
    {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10}, /* P */
    {0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d}, /* Q */
    {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11}, /* R */
    {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e}, /* S */
    {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* T */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}, /* U */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04}, /* V */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a}, /* W */
    {0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11}, /* X */
    {0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04}, /* Y */
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f}, /* Z */
    {0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e}, /* [ */
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00}, /* backslash */
    {0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e}, /* ] */
    {0x04, 0x0a, 0x11, 0x00, 0x00, 0x00, 0x00}, /* ^ */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f}, /* _ */
};
/* Drawn for a byte outside the font: a hollow box. */
static const unsigned char missing[7] = {0x1f, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1f};

static const unsigned char *glyph(char ch)
{
  int u = (unsigned char)ch;
  if (u >= 'a' && u <= 'z') u -= 'a' - 'A';
  return u >= 32 && u <= 95 ? font[u - 32] : missing;
}

void BOImagePut(BOImage *im, int x, int y, const unsigned char c[3])
{
  if (x < 0 || y < 0 || x >= im->W || y >= im->H) return;
  memcpy(im->rgb + 3 * ((size_t)y * im->W + x), c, 3);
}

/* The first n characters of s, each font pixel a 2 x 2 block. */
static void text_n(BOImage *im, int x, int y, const char *s, size_t n, const unsigned char c[3])
{
  for (size_t k = 0; k < n; k++, x += BO_TEXT_ADVANCE) {
    const unsigned char *g = glyph(s[k]);
    for (int r = 0; r < 7; r++)
      for (int col = 0; col < 5; col++)
        if (g[r] >> (4 - col) & 1)
          for (int dy = 0; dy < 2; dy++)
            for (int dx = 0; dx < 2; dx++) BOImagePut(im, x + 2 * col + dx, y + 2 * r + dy, c);
  }
}

void BOImageText(BOImage *im, int x, int y, const char *s, const unsigned char c[3])
{
  text_n(im, x, y, s, strlen(s), c);
}

int BOImageTextWidth(const char *s)
{
  size_t n = strlen(s);
  return n ? (int)n * BO_TEXT_ADVANCE - 2 : 0; /* no gap after the last character */
}

int BOImageTextWrap(BOImage *im, int x, int y, int w, const char *s, const unsigned char c[3])
{
  size_t per   = (size_t)PetscMax(1, (w + 2) / BO_TEXT_ADVANCE); /* characters a line */
  int    lines = 0;
  for (; s && *s; lines++) {
    size_t n = strlen(s), cut = n;
    if (n > per) { /* break at the last space that fits, else cut the word */
      cut = per;
      while (cut > 0 && s[cut] != ' ') cut--;
      if (cut == 0) cut = per;
    }
    if (im) text_n(im, x, y + lines * BO_TEXT_LINE, s, cut, c);
    s += cut;
    while (*s == ' ') s++;
  }
  return lines;
}

void BOImageLine(BOImage *im, int x0, int y0, int x1, int y1, const unsigned char c[3])
{
  /* Bresenham, two pixels thick */
  int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
  for (;;) {
    BOImagePut(im, x0, y0, c), BOImagePut(im, x0 + 1, y0, c), BOImagePut(im, x0, y0 + 1, c);
    if (x0 == x1 && y0 == y1) break;
    int e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

PetscErrorCode BOImageCreate(int W, int H, BOImage *im)
{
  PetscFunctionBegin;
  im->W = W, im->H = H;
  PetscCall(PetscMalloc1((size_t)W * H * 3, &im->rgb));
  memset(im->rgb, 255, (size_t)W * H * 3);
  PetscFunctionReturn(0);
}

PetscErrorCode BOImageDestroy(BOImage *im)
{
  PetscFunctionBegin;
  PetscCall(PetscFree(im->rgb));
  PetscFunctionReturn(0);
}

/* Encode with libpng into path's temporary name, then rename. */
PetscErrorCode BOImageWrite(const BOImage *im, const char *path, const char *title, const char *comment)
{
  char        tmp[PETSC_MAX_PATH_LEN + 32];
  FILE       *f;
  png_structp png  = NULL;
  png_infop   info = NULL;
  png_text    text[2];
  int         ntext = 0;

  PetscFunctionBegin;
  BOTempPath(path, tmp, sizeof(tmp));
  f = fopen(tmp, "wb");
  PetscCheck(f, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot create %s: %s", tmp, strerror(errno));
  png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  if (png) info = png_create_info_struct(png);
  if (!png || !info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    fclose(f);
    unlink(tmp);
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_LIB, "libpng failed writing %s", path);
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)im->W, (png_uint_32)im->H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (title && title[0]) {
    text[ntext].compression = PNG_TEXT_COMPRESSION_NONE, text[ntext].key = (png_charp) "Title";
    text[ntext++].text = (png_charp)title;
  }
  if (comment && comment[0]) {
    text[ntext].compression = PNG_TEXT_COMPRESSION_NONE, text[ntext].key = (png_charp) "Comment";
    text[ntext++].text = (png_charp)comment;
  }
  if (ntext) png_set_text(png, info, text, ntext);
  png_write_info(png, info);
  for (int y = 0; y < im->H; y++) png_write_row(png, im->rgb + 3 * (size_t)y * im->W);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  if (fclose(f) != 0) {
    int err = errno;
    unlink(tmp);
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "cannot write %s: %s", tmp, strerror(err));
  }
  PetscCall(BOPublishFile(tmp, path));
  PetscFunctionReturn(0);
}

static double data_max(size_t n, const float *x)
{
  double m = 0;
  for (size_t i = 0; i < n; i++) m = PetscMax(m, (double)x[i]);
  return m > 0 ? m : 1;
}

static const unsigned char black[3] = {0, 0, 0}, grey[3] = {90, 90, 90};
static const int           margin = 8, min_width = 400, head_gap = 6, bar_gap = 10, bar_height = 10;

/* Colour bar from x0 to x1 with its top at y, its label centred on the line
 * above, "0" and vmax under its ends. */
static void colour_bar(BOImage *im, int x0, int x1, int y, double vmax, const char *label)
{
  char range[32];
  for (int x = x0; x <= x1; x++) {
    unsigned char c[3];
    BOColormap((double)(x - x0) / PetscMax(1, x1 - x0), c);
    for (int dy = 0; dy < bar_height; dy++) BOImagePut(im, x, y + dy, c);
  }
  if (label) BOImageText(im, (x0 + x1 + 1 - BOImageTextWidth(label)) / 2, y - BO_TEXT_LINE, label, black);
  BOImageText(im, x0, y + bar_height + 4, "0", black);
  snprintf(range, sizeof(range), "%.6g", vmax);
  BOImageText(im, x1 + 1 - BOImageTextWidth(range), y + bar_height + 4, range, black);
}

/* Creates the image for a picture of pw x ph pixels in the layout of
 * bo_png.h, draws its labels and colour bar, and returns in (px, py) the
 * top left corner of the picture. */
static PetscErrorCode labelled_image(int pw, int ph, const BOPNGLabels *lab, double vmax, BOImage *im, int *px, int *py)
{
  int W = PetscMax(2 * margin + pw, min_width), tw = W - 2 * margin;
  int nt = BOImageTextWrap(NULL, 0, 0, tw, lab->title, NULL), nc = BOImageTextWrap(NULL, 0, 0, tw, lab->caption, NULL);
  int head = (nt + nc) * BO_TEXT_LINE + (nt + nc > 0 ? head_gap : 0);
  int bars = bar_gap + BO_TEXT_LINE + bar_height + 4 + BO_TEXT_HEIGHT;

  PetscFunctionBegin;
  PetscCall(BOImageCreate(W, margin + head + ph + bars + margin, im));
  for (int dx = 0; dx < 2; dx++)
    BOImageTextWrap(im, margin + dx, margin, tw, lab->title, black); /* bold: twice, a pixel apart */
  BOImageTextWrap(im, margin, margin + nt * BO_TEXT_LINE, tw, lab->caption, grey);
  *px = (W - pw) / 2, *py = margin + head;
  colour_bar(im, margin, W - margin - 1, *py + ph + bar_gap + BO_TEXT_LINE, vmax, lab->bar);
  PetscFunctionReturn(0);
}

static const BOPNGLabels no_labels;

/* One Ny x Nx slice (component 0 of C) as a tile of s-pixel cells at (x0, y0). */
static void draw_tile(BOImage *im, int x0, int y0, int s, PetscInt Ny, PetscInt Nx, PetscInt C, const float *slice,
                      double vmax, PetscBool top_down)
{
  for (PetscInt j = 0; j < Ny; j++)
    for (PetscInt i = 0; i < Nx; i++) {
      unsigned char c[3];
      int           row = top_down ? (int)j : (int)(Ny - 1 - j); /* by default row 0 at the bottom: y up */
      BOColormap(slice[((size_t)j * Nx + i) * C] / vmax, c);
      for (int dy = 0; dy < s; dy++)
        for (int dx = 0; dx < s; dx++) BOImagePut(im, x0 + (int)i * s + dx, y0 + row * s + dy, c);
    }
}

PetscErrorCode BOPNGWriteFields(const char *path, PetscInt n, PetscInt Ny, PetscInt Nx, PetscInt C, const float *x,
                                double vmax, const BOPNGLabels *labels)
{
  const int gap = 4;
  int       cols, rows, s, tw, th, px, py;
  BOImage   im;
  char      comment[128];

  PetscFunctionBegin;
  PetscCheck(n >= 1 && Ny >= 1 && Nx >= 1 && C >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "nothing to draw in %s",
             path);
  if (!labels) labels = &no_labels;
  if (vmax <= 0) vmax = data_max((size_t)n * Ny * Nx * C, x);
  cols = (int)ceil(sqrt((double)n)), rows = (int)((n + cols - 1) / cols);
  s  = (int)PetscMax(1, 96 / PetscMax(Ny, Nx)); /* tiles of about 96 pixels */
  tw = (int)Nx * s, th = (int)Ny * s;
  PetscCall(labelled_image(cols * tw + (cols - 1) * gap, rows * th + (rows - 1) * gap, labels, vmax, &im, &px, &py));
  for (PetscInt k = 0; k < n; k++) {
    int x0 = px + (int)(k % cols) * (tw + gap), y0 = py + (int)(k / cols) * (th + gap);
    draw_tile(&im, x0, y0, s, Ny, Nx, C, x + (size_t)k * Ny * Nx * C, vmax, labels->top_down);
  }
  snprintf(comment, sizeof(comment), "%d members, colour 0..%g (linear), component 0 of %d", (int)n, vmax, (int)C);
  PetscCall(BOImageWrite(&im, path, labels->title, comment));
  PetscCall(BOImageDestroy(&im));
  PetscFunctionReturn(0);
}

#define BO_PNG_MAX_SLICES 8

static PetscInt volume_slices(PetscInt Nz) { return PetscMin(Nz, BO_PNG_MAX_SLICES); }

/* Evenly spaced from 0 to Nz - 1, rounded down: every z when Nz <= 8. */
static PetscInt volume_slice(PetscInt Nz, PetscInt j)
{
  PetscInt ns = volume_slices(Nz);
  return ns > 1 ? (PetscInt)((PetscInt64)j * (Nz - 1) / (ns - 1)) : 0;
}

PetscErrorCode BOPNGWriteVolumes(const char *path, PetscInt n, PetscInt Nz, PetscInt Ny, PetscInt Nx, PetscInt C,
                                 const float *x, double vmax, const BOPNGLabels *lab)
{
  const int gap = 4;
  PetscInt  ns;
  int       s, tw, th, px, py;
  BOImage   im;
  char      comment[160];

  PetscFunctionBegin;
  PetscCheck(n >= 1 && Nz >= 1 && Ny >= 1 && Nx >= 1 && C >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "nothing to draw in %s", path);
  if (!lab) lab = &no_labels;
  if (vmax <= 0) vmax = data_max((size_t)n * Nz * Ny * Nx * C, x);
  ns = volume_slices(Nz);
  s  = (int)PetscMax(1, 96 / PetscMax(Ny, Nx)); /* tiles of about 96 pixels */
  tw = (int)Nx * s, th = (int)Ny * s;
  PetscCall(labelled_image((int)ns * tw + ((int)ns - 1) * gap, BO_TEXT_LINE + (int)n * th + ((int)n - 1) * gap, lab,
                           vmax, &im, &px, &py));
  for (PetscInt j = 0; j < ns; j++) {
    PetscInt z = volume_slice(Nz, j);
    char     name[32];
    snprintf(name, sizeof(name), BOImageTextWidth("z=000") <= tw ? "z=%d" : "%d", (int)z);
    BOImageText(&im, px + (int)j * (tw + gap), py, name, black);
    for (PetscInt k = 0; k < n; k++)
      draw_tile(&im, px + (int)j * (tw + gap), py + BO_TEXT_LINE + (int)k * (th + gap), s, Ny, Nx, C,
                x + ((size_t)k * Nz + z) * Ny * Nx * C, vmax, lab->top_down);
  }
  snprintf(comment, sizeof(comment),
           "%d members (rows) x %d z-slices of %d (columns), colour 0..%g (linear), component 0 of %d", (int)n, (int)ns,
           (int)Nz, vmax, (int)C);
  PetscCall(BOImageWrite(&im, path, lab->title, comment));
  PetscCall(BOImageDestroy(&im));
  PetscFunctionReturn(0);
}

PetscErrorCode BOPNGWriteHeatmap(const char *path, PetscInt n, PetscInt G, const float *x, double vmax,
                                 const BOPNGLabels *labels)
{
  int     sx, sy, px, py;
  BOImage im;
  char    comment[128];

  PetscFunctionBegin;
  PetscCheck(n >= 1 && G >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "nothing to draw in %s", path);
  if (!labels) labels = &no_labels;
  if (vmax <= 0) vmax = data_max((size_t)n * G, x);
  sx = (int)PetscMax(1, PetscMin(16, 640 / G)), sy = (int)PetscMax(1, PetscMin(16, 480 / n));
  PetscCall(labelled_image((int)G * sx, (int)n * sy, labels, vmax, &im, &px, &py));
  for (PetscInt k = 0; k < n; k++)
    for (PetscInt g = 0; g < G; g++) {
      unsigned char c[3];
      BOColormap(log1p((double)x[(size_t)k * G + g]) / log1p(vmax), c);
      for (int dy = 0; dy < sy; dy++)
        for (int dx = 0; dx < sx; dx++) BOImagePut(&im, px + (int)g * sx + dx, py + (int)k * sy + dy, c);
    }
  snprintf(comment, sizeof(comment), "%d members x %d features, colour log(1+count), 0..%g", (int)n, (int)G, vmax);
  PetscCall(BOImageWrite(&im, path, labels->title, comment));
  PetscCall(BOImageDestroy(&im));
  PetscFunctionReturn(0);
}
