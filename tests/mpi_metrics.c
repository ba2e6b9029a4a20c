/* Fidelity metrics (src/metrics*.c). One suite, run on 1, 2 and 3 ranks:
 *  - kernels and whole-set metrics with known answers, computed on
 *    PETSC_COMM_SELF (every rank alike): identical sets, shifted and scaled
 *    sets, copies of training members, the straw man against a correlated
 *    truth, vectors, errors, the bo_darcy CSV comparison;
 *  - the whole evaluation on PETSC_COMM_WORLD equals the one-process
 *    evaluation of the same data (uneven shards), also by params. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "bo_dataset.h"
#include "bo_metrics.h"
#include "bo_png.h"
#include "bo_rng.h"
#include "testutil.h"

/* Member n of a correlated field ensemble: Poisson counts of intensity
 * 4 + 3 sin(2 pi (x / L + phase_n)) cos(2 pi y / L'), a random phase per
 * member, so neighbouring cells are strongly correlated. */
static void correlated_field(uint64_t seed, PetscInt n, PetscInt Ny, PetscInt Nx, float *x)
{
  BORng  rng;
  double ph;
  BORngInit(&rng, seed, BO_RNG_TEST, (uint32_t)n, 0);
  ph = BORngUniform(&rng);
  for (PetscInt j = 0; j < Ny; j++)
    for (PetscInt i = 0; i < Nx; i++) {
      double lam    = 4 + 3 * sin(2 * PETSC_PI * ((double)i / Nx + ph)) * cos(2 * PETSC_PI * j / (2.0 * Ny));
      x[j * Nx + i] = (float)BORngPoisson(&rng, lam);
    }
}

/* Member n of correlated count vectors: gene g Poisson(lambda_n (1 + g) / 4), lambda_n shared. */
static void correlated_vector(uint64_t seed, PetscInt n, PetscInt G, float *x)
{
  BORng  rng;
  double lam;
  BORngInit(&rng, seed, BO_RNG_TEST, (uint32_t)n, 1);
  lam = 6 * BORngUniform(&rng);
  for (PetscInt g = 0; g < G; g++) x[g] = (float)BORngPoisson(&rng, lam * 0.25 * (1 + g));
}

static double max_of(PetscInt n, const float *x)
{
  double m = 0;
  for (PetscInt i = 0; i < n; i++) m = PetscMax(m, x[i]);
  return m;
}

static BOMetrics field_metrics(PetscInt Ny, PetscInt Nx, double maxc, BOSet ref)
{
  BOMetrics m;
  ck_assert_int_eq(BOMetricsCreate(PETSC_COMM_SELF, &m), 0);
  ck_assert_int_eq(BOMetricsSetField(m, Ny, Nx, 1), 0);
  ck_assert_int_eq(BOMetricsSetUp(m, maxc, ref), 0);
  return m;
}

START_TEST(test_dft_matches_direct_sum)
{
  PetscInt sizes[2] = {12, 16};
  for (int t = 0; t < 2; t++) {
    PetscInt n = sizes[t];
    double   re[16], im[16], r0[16], i0[16];
    for (PetscInt j = 0; j < n; j++) re[j] = r0[j] = sin(1.3 * j) + 0.1 * j, im[j] = i0[j] = cos(0.7 * j * j);
    ck_assert_int_eq(BOMetricsDFT(n, re, im, -1), 0);
    for (PetscInt k = 0; k < n; k++) {
      double sr = 0, si = 0;
      for (PetscInt j = 0; j < n; j++) {
        double a = -2 * PETSC_PI * j * k / n;
        sr += r0[j] * cos(a) - i0[j] * sin(a), si += r0[j] * sin(a) + i0[j] * cos(a);
      }
      ck_assert(fabs(sr - re[k]) < 1e-10 && fabs(si - im[k]) < 1e-10);
    }
    ck_assert_int_eq(BOMetricsDFT(n, re, im, 1), 0); /* inverse up to n */
    for (PetscInt j = 0; j < n; j++) ck_assert(fabs(re[j] / n - r0[j]) < 1e-12 && fabs(im[j] / n - i0[j]) < 1e-12);
  }
}
END_TEST

START_TEST(test_psd_of_a_wave_and_tpcf_of_a_constant)
{
  double f[16 * 12], psd[6], s2[7];
  /* a plane wave of 3 cycles along x on 12 x 16: all power in bin 3 */
  for (PetscInt j = 0; j < 12; j++)
    for (PetscInt i = 0; i < 16; i++) f[j * 16 + i] = 5 + cos(2 * PETSC_PI * 3 * i / 16.0);
  ck_assert_int_eq(BOMetricsRadialPSD(12, 16, f, psd), 0);
  for (PetscInt k = 1; k <= 6; k++) ck_assert(k == 2 ? psd[k - 1] > 1 : fabs(psd[k - 1]) < 1e-20);
  /* |f| = 3/16 cycles per cell, times min(Ny, Nx) = 12 -> bin 2.25 -> 2 */
  for (PetscInt j = 0; j < 12; j++)
    for (PetscInt i = 0; i < 16; i++) f[j * 16 + i] = 3;
  ck_assert_int_eq(BOMetricsRadialTPCF(12, 16, f, s2), 0);
  for (PetscInt r = 0; r < 7; r++) ck_assert(fabs(s2[r] - 9) < 1e-10);
  /* an irregular field against the mean product over all pairs, brute force */
  for (PetscInt j = 0; j < 12; j++)
    for (PetscInt i = 0; i < 16; i++) f[j * 16 + i] = (double)((i * 7 + j * j * 3) % 5);
  ck_assert_int_eq(BOMetricsRadialTPCF(12, 16, f, s2), 0);
  for (PetscInt r = 0; r < 7; r++) {
    double s = 0, n = 0;
    for (PetscInt p = 0; p < 192; p++)
      for (PetscInt q = 0; q < 192; q++) {
        PetscInt dy = q / 16 - p / 16, dx = q % 16 - p % 16;
        if ((PetscInt)floor(sqrt((double)(dx * dx + dy * dy)) + 0.5) == r) s += f[p] * f[q], n++;
      }
    ck_assert(fabs(s2[r] - s / n) < 1e-10 * (1 + s / n));
  }
}
END_TEST

/* Modes of an Nz x Ny x Nx grid per spherical shell, as docs/EVAL.md
 * defines the shells: round(|f| min(Ny, Nx)), f in cycles per cell. */
static void shell_counts(PetscInt Nz, PetscInt Ny, PetscInt Nx, PetscInt nk, PetscInt *cnt)
{
  for (PetscInt b = 0; b <= nk; b++) cnt[b] = 0;
  for (PetscInt kz = 0; kz < Nz; kz++)
    for (PetscInt ky = 0; ky < Ny; ky++)
      for (PetscInt kx = 0; kx < Nx; kx++) {
        double   fz = (double)(kz <= Nz / 2 ? kz : kz - Nz) / Nz, fy = (double)(ky <= Ny / 2 ? ky : ky - Ny) / Ny;
        double   fx = (double)(kx <= Nx / 2 ? kx : kx - Nx) / Nx;
        PetscInt b  = (PetscInt)floor(sqrt(fz * fz + fy * fy + fx * fx) * PetscMin(Ny, Nx) + 0.5);
        if (b <= nk) cnt[b]++;
      }
}

