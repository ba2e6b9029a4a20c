/* Layers of the Blackout network: element-wise maps, linear, convolution
 * (im2col + one sgemm per chunk of samples), GroupNorm(+SiLU), time
 * embedding, upsampling, concatenation, attention and the residual block.
 * Shapes and conventions are in include/bo_nn.h. */
#include <cblas.h>
#include <math.h>
#include <string.h>
#include "bo_nn.h"

/* ---- element-wise ------------------------------------------------------- */

static inline float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

void bo_silu_forward(size_t n, const float *x, float *y)
{
  for (size_t i = 0; i < n; i++) y[i] = x[i] * sigmoidf_(x[i]);
}

/* silu'(x) = s (1 + x (1 - s)), s = sigmoid(x) */
void bo_silu_backward(size_t n, const float *x, const float *dy, float *dx, int accumulate)
{
  for (size_t i = 0; i < n; i++) {
    float s = sigmoidf_(x[i]), d = dy[i] * s * (1.0f + x[i] * (1.0f - s));
    dx[i]   = accumulate ? dx[i] + d : d;
  }
}

void bo_softplus_forward(size_t n, const float *x, float *y)
{
  /* log(1 + e^x) = max(x, 0) + log1p(e^{-|x|}) */
  for (size_t i = 0; i < n; i++) y[i] = fmaxf(x[i], 0.0f) + log1pf(expf(-fabsf(x[i])));
}

void bo_softplus_backward(size_t n, const float *x, const float *dy, float *dx, int accumulate)
{
  for (size_t i = 0; i < n; i++) {
    float d = dy[i] * sigmoidf_(x[i]);
    dx[i]   = accumulate ? dx[i] + d : d;
  }
}

/* ---- linear ---------------------------------------------------------------- */

void bo_linear_forward(int B, int in, int out, const float *x, const float *w, const float *b, float *y)
{
  for (int i = 0; i < B; i++)
    for (int o = 0; o < out; o++) y[(size_t)i * out + o] = b ? b[o] : 0.0f;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, out, in, 1.0f, x, in, w, in, 1.0f, y, out);
}

void bo_linear_backward(int B, int in, int out, const float *x, const float *w, const float *dy, float *dx, float *dw,
                        float *db, int accumulate)
{
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, B, 1.0f, dy, out, x, in, 1.0f, dw, in);
  if (db)
    for (int i = 0; i < B; i++)
      for (int o = 0; o < out; o++) db[o] += dy[(size_t)i * out + o];
  if (dx)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, in, out, 1.0f, dy, out, w, in, accumulate ? 1.0f : 0.0f,
                dx, in);
}

/* ---- convolution ------------------------------------------------------------ */

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

