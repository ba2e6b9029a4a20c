/* Winograd F(4x4, 3x3) for the stride-1 3x3 convolutions.
 *
 * One dimension first. Four outputs of a 3-tap correlation of six inputs,
 * y_i = sum_k d_{i+k} g_k (i = 0..3), need six products instead of twelve
 * when the polynomials are evaluated at the points 0, 1, -1, 2, -2 and
 * infinity. In matrix form y = A^T [(G g) .* (B^T d)] with
 *
 *   B^T = | 4  0 -5  0  1  0 |   G = | 1/4     0     0  |   A^T = | 1  1  1  1  1  0 |
 *         | 0 -4 -4  1  1  0 |       |-1/6  -1/6  -1/6  |         | 0  1 -1  2 -2  0 |
 *         | 0  4 -4 -1  1  0 |       |-1/6   1/6  -1/6  |         | 0  1  1  4  4  0 |
 *         | 0 -2 -1  2  1  0 |       | 1/24  1/12  1/6  |         | 0  1 -1  8 -8  1 |
 *         | 0  2 -1 -2  1  0 |       | 1/24 -1/12  1/6  |
 *         | 0  4  0 -5  0  1 |       | 0     0     1    |
 *
 * and in two dimensions (the 1-D algorithm nested over rows and columns)
 * the 4x4 output tile Y = A^T [(G g G^T) .* (B^T d B)] A of the 6x6 input
 * patch d (patches overlap by 2). Per output, that is 36/16 = 2.25
 * multiplications instead of 9 (F(2x2, 3x3): 4). The larger coefficients
 * cost a little accuracy: measured in the tests, ~4e-6 of the sum of
 * |terms| (direct sum: ~1e-7).
 *
 * With the [C][B][H][W] layout the 36 "frequencies" xi = 6 r + c are 36
 * independent matrix products
 *   M[xi] (Cout x n) = U[xi] (Cout x Cin) . V[xi] (Cin x n),
 * n = tiles of all samples, U = G g G^T the weight transform and V = B^T d B
 * the input transform; Y = A^T M A. A conv is run in chunks of NC tiles
 * (global tile index g = b T + ty tw + tx over the batch) so that V and M
 * stay in L2: the patches are read straight from x with masked loads at the
 * edges (zero padding), or from the input rows copied into a padded buffer
 * P with the wrapped rows (periodic padding, and the gather path), the patches transformed
 * 16 tiles per vector, 36 products (our 8x32 kernel, or cblas_sgemm with
 * BO_NN_BLAS_ONLY=1), then the output transform adds the tiles into y with
 * the bias (cropped at the edges when H or W is not a multiple of 4).
 *
 * Tiles are moved between memory and vector lanes two ways. When a row has
 * a multiple of 4 tiles (the 16x16 and 32x32 grids), a vector holds 4 sets
 * of 4 neighbouring tiles of a row; a set's patch rows are 18 consecutive
 * floats, read with 2 plain loads and spread over the lanes by permutations,
 * and its output rows are 16 consecutive floats, written the same way back.
 * Otherwise (small or odd grids) the patches are gathered and the outputs
 * scattered through offset tables. Each column (tile) of a product is a sum
 * over Cin in a fixed order that does not depend on the other columns, so
 * the output of a sample does not depend on the batch or on the chunking
 * (tested bit for bit).
 *
 * The data gradient of the backward pass is the same algorithm: dx is the
 * stride-1 convolution of dy with the kernels flipped (w[co][ci](2-ky, 2-kx))
 * and Cin, Cout swapped, with the same padding. The weight gradient runs
 * on the same tiles: dU[xi] = sum over tiles (A dY A^T)[xi] V[xi]^T, then
 * dw = G^T dU G (bo_winograd_wgrad).
 *
 * The weight transform is recomputed at every forward call: it costs about
 * 36 Cout Cin floats written per conv, about 1 % of a forward pass at
 * batch 1 for unet-s, and there is no cache to invalidate when the trainer
 * changes the parameters. The transforms use AVX-512 (permutations,
 * gathers, scatters); CPUs without it run the fused or im2col path. The
 * products run on our GEMM kernel (nnimpl.h), or on cblas_sgemm. */
#include <cblas.h>
#include <immintrin.h>
#include "nnimpl.h"

/* Floats of V + M per chunk: 512 KiB, a quarter of a core's L2 (32 tiles
 * for unet-s's channel counts; measured faster than 1 or 2 MiB chunks). */
#define WINO_CHUNK_FLOATS (1 << 17)
#define WINO_LANES        16
#define WINO_NF           36 /* frequencies */
#define WINO_PREFETCH     2

