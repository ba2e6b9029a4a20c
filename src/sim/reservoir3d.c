/* Reference simulator in 3-D (bo_datagen -kind reservoir -nz NZ): the model
 * of reservoir.c on nz x ny x nx unit cubes of porosity 1.
 *
 * Realization k (all randomness from the stream (seed, BO_RNG_DATAGEN, k, b)):
 *   1. log-permeability: white noise smoothed by the 2-D model's Gaussian
 *      kernel along z, y and x in turn (the same isotropic covariance
 *      exp(-r^2 / (2 corr_len^2)) and unit variance, now in 3-D), times
 *      sigma, plus `channels` channels: sinuous in x-y as in 2-D, each
 *      channel_width cells thick in z around a depth of its own        [b = 0, 1]
 *   2. Darcy flow with the 7-point stencil: pressure 1 on the face x = 0,
 *      0 on x = nx, no flow through the four other faces (BODarcySolve on
 *      a 3-D DMDA on PETSC_COMM_SELF)
 *   3. tracer: particles injected over [0, T] through the face x = 0 in
 *      proportion to each cell face's inflow, carried by the velocity
 *      (each component linear within a cell between its two faces, as
 *      Pollock's scheme) plus a random walk with D = dispersivity x mean
 *      velocity, reflected at the no-flow faces; counts = particles per
 *      cell at T, the time to inject `pvi` pore volumes               [b = 2]
 * With -refine R the physics runs on cells R times smaller in each of the
 * three directions and is counted on the output grid (R^3 .. R^4 the cost).
 */
#include <math.h>
#include "bo_darcy.h"
#include "bo_rng.h"
#include "simimpl.h"

typedef struct {
  PetscInt nx, ny, nz;
} Grid;

static size_t cell_index(const Grid *g, PetscInt l, PetscInt j, PetscInt i)
{
  return ((size_t)l * g->ny + j) * g->nx + i;
}

/* out[a][b][i] = sum_m w[m] in[a][b + m][i] for b < nout, in with nin rows
 * of width W per block, nblocks blocks: one pass of the separable filter
 * along the middle axis. */
static void smooth_middle(const double *w, PetscInt taps, PetscInt nblocks, PetscInt nin, PetscInt nout, PetscInt W,
                          const double *in, double *out)
{
  for (PetscInt a = 0; a < nblocks; a++)
    for (PetscInt b = 0; b < nout; b++) {
      double *o = out + ((size_t)a * nout + b) * W;
      for (PetscInt i = 0; i < W; i++) o[i] = 0;
      for (PetscInt m = 0; m < taps; m++) {
        const double *s = in + ((size_t)a * nin + b + m) * W;
        for (PetscInt i = 0; i < W; i++) o[i] += w[m] * s[i];
      }
    }
}

/* 1a. Unit-variance Gaussian field: noise on the grid padded by R = 3
 *     corr_len on every side, smoothed along z, then y, then x. The kernel
 *     exp(-m^2 / corr_len^2), normalised to unit sum of squares per axis,
 *     gives the covariance exp(-r^2 / (2 corr_len^2)) of the 2-D model. */
static PetscErrorCode gaussian_field(const BOReservoirParams *p, uint64_t seed, PetscInt k, double *f)
{
  const PetscInt R = (PetscInt)ceil(3 * p->corr_len), taps = 2 * R + 1;
  const PetscInt W = p->nx + 2 * R, H = p->ny + 2 * R, Z = p->nz + 2 * R;
  double        *w, *noise, *tz, *ty, norm = 0;
  BORng          rng;

  PetscFunctionBegin;
  PetscCall(
      PetscMalloc4(taps, &w, (size_t)Z * H * W, &noise, (size_t)p->nz * H * W, &tz, (size_t)p->nz * p->ny * W, &ty));
  for (PetscInt m = -R; m <= R; m++)
    w[m + R] = exp(-(double)(m * m) / (p->corr_len * p->corr_len)), norm += w[m + R] * w[m + R];
  for (PetscInt m = 0; m < taps; m++) w[m] /= sqrt(norm);
  BORngInit(&rng, seed, BO_RNG_DATAGEN, (uint32_t)k, 0);
  for (size_t i = 0; i < (size_t)Z * H * W; i++) noise[i] = BORngNormal(&rng);
  smooth_middle(w, taps, 1, Z, p->nz, H * W, noise, tz); /* along z: blocks of H x W */
  smooth_middle(w, taps, p->nz, H, p->ny, W, tz, ty);    /* along y, layer by layer */
  for (size_t r = 0; r < (size_t)p->nz * p->ny; r++)     /* along x, row by row */
    for (PetscInt i = 0; i < p->nx; i++) {
      double s = 0;
      for (PetscInt m = 0; m < taps; m++) s += w[m] * ty[r * W + i + m];
      f[r * p->nx + i] = s;
    }
  PetscCall(PetscFree4(w, noise, tz, ty));
  PetscFunctionReturn(0);
}

