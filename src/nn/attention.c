/* Single-head self-attention over the H*W positions of each sample
 * (include/bo_nn.h); the 1x1 projections are convolutions. */
#include <cblas.h>
#include <math.h>
#include "nnimpl.h"

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
                          const float *wqkv, const float *bqkv, const float *wo, const float *bo, float *y, float *work)
{
  const int        C = s->C, HW = s->HW, N = s->B * s->HW;
  const float      scale = 1.0f / sqrtf((float)C);
  AttnWork         w     = attn_work(s, work);
  BOGroupNormShape gs    = {s->B, C, HW, s->G, 0, 1e-6f};
  BOConvShape      qkv = {s->B, C, 1, HW, 3 * C, 1, 1, 0}, proj = {s->B, C, 1, HW, C, 1, 1, 0};

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
  BOConvShape      qkv = {s->B, C, 1, HW, 3 * C, 1, 1, 0}, proj = {s->B, C, 1, HW, C, 1, 1, 0};
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
