static const char help[] =
    "bo_paramplot: pictures of a conditional ensemble against the simulator, per parameter point.\n"
    "\n"
    "  bo_paramplot -real HELDOUT.h5 -fake ENS.h5 [-real_keff A.csv -fake_keff B.csv] -out PREFIX\n"
    "\n"
    "Members of -real with the same params row form a point (in order of first\n"
    "appearance; values a, b are the same when |a - b| <= -tol max(|a|, |b|));\n"
    "every -fake member must be at one of them. Writes PREFIX_mean.png, the mean\n"
    "field of each point, simulator and surrogate side by side, and, with the\n"
    "bo_darcy results of both files (-real_keff, -fake_keff: member,k_eff,...),\n"
    "PREFIX_keff.png: k_eff's mean over each point's members with its standard\n"
    "error (sd / sqrt(n)) against each parameter that varies between the\n"
    "points, simulator and surrogate. Serial (one rank); the files are small.\n"
    "Used by make demo-params (scripts/demo-params.sh).\n";

#include <math.h>
#include <stdio.h>
#include <string.h>
#include "bo_dataset.h"
#include "bo_png.h"
#include "bo_sys.h"

#define MAX_POINTS 64

typedef struct {
  char      real[PETSC_MAX_PATH_LEN], fake[PETSC_MAX_PATH_LEN], real_keff[PETSC_MAX_PATH_LEN];
  char      fake_keff[PETSC_MAX_PATH_LEN], out[PETSC_MAX_PATH_LEN];
  PetscReal tol;
  PetscBool help;
} Options;

/* Per point and per file (0 simulator, 1 surrogate): members, mean field, k_eff mean and standard error. */
typedef struct {
  PetscInt npts, P, D, Ny, Nx, C;
  char     names[BO_NAMES_LEN];
  double   params[MAX_POINTS][8];
  PetscInt n[2][MAX_POINTS];
  float   *mean[2]; /* npts x D each */
  double   kmean[2][MAX_POINTS], kse[2][MAX_POINTS];
} Points;

