static const char help[] =
    "bo_convert: other formats -> Blackout count data (HDF5, the layout of docs/DATA.md).\n"
    "\n"
    "  bo_convert -format csv -in digits.csv.gz -shape 8,8 -label_column 64 -out digits.h5\n"
    "  bo_convert -format csv -in digits.csv.gz -shape 8,8 -label_column 64 -shuffle_seed 1 -holdout 297 \\\n"
    "             -holdout_out heldout.h5 -out train.h5    (a random split: train and held-out alike)\n"
    "  bo_convert -format idx -in train-images-idx3-ubyte.gz -labels train-labels-idx1-ubyte.gz -out mnist.h5\n"
    "  bo_convert -format raw -in field.bin -dtype u16 -endian big -shape 64,64 -out fields.h5\n"
    "  bo_convert -format anndata -in cells.h5ad -out cells.h5\n"
    "  bo_convert -format raw -in f.bin -dtype f32 -shape 64,64 -params_csv p.csv -out f.h5   (params per member)\n"
    "  bo_convert -format grdecl -in perm.grdecl -keyword PERMX -quantize log:255 -patch 8,8,4 -out perm.h5\n"
    "             (an Eclipse/OPM keyword file: one 3-D member, or 3-D patches; ACTNUM gives /active)\n"
    "\n"
    "Inputs may be gzip-compressed (csv, idx, raw, grdecl). Values must be non-negative\n"
    "integers below 2^24 (grdecl: or -quantize linear|log:LEVELS); anything else is an\n"
    "error naming the file and place, and no output is written. Writer options:\n"
    "-io_type, -io_deflate, -io_xdmf.\n";

#include "bo_dataset.h"
#include "bo_io.h"
#include "bo_sys.h"

typedef enum { FMT_CSV, FMT_IDX, FMT_RAW, FMT_ANNDATA, FMT_GRDECL } Format;
static const char *const formats[] = {"csv", "idx", "raw", "anndata", "grdecl"};
static const char *const endians[] = {"little", "big"};

typedef struct {
  Format    format;
  char      in[PETSC_MAX_PATH_LEN], out[PETSC_MAX_PATH_LEN], labels[PETSC_MAX_PATH_LEN];
  char      params_csv[PETSC_MAX_PATH_LEN]; /* one row of parameters per input member */
  char      in_name[256], out_name[256];
  PetscInt  shape[4], ndim; /* room for one axis too many, to refuse it */
  PetscInt  label_column, drop_column, patch, stride;
  PetscInt  patch3[4], npatch; /* -patch P or PX,PY,PZ (grdecl); a 4th value is an error */
  PetscInt  stride_given;      /* -stride as given (grdecl: 0 gives the patch size per axis) */
  char      keyword[32];       /* grdecl: the property */
  char      quantize[64];      /* grdecl: linear:LEVELS or log:LEVELS */
  PetscInt  keep;              /* -n: only the first `keep` samples (0: all) */
  PetscInt  holdout;           /* the last `holdout` of them go to holdout_out */
  PetscInt  shuffle_seed;      /* > 0: members in a random order keyed by it, before -n and -holdout */
  char      holdout_out[PETSC_MAX_PATH_LEN];
  PetscBool header, big_endian, help;
  PetscBool top_down; /* -row_order top_down: row 0 of a field is its top (images) */
  BORawType dtype;
  PetscInt  offset;
} Options;