/* 1. log k = sigma x field + channels. A channel's centre line is
 *    y = y0 + a sin(2 pi x / L + phi) (drawn as in 2-D) at depth z0. */
static PetscErrorCode log_permeability(const BOReservoirParams *p, uint64_t seed, PetscInt k, double *logk)
{
  const Grid g = {p->nx, p->ny, p->nz};
  BORng      rng;

  PetscFunctionBegin;
  PetscCall(gaussian_field(p, seed, k, logk));
  for (size_t c = 0; c < (size_t)p->nx * p->ny * p->nz; c++) logk[c] *= p->sigma;
  BORngInit(&rng, seed, BO_RNG_DATAGEN, (uint32_t)k, 1);
  for (PetscInt c = 0; c < p->channels; c++) {
    double y0 = p->ny * (0.15 + 0.7 * BORngUniform(&rng)), a = p->ny * (0.05 + 0.15 * BORngUniform(&rng));
    double L = p->nx * (0.5 + BORngUniform(&rng)), phi = 2 * M_PI * BORngUniform(&rng);
    double z0 = p->nz * (0.15 + 0.7 * BORngUniform(&rng));
    for (PetscInt l = 0; l < p->nz; l++) {
      if (fabs(l + 0.5 - z0) >= 0.5 * p->channel_width) continue;
      for (PetscInt j = 0; j < p->ny; j++)
        for (PetscInt i = 0; i < p->nx; i++) {
          double yc = y0 + a * sin(2 * M_PI * (i + 0.5) / L + phi);
          if (fabs(j + 0.5 - yc) < 0.5 * p->channel_width) logk[cell_index(&g, l, j, i)] += p->channel_contrast;
        }
    }
  }
  PetscFunctionReturn(0);
}

/* 2. Darcy face fluxes (unit cubes, pressure drop 1), layout of BODarcyFaceFluxes3D. */
static PetscErrorCode solve_flow(const BOReservoirParams *p, const double *logk, double *qx, double *qy, double *qz)
{
  DM             da;
  Vec            perm, pres;
  PetscScalar   *a;
  BODarcyProblem prob = {1.0, 1.0, 1.0, 0.0, 1.0};

  PetscFunctionBegin;
  PetscCall(DMDACreate3d(PETSC_COMM_SELF, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR,
                         p->nx, p->ny, p->nz, 1, 1, 1, 1, 1, NULL, NULL, NULL, &da));
  PetscCall(DMSetUp(da));
  PetscCall(DMCreateGlobalVector(da, &perm));
  PetscCall(VecDuplicate(perm, &pres));
  PetscCall(VecGetArray(perm, &a));
  for (size_t c = 0; c < (size_t)p->nx * p->ny * p->nz; c++) a[c] = exp(logk[c]);
  PetscCall(VecRestoreArray(perm, &a));
  PetscCall(BODarcySolve(da, perm, &prob, "darcy_", pres, NULL));
  PetscCall(BODarcyFaceFluxes3D(da, perm, pres, &prob, qx, qy, qz));
  PetscCall(VecDestroy(&perm));
  PetscCall(VecDestroy(&pres));
  PetscCall(DMDestroy(&da));
  PetscFunctionReturn(0);
}

typedef struct {
  Grid          g;
  const double *qx, *qy, *qz;
} Flow;

