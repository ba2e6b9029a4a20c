/* Private to src/model: the graph a BOModel runs, shared by
 *   config.c  configurations (by name, automatic, from options) and their checks
 *   build.c   the parameter registry and the graph builder; create, view, init
 *   plan.c    workspaces (sized for the largest batch seen), flop counts
 *   exec.c    forward and backward passes
 *   io.c      parameters and configuration in HDF5
 *
 * The network is built once in BOModelCreate as a list of Ops. Each Op reads
 * one or two activations and writes one; every activation has a value and a
 * gradient buffer of C*B*D*H*W floats ([C][B][D][H][W], see bo_nn.h; D = 1
 * in a 2-D network, whose Ops are the 2-D layers; a 3-D network (cfg.Nz > 1)
 * runs the *3D Ops on volumes). Forward runs
 * the list in order; backward in reverse, and an Op overwrites an input
 * gradient if it is the first (in reverse order) to touch it, else adds,
 * so no zeroing pass is needed. Workspaces are sized for the largest batch
 * seen and reused. */
#ifndef BO_MODELIMPL_H
#define BO_MODELIMPL_H
#include "bo_model.h"

typedef enum { OP_CONV, OP_RES, OP_ATTN, OP_CONCAT, OP_UPSAMPLE, OP_GNSILU, OP_CONV3D, OP_RES3D, OP_UPSAMPLE3D } OpType;

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
  BOConv3dShape s;
  float        *w, *b, *dw, *db;
} Conv3dLayer;

typedef struct {
  BOResBlock3dShape s;
  BOResBlockParams  p, g;
  BOResBlockActs    a;
  float            *acts; /* storage behind a */
} Res3dLayer;

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
  int    fz;            /* OP_UPSAMPLE3D: 1 or 2 in z */
  union {
    ConvLayer   conv;
    ResLayer    res;
    Conv3dLayer conv3;
    Res3dLayer  res3;
    AttnLayer   attn;
    NormLayer   norm;
  } L;
} Op;

typedef struct {
  int    C, D, H, W; /* D = 1 in 2-D */
  int    view;       /* the values and gradient are part of a concat's output */
  float *v, *g;
} Act;

enum { INIT_FANAVG, INIT_TINY, INIT_ZERO, INIT_ONE };

typedef struct {
  int  nops, maxops, nacts, maxacts;
  Op  *ops;
  Act *acts;
  int  D, H, W;   /* grid the network runs on (H, W padded if needed; D = Nz, 1 in 2-D) */
  int  d3;        /* a 3-D network: the *3D Ops */
  int  Cin, Cout; /* channels of the input (counts, then noise) and of the output */
  int  k;         /* 3 (unet) or 1 (mlp) */
  /* time MLP: emb [B][Td] -> t1 = L1(emb) -> t1s = silu -> e = L2(t1s) (+ label) -> se = silu(e) */
  int    Td, Th;
  float *l1_w, *l1_b, *l2_w, *l2_b, *lab, *dl1_w, *dl1_b, *dl2_w, *dl2_b, *dlab;
  float *lz_w, *lz_b, *dlz_w, *dlz_b; /* the noise latent's linear layer (Z -> Th), added to e */
  /* the total's MLP: u [B] -> tu1 = Lu1(u) -> tu1s = silu -> tu = Lu2(tu1s), added to e */
  float *lu1_w, *lu1_b, *lu2_w, *lu2_b, *dlu1_w, *dlu1_b, *dlu2_w, *dlu2_b;
  /* the params' MLP: up [B][P] -> tp1 = Lp1(up) -> tp1s = silu -> tp = Lp2(tp1s), added to e; a dropped
     sample adds pnull [Th] instead */
  float *lp1_w, *lp1_b, *lp2_w, *lp2_b, *pnull, *dlp1_w, *dlp1_b, *dlp2_w, *dlp2_b, *dpnull;
  /* workspaces, sized for Bcap samples */
  int    Bcap, B, have_grads; /* gradient buffers exist (made by the first backward) */
  float *emb, *t1, *t1s, *e, *se, *dse, *de, *dt1s, *dt1;
  float *z, *ez;                                    /* [B][Z] the noise latents of the batch, [B][Th] their embedding */
  float *u, *tu1, *tu1s, *tu, *dtu1s, *dtu1;        /* [B] the standardised totals, [B][Th] their MLP */
  float *up, *tp1, *tp1s, *tp, *dtp, *dtp1s, *dtp1; /* [B][P] the standardised params, [B][Th] their MLP */
  int   *pdrop;                                     /* [B] 1: sample b took the null condition */
  float *col, *scratch;
  size_t col_size, scratch_size, bytes;
  int   *labels;
} Graph;

static inline int gn_groups(int C)
{
  for (int g = 8; g > 1; g--)
    if (C % g == 0) return g;
  return 1;
}

static inline int new_act3(Graph *gr, int C, int D, int H, int W)
{
  Act *a = &gr->acts[gr->nacts];
  a->C = C, a->D = D, a->H = H, a->W = W, a->view = 0, a->v = a->g = NULL;
  return gr->nacts++;
}

static inline int new_act(Graph *gr, int C, int H, int W) { return new_act3(gr, C, 1, H, W); }

/* Floats of an activation for a batch of B. */
static inline size_t act_size(const Act *a, int B) { return (size_t)a->C * B * a->D * a->H * a->W; }

static inline Op *new_op(Graph *gr, OpType type, int in0, int in1, int out)
{
  Op *op = &gr->ops[gr->nops++];
  memset(op, 0, sizeof(*op));
  op->type = type, op->in0 = in0, op->in1 = in1, op->out = out;
  return op;
}

/* config.c */
void           bo_model_padded_grid(const BOModelConfig *cfg, int *H, int *W);
PetscErrorCode bo_model_config_check(const BOModelConfig *cfg);
/* build.c */
PetscErrorCode bo_model_build_graph(BOModel m);
/* plan.c */
PetscErrorCode bo_model_plan(BOModel m, int B);
PetscErrorCode bo_model_alloc_gradients(Graph *gr);
PetscErrorCode bo_model_free_workspaces(Graph *gr);

#endif
