/* BOSampler's simulator parameters and input fields, for a network
 * conditioned on them (bo_train -condition_on params,inputs):
 *   params   -params v1,v2,... (one point for every member) or -params_file
 *            P.h5 (its params rows: members point-major, point m /
 *            members_per_point), in physical units and the order of the
 *            checkpoint's names; outside the training range is allowed,
 *            with a warning;
 *   inputs   -inputs F.h5: dataset inputs (K, [Nz,] Ny, Nx[, Ci]) on the model's
 *            grid, K = 1 (for all members) or one per member;
 *   totals   with params, a member's total is drawn from the totals of the
 *            -params_knn training members nearest to its point in
 *            standardised parameters (the law of the total depends on the
 *            parameters), unless -mass or -mass_from FILE says otherwise;
 *            -params_knn_adjust linear moves each of those totals to the
 *            point along a least-squares fit of total on params over them;
 *            with inputs (and no params), from the totals of the
 *            -inputs_knn training members whose fields' coarse summaries
 *            (BOInputSummary, kept in the checkpoint) are nearest. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bo_checkpoint.h"
#include "bo_dataset.h"
#include "bo_h5.h"
#include "bo_sampler.h"
#include "bo_sys.h"
#include "sampleimpl.h"

/* Every value finite; a one-line warning per parameter whose values leave
 * the training range. */
