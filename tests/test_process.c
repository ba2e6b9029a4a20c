/* BOProcess: schedule, weights, bridge, loss, grid, and the reverse samplers
 * driven by an exact oracle. */
#include <math.h>
#include <stdlib.h>
#include "blackout.h"
#include "testutil.h"

#define ALPHA 1e-3 /* see tests/test_rng.c */

static BOProcess make_process(PetscInt T, double tEnd, BOWeightType w)
{
  BOProcess proc;
  ck_assert_int_eq(BOProcessCreate(PETSC_COMM_SELF, &proc), 0);
  proc->T            = T;
  proc->tEnd         = tEnd;
  proc->weight_type  = w;
  proc->weight_floor = 0.0; /* the reference's weights */
  ck_assert_int_eq(BOProcessSetUp(proc), 0);
  return proc;
}

START_TEST(test_schedule_closed_form)
{
  BOProcess proc = make_process(1000, 15.0, BO_WEIGHT_INSTANTANEOUS);
  const int T    = 1000;
  /* end points: p_0 = 1 - e^{-15}, t_{T-1} = tEnd exactly */
  ck_assert_double_eq_tol(proc->p[0], 1.0 - exp(-15.0), 1e-15);
  ck_assert_double_eq_tol(proc->t[T - 1], 15.0, 1e-12);
  ck_assert_double_eq_tol(proc->p[T - 1], exp(-15.0), 1e-20);
  for (int k = 0; k < T; k++) {
    ck_assert_double_eq_tol(proc->p[k] + proc->p[T - 1 - k], 1.0, 1e-14); /* symmetry */
    ck_assert_double_eq_tol(proc->p[k], exp(-proc->t[k]), 1e-14 * proc->p[k] + 1e-300);
    if (k) ck_assert(proc->t[k] > proc->t[k - 1]);
  }
  /* values of the reference schedule (docs/ALGORITHM.md, "Schedule") */
  ck_assert_double_eq_tol(proc->t[0], 3.059e-7, 0.001e-7);
  ck_assert_double_eq_tol(proc->t[1], 3.152e-7, 0.001e-7);
  ck_assert_double_eq_tol(proc->t[499], 0.68567, 1e-5);
  ck_assert_double_eq_tol(proc->t[500], 0.70068, 1e-5);
  ck_assert_double_eq_tol(proc->t[750], 7.523, 1e-3);
  ck_assert_double_eq_tol(proc->t[900], 12.027, 1e-3);
  /* instantaneous weights: w_0 = 3.06e-4, w_1 = 9.3e-6, peak 7.45 near k = 500, sum 992.5 */
  double sum = 0, peak = 0;
  int    kpeak = 0;
  for (int k = 0; k < T; k++) {
    sum += proc->w[k];
    if (proc->w[k] > peak) peak = proc->w[k], kpeak = k;
  }
  ck_assert_double_eq_tol(proc->w[0], 3.06e-4, 0.01e-4);
  ck_assert_double_eq_tol(proc->w[1], 9.3e-6, 0.1e-6);
  ck_assert_double_eq_tol(peak, 7.45, 0.01);
  ck_assert_int_le(abs(kpeak - 500), 2);
  ck_assert_double_eq_tol(sum, 992.5, 0.1);
  BOProcessDestroy(&proc);

  /* finite-time weights: exact integrals, summing to 1 - e^{-tEnd} */
  proc = make_process(1000, 15.0, BO_WEIGHT_FINITE_TIME);
  sum  = 0;
  for (int k = 0; k < T; k++) sum += proc->w[k];
  ck_assert_double_eq_tol(sum, 1.0 - exp(-15.0), 1e-12);
  ck_assert_double_eq_tol(proc->w[0], 3.06e-7, 0.01e-7);
  BOProcessDestroy(&proc);

  /* ELBO weights: T times the exact integral of the hazard e^{-t}/(1 - e^{-t})
   * over (t_{k-1}, t_k], i.e. T (log(1 - p_k) - log(1 - p_{k-1})); flat at the
   * data end (T times the grid step in g, 2 L / (T - 1) with L ~ t_end), where
   * the reference's e^{-t} weights vanish */
  proc = make_process(1000, 15.0, BO_WEIGHT_ELBO);
  for (int k = 1; k < T; k++) {
    const double exact = T * (log(-expm1(-proc->t[k])) - log(-expm1(-proc->t[k - 1])));
    ck_assert_double_eq_tol(proc->w[k], exact, 1e-9 * exact + 1e-10); /* both: differences of logs ~ 15 */
  }
  ck_assert_double_eq_tol(proc->w[0], T * 2 * 15.0 / (T - 1), 1e-4); /* as long in g as the others */
  ck_assert_double_eq_tol(proc->w[1], proc->w[0], 1e-4);
  ck_assert_double_eq_tol(proc->w[500], 0.5 * proc->w[0], 0.01); /* p = 1/2: half */
  ck_assert(proc->w[T - 1] < 1e-5);                              /* the noise end: p e^{-15} */
  BOProcessDestroy(&proc);

  /* another horizon and size: MNIST's tEnd = 10 */
  proc = make_process(37, 10.0, BO_WEIGHT_INSTANTANEOUS);
  ck_assert_double_eq_tol(proc->t[36], 10.0, 1e-12);
  ck_assert_double_eq_tol(proc->p[0] + proc->p[36], 1.0, 1e-14);
  BOProcessDestroy(&proc);
}
END_TEST

START_TEST(test_weight_floor)
{
  BOProcess proc;
  double    wmax = 0;
  BOTestOK(BOProcessCreate(PETSC_COMM_SELF, &proc));
  ck_assert_double_eq(proc->weight_floor, 0.01); /* the default */
  BOTestOK(BOProcessSetUp(proc));
  for (int k = 0; k < 1000; k++) wmax = fmax(wmax, proc->w[k]);
  ck_assert_double_eq_tol(wmax, 7.45, 0.01); /* the peak is unchanged */
  for (int k = 0; k < 1000; k++) ck_assert(proc->w[k] >= 0.01 * wmax * (1 - 1e-12));
  ck_assert_double_eq_tol(proc->w[999], 0.01 * wmax, 1e-12); /* the tail is raised */
  ck_assert_double_eq_tol(proc->w[500], wmax, 0.01);
  proc->weight_floor = 1.5;
  ck_assert_int_ne(BOTestExpectError(BOProcessSetUp(proc)), 0);
  BOProcessDestroy(&proc);
}
END_TEST

START_TEST(test_schedule_bad_options)
{
  BOProcess proc;
  BOTestOK(BOProcessCreate(PETSC_COMM_SELF, &proc));
  proc->T = 1;
  ck_assert_int_ne(BOTestExpectError(BOProcessSetUp(proc)), 0);
  proc->T    = 10;
  proc->tEnd = -1;
  ck_assert_int_ne(BOTestExpectError(BOProcessSetUp(proc)), 0);
  BOProcessDestroy(&proc);
}
END_TEST

