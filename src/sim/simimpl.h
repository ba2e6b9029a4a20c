/* Private to src/sim: the parts of the reservoir simulator shared by its
 * 2-D (reservoir.c) and 3-D (reservoir3d.c) realizations. */
#ifndef BO_SIMIMPL_H
#define BO_SIMIMPL_H
#include "bo_sim.h"

/* log k of n cells -> permeability levels 0 .. levels-1, spread over
 * [-3 sigma, 3 sigma + channel_contrast] (the permeability output). */
void bo_sim_permeability_levels(const BOReservoirParams *p, PetscInt n, const double *logk, float *levels);
/* Realization k of a reservoir of nz > 1 layers on the field of realization
 * `field` (BOReservoirRealizeOnField): counts and, if logk is not NULL, the
 * log-permeability, both nz x ny x nx (x fastest). */
PetscErrorCode bo_sim_reservoir3d_realize(const BOReservoirParams *p, uint64_t seed, PetscInt field, PetscInt k,
                                          float *counts, double *logk);

#endif
