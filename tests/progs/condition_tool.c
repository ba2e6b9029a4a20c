static char help[] = "Test helper for observed-cell conditioning.\n"
                     "  condition_tool -make OBS.h5 -from DATA.h5 -member K -every S [-mask_value M]\n"
                     "      value = member K of DATA, mask = M (default 1) at every S-th cell\n"
                     "  condition_tool -check OBS.h5 -ens ENS.h5\n"
                     "      prints how many members match every observed cell, and how many\n"
                     "      members differ from the value somewhere off the mask\n";
#include <hdf5.h>
#include "blackout.h"

static PetscErrorCode write_obs(const char *path, const BODataset ds, const float *value, PetscInt every,
                                PetscInt mask_value)
{
  hsize_t dims[3] = {(hsize_t)ds->Ny, (hsize_t)ds->Nx, (hsize_t)ds->C};
  int     rank    = ds->C > 1 ? 3 : 2;
  float  *mask;
  hid_t   f, sp, d;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(ds->D, &mask));
  for (PetscInt i = 0; i < ds->D; i++) mask[i] = i % every == 0 ? (float)mask_value : 0.0f;
  f  = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  sp = H5Screate_simple(rank, dims, NULL);
  d  = H5Dcreate2(f, "value", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, value);
  H5Dclose(d);
  d = H5Dcreate2(f, "mask", H5T_STD_U8LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, mask);
  H5Dclose(d), H5Sclose(sp), H5Fclose(f);
  PetscCall(PetscFree(mask));
  PetscFunctionReturn(0);
}

static PetscErrorCode read_floats(const char *path, const char *name, PetscInt D, float *x)
{
  hid_t f, d, sp;
  PetscFunctionBegin;
  f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  PetscCheck(f >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot open %s", path);
  d = H5Dopen2(f, name, H5P_DEFAULT);
  PetscCheck(d >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "no %s in %s", name, path);
  sp = H5Dget_space(d);
  PetscCheck(H5Sget_simple_extent_npoints(sp) == D, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s has the wrong size",
             name);
  H5Sclose(sp);
  PetscCheck(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_READ,
             "read %s", name);
  H5Dclose(d), H5Fclose(f);
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char      obs[PETSC_MAX_PATH_LEN] = "", from[PETSC_MAX_PATH_LEN] = "", ens[PETSC_MAX_PATH_LEN] = "";
  PetscInt  member = 0, every = 3, mask_value = 1;
  PetscBool make, check;
  BODataset ds;

  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-make", obs, sizeof(obs), &make));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-check", obs, sizeof(obs), &check));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-from", from, sizeof(from), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-ens", ens, sizeof(ens), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-member", &member, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-every", &every, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-mask_value", &mask_value, NULL));
  PetscCall(BODatasetCreate(PETSC_COMM_SELF, &ds));
  PetscCall(BODatasetSetFile(ds, make ? from : ens, "counts"));
  PetscCall(BODatasetOpen(ds));
  if (make) {
    PetscCall(write_obs(obs, ds, ds->x + member * ds->D, every, mask_value));
  } else {
    float   *value, *mask;
    PetscInt honoured = 0, free_differ = 0;
    PetscCall(PetscMalloc2(ds->D, &value, ds->D, &mask));
    PetscCall(read_floats(obs, "value", ds->D, value));
    PetscCall(read_floats(obs, "mask", ds->D, mask));
    for (PetscInt m = 0; m < ds->nlocal; m++) {
      PetscInt ok = 1, differ = 0;
      for (PetscInt i = 0; i < ds->D; i++) {
        if (mask[i]) ok &= ds->x[m * ds->D + i] == value[i];
        else differ |= ds->x[m * ds->D + i] != value[i];
      }
      honoured += ok, free_differ += differ;
    }
    PetscCall(PetscPrintf(PETSC_COMM_SELF,
                          "honoured %" PetscInt_FMT " of %" PetscInt_FMT "; free cells differ in %" PetscInt_FMT "\n",
                          honoured, ds->nlocal, free_differ));
    PetscCall(PetscFree2(value, mask));
  }
  PetscCall(BODatasetDestroy(&ds));
  PetscCall(PetscFinalize());
  return 0;
}