START_TEST(test_psd3d_wave_and_white_noise)
{
  enum { Nz = 8, Ny = 12, Nx = 16, n = Nz * Ny * Nx, nk = 6, M = 200 };
  double   f[n], psd[nk], mean[nk] = {0};
  PetscInt cnt[nk + 1];
  /* a plane wave of 2 cycles along z and 3 along x: |f| = sqrt((2/8)^2 +
   * (3/16)^2) = 0.3125 cycles per cell, times min(Ny, Nx) = 12 -> 3.75 ->
   * shell 4, which holds its two modes of power n / 4 each */
  for (PetscInt e = 0; e < n; e++) f[e] = 5 + cos(2 * PETSC_PI * (2.0 * (e / (Ny * Nx)) / Nz + 3.0 * (e % Nx) / Nx));
  ck_assert_int_eq(BOMetricsRadialPSD3D(Nz, Ny, Nx, f, psd), 0);
  shell_counts(Nz, Ny, Nx, nk, cnt);
  for (PetscInt k = 1; k <= nk; k++)
    ck_assert_msg(k == 4 ? fabs(psd[k - 1] - 2 * (n / 4.0) / cnt[4]) < 1e-9 : fabs(psd[k - 1]) < 1e-20, "shell %d: %g",
                  (int)k, psd[k - 1]);
  /* white noise of variance 1/12 (uniform): a flat spectrum P(k) = 1/12.
   * The mean over M members of a shell of c modes has a relative standard
   * deviation of at most sqrt(2 / (c M)) (conjugate pairs are equal);
   * allow 5 of them. */
  for (PetscInt mbr = 0; mbr < M; mbr++) {
    BORng rng;
    BORngInit(&rng, 5, BO_RNG_TEST, (uint32_t)mbr, 3);
    for (PetscInt e = 0; e < n; e++) f[e] = BORngUniform(&rng);
    ck_assert_int_eq(BOMetricsRadialPSD3D(Nz, Ny, Nx, f, psd), 0);
    for (PetscInt k = 0; k < nk; k++) mean[k] += psd[k] / M;
  }
  for (PetscInt k = 1; k <= nk; k++) {
    double tol = 5 * sqrt(2.0 / (cnt[k] * M));
    ck_assert_msg(fabs(mean[k - 1] * 12 - 1) < tol, "white noise: shell %d has %g, not 1/12 (+- %g)", (int)k,
                  mean[k - 1], tol / 12);
  }
}
END_TEST

START_TEST(test_tpcf3d_constant_and_brute_force)
{
  enum { Nz = 4, Ny = 6, Nx = 8, n = Nz * Ny * Nx, nr = 4 };
  double f[n], s2[nr];
  for (PetscInt e = 0; e < n; e++) f[e] = 3;
  ck_assert_int_eq(BOMetricsRadialTPCF3D(Nz, Ny, Nx, f, s2), 0);
  for (PetscInt r = 0; r < nr; r++) ck_assert(fabs(s2[r] - 9) < 1e-10);
  /* an irregular field against the mean product over all pairs at rounded 3-D distance r */
  for (PetscInt e = 0; e < n; e++) f[e] = (double)((e * 7 + (e / Nx) * (e / Nx) * 3 + (e / (Ny * Nx)) * 5) % 5);
  ck_assert_int_eq(BOMetricsRadialTPCF3D(Nz, Ny, Nx, f, s2), 0);
  for (PetscInt r = 0; r < nr; r++) {
    double s = 0, cnt = 0;
    for (PetscInt p = 0; p < n; p++)
      for (PetscInt q = 0; q < n; q++) {
        PetscInt dz = q / (Ny * Nx) - p / (Ny * Nx), dy = (q / Nx) % Ny - (p / Nx) % Ny, dx = q % Nx - p % Nx;
        if ((PetscInt)floor(sqrt((double)(dx * dx + dy * dy + dz * dz)) + 0.5) == r) s += f[p] * f[q], cnt++;
      }
    ck_assert_msg(fabs(s2[r] - s / cnt) < 1e-10 * (1 + s / cnt), "r = %d: %g, brute force %g", (int)r, s2[r], s / cnt);
  }
}
END_TEST

/* Nz = 1 is the 2-D case bit for bit: the kernels, and a whole comparison
 * through BOMetricsSetField3D against BOMetricsSetField. */
START_TEST(test_nz1_equals_2d)
{
  enum { Ny = 10, Nx = 12, N = 9 };
  double          f[Ny * Nx], a[6], b[6], c[6], d[6];
  float           x[2 * N * Ny * Nx];
  BOMetrics       m2, m3;
  BOSetStats      r2, t2, r3, t3;
  BOMetricsResult res2, res3;
  for (PetscInt e = 0; e < Ny * Nx; e++) f[e] = (double)((e * 13 + (e / Nx) * 7) % 11) + sin(0.3 * e);
  ck_assert_int_eq(BOMetricsRadialPSD(Ny, Nx, f, a), 0);
  ck_assert_int_eq(BOMetricsRadialPSD3D(1, Ny, Nx, f, b), 0);
  ck_assert_int_eq(BOMetricsRadialTPCF(Ny, Nx, f, c), 0);
  ck_assert_int_eq(BOMetricsRadialTPCF3D(1, Ny, Nx, f, d), 0);
  ck_assert(!memcmp(a, b, sizeof(double) * 5) && !memcmp(c, d, sizeof(double) * 6));
  for (PetscInt i = 0; i < 2 * N; i++) correlated_field(9, i, Ny, Nx, x + (size_t)i * Ny * Nx);
  BOMetricsCreate(PETSC_COMM_SELF, &m2), BOMetricsCreate(PETSC_COMM_SELF, &m3);
  ck_assert_int_eq(BOMetricsSetField(m2, Ny, Nx, 1), 0);
  ck_assert_int_eq(BOMetricsSetField3D(m3, 1, Ny, Nx, 1), 0);
  ck_assert_int_eq(BOMetricsSetUp(m2, max_of(2 * N * Ny * Nx, x), (BOSet){N, x}), 0);
  ck_assert_int_eq(BOMetricsSetUp(m3, max_of(2 * N * Ny * Nx, x), (BOSet){N, x}), 0);
  ck_assert_int_eq(BOSetStatsCompute(m2, (BOSet){N, x}, &r2), 0);
  ck_assert_int_eq(BOSetStatsCompute(m2, (BOSet){N, x + N * Ny * Nx}, &t2), 0);
  ck_assert_int_eq(BOSetStatsCompute(m3, (BOSet){N, x}, &r3), 0);
  ck_assert_int_eq(BOSetStatsCompute(m3, (BOSet){N, x + N * Ny * Nx}, &t3), 0);
  ck_assert_int_eq(BOMetricsCompare(m2, r2, t2, &res2), 0);
  ck_assert_int_eq(BOMetricsCompare(m3, r3, t3, &res3), 0);
  ck_assert(!memcmp(&res2, &res3, sizeof(res2)));
  BOSetStatsDestroy(&r2), BOSetStatsDestroy(&t2), BOSetStatsDestroy(&r3), BOSetStatsDestroy(&t3);
  BOMetricsDestroy(&m2), BOMetricsDestroy(&m3);
}
END_TEST

/* 3-D members: the features cover every cell (mass, zero fraction), and a
 * change in one z-plane only moves the spectrum, the two-point function and
 * the Frechet distance, while an identical set has them 0. */
