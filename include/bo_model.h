/* BOModel: the network that predicts the remaining births E[n0 - n_t | n_t]
 * (docs/ALGORITHM.md, "What the network predicts"), with its parameters in one flat
 * buffer. See docs/NETWORK.md for the architecture, input scaling and the
 * checkpoint layout.
 *
 * Two kinds share one graph builder:
 *   unet  for fields (Ny, Nx, C), or volumes (Nz, Ny, Nx, C) with Nz > 1: a U-Net of
 *         residual blocks (docs/NETWORK.md), 2-D or 3-D;
 *   mlp   for count vectors (G): the same graph on a 1x1 grid with 1x1
 *         convolutions, i.e. a residual MLP with skip concatenations.
 *
 * Usage:
 *   BOModelConfigFromName("unet-s", shape, PETSC_TRUE, 255, &cfg);
 *   BOModelCreate(comm, &cfg, &m);  BOModelInitParams(m, seed);
 *   BOModelForward(m, B, nt, k, pk, &inputs, out);   // out: raw, before softplus
 *   BOModelBackward(m, dout);                       // writes m->grads
 */
#ifndef BO_MODEL_H
#define BO_MODEL_H
#include <hdf5.h>
#include <petscsys.h>
#include <petscviewer.h>
#include <stdint.h>
#include "bo_nn.h"

#define BO_MODEL_MAX_LEVELS 6
#define BO_MODEL_MAX_PARAMS 16  /* simulator parameters a network can be conditioned on */
#define BO_MODEL_MAX_INPUTS 8   /* input-field channels a U-Net can be conditioned on */
#define BO_MODEL_NAMES_LEN  512 /* room for the comma-separated parameter names */

typedef enum { BO_MODEL_UNET, BO_MODEL_MLP } BOModelKind;
extern const char *const BOModelKinds[];

/* How counts enter the network (docs/NETWORK.md, "Input scaling"):
 *   linear  x = (n - N/2 p)/(N/2), N = max_count, p = e^{-t_k}  (fields)
 *   log1p   x = log(1 + n)                                      (vectors) */
typedef enum { BO_INPUT_LINEAR, BO_INPUT_LOG1P } BOModelInput;
extern const char *const BOModelInputs[];

typedef struct {
  BOModelKind  kind;
  char         name[64];
  PetscInt     Ny, Nx, C;                    /* fields: grid and components (unet) */
  PetscInt     Nz;                           /* fields: depth; 1 = a 2-D field (every 2-D configuration); > 1 a 3-D
                                               U-Net on Nz x Ny x Nx (docs/NETWORK.md, "The 3-D U-Net") */
  PetscInt     G;                            /* vectors: length (mlp) */
  PetscInt     base_channels;                /* unet: channels at level 0; mlp: hidden width */
  PetscInt     nlevels;                      /* resolutions (unet); 1 for mlp */
  PetscInt     ch_mult[BO_MODEL_MAX_LEVELS]; /* channels at level l = base * ch_mult[l] */
  PetscInt     num_res_blocks;               /* residual blocks per level (the up path has as many) */
  PetscInt     attn[BO_MODEL_MAX_LEVELS];    /* 1: self-attention after each block of level l
                                               (and in the middle if l = nlevels-1) */
  PetscInt     temb_dim;                     /* sinusoidal features of k */
  PetscInt     temb_hidden;                  /* width of the time MLP, its output e, and the label embedding */
  PetscInt     num_classes;                  /* 0: unconditional; else labels 0..num_classes-1 and null = num_classes */
  PetscBool    periodic;                     /* periodic padding in the 3x3 convolutions */
  PetscBool    film;                         /* the embedding scales and shifts each block's second GroupNorm
                                               (FiLM) instead of adding a per-channel bias (docs/NETWORK.md) */
  double       max_count;                    /* N in the linear input scaling; the sampler's default cap */
  BOModelInput input;                        /* input scaling: linear (default for fields) or log1p (vectors) */
  PetscInt     noise_channels;       /* a distributional network (noise_channels or noise_latent > 0): channels of
                                  standard normal noise entering with the counts, per cell ... */
  PetscInt     noise_latent;         /* ... and a member-wide noise vector of this length entering through the time
                                  embedding; the output is then a sample of n0 - n_t */
  PetscBool    condition_total;      /* the network knows each member's total count n0 summed over its elements,
                                   as u = (log(1 + total) - total_mean) / total_sd through a small MLP
                                   into the time embedding */
  double       total_mean, total_sd; /* of log(1 + total) over the training members */
  PetscBool    top_down;             /* the training fields' row 0 is the top (images): ensembles say so for pictures */
  /* Simulator parameters (docs/NETWORK.md, "Parameters and input fields"): P values per member, standardised
     by the training statistics, u = (p - mean)/sd, through Linear(P -> Th), SiLU, Linear(Th -> Th) into the
     time embedding; a dropped condition uses a learned null vector instead. min/max: the training range. */
  PetscInt num_params;                      /* P (0: not conditioned on parameters) */
  char     param_names[BO_MODEL_NAMES_LEN]; /* comma-separated, P names */
  double   param_mean[BO_MODEL_MAX_PARAMS], param_sd[BO_MODEL_MAX_PARAMS];
  double   param_min[BO_MODEL_MAX_PARAMS], param_max[BO_MODEL_MAX_PARAMS];
  /* Input fields (U-Nets only): Ci extra input channels, standardised per channel, after the counts' (and noise)
     channels; the output keeps the counts' channels. A dropped condition gives zero channels. */
  PetscInt num_inputs; /* Ci (0: none) */
  double   input_mean[BO_MODEL_MAX_INPUTS], input_sd[BO_MODEL_MAX_INPUTS];
} BOModelConfig;