START_TEST(test_bridge_probability)
{
  /* direct formula where it is well conditioned */
  const double st[][2] = {{0.1, 0.5}, {1.0, 2.0}, {0.69, 0.70}, {5.0, 15.0}};
  for (int i = 0; i < 4; i++) {
    double s = st[i][0], t = st[i][1];
    ck_assert_double_eq_tol(BOBridgeProbability(s, t), (exp(-s) - exp(-t)) / (1 - exp(-t)), 1e-13);
  }
  ck_assert_double_eq(BOBridgeProbability(0.0, 3.0), 1.0);
  ck_assert_double_eq(BOBridgeProbability(2.0, 2.0), 0.0);
  /* tiny times: r = (t - s)/t to first order, where the direct formula cancels */
  double s = 3.059e-7, t = 3.152e-7;
  ck_assert_double_eq_tol(BOBridgeProbability(s, t), (t - s) / t, 1e-6 * (t - s) / t);
  /* composition: alive at s | dead at t, via u in between:
   * r(s,t) = r(u,t) r(s,u)  (alive at u given dead at t, then alive at s given dead at u)
   * + ... only the path through "dead at u" can be alive at s? No: alive at s and
   * dead at t means death in (s, t]; split at u:
   * P(alive s | dead t) = P(alive u | dead t) + P(dead u | dead t) P(alive s | dead u). */
  double u = 0.8, ss = 0.3, tt = 1.7;
  double lhs = BOBridgeProbability(ss, tt);
  double rhs = BOBridgeProbability(u, tt) + (1 - BOBridgeProbability(u, tt)) * BOBridgeProbability(ss, u);
  ck_assert_double_eq_tol(lhs, rhs, 1e-14);
}
END_TEST

/* S samples of 8 elements noised with `sampler`'s process, tested against
 * `law`'s (T <= 20): the p-value of the steps k against the uniform law on
 * 0..T-1 in *pk, and in *pn of element 6's counts (n0 = 40), pooled over the
 * samples, against the mixture sum_k Binomial(40, p_k) / T. */
static void noise_pvalues(BOProcess sampler, BOProcess law, int S, double *pk, double *pn)
{
  const int D = 8, T = (int)law->T;
  float     n0[8]     = {0, 1, 2, 5, 9, 16, 40, 255}, nt[8], y[8];
  double    khist[20] = {0}, prob[20], kout = 0, obs41[41] = {0}, mix41[41] = {0};

  for (int s = 0; s < S; s++) {
    PetscInt k = BOProcessNoiseSample(sampler, 99, (uint32_t)s, 7, D, n0, nt, y);
    if (k >= 0 && k < T) khist[k]++;
    else kout++;
    for (int i = 0; i < D; i++) {
      ck_assert(nt[i] >= 0 && nt[i] <= n0[i] && nt[i] == floorf(nt[i]));
      ck_assert_float_eq(nt[i] + y[i], n0[i]);
    }
    obs41[(int)nt[6]]++;
  }
  for (int k = 0; k < T; k++) prob[k] = 1.0 / T;
  *pk = BOChiSquareTest(T, khist, prob, kout, NULL, NULL);
  for (int k = 0; k < T; k++)
    for (int m = 0; m <= 40; m++)
      mix41[m] +=
          exp(lgamma(41) - lgamma(m + 1) - lgamma(41 - m) + m * log(law->p[k]) + (40 - m) * log1p(-law->p[k])) / T;
  *pn = BOChiSquareTest(41, obs41, mix41, 0, NULL, NULL);
}

START_TEST(test_forward_noise)
{
  /* n_t | k ~ Binomial(n0, p_k) per element, k uniform on 0..T-1, keyed by
   * (seed, sample, step): check all three. */
  BOProcess proc  = make_process(20, 3.0, BO_WEIGHT_INSTANTANEOUS);
  const int D     = 8;
  float     n0[8] = {0, 1, 2, 5, 9, 16, 40, 255}, nt[8], y[8], nt2[8], y2[8];
  double    pk, pn;

  noise_pvalues(proc, proc, 40000, &pk, &pn);
  ck_assert_msg(pk > ALPHA, "noise steps vs uniform on 0..T-1: p = %g", pk);
  ck_assert_msg(pn > ALPHA, "noised counts vs binomial mixture: p = %g", pn);

  /* same coordinates, same draw; another step, another draw */
  PetscInt k1 = BOProcessNoiseSample(proc, 99, 123, 7, D, n0, nt, y);
  PetscInt k2 = BOProcessNoiseSample(proc, 99, 123, 7, D, n0, nt2, y2);
  ck_assert_int_eq(k1, k2);
  for (int i = 0; i < D; i++) ck_assert_float_eq(nt[i], nt2[i]);
  int differ = 0;
  for (uint32_t step = 8; step < 18; step++) {
    PetscInt k3 = BOProcessNoiseSample(proc, 99, 123, step, D, n0, nt2, y2);
    differ += k3 != k1;
  }
  ck_assert_int_ge(differ, 5);
  BOProcessDestroy(&proc);
}
END_TEST

START_TEST(test_forward_noise_has_power)
{
  /* The tests above can fail: steps drawn from 0..T-2 (a process one step
   * short), and counts thinned on a horizon 3% too long (tEnd 3.1, not 3;
   * measured p = 5e-24, and 0.2 at 1%). */
  BOProcess law     = make_process(20, 3.0, BO_WEIGHT_INSTANTANEOUS),
            sampler = make_process(19, 3.0, BO_WEIGHT_INSTANTANEOUS);
  double pk, pn;
  noise_pvalues(sampler, law, 40000, &pk, &pn);
  ck_assert_msg(pk < ALPHA, "steps from 0..T-2 passed: p = %g", pk);
  BOProcessDestroy(&sampler);
  sampler = make_process(20, 3.1, BO_WEIGHT_INSTANTANEOUS);
  noise_pvalues(sampler, law, 40000, &pk, &pn);
  ck_assert_msg(pn < ALPHA, "counts thinned on a horizon 3%% too long passed: p = %g", pn);
  BOProcessDestroy(&sampler);
  BOProcessDestroy(&law);
}
END_TEST

/* Histogram of S training times drawn by `sampler`, against the law of the
 * times of `law` (uniform on 0..T-1, mixed with its focus). */
