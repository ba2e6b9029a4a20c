/* BOSampler without files: generation is a function of (seed, member) only,
 * and a DMDA vector on any decomposition receives exactly that member. */
#include <petscdmda.h>
#include "blackout.h"
#include "bo_sampler.h"
#include "testutil.h"

/* A sampler around a freshly initialised 8x8 tiny network (no checkpoint),
 * a 3-D one on nz x 8 x 8 when nz > 1; a distributional one when noise > 0,
 * with every member's total fixed when mass >= 0. */
static BOSampler make_sampler_nz(MPI_Comm comm, PetscInt nz, PetscInt block, PetscInt noise, double mass)
{
  BOSampler     s;
  BOModelConfig cfg;
  PetscInt      shape[3] = {8, 8, 1}, shape4[4] = {nz, 8, 8, 1};
  ck_assert_int_eq(BOSamplerCreate(comm, &s), 0);
  s->proc->T = 50;
  ck_assert_int_eq(BOProcessSetUp(s->proc), 0);
  if (nz > 1) ck_assert_int_eq(BOModelConfigFromName3D("unet-tiny", shape4, 10.0, &cfg), 0);
  else ck_assert_int_eq(BOModelConfigFromName("unet-tiny", shape, PETSC_TRUE, 10.0, &cfg), 0);
  cfg.noise_channels = noise;
  ck_assert_int_eq(BOModelCreate(comm, &cfg, &s->model), 0);
  ck_assert_int_eq(BOModelInitParams(s->model, 3), 0);
  /* a non-trivial predictor: move the output layer off its near-zero init */
  for (PetscInt i = 0; i < s->model->nparams; i++) s->model->params[i] += 0.05f * (float)((i * 7919) % 13 - 6);
  s->micro_batch = block;
  s->K           = 20;
  s->seed        = 9;
  s->mass        = mass;
  ck_assert_int_eq(BOSamplerSetUp(s), 0);
  return s;
}

static BOSampler make_sampler_with(MPI_Comm comm, PetscInt block, PetscInt noise, double mass)
{
  return make_sampler_nz(comm, 1, block, noise, mass);
}

static BOSampler make_sampler(MPI_Comm comm, PetscInt block) { return make_sampler_with(comm, block, 0, -1); }

static void check_alignment(PetscInt noise, double mass)
{
  /* members 8..15 as one call, as two calls of block 4, and inside 0..23 */
  BOSampler s8 = make_sampler_with(PETSC_COMM_SELF, 8, noise, mass), s4 = make_sampler_with(PETSC_COMM_SELF, 4, noise, mass);
  float     a[8 * 64], b[8 * 64], c[24 * 64];
  ck_assert_int_eq(BOSamplerGenerateLocal(s8, 8, 8, a), 0);
  ck_assert_int_eq(BOSamplerGenerateLocal(s4, 8, 4, b), 0);
  ck_assert_int_eq(BOSamplerGenerateLocal(s4, 12, 4, b + 4 * 64), 0);
  ck_assert_int_eq(BOSamplerGenerateLocal(s8, 0, 24, c), 0);
  ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);
  ck_assert_int_eq(memcmp(a, c + 8 * 64, sizeof(a)), 0);
  int nonzero = 0;
  for (int i = 0; i < 8 * 64; i++) nonzero += a[i] != 0;
  ck_assert_int_gt(nonzero, 0);
  /* unaligned first member is refused */
  ck_assert_int_ne(BOTestExpectError(BOSamplerGenerateLocal(s8, 3, 8, a)), 0);
  /* a fixed total is every member's total */
  for (int b = 0; b < 8 && mass >= 0; b++) {
    double sum = 0;
    for (int i = 0; i < 64; i++) sum += a[b * 64 + i];
    ck_assert_msg(sum == mass, "member %d has %g, -mass %g", 8 + b, sum, mass);
  }
  BOSamplerDestroy(&s8);
  BOSamplerDestroy(&s4);
}