/* Tile counts, chunk size and workspace offsets (floats). */
typedef struct {
  int    th, tw, T, Wp, NC, prows, sets; /* sets: rows of tiles come in sets of 4 (permutation path) */
  size_t ldv, pack, urow, upack, v, m, pad, off, yoff, flag, sets_tab, mt, total;
} WinoPlan;

/* Where the sets path reads a block of 16 tiles (4 sets of 4 tiles): patch
 * row r of set k starts at o[k][r] in a channel of the source (x, or the
 * padded rows), and its two 16-float loads (columns 0-15 and 2-17) have the
 * lane masks mr, ms (0 outside x: the zero padding). */
typedef struct {
  int       o[4][6];
  __mmask16 mr[4][6], ms[4][6];
} WinoSets;

static WinoPlan wino_plan(const BOConvShape *s)
{
  WinoPlan p;
  p.th = (s->H + 3) / 4, p.tw = (s->W + 3) / 4, p.T = p.th * p.tw;
  p.Wp   = 4 * p.tw + 2;
  p.sets = p.tw % 4 == 0;
  /* NC does not depend on B: in blas-only mode every product then has the
   * same shape (the last chunk is padded), so OpenBLAS takes the same code
   * path whatever the batch */
  long nc = WINO_CHUNK_FLOATS / (WINO_NF * (s->Cin + s->Cout)) / 32 * 32;
  if (nc < 32) nc = 32;
  p.NC  = (int)nc;
  p.ldv = (size_t)col_ld(p.NC);
  /* a chunk touches at most this many samples, each needing <= 4 th + 2 padded rows */
  long nb = (nc + p.T - 1) / p.T + 1;
  if (nb > s->B) nb = s->B;
  p.prows    = (int)nb * (4 * p.th + 2);
  p.pack     = gemm_pack_size(s->Cout, s->Cin);
  p.urow     = 0;
  p.upack    = p.urow + WINO_NF * (size_t)s->Cout * s->Cin;
  p.v        = p.upack + WINO_NF * p.pack;
  p.m        = p.v + WINO_NF * (size_t)s->Cin * p.ldv;
  p.pad      = p.m + WINO_NF * (size_t)s->Cout * p.ldv;
  p.off      = p.pad + (size_t)s->Cin * p.prows * p.Wp;
  p.yoff     = p.off + (size_t)p.NC;
  p.flag     = p.yoff + (size_t)p.NC;
  p.sets_tab = p.flag + (size_t)p.NC;
  p.mt       = p.sets_tab + (p.NC / WINO_LANES + 1) * (sizeof(WinoSets) / sizeof(float) + 1);
  p.total    = p.mt + (size_t)(s->Cout + GEMM_NR - 1) / GEMM_NR * GEMM_NR * p.NC; /* weight gradient: dM^T tiles */
  return p;
}

/* The 1-D transforms of six values (one per lane), out[i os] from in[i is]. */
__attribute__((target("avx512f"))) static inline void wino_bt(const __m512 *in, int is, __m512 *out, int os)
{
  const __m512 two = _mm512_set1_ps(2.0f), four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f);
  const __m512 d0 = in[0], d1 = in[is], d2 = in[2 * is], d3 = in[3 * is], d4 = in[4 * is], d5 = in[5 * is];
  const __m512 t1 = _mm512_fnmadd_ps(four, d2, d4), t2 = _mm512_fnmadd_ps(four, d1, d3); /* d4 - 4 d2, d3 - 4 d1 */
  const __m512 t3 = _mm512_sub_ps(d4, d2), t4 = _mm512_mul_ps(two, _mm512_sub_ps(d3, d1));
  out[0]      = _mm512_fmadd_ps(four, d0, _mm512_fnmadd_ps(five, d2, d4));
  out[os]     = _mm512_add_ps(t1, t2);
  out[2 * os] = _mm512_sub_ps(t1, t2);
  out[3 * os] = _mm512_add_ps(t3, t4);
  out[4 * os] = _mm512_sub_ps(t3, t4);
  out[5 * os] = _mm512_fmadd_ps(four, d1, _mm512_fnmadd_ps(five, d3, d5));
}

/* A^T m: four values from six, out[i os] from in[i is]. */
__attribute__((target("avx512f"))) static inline void wino_at(const __m512 *in, int is, __m512 *out, int os)
{
  const __m512 a = _mm512_add_ps(in[is], in[2 * is]), b = _mm512_sub_ps(in[is], in[2 * is]);
  const __m512 c = _mm512_add_ps(in[3 * is], in[4 * is]), d = _mm512_sub_ps(in[3 * is], in[4 * is]);
  out[0]      = _mm512_add_ps(_mm512_add_ps(in[0], a), c);
  out[os]     = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), d, b);
  out[2 * os] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), c, a);
  out[3 * os] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0f), d, b), in[5 * is]);
}

