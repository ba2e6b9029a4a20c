/* Single-phase Darcy flow on a cell-centred DMDA (two-point fluxes). */
#include "bo_darcy.h"

static PetscReal harmonic(PetscReal a, PetscReal b) { return 2.0 * a * b / (a + b); }

/* Transmissibility between cell (j, i) and its neighbour in direction d
 * (0 west, 1 east, 2 south, 3 north), or the half-cell one at a Dirichlet
 * face; 0 across no-flow faces. *dirichlet receives the boundary pressure
 * side: -1 none, 0 left, 1 right. */
static PetscReal transmissibility(PetscScalar **k, PetscInt i, PetscInt j, PetscInt d, PetscInt Mx, PetscInt My,
                                  const BODarcyProblem *prob, int *dirichlet)
{
  PetscReal hx = prob->hx, hy = prob->hy, kc = PetscRealPart(k[j][i]);
  *dirichlet = -1;
  switch (d) {
  case 0:
    if (i == 0) return *dirichlet = 0, 2.0 * hy / hx * kc;
    return hy / hx * harmonic(kc, PetscRealPart(k[j][i - 1]));
  case 1:
    if (i == Mx - 1) return *dirichlet = 1, 2.0 * hy / hx * kc;
    return hy / hx * harmonic(kc, PetscRealPart(k[j][i + 1]));
  case 2: return j == 0 ? 0.0 : hx / hy * harmonic(kc, PetscRealPart(k[j - 1][i]));
  default: return j == My - 1 ? 0.0 : hx / hy * harmonic(kc, PetscRealPart(k[j + 1][i]));
  }
}

PetscErrorCode BODarcySolve(DM da, Vec perm, const BODarcyProblem *prob, const char *prefix, Vec pressure,
                            PetscInt *its)
{
  static const PetscInt di[4] = {-1, 1, 0, 0}, dj[4] = {0, 0, -1, 1};
  DMDALocalInfo         info;
  Mat                   A;
  Vec                   kloc, b;
  PetscScalar         **k, **rhs;
  KSP                   ksp;
  MPI_Comm              comm;

  PetscFunctionBegin;
  PetscCall(PetscObjectGetComm((PetscObject)da, &comm));
  PetscCall(DMDAGetLocalInfo(da, &info));
  PetscCheck(info.dof == 1 && info.sw >= 1, comm, PETSC_ERR_ARG_WRONG,
             "BODarcySolve needs a DMDA with dof 1 and stencil width >= 1");
  PetscCall(DMGetLocalVector(da, &kloc));
  PetscCall(DMGlobalToLocalBegin(da, perm, INSERT_VALUES, kloc));
  PetscCall(DMGlobalToLocalEnd(da, perm, INSERT_VALUES, kloc));
  PetscCall(DMDAVecGetArrayRead(da, kloc, &k));
  PetscCall(DMCreateMatrix(da, &A));
  PetscCall(DMCreateGlobalVector(da, &b));
  PetscCall(DMDAVecGetArray(da, b, &rhs));

  /* 1. Assemble one row per owned cell: sum of transmissibilities on the
   *    diagonal, minus each neighbour's; Dirichlet faces feed the rhs. */
  for (PetscInt j = info.ys; j < info.ys + info.ym; j++)
    for (PetscInt i = info.xs; i < info.xs + info.xm; i++) {
      MatStencil  row = {0}, col[5];
      PetscScalar v[5];
      PetscInt    n    = 1;
      PetscReal   diag = 0;
      PetscCheck(PetscRealPart(k[j][i]) > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
                 "permeability must be positive: cell (%" PetscInt_FMT ", %" PetscInt_FMT ") has %g", j, i,
                 (double)PetscRealPart(k[j][i]));
      row.i = i, row.j = j;
      rhs[j][i] = 0;
      for (PetscInt d = 0; d < 4; d++) {
        int       bc;
        PetscReal T = transmissibility(k, i, j, d, info.mx, info.my, prob, &bc);
        diag += T;
        if (bc == 0) rhs[j][i] += T * prob->p_left;
        else if (bc == 1) rhs[j][i] += T * prob->p_right;
        else if (T > 0) {
          col[n].i = i + di[d], col[n].j = j + dj[d], col[n].k = 0, col[n].c = 0;
          v[n++] = -T;
        }
      }
      col[0] = row, v[0] = diag;
      PetscCall(MatSetValuesStencil(A, 1, &row, n, col, v, INSERT_VALUES));
    }
  PetscCall(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));
  PetscCall(DMDAVecRestoreArray(da, b, &rhs));
  PetscCall(DMDAVecRestoreArrayRead(da, kloc, &k));
  PetscCall(DMRestoreLocalVector(da, &kloc));

  /* 2. Solve: CG, tight tolerance, overridable from the options database. */
  PetscCall(KSPCreate(comm, &ksp));
  PetscCall(KSPSetOperators(ksp, A, A));
  PetscCall(KSPSetType(ksp, KSPCG));
  PetscCall(KSPSetTolerances(ksp, 1e-12, 1e-50, PETSC_DEFAULT, 10000));
  if (prefix) PetscCall(KSPSetOptionsPrefix(ksp, prefix));
  PetscCall(KSPSetFromOptions(ksp));
  PetscCall(KSPSolve(ksp, b, pressure));
  {
    KSPConvergedReason reason;
    PetscCall(KSPGetConvergedReason(ksp, &reason));
    PetscCheck(reason > 0, comm, PETSC_ERR_NOT_CONVERGED, "Darcy pressure solve did not converge (%s)",
               KSPConvergedReasons[reason]);
  }
  if (its) PetscCall(KSPGetIterationNumber(ksp, its));
  PetscCall(KSPDestroy(&ksp));
  PetscCall(MatDestroy(&A));
  PetscCall(VecDestroy(&b));
  PetscFunctionReturn(0);
}

