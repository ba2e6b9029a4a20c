/* Neural-network layers for BOModel: float32 forward/backward pairs over plain
 * arrays (llm.c style). No hidden state and no allocation: the caller passes
 * every buffer, including workspaces.
 *
 * Activation layout. Image-like tensors are stored channel-major with the
 * batch folded into the spatial index, [C][B][H][W] ("CBHW"): channel c of
 * sample b starts at (c*B + b)*H*W. For one sample this is NCHW; for a batch
 * it makes every convolution ONE matrix product, weights [Cout x Cin*k*k]
 * times im2col [Cin*k*k x B*H*W], the GEMM shape OpenBLAS runs fastest, and
 * it makes channel concatenation a plain append. Vectors (the MLP) are the
 * same layout with H = W = 1. Row-major [B][n] is used only for the small
 * time-embedding tensors (linear layer).
 *
 * Gradient convention. Backward functions ACCUMULATE into parameter
 * gradients (dw += ...). For input gradients they take `accumulate`: 0 means
 * dx is overwritten, 1 means dx += ..., so a tensor read by two layers gets
 * the sum without a separate zeroing pass.
 */
#ifndef BO_NN_H
#define BO_NN_H
#include <stddef.h>

/* ---- element-wise ------------------------------------------------------- */
/* y = x * sigmoid(x); in-place allowed. */
void bo_silu_forward(size_t n, const float *x, float *y);
/* dx (+)= dy * silu'(x) */
void bo_silu_backward(size_t n, const float *x, const float *dy, float *dx, int accumulate);
/* y = log(1 + e^x), stable for all x */
void bo_softplus_forward(size_t n, const float *x, float *y);
/* dx (+)= dy * sigmoid(x) */
void bo_softplus_backward(size_t n, const float *x, const float *dy, float *dx, int accumulate);

/* ---- linear: row-major, y[B][out] = x[B][in] w[out][in]^T + b[out] -------- */
void bo_linear_forward(int B, int in, int out, const float *x, const float *w, const float *b, float *y);
/* dw[out][in] += dy^T x, db[out] += sum_b dy, dx[B][in] (+)= dy w. dx may be NULL. */
void bo_linear_backward(int B, int in, int out, const float *x, const float *w, const float *dy, float *dx, float *dw,
                        float *db, int accumulate);

/* ---- kernels ---------------------------------------------------------------
 * Which kernels this process uses, resolved once from the CPU and the
 * environment, and changed only through bo_nn_kernels_set():
 *   gemm      the products of the convolutions: our own 8 x 32 register
 *             block (AVX-512, or AVX2 + FMA), or cblas_sgemm (OpenBLAS);
 *   winograd  stride-1 3x3 convolutions by Winograd F(4x4, 3x3) (its
 *             transforms need AVX-512; the products use gemm).
 * The default is the best the CPU has. The environment can ask for less:
 * BO_NN_GEMM=blas|avx2|avx512, BO_NN_BLAS_ONLY=1 (gemm = blas),
 * BO_NN_WINOGRAD=0. With our kernels the output for one sample does not
 * depend on the other samples of the batch or on the batch size, bit for
 * bit (AVX2 and AVX-512 give the same bits); OpenBLAS's summation order can
 * depend on the width of a product. */
typedef enum { BO_GEMM_BLAS, BO_GEMM_AVX2, BO_GEMM_AVX512 } BOGemmKind;
extern const char *const BOGemmKinds[];
typedef struct {
  BOGemmKind gemm;
  int        winograd;
} BONNKernels;
BONNKernels bo_nn_kernels(void);
/* Use k; 0, or -1 (nothing changed) if the CPU cannot run it. *old (may be
 * NULL) receives the kernels used before. For tests and benchmarks. */
int bo_nn_kernels_set(BONNKernels k, BONNKernels *old);
int bo_nn_gemm_available(BOGemmKind g);
int bo_nn_winograd_available(void);
/* The older switches, built on the struct: cblas for every product (1) or
 * our best kernel (0); Winograd on or off (where available). Each returns
 * the previous setting. */
int bo_nn_set_blas_only(int blas_only);
int bo_nn_set_winograd(int on);

