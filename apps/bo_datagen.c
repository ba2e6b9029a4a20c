static const char help[] = "bo_datagen: reference simulators that make count training data.\n"
                           "\n"
                           "  mpirun -n 2 bo_datagen -kind reservoir -n 64 -nx 32 -ny 32 -out r.h5\n"
                           "  mpirun -n 2 bo_datagen -kind reservoir -n 64 -nx 32 -ny 32 -nz 8 -out r3.h5\n"
                           "  mpirun -n 2 bo_datagen -kind genes -n 500 -genes 32 -out g.h5\n"
                           "\n"
                           "reservoir: tracer particle counts per cell after injecting -pvi pore volumes\n"
                           "  into a channelised Gaussian log-permeability field (Darcy flow solved with\n"
                           "  KSP, options prefix -darcy_); -reservoir_output permeability gives\n"
                           "  log k quantised into -levels levels instead.\n"
                           "  -nz NZ > 1: the same model in 3-D (7-point Darcy flow, injection through\n"
                           "  x = 0, no flow through y and z walls), written as 3-D fields\n"
                           "  (N, Nz, Ny, Nx) with Mz and a 3-D XDMF sidecar; -nz 1 (default): 2-D.\n"
                           "  Per-realization parameters: -corr_len_range lo,hi -sigma_range lo,hi\n"
                           "  -pvi_range lo,hi (one value fixes it) draw each realization's corr_len,\n"
                           "  sigma, pvi; -params_file P.h5 simulates -n realizations at each row of its\n"
                           "  params. Either writes params (N, 3) and, with the log-permeability on the\n"
                           "  output grid, inputs (N, ny, nx), or (N, nz, ny, nx) in 3-D, beside the\n"
                           "  counts (-write_inputs 0: params only).\n"
                           "  -realizations_per_field R: member m is on permeability field m / R (and its\n"
                           "  params draw), with its own tracer walk; R must divide -n.\n"
                           "genes: exact Gillespie simulation of a bursty gene-regulatory network;\n"
                           "  labels are the cell types. -stimulus S multiplies the master regulator's\n"
                           "  burst frequency; -stimulus_range lo,hi draws it per cell, or -params_file\n"
                           "  P.h5 simulates -n cells at each row of its params (column stimulus); either\n"
                           "  writes params (N, 1), names stimulus, beside the counts.\n"
                           "Realizations are spread over ranks; each is a pure function of (-seed, index),\n"
                           "so the file is identical for any number of ranks. Writer options: -io_type,\n"
                           "-io_deflate, -io_xdmf. -png FILE draws the first members (2-D fields and\n"
                           "genes; not 3-D fields yet).\n";

#include "bo_dataset.h"
#include "bo_sim.h"
#include "bo_io.h"
#include "bo_png.h"
#include "bo_sys.h"

typedef enum { KIND_RESERVOIR, KIND_GENES } Kind;
static const char *const kinds[] = {"reservoir", "genes"};

typedef struct {
  Kind              kind;
  PetscInt          n, seed;
  char              out[PETSC_MAX_PATH_LEN], png[PETSC_MAX_PATH_LEN];
  BOReservoirParams res;
  BOGenesParams     genes;
  PetscInt          ndim, shape[4], D;
  PetscBool         help;
  /* parameters per realization (params, and for the reservoir inputs, beside the counts) */
  BOReservoirRanges ranges;
  BOGenesRanges     gene_ranges;
  PetscInt          np; /* parameters of the kind: BO_RESERVOIR_NPARAMS or BO_GENES_NPARAMS */
  char              params_file[PETSC_MAX_PATH_LEN];
  PetscInt          rows;       /* -params_file: its rows, each simulated n times */
  double           *table;      /* rows x np */
  PetscBool         parametric; /* a range or -params_file: write params */
  PetscBool         inputs;     /* write the log-permeability as inputs */
  PetscInt          N;          /* members: n, or n x rows */
  PetscInt          per_field;  /* -realizations_per_field: member m is on the field (and params) of m / per_field */
} Options;

