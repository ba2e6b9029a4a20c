/* BOModel workspaces: which backward pass overwrites or adds to each
 * gradient, concatenation views, buffers sized for the largest batch seen;
 * flop and memory counts. */
#include <stdlib.h>
#include <string.h>
#include "modelimpl.h"

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
    const size_t na = act_size(a, gr->B);
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
    case OP_CONV3D: op->L.conv3.s.B = B; break;
    case OP_RES3D:
      op->L.res3.s.B = B;
      bo_resblock3d_acts_set(&op->L.res3.s, op->L.res3.acts, &op->L.res3.a);
      break;
    default: break;
    }
  }
  set_views(gr);
}

PetscErrorCode bo_model_plan(BOModel m, int B)
{
  Graph *gr  = (Graph *)m->impl;
  size_t col = 0, scratch = 0, bytes = 0;

  PetscFunctionBegin;
  if (B <= gr->Bcap) {
    set_batch(gr, B);
    PetscFunctionReturn(0);
  }
  PetscCall(bo_model_free_workspaces(gr));
  gr->Bcap = B;
  plan_accumulation(gr);
  plan_views(gr);
  for (int i = 0; i < gr->nacts; i++) {
    size_t n = act_size(&gr->acts[i], B);
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
    case OP_CONV3D:
      op->L.conv3.s.B = B;
      col             = max_sz(col, bo_conv3d_col_size(&op->L.conv3.s));
      break;
    case OP_RES3D:
      op->L.res3.s.B = B;
      n              = bo_resblock3d_acts_size(&op->L.res3.s);
      PetscCall(PetscMalloc1(n, &op->L.res3.acts));
      bytes += n * sizeof(float);
      col     = max_sz(col, bo_resblock3d_col_size(&op->L.res3.s));
      scratch = max_sz(scratch, bo_resblock3d_scratch_size(&op->L.res3.s));
      break;
    default: break;
    }
  }
  /* time MLP: emb [B][Td]; t1, t1s, e, se, dse, de, dt1s, dt1 [B][Th] */
  const size_t tfloats = (size_t)B * (gr->Td + 20 * gr->Th + (int)m->cfg.noise_latent + 1 + (int)m->cfg.num_params);
  PetscCall(PetscMalloc1(tfloats, &gr->emb));
  gr->t1  = gr->emb + (size_t)B * gr->Td;
  gr->t1s = gr->t1 + (size_t)B * gr->Th, gr->e = gr->t1s + (size_t)B * gr->Th, gr->se = gr->e + (size_t)B * gr->Th;
  gr->dse = gr->se + (size_t)B * gr->Th, gr->de = gr->dse + (size_t)B * gr->Th, gr->dt1s = gr->de + (size_t)B * gr->Th;
  gr->dt1 = gr->dt1s + (size_t)B * gr->Th;
  gr->ez = gr->dt1 + (size_t)B * gr->Th, gr->tu1 = gr->ez + (size_t)B * gr->Th;
  gr->tu1s = gr->tu1 + (size_t)B * gr->Th, gr->tu = gr->tu1s + (size_t)B * gr->Th;
  gr->dtu1s = gr->tu + (size_t)B * gr->Th, gr->dtu1 = gr->dtu1s + (size_t)B * gr->Th;
  gr->tp1 = gr->dtu1 + (size_t)B * gr->Th, gr->tp1s = gr->tp1 + (size_t)B * gr->Th;
  gr->tp = gr->tp1s + (size_t)B * gr->Th, gr->dtp = gr->tp + (size_t)B * gr->Th;
  gr->dtp1s = gr->dtp + (size_t)B * gr->Th, gr->dtp1 = gr->dtp1s + (size_t)B * gr->Th;
  gr->u = gr->dtp1 + (size_t)B * gr->Th, gr->z = gr->u + B, gr->up = gr->z + (size_t)B * m->cfg.noise_latent;
  PetscCall(PetscMalloc2(B, &gr->labels, B, &gr->pdrop));
  PetscCall(PetscMalloc1(max_sz(col, 1), &gr->col));
  gr->col_size = col, gr->scratch_size = scratch, gr->have_grads = 0;
  gr->bytes = bytes + (col + tfloats) * sizeof(float);
  set_batch(gr, B);
  PetscFunctionReturn(0);
}

/* Activation gradients and the backward scratch: only training needs them,
 * so the first backward (for this batch capacity) makes them. */
