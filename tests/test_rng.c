/* Counter-based generator and exact samplers, checked against exact pmfs. */
#include <math.h>
#include "blackout.h"
#include "testutil.h"

/* Chi-square p-values below this fail a test. With fixed seeds the outcome
 * is reproducible; for a correct sampler and a random seed a test would fail
 * with probability ALPHA. */
#define ALPHA 1e-3

START_TEST(test_philox_known_answers)
{
  /* Known-answer vectors of Philox4x32-10 (Salmon et al., SC'11; Random123). */
  const uint32_t key[3][2] = {{0, 0}, {0xffffffff, 0xffffffff}, {0xa4093822, 0x299f31d0}};
  const uint32_t ctr[3][4] = {
      {0, 0, 0, 0}, {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}};
  const uint32_t want[3][4] = {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
                               {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
                               {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}};
  for (int v = 0; v < 3; v++) {
    uint32_t out[4];
    BOPhilox4x32(key[v], ctr[v], out);
    for (int i = 0; i < 4; i++)
      ck_assert_msg(out[i] == want[v][i], "vector %d word %d: %08x != %08x", v, i, out[i], want[v][i]);
  }
}
END_TEST

START_TEST(test_streams_reproducible_and_distinct)
{
  BORng a, b, c, d;
  BORngInit(&a, 42, BO_RNG_TEST, 7, 9);
  BORngInit(&b, 42, BO_RNG_TEST, 7, 9);
  BORngInit(&c, 42, BO_RNG_TEST, 8, 9); /* another key word */
  BORngInit(&d, 43, BO_RNG_TEST, 7, 9); /* another seed */
  int same_c = 0, same_d = 0;
  for (int i = 0; i < 1000; i++) {
    uint32_t x = BORngU32(&a), y = BORngU32(&b);
    ck_assert_uint_eq(x, y);
    same_c += BORngU32(&c) == x;
    same_d += BORngU32(&d) == x;
  }
  ck_assert_int_le(same_c, 1);
  ck_assert_int_le(same_d, 1);

  /* Draw 1000 of a stream equals the 1000th draw after a fresh start: a draw is
   * a function of its coordinates, not of what else was drawn elsewhere. */
  BORngInit(&a, 5, BO_RNG_SAMPLE, 3, 4);
  BORngInit(&c, 5, BO_RNG_SAMPLE, 99, 4);
  for (int i = 0; i < 999; i++) BORngU32(&a), BORngU32(&c);
  uint32_t x = BORngU32(&a);
  BORngInit(&b, 5, BO_RNG_SAMPLE, 3, 4);
  for (int i = 0; i < 999; i++) BORngU32(&b);
  ck_assert_uint_eq(x, BORngU32(&b));
}
END_TEST

START_TEST(test_streams_uncorrelated)
{
  /* Neighbouring keys must give independent streams: the sample correlation
   * of N pairs has standard deviation 1/sqrt(N); allow 5 of them. */
  const int N = 200000;
  for (uint32_t key = 0; key < 4; key++) {
    BORng  a, b;
    double sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0;
    BORngInit(&a, 1, BO_RNG_TEST, key, 0);
    BORngInit(&b, 1, BO_RNG_TEST, key + 1, 0);
    for (int i = 0; i < N; i++) {
      double x = BORngUniform(&a), y = BORngUniform(&b);
      sa += x, sb += y, sab += x * y, saa += x * x, sbb += y * y;
    }
    double cov  = sab / N - sa / N * sb / N,
           corr = cov / sqrt((saa / N - sa * sa / N / N) * (sbb / N - sb * sb / N / N));
    ck_assert_msg(fabs(corr) < 5.0 / sqrt(N), "keys %u,%u: correlation %g", key, key + 1, corr);
  }
}
END_TEST

/* Chi-square p-value of N draws of `draw` against the uniform law on (0, 1),
 * in 100 bins of equal width (0 and 1 themselves are outside: never drawn). */
static double uniform_pvalue(double (*draw)(BORng *), BORng *rng, int N)
{
  double obs[100] = {0}, prob[100], outside = 0;
  for (int i = 0; i < N; i++) {
    double u = draw(rng);
    if (u > 0.0 && u < 1.0) obs[(int)(u * 100)]++;
    else outside++;
  }
  for (int i = 0; i < 100; i++) prob[i] = 1.0 / 100;
  return BOChiSquareTest(100, obs, prob, outside, NULL, NULL);
}

/* ... and against the standard normal: 40 bins of width 0.2 on [-4, 4] and
 * the two tails, z < -4 and z >= 4 (42 bins that cover the line). */
static double normal_pvalue(double (*draw)(BORng *), BORng *rng, int N)
{
  double obs[42] = {0}, prob[42], outside = 0;
  for (int i = 0; i < N; i++) {
    double z = draw(rng);
    if (z < -4) obs[0]++;
    else if (z >= 4) obs[41]++;
    else if (z >= -4) obs[1 + (int)((z + 4) / 0.2)]++;
    else outside++; /* NaN */
  }
  for (int i = 0; i < 42; i++) {
    double lo = i == 0 ? -INFINITY : -4 + 0.2 * (i - 1), hi = i == 41 ? INFINITY : -4 + 0.2 * i;
    prob[i] = 0.5 * (erfc(-hi / M_SQRT2) - erfc(-lo / M_SQRT2));
  }
  return BOChiSquareTest(42, obs, prob, outside, NULL, NULL);
}

START_TEST(test_uniform_and_normal)
{
  BORng rng;
  BORngInit(&rng, 11, BO_RNG_TEST, 0, 0);
  double p = uniform_pvalue(BORngUniform, &rng, 200000);
  ck_assert_msg(p > ALPHA, "uniform: p = %g", p);
  p = normal_pvalue(BORngNormal, &rng, 200000); /* the stream goes on */
  ck_assert_msg(p > ALPHA, "normal: p = %g", p);
}
END_TEST

/* Either half of BORngNormalPair against the normal law, and the pair's
 * independence as far as two moments see it: the halves uncorrelated, and
 * their squares too (a dependence through the common radius, such as a
 * second half drawn from the first's size, shows there). */
static double pair_first(BORng *rng)
{
  double a, b;
  BORngNormalPair(rng, &a, &b);
  return a;
}
static double pair_second(BORng *rng)
{
  double a, b;
  BORngNormalPair(rng, &a, &b);
  return b;
}

START_TEST(test_normal_pair)
{
  const int N = 200000;
  BORng     rng;
  double    s[4] = {0}; /* a b, a^2 b^2, a^2, b^2 */
  BORngInit(&rng, 13, BO_RNG_TEST, 0, 0);
  double p = normal_pvalue(pair_first, &rng, N);
  ck_assert_msg(p > ALPHA, "first of the pair: p = %g", p);
  p = normal_pvalue(pair_second, &rng, N);
  ck_assert_msg(p > ALPHA, "second of the pair: p = %g", p);
  for (int i = 0; i < N; i++) {
    double a, b;
    BORngNormalPair(&rng, &a, &b);
    s[0] += a * b, s[1] += a * a * b * b, s[2] += a * a, s[3] += b * b;
  }
  /* E[ab] = 0 with sd 1/sqrt(N); cov(a^2, b^2) = 0 with sd sqrt(8/N)
   * (Var a^2 b^2 = E a^4 E b^4 - 1 = 8); allow 5 of each */
  ck_assert_msg(fabs(s[0] / N) < 5.0 / sqrt(N), "corr(a, b) = %g", s[0] / N);
  double cov2 = s[1] / N - (s[2] / N) * (s[3] / N);
  ck_assert_msg(fabs(cov2) < 5.0 * sqrt(8.0 / N), "cov(a^2, b^2) = %g", cov2);
}
END_TEST

/* Wrong generators for the companions: uniform draws skewed by 5%, and
 * normal draws 2% too wide. */
static double skewed_uniform(BORng *rng)
{
  double u = BORngUniform(rng);
  return u + 0.05 * u * (1 - u);
}
static double wide_normal(BORng *rng) { return 1.02 * BORngNormal(rng); }

START_TEST(test_uniform_and_normal_have_power)
{
  /* the tests above can fail: with 200000 draws, a density off by 5% at the
   * ends of (0, 1) (noncentrality about 170 on 99 degrees of freedom), and a
   * normal 2% too wide (about 160 on 41) */
  BORng rng;
  BORngInit(&rng, 12, BO_RNG_TEST, 0, 0);
  double p = uniform_pvalue(skewed_uniform, &rng, 200000);
  ck_assert_msg(p < ALPHA, "skewed uniform draws passed: p = %g", p);
  p = normal_pvalue(wide_normal, &rng, 200000);
  ck_assert_msg(p < ALPHA, "normal draws 2%% too wide passed: p = %g", p);
}
END_TEST

static double binomial_logpmf(int64_t n, double p, int64_t k)
{
  if (p == 0.0) return k == 0 ? 0.0 : -INFINITY;
  if (p == 1.0) return k == n ? 0.0 : -INFINITY;
  return lgamma((double)n + 1) - lgamma((double)k + 1) - lgamma((double)(n - k) + 1) + (double)k * log(p) +
         (double)(n - k) * log1p(-p);
}

/* Chi-square p-value of N draws of Binomial(n, p) against the pmf of
 * Binomial(n, ptest), over the window mean +- 10 sd (outside is one bin). */
static double binomial_pvalue(int64_t n, double p, double ptest, int N, uint32_t key)
{
  double  mean = (double)n * ptest, sd = sqrt(mean * (1 - ptest));
  int64_t lo = (int64_t)fmax(0, floor(mean - 10 * sd - 1)), hi = (int64_t)fmin((double)n, ceil(mean + 10 * sd + 1));
  int     nb  = (int)(hi - lo + 1);
  double *obs = calloc(nb, sizeof(double)), *prob = calloc(nb, sizeof(double)), outside = 0, pv;
  BORng   rng;

  BORngInit(&rng, 2024, BO_RNG_TEST, key, 0);
  for (int i = 0; i < N; i++) {
    int64_t k = BORngBinomial(&rng, n, p);
    ck_assert(k >= 0 && k <= n);
    if (k >= lo && k <= hi) obs[k - lo]++;
    else outside++; /* the tail */
  }
  for (int i = 0; i < nb; i++) prob[i] = exp(binomial_logpmf(n, ptest, lo + i));
  pv = BOChiSquareTest(nb, obs, prob, outside, NULL, NULL);
  free(obs);
  free(prob);
  return pv;
}

START_TEST(test_binomial_exact)
{
  /* Both methods (inversion below n p = 30, BTRD above), both halves of p,
   * the edges, and huge n. */
  const struct {
    int64_t n;
    double  p;
  } cases[] = {
      {0, 0.3},
      {10, 0.0},
      {10, 1.0},
      {1, 0.5},
      {5, 0.5},
      {20, 0.05},
      {100, 0.2},
      {100, 0.7},
      {59, 0.5},
      {61, 0.5},
      {75, 0.4},
      {200, 0.5},
      {1000, 0.3},
      {1000, 0.97},
      {255, 0.9},
      {100000, 0.01},
      {1000000, 0.5},
      {1000000000, 0.4},
      {3000000000LL, 1e-8},
      {2000, 1e-9},
  };
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    double pv = binomial_pvalue(cases[c].n, cases[c].p, cases[c].p, 100000, (uint32_t)c);
    ck_assert_msg(pv > ALPHA, "Binomial(%lld, %g): chi-square p = %g", (long long)cases[c].n, cases[c].p, pv);
  }
}
END_TEST

