/* Single-phase Darcy flow on a cell-centred 2-D or 3-D DMDA (two-point fluxes). */
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

/* One row per owned cell of a 2-D DMDA: the sum of the transmissibilities
 * on the diagonal, minus each neighbour's; Dirichlet faces feed the rhs. */
static PetscErrorCode assemble_2d(DM da, Vec kloc, const BODarcyProblem *prob, Mat A, Vec b)
{
  static const PetscInt di[4] = {-1, 1, 0, 0}, dj[4] = {0, 0, -1, 1};
  DMDALocalInfo         info;
  PetscScalar         **k, **rhs;

  PetscFunctionBegin;
  PetscCall(DMDAGetLocalInfo(da, &info));
  PetscCall(DMDAVecGetArrayRead(da, kloc, &k));
  PetscCall(DMDAVecGetArray(da, b, &rhs));
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
  PetscCall(DMDAVecRestoreArray(da, b, &rhs));
  PetscCall(DMDAVecRestoreArrayRead(da, kloc, &k));
  PetscFunctionReturn(0);
}

/* Face area over the distance between cell centres, for faces normal to
 * x (axis 0), y (1) or z (2) of a 3-D grid. */
static PetscReal face_geometry_3d(const BODarcyProblem *prob, int axis)
{
  if (axis == 0) return prob->hy * prob->hz / prob->hx;
  if (axis == 1) return prob->hx * prob->hz / prob->hy;
  return prob->hx * prob->hy / prob->hz;
}

/* The 3-D transmissibility between cell (l, j, i) and its neighbour in
 * direction d (0 west, 1 east, 2 south, 3 north, 4 below, 5 above), as in
 * 2-D: the half-cell one at the Dirichlet faces x = 0 (*dirichlet = 0) and
 * x = Mx hx (1), 0 across the no-flow faces in y and z. */
static PetscReal transmissibility_3d(PetscScalar ***k, PetscInt i, PetscInt j, PetscInt l, PetscInt d,
                                     const DMDALocalInfo *info, const BODarcyProblem *prob, int *dirichlet)
{
  static const PetscInt di[6] = {-1, 1, 0, 0, 0, 0}, dj[6] = {0, 0, -1, 1, 0, 0}, dl[6] = {0, 0, 0, 0, -1, 1};
  const PetscInt        ni = i + di[d], nj = j + dj[d], nl = l + dl[d];
  const PetscReal       g = face_geometry_3d(prob, (int)(d / 2)), kc = PetscRealPart(k[l][j][i]);

  *dirichlet = -1;
  if (ni < 0 || ni >= info->mx) return *dirichlet = ni < 0 ? 0 : 1, 2.0 * g * kc;
  if (nj < 0 || nj >= info->my || nl < 0 || nl >= info->mz) return 0.0;
  return g * harmonic(kc, PetscRealPart(k[nl][nj][ni]));
}

