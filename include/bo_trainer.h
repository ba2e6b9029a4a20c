/* BOTrainer: data-parallel training of a BOModel on a BODataset with the
 * Blackout loss, Adam, warm-up, clipping, EMA, checkpoint/restart and
 * Slurm-style signal handling.
 *
 * Every rank holds the whole model. The global minibatch of step s is a pure
 * function of (seed, s) (BODatasetGetMinibatch); each rank works on the
 * samples of it that it owns; time indices and forward noise are keyed by
 * (seed, step, global sample index). Gradients, the loss and the stop flag
 * travel in one MPI_Allreduce per step; every rank applies the same update.
 * So 1, 2 or 3 ranks follow the same trajectory up to float rounding.
 */
#ifndef BO_TRAINER_H
#define BO_TRAINER_H
#include "bo_dataset.h"
#include "bo_model.h"
#include "bo_process.h"

/* Exit status of bo_train when it stopped on SIGUSR1/SIGTERM after writing a
 * checkpoint, before reaching -steps: "checkpointed, not finished; requeue". */
#define BO_EXIT_REQUEUE 99

/* The loss: Poisson (a mean network, the reference's), or the energy score of
 * a distributional network (BOEnergyLoss: -energy_samples samples per
 * example, plus -energy_poisson_weight times the Poisson loss of their mean). */
typedef enum { BO_LOSS_POISSON, BO_LOSS_ENERGY } BOLossType;
extern const char *const BOLossTypes[];

/* Learning rate after the warm-up: constant, or a cosine decay to 0 at -steps. */
typedef enum { BO_LR_CONSTANT, BO_LR_COSINE } BOLRSchedule;
extern const char *const BOLRSchedules[];

typedef struct {
  MPI_Comm    comm;
  PetscMPIInt rank, size;
  BOProcess   proc;
  BODataset   data;
  BOModel     model;

  /* options */
  PetscInt     steps, batch, checkpoint_every, keep, warmup;
  PetscReal    lr, beta1, beta2, adam_eps, clip, ema_decay, cond_drop, progress_interval;
  BOLRSchedule lr_schedule;
  BOLossType   loss;
  PetscInt     energy_samples; /* -energy_samples: samples per example of a distributional network */
  PetscReal    energy_poisson_weight;
  PetscBool    restart, conditional;
  PetscBool    overwrite;                /* -overwrite: a new run may replace an existing -checkpoint */
  PetscBool    condition_total;          /* -condition_total: the network knows each member's total */
  PetscBool    cond_params, cond_inputs; /* -condition_on: the network knows the members' params, inputs */
  PetscBool    condition_on_set;         /* -condition_on was given (it then decides labels too) */
  PetscInt     calibrate_members;        /* -calibrate_members: members of the calibration pass (0: none) */
  uint64_t     seed;
  char         model_name[64];
  char         checkpoint[PETSC_MAX_PATH_LEN], log[PETSC_MAX_PATH_LEN];

  /* state saved in checkpoints */
  PetscInt step;
  float   *adam_m, *adam_v, *ema;

  /* per-step work (planned once for the largest local batch) */
  PetscInt  max_local; /* samples the work arrays hold: the whole global batch */
  PetscInt *gidx, *k, *labels;
  double   *pk;
  float    *n0, *nt, *y, *out, *dout, *reduce; /* reduce = grads + [loss, samples, stop] */
  /* a distributional network's rows: every example energy_samples times, with its noise */
  PetscInt  *rk, *rlabels;
  double    *rpk, *rtotals, *totals_b; /* totals_b: the examples' totals (max_local) */
  float     *rnt, *noise, *ework;
  double    *totals;             /* every training member's total count, by global index (checkpoints keep them) */
  PetscInt  *total_labels;       /* their labels (NULL without labels) */
  double    *all_params;         /* every training member's params, N x P by global index (NULL: not conditioned) */
  double    *all_summaries;      /* every training member's input-field summary, N x S (NULL: no inputs) */
  double    *params_b, *rparams; /* the local batch's params (max_local x P), a distributional network's rows */
  float     *inputs_b, *rinputs; /* the local batch's input fields (max_local x Nz Ny Nx Ci), ... */
  PetscBool *drop_b, *rdrop;     /* condition dropout per example, per row */
  FILE      *logfile;
  double     last_loss, last_grad_norm;
} BOTrainerData;
typedef BOTrainerData *BOTrainer;

