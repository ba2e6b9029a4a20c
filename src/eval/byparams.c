/* bo_eval -by_params: the metrics of a conditional ensemble per parameter
 * point, against the pooled and the nearest-neighbour baselines built from
 * the training members (docs/EVAL.md). Everything per point goes through
 * BOSetStatsCompute and BOMetricsCompare on the selected members. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bo_dataset.h"
#include "bo_rng.h"
#include "bo_metrics.h"
#include "bo_sys.h"
#include "reportimpl.h"

const char *const BOByParamsColumnNames[] = {"conditional", "pooled_baseline", "nearest_baseline", "holdout"};

/* The metrics of the summary line: fields, vectors. */
static const char *const summary_keys[2][BO_BP_NSUMMARY] = {{"w1_marginal", "mass_w1", "psd_logratio", "frechet"},
                                                            {"w1_marginal", "mass_w1", "corr_dist", "frechet"}};

/* Every member's params (N x P, in member order) on every rank, and the
 * global index of this rank's first member. */
static PetscErrorCode gather_params(BOMetrics m, PetscInt P, BOParamSet s, PetscInt *N, PetscInt *off, double **all)
{
  PetscMPIInt n = (PetscMPIInt)(s.set.nlocal * P), *cnt, *dsp;

  PetscFunctionBegin;
  PetscCall(PetscMalloc2(m->size, &cnt, m->size, &dsp));
  PetscCallMPI(MPI_Allgather(&n, 1, MPI_INT, cnt, 1, MPI_INT, m->comm));
  dsp[0] = 0;
  for (PetscMPIInt r = 1; r < m->size; r++) dsp[r] = dsp[r - 1] + cnt[r - 1];
  *N   = (dsp[m->size - 1] + cnt[m->size - 1]) / P;
  *off = dsp[m->rank] / P;
  PetscCall(PetscMalloc1((size_t)*N * P + 1, all));
  PetscCallMPI(MPI_Allgatherv(s.params, n, MPI_DOUBLE, *all, cnt, dsp, MPI_DOUBLE, m->comm));
  PetscCall(PetscFree2(cnt, dsp));
  PetscFunctionReturn(0);
}

/* The first of the npoints points that p matches, or -1. */
static PetscInt find_point(PetscInt P, PetscInt npoints, const double *points, const double *p, double tol)
{
  for (PetscInt j = 0; j < npoints; j++)
    if (BOParamsEqual(P, points + j * P, p, tol)) return j;
  return -1;
}

/* "name=value, name=value, ..." of one point (names comma-separated). */
static void describe_point(const char *names, PetscInt P, const double *p, char *buf, size_t len)
{
  const char *s    = names;
  size_t      used = 0;
  buf[0]           = 0;
  for (PetscInt k = 0; k < P && used + 1 < len; k++) {
    size_t n = strcspn(s, ",");
    int    w = snprintf(buf + used, len - used, "%s%.*s=%g", k ? ", " : "", (int)n, s, p[k]);
    if (w > 0) used = PetscMin(len - 1, used + (size_t)w);
    s += n + (s[n] == ',');
  }
}

/* The members of s whose global index off + i has mask set, copied into
 * *buf (free it) as the set *out. */
static PetscErrorCode select_members(BOMetrics m, BOSet s, PetscInt off, const char *mask, float **buf, BOSet *out)
{
  PetscInt n = 0;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1((size_t)s.nlocal * m->D + 1, buf));
  for (PetscInt i = 0; i < s.nlocal; i++)
    if (mask[off + i]) PetscCall(PetscArraycpy(*buf + (size_t)n++ * m->D, s.x + (size_t)i * m->D, m->D));
  out->nlocal = n, out->x = *buf;
  PetscFunctionReturn(0);
}

/* Training members sorted by distance to the point, ties by index. */
static const double *sort_dist;
static int           cmp_dist(const void *a, const void *b)
{
  PetscInt i = *(const PetscInt *)a, j = *(const PetscInt *)b;
  if (sort_dist[i] != sort_dist[j]) return sort_dist[i] < sort_dist[j] ? -1 : 1;
  return (i > j) - (i < j);
}

