/* Conditioning data beside the counts (docs/DATA.md, "params and inputs"):
 * `params` (N, P) float64 with the string attribute `names`, and `inputs`
 * (N, Ny, Nx[, Ci]) float32 on the counts' grid ((N, Nz, Ny, Nx[, Ci]) with
 * Mz beside 3-D counts). Writing (BOWriter), reading
 * a shard (BODataset), their validation, and whole params files. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "dataimpl.h"
#include "bo_io.h"

/* ---------------------------------------------------------------- names */

PetscErrorCode BOParamNamesDefault(PetscInt P, char *names, size_t len)
{
  size_t at = 0;

  PetscFunctionBegin;
  names[0] = 0;
  for (PetscInt j = 0; j < P; j++) {
    int k = snprintf(names + at, len - at, "%sp%" PetscInt_FMT, j ? "," : "", j);
    PetscCheck(k > 0 && at + (size_t)k < len, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ,
               "%" PetscInt_FMT " params: their default names do not fit %zu characters", P, len);
    at += (size_t)k;
  }
  PetscFunctionReturn(0);
}

void BOParamName(const char *names, PetscInt j, char *buf, size_t len)
{
  const char *p = names;
  for (PetscInt k = 0; k < j && p; k++) p = strchr(p, ','), p = p ? p + 1 : NULL;
  size_t n = p ? strcspn(p, ",") : 0;
  snprintf(buf, len, "%.*s", (int)PetscMin(n, len - 1), p ? p : "");
}

PetscBool BOParamsEqual(PetscInt P, const double *a, const double *b, double tol)
{
  for (PetscInt k = 0; k < P; k++)
    if (!(a[k] == b[k] || fabs(a[k] - b[k]) <= tol * PetscMax(fabs(a[k]), fabs(b[k])))) return PETSC_FALSE;
  return PETSC_TRUE;
}

PetscErrorCode BOParamNamesCheck(MPI_Comm comm, const char *what, const char *names, PetscInt P)
{
  PetscInt    n = 1;
  const char *s;
  PetscBool   empty = PETSC_FALSE;

  PetscFunctionBegin;
  for (s = names; *s; s++) n += *s == ',';
  /* an empty name: "", a leading or trailing comma, or ",," */
  if (!names[0] || names[0] == ',' || names[strlen(names) - 1] == ',' || strstr(names, ",,")) empty = PETSC_TRUE;
  PetscCheck(n == P, comm, PETSC_ERR_ARG_SIZ,
             "%s: attribute names has %" PetscInt_FMT " names (%s) but params has P = %" PetscInt_FMT " columns", what,
             n, names, P);
  PetscCheck(!empty, comm, PETSC_ERR_ARG_WRONG, "%s: attribute names (%s) has an empty name", what, names);
  PetscFunctionReturn(0);
}

/* ----------------------------------------------------------- validation */

/* "(n, a, b)" for flat element e of members of shape[0..nd). */
static void index_string(long long e, PetscInt nd, const PetscInt *shape, char *s, size_t len)
{
  long long D = 1, r;
  size_t    at;
  for (PetscInt i = 0; i < nd; i++) D *= shape[i];
  r  = e % D;
  at = (size_t)snprintf(s, len, "(%lld", e / D);
  for (PetscInt i = 0; i < nd && at < len; i++) {
    D /= shape[i];
    at += (size_t)snprintf(s + at, len - at, ", %lld", r / D);
    r %= D;
  }
  if (at < len) snprintf(s + at, len - at, ")");
}

/* Collective: the first NaN or infinite value among v[0..n) (doubles, or
 * floats if single), flat global element base + i of members of shape, is
 * the same one-line error on every rank: "what: value at index (..) is NaN". */
