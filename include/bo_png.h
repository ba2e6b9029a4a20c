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

#endif