/* One named tensor of the flat parameter buffer. */
typedef struct {
  char     name[64];
  PetscInt ndim;
  hsize_t  shape[5]; /* up to 5 axes: a 3-D conv weight is [Cout][Cin][k][k][k] */
  size_t   offset, size;
  int      init;            /* internal: how BOModelInitParams fills it */
  double   fan_in, fan_out; /* for the fan-avg init */
  float  **param, **grad;   /* where the layer keeps its pointers */
} BOTensor;

typedef struct _p_BOModel *BOModel;
struct _p_BOModel {
  MPI_Comm      comm;
  BOModelConfig cfg;
  PetscInt      dim; /* D: floats per sample in and out (Nz*Ny*Nx*C or G) */
  PetscInt      nparams;
  float        *params, *grads; /* length nparams each, one allocation each */
  PetscInt      ntensors;
  BOTensor     *tensors;
  void         *impl; /* graph and workspaces (src/model/modelimpl.h) */
};

/* Configurations. shape = {Ny, Nx, C} for fields or {G, 0, 0} for vectors. */
PetscErrorCode BOModelConfigFromName(const char *name, const PetscInt shape[3], PetscBool is_field, double max_count,
                                     BOModelConfig *cfg);
/* A network suited to the data: fields get a U-Net with as many levels as
 * the grid allows (lowest resolution >= 4; odd sizes are padded, periodic
 * grids use only levels that divide the grid), width by grid size (about
 * 0.1 M parameters for 8x8, 0.7 M for 28x28); vectors get the MLP. */
PetscErrorCode BOModelConfigAuto(const PetscInt shape[3], PetscBool is_field, double max_count, BOModelConfig *cfg);
/* Fields of shape4 = {Nz, Ny, Nx, C}: the configuration BOModelConfigFromName
 * gives the (Ny, Nx, C) field (name "auto" included: levels from min(Ny, Nx),
 * channels as in 2-D) with depth Nz. Nz = 1 is exactly the 2-D configuration.
 * In 3-D, level l > 0 halves z as well as x and y while the depth of level
 * l - 1 is even and at least 4 (BOModelLevelGrid); x and y halve as in 2-D
 * (padded as in 2-D); periodic padding is refused. */
PetscErrorCode BOModelConfigFromName3D(const char *name, const PetscInt shape4[4], double max_count,
                                       BOModelConfig *cfg);
/* The grid level l (0 .. nlevels-1) of a U-Net runs on, D x H x W (D = 1 in
 * 2-D; H and W padded): the z rule above. */
void BOModelLevelGrid(const BOModelConfig *cfg, PetscInt l, PetscInt *D, PetscInt *H, PetscInt *W);
/* Overrides from the options database: -net_channels, -net_mult 1,2,2,
 * -net_blocks, -net_attn 0,0,1, -net_temb, -net_periodic, -net_film, -net_input
 * linear|log1p, -net_noise, -net_noise_latent (bo_train). */
PetscErrorCode BOModelConfigSetFromOptions(MPI_Comm comm, BOModelConfig *cfg);
/* Attributes on an open HDF5 group (file root or a subgroup). A
 * configuration without model_input (written before it existed) loads as
 * linear, which is what those networks were trained with. */
