/* BOSampler conditioning on observed cells: the value and mask of the cells
 * (the exact bridge takes them to their value; core/reverse.c). */
#include <math.h>
#include <stdio.h>
#include "bo_dataset.h"
#include "bo_h5.h"
#include "bo_sampler.h"
#include "bo_sys.h"

PetscErrorCode BOSamplerSetObservations(BOSampler s, const float *value, const float *mask)
{
  const PetscInt D = s->model->dim;

  PetscFunctionBegin;
  PetscCall(PetscFree2(s->obs_value, s->obs_mask));
  PetscCall(PetscMalloc2(D, &s->obs_value, D, &s->obs_mask));
  for (PetscInt i = 0; i < D; i++) {
    PetscCheck(mask[i] == 0.0f || mask[i] == 1.0f, s->comm, PETSC_ERR_ARG_OUTOFRANGE,
               "mask value %g at element %" PetscInt_FMT " is not 0 or 1", (double)mask[i], i);
    const char *why =
        mask[i] ? BOCountProblem(value[i], s->max_count > 0 ? s->max_count : BO_MAX_EXACT_COUNT, "-cap") : NULL;
    PetscCheck(!why, s->comm, PETSC_ERR_ARG_OUTOFRANGE, "observed value %g at element %" PetscInt_FMT " is %s",
               (double)value[i], i, why);
    s->obs_value[i] = mask[i] ? value[i] : 0.0f;
    s->obs_mask[i]  = mask[i] ? 1.0f : 0.0f;
  }
  PetscFunctionReturn(0);
}

typedef struct {
  const char *path;
  PetscInt    D, ndim, shape[4]; /* the model's members: (Nz, Ny, Nx, C), (Ny, Nx, C) or (G) */
  float      *value, *mask;
} ObsJob;

static PetscErrorCode read_observations(void *ctx)
{
  ObsJob        *j = (ObsJob *)ctx;
  hid_t          file;
  PetscErrorCode ierr;
  char           what[PETSC_MAX_PATH_LEN + 16];

  PetscFunctionBegin;
  file = H5Fopen(j->path, H5F_ACC_RDONLY, H5P_DEFAULT);
  PetscCheck(file >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "-condition %s: cannot open as HDF5", j->path);
  snprintf(what, sizeof(what), "-condition %s", j->path);
  ierr = BOMemberShapedRead(file, what, "value", "the model's members", j->ndim, j->shape, j->value);
  if (!ierr) ierr = BOMemberShapedRead(file, what, "mask", "the model's members", j->ndim, j->shape, j->mask);
  H5Fclose(file);
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

PetscErrorCode BOSamplerLoadObservations(BOSampler s, const char *path)
{
  const BOModelConfig *cfg = &s->model->cfg;
  ObsJob               job = {path, s->model->dim, 1, {s->model->dim}, NULL, NULL};

  PetscFunctionBegin;
  if (cfg->kind == BO_MODEL_UNET && cfg->Nz > 1) /* a 3-D member: (Nz, Ny, Nx[, C]) */
    job.ndim = 4, job.shape[0] = cfg->Nz, job.shape[1] = cfg->Ny, job.shape[2] = cfg->Nx, job.shape[3] = cfg->C;
  else if (cfg->kind == BO_MODEL_UNET)
    job.ndim = 3, job.shape[0] = cfg->Ny, job.shape[1] = cfg->Nx, job.shape[2] = cfg->C;
  PetscCall(PetscMalloc2(job.D, &job.value, job.D, &job.mask));
  PetscCall(BORootTry(s->comm, read_observations, &job, NULL));
  PetscCallMPI(MPI_Bcast(job.value, (int)job.D, MPI_FLOAT, 0, s->comm));
  PetscCallMPI(MPI_Bcast(job.mask, (int)job.D, MPI_FLOAT, 0, s->comm));
  PetscCall(BOSamplerSetObservations(s, job.value, job.mask));
  PetscCall(PetscFree2(job.value, job.mask));
  PetscFunctionReturn(0);
}
