/* Reference simulator: single-cell gene-expression counts.
 *
 * Each gene has a telegraph promoter (off -> on at rate kon, on -> off at
 * koff); while on, mRNA is made at rate s; each mRNA decays at rate 1 (time
 * is in mRNA lifetimes). koff and s large compared with kon give bursts of
 * mean size s / koff, so counts are over-dispersed and often zero.
 * Regulation: genes tfs..genes-1 each have one regulator among the first
 * `tfs` genes (the transcription factors), which multiplies their kon by
 * 2 (0.1 + 0.9 h(x)), h an activating or repressing Hill function of the
 * regulator's mRNA count x. Cell types differ in their master regulator:
 * in type c, TF c mod tfs has kon x 8 and the other TFs x 0.5, so the types
 * form clusters with correlated targets. The stimulus (-stimulus, or drawn
 * per cell with -stimulus_range) multiplies that x 8: a signal that makes
 * the master regulator burst more often, so its mRNA rises with it and its
 * targets follow (activated ones up, repressed ones down).
 *
 * The network (rates, regulators) comes from the stream (network_seed,
 * BO_RNG_DATAGEN, 0xffffffff, 0), so files made with different -seed values
 * sample one distribution; cell k's type from (seed, DATAGEN, k, 1),
 * its exact Gillespie trajectory from (k, 0), the binomial capture of
 * each mRNA (observed with probability `capture`) from (k, 2) and its
 * stimulus, with -stimulus_range, from (k, 3).
 */
#include <math.h>
#include <stdio.h>
#include "bo_sim.h"
#include "bo_rng.h"

PetscErrorCode BOGenesParamsSetFromOptions(MPI_Comm comm, BOGenesParams *p)
{
  PetscFunctionBegin;
  p->genes = 32, p->tfs = 4, p->cell_types = 3, p->t_end = 10, p->capture = 0.5, p->network_seed = 1;
  p->stimulus = 1;
  PetscOptionsBegin(comm, NULL, "Gene-expression simulator", "bo_datagen");
  PetscCall(PetscOptionsInt("-genes", "genes per cell", NULL, p->genes, &p->genes, NULL));
  PetscCall(PetscOptionsInt("-tfs", "transcription factors among them", NULL, p->tfs, &p->tfs, NULL));
  PetscCall(PetscOptionsInt("-cell_types", "cell types (the labels)", NULL, p->cell_types, &p->cell_types, NULL));
  PetscCall(PetscOptionsReal("-t_sim", "simulated time in mRNA lifetimes", NULL, p->t_end, &p->t_end, NULL));
  PetscCall(PetscOptionsReal("-capture", "probability that an mRNA is counted", NULL, p->capture, &p->capture, NULL));
  PetscCall(PetscOptionsInt("-network_seed", "seed of the gene network's rates and wiring (independent of -seed)", NULL,
                            p->network_seed, &p->network_seed, NULL));
  PetscCall(PetscOptionsReal("-stimulus", "multiplier of the master regulator's burst frequency (kon)", NULL,
                             p->stimulus, &p->stimulus, NULL));
  PetscOptionsEnd();
  PetscCheck(p->genes >= 1 && p->tfs >= 1 && p->tfs <= p->genes && p->cell_types >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE,
             "need -genes >= 1, 1 <= -tfs <= -genes, -cell_types >= 1");
  PetscCheck(p->t_end > 0 && p->capture > 0 && p->capture <= 1, comm, PETSC_ERR_ARG_OUTOFRANGE,
             "need -t_sim > 0 and 0 < -capture <= 1");
  PetscCall(BOGenesApplyParams(comm, p, (double[]){p->stimulus}, "-stimulus", p));
  PetscFunctionReturn(0);
}

const char *const BOGenesParamNames[] = {"stimulus"};

PetscErrorCode BOGenesApplyParams(MPI_Comm comm, const BOGenesParams *base, const double v[BO_GENES_NPARAMS],
                                  const char *what, BOGenesParams *pk)
{
  char val[32]; /* C's %g: PETSc's prints 2 as "2." */

  PetscFunctionBegin;
  snprintf(val, sizeof(val), "%g", v[0]);
  PetscCheck(v[0] >= 0 && isfinite(v[0]), comm, PETSC_ERR_ARG_OUTOFRANGE, "%s: stimulus = %s must be non-negative",
             what, val);
  *pk          = *base;
  pk->stimulus = v[0];
  PetscFunctionReturn(0);
}

PetscErrorCode BOGenesRangesSetFromOptions(MPI_Comm comm, const BOGenesParams *p, BOGenesRanges *r)
{
  PetscReal     v[3] = {p->stimulus, p->stimulus, 0}; /* room for a third value, to refuse it */
  PetscInt      n    = 3;
  BOGenesParams q;
  char          what[96];

  PetscFunctionBegin;
  PetscOptionsBegin(comm, NULL, "Gene-expression parameters per cell", "bo_datagen");
  PetscCall(PetscOptionsRealArray("-stimulus_range",
                                  "draw the stimulus uniformly in lo,hi per cell (one value fixes it); writes params",
                                  NULL, v, &n, &r->set));
  PetscOptionsEnd();
  PetscCheck(!r->set || (n >= 1 && n <= 2), comm, PETSC_ERR_USER_INPUT, "-stimulus_range needs lo,hi or one value");
  if (r->set && n == 1) v[1] = v[0];
  snprintf(what, sizeof(what), "-stimulus_range %g,%g", v[0], v[1]);
  PetscCheck(v[0] <= v[1], comm, PETSC_ERR_ARG_OUTOFRANGE, "%s: lo must not exceed hi", what);
  r->lo[0] = v[0], r->hi[0] = v[1];
  PetscCall(BOGenesApplyParams(comm, p, r->lo, what, &q)); /* the domain is an interval: both ends valid */
  PetscCall(BOGenesApplyParams(comm, p, r->hi, what, &q));
  PetscFunctionReturn(0);
}

