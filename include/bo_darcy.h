/* Single-phase incompressible Darcy flow on a cell-centred 2-D or 3-D DMDA.
 *
 *   -div(k grad p) = 0  on [0, Mx hx] x [0, My hy] (x [0, Mz hz] in 3-D),
 *   p = p_left at x = 0, p = p_right at x = Mx hx, no flow through the
 *   faces y = 0, y = My hy (and z = 0, z = Mz hz in 3-D).
 *
 * Two-point flux approximation: the transmissibility between neighbours is
 * (face length / distance) times the harmonic mean of their permeabilities
 * (face area / distance in 3-D: the 7-point stencil); Dirichlet faces use
 * the half-cell distance. The matrix is symmetric
 * positive definite; the default solver is CG (tolerance 1e-12) with PETSc's
 * default preconditioner, all changeable with the options prefix given
 * (e.g. -darcy_ksp_type preonly -darcy_pc_type lu).
 *
 * The DMDA must have dof 1 and stencil width >= 1; it may be distributed
 * (bo_darcy solves members loaded with VecLoad) or on PETSC_COMM_SELF
 * (bo_datagen solves one realization per rank).
 */
#ifndef BO_DARCY_H
#define BO_DARCY_H
#include <petscdmda.h>
#include <petscksp.h>

typedef struct {
  PetscReal hx, hy;          /* cell sizes */
  PetscReal p_left, p_right; /* pressures on the inflow and outflow faces */
  PetscReal hz;              /* cell size in z: 3-D DMDAs only (must be > 0 there) */
} BODarcyProblem;

/* Solve for pressure (a global vector of da) given the permeability perm
 * (a global vector of da, entries > 0). its: KSP iterations (may be NULL). */
PetscErrorCode BODarcySolve(DM da, Vec perm, const BODarcyProblem *prob, const char *prefix, Vec pressure,
                            PetscInt *its);
/* Total volumetric flow rate through the inflow face x = 0. Collective. The
 * effective permeability of the domain is q (Mx hx) / ((p_left - p_right) My hy),
 * in 3-D q (Mx hx) / ((p_left - p_right) My hy Mz hz). */
PetscErrorCode BODarcyInflow(DM da, Vec perm, Vec pressure, const BODarcyProblem *prob, PetscReal *q);
/* All face fluxes, for a DMDA on one rank: qx[j (Mx+1) + i] through the face
 * left of cell (j, i) (i = Mx: the outflow face), positive towards +x;
 * qy[j Mx + i] through the face below cell (j, i), positive towards +y. */
PetscErrorCode BODarcyFaceFluxes(DM da, Vec perm, Vec pressure, const BODarcyProblem *prob, double *qx, double *qy);
/* The same for a 3-D DMDA on one rank, cell (l, j, i) at z, y, x index:
 * qx[(l My + j) (Mx+1) + i] through the face left of the cell (i = Mx: the
 * outflow face), qy[(l (My+1) + j) Mx + i] the face below it in y,
 * qz[(l My + j) Mx + i] the face below it in z (l = 0 .. Mz; 0 at the walls),
 * each positive towards increasing index. */
PetscErrorCode BODarcyFaceFluxes3D(DM da, Vec perm, Vec pressure, const BODarcyProblem *prob, double *qx, double *qy,
                                   double *qz);

#endif