static PetscInt clamp_cell(double x, PetscInt n) { return PetscMin(n - 1, PetscMax(0, (PetscInt)x)); }

/* Velocity at (x, y, z): each component linear between the fluxes of the
 * two faces of the cell it crosses. */
static void velocity(const Flow *f, double x, double y, double z, double v[3])
{
  const PetscInt nx = f->g.nx, ny = f->g.ny;
  PetscInt       i = clamp_cell(x, nx), j = clamp_cell(y, ny), l = clamp_cell(z, f->g.nz);
  double         fx = x - i, fy = y - j, fz = z - l;
  size_t         ax = ((size_t)l * ny + j) * (nx + 1) + i, ay = ((size_t)l * (ny + 1) + j) * nx + i;
  size_t         az = cell_index(&f->g, l, j, i);

  v[0] = (1 - fx) * f->qx[ax] + fx * f->qx[ax + 1];
  v[1] = (1 - fy) * f->qy[ay] + fy * f->qy[ay + nx];
  v[2] = (1 - fz) * f->qz[az] + fz * f->qz[az + (size_t)nx * ny];
}

/* Mirror a coordinate into [0, n) at the no-flow walls 0 and n. */
static double reflect(double y, PetscInt n)
{
  if (y < 0) y = -y;
  if (y > n) y = 2.0 * n - y;
  return PetscMin(PetscMax(y, 0.0), n - 1e-9);
}

