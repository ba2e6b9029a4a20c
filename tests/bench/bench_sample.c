static char help[] = "Sampling benchmark (docs/PERFORMANCE.md): unet-s on 32x32, bridge sampler.\n"
                     "  mpirun -n P bench_sample [-members M] [-steps K] [-batch B] [-mass M]\n"
                     "                           [-net_channels ... (a smaller network, e.g. the demo's)]\n"
                     "With -mass M the network is conditioned on the total and every member takes\n"
                     "the exact steps toward total M (the demo's sampler).\n"
                     "Prints key=value lines: network evaluations per second, the share of a\n"
                     "sampling step spent outside the network, seconds per 1000-member ensemble,\n"
                     "and the parallel HDF5 write rate against a plain sequential write.\n";
#include <math.h>
#include <stdlib.h>
#include <unistd.h>
#include "blackout.h"
#include "bo_sampler.h"

/* A sampler around unet-s with weights nudged off their init, so that the
 * predicted births are a few per cell, as in a trained model. */
static PetscErrorCode make_sampler(PetscInt K, PetscInt B, double mass, BOSampler *s)
{
  BOModelConfig cfg;
  PetscInt      shape[3] = {32, 32, 1};

  PetscFunctionBegin;
  PetscCall(BOSamplerCreate(PETSC_COMM_WORLD, s));
  PetscCall(BOProcessSetUp((*s)->proc));
  PetscCall(BOModelConfigFromName("unet-s", shape, PETSC_TRUE, 20.0, &cfg));
  PetscCall(BOModelConfigSetFromOptions(PETSC_COMM_WORLD, &cfg));
  if (mass >= 0) { /* conditioned on log(1 + total), standardised around it */
    cfg.condition_total = PETSC_TRUE, cfg.total_mean = log1p(mass), cfg.total_sd = 0.1;
    (*s)->mass = mass;
  }
  PetscCall(BOModelCreate(PETSC_COMM_WORLD, &cfg, &(*s)->model));
  PetscCall(BOModelInitParams((*s)->model, 1));
  for (PetscInt i = 0; i < (*s)->model->nparams; i++) (*s)->model->params[i] += 0.01f * (float)((i * 7919) % 13 - 6);
  (*s)->K = K, (*s)->micro_batch = B;
  PetscCall(BOSamplerSetUp(*s));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  BOSampler          s;
  PetscInt           M = 64, K = 100, B = 32;
  PetscReal          mass = -1;
  PetscMPIInt        rank, size;
  PetscEventPerfInfo steps, net;
  char               path[PETSC_MAX_PATH_LEN];
  double             t0, t_total, bytes;

  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCall(PetscLogDefaultBegin());
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-members", &M, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-steps", &K, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-batch", &B, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-mass", &mass, NULL));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  BOSetBLASThreads();
  PetscCall(make_sampler(K, B, mass, &s));
  snprintf(path, sizeof(path), "%s/bench_sample_%d.h5", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
  PetscCallMPI(MPI_Bcast(path, sizeof(path), MPI_CHAR, 0, PETSC_COMM_WORLD));

  /* 1. an ensemble of M members (M/size per rank), K steps, written to HDF5 */
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  t0 = BOWallTime();
  PetscCall(BOSamplerWriteEnsemble(s, 0, M, path));
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  t_total = BOWallTime() - t0;
  /* BOSamplerWriteEnsemble logs in its stage "Sample" */
  PetscCall(PetscLogEventGetPerfInfo(BOLog.sample, BOLog.sample_steps, &steps));
  PetscCall(PetscLogEventGetPerfInfo(BOLog.sample, BOLog.sample_net, &net));
  {
    /* per rank: the time in the network against the time of the sampling
     * steps that contain it (draws, bridge update: the rest); the largest
     * share over the ranks */
    double net_max, outside = 1.0 - net.time / steps.time, outside_max, evals = (double)M * (double)K;
    PetscCallMPI(MPI_Allreduce(&net.time, &net_max, 1, MPI_DOUBLE, MPI_MAX, PETSC_COMM_WORLD));
    PetscCallMPI(MPI_Allreduce(&outside, &outside_max, 1, MPI_DOUBLE, MPI_MAX, PETSC_COMM_WORLD));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                          "sample_ranks=%d\nsample_members=%" PetscInt_FMT "\nsample_steps=%" PetscInt_FMT "\n", size,
                          M, K));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "sample_net_evals_per_s=%.1f\n", evals / t_total));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "sample_net_only_evals_per_s=%.1f\n", evals / net_max));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "sample_outside_network_share=%.4f\n", outside_max));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "sample_s_per_1000_members=%.1f\n", t_total * 1000.0 / (double)M));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "sample_ms_per_member=%.2f\nsample_params=%" PetscInt_FMT "\n",
                          t_total * 1000.0 / (double)M, s->model->nparams));
  }

  /* 2. parallel HDF5 write of the same ensemble size vs a plain sequential
   * write of the same bytes by one rank */
  {
    const PetscInt D = 32 * 32, Mw = 4096;
    PetscInt       first, n;
    float         *x;
    double         tw, ts = 0;
    BOWriter       w;
    BODatasetShard(Mw, size, rank, &first, &n);
    PetscCall(PetscMalloc1(n * D, &x));
    for (PetscInt i = 0; i < n * D; i++) x[i] = (float)((first * D + i) % 20);
    bytes = (double)Mw * D; /* u8 on disk (max count 19) */
    PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
    tw = BOWallTime();
    PetscCall(BOWriterCreate(PETSC_COMM_WORLD, path, "counts", Mw, 2, (PetscInt[]){32, 32}, &w));
    PetscCall(BOWriterSetMaxCount(w, 19));
    PetscCall(BOWriterSetXDMF(w, PETSC_FALSE));
    PetscCall(BOWriterWrite(w, first, n, x));
    PetscCall(BOWriterClose(w));
    PetscCall(BOWriterDestroy(&w));
    PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
    tw = BOWallTime() - tw;
    if (rank == 0) {
      unsigned char *buf = malloc((size_t)bytes);
      FILE          *f;
      for (size_t i = 0; i < (size_t)bytes; i++) buf[i] = (unsigned char)(i % 20);
      ts = BOWallTime();
      f  = fopen(path, "wb");
      fwrite(buf, 1, (size_t)bytes, f);
      fflush(f);
      fsync(fileno(f));
      fclose(f);
      ts = BOWallTime() - ts;
      free(buf);
      unlink(path);
      {
        char xmf[PETSC_MAX_PATH_LEN];
        BOXDMFPath(path, xmf, sizeof(xmf)); /* the sidecar of the sampled ensemble */
        unlink(xmf);
      }
    }
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "h5_write_mb_per_s=%.1f\nseq_write_mb_per_s=%.1f\n", bytes / tw / 1e6,
                          bytes / ts / 1e6));
    PetscCall(PetscFree(x));
  }
  PetscCall(BOSamplerDestroy(&s));
  PetscCall(PetscFinalize());
  return 0;
}
