/* BOModel: configurations and parameter counts, whole-network gradients
 * through the Poisson loss against finite differences, determinism, grids of
 * several sizes, HDF5 round trips and errors, no allocation after planning. */
#include <math.h>
#include <string.h>
#include "blackout.h"
#include "bo_model.h"
#include "bo_nn.h"
#include "testutil.h"

static void fill_uniform(float *x, size_t n, double lo, double hi, uint32_t key)
{
  BORng rng;
  BORngInit(&rng, 99, BO_RNG_TEST, key, 0);
  for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * BORngUniform(&rng));
}

/* Parameters away from the near-zero init, so that every tensor gets a
 * gradient of order one: weights U(-0.3, 0.3), norm scales around 1. */
static void randomise_params(BOModel m)
{
  for (PetscInt i = 0; i < m->ntensors; i++) {
    BOTensor *t    = &m->tensors[i];
    int       norm = strstr(t->name, "norm") && strstr(t->name, ".weight");
    fill_uniform(m->params + t->offset, t->size, norm ? 0.8 : -0.3, norm ? 1.2 : 0.3, 1000 + (uint32_t)i);
  }
}

static PetscErrorCode bo_model_create_expect(const BOModelConfig *cfg)
{
  BOModel m = NULL;
  PetscFunctionBegin;
  PetscCall(BOModelCreate(PETSC_COMM_SELF, cfg, &m));
  PetscCall(BOModelDestroy(&m));
  PetscFunctionReturn(0);
}

static BOTensor *find_tensor(BOModel m, const char *name)
{
  for (PetscInt i = 0; i < m->ntensors; i++)
    if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
  return NULL;
}

/* A batch: counts in 0..N, targets in 0..3, times, labels. */
typedef struct {
  BOModel         m;
  PetscInt        B, D, k[4], labels[4];
  double          pk[4];
  float          *nt, *y, *out, *dout, *noise; /* noise: a distributional network's input, or NULL */
  double          totals[4];
  double          params[4 * BO_MODEL_MAX_PARAMS]; /* physical values around the configuration's statistics */
  float          *inputs;                          /* B x Nz x Ny x Nx x Ci input fields, or NULL */
  PetscBool       drop[4];                         /* condition dropout per sample */
  BOForwardInputs in;
} Batch;

static void batch_init(Batch *b, BOModel m, PetscInt B)
{
  b->m = m, b->B = B, b->D = m->dim;
  b->nt   = malloc(sizeof(float) * B * b->D);
  b->y    = malloc(sizeof(float) * B * b->D);
  b->out  = malloc(sizeof(float) * B * b->D);
  b->dout = malloc(sizeof(float) * B * b->D);
  fill_uniform(b->nt, B * b->D, 0, m->cfg.max_count + 0.999, 1);
  b->noise = NULL;
  if (BOModelNoiseDim(m) > 0) {
    b->noise = malloc(sizeof(float) * B * BOModelNoiseDim(m));
    fill_uniform(b->noise, B * BOModelNoiseDim(m), -2, 2, 3);
  }
  fill_uniform(b->y, B * b->D, 0, 3.999, 2);
  for (PetscInt i = 0; i < B * b->D; i++) b->nt[i] = floorf(b->nt[i]), b->y[i] = floorf(b->y[i]);
  b->in.labels = m->cfg.num_classes ? b->labels : NULL, b->in.noise = b->noise, b->in.totals = b->totals;
  b->inputs = NULL;
  if (m->cfg.num_inputs > 0) {
    const size_t ni = (size_t)B * m->cfg.Nz * m->cfg.Ny * m->cfg.Nx * m->cfg.num_inputs;
    b->inputs       = malloc(sizeof(float) * ni);
    fill_uniform(b->inputs, ni, -3, 3, 4);
  }
  for (PetscInt i = 0; i < B; i++) /* sample 1 of 3 drops its condition (the null vector and zero inputs) */
    for (PetscInt j = 0; j < m->cfg.num_params; j++)
      b->params[i * m->cfg.num_params + j] = m->cfg.param_mean[j] + m->cfg.param_sd[j] * (0.7 * i - 0.9 + 0.3 * j);
  for (PetscInt i = 0; i < 4; i++) b->drop[i] = i == 1 && B > 2;
  b->in.params = b->params, b->in.inputs = b->inputs, b->in.drop = b->drop;
  for (PetscInt i = 0; i < B; i++) {
    b->totals[i] = 50.0 + 40.0 * i;
    b->k[i]      = (37 * i + 250) % 1000;
    b->pk[i]     = 0.2 + 0.6 * i / (double)B;
    b->labels[i] = m->cfg.num_classes ? i % (m->cfg.num_classes + 1) : 0;
  }
}

static void batch_free(Batch *b)
{
  free(b->nt), free(b->y), free(b->out), free(b->dout), free(b->noise), free(b->inputs);
}

/* Forward + Poisson loss (weight 1, scale 1 per sample); fills dout. */
static double batch_loss(Batch *b)
{
  double L = 0;
  ck_assert_int_eq(BOModelForward(b->m, b->B, b->nt, b->k, b->pk, &b->in, b->out), 0);
  for (PetscInt i = 0; i < b->B; i++)
    L += BOPoissonLoss(b->D, b->out + i * b->D, b->y + i * b->D, 1.0, 1.0, b->dout + i * b->D);
  return L;
}

/* Central differences of the loss in x[i] (a parameter or an input count)
 * against the backward pass.
 *
 * Tolerance. The whole network runs in float32, so the loss (a sum of a few
 * hundred terms of order one) carries rounding noise of about 1e-7 |L|
 * ~ 1e-5 per evaluation; divided by 2 eps = 2e-2 that is ~1e-3 in the
 * difference quotient. Truncation error with eps = 1e-2 on unit-scale
 * weights is ~1e-4 relative. GroupNorm and softmax are smooth, SiLU and
 * softplus too, so |backward - fd| <= 1e-2 + 1e-2 |backward| has a 10x
 * margin over both, while an indexing mistake gives O(1) errors. */
static int fd_check(Batch *b, float *x, float grad, const char *what, size_t idx)
{
  const float eps = 1e-2f;
  float       x0  = *x;
  *x              = x0 + eps;
  double lp       = batch_loss(b);
  *x              = x0 - eps;
  double lm       = batch_loss(b);
  *x              = x0;
  double fd       = (lp - lm) / (2.0 * eps);
  int    ok       = fabs(fd - grad) <= 1e-2 + 1e-2 * fabs(grad);
  if (!ok) fprintf(stderr, "%s[%zu]: backward %.6g, finite difference %.6g\n", what, idx, (double)grad, fd);
  return ok;
}

/* The input gradient as a whole: the derivative of the loss along the
 * direction v = sign(dn) over all input counts (v is fixed before the
 * differences, so this is an ordinary directional derivative), sum dn v =
 * sum |dn|, against central differences. Single input entries have small
 * gradients (the input scaling divides them), so the per-element check has
 * little power against a wrong scaling; summed over all B D entries it
 * shows at 1 %. A random +-1 direction would cancel to a small sum (0.3 of
 * sum |dn| = 160 on unet-tiny). Same tolerance as fd_check; the derivative
 * must be 100x its absolute part. */
static void check_input_direction(Batch *b, const float *dn, const char *name)
{
  const size_t n   = (size_t)b->B * b->D;
  const float  eps = 1e-2f;
  float       *v = malloc(sizeof(float) * n), *n0 = malloc(sizeof(float) * n);
  double       dir = 0;
  memcpy(n0, b->nt, sizeof(float) * n);
  for (size_t i = 0; i < n; i++) v[i] = dn[i] < 0 ? -1.0f : 1.0f, dir += (double)dn[i] * v[i];
  for (size_t i = 0; i < n; i++) b->nt[i] = n0[i] + eps * v[i];
  double lp = batch_loss(b);
  for (size_t i = 0; i < n; i++) b->nt[i] = n0[i] - eps * v[i];
  double lm = batch_loss(b);
  memcpy(b->nt, n0, sizeof(float) * n);
  double fd = (lp - lm) / (2.0 * eps);
  ck_assert_msg(dir > 1.0, "%s: input gradient along v is %g: too small for the check to mean anything", name, dir);
  ck_assert_msg(fabs(fd - dir) <= 1e-2 + 1e-2 * fabs(dir), "%s: input gradient along v %g, finite difference %g", name,
                dir, fd);
  free(v), free(n0);
}