size_t bo_conv_col_size(const BOConvShape *s)
{
  if (conv_is_pointwise(s)) return 0;
  return (size_t)conv_chunk(s) * s->Cin * s->k * s->k * bo_conv_out_h(s) * bo_conv_out_w(s);
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

/* col[(ci k + ky) k + kx][bb][oy][ox] = x[ci][b0 + bb][iy][ix] for samples b0..b0+nb-1.
 * With add != 0 the transpose: x[...] += col[...] (col2im). */
static void im2col_chunk(const BOConvShape *s, int b0, int nb, float *x, float *col, int add)
{
  const int    H = s->H, W = s->W, k = s->k, st = s->stride, pad = k / 2, Ho = bo_conv_out_h(s), Wo = bo_conv_out_w(s);
  const size_t HW = (size_t)H * W, plane = (size_t)nb * Ho * Wo;

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

void bo_conv_forward(const BOConvShape *s, const float *x, const float *w, const float *b, float *y, float *col,
                     int accumulate)
{
  const int    K = s->Cin * s->k * s->k, HWo = bo_conv_out_h(s) * bo_conv_out_w(s);
  const size_t N = (size_t)s->B * HWo;

  /* start from the bias (or add it), then GEMM with beta = 1 */
  for (int co = 0; co < s->Cout; co++) {
    float v = b ? b[co] : 0.0f, *yr = y + co * N;
    if (accumulate) {
      if (v != 0.0f)
        for (size_t i = 0; i < N; i++) yr[i] += v;
    } else
      for (size_t i = 0; i < N; i++) yr[i] = v;
  }
  if (conv_is_pointwise(s)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Cout, (int)N, K, 1.0f, w, K, x, (int)N, 1.0f, y, (int)N);
    return;
  }
  const int nb = conv_chunk(s);
  for (int b0 = 0; b0 < s->B; b0 += nb) {
    int n = s->B - b0 < nb ? s->B - b0 : nb;
    im2col_chunk(s, b0, n, (float *)x, col, 0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Cout, n * HWo, K, 1.0f, w, K, col, n * HWo, 1.0f,
                y + (size_t)b0 * HWo, (int)N);
  }
}

void bo_conv_backward(const BOConvShape *s, const float *x, const float *w, const float *dy, float *dx, float *dw,
                      float *db, float *col, int accumulate)
{
  const int    K = s->Cin * s->k * s->k, HWo = bo_conv_out_h(s) * bo_conv_out_w(s);
  const size_t N = (size_t)s->B * HWo, HWi = (size_t)s->H * s->W;

  if (db)
    for (int co = 0; co < s->Cout; co++) {
      const float *r = dy + co * N;
      float        acc = 0.0f;
      for (size_t i = 0; i < N; i++) acc += r[i];
      db[co] += acc;
    }
  if (conv_is_pointwise(s)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->Cout, K, (int)N, 1.0f, dy, (int)N, x, (int)N, 1.0f, dw, K);
    if (dx)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, (int)N, s->Cout, 1.0f, w, K, dy, (int)N,
                  accumulate ? 1.0f : 0.0f, dx, (int)N);
    return;
  }
  const int nb = conv_chunk(s);
  for (int b0 = 0; b0 < s->B; b0 += nb) {
    int          n   = s->B - b0 < nb ? s->B - b0 : nb;
    const float *dyc = dy + (size_t)b0 * HWo;
    im2col_chunk(s, b0, n, (float *)x, col, 0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->Cout, K, n * HWo, 1.0f, dyc, (int)N, col, n * HWo, 1.0f,
                dw, K);
    if (!dx) continue;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, n * HWo, s->Cout, 1.0f, w, K, dyc, (int)N, 0.0f, col,
                n * HWo);
    if (!accumulate)
      for (int ci = 0; ci < s->Cin; ci++) memset(dx + ((size_t)ci * s->B + b0) * HWi, 0, sizeof(float) * n * HWi);
    im2col_chunk(s, b0, n, dx, col, 1);
  }
}

/* ---- GroupNorm (+SiLU) ----------------------------------------------------------- */

/* Channel c of sample b: HW contiguous floats. */
static inline size_t gn_row(const BOGroupNormShape *s, int c, int b) { return ((size_t)c * s->B + b) * s->HW; }

void bo_groupnorm_forward(const BOGroupNormShape *s, const float *x, const float *gamma, const float *beta, float *y,
                          float *mean, float *rstd)
{
  const int Cg = s->C / s->G;
  const double n = (double)Cg * s->HW;

  for (int b = 0; b < s->B; b++)
    for (int g = 0; g < s->G; g++) {
      /* two passes in double: the mean, then the variance about it */
      double sum = 0.0, sq = 0.0;
      for (int c = g * Cg; c < (g + 1) * Cg; c++) {
        const float *xr = x + gn_row(s, c, b);
        float        acc = 0.0f;
        for (int i = 0; i < s->HW; i++) acc += xr[i];
        sum += acc;
      }
      const float mu = (float)(sum / n);
      for (int c = g * Cg; c < (g + 1) * Cg; c++) {
        const float *xr = x + gn_row(s, c, b);
        float        acc = 0.0f;
        for (int i = 0; i < s->HW; i++) acc += (xr[i] - mu) * (xr[i] - mu);
        sq += acc;
      }
      const float r = (float)(1.0 / sqrt(sq / n + s->eps));
      mean[b * s->G + g] = mu;
      rstd[b * s->G + g] = r;
      for (int c = g * Cg; c < (g + 1) * Cg; c++) {
        const float *xr = x + gn_row(s, c, b);
        float       *yr = y + gn_row(s, c, b);
        const float  a = gamma[c] * r, o = beta[c] - mu * a; /* z = a x + o */
        if (s->silu)
          for (int i = 0; i < s->HW; i++) {
            float z = a * xr[i] + o;
            yr[i]   = z * sigmoidf_(z);
          }
        else
          for (int i = 0; i < s->HW; i++) yr[i] = a * xr[i] + o;
      }
    }
}

