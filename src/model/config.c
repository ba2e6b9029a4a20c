/* BOModel configurations: by name, sized automatically from the data's
 * shape, overridden from the options database, and checked. */
#include <math.h>
#include <string.h>
#include "modelimpl.h"

const char *const BOModelKinds[]  = {"unet", "mlp", "BOModelKind", "BO_MODEL_", NULL};
const char *const BOModelInputs[] = {"linear", "log1p", "BOModelInput", "BO_INPUT_", NULL};

static void config_defaults(const PetscInt shape[3], PetscBool is_field, double max_count, BOModelConfig *cfg)
{
  memset(cfg, 0, sizeof(*cfg));
  cfg->kind = is_field ? BO_MODEL_UNET : BO_MODEL_MLP;
  cfg->Nz   = 1; /* 2-D; BOModelConfigFromName3D sets the depth */
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
    PetscCheck(is_field, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG,
               "model '%s' is for fields; the data are vectors (use mlp)", name);
    config_defaults(shape, is_field, max_count, cfg);
    if (is_s) { /* the reference network, docs/PERFORMANCE.md */
      cfg->base_channels = 32, cfg->nlevels = 3, cfg->ch_mult[1] = 2, cfg->ch_mult[2] = 2;
      cfg->num_res_blocks = 1, cfg->temb_dim = 32, cfg->temb_hidden = 128;
    } else { /* for tests: two levels, attention at the low one */
      cfg->base_channels = 8, cfg->nlevels = 2, cfg->ch_mult[1] = 2, cfg->attn[1] = 1;
      cfg->num_res_blocks = 1, cfg->temb_dim = 8, cfg->temb_hidden = 16;
    }
  } else if (is_mlp) {
    PetscCheck(!is_field, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG,
               "model 'mlp' is for count vectors; the data are fields");
    config_defaults(shape, is_field, max_count, cfg);
    cfg->base_channels  = shape[0] >= 64 ? 256 : 128;
    cfg->num_res_blocks = 2, cfg->temb_dim = 32, cfg->temb_hidden = 128;
  } else
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_ARG_UNKNOWN_TYPE, "unknown model '%s' (known: auto, unet-s, unet-tiny, mlp)",
            name);
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

PetscErrorCode BOModelConfigFromName3D(const char *name, const PetscInt shape4[4], double max_count, BOModelConfig *cfg)
{
  const PetscInt shape[3] = {shape4[1], shape4[2], shape4[3]};

  PetscFunctionBegin;
  PetscCheck(shape4[0] >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "model: depth Nz %" PetscInt_FMT " must be >= 1", shape4[0]);
  PetscCall(BOModelConfigFromName(name, shape, PETSC_TRUE, max_count, cfg));
  cfg->Nz = shape4[0];
  PetscFunctionReturn(0);
}

/* The z rule: the downsampling into level l > 0 halves z when the depth of
 * level l - 1 is even and at least 4, else keeps it. Coarse levels of a
 * thin volume (Nz << Nx) then stop halving z at 2 or 3 planes, while x and
 * y go on; no level needs z padding (an even depth halves exactly). */
static int level_halves_z(int D) { return D >= 4 && D % 2 == 0; }

void BOModelLevelGrid(const BOModelConfig *cfg, PetscInt l, PetscInt *D, PetscInt *H, PetscInt *W)
{
  int Hp, Wp, d = cfg->kind == BO_MODEL_UNET && cfg->Nz > 1 ? (int)cfg->Nz : 1;

  if (cfg->kind == BO_MODEL_UNET) bo_model_padded_grid(cfg, &Hp, &Wp);
  else Hp = Wp = 1;
  for (PetscInt i = 1; i <= l; i++) {
    if (level_halves_z(d)) d /= 2;
    Hp = (Hp - 1) / 2 + 1, Wp = (Wp - 1) / 2 + 1; /* the stride-2 conv's output size */
  }
  *D = d, *H = Hp, *W = Wp;
}

/* Where the network runs: the grid padded up to a multiple of 2^(L-1).
 * Periodic grids cannot be padded, so Create refuses them instead. */
void bo_model_padded_grid(const BOModelConfig *cfg, int *H, int *W)
{
  int f = 1 << (cfg->nlevels - 1);
  *H    = (int)((cfg->Ny + f - 1) / f * f);
  *W    = (int)((cfg->Nx + f - 1) / f * f);
}

