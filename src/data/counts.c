/* The one count validator (bo_dataset.h). */
#include <math.h>
#include <stdio.h>
#include "bo_dataset.h"

const char *BOCountProblem(double v, double limit, const char *limit_name)
{
  static char above[128];
  if (isnan(v)) return "NaN";
  if (isinf(v)) return "infinite";
  if (v < 0) return "negative";
  if (v != floor(v)) return "not an integer";
  if (v > BO_MAX_EXACT_COUNT) return "above 2^24 (not exact as float)";
  if (v > limit) {
    snprintf(above, sizeof(above), "above %s", limit_name ? limit_name : "the limit");
    return above;
  }
  return NULL;
}
