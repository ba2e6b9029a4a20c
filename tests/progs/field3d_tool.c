static const char help[] =
    "field3d_tool: 3-D field files for the program tests.\n"
    "  field3d_tool -out F.h5 -n N -nz NZ -ny NY -nx NX [-c C] [-via writer|petsc] [-first F]\n"
    "      member k, element e holds (k * 37 + e * 11) % 97, e the element's index in\n"
    "      the member (x fastest, components innermost; k counts from F); written in\n"
    "      shards by BOWriter (the project's layout, attribute Mz), or by PETSc's VecView\n"
    "      of a 3-D DMDA with timestepping (no attributes but timestepping). -first F\n"
    "      writes members F..F+N-1 of an ensemble with shard provenance (for -merge).\n"
    "      -conditions (writer): also labels k %% 3 and params a,b = (k %% 3 + 0.1 (k %% 4), k).\n"
    "      -seed S (writer): member k is Poisson counts of intensity 1 + 6 exp(-|p - p_k|^2 / 8)\n"
    "      around a random centre p_k (the stream (S, test, k)), every component alike\n"
    "      in law (for bo_eval; two seeds: two draws of one ensemble). -params (writer,\n"
    "      not with -conditions): also params a = k %% 3, the bumps 3 + 3 a high.\n"
    "  field3d_tool -set_mz V -out F.h5     sets the integer attribute Mz of F.h5's counts\n";

#include <math.h>
#include <petscdmda.h>
#include <petscviewerhdf5.h>
#include <string.h>
#include "bo_dataset.h"
#include "bo_h5.h"
#include "bo_io.h"
#include "bo_rng.h"
#include "bo_sys.h"

static float value_of(PetscInt k, PetscInt e) { return (float)((k * 37 + e * 11) % 97); }

/* Member k of the random ensemble of seed (-seed): a smooth bump of counts
 * at a random cell, so cells are correlated over a few cells in 3-D. */
static void random_member(PetscInt seed, PetscInt k, double height, const PetscInt shape[4], float *x)
{
  const PetscInt Nz = shape[0], Ny = shape[1], Nx = shape[2], C = shape[3];
  BORng          rng;
  double         cz, cy, cx;

  BORngInit(&rng, (uint64_t)seed, BO_RNG_TEST, (uint32_t)k, 0);
  cz = BORngUniform(&rng) * Nz, cy = BORngUniform(&rng) * Ny, cx = BORngUniform(&rng) * Nx;
  for (PetscInt z = 0; z < Nz; z++)
    for (PetscInt y = 0; y < Ny; y++)
      for (PetscInt i = 0; i < Nx; i++) {
        double r2 = (z - cz) * (z - cz) + (y - cy) * (y - cy) + (i - cx) * (i - cx);
        for (PetscInt c = 0; c < C; c++)
          x[((z * Ny + y) * Nx + i) * C + c] = (float)BORngPoisson(&rng, 1 + height * exp(-r2 / 8));
      }
}

/* Member k's label k % 3 and params (k % 3 + 0.1 (k % 4), k), for members first .. first + n - 1. */
static PetscErrorCode write_conditions(BOWriter w, PetscInt first, PetscInt n)
{
  PetscInt *labels;
  double   *params;

  PetscFunctionBegin;
  PetscCall(PetscMalloc2(n + 1, &labels, 2 * n + 1, &params));
  for (PetscInt s = 0; s < n; s++) {
    const PetscInt k = first + s;
    labels[s] = k % 3, params[2 * s] = (double)(k % 3) + 0.1 * (double)(k % 4), params[2 * s + 1] = (double)k;
  }
  PetscCall(BOWriterWriteLabels(w, first, n, labels));
  PetscCall(BOWriterWriteParams(w, first, n, params));
  PetscCall(PetscFree2(labels, params));
  PetscFunctionReturn(0);
}

static PetscErrorCode write_writer(const char *out, PetscInt N, PetscInt first_member, PetscInt seed, PetscBool params,
                                   PetscBool conditions, const PetscInt shape[4])
{
  PetscMPIInt rank, size;
  PetscInt    first, n, D = shape[0] * shape[1] * shape[2] * shape[3];
  float      *x;
  double     *a;
  BOWriter    w;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  BODatasetShard(N, size, rank, &first, &n);
  PetscCall(PetscMalloc2((size_t)n * D + 1, &x, n + 1, &a));
  for (PetscInt s = 0; s < n; s++) {
    PetscInt k = PetscMax(first_member, 0) + first + s;
    a[s]       = (double)(k % 3);
    if (seed >= 0) random_member(seed, k, params ? 3 + 3 * a[s] : 6, shape, x + (size_t)s * D);
    else
      for (PetscInt e = 0; e < D; e++) x[(size_t)s * D + e] = value_of(k, e);
  }
  PetscCall(BOWriterCreate(PETSC_COMM_WORLD, out, "counts", N, 4, shape, &w));
  PetscCall(BOWriterSetMaxCount(w, 96));
  PetscCall(BOWriterSetFromOptions(w));
  if (params) PetscCall(BOWriterSetParams(w, 1, "a"));
  if (conditions) {
    PetscCall(BOWriterSetLabels(w, PETSC_TRUE));
    PetscCall(BOWriterSetParams(w, 2, "a,b"));
  }
  if (first_member >= 0) { /* what bo_sample writes on a shard, for -merge */
    static const char *const keys[] = {"checkpoint_crc32", "sampler", "sample_grid", "totals", NULL};
    static const char *const ints[] = {"seed", "sample_steps", "micro_batch", "label", "observed_cells", NULL};
    for (int i = 0; keys[i]; i++) PetscCall(BOWriterSetAttributeString(w, keys[i], "test"));
    for (int i = 0; ints[i]; i++) PetscCall(BOWriterSetAttributeInt(w, ints[i], 1));
    PetscCall(BOWriterSetAttributeInt(w, "first_member", first_member));
  }
  PetscCall(BOWriterWrite(w, first, n, x));
  if (params) PetscCall(BOWriterWriteParams(w, first, n, a));
  if (conditions) PetscCall(write_conditions(w, first, n));
  PetscCall(BOWriterClose(w));
  PetscCall(BOWriterDestroy(&w));
  PetscCall(PetscFree2(x, a));
  PetscFunctionReturn(0);
}

