/* Reading checkpoints: one file fully validated (configuration, every
 * tensor, the checksum) on rank 0, the newest valid one among a file and
 * its rotated siblings, and the model alone for sampling. */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ckptimpl.h"

static PetscErrorCode load_group(BOModel model, hid_t file, const char *name, float *buf)
{
  hid_t g;

  PetscFunctionBegin;
  BOCallHDF5(g = H5Gopen2(file, name, H5P_DEFAULT), "group '%s' is missing", name);
  PetscCall(BOModelLoadParams(model, g, buf));
  H5Gclose(g);
  PetscFunctionReturn(0);
}

/* An integer attribute, or def when the file has none. */
static PetscErrorCode read_int_or(hid_t file, const char *name, int64_t def, int64_t *v)
{
  PetscFunctionBegin;
  *v = def;
  if (BOH5HasAttr(file, name)) PetscCall(BOH5ReadAttrInt(file, name, v));
  PetscFunctionReturn(0);
}

static PetscErrorCode read_state_attrs(hid_t file, BOCheckpointState *st)
{
  int64_t step, seed, batch, cond, N;

  PetscFunctionBegin;
  PetscCall(BOH5ReadAttrInt(file, "step", &step));
  PetscCall(read_int_or(file, "seed", 0, &seed));
  PetscCall(read_int_or(file, "batch", 0, &batch));
  PetscCall(read_int_or(file, "conditional", 0, &cond));
  PetscCall(read_int_or(file, "data_N", 0, &N));
  st->step = (PetscInt)step, st->seed = (uint64_t)seed, st->batch = (PetscInt)batch;
  st->conditional = (PetscInt)cond, st->data_N = (PetscInt)N;
  if (BOH5HasAttr(file, "data_max_count")) PetscCall(BOH5ReadAttrReal(file, "data_max_count", &st->data_max_count));
  if (BOH5HasAttr(file, "data_file"))
    PetscCall(BOH5ReadAttrString(file, "data_file", st->data_file, sizeof(st->data_file)));
  PetscFunctionReturn(0);
}

/* Rank 0: everything of one file into a model made (on PETSC_COMM_SELF)
 * from its own configuration, checksum verified. Errors say what is wrong. */
/* Rank 0: everything of one file into a model made (on PETSC_COMM_SELF)
 * from its own configuration, checksum verified (st->checksum). Errors say
 * what is wrong. */
static PetscErrorCode read_file(const char *path, BOProcess proc, BOModel *model, BOCheckpointState *st)
{
  hid_t         file, g;
  BOModelConfig cfg;
  int64_t       stored;
  uint32_t      weights;
  PetscInt      n;
  PetscBool     v1;

  PetscFunctionBegin;
  file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  PetscCheck(file >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "cannot open %s as HDF5 (truncated or not a checkpoint)",
             path);
  v1 = (PetscBool)!BOH5HasAttr(file, BO_CKPT_CHECKSUM);
  PetscCheck(!v1 || BOH5HasAttr(file, BO_CKPT_CHECKSUM_V1), PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "%s has no checksum: incomplete checkpoint", path);
  PetscCall(read_state_attrs(file, st));
  PetscCall(BOProcessLoad(proc, file));
  BOCallHDF5(g = H5Gopen2(file, "model", H5P_DEFAULT), "group 'model' is missing");
  PetscCall(BOModelConfigLoad(g, &cfg));
  H5Gclose(g);
  PetscCall(BOModelCreate(PETSC_COMM_SELF, &cfg, model));
  n = (*model)->nparams;
  PetscCall(PetscMalloc3(n, &st->ema, n, &st->adam_m, n, &st->adam_v));
  PetscCall(load_group(*model, file, "params", (*model)->params));
  PetscCall(load_group(*model, file, "ema", st->ema));
  PetscCall(load_group(*model, file, "adam_m", st->adam_m));
  PetscCall(load_group(*model, file, "adam_v", st->adam_v));
  weights = bo_ckpt_weights_checksum(n, (*model)->params, st->ema, st->adam_m, st->adam_v, st->step);
  PetscCall(BOH5ReadAttrInt(file, v1 ? BO_CKPT_CHECKSUM_V1 : BO_CKPT_CHECKSUM, &stored));
  if (v1) st->checksum = weights; /* an older file: its checksum covers the weights only */
  else PetscCall(bo_ckpt_checksum(file, weights, &st->checksum));
  H5Fclose(file);
  PetscCheck((uint32_t)stored == st->checksum, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "%s: checksum mismatch (corrupt or edited checkpoint)", path);
  PetscCall(PetscStrncpy(st->path, path, sizeof(st->path)));
  PetscFunctionReturn(0);
}