START_TEST(test_fields3d_known_answers)
{
  enum { Nz = 4, Ny = 6, Nx = 8, D = Nz * Ny * Nx, N = 24 };
  static float    x[2 * N * D];
  double          lmass = 0, zeros = 0;
  BOMetrics       m;
  BOSetStats      r, t;
  BOMetricsResult res;
  for (PetscInt i = 0; i < N; i++)
    for (PetscInt z = 0; z < Nz; z++) correlated_field(21, i * Nz + z, Ny, Nx, x + (size_t)(i * Nz + z) * Ny * Nx);
  memcpy(x + N * D, x, sizeof(float) * N * D);
  for (PetscInt i = 0; i < N; i++) { /* test: the top plane of every member emptied */
    double mass = 0;
    for (PetscInt e = 0; e < D; e++) mass += x[i * D + e], zeros += x[i * D + e] == 0;
    lmass += log1p(mass) / N;
    for (PetscInt e = (Nz - 1) * Ny * Nx; e < D; e++) x[(N + i) * D + e] = 0;
  }
  BOMetricsCreate(PETSC_COMM_SELF, &m);
  ck_assert_int_eq(BOMetricsSetField3D(m, Nz, Ny, Nx, 1), 0);
  ck_assert_int_eq(BOMetricsSetUp(m, max_of(N * D, x), (BOSet){N, x}), 0);
  ck_assert_int_eq(BOSetStatsCompute(m, (BOSet){N, x}, &r), 0);
  ck_assert_msg(fabs(r->fmean[0] - lmass) < 1e-12 && fabs(r->fmean[1] - zeros / (N * D)) < 1e-12,
                "features of 3-D members: log1p mass %g (want %g), zero fraction %g (want %g)", r->fmean[0], lmass,
                r->fmean[1], zeros / (N * D));
  ck_assert_int_eq(BOMetricsCompare(m, r, r, &res), 0);
  ck_assert(res.psd_logratio == 0 && res.tpcf_logratio == 0 && res.frechet < 1e-6);
  ck_assert_int_eq(BOSetStatsCompute(m, (BOSet){N, x + N * D}, &t), 0);
  ck_assert_int_eq(BOMetricsCompare(m, r, t, &res), 0);
  ck_assert_msg(res.psd_logratio > 0.05 && res.tpcf_logratio > 0.05 && res.frechet > 1 && res.mass_mean_ratio < 0.8,
                "psd %g, tpcf %g, frechet %g, mass ratio %g", res.psd_logratio, res.tpcf_logratio, res.frechet,
                res.mass_mean_ratio);
  BOSetStatsDestroy(&r), BOSetStatsDestroy(&t);
  BOMetricsDestroy(&m);
}
END_TEST

/* The 3-D mean/variance picture: the z = Nz/2 slice and the y = Ny/2 x-z
 * section of each field, a dark line between. Members all alike, 1 on the
 * plane z = 2 and on the row (z = 0, y = 3), else 0: the mean tiles are
 * yellow on the slice and on section rows z = 0 and 2, dark elsewhere;
 * the variance tiles dark. */
static void check_meanvar_3d(PetscBool top_down)
{
  enum { Nz = 4, Ny = 6, Nx = 8, D = Nz * Ny * Nx, N = 3, th = Ny + 1 + Nz };
  static float    x[N * D];
  char            prefix[PETSC_MAX_PATH_LEN], path[PETSC_MAX_PATH_LEN + 16], name[32];
  BOMetrics       m;
  BOMetricsReport rep;
  BOTestPNG       d;
  unsigned char   lo[3], hi[3];
  PetscMPIInt     rank;
  int             y0 = -1;
  for (PetscInt e = 0; e < N * D; e++) {
    PetscInt z = (e % D) / (Ny * Nx), y = (e / Nx) % Ny;
    x[e] = (float)(z == 2 || (z == 0 && y == 3));
  }
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  snprintf(name, sizeof(name), "mv%d%d", (int)top_down, (int)rank);
  BOTestPath(name, prefix, sizeof(prefix));
  BOMetricsCreate(PETSC_COMM_SELF, &m);
  ck_assert_int_eq(BOMetricsSetField3D(m, Nz, Ny, Nx, 1), 0);
  m->top_down = top_down;
  ck_assert_int_eq(BOMetricsSetUp(m, 1, (BOSet){N, x}), 0);
  ck_assert_int_eq(BOMetricsEvaluate(m, (BOSet){N, x}, (BOSet){N, x}, NULL, &rep), 0);
  ck_assert_int_eq(BOMetricsWritePlots(m, &rep, prefix), 0);
  snprintf(path, sizeof(path), "%s_meanvar.png", prefix);
  ck_assert_int_eq(BOTestReadPNG(path, &d), 0);
  /* 2 x 2 tiles of 8 x 11 cells of 8 pixels (64 x 88, gaps of 4) centred in
   * 400: from x = 134; the first row of tile colour under the text is y0 */
  ck_assert_int_eq(d.W, 400);
  BOColormap(0, lo), BOColormap(1, hi);
  for (int y = 0; y < (int)d.H && y0 < 0; y++) {
    const unsigned char *p = d.rgb + ((size_t)y * d.W + 138) * 3;
    if (!memcmp(p, lo, 3) || !memcmp(p, hi, 3)) y0 = y;
  }
  ck_assert_int_ge(y0, 0);
  for (int j = 0; j < th; j++) { /* tile row j: 0..5 the slice, 6 the line, 7..10 the section at z = j - 7 */
    int                  want = j < Ny || j == Ny + 1 || j == Ny + 3, row = top_down ? j : th - 1 - j;
    const unsigned char *c = want ? hi : lo;
    for (int t = 0; t < 4; t++) {
      const unsigned char *p = d.rgb + ((size_t)(y0 + (t / 2) * 92 + row * 8 + 4) * d.W + 134 + (t % 2) * 68 + 12) * 3;
      ck_assert_msg(!memcmp(p, t < 2 ? c : lo, 3), "top_down %d: tile %d, row %d", (int)top_down, t, j);
    }
  }
  free(d.rgb);
  BOMetricsReportDestroy(&rep);
  BOMetricsDestroy(&m);
}

START_TEST(test_meanvar_picture_3d)
{
  check_meanvar_3d(PETSC_FALSE);
  check_meanvar_3d(PETSC_TRUE);
}
END_TEST

START_TEST(test_one_dimensional_distances)
{
  double a[3] = {0, 1, 2}, b[3] = {1, 2, 3}, c[4] = {0, 0, 5, 5}, ha[4] = {1, 2, 3, 0}, hb[4] = {0, 1, 2, 3};
  ck_assert(fabs(BOMetricsW1Sorted(3, a, 3, b) - 1) < 1e-15);
  ck_assert(fabs(BOMetricsKSSorted(3, a, 3, b) - 1.0 / 3) < 1e-15);
  ck_assert(fabs(BOMetricsW1Sorted(3, a, 3, a)) < 1e-15);
  /* {0,1,2} vs {0,0,5,5}: integral of |F_a - F_c| = 1 * 1/6 + 1 * 1/6 + 3 * 1/2 */
  ck_assert(fabs(BOMetricsW1Sorted(3, a, 4, c) - (1.0 / 6 + 1.0 / 6 + 1.5)) < 1e-12);
  /* a histogram shifted by one bin of width 2: W1 = 2 */
  ck_assert(fabs(BOMetricsW1Hist(4, ha, hb, 2.0) - 2) < 1e-12);
}
END_TEST

