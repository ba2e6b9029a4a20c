/* Layers of include/bo_nn.h: forward against direct formulas, backward
 * against central finite differences, linear maps by their adjoint identity.
 *
 * Finite differences. Every check uses the scalar L = sum_i r_i y_i with
 * fixed random r, accumulated in double from the float outputs, so the
 * analytic gradient is the backward pass with dy = r. The layers are smooth
 * and we perturb by eps = 1e-2 in float: the truncation error of the central
 * difference is O(eps^2 |f'''|) ~ 1e-4 relative, and the rounding error is
 * about 6e-8 sum|r y| / eps ~ 1e-5 for the few hundred outputs a perturbed
 * input touches. So |analytic - fd| <= 2e-3 (1 + |analytic|) leaves a margin
 * of 10x over both, while a wrong index or factor (errors of O(1)) fails.
 */
#include <math.h>
#include <string.h>
#include "blackout.h"
#include "bo_nn.h"
#include "testutil.h"

#define FD_EPS 1e-2
#define FD_TOL 2e-3

typedef double (*LossFn)(void *ctx);

/* Compare grad[i] with the central difference of f in x[i] at up to 24
 * indices spread over the array (all of them when n <= 24). */
static void check_fd(const char *what, float *x, const float *grad, size_t n, LossFn f, void *ctx)
{
  size_t step = n <= 24 ? 1 : n / 24;
  for (size_t i = 0; i < n; i += step) {
    float x0  = x[i];
    x[i]      = x0 + (float)FD_EPS;
    double lp = f(ctx);
    x[i]      = x0 - (float)FD_EPS;
    double lm = f(ctx);
    x[i]      = x0;
    double fd = (lp - lm) / (2 * FD_EPS);
    ck_assert_msg(fabs(fd - grad[i]) <= FD_TOL * (1 + fabs(grad[i])), "%s[%zu]: backward %.6g, finite difference %.6g",
                  what, i, (double)grad[i], fd);
  }
}

/* ---- element-wise ---------------------------------------------------------- */

typedef struct {
  int    n, which; /* 0 silu, 1 softplus */
  float *x, *y, *r;
} EwCtx;

static double ew_loss(void *c)
{
  EwCtx *e = c;
  if (e->which == 0) bo_silu_forward(e->n, e->x, e->y);
  else bo_softplus_forward(e->n, e->x, e->y);
  return BOTestDot(e->n, e->r, e->y);
}

START_TEST(test_elementwise)
{
  float x[40], y[40], r[40], dx[40];
  for (int which = 0; which < 2; which++) {
    EwCtx c = {40, which, x, y, r};
    BOTestFillUniform(x, 40, -6, 6, 1234, 1);
    BOTestFillUniform(r, 40, -1, 1, 1234, 2);
    for (int i = 0; i < 40; i++) dx[i] = 1.0f;
    if (which == 0) bo_silu_backward(40, x, r, dx, 1); /* accumulate onto 1 */
    else bo_softplus_backward(40, x, r, dx, 1);
    for (int i = 0; i < 40; i++) dx[i] -= 1.0f;
    check_fd(which ? "softplus" : "silu", x, dx, 40, ew_loss, &c);
  }
  /* softplus stays finite and exact at the extremes */
  float big[3] = {-200.0f, 0.0f, 200.0f}, out[3];
  bo_softplus_forward(3, big, out);
  ck_assert(out[0] >= 0.0f && out[0] < 1e-30f);
  ck_assert(fabsf(out[1] - logf(2.0f)) < 1e-7f);
  ck_assert(out[2] == 200.0f);
}
END_TEST

/* ---- linear ------------------------------------------------------------------ */

typedef struct {
  int    B, in, out;
  float *x, *w, *b, *y, *r;
} LinCtx;

static double lin_loss(void *c)
{
  LinCtx *l = c;
  bo_linear_forward(l->B, l->in, l->out, l->x, l->w, l->b, l->y);
  return BOTestDot((size_t)l->B * l->out, l->r, l->y);
}

START_TEST(test_linear)
{
  enum { LB = 3, LI = 5, LO = 4 };
  float  x[LB * LI], w[LO * LI], b[LO], y[LB * LO], r[LB * LO], dx[LB * LI], dw[LO * LI] = {0}, db[LO] = {0};
  LinCtx c = {LB, LI, LO, x, w, b, y, r};
  BOTestFillUniform(x, LB * LI, -1, 1, 1234, 1);
  BOTestFillUniform(w, LO * LI, -1, 1, 1234, 2);
  BOTestFillUniform(b, LO, -1, 1, 1234, 3);
  BOTestFillUniform(r, LB * LO, -1, 1, 1234, 4);
  lin_loss(&c);
  /* direct formula */
  for (int i = 0; i < LB; i++)
    for (int o = 0; o < LO; o++) {
      double s = b[o];
      for (int j = 0; j < LI; j++) s += (double)x[i * LI + j] * w[o * LI + j];
      ck_assert(fabs(s - y[i * LO + o]) < 1e-5);
    }
  bo_linear_backward(LB, LI, LO, x, w, r, dx, dw, db, 0);
  check_fd("linear dx", x, dx, LB * LI, lin_loss, &c);
  check_fd("linear dw", w, dw, LO * LI, lin_loss, &c);
  check_fd("linear db", b, db, LO, lin_loss, &c);
}
END_TEST

/* ---- convolution ----------------------------------------------------------------- */

typedef struct {
  BOConvShape s;
  float      *x, *w, *b, *y, *r, *col;
} ConvCtx;

static size_t conv_out_n(const BOConvShape *s) { return (size_t)s->Cout * s->B * bo_conv_out_h(s) * bo_conv_out_w(s); }

static double conv_loss(void *c)
{
  ConvCtx *k = c;
  bo_conv_forward(&k->s, k->x, k->w, k->b, k->y, k->col, 0);
  return BOTestDot(conv_out_n(&k->s), k->r, k->y);
}

/* Direct convolution in double, for comparison with im2col + GEMM. */
static double conv_direct(const BOConvShape *s, const float *x, const float *w, const float *b, int co, int bb, int oy,
                          int ox)
{
  double acc = b ? b[co] : 0.0;
  int    pad = s->k / 2;
  for (int ci = 0; ci < s->Cin; ci++)
    for (int ky = 0; ky < s->k; ky++)
      for (int kx = 0; kx < s->k; kx++) {
        int iy = oy * s->stride + ky - pad, ix = ox * s->stride + kx - pad;
        if (s->periodic) iy = (iy + s->H) % s->H, ix = (ix + s->W) % s->W;
        else if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W) continue;
        acc += (double)w[((co * s->Cin + ci) * s->k + ky) * s->k + kx] *
               x[((size_t)(ci * s->B + bb) * s->H + iy) * s->W + ix];
      }
  return acc;
}

