/* BOProcess: the schedule, loss weights, forward noising, the Poisson loss,
 * the bridge probability, and the settings in files. The reverse steps are
 * in reverse.c. */
#include <math.h>
#include <string.h>
#include "bo_h5.h"
#include "bo_process.h"

const char *const BOWeightTypes[] = {"instantaneous", "finite_time", "elbo", "BOWeightType", "BO_WEIGHT_", NULL};

PetscErrorCode BOProcessCreate(MPI_Comm comm, BOProcess *proc)
{
  PetscFunctionBegin;
  PetscCall(PetscNew(proc));
  (*proc)->comm         = comm;
  (*proc)->T            = 1000;
  (*proc)->tEnd         = 15.0;
  (*proc)->weight_type  = BO_WEIGHT_INSTANTANEOUS;
  (*proc)->weight_floor = 0.01;
  (*proc)->grid_power   = 4.0;
  (*proc)->focus[0]     = 0.01;
  (*proc)->focus[1]     = 0.35;
  PetscFunctionReturn(0);
}

PetscErrorCode BOProcessSetFromOptions(BOProcess proc)
{
  PetscReal focus[3] = {proc->focus[0], proc->focus[1], 0}; /* one spare: three values are an error */
  PetscInt  n        = 3;
  PetscBool set;

  PetscFunctionBegin;
  PetscOptionsBegin(proc->comm, NULL, "Blackout process", NULL);
  PetscCall(PetscOptionsInt("-T", "number of observation times", "BOProcessSetUp", proc->T, &proc->T, NULL));
  PetscCall(PetscOptionsReal("-t_end", "time horizon: survival e^{-t_end} at the last time", "BOProcessSetUp",
                             proc->tEnd, &proc->tEnd, NULL));
  PetscCall(PetscOptionsEnum("-loss_weight", "loss weights over time", "BOProcessSetUp", BOWeightTypes,
                             (PetscEnum)proc->weight_type, (PetscEnum *)&proc->weight_type, NULL));
  PetscCall(PetscOptionsReal("-loss_weight_floor",
                             "no loss weight below this fraction of the largest (0: the reference's weights)",
                             "BOProcessSetUp", proc->weight_floor, &proc->weight_floor, NULL));
  PetscCall(PetscOptionsRealArray("-train_time_focus", "PLO,PHI: survival range of the focused training times",
                                  "BOProcessSetUp", focus, &n, &set));
  PetscCheck(!set || n == 2, proc->comm, PETSC_ERR_ARG_SIZ,
             "-train_time_focus: give two values PLO,PHI, not %" PetscInt_FMT, n);
  proc->focus[0] = focus[0], proc->focus[1] = focus[1];
  PetscCall(PetscOptionsReal("-train_time_focus_fraction",
                             "fraction of training samples whose time is drawn from the focused range (0: none)",
                             "BOProcessSetUp", proc->focus_fraction, &proc->focus_fraction, NULL));
  PetscOptionsEnd();
  PetscFunctionReturn(0);
}

/* The focused training times: the indices k whose survival p_k lies in
 * [focus[0], focus[1]] (p falls with k, so they are contiguous). The sampler
 * lays out a member's structure while it holds its first few tens of percent
 * of units, and errors made there are not undone later (docs/SAMPLING.md);
 * any distribution of training times keeps the loss's minimiser, the
 * posterior mean at every k, so the focus only moves training effort there. */
