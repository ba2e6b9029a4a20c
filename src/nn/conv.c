/* Convolution: the entry points, the choice of algorithm (bo_conv_algorithm
 * in kernels.c), im2col and the fused forward pass. Shapes and conventions
 * are in include/bo_nn.h; the GEMM kernels in nnimpl.h. */
#include <cblas.h>
#include "nnimpl.h"

int bo_conv_out_h(const BOConvShape *s) { return (s->H - 1) / s->stride + 1; }
int bo_conv_out_w(const BOConvShape *s) { return (s->W - 1) / s->stride + 1; }

static int conv_is_pointwise(const BOConvShape *s) { return s->k == 1 && s->stride == 1; }

/* im2col is done for a chunk of samples at a time so that the column matrix
 * stays in the L2 cache; the GEMM then writes its slice of the output
 * through the leading dimension. COL_TARGET is the chunk size in floats. */
#define COL_TARGET (1 << 18)

static int conv_chunk(const BOConvShape *s)
{
  size_t per_sample = (size_t)s->Cin * s->k * s->k * bo_conv_out_h(s) * bo_conv_out_w(s);
  size_t nb         = COL_TARGET / (per_sample ? per_sample : 1);
  if (nb < 1) nb = 1;
  if (nb > (size_t)s->B) nb = (size_t)s->B;
  return (int)nb;
}

/* Floats of the row-major im2col chunk. */
static size_t conv_col_part(const BOConvShape *s)
{
  return (size_t)s->Cin * s->k * s->k * col_ld(conv_chunk(s) * bo_conv_out_h(s) * bo_conv_out_w(s));
}

/* Offsets (floats) into the conv workspace: the row-major im2col chunk
 * (or, in the fused forward, one block of it), the packed weights (W or
 * W^T), dy in tiles for the backward data product, and dW^T. */
typedef struct {
  size_t pack, dyt, dwt, total;
} ConvWork;