/* ---- 2-D convolution ----------------------------------------------------- */
/* Square kernel k (1 or 3), stride 1 or 2, padding k/2 (zeros, or periodic
 * wrap-around when periodic != 0). Output size Ho = (H - 1)/stride + 1.
 *
 * Each convolution runs one of four algorithms (bo_conv_algorithm):
 *   pointwise  1x1 stride 1: one product over all pixels (our kernel or
 *              cblas; the backward pass cblas);
 *   winograd   stride-1 3x3: F(4x4, 3x3) for the forward pass, the data
 *              gradient and the weight gradient (src/nn/winograd_avx512.c);
 *   fused      stride 1, zero padding, our kernel: the forward pass builds
 *              im2col in L1-sized blocks and multiplies them at once, never
 *              writing the matrix; the backward pass as im2col;
 *   im2col     the rest (stride 2, periodic padding, or cblas): im2col per
 *              chunk of samples, then one product per chunk. */
typedef enum { BO_CONV_POINTWISE, BO_CONV_WINOGRAD, BO_CONV_FUSED, BO_CONV_IM2COL } BOConvAlgorithm;
extern const char *const BOConvAlgorithms[];
typedef struct {
  int B, Cin, H, W, Cout, k, stride, periodic;
} BOConvShape;
/* The algorithm s takes with the kernels in use. */
BOConvAlgorithm bo_conv_algorithm(const BOConvShape *s);
int             bo_conv_out_h(const BOConvShape *s);
int             bo_conv_out_w(const BOConvShape *s);
/* Floats of workspace the conv needs, whatever the algorithm (0 for a 1x1
 * stride-1 conv). */
size_t bo_conv_col_size(const BOConvShape *s);
/* y (+)= conv(x, w) + b.  x [Cin][B][H][W], w [Cout][Cin][k][k], b [Cout]
 * (may be NULL), y [Cout][B][Ho][Wo]; col: workspace of bo_conv_col_size
 * floats. accumulate = 1 adds onto y (used to add a residual for free). */
void bo_conv_forward(const BOConvShape *s, const float *x, const float *w, const float *b, float *y, float *col,
                     int accumulate);
/* dw += ..., db += ... (db may be NULL), dx (+)= ... (dx may be NULL). */
void bo_conv_backward(const BOConvShape *s, const float *x, const float *w, const float *dy, float *dx, float *dw,
                      float *db, float *col, int accumulate);

/* ---- 3-D convolution (volumes, issue #16) --------------------------------- */
/* Volumes are [C][B][D][H][W] (x fastest; one sample is NCDHW), so the
 * layers that work on a flat spatial size (GroupNorm, channel bias, SiLU,
 * concatenation) take HW = D*H*W unchanged. Cubic kernel k (1 or 3), a
 * stride per axis (sz, sy, sx, each 1 or 2: sz = 1 with sy = sx = 2 halves
 * x and y only, for grids with Nz << Nx), zero padding k/2. Output size per
 * axis (n - 1)/stride + 1. No periodic padding. Algorithms
 * (bo_conv3d_algorithm, src/nn/conv3d.c):
 *   pointwise  1x1x1 stride 1: the 2-D pointwise convolution;
 *   planes     3x3x3 with sy = sx: the sum over kz of three 2-D 3x3
 *              convolutions (bo_conv_forward/backward, so Winograd where the
 *              2-D one takes it) of z-shifted copies of the input;
 *   vol2col    the rest: vol2col per chunk of output planes (a volume is
 *              split along z, so the buffer stays bounded), then one product
 *              per chunk on the kernels in use (bo_nn_kernels). */
typedef enum { BO_CONV3D_POINTWISE, BO_CONV3D_PLANES, BO_CONV3D_VOL2COL } BOConv3dAlgorithm;
extern const char *const BOConv3dAlgorithms[];
typedef struct {
  int B, Cin, D, H, W, Cout, k, sz, sy, sx;
} BOConv3dShape;
BOConv3dAlgorithm bo_conv3d_algorithm(const BOConv3dShape *s);
/* For tests and benchmarks: on = 1 sends every 3x3x3 convolution to vol2col
 * (returns the previous setting); the vol2col chunk target in floats (0: the
 * default, 2^18; returns the previous one). The workspace size covers both
 * algorithms, so either switch is safe between calls. */
int    bo_conv3d_set_vol2col(int on);
size_t bo_conv3d_set_col_target(size_t floats);
int    bo_conv3d_out_d(const BOConv3dShape *s);
int    bo_conv3d_out_h(const BOConv3dShape *s);
int    bo_conv3d_out_w(const BOConv3dShape *s);
/* Floats of workspace (0 for a 1x1x1 stride-1 conv). */
size_t bo_conv3d_col_size(const BOConv3dShape *s);
/* y (+)= conv(x, w) + b.  x [Cin][B][D][H][W], w [Cout][Cin][k][k][k] (kz,
 * ky, kx), b [Cout] (may be NULL), y [Cout][B][Do][Ho][Wo]; col: workspace of
 * bo_conv3d_col_size floats; accumulate = 1 adds onto y. */
