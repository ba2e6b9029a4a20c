/* BOMetrics: fidelity of a generated ensemble against held-out truth
 * (docs/EVAL.md has the definitions).
 *
 * Sets of members are distributed: each rank passes its nlocal x D floats
 * (any split; the order of members over ranks must be rank 0's first, as
 * BODataset shards are). Everything reduced over ranks is a sum, a maximum,
 * a histogram or an ordered gather, so results do not depend on the number
 * of ranks beyond floating-point summation order.
 *
 * Usage (all calls collective over the communicator of m unless noted):
 *   BOMetricsCreate(comm, &m);
 *   BOMetricsSetField(m, Ny, Nx, C);   or BOMetricsSetField3D(m, Nz, Ny, Nx, C), BOMetricsSetVector(m, G);
 *   BOMetricsSetFromOptions(m);        -eval_* options
 *   BOMetricsSetUp(m, max_count, nlocal_real, x_real); histogram bins, gene choice, feature scaling
 *   BOMetricsEvaluate(m, real, fake, train (or NULL), &rep);   all three columns
 *   BOMetricsReportView(m, &rep, PETSC_VIEWER_STDOUT_(comm)); BOMetricsReportWriteJSON(m, &rep, "r.json");
 *   BOMetricsWritePlots(m, &rep, "prefix");
 *   BOMetricsReportDestroy(&rep); BOMetricsDestroy(&m);
 * or the building blocks: BOSetStatsCompute, BOMetricsCompare,
 * BOMetricsMemorization, BOMetricsIndependentSample.
 * Conditional ensembles (members with params; after BOMetricsSetUp):
 * BOMetricsEvaluateByParams, BOByParamsReportView,
 * BOByParamsReportWriteJSON, BOByParamsReportDestroy; on input fields
 * (no BOMetrics needed): BOMetricsEvaluateByInputs, BOByInputsReportView,
 * BOByInputsReportWriteJSON, BOByInputsReportDestroy.
 */
#ifndef BO_METRICS_H
#define BO_METRICS_H
#include <petscsys.h>
#include <petscviewer.h>
#include <stdint.h>

#define BO_METRICS_MAX_FEATURES 32

/* A distributed set: this rank's members. */
typedef struct {
  PetscInt     nlocal;
  const float *x; /* nlocal x D */
} BOSet;

typedef struct _n_BOMetrics *BOMetrics;
struct _n_BOMetrics {
  MPI_Comm    comm;
  PetscMPIInt rank, size;
  /* layout */
  PetscBool is_field;
  PetscBool is_3d;    /* fields of Nz x Ny x Nx cells (BOMetricsSetField3D; Nz = 1 otherwise) */
  PetscBool top_down; /* fields: row 0 is the top in pictures (images; the real file's row_order) */
  PetscInt  D, Nz, Ny, Nx, C, G;
  /* options */
  PetscInt  mmd_members;     /* -eval_mmd_cap: members per set in the MMD subsample */
  PetscInt  median_points;   /* -eval_median_cap: pooled points for the bandwidth */
  PetscInt  corr_genes;      /* -eval_corr_genes: genes in the correlation matrix */
  PetscInt  hist_max;        /* -eval_hist_max: most D x bins of the marginal histograms */
  PetscInt  holdout_min;     /* -eval_holdout_min: real members needed for the holdout column */
  PetscInt  seed;            /* -eval_seed: straw man and holdout split */
  PetscReal verdict_margin;  /* -eval_verdict_margin: generated must be below (1 - margin) x straw man */
  PetscReal straw_tolerance; /* -eval_straw_tolerance: no metric above (1 + tol) x the straw man's */
  PetscReal floor_factor;    /* -eval_floor_factor: no metric above this x the holdout floor */
  PetscInt  holdout_splits;  /* -eval_holdout_splits: random half splits the floor is averaged over */
  /* set up from the reference (real) set */
  PetscInt  max_count, bin_width, nbins;
  PetscInt  nk, nr;              /* radial bins of the spectrum and of the two-point function (fields) */
  PetscInt  nfeat, nbands;       /* feature dimension, spectral bands in the features */
  PetscInt  ncorr, *corr_idx;    /* vectors: genes of the correlation matrix (top variance) */
  PetscInt  nfgenes, *fgene_idx; /* vectors: genes in the features (top variance) */
  PetscBool setup;
};