static void conv_case(BOConvShape s, int check_grads)
{
  const int    Ho = bo_conv_out_h(&s), Wo = bo_conv_out_w(&s);
  const size_t nx = (size_t)s.Cin * s.B * s.H * s.W, nw = (size_t)s.Cout * s.Cin * s.k * s.k, ny = conv_out_n(&s);
  float       *x = malloc(sizeof(float) * nx), *dx = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw),
        *dw = calloc(nw, sizeof(float)), *b = malloc(sizeof(float) * s.Cout), *db = calloc(s.Cout, sizeof(float)),
        *y = malloc(sizeof(float) * ny), *r = malloc(sizeof(float) * ny),
        *col = malloc(sizeof(float) * (bo_conv_col_size(&s) + 1));
  ConvCtx c  = {s, x, w, b, y, r, col};

  BOTestFillUniform(x, nx, -1, 1, 1234, 11);
  BOTestFillUniform(w, nw, -0.5, 0.5, 1234, 12);
  BOTestFillUniform(b, s.Cout, -1, 1, 1234, 13);
  BOTestFillUniform(r, ny, -1, 1, 1234, 14);
  conv_loss(&c);
  for (int co = 0; co < s.Cout; co++)
    for (int bb = 0; bb < s.B; bb++)
      for (int oy = 0; oy < Ho; oy++)
        for (int ox = 0; ox < Wo; ox++) {
          double want = conv_direct(&s, x, w, b, co, bb, oy, ox),
                 got  = y[(((size_t)co * s.B + bb) * Ho + oy) * Wo + ox];
          ck_assert_msg(fabs(want - got) < 1e-4 * (1 + fabs(want)), "conv k%d s%d p%d: y[%d,%d,%d,%d] = %g, direct %g",
                        s.k, s.stride, s.periodic, co, bb, oy, ox, got, want);
        }
  if (check_grads) {
    /* accumulate onto 0.5 to exercise the accumulate path */
    for (size_t i = 0; i < nx; i++) dx[i] = 0.5f;
    bo_conv_backward(&s, x, w, r, dx, dw, db, col, 1);
    for (size_t i = 0; i < nx; i++) dx[i] -= 0.5f;
    check_fd("conv dx", x, dx, nx, conv_loss, &c);
    check_fd("conv dw", w, dw, nw, conv_loss, &c);
    check_fd("conv db", b, db, s.Cout, conv_loss, &c);
    /* overwrite mode gives the same dx */
    float *dx2 = malloc(sizeof(float) * nx);
    for (size_t i = 0; i < nx; i++) dx2[i] = 123.0f;
    memset(dw, 0, sizeof(float) * nw);
    bo_conv_backward(&s, x, w, r, dx2, dw, NULL, col, 0);
    for (size_t i = 0; i < nx; i++) ck_assert(fabsf(dx2[i] - dx[i]) < 1e-5f);
    free(dx2);
  }
  free(x), free(dx), free(w), free(dw), free(b), free(db), free(y), free(r), free(col);
}

START_TEST(test_conv)
{
  /* B, Cin, H, W, Cout, k, stride, periodic: odd and even sizes */
  const BOConvShape cases[] = {
      {2, 3, 5, 6, 4, 3, 1, 0}, {2, 3, 5, 6, 4, 3, 2, 0}, {2, 3, 5, 6, 4, 3, 1, 1}, {2, 3, 6, 4, 4, 3, 2, 1},
      {2, 3, 5, 6, 4, 1, 1, 0}, {2, 3, 5, 7, 4, 1, 2, 0}, {3, 2, 1, 1, 5, 1, 1, 0}, {1, 2, 2, 3, 3, 3, 1, 1},
  };
  /* every kernel configuration this CPU can run */
  BONNKernels cfg[6], old;
  const int   ncfg = BOTestKernelConfigs("test_conv", NULL, cfg);
  for (int c = 0; c < ncfg; c++) {
    ck_assert_int_eq(bo_nn_kernels_set(cfg[c], &old), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) conv_case(cases[i], 1);
    bo_nn_kernels_set(old, NULL);
  }
}
END_TEST

START_TEST(test_conv_chunked)
{
  /* 32 channels of 24x24: the im2col workspace holds fewer samples than the
   * batch, so the GEMM runs per chunk through the leading dimension */
  BOConvShape s = {3, 32, 24, 24, 5, 3, 1, 0};
  ck_assert(bo_conv_col_size(&s) < (size_t)s.B * s.Cin * 9 * 24 * 24);
  conv_case(s, 0);
  s.stride = 2, s.periodic = 1;
  conv_case(s, 0);
  /* gradients with chunks: a smaller instance with the same chunking (1 sample) */
  BOConvShape g = {2, 32, 24, 24, 2, 3, 1, 0};
  ck_assert(bo_conv_col_size(&g) < (size_t)g.B * g.Cin * 9 * 24 * 24);
  BONNKernels cfg[6], old;
  const int   ncfg = BOTestKernelConfigs("test_conv_chunked", NULL, cfg);
  for (int c = 0; c < ncfg; c++) {
    ck_assert_int_eq(bo_nn_kernels_set(cfg[c], &old), 0);
    conv_case(g, 1);
    bo_nn_kernels_set(old, NULL);
  }
}
END_TEST

/* ---- Winograd F(4x4, 3x3) forward ------------------------------------------------------------
 * Against the direct sum in double. Error scale: S = |b| + sum |w x| over the
 * terms of an output. The direct float sum is accurate to about K eps S
 * (K = 9 Cin terms, measured ~1e-7 S); the transforms add roundings of
 * partial sums amplified by the sizes of their coefficients (entries of B^T
 * up to 5, of A^T up to 8; G's 1/6 and 1/24 are inexact in binary), about
 * 30x the direct sum's error at these sizes (measured: max ~4e-6 S,
 * printed), within the bound |y - direct| <= 1e-5 S. */
