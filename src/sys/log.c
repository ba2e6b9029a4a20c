/* Profiling (-log_view): every stage and event of the library, registered
 * in one place. */
#include "bo_sys.h"

BOLogIds BOLog;

PetscErrorCode BOLogRegister(void)
{
  static PetscBool done = PETSC_FALSE;

  PetscFunctionBegin;
  if (done) PetscFunctionReturn(0);
  done = PETSC_TRUE;
  PetscCall(PetscClassIdRegister("Blackout", &BOLog.classid));
  PetscCall(PetscLogStageRegister("Train", &BOLog.train));
  PetscCall(PetscLogStageRegister("Sample", &BOLog.sample));
  PetscCall(PetscLogEventRegister("BOLoadBatch", BOLog.classid, &BOLog.load));
  PetscCall(PetscLogEventRegister("BOForward", BOLog.classid, &BOLog.forward));
  PetscCall(PetscLogEventRegister("BOBackward", BOLog.classid, &BOLog.backward));
  PetscCall(PetscLogEventRegister("BOAllreduce", BOLog.classid, &BOLog.allreduce));
  PetscCall(PetscLogEventRegister("BOOptimizer", BOLog.classid, &BOLog.optimizer));
  PetscCall(PetscLogEventRegister("BOCheckpoint", BOLog.classid, &BOLog.checkpoint));
  PetscCall(PetscLogEventRegister("BOSampleSteps", BOLog.classid, &BOLog.sample_steps));
  PetscCall(PetscLogEventRegister("BOSampleNet", BOLog.classid, &BOLog.sample_net));
  PetscCall(PetscLogEventRegister("BOSampleWrite", BOLog.classid, &BOLog.sample_write));
  PetscCall(PetscClassIdRegister("BODataset", &BOLog.dataset));
  PetscCall(PetscLogEventRegister("BODataRead", BOLog.dataset, &BOLog.data_read));
  PetscCall(PetscClassIdRegister("BOWriter", &BOLog.writer));
  PetscCall(PetscLogEventRegister("BODataWrite", BOLog.writer, &BOLog.data_write));
  PetscFunctionReturn(0);
}