PetscErrorCode bo_model_alloc_gradients(Graph *gr)
{
  PetscFunctionBegin;
  if (gr->have_grads) PetscFunctionReturn(0);
  for (int i = 0; i < gr->nacts; i++) {
    size_t n = act_size(&gr->acts[i], gr->Bcap);
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

/* Floats of the column workspace a batch of B needs (what bo_model_plan
 * would allocate), from copies of the shapes. */
static size_t col_floats(const Graph *gr, int B)
{
  size_t col = 0;
  for (int i = 0; i < gr->nops; i++) {
    const Op *op = &gr->ops[i];
    if (op->type == OP_CONV) {
      BOConvShape s = op->L.conv.s;
      s.B = B, col = max_sz(col, bo_conv_col_size(&s));
    } else if (op->type == OP_RES) {
      BOResBlockShape s = op->L.res.s;
      s.B = B, col = max_sz(col, bo_resblock_col_size(&s));
    } else if (op->type == OP_CONV3D) {
      BOConv3dShape s = op->L.conv3.s;
      s.B = B, col = max_sz(col, bo_conv3d_col_size(&s));
    } else if (op->type == OP_RES3D) {
      BOResBlock3dShape s = op->L.res3.s;
      s.B = B, col = max_sz(col, bo_resblock3d_col_size(&s));
    }
  }
  return col;
}

PetscErrorCode BOModelEstimateWorkspace(BOModel m, PetscInt B, PetscBool training, double *bytes)
{
  Graph *gr = (Graph *)m->impl;
  double one, per;

  PetscFunctionBegin;
  /* the workspace is a fixed part plus a part per sample: plan 1 and 16 */
  PetscCall(bo_model_free_workspaces(gr));
  PetscCall(bo_model_plan(m, 1));
  one = (double)gr->bytes;
  if (gr->d3) one -= (double)gr->col_size * sizeof(float);
  PetscCall(bo_model_plan(m, 16));
  per = ((double)gr->bytes - (gr->d3 ? (double)gr->col_size * sizeof(float) : 0) - one) / 15.0;
  /* the gradients double the activations */
  *bytes = (one + per * (double)(B - 1)) * (training ? 2.0 : 1.0);
  /* A 3-D conv's column workspace grows with the samples of a chunk up to its cap and then stays (concave
   * in B: the line through 1 and 16 fell below it at B = 3 on 4 x 8 x 8), so it is counted exactly, once.
   * (2-D: as before.) */
  if (gr->d3) *bytes += (double)col_floats(gr, (int)B) * sizeof(float);
  PetscFunctionReturn(0);
}

PetscErrorCode BOModelGetFlops(BOModel m, double *flops)
{
  Graph *gr = (Graph *)m->impl;
  double f  = 2.0 * ((double)gr->Td * gr->Th + (double)gr->Th * gr->Th);                               /* time MLP */
  f += 2.0 * ((double)m->cfg.num_params * gr->Th + (double)gr->Th * gr->Th) * (m->cfg.num_params > 0); /* params */

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
    } else if (op->type == OP_CONV3D) {
      BOConv3dShape *s = &op->L.conv3.s;
      f += 2.0 * s->Cout * s->Cin * s->k * s->k * s->k * bo_conv3d_out_d(s) * bo_conv3d_out_h(s) * bo_conv3d_out_w(s);
    } else if (op->type == OP_RES3D) {
      BOResBlock3dShape *s = &op->L.res3.s;
      double             V = (double)s->D * s->H * s->W, kkk = s->k * s->k * s->k;
      f += 2.0 * V * kkk * s->Cout * (s->Cin + s->Cout) + 2.0 * s->E * s->Cout;
      if (s->Cin != s->Cout) f += 2.0 * V * s->Cin * s->Cout;
    } else if (op->type == OP_ATTN) {
      BOAttentionShape *s = &op->L.attn.s;
      f += 2.0 * s->HW * 4.0 * s->C * s->C + 4.0 * (double)s->HW * s->HW * s->C;
    }
  }
  *flops = f;
  PetscFunctionReturn(0);
}

PetscErrorCode bo_model_free_workspaces(Graph *gr)
{
  PetscFunctionBegin;
  for (int i = 0; i < gr->nacts; i++) {
    if (gr->acts[i].view) gr->acts[i].v = gr->acts[i].g = NULL; /* not theirs */
    PetscCall(PetscFree(gr->acts[i].v));
    PetscCall(PetscFree(gr->acts[i].g));
  }
  for (int i = 0; i < gr->nops; i++) {
    if (gr->ops[i].type == OP_RES) PetscCall(PetscFree(gr->ops[i].L.res.acts));
    if (gr->ops[i].type == OP_RES3D) PetscCall(PetscFree(gr->ops[i].L.res3.acts));
    if (gr->ops[i].type == OP_ATTN) PetscCall(PetscFree(gr->ops[i].L.attn.work));
    if (gr->ops[i].type == OP_GNSILU) PetscCall(PetscFree2(gr->ops[i].L.norm.mean, gr->ops[i].L.norm.rstd));
  }
  PetscCall(PetscFree(gr->emb));
  PetscCall(PetscFree(gr->col));
  PetscCall(PetscFree(gr->scratch));
  PetscCall(PetscFree2(gr->labels, gr->pdrop));
  gr->Bcap = 0, gr->bytes = 0, gr->have_grads = 0;
  PetscFunctionReturn(0);
}