PetscErrorCode BOCheckpointStateFree(BOCheckpointState *st)
{
  PetscFunctionBegin;
  PetscCall(PetscFree3(st->ema, st->adam_m, st->adam_v));
  PetscFunctionReturn(0);
}

/* Candidates newest first: FILE, then FILE-stepN.h5 by descending N. */
static PetscErrorCode list_candidates(const char *path, char ***list, int *count)
{
  char   pattern[PETSC_MAX_PATH_LEN + 32];
  glob_t gl;

  PetscFunctionBegin;
  snprintf(pattern, sizeof(pattern), "%.*s-step*.h5", (int)bo_ckpt_stem(path), path);
  *count = 0;
  PetscCall(PetscMalloc1(1, list));
  (*list)[(*count)++] = strdup(path);
  if (glob(pattern, 0, NULL, &gl) == 0) {
    PetscCall(PetscRealloc(sizeof(char *) * (1 + gl.gl_pathc), list));
    for (size_t i = gl.gl_pathc; i-- > 0;)
      if (bo_ckpt_is_rotated_name(path, gl.gl_pathv[i])) (*list)[(*count)++] = strdup(gl.gl_pathv[i]);
    globfree(&gl);
  }
  PetscFunctionReturn(0);
}

/* Rank 0: the first candidate that reads; the others are reported. */
static PetscErrorCode read_newest(const char *path, BOProcess proc, BOModel *model, BOCheckpointState *st)
{
  char **list;
  int    count;

  PetscFunctionBegin;
  PetscCall(list_candidates(path, &list, &count));
  BOH5Quiet();
  for (int i = 0; i < count && !*model; i++) {
    PetscErrorCode ierr;
    const char    *text;
    char          *specific;
    if (access(list[i], F_OK) != 0) continue;
    PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
    ierr = read_file(list[i], proc, model, st);
    PetscCall(PetscPopErrorHandler());
    if (!ierr) break;
    PetscErrorMessage(ierr, &text, &specific);
    PetscCall(
        PetscPrintf(PETSC_COMM_SELF, "warning: skipping checkpoint %s: %s\n", list[i], specific ? specific : text));
    PetscCall(BOCheckpointStateFree(st));
    PetscCall(BOModelDestroy(model));
  }
  for (int i = 0; i < count; i++) free(list[i]);
  PetscCall(PetscFree(list));
  PetscFunctionReturn(0);
}

/* From rank 0 (which read the file into m0) to every rank of comm: the
 * model, created on comm with m0's weights, and the process settings. */
static PetscErrorCode bcast_model(MPI_Comm comm, BOModel m0, BOProcess proc, BOModel *model)
{
  PetscMPIInt   rank;
  BOModelConfig cfg;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) cfg = m0->cfg;
  PetscCall(BOModelConfigBcast(&cfg, 0, comm));
  PetscCall(BOProcessBcast(proc, 0, comm));
  PetscCall(BOModelCreate(comm, &cfg, model));
  if (rank == 0) PetscCall(PetscArraycpy((*model)->params, m0->params, m0->nparams));
  PetscCallMPI(MPI_Bcast((*model)->params, (int)(*model)->nparams, MPI_FLOAT, 0, comm));
  PetscFunctionReturn(0);
}