/* Statistics of one set, reduced over ranks (identical on every rank). */
typedef struct _n_BOSetStats *BOSetStats;
struct _n_BOSetStats {
  PetscInt N;                   /* members */
  double  *hist;                /* D x nbins counts of members per value bin */
  double  *sum, *sumsq, *zeros; /* D each */
  double  *mass;                /* N totals, sorted ascending */
  double  *psd;                 /* nk: mean radially averaged power spectrum, bin k = 1..nk at index k-1 */
  double  *tpcf;                /* nr: mean two-point function S2(r), r = 0..nr-1 */
  double  *cross;               /* ncorr x ncorr sums of x_i x_j (vectors) */
  double   fmean[BO_METRICS_MAX_FEATURES], fcov[BO_METRICS_MAX_FEATURES * BO_METRICS_MAX_FEATURES]; /* raw features */
  PetscInt nsub; /* members in the feature subsample */
  double  *fsub; /* nsub x nfeat raw features (evenly strided members) */
};

typedef struct {
  PetscInt N_ref, N_test;
  double   w1_marginal; /* mean over cells of W1 between the per-cell marginals */
  double   mean_rrmse;  /* ||mean_t - mean_r|| / ||mean_r|| over cells */
  double   var_rrmse;   /* the same for the variance fields */
  double   mass_w1, mass_ks;
  double   mass_mean_ratio, mass_var_ratio; /* mean and variance of the totals: test / ref (not distances) */
  double   zero_frac_ratio;                 /* fraction of zero cells: test / ref (not a distance) */
  double   psd_logratio;                    /* fields: mean_k |log(P_t(k) / P_r(k))| */
  double   tpcf_logratio;                   /* fields: mean_r |log(S2_t(r) / S2_r(r))| */
  double   gene_mean_corr, gene_var_corr, zero_frac_corr; /* vectors: Pearson over genes (log1p mean, log1p var) */
  double   corr_dist; /* vectors: RMS over gene pairs of the correlation-matrix difference */
  double   mmd, mmd_bandwidth, frechet;
  double   memorized_fraction, nn_d1_median; /* with training data, else NaN */
} BOMetricsResult;

/* The three columns of a report. */
typedef enum { BO_COL_GENERATED, BO_COL_INDEPENDENT, BO_COL_HOLDOUT, BO_NCOL } BOMetricsColumn;
extern const char *const BOMetricsColumnNames[];

typedef struct {
  BOMetricsResult col[BO_NCOL];
  PetscBool       has[BO_NCOL];
  PetscBool       has_train;
  double          real_nn_d1_median; /* real -> train */
  PetscBool       surrogate;         /* the verdict */
  char            verdict[1024];
  BOSetStats      real, fake, straw; /* kept for the plots */
} BOMetricsReport;

PetscErrorCode BOMetricsCreate(MPI_Comm comm, BOMetrics *m);
PetscErrorCode BOMetricsSetField(BOMetrics m, PetscInt Ny, PetscInt Nx, PetscInt C);
/* Members of Nz x Ny x Nx x C ([z][y][x][c]); spectra and two-point
 * functions are 3-D (BOMetricsRadialPSD3D, BOMetricsRadialTPCF3D), features
 * and pictures too. Nz = 1 gives the numbers of BOMetricsSetField. */
PetscErrorCode BOMetricsSetField3D(BOMetrics m, PetscInt Nz, PetscInt Ny, PetscInt Nx, PetscInt C);
PetscErrorCode BOMetricsSetVector(BOMetrics m, PetscInt G);
PetscErrorCode BOMetricsSetFromOptions(BOMetrics m);
/* max_count: the largest count over all sets to be compared (histogram
 * support). The reference set picks the genes and the feature layout. */
PetscErrorCode BOMetricsSetUp(BOMetrics m, double max_count, BOSet ref);
PetscErrorCode BOMetricsDestroy(BOMetrics *m);

