/* The 3-D layers of include/bo_nn.h (issue #16): forward against direct
 * double-precision formulas, backward against central finite differences
 * and direct double-precision adjoints, and the 3-D convolution against
 * the 2-D one on a single plane. Every convolution test runs under each
 * GEMM kernel this CPU has (cblas, our AVX2 and AVX-512 blocks; Winograd
 * does not apply to 3-D, so it is left off).
 *
 * Finite differences. As in test_nn.c, L = sum_i r_i y_i with fixed random
 * r, summed in double from the float outputs, so the analytic gradient is
 * the backward pass with dy = r. Every entry of every input and parameter
 * is checked (the arrays are small), so a wrong padding row or a dropped
 * boundary tap cannot hide between sampled indices.
 *   - Convolution and upsampling are linear in each entry, so the central
 *     difference has no truncation error and a large step is best:
 *     eps = 0.25. What is left is the float rounding of the outputs that
 *     the entry touches, about u |y| per output (u = 6e-8, |y| < 10 here)
 *     summed over at most a few hundred outputs, divided by 2 eps:
 *     < 6e-8 * 10 * 500 / 0.5 = 6e-4 in the very worst case, ~1e-5 typical
 *     (random signs). The tolerance 2e-3 (1 + |g|) is over 3x that worst
 *     case, while a wrong tap or a missing term changes a gradient by
 *     |x r| ~ 0.01 to 1.
 *   - GroupNorm is smooth, not linear: eps = 1e-2 and 2e-3 (1 + |g|), the
 *     test_nn.c argument (truncation O(eps^2 |f'''|) ~ 1e-4, rounding
 *     ~1e-5).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "blackout.h"
#include "bo_nn.h"
#include "testutil.h"

#define FD_TOL 2e-3

typedef double (*LossFn)(void *ctx);

/* grad[i] against the central difference of f in x[i] with step eps, for
 * every i. Returns the largest |analytic - fd| / (1 + |analytic|). */
static double check_fd(const char *what, float *x, const float *grad, size_t n, double eps, LossFn f, void *ctx)
{
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    float x0  = x[i];
    x[i]      = x0 + (float)eps;
    double lp = f(ctx);
    x[i]      = x0 - (float)eps;
    double lm = f(ctx);
    x[i]      = x0;
    double fd = (lp - lm) / (2 * eps), e = fabs(fd - grad[i]) / (1 + fabs(grad[i]));
    ck_assert_msg(e <= FD_TOL, "%s[%zu]: backward %.6g, finite difference %.6g", what, i, (double)grad[i], fd);
    if (e > worst) worst = e;
  }
  f(ctx); /* leave the outputs of the unperturbed inputs */
  return worst;
}

/* As check_fd, with the Richardson extrapolation E = (4 D(h) - D(2h)) / 3 of
 * the central differences D (its truncation error is O(h^4) instead of
 * O(h^2)), for the residual block: every output there depends on the
 * GroupNorm statistics, so plain central differences err by up to 1e-3
 * at any h (measured: 2.0e-3 at h = 5e-3, 1.1e-3 at 1e-2, 1.9e-3 at 2e-2:
 * rounding below 1e-2, truncation above). Extrapolated, the largest error
 * is 8.2e-4 at h = 2e-2, 4.2e-4 at 4e-2 (used: 5x under the tolerance) and
 * 5.2e-3 at 8e-2 (the O(h^4) term). */
static double check_fd_richardson(const char *what, float *x, const float *grad, size_t n, double h, LossFn f,
                                  void *ctx)
{
  double worst = 0, d[2];
  for (size_t i = 0; i < n; i++) {
    float x0 = x[i];
    for (int j = 0; j < 2; j++) {
      x[i]      = x0 + (float)(h * (j + 1));
      double lp = f(ctx);
      x[i]      = x0 - (float)(h * (j + 1));
      double lm = f(ctx);
      d[j]      = (lp - lm) / (2 * h * (j + 1));
    }
    x[i]            = x0;
    const double fd = (4 * d[0] - d[1]) / 3, e = fabs(fd - grad[i]) / (1 + fabs(grad[i]));
    ck_assert_msg(e <= FD_TOL, "%s[%zu]: backward %.6g, finite difference %.6g", what, i, (double)grad[i], fd);
    if (e > worst) worst = e;
  }
  f(ctx);
  return worst;
}

/* The GEMM kinds, without Winograd (it is 2-D only). */
static int no_winograd(BONNKernels k) { return !k.winograd; }

/* ---- 3-D convolution -------------------------------------------------------------------- */

static size_t c3_nx(const BOConv3dShape *s) { return (size_t)s->Cin * s->B * s->D * s->H * s->W; }
static size_t c3_nw(const BOConv3dShape *s) { return (size_t)s->Cout * s->Cin * s->k * s->k * s->k; }
static size_t c3_ny(const BOConv3dShape *s)
{
  return (size_t)s->Cout * s->B * bo_conv3d_out_d(s) * bo_conv3d_out_h(s) * bo_conv3d_out_w(s);
}

/* The direct convolution, seven loops in double, written from the header
 * (not from conv3d.c's column matrix): y[co][b][oz][oy][ox] = b[co] + sum
 * over ci, kz, ky, kx of w[co][ci][kz][ky][kx] x[ci][b][iz][iy][ix] with
 * i = o stride + kk - k/2 per axis, the terms outside the volume dropped.
 * abs = 1 sums |w x| + |b| instead (the scale of the rounding error). */
static void conv3d_direct(const BOConv3dShape *s, const float *x, const float *w, const float *b, double *y, int abs)
{
  const int Do = bo_conv3d_out_d(s), Ho = bo_conv3d_out_h(s), Wo = bo_conv3d_out_w(s), k = s->k, p = k / 2;
  for (int co = 0; co < s->Cout; co++)
    for (int bb = 0; bb < s->B; bb++)
      for (int oz = 0; oz < Do; oz++)
        for (int oy = 0; oy < Ho; oy++)
          for (int ox = 0; ox < Wo; ox++) {
            double acc = b ? (abs ? fabs(b[co]) : b[co]) : 0.0;
            for (int ci = 0; ci < s->Cin; ci++)
              for (int kz = 0; kz < k; kz++)
                for (int ky = 0; ky < k; ky++)
                  for (int kx = 0; kx < k; kx++) {
                    int iz = oz * s->sz + kz - p, iy = oy * s->sy + ky - p, ix = ox * s->sx + kx - p;
                    if (iz < 0 || iz >= s->D || iy < 0 || iy >= s->H || ix < 0 || ix >= s->W) continue;
                    double t = (double)w[(((size_t)(co * s->Cin + ci) * k + kz) * k + ky) * k + kx] *
                               x[(((size_t)(ci * s->B + bb) * s->D + iz) * s->H + iy) * s->W + ix];
                    acc += abs ? fabs(t) : t;
                  }
            y[((((size_t)co * s->B + bb) * Do + oz) * Ho + oy) * Wo + ox] = acc;
          }
}

/* The same sums transposed, in double: dx[ci][b][iz][iy][ix] = sum of
 * w dy over the outputs that read the voxel, dw[co][ci][kz][ky][kx] = sum
 * of dy x over the outputs, db[co] = sum of dy. abs = 1: sums of |terms|. */
