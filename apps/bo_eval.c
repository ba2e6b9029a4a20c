static const char help[] =
    "bo_eval: fidelity of a generated ensemble against held-out truth.\n"
    "\n"
    "  mpirun -n 2 bo_eval -real heldout.h5 -fake ens.h5 [-train train.h5] [-json r.json] [-png prefix]\n"
    "  bo_eval -real a.csv -fake b.csv [-json r.json]     (bo_darcy results)\n"
    "  bo_eval -by_params -real heldout.h5 -fake ens.h5 -train train.h5 [-json r.json]   (members with params)\n"
    "  bo_eval -by_inputs -real heldout.h5 -fake ens.h5 [-json r.json]   (members with input fields)\n"
    "\n"
    "Members are 2-D fields (N, Ny, Nx[, C]), 3-D fields (N, Nz, Ny, Nx[, C]:\n"
    "spectra over spherical shells, two-point function over 3-D distances,\n"
    "pictures of z-slices) or vectors (N, G); all files of one layout.\n"
    "Members are spread over ranks (BODataset shards); statistics are reduced\n"
    "with MPI. Columns: generated (fake vs real), independent_baseline (a straw\n"
    "man drawing every cell independently from the training marginals, or the\n"
    "real ones without -train) and holdout (half of real vs the other half).\n"
    "The VERDICT line says whether the generated set beats the straw man.\n"
    "-by_params: files with a params dataset; the real members are grouped by\n"
    "parameter point and the generated ones matched to the points (relative\n"
    "tolerance -by_params_tol, 1e-6); per point the metrics of the generated\n"
    "members (conditional) and of two baselines from -train: pooled (random\n"
    "training members) and nearest (the training members nearest to the point\n"
    "in standardised params), as many as the point's generated members; the\n"
    "per-point table, the means over points and a BY_PARAMS summary line.\n"
    "-by_inputs: files with an inputs dataset; members are grouped by identical\n"
    "input fields; per field the RMSE of the generated mean field to the real\n"
    "mean field of that field (own) and of the nearest other field, their ratio\n"
    "(the margin, > 1 at every field to pass) and the split-half floor; a table\n"
    "and a BY_INPUTS summary line.\n"
    "Metric options: -eval_mmd_cap, -eval_median_cap, -eval_corr_genes,\n"
    "-eval_hist_max, -eval_holdout_min, -eval_seed, -eval_verdict_margin.\n"
    "Definitions: docs/EVAL.md.\n";

#include <string.h>
#include "bo_dataset.h"
#include "bo_metrics.h"
#include "bo_sys.h"

typedef struct {
  char      real[PETSC_MAX_PATH_LEN], fake[PETSC_MAX_PATH_LEN], train[PETSC_MAX_PATH_LEN];
  char      json[PETSC_MAX_PATH_LEN], png[PETSC_MAX_PATH_LEN], name[256];
  PetscBool help, by_params, by_inputs;
  PetscReal params_tol;
} Options;

