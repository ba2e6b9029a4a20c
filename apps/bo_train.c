static char help[] =
  "Train a Blackout diffusion model on count data, data-parallel over MPI ranks.\n\n"
  "  mpirun -n P bo_train -data FILE.h5 -steps N -batch B -checkpoint CKPT.h5\n"
  "         [-checkpoint_every K] [-restart] [-seed S] [-log FILE.csv] [-model unet-s|unet-tiny|mlp|...]\n\n"
  "Every rank reads only its shard of the data; the global batch B is split over\n"
  "ranks and gradients are summed with one MPI_Allreduce per step, so any rank\n"
  "count follows the same trajectory. SIGUSR1 or SIGTERM (Slurm's warning before\n"
  "the time limit, or preemption) makes all ranks write a checkpoint at the next\n"
  "step and exit with status 99; rerun with -restart to continue to -steps.\n"
  "Exit status: 0 done, 1 error, 99 checkpointed but not finished (requeue).\n\n";

#include "blackout.h"
#include "bo_trainer.h"

int main(int argc, char **argv)
{
  PetscErrorCode ierr;
  BOTrainer      tr          = NULL;
  PetscBool      interrupted = PETSC_FALSE, help_asked;

  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  ierr = BOAppStart("bo_train");
  /* 1. options, data, model (new or restored) */
  if (!ierr) ierr = BOTrainerInstallSignalHandlers();
  if (!ierr) BOSetBLASThreads();
  if (!ierr) ierr = BOTrainerCreate(PETSC_COMM_WORLD, &tr);
  if (!ierr) ierr = BOTrainerSetFromOptions(tr);
  if (!ierr) ierr = PetscOptionsHasHelp(NULL, &help_asked);
  if (!ierr && help_asked) { /* -help: the options are listed; do nothing */
    BOTrainerDestroy(&tr);
    return BOAppFinish(0);
  }
  if (!ierr) ierr = BOCheckLauncher(PETSC_COMM_WORLD);
  if (!ierr) ierr = BOTrainerSetUp(tr);
  if (!ierr) ierr = BOTrainerView(tr, NULL);
  /* 2. train, with progress lines, the CSV log and checkpoints */
  if (!ierr) ierr = BOTrainerTrain(tr, &interrupted);
  if (!ierr) ierr = BOTrainerDestroy(&tr);
  if (!ierr && interrupted) {
    PetscFinalize();
    return BO_EXIT_REQUEUE;
  }
  return BOAppFinish(ierr);
}
