/* Layers of the Blackout network: element-wise maps, linear, GroupNorm(+SiLU),
 * time embedding, channel bias, FiLM, upsampling and concatenation. Convolutions
 * are in conv.c, attention and the residual block in their own files.
 * Shapes and conventions are in include/bo_nn.h. */
#include <cblas.h>
#include <math.h>
#include "nnimpl.h"

/* ---- GroupNorm's vector kernels ------------------------------------------------ */

/* sum (x - mu)^2 */
HOT static float k_sumsq_dev(size_t n, const float *restrict x, float mu)
{
  float  acc[LANES] = {0}, s = 0.0f;
  size_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++) acc[j] += (x[i + j] - mu) * (x[i + j] - mu);
  for (int j = 0; j < LANES; j++) s += acc[j];
  for (; i < n; i++) s += (x[i] - mu) * (x[i] - mu);
  return s;
}

/* y = z or silu(z), z = a x + o */
HOT static void k_affine_silu(size_t n, const float *restrict x, float a, float o, float *restrict y, int silu)
{
  if (silu)
    for (size_t i = 0; i < n; i++) {
      float z = a * x[i] + o;
      y[i]    = z / (1.0f + fast_expf(-z));
    }
  else
    for (size_t i = 0; i < n; i++) y[i] = a * x[i] + o;
}

/* dz = dy silu'(z) (or dy), z = a x + o; returns sum dz and sum dz xhat,
 * xhat = (x - mu) r, and stores dz in dz_out unless it is NULL. */
HOT static void k_gn_back_sums(size_t n, const float *x, const float *dy, float a, float o, float mu, float r, int silu,
                               float *sdz, float *sdzx, float *dz_out)
{
  float  s1[LANES] = {0}, s2[LANES] = {0}, t1 = 0.0f, t2 = 0.0f;
  size_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++) {
      float xv = x[i + j], z = a * xv + o, sg = 1.0f / (1.0f + fast_expf(-z));
      float dz = silu ? dy[i + j] * sg * (1.0f + z * (1.0f - sg)) : dy[i + j];
      s1[j] += dz, s2[j] += dz * ((xv - mu) * r);
      if (dz_out) dz_out[i + j] = dz;
    }
  for (int j = 0; j < LANES; j++) t1 += s1[j], t2 += s2[j];
  for (; i < n; i++) {
    float xv = x[i], z = a * xv + o, sg = 1.0f / (1.0f + fast_expf(-z));
    float dz = silu ? dy[i] * sg * (1.0f + z * (1.0f - sg)) : dy[i];
    t1 += dz, t2 += dz * ((xv - mu) * r);
    if (dz_out) dz_out[i] = dz;
  }
  *sdz = t1, *sdzx = t2;
}

/* dx = r (g dz - m1 - xhat m2), dz read from dx (in place) */
HOT static void k_gn_back_dx_inplace(size_t n, const float *restrict x, float mu, float r, float g, float m1, float m2,
                                     float *restrict dx)
{
  for (size_t i = 0; i < n; i++) dx[i] = r * (g * dx[i] - m1 - (x[i] - mu) * r * m2);
}

/* dx (+)= r (g dz - m1 - xhat m2) */
HOT static void k_gn_back_dx(size_t n, const float *restrict x, const float *restrict dy, float a, float o, float mu,
                             float r, float g, float m1, float m2, int silu, float *restrict dx, int acc)
{
  for (size_t i = 0; i < n; i++) {
    float xv = x[i], z = a * xv + o, sg = 1.0f / (1.0f + fast_expf(-z));
    float dz = silu ? dy[i] * sg * (1.0f + z * (1.0f - sg)) : dy[i];
    float d  = r * (g * dz - m1 - (xv - mu) * r * m2);
    dx[i]    = acc ? dx[i] + d : d;
  }
}

/* ---- element-wise ------------------------------------------------------- */

HOT void bo_silu_forward(size_t n, const float *x, float *y)
{
  for (size_t i = 0; i < n; i++) y[i] = x[i] * sigmoidf_(x[i]);
}

/* silu'(x) = s (1 + x (1 - s)), s = sigmoid(x) */
HOT void bo_silu_backward(size_t n, const float *x, const float *dy, float *dx, int accumulate)
{
  for (size_t i = 0; i < n; i++) {
    float s = sigmoidf_(x[i]), d = dy[i] * s * (1.0f + x[i] * (1.0f - s));
    dx[i] = accumulate ? dx[i] + d : d;
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
    float d = dy[i] / (1.0f + expf(-x[i]));
    dx[i]   = accumulate ? dx[i] + d : d;
  }
}

/* ---- linear ---------------------------------------------------------------- */