static PetscErrorCode get_options(Options *o)
{
  PetscFunctionBegin;
  PetscCall(PetscMemzero(o, sizeof(*o)));
  PetscCall(PetscStrncpy(o->name, "counts", sizeof(o->name)));
  o->params_tol = 1e-6;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "bo_eval options", NULL);
  PetscCall(PetscOptionsString("-real", "held-out real data (HDF5, or bo_darcy CSV)", NULL, o->real, o->real,
                               sizeof(o->real), NULL));
  PetscCall(PetscOptionsString("-fake", "generated ensemble (same layout as -real)", NULL, o->fake, o->fake,
                               sizeof(o->fake), NULL));
  PetscCall(PetscOptionsString("-train", "training data (memorisation; straw-man marginals)", NULL, o->train, o->train,
                               sizeof(o->train), NULL));
  PetscCall(PetscOptionsString("-json", "write the report as JSON", NULL, o->json, o->json, sizeof(o->json), NULL));
  PetscCall(PetscOptionsString("-png", "prefix of PNG plots (PREFIX_spectra.png, ...)", NULL, o->png, o->png,
                               sizeof(o->png), NULL));
  PetscCall(PetscOptionsString("-data_name", "dataset in every file", NULL, o->name, o->name, sizeof(o->name), NULL));
  PetscCall(PetscOptionsBool("-by_params", "per parameter point against pooled and nearest-neighbour baselines", NULL,
                             o->by_params, &o->by_params, NULL));
  PetscCall(PetscOptionsBool("-by_inputs", "per input field: the generated mean field against the real ones", NULL,
                             o->by_inputs, &o->by_inputs, NULL));
  PetscCall(PetscOptionsReal("-by_params_tol", "-by_params: relative tolerance of equal parameters", NULL,
                             o->params_tol, &o->params_tol, NULL));
  PetscOptionsEnd();
  PetscCall(PetscOptionsHasHelp(NULL, &o->help));
  if (o->help) PetscFunctionReturn(0);
  PetscCheck(o->real[0] && o->fake[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "give -real FILE and -fake FILE");
  if (o->by_inputs) {
    PetscCheck(!o->by_params, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "give -by_inputs or -by_params, not both");
    PetscCheck(!o->train[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
               "-by_inputs compares -fake with -real only: drop -train");
    PetscCheck(!o->png[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "-by_inputs writes no plots: drop -png");
  }
  if (o->by_params) {
    PetscCheck(o->train[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
               "-by_params needs -train FILE (its members make the pooled and nearest baselines)");
    PetscCheck(!o->png[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "-by_params writes no plots: drop -png");
    PetscCheck(o->params_tol >= 0 && o->params_tol < 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE,
               "-by_params_tol must be in [0, 1), not %g", (double)o->params_tol);
  }
  { /* -png is a prefix: its pictures are outputs */
    char            plot[BO_NUM_PICS][PETSC_MAX_PATH_LEN + 16];
    BOFileArg       out[1 + BO_NUM_PICS] = {{"-json", o->json}};
    const BOFileArg in[]                 = {{"-real", o->real}, {"-fake", o->fake}, {"-train", o->train}};
    for (int i = 0; i < BO_NUM_PICS; i++) {
      BOPrefixedPath(o->png, BOMetricsPictures[i], plot[i], sizeof(plot[i]));
      out[1 + i] = (BOFileArg){"-png", plot[i]};
    }
    PetscCall(BOCheckOutputs(PETSC_COMM_WORLD, 1 + BO_NUM_PICS, out, 3, in));
  }
  PetscFunctionReturn(0);
}

static PetscBool is_csv(const char *path)
{
  size_t n = strlen(path);
  return (PetscBool)(n >= 4 && !strcasecmp(path + n - 4, ".csv"));
}

static PetscErrorCode open_data(const char *path, const char *name, BODataset *ds)
{
  PetscFunctionBegin;
  PetscCall(BODatasetCreate(PETSC_COMM_WORLD, ds));
  PetscCall(BODatasetSetFile(*ds, path, name));
  PetscCall(BODatasetOpen(*ds));
  PetscFunctionReturn(0);
}

static void describe(BODataset ds, char *buf, size_t len)
{
  if (ds->is_3d)
    snprintf(buf, len, "3-D fields of %d x %d x %d x %d (Nz x Ny x Nx x C)", (int)ds->Nz, (int)ds->Ny, (int)ds->Nx,
             (int)ds->C);
  else if (ds->is_field) snprintf(buf, len, "fields of %d x %d x %d", (int)ds->Ny, (int)ds->Nx, (int)ds->C);
  else snprintf(buf, len, "vectors of %d", (int)ds->G);
}

/* Real, fake and train must have the same member layout. */
static PetscErrorCode check_shape(BODataset a, BODataset b)
{
  char da[96], db[96];

  PetscFunctionBegin;
  describe(a, da, sizeof(da)), describe(b, db, sizeof(db));
  PetscCheck(a->is_field == b->is_field && a->is_3d == b->is_3d && a->D == b->D &&
                 (!a->is_field || (a->Nz == b->Nz && a->Ny == b->Ny && a->Nx == b->Nx && a->C == b->C)),
             PETSC_COMM_WORLD, PETSC_ERR_ARG_INCOMP, "shape mismatch: %s has %s, %s has %s", a->filename, da,
             b->filename, db);
  PetscFunctionReturn(0);
}

/* -by_params: every file has params with the same names. */
static PetscErrorCode check_params(BODataset ref, BODataset ds)
{
  PetscFunctionBegin;
  PetscCheck(ds->has_params, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG,
             "-by_params: %s has no params dataset (docs/DATA.md, params and inputs)", ds->filename);
  PetscCheck(ds->P == ref->P && !strcmp(ds->param_names, ref->param_names), PETSC_COMM_WORLD, PETSC_ERR_ARG_INCOMP,
             "-by_params: %s has params (%s), %s has (%s)", ds->filename, ds->param_names, ref->filename,
             ref->param_names);
  PetscFunctionReturn(0);
}

static PetscErrorCode run_by_params(const Options *o, BOMetrics m, BODataset real, BODataset fake, BODataset train)
{
  BOByParamsReport rep;
  BOParamSet       r = {{real->nlocal, real->x}, real->params, real->filename},
             f       = {{fake->nlocal, fake->x}, fake->params, fake->filename},
             t       = {{train->nlocal, train->x}, train->params, train->filename};

  PetscFunctionBegin;
  PetscCall(BOMetricsEvaluateByParams(m, real->P, real->param_names, r, f, t, o->params_tol, &rep));
  PetscCall(BOByParamsReportView(m, &rep, PETSC_VIEWER_STDOUT_WORLD));
  if (o->json[0]) PetscCall(BOByParamsReportWriteJSON(m, &rep, o->json));
  PetscCall(BOByParamsReportDestroy(&rep));
  PetscFunctionReturn(0);
}

/* -by_inputs: both files carry inputs of the same components. */
static PetscErrorCode run_by_inputs(const Options *o, BODataset real, BODataset fake)
{
  BOByInputsReport rep;
  BODataset        ds[2] = {real, fake};
  BOInputSet       r, f;

  PetscFunctionBegin;
  for (int i = 0; i < 2; i++) {
    PetscCheck(ds[i]->has_inputs, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG,
               "-by_inputs: %s has no inputs dataset (docs/DATA.md, params and inputs)", ds[i]->filename);
    PetscCall(BODatasetLoadInputs(ds[i]));
  }
  PetscCheck(real->Ci == fake->Ci, PETSC_COMM_WORLD, PETSC_ERR_ARG_INCOMP,
             "-by_inputs: %s has inputs of %" PetscInt_FMT " components, %s of %" PetscInt_FMT, real->filename,
             real->Ci, fake->filename, fake->Ci);
  r = (BOInputSet){{real->nlocal, real->x}, real->inputs, real->filename};
  f = (BOInputSet){{fake->nlocal, fake->x}, fake->inputs, fake->filename};
  PetscCall(BOMetricsEvaluateByInputs(PETSC_COMM_WORLD, real->D, real->D / real->C * real->Ci, r, f, &rep));
  PetscCall(BOByInputsReportView(&rep, PETSC_VIEWER_STDOUT_WORLD));
  if (o->json[0]) PetscCall(BOByInputsReportWriteJSON(PETSC_COMM_WORLD, &rep, o->json));
  PetscCall(BOByInputsReportDestroy(&rep));
  PetscFunctionReturn(0);
}

static PetscErrorCode run(void)
{
  Options         o;
  BODataset       real = NULL, fake = NULL, train = NULL;
  BOMetrics       m;
  BOMetricsReport rep;
  BOSet           sr, sf, st = {0, NULL};
  double          t0 = BOWallTime(), maxc;
  char            desc[96];

  PetscFunctionBegin;
  PetscCall(get_options(&o));
  if (o.help) {
    PetscCall(BOMetricsCreate(PETSC_COMM_WORLD, &m));
    PetscCall(BOMetricsSetFromOptions(m));
    PetscCall(BOMetricsDestroy(&m));
    PetscFunctionReturn(0);
  }
  /* Physics-level check on bo_darcy results. */
  if (is_csv(o.real) || is_csv(o.fake)) {
    PetscCheck(is_csv(o.real) && is_csv(o.fake), PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
               "-real and -fake must both be CSV or both HDF5");
    PetscCheck(!o.by_params && !o.by_inputs, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "%s needs HDF5 files, not CSV",
               o.by_params ? "-by_params" : "-by_inputs");
    PetscCheck(!o.png[0] && !o.train[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
               "comparing bo_darcy results (CSV) takes no %s: drop it", o.png[0] ? "-png" : "-train");
    PetscCall(BOMetricsCompareCSV(PETSC_COMM_WORLD, o.real, o.fake, o.json, PETSC_VIEWER_STDOUT_WORLD));
    if (o.json[0]) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "bo_eval: wrote %s\n", o.json));
    PetscFunctionReturn(0);
  }

  /* 1. Open the sets (each rank reads its shard) and check the layouts. */
  PetscCall(open_data(o.real, o.name, &real));
  PetscCall(open_data(o.fake, o.name, &fake));
  PetscCall(check_shape(real, fake));
  maxc = PetscMax(real->max_count, fake->max_count);
  if (o.train[0]) {
    PetscCall(open_data(o.train, o.name, &train));
    PetscCall(check_shape(real, train));
    maxc      = PetscMax(maxc, train->max_count);
    st.nlocal = train->nlocal, st.x = train->x;
  }
  if (o.by_inputs) {
    describe(real, desc, sizeof(desc));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                          "bo_eval: %s: %" PetscInt_FMT " real (%s), %" PetscInt_FMT " generated (%s)\n", desc, real->N,
                          o.real, fake->N, o.fake));
    PetscCall(run_by_inputs(&o, real, fake));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "bo_eval: done in %.2f s%s%s\n", BOWallTime() - t0,
                          o.json[0] ? ", wrote " : "", o.json));
    PetscCall(BODatasetDestroy(&real));
    PetscCall(BODatasetDestroy(&fake));
    PetscFunctionReturn(0);
  }
  if (o.by_params) {
    PetscCheck(real->has_params, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG,
               "-by_params: %s has no params dataset (docs/DATA.md, params and inputs)", real->filename);
    PetscCall(check_params(real, fake));
    PetscCall(check_params(real, train));
  }
  sr.nlocal = real->nlocal, sr.x = real->x, sf.nlocal = fake->nlocal, sf.x = fake->x;

  /* 2. Metrics. */
  PetscCall(BOMetricsCreate(PETSC_COMM_WORLD, &m));
  if (real->is_3d) PetscCall(BOMetricsSetField3D(m, real->Nz, real->Ny, real->Nx, real->C));
  else if (real->is_field) PetscCall(BOMetricsSetField(m, real->Ny, real->Nx, real->C));
  else PetscCall(BOMetricsSetVector(m, real->G));
  m->top_down = real->top_down; /* pictures only */
  PetscCall(BOMetricsSetFromOptions(m));
  PetscCall(BOMetricsSetUp(m, maxc, sr));
  describe(real, desc, sizeof(desc));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "bo_eval: %s: %" PetscInt_FMT " real (%s), %" PetscInt_FMT " generated (%s)",
                        desc, real->N, o.real, fake->N, o.fake));
  if (train) PetscCall(PetscPrintf(PETSC_COMM_WORLD, ", %" PetscInt_FMT " training (%s)", train->N, o.train));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "\n"));
  if (o.by_params) {
    PetscCall(run_by_params(&o, m, real, fake, train));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "bo_eval: done in %.2f s%s%s\n", BOWallTime() - t0,
                          o.json[0] ? ", wrote " : "", o.json));
    PetscCall(BOMetricsDestroy(&m));
    PetscCall(BODatasetDestroy(&real));
    PetscCall(BODatasetDestroy(&fake));
    PetscCall(BODatasetDestroy(&train));
    PetscFunctionReturn(0);
  }
  PetscCall(BOMetricsEvaluate(m, sr, sf, train ? &st : NULL, &rep));

  /* 3. Report. */
  PetscCall(BOMetricsReportView(m, &rep, PETSC_VIEWER_STDOUT_WORLD));
  if (o.json[0]) PetscCall(BOMetricsReportWriteJSON(m, &rep, o.json));
  if (o.png[0]) {
    PetscCall(BOMetricsWritePlots(m, &rep, o.png));
    PetscCall(BOMetricsWriteMontage(m, sr, sf, o.png));
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "bo_eval: done in %.2f s%s%s%s%s\n", BOWallTime() - t0,
                        o.json[0] ? ", wrote " : "", o.json, o.png[0] ? ", plots " : "", o.png));
  PetscCall(BOMetricsReportDestroy(&rep));
  PetscCall(BOMetricsDestroy(&m));
  PetscCall(BODatasetDestroy(&real));
  PetscCall(BODatasetDestroy(&fake));
  if (train) PetscCall(BODatasetDestroy(&train));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  if (BOAppArgs(&argc, argv, "bo_eval", help)) return 1;
  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  ierr = BOAppStart("bo_eval");
  if (!ierr) ierr = run();
  return BOAppFinish(ierr);
}
