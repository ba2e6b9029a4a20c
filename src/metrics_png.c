/* Pictures of a fidelity report: line plots rasterised onto an RGB buffer
 * (libpng), and mean/variance fields and member montages through bo_png. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "bo_metrics.h"
#include "bo_png.h"

/* Curve colours: real black, generated red, straw man blue. */
static const unsigned char colours[3][3] = {{0, 0, 0}, {214, 39, 40}, {31, 119, 180}};

/* One panel at (px, py) of size pw x ph: a frame, ticks at each decade of
 * a log y axis, and ncurve curves of n points (x = index + x0, log x if
 * logx), y on a log scale over the positive values of all curves. */
static void Panel(BOImage *c, int px, int py, int pw, int ph, int ncurve, PetscInt n, const double *const *y, double x0, PetscBool logx)
{
  static const unsigned char grey[3] = {160, 160, 160}, black[3] = {0, 0, 0};
  double lo = PETSC_INFINITY, hi = 0, xl = logx ? log10(x0) : x0, xh = logx ? log10(x0 + n - 1) : x0 + n - 1;
  for (int k = 0; k < ncurve; k++)
    for (PetscInt i = 0; i < n; i++)
      if (y[k][i] > 0) lo = PetscMin(lo, y[k][i]), hi = PetscMax(hi, y[k][i]);
  BOImageLine(c, px, py, px + pw, py, black), BOImageLine(c, px, py + ph, px + pw, py + ph, black);
  BOImageLine(c, px, py, px, py + ph, black), BOImageLine(c, px + pw, py, px + pw, py + ph, black);
  if (!(hi > 0) || n < 2) return;
  lo = log10(lo), hi = log10(hi);
  if (hi - lo < 1e-6) lo -= 0.5, hi += 0.5;
  for (int d = (int)ceil(lo); d <= (int)floor(hi); d++) { /* decade ticks, labelled 1eD */
    int  yy = py + ph - (int)((d - lo) / (hi - lo) * ph);
    char lab[16];
    BOImageLine(c, px - 4, yy, px, yy, black);
    for (int x = px + 2; x < px + pw; x += 6) BOImagePut(c, x, yy, grey);
    snprintf(lab, sizeof(lab), "1e%d", d);
    BOImageText(c, px - 6 - BOImageTextWidth(lab), yy - BO_TEXT_HEIGHT / 2, lab, black);
  }
  { /* the x range at the bottom corners */
    char lab[16];
    snprintf(lab, sizeof(lab), "%g", x0);
    BOImageText(c, px, py + ph + 6, lab, black);
    snprintf(lab, sizeof(lab), "%g", x0 + n - 1);
    BOImageText(c, px + pw + 1 - BOImageTextWidth(lab), py + ph + 6, lab, black);
  }
  if (xh <= xl) xh = xl + 1;
  for (int k = 0; k < ncurve; k++) {
    int have = 0, lx = 0, ly = 0;
    for (PetscInt i = 0; i < n; i++) {
      double xv = logx ? log10(x0 + i) : x0 + i;
      int    xx, yy;
      if (!(y[k][i] > 0)) { have = 0; continue; }
      xx = px + (int)((xv - xl) / (xh - xl) * pw), yy = py + ph - (int)((log10(y[k][i]) - lo) / (hi - lo) * ph);
      if (have) BOImageLine(c, lx, ly, xx, yy, colours[k]);
      have = 1, lx = xx, ly = yy;
    }
  }
}

static PetscErrorCode Spectra(BOMetrics m, const BOMetricsReport *rep, const char *path)
{
  BOImage       c;
  const double *psd[3] = {rep->real->psd, rep->fake->psd, rep->straw->psd}, *s2[3] = {rep->real->tpcf, rep->fake->tpcf, rep->straw->tpcf};

  PetscFunctionBegin;
  PetscCall(BOImageCreate(720, 310, &c));
  Panel(&c, 48, 12, 300, 270, 3, m->nk, psd, 1, PETSC_TRUE);
  Panel(&c, 408, 12, 300, 270, 3, m->nr, s2, 0, PETSC_FALSE);
  PetscCall(BOImageWrite(&c, path, NULL,
                        "left: radially averaged power spectrum P(k) vs k = 1..min(Ny,Nx)/2 (log-log); right: two-point function "
                        "S2(r) vs r = 0..min(Ny,Nx)/2 cells (log y); black real, red generated, blue independent-marginals "
                        "baseline; y ticks labelled at decades, the x range at the bottom corners"));
  PetscCall(BOImageDestroy(&c));
  PetscFunctionReturn(0);
}