START_TEST(test_frechet_known_answers)
{
  double mu1[3] = {0, 1, 2}, mu2[3] = {1, 1, 0}, S1[9] = {4, 0, 0, 0, 1, 0, 0, 0, 9},
         S2[9] = {1, 0, 0, 0, 1, 0, 0, 0, 4}, fd;
  double R[9]  = {2, 1, 0, 1, 2, 1, 0, 1, 2};
  /* diagonal: |dmu|^2 + sum (sqrt a - sqrt b)^2 = 5 + (1 + 0 + 1) */
  ck_assert_int_eq(BOMetricsFrechet(3, mu1, S1, mu2, S2, &fd), 0);
  ck_assert(fabs(fd - 7) < 1e-10);
  ck_assert_int_eq(BOMetricsFrechet(3, mu1, R, mu1, R, &fd), 0);
  ck_assert(fabs(fd) < 1e-10);
  /* same shape, mean shifted: only the mean term */
  ck_assert_int_eq(BOMetricsFrechet(3, mu1, R, mu2, R, &fd), 0);
  ck_assert(fabs(fd - 5) < 1e-10);
}
END_TEST

START_TEST(test_mmd_identical_and_shifted)
{
  double a[40], b[40], h = 0, mmd;
  for (int i = 0; i < 40; i++) a[i] = sin(1.7 * i), b[i] = a[i] + 3;
  ck_assert_int_eq(BOMetricsMMD2(2, 20, a, 20, a, &h, &mmd), 0);
  /* X = Y: the unbiased estimate is in [-2/n, 0] */
  ck_assert(mmd <= 1e-15 && mmd >= -2.0 / 20 - 1e-15);
  h = 0;
  ck_assert_int_eq(BOMetricsMMD2(2, 20, a, 20, b, &h, &mmd), 0);
  ck_assert(mmd > 0.5);
}
END_TEST

/* Identical sets: every distance is zero (MMD^2 within its estimator's bias). */
START_TEST(test_identical_sets_and_known_shifts)
{
  const PetscInt  N = 30, Ny = 8, Nx = 8, D = 64;
  float          *x, *y;
  BOSet           ref, test;
  BOSetStats      sr, st;
  BOMetricsResult r;
  BOMetrics       m;
  double          mean_mass = 0;

  PetscMalloc2(N * D, &x, N * D, &y);
  for (PetscInt n = 0; n < N; n++) correlated_field(5, n, Ny, Nx, x + n * D);
  ref.nlocal = N, ref.x = x;
  m = field_metrics(Ny, Nx, 2 * max_of(N * D, x), ref);
  ck_assert_int_eq(BOSetStatsCompute(m, ref, &sr), 0);
  ck_assert_int_eq(BOMetricsCompare(m, sr, sr, &r), 0);
  ck_assert(r.w1_marginal == 0 && r.mass_w1 == 0 && r.mass_ks == 0 && r.psd_logratio == 0 && r.tpcf_logratio == 0);
  ck_assert(r.mean_rrmse == 0 && r.var_rrmse == 0);
  ck_assert(fabs(r.frechet) < 1e-8);
  ck_assert(r.mmd <= 1e-12 && r.mmd >= -2.0 / N - 1e-12);
  ck_assert(r.mass_mean_ratio == 1 && r.mass_var_ratio == 1 && r.zero_frac_ratio == 1);

  /* +1 on every count: W1 of every marginal is exactly 1, mass moves by D */
  for (PetscInt i = 0; i < N * D; i++) y[i] = x[i] + 1;
  test.nlocal = N, test.x = y;
  ck_assert_int_eq(BOSetStatsCompute(m, test, &st), 0);
  ck_assert_int_eq(BOMetricsCompare(m, sr, st, &r), 0);
  ck_assert(fabs(r.w1_marginal - 1) < 1e-12);
  ck_assert(r.zero_frac_ratio == 0); /* no zero is left */
  ck_assert(fabs(r.mass_w1 - D) < 1e-9 && r.mass_ks > 0);
  ck_assert(r.frechet > 1 && r.mmd > 0.1);
  BOSetStatsDestroy(&st);

  /* x 2: W1(mass, 2 mass) = mean mass */
  for (PetscInt i = 0; i < N * D; i++) y[i] = 2 * x[i], mean_mass += x[i] / (double)N;
  ck_assert_int_eq(BOSetStatsCompute(m, test, &st), 0);
  ck_assert_int_eq(BOMetricsCompare(m, sr, st, &r), 0);
  ck_assert(fabs(r.mass_w1 - mean_mass) < 1e-9 * mean_mass);
  /* the same zeros, twice the mass, four times its variance */
  ck_assert(fabs(r.mass_mean_ratio - 2) < 1e-12 && fabs(r.mass_var_ratio - 4) < 1e-9 && r.zero_frac_ratio == 1);
  /* doubling the field multiplies the spectrum by 4 (except the mean, left out) */
  ck_assert(fabs(r.psd_logratio - log(4.0)) < 1e-9);
  BOSetStatsDestroy(&st);
  BOSetStatsDestroy(&sr);
  BOMetricsDestroy(&m);
  PetscFree2(x, y);
}
END_TEST

START_TEST(test_memorisation)
{
  const PetscInt N = 20, D = 64;
  float         *train, *fake;
  BOSet          st, sf;
  BOMetrics      m;
  double         frac, d1;

  PetscMalloc2(N * D, &train, N * D, &fake);
  for (PetscInt n = 0; n < N; n++) correlated_field(7, n, 8, 8, train + n * D);
  st.nlocal = N, st.x = train;
  m = field_metrics(8, 8, max_of(N * D, train), st);
  /* copies of training members (some twice) */
  for (PetscInt n = 0; n < N; n++) memcpy(fake + n * D, train + ((n * 7) % N) * D, sizeof(float) * D);
  sf.nlocal = N, sf.x = fake;
  ck_assert_int_eq(BOMetricsMemorization(m, sf, st, &frac, &d1), 0);
  ck_assert(frac == 1 && d1 == 0);
  /* fresh members of the same distribution */
  for (PetscInt n = 0; n < N; n++) correlated_field(8, n, 8, 8, fake + n * D);
  ck_assert_int_eq(BOMetricsMemorization(m, sf, st, &frac, &d1), 0);
  ck_assert(frac == 0 && d1 > 1);
  /* too few training members */
  st.nlocal = 1;
  ck_assert(BOTestExpectError(BOMetricsMemorization(m, sf, st, &frac, &d1)) != 0);
  BOMetricsDestroy(&m);
  PetscFree2(train, fake);
}
END_TEST

/* A correlated truth beats the independent-marginals straw man; the
 * evaluation recognises a second draw from the truth as a surrogate. */
