/* The few-step reverse steps against an exact joint oracle: a predictor that
 * samples the remaining counts from their exact posterior makes the bridge
 * exact at any number of steps, with or without a known total; a predictor
 * of the posterior mean is not (the tests can fail). And the totals: every
 * member ends with exactly its total, caps and observed cells included. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "blackout.h"
#include "testutil.h"

#define ALPHA 1e-3 /* see tests/test_rng.c */

/* The data: members are one of NA atoms over D cells (correlated cells, and
 * three atoms with the same total 5). */
#define D  3
#define NA 6
static const double atoms[NA][D] = {{0, 0, 0}, {4, 1, 0}, {1, 1, 3}, {0, 5, 0}, {2, 2, 2}, {0, 3, 5}};
static const double prior[NA]    = {0.15, 0.20, 0.15, 0.10, 0.20, 0.20};

typedef struct {
  BOProcess proc;
  double    total;  /* < 0: no condition; else only atoms of this total */
  int       sample; /* 1: a posterior sample of the remaining counts; 0: their posterior mean */
  uint64_t  seed;
  uint32_t  first; /* member index of the first state of a call */
} Oracle;

static double atom_total(int a) { return atoms[a][0] + atoms[a][1] + atoms[a][2]; }

/* log P(state | atom a) at survival p: independent binomials */
static double log_likelihood(int a, const float *state, double p)
{
  double l = 0;
  for (int i = 0; i < D; i++) {
    double A = atoms[a][i], n = state[i];
    if (n > A || (p >= 1 && n < A)) return -INFINITY;
    if (p < 1) l += lgamma(A + 1) - lgamma(n + 1) - lgamma(A - n + 1) + n * log(p) + (A - n) * log1p(-p);
  }
  return l;
}

/* The exact posterior over atoms given the state (and the total): a sample
 * (drawn with a stream keyed by the state's member and step) or the mean. */
static PetscErrorCode oracle_predict(void *ctx, PetscInt nm, PetscInt dim, const float *state, PetscInt k, float *out)
{
  Oracle *o = (Oracle *)ctx;
  double  p = o->proc->p[k];
  for (PetscInt b = 0; b < nm; b++) {
    const float *s = state + b * dim;
    double       w[NA], lmax = -INFINITY, sum = 0;
    for (int a = 0; a < NA; a++) {
      w[a] = o->total >= 0 && atom_total(a) != o->total ? -INFINITY : log(prior[a]) + log_likelihood(a, s, p);
      lmax = fmax(lmax, w[a]);
    }
    for (int a = 0; a < NA; a++) sum += (w[a] = isfinite(w[a]) ? exp(w[a] - lmax) : 0);
    if (o->sample) {
      BORng  rng;
      double u;
      int    a = 0;
      BORngInit(&rng, o->seed, BO_RNG_TEST, o->first + (uint32_t)b, (uint32_t)k);
      u = BORngUniform(&rng) * sum;
      for (; a < NA - 1 && (u -= w[a]) > 0; a++) {}
      for (int i = 0; i < D; i++) out[b * dim + i] = (float)(atoms[a][i] - s[i]);
    } else
      for (int i = 0; i < D; i++) {
        double m = 0;
        for (int a = 0; a < NA; a++) m += w[a] / sum * (atoms[a][i] - s[i]);
        out[b * dim + i] = (float)m;
      }
  }
  return 0;
}

static BOProcess make_process(void)
{
  BOProcess proc;
  BOTestOK(BOProcessCreate(PETSC_COMM_SELF, &proc));
  BOTestOK(BOProcessSetUp(proc));
  return proc;
}

/* M members in K steps; the p-value of their atoms against the law (the
 * prior, or the prior given the total), and *others the members that are
 * no atom (or of another total): impossible under the law, so they fail
 * the test outright. */