/* ... and the state: rank 0's scalars and arrays to every rank. */
static PetscErrorCode bcast_state(MPI_Comm comm, PetscInt n, BOCheckpointState *st)
{
  PetscMPIInt rank;
  float      *ema = st->ema, *am = st->adam_m, *av = st->adam_v; /* rank 0's; NULL elsewhere */

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Bcast(st, sizeof(*st), MPI_BYTE, 0, comm));
  if (rank == 0) st->ema = ema, st->adam_m = am, st->adam_v = av;
  else PetscCall(PetscMalloc3(n, &st->ema, n, &st->adam_m, n, &st->adam_v));
  PetscCallMPI(MPI_Bcast(st->ema, (int)n, MPI_FLOAT, 0, comm));
  PetscCallMPI(MPI_Bcast(st->adam_m, (int)n, MPI_FLOAT, 0, comm));
  PetscCallMPI(MPI_Bcast(st->adam_v, (int)n, MPI_FLOAT, 0, comm));
  PetscFunctionReturn(0);
}

PetscErrorCode BOCheckpointRead(MPI_Comm comm, const char *path, BOProcess proc, BOModel *model, BOCheckpointState *st,
                                PetscBool *found)
{
  PetscMPIInt rank;
  BOModel     m0  = NULL;
  int         got = 0;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(st, sizeof(*st)));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    PetscCall(read_newest(path, proc, &m0, st));
    got = m0 != NULL;
  }
  PetscCallMPI(MPI_Bcast(&got, 1, MPI_INT, 0, comm));
  *found = got ? PETSC_TRUE : PETSC_FALSE;
  if (got) {
    PetscCall(bcast_model(comm, m0, proc, model));
    PetscCall(bcast_state(comm, (*model)->nparams, st));
  }
  PetscCall(BOModelDestroy(&m0));
  PetscFunctionReturn(0);
}

typedef struct {
  const char       *path;
  PetscBool         use_ema;
  BOProcess         proc;
  BOModel           m0;
  BOCheckpointState st;
  uint32_t          checksum;
} LoadJob;

/* Rank 0: read and validate, then keep only the weights asked for. */
static PetscErrorCode load_on_root(void *ctx)
{
  LoadJob *j = (LoadJob *)ctx;

  PetscFunctionBegin;
  PetscCall(read_file(j->path, j->proc, &j->m0, &j->st));
  j->checksum = j->st.checksum;
  if (j->use_ema) PetscCall(PetscArraycpy(j->m0->params, j->st.ema, j->m0->nparams));
  PetscFunctionReturn(0);
}

PetscErrorCode BOCheckpointLoadModel(MPI_Comm comm, const char *path, PetscBool use_ema, BOProcess proc, BOModel *model,
                                     uint32_t *checksum)
{
  LoadJob        job;
  PetscErrorCode ierr;
  char           what[PETSC_MAX_PATH_LEN + 16];

  PetscFunctionBegin;
  PetscCall(PetscMemzero(&job, sizeof(job)));
  job.path = path, job.use_ema = use_ema, job.proc = proc;
  snprintf(what, sizeof(what), "-checkpoint %s", path);
  ierr = BORootTry(comm, load_on_root, &job, what);
  PetscCall(BOCheckpointStateFree(&job.st)); /* the state is not needed (also after a failed read) */
  if (ierr) PetscCall(BOModelDestroy(&job.m0));
  PetscCall(ierr);
  PetscCall(bcast_model(comm, job.m0, proc, model));
  PetscCall(BOModelDestroy(&job.m0));
  if (checksum) {
    PetscCallMPI(MPI_Bcast(&job.checksum, 1, MPI_UINT32_T, 0, comm));
    *checksum = job.checksum;
  }
  PetscCall(BOProcessSetUp(proc));
  PetscFunctionReturn(0);
}

typedef struct {
  const char *path;
  PetscInt    n;
  double     *totals;
  PetscInt   *labels;
} TotalsJob;