/* Histogram of all cell values pooled over cells, as a fraction per bin. */
static PetscErrorCode Marginals(BOMetrics m, const BOMetricsReport *rep, const char *path)
{
  BOImage    c;
  double    *h, *curves[3];
  BOSetStats st[3] = {rep->real, rep->fake, rep->straw};
  char       comment[256];

  PetscFunctionBegin;
  PetscCall(PetscCalloc1(3 * m->nbins, &h));
  for (int k = 0; k < 3; k++) {
    curves[k] = h + k * m->nbins;
    for (PetscInt e = 0; e < m->D; e++)
      for (PetscInt b = 0; b < m->nbins; b++) curves[k][b] += st[k]->hist[(size_t)e * m->nbins + b] / ((double)st[k]->N * m->D);
  }
  PetscCall(BOImageCreate(480, 310, &c));
  Panel(&c, 48, 12, 420, 270, 3, m->nbins, (const double *const *)curves, 0, PETSC_FALSE);
  snprintf(comment, sizeof(comment),
           "fraction of cells with each count (bins of %d from 0 to %d, log y; x axis: bin index), pooled over cells; black "
           "real, red generated, blue independent-marginals baseline",
           (int)m->bin_width, (int)m->max_count);
  PetscCall(BOImageWrite(&c, path, NULL, comment));
  PetscCall(PetscFree(h));
  PetscCall(BOImageDestroy(&c));
  PetscFunctionReturn(0);
}

/* Real mean, generated mean, real variance, generated variance (component
 * 0), each pair scaled by its own maximum so one colour bar 0..1 fits all. */
static PetscErrorCode MeanVar(BOMetrics m, const BOMetricsReport *rep, const char *path)
{
  PetscInt   n = m->is_field ? m->Ny * m->Nx : m->G, C = m->is_field ? m->C : 1;
  float     *t;
  BOSetStats st[2] = {rep->real, rep->fake};
  double     mx[2] = {0, 0};

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(4 * n, &t));
  for (int k = 0; k < 2; k++)
    for (PetscInt i = 0; i < n; i++) {
      double N = st[k]->N, mean = st[k]->sum[i * C] / N;
      double var = N > 1 ? PetscMax(0.0, (st[k]->sumsq[i * C] - N * mean * mean) / (N - 1)) : 0;
      t[k * n + i] = (float)mean, t[(2 + k) * n + i] = (float)var;
      mx[0] = PetscMax(mx[0], mean), mx[1] = PetscMax(mx[1], var);
    }
  for (int k = 0; k < 4; k++)
    for (PetscInt i = 0; i < n; i++) t[k * n + i] = (float)(t[k * n + i] / (mx[k / 2] > 0 ? mx[k / 2] : 1));
  if (m->is_field)
    PetscCall(BOPNGWriteFields(path, 4, m->Ny, m->Nx, 1, t, 1,
                               &(BOPNGLabels){"mean and variance per cell",
                                              "top row: mean, bottom row: variance; left: real, right: generated; each row "
                                              "divided by its maximum",
                                              "value / maximum"}));
  else
    PetscCall(BOPNGWriteHeatmap(path, 4, m->G, t, 1,
                                &(BOPNGLabels){"mean and variance per feature",
                                               "rows: mean of real, mean of generated, variance of real, variance of "
                                               "generated, each pair divided by its maximum; columns: features",
                                               "value / maximum (log scale)"}));
  PetscCall(PetscFree(t));
  PetscFunctionReturn(0);
}

