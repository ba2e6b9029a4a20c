/* BOMetricsEvaluate: the three columns (generated, independent baseline,
 * holdout), the verdict, the table and the JSON report; and the comparison
 * of bo_darcy CSV results. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bo_rng.h"
#include "bo_metrics.h"
#include "bo_sys.h"
#include "reportimpl.h"

/* ---- evaluation ------------------------------------------------------------ */

/* Split real into a random half A and the rest B: member g is in A when it
 * is among the first N/2 entries of the permutation (seed, epoch 0). */
static PetscErrorCode holdout_split(BOMetrics m, BOSet real, PetscInt N, uint64_t seed, float **xa, BOSet *A,
                                    float **xb, BOSet *B)
{
  PetscInt *perm, off = 0;
  char     *inA;

  PetscFunctionBegin;
  PetscCall(PetscMalloc2(N, &perm, N, &inA));
  PetscCall(BOShufflePermutation(seed, 0, N, 0, 1, perm, NULL));
  for (PetscInt i = 0; i < N; i++) inA[i] = 0;
  for (PetscInt i = 0; i < N / 2; i++) inA[perm[i]] = 1;
  PetscCallMPI(MPI_Exscan(&real.nlocal, &off, 1, MPIU_INT, MPI_SUM, m->comm));
  if (m->rank == 0) off = 0;
  PetscCall(PetscMalloc2((size_t)real.nlocal * m->D + 1, xa, (size_t)real.nlocal * m->D + 1, xb));
  A->nlocal = B->nlocal = 0;
  for (PetscInt i = 0; i < real.nlocal; i++) {
    BOSet *S = inA[off + i] ? A : B;
    float *x = inA[off + i] ? *xa : *xb;
    PetscCall(PetscArraycpy(x + (size_t)S->nlocal * m->D, real.x + (size_t)i * m->D, m->D));
    S->nlocal++;
  }
  A->x = *xa, B->x = *xb;
  PetscCall(PetscFree2(perm, inA));
  PetscFunctionReturn(0);
}

/* (the verdict and the floor's mean are below the table rows they read) */
static void accumulate_floor(const BOMetricsResult *r, double weight, int first, BOMetricsResult *floor);

