/* make_anndata FILE [tenx]: a small single-cell file for the converter tests.
 * AnnData: X/{data (float32), indices, indptr} + attribute X.shape = (N, G)
 * and a root `labels` dataset. tenx: 10x layout matrix/{data, indices,
 * indptr, shape = (G, N)}. Row r, column c holds r + c when (r + c) % 3 == 0.
 * Plain serial HDF5; no MPI needed. */
#include <hdf5.h>
#include <stdio.h>
#include <string.h>

#define N 7
#define G 5

static void put(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hsize_t n, const void *buf)
{
  hid_t s = H5Screate_simple(1, &n, NULL), d = H5Dcreate2(loc, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  H5Dclose(d), H5Sclose(s);
}

int main(int argc, char **argv)
{
  float   data[N * G];
  int32_t indices[N * G], indptr[N + 1] = {0}, labels[N];
  hsize_t nnz  = 0;
  int     tenx = argc > 2 && !strcmp(argv[2], "tenx");

  if (argc < 2) return fprintf(stderr, "usage: make_anndata FILE [tenx]\n"), 2;
  for (int r = 0; r < N; r++) {
    for (int c = 0; c < G; c++)
      if ((r + c) % 3 == 0) data[nnz] = (float)(r + c), indices[nnz++] = c;
    indptr[r + 1] = (int32_t)nnz;
    labels[r]     = r % 2;
  }
  hid_t f = H5Fcreate(argv[1], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t g = H5Gcreate2(f, tenx ? "matrix" : "X", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  put(g, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, nnz, data);
  put(g, "indices", H5T_STD_I32LE, H5T_NATIVE_INT32, nnz, indices);
  put(g, "indptr", H5T_STD_I32LE, H5T_NATIVE_INT32, N + 1, indptr);
  if (tenx) {
    int64_t shape[2] = {G, N};
    put(g, "shape", H5T_STD_I64LE, H5T_NATIVE_INT64, 2, shape);
  } else {
    int64_t shape[2] = {N, G};
    hsize_t two      = 2;
    hid_t   s = H5Screate_simple(1, &two, NULL), a = H5Acreate2(g, "shape", H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT64, shape), H5Aclose(a), H5Sclose(s);
    put(f, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, N, labels);
  }
  H5Gclose(g), H5Fclose(f);
  return 0;
}