void bo_linear_forward(int B, int in, int out, const float *x, const float *w, const float *b, float *y)
{
  for (int i = 0; i < B; i++)
    for (int o = 0; o < out; o++) y[(size_t)i * out + o] = b ? b[o] : 0.0f;
  for (int i = 0; i < B; i++)
    cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, w, in, x + (size_t)i * in, 1, 1.0f, y + (size_t)i * out, 1);
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

/* ---- GroupNorm (+SiLU) --------------------------------------------------------- */

/* Channel c of sample b: HW contiguous floats. */
static inline size_t gn_row(const BOGroupNormShape *s, int c, int b) { return ((size_t)c * s->B + b) * s->HW; }

void bo_groupnorm_forward(const BOGroupNormShape *s, const float *x, const float *gamma, const float *beta, float *y,
                          float *mean, float *rstd)
{
  const int    Cg = s->C / s->G;
  const double n  = (double)Cg * s->HW;

  for (int b = 0; b < s->B; b++)
    for (int g = 0; g < s->G; g++) {
      /* two passes: the mean, then the variance about it (sums per channel
       * in float, over the group in double) */
      double sum = 0.0, sq = 0.0;
      for (int c = g * Cg; c < (g + 1) * Cg; c++) sum += k_sum(s->HW, x + gn_row(s, c, b));
      const float mu = (float)(sum / n);
      for (int c = g * Cg; c < (g + 1) * Cg; c++) sq += k_sumsq_dev(s->HW, x + gn_row(s, c, b), mu);
      const float r      = (float)(1.0 / sqrt(sq / n + s->eps));
      mean[b * s->G + g] = mu;
      rstd[b * s->G + g] = r;
      for (int c = g * Cg; c < (g + 1) * Cg; c++) {
        const float a = gamma[c] * r, o = beta[c] - mu * a; /* z = a x + o */
        k_affine_silu(s->HW, x + gn_row(s, c, b), a, o, y + gn_row(s, c, b), s->silu);
      }
    }
}

/* With xhat = (x - mu) rstd and dz = dL/dz (dz = dy silu'(z) when fused):
 *   dgamma_c += sum dz xhat,  dbeta_c += sum dz,
 *   dx = rstd (gamma dz - mean_g(gamma dz) - xhat mean_g(gamma dz xhat)).
 * dz is recomputed in the second pass rather than stored. */
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
      for (int c = g * Cg; c < (g + 1) * Cg; c++) {
        const float a = gamma[c] * r, o = beta[c] - mu * a;
        float       sdz, sdzx;
        /* overwriting dx: keep dz there for the second pass; else recompute it */
        k_gn_back_sums(s->HW, x + gn_row(s, c, b), dy + gn_row(s, c, b), a, o, mu, r, s->silu, &sdz, &sdzx,
                       accumulate ? NULL : dx + gn_row(s, c, b));
        dbeta[c] += sdz;
        dgamma[c] += sdzx;
        s1 += (double)gamma[c] * sdz;
        s2 += (double)gamma[c] * sdzx;
      }
      const float m1 = (float)(s1 / n), m2 = (float)(s2 / n);
      for (int c = g * Cg; c < (g + 1) * Cg; c++) {
        const float a = gamma[c] * r, o = beta[c] - mu * a;
        if (accumulate)
          k_gn_back_dx(s->HW, x + gn_row(s, c, b), dy + gn_row(s, c, b), a, o, mu, r, gamma[c], m1, m2, s->silu,
                       dx + gn_row(s, c, b), 1);
        else k_gn_back_dx_inplace(s->HW, x + gn_row(s, c, b), mu, r, gamma[c], m1, m2, dx + gn_row(s, c, b));
      }
    }
}

/* ---- time embedding, channel bias, upsampling, concatenation -------------------- */

void bo_timestep_embedding(int dim, double k, float *e)
{
  const int half = dim / 2;
  for (int j = 0; j < half; j++) {
    double f    = exp(-(double)j * log(10000.0) / (double)(half - 1));
    e[j]        = (float)sin(k * f);
    e[half + j] = (float)cos(k * f);
  }
}

void bo_channel_bias_forward(int B, int C, int HW, const float *bias, float *x)
{
  for (int c = 0; c < C; c++)
    for (int b = 0; b < B; b++) {
      k_fill_add(HW, bias[(size_t)b * C + c], x + ((size_t)c * B + b) * HW, 1);
    }
}

void bo_channel_bias_backward(int B, int C, int HW, const float *dy, float *dbias)
{
  for (int c = 0; c < C; c++)
    for (int b = 0; b < B; b++) {
      dbias[(size_t)b * C + c] = k_sum(HW, dy + ((size_t)c * B + b) * HW);
    }
}

/* z = x (1 + scale) + shift, y = silu(z), for one (channel, sample) plane */
HOT static void k_film_silu(size_t n, const float *restrict x, float scale, float shift, float *restrict y)
{
  for (size_t i = 0; i < n; i++) {
    float z = x[i] * (1.0f + scale) + shift;
    y[i]    = z / (1.0f + fast_expf(-z));
  }
}