static double wino_max_err(BOConvShape s)
{
  const size_t nx = (size_t)s.Cin * s.B * s.H * s.W, nw = (size_t)s.Cout * s.Cin * 9, ny = conv_out_n(&s);
  float       *x = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw), *b = malloc(sizeof(float) * s.Cout),
        *y = malloc(sizeof(float) * ny), *col = malloc(sizeof(float) * bo_conv_col_size(&s)),
        *ax = malloc(sizeof(float) * nx), *aw = malloc(sizeof(float) * nw);
  double worst = 0;
  BOTestFillUniform(x, nx, -1, 1, 1234, 61);
  BOTestFillUniform(w, nw, -0.5, 0.5, 1234, 62);
  BOTestFillUniform(b, s.Cout, -1, 1, 1234, 63);
  for (size_t i = 0; i < nx; i++) ax[i] = fabsf(x[i]);
  for (size_t i = 0; i < nw; i++) aw[i] = fabsf(w[i]);
  bo_conv_forward(&s, x, w, b, y, col, 0);
  for (int co = 0; co < s.Cout; co++)
    for (int bb = 0; bb < s.B; bb++)
      for (int oy = 0; oy < s.H; oy++)
        for (int ox = 0; ox < s.W; ox++) {
          double S    = conv_direct(&s, ax, aw, NULL, co, bb, oy, ox) + fabs(b[co]); /* the scale */
          double want = conv_direct(&s, x, w, b, co, bb, oy, ox),
                 got  = y[(((size_t)co * s.B + bb) * s.H + oy) * s.W + ox];
          double e    = fabs(got - want) / S;
          ck_assert_msg(e <= 1e-5, "winograd B%d Cin%d %dx%d Cout%d p%d: y[%d,%d,%d,%d] = %.9g, direct %.9g", s.B,
                        s.Cin, s.H, s.W, s.Cout, s.periodic, co, bb, oy, ox, got, want);
          if (e > worst) worst = e;
        }
  free(x), free(w), free(b), free(y), free(col), free(ax), free(aw);
  return worst;
}

static int winograd_kernels(BONNKernels k) { return k.winograd; }

/* err_fn (which asserts its bound) over the Winograd test shapes, zero and
 * periodic padding, for every GEMM kernel under Winograd; prints the largest
 * error as `what` (or, without AVX-512, BOTestKernelConfigs says what it
 * skipped). B, Cin, H, W, Cout (k 3, stride 1): odd sizes, channels off the vector widths, batch 1 and
 * 3, the gather path (tiles per row not a multiple of 4), the sets path
 * (tw = 4, 8) with tiles cropped at the right and bottom (W = 14, 31;
 * H = 13, 15), chunks that split samples (last case). */
static void wino_check(const char *test, const char *what, double (*err_fn)(BOConvShape))
{
  const int cases[][5] = {
      {1, 3, 5, 7, 5}, {3, 17, 9, 6, 13}, {3, 5, 15, 31, 3}, {1, 9, 16, 16, 11},
      {3, 2, 1, 1, 3}, {1, 7, 2, 3, 9},   {2, 6, 13, 14, 5}, {2, 48, 24, 32, 40},
  };
  double      worst = 0;
  BONNKernels cfg[6], old;
  const int   ncfg = BOTestKernelConfigs(test, winograd_kernels, cfg);
  for (int k = 0; k < ncfg; k++) {
    ck_assert_int_eq(bo_nn_kernels_set(cfg[k], &old), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
      for (int periodic = 0; periodic < 2; periodic++) {
        const int  *c = cases[i];
        BOConvShape s = {c[0], c[1], c[2], c[3], c[4], 3, 1, periodic};
        ck_assert_int_eq(bo_conv_algorithm(&s), BO_CONV_WINOGRAD);
        double e = err_fn(s);
        if (e > worst) worst = e;
      }
    bo_nn_kernels_set(old, NULL);
  }
  if (ncfg) printf("%s = %.2e\n", what, worst);
}

START_TEST(test_conv_winograd)
{
  wino_check("test_conv_winograd", "winograd F(4x4,3x3): max |y - direct| / (|b| + sum |w x|)", wino_max_err);
  /* without Winograd the same shape takes another path, to the same
   * tolerance (also tested in test_conv); the switch works */
  const BOConvShape s   = {1, 3, 5, 7, 5, 3, 1, 0};
  int               old = bo_nn_set_winograd(0);
  ck_assert_int_ne(bo_conv_algorithm(&s), BO_CONV_WINOGRAD);
  ck_assert(wino_max_err(s) <= 1e-5);
  ck_assert_int_eq(bo_nn_set_winograd(old), 0);
}
END_TEST

/* Which algorithm each shape takes under each kernel configuration
 * (bo_nn.h): the choice is explicit and testable. */
START_TEST(test_conv_algorithm)
{
  const BOConvShape p1 = {2, 3, 8, 8, 4, 1, 1, 0}, s3 = {2, 3, 8, 8, 4, 3, 1, 0}, per = {2, 3, 8, 8, 4, 3, 1, 1};
  const BOConvShape st2 = {2, 3, 8, 8, 4, 3, 2, 0}, st2p = {2, 3, 8, 8, 4, 1, 2, 0};
  BONNKernels       cfg[6], old;
  const int         ncfg = BOTestKernelConfigs("test_conv_algorithm", NULL, cfg);
  ck_assert_int_ge(ncfg, 1);
  for (int c = 0; c < ncfg; c++) {
    const int own = cfg[c].gemm != BO_GEMM_BLAS, w = cfg[c].winograd;
    ck_assert_int_eq(bo_nn_kernels_set(cfg[c], &old), 0);
    ck_assert_int_eq(bo_conv_algorithm(&p1), BO_CONV_POINTWISE);
    ck_assert_int_eq(bo_conv_algorithm(&s3), w ? BO_CONV_WINOGRAD : own ? BO_CONV_FUSED : BO_CONV_IM2COL);
    ck_assert_int_eq(bo_conv_algorithm(&per), w ? BO_CONV_WINOGRAD : BO_CONV_IM2COL);
    ck_assert_int_eq(bo_conv_algorithm(&st2), BO_CONV_IM2COL);
    ck_assert_int_eq(bo_conv_algorithm(&st2p), BO_CONV_IM2COL);
    bo_nn_kernels_set(old, NULL);
  }
  /* a kernel the CPU lacks is refused and changes nothing */
  BONNKernels now = bo_nn_kernels(), bad = {BO_GEMM_AVX512, 1};
  if (!bo_nn_gemm_available(BO_GEMM_AVX512)) {
    ck_assert_int_eq(bo_nn_kernels_set(bad, NULL), -1);
    ck_assert_int_eq(bo_nn_kernels().gemm, now.gemm);
  }
  bad.gemm = (BOGemmKind)7;
  ck_assert_int_eq(bo_nn_kernels_set(bad, NULL), -1);
  ck_assert_int_eq(bo_nn_kernels().gemm, now.gemm);
}
END_TEST

/* The backward pass by Winograd (weight gradient and data gradient, the
 * transposed convolution) against the direct sums in double, with the same
 * error scale and bound as the forward pass: S = sum |dy x| for dw[co][ci][ky][kx],
 * S = sum |w dy| for dx. */
static double wino_grad_max_err(BOConvShape s)
{
  const size_t nx = (size_t)s.Cin * s.B * s.H * s.W, nw = (size_t)s.Cout * s.Cin * 9, ny = conv_out_n(&s);
  float       *x = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw), *dy = malloc(sizeof(float) * ny),
        *dx = malloc(sizeof(float) * nx), *dw = calloc(nw, sizeof(float)),
        *col = malloc(sizeof(float) * bo_conv_col_size(&s));
  double *ex = calloc(nx, sizeof(double)), *sx = calloc(nx, sizeof(double)), *ew = calloc(nw, sizeof(double)),
         *sw = calloc(nw, sizeof(double)), worst = 0;
  BOTestFillUniform(x, nx, -1, 1, 1234, 71);
  BOTestFillUniform(w, nw, -0.5, 0.5, 1234, 72);
  BOTestFillUniform(dy, ny, -1, 1, 1234, 73);
  bo_conv_backward(&s, x, w, dy, dx, dw, NULL, col, 0);
  for (int co = 0; co < s.Cout; co++)
    for (int ci = 0; ci < s.Cin; ci++)
      for (int bb = 0; bb < s.B; bb++)
        for (int oy = 0; oy < s.H; oy++)
          for (int ox = 0; ox < s.W; ox++)
            for (int k = 0; k < 9; k++) {
              int iy = oy + k / 3 - 1, ix = ox + k % 3 - 1;
              if (s.periodic) iy = (iy + s.H) % s.H, ix = (ix + s.W) % s.W;
              else if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
              const size_t iw  = ((size_t)co * s.Cin + ci) * 9 + k,
                           ixx = (((size_t)ci * s.B + bb) * s.H + iy) * s.W + ix;
              const double g   = dy[(((size_t)co * s.B + bb) * s.H + oy) * s.W + ox];
              ew[iw] += g * x[ixx], sw[iw] += fabs(g * x[ixx]);
              ex[ixx] += g * w[iw], sx[ixx] += fabs(g * w[iw]);
            }
  for (size_t i = 0; i < nw; i++) {
    double e = sw[i] > 0 ? fabs(dw[i] - ew[i]) / sw[i] : fabs(dw[i]);
    ck_assert_msg(e <= 1e-5, "winograd dw B%d Cin%d %dx%d Cout%d p%d: dw[%zu] = %.9g, direct %.9g", s.B, s.Cin, s.H,
                  s.W, s.Cout, s.periodic, i, dw[i], ew[i]);
    if (e > worst) worst = e;
  }
  for (size_t i = 0; i < nx; i++) {
    double e = sx[i] > 0 ? fabs(dx[i] - ex[i]) / sx[i] : fabs(dx[i]);
    ck_assert_msg(e <= 1e-5, "winograd dx B%d Cin%d %dx%d Cout%d p%d: dx[%zu] = %.9g, direct %.9g", s.B, s.Cin, s.H,
                  s.W, s.Cout, s.periodic, i, dx[i], ex[i]);
    if (e > worst) worst = e;
  }
  free(x), free(w), free(dy), free(dx), free(dw), free(col), free(ex), free(sx), free(ew), free(sw);
  return worst;
}

