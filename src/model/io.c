/* BOModel in HDF5: parameter-shaped buffers (one dataset per tensor) and the
 * configuration (attributes of a group). */
#include <string.h>
#include "bo_h5.h"
#include "bo_sys.h"
#include "modelimpl.h"

PetscErrorCode BOModelSaveParams(BOModel m, hid_t group, const float *buf)
{
  PetscFunctionBegin;
  for (PetscInt i = 0; i < m->ntensors; i++) {
    BOTensor *t = &m->tensors[i];
    hid_t     space, dset;
    htri_t    exists = H5Lexists(group, t->name, H5P_DEFAULT);
    if (exists > 0) BOCallHDF5(H5Ldelete(group, t->name, H5P_DEFAULT), "cannot replace dataset %s", t->name);
    space = H5Screate_simple((int)t->ndim, t->shape, NULL);
    BOCallHDF5(space, "H5Screate_simple failed for %s", t->name);
    dset = H5Dcreate2(group, t->name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    BOCallHDF5(dset, "cannot create dataset %s", t->name);
    BOCallHDF5(H5Dwrite(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf + t->offset), "cannot write %s",
               t->name);
    BOCallHDF5(H5Dclose(dset), "H5Dclose");
    BOCallHDF5(H5Sclose(space), "H5Sclose");
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOModelLoadParams(BOModel m, hid_t group, float *buf)
{
  PetscFunctionBegin;
  for (PetscInt i = 0; i < m->ntensors; i++) {
    BOTensor *t = &m->tensors[i];
    hid_t     space, dset;
    hsize_t   dims[8];
    int       nd;
    PetscCheck(H5Lexists(group, t->name, H5P_DEFAULT) > 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
               "model '%s': tensor %s is missing from the checkpoint", m->cfg.name, t->name);
    dset = H5Dopen2(group, t->name, H5P_DEFAULT);
    BOCallHDF5(dset, "cannot open dataset %s", t->name);
    space = H5Dget_space(dset);
    BOCallHDF5(space, "H5Dget_space failed for %s", t->name);
    nd             = H5Sget_simple_extent_ndims(space);
    PetscBool same = (nd == (int)t->ndim) ? PETSC_TRUE : PETSC_FALSE;
    if (same) {
      BOCallHDF5(H5Sget_simple_extent_dims(space, dims, NULL), "H5Sget_simple_extent_dims");
      for (int d = 0; d < nd; d++)
        if (dims[d] != t->shape[d]) same = PETSC_FALSE;
    }
    BOCallHDF5(H5Sclose(space), "H5Sclose");
    if (!same) {
      BOCallHDF5(H5Dclose(dset), "H5Dclose");
      SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
              "model '%s': tensor %s in the checkpoint has a different shape (expected %d dims: %llu x %llu x %llu x "
              "%llu%s)",
              m->cfg.name, t->name, (int)t->ndim, (unsigned long long)t->shape[0],
              (unsigned long long)(t->ndim > 1 ? t->shape[1] : 1), (unsigned long long)(t->ndim > 2 ? t->shape[2] : 1),
              (unsigned long long)(t->ndim > 3 ? t->shape[3] : 1), t->ndim > 4 ? " x k" : "");
    }
    BOCallHDF5(H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf + t->offset), "cannot read %s",
               t->name);
    BOCallHDF5(H5Dclose(dset), "H5Dclose");
  }
  PetscFunctionReturn(0);
}

/* Attributes: integers as int64 arrays, max_count as double, strings fixed-length. */

static PetscErrorCode attr_read(hid_t group, const char *name, hid_t mtype, void *val)
{
  hid_t attr;

  PetscFunctionBegin;
  PetscCheck(H5Aexists(group, name) > 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "model configuration: attribute model_%s is missing", name + 6);
  attr = H5Aopen(group, name, H5P_DEFAULT);
  BOCallHDF5(attr, "cannot open attribute %s", name);
  BOCallHDF5(H5Aread(attr, mtype, val), "cannot read attribute %s", name);
  BOCallHDF5(H5Aclose(attr), "H5Aclose");
  PetscFunctionReturn(0);
}

#define NINTS (10 + 2 * BO_MODEL_MAX_LEVELS)
static void config_ints(const BOModelConfig *c, int64_t *v)
{
  int64_t *p = v;
  *p++ = c->kind, *p++ = c->Ny, *p++ = c->Nx, *p++ = c->C, *p++ = c->G, *p++ = c->base_channels, *p++ = c->nlevels;
  *p++ = c->num_res_blocks, *p++ = c->temb_dim, *p++ = c->temb_hidden;
  for (int l = 0; l < BO_MODEL_MAX_LEVELS; l++) *p++ = c->ch_mult[l];
  for (int l = 0; l < BO_MODEL_MAX_LEVELS; l++) *p++ = c->attn[l];
}

/* What the network is conditioned on besides labels and totals: attributes
 * model_params (P), model_param_names, model_param_stats (4 x P: mean, sd,
 * min, max), model_inputs (Ci), model_input_stats (2 x Ci: mean, sd);
 * written only when P > 0 or Ci > 0, so other checkpoints are unchanged. */
static PetscErrorCode save_conditions(const BOModelConfig *cfg, hid_t group)
{
  const PetscInt P = cfg->num_params, Ci = cfg->num_inputs;
  double         st[4 * BO_MODEL_MAX_PARAMS];

  PetscFunctionBegin;
  if (P > 0) {
    int64_t p = P;
    PetscCall(BOH5WriteAttr(group, "model_params", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &p));
    PetscCall(BOH5WriteAttrString(group, "model_param_names", cfg->param_names));
    for (PetscInt j = 0; j < P; j++)
      st[j] = cfg->param_mean[j], st[P + j] = cfg->param_sd[j], st[2 * P + j] = cfg->param_min[j],
      st[3 * P + j] = cfg->param_max[j];
    PetscCall(BOH5WriteAttr(group, "model_param_stats", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 4 * P, st));
  }
  if (Ci > 0) {
    int64_t c = Ci;
    PetscCall(BOH5WriteAttr(group, "model_inputs", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &c));
    for (PetscInt j = 0; j < Ci; j++) st[j] = cfg->input_mean[j], st[Ci + j] = cfg->input_sd[j];
    PetscCall(BOH5WriteAttr(group, "model_input_stats", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2 * Ci, st));
  }
  PetscFunctionReturn(0);
}

/* An attribute of exactly n doubles (n <= cap). */
PetscErrorCode BOModelConfigSave(const BOModelConfig *cfg, hid_t group)
{
  int64_t v[NINTS];
  hid_t   str;

  PetscFunctionBegin;
  config_ints(cfg, v);
  PetscCall(BOH5WriteAttr(group, "model_kind", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &v[0]));
  PetscCall(BOH5WriteAttr(group, "model_shape", H5T_STD_I64LE, H5T_NATIVE_INT64, 4, &v[1]));
  PetscCall(BOH5WriteAttr(group, "model_widths", H5T_STD_I64LE, H5T_NATIVE_INT64, 5, &v[5]));
  PetscCall(BOH5WriteAttr(group, "model_ch_mult", H5T_STD_I64LE, H5T_NATIVE_INT64, BO_MODEL_MAX_LEVELS, &v[10]));
  PetscCall(BOH5WriteAttr(group, "model_attn", H5T_STD_I64LE, H5T_NATIVE_INT64, BO_MODEL_MAX_LEVELS,
                          &v[10 + BO_MODEL_MAX_LEVELS]));
  int64_t nc = cfg->num_classes, per = cfg->periodic ? 1 : 0;
  PetscCall(BOH5WriteAttr(group, "model_num_classes", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &nc));
  PetscCall(BOH5WriteAttr(group, "model_periodic", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &per));
  PetscCall(BOH5WriteAttr(group, "model_max_count", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &cfg->max_count));
  int64_t input = cfg->input;
  PetscCall(BOH5WriteAttr(group, "model_input", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &input));
  int64_t noise[2] = {cfg->noise_channels, cfg->noise_latent};
  PetscCall(BOH5WriteAttr(group, "model_noise", H5T_STD_I64LE, H5T_NATIVE_INT64, 2, noise));
  double total[3] = {cfg->condition_total ? 1.0 : 0.0, cfg->total_mean, cfg->total_sd};
  PetscCall(BOH5WriteAttr(group, "model_total", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, total));
  if (cfg->top_down) PetscCall(BOH5WriteAttrInt(group, "model_top_down", 1));
  if (cfg->film) PetscCall(BOH5WriteAttrInt(group, "model_film", 1)); /* (absent: the per-channel bias) */
  /* a 3-D network only: 2-D configurations are written as before */
  if (cfg->Nz > 1) PetscCall(BOH5WriteAttrInt(group, "model_depth", cfg->Nz));
  PetscCall(save_conditions(cfg, group));
  str = H5Tcopy(H5T_C_S1);
  BOCallHDF5(str, "H5Tcopy");
  BOCallHDF5(H5Tset_size(str, sizeof(cfg->name)), "H5Tset_size");
  PetscCall(BOH5WriteAttr(group, "model_name", str, str, 0, cfg->name));
  BOCallHDF5(H5Tclose(str), "H5Tclose");
  PetscFunctionReturn(0);
}

static PetscErrorCode load_conditions(hid_t group, BOModelConfig *cfg)
{
  int64_t P = 0, Ci = 0;
  double  st[4 * BO_MODEL_MAX_PARAMS];

  PetscFunctionBegin;
  if (H5Aexists(group, "model_params") > 0) PetscCall(BOH5ReadAttrInt(group, "model_params", &P));
  if (H5Aexists(group, "model_inputs") > 0) PetscCall(BOH5ReadAttrInt(group, "model_inputs", &Ci));
  PetscCheck(P >= 0 && P <= BO_MODEL_MAX_PARAMS && Ci >= 0 && Ci <= BO_MODEL_MAX_INPUTS, PETSC_COMM_SELF,
             PETSC_ERR_FILE_UNEXPECTED, "model configuration: %lld params, %lld input channels (at most %d, %d)",
             (long long)P, (long long)Ci, BO_MODEL_MAX_PARAMS, BO_MODEL_MAX_INPUTS);
  cfg->num_params = (PetscInt)P, cfg->num_inputs = (PetscInt)Ci;
  if (P > 0) {
    PetscCall(BOH5ReadAttrString(group, "model_param_names", cfg->param_names, sizeof(cfg->param_names)));
    PetscCall(BOH5ReadAttrReals(group, "model_param_stats", 4 * (hsize_t)P, st));
    for (PetscInt j = 0; j < P; j++)
      cfg->param_mean[j] = st[j], cfg->param_sd[j] = st[P + j], cfg->param_min[j] = st[2 * P + j],
      cfg->param_max[j] = st[3 * P + j];
  }
  if (Ci > 0) {
    PetscCall(BOH5ReadAttrReals(group, "model_input_stats", 2 * (hsize_t)Ci, st));
    for (PetscInt j = 0; j < Ci; j++) cfg->input_mean[j] = st[j], cfg->input_sd[j] = st[Ci + j];
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOModelConfigLoad(hid_t group, BOModelConfig *cfg)
{
  int64_t v[NINTS], nc, per, input = BO_INPUT_LINEAR, noise[2] = {0, 0};
  hid_t   str;

  PetscFunctionBegin;
  memset(cfg, 0, sizeof(*cfg));
  PetscCall(attr_read(group, "model_kind", H5T_NATIVE_INT64, &v[0]));
  PetscCall(attr_read(group, "model_shape", H5T_NATIVE_INT64, &v[1]));
  PetscCall(attr_read(group, "model_widths", H5T_NATIVE_INT64, &v[5]));
  PetscCall(attr_read(group, "model_ch_mult", H5T_NATIVE_INT64, &v[10]));
  PetscCall(attr_read(group, "model_attn", H5T_NATIVE_INT64, &v[10 + BO_MODEL_MAX_LEVELS]));
  PetscCall(attr_read(group, "model_num_classes", H5T_NATIVE_INT64, &nc));
  PetscCall(attr_read(group, "model_periodic", H5T_NATIVE_INT64, &per));
  PetscCall(attr_read(group, "model_max_count", H5T_NATIVE_DOUBLE, &cfg->max_count));
  /* checkpoints from before the attribute existed scaled linearly */
  if (H5Aexists(group, "model_input") > 0) PetscCall(attr_read(group, "model_input", H5T_NATIVE_INT64, &input));
  /* and mean networks before distributional ones existed */
  if (H5Aexists(group, "model_noise") > 0) PetscCall(attr_read(group, "model_noise", H5T_NATIVE_INT64, noise));
  double total[3] = {0, 0, 1};
  if (H5Aexists(group, "model_total") > 0) PetscCall(attr_read(group, "model_total", H5T_NATIVE_DOUBLE, total));
  cfg->condition_total = total[0] != 0 ? PETSC_TRUE : PETSC_FALSE, cfg->total_mean = total[1], cfg->total_sd = total[2];
  int64_t top_down = 0; /* (absent: row 0 at the bottom) */
  if (H5Aexists(group, "model_top_down") > 0) PetscCall(BOH5ReadAttrInt(group, "model_top_down", &top_down));
  cfg->top_down = top_down ? PETSC_TRUE : PETSC_FALSE;
  int64_t film  = 0; /* (absent: every checkpoint before FiLM) */
  if (H5Aexists(group, "model_film") > 0) PetscCall(BOH5ReadAttrInt(group, "model_film", &film));
  cfg->film     = film ? PETSC_TRUE : PETSC_FALSE;
  int64_t depth = 1; /* (absent: a 2-D network, as every checkpoint before 3-D ones) */
  if (H5Aexists(group, "model_depth") > 0) PetscCall(BOH5ReadAttrInt(group, "model_depth", &depth));
  cfg->Nz = (PetscInt)depth;
  str     = H5Tcopy(H5T_C_S1);
  BOCallHDF5(str, "H5Tcopy");
  BOCallHDF5(H5Tset_size(str, sizeof(cfg->name)), "H5Tset_size");
  PetscCall(attr_read(group, "model_name", str, cfg->name));
  BOCallHDF5(H5Tclose(str), "H5Tclose");
  cfg->name[sizeof(cfg->name) - 1] = 0;
  PetscCheck(v[0] == BO_MODEL_UNET || v[0] == BO_MODEL_MLP, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "model configuration: unknown kind %lld", (long long)v[0]);
  cfg->kind = (BOModelKind)v[0];
  cfg->Ny = (PetscInt)v[1], cfg->Nx = (PetscInt)v[2], cfg->C = (PetscInt)v[3], cfg->G = (PetscInt)v[4];
  cfg->base_channels = (PetscInt)v[5], cfg->nlevels = (PetscInt)v[6], cfg->num_res_blocks = (PetscInt)v[7];
  cfg->temb_dim = (PetscInt)v[8], cfg->temb_hidden = (PetscInt)v[9];
  for (int l = 0; l < BO_MODEL_MAX_LEVELS; l++) {
    cfg->ch_mult[l] = (PetscInt)v[10 + l];
    cfg->attn[l]    = (PetscInt)v[10 + BO_MODEL_MAX_LEVELS + l];
  }
  cfg->num_classes = (PetscInt)nc, cfg->periodic = per ? PETSC_TRUE : PETSC_FALSE;
  PetscCheck(
      input == BO_INPUT_LINEAR || input == BO_INPUT_LOG1P, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
      "model configuration: unknown input scaling %lld in model_input (0 linear, 1 log1p; a newer version's file?)",
      (long long)input);
  cfg->input          = (BOModelInput)input;
  cfg->noise_channels = (PetscInt)noise[0], cfg->noise_latent = (PetscInt)noise[1];
  PetscCall(load_conditions(group, cfg));
  PetscCall(bo_model_config_check(cfg));
  PetscFunctionReturn(0);
}

PetscErrorCode BOModelConfigBcast(BOModelConfig *cfg, PetscMPIInt root, MPI_Comm comm)
{
  PetscFunctionBegin;
  PetscCallMPI(MPI_Bcast(cfg, sizeof(*cfg), MPI_BYTE, root, comm)); /* plain data, no pointers */
  PetscFunctionReturn(0);
}