/* The 7-point analogue of assemble_2d on a 3-D DMDA. */
static PetscErrorCode assemble_3d(DM da, Vec kloc, const BODarcyProblem *prob, Mat A, Vec b)
{
  static const PetscInt di[6] = {-1, 1, 0, 0, 0, 0}, dj[6] = {0, 0, -1, 1, 0, 0}, dl[6] = {0, 0, 0, 0, -1, 1};
  DMDALocalInfo         info;
  PetscScalar        ***k, ***rhs;

  PetscFunctionBegin;
  PetscCheck(prob->hx > 0 && prob->hy > 0 && prob->hz > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "a 3-D Darcy problem needs positive cell sizes hx, hy, hz (hz is %g)", (double)prob->hz);
  PetscCall(DMDAGetLocalInfo(da, &info));
  PetscCall(DMDAVecGetArrayRead(da, kloc, &k));
  PetscCall(DMDAVecGetArray(da, b, &rhs));
  for (PetscInt l = info.zs; l < info.zs + info.zm; l++)
    for (PetscInt j = info.ys; j < info.ys + info.ym; j++)
      for (PetscInt i = info.xs; i < info.xs + info.xm; i++) {
        MatStencil  row = {0}, col[7];
        PetscScalar v[7];
        PetscInt    n    = 1;
        PetscReal   diag = 0;
        PetscCheck(PetscRealPart(k[l][j][i]) > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
                   "permeability must be positive: cell (%" PetscInt_FMT ", %" PetscInt_FMT ", %" PetscInt_FMT
                   ") has %g",
                   l, j, i, (double)PetscRealPart(k[l][j][i]));
        row.i = i, row.j = j, row.k = l;
        rhs[l][j][i] = 0;
        for (PetscInt d = 0; d < 6; d++) {
          int       bc;
          PetscReal T = transmissibility_3d(k, i, j, l, d, &info, prob, &bc);
          diag += T;
          if (bc == 0) rhs[l][j][i] += T * prob->p_left;
          else if (bc == 1) rhs[l][j][i] += T * prob->p_right;
          else if (T > 0) {
            col[n].i = i + di[d], col[n].j = j + dj[d], col[n].k = l + dl[d], col[n].c = 0;
            v[n++] = -T;
          }
        }
        col[0] = row, v[0] = diag;
        PetscCall(MatSetValuesStencil(A, 1, &row, n, col, v, INSERT_VALUES));
      }
  PetscCall(DMDAVecRestoreArray(da, b, &rhs));
  PetscCall(DMDAVecRestoreArrayRead(da, kloc, &k));
  PetscFunctionReturn(0);
}

PetscErrorCode BODarcySolve(DM da, Vec perm, const BODarcyProblem *prob, const char *prefix, Vec pressure,
                            PetscInt *its)
{
  DMDALocalInfo info;
  Mat           A;
  Vec           kloc, b;
  KSP           ksp;
  MPI_Comm      comm;

  PetscFunctionBegin;
  PetscCall(PetscObjectGetComm((PetscObject)da, &comm));
  PetscCall(DMDAGetLocalInfo(da, &info));
  PetscCheck(info.dof == 1 && info.sw >= 1 && (info.dim == 2 || info.dim == 3), comm, PETSC_ERR_ARG_WRONG,
             "BODarcySolve needs a 2-D or 3-D DMDA with dof 1 and stencil width >= 1");
  PetscCall(DMGetLocalVector(da, &kloc));
  PetscCall(DMGlobalToLocalBegin(da, perm, INSERT_VALUES, kloc));
  PetscCall(DMGlobalToLocalEnd(da, perm, INSERT_VALUES, kloc));
  PetscCall(DMCreateMatrix(da, &A));
  PetscCall(DMCreateGlobalVector(da, &b));

  /* 1. Assemble the two-point-flux matrix and the Dirichlet right-hand side. */
  if (info.dim == 3) PetscCall(assemble_3d(da, kloc, prob, A, b));
  else PetscCall(assemble_2d(da, kloc, prob, A, b));
  PetscCall(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));
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

