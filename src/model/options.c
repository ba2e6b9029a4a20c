/* Network configuration from the options database (bo_train): a named or
 * automatic configuration, then any of these overrides. */
#include "bo_model.h"

PetscErrorCode BOModelConfigSetFromOptions(MPI_Comm comm, BOModelConfig *cfg)
{
  PetscInt  mult[BO_MODEL_MAX_LEVELS], attn[BO_MODEL_MAX_LEVELS], nmult = BO_MODEL_MAX_LEVELS, nattn = BO_MODEL_MAX_LEVELS;
  PetscBool set_mult, set_attn, changed = PETSC_FALSE, flg;

  PetscFunctionBegin;
  for (PetscInt l = 0; l < BO_MODEL_MAX_LEVELS; l++) mult[l] = cfg->ch_mult[l], attn[l] = cfg->attn[l];
  PetscOptionsBegin(comm, NULL, "Network (overrides of the -model configuration)", NULL);
  PetscCall(PetscOptionsInt("-net_channels", "channels at the finest level (unet) or hidden width (mlp)", NULL, cfg->base_channels,
                            &cfg->base_channels, &flg));
  changed = (PetscBool)(changed || flg);
  PetscCall(PetscOptionsIntArray("-net_mult", "channel multiplier per level, e.g. 1,2,2 (sets the number of levels)", NULL, mult, &nmult,
                                 &set_mult));
  PetscCall(PetscOptionsInt("-net_blocks", "residual blocks per level", NULL, cfg->num_res_blocks, &cfg->num_res_blocks, &flg));
  changed = (PetscBool)(changed || flg);
  PetscCall(PetscOptionsIntArray("-net_attn", "1 = self-attention at that level, e.g. 0,0,1", NULL, attn, &nattn, &set_attn));
  PetscCall(PetscOptionsInt("-net_temb", "width of the time (and label) embedding", NULL, cfg->temb_hidden, &cfg->temb_hidden, &flg));
  changed = (PetscBool)(changed || flg);
  PetscCall(PetscOptionsBool("-net_periodic", "periodic padding (periodic simulation domains)", NULL, cfg->periodic, &cfg->periodic, &flg));
  changed = (PetscBool)(changed || flg);
  PetscCall(PetscOptionsEnum("-net_input", "input scaling: linear (n - N/2 p)/(N/2) or log1p log(1 + n)", NULL, BOModelInputs,
                             (PetscEnum)cfg->input, (PetscEnum *)&cfg->input, &flg));
  changed = (PetscBool)(changed || flg);
  PetscOptionsEnd();
  if (set_mult) {
    PetscCheck(cfg->kind == BO_MODEL_UNET, comm, PETSC_ERR_ARG_WRONG, "-net_mult applies to U-Nets (fields), not to %s", cfg->name);
    PetscCheck(nmult >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-net_mult needs at least one level");
    cfg->nlevels = nmult;
    for (PetscInt l = 0; l < BO_MODEL_MAX_LEVELS; l++) cfg->ch_mult[l] = l < nmult ? mult[l] : 1;
    changed = PETSC_TRUE;
  }
  if (set_attn) {
    for (PetscInt l = 0; l < BO_MODEL_MAX_LEVELS; l++) cfg->attn[l] = l < nattn ? (attn[l] != 0) : 0;
    changed = PETSC_TRUE;
  }
  PetscCheck(cfg->base_channels >= 1 && cfg->num_res_blocks >= 1 && cfg->temb_hidden >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-net_channels, -net_blocks and -net_temb must be positive");
  for (PetscInt l = 0; l < cfg->nlevels; l++)
    PetscCheck(cfg->ch_mult[l] >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-net_mult: multiplier %" PetscInt_FMT " of level %" PetscInt_FMT " must be >= 1",
               cfg->ch_mult[l], l);
  if (changed) {
    char name[sizeof(cfg->name)];
    PetscCall(PetscSNPrintf(name, sizeof(name), "%s+options", cfg->name));
    PetscCall(PetscStrncpy(cfg->name, name, sizeof(cfg->name)));
  }
  PetscFunctionReturn(0);
}
