/* Reference simulators: Darcy solver against exact solutions (distributed
 * 2-D and 3-D DMDAs), reservoir (2-D and 3-D) and gene realizations
 * reproducible on every rank and with the statistical character they are
 * meant to have. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bo_darcy.h"
#include "bo_sim.h"
#include "testutil.h"

/* Solve on a distributed Mx x My DMDA with k(j, i) = kfun; return the inflow
 * rate and the largest deviation of the pressure from 1 - x / Lx. */
static void darcy_case(PetscInt Mx, PetscInt My, double (*kfun)(PetscInt, PetscInt), double *q, double *dev)
{
  DM             da;
  Vec            k, p;
  BODarcyProblem prob = {0.5, 0.25, 1.0, 0.0, 1.0};
  DMDALocalInfo  info;
  PetscScalar  **a;
  PetscReal      d = 0;

  DMDACreate2d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR, Mx, My, PETSC_DECIDE,
               PETSC_DECIDE, 1, 1, NULL, NULL, &da);
  DMSetUp(da);
  DMCreateGlobalVector(da, &k);
  VecDuplicate(k, &p);
  DMDAGetLocalInfo(da, &info);
  DMDAVecGetArray(da, k, &a);
  for (PetscInt j = info.ys; j < info.ys + info.ym; j++)
    for (PetscInt i = info.xs; i < info.xs + info.xm; i++) a[j][i] = kfun(j, i);
  DMDAVecRestoreArray(da, k, &a);
  ck_assert_int_eq(BODarcySolve(da, k, &prob, "test_darcy_", p, NULL), 0);
  ck_assert_int_eq(BODarcyInflow(da, k, p, &prob, q), 0);
  DMDAVecGetArray(da, p, &a);
  for (PetscInt j = info.ys; j < info.ys + info.ym; j++)
    for (PetscInt i = info.xs; i < info.xs + info.xm; i++)
      d = PetscMax(d, PetscAbsReal(a[j][i] - (1 - (i + 0.5) / Mx)));
  DMDAVecRestoreArray(da, p, &a);
  MPI_Allreduce(&d, dev, 1, MPIU_REAL, MPIU_MAX, PETSC_COMM_WORLD);
  VecDestroy(&k), VecDestroy(&p), DMDestroy(&da);
}

static double k_const(PetscInt j, PetscInt i)
{
  (void)j, (void)i;
  return 2.0;
}
static double k_layers(PetscInt j, PetscInt i)
{
  (void)i;
  return 1.0 + j;
}
static double k_series(PetscInt j, PetscInt i)
{
  (void)j;
  return 1.0 + (i % 3);
}

START_TEST(test_darcy_exact)
{
  const PetscInt Mx = 12, My = 7;
  const double   hx = 0.5, hy = 0.25, Lx = Mx * hx, Ly = My * hy;
  double         q, dev, want;

  /* homogeneous: linear pressure, q = k Ly / Lx */
  darcy_case(Mx, My, k_const, &q, &dev);
  ck_assert(BOTestAllRanks(dev < 1e-9 && fabs(q - 2.0 * Ly / Lx) < 1e-9));
  /* layers parallel to the flow: linear pressure, q = sum_j k_j hy / Lx (arithmetic mean) */
  darcy_case(Mx, My, k_layers, &q, &dev);
  want = 0;
  for (PetscInt j = 0; j < My; j++) want += (1.0 + j) * hy / Lx;
  ck_assert(BOTestAllRanks(dev < 1e-9 && fabs(q - want) < 1e-9));
  /* layers across the flow: resistances in series, q = Ly / sum_i (hx / k_i) (harmonic mean) */
  darcy_case(Mx, My, k_series, &q, &dev);
  want = 0;
  for (PetscInt i = 0; i < Mx; i++) want += hx / (1.0 + (i % 3));
  want = Ly / want;
  ck_assert(BOTestAllRanks(fabs(q - want) < 1e-9));
}
END_TEST

/* 3-D: solve on a distributed Mx x My x Mz DMDA (cells hx, hy, hz) with
 * k(l, j, i) = kfun; the inflow rate, the largest deviation of the pressure
 * from 1 - x / Lx, and the k_eff of bo_darcy, q Lx / (dp Ly Lz). */