START_TEST(test_straw_man_loses_to_correlated_truth)
{
  const PetscInt  N = 60, D = 64;
  float          *real, *fake;
  BOSet           sr, sf;
  BOMetrics       m;
  BOMetricsReport rep;

  PetscMalloc2(N * D, &real, N * D, &fake);
  for (PetscInt n = 0; n < N; n++)
    correlated_field(11, n, 8, 8, real + n * D), correlated_field(12, n, 8, 8, fake + n * D);
  sr.nlocal = N, sr.x = real, sf.nlocal = N, sf.x = fake;
  m = field_metrics(8, 8, PetscMax(max_of(N * D, real), max_of(N * D, fake)), sr);
  ck_assert_int_eq(BOMetricsEvaluate(m, sr, sf, NULL, &rep), 0);
  ck_assert(rep.has[BO_COL_HOLDOUT] && !rep.has_train);
  ck_assert(rep.col[BO_COL_GENERATED].psd_logratio < 0.5 * rep.col[BO_COL_INDEPENDENT].psd_logratio);
  ck_assert(rep.col[BO_COL_GENERATED].frechet < 0.5 * rep.col[BO_COL_INDEPENDENT].frechet);
  ck_assert(rep.surrogate && strstr(rep.verdict, "VERDICT: surrogate"));
  /* the straw man matches the marginals: its marginal W1 is small too */
  ck_assert(rep.col[BO_COL_INDEPENDENT].w1_marginal < 1.0);
  BOMetricsReportDestroy(&rep);

  /* the straw man's own ensemble as "generated": not a surrogate */
  {
    BOSetStats s;
    ck_assert_int_eq(BOSetStatsCompute(m, sr, &s), 0);
    ck_assert_int_eq(BOMetricsIndependentSample(m, s, 99, 0, N, fake), 0);
    BOSetStatsDestroy(&s);
  }
  ck_assert_int_eq(BOMetricsEvaluate(m, sr, sf, NULL, &rep), 0);
  ck_assert(!rep.surrogate && strstr(rep.verdict, "NOT A SURROGATE"));
  BOMetricsReportDestroy(&rep);
  BOMetricsDestroy(&m);
  PetscFree2(real, fake);
}
END_TEST

START_TEST(test_vectors)
{
  const PetscInt  N = 80, G = 12;
  float          *real, *fake;
  BOSet           sr, sf;
  BOMetrics       m;
  BOMetricsReport rep;

  float *train;
  BOSet  strain;
  PetscMalloc3(N * G, &real, N * G, &fake, N * G, &train);
  for (PetscInt n = 0; n < N; n++)
    correlated_vector(3, n, G, real + n * G), correlated_vector(4, n, G, fake + n * G),
        correlated_vector(5, n, G, train + n * G);
  sr.nlocal = N, sr.x = real, sf.nlocal = N, sf.x = fake, strain.nlocal = N, strain.x = train;
  ck_assert_int_eq(BOMetricsCreate(PETSC_COMM_SELF, &m), 0);
  ck_assert_int_eq(BOMetricsSetVector(m, G), 0);
  ck_assert_int_eq(BOMetricsSetUp(m, PetscMax(max_of(N * G, real), max_of(N * G, fake)), sr), 0);
  ck_assert(m->nfeat == 2 + G && m->ncorr == G);
  ck_assert_int_eq(BOMetricsEvaluate(m, sr, sf, &sr, &rep), 0); /* real as training data: all memorised */
  ck_assert(rep.col[BO_COL_GENERATED].gene_mean_corr > 0.9 && rep.col[BO_COL_GENERATED].zero_frac_corr > 0.9);
  ck_assert(rep.col[BO_COL_GENERATED].corr_dist < 0.5 * rep.col[BO_COL_INDEPENDENT].corr_dist);
  ck_assert(rep.col[BO_COL_HOLDOUT].memorized_fraction == 1 && rep.real_nn_d1_median == 0);
  BOMetricsReportDestroy(&rep);
  /* with independent training data (the straw man's marginals out of
   * sample), a fresh draw from the truth is a surrogate */
  ck_assert_int_eq(BOMetricsEvaluate(m, sr, sf, &strain, &rep), 0);
  ck_assert_msg(rep.surrogate, "%s", rep.verdict);
  BOMetricsReportDestroy(&rep);
  BOMetricsDestroy(&m);
  PetscFree3(real, fake, train);
}
END_TEST

/* Two identical sets with nothing to learn (all zeros, the straw man as good
 * as anything) must not be called a surrogate; and the verdict names every
 * failing metric with its numbers. */
START_TEST(test_verdict_is_honest)
{
  const PetscInt  N = 40, D = 64;
  float          *zeros, *real, *fake;
  BOSet           sz, sr, sf;
  BOMetrics       m;
  BOMetricsReport rep;

  PetscCalloc1(N * D, &zeros);
  sz.nlocal = N, sz.x = zeros;
  m = field_metrics(8, 8, 1.0, sz);
  ck_assert_int_eq(BOMetricsEvaluate(m, sz, sz, &sz, &rep), 0);
  ck_assert_msg(!rep.surrogate && strstr(rep.verdict, "NOT A SURROGATE"), "all zeros: %s", rep.verdict);
  ck_assert_msg(strstr(rep.verdict, "on no structure metric") != NULL, "%s", rep.verdict);
  BOMetricsReportDestroy(&rep);
  BOMetricsDestroy(&m);

  /* a generated set with twice the counts of the truth: its marginal and
   * mass metrics are named, each with the straw man's or the floor's value */
  PetscMalloc2(N * D, &real, N * D, &fake);
  for (PetscInt n = 0; n < N; n++) {
    correlated_field(21, n, 8, 8, real + n * D), correlated_field(22, n, 8, 8, fake + n * D);
    for (PetscInt i = 0; i < D; i++) fake[n * D + i] *= 2;
  }
  sr.nlocal = N, sr.x = real, sf.nlocal = N, sf.x = fake;
  m = field_metrics(8, 8, PetscMax(max_of(N * D, real), max_of(N * D, fake)), sr);
  ck_assert_int_eq(BOMetricsEvaluate(m, sr, sf, NULL, &rep), 0);
  ck_assert(!rep.surrogate);
  ck_assert_msg(strstr(rep.verdict, "w1_marginal") && strstr(rep.verdict, "mean_rrmse") &&
                    strstr(rep.verdict, "mass_w1") && strstr(rep.verdict, "holdout floor"),
                "%s", rep.verdict);
  ck_assert_double_eq_tol(rep.col[BO_COL_GENERATED].mass_mean_ratio, 2.0, 0.2);
  BOMetricsReportDestroy(&rep);
  BOMetricsDestroy(&m);
  PetscFree(zeros);
  PetscFree2(real, fake);
}
END_TEST

/* A whole small file into buf, NUL-terminated. */
static void slurp(const char *path, char *buf, size_t len)
{
  FILE  *f = fopen(path, "r");
  size_t n;
  ck_assert(f != NULL);
  n      = fread(buf, 1, len - 1, f);
  buf[n] = 0;
  fclose(f);
}

/* The verdict's rule case by case, on the numbers of a surrogate (a second
 * draw of a correlated truth, with independent training data): a partial
 * win (a structure metric beaten, another metric lost to the straw man), a
 * NaN metric, the memorisation boundary (10 % passes, 11 % fails), the JSON
 * fields; and a vector set with another law is rejected. */