/* Statistics of a set. An empty set (no member on any rank) is an error. */
PetscErrorCode BOSetStatsCompute(BOMetrics m, BOSet s, BOSetStats *st);
PetscErrorCode BOSetStatsDestroy(BOSetStats *st);
/* Metrics of test against ref (memorized_fraction, nn_d1_median left NaN). */
PetscErrorCode BOMetricsCompare(BOMetrics m, BOSetStats ref, BOSetStats test, BOMetricsResult *r);
/* Nearest-training-member statistics of s: fraction with d1 < d2 / 3 and the
 * median of d1 / sqrt(D) (Euclidean on counts). train needs >= 2 members. */
PetscErrorCode BOMetricsMemorization(BOMetrics m, BOSet s, BOSet train, double *frac, double *d1_median);
/* Independent-marginals straw man: members [first, first + nlocal) of an
 * ensemble whose cell values are drawn independently from the per-cell
 * marginals of src; member g uses the stream (seed, BO_RNG_SAMPLE, g, 0). */
PetscErrorCode BOMetricsIndependentSample(BOMetrics m, BOSetStats src, uint64_t seed, PetscInt first, PetscInt nlocal,
                                          float *x);

/* Everything: generated (fake vs real), independent baseline (straw man of
 * N_fake members drawn from train's marginals, or real's without train)
 * and holdout (a random half of real vs the other half, when N_real >=
 * holdout_min), memorisation against train when train.x is not NULL on
 * any rank (pass nlocal = 0 and x = NULL for no training data), and the
 * verdict. */
PetscErrorCode BOMetricsEvaluate(BOMetrics m, BOSet real, BOSet fake, const BOSet *train, BOMetricsReport *rep);
/* The verdict (rep->surrogate, rep->verdict) from the report's numbers, as
 * BOMetricsEvaluate decides it (docs/EVAL.md): no metric above (1 +
 * -eval_straw_tolerance) x the straw man or -eval_floor_factor x the holdout
 * floor (a NaN fails), a clear win on a structure metric, at most 10 %
 * memorised; every failure named. */
PetscErrorCode BOMetricsDecideVerdict(BOMetrics m, BOMetricsReport *rep);
PetscErrorCode BOMetricsReportView(BOMetrics m, const BOMetricsReport *rep, PetscViewer v);
PetscErrorCode BOMetricsReportWriteJSON(BOMetrics m, const BOMetricsReport *rep, const char *path);
PetscErrorCode BOMetricsReportDestroy(BOMetricsReport *rep);

/* Pictures (rank 0 writes; collective): PREFIX_spectra.png (fields),
 * PREFIX_marginals.png, PREFIX_meanvar.png; and PREFIX_montage.png of the
 * first members of real and fake (gathered to rank 0). Their names after
 * PREFIX_ are BOMetricsPictures[] (a caller checks them as outputs). */
typedef enum { BO_PIC_SPECTRA, BO_PIC_MARGINALS, BO_PIC_MEANVAR, BO_PIC_MONTAGE, BO_NUM_PICS } BOMetricsPicture;
extern const char *const BOMetricsPictures[BO_NUM_PICS];

PetscErrorCode BOMetricsWritePlots(BOMetrics m, const BOMetricsReport *rep, const char *prefix);
PetscErrorCode BOMetricsWriteMontage(BOMetrics m, BOSet real, BOSet fake, const char *prefix);

/* ---- conditional evaluation (bo_eval -by_params, docs/EVAL.md) -------- */
/* Members carry P parameters (params: nlocal x P doubles, in the order of
 * the set's members). Real members with the same params (within the
 * tolerance) form a point; generated members are matched to the points;
 * per point the generated members (conditional), a random subset of the
 * training members as large as the generated group (pooled_baseline) and
 * the training members nearest to the point in params standardised by the
 * training mean and sd, as many (nearest_baseline), are compared with the
 * point's real members, and the holdout floor where every point has
 * >= holdout_min real members. */
typedef enum { BO_BP_CONDITIONAL, BO_BP_POOLED, BO_BP_NEAREST, BO_BP_HOLDOUT, BO_BP_NCOL } BOByParamsColumn;
#define BO_BP_NSUMMARY 4 /* metrics of the summary: w1_marginal, mass_w1, psd_logratio (vectors: corr_dist), frechet */
extern const char *const BOByParamsColumnNames[];

