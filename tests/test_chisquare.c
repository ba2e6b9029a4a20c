/* The chi-square helper itself (BOChiSquareTest, tests/testutil.c): an
 * impossible outcome, a draw outside the window, or an atom moved where the
 * law has no mass fails it; a correct sampler passes. */
#include <math.h>
#include "blackout.h"
#include "testutil.h"

#define ALPHA 1e-3 /* see tests/test_rng.c */
#define N     100000

/* pmf of Binomial(n, p) at k, including p = 0 and 1 */
static double binomial_pmf(int n, double p, int k)
{
  if (p == 0.0) return k == 0;
  if (p == 1.0) return k == n;
  return exp(lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) + k * log(p) + (n - k) * log1p(-p));
}

static double poisson_pmf(double lambda, int k)
{
  if (lambda == 0.0) return k == 0;
  return exp(-lambda + k * log(lambda) - lgamma(k + 1.0));
}

START_TEST(test_point_mass_is_exact)
{
  /* Binomial(10, 1) on 0..10: all mass at 10. A sampler that always returns
   * 9, or returns 9 once, is rejected; one that returns 10 passes. */
  double prob[11], obs[11] = {0};
  for (int k = 0; k <= 10; k++) prob[k] = binomial_pmf(10, 1.0, k);
  obs[9] = N;
  ck_assert_double_eq(BOChiSquareTest(11, obs, prob, 0, NULL, NULL), 0.0);
  obs[9] = 1, obs[10] = N - 1;
  ck_assert_double_eq(BOChiSquareTest(11, obs, prob, 0, NULL, NULL), 0.0);
  obs[9] = 0, obs[10] = N;
  ck_assert_double_eq(BOChiSquareTest(11, obs, prob, 0, NULL, NULL), 1.0);

  /* Poisson(0) on 0..5: a single 1 among the zeros is rejected */
  double pprob[6], pobs[6] = {N - 1, 1, 0, 0, 0, 0};
  for (int k = 0; k < 6; k++) pprob[k] = poisson_pmf(0.0, k);
  ck_assert_double_eq(BOChiSquareTest(6, pobs, pprob, 0, NULL, NULL), 0.0);
  pobs[0] = N, pobs[1] = 0;
  ck_assert_double_eq(BOChiSquareTest(6, pobs, pprob, 0, NULL, NULL), 1.0);
}
END_TEST

START_TEST(test_nearly_a_point_mass)
{
  /* Poisson(1e-6) and Binomial(2000, 1e-9): almost all mass at 0, so a
   * sampler that always returns 1 leaves a single group of the chi-square;
   * the exact test of the short group (1, 2, ...) must reject it. */
  double prob[7], obs[7] = {0, N, 0, 0, 0, 0, 0};
  for (int k = 0; k < 7; k++) prob[k] = poisson_pmf(1e-6, k);
  ck_assert_double_lt(BOChiSquareTest(7, obs, prob, 0, NULL, NULL), ALPHA);
  for (int k = 0; k < 3; k++) prob[k] = binomial_pmf(2000, 1e-9, k);
  ck_assert_double_lt(BOChiSquareTest(3, obs, prob, 0, NULL, NULL), ALPHA);
  /* ... while a few ones are what the law gives (N p = 0.1 and 0.2) */
  obs[0] = N - 1, obs[1] = 1;
  ck_assert_double_gt(BOChiSquareTest(3, obs, prob, 0, NULL, NULL), ALPHA);
}
END_TEST

/* N draws of Binomial(n, p) (n <= 1000) on the window lo..hi; returns the
 * number of draws outside it. */
static double binomial_histogram(int n, double p, int lo, int hi, uint32_t key, double *obs)
{
  BORng  rng;
  double outside = 0;
  BORngInit(&rng, 31, BO_RNG_TEST, key, 0);
  for (int k = lo; k <= hi; k++) obs[k - lo] = 0;
  for (int i = 0; i < N; i++) {
    int64_t k = BORngBinomial(&rng, n, p);
    if (k >= lo && k <= hi) obs[k - lo]++;
    else outside++;
  }
  return outside;
}

