static const char help[] = "petsc_load: a downstream PETSc program's view of a Blackout field file.\n"
                           "Creates a DMDA from the file's Mx, My, dof attributes (and Mz: a 3-D DMDA),\n"
                           "or from the dataset's shape when it has none (files PETSc wrote; -dims 3 reads\n"
                           "a 4-D one as (N, Nz, Ny, Nx)), VecLoads every member with PetscViewerHDF5\n"
                           "(timestepping, timestep = member) and compares each owned value with the file\n"
                           "read directly through HDF5. Exit 0 if all match.\n"
                           "  -file FILE  -name counts  [-dims 3]\n";

#include <petscdmda.h>
#include <petscviewerhdf5.h>
#include "bo_sys.h"

/* Integer attribute of the dataset. */
static PetscErrorCode read_int_attr(hid_t d, const char *name, PetscInt *v)
{
  long long x;
  hid_t     a = H5Aopen(d, name, H5P_DEFAULT);

  PetscFunctionBegin;
  BOCallHDF5(a, "no attribute %s", name);
  BOCallHDF5(H5Aread(a, H5T_NATIVE_LLONG, &x), "cannot read attribute %s", name);
  H5Aclose(a);
  *v = (PetscInt)x;
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char           file[PETSC_MAX_PATH_LEN] = "", name[256] = "counts";
  PetscInt       Mx, My, Mz = 1, dof, N, bad = 0, dims_opt = 0;
  PetscBool      is3d;
  hid_t          f, d, sp;
  hsize_t        dims[8];
  int            nd;
  double        *ref;
  DM             da;
  Vec            x;
  PetscViewer    v;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  ierr = BOAppStart("petsc_load");
  if (ierr) return BOAppFinish(ierr);
  PetscCall(PetscOptionsGetString(NULL, NULL, "-file", file, sizeof(file), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-name", name, sizeof(name), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-dims", &dims_opt, NULL));

  /* 1. Grid from the attributes (or the shape); the whole dataset read directly, on every rank (small files only). */
  f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
  PetscCheck(f >= 0, PETSC_COMM_WORLD, PETSC_ERR_FILE_OPEN, "cannot open %s", file);
  d = H5Dopen2(f, name, H5P_DEFAULT);
  PetscCheck(d >= 0, PETSC_COMM_WORLD, PETSC_ERR_FILE_UNEXPECTED, "no dataset %s", name);
  sp = H5Dget_space(d);
  nd = H5Sget_simple_extent_ndims(sp);
  PetscCheck(nd >= 3 && nd <= 5, PETSC_COMM_WORLD, PETSC_ERR_FILE_UNEXPECTED, "dataset %s has %d axes", name, nd);
  H5Sget_simple_extent_dims(sp, dims, NULL);
  H5Sclose(sp);
  N    = (PetscInt)dims[0];
  is3d = (PetscBool)(nd == 5 || H5Aexists(d, "Mz") > 0 || (nd == 4 && dims_opt == 3));
  if (H5Aexists(d, "Mx") > 0) {
    PetscCall(read_int_attr(d, "Mx", &Mx));
    PetscCall(read_int_attr(d, "My", &My));
    PetscCall(read_int_attr(d, "dof", &dof));
    if (is3d) PetscCall(read_int_attr(d, "Mz", &Mz));
  } else if (is3d) { /* what VecView of a 3-D DMDA writes: (N, Mz, My, Mx[, dof]) */
    Mz = (PetscInt)dims[1], My = (PetscInt)dims[2], Mx = (PetscInt)dims[3], dof = nd == 5 ? (PetscInt)dims[4] : 1;
  } else {
    My = (PetscInt)dims[1], Mx = (PetscInt)dims[2], dof = nd == 4 ? (PetscInt)dims[3] : 1;
  }
  PetscCall(PetscMalloc1((size_t)N * Mz * My * Mx * dof, &ref));
  BOCallHDF5(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, ref), "cannot read %s", name);
  H5Dclose(d);
  H5Fclose(f);

  /* 2. The DMDA and its vector, named like the dataset. */
  if (is3d)
    PetscCall(DMDACreate3d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR,
                           Mx, My, Mz, PETSC_DECIDE, PETSC_DECIDE, PETSC_DECIDE, dof, 1, NULL, NULL, NULL, &da));
  else
    PetscCall(DMDACreate2d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR, Mx, My,
                           PETSC_DECIDE, PETSC_DECIDE, dof, 1, NULL, NULL, &da));
  PetscCall(DMSetUp(da));
  PetscCall(DMCreateGlobalVector(da, &x));
  PetscCall(PetscObjectSetName((PetscObject)x, name));

  /* 3. VecLoad each member and compare the owned part (a 2-D DMDA has zs = 0, zm = 1). */
  PetscCall(PetscViewerHDF5Open(PETSC_COMM_WORLD, file, FILE_MODE_READ, &v));
  PetscCall(PetscViewerHDF5PushTimestepping(v));
  for (PetscInt k = 0; k < N; k++) {
    DMDALocalInfo info;
    PetscScalar  *a;
    PetscCall(PetscViewerHDF5SetTimestep(v, k));
    PetscCall(VecLoad(x, v));
    PetscCall(DMDAGetLocalInfo(da, &info));
    PetscCall(VecGetArray(x, &a));
    for (PetscInt z = info.zs, n = 0; z < info.zs + info.zm; z++)
      for (PetscInt j = info.ys; j < info.ys + info.ym; j++)
        for (PetscInt i = info.xs; i < info.xs + info.xm; i++)
          for (PetscInt c = 0; c < dof; c++, n++)
            if (a[n] != ref[((((size_t)k * Mz + z) * My + j) * Mx + i) * dof + c]) bad++;
    PetscCall(VecRestoreArray(x, &a));
  }
  PetscCall(PetscViewerHDF5PopTimestepping(v));
  PetscCall(PetscViewerDestroy(&v));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPIU_INT, MPI_SUM, PETSC_COMM_WORLD));
  if (is3d)
    PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                          "petsc_load: %" PetscInt_FMT " members of %" PetscInt_FMT " x %" PetscInt_FMT
                          " x %" PetscInt_FMT " x %" PetscInt_FMT " (3-D DMDA): %" PetscInt_FMT " mismatches\n",
                          N, Mz, My, Mx, dof, bad));
  else
    PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                          "petsc_load: %" PetscInt_FMT " members of %" PetscInt_FMT " x %" PetscInt_FMT
                          " x %" PetscInt_FMT ": %" PetscInt_FMT " mismatches\n",
                          N, My, Mx, dof, bad));
  PetscCall(VecDestroy(&x));
  PetscCall(DMDestroy(&da));
  PetscCall(PetscFree(ref));
  PetscCheck(bad == 0, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "VecLoad disagrees with the file in %" PetscInt_FMT " values",
             bad);
  return BOAppFinish(0);
}
