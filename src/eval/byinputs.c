/* bo_eval -by_inputs: does a generated ensemble conditioned on input fields
 * follow its field? Real and generated members are grouped by identical
 * input fields (bit for bit); per field f, the RMSE between the generated
 * members' mean field G_f and the simulator's mean field S_f, against the
 * smallest RMSE between G_f and another field's S_g, their ratio (the
 * margin), the split-half floor of the same statistic, and the mean and sd
 * of the members' total counts, generated and real (docs/EVAL.md). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "bo_metrics.h"
#include "bo_sys.h"
#include "reportimpl.h"

/* 64-bit FNV-1a of one member's input field: the key of the grouping (then
 * checked bit for bit against the field's first member). */
static uint64_t field_hash(PetscInt n, const float *x)
{
  const unsigned char *b = (const unsigned char *)x;
  uint64_t             h = 1469598103934665603ULL;
  for (size_t i = 0; i < (size_t)n * sizeof(float); i++) h = (h ^ b[i]) * 1099511628211ULL;
  return h;
}

/* Every member's hash (in global member order) on every rank, and the
 * global index of each rank's first member (first[size] = N). */
static PetscErrorCode gather_hashes(MPI_Comm comm, PetscInt Di, BOInputSet s, PetscInt *N, uint64_t **all,
                                    PetscInt **first)
{
  PetscMPIInt size, n = (PetscMPIInt)s.set.nlocal, *cnt, *dsp;
  uint64_t   *mine;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(PetscMalloc3(size, &cnt, size, &dsp, n + 1, &mine));
  PetscCall(PetscMalloc1(size + 1, first));
  for (PetscInt i = 0; i < n; i++) mine[i] = field_hash(Di, s.inputs + (size_t)i * Di);
  PetscCallMPI(MPI_Allgather(&n, 1, MPI_INT, cnt, 1, MPI_INT, comm));
  dsp[0] = 0;
  for (PetscMPIInt r = 1; r < size; r++) dsp[r] = dsp[r - 1] + cnt[r - 1];
  for (PetscMPIInt r = 0; r < size; r++) (*first)[r] = dsp[r];
  *N = (*first)[size] = dsp[size - 1] + cnt[size - 1];
  PetscCall(PetscMalloc1(*N + 1, all));
  PetscCallMPI(MPI_Allgatherv(mine, n, MPI_UINT64_T, *all, cnt, dsp, MPI_UINT64_T, comm));
  PetscCall(PetscFree3(cnt, dsp, mine));
  PetscFunctionReturn(0);
}

static PetscInt find_hash(PetscInt n, const uint64_t *keys, uint64_t h)
{
  for (PetscInt j = 0; j < n; j++)
    if (keys[j] == h) return j;
  return -1;
}

/* Members whose hash matches a field's must hold its very field: field j's
 * first real member is broadcast from its owner and compared bit for bit. */
static PetscErrorCode check_identical(MPI_Comm comm, PetscInt Di, const BOByInputsReport *rep, const PetscInt *rfirst,
                                      BOInputSet real, const PetscInt *rfield, BOInputSet fake, const PetscInt *ffirst,
                                      const PetscInt *ffield)
{
  PetscMPIInt rank, size, owner = 0;
  float      *ref;
  PetscInt    bad = 0;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(PetscMalloc1(Di, &ref));
  for (PetscInt j = 0; j < rep->nfields; j++) {
    PetscInt g = rep->first_member[j];
    while (owner > 0 && rfirst[owner] > g) owner--;
    while (owner + 1 < size && rfirst[owner + 1] <= g) owner++;
    if (rank == owner) PetscCall(PetscArraycpy(ref, real.inputs + (size_t)(g - rfirst[rank]) * Di, Di));
    PetscCallMPI(MPI_Bcast(ref, (PetscMPIInt)Di, MPI_FLOAT, owner, comm));
    for (PetscInt i = 0; i < real.set.nlocal; i++)
      if (rfield[rfirst[rank] + i] == j && memcmp(ref, real.inputs + (size_t)i * Di, sizeof(float) * Di)) bad++;
    for (PetscInt i = 0; i < fake.set.nlocal; i++)
      if (ffield[ffirst[rank] + i] == j && memcmp(ref, fake.inputs + (size_t)i * Di, sizeof(float) * Di)) bad++;
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPIU_INT, MPI_SUM, comm));
  PetscCheck(!bad, comm, PETSC_ERR_PLIB, "by inputs: %" PetscInt_FMT " members share a field's hash but not its field",
             bad);
  PetscCall(PetscFree(ref));
  PetscFunctionReturn(0);
}