START_TEST(test_conv_winograd_backward)
{
  wino_check("test_conv_winograd_backward", "winograd F(4x4,3x3) backward: max |dw, dx - direct| / sum |terms|",
             wino_grad_max_err);
}
END_TEST

/* The output of a sample does not depend on the rest of the batch (the
 * sampler's ensembles are bit-identical for any micro-batch): sample i of a
 * batch of 7 equals its convolution alone, bit for bit, and two runs agree.
 * Guaranteed by our GEMM kernels, with or without Winograd, so checked under
 * every such configuration; not on cblas: OpenBLAS 0.3.21's Haswell kernels
 * (which it also runs on a Zen 5) give a Winograd tile other bits at another
 * column of the fixed-width product. Our AVX2 and AVX-512 kernels give the
 * same bits, so configurations that differ only in them must agree. */
static int batch_independent_kernels(BONNKernels k) { return k.gemm != BO_GEMM_BLAS; }

START_TEST(test_conv_batch_independent)
{
  const int   cases[][5] = {{3, 5, 7, 5}, {5, 15, 31, 3}, {9, 16, 16, 11}, {40, 12, 17, 33}};
  BONNKernels cfg[6], old;
  const int   ncfg = BOTestKernelConfigs("test_conv_batch_independent", batch_independent_kernels, cfg);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    for (int periodic = 0; periodic < 2; periodic++) {
      const int  *c  = cases[i];
      BOConvShape s7 = {7, c[0], c[1], c[2], c[3], 3, 1, periodic}, s1 = s7;
      s1.B            = 1;
      const size_t hw = (size_t)c[1] * c[2], nw = (size_t)c[3] * c[0] * 9, ny = 7 * c[3] * hw;
      float       *x = malloc(sizeof(float) * 7 * c[0] * hw), *x1 = malloc(sizeof(float) * c[0] * hw),
            *w = malloc(sizeof(float) * nw), *b = malloc(sizeof(float) * c[3]), *y = malloc(sizeof(float) * ny),
            *y2 = malloc(sizeof(float) * ny), *y1 = malloc(sizeof(float) * c[3] * hw),
            *ref[2]   = {malloc(sizeof(float) * ny), malloc(sizeof(float) * ny)},
            *col      = malloc(sizeof(float) * bo_conv_col_size(&s7));
      int have_ref[2] = {0, 0};
      ck_assert(bo_conv_col_size(&s1) <= bo_conv_col_size(&s7));
      BOTestFillUniform(x, 7 * c[0] * hw, -1, 1, 1234, 71);
      BOTestFillUniform(w, nw, -0.5, 0.5, 1234, 72);
      BOTestFillUniform(b, c[3], -1, 1, 1234, 73);
      for (int k = 0; k < ncfg; k++) {
        const char *name = BOTestKernelName(cfg[k]);
        ck_assert_int_eq(bo_nn_kernels_set(cfg[k], &old), 0);
        bo_conv_forward(&s7, x, w, b, y, col, 0);
        bo_conv_forward(&s7, x, w, b, y2, col, 0);
        ck_assert(!memcmp(y, y2, sizeof(float) * ny));
        for (int bb = 0; bb < 7; bb++) {
          for (int ci = 0; ci < c[0]; ci++) memcpy(x1 + ci * hw, x + (ci * 7 + bb) * hw, sizeof(float) * hw);
          bo_conv_forward(&s1, x1, w, b, y1, col, 0);
          for (int co = 0; co < c[3]; co++)
            ck_assert_msg(!memcmp(y1 + co * hw, y + (co * 7 + bb) * hw, sizeof(float) * hw),
                          "%s case %zu periodic %d: sample %d differs alone", name, i, periodic, bb);
        }
        if (cfg[k].gemm != BO_GEMM_BLAS) { /* our kernels: the same bits on every instruction set */
          const int wi = cfg[k].winograd;
          if (!have_ref[wi]) memcpy(ref[wi], y, sizeof(float) * ny), have_ref[wi] = 1;
          else
            ck_assert_msg(!memcmp(ref[wi], y, sizeof(float) * ny),
                          "%s case %zu periodic %d: differs from the other kernel", name, i, periodic);
        }
        bo_nn_kernels_set(old, NULL);
      }
      free(x), free(x1), free(w), free(b), free(y), free(y2), free(y1), free(ref[0]), free(ref[1]), free(col);
    }
}
END_TEST

