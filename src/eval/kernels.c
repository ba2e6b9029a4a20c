/* Serial kernels of the fidelity metrics: DFTs, radial spectra and
 * two-point functions, 1-D distances, the Frechet distance and MMD. */
#include <math.h>
#include <string.h>
#include "bo_metrics.h"
#include <petscblaslapack.h>

/* ---- Fourier transforms ------------------------------------------------ */

static PetscBool is_pow2(PetscInt n) { return n > 0 && (n & (n - 1)) == 0; }

/* Roots of unity for length n: cs[k] + i sn[k] = exp(sign 2 pi i k / n). */
typedef struct {
  PetscInt n;
  int      sign;
  double  *cs, *sn;
} Twiddles;

static PetscErrorCode twiddles_create(PetscInt n, int sign, Twiddles *t)
{
  PetscFunctionBegin;
  t->n = n, t->sign = sign;
  PetscCall(PetscMalloc2(n, &t->cs, n, &t->sn));
  for (PetscInt k = 0; k < n; k++) t->cs[k] = cos(2 * PETSC_PI * k / n), t->sn[k] = sign * sin(2 * PETSC_PI * k / n);
  PetscFunctionReturn(0);
}

static PetscErrorCode twiddles_destroy(Twiddles *t)
{
  PetscFunctionBegin;
  PetscCall(PetscFree2(t->cs, t->sn));
  PetscFunctionReturn(0);
}

/* Iterative radix-2 Cooley-Tukey: bit reversal, then butterflies of
 * doubling span; the twiddle of butterfly k at span len is root k n/len. */
static void fft_radix2(const Twiddles *t, double *re, double *im)
{
  PetscInt n = t->n;
  for (PetscInt i = 1, j = 0; i < n; i++) {
    PetscInt bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      double x = re[i];
      re[i] = re[j], re[j] = x;
      x = im[i], im[i] = im[j], im[j] = x;
    }
  }
  for (PetscInt len = 2; len <= n; len <<= 1)
    for (PetscInt s = 0; s < n; s += len)
      for (PetscInt k = 0; k < len / 2; k++) {
        double  wr = t->cs[k * (n / len)], wi = t->sn[k * (n / len)];
        double *ar = re + s + k, *ai = im + s + k, *br = re + s + k + len / 2, *bi = im + s + k + len / 2;
        double  tr = wr * *br - wi * *bi, ti = wr * *bi + wi * *br;
        *br = *ar - tr, *bi = *ai - ti;
        *ar += tr, *ai += ti;
      }
}

/* One transform of length t->n: radix 2 for powers of two, else the direct
 * O(n^2) sum (work: 2n doubles). */
static void fft_transform(const Twiddles *t, double *re, double *im, double *work)
{
  PetscInt n = t->n;
  if (n <= 1) return;
  if (is_pow2(n)) {
    fft_radix2(t, re, im);
    return;
  }
  for (PetscInt k = 0; k < n; k++) {
    double sr = 0, si = 0;
    for (PetscInt j = 0, idx = 0; j < n; j++) { /* idx = j k mod n */
      sr += re[j] * t->cs[idx] - im[j] * t->sn[idx];
      si += re[j] * t->sn[idx] + im[j] * t->cs[idx];
      idx += k;
      if (idx >= n) idx -= n;
    }
    work[k] = sr, work[n + k] = si;
  }
  memcpy(re, work, sizeof(double) * (size_t)n);
  memcpy(im, work + n, sizeof(double) * (size_t)n);
}

PetscErrorCode BOMetricsDFT(PetscInt n, double *re, double *im, int sign)
{
  Twiddles t;
  double  *work;

  PetscFunctionBegin;
  if (n <= 1) PetscFunctionReturn(0);
  PetscCall(twiddles_create(n, sign, &t));
  PetscCall(PetscMalloc1(2 * n, &work));
  fft_transform(&t, re, im, work);
  PetscCall(PetscFree(work));
  PetscCall(twiddles_destroy(&t));
  PetscFunctionReturn(0);
}

/* 2-D transform of an ny x nx array (x fastest): rows, then columns. */
static PetscErrorCode dft2(PetscInt ny, PetscInt nx, double *re, double *im, int sign)
{
  Twiddles tx, ty;
  double  *cr, *ci, *work;

  PetscFunctionBegin;
  PetscCall(twiddles_create(nx, sign, &tx));
  PetscCall(twiddles_create(ny, sign, &ty));
  PetscCall(PetscMalloc3(ny, &cr, ny, &ci, 2 * PetscMax(nx, ny), &work));
  for (PetscInt j = 0; j < ny; j++) fft_transform(&tx, re + j * nx, im + j * nx, work);
  for (PetscInt i = 0; i < nx; i++) {
    for (PetscInt j = 0; j < ny; j++) cr[j] = re[j * nx + i], ci[j] = im[j * nx + i];
    fft_transform(&ty, cr, ci, work);
    for (PetscInt j = 0; j < ny; j++) re[j * nx + i] = cr[j], im[j * nx + i] = ci[j];
  }
  PetscCall(PetscFree3(cr, ci, work));
  PetscCall(twiddles_destroy(&tx));
  PetscCall(twiddles_destroy(&ty));
  PetscFunctionReturn(0);
}

