static const char help[] = "ex1: a PETSc program coupled to a Blackout surrogate.\n"
                           "Loads a checkpoint, fills a DMDA vector with generated member -member M\n"
                           "(BOSamplerFillDMDAVec, any decomposition of the grid) and solves\n"
                           "  -Laplace(u) = f on the unit square, u = 0 on the boundary,\n"
                           "with the member's counts as the source f, by KSP (-ksp_type, -pc_type, ...).\n"
                           "  mpirun -n 2 ./ex1 -checkpoint ckpt.h5 [-member 0] [-ksp_monitor]\n";

#include <petscksp.h>
#include "blackout.h"

/* The 5-point Laplacian times h^2 on the DMDA's interior nodes, Dirichlet
 * zero outside: 4 on the diagonal, -1 for each neighbour inside the grid. */
static PetscErrorCode assemble_laplacian(DM da, Mat A)
{
  PetscInt xs, ys, xm, ym, M, N;

  PetscFunctionBeginUser;
  PetscCall(DMDAGetInfo(da, NULL, &M, &N, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL));
  PetscCall(DMDAGetCorners(da, &xs, &ys, NULL, &xm, &ym, NULL));
  for (PetscInt j = ys; j < ys + ym; j++)
    for (PetscInt i = xs; i < xs + xm; i++) {
      MatStencil  row = {.i = i, .j = j}, col[5];
      PetscScalar v[5];
      PetscInt    n = 0;
      col[n] = row, v[n++] = 4.0;
      if (i > 0) col[n] = (MatStencil){.i = i - 1, .j = j}, v[n++] = -1.0;
      if (i < M - 1) col[n] = (MatStencil){.i = i + 1, .j = j}, v[n++] = -1.0;
      if (j > 0) col[n] = (MatStencil){.i = i, .j = j - 1}, v[n++] = -1.0;
      if (j < N - 1) col[n] = (MatStencil){.i = i, .j = j + 1}, v[n++] = -1.0;
      PetscCall(MatSetValuesStencil(A, 1, &row, n, col, v, INSERT_VALUES));
    }
  PetscCall(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  BOSampler          s;
  DM                 da;
  Vec                f, u;
  Mat                A;
  KSP                ksp;
  PetscInt           member = 0, its, Nx, Ny;
  PetscReal          total, norm, h;
  KSPConvergedReason reason;

  PetscFunctionBeginUser;
  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-member", &member, NULL));

  /* 1. The surrogate: a sampler on the checkpoint (-checkpoint, -sample_steps, ...). */
  PetscCall(BOSamplerCreate(PETSC_COMM_WORLD, &s));
  PetscCall(BOSamplerSetFromOptions(s));
  PetscCall(BOSamplerSetUp(s));
  PetscCheck(s->model->cfg.kind == BO_MODEL_UNET && s->model->cfg.C == 1, PETSC_COMM_WORLD, PETSC_ERR_SUP,
             "ex1 needs a checkpoint of one-component fields");
  Nx = s->model->cfg.Nx, Ny = s->model->cfg.Ny;

  /* 2. The grid of the model's fields, and member `member` as the source. */
  PetscCall(DMDACreate2d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR, Nx, Ny, PETSC_DECIDE,
                         PETSC_DECIDE, 1, 1, NULL, NULL, &da));
  PetscCall(DMSetFromOptions(da));
  PetscCall(DMSetUp(da));
  PetscCall(DMCreateGlobalVector(da, &f));
  PetscCall(VecDuplicate(f, &u));
  PetscCall(BOSamplerFillDMDAVec(s, member, da, f));
  PetscCall(VecSum(f, &total));

  /* 3. Solve h^-2 L u = f: L u = h^2 f. */
  h = 1.0 / (PetscMax(Nx, Ny) + 1);
  PetscCall(VecScale(f, h * h));
  PetscCall(DMCreateMatrix(da, &A));
  PetscCall(assemble_laplacian(da, A));
  PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
  PetscCall(KSPSetOperators(ksp, A, A));
  PetscCall(KSPSetFromOptions(ksp));
  PetscCall(KSPSolve(ksp, f, u));
  PetscCall(KSPGetIterationNumber(ksp, &its));
  PetscCall(KSPGetConvergedReason(ksp, &reason));
  PetscCall(VecNorm(u, NORM_INFINITY, &norm));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "ex1: member %" PetscInt_FMT " of %s: %" PetscInt_FMT " x %" PetscInt_FMT
                        " cells, total count %g; KSP %s in %" PetscInt_FMT " iterations, max u = %g\n",
                        member, s->checkpoint, Nx, Ny, (double)total, KSPConvergedReasons[reason], its, (double)norm));
  PetscCheck(reason > 0, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "KSP did not converge");

  PetscCall(KSPDestroy(&ksp));
  PetscCall(MatDestroy(&A));
  PetscCall(VecDestroy(&u));
  PetscCall(VecDestroy(&f));
  PetscCall(DMDestroy(&da));
  PetscCall(BOSamplerDestroy(&s));
  PetscCall(PetscFinalize());
  return 0;
}
