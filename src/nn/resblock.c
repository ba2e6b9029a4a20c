/* The residual block with a per-channel time bias or FiLM (include/bo_nn.h). */
#include "nnimpl.h"

static BOConvShape rb_conv(const BOResBlockShape *s, int cin, int cout, int k)
{
  BOConvShape c = {s->B, cin, s->H, s->W, cout, k, 1, s->periodic};
  return c;
}

/* floats of tb: Cout per sample, or a scale and a shift per channel with FiLM */
static size_t tb_size(const BOResBlockShape *s) { return (size_t)s->B * s->Cout * (s->film ? 2 : 1); }

size_t bo_resblock_acts_size(const BOResBlockShape *s)
{
  size_t N = (size_t)s->B * s->H * s->W;
  return (size_t)s->Cin * N + (2 + (s->film ? 1 : 0)) * (size_t)s->Cout * N + tb_size(s) +
         2 * (size_t)s->B * (s->G1 + s->G2);
}

void bo_resblock_acts_set(const BOResBlockShape *s, float *base, BOResBlockActs *a)
{
  size_t N = (size_t)s->B * s->H * s->W;
  a->a1    = base;
  a->h1    = a->a1 + s->Cin * N;
  a->a2    = a->h1 + s->Cout * N;
  a->tb    = a->a2 + s->Cout * N;
  a->mean1 = a->tb + tb_size(s);
  a->rstd1 = a->mean1 + s->B * s->G1;
  a->mean2 = a->rstd1 + s->B * s->G1;
  a->rstd2 = a->mean2 + s->B * s->G2;
  a->n2    = s->film ? a->rstd2 + s->B * s->G2 : NULL;
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
  return cmax * N + (size_t)s->Cout * N + tb_size(s);
}

/* The middle of the block, from h1 = Conv_k(a1) to a2, on the flat spatial
 * index (the 3-D block shares it): the time embedding's bias, or its FiLM. */
void bo_resblock_mid_forward(const BOResBlockShape *s, const BOResBlockParams *p, const float *silu_e,
                             BOResBlockActs *a)
{
  const int        HW = s->H * s->W, nt = s->Cout * (s->film ? 2 : 1);
  BOGroupNormShape g2 = {s->B, s->Cout, HW, s->G2, !s->film, 1e-6f};

  bo_linear_forward(s->B, s->E, nt, silu_e, p->temb_w, p->temb_b, a->tb);
  if (s->film) {
    bo_groupnorm_forward(&g2, a->h1, p->gn2_g, p->gn2_b, a->n2, a->mean2, a->rstd2);
    bo_film_silu_forward(s->B, s->Cout, HW, a->n2, a->tb, a->a2);
  } else {
    bo_channel_bias_forward(s->B, s->Cout, HW, a->tb, a->h1);
    bo_groupnorm_forward(&g2, a->h1, p->gn2_g, p->gn2_b, a->a2, a->mean2, a->rstd2);
  }
}

/* da: the gradient of a2 (overwritten with FiLM); dh1 = the gradient of h1;
 * dtb: tb_size floats of scratch; dsilu_e += .... */
void bo_resblock_mid_backward(const BOResBlockShape *s, const BOResBlockParams *p, const BOResBlockParams *g,
                              const float *silu_e, const BOResBlockActs *a, float *da, float *dh1, float *dtb,
                              float *dsilu_e)
{
  const int        HW = s->H * s->W, nt = s->Cout * (s->film ? 2 : 1);
  BOGroupNormShape g2 = {s->B, s->Cout, HW, s->G2, !s->film, 1e-6f};

  if (s->film) bo_film_silu_backward(s->B, s->Cout, HW, a->n2, a->tb, da, da, dtb); /* da becomes dn2 */
  bo_groupnorm_backward(&g2, a->h1, p->gn2_g, p->gn2_b, a->mean2, a->rstd2, da, dh1, g->gn2_g, g->gn2_b, 0);
  if (!s->film) bo_channel_bias_backward(s->B, s->Cout, HW, dh1, dtb);
  bo_linear_backward(s->B, s->E, nt, silu_e, p->temb_w, dtb, dsilu_e, g->temb_w, g->temb_b, 1);
}

void bo_resblock_forward(const BOResBlockShape *s, const BOResBlockParams *p, const float *x, const float *silu_e,
                         BOResBlockActs *a, float *y, float *col)
{
  const int        HW = s->H * s->W;
  BOGroupNormShape g1 = {s->B, s->Cin, HW, s->G1, 1, 1e-6f};
  BOConvShape      c1 = rb_conv(s, s->Cin, s->Cout, s->k), c2 = rb_conv(s, s->Cout, s->Cout, s->k);

  bo_groupnorm_forward(&g1, x, p->gn1_g, p->gn1_b, a->a1, a->mean1, a->rstd1);
  bo_conv_forward(&c1, a->a1, p->conv1_w, p->conv1_b, a->h1, col, 0);
  bo_resblock_mid_forward(s, p, silu_e, a);
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
  const size_t     N = (size_t)s->B * HW, cmax = s->Cin > s->Cout ? s->Cin : s->Cout;
  BOGroupNormShape g1 = {s->B, s->Cin, HW, s->G1, 1, 1e-6f};
  BOConvShape      c1 = rb_conv(s, s->Cin, s->Cout, s->k), c2 = rb_conv(s, s->Cout, s->Cout, s->k);
  float           *da = scratch, *dh1 = da + cmax * N, *dtb = dh1 + s->Cout * N;

  /* skip path first: it initialises dx (or adds to it) */
  if (p->skip_w) {
    BOConvShape cs = rb_conv(s, s->Cin, s->Cout, 1);
    bo_conv_backward(&cs, x, p->skip_w, dy, dx, g->skip_w, g->skip_b, NULL, accumulate);
  } else copy_or_add((size_t)s->Cout * N, dy, dx, accumulate);
  bo_conv_backward(&c2, a->a2, p->conv2_w, dy, da, g->conv2_w, g->conv2_b, col, 0);
  bo_resblock_mid_backward(s, p, g, silu_e, a, da, dh1, dtb, dsilu_e);
  bo_conv_backward(&c1, a->a1, p->conv1_w, dh1, da, g->conv1_w, g->conv1_b, col, 0);
  bo_groupnorm_backward(&g1, x, p->gn1_g, p->gn1_b, a->mean1, a->rstd1, da, dx, g->gn1_g, g->gn1_b, 1);
}