/* ---- GroupNorm ------------------------------------------------------------------------ */

typedef struct {
  BOGroupNormShape s;
  float           *x, *g, *b, *y, *r, *mean, *rstd;
} GnCtx;

static double gn_loss(void *c)
{
  GnCtx *k = c;
  bo_groupnorm_forward(&k->s, k->x, k->g, k->b, k->y, k->mean, k->rstd);
  return BOTestDot((size_t)k->s.C * k->s.B * k->s.HW, k->r, k->y);
}

START_TEST(test_groupnorm)
{
  enum { B = 2, C = 6, HW = 5, G = 3, N = B * C * HW };
  for (int silu = 0; silu < 2; silu++) {
    float x[N], y[N], r[N], dx[N], g[C], b[C], dg[C] = {0}, db[C] = {0}, mean[B * G], rstd[B * G];
    GnCtx c = {{B, C, HW, G, silu, 1e-6f}, x, g, b, y, r, mean, rstd};
    BOTestFillUniform(x, N, -2, 3, 1234, 21);
    BOTestFillUniform(g, C, 0.5, 1.5, 1234, 22);
    BOTestFillUniform(b, C, -0.5, 0.5, 1234, 23);
    BOTestFillUniform(r, N, -1, 1, 1234, 24);
    gn_loss(&c);
    /* without affine and SiLU each (sample, group) has mean 0 and variance 1 */
    if (!silu) {
      for (int bb = 0; bb < B; bb++)
        for (int gg = 0; gg < G; gg++) {
          double s = 0, s2 = 0;
          for (int ch = gg * 2; ch < gg * 2 + 2; ch++)
            for (int i = 0; i < HW; i++) {
              double z = (y[(ch * B + bb) * HW + i] - b[ch]) / g[ch];
              s += z, s2 += z * z;
            }
          ck_assert(fabs(s / (2 * HW)) < 1e-5 && fabs(s2 / (2 * HW) - 1) < 1e-4);
        }
    }
    for (int i = 0; i < N; i++) dx[i] = 0.25f;
    bo_groupnorm_backward(&c.s, x, g, b, mean, rstd, r, dx, dg, db, 1);
    for (int i = 0; i < N; i++) dx[i] -= 0.25f;
    check_fd(silu ? "gn+silu dx" : "gn dx", x, dx, N, gn_loss, &c);
    /* overwrite mode (which keeps dz in dx between its passes) agrees */
    float dx2[N], dg2[C] = {0}, db2[C] = {0};
    gn_loss(&c); /* statistics of the unperturbed x */
    for (int i = 0; i < N; i++) dx2[i] = 7.0f;
    bo_groupnorm_backward(&c.s, x, g, b, mean, rstd, r, dx2, dg2, db2, 0);
    for (int i = 0; i < N; i++) ck_assert(fabsf(dx2[i] - dx[i]) < 1e-5f);
    check_fd("gn dgamma", g, dg, C, gn_loss, &c);
    check_fd("gn dbeta", b, db, C, gn_loss, &c);
  }
}
END_TEST

/* ---- linear maps: adjoint identity <A x, y> = <x, A^T y> -------------------------------------- */

START_TEST(test_adjoints)
{
  enum { CB = 6, H = 3, W = 4 };
  float x[CB * H * W], ux[4 * CB * H * W], y[4 * CB * H * W], aty[CB * H * W];
  BOTestFillUniform(x, CB * H * W, -1, 1, 1234, 31);
  BOTestFillUniform(y, 4 * CB * H * W, -1, 1, 1234, 32);
  bo_upsample2x_forward(CB, H, W, x, ux);
  ck_assert(ux[0] == x[0] && ux[1] == x[0] && ux[2 * W] == x[0] && ux[2 * W + 1] == x[0] && ux[2] == x[1]);
  bo_upsample2x_backward(CB, H, W, y, aty, 0);
  ck_assert(fabs(BOTestDot(4 * CB * H * W, ux, y) - BOTestDot(CB * H * W, x, aty)) < 1e-4);

  /* channel bias: x[c][b][:] += bias[b][c] */
  enum { B = 2, C = 3, HW = 5 };
  float bias[B * C], xb[C * B * HW] = {0}, dy[C * B * HW], dbias[B * C];
  BOTestFillUniform(bias, B * C, -1, 1, 1234, 33);
  BOTestFillUniform(dy, C * B * HW, -1, 1, 1234, 34);
  bo_channel_bias_forward(B, C, HW, bias, xb);
  ck_assert(xb[(2 * B + 1) * HW + 3] == bias[1 * C + 2]);
  bo_channel_bias_backward(B, C, HW, dy, dbias);
  ck_assert(fabs(BOTestDot(C * B * HW, xb, dy) - BOTestDot(B * C, bias, dbias)) < 1e-5);

  /* concat, with accumulation into the second part */
  float a[4] = {1, 2, 3, 4}, bb[2] = {5, 6}, cat[6], dcat[6] = {1, 2, 3, 4, 5, 6}, da[4], db2[2] = {10, 10};
  bo_concat_forward(4, 2, a, bb, cat);
  for (int i = 0; i < 6; i++) ck_assert(cat[i] == i + 1);
  bo_concat_backward(4, 2, dcat, da, db2, 0, 1);
  ck_assert(da[3] == 4 && db2[0] == 15 && db2[1] == 16);
}
END_TEST

