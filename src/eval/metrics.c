/* BOMetrics: set-up, per-set statistics reduced over ranks, comparisons,
 * memorisation and the independent-marginals straw man. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "bo_metrics.h"
#include "bo_rng.h"

#define BO_FIELD_BANDS 16 /* spectral bands in the field features */
#define BO_VEC_FGENES  30 /* genes in the vector features */

const char *const BOMetricsColumnNames[] = {"generated", "independent_baseline", "holdout"};

PetscErrorCode BOMetricsCreate(MPI_Comm comm, BOMetrics *m)
{
  BOMetrics b;

  PetscFunctionBegin;
  PetscCall(PetscNew(&b));
  b->comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &b->rank));
  PetscCallMPI(MPI_Comm_size(comm, &b->size));
  b->mmd_members = 1000, b->median_points = 500, b->corr_genes = 64, b->hist_max = 1 << 22;
  b->holdout_min = 20, b->seed = 1, b->verdict_margin = 0.1, b->straw_tolerance = 0.25, b->floor_factor = 2.0;
  b->holdout_splits = 4, b->Nz = 1;
  *m = b;
  PetscFunctionReturn(0);
}

PetscErrorCode BOMetricsSetField3D(BOMetrics m, PetscInt Nz, PetscInt Ny, PetscInt Nx, PetscInt C)
{
  PetscFunctionBegin;
  PetscCheck(Nz >= 1 && Ny >= 1 && Nx >= 1 && C >= 1, m->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "field shape must be positive");
  m->is_field = PETSC_TRUE, m->is_3d = PETSC_TRUE, m->Nz = Nz, m->Ny = Ny, m->Nx = Nx, m->C = C, m->G = 0;
  m->D = Nz * Ny * Nx * C;
  PetscFunctionReturn(0);
}

PetscErrorCode BOMetricsSetField(BOMetrics m, PetscInt Ny, PetscInt Nx, PetscInt C)
{
  PetscFunctionBegin;
  PetscCall(BOMetricsSetField3D(m, 1, Ny, Nx, C));
  m->is_3d = PETSC_FALSE;
  PetscFunctionReturn(0);
}

PetscErrorCode BOMetricsSetVector(BOMetrics m, PetscInt G)
{
  PetscFunctionBegin;
  PetscCheck(G >= 1, m->comm, PETSC_ERR_ARG_OUTOFRANGE, "vector length must be positive");
  m->is_field = m->is_3d = PETSC_FALSE, m->G = G, m->D = G, m->Ny = m->Nx = m->C = 0, m->Nz = 1;
  PetscFunctionReturn(0);
}

