/* The residual block on volumes (include/bo_nn.h, "3-D residual block"):
 * resblock.c's block with the 3-D convolution. GroupNorm, the time bias (or
 * FiLM) and the saved activations only see the D*H*W voxels as one flat
 * spatial index, so their sizes and layout are those of the 2-D block with
 * H*W replaced by D*H*W (flat() below), and the block's middle is the 2-D
 * block's own (bo_resblock_mid_forward). */
#include "nnimpl.h"

static BOConv3dShape rb3_conv(const BOResBlock3dShape *s, int cin, int cout, int k)
{
  BOConv3dShape c = {s->B, cin, s->D, s->H, s->W, cout, k, 1, 1, 1};
  return c;
}

/* The 2-D block of the same flat size: D*H rows of W (zero padding). */
static BOResBlockShape flat(const BOResBlock3dShape *s)
{
  BOResBlockShape f = {s->B, s->Cin, s->Cout, s->D * s->H, s->W, s->k, 0, s->G1, s->G2, s->E, s->film};
  return f;
}

size_t bo_resblock3d_acts_size(const BOResBlock3dShape *s)
{
  BOResBlockShape f = flat(s);
  return bo_resblock_acts_size(&f);
}

void bo_resblock3d_acts_set(const BOResBlock3dShape *s, float *base, BOResBlockActs *a)
{
  BOResBlockShape f = flat(s);
  bo_resblock_acts_set(&f, base, a);
}

size_t bo_resblock3d_col_size(const BOResBlock3dShape *s)
{
  BOConv3dShape c1 = rb3_conv(s, s->Cin, s->Cout, s->k), c2 = rb3_conv(s, s->Cout, s->Cout, s->k),
                cs = rb3_conv(s, s->Cin, s->Cout, 1);
  size_t n1 = bo_conv3d_col_size(&c1), n2 = bo_conv3d_col_size(&c2), ns = bo_conv3d_col_size(&cs);
  size_t n = n1 > n2 ? n1 : n2;
  return n > ns ? n : ns;
}

size_t bo_resblock3d_scratch_size(const BOResBlock3dShape *s)
{
  BOResBlockShape f = flat(s);
  return bo_resblock_scratch_size(&f);
}

void bo_resblock3d_forward(const BOResBlock3dShape *s, const BOResBlockParams *p, const float *x, const float *silu_e,
                           BOResBlockActs *a, float *y, float *col)
{
  const int        V  = s->D * s->H * s->W;
  BOGroupNormShape g1 = {s->B, s->Cin, V, s->G1, 1, 1e-6f};
  BOConv3dShape    c1 = rb3_conv(s, s->Cin, s->Cout, s->k), c2 = rb3_conv(s, s->Cout, s->Cout, s->k);
  BOResBlockShape  f = flat(s);

  bo_groupnorm_forward(&g1, x, p->gn1_g, p->gn1_b, a->a1, a->mean1, a->rstd1);
  bo_conv3d_forward(&c1, a->a1, p->conv1_w, p->conv1_b, a->h1, col, 0);
  bo_resblock_mid_forward(&f, p, silu_e, a);
  if (p->skip_w) {
    BOConv3dShape cs = rb3_conv(s, s->Cin, s->Cout, 1);
    bo_conv3d_forward(&cs, x, p->skip_w, p->skip_b, y, col, 0);
  } else memcpy(y, x, sizeof(float) * s->Cout * (size_t)s->B * V);
  bo_conv3d_forward(&c2, a->a2, p->conv2_w, p->conv2_b, y, col, 1); /* y = skip + conv2(a2) */
}

void bo_resblock3d_backward(const BOResBlock3dShape *s, const BOResBlockParams *p, const BOResBlockParams *g,
                            const float *x, const float *silu_e, const BOResBlockActs *a, const float *dy, float *dx,
                            float *dsilu_e, float *col, float *scratch, int accumulate)
{
  const int        V = s->D * s->H * s->W;
  const size_t     N = (size_t)s->B * V, cmax = s->Cin > s->Cout ? s->Cin : s->Cout;
  BOGroupNormShape g1 = {s->B, s->Cin, V, s->G1, 1, 1e-6f};
  BOConv3dShape    c1 = rb3_conv(s, s->Cin, s->Cout, s->k), c2 = rb3_conv(s, s->Cout, s->Cout, s->k);
  BOResBlockShape  f  = flat(s);
  float           *da = scratch, *dh1 = da + cmax * N, *dtb = dh1 + s->Cout * N;

  /* skip path first: it initialises dx (or adds to it) */
  if (p->skip_w) {
    BOConv3dShape cs = rb3_conv(s, s->Cin, s->Cout, 1);
    bo_conv3d_backward(&cs, x, p->skip_w, dy, dx, g->skip_w, g->skip_b, col, accumulate);
  } else copy_or_add((size_t)s->Cout * N, dy, dx, accumulate);
  bo_conv3d_backward(&c2, a->a2, p->conv2_w, dy, da, g->conv2_w, g->conv2_b, col, 0);
  bo_resblock_mid_backward(&f, p, g, silu_e, a, da, dh1, dtb, dsilu_e);
  bo_conv3d_backward(&c1, a->a1, p->conv1_w, dh1, da, g->conv1_w, g->conv1_b, col, 0);
  bo_groupnorm_backward(&g1, x, p->gn1_g, p->gn1_b, a->mean1, a->rstd1, da, dx, g->gn1_g, g->gn1_b, 1);
}