static PetscErrorCode get_options(Options *o)
{
  PetscFunctionBegin;
  PetscCall(PetscMemzero(o, sizeof(*o)));
  o->tol = 1e-6;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "bo_paramplot options", NULL);
  PetscCall(PetscOptionsString("-real", "simulator members with params (HDF5)", NULL, o->real, o->real, sizeof(o->real),
                               NULL));
  PetscCall(PetscOptionsString("-fake", "generated members with params (HDF5)", NULL, o->fake, o->fake, sizeof(o->fake),
                               NULL));
  PetscCall(PetscOptionsString("-real_keff", "bo_darcy -out of -real (CSV)", NULL, o->real_keff, o->real_keff,
                               sizeof(o->real_keff), NULL));
  PetscCall(PetscOptionsString("-fake_keff", "bo_darcy -out of -fake (CSV)", NULL, o->fake_keff, o->fake_keff,
                               sizeof(o->fake_keff), NULL));
  PetscCall(PetscOptionsString("-out", "prefix of the pictures", NULL, o->out, o->out, sizeof(o->out), NULL));
  PetscCall(PetscOptionsReal("-tol", "relative tolerance of equal params", NULL, o->tol, &o->tol, NULL));
  PetscOptionsEnd();
  PetscCall(PetscOptionsHasHelp(NULL, &o->help));
  if (o->help) PetscFunctionReturn(0);
  PetscCheck(o->real[0] && o->fake[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "give -real FILE and -fake FILE");
  PetscCheck(o->out[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "give the pictures' prefix with -out PREFIX");
  PetscCheck(!o->real_keff[0] == !o->fake_keff[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
             "give both -real_keff and -fake_keff, or neither");
  {
    char pic[2][PETSC_MAX_PATH_LEN + 16];
    BOPrefixedPath(o->out, "mean.png", pic[0], sizeof(pic[0]));
    BOPrefixedPath(o->real_keff[0] ? o->out : "", "keff.png", pic[1], sizeof(pic[1]));
    const BOFileArg out[] = {{"-out", pic[0]}, {"-out", pic[1]}}, in[] = {{"-real", o->real},
                                                                          {"-fake", o->fake},
                                                                          {"-real_keff", o->real_keff},
                                                                          {"-fake_keff", o->fake_keff}};
    PetscCall(BOCheckOutputs(PETSC_COMM_WORLD, 2, out, 4, in));
  }
  PetscFunctionReturn(0);
}

static PetscInt find_point(const Points *pt, const double *row, double tol)
{
  for (PetscInt r = 0; r < pt->npts; r++)
    if (BOParamsEqual(pt->P, pt->params[r], row, tol)) return r;
  return -1;
}

/* k_eff of members 0..N-1 from a bo_darcy CSV (member,k_eff,outflow,iterations). */
static PetscErrorCode read_keff(const char *path, PetscInt N, double *keff)
{
  FILE    *f = fopen(path, "r");
  char     line[512];
  long     m;
  double   k;
  PetscInt got = 0;

  PetscFunctionBegin;
  PetscCheck(f, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s: cannot open", path);
  for (PetscInt i = 0; i < N; i++) keff[i] = NAN;
  while (fgets(line, sizeof(line), f)) {
    if (sscanf(line, "%ld,%lf", &m, &k) != 2) continue; /* the header */
    if (m < 0 || m >= N) {
      fclose(f);
      SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s: member %ld, but the ensemble has %" PetscInt_FMT, path,
              m, N);
    }
    keff[m] = k, got++;
  }
  fclose(f);
  PetscCheck(got == N, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "%s: %" PetscInt_FMT " rows, but the ensemble has %" PetscInt_FMT " members", path, got, N);
  PetscFunctionReturn(0);
}

/* Adds file s (0 real, 1 fake) to the points: the real file defines them. */
static PetscErrorCode add_file(const Options *o, int s, const char *path, const char *keff_path, Points *pt)
{
  BODataset ds;
  double   *keff = NULL, ks[MAX_POINTS] = {0}, kq[MAX_POINTS] = {0};

  PetscFunctionBegin;
  PetscCall(BODatasetCreate(PETSC_COMM_SELF, &ds));
  PetscCall(BODatasetSetFile(ds, path, "counts"));
  PetscCall(BODatasetOpen(ds));
  PetscCall(BODatasetRequire2D(ds, "bo_paramplot"));
  PetscCheck(ds->is_field && ds->has_params, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "%s: needs fields (N, Ny, Nx[, C]) with params", path);
  PetscCheck(ds->P <= 8, PETSC_COMM_SELF, PETSC_ERR_SUP, "%s: more than 8 params", path);
  if (s == 0) {
    pt->P = ds->P, pt->D = ds->D, pt->Ny = ds->Ny, pt->Nx = ds->Nx, pt->C = ds->C;
    PetscCall(PetscStrncpy(pt->names, ds->param_names, sizeof(pt->names)));
    for (PetscInt m = 0; m < ds->N; m++)
      if (find_point(pt, ds->params + m * ds->P, o->tol) < 0) {
        PetscCheck(pt->npts < MAX_POINTS, PETSC_COMM_SELF, PETSC_ERR_SUP, "%s: more than %d points", path, MAX_POINTS);
        for (PetscInt j = 0; j < ds->P; j++) pt->params[pt->npts][j] = ds->params[m * ds->P + j];
        pt->npts++;
      }
  }
  PetscCheck(ds->P == pt->P && ds->D == pt->D && !strcmp(ds->param_names, pt->names), PETSC_COMM_SELF,
             PETSC_ERR_FILE_UNEXPECTED, "%s: other params (%s) or member shape than %s (%s)", path, ds->param_names,
             o->real, pt->names);
  if (keff_path[0]) {
    PetscCall(PetscMalloc1(ds->N, &keff));
    PetscCall(read_keff(keff_path, ds->N, keff));
  }
  PetscCall(PetscCalloc1(pt->npts * pt->D, &pt->mean[s]));
  for (PetscInt m = 0; m < ds->N; m++) {
    PetscInt r = find_point(pt, ds->params + m * ds->P, o->tol);
    PetscCheck(r >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s: member %" PetscInt_FMT " is at no point of %s",
               path, m, o->real);
    for (PetscInt i = 0; i < pt->D; i++) pt->mean[s][r * pt->D + i] += ds->x[m * pt->D + i];
    pt->n[s][r]++;
    if (keff) ks[r] += keff[m], kq[r] += keff[m] * keff[m];
  }
  for (PetscInt r = 0; r < pt->npts; r++) {
    PetscInt n = pt->n[s][r];
    PetscCheck(n > 1, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s: fewer than 2 members at point %" PetscInt_FMT,
               path, r);
    for (PetscInt i = 0; i < pt->D; i++) pt->mean[s][r * pt->D + i] /= n;
    pt->kmean[s][r] = ks[r] / n;
    pt->kse[s][r]   = sqrt(PetscMax(0, (kq[r] - n * PetscSqr(ks[r] / n)) / (n - 1)) / n);
  }
  PetscCall(PetscFree(keff));
  PetscCall(BODatasetDestroy(&ds));
  PetscFunctionReturn(0);
}

/* Whether column j takes more than one value over the points. */
static PetscBool varies(const Points *pt, PetscInt j, double tol)
{
  for (PetscInt r = 1; r < pt->npts; r++)
    if (!BOParamsEqual(1, &pt->params[r][j], &pt->params[0][j], tol)) return PETSC_TRUE;
  return PETSC_FALSE;
}

static PetscErrorCode write_means(const Options *o, const Points *pt)
{
  char        path[PETSC_MAX_PATH_LEN + 16], caption[4096], name[64];
  size_t      len = 0;
  float      *tiles;
  BOPNGLabels lab = {"Mean field per parameter point: simulator (left), surrogate (right)", caption,
                     "mean count per cell", PETSC_FALSE};

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(2 * pt->npts * pt->D, &tiles));
  for (PetscInt r = 0; r < pt->npts; r++)
    for (int s = 0; s < 2; s++) PetscCall(PetscArraycpy(tiles + (2 * r + s) * pt->D, pt->mean[s] + r * pt->D, pt->D));
  len += snprintf(caption + len, sizeof(caption) - len, "pairs left to right, top to bottom: ");
  for (PetscInt r = 0; r < pt->npts && len < sizeof(caption) - 128; r++) {
    len += snprintf(caption + len, sizeof(caption) - len, "%s(", r ? "; " : "");
    for (PetscInt j = 0, k = 0; j < pt->P && len < sizeof(caption) - 1; j++)
      if (varies(pt, j, o->tol)) {
        BOParamName(pt->names, j, name, sizeof(name));
        len += snprintf(caption + len, sizeof(caption) - len, "%s%s %g", k++ ? ", " : "", name, pt->params[r][j]);
      }
    len = PetscMin(len, sizeof(caption) - 1); /* snprintf counts what it would have written */
    len += snprintf(caption + len, sizeof(caption) - len, ")");
    len = PetscMin(len, sizeof(caption) - 1);
  }
  BOPrefixedPath(o->out, "mean.png", path, sizeof(path));
  PetscCall(BOPNGWriteFields(path, 2 * pt->npts, pt->Ny, pt->Nx, pt->C, tiles, 0, &lab));
  PetscCall(PetscFree(tiles));
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "bo_paramplot: wrote %s\n", path));
  PetscFunctionReturn(0);
}