PetscErrorCode BOMetricsSetFromOptions(BOMetrics m)
{
  PetscFunctionBegin;
  PetscOptionsBegin(m->comm, NULL, "Fidelity metrics", "BOMetrics");
  PetscCall(PetscOptionsInt("-eval_mmd_cap", "members per set in the MMD subsample (evenly strided)", NULL,
                            m->mmd_members, &m->mmd_members, NULL));
  PetscCall(PetscOptionsInt("-eval_median_cap", "points per set for the median-heuristic bandwidth", NULL,
                            m->median_points, &m->median_points, NULL));
  PetscCall(PetscOptionsInt("-eval_corr_genes", "top-variance genes in the gene-gene correlation matrix", NULL,
                            m->corr_genes, &m->corr_genes, NULL));
  PetscCall(PetscOptionsInt("-eval_hist_max", "cap on cells x bins of the marginal histograms", NULL, m->hist_max,
                            &m->hist_max, NULL));
  PetscCall(PetscOptionsInt("-eval_holdout_min", "real members needed for the holdout column", NULL, m->holdout_min,
                            &m->holdout_min, NULL));
  PetscCall(
      PetscOptionsInt("-eval_seed", "seed of the straw man and of the holdout split", NULL, m->seed, &m->seed, NULL));
  PetscCall(PetscOptionsReal("-eval_verdict_margin",
                             "a surrogate beats the straw man by this margin on structure (spectrum, Frechet, ...)", NULL,
                             m->verdict_margin, &m->verdict_margin, NULL));
  PetscCall(PetscOptionsReal("-eval_straw_tolerance",
                             "a surrogate is on no metric worse than (1 + tolerance) x the straw man", NULL,
                             m->straw_tolerance, &m->straw_tolerance, NULL));
  PetscCall(PetscOptionsReal("-eval_floor_factor", "a surrogate is on no metric worse than this x the holdout floor",
                             NULL, m->floor_factor, &m->floor_factor, NULL));
  PetscCall(PetscOptionsRangeInt("-eval_holdout_splits", "random half splits of the real set the floor is averaged over",
                                 NULL, m->holdout_splits, &m->holdout_splits, NULL, 1, 64));
  PetscOptionsEnd();
  PetscCheck(m->mmd_members >= 2 && m->median_points >= 2 && m->corr_genes >= 2 && m->hist_max >= 1, m->comm,
             PETSC_ERR_ARG_OUTOFRANGE,
             "-eval_mmd_cap, -eval_median_cap and -eval_corr_genes must be at least 2, -eval_hist_max at least 1");
  PetscCheck(m->seed >= 0 && m->holdout_min >= 4, m->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-eval_seed must be >= 0, -eval_holdout_min >= 4");
  PetscCheck(m->verdict_margin >= 0 && m->verdict_margin < 1 && m->straw_tolerance >= 0 && m->floor_factor >= 1,
             m->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-eval_verdict_margin must be in [0, 1), -eval_straw_tolerance >= 0, -eval_floor_factor >= 1");
  PetscFunctionReturn(0);
}

static PetscErrorCode total_members(BOMetrics m, BOSet s, PetscInt *N)
{
  PetscFunctionBegin;
  PetscCallMPI(MPI_Allreduce(&s.nlocal, N, 1, MPIU_INT, MPI_SUM, m->comm));
  PetscFunctionReturn(0);
}

/* Genes sorted by decreasing variance (ties: lower index first). */
static const double *sort_var;
static int           cmp_var_desc(const void *a, const void *b)
{
  PetscInt i = *(const PetscInt *)a, j = *(const PetscInt *)b;
  if (sort_var[i] != sort_var[j]) return sort_var[i] < sort_var[j] ? 1 : -1;
  return (i > j) - (i < j);
}

static PetscErrorCode choose_genes(BOMetrics m, BOSet ref)
{
  PetscInt G = m->G, N, *order;
  double  *mom;

  PetscFunctionBegin;
  PetscCall(total_members(m, ref, &N));
  PetscCall(PetscCalloc2(2 * G, &mom, G, &order));
  for (PetscInt s = 0; s < ref.nlocal; s++)
    for (PetscInt g = 0; g < G; g++)
      mom[g] += ref.x[s * G + g], mom[G + g] += (double)ref.x[s * G + g] * ref.x[s * G + g];
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, mom, (PetscMPIInt)(2 * G), MPI_DOUBLE, MPI_SUM, m->comm));
  for (PetscInt g = 0; g < G; g++)
    mom[G + g] = mom[G + g] / PetscMax(N, 1) - PetscSqr(mom[g] / PetscMax(N, 1)), order[g] = g;
  sort_var = mom + G;
  qsort(order, (size_t)G, sizeof(PetscInt), cmp_var_desc);
  m->ncorr = PetscMin(G, m->corr_genes), m->nfgenes = PetscMin(G, BO_VEC_FGENES);
  PetscCall(PetscMalloc2(m->ncorr, &m->corr_idx, m->nfgenes, &m->fgene_idx));
  PetscCall(PetscArraycpy(m->corr_idx, order, m->ncorr));
  PetscCall(PetscArraycpy(m->fgene_idx, order, m->nfgenes));
  PetscCall(PetscFree2(mom, order));
  PetscFunctionReturn(0);
}