static double joint_pvalue(int sample, double total, PetscInt K, int M, uint64_t seed, int *others)
{
  Oracle    o = {make_process(), total, sample, seed, 0};
  float    *state;
  double    obs[NA] = {0}, law[NA], z = 0, outside = 0;
  double   *totals     = NULL;
  const int with_total = total >= 0;

  state = malloc(sizeof(float) * M * D);
  if (with_total) {
    totals = malloc(sizeof(double) * M);
    for (int b = 0; b < M; b++) totals[b] = total;
  }
  BOTestOK(BOProcessGenerate(o.proc, BO_REVERSE_BRIDGE, K, 0.0, oracle_predict, sample ? PETSC_TRUE : PETSC_FALSE, &o,
                             seed, 0, M, D, NULL, NULL, totals, state));
  for (int b = 0; b < M; b++) {
    int hit = -1;
    for (int a = 0; a < NA && hit < 0; a++)
      if (state[b * D] == atoms[a][0] && state[b * D + 1] == atoms[a][1] && state[b * D + 2] == atoms[a][2]) hit = a;
    if (hit < 0) outside++;
    else obs[hit]++;
  }
  for (int a = 0; a < NA; a++) z += (law[a] = with_total && atom_total(a) != total ? 0 : prior[a]);
  for (int a = 0; a < NA; a++) law[a] /= z;
  *others = (int)outside;
  for (int a = 0; a < NA; a++) *others += law[a] == 0 ? (int)obs[a] : 0;
  /* the law covers the atoms: a member that is no atom (the tail) or an atom
   * of another total (probability 0) fails the test at once */
  double pv = BOChiSquareTest(NA, obs, law, outside, NULL, NULL);
  free(state);
  free(totals);
  BOProcessDestroy(&o.proc);
  return pv;
}

/* One step of the exact reverse process maps the law of n_t to the law of
 * n_s. States are drawn from the exact law at t (an atom of the data
 * thinned with p_t; with a total: an atom of that total), one step to s is
 * taken, and the states are tested against the exact law at s over all
 * (n_1, n_2, n_3) with n_i <= 5. This tests every step on its own: an exact
 * posterior sample at the last step would hide a wrong earlier step in a
 * test of the final members alone. */
#define NS 216 /* states 0..5 per cell */
/* The index of a state in 0..NS-1, or -1 if it has a cell outside 0..5. */
static int state_index(const float *s)
{
  for (int i = 0; i < D; i++)
    if (!(s[i] >= 0 && s[i] <= 5 && s[i] == floorf(s[i]))) return -1;
  return (int)(s[0] + 6 * s[1] + 36 * s[2]);
}

static double step_pvalue(int sample, double total, PetscInt kt, PetscInt ks, int M, uint64_t seed)
{
  Oracle o       = {make_process(), total, sample, seed, 0};
  double obs[NS] = {0}, law[NS] = {0}, z = 0, outside = 0, work[3 * D];
  float  out[D];
  BORng  rng;
  double pt = o.proc->p[kt], ps = ks >= 0 ? o.proc->p[ks] : 1.0, r;

  r = BOBridgeProbability(ks >= 0 ? o.proc->t[ks] : 0.0, o.proc->t[kt]);
  BORngInit(&rng, seed, BO_RNG_TEST, 1, 2);
  for (int a = 0; a < NA; a++) z += total < 0 || atom_total(a) == total ? prior[a] : 0;
  for (int b = 0; b < M; b++) {
    float  state[D];
    double u = BORngUniform(&rng) * z;
    int    a = 0;
    for (;; a++)
      if ((total < 0 || atom_total(a) == total) && (u -= prior[a]) <= 0) break;
    for (int i = 0; i < D; i++) state[i] = (float)BORngBinomial(&rng, (int64_t)atoms[a][i], pt);
    o.first = (uint32_t)b;
    oracle_predict(&o, 1, D, state, kt, out);
    if (total < 0) BOReverseStep(BO_REVERSE_BRIDGE, r, 0.0, seed, (uint32_t)b, (uint32_t)kt, D, out, NULL, NULL, state);
    else BOReverseStepTotal(r, 0.0, sample, seed, (uint32_t)b, (uint32_t)kt, D, out, total, NULL, NULL, state, work);
    int x = state_index(state);
    if (x >= 0) obs[x]++;
    else outside++; /* impossible: the law lies on 0..5 per cell */
  }
  /* the exact law at s: atoms thinned with p_s */
  for (int a = 0; a < NA; a++) {
    if (total >= 0 && atom_total(a) != total) continue;
    for (int x = 0; x < NS; x++) {
      float  st[D] = {(float)(x % 6), (float)(x / 6 % 6), (float)(x / 36)};
      double l     = log_likelihood(a, st, ps);
      if (isfinite(l)) law[x] += prior[a] / z * exp(l);
    }
  }
  BOProcessDestroy(&o.proc);
  return BOChiSquareTest(NS, obs, law, outside, NULL, NULL);
}

