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
  /* the member's shape */
  hsize_t dims[4];
  int     rank = ds->is_3d ? (ds->C > 1 ? 4 : 3) : (ds->C > 1 ? 3 : 2); /* no component axis for C = 1 */
  float  *mask;
  hid_t   f, sp, d;

  PetscFunctionBegin;
  for (int i = 0; i < 4; i++) dims[i] = (hsize_t)ds->shape[i];
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

/* value or mask of the members' shape (BOMemberShapedRead: a 3-D member's exactly) */
static PetscErrorCode read_floats(const char *path, BODataset ds, const char *name, float *x)
{
  char           what[PETSC_MAX_PATH_LEN + 16], members[PETSC_MAX_PATH_LEN + 32];
  hid_t          f;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  PetscCheck(f >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot open %s", path);
  snprintf(what, sizeof(what), "-check %s", path);
  snprintf(members, sizeof(members), "the members of %s", ds->filename);
  ierr = BOMemberShapedRead(f, what, name, members, ds->ndim, ds->shape, x);
  H5Fclose(f);
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

static PetscErrorCode run(void)
{
  char      obs[PETSC_MAX_PATH_LEN] = "", from[PETSC_MAX_PATH_LEN] = "", ens[PETSC_MAX_PATH_LEN] = "";
  PetscInt  member = 0, every = 3, mask_value = 1;
  PetscBool make, check;
  BODataset ds;

  PetscFunctionBegin;
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
    PetscCall(read_floats(obs, ds, "value", value));
    PetscCall(read_floats(obs, ds, "mask", mask));
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
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscErrorCode ierr;

  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  ierr = BOAppStart("condition_tool");
  if (!ierr) ierr = run();
  return BOAppFinish(ierr);
}
