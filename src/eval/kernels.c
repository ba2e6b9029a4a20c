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

/* The transforms below work on a batch: `inner` interleaved transforms of
 * length t->n, element j of transform q at [j stride + q] (stride >= inner),
 * the same arithmetic for each q as one transform alone, so batching (the
 * passes along y and z of a grid, over contiguous rows and planes) changes
 * no bit of the result. */

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

/* The same on a batch (inner > 1): the butterflies of all transforms of
 * the batch at once, over contiguous runs of inner doubles (which do not
 * overlap: restrict). */
static void fft_radix2_batch(const Twiddles *t, PetscInt inner, PetscInt stride, double *re, double *im)
{
  PetscInt n = t->n;
  for (PetscInt i = 1, j = 0; i < n; i++) {
    PetscInt bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j)
      for (PetscInt q = 0; q < inner; q++) {
        double x           = re[i * stride + q];
        re[i * stride + q] = re[j * stride + q], re[j * stride + q] = x;
        x = im[i * stride + q], im[i * stride + q] = im[j * stride + q], im[j * stride + q] = x;
      }
  }
  for (PetscInt len = 2; len <= n; len <<= 1)
    for (PetscInt s = 0; s < n; s += len)
      for (PetscInt k = 0; k < len / 2; k++) {
        const double wr = t->cs[k * (n / len)], wi = t->sn[k * (n / len)];
        double *restrict ar = re + (s + k) * stride, *restrict ai = im + (s + k) * stride;
        double *restrict br = re + (s + k + len / 2) * stride, *restrict bi = im + (s + k + len / 2) * stride;
        for (PetscInt q = 0; q < inner; q++) {
          double tr = wr * br[q] - wi * bi[q], ti = wr * bi[q] + wi * br[q];
          br[q] = ar[q] - tr, bi[q] = ai[q] - ti;
          ar[q] += tr, ai[q] += ti;
        }
      }
}

/* A batch of transforms of length t->n: radix 2 for powers of two, else the
 * direct O(n^2) sum (work: 2 n inner doubles). */
static void fft_transform(const Twiddles *t, PetscInt inner, PetscInt stride, double *re, double *im, double *work)
{
  PetscInt n = t->n;
  if (n <= 1) return;
  if (is_pow2(n)) {
    if (inner == 1) fft_radix2(t, re, im);
    else fft_radix2_batch(t, inner, stride, re, im);
    return;
  }
  for (PetscInt q = 0; q < inner; q++)
    for (PetscInt k = 0; k < n; k++) {
      double sr = 0, si = 0;
      for (PetscInt j = 0, idx = 0; j < n; j++) { /* idx = j k mod n */
        double xr = re[j * stride + q], xi = im[j * stride + q];
        sr += xr * t->cs[idx] - xi * t->sn[idx];
        si += xr * t->sn[idx] + xi * t->cs[idx];
        idx += k;
        if (idx >= n) idx -= n;
      }
      work[k * inner + q] = sr, work[(n + k) * inner + q] = si;
    }
  for (PetscInt k = 0; k < n; k++)
    for (PetscInt q = 0; q < inner; q++)
      re[k * stride + q] = work[k * inner + q], im[k * stride + q] = work[(n + k) * inner + q];
}

PetscErrorCode BOMetricsDFT(PetscInt n, double *re, double *im, int sign)
{
  Twiddles t;
  double  *work;

  PetscFunctionBegin;
  if (n <= 1) PetscFunctionReturn(0);
  PetscCall(twiddles_create(n, sign, &t));
  PetscCall(PetscMalloc1(2 * n, &work));
  fft_transform(&t, 1, 1, re, im, work);
  PetscCall(PetscFree(work));
  PetscCall(twiddles_destroy(&t));
  PetscFunctionReturn(0);
}

/* Which parts of an nz x ny x nx array (x fastest) a 3-D transform touches:
 * on input only the first live_z planes and in them the first live_y rows
 * may be non-zero (zero padding: the passes skip the rest, whose transform
 * is 0); on output of a 3-D array (nz > 1) only the rows of y with |y| <
 * need_y (mod ny) are wanted (need_y < ny: the passes run z, y, x and the x
 * pass skips the other rows). */
typedef struct {
  PetscInt live_z, live_y, need_y;
} DFTPrune;