static const BODarcyProblem prob3d = {0.5, 0.25, 1.0, 0.0, 2.0};

static void darcy_case_3d(PetscInt Mx, PetscInt My, PetscInt Mz, double (*kfun)(PetscInt, PetscInt, PetscInt),
                          double *keff, double *dev)
{
  DM             da;
  Vec            k, p;
  DMDALocalInfo  info;
  PetscScalar ***a;
  PetscReal      d = 0, q;

  DMDACreate3d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR, Mx, My, Mz,
               PETSC_DECIDE, PETSC_DECIDE, PETSC_DECIDE, 1, 1, NULL, NULL, NULL, &da);
  DMSetUp(da);
  DMCreateGlobalVector(da, &k);
  VecDuplicate(k, &p);
  DMDAGetLocalInfo(da, &info);
  DMDAVecGetArray(da, k, &a);
  for (PetscInt l = info.zs; l < info.zs + info.zm; l++)
    for (PetscInt j = info.ys; j < info.ys + info.ym; j++)
      for (PetscInt i = info.xs; i < info.xs + info.xm; i++) a[l][j][i] = kfun(l, j, i);
  DMDAVecRestoreArray(da, k, &a);
  ck_assert_int_eq(BODarcySolve(da, k, &prob3d, "test_darcy_", p, NULL), 0);
  ck_assert_int_eq(BODarcyInflow(da, k, p, &prob3d, &q), 0);
  *keff = q * Mx * prob3d.hx / ((prob3d.p_left - prob3d.p_right) * My * prob3d.hy * Mz * prob3d.hz);
  DMDAVecGetArray(da, p, &a);
  for (PetscInt l = info.zs; l < info.zs + info.zm; l++)
    for (PetscInt j = info.ys; j < info.ys + info.ym; j++)
      for (PetscInt i = info.xs; i < info.xs + info.xm; i++)
        d = PetscMax(d, PetscAbsReal(a[l][j][i] - (1 - (i + 0.5) / Mx)));
  DMDAVecRestoreArray(da, p, &a);
  MPI_Allreduce(&d, dev, 1, MPIU_REAL, MPIU_MAX, PETSC_COMM_WORLD);
  VecDestroy(&k), VecDestroy(&p), DMDestroy(&da);
}

static double k3_const(PetscInt l, PetscInt j, PetscInt i)
{
  (void)l, (void)j, (void)i;
  return 3.0;
}
static double k3_layers_z(PetscInt l, PetscInt j, PetscInt i)
{
  (void)j, (void)i;
  return 1.0 + 2.0 * l;
}
static double k3_layers_x(PetscInt l, PetscInt j, PetscInt i)
{
  (void)l, (void)j;
  return 1.0 + (i % 4);
}

/* k varying in x and z only: the 3-D flow of a Mz x My x Mx grid is My hy
 * times the 2-D flow of the Mz x Mx grid with cells hx x hz (k(j = l, i)),
 * which exercises the faces in z (the analytic cases have no flow in z). */
static double k_xz(PetscInt l, PetscInt i) { return exp(sin(0.9 * i + 2.1 * l) + 0.6 * cos(1.3 * i * l)); }
static double k3_xz(PetscInt l, PetscInt j, PetscInt i)
{
  (void)j;
  return k_xz(l, i);
}

static double flow_2d_xz(PetscInt Mx, PetscInt Mz)
{
  DM             da;
  Vec            k, p;
  BODarcyProblem prob = {prob3d.hx, prob3d.hz, prob3d.p_left, prob3d.p_right, 1.0};
  DMDALocalInfo  info;
  PetscScalar  **a;
  PetscReal      q;

  DMDACreate2d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR, Mx, Mz, PETSC_DECIDE,
               PETSC_DECIDE, 1, 1, NULL, NULL, &da);
  DMSetUp(da);
  DMCreateGlobalVector(da, &k);
  VecDuplicate(k, &p);
  DMDAGetLocalInfo(da, &info);
  DMDAVecGetArray(da, k, &a);
  for (PetscInt j = info.ys; j < info.ys + info.ym; j++)
    for (PetscInt i = info.xs; i < info.xs + info.xm; i++) a[j][i] = k_xz(j, i);
  DMDAVecRestoreArray(da, k, &a);
  ck_assert_int_eq(BODarcySolve(da, k, &prob, "test_darcy_", p, NULL), 0);
  ck_assert_int_eq(BODarcyInflow(da, k, p, &prob, &q), 0);
  VecDestroy(&k), VecDestroy(&p), DMDestroy(&da);
  return q;
}

