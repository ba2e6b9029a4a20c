static const char help[] = "dataset_info: open a count file with BODataset (all options of BODataset)\n"
                           "and print one line: N, shape, max count, labels, the members' smallest and\n"
                           "largest total. For the program tests.\n";

#include <math.h>
#include "bo_dataset.h"
#include "bo_sys.h"

static PetscErrorCode run(void)
{
  BODataset ds;

  PetscFunctionBegin;
  PetscCall(BODatasetCreate(PETSC_COMM_WORLD, &ds));
  PetscCall(BODatasetSetFromOptions(ds));
  PetscCall(BODatasetOpen(ds));
  if (ds->is_3d)
    PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                          "N=%" PetscInt_FMT " field3d Nz=%" PetscInt_FMT " Ny=%" PetscInt_FMT " Nx=%" PetscInt_FMT
                          " C=%" PetscInt_FMT,
                          ds->N, ds->Nz, ds->Ny, ds->Nx, ds->C));
  else if (ds->is_field)
    PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                          "N=%" PetscInt_FMT " field Ny=%" PetscInt_FMT " Nx=%" PetscInt_FMT " C=%" PetscInt_FMT, ds->N,
                          ds->Ny, ds->Nx, ds->C));
  else PetscCall(PetscPrintf(PETSC_COMM_WORLD, "N=%" PetscInt_FMT " vector G=%" PetscInt_FMT, ds->N, ds->G));
  double lo = INFINITY, hi = -INFINITY;
  for (PetscInt i = 0; i < ds->nlocal; i++) lo = PetscMin(lo, ds->totals[i]), hi = PetscMax(hi, ds->totals[i]);
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_DOUBLE, MPI_MIN, PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_DOUBLE, MPI_MAX, PETSC_COMM_WORLD));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, " max=%lld labels=%d classes=%" PetscInt_FMT " totals=%lld..%lld\n",
                        (long long)ds->max_count, (int)ds->has_labels, ds->has_labels ? ds->num_classes : 0,
                        (long long)lo, (long long)hi));
  PetscCall(BODatasetDestroy(&ds));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  ierr = BOAppStart("dataset_info");
  if (!ierr) ierr = run();
  return BOAppFinish(ierr);
}