START_TEST(test_time_embedding)
{
  float e[16];
  bo_timestep_embedding(16, 0.0, e);
  for (int j = 0; j < 8; j++) ck_assert(e[j] == 0.0f && e[8 + j] == 1.0f);
  bo_timestep_embedding(16, 37.0, e);
  for (int j = 0; j < 8; j++) {
    double f = exp(-j * log(10000.0) / 7);
    ck_assert(fabs(e[j] - sin(37 * f)) < 1e-6 && fabs(e[8 + j] - cos(37 * f)) < 1e-6);
  }
  /* the lowest frequency still separates neighbouring indices */
  float e2[16];
  bo_timestep_embedding(16, 38.0, e2);
  ck_assert(fabs(e2[0] - e[0]) > 0.1);
}
END_TEST

/* ---- direct double-precision references for the composite layers ----------------------------
 * What include/bo_nn.h defines, computed the obvious way in double on
 * [C][B][HW] arrays, to check the forward passes of attention and the
 * residual block (finite differences alone pass a consistently wrong
 * forward). */

static double silu_ref(double z) { return z / (1.0 + exp(-z)); }

/* GroupNorm: statistics per (sample, group of C/G channels), biased
 * variance, eps = 1e-6; optionally SiLU. */
static void groupnorm_ref(int B, int C, int HW, int G, int silu, const double *x, const float *g, const float *b,
                          double *y)
{
  const int Cg = C / G;
  for (int bb = 0; bb < B; bb++)
    for (int gg = 0; gg < G; gg++) {
      double mu = 0, var = 0;
      for (int c = gg * Cg; c < (gg + 1) * Cg; c++)
        for (int i = 0; i < HW; i++) mu += x[(c * B + bb) * HW + i];
      mu /= Cg * HW;
      for (int c = gg * Cg; c < (gg + 1) * Cg; c++)
        for (int i = 0; i < HW; i++) var += pow(x[(c * B + bb) * HW + i] - mu, 2);
      var /= Cg * HW;
      for (int c = gg * Cg; c < (gg + 1) * Cg; c++)
        for (int i = 0; i < HW; i++) {
          const double z           = g[c] * (x[(c * B + bb) * HW + i] - mu) / sqrt(var + 1e-6) + b[c];
          y[(c * B + bb) * HW + i] = silu ? silu_ref(z) : z;
        }
    }
}

/* Stride-1 convolution, k = 1 or 3, zero or periodic padding: y = conv(x) + b. */
static void conv_ref(int B, int Cin, int H, int W, int Cout, int k, int periodic, const double *x, const float *w,
                     const float *b, double *y)
{
  for (int co = 0; co < Cout; co++)
    for (int bb = 0; bb < B; bb++)
      for (int oy = 0; oy < H; oy++)
        for (int ox = 0; ox < W; ox++) {
          double acc = b[co];
          for (int ci = 0; ci < Cin; ci++)
            for (int ky = 0; ky < k; ky++)
              for (int kx = 0; kx < k; kx++) {
                int iy = oy + ky - k / 2, ix = ox + kx - k / 2;
                if (periodic) iy = (iy + H) % H, ix = (ix + W) % W;
                else if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += (double)w[((co * Cin + ci) * k + ky) * k + kx] * x[((ci * B + bb) * H + iy) * W + ix];
              }
          y[((co * B + bb) * H + oy) * W + ox] = acc;
        }
}

/* Tolerance of a float32 forward pass against the reference. Each float
 * operation is off by at most u = 2^-24 relative, so a layer that sums K
 * products (a convolution: K = 9 Cin <= 108) is off by at most about
 * K u times their sum of absolute values, ~2e-5 for the unit-scale values
 * here, and the few layers of a block (GroupNorm, two convolutions or
 * softmax and two projections, the residual add) carry that forward.
 * |y - ref| <= 1e-4 (1 + |ref|) covers it; about 1e-6 is seen, while a
 * consistently wrong forward pass (softmax scale 1/C, GroupNorm eps 1e-2)
 * is off by 2e-2 or more. */
static void check_against_ref(const char *what, size_t n, const float *y, const double *ref)
{
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(fabs(y[i] - ref[i]) <= 1e-4 * (1 + fabs(ref[i])), "%s[%zu]: %.7g, the reference gives %.7g", what, i,
                  (double)y[i], ref[i]);
}

/* y = x + Wo (V softmax(Q^T K / sqrt(C))^T) + bo, [Q; K; V] = Wqkv GN(x) + bqkv. */
static void attention_ref(int B, int C, int HW, int G, const float *x, const float *g, const float *b,
                          const float *wqkv, const float *bqkv, const float *wo, const float *bo, double *y)
{
  const size_t N  = (size_t)C * B * HW;
  double      *xd = malloc(sizeof(double) * N), *hn = malloc(sizeof(double) * N), *qkv = malloc(sizeof(double) * 3 * N),
         *o = malloc(sizeof(double) * N), *proj = malloc(sizeof(double) * N), *P = malloc(sizeof(double) * HW);
  for (size_t i = 0; i < N; i++) xd[i] = x[i];
  groupnorm_ref(B, C, HW, G, 0, xd, g, b, hn);
  conv_ref(B, C, 1, HW, 3 * C, 1, 0, hn, wqkv, bqkv, qkv);
#define Q(c, bb, i) qkv[((size_t)(c)*B + (bb)) * HW + (i)]
  for (int bb = 0; bb < B; bb++)
    for (int i = 0; i < HW; i++) {
      double mx = -INFINITY, sum = 0;
      for (int j = 0; j < HW; j++) {
        P[j] = 0;
        for (int c = 0; c < C; c++) P[j] += Q(c, bb, i) * Q(C + c, bb, j);
        P[j] /= sqrt(C), mx = fmax(mx, P[j]);
      }
      for (int j = 0; j < HW; j++) sum += (P[j] = exp(P[j] - mx));
      for (int c = 0; c < C; c++) {
        double acc = 0;
        for (int j = 0; j < HW; j++) acc += Q(2 * C + c, bb, j) * P[j] / sum;
        o[((size_t)c * B + bb) * HW + i] = acc;
      }
    }
#undef Q
  conv_ref(B, C, 1, HW, C, 1, 0, o, wo, bo, proj);
  for (size_t i = 0; i < N; i++) y[i] = xd[i] + proj[i];
  free(xd), free(hn), free(qkv), free(o), free(proj), free(P);
}

/* ---- attention ------------------------------------------------------------------------------ */

typedef struct {
  BOAttentionShape s;
  float           *x, *g, *b, *wqkv, *bqkv, *wo, *bo, *y, *r, *work;
} AttnCtx;

