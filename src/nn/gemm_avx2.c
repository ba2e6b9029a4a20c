/* The GEMM register block on AVX2 + FMA. An AVX2 core has 16 ymm registers
 * of 8 floats, too few for an 8 x 32 block, so the block is done as four
 * 4 x 16 quarters, each with 8 accumulators (two per row) for the whole run
 * of K. Every element of C gets the same sum in the same order as on
 * AVX-512 (nnimpl.h, BOGemmKernel), so both kernels give the same bits. */
#include <immintrin.h>
#include "nnimpl.h"

#define TARGET __attribute__((target("avx2,fma")))

/* Lanes of the first n of 8 columns. */
TARGET static inline __m256i lanes8(int n)
{
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Rows r of a quarter: c<r>0, c<r>1 (columns 0-7, 8-15) += a * (b0, b1). */
#define QUARTER_ROW(r, av)                                                                                             \
  do {                                                                                                                 \
    const __m256 a_ = _mm256_set1_ps(av);                                                                              \
    c##r##0         = _mm256_fmadd_ps(a_, b0, c##r##0);                                                                \
    c##r##1         = _mm256_fmadd_ps(a_, b1, c##r##1);                                                                \
  } while (0)
#define QUARTER_STORE(r)                                                                                               \
  do {                                                                                                                 \
    if (r < mr) {                                                                                                      \
      float *cr = c + (size_t)r * ldc;                                                                                 \
      if (acc) {                                                                                                       \
        c##r##0 = _mm256_add_ps(c##r##0, _mm256_maskload_ps(cr, m0));                                                  \
        c##r##1 = _mm256_add_ps(c##r##1, _mm256_maskload_ps(cr + 8, m1));                                              \
      }                                                                                                                \
      _mm256_maskstore_ps(cr, m0, c##r##0);                                                                            \
      _mm256_maskstore_ps(cr + 8, m1, c##r##1);                                                                        \
    }                                                                                                                  \
  } while (0)

/* Rows 0..3 (mr of them stored) and nr <= 16 columns of a packed block:
 * a holds 8 floats per k, of which this quarter uses 4 from a. */
TARGET static void quarter_packed(int kn, const float *a, const float *bk, size_t ldb, int nr, float *c, int ldc,
                                  int mr, int acc)
{
  const __m256i m0 = lanes8(nr), m1 = lanes8(nr - 8);
  __m256        c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int k = 0; k < kn; k++, bk += ldb, a += GEMM_MR) {
    const __m256 b0 = _mm256_maskload_ps(bk, m0), b1 = _mm256_maskload_ps(bk + 8, m1);
    QUARTER_ROW(0, a[0]);
    QUARTER_ROW(1, a[1]);
    QUARTER_ROW(2, a[2]);
    QUARTER_ROW(3, a[3]);
  }
  QUARTER_STORE(0);
  QUARTER_STORE(1);
  QUARTER_STORE(2);
  QUARTER_STORE(3);
}

/* BOGemmKernel.block */
TARGET static void block_8x32(int kn, const float *a, const float *bk, size_t ldb, int nr, float *c, int ldc, int mr,
                              int acc)
{
  for (int h = 0; h < 2 && nr > 16 * h; h++)
    for (int q = 0; q < 2 && mr > 4 * q; q++)
      quarter_packed(kn, a + 4 * q, bk + 16 * h, ldb, nr - 16 * h, c + (size_t)(4 * q) * ldc + 16 * h, ldc, mr - 4 * q,
                     acc);
}

/* Rows 0..3 of A given as 4 row streams (the rows past M repeat the last),
 * nr <= 16 columns of the tiles of B; C += A B. */
TARGET static void quarter_rowa(int K, const float *a0, const float *a1, const float *a2, const float *a3,
                                const float *bk, size_t ldb, int nr, float *c, int ldc, int mr)
{
  const int     acc = 1;
  const __m256i m0 = lanes8(nr), m1 = lanes8(nr - 8);
  __m256        c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int k = 0; k < K; k++, bk += ldb) {
    const __m256 b0 = _mm256_maskload_ps(bk, m0), b1 = _mm256_maskload_ps(bk + 8, m1);
    QUARTER_ROW(0, a0[k]);
    QUARTER_ROW(1, a1[k]);
    QUARTER_ROW(2, a2[k]);
    QUARTER_ROW(3, a3[k]);
  }
  QUARTER_STORE(0);
  QUARTER_STORE(1);
  QUARTER_STORE(2);
  QUARTER_STORE(3);
}

/* BOGemmKernel.rowa */
TARGET static void rowa_8x32(int M, int N, int K, const float *A, size_t lda, const float *b, size_t tile, size_t ldb,
                             float *c, int ldc)
{
  for (int n0 = 0; n0 < N; n0 += GEMM_NR) {
    const int    nr = N - n0 < GEMM_NR ? N - n0 : GEMM_NR;
    const float *bk = b + (size_t)(n0 / GEMM_NR) * tile;
    for (int mb = 0; mb < M; mb += 4) {
#define ROWPTR(r) A + (size_t)(mb + r < M ? mb + r : M - 1) * lda
      const float *a0 = ROWPTR(0), *a1 = ROWPTR(1), *a2 = ROWPTR(2), *a3 = ROWPTR(3);
#undef ROWPTR
      for (int h = 0; h < 2 && nr > 16 * h; h++)
        quarter_rowa(K, a0, a1, a2, a3, bk + 16 * h, ldb, nr - 16 * h, c + (size_t)mb * ldc + n0 + 16 * h, ldc, M - mb);
    }
  }
}

const BOGemmKernel bo_gemm_avx2 = {block_8x32, rowa_8x32};