START_TEST(test_verdict_rule)
{
  const PetscInt  N = 60, D = 64, G = 12;
  float          *real, *fake, *train;
  BOSet           sr, sf, st;
  BOMetrics       m;
  BOMetricsReport rep;
  BOMetricsResult saved;
  char            path[PETSC_MAX_PATH_LEN], json[16384];

  PetscMalloc3(N * D, &real, N * D, &fake, N * D, &train);
  for (PetscInt n = 0; n < N; n++)
    correlated_field(11, n, 8, 8, real + n * D), correlated_field(12, n, 8, 8, fake + n * D),
        correlated_field(13, n, 8, 8, train + n * D);
  sr.nlocal = N, sr.x = real, sf.nlocal = N, sf.x = fake, st.nlocal = N, st.x = train;
  m = field_metrics(8, 8, PetscMax(max_of(N * D, real), PetscMax(max_of(N * D, fake), max_of(N * D, train))), sr);
  ck_assert_int_eq(BOMetricsEvaluate(m, sr, sf, &st, &rep), 0);
  ck_assert_msg(rep.surrogate && rep.has_train, "the base case: %s", rep.verdict);
  saved = rep.col[BO_COL_GENERATED];

  /* a partial win: psd still beats the straw man, mean_rrmse loses to it */
  rep.col[BO_COL_GENERATED].mean_rrmse = 2.0 * rep.col[BO_COL_INDEPENDENT].mean_rrmse;
  ck_assert_int_eq(BOMetricsDecideVerdict(m, &rep), 0);
  ck_assert_msg(!rep.surrogate && strstr(rep.verdict, "mean_rrmse") && strstr(rep.verdict, "straw man") &&
                    !strstr(rep.verdict, "psd_logratio"),
                "%s", rep.verdict);
  rep.col[BO_COL_GENERATED] = saved;

  /* a NaN metric fails, named */
  rep.col[BO_COL_GENERATED].mmd = NAN;
  ck_assert_int_eq(BOMetricsDecideVerdict(m, &rep), 0);
  ck_assert_msg(!rep.surrogate && strstr(rep.verdict, "mmd nan"), "%s", rep.verdict);
  rep.col[BO_COL_GENERATED] = saved;

  /* the memorisation boundary */
  rep.col[BO_COL_GENERATED].memorized_fraction = 0.10;
  ck_assert_int_eq(BOMetricsDecideVerdict(m, &rep), 0);
  ck_assert_msg(rep.surrogate, "10%% memorised: %s", rep.verdict);
  rep.col[BO_COL_GENERATED].memorized_fraction = 0.11;
  ck_assert_int_eq(BOMetricsDecideVerdict(m, &rep), 0);
  ck_assert_msg(!rep.surrogate && strstr(rep.verdict, "11% of generated members are near-copies"), "%s", rep.verdict);

  /* the JSON carries the decision and the text (a file per rank: m is on PETSC_COMM_SELF) */
  {
    PetscMPIInt rank;
    char        name[64];
    MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
    snprintf(name, sizeof(name), "verdict%d.json", (int)rank);
    BOTestPath(name, path, sizeof(path));
  }
  ck_assert_int_eq(BOMetricsReportWriteJSON(m, &rep, path), 0);
  slurp(path, json, sizeof(json));
  ck_assert_msg(strstr(json, "\"surrogate\": false") && strstr(json, "11% of generated members are near-copies"), "%s",
                json);
  rep.col[BO_COL_GENERATED] = saved;
  ck_assert_int_eq(BOMetricsDecideVerdict(m, &rep), 0);
  ck_assert_int_eq(BOMetricsReportWriteJSON(m, &rep, path), 0);
  slurp(path, json, sizeof(json));
  ck_assert_msg(strstr(json, "\"surrogate\": true") && strstr(json, "VERDICT: surrogate"), "%s", json);
  BOMetricsReportDestroy(&rep);
  BOMetricsDestroy(&m);

  /* vectors: a draw of another law (every count + 3) is rejected */
  for (PetscInt n = 0; n < N; n++)
    correlated_vector(3, n, G, real + n * G), correlated_vector(4, n, G, fake + n * G),
        correlated_vector(5, n, G, train + n * G);
  for (PetscInt i = 0; i < N * G; i++) fake[i] += 3;
  ck_assert_int_eq(BOMetricsCreate(PETSC_COMM_SELF, &m), 0);
  ck_assert_int_eq(BOMetricsSetVector(m, G), 0);
  ck_assert_int_eq(BOMetricsSetUp(m, PetscMax(max_of(N * G, real), max_of(N * G, fake)), sr), 0);
  ck_assert_int_eq(BOMetricsEvaluate(m, sr, sf, &st, &rep), 0);
  ck_assert_msg(!rep.surrogate && strstr(rep.verdict, "w1_marginal") && strstr(rep.verdict, "mass_w1"), "%s",
                rep.verdict);
  BOMetricsReportDestroy(&rep);
  BOMetricsDestroy(&m);
  PetscFree3(real, fake, train);
}
END_TEST

START_TEST(test_empty_set_is_an_error)
{
  float           x[64];
  BOSet           s = {1, x}, empty = {0, NULL};
  BOMetrics       m;
  BOSetStats      st;
  BOMetricsReport rep;

  for (int i = 0; i < 64; i++) x[i] = (float)(i % 5);
  m = field_metrics(8, 8, 4, s);
  ck_assert(BOTestExpectError(BOSetStatsCompute(m, empty, &st)) != 0);
  ck_assert(BOTestExpectError(BOMetricsEvaluate(m, s, empty, NULL, &rep)) != 0);
  BOMetricsDestroy(&m);
}
END_TEST

START_TEST(test_darcy_csv)
{
  char  a[PETSC_MAX_PATH_LEN], b[PETSC_MAX_PATH_LEN], j[PETSC_MAX_PATH_LEN], text[2048] = "";
  FILE *f;

  PetscMPIInt rank;
  char        name[3][32];

  MPI_Comm_rank(PETSC_COMM_WORLD, &rank); /* every rank runs this test on its own files */
  snprintf(name[0], 32, "a%d.csv", rank), snprintf(name[1], 32, "b%d.csv", rank),
      snprintf(name[2], 32, "r%d.json", rank);
  BOTestPath(name[0], a, sizeof(a)), BOTestPath(name[1], b, sizeof(b)), BOTestPath(name[2], j, sizeof(j));
  f = fopen(a, "w");
  fprintf(f, "member,k_eff,outflow,iterations\n0,1,2,5\n1,2,4,5\n2,3,6,5\n");
  fclose(f);
  f = fopen(b, "w");
  fprintf(f, "member,k_eff,outflow,iterations\n0,2,4,7\n1,3,6,7\n2,4,8,7\n");
  fclose(f);
  PetscViewer quiet;
  ck_assert_int_eq(PetscViewerASCIIOpen(PETSC_COMM_SELF, "/dev/null", &quiet), 0);
  ck_assert_int_eq(BOMetricsCompareCSV(PETSC_COMM_SELF, a, b, j, quiet), 0);
  slurp(j, text, sizeof(text));
  ck_assert(strstr(text, "\"k_eff_w1\": 1,") && strstr(text, "\"outflow_w1\": 2,") &&
            strstr(text, "\"k_eff_ks\": 0.3333333333"));
  ck_assert(!strstr(text, "iterations"));
  /* a broken file */
  f = fopen(b, "w");
  fprintf(f, "member,k_eff\n0,abc\n");
  fclose(f);
  ck_assert(BOTestExpectError(BOMetricsCompareCSV(PETSC_COMM_SELF, a, b, NULL, quiet)) != 0);
  PetscViewerDestroy(&quiet);
}
END_TEST