START_TEST(test_darcy_exact_3d)
{
  const PetscInt Mx = 9, My = 5, Mz = 6;
  double         keff, dev, want    = 0;

  /* uniform: linear pressure, k_eff = k */
  darcy_case_3d(Mx, My, Mz, k3_const, &keff, &dev);
  ck_assert(BOTestAllRanks(dev < 1e-9 && fabs(keff - 3.0) < 1e-9));
  /* layers in z, flow along x: linear pressure, k_eff = the arithmetic mean */
  darcy_case_3d(Mx, My, Mz, k3_layers_z, &keff, &dev);
  for (PetscInt l = 0; l < Mz; l++) want += (1.0 + 2.0 * l) / Mz;
  ck_assert_msg(BOTestAllRanks(dev < 1e-9 && fabs(keff - want) < 1e-9 * want), "z layers: k_eff %g, want %g", keff,
                want);
  /* layers in x, across the flow: in series, k_eff = the harmonic mean */
  darcy_case_3d(Mx, My, Mz, k3_layers_x, &keff, &dev);
  want = 0;
  for (PetscInt i = 0; i < Mx; i++) want += 1.0 / (1.0 + (i % 4)) / Mx;
  want = 1.0 / want;
  ck_assert_msg(BOTestAllRanks(fabs(keff - want) < 1e-9 * want), "x layers: k_eff %g, want %g", keff, want);
  /* heterogeneous in x and z: as the 2-D x-z problem, per unit thickness in y */
  darcy_case_3d(Mx, My, Mz, k3_xz, &keff, &dev);
  want = flow_2d_xz(Mx, Mz) * Mx * prob3d.hx / ((prob3d.p_left - prob3d.p_right) * Mz * prob3d.hz);
  ck_assert_msg(BOTestAllRanks(fabs(keff - want) < 1e-9 * want), "x-z field: k_eff %g, the 2-D solve %g", keff, want);
}
END_TEST

/* 3-D face fluxes on one rank: every cell conserves mass, the walls carry
 * nothing, and the inflow face carries BODarcyInflow's rate. */
START_TEST(test_darcy_fluxes_3d)
{
  const PetscInt Mx = 6, My = 4, Mz = 3, n = Mx * My * Mz;
  DM             da;
  Vec            k, p;
  PetscScalar   *a;
  double         qx[(Mx + 1) * My * Mz], qy[Mx * (My + 1) * Mz], qz[Mx * My * (Mz + 1)], q, in = 0, worst = 0;

  DMDACreate3d(PETSC_COMM_SELF, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR, Mx, My, Mz, 1,
               1, 1, 1, 1, NULL, NULL, NULL, &da);
  DMSetUp(da);
  DMCreateGlobalVector(da, &k);
  VecDuplicate(k, &p);
  VecGetArray(k, &a);
  for (PetscInt c = 0; c < n; c++) a[c] = exp(sin(1.7 * c) + 0.5 * cos(0.3 * c * c)); /* heterogeneous, positive */
  VecRestoreArray(k, &a);
  BOTestOK(BODarcySolve(da, k, &prob3d, "test_darcy_", p, NULL));
  BOTestOK(BODarcyInflow(da, k, p, &prob3d, &q));
  BOTestOK(BODarcyFaceFluxes3D(da, k, p, &prob3d, qx, qy, qz));
  for (PetscInt l = 0; l < Mz; l++)
    for (PetscInt j = 0; j < My; j++) {
      in += qx[(l * My + j) * (Mx + 1)];
      for (PetscInt i = 0; i < Mx; i++) {
        double net = qx[(l * My + j) * (Mx + 1) + i] - qx[(l * My + j) * (Mx + 1) + i + 1] +
                     qy[(l * (My + 1) + j) * Mx + i] - qy[(l * (My + 1) + j + 1) * Mx + i] + qz[(l * My + j) * Mx + i] -
                     qz[((l + 1) * My + j) * Mx + i];
        worst = PetscMax(worst, fabs(net));
      }
    }
  ck_assert_msg(worst < 1e-9 * q && fabs(in - q) < 1e-12 * q, "net flux %g, inflow %g vs %g", worst, in, q);
  for (PetscInt l = 0; l < Mz; l++)
    for (PetscInt i = 0; i < Mx; i++)
      ck_assert(qy[(l * (My + 1)) * Mx + i] == 0 && qy[(l * (My + 1) + My) * Mx + i] == 0);
  for (PetscInt c = 0; c < Mx * My; c++) ck_assert(qz[c] == 0 && qz[Mz * Mx * My + c] == 0);
  /* a 3-D problem needs hz > 0 (a 2-D initializer leaves it 0) */
  BODarcyProblem flat = {1, 1, 1, 0, 0};
  BOTestExpectErrorMessage(BODarcySolve(da, k, &flat, "test_darcy_", p, NULL), "needs positive cell sizes hx, hy, hz");
  VecDestroy(&k), VecDestroy(&p), DMDestroy(&da);
}
END_TEST