START_TEST(test_binomial_test_has_power)
{
  /* The test above can fail: a 2% error in p is caught at both methods. */
  ck_assert(binomial_pvalue(1000, 0.30, 0.306, 100000, 77) < ALPHA);
  ck_assert(binomial_pvalue(40, 0.5, 0.51, 100000, 78) < ALPHA);
}
END_TEST

static double poisson_pvalue(double lambda, double ltest, int N, uint32_t key)
{
  double  sd = sqrt(ltest);
  int64_t lo = (int64_t)fmax(0, floor(ltest - 10 * sd - 1)), hi = (int64_t)ceil(ltest + 10 * sd + 5);
  int     nb  = (int)(hi - lo + 1);
  double *obs = calloc(nb, sizeof(double)), *prob = calloc(nb, sizeof(double)), outside = 0, pv;
  BORng   rng;

  BORngInit(&rng, 77, BO_RNG_TEST, key, 1);
  for (int i = 0; i < N; i++) {
    int64_t k = BORngPoisson(&rng, lambda);
    ck_assert(k >= 0);
    if (k >= lo && k <= hi) obs[k - lo]++;
    else outside++; /* the tail */
  }
  for (int i = 0; i < nb; i++) {
    double k = (double)(lo + i);
    prob[i]  = ltest == 0 ? (k == 0) : exp(-ltest + k * log(ltest) - lgamma(k + 1));
  }
  pv = BOChiSquareTest(nb, obs, prob, outside, NULL, NULL);
  free(obs);
  free(prob);
  return pv;
}