/* Member n of set `tag`: Poisson counts around a random smooth bump. */
static void member_at(PetscInt tag, PetscInt n, PetscInt D, PetscInt Nx, float *x)
{
  BORng  rng;
  double cx, cy;
  BORngInit(&rng, 17, BO_RNG_TEST, (uint32_t)n, (uint32_t)tag);
  cx = BORngUniform(&rng) * Nx, cy = BORngUniform(&rng) * Nx;
  for (PetscInt e = 0; e < D; e++) {
    double dx = e % Nx - cx, dy = (e / Nx) % Nx - cy;
    x[e] = (float)BORngPoisson(&rng, 1 + 6 * exp(-(dx * dx + dy * dy) / 8));
  }
}

static void make_set(PetscInt tag, PetscInt N, PetscInt D, PetscInt Nx, float **all)
{
  PetscMalloc1((size_t)N * D, all);
  for (PetscInt n = 0; n < N; n++) member_at(tag, n, D, Nx, *all + (size_t)n * D);
}

/* This rank's shard of an N-member set held whole in all. */
static BOSet shard_of(const float *all, PetscInt N, PetscInt D)
{
  PetscMPIInt rank, size;
  PetscInt    first, n;
  BOSet       s;
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  BODatasetShard(N, size, rank, &first, &n);
  s.nlocal = n, s.x = all + (size_t)first * D;
  return s;
}

static int close(double a, double b, double tol)
{
  if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
  return fabs(a - b) <= tol * (1 + fabs(a) + fabs(b));
}

static int same_result(const BOMetricsResult *a, const BOMetricsResult *b)
{
  const double *x = &a->w1_marginal, *y = &b->w1_marginal;
  int           ok = a->N_ref == b->N_ref && a->N_test == b->N_test;
  /* the doubles from w1_marginal to the end of the struct */
  /* Sums in another order differ by rounding; the Frechet distance takes
   * square roots of near-zero eigenvalues (covariances of rank < N - 1),
   * which turns a rounding error eps into sqrt(eps). */
  for (size_t i = 0; i < (sizeof(*a) - offsetof(BOMetricsResult, w1_marginal)) / sizeof(double); i++)
    ok = ok && close(x[i], y[i], &x[i] == &a->frechet ? 1e-6 : 1e-9);
  return ok;
}

typedef enum { LAYOUT_VECTORS, LAYOUT_FIELDS, LAYOUT_FIELDS_3D } Layout;

static BOMetrics make(MPI_Comm comm, Layout field, PetscInt Nx, PetscInt D, double maxc, BOSet ref)
{
  BOMetrics m;
  ck_assert_int_eq(BOMetricsCreate(comm, &m), 0);
  if (field == LAYOUT_FIELDS_3D) ck_assert_int_eq(BOMetricsSetField3D(m, 4, Nx / 2, Nx, D / (2 * Nx * Nx)), 0);
  else if (field) ck_assert_int_eq(BOMetricsSetField(m, Nx, Nx, D / (Nx * Nx)), 0);
  else ck_assert_int_eq(BOMetricsSetVector(m, D), 0);
  m->mmd_members = 17; /* exercise the strided subsample */
  ck_assert_int_eq(BOMetricsSetUp(m, maxc, ref), 0);
  return m;
}

static void check_parallel_equals_serial(Layout field)
{
  /* fields: 8 x 8 x 2; 3-D fields: 4 x 4 x 8 */
  const PetscInt  Nx = 8, D = field ? 128 : 24, Nr = 23, Nf = 19, Nt = 13;
  float          *real, *fake, *train;
  double          maxc = 0;
  BOMetrics       mp, ms;
  BOMetricsReport rp, rs;
  BOSet           tr, full_t = {Nt, NULL};
  int             ok = 1;

  make_set(0, Nr, D, Nx, &real), make_set(1, Nf, D, Nx, &fake), make_set(2, Nt, D, Nx, &train);
  /* generated members 0..4 are copies of training members: memorised */
  for (PetscInt n = 0; n < 5; n++) memcpy(fake + n * D, train + (2 * n) * D, sizeof(float) * D);
  for (PetscInt i = 0; i < Nr * D; i++) maxc = PetscMax(maxc, real[i]);
  for (PetscInt i = 0; i < Nf * D; i++) maxc = PetscMax(maxc, fake[i]);
  for (PetscInt i = 0; i < Nt * D; i++) maxc = PetscMax(maxc, train[i]);
  tr       = shard_of(train, Nt, D);
  full_t.x = train;

  mp = make(PETSC_COMM_WORLD, field, Nx, D, maxc, shard_of(real, Nr, D));
  ck_assert_int_eq(BOMetricsEvaluate(mp, shard_of(real, Nr, D), shard_of(fake, Nf, D), &tr, &rp), 0);
  ms = make(PETSC_COMM_SELF, field, Nx, D, maxc, (BOSet){Nr, real});
  ck_assert_int_eq(BOMetricsEvaluate(ms, (BOSet){Nr, real}, (BOSet){Nf, fake}, &full_t, &rs), 0);
  for (int c = 0; c < BO_NCOL; c++) ok = ok && rp.has[c] == rs.has[c] && same_result(&rp.col[c], &rs.col[c]);
  ok = ok && rp.surrogate == rs.surrogate && !strcmp(rp.verdict, rs.verdict);
  ck_assert(BOTestAllRanks(ok));
  /* and what it says: 5 of the 19 generated members are copies, no real
   * member is one (real -> train) nor any of the straw man's, and the
   * verdict says so with the percentage */
  ok = fabs(rp.col[BO_COL_GENERATED].memorized_fraction - 5.0 / Nf) < 1e-12 &&
       rp.col[BO_COL_INDEPENDENT].memorized_fraction == 0 && rp.col[BO_COL_HOLDOUT].memorized_fraction == 0;
  ok = ok && !rp.surrogate && strstr(rp.verdict, "VERDICT: NOT A SURROGATE") &&
       strstr(rp.verdict, "26% of generated members are near-copies of training members");
  ck_assert_msg(BOTestAllRanks(ok), "memorized fractions %g, %g, %g; %s", rp.col[BO_COL_GENERATED].memorized_fraction,
                rp.col[BO_COL_INDEPENDENT].memorized_fraction, rp.col[BO_COL_HOLDOUT].memorized_fraction, rp.verdict);
  BOMetricsReportDestroy(&rp);
  BOMetricsReportDestroy(&rs);
  BOMetricsDestroy(&mp);
  BOMetricsDestroy(&ms);
  PetscFree(real);
  PetscFree(fake);
  PetscFree(train);
}

START_TEST(test_fields_parallel_equals_serial) { check_parallel_equals_serial(LAYOUT_FIELDS); }
END_TEST

START_TEST(test_fields3d_parallel_equals_serial) { check_parallel_equals_serial(LAYOUT_FIELDS_3D); }
END_TEST

START_TEST(test_vectors_parallel_equals_serial) { check_parallel_equals_serial(LAYOUT_VECTORS); }
END_TEST