static void conv3d_direct_backward(const BOConv3dShape *s, const float *x, const float *w, const float *dy, double *dx,
                                   double *dw, double *db, int abs)
{
  const int Do = bo_conv3d_out_d(s), Ho = bo_conv3d_out_h(s), Wo = bo_conv3d_out_w(s), k = s->k, p = k / 2;
  memset(dx, 0, sizeof(double) * c3_nx(s));
  memset(dw, 0, sizeof(double) * c3_nw(s));
  memset(db, 0, sizeof(double) * s->Cout);
  for (int co = 0; co < s->Cout; co++)
    for (int bb = 0; bb < s->B; bb++)
      for (int oz = 0; oz < Do; oz++)
        for (int oy = 0; oy < Ho; oy++)
          for (int ox = 0; ox < Wo; ox++) {
            double g = dy[((((size_t)co * s->B + bb) * Do + oz) * Ho + oy) * Wo + ox];
            if (abs) g = fabs(g);
            db[co] += g;
            for (int ci = 0; ci < s->Cin; ci++)
              for (int kz = 0; kz < k; kz++)
                for (int ky = 0; ky < k; ky++)
                  for (int kx = 0; kx < k; kx++) {
                    int iz = oz * s->sz + kz - p, iy = oy * s->sy + ky - p, ix = ox * s->sx + kx - p;
                    if (iz < 0 || iz >= s->D || iy < 0 || iy >= s->H || ix < 0 || ix >= s->W) continue;
                    size_t iw = (((size_t)(co * s->Cin + ci) * k + kz) * k + ky) * k + kx,
                           ii = (((size_t)(ci * s->B + bb) * s->D + iz) * s->H + iy) * s->W + ix;
                    dw[iw] += g * (abs ? fabs(x[ii]) : x[ii]);
                    dx[ii] += g * (abs ? fabs(w[iw]) : w[iw]);
                  }
          }
}

/* Float against a double reference: |got - want| <= tol S + 1e-6, S the
 * sum of |terms| of the entry. A float sum of n terms is within n u S of
 * the exact sum (u = 2^-24, to first order), so callers pass tol = n u with
 * n the largest number of terms (about 1e-7 S is seen); the 1e-6 covers the
 * rounding of a value accumulated onto an offset of at most 0.5 and taken
 * off again. */
#define U_F32 5.96e-8
static void check_scaled(const char *what, size_t n, const float *got, const double *want, const double *S, double tol)
{
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(fabs(got[i] - want[i]) <= tol * S[i] + 1e-6, "%s[%zu] = %.9g, reference %.9g (scale %.3g)", what, i,
                  (double)got[i], want[i], S[i]);
}

/* The direct references of y, dx, dw, db, their scales S, and n u for each. */
typedef struct {
  double *y, *Sy, *dx, *Sdx, *dw, *Sdw, *db, *Sdb;
  double  tol_y, tol_dx, tol_dw; /* db: as dw */
} Conv3dRef;

/* The least relative tolerance: 0 for direct sums in float (the n u above);
 * 1e-5 when the planes algorithm runs its 2-D terms by Winograd F(4x4, 3x3)
 * (its bound in test_nn.c; each of the three terms within 1e-5 of its own
 * sum of |terms|, which add up to S). */
static double c3_tol_min = 0;

static Conv3dRef c3_ref(const BOConv3dShape *s, const float *x, const float *w, const float *b, const float *dy)
{
  const size_t nx = c3_nx(s), nw = c3_nw(s), ny = c3_ny(s), kkk = (size_t)s->k * s->k * s->k;
  float       *ax = malloc(sizeof(float) * nx), *aw = malloc(sizeof(float) * nw);
  Conv3dRef    r;
  r.y = malloc(sizeof(double) * ny), r.Sy = malloc(sizeof(double) * ny);
  r.dx = malloc(sizeof(double) * nx), r.Sdx = malloc(sizeof(double) * nx);
  r.dw = malloc(sizeof(double) * nw), r.Sdw = malloc(sizeof(double) * nw);
  r.db = malloc(sizeof(double) * s->Cout), r.Sdb = malloc(sizeof(double) * s->Cout);
  for (size_t i = 0; i < nx; i++) ax[i] = fabsf(x[i]);
  for (size_t i = 0; i < nw; i++) aw[i] = fabsf(w[i]);
  conv3d_direct(s, x, w, b, r.y, 0);
  conv3d_direct(s, ax, aw, b, r.Sy, 1);
  conv3d_direct_backward(s, x, w, dy, r.dx, r.dw, r.db, 0);
  conv3d_direct_backward(s, x, w, dy, r.Sdx, r.Sdw, r.Sdb, 1);
  r.tol_y  = fmax((double)(s->Cin * kkk + 1) * U_F32, c3_tol_min);
  r.tol_dx = fmax((double)(s->Cout * kkk) * U_F32, c3_tol_min);
  r.tol_dw = fmax((double)(ny / s->Cout) * U_F32, c3_tol_min);
  free(ax), free(aw);
  return r;
}

static void c3_ref_free(Conv3dRef *r)
{
  free(r->y), free(r->Sy), free(r->dx), free(r->Sdx), free(r->dw), free(r->Sdw), free(r->db), free(r->Sdb);
}

typedef struct {
  BOConv3dShape s;
  float        *x, *w, *b, *y, *r, *col;
} Conv3dCtx;

static double conv3d_loss(void *c)
{
  Conv3dCtx *k = c;
  bo_conv3d_forward(&k->s, k->x, k->w, k->b, k->y, k->col, 0);
  return BOTestDot(c3_ny(&k->s), k->r, k->y);
}

typedef struct {
  float *x, *w, *b, *y, *r, *col, *dx, *dw, *db;
} Conv3dBufs;

static Conv3dBufs c3_alloc(const BOConv3dShape *s)
{
  const size_t nx = c3_nx(s), nw = c3_nw(s), ny = c3_ny(s);
  Conv3dBufs   a;
  a.x = malloc(sizeof(float) * nx), a.dx = malloc(sizeof(float) * nx);
  a.w = malloc(sizeof(float) * nw), a.dw = calloc(nw, sizeof(float));
  a.b = malloc(sizeof(float) * s->Cout), a.db = calloc(s->Cout, sizeof(float));
  a.y = malloc(sizeof(float) * ny), a.r = malloc(sizeof(float) * ny);
  a.col = malloc(sizeof(float) * (bo_conv3d_col_size(s) + 1));
  BOTestFillUniform(a.x, nx, -1, 1, 4321, 11);
  BOTestFillUniform(a.w, nw, -0.5, 0.5, 4321, 12);
  BOTestFillUniform(a.b, s->Cout, -1, 1, 4321, 13);
  BOTestFillUniform(a.r, ny, -1, 1, 4321, 14);
  return a;
}

static void c3_free(Conv3dBufs *a)
{
  free(a->x), free(a->dx), free(a->w), free(a->dw), free(a->b), free(a->db), free(a->y), free(a->r), free(a->col);
}

/* y against the direct sum; then accumulate = 1 onto what y held, and no
 * bias. Backward (overwriting) against the direct adjoint. */
