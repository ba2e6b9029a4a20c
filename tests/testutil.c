#include <float.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "bo_rng.h"

static char scratch[PETSC_MAX_PATH_LEN];
char        BOTestErrorMessage[1024];

PetscErrorCode BOTestCaptureError(MPI_Comm comm, int line, const char *func, const char *file, PetscErrorCode n,
                                  PetscErrorType p, const char *mess, void *ctx)
{
  (void)comm, (void)line, (void)func, (void)file, (void)ctx;
  if (p == PETSC_ERROR_INITIAL) snprintf(BOTestErrorMessage, sizeof(BOTestErrorMessage), "%s", mess ? mess : "");
  return n;
}

PetscErrorCode BOTestSetUp(void)
{
  PetscMPIInt rank;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank == 0) {
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof(scratch), "%s/bo_test_XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    PetscCheck(mkdtemp(scratch), PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot make scratch directory %s", scratch);
  }
  PetscCallMPI(MPI_Bcast(scratch, sizeof(scratch), MPI_CHAR, 0, PETSC_COMM_WORLD));
  PetscFunctionReturn(0);
}

PetscErrorCode BOTestTearDown(void)
{
  PetscMPIInt rank;
  char        cmd[PETSC_MAX_PATH_LEN + 16];

  PetscFunctionBegin;
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank == 0 && !getenv("BO_TEST_KEEP")) {
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
    if (system(cmd)) fprintf(stderr, "warning: could not remove %s\n", scratch);
  }
  PetscFunctionReturn(0);
}

const char *BOTestPath(const char *name, char *buf, size_t len)
{
  snprintf(buf, len, "%s/%s", scratch, name);
  return buf;
}

/* Regularised upper incomplete gamma Q(a, x): series for x < a + 1, else
 * Lentz's continued fraction (Numerical Recipes' gammq, written afresh). */
static double gamma_q(double a, double x)
{
  if (x <= 0) return 1.0;
  double lg = lgamma(a);
  if (x < a + 1.0) {
    double sum = 1.0 / a, term = sum;
    for (int n = 1; n < 10000; n++) {
      term *= x / (a + n);
      sum += term;
      if (fabs(term) < fabs(sum) * 1e-15) break;
    }
    return 1.0 - sum * exp(-x + a * log(x) - lg);
  }
  double b = x + 1.0 - a, c = 1e300, d = 1.0 / b, h = d;
  for (int i = 1; i < 10000; i++) {
    double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (fabs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (fabs(c) < 1e-300) c = 1e-300;
    d          = 1.0 / d;
    double del = d * c;
    h *= del;
    if (fabs(del - 1.0) < 1e-15) break;
  }
  return exp(-x + a * log(x) - lg) * h;
}

double BOChiSquareSF(double x, double dof) { return gamma_q(0.5 * dof, 0.5 * x); }

/* P(X >= o) for X ~ Poisson(e): the exact test of a group that expects less
 * than 5, where the chi-square approximation fails. The group's count is
 * Binomial(N, e/N), whose upper tail beyond e + 1 lies below the Poisson one
 * (Anderson and Samuels 1967), so the test errs on the side of passing. */
static double poisson_upper_tail(double o, double e) { return o <= 0 ? 1.0 : 1.0 - gamma_q(o, e); }

/* Pools the bins (bin nbins is the tail, of probability `tail`) into groups:
 * observed counts go[], expected counts ge[]. Returns the number of groups,
 * or -1 if a draw fell where the probability is 0. */
static int pool_bins(int nbins, const double *observed, const double *prob, double outside, double tail, double total,
                     double *go, double *ge)
{
  int groups = 0;
  /* A bin of probability 0 belongs to no group. Adjacent bins are pooled,
   * left to right, until the group expects at least 5; a bin that expects 5
   * on its own is never pooled (it would hide its small neighbours), so a
   * group can be left short. The tail is a group of its own: it lies on both
   * sides of the window, next to no bin. */
  for (int i = 0; i <= nbins; i++) {
    double o = i < nbins ? observed[i] : outside, q = i < nbins ? prob[i] : tail;
    if (q <= 0 && o > 0) return -1;
    if (q <= 0) continue;
    if (groups == 0 || ge[groups - 1] >= 5.0 || total * q >= 5.0 || i == nbins) groups++;
    go[groups - 1] += o;
    ge[groups - 1] += total * q;
  }
  return groups;
}

double BOChiSquareTest(int nbins, const double *observed, const double *prob, double outside, double *stat, int *dof)
{
  double total = outside, psum = 0, tail, chi2 = 0, pmin = 1, *go, *ge;
  int    groups, big = 0, tests = 0;

  for (int i = 0; i < nbins; i++) total += observed[i], psum += prob[i];
  /* the tail: the mass prob[] leaves; a remainder within rounding of 0 is 0 */
  tail   = 1.0 - psum > 4 * (nbins + 1) * DBL_EPSILON ? 1.0 - psum : 0.0;
  go     = calloc((size_t)nbins + 1, sizeof(double));
  ge     = calloc((size_t)nbins + 1, sizeof(double));
  groups = pool_bins(nbins, observed, prob, outside, tail, total, go, ge);
  /* Groups that expect at least 5: Pearson's statistic. A short group: an
   * exact test of its count. The p-value is the smallest of the tests' times
   * their number (Bonferroni), so a correct sampler still fails with
   * probability at most the threshold. */
  for (int g = 0; g < groups; g++) {
    if (ge[g] >= 5.0) chi2 += (go[g] - ge[g]) * (go[g] - ge[g]) / ge[g], big++;
    else pmin = fmin(pmin, poisson_upper_tail(go[g], ge[g])), tests++;
  }
  if (big >= 2) pmin = fmin(pmin, BOChiSquareSF(chi2, big - 1)), tests++;
  free(go);
  free(ge);
  if (stat) *stat = groups < 0 ? INFINITY : chi2;
  if (dof) *dof = big > 0 ? big - 1 : 0;
  if (groups < 0) return 0.0; /* an impossible outcome */
  /* no test: a single group (a point mass, say) holding every draw */
  return tests ? fmin(1.0, tests * pmin) : 1.0;
}

int BOTestAllRanks(int ok)
{
  int all = 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, PETSC_COMM_WORLD);
  return all;
}

