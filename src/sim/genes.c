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
 * form clusters with correlated targets.
 *
 * The network (rates, regulators) comes from the stream (network_seed,
 * BO_RNG_DATAGEN, 0xffffffff, 0), so files made with different -seed values
 * sample one distribution; cell k's type from (seed, DATAGEN, k, 1),
 * its exact Gillespie trajectory from (k, 0) and the binomial capture of
 * each mRNA (observed with probability `capture`) from (k, 2).
 */
#include <math.h>
#include "bo_sim.h"
#include "bo_rng.h"

PetscErrorCode BOGenesParamsSetFromOptions(MPI_Comm comm, BOGenesParams *p)
{
  PetscFunctionBegin;
  p->genes = 32, p->tfs = 4, p->cell_types = 3, p->t_end = 10, p->capture = 0.5, p->network_seed = 1;
  PetscOptionsBegin(comm, NULL, "Gene-expression simulator", "bo_datagen");
  PetscCall(PetscOptionsInt("-genes", "genes per cell", NULL, p->genes, &p->genes, NULL));
  PetscCall(PetscOptionsInt("-tfs", "transcription factors among them", NULL, p->tfs, &p->tfs, NULL));
  PetscCall(PetscOptionsInt("-cell_types", "cell types (the labels)", NULL, p->cell_types, &p->cell_types, NULL));
  PetscCall(PetscOptionsReal("-t_sim", "simulated time in mRNA lifetimes", NULL, p->t_end, &p->t_end, NULL));
  PetscCall(PetscOptionsReal("-capture", "probability that an mRNA is counted", NULL, p->capture, &p->capture, NULL));
  PetscCall(PetscOptionsInt("-network_seed", "seed of the gene network's rates and wiring (independent of -seed)", NULL,
                            p->network_seed, &p->network_seed, NULL));
  PetscOptionsEnd();
  PetscCheck(p->genes >= 1 && p->tfs >= 1 && p->tfs <= p->genes && p->cell_types >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE,
             "need -genes >= 1, 1 <= -tfs <= -genes, -cell_types >= 1");
  PetscCheck(p->t_end > 0 && p->capture > 0 && p->capture <= 1, comm, PETSC_ERR_ARG_OUTOFRANGE,
             "need -t_sim > 0 and 0 < -capture <= 1");
  PetscFunctionReturn(0);
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
  if (net->reg[g] < 0) return net->kon[g] * (g == c % p->tfs ? 8.0 : 0.5);
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