/* The central difference of the loss along d with step s, (L(w + s d) -
 * L(w - s d)) / 2s, for the tensor at p (n floats, w its values), which is
 * left at w. */
static double central_difference(Batch *b, float *p, const float *w, const float *d, size_t n, double s)
{
  double L[2];
  for (int k = 0; k < 2; k++) {
    for (size_t i = 0; i < n; i++) p[i] = (float)(w[i] + (k ? -s : s) * d[i]);
    L[k] = batch_loss(b);
  }
  memcpy(p, w, sizeof(float) * n);
  return (L[0] - L[1]) / (2 * s);
}

/* Each parameter tensor as a whole: the derivative along a random +-1
 * direction d over all its entries, sum_i g_i d_i (in double), against
 * central differences D(s). A backward pass that is wrong everywhere by a
 * few percent, or zero, fails here, where single entries might pass.
 *
 * Step h = 1e-2 min(1, sqrt(64 / n)) for n entries (the step's length,
 * h sqrt(n), at most 8e-2). The differences are Richardson-extrapolated,
 * E(h) = (4 D(h) - D(2h)) / 3, truncation error O(h^4); that error is
 * bounded from the data by |E(2h) - E(h)| (E(2h)'s is 16 times E(h)'s).
 * Rounding: the float32 loss is off by about dL = c u R per evaluation,
 * u = 2^-24, R = sum_i |dL/do_i o_i| over the outputs o (the loss's
 * sensitivity to a relative error in every output), c = 8 (about c = 1 is
 * seen); D(s) is then off by dL / s, E(h) by (4 dL / h + dL / 2h) / 3 =
 * 1.5 dL / h. The check: |sum g d - E(h)| <= 3 dL / h + |E(2h) - E(h)|. The
 * rounding of w + s d to float moves the step by u |w| per entry, a
 * relative 1e-6 of it, and is left out. */
static int check_tensor_directions(Batch *b, BOModel m, const float *grads)
{
  const double u   = 0x1p-24;
  int          bad = 0;
  double       R   = 0;
  batch_loss(b);
  for (PetscInt i = 0; i < b->B * b->D; i++) R += fabs((double)b->dout[i] * b->out[i]);
  for (PetscInt t = 0; t < m->ntensors; t++) {
    const BOTensor *T = &m->tensors[t];
    const size_t    n = T->size;
    const double    h = 1e-2 * fmin(1.0, sqrt(64.0 / (double)n));
    float          *p = m->params + T->offset, *w = malloc(sizeof(float) * n), *d = malloc(sizeof(float) * n);
    double          dir = 0, D[3];
    BORng           rng;

    BORngInit(&rng, 5, BO_RNG_TEST, 2000 + (uint32_t)t, 0);
    for (size_t i = 0; i < n; i++) d[i] = BORngUniform(&rng) < 0.5 ? -1.0f : 1.0f;
    for (size_t i = 0; i < n; i++) dir += (double)grads[T->offset + i] * d[i];
    memcpy(w, p, sizeof(float) * n);
    for (int j = 0; j < 3; j++) D[j] = central_difference(b, p, w, d, n, h * (1 << j));
    const double E1 = (4 * D[0] - D[1]) / 3, E2 = (4 * D[1] - D[2]) / 3;
    const double tol = 3 * 8 * u * R / h + fabs(E2 - E1);
    if (!(fabs(E1 - dir) <= tol)) {
      fprintf(stderr, "%s: derivative along a random direction %.6g, finite difference %.6g (tolerance %.2g)\n",
              T->name, dir, E1, tol);
      bad++;
    }
    free(w), free(d);
  }
  return bad;
}

static void check_model_gradients(BOModelConfig *cfg, PetscInt B, int per_tensor)
{
  BOModel m;
  Batch   b;
  int     bad = 0, checked = 0;
  double  gmax = 0;

  BOTestOK(BOModelCreate(PETSC_COMM_SELF, cfg, &m));
  BOTestOK(BOModelInitParams(m, 7));
  randomise_params(m);
  batch_init(&b, m, B);
  batch_loss(&b);
  BOTestOK(BOModelBackward(m, b.dout));
  float *grads = malloc(sizeof(float) * m->nparams), *dn = malloc(sizeof(float) * B * b.D);
  memcpy(grads, m->grads, sizeof(float) * m->nparams);
  BOTestOK(BOModelInputGradient(m, dn));
  for (PetscInt i = 0; i < m->nparams; i++) gmax = fmax(gmax, fabs(grads[i]));
  ck_assert_msg(gmax > 1e-2, "gradients vanish (max %g): the test would prove nothing", gmax);

  for (PetscInt i = 0; i < m->ntensors; i++) {
    BOTensor *t = &m->tensors[i];
    for (int j = 0; j < per_tensor; j++) {
      size_t idx = (size_t)j * t->size / per_tensor + (t->size > 3 ? 1 : 0) * (j % 2);
      if (idx >= t->size) idx = t->size - 1;
      bad += !fd_check(&b, m->params + t->offset + idx, grads[t->offset + idx], t->name, idx);
      checked++;
    }
  }
  /* input counts: every 7th element */
  for (PetscInt i = 0; i < B * b.D; i += 7) {
    bad += !fd_check(&b, &b.nt[i], dn[i], "input", (size_t)i);
    checked++;
  }
  ck_assert_msg(bad == 0, "%s: %d of %d gradient entries disagree with finite differences", cfg->name, bad, checked);
  check_input_direction(&b, dn, cfg->name);
  bad = check_tensor_directions(&b, m, grads);
  ck_assert_msg(bad == 0, "%s: %d of %d tensors disagree with finite differences along a random direction", cfg->name,
                bad, (int)m->ntensors);
  free(grads), free(dn);
  batch_free(&b);
  BOTestOK(BOModelDestroy(&m));
}

START_TEST(test_unet_s_exact)
{
  const PetscInt shape[3] = {32, 32, 1};
  BOModelConfig  cfg;
  BOModel        m;

  BOTestOK(BOModelConfigFromName("unet-s", shape, PETSC_TRUE, 255, &cfg));
  ck_assert(cfg.kind == BO_MODEL_UNET && cfg.base_channels == 32 && cfg.nlevels == 3 && cfg.ch_mult[1] == 2 &&
            cfg.ch_mult[2] == 2 && cfg.num_res_blocks == 1 && cfg.temb_dim == 32 && cfg.temb_hidden == 128);
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg, &m));
  /* unet-s (docs/PERFORMANCE.md), counted by hand (weights + biases; GN: 2C; time bias: 128 C + C):
   * time MLP 4224 + 16512; inc 320; Res(32,32) 22752; down 9248;
   * Res(32,64) 65984 (with its 1x1 skip); down 36928; Res(64,64) 2 x 82368
   * (h2 and mid); Res(128,64) 2 x 127616; up convs 2 x 36928;
   * Res(96,32) 44416; out GN 64 + conv 289. */
  ck_assert_int_eq(m->nparams, 694561);
  ck_assert_ptr_nonnull(find_tensor(m, "down1.res0.conv1.weight"));
  ck_assert_ptr_nonnull(find_tensor(m, "up0.res0.skip.weight"));
  ck_assert_ptr_null(find_tensor(m, "down0.res0.skip.weight")); /* 32 -> 32: identity */
  BOTensor *t = find_tensor(m, "up2.res0.conv1.weight");
  ck_assert(t->ndim == 4 && t->shape[0] == 64 && t->shape[1] == 128 && t->shape[2] == 3);
  /* every float of the flat buffer belongs to exactly one tensor, in order */
  size_t off = 0;
  for (PetscInt i = 0; i < m->ntensors; i++) {
    ck_assert(m->tensors[i].offset == off);
    off += m->tensors[i].size;
  }
  ck_assert(off == (size_t)m->nparams);
  BOTestOK(BOModelDestroy(&m));
}
END_TEST

START_TEST(test_tiny_gradients)
{
  /* 7x5 with 2 components: padded to 8x6 inside; labels with the null class;
   * attention at the low level */
  const PetscInt shape[3] = {7, 5, 2};
  BOModelConfig  cfg;
  BOTestOK(BOModelConfigFromName("unet-tiny", shape, PETSC_TRUE, 4, &cfg));
  cfg.num_classes = 2;
  check_model_gradients(&cfg, 3, 2);
}
END_TEST