/* Radial bin of mode (ky, kx): |f| min(Ny, Nx) rounded, f in cycles per cell. */
static PetscInt radial_bin(PetscInt ky, PetscInt kx, PetscInt Ny, PetscInt Nx)
{
  double fy = (double)(ky <= Ny / 2 ? ky : ky - Ny) / Ny, fx = (double)(kx <= Nx / 2 ? kx : kx - Nx) / Nx;
  return (PetscInt)floor(sqrt(fx * fx + fy * fy) * PetscMin(Ny, Nx) + 0.5);
}

PetscErrorCode BOMetricsRadialPSD(PetscInt Ny, PetscInt Nx, const double *f, double *psd)
{
  PetscInt nk = PetscMin(Ny, Nx) / 2, *cnt;
  double  *re, *im;

  PetscFunctionBegin;
  if (nk < 1) PetscFunctionReturn(0);
  PetscCall(PetscCalloc3(Ny * Nx, &re, Ny * Nx, &im, nk + 1, &cnt));
  PetscCall(PetscArraycpy(re, f, Ny * Nx));
  PetscCall(dft2(Ny, Nx, re, im, -1));
  PetscCall(PetscArrayzero(psd, nk));
  for (PetscInt ky = 0; ky < Ny; ky++)
    for (PetscInt kx = 0; kx < Nx; kx++) {
      PetscInt b = radial_bin(ky, kx, Ny, Nx);
      if (b < 1 || b > nk) continue; /* the mean, and the corners beyond Nyquist */
      psd[b - 1] += (re[ky * Nx + kx] * re[ky * Nx + kx] + im[ky * Nx + kx] * im[ky * Nx + kx]) / (double)(Ny * Nx);
      cnt[b]++;
    }
  for (PetscInt b = 1; b <= nk; b++) psd[b - 1] = cnt[b] ? psd[b - 1] / cnt[b] : 0;
  PetscCall(PetscFree3(re, im, cnt));
  PetscFunctionReturn(0);
}

/* S2 by the Wiener-Khinchin theorem on a zero-padded grid (py >= 2 Ny - 1,
 * px >= 2 Nx - 1, so nothing wraps): the inverse transform of |F|^2 holds
 * sum_p f(p) f(p + d) at d mod (py, px); dividing the sum over the lags of a
 * radial bin by the number of pairs (Ny - |dy|)(Nx - |dx|) they have gives
 * the mean product over all pairs at that distance. */
PetscErrorCode BOMetricsRadialTPCF(PetscInt Ny, PetscInt Nx, const double *f, double *s2)
{
  PetscInt nr = PetscMin(Ny, Nx) / 2 + 1, py = 1, px = 1;
  double  *re, *im, *pairs;

  PetscFunctionBegin;
  while (py < 2 * Ny - 1) py <<= 1;
  while (px < 2 * Nx - 1) px <<= 1;
  PetscCall(PetscCalloc3(py * px, &re, py * px, &im, nr, &pairs));
  for (PetscInt j = 0; j < Ny; j++)
    for (PetscInt i = 0; i < Nx; i++) re[j * px + i] = f[j * Nx + i];
  PetscCall(dft2(py, px, re, im, -1));
  for (PetscInt n = 0; n < py * px; n++) re[n] = re[n] * re[n] + im[n] * im[n], im[n] = 0;
  PetscCall(dft2(py, px, re, im, 1));
  PetscCall(PetscArrayzero(s2, nr));
  for (PetscInt dy = -(Ny - 1); dy <= Ny - 1; dy++)
    for (PetscInt dx = -(Nx - 1); dx <= Nx - 1; dx++) {
      PetscInt r = (PetscInt)floor(sqrt((double)(dx * dx + dy * dy)) + 0.5);
      if (r >= nr) continue;
      s2[r] += re[((dy + py) % py) * px + (dx + px) % px] / (double)(py * px);
      pairs[r] += (double)(Ny - PetscAbsInt(dy)) * (Nx - PetscAbsInt(dx));
    }
  for (PetscInt r = 0; r < nr; r++) s2[r] = pairs[r] > 0 ? s2[r] / pairs[r] : 0;
  PetscCall(PetscFree3(re, im, pairs));
  PetscFunctionReturn(0);
}

