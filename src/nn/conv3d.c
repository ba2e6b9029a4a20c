/* 3-D convolution (include/bo_nn.h, "3-D convolution"): vol2col per chunk of
 * samples, then one product per chunk on the GEMM kernel in use (bo_nn_gemm:
 * our register block, or cblas_sgemm when it returns NULL), the same
 * drivers and operand layouts as the im2col path of conv.c. No Winograd and
 * no fused pass; a 1x1x1 stride-1 convolution is handed to the 2-D
 * pointwise one (a volume is then just D*H*W pixels).
 *
 * Indices. x is [Cin][B][D][H][W]: element (ci, b, iz, iy, ix) is at
 *   ((ci B + b) D + iz) H W + iy W + ix.
 * w is [Cout][Cin][k][k][k]: (co, ci, kz, ky, kx) at (((co Cin + ci) k + kz) k + ky) k + kx,
 * so row co of w, read as a [Cout x K] matrix with K = Cin k^3, has column
 * (ci k + kz) k^2 + ky k + kx. The column matrix of a chunk of nb samples
 * starting at b0 has K rows of nb Do Ho Wo columns (row stride col_ld):
 *   col[((ci k + kz) k + ky) k + kx][bb][oz][oy][ox] = x[ci][b0 + bb][iz][iy][ix],
 *   iz = oz sz + kz - p,  iy = oy sy + ky - p,  ix = ox sx + kx - p,  p = k/2,
 * and 0 where any of iz, iy, ix falls outside the volume (zero padding).
 * Then y[co][b0 + bb][:] = sum_K w[co][K] col[K][bb][:] is one product
 * W [Cout x K] . col [K x nb DHWo], written into y through its leading
 * dimension B DHWo (channels are outermost in y as in x). */
#include <cblas.h>
#include "nnimpl.h"

int bo_conv3d_out_d(const BOConv3dShape *s) { return (s->D - 1) / s->sz + 1; }
int bo_conv3d_out_h(const BOConv3dShape *s) { return (s->H - 1) / s->sy + 1; }
int bo_conv3d_out_w(const BOConv3dShape *s) { return (s->W - 1) / s->sx + 1; }

static int    c3_pointwise(const BOConv3dShape *s) { return s->k == 1 && s->sz == 1 && s->sy == 1 && s->sx == 1; }
static size_t c3_out_n(const BOConv3dShape *s)
{
  return (size_t)bo_conv3d_out_d(s) * bo_conv3d_out_h(s) * bo_conv3d_out_w(s);
}
static int c3_K(const BOConv3dShape *s) { return s->Cin * s->k * s->k * s->k; }

/* The 2-D shape that a pointwise 3-D convolution is: D*H rows of W. */
static BOConvShape c3_as_2d(const BOConv3dShape *s)
{
  BOConvShape c = {s->B, s->Cin, s->D * s->H, s->W, s->Cout, 1, 1, 0};
  return c;
}

/* Column matrix chunk size in floats, as COL_TARGET in conv.c (the chunk
 * stays in L2); at least one sample, so a large volume takes one sample per
 * chunk whatever its size. */
#define COL3_TARGET (1 << 18)

static int c3_chunk(const BOConv3dShape *s)
{
  size_t per_sample = (size_t)c3_K(s) * c3_out_n(s);
  size_t nb         = COL3_TARGET / (per_sample ? per_sample : 1);
  if (nb < 1) nb = 1;
  if (nb > (size_t)s->B) nb = (size_t)s->B;
  return (int)nb;
}

/* Offsets (floats) into the workspace, as conv.c's ConvWork: the row-major
 * column chunk, the packed W (forward) or W^T (data gradient), dy in tiles
 * (data gradient: tile_rows; weight gradient: tile_cols), and dW^T. */
typedef struct {
  size_t pack, dyt, dwt, total;
} Conv3dWork;

