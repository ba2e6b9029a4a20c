/* Blackout: count-data diffusion surrogates. Umbrella header. */
#ifndef BLACKOUT_H
#define BLACKOUT_H
#include "bo_sys.h"
#include "bo_rng.h"
#include "bo_process.h"
#endif
