static char help[] = "Generate an ensemble of count snapshots from a Blackout checkpoint.\n\n"
                     "  mpirun -n P bo_sample -checkpoint CKPT.h5 -n N -out ENS.h5 [-seed S]\n"
                     "         [-sampler bridge|tauleap] [-sample_steps K] [-batch B] [-png FILE.png]\n"
                     "         [-label L | -label_from train|none] [-guidance W] [-condition OBS.h5]\n"
                     "         [-mass M | -mass_from train|FILE|none] [-first_member F]\n"
                     "         [-params v1,v2,... | -params_file P.h5] [-params_knn K]\n"
                     "         [-params_knn_adjust none|linear] [-inputs F.h5] [-inputs_knn K]\n\n"
                     "A network conditioned on simulator parameters needs -params (physical units, in\n"
                     "the order of the checkpoint's names) or -params_file (M points: -n members each,\n"
                     "point-major, M x N in all); one conditioned on input fields needs -inputs.\n"
                     "Drawn totals (-mass_from train) come from the K training members nearest to a\n"
                     "member's params (-params_knn) or input field (-inputs_knn, on a 4 x 4 grid).\n\n"
                     "Members are generated in micro-batches of B aligned to the member index and\n"
                     "dealt to ranks, so the ensemble is bit-identical on any number of ranks.\n"
                     "A 3-D network writes (N, Nz, Ny, Nx[, C]) members with Mz and a 3-D XDMF\n"
                     "sidecar; -condition then takes value/mask of shape (Nz, Ny, Nx[, C]); -png\n"
                     "draws a row of z-slices per member.\n"
                     "-first_member F (a multiple of B) generates members F..F+N-1 of the same\n"
                     "ensemble: shards of a job array join into the single-job file with -merge.\n"
                     "  bo_sample -merge A.h5,B.h5,... -out ENS.h5   joins shards in member order.\n\n";

#include <string.h>
#include "bo_ensemble.h"
#include "bo_io.h"
#include "bo_sampler.h"
#include "bo_sys.h"

typedef struct {
  PetscInt  n, first;
  char      out[PETSC_MAX_PATH_LEN], png[PETSC_MAX_PATH_LEN], merge[4096];
  PetscBool has_merge;
} Options;

static PetscErrorCode get_options(Options *o)
{
  PetscFunctionBegin;
  PetscCall(PetscMemzero(o, sizeof(*o)));
  o->n = 16;
  PetscCall(PetscStrncpy(o->out, "ensemble.h5", sizeof(o->out)));
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "Ensemble output", NULL);
  PetscCall(PetscOptionsInt("-n", "members to generate", NULL, o->n, &o->n, NULL));
  PetscCall(PetscOptionsInt("-first_member", "index of the first member (multiple of -batch)", NULL, o->first,
                            &o->first, NULL));
  PetscCall(PetscOptionsString("-out", "output HDF5 file", NULL, o->out, o->out, sizeof(o->out), NULL));
  PetscCall(PetscOptionsString("-png", "PNG montage of the first members", NULL, o->png, o->png, sizeof(o->png), NULL));
  PetscCall(PetscOptionsString("-merge", "comma-separated shard files to join into -out", NULL, o->merge, o->merge,
                               sizeof(o->merge), &o->has_merge));
  PetscOptionsEnd();
  PetscFunctionReturn(0);
}

/* -out of a merge (and its sidecar) replaces none of its shards; a merge
 * only joins, so the options of a generating run are refused, not ignored. */
static PetscErrorCode check_merge_outputs(const Options *o)
{
  char            list[sizeof(o->merge)], *save = NULL;
  const BOFileArg out[]    = {{"-out", o->out}};
  const char     *unused[] = {"-png", "-n", "-first_member", "-checkpoint"};

  PetscFunctionBegin;
  for (size_t i = 0; i < sizeof(unused) / sizeof(unused[0]); i++) {
    PetscBool set;
    PetscCall(PetscOptionsHasName(NULL, NULL, unused[i], &set));
    PetscCheck(!set, PETSC_COMM_WORLD, PETSC_ERR_ARG_INCOMP, "-merge only joins shards: %s does not apply, drop it",
               unused[i]);
  }
  PetscCall(PetscStrncpy(list, o->merge, sizeof(list)));
  for (char *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
    const BOFileArg shard[] = {{"-merge shard", f}};
    PetscCall(BOCheckEnsembleOutputs(PETSC_COMM_WORLD, 1, out, 0, NULL, 1, shard));
  }
  PetscFunctionReturn(0);
}

/* Neither the ensemble nor its picture replaces an input, or each other. */
static PetscErrorCode check_outputs(const Options *o, BOSampler s)
{
  /* -mass_from auto|train|none names no file */
  const PetscBool mass_file =
      strcmp(s->mass_from, "auto") && strcmp(s->mass_from, "train") && strcmp(s->mass_from, "none");
  const BOFileArg out[] = {{"-out", o->out}}, png[] = {{"-png", o->png}};
  const BOFileArg in[] = {{"-checkpoint", s->checkpoint},
                          {"-condition", s->condition},
                          {"-mass_from", mass_file ? s->mass_from : ""},
                          {"-params_file", s->params_file},
                          {"-inputs", s->inputs_file}};

  PetscFunctionBegin;
  PetscCall(BOCheckEnsembleOutputs(PETSC_COMM_WORLD, 1, out, 1, png, 5, in));
  PetscFunctionReturn(0);
}

static PetscErrorCode run(void)
{
  Options   o;
  BOSampler s;
  PetscBool help;

  PetscFunctionBegin;
  /* 1. What to write; -merge only joins shards. */
  PetscCall(get_options(&o));
  PetscCheck(o.out[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "-out is empty: give the output file with -out FILE.h5");
  if (o.has_merge) {
    PetscCall(check_merge_outputs(&o));
    PetscCall(BOMergeEnsembles(PETSC_COMM_WORLD, o.merge, o.out));
    PetscFunctionReturn(0);
  }
  /* 2. The model from the checkpoint, sampler settings, conditioning. */
  PetscCall(BOSamplerCreate(PETSC_COMM_WORLD, &s));
  PetscCall(BOSamplerSetFromOptions(s));
  PetscCall(PetscOptionsHasHelp(NULL, &help));
  if (help) { /* -help: the options are listed; do nothing */
    PetscCall(BOSamplerDestroy(&s));
    PetscFunctionReturn(0);
  }
  PetscCall(check_outputs(&o, s));
  s->members_per_point = o.n;
  PetscCall(BOSamplerSetUp(s));
  PetscCall(BOSamplerView(s, NULL));
  /* 3. Generate and write block by block; then the picture. With -params_file
   * each of its points gets -n members. */
  if (s->params_file[0]) o.n *= s->npoints;
  PetscCall(BOSamplerWriteEnsemble(s, o.first, o.n, o.out));
  if (o.png[0]) PetscCall(BOPNGFromFile(PETSC_COMM_WORLD, o.out, "counts", 64, o.png));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "wrote %" PetscInt_FMT " members to %s%s%s\n", o.n, o.out,
                        o.png[0] ? " and " : "", o.png));
  PetscCall(BOSamplerDestroy(&s));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  if (BOAppArgs(&argc, argv, "bo_sample", help)) return 1;
  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  ierr = BOAppStart("bo_sample");
  if (!ierr) ierr = run();
  return BOAppFinish(ierr);
}