/* ---- one-dimensional distances ----------------------------------------- */

/* W1 = integral |F_a - F_b|: on integer bins of width w the CDFs are steps. */
double BOMetricsW1Hist(PetscInt nbins, const double *ha, const double *hb, double w)
{
  double ta = 0, tb = 0, ca = 0, cb = 0, s = 0;
  for (PetscInt b = 0; b < nbins; b++) ta += ha[b], tb += hb[b];
  if (ta <= 0 || tb <= 0) return NAN;
  for (PetscInt b = 0; b + 1 < nbins; b++) {
    ca += ha[b], cb += hb[b];
    s += fabs(ca / ta - cb / tb);
  }
  return s * w;
}

/* Merge the two sorted samples; between consecutive values the empirical
 * CDFs are constant, so W1 sums |F_a - F_b| times the gap and KS takes the
 * largest |F_a - F_b|. */
static void walk(PetscInt na, const double *a, PetscInt nb, const double *b, double *w1, double *ks)
{
  PetscInt  i = 0, j = 0;
  double    prev = 0, s = 0, m = 0;
  PetscBool started = PETSC_FALSE;
  while (i < na || j < nb) {
    double v = (j >= nb || (i < na && a[i] <= b[j])) ? a[i] : b[j];
    if (started) s += fabs((double)i / na - (double)j / nb) * (v - prev);
    while (i < na && a[i] == v) i++;
    while (j < nb && b[j] == v) j++;
    m    = PetscMax(m, fabs((double)i / na - (double)j / nb));
    prev = v, started = PETSC_TRUE;
  }
  *w1 = s, *ks = m;
}

double BOMetricsW1Sorted(PetscInt na, const double *a, PetscInt nb, const double *b)
{
  double w1, ks;
  if (na < 1 || nb < 1) return NAN;
  walk(na, a, nb, b, &w1, &ks);
  return w1;
}

double BOMetricsKSSorted(PetscInt na, const double *a, PetscInt nb, const double *b)
{
  double w1, ks;
  if (na < 1 || nb < 1) return NAN;
  walk(na, a, nb, b, &w1, &ks);
  return ks;
}

/* ---- Frechet distance ---------------------------------------------------- */

/* Eigen-decomposition of the symmetric d x d matrix A (overwritten by the
 * eigenvectors, column-major = row-major for symmetric input) into lam. */
static PetscErrorCode sym_eig(PetscInt d, double *A, double *lam)
{
  PetscBLASInt n, lwork, info;
  double      *work;

  PetscFunctionBegin;
  PetscCall(PetscBLASIntCast(d, &n));
  PetscCall(PetscBLASIntCast(3 * d + 16, &lwork));
  PetscCall(PetscMalloc1(lwork, &work));
  LAPACKsyev_("V", "U", &n, A, &n, lam, work, &lwork, &info);
  PetscCall(PetscFree(work));
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK syev failed (info %d)", (int)info);
  PetscFunctionReturn(0);
}

/* tr (S1 S2)^1/2 = tr (A S2 A)^1/2 with A = S1^1/2: both square roots by
 * eigen-decomposition, negative round-off eigenvalues clipped to 0. */
PetscErrorCode BOMetricsFrechet(PetscInt d, const double *mu1, const double *S1, const double *mu2, const double *S2,
                                double *fd)
{
  double *V, *lam, *A, *T, *M, s = 0, tr = 0;

  PetscFunctionBegin;
  PetscCall(PetscMalloc5(d * d, &V, d, &lam, d * d, &A, d * d, &T, d * d, &M));
  PetscCall(PetscArraycpy(V, S1, d * d));
  PetscCall(sym_eig(d, V, lam));
  /* A = V diag(sqrt lam) V^T; eigenvector e is column e of V (V[e*d + i]) */
  for (PetscInt i = 0; i < d; i++)
    for (PetscInt j = 0; j < d; j++) {
      double a = 0;
      for (PetscInt e = 0; e < d; e++) a += V[e * d + i] * sqrt(PetscMax(lam[e], 0.0)) * V[e * d + j];
      A[i * d + j] = a;
    }
  for (PetscInt i = 0; i < d; i++) /* T = A S2 */
    for (PetscInt j = 0; j < d; j++) {
      double a = 0;
      for (PetscInt k = 0; k < d; k++) a += A[i * d + k] * S2[k * d + j];
      T[i * d + j] = a;
    }
  for (PetscInt i = 0; i < d; i++) /* M = T A, symmetrised */
    for (PetscInt j = 0; j < d; j++) {
      double a = 0;
      for (PetscInt k = 0; k < d; k++) a += T[i * d + k] * A[k * d + j];
      M[i * d + j] = a;
    }
  for (PetscInt i = 0; i < d; i++)
    for (PetscInt j = 0; j < i; j++) M[i * d + j] = M[j * d + i] = 0.5 * (M[i * d + j] + M[j * d + i]);
  PetscCall(sym_eig(d, M, lam));
  for (PetscInt e = 0; e < d; e++) tr += sqrt(PetscMax(lam[e], 0.0));
  for (PetscInt i = 0; i < d; i++) s += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]) + S1[i * d + i] + S2[i * d + i];
  *fd = PetscMax(s - 2 * tr, 0.0);
  PetscCall(PetscFree5(V, lam, A, T, M));
  PetscFunctionReturn(0);
}