int BOTestKernelConfigs(const char *test, int (*want)(BONNKernels), BONNKernels cfg[6])
{
  /* what a configuration the CPU cannot run needs: Winograd and the
   * AVX-512 block need AVX-512 (0), the AVX2 block AVX2 and FMA (1) */
  static const char *const needs[2]        = {"AVX-512", "AVX2 and FMA"};
  char                     skipped[2][128] = {"", ""};
  int                      n = 0, nskipped[2] = {0, 0};
  for (int g = BO_GEMM_BLAS; g <= BO_GEMM_AVX512; g++)
    for (int w = 0; w <= 1; w++) {
      const BONNKernels k = {(BOGemmKind)g, w};
      if (want && !want(k)) continue;
      if (bo_nn_gemm_available(k.gemm) && (!w || bo_nn_winograd_available())) {
        cfg[n++] = k;
        continue;
      }
      const int i = w || g == BO_GEMM_AVX512 ? 0 : 1;
      snprintf(skipped[i] + strlen(skipped[i]), sizeof(skipped[i]) - strlen(skipped[i]), "%s%s",
               nskipped[i]++ ? ", " : "", BOTestKernelName(k));
    }
  for (int i = 0; i < 2; i++)
    if (nskipped[i])
      printf("%s: skipped: %s %s %s (this CPU lacks it)\n", test, skipped[i], nskipped[i] > 1 ? "need" : "needs",
             needs[i]);
  return n;
}

const char *BOTestKernelName(BONNKernels k)
{
  static char buf[32];
  snprintf(buf, sizeof(buf), "%s%s", BOGemmKinds[k.gemm], k.winograd ? "+winograd" : "");
  return buf;
}

void BOTestFillUniform(float *x, size_t n, double lo, double hi, uint64_t seed, uint32_t key)
{
  BORng rng;
  BORngInit(&rng, seed, BO_RNG_TEST, key, 0);
  for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * BORngUniform(&rng));
}

double BOTestDot(size_t n, const float *r, const float *y)
{
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += (double)r[i] * y[i];
  return s;
}

/* Decode with libpng; any other depth or colour type is an error. */
int BOTestReadPNG(const char *path, BOTestPNG *d)
{
  FILE       *f = fopen(path, "rb");
  png_structp png;
  png_infop   info;
  png_textp   text;
  int         ntext = 0, depth, ctype;

  if (!f) return 1;
  png  = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    return 2;
  }
  png_init_io(png, f);
  png_read_info(png, info);
  png_get_IHDR(png, info, &d->W, &d->H, &depth, &ctype, NULL, NULL, NULL);
  if (depth != 8 || ctype != PNG_COLOR_TYPE_RGB) longjmp(png_jmpbuf(png), 1);
  d->rgb = malloc((size_t)d->W * d->H * 3);
  for (png_uint_32 y = 0; y < d->H; y++) png_read_row(png, d->rgb + (size_t)y * d->W * 3, NULL);
  png_read_end(png, info);
  d->title[0] = 0;
  png_get_text(png, info, &text, &ntext);
  for (int i = 0; i < ntext; i++)
    if (!strcmp(text[i].key, "Title")) snprintf(d->title, sizeof(d->title), "%s", text[i].text);
  png_destroy_read_struct(&png, &info, NULL);
  fclose(f);
  return 0;
}