/* What -format grdecl takes, and what the others do not. */
static PetscErrorCode check_grdecl_options(const Options *o, Format fmt)
{
  PetscFunctionBegin;
  if (fmt != FMT_GRDECL) {
    PetscCheck(o->npatch <= 1, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "-patch PX,PY,PZ is for -format grdecl");
    PetscCheck(!o->keyword[0] && !o->quantize[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
               "-keyword and -quantize are for -format grdecl");
    PetscFunctionReturn(0);
  }
  PetscCheck(o->ndim == 0 || o->ndim == 3, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
             "-shape: -format grdecl takes Nx,Ny,Nz (3 values), not %" PetscInt_FMT, o->ndim);
  PetscCheck(o->npatch == 0 || o->npatch == 1 || o->npatch == 3, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
             "-patch: -format grdecl takes P or PX,PY,PZ");
  PetscCheck(!o->keep && !o->shuffle_seed && !o->holdout && !o->params_csv[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
             "-n, -shuffle_seed, -holdout and -params_csv are not supported with -format grdecl");
  PetscFunctionReturn(0);
}

static PetscErrorCode get_options(Options *o)
{
  PetscInt    fmt = -1, endian = 0, row_order = 0;
  const char *row_orders[] = {"top_down", "bottom_up"};
  PetscBool   set;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(o, sizeof(*o)));
  o->label_column = o->drop_column = -1;
  o->ndim                          = 4;
  PetscCall(PetscStrncpy(o->in_name, "X", sizeof(o->in_name)));
  PetscCall(PetscStrncpy(o->out_name, "counts", sizeof(o->out_name)));
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "bo_convert options", NULL);
  PetscCall(PetscOptionsEList("-format", "input format", NULL, formats, 5, NULL, &fmt, &set));
  PetscCall(PetscOptionsString("-in", "input file", NULL, o->in, o->in, sizeof(o->in), NULL));
  PetscCall(PetscOptionsString("-out", "output HDF5 file", NULL, o->out, o->out, sizeof(o->out), NULL));
  PetscCall(PetscOptionsString("-out_name", "dataset name in the output", NULL, o->out_name, o->out_name,
                               sizeof(o->out_name), NULL));
  PetscCall(PetscOptionsIntArray("-shape", "sample shape: Ny,Nx[,C] (fields) or G (vectors); grdecl: Nx,Ny,Nz", NULL,
                                 o->shape, &o->ndim, &set));
  if (!set) o->ndim = 0;
  PetscCall(PetscOptionsInt("-label_column", "csv: 0-based column holding the label", NULL, o->label_column,
                            &o->label_column, NULL));
  PetscCall(
      PetscOptionsInt("-drop_column", "csv: 0-based column to ignore", NULL, o->drop_column, &o->drop_column, NULL));
  PetscCall(PetscOptionsBool("-csv_header", "csv: skip the first line", NULL, o->header, &o->header, NULL));
  PetscCall(
      PetscOptionsString("-labels", "idx: idx1 file of labels", NULL, o->labels, o->labels, sizeof(o->labels), NULL));
  PetscCall(PetscOptionsString("-params_csv", "CSV of the members' parameters: one row each (a header row names them)",
                               NULL, o->params_csv, o->params_csv, sizeof(o->params_csv), NULL));
  PetscCall(PetscOptionsEnum("-dtype", "raw: element type", NULL, BORawTypes, (PetscEnum)o->dtype,
                             (PetscEnum *)&o->dtype, NULL));
  PetscCall(PetscOptionsEList("-endian", "raw: byte order", NULL, endians, 2, "little", &endian, NULL));
  PetscCall(PetscOptionsInt("-offset", "raw: header bytes to skip", NULL, o->offset, &o->offset, NULL));
  PetscCall(PetscOptionsString("-in_name", "anndata: matrix (dense dataset or CSR group)", NULL, o->in_name, o->in_name,
                               sizeof(o->in_name), NULL));
  o->npatch = 4;
  PetscCall(PetscOptionsIntArray("-patch", "cut fields into P x P patches (grdecl: P x P x P or PX,PY,PZ; 0: no)", NULL,
                                 o->patch3, &o->npatch, &set));
  if (!set) o->npatch = 0;
  o->patch = o->patch3[0];
  PetscCall(PetscOptionsString("-keyword", "grdecl: the property keyword (default: the only one)", NULL, o->keyword,
                               o->keyword, sizeof(o->keyword), NULL));
  PetscCall(PetscOptionsString("-quantize", "grdecl: linear:LEVELS or log:LEVELS (float values to counts)", NULL,
                               o->quantize, o->quantize, sizeof(o->quantize), NULL));
  PetscCall(PetscOptionsInt("-stride", "patch stride (default: the patch size)", NULL, o->stride, &o->stride, NULL));
  PetscCall(PetscOptionsInt("-n", "keep only the first N samples (0: all)", NULL, o->keep, &o->keep, NULL));
  PetscCall(PetscOptionsInt(
      "-shuffle_seed", "put the samples in a random order keyed by S (before -n and -holdout; 0: the input's order)",
      NULL, o->shuffle_seed, &o->shuffle_seed, NULL));
  PetscCall(PetscOptionsInt("-holdout", "move the last H samples to -holdout_out (a held-out test set)", NULL,
                            o->holdout, &o->holdout, NULL));
  PetscCall(PetscOptionsEList("-row_order",
                              "fields: top_down (row 0 is the top: images) or bottom_up (row 0 at the bottom: y up)",
                              NULL, row_orders, 2, row_orders[0], &row_order, NULL));
  PetscCall(PetscOptionsString("-holdout_out", "output HDF5 file of the held-out samples", NULL, o->holdout_out,
                               o->holdout_out, sizeof(o->holdout_out), NULL));
  PetscOptionsEnd();
  PetscCall(PetscOptionsHasHelp(NULL, &o->help));
  if (o->help) PetscFunctionReturn(0); /* -help: list the options, do nothing */
  PetscCheck(fmt >= 0, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "give -format csv|idx|raw|anndata|grdecl");
  PetscCheck(o->in[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "give the input file with -in FILE");
  PetscCheck(o->out[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "give the output file with -out FILE");
  PetscCheck(o->ndim <= 3, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
             "-shape: more than 3 values; it takes Ny,Nx[,C] (fields) or G (vectors)");
  PetscCheck(o->keep >= 0, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "-n %" PetscInt_FMT ": must be >= 0", o->keep);
  PetscCheck(!o->keep || fmt != FMT_ANNDATA, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
             "-n is not supported with -format anndata");
  PetscCheck(o->shuffle_seed >= 0, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
             "-shuffle_seed %" PetscInt_FMT ": must be >= 0", o->shuffle_seed);
  PetscCheck(!o->shuffle_seed || fmt != FMT_ANNDATA, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
             "-shuffle_seed is not supported with -format anndata");
  PetscCheck(o->holdout >= 0, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "-holdout %" PetscInt_FMT ": must be >= 0",
             o->holdout);
  PetscCheck(!o->holdout || o->holdout_out[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
             "-holdout needs -holdout_out FILE");
  PetscCheck(!o->holdout || fmt != FMT_ANNDATA, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
             "-holdout is not supported with -format anndata");
  PetscCheck(!o->params_csv[0] || fmt != FMT_ANNDATA, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
             "-params_csv is not supported with -format anndata");
  PetscCall(check_grdecl_options(o, (Format)fmt));
  {
    const BOFileArg out[] = {{"-out", o->out}, {"-holdout_out", o->holdout_out}},
                    in[]  = {{"-in", o->in}, {"-labels", o->labels}, {"-params_csv", o->params_csv}};
    PetscCall(BOCheckEnsembleOutputs(PETSC_COMM_WORLD, 2, out, 0, NULL, 3, in));
  }
  o->format       = (Format)fmt;
  o->big_endian   = endian == 1 ? PETSC_TRUE : PETSC_FALSE;
  o->top_down     = row_order == 0 ? PETSC_TRUE : PETSC_FALSE;
  o->stride_given = o->stride;
  if (o->stride <= 0) o->stride = o->patch;
  PetscFunctionReturn(0);
}

/* AnnData / 10x: read the matrix with BODataset (each rank its shard). */
static PetscErrorCode read_ann_data(const Options *o, BOArray *a, PetscInt *first, PetscInt *N)
{
  BODataset ds;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(a, sizeof(*a)));
  PetscCall(BODatasetCreate(PETSC_COMM_WORLD, &ds));
  PetscCall(BODatasetSetFile(ds, o->in, o->in_name));
  PetscCall(BODatasetOpen(ds));
  PetscCall(BODatasetRequire2D(ds, "bo_convert")); /* patches and BOArray are 2-D */
  a->N = ds->nlocal, a->D = ds->D, *first = ds->first, *N = ds->N;
  if (ds->is_field) {
    a->ndim     = ds->C > 1 ? 3 : 2;
    a->shape[0] = ds->Ny, a->shape[1] = ds->Nx, a->shape[2] = ds->C;
  } else a->ndim = 1, a->shape[0] = ds->G;
  a->x = ds->x, ds->x = NULL; /* take the shard */
  if (ds->has_labels) a->labels = ds->labels, ds->labels = NULL;
  if (ds->has_params) { /* the file's params and inputs go along with their members */
    a->P = ds->P, a->params = ds->params, ds->params = NULL;
    PetscCall(PetscStrncpy(a->param_names, ds->param_names, sizeof(a->param_names)));
  }
  if (ds->has_inputs) {
    PetscCall(BODatasetLoadInputs(ds));
    a->Ci = ds->Ci, a->inputs = ds->inputs, ds->inputs = NULL;
  }
  PetscCall(BODatasetDestroy(&ds));
  PetscFunctionReturn(0);
}

/* Input-field values per member: Ny x Nx x Ci. */
static size_t inputs_per_member(const BOArray *a) { return (size_t)a->shape[0] * a->shape[1] * a->Ci; }

/* Write members [first, first + nlocal) of a global N held in a (a.x holds
 * exactly these members; offset = index of a.x's first member in a), with
 * labels if any rank has them. Collective. */
static PetscErrorCode write_members(const Options *o, const BOArray *a, PetscInt first, PetscInt N, PetscInt nlocal,
                                    PetscInt offset, const char *path)
{
  BOWriter     w;
  const float *x    = a->x + (size_t)offset * a->D;
  double       vmax = 0;
  PetscInt     any_labels;

  PetscFunctionBegin;
  for (size_t i = 0; i < (size_t)nlocal * a->D; i++) vmax = PetscMax(vmax, (double)x[i]);
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &vmax, 1, MPI_DOUBLE, MPI_MAX, PETSC_COMM_WORLD));
  any_labels = a->labels != NULL;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &any_labels, 1, MPIU_INT, MPI_MAX, PETSC_COMM_WORLD));
  /* a temporary name, renamed when complete; destroyed unclosed on error */
  PetscCall(BOWriterCreate(PETSC_COMM_WORLD, path, o->out_name, N, a->ndim, a->shape, &w));
  PetscCall(BOWriterSetMaxCount(w, vmax));
  PetscCall(BOWriterSetLabels(w, any_labels ? PETSC_TRUE : PETSC_FALSE));
  if (a->P) PetscCall(BOWriterSetParams(w, a->P, a->param_names));
  if (a->Ci) PetscCall(BOWriterSetInputs(w, a->Ci));
  PetscCall(BOWriterSetFromOptions(w));
  if (o->params_csv[0]) PetscCall(BOWriterSetAttributeString(w, "params_source", o->params_csv));
  PetscCall(BOWriterSetAttributeString(w, "source", o->in));
  PetscCall(BOWriterSetAttributeString(w, "source_format", formats[o->format]));
  if (a->ndim >= 2 && o->top_down) PetscCall(BOWriterSetAttributeString(w, "row_order", "top_down"));
  if (o->shuffle_seed) PetscCall(BOWriterSetAttributeInt(w, "shuffle_seed", o->shuffle_seed));
  PetscCall(BOWriterWrite(w, first, nlocal, x));
  if (any_labels) PetscCall(BOWriterWriteLabels(w, first, nlocal, a->labels + offset));
  if (a->P) PetscCall(BOWriterWriteParams(w, first, nlocal, a->params + (size_t)offset * a->P));
  if (a->Ci) PetscCall(BOWriterWriteInputs(w, first, nlocal, a->inputs + (size_t)offset * inputs_per_member(a)));
  PetscCall(BOWriterClose(w));
  PetscCall(BOWriterDestroy(&w));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "bo_convert: wrote %" PetscInt_FMT " samples of %" PetscInt_FMT
                        " counts (max %lld%s%s%s) to %s\n",
                        N, a->D, (long long)vmax, any_labels ? ", with labels" : "", a->P ? ", with params" : "",
                        a->Ci ? ", with inputs" : "", path));
  PetscFunctionReturn(0);
}