/* (label, value) ascending */
static int by_label_value(const void *a, const void *b)
{
  const double *x = a, *y = b;
  return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : x[1] < y[1] ? -1 : x[1] > y[1];
}

static PetscErrorCode read_totals(void *ctx)
{
  TotalsJob *j = (TotalsJob *)ctx;
  hid_t      file, d, sp;
  hsize_t    n;
  double    *pairs;
  int64_t   *lab = NULL;

  PetscFunctionBegin;
  file = H5Fopen(j->path, H5F_ACC_RDONLY, H5P_DEFAULT);
  PetscCheck(file >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot open %s", j->path);
  if (H5Lexists(file, "data_totals", H5P_DEFAULT) <= 0) {
    H5Fclose(file);
    PetscFunctionReturn(0);
  }
  BOCallHDF5(d = H5Dopen2(file, "data_totals/totals", H5P_DEFAULT), "%s: no data_totals/totals", j->path);
  sp = H5Dget_space(d);
  H5Sget_simple_extent_dims(sp, &n, NULL);
  H5Sclose(sp);
  j->n = (PetscInt)n;
  PetscCall(PetscMalloc2(j->n, &j->totals, j->n, &j->labels));
  BOCallHDF5(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, j->totals),
             "%s: cannot read data_totals/totals", j->path);
  H5Dclose(d);
  PetscCall(PetscCalloc1(j->n, &lab));
  if (H5Lexists(file, "data_totals/labels", H5P_DEFAULT) > 0) {
    BOCallHDF5(d = H5Dopen2(file, "data_totals/labels", H5P_DEFAULT), "%s: cannot open data_totals/labels", j->path);
    BOCallHDF5(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab), "%s: cannot read data_totals/labels",
               j->path);
    H5Dclose(d);
  }
  H5Fclose(file);
  PetscCall(PetscMalloc1(2 * j->n, &pairs));
  for (PetscInt i = 0; i < j->n; i++) pairs[2 * i] = (double)lab[i], pairs[2 * i + 1] = j->totals[i];
  qsort(pairs, (size_t)j->n, 2 * sizeof(double), by_label_value);
  for (PetscInt i = 0; i < j->n; i++) j->labels[i] = (PetscInt)pairs[2 * i], j->totals[i] = pairs[2 * i + 1];
  PetscCall(PetscFree(pairs));
  PetscCall(PetscFree(lab));
  PetscFunctionReturn(0);
}

PetscErrorCode BOCheckpointLoadTotals(MPI_Comm comm, const char *path, PetscInt *n, double **totals, PetscInt **labels)
{
  TotalsJob   job = {path, 0, NULL, NULL};
  PetscMPIInt rank;
  char        what[PETSC_MAX_PATH_LEN + 16];

  PetscFunctionBegin;
  snprintf(what, sizeof(what), "-checkpoint %s", path);
  PetscCall(BORootTry(comm, read_totals, &job, what));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Bcast(&job.n, 1, MPIU_INT, 0, comm));
  if (rank != 0) PetscCall(PetscMalloc2(job.n, &job.totals, job.n, &job.labels));
  PetscCallMPI(MPI_Bcast(job.totals, (int)job.n, MPI_DOUBLE, 0, comm));
  PetscCallMPI(MPI_Bcast(job.labels, (int)job.n, MPIU_INT, 0, comm));
  *n = job.n, *totals = job.totals, *labels = job.labels;
  PetscFunctionReturn(0);
}

typedef struct {
  const char *path, *name; /* name: the table beside the totals, data_totals/NAME */
  PetscInt    n, P;
  double     *totals, *params;
} TableJob;

