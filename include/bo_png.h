/* PNG pictures of count ensembles (libpng), written atomically (temporary
 * name, then rename). Serial: call on one rank with the data gathered.
 *
 * Colours: viridis (dark blue 0 -> yellow vmax), from a table of 9 anchors
 * interpolated linearly. A colour bar runs along the bottom with the range
 * printed at its ends (0 and vmax); the title goes into the PNG's Title
 * text chunk.
 */
#ifndef BO_PNG_H
#define BO_PNG_H
#include <petscsys.h>

/* Montage of n fields (n x Ny x Nx x C floats, component 0 drawn), tiles in
 * a near-square grid, y up. vmax <= 0: the maximum of the data. */
PetscErrorCode BOPNGWriteFields(const char *path, PetscInt n, PetscInt Ny, PetscInt Nx, PetscInt C, const float *x,
                                double vmax, const char *title);
/* Heat map of count vectors: one row per member, one column per feature,
 * colour ~ log(1 + count) / log(1 + vmax). vmax <= 0: the maximum. */
PetscErrorCode BOPNGWriteHeatmap(const char *path, PetscInt n, PetscInt G, const float *x, double vmax, const char *title);
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
int            BOImageTextWidth(const char *s);
/* Draws s (may be NULL) in lines at most w pixels wide, broken at spaces (a
 * word longer than a line is cut); returns the number of lines. im NULL:
 * only counts them. */
int            BOImageTextWrap(BOImage *im, int x, int y, int w, const char *s, const unsigned char c[3]);
void           BOImageLine(BOImage *im, int x0, int y0, int x1, int y1, const unsigned char c[3]);
PetscErrorCode BOImageWrite(const BOImage *im, const char *path, const char *title, const char *comment);

#endif
