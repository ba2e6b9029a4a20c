/* BOModel forward and backward passes: the input scaling, the time MLP and
 * the list of Ops, run in order and in reverse. */
#include <math.h>
#include <string.h>
#include "modelimpl.h"

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
    bo_concat_forward(act_size(x, gr->B), act_size(x1, gr->B), x->v, x1->v, y->v);
  } break;
  case OP_UPSAMPLE: bo_upsample2x_forward(x->C * gr->B, x->H, x->W, x->v, y->v); break;
  case OP_CONV3D: bo_conv3d_forward(&op->L.conv3.s, x->v, op->L.conv3.w, op->L.conv3.b, y->v, gr->col, 0); break;
  case OP_RES3D: bo_resblock3d_forward(&op->L.res3.s, &op->L.res3.p, x->v, gr->se, &op->L.res3.a, y->v, gr->col); break;
  case OP_UPSAMPLE3D: bo_upsample3d_forward(x->C * gr->B, x->D, x->H, x->W, op->fz, x->v, y->v); break;
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
    bo_concat_backward(act_size(x, gr->B), act_size(x1, gr->B), y->g, x->g, x1->g, op->acc0, op->acc1);
  } break;
  case OP_UPSAMPLE: bo_upsample2x_backward(x->C * gr->B, x->H, x->W, y->g, x->g, op->acc0); break;
  case OP_CONV3D: {
    Conv3dLayer *c = &op->L.conv3;
    bo_conv3d_backward(&c->s, x->v, c->w, y->g, x->g, c->dw, c->db, gr->col, op->acc0);
  } break;
  case OP_RES3D: {
    Res3dLayer *R = &op->L.res3;
    bo_resblock3d_backward(&R->s, &R->p, &R->g, x->v, gr->se, &R->a, y->g, x->g, gr->dse, gr->col, gr->scratch,
                           op->acc0);
  } break;
  case OP_UPSAMPLE3D: bo_upsample3d_backward(x->C * gr->B, x->D, x->H, x->W, op->fz, y->g, x->g, op->acc0); break;
  case OP_GNSILU: {
    NormLayer *N = &op->L.norm;
    bo_groupnorm_backward(&N->s, x->v, N->gamma, N->beta, N->mean, N->rstd, y->g, x->g, N->dgamma, N->dbeta, op->acc0);
  } break;
  }
}

/* The input fields of sample b at site (z, y, x), standardised per channel
 * by the training statistics, into the channels after the counts' and the
 * noise's; zero (the mean field) when there are none or the condition is
 * dropped. */
static void scatter_condition_fields(BOModel m, const BOForwardInputs *in, int B, int b, int z, int y, int x, float *x0)
{
  Graph       *gr = (Graph *)m->impl;
  const int    Ci = (int)m->cfg.num_inputs, c0 = gr->Cin - Ci, D = gr->D, H = gr->H, W = gr->W, Nx = (int)m->cfg.Nx;
  const int    off  = !in || !in->inputs || (in->drop && in->drop[b]);
  const size_t site = (((size_t)b * m->cfg.Nz + z) * m->cfg.Ny + y) * Nx + x;
  const float *f    = off ? NULL : in->inputs + site * Ci;

  for (int j = 0; j < Ci; j++)
    x0[((((size_t)(c0 + j) * B + b) * D + z) * H + y) * W + x] =
        f ? (float)((f[j] - m->cfg.input_mean[j]) / m->cfg.input_sd[j]) : 0.0f;
}

/* Scale counts into the network's input: [C][B][D][H][W] on the (padded)
 * grid (D = Nz, 1 in 2-D). Sample b, site (z, y, x), component c is
 * nt[b][((z Ny + y) Nx + x) C + c]; vectors are the case Nz = Ny = Nx = 1,
 * C = G. The padding is zero.
 *
 * linear: (n - N/2 p)/(N/2), one scale for all components. log1p: log(1 + n)
 * per element. Count vectors mix components of very different sizes (genes
 * with mean 0.2 next to genes with mean 8 and tails to 80): the linear
 * scaling maps one count of a small gene to 1/40 of the input range, while
 * log(1 + n) separates 0, 1, 2, ... by O(1) steps and compresses the tails.
 * It needs no statistics of the data, so a checkpoint stays self-contained. */
