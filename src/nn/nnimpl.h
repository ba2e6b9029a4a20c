/* Private to src/nn: the vector helpers shared by the layers, the GEMM
 * kernel interface, and the Winograd entry points.
 *
 * Files:
 *   layers.c          element-wise maps, linear, GroupNorm, time embedding,
 *                     channel bias, upsampling, concatenation
 *   attention.c       self-attention
 *   resblock.c        the residual block
 *   resblock3d.c      the residual block on volumes
 *   conv.c            convolution entry points, algorithm choice, im2col
 *   conv3d.c          3-D convolution (vol2col + the GEMM drivers)
 *   gemm.c            GEMM drivers and operand layouts over a BOGemmKernel
 *   gemm_avx512.c     the 8 x 32 register block on AVX-512
 *   gemm_avx2.c       the same block on AVX2 + FMA
 *   winograd_avx512.c Winograd F(4x4, 3x3) (transforms on AVX-512)
 *   kernels.c         which kernels this process uses (BONNKernels)
 *
 * The helpers below are static inline on purpose: every file that uses them
 * compiles its own copy with the same flags, so moving code between files
 * does not change how GCC contracts multiply-adds. */
#ifndef BO_NNIMPL_H
#define BO_NNIMPL_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "bo_nn.h"

/* ---- vector kernels --------------------------------------------------------
 * The memory-bound loops (GroupNorm, SiLU, sums) are written so that GCC
 * vectorises them: no calls inside (our own exp), reductions over 16 fixed
 * lanes (so the order of additions is fixed: results are bit-reproducible),
 * and one clone per instruction set picked at load time (AVX-512, AVX2 or
 * baseline; the same machine always runs the same clone). */
#pragma GCC optimize("O3", "vect-cost-model=dynamic")
#define HOT   __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define LANES 16

/* e^x for x in [-87, 88] (clamped outside) to ~2e-7 relative: x = n ln2 + r,
 * |r| <= ln2/2, e^r by its degree-6 Taylor polynomial, 2^n through the
 * exponent bits. Branch-free, so it vectorises. */
static inline float fast_expf(float x)
{
  x       = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
  float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f; /* round to nearest */
  float r = (x - n * 0.693145751953125f) - n * 1.428606765330187e-06f;
  float p =
      1.0f + r * (1.0f + r * (0.5f + r * (0.16666667f + r * (0.041666668f + r * (0.008333334f + r * 0.0013888889f)))));
  int32_t bits = ((int32_t)n + 127) << 23;
  float   scale;
  memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

static inline float sigmoidf_(float x) { return 1.0f / (1.0f + fast_expf(-x)); }

HOT static inline float k_sum(size_t n, const float *restrict x)
{
  float  acc[LANES] = {0}, s = 0.0f;
  size_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++) acc[j] += x[i + j];
  for (int j = 0; j < LANES; j++) s += acc[j];
  for (; i < n; i++) s += x[i];
  return s;
}