PetscErrorCode BOMetricsWritePlots(BOMetrics m, const BOMetricsReport *rep, const char *prefix)
{
  char     path[PETSC_MAX_PATH_LEN + 32];
  PetscInt err = 0;

  PetscFunctionBegin;
  if (m->rank == 0) { /* errors are shared below so that all ranks fail alike */
    PetscPushErrorHandler(PetscReturnErrorHandler, NULL);
    snprintf(path, sizeof(path), "%s_spectra.png", prefix);
    if (m->is_field && m->nk >= 2) err = err || Spectra(m, rep, path);
    snprintf(path, sizeof(path), "%s_marginals.png", prefix);
    err = err || Marginals(m, rep, path);
    snprintf(path, sizeof(path), "%s_meanvar.png", prefix);
    err = err || MeanVar(m, rep, path);
    PetscPopErrorHandler();
  }
  PetscCallMPI(MPI_Bcast(&err, 1, MPIU_INT, 0, m->comm));
  PetscCheck(!err, m->comm, PETSC_ERR_FILE_WRITE, "cannot write the plots %s_*.png", prefix);
  PetscFunctionReturn(0);
}

/* The first k members of a distributed set, on rank 0 (rows in order). */
static PetscErrorCode GatherFirst(BOMetrics m, BOSet s, PetscInt k, float *out, PetscInt *got)
{
  PetscInt     off = 0, mine;
  PetscMPIInt *cnt = NULL, *dsp = NULL, n;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Exscan(&s.nlocal, &off, 1, MPIU_INT, MPI_SUM, m->comm));
  if (m->rank == 0) off = 0;
  mine = PetscMax(0, PetscMin(s.nlocal, k - off)), n = (PetscMPIInt)(mine * m->D);
  PetscCall(PetscMalloc2(m->size, &cnt, m->size, &dsp));
  PetscCallMPI(MPI_Gather(&n, 1, MPI_INT, cnt, 1, MPI_INT, 0, m->comm));
  if (m->rank == 0)
    for (PetscMPIInt r = 0; r < m->size; r++) dsp[r] = r ? dsp[r - 1] + cnt[r - 1] : 0;
  PetscCallMPI(MPI_Gatherv(s.x, n, MPI_FLOAT, out, cnt, dsp, MPI_FLOAT, 0, m->comm));
  PetscCallMPI(MPI_Reduce(&mine, got, 1, MPIU_INT, MPI_SUM, 0, m->comm));
  PetscCall(PetscFree2(cnt, dsp));
  PetscFunctionReturn(0);
}

/* Fields: up to 8 real members (top rows) then up to 8 generated (bottom
 * rows), one colour scale. Vectors: up to 32 rows of each. */
PetscErrorCode BOMetricsWriteMontage(BOMetrics m, BOSet real, BOSet fake, const char *prefix)
{
  PetscInt k = m->is_field ? 8 : 32, nr = 0, nf = 0, err = 0;
  float   *x;
  char     path[PETSC_MAX_PATH_LEN + 32], caption[128];

  PetscFunctionBegin;
  PetscCall(PetscMalloc1((size_t)2 * k * m->D, &x));
  PetscCall(GatherFirst(m, real, k, x, &nr));
  PetscCall(GatherFirst(m, fake, k, x + (size_t)k * m->D, &nf));
  if (m->rank == 0) {
    snprintf(path, sizeof(path), "%s_montage.png", prefix);
    if (nr < k) PetscCall(PetscArraymove(x + (size_t)nr * m->D, x + (size_t)k * m->D, (size_t)nf * m->D));
    PetscPushErrorHandler(PetscReturnErrorHandler, NULL);
    if (m->is_field) {
      snprintf(caption, sizeof(caption), "%d real members, then %d generated, left to right and top to bottom", (int)nr, (int)nf);
      err = BOPNGWriteFields(path, nr + nf, m->Ny, m->Nx, m->C, x, -1, &(BOPNGLabels){"real and generated members", caption, "count"});
    } else {
      snprintf(caption, sizeof(caption), "rows: %d real members, then %d generated; columns: features", (int)nr, (int)nf);
      err = BOPNGWriteHeatmap(path, nr + nf, m->G, x, -1, &(BOPNGLabels){"real and generated members", caption, "count (log scale)"});
    }
    PetscPopErrorHandler();
  }
  PetscCallMPI(MPI_Bcast(&err, 1, MPIU_INT, 0, m->comm));
  PetscCheck(!err, m->comm, PETSC_ERR_FILE_WRITE, "cannot write %s_montage.png", prefix);
  PetscCall(PetscFree(x));
  PetscFunctionReturn(0);
}