START_TEST(test_tiny_periodic_gradients)
{
  const PetscInt shape[3] = {8, 8, 1};
  BOModelConfig  cfg;
  BOTestOK(BOModelConfigFromName("unet-tiny", shape, PETSC_TRUE, 1, &cfg));
  cfg.periodic = PETSC_TRUE;
  check_model_gradients(&cfg, 2, 1);
}
END_TEST

START_TEST(test_mlp_gradients)
{
  const PetscInt shape[3] = {10, 0, 0};
  BOModelConfig  cfg;
  BOTestOK(BOModelConfigFromName("mlp", shape, PETSC_FALSE, 20, &cfg));
  /* 32 wide: GroupNorm groups of 4 (groups of 2 normalise to +-1 and
   * leave the input almost no gradient to check) */
  cfg.base_channels = 32, cfg.temb_hidden = 16;
  ck_assert_int_eq(cfg.input, BO_INPUT_LOG1P); /* the default for vectors */
  check_model_gradients(&cfg, 3, 2);
  cfg.input = BO_INPUT_LINEAR;
  check_model_gradients(&cfg, 3, 2);
}
END_TEST

/* A distributional network: noise channels enter with the counts (per cell
 * for fields, per member for vectors); the gradients hold, the noise
 * changes the output, and the configuration keeps the channels. */
START_TEST(test_distributional_gradients)
{
  const PetscInt fshape[3] = {8, 6, 2}, vshape[3] = {10, 0, 0};
  BOModelConfig  cfg;
  BOTestOK(BOModelConfigFromName("unet-tiny", fshape, PETSC_TRUE, 6, &cfg));
  cfg.noise_channels = 2, cfg.noise_latent = 5;
  check_model_gradients(&cfg, 3, 2);
  cfg.noise_channels = 0; /* the latent alone */
  check_model_gradients(&cfg, 3, 2);
  /* conditioned on the members' totals (through its own MLP) */
  cfg.condition_total = PETSC_TRUE, cfg.total_mean = 4.0, cfg.total_sd = 0.7;
  check_model_gradients(&cfg, 3, 2);
  BOTestOK(BOModelConfigFromName("mlp", vshape, PETSC_FALSE, 20, &cfg));
  cfg.base_channels = 32, cfg.temb_hidden = 16, cfg.noise_channels = 3;
  check_model_gradients(&cfg, 3, 2);
  cfg.noise_channels = 0, cfg.noise_latent = 4;
  check_model_gradients(&cfg, 3, 2);

  /* the noise matters, and only a distributional network reads it */
  BOModel m;
  Batch   b;
  BOTestOK(BOModelConfigFromName("unet-tiny", fshape, PETSC_TRUE, 6, &cfg));
  cfg.noise_channels = 1, cfg.noise_latent = 3;
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg, &m));
  ck_assert_int_eq(BOModelNoiseDim(m), 8 * 6 + 3);
  BOTestOK(BOModelInitParams(m, 7));
  randomise_params(m);
  batch_init(&b, m, 2);
  batch_loss(&b);
  float *out1 = malloc(sizeof(float) * 2 * b.D);
  memcpy(out1, b.out, sizeof(float) * 2 * b.D);
  b.noise[5] += 1.0f; /* a cell's noise */
  batch_loss(&b);
  ck_assert(memcmp(out1, b.out, sizeof(float) * 2 * b.D));
  memcpy(out1, b.out, sizeof(float) * 2 * b.D);
  b.noise[8 * 6 + 1] += 1.0f; /* the latent's */
  batch_loss(&b);
  ck_assert(memcmp(out1, b.out, sizeof(float) * 2 * b.D));
  free(out1);
  batch_free(&b);
  BOTestOK(BOModelDestroy(&m));
}
END_TEST

/* Conditioned on simulator parameters (their MLP into the time embedding,
 * a learned null vector for the dropped sample) and on input fields (extra
 * input channels): the gradients of every tensor, with and without labels,
 * on a U-Net and an MLP; a parameter, an input field and the dropout flag
 * each change the output, and a dropped sample ignores its params. */
static void set_params(BOModelConfig *cfg, PetscInt P)
{
  cfg->num_params = P;
  snprintf(cfg->param_names, sizeof(cfg->param_names), P == 3 ? "corr_len,sigma,pvi" : "a,b");
  for (PetscInt j = 0; j < P; j++)
    cfg->param_mean[j] = 2.0 + j, cfg->param_sd[j] = 0.5 + 0.25 * j, cfg->param_min[j] = 1.0,
    cfg->param_max[j] = 4.0 + j;
}

START_TEST(test_condition_gradients)
{
  const PetscInt fshape[3] = {7, 5, 2}, vshape[3] = {10, 0, 0};
  BOModelConfig  cfg;
  BOTestOK(BOModelConfigFromName("unet-tiny", fshape, PETSC_TRUE, 4, &cfg));
  set_params(&cfg, 3);
  check_model_gradients(&cfg, 3, 2);
  cfg.num_inputs = 2, cfg.input_mean[0] = 0.5, cfg.input_sd[0] = 1.5, cfg.input_mean[1] = -1, cfg.input_sd[1] = 2;
  cfg.num_classes = 2;
  check_model_gradients(&cfg, 3, 2);
  cfg.num_params = 0; /* inputs alone */
  check_model_gradients(&cfg, 3, 2);
  set_params(&cfg, 3), cfg.film = PETSC_TRUE; /* FiLM: the embedding scales and shifts */
  check_model_gradients(&cfg, 3, 2);
  BOTestOK(BOModelConfigFromName("mlp", vshape, PETSC_FALSE, 20, &cfg));
  cfg.base_channels = 32, cfg.temb_hidden = 16;
  set_params(&cfg, 2);
  check_model_gradients(&cfg, 3, 2);
  cfg.film = PETSC_TRUE;
  check_model_gradients(&cfg, 3, 2);
  cfg.film       = PETSC_FALSE;
  cfg.num_inputs = 1, cfg.input_sd[0] = 1;
  ck_assert(BOTestExpectError(bo_model_create_expect(&cfg)) == PETSC_ERR_ARG_INCOMP); /* vectors have no fields */
}
END_TEST

START_TEST(test_condition_effects)
{
  const PetscInt fshape[3] = {8, 6, 1};
  BOModelConfig  cfg;
  BOModel        m;
  Batch          b;
  BOTestOK(BOModelConfigFromName("unet-tiny", fshape, PETSC_TRUE, 6, &cfg));
  set_params(&cfg, 2);
  cfg.num_inputs = 1, cfg.input_sd[0] = 1;
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg, &m));
  BOTestOK(BOModelInitParams(m, 7));
  randomise_params(m);
  batch_init(&b, m, 3);
  const size_t n   = 3 * (size_t)b.D;
  float       *ref = malloc(sizeof(float) * n);
  batch_loss(&b);
  memcpy(ref, b.out, sizeof(float) * n);
  b.params[2 * 2 + 1] += 0.5; /* sample 2's second parameter: only sample 2 moves */
  batch_loss(&b);
  ck_assert(!memcmp(ref, b.out, sizeof(float) * 2 * b.D) && memcmp(ref + 2 * b.D, b.out + 2 * b.D, b.D * 4));
  b.params[2 * 2 + 1] -= 0.5, b.params[1 * 2 + 0] += 1.0; /* the dropped sample 1 ignores its params */
  batch_loss(&b);
  ck_assert(!memcmp(ref, b.out, sizeof(float) * n));
  b.inputs[1 * 8 * 6 + 5] += 1.0f; /* and its inputs */
  batch_loss(&b);
  ck_assert(!memcmp(ref, b.out, sizeof(float) * n));
  b.inputs[0 * 8 * 6 + 5] += 1.0f; /* sample 0's input field matters */
  batch_loss(&b);
  ck_assert(memcmp(ref, b.out, sizeof(float) * b.D));
  b.inputs[0 * 8 * 6 + 5] -= 1.0f, b.drop[1] = PETSC_FALSE; /* the dropout flag matters */
  batch_loss(&b);
  ck_assert(memcmp(ref + b.D, b.out + b.D, sizeof(float) * b.D));
  b.params[0] = NAN; /* a NaN parameter is refused */
  ck_assert(BOTestExpectError(BOModelForward(m, 3, b.nt, b.k, b.pk, &b.in, b.out)) == PETSC_ERR_ARG_OUTOFRANGE);
  free(ref);
  batch_free(&b);
  BOTestOK(BOModelDestroy(&m));
}
END_TEST