void bo_conv3d_forward(const BOConv3dShape *s, const float *x, const float *w, const float *b, float *y, float *col,
                       int accumulate);
/* dw += ..., db += ... (db may be NULL), dx (+)= ... (dx may be NULL). */
void bo_conv3d_backward(const BOConv3dShape *s, const float *x, const float *w, const float *dy, float *dx, float *dw,
                        float *db, float *col, int accumulate);

/* ---- GroupNorm, optionally fused with SiLU -------------------------------- */
/* x [C][B][HW]; G groups of C/G channels, statistics per (sample, group):
 *   z = gamma_c (x - mu) rstd + beta_c,  y = silu ? silu(z) : z,
 * with rstd = 1/sqrt(var + eps). mean/rstd [B][G] are saved for backward. */
typedef struct {
  int   B, C, HW, G, silu;
  float eps;
} BOGroupNormShape;
void bo_groupnorm_forward(const BOGroupNormShape *s, const float *x, const float *gamma, const float *beta, float *y,
                          float *mean, float *rstd);
/* Uses x and the saved statistics (recomputes z); dgamma, dbeta += ...;
 * dx (+)= .... */
void bo_groupnorm_backward(const BOGroupNormShape *s, const float *x, const float *gamma, const float *beta,
                           const float *mean, const float *rstd, const float *dy, float *dx, float *dgamma,
                           float *dbeta, int accumulate);

/* ---- sinusoidal embedding of integer time indices -------------------------- */
/* e[dim] for one index k: with half = dim/2, f_j = exp(-j ln(10000)/(half-1)),
 * e[j] = sin(k f_j), e[half+j] = cos(k f_j). dim even, >= 4. (No backward:
 * k is an integer; the learnable part is the MLP after it.) */
void bo_timestep_embedding(int dim, double k, float *e);

/* ---- per-(channel, sample) bias: x[c][b][:] += bias[b][c] ------------------ */
void bo_channel_bias_forward(int B, int C, int HW, const float *bias, float *x);
/* dbias[b][c] = sum over HW of dy[c][b][:] (overwrites) */
void bo_channel_bias_backward(int B, int C, int HW, const float *dy, float *dbias);

/* ---- FiLM with SiLU: y[c][b][:] = silu(x[c][b][:] (1 + scale[b][c]) + shift[b][c]) ----
 * ss [B][2C] holds each sample's C scales, then its C shifts. */
void bo_film_silu_forward(int B, int C, int HW, const float *x, const float *ss, float *y);
/* dx = dz (1 + scale) with dz = dy silu'(z) (dx may be dy: in place);
 * dss = [sum dz x | sum dz] per sample (overwrites) */
void bo_film_silu_backward(int B, int C, int HW, const float *x, const float *ss, const float *dy, float *dx,
                           float *dss);

/* ---- nearest 2x upsampling: x [C][B][H][W] -> y [C][B][2H][2W] -------------- */
void bo_upsample2x_forward(int CB, int H, int W, const float *x, float *y);
/* dx (+)= sum of dy over each 2x2 block */
void bo_upsample2x_backward(int CB, int H, int W, const float *dy, float *dx, int accumulate);

/* ---- nearest upsampling of volumes: x [C][B][D][H][W] -> y [C][B][fz D][2H][2W],
 * fz = 1 (x and y only) or 2 ---------------------------------------------------- */
void bo_upsample3d_forward(int CB, int D, int H, int W, int fz, const float *x, float *y);
/* dx (+)= sum of dy over each fz x 2 x 2 block */
void bo_upsample3d_backward(int CB, int D, int H, int W, int fz, const float *dy, float *dx, int accumulate);

/* ---- channel concatenation: y [C1+C2][B][HW] = [a; b] ------------------------ */
void bo_concat_forward(size_t na, size_t nb, const float *a, const float *b, float *y);
void bo_concat_backward(size_t na, size_t nb, const float *dy, float *da, float *db, int acc_a, int acc_b);

/* ---- single-head self-attention over the H*W positions of each sample ------- */
/* y = x + Wo (V softmax(Q^T K / sqrt(C))^T) + bo, with [Q;K;V] = Wqkv GN(x) + bqkv.
 * x, y [C][B][HW]; wqkv [3C][C], bqkv [3C], wo [C][C], bo [C].
 * Workspace (saved for backward): see bo_attention_work_size. */
typedef struct {
  int B, C, HW, G;
} BOAttentionShape;
size_t bo_attention_work_size(const BOAttentionShape *s);
void   bo_attention_forward(const BOAttentionShape *s, const float *x, const float *gamma, const float *beta,
                            const float *wqkv, const float *bqkv, const float *wo, const float *bo, float *y,
                            float *work);
