/* Reference simulators: Darcy solver against exact solutions (distributed
 * DMDA), reservoir and gene realizations reproducible on every rank and with
 * the statistical character they are meant to have. */
#include <math.h>
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
}
END_TEST

Suite *suite_dataset_sim(void)
{
  Suite *s  = suite_create("dataset_sim");
  TCase *tc = tcase_create("simulators");
  tcase_add_test(tc, test_darcy_exact);
  tcase_add_test(tc, test_reservoir);
  tcase_add_test(tc, test_genes);
  tcase_add_test(tc, test_sim_options);
  suite_add_tcase(s, tc);
  return s;
}
