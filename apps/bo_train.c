static char help[] =
    "Train a Blackout diffusion model on count data, data-parallel over MPI ranks.\n\n"
    "  mpirun -n P bo_train -data FILE.h5 -steps N -batch B -checkpoint CKPT.h5\n"
    "         [-checkpoint_every K] [-restart] [-seed S] [-log FILE.csv] [-model unet-s|unet-tiny|mlp|...]\n\n"
    "2-D fields (N, Ny, Nx[, C]) train a 2-D U-Net, 3-D fields (N, Nz, Ny, Nx[, C]) the\n"
    "3-D U-Net of the same -model (z halved while the depth is even and >= 4), count\n"
    "vectors an MLP. Input fields (N, [Nz,] Ny, Nx[, Ci]) enter as extra channels.\n"
    "Every rank reads only its shard of the data; the global batch B is split over\n"
    "ranks and gradients are summed with one MPI_Allreduce per step, so any rank\n"
    "count follows the same trajectory. SIGUSR1 or SIGTERM (Slurm's warning before\n"
    "the time limit, or preemption), or SIGINT (Ctrl-C), makes all ranks write a\n"
    "checkpoint at the next step and exit with status 99; rerun with -restart to\n"
    "continue to -steps.\n"
    "Exit status: 0 done, 1 error, 99 checkpointed but not finished (requeue).\n\n";

#include "bo_sys.h"
#include "bo_trainer.h"

/* *interrupted: a signal stopped the run after a checkpoint (exit 99). */
static PetscErrorCode run(PetscBool *interrupted)
{
  BOTrainer tr;
  PetscBool help;

  PetscFunctionBegin;
  /* 1. Options, data, model (new or restored). */
  PetscCall(BOTrainerInstallSignalHandlers());
  PetscCall(BOTrainerCreate(PETSC_COMM_WORLD, &tr));
  PetscCall(BOTrainerSetFromOptions(tr));
  PetscCall(PetscOptionsHasHelp(NULL, &help));
  if (help) { /* -help: the options are listed (the network's as for a 32 x 32 field); do nothing */
    const PetscInt shape[3] = {32, 32, 1};
    BOModelConfig  cfg;
    PetscCall(BOModelConfigAuto(shape, PETSC_TRUE, 255, &cfg));
    PetscCall(BOModelConfigSetFromOptions(PETSC_COMM_WORLD, &cfg));
    PetscCall(BOTrainerDestroy(&tr));
    PetscFunctionReturn(0);
  }
  PetscCall(BOTrainerSetUp(tr));
  PetscCall(BOTrainerView(tr, NULL));
  PetscCall(BOWarnUnusedOptions()); /* every option is read by now: say so before hours of training */
  /* 2. Train, with progress lines, the CSV log and checkpoints. */
  PetscCall(BOTrainerTrain(tr, interrupted));
  PetscCall(BOTrainerDestroy(&tr));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscErrorCode ierr;
  PetscBool      interrupted = PETSC_FALSE;
  int            status;

  PetscFunctionBeginUser;
  if (BOAppArgs(&argc, argv, "bo_train", help)) return 1;
  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  ierr = BOAppStart("bo_train");
  if (!ierr) ierr = run(&interrupted);
  status = BOAppFinish(ierr);
  return status == 0 && interrupted ? BO_EXIT_REQUEUE : status;
}
