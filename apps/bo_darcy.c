static const char help[] =
    "bo_darcy: a downstream PETSc solver on an ensemble of count fields.\n"
    "\n"
    "  mpirun -n 2 bo_darcy -data ens.h5 [-data_name counts] [-n N] -out results.csv [-out_h5 results.h5]\n"
    "\n"
    "For each member k, VecLoad (PetscViewerHDF5, timestep k) into a global\n"
    "vector of a DMDA distributed over all ranks (2-D, or 3-D for 3-D fields\n"
    "(N, Nz, Ny, Nx[, C])), map counts to a permeability\n"
    "k = 10^(perm_log10_min + perm_log10_per_count * count) (clipped to\n"
    "10^perm_log10_max; component 0 when the field has several), solve\n"
    "single-phase Darcy flow with p = 1 on the face x = 0, p = 0 on x = Nx, no\n"
    "flow through the other faces (BODarcySolve: two-point fluxes, 5-point in\n"
    "2-D, 7-point in 3-D; CG to 1e-12 by default; -ksp_* and -pc_* options\n"
    "apply, no prefix), and write member,k_eff,outflow,iterations.\n"
    "k_eff = q Nx / (dp Ny) for unit cells, q Nx / (dp Ny Nz) in 3-D, q the flow\n"
    "rate through the domain.\n"
    "The defaults map bo_datagen's -reservoir_output permeability levels back to\n"
    "its log-permeability. See docs/EVAL.md.\n";

#include <errno.h>
#include <math.h>
#include <petscdmda.h>
#include <petscviewerhdf5.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "bo_darcy.h"
#include "bo_dataset.h"
#include "bo_sys.h"

typedef struct {
  char      data[PETSC_MAX_PATH_LEN], name[256], out[PETSC_MAX_PATH_LEN], out_h5[PETSC_MAX_PATH_LEN];
  PetscInt  n;
  PetscReal log10_min, log10_per_count, log10_max, dp;
  PetscBool help;
} Options;