/* This rank's share of the flow through the face x = 0 of a 3-D DMDA. */
static PetscErrorCode inflow_3d(DM da, Vec perm, Vec pressure, const BODarcyProblem *prob, PetscReal *local)
{
  DMDALocalInfo   info;
  PetscScalar  ***k, ***p;
  const PetscReal g = face_geometry_3d(prob, 0);

  PetscFunctionBegin;
  PetscCall(DMDAGetLocalInfo(da, &info));
  PetscCall(DMDAVecGetArrayRead(da, perm, &k));
  PetscCall(DMDAVecGetArrayRead(da, pressure, &p));
  *local = 0;
  if (info.xs == 0)
    for (PetscInt l = info.zs; l < info.zs + info.zm; l++)
      for (PetscInt j = info.ys; j < info.ys + info.ym; j++)
        *local += 2.0 * g * PetscRealPart(k[l][j][0]) * (prob->p_left - PetscRealPart(p[l][j][0]));
  PetscCall(DMDAVecRestoreArrayRead(da, perm, &k));
  PetscCall(DMDAVecRestoreArrayRead(da, pressure, &p));
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
  if (info.dim == 3) PetscCall(inflow_3d(da, perm, pressure, prob, &local));
  else {
    PetscCall(DMDAVecGetArrayRead(da, perm, &k));
    PetscCall(DMDAVecGetArrayRead(da, pressure, &p));
    if (info.xs == 0)
      for (PetscInt j = info.ys; j < info.ys + info.ym; j++)
        local += 2.0 * prob->hy / prob->hx * PetscRealPart(k[j][0]) * (prob->p_left - PetscRealPart(p[j][0]));
    PetscCall(DMDAVecRestoreArrayRead(da, perm, &k));
    PetscCall(DMDAVecRestoreArrayRead(da, pressure, &p));
  }
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

/* The flux from cell c0 to its neighbour c1 (permeabilities k0, k1,
 * pressures p0, p1) through a face of geometry g (area over distance). */
static double interior_flux(double g, double k0, double k1, double p0, double p1)
{
  return g * harmonic(k0, k1) * (p0 - p1);
}

PetscErrorCode BODarcyFaceFluxes3D(DM da, Vec perm, Vec pressure, const BODarcyProblem *prob, double *qx, double *qy,
                                   double *qz)
{
  DMDALocalInfo  info;
  PetscScalar ***k, ***p;
  PetscMPIInt    size;
  PetscInt       Mx, My, Mz;
  double         gx, gy, gz;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(PetscObjectComm((PetscObject)da), &size));
  PetscCall(DMDAGetLocalInfo(da, &info));
  PetscCheck(size == 1 && info.dim == 3, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG,
             "BODarcyFaceFluxes3D needs a 3-D DMDA on one rank");
  Mx = info.mx, My = info.my, Mz = info.mz;
  gx = face_geometry_3d(prob, 0), gy = face_geometry_3d(prob, 1), gz = face_geometry_3d(prob, 2);
  PetscCall(DMDAVecGetArrayRead(da, perm, &k));
  PetscCall(DMDAVecGetArrayRead(da, pressure, &p));
  for (PetscInt l = 0; l < Mz; l++)
    for (PetscInt j = 0; j < My; j++)
      for (PetscInt i = 0; i <= Mx; i++) {
        double f;
        if (i == 0) f = 2.0 * gx * PetscRealPart(k[l][j][0]) * (prob->p_left - PetscRealPart(p[l][j][0]));
        else if (i == Mx)
          f = 2.0 * gx * PetscRealPart(k[l][j][Mx - 1]) * (PetscRealPart(p[l][j][Mx - 1]) - prob->p_right);
        else
          f = interior_flux(gx, PetscRealPart(k[l][j][i - 1]), PetscRealPart(k[l][j][i]), PetscRealPart(p[l][j][i - 1]),
                            PetscRealPart(p[l][j][i]));
        qx[(l * My + j) * (Mx + 1) + i] = f;
      }
  for (PetscInt l = 0; l < Mz; l++)
    for (PetscInt j = 0; j <= My; j++)
      for (PetscInt i = 0; i < Mx; i++)
        qy[(l * (My + 1) + j) * Mx + i] =
            (j == 0 || j == My) ? 0.0
                                : interior_flux(gy, PetscRealPart(k[l][j - 1][i]), PetscRealPart(k[l][j][i]),
                                                PetscRealPart(p[l][j - 1][i]), PetscRealPart(p[l][j][i]));
  for (PetscInt l = 0; l <= Mz; l++)
    for (PetscInt j = 0; j < My; j++)
      for (PetscInt i = 0; i < Mx; i++)
        qz[(l * My + j) * Mx + i] = (l == 0 || l == Mz)
                                        ? 0.0
                                        : interior_flux(gz, PetscRealPart(k[l - 1][j][i]), PetscRealPart(k[l][j][i]),
                                                        PetscRealPart(p[l - 1][j][i]), PetscRealPart(p[l][j][i]));
  PetscCall(DMDAVecRestoreArrayRead(da, perm, &k));
  PetscCall(DMDAVecRestoreArrayRead(da, pressure, &p));
  PetscFunctionReturn(0);
}