static PetscErrorCode check_finite(MPI_Comm comm, const char *what, size_t n, const void *v, PetscBool single,
                                   long long base, PetscInt nd, const PetscInt *shape)
{
  long long bad = LLONG_MAX, gbad;
  double    val = 0;
  int       rank, owner, gowner;
  char      idx[128];

  PetscFunctionBegin;
  for (size_t i = 0; i < n; i++) {
    double x = single ? (double)((const float *)v)[i] : ((const double *)v)[i];
    if (!isfinite(x)) {
      bad = base + (long long)i, val = x;
      break;
    }
  }
  PetscCallMPI(MPI_Allreduce(&bad, &gbad, 1, MPI_LONG_LONG, MPI_MIN, comm));
  if (gbad == LLONG_MAX) PetscFunctionReturn(0);
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  owner = bad == gbad ? rank : INT_MAX;
  PetscCallMPI(MPI_Allreduce(&owner, &gowner, 1, MPI_INT, MPI_MIN, comm));
  PetscCallMPI(MPI_Bcast(&val, 1, MPI_DOUBLE, gowner, comm));
  index_string(gbad, nd, shape, idx, sizeof(idx));
  SETERRQ(comm, PETSC_ERR_ARG_OUTOFRANGE, "%s: value at index %s is %s", what, idx, isnan(val) ? "NaN" : "infinite");
}

/* --------------------------------------------------------------- writing */