typedef struct {
  BOSet         set;
  const double *params; /* nlocal x P */
  const char   *what;   /* in messages: the file name, say */
} BOParamSet;

typedef struct {
  PetscInt         P, npoints, N_real, N_fake, N_train;
  char             names[4096];      /* comma-separated */
  double          *points;           /* npoints x P, in order of first appearance in real */
  BOMetricsResult *res[BO_BP_NCOL];  /* npoints each */
  BOMetricsResult  mean[BO_BP_NCOL]; /* means over points */
  PetscBool        has_holdout;
  const char      *summary_keys[BO_BP_NSUMMARY];
  PetscBool        beats_both[BO_BP_NSUMMARY]; /* conditional mean < (1 - verdict_margin) x both baselines' */
  char             summary[1280];              /* the fixed text and two lists of up to 511 characters */
} BOByParamsReport;

/* tol: two values a, b are the same parameter when a == b or |a - b| <=
 * tol max(|a|, |b|). Collective. */
PetscErrorCode BOMetricsEvaluateByParams(BOMetrics m, PetscInt P, const char *names, BOParamSet real, BOParamSet fake,
                                         BOParamSet train, double tol, BOByParamsReport *rep);
PetscErrorCode BOByParamsReportView(BOMetrics m, const BOByParamsReport *rep, PetscViewer v);
PetscErrorCode BOByParamsReportWriteJSON(BOMetrics m, const BOByParamsReport *rep, const char *path);
PetscErrorCode BOByParamsReportDestroy(BOByParamsReport *rep);

/* Ensembles conditioned on input fields (bo_eval -by_inputs, docs/EVAL.md).
 * Real members with identical input fields (bit for bit) form a field;
 * every generated member must be on one of them and every field needs one.
 * Per field f, with S_f the simulator's (real) mean field and G_f the
 * generated one: rmse_own = RMSE(G_f, S_f) over the cells, rmse_other =
 * min over g != f of RMSE(G_f, S_g), margin = rmse_other / rmse_own (> 1:
 * the generated mean is nearest its own field); floor_split = RMSE between
 * the means of the even and the odd real members of f (in member order),
 * floor_scaled = the same scaled to n_fake vs n_real members (the RMSE a
 * second simulator draw would have); separation = min over g != f of
 * RMSE(S_f, S_g); mass_real/mass_fake and sd_real/sd_fake: the mean and
 * sd (divisor n - 1) of the members' total counts on f, and the summary's
 * mass_sd_ratio and mass_mean_ratio the averages over the fields of
 * sd_fake / sd_real and mass_fake / mass_real. Sums are of integer counts,
 * so results are identical on any number of ranks. Collective; needs two
 * fields or more. */
typedef struct {
  BOSet        set;
  const float *inputs; /* nlocal x Di */
  const char  *what;   /* in messages: the file name, say */
} BOInputSet;
typedef struct {
  PetscInt n_real, n_fake, first_member, nearest_other;
  double   rmse_own, rmse_other, margin, floor_split, floor_scaled, separation;
  double   mass_real, sd_real, mass_fake, sd_fake; /* the members' total counts on the field */
} BOByInputsField;
typedef struct {
  PetscInt         N_real, N_fake, nfields, nearest_own;
  uint64_t        *keys;         /* nfields hashes of the fields */
  PetscInt        *first_member; /* nfields: the first real member on each */
  BOByInputsField *fields;
  double           margin_min, margin_mean;
  double           mass_sd_ratio, mass_mean_ratio; /* over the fields: sd_fake / sd_real, mass_fake / mass_real */
  PetscBool        pass;                           /* nearest_own == nfields */
  char             summary[512];
} BOByInputsReport;
/* D: counts per member; Di: inputs per member. */
PetscErrorCode BOMetricsEvaluateByInputs(MPI_Comm comm, PetscInt D, PetscInt Di, BOInputSet real, BOInputSet fake,
                                         BOByInputsReport *rep);
PetscErrorCode BOByInputsReportView(const BOByInputsReport *rep, PetscViewer v);
PetscErrorCode BOByInputsReportWriteJSON(MPI_Comm comm, const BOByInputsReport *rep, const char *path);
PetscErrorCode BOByInputsReportDestroy(BOByInputsReport *rep);