static double attn_loss(void *c)
{
  AttnCtx *a = c;
  bo_attention_forward(&a->s, a->x, a->g, a->b, a->wqkv, a->bqkv, a->wo, a->bo, a->y, a->work);
  return BOTestDot((size_t)a->s.C * a->s.B * a->s.HW, a->r, a->y);
}

START_TEST(test_attention)
{
  enum { B = 2, C = 8, HW = 6, G = 4, N = B * C * HW };
  BOAttentionShape s = {B, C, HW, G};
  float            x[N], y[N], r[N], dx[N], g[C], b[C], wqkv[3 * C * C], bqkv[3 * C], wo[C * C], bo[C];
  float            dg[C] = {0}, db[C] = {0}, dwqkv[3 * C * C] = {0}, dbqkv[3 * C] = {0}, dwo[C * C] = {0}, dbo[C] = {0};
  float           *work = malloc(sizeof(float) * bo_attention_work_size(&s)),
        *scratch        = malloc(sizeof(float) * bo_attention_scratch_size(&s));
  AttnCtx c             = {s, x, g, b, wqkv, bqkv, wo, bo, y, r, work};

  BOTestFillUniform(x, N, -2, 2, 1234, 41);
  BOTestFillUniform(g, C, 0.5, 1.5, 1234, 42);
  BOTestFillUniform(b, C, -0.3, 0.3, 1234, 43);
  BOTestFillUniform(wqkv, 3 * C * C, -0.6, 0.6, 1234, 44);
  BOTestFillUniform(bqkv, 3 * C, -0.3, 0.3, 1234, 45);
  BOTestFillUniform(wo, C * C, -0.5, 0.5, 1234, 46);
  BOTestFillUniform(bo, C, -0.3, 0.3, 1234, 47);
  BOTestFillUniform(r, N, -1, 1, 1234, 48);
  attn_loss(&c);
  double *ref = malloc(sizeof(double) * N);
  attention_ref(B, C, HW, G, x, g, b, wqkv, bqkv, wo, bo, ref);
  check_against_ref("attention forward", N, y, ref);
  free(ref);
  /* rows of each softmax sum to one */
  const float *P = work + 4 * (size_t)C * B * HW + 2 * B * G;
  for (int i = 0; i < B * HW; i++) {
    double s1 = 0;
    for (int j = 0; j < HW; j++) s1 += P[i * HW + j];
    ck_assert(fabs(s1 - 1) < 1e-5);
  }
  bo_attention_backward(&s, x, g, b, wqkv, wo, work, r, dx, dg, db, dwqkv, dbqkv, dwo, dbo, scratch, 0);
  check_fd("attn dx", x, dx, N, attn_loss, &c);
  check_fd("attn dgamma", g, dg, C, attn_loss, &c);
  check_fd("attn dbeta", b, db, C, attn_loss, &c);
  check_fd("attn dwqkv", wqkv, dwqkv, 3 * C * C, attn_loss, &c);
  check_fd("attn dbqkv", bqkv, dbqkv, 3 * C, attn_loss, &c);
  check_fd("attn dwo", wo, dwo, C * C, attn_loss, &c);
  check_fd("attn dbo", bo, dbo, C, attn_loss, &c);
  free(work), free(scratch);
}
END_TEST

/* ---- residual block ---------------------------------------------------------------------------- */

typedef struct {
  BOResBlockShape  s;
  BOResBlockParams p;
  BOResBlockActs   a;
  float           *x, *se, *y, *r, *col;
} ResCtx;

static double res_loss(void *c)
{
  ResCtx *k = c;
  bo_resblock_forward(&k->s, &k->p, k->x, k->se, &k->a, k->y, k->col);
  return BOTestDot((size_t)k->s.Cout * k->s.B * k->s.H * k->s.W, k->r, k->y);
}

/* Lay out all tensors of a block in one buffer; return its length. */
static size_t res_params(const BOResBlockShape *s, float *base, BOResBlockParams *p)
{
  size_t kk = (size_t)s->k * s->k, off = 0;
#define TAKE(f, n) (p->f = base ? base + off : NULL, off += (n))
  TAKE(gn1_g, s->Cin), TAKE(gn1_b, s->Cin), TAKE(conv1_w, s->Cout * s->Cin * kk), TAKE(conv1_b, s->Cout);
  const int nt = s->Cout * (s->film ? 2 : 1); /* FiLM: a scale and a shift per channel */
  TAKE(temb_w, nt * s->E), TAKE(temb_b, nt), TAKE(gn2_g, s->Cout), TAKE(gn2_b, s->Cout);
  TAKE(conv2_w, s->Cout * s->Cout * kk), TAKE(conv2_b, s->Cout);
  if (s->Cin != s->Cout) TAKE(skip_w, s->Cout * s->Cin), TAKE(skip_b, s->Cout);
  else p->skip_w = p->skip_b = NULL;
#undef TAKE
  return off;
}

/* a1 = SiLU(GN1(x)), h1 = conv1(a1) + Linear(silu_e)[b][c], a2 = SiLU(GN2(h1)),
 * y = conv2(a2) + skip(x), skip the identity or a 1x1 convolution. With
 * FiLM, h1 = conv1(a1), [sc; sh] = Linear(silu_e)[b], a2 = SiLU(GN2(h1) (1 + sc) + sh). */