/* Sums of the members' counts per group (ngroups x D), over ranks: the
 * counts are integers, so the double sums are exact and do not depend on
 * the ranks. group[g] < 0 leaves member g out. */
static PetscErrorCode group_sums(MPI_Comm comm, PetscInt D, BOSet s, PetscInt first, const PetscInt *group,
                                 PetscInt ngroups, double *sum, PetscInt *n)
{
  PetscFunctionBegin;
  PetscCall(PetscArrayzero(sum, (size_t)ngroups * D));
  PetscCall(PetscArrayzero(n, ngroups));
  for (PetscInt i = 0; i < s.nlocal; i++) {
    PetscInt j = group[first + i];
    if (j < 0) continue;
    for (PetscInt c = 0; c < D; c++) sum[(size_t)j * D + c] += s.x[(size_t)i * D + c];
    n[j]++;
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, sum, (PetscMPIInt)(ngroups * D), MPI_DOUBLE, MPI_SUM, comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, n, (PetscMPIInt)ngroups, MPIU_INT, MPI_SUM, comm));
  for (PetscInt j = 0; j < ngroups; j++)
    for (PetscInt c = 0; c < D; c++) sum[(size_t)j * D + c] /= PetscMax(n[j], 1); /* now the means */
  PetscFunctionReturn(0);
}

/* The mean and sd (divisor n - 1; 0 for one member) of the members' total
 * counts per group: sums of integers, exact in double whatever the ranks. */
static PetscErrorCode group_mass(MPI_Comm comm, PetscInt D, BOSet s, PetscInt first, const PetscInt *group,
                                 PetscInt ngroups, double *mean, double *sd)
{
  double *m;

  PetscFunctionBegin;
  PetscCall(PetscCalloc1(3 * ngroups, &m)); /* per group: n, sum, sum of squares */
  for (PetscInt i = 0; i < s.nlocal; i++) {
    const PetscInt j = group[first + i];
    double         t = 0;
    for (PetscInt c = 0; c < D; c++) t += s.x[(size_t)i * D + c];
    m[3 * j] += 1, m[3 * j + 1] += t, m[3 * j + 2] += t * t;
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, m, (PetscMPIInt)(3 * ngroups), MPI_DOUBLE, MPI_SUM, comm));
  for (PetscInt j = 0; j < ngroups; j++) {
    const double n = m[3 * j];
    mean[j]        = m[3 * j + 1] / PetscMax(n, 1);
    sd[j]          = n > 1 ? sqrt(PetscMax(m[3 * j + 2] - n * mean[j] * mean[j], 0) / (n - 1)) : 0;
  }
  PetscCall(PetscFree(m));
  PetscFunctionReturn(0);
}

/* RMSE over the D cells between two mean fields. */
static double rmse(PetscInt D, const double *a, const double *b)
{
  double s = 0;
  for (PetscInt c = 0; c < D; c++) s += PetscSqr(a[c] - b[c]);
  return sqrt(s / D);
}