PetscErrorCode BOMetricsHoldoutFloor(BOMetrics m, BOSet real, BOMetricsResult *floor)
{
  PetscInt Nreal;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Allreduce(&real.nlocal, &Nreal, 1, MPIU_INT, MPI_SUM, m->comm));
  PetscCheck(Nreal >= 2, m->comm, PETSC_ERR_ARG_SIZ, "the holdout floor needs at least 2 real members");
  for (PetscInt k = 0; k < m->holdout_splits; k++) {
    BOSet           A, B;
    BOSetStats      sa, sb;
    float          *xa, *xb;
    BOMetricsResult r;
    PetscCall(holdout_split(m, real, Nreal, (uint64_t)m->seed + (uint64_t)k, &xa, &A, &xb, &B));
    PetscCall(BOSetStatsCompute(m, A, &sa));
    PetscCall(BOSetStatsCompute(m, B, &sb));
    PetscCall(BOMetricsCompare(m, sa, sb, &r));
    accumulate_floor(&r, 1.0 / (double)m->holdout_splits, k == 0, floor);
    PetscCall(BOSetStatsDestroy(&sa));
    PetscCall(BOSetStatsDestroy(&sb));
    PetscCall(PetscFree2(xa, xb));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOMetricsEvaluate(BOMetrics m, BOSet real, BOSet fake, const BOSet *train, BOMetricsReport *rep)
{
  PetscInt   Nreal, Nfake, tloc = train ? train->nlocal : 0, Ntrain = 0, off = 0;
  BOSetStats st_train = NULL;
  BOSet      straw;
  float     *xs;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(rep, sizeof(*rep)));
  PetscCallMPI(MPI_Allreduce(&real.nlocal, &Nreal, 1, MPIU_INT, MPI_SUM, m->comm));
  PetscCallMPI(MPI_Allreduce(&fake.nlocal, &Nfake, 1, MPIU_INT, MPI_SUM, m->comm));
  PetscCallMPI(MPI_Allreduce(&tloc, &Ntrain, 1, MPIU_INT, MPI_SUM, m->comm));
  PetscCheck(Nreal > 0, m->comm, PETSC_ERR_ARG_SIZ, "empty set: the real set has no members");
  PetscCheck(Nfake > 0, m->comm, PETSC_ERR_ARG_SIZ, "empty set: the generated set has no members");
  rep->has_train = (PetscBool)(Ntrain > 0);

  /* 1. Statistics of real and generated. */
  PetscCall(BOSetStatsCompute(m, real, &rep->real));
  PetscCall(BOSetStatsCompute(m, fake, &rep->fake));
  PetscCall(BOMetricsCompare(m, rep->real, rep->fake, &rep->col[BO_COL_GENERATED]));
  rep->has[BO_COL_GENERATED] = PETSC_TRUE;

  /* 2. Straw man: as many members as the generated set, laid out like it,
   *    each cell drawn from the training marginals (real's without -train). */
  if (rep->has_train) PetscCall(BOSetStatsCompute(m, *train, &st_train));
  PetscCallMPI(MPI_Exscan(&fake.nlocal, &off, 1, MPIU_INT, MPI_SUM, m->comm));
  if (m->rank == 0) off = 0;
  PetscCall(PetscMalloc1((size_t)fake.nlocal * m->D + 1, &xs));
  PetscCall(
      BOMetricsIndependentSample(m, rep->has_train ? st_train : rep->real, (uint64_t)m->seed, off, fake.nlocal, xs));
  straw.nlocal = fake.nlocal, straw.x = xs;
  PetscCall(BOSetStatsCompute(m, straw, &rep->straw));
  PetscCall(BOMetricsCompare(m, rep->real, rep->straw, &rep->col[BO_COL_INDEPENDENT]));
  rep->has[BO_COL_INDEPENDENT] = PETSC_TRUE;
  PetscCall(BOSetStatsDestroy(&st_train));

  /* 3. Holdout floor: half of real against the other half, the mean of
   *    |metric| over holdout_splits random splits (one split's value is
   *    itself a noisy estimate of the floor; an unbiased MMD^2 can be < 0). */
  if (Nreal >= m->holdout_min) {
    PetscCall(BOMetricsHoldoutFloor(m, real, &rep->col[BO_COL_HOLDOUT]));
    rep->has[BO_COL_HOLDOUT] = PETSC_TRUE;
  }

  /* 4. Memorisation against the training set; the holdout column holds
   *    real -> train, the reference for what unseen data looks like. */
  if (rep->has_train) {
    BOMetricsResult *c = rep->col;
    PetscCall(BOMetricsMemorization(m, fake, *train, &c[BO_COL_GENERATED].memorized_fraction,
                                    &c[BO_COL_GENERATED].nn_d1_median));
    PetscCall(BOMetricsMemorization(m, straw, *train, &c[BO_COL_INDEPENDENT].memorized_fraction,
                                    &c[BO_COL_INDEPENDENT].nn_d1_median));
    PetscCall(BOMetricsMemorization(m, real, *train, &c[BO_COL_HOLDOUT].memorized_fraction, &rep->real_nn_d1_median));
    c[BO_COL_HOLDOUT].nn_d1_median = rep->real_nn_d1_median;
  }
  PetscCall(PetscFree(xs));
  PetscCall(BOMetricsDecideVerdict(m, rep));
  PetscFunctionReturn(0);
}

PetscErrorCode BOMetricsReportDestroy(BOMetricsReport *rep)
{
  PetscFunctionBegin;
  PetscCall(BOSetStatsDestroy(&rep->real));
  PetscCall(BOSetStatsDestroy(&rep->fake));
  PetscCall(BOSetStatsDestroy(&rep->straw));
  PetscFunctionReturn(0);
}

/* ---- table and JSON ---------------------------------------------------------- */