static void conv3d_direct_case(const BOConv3dShape *s)
{
  const size_t ny = c3_ny(s);
  Conv3dBufs   a  = c3_alloc(s);
  Conv3dRef    r  = c3_ref(s, a.x, a.w, a.b, a.r);
  bo_conv3d_forward(s, a.x, a.w, a.b, a.y, a.col, 0);
  check_scaled("conv3d y", ny, a.y, r.y, r.Sy, r.tol_y);
  for (size_t i = 0; i < ny; i++) a.y[i] = 0.5f * a.r[i];
  bo_conv3d_forward(s, a.x, a.w, a.b, a.y, a.col, 1);
  for (size_t i = 0; i < ny; i++) a.y[i] -= 0.5f * a.r[i];
  check_scaled("conv3d y accumulated", ny, a.y, r.y, r.Sy, r.tol_y);
  double *y0 = malloc(sizeof(double) * ny), *S0 = malloc(sizeof(double) * ny);
  for (size_t i = 0; i < ny; i++) {
    int co = (int)(i / (ny / s->Cout));
    y0[i] = r.y[i] - a.b[co], S0[i] = r.Sy[i] - fabs(a.b[co]);
  }
  bo_conv3d_forward(s, a.x, a.w, NULL, a.y, a.col, 0);
  check_scaled("conv3d y without bias", ny, a.y, y0, S0, r.tol_y);
  bo_conv3d_backward(s, a.x, a.w, a.r, a.dx, a.dw, a.db, a.col, 0);
  check_scaled("conv3d dx", c3_nx(s), a.dx, r.dx, r.Sdx, r.tol_dx);
  check_scaled("conv3d dw", c3_nw(s), a.dw, r.dw, r.Sdw, r.tol_dw);
  check_scaled("conv3d db", s->Cout, a.db, r.db, r.Sdb, r.tol_dw);
  free(y0), free(S0);
  c3_ref_free(&r);
  c3_free(&a);
}

/* dx, dw, db against finite differences (every entry) with the backward
 * pass accumulating onto nonzero values; then overwrite mode gives the same
 * dx from garbage, and dx = NULL, db = NULL the same dw. */
static double conv3d_grad_case(const BOConv3dShape *s)
{
  const size_t nx = c3_nx(s), nw = c3_nw(s);
  Conv3dBufs   a     = c3_alloc(s);
  Conv3dCtx    c     = {*s, a.x, a.w, a.b, a.y, a.r, a.col};
  double       worst = 0, e;

  conv3d_loss(&c);
  for (size_t i = 0; i < nx; i++) a.dx[i] = 0.5f;
  for (size_t i = 0; i < nw; i++) a.dw[i] = 0.25f;
  for (int i = 0; i < s->Cout; i++) a.db[i] = -0.5f;
  bo_conv3d_backward(s, a.x, a.w, a.r, a.dx, a.dw, a.db, a.col, 1);
  for (size_t i = 0; i < nx; i++) a.dx[i] -= 0.5f;
  for (size_t i = 0; i < nw; i++) a.dw[i] -= 0.25f;
  for (int i = 0; i < s->Cout; i++) a.db[i] += 0.5f;
  e = check_fd("conv3d dx", a.x, a.dx, nx, 0.25, conv3d_loss, &c), worst = e > worst ? e : worst;
  e = check_fd("conv3d dw", a.w, a.dw, nw, 0.25, conv3d_loss, &c), worst = e > worst ? e : worst;
  e = check_fd("conv3d db", a.b, a.db, s->Cout, 0.25, conv3d_loss, &c), worst = e > worst ? e : worst;
  float *dx2 = malloc(sizeof(float) * nx), *dw2 = calloc(nw, sizeof(float));
  for (size_t i = 0; i < nx; i++) dx2[i] = 123.0f;
  bo_conv3d_backward(s, a.x, a.w, a.r, dx2, dw2, NULL, a.col, 0);
  for (size_t i = 0; i < nx; i++) ck_assert_msg(fabsf(dx2[i] - a.dx[i]) < 1e-5f, "conv3d dx overwrite [%zu]", i);
  memset(dw2, 0, sizeof(float) * nw);
  bo_conv3d_backward(s, a.x, a.w, a.r, NULL, dw2, NULL, a.col, 0);
  for (size_t i = 0; i < nw; i++) ck_assert_msg(fabsf(dw2[i] - a.dw[i]) < 1e-5f, "conv3d dw without dx [%zu]", i);
  free(dx2), free(dw2);
  c3_free(&a);
  return worst;
}

/* B, Cin, D, H, W, Cout, k, sz, sy, sx */
static const BOConv3dShape c3_cases[] = {
    {2, 3, 4, 5, 6, 4, 3, 1, 1, 1}, /* k = 3, stride 1 */
    {2, 3, 3, 6, 5, 4, 3, 1, 2, 2}, /* x and y halved, z kept (Nz << Nx) */
    {2, 3, 4, 6, 6, 2, 3, 2, 2, 2}, /* all three halved */
    {2, 3, 3, 5, 4, 4, 3, 2, 2, 2}, /* odd sizes with stride 2 */
    {2, 3, 3, 5, 4, 3, 3, 1, 1, 1}, /* odd sizes, stride 1 */
    {2, 5, 3, 4, 5, 3, 1, 1, 1, 1}, /* 1x1x1 (the 2-D pointwise path) */
    {2, 5, 3, 5, 4, 3, 1, 1, 2, 2}, /* 1x1x1 subsampling x and y */
    {2, 5, 3, 5, 4, 3, 1, 2, 2, 2}, /* 1x1x1 subsampling all three */
    {1, 2, 1, 1, 1, 3, 3, 1, 1, 1}, /* a single voxel: only the centre tap reads it */
    {1, 2, 2, 3, 1, 2, 3, 2, 1, 2}, /* W = 1 with sx = 2 and sy = 1 (the axes not mixed up) */
    {2, 2, 5, 2, 3, 2, 3, 2, 1, 1}, /* z halved only */
    {2, 2, 3, 4, 6, 2, 3, 1, 1, 2}, /* x halved only */
    {2, 2, 3, 6, 4, 2, 3, 1, 2, 1}, /* y halved only */
};
#define N_C3_CASES (sizeof(c3_cases) / sizeof(c3_cases[0]))

/* The im2col result against the direct seven-loop sums, forward and backward. */
START_TEST(test_conv3d_direct)
{
  /* output sizes: (n - 1)/stride + 1 per axis */
  const BOConv3dShape t = {1, 1, 5, 6, 7, 1, 3, 1, 2, 2};
  ck_assert_int_eq(bo_conv3d_out_d(&t), 5);
  ck_assert_int_eq(bo_conv3d_out_h(&t), 3);
  ck_assert_int_eq(bo_conv3d_out_w(&t), 4);
  ck_assert_int_eq(bo_conv3d_algorithm(&t), BO_CONV3D_PLANES);
  ck_assert_int_eq(bo_conv3d_algorithm(&c3_cases[5]), BO_CONV3D_POINTWISE);
  ck_assert_int_eq(bo_conv3d_algorithm(&c3_cases[11]), BO_CONV3D_VOL2COL); /* sy != sx */
  BONNKernels cfg[6], old;
  const int   ncfg = BOTestKernelConfigs("test_conv3d_direct", no_winograd, cfg);
  for (int v = 0; v <= 1; v++) { /* planes (the default), then every 3x3x3 by vol2col */
    bo_conv3d_set_vol2col(v);
    ck_assert_int_eq(bo_conv3d_algorithm(&t), v ? BO_CONV3D_VOL2COL : BO_CONV3D_PLANES);
    for (int c = 0; c < ncfg; c++) {
      ck_assert_int_eq(bo_nn_kernels_set(cfg[c], &old), 0);
      for (size_t i = 0; i < N_C3_CASES; i++) conv3d_direct_case(&c3_cases[i]);
      bo_nn_kernels_set(old, NULL);
    }
  }
  bo_conv3d_set_vol2col(0);
}
END_TEST

static int with_winograd(BONNKernels k) { return k.winograd; }

/* The planes algorithm with its 2-D terms on Winograd: against the direct
 * sums within 1e-5 S, and its gradients against finite differences. */