static ConvWork conv_work(const BOConvShape *s)
{
  const int K = s->Cin * s->k * s->k, HWo = bo_conv_out_h(s) * bo_conv_out_w(s);
  size_t    p1 = gemm_pack_size(s->Cout, K), p2 = gemm_pack_size(K, s->Cout);
  size_t    np = (size_t)conv_chunk(s) * HWo, ntile = (np + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
  size_t    t1 = ntile * s->Cout, t2 = np * ((s->Cout + GEMM_NR - 1) / GEMM_NR * GEMM_NR);
  ConvWork  w;
  w.pack  = conv_col_part(s);
  w.dyt   = w.pack + (p1 > p2 ? p1 : p2);
  w.dwt   = w.dyt + (t1 > t2 ? t1 : t2);
  w.total = w.dwt + (size_t)K * s->Cout;
  return w;
}

/* Large enough for every algorithm, so that the kernels can be changed
 * after the workspaces were planned. */
size_t bo_conv_col_size(const BOConvShape *s)
{
  if (conv_is_pointwise(s)) return 0;
  size_t a = conv_work(s).total, b = bo_winograd_work_size(s);
  return a > b ? a : b;
}

/* Input index along one axis for output position o and kernel offset kk;
 * -1 means a zero (outside, not periodic). */
static inline int conv_src(int o, int kk, int stride, int pad, int n, int periodic)
{
  int i = o * stride + kk - pad;
  if (i >= 0 && i < n) return i;
  if (!periodic) return -1;
  return i < 0 ? i + n : i - n;
}

/* The common case (stride 1, zero padding) plane by plane: the row of col
 * for kernel offset (dy, dx) is the input plane shifted by dy W + dx, which
 * is ONE flat copy; only the rows shifted in from outside and the column
 * that wraps around need zeroing afterwards. With add != 0 the transpose
 * (col2im): zero those entries of col first (col is scratch then), then add
 * the flat range. */
HOT static void shift_plane(int H, int W, int dy, int dx, float *restrict x, float *restrict c, int add)
{
  int oy0 = dy < 0 ? -dy : 0, oy1 = dy > 0 ? H - dy : H; /* output rows with a source row */
  if (add) {
    if (dx != 0)
      for (int oy = oy0; oy < oy1; oy++) c[oy * W + (dx < 0 ? 0 : W - 1)] = 0.0f;
  } else {
    for (int oy = 0; oy < oy0; oy++) memset(c + oy * W, 0, sizeof(float) * W);
    for (int oy = oy1; oy < H; oy++) memset(c + oy * W, 0, sizeof(float) * W);
  }
  if (oy1 <= oy0) return;
  /* flat range: c[i] <-> x[i + dy W + dx] for i in [oy0 W, oy1 W), trimmed by
   * one element at the end that would read outside the plane */
  long lo = (long)oy0 * W, hi = (long)oy1 * W, off = (long)dy * W + dx;
  if (dx < 0) lo++;
  if (dx > 0) hi--;
  float *cs = c + lo, *xs = x + lo + off;
  size_t n = (size_t)(hi - lo);
  if (add)
    for (size_t i = 0; i < n; i++) xs[i] += cs[i];
  else {
    memcpy(cs, xs, sizeof(float) * n);
    if (dx != 0)
      for (int oy = oy0; oy < oy1; oy++) c[oy * W + (dx < 0 ? 0 : W - 1)] = 0.0f;
  }
}

/* col[(ci k + ky) k + kx][bb][oy][ox] = x[ci][b0 + bb][iy][ix] for samples b0..b0+nb-1.
 * With add = 1 the transpose: x[...] += col[...] (col2im); add = 2 (stride
 * 1, zero padding only): the same but overwriting x. */
static void im2col_chunk(const BOConvShape *s, int b0, int nb, float *x, float *col, int add)
{
  const int    H = s->H, W = s->W, k = s->k, st = s->stride, pad = k / 2, Ho = bo_conv_out_h(s), Wo = bo_conv_out_w(s);
  const size_t HW = (size_t)H * W, plane = col_ld(nb * Ho * Wo);

  if (st == 1 && !s->periodic) {
    for (int ci = 0; ci < s->Cin; ci++) {
      if (add == 2) /* overwrite: the centre offset covers every pixel, so it initialises x */
        for (int bb = 0; bb < nb; bb++)
          memcpy(x + ((size_t)ci * s->B + b0 + bb) * HW,
                 col + ((size_t)(ci * k + pad) * k + pad) * plane + (size_t)bb * HW, sizeof(float) * HW);
      for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
          float *row = col + ((size_t)(ci * k + ky) * k + kx) * plane;
          if (add == 2 && ky == pad && kx == pad) continue;
          for (int bb = 0; bb < nb; bb++)
            shift_plane(H, W, ky - pad, kx - pad, x + ((size_t)ci * s->B + b0 + bb) * HW, row + (size_t)bb * HW,
                        add != 0);
        }
    }
    return;
  }
  for (int ci = 0; ci < s->Cin; ci++)
    for (int ky = 0; ky < k; ky++)
      for (int kx = 0; kx < k; kx++) {
        float *row = col + ((size_t)(ci * k + ky) * k + kx) * plane;
        /* valid output columns [lo, hi) map to ix = ox*st + kx - pad inside [0, W) */
        int lo = 0, hi = Wo;
        while (lo < Wo && lo * st + kx - pad < 0) lo++;
        while (hi > lo && (hi - 1) * st + kx - pad >= W) hi--;
        for (int bb = 0; bb < nb; bb++) {
          float *xb = x + ((size_t)ci * s->B + b0 + bb) * HW;
          for (int oy = 0; oy < Ho; oy++) {
            float *r  = row + ((size_t)bb * Ho + oy) * Wo;
            int    iy = conv_src(oy, ky, st, pad, H, s->periodic);
            if (iy < 0) {
              if (!add) memset(r, 0, sizeof(float) * Wo);
              continue;
            }
            float *xr = xb + (size_t)iy * W;
            for (int ox = 0; ox < lo; ox++) {
              int ix = conv_src(ox, kx, st, pad, W, s->periodic);
              if (add) {
                if (ix >= 0) xr[ix] += r[ox];
              } else r[ox] = ix >= 0 ? xr[ix] : 0.0f;
            }
            const int off = kx - pad;
            if (st == 1) {
              if (add)
                for (int ox = lo; ox < hi; ox++) xr[ox + off] += r[ox];
              else memcpy(r + lo, xr + lo + off, sizeof(float) * (hi - lo));
            } else {
              if (add)
                for (int ox = lo; ox < hi; ox++) xr[ox * st + off] += r[ox];
              else
                for (int ox = lo; ox < hi; ox++) r[ox] = xr[ox * st + off];
            }
            for (int ox = hi; ox < Wo; ox++) {
              int ix = conv_src(ox, kx, st, pad, W, s->periodic);
              if (add) {
                if (ix >= 0) xr[ix] += r[ox];
              } else r[ox] = ix >= 0 ? xr[ix] : 0.0f;
            }
          }
        }
      }
}