/* log1p input: fields keep the linear scaling, vectors default to log1p, and
 * a log1p network on counts n computes what the same network with linear
 * input computes on n' = N/2 (log(1 + n) + p), which the linear scaling maps
 * to log(1 + n). Float rounding of n' (|n'| <= 10 N) moves the input by
 * ~1e-6, the outputs by about as much; a wrong transform moves them by O(1). */
START_TEST(test_log1p_input)
{
  const PetscInt shape[3] = {10, 0, 0}, fshape[3] = {8, 8, 1};
  BOModelConfig  cfg;
  BOModel        mlog, mlin;
  Batch          b;
  double         diff = 0, moved = 0, omax = 0;

  BOTestOK(BOModelConfigFromName("unet-tiny", fshape, PETSC_TRUE, 16, &cfg));
  ck_assert_int_eq(cfg.input, BO_INPUT_LINEAR);
  BOTestOK(BOModelConfigAuto(fshape, PETSC_TRUE, 16, &cfg));
  ck_assert_int_eq(cfg.input, BO_INPUT_LINEAR);
  BOTestOK(BOModelConfigAuto(shape, PETSC_FALSE, 20, &cfg));
  ck_assert_int_eq(cfg.input, BO_INPUT_LOG1P);

  cfg.base_channels = 32, cfg.temb_hidden = 16; /* GroupNorm groups of 4, see test_mlp_gradients */
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg, &mlog));
  BOTestOK(BOModelInitParams(mlog, 3));
  randomise_params(mlog);
  cfg.input = BO_INPUT_LINEAR;
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg, &mlin));
  memcpy(mlin->params, mlog->params, sizeof(float) * mlog->nparams);

  batch_init(&b, mlog, 4);
  float *ref = malloc(sizeof(float) * b.B * b.D), *nt = malloc(sizeof(float) * b.B * b.D);
  BOTestOK(BOModelForward(mlog, b.B, b.nt, b.k, b.pk, NULL, b.out));
  BOTestOK(BOModelForward(mlin, b.B, b.nt, b.k, b.pk, NULL, ref));
  for (PetscInt i = 0; i < b.B * b.D; i++) moved = fmax(moved, fabs(ref[i] - b.out[i]));
  for (PetscInt i = 0; i < b.B; i++)
    for (PetscInt j = 0; j < b.D; j++)
      nt[i * b.D + j] = (float)(0.5 * cfg.max_count * (log1p(b.nt[i * b.D + j]) + b.pk[i]));
  BOTestOK(BOModelForward(mlin, b.B, nt, b.k, b.pk, NULL, ref));
  for (PetscInt i = 0; i < b.B * b.D; i++) diff = fmax(diff, fabs(ref[i] - b.out[i])), omax = fmax(omax, fabs(ref[i]));
  ck_assert_msg(moved > 1e-2 * omax, "the input scaling does not change the output (%g of %g)", moved, omax);
  ck_assert_msg(diff <= 1e-4 * omax, "log1p input: %g off (outputs up to %g)", diff, omax);

  /* the input gradient by the chain rule: dL/dn = dL/dn' dn'/dn = dL/dn' N / (2 (1 + n)) */
  float *dlog = malloc(sizeof(float) * b.B * b.D), *dlin = malloc(sizeof(float) * b.B * b.D);
  double gdiff = 0, gmax = 0;
  for (PetscInt i = 0; i < b.B; i++) BOPoissonLoss(b.D, ref + i * b.D, b.y + i * b.D, 1.0, 1.0, b.dout + i * b.D);
  BOTestOK(BOModelBackward(mlin, b.dout));
  BOTestOK(BOModelInputGradient(mlin, dlin));
  BOTestOK(BOModelForward(mlog, b.B, b.nt, b.k, b.pk, NULL, b.out));
  BOTestOK(BOModelBackward(mlog, b.dout));
  BOTestOK(BOModelInputGradient(mlog, dlog));
  for (PetscInt i = 0; i < b.B * b.D; i++) {
    double want = dlin[i] * 0.5 * cfg.max_count / (1.0 + b.nt[i]);
    gdiff = fmax(gdiff, fabs(dlog[i] - want)), gmax = fmax(gmax, fabs(want));
  }
  ck_assert_msg(gmax > 0 && gdiff <= 1e-4 * gmax, "log1p input gradient: %g off (values up to %g)", gdiff, gmax);
  free(ref), free(nt), free(dlog), free(dlin);
  batch_free(&b);
  BOTestOK(BOModelDestroy(&mlog));
  BOTestOK(BOModelDestroy(&mlin));
}
END_TEST

/* model_input round trip; without the attribute (checkpoints written before
 * it existed) the network is linear; an unknown value is an error. */
START_TEST(test_input_attribute)
{
  const PetscInt shape[3] = {10, 0, 0};
  BOModelConfig  cfg, cfg2;
  char           path[PETSC_MAX_PATH_LEN];
  hid_t          file, attr;
  int64_t        bad = 7;

  BOTestOK(BOModelConfigFromName("mlp", shape, PETSC_FALSE, 20, &cfg));
  file = H5Fcreate(BOTestPath("input.h5", path, sizeof(path)), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ck_assert(file >= 0);
  BOTestOK(BOModelConfigSave(&cfg, file));
  BOTestOK(BOModelConfigLoad(file, &cfg2));
  ck_assert_int_eq(cfg2.input, BO_INPUT_LOG1P);
  ck_assert(H5Adelete(file, "model_input") >= 0);
  BOTestOK(BOModelConfigLoad(file, &cfg2));
  ck_assert_int_eq(cfg2.input, BO_INPUT_LINEAR);
  BOTestOK(BOModelConfigSave(&cfg, file));
  attr = H5Aopen(file, "model_input", H5P_DEFAULT);
  ck_assert(attr >= 0 && H5Awrite(attr, H5T_NATIVE_INT64, &bad) >= 0);
  H5Aclose(attr);
  BOTestExpectErrorMessage(BOModelConfigLoad(file, &cfg2), "unknown input scaling 7");
  H5Fclose(file);
}
END_TEST

/* BOModelEstimateWorkspace against the workspace a real forward and
 * backward hold, for two networks and batches: never below it (it is used
 * to refuse batches before they are allocated) and at most twice it. */
START_TEST(test_workspace_estimate)
{
  const char    *names[3] = {"auto", "unet-tiny", "unet-tiny"}; /* the last on a 4 x 8 x 8 volume */
  const PetscInt sizes[3] = {8, 12, 8}, batches[2] = {3, 4};    /* a Batch holds up to 4 */
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 2; j++) {
      const PetscInt shape[3] = {sizes[i], sizes[i], 1}, shape4[4] = {4, sizes[i], sizes[i], 1};
      BOModelConfig  cfg;
      BOModel        m;
      Batch          b;
      double         fwd, train;
      size_t         held;
      if (i < 2) BOTestOK(BOModelConfigFromName(names[i], shape, PETSC_TRUE, 16, &cfg));
      else BOTestOK(BOModelConfigFromName3D(names[i], shape4, 16, &cfg));
      BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg, &m));
      BOTestOK(BOModelInitParams(m, 3));
      BOTestOK(BOModelEstimateWorkspace(m, batches[j], PETSC_FALSE, &fwd));
      BOTestOK(BOModelEstimateWorkspace(m, batches[j], PETSC_TRUE, &train));
      BOTestOK(BOModelDestroy(&m));
      BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg, &m)); /* a fresh one: no workspace but this batch's */
      BOTestOK(BOModelInitParams(m, 3));
      batch_init(&b, m, (int)batches[j]);
      batch_loss(&b);
      BOTestOK(BOModelGetWorkspaceSize(m, &held));
      ck_assert_msg(fwd >= (double)held && fwd <= 2.0 * held, "%s B=%d: forward estimate %.0f, held %zu", names[i],
                    (int)batches[j], fwd, held);
      BOTestOK(BOModelBackward(m, b.dout));
      BOTestOK(BOModelGetWorkspaceSize(m, &held));
      ck_assert_msg(train >= (double)held && train <= 2.0 * held, "%s B=%d: training estimate %.0f, held %zu", names[i],
                    (int)batches[j], train, held);
      batch_free(&b);
      BOTestOK(BOModelDestroy(&m));
    }
}
END_TEST