/* With xhat = (x - mu) rstd and dz = dL/dz (dz = dy silu'(z) when fused):
 *   dgamma_c += sum dz xhat,  dbeta_c += sum dz,
 *   dx = rstd (gamma dz - mean_g(gamma dz) - xhat mean_g(gamma dz xhat)). */
void bo_groupnorm_backward(const BOGroupNormShape *s, const float *x, const float *gamma, const float *beta,
                           const float *mean, const float *rstd, const float *dy, float *dx, float *dgamma,
                           float *dbeta, int accumulate)
{
  const int    Cg = s->C / s->G;
  const double n  = (double)Cg * s->HW;

  for (int b = 0; b < s->B; b++)
    for (int g = 0; g < s->G; g++) {
      const float mu = mean[b * s->G + g], r = rstd[b * s->G + g];
      double      s1 = 0.0, s2 = 0.0; /* sums of gamma dz and gamma dz xhat over the group */
      /* pass 1: dz (kept in dx when not accumulating is not possible: dx may
       * hold other gradients), so recompute dz in pass 2 */
      for (int c = g * Cg; c < (g + 1) * Cg; c++) {
        const float *xr = x + gn_row(s, c, b), *dyr = dy + gn_row(s, c, b);
        const float  a = gamma[c] * r, o = beta[c] - mu * a;
        float        sdz = 0.0f, sdzx = 0.0f;
        for (int i = 0; i < s->HW; i++) {
          float xh = (xr[i] - mu) * r, dz = dyr[i];
          if (s->silu) {
            float z = a * xr[i] + o, sg = sigmoidf_(z);
            dz *= sg * (1.0f + z * (1.0f - sg));
          }
          sdz += dz;
          sdzx += dz * xh;
        }
        dbeta[c] += sdz;
        dgamma[c] += sdzx;
        s1 += (double)gamma[c] * sdz;
        s2 += (double)gamma[c] * sdzx;
      }
      const float m1 = (float)(s1 / n), m2 = (float)(s2 / n);
      for (int c = g * Cg; c < (g + 1) * Cg; c++) {
        const float *xr = x + gn_row(s, c, b), *dyr = dy + gn_row(s, c, b);
        float       *dxr = dx + gn_row(s, c, b);
        const float  a = gamma[c] * r, o = beta[c] - mu * a;
        for (int i = 0; i < s->HW; i++) {
          float xh = (xr[i] - mu) * r, dz = dyr[i];
          if (s->silu) {
            float z = a * xr[i] + o, sg = sigmoidf_(z);
            dz *= sg * (1.0f + z * (1.0f - sg));
          }
          float d = r * (gamma[c] * dz - m1 - xh * m2);
          dxr[i]  = accumulate ? dxr[i] + d : d;
        }
      }
    }
}

/* ---- time embedding, channel bias, upsampling, concatenation -------------------- */

void bo_timestep_embedding(int dim, double k, float *e)
{
  const int half = dim / 2;
  for (int j = 0; j < half; j++) {
    double f = exp(-(double)j * log(10000.0) / (double)(half - 1));
    e[j]        = (float)sin(k * f);
    e[half + j] = (float)cos(k * f);
  }
}

void bo_channel_bias_forward(int B, int C, int HW, const float *bias, float *x)
{
  for (int c = 0; c < C; c++)
    for (int b = 0; b < B; b++) {
      float *xr = x + ((size_t)c * B + b) * HW, v = bias[(size_t)b * C + c];
      for (int i = 0; i < HW; i++) xr[i] += v;
    }
}

void bo_channel_bias_backward(int B, int C, int HW, const float *dy, float *dbias)
{
  for (int c = 0; c < C; c++)
    for (int b = 0; b < B; b++) {
      const float *r   = dy + ((size_t)c * B + b) * HW;
      float        acc = 0.0f;
      for (int i = 0; i < HW; i++) acc += r[i];
      dbias[(size_t)b * C + c] = acc;
    }
}

void bo_upsample2x_forward(int CB, int H, int W, const float *x, float *y)
{
  for (size_t p = 0; p < (size_t)CB * H; p++) { /* p = one input row */
    const float *xr = x + p * W;
    float       *y0 = y + p * 4 * W, *y1 = y0 + 2 * W;
    for (int i = 0; i < W; i++) y0[2 * i] = y0[2 * i + 1] = xr[i];
    memcpy(y1, y0, sizeof(float) * 2 * W);
  }
}

