/* Work that one rank does for all: rank 0 tries, every rank gets the same
 * outcome. */
#include <stdio.h>
#include "bo_h5.h"
#include "bo_sys.h"

PetscErrorCode BORootTry(MPI_Comm comm, BORootFn fn, void *ctx, const char *what)
{
  PetscMPIInt rank;
  int         code                          = 0;
  char        msg[PETSC_MAX_PATH_LEN + 512] = "";

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    PetscErrorCode ierr;
    BOH5Quiet();
    PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
    ierr = fn(ctx);
    PetscCall(PetscPopErrorHandler());
    if (ierr) {
      const char *text;
      char       *specific;
      PetscErrorMessage(ierr, &text, &specific);
      snprintf(msg, sizeof(msg), "%s%s%s", what ? what : "", what ? ": " : "",
               specific && specific[0] ? specific : text);
      code = (int)ierr;
    }
  }
  PetscCallMPI(MPI_Bcast(&code, 1, MPI_INT, 0, comm));
  if (code) PetscCallMPI(MPI_Bcast(msg, sizeof(msg), MPI_CHAR, 0, comm));
  PetscCheck(!code, comm, (PetscErrorCode)code, "%s", msg);
  PetscFunctionReturn(0);
}
