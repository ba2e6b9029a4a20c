/* Which kernels this process uses: one BONNKernels, resolved once from the
 * CPU and the environment, changed only through bo_nn_kernels_set() (and
 * the two older switches built on it). */
#include <stdlib.h>
#include <string.h>
#include "nnimpl.h"

const char *const BOGemmKinds[]      = {"blas", "avx2", "avx512", "BOGemmKind", "BO_GEMM_", NULL};
const char *const BOConvAlgorithms[] = {"pointwise",       "winograd", "fused", "im2col",
                                        "BOConvAlgorithm", "BO_CONV_", NULL};

static int cpu_has(BOGemmKind g)
{
  static int avx2 = -1, avx512 = -1;
  if (avx2 < 0) {
    __builtin_cpu_init();
    avx2   = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    avx512 = __builtin_cpu_supports("avx512f");
  }
  return g == BO_GEMM_BLAS || (g == BO_GEMM_AVX2 && avx2) || (g == BO_GEMM_AVX512 && avx512);
}

int bo_nn_gemm_available(BOGemmKind g) { return g >= BO_GEMM_BLAS && g <= BO_GEMM_AVX512 && cpu_has(g); }
/* The Winograd transforms are written for AVX-512; the products may run on
 * any GEMM kernel. */
int bo_nn_winograd_available(void) { return cpu_has(BO_GEMM_AVX512); }

/* Our best kernel for this CPU (cblas if there is none). */
static BOGemmKind best_gemm(void)
{
  return cpu_has(BO_GEMM_AVX512) ? BO_GEMM_AVX512 : cpu_has(BO_GEMM_AVX2) ? BO_GEMM_AVX2 : BO_GEMM_BLAS;
}

/* The best the CPU has, unless the environment says otherwise:
 * BO_NN_GEMM=blas|avx2|avx512, BO_NN_BLAS_ONLY=1 (= blas), BO_NN_WINOGRAD=0. */
static BONNKernels detect(void)
{
  BONNKernels k    = {best_gemm(), 1};
  const char *gemm = getenv("BO_NN_GEMM"), *blas = getenv("BO_NN_BLAS_ONLY"), *wino = getenv("BO_NN_WINOGRAD");
  for (int g = BO_GEMM_BLAS; gemm && g <= BO_GEMM_AVX512; g++)
    if (!strcmp(gemm, BOGemmKinds[g]) && cpu_has((BOGemmKind)g)) k.gemm = (BOGemmKind)g;
  if (blas && blas[0] == '1') k.gemm = BO_GEMM_BLAS;
  if (wino && wino[0] == '0') k.winograd = 0;
  k.winograd = k.winograd && bo_nn_winograd_available();
  return k;
}

static BONNKernels selected;
static int         resolved = 0;

BONNKernels bo_nn_kernels(void)
{
  if (!resolved) selected = detect(), resolved = 1;
  return selected;
}

int bo_nn_kernels_set(BONNKernels k, BONNKernels *old)
{
  BONNKernels now = bo_nn_kernels(); /* resolved before it is replaced */
  if (old) *old = now;
  if (!bo_nn_gemm_available(k.gemm) || (k.winograd && !bo_nn_winograd_available())) return -1;
  selected = k;
  return 0;
}

const BOGemmKernel *bo_nn_gemm(void)
{
  switch (bo_nn_kernels().gemm) {
  case BO_GEMM_AVX512: return &bo_gemm_avx512;
  case BO_GEMM_AVX2: return &bo_gemm_avx2;
  default: return NULL;
  }
}

int bo_nn_set_blas_only(int flag)
{
  BONNKernels k   = bo_nn_kernels();
  int         old = k.gemm == BO_GEMM_BLAS;
  k.gemm          = flag ? BO_GEMM_BLAS : best_gemm();
  bo_nn_kernels_set(k, NULL);
  return old;
}

int bo_nn_set_winograd(int on)
{
  BONNKernels k   = bo_nn_kernels();
  int         old = k.winograd;
  k.winograd      = on && bo_nn_winograd_available();
  bo_nn_kernels_set(k, NULL);
  return old;
}

BOConvAlgorithm bo_conv_algorithm(const BOConvShape *s)
{
  const BONNKernels k = bo_nn_kernels();
  if (s->k == 1 && s->stride == 1) return BO_CONV_POINTWISE;
  if (k.winograd && s->k == 3 && s->stride == 1) return BO_CONV_WINOGRAD;
  if (k.gemm != BO_GEMM_BLAS && s->stride == 1 && !s->periodic) return BO_CONV_FUSED;
  return BO_CONV_IM2COL;
}