static void scatter_input(BOModel m, int B, const float *nt, const double *pk, const BOForwardInputs *in, float *x0)
{
  const float *noise = in ? in->noise : NULL;
  Graph       *gr    = (Graph *)m->impl;
  const int    Ny    = m->cfg.kind == BO_MODEL_UNET ? (int)m->cfg.Ny : 1,
            Nx       = m->cfg.kind == BO_MODEL_UNET ? (int)m->cfg.Nx : 1;
  const int    C = gr->Cout, Cn = (int)m->cfg.noise_channels, D = gr->D, H = gr->H, W = gr->W;
  const double half    = 0.5 * m->cfg.max_count;
  const int    use_log = m->cfg.input == BO_INPUT_LOG1P;

  if (H != Ny || W != Nx) memset(x0, 0, sizeof(float) * (size_t)gr->Cin * B * D * H * W);
  for (int b = 0; b < B; b++) {
    const float shift = (float)(half * pk[b]), inv = (float)(1.0 / half);
    for (int z = 0; z < D; z++)
      for (int y = 0; y < Ny; y++)
        for (int x = 0; x < Nx; x++) {
          const size_t cell = ((size_t)z * Ny + y) * Nx + x, site = (size_t)b * D * Ny * Nx + cell;
          float       *px = x0 + ((size_t)b * D + z) * H * W + (size_t)y * W + x; /* channel 0 */
          const size_t cs = (size_t)B * D * H * W;                                /* channel stride */
          for (int c = 0; c < C; c++) {
            const float n = nt[site * C + c];
            px[c * cs]    = use_log ? log1pf(n) : (n - shift) * inv;
          }
          /* the noise channels follow the counts' (a sample's noise: its cells' channels, then the latent) */
          const float *nz = noise ? noise + (size_t)b * BOModelNoiseDim(m) + cell * Cn : NULL;
          for (int j = 0; j < Cn; j++) px[(C + j) * cs] = nz ? nz[j] : 0.0f;
          scatter_condition_fields(m, in, B, b, z, y, x, x0);
        }
  }
}

/* The transpose of scatter_input's index map (without scaling); with
 * to_net = 1 it scatters a [B][D] array onto the grid, zero outside. */
static void gather_output(BOModel m, int B, float *net, float *out, int to_net)
{
  Graph    *gr = (Graph *)m->impl;
  const int Ny = m->cfg.kind == BO_MODEL_UNET ? (int)m->cfg.Ny : 1,
            Nx = m->cfg.kind == BO_MODEL_UNET ? (int)m->cfg.Nx : 1;
  const int C = gr->Cout, D = gr->D, H = gr->H, W = gr->W;

  if (to_net && (H != Ny || W != Nx)) memset(net, 0, sizeof(float) * (size_t)C * B * D * H * W);
  for (int b = 0; b < B; b++)
    for (int z = 0; z < D; z++)
      for (int y = 0; y < Ny; y++)
        for (int x = 0; x < Nx; x++)
          for (int c = 0; c < C; c++) {
            float *pn = net + ((((size_t)c * B + b) * D + z) * H + y) * W + x,
                  *po = out + (((size_t)b * D + z) * Ny * Nx + (size_t)y * Nx + x) * C + c;
            if (to_net) *pn = *po;
            else *po = *pn;
          }
}

/* The parameters' embedding added to e: tp = Lp2(silu(Lp1(u))) with u =
 * (p - mean)/sd per column (the training statistics), or the learned null
 * vector for a dropped sample (condition dropout, guidance's null branch).
 * Physical values in, so a checkpoint takes what the simulator takes. */
static PetscErrorCode params_forward(BOModel m, int B, const BOForwardInputs *in)
{
  Graph         *gr = (Graph *)m->impl;
  const PetscInt P  = m->cfg.num_params;

  PetscFunctionBegin;
  for (int b = 0; b < B; b++) {
    gr->pdrop[b] = !in || !in->params || (in->drop && in->drop[b]);
    for (PetscInt j = 0; j < P; j++) {
      const double v = gr->pdrop[b] ? m->cfg.param_mean[j] : in->params[(size_t)b * P + j];
      PetscCheck(isfinite(v), PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
                 "model: parameter %" PetscInt_FMT " of sample %d is %g", j, b, v);
      gr->up[(size_t)b * P + j] = (float)((v - m->cfg.param_mean[j]) / m->cfg.param_sd[j]);
    }
  }
  bo_linear_forward(B, (int)P, gr->Th, gr->up, gr->lp1_w, gr->lp1_b, gr->tp1);
  bo_silu_forward((size_t)B * gr->Th, gr->tp1, gr->tp1s);
  bo_linear_forward(B, gr->Th, gr->Th, gr->tp1s, gr->lp2_w, gr->lp2_b, gr->tp);
  for (int b = 0; b < B; b++) {
    const float *add = gr->pdrop[b] ? gr->pnull : gr->tp + (size_t)b * gr->Th;
    for (int j = 0; j < gr->Th; j++) gr->e[(size_t)b * gr->Th + j] += add[j];
  }
  PetscFunctionReturn(0);
}

/* de reaches the MLP for the kept samples and the null vector for the
 * dropped ones (whose MLP output was not used: zero gradient there). */
static void params_backward(BOModel m, int B)
{
  Graph *gr = (Graph *)m->impl;

  for (int b = 0; b < B; b++) {
    const float *de  = gr->de + (size_t)b * gr->Th;
    float       *dtp = gr->dtp + (size_t)b * gr->Th;
    for (int j = 0; j < gr->Th; j++) {
      dtp[j] = gr->pdrop[b] ? 0.0f : de[j];
      if (gr->pdrop[b]) gr->dpnull[j] += de[j];
    }
  }
  bo_linear_backward(B, gr->Th, gr->Th, gr->tp1s, gr->lp2_w, gr->dtp, gr->dtp1s, gr->dlp2_w, gr->dlp2_b, 0);
  bo_silu_backward((size_t)B * gr->Th, gr->tp1, gr->dtp1s, gr->dtp1, 0);
  bo_linear_backward(B, (int)m->cfg.num_params, gr->Th, gr->up, gr->lp1_w, gr->dtp1, NULL, gr->dlp1_w, gr->dlp1_b, 0);
}

