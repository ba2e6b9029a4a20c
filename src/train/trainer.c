/* BOTrainer: the data-parallel training loop, checkpoints and signals. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "bo_checkpoint.h"
#include "bo_sys.h"
#include "bo_trainer.h"

const char *const BOLRSchedules[] = {"constant", "cosine", "BOLRSchedule", "BO_LR_", NULL};
const char *const BOLossTypes[]   = {"poisson", "energy", "BOLossType", "BO_LOSS_", NULL};

static volatile sig_atomic_t stop_requested = 0;
static void                  on_stop_signal(int sig) { stop_requested = sig; }
int                          BOTrainerSignalled(void) { return stop_requested != 0; }

PetscErrorCode BOTrainerInstallSignalHandlers(void)
{
  struct sigaction sa;

  PetscFunctionBegin;
  /* PETSc leaves SIGUSR1 at its default (terminate): Slurm's warning before
   * the time limit would kill the run without a checkpoint. Ctrl-C (SIGINT)
   * checkpoints too, so an interactive run loses nothing. */
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  PetscCheck(sigaction(SIGUSR1, &sa, NULL) == 0 && sigaction(SIGTERM, &sa, NULL) == 0 &&
                 sigaction(SIGINT, &sa, NULL) == 0,
             PETSC_COMM_SELF, PETSC_ERR_SYS, "cannot install signal handlers");
  PetscFunctionReturn(0);
}

/* ---- create / options -------------------------------------------------- */
PetscErrorCode BOTrainerCreate(MPI_Comm comm, BOTrainer *tr)
{
  BOTrainer t;

  PetscFunctionBegin;
  PetscCall(PetscNew(&t));
  t->comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &t->rank));
  PetscCallMPI(MPI_Comm_size(comm, &t->size));
  t->steps                 = 1000;
  t->batch                 = 32;
  t->checkpoint_every      = 500;
  t->keep                  = 3;
  t->warmup                = 100;
  t->lr                    = 1e-3;
  t->beta1                 = 0.9;
  t->beta2                 = 0.999;
  t->adam_eps              = 1e-8;
  t->clip                  = 1.0;
  t->ema_decay             = 0.999;
  t->cond_drop             = 0.1;
  t->progress_interval     = 5.0;
  t->seed                  = 1;
  t->loss                  = BO_LOSS_POISSON;
  t->energy_samples        = 2;
  t->energy_poisson_weight = 1.0;
  t->calibrate_members     = 512;
  t->condition_total       = PETSC_TRUE;
  t->cond_params           = (PetscBool)-1; /* all the data has (-condition_on) */
  t->cond_inputs           = (PetscBool)-1;
  PetscCall(PetscStrcpy(t->checkpoint, "checkpoint.h5"));
  PetscCall(BOProcessCreate(comm, &t->proc));
  PetscCall(BODatasetCreate(comm, &t->data));
  PetscCall(BOLogRegister());
  *tr = t;
  PetscFunctionReturn(0);
}

/* -condition_on params,inputs,labels (any of them, or none): what the
 * network is conditioned on; without it, everything the data has (labels as
 * -conditional says). Given, it decides labels too. */
static PetscErrorCode parse_condition_on(BOTrainer tr, PetscBool conditional_set, PetscBool set, PetscInt n,
                                         char **items)
{
  PetscBool labels = PETSC_FALSE;

  PetscFunctionBegin;
  tr->cond_params = tr->cond_inputs = (PetscBool)-1; /* decided in SetUp from the data */
  tr->condition_on_set              = set;
  if (!set) PetscFunctionReturn(0);
  tr->cond_params = tr->cond_inputs = PETSC_FALSE;
  PetscCheck(n < 5, tr->comm, PETSC_ERR_ARG_SIZ, "-condition_on: at most 4 items (params, inputs, labels, none)");
  for (PetscInt i = 0; i < n; i++) {
    PetscBool ok = PETSC_TRUE;
    if (!strcmp(items[i], "params")) tr->cond_params = PETSC_TRUE;
    else if (!strcmp(items[i], "inputs")) tr->cond_inputs = PETSC_TRUE;
    else if (!strcmp(items[i], "labels")) labels = PETSC_TRUE;
    else if (strcmp(items[i], "none")) ok = PETSC_FALSE;
    PetscCheck(ok, tr->comm, PETSC_ERR_ARG_WRONG,
               "-condition_on: unknown condition '%s' (known: params, inputs, labels, none)", items[i]);
    PetscCall(PetscFree(items[i]));
  }
  PetscCheck(!conditional_set || tr->conditional == labels, tr->comm, PETSC_ERR_ARG_INCOMP,
             "-conditional %s contradicts -condition_on, which %s labels", tr->conditional ? "true" : "false",
             labels ? "lists" : "does not list");
  tr->conditional = labels;
  PetscFunctionReturn(0);
}