/* Gradients of all parameters (+=) and dx (+)=. scratch: bo_attention_scratch_size floats. */
size_t bo_attention_scratch_size(const BOAttentionShape *s);
void   bo_attention_backward(const BOAttentionShape *s, const float *x, const float *gamma, const float *beta,
                             const float *wqkv, const float *wo, const float *work, const float *dy, float *dx,
                             float *dgamma, float *dbeta, float *dwqkv, float *dbqkv, float *dwo, float *dbo,
                             float *scratch, int accumulate);

/* ---- residual block with per-channel time bias (docs/NETWORK.md) -----------
 *   a1 = SiLU(GN1(x)),  h1 = Conv_k(a1) + Linear(SiLU(e))[b][c],
 *   a2 = SiLU(GN2(h1)), y = Conv_k(a2) + skip(x),
 * skip = identity if Cin = Cout, else a 1x1 conv. x [Cin][B][HW],
 * y [Cout][B][HW], silu_e [B][E] = SiLU of the time embedding.
 * With film = 1 the embedding scales and shifts instead of adding a bias:
 *   h1 = Conv_k(a1), [scale; shift] = Linear(SiLU(e)) (2 Cout per sample),
 *   a2 = SiLU(GN2(h1) (1 + scale) + shift). */
typedef struct {
  int B, Cin, Cout, H, W, k, periodic, G1, G2, E, film;
} BOResBlockShape;
/* Pointers to the tensors (one struct for parameters, one for gradients).
 * skip_w/skip_b are NULL when Cin = Cout. */
typedef struct {
  float *gn1_g, *gn1_b, *conv1_w, *conv1_b, *temb_w, *temb_b, *gn2_g, *gn2_b, *conv2_w, *conv2_b, *skip_w, *skip_b;
} BOResBlockParams;
/* Saved activations: a1 [Cin][B][HW], h1 and a2 [Cout][B][HW], tb [B][Cout]
 * ([B][2 Cout] with film), mean1/rstd1 [B][G1], mean2/rstd2 [B][G2]; with
 * film also n2 = GN2(h1) [Cout][B][HW] (NULL without). */
typedef struct {
  float *a1, *h1, *a2, *tb, *mean1, *rstd1, *mean2, *rstd2, *n2;
} BOResBlockActs;
size_t bo_resblock_acts_size(const BOResBlockShape *s); /* floats, for bo_resblock_acts_set */
void   bo_resblock_acts_set(const BOResBlockShape *s, float *base, BOResBlockActs *a);
size_t bo_resblock_col_size(const BOResBlockShape *s);     /* conv workspace */
size_t bo_resblock_scratch_size(const BOResBlockShape *s); /* backward scratch */
void   bo_resblock_forward(const BOResBlockShape *s, const BOResBlockParams *p, const float *x, const float *silu_e,
                           BOResBlockActs *a, float *y, float *col);
/* grads += ...; dsilu_e [B][E] += ...; dx (+)= .... */
void bo_resblock_backward(const BOResBlockShape *s, const BOResBlockParams *p, const BOResBlockParams *g,
                          const float *x, const float *silu_e, const BOResBlockActs *a, const float *dy, float *dx,
                          float *dsilu_e, float *col, float *scratch, int accumulate);

/* ---- the residual block on volumes ------------------------------------------
 * The block above with 3-D convolutions (k x k x k, stride 1, zero padding)
 * over x [Cin][B][D][H][W]; the same parameters (conv weights [Cout][Cin][k][k][k])
 * and saved activations (HW = D*H*W). */
typedef struct {
  int B, Cin, Cout, D, H, W, k, G1, G2, E, film;
} BOResBlock3dShape;
size_t bo_resblock3d_acts_size(const BOResBlock3dShape *s);
void   bo_resblock3d_acts_set(const BOResBlock3dShape *s, float *base, BOResBlockActs *a);
size_t bo_resblock3d_col_size(const BOResBlock3dShape *s);
size_t bo_resblock3d_scratch_size(const BOResBlock3dShape *s);
void   bo_resblock3d_forward(const BOResBlock3dShape *s, const BOResBlockParams *p, const float *x, const float *silu_e,
                             BOResBlockActs *a, float *y, float *col);
void   bo_resblock3d_backward(const BOResBlock3dShape *s, const BOResBlockParams *p, const BOResBlockParams *g,
                              const float *x, const float *silu_e, const BOResBlockActs *a, const float *dy, float *dx,
                              float *dsilu_e, float *col, float *scratch, int accumulate);

#endif
