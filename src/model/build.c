/* BOModel: configurations, the graph (a list of layer operations over named
 * activations), parameter registry and init, forward/backward, HDF5 I/O.
 *
 * The network is built once in BOModelCreate as a list of Ops. Each Op reads
 * one or two activations and writes one; every activation has a value and a
 * gradient buffer of C*B*H*W floats ([C][B][H][W], see bo_nn.h). Forward runs
 * the list in order; backward in reverse, and an Op overwrites an input
 * gradient if it is the first (in reverse order) to touch it, else adds,
 * so no zeroing pass is needed. Workspaces are sized for the largest batch
 * seen and reused. */
#include <math.h>
#include <string.h>
#include "bo_model.h"
#include "bo_h5.h"
#include "bo_rng.h"
#include "bo_sys.h"

const char *const BOModelKinds[]  = {"unet", "mlp", "BOModelKind", "BO_MODEL_", NULL};
const char *const BOModelInputs[] = {"linear", "log1p", "BOModelInput", "BO_INPUT_", NULL};

/* ---- graph ------------------------------------------------------------------------ */

typedef enum { OP_CONV, OP_RES, OP_ATTN, OP_CONCAT, OP_UPSAMPLE, OP_GNSILU } OpType;

typedef struct {
  BOConvShape s;
  float      *w, *b, *dw, *db;
} ConvLayer;

typedef struct {
  BOResBlockShape  s;
  BOResBlockParams p, g;
  BOResBlockActs   a;
  float           *acts; /* storage behind a */
} ResLayer;

typedef struct {
  BOAttentionShape s;
  float           *gamma, *beta, *wqkv, *bqkv, *wo, *bo;
  float           *dgamma, *dbeta, *dwqkv, *dbqkv, *dwo, *dbo;
  float           *work;
} AttnLayer;

typedef struct {
  BOGroupNormShape s;
  float           *gamma, *beta, *dgamma, *dbeta, *mean, *rstd;
} NormLayer;

typedef struct {
  OpType type;
  int    in0, in1, out; /* activation indices (in1 only for concat) */
  int    acc0, acc1;    /* backward: add into the input gradient (1) or overwrite (0) */
  int    view;          /* concat whose inputs live in its output (nothing to copy) */
  union {
    ConvLayer conv;
    ResLayer  res;
    AttnLayer attn;
    NormLayer norm;
  } L;
} Op;

typedef struct {
  int    C, H, W;
  int    view; /* the values and gradient are part of a concat's output */
  float *v, *g;
} Act;

enum { INIT_FANAVG, INIT_TINY, INIT_ZERO, INIT_ONE };

typedef struct {
  int   nops, maxops, nacts, maxacts;
  Op   *ops;
  Act  *acts;
  int   H, W;      /* grid the network runs on (padded if needed) */
  int   Cio;       /* channels of input and output */
  int   k;         /* 3 (unet) or 1 (mlp) */
  /* time MLP: emb [B][Td] -> t1 = L1(emb) -> t1s = silu -> e = L2(t1s) (+ label) -> se = silu(e) */
  int   Td, Th;
  float *l1_w, *l1_b, *l2_w, *l2_b, *lab, *dl1_w, *dl1_b, *dl2_w, *dl2_b, *dlab;
  /* workspaces, sized for Bcap samples */
  int    Bcap, B, have_grads; /* gradient buffers exist (made by the first backward) */
  float *emb, *t1, *t1s, *e, *se, *dse, *de, *dt1s, *dt1;
  float *col, *scratch;
  size_t col_size, scratch_size, bytes;
  int   *labels;
} Graph;

static int gn_groups(int C)
{
  for (int g = 8; g > 1; g--)
    if (C % g == 0) return g;
  return 1;
}

static int new_act(Graph *gr, int C, int H, int W)
{
  Act *a = &gr->acts[gr->nacts];
  a->C = C, a->H = H, a->W = W, a->view = 0, a->v = a->g = NULL;
  return gr->nacts++;
}

static Op *new_op(Graph *gr, OpType type, int in0, int in1, int out)
{
  Op *op = &gr->ops[gr->nops++];
  memset(op, 0, sizeof(*op));
  op->type = type, op->in0 = in0, op->in1 = in1, op->out = out;
  return op;
}

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