PetscErrorCode BOMetricsSetUp(BOMetrics m, double max_count, BOSet ref)
{
  PetscFunctionBegin;
  PetscCheck(m->D > 0, m->comm, PETSC_ERR_ORDER, "call BOMetricsSetField or BOMetricsSetVector first");
  PetscCheck(max_count >= 0 && max_count < 16777217.0, m->comm, PETSC_ERR_ARG_OUTOFRANGE, "max_count out of range");
  /* Histograms: exact integer bins unless D x (max + 1) exceeds the cap. */
  m->max_count = (PetscInt)ceil(max_count);
  m->bin_width = (PetscInt)PetscMax(1, (PetscInt)ceil(((double)m->max_count + 1) * m->D / m->hist_max));
  m->nbins     = m->max_count / m->bin_width + 1;
  if (m->is_field) {
    m->nk = PetscMin(m->Ny, m->Nx) / 2, m->nr = PetscMin(m->Ny, m->Nx) / 2 + 1;
    m->nbands = PetscMin(m->nk, BO_FIELD_BANDS);
    m->nfeat  = 6 + m->nbands;
  } else {
    PetscCall(choose_genes(m, ref));
    m->nfeat = 2 + m->nfgenes;
  }
  m->setup = PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode BOMetricsDestroy(BOMetrics *m)
{
  PetscFunctionBegin;
  if (!*m) PetscFunctionReturn(0);
  PetscCall(PetscFree2((*m)->corr_idx, (*m)->fgene_idx));
  PetscCall(PetscFree(*m));
  PetscFunctionReturn(0);
}

/* ---- per-member quantities ---------------------------------------------- */

static int cmp_d(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Sum over components: the field the spectra are computed on. */
static void sum_components(BOMetrics m, const float *x, double *f)
{
  for (PetscInt c = 0; c < m->Nz * m->Ny * m->Nx; c++) {
    double s = 0;
    for (PetscInt k = 0; k < m->C; k++) s += x[c * m->C + k];
    f[c] = s;
  }
}

/* Raw features of one member (docs/EVAL.md): fields
 *   [log1p mass, zero fraction, log1p q50, q90, q99, log1p max, log1p band power x nbands]
 * on the component-summed field f (psd: its radial spectrum, sorted: work);
 * vectors [log1p total, zero fraction, log1p counts of the top-variance genes]. */
static void member_features(BOMetrics m, const float *x, const double *f, const double *psd, double *sorted,
                            double *feat)
{
  double mass = 0, zeros = 0;
  if (m->is_field) {
    PetscInt n = m->Nz * m->Ny * m->Nx;
    for (PetscInt c = 0; c < n; c++) mass += f[c], zeros += f[c] == 0, sorted[c] = f[c];
    qsort(sorted, (size_t)n, sizeof(double), cmp_d);
    feat[0] = log1p(mass), feat[1] = zeros / n;
    feat[2] = log1p(sorted[(PetscInt)(0.50 * (n - 1))]);
    feat[3] = log1p(sorted[(PetscInt)(0.90 * (n - 1))]);
    feat[4] = log1p(sorted[(PetscInt)(0.99 * (n - 1))]);
    feat[5] = log1p(sorted[n - 1]);
    for (PetscInt b = 0; b < m->nbands; b++) {
      PetscInt k0 = b * m->nk / m->nbands, k1 = (b + 1) * m->nk / m->nbands;
      double   p = 0;
      for (PetscInt k = k0; k < k1; k++) p += psd[k];
      feat[6 + b] = log1p(p / (k1 - k0));
    }
  } else {
    for (PetscInt g = 0; g < m->G; g++) mass += x[g], zeros += x[g] == 0;
    feat[0] = log1p(mass), feat[1] = zeros / m->G;
    for (PetscInt i = 0; i < m->nfgenes; i++) feat[2 + i] = log1p((double)x[m->fgene_idx[i]]);
  }
}

/* Is position p of an N-member set in the evenly strided subsample of M
 * positions floor(j N / M), j = 0..M-1? */
static PetscBool in_subsample(PetscInt64 p, PetscInt64 N, PetscInt64 M)
{
  PetscInt64 j;
  if (M >= N) return PETSC_TRUE;
  j = (p * M + N - 1) / N; /* the smallest j with j N / M >= p */
  return (PetscBool)(j < M && (j * N) / M == p);
}

/* Gather rows (count x w doubles per rank) to every rank, in rank order. */
static PetscErrorCode all_gather_rows(MPI_Comm comm, PetscInt count, PetscInt w, const double *mine, PetscInt *total,
                                      double **all)
{
  PetscMPIInt size, n = (PetscMPIInt)(count * w), *cnt, *dsp;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(PetscMalloc2(size, &cnt, size, &dsp));
  PetscCallMPI(MPI_Allgather(&n, 1, MPI_INT, cnt, 1, MPI_INT, comm));
  dsp[0] = 0;
  for (PetscMPIInt r = 1; r < size; r++) dsp[r] = dsp[r - 1] + cnt[r - 1];
  *total = w ? (dsp[size - 1] + cnt[size - 1]) / w : 0;
  PetscCall(PetscMalloc1((size_t)(dsp[size - 1] + cnt[size - 1]) + 1, all));
  PetscCallMPI(MPI_Allgatherv(mine, n, MPI_DOUBLE, *all, cnt, dsp, MPI_DOUBLE, comm));
  PetscCall(PetscFree2(cnt, dsp));
  PetscFunctionReturn(0);
}

/* ---- statistics of a set --------------------------------------------------- */

static PetscErrorCode stats_alloc(BOMetrics m, BOSetStats st)
{
  PetscFunctionBegin;
  PetscCall(PetscCalloc4((size_t)m->D * m->nbins, &st->hist, m->D, &st->sum, m->D, &st->sumsq, m->D, &st->zeros));
  PetscCall(PetscCalloc3(m->nk + 1, &st->psd, m->nr + 1, &st->tpcf, m->ncorr * m->ncorr + 1, &st->cross));
  PetscFunctionReturn(0);
}

/* Local sums of one member into st (histogram, moments, cross products). */
static void accumulate_member(BOMetrics m, const float *x, BOSetStats st)
{
  for (PetscInt e = 0; e < m->D; e++) {
    double   v = x[e];
    PetscInt b = PetscMin((PetscInt)v / m->bin_width, m->nbins - 1);
    st->hist[(size_t)e * m->nbins + b] += 1;
    st->sum[e] += v, st->sumsq[e] += v * v, st->zeros[e] += v == 0;
  }
  for (PetscInt i = 0; i < m->ncorr; i++)
    for (PetscInt j = 0; j < m->ncorr; j++)
      st->cross[i * m->ncorr + j] += (double)x[m->corr_idx[i]] * x[m->corr_idx[j]];
}

PetscErrorCode BOSetStatsCompute(BOMetrics m, BOSet s, BOSetStats *out)
{
  BOSetStats st;
  PetscInt   d = m->nfeat, nf = m->is_field ? m->Nz * m->Ny * m->Nx : 1, off = 0, nsel = 0;
  double    *f, *psd, *tpcf, *sorted, *feat, *fsum, *mass;

  PetscFunctionBegin;
  PetscCheck(m->setup, m->comm, PETSC_ERR_ORDER, "call BOMetricsSetUp first");
  PetscCall(PetscNew(&st));
  PetscCall(total_members(m, s, &st->N));
  if (!st->N) { /* raised on every rank alike */
    PetscCall(PetscFree(st));
    SETERRQ(m->comm, PETSC_ERR_ARG_SIZ, "empty set: no members to evaluate");
  }
  PetscCall(stats_alloc(m, st));
  PetscCall(PetscMalloc5(nf, &f, m->nk + 1, &psd, m->nr + 1, &tpcf, nf, &sorted, (size_t)(s.nlocal + 1) * d, &feat));
  PetscCall(PetscCalloc2(d + d * d, &fsum, s.nlocal + 1, &mass));
  PetscCallMPI(MPI_Exscan(&s.nlocal, &off, 1, MPIU_INT, MPI_SUM, m->comm));
  if (m->rank == 0) off = 0;

  /* 1. Local sums over this rank's members. */
  for (PetscInt i = 0; i < s.nlocal; i++) {
    const float *x = s.x + (size_t)i * m->D;
    double      *fi;
    accumulate_member(m, x, st);
    for (PetscInt e = 0; e < m->D; e++) mass[i] += x[e];
    if (m->is_field) {
      sum_components(m, x, f);
      PetscCall(BOMetricsRadialPSD3D(m->Nz, m->Ny, m->Nx, f, psd));
      PetscCall(BOMetricsRadialTPCF3D(m->Nz, m->Ny, m->Nx, f, tpcf));
      for (PetscInt k = 0; k < m->nk; k++) st->psd[k] += psd[k];
      for (PetscInt r = 0; r < m->nr; r++) st->tpcf[r] += tpcf[r];
    }
    /* features of the subsample are packed first: rows 0..nsel-1 */
    fi = feat + (size_t)i * d;
    member_features(m, x, f, psd, sorted, fi);
    for (PetscInt a = 0; a < d; a++) {
      fsum[a] += fi[a];
      for (PetscInt b = 0; b < d; b++) fsum[d + a * d + b] += fi[a] * fi[b];
    }
    if (in_subsample(off + i, st->N, m->mmd_members)) {
      if (nsel != i) PetscCall(PetscArraycpy(feat + (size_t)nsel * d, fi, d));
      nsel++;
    }
  }

  /* 2. Reduce: sums, histograms, ordered gathers. */
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, st->hist, (PetscMPIInt)(m->D * m->nbins), MPI_DOUBLE, MPI_SUM, m->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, st->sum, (PetscMPIInt)m->D, MPI_DOUBLE, MPI_SUM, m->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, st->sumsq, (PetscMPIInt)m->D, MPI_DOUBLE, MPI_SUM, m->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, st->zeros, (PetscMPIInt)m->D, MPI_DOUBLE, MPI_SUM, m->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, st->psd, (PetscMPIInt)(m->nk + 1), MPI_DOUBLE, MPI_SUM, m->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, st->tpcf, (PetscMPIInt)(m->nr + 1), MPI_DOUBLE, MPI_SUM, m->comm));
  PetscCallMPI(
      MPI_Allreduce(MPI_IN_PLACE, st->cross, (PetscMPIInt)(m->ncorr * m->ncorr + 1), MPI_DOUBLE, MPI_SUM, m->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, fsum, (PetscMPIInt)(d + d * d), MPI_DOUBLE, MPI_SUM, m->comm));
  for (PetscInt k = 0; k < m->nk; k++) st->psd[k] /= st->N;
  for (PetscInt r = 0; r < m->nr; r++) st->tpcf[r] /= st->N;
  /* feature mean and covariance (divisor N - 1) */
  for (PetscInt a = 0; a < d; a++) st->fmean[a] = fsum[a] / st->N;
  for (PetscInt a = 0; a < d; a++)
    for (PetscInt b = 0; b < d; b++)
      st->fcov[a * d + b] = st->N > 1 ? (fsum[d + a * d + b] - st->N * st->fmean[a] * st->fmean[b]) / (st->N - 1) : 0;
  {
    PetscInt n;
    PetscCall(all_gather_rows(m->comm, s.nlocal, 1, mass, &n, &st->mass));
    qsort(st->mass, (size_t)n, sizeof(double), cmp_d);
    PetscCall(all_gather_rows(m->comm, nsel, d, feat, &st->nsub, &st->fsub));
  }
  PetscCall(PetscFree5(f, psd, tpcf, sorted, feat));
  PetscCall(PetscFree2(fsum, mass));
  *out = st;
  PetscFunctionReturn(0);
}