/* data_totals/totals and the (N, P) table data_totals/NAME, when it exists. */
static PetscErrorCode read_table_totals(void *ctx)
{
  TableJob *j = (TableJob *)ctx;
  hid_t     file, d, sp;
  hsize_t   dims[2] = {0, 0}, n = 0;
  char      name[64];

  PetscFunctionBegin;
  snprintf(name, sizeof(name), "data_totals/%s", j->name);
  file = H5Fopen(j->path, H5F_ACC_RDONLY, H5P_DEFAULT);
  PetscCheck(file >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot open %s", j->path);
  if (H5Lexists(file, "data_totals", H5P_DEFAULT) <= 0 || H5Lexists(file, name, H5P_DEFAULT) <= 0) {
    H5Fclose(file);
    PetscFunctionReturn(0);
  }
  BOCallHDF5(d = H5Dopen2(file, name, H5P_DEFAULT), "%s: cannot open %s", j->path, name);
  sp = H5Dget_space(d);
  PetscCheck(H5Sget_simple_extent_ndims(sp) == 2, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s: %s is not (N, %s)",
             j->path, name, strcmp(j->name, "params") ? "S" : "P");
  H5Sget_simple_extent_dims(sp, dims, NULL);
  H5Sclose(sp);
  j->n = (PetscInt)dims[0], j->P = (PetscInt)dims[1];
  PetscCall(PetscMalloc2(j->n + 1, &j->totals, j->n * j->P + 1, &j->params));
  BOCallHDF5(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, j->params), "%s: cannot read %s", j->path,
             name);
  H5Dclose(d);
  BOCallHDF5(d = H5Dopen2(file, "data_totals/totals", H5P_DEFAULT), "%s: no data_totals/totals", j->path);
  sp = H5Dget_space(d);
  H5Sget_simple_extent_dims(sp, &n, NULL);
  H5Sclose(sp);
  PetscCheck((PetscInt)n == j->n, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "%s: data_totals has %lld totals but %lld %s rows", j->path, (long long)n, (long long)j->n, j->name);
  BOCallHDF5(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, j->totals),
             "%s: cannot read data_totals/totals", j->path);
  H5Dclose(d);
  H5Fclose(file);
  PetscFunctionReturn(0);
}

static PetscErrorCode load_table_totals(MPI_Comm comm, const char *path, const char *name, PetscInt *n, PetscInt *P,
                                        double **totals, double **table)
{
  TableJob    job = {path, name, 0, 0, NULL, NULL};
  PetscMPIInt rank;
  PetscInt    np[2];
  char        what[PETSC_MAX_PATH_LEN + 16];

  PetscFunctionBegin;
  snprintf(what, sizeof(what), "-checkpoint %s", path);
  PetscCall(BORootTry(comm, read_table_totals, &job, what));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  np[0] = job.n, np[1] = job.P;
  PetscCallMPI(MPI_Bcast(np, 2, MPIU_INT, 0, comm));
  job.n = np[0], job.P = np[1];
  if (rank != 0) PetscCall(PetscMalloc2(job.n + 1, &job.totals, job.n * job.P + 1, &job.params));
  PetscCallMPI(MPI_Bcast(job.totals, (int)job.n, MPI_DOUBLE, 0, comm));
  PetscCallMPI(MPI_Bcast(job.params, (int)(job.n * job.P), MPI_DOUBLE, 0, comm));
  *n = job.n, *P = job.P, *totals = job.totals, *table = job.params;
  PetscFunctionReturn(0);
}

PetscErrorCode BOCheckpointLoadParamsTotals(MPI_Comm comm, const char *path, PetscInt *n, PetscInt *P, double **totals,
                                            double **params)
{
  PetscFunctionBegin;
  PetscCall(load_table_totals(comm, path, "params", n, P, totals, params));
  PetscFunctionReturn(0);
}

PetscErrorCode BOCheckpointLoadInputSummaries(MPI_Comm comm, const char *path, PetscInt *n, PetscInt *S,
                                              double **totals, double **summaries)
{
  PetscFunctionBegin;
  PetscCall(load_table_totals(comm, path, "input_summary", n, S, totals, summaries));
  PetscFunctionReturn(0);
}