static PetscErrorCode get_options(Options *o)
{
  PetscFunctionBegin;
  PetscCall(PetscMemzero(o, sizeof(*o)));
  PetscCall(PetscStrncpy(o->name, "counts", sizeof(o->name)));
  o->n = -1, o->log10_min = -1.19, o->log10_per_count = 0.231, o->log10_max = 8, o->dp = 1;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "bo_darcy options", NULL);
  PetscCall(PetscOptionsString("-data", "ensemble of count fields (HDF5, (N, Ny, Nx[, C]) or (N, Nz, Ny, Nx[, C]))",
                               NULL, o->data, o->data, sizeof(o->data), NULL));
  PetscCall(PetscOptionsString("-data_name", "dataset path", NULL, o->name, o->name, sizeof(o->name), NULL));
  PetscCall(PetscOptionsInt("-n", "members to process (default all)", NULL, o->n, &o->n, NULL));
  PetscCall(PetscOptionsString("-out", "CSV results: member,k_eff,outflow,iterations", NULL, o->out, o->out,
                               sizeof(o->out), NULL));
  PetscCall(PetscOptionsString("-out_h5", "also write the results as HDF5 datasets", NULL, o->out_h5, o->out_h5,
                               sizeof(o->out_h5), NULL));
  PetscCall(
      PetscOptionsReal("-perm_log10_min", "log10 permeability of count 0", NULL, o->log10_min, &o->log10_min, NULL));
  PetscCall(PetscOptionsReal("-perm_log10_per_count", "log10 permeability added per count", NULL, o->log10_per_count,
                             &o->log10_per_count, NULL));
  PetscCall(
      PetscOptionsReal("-perm_log10_max", "upper clip of log10 permeability", NULL, o->log10_max, &o->log10_max, NULL));
  PetscCall(PetscOptionsReal("-dp", "pressure drop, left minus right", NULL, o->dp, &o->dp, NULL));
  PetscOptionsEnd();
  PetscCall(PetscOptionsHasHelp(NULL, &o->help));
  if (o->help) PetscFunctionReturn(0);
  PetscCheck(o->data[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "give the ensemble with -data FILE");
  PetscCheck(o->out[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "give the results file with -out FILE.csv");
  PetscCheck(o->dp > 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-dp must be positive");
  {
    const BOFileArg out[] = {{"-out", o->out}, {"-out_h5", o->out_h5}}, in[] = {{"-data", o->data}};
    PetscCall(BOCheckOutputs(PETSC_COMM_WORLD, 2, out, 1, in));
  }
  PetscFunctionReturn(0);
}

/* Dataset shape (N, Ny, Nx[, C]), or (N, Nz, Ny, Nx[, C]) for a 3-D field
 * (Nz = 1 for 2-D), from the file's metadata; every layout error is raised
 * on all ranks alike (all read the same metadata). */
static PetscErrorCode inspect(const Options *o, PetscInt *N, PetscInt *Nz, PetscInt *Ny, PetscInt *Nx, PetscInt *C,
                              PetscBool *is_3d)
{
  int     ok = 0, nd = 0, ts = 0, sdim = 2;
  hsize_t dims[8]  = {0};
  char    why[256] = "";
  hid_t   f = -1, d = -1;

  PetscFunctionBegin;
  if (access(o->data, R_OK) == 0) {
    PetscPushErrorHandler(PetscReturnErrorHandler, NULL); /* HDF5 prints nothing either */
    H5E_BEGIN_TRY
    {
      if (H5Fis_hdf5(o->data) > 0) f = H5Fopen(o->data, H5F_ACC_RDONLY, H5P_DEFAULT);
      if (f >= 0) ok = 1, d = H5Dopen2(f, o->name, H5P_DEFAULT);
      if (d >= 0) {
        hid_t sp = H5Dget_space(d);
        ok = 2, nd = H5Sget_simple_extent_ndims(sp);
        if (nd > 0 && nd <= 8) H5Sget_simple_extent_dims(sp, dims, NULL);
        H5Sclose(sp);
        if (nd >= 2 && nd <= 5) sdim = BOFieldSpatialDims(d, 0, why, sizeof(why)); /* 2-D or 3-D */
        if (H5Aexists(d, "timestepping") > 0) {
          hid_t a = H5Aopen(d, "timestepping", H5P_DEFAULT);
          if (a >= 0 && H5Aread(a, H5T_NATIVE_INT, &ts) < 0) ts = 0;
          if (a >= 0) H5Aclose(a);
        }
        H5Dclose(d);
      }
      if (f >= 0) H5Fclose(f);
    }
    H5E_END_TRY;
    PetscPopErrorHandler();
  }
  PetscCheck(ok >= 1, PETSC_COMM_WORLD, PETSC_ERR_FILE_OPEN,
             "%s: cannot open (missing, unreadable or not an HDF5 file)", o->data);
  PetscCheck(ok >= 2, PETSC_COMM_WORLD, PETSC_ERR_FILE_UNEXPECTED, "%s: no dataset %s (see -data_name)", o->data,
             o->name);
  PetscCheck(nd != 2, PETSC_COMM_WORLD, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset %s holds vectors (N, G), not fields: bo_darcy needs (N, Ny, Nx) or (N, Ny, Nx, C)", o->data,
             o->name);
  PetscCheck(sdim >= 0, PETSC_COMM_WORLD, PETSC_ERR_FILE_UNEXPECTED, "%s: dataset %s %s", o->data, o->name, why);
  PetscCheck(nd >= 3 && nd <= 5, PETSC_COMM_WORLD, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset %s has %d axes: bo_darcy needs (N, Ny, Nx), (N, Ny, Nx, C), (N, Nz, Ny, Nx) or (N, Nz, Ny, "
             "Nx, C)",
             o->data, o->name, nd);
  PetscCheck(ts, PETSC_COMM_WORLD, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset %s has no timestepping = 1 attribute, so PETSc cannot VecLoad its members (docs/DATA.md)",
             o->data, o->name);
  *is_3d = (PetscBool)(sdim == 3);
  {
    const int z = *is_3d ? 1 : 0; /* the z axis, if any, comes after the member axis */
    *N = (PetscInt)dims[0], *Nz = *is_3d ? (PetscInt)dims[1] : 1;
    *Ny = (PetscInt)dims[1 + z], *Nx = (PetscInt)dims[2 + z], *C = nd == 4 + z ? (PetscInt)dims[3 + z] : 1;
  }
  PetscCheck(*N >= 1 && *Nz >= 1 && *Ny >= 1 && *Nx >= 1 && *C >= 1, PETSC_COMM_WORLD, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset %s is empty", o->data, o->name);
  PetscFunctionReturn(0);
}

/* count -> permeability, in place on the owned entries. */
static PetscErrorCode counts_to_permeability(const Options *o, Vec k)
{
  PetscScalar *a;
  PetscInt     n;

  PetscFunctionBegin;
  PetscCall(VecGetLocalSize(k, &n));
  PetscCall(VecGetArray(k, &a));
  for (PetscInt i = 0; i < n; i++) {
    PetscReal l = o->log10_min + o->log10_per_count * PetscRealPart(a[i]);
    a[i]        = PetscPowReal(10.0, PetscMin(l, o->log10_max));
  }
  PetscCall(VecRestoreArray(k, &a));
  PetscFunctionReturn(0);
}

/* The results as CSV: member,k_eff,outflow,iterations. */
typedef struct {
  PetscInt        n;
  const double   *keff, *q;
  const PetscInt *its;
} Results;

static void csv_body(FILE *f, const void *pr, const void *unused)
{
  const Results *r = (const Results *)pr;
  (void)unused;
  fprintf(f, "member,k_eff,outflow,iterations\n");
  for (PetscInt k = 0; k < r->n; k++) fprintf(f, "%d,%.12g,%.12g,%d\n", (int)k, r->keff[k], r->q[k], (int)r->its[k]);
}

/* Optional HDF5 copy: datasets k_eff, outflow (N doubles), iterations (N ints). */
static PetscErrorCode write_h5(const char *path, PetscInt n, const double *keff, const double *q, const PetscInt *its)
{
  PetscMPIInt rank;
  int         ok = 1;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank == 0) {
    char    tmp[PETSC_MAX_PATH_LEN + 32];
    hsize_t dim = (hsize_t)n;
    hid_t   f, sp;
    int    *it = (int *)malloc(sizeof(int) * (size_t)n);
    BOTempPath(path, tmp, sizeof(tmp));
    for (PetscInt k = 0; k < n; k++) it[k] = (int)its[k];
    H5E_BEGIN_TRY
    {
      f  = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
      sp = H5Screate_simple(1, &dim, NULL);
      if (f < 0 || sp < 0) ok = 0;
      else {
        const char *names[3] = {"k_eff", "outflow", "iterations"};
        const void *bufs[3]  = {keff, q, it};
        for (int i = 0; i < 3 && ok; i++) {
          hid_t t = i == 2 ? H5T_NATIVE_INT : H5T_NATIVE_DOUBLE;
          hid_t d = H5Dcreate2(f, names[i], t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
          if (d < 0 || H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, bufs[i]) < 0) ok = 0;
          if (d >= 0) H5Dclose(d);
        }
      }
      if (sp >= 0) H5Sclose(sp);
      if (f >= 0 && H5Fclose(f) < 0) ok = 0;
    }
    H5E_END_TRY;
    free(it);
    if (!ok) unlink(tmp);
    else if (rename(tmp, path) != 0) {
      ok = -errno;
      unlink(tmp);
    }
  }
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, PETSC_COMM_WORLD));
  PetscCheck(ok == 1, PETSC_COMM_WORLD, PETSC_ERR_FILE_WRITE, "-out_h5 %s: cannot write it: %s", path,
             ok < 0 ? strerror(-ok) : "HDF5 could not create or write the file");
  PetscFunctionReturn(0);
}

/* The DMDA of one member: 2-D (Ny x Nx) or 3-D (Nz x Ny x Nx), dof C,
 * distributed over all ranks. */
static PetscErrorCode create_member_dmda(PetscInt Nz, PetscInt Ny, PetscInt Nx, PetscInt C, PetscBool is_3d, DM *da)
{
  PetscFunctionBegin;
  if (is_3d)
    PetscCall(DMDACreate3d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR,
                           Nx, Ny, Nz, PETSC_DECIDE, PETSC_DECIDE, PETSC_DECIDE, C, 1, NULL, NULL, NULL, da));
  else
    PetscCall(DMDACreate2d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR, Nx, Ny,
                           PETSC_DECIDE, PETSC_DECIDE, C, 1, NULL, NULL, da));
  PetscCall(DMSetUp(*da));
  PetscFunctionReturn(0);
}