/* G of the weight transform (rows: the six points 0, 1, -1, 2, -2, infinity). */
static const float wino_G[6][3] = {{1.0f / 4, 0, 0},
                                   {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                                   {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                                   {1.0f / 24, 1.0f / 12, 1.0f / 6},
                                   {1.0f / 24, -1.0f / 12, 1.0f / 6},
                                   {0, 0, 1}};

/* U[xi][co][ci] = (G g G^T)[r][c] (xi = 6 r + c) for the 3x3 kernel
 * g = w[co][ci]; flip = 1: the weights of the transposed convolution (the
 * data gradient of the backward pass), g[co][ci](ky, kx) = w[ci][co](2 - ky, 2 - kx). */
static void wino_weights(int Cout, int Cin, const float *w, int flip, float *U)
{
  const size_t plane = (size_t)Cout * Cin;
  for (int co = 0; co < Cout; co++)
    for (int ci = 0; ci < Cin; ci++) {
      float g[9], t[6][3] = {{0}}; /* t = G g */
      for (int i = 0; i < 9; i++)
        g[i] = flip ? w[((size_t)ci * Cout + co) * 9 + 8 - i] : w[((size_t)co * Cin + ci) * 9 + i];
      for (int r = 0; r < 6; r++)
        for (int ky = 0; ky < 3; ky++)
          for (int kx = 0; kx < 3; kx++) t[r][kx] += wino_G[r][ky] * g[3 * ky + kx];
      for (int r = 0; r < 6; r++) /* U = t G^T */
        for (int c = 0; c < 6; c++)
          U[(6 * r + c) * plane + (size_t)co * Cin + ci] =
              t[r][0] * wino_G[c][0] + t[r][1] * wino_G[c][1] + t[r][2] * wino_G[c][2];
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
 * ([Cin][prows][Wp]) if asked, and fill, per tile l, the offset of its 6x6
 * patch in P (off), of its output tile in a channel of y (yoff), and its
 * flag: the columns (low 4 bits) and rows (next 4) of the tile inside the
 * output. */
static void wino_gather_chunk(const BOConvShape *s, const WinoPlan *p, const float *x, long g0, int nc, float *P,
                              int *off, int *yoff, int *flag, int pad)
{
  const size_t HW = (size_t)s->H * s->W, pstride = (size_t)p->prows * p->Wp;
  int          rows = 0;
  for (long g = g0; g < g0 + nc;) {
    const int  b = (int)(g / p->T), t = (int)(g % p->T);
    const long gend = (long)(b + 1) * p->T < g0 + nc ? (long)(b + 1) * p->T : g0 + nc;
    const int  tyA = t / p->tw, tyB = (int)(gend - 1 - (long)b * p->T) / p->tw, nrows = 4 * (tyB - tyA) + 6;
    for (int ci = 0; ci < s->Cin && pad; ci++)
      for (int r = 0; r < nrows; r++)
        wino_pad_row(x + ((size_t)ci * s->B + b) * HW, s->H, s->W, 4 * tyA + r - 1, s->periodic, p->Wp,
                     P + ci * pstride + (size_t)(rows + r) * p->Wp);
    int ty = tyA, tx = t % p->tw; /* stepped, no divisions per tile */
    for (long gg = g; gg < gend; gg++) {
      const int l = (int)(gg - g0), cols = s->W - 4 * tx, rws = s->H - 4 * ty;
      off[l]  = (rows + 4 * (ty - tyA)) * p->Wp + 4 * tx;
      yoff[l] = (int)((size_t)b * HW) + 4 * ty * s->W + 4 * tx;
      flag[l] = (cols < 4 ? cols : 4) | (rws < 4 ? rws : 4) << 4;
      if (++tx == p->tw) tx = 0, ty++;
    }
    rows += nrows;
    g = gend;
  }
}

static inline __mmask16 lane_mask(int n)
{
  return n >= WINO_LANES ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* Second half of every input transform: B^T along the rows of the 6 x 6
 * patches (e[6 r + c] holds the columns already transformed), and the 36
 * frequencies stored vplane apart. */
__attribute__((target("avx512f"))) static inline void wino_store_v(const __m512 e[WINO_NF], __mmask16 m, float *vc,
                                                                   size_t vplane)
{
  for (int c = 0; c < 6; c++) {
    __m512 v[6];
    wino_bt(e + c, 6, v, 1);
    for (int r = 0; r < 6; r++) _mm512_mask_storeu_ps(vc + (size_t)(6 * r + c) * vplane, m, v[r]);
  }
}

/* The sets layout (lane 4 k + t = tile t of set k, 4 sets of 4 neighbouring
 * tiles of a row): from R[k], 16 consecutive floats of a row of set k,
 * column c of every tile is R[k][4 t + c]. One permutation of two sets
 * gives columns c, c + 1 of both (lanes 0-7: c, 8-15: c + 1), one 128-bit
 * shuffle of two such vectors a column of all four sets. */
__attribute__((target("avx512f"))) static inline void wino_sets_columns(const __m512 R[4], int c, __m512 *col_c,
                                                                        __m512 *col_c1)
{
  const __m512i idx = _mm512_add_epi32(_mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29),
                                       _mm512_set1_epi32(c));
  const __m512  a = _mm512_permutex2var_ps(R[0], idx, R[1]), b = _mm512_permutex2var_ps(R[2], idx, R[3]);
  *col_c = _mm512_shuffle_f32x4(a, b, 0x44), *col_c1 = _mm512_shuffle_f32x4(a, b, 0xEE);
}

/* Where the 4 sets of the block at l0 sit in a channel of y (dst), their
 * rows inside the output, and the mask of their 16 columns inside it (sets
 * past nc: no rows, no columns). */
static inline void wino_sets_targets(int l0, int nc, const int *yoff, const int *flag, int dst[4], int rows[4],
                                     __mmask16 cm[4])
{
  for (int k = 0; k < 4; k++) {
    const int l = l0 + 4 * k, in = l < nc;
    dst[k] = in ? yoff[l] : 0, rows[k] = in ? flag[l] >> 4 : 0;
    cm[k] = in ? lane_mask(12 + (flag[l + 3] & 15)) : 0;
  }
}

/* For the gather/scatter path: mk[4 i + j] = the lanes (of m) whose tile
 * has entry (i, j) inside the output. */
__attribute__((target("avx512f"))) static inline void wino_entry_masks(__mmask16 m, const int *flag, __mmask16 mk[16])
{
  const __m512i fl   = _mm512_maskz_loadu_epi32(m, flag);
  const __m512i cols = _mm512_and_epi32(fl, _mm512_set1_epi32(15)), rows = _mm512_srli_epi32(fl, 4);
  for (int q = 0; q < 16; q++)
    mk[q] = m & _mm512_cmpgt_epi32_mask(rows, _mm512_set1_epi32(q / 4)) &
            _mm512_cmpgt_epi32_mask(cols, _mm512_set1_epi32(q % 4));
}

/* V[xi][ci][l] for the nc tiles of a chunk, 16 tiles per vector, their 6x6
 * patches gathered from the padded rows. */
__attribute__((target("avx512f"))) static void wino_input_gather(int Cin, int nc, const float *P, size_t pstride,
                                                                 int Wp, const int *off, float *V, size_t ldv)
{
  const size_t vplane = (size_t)Cin * ldv;
  for (int l0 = 0; l0 < nc; l0 += WINO_LANES) {
    const __mmask16 m   = lane_mask(nc - l0);
    const __m512i   idx = _mm512_maskz_loadu_epi32(m, off + l0);
    const __m512    z   = _mm512_setzero_ps();
    for (int ci = 0; ci < Cin; ci++) {
      const float *pc = P + ci * pstride;
      __m512       e[WINO_NF]; /* e[6 r + c]: rows of d transformed along c */
      for (int r = 0; r < 6; r++) {
        __m512 d[6];
        for (int c = 0; c < 6; c++) d[c] = _mm512_mask_i32gather_ps(z, m, idx, pc + (size_t)r * Wp + c, 4);
        wino_bt(d, 1, e + 6 * r, 1);
      }
      wino_store_v(e, m, V + (size_t)ci * ldv + l0, vplane);
    }
  }
}

/* The table of wino_input_sets for the chunk's blocks. Periodic padding
 * reads the padded rows (P, offsets off); zero padding reads x itself, the
 * loads masked at its edges (no copy). */
static void wino_sets_table(const BOConvShape *s, const WinoPlan *p, long g0, int nc, const int *off, WinoSets *tab)
{
  for (int l0 = 0; l0 < nc; l0 += WINO_LANES) {
    WinoSets *t = tab + l0 / WINO_LANES;
    for (int k = 0; k < 4; k++) {
      const int  l = l0 + 4 * k < nc ? l0 + 4 * k : l0; /* sets past the end repeat the first */
      const long g = g0 + l;
      const int  b = (int)(g / p->T), ty = (int)(g % p->T) / p->tw, c0 = 4 * (int)(g % p->T % p->tw) - 1;
      __mmask16  mr = 0, ms = 0; /* columns c0 + j and c0 + 2 + j inside x */
      for (int j = 0; j < 16; j++) {
        mr |= (__mmask16)((c0 + j >= 0 && c0 + j < s->W) << j);
        ms |= (__mmask16)((c0 + 2 + j >= 0 && c0 + 2 + j < s->W) << j);
      }
      for (int r = 0; r < 6; r++) {
        const int iy = 4 * ty - 1 + r, in = iy >= 0 && iy < s->H;
        if (s->periodic) t->o[k][r] = off[l] + r * p->Wp, t->mr[k][r] = t->ms[k][r] = 0xFFFF;
        else {
          t->o[k][r]  = in ? (b * s->H + iy) * s->W + c0 : 1;
          t->mr[k][r] = in ? mr : 0, t->ms[k][r] = in ? ms : 0;
        }
      }
    }
  }
}

/* The input transform for rows of 4k tiles, in the sets layout (patch
 * columns 4 t + 0..5 from the set's start): per patch row, R[k] = its
 * columns 0-15 and S[k] = columns 2-17 (wino_sets_columns). Channel by
 * channel, so that the reads run along the rows of the source (base,
 * channels cstride apart). */
__attribute__((target("avx512f"))) static void wino_input_sets(int Cin, int nc, const float *base, size_t cstride,
                                                               const WinoSets *tab, float *V, size_t ldv)
{
  const size_t vplane = (size_t)Cin * ldv;
  for (int ci = 0; ci < Cin; ci++) {
    const float *xc = base + ci * cstride;
    for (int l0 = 0; l0 < nc; l0 += WINO_LANES) {
      const __mmask16 m = lane_mask(nc - l0);
      const WinoSets *t = tab + l0 / WINO_LANES;
      __m512          e[WINO_NF];
      for (int r = 0; r < 6; r++) {
        __m512 R[4], S[4], d[6];
        for (int k = 0; k < 4; k++) {
          if (ci + WINO_PREFETCH < Cin) { /* the same rows two channels on: x is read from L3 or memory */
            _mm_prefetch((const char *)(xc + WINO_PREFETCH * cstride + t->o[k][r]), _MM_HINT_T0);
            _mm_prefetch((const char *)(xc + WINO_PREFETCH * cstride + t->o[k][r] + 17), _MM_HINT_T0);
          }
          R[k] = _mm512_maskz_loadu_ps(t->mr[k][r], xc + t->o[k][r]);
          S[k] = _mm512_maskz_loadu_ps(t->ms[k][r], xc + t->o[k][r] + 2);
        }
        wino_sets_columns(R, 0, &d[0], &d[1]);
        wino_sets_columns(R, 2, &d[2], &d[3]);
        wino_sets_columns(S, 2, &d[4], &d[5]); /* columns 4, 5 are 2, 3 of S */
        wino_bt(d, 1, e + 6 * r, 1);
      }
      wino_store_v(e, m, V + (size_t)ci * ldv + l0, vplane);
    }
  }
}

/* The 4x4 outputs y[4 i + j] of 16 tiles of output channel co: A^T M A of
 * the 36 frequencies at mc (mplane apart). */
__attribute__((target("avx512f"))) static inline void wino_tile_out(const float *mc, size_t mplane, __mmask16 m,
                                                                    __m512 y[16])
{
  __m512 t[24]; /* t[6 i + c]: A^T applied over the rows r */
  for (int c = 0; c < 6; c++) {
    __m512 a[6];
    for (int r = 0; r < 6; r++) a[r] = _mm512_maskz_loadu_ps(m, mc + (size_t)(6 * r + c) * mplane);
    wino_at(a, 1, t + c, 6);
  }
  for (int i = 0; i < 4; i++) wino_at(t + 6 * i, 1, y + 4 * i, 1);
}

/* y[co] (at yoff) (+)= bias + A^T M A for the nc tiles of a chunk, 16 at a
 * time, scattered; entries outside the output are masked off. */
__attribute__((target("avx512f"))) static void wino_output_scatter(int Cout, int nc, const float *M, size_t ldm,
                                                                   const int *yoff, const int *flag, const float *bias,
                                                                   int acc, float *y, size_t N, int W)
{
  const size_t mplane = (size_t)Cout * ldm;
  for (int l0 = 0; l0 < nc; l0 += WINO_LANES) {
    const __mmask16 m   = lane_mask(nc - l0);
    const __m512i   idx = _mm512_maskz_loadu_epi32(m, yoff + l0);
    __mmask16       mk[16];
    wino_entry_masks(m, flag + l0, mk);
    for (int co = 0; co < Cout; co++) {
      __m512 yt[16];
      wino_tile_out(M + (size_t)co * ldm + l0, mplane, m, yt);
      float       *yc = y + (size_t)co * N;
      const __m512 z = _mm512_setzero_ps(), bv = _mm512_set1_ps(bias ? bias[co] : 0.0f);
      for (int q = 0; q < 16; q++) {
        float       *p    = yc + (q / 4) * W + q % 4;
        const __m512 base = acc ? _mm512_add_ps(_mm512_mask_i32gather_ps(z, mk[q], idx, p, 4), bv) : bv;
        _mm512_mask_i32scatter_ps(p, mk[q], idx, _mm512_add_ps(base, yt[q]), 4);
      }
    }
  }
}

/* The same for rows of 4k tiles (the sets of wino_input_sets): row i of the
 * 4 tiles of set k is 16 consecutive floats of y, put together from the
 * lanes 4 k .. 4 k + 3 of y[4 i + 0..3] by two rounds of permutations. */
__attribute__((target("avx512f"))) static void wino_output_sets(int Cout, int nc, const float *M, size_t ldm,
                                                                const int *yoff, const int *flag, const float *bias,
                                                                int acc, float *y, size_t N, int W)
{
  const size_t  mplane = (size_t)Cout * ldm;
  const __m512i lo     = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi     = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
  const __m512i qlo    = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
  const __m512i qhi    = _mm512_add_epi32(qlo, _mm512_set1_epi32(8));
  for (int l0 = 0; l0 < nc; l0 += WINO_LANES) {
    const __mmask16 m = lane_mask(nc - l0);
    int             dst[4], rows[4];
    __mmask16       cm[4];
    wino_sets_targets(l0, nc, yoff, flag, dst, rows, cm);
    for (int co = 0; co < Cout; co++) {
      __m512 yt[16];
      wino_tile_out(M + (size_t)co * ldm + l0, mplane, m, yt);
      float       *yc = y + (size_t)co * N;
      const __m512 bv = _mm512_set1_ps(bias ? bias[co] : 0.0f);
      for (int i = 0; i < 4; i++) {
        const __m512 *r   = yt + 4 * i;
        const __m512  p01 = _mm512_permutex2var_ps(r[0], lo, r[1]), p23 = _mm512_permutex2var_ps(r[2], lo, r[3]);
        const __m512  q01 = _mm512_permutex2var_ps(r[0], hi, r[1]), q23 = _mm512_permutex2var_ps(r[2], hi, r[3]);
        const __m512  out[4] = {_mm512_permutex2var_ps(p01, qlo, p23), _mm512_permutex2var_ps(p01, qhi, p23),
                                _mm512_permutex2var_ps(q01, qlo, q23), _mm512_permutex2var_ps(q01, qhi, q23)};
        for (int k = 0; k < 4; k++) {
          if (i >= rows[k]) continue;
          float       *p    = yc + dst[k] + (size_t)i * W;
          const __m512 base = acc ? _mm512_add_ps(_mm512_maskz_loadu_ps(cm[k], p), bv) : bv;
          _mm512_mask_storeu_ps(p, cm[k], _mm512_add_ps(base, out[k]));
        }
      }
    }
  }
}

/* The tables of the chunk [g0, g0 + nc) and its input transform V. */
static void wino_input_chunk(const BOConvShape *s, const WinoPlan *p, const float *x, long g0, int nc, float *work)
{
  float    *V = work + p->v, *P = work + p->pad;
  int      *off = (int *)(work + p->off), *yoff = (int *)(work + p->yoff), *flag = (int *)(work + p->flag);
  WinoSets *tab = (WinoSets *)(work + p->sets_tab);

  wino_gather_chunk(s, p, x, g0, nc, P, off, yoff, flag, !p->sets || s->periodic);
  if (p->sets) {
    wino_sets_table(s, p, g0, nc, off, tab);
    if (s->periodic) wino_input_sets(s->Cin, nc, P, (size_t)p->prows * p->Wp, tab, V, p->ldv);
    else wino_input_sets(s->Cin, nc, x, (size_t)s->B * s->H * s->W, tab, V, p->ldv);
  } else wino_input_gather(s->Cin, nc, P, (size_t)p->prows * p->Wp, p->Wp, off, V, p->ldv);
  if (!bo_nn_gemm() && nc < p->NC) /* cblas: full-width products, zeros past the end */
    for (size_t r = 0; r < WINO_NF * (size_t)s->Cin; r++) memset(V + r * p->ldv + nc, 0, sizeof(float) * (p->NC - nc));
}

/* y (+)= conv(x, w) + b by F(4x4, 3x3) (b may be NULL). */
void bo_winograd_forward(const BOConvShape *s, const float *x, const float *w, int flip, const float *b, float *y,
                         float *work, int acc)
{
  const WinoPlan      p     = wino_plan(s);
  const BOGemmKernel *g     = bo_nn_gemm();
  const long          total = (long)s->B * p.T;
  const size_t        N = (size_t)s->B * s->H * s->W, uplane = (size_t)s->Cout * s->Cin;
  float              *U = work + p.urow, *Up = work + p.upack, *V = work + p.v, *M = work + p.m;
  const int          *yoff = (int *)(work + p.yoff), *flag = (int *)(work + p.flag);

  wino_weights(s->Cout, s->Cin, w, flip, U);
  if (g)
    for (int xi = 0; xi < WINO_NF; xi++) gemm_pack_a(s->Cout, s->Cin, U + xi * uplane, s->Cin, 1, Up + xi * p.pack);
  for (long g0 = 0; g0 < total; g0 += p.NC) {
    const int nc = total - g0 < p.NC ? (int)(total - g0) : p.NC;
    wino_input_chunk(s, &p, x, g0, nc, work);
    for (int xi = 0; xi < WINO_NF; xi++) {
      const float *Vx = V + xi * (size_t)s->Cin * p.ldv;
      float       *Mx = M + xi * (size_t)s->Cout * p.ldv;
      if (g) gemm_packed(g, s->Cout, nc, s->Cin, Up + xi * p.pack, Vx, GEMM_NR, (int)p.ldv, Mx, (int)p.ldv, 0);
      else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Cout, p.NC, s->Cin, 1.0f, U + xi * uplane, s->Cin, Vx,
                    (int)p.ldv, 0.0f, Mx, (int)p.ldv);
    }
    if (p.sets) wino_output_sets(s->Cout, nc, M, p.ldv, yoff, flag, b, acc, y, N, s->W);
    else wino_output_scatter(s->Cout, nc, M, p.ldv, yoff, flag, b, acc, y, N, s->W);
  }
}

/* A m for four values (A = (A^T)^T, 6 x 4): out[i os] from in[i is]. */
__attribute__((target("avx512f"))) static inline void wino_a(const __m512 *in, int is, __m512 *out, int os)
{
  const __m512 y0 = in[0], y1 = in[is], y2 = in[2 * is], y3 = in[3 * is];
  const __m512 a = _mm512_add_ps(y0, y2), b = _mm512_add_ps(y1, y3);
  const __m512 c = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), y2, y0);                                      /* y0 + 4 y2 */
  const __m512 d = _mm512_mul_ps(_mm512_set1_ps(2.0f), _mm512_fmadd_ps(_mm512_set1_ps(4.0f), y3, y1)); /* 2 y1 + 8 y3 */
  out[0]         = y0;
  out[os]        = _mm512_add_ps(a, b);
  out[2 * os]    = _mm512_sub_ps(a, b);
  out[3 * os]    = _mm512_add_ps(c, d);
  out[4 * os]    = _mm512_sub_ps(c, d);
  out[5 * os]    = y3;
}

/* dM[xi][co][l] = (A dY A^T)[xi] for the nc tiles of a chunk, dY the 4x4
 * tile of dy (zero outside the output), read like the output is written:
 * sets of 4 tiles by loads and permutations, or gathers. */
__attribute__((target("avx512f"))) static void wino_dy_transform(int Cout, int nc, int sets, const float *dy, size_t N,
                                                                 int W, const int *yoff, const int *flag, float *dM,
                                                                 size_t ldm)
{
  const size_t mplane = (size_t)Cout * ldm;
  for (int co = 0; co < Cout; co++) {
    const float *dc = dy + (size_t)co * N;
    for (int l0 = 0; l0 < nc; l0 += WINO_LANES) {
      const __mmask16 m = lane_mask(nc - l0);
      __m512          Y[16], t[24]; /* Y[4 i + j]: entry (i, j) of the 16 tiles; t[4 r + j]: A over i */
      if (sets) {
        int       dst[4], rows[4];
        __mmask16 cm[4];
        wino_sets_targets(l0, nc, yoff, flag, dst, rows, cm);
        for (int i = 0; i < 4; i++) {
          __m512 L[4];
          for (int k = 0; k < 4; k++)
            L[k] = _mm512_maskz_loadu_ps(i < rows[k] ? cm[k] : 0, dc + (i < rows[k] ? dst[k] + i * W : 0));
          wino_sets_columns(L, 0, &Y[4 * i + 0], &Y[4 * i + 1]);
          wino_sets_columns(L, 2, &Y[4 * i + 2], &Y[4 * i + 3]);
        }
      } else {
        const __m512i idx = _mm512_maskz_loadu_epi32(m, yoff + l0);
        __mmask16     mk[16];
        wino_entry_masks(m, flag + l0, mk);
        for (int q = 0; q < 16; q++)
          Y[q] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mk[q], idx, dc + (q / 4) * W + q % 4, 4);
      }
      for (int j = 0; j < 4; j++) wino_a(Y + j, 4, t + j, 4);
      for (int r = 0; r < 6; r++) {
        __m512 v[6];
        wino_a(t + 4 * r, 1, v, 1);
        for (int c = 0; c < 6; c++)
          _mm512_mask_storeu_ps(dM + (size_t)(6 * r + c) * mplane + (size_t)co * ldm + l0, m, v[c]);
      }
    }
  }
}