START_TEST(test_deterministic)
{
  const PetscInt shape[3] = {8, 8, 1};
  BOModelConfig  cfg;
  BOModel        m;
  Batch          b;
  BOTestOK(BOModelConfigAuto(shape, PETSC_TRUE, 16, &cfg));
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg, &m));
  BOTestOK(BOModelInitParams(m, 3));
  randomise_params(m);
  batch_init(&b, m, 4);
  float *out1 = malloc(sizeof(float) * 4 * b.D), *g1 = malloc(sizeof(float) * m->nparams);
  batch_loss(&b);
  BOTestOK(BOModelBackward(m, b.dout));
  memcpy(out1, b.out, sizeof(float) * 4 * b.D);
  memcpy(g1, m->grads, sizeof(float) * m->nparams);
  batch_loss(&b);
  BOTestOK(BOModelBackward(m, b.dout));
  ck_assert(!memcmp(out1, b.out, sizeof(float) * 4 * b.D));
  ck_assert(!memcmp(g1, m->grads, sizeof(float) * m->nparams));
  /* the init is a function of the seed alone */
  float *p1 = malloc(sizeof(float) * m->nparams);
  BOTestOK(BOModelInitParams(m, 3));
  memcpy(p1, m->params, sizeof(float) * m->nparams);
  BOTestOK(BOModelInitParams(m, 3));
  ck_assert(!memcmp(p1, m->params, sizeof(float) * m->nparams));
  BOTestOK(BOModelInitParams(m, 4));
  ck_assert(memcmp(p1, m->params, sizeof(float) * m->nparams));
  free(out1), free(g1), free(p1);
  batch_free(&b);
  BOTestOK(BOModelDestroy(&m));
}
END_TEST

/* The output for one sample does not depend on the other samples of the
 * batch or on the batch size, bit for bit (the sampler's ensembles are then
 * identical for any micro-batch): sample i of a batch of 7 against the same
 * sample alone, for unet-s (Winograd row path, 32x32 and 16x16 grids) and
 * 12x12 unet-tiny (gather path, attention), zero and periodic padding, under
 * every configuration of our own GEMM kernels (with and without Winograd).
 * cblas is not checked: OpenBLAS's summation order can depend on the width
 * of a product (1x1 and stride-2 convolutions). */
static void check_batch_independent(const char *name, PetscInt n, PetscBool periodic, int nkern,
                                    const BONNKernels kern[])
{
  const PetscInt shape[3] = {n, n, 1}, B = 7;
  BOModelConfig  cfg;
  BOModel        m;
  BONNKernels    old;
  BOTestOK(BOModelConfigFromName(name, shape, PETSC_TRUE, 255, &cfg));
  cfg.periodic = periodic;
  if (periodic) cfg.nlevels = 2;
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg, &m));
  BOTestOK(BOModelInitParams(m, 2));
  randomise_params(m);
  const PetscInt D = m->dim;
  float   *nt = malloc(sizeof(float) * B * D), *out = malloc(sizeof(float) * B * D), *one = malloc(sizeof(float) * D);
  PetscInt k[7];
  double   pk[7];
  fill_uniform(nt, B * D, 0, 255.999, 81);
  for (PetscInt i = 0; i < B * D; i++) nt[i] = floorf(nt[i]);
  for (PetscInt i = 0; i < B; i++) k[i] = 100 + 131 * i, pk[i] = 0.1 + 0.12 * i;
  for (int c = 0; c < nkern; c++) {
    ck_assert_int_eq(bo_nn_kernels_set(kern[c], &old), 0);
    BOTestOK(BOModelForward(m, B, nt, k, pk, NULL, out));
    for (PetscInt i = 0; i < B; i++) {
      BOTestOK(BOModelForward(m, 1, nt + i * D, k + i, pk + i, NULL, one));
      ck_assert_msg(!memcmp(one, out + i * D, sizeof(float) * D), "%s %s: sample %d alone differs from batch of 7",
                    name, BOTestKernelName(kern[c]), (int)i);
    }
    bo_nn_kernels_set(old, NULL);
  }
  free(nt), free(out), free(one);
  BOTestOK(BOModelDestroy(&m));
}

static int own_gemm_kernels(BONNKernels k) { return k.gemm != BO_GEMM_BLAS; }

START_TEST(test_batch_independent)
{
  BONNKernels kern[6];
  const int   nkern = BOTestKernelConfigs("test_batch_independent", own_gemm_kernels, kern);
  check_batch_independent("unet-s", 32, PETSC_FALSE, nkern, kern);
  check_batch_independent("unet-tiny", 12, PETSC_FALSE, nkern, kern);
  check_batch_independent("unet-tiny", 12, PETSC_TRUE, nkern, kern);
}
END_TEST

static void run_grid(PetscInt Ny, PetscInt Nx, PetscInt C, PetscInt *nparams)
{
  const PetscInt shape[3] = {Ny, Nx, C};
  BOModelConfig  cfg;
  BOModel        m;
  Batch          b;
  BOTestOK(BOModelConfigAuto(shape, PETSC_TRUE, 255, &cfg));
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg, &m));
  BOTestOK(BOModelInitParams(m, 1));
  batch_init(&b, m, 2);
  double L = batch_loss(&b);
  ck_assert(isfinite(L));
  /* the init makes the output constant: every raw output is the out bias (0) up to 1e-10 weights */
  for (PetscInt i = 0; i < 2 * b.D; i++) ck_assert(fabsf(b.out[i]) < 1e-4f);
  BOTestOK(BOModelBackward(m, b.dout));
  for (PetscInt i = 0; i < m->nparams; i++) ck_assert(isfinite(m->grads[i]));
  *nparams = m->nparams;
  batch_free(&b);
  BOTestOK(BOModelDestroy(&m));
}

START_TEST(test_grids)
{
  PetscInt n8, n28, n13;
  run_grid(8, 8, 1, &n8);
  run_grid(28, 28, 1, &n28);
  run_grid(13, 11, 3, &n13);
  ck_assert_msg(n8 > 50000 && n8 < 200000, "8x8 auto model has %d parameters", (int)n8);
  ck_assert_msg(n28 > 300000 && n28 < 2000000, "28x28 auto model has %d parameters", (int)n28);
  /* periodic odd grids cannot be padded: fewer levels or an error */
  const PetscInt shape[3] = {13, 11, 1};
  BOModelConfig  cfg;
  BOModel        m = NULL;
  BOTestOK(BOModelConfigAuto(shape, PETSC_TRUE, 255, &cfg));
  cfg.periodic = PETSC_TRUE;
  ck_assert(BOTestExpectError(BOModelCreate(PETSC_COMM_SELF, &cfg, &m)) != 0);
  cfg.nlevels = 1;
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg, &m));
  BOTestOK(BOModelDestroy(&m));
}
END_TEST