/* The same checksum of a realization on every rank. */
static int same_on_all_ranks(double v)
{
  double lo, hi;
  MPI_Allreduce(&v, &lo, 1, MPI_DOUBLE, MPI_MIN, PETSC_COMM_WORLD);
  MPI_Allreduce(&v, &hi, 1, MPI_DOUBLE, MPI_MAX, PETSC_COMM_WORLD);
  return lo == hi;
}

START_TEST(test_reservoir)
{
  BOReservoirParams p;
  float             a[24 * 20], b[24 * 20];
  double            sum = 0, sxy = 0, sxx = 0, mean, total = 0, chk = 0;
  int               ok = 1, differ = 0;
  const int         R = 4;

  ck_assert_int_eq(BOReservoirParamsSetFromOptions(PETSC_COMM_WORLD, &p), 0);
  p.nx = 24, p.ny = 20;
  for (int k = 0; k < R; k++) {
    ck_assert_int_eq(BOReservoirRealize(&p, 9, k, a, NULL), 0);
    ck_assert_int_eq(BOReservoirRealize(&p, 9, k, b, NULL), 0);
    ok = ok && !memcmp(a, b, sizeof(a)); /* reproducible */
    ck_assert_int_eq(BOReservoirRealize(&p, 10, k, b, NULL), 0);
    differ += memcmp(a, b, sizeof(a)) != 0; /* the seed matters */
    for (int c = 0; c < 24 * 20; c++) {
      ok = ok && a[c] >= 0 && a[c] == floorf(a[c]);
      sum += a[c], chk += a[c] * (c % 97 + 1);
    }
  }
  mean = sum / (R * 24 * 20);
  /* spatial structure: neighbours in x are correlated */
  for (int k = 0; k < R; k++) {
    BOReservoirRealize(&p, 9, k, a, NULL);
    for (int j = 0; j < 20; j++)
      for (int i = 0; i + 1 < 24; i++) {
        double u = a[j * 24 + i] - mean, v = a[j * 24 + i + 1] - mean;
        sxy += u * v, sxx += u * u, total += a[j * 24 + i];
      }
  }
  ck_assert(BOTestAllRanks(ok && differ == R));
  ck_assert_msg(sxy / sxx > 0.3, "neighbour correlation %g", sxy / sxx);
  /* particles present, at most as many as were injected */
  ck_assert(sum > 0 && sum <= R * lround(p.particles_per_cell * p.pvi * 24 * 20));
  ck_assert(BOTestAllRanks(same_on_all_ranks(chk)));
  /* the permeability output: levels 0..levels-1 */
  p.output = BO_RESERVOIR_PERMEABILITY;
  ck_assert_int_eq(BOReservoirRealize(&p, 9, 0, a, NULL), 0);
  float lmax = 0;
  for (int c = 0; c < 24 * 20; c++) lmax = PetscMax(lmax, a[c]);
  ck_assert(lmax >= 2 && lmax <= p.levels - 1);
}
END_TEST