void bo_upsample2x_backward(int CB, int H, int W, const float *dy, float *dx, int accumulate)
{
  for (size_t p = 0; p < (size_t)CB * H; p++) {
    const float *y0 = dy + p * 4 * W, *y1 = y0 + 2 * W;
    float       *xr = dx + p * W;
    for (int i = 0; i < W; i++) {
      float d = (y0[2 * i] + y0[2 * i + 1]) + (y1[2 * i] + y1[2 * i + 1]);
      xr[i]   = accumulate ? xr[i] + d : d;
    }
  }
}

void bo_concat_forward(size_t na, size_t nb, const float *a, const float *b, float *y)
{
  memcpy(y, a, sizeof(float) * na);
  memcpy(y + na, b, sizeof(float) * nb);
}

static void copy_or_add(size_t n, const float *src, float *dst, int accumulate)
{
  if (!accumulate) memcpy(dst, src, sizeof(float) * n);
  else
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

void bo_concat_backward(size_t na, size_t nb, const float *dy, float *da, float *db, int acc_a, int acc_b)
{
  if (da) copy_or_add(na, dy, da, acc_a);
  if (db) copy_or_add(nb, dy + na, db, acc_b);
}

/* ---- self-attention ------------------------------------------------------------- */
/* work = [hn C*N][mean B*G][rstd B*G][qkv 3C*N][P B*HW*HW][o C*N], N = B*HW */

size_t bo_attention_work_size(const BOAttentionShape *s)
{
  size_t N = (size_t)s->B * s->HW;
  return 5 * (size_t)s->C * N + 2 * (size_t)s->B * s->G + (size_t)s->B * s->HW * s->HW;
}

size_t bo_attention_scratch_size(const BOAttentionShape *s)
{
  size_t N = (size_t)s->B * s->HW;
  return 5 * (size_t)s->C * N + (size_t)s->HW * s->HW;
}

typedef struct {
  float *hn, *mean, *rstd, *qkv, *P, *o;
} AttnWork;

static AttnWork attn_work(const BOAttentionShape *s, const float *work)
{
  size_t   N = (size_t)s->B * s->HW;
  AttnWork w;
  w.hn   = (float *)work;
  w.mean = w.hn + s->C * N;
  w.rstd = w.mean + s->B * s->G;
  w.qkv  = w.rstd + s->B * s->G;
  w.P    = w.qkv + 3 * s->C * N;
  w.o    = w.P + (size_t)s->B * s->HW * s->HW;
  return w;
}

static void softmax_rows(int n, float *S)
{
  for (int i = 0; i < n; i++) {
    float *r = S + (size_t)i * n, mx = r[0], sum = 0.0f;
    for (int j = 1; j < n; j++) mx = fmaxf(mx, r[j]);
    for (int j = 0; j < n; j++) sum += (r[j] = expf(r[j] - mx));
    for (int j = 0; j < n; j++) r[j] /= sum;
  }
}

void bo_attention_forward(const BOAttentionShape *s, const float *x, const float *gamma, const float *beta,
                          const float *wqkv, const float *bqkv, const float *wo, const float *bo, float *y,
                          float *work)
{
  const int        C = s->C, HW = s->HW, N = s->B * s->HW;
  const float      scale = 1.0f / sqrtf((float)C);
  AttnWork         w     = attn_work(s, work);
  BOGroupNormShape gs    = {s->B, C, HW, s->G, 0, 1e-6f};
  BOConvShape      qkv   = {s->B, C, 1, HW, 3 * C, 1, 1, 0}, proj = {s->B, C, 1, HW, C, 1, 1, 0};

  bo_groupnorm_forward(&gs, x, gamma, beta, w.hn, w.mean, w.rstd);
  bo_conv_forward(&qkv, w.hn, wqkv, bqkv, w.qkv, NULL, 0);
  for (int b = 0; b < s->B; b++) {
    const float *Q = w.qkv + (size_t)b * HW, *K = Q + (size_t)C * N, *V = K + (size_t)C * N;
    float       *P = w.P + (size_t)b * HW * HW;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, HW, HW, C, scale, Q, N, K, N, 0.0f, P, HW);
    softmax_rows(HW, P);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, C, HW, HW, 1.0f, V, N, P, HW, 0.0f, w.o + (size_t)b * HW, N);
  }
  memcpy(y, x, sizeof(float) * C * (size_t)N); /* residual */
  bo_conv_forward(&proj, w.o, wo, bo, y, NULL, 1);
}