START_TEST(test_conv3d_planes_winograd)
{
  BONNKernels cfg[6], old;
  double      worst = 0;
  const int   ncfg  = BOTestKernelConfigs("test_conv3d_planes_winograd", with_winograd, cfg);
  /* planes of 8 x 8 (gathered tiles) and 16 x 16 (sets of four tiles), as in the U-Nets */
  const BOConv3dShape grids[] = {
      {2, 4, 4, 8, 8, 5, 3, 1, 1, 1}, {1, 3, 3, 16, 16, 2, 3, 1, 1, 1}, {2, 4, 4, 16, 16, 3, 3, 2, 2, 2}};
  c3_tol_min = 1e-5;
  for (int c = 0; c < ncfg; c++) {
    ck_assert_int_eq(bo_nn_kernels_set(cfg[c], &old), 0);
    for (size_t i = 0; i < N_C3_CASES; i++) {
      conv3d_direct_case(&c3_cases[i]);
      double e = conv3d_grad_case(&c3_cases[i]);
      if (e > worst) worst = e;
    }
    for (size_t i = 0; i < sizeof(grids) / sizeof(grids[0]); i++) conv3d_direct_case(&grids[i]);
    bo_nn_kernels_set(old, NULL);
  }
  c3_tol_min = 0;
  if (ncfg) printf("conv3d planes on Winograd: max |g - fd| / (1 + |g|) = %.2e (tolerance %.0e)\n", worst, FD_TOL);
}
END_TEST

START_TEST(test_conv3d_gradients)
{
  BONNKernels cfg[6], old;
  double      worst = 0;
  const int   ncfg  = BOTestKernelConfigs("test_conv3d_gradients", no_winograd, cfg);
  for (int v = 0; v <= 1; v++) { /* planes, then vol2col */
    bo_conv3d_set_vol2col(v);
    for (int c = 0; c < ncfg; c++) {
      ck_assert_int_eq(bo_nn_kernels_set(cfg[c], &old), 0);
      for (size_t i = 0; i < N_C3_CASES; i++) {
        double e = conv3d_grad_case(&c3_cases[i]);
        if (e > worst) worst = e;
      }
      bo_nn_kernels_set(old, NULL);
    }
  }
  bo_conv3d_set_vol2col(0);
  printf("conv3d finite differences: max |g - fd| / (1 + |g|) = %.2e (tolerance %.0e)\n", worst, FD_TOL);
}
END_TEST

/* Several chunks of vol2col: the column workspace holds two samples of
 * three, so the last chunk is short and each product writes its slice of y
 * (and reads its slice of dy) through the leading dimension. */
START_TEST(test_conv3d_chunked)
{
  const BOConv3dShape cases[] = {{3, 12, 6, 8, 8, 3, 3, 1, 1, 1}, {3, 12, 6, 16, 16, 3, 3, 1, 2, 2}};
  BONNKernels         cfg[6], old;
  const int           ncfg = BOTestKernelConfigs("test_conv3d_chunked", no_winograd, cfg);
  bo_conv3d_set_vol2col(1);
  for (size_t t = 0; t < 2; t++) {
    const size_t whole = (size_t)cases[t].Cin * 27 * (c3_ny(&cases[t]) / cases[t].Cout);
    ck_assert_msg(bo_conv3d_col_size(&cases[t]) < whole, "not chunked: %zu >= %zu", bo_conv3d_col_size(&cases[t]),
                  whole);
    for (int c = 0; c < ncfg; c++) {
      ck_assert_int_eq(bo_nn_kernels_set(cfg[c], &old), 0);
      conv3d_direct_case(&cases[t]);
      bo_nn_kernels_set(old, NULL);
    }
  }
  bo_conv3d_set_vol2col(0);
}
END_TEST

/* vol2col split along z: chunks of 4 output planes (the target lowered to
 * 4 planes' columns), so chunks cut samples (6 planes each) and cross from
 * one sample to the next; against the direct sums, and against one chunk
 * for the whole batch: y bit for bit on our kernels (each column's sum is
 * the same whatever the chunk; cblas_sgemm's order may depend on the width,
 * so within 1e-6 S there), dx and dw within 1e-6 S (the order of the adds
 * across chunks changes). The workspace of a large volume stays near the
 * target (a sample alone would be 64 times it). */
static void z_chunks_case(const BOConv3dShape *c, int exact_y)
{
  const size_t ny = c3_ny(c), nx = c3_nx(c), nw = c3_nw(c);
  const size_t plane = (size_t)c->Cin * 27 * bo_conv3d_out_h(c) * bo_conv3d_out_w(c);
  Conv3dBufs   a = c3_alloc(c), b = c3_alloc(c);
  Conv3dRef    r   = c3_ref(c, a.x, a.w, a.b, a.r);
  size_t       old = bo_conv3d_set_col_target(4 * plane);
  conv3d_direct_case(c); /* chunks of 4 planes against the direct sums */
  bo_conv3d_forward(c, a.x, a.w, a.b, a.y, a.col, 0);
  bo_conv3d_backward(c, a.x, a.w, a.r, a.dx, a.dw, a.db, a.col, 0);
  bo_conv3d_set_col_target((size_t)1 << 40); /* one chunk */
  free(b.col);
  b.col = malloc(sizeof(float) * (bo_conv3d_col_size(c) + 1));
  bo_conv3d_forward(c, a.x, a.w, a.b, b.y, b.col, 0);
  bo_conv3d_backward(c, a.x, a.w, a.r, b.dx, b.dw, b.db, b.col, 0);
  bo_conv3d_set_col_target(old);
  for (size_t i = 0; i < ny; i++)
    ck_assert_msg(exact_y ? a.y[i] == b.y[i] : fabs(a.y[i] - b.y[i]) <= 1e-6 * r.Sy[i] + 1e-7,
                  "z chunks: y[%zu] %.9g, one chunk %.9g", i, (double)a.y[i], (double)b.y[i]);
  for (size_t i = 0; i < nx; i++)
    ck_assert_msg(fabs(a.dx[i] - b.dx[i]) <= 1e-6 * r.Sdx[i] + 1e-7, "z chunks: dx[%zu]", i);
  for (size_t i = 0; i < nw; i++)
    ck_assert_msg(fabs(a.dw[i] - b.dw[i]) <= 1e-6 * r.Sdw[i] + 1e-7, "z chunks: dw[%zu]", i);
  c3_ref_free(&r);
  c3_free(&a), c3_free(&b);
}

START_TEST(test_conv3d_z_chunks)
{
  const BOConv3dShape s = {3, 5, 6, 7, 6, 4, 3, 1, 1, 1}, z = {3, 5, 7, 8, 9, 4, 3, 2, 2, 2};
  const BOConv3dShape big   = {1, 8, 64, 64, 64, 8, 3, 1, 1, 2}; /* sy != sx: vol2col */
  const size_t        Kcols = (size_t)big.Cin * 27 * 64 * 32;    /* one output plane's columns */
  BONNKernels         cfg[6], old;
  const int           ncfg = BOTestKernelConfigs("test_conv3d_z_chunks", no_winograd, cfg);
  ck_assert_int_eq(bo_conv3d_algorithm(&big), BO_CONV3D_VOL2COL);
  ck_assert_msg(bo_conv3d_col_size(&big) < 2 * ((size_t)1 << 18) + 2 * Kcols, "z chunks: workspace %zu floats",
                bo_conv3d_col_size(&big));
  ck_assert_msg(bo_conv3d_col_size(&big) * 16 < Kcols * 64, "z chunks: workspace %zu floats", bo_conv3d_col_size(&big));
  bo_conv3d_set_vol2col(1);
  for (int c = 0; c < ncfg; c++) {
    ck_assert_int_eq(bo_nn_kernels_set(cfg[c], &old), 0);
    z_chunks_case(&s, cfg[c].gemm != BO_GEMM_BLAS);
    z_chunks_case(&z, cfg[c].gemm != BO_GEMM_BLAS);
    bo_nn_kernels_set(old, NULL);
  }
  bo_conv3d_set_vol2col(0);
}
END_TEST

