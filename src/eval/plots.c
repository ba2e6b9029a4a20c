/* Pictures of a fidelity report: line plots rasterised onto an RGB buffer
 * (libpng), and mean/variance fields and member montages through bo_png. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "bo_metrics.h"
#include "bo_png.h"
#include "bo_sys.h"

/* Curve colours: real black, generated red, straw man blue. */
static const unsigned char colours[3][3]  = {{0, 0, 0}, {214, 39, 40}, {31, 119, 180}};
static const char *const   curve_names[3] = {"real", "generated", "baseline (independent marginals)"};
static const unsigned char black[3] = {0, 0, 0}, grey[3] = {160, 160, 160};

/* Layout of a plot: frames from y = frame_top, their left edges at least
 * frame_left from the image's (room for the y tick labels); above a frame its
 * title, then its y axis title; below it the x range, then the x axis title;
 * the legend under all. */
static const int frame_top = 60, frame_left = 72, frame_right = 20, below_frame = 58;

typedef struct {
  int         x, y, w, h; /* frame: top left corner and size */
  const char *title, *xtitle, *ytitle;
} PanelBox;

static void panel_titles(BOImage *c, const PanelBox *b)
{
  for (int dx = 0; dx < 2; dx++) /* bold: twice, a pixel apart */
    BOImageText(c, b->x + (b->w - BOImageTextWidth(b->title)) / 2 + dx, b->y - 52, b->title, black);
  BOImageText(c, b->x, b->y - 26, b->ytitle, black);
  BOImageText(c, b->x + (b->w - BOImageTextWidth(b->xtitle)) / 2, b->y + b->h + 6 + BO_TEXT_LINE, b->xtitle, black);
}

/* Ticks on a log y axis from 10^lo to 10^hi, labelled MeD (M x 10^D): at
 * each decade (M = 1), and where labels stay 20 pixels apart also at M = 2
 * and 5, or at every M = 1..9 (the first 1, 3 or 9 mantissas); grey dotted
 * lines across. */
static void y_ticks(BOImage *c, const PanelBox *b, double lo, double hi)
{
  static const int mantissa[9] = {1, 2, 5, 3, 4, 6, 7, 8, 9};
  double           per_decade  = b->h / (hi - lo); /* pixels */
  int              nm          = log10(10 / 9.) * per_decade >= 20 ? 9 : log10(2.) * per_decade >= 20 ? 3 : 1;
  for (int d = (int)floor(lo); d <= (int)ceil(hi); d++)
    for (int j = 0; j < nm; j++) {
      double v  = d + log10(mantissa[j]);
      int    yy = b->y + b->h - (int)((v - lo) / (hi - lo) * b->h);
      char   lab[16];
      if (v < lo || v > hi) continue;
      BOImageLine(c, b->x - 4, yy, b->x, yy, black);
      for (int x = b->x + 2; x < b->x + b->w; x += 6) BOImagePut(c, x, yy, grey);
      snprintf(lab, sizeof(lab), "%de%d", mantissa[j], d);
      BOImageText(c, b->x - 6 - BOImageTextWidth(lab), yy - BO_TEXT_HEIGHT / 2, lab, black);
    }
}

/* One panel: a frame, its titles, y ticks, the x range at the bottom
 * corners, and ncurve curves of n points (x = index + x0, log x if logx), y
 * on a log scale over the positive values of all curves. */
