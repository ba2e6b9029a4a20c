/* The sampler's real predictor (network_predict in src/sample/sampler.c,
 * reached through BOSamplerGenerateLocal and BOProcessGenerate) driven by a
 * BOModel whose raw output is set by hand:
 *
 *   x_g(n, k, c) = b_g + A_g sin k + B_g cos theta_c + C_g phi(n_g / 6 - p_k),
 *   phi(u) = u / sqrt(u^2 + 1/4),
 *
 * for element g with count n_g at schedule index k (survival p_k) and class
 * c (the null class included); n_g / 6 - p_k is the network's linear input
 * scaling (n - N/2 p)/(N/2) with N = 12. The sampler must turn it into
 * yhat = softplus(x) at the index k of each step and its p_k (with
 * classifier-free guidance yhat = yhat_c^(1+w) / yhat_null^w). Element g's
 * prediction depends on its own count alone, so its final count has a law
 * computable exactly by dynamic programming over the sampling grid. Members
 * are chi-squared against that law, and against the laws of wrong predictors
 * (no softplus, the index off by one, a wrong p_k, the counts unseen, the
 * label dropped, guidance of the wrong sign or weight, swapped, on rates or
 * on raw outputs), which the same check must reject. The term sin k, of the
 * embedding's highest frequency, changes by O(1) from one index to the next,
 * so an index off by one changes every step's rate.
 *
 * How the network is set (all other parameters 0). The time MLP and the
 * label embedding carry (sin k, cos k) and (cos theta, sin theta) as +-pairs
 * through their SiLUs, using silu(u) - silu(-u) = u; mid.res's time bias
 * makes each a GroupNorm group of four channels (u, v, -u, -v), with mean 0
 * and variance (u^2 + v^2)/2, which normalises to sqrt(2) (u, v, -u, -v) for
 * a unit vector (u, v) (up to eps = 1e-6), and its conv2 takes differences
 * again (undoing the SiLU). The input conv makes a group (u, 1/2, -u, -1/2)
 * per element from its scaled count u; the blocks' skips carry all groups to
 * the output GroupNorm, which normalises the element groups to
 * sqrt(2) (u, 1/2, -u, -1/2) / sqrt(u^2 + 1/4) and leaves the others as they
 * are, and the output conv takes (silu(z0) - silu(z2)) / sqrt(2) of each
 * group: sin k, cos theta and phi(u). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "blackout.h"
#include "testutil.h"

#define ALPHA 1e-3 /* see tests/test_rng.c */
#define G     4    /* elements per member */
#define CAP   12   /* the model's max_count: the input scale and the sampler's default cap */
#define HID   28   /* hidden channels: 7 GroupNorm groups of 4 (time, label, one per element, one unused) */
#define TH    8    /* width of the time MLP and the label embedding */
#define TD    8    /* sinusoidal features: sin(k f_j), cos(k f_j), f_0 = 1 */
#define V     0.5  /* the element groups' constant channel */

static const double b_el[G] = {0.5, -0.5, 1.0, -0.5}, A_el[G] = {1.0, 0.5, -1.0, 0.0}, B_el[G] = {1.0, -1.0, 0.5, 1.5},
                    C_el[G]  = {1.5, -1.5, 0.0, 1.0};
static const double theta[3] = {0.0, M_PI, 1.2661036727794992}; /* classes 0, 1, null: cos 1, -1, 0.3 */

/* The parameters of tensor `name`, which must hold n of them. */
static float *tensor(BOModel m, const char *name, size_t n)
{
  for (PetscInt i = 0; i < m->ntensors; i++)
    if (!strcmp(m->tensors[i].name, name)) {
      ck_assert_msg(m->tensors[i].size == n, "%s has %zu parameters, not %zu", name, m->tensors[i].size, n);
      return m->params + m->tensors[i].offset;
    }
  ck_abort_msg("the model has no tensor %s", name);
  return NULL;
}

/* Rows r and r + 1 of a [rows][ncols] matrix give w[c_plus] - w[c_minus] and its negative. */
static void pair_rows(float *w, int ncols, int r, int c_plus, int c_minus)
{
  w[r * ncols + c_plus] = 1, w[r * ncols + c_minus] = -1;
  w[(r + 1) * ncols + c_plus] = -1, w[(r + 1) * ncols + c_minus] = 1;
}

/* Rows r..r+3 of a [rows][ncols] matrix make the group (u, v, -u, -v) from
 * the differences u = in[u1] - in[u2], v = in[v1] - in[v2]. */