START_TEST(test_sampled_step_exact)
{
  /* steps of the 5-step grid (t_999 -> t_652 -> ... -> 0) and a short one */
  PetscInt  idx[5];
  BOProcess proc = make_process();
  BOTestOK(BOProcessSamplingGrid(proc, 5, idx));
  BOProcessDestroy(&proc);
  for (int j = 0; j < 5; j++) {
    PetscInt ks = j + 1 < 5 ? idx[j + 1] : -1;
    double   pv = step_pvalue(1, -1, idx[j], ks, 20000, 50 + j);
    ck_assert_msg(pv > ALPHA, "sampled step %d -> %d vs the exact law at s: p = %g", (int)idx[j], (int)ks, pv);
    pv = step_pvalue(1, 5, idx[j], ks, 20000, 60 + j);
    ck_assert_msg(pv > ALPHA, "sampled step with total 5, %d -> %d: p = %g", (int)idx[j], (int)ks, pv);
  }
  ck_assert(step_pvalue(1, -1, 600, 500, 20000, 70) > ALPHA);
  /* the same test catches the posterior mean at a coarse step */
  ck_assert_msg(step_pvalue(0, -1, idx[1], idx[2], 20000, 71) < ALPHA, "mean-only step passed the exact-step test");
  ck_assert_msg(step_pvalue(0, 5, idx[1], idx[2], 20000, 72) < ALPHA,
                "mean-only total step passed the exact-step test");
}
END_TEST

START_TEST(test_sampled_bridge_exact_at_few_steps)
{
  /* a posterior sample makes every step the exact mixture: the joint law
   * (correlated cells) at K = 1, 2, 5, 20 */
  const PetscInt Ks[] = {1, 2, 5, 20};
  for (int i = 0; i < 4; i++) {
    int    others;
    double pv = joint_pvalue(1, -1, Ks[i], 20000, 10 + i, &others);
    ck_assert_msg(others == 0, "K = %d: %d members are no atom of the data", (int)Ks[i], others);
    ck_assert_msg(pv > ALPHA, "K = %d: sampled bridge vs the joint law, p = %g", (int)Ks[i], pv);
  }
  /* the same test catches the mean-only bridge at few steps */
  int    others;
  double pv = joint_pvalue(0, -1, 5, 20000, 20, &others);
  ck_assert_msg(pv < ALPHA, "the mean-only bridge at K = 5 passed the joint test (p = %g)", pv);
}
END_TEST

START_TEST(test_total_conditional_law)
{
  /* a known total (5: three atoms of the data) with the posterior given the
   * total: the members follow the conditional law, each with total 5 */
  for (PetscInt K = 1; K <= 5; K += 4) {
    int    others;
    double pv = joint_pvalue(1, 5, K, 20000, 30 + K, &others);
    ck_assert_msg(others == 0, "K = %d: %d members are not atoms of total 5", (int)K, others);
    ck_assert_msg(pv > ALPHA, "K = %d: members given the total vs the conditional law, p = %g", (int)K, pv);
  }
  /* with the posterior mean the totals still hold exactly, but the law is not
   * the conditional one */
  int    others;
  double pv = joint_pvalue(0, 5, 5, 20000, 40, &others);
  ck_assert_msg(pv < ALPHA, "the mean-only total step at K = 5 passed (p = %g)", pv);
}
END_TEST

