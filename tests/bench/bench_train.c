static const char help[] = "Times the unet-s training step (forward, Poisson loss, backward, one MPI_Allreduce of the\n"
                           "flat gradient, Adam) at a global batch split over the ranks, the forward pass alone, and\n"
                           "a large cblas_sgemm as the practical peak. Prints key=value lines.\n"
                           "  -batch 32 -fwd_batch 128 -reps 7 -sgemm_n 2048 -model unet-s -skip_forward -skip_train\n"
                           "  -nz 16: the 3-D network on 16 x 32 x 32 (BOModelConfigFromName3D; 1 = the 2-D one)\n"
                           "  -warmup 2: untimed training steps first\n"
                           "  -vol2col: every 3x3x3 convolution by vol2col (bo_conv3d_set_vol2col), for comparison\n"
                           "  -sgemm_n 0: no sgemm\n";

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "blackout.h"
#include "bo_model.h"

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(int n, double *v)
{
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* CPU time of this process (s). */
static double cpu_time(void)
{
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Wall time of the slowest rank. */
static double max_over_ranks(double t)
{
  double m;
  MPI_Allreduce(&t, &m, 1, MPI_DOUBLE, MPI_MAX, PETSC_COMM_WORLD);
  return m;
}

/* GFLOP/s of an n^3 sgemm on this rank, all ranks at once (median of 3). */
static double sgemm_gflops(int n)
{
  float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
  double t[3];
  for (size_t i = 0; i < (size_t)n * n; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm-up */
  for (int r = 0; r < 3; r++) {
    MPI_Barrier(PETSC_COMM_WORLD);
    double t0 = BOWallTime();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    t[r] = BOWallTime() - t0;
  }
  free(a), free(b), free(c);
  return 2.0 * n * n * (double)n / median(3, t) * 1e-9;
}

typedef struct {
  float *m, *v;
  int    t;
} Adam;

/* PyTorch's Adam (no weight decay) on the flat buffer. */
static void adam_step(Adam *opt, PetscInt n, float *p, const float *g, float lr)
{
  const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
  opt->t++;
  const float c1 = 1.0f - powf(b1, (float)opt->t), c2 = 1.0f - powf(b2, (float)opt->t);
  for (PetscInt i = 0; i < n; i++) {
    opt->m[i] = b1 * opt->m[i] + (1 - b1) * g[i];
    opt->v[i] = b2 * opt->v[i] + (1 - b2) * g[i] * g[i];
    p[i] -= lr * (opt->m[i] / c1) / (sqrtf(opt->v[i] / c2) + eps);
  }
}

int main(int argc, char **argv)
{
  PetscInt      batch = 32, fwd_batch = 128, reps = 7, n_sgemm = 2048, nz = 1, warmup = 2;
  PetscBool     skip_forward = PETSC_FALSE, skip_train = PETSC_FALSE, vol2col = PETSC_FALSE;
  char          model_name[64] = "unet-s";
  PetscMPIInt   rank, size;
  BOProcess     proc;
  BOModelConfig cfg;
  BOModel       m;

  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-batch", &batch, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-fwd_batch", &fwd_batch, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-reps", &reps, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-sgemm_n", &n_sgemm, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nz", &nz, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-warmup", &warmup, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-vol2col", &vol2col, NULL));
  bo_conv3d_set_vol2col(vol2col);
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-skip_forward", &skip_forward, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-skip_train", &skip_train, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-model", model_name, sizeof(model_name), NULL));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCheck(batch % size == 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "-batch must divide by the number of ranks");

  /* 1. the peak: sgemm on every rank at once */
  double gf = n_sgemm > 0 ? sgemm_gflops((int)n_sgemm) : 0, gf_sum;
  PetscCallMPI(MPI_Allreduce(&gf, &gf_sum, 1, MPI_DOUBLE, MPI_SUM, PETSC_COMM_WORLD));

  /* 2. model, schedule and synthetic counts in 0..255 */
  PetscCall(BOProcessCreate(PETSC_COMM_WORLD, &proc));
  PetscCall(BOProcessSetUp(proc));
  {
    const PetscInt shape4[4] = {nz, 32, 32, 1};
    PetscCall(BOModelConfigFromName3D(model_name, shape4, 255.0, &cfg)); /* nz = 1: the 2-D configuration */
  }
  PetscCall(BOModelCreate(PETSC_COMM_WORLD, &cfg, &m));
  PetscCall(BOModelInitParams(m, 1));
  double flops_fwd;
  PetscCall(BOModelGetFlops(m, &flops_fwd));
  const PetscInt D = m->dim, B = batch / size, Bmax = PetscMax(B, fwd_batch);
  float         *n0, *nt, *y, *out, *dout;
  PetscInt      *k;
  double        *pk;
  Adam           opt = {NULL, NULL, 0};
  PetscCall(PetscMalloc5(Bmax * D, &n0, Bmax * D, &nt, Bmax * D, &y, Bmax * D, &out, Bmax * D, &dout));
  PetscCall(PetscMalloc2(Bmax, &k, Bmax, &pk));
  PetscCall(PetscCalloc2(m->nparams, &opt.m, m->nparams, &opt.v));
  {
    BORng rng;
    BORngInit(&rng, 5, BO_RNG_TEST, (uint32_t)rank, 0);
    for (PetscInt i = 0; i < Bmax * D; i++) n0[i] = (float)BORngBelow(&rng, 256);
  }

  /* 3. training steps: the first ones are warm-up (planning, page faults);
   * also the CPU time of this process per step (less sensitive to other
   * jobs on a shared machine than the wall time) */
  double *t_step, *t_cpu, t_fwd = 0, t_bwd = 0, t_red = 0, t_adam = 0;
  PetscCall(PetscMalloc2(reps, &t_step, reps, &t_cpu));
  for (PetscInt s = 0; s < (skip_train ? 0 : reps + warmup); s++) {
    double w[4096], t0, t1, t2, t3, t4, c0 = cpu_time();
    PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
    t0 = BOWallTime();
    for (PetscInt b = 0; b < B; b++) {
      uint32_t gidx = (uint32_t)(rank * B + b);
      k[b]          = BOProcessNoiseSample(proc, 7, gidx, (uint32_t)s, D, n0 + b * D, nt + b * D, y + b * D);
      pk[b] = proc->p[k[b]], w[b] = proc->w[k[b]];
    }
    PetscCall(BOModelForward(m, B, nt, k, pk, NULL, out));
    for (PetscInt b = 0; b < B; b++)
      BOPoissonLoss(D, out + b * D, y + b * D, w[b], 1.0 / ((double)batch * D), dout + b * D);
    t1 = BOWallTime();
    PetscCall(BOModelBackward(m, dout));
    t2 = BOWallTime();
    if (size > 1)
      PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, m->grads, (int)m->nparams, MPI_FLOAT, MPI_SUM, PETSC_COMM_WORLD));
    t3 = BOWallTime();
    adam_step(&opt, m->nparams, m->params, m->grads, 2e-4f);
    t4 = BOWallTime();
    if (s >= warmup) {
      t_step[s - warmup] = max_over_ranks(t4 - t0);
      t_cpu[s - warmup]  = max_over_ranks(cpu_time() - c0);
      t_fwd += t1 - t0, t_bwd += t2 - t1, t_red += t3 - t2, t_adam += t4 - t3;
    }
  }
  char steps[512] = "";
  for (PetscInt r = 0; r < (skip_train ? 0 : reps) && strlen(steps) < sizeof(steps) - 16; r++)
    snprintf(steps + strlen(steps), sizeof(steps) - strlen(steps), "%s%.3f", r ? "," : "", t_step[r]);
  double step = skip_train ? 1.0 : median((int)reps, t_step), cpu = skip_train ? 1.0 : median((int)reps, t_cpu);

  /* 4. forward alone at a larger batch, split over the ranks */
  double   fwd = 0;
  PetscInt FB  = fwd_batch / size;
  if (!skip_forward) {
    double *t;
    PetscCall(PetscMalloc1(reps, &t));
    for (PetscInt b = 0; b < FB; b++) {
      k[b]  = BOProcessNoiseSample(proc, 7, (uint32_t)b, 0, D, n0 + b * D, nt + b * D, y + b * D);
      pk[b] = proc->p[k[b]];
    }
    for (PetscInt s = 0; s < reps + 1; s++) {
      PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
      double t0 = BOWallTime();
      PetscCall(BOModelForward(m, FB, nt, k, pk, NULL, out));
      if (s >= 1) t[s - 1] = max_over_ranks(BOWallTime() - t0);
    }
    fwd = median((int)reps, t);
    PetscCall(PetscFree(t));
  }

  /* 5. report */
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double rss = ru.ru_maxrss / 1024.0, rss_max;
  PetscCallMPI(MPI_Allreduce(&rss, &rss_max, 1, MPI_DOUBLE, MPI_MAX, PETSC_COMM_WORLD));
  size_t ws;
  PetscCall(BOModelGetWorkspaceSize(m, &ws));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "model=%s\nnz=%" PetscInt_FMT "\nnparams=%" PetscInt_FMT "\nranks=%d\nbatch=%" PetscInt_FMT
                        "\n",
                        model_name, nz, m->nparams, size, batch));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "nn_gemm=%s\nnn_winograd=%d\nconv3d_vol2col=%d\n",
                        BOGemmKinds[bo_nn_kernels().gemm], bo_nn_kernels().winograd, (int)vol2col));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "gflop_per_sample_forward=%.4f\n", flops_fwd * 1e-9));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "sgemm_n=%" PetscInt_FMT "\nsgemm_gflops_rank0=%.1f\nsgemm_gflops_all_ranks=%.1f\n", n_sgemm,
                        gf, gf_sum));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "train_step_s=%.4f\ntrain_samples_per_s=%.1f\ntrain_gflops=%.1f\n", step,
                        batch / step, 3.0 * flops_fwd * batch / step * 1e-9));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "train_step_s_all=%s\ntrain_cpu_s=%.4f\ntrain_samples_per_cpu_s=%.2f\n",
                        steps, cpu, batch / cpu));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "train_share_forward_loss=%.3f\ntrain_share_backward=%.3f\ntrain_share_allreduce=%.3f\n"
                        "train_share_adam=%.3f\n",
                        t_fwd / (reps * step), t_bwd / (reps * step), t_red / (reps * step), t_adam / (reps * step)));
  if (fwd > 0)
    PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                          "forward_batch=%" PetscInt_FMT "\nforward_samples_per_s=%.1f\nforward_gflops=%.1f\n",
                          fwd_batch, fwd_batch / fwd, flops_fwd * fwd_batch / fwd * 1e-9));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "workspace_mb=%.1f\npeak_rss_mb=%.1f\n", ws / 1048576.0, rss_max));

  PetscCall(PetscFree2(t_step, t_cpu));
  PetscCall(PetscFree2(opt.m, opt.v));
  PetscCall(PetscFree2(k, pk));
  PetscCall(PetscFree5(n0, nt, y, out, dout));
  PetscCall(BOModelDestroy(&m));
  PetscCall(BOProcessDestroy(&proc));
  PetscCall(PetscFinalize());
  return 0;
}