HOT static inline void k_add(size_t n, const float *restrict src, float *restrict dst)
{
  for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

HOT static inline void k_fill_add(size_t n, float v, float *restrict y, int acc)
{
  if (acc)
    for (size_t i = 0; i < n; i++) y[i] += v;
  else
    for (size_t i = 0; i < n; i++) y[i] = v;
}

/* dst (+)= src */
static inline void copy_or_add(size_t n, const float *src, float *dst, int accumulate)
{
  if (!accumulate) memcpy(dst, src, sizeof(float) * n);
  else k_add(n, src, dst);
}

/* ---- GEMM kernels -----------------------------------------------------------
 * An 8 x 32 block of C stays in registers for a run of K. A is either
 * packed, [M/8][K][8] zero-padded (gemm_pack_a), or row-major and read as 8
 * row streams ("rowa"); B is 32-wide rows, either a row-major matrix
 * (tile = 32, ldb = its leading dimension) or tiles [N/32][K][32] (tile =
 * 32 K, ldb = 32). Each element of C is one sum over k in increasing order,
 * started from zero, then added to C when accumulating: the order never
 * depends on the other columns, so a sample's output does not depend on
 * its batch. Both instruction sets use the same order (and FMA), so they
 * give the same bits. */
#define GEMM_MR 8
#define GEMM_NR 32
#define GEMM_KB 256

typedef struct {
  /* C[0..mr)[0..nr) (+)= sum over kn steps of a[k][0..8) x bk[k ldb + 0..nr)
   * (a packed, 8 floats per k); acc = 0 overwrites C. */
  void (*block)(int kn, const float *a, const float *bk, size_t ldb, int nr, float *c, int ldc, int mr, int acc);
  /* C[M x N] += A[M x K] B, A row-major (lda), B in tiles. */
  void (*rowa)(int M, int N, int K, const float *A, size_t lda, const float *b, size_t tile, size_t ldb, float *c,
               int ldc);
} BOGemmKernel;

extern const BOGemmKernel bo_gemm_avx512, bo_gemm_avx2;

/* The GEMM kernel of the selected kernels, or NULL for cblas_sgemm. */
const BOGemmKernel *bo_nn_gemm(void);

/* ---- GEMM drivers and operand layouts (gemm.c) ---- */
static inline size_t gemm_pack_size(int M, int K) { return (size_t)((M + GEMM_MR - 1) / GEMM_MR) * GEMM_MR * K; }
/* p = A in blocks, A(i, j) = a[i rs + j cs] */
void gemm_pack_a(int M, int K, const float *a, size_t rs, size_t cs, float *p);
/* C[M x N] (+)= A B, A packed, B as in BOGemmKernel. */
void gemm_packed(const BOGemmKernel *g, int M, int N, int K, const float *ap, const float *b, size_t tile, int ldb,
                 float *c, int ldc, int accumulate);
/* y[M][N] += w[M][K] x[K][N] (1x1 convolutions; x copied in 32-column panels). */
void gemm_pointwise(const BOGemmKernel *g, int M, size_t N, int K, const float *w, const float *x, float *y);
/* Rows [R][n] (leading dimension ld) into tiles [R/32][n][32] (transposed)... */
void tile_cols(int R, int n, const float *src, size_t ld, float *dst);
/* ... and into tiles [n/32][R][32] (copied). */
void tile_rows(int R, int n, const float *src, size_t ld, float *dst);

/* Row stride of an im2col-like matrix of n columns: a multiple of 16 floats
 * (64-byte rows) that is never a multiple of 4 KiB, so that walking down a
 * column does not map every row to the same L1 cache set. */
static inline int col_ld(int n) { return (n + 15) / 16 * 16 + 16; }

/* ---- Winograd F(4x4, 3x3) (winograd_avx512.c) ---- */
/* Workspace floats for the forward pass and the data gradient of s. */
size_t bo_winograd_work_size(const BOConvShape *s);
/* y (+)= conv(x, w) + b (b may be NULL); flip = 1: the transposed
 * convolution with w's kernels flipped (the data gradient). */
void bo_winograd_forward(const BOConvShape *s, const float *x, const float *w, int flip, const float *b, float *y,
                         float *work, int acc);
/* dw += the weight gradient. */
void bo_winograd_wgrad(const BOConvShape *s, const float *x, const float *dy, float *dw, float *work);

/* ---- the middle of the residual block (resblock.c), shared with resblock3d.c ---- */
void bo_resblock_mid_forward(const BOResBlockShape *s, const BOResBlockParams *p, const float *silu_e,
                             BOResBlockActs *a);
void bo_resblock_mid_backward(const BOResBlockShape *s, const BOResBlockParams *p, const BOResBlockParams *g,
                              const float *silu_e, const BOResBlockActs *a, float *da, float *dh1, float *dtb,
                              float *dsilu_e);

#endif
