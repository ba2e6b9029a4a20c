static char help[] = "Test helper: classify members of an ensemble by the nearest class mean of a\n"
                     "labelled training set and print the fraction assigned to -label L.\n"
                     "  nearest_mean -train TRAIN.h5 -ens ENS.h5 -label L\n"
                     "With -label -1 the ensemble carries its members' labels: print the fraction\n"
                     "classified as their own label, and the chi-square of the label counts against\n"
                     "the training frequencies.\n";
#include "blackout.h"

int main(int argc, char **argv)
{
  BODataset tr, en;
  char      train[PETSC_MAX_PATH_LEN] = "", ens[PETSC_MAX_PATH_LEN] = "";
  PetscInt  label = 0, hits = 0;
  double   *mean;
  PetscInt *count;

  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-train", train, sizeof(train), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-ens", ens, sizeof(ens), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-label", &label, NULL));
  PetscCall(BODatasetCreate(PETSC_COMM_SELF, &tr));
  PetscCall(BODatasetSetFile(tr, train, "counts"));
  PetscCall(BODatasetOpen(tr));
  PetscCall(BODatasetCreate(PETSC_COMM_SELF, &en));
  PetscCall(BODatasetSetFile(en, ens, "counts"));
  PetscCall(BODatasetOpen(en));
  PetscCheck(tr->has_labels && tr->D == en->D, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG,
             "need a labelled training set of the ensemble's shape");
  const PetscInt K = tr->num_classes, D = tr->D;
  PetscCall(PetscCalloc2(K * D, &mean, K, &count));
  for (PetscInt i = 0; i < tr->nlocal; i++) {
    count[tr->labels[i]]++;
    for (PetscInt d = 0; d < D; d++) mean[tr->labels[i] * D + d] += tr->x[i * D + d];
  }
  for (PetscInt c = 0; c < K; c++)
    for (PetscInt d = 0; d < D; d++) mean[c * D + d] /= PetscMax(count[c], 1);
  for (PetscInt i = 0; i < en->nlocal; i++) {
    PetscInt best  = 0;
    double   bestd = 1e300;
    for (PetscInt c = 0; c < K; c++) {
      double dist = 0;
      for (PetscInt d = 0; d < D; d++) dist += PetscSqr(en->x[i * D + d] - mean[c * D + d]);
      if (dist < bestd) bestd = dist, best = c;
    }
    hits += best == (label >= 0 ? label : en->labels[i]);
  }
  if (label >= 0)
    PetscCall(PetscPrintf(PETSC_COMM_SELF,
                          "fraction %.4f of %" PetscInt_FMT " members classified as %" PetscInt_FMT "\n",
                          (double)hits / en->nlocal, en->nlocal, label));
  else {
    PetscInt *seen;
    double    chi2 = 0;
    PetscCheck(en->has_labels, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "-label -1: %s has no labels", ens);
    PetscCall(PetscCalloc1(K, &seen));
    for (PetscInt i = 0; i < en->nlocal; i++) seen[en->labels[i]]++;
    for (PetscInt c = 0; c < K; c++) {
      const double e = (double)en->nlocal * count[c] / tr->nlocal;
      chi2 += PetscSqr(seen[c] - e) / e;
    }
    PetscCall(PetscPrintf(PETSC_COMM_SELF,
                          "fraction %.4f of %" PetscInt_FMT " members classified as their label; label chi2 %.2f"
                          " over %" PetscInt_FMT " classes\n",
                          (double)hits / en->nlocal, en->nlocal, chi2, K));
    PetscCall(PetscFree(seen));
  }
  PetscCall(PetscFree2(mean, count));
  PetscCall(BODatasetDestroy(&tr));
  PetscCall(BODatasetDestroy(&en));
  PetscCall(PetscFinalize());
  return 0;
}
