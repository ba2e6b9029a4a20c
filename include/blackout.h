/* Blackout: count-data diffusion surrogates. Umbrella header. */
#ifndef BLACKOUT_H
#define BLACKOUT_H
#include "bo_sys.h"
#include "bo_rng.h"
#include "bo_process.h"
#include "bo_h5.h"
#include "bo_nn.h"
#include "bo_model.h"
#include "bo_dataset.h"
#include "bo_io.h"
#include "bo_png.h"
#include "bo_darcy.h"
#include "bo_metrics.h"
#endif