static PetscErrorCode add_conv_tensors(BOModel m, const char *prefix, ConvLayer *c, int init)
{
  char    name[64];
  hsize_t wshape[4] = {(hsize_t)c->s.Cout, (hsize_t)c->s.Cin, (hsize_t)c->s.k, (hsize_t)c->s.k},
          bshape[1] = {(hsize_t)c->s.Cout};
  double  kk = c->s.k * c->s.k;

  PetscFunctionBegin;
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.weight", prefix));
  PetscCall(add_tensor(m, name, init, c->s.Cin * kk, c->s.Cout * kk, &c->w, &c->dw, 4, wshape));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.bias", prefix));
  PetscCall(add_tensor(m, name, INIT_ZERO, 0, 0, &c->b, &c->db, 1, bshape));
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

static PetscErrorCode add_conv(BOModel m, const char *name, int in, int cout, int k, int stride, int init, int *out)
{
  Graph *gr = (Graph *)m->impl;
  Act    a  = gr->acts[in];
  Op    *op;

  PetscFunctionBegin;
  BOConvShape s = {0, a.C, a.H, a.W, cout, k, stride, m->cfg.periodic ? 1 : 0};
  *out          = new_act(gr, cout, bo_conv_out_h(&s), bo_conv_out_w(&s));
  op            = new_op(gr, OP_CONV, in, -1, *out);
  op->L.conv.s  = s;
  PetscCall(add_conv_tensors(m, name, &op->L.conv, init));
  PetscFunctionReturn(0);
}

static PetscErrorCode add_attn(BOModel m, const char *prefix, int in, int *out)
{
  Graph     *gr = (Graph *)m->impl;
  Act        a  = gr->acts[in];
  Op        *op;
  AttnLayer *L;
  char       name[96];
  hsize_t    wq[4] = {3 * (hsize_t)a.C, (hsize_t)a.C, 1, 1}, bq[1] = {3 * (hsize_t)a.C}, wo[4] = {(hsize_t)a.C, (hsize_t)a.C, 1, 1},
          bo[1] = {(hsize_t)a.C};

  PetscFunctionBegin;
  *out    = new_act(gr, a.C, a.H, a.W);
  op      = new_op(gr, OP_ATTN, in, -1, *out);
  L       = &op->L.attn;
  L->s.C  = a.C, L->s.HW = a.H * a.W, L->s.G = gn_groups(a.C);
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.norm", prefix));
  PetscCall(add_norm_tensors(m, name, a.C, &L->gamma, &L->beta, &L->dgamma, &L->dbeta));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.qkv.weight", prefix));
  PetscCall(add_tensor(m, name, INIT_FANAVG, a.C, a.C, &L->wqkv, &L->dwqkv, 4, wq));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.qkv.bias", prefix));
  PetscCall(add_tensor(m, name, INIT_ZERO, 0, 0, &L->bqkv, &L->dbqkv, 1, bq));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.proj.weight", prefix));
  PetscCall(add_tensor(m, name, INIT_TINY, a.C, a.C, &L->wo, &L->dwo, 4, wo));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.proj.bias", prefix));
  PetscCall(add_tensor(m, name, INIT_ZERO, 0, 0, &L->bo, &L->dbo, 1, bo));
  PetscFunctionReturn(0);
}

/* Residual block in -> cout channels, optionally followed by attention. */
static PetscErrorCode add_res(BOModel m, const char *prefix, int in, int cout, PetscBool attn, int *out)
{
  Graph    *gr = (Graph *)m->impl;
  Act       a  = gr->acts[in];
  Op       *op;
  ResLayer *R;
  char      name[96];

  PetscFunctionBegin;
  *out = new_act(gr, cout, a.H, a.W);
  op   = new_op(gr, OP_RES, in, -1, *out);
  R    = &op->L.res;
  BOResBlockShape s = {0, a.C, cout, a.H, a.W, gr->k, m->cfg.periodic ? 1 : 0, gn_groups(a.C), gn_groups(cout), gr->Th};
  R->s              = s;
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.norm1", prefix));
  PetscCall(add_norm_tensors(m, name, a.C, &R->p.gn1_g, &R->p.gn1_b, &R->g.gn1_g, &R->g.gn1_b));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.conv1.weight", prefix));
  PetscCall(add_tensor(m, name, INIT_FANAVG, a.C * gr->k * gr->k, cout * gr->k * gr->k, &R->p.conv1_w, &R->g.conv1_w, 4,
                       (hsize_t[]){(hsize_t)cout, (hsize_t)a.C, (hsize_t)gr->k, (hsize_t)gr->k}));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.conv1.bias", prefix));
  PetscCall(add_tensor(m, name, INIT_ZERO, 0, 0, &R->p.conv1_b, &R->g.conv1_b, 1, (hsize_t[]){(hsize_t)cout}));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.temb", prefix));
  PetscCall(add_linear_tensors(m, name, gr->Th, cout, &R->p.temb_w, &R->p.temb_b, &R->g.temb_w, &R->g.temb_b));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.norm2", prefix));
  PetscCall(add_norm_tensors(m, name, cout, &R->p.gn2_g, &R->p.gn2_b, &R->g.gn2_g, &R->g.gn2_b));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.conv2.weight", prefix));
  PetscCall(add_tensor(m, name, INIT_TINY, cout * gr->k * gr->k, cout * gr->k * gr->k, &R->p.conv2_w, &R->g.conv2_w, 4,
                       (hsize_t[]){(hsize_t)cout, (hsize_t)cout, (hsize_t)gr->k, (hsize_t)gr->k}));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%s.conv2.bias", prefix));
  PetscCall(add_tensor(m, name, INIT_ZERO, 0, 0, &R->p.conv2_b, &R->g.conv2_b, 1, (hsize_t[]){(hsize_t)cout}));
  if (a.C != cout) {
    PetscCall(PetscSNPrintf(name, sizeof(name), "%s.skip.weight", prefix));
    PetscCall(add_tensor(m, name, INIT_FANAVG, a.C, cout, &R->p.skip_w, &R->g.skip_w, 4,
                         (hsize_t[]){(hsize_t)cout, (hsize_t)a.C, 1, 1}));
    PetscCall(PetscSNPrintf(name, sizeof(name), "%s.skip.bias", prefix));
    PetscCall(add_tensor(m, name, INIT_ZERO, 0, 0, &R->p.skip_b, &R->g.skip_b, 1, (hsize_t[]){(hsize_t)cout}));
  }
  if (attn) {
    PetscCall(PetscSNPrintf(name, sizeof(name), "%s.attn", prefix));
    PetscCall(add_attn(m, name, *out, out));
  }
  PetscFunctionReturn(0);
}

static int add_concat(Graph *gr, int a, int b)
{
  int out = new_act(gr, gr->acts[a].C + gr->acts[b].C, gr->acts[a].H, gr->acts[a].W);
  new_op(gr, OP_CONCAT, a, b, out);
  return out;
}

static int add_upsample(Graph *gr, int in)
{
  int out = new_act(gr, gr->acts[in].C, 2 * gr->acts[in].H, 2 * gr->acts[in].W);
  new_op(gr, OP_UPSAMPLE, in, -1, out);
  return out;
}

/* The U-Net (BENCH.md generalised to nlevels and num_res_blocks):
 *   inc conv; per level: [stride-2 conv if l > 0], nb ResBlocks (each pushed);
 *   mid ResBlock; per level reversed: nb ResBlocks on concat(h, pop),
 *   [nearest x2 + conv if l > 0]; GN, SiLU, conv to the output channels. */
static PetscErrorCode build_graph(BOModel m)
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

  h = new_act(gr, gr->Cio, gr->H, gr->W); /* 0: the scaled input */
  PetscCall(add_conv(m, "inc", h, (int)(cfg->base_channels * cfg->ch_mult[0]), gr->k, 1, INIT_FANAVG, &h));
  for (int l = 0; l < L; l++) {
    if (l > 0) {
      PetscCall(PetscSNPrintf(name, sizeof(name), "down%d.downsample", l));
      PetscCall(add_conv(m, name, h, gr->acts[h].C, 3, 2, INIT_FANAVG, &h));
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
      h = add_upsample(gr, h);
      PetscCall(PetscSNPrintf(name, sizeof(name), "up%d.upsample_conv", l));
      PetscCall(add_conv(m, name, h, c, 3, 1, INIT_FANAVG, &h));
    }
  }
  {
    int out = new_act(gr, gr->acts[h].C, gr->H, gr->W);
    Op *op  = new_op(gr, OP_GNSILU, h, -1, out);
    op->L.norm.s = (BOGroupNormShape){0, gr->acts[h].C, gr->H * gr->W, gn_groups(gr->acts[h].C), 1, 1e-6f};
    PetscCall(add_norm_tensors(m, "out.norm", gr->acts[h].C, &op->L.norm.gamma, &op->L.norm.beta, &op->L.norm.dgamma,
                               &op->L.norm.dbeta));
    PetscCall(add_conv(m, "out.conv", out, gr->Cio, gr->k, 1, INIT_TINY, &h));
  }
  PetscFunctionReturn(0);
}

/* ---- configurations ------------------------------------------------------------------- */

static void config_defaults(const PetscInt shape[3], PetscBool is_field, double max_count, BOModelConfig *cfg)
{
  memset(cfg, 0, sizeof(*cfg));
  cfg->kind = is_field ? BO_MODEL_UNET : BO_MODEL_MLP;
  if (is_field) cfg->Ny = shape[0], cfg->Nx = shape[1], cfg->C = shape[2] > 0 ? shape[2] : 1;
  else cfg->G = shape[0];
  cfg->max_count = max_count;
  cfg->input     = is_field ? BO_INPUT_LINEAR : BO_INPUT_LOG1P; /* see scatter_input */
  cfg->nlevels   = 1;
  for (int l = 0; l < BO_MODEL_MAX_LEVELS; l++) cfg->ch_mult[l] = 1;
}

