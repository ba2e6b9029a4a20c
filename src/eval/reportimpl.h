/* Private to src/eval: the report's metric rows and pieces of report.c that
 * the by-params report (byparams.c) shares. */
#ifndef BO_EVAL_REPORTIMPL_H
#define BO_EVAL_REPORTIMPL_H
#include <stddef.h>
#include <stdio.h>
#include "bo_metrics.h"

/* A table row: where the metric lives, where it applies, and its role in
 * the verdict: a distance (lower is better), a distance between marginals
 * (which the straw man matches by construction), a correlation (higher is
 * better: compared as 1 - r; these are of per-gene marginals too), a
 * structure distance (a surrogate must also
 * beat the straw man on one of them), or information only. */
typedef enum { ROLE_INFO, ROLE_DISTANCE, ROLE_MARGINAL, ROLE_STRUCTURE, ROLE_CORRELATION } Role;
typedef struct {
  const char *name;
  size_t      offset;
  int         kind; /* 0 all, 1 fields, 2 vectors, 3 with train */
  Role        role;
  const char *help;
} Row;

extern const Row    BOMetricsRows[];
extern const size_t BOMetricsNumRows;

/* Does the row exist for this layout (and, for memorisation, with training data)? */
PetscBool BOMetricsRowApplies(BOMetrics m, PetscBool has_train, const Row *r);
/* The row's value in res. */
double BOMetricsRowValue(const BOMetricsResult *res, const Row *r);
/* The "kind" and "shape" lines of a JSON report: fields [Ny, Nx, C],
 * 3-D fields [Nz, Ny, Nx, C] (kind "fields", "dims": 3), vectors [G]. */
void BOMetricsJSONShape(FILE *f, BOMetrics m);
/* A JSON number, or null for NaN and infinities. */
void BOMetricsJSONNumber(FILE *f, double x);
/* The holdout floor of real (at least 2 members): every row's mean |metric|
 * (correlations: the mean r) over -eval_holdout_splits random half splits,
 * the first N/2 of the permutation (-eval_seed + s, epoch 0) against the rest.
 * Collective. */
PetscErrorCode BOMetricsHoldoutFloor(BOMetrics m, BOSet real, BOMetricsResult *floor);

#endif
