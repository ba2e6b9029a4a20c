/* Helpers shared by the unit tests. */
#ifndef BO_TESTUTIL_H
#define BO_TESTUTIL_H
#include <check.h>
#include <petscsys.h>
#include <string.h>

/* A scratch directory shared by all ranks (under $TMPDIR), made in
 * BOTestSetUp and removed in BOTestTearDown. */
PetscErrorCode BOTestSetUp(void);
PetscErrorCode BOTestTearDown(void);
/* "<scratch>/<name>" in buf. */
const char *BOTestPath(const char *name, char *buf, size_t len);

/* Upper tail P(X >= x) of a chi-square variable with dof degrees of freedom. */
double BOChiSquareSF(double x, double dof);

/* Pearson chi-square test of observed counts against probabilities prob
 * (nbins bins, prob summing to <= 1); `outside` draws fell in none of the
 * bins, and are the count of the tail, whose probability is the mass prob
 * leaves. A draw where the probability is 0 (a bin, or the tail of a window
 * that covers the law) fails at once: the p-value is 0. Adjacent bins are
 * pooled until each group expects at least 5, but a bin that expects 5 on its
 * own is never pooled; a group left short gets an exact test of its count.
 * A point mass passes only if every draw is on it. Returns the p-value (the
 * smallest of the tests' p-values times their number); *stat and *dof (if
 * not NULL) receive the chi-square statistic of the groups that expect 5. */
double BOChiSquareTest(int nbins, const double *observed, const double *prob, double outside, double *stat, int *dof);

/* A PNG read back with libpng (8-bit RGB expected): size, H x W x 3
 * pixels (malloc'ed: free them) and the Title text. Returns 0 on success. */
typedef struct {
  unsigned int   W, H;
  unsigned char *rgb;
  char           title[128];
} BOTestPNG;
int BOTestReadPNG(const char *path, BOTestPNG *d);

/* All ranks agree: true if ok is true on every rank (use before asserting in
 * collective tests, so a failure on one rank fails all and none hangs). */
int BOTestAllRanks(int ok);

/* Run `code` and return the PETSc error it raises, with error printing off. */
#define BOTestExpectError(code)                                                                                        \
  ({                                                                                                                   \
    PetscErrorCode ierr_;                                                                                              \
    PetscPushErrorHandler(PetscReturnErrorHandler, NULL);                                                              \
    ierr_ = (code);                                                                                                    \
    PetscPopErrorHandler();                                                                                            \
    ierr_;                                                                                                             \
  })

/* The message of the first frame of the last error raised while
 * BOTestCaptureError was the error handler. */
extern char    BOTestErrorMessage[1024];
PetscErrorCode BOTestCaptureError(MPI_Comm comm, int line, const char *func, const char *file, PetscErrorCode n,
                                  PetscErrorType p, const char *mess, void *ctx);

/* Run `code`: it must fail with a message containing `want`. */
#define BOTestExpectErrorMessage(code, want)                                                                           \
  do {                                                                                                                 \
    PetscErrorCode e_;                                                                                                 \
    BOTestErrorMessage[0] = 0;                                                                                         \
    PetscPushErrorHandler(BOTestCaptureError, NULL);                                                                   \
    e_ = (code);                                                                                                       \
    PetscPopErrorHandler();                                                                                            \
    ck_assert_msg(e_ != 0, "expected an error with '%s'", want);                                                       \
    ck_assert_msg(strstr(BOTestErrorMessage, want) != NULL, "message '%s' lacks '%s'", BOTestErrorMessage, want);      \
  } while (0)

/* The kernel configurations (bo_nn.h) that test wants: each GEMM kind,
 * with and without Winograd, for which want(k) is true (every one if want
 * is NULL). Returns in cfg those this CPU can run (at most 6), and prints
 * once which it skips and why: "test_conv: skipped: avx512, avx512+winograd
 * need AVX-512 (this CPU lacks it)". Tests loop over them, set each with
 * bo_nn_kernels_set and restore the old one. */
#include "bo_nn.h"
/* x[i] uniform on [lo, hi), from the test stream (seed, key) */
void BOTestFillUniform(float *x, size_t n, double lo, double hi, uint64_t seed, uint32_t key);
/* sum r[i] y[i] in double: the scalar loss <r, y> whose gradient in y is r */
double      BOTestDot(size_t n, const float *r, const float *y);
int         BOTestKernelConfigs(const char *test, int (*want)(BONNKernels), BONNKernels cfg[6]);
const char *BOTestKernelName(BONNKernels k); /* e.g. "avx2", "avx512+winograd" (static buffer) */

/* Assert that a PETSc call succeeds. */
#define BOTestOK(code) ck_assert_int_eq((code), 0)

#endif
