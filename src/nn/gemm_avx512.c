/* The GEMM register block on AVX-512: an 8 x 32 block of C in 16 zmm
 * registers (two per row) for a run of K. The interface and the order of
 * the sums are in nnimpl.h (BOGemmKernel). */
#include <immintrin.h>
#include "nnimpl.h"

/* One row r of the 8 x 32 block: c<r>0, c<r>1 += a[r] * (b0, b1). Named
 * registers, not arrays: GCC would keep an array in memory. */
#define GEMM_ROW(r)                                                                                                    \
  do {                                                                                                                 \
    const __m512 av = _mm512_set1_ps(a[r]);                                                                            \
    c##r##0         = _mm512_fmadd_ps(av, b0, c##r##0);                                                                \
    c##r##1         = _mm512_fmadd_ps(av, b1, c##r##1);                                                                \
  } while (0)
#define GEMM_STORE(r)                                                                                                  \
  do {                                                                                                                 \
    if (r < mr) {                                                                                                      \
      float *cr = cb + (size_t)r * ldc;                                                                                \
      if (acc) {                                                                                                       \
        c##r##0 = _mm512_add_ps(c##r##0, _mm512_maskz_loadu_ps(m0, cr));                                               \
        c##r##1 = _mm512_add_ps(c##r##1, _mm512_maskz_loadu_ps(m1, cr + 16));                                          \
      }                                                                                                                \
      _mm512_mask_storeu_ps(cr, m0, c##r##0);                                                                          \
      _mm512_mask_storeu_ps(cr + 16, m1, c##r##1);                                                                     \
    }                                                                                                                  \
  } while (0)

/* The lanes of the first n of 16 columns. */
static inline __mmask16 lanes16(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/* BOGemmKernel.block: C[0..mr)[0..nr) (+)= sum over kn steps of a[k][0..8)
 * x b[k ldb + 0..nr), a packed (8 floats per k), cb = &C(0, 0). */
__attribute__((target("avx512f"))) static void block_8x32(int kn, const float *a, const float *bk, size_t ldb, int nr,
                                                          float *cb, int ldc, int mr, int acc)
{
  const __mmask16 m0 = lanes16(nr), m1 = lanes16(nr - 16);
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

/* The same 8 x 32 register block for C[M x N] += A[M x K] B with A
 * row-major (leading dimension lda; its 8 rows are read as 8 sequential
 * streams, no packing) and B in tiles (as above, ldb = 32). Used for the
 * weight gradient, where A is the im2col matrix and K the pixels. */
#define GEMM_ROWA(r)                                                                                                   \
  do {                                                                                                                 \
    const __m512 av = _mm512_set1_ps(a##r[k]);                                                                         \
    c##r##0         = _mm512_fmadd_ps(av, b0, c##r##0);                                                                \
    c##r##1         = _mm512_fmadd_ps(av, b1, c##r##1);                                                                \
  } while (0)

__attribute__((target("avx512f"))) static void rowa_8x32(int M, int N, int K, const float *A, size_t lda,
                                                         const float *b, size_t tile, size_t ldb, float *c, int ldc)
{
  const int acc = 1;
  for (int n0 = 0; n0 < N; n0 += GEMM_NR) {
    const int       nr = N - n0 < GEMM_NR ? N - n0 : GEMM_NR;
    const __mmask16 m0 = lanes16(nr), m1 = lanes16(nr - 16);
    for (int mb = 0; mb < M; mb += GEMM_MR) {
      /* rows past the end repeat the last row; they are not stored */
#define ROWPTR(r) A + (size_t)(mb + r < M ? mb + r : M - 1) * lda
      const float *a0 = ROWPTR(0), *a1 = ROWPTR(1), *a2 = ROWPTR(2), *a3 = ROWPTR(3), *a4 = ROWPTR(4), *a5 = ROWPTR(5),
                  *a6 = ROWPTR(6), *a7 = ROWPTR(7);
#undef ROWPTR
      const float *bk = b + (size_t)(n0 / GEMM_NR) * tile;
      __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
      __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
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

const BOGemmKernel bo_gemm_avx512 = {block_8x32, rowa_8x32};