PetscErrorCode BOSetStatsDestroy(BOSetStats *st)
{
  PetscFunctionBegin;
  if (!*st) PetscFunctionReturn(0);
  PetscCall(PetscFree4((*st)->hist, (*st)->sum, (*st)->sumsq, (*st)->zeros));
  PetscCall(PetscFree3((*st)->psd, (*st)->tpcf, (*st)->cross));
  PetscCall(PetscFree((*st)->mass));
  PetscCall(PetscFree((*st)->fsub));
  PetscCall(PetscFree(*st));
  PetscFunctionReturn(0);
}

/* ---- comparisons ------------------------------------------------------------ */

/* Mean |log((t + eps) / (r + eps))| over n bins; eps guards empty bins. */
static double mean_abs_log_ratio(PetscInt n, const double *r, const double *t)
{
  double mx = 0, s = 0, eps;
  if (n < 1) return NAN;
  for (PetscInt k = 0; k < n; k++) mx = PetscMax(mx, PetscMax(r[k], t[k]));
  eps = 1e-12 * mx + 1e-300;
  for (PetscInt k = 0; k < n; k++) s += fabs(log((t[k] + eps) / (r[k] + eps)));
  return s / n;
}

static double pearson(PetscInt n, const double *a, const double *b)
{
  double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
  for (PetscInt i = 0; i < n; i++) ma += a[i] / n, mb += b[i] / n;
  for (PetscInt i = 0; i < n; i++)
    sab += (a[i] - ma) * (b[i] - mb), saa += PetscSqr(a[i] - ma), sbb += PetscSqr(b[i] - mb);
  if (saa <= 0 && sbb <= 0) return 1; /* both constant */
  if (saa <= 0 || sbb <= 0) return 0;
  return sab / sqrt(saa * sbb);
}

