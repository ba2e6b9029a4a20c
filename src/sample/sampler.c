/* BOSampler: ensembles from a checkpoint, conditioning, PETSc coupling. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bo_checkpoint.h"
#include "bo_dataset.h"
#include "bo_h5.h"
#include "bo_io.h"
#include "bo_sampler.h"
#include "bo_sys.h"
#include "sampleimpl.h"

PetscErrorCode BOSamplerCreate(MPI_Comm comm, BOSampler *s)
{
  BOSampler t;

  PetscFunctionBegin;
  PetscCall(PetscNew(&t));
  t->comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &t->rank));
  PetscCallMPI(MPI_Comm_size(comm, &t->size));
  t->step_type   = BO_REVERSE_BRIDGE;
  t->K           = 100;
  t->micro_batch = 16;
  t->label       = -1;
  t->guidance    = 0.0;
  t->max_count   = -1; /* from the checkpoint: the data's maximum count */
  t->use_ema     = PETSC_TRUE;
  t->calibrate   = PETSC_TRUE;
  t->seed        = 1;
  t->mass        = -1;
  t->knn         = 32;
  t->inputs_knn  = 32;
  PetscCall(PetscStrncpy(t->mass_from, "auto", sizeof(t->mass_from)));
  PetscCall(PetscStrncpy(t->label_from, "auto", sizeof(t->label_from)));
  PetscCall(BOProcessCreate(comm, &t->proc));
  PetscCall(BOLogRegister());
  *s = t;
  PetscFunctionReturn(0);
}

