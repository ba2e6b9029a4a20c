/* 3-D convolution (include/bo_nn.h, "3-D convolution"), two algorithms
 * (bo_conv3d_algorithm); a 1x1x1 stride-1 convolution is handed to the 2-D
 * pointwise one (a volume is then just D*H*W pixels).
 *
 * planes (3x3x3 with sy = sx): the sum over the kz taps of three 2-D 3x3
 * convolutions, each on a copy of the input whose plane oz is input plane
 * oz sz + kz - 1 (zeros outside the volume), with the weights' kz slice:
 *   y[co][b][oz] = sum_kz conv2d(w[:, :, kz], xs_kz)[co][b][oz],
 *   xs_kz[ci][b][oz] = x[ci][b][oz sz + kz - 1].
 * In the [C][B][D][H][W] layout xs_kz is a 2-D batch of B Do planes, so each
 * term runs on conv.c's best 2-D algorithm (Winograd F(4x4, 3x3) on AVX-512:
 * 4x fewer multiplications than the direct sum). The adjoint: dx[.][oz sz +
 * kz - 1] += (the 2-D data gradient of term kz)[.][oz], dw[:, :, kz] += its
 * 2-D weight gradient. For sz = 1 the centre term reads x itself (no copy).
 *
 * vol2col (the rest, or when forced): the column matrix of a chunk of output
 * planes (consecutive (sample, oz) pairs; a chunk may cut a sample along z,
 * so the buffer is bounded by COL3_TARGET whatever the volume, one output
 * plane at least), then one product per chunk on the GEMM kernel in use
 * (bo_nn_gemm: our register block, or cblas_sgemm when it returns NULL), the
 * same drivers and operand layouts as the im2col path of conv.c.
 *
 * Indices. x is [Cin][B][D][H][W]: element (ci, b, iz, iy, ix) is at
 *   ((ci B + b) D + iz) H W + iy W + ix.
 * w is [Cout][Cin][k][k][k]: (co, ci, kz, ky, kx) at (((co Cin + ci) k + kz) k + ky) k + kx,
 * so row co of w, read as a [Cout x K] matrix with K = Cin k^3, has column
 * (ci k + kz) k^2 + ky k + kx. The column matrix of a chunk of nb samples
 * starting at b0 has K rows of nb Do Ho Wo columns (row stride col_ld):
 *   col[((ci k + kz) k + ky) k + kx][bb][oz][oy][ox] = x[ci][b0 + bb][iz][iy][ix],
 *   iz = oz sz + kz - p,  iy = oy sy + ky - p,  ix = ox sx + kx - p,  p = k/2,
 * and 0 where any of iz, iy, ix falls outside the volume (zero padding).
 * Then y[co][b0 + bb][:] = sum_K w[co][K] col[K][bb][:] is one product
 * W [Cout x K] . col [K x nb DHWo], written into y through its leading
 * dimension B DHWo (channels are outermost in y as in x). With chunks of
 * output planes the column index is (q - q0) HWo + oy Wo + ox for the flat
 * plane q = b Do + oz, q0 the chunk's first. */
#include <cblas.h>
#include "nnimpl.h"

int bo_conv3d_out_d(const BOConv3dShape *s) { return (s->D - 1) / s->sz + 1; }
int bo_conv3d_out_h(const BOConv3dShape *s) { return (s->H - 1) / s->sy + 1; }
int bo_conv3d_out_w(const BOConv3dShape *s) { return (s->W - 1) / s->sx + 1; }

static int c3_pointwise(const BOConv3dShape *s) { return s->k == 1 && s->sz == 1 && s->sy == 1 && s->sx == 1; }
static int c3_K(const BOConv3dShape *s) { return s->Cin * s->k * s->k * s->k; }

/* The 2-D shape that a pointwise 3-D convolution is: D*H rows of W. */
static BOConvShape c3_as_2d(const BOConv3dShape *s)
{
  BOConvShape c = {s->B, s->Cin, s->D * s->H, s->W, s->Cout, 1, 1, 0};
  return c;
}