static PetscErrorCode run(void)
{
  Options        o;
  PetscInt       N = 0, Nz = 1, Ny = 0, Nx = 0, C = 0, n, *its;
  PetscBool      is_3d = PETSC_FALSE;
  DM             da, da1;
  Vec            x, k, p;
  PetscViewer    v;
  BODarcyProblem prob = {1.0, 1.0, 1.0, 0.0, 1.0};
  char           grid[96];
  double        *keff, *q, t0 = BOWallTime(), mk = 0, sk = 0, mq = 0, sq = 0;
  char           group[256] = "", *base;
  PetscMPIInt    size;

  PetscFunctionBegin;
  PetscCall(get_options(&o));
  if (o.help) PetscFunctionReturn(0);
  prob.p_left = o.dp;

  /* 1. The file's layout; one member of it is one DMDA vector. */
  PetscCall(inspect(&o, &N, &Nz, &Ny, &Nx, &C, &is_3d));
  n = o.n < 0 ? N : PetscMin(o.n, N);
  PetscCheck(n >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-n must be at least 1");
  PetscCall(create_member_dmda(Nz, Ny, Nx, C, is_3d, &da));
  if (C > 1) PetscCall(DMDACreateCompatibleDMDA(da, 1, &da1)); /* same decomposition, one component */
  else PetscCall(PetscObjectReference((PetscObject)(da1 = da)));
  PetscCall(DMCreateGlobalVector(da, &x));
  PetscCall(DMCreateGlobalVector(da1, &k));
  PetscCall(VecDuplicate(k, &p));
  /* the vector is named like the dataset; a path's directory is the group */
  PetscCall(PetscStrncpy(group, o.name, sizeof(group)));
  base = strrchr(group, '/');
  if (base) *base++ = 0;
  PetscCall(PetscObjectSetName((PetscObject)x, base ? base : o.name));
  PetscCall(PetscMalloc3(n, &keff, n, &q, n, &its));

  /* 2. Member by member: all ranks load and solve it together. */
  PetscCall(PetscViewerHDF5Open(PETSC_COMM_WORLD, o.data, FILE_MODE_READ, &v));
  if (base && group[0]) PetscCall(PetscViewerHDF5PushGroup(v, group));
  PetscCall(PetscViewerHDF5PushTimestepping(v));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  if (is_3d) snprintf(grid, sizeof(grid), "%d x %d x %d", (int)Nz, (int)Ny, (int)Nx);
  else snprintf(grid, sizeof(grid), "%d x %d", (int)Ny, (int)Nx);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "bo_darcy: %" PetscInt_FMT " of %" PetscInt_FMT " members of %s (%s) on %d rank%s\n", n, N,
                        grid, o.data, size, size > 1 ? "s" : ""));
  for (PetscInt m = 0; m < n; m++) {
    PetscCall(PetscViewerHDF5SetTimestep(v, m));
    PetscCall(VecLoad(x, v));
    if (C > 1) PetscCall(VecStrideGather(x, 0, k, INSERT_VALUES));
    else PetscCall(VecCopy(x, k));
    PetscCall(counts_to_permeability(&o, k));
    PetscCall(BODarcySolve(da1, k, &prob, NULL, p, &its[m]));
    PetscCall(BODarcyInflow(da1, k, p, &prob, &q[m]));
    keff[m] = q[m] * (Nx * prob.hx) / (o.dp * Ny * prob.hy); /* 2-D: per unit thickness */
    if (is_3d) keff[m] /= Nz * prob.hz;                      /* 3-D: over the inflow face's area */
    if (m < 5 || (m + 1) % PetscMax(1, n / 10) == 0)
      PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                            "bo_darcy: member %" PetscInt_FMT ": k_eff %.6g, outflow %.6g, %" PetscInt_FMT
                            " iterations\n",
                            m, keff[m], q[m], its[m]));
  }
  PetscCall(PetscViewerHDF5PopTimestepping(v));
  PetscCall(PetscViewerDestroy(&v));

  /* 3. Results and summary. */
  {
    Results r = {n, keff, q, its};
    PetscCall(BOWriteTextFile(PETSC_COMM_WORLD, o.out, csv_body, &r, NULL));
  }
  if (o.out_h5[0]) PetscCall(write_h5(o.out_h5, n, keff, q, its));
  for (PetscInt m = 0; m < n; m++) mk += keff[m] / n, mq += q[m] / n;
  for (PetscInt m = 0; m < n; m++) sk += PetscSqr(keff[m] - mk), sq += PetscSqr(q[m] - mq);
  sk = n > 1 ? sqrt(sk / (n - 1)) : 0, sq = n > 1 ? sqrt(sq / (n - 1)) : 0;
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "bo_darcy: k_eff mean %.6g std %.6g; outflow mean %.6g std %.6g; %.2f s -> %s\n", mk, sk, mq,
                        sq, BOWallTime() - t0, o.out));
  PetscCall(PetscFree3(keff, q, its));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&k));
  PetscCall(VecDestroy(&p));
  PetscCall(DMDestroy(&da1));
  PetscCall(DMDestroy(&da));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  if (BOAppArgs(&argc, argv, "bo_darcy", help)) return 1;
  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  ierr = BOAppStart("bo_darcy");
  if (!ierr) ierr = run();
  return BOAppFinish(ierr);
}
