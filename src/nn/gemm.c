/* GEMM drivers over a BOGemmKernel (nnimpl.h) and the operand layouts they
 * read: packed A, B in 32-column tiles, 32-column panels of a row-major B.
 *
 * OpenBLAS spends as long copying ("packing") a large im2col matrix as it
 * does multiplying it. Our kernels instead read A packed once per call and
 * B where it lies (or copied in small tiles). They run
 *   forward:         y    += W . im2col, im2col built block by block in L1
 *                           (conv.c, fused), never stored whole;
 *   data gradient:   dcol  = W^T . dy, dy copied into 32-pixel tiles;
 *   weight gradient: dW^T += im2col . dy^T (rowa: A is the row-major
 *                           im2col chunk, read as 8 row streams);
 *   1x1 forward:     y    += W . x, x copied in 32-column panels. */
#include "nnimpl.h"

/* p = A in blocks, A(i, j) = a[i rs + j cs] */
void gemm_pack_a(int M, int K, const float *a, size_t rs, size_t cs, float *p)
{
  for (int mb = 0; mb < M; mb += GEMM_MR)
    for (int k = 0; k < K; k++)
      for (int r = 0; r < GEMM_MR; r++) *p++ = mb + r < M ? a[(size_t)(mb + r) * rs + (size_t)k * cs] : 0.0f;
}

/* B(k, n0 + j) = b[(n0/32) tile + k ldb + j]. K runs in blocks of GEMM_KB
 * so that a B block (KB x 32) stays in L1 while all row blocks of A use it. */
void gemm_packed(const BOGemmKernel *g, int M, int N, int K, const float *ap, const float *b, size_t tile, int ldb,
                 float *c, int ldc, int accumulate)
{
  for (int n0 = 0; n0 < N; n0 += GEMM_NR) {
    const int nr = N - n0 < GEMM_NR ? N - n0 : GEMM_NR;
    for (int k0 = 0; k0 < K; k0 += GEMM_KB) {
      const int kn = K - k0 < GEMM_KB ? K - k0 : GEMM_KB;
      for (int mb = 0; mb < M; mb += GEMM_MR)
        g->block(kn, ap + (size_t)mb * K + (size_t)k0 * GEMM_MR, b + (size_t)(n0 / GEMM_NR) * tile + (size_t)k0 * ldb,
                 ldb, nr, c + (size_t)mb * ldc + n0, ldc, M - mb < GEMM_MR ? M - mb : GEMM_MR, accumulate || k0 > 0);
    }
  }
}

/* x is copied 32 columns x GEMM_KB rows at a time into a panel on the stack
 * (rows of x are N apart, often a multiple of 4 KiB, which would make every
 * row fall into the same L1 set), then multiplied by all rows of w. */
void gemm_pointwise(const BOGemmKernel *g, int M, size_t N, int K, const float *w, const float *x, float *y)
{
  float panel[GEMM_KB * GEMM_NR];
  for (size_t n0 = 0; n0 < N; n0 += GEMM_NR) {
    const int nr = N - n0 < GEMM_NR ? (int)(N - n0) : GEMM_NR;
    for (int k0 = 0; k0 < K; k0 += GEMM_KB) {
      const int kn = K - k0 < GEMM_KB ? K - k0 : GEMM_KB;
      for (int k = 0; k < kn; k++) {
        float *p = panel + (size_t)k * GEMM_NR;
        memcpy(p, x + (size_t)(k0 + k) * N + n0, sizeof(float) * nr);
        memset(p + nr, 0, sizeof(float) * (GEMM_NR - nr));
      }
      g->rowa(M, nr, kn, w + k0, (size_t)K, panel, 0, GEMM_NR, y + n0, (int)N);
    }
  }
}

/* Transpose rows [R][n] (leading dimension ld) into tiles [R/32][n][32]:
 * tile t, row p holds src[32 t + j][p]. */
HOT void tile_cols(int R, int n, const float *src, size_t ld, float *dst)
{
  /* blocks of 32 rows x 16 columns: 16 reads per row, 32-float writes */
  for (int r0 = 0; r0 < R; r0 += GEMM_NR) {
    const int rr = R - r0 < GEMM_NR ? R - r0 : GEMM_NR;
    float    *d  = dst + (size_t)(r0 / GEMM_NR) * n * GEMM_NR;
    for (int p0 = 0; p0 < n; p0 += 16) {
      const int pp = n - p0 < 16 ? n - p0 : 16;
      for (int j = 0; j < rr; j++) {
        const float *sr = src + (size_t)(r0 + j) * ld + p0;
        for (int q = 0; q < pp; q++) d[(size_t)(p0 + q) * GEMM_NR + j] = sr[q];
      }
    }
  }
}

/* Copy rows [R][n] (leading dimension ld) into tiles [n/32][R][32]. */
void tile_rows(int R, int n, const float *src, size_t ld, float *dst)
{
  const size_t tile = (size_t)R * GEMM_NR;
  for (int r = 0; r < R; r++) {
    const float *sr = src + r * ld;
    float       *dr = dst + (size_t)r * GEMM_NR;
    int          t  = 0;
    for (; (t + 1) * GEMM_NR <= n; t++) memcpy(dr + t * tile, sr + t * GEMM_NR, sizeof(float) * GEMM_NR);
    if (t * GEMM_NR < n) memcpy(dr + t * tile, sr + t * GEMM_NR, sizeof(float) * (n - t * GEMM_NR));
  }
}