static void draw_panel(BOImage *c, const PanelBox *b, int ncurve, PetscInt n, const double *const *y, double x0,
                       PetscBool logx)
{
  const int px = b->x, py = b->y, pw = b->w, ph = b->h;
  double    lo = PETSC_INFINITY, hi = 0, xl = logx ? log10(x0) : x0, xh = logx ? log10(x0 + n - 1) : x0 + n - 1;
  char      lab[16];
  for (int k = 0; k < ncurve; k++)
    for (PetscInt i = 0; i < n; i++)
      if (y[k][i] > 0) lo = PetscMin(lo, y[k][i]), hi = PetscMax(hi, y[k][i]);
  BOImageLine(c, px, py, px + pw, py, black), BOImageLine(c, px, py + ph, px + pw, py + ph, black);
  BOImageLine(c, px, py, px, py + ph, black), BOImageLine(c, px + pw, py, px + pw, py + ph, black);
  panel_titles(c, b);
  if (!(hi > 0) || n < 2) return;
  lo = log10(lo), hi = log10(hi);
  if (hi - lo < 1e-6) lo -= 0.5, hi += 0.5;
  y_ticks(c, b, lo, hi);
  snprintf(lab, sizeof(lab), "%g", x0);
  BOImageText(c, px, py + ph + 6, lab, black);
  snprintf(lab, sizeof(lab), "%g", x0 + n - 1);
  BOImageText(c, px + pw + 1 - BOImageTextWidth(lab), py + ph + 6, lab, black);
  if (xh <= xl) xh = xl + 1;
  for (int k = 0; k < ncurve; k++) {
    int have = 0, lx = 0, ly = 0;
    for (PetscInt i = 0; i < n; i++) {
      double xv = logx ? log10(x0 + i) : x0 + i;
      int    xx, yy;
      if (!(y[k][i] > 0)) {
        have = 0;
        continue;
      }
      xx = px + (int)((xv - xl) / (xh - xl) * pw), yy = py + ph - (int)((log10(y[k][i]) - lo) / (hi - lo) * ph);
      if (have) BOImageLine(c, lx, ly, xx, yy, colours[k]);
      have = 1, lx = xx, ly = yy;
    }
  }
}

/* The legend of the three curves at (x, y): a short thick line in each
 * colour, then the name; entries left to right, a new line when the next
 * does not fit in the width w. Returns the number of lines (c NULL: only
 * counts them). */
static int draw_legend(BOImage *c, int x, int y, int w)
{
  int cx = x, lines = 1;
  for (int k = 0; k < 3; k++) {
    int width = 30 + BOImageTextWidth(curve_names[k]), yy;
    if (cx > x && cx + width > x + w) cx = x, lines++;
    yy = y + (lines - 1) * BO_TEXT_LINE + BO_TEXT_HEIGHT / 2 - 2;
    if (c) {
      BOImageLine(c, cx, yy, cx + 22, yy, colours[k]), BOImageLine(c, cx, yy + 2, cx + 22, yy + 2, colours[k]);
      BOImageText(c, cx + 30, y + (lines - 1) * BO_TEXT_LINE, curve_names[k], black);
    }
    cx += width + 24;
  }
  return lines;
}

/* A white image W wide for frames ph high, with the legend drawn. */
static PetscErrorCode plot_image(int W, int ph, BOImage *c)
{
  int y = frame_top + ph + below_frame, w = W - frame_left - frame_right;

  PetscFunctionBegin;
  PetscCall(BOImageCreate(W, y + draw_legend(NULL, frame_left, y, w) * BO_TEXT_LINE + 8, c));
  draw_legend(c, frame_left, y, w);
  PetscFunctionReturn(0);
}

