static const char help[] = "split_members: -in F.h5 -even A.h5 -odd B.h5 writes the even and the odd members\n"
                           "of a file of 2-D fields (counts and inputs) to two files: two independent halves of\n"
                           "every group of walks on one field. One rank. For tests/cli/eval_by_inputs.sh.\n";
#include "bo_dataset.h"
#include "bo_io.h"
#include "bo_sys.h"

static PetscErrorCode write_half(BODataset ds, PetscInt parity, const char *path)
{
  const PetscInt n = (ds->N + 1 - parity) / 2, Di = ds->Ny * ds->Nx * ds->Ci;
  PetscInt       shape[3] = {ds->Ny, ds->Nx, ds->C};
  float         *x, *in;
  BOWriter       w;

  PetscFunctionBegin;
  PetscCall(PetscMalloc2((size_t)n * ds->D, &x, (size_t)n * Di, &in));
  for (PetscInt i = 0; i < n; i++) {
    PetscCall(PetscArraycpy(x + (size_t)i * ds->D, ds->x + (size_t)(2 * i + parity) * ds->D, ds->D));
    PetscCall(PetscArraycpy(in + (size_t)i * Di, ds->inputs + (size_t)(2 * i + parity) * Di, Di));
  }
  PetscCall(BOWriterCreate(PETSC_COMM_WORLD, path, "counts", n, ds->C > 1 ? 3 : 2, shape, &w));
  PetscCall(BOWriterSetMaxCount(w, ds->max_count));
  PetscCall(BOWriterSetInputs(w, ds->Ci));
  PetscCall(BOWriterWrite(w, 0, n, x));
  PetscCall(BOWriterWriteInputs(w, 0, n, in));
  PetscCall(BOWriterClose(w));
  PetscCall(BOWriterDestroy(&w));
  PetscCall(PetscFree2(x, in));
  PetscFunctionReturn(0);
}

static PetscErrorCode run(void)
{
  char        in[PETSC_MAX_PATH_LEN] = "", even[PETSC_MAX_PATH_LEN] = "", odd[PETSC_MAX_PATH_LEN] = "";
  BODataset   ds;
  PetscMPIInt size;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCheck(size == 1, PETSC_COMM_WORLD, PETSC_ERR_SUP, "split_members runs on one rank");
  PetscCall(PetscOptionsGetString(NULL, NULL, "-in", in, sizeof(in), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-even", even, sizeof(even), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-odd", odd, sizeof(odd), NULL));
  PetscCheck(in[0] && even[0] && odd[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "give -in, -even and -odd");
  PetscCall(BODatasetCreate(PETSC_COMM_WORLD, &ds));
  PetscCall(BODatasetSetFile(ds, in, "counts"));
  PetscCall(BODatasetOpen(ds));
  PetscCheck(ds->is_field && !ds->is_3d && ds->has_inputs, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG,
             "%s: need 2-D fields with inputs", in);
  PetscCall(BODatasetLoadInputs(ds));
  PetscCall(write_half(ds, 0, even));
  PetscCall(write_half(ds, 1, odd));
  PetscCall(BODatasetDestroy(&ds));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  if (BOAppArgs(&argc, argv, "split_members", help)) return 1;
  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  ierr = BOAppStart("split_members");
  if (!ierr) ierr = run();
  return BOAppFinish(ierr);
}
