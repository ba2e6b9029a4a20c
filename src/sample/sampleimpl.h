/* Private to src/sample: the member totals (totals.c) used by sampler.c. */
#ifndef BO_SAMPLEIMPL_H
#define BO_SAMPLEIMPL_H
#include "bo_sampler.h"

/* Load the pool or -mass; allocates the block's totals. Collective. */
PetscErrorCode bo_sample_set_up_totals(BOSampler s);
PetscErrorCode bo_sample_view_totals(BOSampler s, PetscViewer viewer);
/* "mass M", "train", FILE or "none": the file attribute `totals` */
void bo_sample_totals_provenance(BOSampler s, char *buf, size_t len);

#endif