START_TEST(test_correct_sampler_passes)
{
  /* Binomial(20, 0.3) on its whole support, and Binomial(1000, 0.3) on the
   * window mean +- 10 sd (the tail holds 1e-23 of the mass) */
  double obs[301], prob[301], outside;
  for (int k = 0; k <= 20; k++) prob[k] = binomial_pmf(20, 0.3, k);
  outside = binomial_histogram(20, 0.3, 0, 20, 1, obs);
  ck_assert_double_eq(outside, 0);
  ck_assert_double_gt(BOChiSquareTest(21, obs, prob, outside, NULL, NULL), ALPHA);
  for (int k = 155; k <= 445; k++) prob[k - 155] = binomial_pmf(1000, 0.3, k);
  outside = binomial_histogram(1000, 0.3, 155, 445, 2, obs);
  ck_assert_double_gt(BOChiSquareTest(291, obs, prob, outside, NULL, NULL), ALPHA);

  /* Poisson(1e-6): the draws are almost all 0 */
  double pobs[7] = {0}, pprob[7];
  BORng  rng;
  outside = 0;
  BORngInit(&rng, 31, BO_RNG_TEST, 3, 0);
  for (int i = 0; i < N; i++) {
    int64_t k = BORngPoisson(&rng, 1e-6);
    if (k < 7) pobs[k]++;
    else outside++;
  }
  for (int k = 0; k < 7; k++) pprob[k] = poisson_pmf(1e-6, k);
  ck_assert_double_gt(BOChiSquareTest(7, pobs, pprob, outside, NULL, NULL), ALPHA);
}
END_TEST

START_TEST(test_draw_outside_the_window)
{
  /* the window 0..20 covers Binomial(20, 0.3): a draw outside it is impossible */
  double obs[301], prob[301], outside;
  for (int k = 0; k <= 20; k++) prob[k] = binomial_pmf(20, 0.3, k);
  outside = binomial_histogram(20, 0.3, 0, 20, 1, obs);
  ck_assert_double_eq(BOChiSquareTest(21, obs, prob, outside + 1, NULL, NULL), 0.0);
  /* mean +- 10 sd of Binomial(1000, 0.3) leaves 1e-23 outside: one draw
   * there is counted, and rejected */
  for (int k = 155; k <= 445; k++) prob[k - 155] = binomial_pmf(1000, 0.3, k);
  outside = binomial_histogram(1000, 0.3, 155, 445, 2, obs);
  ck_assert_double_lt(BOChiSquareTest(291, obs, prob, outside + 1, NULL, NULL), ALPHA);
}
END_TEST

START_TEST(test_moved_atom)
{
  /* A law of atoms at 0 and 5 (1/2 each), on 0..10: bins 1..4 expect
   * nothing. Moving the atom at 5 to 3 (to a bin the old pooling merged with
   * 5) is rejected; the right atoms pass. */
  double prob[11] = {0.5, 0, 0, 0, 0, 0.5}, obs[11] = {0};
  obs[0] = N / 2, obs[3] = N / 2;
  ck_assert_double_eq(BOChiSquareTest(11, obs, prob, 0, NULL, NULL), 0.0);
  obs[3] = 0, obs[5] = N / 2;
  ck_assert_double_gt(BOChiSquareTest(11, obs, prob, 0, NULL, NULL), ALPHA);

  /* A light atom next to a heavy one: 0 expects 4 of 20000 draws, 20 the
   * rest. Pooling 0 with 20 hid where the draws fell; now the short group
   * {0} has an exact test, so the heavy atom moved to 0 is rejected... */
  double lprob[21] = {0.0002}, lobs[21] = {0};
  lprob[20] = 0.9998;
  lobs[0]   = 20000;
  ck_assert_double_lt(BOChiSquareTest(21, lobs, lprob, 0, NULL, NULL), ALPHA);
  /* ... and the law's own counts pass */
  lobs[0] = 4, lobs[20] = 19996;
  ck_assert_double_gt(BOChiSquareTest(21, lobs, lprob, 0, NULL, NULL), ALPHA);
}
END_TEST

Suite *suite_chisquare(void)
{
  Suite *s  = suite_create("chisquare");
  TCase *tc = tcase_create("helper");
  tcase_add_test(tc, test_point_mass_is_exact);
  tcase_add_test(tc, test_nearly_a_point_mass);
  tcase_add_test(tc, test_correct_sampler_passes);
  tcase_add_test(tc, test_draw_outside_the_window);
  tcase_add_test(tc, test_moved_atom);
  suite_add_tcase(s, tc);
  return s;
}