/* ---- MMD ------------------------------------------------------------------ */

static double dist2(PetscInt d, const double *x, const double *y)
{
  double s = 0;
  for (PetscInt i = 0; i < d; i++) s += (x[i] - y[i]) * (x[i] - y[i]);
  return s;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median pairwise distance of the pooled points, over at most max_points per
 * set (evenly strided). */
PetscErrorCode BOMetricsMedianDistance(PetscInt d, PetscInt na, const double *a, PetscInt nb, const double *b,
                                       PetscInt max_points, double *h)
{
  PetscInt       ma = PetscMin(na, max_points), mb = PetscMin(nb, max_points), n = ma + mb, np = 0;
  const double **pt;
  double        *dd;

  PetscFunctionBegin;
  *h = 1;
  if (n < 2) PetscFunctionReturn(0);
  PetscCall(PetscMalloc2(n, &pt, (size_t)n * (n - 1) / 2, &dd));
  for (PetscInt i = 0; i < ma; i++) pt[i] = a + (size_t)((PetscInt64)i * na / ma) * d;
  for (PetscInt i = 0; i < mb; i++) pt[ma + i] = b + (size_t)((PetscInt64)i * nb / mb) * d;
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < i; j++) dd[np++] = dist2(d, pt[i], pt[j]);
  qsort(dd, (size_t)np, sizeof(double), cmp_double);
  *h = sqrt(np % 2 ? dd[np / 2] : 0.5 * (dd[np / 2 - 1] + dd[np / 2]));
  if (!(*h > 0)) *h = 1; /* all points equal: any bandwidth gives 0 */
  PetscCall(PetscFree2(pt, dd));
  PetscFunctionReturn(0);
}

/* The three kernel sums of the unbiased estimator, over rows i = rank,
 * rank + size, ...: sums[0] = sum_{i != j} k(a_i, a_j), sums[1] the same
 * for b, sums[2] = sum_{i, j} k(a_i, b_j). */
void BOMetricsMMDSums(PetscInt d, PetscInt na, const double *a, PetscInt nb, const double *b, double h, int rank,
                      int size, double sums[3])
{
  double g = 1.0 / (2 * h * h);
  sums[0] = sums[1] = sums[2] = 0;
  for (PetscInt i = rank; i < PetscMax(na, nb); i += size) {
    if (i < na) {
      for (PetscInt j = 0; j < na; j++)
        if (j != i) sums[0] += exp(-g * dist2(d, a + i * d, a + j * d));
      for (PetscInt j = 0; j < nb; j++) sums[2] += exp(-g * dist2(d, a + i * d, b + j * d));
    }
    if (i < nb)
      for (PetscInt j = 0; j < nb; j++)
        if (j != i) sums[1] += exp(-g * dist2(d, b + i * d, b + j * d));
  }
}

double BOMetricsMMDFromSums(PetscInt na, PetscInt nb, const double sums[3])
{
  if (na < 2 || nb < 2) return NAN;
  return sums[0] / ((double)na * (na - 1)) + sums[1] / ((double)nb * (nb - 1)) - 2 * sums[2] / ((double)na * nb);
}

PetscErrorCode BOMetricsMMD2(PetscInt d, PetscInt na, const double *a, PetscInt nb, const double *b, double *h,
                             double *mmd)
{
  double sums[3];

  PetscFunctionBegin;
  if (!(*h > 0)) PetscCall(BOMetricsMedianDistance(d, na, a, nb, b, PETSC_MAX_INT, h));
  BOMetricsMMDSums(d, na, a, nb, b, *h, 0, 1, sums);
  *mmd = BOMetricsMMDFromSums(na, nb, sums);
  PetscFunctionReturn(0);
}