/* ---- serial kernels (no communication) -------------------------------- */
/* W1 between two histograms over bins of width w (counts, any totals). */
double BOMetricsW1Hist(PetscInt nbins, const double *ha, const double *hb, double w);
/* W1 and KS statistic between two sorted samples. */
double BOMetricsW1Sorted(PetscInt na, const double *a, PetscInt nb, const double *b);
double BOMetricsKSSorted(PetscInt na, const double *a, PetscInt nb, const double *b);
/* Radially averaged power spectrum |F(k)|^2 / (Ny Nx) of one Ny x Nx field in
 * nk = min(Ny, Nx) / 2 bins of |f| min(Ny, Nx) (f in cycles per cell), bin
 * k = 1..nk at psd[k-1] (the mean k = 0 is left out). */
PetscErrorCode BOMetricsRadialPSD(PetscInt Ny, PetscInt Nx, const double *f, double *psd);
/* Two-point function S2(r) = mean over pairs of cells at distance round(|d|) = r
 * of f(p) f(p + d), without periodic wrap, r = 0 .. min(Ny, Nx) / 2. */
PetscErrorCode BOMetricsRadialTPCF(PetscInt Ny, PetscInt Nx, const double *f, double *s2);
/* The same for an Nz x Ny x Nx field (x fastest): spherical shells of |f|
 * min(Ny, Nx) with f = (fz, fy, fx) in cycles per cell of each axis (so a
 * shell mixes axes of different lengths by physical wavenumber, for cubic
 * cells), nk = min(Ny, Nx) / 2 bins as in 2-D; S2 over 3-D lags d in cells,
 * r = 0 .. min(Ny, Nx) / 2. Nz = 1: the 2-D functions, bit for bit. */
PetscErrorCode BOMetricsRadialPSD3D(PetscInt Nz, PetscInt Ny, PetscInt Nx, const double *f, double *psd);
PetscErrorCode BOMetricsRadialTPCF3D(PetscInt Nz, PetscInt Ny, PetscInt Nx, const double *f, double *s2);
/* In-place DFT of length n (any n; radix 2 when a power of two), sign -1 forward. */
PetscErrorCode BOMetricsDFT(PetscInt n, double *re, double *im, int sign);
/* Frechet distance between Gaussians (mu1, S1) and (mu2, S2) of dimension d:
 * |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2), by eigen-decompositions. */
PetscErrorCode BOMetricsFrechet(PetscInt d, const double *mu1, const double *S1, const double *mu2, const double *S2,
                                double *fd);
/* Unbiased MMD^2 with a Gaussian kernel exp(-|x - y|^2 / (2 h^2)); h <= 0:
 * the median pairwise distance of the pooled points (*h receives it). */
PetscErrorCode BOMetricsMMD2(PetscInt d, PetscInt na, const double *a, PetscInt nb, const double *b, double *h,
                             double *mmd);

/* Pieces of the MMD used by BOMetricsCompare to spread kernel rows over
 * ranks: the median pairwise distance of the pooled points (at most max_points
 * points per set, evenly strided); the kernel sums over rows i = rank,
 * rank + size, ... (sums[0] = sum_{i!=j} k(a_i,a_j), [1] the same for b,
 * [2] = sum_{i,j} k(a_i,b_j)); the unbiased estimate from the summed sums. */
PetscErrorCode BOMetricsMedianDistance(PetscInt d, PetscInt na, const double *a, PetscInt nb, const double *b,
                                       PetscInt max_points, double *h);
void   BOMetricsMMDSums(PetscInt d, PetscInt na, const double *a, PetscInt nb, const double *b, double h, int rank,
                        int size, double sums[3]);
double BOMetricsMMDFromSums(PetscInt na, PetscInt nb, const double sums[3]);

/* Darcy CSV comparison (bo_darcy results): columns present in both files
 * except `member` and `iterations`; rank 0 prints, every rank parses. */
PetscErrorCode BOMetricsCompareCSV(MPI_Comm comm, const char *real, const char *fake, const char *json, PetscViewer v);

#endif