/* sum_m w(m) w(m + r) / sum_m w(m)^2 for the kernel w(m) = exp(-m^2 / c^2),
 * |m| <= R = ceil(3 c): the exact correlation at lag r of the smoothed noise. */
static double kernel_correlation(double c, int r)
{
  int    R   = (int)ceil(3 * c);
  double num = 0, den = 0;
  for (int m = -R; m <= R; m++) {
    double w = exp(-(double)(m * m) / (c * c));
    den += w * w;
    if (m + r <= R) num += w * exp(-(double)((m + r) * (m + r)) / (c * c));
  }
  return num / den;
}

/* The 3-D log-permeability field: variance sigma^2 and the same correlation
 * at lag 1 and 2 along x, y and z (isotropic), each within 4 standard errors
 * of its estimate (fixed seed). */
START_TEST(test_reservoir_field_3d)
{
  enum { K = 16, NX = 12, NY = 12, NZ = 12, NC = NX * NY * NZ };
  const double      c = 1.5, sigma = 0.7;
  static double     logk[NC];
  static float      levels[NC];
  double            var = 0, cor[3][3] = {{0}}, npair[3] = {0}, se[3], sum_rho2 = 0;
  BOReservoirParams p;
  const PetscInt    stride[3] = {1, NX, NX * NY}; /* x, y, z */

  ck_assert_int_eq(BOReservoirParamsSetFromOptions(PETSC_COMM_WORLD, &p), 0);
  p.nx = NX, p.ny = NY, p.nz = NZ, p.corr_len = c, p.sigma = sigma, p.channels = 0;
  p.output = BO_RESERVOIR_PERMEABILITY; /* the field without the flow */
  for (int k = 0; k < K; k++) {
    BOTestOK(BOReservoirRealize(&p, 21, k, levels, logk));
    for (int q = 0; q < NC; q++) {
      int at[3] = {q % NX, q / NX % NY, q / (NX * NY)}, n[3] = {NX, NY, NZ};
      var += logk[q] * logk[q];
      for (int a = 0; a < 3; a++)
        for (int r = 1; r <= 2; r++)
          if (at[a] + r < n[a]) cor[a][r] += logk[q] * logk[q + r * stride[a]], npair[r] += a == 0;
    }
  }
  var /= (double)K * NC * sigma * sigma;
  /* standard error of a mean of products of a Gaussian field: sqrt(2 sum_lags rho^2 / n) */
  for (int m = -12; m <= 12; m++) sum_rho2 += pow(kernel_correlation(c, abs(m)), 2);
  se[0] = sqrt(2 * pow(sum_rho2, 3) / ((double)K * NC));
  ck_assert_msg(fabs(var - 1) < 4 * se[0], "variance %g sigma^2, want 1 +- %g", var, 4 * se[0]);
  for (int r = 1; r <= 2; r++) {
    double want = kernel_correlation(c, r), tol = 4 * se[0] * sqrt((double)NC / npair[r]);
    for (int a = 0; a < 3; a++) {
      double rho = cor[a][r] / (npair[r] * sigma * sigma);
      ck_assert_msg(fabs(rho - want) < tol, "axis %d lag %d: correlation %g, want %g +- %g", a, r, rho, want, tol);
    }
  }
  (void)se;
}
END_TEST

/* 3-D tracer counts: reproducible, the same on every rank, at most the
 * injected particles, and a plume: more tracer near the injection face. */
START_TEST(test_reservoir_3d)
{
  enum { NX = 16, NY = 8, NZ = 4, NC = NX * NY * NZ, R = 3 };
  static float      a[NC], b[NC];
  BOReservoirParams p;
  double            chk = 0, sum = 0, near = 0, far = 0;
  int               ok = 1;

  ck_assert_int_eq(BOReservoirParamsSetFromOptions(PETSC_COMM_WORLD, &p), 0);
  p.nx = NX, p.ny = NY, p.nz = NZ;
  for (int k = 0; k < R; k++) {
    BOTestOK(BOReservoirRealize(&p, 9, k, a, NULL));
    BOTestOK(BOReservoirRealize(&p, 9, k, b, NULL));
    ok = ok && !memcmp(a, b, sizeof(a));
    for (int c = 0; c < NC; c++) {
      ok = ok && a[c] >= 0 && a[c] == floorf(a[c]);
      sum += a[c], chk += a[c] * (c % 89 + 1);
      if (c % NX < NX / 4) near += a[c];
      if (c % NX >= NX - NX / 4) far += a[c];
    }
  }
  ck_assert(BOTestAllRanks(ok));
  ck_assert(sum > 0 && sum <= R * lround(p.particles_per_cell * p.pvi * NC));
  ck_assert_msg(near > 2 * far, "no plume: %g particles near the inflow, %g near the outflow", near, far);
  ck_assert(BOTestAllRanks(same_on_all_ranks(chk)));
}
END_TEST