/* The first inflow face whose cumulative flow reaches u (binary search). */
static PetscInt pick_face(const double *cdf, PetscInt n, double u)
{
  PetscInt lo = 0, hi = n - 1;
  while (lo < hi) {
    PetscInt mid = (lo + hi) / 2;
    if (cdf[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* Standard normals two at a time (BORngNormalPair: no sine or cosine; the
 * normals are most of a realization's cost, and the walk needs three per
 * step), the second kept for the next call. */
typedef struct {
  BORng     rng;
  double    spare;
  PetscBool has_spare;
} NormalStream;

static double next_normal(NormalStream *s)
{
  double a;
  if (s->has_spare) return s->has_spare = PETSC_FALSE, s->spare;
  BORngNormalPair(&s->rng, &a, &s->spare);
  s->has_spare = PETSC_TRUE;
  return a;
}

/* 3. Tracer particles, counted per cell at time T. */
static PetscErrorCode track_tracer(const BOReservoirParams *p, uint64_t seed, PetscInt k, const Flow *f, double *counts)
{
  const double   cfl = p->tracer_step; /* cells per step, by advection and by dispersion (one sigma) each */
  const PetscInt nf = p->ny * p->nz, ncell = p->nx * p->ny * p->nz;
  const long     M = lround(p->particles_per_cell * p->pvi * (double)ncell);
  double        *cdf, Q = 0, T, Dm, dt_disp;
  NormalStream   ns  = {.has_spare = PETSC_FALSE};
  BORng         *rng = &ns.rng;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(nf, &cdf));
  for (PetscInt c = 0; c < nf; c++) Q += PetscMax(0.0, f->qx[(size_t)c * (p->nx + 1)]), cdf[c] = Q;
  T       = p->pvi * (double)ncell / Q;               /* time to inject pvi pore volumes */
  Dm      = p->dispersivity * Q / nf;                 /* dispersivity x mean velocity */
  dt_disp = Dm > 0 ? cfl * cfl / (2 * Dm) : INFINITY; /* dispersive steps of at most cfl cells (one sigma) */
  for (PetscInt c = 0; c < ncell; c++) counts[c] = 0;
  BORngInit(rng, seed, BO_RNG_DATAGEN, (uint32_t)k, 2);
  for (long n = 0; n < M; n++) {
    PetscInt face = pick_face(cdf, nf, BORngUniform(rng) * Q);
    double   x = 0, y = face % p->ny + BORngUniform(rng), z = face / p->ny + BORngUniform(rng);
    double   left = T * BORngUniform(rng); /* time since release */
    while (left > 0) {
      double v[3], v2, dt = PetscMin(left, dt_disp), s;
      velocity(f, x, y, z, v);
      v2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
      if (v2 * dt * dt > cfl * cfl) dt = cfl / sqrt(v2); /* advection limits the step */
      s = dt == dt_disp ? cfl : sqrt(2 * Dm * dt);       /* sqrt(2 Dm dt_disp) = cfl */
      x += v[0] * dt, y += v[1] * dt, z += v[2] * dt;
      if (Dm > 0) x += s * next_normal(&ns), y += s * next_normal(&ns), z += s * next_normal(&ns);
      left -= dt;
      if (x < 0) x = -x; /* reflect at the inflow face and the no-flow walls */
      y = reflect(y, p->ny), z = reflect(z, p->nz);
      if (x >= p->nx) break; /* left through the outflow face */
    }
    if (x < p->nx) counts[cell_index(&f->g, (PetscInt)z, (PetscInt)y, PetscMin((PetscInt)x, p->nx - 1))] += 1;
  }
  PetscCall(PetscFree(cdf));
  PetscFunctionReturn(0);
}

/* The same physics on cells R times smaller in each direction: lengths in
 * fine cells, particles per fine cell down by R^3 (the total unchanged). */
static BOReservoirParams refined(const BOReservoirParams *p)
{
  BOReservoirParams f = *p;
  const PetscInt    R = p->refine;
  f.nx *= R, f.ny *= R, f.nz *= R, f.corr_len *= R, f.channel_width *= R, f.dispersivity *= R;
  f.particles_per_cell /= (double)(R * R * R);
  f.refine = 1;
  return f;
}

/* out[coarse cell] += in[fine cell] x scale over the R x R x R fine cells of each. */
static void coarsen(const Grid *fine, PetscInt R, const Grid *coarse, const double *in, double scale, double *out)
{
  for (size_t c = 0; c < (size_t)coarse->nx * coarse->ny * coarse->nz; c++) out[c] = 0;
  for (PetscInt l = 0; l < fine->nz; l++)
    for (PetscInt j = 0; j < fine->ny; j++)
      for (PetscInt i = 0; i < fine->nx; i++)
        out[cell_index(coarse, l / R, j / R, i / R)] += scale * in[cell_index(fine, l, j, i)];
}

PetscErrorCode bo_sim_reservoir3d_realize(const BOReservoirParams *p, uint64_t seed, PetscInt field, PetscInt k,
                                          float *counts, double *logk_out)
{
  const BOReservoirParams f  = refined(p);
  const PetscInt          R  = p->refine;
  const Grid              gf = {f.nx, f.ny, f.nz}, gc = {p->nx, p->ny, p->nz};
  const size_t            n = (size_t)f.nx * f.ny * f.nz, nc = (size_t)p->nx * p->ny * p->nz;
  double                 *logk, *qx, *qy, *qz, *mean_logk, *fine, *coarse;

  PetscFunctionBegin;
  PetscCall(PetscMalloc7(n, &logk, (size_t)f.nz * f.ny * (f.nx + 1), &qx, (size_t)f.nz * (f.ny + 1) * f.nx, &qy,
                         (size_t)(f.nz + 1) * f.ny * f.nx, &qz, nc, &mean_logk, n, &fine, nc, &coarse));
  PetscCall(log_permeability(&f, seed, field, logk));
  coarsen(&gf, R, &gc, logk, 1.0 / (double)(R * R * R), mean_logk); /* the mean log k of an output cell */
  if (p->output == BO_RESERVOIR_PERMEABILITY) bo_sim_permeability_levels(p, (PetscInt)nc, mean_logk, counts);
  else {
    const Flow flow = {gf, qx, qy, qz};
    PetscCall(solve_flow(&f, logk, qx, qy, qz));
    PetscCall(track_tracer(&f, seed, k, &flow, fine));
    coarsen(&gf, R, &gc, fine, 1.0, coarse); /* particles per output cell */
    for (size_t c = 0; c < nc; c++) counts[c] = (float)coarse[c];
  }
  if (logk_out) PetscCall(PetscArraycpy(logk_out, mean_logk, nc));
  PetscCall(PetscFree7(logk, qx, qy, qz, mean_logk, fine, coarse));
  PetscFunctionReturn(0);
}