/* One 32-pixel piece of a shifted plane (stride 1, zero padding): d[j] =
 * x[i0 + j + off] when that is inside the plane, else 0; then every W-th
 * entry from j0 on (the column that wrapped around; j0 >= 32: none) is
 * zeroed. Rows shifted in from outside fall outside [0, HW): zeros. */
static inline void shift_piece(const float *x, long HW, long off, long i0, int W, int j0, float *d)
{
  long s0 = i0 + off;
  if (s0 >= 0 && s0 + GEMM_NR <= HW) memcpy(d, x + s0, sizeof(float) * GEMM_NR);
  else
    for (int j = 0; j < GEMM_NR; j++) d[j] = s0 + j >= 0 && s0 + j < HW ? x[s0 + j] : 0.0f;
  for (int j = j0; j < GEMM_NR; j += W) d[j] = 0.0f;
}

/* The forward convolution fused with its im2col (stride 1, zero padding):
 * for each 32-pixel tile and each block of
 * GEMM_KB im2col rows, build that block (KB x 32 floats, in L1) straight
 * from x and multiply it at once into y. No im2col matrix is ever
 * written to memory. y already holds the bias (or the residual). buf:
 * min(K, GEMM_KB) x 32 floats. */
HOT static void conv_forward_fused(const BOGemmKernel *g, const BOConvShape *s, const float *x, const float *pack,
                                   float *y, float *buf)
{
  const int    k = s->k, kk = k * k, pad = k / 2, K = s->Cin * kk, W = s->W, HWo = s->H * s->W;
  const int    tiles = (HWo + GEMM_NR - 1) / GEMM_NR;
  const size_t HW = (size_t)HWo, N = (size_t)s->B * HWo;

  for (int b = 0; b < s->B; b++)
    for (int t = 0; t < tiles; t++) {
      /* pieces start at pixel column r; the first entries in column 0 and
       * in column W-1 (zeroed for kernel columns that wrap); the last tile
       * of a plane may be partial (masked) */
      const int r = (t * GEMM_NR) % W, jl = (W - r) % W, jr = (2 * W - 1 - r) % W;
      const int nr = HWo - t * GEMM_NR < GEMM_NR ? HWo - t * GEMM_NR : GEMM_NR;
      for (int k0 = 0; k0 < K; k0 += GEMM_KB) {
        const int kn = K - k0 < GEMM_KB ? K - k0 : GEMM_KB;
        int       ci = k0 / kk, ky = k0 % kk / k, kx = k0 % k; /* row k0 + kr = (ci k + ky) k + kx, stepped */
        for (int kr = 0; kr < kn; kr++) {
          const int dx = kx - pad;
          shift_piece(x + ((size_t)ci * s->B + b) * HW, (long)HW, (long)(ky - pad) * W + dx, (long)t * GEMM_NR, W,
                      dx < 0   ? jl
                      : dx > 0 ? jr
                               : GEMM_NR,
                      buf + (size_t)kr * GEMM_NR);
          if (++kx == k) {
            kx = 0;
            if (++ky == k) ky = 0, ci++;
          }
        }
        for (int mb = 0; mb < s->Cout; mb += GEMM_MR)
          g->block(kn, pack + (size_t)mb * K + (size_t)k0 * GEMM_MR, buf, GEMM_NR, nr,
                   y + (size_t)mb * N + (size_t)b * HWo + (size_t)t * GEMM_NR, (int)N,
                   s->Cout - mb < GEMM_MR ? s->Cout - mb : GEMM_MR, 1);
      }
    }
}