PetscErrorCode BOTrainerSetFromOptions(BOTrainer tr)
{
  PetscInt  seed = (PetscInt)tr->seed, non = 5;
  PetscBool set, conditional_set, on_set;
  char     *on_items[5]; /* params, inputs, labels, none, and one spare: a list too long is an error */

  PetscFunctionBegin;
  PetscOptionsBegin(tr->comm, NULL, "Blackout training (bo_train)", NULL);
  PetscCall(PetscOptionsInt("-steps", "total optimiser steps (a restarted run continues up to this)", NULL, tr->steps,
                            &tr->steps, NULL));
  PetscCall(PetscOptionsInt("-batch", "global batch size (summed over ranks)", NULL, tr->batch, &tr->batch, NULL));
  PetscCall(PetscOptionsString("-checkpoint", "checkpoint file (always the newest; older ones get a -stepN suffix)",
                               NULL, tr->checkpoint, tr->checkpoint, sizeof(tr->checkpoint), NULL));
  PetscCall(PetscOptionsInt("-checkpoint_every", "steps between checkpoints (0: only at the end)", NULL,
                            tr->checkpoint_every, &tr->checkpoint_every, NULL));
  PetscCall(PetscOptionsInt("-keep_checkpoints", "checkpoints kept (newest plus older ones)", NULL, tr->keep, &tr->keep,
                            NULL));
  PetscCall(
      PetscOptionsBool("-restart", "resume from the newest valid checkpoint", NULL, tr->restart, &tr->restart, NULL));
  PetscCall(PetscOptionsBool("-overwrite", "a new run (no -restart) may replace an existing -checkpoint", NULL,
                             tr->overwrite, &tr->overwrite, NULL));
  PetscCall(PetscOptionsInt("-seed", "random seed (data order, noise, initialisation)", NULL, seed, &seed, NULL));
  PetscCall(PetscOptionsString("-log", "CSV file of step,loss,samples_per_s,...", NULL, tr->log, tr->log,
                               sizeof(tr->log), NULL));
  PetscCall(PetscOptionsString("-model", "network: unet-s, unet-tiny, mlp, ... (default: chosen from the data's shape)",
                               NULL, tr->model_name, tr->model_name, sizeof(tr->model_name), NULL));
  PetscCall(PetscOptionsReal("-lr", "Adam learning rate", NULL, tr->lr, &tr->lr, NULL));
  PetscCall(PetscOptionsInt("-warmup", "learning-rate warm-up steps", NULL, tr->warmup, &tr->warmup, NULL));
  PetscCall(PetscOptionsEnum("-lr_schedule",
                             "learning rate after the warm-up: constant, or cosine decay to 0 at -steps", NULL,
                             BOLRSchedules, (PetscEnum)tr->lr_schedule, (PetscEnum *)&tr->lr_schedule, NULL));
  PetscCall(PetscOptionsReal("-clip", "clip gradients to this global norm (0: off)", NULL, tr->clip, &tr->clip, NULL));
  PetscCall(PetscOptionsInt("-calibrate_members",
                            "training members of the calibration pass at the end of training (0: no calibration)", NULL,
                            tr->calibrate_members, &tr->calibrate_members, NULL));
  PetscCall(PetscOptionsReal("-ema_decay", "EMA decay of the weights used for sampling", NULL, tr->ema_decay,
                             &tr->ema_decay, NULL));
  PetscCall(PetscOptionsBool("-conditional", "condition on the data's labels (default: when it has them)", NULL,
                             tr->conditional, &tr->conditional, &set));
  if (!set) tr->conditional = -1; /* decided in SetUp from the data */
  PetscCall(PetscOptionsReal("-cond_drop",
                             "rate at which the conditions (labels, params, inputs) are dropped together (for "
                             "classifier-free guidance)",
                             NULL, tr->cond_drop, &tr->cond_drop, NULL));
  conditional_set = set;
  PetscCall(PetscOptionsStringArray("-condition_on",
                                    "what the network is conditioned on: any of params,inputs,labels, or none "
                                    "(default: all the data has)",
                                    NULL, on_items, &non, &on_set));
  PetscCall(PetscOptionsEnum("-loss",
                             "poisson: a network of the mean remaining counts; energy: a distributional network whose "
                             "output is a sample of them (for few sampling steps)",
                             NULL, BOLossTypes, (PetscEnum)tr->loss, (PetscEnum *)&tr->loss, NULL));
  PetscCall(PetscOptionsRangeInt("-energy_samples", "samples per example of the energy score (-loss energy)", NULL,
                                 tr->energy_samples, &tr->energy_samples, NULL, 2, 64));
  PetscCall(PetscOptionsBool(
      "-condition_total",
      "condition the network on each member's total count (default; sampling then fixes every member's "
      "total first: bo_sample -mass, -mass_from)",
      NULL, tr->condition_total, &tr->condition_total, NULL));
  PetscCall(PetscOptionsReal("-energy_poisson_weight", "weight of the Poisson loss of the samples' mean (-loss energy)",
                             NULL, tr->energy_poisson_weight, &tr->energy_poisson_weight, NULL));
  PetscCall(PetscOptionsReal("-progress_interval", "seconds between progress lines", NULL, tr->progress_interval,
                             &tr->progress_interval, NULL));
  PetscOptionsEnd();
  PetscCall(parse_condition_on(tr, conditional_set, on_set, non, on_items));
  /* PETSc itself also reads -log (a dump of its event log to "FILE.rank" at
   * PetscFinalize): ours is the CSV, so take the option out of its hands */
  PetscCall(PetscOptionsClearValue(NULL, "-log"));
  tr->seed = (uint64_t)seed;
  PetscCheck(tr->steps >= 0, tr->comm, PETSC_ERR_ARG_OUTOFRANGE, "-steps %" PetscInt_FMT ": must be >= 0", tr->steps);
  PetscCheck(tr->batch >= 1, tr->comm, PETSC_ERR_ARG_OUTOFRANGE, "-batch %" PetscInt_FMT ": must be >= 1", tr->batch);
  PetscCheck(tr->lr > 0 && isfinite(tr->lr), tr->comm, PETSC_ERR_ARG_OUTOFRANGE, "-lr %g: must be > 0", (double)tr->lr);
  PetscCheck(tr->warmup >= 0, tr->comm, PETSC_ERR_ARG_OUTOFRANGE, "-warmup %" PetscInt_FMT ": must be >= 0",
             tr->warmup);
  PetscCheck(tr->clip >= 0 && isfinite(tr->clip), tr->comm, PETSC_ERR_ARG_OUTOFRANGE, "-clip %g: must be >= 0 (0: off)",
             (double)tr->clip);
  PetscCheck(tr->checkpoint_every >= 0, tr->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-checkpoint_every %" PetscInt_FMT ": must be >= 0 (0: only at the end)", tr->checkpoint_every);
  PetscCheck(tr->keep >= 1, tr->comm, PETSC_ERR_ARG_OUTOFRANGE, "-keep_checkpoints %" PetscInt_FMT ": must be >= 1",
             tr->keep);
  PetscCheck(tr->ema_decay >= 0 && tr->ema_decay < 1, tr->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-ema_decay %g: must be in [0, 1)", (double)tr->ema_decay);
  PetscCheck(tr->cond_drop >= 0 && tr->cond_drop <= 1, tr->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-cond_drop %g: must be in [0, 1]", (double)tr->cond_drop);
  PetscCheck(tr->calibrate_members >= 0, tr->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-calibrate_members %" PetscInt_FMT ": must be >= 0 (0: no calibration)", tr->calibrate_members);
  PetscCall(BOProcessSetFromOptions(tr->proc));
  PetscCall(BODatasetSetFromOptions(tr->data));
  PetscFunctionReturn(0);
}

/* ---- checkpoints ------------------------------------------------------- */

PetscErrorCode BOTrainerWriteCheckpoint(BOTrainer tr)
{
  BOCheckpointState st;

  PetscFunctionBegin;
  if (tr->logfile) fflush(tr->logfile); /* the log holds every step the checkpoint does */
  PetscCall(PetscMemzero(&st, sizeof(st)));
  st.step = tr->step, st.batch = tr->batch, st.conditional = tr->conditional, st.seed = tr->seed;
  st.ema = tr->ema, st.adam_m = tr->adam_m, st.adam_v = tr->adam_v;
  PetscCall(PetscStrncpy(st.data_file, tr->data->filename, sizeof(st.data_file)));
  st.data_N = tr->data->N, st.data_max_count = tr->data->max_count;
  st.ntotals = tr->rank == 0 ? tr->data->N : 0, st.totals = tr->totals, st.total_labels = tr->total_labels;
  if (tr->cond_params) st.total_P = tr->data->P, st.total_params = tr->all_params;
  if (tr->cond_inputs) st.total_S = BODatasetInputSummarySize(tr->data), st.total_summary = tr->all_summaries;
  PetscCall(PetscLogEventBegin(BOLog.checkpoint, 0, 0, 0, 0));
  PetscCall(BOCheckpointWrite(tr->comm, tr->checkpoint, tr->keep, tr->proc, tr->model, &st));
  PetscCall(PetscLogEventEnd(BOLog.checkpoint, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

PetscErrorCode BOTrainerReadCheckpoint(BOTrainer tr, PetscBool *found)
{
  BOCheckpointState st;

  PetscFunctionBegin;
  PetscCall(BOCheckpointRead(tr->comm, tr->checkpoint, tr->proc, &tr->model, &st, found));
  if (!*found) PetscFunctionReturn(0);
  tr->ema = st.ema, tr->adam_m = st.adam_m, tr->adam_v = st.adam_v; /* the trainer owns them now */
  tr->step = st.step;
  PetscCall(PetscPrintf(tr->comm, "restarting from %s at step %" PetscInt_FMT "\n", st.path, tr->step));
  PetscFunctionReturn(0);
}

/* ---- set-up ------------------------------------------------------------ */

/* The mean and standard deviation of log(1 + total) over the training
 * members, by which a network conditioned on the total standardises it. */
static PetscErrorCode total_statistics(BOTrainer tr, BOModelConfig *cfg)
{
  double s[2] = {0, 0};

  PetscFunctionBegin;
  for (PetscInt i = 0; i < tr->data->nlocal; i++) {
    double l = log1p(tr->data->totals[i]);
    s[0] += l, s[1] += l * l;
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, s, 2, MPI_DOUBLE, MPI_SUM, tr->comm));
  cfg->condition_total = PETSC_TRUE;
  cfg->total_mean      = s[0] / (double)tr->data->N;
  cfg->total_sd        = sqrt(PetscMax(s[1] / (double)tr->data->N - cfg->total_mean * cfg->total_mean, 0.0));
  if (!(cfg->total_sd > 1e-3)) cfg->total_sd = 1.0; /* all totals (nearly) equal: nothing to standardise */
  PetscFunctionReturn(0);
}

/* Every training member's row of a per-member table (cols values each,
 * this rank's nlocal rows in mine), N x cols by global index, on every
 * rank (the shards are contiguous and in rank order): statistics over it
 * are then sums in one fixed order, the same on any rank count. */
static PetscErrorCode gather_rows(BOTrainer tr, const double *mine, PetscInt cols, double **all)
{
  BODataset    ds = tr->data;
  PetscMPIInt *counts, *displs, n = (PetscMPIInt)(ds->nlocal * cols);

  PetscFunctionBegin;
  PetscCall(PetscMalloc2(tr->size, &counts, tr->size, &displs));
  PetscCallMPI(MPI_Allgather(&n, 1, MPI_INT, counts, 1, MPI_INT, tr->comm));
  displs[0] = 0;
  for (PetscMPIInt r = 1; r < tr->size; r++) displs[r] = displs[r - 1] + counts[r - 1];
  PetscCall(PetscFree(*all));
  PetscCall(PetscMalloc1(ds->N * cols + 1, all));
  PetscCallMPI(MPI_Allgatherv(mine, n, MPI_DOUBLE, *all, counts, displs, MPI_DOUBLE, tr->comm));
  PetscCall(PetscFree2(counts, displs));
  PetscFunctionReturn(0);
}

/* The params table. */
static PetscErrorCode gather_params(BOTrainer tr)
{
  PetscFunctionBegin;
  PetscCall(gather_rows(tr, tr->data->params, tr->data->P, &tr->all_params));
  PetscFunctionReturn(0);
}

/* The inputs for the minibatches, and every member's field summary (which
 * BODatasetUseInputs computes) for the checkpoint: the sampler draws
 * totals near a field from them. */
static PetscErrorCode use_inputs(BOTrainer tr)
{
  PetscFunctionBegin;
  PetscCall(BODatasetUseInputs(tr->data));
  PetscCall(gather_rows(tr, tr->data->input_summary, BODatasetInputSummarySize(tr->data), &tr->all_summaries));
  PetscFunctionReturn(0);
}

/* Mean, standard deviation (two passes), min and max of each params column
 * over the training members, and their names, into the configuration: the
 * network standardises with them, the sampler warns outside [min, max]. */
static PetscErrorCode param_statistics(BOTrainer tr, BOModelConfig *cfg)
{
  const PetscInt P = tr->data->P, N = tr->data->N;
  size_t         len;

  PetscFunctionBegin;
  PetscCall(PetscStrlen(tr->data->param_names, &len));
  PetscCheck(P <= BO_MODEL_MAX_PARAMS && len < sizeof(cfg->param_names), tr->comm, PETSC_ERR_SUP,
             "%s: %" PetscInt_FMT " params (%s): a network takes at most %d, with names of at most %d characters",
             tr->data->filename, P, tr->data->param_names, BO_MODEL_MAX_PARAMS, (int)sizeof(cfg->param_names) - 1);
  cfg->num_params = P;
  PetscCall(PetscStrncpy(cfg->param_names, tr->data->param_names, sizeof(cfg->param_names)));
  for (PetscInt j = 0; j < P; j++) {
    double sum = 0, ss = 0, lo = PETSC_MAX_REAL, hi = -PETSC_MAX_REAL;
    for (PetscInt i = 0; i < N; i++) {
      const double v = tr->all_params[i * P + j];
      sum += v, lo = PetscMin(lo, v), hi = PetscMax(hi, v);
    }
    const double mean = sum / (double)N;
    for (PetscInt i = 0; i < N; i++) ss += (tr->all_params[i * P + j] - mean) * (tr->all_params[i * P + j] - mean);
    cfg->param_mean[j] = mean, cfg->param_min[j] = lo, cfg->param_max[j] = hi;
    cfg->param_sd[j] = sqrt(ss / (double)N);
    /* a constant column: nothing to standardise (the network then sees 0) */
    if (!(cfg->param_sd[j] > 1e-12 * PetscMax(1.0, fabs(mean)))) cfg->param_sd[j] = 1.0;
  }
  PetscFunctionReturn(0);
}

/* Mean and standard deviation of each input channel over all cells of the
 * training members: sums per member (local, in double: ds->input_sums, also
 * when the inputs are streamed), gathered in member order and added in that
 * order, so every rank count gives the same bits. */
static PetscErrorCode input_statistics(BOTrainer tr, BOModelConfig *cfg)
{
  BODataset      ds = tr->data;
  const PetscInt Ci = ds->Ci, cells = ds->Nz * ds->Ny * ds->Nx;
  PetscMPIInt   *counts, *displs, n = (PetscMPIInt)(2 * Ci * ds->nlocal);
  double        *mine, *all;

  PetscFunctionBegin;
  PetscCheck(Ci <= BO_MODEL_MAX_INPUTS, tr->comm, PETSC_ERR_SUP,
             "%s: inputs have %" PetscInt_FMT " components per cell; a network takes at most %d", ds->filename, Ci,
             BO_MODEL_MAX_INPUTS);
  PetscCall(PetscCalloc2(2 * Ci * ds->nlocal + 1, &mine, 2 * Ci * ds->N + 1, &all));
  PetscCall(PetscArraycpy(mine, ds->input_sums, 2 * Ci * ds->nlocal));
  PetscCall(PetscMalloc2(tr->size, &counts, tr->size, &displs));
  PetscCallMPI(MPI_Allgather(&n, 1, MPI_INT, counts, 1, MPI_INT, tr->comm));
  displs[0] = 0;
  for (PetscMPIInt r = 1; r < tr->size; r++) displs[r] = displs[r - 1] + counts[r - 1];
  PetscCallMPI(MPI_Allgatherv(mine, n, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, tr->comm));
  cfg->num_inputs = Ci;
  for (PetscInt j = 0; j < Ci; j++) {
    double s = 0, ss = 0;
    for (PetscInt i = 0; i < ds->N; i++) s += all[2 * Ci * i + j], ss += all[2 * Ci * i + Ci + j];
    const double m = s / ((double)ds->N * cells), var = ss / ((double)ds->N * cells) - m * m;
    cfg->input_mean[j] = m;
    cfg->input_sd[j]   = var > 1e-24 * PetscMax(1.0, m * m) ? sqrt(var) : 1.0;
  }
  PetscCall(PetscFree2(counts, displs));
  PetscCall(PetscFree2(mine, all));
  PetscFunctionReturn(0);
}

/* A new run's network for the data's shape: -model NAME, or the automatic
 * choice; a 3-D field (Nz, Ny, Nx, C) gets the 3-D U-Net of the same name,
 * its levels and widths from Ny and Nx as in 2-D and z halved by the z rule
 * (docs/NETWORK.md, "The 3-D U-Net"). */
static PetscErrorCode config_for_data(BOTrainer tr, BOModelConfig *cfg)
{
  BODataset   d    = tr->data;
  const char *name = tr->model_name[0] ? tr->model_name : "auto";

  PetscFunctionBegin;
  if (d->is_3d) {
    const PetscInt shape4[4] = {d->Nz, d->Ny, d->Nx, d->C};
    PetscCall(BOModelConfigFromName3D(name, shape4, d->max_count, cfg));
  } else {
    const PetscInt shape[3] = {d->shape[0], d->is_field ? d->shape[1] : 0, d->is_field ? d->shape[2] : 0};
    PetscCall(BOModelConfigFromName(name, shape, d->is_field, d->max_count, cfg));
  }
  PetscFunctionReturn(0);
}

/* What a new run conditions on: -condition_on, or everything the data has. */
static PetscErrorCode choose_conditions(BOTrainer tr)
{
  BODataset d = tr->data;

  PetscFunctionBegin;
  if (tr->cond_params == (PetscBool)-1) tr->cond_params = d->has_params;
  if (tr->cond_inputs == (PetscBool)-1) tr->cond_inputs = d->has_inputs && d->is_field;
  PetscCheck(!tr->cond_params || d->has_params, tr->comm, PETSC_ERR_ARG_WRONG,
             "-condition_on params: %s has no 'params' dataset to condition on", d->filename);
  PetscCheck(!tr->cond_inputs || d->has_inputs, tr->comm, PETSC_ERR_ARG_WRONG,
             "-condition_on inputs: %s has no 'inputs' dataset to condition on", d->filename);
  PetscFunctionReturn(0);
}

/* A new run never replaces a checkpoint or log silently: an existing one is
 * continued (-restart) or replaced on request (-overwrite). Before any work. */
static PetscErrorCode check_new_run_keeps_file(BOTrainer tr, const char *opt, const char *path)
{
  int exists = 0;

  PetscFunctionBegin;
  if (tr->rank == 0) exists = path[0] && access(path, F_OK) == 0;
  PetscCallMPI(MPI_Bcast(&exists, 1, MPI_INT, 0, tr->comm));
  if (!exists || tr->restart) PetscFunctionReturn(0);
  PetscCheck(tr->overwrite, tr->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s %s exists: continue it with -restart, or replace it with -overwrite", opt, path);
  PetscCall(PetscPrintf(tr->comm, "replacing the existing %s (-overwrite)\n", path));
  PetscFunctionReturn(0);
}

/* The training log: appended to on a restart that continues (step > 0),
 * else begun with its header. Rank 0 writes it; every rank learns whether
 * it opened. */
static PetscErrorCode open_log(BOTrainer tr)
{
  int err = 0;

  PetscFunctionBegin;
  if (!tr->log[0]) PetscFunctionReturn(0);
  if (tr->rank == 0) {
    /* a restart appends even when it found no checkpoint: -restart never loses a log */
    PetscBool append = (tr->step > 0 || tr->restart) && access(tr->log, F_OK) == 0;
    tr->logfile      = fopen(tr->log, append ? "a" : "w");
    if (!tr->logfile) err = errno;
    else if (!append) fprintf(tr->logfile, "step,loss,samples_per_s,lr,grad_norm,elapsed_s\n");
  }
  PetscCallMPI(MPI_Bcast(&err, 1, MPI_INT, 0, tr->comm));
  PetscCheck(!err, tr->comm, PETSC_ERR_FILE_OPEN, "-log %s: cannot open for writing: %s", tr->log, strerror(err));
  PetscFunctionReturn(0);
}

/* A field's shape: "8 x 8 x 1" (Ny x Nx x C) when both shapes compared are 2-D, else with the axes named,
 * "4 x 8 x 8 x 1 (Nz x Ny x Nx x C)" or "8 x 8 x 1 (Ny x Nx x C)". */
static void field_shape_string(PetscInt Nz, PetscInt Ny, PetscInt Nx, PetscInt C, PetscBool named, char *buf,
                               size_t len)
{
  if (Nz > 1) snprintf(buf, len, "%d x %d x %d x %d (Nz x Ny x Nx x C)", (int)Nz, (int)Ny, (int)Nx, (int)C);
  else snprintf(buf, len, "%d x %d x %d%s", (int)Ny, (int)Nx, (int)C, named ? " (Ny x Nx x C)" : "");
}

/* Restarting: the data must be what the checkpoint's network was built for.
 * Names the first thing that differs. */
static PetscErrorCode check_data_fits_model(BOTrainer tr)
{
  const BOModelConfig *c                        = &tr->model->cfg;
  BODataset            d                        = tr->data;
  char                 what[PETSC_MAX_PATH_LEN] = "";

  PetscFunctionBegin;
  if (c->kind == BO_MODEL_UNET && !d->is_field)
    snprintf(what, sizeof(what), "the network takes fields, the data are vectors of %d", (int)d->G);
  else if (c->kind != BO_MODEL_UNET && d->is_field)
    snprintf(what, sizeof(what), "the network takes vectors of %d, the data are %d x %d x %d fields", (int)c->G,
             (int)d->Ny, (int)d->Nx, (int)d->C);
  else if (d->is_field && (c->Nz != d->Nz || c->Ny != d->Ny || c->Nx != d->Nx || c->C != d->C)) {
    const PetscBool named = c->Nz > 1 || d->Nz > 1;
    char            mine[64], theirs[64];
    field_shape_string(c->Nz, c->Ny, c->Nx, c->C, named, mine, sizeof(mine));
    field_shape_string(d->Nz, d->Ny, d->Nx, d->C, named, theirs, sizeof(theirs));
    snprintf(what, sizeof(what), "the network's fields are %s, the data's %s", mine, theirs);
  } else if (!d->is_field && c->G != d->G)
    snprintf(what, sizeof(what), "the network's vectors have %d elements, the data's %d", (int)c->G, (int)d->G);
  else if (d->max_count > c->max_count)
    snprintf(what, sizeof(what), "the data's largest count %g is above the network's %g", d->max_count, c->max_count);
  else if (c->num_classes > 0 && !d->has_labels)
    snprintf(what, sizeof(what), "the network is conditioned on %d labels, the data have none", (int)c->num_classes);
  else if (c->num_classes > 0 && d->num_classes > c->num_classes)
    snprintf(what, sizeof(what), "the data have labels up to %d, the network knows 0..%d", (int)d->num_classes - 1,
             (int)c->num_classes - 1);
  else if (c->num_params > 0 && !d->has_params)
    snprintf(what, sizeof(what), "the network is conditioned on params (%s), the data have none", c->param_names);
  else if (c->num_params > 0 && (d->P != c->num_params || strcmp(d->param_names, c->param_names)))
    snprintf(what, sizeof(what), "the network's params are %s, the data's %.500s", c->param_names, d->param_names);
  else if (c->num_inputs > 0 && !d->has_inputs)
    snprintf(what, sizeof(what), "the network is conditioned on input fields, the data have none");
  else if (c->num_inputs > 0 && d->Ci != c->num_inputs)
    snprintf(what, sizeof(what), "the network's inputs have %d components per cell, the data's %d", (int)c->num_inputs,
             (int)d->Ci);
  else if (tr->model_name[0] && strcmp(tr->model_name, c->name))
    snprintf(what, sizeof(what), "-model %s: the checkpoint's network is %s, and a restart keeps it", tr->model_name,
             c->name);
  PetscCheck(!what[0], tr->comm, PETSC_ERR_ARG_INCOMP, "-restart: %s does not fit -data %s: %s", tr->checkpoint,
             d->filename, what);
  PetscFunctionReturn(0);
}

PetscErrorCode BOTrainerSetUp(BOTrainer tr)
{
  PetscBool found = PETSC_FALSE;
  PetscInt  n, D;

  PetscFunctionBegin;
  {
    const BOFileArg out[] = {{"-checkpoint", tr->checkpoint}, {"-log", tr->log}},
                    in[]  = {{"-data", tr->data->filename}};
    PetscCall(BOCheckOutputs(tr->comm, 2, out, 1, in));
  }
  PetscCheck(tr->checkpoint[0], tr->comm, PETSC_ERR_USER_INPUT,
             "-checkpoint is empty: give the checkpoint file with -checkpoint FILE.h5");
  PetscCall(check_new_run_keeps_file(tr, "-checkpoint", tr->checkpoint));
  PetscCall(check_new_run_keeps_file(tr, "-log", tr->log));
  PetscCall(BODatasetOpen(tr->data));
  /* every training member's total (and label): the network's input, and the
   * checkpoint keeps them for the sampler's totals */
  PetscCall(BODatasetGatherTotals(tr->data, &tr->totals, &tr->total_labels));
  if (tr->restart) PetscCall(BOTrainerReadCheckpoint(tr, &found));
  if (tr->restart && !found)
    PetscCall(PetscPrintf(tr->comm, "no valid checkpoint at %s: starting from step 0\n", tr->checkpoint));
  if (found) { /* the checkpoint's network is kept: the -net_* options a job script repeats are read, unused */
    BOModelConfig scratch = tr->model->cfg;
    PetscCall(BOModelConfigSetFromOptions(tr->comm, &scratch));
  }
  if (!found) {
    BOModelConfig cfg;
    if (tr->conditional == (PetscBool)-1) tr->conditional = tr->data->has_labels;
    PetscCheck(!tr->conditional || tr->data->has_labels, tr->comm, PETSC_ERR_ARG_WRONG,
               "-conditional: %s has no 'labels' dataset to condition on", tr->data->filename);
    PetscCall(config_for_data(tr, &cfg));
    PetscCall(BOModelConfigSetFromOptions(tr->comm, &cfg));
    cfg.num_classes = tr->conditional ? tr->data->num_classes : 0;
    cfg.top_down    = tr->data->top_down;
    /* a distributional network has noise channels (one unless -net_noise says otherwise) */
    PetscCheck(tr->loss == BO_LOSS_ENERGY || (cfg.noise_channels == 0 && cfg.noise_latent == 0), tr->comm,
               PETSC_ERR_ARG_INCOMP, "-net_noise and -net_noise_latent need -loss energy");
    if (tr->loss == BO_LOSS_ENERGY && cfg.noise_channels == 0 && cfg.noise_latent == 0)
      cfg.noise_channels = 1, cfg.noise_latent = 16; /* the default distributional network */
    if (tr->condition_total) PetscCall(total_statistics(tr, &cfg));
    PetscCall(choose_conditions(tr));
    if (tr->cond_params) {
      PetscCall(gather_params(tr));
      PetscCall(param_statistics(tr, &cfg));
    }
    if (tr->cond_inputs) {
      PetscCall(use_inputs(tr));
      PetscCall(input_statistics(tr, &cfg));
    }
    PetscCall(BOModelCreate(tr->comm, &cfg, &tr->model));
    PetscCall(BOModelInitParams(tr->model, tr->seed));
    /* identical start on every rank, whatever the local initialisation did */
    PetscCallMPI(MPI_Bcast(tr->model->params, (int)tr->model->nparams, MPI_FLOAT, 0, tr->comm));
    PetscCall(
        PetscMalloc3(tr->model->nparams, &tr->ema, tr->model->nparams, &tr->adam_m, tr->model->nparams, &tr->adam_v));
    PetscCall(PetscArraycpy(tr->ema, tr->model->params, tr->model->nparams));
    PetscCall(PetscArrayzero(tr->adam_m, tr->model->nparams));
    PetscCall(PetscArrayzero(tr->adam_v, tr->model->nparams));
    tr->step = 0;
  } else {
    PetscCall(check_data_fits_model(tr));
    tr->conditional = tr->model->cfg.num_classes > 0;
    tr->loss        = BOModelNoiseDim(tr->model) > 0 ? BO_LOSS_ENERGY : BO_LOSS_POISSON; /* what the model is */
    tr->cond_params = tr->model->cfg.num_params > 0, tr->cond_inputs = tr->model->cfg.num_inputs > 0;
    if (tr->cond_params) PetscCall(gather_params(tr));
    if (tr->cond_inputs) PetscCall(use_inputs(tr));
  }
  PetscCall(BOProcessSetUp(tr->proc));

  /* Work arrays for the largest possible local batch: the whole global batch
   * (all of a minibatch can sit in one rank's shard). Refused before they
   * are allocated when they cannot fit. */
  n = tr->batch;
  D = tr->data->D;
  {
    const PetscInt R    = tr->loss == BO_LOSS_ENERGY ? n * tr->energy_samples : n;
    double         need = 0;
    char           what[64];
    PetscCall(BOModelEstimateWorkspace(tr->model, R, PETSC_TRUE, &need));
    need += (double)sizeof(float) * (double)D * (3.0 * n + 3.0 * R);
    snprintf(what, sizeof(what), "-batch %" PetscInt_FMT, tr->batch);
    PetscCall(BOCheckMemory(tr->comm, what, need));
  }
  tr->max_local = n;
  PetscCall(PetscMalloc4(n, &tr->gidx, n, &tr->k, n, &tr->labels, n, &tr->pk));
  PetscCall(PetscMalloc3(n * D, &tr->n0, n * D, &tr->nt, n * D, &tr->y));
  PetscCall(PetscMalloc1(n, &tr->totals_b));
  {
    const PetscInt P  = tr->model->cfg.num_params,
                   Di = tr->model->cfg.num_inputs * tr->data->Nz * tr->data->Ny * tr->data->Nx;
    const PetscInt R  = tr->loss == BO_LOSS_ENERGY ? n * tr->energy_samples : 0;
    PetscCall(PetscMalloc3(n * P + 1, &tr->params_b, n * Di + 1, &tr->inputs_b, n, &tr->drop_b));
    PetscCall(PetscMalloc3(R * P + 1, &tr->rparams, R * Di + 1, &tr->rinputs, R + 1, &tr->rdrop));
  }
  if (tr->loss == BO_LOSS_ENERGY) {
    const PetscInt R = n * tr->energy_samples, nd = BOModelNoiseDim(tr->model);
    PetscCall(PetscMalloc4(R, &tr->rk, R, &tr->rlabels, R, &tr->rpk, R, &tr->rtotals));
    PetscCall(PetscMalloc3(R * D, &tr->rnt, R * nd, &tr->noise, tr->energy_samples * D, &tr->ework));
    PetscCall(PetscMalloc2(R * D, &tr->out, R * D, &tr->dout));
  } else PetscCall(PetscMalloc2(n * D, &tr->out, n * D, &tr->dout));
  PetscCall(PetscMalloc1(tr->model->nparams + 3, &tr->reduce));

  PetscCall(open_log(tr));
  PetscFunctionReturn(0);
}

PetscErrorCode BOTrainerView(BOTrainer tr, PetscViewer viewer)
{
  PetscFunctionBegin;
  if (!viewer) PetscCall(PetscViewerASCIIGetStdout(tr->comm, &viewer));
  PetscCall(PetscViewerASCIIPrintf(
      viewer,
      "bo_train: %d rank%s, global batch %" PetscInt_FMT ", steps %" PetscInt_FMT " (from %" PetscInt_FMT
      "), seed %llu, lr %g (warm-up %" PetscInt_FMT ", %s), clip %g, EMA %g\n",
      tr->size, tr->size > 1 ? "s" : "", tr->batch, tr->steps, tr->step, (unsigned long long)tr->seed, (double)tr->lr,
      tr->warmup, BOLRSchedules[tr->lr_schedule], (double)tr->clip, (double)tr->ema_decay));
  PetscCall(BODatasetView(tr->data, viewer));
  PetscCall(BOProcessView(tr->proc, viewer));
  PetscCall(BOModelView(tr->model, viewer));
  if (tr->loss == BO_LOSS_ENERGY)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "loss: energy score of %" PetscInt_FMT " samples per example + %g x Poisson loss "
                                     "of their mean (a distributional network)\n",
                                     tr->energy_samples, (double)tr->energy_poisson_weight));
  if (tr->conditional)
    PetscCall(PetscViewerASCIIPrintf(viewer, "conditioning on %" PetscInt_FMT " labels, dropped at rate %g\n",
                                     tr->model->cfg.num_classes, (double)tr->cond_drop));
  if (tr->cond_params || tr->cond_inputs)
    PetscCall(PetscViewerASCIIPrintf(
        viewer, "conditioning on %s%s%s, dropped at rate %g%s\n", tr->cond_params ? "params " : "",
        tr->cond_params ? tr->model->cfg.param_names : "",
        tr->cond_inputs ? (tr->cond_params ? " and input fields" : "input fields") : "", (double)tr->cond_drop,
        tr->cond_inputs && tr->data->streaming ? " (the inputs streamed with the counts, -data_chunk_mb)" : ""));
  PetscFunctionReturn(0);
}

/* ---- one step ---------------------------------------------------------- */

double BOTrainerLearningRate(BOTrainer tr, PetscInt t)
{
  const PetscInt warm = PetscMax(tr->warmup, 1);
  double         lr   = tr->lr * PetscMin(1.0, (double)t / (double)warm);

  /* cosine: the last updates take small steps, so the weights settle instead
   * of jittering at the scale of -lr (measured on the genes demo:
   * docs/TRAINING.md, "Count vectors") */
  if (tr->lr_schedule == BO_LR_COSINE && tr->steps > warm && t > warm) {
    double s = PetscMin(1.0, (double)(t - warm) / (double)(tr->steps - warm));
    lr *= 0.5 * (1.0 + cos(PETSC_PI * s));
  }
  return lr;
}

/* Adam with warm-up, on the flat buffers; then the EMA of the weights. */
static void adam_update(BOTrainer tr, const float *grad, double grad_scale)
{
  const PetscInt n   = tr->model->nparams;
  const double   t   = (double)(tr->step + 1);
  const double   lr  = BOTrainerLearningRate(tr, tr->step + 1);
  const double   bc1 = 1.0 - pow(tr->beta1, t), bc2 = 1.0 - pow(tr->beta2, t);
  const float    b1 = (float)tr->beta1, b2 = (float)tr->beta2;
  const float    step = (float)(lr / bc1), isb2 = (float)(1.0 / sqrt(bc2)), eps = (float)tr->adam_eps;
  /* EMA warm-up as in score_sde: decay_n = min(decay, (1+n)/(10+n)) */
  const float decay = (float)PetscMin(tr->ema_decay, (1.0 + t) / (10.0 + t));
  float      *p = tr->model->params, *m = tr->adam_m, *v = tr->adam_v, *e = tr->ema;
  const float gs = (float)grad_scale;

  for (PetscInt i = 0; i < n; i++) {
    float g = grad[i] * gs;
    m[i]    = b1 * m[i] + (1.0f - b1) * g;
    v[i]    = b2 * v[i] + (1.0f - b2) * g * g;
    p[i] -= step * m[i] / (sqrtf(v[i]) * isb2 + eps);
    e[i] = decay * e[i] + (1.0f - decay) * p[i];
  }
}

/* A distributional network's forward pass and loss: every example of the
 * local batch energy_samples times (rows b M .. b M + M - 1), each with its
 * own noise from the stream (seed, BO_RNG_TRAIN_INPUT, sample, step); the
 * loss of each example over its rows (BOEnergyLoss), summed into *loss. */
static PetscErrorCode energy_forward(BOTrainer tr, PetscInt nloc, double scale, double *loss)
{
  const PetscInt D = tr->data->D, M = tr->energy_samples, nd = BOModelNoiseDim(tr->model);
  const PetscInt P  = tr->model->cfg.num_params,
                 Di = tr->model->cfg.num_inputs * tr->data->Nz * tr->data->Ny * tr->data->Nx;

  PetscFunctionBegin;
  for (PetscInt b = 0; b < nloc; b++) {
    BORng rng;
    BORngInit(&rng, tr->seed, BO_RNG_TRAIN_INPUT, (uint32_t)tr->gidx[b], (uint32_t)tr->step);
    for (PetscInt j = 0; j < M; j++) {
      const PetscInt row = b * M + j;
      tr->rk[row] = tr->k[b], tr->rpk[row] = tr->pk[b], tr->rlabels[row] = tr->conditional ? tr->labels[b] : 0;
      tr->rtotals[row] = tr->totals_b[b], tr->rdrop[row] = tr->drop_b[b];
      PetscCall(PetscArraycpy(tr->rparams + row * P, tr->params_b + b * P, P));
      PetscCall(PetscArraycpy(tr->rinputs + row * Di, tr->inputs_b + b * Di, Di));
      PetscCall(PetscArraycpy(tr->rnt + row * D, tr->nt + b * D, D));
      for (PetscInt i = 0; i < nd; i++) tr->noise[row * nd + i] = (float)BORngNormal(&rng);
    }
  }
  BOForwardInputs in = {.labels = tr->conditional ? tr->rlabels : NULL,
                        .noise  = tr->noise,
                        .totals = tr->rtotals,
                        .params = tr->cond_params ? tr->rparams : NULL,
                        .inputs = tr->cond_inputs ? tr->rinputs : NULL,
                        .drop   = tr->rdrop};
  PetscCall(BOModelForward(tr->model, nloc * M, tr->rnt, tr->rk, tr->rpk, &in, tr->out));
  for (PetscInt b = 0; b < nloc; b++)
    *loss += BOEnergyLoss(M, D, tr->out + b * M * D, tr->y + b * D, tr->proc->w[tr->k[b]], tr->energy_poisson_weight,
                          scale, tr->dout + b * M * D, tr->ework);
  PetscFunctionReturn(0);
}

PetscErrorCode BOTrainerForwardBatch(BOTrainer tr, PetscInt nloc)
{
  BOForwardInputs in = {.labels = tr->conditional ? tr->labels : NULL,
                        .totals = tr->totals_b,
                        .params = tr->cond_params ? tr->params_b : NULL,
                        .inputs = tr->cond_inputs ? tr->inputs_b : NULL,
                        .drop   = tr->drop_b};

  PetscFunctionBegin;
  PetscCall(BOModelForward(tr->model, nloc, tr->nt, tr->k, tr->pk, &in, tr->out));
  PetscFunctionReturn(0);
}

PetscErrorCode BOTrainerStep(BOTrainer tr, PetscBool *stop)
{
  const PetscInt D = tr->data->D, np = tr->model->nparams, nullclass = tr->model->cfg.num_classes;
  PetscInt       nloc;
  double         loss = 0.0, norm2 = 0.0, scale;
  float         *red = tr->reduce;

  PetscFunctionBegin;
  /* 1. this rank's part of the global minibatch, noised */
  PetscCall(PetscLogEventBegin(BOLog.load, 0, 0, 0, 0));
  PetscCall(BODatasetGetMinibatch(tr->data, tr->seed, tr->step, tr->batch, &nloc, tr->gidx, tr->n0,
                                  tr->conditional ? tr->labels : NULL));
  for (PetscInt b = 0; b < nloc; b++) {
    tr->k[b]  = BOProcessNoiseSample(tr->proc, tr->seed, (uint32_t)tr->gidx[b], (uint32_t)tr->step, D, tr->n0 + b * D,
                                     tr->nt + b * D, tr->y + b * D);
    tr->pk[b] = tr->proc->p[tr->k[b]];
    tr->totals_b[b] = tr->totals[tr->gidx[b]];
    tr->drop_b[b]   = PETSC_FALSE;
    if (tr->conditional || tr->cond_params || tr->cond_inputs) {
      /* drop the conditions at rate cond_drop, all together: the null class, the null params vector, zero inputs */
      BORng rng;
      BORngInit(&rng, tr->seed, BO_RNG_DROPOUT, (uint32_t)tr->gidx[b], (uint32_t)tr->step);
      tr->drop_b[b] = BORngUniform(&rng) < tr->cond_drop;
      if (tr->conditional && tr->drop_b[b]) tr->labels[b] = nullclass;
    }
  }
  if (tr->cond_params || tr->cond_inputs)
    PetscCall(BODatasetGetConditions(tr->data, nloc, tr->gidx, tr->cond_params ? tr->params_b : NULL,
                                     tr->cond_inputs ? tr->inputs_b : NULL));
  PetscCall(PetscLogEventEnd(BOLog.load, 0, 0, 0, 0));

  /* 2. forward, loss (mean over the global batch and elements), backward */
  scale = 1.0 / ((double)tr->batch * (double)D);
  if (nloc > 0) {
    PetscCall(PetscLogEventBegin(BOLog.forward, 0, 0, 0, 0));
    if (tr->loss == BO_LOSS_ENERGY) PetscCall(energy_forward(tr, nloc, scale, &loss));
    else {
      PetscCall(BOTrainerForwardBatch(tr, nloc));
      for (PetscInt b = 0; b < nloc; b++)
        loss += BOPoissonLoss(D, tr->out + b * D, tr->y + b * D, tr->proc->w[tr->k[b]], scale, tr->dout + b * D);
    }
    PetscCall(PetscLogEventEnd(BOLog.forward, 0, 0, 0, 0));
    PetscCall(PetscLogEventBegin(BOLog.backward, 0, 0, 0, 0));
    PetscCall(BOModelBackward(tr->model, tr->dout));
    PetscCall(PetscArraycpy(red, tr->model->grads, np));
    PetscCall(PetscLogEventEnd(BOLog.backward, 0, 0, 0, 0));
  } else {
    PetscCall(PetscArrayzero(red, np));
  }

  /* 3. one all-reduce: gradients, loss, and whether any rank got a signal */
  red[np]     = (float)(loss * scale);
  red[np + 1] = (float)nloc;
  red[np + 2] = stop_requested ? 1.0f : 0.0f;
  PetscCall(PetscLogEventBegin(BOLog.allreduce, 0, 0, 0, 0));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, red, (int)np + 3, MPI_FLOAT, MPI_SUM, tr->comm));
  PetscCall(PetscLogEventEnd(BOLog.allreduce, 0, 0, 0, 0));
  PetscCheck(red[np + 1] == (float)tr->batch, tr->comm, PETSC_ERR_PLIB,
             "step %" PetscInt_FMT ": batch has %g samples, expected %" PetscInt_FMT, tr->step, (double)red[np + 1],
             tr->batch);

  /* 4. guard, clip, update (identical on every rank) */
  PetscCall(PetscLogEventBegin(BOLog.optimizer, 0, 0, 0, 0));
  for (PetscInt i = 0; i < np; i++) norm2 += (double)red[i] * (double)red[i];
  tr->last_loss      = red[np];
  tr->last_grad_norm = sqrt(norm2);
  PetscCheck(isfinite(tr->last_loss) && isfinite(tr->last_grad_norm), tr->comm, PETSC_ERR_FP,
             "step %" PetscInt_FMT ": non-finite %s (loss %g, gradient norm %g); try a smaller -lr", tr->step,
             isfinite(tr->last_loss) ? "gradient" : "loss", tr->last_loss, tr->last_grad_norm);
  adam_update(tr, red, tr->clip > 0 && tr->last_grad_norm > tr->clip ? tr->clip / tr->last_grad_norm : 1.0);
  tr->step++;
  PetscCall(PetscLogEventEnd(BOLog.optimizer, 0, 0, 0, 0));
  *stop = red[np + 2] > 0 ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(0);
}

/* ---- the loop ---------------------------------------------------------- */
PetscErrorCode BOTrainerTrain(BOTrainer tr, PetscBool *interrupted)
{
  const PetscInt first = tr->step;
  double         start = BOWallTime(), last_print = start, window_start = start, window_loss = 0;
  PetscInt       window_steps = 0;
  PetscBool      stop = PETSC_FALSE, cal_stopped = PETSC_FALSE;

  PetscFunctionBegin;
  *interrupted = PETSC_FALSE;
  /* a restarted finished run trains on: its calibration is of the old network */
  if (tr->step < tr->steps) PetscCall(BOProcessSetCalibration(tr->proc, 0, NULL));
  PetscCall(PetscLogStagePush(BOLog.train));
  while (tr->step < tr->steps && !stop) {
    PetscCall(BOTrainerStep(tr, &stop));
    window_steps++;
    window_loss += tr->last_loss;
    double now = BOWallTime();
    double sps = (double)window_steps * (double)tr->batch / fmax(now - window_start, 1e-9);
    if (tr->logfile)
      fprintf(tr->logfile, "%" PetscInt_FMT ",%.6g,%.4g,%.4g,%.4g,%.2f\n", tr->step, tr->last_loss, sps,
              BOTrainerLearningRate(tr, tr->step), tr->last_grad_norm, now - start);
    if (now - last_print >= tr->progress_interval || tr->step == tr->steps || tr->step == first + 1) {
      double eta = (double)(tr->steps - tr->step) * (now - start) / (double)(tr->step - first);
      /* the loss of one step is noisy (one random time per sample): print
       * the mean since the last line */
      PetscCall(PetscPrintf(
          tr->comm, "step %6" PetscInt_FMT "/%" PetscInt_FMT "  loss %.5g  %.1f samples/s  elapsed %.0fs  ETA %.0fs\n",
          tr->step, tr->steps, window_loss / (double)window_steps, sps, now - start, eta));
      if (tr->logfile) fflush(tr->logfile);
      last_print   = now;
      window_start = now;
      window_steps = 0;
      window_loss  = 0;
    }
    if (tr->checkpoint_every > 0 && tr->step % tr->checkpoint_every == 0 && tr->step < tr->steps && !stop)
      PetscCall(BOTrainerWriteCheckpoint(tr));
  }
  PetscCall(PetscLogStagePop());
  if (!stop && tr->step == tr->steps) PetscCall(BOTrainerCalibrate(tr, &cal_stopped));
  PetscCall(BOTrainerWriteCheckpoint(tr));
  if (cal_stopped) {
    *interrupted = PETSC_TRUE;
    PetscCall(PetscPrintf(tr->comm,
                          "stopped by signal at step %" PetscInt_FMT
                          " before the end of the calibration pass: checkpoint %s written; exit status %d asks to "
                          "requeue\n",
                          tr->step, tr->checkpoint, BO_EXIT_REQUEUE));
  } else if (stop && tr->step < tr->steps) {
    *interrupted = PETSC_TRUE;
    PetscCall(PetscPrintf(tr->comm,
                          "stopped by signal at step %" PetscInt_FMT
                          ": checkpoint %s written; exit status %d asks to requeue\n",
                          tr->step, tr->checkpoint, BO_EXIT_REQUEUE));
  } else {
    PetscCall(PetscPrintf(tr->comm, "done: %" PetscInt_FMT " steps in %.1f s; checkpoint %s\n", tr->step - first,
                          BOWallTime() - start, tr->checkpoint));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOTrainerDestroy(BOTrainer *tr)
{
  BOTrainer t = *tr;

  PetscFunctionBegin;
  if (!t) PetscFunctionReturn(0);
  if (t->logfile) fclose(t->logfile);
  PetscCall(PetscFree4(t->gidx, t->k, t->labels, t->pk));
  PetscCall(PetscFree3(t->n0, t->nt, t->y));
  PetscCall(PetscFree2(t->out, t->dout));
  PetscCall(PetscFree4(t->rk, t->rlabels, t->rpk, t->rtotals));
  PetscCall(PetscFree(t->totals_b));
  PetscCall(PetscFree3(t->params_b, t->inputs_b, t->drop_b));
  PetscCall(PetscFree3(t->rparams, t->rinputs, t->rdrop));
  PetscCall(PetscFree(t->all_params));
  PetscCall(PetscFree(t->all_summaries));
  PetscCall(PetscFree3(t->rnt, t->noise, t->ework));
  PetscCall(PetscFree(t->reduce));
  PetscCall(PetscFree(t->totals));
  PetscCall(PetscFree(t->total_labels));
  PetscCall(PetscFree3(t->ema, t->adam_m, t->adam_v));
  PetscCall(BOModelDestroy(&t->model));
  PetscCall(BODatasetDestroy(&t->data));
  PetscCall(BOProcessDestroy(&t->proc));
  PetscCall(PetscFree(*tr));
  PetscFunctionReturn(0);
}
