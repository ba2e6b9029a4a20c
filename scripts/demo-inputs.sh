#!/usr/bin/env bash
# make demo-inputs (issue #14): a surrogate conditioned on an input field.
#   1. simulate reservoir realizations, each writing its log-permeability
#      field as inputs (TRAIN_PER_FIELD tracer walks per field)
#   2. train a network conditioned on the field (-condition_on inputs)
#   3. simulate N_FIELDS held-out fields (another seed), N_PER_FIELD tracer
#      walks on each (bo_datagen -realizations_per_field)
#   4. generate N_PER_FIELD members for each of those fields (bo_sample -inputs)
#   5. bo_eval -by_inputs: per field, the RMSE of the generated mean field to
#      the simulator's mean for that field against the nearest of the other
#      fields' means (the margin), and the split-half floor
# Settings come from an options file (default inputs/demo-inputs.opts) and the
# environment: DEMO_OUT, DEMO_NP, DEMO_OPTS, DEMO_BIN (the programs' directory;
# make passes its BINDIR).
set -euo pipefail
OUT=${1:-${DEMO_OUT:-demo-out-inputs}}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OPTS=${DEMO_OPTS:-$ROOT/inputs/demo-inputs.opts}
source "$ROOT/scripts/demo-setup.sh"
# a run starts clean: no output of an earlier (possibly broken) run survives
rm -f train.h5 heldout.h5 ckpt*.h5 train.csv ensemble.h5 report.json ./*.txt ./*.png ./*.xmf
t0=$(date +%s)
say() { printf '\n== %s\n' "$*"; }
nheld=$((N_FIELDS * N_PER_FIELD))

say "1. reference simulator: $N_TRAIN training realizations, $TRAIN_PER_FIELD per field"
$MPIRUN -n "$NP" "$BIN/bo_datagen" $DATAGEN_ARGS -n "$N_TRAIN" -realizations_per_field "$TRAIN_PER_FIELD" -seed 1 \
  -out train.h5 -png train.png | tee datagen.txt
sim_ms=$(sed -n 's/.*cost per realization \([0-9.]*\) ms.*/\1/p' datagen.txt)
t1=$(date +%s)

say "2. training on $NP ranks: $TRAIN_ARGS"
$MPIRUN -n "$NP" "$BIN/bo_train" -data train.h5 -checkpoint ckpt.h5 -log train.csv $TRAIN_ARGS | tee train.txt
t2=$(date +%s)

say "3. reference simulator on $N_FIELDS held-out fields, $N_PER_FIELD tracer walks each"
$MPIRUN -n "$NP" "$BIN/bo_datagen" $DATAGEN_ARGS -n "$nheld" -realizations_per_field "$N_PER_FIELD" -seed 2 \
  -out heldout.h5 -png heldout.png > /dev/null

say "4. generating $N_PER_FIELD members for each held-out field: $SAMPLE_ARGS"
# the held-out file's inputs, one per member: member m is on field m / N_PER_FIELD as in heldout.h5
$MPIRUN -n "$NP" "$BIN/bo_sample" -checkpoint ckpt.h5 -inputs heldout.h5 -n "$nheld" -out ensemble.h5 \
  -png ensemble.png $SAMPLE_ARGS | tee sample.txt

say "5. per held-out field: the generated mean field against the simulator's, for that field and the others"
$MPIRUN -n "$NP" "$BIN/bo_eval" -by_inputs -real heldout.h5 -fake ensemble.h5 -json report.json | tee eval.txt

say "summary ($(($(date +%s) - t0)) s in all: $((t1 - t0)) s simulating, $((t2 - t1)) s training; outputs in $OUT/)"
printf '  simulator cost per realization : %8.2f ms (core time)\n' "$sim_ms"
tail -n 1 train.csv | awk -F, '{ printf "  final training loss            : %s at step %s\n", $2, $1 }'
sed -n '/^by inputs:/,$p' eval.txt | sed 's/^/  /'
ls