/* ---- entry points ------------------------------------------------------------ */

/* y (+)= conv(x, w), the bias already in y: one product over all pixels. */
static void forward_pointwise(const BOGemmKernel *g, const BOConvShape *s, const float *x, const float *w, float *y)
{
  const size_t N = (size_t)s->B * s->H * s->W;
  if (g) gemm_pointwise(g, s->Cout, N, s->Cin, w, x, y);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Cout, (int)N, s->Cin, 1.0f, w, s->Cin, x, (int)N, 1.0f, y,
                (int)N);
}

/* y (+)= conv(x, w), the bias already in y: im2col per chunk of samples,
 * then our kernel or cblas. */
static void forward_im2col(const BOGemmKernel *g, const BOConvShape *s, const float *x, const float *w, float *y,
                           float *col)
{
  const int    K = s->Cin * s->k * s->k, HWo = bo_conv_out_h(s) * bo_conv_out_w(s), nb = conv_chunk(s);
  const size_t N    = (size_t)s->B * HWo;
  float       *pack = col + conv_work(s).pack;

  if (g) gemm_pack_a(s->Cout, K, w, K, 1, pack);
  for (int b0 = 0; b0 < s->B; b0 += nb) {
    int n = s->B - b0 < nb ? s->B - b0 : nb;
    im2col_chunk(s, b0, n, (float *)x, col, 0);
    if (g) gemm_packed(g, s->Cout, n * HWo, K, pack, col, GEMM_NR, col_ld(n * HWo), y + (size_t)b0 * HWo, (int)N, 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Cout, n * HWo, K, 1.0f, w, K, col, col_ld(n * HWo),
                  1.0f, y + (size_t)b0 * HWo, (int)N);
  }
}

/* Our kernels sum each output column in an order that does not depend on
 * the other columns, so a sample's output does not depend on the batch;
 * OpenBLAS's order can depend on the width of the product. */
void bo_conv_forward(const BOConvShape *s, const float *x, const float *w, const float *b, float *y, float *col,
                     int accumulate)
{
  const size_t          N = (size_t)s->B * bo_conv_out_h(s) * bo_conv_out_w(s);
  const BOConvAlgorithm a = bo_conv_algorithm(s);
  const BOGemmKernel   *g = bo_nn_gemm();

  if (a == BO_CONV_WINOGRAD) { /* adds the bias itself */
    bo_winograd_forward(s, x, w, 0, b, y, col, accumulate);
    return;
  }
  /* start from the bias (or add it), then products with beta = 1 */
  for (int co = 0; co < s->Cout; co++) {
    float v = b ? b[co] : 0.0f;
    if (!accumulate || v != 0.0f) k_fill_add(N, v, y + co * N, accumulate);
  }
  switch (a) {
  case BO_CONV_POINTWISE: forward_pointwise(g, s, x, w, y); break;
  case BO_CONV_FUSED: {
    const int K    = s->Cin * s->k * s->k;
    float    *pack = col + conv_work(s).pack;
    gemm_pack_a(s->Cout, K, w, K, 1, pack);
    conv_forward_fused(g, s, x, pack, y, col);
  } break;
  default: forward_im2col(g, s, x, w, y, col); break;
  }
}

static void backward_pointwise(const BOConvShape *s, const float *x, const float *w, const float *dy, float *dx,
                               float *dw, int accumulate)
{
  const int N = s->B * s->H * s->W, K = s->Cin;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->Cout, K, N, 1.0f, dy, N, x, N, 1.0f, dw, K);
  if (dx)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, s->Cout, 1.0f, w, K, dy, N, accumulate ? 1.0f : 0.0f, dx,
                N);
}

/* By Winograd: the weight gradient, then dx as the transposed convolution,
 * a stride-1 3x3 convolution of dy with the flipped kernels (Cin and Cout
 * swapped), in the same workspace. */