PetscErrorCode BOSamplerSetFromOptions(BOSampler s)
{
  PetscInt seed = (PetscInt)s->seed;

  PetscBool mass_set = PETSC_FALSE, params_set = PETSC_FALSE;
  char      adjust[16] = "none";

  PetscFunctionBegin;
  PetscOptionsBegin(s->comm, NULL, "Blackout sampling", NULL);
  PetscCall(PetscOptionsString("-checkpoint", "checkpoint written by bo_train", NULL, s->checkpoint, s->checkpoint,
                               sizeof(s->checkpoint), NULL));
  PetscCall(PetscOptionsEnum("-sampler", "reverse sampler", NULL, BOReverseStepTypes, (PetscEnum)s->step_type,
                             (PetscEnum *)&s->step_type, NULL));
  PetscCall(
      PetscOptionsInt("-sample_steps", "reverse steps K (1..T; fewer is faster and coarser)", NULL, s->K, &s->K, NULL));
  PetscCall(
      PetscOptionsReal("-sample_grid_power",
                       "where the steps fall: step j ends at p = (j/(K-1))^a (1: even in p; larger: short first steps)",
                       NULL, s->proc->grid_power, &s->proc->grid_power, NULL));
  PetscCall(PetscOptionsReal("-sample_empty_hurdle",
                             "q in [0, 1): an empty cell is open at a step with probability 1 - q r (0: off)", NULL,
                             s->proc->empty_hurdle, &s->proc->empty_hurdle, NULL));
  PetscCall(PetscOptionsInt("-batch", "members per micro-batch (part of the ensemble's identity)", NULL, s->micro_batch,
                            &s->micro_batch, NULL));
  PetscCall(PetscOptionsInt("-seed", "random seed", NULL, seed, &seed, NULL));
  PetscCall(PetscOptionsInt("-label", "class to generate (conditional models; -1: unconditional)", NULL, s->label,
                            &s->label, NULL));
  PetscCall(PetscOptionsString("-label_from",
                               "without -label: train (each member gets a training member's label, drawn at random), "
                               "none (the null class), or auto (train for a class-conditioned network)",
                               NULL, s->label_from, s->label_from, sizeof(s->label_from), NULL));
  PetscCall(PetscOptionsReal("-guidance", "classifier-free guidance weight w (0: plain conditional)", NULL, s->guidance,
                             &s->guidance, NULL));
  PetscCall(PetscOptionsReal("-cap", "largest count a member may reach (default: the training data's maximum; 0: none)",
                             NULL, s->max_count, &s->max_count, NULL));
  PetscCall(PetscOptionsBool("-use_ema", "sample with the EMA weights", NULL, s->use_ema, &s->use_ema, NULL));
  PetscCall(PetscOptionsBool("-calibration",
                             "correct the predictions by the checkpoint's calibration on exact training states", NULL,
                             s->calibrate, &s->calibrate, NULL));
  PetscCall(PetscOptionsString("-condition", "HDF5 file with `value` and `mask` of observed cells", NULL, s->condition,
                               s->condition, sizeof(s->condition), NULL));
  PetscCall(PetscOptionsReal("-mass", "every member's total count (default: drawn, see -mass_from)", NULL, s->mass,
                             &s->mass, &mass_set));
  PetscCall(PetscOptionsString("-mass_from",
                               "where members' totals are drawn from: train (the checkpoint's training totals), none, "
                               "a data file, or auto (train for a network conditioned on the total, none otherwise)",
                               NULL, s->mass_from, s->mass_from, sizeof(s->mass_from), NULL));
  s->nparam_values = BO_MODEL_MAX_PARAMS + 1; /* one more than any network takes: too many is an error */
  PetscCall(PetscOptionsRealArray("-params",
                                  "simulator parameters v1,v2,... of a network conditioned on them (physical units, "
                                  "in the order of the checkpoint's names)",
                                  NULL, s->param_values, &s->nparam_values, &params_set));
  if (!params_set) s->nparam_values = 0;
  PetscCall(PetscOptionsString("-params_file",
                               "HDF5 file whose params rows are parameter points: -n members each, point-major", NULL,
                               s->params_file, s->params_file, sizeof(s->params_file), NULL));
  PetscCall(PetscOptionsInt("-params_knn",
                            "members' totals are drawn from this many training members nearest to their params", NULL,
                            s->knn, &s->knn, NULL));
  if (s->knn_linear) PetscCall(PetscStrncpy(adjust, "linear", sizeof(adjust)));
  PetscCall(PetscOptionsString("-params_knn_adjust",
                               "none (the nearest members' totals as they are) or linear (each moved to the point by "
                               "a least-squares fit of total on params over them)",
                               NULL, adjust, adjust, sizeof(adjust), NULL));
  PetscCall(PetscOptionsString("-inputs", "HDF5 file with dataset inputs: one input field per member, or one for all",
                               NULL, s->inputs_file, s->inputs_file, sizeof(s->inputs_file), NULL));
  PetscCall(PetscOptionsInt("-inputs_knn",
                            "members' totals are drawn from this many training members whose input fields are "
                            "nearest to theirs (on a coarse grid)",
                            NULL, s->inputs_knn, &s->inputs_knn, NULL));
  PetscOptionsEnd();
  s->seed = (uint64_t)seed;
  PetscCheck(!strcmp(adjust, "none") || !strcmp(adjust, "linear"), s->comm, PETSC_ERR_ARG_WRONG,
             "-params_knn_adjust %s: must be none or linear", adjust);
  s->knn_linear = (PetscBool)!strcmp(adjust, "linear");
  /* checked here, on every rank, not only where members are generated: a rank
   * with no block of its own would otherwise wait in the writer */
  PetscCall(BOProcessCheckSampling(s->proc));
  PetscCheck(s->knn >= 1, s->comm, PETSC_ERR_ARG_OUTOFRANGE, "-params_knn %" PetscInt_FMT ": must be >= 1", s->knn);
  PetscCheck(s->inputs_knn >= 1, s->comm, PETSC_ERR_ARG_OUTOFRANGE, "-inputs_knn %" PetscInt_FMT ": must be >= 1",
             s->inputs_knn);
  PetscCheck(s->micro_batch >= 1, s->comm, PETSC_ERR_ARG_OUTOFRANGE, "-batch %" PetscInt_FMT ": must be >= 1",
             s->micro_batch);
  PetscCheck(s->guidance >= 0 && isfinite(s->guidance), s->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-guidance %g: must be a finite number >= 0", (double)s->guidance);
  PetscCheck(s->label >= -1, s->comm, PETSC_ERR_ARG_OUTOFRANGE, "-label %" PetscInt_FMT ": must be a class (>= 0)",
             s->label);
  PetscCheck(s->max_count == -1 || (s->max_count >= 0 && isfinite(s->max_count)), s->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-cap %g: must be >= 0 (0: none)", (double)s->max_count);
  PetscCheck(!mass_set || (s->mass >= 0 && s->mass == floor(s->mass) && s->mass <= BO_MAX_EXACT_COUNT), s->comm,
             PETSC_ERR_ARG_OUTOFRANGE, "-mass %g: must be a non-negative integer", (double)s->mass);
  PetscFunctionReturn(0);
}

PetscErrorCode BOSamplerSetUp(BOSampler s)
{
  PetscFunctionBegin;
  if (!s->model) {
    PetscCheck(s->checkpoint[0], s->comm, PETSC_ERR_ARG_WRONG, "-checkpoint FILE is required");
    PetscCall(BOCheckpointLoadModel(s->comm, s->checkpoint, s->use_ema, s->proc, &s->model, &s->checksum));
  }
  PetscCheck(s->K >= 1 && s->K <= s->proc->T, s->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-sample_steps %" PetscInt_FMT ": must be between 1 and T = %" PetscInt_FMT, s->K, s->proc->T);
  if (s->label >= 0)
    PetscCheck(s->model->cfg.num_classes > 0 && s->label < s->model->cfg.num_classes, s->comm, PETSC_ERR_ARG_OUTOFRANGE,
               s->model->cfg.num_classes ? "-label %" PetscInt_FMT ": the model knows labels 0..%" PetscInt_FMT
                                         : "-label %" PetscInt_FMT
                                           ": the model was trained without labels%.0" PetscInt_FMT,
               s->label, s->model->cfg.num_classes - 1);
  if (s->max_count < 0) s->max_count = s->model->cfg.max_count;
  { /* refused before it is allocated when a micro-batch cannot fit */
    double need;
    char   what[64];
    PetscCall(BOModelEstimateWorkspace(s->model, 2 * s->micro_batch, PETSC_FALSE, &need)); /* 2: guidance */
    need += (double)sizeof(float) * 4.0 * (double)s->micro_batch * (double)s->model->dim;
    snprintf(what, sizeof(what), "-batch %" PetscInt_FMT, s->micro_batch);
    PetscCall(BOCheckMemory(s->comm, what, need));
  }
  PetscCall(PetscFree3(s->k, s->labels, s->pk));
  PetscCall(PetscFree2(s->out, s->out_uncond));
  PetscCall(PetscMalloc3(s->micro_batch, &s->k, s->micro_batch, &s->labels, s->micro_batch, &s->pk));
  PetscCall(PetscMalloc2(s->micro_batch * s->model->dim, &s->out, s->micro_batch * s->model->dim, &s->out_uncond));
  if (s->condition[0] && !s->obs_mask) PetscCall(BOSamplerLoadObservations(s, s->condition));
  PetscCall(bo_sample_set_up_conditions(s));
  PetscCall(bo_sample_set_up_params(s));
  PetscCall(PetscFree(s->noise));
  if (BOModelNoiseDim(s->model) > 0) PetscCall(PetscMalloc1(s->micro_batch * BOModelNoiseDim(s->model), &s->noise));
  /* the calibration was measured on the EMA weights of a mean network */
  s->calibrate = s->calibrate && s->use_ema && !s->noise && s->proc->cal_bins > 0 ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(0);
}

PetscErrorCode BOSamplerView(BOSampler s, PetscViewer viewer)
{
  PetscFunctionBegin;
  if (!viewer) PetscCall(PetscViewerASCIIGetStdout(s->comm, &viewer));
  PetscCall(PetscViewerASCIIPrintf(
      viewer,
      "bo_sample: %s sampler, %" PetscInt_FMT " steps (grid power %g), micro-batch %" PetscInt_FMT
      ", seed %llu, %d rank%s, %s weights of %s\n",
      BOReverseStepTypes[s->step_type], s->K, (double)s->proc->grid_power, s->micro_batch, (unsigned long long)s->seed,
      s->size, s->size > 1 ? "s" : "", s->use_ema ? "EMA" : "raw", s->checkpoint));
  if (s->proc->empty_hurdle > 0)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "  empty cells open at a step with probability 1 - %g r (-sample_empty_hurdle)\n",
                                     (double)s->proc->empty_hurdle));
  if (s->label >= 0)
    PetscCall(
        PetscViewerASCIIPrintf(viewer, "  label %" PetscInt_FMT ", guidance %g\n", s->label, (double)s->guidance));
  else if (s->guidance > 0)
    PetscCall(PetscViewerASCIIPrintf(viewer, "  guidance %g toward each member's label\n", (double)s->guidance));
  if (s->obs_mask) {
    PetscInt nobs = 0;
    for (PetscInt i = 0; i < s->model->dim; i++) nobs += s->obs_mask[i] != 0;
    PetscCall(PetscViewerASCIIPrintf(viewer, "  %" PetscInt_FMT " observed cells\n", nobs));
  }
  if (s->calibrate)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "  predictions calibrated on exact training states (%" PetscInt_FMT
                                     " bins of time; -calibration false: raw)\n",
                                     s->proc->cal_bins));
  PetscCall(bo_sample_view_conditions(s, viewer));
  PetscCall(bo_sample_view_params(s, viewer));
  PetscCall(BOModelView(s->model, viewer));
  PetscFunctionReturn(0);
}

