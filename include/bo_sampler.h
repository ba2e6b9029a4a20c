/* BOSampler: ensembles from a trained checkpoint.
 *
 * Members are generated in fixed micro-batches aligned to the global member
 * index (block b holds members bB .. bB+B-1) and blocks are dealt to ranks
 * round-robin; all randomness is keyed by (seed, member, step). So a member's
 * arithmetic never depends on the number of ranks and the ensemble is
 * bit-identical on any rank count. Blocks are written as they complete, one
 * collective round at a time, so memory holds one block per rank.
 *
 * Conditioning:
 *   observed cells  a value field and a mask (-condition FILE.h5 with
 *                   datasets `value` and `mask`); observed cells follow the
 *                   exact bridge to their value, the rest is predicted
 *   labels          -label L with classifier-free guidance weight -guidance w:
 *                   yhat = yhat_c^(1+w) / yhat_u^w (guidance on log rates);
 *                   without -label, a class-conditioned network gives each
 *                   member the label of a training member drawn at random
 *                   (-label_from train, the default; none: the null class)
 *   params, inputs  a network conditioned on simulator parameters takes
 *                   -params v1,v2,... (physical units) or -params_file P.h5
 *                   (members point-major), one conditioned on input fields
 *                   -inputs F.h5; -guidance w guides toward them too; the
 *                   output carries every member's params (and inputs)
 *   totals          each member's total count is fixed first: -mass M for all,
 *                   or drawn from a pool of totals (-mass_from train: the
 *                   training members' totals in the checkpoint, of the
 *                   member's label; FILE: the members of a data file;
 *                   none: no totals, births follow the predicted rates alone).
 *                   Every step then draws the exact number of births the
 *                   missing units give (BOReverseStepTotal), and the member
 *                   ends with exactly its total.
 */
#ifndef BO_SAMPLER_H
#define BO_SAMPLER_H
#include "bo_model.h"
#include "bo_process.h"

typedef struct {
  MPI_Comm          comm;
  PetscMPIInt       rank, size;
  BOProcess         proc;
  BOModel           model;
  uint32_t          checksum; /* of the checkpoint's state */
  char              checkpoint[PETSC_MAX_PATH_LEN];
  char              condition[PETSC_MAX_PATH_LEN]; /* -condition file, loaded by SetUp */
  BOReverseStepType step_type;                     /* -sampler: the reverse step, bridge or tau-leap */
  PetscInt          K;                             /* reverse steps */
  PetscInt          micro_batch;                   /* -batch: members per micro-batch (written to files) */
  PetscInt          label;                         /* -1: unconditional */
  PetscReal         guidance;
  PetscReal         max_count; /* -cap: births never push a count above this (0: none) */
  PetscBool         use_ema;
  PetscBool         calibrate; /* -calibration: apply the checkpoint's calibration (EMA weights of a mean network) */
  uint64_t          seed;
  float            *obs_value, *obs_mask;          /* D each, or NULL */
  PetscReal         mass;                          /* -mass: every member's total (< 0: none given) */
  char              mass_from[PETSC_MAX_PATH_LEN]; /* -mass_from train|none|FILE */
  char              label_from[16];                /* -label_from auto|train|none */
  PetscBool         draw_labels;                   /* each member's label is drawn from label_pool */
  PetscInt          nlabel_pool, *label_pool;      /* the training labels, sorted */
  PetscInt          npool;                         /* totals members' totals are drawn from; 0: none */
  double           *pool;                          /* sorted within each group: a label, or all */
  PetscInt          ngroups, *pool_start;          /* group g: pool[pool_start[g] .. pool_start[g+1]) */
  /* simulator parameters and input fields, for a network conditioned on them (params.c) */
  PetscReal param_values[BO_MODEL_MAX_PARAMS + 1]; /* -params v1,v2,... (physical units, in the order of names; one
                                                     spare, so that a value too many is seen) */
  PetscInt  nparam_values;                         /* how many -params gave (0: none) */
  char      params_file[PETSC_MAX_PATH_LEN];       /* -params_file P.h5: one point per row */
  char      inputs_file[PETSC_MAX_PATH_LEN];       /* -inputs F.h5: one input field per member, or one for all */
  PetscInt  npoints;                               /* parameter points (1 with -params) */
  double   *points;                                /* npoints x P */
  PetscInt  members_per_point;                     /* member m has point m / members_per_point (bo_sample: -n) */
  PetscInt  ninput_fields;                         /* 1 (for all members) or one per member */
  float    *input_fields;                          /* ninput_fields x Ny x Nx x Ci */
  PetscInt  knn;                                   /* -params_knn: totals from this many nearest training members */
  PetscInt  inputs_knn;                            /* -inputs_knn: the same, nearest in the input fields' summaries */
  PetscBool knn_linear;                            /* -params_knn_adjust linear: moved to the point by a local fit */
  double   *point_pool;                            /* npoints x knn (or ninput_fields x inputs_knn): their totals,
                                                      sorted, per point (or per input field) */
  PetscBool field_pools;                           /* point_pool holds one pool per input field */
  PetscBool no_summaries;                          /* inputs, but the checkpoint keeps no summaries: pooled totals */
  /* work for one block */
  double    *block_params; /* the block's members' params (NULL: not conditioned) */
  float     *block_inputs; /* ... and input fields */
  PetscBool *drop_all;     /* all true: guidance's unconditional branch */
  PetscInt  *k, *labels;
  double    *pk;
  float     *out, *out_uncond;
  double    *totals;        /* the block's members' totals (NULL: not conditioned) */
  PetscInt  *member_labels; /* the block's members' labels (-1: none) */
  float     *noise;         /* a distributional network's noise for the block (NULL: a mean network) */
  PetscInt   block_first;   /* the member index of the block's first member */
} BOSamplerData;
typedef BOSamplerData *BOSampler;

