/* BODataset: open, validate and shard count data (dense fields or vectors,
 * AnnData/10x CSR), with labels; view and destroy. Reading is in read.c,
 * minibatches in minibatch.c. */
#include <math.h>
#include <string.h>
#include "dataimpl.h"

PetscErrorCode BODatasetCreate(MPI_Comm comm, BODataset *ds)
{
  BODataset d;

  PetscFunctionBegin;
  PetscCall(PetscNew(&d));
  d->comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &d->rank));
  PetscCallMPI(MPI_Comm_size(comm, &d->size));
  PetscCall(PetscStrncpy(d->name, "counts", sizeof(d->name)));
  d->max_count_limit = BO_MAX_EXACT_COUNT;
  d->shuffle_window  = 4;
  d->Nz              = 1;
  d->file = d->dset = d->csr[0] = d->csr[1] = d->csr[2] = -1;
  d->cache_epoch[0] = d->cache_epoch[1] = -1;
  d->win_epoch = d->win_index = -1;
  *ds                         = d;
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetSetFile(BODataset ds, const char *filename, const char *name)
{
  PetscFunctionBegin;
  if (filename) PetscCall(PetscStrncpy(ds->filename, filename, sizeof(ds->filename)));
  if (name && name[0]) PetscCall(PetscStrncpy(ds->name, name, sizeof(ds->name)));
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetSetFromOptions(BODataset ds)
{
  PetscFunctionBegin;
  PetscOptionsBegin(ds->comm, NULL, "Count dataset", "BODataset");
  PetscCall(PetscOptionsString("-data", "HDF5 file of count data", "BODatasetSetFile", ds->filename, ds->filename,
                               sizeof(ds->filename), NULL));
  PetscCall(PetscOptionsString("-data_name", "dataset (or AnnData CSR group) in the file", "BODatasetSetFile", ds->name,
                               ds->name, sizeof(ds->name), NULL));
  PetscCall(PetscOptionsReal("-max_count", "largest count accepted (at most 2^24)", "BODatasetOpen",
                             ds->max_count_limit, &ds->max_count_limit, NULL));
  PetscCall(PetscOptionsReal("-data_chunk_mb", "stream the shard in chunks of at most this many MiB (0: load it all)",
                             "BODatasetOpen", ds->chunk_mb, &ds->chunk_mb, NULL));
  PetscCall(PetscOptionsRangeInt("-data_shuffle_window", "blocks per shuffle window when streaming",
                                 "BOShufflePermutation", ds->shuffle_window, &ds->shuffle_window, NULL, 1, 64));
  PetscCall(
      PetscOptionsInt("-data_dims",
                      "spatial dimension of the fields, 2 or 3 (0: from the file; a 4-D dataset is (N, Ny, Nx, C) "
                      "unless its attribute Mz equals its second axis; 3 reads it as (N, Nz, Ny, Nx))",
                      "BOFieldSpatialDims", ds->data_dims, &ds->data_dims, NULL));
  PetscOptionsEnd();
  PetscCheck(ds->data_dims == 0 || ds->data_dims == 2 || ds->data_dims == 3, ds->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-data_dims %" PetscInt_FMT ": expected 0 (from the file), 2 or 3", ds->data_dims);
  PetscCheck(ds->max_count_limit > 0 && ds->max_count_limit <= BO_MAX_EXACT_COUNT, ds->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "-max_count must be in (0, 2^24 = 16777216]: larger counts are not exact as float");
  PetscCheck(ds->chunk_mb >= 0, ds->comm, PETSC_ERR_ARG_OUTOFRANGE, "-data_chunk_mb must be >= 0");
  PetscFunctionReturn(0);
}

void BODatasetShard(PetscInt N, PetscMPIInt size, PetscMPIInt r, PetscInt *first, PetscInt *n)
{
  PetscInt q = N / size, rem = N % size;
  *n     = q + (r < rem);
  *first = r * q + PetscMin(r, rem);
}

static PetscErrorCode check_value_type(BODataset ds, hid_t dset, const char *what)
{
  hid_t       t   = H5Dget_type(dset);
  H5T_class_t cls = H5Tget_class(t);

  PetscFunctionBegin;
  PetscCheck(cls == H5T_INTEGER || cls == H5T_FLOAT, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset %s has neither an integer nor a floating-point type", ds->filename, what);
  ds->ftype = H5Tget_native_type(t, H5T_DIR_ASCEND);
  BOCallHDF5(H5Tclose(t), "H5Tclose");
  PetscFunctionReturn(0);
}

static PetscErrorCode open_dense(BODataset ds)
{
  hid_t   sp;
  hsize_t dims[H5S_MAX_RANK];
  int     nd, sdim;
  char    why[256];

  PetscFunctionBegin;
  ds->dset = H5Dopen2(ds->file, ds->name, H5P_DEFAULT);
  PetscCheck(ds->dset >= 0, ds->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: cannot open dataset %s", ds->filename, ds->name);
  sdim = BOFieldSpatialDims(ds->dset, ds->data_dims, why, sizeof(why)); /* 2-D or 3-D: docs/DATA.md §1 */
  PetscCheck(sdim >= 0, ds->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: dataset %s %s", ds->filename, ds->name, why);
  sp = H5Dget_space(ds->dset);
  nd = H5Sget_simple_extent_ndims(sp);
  H5Sget_simple_extent_dims(sp, dims, NULL);
  BOCallHDF5(H5Sclose(sp), "H5Sclose");
  PetscCall(check_value_type(ds, ds->dset, ds->name));
  ds->N        = (PetscInt)dims[0];
  ds->is_field = sdim >= 2 ? PETSC_TRUE : PETSC_FALSE;
  ds->is_3d    = sdim == 3 ? PETSC_TRUE : PETSC_FALSE;
  ds->Nz       = 1;
  if (ds->is_3d) {
    ds->Nz = (PetscInt)dims[1], ds->Ny = (PetscInt)dims[2], ds->Nx = (PetscInt)dims[3];
    ds->C    = nd == 5 ? (PetscInt)dims[4] : 1;
    ds->ndim = 4, ds->shape[0] = ds->Nz, ds->shape[1] = ds->Ny, ds->shape[2] = ds->Nx, ds->shape[3] = ds->C;
    ds->D = ds->Nz * ds->Ny * ds->Nx * ds->C;
  } else if (ds->is_field) {
    ds->Ny = (PetscInt)dims[1], ds->Nx = (PetscInt)dims[2], ds->C = nd == 4 ? (PetscInt)dims[3] : 1;
    ds->ndim = 3, ds->shape[0] = ds->Ny, ds->shape[1] = ds->Nx, ds->shape[2] = ds->C;
    ds->D = ds->Ny * ds->Nx * ds->C;
  } else {
    ds->G = ds->D = (PetscInt)dims[1];
    ds->ndim = 1, ds->shape[0] = ds->G;
  }
  ds->top_down = BORowsTopDown(ds->file);
  if (H5Aexists(ds->dset, "timestepping") > 0) {
    int   ts = 0;
    hid_t a  = H5Aopen(ds->dset, "timestepping", H5P_DEFAULT);
    if (a >= 0 && H5Aread(a, H5T_NATIVE_INT, &ts) >= 0) ds->timestepping = ts ? PETSC_TRUE : PETSC_FALSE;
    if (a >= 0) H5Aclose(a);
  }
  PetscFunctionReturn(0);
}

/* AnnData: X/{data,indices,indptr} + attribute shape (N, G). 10x: matrix/{...}
 * + dataset shape (G, N) with indptr over cells, which is the same CSR. */
static PetscErrorCode open_csr(BODataset ds, hid_t grp)
{
  static const char *parts[3] = {"data", "indices", "indptr"};
  int64_t            shape[2] = {-1, -1};
  hsize_t            nptr;
  hid_t              sp;

  PetscFunctionBegin;
  for (int i = 0; i < 3; i++) {
    PetscCheck(H5Lexists(grp, parts[i], H5P_DEFAULT) > 0, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
               "%s: group %s is not a CSR matrix: no dataset %s/%s", ds->filename, ds->name, ds->name, parts[i]);
    ds->csr[i] = H5Dopen2(grp, parts[i], H5P_DEFAULT);
    BOCallHDF5(ds->csr[i], "%s: cannot open %s/%s", ds->filename, ds->name, parts[i]);
  }
  PetscCall(check_value_type(ds, ds->csr[0], "data"));
  if (H5Aexists(grp, "shape") > 0) {
    hid_t a = H5Aopen(grp, "shape", H5P_DEFAULT);
    BOCallHDF5(H5Aread(a, H5T_NATIVE_INT64, shape), "%s: cannot read attribute %s/shape", ds->filename, ds->name);
    H5Aclose(a);
  } else if (H5Lexists(grp, "shape", H5P_DEFAULT) > 0) {
    int64_t s10x[2];
    hid_t   d = H5Dopen2(grp, "shape", H5P_DEFAULT);
    BOCallHDF5(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, s10x), "%s: cannot read %s/shape",
               ds->filename, ds->name);
    H5Dclose(d);
    shape[0] = s10x[1], shape[1] = s10x[0]; /* 10x stores (genes, cells) */
  }
  PetscCheck(shape[0] >= 0 && shape[1] >= 0, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: CSR group %s has no shape attribute", ds->filename, ds->name);
  sp = H5Dget_space(ds->csr[2]);
  H5Sget_simple_extent_dims(sp, &nptr, NULL);
  H5Sclose(sp);
  PetscCheck((int64_t)nptr == shape[0] + 1, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: CSR group %s: indptr has %llu entries, expected N + 1 = %lld", ds->filename, ds->name,
             (unsigned long long)nptr, (long long)shape[0] + 1);
  ds->is_sparse = PETSC_TRUE;
  ds->N = (PetscInt)shape[0], ds->G = ds->D = (PetscInt)shape[1];
  ds->ndim = 1, ds->shape[0] = ds->G, ds->Nz = 1;
  PetscFunctionReturn(0);
}

static PetscErrorCode open_labels(BODataset ds)
{
  char     path[PETSC_MAX_PATH_LEN];
  hid_t    d, sp;
  hsize_t  n = 0;
  int      nd;
  double  *v;
  PetscInt lmax = -1;

  PetscFunctionBegin;
  bo_data_sibling_path(ds->name, "labels", path, sizeof(path));
  if (!bo_data_path_exists(ds->file, path)) PetscFunctionReturn(0);
  d = H5Dopen2(ds->file, path, H5P_DEFAULT);
  PetscCheck(d >= 0, ds->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: %s is not a dataset", ds->filename, path);
  sp = H5Dget_space(d);
  nd = H5Sget_simple_extent_ndims(sp);
  if (nd == 1) H5Sget_simple_extent_dims(sp, &n, NULL);
  H5Sclose(sp);
  PetscCheck(nd == 1 && (PetscInt)n == ds->N, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset %s must hold one label per sample (%" PetscInt_FMT ")", ds->filename, path, ds->N);
  PetscCall(PetscMalloc1(ds->nlocal, &v));
  PetscCall(PetscMalloc1(ds->nlocal, &ds->labels));
  PetscCall(BOH5ReadRows(d, H5T_NATIVE_DOUBLE, (hsize_t)ds->first, (hsize_t)ds->nlocal, v));
  H5Dclose(d);
  PetscCall(bo_dataset_validate(ds, path, (size_t)ds->nlocal, v, ds->first, PETSC_TRUE));
  for (PetscInt i = 0; i < ds->nlocal; i++) {
    ds->labels[i] = (PetscInt)v[i];
    lmax          = PetscMax(lmax, ds->labels[i]);
  }
  PetscCall(PetscFree(v));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &lmax, 1, MPIU_INT, MPI_MAX, ds->comm));
  ds->has_labels  = PETSC_TRUE;
  ds->num_classes = lmax + 1;
  PetscFunctionReturn(0);
}

/* Read (and validate) the shard chunk by chunk: into ds->x when loading it,
 * or only to validate and find the maximum when streaming. */
static PetscErrorCode scan_shard(BODataset ds)
{
  PetscInt rounds, done = 0;
  float   *buf  = NULL;
  float    vmax = 0;

  PetscFunctionBegin;
  rounds = (ds->nlocal + ds->rows_per_chunk - 1) / ds->rows_per_chunk;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &rounds, 1, MPIU_INT, MPI_MAX, ds->comm));
  PetscCall(PetscMalloc1(ds->nlocal, &ds->totals));
  if (ds->streaming) PetscCall(PetscMalloc1((size_t)ds->rows_per_chunk * ds->D, &buf));
  else PetscCall(PetscMalloc1((size_t)ds->nlocal * ds->D, &ds->x));
  for (PetscInt r = 0; r < rounds; r++) {
    PetscInt n   = PetscMin(ds->rows_per_chunk, ds->nlocal - done);
    float   *out = ds->streaming ? buf : ds->x + (size_t)done * ds->D;
    PetscCall(BODatasetRead(ds, ds->first + done, n, out));
    for (size_t i = 0; i < (size_t)n * ds->D; i++) vmax = PetscMax(vmax, out[i]);
    for (PetscInt b = 0; b < n; b++) {
      double sum = 0.0;
      for (PetscInt i = 0; i < ds->D; i++) sum += out[(size_t)b * ds->D + i];
      ds->totals[done + b] = sum;
    }
    done += n;
  }
  PetscCall(PetscFree(buf));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &vmax, 1, MPI_FLOAT, MPI_MAX, ds->comm));
  ds->max_count = vmax;
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetOpen(BODataset ds)
{
  hid_t      fapl, obj;
  H5I_type_t kind;

  PetscFunctionBegin;
  BOH5Quiet(); /* errors are reported as PETSc errors, on one line */
  PetscCheck(ds->filename[0], ds->comm, PETSC_ERR_USER_INPUT, "no data file given (-data FILE)");
  fapl = H5Pcreate(H5P_FILE_ACCESS);
  BOCallHDF5(H5Pset_fapl_mpio(fapl, ds->comm, MPI_INFO_NULL), "H5Pset_fapl_mpio");
  ds->file = H5Fopen(ds->filename, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  PetscCheck(ds->file >= 0, ds->comm, PETSC_ERR_FILE_OPEN, "%s: cannot open (missing, unreadable or not an HDF5 file)",
             ds->filename);

  /* AnnData files keep the matrix in X: accept it when the default is absent */
  if (!bo_data_path_exists(ds->file, ds->name) && !strcmp(ds->name, "counts") && bo_data_path_exists(ds->file, "X"))
    PetscCall(PetscStrncpy(ds->name, "X", sizeof(ds->name)));
  if (!bo_data_path_exists(ds->file, ds->name) && !strcmp(ds->name, "counts") &&
      bo_data_path_exists(ds->file, "matrix"))
    PetscCall(PetscStrncpy(ds->name, "matrix", sizeof(ds->name)));
  PetscCheck(bo_data_path_exists(ds->file, ds->name), ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: no dataset %s (see -data_name)", ds->filename, ds->name);
  obj  = H5Oopen(ds->file, ds->name, H5P_DEFAULT);
  kind = H5Iget_type(obj);
  if (kind == H5I_GROUP) PetscCall(open_csr(ds, obj));
  H5Oclose(obj);
  if (kind == H5I_DATASET) PetscCall(open_dense(ds));
  PetscCheck(kind == H5I_DATASET || kind == H5I_GROUP, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: %s is neither a dataset nor a CSR group", ds->filename, ds->name);
  PetscCheck(ds->N > 0 && ds->D > 0, ds->comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: dataset %s is empty (%" PetscInt_FMT " samples of %" PetscInt_FMT " elements)", ds->filename,
             ds->name, ds->N, ds->D);
  PetscCheck(ds->N >= ds->size, ds->comm, PETSC_ERR_ARG_SIZ,
             "%s: dataset %s has %" PetscInt_FMT
             " samples but the run has %d ranks: every rank needs at least one sample",
             ds->filename, ds->name, ds->N, ds->size);
  BODatasetShard(ds->N, ds->size, ds->rank, &ds->first, &ds->nlocal);

  /* Chunking. Loading: 16 MiB of doubles per read. Streaming: windows of
   * shuffle_window blocks, a window never more than chunk_mb of floats. */
  ds->streaming = ds->chunk_mb > 0 ? PETSC_TRUE : PETSC_FALSE;
  if (ds->streaming) {
    double rows        = ds->chunk_mb * 1048576.0 / (4.0 * ds->D);
    ds->rows_per_chunk = (PetscInt)PetscMax(1.0, PetscMin(rows, (double)ds->N));
    ds->block          = PetscMax(1, ds->rows_per_chunk / ds->shuffle_window);
    ds->rows_per_chunk = ds->block * ds->shuffle_window;
    PetscCall(PetscMalloc1((size_t)ds->rows_per_chunk * ds->D, &ds->win));
  } else {
    ds->rows_per_chunk = PetscMax(1, (PetscInt)(16777216.0 / (8.0 * ds->D)));
  }
  PetscCall(open_labels(ds));
  PetscCall(bo_dataset_open_conditions(ds)); /* params and inputs, if any */
  PetscCall(scan_shard(ds));
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetGatherTotals(BODataset ds, double **totals, PetscInt **labels)
{
  PetscMPIInt *counts, *displs, n = (PetscMPIInt)ds->nlocal;

  PetscFunctionBegin;
  PetscCall(PetscMalloc2(ds->size, &counts, ds->size, &displs));
  PetscCallMPI(MPI_Allgather(&n, 1, MPI_INT, counts, 1, MPI_INT, ds->comm));
  for (int r = 0; r < ds->size; r++) displs[r] = r ? displs[r - 1] + counts[r - 1] : 0; /* shards in rank order */
  PetscCall(PetscMalloc1(ds->N, totals));
  PetscCallMPI(MPI_Allgatherv(ds->totals, n, MPI_DOUBLE, *totals, counts, displs, MPI_DOUBLE, ds->comm));
  if (labels) {
    *labels = NULL;
    if (ds->has_labels) {
      PetscCall(PetscMalloc1(ds->N, labels));
      PetscCallMPI(MPI_Allgatherv(ds->labels, n, MPIU_INT, *labels, counts, displs, MPIU_INT, ds->comm));
    }
  }
  PetscCall(PetscFree2(counts, displs));
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetView(BODataset ds, PetscViewer viewer)
{
  PetscFunctionBegin;
  if (!viewer) viewer = PETSC_VIEWER_STDOUT_(ds->comm);
  PetscCall(PetscViewerASCIIPrintf(viewer, "BODataset %s:%s\n", ds->filename, ds->name));
  PetscCall(PetscViewerASCIIPushTab(viewer));
  if (ds->is_3d)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "3-D fields: N = %" PetscInt_FMT ", Nz = %" PetscInt_FMT ", Ny = %" PetscInt_FMT
                                     ", Nx = %" PetscInt_FMT ", C = %" PetscInt_FMT "\n",
                                     ds->N, ds->Nz, ds->Ny, ds->Nx, ds->C));
  else if (ds->is_field)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "fields: N = %" PetscInt_FMT ", Ny = %" PetscInt_FMT ", Nx = %" PetscInt_FMT
                                     ", C = %" PetscInt_FMT "\n",
                                     ds->N, ds->Ny, ds->Nx, ds->C));
  else
    PetscCall(PetscViewerASCIIPrintf(viewer, "vectors%s: N = %" PetscInt_FMT ", G = %" PetscInt_FMT "\n",
                                     ds->is_sparse ? " (CSR)" : "", ds->N, ds->G));
  PetscCall(PetscViewerASCIIPrintf(viewer, "max count %g; labels: %s", ds->max_count, ds->has_labels ? "yes" : "no"));
  if (ds->has_labels) PetscCall(PetscViewerASCIIPrintf(viewer, " (%" PetscInt_FMT " classes)", ds->num_classes));
  PetscCall(PetscViewerASCIIPrintf(viewer, "\n"));
  if (ds->has_params)
    PetscCall(PetscViewerASCIIPrintf(viewer, "params: P = %" PetscInt_FMT " (%s)\n", ds->P, ds->param_names));
  if (ds->has_inputs) PetscCall(PetscViewerASCIIPrintf(viewer, "inputs: Ci = %" PetscInt_FMT "\n", ds->Ci));
  if (ds->streaming)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "streaming: windows of %" PetscInt_FMT " blocks of %" PetscInt_FMT " samples%s\n",
                                     ds->shuffle_window, ds->block, ds->stream_inputs ? ", with their inputs" : ""));
  PetscCall(PetscViewerASCIIPrintf(viewer, "shards: %d ranks, about %" PetscInt_FMT " samples each\n", ds->size,
                                   ds->N / ds->size));
  PetscCall(PetscViewerASCIIPopTab(viewer));
  PetscFunctionReturn(0);
}

PetscErrorCode BODatasetDestroy(BODataset *ds)
{
  BODataset d = *ds;

  PetscFunctionBegin;
  if (!d) PetscFunctionReturn(0);
  for (int i = 0; i < 3; i++)
    if (d->csr[i] >= 0) H5Dclose(d->csr[i]);
  if (d->dset >= 0) H5Dclose(d->dset);
  if (d->ftype > 0) H5Tclose(d->ftype);
  if (d->file >= 0) H5Fclose(d->file);
  PetscCall(PetscFree(d->x));
  PetscCall(PetscFree(d->labels));
  PetscCall(PetscFree(d->params));
  PetscCall(PetscFree(d->inputs));
  PetscCall(PetscFree(d->totals));
  PetscCall(PetscFree(d->win));
  PetscCall(PetscFree(d->win_inputs));
  PetscCall(PetscFree(d->input_sums));
  PetscCall(PetscFree(d->input_summary));
  PetscCall(PetscFree2(d->batch_gidx, d->batch_inputs));
  for (int s = 0; s < 2; s++) {
    PetscCall(PetscFree(d->cache_perm[s]));
    PetscCall(PetscFree(d->cache_wstart[s]));
  }
  PetscCall(PetscFree(*ds));
  PetscFunctionReturn(0);
}