/* The oracle: a volume of depth 1 under a kernel whose z = -1 and z = +1
 * taps are zero is a 2-D convolution of the plane with the z = 0 taps, so
 * bo_conv3d must agree with bo_conv_forward/backward (whichever algorithm
 * the 2-D call takes: Winograd, fused, im2col, pointwise) on the same data.
 * y and dx within 2e-5 S + 1e-6 (S the sum of |terms|: each side is within
 * 1e-5 S of the exact sum, Winograd's bound in test_nn.c, the direct sums
 * far closer), db the same, dw's z = 0 slice equal to the 2-D dw and its
 * other slices exactly zero (those taps read only padding). Both strides in
 * the plane, with sz = 1 and 2 (Do = 1 either way). */
START_TEST(test_conv3d_oracle_2d)
{
  /* B, Cin, H, W, Cout, k, stride */
  const int   cases[][7] = {{2, 3, 5, 6, 4, 3, 1}, {2, 3, 7, 6, 4, 3, 2}, {2, 4, 5, 4, 3, 1, 1}, {2, 4, 5, 7, 3, 1, 2}};
  BONNKernels cfg[6], old;
  const int ncfg = BOTestKernelConfigs("test_conv3d_oracle_2d", NULL, cfg); /* the 2-D side with and without Winograd */
  for (int c = 0; c < ncfg; c++) {
    ck_assert_int_eq(bo_nn_kernels_set(cfg[c], &old), 0);
    for (size_t t = 0; t < sizeof(cases) / sizeof(cases[0]); t++)
      for (int sz = 1; sz <= 2; sz++) {
        const int    *q = cases[t], k = q[5], kk = k * k;
        BOConvShape   s2 = {q[0], q[1], q[2], q[3], q[4], k, q[6], 0};
        BOConv3dShape s3 = {q[0], q[1], 1, q[2], q[3], q[4], k, sz, q[6], q[6]};
        const size_t  nx = c3_nx(&s3), nw2 = (size_t)s2.Cout * s2.Cin * kk, ny = c3_ny(&s3);
        ck_assert_uint_eq(ny, (size_t)s2.Cout * s2.B * bo_conv_out_h(&s2) * bo_conv_out_w(&s2));
        Conv3dBufs a = c3_alloc(&s3);
        /* the 3-D kernel: the 2-D one in its z = 0 slice (kz = k/2), zeros around it */
        float *w2 = malloc(sizeof(float) * nw2), *y2 = malloc(sizeof(float) * ny), *dx2 = malloc(sizeof(float) * nx),
              *dw2 = calloc(nw2, sizeof(float)), *db2 = calloc(s2.Cout, sizeof(float)),
              *col2 = malloc(sizeof(float) * (bo_conv_col_size(&s2) + 1));
        BOTestFillUniform(w2, nw2, -0.5, 0.5, 4321, 21);
        memset(a.w, 0, sizeof(float) * c3_nw(&s3));
        for (int oc = 0; oc < s2.Cout * s2.Cin; oc++)
          memcpy(a.w + (size_t)oc * k * kk + (size_t)(k / 2) * kk, w2 + (size_t)oc * kk, sizeof(float) * kk);
        Conv3dRef r = c3_ref(&s3, a.x, a.w, a.b, a.r); /* only its scales are used */
        bo_conv_forward(&s2, a.x, w2, a.b, y2, col2, 0);
        bo_conv3d_forward(&s3, a.x, a.w, a.b, a.y, a.col, 0);
        for (size_t i = 0; i < ny; i++)
          ck_assert_msg(fabs(a.y[i] - y2[i]) <= 2e-5 * r.Sy[i] + 1e-6, "oracle %zu sz %d: y[%zu] 3-D %.9g, 2-D %.9g", t,
                        sz, i, (double)a.y[i], (double)y2[i]);
        bo_conv_backward(&s2, a.x, w2, a.r, dx2, dw2, db2, col2, 0);
        bo_conv3d_backward(&s3, a.x, a.w, a.r, a.dx, a.dw, a.db, a.col, 0);
        for (size_t i = 0; i < nx; i++)
          ck_assert_msg(fabs(a.dx[i] - dx2[i]) <= 2e-5 * r.Sdx[i] + 1e-6,
                        "oracle %zu sz %d: dx[%zu] 3-D %.9g, 2-D %.9g", t, sz, i, (double)a.dx[i], (double)dx2[i]);
        for (int co = 0; co < s2.Cout; co++) ck_assert(fabs(a.db[co] - db2[co]) <= 2e-5 * r.Sdb[co] + 1e-6);
        for (int oc = 0; oc < s2.Cout * s2.Cin; oc++)
          for (int kz = 0; kz < k; kz++)
            for (int j = 0; j < kk; j++) {
              const size_t i3 = (size_t)oc * k * kk + (size_t)kz * kk + j, i2 = (size_t)oc * kk + j;
              if (kz == k / 2)
                ck_assert_msg(fabs(a.dw[i3] - dw2[i2]) <= 2e-5 * r.Sdw[i3] + 1e-6,
                              "oracle %zu sz %d: dw[%d][kz %d][%d] 3-D %.9g, 2-D %.9g", t, sz, oc, kz, j,
                              (double)a.dw[i3], (double)dw2[i2]);
              else ck_assert_msg(a.dw[i3] == 0.0f, "oracle %zu: dw of a padding-only tap = %g", t, (double)a.dw[i3]);
            }
        free(w2), free(y2), free(dx2), free(dw2), free(db2), free(col2);
        c3_ref_free(&r);
        c3_free(&a);
      }
    bo_nn_kernels_set(old, NULL);
  }
}
END_TEST

/* ---- nearest upsampling of volumes ---------------------------------------------------------- */

typedef struct {
  int    CB, D, H, W, fz;
  float *x, *y, *r;
} UpCtx;

static size_t up_ny(const UpCtx *u) { return (size_t)u->CB * u->fz * u->D * 4 * u->H * u->W; }

static double up_loss(void *c)
{
  UpCtx *u = c;
  bo_upsample3d_forward(u->CB, u->D, u->H, u->W, u->fz, u->x, u->y);
  return BOTestDot(up_ny(u), u->r, u->y);
}

/* Forward: every output equals its source voxel x[cb][oz/fz][oy/2][ox/2],
 * exactly. Backward: finite differences of every entry (linear: eps 0.25),
 * accumulating onto 0.5, and overwrite mode the same from garbage. */
