/* BOSampler without files: generation is a function of (seed, member) only,
 * and a DMDA vector on any decomposition receives exactly that member. */
#include <petscdmda.h>
#include "blackout.h"
#include "bo_sampler.h"
#include "testutil.h"

/* A sampler around a freshly initialised 8x8 tiny network (no checkpoint);
 * a distributional one when noise > 0, with every member's total fixed when
 * mass >= 0. */
static BOSampler make_sampler_with(MPI_Comm comm, PetscInt block, PetscInt noise, double mass)
{
  BOSampler     s;
  BOModelConfig cfg;
  PetscInt      shape[3] = {8, 8, 1};
  ck_assert_int_eq(BOSamplerCreate(comm, &s), 0);
  s->proc->T = 50;
  ck_assert_int_eq(BOProcessSetUp(s->proc), 0);
  ck_assert_int_eq(BOModelConfigFromName("unet-tiny", shape, PETSC_TRUE, 10.0, &cfg), 0);
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

Suite *suite_sampler(void)
{
  Suite *s  = suite_create("sampler");
  TCase *tc = tcase_create("local");
  tcase_add_test(tc, test_generate_local_alignment);
  tcase_add_test(tc, test_fill_dmda_vec);
  suite_add_tcase(s, tc);
  return s;
}