/* Column matrix chunk size in floats, as COL_TARGET in conv.c (the chunk
 * stays in L2): whole output planes, at least one, so a large volume is
 * split along z (tests may lower the target: bo_conv3d_set_col_target). */
#define COL3_TARGET (1 << 18)
static size_t col3_target = COL3_TARGET;

size_t bo_conv3d_set_col_target(size_t floats)
{
  size_t old  = col3_target;
  col3_target = floats ? floats : COL3_TARGET;
  return old;
}

static size_t c3_out_hw(const BOConv3dShape *s) { return (size_t)bo_conv3d_out_h(s) * bo_conv3d_out_w(s); }

/* Output planes per chunk: as many as fit the target, at most all B Do. */
static int c3_chunk(const BOConv3dShape *s)
{
  size_t per_plane = (size_t)c3_K(s) * c3_out_hw(s), all = (size_t)s->B * bo_conv3d_out_d(s);
  size_t np = col3_target / (per_plane ? per_plane : 1);
  if (np < 1) np = 1;
  if (np > all) np = all;
  return (int)np;
}

/* Offsets (floats) into the workspace, as conv.c's ConvWork: the row-major
 * column chunk, the packed W (forward) or W^T (data gradient), dy in tiles
 * (data gradient: tile_rows; weight gradient: tile_cols), and dW^T. */
typedef struct {
  size_t pack, dyt, dwt, total;
} Conv3dWork;

static Conv3dWork c3_work(const BOConv3dShape *s)
{
  const int    K  = c3_K(s);
  const size_t np = (size_t)c3_chunk(s) * c3_out_hw(s), ntile = (np + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
  const size_t p1 = gemm_pack_size(s->Cout, K), p2 = gemm_pack_size(K, s->Cout);
  const size_t t1 = ntile * s->Cout, t2 = np * ((s->Cout + GEMM_NR - 1) / GEMM_NR * GEMM_NR);
  Conv3dWork   w;
  w.pack  = (size_t)K * col_ld((int)np);
  w.dyt   = w.pack + (p1 > p2 ? p1 : p2);
  w.dwt   = w.dyt + (t1 > t2 ? t1 : t2);
  w.total = w.dwt + (size_t)K * s->Cout;
  return w;
}

/* Along one axis of n inputs and no outputs: the outputs o whose input
 * i = o st + kk - pad lies in [0, n) form one range [*lo, *hi) (i grows
 * with o); the others read padding. */
static void c3_valid(int no, int st, int kk, int pad, int n, int *lo, int *hi)
{
  int a = 0, b = no;
  while (a < no && a * st + kk - pad < 0) a++;
  while (b > a && (b - 1) * st + kk - pad >= n) b--;
  *lo = a, *hi = b;
}

/* add = 0: col = vol2col(x) for the output planes q0 .. q0 + nq - 1 (flat
 * q = b Do + oz; the formula at the top). add = 1: the transpose,
 * x[...] += col[...] for every entry that reads the volume (col2vol);
 * padding entries are dropped. */
static void vol2col_chunk(const BOConv3dShape *s, int q0, int nq, float *x, float *col, int add)
{
  const int    k = s->k, pad = k / 2, D = s->D, H = s->H, W = s->W;
  const int    Do = bo_conv3d_out_d(s), Ho = bo_conv3d_out_h(s), Wo = bo_conv3d_out_w(s);
  const size_t DHW = (size_t)D * H * W, HWo = (size_t)Ho * Wo;
  const size_t plane = col_ld((int)(nq * HWo));

  for (int ci = 0; ci < s->Cin; ci++)
    for (int kz = 0; kz < k; kz++)
      for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
          float *row = col + (((size_t)(ci * k + kz) * k + ky) * k + kx) * plane;
          int    zlo, zhi, ylo, yhi, xlo, xhi;
          c3_valid(Do, s->sz, kz, pad, D, &zlo, &zhi);
          c3_valid(Ho, s->sy, ky, pad, H, &ylo, &yhi);
          c3_valid(Wo, s->sx, kx, pad, W, &xlo, &xhi);
          for (int qq = 0; qq < nq; qq++) {
            const int b = (q0 + qq) / Do, oz = (q0 + qq) % Do;
            float    *rz = row + (size_t)qq * HWo;
            if (oz < zlo || oz >= zhi) { /* the whole output plane reads padding */
              if (!add) memset(rz, 0, sizeof(float) * HWo);
              continue;
            }
            const int iz = oz * s->sz + kz - pad;
            float    *xz = x + ((size_t)ci * s->B + b) * DHW + (size_t)iz * H * W; /* plane iz of (ci, b) */
            for (int oy = 0; oy < Ho; oy++) {
              float *r = rz + (size_t)oy * Wo;
              if (oy < ylo || oy >= yhi) {
                if (!add) memset(r, 0, sizeof(float) * Wo);
                continue;
              }
              /* ix = ox sx + kx - pad for ox in [xlo, xhi): all inside row (iz, iy) */
              float *xr = xz + (size_t)(oy * s->sy + ky - pad) * W;
              if (add) {
                for (int ox = xlo; ox < xhi; ox++) xr[ox * s->sx + kx - pad] += r[ox];
              } else {
                for (int ox = 0; ox < xlo; ox++) r[ox] = 0.0f;
                for (int ox = xlo; ox < xhi; ox++) r[ox] = xr[ox * s->sx + kx - pad];
                for (int ox = xhi; ox < Wo; ox++) r[ox] = 0.0f;
              }
            }
          }
        }
}