START_TEST(test_upsample3d)
{
  /* CB, D, H, W: odd sizes, a single plane, a single row */
  const int cases[][4] = {{3, 3, 5, 4}, {2, 1, 3, 3}, {2, 4, 1, 5}};
  for (size_t t = 0; t < sizeof(cases) / sizeof(cases[0]); t++)
    for (int fz = 1; fz <= 2; fz++) {
      const int   *q = cases[t], CB = q[0], D = q[1], H = q[2], W = q[3];
      const size_t nx = (size_t)CB * D * H * W, ny = nx * 4 * fz;
      float       *x = malloc(sizeof(float) * nx), *dx = malloc(sizeof(float) * nx), *dx2 = malloc(sizeof(float) * nx),
            *y = malloc(sizeof(float) * ny), *r = malloc(sizeof(float) * ny);
      UpCtx u = {CB, D, H, W, fz, x, y, r};
      BOTestFillUniform(x, nx, -1, 1, 4321, 31);
      BOTestFillUniform(r, ny, -1, 1, 4321, 32);
      up_loss(&u);
      for (int cb = 0; cb < CB; cb++)
        for (int oz = 0; oz < fz * D; oz++)
          for (int oy = 0; oy < 2 * H; oy++)
            for (int ox = 0; ox < 2 * W; ox++) {
              float got  = y[(((size_t)cb * fz * D + oz) * 2 * H + oy) * 2 * W + ox];
              float want = x[(((size_t)cb * D + oz / fz) * H + oy / 2) * W + ox / 2];
              ck_assert_msg(got == want, "upsample3d fz %d: y[%d][%d][%d][%d] = %g, source %g", fz, cb, oz, oy, ox,
                            (double)got, (double)want);
            }
      for (size_t i = 0; i < nx; i++) dx[i] = 0.5f;
      bo_upsample3d_backward(CB, D, H, W, fz, r, dx, 1);
      for (size_t i = 0; i < nx; i++) dx[i] -= 0.5f;
      check_fd(fz == 1 ? "upsample3d fz 1 dx" : "upsample3d fz 2 dx", x, dx, nx, 0.25, up_loss, &u);
      for (size_t i = 0; i < nx; i++) dx2[i] = 77.0f;
      bo_upsample3d_backward(CB, D, H, W, fz, r, dx2, 0);
      for (size_t i = 0; i < nx; i++) ck_assert_msg(fabsf(dx2[i] - dx[i]) < 1e-6f, "upsample3d overwrite [%zu]", i);
      free(x), free(dx), free(dx2), free(y), free(r);
    }
}
END_TEST

/* ---- the flat-spatial layers on volumes --------------------------------------------------------
 * GroupNorm, the channel bias and concatenation take x [C][B][HW]; for a
 * volume [C][B][D][H][W] that is HW = D*H*W. The references below are
 * written with the three indices (z, y, x), from the header's formulas, so
 * they show that the 2-D functions are right for volumes: statistics over
 * the whole volume of a (sample, group), not per plane. */

#define VB 2
#define VC 6
#define VG 3
#define VD 3
#define VH 4
#define VW 5
#define VN (VB * VC * VD * VH * VW)

static size_t vol_at(int c, int b, int z, int y, int x) { return ((((size_t)c * VB + b) * VD + z) * VH + y) * VW + x; }

typedef struct {
  BOGroupNormShape s;
  float           *x, *g, *b, *y, *r, *mean, *rstd;
} VolGnCtx;

static double vol_gn_loss(void *c)
{
  VolGnCtx *k = c;
  bo_groupnorm_forward(&k->s, k->x, k->g, k->b, k->y, k->mean, k->rstd);
  return BOTestDot(VN, k->r, k->y);
}

/* z = gamma_c (x - mu) / sqrt(var + eps) + beta_c, y = silu ? silu(z) : z,
 * mu and the biased var over the C/G channels and all D H W voxels of a
 * (sample, group), in double. */
static void vol_gn_ref(int silu, const float *x, const float *gamma, const float *beta, double *y)
{
  const int Cg = VC / VG;
  for (int b = 0; b < VB; b++)
    for (int g = 0; g < VG; g++) {
      double sum = 0, sq = 0, n = (double)Cg * VD * VH * VW;
      for (int c = g * Cg; c < (g + 1) * Cg; c++)
        for (int z = 0; z < VD; z++)
          for (int yy = 0; yy < VH; yy++)
            for (int xx = 0; xx < VW; xx++) sum += x[vol_at(c, b, z, yy, xx)];
      const double mu = sum / n;
      for (int c = g * Cg; c < (g + 1) * Cg; c++)
        for (int z = 0; z < VD; z++)
          for (int yy = 0; yy < VH; yy++)
            for (int xx = 0; xx < VW; xx++) sq += (x[vol_at(c, b, z, yy, xx)] - mu) * (x[vol_at(c, b, z, yy, xx)] - mu);
      const double rstd = 1 / sqrt(sq / n + 1e-6);
      for (int c = g * Cg; c < (g + 1) * Cg; c++)
        for (int z = 0; z < VD; z++)
          for (int yy = 0; yy < VH; yy++)
            for (int xx = 0; xx < VW; xx++) {
              size_t i = vol_at(c, b, z, yy, xx);
              double v = gamma[c] * (x[i] - mu) * rstd + beta[c];
              y[i]     = silu ? v / (1 + exp(-v)) : v;
            }
    }
}

/* GroupNorm (+SiLU) of a volume: the forward pass against the reference
 * within 1e-4 (1 + |y|) (test_nn.c's float32 bound, ~2e-5; ~1e-6 seen),
 * the mean and rstd saved per (sample, group); dx, dgamma, dbeta against
 * finite differences (eps 1e-2, 2e-3 (1 + |g|): see the top of the file),
 * every entry, accumulating onto 0.25. */
START_TEST(test_volume_groupnorm)
{
  double worst = 0, e;
  for (int silu = 0; silu < 2; silu++) {
    float    x[VN], y[VN], r[VN], dx[VN], g[VC], b[VC], dg[VC] = {0}, db[VC] = {0}, mean[VB * VG], rstd[VB * VG];
    double   ref[VN];
    VolGnCtx c = {{VB, VC, VD * VH * VW, VG, silu, 1e-6f}, x, g, b, y, r, mean, rstd};
    BOTestFillUniform(x, VN, -2, 3, 4321, 41);
    BOTestFillUniform(g, VC, 0.5, 1.5, 4321, 42);
    BOTestFillUniform(b, VC, -0.5, 0.5, 4321, 43);
    BOTestFillUniform(r, VN, -1, 1, 4321, 44);
    /* make the planes differ in level, so that per-plane statistics would be wrong */
    for (int cc = 0; cc < VC; cc++)
      for (int bb = 0; bb < VB; bb++)
        for (int z = 0; z < VD; z++)
          for (int i = 0; i < VH * VW; i++) x[vol_at(cc, bb, z, 0, 0) + i] += (float)z;
    vol_gn_loss(&c);
    vol_gn_ref(silu, x, g, b, ref);
    for (int i = 0; i < VN; i++)
      ck_assert_msg(fabs(y[i] - ref[i]) <= 1e-4 * (1 + fabs(ref[i])),
                    "volume groupnorm silu %d: y[%d] = %.7g, ref %.7g", silu, i, (double)y[i], ref[i]);
    for (int i = 0; i < VN; i++) dx[i] = 0.25f;
    bo_groupnorm_backward(&c.s, x, g, b, mean, rstd, r, dx, dg, db, 1);
    for (int i = 0; i < VN; i++) dx[i] -= 0.25f;
    e     = check_fd(silu ? "volume gn+silu dx" : "volume gn dx", x, dx, VN, 1e-2, vol_gn_loss, &c),
    worst = e > worst ? e : worst;
    e = check_fd("volume gn dgamma", g, dg, VC, 1e-2, vol_gn_loss, &c), worst = e > worst ? e : worst;
    e = check_fd("volume gn dbeta", b, db, VC, 1e-2, vol_gn_loss, &c), worst = e > worst ? e : worst;
  }
  printf("volume groupnorm finite differences: max |g - fd| / (1 + |g|) = %.2e (tolerance %.0e)\n", worst, FD_TOL);
}
END_TEST

typedef struct {
  float *bias, *x0, *x, *r;
} VolBiasCtx;

static double vol_bias_loss(void *c)
{
  VolBiasCtx *k = c;
  memcpy(k->x, k->x0, sizeof(float) * VN);
  bo_channel_bias_forward(VB, VC, VD * VH * VW, k->bias, k->x);
  return BOTestDot(VN, k->r, k->x);
}