/* Per-cell mean and unbiased variance. */
static void mean_var(BOMetrics m, BOSetStats st, double *mean, double *var)
{
  for (PetscInt e = 0; e < m->D; e++) {
    mean[e] = st->sum[e] / st->N;
    var[e]  = st->N > 1 ? PetscMax(0.0, (st->sumsq[e] - st->N * mean[e] * mean[e]) / (st->N - 1)) : 0;
  }
}

/* ||t - r|| / ||r|| (plain RMS of t - r when r is zero everywhere). */
static double rel_rmse(PetscInt n, const double *r, const double *t)
{
  double num = 0, den = 0;
  for (PetscInt i = 0; i < n; i++) num += PetscSqr(t[i] - r[i]), den += r[i] * r[i];
  return den > 0 ? sqrt(num / den) : sqrt(num / n);
}

/* Correlation matrix of the chosen genes from the cross sums. */
static void corr_matrix(BOMetrics m, BOSetStats st, double *R)
{
  PetscInt k = m->ncorr;
  for (PetscInt i = 0; i < k; i++)
    for (PetscInt j = 0; j < k; j++) {
      double mi = st->sum[m->corr_idx[i]] / st->N, mj = st->sum[m->corr_idx[j]] / st->N;
      double cij = st->cross[i * k + j] / st->N - mi * mj, cii = st->cross[i * k + i] / st->N - mi * mi,
             cjj   = st->cross[j * k + j] / st->N - mj * mj;
      R[i * k + j] = (cii > 0 && cjj > 0) ? cij / sqrt(cii * cjj) : 0;
    }
}