/* What a PETSc simulation writes: VecView of a 3-D DMDA vector, one timestep a member. */
static PetscErrorCode write_petsc(const char *out, PetscInt N, const PetscInt shape[4])
{
  const PetscInt Nz = shape[0], Ny = shape[1], Nx = shape[2], C = shape[3];
  DM             da;
  Vec            v;
  PetscViewer    h5;
  PetscInt       xs, ys, zs, xm, ym, zm;

  PetscFunctionBegin;
  PetscCall(DMDACreate3d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR, Nx,
                         Ny, Nz, PETSC_DECIDE, PETSC_DECIDE, PETSC_DECIDE, C, 1, NULL, NULL, NULL, &da));
  PetscCall(DMSetUp(da));
  PetscCall(DMCreateGlobalVector(da, &v));
  PetscCall(PetscObjectSetName((PetscObject)v, "counts"));
  PetscCall(DMDAGetCorners(da, &xs, &ys, &zs, &xm, &ym, &zm));
  PetscCall(PetscViewerHDF5Open(PETSC_COMM_WORLD, out, FILE_MODE_WRITE, &h5));
  PetscCall(PetscViewerHDF5PushTimestepping(h5));
  for (PetscInt k = 0; k < N; k++) {
    PetscScalar ****a;
    PetscCall(DMDAVecGetArrayDOF(da, v, &a));
    for (PetscInt z = zs; z < zs + zm; z++)
      for (PetscInt y = ys; y < ys + ym; y++)
        for (PetscInt x = xs; x < xs + xm; x++)
          for (PetscInt c = 0; c < C; c++) a[z][y][x][c] = value_of(k, ((z * Ny + y) * Nx + x) * C + c);
    PetscCall(DMDAVecRestoreArrayDOF(da, v, &a));
    PetscCall(PetscViewerHDF5SetTimestep(h5, k));
    PetscCall(VecView(v, h5));
  }
  PetscCall(PetscViewerHDF5PopTimestepping(h5));
  PetscCall(PetscViewerDestroy(&h5));
  PetscCall(VecDestroy(&v));
  PetscCall(DMDestroy(&da));
  PetscFunctionReturn(0);
}

static PetscErrorCode set_mz(const char *out, PetscInt mz)
{
  PetscMPIInt rank;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank == 0) {
    hid_t f = H5Fopen(out, H5F_ACC_RDWR, H5P_DEFAULT), d;
    PetscCheck(f >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot open %s", out);
    d = H5Dopen2(f, "counts", H5P_DEFAULT);
    PetscCheck(d >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s has no counts", out);
    PetscCall(BOH5WriteAttrInt(d, "Mz", mz));
    H5Dclose(d);
    H5Fclose(f);
  }
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  PetscFunctionReturn(0);
}

static PetscErrorCode run(void)
{
  char      out[PETSC_MAX_PATH_LEN] = "", via[16] = "writer";
  PetscInt  N = 3, shape[4] = {4, 6, 5, 1}, first = -1, mz = 0, seed = -1;
  PetscBool has_mz, params = PETSC_FALSE, conditions = PETSC_FALSE;

  PetscFunctionBegin;
  PetscCall(PetscOptionsGetString(NULL, NULL, "-out", out, sizeof(out), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-via", via, sizeof(via), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &N, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nz", &shape[0], NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-ny", &shape[1], NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nx", &shape[2], NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-c", &shape[3], NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-first", &first, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-set_mz", &mz, &has_mz));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-seed", &seed, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-params", &params, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-conditions", &conditions, NULL));
  PetscCheck(!(params && conditions), PETSC_COMM_WORLD, PETSC_ERR_ARG_INCOMP, "-params or -conditions, not both");
  PetscCheck(out[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "give -out FILE");
  if (has_mz) PetscCall(set_mz(out, mz));
  else if (!strcmp(via, "petsc")) PetscCall(write_petsc(out, N, shape));
  else PetscCall(write_writer(out, N, first, seed, params, conditions, shape));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscErrorCode ierr;

  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  ierr = BOAppStart("field3d_tool");
  if (!ierr) ierr = run();
  return BOAppFinish(ierr);
}