/* Statistics of the members of s selected by mask, compared with ref. */
static PetscErrorCode compare_selected(BOMetrics m, BOSetStats ref, BOSet s, PetscInt off, const char *mask,
                                       BOMetricsResult *r)
{
  BOSet      sel;
  BOSetStats st;
  float     *buf;

  PetscFunctionBegin;
  PetscCall(select_members(m, s, off, mask, &buf, &sel));
  PetscCall(BOSetStatsCompute(m, sel, &st));
  PetscCall(BOMetricsCompare(m, ref, st, r));
  PetscCall(BOSetStatsDestroy(&st));
  PetscCall(PetscFree(buf));
  PetscFunctionReturn(0);
}

/* The summary: on which metrics the conditional mean is below (1 -
 * verdict_margin) x both baselines' means. */
static void summarise(BOMetrics m, BOByParamsReport *rep)
{
  const double keep     = 1.0 - m->verdict_margin;
  char         yes[512] = "", no[512] = "";
  size_t       ly = 0, ln = 0;

  for (int k = 0; k < BO_BP_NSUMMARY; k++) {
    const Row *r = NULL;
    double     c, p, n;
    char      *buf;
    size_t    *l;
    int        w;
    rep->summary_keys[k] = summary_keys[m->is_field ? 0 : 1][k];
    for (size_t i = 0; i < BOMetricsNumRows; i++)
      if (!strcmp(BOMetricsRows[i].name, rep->summary_keys[k])) r = &BOMetricsRows[i];
    c = BOMetricsRowValue(&rep->mean[BO_BP_CONDITIONAL], r), p = BOMetricsRowValue(&rep->mean[BO_BP_POOLED], r);
    n                  = BOMetricsRowValue(&rep->mean[BO_BP_NEAREST], r);
    rep->beats_both[k] = (PetscBool)(c < keep * p && c < keep * n); /* NaN: no */
    buf = rep->beats_both[k] ? yes : no, l = rep->beats_both[k] ? &ly : &ln;
    w = snprintf(buf + *l, 512 - *l, "%s%s %.4g (pooled %.4g, nearest %.4g)", *l ? "; " : "", r->name, c, p, n);
    if (w > 0) *l = PetscMin(511, *l + (size_t)w);
  }
  snprintf(rep->summary, sizeof(rep->summary),
           "BY_PARAMS: mean over %d points, the conditional ensemble beats both baselines (below %.3gx) on: %s; not "
           "on: %s",
           (int)rep->npoints, keep, ly ? yes : "none", ln ? no : "none");
}