static double focus_pvalue(BOProcess sampler, BOProcess law, int S)
{
  const int T     = (int)law->T;
  float     n0[1] = {3}, nt[1], y[1];
  double   *hist, *prob, out = 0;

  hist = calloc((size_t)T, sizeof(double));
  prob = calloc((size_t)T, sizeof(double));
  for (int s = 0; s < S; s++) {
    PetscInt k = BOProcessNoiseSample(sampler, 5, (uint32_t)s, 3, 1, n0, nt, y);
    if (k >= 0 && k < T) hist[k]++;
    else out++;
  }
  for (int k = 0; k < T; k++) {
    int in  = k >= law->focus_first && k < law->focus_first + law->focus_count;
    prob[k] = (1 - law->focus_fraction) / T + (in ? law->focus_fraction / (double)law->focus_count : 0.0);
  }
  double pv = BOChiSquareTest(T, hist, prob, out, NULL, NULL);
  free(hist);
  free(prob);
  return pv;
}

static BOProcess make_focused(double lo, double hi, double f)
{
  BOProcess proc;
  BOTestOK(BOProcessCreate(PETSC_COMM_SELF, &proc));
  proc->focus[0] = lo, proc->focus[1] = hi, proc->focus_fraction = f;
  BOTestOK(BOProcessSetUp(proc));
  return proc;
}

START_TEST(test_train_time_focus)
{
  /* -train_time_focus 0.01,0.35 -train_time_focus_fraction 0.5: the focused
   * indices are exactly those with p in the range, and the times follow the
   * mixture law (40000 draws, about 20 per unfocused index). */
  BOProcess proc = make_focused(0.01, 0.35, 0.5);
  PetscInt  a = proc->focus_first, b = a + proc->focus_count - 1;
  ck_assert_int_gt(proc->focus_count, 10);
  ck_assert(proc->p[a] <= 0.35 && proc->p[a - 1] > 0.35);
  ck_assert(proc->p[b] >= 0.01 && proc->p[b + 1] < 0.01);
  double pv = focus_pvalue(proc, proc, 40000);
  ck_assert_msg(pv > ALPHA, "focused training times vs their law: p = %g", pv);

  /* Without a focus the stream is the one before the option existed: k is
   * the first draw, and nothing else is drawn before the counts. */
  BOProcess plain = make_focused(0.01, 0.35, 0.0);
  for (uint32_t s = 0; s < 200; s++) {
    BORng rng;
    float n0[1] = {3}, nt[1], y[1];
    BORngInit(&rng, 5, BO_RNG_TRAIN_NOISE, s, 3);
    PetscInt k = (PetscInt)BORngBelow(&rng, 1000);
    ck_assert_int_eq(BOProcessNoiseSample(plain, 5, s, 3, 1, n0, nt, y), k);
    ck_assert_float_eq(nt[0], (float)BORngBinomial(&rng, 3, plain->p[k]));
  }
  BOProcessDestroy(&plain);
  BOProcessDestroy(&proc);
}
END_TEST

START_TEST(test_train_time_focus_has_power)
{
  /* The check above can fail: draws without the focus, with half of it, or
   * focused on a range shifted to [0.02, 0.35], all fail against the law of
   * 0.01,0.35 at 0.5. */
  BOProcess law      = make_focused(0.01, 0.35, 0.5);
  BOProcess wrong[3] = {make_focused(0.01, 0.35, 0.0), make_focused(0.01, 0.35, 0.25), make_focused(0.02, 0.35, 0.5)};
  for (int i = 0; i < 3; i++) {
    double pv = focus_pvalue(wrong[i], law, 40000);
    ck_assert_msg(pv < ALPHA, "wrong training times %d passed: p = %g", i, pv);
    BOProcessDestroy(&wrong[i]);
  }
  BOProcessDestroy(&law);
}
END_TEST

START_TEST(test_train_time_focus_bad_options)
{
  BOProcess proc;
  BOTestOK(BOProcessCreate(PETSC_COMM_SELF, &proc));
  proc->focus_fraction = 1.5; /* not a fraction */
  ck_assert_int_ne(BOTestExpectError(BOProcessSetUp(proc)), 0);
  proc->focus_fraction = 0.5, proc->focus[0] = 0.4, proc->focus[1] = 0.3; /* empty range */
  ck_assert_int_ne(BOTestExpectError(BOProcessSetUp(proc)), 0);
  proc->focus[0] = -0.1, proc->focus[1] = 0.3; /* not a probability */
  ck_assert_int_ne(BOTestExpectError(BOProcessSetUp(proc)), 0);
  proc->T = 2, proc->focus[0] = 0.4, proc->focus[1] = 0.6; /* no index in range: p = 1 - 3e-7 and 3e-7 */
  ck_assert_int_ne(BOTestExpectError(BOProcessSetUp(proc)), 0);
  proc->focus_fraction = 0; /* without a focus the range is not used */
  BOTestOK(BOProcessSetUp(proc));
  BOProcessDestroy(&proc);
}
END_TEST

