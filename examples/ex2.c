static const char help[] = "ex2: a PETSc simulation whose snapshots are Blackout training data as they are.\n"
                           "Each snapshot is one realization of P particles released at the centre of an\n"
                           "Nx x Ny grid that take S random steps of one cell (reflected at the walls):\n"
                           "the particle count per cell, a DMDA vector written with VecView to an HDF5\n"
                           "file with timestepping on (timestep k = snapshot k), the layout bo_train reads.\n"
                           "  mpirun -n 2 ./ex2 -out snaps.h5 [-n 32] [-nx 16] [-ny 16] [-particles 400] [-walk 30]\n"
                           "  mpirun -n 2 bo_train -data snaps.h5 -steps 1000 -batch 32 -checkpoint ckpt.h5\n";

#include <petscdmda.h>
#include <petscviewerhdf5.h>

/* One realization into the global vector x: every rank walks its share of
 * the particles and adds them where they end (ADD_VALUES across ranks). */
static PetscErrorCode realize(PetscRandom rnd, PetscInt nx, PetscInt ny, PetscInt particles, PetscInt walk, Vec x)
{
  PetscMPIInt rank, size;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(VecSet(x, 0.0));
  for (PetscInt p = rank; p < particles; p += size) {
    PetscInt i = nx / 2, j = ny / 2;
    for (PetscInt s = 0; s < walk; s++) {
      PetscReal r;
      PetscCall(PetscRandomGetValueReal(rnd, &r));
      if (r < 0.25) i = i > 0 ? i - 1 : i + 1;
      else if (r < 0.5) i = i < nx - 1 ? i + 1 : i - 1;
      else if (r < 0.75) j = j > 0 ? j - 1 : j + 1;
      else j = j < ny - 1 ? j + 1 : j - 1;
    }
    /* x is in the DMDA's PETSc ordering; (i, j) is a natural index */
    PetscCall(VecSetValue(x, j * nx + i, 1.0, ADD_VALUES));
  }
  PetscCall(VecAssemblyBegin(x));
  PetscCall(VecAssemblyEnd(x));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char        out[PETSC_MAX_PATH_LEN] = "snapshots.h5";
  PetscInt    n = 32, nx = 16, ny = 16, particles = 400, walk = 30;
  DM          da;
  Vec         x, natural;
  PetscRandom rnd;
  PetscViewer viewer;
  PetscMPIInt rank;

  PetscFunctionBeginUser;
  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-out", out, sizeof(out), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &n, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nx", &nx, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-ny", &ny, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-particles", &particles, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-walk", &walk, NULL));
  PetscCheck(n > 0 && nx > 1 && ny > 1 && particles > 0 && walk >= 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE,
             "need -n > 0, -nx and -ny > 1, -particles > 0, -walk >= 0");
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));

  PetscCall(DMDACreate2d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR, nx, ny, PETSC_DECIDE,
                         PETSC_DECIDE, 1, 0, NULL, NULL, &da));
  PetscCall(DMSetUp(da));
  PetscCall(DMCreateGlobalVector(da, &x));
  PetscCall(DMDACreateNaturalVector(da, &natural));
  PetscCall(PetscObjectSetName((PetscObject)x, "counts")); /* the dataset bo_train reads by default */
  PetscCall(PetscRandomCreate(PETSC_COMM_SELF, &rnd));
  PetscCall(PetscRandomSetSeed(rnd, (unsigned long)(1000 + rank)));
  PetscCall(PetscRandomSeed(rnd));

  PetscCall(PetscViewerHDF5Open(PETSC_COMM_WORLD, out, FILE_MODE_WRITE, &viewer));
  PetscCall(PetscViewerHDF5PushTimestepping(viewer));
  for (PetscInt k = 0; k < n; k++) {
    PetscCall(realize(rnd, nx, ny, particles, walk, natural));
    PetscCall(DMDANaturalToGlobalBegin(da, natural, INSERT_VALUES, x));
    PetscCall(DMDANaturalToGlobalEnd(da, natural, INSERT_VALUES, x));
    PetscCall(PetscViewerHDF5SetTimestep(viewer, k));
    PetscCall(VecView(x, viewer));
  }
  PetscCall(PetscViewerHDF5PopTimestepping(viewer));
  PetscCall(PetscViewerDestroy(&viewer));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "ex2: %" PetscInt_FMT " snapshots of %" PetscInt_FMT " x %" PetscInt_FMT
                        " cells, %" PetscInt_FMT " particles each, in %s\n",
                        n, nx, ny, particles, out));
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(VecDestroy(&natural));
  PetscCall(VecDestroy(&x));
  PetscCall(DMDestroy(&da));
  PetscCall(PetscFinalize());
  return 0;
}