static void vol2col_forward(const BOConv3dShape *s, const float *x, const float *w, const float *b, float *y,
                            float *col, int accumulate)
{
  const BOGemmKernel *g = bo_nn_gemm();
  const int           K = c3_K(s), nq = c3_chunk(s), Q = s->B * bo_conv3d_out_d(s);
  const size_t        HWo = c3_out_hw(s), N = (size_t)Q * HWo;
  float              *pack = col + c3_work(s).pack;

  /* start from the bias (or add it), then products that add (beta = 1) */
  for (int co = 0; co < s->Cout; co++) {
    float v = b ? b[co] : 0.0f;
    if (!accumulate || v != 0.0f) k_fill_add(N, v, y + co * N, accumulate);
  }
  if (g) gemm_pack_a(s->Cout, K, w, K, 1, pack);
  for (int q0 = 0; q0 < Q; q0 += nq) {
    const int n = Q - q0 < nq ? Q - q0 : nq, nc = (int)(n * HWo);
    vol2col_chunk(s, q0, n, (float *)x, col, 0);
    /* y[:, planes q0 .. q0 + n) += W col: columns q0 HWo .. of each row of y */
    if (g) gemm_packed(g, s->Cout, nc, K, pack, col, GEMM_NR, col_ld(nc), y + (size_t)q0 * HWo, (int)N, 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Cout, nc, K, 1.0f, w, K, col, col_ld(nc), 1.0f,
                  y + (size_t)q0 * HWo, (int)N);
  }
}

/* Per chunk of output planes: dW^T += col dy^T (the weight gradient), then
 * dcol = W^T dy and col2vol into dx (the data gradient; a chunk's entries
 * reach input planes of the neighbouring chunks, so dx is zeroed first). */