/* The straw man does not depend on how members are spread over ranks. */
START_TEST(test_straw_man_independent_of_ranks)
{
  const PetscInt N = 10, D = 64;
  float         *real, *mine, *ref;
  BOMetrics      mp;
  BOSetStats     st;
  BOSet          s;
  int            ok = 1;

  make_set(0, N, D, 8, &real);
  s  = shard_of(real, N, D);
  mp = make(PETSC_COMM_WORLD, LAYOUT_FIELDS, 8, D, 40, s);
  ck_assert_int_eq(BOSetStatsCompute(mp, s, &st), 0);
  PetscMalloc2((size_t)N * D, &mine, (size_t)N * D, &ref);
  ck_assert_int_eq(BOMetricsIndependentSample(mp, st, 5, 0, N, ref), 0); /* all members here */
  ck_assert_int_eq(BOMetricsIndependentSample(mp, st, 5, (PetscInt)((s.x - real) / D), s.nlocal, mine), 0);
  for (PetscInt i = 0; i < s.nlocal * D; i++) ok = ok && mine[i] == ref[(s.x - real) + i];
  ck_assert(BOTestAllRanks(ok));
  BOSetStatsDestroy(&st);
  BOMetricsDestroy(&mp);
  PetscFree2(mine, ref);
  PetscFree(real);
}
END_TEST

/* -by_params on 1-3 ranks equals the one-process evaluation; points are
 * found across ranks (member n is at point n % 3); with the generated set as
 * the training set the nearest baseline of a point is the point's own
 * generated members; a generated point that is no real point is an error. */
/* fields of 8 x 8, or 3-D fields of 4 x 4 x 8 */
static void check_by_params_parallel_equals_serial(Layout layout)
{
  const PetscInt   Nx = 8, D = layout == LAYOUT_FIELDS_3D ? 128 : 64, Nr = 21, Nf = 14, P = 2;
  float           *real, *fake;
  double           maxc = 0, pr[2 * 21], pf[2 * 14];
  BOMetrics        mp, ms;
  BOByParamsReport rp, rs;
  BOSet            sr, sf;
  BOParamSet       r, f;
  int              ok = 1;

  make_set(0, Nr, D, Nx, &real), make_set(1, Nf, D, Nx, &fake);
  for (PetscInt n = 0; n < Nr; n++) pr[n * P] = 0.5 + n % 3, pr[n * P + 1] = 10;
  for (PetscInt n = 0; n < Nf; n++) pf[n * P] = 0.5 + n % 3, pf[n * P + 1] = 10 * (1 + 1e-9); /* within 1e-6 */
  for (PetscInt i = 0; i < Nr * D; i++) maxc = PetscMax(maxc, real[i]);
  for (PetscInt i = 0; i < Nf * D; i++) maxc = PetscMax(maxc, fake[i]);
  sr = shard_of(real, Nr, D), sf = shard_of(fake, Nf, D);
  r               = (BOParamSet){sr, pr + (sr.x - real) / D * P, "real"};
  f               = (BOParamSet){sf, pf + (sf.x - fake) / D * P, "fake"};
  mp              = make(PETSC_COMM_WORLD, layout, Nx, D, maxc, sr);
  mp->holdout_min = 6;
  ck_assert_int_eq(BOMetricsEvaluateByParams(mp, P, "a,b", r, f, f, 1e-6, &rp), 0);
  ms              = make(PETSC_COMM_SELF, layout, Nx, D, maxc, (BOSet){Nr, real});
  ms->holdout_min = 6;
  ck_assert_int_eq(BOMetricsEvaluateByParams(ms, P, "a,b", (BOParamSet){{Nr, real}, pr, "real"},
                                             (BOParamSet){{Nf, fake}, pf, "fake"}, (BOParamSet){{Nf, fake}, pf, "fake"},
                                             1e-6, &rs),
                   0);
  ok = rp.npoints == 3 && rs.npoints == 3 && rp.has_holdout && rs.has_holdout && !strcmp(rp.summary, rs.summary);
  for (PetscInt j = 0; j < 3 && ok; j++) {
    ok = ok && rp.points[j * P] == 0.5 + j && rp.res[BO_BP_CONDITIONAL][j].N_ref == 7 &&
         rp.res[BO_BP_CONDITIONAL][j].N_test == (j < 2 ? 5 : 4) && rp.res[BO_BP_POOLED][j].N_test == (j < 2 ? 5 : 4);
    for (int c = 0; c < BO_BP_NCOL; c++) ok = ok && same_result(&rp.res[c][j], &rs.res[c][j]);
    ok = ok && same_result(&rp.res[BO_BP_NEAREST][j], &rp.res[BO_BP_CONDITIONAL][j]);
  }
  for (int c = 0; c < BO_BP_NCOL; c++) ok = ok && same_result(&rp.mean[c], &rs.mean[c]);
  ck_assert_msg(BOTestAllRanks(ok), "%d points; %s", (int)rp.npoints, rp.summary);
  BOByParamsReportDestroy(&rp);
  BOByParamsReportDestroy(&rs);
  /* generated member 13 at a = 7: no such real point */
  pf[13 * P] = 7;
  ck_assert(BOTestExpectError(BOMetricsEvaluateByParams(mp, P, "a,b", r, f, f, 1e-6, &rp)) != 0);
  BOMetricsDestroy(&mp);
  BOMetricsDestroy(&ms);
  PetscFree(real);
  PetscFree(fake);
}

START_TEST(test_by_params_parallel_equals_serial) { check_by_params_parallel_equals_serial(LAYOUT_FIELDS); }
END_TEST

START_TEST(test_by_params3d_parallel_equals_serial) { check_by_params_parallel_equals_serial(LAYOUT_FIELDS_3D); }
END_TEST

Suite *suite_metrics(void)
{
  Suite *s  = suite_create("metrics");
  TCase *tc = tcase_create("known_answers"), *tp = tcase_create("parallel");
  tcase_add_test(tc, test_dft_matches_direct_sum);
  tcase_add_test(tc, test_psd_of_a_wave_and_tpcf_of_a_constant);
  tcase_add_test(tc, test_psd3d_wave_and_white_noise);
  tcase_add_test(tc, test_tpcf3d_constant_and_brute_force);
  tcase_add_test(tc, test_nz1_equals_2d);
  tcase_add_test(tc, test_fields3d_known_answers);
  tcase_add_test(tc, test_meanvar_picture_3d);
  tcase_add_test(tc, test_one_dimensional_distances);
  tcase_add_test(tc, test_frechet_known_answers);
  tcase_add_test(tc, test_mmd_identical_and_shifted);
  tcase_add_test(tc, test_identical_sets_and_known_shifts);
  tcase_add_test(tc, test_memorisation);
  tcase_add_test(tc, test_straw_man_loses_to_correlated_truth);
  tcase_add_test(tc, test_vectors);
  tcase_add_test(tc, test_verdict_is_honest);
  tcase_add_test(tc, test_verdict_rule);
  tcase_add_test(tc, test_empty_set_is_an_error);
  tcase_add_test(tc, test_darcy_csv);
  tcase_add_test(tp, test_fields_parallel_equals_serial);
  tcase_add_test(tp, test_fields3d_parallel_equals_serial);
  tcase_add_test(tp, test_vectors_parallel_equals_serial);
  tcase_add_test(tp, test_straw_man_independent_of_ranks);
  tcase_add_test(tp, test_by_params_parallel_equals_serial);
  tcase_add_test(tp, test_by_params3d_parallel_equals_serial);
  suite_add_tcase(s, tc);
  suite_add_tcase(s, tp);
  return s;
}
