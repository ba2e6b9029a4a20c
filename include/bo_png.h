/* PNG pictures of count ensembles (libpng), written atomically (temporary
 * name, then rename). Serial: call on one rank with the data gathered.
 *
 * Colours: viridis (dark blue 0 -> yellow vmax), from a table of 9 anchors
 * interpolated linearly. A colour bar runs along the bottom with the range
 * printed at its ends (0 and vmax) and its label above; title and caption
 * are drawn on top.
 */
#ifndef BO_PNG_H
#define BO_PNG_H
#include <petscsys.h>

/* What a montage or heat map says, drawn in the picture: the title on top
 * (bold; also the PNG's Title text chunk), the caption under it (grey; what
 * the tiles or rows are), both wrapped to the width, and the colour bar's
 * label centred above the bar. Any may be NULL; so may the whole struct.
 *
 * Layout, top to bottom: a margin of 8 pixels, the title and caption lines
 * (BO_TEXT_LINE each, then 6 pixels if there are any), the picture centred
 * in a width of at least 400 pixels, 10 pixels, the bar label's line, the
 * bar (10 pixels, margin to margin), 4 pixels, its range (0 and vmax, text)
 * and the margin. */
typedef struct {
  const char *title, *caption, *bar;
  PetscBool   top_down; /* fields: row 0 at the top (images), not at the bottom (y up, PETSc's grids) */
} BOPNGLabels;

/* Montage of n fields (n x Ny x Nx x C floats, component 0 drawn), tiles of
 * about 96 pixels in a near-square grid (gaps of 4) filled left to right
 * and top to bottom, y up. vmax <= 0: the maximum of the data. */
PetscErrorCode BOPNGWriteFields(const char *path, PetscInt n, PetscInt Ny, PetscInt Nx, PetscInt C, const float *x,
                                double vmax, const BOPNGLabels *labels);
/* Montage of n 3-D fields (n x Nz x Ny x Nx x C floats, [z][y][x][c],
 * component 0 drawn): a row per member of its z-slices, all of them up to
 * 8, else 8 evenly spaced, z_j = floor(j (Nz - 1) / 7), j = 0..7, each a
 * tile as in BOPNGWriteFields (about 96 pixels, gaps of 4, top_down as
 * there), under a line naming the slices ("z=0", "z=3", ...). vmax <= 0:
 * the maximum of the data. */
PetscErrorCode BOPNGWriteVolumes(const char *path, PetscInt n, PetscInt Nz, PetscInt Ny, PetscInt Nx, PetscInt C,
                                 const float *x, double vmax, const BOPNGLabels *lab);
/* Heat map of count vectors: one row per member, one column per feature,
 * colour ~ log(1 + count) / log(1 + vmax). vmax <= 0: the maximum. */
PetscErrorCode BOPNGWriteHeatmap(const char *path, PetscInt n, PetscInt G, const float *x, double vmax,
                                 const BOPNGLabels *labels);
/* The colour map: t in [0, 1] -> RGB. */
void BOColormap(double t, unsigned char rgb[3]);

/* An RGB picture for plots of our own: white on creation; pixels outside
 * are ignored; lines are two pixels thick. Text is a 5 x 7 font drawn at
 * scale 2 (BO_TEXT_ADVANCE pixels a character, BO_TEXT_HEIGHT high, (x, y)
 * its top left corner): A-Z (lower case is drawn as upper case), digits,
 * space and the ASCII punctuation ! " # $ % & ' ( ) * + , - . / : ; < = > ?
 * @ [ \ ] ^ _; any other byte is drawn as a hollow box. BOImageWrite encodes
 * it to a temporary name and renames; title and comment (may be NULL) go
 * into PNG text chunks. */
#define BO_TEXT_ADVANCE 12
#define BO_TEXT_HEIGHT  14
#define BO_TEXT_LINE    18 /* from one line of text to the next */
typedef struct {
  int            W, H;
  unsigned char *rgb; /* H x W x 3 */
} BOImage;
PetscErrorCode BOImageCreate(int W, int H, BOImage *im);
PetscErrorCode BOImageDestroy(BOImage *im);
void           BOImagePut(BOImage *im, int x, int y, const unsigned char c[3]);
void           BOImageText(BOImage *im, int x, int y, const char *s, const unsigned char c[3]);
/* Width in pixels of s drawn on one line. */
int BOImageTextWidth(const char *s);
/* Draws s (may be NULL) in lines at most w pixels wide, broken at spaces (a
 * word longer than a line is cut); returns the number of lines. im NULL:
 * only counts them. */
int            BOImageTextWrap(BOImage *im, int x, int y, int w, const char *s, const unsigned char c[3]);
void           BOImageLine(BOImage *im, int x0, int y0, int x1, int y1, const unsigned char c[3]);
PetscErrorCode BOImageWrite(const BOImage *im, const char *path, const char *title, const char *comment);

#endif