PetscErrorCode BOModelConfigFromName(const char *name, const PetscInt shape[3], PetscBool is_field, double max_count,
                                     BOModelConfig *cfg)
{
  PetscBool is_s, is_tiny, is_mlp, is_auto;

  PetscFunctionBegin;
  PetscCall(PetscStrcmp(name, "unet-s", &is_s));
  PetscCall(PetscStrcmp(name, "unet-tiny", &is_tiny));
  PetscCall(PetscStrcmp(name, "mlp", &is_mlp));
  PetscCall(PetscStrcmp(name, "auto", &is_auto));
  if (is_auto) PetscCall(BOModelConfigAuto(shape, is_field, max_count, cfg));
  else if (is_s || is_tiny) {
    PetscCheck(is_field, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "model '%s' is for fields; the data are vectors (use mlp)",
               name);
    config_defaults(shape, is_field, max_count, cfg);
    if (is_s) { /* BENCH.md */
      cfg->base_channels = 32, cfg->nlevels = 3, cfg->ch_mult[1] = 2, cfg->ch_mult[2] = 2;
      cfg->num_res_blocks = 1, cfg->temb_dim = 32, cfg->temb_hidden = 128;
    } else { /* for tests: two levels, attention at the low one */
      cfg->base_channels = 8, cfg->nlevels = 2, cfg->ch_mult[1] = 2, cfg->attn[1] = 1;
      cfg->num_res_blocks = 1, cfg->temb_dim = 8, cfg->temb_hidden = 16;
    }
  } else if (is_mlp) {
    PetscCheck(!is_field, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "model 'mlp' is for count vectors; the data are fields");
    config_defaults(shape, is_field, max_count, cfg);
    cfg->base_channels  = shape[0] >= 64 ? 256 : 128;
    cfg->num_res_blocks = 2, cfg->temb_dim = 32, cfg->temb_hidden = 128;
  } else SETERRQ(PETSC_COMM_SELF, PETSC_ERR_ARG_UNKNOWN_TYPE, "unknown model '%s' (known: auto, unet-s, unet-tiny, mlp)", name);
  if (!is_auto) PetscCall(PetscStrncpy(cfg->name, name, sizeof(cfg->name)));
  PetscFunctionReturn(0);
}

PetscErrorCode BOModelConfigAuto(const PetscInt shape[3], PetscBool is_field, double max_count, BOModelConfig *cfg)
{
  PetscFunctionBegin;
  if (!is_field) {
    PetscCall(BOModelConfigFromName("mlp", shape, is_field, max_count, cfg));
    PetscCall(PetscStrncpy(cfg->name, "auto", sizeof(cfg->name)));
    PetscFunctionReturn(0);
  }
  config_defaults(shape, is_field, max_count, cfg);
  PetscInt side = PetscMin(cfg->Ny, cfg->Nx), big = PetscMax(cfg->Ny, cfg->Nx), L = 1;
  /* as many levels as keep the lowest resolution at 4 or more (at most 4) */
  while (L < 4 && side / (1 << L) >= 4) L++;
  cfg->nlevels = L;
  if (big <= 16) { /* e.g. 8x8 digits: ~0.1 M parameters */
    cfg->base_channels = 16, cfg->temb_dim = 32, cfg->temb_hidden = 64;
    for (PetscInt l = 1; l < L; l++) cfg->ch_mult[l] = 2;
  } else {
    cfg->base_channels = 32, cfg->temb_dim = 32, cfg->temb_hidden = 128;
    for (PetscInt l = 1; l < L; l++) cfg->ch_mult[l] = 2;
    if (L >= 3) cfg->attn[L - 1] = 1; /* attention at the coarsest grid only */
  }
  cfg->num_res_blocks = 1;
  PetscCall(PetscStrncpy(cfg->name, "auto", sizeof(cfg->name)));
  PetscFunctionReturn(0);
}

/* Where the network runs: the grid padded up to a multiple of 2^(L-1).
 * Periodic grids cannot be padded, so Create refuses them instead. */
static void padded_grid(const BOModelConfig *cfg, int *H, int *W)
{
  int f = 1 << (cfg->nlevels - 1);
  *H    = (int)((cfg->Ny + f - 1) / f * f);
  *W    = (int)((cfg->Nx + f - 1) / f * f);
}

static PetscErrorCode config_check(const BOModelConfig *cfg)
{
  PetscFunctionBegin;
  PetscCheck(cfg->nlevels >= 1 && cfg->nlevels <= BO_MODEL_MAX_LEVELS, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "model: nlevels %" PetscInt_FMT " must be in 1..%d", cfg->nlevels, BO_MODEL_MAX_LEVELS);
  PetscCheck(cfg->base_channels > 0 && cfg->num_res_blocks >= 1 && cfg->temb_dim >= 4 && cfg->temb_dim % 2 == 0 &&
               cfg->temb_hidden > 0 && cfg->num_classes >= 0,
             PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "model '%s': invalid widths", cfg->name);
  PetscCheck(cfg->num_res_blocks <= 8, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "model: at most 8 res blocks per level");
  PetscCheck(cfg->max_count > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "model: max_count %g must be positive",
             cfg->max_count);
  PetscCheck(cfg->input == BO_INPUT_LINEAR || cfg->input == BO_INPUT_LOG1P, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "model: unknown input scaling %d (known: 0 linear, 1 log1p)", (int)cfg->input);
  if (cfg->kind == BO_MODEL_UNET) {
    int H, W;
    PetscCheck(cfg->Ny > 0 && cfg->Nx > 0 && cfg->C > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
               "model: bad field shape %" PetscInt_FMT "x%" PetscInt_FMT "x%" PetscInt_FMT, cfg->Ny, cfg->Nx, cfg->C);
    padded_grid(cfg, &H, &W);
    PetscCheck(!cfg->periodic || (H == cfg->Ny && W == cfg->Nx), PETSC_COMM_SELF, PETSC_ERR_ARG_INCOMP,
               "model: a periodic %" PetscInt_FMT "x%" PetscInt_FMT " grid is not divisible by 2^%" PetscInt_FMT
               "; use fewer levels",
               cfg->Ny, cfg->Nx, cfg->nlevels - 1);
  } else {
    PetscCheck(cfg->G > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "model: bad vector length %" PetscInt_FMT, cfg->G);
    PetscCheck(cfg->nlevels == 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "model: an mlp has one level");
  }
  PetscFunctionReturn(0);
}

/* ---- create / destroy / view ------------------------------------------------------------ */