START_TEST(test_poisson_exact)
{
  const double lambdas[] = {0.0, 1e-6, 0.5, 3.0, 9.99, 10.0, 30.0, 137.5, 1000.0, 1e6, 1e9};
  for (size_t c = 0; c < sizeof(lambdas) / sizeof(lambdas[0]); c++) {
    double pv = poisson_pvalue(lambdas[c], lambdas[c], 100000, (uint32_t)c);
    ck_assert_msg(pv > ALPHA, "Poisson(%g): chi-square p = %g", lambdas[c], pv);
  }
  ck_assert(poisson_pvalue(50.0, 51.0, 100000, 99) < ALPHA); /* power */
}
END_TEST

/* Whether N stochastic roundings of x are all floor(x) or floor(x) + 1, with
 * mean x within 5 sd (the sd of the mean is sqrt(f (1 - f) / N), f = x -
 * floor(x)). */
static int round_ok(int64_t (*round)(BORng *, double), BORng *rng, double x, int N)
{
  double f = floor(x), sum = 0;
  for (int i = 0; i < N; i++) {
    int64_t r = round(rng, x);
    if (r != (int64_t)f && r != (int64_t)f + 1) return 0;
    sum += (double)r;
  }
  return fabs(sum / N - x) < 5 * sqrt((x - f) * (1 - (x - f)) / N);
}