static PetscErrorCode focus_set_up(BOProcess proc)
{
  const double lo = proc->focus[0], hi = proc->focus[1], f = proc->focus_fraction;
  PetscInt     a = 0, b = proc->T - 1;

  PetscFunctionBegin;
  PetscCheck(f >= 0.0 && f <= 1.0, proc->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-train_time_focus_fraction %g: must be in [0, 1]", f);
  PetscCheck(lo >= 0.0 && lo < hi && hi <= 1.0, proc->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-train_time_focus %g,%g: need 0 <= PLO < PHI <= 1 (survival probabilities)", lo, hi);
  while (a < proc->T && proc->p[a] > hi) a++;
  while (b >= 0 && proc->p[b] < lo) b--;
  PetscCheck(f == 0.0 || a <= b, proc->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-train_time_focus %g,%g: no observation time has its survival in that range (-T %" PetscInt_FMT ")", lo,
             hi, proc->T);
  proc->focus_first = a;
  proc->focus_count = PetscMax(b - a + 1, 0);
  PetscFunctionReturn(0);
}

/* The exact path-KL (ELBO) weight of the birth rates: the hazard
 * e^{-t} / (1 - e^{-t}) integrated over one interval of the grid. With
 * t = softplus(-g), dt = -(1 - p) dg, so the integrand is p dg = sigmoid(g) dg
 * and the integral over g in (g_k, g_{k-1}) is softplus(g_{k-1}) -
 * softplus(g_k). Unlike e^{-t} it does not vanish at the data end (p -> 1):
 * there it is the grid step in g. (The interval of k = 0 is taken as long
 * in g as the others, (0, t_0] being infinite in this measure.) */
static double elbo_weight(double gprev, double g)
{
  const double sp_prev = gprev > 0 ? gprev + log1p(exp(-gprev)) : log1p(exp(gprev));
  const double sp      = g > 0 ? g + log1p(exp(-g)) : log1p(exp(g));
  return sp_prev - sp;
}

PetscErrorCode BOProcessSetUp(BOProcess proc)
{
  const PetscInt T = proc->T;
  double         L, tprev = 0.0, pprev = 1.0;

  PetscFunctionBegin;
  PetscCheck(T >= 2, proc->comm, PETSC_ERR_ARG_OUTOFRANGE, "-T %" PetscInt_FMT ": need at least 2 observation times",
             T);
  PetscCheck(proc->tEnd > 0.0 && proc->tEnd <= 700.0, proc->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-t_end %g: must be in (0, 700]", (double)proc->tEnd);
  PetscCheck(proc->weight_floor >= 0.0 && proc->weight_floor <= 1.0, proc->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-loss_weight_floor %g: must be in [0, 1]", (double)proc->weight_floor);
  PetscCall(PetscFree3(proc->t, proc->p, proc->w));
  PetscCall(PetscMalloc3(T, &proc->t, T, &proc->p, T, &proc->w));
  L = proc->tEnd + log(-expm1(-proc->tEnd)); /* log(e^tEnd - 1) without overflow */
  for (PetscInt k = 0; k < T; k++) {
    double g = L * (1.0 - 2.0 * (double)k / (double)(T - 1));
    /* t = softplus(-g) = log(1 + e^{-g}); p = sigmoid(g) */
    proc->t[k] = g > 0 ? log1p(exp(-g)) : -g + log1p(exp(g));
    proc->p[k] = g > 0 ? 1.0 / (1.0 + exp(-g)) : exp(g) / (1.0 + exp(g));
    if (proc->weight_type == BO_WEIGHT_INSTANTANEOUS) /* T p_k (t_k - t_{k-1}): Riemann sum / (1/T) */
      proc->w[k] = (double)T * proc->p[k] * (proc->t[k] - tprev);
    else if (proc->weight_type == BO_WEIGHT_FINITE_TIME) /* exact integral of e^{-t} over (t_{k-1}, t_k] */
      proc->w[k] = pprev - proc->p[k];
    else proc->w[k] = (double)T * elbo_weight(g + 2.0 * L / (double)(T - 1), g);
    tprev = proc->t[k];
    pprev = proc->p[k];
  }
  /* The weights span six orders of magnitude: times near both ends would
   * hardly be trained, yet the sampler's first step evaluates the network at
   * the last time. Any positive weights leave the loss's minimiser (the
   * posterior mean) unchanged, so a floor only spreads the training. */
  {
    double wmax = 0;
    for (PetscInt k = 0; k < T; k++) wmax = PetscMax(wmax, proc->w[k]);
    for (PetscInt k = 0; k < T; k++) proc->w[k] = PetscMax(proc->w[k], proc->weight_floor * wmax);
  }
  PetscCall(focus_set_up(proc));
  PetscFunctionReturn(0);
}

PetscErrorCode BOProcessView(BOProcess proc, PetscViewer viewer)
{
  PetscFunctionBegin;
  if (!viewer) PetscCall(PetscViewerASCIIGetStdout(proc->comm, &viewer));
  PetscCall(PetscViewerASCIIPrintf(
      viewer, "Blackout process: T = %" PetscInt_FMT " observation times, t_end = %g, %s loss weights (floor %g)\n",
      proc->T, (double)proc->tEnd, BOWeightTypes[proc->weight_type], (double)proc->weight_floor));
  if (proc->focus_fraction > 0)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "  training times: %g of them uniform among k = %" PetscInt_FMT "..%" PetscInt_FMT
                                     " (p in [%g, %g]), the rest uniform on 0..%" PetscInt_FMT "\n",
                                     (double)proc->focus_fraction, proc->focus_first,
                                     proc->focus_first + proc->focus_count - 1, (double)proc->focus[0],
                                     (double)proc->focus[1], proc->T - 1));
  if (proc->t)
    PetscCall(PetscViewerASCIIPrintf(viewer, "  t_0 = %.4g (p = %.7f), t_%" PetscInt_FMT " = %.4g (p = %.3g)\n",
                                     proc->t[0], proc->p[0], proc->T - 1, proc->t[proc->T - 1], proc->p[proc->T - 1]));
  PetscFunctionReturn(0);
}

PetscErrorCode BOProcessDestroy(BOProcess *proc)
{
  PetscFunctionBegin;
  if (!*proc) PetscFunctionReturn(0);
  PetscCall(PetscFree3((*proc)->t, (*proc)->p, (*proc)->w));
  PetscCall(PetscFree((*proc)->cal));
  PetscCall(PetscFree(*proc));
  PetscFunctionReturn(0);
}

double BOBridgeProbability(double s, double t)
{
  if (s <= 0.0) return 1.0;
  if (s >= t) return 0.0;
  /* (e^{-s} - e^{-t}) / (1 - e^{-t}) = e^{-s} expm1(-(t-s)) / expm1(-t) */
  return exp(-s) * expm1(-(t - s)) / expm1(-t);
}

PetscInt BOProcessNoiseSample(BOProcess proc, uint64_t seed, uint32_t sample, uint32_t step, PetscInt dim,
                              const float *n0, float *nt, float *y)
{
  BORng    rng;
  PetscInt k;

  BORngInit(&rng, seed, BO_RNG_TRAIN_NOISE, sample, step);
  k = (PetscInt)BORngBelow(&rng, (uint32_t)proc->T);
  if (proc->focus_fraction > 0 && BORngUniform(&rng) < proc->focus_fraction) /* no extra draw without a focus */
    k = proc->focus_first + (PetscInt)BORngBelow(&rng, (uint32_t)proc->focus_count);
  BOProcessNoiseAt(proc, &rng, k, dim, n0, nt, y);
  return k;
}

void BOProcessNoiseAt(BOProcess proc, BORng *rng, PetscInt k, PetscInt dim, const float *n0, float *nt, float *y)
{
  for (PetscInt i = 0; i < dim; i++) {
    int64_t n = BORngBinomial(rng, (int64_t)n0[i], proc->p[k]);
    nt[i]     = (float)n;
    y[i]      = n0[i] - (float)n;
  }
}

/* ---- the network's calibration ----------------------------------------- */

double BOProcessCalibration(BOProcess proc, PetscInt k, PetscBool empty)
{
  const PetscInt nb = proc->cal_bins;
  const double  *c  = proc->cal + (empty ? 0 : nb);
  double         x;
  PetscInt       b;

  if (nb == 0) return 1.0;
  /* bin b holds k in [b T / nb, (b + 1) T / nb): its centre is at x = b */
  x = ((double)k + 0.5) * (double)nb / (double)proc->T - 0.5;
  if (x <= 0.0) return c[0];
  if (x >= (double)(nb - 1)) return c[nb - 1];
  b = (PetscInt)x;
  return c[b] + (x - (double)b) * (c[b + 1] - c[b]);
}

PetscErrorCode BOProcessSetCalibration(BOProcess proc, PetscInt nbins, const double *ratios)
{
  PetscFunctionBegin;
  PetscCheck(nbins >= 0 && nbins <= proc->T, proc->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "calibration: %" PetscInt_FMT " bins for T = %" PetscInt_FMT " times", nbins, proc->T);
  for (PetscInt i = 0; i < 2 * nbins; i++)
    PetscCheck(isfinite(ratios[i]) && ratios[i] > 0, proc->comm, PETSC_ERR_ARG_OUTOFRANGE,
               "calibration: ratio %g in bin %" PetscInt_FMT " is not finite and positive", ratios[i], i % nbins);
  PetscCall(PetscFree(proc->cal));
  proc->cal_bins = nbins;
  PetscCall(PetscMalloc1(2 * nbins, &proc->cal));
  PetscCall(PetscArraycpy(proc->cal, ratios, 2 * nbins));
  PetscFunctionReturn(0);
}

double BOSoftplus(double x) { return x > 30.0 ? x : log1p(exp(x)); }

double BOLogSoftplus(double x)
{
  /* softplus(x) = log1p(e^x); for x << 0 it is e^x (1 - e^x/2 + ...), so
   * log softplus(x) = x + log1p(-e^x/2 + ...) ~ x - e^x/2. */
  if (x < -30.0) return x;
  if (x > 30.0) return log(x);
  return log(log1p(exp(x)));
}

double BOPoissonLoss(PetscInt dim, const float *x, const float *y, double w, double scale, float *dx)
{
  double sum = 0.0;
  for (PetscInt i = 0; i < dim; i++) {
    double xi = x[i], yi = y[i];
    double yhat = BOSoftplus(xi);
    /* yhat - y log yhat, minus its minimum over yhat (y - y log y, with
     * 0 log 0 = 0): the Poisson deviance / 2, zero for a perfect guess. The
     * constant leaves the gradient alone. */
    sum += yhat - yi * BOLogSoftplus(xi) - (yi > 0 ? yi - yi * log(yi) : 0.0);
    if (dx) {
      double sig = 1.0 / (1.0 + exp(-xi));
      /* sigmoid(x)/softplus(x) -> 1 as x -> -inf; use the limit where
       * softplus underflows */
      double ratio = xi < -30.0 ? 1.0 : sig / yhat;
      dx[i]        = (float)(scale * w * (sig - yi * ratio));
    }
  }
  return w * sum;
}

double BOEnergyLoss(PetscInt M, PetscInt dim, const float *x, const float *y, double w, double lambda, double scale,
                    float *dx, float *work)
{
  float *xh = work; /* the samples */
  double es = 0.0, pois = 0.0;

  for (PetscInt i = 0; i < M * dim; i++) xh[i] = (float)BOSoftplus(x[i]);
  if (dx)
    for (PetscInt i = 0; i < M * dim; i++) dx[i] = 0.0f;
  /* dES/dxhat_j = (xhat_j - y)/(M dim |xhat_j - y|) - sum_{l != j} (xhat_j - xhat_l)/(M (M-1) dim |xhat_j - xhat_l|) */
  for (PetscInt j = 0; j < M; j++) {
    const float *a  = xh + j * dim;
    double       s2 = 0.0, nrm, c;
    for (PetscInt i = 0; i < dim; i++) s2 += ((double)a[i] - y[i]) * ((double)a[i] - y[i]);
    nrm = sqrt(s2 / (double)dim + 1e-12);
    es += nrm / (double)M;
    if (!dx) continue;
    c = 1.0 / ((double)M * nrm); /* d(dim ES) = c (xhat_j - y) */
    for (PetscInt i = 0; i < dim; i++) dx[j * dim + i] += (float)(c * ((double)a[i] - y[i]));
  }
  for (PetscInt j = 0; j < M; j++)
    for (PetscInt l = j + 1; l < M; l++) {
      const float *a = xh + j * dim, *b = xh + l * dim;
      double       s2 = 0.0, nrm, c;
      for (PetscInt i = 0; i < dim; i++) s2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
      nrm = sqrt(s2 / (double)dim + 1e-12);
      es -= nrm / ((double)M * (double)(M - 1));
      if (!dx) continue;
      c = 1.0 / ((double)M * (double)(M - 1) * nrm);
      for (PetscInt i = 0; i < dim; i++) {
        float d = (float)(c * ((double)a[i] - b[i]));
        dx[j * dim + i] -= d, dx[l * dim + i] += d;
      }
    }
  /* the Poisson loss of the mean: log mbar by log-sum-exp of log softplus */
  for (PetscInt i = 0; i < dim; i++) {
    double lmax = -INFINITY, acc = 0.0, lm, mbar, yi = y[i];
    for (PetscInt j = 0; j < M; j++) lmax = fmax(lmax, BOLogSoftplus(x[j * dim + i]));
    for (PetscInt j = 0; j < M; j++) acc += exp(BOLogSoftplus(x[j * dim + i]) - lmax);
    lm   = lmax + log(acc / (double)M);
    mbar = exp(lm);
    pois += mbar - yi * lm - (yi > 0 ? yi - yi * log(yi) : 0.0);
    if (!dx) continue;
    /* d/dx_j = lambda (1 - y/mbar) sigmoid(x_j) / M */
    double g = lambda * (1.0 - (yi > 0 ? exp(log(yi) - lm) : 0.0)) / (double)M;
    for (PetscInt j = 0; j < M; j++) dx[j * dim + i] += (float)g;
  }
  if (dx)
    for (PetscInt j = 0; j < M; j++)
      for (PetscInt i = 0; i < dim; i++) {
        double xi = x[j * dim + i], sig = 1.0 / (1.0 + exp(-xi));
        dx[j * dim + i] = (float)(scale * w * sig * dx[j * dim + i]);
      }
  return w * ((double)dim * es + lambda * pois);
}

/* ---- configuration in files and over ranks --------------------------------- */

PetscErrorCode BOProcessSave(BOProcess proc, hid_t obj)
{
  PetscFunctionBegin;
  PetscCall(BOH5WriteAttrInt(obj, "T", proc->T));
  PetscCall(BOH5WriteAttrReal(obj, "t_end", proc->tEnd));
  PetscCall(BOH5WriteAttrString(obj, "loss_weight", BOWeightTypes[proc->weight_type]));
  PetscCall(BOH5WriteAttrReal(obj, "loss_weight_floor", proc->weight_floor));
  PetscCall(BOH5WriteAttrReal(obj, "train_time_focus_lo", proc->focus[0]));
  PetscCall(BOH5WriteAttrReal(obj, "train_time_focus_hi", proc->focus[1]));
  PetscCall(BOH5WriteAttrReal(obj, "train_time_focus_fraction", proc->focus_fraction));
  if (proc->cal_bins > 0)
    PetscCall(
        BOH5WriteAttr(obj, "calibration", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, (hsize_t)(2 * proc->cal_bins), proc->cal));
  PetscFunctionReturn(0);
}

PetscErrorCode BOProcessLoad(BOProcess proc, hid_t obj)
{
  int64_t T;
  char    weight[32];

  PetscFunctionBegin;
  PetscCall(BOH5ReadAttrInt(obj, "T", &T));
  proc->T = (PetscInt)T;
  PetscCall(BOH5ReadAttrReal(obj, "t_end", &proc->tEnd));
  PetscCall(BOH5ReadAttrString(obj, "loss_weight", weight, sizeof(weight)));
  proc->weight_type = BO_WEIGHT_INSTANTANEOUS; /* (what every checkpoint without a known name trained with) */
  for (int i = 0; i <= BO_WEIGHT_ELBO; i++)
    if (!strcmp(weight, BOWeightTypes[i])) proc->weight_type = (BOWeightType)i;
  PetscCall(BOH5ReadAttrReal(obj, "loss_weight_floor", &proc->weight_floor));
  if (BOH5HasAttr(obj, "train_time_focus_fraction")) { /* absent in older checkpoints: no focus */
    PetscCall(BOH5ReadAttrReal(obj, "train_time_focus_lo", &proc->focus[0]));
    PetscCall(BOH5ReadAttrReal(obj, "train_time_focus_hi", &proc->focus[1]));
    PetscCall(BOH5ReadAttrReal(obj, "train_time_focus_fraction", &proc->focus_fraction));
  } else proc->focus_fraction = 0.0;
  PetscCall(PetscFree(proc->cal));
  proc->cal_bins = 0;
  if (BOH5HasAttr(obj, "calibration")) { /* absent in older or uncalibrated checkpoints */
    hsize_t n;
    PetscCall(BOH5AttrSize(obj, "calibration", &n));
    PetscCheck(n >= 2 && n % 2 == 0 && n <= 2 * (hsize_t)proc->T, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
               "attribute 'calibration' has %llu values: need an even number up to 2 T", (unsigned long long)n);
    PetscCall(PetscMalloc1(n, &proc->cal));
    PetscCall(BOH5ReadAttrReals(obj, "calibration", n, proc->cal));
    proc->cal_bins = (PetscInt)(n / 2);
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOProcessBcast(BOProcess proc, PetscMPIInt root, MPI_Comm comm)
{
  PetscFunctionBegin;
  PetscCallMPI(MPI_Bcast(&proc->T, 1, MPIU_INT, root, comm));
  PetscCallMPI(MPI_Bcast(&proc->tEnd, 1, MPIU_REAL, root, comm));
  PetscCallMPI(MPI_Bcast(&proc->weight_type, 1, MPI_INT, root, comm));
  PetscCallMPI(MPI_Bcast(&proc->weight_floor, 1, MPIU_REAL, root, comm));
  PetscCallMPI(MPI_Bcast(proc->focus, 2, MPIU_REAL, root, comm));
  PetscCallMPI(MPI_Bcast(&proc->focus_fraction, 1, MPIU_REAL, root, comm));
  PetscCallMPI(MPI_Bcast(&proc->cal_bins, 1, MPIU_INT, root, comm));
  if (proc->cal_bins > 0) {
    PetscMPIInt rank;
    PetscCallMPI(MPI_Comm_rank(comm, &rank));
    if (rank != root) {
      PetscCall(PetscFree(proc->cal));
      PetscCall(PetscMalloc1(2 * proc->cal_bins, &proc->cal));
    }
    PetscCallMPI(MPI_Bcast(proc->cal, (PetscMPIInt)(2 * proc->cal_bins), MPI_DOUBLE, root, comm));
  }
  PetscFunctionReturn(0);
}