PetscErrorCode BOSamplerDestroy(BOSampler *s)
{
  PetscFunctionBegin;
  if (!*s) PetscFunctionReturn(0);
  PetscCall(PetscFree3((*s)->k, (*s)->labels, (*s)->pk));
  PetscCall(PetscFree2((*s)->out, (*s)->out_uncond));
  PetscCall(PetscFree2((*s)->obs_value, (*s)->obs_mask));
  PetscCall(bo_sample_destroy_conditions(*s));
  PetscCall(bo_sample_destroy_params(*s));
  PetscCall(PetscFree((*s)->noise));
  PetscCall(BOModelDestroy(&(*s)->model));
  PetscCall(BOProcessDestroy(&(*s)->proc));
  PetscCall(PetscFree(*s));
  PetscFunctionReturn(0);
}

/* ---- the predictor: the network, with guidance ------------------------- */
static PetscErrorCode network_predict(void *ctx, PetscInt nm, PetscInt dim, const float *state, PetscInt k, float *yhat)
{
  BOSampler s    = (BOSampler)ctx;
  PetscInt  null = s->model->cfg.num_classes;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(BOLog.sample_net, 0, 0, 0, 0));
  for (PetscInt b = 0; b < nm; b++) {
    s->k[b]      = k;
    s->pk[b]     = s->proc->p[k];
    s->labels[b] = s->member_labels[b] >= 0 ? s->member_labels[b] : null;
  }
  if (s->noise) /* a distributional network: fresh noise per member and step */
    for (PetscInt b = 0; b < nm; b++) {
      const PetscInt nd = BOModelNoiseDim(s->model);
      BORng          rng;
      BORngInit(&rng, s->seed, BO_RNG_SAMPLE_INPUT, (uint32_t)(s->block_first + b), (uint32_t)k);
      for (PetscInt i = 0; i < nd; i++) s->noise[b * nd + i] = (float)BORngNormal(&rng);
    }
  BOForwardInputs in = {.labels = null ? s->labels : NULL,
                        .noise  = s->noise,
                        .totals = s->totals,
                        .params = s->block_params,
                        .inputs = s->block_inputs};
  PetscCall(BOModelForward(s->model, nm, state, s->k, s->pk, &in, s->out));
  if ((s->label >= 0 || s->draw_labels || s->block_params || s->block_inputs) && s->guidance > 0) {
    /* classifier-free guidance on log rates:
     * log yhat = (1+w) log yhat_cond - w log yhat_uncond,
     * unconditional: the null label, params and inputs */
    const double w = s->guidance;
    for (PetscInt b = 0; b < nm; b++) s->labels[b] = null;
    in.labels = s->labels, in.drop = s->drop_all;
    PetscCall(BOModelForward(s->model, nm, state, s->k, s->pk, &in, s->out_uncond));
    for (PetscInt i = 0; i < nm * dim; i++)
      yhat[i] = (float)exp((1.0 + w) * BOLogSoftplus(s->out[i]) - w * BOLogSoftplus(s->out_uncond[i]));
  } else {
    for (PetscInt i = 0; i < nm * dim; i++) yhat[i] = (float)BOSoftplus(s->out[i]);
  }
  if (s->calibrate) { /* bo_train's ratios of realised to predicted births at this time, empty and occupied cells */
    const double c0 = BOProcessCalibration(s->proc, k, PETSC_TRUE), c1 = BOProcessCalibration(s->proc, k, PETSC_FALSE);
    for (PetscInt i = 0; i < nm * dim; i++) yhat[i] *= (float)(state[i] == 0.0f ? c0 : c1);
  }
  PetscCall(PetscLogEventEnd(BOLog.sample_net, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

PetscErrorCode BOSamplerGenerateLocal(BOSampler s, PetscInt first, PetscInt count, float *x)
{
  const PetscInt D = s->model->dim, B = s->micro_batch;

  PetscFunctionBegin;
  PetscCheck(first % B == 0, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG,
             "first member %" PetscInt_FMT " is not aligned to the micro-batch %" PetscInt_FMT, first, B);
  for (PetscInt b0 = 0; b0 < count; b0 += B) {
    PetscInt nb = PetscMin(B, count - b0);
    PetscCall(BOSamplerMemberConditions(s, first + b0, nb, s->member_labels, s->totals));
    PetscCall(BOSamplerMemberParams(s, first + b0, nb, s->block_params, s->block_inputs));
    s->block_first = first + b0;
    PetscCall(BOProcessGenerate(s->proc, s->step_type, s->K, s->max_count, network_predict,
                                s->noise ? PETSC_TRUE : PETSC_FALSE, s, s->seed, first + b0, nb, D, s->obs_value,
                                s->obs_mask, s->totals, x + b0 * D));
  }
  PetscFunctionReturn(0);
}

/* The params and inputs of the block's members (cnt, from member first + lo)
 * into the output, at rows lo ... Collective (cnt may be 0). */
static PetscErrorCode write_member_params(BOSampler s, BOWriter w, PetscInt first, PetscInt lo, PetscInt cnt)
{
  PetscFunctionBegin;
  if (cnt > 0) PetscCall(BOSamplerMemberParams(s, first + lo, cnt, s->block_params, s->block_inputs));
  if (s->npoints > 0) PetscCall(BOWriterWriteParams(w, cnt > 0 ? lo : 0, cnt, s->block_params));
  if (s->ninput_fields > 0) PetscCall(BOWriterWriteInputs(w, cnt > 0 ? lo : 0, cnt, s->block_inputs));
  PetscFunctionReturn(0);
}

PetscErrorCode BOSamplerWriteEnsemble(BOSampler s, PetscInt first, PetscInt n, const char *path)
{
  const PetscInt D = s->model->dim, B = s->micro_batch;
  const PetscInt nblocks = (n + B - 1) / B, rounds = (nblocks + s->size - 1) / s->size;
  BOModelConfig *cfg = &s->model->cfg;
  BOWriter       w;
  float         *x;
  PetscInt       shape[4], ndim;
  double         start = BOWallTime(), last = start;
  char           text[PETSC_MAX_PATH_LEN + 64];

  PetscFunctionBegin;
  PetscCheck(n >= 1, s->comm, PETSC_ERR_ARG_OUTOFRANGE, "-n %" PetscInt_FMT ": need at least one member", n);
  PetscCheck(first >= 0 && first % B == 0, s->comm, PETSC_ERR_ARG_WRONG,
             "-first_member %" PetscInt_FMT " must be a multiple of -batch %" PetscInt_FMT
             " (blocks are the ensemble's units)",
             first, B);
  PetscCheck(!s->params_file[0] || first == 0, s->comm, PETSC_ERR_ARG_INCOMP,
             "-first_member %" PetscInt_FMT " with -params_file %s: a shard's members would go to other points; split "
             "the points file into one file per job instead",
             first, s->params_file);
  /* per-member fields: member m takes field m, so a shard needs the fields up to its last member */
  PetscCheck(s->ninput_fields <= 1 || s->ninput_fields >= first + n, s->comm, PETSC_ERR_ARG_SIZ,
             "-inputs %s has %" PetscInt_FMT
             " input fields: give one for all members or one per member (at least %" PetscInt_FMT ")",
             s->inputs_file, s->ninput_fields, first + n);
  if (cfg->kind == BO_MODEL_UNET && cfg->Nz > 1) { /* (N, Nz, Ny, Nx[, C]) with Mz and a 3-D sidecar */
    shape[0] = cfg->Nz, shape[1] = cfg->Ny, shape[2] = cfg->Nx, shape[3] = cfg->C;
    ndim = 4;
  } else if (cfg->kind == BO_MODEL_UNET) {
    shape[0] = cfg->Ny, shape[1] = cfg->Nx, shape[2] = cfg->C;
    ndim = cfg->C > 1 ? 3 : 2;
  } else {
    shape[0] = cfg->G;
    ndim     = 1;
  }
  PetscCall(BOWriterCreate(s->comm, path, "counts", n, ndim, shape, &w));
  if (s->max_count > 0) PetscCall(BOWriterSetMaxCount(w, s->max_count));
  PetscCall(BOWriterSetFromOptions(w));
  PetscCall(BOWriterSetAttributeString(w, "checkpoint", s->checkpoint));
  snprintf(text, sizeof(text), "%08x", s->checksum);
  PetscCall(BOWriterSetAttributeString(w, "checkpoint_crc32", text));
  PetscCall(BOWriterSetAttributeInt(w, "seed", (long long)s->seed));
  PetscCall(BOWriterSetAttributeString(w, "sampler", BOReverseStepTypes[s->step_type]));
  /* the hurdle changes the members too: in sample_grid, which -merge compares */
  if (s->proc->empty_hurdle > 0)
    snprintf(text, sizeof(text), "power %g, empty hurdle %g", (double)s->proc->grid_power,
             (double)s->proc->empty_hurdle);
  else snprintf(text, sizeof(text), "power %g", (double)s->proc->grid_power);
  PetscCall(BOWriterSetAttributeString(w, "sample_grid", text));
  PetscCall(BOWriterSetAttributeInt(w, "sample_steps", s->K));
  PetscCall(BOWriterSetAttributeInt(w, "micro_batch", B));
  PetscCall(BOWriterSetAttributeInt(w, "first_member", first));
  PetscCall(BOWriterSetAttributeInt(w, "label", s->label));
  PetscCall(BOWriterSetAttributeString(w, "labels_from", s->draw_labels ? "train" : "none"));
  if (cfg->top_down) PetscCall(BOWriterSetAttributeString(w, "row_order", "top_down")); /* as the training data */
  if (s->draw_labels) PetscCall(BOWriterSetLabels(w, PETSC_TRUE)); /* each member's label, beside counts */
  PetscCall(BOWriterSetAttributeReal(w, "guidance", s->guidance));
  /* every member says what it was conditioned on */
  if (s->npoints > 0) PetscCall(BOWriterSetParams(w, cfg->num_params, cfg->param_names));
  if (s->ninput_fields > 0) PetscCall(BOWriterSetInputs(w, cfg->num_inputs));
  if (s->params_file[0]) PetscCall(BOWriterSetAttributeString(w, "params_file", s->params_file));
  if (s->inputs_file[0]) PetscCall(BOWriterSetAttributeString(w, "inputs_file", s->inputs_file));
  PetscCall(BOWriterSetAttributeInt(w, "observed_cells", s->obs_mask ? 1 : 0));
  PetscCall(BOWriterSetAttributeInt(w, "calibrated", s->calibrate ? 1 : 0)); /* bo_train's calibration applied */
  bo_sample_totals_provenance(s, text, sizeof(text));
  PetscCall(BOWriterSetAttributeString(w, "totals", text));
  PetscCall(PetscMalloc1(B * D, &x));

  PetscCall(PetscLogStagePush(BOLog.sample));
  for (PetscInt r = 0; r < rounds; r++) {
    /* round r: rank q generates block r*size + q (if it exists), then all write */
    PetscInt b = r * s->size + s->rank, lo = b * B, cnt = b < nblocks ? PetscMin(B, n - lo) : 0;
    if (cnt > 0) {
      PetscCall(PetscLogEventBegin(BOLog.sample_steps, 0, 0, 0, 0));
      PetscCall(BOSamplerGenerateLocal(s, first + lo, cnt, x));
      PetscCall(PetscLogEventEnd(BOLog.sample_steps, 0, 0, 0, 0));
    }
    PetscCall(PetscLogEventBegin(BOLog.sample_write, 0, 0, 0, 0));
    PetscCall(BOWriterWrite(w, cnt > 0 ? lo : 0, cnt, x));
    if (s->draw_labels) PetscCall(BOWriterWriteLabels(w, cnt > 0 ? lo : 0, cnt, s->member_labels));
    if (s->npoints > 0 || s->ninput_fields > 0) PetscCall(write_member_params(s, w, first, lo, cnt));
    PetscCall(PetscLogEventEnd(BOLog.sample_write, 0, 0, 0, 0));
    double   now  = BOWallTime();
    PetscInt done = PetscMin(n, (r + 1) * s->size * B);
    if (now - last > 5.0 || r == rounds - 1) {
      double rate = (double)done / (now - start);
      PetscCall(PetscPrintf(s->comm,
                            "members %" PetscInt_FMT "/%" PetscInt_FMT "  %.2f members/s  elapsed %.0fs  ETA %.0fs\n",
                            done, n, rate, now - start, (double)(n - done) / rate));
      last = now;
    }
  }
  PetscCall(PetscLogStagePop());
  PetscCall(BOWriterSetAttributeReal(w, "seconds", BOWallTime() - start));
  PetscCall(BOWriterClose(w));
  PetscCall(BOWriterDestroy(&w));
  PetscCall(PetscFree(x));
  PetscFunctionReturn(0);
}

/* Member m (Nz x Ny x Nx x C, C fastest; Nz = 1 in 2-D) into the part of the DMDA vector this rank owns. */
static PetscErrorCode copy_member_to_dmda(DM da, Vec v, PetscInt dim, const PetscInt size[4], const float *m)
{
  const PetscInt Nx = size[0], Ny = size[1], dof = size[3];
  PetscInt       xs, ys, zs, xm, ym, zm;

  PetscFunctionBegin;
  PetscCall(DMDAGetCorners(da, &xs, &ys, &zs, &xm, &ym, &zm));
  if (dim == 3) {
    PetscScalar ****a;
    PetscCall(DMDAVecGetArrayDOF(da, v, &a));
    for (PetscInt k = zs; k < zs + zm; k++)
      for (PetscInt j = ys; j < ys + ym; j++)
        for (PetscInt i = xs; i < xs + xm; i++)
          for (PetscInt c = 0; c < dof; c++) a[k][j][i][c] = m[((k * Ny + j) * Nx + i) * dof + c];
    PetscCall(DMDAVecRestoreArrayDOF(da, v, &a));
  } else {
    PetscScalar ***a;
    PetscCall(DMDAVecGetArrayDOF(da, v, &a));
    for (PetscInt j = ys; j < ys + ym; j++)
      for (PetscInt i = xs; i < xs + xm; i++)
        for (PetscInt c = 0; c < dof; c++) a[j][i][c] = m[(j * Nx + i) * dof + c];
    PetscCall(DMDAVecRestoreArrayDOF(da, v, &a));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOSamplerFillDMDAVec(BOSampler s, PetscInt member, DM da, Vec v)
{
  BOModelConfig *cfg = &s->model->cfg;
  PetscInt       dim, size[4]; /* M, N, P (1 for a 2-D DMDA), dof */
  float         *x;

  PetscFunctionBegin;
  PetscCall(
      DMDAGetInfo(da, &dim, &size[0], &size[1], &size[2], NULL, NULL, NULL, &size[3], NULL, NULL, NULL, NULL, NULL));
  if (dim == 2) size[2] = 1;
  /* a 2-D network fills a 2-D DMDA (M x N), a 3-D one a 3-D DMDA (M x N x P) */
  PetscCheck(cfg->kind == BO_MODEL_UNET && (dim == 3) == (cfg->Nz > 1) && size[0] == cfg->Nx && size[1] == cfg->Ny &&
                 size[2] == cfg->Nz && size[3] == cfg->C,
             PetscObjectComm((PetscObject)da), PETSC_ERR_ARG_SIZ,
             "%" PetscInt_FMT "-D DMDA %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT " dof %" PetscInt_FMT
             " does not match the model's grid %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT
             " dof %" PetscInt_FMT " (M x N x P: x, y, z)",
             dim, size[0], size[1], size[2], size[3], cfg->Nx, cfg->Ny, cfg->Nz, cfg->C);
  /* Every rank generates the member (the same bits everywhere: randomness
   * is keyed by member, not rank) and keeps the part it owns: no messages. */
  PetscCall(PetscMalloc1(s->micro_batch * s->model->dim, &x));
  PetscCall(BOSamplerGenerateLocal(s, member - member % s->micro_batch, s->micro_batch,
                                   x)); /* the whole block: as in files */
  PetscCall(copy_member_to_dmda(da, v, dim, size, x + (member % s->micro_batch) * s->model->dim));
  PetscCall(PetscFree(x));
  PetscFunctionReturn(0);
}
