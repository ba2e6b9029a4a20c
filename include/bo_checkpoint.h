/* Checkpoints: a trained model and the state to resume its training, in
 * one HDF5 file (docs/TRAINING.md, "Checkpoints").
 *
 * Layout: groups params, ema, adam_m, adam_v (one float32 dataset per
 * tensor, named like "down1.res0.conv1.weight"), group model (the
 * configuration, BOModelConfigSave); root attributes format
 * ("blackout-checkpoint"), producer_version, step, seed, batch, mpi_size,
 * the process's settings (BOProcessSave, with the network's calibration
 * when the run ended with one), the training data's metadata
 * (data_file, data_N, data_max_count), conditional, group data_totals
 * (dataset totals: every training member's total count, labels when the
 * data has them, params (N, P) for a network conditioned on simulator
 * parameters, input_summary (N, S) for one conditioned on input fields;
 * the sampler draws members' totals from them), and
 * checksum, a CRC-32 over everything else (the weights, the step, every
 * attribute of / and /model, the totals), written last: its presence
 * marks a complete file, its value catches torn, corrupt or edited ones
 * that HDF5 would read without complaint. (Older files have
 * checksum_crc32, over the weights and the step only; they still load.)
 *
 * Files: FILE is always the newest; writing moves the previous one aside
 * as FILE-stepNNNNNNNN.h5 (its step) and keeps the newest `keep` in all.
 * Rank 0 does the file work; every rank gets the same outcome.
 */
#ifndef BO_CHECKPOINT_H
#define BO_CHECKPOINT_H
#include "bo_model.h"
#include "bo_process.h"

/* Everything a checkpoint holds besides the model (its configuration and
 * weights) and the process. */
typedef struct {
  PetscInt step, batch, conditional;
  uint64_t seed;
  float   *ema, *adam_m, *adam_v; /* nparams each */
  char     data_file[PETSC_MAX_PATH_LEN];
  PetscInt data_N;
  double   data_max_count;
  char     path[PETSC_MAX_PATH_LEN]; /* BOCheckpointRead: the file it came from */
  uint32_t checksum;                 /* BOCheckpointRead: the file's verified checksum */
  /* the training members' totals (rank 0's are written; may be NULL) */
  PetscInt        ntotals;
  const double   *totals;
  const PetscInt *total_labels;  /* ntotals, or NULL */
  PetscInt        total_P;       /* columns of total_params */
  const double   *total_params;  /* ntotals x total_P: the members' simulator parameters, or NULL */
  PetscInt        total_S;       /* columns of total_summary */
  const double   *total_summary; /* ntotals x total_S: the members' input-field summaries (BOInputSummary), or NULL */
} BOCheckpointState;

/* Write path (rank 0, temporary name then rename), rotate the older ones,
 * keep `keep` files in all. Collective; an error names the file and why. */
PetscErrorCode BOCheckpointWrite(MPI_Comm comm, const char *path, PetscInt keep, BOProcess proc, BOModel model,
                                 const BOCheckpointState *st);
/* The newest valid checkpoint among path and its older siblings; corrupt,
 * truncated or incomplete ones are reported on stdout and skipped. On
 * success *model is created on comm from the file's configuration with its
 * weights, proc gets its settings (BOProcessSetUp still to do), and st its
 * state (arrays allocated; free with BOCheckpointStateFree). *found is
 * false when no file is valid. Collective. */
PetscErrorCode BOCheckpointRead(MPI_Comm comm, const char *path, BOProcess proc, BOModel *model, BOCheckpointState *st,
                                PetscBool *found);
PetscErrorCode BOCheckpointStateFree(BOCheckpointState *st);

/* For sampling: the model of exactly this file (no siblings), fully
 * validated, with its EMA (use_ema) or raw weights; proc set up from it;
 * checksum (may be NULL) gets the file's CRC-32. Collective; any rank count. */
PetscErrorCode BOCheckpointLoadModel(MPI_Comm comm, const char *path, PetscBool use_ema, BOProcess proc, BOModel *model,
                                     uint32_t *checksum);

/* The training members' totals stored in path (sorted by label, then
 * value) and their labels: *n = 0 when the file has none (older
 * checkpoints). Arrays allocated on every rank (free with PetscFree2).
 * Collective. */
PetscErrorCode BOCheckpointLoadTotals(MPI_Comm comm, const char *path, PetscInt *n, double **totals, PetscInt **labels);
/* The training members' totals and simulator parameters (n x P), in the
 * members' order, for a network conditioned on parameters: *n = 0 when the
 * file keeps no data_totals/params. Arrays allocated on every rank (free
 * with PetscFree2). Collective. */
PetscErrorCode BOCheckpointLoadParamsTotals(MPI_Comm comm, const char *path, PetscInt *n, PetscInt *P, double **totals,
                                            double **params);
/* The same with the members' input-field summaries (n x S,
 * data_totals/input_summary, BOInputSummary) for a network conditioned on
 * input fields: *n = 0 when the file keeps none (checkpoints from before
 * 2 Dec 2026). */
PetscErrorCode BOCheckpointLoadInputSummaries(MPI_Comm comm, const char *path, PetscInt *n, PetscInt *S,
                                              double **totals, double **summaries);

#endif