static PetscErrorCode compare_vectors(BOMetrics m, BOSetStats ref, BOSetStats test, const double *mr, const double *vr,
                                      const double *mt, const double *vt, BOMetricsResult *r)
{
  PetscInt G = m->G, k = m->ncorr;
  double  *a, *b, *Rr, *Rt, s = 0;

  PetscFunctionBegin;
  PetscCall(PetscMalloc4(G, &a, G, &b, k * k, &Rr, k * k, &Rt));
  for (PetscInt g = 0; g < G; g++) a[g] = log1p(mr[g]), b[g] = log1p(mt[g]);
  r->gene_mean_corr = pearson(G, a, b);
  for (PetscInt g = 0; g < G; g++) a[g] = log1p(vr[g]), b[g] = log1p(vt[g]);
  r->gene_var_corr = pearson(G, a, b);
  for (PetscInt g = 0; g < G; g++) a[g] = ref->zeros[g] / ref->N, b[g] = test->zeros[g] / test->N;
  r->zero_frac_corr = pearson(G, a, b);
  corr_matrix(m, ref, Rr);
  corr_matrix(m, test, Rt);
  for (PetscInt i = 0; i < k; i++)
    for (PetscInt j = 0; j < i; j++) s += PetscSqr(Rt[i * k + j] - Rr[i * k + j]);
  r->corr_dist = k > 1 ? sqrt(s / (k * (k - 1) / 2)) : 0;
  PetscCall(PetscFree4(a, b, Rr, Rt));
  PetscFunctionReturn(0);
}

/* Features standardised by the reference set's mean and standard deviation:
 * Frechet distance of the Gaussians, and MMD on the subsamples with the
 * kernel rows spread over ranks. */
static PetscErrorCode compare_features(BOMetrics m, BOSetStats ref, BOSetStats test, BOMetricsResult *r)
{
  PetscInt d = m->nfeat;
  double   sc[BO_METRICS_MAX_FEATURES], mu1[BO_METRICS_MAX_FEATURES], mu2[BO_METRICS_MAX_FEATURES], *S1, *S2, *a, *b,
      sums[3], h;

  PetscFunctionBegin;
  for (PetscInt i = 0; i < d; i++) {
    /* a constant feature's variance is round-off of E x^2 - (E x)^2, about
     * 1e-16 mean^2: count it as zero, or the scale would blow up */
    double v = ref->fcov[i * d + i];
    sc[i]    = v > 1e-24 && v > 1e-12 * PetscSqr(ref->fmean[i]) ? sqrt(v) : 1;
    mu1[i] = 0, mu2[i] = (test->fmean[i] - ref->fmean[i]) / sc[i];
  }
  PetscCall(PetscMalloc4(d * d, &S1, d * d, &S2, ref->nsub * d + 1, &a, test->nsub * d + 1, &b));
  for (PetscInt i = 0; i < d; i++)
    for (PetscInt j = 0; j < d; j++)
      S1[i * d + j] = ref->fcov[i * d + j] / (sc[i] * sc[j]), S2[i * d + j] = test->fcov[i * d + j] / (sc[i] * sc[j]);
  PetscCall(BOMetricsFrechet(d, mu1, S1, mu2, S2, &r->frechet));
  for (PetscInt n = 0; n < ref->nsub; n++)
    for (PetscInt i = 0; i < d; i++) a[n * d + i] = (ref->fsub[n * d + i] - ref->fmean[i]) / sc[i];
  for (PetscInt n = 0; n < test->nsub; n++)
    for (PetscInt i = 0; i < d; i++) b[n * d + i] = (test->fsub[n * d + i] - ref->fmean[i]) / sc[i];
  PetscCall(BOMetricsMedianDistance(d, ref->nsub, a, test->nsub, b, m->median_points, &h));
  BOMetricsMMDSums(d, ref->nsub, a, test->nsub, b, h, m->rank, m->size, sums);
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, sums, 3, MPI_DOUBLE, MPI_SUM, m->comm));
  r->mmd = BOMetricsMMDFromSums(ref->nsub, test->nsub, sums), r->mmd_bandwidth = h;
  PetscCall(PetscFree4(S1, S2, a, b));
  PetscFunctionReturn(0);
}