static void backward_winograd(const BOConvShape *s, const float *x, const float *w, const float *dy, float *dx,
                              float *dw, float *col, int accumulate)
{
  bo_winograd_wgrad(s, x, dy, dw, col);
  if (dx) {
    BOConvShape t = *s;
    t.Cin = s->Cout, t.Cout = s->Cin;
    bo_winograd_forward(&t, dy, w, 1, NULL, dx, col, accumulate);
  }
}

/* Per chunk of samples: dW^T += col dy^T and dcol = W^T dy, then col2im. */
static void backward_im2col(const BOGemmKernel *g, const BOConvShape *s, const float *x, const float *w,
                            const float *dy, float *dx, float *dw, float *col, int accumulate)
{
  const int      K = s->Cin * s->k * s->k, HWo = bo_conv_out_h(s) * bo_conv_out_w(s), nb = conv_chunk(s);
  const size_t   N = (size_t)s->B * HWo, HWi = (size_t)s->H * s->W;
  const ConvWork cw    = conv_work(s);
  float         *packT = col + cw.pack, *dyt = col + cw.dyt, *dwt = col + cw.dwt;

  if (g) {
    if (dx) gemm_pack_a(K, s->Cout, w, 1, K, packT); /* W^T(i, j) = w[j K + i] */
    memset(dwt, 0, sizeof(float) * K * s->Cout);
  }
  for (int b0 = 0; b0 < s->B; b0 += nb) {
    int          n   = s->B - b0 < nb ? s->B - b0 : nb;
    const float *dyc = dy + (size_t)b0 * HWo;
    im2col_chunk(s, b0, n, (float *)x, col, 0);
    /* dW^T [K x Cout] += col [K x n HWo] dy^T */
    if (g) {
      tile_cols(s->Cout, n * HWo, dyc, N, dyt);
      g->rowa(K, s->Cout, n * HWo, col, col_ld(n * HWo), dyt, (size_t)n * HWo * GEMM_NR, GEMM_NR, dwt, s->Cout);
    } else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->Cout, K, n * HWo, 1.0f, dyc, (int)N, col, col_ld(n * HWo),
                  1.0f, dw, K);
    if (!dx) continue;
    /* dcol = W^T dy */
    if (g) {
      tile_rows(s->Cout, n * HWo, dyc, N, dyt);
      gemm_packed(g, K, n * HWo, s->Cout, packT, dyt, (size_t)s->Cout * GEMM_NR, GEMM_NR, col, col_ld(n * HWo), 0);
    } else
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, n * HWo, s->Cout, 1.0f, w, K, dyc, (int)N, 0.0f, col,
                  col_ld(n * HWo));
    if (!accumulate && s->stride == 1 && !s->periodic) im2col_chunk(s, b0, n, dx, col, 2); /* col2im, overwriting */
    else {
      if (!accumulate)
        for (int ci = 0; ci < s->Cin; ci++) memset(dx + ((size_t)ci * s->B + b0) * HWi, 0, sizeof(float) * n * HWi);
      im2col_chunk(s, b0, n, dx, col, 1);
    }
  }
  if (g)
    for (int co = 0; co < s->Cout; co++)
      for (int kk = 0; kk < K; kk++) dw[(size_t)co * K + kk] += dwt[(size_t)kk * s->Cout + co];
}

void bo_conv_backward(const BOConvShape *s, const float *x, const float *w, const float *dy, float *dx, float *dw,
                      float *db, float *col, int accumulate)
{
  const size_t N = (size_t)s->B * bo_conv_out_h(s) * bo_conv_out_w(s);

  if (db)
    for (int co = 0; co < s->Cout; co++) db[co] += k_sum(N, dy + co * N);
  switch (bo_conv_algorithm(s)) {
  case BO_CONV_POINTWISE: backward_pointwise(s, x, w, dy, dx, dw, accumulate); break;
  case BO_CONV_WINOGRAD: backward_winograd(s, x, w, dy, dx, dw, col, accumulate); break;
  default: backward_im2col(bo_nn_gemm(), s, x, w, dy, dx, dw, col, accumulate); break; /* fused or im2col */
  }
}
