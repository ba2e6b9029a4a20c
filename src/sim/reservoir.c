/* Reference simulator: tracer counts in a heterogeneous reservoir.
 *
 * Realization k (all randomness from the stream (seed, BO_RNG_DATAGEN, k, b);
 * BOReservoirRealizeOnField takes b = 0, 1 from another realization's index,
 * so that several tracer walks share one field):
 *   1. log-permeability: Gaussian random field (white noise smoothed by a
 *      separable Gaussian kernel, unit variance, correlation length corr_len
 *      cells) times sigma, plus `channels` sinuous channels of high
 *      permeability (+channel_contrast in log k)                       [b = 0, 1]
 *   2. single-phase Darcy flow, pressure 1 on the left, 0 on the right, no
 *      flow top and bottom (BODarcySolve on PETSC_COMM_SELF)
 *   3. tracer: particles injected continuously over [0, T] through the left
 *      face in proportion to the inflow, carried by the velocity field
 *      (linear within each cell in its own direction, as in Pollock's
 *      scheme) with a dispersive random walk of constant coefficient
 *      D = dispersivity x mean velocity (a velocity-dependent D would need a
 *      drift correction, or particles pile up in slow zones); T is the
 *      time to inject `pvi` pore volumes. Counts = particles per cell at T [b = 2]
 * Cells are unit squares and porosity is 1, so a cell holds one unit of pore
 * volume. The counts follow the channels and the front of the plume.
 *
 * Per-realization parameters (corr_len, sigma, pvi) are drawn from ranges
 * with the stream (seed, BO_RNG_DATAGEN, k, 3), or given by the caller.
 *
 * With -refine R the physics runs on a grid R times finer in each direction
 * (lengths in output cells unchanged, the same number of particles) and the
 * particles are counted on the nx x ny output grid: fine-scale flow seen at
 * the resolution of the observations, at R^2 .. R^3 times the cost.
 *
 * -nz NZ > 1 simulates the same model in 3-D (reservoir3d.c); -nz 1 is this
 * file's 2-D model, unchanged.
 */
#include <math.h>
#include <stdio.h>
#include "bo_darcy.h"
#include "bo_rng.h"
#include "simimpl.h"

const char *const BOReservoirOutputs[] = {"tracer", "permeability", "BOReservoirOutput", "BO_RESERVOIR_", NULL};