/* Samples [lo, lo + n) of an array every rank holds whole: each rank writes
 * its block of them. */
static PetscErrorCode write_range(const Options *o, const BOArray *a, PetscInt lo, PetscInt n, const char *path)
{
  PetscMPIInt rank, size;
  PetscInt    first, nlocal;

  PetscFunctionBegin;
  PetscCheck(n >= 1, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
             "-holdout %" PetscInt_FMT ": the input has only %" PetscInt_FMT " samples", o->holdout, a->N);
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  BODatasetShard(n, size, rank, &first, &nlocal);
  PetscCall(write_members(o, a, first, n, nlocal, lo + first, path));
  PetscFunctionReturn(0);
}

/* -format grdecl: one 3-D member of the property (or 3-D patches of it),
 * with the ACTNUM mask as /active when the file has ACTNUM. Every rank
 * parses the file and writes its block of the members. */
typedef struct {
  PetscInt       N, dims[3]; /* members; member grid Nx, Ny, Nz */
  float         *x;
  unsigned char *active;
  PetscBool      has_actnum;
  BOQuantize     q;
  char           keyword[32];
} Grdecl3D;

static PetscErrorCode read_grdecl(const Options *o, Grdecl3D *m)
{
  BOGrdecl g;
  PetscInt grid[3];

  PetscFunctionBegin;
  PetscCall(PetscMemzero(m, sizeof(*m)));
  PetscCall(BOQuantizeParse(PETSC_COMM_WORLD, o->quantize, &m->q));
  PetscCall(BOGrdeclRead(PETSC_COMM_WORLD, o->in, &g));
  PetscCall(BOGrdeclCounts(PETSC_COMM_WORLD, o->in, &g, o->keyword, o->ndim ? o->shape : NULL, &m->q, m->keyword, grid,
                           &m->x, &m->active));
  for (PetscInt i = 0; i < g.nkw; i++)
    if (!strcmp(g.kw[i].name, "ACTNUM")) m->has_actnum = PETSC_TRUE;
  PetscCall(BOGrdeclDestroy(&g));
  m->N = 1;
  for (int i = 0; i < 3; i++) m->dims[i] = grid[i];
  if (o->patch > 0) {
    PetscInt P[3] = {o->patch3[0], o->npatch == 3 ? o->patch3[1] : o->patch3[0],
                     o->npatch == 3 ? o->patch3[2] : o->patch3[0]},
             S[3];
    for (int i = 0; i < 3; i++) S[i] = o->stride_given > 0 ? o->stride_given : P[i];
    PetscCall(BOGrdeclPatches(grid, P, S, &m->N, &m->x, &m->active));
    for (int i = 0; i < 3; i++) m->dims[i] = P[i];
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode write_grdecl(const Options *o, const Grdecl3D *m)
{
  PetscInt    shape[4] = {m->dims[2], m->dims[1], m->dims[0], 1}, D = m->dims[0] * m->dims[1] * m->dims[2];
  PetscInt    first, nlocal;
  PetscMPIInt rank, size;
  double      vmax = 0;
  BOWriter    w;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  BODatasetShard(m->N, size, rank, &first, &nlocal);
  for (size_t i = 0; i < (size_t)m->N * D; i++) vmax = PetscMax(vmax, (double)m->x[i]);
  PetscCall(BOWriterCreate(PETSC_COMM_WORLD, o->out, o->out_name, m->N, 4, shape, &w));
  PetscCall(BOWriterSetMaxCount(w, vmax));
  PetscCall(BOWriterSetFromOptions(w));
  PetscCall(BOWriterSetAttributeString(w, "source", o->in));
  PetscCall(BOWriterSetAttributeString(w, "source_format", "grdecl"));
  PetscCall(BOWriterSetAttributeString(w, "keyword", m->keyword));
  if (m->q.kind != BO_QUANTIZE_NONE) {
    PetscCall(BOWriterSetAttributeString(w, "quantize", o->quantize));
    PetscCall(BOWriterSetAttributeReal(w, "quantize_min", m->q.lo));
    PetscCall(BOWriterSetAttributeReal(w, "quantize_max", m->q.hi));
  }
  PetscCall(BOWriterWrite(w, first, nlocal, m->x + (size_t)first * D));
  if (m->has_actnum) PetscCall(BOWriterWriteActive(w, first, nlocal, m->active + (size_t)first * D));
  PetscCall(BOWriterClose(w));
  PetscCall(BOWriterDestroy(&w));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "bo_convert: wrote %" PetscInt_FMT " 3-D members of %" PetscInt_FMT " x %" PetscInt_FMT
                        " x %" PetscInt_FMT " counts of %s (max %lld%s) to %s\n",
                        m->N, m->dims[0], m->dims[1], m->dims[2], m->keyword, (long long)vmax,
                        m->has_actnum ? ", with active" : "", o->out));
  PetscFunctionReturn(0);
}