static void summarise(BOByInputsReport *rep)
{
  double lo = INFINITY, mean = 0, own = 0, floor = 0, sdr = 0, mr = 0;
  rep->nearest_own = 0;
  for (PetscInt j = 0; j < rep->nfields; j++) {
    const BOByInputsField *f = &rep->fields[j];
    rep->nearest_own += f->margin > 1;
    lo = PetscMin(lo, f->margin), mean += f->margin / rep->nfields;
    own += f->rmse_own / rep->nfields, floor += f->floor_scaled / rep->nfields;
    sdr += f->sd_fake / f->sd_real / rep->nfields, mr += f->mass_fake / f->mass_real / rep->nfields;
  }
  rep->margin_min = lo, rep->margin_mean = mean, rep->pass = (PetscBool)(rep->nearest_own == rep->nfields);
  rep->mass_sd_ratio = sdr, rep->mass_mean_ratio = mr;
  snprintf(rep->summary, sizeof(rep->summary),
           "BY_INPUTS: %s: the generated mean field is nearest its own field's simulator mean at %d of %d fields; "
           "margin (nearest other / own RMSE) min %.3g, mean %.3g; own RMSE %.4g on average against a noise floor "
           "of %.4g (split-half, scaled to the set sizes); per field, the generated total's sd is %.3g times the "
           "simulator's and its mean %.3g times, on average",
           rep->pass ? "pass" : "FAIL", (int)rep->nearest_own, (int)rep->nfields, lo, mean, own, floor, sdr, mr);
}

