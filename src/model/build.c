/* BOModel: the parameter registry and the graph builder (the U-Net and the
 * residual MLP from one description); create, destroy, view, init. */
#include <math.h>
#include <string.h>
#include "bo_rng.h"
#include "modelimpl.h"

/* ---- parameter registry ----------------------------------------------------------- */

static PetscErrorCode add_tensor(BOModel m, const char *name, int init, double fan_in, double fan_out, float **param,
                                 float **grad, PetscInt ndim, const hsize_t *shape)
{
  BOTensor *t;

  PetscFunctionBegin;
  t = &m->tensors[m->ntensors++];
  PetscCall(PetscStrncpy(t->name, name, sizeof(t->name)));
  t->ndim = ndim, t->init = init, t->fan_in = fan_in, t->fan_out = fan_out, t->param = param, t->grad = grad;
  t->size = 1;
  for (PetscInt d = 0; d < ndim; d++) t->shape[d] = shape[d], t->size *= shape[d];
  t->offset = (size_t)m->nparams;
  m->nparams += (PetscInt)t->size;
  PetscFunctionReturn(0);
}

/* A conv weight's shape, PyTorch's [Cout][Cin][k][k] (2-D) or [Cout][Cin][k][k][k]
 * (3-D network); returns the number of axes, and k^2 or k^3 in *taps. */
static PetscInt conv_wshape(const BOModel m, int cout, int cin, int k, hsize_t *shape, double *taps)
{
  const PetscInt nd = ((Graph *)m->impl)->d3 ? 5 : 4;
  shape[0] = (hsize_t)cout, shape[1] = (hsize_t)cin, *taps = 1;
  for (PetscInt d = 2; d < nd; d++) shape[d] = (hsize_t)k, *taps *= k;
  return nd;
}

/* A convolution's weight (fan-avg init or tiny) and zero bias. */
static PetscErrorCode add_conv_tensors(BOModel m, const char *prefix, int cin, int cout, int k, int init, float **w,
                                       float **dw, float **b, float **db)
{
  char     name[64];
  hsize_t  wshape[5], bshape[1] = {(hsize_t)cout};
  double   kk;
  PetscInt nd = conv_wshape(m, cout, cin, k, wshape, &kk);

  PetscFunctionBegin;
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.weight", prefix));
  PetscCall(add_tensor(m, name, init, cin * kk, cout * kk, w, dw, nd, wshape));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.bias", prefix));
  PetscCall(add_tensor(m, name, INIT_ZERO, 0, 0, b, db, 1, bshape));
  PetscFunctionReturn(0);
}

static PetscErrorCode add_norm_tensors(BOModel m, const char *prefix, int C, float **g, float **b, float **dg,
                                       float **db)
{
  char    name[64];
  hsize_t shape[1] = {(hsize_t)C};

  PetscFunctionBegin;
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.weight", prefix));
  PetscCall(add_tensor(m, name, INIT_ONE, 0, 0, g, dg, 1, shape));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.bias", prefix));
  PetscCall(add_tensor(m, name, INIT_ZERO, 0, 0, b, db, 1, shape));
  PetscFunctionReturn(0);
}

static PetscErrorCode add_linear_tensors(BOModel m, const char *prefix, int in, int out, float **w, float **b,
                                         float **dw, float **db)
{
  char    name[64];
  hsize_t wshape[2] = {(hsize_t)out, (hsize_t)in}, bshape[1] = {(hsize_t)out};

  PetscFunctionBegin;
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.weight", prefix));
  PetscCall(add_tensor(m, name, INIT_FANAVG, in, out, w, dw, 2, wshape));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.bias", prefix));
  PetscCall(add_tensor(m, name, INIT_ZERO, 0, 0, b, db, 1, bshape));
  PetscFunctionReturn(0);
}

/* ---- graph building ------------------------------------------------------------------ */

/* A k x k conv in -> cout channels of stride 1 or 2; in a 3-D network a k x k x k conv of stride
 * (sz, stride, stride), sz = 1 or 2 (ignored in 2-D). */