START_TEST(test_save_load)
{
  const PetscInt shape[3] = {8, 8, 1};
  BOModelConfig  cfg, cfg2;
  BOModel        m, m2, m3;
  char           path[PETSC_MAX_PATH_LEN];
  hid_t          file;

  BOTestOK(BOModelConfigFromName("unet-tiny", shape, PETSC_TRUE, 16, &cfg));
  cfg.num_classes = 10, cfg.noise_channels = 2, cfg.noise_latent = 7;
  set_params(&cfg, 3);
  cfg.num_inputs = 1, cfg.input_mean[0] = -0.25, cfg.input_sd[0] = 0.75, cfg.film = PETSC_TRUE;
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg, &m));
  BOTestOK(BOModelInitParams(m, 11));
  randomise_params(m);
  file = H5Fcreate(BOTestPath("model.h5", path, sizeof(path)), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ck_assert(file >= 0);
  BOTestOK(BOModelConfigSave(&m->cfg, file));
  BOTestOK(BOModelSaveParams(m, file, m->params));
  BOTestOK(BOModelSaveParams(m, file, m->params)); /* saving twice replaces */
  H5Fclose(file);

  file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  ck_assert(file >= 0);
  BOTestOK(BOModelConfigLoad(file, &cfg2));
  ck_assert(!strcmp(cfg2.name, "unet-tiny") && cfg2.num_classes == 10 && cfg2.max_count == 16 && cfg2.attn[1] == 1 &&
            cfg2.Ny == 8 && cfg2.temb_dim == cfg.temb_dim && cfg2.noise_channels == 2 && cfg2.noise_latent == 7 &&
            cfg2.film);
  /* the conditioning, with its statistics and range, round-trips exactly */
  ck_assert(cfg2.num_params == 3 && !strcmp(cfg2.param_names, "corr_len,sigma,pvi") && cfg2.num_inputs == 1 &&
            cfg2.input_mean[0] == -0.25 && cfg2.input_sd[0] == 0.75);
  for (int j = 0; j < 3; j++)
    ck_assert(cfg2.param_mean[j] == cfg.param_mean[j] && cfg2.param_sd[j] == cfg.param_sd[j] &&
              cfg2.param_min[j] == cfg.param_min[j] && cfg2.param_max[j] == cfg.param_max[j]);
  ck_assert_ptr_nonnull(find_tensor(m, "params_emb.null"));
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg2, &m2));
  ck_assert_int_eq(m2->nparams, m->nparams);
  BOTestOK(BOModelLoadParams(m2, file, m2->params));
  ck_assert(!memcmp(m->params, m2->params, sizeof(float) * m->nparams));

  /* without FiLM the time embeddings' shapes differ */
  cfg2.film = PETSC_FALSE;
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg2, &m3));
  ck_assert(BOTestExpectError(BOModelLoadParams(m3, file, m3->params)) == PETSC_ERR_FILE_UNEXPECTED);
  BOTestOK(BOModelDestroy(&m3));
  cfg2.film = PETSC_TRUE;
  /* a different network: wider channels -> shape mismatch named in the error */
  cfg2.base_channels = 16;
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg2, &m3));
  ck_assert(BOTestExpectError(BOModelLoadParams(m3, file, m3->params)) == PETSC_ERR_FILE_UNEXPECTED);
  BOTestOK(BOModelDestroy(&m3));
  /* unconditional: no label_emb; with more classes than saved: mismatch */
  cfg2.base_channels = 8, cfg2.num_classes = 11;
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg2, &m3));
  ck_assert(BOTestExpectError(BOModelLoadParams(m3, file, m3->params)) == PETSC_ERR_FILE_UNEXPECTED);
  BOTestOK(BOModelDestroy(&m3));
  /* a tensor the file lacks: two res blocks per level */
  cfg2.num_classes = 10, cfg2.num_res_blocks = 2;
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg2, &m3));
  ck_assert(BOTestExpectError(BOModelLoadParams(m3, file, m3->params)) == PETSC_ERR_FILE_UNEXPECTED);
  BOTestOK(BOModelDestroy(&m3));
  H5Fclose(file);
  BOTestOK(BOModelDestroy(&m));
  BOTestOK(BOModelDestroy(&m2));
}
END_TEST

/* Allocation counters for test_no_allocation_after_plan. PETSc's own
 * accounting (PetscMallocGetCurrentUsage) reads 0 unless its tracing malloc
 * is on (-malloc_debug), which it is not in this build nor under make check,
 * so the test wraps the allocator PETSc calls (the PetscTrMalloc and
 * PetscTrRealloc pointers of petscsys.h) with counters that pass each call
 * on to the saved one; whichever allocator is in use keeps working, and a
 * PetscMalloc/PetscFree pair counts as one call. Plain malloc is not seen
 * (the model allocates through PETSc, but for two scratch arrays while
 * planning; glibc's mallinfo2 cannot stand in: its bytes in use include
 * chunks cached for reuse, so a small leak does not show, as tried). */
static PetscErrorCode (*saved_malloc)(size_t, PetscBool, int, const char[], const char[], void **);
static PetscErrorCode (*saved_realloc)(size_t, int, const char[], const char[], void **);
static long petsc_allocs;

static PetscErrorCode counting_malloc(size_t n, PetscBool clear, int line, const char fn[], const char file[], void **p)
{
  petsc_allocs++;
  return saved_malloc(n, clear, line, fn, file, p);
}

static PetscErrorCode counting_realloc(size_t n, int line, const char fn[], const char file[], void **p)
{
  petsc_allocs++;
  return saved_realloc(n, line, fn, file, p);
}

static void check_no_allocation(const BOModelConfig *cfg)
{
  BOModel m;
  Batch   b;
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, cfg, &m));
  BOTestOK(BOModelInitParams(m, 5));
  batch_init(&b, m, 4);
  batch_loss(&b);
  BOTestOK(BOModelBackward(m, b.dout));

  /* the counters see allocations: one PetscMalloc/PetscFree pair counts */
  void *probe;
  saved_malloc = PetscTrMalloc, saved_realloc = PetscTrRealloc;
  PetscTrMalloc = counting_malloc, PetscTrRealloc = counting_realloc;
  petsc_allocs = 0;
  BOTestOK(PetscMalloc(64, &probe));
  BOTestOK(PetscFree(probe));
  const long probe_allocs = petsc_allocs;

  petsc_allocs = 0;
  batch_loss(&b);
  BOTestOK(BOModelBackward(m, b.dout));
  b.B = 2; /* a smaller batch reuses the workspaces */
  batch_loss(&b);
  BOTestOK(BOModelBackward(m, b.dout));
  const long allocs = petsc_allocs;
  PetscTrMalloc = saved_malloc, PetscTrRealloc = saved_realloc;

  ck_assert_msg(probe_allocs == 1, "the counter saw %ld PetscMalloc calls for one", probe_allocs);
  ck_assert_msg(allocs == 0, "forward and backward after planning called PetscMalloc %ld times", allocs);
  batch_free(&b);
  BOTestOK(BOModelDestroy(&m));
}

/* the 2-D unet-tiny and the 3-D one (4 x 8 x 8, z halved) */
START_TEST(test_no_allocation_after_plan)
{
  const PetscInt shape[3] = {8, 8, 1}, shape4[4] = {4, 8, 8, 1};
  BOModelConfig  cfg;
  BOTestOK(BOModelConfigFromName("unet-tiny", shape, PETSC_TRUE, 16, &cfg));
  check_no_allocation(&cfg);
  BOTestOK(BOModelConfigFromName3D("unet-tiny", shape4, 16, &cfg));
  check_no_allocation(&cfg);
}
END_TEST

START_TEST(test_unet_s_runs)
{
  const PetscInt shape[3] = {32, 32, 1};
  BOModelConfig  cfg;
  BOModel        m;
  Batch          b;
  BOTestOK(BOModelConfigFromName("unet-s", shape, PETSC_TRUE, 255, &cfg));
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg, &m));
  BOTestOK(BOModelInitParams(m, 1));
  randomise_params(m);
  batch_init(&b, m, 2);
  ck_assert(isfinite(batch_loss(&b)));
  BOTestOK(BOModelBackward(m, b.dout));
  for (PetscInt i = 0; i < m->nparams; i++) ck_assert(isfinite(m->grads[i]));
  batch_free(&b);
  BOTestOK(BOModelDestroy(&m));
}
END_TEST

/* ---- the 3-D U-Net (issue #16) ------------------------------------------------------------ */

/* Gradients of the whole 3-D network, as check_model_gradients does for 2-D:
 * Nz = 4 (level 1 halves z: 4 -> 2) and Nz = 3 (odd: z kept), attention at
 * the coarse level over its D*H*W voxels, labels; then a 3-level network on
 * 8 x 8 x 8 (z halved twice: 8, 4, 2) with noise, params, input fields and
 * a padded 7 x 6 grid. */
/* The tolerances of fd_check model float32 rounding of direct sums. The
 * 3-D convolutions run their 2-D terms by Winograd F(4x4, 3x3) where the CPU
 * has it, whose rounding is about 30x that (docs/PERFORMANCE.md), and the 3-D
 * loss sums 4x the terms of the 2-D one: the differences are then as noisy as
 * the tolerance. So the graph is checked here on direct sums (Winograd off),
 * and test_unet3d_winograd_agrees compares the two on the whole network. */