PetscErrorCode BOMetricsEvaluateByParams(BOMetrics m, PetscInt P, const char *names, BOParamSet real, BOParamSet fake,
                                         BOParamSet train, double tol, BOByParamsReport *rep)
{
  double   *pr, *pf, *pt, *sd, *dist;
  PetscInt  offr, offf, offt, *preal, *pfake, *nreal, *nfake, *perm, *order;
  char     *mask, desc[512];
  PetscBool holdout = PETSC_TRUE;

  PetscFunctionBegin;
  PetscCheck(m->setup, m->comm, PETSC_ERR_ORDER, "call BOMetricsSetUp first");
  PetscCheck(P >= 1 && tol >= 0, m->comm, PETSC_ERR_ARG_OUTOFRANGE, "by params: need P >= 1 and a tolerance >= 0");
  PetscCall(PetscMemzero(rep, sizeof(*rep)));
  rep->P = P;
  PetscCall(PetscStrncpy(rep->names, names, sizeof(rep->names)));
  PetscCall(gather_params(m, P, real, &rep->N_real, &offr, &pr));
  PetscCall(gather_params(m, P, fake, &rep->N_fake, &offf, &pf));
  PetscCall(gather_params(m, P, train, &rep->N_train, &offt, &pt));
  PetscCheck(rep->N_real > 0 && rep->N_fake > 0 && rep->N_train > 0, m->comm, PETSC_ERR_ARG_SIZ,
             "empty set: by params needs real, generated and training members");

  /* 1. The points: distinct params rows of real, in order of appearance. */
  PetscCall(PetscMalloc1((size_t)rep->N_real * P, &rep->points));
  PetscCall(PetscMalloc2(rep->N_real, &preal, rep->N_fake, &pfake));
  for (PetscInt g = 0; g < rep->N_real; g++) {
    PetscInt j = find_point(P, rep->npoints, rep->points, pr + g * P, tol);
    if (j < 0) PetscCall(PetscArraycpy(rep->points + (j = rep->npoints++) * P, pr + g * P, P));
    preal[g] = j;
  }
  PetscCall(PetscCalloc2(rep->npoints, &nreal, rep->npoints, &nfake));
  for (PetscInt g = 0; g < rep->N_real; g++) nreal[preal[g]]++;

  /* 2. Generated members to points: each must match one, each point needs one. */
  for (PetscInt g = 0; g < rep->N_fake; g++) {
    pfake[g] = find_point(P, rep->npoints, rep->points, pf + g * P, tol);
    if (pfake[g] < 0) describe_point(names, P, pf + g * P, desc, sizeof(desc));
    PetscCheck(pfake[g] >= 0, m->comm, PETSC_ERR_ARG_INCOMP,
               "%s: member %" PetscInt_FMT " has params (%s), a point not in %s", fake.what, g, desc, real.what);
    nfake[pfake[g]]++;
  }
  for (PetscInt j = 0; j < rep->npoints; j++) {
    if (!nfake[j]) describe_point(names, P, rep->points + j * P, desc, sizeof(desc));
    PetscCheck(nfake[j], m->comm, PETSC_ERR_ARG_INCOMP, "%s: no member at the point (%s) of %s", fake.what, desc,
               real.what);
    holdout = (PetscBool)(holdout && nreal[j] >= m->holdout_min);
  }
  rep->has_holdout = holdout;

  /* 3. The training params' standard deviations (divisor N - 1; a constant
   *    column counts 1): distances are on (params - mean) / sd. */
  PetscCall(PetscCalloc1(P, &sd));
  for (PetscInt k = 0; k < P; k++) {
    double mu = 0, v = 0;
    for (PetscInt g = 0; g < rep->N_train; g++) mu += pt[g * P + k] / rep->N_train;
    for (PetscInt g = 0; g < rep->N_train; g++) v += PetscSqr(pt[g * P + k] - mu);
    v     = rep->N_train > 1 ? v / (rep->N_train - 1) : 0;
    sd[k] = v > 0 ? sqrt(v) : 1;
  }

  /* 4. Per point: real, conditional, pooled, nearest (and the floor). */
  for (int c = 0; c < BO_BP_NCOL; c++) PetscCall(PetscCalloc1(rep->npoints, &rep->res[c]));
  PetscCall(PetscMalloc4(PetscMax(rep->N_real, PetscMax(rep->N_fake, rep->N_train)), &mask, rep->N_train, &perm,
                         rep->N_train, &order, rep->N_train, &dist));
  for (PetscInt j = 0; j < rep->npoints; j++) {
    const double *pj = rep->points + j * P;
    PetscInt      n  = PetscMin(nfake[j], rep->N_train);
    BOSet         sr;
    BOSetStats    st;
    float        *xr;

    for (PetscInt g = 0; g < rep->N_real; g++) mask[g] = preal[g] == j;
    PetscCall(select_members(m, real.set, offr, mask, &xr, &sr));
    PetscCall(BOSetStatsCompute(m, sr, &st));
    for (PetscInt g = 0; g < rep->N_fake; g++) mask[g] = pfake[g] == j;
    PetscCall(compare_selected(m, st, fake.set, offf, mask, &rep->res[BO_BP_CONDITIONAL][j]));
    /* (a) pooled: the first n of the permutation (-eval_seed, epoch 1 + j) of the training members */
    PetscCall(BOShufflePermutation((uint64_t)m->seed, 1 + j, rep->N_train, 0, 1, perm, NULL));
    for (PetscInt g = 0; g < rep->N_train; g++) mask[g] = 0;
    for (PetscInt i = 0; i < n; i++) mask[perm[i]] = 1;
    PetscCall(compare_selected(m, st, train.set, offt, mask, &rep->res[BO_BP_POOLED][j]));
    /* (b) nearest: the n training members closest to the point */
    for (PetscInt g = 0; g < rep->N_train; g++) {
      dist[g] = 0, order[g] = g;
      for (PetscInt k = 0; k < P; k++) dist[g] += PetscSqr((pt[g * P + k] - pj[k]) / sd[k]);
    }
    sort_dist = dist;
    qsort(order, (size_t)rep->N_train, sizeof(PetscInt), cmp_dist);
    for (PetscInt g = 0; g < rep->N_train; g++) mask[g] = 0;
    for (PetscInt i = 0; i < n; i++) mask[order[i]] = 1;
    PetscCall(compare_selected(m, st, train.set, offt, mask, &rep->res[BO_BP_NEAREST][j]));
    if (rep->has_holdout) PetscCall(BOMetricsHoldoutFloor(m, sr, &rep->res[BO_BP_HOLDOUT][j]));
    PetscCall(BOSetStatsDestroy(&st));
    PetscCall(PetscFree(xr));
  }

  /* 5. Means over points (the sizes: sums over points). */
  for (int c = 0; c < BO_BP_NCOL; c++) {
    BOMetricsResult *mean = &rep->mean[c];
    *mean                 = rep->res[c][0];
    for (size_t i = 0; i < BOMetricsNumRows; i++) {
      double s = 0;
      for (PetscInt j = 0; j < rep->npoints; j++) s += BOMetricsRowValue(&rep->res[c][j], &BOMetricsRows[i]);
      *(double *)((char *)mean + BOMetricsRows[i].offset) = s / rep->npoints;
    }
    mean->N_ref = mean->N_test = 0;
    for (PetscInt j = 0; j < rep->npoints; j++)
      mean->N_ref += rep->res[c][j].N_ref, mean->N_test += rep->res[c][j].N_test;
  }
  summarise(m, rep);
  PetscCall(PetscFree4(mask, perm, order, dist));
  PetscCall(PetscFree(sd));
  PetscCall(PetscFree2(nreal, nfake));
  PetscCall(PetscFree2(preal, pfake));
  PetscCall(PetscFree(pr));
  PetscCall(PetscFree(pf));
  PetscCall(PetscFree(pt));
  PetscFunctionReturn(0);
}

