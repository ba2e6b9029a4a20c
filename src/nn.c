/* Layers of the Blackout network: element-wise maps, linear, convolution
 * (im2col + one sgemm per chunk of samples), GroupNorm(+SiLU), time
 * embedding, upsampling, concatenation, attention and the residual block.
 * Shapes and conventions are in include/bo_nn.h. */
#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "bo_nn.h"

/* ---- vector kernels --------------------------------------------------------
 * The memory-bound loops (GroupNorm, SiLU, sums) are written so that GCC
 * vectorises them: no calls inside (our own exp), reductions over 16 fixed
 * lanes (so the order of additions is fixed: results are bit-reproducible),
 * and one clone per instruction set picked at load time (AVX-512, AVX2 or
 * baseline; the same machine always runs the same clone). */
#pragma GCC optimize("O3", "vect-cost-model=dynamic")
#define HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define LANES 16

/* e^x for x in [-87, 88] (clamped outside) to ~2e-7 relative: x = n ln2 + r,
 * |r| <= ln2/2, e^r by its degree-6 Taylor polynomial, 2^n through the
 * exponent bits. Branch-free, so it vectorises. */
static inline float fast_expf(float x)
{
  x             = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
  float   n     = (x * 1.44269504f + 12582912.0f) - 12582912.0f; /* round to nearest */
  float   r     = (x - n * 0.693145751953125f) - n * 1.428606765330187e-06f;
  float   p     = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666667f + r * (0.041666668f + r * (0.008333334f + r * 0.0013888889f)))));
  int32_t bits  = ((int32_t)n + 127) << 23;
  float   scale;
  memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

static inline float sigmoidf_(float x) { return 1.0f / (1.0f + fast_expf(-x)); }

HOT static float k_sum(size_t n, const float *restrict x)
{
  float  acc[LANES] = {0}, s = 0.0f;
  size_t i          = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++) acc[j] += x[i + j];
  for (int j = 0; j < LANES; j++) s += acc[j];
  for (; i < n; i++) s += x[i];
  return s;
}