void bo_attention_backward(const BOAttentionShape *s, const float *x, const float *gamma, const float *beta,
                           const float *wqkv, const float *wo, const float *work, const float *dy, float *dx,
                           float *dgamma, float *dbeta, float *dwqkv, float *dbqkv, float *dwo, float *dbo,
                           float *scratch, int accumulate)
{
  const int        C = s->C, HW = s->HW, N = s->B * s->HW;
  const float      scale = 1.0f / sqrtf((float)C);
  AttnWork         w     = attn_work(s, work);
  BOGroupNormShape gs    = {s->B, C, HW, s->G, 0, 1e-6f};
  BOConvShape      qkv   = {s->B, C, 1, HW, 3 * C, 1, 1, 0}, proj = {s->B, C, 1, HW, C, 1, 1, 0};
  float           *dO = scratch, *dqkv = dO + (size_t)C * N, *dhn = dqkv + 3 * (size_t)C * N, *dP = dhn + (size_t)C * N;

  copy_or_add((size_t)C * N, dy, dx, accumulate); /* residual */
  bo_conv_backward(&proj, w.o, wo, dy, dO, dwo, dbo, NULL, 0);
  for (int b = 0; b < s->B; b++) {
    const float *Q = w.qkv + (size_t)b * HW, *K = Q + (size_t)C * N, *V = K + (size_t)C * N;
    const float *P = w.P + (size_t)b * HW * HW, *dOb = dO + (size_t)b * HW;
    float       *dQ = dqkv + (size_t)b * HW, *dK = dQ + (size_t)C * N, *dV = dK + (size_t)C * N;
    /* O = V P^T:  dV = dO P,  dP = dO^T V */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, C, HW, HW, 1.0f, dOb, N, P, HW, 0.0f, dV, N);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, HW, HW, C, 1.0f, dOb, N, V, N, 0.0f, dP, HW);
    /* softmax: dS_ij = P_ij (dP_ij - sum_l P_il dP_il), times the 1/sqrt(C) scale */
    for (int i = 0; i < HW; i++) {
      const float *pr = P + (size_t)i * HW;
      float       *dr = dP + (size_t)i * HW, dot = 0.0f;
      for (int j = 0; j < HW; j++) dot += pr[j] * dr[j];
      for (int j = 0; j < HW; j++) dr[j] = scale * pr[j] * (dr[j] - dot);
    }
    /* S = Q^T K:  dQ = K dS^T,  dK = Q dS */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, C, HW, HW, 1.0f, K, N, dP, HW, 0.0f, dQ, N);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, C, HW, HW, 1.0f, Q, N, dP, HW, 0.0f, dK, N);
  }
  bo_conv_backward(&qkv, w.hn, wqkv, dqkv, dhn, dwqkv, dbqkv, NULL, 0);
  bo_groupnorm_backward(&gs, x, gamma, beta, w.mean, w.rstd, dhn, dx, dgamma, dbeta, 1);
}

/* ---- residual block ---------------------------------------------------------------- */

static BOConvShape rb_conv(const BOResBlockShape *s, int cin, int cout, int k)
{
  BOConvShape c = {s->B, cin, s->H, s->W, cout, k, 1, s->periodic};
  return c;
}

size_t bo_resblock_acts_size(const BOResBlockShape *s)
{
  size_t N = (size_t)s->B * s->H * s->W;
  return (size_t)s->Cin * N + 2 * (size_t)s->Cout * N + (size_t)s->B * s->Cout + 2 * (size_t)s->B * (s->G1 + s->G2);
}

void bo_resblock_acts_set(const BOResBlockShape *s, float *base, BOResBlockActs *a)
{
  size_t N = (size_t)s->B * s->H * s->W;
  a->a1    = base;
  a->h1    = a->a1 + s->Cin * N;
  a->a2    = a->h1 + s->Cout * N;
  a->tb    = a->a2 + s->Cout * N;
  a->mean1 = a->tb + s->B * s->Cout;
  a->rstd1 = a->mean1 + s->B * s->G1;
  a->mean2 = a->rstd1 + s->B * s->G1;
  a->rstd2 = a->mean2 + s->B * s->G2;
}

size_t bo_resblock_col_size(const BOResBlockShape *s)
{
  BOConvShape c1 = rb_conv(s, s->Cin, s->Cout, s->k), c2 = rb_conv(s, s->Cout, s->Cout, s->k);
  size_t      n1 = bo_conv_col_size(&c1), n2 = bo_conv_col_size(&c2);
  return n1 > n2 ? n1 : n2;
}