PetscErrorCode BOMetricsCompare(BOMetrics m, BOSetStats ref, BOSetStats test, BOMetricsResult *r)
{
  double *mr, *vr, *mt, *vt, w1 = 0;

  PetscFunctionBegin;
  r->N_ref = ref->N, r->N_test = test->N;
  r->psd_logratio = r->tpcf_logratio = r->gene_mean_corr = r->gene_var_corr = r->zero_frac_corr = r->corr_dist = NAN;
  r->memorized_fraction = r->nn_d1_median = NAN;
  for (PetscInt e = 0; e < m->D; e++)
    w1 += BOMetricsW1Hist(m->nbins, ref->hist + (size_t)e * m->nbins, test->hist + (size_t)e * m->nbins,
                          (double)m->bin_width);
  r->w1_marginal = w1 / m->D;
  PetscCall(PetscMalloc4(m->D, &mr, m->D, &vr, m->D, &mt, m->D, &vt));
  mean_var(m, ref, mr, vr);
  mean_var(m, test, mt, vt);
  r->mean_rrmse = rel_rmse(m->D, mr, mt), r->var_rrmse = rel_rmse(m->D, vr, vt);
  r->mass_w1 = BOMetricsW1Sorted(ref->N, ref->mass, test->N, test->mass);
  r->mass_ks = BOMetricsKSSorted(ref->N, ref->mass, test->N, test->mass);
  {
    double mr0 = 0, vr0 = 0, mt0 = 0, vt0 = 0;
    for (PetscInt i = 0; i < ref->N; i++) mr0 += ref->mass[i] / (double)ref->N;
    for (PetscInt i = 0; i < test->N; i++) mt0 += test->mass[i] / (double)test->N;
    for (PetscInt i = 0; i < ref->N; i++) vr0 += (ref->mass[i] - mr0) * (ref->mass[i] - mr0) / (double)ref->N;
    for (PetscInt i = 0; i < test->N; i++) vt0 += (test->mass[i] - mt0) * (test->mass[i] - mt0) / (double)test->N;
    r->mass_mean_ratio = mr0 > 0 ? mt0 / mr0 : NAN;
    r->mass_var_ratio  = vr0 > 0 ? vt0 / vr0 : NAN;
  }
  {
    double zr = 0, zt = 0; /* zero cells per member */
    for (PetscInt e = 0; e < m->D; e++) zr += ref->zeros[e] / (double)ref->N, zt += test->zeros[e] / (double)test->N;
    r->zero_frac_ratio = zr > 0 ? zt / zr : NAN;
  }
  if (m->is_field) {
    r->psd_logratio  = mean_abs_log_ratio(m->nk, ref->psd, test->psd);
    r->tpcf_logratio = mean_abs_log_ratio(m->nr, ref->tpcf, test->tpcf);
  } else PetscCall(compare_vectors(m, ref, test, mr, vr, mt, vt, r));
  PetscCall(PetscFree4(mr, vr, mt, vt));
  PetscCall(compare_features(m, ref, test, r));
  PetscFunctionReturn(0);
}

/* ---- memorisation ----------------------------------------------------------- */

/* Squared distances from the local members to a block of nt training members
 * (|s|^2 + |t|^2 - 2 s.t with one dgemm; exact for integer counts below
 * 2^26 or so), folded into the two smallest per member. */
static void update_nearest(PetscInt D, PetscInt ns, const double *S, const double *sn, PetscInt nt, const double *T,
                           const double *tn, double *G, double *d1, double *d2)
{
  if (!ns || !nt) return;
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ns, (int)nt, (int)D, 1.0, S, (int)D, T, (int)D, 0.0, G,
              (int)nt);
  for (PetscInt i = 0; i < ns; i++)
    for (PetscInt j = 0; j < nt; j++) {
      double dd = PetscMax(0.0, sn[i] + tn[j] - 2 * G[i * nt + j]);
      if (dd < d1[i]) d2[i] = d1[i], d1[i] = dd;
      else if (dd < d2[i]) d2[i] = dd;
    }
}

static void rows_to_double(PetscInt n, PetscInt D, const float *x, double *y, double *norm2)
{
  for (PetscInt i = 0; i < n; i++) {
    double s = 0;
    for (PetscInt e = 0; e < D; e++) y[i * D + e] = x[i * D + e], s += (double)x[i * D + e] * x[i * D + e];
    norm2[i] = s;
  }
}