START_TEST(test_unet3d_gradients)
{
  const PetscInt s4[4] = {4, 8, 8, 1}, s3[4] = {3, 8, 6, 2}, s8[4] = {8, 7, 6, 1};
  BOModelConfig  cfg;
  const int      wino = bo_nn_set_winograd(0);
  BOTestOK(BOModelConfigFromName3D("unet-tiny", s4, 4, &cfg));
  cfg.num_classes = 2;
  check_model_gradients(&cfg, 2, 2);
  BOTestOK(BOModelConfigFromName3D("unet-tiny", s3, 4, &cfg));
  check_model_gradients(&cfg, 2, 1);
  BOTestOK(BOModelConfigFromName3D("unet-tiny", s8, 6, &cfg));
  cfg.nlevels = 3, cfg.ch_mult[2] = 2, cfg.attn[1] = 0, cfg.attn[2] = 1, cfg.noise_channels = 1;
  set_params(&cfg, 2);
  cfg.num_inputs = 1, cfg.input_mean[0] = 0.5, cfg.input_sd[0] = 1.5;
  check_model_gradients(&cfg, 3, 1);
  cfg.film = PETSC_TRUE;
  check_model_gradients(&cfg, 3, 1);
  bo_nn_set_winograd(wino);
}
END_TEST

/* The 3-D network with its convolutions' 2-D terms on Winograd against the
 * same network on direct sums (the planes algorithm with Winograd off, and
 * vol2col): outputs within 1e-4 and every parameter and input gradient
 * within 1e-3 of the largest of its tensor, or of 1 % of the largest
 * gradient for tensors whose gradients nearly vanish (conv biases before a
 * GroupNorm). Winograd's error is about 4e-6 of the sum of |terms| per
 * convolution; a wrong tap or plane is O(1). */
static void unet3d_run(BOModelConfig *cfg, PetscInt B, float *out, float *grads, float *dn)
{
  BOModel m;
  Batch   b;
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, cfg, &m));
  BOTestOK(BOModelInitParams(m, 7));
  randomise_params(m);
  batch_init(&b, m, B);
  batch_loss(&b);
  BOTestOK(BOModelBackward(m, b.dout));
  memcpy(out, b.out, sizeof(float) * B * b.D);
  memcpy(grads, m->grads, sizeof(float) * m->nparams);
  BOTestOK(BOModelInputGradient(m, dn));
  batch_free(&b);
  BOTestOK(BOModelDestroy(&m));
}

static double max_abs(size_t n, const float *v)
{
  double mx = 0;
  for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(v[i]));
  return mx;
}

/* |got - want| <= rel max(max |want|, floor) + 1e-7 */
static void expect_close(const char *what, size_t n, const float *got, const float *want, double rel, double floor)
{
  double mx = fmax(max_abs(n, want), floor);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(fabs(got[i] - want[i]) <= rel * mx + 1e-7, "%s[%zu]: %.7g, direct sums %.7g (largest %.3g)", what, i,
                  (double)got[i], (double)want[i], mx);
}

START_TEST(test_unet3d_winograd_agrees)
{
  if (!bo_nn_winograd_available()) return; /* nothing to compare */
  const PetscInt s4[4] = {4, 16, 16, 1}, B = 2;
  BOModelConfig  cfg;
  BOModel        m;
  BOTestOK(BOModelConfigFromName3D("unet-tiny", s4, 4, &cfg));
  cfg.num_classes = 2;
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg, &m));
  const size_t n = (size_t)B * m->dim, np = (size_t)m->nparams;
  float       *o[3], *g[3], *d[3];
  for (int v = 0; v < 3; v++)
    o[v] = malloc(sizeof(float) * n), g[v] = malloc(sizeof(float) * np), d[v] = malloc(sizeof(float) * n);
  const int wino = bo_nn_set_winograd(1);
  unet3d_run(&cfg, B, o[0], g[0], d[0]); /* planes on Winograd */
  bo_nn_set_winograd(0);
  unet3d_run(&cfg, B, o[1], g[1], d[1]); /* planes on direct sums */
  bo_conv3d_set_vol2col(1);
  unet3d_run(&cfg, B, o[2], g[2], d[2]); /* vol2col */
  bo_conv3d_set_vol2col(0);
  bo_nn_set_winograd(wino);
  for (int v = 0; v < 2; v++) {
    const double gmax = max_abs(np, g[2]);
    expect_close(v ? "planes, direct: output" : "Winograd: output", n, o[v], o[2], 1e-4, 0);
    expect_close(v ? "planes, direct: input gradient" : "Winograd: input gradient", n, d[v], d[2], 1e-3, 0);
    for (PetscInt t = 0; t < m->ntensors; t++)
      expect_close(m->tensors[t].name, m->tensors[t].size, g[v] + m->tensors[t].offset, g[2] + m->tensors[t].offset,
                   1e-3, 1e-2 * gmax);
  }
  for (int v = 0; v < 3; v++) free(o[v]), free(g[v]), free(d[v]);
  BOTestOK(BOModelDestroy(&m));
}
END_TEST

/* The z rule (BOModelLevelGrid), sizes, tensor shapes, the output size
 * Nz Ny Nx C, the constant output at init, and the refusals. */
START_TEST(test_unet3d_shapes)
{
  /* {Nz, Ny, Nx} and the depth of each of 4 levels: halve z while it is even and >= 4 */
  const PetscInt cases[6][7] = {{4, 8, 8, 4, 2, 2, 2},   {8, 32, 32, 8, 4, 2, 2}, {6, 16, 16, 6, 3, 3, 3},
                                {2, 16, 16, 2, 2, 2, 2}, {5, 16, 16, 5, 5, 5, 5}, {16, 16, 16, 16, 8, 4, 2}};
  BOModelConfig  cfg, cfg2;
  BOModel        m;
  Batch          b;
  for (int i = 0; i < 6; i++) {
    const PetscInt shape4[4] = {cases[i][0], cases[i][1], cases[i][2], 1};
    BOTestOK(BOModelConfigFromName3D("unet-tiny", shape4, 4, &cfg));
    cfg.nlevels = 4;
    for (PetscInt l = 0; l < 4; l++) {
      PetscInt D, H, W;
      BOModelLevelGrid(&cfg, l, &D, &H, &W);
      ck_assert_msg(D == cases[i][3 + l] && H == cases[i][1] >> l && W == cases[i][2] >> l,
                    "Nz = %d, level %d: %dx%dx%d", (int)cases[i][0], (int)l, (int)D, (int)H, (int)W);
    }
  }
  /* Nz = 1 is exactly the 2-D configuration, auto included */
  const PetscInt s2[3] = {28, 28, 1}, s1[4] = {1, 28, 28, 1}, s4[4] = {4, 7, 5, 2};
  BOTestOK(BOModelConfigAuto(s2, PETSC_TRUE, 255, &cfg));
  BOTestOK(BOModelConfigFromName3D("auto", s1, 255, &cfg2));
  ck_assert(!memcmp(&cfg, &cfg2, sizeof(cfg)) && cfg.Nz == 1);
  /* a padded 3-D grid: output Nz Ny Nx C per sample, constant at init, finite gradients */
  BOTestOK(BOModelConfigFromName3D("unet-tiny", s4, 4, &cfg));
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg, &m));
  ck_assert_int_eq(m->dim, 4 * 7 * 5 * 2);
  BOTensor *t = find_tensor(m, "inc.weight"), *u = find_tensor(m, "up0.res0.skip.weight");
  ck_assert(t->ndim == 5 && t->shape[0] == 8 && t->shape[1] == 2 && t->shape[2] == 3 && t->shape[4] == 3);
  ck_assert(u->ndim == 5 && u->shape[0] == 8 && u->shape[1] == 24 && u->shape[2] == 1 && u->shape[4] == 1);
  BOTestOK(BOModelInitParams(m, 1));
  batch_init(&b, m, 2);
  ck_assert(isfinite(batch_loss(&b)));
  for (PetscInt i = 0; i < 2 * b.D; i++) ck_assert(fabsf(b.out[i]) < 1e-4f);
  BOTestOK(BOModelBackward(m, b.dout));
  for (PetscInt i = 0; i < m->nparams; i++) ck_assert(isfinite(m->grads[i]));
  batch_free(&b);
  BOTestOK(BOModelDestroy(&m));
  /* refusals: periodic 3-D, a 3-D mlp, Nz = 0 */
  cfg.periodic = PETSC_TRUE;
  BOTestExpectErrorMessage(bo_model_create_expect(&cfg), "periodic padding is not implemented for 3-D grids");
  const PetscInt vs[3] = {10, 0, 0};
  BOTestOK(BOModelConfigFromName("mlp", vs, PETSC_FALSE, 20, &cfg));
  cfg.Nz = 4;
  BOTestExpectErrorMessage(bo_model_create_expect(&cfg), "depth Nz 4");
  cfg.Nz = 0;
  BOTestExpectErrorMessage(bo_model_create_expect(&cfg), "depth Nz 0");
}
END_TEST