static PetscErrorCode convert_grdecl(const Options *o)
{
  Grdecl3D m;

  PetscFunctionBegin;
  PetscCall(read_grdecl(o, &m));
  PetscCall(write_grdecl(o, &m));
  PetscCall(PetscFree(m.x));
  PetscCall(PetscFree(m.active));
  PetscFunctionReturn(0);
}

static PetscErrorCode run(void)
{
  Options  o;
  BOArray  a;
  BOWriter w     = NULL;
  PetscInt first = 0, N = 0;

  PetscFunctionBegin;
  /* 1. Options. */
  PetscCall(get_options(&o));
  if (o.help) { /* also list the writer's options */
    PetscInt one = 1;
    PetscCall(BOWriterCreate(PETSC_COMM_WORLD, "help.h5", NULL, 1, 1, &one, &w));
    PetscCall(BOWriterSetFromOptions(w));
    PetscCall(BOWriterDestroy(&w));
    PetscFunctionReturn(0);
  }

  if (o.format == FMT_GRDECL) {
    PetscCall(convert_grdecl(&o));
    PetscFunctionReturn(0);
  }
  /* 2. Read and validate the whole input before anything is written. CSV,
   *    idx and raw are parsed by every rank (converters normally run on one);
   *    AnnData is read in shards. */
  switch (o.format) {
  case FMT_CSV:
    PetscCall(BOReadCSV(PETSC_COMM_WORLD, o.in, o.ndim, o.shape, o.label_column, o.drop_column, o.header, &a));
    break;
  case FMT_IDX: PetscCall(BOReadIDX(PETSC_COMM_WORLD, o.in, o.labels, &a)); break;
  case FMT_RAW:
    PetscCall(BOReadRaw(PETSC_COMM_WORLD, o.in, o.dtype, o.big_endian, o.offset, o.ndim, o.shape, &a));
    break;
  case FMT_ANNDATA: PetscCall(read_ann_data(&o, &a, &first, &N)); break;
  case FMT_GRDECL: break; /* converted above */
  }
  if (o.params_csv[0]) PetscCall(BOReadParamsCSV(PETSC_COMM_WORLD, o.params_csv, &a)); /* before any reordering */
  if (o.patch > 0) PetscCall(BOArrayExtractPatches(&a, o.patch, o.stride));
  if (o.shuffle_seed) PetscCall(BOArrayPermute(&a, (uint64_t)o.shuffle_seed));
  if (o.keep) {
    PetscCheck(o.keep <= a.N, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
               "-n %" PetscInt_FMT ": %s has fewer samples (%" PetscInt_FMT ")", o.keep, o.in, a.N);
    a.N = o.keep; /* the rest stays allocated, unread */
  }

  /* 3. Write: the whole array, or the training part and the held-out part. */
  if (o.format == FMT_ANNDATA) PetscCall(write_members(&o, &a, first, N, a.N, 0, o.out));
  else {
    PetscCall(write_range(&o, &a, 0, a.N - o.holdout, o.out));
    if (o.holdout) PetscCall(write_range(&o, &a, a.N - o.holdout, o.holdout, o.holdout_out));
  }
  PetscCall(BOArrayDestroy(&a));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  if (BOAppArgs(&argc, argv, "bo_convert", help)) return 1;
  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  ierr = BOAppStart("bo_convert");
  if (!ierr) ierr = run();
  return BOAppFinish(ierr);
}