static void group_rows(float *w, int ncols, int r, int u1, int u2, int v1, int v2)
{
  const int plus[4] = {u1, v1, u2, v2}, minus[4] = {u2, v2, u1, v1};
  for (int i = 0; i < 4; i++) w[(r + i) * ncols + plus[i]] = 1, w[(r + i) * ncols + minus[i]] = -1;
}

static void set_network(BOModel m)
{
  const PetscInt nc = m->cfg.num_classes;
  float         *w;

  memset(m->params, 0, sizeof(float) * (size_t)m->nparams);
  /* t1 = (sin k, -sin k, cos k, -cos k, 0...), e = the same after silu and differences */
  w             = tensor(m, "temb.linear1.weight", TH * TD);
  w[0 * TD + 0] = 1, w[1 * TD + 0] = -1, w[2 * TD + TD / 2] = 1, w[3 * TD + TD / 2] = -1;
  w = tensor(m, "temb.linear2.weight", TH * TH);
  pair_rows(w, TH, 0, 0, 1), pair_rows(w, TH, 2, 2, 3);
  /* e[4..7] = (cos theta, -cos theta, sin theta, -sin theta) of the class */
  if (nc > 0) {
    w = tensor(m, "label_emb.weight", (size_t)(nc + 1) * TH);
    for (PetscInt c = 0; c <= nc; c++) {
      double ct = cos(theta[c]), st = sin(theta[c]);
      w[c * TH + 4] = (float)ct, w[c * TH + 5] = (float)-ct, w[c * TH + 6] = (float)st, w[c * TH + 7] = (float)-st;
    }
  }
  /* the element groups: channels 8 + 4g .. 11 + 4g = (u_g, V, -u_g, -V) */
  w = tensor(m, "inc.weight", HID * G);
  for (int g = 0; g < G; g++) w[(8 + 4 * g) * G + g] = 1, w[(10 + 4 * g) * G + g] = -1;
  w = tensor(m, "inc.bias", HID);
  for (int g = 0; g < G; g++) w[9 + 4 * g] = (float)V, w[11 + 4 * g] = (float)-V;
  /* mid.res adds the groups (sin k, cos k, ...) and (cos theta, sin theta, ...) on channels 0..7 */
  w = tensor(m, "mid.res.temb.weight", HID * TH);
  group_rows(w, TH, 0, 0, 1, 2, 3), group_rows(w, TH, 4, 4, 5, 6, 7);
  w = tensor(m, "mid.res.norm2.weight", HID);
  for (int c = 0; c < 8; c++) w[c] = 1;
  /* conv2: the group (u, v, -u, -v) again from a2 = silu(sqrt(2) (u, v, -u, -v)) */
  w = tensor(m, "mid.res.conv2.weight", HID * HID);
  for (int r = 0; r < 8; r += 4) group_rows(w, HID, r, r, r + 2, r + 1, r + 3);
  /* up0.res0 sees concat(mid, down0) and passes mid on through its skip */
  w = tensor(m, "up0.res0.skip.weight", HID * 2 * HID);
  for (int c = 0; c < HID; c++) w[c * 2 * HID + c] = 1;
  w = tensor(m, "out.norm.weight", HID);
  for (int c = 0; c < HID; c++) w[c] = 1;
  w = tensor(m, "out.conv.weight", G * HID);
  for (int g = 0; g < G; g++) {
    const double coef[3] = {A_el[g], B_el[g], C_el[g]}; /* of the groups at channels 0, 4, 8 + 4g */
    const int    at[3]   = {0, 4, 8 + 4 * g};
    for (int i = 0; i < 3; i++)
      w[g * HID + at[i]] = (float)(coef[i] / M_SQRT2), w[g * HID + at[i] + 2] = (float)(-coef[i] / M_SQRT2);
  }
  w = tensor(m, "out.conv.bias", G);
  for (int g = 0; g < G; g++) w[g] = (float)b_el[g];
}

/* The raw output the network is set to give for element g at scaled count
 * u, with the time term sin k; c < 0: no label term (an unconditional
 * network). */
static double raw_output(int g, double k, int c, double u)
{
  return b_el[g] + A_el[g] * sin(k) + (c >= 0 ? B_el[g] * cos(theta[c]) : 0) + C_el[g] * u / sqrt(u * u + V * V);
}

static double softplus(double x) { return x > 30 ? x : log1p(exp(x)); }

/* The network computes raw_output (within float rounding) at indices across
 * the schedule, for counts 0..CAP and every class. */