START_TEST(test_genes)
{
  BOGenesParams p;
  enum { NC = 300, G = 12 };
  static float x[NC * G];
  PetscInt     lab[NC], seen[8] = {0};
  int          overdispersed = 0, zero_inflated = 0;
  double       chk = 0;

  ck_assert_int_eq(BOGenesParamsSetFromOptions(PETSC_COMM_WORLD, &p), 0);
  p.genes = G;
  for (int c = 0; c < NC; c++) {
    ck_assert_int_eq(BOGenesRealize(&p, 5, c, x + c * G, &lab[c]), 0);
    ck_assert(lab[c] >= 0 && lab[c] < p.cell_types);
    seen[lab[c]]++;
  }
  for (int t = 0; t < p.cell_types; t++) ck_assert_msg(seen[t] > NC / 6, "type %d: %d cells", t, (int)seen[t]);
  for (int g = 0; g < G; g++) {
    double m = 0, v = 0, z = 0;
    for (int c = 0; c < NC; c++) m += x[c * G + g], z += x[c * G + g] == 0;
    m /= NC, z /= NC;
    for (int c = 0; c < NC; c++) v += (x[c * G + g] - m) * (x[c * G + g] - m);
    v /= NC - 1;
    overdispersed += v > 2 * m;   /* a Poisson gene would have v = m */
    zero_inflated += z > exp(-m); /* more zeros than Poisson with that mean */
  }
  ck_assert_msg(overdispersed >= G * 3 / 4, "only %d of %d genes over-dispersed", overdispersed, G);
  ck_assert_msg(zero_inflated >= G * 3 / 4, "only %d of %d genes zero-inflated", zero_inflated, G);
  /* reproducible, and the same on every rank */
  float    y[G];
  PetscInt l;
  BOGenesRealize(&p, 5, 17, y, &l);
  ck_assert(!memcmp(y, x + 17 * G, sizeof(y)) && l == lab[17]);
  for (int g = 0; g < G; g++) chk += y[g] * (g + 1);
  ck_assert(BOTestAllRanks(same_on_all_ranks(chk)));
}
END_TEST

/* The stimulus (issue #14) multiplies the master regulator's burst frequency:
 * with one cell type the master is TF 0, so its mean count must rise with
 * the stimulus, its targets must move monotonically (activated up,
 * repressed down) and the other TFs, which nothing regulates, must not move.
 * 400 cells at each of 0.25, 1 and 4 (seed 7); a difference counts when it
 * exceeds z standard errors of the difference of two means,
 * sqrt(v_a / n + v_b / n) (the same cells k at every stimulus share their
 * random numbers, which only shrinks the true error). */
static void gene_means(const BOGenesParams *p, double stimulus, int n, double *mean, double *var)
{
  BOGenesParams q;
  float         x[64];
  PetscInt      lab;
  ck_assert_int_eq(BOGenesApplyParams(PETSC_COMM_SELF, p, &stimulus, "test", &q), 0);
  for (int g = 0; g < p->genes; g++) mean[g] = var[g] = 0;
  for (int c = 0; c < n; c++) {
    ck_assert_int_eq(BOGenesRealize(&q, 7, c, x, &lab), 0);
    for (int g = 0; g < p->genes; g++) mean[g] += x[g], var[g] += (double)x[g] * x[g];
  }
  for (int g = 0; g < p->genes; g++) {
    mean[g] /= n;
    var[g] = (var[g] - n * mean[g] * mean[g]) / (n - 1);
  }
}