PetscErrorCode BOByParamsReportDestroy(BOByParamsReport *rep)
{
  PetscFunctionBegin;
  for (int c = 0; c < BO_BP_NCOL; c++) PetscCall(PetscFree(rep->res[c]));
  PetscCall(PetscFree(rep->points));
  PetscFunctionReturn(0);
}

/* ---- table and JSON ------------------------------------------------------------ */

/* The metrics of the per-point table. */
static const char *const point_keys[2][5] = {{"w1_marginal", "mass_w1", "mass_mean_ratio", "psd_logratio", "frechet"},
                                             {"w1_marginal", "mass_w1", "mass_mean_ratio", "corr_dist", "frechet"}};

static const Row *find_row(const char *name)
{
  for (size_t i = 0; i < BOMetricsNumRows; i++)
    if (!strcmp(BOMetricsRows[i].name, name)) return &BOMetricsRows[i];
  return NULL;
}

static PetscErrorCode print_value(PetscViewer v, int width, double x)
{
  PetscFunctionBegin;
  if (isnan(x)) PetscCall(PetscViewerASCIIPrintf(v, " %*s", width, "-"));
  else PetscCall(PetscViewerASCIIPrintf(v, " %*.6g", width, x));
  PetscFunctionReturn(0);
}

PetscErrorCode BOByParamsReportView(BOMetrics m, const BOByParamsReport *rep, PetscViewer v)
{
  const char *const *keys  = point_keys[m->is_field ? 0 : 1];
  const char        *names = rep->names;
  int                ncol  = rep->has_holdout ? BO_BP_NCOL : BO_BP_HOLDOUT;

  PetscFunctionBegin;
  PetscCall(PetscViewerASCIIPrintf(v, "by params: %d points of (%s); %d real, %d generated, %d training members\n",
                                   (int)rep->npoints, rep->names, (int)rep->N_real, (int)rep->N_fake,
                                   (int)rep->N_train));
  /* per point: one line per column */
  for (PetscInt k = 0; k < rep->P; k++) {
    size_t n = strcspn(names, ",");
    PetscCall(PetscViewerASCIIPrintf(v, "%10.*s ", (int)PetscMin(n, 10), names));
    names += n + (names[n] == ',');
  }
  PetscCall(PetscViewerASCIIPrintf(v, "%6s  %-17s %6s", "n_real", "column", "n"));
  for (int i = 0; i < 5; i++) PetscCall(PetscViewerASCIIPrintf(v, " %15s", keys[i]));
  PetscCall(PetscViewerASCIIPrintf(v, "\n"));
  for (PetscInt j = 0; j < rep->npoints; j++)
    for (int c = 0; c < ncol; c++) {
      const BOMetricsResult *r = &rep->res[c][j];
      for (PetscInt k = 0; k < rep->P; k++) {
        if (c == 0) PetscCall(PetscViewerASCIIPrintf(v, "%10.4g ", rep->points[j * rep->P + k]));
        else PetscCall(PetscViewerASCIIPrintf(v, "%10s ", ""));
      }
      if (c == 0) PetscCall(PetscViewerASCIIPrintf(v, "%6d", (int)r->N_ref));
      else PetscCall(PetscViewerASCIIPrintf(v, "%6s", ""));
      PetscCall(PetscViewerASCIIPrintf(v, "  %-17s %6d", BOByParamsColumnNames[c], (int)r->N_test));
      for (int i = 0; i < 5; i++) PetscCall(print_value(v, 15, BOMetricsRowValue(r, find_row(keys[i]))));
      PetscCall(PetscViewerASCIIPrintf(v, "\n"));
    }
  /* means over points: every metric */
  PetscCall(PetscViewerASCIIPrintf(v, "mean over %d points:\n%-20s", (int)rep->npoints, "metric"));
  for (int c = 0; c < ncol; c++) PetscCall(PetscViewerASCIIPrintf(v, " %16s", BOByParamsColumnNames[c]));
  PetscCall(PetscViewerASCIIPrintf(v, "   meaning\n"));
  for (size_t i = 0; i < BOMetricsNumRows; i++) {
    if (!BOMetricsRowApplies(m, PETSC_FALSE, &BOMetricsRows[i])) continue;
    PetscCall(PetscViewerASCIIPrintf(v, "%-20s", BOMetricsRows[i].name));
    for (int c = 0; c < ncol; c++) PetscCall(print_value(v, 16, BOMetricsRowValue(&rep->mean[c], &BOMetricsRows[i])));
    PetscCall(PetscViewerASCIIPrintf(v, "   %s\n", BOMetricsRows[i].help));
  }
  PetscCall(PetscViewerASCIIPrintf(v, "%s\n", rep->summary));
  PetscFunctionReturn(0);
}