static PetscErrorCode constant_predict(void *ctx, PetscInt nm, PetscInt dim, const float *state, PetscInt k, float *out)
{
  (void)state, (void)k;
  for (PetscInt i = 0; i < nm * dim; i++) out[i] = ((const float *)ctx)[i % dim];
  return 0;
}

START_TEST(test_totals_exact)
{
  BOProcess proc = make_process();
  const int M = 50, G = 8;
  float     rate[8] = {3, 0.5f, 0, 7, 1, 2, 0.1f, 4}, *state, value[8] = {0, 2, 0, 0, 0, 0, 0, 0},
        mask[8] = {0, 1, 0, 0, 0, 0, 0, 0};
  double totals[50];

  state = malloc(sizeof(float) * M * G);
  for (int b = 0; b < M; b++) totals[b] = 5 * b; /* including 0 and totals far above the rates' sum */
  /* with the empty-cell hurdle too: a step whose open cells have no weight still ends on the total */
  for (int step = 0; step < 4; step++) {
    const int sampled  = step % 2;
    proc->empty_hurdle = step < 2 ? 0.0 : 0.9;
    for (PetscInt K = 1; K <= 30; K += 29) {
      BOTestOK(BOProcessGenerate(proc, BO_REVERSE_BRIDGE, K, 0.0, constant_predict, (PetscBool)sampled, rate, 3, 0, M,
                                 G, NULL, NULL, totals, state));
      for (int b = 0; b < M; b++) {
        double sum = 0;
        for (int i = 0; i < G; i++) sum += state[b * G + i], ck_assert(state[b * G + i] == floorf(state[b * G + i]));
        ck_assert_msg(sum == totals[b], "sampled %d, K %d: member %d has %g, not %g", sampled, (int)K, b, sum,
                      totals[b]);
      }
      /* a cap that leaves room: every cell at most 30, the totals still exact (up to 8 x 30) */
      BOTestOK(BOProcessGenerate(proc, BO_REVERSE_BRIDGE, K, 30.0, constant_predict, (PetscBool)sampled, rate, 4, 0, M,
                                 G, NULL, NULL, totals, state));
      for (int b = 0; b < M; b++) {
        double sum = 0;
        for (int i = 0; i < G; i++) sum += state[b * G + i], ck_assert(state[b * G + i] <= 30.0f);
        ck_assert_msg(sum == PetscMin(totals[b], 240.0), "capped, sampled %d: member %d has %g", sampled, b, sum);
      }
      /* an observed cell reaches its value and counts in the total */
      BOTestOK(BOProcessGenerate(proc, BO_REVERSE_BRIDGE, K, 0.0, constant_predict, (PetscBool)sampled, rate, 5, 0, M,
                                 G, value, mask, totals, state));
      for (int b = 1; b < M; b++) {
        double sum = 0;
        for (int i = 0; i < G; i++) sum += state[b * G + i];
        ck_assert_float_eq(state[b * G + 1], 2.0f);
        ck_assert_msg(sum == totals[b], "observed, sampled %d: member %d has %g, not %g", sampled, b, sum, totals[b]);
      }
    }
  }
  free(state);
  BOProcessDestroy(&proc);
}
END_TEST

/* A mean network's allocation with a cap: the last step (r = 1) from cells
 * one, two and three units short of the cap and three far from it, with the
 * missing units' means as weights (their sum is R, so they are the shares).
 * Every cell must get its share on average: the plain capped multinomial
 * gives the cell one unit short 1 - e^{-0.6} = 0.45 instead of 0.6. The
 * tolerance is 4 standard errors of each mean. */