#define R(f, k, role, h)                                                                                               \
  {                                                                                                                    \
#f, offsetof(BOMetricsResult, f), k, role, h                                                                       \
  }
const Row BOMetricsRows[] = {
    R(w1_marginal, 0, ROLE_MARGINAL, "mean per-cell W1 of marginals"),
    R(mean_rrmse, 0, ROLE_MARGINAL, "relative RMSE of the mean field"),
    R(var_rrmse, 0, ROLE_MARGINAL, "relative RMSE of the variance field"),
    R(mass_w1, 0, ROLE_DISTANCE, "W1 of total count per member"),
    R(mass_ks, 0, ROLE_DISTANCE, "KS statistic of total count"),
    R(mass_mean_ratio, 0, ROLE_INFO, "mean total count / the real one's"),
    R(mass_var_ratio, 0, ROLE_INFO, "variance of the total count / the real one's"),
    R(zero_frac_ratio, 0, ROLE_INFO, "fraction of zero cells / the real one's"),
    R(psd_logratio, 1, ROLE_STRUCTURE, "mean |log ratio| radial power spectrum"),
    R(tpcf_logratio, 1, ROLE_DISTANCE, "mean |log ratio| two-point function"),
    R(gene_mean_corr, 2, ROLE_CORRELATION, "Pearson r of log1p gene means"),
    R(gene_var_corr, 2, ROLE_CORRELATION, "Pearson r of log1p gene variances"),
    R(zero_frac_corr, 2, ROLE_CORRELATION, "Pearson r of gene zero fractions"),
    R(corr_dist, 2, ROLE_STRUCTURE, "RMS gene-gene correlation difference"),
    R(mmd, 0, ROLE_DISTANCE, "unbiased MMD^2, Gaussian kernel on features"),
    R(mmd_bandwidth, 0, ROLE_INFO, "kernel bandwidth (median heuristic)"),
    R(frechet, 0, ROLE_STRUCTURE, "Frechet distance of standardised features"),
    R(memorized_fraction, 3, ROLE_INFO, "fraction with d1/d2 < 1/3 to train"),
    R(nn_d1_median, 3, ROLE_INFO, "median nearest-train distance / sqrt(D)"),
};
#undef R
const size_t BOMetricsNumRows = sizeof(BOMetricsRows) / sizeof(BOMetricsRows[0]);

PetscBool BOMetricsRowApplies(BOMetrics m, PetscBool has_train, const Row *r)
{
  switch (r->kind) {
  case 1: return m->is_field;
  case 2: return (PetscBool)!m->is_field;
  case 3: return has_train;
  default: return PETSC_TRUE;
  }
}

double BOMetricsRowValue(const BOMetricsResult *res, const Row *r)
{
  return *(const double *)((const char *)res + r->offset);
}

/* The row as a distance: the value, or 1 - r for a correlation. */
static double distance(const BOMetricsResult *res, const Row *r)
{
  double x = BOMetricsRowValue(res, r);
  return r->role == ROLE_CORRELATION ? 1.0 - x : x;
}

/* floor (+)= weight |r| for every row's metric (first: overwrite). */
static void accumulate_floor(const BOMetricsResult *r, double weight, int first, BOMetricsResult *floor)
{
  if (first) *floor = *r;
  for (size_t i = 0; i < BOMetricsNumRows; i++) {
    double *f = (double *)((char *)floor + BOMetricsRows[i].offset), v = BOMetricsRowValue(r, &BOMetricsRows[i]);
    *f = (first ? 0.0 : *f) + weight * (BOMetricsRows[i].role == ROLE_CORRELATION ? v : fabs(v));
  }
}

/* Append to a text of len bytes holding *used; never writes past the end. */
static void append(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
  va_list ap;
  int     n;
  if (*used + 1 >= len) return;
  va_start(ap, fmt);
  n = vsnprintf(buf + *used, len - *used, fmt, ap);
  va_end(ap);
  if (n > 0) *used = PetscMin(len - 1, *used + (size_t)n);
}