static const char *const *param_names(const Options *o)
{
  return o->kind == KIND_RESERVOIR ? BOReservoirParamNames : BOGenesParamNames;
}

/* The kind's parameter names, joined by sep ("corr_len,sigma,pvi"). */
static void join_param_names(const Options *o, const char *sep, char *buf, size_t len)
{
  buf[0] = 0;
  for (PetscInt q = 0; q < o->np; q++)
    snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", q ? sep : "", param_names(o)[q]);
}

/* The values of the options (a row's columns not in a params file). */
static void option_params(const Options *o, double *t)
{
  if (o->kind == KIND_RESERVOIR) t[0] = o->res.corr_len, t[1] = o->res.sigma, t[2] = o->res.pvi;
  else t[0] = o->genes.stimulus;
}

/* An error naming what when the values t are outside the kind's domain. */
static PetscErrorCode check_params(const Options *o, MPI_Comm comm, const double *t, const char *what)
{
  BOReservoirParams pr;
  BOGenesParams     pg;

  PetscFunctionBegin;
  if (o->kind == KIND_RESERVOIR) PetscCall(BOReservoirApplyParams(comm, &o->res, t, what, &pr));
  else PetscCall(BOGenesApplyParams(comm, &o->genes, t, what, &pg));
  PetscFunctionReturn(0);
}

/* -params_file: its columns by name onto the kind's parameters (reservoir:
 * corr_len, sigma, pvi; genes: stimulus), the others from the options; every
 * row checked. Every rank reads the file. */
static PetscErrorCode load_params_file(Options *o)
{
  char     names[BO_NAMES_LEN], *tok, *save, what[PETSC_MAX_PATH_LEN + 32], list[64];
  PetscInt P, col[BO_RESERVOIR_NPARAMS + 1], j = 0;
  double  *v;

  PetscFunctionBegin;
  PetscCall(BOParamsFileRead(PETSC_COMM_WORLD, o->params_file, &o->rows, &P, &v, names));
  join_param_names(o, ", ", list, sizeof(list));
  for (tok = strtok_r(names, ",", &save); tok; tok = strtok_r(NULL, ",", &save), j++) {
    PetscInt which = -1;
    for (PetscInt q = 0; q < o->np; q++)
      if (!strcmp(tok, param_names(o)[q])) which = q;
    PetscCheck(which >= 0, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "%s: params column %s is not a %s parameter (%s)",
               o->params_file, tok, kinds[o->kind], list);
    for (PetscInt q = 0; q < j; q++)
      PetscCheck(col[q] != which, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "%s: params column %s appears twice",
                 o->params_file, tok);
    col[j] = which;
  }
  PetscCall(PetscMalloc1((size_t)o->rows * o->np, &o->table));
  for (PetscInt r = 0; r < o->rows; r++) {
    double *t = o->table + (size_t)r * o->np;
    option_params(o, t);
    for (PetscInt c = 0; c < P; c++) t[col[c]] = v[(size_t)r * P + c];
    snprintf(what, sizeof(what), "%s: params row %" PetscInt_FMT, o->params_file, r);
    PetscCall(check_params(o, PETSC_COMM_WORLD, t, what));
  }
  PetscCall(PetscFree(v));
  PetscFunctionReturn(0);
}

/* The parameters of member m (np values): its params_file row, or drawn from
 * the ranges (a reservoir field's one draw: that of its first member). */
static void member_params(const Options *o, PetscInt m, double *v)
{
  if (o->table)
    for (PetscInt j = 0; j < o->np; j++) v[j] = o->table[(size_t)(m / o->n) * o->np + j];
  else if (o->kind == KIND_RESERVOIR) BOReservoirDrawParams(&o->ranges, (uint64_t)o->seed, m / o->per_field, v);
  else BOGenesDrawParams(&o->gene_ranges, (uint64_t)o->seed, m, v);
}