PetscErrorCode BOModelCreate(MPI_Comm comm, const BOModelConfig *cfg, BOModel *mout)
{
  BOModel m;
  Graph  *gr;
  int     maxops;

  PetscFunctionBegin;
  PetscCall(config_check(cfg));
  PetscCall(PetscNew(&m));
  PetscCall(PetscNew(&gr));
  m->comm = comm, m->cfg = *cfg, m->impl = gr;
  if (cfg->kind == BO_MODEL_UNET) {
    padded_grid(cfg, &gr->H, &gr->W);
    gr->Cio = (int)cfg->C, gr->k = 3;
    m->dim  = cfg->Ny * cfg->Nx * cfg->C;
  } else {
    gr->H = gr->W = 1, gr->Cio = (int)cfg->G, gr->k = 1;
    m->dim = cfg->G;
  }
  gr->Td = (int)cfg->temb_dim, gr->Th = (int)cfg->temb_hidden;
  maxops      = 8 + 4 * (int)cfg->nlevels * ((int)cfg->num_res_blocks * 2 + 3);
  gr->maxops  = maxops, gr->maxacts = maxops + 1;
  PetscCall(PetscCalloc1(gr->maxops, &gr->ops));
  PetscCall(PetscCalloc1(gr->maxacts, &gr->acts));
  PetscCall(PetscCalloc1(16 * maxops + 8, &m->tensors));
  PetscCall(build_graph(m));
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

static PetscErrorCode free_workspaces(Graph *gr)
{
  PetscFunctionBegin;
  for (int i = 0; i < gr->nacts; i++) {
    if (gr->acts[i].view) gr->acts[i].v = gr->acts[i].g = NULL; /* not theirs */
    PetscCall(PetscFree(gr->acts[i].v));
    PetscCall(PetscFree(gr->acts[i].g));
  }
  for (int i = 0; i < gr->nops; i++) {
    if (gr->ops[i].type == OP_RES) PetscCall(PetscFree(gr->ops[i].L.res.acts));
    if (gr->ops[i].type == OP_ATTN) PetscCall(PetscFree(gr->ops[i].L.attn.work));
    if (gr->ops[i].type == OP_GNSILU) PetscCall(PetscFree2(gr->ops[i].L.norm.mean, gr->ops[i].L.norm.rstd));
  }
  PetscCall(PetscFree(gr->emb));
  PetscCall(PetscFree(gr->col));
  PetscCall(PetscFree(gr->scratch));
  PetscCall(PetscFree(gr->labels));
  gr->Bcap = 0, gr->bytes = 0, gr->have_grads = 0;
  PetscFunctionReturn(0);
}

PetscErrorCode BOModelDestroy(BOModel *m)
{
  PetscFunctionBegin;
  if (!*m) PetscFunctionReturn(0);
  Graph *gr = (Graph *)(*m)->impl;
  PetscCall(free_workspaces(gr));
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
  PetscCall(PetscViewerASCIIPrintf(viewer, "BOModel '%s' (%s): %" PetscInt_FMT " parameters in %" PetscInt_FMT " tensors\n",
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
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "input %" PetscInt_FMT "x%" PetscInt_FMT "x%" PetscInt_FMT " (runs on %dx%d)%s, %" PetscInt_FMT
                                     " levels, channels%s, %" PetscInt_FMT " res block(s) per level\n",
                                     cfg->Ny, cfg->Nx, cfg->C, gr->H, gr->W, cfg->periodic ? ", periodic" : "", cfg->nlevels, ch,
                                     cfg->num_res_blocks));
  } else
    PetscCall(PetscViewerASCIIPrintf(viewer, "input vector of %" PetscInt_FMT ", hidden %" PetscInt_FMT ", %" PetscInt_FMT
                                             " res block(s) each way\n",
                                     cfg->G, cfg->base_channels, cfg->num_res_blocks));
  if (cfg->input == BO_INPUT_LOG1P)
    PetscCall(PetscViewerASCIIPrintf(viewer, "time embedding %" PetscInt_FMT " -> %" PetscInt_FMT ", classes %" PetscInt_FMT
                                             ", input scaling log(1 + n)\n",
                                     cfg->temb_dim, cfg->temb_hidden, cfg->num_classes));
  else
    PetscCall(PetscViewerASCIIPrintf(viewer, "time embedding %" PetscInt_FMT " -> %" PetscInt_FMT ", classes %" PetscInt_FMT
                                             ", input scaling (n - N/2 p)/(N/2) with N = %g\n",
                                     cfg->temb_dim, cfg->temb_hidden, cfg->num_classes, cfg->max_count));
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

/* ---- workspaces ------------------------------------------------------------------------------- */

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* Which backward writes each input gradient first (in reverse order): that
 * one overwrites, the others add. */
static void plan_accumulation(Graph *gr)
{
  int *touched = (int *)calloc((size_t)gr->nacts, sizeof(int));
  for (int i = gr->nops - 1; i >= 0; i--) {
    Op *op   = &gr->ops[i];
    op->acc0 = touched[op->in0], touched[op->in0] = 1;
    if (op->in1 >= 0) op->acc1 = touched[op->in1], touched[op->in1] = 1;
  }
  free(touched);
}

/* A concat whose backward overwrites both input gradients (it is the first
 * to write them, in reverse order) can keep its inputs in its own output:
 * in the [C][B][H][W] layout the channels of the first input come first,
 * then those of the second, so concat(a, b) is a and b side by side.
 * Nothing is copied forward or backward then; the other readers of b (the
 * skip connection) read it there and add their gradients to it. Only where
 * no activation takes part in two such concats (an output that is itself a
 * view would not have its address yet when set_views places the inputs). */
static void plan_views(Graph *gr)
{
  int *busy = (int *)calloc((size_t)gr->nacts, sizeof(int)); /* part of a viewed concat, as input or output */
  for (int i = 0; i < gr->nacts; i++) gr->acts[i].view = 0;
  for (int i = 0; i < gr->nops; i++) {
    Op *op   = &gr->ops[i];
    op->view = 0;
    if (op->type != OP_CONCAT || op->acc0 || op->acc1 || op->in0 == op->in1) continue;
    if (busy[op->in0] || busy[op->in1] || busy[op->out]) continue;
    op->view = 1, gr->acts[op->in0].view = gr->acts[op->in1].view = 1;
    busy[op->in0] = busy[op->in1] = busy[op->out] = 1;
  }
  free(busy);
}

/* The addresses of the views for the current batch size (the second input
 * starts after the B samples of the first). */
static void set_views(Graph *gr)
{
  for (int i = 0; i < gr->nops; i++) {
    Op *op = &gr->ops[i];
    if (!op->view) continue;
    Act         *a = &gr->acts[op->in0], *b = &gr->acts[op->in1], *y = &gr->acts[op->out];
    const size_t na = (size_t)a->C * gr->B * a->H * a->W;
    a->v = y->v, b->v = y->v + na;
    a->g = y->g, b->g = y->g ? y->g + na : NULL;
  }
}

/* Give every shape the batch size B (buffers are sized for Bcap >= B). */
static void set_batch(Graph *gr, int B)
{
  gr->B = B;
  for (int i = 0; i < gr->nops; i++) {
    Op *op = &gr->ops[i];
    switch (op->type) {
    case OP_CONV: op->L.conv.s.B = B; break;
    case OP_RES:
      op->L.res.s.B = B;
      bo_resblock_acts_set(&op->L.res.s, op->L.res.acts, &op->L.res.a);
      break;
    case OP_ATTN: op->L.attn.s.B = B; break;
    case OP_GNSILU: op->L.norm.s.B = B; break;
    default: break;
    }
  }
  set_views(gr);
}

static PetscErrorCode plan(BOModel m, int B)
{
  Graph *gr = (Graph *)m->impl;
  size_t col = 0, scratch = 0, bytes = 0;

  PetscFunctionBegin;
  if (B <= gr->Bcap) {
    set_batch(gr, B);
    PetscFunctionReturn(0);
  }
  PetscCall(free_workspaces(gr));
  gr->Bcap = B;
  plan_accumulation(gr);
  plan_views(gr);
  for (int i = 0; i < gr->nacts; i++) {
    size_t n = (size_t)gr->acts[i].C * B * gr->acts[i].H * gr->acts[i].W;
    if (gr->acts[i].view) continue;
    PetscCall(PetscMalloc1(n, &gr->acts[i].v));
    bytes += n * sizeof(float);
  }
  gr->B = B;
  for (int i = 0; i < gr->nops; i++) {
    Op    *op = &gr->ops[i];
    size_t n;
    switch (op->type) {
    case OP_CONV:
      op->L.conv.s.B = B;
      col            = max_sz(col, bo_conv_col_size(&op->L.conv.s));
      break;
    case OP_RES:
      op->L.res.s.B = B;
      n             = bo_resblock_acts_size(&op->L.res.s);
      PetscCall(PetscMalloc1(n, &op->L.res.acts));
      bytes += n * sizeof(float);
      col     = max_sz(col, bo_resblock_col_size(&op->L.res.s));
      scratch = max_sz(scratch, bo_resblock_scratch_size(&op->L.res.s));
      break;
    case OP_ATTN:
      op->L.attn.s.B = B;
      n              = bo_attention_work_size(&op->L.attn.s);
      PetscCall(PetscMalloc1(n, &op->L.attn.work));
      bytes += n * sizeof(float);
      scratch = max_sz(scratch, bo_attention_scratch_size(&op->L.attn.s));
      break;
    case OP_GNSILU:
      op->L.norm.s.B = B;
      PetscCall(PetscMalloc2(B * op->L.norm.s.G, &op->L.norm.mean, B * op->L.norm.s.G, &op->L.norm.rstd));
      break;
    default: break;
    }
  }
  /* time MLP: emb [B][Td]; t1, t1s, e, se, dse, de, dt1s, dt1 [B][Th] */
  PetscCall(PetscMalloc1((size_t)B * (gr->Td + 8 * gr->Th), &gr->emb));
  gr->t1 = gr->emb + (size_t)B * gr->Td;
  gr->t1s = gr->t1 + (size_t)B * gr->Th, gr->e = gr->t1s + (size_t)B * gr->Th, gr->se = gr->e + (size_t)B * gr->Th;
  gr->dse = gr->se + (size_t)B * gr->Th, gr->de = gr->dse + (size_t)B * gr->Th, gr->dt1s = gr->de + (size_t)B * gr->Th;
  gr->dt1 = gr->dt1s + (size_t)B * gr->Th;
  PetscCall(PetscMalloc1(B, &gr->labels));
  PetscCall(PetscMalloc1(max_sz(col, 1), &gr->col));
  gr->col_size = col, gr->scratch_size = scratch, gr->have_grads = 0;
  gr->bytes    = bytes + (col + (size_t)B * (gr->Td + 8 * gr->Th)) * sizeof(float);
  set_batch(gr, B);
  PetscFunctionReturn(0);
}

/* Activation gradients and the backward scratch: only training needs them,
 * so the first backward (for this batch capacity) makes them. */
static PetscErrorCode alloc_gradients(Graph *gr)
{
  PetscFunctionBegin;
  if (gr->have_grads) PetscFunctionReturn(0);
  for (int i = 0; i < gr->nacts; i++) {
    size_t n = (size_t)gr->acts[i].C * gr->Bcap * gr->acts[i].H * gr->acts[i].W;
    if (gr->acts[i].view) continue;
    PetscCall(PetscMalloc1(n, &gr->acts[i].g));
    gr->bytes += n * sizeof(float);
  }
  set_views(gr);
  PetscCall(PetscMalloc1(max_sz(gr->scratch_size, 1), &gr->scratch));
  gr->bytes += gr->scratch_size * sizeof(float);
  gr->have_grads = 1;
  PetscFunctionReturn(0);
}

PetscErrorCode BOModelGetWorkspaceSize(BOModel m, size_t *bytes)
{
  PetscFunctionBegin;
  *bytes = ((Graph *)m->impl)->bytes;
  PetscFunctionReturn(0);
}

PetscErrorCode BOModelGetFlops(BOModel m, double *flops)
{
  Graph *gr = (Graph *)m->impl;
  double f  = 2.0 * ((double)gr->Td * gr->Th + (double)gr->Th * gr->Th); /* time MLP */

  PetscFunctionBegin;
  for (int i = 0; i < gr->nops; i++) {
    Op *op = &gr->ops[i];
    if (op->type == OP_CONV) {
      BOConvShape *s = &op->L.conv.s;
      f += 2.0 * s->Cout * s->Cin * s->k * s->k * bo_conv_out_h(s) * bo_conv_out_w(s);
    } else if (op->type == OP_RES) {
      BOResBlockShape *s  = &op->L.res.s;
      double           HW = (double)s->H * s->W, kk = s->k * s->k;
      f += 2.0 * HW * kk * s->Cout * (s->Cin + s->Cout) + 2.0 * s->E * s->Cout;
      if (s->Cin != s->Cout) f += 2.0 * HW * s->Cin * s->Cout;
    } else if (op->type == OP_ATTN) {
      BOAttentionShape *s = &op->L.attn.s;
      f += 2.0 * s->HW * 4.0 * s->C * s->C + 4.0 * (double)s->HW * s->HW * s->C;
    }
  }
  *flops = f;
  PetscFunctionReturn(0);
}

/* ---- forward / backward ------------------------------------------------------------------------- */

static void op_forward(Graph *gr, Op *op)
{
  Act *x = &gr->acts[op->in0], *y = &gr->acts[op->out];
  switch (op->type) {
  case OP_CONV: bo_conv_forward(&op->L.conv.s, x->v, op->L.conv.w, op->L.conv.b, y->v, gr->col, 0); break;
  case OP_RES: bo_resblock_forward(&op->L.res.s, &op->L.res.p, x->v, gr->se, &op->L.res.a, y->v, gr->col); break;
  case OP_ATTN: {
    AttnLayer *A = &op->L.attn;
    bo_attention_forward(&A->s, x->v, A->gamma, A->beta, A->wqkv, A->bqkv, A->wo, A->bo, y->v, A->work);
  } break;
  case OP_CONCAT: {
    Act *x1 = &gr->acts[op->in1];
    if (op->view) break; /* already side by side */
    bo_concat_forward((size_t)x->C * gr->B * x->H * x->W, (size_t)x1->C * gr->B * x1->H * x1->W, x->v, x1->v, y->v);
  } break;
  case OP_UPSAMPLE: bo_upsample2x_forward(x->C * gr->B, x->H, x->W, x->v, y->v); break;
  case OP_GNSILU: {
    NormLayer *N = &op->L.norm;
    bo_groupnorm_forward(&N->s, x->v, N->gamma, N->beta, y->v, N->mean, N->rstd);
  } break;
  }
}

static void op_backward(Graph *gr, Op *op)
{
  Act *x = &gr->acts[op->in0], *y = &gr->acts[op->out];
  switch (op->type) {
  case OP_CONV: {
    ConvLayer *c = &op->L.conv;
    bo_conv_backward(&c->s, x->v, c->w, y->g, x->g, c->dw, c->db, gr->col, op->acc0);
  } break;
  case OP_RES: {
    ResLayer *R = &op->L.res;
    bo_resblock_backward(&R->s, &R->p, &R->g, x->v, gr->se, &R->a, y->g, x->g, gr->dse, gr->col, gr->scratch, op->acc0);
  } break;
  case OP_ATTN: {
    AttnLayer *A = &op->L.attn;
    bo_attention_backward(&A->s, x->v, A->gamma, A->beta, A->wqkv, A->wo, A->work, y->g, x->g, A->dgamma, A->dbeta,
                          A->dwqkv, A->dbqkv, A->dwo, A->dbo, gr->scratch, op->acc0);
  } break;
  case OP_CONCAT: {
    Act *x1 = &gr->acts[op->in1];
    if (op->view) break; /* the gradients are already in place */
    bo_concat_backward((size_t)x->C * gr->B * x->H * x->W, (size_t)x1->C * gr->B * x1->H * x1->W, y->g, x->g, x1->g,
                       op->acc0, op->acc1);
  } break;
  case OP_UPSAMPLE: bo_upsample2x_backward(x->C * gr->B, x->H, x->W, y->g, x->g, op->acc0); break;
  case OP_GNSILU: {
    NormLayer *N = &op->L.norm;
    bo_groupnorm_backward(&N->s, x->v, N->gamma, N->beta, N->mean, N->rstd, y->g, x->g, N->dgamma, N->dbeta, op->acc0);
  } break;
  }
}

/* Scale counts into the network's input: [C][B][H][W] on the (padded) grid.
 * Sample b, site (y, x), component c is nt[b][(y Nx + x) C + c]; vectors
 * are the case Ny = Nx = 1, C = G. The padding is zero.
 *
 * linear: (n - N/2 p)/(N/2), one scale for all components. log1p: log(1 + n)
 * per element. Count vectors mix components of very different sizes (genes
 * with mean 0.2 next to genes with mean 8 and tails to 80): the linear
 * scaling maps one count of a small gene to 1/40 of the input range, while
 * log(1 + n) separates 0, 1, 2, ... by O(1) steps and compresses the tails.
 * It needs no statistics of the data, so a checkpoint stays self-contained. */
static void scatter_input(BOModel m, int B, const float *nt, const double *pk, float *x0)
{
  Graph        *gr      = (Graph *)m->impl;
  const int     Ny      = m->cfg.kind == BO_MODEL_UNET ? (int)m->cfg.Ny : 1, Nx = m->cfg.kind == BO_MODEL_UNET ? (int)m->cfg.Nx : 1;
  const int     C       = gr->Cio, H = gr->H, W = gr->W;
  const double  half    = 0.5 * m->cfg.max_count;
  const int     use_log = m->cfg.input == BO_INPUT_LOG1P;

  if (H != Ny || W != Nx) memset(x0, 0, sizeof(float) * (size_t)C * B * H * W);
  for (int b = 0; b < B; b++) {
    const float shift = (float)(half * pk[b]), inv = (float)(1.0 / half);
    for (int y = 0; y < Ny; y++)
      for (int x = 0; x < Nx; x++)
        for (int c = 0; c < C; c++) {
          const float n = nt[((size_t)b * Ny * Nx + (size_t)y * Nx + x) * C + c];
          x0[(((size_t)c * B + b) * H + y) * W + x] = use_log ? log1pf(n) : (n - shift) * inv;
        }
  }
}

/* The transpose of scatter_input's index map (without scaling); with
 * to_net = 1 it scatters a [B][D] array onto the grid, zero outside. */
static void gather_output(BOModel m, int B, float *net, float *out, int to_net)
{
  Graph    *gr = (Graph *)m->impl;
  const int Ny = m->cfg.kind == BO_MODEL_UNET ? (int)m->cfg.Ny : 1, Nx = m->cfg.kind == BO_MODEL_UNET ? (int)m->cfg.Nx : 1;
  const int C = gr->Cio, H = gr->H, W = gr->W;

  if (to_net && (H != Ny || W != Nx)) memset(net, 0, sizeof(float) * (size_t)C * B * H * W);
  for (int b = 0; b < B; b++)
    for (int y = 0; y < Ny; y++)
      for (int x = 0; x < Nx; x++)
        for (int c = 0; c < C; c++) {
          float *pn = net + (((size_t)c * B + b) * H + y) * W + x, *po = out + ((size_t)b * Ny * Nx + (size_t)y * Nx + x) * C + c;
          if (to_net) *pn = *po;
          else *po = *pn;
        }
}

static PetscErrorCode time_mlp_forward(BOModel m, int B, const PetscInt *k, const PetscInt *labels)
{
  Graph *gr = (Graph *)m->impl;
  const size_t n = (size_t)B * gr->Th;

  PetscFunctionBegin;
  for (int b = 0; b < B; b++) bo_timestep_embedding(gr->Td, (double)k[b], gr->emb + (size_t)b * gr->Td);
  bo_linear_forward(B, gr->Td, gr->Th, gr->emb, gr->l1_w, gr->l1_b, gr->t1);
  bo_silu_forward(n, gr->t1, gr->t1s);
  bo_linear_forward(B, gr->Th, gr->Th, gr->t1s, gr->l2_w, gr->l2_b, gr->e);
  if (m->cfg.num_classes > 0)
    for (int b = 0; b < B; b++) {
      PetscInt c = labels ? labels[b] : m->cfg.num_classes;
      PetscCheck(c >= 0 && c <= m->cfg.num_classes, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
                 "model: label %" PetscInt_FMT " of sample %d outside 0..%" PetscInt_FMT, c, b, m->cfg.num_classes);
      gr->labels[b] = (int)c;
      for (int j = 0; j < gr->Th; j++) gr->e[(size_t)b * gr->Th + j] += gr->lab[(size_t)c * gr->Th + j];
    }
  bo_silu_forward(n, gr->e, gr->se);
  PetscFunctionReturn(0);
}

static void time_mlp_backward(BOModel m, int B)
{
  Graph       *gr = (Graph *)m->impl;
  const size_t n  = (size_t)B * gr->Th;

  bo_silu_backward(n, gr->e, gr->dse, gr->de, 0);
  if (m->cfg.num_classes > 0)
    for (int b = 0; b < B; b++)
      for (int j = 0; j < gr->Th; j++) gr->dlab[(size_t)gr->labels[b] * gr->Th + j] += gr->de[(size_t)b * gr->Th + j];
  bo_linear_backward(B, gr->Th, gr->Th, gr->t1s, gr->l2_w, gr->de, gr->dt1s, gr->dl2_w, gr->dl2_b, 0);
  bo_silu_backward(n, gr->t1, gr->dt1s, gr->dt1, 0);
  bo_linear_backward(B, gr->Td, gr->Th, gr->emb, gr->l1_w, gr->dt1, NULL, gr->dl1_w, gr->dl1_b, 0);
}

PetscErrorCode BOModelForward(BOModel m, PetscInt B, const float *nt, const PetscInt *k, const double *pk,
                              const PetscInt *labels, float *out)
{
  Graph *gr = (Graph *)m->impl;

  PetscFunctionBegin;
  PetscCheck(B > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "BOModelForward: batch %" PetscInt_FMT, B);
  PetscCall(plan(m, (int)B));
  PetscCall(time_mlp_forward(m, (int)B, k, labels));
  scatter_input(m, (int)B, nt, pk, gr->acts[0].v);
  for (int i = 0; i < gr->nops; i++) op_forward(gr, &gr->ops[i]);
  gather_output(m, (int)B, gr->acts[gr->nacts - 1].v, out, 0);
  PetscFunctionReturn(0);
}

PetscErrorCode BOModelZeroGrad(BOModel m)
{
  PetscFunctionBegin;
  PetscCall(PetscArrayzero(m->grads, m->nparams));
  PetscFunctionReturn(0);
}

PetscErrorCode BOModelBackward(BOModel m, const float *dout)
{
  Graph *gr = (Graph *)m->impl;

  PetscFunctionBegin;
  PetscCheck(gr->B > 0, PETSC_COMM_SELF, PETSC_ERR_ORDER, "BOModelBackward: call BOModelForward first");
  PetscCall(alloc_gradients(gr));
  PetscCall(BOModelZeroGrad(m));
  PetscCall(PetscArrayzero(gr->dse, (size_t)gr->B * gr->Th));
  gather_output(m, gr->B, gr->acts[gr->nacts - 1].g, (float *)dout, 1);
  for (int i = gr->nops - 1; i >= 0; i--) op_backward(gr, &gr->ops[i]);
  time_mlp_backward(m, gr->B);
  PetscFunctionReturn(0);
}

PetscErrorCode BOModelInputGradient(BOModel m, float *dn)
{
  Graph       *gr  = (Graph *)m->impl;
  const size_t n   = (size_t)gr->B * m->dim;
  float        inv = (float)(2.0 / m->cfg.max_count), *x;

  PetscFunctionBegin;
  gather_output(m, gr->B, gr->acts[0].g, dn, 0);
  if (m->cfg.input == BO_INPUT_LOG1P) {
    /* x = log(1 + n): dL/dn = dL/dx / (1 + n) = dL/dx e^{-x}, with x the
     * input of the last forward, gathered like its gradient */
    PetscCall(PetscMalloc1(n, &x));
    gather_output(m, gr->B, gr->acts[0].v, x, 0);
    for (size_t i = 0; i < n; i++) dn[i] *= expf(-x[i]);
    PetscCall(PetscFree(x));
  } else
    for (size_t i = 0; i < n; i++) dn[i] *= inv;
  PetscFunctionReturn(0);
}

/* ---- HDF5 ---------------------------------------------------------------------------------------- */

PetscErrorCode BOModelSaveParams(BOModel m, hid_t group, const float *buf)
{
  PetscFunctionBegin;
  for (PetscInt i = 0; i < m->ntensors; i++) {
    BOTensor *t = &m->tensors[i];
    hid_t     space, dset;
    htri_t    exists = H5Lexists(group, t->name, H5P_DEFAULT);
    if (exists > 0) BOCallHDF5(H5Ldelete(group, t->name, H5P_DEFAULT), "cannot replace dataset %s", t->name);
    space = H5Screate_simple((int)t->ndim, t->shape, NULL);
    BOCallHDF5(space, "H5Screate_simple failed for %s", t->name);
    dset = H5Dcreate2(group, t->name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    BOCallHDF5(dset, "cannot create dataset %s", t->name);
    BOCallHDF5(H5Dwrite(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf + t->offset), "cannot write %s", t->name);
    BOCallHDF5(H5Dclose(dset), "H5Dclose");
    BOCallHDF5(H5Sclose(space), "H5Sclose");
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOModelLoadParams(BOModel m, hid_t group, float *buf)
{
  PetscFunctionBegin;
  for (PetscInt i = 0; i < m->ntensors; i++) {
    BOTensor *t = &m->tensors[i];
    hid_t     space, dset;
    hsize_t   dims[8];
    int       nd;
    PetscCheck(H5Lexists(group, t->name, H5P_DEFAULT) > 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
               "model '%s': tensor %s is missing from the checkpoint", m->cfg.name, t->name);
    dset = H5Dopen2(group, t->name, H5P_DEFAULT);
    BOCallHDF5(dset, "cannot open dataset %s", t->name);
    space = H5Dget_space(dset);
    BOCallHDF5(space, "H5Dget_space failed for %s", t->name);
    nd = H5Sget_simple_extent_ndims(space);
    PetscBool same = (nd == (int)t->ndim) ? PETSC_TRUE : PETSC_FALSE;
    if (same) {
      BOCallHDF5(H5Sget_simple_extent_dims(space, dims, NULL), "H5Sget_simple_extent_dims");
      for (int d = 0; d < nd; d++)
        if (dims[d] != t->shape[d]) same = PETSC_FALSE;
    }
    BOCallHDF5(H5Sclose(space), "H5Sclose");
    if (!same) {
      BOCallHDF5(H5Dclose(dset), "H5Dclose");
      SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
              "model '%s': tensor %s in the checkpoint has a different shape (expected %d dims: %llu x %llu x %llu x %llu)",
              m->cfg.name, t->name, (int)t->ndim, (unsigned long long)t->shape[0],
              (unsigned long long)(t->ndim > 1 ? t->shape[1] : 1), (unsigned long long)(t->ndim > 2 ? t->shape[2] : 1),
              (unsigned long long)(t->ndim > 3 ? t->shape[3] : 1));
    }
    BOCallHDF5(H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf + t->offset), "cannot read %s", t->name);
    BOCallHDF5(H5Dclose(dset), "H5Dclose");
  }
  PetscFunctionReturn(0);
}

/* Attributes: integers as int64 arrays, max_count as double, strings fixed-length. */

static PetscErrorCode attr_read(hid_t group, const char *name, hid_t mtype, void *val)
{
  hid_t attr;

  PetscFunctionBegin;
  PetscCheck(H5Aexists(group, name) > 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "model configuration: attribute model_%s is missing", name + 6);
  attr = H5Aopen(group, name, H5P_DEFAULT);
  BOCallHDF5(attr, "cannot open attribute %s", name);
  BOCallHDF5(H5Aread(attr, mtype, val), "cannot read attribute %s", name);
  BOCallHDF5(H5Aclose(attr), "H5Aclose");
  PetscFunctionReturn(0);
}

#define NINTS (10 + 2 * BO_MODEL_MAX_LEVELS)
static void config_ints(const BOModelConfig *c, int64_t *v)
{
  int64_t *p = v;
  *p++ = c->kind, *p++ = c->Ny, *p++ = c->Nx, *p++ = c->C, *p++ = c->G, *p++ = c->base_channels, *p++ = c->nlevels;
  *p++ = c->num_res_blocks, *p++ = c->temb_dim, *p++ = c->temb_hidden;
  for (int l = 0; l < BO_MODEL_MAX_LEVELS; l++) *p++ = c->ch_mult[l];
  for (int l = 0; l < BO_MODEL_MAX_LEVELS; l++) *p++ = c->attn[l];
}

PetscErrorCode BOModelConfigSave(const BOModelConfig *cfg, hid_t group)
{
  int64_t v[NINTS];
  hid_t   str;

  PetscFunctionBegin;
  config_ints(cfg, v);
  PetscCall(BOH5WriteAttr(group, "model_kind", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &v[0]));
  PetscCall(BOH5WriteAttr(group, "model_shape", H5T_STD_I64LE, H5T_NATIVE_INT64, 4, &v[1]));
  PetscCall(BOH5WriteAttr(group, "model_widths", H5T_STD_I64LE, H5T_NATIVE_INT64, 5, &v[5]));
  PetscCall(BOH5WriteAttr(group, "model_ch_mult", H5T_STD_I64LE, H5T_NATIVE_INT64, BO_MODEL_MAX_LEVELS, &v[10]));
  PetscCall(BOH5WriteAttr(group, "model_attn", H5T_STD_I64LE, H5T_NATIVE_INT64, BO_MODEL_MAX_LEVELS, &v[10 + BO_MODEL_MAX_LEVELS]));
  int64_t nc = cfg->num_classes, per = cfg->periodic ? 1 : 0;
  PetscCall(BOH5WriteAttr(group, "model_num_classes", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &nc));
  PetscCall(BOH5WriteAttr(group, "model_periodic", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &per));
  PetscCall(BOH5WriteAttr(group, "model_max_count", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &cfg->max_count));
  int64_t input = cfg->input;
  PetscCall(BOH5WriteAttr(group, "model_input", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &input));
  str = H5Tcopy(H5T_C_S1);
  BOCallHDF5(str, "H5Tcopy");
  BOCallHDF5(H5Tset_size(str, sizeof(cfg->name)), "H5Tset_size");
  PetscCall(BOH5WriteAttr(group, "model_name", str, str, 0, cfg->name));
  BOCallHDF5(H5Tclose(str), "H5Tclose");
  PetscFunctionReturn(0);
}

PetscErrorCode BOModelConfigLoad(hid_t group, BOModelConfig *cfg)
{
  int64_t v[NINTS], nc, per, input = BO_INPUT_LINEAR;
  hid_t   str;

  PetscFunctionBegin;
  memset(cfg, 0, sizeof(*cfg));
  PetscCall(attr_read(group, "model_kind", H5T_NATIVE_INT64, &v[0]));
  PetscCall(attr_read(group, "model_shape", H5T_NATIVE_INT64, &v[1]));
  PetscCall(attr_read(group, "model_widths", H5T_NATIVE_INT64, &v[5]));
  PetscCall(attr_read(group, "model_ch_mult", H5T_NATIVE_INT64, &v[10]));
  PetscCall(attr_read(group, "model_attn", H5T_NATIVE_INT64, &v[10 + BO_MODEL_MAX_LEVELS]));
  PetscCall(attr_read(group, "model_num_classes", H5T_NATIVE_INT64, &nc));
  PetscCall(attr_read(group, "model_periodic", H5T_NATIVE_INT64, &per));
  PetscCall(attr_read(group, "model_max_count", H5T_NATIVE_DOUBLE, &cfg->max_count));
  /* checkpoints from before the attribute existed scaled linearly */
  if (H5Aexists(group, "model_input") > 0) PetscCall(attr_read(group, "model_input", H5T_NATIVE_INT64, &input));
  str = H5Tcopy(H5T_C_S1);
  BOCallHDF5(str, "H5Tcopy");
  BOCallHDF5(H5Tset_size(str, sizeof(cfg->name)), "H5Tset_size");
  PetscCall(attr_read(group, "model_name", str, cfg->name));
  BOCallHDF5(H5Tclose(str), "H5Tclose");
  cfg->name[sizeof(cfg->name) - 1] = 0;
  PetscCheck(v[0] == BO_MODEL_UNET || v[0] == BO_MODEL_MLP, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "model configuration: unknown kind %lld", (long long)v[0]);
  cfg->kind = (BOModelKind)v[0];
  cfg->Ny = (PetscInt)v[1], cfg->Nx = (PetscInt)v[2], cfg->C = (PetscInt)v[3], cfg->G = (PetscInt)v[4];
  cfg->base_channels = (PetscInt)v[5], cfg->nlevels = (PetscInt)v[6], cfg->num_res_blocks = (PetscInt)v[7];
  cfg->temb_dim = (PetscInt)v[8], cfg->temb_hidden = (PetscInt)v[9];
  for (int l = 0; l < BO_MODEL_MAX_LEVELS; l++) {
    cfg->ch_mult[l] = (PetscInt)v[10 + l];
    cfg->attn[l]    = (PetscInt)v[10 + BO_MODEL_MAX_LEVELS + l];
  }
  cfg->num_classes = (PetscInt)nc, cfg->periodic = per ? PETSC_TRUE : PETSC_FALSE;
  PetscCheck(input == BO_INPUT_LINEAR || input == BO_INPUT_LOG1P, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "model configuration: unknown input scaling %lld in model_input (0 linear, 1 log1p; a newer version's file?)",
             (long long)input);
  cfg->input = (BOModelInput)input;
  PetscCall(config_check(cfg));
  PetscFunctionReturn(0);
}