/* 3-D transform: rows, columns, then lines along z (none when nz = 1, so a
 * 2-D array is transformed as before); or, pruning the output, the other
 * way round. */
static PetscErrorCode dft3(PetscInt nz, PetscInt ny, PetscInt nx, DFTPrune pr, double *re, double *im, int sign)
{
  Twiddles  tx, ty, tz;
  double   *work;
  size_t    plane    = (size_t)ny * nx;
  PetscBool backward = (PetscBool)(nz > 1 && pr.need_y < ny && pr.live_z == nz && pr.live_y == ny);

  PetscFunctionBegin;
  PetscCall(twiddles_create(nx, sign, &tx));
  PetscCall(twiddles_create(ny, sign, &ty));
  PetscCall(twiddles_create(nz, sign, &tz));
  PetscCall(PetscMalloc1(2 * PetscMax(nx, PetscMax(ny * nx, nz * nx)), &work));
  if (!backward) {
    for (PetscInt z = 0; z < pr.live_z; z++)
      for (PetscInt y = 0; y < pr.live_y; y++)
        fft_transform(&tx, 1, 1, re + z * plane + y * nx, im + z * plane + y * nx, work);
    for (PetscInt z = 0; z < pr.live_z; z++) fft_transform(&ty, nx, nx, re + z * plane, im + z * plane, work);
    for (PetscInt y = 0; y < ny && nz > 1; y++) fft_transform(&tz, nx, (PetscInt)plane, re + y * nx, im + y * nx, work);
  } else {
    for (PetscInt y = 0; y < ny; y++) fft_transform(&tz, nx, (PetscInt)plane, re + y * nx, im + y * nx, work);
    for (PetscInt z = 0; z < nz; z++) fft_transform(&ty, nx, nx, re + z * plane, im + z * plane, work);
    for (PetscInt z = 0; z < nz; z++)
      for (PetscInt y = 0; y < ny; y++)
        if (y < pr.need_y || ny - y < pr.need_y)
          fft_transform(&tx, 1, 1, re + z * plane + y * nx, im + z * plane + y * nx, work);
  }
  PetscCall(PetscFree(work));
  PetscCall(twiddles_destroy(&tx));
  PetscCall(twiddles_destroy(&ty));
  PetscCall(twiddles_destroy(&tz));
  PetscFunctionReturn(0);
}

/* Signed frequency of mode k of an n-point axis, in cycles per cell. */
static double cycles_per_cell(PetscInt k, PetscInt n) { return (double)(k <= n / 2 ? k : k - n) / n; }

/* Radial bin of mode (kz, ky, kx): |f| min(Ny, Nx) rounded, f = (fz, fy, fx)
 * in cycles per cell of each axis, so shells are spheres in physical
 * wavenumber for cubic cells whatever Nz is (a z mode j lands in shell
 * j min(Ny, Nx) / Nz); fz = 0 when Nz = 1 (the 2-D bins, bit for bit). */
static PetscInt radial_bin(PetscInt kz, PetscInt ky, PetscInt kx, PetscInt Nz, PetscInt Ny, PetscInt Nx)
{
  double fz = cycles_per_cell(kz, Nz), fy = cycles_per_cell(ky, Ny), fx = cycles_per_cell(kx, Nx);
  return (PetscInt)floor(sqrt(fx * fx + fy * fy + fz * fz) * PetscMin(Ny, Nx) + 0.5);
}

PetscErrorCode BOMetricsRadialPSD3D(PetscInt Nz, PetscInt Ny, PetscInt Nx, const double *f, double *psd)
{
  PetscInt nk = PetscMin(Ny, Nx) / 2, n = Nz * Ny * Nx, *cnt;
  double  *re, *im;

  PetscFunctionBegin;
  if (nk < 1) PetscFunctionReturn(0);
  PetscCall(PetscCalloc3(n, &re, n, &im, nk + 1, &cnt));
  PetscCall(PetscArraycpy(re, f, n));
  PetscCall(dft3(Nz, Ny, Nx, (DFTPrune){Nz, Ny, Ny}, re, im, -1));
  PetscCall(PetscArrayzero(psd, nk));
  for (PetscInt kz = 0; kz < Nz; kz++)
    for (PetscInt ky = 0; ky < Ny; ky++)
      for (PetscInt kx = 0; kx < Nx; kx++) {
        PetscInt b = radial_bin(kz, ky, kx, Nz, Ny, Nx), c = (kz * Ny + ky) * Nx + kx;
        if (b < 1 || b > nk) continue; /* the mean, and the corners beyond Nyquist */
        psd[b - 1] += (re[c] * re[c] + im[c] * im[c]) / (double)n;
        cnt[b]++;
      }
  for (PetscInt b = 1; b <= nk; b++) psd[b - 1] = cnt[b] ? psd[b - 1] / cnt[b] : 0;
  PetscCall(PetscFree3(re, im, cnt));
  PetscFunctionReturn(0);
}