PetscErrorCode BOReservoirParamsSetFromOptions(MPI_Comm comm, BOReservoirParams *p)
{
  PetscFunctionBegin;
  p->nx = 32, p->ny = 32, p->nz = 1, p->corr_len = 4, p->sigma = 1.0, p->channels = 2, p->channel_width = 3;
  p->channel_contrast = 2.5, p->particles_per_cell = 8, p->pvi = 0.5, p->dispersivity = 0.3, p->levels = 16;
  p->tracer_step = 0.25;
  p->output = BO_RESERVOIR_TRACER, p->refine = 1;
  PetscOptionsBegin(comm, NULL, "Reservoir simulator", "bo_datagen");
  PetscCall(PetscOptionsInt("-nx", "cells in x", NULL, p->nx, &p->nx, NULL));
  PetscCall(PetscOptionsInt("-ny", "cells in y", NULL, p->ny, &p->ny, NULL));
  PetscCall(PetscOptionsInt("-nz", "cells in z (1: 2-D fields; more: a 3-D reservoir)", NULL, p->nz, &p->nz, NULL));
  PetscCall(
      PetscOptionsReal("-corr_len", "correlation length of log k (cells)", NULL, p->corr_len, &p->corr_len, NULL));
  PetscCall(PetscOptionsReal("-sigma", "standard deviation of log k", NULL, p->sigma, &p->sigma, NULL));
  PetscCall(PetscOptionsInt("-channels", "high-permeability channels", NULL, p->channels, &p->channels, NULL));
  PetscCall(
      PetscOptionsReal("-channel_width", "channel width (cells)", NULL, p->channel_width, &p->channel_width, NULL));
  PetscCall(PetscOptionsReal("-channel_contrast", "log k added in channels", NULL, p->channel_contrast,
                             &p->channel_contrast, NULL));
  PetscCall(PetscOptionsReal("-particles_per_cell", "tracer particles per injected pore volume of a cell", NULL,
                             p->particles_per_cell, &p->particles_per_cell, NULL));
  PetscCall(PetscOptionsReal("-pvi", "pore volumes injected", NULL, p->pvi, &p->pvi, NULL));
  PetscCall(PetscOptionsReal("-dispersivity", "dispersivity (cells)", NULL, p->dispersivity, &p->dispersivity, NULL));
  PetscCall(PetscOptionsReal("-tracer_step",
                             "largest particle step (cells), by advection and by dispersion each: larger is faster "
                             "and coarser",
                             NULL, p->tracer_step, &p->tracer_step, NULL));
  PetscCall(PetscOptionsEnum("-reservoir_output", "tracer counts, or permeability quantised into -levels levels", NULL,
                             BOReservoirOutputs, (PetscEnum)p->output, (PetscEnum *)&p->output, NULL));
  PetscCall(PetscOptionsInt("-levels", "permeability levels", NULL, p->levels, &p->levels, NULL));
  PetscCall(PetscOptionsInt("-refine", "simulate on a grid this many times finer, count on -nx x -ny", NULL, p->refine,
                            &p->refine, NULL));
  PetscOptionsEnd();
  PetscCheck(p->refine >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-refine %" PetscInt_FMT ": must be >= 1", p->refine);
  PetscCheck(p->nx >= 2 && p->ny >= 2, comm, PETSC_ERR_ARG_OUTOFRANGE, "-nx and -ny must be at least 2");
  if (!(p->tracer_step > 0 && p->tracer_step <= 1)) {
    char val[32]; /* C's %g: PETSc's prints 0 as "0." */
    snprintf(val, sizeof(val), "%g", (double)p->tracer_step);
    SETERRQ(comm, PETSC_ERR_ARG_OUTOFRANGE, "-tracer_step %s: must be in (0, 1] cells", val);
  }
  PetscCheck(p->nz >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-nz %" PetscInt_FMT ": must be at least 1 (1: 2-D fields)",
             p->nz);
  PetscCheck(p->corr_len > 0 && p->sigma >= 0 && p->channels >= 0 && p->channel_width > 0, comm,
             PETSC_ERR_ARG_OUTOFRANGE,
             "-corr_len and -channel_width must be positive, -sigma and -channels non-negative");
  PetscCheck(p->particles_per_cell > 0 && p->pvi > 0 && p->dispersivity >= 0 && p->levels >= 2, comm,
             PETSC_ERR_ARG_OUTOFRANGE, "-particles_per_cell and -pvi must be positive, -levels at least 2");
  PetscFunctionReturn(0);
}

/* 1. log k: smoothed white noise plus channels. */
static PetscErrorCode log_permeability(const BOReservoirParams *p, uint64_t seed, PetscInt k, double *logk)
{
  PetscInt R = (PetscInt)ceil(3 * p->corr_len), W = p->nx + 2 * R, H = p->ny + 2 * R;
  double  *w, *noise, *tmp, norm = 0;
  BORng    rng;

  PetscFunctionBegin;
  PetscCall(PetscMalloc3(2 * R + 1, &w, (size_t)W * H, &noise, (size_t)p->ny * W, &tmp));
  for (PetscInt m = -R; m <= R; m++)
    w[m + R] = exp(-(double)(m * m) / (p->corr_len * p->corr_len)), norm += w[m + R] * w[m + R];
  for (PetscInt m = 0; m <= 2 * R; m++) w[m] /= sqrt(norm); /* unit variance after both passes */
  BORngInit(&rng, seed, BO_RNG_DATAGEN, (uint32_t)k, 0);
  for (size_t i = 0; i < (size_t)W * H; i++) noise[i] = BORngNormal(&rng);
  for (PetscInt j = 0; j < p->ny; j++) /* smooth in y */
    for (PetscInt i = 0; i < W; i++) {
      double s = 0;
      for (PetscInt m = 0; m <= 2 * R; m++) s += w[m] * noise[(size_t)(j + m) * W + i];
      tmp[(size_t)j * W + i] = s;
    }
  for (PetscInt j = 0; j < p->ny; j++) /* smooth in x */
    for (PetscInt i = 0; i < p->nx; i++) {
      double s = 0;
      for (PetscInt m = 0; m <= 2 * R; m++) s += w[m] * tmp[(size_t)j * W + i + m];
      logk[j * p->nx + i] = p->sigma * s;
    }
  /* channels: centre line y = y0 + a sin(2 pi x / L + phi), crossing the domain in x */
  BORngInit(&rng, seed, BO_RNG_DATAGEN, (uint32_t)k, 1);
  for (PetscInt c = 0; c < p->channels; c++) {
    double y0 = p->ny * (0.15 + 0.7 * BORngUniform(&rng)), a = p->ny * (0.05 + 0.15 * BORngUniform(&rng));
    double L = p->nx * (0.5 + BORngUniform(&rng)), phi = 2 * M_PI * BORngUniform(&rng);
    for (PetscInt j = 0; j < p->ny; j++)
      for (PetscInt i = 0; i < p->nx; i++) {
        double yc = y0 + a * sin(2 * M_PI * (i + 0.5) / L + phi);
        if (fabs(j + 0.5 - yc) < 0.5 * p->channel_width) logk[j * p->nx + i] += p->channel_contrast;
      }
  }
  PetscCall(PetscFree3(w, noise, tmp));
  PetscFunctionReturn(0);
}

/* 2. Darcy face fluxes (cells of size 1, pressure drop 1). */
static PetscErrorCode solve_flow(const BOReservoirParams *p, const double *logk, double *qx, double *qy)
{
  DM             da;
  Vec            perm, pres;
  PetscScalar   *a;
  BODarcyProblem prob = {1.0, 1.0, 1.0, 0.0, 1.0};

  PetscFunctionBegin;
  PetscCall(DMDACreate2d(PETSC_COMM_SELF, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR, p->nx, p->ny, 1, 1, 1,
                         1, NULL, NULL, &da));
  PetscCall(DMSetUp(da));
  PetscCall(DMCreateGlobalVector(da, &perm));
  PetscCall(VecDuplicate(perm, &pres));
  PetscCall(VecGetArray(perm, &a));
  for (PetscInt i = 0; i < p->nx * p->ny; i++) a[i] = exp(logk[i]);
  PetscCall(VecRestoreArray(perm, &a));
  PetscCall(BODarcySolve(da, perm, &prob, "darcy_", pres, NULL));
  PetscCall(BODarcyFaceFluxes(da, perm, pres, &prob, qx, qy));
  PetscCall(VecDestroy(&perm));
  PetscCall(VecDestroy(&pres));
  PetscCall(DMDestroy(&da));
  PetscFunctionReturn(0);
}

/* Velocity at (x, y) inside cell (j, i): each component linear between the
 * fluxes of the two faces it crosses. */
static void cell_velocity(const BOReservoirParams *p, const double *qx, const double *qy, double x, double y,
                          double *vx, double *vy)
{
  PetscInt i = PetscMin(p->nx - 1, PetscMax(0, (PetscInt)x)), j = PetscMin(p->ny - 1, PetscMax(0, (PetscInt)y));
  double   fx = x - i, fy = y - j;
  *vx = (1 - fx) * qx[j * (p->nx + 1) + i] + fx * qx[j * (p->nx + 1) + i + 1];
  *vy = (1 - fy) * qy[j * p->nx + i] + fy * qy[(j + 1) * p->nx + i];
}

/* 3. Tracer particles. */
static void track_tracer(const BOReservoirParams *p, uint64_t seed, PetscInt k, const double *qx, const double *qy,
                         float *counts)
{
  const double cfl = p->tracer_step; /* cells per step */
  double       Q = 0, T, Dm, *cdf = malloc(sizeof(double) * (size_t)p->ny);
  long         M = lround(p->particles_per_cell * p->pvi * (double)(p->nx * p->ny));
  BORng        rng;

  for (PetscInt j = 0; j < p->ny; j++) Q += PetscMax(0.0, qx[j * (p->nx + 1)]), cdf[j] = Q;
  T  = p->pvi * (double)(p->nx * p->ny) / Q; /* time to inject pvi pore volumes */
  Dm = p->dispersivity * Q / p->ny;          /* dispersion coefficient */
  for (PetscInt c = 0; c < p->nx * p->ny; c++) counts[c] = 0;
  BORngInit(&rng, seed, BO_RNG_DATAGEN, (uint32_t)k, 2);
  for (long n = 0; n < M; n++) {
    double   u = BORngUniform(&rng) * Q, x = 0, y, left;
    PetscInt j = 0;
    while (j < p->ny - 1 && cdf[j] < u) j++;
    y    = j + BORngUniform(&rng);
    left = T * BORngUniform(&rng); /* time since release */
    while (left > 0) {
      double vx, vy, speed, dt, s, zx = 0, zy = 0;
      cell_velocity(p, qx, qy, x, y, &vx, &vy);
      speed = sqrt(vx * vx + vy * vy);
      dt    = PetscMin(left, cfl / PetscMax(speed, 1e-300));
      if (Dm > 0) dt = PetscMin(dt, cfl * cfl / (2 * Dm)); /* diffusive steps of at most cfl cells too */
      s = sqrt(2 * Dm * dt);
      if (Dm > 0) BORngNormalPair(&rng, &zx, &zy);
      x += vx * dt + s * zx;
      y += vy * dt + s * zy;
      left -= dt;
      if (x < 0) x = -x; /* reflect at the inflow face and the no-flow walls */
      if (y < 0) y = -y;
      if (y > p->ny) y = 2 * p->ny - y;
      y = PetscMin(PetscMax(y, 0.0), p->ny - 1e-9);
      if (x >= p->nx) break; /* left through the outflow face */
    }
    if (x < p->nx) counts[(PetscInt)y * p->nx + PetscMin((PetscInt)x, p->nx - 1)] += 1;
  }
  free(cdf);
}

/* The same physics on a grid R times finer: lengths are scaled to fine
 * cells; particles per fine cell drop by R^2 so the total is unchanged. */
static BOReservoirParams refined(const BOReservoirParams *p)
{
  BOReservoirParams f = *p;
  const PetscInt    R = p->refine;
  f.nx *= R, f.ny *= R, f.corr_len *= R, f.channel_width *= R, f.dispersivity *= R;
  f.particles_per_cell /= (double)(R * R);
  f.refine = 1;
  return f;
}

void bo_sim_permeability_levels(const BOReservoirParams *p, PetscInt n, const double *logk, float *levels)
{
  /* levels spread over [-3 sigma, 3 sigma + contrast] */
  double lo = -3 * p->sigma, hi = 3 * p->sigma + (p->channels ? p->channel_contrast : 0) + 1e-12;
  for (PetscInt c = 0; c < n; c++) {
    double l  = floor((logk[c] - lo) / (hi - lo) * p->levels);
    levels[c] = (float)PetscMin(PetscMax(l, 0.0), (double)(p->levels - 1));
  }
}

PetscErrorCode BOReservoirRealize(const BOReservoirParams *p, uint64_t seed, PetscInt k, float *counts,
                                  double *logk_out)
{
  PetscFunctionBegin;
  PetscCall(BOReservoirRealizeOnField(p, seed, k, k, counts, logk_out));
  PetscFunctionReturn(0);
}

PetscErrorCode BOReservoirRealizeOnField(const BOReservoirParams *p, uint64_t seed, PetscInt field, PetscInt k,
                                         float *counts, double *logk_out)
{
  const BOReservoirParams f = refined(p);
  const PetscInt          R = p->refine, n = f.nx * f.ny;
  double                 *logk, *qx, *qy, *coarse;
  float                  *fine;

  PetscFunctionBegin;
  if (p->nz > 1) {
    PetscCall(bo_sim_reservoir3d_realize(p, seed, field, k, counts, logk_out));
    PetscFunctionReturn(0);
  }
  PetscCall(PetscMalloc5(n, &logk, f.ny * (f.nx + 1), &qx, (f.ny + 1) * f.nx, &qy, n, &fine, p->nx * p->ny, &coarse));
  PetscCall(log_permeability(&f, seed, field, logk));
  /* log k of an output cell: the mean over its R x R fine cells */
  for (PetscInt c = 0; c < p->nx * p->ny; c++) coarse[c] = 0;
  for (PetscInt j = 0; j < f.ny; j++)
    for (PetscInt i = 0; i < f.nx; i++) coarse[(j / R) * p->nx + i / R] += logk[j * f.nx + i] / (double)(R * R);
  if (p->output == BO_RESERVOIR_PERMEABILITY) bo_sim_permeability_levels(p, p->nx * p->ny, coarse, counts);
  else {
    PetscCall(solve_flow(&f, logk, qx, qy));
    track_tracer(&f, seed, k, qx, qy, fine);
    for (PetscInt c = 0; c < p->nx * p->ny; c++) counts[c] = 0;
    for (PetscInt j = 0; j < f.ny; j++)
      for (PetscInt i = 0; i < f.nx; i++) counts[(j / R) * p->nx + i / R] += fine[j * f.nx + i];
  }
  if (logk_out) PetscCall(PetscArraycpy(logk_out, coarse, p->nx * p->ny));
  PetscCall(PetscFree5(logk, qx, qy, fine, coarse));
  PetscFunctionReturn(0);
}

const char *const BOReservoirParamNames[] = {"corr_len", "sigma", "pvi"};

PetscErrorCode BOReservoirApplyParams(MPI_Comm comm, const BOReservoirParams *base,
                                      const double v[BO_RESERVOIR_NPARAMS], const char *what, BOReservoirParams *pk)
{
  static const char *const need[BO_RESERVOIR_NPARAMS] = {"positive", "non-negative", "positive"};
  PetscBool                ok[BO_RESERVOIR_NPARAMS]   = {v[0] > 0, v[1] >= 0, v[2] > 0};

  PetscFunctionBegin;
  for (int j = 0; j < BO_RESERVOIR_NPARAMS; j++) {
    char val[32]; /* C's %g: PETSc's prints 2 as "2." */
    snprintf(val, sizeof(val), "%g", v[j]);
    PetscCheck(ok[j] && isfinite(v[j]), comm, PETSC_ERR_ARG_OUTOFRANGE, "%s: %s = %s must be %s", what,
               BOReservoirParamNames[j], val, need[j]);
  }
  *pk          = *base;
  pk->corr_len = v[0], pk->sigma = v[1], pk->pvi = v[2];
  PetscFunctionReturn(0);
}

PetscErrorCode BOReservoirRangesSetFromOptions(MPI_Comm comm, const BOReservoirParams *p, BOReservoirRanges *r)
{
  const PetscReal   base[BO_RESERVOIR_NPARAMS] = {p->corr_len, p->sigma, p->pvi};
  BOReservoirParams q;

  PetscFunctionBegin;
  r->set = PETSC_FALSE;
  PetscOptionsBegin(comm, NULL, "Reservoir parameters per realization", "bo_datagen");
  for (int j = 0; j < BO_RESERVOIR_NPARAMS; j++) {
    char      opt[64], help[128];
    PetscReal v[3] = {base[j], base[j], 0}; /* room for a third value, to refuse it */
    PetscInt  n    = 3;
    PetscBool set;
    snprintf(opt, sizeof(opt), "-%s_range", BOReservoirParamNames[j]);
    snprintf(help, sizeof(help), "draw %s uniformly in lo,hi per realization (one value fixes it); writes params",
             BOReservoirParamNames[j]);
    PetscCall(PetscOptionsRealArray(opt, help, NULL, v, &n, &set));
    PetscCheck(!set || (n >= 1 && n <= 2), comm, PETSC_ERR_USER_INPUT, "%s needs lo,hi or one value", opt);
    if (set && n == 1) v[1] = v[0];
    snprintf(help, sizeof(help), "%s %g,%g", opt, v[0], v[1]);
    PetscCheck(v[0] <= v[1], comm, PETSC_ERR_ARG_OUTOFRANGE, "%s: lo must not exceed hi", help);
    r->lo[j] = v[0], r->hi[j] = v[1];
    r->set = (PetscBool)(r->set || set);
  }
  PetscOptionsEnd();
  /* both ends must be valid parameters (the domain is an interval) */
  PetscCall(BOReservoirApplyParams(comm, p, r->lo, "the lower ends of -corr_len_range, -sigma_range, -pvi_range", &q));
  PetscCall(BOReservoirApplyParams(comm, p, r->hi, "the upper ends of -corr_len_range, -sigma_range, -pvi_range", &q));
  PetscFunctionReturn(0);
}

void BOReservoirDrawParams(const BOReservoirRanges *r, uint64_t seed, PetscInt k, double v[BO_RESERVOIR_NPARAMS])
{
  BORng rng;

  BORngInit(&rng, seed, BO_RNG_DATAGEN, (uint32_t)k, 3);
  for (int j = 0; j < BO_RESERVOIR_NPARAMS; j++) { /* one draw each, fixed or not: the stream does not shift */
    double u = BORngUniform(&rng);
    v[j]     = r->lo[j] == r->hi[j] ? r->lo[j] : r->lo[j] + (r->hi[j] - r->lo[j]) * u;
  }
}