static void resblock_ref(const BOResBlockShape *s, const BOResBlockParams *p, const float *x, const float *se,
                         double *y)
{
  const int    B = s->B, HW = s->H * s->W;
  const size_t Ni = (size_t)s->Cin * B * HW, No = (size_t)s->Cout * B * HW;
  double      *xd = malloc(sizeof(double) * Ni), *a1 = malloc(sizeof(double) * Ni), *h1 = malloc(sizeof(double) * No),
         *a2 = malloc(sizeof(double) * No), *skip = malloc(sizeof(double) * No);
  for (size_t i = 0; i < Ni; i++) xd[i] = x[i];
  groupnorm_ref(B, s->Cin, HW, s->G1, 1, xd, p->gn1_g, p->gn1_b, a1);
  conv_ref(B, s->Cin, s->H, s->W, s->Cout, s->k, s->periodic, a1, p->conv1_w, p->conv1_b, h1);
  const int nt = s->Cout * (s->film ? 2 : 1);
  double   *tb = malloc(sizeof(double) * B * nt);
  for (int j = 0; j < nt; j++)
    for (int bb = 0; bb < B; bb++) {
      tb[bb * nt + j] = p->temb_b[j];
      for (int e = 0; e < s->E; e++) tb[bb * nt + j] += (double)p->temb_w[j * s->E + e] * se[bb * s->E + e];
    }
  if (!s->film)
    for (int c = 0; c < s->Cout; c++)
      for (int bb = 0; bb < B; bb++)
        for (int i = 0; i < HW; i++) h1[((size_t)c * B + bb) * HW + i] += tb[bb * nt + c];
  groupnorm_ref(B, s->Cout, HW, s->G2, !s->film, h1, p->gn2_g, p->gn2_b, a2);
  if (s->film)
    for (int c = 0; c < s->Cout; c++)
      for (int bb = 0; bb < B; bb++)
        for (int i = 0; i < HW; i++) {
          double *v = &a2[((size_t)c * B + bb) * HW + i], z = *v * (1 + tb[bb * nt + c]) + tb[bb * nt + s->Cout + c];
          *v = z / (1 + exp(-z));
        }
  free(tb);
  if (p->skip_w) conv_ref(B, s->Cin, s->H, s->W, s->Cout, 1, 0, xd, p->skip_w, p->skip_b, skip);
  else memcpy(skip, xd, sizeof(double) * No);
  conv_ref(B, s->Cout, s->H, s->W, s->Cout, s->k, s->periodic, a2, p->conv2_w, p->conv2_b, y);
  for (size_t i = 0; i < No; i++) y[i] += skip[i];
  free(xd), free(a1), free(h1), free(a2), free(skip);
}

static void res_case(BOResBlockShape s)
{
  BOResBlockParams p, g;
  size_t           np = res_params(&s, NULL, &p), N = (size_t)s.B * s.H * s.W;
  float *pbuf = malloc(sizeof(float) * np), *gbuf = calloc(np, sizeof(float)), *x = malloc(sizeof(float) * s.Cin * N),
        *dx = malloc(sizeof(float) * s.Cin * N), *se = malloc(sizeof(float) * s.B * s.E),
        *dse = calloc(s.B * s.E, sizeof(float)), *y = malloc(sizeof(float) * s.Cout * N),
        *r = malloc(sizeof(float) * s.Cout * N), *acts = malloc(sizeof(float) * bo_resblock_acts_size(&s)),
        *col     = malloc(sizeof(float) * (bo_resblock_col_size(&s) + 1)),
        *scratch = malloc(sizeof(float) * bo_resblock_scratch_size(&s));
  ResCtx c;

  res_params(&s, pbuf, &p);
  res_params(&s, gbuf, &g);
  BOTestFillUniform(pbuf, np, -0.4, 0.4, 1234, 51);
  for (int i = 0; i < s.Cin; i++) p.gn1_g[i] += 1.0f;
  for (int i = 0; i < s.Cout; i++) p.gn2_g[i] += 1.0f;
  BOTestFillUniform(x, s.Cin * N, -2, 2, 1234, 52);
  BOTestFillUniform(se, s.B * s.E, -1, 1, 1234, 53);
  BOTestFillUniform(r, s.Cout * N, -1, 1, 1234, 54);
  bo_resblock_acts_set(&s, acts, &c.a);
  c.s = s, c.p = p, c.x = x, c.se = se, c.y = y, c.r = r, c.col = col;
  res_loss(&c);
  double *ref = malloc(sizeof(double) * s.Cout * N);
  resblock_ref(&s, &p, x, se, ref);
  check_against_ref("resblock forward", s.Cout * N, y, ref);
  free(ref);
  bo_resblock_backward(&s, &p, &g, x, se, &c.a, r, dx, dse, col, scratch, 0);
  check_fd("res dx", x, dx, s.Cin * N, res_loss, &c);
  check_fd("res dsilu_e", se, dse, s.B * s.E, res_loss, &c);
  check_fd("res params", pbuf, gbuf, np, res_loss, &c);
  /* each tensor on its own too (the spread above may skip small ones) */
  check_fd("res temb_w", p.temb_w, g.temb_w, s.Cout * s.E * (s.film ? 2 : 1), res_loss, &c);
  check_fd("res temb_b", p.temb_b, g.temb_b, s.Cout * (s.film ? 2 : 1), res_loss, &c);
  check_fd("res gn2_g", p.gn2_g, g.gn2_g, s.Cout, res_loss, &c);
  check_fd("res conv2_b", p.conv2_b, g.conv2_b, s.Cout, res_loss, &c);
  if (p.skip_w) check_fd("res skip_w", p.skip_w, g.skip_w, s.Cout * s.Cin, res_loss, &c);
  free(pbuf), free(gbuf), free(x), free(dx), free(se), free(dse), free(y), free(r), free(acts), free(col),
      free(scratch);
}

START_TEST(test_resblock)
{
  /* B, Cin, Cout, H, W, k, periodic, G1, G2, E (, film) */
  res_case((BOResBlockShape){2, 4, 8, 4, 5, 3, 0, 2, 4, 6, 0});  /* 1x1 skip */
  res_case((BOResBlockShape){2, 4, 4, 3, 4, 3, 1, 2, 2, 5, 0});  /* identity skip, periodic */
  res_case((BOResBlockShape){3, 12, 8, 1, 1, 1, 0, 2, 2, 4, 0}); /* the MLP's block (GN groups of 6 and 4) */
  /* FiLM (film = 1): the embedding scales and shifts GN2 */
  res_case((BOResBlockShape){2, 4, 8, 4, 5, 3, 0, 2, 4, 6, 1});
  res_case((BOResBlockShape){2, 4, 4, 3, 4, 3, 1, 2, 2, 5, 1});
  res_case((BOResBlockShape){3, 12, 8, 1, 1, 1, 0, 2, 2, 4, 1});
}
END_TEST

Suite *suite_nn(void)
{
  Suite *s  = suite_create("nn");
  TCase *tc = tcase_create("layers");
  tcase_add_test(tc, test_elementwise);
  tcase_add_test(tc, test_linear);
  tcase_add_test(tc, test_conv);
  tcase_add_test(tc, test_conv_chunked);
  tcase_add_test(tc, test_conv_winograd);
  tcase_add_test(tc, test_conv_algorithm);
  tcase_add_test(tc, test_conv_winograd_backward);
  tcase_add_test(tc, test_conv_batch_independent);
  tcase_add_test(tc, test_groupnorm);
  tcase_add_test(tc, test_adjoints);
  tcase_add_test(tc, test_time_embedding);
  tcase_add_test(tc, test_attention);
  tcase_add_test(tc, test_resblock);
  suite_add_tcase(s, tc);
  return s;
}