static Conv3dWork c3_work(const BOConv3dShape *s)
{
  const int    K  = c3_K(s);
  const size_t np = (size_t)c3_chunk(s) * c3_out_n(s), ntile = (np + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
  const size_t p1 = gemm_pack_size(s->Cout, K), p2 = gemm_pack_size(K, s->Cout);
  const size_t t1 = ntile * s->Cout, t2 = np * ((s->Cout + GEMM_NR - 1) / GEMM_NR * GEMM_NR);
  Conv3dWork   w;
  w.pack  = (size_t)K * col_ld((int)np);
  w.dyt   = w.pack + (p1 > p2 ? p1 : p2);
  w.dwt   = w.dyt + (t1 > t2 ? t1 : t2);
  w.total = w.dwt + (size_t)K * s->Cout;
  return w;
}

size_t bo_conv3d_col_size(const BOConv3dShape *s) { return c3_pointwise(s) ? 0 : c3_work(s).total; }

/* Along one axis of n inputs and no outputs: the outputs o whose input
 * i = o st + kk - pad lies in [0, n) form one range [*lo, *hi) (i grows
 * with o); the others read padding. */
static void c3_valid(int no, int st, int kk, int pad, int n, int *lo, int *hi)
{
  int a = 0, b = no;
  while (a < no && a * st + kk - pad < 0) a++;
  while (b > a && (b - 1) * st + kk - pad >= n) b--;
  *lo = a, *hi = b;
}

/* add = 0: col = vol2col(x) for samples b0 .. b0 + nb - 1 (the formula at
 * the top). add = 1: the transpose, x[...] += col[...] for every entry
 * that reads the volume (col2vol); padding entries are dropped. */
static void vol2col_chunk(const BOConv3dShape *s, int b0, int nb, float *x, float *col, int add)
{
  const int    k = s->k, pad = k / 2, D = s->D, H = s->H, W = s->W;
  const int    Do = bo_conv3d_out_d(s), Ho = bo_conv3d_out_h(s), Wo = bo_conv3d_out_w(s);
  const size_t DHW = (size_t)D * H * W, HWo = (size_t)Ho * Wo, DHWo = (size_t)Do * HWo;
  const size_t plane = col_ld((int)(nb * DHWo));

  for (int ci = 0; ci < s->Cin; ci++)
    for (int kz = 0; kz < k; kz++)
      for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
          float *row = col + (((size_t)(ci * k + kz) * k + ky) * k + kx) * plane;
          int    zlo, zhi, ylo, yhi, xlo, xhi;
          c3_valid(Do, s->sz, kz, pad, D, &zlo, &zhi);
          c3_valid(Ho, s->sy, ky, pad, H, &ylo, &yhi);
          c3_valid(Wo, s->sx, kx, pad, W, &xlo, &xhi);
          for (int bb = 0; bb < nb; bb++) {
            float *xb = x + ((size_t)ci * s->B + b0 + bb) * DHW; /* volume of (ci, b0 + bb) */
            float *rb = row + (size_t)bb * DHWo;
            for (int oz = 0; oz < Do; oz++) {
              float *rz = rb + (size_t)oz * HWo;
              if (oz < zlo || oz >= zhi) { /* the whole output plane reads padding */
                if (!add) memset(rz, 0, sizeof(float) * HWo);
                continue;
              }
              const int iz = oz * s->sz + kz - pad;
              for (int oy = 0; oy < Ho; oy++) {
                float *r = rz + (size_t)oy * Wo;
                if (oy < ylo || oy >= yhi) {
                  if (!add) memset(r, 0, sizeof(float) * Wo);
                  continue;
                }
                const int iy = oy * s->sy + ky - pad;
                /* ix = ox sx + kx - pad for ox in [xlo, xhi): all inside row (iz, iy) */
                float *xr = xb + ((size_t)iz * H + iy) * W;
                if (add) {
                  for (int ox = xlo; ox < xhi; ox++) xr[ox * s->sx + kx - pad] += r[ox];
                } else {
                  for (int ox = 0; ox < xlo; ox++) r[ox] = 0.0f;
                  for (int ox = xlo; ox < xhi; ox++) r[ox] = xr[ox * s->sx + kx - pad];
                  for (int ox = xhi; ox < Wo; ox++) r[ox] = 0.0f;
                }
              }
            }
          }
        }
}