/* dw[co][ci] += G^T dU[co][ci] G (3x3 from 6x6); dU(xi, co, ci) =
 * dU[xi plane + co cs + ci rs]. */
static void wino_weights_grad(int Cout, int Cin, const float *dU, size_t plane, size_t cs, size_t rs, float *dw)
{
  for (int co = 0; co < Cout; co++)
    for (int ci = 0; ci < Cin; ci++) {
      float t[6][3] = {{0}}; /* t = dU G */
      for (int r = 0; r < 6; r++)
        for (int c = 0; c < 6; c++) {
          const float u = dU[(size_t)(6 * r + c) * plane + co * cs + ci * rs];
          for (int kx = 0; kx < 3; kx++) t[r][kx] += u * wino_G[c][kx];
        }
      float *d = dw + ((size_t)co * Cin + ci) * 9;
      for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++) {
          float acc = 0.0f;
          for (int r = 0; r < 6; r++) acc += wino_G[r][ky] * t[r][kx];
          d[3 * ky + kx] += acc;
        }
    }
}

/* dw += the weight gradient of y = conv(x, w) by F(4x4, 3x3). With
 * M = U V per tile and Y = A^T M A:
 *   dM[xi] = A dY A^T,   dU[xi] (Cout x Cin) = sum over tiles dM[xi] V[xi]^T,
 *   dw[co][ci] = G^T dU[co][ci] G:
 * 36 products with the tiles as the long (summed) dimension, 4x fewer
 * multiply-adds than im2col. On our kernel dU^T = V dM^T (V read as row
 * streams, dM^T in 32-column tiles); in blas-only mode cblas_sgemm. */