/* The verdict. A surrogate has no metric worse than (1 + straw_tolerance)
 * x the independent-marginals straw man, or worse than floor_factor x the
 * holdout floor where there is one (without training data the straw man
 * draws from the real set's own marginals, in sample, so the marginal
 * metrics are held to the floor alone); it must also beat the straw man clearly
 * (below (1 - verdict_margin) x) on a structure metric, which two sets with
 * nothing to learn (all zero, say) never do; and it must not memorise.
 * Every failure is named, with its numbers. */
PetscErrorCode BOMetricsDecideVerdict(BOMetrics m, BOMetricsReport *rep)
{
  const BOMetricsResult *g = &rep->col[BO_COL_GENERATED], *s = &rep->col[BO_COL_INDEPENDENT],
                        *f = &rep->col[BO_COL_HOLDOUT];
  char         why[768] = "", beats[256] = "";
  size_t       lw = 0, lb = 0;
  int          nfail = 0, nbeat = 0;
  const double tol = 1.0 + m->straw_tolerance, keep = 1.0 - m->verdict_margin;

  PetscFunctionBegin;

  for (size_t i = 0; i < BOMetricsNumRows; i++) {
    const Row *r = &BOMetricsRows[i];
    if (r->role == ROLE_INFO || !BOMetricsRowApplies(m, rep->has_train, r)) continue;
    double      gd = distance(g, r), sd = distance(s, r), fd = rep->has[BO_COL_HOLDOUT] ? distance(f, r) : NAN;
    const int   in_sample = (r->role == ROLE_MARGINAL || r->role == ROLE_CORRELATION) && !rep->has_train;
    const char *as        = r->role == ROLE_CORRELATION ? " (as 1 - r)" : ""; /* the numbers compared */
    if (!in_sample && !(gd <= tol * sd))                                      /* NaN fails too */
      append(why, sizeof(why), &lw, "%s%s%s %.4g > %.3gx straw man %.4g", nfail++ ? "; " : "", r->name, as, gd, tol,
             sd);
    else if ((isfinite(fd) || in_sample) && !(gd <= m->floor_factor * fd))
      append(why, sizeof(why), &lw, "%s%s%s %.4g > %.3gx holdout floor %.4g", nfail++ ? "; " : "", r->name, as, gd,
             m->floor_factor, fd);
    if (r->role == ROLE_STRUCTURE && sd > 0 && gd <= keep * sd)
      append(beats, sizeof(beats), &lb, "%s%s %.4g vs %.4g", nbeat++ ? ", " : "", r->name, BOMetricsRowValue(g, r),
             BOMetricsRowValue(s, r));
  }
  if (rep->has_train && g->memorized_fraction > 0.1)
    append(why, sizeof(why), &lw, "%s%.0f%% of generated members are near-copies of training members (d1/d2 < 1/3)",
           nfail++ ? "; " : "", 100 * g->memorized_fraction);
  if (!nbeat)
    append(why, sizeof(why), &lw,
           "%sbeats the straw man by %.0f%% on no structure metric (spectrum, correlations, Frechet)",
           nfail++ ? "; " : "", 100 * m->verdict_margin);
  rep->surrogate = (PetscBool)(nfail == 0);
  if (rep->surrogate)
    snprintf(rep->verdict, sizeof(rep->verdict),
             "VERDICT: surrogate: no metric above %.3gx the straw man or %.3gx the holdout floor, and it beats the "
             "straw man on %s",
             tol, m->floor_factor, beats);
  else snprintf(rep->verdict, sizeof(rep->verdict), "VERDICT: NOT A SURROGATE: %s", why);
  PetscFunctionReturn(0);
}