void bo_conv3d_forward(const BOConv3dShape *s, const float *x, const float *w, const float *b, float *y, float *col,
                       int accumulate)
{
  if (c3_pointwise(s)) {
    BOConvShape c = c3_as_2d(s);
    bo_conv_forward(&c, x, w, b, y, col, accumulate);
    return;
  }
  const BOGemmKernel *g = bo_nn_gemm();
  const int           K = c3_K(s), nb = c3_chunk(s);
  const size_t        DHWo = c3_out_n(s), N = (size_t)s->B * DHWo;
  float              *pack = col + c3_work(s).pack;

  /* start from the bias (or add it), then products that add (beta = 1) */
  for (int co = 0; co < s->Cout; co++) {
    float v = b ? b[co] : 0.0f;
    if (!accumulate || v != 0.0f) k_fill_add(N, v, y + co * N, accumulate);
  }
  if (g) gemm_pack_a(s->Cout, K, w, K, 1, pack);
  for (int b0 = 0; b0 < s->B; b0 += nb) {
    const int n = s->B - b0 < nb ? s->B - b0 : nb, nc = (int)(n * DHWo);
    vol2col_chunk(s, b0, n, (float *)x, col, 0);
    /* y[:, b0 .. b0 + n) += W col: columns b0 DHWo .. of each row of y */
    if (g) gemm_packed(g, s->Cout, nc, K, pack, col, GEMM_NR, col_ld(nc), y + (size_t)b0 * DHWo, (int)N, 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Cout, nc, K, 1.0f, w, K, col, col_ld(nc), 1.0f,
                  y + (size_t)b0 * DHWo, (int)N);
  }
}

/* Per chunk of samples: dW^T += col dy^T (the weight gradient), then
 * dcol = W^T dy and col2vol into dx (the data gradient). */
void bo_conv3d_backward(const BOConv3dShape *s, const float *x, const float *w, const float *dy, float *dx, float *dw,
                        float *db, float *col, int accumulate)
{
  if (c3_pointwise(s)) {
    BOConvShape c = c3_as_2d(s);
    bo_conv_backward(&c, x, w, dy, dx, dw, db, col, accumulate);
    return;
  }
  const BOGemmKernel *g = bo_nn_gemm();
  const int           K = c3_K(s), nb = c3_chunk(s);
  const size_t        DHWo = c3_out_n(s), N = (size_t)s->B * DHWo, DHW = (size_t)s->D * s->H * s->W;
  const Conv3dWork    cw    = c3_work(s);
  float              *packT = col + cw.pack, *dyt = col + cw.dyt, *dwt = col + cw.dwt;

  if (db)
    for (int co = 0; co < s->Cout; co++) db[co] += k_sum(N, dy + co * N);
  if (g) {
    if (dx) gemm_pack_a(K, s->Cout, w, 1, K, packT); /* W^T(i, j) = w[j K + i] */
    memset(dwt, 0, sizeof(float) * K * s->Cout);
  }
  for (int b0 = 0; b0 < s->B; b0 += nb) {
    const int    n = s->B - b0 < nb ? s->B - b0 : nb, nc = (int)(n * DHWo);
    const float *dyc = dy + (size_t)b0 * DHWo; /* [Cout][n DHWo], leading dimension N */
    vol2col_chunk(s, b0, n, (float *)x, col, 0);
    /* dW^T [K x Cout] += col [K x nc] dyc^T */
    if (g) {
      tile_cols(s->Cout, nc, dyc, N, dyt);
      g->rowa(K, s->Cout, nc, col, col_ld(nc), dyt, (size_t)nc * GEMM_NR, GEMM_NR, dwt, s->Cout);
    } else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->Cout, K, nc, 1.0f, dyc, (int)N, col, col_ld(nc), 1.0f, dw,
                  K);
    if (!dx) continue;
    /* dcol [K x nc] = W^T dyc (overwrites the column chunk) */
    if (g) {
      tile_rows(s->Cout, nc, dyc, N, dyt);
      gemm_packed(g, K, nc, s->Cout, packT, dyt, (size_t)s->Cout * GEMM_NR, GEMM_NR, col, col_ld(nc), 0);
    } else
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, nc, s->Cout, 1.0f, w, K, dyc, (int)N, 0.0f, col,
                  col_ld(nc));
    /* dx of these samples: zeroed unless accumulating, then dcol added back
     * to the input voxels each entry was read from */
    if (!accumulate)
      for (int ci = 0; ci < s->Cin; ci++) memset(dx + ((size_t)ci * s->B + b0) * DHW, 0, sizeof(float) * n * DHW);
    vol2col_chunk(s, b0, n, dx, col, 1);
  }
  if (g) /* dw [Cout x K] += (dW^T)^T */
    for (int co = 0; co < s->Cout; co++)
      for (int kk = 0; kk < K; kk++) dw[(size_t)co * K + kk] += dwt[(size_t)kk * s->Cout + co];
}