static void check_network(BOModel m)
{
  const PetscInt nc = m->cfg.num_classes, B = 6;
  PetscInt       k[6] = {0, 1, 2, 517, 998, 999}, labels[6];
  double         pk[6];
  float          nt[6 * G], out[6 * G];

  for (PetscInt c = 0; c <= nc; c++) {
    for (PetscInt b = 0; b < B; b++) {
      pk[b] = exp(-0.003 * (double)k[b]), labels[b] = c;
      for (int g = 0; g < G; g++) nt[b * G + g] = (float)((b * 7 + g * 3 + c) % (CAP + 1));
    }
    BOForwardInputs in = {.labels = nc ? labels : NULL};
    BOTestOK(BOModelForward(m, B, nt, k, pk, &in, out));
    for (PetscInt b = 0; b < B; b++)
      for (int g = 0; g < G; g++) {
        double want = raw_output(g, (double)k[b], nc ? (int)c : -1, nt[b * G + g] / (CAP / 2.0) - pk[b]);
        ck_assert_msg(fabs(out[b * G + g] - want) < 1e-4,
                      "network at k %d, class %d, element %d, count %g: %g, set to give %g", (int)k[b], (int)c, g,
                      (double)nt[b * G + g], (double)out[b * G + g], want);
      }
  }
}

static BOSampler make_sampler(PetscInt classes, PetscInt label, double w, PetscInt K, uint64_t seed)
{
  BOSampler     s;
  BOModelConfig cfg;
  PetscInt      shape[3] = {G, 0, 0};

  BOTestOK(BOSamplerCreate(PETSC_COMM_SELF, &s));
  BOTestOK(BOProcessSetUp(s->proc)); /* T = 1000, t_end = 15, grid power 4 */
  BOTestOK(BOModelConfigFromName("mlp", shape, PETSC_FALSE, CAP, &cfg));
  cfg.base_channels = HID, cfg.num_res_blocks = 1, cfg.temb_dim = TD, cfg.temb_hidden = TH;
  cfg.num_classes = classes, cfg.input = BO_INPUT_LINEAR;
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg, &s->model));
  set_network(s->model);
  check_network(s->model);
  s->K = K, s->label = label, s->guidance = w, s->seed = seed, s->micro_batch = 500;
  BOTestOK(BOSamplerSetUp(s)); /* the cap defaults to the model's max_count; no totals */
  ck_assert(s->max_count == CAP && !s->totals);
  return s;
}

/* A tiny 3-D network (unet-tiny on 4 x 8 x 8, its weights moved off the
 * init) samples members of Nz Ny Nx elements: counts, each member exactly
 * at its total (-mass 60), observed cells on several planes at their value,
 * and planes that differ (the volume is not one plane repeated). */
START_TEST(test_samples_3d)
{
  enum { NZ = 4, NY = 8, NX = 8, DV = NZ * NY * NX, NM = 3 };
  BOSampler     s;
  BOModelConfig cfg;
  PetscInt      shape4[4] = {NZ, NY, NX, 1};
  float         value[DV] = {0}, mask[DV] = {0}, x[NM * DV];
  const int     obs[3] = {5, 1 * NY * NX + 17, 3 * NY * NX + 63}; /* cells on planes 0, 1 and 3 */

  BOTestOK(BOSamplerCreate(PETSC_COMM_SELF, &s));
  s->proc->T = 50;
  BOTestOK(BOProcessSetUp(s->proc));
  BOTestOK(BOModelConfigFromName3D("unet-tiny", shape4, CAP, &cfg));
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg, &s->model));
  BOTestOK(BOModelInitParams(s->model, 3));
  for (PetscInt i = 0; i < s->model->nparams; i++) s->model->params[i] += 0.05f * (float)((i * 7919) % 13 - 6);
  s->K = 10, s->seed = 4, s->micro_batch = 2, s->mass = 60;
  BOTestOK(BOSamplerSetUp(s));
  ck_assert_int_eq(s->model->dim, DV);
  for (int o = 0; o < 3; o++) value[obs[o]] = (float)(2 + o), mask[obs[o]] = 1;
  BOTestOK(BOSamplerSetObservations(s, value, mask));
  BOTestOK(BOSamplerGenerateLocal(s, 0, NM, x));
  for (int m = 0; m < NM; m++) {
    double total = 0, plane_diff = 0;
    for (int i = 0; i < DV; i++) {
      const float v = x[m * DV + i];
      ck_assert_msg(v >= 0 && v == floorf(v) && v <= CAP, "member %d element %d: %g is not a count", m, i, (double)v);
      total += v;
      if (i >= NY * NX) plane_diff += fabs(v - x[m * DV + i % (NY * NX)]);
    }
    ck_assert_msg(total == 60, "member %d has total %g, -mass 60", m, total);
    for (int o = 0; o < 3; o++)
      ck_assert_msg(x[m * DV + obs[o]] == value[obs[o]], "member %d: observed cell %d is %g, not %g", m, obs[o],
                    (double)x[m * DV + obs[o]], (double)value[obs[o]]);
    ck_assert_msg(plane_diff > 0, "member %d: every plane equals plane 0", m);
  }
  BOTestOK(BOSamplerDestroy(&s));
}
END_TEST