/* Chi-square p-value of N draws of below(n), n <= 16, against the uniform
 * law on 0..n-1. */
static double below_pvalue(uint32_t (*below)(BORng *, uint32_t), BORng *rng, uint32_t n, int N)
{
  double obs[16] = {0}, prob[16], outside = 0;
  for (int i = 0; i < N; i++) {
    uint32_t k = below(rng, n);
    if (k < n) obs[k]++;
    else outside++;
  }
  for (uint32_t k = 0; k < n; k++) prob[k] = 1.0 / n;
  return BOChiSquareTest((int)n, obs, prob, outside, NULL, NULL);
}

START_TEST(test_stochastic_round_and_below)
{
  BORng rng;
  BORngInit(&rng, 3, BO_RNG_TEST, 0, 0);
  ck_assert(round_ok(BORngStochasticRound, &rng, 2.3, 100000));
  ck_assert_int_eq(BORngStochasticRound(&rng, 4.0), 4);
  double p = below_pvalue(BORngBelow, &rng, 7, 70000);
  ck_assert_msg(p > ALPHA, "BORngBelow(7): p = %g", p);
}
END_TEST

/* Wrong samplers for the companions: a rounding up 2% too often, and a
 * below(n) stuck at 0 for one draw in 50. */
static int64_t biased_round(BORng *rng, double x)
{
  double f = floor(x);
  return (int64_t)f + (BORngUniform(rng) < x - f + 0.02);
}
static uint32_t sticky_below(BORng *rng, uint32_t n) { return BORngUniform(rng) < 0.02 ? 0 : BORngBelow(rng, n); }

START_TEST(test_round_and_below_have_power)
{
  /* the tests above can fail: a mean 0.02 too high is 14 sd of the mean;
   * 2% of the draws at 0 is a noncentrality of about 170 on 6 degrees of
   * freedom */
  BORng rng;
  BORngInit(&rng, 4, BO_RNG_TEST, 0, 0);
  ck_assert_msg(!round_ok(biased_round, &rng, 2.3, 100000), "a rounding biased by 0.02 passed");
  double p = below_pvalue(sticky_below, &rng, 7, 70000);
  ck_assert_msg(p < ALPHA, "below(7) stuck at 0 for 2%% of the draws passed: p = %g", p);
}
END_TEST

Suite *suite_rng(void)
{
  Suite *s  = suite_create("rng");
  TCase *tc = tcase_create("philox");
  tcase_add_test(tc, test_philox_known_answers);
  tcase_add_test(tc, test_streams_reproducible_and_distinct);
  tcase_add_test(tc, test_streams_uncorrelated);
  tcase_add_test(tc, test_uniform_and_normal);
  tcase_add_test(tc, test_uniform_and_normal_have_power);
  tcase_add_test(tc, test_normal_pair);
  suite_add_tcase(s, tc);
  tc = tcase_create("discrete");
  tcase_add_test(tc, test_binomial_exact);
  tcase_add_test(tc, test_binomial_test_has_power);
  tcase_add_test(tc, test_poisson_exact);
  tcase_add_test(tc, test_stochastic_round_and_below);
  tcase_add_test(tc, test_round_and_below_have_power);
  suite_add_tcase(s, tc);
  return s;
}
