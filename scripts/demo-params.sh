#!/usr/bin/env bash
# make demo-params (issue #14): a surrogate conditioned on simulator parameters.
#   1. simulate reservoir realizations with parameters drawn over a range
#   2. train a network conditioned on them (-condition_on params)
#   3. simulate a held-out set at parameter points not in training,
#      N_HELDOUT_PER_POINT realizations each (default N_PER_POINT)
#   4. generate N_PER_POINT members at each of those points
#   5. bo_eval -by_params (conditional vs pooled and nearest-neighbour
#      baselines) and bo_darcy on both sets: k_eff per point, simulator vs
#      surrogate; bo_paramplot draws params_mean.png (mean field per point)
#      and params_keff.png (k_eff against each parameter), simulator vs surrogate
# Settings come from an options file (default inputs/demo-params.opts) and the
# environment: DEMO_OUT, DEMO_NP, DEMO_OPTS, DEMO_BIN (the programs' directory;
# make passes its BINDIR).
set -euo pipefail
OUT=${1:-${DEMO_OUT:-demo-out-params}}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OPTS=${DEMO_OPTS:-$ROOT/inputs/demo-params.opts}
source "$ROOT/scripts/demo-setup.sh"
# a run starts clean: no output of an earlier (possibly broken) run survives
rm -f train.h5 points.csv points_counts.csv points.h5 heldout.h5 ckpt*.h5 train.csv ensemble.h5 report.json \
  darcy_heldout.csv darcy_generated.csv keff.csv ./*.txt ./*.png ./*.xmf
t0=$(date +%s)
say() { printf '\n== %s\n' "$*"; }

say "1. reference simulator: $N_TRAIN training realizations, $RANGE_ARGS"
$MPIRUN -n "$NP" "$BIN/bo_datagen" $DATAGEN_ARGS $RANGE_ARGS -n "$N_TRAIN" -seed 1 -out train.h5 -png train.png |
  tee datagen.txt
sim_ms=$(sed -n 's/.*cost per realization \([0-9.]*\) ms.*/\1/p' datagen.txt)

say "2. training on $NP ranks: $TRAIN_ARGS"
$MPIRUN -n "$NP" "$BIN/bo_train" -data train.h5 -checkpoint ckpt.h5 -log train.csv $TRAIN_ARGS | tee train.txt

# the held-out points: a params table (bo_convert -params_csv beside one
# dummy count per point), then N_HELDOUT_PER_POINT fresh realizations at each
npts=0
{
  echo "corr_len,sigma,pvi"
  for p in $POINTS; do echo "$p"; done
} > points.csv
for p in $POINTS; do echo 0; npts=$((npts + 1)); done > points_counts.csv
# more held-out realizations than generated members make the comparison
# less noisy without changing the baselines (which take N_PER_POINT members)
N_HELDOUT_PER_POINT=${N_HELDOUT_PER_POINT:-$N_PER_POINT}
say "3. reference simulator at $npts held-out points, $N_HELDOUT_PER_POINT realizations each"
"$BIN/bo_convert" -format csv -in points_counts.csv -params_csv points.csv -out points.h5 > /dev/null
$MPIRUN -n "$NP" "$BIN/bo_datagen" $DATAGEN_ARGS -params_file points.h5 -n "$N_HELDOUT_PER_POINT" -seed 2 -out heldout.h5 \
  -png heldout.png > /dev/null

say "4. generating $N_PER_POINT members at each held-out point: $SAMPLE_ARGS"
s0=$(date +%s.%N)
$MPIRUN -n "$NP" "$BIN/bo_sample" -checkpoint ckpt.h5 -params_file points.h5 -n "$N_PER_POINT" -out ensemble.h5 \
  -png ensemble.png $SAMPLE_ARGS | tee sample.txt
s1=$(date +%s.%N)
sur_ms=$(awk -v a="$s0" -v b="$s1" -v n=$((npts * N_PER_POINT)) -v p="$NP" \
  'BEGIN { printf "%.3f", (b - a) * p * 1000 / n }')

say "5. fidelity per parameter point: conditional vs pooled and nearest-neighbour baselines"
$MPIRUN -n "$NP" "$BIN/bo_eval" -by_params -real heldout.h5 -fake ensemble.h5 -train train.h5 -json report.json |
  tee eval.txt

say "6. downstream PETSc solver (bo_darcy): k_eff per member, simulator and surrogate"
$MPIRUN -n "$NP" "$BIN/bo_darcy" -data heldout.h5 -out darcy_heldout.csv | tail -n 1
$MPIRUN -n "$NP" "$BIN/bo_darcy" -data ensemble.h5 -out darcy_generated.csv | tail -n 1
# members are point-major in both files (point r holds members r n .. r n + n - 1)
awk -F, -v nh="$N_HELDOUT_PER_POINT" -v ng="$N_PER_POINT" '
  FNR == 1 { f++; next }
  f == 1 { pt[FNR - 2] = $0; next }
  { r = int($1 / (f == 2 ? nh : ng)); s[f, r] += $2; q[f, r] += $2 * $2; c[f, r]++ }
  END {
    print "corr_len,sigma,pvi,sim_mean,sim_se,sur_mean,sur_se,z,agree"
    for (r = 0; r in pt; r++) {
      for (k = 2; k <= 3; k++) {
        m[k] = s[k, r] / c[k, r]
        v = (q[k, r] - c[k, r] * m[k] * m[k]) / (c[k, r] - 1)
        se[k] = sqrt(v > 0 ? v : 0) / sqrt(c[k, r])
      }
      z = (m[3] - m[2]) / sqrt(se[2] ^ 2 + se[3] ^ 2)
      printf "%s,%.5g,%.3g,%.5g,%.3g,%.2f,%s\n", pt[r], m[2], se[2], m[3], se[3], z, (z < 1 && z > -1) ? "yes" : "no"
    }
  }' points.csv darcy_heldout.csv darcy_generated.csv > keff.csv
"$BIN/bo_paramplot" -real heldout.h5 -fake ensemble.h5 -real_keff darcy_heldout.csv -fake_keff darcy_generated.csv \
  -out params

say "summary ($(($(date +%s) - t0)) s in all, outputs in $OUT/)"
printf '  simulator cost per realization : %8.2f ms (core time)\n' "$sim_ms"
printf '  surrogate cost per realization : %8.2f ms (core time incl. start-up)\n' "$sur_ms"
tail -n 1 train.csv | awk -F, '{ printf "  final training loss            : %s at step %s\n", $2, $1 }'
echo "  means over points (lower is better):"
sed -n '/^metric/,/^BY_PARAMS:/p' eval.txt | grep -v '^BY_PARAMS:' | sed 's/^/    /'
grep "^BY_PARAMS:" eval.txt | sed 's/^/  /'
echo "  k_eff per point (mean and standard error over the members; z = (surrogate - simulator) / combined se):"
column -s, -t < keff.csv | sed 's/^/    /'
awk -F, -f "$ROOT/scripts/keff-agreement.awk" keff.csv
echo "  pictures: params_mean.png (mean field per point), params_keff.png (k_eff against each parameter)"
ls
