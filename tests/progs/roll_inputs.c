/* roll_inputs FILE K: rewrite FILE's inputs dataset in place so that member
 * m carries the input field of member (m + K) mod N (the counts stay): a
 * "generated" set that is a copy of the real members of other fields, for
 * tests/cli/eval_by_inputs.sh. Serial, plain HDF5; exit status 1 on error. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
  hid_t   f, d, sp;
  hsize_t dims[5], N, per = 1;
  int     nd;
  long    K;
  float  *in, *out;

  if (argc != 3) return fprintf(stderr, "usage: roll_inputs FILE K\n"), 1;
  K = atol(argv[2]);
  if ((f = H5Fopen(argv[1], H5F_ACC_RDWR, H5P_DEFAULT)) < 0) return 1;
  if ((d = H5Dopen2(f, "inputs", H5P_DEFAULT)) < 0) return 1;
  sp = H5Dget_space(d);
  nd = H5Sget_simple_extent_dims(sp, dims, NULL);
  N  = dims[0];
  for (int i = 1; i < nd; i++) per *= dims[i];
  in  = malloc(sizeof(float) * N * per);
  out = malloc(sizeof(float) * N * per);
  if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, in) < 0) return 1;
  for (hsize_t m = 0; m < N; m++) memcpy(out + m * per, in + ((m + (hsize_t)K) % N) * per, sizeof(float) * per);
  if (H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) return 1;
  free(in), free(out);
  H5Sclose(sp), H5Dclose(d), H5Fclose(f);
  return 0;
}