PetscErrorCode BOMetricsEvaluateByInputs(MPI_Comm comm, PetscInt D, PetscInt Di, BOInputSet real, BOInputSet fake,
                                         BOByInputsReport *rep)
{
  uint64_t   *hr, *hf;
  PetscInt   *rfirst, *ffirst, *rfield, *ffield, *half, *nr, *nf, *nh, *seen;
  double     *S, *G, *H;
  PetscMPIInt rank;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(rep, sizeof(*rep)));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(gather_hashes(comm, Di, real, &rep->N_real, &hr, &rfirst));
  PetscCall(gather_hashes(comm, Di, fake, &rep->N_fake, &hf, &ffirst));
  PetscCheck(rep->N_real > 0 && rep->N_fake > 0, comm, PETSC_ERR_ARG_SIZ,
             "empty set: by inputs needs real and generated members");

  /* 1. The fields: distinct inputs of real, in order of first appearance;
   *    every generated member on one of them, every field with one. */
  PetscCall(PetscMalloc2(rep->N_real, &rep->keys, rep->N_real, &rep->first_member));
  PetscCall(PetscMalloc2(rep->N_real, &rfield, rep->N_fake, &ffield));
  for (PetscInt g = 0; g < rep->N_real; g++) {
    PetscInt j = find_hash(rep->nfields, rep->keys, hr[g]);
    if (j < 0) j = rep->nfields++, rep->keys[j] = hr[g], rep->first_member[j] = g;
    rfield[g] = j;
  }
  PetscCheck(rep->nfields >= 2, comm, PETSC_ERR_ARG_INCOMP,
             "%s: all %" PetscInt_FMT " members are on one input field: by inputs needs two fields or more", real.what,
             rep->N_real);
  for (PetscInt g = 0; g < rep->N_fake; g++) {
    ffield[g] = find_hash(rep->nfields, rep->keys, hf[g]);
    PetscCheck(ffield[g] >= 0, comm, PETSC_ERR_ARG_INCOMP,
               "%s: member %" PetscInt_FMT " is on an input field that no member of %s has", fake.what, g, real.what);
  }
  PetscCall(check_identical(comm, Di, rep, rfirst, real, rfield, fake, ffirst, ffield));

  /* 2. Mean fields: the simulator's S_f, the generated G_f, and the two
   *    halves of each field's real members (even and odd within the field). */
  PetscCall(PetscMalloc3((size_t)rep->nfields * D, &S, (size_t)rep->nfields * D, &G, (size_t)2 * rep->nfields * D, &H));
  PetscCall(PetscMalloc5(rep->nfields, &nr, rep->nfields, &nf, 2 * rep->nfields, &nh, rep->N_real, &half, rep->nfields,
                         &seen));
  PetscCall(PetscArrayzero(seen, rep->nfields));
  for (PetscInt g = 0; g < rep->N_real; g++) half[g] = 2 * rfield[g] + seen[rfield[g]]++ % 2;
  PetscCall(group_sums(comm, D, real.set, rfirst[rank], rfield, rep->nfields, S, nr));
  PetscCall(group_sums(comm, D, fake.set, ffirst[rank], ffield, rep->nfields, G, nf));
  PetscCall(group_sums(comm, D, real.set, rfirst[rank], half, 2 * rep->nfields, H, nh));
  PetscCall(PetscMalloc1(rep->nfields, &rep->fields));
  {
    double *m;
    PetscCall(PetscMalloc1(4 * rep->nfields, &m));
    PetscCall(group_mass(comm, D, real.set, rfirst[rank], rfield, rep->nfields, m, m + rep->nfields));
    PetscCall(
        group_mass(comm, D, fake.set, ffirst[rank], ffield, rep->nfields, m + 2 * rep->nfields, m + 3 * rep->nfields));
    for (PetscInt j = 0; j < rep->nfields; j++) {
      BOByInputsField *f = &rep->fields[j];
      f->mass_real = m[j], f->sd_real = m[rep->nfields + j];
      f->mass_fake = m[2 * rep->nfields + j], f->sd_fake = m[3 * rep->nfields + j];
    }
    PetscCall(PetscFree(m));
  }
  for (PetscInt j = 0; j < rep->nfields; j++) {
    PetscCheck(nf[j] > 0, comm, PETSC_ERR_ARG_INCOMP,
               "%s: no member on the input field of member %" PetscInt_FMT " of %s", fake.what, rep->first_member[j],
               real.what);
  }

  /* 3. Per field: own, nearest other, margin, floor, the simulator's own separation. */
  for (PetscInt j = 0; j < rep->nfields; j++) {
    BOByInputsField *f = &rep->fields[j];
    f->n_real = nr[j], f->n_fake = nf[j], f->first_member = rep->first_member[j];
    f->rmse_own   = rmse(D, G + (size_t)j * D, S + (size_t)j * D);
    f->rmse_other = f->separation = INFINITY, f->nearest_other = -1;
    for (PetscInt k = 0; k < rep->nfields; k++) {
      double d;
      if (k == j) continue;
      d = rmse(D, G + (size_t)j * D, S + (size_t)k * D);
      if (d < f->rmse_other) f->rmse_other = d, f->nearest_other = k;
      f->separation = PetscMin(f->separation, rmse(D, S + (size_t)j * D, S + (size_t)k * D));
    }
    f->margin = f->rmse_own > 0 ? f->rmse_other / f->rmse_own : INFINITY;
    /* split-half: RMSE of two independent means of nA and nB walks; its
     * square estimates v (1/nA + 1/nB), v the mean variance per cell, so
     * the floor of the own RMSE (n_fake vs n_real members) is it times
     * sqrt((1/n_fake + 1/n_real) / (1/nA + 1/nB)) */
    if (nh[2 * j] > 0 && nh[2 * j + 1] > 0) {
      f->floor_split  = rmse(D, H + (size_t)2 * j * D, H + (size_t)(2 * j + 1) * D);
      f->floor_scaled = f->floor_split * sqrt((1.0 / nf[j] + 1.0 / nr[j]) / (1.0 / nh[2 * j] + 1.0 / nh[2 * j + 1]));
    } else f->floor_split = f->floor_scaled = NAN;
  }
  summarise(rep);
  PetscCall(PetscFree5(nr, nf, nh, half, seen));
  PetscCall(PetscFree3(S, G, H));
  PetscCall(PetscFree2(rfield, ffield));
  PetscCall(PetscFree(hr));
  PetscCall(PetscFree(hf));
  PetscCall(PetscFree(rfirst));
  PetscCall(PetscFree(ffirst));
  PetscFunctionReturn(0);
}

PetscErrorCode BOByInputsReportDestroy(BOByInputsReport *rep)
{
  PetscFunctionBegin;
  PetscCall(PetscFree2(rep->keys, rep->first_member));
  PetscCall(PetscFree(rep->fields));
  PetscFunctionReturn(0);
}

