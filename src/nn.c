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
                                                                const float *b, size_t tile, size_t ldb, float *c,
                                                                int ldc)
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
      for (int k = 0; k < K; k++, bk += ldb) {
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

static int have_avx512f(void)
{
  static int have = -1;
  if (have < 0) {
    __builtin_cpu_init();
    have = __builtin_cpu_supports("avx512f") ? 1 : 0;
  }
  return have;
}

static int use_own_gemm(void)
{
  if (blas_only < 0) {
    const char *env = getenv("BO_NN_BLAS_ONLY");
    blas_only       = env && env[0] == '1';
  }
  return have_avx512f() && !blas_only;
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

static size_t wino_work_size(const BOConvShape *s);
size_t bo_conv_col_size(const BOConvShape *s)
{
  if (conv_is_pointwise(s)) return 0;
  size_t a = conv_work(s).total, b = wino_work_size(s);
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

/* ---- Winograd F(2x2, 3x3) for the stride-1 3x3 convolutions ----------------
 *
 * One dimension first. Two outputs of a 3-tap correlation of four inputs,
 * y_i = sum_k d_{i+k} g_k (i = 0, 1), need four products instead of six when
 * the polynomials are evaluated at the points 0, 1, -1 and infinity:
 *   m1 = (d0 - d2) g0,            m2 = (d1 + d2) (g0 + g1 + g2)/2,
 *   m3 = (d2 - d1) (g0 - g1 + g2)/2,   m4 = (d1 - d3) g2,
 *   y0 = m1 + m2 + m3,            y1 = m2 - m3 - m4
 * (expand: y0 = d0 g0 + d1 g1 + d2 g2, y1 = d1 g0 + d2 g1 + d3 g2). In matrix
 * form y = A^T [(G g) .* (B^T d)] with
 *
 *   B^T = | 1  0 -1  0 |     G = | 1    0    0  |     A^T = | 1  1  1  0 |
 *         | 0  1  1  0 |         | 1/2  1/2  1/2|           | 0  1 -1 -1 |
 *         | 0 -1  1  0 |         | 1/2 -1/2  1/2|
 *         | 0  1  0 -1 |         | 0    0    1  |
 *
 * and in two dimensions (nesting the 1-D algorithm over rows and columns)
 * the 2x2 output tile Y = A^T [(G g G^T) .* (B^T d B)] A of the 4x4 input
 * patch d. All coefficients are 0, +-1 and 1/2, so the transforms add only
 * a few roundings (measured in the tests: relative error ~1e-7 of the sum of
 * |terms|, the same order as the direct sum).
 *
 * With the [C][B][H][W] layout the 16 "frequencies" xi = 4 r + c are 16
 * independent matrix products
 *   M[xi] (Cout x n) = U[xi] (Cout x Cin) . V[xi] (Cin x n),
 * n = tiles of all samples, U = G g G^T the weight transform and V = B^T d B
 * the input transform; Y = A^T M A. A conv is run in chunks of NC tiles
 * (global tile index g = b T + ty tw + tx over the batch) so that V and M
 * stay in L2: transform the input tiles (16 tiles per vector), 16 products
 * (our 8x32 kernel, or cblas_sgemm with BO_NN_BLAS_ONLY=1), then the output
 * transform adds the tiles into y with the bias (cropped at odd edges).
 * Input tiles are read two ways: when a row has a multiple of 8 tiles (the
 * 16x16 and larger grids), 8 neighbouring tiles are 18 consecutive floats of
 * a row, read with plain (masked) loads and split into even and odd columns
 * by a permutation, straight from x for zero padding, from padded rows for
 * periodic padding; otherwise (small grids) the input rows of the chunk are
 * padded into a buffer and the patches gathered through an offset table.
 * Each column (tile) of a product is a sum over Cin in a fixed order that
 * does not depend on the other columns, so the output of a sample does not
 * depend on the batch or on the chunking (tested bit for bit).
 *
 * The data gradient of the backward pass is the same algorithm: dx is the
 * stride-1 convolution of dy with the kernels flipped (w[co][ci](2-ky, 2-kx))
 * and Cin, Cout swapped, with the same padding. The weight gradient stays
 * on im2col.
 *
 * The weight transform is recomputed at every forward call: it costs about
 * 16 Cout Cin floats written per conv, well under 1 % of a forward pass at
 * batch 1 for unet-s, and there is no cache to invalidate when the trainer
 * changes the parameters. The transforms use AVX-512 (gathers, scatters);
 * CPUs without it run the im2col path. */

/* Floats of V + M per chunk: 1 MiB, half the L2 of a core. */
#define WINO_CHUNK_FLOATS (1 << 18)
#define WINO_LANES 16

static int winograd_on = -1; /* -1: not decided yet */

static int winograd_enabled(void)
{
  if (winograd_on < 0) {
    const char *env = getenv("BO_NN_WINOGRAD");
    winograd_on     = !(env && env[0] == '0');
  }
  return winograd_on;
}

int bo_nn_set_winograd(int on)
{
  int old     = winograd_enabled();
  winograd_on = on ? 1 : 0;
  return old;
}

static int use_winograd(const BOConvShape *s)
{
  return winograd_enabled() && have_avx512f() && s->k == 3 && s->stride == 1;
}

/* Tile counts, chunk size and workspace offsets (floats). */
typedef struct {
  int    th, tw, T, Hp, Wp, NC, prows;
  size_t ldv, pack, urow, upack, v, m, pad, off, yoff, flag, total;
} WinoPlan;

static WinoPlan wino_plan(const BOConvShape *s)
{
  WinoPlan p;
  p.th = (s->H + 1) / 2, p.tw = (s->W + 1) / 2, p.T = p.th * p.tw;
  p.Hp = 2 * p.th + 2, p.Wp = 2 * p.tw + 2;
  /* NC does not depend on B: in blas-only mode every product then has the
   * same shape (the last chunk is padded), so OpenBLAS takes the same code
   * path whatever the batch */
  long nc = WINO_CHUNK_FLOATS / (16 * (s->Cin + s->Cout)) / 32 * 32;
  if (nc < 32) nc = 32;
  p.NC  = (int)nc;
  p.ldv = (size_t)col_ld(p.NC);
  /* a chunk touches at most this many samples, each needing <= Hp padded rows */
  long nb = (nc + p.T - 1) / p.T + 1;
  if (nb > s->B) nb = s->B;
  p.prows = (int)nb * p.Hp;
  p.pack  = gemm_pack_size(s->Cout, s->Cin);
  p.urow  = 0;
  p.upack = p.urow + 16 * (size_t)s->Cout * s->Cin;
  p.v     = p.upack + 16 * p.pack;
  p.m     = p.v + 16 * (size_t)s->Cin * p.ldv;
  p.pad   = p.m + 16 * (size_t)s->Cout * p.ldv;
  p.off   = p.pad + (size_t)s->Cin * p.prows * p.Wp;
  p.yoff  = p.off + (size_t)p.NC;
  p.flag  = p.yoff + (size_t)p.NC;
  p.total = p.flag + (size_t)p.NC;
  return p;
}

/* U[xi][co][ci] = (G g G^T)[r][c] for the 3x3 kernel g = w[co][ci]. */
/* flip = 1: the weights of the transposed convolution (the data gradient of
 * the backward pass), g[co][ci](ky, kx) = w[ci][co](2 - ky, 2 - kx). */
static void wino_weights(int Cout, int Cin, const float *w, int flip, float *U)
{
  const size_t plane = (size_t)Cout * Cin;
  for (int co = 0; co < Cout; co++)
    for (int ci = 0; ci < Cin; ci++) {
      float g[9], t[4][3], u[4][4];
      for (int i = 0; i < 9; i++) g[i] = flip ? w[((size_t)ci * Cout + co) * 9 + 8 - i] : w[((size_t)co * Cin + ci) * 9 + i];
      for (int j = 0; j < 3; j++) { /* t = G g: rows of g combined */
        t[0][j] = g[j];
        t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
        t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
        t[3][j] = g[6 + j];
      }
      for (int i = 0; i < 4; i++) { /* u = t G^T: columns combined */
        u[i][0] = t[i][0];
        u[i][1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
        u[i][2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
        u[i][3] = t[i][2];
      }
      for (int xi = 0; xi < 16; xi++) U[xi * plane + (size_t)co * Cin + ci] = u[xi / 4][xi % 4];
    }
}

/* Padded row q of an input plane: dst[j] = x[iy][j - 1] for j in [0, Wp),
 * zero outside (or wrapped around when periodic). */
static void wino_pad_row(const float *plane, int H, int W, int iy, int periodic, int Wp, float *dst)
{
  if (periodic) iy = (iy % H + H) % H;
  if (iy < 0 || iy >= H) {
    memset(dst, 0, sizeof(float) * Wp);
    return;
  }
  const float *r = plane + (size_t)iy * W;
  dst[0]         = periodic ? r[W - 1] : 0.0f;
  memcpy(dst + 1, r, sizeof(float) * W);
  for (int j = W + 1; j < Wp; j++) dst[j] = periodic ? r[(j - 1) % W] : 0.0f;
}

/* For the chunk of tiles [g0, g0 + nc): pad the input rows it needs into P
 * ([Cin][prows][Wp]) and fill, per tile l, the offset of its 4x4 patch in P
 * (off), of its output tile in a channel of y (yoff), and flag bits: 1 if its
 * second column is inside the output, 2 if its second row is. */
static void wino_gather_chunk(const BOConvShape *s, const WinoPlan *p, const float *x, long g0, int nc, float *P,
                              int *off, int *yoff, int *flag, int pad)
{
  const size_t HW = (size_t)s->H * s->W, pstride = (size_t)p->prows * p->Wp;
  int          rows = 0;
  for (long g = g0; g < g0 + nc;) {
    const int  b = (int)(g / p->T), t = (int)(g % p->T);
    const long gend = (long)(b + 1) * p->T < g0 + nc ? (long)(b + 1) * p->T : g0 + nc;
    const int  tyA = t / p->tw, tyB = (int)(gend - 1 - (long)b * p->T) / p->tw, nrows = 2 * (tyB - tyA) + 4;
    for (int ci = 0; ci < s->Cin && pad; ci++)
      for (int r = 0; r < nrows; r++)
        wino_pad_row(x + ((size_t)ci * s->B + b) * HW, s->H, s->W, 2 * tyA + r - 1, s->periodic, p->Wp,
                     P + ci * pstride + (size_t)(rows + r) * p->Wp);
    int ty = tyA, tx = t % p->tw; /* stepped, no divisions per tile */
    for (long gg = g; gg < gend; gg++) {
      const int l = (int)(gg - g0);
      off[l]      = (rows + 2 * (ty - tyA)) * p->Wp + 2 * tx;
      yoff[l]     = (int)((size_t)b * HW) + 2 * ty * s->W + 2 * tx;
      flag[l]     = (2 * tx + 1 < s->W) | (2 * ty + 1 < s->H) << 1;
      if (++tx == p->tw) tx = 0, ty++;
    }
    rows += nrows;
    g = gend;
  }
}

static inline __mmask16 lane_mask(int n) { return n >= WINO_LANES ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/* B^T d B for 16 tiles at once: d[r][c] -> v[4 r + c]. Rows first, then
 * columns, with the rows of B^T: (d0 - d2, d1 + d2, d2 - d1, d1 - d3). */
#define WINO_BT(o0, o1, o2, o3, a0, a1, a2, a3)                                                                      \
  do {                                                                                                                \
    o0 = _mm512_sub_ps(a0, a2);                                                                                       \
    o1 = _mm512_add_ps(a1, a2);                                                                                       \
    o2 = _mm512_sub_ps(a2, a1);                                                                                       \
    o3 = _mm512_sub_ps(a1, a3);                                                                                       \
  } while (0)

/* Second half of every input transform: B^T applied along the other axis
 * of the 4 x 4 patches (e holds the rows already transformed), and the 16
 * frequencies stored vplane apart. */
__attribute__((target("avx512f"))) static inline void wino_columns(const __m512 e[16], __mmask16 m, float *vc, size_t vplane)
{
  for (int c = 0; c < 4; c++) {
    __m512 v0, v1, v2, v3;
    WINO_BT(v0, v1, v2, v3, e[c], e[4 + c], e[8 + c], e[12 + c]);
    _mm512_mask_storeu_ps(vc + (size_t)(0 + c) * vplane, m, v0);
    _mm512_mask_storeu_ps(vc + (size_t)(4 + c) * vplane, m, v1);
    _mm512_mask_storeu_ps(vc + (size_t)(8 + c) * vplane, m, v2);
    _mm512_mask_storeu_ps(vc + (size_t)(12 + c) * vplane, m, v3);
  }
}

/* V[xi][ci][l] for the nc tiles of a chunk: 16 tiles per step, their 4x4
 * patches gathered from the padded rows. */
__attribute__((target("avx512f"))) static void wino_input(int Cin, int nc, const float *P, size_t pstride, int Wp,
                                                          const int *off, float *V, size_t ldv)
{
  const size_t vplane = (size_t)Cin * ldv;
  for (int l0 = 0; l0 < nc; l0 += WINO_LANES) {
    const __mmask16 m   = lane_mask(nc - l0);
    const __m512i   idx = _mm512_maskz_loadu_epi32(m, off + l0);
    const __m512    z   = _mm512_setzero_ps();
    for (int ci = 0; ci < Cin; ci++) {
      const float *pc = P + ci * pstride;
      __m512       e[16]; /* e[4 r + c]: rows of d transformed along c */
      for (int r = 0; r < 4; r++) {
        const float *pr = pc + (size_t)r * Wp;
        __m512       d0 = _mm512_mask_i32gather_ps(z, m, idx, pr, 4), d1 = _mm512_mask_i32gather_ps(z, m, idx, pr + 1, 4);
        __m512       d2 = _mm512_mask_i32gather_ps(z, m, idx, pr + 2, 4), d3 = _mm512_mask_i32gather_ps(z, m, idx, pr + 3, 4);
        WINO_BT(e[4 * r], e[4 * r + 1], e[4 * r + 2], e[4 * r + 3], d0, d1, d2, d3);
      }
      wino_columns(e, m, V + (size_t)ci * ldv + l0, vplane);
    }
  }
}

/* y[co] (at yoff) += A^T M A for the nc tiles of a chunk, 16 at a time;
 * A^T rows: (m0 + m1 + m2, m1 - m2 - m3). Entries outside the output (odd
 * sizes) are masked off. */
__attribute__((target("avx512f"))) static void wino_output(int Cout, int nc, const float *M, size_t ldm,
                                                           const int *yoff, const int *flag, const float *bias, int acc,
                                                           float *y, size_t N, int W)
{
  const size_t mplane = (size_t)Cout * ldm;
  for (int l0 = 0; l0 < nc; l0 += WINO_LANES) {
    const __mmask16 m = lane_mask(nc - l0);
    const __m512i   idx = _mm512_maskz_loadu_epi32(m, yoff + l0), fl = _mm512_maskz_loadu_epi32(m, flag + l0);
    const __mmask16 m01 = m & _mm512_test_epi32_mask(fl, _mm512_set1_epi32(1));
    const __mmask16 m10 = m & _mm512_test_epi32_mask(fl, _mm512_set1_epi32(2)), m11 = m01 & m10;
    for (int co = 0; co < Cout; co++) {
      const float *mc = M + (size_t)co * ldm + l0;
      __m512       t0[4], t1[4];
      for (int c = 0; c < 4; c++) { /* rows of A^T applied over r */
        const __m512 a0 = _mm512_maskz_loadu_ps(m, mc + (size_t)c * mplane), a1 = _mm512_maskz_loadu_ps(m, mc + (size_t)(4 + c) * mplane);
        const __m512 a2 = _mm512_maskz_loadu_ps(m, mc + (size_t)(8 + c) * mplane), a3 = _mm512_maskz_loadu_ps(m, mc + (size_t)(12 + c) * mplane);
        t0[c] = _mm512_add_ps(_mm512_add_ps(a0, a1), a2);
        t1[c] = _mm512_sub_ps(_mm512_sub_ps(a1, a2), a3);
      }
      const __m512 y00 = _mm512_add_ps(_mm512_add_ps(t0[0], t0[1]), t0[2]), y01 = _mm512_sub_ps(_mm512_sub_ps(t0[1], t0[2]), t0[3]);
      const __m512 y10 = _mm512_add_ps(_mm512_add_ps(t1[0], t1[1]), t1[2]), y11 = _mm512_sub_ps(_mm512_sub_ps(t1[1], t1[2]), t1[3]);
      float       *yc = y + (size_t)co * N;
      const __m512 z = _mm512_setzero_ps(), bv = _mm512_set1_ps(bias ? bias[co] : 0.0f);
#define WINO_BASE(mk, p) (acc ? _mm512_add_ps(_mm512_mask_i32gather_ps(z, mk, idx, p, 4), bv) : bv)
      _mm512_mask_i32scatter_ps(yc, m, idx, _mm512_add_ps(WINO_BASE(m, yc), y00), 4);
      _mm512_mask_i32scatter_ps(yc + 1, m01, idx, _mm512_add_ps(WINO_BASE(m01, yc + 1), y01), 4);
      _mm512_mask_i32scatter_ps(yc + W, m10, idx, _mm512_add_ps(WINO_BASE(m10, yc + W), y10), 4);
      _mm512_mask_i32scatter_ps(yc + W + 1, m11, idx, _mm512_add_ps(WINO_BASE(m11, yc + W + 1), y11), 4);
#undef WINO_BASE
    }
  }
}

/* The same two transforms when every group of 8 lanes is 8 tiles of one
 * tile row (tw a multiple of 8: the 16x16 and larger grids): the patches of
 * 8 neighbouring tiles are 18 consecutive floats of a padded row, so 2 plain
 * loads and an even/odd permutation replace 4 gathers, and the output tiles
 * are 16 consecutive floats of an output row (interleaved, then a plain
 * load-add-store instead of a gather and scatter). */
__attribute__((target("avx512f"))) static inline __m512 rows8(const float *p0, const float *p1, __m512i sel)
{
  return _mm512_permutex2var_ps(_mm512_loadu_ps(p0), sel, _mm512_loadu_ps(p1));
}

__attribute__((target("avx512f"))) static void wino_input8(int Cin, int nc, const float *P, size_t pstride, int Wp,
                                                           const int *off, float *V, size_t ldv)
{
  const size_t  vplane = (size_t)Cin * ldv;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd  = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (int l0 = 0; l0 < nc; l0 += WINO_LANES) {
    const __mmask16 m = lane_mask(nc - l0);
    const int       o0 = off[l0], o1 = nc - l0 > 8 ? off[l0 + 8] : o0;
    for (int ci = 0; ci < Cin; ci++) {
      const float *pc = P + ci * pstride;
      __m512       e[16];
      for (int r = 0; r < 4; r++) {
        const float *a = pc + (size_t)r * Wp + o0, *b = pc + (size_t)r * Wp + o1;
        __m512       d0 = rows8(a, b, even), d1 = rows8(a, b, odd), d2 = rows8(a + 2, b + 2, even), d3 = rows8(a + 2, b + 2, odd);
        WINO_BT(e[4 * r], e[4 * r + 1], e[4 * r + 2], e[4 * r + 3], d0, d1, d2, d3);
      }
      wino_columns(e, m, V + (size_t)ci * ldv + l0, vplane);
    }
  }
}

/* wino_input8 for zero padding, reading x itself (no padded copy): the 18
 * floats of a group's patch row are two masked loads (zeros outside the
 * plane). Channel by channel, so that the reads of x run along its rows
 * (hardware prefetch); the offsets and masks of each 16-tile block are
 * computed once per chunk into blk (g0: global index of the first tile). */
typedef struct {
  int       o[2][4];         /* offsets in a channel of the 4 patch rows (column 2 tx0 - 1) of the 2 groups */
  __mmask16 ma[2][4], mb[2][4]; /* load masks at that column and 2 further (0: row outside) */
} WinoBlock;

_Static_assert(sizeof(WinoBlock) <= WINO_LANES * sizeof(int), "a block's entry fits the 16 offsets it replaces");

static void wino_blocks(const BOConvShape *s, const WinoPlan *p, long g0, int nc, WinoBlock *blk)
{
  for (int l0 = 0; l0 < nc; l0 += WINO_LANES) {
    WinoBlock *k = blk + l0 / WINO_LANES;
    for (int h = 0; h < 2; h++) {
      const long g = g0 + l0 + (h && nc - l0 > 8 ? 8 : 0);
      const int  b = (int)(g / p->T), t = (int)(g % p->T), ty = t / p->tw, cs = 2 * (t % p->tw) - 1;
      __mmask16  cm = 0, cm2 = 0;
      for (int j = 0; j < 16; j++) {
        cm |= (__mmask16)((cs + j >= 0 && cs + j < s->W) << j);
        cm2 |= (__mmask16)((cs + 2 + j >= 0 && cs + 2 + j < s->W) << j);
      }
      for (int r = 0; r < 4; r++) {
        const int iy = 2 * ty - 1 + r, in = iy >= 0 && iy < s->H;
        k->o[h][r]  = in ? b * s->H * s->W + iy * s->W + cs : 1;
        k->ma[h][r] = in ? cm : 0, k->mb[h][r] = in ? cm2 : 0;
      }
    }
  }
}

__attribute__((target("avx512f"))) static void wino_input8_zero(const BOConvShape *s, const float *x, int nc,
                                                                const WinoBlock *blk, float *V, size_t ldv)
{
  const size_t  vplane = (size_t)s->Cin * ldv, cstride = (size_t)s->B * s->H * s->W;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd  = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (int ci = 0; ci < s->Cin; ci++) {
    const float *xc = x + ci * cstride;
    for (int l0 = 0; l0 < nc; l0 += WINO_LANES) {
      const __mmask16  m = lane_mask(nc - l0);
      const WinoBlock *k = blk + l0 / WINO_LANES;
      __m512           e[16];
      for (int r = 0; r < 4; r++) {
        const float *a = xc + k->o[0][r], *b = xc + k->o[1][r];
        const __m512 a0 = _mm512_maskz_loadu_ps(k->ma[0][r], a), b0 = _mm512_maskz_loadu_ps(k->ma[1][r], b);
        const __m512 a2 = _mm512_maskz_loadu_ps(k->mb[0][r], a + 2), b2 = _mm512_maskz_loadu_ps(k->mb[1][r], b + 2);
        __m512       d0 = _mm512_permutex2var_ps(a0, even, b0), d1 = _mm512_permutex2var_ps(a0, odd, b0);
        __m512       d2 = _mm512_permutex2var_ps(a2, even, b2), d3 = _mm512_permutex2var_ps(a2, odd, b2);
        WINO_BT(e[4 * r], e[4 * r + 1], e[4 * r + 2], e[4 * r + 3], d0, d1, d2, d3);
      }
      wino_columns(e, m, V + (size_t)ci * ldv + l0, vplane);
    }
  }
}

/* y[0..16) (masked) = (acc ? y + bias : bias) + the 16 interleaved outputs
 * of one group of 8 tiles (the order of the additions of the im2col path) */
__attribute__((target("avx512f"))) static inline void out_row8(float *y, __mmask16 m, __m512 bias, int acc, __m512 v)
{
  const __m512 base = acc ? _mm512_add_ps(_mm512_maskz_loadu_ps(m, y), bias) : bias;
  _mm512_mask_storeu_ps(y, m, _mm512_add_ps(base, v));
}

__attribute__((target("avx512f"))) static void wino_output8(int Cout, int nc, const float *M, size_t ldm,
                                                            const int *yoff, const int *flag, const float *bias,
                                                            int acc, float *y, size_t N, int W)
{
  const size_t  mplane = (size_t)Cout * ldm;
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
  for (int co = 0; co < Cout; co++) /* channel by channel: y written along its rows */
    for (int l0 = 0; l0 < nc; l0 += WINO_LANES) {
      const __mmask16 m = lane_mask(nc - l0);
      /* per group: columns (the last tile's second column may be cropped), second row */
      const int       two = nc - l0 > 8;
      const __mmask16 c0 = flag[l0 + 7] & 1 ? 0xFFFF : 0x7FFF, c1 = two ? (flag[l0 + 15] & 1 ? 0xFFFF : 0x7FFF) : 0;
      const __mmask16 r0 = flag[l0] & 2 ? c0 : 0, r1 = two && flag[l0 + 8] & 2 ? c1 : 0;
      const int       y0 = yoff[l0], y1 = two ? yoff[l0 + 8] : y0;
      const float *mc = M + (size_t)co * ldm + l0;
      __m512       t0[4], t1[4];
      for (int c = 0; c < 4; c++) {
        const __m512 a0 = _mm512_maskz_loadu_ps(m, mc + (size_t)c * mplane), a1 = _mm512_maskz_loadu_ps(m, mc + (size_t)(4 + c) * mplane);
        const __m512 a2 = _mm512_maskz_loadu_ps(m, mc + (size_t)(8 + c) * mplane), a3 = _mm512_maskz_loadu_ps(m, mc + (size_t)(12 + c) * mplane);
        t0[c] = _mm512_add_ps(_mm512_add_ps(a0, a1), a2);
        t1[c] = _mm512_sub_ps(_mm512_sub_ps(a1, a2), a3);
      }
      const __m512 y00 = _mm512_add_ps(_mm512_add_ps(t0[0], t0[1]), t0[2]), y01 = _mm512_sub_ps(_mm512_sub_ps(t0[1], t0[2]), t0[3]);
      const __m512 y10 = _mm512_add_ps(_mm512_add_ps(t1[0], t1[1]), t1[2]), y11 = _mm512_sub_ps(_mm512_sub_ps(t1[1], t1[2]), t1[3]);
      float       *yc = y + (size_t)co * N;
      const __m512 bv = _mm512_set1_ps(bias ? bias[co] : 0.0f);
      out_row8(yc + y0, c0, bv, acc, _mm512_permutex2var_ps(y00, lo, y01));
      out_row8(yc + y0 + W, r0, bv, acc, _mm512_permutex2var_ps(y10, lo, y11));
      if (c1) {
        out_row8(yc + y1, c1, bv, acc, _mm512_permutex2var_ps(y00, hi, y01));
        out_row8(yc + y1 + W, r1, bv, acc, _mm512_permutex2var_ps(y10, hi, y11));
      }
    }
}

/* y (+)= conv(x, w) + b by F(2x2, 3x3) (b may be NULL). */
static void conv_forward_winograd(const BOConvShape *s, const float *x, const float *w, int flip, const float *b,
                                  float *y, float *work, int acc)
{
  const WinoPlan p = wino_plan(s);
  const int      own = use_own_gemm();
  const long     total = (long)s->B * p.T;
  const size_t   N = (size_t)s->B * s->H * s->W, uplane = (size_t)s->Cout * s->Cin;
  float         *U = work + p.urow, *Up = work + p.upack, *V = work + p.v, *M = work + p.m, *P = work + p.pad;
  int           *off = (int *)(work + p.off), *yoff = (int *)(work + p.yoff), *flag = (int *)(work + p.flag);

  wino_weights(s->Cout, s->Cin, w, flip, U);
  if (own)
    for (int xi = 0; xi < 16; xi++) gemm_pack_a(s->Cout, s->Cin, U + xi * uplane, s->Cin, 1, Up + xi * p.pack);
  for (long g0 = 0; g0 < total; g0 += p.NC) {
    const int nc = total - g0 < p.NC ? (int)(total - g0) : p.NC;
    const int rows8 = p.tw % 8 == 0;
    wino_gather_chunk(s, &p, x, g0, nc, P, off, yoff, flag, !(rows8 && !s->periodic));
    if (rows8 && !s->periodic) {
      wino_blocks(s, &p, g0, nc, (WinoBlock *)off);
      wino_input8_zero(s, x, nc, (const WinoBlock *)off, V, p.ldv);
    }
    else if (rows8) wino_input8(s->Cin, nc, P, (size_t)p.prows * p.Wp, p.Wp, off, V, p.ldv);
    else wino_input(s->Cin, nc, P, (size_t)p.prows * p.Wp, p.Wp, off, V, p.ldv);
    if (!own && nc < p.NC) /* cblas: full-width products, zeros past the end */
      for (size_t r = 0; r < 16 * (size_t)s->Cin; r++) memset(V + r * p.ldv + nc, 0, sizeof(float) * (p.NC - nc));
    for (int xi = 0; xi < 16; xi++) {
      const float *Vx = V + xi * (size_t)s->Cin * p.ldv;
      float       *Mx = M + xi * (size_t)s->Cout * p.ldv;
      if (own) gemm_avx512(s->Cout, nc, s->Cin, Up + xi * p.pack, Vx, GEMM_NR, (int)p.ldv, Mx, (int)p.ldv, 0);
      else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Cout, p.NC, s->Cin, 1.0f, U + xi * uplane, s->Cin, Vx,
                    (int)p.ldv, 0.0f, Mx, (int)p.ldv);
    }
    if (rows8) wino_output8(s->Cout, nc, M, p.ldv, yoff, flag, b, acc, y, N, s->W);
    else wino_output(s->Cout, nc, M, p.ldv, yoff, flag, b, acc, y, N, s->W);
  }
}

/* The transposed convolution of the data gradient: Cin and Cout swapped. */
static BOConvShape wino_transposed(const BOConvShape *s)
{
  BOConvShape t = *s;
  t.Cin = s->Cout, t.Cout = s->Cin;
  return t;
}

/* For the forward pass and for the data gradient of the backward pass. */
static size_t wino_work_size(const BOConvShape *s)
{
  if (s->k != 3 || s->stride != 1) return 0;
  BOConvShape t = wino_transposed(s);
  size_t      a = wino_plan(s).total, b = wino_plan(&t).total;
  return a > b ? a : b;
}

/* y[M][N] += w[M][K] x[K][N] on our kernel (the 1x1 convolutions): x is
 * copied 32 columns x GEMM_KB rows at a time into a panel on the stack
 * (rows of x are N apart, often a multiple of 4 KiB, which would make every
 * row fall into the same L1 set), then multiplied by all rows of w. */
__attribute__((target("avx512f"))) static void conv1x1_forward_own(int M, size_t N, int K, const float *w,
                                                                   const float *x, float *y)
{
  float panel[GEMM_KB * GEMM_NR];
  for (size_t n0 = 0; n0 < N; n0 += GEMM_NR) {
    const int       nr = N - n0 < GEMM_NR ? (int)(N - n0) : GEMM_NR;
    const __mmask16 m0 = lane_mask(nr), m1 = lane_mask(nr - 16 > 0 ? nr - 16 : 0);
    for (int k0 = 0; k0 < K; k0 += GEMM_KB) {
      const int kn = K - k0 < GEMM_KB ? K - k0 : GEMM_KB;
      for (int k = 0; k < kn; k++) {
        const float *xr = x + (size_t)(k0 + k) * N + n0;
        _mm512_storeu_ps(panel + (size_t)k * GEMM_NR, _mm512_maskz_loadu_ps(m0, xr));
        _mm512_storeu_ps(panel + (size_t)k * GEMM_NR + 16, _mm512_maskz_loadu_ps(m1, xr + 16));
      }
      gemm_avx512_rowa(M, nr, kn, w + k0, (size_t)K, panel, 0, GEMM_NR, y + n0, (int)N);
    }
  }
}

void bo_conv_forward(const BOConvShape *s, const float *x, const float *w, const float *b, float *y, float *col,
                     int accumulate)
{
  const int    K = s->Cin * s->k * s->k, HWo = bo_conv_out_h(s) * bo_conv_out_w(s);
  const size_t N = (size_t)s->B * HWo;

  if (use_winograd(s)) { /* adds the bias itself */
    conv_forward_winograd(s, x, w, 0, b, y, col, accumulate);
    return;
  }
  /* start from the bias (or add it), then GEMM with beta = 1 */
  for (int co = 0; co < s->Cout; co++) {
    float v = b ? b[co] : 0.0f;
    if (!accumulate || v != 0.0f) k_fill_add(N, v, y + co * N, accumulate);
  }
  /* Our kernels sum each output column in an order that does not depend on
   * the other columns, so a sample's output does not depend on the batch;
   * OpenBLAS's order can depend on the width of the product. */
  if (conv_is_pointwise(s)) {
    if (use_own_gemm()) conv1x1_forward_own(s->Cout, N, K, w, x, y);
    else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Cout, (int)N, K, 1.0f, w, K, x, (int)N, 1.0f, y, (int)N);
    return;
  }
  if (use_own_gemm() && s->stride == 1 && !s->periodic) {
    float *pack = col + conv_work(s).pack;
    gemm_pack_a(s->Cout, K, w, K, 1, pack);
    conv_forward_fused(s, x, pack, y, col);
    return;
  }
  /* stride 2 or periodic padding, or no AVX-512: im2col per chunk, then our
   * kernel or cblas */
  const int nb = conv_chunk(s), own = use_own_gemm();
  float    *pack = col + conv_work(s).pack;
  if (own) gemm_pack_a(s->Cout, K, w, K, 1, pack);
  for (int b0 = 0; b0 < s->B; b0 += nb) {
    int n = s->B - b0 < nb ? s->B - b0 : nb;
    im2col_chunk(s, b0, n, (float *)x, col, 0);
    if (own) {
      gemm_avx512(s->Cout, n * HWo, K, pack, col, GEMM_NR, col_ld(n * HWo), y + (size_t)b0 * HWo, (int)N, 1);
      continue;
    }
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
  /* dx by Winograd: the transposed convolution is a stride-1 3x3
   * convolution of dy with the flipped kernels (Cin and Cout swapped), run
   * after the weight gradient (it reuses the workspace) */
  const int    wino      = dx && use_winograd(s);
  float *const dx_im2col = wino ? NULL : dx;
  const int nb = conv_chunk(s), own = use_own_gemm();
  ConvWork  cw = conv_work(s);
  float    *packT = col + cw.pack, *dyt = col + cw.dyt, *dwt = col + cw.dwt;
  if (own) {
    if (dx_im2col) gemm_pack_a(K, s->Cout, w, 1, K, packT); /* W^T(i, j) = w[j K + i] */
    memset(dwt, 0, sizeof(float) * K * s->Cout);
  }
  for (int b0 = 0; b0 < s->B; b0 += nb) {
    int          n   = s->B - b0 < nb ? s->B - b0 : nb;
    const float *dyc = dy + (size_t)b0 * HWo;
    im2col_chunk(s, b0, n, (float *)x, col, 0);
    /* dW^T [K x Cout] += col [K x n HWo] dy^T */
    if (own) {
      tile_cols(s->Cout, n * HWo, dyc, N, dyt);
      gemm_avx512_rowa(K, s->Cout, n * HWo, col, col_ld(n * HWo), dyt, (size_t)n * HWo * GEMM_NR, GEMM_NR, dwt, s->Cout);
    } else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->Cout, K, n * HWo, 1.0f, dyc, (int)N, col, col_ld(n * HWo),
                  1.0f, dw, K);
    if (!dx_im2col) continue;
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
  if (wino) {
    const BOConvShape t = wino_transposed(s);
    conv_forward_winograd(&t, dy, w, 1, NULL, dx, col, accumulate);
  }
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
