/* Private to src/sample: the member conditions (conditions.c: labels and
 * totals) used by sampler.c. */
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

#endif