PetscErrorCode BOWriterSetParams(BOWriter w, PetscInt P, const char *names)
{
  PetscFunctionBegin;
  PetscCheck(!w->setup, w->comm, PETSC_ERR_ORDER, "request params before the first write");
  PetscCheck(P >= 1, w->comm, PETSC_ERR_ARG_OUTOFRANGE, "%s: params need P >= 1 columns", w->path);
  if (names && names[0]) PetscCall(PetscStrncpy(w->param_names, names, sizeof(w->param_names)));
  else PetscCall(BOParamNamesDefault(P, w->param_names, sizeof(w->param_names)));
  PetscCall(BOParamNamesCheck(w->comm, w->path, w->param_names, P));
  w->P = P;
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterSetInputs(BOWriter w, PetscInt Ci)
{
  PetscFunctionBegin;
  PetscCheck(!w->setup, w->comm, PETSC_ERR_ORDER, "request inputs before the first write");
  PetscCheck(w->is_field, w->comm, PETSC_ERR_ARG_WRONG, "%s: inputs are fields on the counts' grid; %s is no field",
             w->path, w->name);
  PetscCheck(Ci >= 1, w->comm, PETSC_ERR_ARG_OUTOFRANGE, "%s: inputs need Ci >= 1 components", w->path);
  w->Ci = Ci;
  PetscFunctionReturn(0);
}

/* One conditioning dataset, PETSc-loadable like the counts: timestepping = 1
 * (one timestep per member), chunked per member with -io_deflate. */
static PetscErrorCode create_dataset(BOWriter w, const char *leaf, hid_t ftype, int rank, const hsize_t *dims,
                                     hid_t *dset)
{
  char    path[300];
  hid_t   space, dcpl;
  hsize_t chunk[5];
  int     one = 1;

  PetscFunctionBegin;
  bo_data_sibling_path(w->name, leaf, path, sizeof(path));
  for (int i = 0; i < rank; i++) chunk[i] = i ? dims[i] : 1;
  space = H5Screate_simple(rank, dims, NULL);
  PetscCall(bo_writer_dataset_properties(w->deflate, rank, chunk, &dcpl));
  *dset = H5Dcreate2(w->file, path, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  BOCallHDF5(*dset, "%s: cannot create dataset %s", w->path, path);
  BOCallHDF5(H5Sclose(space), "H5Sclose");
  BOCallHDF5(H5Pclose(dcpl), "H5Pclose");
  PetscCall(BOH5WriteAttr(*dset, "timestepping", H5T_STD_I32LE, H5T_NATIVE_INT, 0, &one));
  PetscFunctionReturn(0);
}

PetscErrorCode bo_writer_create_conditions(BOWriter w)
{
  PetscFunctionBegin;
  if (w->P) {
    hsize_t dims[2] = {(hsize_t)w->N, (hsize_t)w->P};
    PetscCall(create_dataset(w, "params", H5T_IEEE_F64LE, 2, dims, &w->pset));
    PetscCall(BOH5WriteAttrString(w->pset, "names", w->param_names));
  }
  if (w->Ci) {
    /* like the counts: no component axis for Ci = 1, as VecView writes dof 1;
     * 3-D counts (Nz, Ny, Nx, C) get inputs (N, Nz, Ny, Nx[, Ci]) with Mz */
    const PetscInt sd      = w->is_3d ? 3 : 2; /* spatial axes */
    hsize_t        dims[5] = {(hsize_t)w->N};
    for (PetscInt i = 0; i < sd; i++) dims[1 + i] = (hsize_t)w->shape[i];
    dims[1 + sd] = (hsize_t)w->Ci;
    PetscCall(create_dataset(w, "inputs", H5T_IEEE_F32LE, (int)(1 + sd + (w->Ci > 1)), dims, &w->iset));
    PetscCall(BOH5WriteAttrInt(w->iset, "Mx", w->shape[sd - 1]));
    PetscCall(BOH5WriteAttrInt(w->iset, "My", w->shape[sd - 2]));
    if (w->is_3d) PetscCall(BOH5WriteAttrInt(w->iset, "Mz", w->shape[0]));
    PetscCall(BOH5WriteAttrInt(w->iset, "dof", w->Ci));
    PetscCall(BOH5WriteAttr(w->iset, "origin", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, (int)sd, w->origin));
    PetscCall(BOH5WriteAttr(w->iset, "spacing", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, (int)sd, w->spacing));
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode check_range(BOWriter w, const char *what, PetscInt first, PetscInt count)
{
  PetscFunctionBegin;
  PetscCheck(count >= 0 && first >= 0 && first + count <= w->N, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "%s: %s %" PetscInt_FMT "..%" PetscInt_FMT " outside 0..%" PetscInt_FMT, w->path, what, first,
             first + count - 1, w->N - 1);
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterWriteParams(BOWriter w, PetscInt first, PetscInt count, const double *params)
{
  char what[PETSC_MAX_PATH_LEN + 32];

  PetscFunctionBegin;
  PetscCall(BOWriterSetUp(w));
  PetscCheck(w->P, w->comm, PETSC_ERR_ORDER, "%s: call BOWriterSetParams() before writing params", w->path);
  PetscCall(check_range(w, "params", first, count));
  snprintf(what, sizeof(what), "%s: params", w->path);
  PetscCall(check_finite(w->comm, what, (size_t)count * w->P, params, PETSC_FALSE, (long long)first * w->P, 1, &w->P));
  PetscCall(BOH5WriteRows(w->pset, H5T_NATIVE_DOUBLE, (hsize_t)first, (hsize_t)count, params));
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterWriteInputs(BOWriter w, PetscInt first, PetscInt count, const float *inputs)
{
  char     what[PETSC_MAX_PATH_LEN + 32];
  PetscInt sd = w->is_3d ? 3 : 2, shape[4], D = w->Ci; /* member shape (Ny, Nx[, Ci]) or (Nz, Ny, Nx[, Ci]) */

  for (PetscInt i = 0; i < sd; i++) shape[i] = w->shape[i], D *= w->shape[i];
  shape[sd] = w->Ci;

  PetscFunctionBegin;
  PetscCall(BOWriterSetUp(w));
  PetscCheck(w->Ci, w->comm, PETSC_ERR_ORDER, "%s: call BOWriterSetInputs() before writing inputs", w->path);
  PetscCall(check_range(w, "inputs", first, count));
  snprintf(what, sizeof(what), "%s: inputs", w->path);
  PetscCall(check_finite(w->comm, what, (size_t)count * D, inputs, PETSC_TRUE, (long long)first * D, sd + (w->Ci > 1),
                         shape));
  PetscCall(BOH5WriteRows(w->iset, H5T_NATIVE_FLOAT, (hsize_t)first, (hsize_t)count, inputs));
  PetscFunctionReturn(0);
}

/* --------------------------------------------------------------- reading */

/* The extent of dataset path, or nd = 0 if it is absent. */
static PetscErrorCode dataset_extent(BODataset ds, const char *path, int *nd, hsize_t dims[5])
{
  hid_t       d, sp, t;
  H5T_class_t cls;

  PetscFunctionBegin;
  *nd = 0;
  if (!bo_data_path_exists(ds->file, path)) PetscFunctionReturn(0);
  d = H5Dopen2(ds->file, path, H5P_DEFAULT);
  PetscCheck(d >= 0, ds->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: %s is not a dataset", ds->filename, path);
  t   = H5Dget_type(d);
  cls = H5Tget_class(t);
  H5Tclose(t);
  sp  = H5Dget_space(d);
  *nd = H5Sget_simple_extent_ndims(sp);
  if (*nd >= 1 && *nd <= 5) H5Sget_simple_extent_dims(sp, dims, NULL);
  H5Sclose(sp);
  H5Dclose(d);
  PetscCheck(cls == H5T_INTEGER || cls == H5T_FLOAT, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset %s has neither an integer nor a floating-point type", ds->filename, path);
  PetscFunctionReturn(0);
}

/* params: (N, P), names = P names (p0,p1,... when the attribute is absent). */
static PetscErrorCode open_params(BODataset ds, const char *path)
{
  hsize_t dims[5];
  int     nd;
  char    what[2 * PETSC_MAX_PATH_LEN + 16];

  PetscFunctionBegin;
  PetscCall(dataset_extent(ds, path, &nd, dims));
  if (!nd) PetscFunctionReturn(0);
  PetscCheck(nd == 2, ds->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: dataset %s has %d axes; expected (N, P)", ds->filename,
             path, nd);
  PetscCheck((PetscInt)dims[0] == ds->N, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset %s has %llu rows but %s has %" PetscInt_FMT " members", ds->filename, path,
             (unsigned long long)dims[0], ds->name, ds->N);
  PetscCheck(dims[1] >= 1, ds->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: dataset %s has no columns", ds->filename, path);
  ds->P = (PetscInt)dims[1];
  snprintf(what, sizeof(what), "%s: dataset %s", ds->filename, path);
  {
    hid_t d = H5Dopen2(ds->file, path, H5P_DEFAULT);
    if (BOH5HasAttr(d, "names")) {
      PetscErrorCode ierr = BOH5ReadAttrString(d, "names", ds->param_names, sizeof(ds->param_names));
      H5Dclose(d);
      PetscCall(ierr);
      PetscCall(BOParamNamesCheck(ds->comm, what, ds->param_names, ds->P));
    } else {
      H5Dclose(d);
      PetscCall(BOParamNamesDefault(ds->P, ds->param_names, sizeof(ds->param_names)));
    }
  }
  ds->has_params = PETSC_TRUE;
  PetscCall(PetscMalloc1((size_t)ds->nlocal * ds->P + 1, &ds->params));
  PetscCall(BODatasetReadParams(ds, ds->first, ds->nlocal, ds->params));
  PetscFunctionReturn(0);
}

/* inputs: (N, Ny, Nx) or (N, Ny, Nx, Ci) on the grid of field counts;
 * beside 3-D counts (N, Nz, Ny, Nx) or (N, Nz, Ny, Nx, Ci) on their volume. */
static PetscErrorCode open_inputs(BODataset ds, const char *path)
{
  hsize_t        dims[5];
  int            nd;
  const int      sd      = ds->is_3d ? 3 : 2; /* spatial axes */
  const PetscInt want[3] = {ds->is_3d ? ds->Nz : ds->Ny, ds->is_3d ? ds->Ny : ds->Nx, ds->Nx};
  const char    *grid    = ds->is_3d ? "(Nz x Ny x Nx)" : "(Ny x Nx)";
  char           have[96], ours[96];

  PetscFunctionBegin;
  PetscCall(dataset_extent(ds, path, &nd, dims));
  if (!nd) PetscFunctionReturn(0);
  PetscCheck(ds->is_field, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset %s holds input fields, but %s holds vectors, not fields", ds->filename, path, ds->name);
  PetscCheck(nd == 1 + sd || nd == 2 + sd, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset %s has %d axes; expected %s", ds->filename, path, nd,
             ds->is_3d ? "(N, Nz, Ny, Nx) or (N, Nz, Ny, Nx, Ci) beside 3-D counts" : "(N, Ny, Nx) or (N, Ny, Nx, Ci)");
  PetscCheck((PetscInt)dims[0] == ds->N, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset %s has %llu members but %s has %" PetscInt_FMT, ds->filename, path,
             (unsigned long long)dims[0], ds->name, ds->N);
  PetscBool same = PETSC_TRUE;
  for (int a = 0; a < sd; a++) same = same && (PetscInt)dims[1 + a] == want[a];
  if (!same) {
    if (sd == 3) {
      snprintf(have, sizeof(have), "%llu x %llu x %llu", (unsigned long long)dims[1], (unsigned long long)dims[2],
               (unsigned long long)dims[3]);
      snprintf(ours, sizeof(ours), "%d x %d x %d", (int)want[0], (int)want[1], (int)want[2]);
    } else {
      snprintf(have, sizeof(have), "%llu x %llu", (unsigned long long)dims[1], (unsigned long long)dims[2]);
      snprintf(ours, sizeof(ours), "%d x %d", (int)want[0], (int)want[1]);
    }
  }
  PetscCheck(same, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset %s is on a %s grid but %s on %s %s: inputs must be on the counts' grid", ds->filename, path,
             have, ds->name, ours, grid);
  ds->Ci = nd == 2 + sd ? (PetscInt)dims[1 + sd] : 1;
  PetscCheck(ds->Ci >= 1, ds->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: dataset %s has no components", ds->filename, path);
  ds->has_inputs = PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode bo_dataset_open_conditions(BODataset ds)
{
  char path[PETSC_MAX_PATH_LEN];

  PetscFunctionBegin;
  bo_data_sibling_path(ds->name, "params", path, sizeof(path));
  PetscCall(open_params(ds, path));
  bo_data_sibling_path(ds->name, "inputs", path, sizeof(path));
  PetscCall(open_inputs(ds, path));
  PetscFunctionReturn(0);
}

/* Collective read of rows [first, first + count) of the sibling leaf, in
 * memory type mtype, checked for NaN and infinities. */
static PetscErrorCode read_condition(BODataset ds, const char *leaf, hid_t mtype, PetscInt first, PetscInt count,
                                     PetscInt nd, const PetscInt *shape, void *buf)
{
  char     path[PETSC_MAX_PATH_LEN], what[2 * PETSC_MAX_PATH_LEN + 16];
  hid_t    d;
  PetscInt D = 1;

  PetscFunctionBegin;
  for (PetscInt i = 0; i < nd; i++) D *= shape[i];
  PetscCheck(first >= 0 && count >= 0 && first + count <= ds->N, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "%s: %s rows %" PetscInt_FMT "..%" PetscInt_FMT " outside 0..%" PetscInt_FMT, ds->filename, leaf, first,
             first + count - 1, ds->N - 1);
  bo_data_sibling_path(ds->name, leaf, path, sizeof(path));
  d = H5Dopen2(ds->file, path, H5P_DEFAULT);
  PetscCheck(d >= 0, ds->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: no dataset %s", ds->filename, path);
  {
    PetscErrorCode ierr = BOH5ReadRows(d, mtype, (hsize_t)first, (hsize_t)count, buf);
    H5Dclose(d);
    PetscCall(ierr);
  }
  snprintf(what, sizeof(what), "%s: dataset %s", ds->filename, path);
  PetscCall(
      check_finite(ds->comm, what, (size_t)count * D, buf, mtype == H5T_NATIVE_FLOAT, (long long)first * D, nd, shape));
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetReadParams(BODataset ds, PetscInt first, PetscInt count, double *params)
{
  PetscFunctionBegin;
  PetscCheck(ds->has_params, ds->comm, PETSC_ERR_ARG_WRONGSTATE, "%s: no params dataset", ds->filename);
  PetscCall(read_condition(ds, "params", H5T_NATIVE_DOUBLE, first, count, 1, &ds->P, params));
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetReadInputs(BODataset ds, PetscInt first, PetscInt count, float *inputs)
{
  /* a member's shape, for naming a bad value: (Ny, Nx[, Ci]) or (Nz, Ny, Nx[, Ci]) */
  PetscInt shape[4] = {ds->Nz, ds->Ny, ds->Nx, ds->Ci}, *sh = ds->is_3d ? shape : shape + 1;
  PetscInt nd = (ds->is_3d ? 3 : 2) + (ds->Ci > 1);

  PetscFunctionBegin;
  PetscCheck(ds->has_inputs, ds->comm, PETSC_ERR_ARG_WRONGSTATE, "%s: no inputs dataset", ds->filename);
  PetscCall(read_condition(ds, "inputs", H5T_NATIVE_FLOAT, first, count, nd, sh, inputs));
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetLoadInputs(BODataset ds)
{
  PetscFunctionBegin;
  if (ds->inputs) PetscFunctionReturn(0);
  PetscCheck(ds->has_inputs, ds->comm, PETSC_ERR_ARG_WRONGSTATE, "%s: no inputs dataset", ds->filename);
  PetscCall(PetscMalloc1((size_t)ds->nlocal * ds->Nz * ds->Ny * ds->Nx * ds->Ci + 1, &ds->inputs));
  PetscCall(BODatasetReadInputs(ds, ds->first, ds->nlocal, ds->inputs));
  PetscFunctionReturn(0);
}

PetscInt BOInputSummaryGrid(PetscInt N) { return PetscMin(N, BO_INPUT_SUMMARY_GRID); }

void BOInputSummary(PetscInt Nz, PetscInt Ny, PetscInt Nx, PetscInt Ci, const float *field, double *summary)
{
  const PetscInt Gy = BOInputSummaryGrid(Ny), Gx = BOInputSummaryGrid(Nx);
  PetscInt       n[BO_INPUT_SUMMARY_GRID * BO_INPUT_SUMMARY_GRID] = {0};

  for (PetscInt j = 0; j < Gy * Gx * Ci; j++) summary[j] = 0;
  for (PetscInt z = 0; z < Nz; z++)
    for (PetscInt y = 0; y < Ny; y++)
      for (PetscInt x = 0; x < Nx; x++) {
        const PetscInt b = (y * Gy / Ny) * Gx + x * Gx / Nx;
        const float   *v = field + ((size_t)(z * Ny + y) * Nx + x) * Ci;
        for (PetscInt j = 0; j < Ci; j++) summary[b * Ci + j] += v[j];
        n[b]++;
      }
  for (PetscInt b = 0; b < Gy * Gx; b++)
    for (PetscInt j = 0; j < Ci; j++) summary[b * Ci + j] /= n[b];
}

PetscInt BODatasetInputSummarySize(BODataset ds)
{
  return BOInputSummaryGrid(ds->Ny) * BOInputSummaryGrid(ds->Nx) * ds->Ci;
}

/* Per member of in (n x cells x Ci), from the first'th of the shard: each
 * channel's sum, then its sum of squares, in double, cells in order (sums:
 * n x 2 Ci), and the member's summary (BOInputSummary). */
static void input_sums(BODataset ds, PetscInt first, PetscInt n, const float *in)
{
  const PetscInt Ci = ds->Ci, cells = ds->Nz * ds->Ny * ds->Nx, S = BODatasetInputSummarySize(ds);

  for (PetscInt l = 0; l < n; l++) {
    double      *s = ds->input_sums + (size_t)2 * Ci * (first + l);
    const float *f = in + (size_t)l * cells * Ci;
    for (PetscInt j = 0; j < 2 * Ci; j++) s[j] = 0;
    for (PetscInt c = 0; c < cells; c++)
      for (PetscInt j = 0; j < Ci; j++) {
        const double v = f[(size_t)c * Ci + j];
        s[j] += v, s[Ci + j] += v * v;
      }
    BOInputSummary(ds->Nz, ds->Ny, ds->Nx, Ci, f, ds->input_summary + (size_t)S * (first + l));
  }
}

/* Streamed inputs: read and validate the shard's inputs chunk by chunk (the
 * rows of a window at a time, through the window's buffer), for their sums.
 * Every rank does the same number of collective reads. */
static PetscErrorCode scan_streamed_inputs(BODataset ds)
{
  PetscInt rounds = (ds->nlocal + ds->rows_per_chunk - 1) / ds->rows_per_chunk, done = 0;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &rounds, 1, MPIU_INT, MPI_MAX, ds->comm));
  for (PetscInt r = 0; r < rounds; r++) {
    PetscInt n = PetscMin(ds->rows_per_chunk, ds->nlocal - done);
    PetscCall(BODatasetReadInputs(ds, ds->first + done, n, ds->win_inputs));
    input_sums(ds, done, n, ds->win_inputs);
    done += n;
  }
  ds->win_epoch = ds->win_index = -1; /* the buffer no longer holds a window: the next batch reads one */
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetUseInputs(BODataset ds)
{
  PetscFunctionBegin;
  if (ds->input_sums) PetscFunctionReturn(0);
  PetscCheck(ds->has_inputs, ds->comm, PETSC_ERR_ARG_WRONGSTATE, "%s: no inputs dataset", ds->filename);
  PetscCall(PetscMalloc1((size_t)2 * ds->Ci * ds->nlocal + 1, &ds->input_sums));
  PetscCall(PetscMalloc1((size_t)BODatasetInputSummarySize(ds) * ds->nlocal + 1, &ds->input_summary));
  if (!ds->streaming) {
    PetscCall(BODatasetLoadInputs(ds));
    input_sums(ds, 0, ds->nlocal, ds->inputs);
    PetscFunctionReturn(0);
  }
  PetscCall(PetscMalloc1((size_t)ds->rows_per_chunk * ds->Nz * ds->Ny * ds->Nx * ds->Ci, &ds->win_inputs));
  ds->stream_inputs = PETSC_TRUE;
  PetscCall(scan_streamed_inputs(ds));
  PetscFunctionReturn(0);
}

/* Where member g's inputs are: its row of the loaded shard, or its place in
 * the last minibatch (streamed inputs); NULL when it is in neither. */
static const float *member_inputs(BODataset ds, PetscInt g, size_t Di)
{
  if (ds->inputs)
    return g >= ds->first && g < ds->first + ds->nlocal ? ds->inputs + (size_t)(g - ds->first) * Di : NULL;
  for (PetscInt b = 0; ds->stream_inputs && b < ds->batch_n; b++)
    if (ds->batch_gidx[b] == g) return ds->batch_inputs + (size_t)b * Di;
  return NULL;
}

PetscErrorCode BODatasetGetConditions(BODataset ds, PetscInt n, const PetscInt *gidx, double *params, float *inputs)
{
  const size_t Di = (size_t)ds->Nz * ds->Ny * ds->Nx * ds->Ci;

  PetscFunctionBegin;
  PetscCheck(!params || ds->has_params, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "%s: no params dataset",
             ds->filename);
  PetscCheck(!inputs || ds->inputs || ds->stream_inputs, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE,
             "%s: inputs not read (BODatasetLoadInputs or BODatasetUseInputs)", ds->filename);
  for (PetscInt b = 0; b < n; b++) {
    PetscInt l = gidx[b] - ds->first;
    PetscCheck(l >= 0 && l < ds->nlocal, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
               "member %" PetscInt_FMT " is not in this rank's shard", gidx[b]);
    if (params) PetscCall(PetscArraycpy(params + (size_t)b * ds->P, ds->params + (size_t)l * ds->P, ds->P));
    if (inputs) {
      const float *src = member_inputs(ds, gidx[b], Di);
      PetscCheck(src, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE,
                 "member %" PetscInt_FMT " is not in the last minibatch (streamed inputs)", gidx[b]);
      PetscCall(PetscArraycpy(inputs + (size_t)b * Di, src, Di));
    }
  }
  PetscFunctionReturn(0);
}

/* ---------------------------------------------------------- params files */

/* The whole table of a params file into ds->params: every rank holds it
 * all, as its own shard. */
static PetscErrorCode read_params_table(BODataset ds)
{
  hsize_t dims[5];
  int     nd;

  PetscFunctionBegin;
  PetscCall(dataset_extent(ds, "params", &nd, dims));
  PetscCheck(nd, ds->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: no dataset params", ds->filename);
  PetscCheck(nd == 2 && dims[0] >= 1, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset params must be (N, P) with N >= 1", ds->filename);
  ds->N = (PetscInt)dims[0], ds->first = 0, ds->nlocal = ds->N;
  PetscCall(open_params(ds, "params"));
  PetscFunctionReturn(0);
}

PetscErrorCode BOParamsFileRead(MPI_Comm comm, const char *path, PetscInt *rows, PetscInt *P, double **values,
                                char names[BO_NAMES_LEN])
{
  BODatasetData  ds; /* what open_params and the readers use */
  hid_t          fapl;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  BOH5Quiet();
  PetscCall(PetscMemzero(&ds, sizeof(ds)));
  ds.comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &ds.rank));
  PetscCallMPI(MPI_Comm_size(comm, &ds.size));
  PetscCall(PetscStrncpy(ds.filename, path, sizeof(ds.filename)));
  PetscCall(PetscStrncpy(ds.name, "params", sizeof(ds.name)));
  fapl = H5Pcreate(H5P_FILE_ACCESS);
  BOCallHDF5(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL), "H5Pset_fapl_mpio");
  ds.file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  PetscCheck(ds.file >= 0, comm, PETSC_ERR_FILE_OPEN, "%s: cannot open (missing, unreadable or not an HDF5 file)",
             path);
  ierr = read_params_table(&ds);
  H5Fclose(ds.file);
  if (ierr) PetscCall(PetscFree(ds.params));
  PetscCall(ierr);
  *rows = ds.N, *P = ds.P, *values = ds.params;
  PetscCall(PetscStrncpy(names, ds.param_names, BO_NAMES_LEN));
  PetscFunctionReturn(0);
}