/* A predictor, right or wrong: yhat of class `label` (-1: an unconditional
 * network), with guidance w away from class `null` (w = 0: none). */
typedef enum { GUIDE_LOG_RATES, GUIDE_RATES, GUIDE_RAW } GuidanceSpace;
typedef enum { PK_RIGHT, PK_ZERO, PK_TIME } PkKind;
typedef struct {
  const char   *what;
  int           label, null;
  double        w;
  int           shift;       /* the index the time embedding sees: k + shift */
  int           no_softplus; /* yhat = x */
  GuidanceSpace space;       /* where the two predictions are combined */
  PkKind        pk;          /* the survival in the input scaling: p_k, 0, or t_k */
  int           blind;       /* the counts are seen as 0 */
} Predictor;

static double predicted_mean(const Predictor *p, BOProcess proc, int g, PetscInt k, int n)
{
  const double kk = (double)(k + p->shift), pk = p->pk == PK_RIGHT ? proc->p[k] : p->pk == PK_TIME ? proc->t[k] : 0;
  const double u = (p->blind ? 0 : n) / (CAP / 2.0) - pk, xc = raw_output(g, kk, p->label, u);
  const double yc = p->no_softplus ? xc : softplus(xc);
  if (p->w == 0) return yc;
  const double xu = raw_output(g, kk, p->null, u), yu = softplus(xu);
  switch (p->space) {
  case GUIDE_RATES: return (1 + p->w) * yc - p->w * yu;
  case GUIDE_RAW: return softplus((1 + p->w) * xc - p->w * xu);
  default: return exp((1 + p->w) * log(yc) - p->w * log(yu));
  }
}

static double binom_pmf(int n, int j, double r)
{
  if (r >= 1.0) return j == n;
  return exp(lgamma(n + 1.0) - lgamma(j + 1.0) - lgamma(n - j + 1.0) + j * log(r) + (n - j) * log1p(-r));
}

/* The exact law of element g's final count, 0..CAP, under the bridge sampler
 * (BOReverseStep) with predictor p: at step j from t_idx[j] to s, m is
 * max(yhat, 0) rounded stochastically (floor, or floor + 1 with the
 * fraction's probability), at most CAP - n, and n gains Binomial(m, r). */
static void bridge_law(BOProcess proc, PetscInt K, const Predictor *p, int g, double *law)
{
  PetscInt idx[1000];
  double   next[CAP + 1];

  BOTestOK(BOProcessSamplingGrid(proc, K, idx));
  for (int n = 0; n <= CAP; n++) law[n] = n == 0;
  for (PetscInt j = 0; j < K; j++) {
    double t = proc->t[idx[j]], s = j + 1 < K ? proc->t[idx[j + 1]] : 0.0, r = BOBridgeProbability(s, t);
    for (int n = 0; n <= CAP; n++) next[n] = 0;
    for (int n = 0; n <= CAP; n++) {
      double mean = fmax(predicted_mean(p, proc, g, idx[j], n), 0.0), f = floor(mean);
      for (int m = (int)f; m <= (int)f + 1; m++) {
        double pm = m == (int)f ? 1 - (mean - f) : mean - f;
        int    mc = m < CAP - n ? m : CAP - n;
        for (int b = 0; b <= mc && pm > 0; b++) next[n + b] += law[n] * pm * binom_pmf(mc, b, r);
      }
    }
    for (int n = 0; n <= CAP; n++) law[n] = next[n];
  }
}

/* M members through the sampler (a network of `classes`, -label, -guidance,
 * K steps); for each predictor, the smallest p-value over the elements of
 * their counts against its exact law (a check rejects below ALPHA / G). */