static PetscErrorCode plot_spectra(BOMetrics m, const BOMetricsReport *rep, const char *path)
{
  const int     pw = 320, ph = 260, gap = 88;
  BOImage       c;
  const double *psd[3] = {rep->real->psd, rep->fake->psd, rep->straw->psd},
               *s2[3]  = {rep->real->tpcf, rep->fake->tpcf, rep->straw->tpcf};

  PetscFunctionBegin;
  PetscCall(plot_image(frame_left + 2 * pw + gap + frame_right, ph, &c));
  draw_panel(&c, &(PanelBox){frame_left, frame_top, pw, ph, "radial power spectrum", "wavenumber k", "power P(k)"}, 3,
             m->nk, psd, 1, PETSC_TRUE);
  draw_panel(&c,
             &(PanelBox){frame_left + pw + gap, frame_top, pw, ph, "two-point function", "distance r (cells)", "S2(r)"},
             3, m->nr, s2, 0, PETSC_FALSE);
  PetscCall(BOImageWrite(
      &c, path, "power spectrum and two-point function",
      "left: radially averaged power spectrum P(k) vs k = 1..min(Ny,Nx)/2 (log-log; 3-D fields: spherical shells); "
      "right: two-point function S2(r) vs r = 0..min(Ny,Nx)/2 cells (log y; 3-D fields: 3-D distances); black real, "
      "red generated, blue independent-marginals "
      "baseline; y ticks labelled MeD at decades (and at 2 and 5 or every multiple when the range is short), the x "
      "range at the bottom corners"));
  PetscCall(BOImageDestroy(&c));
  PetscFunctionReturn(0);
}

/* Histogram of all cell values pooled over cells, as a fraction per bin. */
static PetscErrorCode plot_marginals(BOMetrics m, const BOMetricsReport *rep, const char *path)
{
  const int  pw = 460, ph = 260;
  BOImage    c;
  double    *h, *curves[3];
  BOSetStats st[3] = {rep->real, rep->fake, rep->straw};
  char       comment[256], xtitle[64];

  PetscFunctionBegin;
  PetscCall(PetscCalloc1(3 * m->nbins, &h));
  for (int k = 0; k < 3; k++) {
    curves[k] = h + k * m->nbins;
    for (PetscInt e = 0; e < m->D; e++)
      for (PetscInt b = 0; b < m->nbins; b++)
        curves[k][b] += st[k]->hist[(size_t)e * m->nbins + b] / ((double)st[k]->N * m->D);
  }
  if (m->bin_width > 1) snprintf(xtitle, sizeof(xtitle), "count bin (width %d)", (int)m->bin_width);
  else snprintf(xtitle, sizeof(xtitle), "count");
  PetscCall(plot_image(frame_left + pw + frame_right, ph, &c));
  draw_panel(&c, &(PanelBox){frame_left, frame_top, pw, ph, "distribution of cell counts", xtitle, "fraction of cells"},
             3, m->nbins, (const double *const *)curves, 0, PETSC_FALSE);
  snprintf(
      comment, sizeof(comment),
      "fraction of cells with each count (bins of %d from 0 to %d, log y; x axis: bin index), pooled over cells; black "
      "real, red generated, blue independent-marginals baseline",
      (int)m->bin_width, (int)m->max_count);
  PetscCall(BOImageWrite(&c, path, "distribution of cell counts", comment));
  PetscCall(PetscFree(h));
  PetscCall(BOImageDestroy(&c));
  PetscFunctionReturn(0);
}

/* 3-D: tile k of the mean/variance picture from the 4 full fields t (D / C
 * cells each): rows 0..Ny-1 the z = Nz/2 slice, row Ny a separator (0),
 * rows Ny+1..Ny+Nz the y = Ny/2 x-z section (row Ny+1+z). */
static void mid_sections(BOMetrics m, const float *t, float *tiles)
{
  PetscInt Nz = m->Nz, Ny = m->Ny, Nx = m->Nx, n = Nz * Ny * Nx, th = Ny + 1 + Nz;
  for (int k = 0; k < 4; k++) {
    const float *v    = t + k * n;
    float       *tile = tiles + (size_t)k * th * Nx;
    for (PetscInt j = 0; j < Ny; j++)
      for (PetscInt i = 0; i < Nx; i++) tile[j * Nx + i] = v[((Nz / 2) * Ny + j) * Nx + i];
    for (PetscInt i = 0; i < Nx; i++) tile[Ny * Nx + i] = 0;
    for (PetscInt z = 0; z < Nz; z++)
      for (PetscInt i = 0; i < Nx; i++) tile[(Ny + 1 + z) * Nx + i] = v[(z * Ny + Ny / 2) * Nx + i];
  }
}