static PetscErrorCode check_points(BOSampler s, const char *what)
{
  const BOModelConfig *c = &s->model->cfg;
  char                 name[64];

  PetscFunctionBegin;
  for (PetscInt j = 0; j < c->num_params; j++) {
    double lo = PETSC_MAX_REAL, hi = -PETSC_MAX_REAL;
    BOParamName(c->param_names, j, name, sizeof(name));
    for (PetscInt r = 0; r < s->npoints; r++) {
      const double v = s->points[r * c->num_params + j];
      PetscCheck(isfinite(v), s->comm, PETSC_ERR_ARG_OUTOFRANGE, "%s: %s = %g (row %" PetscInt_FMT ") is not a number",
                 what, name, v, r);
      lo = PetscMin(lo, v), hi = PetscMax(hi, v);
    }
    if ((lo < c->param_min[j] || hi > c->param_max[j]) && lo == hi)
      PetscCall(PetscFPrintf(s->comm, PETSC_STDERR,
                             "bo_sample: warning: %s: %s = %g is outside the training range [%g, %g]\n", what, name, lo,
                             c->param_min[j], c->param_max[j]));
    else if (lo < c->param_min[j] || hi > c->param_max[j])
      PetscCall(PetscFPrintf(s->comm, PETSC_STDERR,
                             "bo_sample: warning: %s: %s from %g to %g leaves the training range [%g, %g]\n", what,
                             name, lo, hi, c->param_min[j], c->param_max[j]));
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode load_points(BOSampler s)
{
  const BOModelConfig *c = &s->model->cfg;
  const PetscInt       P = c->num_params;

  PetscFunctionBegin;
  PetscCheck(!s->nparam_values || !s->params_file[0], s->comm, PETSC_ERR_ARG_INCOMP,
             "-params and -params_file: give one of them");
  PetscCheck(P > 0 || (!s->nparam_values && !s->params_file[0]), s->comm, PETSC_ERR_ARG_INCOMP,
             "%s: the network of %s is not conditioned on params", s->nparam_values ? "-params" : "-params_file",
             s->checkpoint);
  if (P == 0) PetscFunctionReturn(0);
  PetscCheck(s->nparam_values || s->params_file[0], s->comm, PETSC_ERR_ARG_WRONG,
             "the network is conditioned on params %s: give -params v1,...,v%" PetscInt_FMT " or -params_file P.h5",
             c->param_names, P);
  if (s->nparam_values) {
    PetscCheck(s->nparam_values == P, s->comm, PETSC_ERR_ARG_SIZ,
               "-params: %" PetscInt_FMT " values, but the network takes %" PetscInt_FMT " (%s)", s->nparam_values, P,
               c->param_names);
    s->npoints = 1;
    PetscCall(PetscMalloc1(P, &s->points));
    for (PetscInt j = 0; j < P; j++) s->points[j] = s->param_values[j];
    PetscCall(check_points(s, "-params"));
  } else {
    PetscInt Pf;
    char     names[BO_NAMES_LEN], what[PETSC_MAX_PATH_LEN + 16];
    PetscCall(BOParamsFileRead(s->comm, s->params_file, &s->npoints, &Pf, &s->points, names));
    PetscCheck(Pf == P && !strcmp(names, c->param_names), s->comm, PETSC_ERR_ARG_INCOMP,
               "-params_file %s: its params are %s (%" PetscInt_FMT "), the network's %s (%" PetscInt_FMT ")",
               s->params_file, names, Pf, c->param_names, P);
    snprintf(what, sizeof(what), "-params_file %s", s->params_file);
    PetscCall(check_points(s, what));
  }
  PetscFunctionReturn(0);
}

/* -inputs F.h5, read by rank 0 (a file of inputs needs no counts). */
typedef struct {
  BOSampler s;
  PetscInt  K;
} InputsJob;

/* The network's input field per member, (Ny, Nx, Ci) or (Nz, Ny, Nx, Ci), and its cells times Ci. */
static size_t input_field_size(const BOModelConfig *c) { return (size_t)c->Nz * c->Ny * c->Nx * c->num_inputs; }

/* Does dataset inputs of nd axes dims fit the network: (K, [Nz,] Ny, Nx[, Ci])? */
static PetscBool inputs_fit(const BOModelConfig *c, int nd, const hsize_t *dims)
{
  const int sd      = c->Nz > 1 ? 3 : 2; /* spatial axes */
  hsize_t   want[3] = {(hsize_t)c->Nz, (hsize_t)c->Ny, (hsize_t)c->Nx}, ci;

  if (nd != 1 + sd && nd != 2 + sd) return PETSC_FALSE;
  for (int a = 0; a < sd; a++)
    if (dims[1 + a] != want[3 - sd + a]) return PETSC_FALSE;
  ci = nd == 2 + sd ? dims[1 + sd] : 1;
  return (PetscBool)(ci == (hsize_t)c->num_inputs && dims[0] >= 1);
}

static PetscErrorCode read_inputs(void *ctx)
{
  InputsJob           *j = (InputsJob *)ctx;
  BOSampler            s = j->s;
  const BOModelConfig *c = &s->model->cfg;
  hid_t                f, d, sp;
  hsize_t              dims[5] = {0, 0, 0, 0, 0};
  int                  nd;
  char                 have[96] = "", want[96];

  PetscFunctionBegin;
  f = H5Fopen(s->inputs_file, H5F_ACC_RDONLY, H5P_DEFAULT);
  PetscCheck(f >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot open (missing or not HDF5)");
  if (H5Lexists(f, "inputs", H5P_DEFAULT) <= 0) H5Fclose(f);
  PetscCheck(f < 0 || H5Lexists(f, "inputs", H5P_DEFAULT) > 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "no dataset inputs");
  BOCallHDF5(d = H5Dopen2(f, "inputs", H5P_DEFAULT), "cannot open inputs");
  sp = H5Dget_space(d);
  nd = H5Sget_simple_extent_ndims(sp);
  if (nd >= 1 && nd <= 5) H5Sget_simple_extent_dims(sp, dims, NULL);
  H5Sclose(sp);
  if (!inputs_fit(c, nd, dims)) {
    H5Dclose(d), H5Fclose(f);
    for (int a = 0; a < nd && a < 5; a++)
      snprintf(have + strlen(have), sizeof(have) - strlen(have), "%s%llu", a ? " x " : "", (unsigned long long)dims[a]);
    if (c->Nz > 1)
      snprintf(want, sizeof(want), "(K, %d, %d, %d, %d)", (int)c->Nz, (int)c->Ny, (int)c->Nx, (int)c->num_inputs);
    else snprintf(want, sizeof(want), "(K, %d, %d, %d)", (int)c->Ny, (int)c->Nx, (int)c->num_inputs);
  }
  PetscCheck(inputs_fit(c, nd, dims), PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ,
             "dataset inputs is %d-dimensional (%s); the network takes %s", nd, have, want);
  j->K = (PetscInt)dims[0];
  PetscCall(PetscMalloc1((size_t)j->K * input_field_size(c), &s->input_fields));
  BOCallHDF5(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->input_fields), "cannot read inputs");
  H5Dclose(d), H5Fclose(f);
  for (size_t i = 0; i < (size_t)j->K * input_field_size(c); i++)
    PetscCheck(isfinite(s->input_fields[i]), PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
               "inputs: value %zu is not a number", i);
  PetscFunctionReturn(0);
}

static PetscErrorCode load_inputs(BOSampler s)
{
  const BOModelConfig *c   = &s->model->cfg;
  InputsJob            job = {s, 0};
  char                 what[PETSC_MAX_PATH_LEN + 16];
  size_t               n;

  PetscFunctionBegin;
  PetscCheck(c->num_inputs > 0 || !s->inputs_file[0], s->comm, PETSC_ERR_ARG_INCOMP,
             "-inputs: the network of %s is not conditioned on input fields", s->checkpoint);
  if (c->num_inputs == 0) PetscFunctionReturn(0);
  PetscCheck(s->inputs_file[0], s->comm, PETSC_ERR_ARG_WRONG,
             "the network is conditioned on input fields (%" PetscInt_FMT " per cell): give -inputs F.h5",
             c->num_inputs);
  snprintf(what, sizeof(what), "-inputs %s", s->inputs_file);
  PetscCall(BORootTry(s->comm, read_inputs, &job, what));
  PetscCallMPI(MPI_Bcast(&job.K, 1, MPIU_INT, 0, s->comm));
  n = (size_t)job.K * input_field_size(c);
  if (s->rank != 0) PetscCall(PetscMalloc1(n, &s->input_fields));
  PetscCallMPI(MPI_Bcast(s->input_fields, (int)n, MPI_FLOAT, 0, s->comm));
  s->ninput_fields = job.K;
  PetscFunctionReturn(0);
}

/* (distance, index) ascending: ties by member index, so the pool is the
 * same whatever the sort does with equal keys. */
static int by_distance(const void *a, const void *b)
{
  const double *x = a, *y = b;
  return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : x[1] < y[1] ? -1 : x[1] > y[1];
}

static int ascending(const void *a, const void *b)
{
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* pairs (n x (squared distance, member)): the totals of the k members
 * nearest, sorted, into pool. */
static void nearest_totals(PetscInt n, double *pairs, const double *totals, PetscInt k, double *pool)
{
  qsort(pairs, (size_t)n, 2 * sizeof(double), by_distance);
  for (PetscInt i = 0; i < k; i++) pool[i] = totals[(PetscInt)pairs[2 * i + 1]];
  qsort(pool, (size_t)k, sizeof(double), ascending);
}

/* The local linear adjustment of a pool of K totals y whose members sit at
 * u (K x P, standardised params minus the point's): fit y = a + b . u by
 * least squares and move each total to the point, y - b . u (at least 0).
 * The normal equations are on centred u and y, solved by elimination
 * without pivoting (the matrix is a covariance: symmetric, semi-definite);
 * a direction the pool does not span (a pivot below 1e-9 of its variance,
 * e.g. a parameter constant over the pool) gets no slope. */
static void adjust_linear(PetscInt K, PetscInt P, const double *u, double *y)
{
  double A[BO_MODEL_MAX_PARAMS][BO_MODEL_MAX_PARAMS], c[BO_MODEL_MAX_PARAMS], b[BO_MODEL_MAX_PARAMS];
  double um[BO_MODEL_MAX_PARAMS] = {0}, ym = 0, var[BO_MODEL_MAX_PARAMS];

  for (PetscInt i = 0; i < K; i++) {
    ym += y[i] / K;
    for (PetscInt j = 0; j < P; j++) um[j] += u[i * P + j] / K;
  }
  for (PetscInt j = 0; j < P; j++) {
    c[j] = 0;
    for (PetscInt k = 0; k < P; k++) A[j][k] = 0;
    for (PetscInt i = 0; i < K; i++) {
      c[j] += (u[i * P + j] - um[j]) * (y[i] - ym);
      for (PetscInt k = 0; k < P; k++) A[j][k] += (u[i * P + j] - um[j]) * (u[i * P + k] - um[k]);
    }
    var[j] = A[j][j];
  }
  for (PetscInt j = 0; j < P; j++) { /* forward elimination; a dead pivot's row and column drop out */
    if (!(A[j][j] > 1e-9 * var[j]) || var[j] <= 0) {
      for (PetscInt k = 0; k < P; k++) A[j][k] = A[k][j] = 0;
      A[j][j] = 1, c[j] = 0;
      continue;
    }
    for (PetscInt r = j + 1; r < P; r++) {
      const double f = A[r][j] / A[j][j];
      for (PetscInt k = j; k < P; k++) A[r][k] -= f * A[j][k];
      c[r] -= f * c[j];
    }
  }
  for (PetscInt j = P - 1; j >= 0; j--) {
    b[j] = c[j];
    for (PetscInt k = j + 1; k < P; k++) b[j] -= A[j][k] * b[k];
    b[j] /= A[j][j];
  }
  for (PetscInt i = 0; i < K; i++) {
    double v = y[i];
    for (PetscInt j = 0; j < P; j++) v -= b[j] * u[i * P + j];
    y[i] = PetscMax(0.0, v);
  }
}

/* For each point, the totals of the knn training members nearest to it in
 * standardised parameters (moved to the point with -params_knn_adjust
 * linear), sorted: the law of the total at that point. */
static PetscErrorCode build_point_pools(BOSampler s)
{
  const BOModelConfig *c = &s->model->cfg;
  const PetscInt       P = c->num_params;
  PetscInt             n, Pc;
  double              *totals, *params, *pairs, *u;

  PetscFunctionBegin;
  PetscCall(BOCheckpointLoadParamsTotals(s->comm, s->checkpoint, &n, &Pc, &totals, &params));
  PetscCheck(n > 0 && Pc == P, s->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s keeps no training params to draw totals near -params from: give -mass M or -mass_from FILE",
             s->checkpoint);
  s->knn = PetscMin(s->knn, n);
  PetscCheck(!s->knn_linear || s->knn >= P + 2, s->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-params_knn_adjust linear: a fit of %" PetscInt_FMT " params needs at least %" PetscInt_FMT
             " members (-params_knn %" PetscInt_FMT ", %" PetscInt_FMT " training members)",
             P, P + 2, s->knn, n);
  PetscCall(PetscMalloc1(s->npoints * s->knn, &s->point_pool));
  PetscCall(PetscMalloc2(2 * n, &pairs, s->knn * P, &u));
  for (PetscInt r = 0; r < s->npoints; r++) {
    for (PetscInt i = 0; i < n; i++) {
      double d2 = 0;
      for (PetscInt j = 0; j < P; j++) {
        const double u = (params[i * P + j] - s->points[r * P + j]) / c->param_sd[j];
        d2 += u * u;
      }
      pairs[2 * i] = d2, pairs[2 * i + 1] = (double)i;
    }
    qsort(pairs, (size_t)n, 2 * sizeof(double), by_distance);
    double *pool = s->point_pool + r * s->knn;
    for (PetscInt i = 0; i < s->knn; i++) {
      const PetscInt g = (PetscInt)pairs[2 * i + 1];
      pool[i]          = totals[g];
      for (PetscInt j = 0; j < P; j++) u[i * P + j] = (params[g * P + j] - s->points[r * P + j]) / c->param_sd[j];
    }
    if (s->knn_linear) adjust_linear(s->knn, P, u, pool);
    qsort(pool, (size_t)s->knn, sizeof(double), ascending);
  }
  PetscCall(PetscFree2(pairs, u));
  PetscCall(PetscFree2(totals, params));
  PetscFunctionReturn(0);
}

/* Each summary column's sd over the n training members (two passes,
 * members in order; 1 for a constant column). */
static void summary_sd(PetscInt n, PetscInt S, const double *sum, double *sd)
{
  for (PetscInt j = 0; j < S; j++) {
    double m = 0, v = 0;
    for (PetscInt i = 0; i < n; i++) m += sum[i * S + j];
    m /= (double)n;
    for (PetscInt i = 0; i < n; i++) v += PetscSqr(sum[i * S + j] - m);
    sd[j] = sqrt(v / (double)n);
    if (!(sd[j] > 1e-12 * PetscMax(1.0, fabs(m)))) sd[j] = 1.0;
  }
}

/* For each -inputs field, the totals of the inputs_knn training members
 * whose fields' summaries (BOInputSummary: block means on a coarse grid)
 * are nearest to its summary, Euclidean in each column standardised over
 * the training members, ties by member index: the law of the total on that
 * field. A checkpoint without summaries (older) keeps the pooled totals. */
static PetscErrorCode build_field_pools(BOSampler s)
{
  const BOModelConfig *c  = &s->model->cfg;
  const PetscInt       S  = BOInputSummaryGrid(c->Ny) * BOInputSummaryGrid(c->Nx) * c->num_inputs;
  const size_t         Di = input_field_size(c);
  PetscInt             n, Sc;
  double              *totals, *sums, *pairs, *sd, *mine;

  PetscFunctionBegin;
  PetscCall(BOCheckpointLoadInputSummaries(s->comm, s->checkpoint, &n, &Sc, &totals, &sums));
  s->no_summaries = (PetscBool)(n == 0);
  if (n == 0) {
    PetscCall(PetscFree2(totals, sums));
    PetscFunctionReturn(0);
  }
  PetscCheck(Sc == S, s->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: data_totals/input_summary has %" PetscInt_FMT " columns; the network's grid gives %" PetscInt_FMT,
             s->checkpoint, Sc, S);
  s->inputs_knn  = PetscMin(s->inputs_knn, n);
  s->field_pools = PETSC_TRUE;
  PetscCall(PetscMalloc1(s->ninput_fields * s->inputs_knn, &s->point_pool));
  PetscCall(PetscMalloc3(2 * n, &pairs, S, &sd, S, &mine));
  summary_sd(n, S, sums, sd);
  for (PetscInt f = 0; f < s->ninput_fields; f++) {
    BOInputSummary(c->Nz, c->Ny, c->Nx, c->num_inputs, s->input_fields + f * Di, mine);
    for (PetscInt i = 0; i < n; i++) {
      double d2 = 0;
      for (PetscInt j = 0; j < S; j++) d2 += PetscSqr((sums[i * S + j] - mine[j]) / sd[j]);
      pairs[2 * i] = d2, pairs[2 * i + 1] = (double)i;
    }
    nearest_totals(n, pairs, totals, s->inputs_knn, s->point_pool + f * s->inputs_knn);
  }
  PetscCall(PetscFree3(pairs, sd, mine));
  PetscCall(PetscFree2(totals, sums));
  PetscFunctionReturn(0);
}

PetscErrorCode bo_sample_set_up_params(BOSampler s)
{
  PetscFunctionBegin;
  PetscCall(bo_sample_destroy_params(s));
  PetscCall(load_points(s));
  PetscCall(load_inputs(s));
  if (s->mass < 0 && s->npool > 0 && !strcmp(s->mass_from, "train")) {
    if (s->npoints > 0) PetscCall(build_point_pools(s));
    else if (s->ninput_fields > 0) PetscCall(build_field_pools(s));
  }
  if (s->npoints > 0) PetscCall(PetscMalloc1(s->micro_batch * s->model->cfg.num_params, &s->block_params));
  if (s->ninput_fields > 0)
    PetscCall(PetscMalloc1(s->micro_batch * input_field_size(&s->model->cfg), &s->block_inputs));
  PetscCall(PetscMalloc1(s->micro_batch, &s->drop_all));
  for (PetscInt b = 0; b < s->micro_batch; b++) s->drop_all[b] = PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode bo_sample_destroy_params(BOSampler s)
{
  PetscFunctionBegin;
  PetscCall(PetscFree(s->points));
  PetscCall(PetscFree(s->input_fields));
  PetscCall(PetscFree(s->point_pool));
  s->field_pools = s->no_summaries = PETSC_FALSE;
  PetscCall(PetscFree(s->block_params));
  PetscCall(PetscFree(s->block_inputs));
  PetscCall(PetscFree(s->drop_all));
  s->npoints = s->ninput_fields = 0;
  PetscFunctionReturn(0);
}

static PetscInt point_of(BOSampler s, PetscInt member)
{
  return PetscMin(s->npoints - 1, member / PetscMax(s->members_per_point, 1));
}

double bo_sample_draw_point_total(BOSampler s, PetscInt member, BORng *rng)
{
  if (s->field_pools) { /* (a member without a field is refused by BOSamplerMemberParams) */
    const PetscInt f = s->ninput_fields == 1 ? 0 : PetscMin(member, s->ninput_fields - 1);
    return bo_sample_draw_sorted(s->point_pool + f * s->inputs_knn, s->inputs_knn, rng);
  }
  return bo_sample_draw_sorted(s->point_pool + point_of(s, member) * s->knn, s->knn, rng);
}

PetscErrorCode BOSamplerMemberParams(BOSampler s, PetscInt first, PetscInt n, double *params, float *inputs)
{
  const BOModelConfig *c  = &s->model->cfg;
  const PetscInt       P  = c->num_params;
  const size_t         Di = input_field_size(c);

  PetscFunctionBegin;
  for (PetscInt b = 0; params && s->npoints > 0 && b < n; b++)
    PetscCall(PetscArraycpy(params + b * P, s->points + point_of(s, first + b) * P, P));
  for (PetscInt b = 0; inputs && s->ninput_fields > 0 && b < n; b++) {
    const PetscInt f = s->ninput_fields == 1 ? 0 : first + b;
    PetscCheck(f < s->ninput_fields, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ,
               "-inputs %s has %" PetscInt_FMT
               " fields: give one for all members or one per member (member %" PetscInt_FMT " has none)",
               s->inputs_file, s->ninput_fields, first + b);
    PetscCall(PetscArraycpy(inputs + b * Di, s->input_fields + f * Di, Di));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode bo_sample_view_params(BOSampler s, PetscViewer viewer)
{
  const BOModelConfig *c = &s->model->cfg;

  PetscFunctionBegin;
  if (s->npoints == 1) {
    char   text[1024] = "";
    size_t len        = 0;
    for (PetscInt j = 0; j < c->num_params; j++) {
      PetscCall(PetscSNPrintf(text + len, sizeof(text) - len, "%s%g", j ? "," : "", s->points[j]));
      PetscCall(PetscStrlen(text, &len));
    }
    PetscCall(PetscViewerASCIIPrintf(viewer, "  params %s = %s\n", c->param_names, text));
  } else if (s->npoints > 1)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "  params %s: %" PetscInt_FMT " points of %s, %" PetscInt_FMT " members each\n",
                                     c->param_names, s->npoints, s->params_file, s->members_per_point));
  if (s->point_pool && !s->field_pools)
    PetscCall(PetscViewerASCIIPrintf(
        viewer, "  member totals: drawn from the %" PetscInt_FMT " training members nearest to the member's params%s\n",
        s->knn, s->knn_linear ? ", moved to the point by a linear fit" : ""));
  if (s->field_pools)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "  member totals: drawn from the %" PetscInt_FMT
                                     " training members whose input fields are nearest to the member's\n",
                                     s->inputs_knn));
  if (s->no_summaries)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "  member totals: note: %s keeps no input-field summaries (written before 2 Dec "
                                     "2026): the totals are drawn from all training members, whatever the field\n",
                                     s->checkpoint));
  if (s->ninput_fields > 0)
    PetscCall(PetscViewerASCIIPrintf(viewer, "  input fields: %s (%s)\n", s->inputs_file,
                                     s->ninput_fields == 1 ? "one for all members"
                                                           : "one per member: member m takes field m"));
  PetscFunctionReturn(0);
}