static void vol2col_backward(const BOConv3dShape *s, const float *x, const float *w, const float *dy, float *dx,
                             float *dw, float *db, float *col, int accumulate)
{
  const BOGemmKernel *g = bo_nn_gemm();
  const int           K = c3_K(s), nq = c3_chunk(s), Q = s->B * bo_conv3d_out_d(s);
  const size_t        HWo = c3_out_hw(s), N = (size_t)Q * HWo, DHW = (size_t)s->D * s->H * s->W;
  const Conv3dWork    cw    = c3_work(s);
  float              *packT = col + cw.pack, *dyt = col + cw.dyt, *dwt = col + cw.dwt;

  if (db)
    for (int co = 0; co < s->Cout; co++) db[co] += k_sum(N, dy + co * N);
  if (g) {
    if (dx) gemm_pack_a(K, s->Cout, w, 1, K, packT); /* W^T(i, j) = w[j K + i] */
    memset(dwt, 0, sizeof(float) * K * s->Cout);
  }
  if (dx && !accumulate) memset(dx, 0, sizeof(float) * s->Cin * s->B * DHW);
  for (int q0 = 0; q0 < Q; q0 += nq) {
    const int    n = Q - q0 < nq ? Q - q0 : nq, nc = (int)(n * HWo);
    const float *dyc = dy + (size_t)q0 * HWo; /* [Cout][n HWo], leading dimension N */
    vol2col_chunk(s, q0, n, (float *)x, col, 0);
    /* dW^T [K x Cout] += col [K x nc] dyc^T */
    if (g) {
      tile_cols(s->Cout, nc, dyc, N, dyt);
      g->rowa(K, s->Cout, nc, col, col_ld(nc), dyt, (size_t)nc * GEMM_NR, GEMM_NR, dwt, s->Cout);
    } else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->Cout, K, nc, 1.0f, dyc, (int)N, col, col_ld(nc), 1.0f, dw,
                  K);
    if (!dx) continue;
    /* dcol [K x nc] = W^T dyc (overwrites the column chunk) */
    if (g) {
      tile_rows(s->Cout, nc, dyc, N, dyt);
      gemm_packed(g, K, nc, s->Cout, packT, dyt, (size_t)s->Cout * GEMM_NR, GEMM_NR, col, col_ld(nc), 0);
    } else
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, nc, s->Cout, 1.0f, w, K, dyc, (int)N, 0.0f, col,
                  col_ld(nc));
    vol2col_chunk(s, q0, n, dx, col, 1); /* dcol added back to the input voxels each entry was read from */
  }
  if (g) /* dw [Cout x K] += (dW^T)^T */
    for (int co = 0; co < s->Cout; co++)
      for (int kk = 0; kk < K; kk++) dw[(size_t)co * K + kk] += dwt[(size_t)kk * s->Cout + co];
}

/* ---- planes: three 2-D convolutions of z-shifted copies --------------------------------- */

/* The 2-D convolution of one kz term: a batch of B Do planes of H x W. */
static BOConvShape c3_planes_2d(const BOConv3dShape *s)
{
  BOConvShape c = {s->B * bo_conv3d_out_d(s), s->Cin, s->H, s->W, s->Cout, 3, s->sy, 0};
  return c;
}

/* Offsets (floats, multiples of 16) of the planes workspace: xs_kz, its data
 * gradient dxs, the kz slice of w and of dw, and the 2-D convolution's own. */
typedef struct {
  size_t xs, dxs, wk, dwk, col2, total;
} PlanesWork;

static size_t up16(size_t n) { return (n + 15) / 16 * 16; }

static PlanesWork planes_work(const BOConv3dShape *s)
{
  BOConvShape  c  = c3_planes_2d(s);
  const size_t nx = up16((size_t)s->Cin * c.B * s->H * s->W), nw = up16((size_t)s->Cout * s->Cin * 9);
  PlanesWork   p;
  p.xs = 0, p.dxs = nx, p.wk = 2 * nx, p.dwk = p.wk + nw, p.col2 = p.dwk + nw;
  p.total = p.col2 + bo_conv_col_size(&c);
  return p;
}

static int conv3d_force_vol2col = 0;

int bo_conv3d_set_vol2col(int on)
{
  int old              = conv3d_force_vol2col;
  conv3d_force_vol2col = on;
  return old;
}

const char *const BOConv3dAlgorithms[] = {"pointwise", "planes", "vol2col"};