START_TEST(test_generate_local_alignment)
{
  check_alignment(0, -1);
  check_alignment(1, -1); /* a distributional network: its noise is keyed by member too */
  check_alignment(0, 150);
  check_alignment(2, 37);
}
END_TEST

START_TEST(test_fill_dmda_vec)
{
  BOSampler           s = make_sampler(PETSC_COMM_WORLD, 4), ref = make_sampler(PETSC_COMM_SELF, 4);
  DM                  da;
  Vec                 v;
  float               want[4 * 64];
  PetscInt            xs, ys, xm, ym, bad = 0;
  const PetscScalar **a;

  ck_assert_int_eq(BOSamplerGenerateLocal(ref, 4, 4, want), 0); /* member 6 is want[2] */
  ck_assert_int_eq(DMDACreate2d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR, 8, 8,
                                PETSC_DECIDE, PETSC_DECIDE, 1, 1, NULL, NULL, &da),
                   0);
  ck_assert_int_eq(DMSetUp(da), 0);
  ck_assert_int_eq(DMCreateGlobalVector(da, &v), 0);
  ck_assert_int_eq(BOSamplerFillDMDAVec(s, 6, da, v), 0);
  ck_assert_int_eq(DMDAGetCorners(da, &xs, &ys, NULL, &xm, &ym, NULL), 0);
  ck_assert_int_eq(DMDAVecGetArrayRead(da, v, &a), 0);
  for (PetscInt j = ys; j < ys + ym; j++)
    for (PetscInt i = xs; i < xs + xm; i++) bad += a[j][i] != want[2 * 64 + j * 8 + i];
  ck_assert_int_eq(DMDAVecRestoreArrayRead(da, v, &a), 0);
  ck_assert(BOTestAllRanks(bad == 0));
  /* a DMDA of another size is refused */
  DM  da2;
  Vec v2;
  ck_assert_int_eq(DMDACreate2d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR, 9, 8,
                                PETSC_DECIDE, PETSC_DECIDE, 1, 1, NULL, NULL, &da2),
                   0);
  ck_assert_int_eq(DMSetUp(da2), 0);
  ck_assert_int_eq(DMCreateGlobalVector(da2, &v2), 0);
  ck_assert_int_ne(BOTestExpectError(BOSamplerFillDMDAVec(s, 0, da2, v2)), 0);
  VecDestroy(&v2), DMDestroy(&da2), VecDestroy(&v), DMDestroy(&da);
  BOSamplerDestroy(&s);
  BOSamplerDestroy(&ref);
}
END_TEST

/* A 3-D network (unet-tiny on 4 x 8 x 8): the ensemble written on all ranks
 * holds, bit for bit, the members rank 0 generates alone, as (N, Nz, Ny, Nx)
 * with Mz, each at its total (-mass 40); a 3-D DMDA on any decomposition
 * receives exactly member 5, and a 2-D DMDA is refused. */