/* The time MLP e = L2(silu(L1(emb(k)))), plus the label's embedding, plus
 * the noise latent's Lz(z) for a distributional network, plus the total's
 * Lu2(silu(Lu1(u))) for a network conditioned on it, plus the parameters'
 * embedding (params_forward): every residual block sees them as its
 * per-channel bias. */
static PetscErrorCode time_mlp_forward(BOModel m, int B, const PetscInt *k, const BOForwardInputs *in)
{
  const PetscInt *labels = in ? in->labels : NULL;
  const float    *noise  = in ? in->noise : NULL;
  Graph          *gr     = (Graph *)m->impl;
  const size_t    n      = (size_t)B * gr->Th;

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
  if (m->cfg.noise_latent > 0) {
    const PetscInt Z = m->cfg.noise_latent, nd = BOModelNoiseDim(m);
    for (int b = 0; b < B; b++)
      for (PetscInt j = 0; j < Z; j++) gr->z[(size_t)b * Z + j] = noise ? noise[(size_t)b * nd + nd - Z + j] : 0.0f;
    bo_linear_forward(B, (int)Z, gr->Th, gr->z, gr->lz_w, gr->lz_b, gr->ez);
    for (size_t i = 0; i < n; i++) gr->e[i] += gr->ez[i];
  }
  if (m->cfg.condition_total) {
    PetscCheck(in && in->totals, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL,
               "model: the network is conditioned on members' totals, and none were given");
    for (int b = 0; b < B; b++) gr->u[b] = (float)((log1p(in->totals[b]) - m->cfg.total_mean) / m->cfg.total_sd);
    bo_linear_forward(B, 1, gr->Th, gr->u, gr->lu1_w, gr->lu1_b, gr->tu1);
    bo_silu_forward(n, gr->tu1, gr->tu1s);
    bo_linear_forward(B, gr->Th, gr->Th, gr->tu1s, gr->lu2_w, gr->lu2_b, gr->tu);
    for (size_t i = 0; i < n; i++) gr->e[i] += gr->tu[i];
  }
  if (m->cfg.num_params > 0) PetscCall(params_forward(m, B, in));
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
  if (m->cfg.noise_latent > 0)
    bo_linear_backward(B, (int)m->cfg.noise_latent, gr->Th, gr->z, gr->lz_w, gr->de, NULL, gr->dlz_w, gr->dlz_b, 0);
  if (m->cfg.condition_total) {
    bo_linear_backward(B, gr->Th, gr->Th, gr->tu1s, gr->lu2_w, gr->de, gr->dtu1s, gr->dlu2_w, gr->dlu2_b, 0);
    bo_silu_backward(n, gr->tu1, gr->dtu1s, gr->dtu1, 0);
    bo_linear_backward(B, 1, gr->Th, gr->u, gr->lu1_w, gr->dtu1, NULL, gr->dlu1_w, gr->dlu1_b, 0);
  }
  if (m->cfg.num_params > 0) params_backward(m, B);
  bo_linear_backward(B, gr->Th, gr->Th, gr->t1s, gr->l2_w, gr->de, gr->dt1s, gr->dl2_w, gr->dl2_b, 0);
  bo_silu_backward(n, gr->t1, gr->dt1s, gr->dt1, 0);
  bo_linear_backward(B, gr->Td, gr->Th, gr->emb, gr->l1_w, gr->dt1, NULL, gr->dl1_w, gr->dl1_b, 0);
}

PetscErrorCode BOModelForward(BOModel m, PetscInt B, const float *nt, const PetscInt *k, const double *pk,
                              const BOForwardInputs *in, float *out)
{
  Graph *gr = (Graph *)m->impl;

  PetscFunctionBegin;
  PetscCheck(B > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "BOModelForward: batch %" PetscInt_FMT, B);
  PetscCall(bo_model_plan(m, (int)B));
  PetscCall(time_mlp_forward(m, (int)B, k, in));
  scatter_input(m, (int)B, nt, pk, in, gr->acts[0].v);
  for (int i = 0; i < gr->nops; i++) op_forward(gr, &gr->ops[i]);
  gather_output(m, (int)B, gr->acts[gr->nacts - 1].v, out, 0);
  PetscFunctionReturn(0);
}

PetscInt BOModelNoiseDim(BOModel m)
{
  return m->cfg.noise_channels * (m->cfg.kind == BO_MODEL_UNET ? m->cfg.Nz * m->cfg.Ny * m->cfg.Nx : 1) +
         m->cfg.noise_latent;
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
  PetscCall(bo_model_alloc_gradients(gr));
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