PetscErrorCode BODarcyInflow(DM da, Vec perm, Vec pressure, const BODarcyProblem *prob, PetscReal *q)
{
  DMDALocalInfo info;
  PetscScalar **k, **p;
  PetscReal     local = 0;
  MPI_Comm      comm;

  PetscFunctionBegin;
  PetscCall(PetscObjectGetComm((PetscObject)da, &comm));
  PetscCall(DMDAGetLocalInfo(da, &info));
  PetscCall(DMDAVecGetArrayRead(da, perm, &k));
  PetscCall(DMDAVecGetArrayRead(da, pressure, &p));
  if (info.xs == 0)
    for (PetscInt j = info.ys; j < info.ys + info.ym; j++)
      local += 2.0 * prob->hy / prob->hx * PetscRealPart(k[j][0]) * (prob->p_left - PetscRealPart(p[j][0]));
  PetscCall(DMDAVecRestoreArrayRead(da, perm, &k));
  PetscCall(DMDAVecRestoreArrayRead(da, pressure, &p));
  PetscCallMPI(MPI_Allreduce(&local, q, 1, MPIU_REAL, MPIU_SUM, comm));
  PetscFunctionReturn(0);
}

PetscErrorCode BODarcyFaceFluxes(DM da, Vec perm, Vec pressure, const BODarcyProblem *prob, double *qx, double *qy)
{
  DMDALocalInfo info;
  PetscScalar **k, **p;
  PetscMPIInt   size;
  PetscInt      Mx, My;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(PetscObjectComm((PetscObject)da), &size));
  PetscCheck(size == 1, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "BODarcyFaceFluxes needs a DMDA on one rank");
  PetscCall(DMDAGetLocalInfo(da, &info));
  Mx = info.mx, My = info.my;
  PetscCall(DMDAVecGetArrayRead(da, perm, &k));
  PetscCall(DMDAVecGetArrayRead(da, pressure, &p));
  for (PetscInt j = 0; j < My; j++)
    for (PetscInt i = 0; i <= Mx; i++) {
      double f;
      if (i == 0) f = 2.0 * prob->hy / prob->hx * PetscRealPart(k[j][0]) * (prob->p_left - PetscRealPart(p[j][0]));
      else if (i == Mx)
        f = 2.0 * prob->hy / prob->hx * PetscRealPart(k[j][Mx - 1]) * (PetscRealPart(p[j][Mx - 1]) - prob->p_right);
      else
        f = prob->hy / prob->hx * harmonic(PetscRealPart(k[j][i - 1]), PetscRealPart(k[j][i])) *
            PetscRealPart(p[j][i - 1] - p[j][i]);
      qx[j * (Mx + 1) + i] = f;
    }
  for (PetscInt j = 0; j <= My; j++)
    for (PetscInt i = 0; i < Mx; i++)
      qy[j * Mx + i] = (j == 0 || j == My)
                           ? 0.0
                           : prob->hx / prob->hy * harmonic(PetscRealPart(k[j - 1][i]), PetscRealPart(k[j][i])) *
                                 PetscRealPart(p[j - 1][i] - p[j][i]);
  PetscCall(DMDAVecRestoreArrayRead(da, perm, &k));
  PetscCall(DMDAVecRestoreArrayRead(da, pressure, &p));
  PetscFunctionReturn(0);
}