static void json_string(FILE *f, const char *s, size_t n)
{
  fputc('"', f);
  for (size_t i = 0; i < n && s[i]; i++) {
    if (s[i] == '"' || s[i] == '\\') fputc('\\', f);
    fputc(s[i], f);
  }
  fputc('"', f);
}

/* "n_ref": .., "n_test": .., and every metric of the layout. */
static void json_metrics(FILE *f, BOMetrics m, const BOMetricsResult *r)
{
  fprintf(f, "\"n_ref\": %d, \"n_test\": %d", (int)r->N_ref, (int)r->N_test);
  for (size_t i = 0; i < BOMetricsNumRows; i++) {
    if (!BOMetricsRowApplies(m, PETSC_FALSE, &BOMetricsRows[i])) continue;
    fprintf(f, ", \"%s\": ", BOMetricsRows[i].name);
    BOMetricsJSONNumber(f, BOMetricsRowValue(r, &BOMetricsRows[i]));
  }
}

static void json_params(FILE *f, const BOByParamsReport *rep, const double *p)
{
  const char *s = rep->names;
  fprintf(f, "{");
  for (PetscInt k = 0; k < rep->P; k++) {
    size_t n = strcspn(s, ",");
    fprintf(f, "%s", k ? ", " : "");
    json_string(f, s, n);
    fprintf(f, ": %.17g", p[k]);
    s += n + (s[n] == ',');
  }
  fprintf(f, "}");
}