static PetscErrorCode add_conv(BOModel m, const char *name, int in, int cout, int k, int stride, int sz, int init,
                               int *out)
{
  Graph *gr = (Graph *)m->impl;
  Act    a  = gr->acts[in];
  Op    *op;

  PetscFunctionBegin;
  if (!gr->d3) {
    BOConvShape s = {0, a.C, a.H, a.W, cout, k, stride, m->cfg.periodic ? 1 : 0};
    *out          = new_act(gr, cout, bo_conv_out_h(&s), bo_conv_out_w(&s));
    op            = new_op(gr, OP_CONV, in, -1, *out);
    op->L.conv.s  = s;
    ConvLayer *c  = &op->L.conv;
    PetscCall(add_conv_tensors(m, name, a.C, cout, k, init, &c->w, &c->dw, &c->b, &c->db));
  } else {
    BOConv3dShape s = {0, a.C, a.D, a.H, a.W, cout, k, sz, stride, stride};
    *out            = new_act3(gr, cout, bo_conv3d_out_d(&s), bo_conv3d_out_h(&s), bo_conv3d_out_w(&s));
    op              = new_op(gr, OP_CONV3D, in, -1, *out);
    op->L.conv3.s   = s;
    Conv3dLayer *c  = &op->L.conv3;
    PetscCall(add_conv_tensors(m, name, a.C, cout, k, init, &c->w, &c->dw, &c->b, &c->db));
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode add_attn(BOModel m, const char *prefix, int in, int *out)
{
  Graph     *gr = (Graph *)m->impl;
  Act        a  = gr->acts[in];
  Op        *op;
  AttnLayer *L;
  char       name[96];
  hsize_t    wq[5], wo[5], bq[1] = {3 * (hsize_t)a.C}, bo[1] = {(hsize_t)a.C};
  double     one;
  PetscInt   nd = conv_wshape(m, 3 * a.C, a.C, 1, wq, &one); /* 1x1 (x1) convolutions */

  PetscFunctionBegin;
  conv_wshape(m, a.C, a.C, 1, wo, &one);
  *out   = new_act3(gr, a.C, a.D, a.H, a.W);
  op     = new_op(gr, OP_ATTN, in, -1, *out);
  L      = &op->L.attn;
  L->s.C = a.C, L->s.HW = a.D * a.H * a.W, L->s.G = gn_groups(a.C); /* a volume's positions: the D*H*W voxels */
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.norm", prefix));
  PetscCall(add_norm_tensors(m, name, a.C, &L->gamma, &L->beta, &L->dgamma, &L->dbeta));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.qkv.weight", prefix));
  PetscCall(add_tensor(m, name, INIT_FANAVG, a.C, a.C, &L->wqkv, &L->dwqkv, nd, wq));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.qkv.bias", prefix));
  PetscCall(add_tensor(m, name, INIT_ZERO, 0, 0, &L->bqkv, &L->dbqkv, 1, bq));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.proj.weight", prefix));
  PetscCall(add_tensor(m, name, INIT_TINY, a.C, a.C, &L->wo, &L->dwo, nd, wo));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.proj.bias", prefix));
  PetscCall(add_tensor(m, name, INIT_ZERO, 0, 0, &L->bo, &L->dbo, 1, bo));
  PetscFunctionReturn(0);
}

/* The tensors of a residual block cin -> cout (2-D or 3-D convolutions). */
static PetscErrorCode add_res_tensors(BOModel m, const char *prefix, int cin, int cout, BOResBlockParams *p,
                                      BOResBlockParams *g)
{
  Graph *gr = (Graph *)m->impl;
  char   name[96];

  PetscFunctionBegin;
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.norm1", prefix));
  PetscCall(add_norm_tensors(m, name, cin, &p->gn1_g, &p->gn1_b, &g->gn1_g, &g->gn1_b));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.conv1", prefix));
  PetscCall(
      add_conv_tensors(m, name, cin, cout, gr->k, INIT_FANAVG, &p->conv1_w, &g->conv1_w, &p->conv1_b, &g->conv1_b));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.temb", prefix));
  PetscCall(add_linear_tensors(m, name, gr->Th, m->cfg.film ? 2 * cout : cout, &p->temb_w, &p->temb_b, &g->temb_w,
                               &g->temb_b));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.norm2", prefix));
  PetscCall(add_norm_tensors(m, name, cout, &p->gn2_g, &p->gn2_b, &g->gn2_g, &g->gn2_b));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.conv2", prefix));
  PetscCall(
      add_conv_tensors(m, name, cout, cout, gr->k, INIT_TINY, &p->conv2_w, &g->conv2_w, &p->conv2_b, &g->conv2_b));
  if (cin != cout) {
    PetscCall(PetscSNPrintf(name, sizeof(name), "%s.skip", prefix));
    PetscCall(add_conv_tensors(m, name, cin, cout, 1, INIT_FANAVG, &p->skip_w, &g->skip_w, &p->skip_b, &g->skip_b));
  }
  PetscFunctionReturn(0);
}

/* Residual block in -> cout channels, optionally followed by attention. */
static PetscErrorCode add_res(BOModel m, const char *prefix, int in, int cout, PetscBool attn, int *out)
{
  Graph *gr = (Graph *)m->impl;
  Act    a  = gr->acts[in];
  Op    *op;
  char   name[96];
  int    periodic = m->cfg.periodic ? 1 : 0, film = m->cfg.film ? 1 : 0;

  PetscFunctionBegin;
  *out = new_act3(gr, cout, a.D, a.H, a.W);
  if (!gr->d3) {
    op = new_op(gr, OP_RES, in, -1, *out);
    op->L.res.s =
        (BOResBlockShape){0, a.C, cout, a.H, a.W, gr->k, periodic, gn_groups(a.C), gn_groups(cout), gr->Th, film};
    PetscCall(add_res_tensors(m, prefix, a.C, cout, &op->L.res.p, &op->L.res.g));
  } else {
    op = new_op(gr, OP_RES3D, in, -1, *out);
    op->L.res3.s =
        (BOResBlock3dShape){0, a.C, cout, a.D, a.H, a.W, gr->k, gn_groups(a.C), gn_groups(cout), gr->Th, film};
    PetscCall(add_res_tensors(m, prefix, a.C, cout, &op->L.res3.p, &op->L.res3.g));
  }
  if (attn) {
    PetscCall(PetscSNPrintf(name, sizeof(name), "%s.attn", prefix));
    PetscCall(add_attn(m, name, *out, out));
  }
  PetscFunctionReturn(0);
}

static int add_concat(Graph *gr, int a, int b)
{
  const Act *x   = &gr->acts[a];
  int        out = new_act3(gr, x->C + gr->acts[b].C, x->D, x->H, x->W);
  new_op(gr, OP_CONCAT, a, b, out);
  return out;
}

/* Nearest x2 in y and x (and by fz = 1 or 2 in z in a 3-D network). */
static int add_upsample(Graph *gr, int in, int fz)
{
  const Act *x = &gr->acts[in];
  int        out;
  if (!gr->d3) {
    out = new_act(gr, x->C, 2 * x->H, 2 * x->W);
    new_op(gr, OP_UPSAMPLE, in, -1, out);
  } else {
    out                                        = new_act3(gr, x->C, fz * x->D, 2 * x->H, 2 * x->W);
    new_op(gr, OP_UPSAMPLE3D, in, -1, out)->fz = fz;
  }
  return out;
}

/* How level l > 0 is reached from level l - 1 in z: 2 if the downsampling
 * halves z (BOModelLevelGrid's rule), else 1; always 1 in 2-D. */
static int level_zfactor(const BOModelConfig *cfg, int l)
{
  PetscInt D0, D1, H, W;
  BOModelLevelGrid(cfg, l - 1, &D0, &H, &W);
  BOModelLevelGrid(cfg, l, &D1, &H, &W);
  return (int)(D0 / D1);
}

/* The U-Net (unet-s of docs/PERFORMANCE.md generalised to nlevels and num_res_blocks):
 *   inc conv; per level: [stride-2 conv if l > 0], nb ResBlocks (each pushed);
 *   mid ResBlock; per level reversed: nb ResBlocks on concat(h, pop),
 *   [nearest x2 + conv if l > 0]; GN, SiLU, conv to the output channels. */
PetscErrorCode bo_model_build_graph(BOModel m)
{
  Graph         *gr  = (Graph *)m->impl;
  BOModelConfig *cfg = &m->cfg;
  const int      L = (int)cfg->nlevels, nb = (int)cfg->num_res_blocks;
  int            h, stack[BO_MODEL_MAX_LEVELS * 8 + 1], nstack = 0, c = 0;
  char           name[64];
  hsize_t        lshape[2];

  PetscFunctionBegin;
  /* time MLP and label embedding */
  PetscCall(add_linear_tensors(m, "temb.linear1", gr->Td, gr->Th, &gr->l1_w, &gr->l1_b, &gr->dl1_w, &gr->dl1_b));
  PetscCall(add_linear_tensors(m, "temb.linear2", gr->Th, gr->Th, &gr->l2_w, &gr->l2_b, &gr->dl2_w, &gr->dl2_b));
  if (cfg->num_classes > 0) {
    lshape[0] = (hsize_t)cfg->num_classes + 1, lshape[1] = (hsize_t)gr->Th;
    PetscCall(add_tensor(m, "label_emb.weight", INIT_FANAVG, 1, gr->Th, &gr->lab, &gr->dlab, 2, lshape));
  }
  if (cfg->noise_latent > 0)
    PetscCall(add_linear_tensors(m, "noise_emb", (int)cfg->noise_latent, gr->Th, &gr->lz_w, &gr->lz_b, &gr->dlz_w,
                                 &gr->dlz_b));
  if (cfg->condition_total) {
    PetscCall(add_linear_tensors(m, "total_emb.linear1", 1, gr->Th, &gr->lu1_w, &gr->lu1_b, &gr->dlu1_w, &gr->dlu1_b));
    PetscCall(
        add_linear_tensors(m, "total_emb.linear2", gr->Th, gr->Th, &gr->lu2_w, &gr->lu2_b, &gr->dlu2_w, &gr->dlu2_b));
  }
  if (cfg->num_params > 0) {
    hsize_t nshape[1] = {(hsize_t)gr->Th};
    PetscCall(add_linear_tensors(m, "params_emb.linear1", (int)cfg->num_params, gr->Th, &gr->lp1_w, &gr->lp1_b,
                                 &gr->dlp1_w, &gr->dlp1_b));
    PetscCall(
        add_linear_tensors(m, "params_emb.linear2", gr->Th, gr->Th, &gr->lp2_w, &gr->lp2_b, &gr->dlp2_w, &gr->dlp2_b));
    PetscCall(add_tensor(m, "params_emb.null", INIT_ZERO, 0, 0, &gr->pnull, &gr->dpnull, 1, nshape));
  }

  h = new_act3(gr, gr->Cin, gr->D, gr->H, gr->W); /* 0: the scaled input */
  PetscCall(add_conv(m, "inc", h, (int)(cfg->base_channels * cfg->ch_mult[0]), gr->k, 1, 1, INIT_FANAVG, &h));
  for (int l = 0; l < L; l++) {
    if (l > 0) {
      PetscCall(PetscSNPrintf(name, sizeof(name), "down%d.downsample", l));
      PetscCall(add_conv(m, name, h, gr->acts[h].C, 3, 2, level_zfactor(cfg, l), INIT_FANAVG, &h));
    }
    c = (int)(cfg->base_channels * cfg->ch_mult[l]);
    for (int i = 0; i < nb; i++) {
      PetscCall(PetscSNPrintf(name, sizeof(name), "down%d.res%d", l, i));
      PetscCall(add_res(m, name, h, c, cfg->attn[l] ? PETSC_TRUE : PETSC_FALSE, &h));
      stack[nstack++] = h;
    }
  }
  PetscCall(add_res(m, "mid.res", h, c, cfg->attn[L - 1] ? PETSC_TRUE : PETSC_FALSE, &h));
  for (int l = L - 1; l >= 0; l--) {
    c = (int)(cfg->base_channels * cfg->ch_mult[l]);
    for (int i = 0; i < nb; i++) {
      h = add_concat(gr, h, stack[--nstack]);
      PetscCall(PetscSNPrintf(name, sizeof(name), "up%d.res%d", l, i));
      PetscCall(add_res(m, name, h, c, cfg->attn[l] ? PETSC_TRUE : PETSC_FALSE, &h));
    }
    if (l > 0) {
      h = add_upsample(gr, h, level_zfactor(cfg, l));
      PetscCall(PetscSNPrintf(name, sizeof(name), "up%d.upsample_conv", l));
      PetscCall(add_conv(m, name, h, c, 3, 1, 1, INIT_FANAVG, &h));
    }
  }
  {
    int out      = new_act3(gr, gr->acts[h].C, gr->D, gr->H, gr->W);
    Op *op       = new_op(gr, OP_GNSILU, h, -1, out);
    op->L.norm.s = (BOGroupNormShape){0, gr->acts[h].C, gr->D * gr->H * gr->W, gn_groups(gr->acts[h].C), 1, 1e-6f};
    PetscCall(add_norm_tensors(m, "out.norm", gr->acts[h].C, &op->L.norm.gamma, &op->L.norm.beta, &op->L.norm.dgamma,
                               &op->L.norm.dbeta));
    PetscCall(add_conv(m, "out.conv", out, gr->Cout, gr->k, 1, 1, INIT_TINY, &h));
  }
  PetscFunctionReturn(0);
}

/* ---- create / destroy / view ------------------------------------------------------- */

PetscErrorCode BOModelCreate(MPI_Comm comm, const BOModelConfig *cfg, BOModel *mout)
{
  BOModel m;
  Graph  *gr;
  int     maxops;

  PetscFunctionBegin;
  PetscCall(bo_model_config_check(cfg));
  PetscCall(PetscNew(&m));
  PetscCall(PetscNew(&gr));
  m->comm = comm, m->cfg = *cfg, m->impl = gr;
  if (cfg->kind == BO_MODEL_UNET) {
    bo_model_padded_grid(cfg, &gr->H, &gr->W);
    gr->D = (int)cfg->Nz, gr->d3 = cfg->Nz > 1;
    gr->Cin = (int)(cfg->C + cfg->noise_channels + cfg->num_inputs), gr->Cout = (int)cfg->C, gr->k = 3;
    m->dim = cfg->Nz * cfg->Ny * cfg->Nx * cfg->C;
  } else {
    gr->D = gr->H = gr->W = 1, gr->Cin = (int)(cfg->G + cfg->noise_channels), gr->Cout = (int)cfg->G, gr->k = 1;
    m->dim = cfg->G;
  }
  gr->Td = (int)cfg->temb_dim, gr->Th = (int)cfg->temb_hidden;
  maxops     = 8 + 4 * (int)cfg->nlevels * ((int)cfg->num_res_blocks * 2 + 3);
  gr->maxops = maxops, gr->maxacts = maxops + 1;
  PetscCall(PetscCalloc1(gr->maxops, &gr->ops));
  PetscCall(PetscCalloc1(gr->maxacts, &gr->acts));
  PetscCall(PetscCalloc1(16 * maxops + 8, &m->tensors));
  PetscCall(bo_model_build_graph(m));
  PetscCheck(gr->nops <= gr->maxops, PETSC_COMM_SELF, PETSC_ERR_PLIB, "model: op table overflow");

  /* one buffer for all parameters, one for all gradients; point the layers into them */
  PetscCall(PetscCalloc1(m->nparams, &m->params));
  PetscCall(PetscCalloc1(m->nparams, &m->grads));
  for (PetscInt i = 0; i < m->ntensors; i++) {
    *m->tensors[i].param = m->params + m->tensors[i].offset;
    *m->tensors[i].grad  = m->grads + m->tensors[i].offset;
  }
  *mout = m;
  PetscFunctionReturn(0);
}

PetscErrorCode BOModelDestroy(BOModel *m)
{
  PetscFunctionBegin;
  if (!*m) PetscFunctionReturn(0);
  Graph *gr = (Graph *)(*m)->impl;
  PetscCall(bo_model_free_workspaces(gr));
  PetscCall(PetscFree(gr->ops));
  PetscCall(PetscFree(gr->acts));
  PetscCall(PetscFree(gr));
  PetscCall(PetscFree((*m)->tensors));
  PetscCall(PetscFree((*m)->params));
  PetscCall(PetscFree((*m)->grads));
  PetscCall(PetscFree(*m));
  PetscFunctionReturn(0);
}

PetscErrorCode BOModelView(BOModel m, PetscViewer viewer)
{
  Graph         *gr  = (Graph *)m->impl;
  BOModelConfig *cfg = &m->cfg;

  PetscFunctionBegin;
  if (!viewer) PetscCall(PetscViewerASCIIGetStdout(m->comm, &viewer));
  PetscCall(PetscViewerASCIIPrintf(viewer,
                                   "BOModel '%s' (%s): %" PetscInt_FMT " parameters in %" PetscInt_FMT " tensors\n",
                                   cfg->name, BOModelKinds[cfg->kind], m->nparams, m->ntensors));
  PetscCall(PetscViewerASCIIPushTab(viewer));
  if (cfg->kind == BO_MODEL_UNET) {
    char   ch[256] = "";
    size_t len     = 0;
    for (PetscInt l = 0; l < cfg->nlevels; l++) {
      PetscCall(PetscSNPrintf(ch + len, sizeof(ch) - len, " %" PetscInt_FMT "%s", cfg->base_channels * cfg->ch_mult[l],
                              cfg->attn[l] ? "+attn" : ""));
      PetscCall(PetscStrlen(ch, &len));
    }
    if (gr->d3) {
      char zs[128] = "";
      for (PetscInt l = 0; l < cfg->nlevels; l++) {
        PetscInt D, H, W;
        BOModelLevelGrid(cfg, l, &D, &H, &W);
        PetscCall(PetscStrlen(zs, &len));
        PetscCall(
            PetscSNPrintf(zs + len, sizeof(zs) - len, " %" PetscInt_FMT "x%" PetscInt_FMT "x%" PetscInt_FMT, D, H, W));
      }
      PetscCall(PetscViewerASCIIPrintf(viewer,
                                       "3-D input %" PetscInt_FMT "x%" PetscInt_FMT "x%" PetscInt_FMT "x%" PetscInt_FMT
                                       ", levels on%s, channels%s, %" PetscInt_FMT " res block(s) per level\n",
                                       cfg->Nz, cfg->Ny, cfg->Nx, cfg->C, zs, ch, cfg->num_res_blocks));
    } else
      PetscCall(PetscViewerASCIIPrintf(viewer,
                                       "input %" PetscInt_FMT "x%" PetscInt_FMT "x%" PetscInt_FMT
                                       " (runs on %dx%d)%s, %" PetscInt_FMT " levels, channels%s, %" PetscInt_FMT
                                       " res block(s) per level\n",
                                       cfg->Ny, cfg->Nx, cfg->C, gr->H, gr->W, cfg->periodic ? ", periodic" : "",
                                       cfg->nlevels, ch, cfg->num_res_blocks));
  } else
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "input vector of %" PetscInt_FMT ", hidden %" PetscInt_FMT ", %" PetscInt_FMT
                                     " res block(s) each way\n",
                                     cfg->G, cfg->base_channels, cfg->num_res_blocks));
  if (cfg->input == BO_INPUT_LOG1P)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "time embedding %" PetscInt_FMT " -> %" PetscInt_FMT ", classes %" PetscInt_FMT
                                     ", input scaling log(1 + n)\n",
                                     cfg->temb_dim, cfg->temb_hidden, cfg->num_classes));
  else
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "time embedding %" PetscInt_FMT " -> %" PetscInt_FMT ", classes %" PetscInt_FMT
                                     ", input scaling (n - N/2 p)/(N/2) with N = %g\n",
                                     cfg->temb_dim, cfg->temb_hidden, cfg->num_classes, cfg->max_count));
  if (cfg->film)
    PetscCall(PetscViewerASCIIPrintf(viewer, "FiLM: the embedding scales and shifts each block's second GroupNorm\n"));
  if (cfg->noise_channels > 0 || cfg->noise_latent > 0)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "distributional: %" PetscInt_FMT
                                     " noise channel(s) per cell and a noise vector of %" PetscInt_FMT
                                     " in, a sample of n0 - n_t out\n",
                                     cfg->noise_channels, cfg->noise_latent));
  if (cfg->condition_total)
    PetscCall(PetscViewerASCIIPrintf(viewer, "conditioned on each member's total (log(1 + total): mean %g, sd %g)\n",
                                     cfg->total_mean, cfg->total_sd));
  if (cfg->num_params > 0)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "conditioned on %" PetscInt_FMT " parameter(s) %s (standardised, into the time "
                                     "embedding)\n",
                                     cfg->num_params, cfg->param_names));
  if (cfg->num_inputs > 0)
    PetscCall(
        PetscViewerASCIIPrintf(viewer, "conditioned on %" PetscInt_FMT " input field channel(s)\n", cfg->num_inputs));
  PetscCall(PetscViewerASCIIPopTab(viewer));
  PetscFunctionReturn(0);
}

/* ---- init ---------------------------------------------------------------------------------- */

PetscErrorCode BOModelInitParams(BOModel m, uint64_t seed)
{
  PetscFunctionBegin;
  for (PetscInt i = 0; i < m->ntensors; i++) {
    BOTensor *t = &m->tensors[i];
    float    *p = m->params + t->offset;
    BORng     rng;
    /* DDPM "fan_avg uniform": U(-a, a), a = sqrt(3 scale / ((fan_in + fan_out)/2)) */
    double scale = t->init == INIT_TINY ? 1e-10 : 1.0, a = sqrt(3.0 * scale / (0.5 * (t->fan_in + t->fan_out)));
    BORngInit(&rng, seed, BO_RNG_INIT, (uint32_t)i, 0);
    for (size_t j = 0; j < t->size; j++) {
      switch (t->init) {
      case INIT_ZERO: p[j] = 0.0f; break;
      case INIT_ONE: p[j] = 1.0f; break;
      default: p[j] = (float)(a * (2.0 * BORngUniform(&rng) - 1.0));
      }
    }
  }
  PetscFunctionReturn(0);
}
