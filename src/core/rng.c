/* Philox4x32-10 and exact discrete samplers on top of it. */
#include <math.h>
#include "bo_rng.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void BOPhilox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4])
{
  uint32_t k0 = key[0], k1 = key[1];
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  for (int round = 0; round < 10; round++) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

void BORngInit(BORng *rng, uint64_t seed, uint32_t tag, uint32_t a, uint32_t b)
{
  rng->key[0] = (uint32_t)seed;
  rng->key[1] = (uint32_t)(seed >> 32);
  rng->ctr[0] = 0;
  rng->ctr[1] = a;
  rng->ctr[2] = b;
  rng->ctr[3] = tag;
  rng->used   = 4;
}

uint32_t BORngU32(BORng *rng)
{
  if (rng->used == 4) {
    BOPhilox4x32(rng->key, rng->ctr, rng->block);
    rng->ctr[0]++;
    rng->used = 0;
  }
  return rng->block[rng->used++];
}

double BORngUniform(BORng *rng)
{
  uint64_t hi = BORngU32(rng) >> 5, lo = BORngU32(rng) >> 6; /* 27 + 26 bits */
  return ((double)((hi << 26) | lo) + 0.5) * 0x1p-53;
}

double BORngNormal(BORng *rng)
{
  double u = BORngUniform(rng), v = BORngUniform(rng);
  return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

void BORngNormalPair(BORng *rng, double *a, double *b)
{
  double u, v, r2, f;
  do { /* a uniform point in the unit disc, r2 its squared radius */
    u  = 2.0 * BORngUniform(rng) - 1.0;
    v  = 2.0 * BORngUniform(rng) - 1.0;
    r2 = u * u + v * v;
  } while (r2 >= 1.0 || r2 == 0.0);
  /* (u, v)/sqrt(r2) is a uniform direction and -2 log r2 a chi-square of 2
   * degrees of freedom, independent of it: together two independent normals */
  f  = sqrt(-2.0 * log(r2) / r2);
  *a = u * f, *b = v * f;
}

uint32_t BORngBelow(BORng *rng, uint32_t n)
{
  /* reject the top partial range so every residue is equally likely */
  uint32_t limit = UINT32_MAX - UINT32_MAX % n, x;
  do x = BORngU32(rng);
  while (x >= limit);
  return x % n;
}

int64_t BORngStochasticRound(BORng *rng, double x)
{
  double f = floor(x);
  return (int64_t)f + (BORngUniform(rng) < x - f);
}

/* log(k!) - Stirling's approximation (k+1/2)log(k+1) - (k+1) + log(2 pi)/2:
 * the correction term used by BTRD, tabulated for small k. */
static double stirling_correction(int64_t k)
{
  static const double table[10] = {0.08106146679532726,  0.04134069595540929, 0.02767792568499834, 0.02079067210376509,
                                   0.01664469118982119,  0.01387612882307075, 0.01189670994589177, 0.01041126526197209,
                                   0.009255462182712733, 0.008330563433362871};
  if (k < 10) return table[k];
  double kp1 = (double)k + 1.0, r = 1.0 / (kp1 * kp1);
  return (1.0 / 12 - (1.0 / 360 - r / 1260) * r) / kp1;
}

/* Sequential-search inversion: X = smallest k with U <= F(k). Expected cost
 * O(n p); used only when n p < 30, where pmf(0) = q^n > 1e-13 is safe. */
static int64_t binomial_inversion(BORng *rng, int64_t n, double p)
{
  double  q = 1.0 - p, s = p / q, f = pow(q, (double)n), u = BORngUniform(rng);
  int64_t k = 0;
  while (u > f) {
    u -= f;
    k++;
    if (k > n) { /* round-off left u past the total mass: start again */
      k = 0;
      f = pow(q, (double)n);
      u = BORngUniform(rng);
      continue;
    }
    f *= s * (double)(n - k + 1) / (double)k;
  }
  return k;
}

/* BTRD (Hormann 1993, "The generation of binomial random variates"), for
 * p <= 1/2 and n p >= 10. Exact: a transformed-rejection proposal accepted
 * against the true pmf, with squeezes that only save work. */
static int64_t binomial_btrd(BORng *rng, int64_t n, double p)
{
  const double  q = 1.0 - p, r = p / q, nr = (double)(n + 1) * r, npq = (double)n * p * q;
  const double  spq = sqrt(npq);
  const double  b = 1.15 + 2.53 * spq, a = -0.0873 + 0.0248 * b + 0.01 * p, c = (double)n * p + 0.5;
  const double  alpha = (2.83 + 5.1 / b) * spq, vr = 0.92 - 4.2 / b, urvr = 0.86 * vr;
  const int64_t m = (int64_t)floor((double)(n + 1) * p);
  for (;;) {
    double u, v = BORngUniform(rng);
    if (v <= urvr) { /* the box in the centre: accept at once */
      u = v / vr - 0.43;
      return (int64_t)floor((2.0 * a / (0.5 - fabs(u)) + b) * u + c);
    }
    if (v >= vr) {
      u = BORngUniform(rng) - 0.5;
    } else {
      u = v / vr - 0.93;
      u = (u > 0 ? 0.5 : -0.5) - u;
      v = BORngUniform(rng) * vr;
    }
    double us = 0.5 - fabs(u);
    double kd = floor((2.0 * a / us + b) * u + c);
    if (kd < 0 || kd > (double)n) continue;
    int64_t k  = (int64_t)kd;
    v          = v * alpha / (a / (us * us) + b);
    int64_t km = k > m ? k - m : m - k;
    if (km <= 15) { /* evaluate f(k)/f(m) by the pmf's recursion */
      double f = 1.0;
      if (m < k) {
        for (int64_t i = m + 1; i <= k; i++) f *= nr / (double)i - r;
      } else if (m > k) {
        for (int64_t i = k + 1; i <= m; i++) v *= nr / (double)i - r;
      }
      if (v <= f) return k;
      continue;
    }
    /* squeeze on log(f(k)/f(m)), then the exact test with Stirling terms */
    v          = log(v);
    double rho = ((double)km / npq) * ((((double)km / 3.0 + 0.625) * (double)km + 1.0 / 6.0) / npq + 0.5);
    double t   = -(double)km * (double)km / (2.0 * npq);
    if (v < t - rho) return k;
    if (v > t + rho) continue;
    double nm = (double)(n - m + 1);
    double h =
        ((double)m + 0.5) * log(((double)m + 1.0) / (r * nm)) + stirling_correction(m) + stirling_correction(n - m);
    double nk = (double)(n - k + 1);
    if (v <= h + (double)(n + 1) * log(nm / nk) + ((double)k + 0.5) * log(nk * r / ((double)k + 1.0)) -
                 stirling_correction(k) - stirling_correction(n - k))
      return k;
  }
}

int64_t BORngBinomial(BORng *rng, int64_t n, double p)
{
  if (n <= 0 || p <= 0.0) return 0;
  if (p >= 1.0) return n;
  if (p > 0.5) return n - BORngBinomial(rng, n, 1.0 - p);
  if ((double)n * p < 30.0) return binomial_inversion(rng, n, p);
  return binomial_btrd(rng, n, p);
}

/* PTRS (Hormann 1993, "The transformed rejection method for generating
 * Poisson random variables"), for lambda >= 10. */
static int64_t poisson_ptrs(BORng *rng, double lambda)
{
  const double slam = sqrt(lambda), loglam = log(lambda);
  const double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
  const double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2.0);
  for (;;) {
    double u = BORngUniform(rng) - 0.5, v = BORngUniform(rng), us = 0.5 - fabs(u);
    double kd = floor((2.0 * a / us + b) * u + lambda + 0.43);
    if (us >= 0.07 && v <= vr) return (int64_t)kd;
    if (kd < 0 || (us < 0.013 && v > us)) continue;
    if (log(v) + log(invalpha) - log(a / (us * us) + b) <= -lambda + kd * loglam - lgamma(kd + 1.0)) return (int64_t)kd;
  }
}

int64_t BORngPoisson(BORng *rng, double lambda)
{
  if (!(lambda > 0.0)) return 0;
  if (lambda >= 10.0) return poisson_ptrs(rng, lambda);
  double  f = exp(-lambda), u = BORngUniform(rng);
  int64_t k = 0;
  while (u > f) {
    u -= f;
    k++;
    f *= lambda / (double)k;
    if (f == 0.0) {
      k = 0;
      f = exp(-lambda);
      u = BORngUniform(rng);
    } /* round-off guard */
  }
  return k;
}