/* The 3-D network is the 2-D one lifted: with every 3-D kernel zero but
 * its kz = centre slice, set to the 2-D network's kernel, and an input of
 * Nz identical planes, every plane of the output is the 2-D output (the
 * GroupNorm statistics and the attention over D*H*W voxels of identical
 * planes are those of one plane; a z-halving conv and the z upsampling
 * keep the planes identical). Two res blocks per level, so that skips of
 * the same shape could be swapped; attention, labels, params and noise.
 * Only the order of float sums differs: within 1e-4 (1 + |y|). */
START_TEST(test_unet3d_lifts_2d)
{
  const PetscInt s2[3] = {8, 6, 2}, s3[4] = {4, 8, 6, 2}, B = 2;
  BOModelConfig  c2, c3;
  BOModel        m2, m3;
  BOTestOK(BOModelConfigFromName("unet-tiny", s2, PETSC_TRUE, 6, &c2));
  c2.num_res_blocks = 2, c2.num_classes = 2, c2.noise_latent = 3;
  set_params(&c2, 2);
  c3 = c2, c3.Nz = s3[0];
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &c2, &m2));
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &c3, &m3));
  BOTestOK(BOModelInitParams(m2, 3));
  randomise_params(m2);
  ck_assert_int_eq(m2->ntensors, m3->ntensors);
  memset(m3->params, 0, sizeof(float) * m3->nparams);
  for (PetscInt i = 0; i < m2->ntensors; i++) {
    const BOTensor *t2 = &m2->tensors[i], *t3 = &m3->tensors[i];
    const float    *p2 = m2->params + t2->offset;
    float          *p3 = m3->params + t3->offset;
    ck_assert(!strcmp(t2->name, t3->name));
    if (t3->ndim < 5) memcpy(p3, p2, sizeof(float) * t2->size);
    else { /* [Cout][Cin][k][k] into the kz = k/2 slice of [Cout][Cin][k][k][k] */
      const size_t k = t3->shape[2], kk = k * k, nk = t2->size / kk;
      for (size_t j = 0; j < nk; j++) memcpy(p3 + j * kk * k + (k / 2) * kk, p2 + j * kk, sizeof(float) * kk);
    }
  }
  Batch b;
  batch_init(&b, m2, B);
  const size_t D2 = (size_t)m2->dim, D3 = (size_t)m3->dim, nz = (size_t)s3[0];
  float       *nt3 = malloc(sizeof(float) * B * D3), *out3 = malloc(sizeof(float) * B * D3);
  for (PetscInt i = 0; i < B; i++)
    for (size_t z = 0; z < nz; z++) memcpy(nt3 + i * D3 + z * D2, b.nt + i * D2, sizeof(float) * D2);
  b.in.noise = NULL; /* the latent: zeros for both (the 3-D noise has more cells) */
  BOTestOK(BOModelForward(m2, B, b.nt, b.k, b.pk, &b.in, b.out));
  BOTestOK(BOModelForward(m3, B, nt3, b.k, b.pk, &b.in, out3));
  double err = 0, omax = 0;
  for (PetscInt i = 0; i < B; i++)
    for (size_t z = 0; z < nz; z++)
      for (size_t j = 0; j < D2; j++) {
        const double y = b.out[i * D2 + j], y3 = out3[i * D3 + z * D2 + j];
        err = fmax(err, fabs(y3 - y) / (1 + fabs(y))), omax = fmax(omax, fabs(y));
      }
  ck_assert_msg(omax > 0.1, "outputs too small to compare (%g)", omax);
  ck_assert_msg(err <= 1e-4, "3-D network on identical planes: %g off the 2-D one (outputs up to %g)", err, omax);
  free(nt3), free(out3);
  batch_free(&b);
  BOTestOK(BOModelDestroy(&m2));
  BOTestOK(BOModelDestroy(&m3));
}
END_TEST

/* The depth through a checkpoint: a 3-D configuration keeps Nz and its
 * 5-D tensors load back; a 2-D one writes no model_depth, so its
 * attributes are those of before; without model_depth (every older
 * checkpoint) a configuration loads as Nz = 1; 3-D tensors do not load
 * into the 2-D network. */
START_TEST(test_unet3d_save_load)
{
  const PetscInt shape4[4] = {4, 8, 8, 1};
  BOModelConfig  cfg, cfg2;
  BOModel        m, m2;
  char           path[PETSC_MAX_PATH_LEN];
  hid_t          file;

  BOTestOK(BOModelConfigFromName3D("unet-tiny", shape4, 16, &cfg));
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg, &m));
  BOTestOK(BOModelInitParams(m, 11));
  randomise_params(m);
  file = H5Fcreate(BOTestPath("model3d.h5", path, sizeof(path)), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ck_assert(file >= 0);
  BOTestOK(BOModelConfigSave(&m->cfg, file));
  BOTestOK(BOModelSaveParams(m, file, m->params));
  BOTestOK(BOModelConfigLoad(file, &cfg2));
  ck_assert(cfg2.Nz == 4 && cfg2.Ny == 8 && !memcmp(&cfg, &cfg2, sizeof(cfg)));
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg2, &m2));
  BOTestOK(BOModelLoadParams(m2, file, m2->params));
  ck_assert(m2->nparams == m->nparams && !memcmp(m->params, m2->params, sizeof(float) * m->nparams));
  BOTestOK(BOModelDestroy(&m2));
  ck_assert(H5Adelete(file, "model_depth") >= 0); /* as a checkpoint from before 3-D networks */
  BOTestOK(BOModelConfigLoad(file, &cfg2));
  ck_assert_int_eq(cfg2.Nz, 1);
  BOTestOK(BOModelCreate(PETSC_COMM_SELF, &cfg2, &m2));
  BOTestExpectErrorMessage(BOModelLoadParams(m2, file, m2->params),
                           "inc.weight in the checkpoint has a different shape");
  BOTestOK(BOModelDestroy(&m2));
  H5Fclose(file);
  cfg.Nz = 1; /* a 2-D configuration writes no depth */
  file   = H5Fcreate(BOTestPath("model2d.h5", path, sizeof(path)), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  BOTestOK(BOModelConfigSave(&cfg, file));
  ck_assert(H5Aexists(file, "model_depth") == 0);
  BOTestOK(BOModelConfigLoad(file, &cfg2));
  ck_assert(cfg2.Nz == 1 && !memcmp(&cfg, &cfg2, sizeof(cfg)));
  H5Fclose(file);
  BOTestOK(BOModelDestroy(&m));
}
END_TEST

Suite *suite_model(void)
{
  Suite *s  = suite_create("model");
  TCase *tc = tcase_create("model");
  tcase_add_test(tc, test_unet_s_exact);
  tcase_add_test(tc, test_tiny_gradients);
  tcase_add_test(tc, test_tiny_periodic_gradients);
  tcase_add_test(tc, test_mlp_gradients);
  tcase_add_test(tc, test_distributional_gradients);
  tcase_add_test(tc, test_condition_gradients);
  tcase_add_test(tc, test_condition_effects);
  tcase_add_test(tc, test_log1p_input);
  tcase_add_test(tc, test_input_attribute);
  tcase_add_test(tc, test_deterministic);
  tcase_add_test(tc, test_batch_independent);
  tcase_add_test(tc, test_grids);
  tcase_add_test(tc, test_save_load);
  tcase_add_test(tc, test_no_allocation_after_plan);
  tcase_add_test(tc, test_workspace_estimate);
  tcase_add_test(tc, test_unet_s_runs);
  tcase_add_test(tc, test_unet3d_gradients);
  tcase_add_test(tc, test_unet3d_winograd_agrees);
  tcase_add_test(tc, test_unet3d_shapes);
  tcase_add_test(tc, test_unet3d_lifts_2d);
  tcase_add_test(tc, test_unet3d_save_load);
  suite_add_tcase(s, tc);
  return s;
}
