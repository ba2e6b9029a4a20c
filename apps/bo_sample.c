static char help[] =
  "Generate an ensemble of count snapshots from a Blackout checkpoint.\n\n"
  "  mpirun -n P bo_sample -checkpoint CKPT.h5 -n N -out ENS.h5 [-seed S]\n"
  "         [-sampler bridge|tauleap] [-sample_steps K] [-batch B] [-png FILE.png]\n"
  "         [-label L [-guidance W]] [-condition OBS.h5] [-first_member F]\n\n"
  "Members are generated in micro-batches of B aligned to the member index and\n"
  "dealt to ranks, so the ensemble is bit-identical on any number of ranks.\n"
  "-first_member F (a multiple of B) generates members F..F+N-1 of the same\n"
  "ensemble: shards of a job array join into the single-job file with -merge.\n"
  "  bo_sample -merge A.h5,B.h5,... -out ENS.h5   joins shards in member order.\n\n";

#include "blackout.h"
#include "bo_io.h"
#include "bo_png.h"
#include "bo_ensemble.h"
#include "bo_sampler.h"

int main(int argc, char **argv)
{
  PetscErrorCode ierr;
  BOSampler      s = NULL;
  PetscInt       n = 16, first = 0;
  char           out[PETSC_MAX_PATH_LEN] = "ensemble.h5", png[PETSC_MAX_PATH_LEN] = "", merge[4096] = "";
  PetscBool      has_merge, help_asked;

  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  ierr = BOAppStart("bo_sample");
  if (!ierr) BOSetBLASThreads();
  if (!ierr) ierr = BOCheckLauncher(PETSC_COMM_WORLD);
  /* 1. what to write */
  if (!ierr) {
    PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "Ensemble output", NULL);
    ierr = PetscOptionsInt("-n", "members to generate", NULL, n, &n, NULL);
    if (!ierr) ierr = PetscOptionsInt("-first_member", "index of the first member (multiple of -batch)", NULL, first, &first, NULL);
    if (!ierr) ierr = PetscOptionsString("-out", "output HDF5 file", NULL, out, out, sizeof(out), NULL);
    if (!ierr) ierr = PetscOptionsString("-png", "PNG montage of the first members", NULL, png, png, sizeof(png), NULL);
    if (!ierr) ierr = PetscOptionsString("-merge", "comma-separated shard files to join into -out", NULL, merge, merge, sizeof(merge), &has_merge);
    PetscOptionsEnd();
  }
  if (!ierr && has_merge) {
    ierr = BOMergeEnsembles(PETSC_COMM_WORLD, merge, out);
    return BOAppFinish(ierr);
  }
  /* 2. the model from the checkpoint, sampler settings, conditioning */
  if (!ierr) ierr = BOSamplerCreate(PETSC_COMM_WORLD, &s);
  if (!ierr) ierr = BOSamplerSetFromOptions(s);
  if (!ierr) ierr = PetscOptionsHasHelp(NULL, &help_asked);
  if (!ierr && help_asked) { /* -help: the options are listed; do nothing */
    BOSamplerDestroy(&s);
    return BOAppFinish(0);
  }
  if (!ierr) ierr = BOSamplerSetUp(s);
  if (!ierr) ierr = BOSamplerView(s, NULL);
  /* 3. generate and write block by block; then the pictures */
  if (!ierr) ierr = BOSamplerWriteEnsemble(s, first, n, out);
  if (!ierr && png[0]) ierr = BOPNGFromFile(PETSC_COMM_WORLD, out, "counts", 64, png);
  if (!ierr) ierr = PetscPrintf(PETSC_COMM_WORLD, "wrote %" PetscInt_FMT " members to %s%s%s\n", n, out, png[0] ? " and " : "", png);
  if (!ierr) ierr = BOSamplerDestroy(&s);
  return BOAppFinish(ierr);
}