void BOGenesDrawParams(const BOGenesRanges *r, uint64_t seed, PetscInt k, double v[BO_GENES_NPARAMS])
{
  BORng  rng;
  double u;

  BORngInit(&rng, seed, BO_RNG_DATAGEN, (uint32_t)k, 3);
  u    = BORngUniform(&rng); /* drawn when fixed too, as the reservoir's */
  v[0] = r->lo[0] == r->hi[0] ? r->lo[0] : r->lo[0] + (r->hi[0] - r->lo[0]) * u;
}

typedef struct {
  double   *kon, *koff, *s, *K; /* per gene */
  PetscInt *reg;                /* regulator (-1 for TFs) */
  int      *act;                /* 1 activation, 0 repression */
} Network;

static PetscErrorCode network_create(const BOGenesParams *p, Network *net)
{
  BORng    rng;
  PetscInt G = p->genes;

  PetscFunctionBegin;
  PetscCall(PetscMalloc6(G, &net->kon, G, &net->koff, G, &net->s, G, &net->K, G, &net->reg, G, &net->act));
  BORngInit(&rng, (uint64_t)p->network_seed, BO_RNG_DATAGEN, 0xffffffffu, 0);
  for (PetscInt g = 0; g < G; g++) {
    double burst = pow(10.0, 0.5 + BORngUniform(&rng));  /* 3 .. 30 mRNA per burst */
    net->kon[g]  = pow(10.0, -1.0 + BORngUniform(&rng)); /* 0.1 .. 1 bursts per lifetime */
    net->koff[g] = pow(10.0, 0.7 * BORngUniform(&rng)) + 1.0;
    net->s[g]    = burst * net->koff[g];
    net->K[g]    = 5.0 + 10.0 * BORngUniform(&rng);
    net->reg[g]  = g < p->tfs ? -1 : (PetscInt)BORngBelow(&rng, (uint32_t)p->tfs);
    net->act[g]  = BORngUniform(&rng) < 0.6;
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode network_destroy(Network *net)
{
  PetscFunctionBegin;
  PetscCall(PetscFree6(net->kon, net->koff, net->s, net->K, net->reg, net->act));
  PetscFunctionReturn(0);
}

/* Effective switch-on rate of gene g in a cell of type c with mRNA counts m. */
static double on_rate(const BOGenesParams *p, const Network *net, PetscInt c, PetscInt g, const int64_t *m)
{
  if (net->reg[g] < 0) return net->kon[g] * (g == c % p->tfs ? 8.0 * p->stimulus : 0.5);
  double x = (double)m[net->reg[g]], K2 = net->K[g] * net->K[g], h = x * x / (K2 + x * x);
  if (!net->act[g]) h = 1.0 - h;
  return net->kon[g] * 2.0 * (0.1 + 0.9 * h);
}

PetscErrorCode BOGenesRealize(const BOGenesParams *p, uint64_t seed, PetscInt k, float *counts, PetscInt *label)
{
  PetscInt G = p->genes, c;
  Network  net;
  int64_t *m;
  int     *on;
  double  *a, t = 0;
  BORng    rng;

  PetscFunctionBegin;
  PetscCall(network_create(p, &net));
  PetscCall(PetscCalloc3(G, &m, G, &on, 3 * G, &a));
  BORngInit(&rng, seed, BO_RNG_DATAGEN, (uint32_t)k, 1);
  c = (PetscInt)BORngBelow(&rng, (uint32_t)p->cell_types);
  /* Gillespie: per gene, reactions 0 switch (on or off), 1 transcribe, 2 decay */
  BORngInit(&rng, seed, BO_RNG_DATAGEN, (uint32_t)k, 0);
  for (;;) {
    double total = 0, u;
    for (PetscInt g = 0; g < G; g++) {
      a[3 * g]     = on[g] ? net.koff[g] : on_rate(p, &net, c, g, m);
      a[3 * g + 1] = on[g] ? net.s[g] : 0.0;
      a[3 * g + 2] = (double)m[g];
      total += a[3 * g] + a[3 * g + 1] + a[3 * g + 2];
    }
    t += -log(BORngUniform(&rng)) / total;
    if (t > p->t_end) break;
    u          = BORngUniform(&rng) * total;
    PetscInt r = 0;
    while (r < 3 * G - 1 && u >= a[r]) u -= a[r++];
    if (a[r] <= 0) continue; /* round-off ran past the last possible reaction */
    if (r % 3 == 0) on[r / 3] = !on[r / 3];
    else if (r % 3 == 1) m[r / 3]++;
    else m[r / 3]--;
  }
  /* capture: each mRNA counted with probability `capture` */
  BORngInit(&rng, seed, BO_RNG_DATAGEN, (uint32_t)k, 2);
  for (PetscInt g = 0; g < G; g++) counts[g] = (float)BORngBinomial(&rng, m[g], p->capture);
  *label = c;
  PetscCall(PetscFree3(m, on, a));
  PetscCall(network_destroy(&net));
  PetscFunctionReturn(0);
}
