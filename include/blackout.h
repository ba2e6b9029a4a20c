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
#include "bo_sim.h"
#include "bo_ensemble.h"
#include "bo_checkpoint.h"
#include "bo_trainer.h"
#include "bo_sampler.h"
#endif