PetscErrorCode BOMetricsRadialPSD(PetscInt Ny, PetscInt Nx, const double *f, double *psd)
{
  return BOMetricsRadialPSD3D(1, Ny, Nx, f, psd);
}

/* S2 by the Wiener-Khinchin theorem on a zero-padded grid (pz >= 2 Nz - 1,
 * py >= 2 Ny - 1, px >= 2 Nx - 1, so nothing wraps): the inverse transform
 * of |F|^2 holds sum_p f(p) f(p + d) at d mod (pz, py, px); dividing the sum
 * over the lags of a radial bin by the number of pairs (Nz - |dz|)(Ny -
 * |dy|)(Nx - |dx|) they have gives the mean product over all pairs at that
 * distance (in cells). */
PetscErrorCode BOMetricsRadialTPCF3D(PetscInt Nz, PetscInt Ny, PetscInt Nx, const double *f, double *s2)
{
  PetscInt nr = PetscMin(Ny, Nx) / 2 + 1, pz = 1, py = 1, px = 1, np;
  double  *re, *im, *pairs;

  PetscFunctionBegin;
  while (pz < 2 * Nz - 1) pz <<= 1;
  while (py < 2 * Ny - 1) py <<= 1;
  while (px < 2 * Nx - 1) px <<= 1;
  np = pz * py * px;
  PetscCall(PetscCalloc3(np, &re, np, &im, nr, &pairs));
  for (PetscInt k = 0; k < Nz; k++)
    for (PetscInt j = 0; j < Ny; j++)
      for (PetscInt i = 0; i < Nx; i++) re[(k * py + j) * px + i] = f[(k * Ny + j) * Nx + i];
  PetscCall(dft3(pz, py, px, (DFTPrune){Nz, Ny, py}, re, im, -1));
  for (PetscInt n = 0; n < np; n++) re[n] = re[n] * re[n] + im[n] * im[n], im[n] = 0;
  PetscCall(dft3(pz, py, px, (DFTPrune){pz, py, nr}, re, im, 1)); /* lags |dy| < nr only */
  PetscCall(PetscArrayzero(s2, nr));
  /* lags beyond nr - 1 on an axis are beyond the last bin */
  for (PetscInt dz = -PetscMin(Nz - 1, nr - 1); dz <= PetscMin(Nz - 1, nr - 1); dz++)
    for (PetscInt dy = -PetscMin(Ny - 1, nr - 1); dy <= PetscMin(Ny - 1, nr - 1); dy++)
      for (PetscInt dx = -PetscMin(Nx - 1, nr - 1); dx <= PetscMin(Nx - 1, nr - 1); dx++) {
        PetscInt r = (PetscInt)floor(sqrt((double)(dx * dx + dy * dy + dz * dz)) + 0.5);
        if (r >= nr) continue;
        s2[r] += re[(((dz + pz) % pz) * py + (dy + py) % py) * px + (dx + px) % px] / (double)np;
        pairs[r] += (double)(Nz - PetscAbsInt(dz)) * (Ny - PetscAbsInt(dy)) * (Nx - PetscAbsInt(dx));
      }
  for (PetscInt r = 0; r < nr; r++) s2[r] = pairs[r] > 0 ? s2[r] / pairs[r] : 0;
  PetscCall(PetscFree3(re, im, pairs));
  PetscFunctionReturn(0);
}

PetscErrorCode BOMetricsRadialTPCF(PetscInt Ny, PetscInt Nx, const double *f, double *s2)
{
  return BOMetricsRadialTPCF3D(1, Ny, Nx, f, s2);
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