PetscErrorCode BOSamplerCreate(MPI_Comm comm, BOSampler *s);
/* -checkpoint -sampler -sample_steps -batch -seed -label -guidance -cap -use_ema -condition -mass -mass_from
 * -params -params_file -params_knn -params_knn_adjust -inputs -inputs_knn */
PetscErrorCode BOSamplerSetFromOptions(BOSampler s);
/* Loads the checkpoint (model, process) unless a model was set already,
 * and the -condition file if one was given. */
PetscErrorCode BOSamplerSetUp(BOSampler s);
PetscErrorCode BOSamplerView(BOSampler s, PetscViewer viewer);
PetscErrorCode BOSamplerDestroy(BOSampler *s);
/* Observed cells: value and mask, D entries each (copied). */
PetscErrorCode BOSamplerSetObservations(BOSampler s, const float *value, const float *mask);
/* Read `value` and `mask` datasets of the member shape from an HDF5 file. */
PetscErrorCode BOSamplerLoadObservations(BOSampler s, const char *path);
/* The labels and totals of members first .. first+n-1. A label is -label
 * (-1: none), or with -label_from train a training member's label drawn by
 * (seed, BO_RNG_TOTAL, member, 1). A total is -mass, or an interpolated
 * quantile of the pool's totals of that label, drawn by (seed, BO_RNG_TOTAL,
 * member, 0) and rounded stochastically; totals may be NULL (no totals). */
PetscErrorCode BOSamplerMemberConditions(BOSampler s, PetscInt first, PetscInt n, PetscInt *labels, double *totals);
/* Members' parameter point and input field: point (m / members_per_point)
 * of the -params or -params_file points, field m of -inputs (or its only
 * one). params (n x P) and inputs (n x Ny Nx Ci) may be NULL. */
PetscErrorCode BOSamplerMemberParams(BOSampler s, PetscInt first, PetscInt n, double *params, float *inputs);

/* Members first .. first+count-1 into x (count x D), on this rank alone (no
 * communication). Blocks are [bB, (b+1)B) of the global index, so any split
 * of the ensemble into calls aligned to B gives the same bits. */
PetscErrorCode BOSamplerGenerateLocal(BOSampler s, PetscInt first, PetscInt count, float *x);

/* The whole ensemble of members first .. first+n-1 to an HDF5 file in the
 * layout of docs/DATA.md, blocks dealt over ranks, written as they complete,
 * with provenance attributes, XDMF sidecar and progress lines. */
PetscErrorCode BOSamplerWriteEnsemble(BOSampler s, PetscInt first, PetscInt n, const char *path);

/* PETSc coupling: fill a DMDA global vector (dof = C, grid Nx x Ny of the
 * model; for a 3-D network a 3-D DMDA of Nx x Ny x Nz) with member `member`,
 * whatever the vector's decomposition. Another grid or dimension is an error. */
#include <petscdmda.h>
PetscErrorCode BOSamplerFillDMDAVec(BOSampler s, PetscInt member, DM da, Vec v);

#endif