void bo_winograd_wgrad(const BOConvShape *s, const float *x, const float *dy, float *dw, float *work)
{
  const WinoPlan      p     = wino_plan(s);
  const BOGemmKernel *g     = bo_nn_gemm();
  const long          total = (long)s->B * p.T;
  const size_t        N = (size_t)s->B * s->H * s->W, uplane = (size_t)s->Cout * s->Cin;
  float              *dU = work + p.urow, *V = work + p.v, *dM = work + p.m, *dMt = work + p.mt;
  const int          *yoff = (int *)(work + p.yoff), *flag = (int *)(work + p.flag);

  memset(dU, 0, sizeof(float) * WINO_NF * uplane);
  for (long g0 = 0; g0 < total; g0 += p.NC) {
    const int nc = total - g0 < p.NC ? (int)(total - g0) : p.NC;
    wino_input_chunk(s, &p, x, g0, nc, work);
    wino_dy_transform(s->Cout, nc, p.sets, dy, N, s->W, yoff, flag, dM, p.ldv);
    for (int xi = 0; xi < WINO_NF; xi++) {
      const float *Vx = V + xi * (size_t)s->Cin * p.ldv, *dMx = dM + xi * (size_t)s->Cout * p.ldv;
      if (g) { /* dU^T[xi] (Cin x Cout) += V[xi] dM[xi]^T */
        tile_cols(s->Cout, nc, dMx, p.ldv, dMt);
        g->rowa(s->Cin, s->Cout, nc, Vx, p.ldv, dMt, (size_t)nc * GEMM_NR, GEMM_NR, dU + xi * uplane, s->Cout);
      } else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->Cout, s->Cin, nc, 1.0f, dMx, (int)p.ldv, Vx, (int)p.ldv,
                    1.0f, dU + xi * uplane, s->Cin);
    }
  }
  if (g) wino_weights_grad(s->Cout, s->Cin, dU, uplane, 1, (size_t)s->Cout, dw);
  else wino_weights_grad(s->Cout, s->Cin, dU, uplane, (size_t)s->Cin, 1, dw);
}

/* For the forward pass and for the data gradient of the backward pass (the
 * transposed convolution: Cin and Cout swapped). */
size_t bo_winograd_work_size(const BOConvShape *s)
{
  if (s->k != 3 || s->stride != 1) return 0;
  BOConvShape t = *s;
  t.Cin = s->Cout, t.Cout = s->Cin;
  size_t a = wino_plan(s).total, b = wino_plan(&t).total;
  return a > b ? a : b;
}