PetscErrorCode BOTrainerCreate(MPI_Comm comm, BOTrainer *tr);
PetscErrorCode BOTrainerSetFromOptions(BOTrainer tr);
/* Opens the data, builds (or restores, with -restart) the model and state. */
PetscErrorCode BOTrainerSetUp(BOTrainer tr);
/* One optimiser step on the global minibatch of tr->step; returns through
 * *stop whether any rank was asked to stop (signal). */
PetscErrorCode BOTrainerStep(BOTrainer tr, PetscBool *stop);
/* Train to -steps with progress, logging and checkpoints. *interrupted is
 * true when a signal stopped it early (a checkpoint was written). */
PetscErrorCode BOTrainerTrain(BOTrainer tr, PetscBool *interrupted);
PetscErrorCode BOTrainerView(BOTrainer tr, PetscViewer viewer);
/* The calibration pass that ends a finished run (docs/SAMPLING.md,
 * "Calibration"): -calibrate_members training members, each at one exact
 * noised state in every one of BO_CALIBRATION_BINS equal bins of k, through the network with
 * the EMA weights; per bin, the realised over the predicted remaining counts,
 * over the cells empty at k and over the others, become the process's
 * calibration (BOProcessSetCalibration), which the checkpoint keeps. Prints
 * the table. Nothing for a distributional network. A stop signal during the
 * pass abandons it (*stopped: the checkpoint then keeps no calibration, and
 * a -restart of the finished run does it). Collective. */
PetscErrorCode BOTrainerCalibrate(BOTrainer tr, PetscBool *stopped);
/* The network on the first nloc examples of the work arrays (noised states
 * nt at indices k, with their labels, totals, params, inputs and dropout
 * flags), raw outputs into tr->out. Not collective. */
PetscErrorCode BOTrainerForwardBatch(BOTrainer tr, PetscInt nloc);
#define BO_CALIBRATION_BINS 50
#define BO_CALIBRATION_SUMS 10 /* per bin: 5 for the empty cells, then 5 for the occupied ones */
/* The sums behind it, on the exact states of stream seed, BO_CALIBRATION_SUMS
 * per bin b of BO_CALIBRATION_BINS (BOCalibrationAddMember); *stopped (may
 * be NULL): a stop signal cut it short. Collective. */
PetscErrorCode BOTrainerCalibrationSums(BOTrainer tr, uint64_t seed, double *sums, PetscBool *stopped);
/* Adds one member's cells to one bin's sums. For the cells empty at k (nt =
 * 0), sums[0..4] = the predicted and the realised remaining counts, sum
 * y^2, sum y yhat and sum yhat^2 (yhat = softplus(out)); sums[5..9] the same
 * over the occupied cells. */
void BOCalibrationAddMember(PetscInt D, const float *nt, const float *y, const float *out, double *sums);
/* The dispersion index of one group's remaining counts y around its
 * calibrated predictions c yhat (c = realised / predicted over the group):
 * sum (y - c yhat)^2 / sum y. 1 where they scatter as Poisson draws of the
 * calibrated prediction would (the law the sampler's allocation assumes),
 * above 1 where they are over-dispersed; 0 when there is nothing. g: the
 * group's 5 sums. */
double BOCalibrationDispersion(const double *g);
/* Learning rate of the t-th update (t = 1..steps): -lr times min(1, t/warmup),
 * with -lr_schedule cosine also times (1 + cos(pi (t - warmup)/(steps - warmup)))/2
 * after the warm-up. A function of t and the options only, so a restarted run
 * with the same -steps follows the same schedule. */
double         BOTrainerLearningRate(BOTrainer tr, PetscInt t);
PetscErrorCode BOTrainerDestroy(BOTrainer *tr);

/* Write the trainer's checkpoint, and restore from the newest valid one
 * (bo_checkpoint.h). */
PetscErrorCode BOTrainerWriteCheckpoint(BOTrainer tr);
PetscErrorCode BOTrainerReadCheckpoint(BOTrainer tr, PetscBool *found);

/* Install SIGUSR1/SIGTERM handlers that ask the trainer to stop at the next
 * step boundary. */
PetscErrorCode BOTrainerInstallSignalHandlers(void);
/* Whether this rank has received a stop signal (SIGUSR1, SIGTERM, SIGINT). */
int BOTrainerSignalled(void);

#endif