static PetscErrorCode get_options(Options *o)
{
  PetscInt  kind = 0;
  PetscBool inputs_set, per_field_set;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(o, sizeof(*o)));
  o->n = 64, o->seed = 1, o->per_field = 1;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "bo_datagen options", NULL);
  PetscCall(PetscOptionsEList("-kind", "simulator", NULL, kinds, 2, kinds[0], &kind, NULL));
  PetscCall(PetscOptionsInt("-n", "realizations (members)", NULL, o->n, &o->n, NULL));
  PetscCall(PetscOptionsInt("-seed", "random seed", NULL, o->seed, &o->seed, NULL));
  PetscCall(PetscOptionsString("-out", "output HDF5 file", NULL, o->out, o->out, sizeof(o->out), NULL));
  PetscCall(
      PetscOptionsString("-png", "picture of the first members (PNG)", NULL, o->png, o->png, sizeof(o->png), NULL));
  PetscCall(PetscOptionsString("-params_file",
                               "HDF5 file whose params rows (reservoir: corr_len, sigma, pvi; genes: stimulus) are "
                               "simulated -n times each",
                               NULL, o->params_file, o->params_file, sizeof(o->params_file), NULL));
  PetscCall(PetscOptionsBool("-write_inputs",
                             "reservoir: write each realization's log-permeability as inputs (default: with params)",
                             NULL, o->inputs, &o->inputs, &inputs_set));
  PetscCall(PetscOptionsInt("-realizations_per_field",
                            "reservoir: R tracer walks per permeability field (and params draw): member m is on "
                            "field m / R",
                            NULL, o->per_field, &o->per_field, &per_field_set));
  PetscOptionsEnd();
  PetscCall(PetscOptionsHasHelp(NULL, &o->help));
  if (o->help) { /* -help: list every option, do nothing */
    PetscInt one = 1;
    BOWriter w;
    PetscCall(BOReservoirParamsSetFromOptions(PETSC_COMM_WORLD, &o->res));
    PetscCall(BOReservoirRangesSetFromOptions(PETSC_COMM_WORLD, &o->res, &o->ranges));
    PetscCall(BOGenesParamsSetFromOptions(PETSC_COMM_WORLD, &o->genes));
    PetscCall(BOGenesRangesSetFromOptions(PETSC_COMM_WORLD, &o->genes, &o->gene_ranges));
    PetscCall(BOWriterCreate(PETSC_COMM_WORLD, "help.h5", NULL, 1, 1, &one, &w));
    PetscCall(BOWriterSetFromOptions(w));
    PetscCall(BOWriterDestroy(&w));
    PetscFunctionReturn(0);
  }
  PetscCheck(o->out[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "give the output file with -out FILE");
  PetscCheck(o->n >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-n must be at least 1");
  PetscCheck(o->seed >= 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-seed must be non-negative");
  {
    const BOFileArg out[] = {{"-out", o->out}}, png[] = {{"-png", o->png}}, in[] = {{"-params_file", o->params_file}};
    PetscCall(BOCheckEnsembleOutputs(PETSC_COMM_WORLD, 1, out, 1, png, 1, in));
  }
  o->kind = (Kind)kind;
  o->N    = o->n;
  PetscCheck(o->kind == KIND_RESERVOIR || !o->inputs, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
             "-write_inputs is for -kind reservoir (genes have no input fields)");
  PetscCheck(o->kind == KIND_RESERVOIR || !per_field_set, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
             "-realizations_per_field is for -kind reservoir");
  PetscCheck(o->per_field >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE,
             "-realizations_per_field %" PetscInt_FMT ": must be at least 1", o->per_field);
  PetscCheck(o->n % o->per_field == 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_INCOMP,
             "-realizations_per_field %" PetscInt_FMT " does not divide -n %" PetscInt_FMT
             " (every field gets the same number of realizations%s)",
             o->per_field, o->n, o->params_file[0] ? ", within one -params_file row" : "");
  if (o->kind == KIND_RESERVOIR) {
    o->np = BO_RESERVOIR_NPARAMS;
    PetscCall(BOReservoirParamsSetFromOptions(PETSC_COMM_WORLD, &o->res));
    PetscCall(BOReservoirRangesSetFromOptions(PETSC_COMM_WORLD, &o->res, &o->ranges));
    PetscCheck(!(o->ranges.set && o->params_file[0]), PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
               "give either -params_file or ranges (-corr_len_range, -sigma_range, -pvi_range), not both");
    if (o->params_file[0]) PetscCall(load_params_file(o));
    if (o->params_file[0]) o->N = o->n * o->rows;
    PetscCheck(o->per_field == 1 || o->res.output == BO_RESERVOIR_TRACER, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
               "-realizations_per_field %" PetscInt_FMT " with -reservoir_output permeability: the realizations of "
               "a field would be identical copies",
               o->per_field);
    o->parametric = (PetscBool)(o->ranges.set || o->params_file[0]);
    if (!inputs_set) o->inputs = o->parametric;
    if (o->res.nz > 1) /* a 3-D field (Nz, Ny, Nx, C = 1): (N, Nz, Ny, Nx) with Mz */
      o->ndim = 4, o->shape[0] = o->res.nz, o->shape[1] = o->res.ny, o->shape[2] = o->res.nx, o->shape[3] = 1;
    else o->ndim = 2, o->shape[0] = o->res.ny, o->shape[1] = o->res.nx;
    o->D = o->res.nx * o->res.ny * o->res.nz;
  } else {
    PetscBool nz_set;
    PetscCall(PetscOptionsHasName(NULL, NULL, "-nz", &nz_set));
    PetscCheck(!nz_set, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "-nz is for -kind reservoir (genes have no grid)");
    o->np = BO_GENES_NPARAMS;
    PetscCall(BOGenesParamsSetFromOptions(PETSC_COMM_WORLD, &o->genes));
    PetscCall(BOGenesRangesSetFromOptions(PETSC_COMM_WORLD, &o->genes, &o->gene_ranges));
    PetscCheck(!(o->gene_ranges.set && o->params_file[0]), PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
               "give either -params_file or -stimulus_range, not both");
    if (o->params_file[0]) PetscCall(load_params_file(o));
    if (o->params_file[0]) o->N = o->n * o->rows;
    o->parametric = (PetscBool)(o->gene_ranges.set || o->params_file[0]);
    o->ndim = 1, o->shape[0] = o->genes.genes, o->D = o->genes.genes;
  }
  PetscFunctionReturn(0);
}

/* Provenance: what made the file. */
static PetscErrorCode set_attributes(BOWriter w, const Options *o)
{
  PetscFunctionBegin;
  PetscCall(BOWriterSetAttributeString(w, "generator", kinds[o->kind]));
  PetscCall(BOWriterSetAttributeInt(w, "seed", o->seed));
  if (o->kind == KIND_RESERVOIR) {
    const BOReservoirParams *p = &o->res;
    PetscCall(BOWriterSetAttributeString(
        w, "quantity", p->output == BO_RESERVOIR_TRACER ? "tracer particles per cell" : "log-permeability level"));
    PetscCall(BOWriterSetAttributeReal(w, "corr_len", p->corr_len));
    PetscCall(BOWriterSetAttributeReal(w, "sigma", p->sigma));
    PetscCall(BOWriterSetAttributeInt(w, "channels", p->channels));
    PetscCall(BOWriterSetAttributeReal(w, "channel_width", p->channel_width));
    PetscCall(BOWriterSetAttributeReal(w, "channel_contrast", p->channel_contrast));
    PetscCall(BOWriterSetAttributeReal(w, "particles_per_cell", p->particles_per_cell));
    PetscCall(BOWriterSetAttributeReal(w, "pvi", p->pvi));
    PetscCall(BOWriterSetAttributeReal(w, "dispersivity", p->dispersivity));
    if (p->nz > 1 || p->tracer_step != 0.25) /* 2-D files with the default step stay as they were */
      PetscCall(BOWriterSetAttributeReal(w, "tracer_step", p->tracer_step));
    if (o->per_field > 1) PetscCall(BOWriterSetAttributeInt(w, "realizations_per_field", o->per_field));
    if (o->ranges.set) {
      char ranges[256];
      snprintf(ranges, sizeof(ranges), "corr_len %g..%g, sigma %g..%g, pvi %g..%g (uniform)", o->ranges.lo[0],
               o->ranges.hi[0], o->ranges.lo[1], o->ranges.hi[1], o->ranges.lo[2], o->ranges.hi[2]);
      PetscCall(BOWriterSetAttributeString(w, "param_ranges", ranges));
    }
  } else {
    PetscCall(BOWriterSetAttributeString(w, "quantity", "captured mRNA per gene"));
    PetscCall(BOWriterSetAttributeInt(w, "tfs", o->genes.tfs));
    PetscCall(BOWriterSetAttributeInt(w, "cell_types", o->genes.cell_types));
    PetscCall(BOWriterSetAttributeReal(w, "t_sim", o->genes.t_end));
    PetscCall(BOWriterSetAttributeReal(w, "capture", o->genes.capture));
    if (o->genes.stimulus != 1) /* files without it stay as they were */
      PetscCall(BOWriterSetAttributeReal(w, "stimulus", o->genes.stimulus));
    if (o->gene_ranges.set) {
      char ranges[96];
      snprintf(ranges, sizeof(ranges), "stimulus %g..%g (uniform)", o->gene_ranges.lo[0], o->gene_ranges.hi[0]);
      PetscCall(BOWriterSetAttributeString(w, "param_ranges", ranges));
    }
  }
  if (o->params_file[0]) PetscCall(BOWriterSetAttributeString(w, "params_file", o->params_file));
  if (o->params_file[0]) PetscCall(BOWriterSetAttributeInt(w, "realizations_per_row", o->n));
  PetscFunctionReturn(0);
}

/* Rank 0 draws members 0 .. nshow-1, gathered from their owners: 2-D fields
 * as tiles, 3-D ones as a row of z-slices each, count vectors as a heat map. */
static PetscErrorCode write_picture(const Options *o, PetscInt first, PetscInt nlocal, const float *x)
{
  PetscMPIInt rank, size, mine, *cnt = NULL, *dsp = NULL;
  PetscInt    nshow = PetscMin(o->N, o->kind == KIND_RESERVOIR ? (o->ndim == 4 ? 8 : 16) : 64);
  float      *all   = NULL;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  mine = (PetscMPIInt)(PetscMax(0, PetscMin(nlocal, nshow - first)) * o->D);
  if (rank == 0) PetscCall(PetscMalloc3(size, &cnt, size, &dsp, (size_t)nshow * o->D, &all));
  PetscCallMPI(MPI_Gather(&mine, 1, MPI_INT, cnt, 1, MPI_INT, 0, PETSC_COMM_WORLD));
  if (rank == 0)
    for (PetscMPIInt r = 0; r < size; r++) dsp[r] = r ? dsp[r - 1] + cnt[r - 1] : 0;
  PetscCallMPI(MPI_Gatherv(x, mine, MPI_FLOAT, all, cnt, dsp, MPI_FLOAT, 0, PETSC_COMM_WORLD));
  if (rank == 0) {
    char caption[96];
    if (o->kind == KIND_RESERVOIR && o->ndim == 4) {
      snprintf(caption, sizeof(caption), "rows: members 1 to %d; columns: z-slices", (int)nshow);
      PetscCall(BOPNGWriteVolumes(o->png, nshow, o->res.nz, o->res.ny, o->res.nx, 1, all, -1,
                                  &(BOPNGLabels){"reservoir tracer counts", caption, "count", PETSC_FALSE}));
    } else if (o->kind == KIND_RESERVOIR) {
      snprintf(caption, sizeof(caption), "members 1 to %d, left to right, top to bottom", (int)nshow);
      PetscCall(BOPNGWriteFields(o->png, nshow, o->res.ny, o->res.nx, 1, all, -1,
                                 &(BOPNGLabels){"reservoir tracer counts", caption, "count", PETSC_FALSE}));
    } else {
      snprintf(caption, sizeof(caption), "rows: cells 1 to %d; columns: genes", (int)nshow);
      PetscCall(BOPNGWriteHeatmap(o->png, nshow, o->genes.genes, all, -1,
                                  &(BOPNGLabels){"cells x genes", caption, "count (log scale)", PETSC_FALSE}));
    }
    PetscCall(PetscFree3(cnt, dsp, all));
  }
  PetscFunctionReturn(0);
}

/* Cell m: its stimulus (into par, if parametric), counts and cell type. */
static PetscErrorCode realize_genes(const Options *o, PetscInt m, float *x, double *par, PetscInt *label)
{
  BOGenesParams pk = o->genes;

  PetscFunctionBegin;
  if (par) {
    member_params(o, m, par);
    PetscCall(BOGenesApplyParams(PETSC_COMM_SELF, &o->genes, par, "cell", &pk));
  }
  PetscCall(BOGenesRealize(&pk, (uint64_t)o->seed, m, x, label));
  PetscFunctionReturn(0);
}

/* Reservoir member m, on the field of member m / per_field with its own
 * tracer walk: its parameters (into par, if parametric) and, if in != NULL,
 * its log-permeability on the output grid as inputs. */
static PetscErrorCode realize_reservoir(const Options *o, PetscInt m, float *x, double *par, float *in)
{
  BOReservoirParams pk   = o->res;
  double           *logk = NULL;

  PetscFunctionBegin;
  if (par) {
    member_params(o, m, par);
    PetscCall(BOReservoirApplyParams(PETSC_COMM_SELF, &o->res, par, "realization", &pk));
  }
  if (in) PetscCall(PetscMalloc1(o->D, &logk));
  PetscCall(BOReservoirRealizeOnField(&pk, (uint64_t)o->seed, m / o->per_field, m, x, logk));
  for (PetscInt c = 0; in && c < o->D; c++) in[c] = (float)logk[c];
  PetscCall(PetscFree(logk));
  PetscFunctionReturn(0);
}

static PetscErrorCode run(void)
{
  Options     o;
  PetscMPIInt rank, size;
  PetscInt    first, nlocal, *labels;
  float      *x, *in = NULL;
  double     *par     = NULL;
  double      t_start = BOWallTime(), cost[3] = {0, 1e300, 0}, vmax = 0, wall; /* sum, min, max */
  BOWriter    w;

  PetscFunctionBegin;
  /* 1. Options and this rank's block of realizations. */
  PetscCall(get_options(&o));
  if (o.help) PetscFunctionReturn(0);
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  BODatasetShard(o.N, size, rank, &first, &nlocal);
  PetscCall(PetscMalloc2((size_t)nlocal * o.D + 1, &x, nlocal + 1, &labels));
  if (o.parametric) PetscCall(PetscMalloc1((size_t)nlocal * o.np + 1, &par));
  if (o.inputs) PetscCall(PetscMalloc1((size_t)nlocal * o.D + 1, &in));

  /* 2. Simulate; each realization depends only on (seed, index). */
  for (PetscInt i = 0; i < nlocal; i++) {
    double t0 = BOWallTime(), dt;
    if (o.kind == KIND_RESERVOIR)
      PetscCall(realize_reservoir(&o, first + i, x + (size_t)i * o.D, par ? par + (size_t)i * o.np : NULL,
                                  in ? in + (size_t)i * o.D : NULL));
    else PetscCall(realize_genes(&o, first + i, x + (size_t)i * o.D, par ? par + (size_t)i * o.np : NULL, &labels[i]));
    dt = BOWallTime() - t0;
    cost[0] += dt, cost[1] = PetscMin(cost[1], dt), cost[2] = PetscMax(cost[2], dt);
  }
  for (size_t i = 0; i < (size_t)nlocal * o.D; i++) vmax = PetscMax(vmax, (double)x[i]);
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &vmax, 1, MPI_DOUBLE, MPI_MAX, PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &cost[0], 1, MPI_DOUBLE, MPI_SUM, PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &cost[1], 1, MPI_DOUBLE, MPI_MIN, PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &cost[2], 1, MPI_DOUBLE, MPI_MAX, PETSC_COMM_WORLD));

  /* 3. Write collectively (temporary name, renamed on success). */
  PetscCall(BOWriterCreate(PETSC_COMM_WORLD, o.out, "counts", o.N, o.ndim, o.shape, &w));
  PetscCall(BOWriterSetMaxCount(w, vmax));
  PetscCall(BOWriterSetLabels(w, o.kind == KIND_GENES ? PETSC_TRUE : PETSC_FALSE));
  if (o.parametric) {
    char names[64];
    join_param_names(&o, ",", names, sizeof(names));
    PetscCall(BOWriterSetParams(w, o.np, names));
  }
  if (o.inputs) PetscCall(BOWriterSetInputs(w, 1));
  PetscCall(BOWriterSetFromOptions(w));
  PetscCall(set_attributes(w, &o));
  PetscCall(BOWriterSetAttributeReal(w, "seconds_per_realization", cost[0] / o.N));
  PetscCall(BOWriterWrite(w, first, nlocal, x));
  if (o.kind == KIND_GENES) PetscCall(BOWriterWriteLabels(w, first, nlocal, labels));
  if (o.parametric) PetscCall(BOWriterWriteParams(w, first, nlocal, par));
  if (o.inputs) PetscCall(BOWriterWriteInputs(w, first, nlocal, in));
  PetscCall(BOWriterClose(w));
  PetscCall(BOWriterDestroy(&w));
  if (o.png[0]) PetscCall(write_picture(&o, first, nlocal, x));

  /* 4. Cost report. */
  wall = BOWallTime() - t_start;
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "bo_datagen: %" PetscInt_FMT " %s realizations", o.N, kinds[o.kind]));
  if (o.kind == KIND_RESERVOIR && o.ndim == 4)
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, " of %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT, o.res.nz,
                          o.res.ny, o.res.nx));
  else if (o.kind == KIND_RESERVOIR)
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, " of %" PetscInt_FMT " x %" PetscInt_FMT, o.res.ny, o.res.nx));
  else PetscCall(PetscPrintf(PETSC_COMM_WORLD, " of %" PetscInt_FMT " genes", o.genes.genes));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, " -> %s (max count %lld) on %d rank%s in %.3f s\n", o.out, (long long)vmax,
                        size, size > 1 ? "s" : "", wall));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "bo_datagen: cost per realization %.3f ms (min %.3f, max %.3f ms)\n",
                        1e3 * cost[0] / o.N, 1e3 * cost[1], 1e3 * cost[2]));
  PetscCall(PetscFree2(x, labels));
  PetscCall(PetscFree2(par, in));
  PetscCall(PetscFree(o.table));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  if (BOAppArgs(&argc, argv, "bo_datagen", help)) return 1;
  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  ierr = BOAppStart("bo_datagen");
  if (!ierr) ierr = run();
  return BOAppFinish(ierr);
}
