/* Single-phase incompressible Darcy flow on a cell-centred 2-D DMDA.
 *
 *   -div(k grad p) = 0  on [0, Mx hx] x [0, My hy],
 *   p = p_left at x = 0, p = p_right at x = Mx hx, no flow through y = 0, y = My hy.
 *
 * Two-point flux approximation: the transmissibility between neighbours is
 * (face length / distance) times the harmonic mean of their permeabilities;
 * Dirichlet faces use the half-cell distance. The matrix is symmetric
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
} BODarcyProblem;

/* Solve for pressure (a global vector of da) given the permeability perm
 * (a global vector of da, entries > 0). its: KSP iterations (may be NULL). */
PetscErrorCode BODarcySolve(DM da, Vec perm, const BODarcyProblem *prob, const char *prefix, Vec pressure,
                            PetscInt *its);
/* Total volumetric flow rate through the inflow face x = 0. Collective. The
 * effective permeability of the domain is q (Mx hx) / ((p_left - p_right) My hy). */
PetscErrorCode BODarcyInflow(DM da, Vec perm, Vec pressure, const BODarcyProblem *prob, PetscReal *q);
/* All face fluxes, for a DMDA on one rank: qx[j (Mx+1) + i] through the face
 * left of cell (j, i) (i = Mx: the outflow face), positive towards +x;
 * qy[j Mx + i] through the face below cell (j, i), positive towards +y. */
PetscErrorCode BODarcyFaceFluxes(DM da, Vec perm, Vec pressure, const BODarcyProblem *prob, double *qx, double *qy);

#endif
