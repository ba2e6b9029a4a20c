/* Private to src/sample: the member conditions (conditions.c: labels and
 * totals; params.c: simulator parameters and input fields) used by sampler.c. */
#ifndef BO_SAMPLEIMPL_H
#define BO_SAMPLEIMPL_H
#include "bo_sampler.h"

/* Load the pools (totals, labels) or -mass; allocates the block's labels and
 * totals. Collective. */
PetscErrorCode bo_sample_set_up_conditions(BOSampler s);
PetscErrorCode bo_sample_view_conditions(BOSampler s, PetscViewer viewer);
PetscErrorCode bo_sample_destroy_conditions(BOSampler s);
/* "mass M", "train", FILE or "none": the file attribute `totals` */
void bo_sample_totals_provenance(BOSampler s, char *buf, size_t len);

/* params.c: -params / -params_file / -inputs, checked against the model, the
 * totals' pools of the nearest training members. Collective. */
PetscErrorCode bo_sample_set_up_params(BOSampler s);
PetscErrorCode bo_sample_view_params(BOSampler s, PetscViewer viewer);
PetscErrorCode bo_sample_destroy_params(BOSampler s);
/* A draw of member's total from the pool of its parameter point (params.c). */
double bo_sample_draw_point_total(BOSampler s, PetscInt member, BORng *rng);
/* conditions.c: a draw from m sorted totals p (interpolated quantile, stochastically rounded) */
double bo_sample_draw_sorted(const double *p, PetscInt m, BORng *rng);

#endif
