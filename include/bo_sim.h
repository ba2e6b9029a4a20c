/* Reference simulators (src/sim), used by bo_datagen to make training data.
 * Each realization is a pure function of (seed, realization index) through
 * the stream (seed, BO_RNG_DATAGEN, k, .), so ensembles do not depend on
 * rank counts. */
#ifndef BO_SIM_H
#define BO_SIM_H
#include <petscsys.h>
#include <stdint.h>

/* Reservoir: Gaussian log-permeability with correlation length and channel
 * facies, single-phase Darcy flow (left to right), then tracer particles
 * injected continuously at the inflow face, counted per cell. In 2-D
 * (nz = 1) or in 3-D (nz > 1: the same model on nz layers of unit cubes). */
typedef enum { BO_RESERVOIR_TRACER, BO_RESERVOIR_PERMEABILITY } BOReservoirOutput;
extern const char *const BOReservoirOutputs[];
typedef struct {
  PetscInt          nx, ny;             /* cells */
  PetscInt          nz;                 /* cells in z: 1 = a 2-D field, > 1 a 3-D one */
  PetscReal         corr_len;           /* correlation length of log k, in cells */
  PetscReal         sigma;              /* standard deviation of log k */
  PetscInt          channels;           /* number of sinuous high-permeability channels */
  PetscReal         channel_width;      /* in cells */
  PetscReal         channel_contrast;   /* added to log k inside a channel */
  PetscReal         particles_per_cell; /* tracer particles injected per cell of pore volume */
  PetscReal         pvi;                /* pore volumes injected */
  PetscReal         dispersivity;       /* in cells */
  PetscReal         tracer_step;        /* largest particle step (cells), by advection and dispersion each */
  PetscInt          levels;             /* permeability levels for the permeability output */
  BOReservoirOutput output;
  PetscInt          refine; /* simulate on a grid refine times finer, count on nx x ny */
} BOReservoirParams;
PetscErrorCode BOReservoirParamsSetFromOptions(MPI_Comm comm, BOReservoirParams *p);
/* Realization k: counts (ny x nx, x fastest; nz x ny x nx for nz > 1).
 * logk (the same shape) may be NULL. */
PetscErrorCode BOReservoirRealize(const BOReservoirParams *p, uint64_t seed, PetscInt k, float *counts, double *logk);
/* Realization k on the permeability field of realization `field`: log k
 * from the streams (seed, BO_RNG_DATAGEN, field, 0 and 1), the tracer walk
 * from (seed, BO_RNG_DATAGEN, k, 2). BOReservoirRealize is field = k;
 * realizations with one field and different k differ in their walks only. */
PetscErrorCode BOReservoirRealizeOnField(const BOReservoirParams *p, uint64_t seed, PetscInt field, PetscInt k,
                                         float *counts, double *logk);

/* Parameters that may differ between realizations (conditioning data, issue
 * #14), in this order: corr_len, sigma, pvi (BOReservoirParamNames). Ranges
 * from -corr_len_range lo,hi -sigma_range lo,hi -pvi_range lo,hi (one value
 * fixes it; a parameter without a range keeps the value of -corr_len,
 * -sigma or -pvi); realization k draws each uniformly in [lo, hi] from the
 * stream (seed, BO_RNG_DATAGEN, k, 3), so it does not depend on the ranks. */
#define BO_RESERVOIR_NPARAMS 3
extern const char *const BOReservoirParamNames[]; /* "corr_len", "sigma", "pvi" */
typedef struct {
  PetscBool set; /* a range option was given */
  PetscReal lo[BO_RESERVOIR_NPARAMS], hi[BO_RESERVOIR_NPARAMS];
} BOReservoirRanges;
PetscErrorCode BOReservoirRangesSetFromOptions(MPI_Comm comm, const BOReservoirParams *p, BOReservoirRanges *r);
void BOReservoirDrawParams(const BOReservoirRanges *r, uint64_t seed, PetscInt k, double v[BO_RESERVOIR_NPARAMS]);
/* The parameters of base with corr_len, sigma, pvi set to v; an error naming
 * what (e.g. "-sigma_range" or "p.h5 row 3") when one is outside its domain. */
PetscErrorCode BOReservoirApplyParams(MPI_Comm comm, const BOReservoirParams *base,
                                      const double v[BO_RESERVOIR_NPARAMS], const char *what, BOReservoirParams *pk);

/* Genes: exact Gillespie simulation of a bursty gene-regulatory network
 * (telegraph promoters, a few transcription factors regulating the rest,
 * cell types differing in their master regulator), then binomial capture. */
typedef struct {
  PetscInt  genes, tfs, cell_types;
  PetscReal t_end;        /* simulated time, in mRNA lifetimes */
  PetscReal capture;      /* probability that an mRNA is observed */
  PetscInt  network_seed; /* the network's rates and wiring: the same for every -seed */
  PetscReal stimulus;     /* multiplies the master regulator's burst frequency (its kon); 1: as before */
} BOGenesParams;
PetscErrorCode BOGenesParamsSetFromOptions(MPI_Comm comm, BOGenesParams *p);
/* Realization (cell) k: counts (genes) and its cell type. */
PetscErrorCode BOGenesRealize(const BOGenesParams *p, uint64_t seed, PetscInt k, float *counts, PetscInt *label);

/* Parameters that may differ between cells (issue #14), in this order:
 * stimulus (BOGenesParamNames). -stimulus_range lo,hi draws it uniformly in
 * [lo, hi] per cell from the stream (seed, BO_RNG_DATAGEN, k, 3), which no
 * other draw of the cell uses, so nothing else in the cell changes and the
 * file does not depend on the ranks; without a range it keeps -stimulus. */
#define BO_GENES_NPARAMS 1
extern const char *const BOGenesParamNames[]; /* "stimulus" */
typedef struct {
  PetscBool set; /* a range option was given */
  PetscReal lo[BO_GENES_NPARAMS], hi[BO_GENES_NPARAMS];
} BOGenesRanges;
PetscErrorCode BOGenesRangesSetFromOptions(MPI_Comm comm, const BOGenesParams *p, BOGenesRanges *r);
void           BOGenesDrawParams(const BOGenesRanges *r, uint64_t seed, PetscInt k, double v[BO_GENES_NPARAMS]);
/* The parameters of base with stimulus set to v[0]; an error naming what
 * (e.g. "-stimulus_range" or "p.h5: params row 3") when it is negative or
 * not finite. */
PetscErrorCode BOGenesApplyParams(MPI_Comm comm, const BOGenesParams *base, const double v[BO_GENES_NPARAMS],
                                  const char *what, BOGenesParams *pk);

#endif