static PetscErrorCode write_mean_var(BOMetrics m, const char *path, const float *t)
{
  const char *top =
      "top row: mean, bottom row: variance; left: real, right: generated; each row divided by its maximum";
  char   caption[512];
  float *tiles;

  PetscFunctionBegin;
  if (!m->is_field) {
    PetscCall(BOPNGWriteHeatmap(path, 4, m->G, t, 1,
                                &(BOPNGLabels){"mean and variance per feature",
                                               "rows: mean of real, mean of generated, variance of real, variance of "
                                               "generated, each pair divided by its maximum; columns: features",
                                               "value / maximum (log scale)", PETSC_FALSE}));
    PetscFunctionReturn(0);
  }
  if (!m->is_3d) {
    PetscCall(BOPNGWriteFields(path, 4, m->Ny, m->Nx, 1, t, 1,
                               &(BOPNGLabels){"mean and variance per cell", top, "value / maximum", m->top_down}));
    PetscFunctionReturn(0);
  }
  if (m->top_down)
    snprintf(caption, sizeof(caption),
             "%s. Each tile: the z = %d slice (Ny x Nx, y down) on top, a dark line, the y = %d x-z section (Nz x "
             "Nx, z down) below",
             top, (int)(m->Nz / 2), (int)(m->Ny / 2));
  else
    snprintf(caption, sizeof(caption),
             "%s. Each tile: the y = %d x-z section (Nz x Nx, z up) on top, a dark line, the z = %d slice (Ny x Nx, "
             "y up) below",
             top, (int)(m->Ny / 2), (int)(m->Nz / 2));
  PetscCall(PetscMalloc1((size_t)4 * (m->Ny + 1 + m->Nz) * m->Nx, &tiles));
  mid_sections(m, t, tiles);
  PetscCall(BOPNGWriteFields(
      path, 4, m->Ny + 1 + m->Nz, m->Nx, 1, tiles, 1,
      &(BOPNGLabels){"mean and variance per cell (3-D: mid-slices)", caption, "value / maximum", m->top_down}));
  PetscCall(PetscFree(tiles));
  PetscFunctionReturn(0);
}

/* Real mean, generated mean, real variance, generated variance (component
 * 0), each pair scaled by its own maximum so one colour bar 0..1 fits all. */
static PetscErrorCode plot_mean_var(BOMetrics m, const BOMetricsReport *rep, const char *path)
{
  PetscInt   n = m->is_field ? m->Nz * m->Ny * m->Nx : m->G, C = m->is_field ? m->C : 1;
  float     *t;
  BOSetStats st[2] = {rep->real, rep->fake};
  double     mx[2] = {0, 0};

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(4 * n, &t));
  for (int k = 0; k < 2; k++)
    for (PetscInt i = 0; i < n; i++) {
      double N = st[k]->N, mean = st[k]->sum[i * C] / N;
      double var   = N > 1 ? PetscMax(0.0, (st[k]->sumsq[i * C] - N * mean * mean) / (N - 1)) : 0;
      t[k * n + i] = (float)mean, t[(2 + k) * n + i] = (float)var;
      mx[0] = PetscMax(mx[0], mean), mx[1] = PetscMax(mx[1], var);
    }
  for (int k = 0; k < 4; k++)
    for (PetscInt i = 0; i < n; i++) t[k * n + i] = (float)(t[k * n + i] / (mx[k / 2] > 0 ? mx[k / 2] : 1));
  PetscCall(write_mean_var(m, path, t));
  PetscCall(PetscFree(t));
  PetscFunctionReturn(0);
}

const char *const BOMetricsPictures[BO_NUM_PICS] = {"spectra.png", "marginals.png", "meanvar.png", "montage.png"};