PetscErrorCode BOByInputsReportView(const BOByInputsReport *rep, PetscViewer v)
{
  PetscFunctionBegin;
  PetscCall(PetscViewerASCIIPrintf(v, "by inputs: %d input fields; %d real, %d generated members\n", (int)rep->nfields,
                                   (int)rep->N_real, (int)rep->N_fake));
  PetscCall(PetscViewerASCIIPrintf(v, "%6s %8s %6s %6s %12s %12s %8s %9s %12s %12s %12s %10s %9s %10s %9s\n", "field",
                                   "member", "n_real", "n_gen", "rmse_own", "rmse_other", "nearest", "margin",
                                   "floor_split", "floor_scaled", "separation", "mass_real", "sd_real", "mass_gen",
                                   "sd_gen"));
  for (PetscInt j = 0; j < rep->nfields; j++) {
    const BOByInputsField *f = &rep->fields[j];
    PetscCall(PetscViewerASCIIPrintf(
        v, "%6d %8d %6d %6d %12.5g %12.5g %8d %9.4g %12.5g %12.5g %12.5g %10.6g %9.4g %10.6g %9.4g\n", (int)j,
        (int)f->first_member, (int)f->n_real, (int)f->n_fake, f->rmse_own, f->rmse_other, (int)f->nearest_other,
        f->margin, f->floor_split, f->floor_scaled, f->separation, f->mass_real, f->sd_real, f->mass_fake, f->sd_fake));
  }
  PetscCall(PetscViewerASCIIPrintf(v, "%s\n", rep->summary));
  PetscFunctionReturn(0);
}

static void byinputs_json(FILE *f, const void *prep, const void *unused)
{
  const BOByInputsReport *rep = (const BOByInputsReport *)prep;
  (void)unused;
  fprintf(f, "{\n  \"producer\": \"bo_eval\",\n  \"mode\": \"by_inputs\",\n");
  fprintf(f, "  \"n_fields\": %d,\n  \"n_real\": %d,\n  \"n_generated\": %d,\n  \"fields\": [\n", (int)rep->nfields,
          (int)rep->N_real, (int)rep->N_fake);
  for (PetscInt j = 0; j < rep->nfields; j++) {
    const BOByInputsField *x      = &rep->fields[j];
    const char *const      keys[] = {"rmse_own",   "rmse_other", "margin",       "floor_split_half", "floor_scaled",
                                     "separation", "mass_real",  "mass_sd_real", "mass_generated",   "mass_sd_generated"};
    const double           vals[] = {x->rmse_own,   x->rmse_other, x->margin,  x->floor_split, x->floor_scaled,
                                     x->separation, x->mass_real,  x->sd_real, x->mass_fake,   x->sd_fake};
    fprintf(f, "    {\"field\": %d, \"first_real_member\": %d, \"n_real\": %d, \"n_generated\": %d", (int)j,
            (int)x->first_member, (int)x->n_real, (int)x->n_fake);
    for (int k = 0; k < 10; k++) {
      fprintf(f, ", \"%s\": ", keys[k]);
      BOMetricsJSONNumber(f, vals[k]);
    }
    fprintf(f, ", \"nearest_other\": %d, \"nearest_is_own\": %s}%s\n", (int)x->nearest_other,
            x->margin > 1 ? "true" : "false", j + 1 < rep->nfields ? "," : "");
  }
  fprintf(f, "  ],\n  \"summary\": {\"pass\": %s, \"fields_nearest_own\": %d, \"margin_min\": ",
          rep->pass ? "true" : "false", (int)rep->nearest_own);
  BOMetricsJSONNumber(f, rep->margin_min);
  fprintf(f, ", \"margin_mean\": ");
  BOMetricsJSONNumber(f, rep->margin_mean);
  fprintf(f, ", \"mass_sd_ratio\": ");
  BOMetricsJSONNumber(f, rep->mass_sd_ratio);
  fprintf(f, ", \"mass_mean_ratio\": ");
  BOMetricsJSONNumber(f, rep->mass_mean_ratio);
  fprintf(f, ", \"text\": \"%s\"}\n}\n", rep->summary); /* the summary has no quotes or backslashes */
}

PetscErrorCode BOByInputsReportWriteJSON(MPI_Comm comm, const BOByInputsReport *rep, const char *path)
{
  PetscFunctionBegin;
  PetscCall(BOWriteTextFile(comm, path, byinputs_json, rep, NULL));
  PetscFunctionReturn(0);
}