PetscErrorCode BOMetricsReportView(BOMetrics m, const BOMetricsReport *rep, PetscViewer v)
{
  char hdr[3][64];

  PetscFunctionBegin;
  snprintf(hdr[0], sizeof(hdr[0]), "generated (%d)", (int)rep->col[0].N_test);
  snprintf(hdr[1], sizeof(hdr[1]), "independent (%d)", (int)rep->col[1].N_test);
  if (rep->has[BO_COL_HOLDOUT])
    snprintf(hdr[2], sizeof(hdr[2]), "holdout (%d/%d)", (int)rep->col[2].N_ref, (int)rep->col[2].N_test);
  else snprintf(hdr[2], sizeof(hdr[2]), "holdout");
  if (m->is_3d)
    PetscCall(PetscViewerASCIIPrintf(v,
                                     "3-D fields of %d x %d x %d (Nz x Ny x Nx): spectra over spherical shells, "
                                     "two-point function over 3-D distances\n",
                                     (int)m->Nz, (int)m->Ny, (int)m->Nx));
  PetscCall(PetscViewerASCIIPrintf(v, "%-20s %16s %16s %16s   %s\n", "metric", hdr[0], hdr[1], hdr[2], "meaning"));
  for (size_t i = 0; i < BOMetricsNumRows; i++) {
    if (!BOMetricsRowApplies(m, rep->has_train, &BOMetricsRows[i])) continue;
    PetscCall(PetscViewerASCIIPrintf(v, "%-20s", BOMetricsRows[i].name));
    for (int c = 0; c < BO_NCOL; c++) {
      double x = BOMetricsRowValue(&rep->col[c], &BOMetricsRows[i]);
      if (rep->has[c] && !isnan(x)) PetscCall(PetscViewerASCIIPrintf(v, " %16.6g", x));
      else PetscCall(PetscViewerASCIIPrintf(v, " %16s", "-"));
    }
    PetscCall(PetscViewerASCIIPrintf(v, "   %s\n", BOMetricsRows[i].help));
  }
  if (rep->has_train)
    PetscCall(PetscViewerASCIIPrintf(v, "(memorisation: the holdout column is real -> train over all real members)\n"));
  PetscCall(PetscViewerASCIIPrintf(v, "%s\n", rep->verdict));
  PetscFunctionReturn(0);
}

void BOMetricsJSONShape(FILE *f, BOMetrics m)
{
  fprintf(f, "  \"kind\": \"%s\",\n", m->is_field ? "fields" : "vectors");
  if (m->is_3d)
    fprintf(f, "  \"dims\": 3,\n  \"shape\": [%d, %d, %d, %d],\n", (int)m->Nz, (int)m->Ny, (int)m->Nx, (int)m->C);
  else if (m->is_field) fprintf(f, "  \"shape\": [%d, %d, %d],\n", (int)m->Ny, (int)m->Nx, (int)m->C);
  else fprintf(f, "  \"shape\": [%d],\n", (int)m->G);
}

void BOMetricsJSONNumber(FILE *f, double x)
{
  if (isfinite(x)) fprintf(f, "%.10g", x);
  else fprintf(f, "null");
}

static void report_json(FILE *f, const void *pm, const void *prep)
{
  BOMetrics              m   = (BOMetrics)pm;
  const BOMetricsReport *rep = (const BOMetricsReport *)prep;
  fprintf(f, "{\n  \"producer\": \"bo_eval\",\n");
  BOMetricsJSONShape(f, m);
  fprintf(f, "  \"n_real\": %d,\n  \"n_generated\": %d,\n  \"features\": %d,\n  \"histogram_bin_width\": %d,\n",
          (int)rep->col[0].N_ref, (int)rep->col[0].N_test, (int)m->nfeat, (int)m->bin_width);
  for (int c = 0; c < BO_NCOL; c++) {
    if (!rep->has[c]) continue;
    fprintf(f, "  \"%s\": {\"n_ref\": %d, \"n_test\": %d", BOMetricsColumnNames[c], (int)rep->col[c].N_ref,
            (int)rep->col[c].N_test);
    for (size_t i = 0; i < BOMetricsNumRows; i++) {
      if (!BOMetricsRowApplies(m, rep->has_train, &BOMetricsRows[i])) continue;
      fprintf(f, ", \"%s\": ", BOMetricsRows[i].name);
      BOMetricsJSONNumber(f, BOMetricsRowValue(&rep->col[c], &BOMetricsRows[i]));
    }
    fprintf(f, "},\n");
  }
  if (rep->has_train) {
    fprintf(f, "  \"real_nn_d1_median\": ");
    BOMetricsJSONNumber(f, rep->real_nn_d1_median);
    fprintf(f, ",\n");
  }
  fprintf(f, "  \"verdict\": {\"surrogate\": %s, \"text\": \"", rep->surrogate ? "true" : "false");
  for (const char *s = rep->verdict; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    fputc(*s, f);
  }
  fprintf(f, "\"}\n}\n");
}