static const unsigned char black[3] = {0, 0, 0}, grey[3] = {150, 150, 150};
static const unsigned char colour[2][3] = {{31, 119, 180}, {230, 120, 20}}; /* simulator, surrogate */
enum { PW = 420, PH = 300, LEFT = 90, TOP = 70, BOTTOM = 60, GAP = 40 };

/* Panel of k_eff against params column j, plot area at (x0, y0), y range [lo, hi]. */
static void keff_panel(BOImage *im, const Points *pt, PetscInt j, int x0, int y0, double lo, double hi, double tol)
{
  double xmin = pt->params[0][j], xmax = xmin;
  char   buf[64];

  for (PetscInt r = 1; r < pt->npts; r++)
    xmin = PetscMin(xmin, pt->params[r][j]), xmax = PetscMax(xmax, pt->params[r][j]);
  double pad = 0.15 * (xmax - xmin);
  xmin -= pad, xmax += pad;
  BOImageLine(im, x0, y0, x0 + PW, y0, grey), BOImageLine(im, x0, y0 + PH, x0 + PW, y0 + PH, black);
  BOImageLine(im, x0, y0, x0, y0 + PH, black), BOImageLine(im, x0 + PW, y0, x0 + PW, y0 + PH, grey);
  for (int t = 0; t <= 4; t++) { /* y ticks */
    double v  = lo + (hi - lo) * t / 4;
    int    yy = y0 + PH - (int)lround(PH * t / 4.0);
    BOImageLine(im, x0 - 6, yy, x0, yy, black);
    snprintf(buf, sizeof(buf), "%.3g", v);
    BOImageText(im, x0 - 10 - BOImageTextWidth(buf), yy - BO_TEXT_HEIGHT / 2, buf, black);
  }
  for (PetscInt r = 0; r < pt->npts; r++) {
    double   v = pt->params[r][j];
    PetscInt k = 0, m = 0; /* this point's rank among the points at the same value, and their number */
    for (PetscInt q = 0; q < pt->npts; q++)
      if (BOParamsEqual(1, &pt->params[q][j], &v, tol)) k += q < r, m++;
    int xc = x0 + (int)lround(PW * (v - xmin) / (xmax - xmin));
    if (k == 0) { /* x tick and label once per value */
      BOImageLine(im, xc, y0 + PH, xc, y0 + PH + 6, black);
      snprintf(buf, sizeof(buf), "%g", v);
      BOImageText(im, xc - BOImageTextWidth(buf) / 2, y0 + PH + 10, buf, black);
    }
    for (int s = 0; s < 2; s++) {
      int    xx = xc + (int)((2 * k + s) - (2 * m - 1) / 2.0) * 8;
      double a = pt->kmean[s][r] - pt->kse[s][r], b = pt->kmean[s][r] + pt->kse[s][r];
      int ya = y0 + PH - (int)lround(PH * (a - lo) / (hi - lo)), yb = y0 + PH - (int)lround(PH * (b - lo) / (hi - lo));
      int ym = y0 + PH - (int)lround(PH * (pt->kmean[s][r] - lo) / (hi - lo));
      BOImageLine(im, xx, ya, xx, yb, colour[s]);
      BOImageLine(im, xx - 3, ya, xx + 3, ya, colour[s]), BOImageLine(im, xx - 3, yb, xx + 3, yb, colour[s]);
      for (int dy = -3; dy <= 3; dy++) BOImageLine(im, xx - 3, ym + dy, xx + 3, ym + dy, colour[s]);
    }
  }
  BOParamName(pt->names, j, buf, sizeof(buf));
  BOImageText(im, x0 + (PW - BOImageTextWidth(buf)) / 2, y0 + PH + 34, buf, black);
}