START_TEST(test_cap_not_starved)
{
  enum { G = 6, M = 20000 };
  const float start[G] = {15, 14, 13, 0, 0, 0}, share[G] = {0.6f, 1.5f, 2.5f, 1.4f, 2.0f, 1.0f};
  double      sum[G] = {0}, sum2[G] = {0}, work[3 * G], total = 0;

  for (int i = 0; i < G; i++) total += start[i] + share[i]; /* 42 + R = 9 */
  for (int b = 0; b < M; b++) {
    float state[G];
    for (int i = 0; i < G; i++) state[i] = start[i];
    BOReverseStepTotal(1.0, 16.0, 0, 11, (uint32_t)b, 0, G, share, total, NULL, NULL, state, work);
    for (int i = 0; i < G; i++) {
      double m = state[i] - start[i];
      ck_assert(state[i] <= 16.0f);
      sum[i] += m, sum2[i] += m * m;
    }
  }
  for (int i = 0; i < G; i++) {
    double mean = sum[i] / M, se = sqrt(PetscMax(sum2[i] / M - mean * mean, 1e-12) / M);
    ck_assert_msg(fabs(mean - share[i]) < 4.0 * se, "cell %d (room %g): mean %.4f, share %.2f (se %.4f)", i,
                  16.0 - start[i], mean, (double)share[i], se);
  }
}
END_TEST

/* The empty-cell hurdle (BOReverseEmptyHurdle): an empty cell with mean w is
 * open with probability 1 - q r and then predicts w / (1 - q r), else 0, so
 * its mean stays w; occupied, observed and zero cells are never touched;
 * q = 0 changes nothing; the draws are the member's and the step's alone.
 * Tolerances: 4 standard errors of the fraction closed and of the mean. */
START_TEST(test_empty_hurdle)
{
  enum { G = 4, M = 40000 };
  const double q = 0.7, r = 0.5, pi = 1.0 - q * r;
  const float  state[G] = {0, 3, 0, 0}, mask[G] = {0, 0, 1, 0}, w[G] = {0.8f, 0.8f, 0.8f, 0.0f};
  double       closed = 0, sum = 0, sum2 = 0;

  for (int b = 0; b < M; b++) {
    float y[G], again[G];
    memcpy(y, w, sizeof(y));
    BOReverseEmptyHurdle(q, r, 5, (uint32_t)b, 7, G, state, mask, y);
    ck_assert(y[1] == w[1] && y[2] == w[2] && y[3] == 0.0f); /* occupied, observed, zero */
    ck_assert(y[0] == 0.0f || fabs(y[0] - w[0] / pi) < 1e-6);
    closed += y[0] == 0.0f, sum += y[0], sum2 += (double)y[0] * y[0];
    memcpy(again, w, sizeof(again));
    BOReverseEmptyHurdle(q, r, 5, (uint32_t)b, 7, G, state, mask, again);
    ck_assert(again[0] == y[0]); /* the same member and step draw the same */
    memcpy(again, w, sizeof(again));
    BOReverseEmptyHurdle(0.0, r, 5, (uint32_t)b, 7, G, state, mask, again);
    ck_assert(memcmp(again, w, sizeof(again)) == 0); /* q = 0: off */
  }
  {
    double f = closed / M, fse = sqrt(q * r * (1 - q * r) / M), mean = sum / M;
    double se = sqrt((sum2 / M - mean * mean) / M);
    ck_assert_msg(fabs(f - q * r) < 4 * fse, "closed %.4f of the time, want %.4f (se %.4f)", f, q * r, fse);
    ck_assert_msg(fabs(mean - w[0]) < 4 * se, "mean %.4f, want %.4f (se %.4f)", mean, (double)w[0], se);
  }
}
END_TEST

/* The energy loss (BOEnergyLoss): gradient against central differences (in
 * double, on the float inputs), and the scoring rule's point: samples from
 * the right law score better than samples collapsed to the mean or spread
 * too wide. */