size_t bo_resblock_scratch_size(const BOResBlockShape *s)
{
  size_t N = (size_t)s->B * s->H * s->W, cmax = s->Cin > s->Cout ? s->Cin : s->Cout;
  return cmax * N + (size_t)s->Cout * N + (size_t)s->B * s->Cout;
}

void bo_resblock_forward(const BOResBlockShape *s, const BOResBlockParams *p, const float *x, const float *silu_e,
                         BOResBlockActs *a, float *y, float *col)
{
  const int        HW = s->H * s->W;
  BOGroupNormShape g1 = {s->B, s->Cin, HW, s->G1, 1, 1e-6f}, g2 = {s->B, s->Cout, HW, s->G2, 1, 1e-6f};
  BOConvShape      c1 = rb_conv(s, s->Cin, s->Cout, s->k), c2 = rb_conv(s, s->Cout, s->Cout, s->k);

  bo_groupnorm_forward(&g1, x, p->gn1_g, p->gn1_b, a->a1, a->mean1, a->rstd1);
  bo_conv_forward(&c1, a->a1, p->conv1_w, p->conv1_b, a->h1, col, 0);
  bo_linear_forward(s->B, s->E, s->Cout, silu_e, p->temb_w, p->temb_b, a->tb);
  bo_channel_bias_forward(s->B, s->Cout, HW, a->tb, a->h1);
  bo_groupnorm_forward(&g2, a->h1, p->gn2_g, p->gn2_b, a->a2, a->mean2, a->rstd2);
  if (p->skip_w) {
    BOConvShape cs = rb_conv(s, s->Cin, s->Cout, 1);
    bo_conv_forward(&cs, x, p->skip_w, p->skip_b, y, NULL, 0);
  } else memcpy(y, x, sizeof(float) * s->Cout * (size_t)s->B * HW);
  bo_conv_forward(&c2, a->a2, p->conv2_w, p->conv2_b, y, col, 1); /* y = skip + conv2(a2) */
}

void bo_resblock_backward(const BOResBlockShape *s, const BOResBlockParams *p, const BOResBlockParams *g,
                          const float *x, const float *silu_e, const BOResBlockActs *a, const float *dy, float *dx,
                          float *dsilu_e, float *col, float *scratch, int accumulate)
{
  const int        HW = s->H * s->W;
  const size_t     N  = (size_t)s->B * HW, cmax = s->Cin > s->Cout ? s->Cin : s->Cout;
  BOGroupNormShape g1 = {s->B, s->Cin, HW, s->G1, 1, 1e-6f}, g2 = {s->B, s->Cout, HW, s->G2, 1, 1e-6f};
  BOConvShape      c1 = rb_conv(s, s->Cin, s->Cout, s->k), c2 = rb_conv(s, s->Cout, s->Cout, s->k);
  float           *da = scratch, *dh1 = da + cmax * N, *dtb = dh1 + s->Cout * N;

  /* skip path first: it initialises dx (or adds to it) */
  if (p->skip_w) {
    BOConvShape cs = rb_conv(s, s->Cin, s->Cout, 1);
    bo_conv_backward(&cs, x, p->skip_w, dy, dx, g->skip_w, g->skip_b, NULL, accumulate);
  } else copy_or_add((size_t)s->Cout * N, dy, dx, accumulate);
  bo_conv_backward(&c2, a->a2, p->conv2_w, dy, da, g->conv2_w, g->conv2_b, col, 0);
  bo_groupnorm_backward(&g2, a->h1, p->gn2_g, p->gn2_b, a->mean2, a->rstd2, da, dh1, g->gn2_g, g->gn2_b, 0);
  bo_channel_bias_backward(s->B, s->Cout, HW, dh1, dtb);
  bo_linear_backward(s->B, s->E, s->Cout, silu_e, p->temb_w, dtb, dsilu_e, g->temb_w, g->temb_b, 1);
  bo_conv_backward(&c1, a->a1, p->conv1_w, dh1, da, g->conv1_w, g->conv1_b, col, 0);
  bo_groupnorm_backward(&g1, x, p->gn1_g, p->gn1_b, a->mean1, a->rstd1, da, dx, g->gn1_g, g->gn1_b, 1);
}