/* The channel bias on a volume: every voxel of (c, b) gets bias[b][c]
 * (exactly, one float addition); dbias[b][c] is the sum of dy over the
 * volume: against the double sum (within 60 u sum |dy|, the float sum of
 * D H W = 60 terms) and finite differences (linear: eps 0.25). Concatenation
 * of two volumes is the append of their channels: exact. */
START_TEST(test_volume_bias_concat)
{
  float      x0[VN], x[VN], r[VN], bias[VB * VC], dbias[VB * VC];
  VolBiasCtx c = {bias, x0, x, r};
  BOTestFillUniform(x0, VN, -1, 1, 4321, 51);
  BOTestFillUniform(r, VN, -1, 1, 4321, 52);
  BOTestFillUniform(bias, VB * VC, -1, 1, 4321, 53);
  vol_bias_loss(&c);
  for (int cc = 0; cc < VC; cc++)
    for (int bb = 0; bb < VB; bb++)
      for (int z = 0; z < VD; z++)
        for (int yy = 0; yy < VH; yy++)
          for (int xx = 0; xx < VW; xx++) {
            size_t i = vol_at(cc, bb, z, yy, xx);
            ck_assert_msg(x[i] == x0[i] + bias[bb * VC + cc], "volume bias: x[%d][%d][%d][%d][%d]", cc, bb, z, yy, xx);
          }
  bo_channel_bias_backward(VB, VC, VD * VH * VW, r, dbias);
  for (int cc = 0; cc < VC; cc++)
    for (int bb = 0; bb < VB; bb++) {
      double s = 0, sa = 0;
      for (int z = 0; z < VD; z++)
        for (int yy = 0; yy < VH; yy++)
          for (int xx = 0; xx < VW; xx++) s += r[vol_at(cc, bb, z, yy, xx)], sa += fabs(r[vol_at(cc, bb, z, yy, xx)]);
      ck_assert_msg(fabs(dbias[bb * VC + cc] - s) <= 60 * U_F32 * sa, "volume dbias[%d][%d] = %.9g, sum %.9g", bb, cc,
                    (double)dbias[bb * VC + cc], s);
    }
  check_fd("volume dbias", bias, dbias, VB * VC, 0.25, vol_bias_loss, &c);
  /* concatenation: a [2][B][D][H][W] then b [4][B][D][H][W] */
  const size_t na = (size_t)2 * VB * VD * VH * VW, nb = (size_t)4 * VB * VD * VH * VW;
  float        cat[VN], da[VN], dbb[VN];
  bo_concat_forward(na, nb, x0, r, cat);
  for (int cc = 0; cc < 6; cc++)
    for (int bb = 0; bb < VB; bb++)
      for (int z = 0; z < VD; z++)
        for (int yy = 0; yy < VH; yy++)
          for (int xx = 0; xx < VW; xx++) {
            float want = cc < 2 ? x0[vol_at(cc, bb, z, yy, xx)] : r[vol_at(cc - 2, bb, z, yy, xx)];
            ck_assert(cat[vol_at(cc, bb, z, yy, xx)] == want);
          }
  bo_concat_backward(na, nb, cat, da, dbb, 0, 0);
  ck_assert(!memcmp(da, x0, sizeof(float) * na) && !memcmp(dbb, r, sizeof(float) * nb));
}
END_TEST

/* ---- the residual block on volumes ------------------------------------------------------------- */

typedef struct {
  BOResBlock3dShape s;
  BOResBlockParams  p;
  BOResBlockActs    a;
  float            *x, *se, *y, *r, *col;
} Res3dCtx;

static size_t r3_n(const BOResBlock3dShape *s) { return (size_t)s->B * s->D * s->H * s->W; }

static double res3d_loss(void *c)
{
  Res3dCtx *k = c;
  bo_resblock3d_forward(&k->s, &k->p, k->x, k->se, &k->a, k->y, k->col);
  return BOTestDot(k->s.Cout * r3_n(&k->s), k->r, k->y);
}

/* All tensors of a block in one buffer (kernels k x k x kk); returns its length. */
static size_t res3d_params(int Cin, int Cout, int E, int film, size_t kk, float *base, BOResBlockParams *p)
{
  size_t off = 0, nt = (size_t)Cout * (film ? 2 : 1);
#define TAKE(f, n) (p->f = base ? base + off : NULL, off += (n))
  TAKE(gn1_g, Cin), TAKE(gn1_b, Cin), TAKE(conv1_w, Cout * Cin * kk), TAKE(conv1_b, Cout);
  TAKE(temb_w, nt * E), TAKE(temb_b, nt), TAKE(gn2_g, Cout), TAKE(gn2_b, Cout);
  TAKE(conv2_w, Cout * Cout * kk), TAKE(conv2_b, Cout);
  if (Cin != Cout) TAKE(skip_w, Cout * Cin), TAKE(skip_b, Cout);
  else p->skip_w = p->skip_b = NULL;
#undef TAKE
  return off;
}

/* GroupNorm + SiLU over x [C][B][V] in double, the result rounded to float;
 * with ss ([B][2C], FiLM) z = GN(x) (1 + ss[b][c]) + ss[b][C + c] before the SiLU. */
static void gn_film_silu_ref(int B, int C, size_t V, int G, const float *x, const float *gamma, const float *beta,
                             const double *ss, float *y)
{
  const int Cg = C / G;
  for (int b = 0; b < B; b++)
    for (int g = 0; g < G; g++) {
      double sum = 0, sq = 0, n = (double)Cg * V;
      for (int c = g * Cg; c < (g + 1) * Cg; c++)
        for (size_t i = 0; i < V; i++) sum += x[((size_t)c * B + b) * V + i];
      const double mu = sum / n;
      for (int c = g * Cg; c < (g + 1) * Cg; c++)
        for (size_t i = 0; i < V; i++)
          sq += (x[((size_t)c * B + b) * V + i] - mu) * (x[((size_t)c * B + b) * V + i] - mu);
      const double rstd = 1 / sqrt(sq / n + 1e-6);
      for (int c = g * Cg; c < (g + 1) * Cg; c++)
        for (size_t i = 0; i < V; i++) {
          size_t j = ((size_t)c * B + b) * V + i;
          double z = gamma[c] * (x[j] - mu) * rstd + beta[c];
          if (ss) z = z * (1 + ss[b * 2 * C + c]) + ss[b * 2 * C + C + c];
          y[j] = (float)(z / (1 + exp(-z)));
        }
    }
}

/* The block composed from the references: GroupNorm + SiLU and the direct
 * 3-D convolution in double (intermediates rounded to float, 6e-8
 * relative), the time bias, the skip. */