PetscErrorCode BOMetricsReportWriteJSON(BOMetrics m, const BOMetricsReport *rep, const char *path)
{
  PetscFunctionBegin;
  PetscCall(BOWriteTextFile(m->comm, path, report_json, m, rep));
  PetscFunctionReturn(0);
}

/* ---- bo_darcy CSV results -------------------------------------------------------- */

#define CSV_MAXCOL 16
typedef struct {
  int     ncol, nrow;
  char    name[CSV_MAXCOL][64];
  double *v[CSV_MAXCOL]; /* nrow each */
} CSVTable;

/* Parse a header line and rows of numbers; *err gets a message on failure. */
static int read_csv(const char *path, CSVTable *t, char *err, size_t len)
{
  FILE *f = fopen(path, "r");
  char  line[4096];
  int   alloc = 0, lineno = 1;

  memset(t, 0, sizeof(*t));
  if (!f) return snprintf(err, len, "%s: cannot open", path), 0;
  if (!fgets(line, sizeof(line), f)) return fclose(f), snprintf(err, len, "%s: empty file", path), 0;
  for (char *tok = strtok(line, ",\r\n"); tok; tok = strtok(NULL, ",\r\n")) {
    if (t->ncol == CSV_MAXCOL) return fclose(f), snprintf(err, len, "%s: more than %d columns", path, CSV_MAXCOL), 0;
    snprintf(t->name[t->ncol++], 64, "%s", tok);
  }
  while (fgets(line, sizeof(line), f)) {
    int   c = 0;
    char *s = line, *end;
    lineno++;
    if (line[0] == '\n' || line[0] == '#') continue;
    if (t->nrow == alloc) {
      alloc = alloc ? 2 * alloc : 64;
      for (int k = 0; k < t->ncol; k++) t->v[k] = (double *)realloc(t->v[k], sizeof(double) * (size_t)alloc);
    }
    for (; c < t->ncol; c++) {
      double x = strtod(s, &end);
      if (end == s || (*end != ',' && *end != '\n' && *end != '\r' && *end != 0))
        return fclose(f),
               snprintf(err, len, "%s: line %d: column %d (%s) is not a number", path, lineno, c + 1, t->name[c]), 0;
      t->v[c][t->nrow] = x, s = *end == ',' ? end + 1 : end;
    }
    t->nrow++;
  }
  fclose(f);
  if (t->nrow == 0) return snprintf(err, len, "%s: no rows (empty set)", path), 0;
  return 1;
}

static int cmp_double_csv(const void *p, const void *q)
{
  double x = *(const double *)p, y = *(const double *)q;
  return (x > y) - (x < y);
}

static void free_csv(CSVTable *t)
{
  for (int k = 0; k < CSV_MAXCOL; k++) free(t->v[k]);
}

static int find_column(const CSVTable *t, const char *name)
{
  for (int k = 0; k < t->ncol; k++)
    if (!strcmp(t->name[k], name)) return k;
  return -1;
}

static void mean_std(int n, const double *x, double *mean, double *std)
{
  double s = 0, q = 0;
  for (int i = 0; i < n; i++) s += x[i];
  s /= n;
  for (int i = 0; i < n; i++) q += (x[i] - s) * (x[i] - s);
  *mean = s, *std = n > 1 ? sqrt(q / (n - 1)) : 0;
}

typedef struct {
  int    ncmp;
  char   name[CSV_MAXCOL][64];
  double st[CSV_MAXCOL][6]; /* w1, ks, real mean, real std, generated mean, generated std */
  int    nreal, nfake;
} CSVResult;