START_TEST(test_energy_loss_gradient)
{
  enum { M = 3, G = 5 };
  float  x[M * G], y[G] = {0, 2, 5, 1, 0}, dx[M * G], work[M * G];
  double w = 0.7, lambda = 0.8, scale = 0.3;
  for (int i = 0; i < M * G; i++) x[i] = (float)(0.9 * sin(1.7 * i + 0.3) + (i % 4 == 0 ? -3.0 : 1.5));
  BOEnergyLoss(M, G, x, y, w, lambda, scale, dx, work);
  for (int i = 0; i < M * G; i++) {
    float  xp[M * G], xm[M * G];
    double h = 1e-2;
    memcpy(xp, x, sizeof(x)), memcpy(xm, x, sizeof(x));
    xp[i] += (float)h, xm[i] -= (float)h;
    double fd = (BOEnergyLoss(M, G, xp, y, w, lambda, scale, NULL, work) -
                 BOEnergyLoss(M, G, xm, y, w, lambda, scale, NULL, work)) /
                ((double)xp[i] - xm[i]) * scale;
    ck_assert_msg(fabs(fd - dx[i]) <= 2e-3 * (fabs(fd) + 1e-2), "dx[%d] = %g, central difference %g", i, dx[i], fd);
  }
  /* without the Poisson term the loss is w dim ES, and identical samples
   * equal to y score zero */
  float xs[2 * G];
  for (int i = 0; i < 2 * G; i++) xs[i] = (float)log(expm1(y[i % G] > 0 ? y[i % G] : 1e-30));
  ck_assert(fabs(BOEnergyLoss(2, G, xs, y, 1.0, 0.0, 1.0, NULL, work)) < 1e-4);
}
END_TEST

START_TEST(test_energy_score_is_proper)
{
  /* y ~ Poisson(4) in each of G cells; three samplers of M = 8: the law
   * itself, its mean (collapsed), and twice its spread. Over many y, the
   * law's average score is the smallest. */
  enum { M = 8, G = 16, R = 3000 };
  float  x[M * G], y[G], work[M * G];
  double sum[3] = {0, 0, 0};
  BORng  rng;
  BORngInit(&rng, 5, BO_RNG_TEST, 0, 0);
  for (int r = 0; r < R; r++) {
    for (int i = 0; i < G; i++) y[i] = (float)BORngPoisson(&rng, 4.0);
    for (int kind = 0; kind < 3; kind++) {
      for (int j = 0; j < M * G; j++) {
        double v = kind == 0   ? (double)BORngPoisson(&rng, 4.0)
                   : kind == 1 ? 4.0
                               : 4.0 + 2.0 * ((double)BORngPoisson(&rng, 4.0) - 4.0);
        v        = v > 1e-3 ? v : 1e-3;
        x[j]     = (float)(v > 30 ? v : log(expm1(v)));
      }
      sum[kind] += BOEnergyLoss(M, G, x, y, 1.0, 0.0, 1.0, NULL, work);
    }
  }
  ck_assert_msg(sum[0] < sum[1] && sum[0] < sum[2], "energy score: law %g, collapsed %g, too wide %g", sum[0] / R,
                sum[1] / R, sum[2] / R);
}
END_TEST

Suite *suite_reverse(void)
{
  Suite *s  = suite_create("reverse");
  TCase *tc = tcase_create("reverse");
  tcase_add_test(tc, test_sampled_step_exact);
  tcase_add_test(tc, test_sampled_bridge_exact_at_few_steps);
  tcase_add_test(tc, test_total_conditional_law);
  tcase_add_test(tc, test_totals_exact);
  tcase_add_test(tc, test_cap_not_starved);
  tcase_add_test(tc, test_empty_hurdle);
  tcase_add_test(tc, test_energy_loss_gradient);
  tcase_add_test(tc, test_energy_score_is_proper);
  suite_add_tcase(s, tc);
  return s;
}