PetscErrorCode bo_model_config_check(const BOModelConfig *cfg)
{
  PetscFunctionBegin;
  PetscCheck(cfg->nlevels >= 1 && cfg->nlevels <= BO_MODEL_MAX_LEVELS, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "model: nlevels %" PetscInt_FMT " must be in 1..%d", cfg->nlevels, BO_MODEL_MAX_LEVELS);
  PetscCheck(cfg->base_channels > 0 && cfg->num_res_blocks >= 1 && cfg->temb_dim >= 4 && cfg->temb_dim % 2 == 0 &&
                 cfg->temb_hidden > 0 && cfg->num_classes >= 0 && cfg->noise_channels >= 0 &&
                 cfg->noise_channels <= 64 && cfg->noise_latent >= 0 && cfg->noise_latent <= 1024 &&
                 (!cfg->condition_total || cfg->total_sd > 0),
             PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "model '%s': invalid widths", cfg->name);
  PetscCheck(cfg->num_params >= 0 && cfg->num_params <= BO_MODEL_MAX_PARAMS, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "model: %" PetscInt_FMT " parameters; at most %d", cfg->num_params, BO_MODEL_MAX_PARAMS);
  for (PetscInt j = 0; j < cfg->num_params; j++)
    PetscCheck(cfg->param_sd[j] > 0 && isfinite(cfg->param_mean[j]), PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
               "model: parameter %" PetscInt_FMT " has mean %g and sd %g", j, cfg->param_mean[j], cfg->param_sd[j]);
  PetscCheck(cfg->num_inputs >= 0 && cfg->num_inputs <= BO_MODEL_MAX_INPUTS, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "model: %" PetscInt_FMT " input channels; at most %d", cfg->num_inputs, BO_MODEL_MAX_INPUTS);
  PetscCheck(cfg->num_inputs == 0 || cfg->kind == BO_MODEL_UNET, PETSC_COMM_SELF, PETSC_ERR_ARG_INCOMP,
             "model: input fields need a U-Net (fields), not %s", cfg->name);
  for (PetscInt j = 0; j < cfg->num_inputs; j++)
    PetscCheck(cfg->input_sd[j] > 0 && isfinite(cfg->input_mean[j]), PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
               "model: input channel %" PetscInt_FMT " has mean %g and sd %g", j, cfg->input_mean[j], cfg->input_sd[j]);
  PetscCheck(cfg->num_res_blocks <= 8, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "model: at most 8 res blocks per level");
  PetscCheck(cfg->max_count > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "model: max_count %g must be positive",
             cfg->max_count);
  PetscCheck(cfg->input == BO_INPUT_LINEAR || cfg->input == BO_INPUT_LOG1P, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "model: unknown input scaling %d (known: 0 linear, 1 log1p)", (int)cfg->input);
  PetscCheck(cfg->Nz >= 1 && (cfg->Nz == 1 || cfg->kind == BO_MODEL_UNET), PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "model: depth Nz %" PetscInt_FMT " (1 for 2-D fields and vectors, > 1 for a 3-D U-Net)", cfg->Nz);
  PetscCheck(cfg->Nz == 1 || !cfg->periodic, PETSC_COMM_SELF, PETSC_ERR_ARG_INCOMP,
             "model: periodic padding is not implemented for 3-D grids");
  if (cfg->kind == BO_MODEL_UNET) {
    int H, W;
    PetscCheck(cfg->Ny > 0 && cfg->Nx > 0 && cfg->C > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
               "model: bad field shape %" PetscInt_FMT "x%" PetscInt_FMT "x%" PetscInt_FMT, cfg->Ny, cfg->Nx, cfg->C);
    bo_model_padded_grid(cfg, &H, &W);
    PetscCheck(!cfg->periodic || (H == cfg->Ny && W == cfg->Nx), PETSC_COMM_SELF, PETSC_ERR_ARG_INCOMP,
               "model: a periodic %" PetscInt_FMT "x%" PetscInt_FMT " grid is not divisible by 2^%" PetscInt_FMT
               "; use fewer levels",
               cfg->Ny, cfg->Nx, cfg->nlevels - 1);
  } else {
    PetscCheck(cfg->G > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "model: bad vector length %" PetscInt_FMT,
               cfg->G);
    PetscCheck(cfg->nlevels == 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "model: an mlp has one level");
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOModelConfigSetFromOptions(MPI_Comm comm, BOModelConfig *cfg)
{
  PetscInt mult[BO_MODEL_MAX_LEVELS], attn[BO_MODEL_MAX_LEVELS], nmult = BO_MODEL_MAX_LEVELS,
                                                                 nattn = BO_MODEL_MAX_LEVELS;
  PetscBool set_mult, set_attn, changed = PETSC_FALSE, flg;

  PetscFunctionBegin;
  for (PetscInt l = 0; l < BO_MODEL_MAX_LEVELS; l++) mult[l] = cfg->ch_mult[l], attn[l] = cfg->attn[l];
  PetscOptionsBegin(comm, NULL, "Network (overrides of the -model configuration)", NULL);
  PetscCall(PetscOptionsInt("-net_channels", "channels at the finest level (unet) or hidden width (mlp)", NULL,
                            cfg->base_channels, &cfg->base_channels, &flg));
  changed = (PetscBool)(changed || flg);
  PetscCall(PetscOptionsIntArray("-net_mult", "channel multiplier per level, e.g. 1,2,2 (sets the number of levels)",
                                 NULL, mult, &nmult, &set_mult));
  PetscCall(PetscOptionsInt("-net_blocks", "residual blocks per level", NULL, cfg->num_res_blocks, &cfg->num_res_blocks,
                            &flg));
  changed = (PetscBool)(changed || flg);
  PetscCall(
      PetscOptionsIntArray("-net_attn", "1 = self-attention at that level, e.g. 0,0,1", NULL, attn, &nattn, &set_attn));
  PetscCall(PetscOptionsInt("-net_temb", "width of the time (and label) embedding", NULL, cfg->temb_hidden,
                            &cfg->temb_hidden, &flg));
  changed = (PetscBool)(changed || flg);
  PetscCall(PetscOptionsBool("-net_periodic", "periodic padding (periodic simulation domains)", NULL, cfg->periodic,
                             &cfg->periodic, &flg));
  changed = (PetscBool)(changed || flg);
  PetscCall(PetscOptionsBool("-net_film",
                             "FiLM: the time (and condition) embedding scales and shifts each block's second "
                             "GroupNorm instead of adding a bias",
                             NULL, cfg->film, &cfg->film, &flg));
  changed = (PetscBool)(changed || flg);
  PetscCall(PetscOptionsEnum("-net_input", "input scaling: linear (n - N/2 p)/(N/2) or log1p log(1 + n)", NULL,
                             BOModelInputs, (PetscEnum)cfg->input, (PetscEnum *)&cfg->input, &flg));
  changed = (PetscBool)(changed || flg);
  PetscCall(PetscOptionsRangeInt("-net_noise",
                                 "per-cell noise channels of a distributional network (bo_train -loss energy)", NULL,
                                 cfg->noise_channels, &cfg->noise_channels, &flg, 0, 64));
  changed = (PetscBool)(changed || flg);
  PetscCall(PetscOptionsRangeInt("-net_noise_latent",
                                 "length of a distributional network's member-wide noise vector (-loss energy)", NULL,
                                 cfg->noise_latent, &cfg->noise_latent, &flg, 0, 1024));
  changed = (PetscBool)(changed || flg);
  PetscOptionsEnd();
  if (set_mult) {
    PetscCheck(cfg->kind == BO_MODEL_UNET, comm, PETSC_ERR_ARG_WRONG, "-net_mult applies to U-Nets (fields), not to %s",
               cfg->name);
    PetscCheck(nmult >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-net_mult needs at least one level");
    cfg->nlevels = nmult;
    for (PetscInt l = 0; l < BO_MODEL_MAX_LEVELS; l++) cfg->ch_mult[l] = l < nmult ? mult[l] : 1;
    changed = PETSC_TRUE;
  }
  if (set_attn) {
    for (PetscInt l = 0; l < BO_MODEL_MAX_LEVELS; l++) cfg->attn[l] = l < nattn ? (attn[l] != 0) : 0;
    changed = PETSC_TRUE;
  }
  PetscCheck(cfg->base_channels >= 1 && cfg->num_res_blocks >= 1 && cfg->temb_hidden >= 1, comm,
             PETSC_ERR_ARG_OUTOFRANGE, "-net_channels, -net_blocks and -net_temb must be positive");
  for (PetscInt l = 0; l < cfg->nlevels; l++)
    PetscCheck(cfg->ch_mult[l] >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE,
               "-net_mult: multiplier %" PetscInt_FMT " of level %" PetscInt_FMT " must be >= 1", cfg->ch_mult[l], l);
  if (changed) {
    char name[sizeof(cfg->name)];
    PetscCall(PetscSNPrintf(name, sizeof(name), "%s+options", cfg->name));
    PetscCall(PetscStrncpy(cfg->name, name, sizeof(cfg->name)));
  }
  PetscFunctionReturn(0);
}