BOConv3dAlgorithm bo_conv3d_algorithm(const BOConv3dShape *s)
{
  if (c3_pointwise(s)) return BO_CONV3D_POINTWISE;
  if (s->k == 3 && s->sy == s->sx && !conv3d_force_vol2col) return BO_CONV3D_PLANES;
  return BO_CONV3D_VOL2COL;
}

/* The output planes oz of term kz whose input plane oz sz + kz - 1 lies in
 * the volume: [*lo, *hi). */
static void planes_valid(const BOConv3dShape *s, int kz, int *lo, int *hi)
{
  c3_valid(bo_conv3d_out_d(s), s->sz, kz, 1, s->D, lo, hi);
}

/* xs[ci][b][oz] = x[ci][b][oz sz + kz - 1], zero planes outside the volume. */
static void gather_planes(const BOConv3dShape *s, int kz, const float *x, float *xs)
{
  const int    Do = bo_conv3d_out_d(s);
  const size_t HW = (size_t)s->H * s->W;
  int          lo, hi;
  planes_valid(s, kz, &lo, &hi);
  for (int cb = 0; cb < s->Cin * s->B; cb++) {
    const float *xv = x + (size_t)cb * s->D * HW;
    float       *dv = xs + (size_t)cb * Do * HW;
    if (lo > 0) memset(dv, 0, sizeof(float) * lo * HW);
    for (int oz = lo; oz < hi; oz++) memcpy(dv + oz * HW, xv + (size_t)(oz * s->sz + kz - 1) * HW, sizeof(float) * HW);
    if (hi < Do) memset(dv + hi * HW, 0, sizeof(float) * (Do - hi) * HW);
  }
}

/* The adjoint of gather_planes: dx[ci][b][oz sz + kz - 1] += dxs[ci][b][oz]. */
static void scatter_add_planes(const BOConv3dShape *s, int kz, const float *dxs, float *dx)
{
  const int    Do = bo_conv3d_out_d(s);
  const size_t HW = (size_t)s->H * s->W;
  int          lo, hi;
  planes_valid(s, kz, &lo, &hi);
  for (int cb = 0; cb < s->Cin * s->B; cb++)
    for (int oz = lo; oz < hi; oz++)
      k_add(HW, dxs + ((size_t)cb * Do + oz) * HW, dx + ((size_t)cb * s->D + oz * s->sz + kz - 1) * HW);
}

/* wk[co][ci][:] = w[co][ci][kz][:] (9 taps each), and its adjoint add. */
static void gather_taps(int n, int kz, const float *w, float *wk)
{
  for (int oc = 0; oc < n; oc++) memcpy(wk + (size_t)oc * 9, w + (size_t)oc * 27 + kz * 9, sizeof(float) * 9);
}

static void add_taps(int n, int kz, const float *dwk, float *dw)
{
  for (int oc = 0; oc < n; oc++)
    for (int j = 0; j < 9; j++) dw[(size_t)oc * 27 + kz * 9 + j] += dwk[(size_t)oc * 9 + j];
}

/* The terms in the order they run: the centre first (for sz = 1 it reads x
 * and writes dx in place, and takes the bias and the accumulate flag). */
static const int planes_order[3] = {1, 0, 2};

static void planes_forward(const BOConv3dShape *s, const float *x, const float *w, const float *b, float *y, float *col,
                           int accumulate)
{
  const BOConvShape c     = c3_planes_2d(s);
  const PlanesWork  pw    = planes_work(s);
  int               first = 1;
  for (int t = 0; t < 3; t++) {
    const int kz = planes_order[t];
    int       lo, hi;
    planes_valid(s, kz, &lo, &hi);
    if (lo >= hi) continue; /* the term reads only padding */
    const float *xs = x;
    if (!(s->sz == 1 && kz == 1)) gather_planes(s, kz, x, col + pw.xs), xs = col + pw.xs;
    gather_taps(s->Cout * s->Cin, kz, w, col + pw.wk);
    bo_conv_forward(&c, xs, col + pw.wk, first ? b : NULL, y, col + pw.col2, first ? accumulate : 1);
    first = 0;
  }
  if (first) { /* no term reads the volume (cannot happen with D >= 1): y = b */
    const size_t N = (size_t)c.B * bo_conv_out_h(&c) * bo_conv_out_w(&c);
    for (int co = 0; co < s->Cout; co++) k_fill_add(N, b ? b[co] : 0.0f, y + co * N, accumulate);
  }
}