static void csv_json(FILE *f, const void *pres, const void *unused)
{
  const CSVResult         *r       = (const CSVResult *)pres;
  static const char *const keys[6] = {"w1", "ks", "mean", "std", "mean", "std"};
  (void)unused;
  fprintf(f, "{\n  \"producer\": \"bo_eval\",\n  \"kind\": \"darcy_csv\",\n  \"n_real\": %d,\n  \"n_generated\": %d,\n",
          r->nreal, r->nfake);
  for (int side = 0; side < 2; side++) {
    fprintf(f, "  \"%s\": {", side ? "real" : "generated");
    for (int c = 0, first = 1; c < r->ncmp; c++)
      for (int s = side ? 2 : 0; s < (side ? 4 : 6); s++) {
        if (!side && (s == 2 || s == 3)) continue;
        fprintf(f, "%s\"%s_%s\": ", first ? "" : ", ", r->name[c], keys[s]);
        BOMetricsJSONNumber(f, r->st[c][s]);
        first = 0;
      }
    fprintf(f, "}%s\n", side ? "" : ",");
  }
  fprintf(f, "}\n");
}

PetscErrorCode BOMetricsCompareCSV(MPI_Comm comm, const char *real, const char *fake, const char *json, PetscViewer v)
{
  CSVTable  a, b;
  CSVResult r;
  char      err[PETSC_MAX_PATH_LEN + 128] = "";
  int       ok;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(&r, sizeof(r)));
  memset(&a, 0, sizeof(a)), memset(&b, 0, sizeof(b));
  ok = read_csv(real, &a, err, sizeof(err)) && read_csv(fake, &b, err, sizeof(err));
  if (!ok) {
    free_csv(&a), free_csv(&b);
    SETERRQ(comm, PETSC_ERR_FILE_UNEXPECTED, "%s", err);
  }
  r.nreal = a.nrow, r.nfake = b.nrow;
  for (int k = 0; k < a.ncol; k++) {
    int     j = find_column(&b, a.name[k]);
    double *x, *y;
    if (j < 0 || !strcmp(a.name[k], "member") || !strcmp(a.name[k], "iterations")) continue;
    x = a.v[k], y = b.v[j];
    qsort(x, (size_t)a.nrow, sizeof(double), cmp_double_csv);
    qsort(y, (size_t)b.nrow, sizeof(double), cmp_double_csv);
    snprintf(r.name[r.ncmp], 64, "%s", a.name[k]);
    r.st[r.ncmp][0] = BOMetricsW1Sorted(a.nrow, x, b.nrow, y);
    r.st[r.ncmp][1] = BOMetricsKSSorted(a.nrow, x, b.nrow, y);
    mean_std(a.nrow, x, &r.st[r.ncmp][2], &r.st[r.ncmp][3]);
    mean_std(b.nrow, y, &r.st[r.ncmp][4], &r.st[r.ncmp][5]);
    r.ncmp++;
  }
  free_csv(&a), free_csv(&b);
  PetscCheck(r.ncmp > 0, comm, PETSC_ERR_FILE_UNEXPECTED, "%s and %s share no result column (expected k_eff, outflow)",
             real, fake);
  PetscCall(PetscViewerASCIIPrintf(v, "%-12s %14s %14s %14s %14s %14s %14s\n", "column", "real mean", "real std",
                                   "gen mean", "gen std", "W1", "KS"));
  for (int c = 0; c < r.ncmp; c++)
    PetscCall(PetscViewerASCIIPrintf(v, "%-12s %14.6g %14.6g %14.6g %14.6g %14.6g %14.6g\n", r.name[c], r.st[c][2],
                                     r.st[c][3], r.st[c][4], r.st[c][5], r.st[c][0], r.st[c][1]));
  PetscCall(PetscViewerASCIIPrintf(v, "(%d real, %d generated members)\n", r.nreal, r.nfake));
  if (json && json[0]) PetscCall(BOWriteTextFile(comm, json, csv_json, &r, NULL));
  PetscFunctionReturn(0);
}