static void sampler_pvalues(PetscInt classes, PetscInt label, double w, PetscInt K, int M, uint64_t seed, int np,
                            const Predictor *p, double *pv)
{
  BOSampler s               = make_sampler(classes, label, w, K, seed);
  float    *x               = malloc(sizeof(float) * (size_t)M * G);
  double    obs[G][CAP + 1] = {{0}};

  BOTestOK(BOSamplerGenerateLocal(s, 0, M, x));
  for (int i = 0; i < M * G; i++) {
    ck_assert(x[i] >= 0 && x[i] <= CAP && x[i] == floorf(x[i]));
    obs[i % G][(int)x[i]]++;
  }
  for (int h = 0; h < np; h++) {
    pv[h] = 1.0;
    for (int g = 0; g < G; g++) {
      double law[CAP + 1];
      bridge_law(s->proc, K, &p[h], g, law);
      pv[h] = fmin(pv[h], BOChiSquareTest(CAP + 1, obs[g], law, 0, NULL, NULL));
    }
  }
  free(x);
  BOSamplerDestroy(&s);
}

/* p[0] is the sampler's predictor: its law passes; every other is wrong and rejected. */
static void check_pvalues(const char *run, int np, const Predictor *p, const double *pv)
{
  ck_assert_msg(pv[0] > ALPHA / G, "%s: members vs the law of %s, min p = %g", run, p[0].what, pv[0]);
  for (int h = 1; h < np; h++)
    ck_assert_msg(pv[h] < ALPHA / G, "%s: the check passed the law of %s (min p = %g)", run, p[h].what, pv[h]);
}

#define K_STEPS 10
#define MEMBERS 4000

START_TEST(test_unconditional_softplus_and_time)
{
  const Predictor p[] = {{.what = "softplus(x)", .label = -1},
                         {.what = "x, no softplus", .label = -1, .no_softplus = 1},
                         {.what = "the index k+1", .label = -1, .shift = 1},
                         {.what = "the index k-1", .label = -1, .shift = -1},
                         {.what = "p_k = 0", .label = -1, .pk = PK_ZERO},
                         {.what = "t_k for p_k", .label = -1, .pk = PK_TIME},
                         {.what = "the counts unseen", .label = -1, .blind = 1}};
  double          pv[7];
  sampler_pvalues(0, -1, 0.0, K_STEPS, MEMBERS, 3, 7, p, pv);
  check_pvalues("unconditional", 7, p, pv);
}
END_TEST

START_TEST(test_labels)
{
  /* no -label: the null class (2); -label 1: class 1, not the null class or class 0 */
  const Predictor pn[] = {{.what = "the null class", .label = 2}, {.what = "class 0", .label = 0}};
  const Predictor p1[] = {{.what = "class 1", .label = 1},
                          {.what = "the null class", .label = 2},
                          {.what = "class 0", .label = 0},
                          {.what = "class 1 at k+1", .label = 1, .shift = 1}};
  double          pv[4];
  sampler_pvalues(2, -1, 0.0, K_STEPS, MEMBERS, 4, 2, pn, pv);
  check_pvalues("no label", 2, pn, pv);
  sampler_pvalues(2, 1, 0.0, K_STEPS, MEMBERS, 5, 4, p1, pv);
  check_pvalues("-label 1", 4, p1, pv);
}
END_TEST

START_TEST(test_guidance)
{
  /* -label 0 -guidance 1.5: yhat = yhat_0^2.5 / yhat_null^1.5 */
  const Predictor p[] = {{.what = "guidance on log rates", .label = 0, .null = 2, .w = 1.5},
                         {.what = "class 0 unguided", .label = 0},
                         {.what = "guidance of the wrong sign", .label = 0, .null = 2, .w = -1.5},
                         {.what = "guidance away from class 0", .label = 2, .null = 0, .w = 1.5},
                         {.what = "guidance on rates", .label = 0, .null = 2, .w = 1.5, .space = GUIDE_RATES},
                         {.what = "guidance on raw outputs", .label = 0, .null = 2, .w = 1.5, .space = GUIDE_RAW},
                         {.what = "guidance weight 1.4", .label = 0, .null = 2, .w = 1.4},
                         {.what = "guided at k+1", .label = 0, .null = 2, .w = 1.5, .shift = 1}};
  double          pv[8];
  sampler_pvalues(2, 0, 1.5, K_STEPS, MEMBERS, 6, 8, p, pv);
  check_pvalues("-label 0 -guidance 1.5", 8, p, pv);
}
END_TEST

Suite *suite_sampler_oracle(void)
{
  Suite *s  = suite_create("sampler_oracle");
  TCase *tc = tcase_create("network_predict");
  tcase_add_test(tc, test_unconditional_softplus_and_time);
  tcase_add_test(tc, test_labels);
  tcase_add_test(tc, test_guidance);
  tcase_add_test(tc, test_samples_3d);
  suite_add_tcase(s, tc);
  return s;
}