START_TEST(test_3d_ensemble_and_dmda)
{
  enum { NZ = 4, DV = NZ * 64, NM = 6 };
  BOSampler s = make_sampler_nz(PETSC_COMM_WORLD, NZ, 2, 0, 40), ref = make_sampler_nz(PETSC_COMM_SELF, NZ, 2, 0, 40);
  BODataset ds;
  DM        da;
  Vec       v;
  float     want[NM * DV];
  char      path[PETSC_MAX_PATH_LEN];
  PetscInt  xs, ys, zs, xm, ym, zm, bad = 0;
  const PetscScalar ***a;

  ck_assert_int_eq(BOSamplerGenerateLocal(ref, 0, NM, want), 0);
  for (int m = 0; m < NM; m++) {
    double total = 0;
    for (int i = 0; i < DV; i++) total += want[m * DV + i];
    ck_assert_msg(total == 40, "member %d has total %g, -mass 40", m, total);
  }
  ck_assert_int_eq(BOSamplerWriteEnsemble(s, 0, NM, BOTestPath("ens3d.h5", path, sizeof(path))), 0);
  ck_assert_int_eq(BODatasetCreate(PETSC_COMM_SELF, &ds), 0);
  ck_assert_int_eq(BODatasetSetFile(ds, path, "counts"), 0);
  ck_assert_int_eq(BODatasetOpen(ds), 0); /* 3-D by its attribute Mz */
  ck_assert(ds->is_3d && ds->N == NM && ds->Nz == NZ && ds->Ny == 8 && ds->Nx == 8 && ds->C == 1);
  ck_assert(BOTestAllRanks(memcmp(ds->x, want, sizeof(want)) == 0));
  ck_assert_int_eq(BODatasetDestroy(&ds), 0);

  ck_assert_int_eq(DMDACreate3d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE,
                                DMDA_STENCIL_STAR, 8, 8, NZ, PETSC_DECIDE, PETSC_DECIDE, PETSC_DECIDE, 1, 1, NULL, NULL,
                                NULL, &da),
                   0);
  ck_assert_int_eq(DMSetUp(da), 0);
  ck_assert_int_eq(DMCreateGlobalVector(da, &v), 0);
  ck_assert_int_eq(BOSamplerFillDMDAVec(s, 5, da, v), 0);
  ck_assert_int_eq(DMDAGetCorners(da, &xs, &ys, &zs, &xm, &ym, &zm), 0);
  ck_assert_int_eq(DMDAVecGetArrayRead(da, v, &a), 0);
  for (PetscInt k = zs; k < zs + zm; k++)
    for (PetscInt j = ys; j < ys + ym; j++)
      for (PetscInt i = xs; i < xs + xm; i++) bad += a[k][j][i] != want[5 * DV + (k * 8 + j) * 8 + i];
  ck_assert_int_eq(DMDAVecRestoreArrayRead(da, v, &a), 0);
  ck_assert(BOTestAllRanks(bad == 0));
  VecDestroy(&v), DMDestroy(&da);
  /* a 2-D DMDA of the plane's size is not the 3-D network's grid */
  ck_assert_int_eq(DMDACreate2d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR, 8, 8,
                                PETSC_DECIDE, PETSC_DECIDE, 1, 1, NULL, NULL, &da),
                   0);
  ck_assert_int_eq(DMSetUp(da), 0);
  ck_assert_int_eq(DMCreateGlobalVector(da, &v), 0);
  BOTestExpectErrorMessage(BOSamplerFillDMDAVec(s, 0, da, v),
                           "2-D DMDA 8 x 8 x 1 dof 1 does not match the model's grid 8 x 8 x 4");
  VecDestroy(&v), DMDestroy(&da);
  /* and a 2-D network does not fill a 3-D DMDA of one plane */
  BOSampler s2 = make_sampler(PETSC_COMM_WORLD, 2);
  ck_assert_int_eq(DMDACreate3d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE,
                                DMDA_STENCIL_STAR, 8, 8, 1, PETSC_DECIDE, PETSC_DECIDE, PETSC_DECIDE, 1, 1, NULL, NULL,
                                NULL, &da),
                   0);
  ck_assert_int_eq(DMSetUp(da), 0);
  ck_assert_int_eq(DMCreateGlobalVector(da, &v), 0);
  BOTestExpectErrorMessage(BOSamplerFillDMDAVec(s2, 0, da, v),
                           "3-D DMDA 8 x 8 x 1 dof 1 does not match the model's grid 8 x 8 x 1");
  VecDestroy(&v), DMDestroy(&da);
  BOSamplerDestroy(&s2);
  BOSamplerDestroy(&s);
  BOSamplerDestroy(&ref);
}
END_TEST

Suite *suite_sampler(void)
{
  Suite *s  = suite_create("sampler");
  TCase *tc = tcase_create("local");
  tcase_add_test(tc, test_generate_local_alignment);
  tcase_add_test(tc, test_fill_dmda_vec);
  tcase_add_test(tc, test_3d_ensemble_and_dmda);
  suite_add_tcase(s, tc);
  return s;
}