PetscErrorCode BOModelConfigSave(const BOModelConfig *cfg, hid_t group);
PetscErrorCode BOModelConfigLoad(hid_t group, BOModelConfig *cfg);
/* The configuration from rank root to every rank of comm. */
PetscErrorCode BOModelConfigBcast(BOModelConfig *cfg, PetscMPIInt root, MPI_Comm comm);

PetscErrorCode BOModelCreate(MPI_Comm comm, const BOModelConfig *cfg, BOModel *m);
PetscErrorCode BOModelDestroy(BOModel *m);
PetscErrorCode BOModelView(BOModel m, PetscViewer viewer);

/* Deterministic init from the counter-based RNG (tag BO_RNG_INIT, a = tensor
 * index): fan-avg uniform for weights, zero biases, unit GroupNorm scales,
 * and ~1e-10 scale for the last conv of every residual block, the attention
 * output and the output conv (so the network starts as the identity-ish
 * U-Net with a constant output). */
PetscErrorCode BOModelInitParams(BOModel m, uint64_t seed);

/* What a network may be given besides the counts and the time: its
 * conditioning. Each may be NULL (and is read only by a network that has
 * that input). */
typedef struct {
  const PetscInt  *labels; /* B class labels (NULL: the null class) */
  const float     *noise;  /* B x BOModelNoiseDim: a distributional network's noise (NULL: zeros) */
  const double    *totals; /* B member totals: a network conditioned on the total (required by it) */
  const double    *params; /* B x P simulator parameters in physical units (NULL: the null condition for all) */
  const float     *inputs; /* B x Nz x Ny x Nx x Ci input fields, [b][z][y][x][c] (NULL: the null condition for
                             all; Nz = 1 for a 2-D network) */
  const PetscBool *drop;   /* B flags: sample b gets the null condition (the null params vector, zero input
                             channels): condition dropout and guidance's unconditional branch; NULL: none */
} BOForwardInputs;

/* out[B][D] = raw network output (before softplus) for counts nt[B][D] at
 * time indices k[B] with survival probabilities pk[B] = e^{-t_k}, and the
 * conditioning in (may be NULL). Keeps what the backward pass needs. The
 * first call with a batch larger than any before allocates the workspaces;
 * later calls allocate nothing. */
PetscErrorCode BOModelForward(BOModel m, PetscInt B, const float *nt, const PetscInt *k, const double *pk,
                              const BOForwardInputs *in, float *out);
/* Noise values per sample of a distributional network: the per-cell
 * channels, Nz Ny Nx noise_channels for fields ([Nz][Ny][Nx][channel], like the
 * counts) or noise_channels for vectors, then the noise_latent values of the
 * member-wide vector; 0 for a mean network. */
PetscInt BOModelNoiseDim(BOModel m);
/* Backpropagate dout[B][D] = dL/d(out) of the last forward: writes (does not
 * accumulate) m->grads. */
PetscErrorCode BOModelBackward(BOModel m, const float *dout);
/* After BOModelBackward: dL/dn for the counts of the last forward, dn[B][D]. */
PetscErrorCode BOModelInputGradient(BOModel m, float *dn);
PetscErrorCode BOModelZeroGrad(BOModel m);
/* Floating-point operations of one forward pass per sample, counting the
 * matrix products (convolutions, linear layers, attention); a training step
 * costs about three times as much. */
PetscErrorCode BOModelGetFlops(BOModel m, double *flops);
/* Bytes of workspace currently held (activations, gradients, scratch). */
PetscErrorCode BOModelGetWorkspaceSize(BOModel m, size_t *bytes);
/* About how many bytes of workspace a batch of B needs, forward only or
 * with the backward's gradients (training), from the workspaces of batches
 * of 1 and 16 (which it plans, leaving the latter): to refuse a batch that
 * cannot fit before allocating it. */
PetscErrorCode BOModelEstimateWorkspace(BOModel m, PetscInt B, PetscBool training, double *bytes);

/* Parameter-shaped buffers (params, EMA, Adam moments) to/from an open HDF5
 * group: one float32 dataset per tensor, named like "down1.res0.conv1.weight".
 * Serial HDF5 calls: call on ONE rank with a file opened with the default
 * (serial) file-access property list, or on all ranks of a file each opened
 * independently for reading. A missing tensor or a shape mismatch fails with
 * a message naming the tensor. */
PetscErrorCode BOModelSaveParams(BOModel m, hid_t group, const float *buf);
PetscErrorCode BOModelLoadParams(BOModel m, hid_t group, float *buf);

#endif