START_TEST(test_genes_stimulus)
{
  enum { NC = 400, G = 32 };
  static const double s[3] = {0.25, 1, 4};
  BOGenesParams       p;
  double              m[3][G], v[3][G];
  int                 moved = 0;

  ck_assert_int_eq(BOGenesParamsSetFromOptions(PETSC_COMM_WORLD, &p), 0);
  p.genes = G, p.cell_types = 1;
  for (int i = 0; i < 3; i++) gene_means(&p, s[i], NC, m[i], v[i]);
#define Z(a, b, g) ((m[b][g] - m[a][g]) / sqrt((v[a][g] + v[b][g]) / NC + 1e-300))
  if (getenv("BO_TEST_VERBOSE"))
    for (int g = 0; g < G; g++)
      printf("gene %2d: means %7.3f %7.3f %7.3f  z(0.25->1) %6.1f z(1->4) %6.1f\n", g, m[0][g], m[1][g], m[2][g],
             Z(0, 1, g), Z(1, 2, g));
  /* the master regulator rises at each step */
  ck_assert_msg(Z(0, 1, 0) > 4 && Z(1, 2, 0) > 4, "master TF: means %g, %g, %g", m[0][0], m[1][0], m[2][0]);
  /* the other TFs do not depend on it */
  for (int g = 1; g < p.tfs; g++)
    ck_assert_msg(fabs(Z(0, 2, g)) < 4, "TF %d moved with the stimulus: %g -> %g", g, m[0][g], m[2][g]);
  /* targets that move between 0.25 and 4 move monotonically: the mean at 1
   * lies between the others (3 standard errors of slack on each side) */
  for (int g = p.tfs; g < G; g++) {
    const double z = Z(0, 2, g);
    if (fabs(z) < 5) continue;
    moved++;
    ck_assert_msg(z > 0 ? Z(0, 1, g) > -3 && Z(1, 2, g) > -3 : Z(0, 1, g) < 3 && Z(1, 2, g) < 3,
                  "gene %d not monotone in the stimulus: %g, %g, %g", g, m[0][g], m[1][g], m[2][g]);
  }
#undef Z
  ck_assert_msg(moved >= 2, "only %d regulated genes moved with the stimulus", moved);
}
END_TEST

START_TEST(test_sim_options)
{
  BOReservoirParams r;
  BOGenesParams     g;
  PetscOptionsSetValue(NULL, "-capture", "1.5");
  ck_assert(BOTestExpectError(BOGenesParamsSetFromOptions(PETSC_COMM_WORLD, &g)) != 0);
  PetscOptionsClearValue(NULL, "-capture");
  PetscOptionsSetValue(NULL, "-corr_len", "0");
  ck_assert(BOTestExpectError(BOReservoirParamsSetFromOptions(PETSC_COMM_WORLD, &r)) != 0);
  PetscOptionsClearValue(NULL, "-corr_len");
  PetscOptionsSetValue(NULL, "-nz", "0");
  BOTestExpectErrorMessage(BOReservoirParamsSetFromOptions(PETSC_COMM_WORLD, &r), "-nz 0: must be at least 1");
  PetscOptionsClearValue(NULL, "-nz");
  PetscOptionsSetValue(NULL, "-tracer_step", "1.5");
  BOTestExpectErrorMessage(BOReservoirParamsSetFromOptions(PETSC_COMM_WORLD, &r),
                           "-tracer_step 1.5: must be in (0, 1]");
  PetscOptionsClearValue(NULL, "-tracer_step");
}
END_TEST

Suite *suite_dataset_sim(void)
{
  Suite *s  = suite_create("dataset_sim");
  TCase *tc = tcase_create("simulators");
  tcase_add_test(tc, test_darcy_exact);
  tcase_add_test(tc, test_darcy_exact_3d);
  tcase_add_test(tc, test_darcy_fluxes_3d);
  tcase_add_test(tc, test_reservoir_field_3d);
  tcase_add_test(tc, test_reservoir_3d);
  tcase_add_test(tc, test_reservoir);
  tcase_add_test(tc, test_genes);
  tcase_add_test(tc, test_genes_stimulus);
  tcase_add_test(tc, test_sim_options);
  suite_add_tcase(s, tc);
  return s;
}