static void planes_backward(const BOConv3dShape *s, const float *x, const float *w, const float *dy, float *dx,
                            float *dw, float *db, float *col, int accumulate)
{
  const BOConvShape c  = c3_planes_2d(s);
  const PlanesWork  pw = planes_work(s);
  const int         nw = s->Cout * s->Cin;
  float            *xs = col + pw.xs, *dxs = col + pw.dxs, *wk = col + pw.wk, *dwk = col + pw.dwk;
  int               first = 1;
  /* dx: the centre term of sz = 1 writes it in place (overwrites unless
   * accumulating); otherwise it starts from zero and every term adds */
  if (dx && !accumulate && s->sz != 1) memset(dx, 0, sizeof(float) * s->Cin * s->B * s->D * s->H * s->W);
  for (int t = 0; t < 3; t++) {
    const int kz = planes_order[t], centre = s->sz == 1 && kz == 1;
    int       lo, hi;
    planes_valid(s, kz, &lo, &hi);
    if (lo >= hi) continue;
    if (!centre) gather_planes(s, kz, x, xs);
    gather_taps(nw, kz, w, wk);
    memset(dwk, 0, sizeof(float) * nw * 9);
    bo_conv_backward(&c, centre ? x : xs, wk, dy, dx ? (centre ? dx : dxs) : NULL, dwk, first ? db : NULL,
                     col + pw.col2, centre ? accumulate : 0);
    add_taps(nw, kz, dwk, dw);
    if (dx && !centre) scatter_add_planes(s, kz, dxs, dx);
    first = 0;
  }
  if (first && db) /* no term read the volume: only the bias has a gradient */
    for (int co = 0; co < s->Cout; co++)
      db[co] += k_sum((size_t)c.B * c3_out_hw(s), dy + co * (size_t)c.B * c3_out_hw(s));
}

/* ---- entry points ------------------------------------------------------------------------------- */

size_t bo_conv3d_col_size(const BOConv3dShape *s)
{
  if (c3_pointwise(s)) return 0;
  size_t v = c3_work(s).total;
  if (s->k == 3 && s->sy == s->sx) { /* room for either algorithm, so a switch needs no new plan */
    size_t p = planes_work(s).total;
    if (p > v) v = p;
  }
  return v;
}

void bo_conv3d_forward(const BOConv3dShape *s, const float *x, const float *w, const float *b, float *y, float *col,
                       int accumulate)
{
  switch (bo_conv3d_algorithm(s)) {
  case BO_CONV3D_POINTWISE: {
    BOConvShape c = c3_as_2d(s);
    bo_conv_forward(&c, x, w, b, y, col, accumulate);
  } break;
  case BO_CONV3D_PLANES: planes_forward(s, x, w, b, y, col, accumulate); break;
  default: vol2col_forward(s, x, w, b, y, col, accumulate);
  }
}

void bo_conv3d_backward(const BOConv3dShape *s, const float *x, const float *w, const float *dy, float *dx, float *dw,
                        float *db, float *col, int accumulate)
{
  switch (bo_conv3d_algorithm(s)) {
  case BO_CONV3D_POINTWISE: {
    BOConvShape c = c3_as_2d(s);
    bo_conv_backward(&c, x, w, dy, dx, dw, db, col, accumulate);
  } break;
  case BO_CONV3D_PLANES: planes_backward(s, x, w, dy, dx, dw, db, col, accumulate); break;
  default: vol2col_backward(s, x, w, dy, dx, dw, db, col, accumulate);
  }
}