PetscErrorCode BOMetricsWritePlots(BOMetrics m, const BOMetricsReport *rep, const char *prefix)
{
  char     path[PETSC_MAX_PATH_LEN + 32];
  PetscInt err = 0;

  PetscFunctionBegin;
  if (m->rank == 0) { /* errors are shared below so that all ranks fail alike */
    PetscPushErrorHandler(PetscReturnErrorHandler, NULL);
    BOPrefixedPath(prefix, BOMetricsPictures[BO_PIC_SPECTRA], path, sizeof(path));
    if (m->is_field && m->nk >= 2) err = err || plot_spectra(m, rep, path);
    BOPrefixedPath(prefix, BOMetricsPictures[BO_PIC_MARGINALS], path, sizeof(path));
    err = err || plot_marginals(m, rep, path);
    BOPrefixedPath(prefix, BOMetricsPictures[BO_PIC_MEANVAR], path, sizeof(path));
    err = err || plot_mean_var(m, rep, path);
    PetscPopErrorHandler();
  }
  PetscCallMPI(MPI_Bcast(&err, 1, MPIU_INT, 0, m->comm));
  PetscCheck(!err, m->comm, PETSC_ERR_FILE_WRITE, "cannot write the plots %s_*.png", prefix);
  PetscFunctionReturn(0);
}

/* The first k members of a distributed set, on rank 0 (rows in order). */
static PetscErrorCode gather_first(BOMetrics m, BOSet s, PetscInt k, float *out, PetscInt *got)
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
 * rows), one colour scale; 3-D fields: a row of z-slices for each of up to
 * 4 real then 4 generated members. Vectors: up to 32 rows of each. */
PetscErrorCode BOMetricsWriteMontage(BOMetrics m, BOSet real, BOSet fake, const char *prefix)
{
  PetscInt k = m->is_3d ? 4 : m->is_field ? 8 : 32, nr = 0, nf = 0, err = 0;
  float   *x;
  char     path[PETSC_MAX_PATH_LEN + 32], caption[128];

  PetscFunctionBegin;
  PetscCall(PetscMalloc1((size_t)2 * k * m->D, &x));
  PetscCall(gather_first(m, real, k, x, &nr));
  PetscCall(gather_first(m, fake, k, x + (size_t)k * m->D, &nf));
  BOPrefixedPath(prefix, BOMetricsPictures[BO_PIC_MONTAGE], path, sizeof(path));
  if (m->rank == 0) {
    if (nr < k) PetscCall(PetscArraymove(x + (size_t)nr * m->D, x + (size_t)k * m->D, (size_t)nf * m->D));
    PetscPushErrorHandler(PetscReturnErrorHandler, NULL);
    if (m->is_3d) {
      snprintf(caption, sizeof(caption), "rows: %d real members, then %d generated; columns: z-slices", (int)nr,
               (int)nf);
      err = BOPNGWriteVolumes(path, nr + nf, m->Nz, m->Ny, m->Nx, m->C, x, -1,
                              &(BOPNGLabels){"real and generated members", caption, "count", m->top_down});
    } else if (m->is_field) {
      snprintf(caption, sizeof(caption), "%d real members, then %d generated, left to right and top to bottom", (int)nr,
               (int)nf);
      err = BOPNGWriteFields(path, nr + nf, m->Ny, m->Nx, m->C, x, -1,
                             &(BOPNGLabels){"real and generated members", caption, "count", m->top_down});
    } else {
      snprintf(caption, sizeof(caption), "rows: %d real members, then %d generated; columns: features", (int)nr,
               (int)nf);
      err = BOPNGWriteHeatmap(path, nr + nf, m->G, x, -1,
                              &(BOPNGLabels){"real and generated members", caption, "count (log scale)", PETSC_FALSE});
    }
    PetscPopErrorHandler();
  }
  PetscCallMPI(MPI_Bcast(&err, 1, MPIU_INT, 0, m->comm));
  PetscCheck(!err, m->comm, PETSC_ERR_FILE_WRITE, "cannot write %s", path);
  PetscCall(PetscFree(x));
  PetscFunctionReturn(0);
}