static void byparams_json(FILE *f, const void *pm, const void *prep)
{
  BOMetrics               m   = (BOMetrics)pm;
  const BOByParamsReport *rep = (const BOByParamsReport *)prep;
  const char             *s   = rep->names;

  fprintf(f, "{\n  \"producer\": \"bo_eval\",\n  \"mode\": \"by_params\",\n");
  BOMetricsJSONShape(f, m);
  fprintf(f, "  \"param_names\": [");
  for (PetscInt k = 0; k < rep->P; k++) {
    size_t n = strcspn(s, ",");
    fprintf(f, "%s", k ? ", " : "");
    json_string(f, s, n);
    s += n + (s[n] == ',');
  }
  fprintf(f, "],\n  \"n_points\": %d,\n  \"n_real\": %d,\n  \"n_generated\": %d,\n  \"n_train\": %d,\n",
          (int)rep->npoints, (int)rep->N_real, (int)rep->N_fake, (int)rep->N_train);
  fprintf(f, "  \"features\": %d,\n  \"histogram_bin_width\": %d,\n", (int)m->nfeat, (int)m->bin_width);
  for (int c = 0; c < BO_BP_NCOL; c++) {
    if (c == BO_BP_HOLDOUT && !rep->has_holdout) continue;
    fprintf(f, "  \"%s\": {", BOByParamsColumnNames[c]);
    json_metrics(f, m, &rep->mean[c]);
    fprintf(f, ",\n    \"points\": [\n");
    for (PetscInt j = 0; j < rep->npoints; j++) {
      fprintf(f, "      {\"params\": ");
      json_params(f, rep, rep->points + j * rep->P);
      fprintf(f, ", ");
      json_metrics(f, m, &rep->res[c][j]);
      fprintf(f, "}%s\n", j + 1 < rep->npoints ? "," : "");
    }
    fprintf(f, "    ]},\n");
  }
  fprintf(f, "  \"summary\": {\"beats_both\": [");
  for (int k = 0, first = 1; k < BO_BP_NSUMMARY; k++)
    if (rep->beats_both[k]) fprintf(f, "%s\"%s\"", first ? "" : ", ", rep->summary_keys[k]), first = 0;
  fprintf(f, "], \"not\": [");
  for (int k = 0, first = 1; k < BO_BP_NSUMMARY; k++)
    if (!rep->beats_both[k]) fprintf(f, "%s\"%s\"", first ? "" : ", ", rep->summary_keys[k]), first = 0;
  fprintf(f, "], \"text\": ");
  json_string(f, rep->summary, sizeof(rep->summary));
  fprintf(f, "}\n}\n");
}

PetscErrorCode BOByParamsReportWriteJSON(BOMetrics m, const BOByParamsReport *rep, const char *path)
{
  PetscFunctionBegin;
  PetscCall(BOWriteTextFile(m->comm, path, byparams_json, m, rep));
  PetscFunctionReturn(0);
}