/* sum (x - mu)^2 */
HOT static float k_sumsq_dev(size_t n, const float *restrict x, float mu)
{
  float  acc[LANES] = {0}, s = 0.0f;
  size_t i          = 0;
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
  size_t i         = 0;
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

HOT static void k_add(size_t n, const float *restrict src, float *restrict dst)
{
  for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

HOT static void k_fill_add(size_t n, float v, float *restrict y, int acc)
{
  if (acc)
    for (size_t i = 0; i < n; i++) y[i] += v;
  else
    for (size_t i = 0; i < n; i++) y[i] = v;
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
    float d = dy[i] / (1.0f + expf(-x[i]));
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

/* ---- GEMM for the convolutions --------------------------------------------
 * OpenBLAS spends as long copying ("packing") a large im2col matrix as it
 * does multiplying it. On CPUs with AVX-512 the 3x3 convolutions use our own
 * kernel instead: an 8 x 32 block of C lives in 16 zmm registers for a run
 * of K (the weights A packed as [M/8][K][8], zero-padded; B read as 32-wide
 * rows). It runs
 *   forward:        y   += W · im2col, im2col built block by block in L1
 *                          (conv_forward_fused), never stored whole;
 *   data gradient:  dcol = W^T · dy, dy copied into 32-pixel tiles;
 *   weight gradient: dW^T += im2col · dy^T (gemm_avx512_rowa: A is the
 *                          row-major im2col chunk, read as 8 row streams).
 * The sums over K run in a fixed order, so results are reproducible.
 * Elsewhere (no AVX-512, 1x1, or bo_nn_set_blas_only) cblas_sgemm does it. */
#define GEMM_MR 8
#define GEMM_NR 32
#define GEMM_KB 256

static size_t gemm_pack_size(int M, int K) { return (size_t)((M + GEMM_MR - 1) / GEMM_MR) * GEMM_MR * K; }

/* p = A in blocks, A(i, j) = a[i rs + j cs] */
static void gemm_pack_a(int M, int K, const float *a, size_t rs, size_t cs, float *p)
{
  for (int mb = 0; mb < M; mb += GEMM_MR)
    for (int k = 0; k < K; k++)
      for (int r = 0; r < GEMM_MR; r++) *p++ = mb + r < M ? a[(size_t)(mb + r) * rs + (size_t)k * cs] : 0.0f;
}

/* One row r of the 8 x 32 block: c<r>0, c<r>1 += a[r] * (b0, b1). Named
 * registers, not arrays: GCC would keep an array in memory. */
#define GEMM_ROW(r)                                                                                                   \
  do {                                                                                                                \
    const __m512 av = _mm512_set1_ps(a[r]);                                                                          \
    c##r##0         = _mm512_fmadd_ps(av, b0, c##r##0);                                                              \
    c##r##1         = _mm512_fmadd_ps(av, b1, c##r##1);                                                              \
  } while (0)
#define GEMM_STORE(r)                                                                                                 \
  do {                                                                                                                \
    if (r < mr) {                                                                                                     \
      float *cr = cb + (size_t)r * ldc;                                                                              \
      if (acc) {                                                                                                      \
        c##r##0 = _mm512_add_ps(c##r##0, _mm512_maskz_loadu_ps(m0, cr));                                             \
        c##r##1 = _mm512_add_ps(c##r##1, _mm512_maskz_loadu_ps(m1, cr + 16));                                        \
      }                                                                                                               \
      _mm512_mask_storeu_ps(cr, m0, c##r##0);                                                                        \
      _mm512_mask_storeu_ps(cr + 16, m1, c##r##1);                                                                   \
    }                                                                                                                 \
  } while (0)

/* The 8 x 32 block: C[0..mr)[0..32) (+)= sum over kn steps of a[k][0..8) x
 * b[k ldb + 0..32), with a packed (8 floats per k) and cb = &C(0, 0). */
__attribute__((target("avx512f"))) static void block_8x32(int kn, const float *a, const float *bk, size_t ldb, __mmask16 m0,
                                                          __mmask16 m1, float *cb, int ldc, int mr, int acc)
{
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
  for (int k = 0; k < kn; k++, bk += ldb, a += GEMM_MR) {
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, bk), b1 = _mm512_maskz_loadu_ps(m1, bk + 16);
    GEMM_ROW(0);
    GEMM_ROW(1);
    GEMM_ROW(2);
    GEMM_ROW(3);
    GEMM_ROW(4);
    GEMM_ROW(5);
    GEMM_ROW(6);
    GEMM_ROW(7);
  }
  GEMM_STORE(0);
  GEMM_STORE(1);
  GEMM_STORE(2);
  GEMM_STORE(3);
  GEMM_STORE(4);
  GEMM_STORE(5);
  GEMM_STORE(6);
  GEMM_STORE(7);
}

/* B(k, n0 + j) = b[(n0/32) tile + k ldb + j]: tile = 32, ldb = ld for a
 * row-major B; tile = 32 K, ldb = 32 for B stored as tiles [N/32][K][32].
 * K runs in blocks of GEMM_KB so that a B block (KB x 32) stays in L1
 * while all row blocks of A use it. */
static void gemm_avx512(int M, int N, int K, const float *ap, const float *b, size_t tile, int ldb, float *c, int ldc,
                        int accumulate)
{
  for (int n0 = 0; n0 < N; n0 += GEMM_NR) {
    const int       nr = N - n0 < GEMM_NR ? N - n0 : GEMM_NR;
    const __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
    const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    for (int k0 = 0; k0 < K; k0 += GEMM_KB) {
      const int kn = K - k0 < GEMM_KB ? K - k0 : GEMM_KB;
      for (int mb = 0; mb < M; mb += GEMM_MR)
        block_8x32(kn, ap + (size_t)mb * K + (size_t)k0 * GEMM_MR, b + (size_t)(n0 / GEMM_NR) * tile + (size_t)k0 * ldb, ldb,
                   m0, m1, c + (size_t)mb * ldc + n0, ldc, M - mb < GEMM_MR ? M - mb : GEMM_MR, accumulate || k0 > 0);
    }
  }
}

/* The same 8 x 32 register block for C[M x N] += A[M x K] B with A
 * row-major (leading dimension lda; its 8 rows are read as 8 sequential
 * streams, no packing) and B in tiles (as above, ldb = 32). Used for the
 * weight gradient, where A is the im2col matrix and K the pixels. */
#define GEMM_ROWA(r)                                                                                                  \
  do {                                                                                                                \
    const __m512 av = _mm512_set1_ps(a##r[k]);                                                                        \
    c##r##0         = _mm512_fmadd_ps(av, b0, c##r##0);                                                              \
    c##r##1         = _mm512_fmadd_ps(av, b1, c##r##1);                                                              \
  } while (0)

__attribute__((target("avx512f"))) static void gemm_avx512_rowa(int M, int N, int K, const float *A, size_t lda,
                                                                const float *b, size_t tile, float *c, int ldc)
{
  const int acc = 1;
  for (int n0 = 0; n0 < N; n0 += GEMM_NR) {
    const int       nr = N - n0 < GEMM_NR ? N - n0 : GEMM_NR;
    const __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
    const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    for (int mb = 0; mb < M; mb += GEMM_MR) {
      /* rows past the end repeat the last row; they are not stored */
#define ROWPTR(r) A + (size_t)(mb + r < M ? mb + r : M - 1) * lda
      const float *a0 = ROWPTR(0), *a1 = ROWPTR(1), *a2 = ROWPTR(2), *a3 = ROWPTR(3), *a4 = ROWPTR(4), *a5 = ROWPTR(5),
                  *a6 = ROWPTR(6), *a7 = ROWPTR(7);
#undef ROWPTR
      const float *bk  = b + (size_t)(n0 / GEMM_NR) * tile;
      __m512       c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
      __m512       c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
      for (int k = 0; k < K; k++, bk += GEMM_NR) {
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, bk), b1 = _mm512_maskz_loadu_ps(m1, bk + 16);
        GEMM_ROWA(0);
        GEMM_ROWA(1);
        GEMM_ROWA(2);
        GEMM_ROWA(3);
        GEMM_ROWA(4);
        GEMM_ROWA(5);
        GEMM_ROWA(6);
        GEMM_ROWA(7);
      }
      const int mr = M - mb < GEMM_MR ? M - mb : GEMM_MR;
      float    *cb = c + (size_t)mb * ldc + n0;
      GEMM_STORE(0);
      GEMM_STORE(1);
      GEMM_STORE(2);
      GEMM_STORE(3);
      GEMM_STORE(4);
      GEMM_STORE(5);
      GEMM_STORE(6);
      GEMM_STORE(7);
    }
  }
}

/* 1 if the AVX-512 kernels run: the CPU has AVX-512F and neither
 * BO_NN_BLAS_ONLY=1 nor bo_nn_set_blas_only(1) asked for cblas. */
static int blas_only = -1; /* -1: not decided yet */

static int use_own_gemm(void)
{
  static int have_avx512 = -1;
  if (have_avx512 < 0) {
    __builtin_cpu_init();
    have_avx512 = __builtin_cpu_supports("avx512f") ? 1 : 0;
  }
  if (blas_only < 0) {
    const char *env = getenv("BO_NN_BLAS_ONLY");
    blas_only       = env && env[0] == '1';
  }
  return have_avx512 && !blas_only;
}

int bo_nn_set_blas_only(int flag)
{
  int old = (use_own_gemm(), blas_only);
  blas_only = flag ? 1 : 0;
  return old;
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

/* Row stride of the im2col matrix for n columns: a multiple of 16 floats
 * (64-byte rows) that is never a multiple of 4 KiB, so that walking down a
 * column does not map every row to the same L1 cache set. */
static int col_ld(int n) { return (n + 15) / 16 * 16 + 16; }

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

size_t bo_conv_col_size(const BOConvShape *s) { return conv_is_pointwise(s) ? 0 : conv_work(s).total; }

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
  long   lo = (long)oy0 * W, hi = (long)oy1 * W, off = (long)dy * W + dx;
  if (dx < 0) lo++;
  if (dx > 0) hi--;
  float *cs = c + lo, *xs = x + lo + off;
  size_t n  = (size_t)(hi - lo);
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
          memcpy(x + ((size_t)ci * s->B + b0 + bb) * HW, col + ((size_t)(ci * k + pad) * k + pad) * plane + (size_t)bb * HW,
                 sizeof(float) * HW);
      for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
          float *row = col + ((size_t)(ci * k + ky) * k + kx) * plane;
          if (add == 2 && ky == pad && kx == pad) continue;
          for (int bb = 0; bb < nb; bb++)
            shift_plane(H, W, ky - pad, kx - pad, x + ((size_t)ci * s->B + b0 + bb) * HW, row + (size_t)bb * HW, add != 0);
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
HOT static void conv_forward_fused(const BOConvShape *s, const float *x, const float *pack, float *y, float *buf)
{
  const int    k = s->k, kk = k * k, pad = k / 2, K = s->Cin * kk, W = s->W, HWo = s->H * s->W;
  const int    tiles = (HWo + GEMM_NR - 1) / GEMM_NR;
  const size_t HW = (size_t)HWo, N = (size_t)s->B * HWo;

  for (int b = 0; b < s->B; b++)
    for (int t = 0; t < tiles; t++) {
      /* pieces start at pixel column r; the first entries in column 0 and
       * in column W-1 (zeroed for kernel columns that wrap); the last tile
       * of a plane may be partial (masked) */
      const int       r = (t * GEMM_NR) % W, jl = (W - r) % W, jr = (2 * W - 1 - r) % W, nr = HWo - t * GEMM_NR;
      const __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
      const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
      for (int k0 = 0; k0 < K; k0 += GEMM_KB) {
        const int kn = K - k0 < GEMM_KB ? K - k0 : GEMM_KB;
        int       ci = k0 / kk, ky = k0 % kk / k, kx = k0 % k; /* row k0 + kr = (ci k + ky) k + kx, stepped */
        for (int kr = 0; kr < kn; kr++) {
          const int dx = kx - pad;
          shift_piece(x + ((size_t)ci * s->B + b) * HW, (long)HW, (long)(ky - pad) * W + dx, (long)t * GEMM_NR, W,
                      dx < 0 ? jl : dx > 0 ? jr : GEMM_NR, buf + (size_t)kr * GEMM_NR);
          if (++kx == k) {
            kx = 0;
            if (++ky == k) ky = 0, ci++;
          }
        }
        for (int mb = 0; mb < s->Cout; mb += GEMM_MR)
          block_8x32(kn, pack + (size_t)mb * K + (size_t)k0 * GEMM_MR, buf, GEMM_NR, m0, m1,
                     y + (size_t)mb * N + (size_t)b * HWo + (size_t)t * GEMM_NR, (int)N,
                     s->Cout - mb < GEMM_MR ? s->Cout - mb : GEMM_MR, 1);
      }
    }
}

/* Transpose rows [R][n] (leading dimension ld) into tiles [R/32][n][32]:
 * tile t, row p holds src[32 t + j][p]. */
HOT static void tile_cols(int R, int n, const float *src, size_t ld, float *dst)
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
static void tile_rows(int R, int n, const float *src, size_t ld, float *dst)
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

void bo_conv_forward(const BOConvShape *s, const float *x, const float *w, const float *b, float *y, float *col,
                     int accumulate)
{
  const int    K = s->Cin * s->k * s->k, HWo = bo_conv_out_h(s) * bo_conv_out_w(s);
  const size_t N = (size_t)s->B * HWo;

  /* start from the bias (or add it), then GEMM with beta = 1 */
  for (int co = 0; co < s->Cout; co++) {
    float v = b ? b[co] : 0.0f;
    if (!accumulate || v != 0.0f) k_fill_add(N, v, y + co * N, accumulate);
  }
  if (conv_is_pointwise(s)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Cout, (int)N, K, 1.0f, w, K, x, (int)N, 1.0f, y, (int)N);
    return;
  }
  if (use_own_gemm() && s->stride == 1 && !s->periodic) {
    float *pack = col + conv_work(s).pack;
    gemm_pack_a(s->Cout, K, w, K, 1, pack);
    conv_forward_fused(s, x, pack, y, col);
    return;
  }
  /* stride 2 or periodic padding, or no AVX-512: im2col per chunk, cblas */
  const int nb = conv_chunk(s);
  for (int b0 = 0; b0 < s->B; b0 += nb) {
    int n = s->B - b0 < nb ? s->B - b0 : nb;
    im2col_chunk(s, b0, n, (float *)x, col, 0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Cout, n * HWo, K, 1.0f, w, K, col, col_ld(n * HWo), 1.0f,
                y + (size_t)b0 * HWo, (int)N);
  }
}

void bo_conv_backward(const BOConvShape *s, const float *x, const float *w, const float *dy, float *dx, float *dw,
                      float *db, float *col, int accumulate)
{
  const int    K = s->Cin * s->k * s->k, HWo = bo_conv_out_h(s) * bo_conv_out_w(s);
  const size_t N = (size_t)s->B * HWo, HWi = (size_t)s->H * s->W;

  if (db)
    for (int co = 0; co < s->Cout; co++) db[co] += k_sum(N, dy + co * N);
  if (conv_is_pointwise(s)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->Cout, K, (int)N, 1.0f, dy, (int)N, x, (int)N, 1.0f, dw, K);
    if (dx)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, (int)N, s->Cout, 1.0f, w, K, dy, (int)N,
                  accumulate ? 1.0f : 0.0f, dx, (int)N);
    return;
  }
  const int nb = conv_chunk(s), own = use_own_gemm();
  ConvWork  cw = conv_work(s);
  float    *packT = col + cw.pack, *dyt = col + cw.dyt, *dwt = col + cw.dwt;
  if (own) {
    if (dx) gemm_pack_a(K, s->Cout, w, 1, K, packT); /* W^T(i, j) = w[j K + i] */
    memset(dwt, 0, sizeof(float) * K * s->Cout);
  }
  for (int b0 = 0; b0 < s->B; b0 += nb) {
    int          n   = s->B - b0 < nb ? s->B - b0 : nb;
    const float *dyc = dy + (size_t)b0 * HWo;
    im2col_chunk(s, b0, n, (float *)x, col, 0);
    /* dW^T [K x Cout] += col [K x n HWo] dy^T */
    if (own) {
      tile_cols(s->Cout, n * HWo, dyc, N, dyt);
      gemm_avx512_rowa(K, s->Cout, n * HWo, col, col_ld(n * HWo), dyt, (size_t)n * HWo * GEMM_NR, dwt, s->Cout);
    } else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->Cout, K, n * HWo, 1.0f, dyc, (int)N, col, col_ld(n * HWo),
                  1.0f, dw, K);
    if (!dx) continue;
    /* dcol = W^T dy */
    if (own) {
      tile_rows(s->Cout, n * HWo, dyc, N, dyt);
      gemm_avx512(K, n * HWo, s->Cout, packT, dyt, (size_t)s->Cout * GEMM_NR, GEMM_NR, col, col_ld(n * HWo), 0);
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
  if (own)
    for (int co = 0; co < s->Cout; co++)
      for (int kk = 0; kk < K; kk++) dw[(size_t)co * K + kk] += dwt[(size_t)kk * s->Cout + co];
}

/* ---- GroupNorm (+SiLU) ----------------------------------------------------------- */

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
      const float r = (float)(1.0 / sqrt(sq / n + s->eps));
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
    double f = exp(-(double)j * log(10000.0) / (double)(half - 1));
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
  else k_add(n, src, dst);
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