/* dz = dy silu'(z); returns sum dz and sum dz x; dx = dz (1 + scale) (dx may be dy) */
HOT static void k_film_silu_back(size_t n, const float *x, const float *dy, float scale, float shift, float *sdz,
                                 float *sdzx, float *dx)
{
  float  s1[LANES] = {0}, s2[LANES] = {0}, t1 = 0.0f, t2 = 0.0f;
  size_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++) {
      float xv = x[i + j], z = xv * (1.0f + scale) + shift, sg = 1.0f / (1.0f + fast_expf(-z));
      float dz = dy[i + j] * sg * (1.0f + z * (1.0f - sg));
      s1[j] += dz, s2[j] += dz * xv, dx[i + j] = dz * (1.0f + scale);
    }
  for (int j = 0; j < LANES; j++) t1 += s1[j], t2 += s2[j];
  for (; i < n; i++) {
    float xv = x[i], z = xv * (1.0f + scale) + shift, sg = 1.0f / (1.0f + fast_expf(-z));
    float dz = dy[i] * sg * (1.0f + z * (1.0f - sg));
    t1 += dz, t2 += dz * xv, dx[i] = dz * (1.0f + scale);
  }
  *sdz = t1, *sdzx = t2;
}

void bo_film_silu_forward(int B, int C, int HW, const float *x, const float *ss, float *y)
{
  for (int c = 0; c < C; c++)
    for (int b = 0; b < B; b++) {
      size_t off = ((size_t)c * B + b) * HW;
      k_film_silu(HW, x + off, ss[(size_t)b * 2 * C + c], ss[(size_t)b * 2 * C + C + c], y + off);
    }
}

void bo_film_silu_backward(int B, int C, int HW, const float *x, const float *ss, const float *dy, float *dx,
                           float *dss)
{
  for (int c = 0; c < C; c++)
    for (int b = 0; b < B; b++) {
      size_t off = ((size_t)c * B + b) * HW, is = (size_t)b * 2 * C + c, it = is + C;
      k_film_silu_back(HW, x + off, dy + off, ss[is], ss[it], &dss[it], &dss[is], dx + off);
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

/* Volumes: input plane p = cb D + z (H x W) goes to output planes
 * fz p .. fz p + fz - 1 (2H x 2W), since cb fz D + fz z = fz p. Each output
 * plane is the 2-D nearest upsampling of its input plane. */
void bo_upsample3d_forward(int CB, int D, int H, int W, int fz, const float *x, float *y)
{
  const size_t HW = (size_t)H * W, P = (size_t)CB * D;
  if (fz == 1) {
    bo_upsample2x_forward((int)P, H, W, x, y);
    return;
  }
  for (size_t p = 0; p < P; p++) {
    float *y0 = y + 2 * p * 4 * HW;
    bo_upsample2x_forward(1, H, W, x + p * HW, y0);
    memcpy(y0 + 4 * HW, y0, sizeof(float) * 4 * HW);
  }
}

/* dx (+)= the sum over each 2 x 2 block of dy, over both output planes of
 * the input plane when fz = 2 */
void bo_upsample3d_backward(int CB, int D, int H, int W, int fz, const float *dy, float *dx, int accumulate)
{
  const size_t HW = (size_t)H * W, P = (size_t)CB * D;
  if (fz == 1) {
    bo_upsample2x_backward((int)P, H, W, dy, dx, accumulate);
    return;
  }
  for (size_t p = 0; p < P; p++)
    for (int iy = 0; iy < H; iy++) {
      const float *a0 = dy + 2 * p * 4 * HW + (size_t)iy * 4 * W, *a1 = a0 + 2 * W; /* rows 2iy, 2iy+1 of plane 2p */
      const float *b0 = a0 + 4 * HW, *b1 = b0 + 2 * W;                              /* the same rows of plane 2p+1 */
      float       *xr = dx + p * HW + (size_t)iy * W;
      for (int i = 0; i < W; i++) {
        float d = ((a0[2 * i] + a0[2 * i + 1]) + (a1[2 * i] + a1[2 * i + 1])) +
                  ((b0[2 * i] + b0[2 * i + 1]) + (b1[2 * i] + b1[2 * i + 1]));
        xr[i] = accumulate ? xr[i] + d : d;
      }
    }
}

void bo_concat_forward(size_t na, size_t nb, const float *a, const float *b, float *y)
{
  memcpy(y, a, sizeof(float) * na);
  memcpy(y + na, b, sizeof(float) * nb);
}

void bo_concat_backward(size_t na, size_t nb, const float *dy, float *da, float *db, int acc_a, int acc_b)
{
  if (da) copy_or_add(na, dy, da, acc_a);
  if (db) copy_or_add(nb, dy + na, db, acc_b);
}