START_TEST(test_process_settings_round_trip)
{
  /* The training settings travel with the checkpoint (restart keeps them);
   * a file from before the focus loads without one. */
  char      path[PETSC_MAX_PATH_LEN];
  BOProcess a     = make_focused(0.02, 0.3, 0.4), b;
  hid_t     file  = H5Fcreate(BOTestPath("process.h5", path, sizeof(path)), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  a->weight_floor = 0.05;
  a->weight_type  = BO_WEIGHT_ELBO;
  BOTestOK(BOProcessSave(a, file));
  BOTestOK(BOProcessCreate(PETSC_COMM_SELF, &b));
  BOTestOK(BOProcessLoad(b, file));
  ck_assert_double_eq(b->focus[0], 0.02);
  ck_assert_double_eq(b->focus[1], 0.3);
  ck_assert_double_eq(b->focus_fraction, 0.4);
  ck_assert_double_eq(b->weight_floor, 0.05);
  ck_assert_int_eq(b->weight_type, BO_WEIGHT_ELBO);
  ck_assert_int_eq(H5Adelete(file, "train_time_focus_fraction"), 0);
  b->focus_fraction = 0.9;
  BOTestOK(BOProcessLoad(b, file));
  ck_assert_double_eq(b->focus_fraction, 0.0);
  H5Fclose(file);
  BOProcessDestroy(&a);
  BOProcessDestroy(&b);
}
END_TEST

/* The calibration's factors: 1 without one; each bin's value at its centre,
 * linear between centres, the end bins' values beyond; empty and occupied
 * cells apart. Saved and loaded with the settings; a bad attribute or ratio
 * is refused with its name. */
START_TEST(test_calibration_factors)
{
  char         path[PETSC_MAX_PATH_LEN];
  BOProcess    a, b;
  const double r[8] = {0.5, 1.0, 2.0, 4.0, 1.1, 1.2, 1.3, 1.4}, bad[2] = {1.0, 0.0};
  hid_t        file;

  BOTestOK(BOProcessCreate(PETSC_COMM_SELF, &a));
  a->T = 100;
  BOTestOK(BOProcessSetUp(a));
  ck_assert_double_eq(BOProcessCalibration(a, 40, PETSC_TRUE), 1.0);
  BOTestOK(BOProcessSetCalibration(a, 4, r)); /* bins of 25 indices: centres at k = 12, 37, 62, 87 */
  ck_assert_double_eq_tol(BOProcessCalibration(a, 0, PETSC_TRUE), 0.5, 1e-15);
  ck_assert_double_eq_tol(BOProcessCalibration(a, 99, PETSC_TRUE), 4.0, 1e-15);
  ck_assert_double_eq_tol(BOProcessCalibration(a, 99, PETSC_FALSE), 1.4, 1e-15);
  /* k = 37 is x = 37.5 / 25 - 0.5 = 1: bin 1 exactly; k = 49 is x = 1.48 */
  ck_assert_double_eq_tol(BOProcessCalibration(a, 37, PETSC_TRUE), 1.0, 1e-15);
  ck_assert_double_eq_tol(BOProcessCalibration(a, 49, PETSC_TRUE), 1.0 + 0.48 * 1.0, 1e-12);
  ck_assert_double_eq_tol(BOProcessCalibration(a, 49, PETSC_FALSE), 1.2 + 0.48 * 0.1, 1e-12);
  BOTestExpectErrorMessage(BOProcessSetCalibration(a, 1, bad), "in bin 0 is not finite and positive");
  BOTestExpectErrorMessage(BOProcessSetCalibration(a, 101, r), "101 bins for T = 100");
  file = H5Fcreate(BOTestPath("cal.h5", path, sizeof(path)), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  BOTestOK(BOProcessSave(a, file));
  BOTestOK(BOProcessCreate(PETSC_COMM_SELF, &b));
  BOTestOK(BOProcessLoad(b, file));
  ck_assert_int_eq(b->cal_bins, 4);
  for (int i = 0; i < 8; i++) ck_assert_double_eq(b->cal[i], r[i]);
  /* an odd count is not two groups of bins */
  BOTestOK(BOH5WriteAttr(file, "calibration", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, r));
  BOTestExpectErrorMessage(BOProcessLoad(b, file), "attribute 'calibration' has 3 values");
  /* a file without one loads uncalibrated */
  ck_assert_int_eq(H5Adelete(file, "calibration"), 0);
  BOTestOK(BOProcessLoad(b, file));
  ck_assert_int_eq(b->cal_bins, 0);
  ck_assert_double_eq(BOProcessCalibration(b, 40, PETSC_FALSE), 1.0);
  H5Fclose(file);
  BOProcessDestroy(&a);
  BOProcessDestroy(&b);
}
END_TEST

START_TEST(test_poisson_loss_and_gradient)
{
  /* l(x) = w (softplus(x) - y log softplus(x)); check values, the gradient
   * against central differences (in double, step 1e-4: truncation error
   * ~ h^2 |l'''| << 1e-6), and the minimiser softplus(x) = y. */
  const float  xs[] = {-3.0f, -0.5f, 0.0f, 0.7f, 2.0f, 6.0f, 25.0f};
  const float  ys[] = {0.0f, 1.0f, 3.0f, 10.0f};
  const double w = 2.5, h = 1e-4;
  for (int i = 0; i < 7; i++)
    for (int j = 0; j < 4; j++) {
      float  x = xs[i], y = ys[j], dx;
      double l   = BOPoissonLoss(1, &x, &y, w, 1.0, &dx);
      double sp  = log1p(exp((double)x));
      double dev = y > 0 ? y - y * log(y) : 0.0;
      ck_assert_double_eq_tol(l, w * (sp - y * log(sp) - dev), 1e-9 * (1 + fabs(l)));
      ck_assert(l >= -1e-12);
      float  xp = x + (float)h, xm = x - (float)h;
      double fd =
          (BOPoissonLoss(1, &xp, &y, w, 1.0, NULL) - BOPoissonLoss(1, &xm, &y, w, 1.0, NULL)) / ((double)xp - xm);
      ck_assert_msg(fabs(fd - dx) < 1e-4 * (1 + fabs(fd)), "x=%g y=%g: grad %g, fd %g", x, y, dx, fd);
    }
  /* gradient and loss zero where softplus(x) = y */
  float y = 3.0f, x = (float)log(expm1(3.0)), dx;
  ck_assert(fabs(BOPoissonLoss(1, &x, &y, 1.0, 1.0, &dx)) < 1e-6);
  ck_assert(fabs(dx) < 1e-6);
  /* scale multiplies the gradient only */
  float dx2;
  BOPoissonLoss(1, &x, &y, 1.0, 0.25, &dx2);
  ck_assert_float_eq_tol(dx2, 0.25f * dx, 1e-9);
}
END_TEST

START_TEST(test_poisson_loss_guarded)
{
  /* very negative outputs: softplus underflows in float, log 0 must not appear */
  const float xs[] = {-50.0f, -200.0f, -1000.0f, -1e30f};
  for (int i = 0; i < 4; i++) {
    float  y = 2.0f, dx;
    double l = BOPoissonLoss(1, &xs[i], &y, 1.0, 1.0, &dx);
    ck_assert_msg(isfinite(l) && isfinite(dx), "x = %g: loss %g grad %g", xs[i], l, dx);
    ck_assert_double_eq_tol(l, -2.0 * xs[i] - (2.0 - 2.0 * log(2.0)), 1e-6 * fabs(xs[i])); /* ~ -y x - (y - y log y) */
    ck_assert_float_eq_tol(dx, -2.0f, 1e-6f);                                              /* sigmoid - y */
    y = 0.0f;
    l = BOPoissonLoss(1, &xs[i], &y, 1.0, 1.0, &dx);
    ck_assert(isfinite(l) && isfinite(dx) && l >= 0);
  }
  ck_assert_double_eq_tol(BOLogSoftplus(-40.0), -40.0, 1e-12);
  ck_assert_double_eq_tol(BOLogSoftplus(40.0), log(40.0), 1e-12);
  ck_assert_double_eq_tol(BOLogSoftplus(0.3), log(log1p(exp(0.3))), 1e-14);
}
END_TEST

START_TEST(test_sampling_grid)
{
  BOProcess      proc = make_process(1000, 15.0, BO_WEIGHT_INSTANTANEOUS);
  PetscInt       idx[1000];
  const PetscInt Ks[]     = {1000, 50, 7, 3, 2, 999, 333};
  const double   powers[] = {1, 4, 16};
  for (int a = 0; a < 3; a++)
    for (int c = 0; c < 7; c++) {
      PetscInt K       = Ks[c];
      proc->grid_power = powers[a];
      BOTestOK(BOProcessSamplingGrid(proc, K, idx));
      ck_assert_int_eq(idx[0], 999);
      ck_assert_int_eq(idx[K - 1], 0);
      for (PetscInt j = 1; j < K; j++) ck_assert_int_lt(idx[j], idx[j - 1]);
    }
  /* even in p at power 1; at power 4 the first of 50 steps ends near p = 1/49^4 */
  proc->grid_power = 1;
  BOTestOK(BOProcessSamplingGrid(proc, 50, idx));
  ck_assert_double_eq_tol(proc->p[idx[25]], 25.0 / 49.0, 0.01);
  proc->grid_power = 4;
  BOTestOK(BOProcessSamplingGrid(proc, 50, idx));
  ck_assert_double_eq_tol(proc->p[idx[25]], pow(25.0 / 49.0, 4), 0.01);
  ck_assert_double_lt(proc->p[idx[1]], 1e-5);
  proc->grid_power = 0.5;
  ck_assert_int_ne(BOTestExpectError(BOProcessSamplingGrid(proc, 50, idx)), 0);
  proc->grid_power = 17;
  ck_assert_int_ne(BOTestExpectError(BOProcessSamplingGrid(proc, 50, idx)), 0);
  proc->grid_power   = 4;
  proc->empty_hurdle = 1; /* the hurdle's q must be in [0, 1) */
  ck_assert_int_ne(BOTestExpectError(BOProcessSamplingGrid(proc, 50, idx)), 0);
  proc->empty_hurdle = -0.1;
  ck_assert_int_ne(BOTestExpectError(BOProcessSamplingGrid(proc, 50, idx)), 0);
  proc->empty_hurdle = 0;
  BOTestOK(BOProcessSamplingGrid(proc, 1, idx));
  ck_assert_int_eq(idx[0], 999);
  ck_assert_int_ne(BOTestExpectError(BOProcessSamplingGrid(proc, 0, idx)), 0);
  ck_assert_int_ne(BOTestExpectError(BOProcessSamplingGrid(proc, 1001, idx)), 0);
  BOProcessDestroy(&proc);
}
END_TEST

/* ---- exact oracle ------------------------------------------------------
 * Each cell's n0 is an independent mixture of point masses. Given n_t = n at
 * survival probability p, the posterior of atom a >= n is proportional to
 * pi_a C(a, n) p^n (1-p)^(a-n), and E[n0 - n_t | n_t] is exact. */
#define NCELL 4
#define NATOM 3
typedef struct {
  BOProcess proc;
  double    atom[NCELL][NATOM], pi[NCELL][NATOM];
} Oracle;

static const Oracle oracle_template = {
    NULL,
    {{0, 5, 5}, {2, 7, 12}, {1, 1, 1}, {0, 3, 20}},
    {{0.5, 0.5, 0.0}, {0.3, 0.3, 0.4}, {1.0, 0.0, 0.0}, {0.2, 0.5, 0.3}},
};

static PetscErrorCode oracle_predict(void *ctx, PetscInt nm, PetscInt dim, const float *state, PetscInt k, float *yhat)
{
  Oracle *o = (Oracle *)ctx;
  double  p = o->proc->p[k];
  for (PetscInt b = 0; b < nm; b++)
    for (PetscInt c = 0; c < dim; c++) {
      double n = state[b * dim + c], lw[NATOM], lmax = -INFINITY, num = 0, den = 0;
      for (int a = 0; a < NATOM; a++) {
        double A = o->atom[c][a];
        lw[a]    = (A >= n && o->pi[c][a] > 0) ? log(o->pi[c][a]) + lgamma(A + 1) - lgamma(n + 1) - lgamma(A - n + 1) +
                                                  n * log(p) + (A - n) * log1p(-p)
                                               : -INFINITY;
        lmax     = fmax(lmax, lw[a]);
      }
      for (int a = 0; a < NATOM && isfinite(lmax); a++) {
        double wa = exp(lw[a] - lmax);
        num += wa * (o->atom[c][a] - n);
        den += wa;
      }
      yhat[b * dim + c] = den > 0 ? (float)(num / den) : 0.0f;
    }
  return 0;
}

#define NMAX 60 /* counts beyond this have negligible probability here */

static double binom_pmf(int n, int k, double r)
{
  if (k < 0 || k > n) return 0.0;
  if (r >= 1.0) return k == n;
  if (r <= 0.0) return k == 0;
  return exp(lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) + k * log(r) + (n - k) * log1p(-r));
}

/* The exact law of one cell's output under the discrete-time sampler (not
 * under the data): dynamic programming over the state 0..NMAX, step by step,
 * with the same grid, stochastic rounding and cap as BOReverseStep. */
static void sampler_law(Oracle *o, int cell, BOReverseStepType type, PetscInt K, double cap, double *law)
{
  PetscInt idx[1000];
  double   next[NMAX + 1];
  ck_assert_int_eq(BOProcessSamplingGrid(o->proc, K, idx), 0);
  for (int n = 0; n <= NMAX; n++) law[n] = n == 0;
  for (PetscInt j = 0; j < K; j++) {
    double t = o->proc->t[idx[j]], s = j + 1 < K ? o->proc->t[idx[j + 1]] : 0.0, r = BOBridgeProbability(s, t);
    for (int n = 0; n <= NMAX; n++) next[n] = 0;
    for (int n = 0; n <= NMAX; n++) {
      if (law[n] == 0) continue;
      float state[NCELL] = {0}, yhat[NCELL];
      state[cell]        = (float)n;
      oracle_predict(o, 1, NCELL, state, idx[j], yhat);
      double mean = yhat[cell];
      if (type == BO_REVERSE_BRIDGE) {
        int    f    = (int)floor(mean);
        double frac = mean - f;
        for (int m = f; m <= f + 1; m++) {
          double pm = m == f ? 1 - frac : frac;
          int    mc = cap > 0 && m > cap - n ? (int)(cap - n) : m;
          for (int b = 0; b <= mc && n + b <= NMAX; b++) next[n + b] += law[n] * pm * binom_pmf(mc, b, r);
        }
      } else {
        double lam = mean * r;
        for (int b = 0; n + b <= NMAX; b++) {
          int dest = cap > 0 && n + b > cap ? (int)cap : n + b;
          next[dest] += law[n] * exp(-lam + (lam > 0 ? b * log(lam) : (b ? -INFINITY : 0)) - lgamma(b + 1.0));
        }
      }
    }
    for (int n = 0; n <= NMAX; n++) law[n] = next[n];
  }
}

/* Total variation between two laws on 0..NMAX. */
static double tv_distance(const double *a, const double *b)
{
  double tv = 0;
  for (int n = 0; n <= NMAX; n++) tv += 0.5 * fabs(a[n] - b[n]);
  return tv;
}

/* The histogram of one cell over M members (obs: 0..NMAX); returns the
 * number of members above NMAX (the tail, outside the histogram). */
static double cell_histogram(const float *state, int M, int cell, double *obs)
{
  double outside = 0;
  for (int n = 0; n <= NMAX; n++) obs[n] = 0;
  for (int b = 0; b < M; b++) {
    float v = state[b * NCELL + cell];
    ck_assert(v >= 0 && v == floorf(v));
    if (v <= NMAX) obs[(int)v]++;
    else outside++;
  }
  return outside;
}

/* Generate M members with the oracle (scheme `type`, K steps); for each cell,
 * chi-square the histogram against `against`: the data's law, or the exact
 * law of the scheme on law_K steps (law_K = K: the sampler's own law).
 * Returns the smallest p-value over cells (a check rejects below
 * ALPHA / NCELL), and in *tv_max the largest total-variation distance
 * between the law_K-step scheme's exact law and the data. */
typedef enum { AGAINST_DATA, AGAINST_SAMPLER_LAW } Against;
static double oracle_pvalue(BOReverseStepType type, PetscInt K, int M, uint64_t seed, Against against, PetscInt law_K,
                            double *tv_max)
{
  Oracle o = oracle_template;
  float *state;
  double pmin = 1.0;

  o.proc = make_process(1000, 15.0, BO_WEIGHT_INSTANTANEOUS);
  state  = malloc(sizeof(float) * M * NCELL);
  ck_assert_int_eq(BOProcessGenerate(o.proc, type, K, 0.0, oracle_predict, PETSC_FALSE, &o, seed, 0, M, NCELL, NULL,
                                     NULL, NULL, state),
                   0);
  if (tv_max) *tv_max = 0;
  for (int c = 0; c < NCELL; c++) {
    double obs[NMAX + 1], data[NMAX + 1] = {0}, law[NMAX + 1];
    for (int a = 0; a < NATOM; a++) data[(int)o.atom[c][a]] += o.pi[c][a];
    sampler_law(&o, c, type, law_K, 0.0, law);
    if (tv_max) *tv_max = fmax(*tv_max, tv_distance(law, data));
    double outside = cell_histogram(state, M, c, obs);
    double pv      = BOChiSquareTest(NMAX + 1, obs, against == AGAINST_DATA ? data : law, outside, NULL, NULL);
    pmin           = fmin(pmin, pv);
  }
  free(state);
  BOProcessDestroy(&o.proc);
  return pmin;
}

START_TEST(test_bridge_oracle_full_grid)
{
  /* All 1000 steps: the samples follow the data's law (the scheme's own
   * discretisation error, computed exactly, is far below what 20000 members
   * can resolve) and, exactly, the scheme's law. */
  double tv, pv = oracle_pvalue(BO_REVERSE_BRIDGE, 1000, 20000, 1, AGAINST_DATA, 1000, &tv);
  ck_assert_msg(pv > ALPHA / NCELL, "bridge, 1000 steps vs data: min p = %g", pv);
  ck_assert_msg(tv < 0.006, "bridge, 1000 steps: TV(scheme, data) = %g", tv);
  pv = oracle_pvalue(BO_REVERSE_BRIDGE, 1000, 20000, 5, AGAINST_SAMPLER_LAW, 1000, NULL);
  ck_assert_msg(pv > ALPHA / NCELL, "bridge, 1000 steps vs its exact law: min p = %g", pv);
}
END_TEST

START_TEST(test_bridge_oracle_coarse_grid)
{
  /* 50 steps. A sampler that sees only the posterior mean has an O(1/K)
   * discretisation error (it cannot know the posterior's spread); its exact
   * law is computed above. The samples must follow that law exactly, and on
   * the default grid the law must be within 5% total variation of the data
   * (measured 3.7%; 2.0% even in p, 8% evenly spaced in logit p). */
  double tv, pv = oracle_pvalue(BO_REVERSE_BRIDGE, 50, 20000, 2, AGAINST_SAMPLER_LAW, 50, &tv);
  ck_assert_msg(pv > ALPHA / NCELL, "bridge, 50 steps vs its exact law: min p = %g", pv);
  ck_assert_msg(tv < 0.05, "bridge, 50 steps: TV(scheme, data) = %g", tv);
}
END_TEST

/* The scheme's exact discretisation error (TV to the data, the largest over
 * cells) on the per-cell oracle, by grid and K: printed for docs/SAMPLING.md,
 * and bounded. This oracle has independent cells, so it measures the error
 * of committing the posterior mean per cell, and there the even grid is
 * the better one. The default grid's short first steps pay off for
 * correlated cells, on real data (docs/SAMPLING.md). */
START_TEST(test_grid_discretisation_error)
{
  const PetscInt Ks[] = {10, 20, 50, 100};
  Oracle         o    = oracle_template;
  o.proc              = make_process(1000, 15.0, BO_WEIGHT_INSTANTANEOUS);
  for (int g = 0; g < 2; g++) {
    o.proc->grid_power = g ? 4.0 : 1.0;
    printf("oracle TV(scheme, data), grid power %g:", (double)o.proc->grid_power);
    for (int i = 0; i < 4; i++) {
      double tv = 0, law[NMAX + 1];
      for (int c = 0; c < NCELL; c++) {
        double data[NMAX + 1] = {0};
        for (int a = 0; a < NATOM; a++) data[(int)o.atom[c][a]] += o.pi[c][a];
        sampler_law(&o, c, BO_REVERSE_BRIDGE, Ks[i], 0.0, law);
        tv = fmax(tv, tv_distance(law, data));
      }
      printf(" K=%d %.4f", (int)Ks[i], tv);
      if (Ks[i] == 50)
        ck_assert_msg(tv < (g ? 0.05 : 0.03), "grid power %g, 50 steps: TV %g", (double)o.proc->grid_power, tv);
    }
    printf("\n");
  }
  BOProcessDestroy(&o.proc);
}
END_TEST

START_TEST(test_tauleap_oracle_full_grid)
{
  /* Not against the data: Poisson increments overshoot where the posterior
   * is sure, so about 0.6% of the members end on counts the data cannot
   * have (the exact law puts 0.4% to 0.7% there, per cell), and one such
   * member fails a test against the data. The samples follow the scheme's
   * exact law, and that law is within 1% of the data (measured 0.8%). */
  double tv, pv = oracle_pvalue(BO_REVERSE_TAULEAP, 1000, 20000, 3, AGAINST_SAMPLER_LAW, 1000, &tv);
  ck_assert_msg(pv > ALPHA / NCELL, "tau-leaping, 1000 steps vs its exact law: min p = %g", pv);
  ck_assert_msg(tv < 0.01, "tau-leaping, 1000 steps: TV(scheme, data) = %g", tv);
  pv = oracle_pvalue(BO_REVERSE_TAULEAP, 50, 20000, 6, AGAINST_SAMPLER_LAW, 50, &tv);
  ck_assert_msg(pv > ALPHA / NCELL, "tau-leaping, 50 steps vs its exact law: min p = %g", pv);
}
END_TEST

START_TEST(test_oracle_test_has_power)
{
  /* One step from the empty state adds stochastic_round(prior mean): not the
   * mixture. The test against the data must catch it... */
  double pv = oracle_pvalue(BO_REVERSE_BRIDGE, 1, 20000, 4, AGAINST_DATA, 1, NULL);
  ck_assert_msg(pv < ALPHA / NCELL, "one bridge step vs data: min p = %g", pv);
  /* ...and the exact-law check must catch a sampler that is not the scheme:
   * 50-step samples against the law of the 20-step scheme. */
  pv = oracle_pvalue(BO_REVERSE_BRIDGE, 50, 20000, 9, AGAINST_SAMPLER_LAW, 20, NULL);
  ck_assert_msg(pv < ALPHA / NCELL, "bridge, 50 steps vs the 20-step law: min p = %g", pv);
}
END_TEST

START_TEST(test_tauleap_oracle_has_power)
{
  /* The tau-leaping checks can fail: 50-step samples against the law of the
   * 20-step scheme. */
  double pv = oracle_pvalue(BO_REVERSE_TAULEAP, 50, 20000, 10, AGAINST_SAMPLER_LAW, 20, NULL);
  ck_assert_msg(pv < ALPHA / NCELL, "tau-leaping, 50 steps vs the 20-step law: min p = %g", pv);
}
END_TEST

/* A predictor that returns a fixed mean; used for cap and batching checks. */
static PetscErrorCode constant_predict(void *ctx, PetscInt nm, PetscInt dim, const float *state, PetscInt k,
                                       float *yhat)
{
  (void)state;
  (void)k;
  for (PetscInt i = 0; i < nm * dim; i++) yhat[i] = *(float *)ctx;
  return 0;
}

START_TEST(test_generate_batching_and_cap)
{
  BOProcess proc = make_process(200, 15.0, BO_WEIGHT_INSTANTANEOUS);
  float     mean = 30.0f, all[10 * 6], part[5 * 6];
  for (int type = 0; type < 2; type++) {
    /* members 5..9 alone equal members 5..9 of a batch of 10 */
    BOTestOK(BOProcessGenerate(proc, (BOReverseStepType)type, 40, 0.0, constant_predict, PETSC_FALSE, &mean, 8, 0, 10,
                               6, NULL, NULL, NULL, all));
    BOTestOK(BOProcessGenerate(proc, (BOReverseStepType)type, 40, 0.0, constant_predict, PETSC_FALSE, &mean, 8, 5, 5, 6,
                               NULL, NULL, NULL, part));
    for (int i = 0; i < 5 * 6; i++) ck_assert_float_eq(part[i], all[5 * 6 + i]);
    /* the cap holds */
    BOTestOK(BOProcessGenerate(proc, (BOReverseStepType)type, 40, 12.0, constant_predict, PETSC_FALSE, &mean, 8, 0, 10,
                               6, NULL, NULL, NULL, all));
    for (int i = 0; i < 10 * 6; i++) ck_assert(all[i] >= 0 && all[i] <= 12.0f);
  }
  BOProcessDestroy(&proc);
}
END_TEST

/* A joint oracle: every member is all-zero or all-FIVE (prob 1/2 each), so
 * the cells are perfectly correlated. The posterior of "all five" given the
 * state x is 1 if any cell is positive, else pi5 L / (pi0 + pi5 L) with
 * L = (1-p)^(5 D). The companions use wrong oracles: another pi5, or a
 * posterior per cell from that cell's state alone (blind to the correlation:
 * L = (1-p)^5). */
#define JD 6
typedef struct {
  BOProcess proc;
  double    pi5;     /* the prior weight of "all five": the data's is 1/2 */
  int       percell; /* 1: each cell's posterior from its own state alone */
} Joint;

static PetscErrorCode joint_predict(void *ctx, PetscInt nm, PetscInt dim, const float *state, PetscInt k, float *yhat)
{
  const Joint *j = (const Joint *)ctx;
  double       p = j->proc->p[k];
  for (PetscInt b = 0; b < nm; b++) {
    int any = 0;
    for (PetscInt i = 0; i < dim; i++) any |= state[b * dim + i] > 0;
    for (PetscInt i = 0; i < dim; i++) {
      int    seen = j->percell ? state[b * dim + i] > 0 : any;
      double L = pow(1 - p, 5.0 * (j->percell ? 1 : dim)), w5 = seen ? 1.0 : j->pi5 * L / (1 - j->pi5 + j->pi5 * L);
      yhat[b * dim + i] = (float)(w5 * (5.0 - state[b * dim + i]));
    }
  }
  return 0;
}

/* M members of the joint oracle j (K = 100 steps; value and mask: observed
 * cells, or NULL): the numbers of all-five and all-zero members. */
static void joint_counts(Joint j, BOReverseStepType type, uint64_t seed, const float *value, const float *mask, int M,
                         float *state, int *all5, int *all0)
{
  BOTestOK(BOProcessGenerate(j.proc, type, 100, 0.0, joint_predict, PETSC_FALSE, &j, seed, 0, M, JD, value, mask, NULL,
                             state));
  *all5 = *all0 = 0;
  for (int b = 0; b < M; b++) {
    int n5 = 0, n0 = 0;
    for (int i = 0; i < JD; i++) n5 += state[b * JD + i] == 5, n0 += state[b * JD + i] == 0;
    *all5 += n5 == JD, *all0 += n0 == JD;
  }
}

/* The checks on the counts. Unconditionally: few mixed members (the scheme's
 * small error), and all-five members Binomial(M, 1/2), sd sqrt(M)/2 = 22 at
 * M = 2000, within 5 sd. Given cell 0 = 5: all members all five, but 2. */
static int few_mixed(int all5, int all0, int M) { return all5 + all0 >= M - M / 100; }
static int half_all_five(int all5, int M) { return abs(all5 - M / 2) < 5 * 23; }
static int all_five(int all5, int M) { return all5 >= M - 2; }

/* The probability that a member stays all zero when cell 0 is observed to be
 * 0 and the sampler takes K tau-leaping steps with the joint oracle j. The
 * oracle counts the observed zero as a thinned one, so while the state is all
 * zero each of the JD - 1 unobserved cells is born with Poisson(yhat r),
 * yhat = 5 w5; once one is born the member is no longer all zero. So the
 * member stays all zero with probability exp(-(JD - 1) sum_j yhat_j r_j). */
static double joint_all_zero_probability(Joint j, PetscInt K)
{
  PetscInt idx[1000];
  float    zeros[JD] = {0}, yhat[JD];
  double   rate      = 0;
  BOTestOK(BOProcessSamplingGrid(j.proc, K, idx));
  for (PetscInt s = 0; s < K; s++) {
    double tt = j.proc->t[idx[s]], ts = s + 1 < K ? j.proc->t[idx[s + 1]] : 0.0;
    joint_predict(&j, 1, JD, zeros, idx[s], yhat);
    rate += (JD - 1) * (double)yhat[1] * BOBridgeProbability(ts, tt);
  }
  return exp(-rate);
}

/* ... and the check: all0 is Binomial(M, p0) within 5 sd */
static int all_zero_as_predicted(int all0, int M, double p0)
{
  return fabs(all0 - M * p0) < 5 * sqrt(M * p0 * (1 - p0));
}

START_TEST(test_observed_cells_known_answer)
{
  Joint     j     = {make_process(1000, 15.0, BO_WEIGHT_INSTANTANEOUS), 0.5, 0};
  const int M     = 2000;
  float    *state = malloc(sizeof(float) * M * JD), value[JD] = {5, 0, 0, 0, 0, 0}, mask[JD] = {1, 0, 0, 0, 0, 0};
  int       all5, all0;

  /* unconditionally: half the members are all five, half all zero */
  joint_counts(j, BO_REVERSE_BRIDGE, 11, NULL, NULL, M, state, &all5, &all0);
  ck_assert_msg(few_mixed(all5, all0, M), "unconditional: %d of %d members mixed", M - all5 - all0, M);
  ck_assert_msg(half_all_five(all5, M), "unconditional: %d of %d all-five", all5, M);

  /* observing cell 0 = 5 leaves only "all five" */
  joint_counts(j, BO_REVERSE_BRIDGE, 12, value, mask, M, state, &all5, &all0);
  for (int b = 0; b < M; b++) ck_assert_float_eq(state[b * JD], 5.0f); /* observed exactly */
  ck_assert_msg(all_five(all5, M), "conditioned on cell 0 = 5: only %d of %d members are all five", all5, M);

  /* Observing cell 0 = 0 should leave only "all zero", but this oracle
   * cannot tell an observed zero from a thinned one, so unobserved cells are
   * born meanwhile: observing a zero needs a network that conditions on the
   * observation. Here the observed cell stays 0, and the all-zero members are
   * Binomial(M, P0), P0 from the oracle's rates (near 1/2, not 1). */
  value[0] = 0;
  joint_counts(j, BO_REVERSE_TAULEAP, 13, value, mask, M, state, &all5, &all0);
  for (int b = 0; b < M; b++) ck_assert_float_eq(state[b * JD], 0.0f);
  double p0 = joint_all_zero_probability(j, 100);
  ck_assert_msg(all_zero_as_predicted(all0, M, p0), "observed cell 0 = 0: %d of %d all zero, expected %.1f", all0, M,
                M * p0);
  free(state);
  BOProcessDestroy(&j.proc);
}
END_TEST

START_TEST(test_joint_oracle_has_power)
{
  /* Each check above rejects a wrong sampler: an oracle blind to the
   * correlation leaves mixed members (measured 1935 of 2000); one with
   * pi5 = 0.6 gives 60% all five (1257, 11 sd off) and, given cell 0 = 0,
   * fewer all-zero members than P0 (896 for 1095, 9 sd); a sampler that
   * drops the observation of cell 0 = 5 leaves half the members all zero. */
  Joint     j       = {make_process(1000, 15.0, BO_WEIGHT_INSTANTANEOUS), 0.5, 0};
  Joint     percell = {j.proc, 0.5, 1}, heavy = {j.proc, 0.6, 0};
  const int M     = 2000;
  float    *state = malloc(sizeof(float) * M * JD), value[JD] = {5, 0, 0, 0, 0, 0}, mask[JD] = {1, 0, 0, 0, 0, 0};
  int       all5, all0;

  joint_counts(percell, BO_REVERSE_BRIDGE, 21, NULL, NULL, M, state, &all5, &all0);
  ck_assert_msg(!few_mixed(all5, all0, M), "a posterior blind to the correlation: only %d mixed", M - all5 - all0);
  joint_counts(heavy, BO_REVERSE_BRIDGE, 22, NULL, NULL, M, state, &all5, &all0);
  ck_assert_msg(!half_all_five(all5, M), "pi5 = 0.6 passed: %d of %d all five", all5, M);
  joint_counts(j, BO_REVERSE_BRIDGE, 23, NULL, NULL, M, state, &all5, &all0);
  ck_assert_msg(!all_five(all5, M), "a sampler that drops the observation passed: %d of %d all five", all5, M);
  value[0] = 0;
  joint_counts(heavy, BO_REVERSE_TAULEAP, 24, value, mask, M, state, &all5, &all0);
  ck_assert_msg(!all_zero_as_predicted(all0, M, joint_all_zero_probability(j, 100)),
                "pi5 = 0.6 passed the all-zero count: %d of %d", all0, M);
  free(state);
  BOProcessDestroy(&j.proc);
}
END_TEST

Suite *suite_process(void)
{
  Suite *s  = suite_create("process");
  TCase *tc = tcase_create("schedule");
  tcase_add_test(tc, test_schedule_closed_form);
  tcase_add_test(tc, test_schedule_bad_options);
  tcase_add_test(tc, test_weight_floor);
  tcase_add_test(tc, test_calibration_factors);
  tcase_add_test(tc, test_bridge_probability);
  tcase_add_test(tc, test_forward_noise);
  tcase_add_test(tc, test_forward_noise_has_power);
  tcase_add_test(tc, test_train_time_focus);
  tcase_add_test(tc, test_train_time_focus_has_power);
  tcase_add_test(tc, test_train_time_focus_bad_options);
  tcase_add_test(tc, test_process_settings_round_trip);
  tcase_add_test(tc, test_poisson_loss_and_gradient);
  tcase_add_test(tc, test_poisson_loss_guarded);
  tcase_add_test(tc, test_sampling_grid);
  suite_add_tcase(s, tc);
  tc = tcase_create("samplers");
  tcase_add_test(tc, test_bridge_oracle_full_grid);
  tcase_add_test(tc, test_bridge_oracle_coarse_grid);
  tcase_add_test(tc, test_grid_discretisation_error);
  tcase_add_test(tc, test_tauleap_oracle_full_grid);
  tcase_add_test(tc, test_oracle_test_has_power);
  tcase_add_test(tc, test_tauleap_oracle_has_power);
  tcase_add_test(tc, test_generate_batching_and_cap);
  tcase_add_test(tc, test_observed_cells_known_answer);
  tcase_add_test(tc, test_joint_oracle_has_power);
  suite_add_tcase(s, tc);
  return s;
}