static PetscErrorCode write_keff(const Options *o, const Points *pt)
{
  PetscInt cols[8], np = 0;
  double   lo = PETSC_MAX_REAL, hi = -PETSC_MAX_REAL;
  char     path[PETSC_MAX_PATH_LEN + 16], title[128];
  BOImage  im;

  PetscFunctionBegin;
  for (PetscInt j = 0; j < pt->P; j++)
    if (varies(pt, j, o->tol)) cols[np++] = j;
  PetscCheck(np > 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s: all points have the same params", o->real);
  for (int s = 0; s < 2; s++)
    for (PetscInt r = 0; r < pt->npts; r++)
      lo = PetscMin(lo, pt->kmean[s][r] - pt->kse[s][r]), hi = PetscMax(hi, pt->kmean[s][r] + pt->kse[s][r]);
  double pad = 0.08 * PetscMax(hi - lo, 1e-12);
  lo -= pad, hi += pad;
  PetscCall(BOImageCreate(LEFT + np * (PW + GAP + LEFT) - LEFT, TOP + PH + BOTTOM, &im));
  if (pt->n[0][0] == pt->n[1][0])
    snprintf(title, sizeof(title), "k_eff per point: mean +- standard error (%" PetscInt_FMT " members)", pt->n[0][0]);
  else
    snprintf(title, sizeof(title),
             "k_eff per point: mean +- standard error (simulator %" PetscInt_FMT ", surrogate %" PetscInt_FMT
             " members)",
             pt->n[0][0], pt->n[1][0]);
  for (int dx = 0; dx < 2; dx++) BOImageText(&im, 8 + dx, 8, title, black);
  for (int s = 0; s < 2; s++) { /* legend */
    int x = 8 + s * 200;
    for (int dy = -3; dy <= 3; dy++) BOImageLine(&im, x, 40 + dy, x + 6, 40 + dy, colour[s]);
    BOImageText(&im, x + 14, 40 - BO_TEXT_HEIGHT / 2, s ? "surrogate" : "simulator", colour[s]);
  }
  for (PetscInt p = 0; p < np; p++)
    keff_panel(&im, pt, cols[p], LEFT + (int)p * (PW + GAP + LEFT), TOP, lo, hi, o->tol);
  BOPrefixedPath(o->out, "keff.png", path, sizeof(path));
  PetscCall(BOImageWrite(&im, path, title, "k_eff (bo_darcy) against each varying parameter"));
  PetscCall(BOImageDestroy(&im));
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "bo_paramplot: wrote %s\n", path));
  PetscFunctionReturn(0);
}

static PetscErrorCode run(void)
{
  Options     o;
  Points      pt;
  PetscMPIInt size;

  PetscFunctionBegin;
  PetscCall(get_options(&o));
  if (o.help) PetscFunctionReturn(0);
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCheck(size == 1, PETSC_COMM_WORLD, PETSC_ERR_SUP, "bo_paramplot is serial: run it on one rank");
  PetscCall(PetscMemzero(&pt, sizeof(pt)));
  PetscCall(add_file(&o, 0, o.real, o.real_keff, &pt));
  PetscCall(add_file(&o, 1, o.fake, o.fake_keff, &pt));
  PetscCall(write_means(&o, &pt));
  if (o.real_keff[0]) PetscCall(write_keff(&o, &pt));
  PetscCall(PetscFree(pt.mean[0]));
  PetscCall(PetscFree(pt.mean[1]));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  if (BOAppArgs(&argc, argv, "bo_paramplot", help)) return 1;
  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  ierr = BOAppStart("bo_paramplot");
  if (!ierr) ierr = run();
  return BOAppFinish(ierr);
}