static void res3d_ref(const BOResBlock3dShape *s, const BOResBlockParams *p, const float *x, const float *se, double *y)
{
  const size_t  V = (size_t)s->D * s->H * s->W, N = r3_n(s);
  BOConv3dShape c1 = {s->B, s->Cin, s->D, s->H, s->W, s->Cout, s->k, 1, 1, 1}, c2 = c1, cs = c1;
  c2.Cin = s->Cout, cs.k = 1;
  float *a1 = malloc(sizeof(float) * s->Cin * N), *h1f = calloc(s->Cout * N, sizeof(float)),
        *a2    = malloc(sizeof(float) * s->Cout * N);
  double   *h1 = malloc(sizeof(double) * s->Cout * N), *skip = malloc(sizeof(double) * s->Cout * N);
  const int nt = s->Cout * (s->film ? 2 : 1);
  double   *tb = malloc(sizeof(double) * s->B * nt);
  gn_film_silu_ref(s->B, s->Cin, V, s->G1, x, p->gn1_g, p->gn1_b, NULL, a1);
  conv3d_direct(&c1, a1, p->conv1_w, p->conv1_b, h1, 0);
  for (int j = 0; j < nt; j++)
    for (int b = 0; b < s->B; b++) {
      tb[b * nt + j] = p->temb_b[j];
      for (int e = 0; e < s->E; e++) tb[b * nt + j] += (double)p->temb_w[j * s->E + e] * se[b * s->E + e];
    }
  if (!s->film)
    for (int c = 0; c < s->Cout; c++)
      for (int b = 0; b < s->B; b++)
        for (size_t i = 0; i < V; i++) h1[((size_t)c * s->B + b) * V + i] += tb[b * nt + c];
  for (size_t i = 0; i < s->Cout * N; i++) h1f[i] = (float)h1[i];
  gn_film_silu_ref(s->B, s->Cout, V, s->G2, h1f, p->gn2_g, p->gn2_b, s->film ? tb : NULL, a2);
  free(tb);
  if (p->skip_w) conv3d_direct(&cs, x, p->skip_w, p->skip_b, skip, 0);
  else
    for (size_t i = 0; i < s->Cout * N; i++) skip[i] = x[i];
  conv3d_direct(&c2, a2, p->conv2_w, p->conv2_b, y, 0);
  for (size_t i = 0; i < s->Cout * N; i++) y[i] += skip[i];
  free(a1), free(h1f), free(a2), free(h1), free(skip);
}

/* The forward pass against the composed reference within 1e-4 (1 + |y|)
 * (test_nn.c's bound for the 2-D block); every entry of dx, dsilu_e and of
 * every parameter against extrapolated central differences
 * (check_fd_richardson, h = 4e-2, 2e-3 (1 + |g|)). Returns the largest relative error. */
static double res3d_case(BOResBlock3dShape s)
{
  BOResBlockParams p, g;
  const size_t     kkk = (size_t)s.k * s.k * s.k, N = r3_n(&s),
               np = res3d_params(s.Cin, s.Cout, s.E, s.film, kkk, NULL, &p);
  float *pbuf = malloc(sizeof(float) * np), *gbuf = calloc(np, sizeof(float)), *x = malloc(sizeof(float) * s.Cin * N),
        *dx = malloc(sizeof(float) * s.Cin * N), *se = malloc(sizeof(float) * s.B * s.E),
        *dse = calloc(s.B * s.E, sizeof(float)), *y = malloc(sizeof(float) * s.Cout * N),
        *r = malloc(sizeof(float) * s.Cout * N), *acts = malloc(sizeof(float) * bo_resblock3d_acts_size(&s)),
        *col     = malloc(sizeof(float) * (bo_resblock3d_col_size(&s) + 1)),
        *scratch = malloc(sizeof(float) * bo_resblock3d_scratch_size(&s));
  double  *ref = malloc(sizeof(double) * s.Cout * N), worst = 0, e;
  Res3dCtx c;

  res3d_params(s.Cin, s.Cout, s.E, s.film, kkk, pbuf, &p);
  res3d_params(s.Cin, s.Cout, s.E, s.film, kkk, gbuf, &g);
  BOTestFillUniform(pbuf, np, -0.4, 0.4, 4321, 61);
  for (int i = 0; i < s.Cin; i++) p.gn1_g[i] += 1.0f;
  for (int i = 0; i < s.Cout; i++) p.gn2_g[i] += 1.0f;
  BOTestFillUniform(x, s.Cin * N, -2, 2, 4321, 62);
  BOTestFillUniform(se, s.B * s.E, -1, 1, 4321, 63);
  BOTestFillUniform(r, s.Cout * N, -1, 1, 4321, 64);
  bo_resblock3d_acts_set(&s, acts, &c.a);
  c.s = s, c.p = p, c.x = x, c.se = se, c.y = y, c.r = r, c.col = col;
  res3d_loss(&c);
  res3d_ref(&s, &p, x, se, ref);
  for (size_t i = 0; i < s.Cout * N; i++)
    ck_assert_msg(fabs(y[i] - ref[i]) <= 1e-4 * (1 + fabs(ref[i])), "resblock3d y[%zu] = %.7g, reference %.7g", i,
                  (double)y[i], ref[i]);
  bo_resblock3d_backward(&s, &p, &g, x, se, &c.a, r, dx, dse, col, scratch, 0);
  e = check_fd_richardson("res3d dx", x, dx, s.Cin * N, 4e-2, res3d_loss, &c), worst = e > worst ? e : worst;
  e = check_fd_richardson("res3d dsilu_e", se, dse, s.B * s.E, 4e-2, res3d_loss, &c), worst = e > worst ? e : worst;
  e = check_fd_richardson("res3d params", pbuf, gbuf, np, 4e-2, res3d_loss, &c), worst = e > worst ? e : worst;
  /* accumulate = 1 adds the same dx onto what was there */
  float *dx2 = malloc(sizeof(float) * s.Cin * N);
  for (size_t i = 0; i < s.Cin * N; i++) dx2[i] = 0.5f;
  memset(gbuf, 0, sizeof(float) * np);
  bo_resblock3d_backward(&s, &p, &g, x, se, &c.a, r, dx2, dse, col, scratch, 1);
  for (size_t i = 0; i < s.Cin * N; i++)
    ck_assert_msg(fabsf(dx2[i] - 0.5f - dx[i]) < 1e-5f, "res3d accumulate [%zu]", i);
  free(pbuf), free(gbuf), free(x), free(dx), free(dx2), free(se), free(dse), free(y), free(r), free(acts), free(col),
      free(scratch), free(ref);
  return worst;
}

START_TEST(test_resblock3d)
{
  double worst = 0, e;
  /* B, Cin, Cout, D, H, W, k, G1, G2, E (, film) */
  e = res3d_case((BOResBlock3dShape){2, 4, 6, 3, 4, 5, 3, 2, 3, 5, 0}), worst = e > worst ? e : worst; /* 1x1x1 skip */
  e     = res3d_case((BOResBlock3dShape){1, 4, 4, 2, 3, 3, 3, 2, 2, 3, 0}),
  worst = e > worst ? e : worst; /* identity skip */
  e = res3d_case((BOResBlock3dShape){2, 6, 4, 2, 2, 3, 1, 3, 2, 4, 0}), worst = e > worst ? e : worst; /* k = 1 */
  e = res3d_case((BOResBlock3dShape){2, 4, 6, 3, 4, 5, 3, 2, 3, 5, 1}), worst = e > worst ? e : worst; /* FiLM */
  printf("resblock3d finite differences: max |g - fd| / (1 + |g|) = %.2e (tolerance %.0e)\n", worst, FD_TOL);
}
END_TEST

Suite *suite_nn3d(void)
{
  Suite *s  = suite_create("nn3d");
  TCase *tc = tcase_create("layers3d");
  tcase_add_test(tc, test_conv3d_direct);
  tcase_add_test(tc, test_conv3d_gradients);
  tcase_add_test(tc, test_conv3d_chunked);
  tcase_add_test(tc, test_conv3d_z_chunks);
  tcase_add_test(tc, test_conv3d_planes_winograd);
  tcase_add_test(tc, test_conv3d_oracle_2d);
  tcase_add_test(tc, test_upsample3d);
  tcase_add_test(tc, test_volume_groupnorm);
  tcase_add_test(tc, test_volume_bias_concat);
  tcase_add_test(tc, test_resblock3d);
  suite_add_tcase(s, tc);
  return s;
}