PetscErrorCode BOMetricsMemorization(BOMetrics m, BOSet s, BOSet train, double *frac, double *d1_median)
{
  PetscInt D = m->D, ntrain, N, nmem = 0, maxt = 0, n;
  double  *S, *sn, *T, *tn, *G, *d1, *d2, *all;
  float   *buf;

  PetscFunctionBegin;
  PetscCall(total_members(m, train, &ntrain));
  PetscCall(total_members(m, s, &N));
  PetscCheck(ntrain >= 2, m->comm, PETSC_ERR_ARG_SIZ,
             "memorisation needs at least 2 training members (got %" PetscInt_FMT ")", ntrain);
  PetscCheck(N >= 1, m->comm, PETSC_ERR_ARG_SIZ, "empty set: no members to evaluate");
  PetscCallMPI(MPI_Allreduce(&train.nlocal, &maxt, 1, MPIU_INT, MPI_MAX, m->comm));
  PetscCall(PetscMalloc4((size_t)s.nlocal * D + 1, &S, s.nlocal + 1, &sn, (size_t)maxt * D + 1, &T, maxt + 1, &tn));
  PetscCall(
      PetscMalloc4((size_t)s.nlocal * maxt + 1, &G, s.nlocal + 1, &d1, s.nlocal + 1, &d2, (size_t)maxt * D + 1, &buf));
  rows_to_double(s.nlocal, D, s.x, S, sn);
  for (PetscInt i = 0; i < s.nlocal; i++) d1[i] = d2[i] = PETSC_INFINITY;
  /* each rank's training shard in turn, broadcast to all */
  for (PetscMPIInt r = 0; r < m->size; r++) {
    PetscInt nt = train.nlocal;
    PetscCallMPI(MPI_Bcast(&nt, 1, MPIU_INT, r, m->comm));
    if (m->rank == r && nt) PetscCall(PetscArraycpy(buf, train.x, (size_t)nt * D));
    if (nt) PetscCallMPI(MPI_Bcast(buf, (PetscMPIInt)(nt * D), MPI_FLOAT, r, m->comm));
    rows_to_double(nt, D, buf, T, tn);
    update_nearest(D, s.nlocal, S, sn, nt, T, tn, G, d1, d2);
  }
  /* memorised: d1 < d2 / 3 (an exact copy of a duplicated member too) */
  for (PetscInt i = 0; i < s.nlocal; i++) {
    nmem += (d1[i] == 0 || sqrt(d1[i]) < sqrt(d2[i]) / 3);
    d1[i] = sqrt(d1[i] / D);
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &nmem, 1, MPIU_INT, MPI_SUM, m->comm));
  *frac = (double)nmem / N;
  PetscCall(all_gather_rows(m->comm, s.nlocal, 1, d1, &n, &all));
  qsort(all, (size_t)n, sizeof(double), cmp_d);
  *d1_median = n % 2 ? all[n / 2] : 0.5 * (all[n / 2 - 1] + all[n / 2]);
  PetscCall(PetscFree(all));
  PetscCall(PetscFree4(S, sn, T, tn));
  PetscCall(PetscFree4(G, d1, d2, buf));
  PetscFunctionReturn(0);
}

/* ---- straw man ----------------------------------------------------------------- */

PetscErrorCode BOMetricsIndependentSample(BOMetrics m, BOSetStats src, uint64_t seed, PetscInt first, PetscInt nlocal,
                                          float *x)
{
  PetscInt nb = m->nbins;
  double  *cdf;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1((size_t)m->D * nb, &cdf));
  for (PetscInt e = 0; e < m->D; e++) /* cumulative counts per cell */
    for (PetscInt b = 0; b < nb; b++)
      cdf[(size_t)e * nb + b] = src->hist[(size_t)e * nb + b] + (b ? cdf[(size_t)e * nb + b - 1] : 0);
  for (PetscInt i = 0; i < nlocal; i++) {
    BORng rng;
    BORngInit(&rng, seed, BO_RNG_SAMPLE, (uint32_t)(first + i), 0);
    for (PetscInt e = 0; e < m->D; e++) {
      const double *c  = cdf + (size_t)e * nb;
      double        u  = BORngUniform(&rng) * c[nb - 1];
      PetscInt      lo = 0, hi = nb - 1, v;
      while (lo < hi) { /* first bin whose cumulative count exceeds u */
        PetscInt mid = (lo + hi) / 2;
        if (c[mid] > u) hi = mid;
        else lo = mid + 1;
      }
      v = lo * m->bin_width + (m->bin_width > 1 ? (PetscInt)BORngBelow(&rng, (uint32_t)m->bin_width) : 0);
      x[(size_t)i * m->D + e] = (float)PetscMin(v, m->max_count);
    }
  }
  PetscCall(PetscFree(cdf));
  PetscFunctionReturn(0);
}
