# bo_eval -by_params without a trained model: a second draw of the simulator
# at the real points is a perfect conditional surrogate and beats the pooled
# baseline clearly on mass_w1 (pvi moves the mass); the pooled training set
# relabelled with the points' params beats it on nothing; a training file
# holding members at the points is its own nearest baseline; the JSON keys;
# the same report on 1 and 3 ranks; every misuse is a one-line error.
source "$(dirname "$0")/common.sh"
EV="$BO_BIN/bo_eval"
DG="$BO_BIN/bo_datagen"
CV="$BO_BIN/bo_convert"
G="-kind reservoir -nx 16 -ny 16"
# training members over a range of sigma and pvi; real and fake at 3 points
"$DG" $G -n 64 -seed 1 -sigma_range 0.7,1.3 -pvi_range 0.2,0.8 -out train.h5 > /dev/null
"$CV" -format csv -in <(printf '1\n2\n3\n') -params_csv <(printf 'corr_len,sigma,pvi\n4,1,0.25\n4,1,0.5\n4,1,0.75\n') \
  -out pts.h5 > /dev/null
"$DG" $G -n 24 -seed 2 -params_file pts.h5 -out real.h5 > /dev/null
"$DG" $G -n 24 -seed 3 -params_file pts.h5 -out fake.h5 > /dev/null

# the value of KEY in the first line of column COL of a report (its mean over points)
mean_of() { grep "^  \"$2\": {" "$1" | sed "s/.*\"$3\": \([^,}]*\).*/\1/"; }

# 1. a perfect conditional surrogate
"$EV" -by_params -real real.h5 -fake fake.h5 -train train.h5 -json c.json > c.txt
grep -q "^by params: 3 points of (corr_len,sigma,pvi); 72 real, 72 generated, 64 training members" c.txt \
  || { cat c.txt; fail "points or sizes"; }
grep -q '"n_points": 3,' c.json || fail "n_points"
for col in conditional pooled_baseline nearest_baseline holdout; do
  for k in w1_marginal mass_w1 psd_logratio frechet mmd; do
    mean_of c.json $col $k | has '^-\?[0-9.e+-]*$' || fail "$col lacks the mean of $k"
  done
  # one object per point with its params and sizes (the holdout floor: half against half)
  n=24; [ $col = holdout ] && n=12
  awk -v col="\"$col\"" -v n=$n '$1 == col ":" { on = 1; next } on && /^    \]/ { exit }
    on && /"params": \{"corr_len": 4, "sigma": 1, "pvi": 0.(25|5|75)\}, "n_ref": [0-9]+, "n_test": / {
      if ($0 ~ "\"n_test\": " n ",") k++ } END { exit k != 3 }' c.json || fail "$col: not 3 points of $n members"
done
c=$(mean_of c.json conditional mass_w1); p=$(mean_of c.json pooled_baseline mass_w1)
awk -v c="$c" -v p="$p" 'BEGIN { exit !(c < 0.5 * p) }' || fail "conditional mass_w1 $c not well below pooled $p"
grep "^BY_PARAMS:" c.txt | sed 's/.* on: \(.*\); not on: .*/\1/' | has "mass_w1 " \
  || { cat c.txt; fail "summary: no win on mass_w1"; }
grep -q '"beats_both": \[[^]]*"mass_w1"' c.json || fail "JSON summary lacks mass_w1"
# nearest neighbours are closer in params than random ones: a better baseline than pooled
awk -v c="$(mean_of c.json nearest_baseline mass_w1)" -v p="$p" 'BEGIN { exit !(c < 0.8 * p) }' \
  || fail "nearest baseline mass_w1 not below pooled $p"
ls | has '\.tmp' && fail "temporary file left behind"
# the same report on 3 ranks
$MPIRUN -n 3 "$EV" -by_params -real real.h5 -fake fake.h5 -train train.h5 > c3.txt
diff <(grep -v "done in" c.txt) <(grep -v "done in" c3.txt) || fail "1 and 3 ranks disagree"

# 2. the pooled training set relabelled with each point's params: every
# point's group is the pool itself, so it is the pooled baseline (all 64
# training members) and beats it on nothing
counts_values train.h5 | awk -v D=256 '{ printf "%s%s", $1, NR % D ? "," : "\n" }' > train.csv
cat train.csv train.csv train.csv > relabelled.csv
{ echo corr_len,sigma,pvi; for p in 0.25 0.5 0.75; do for i in $(seq 64); do echo 4,1,$p; done; done; } > relabelled_p.csv
"$CV" -format csv -in relabelled.csv -shape 16,16 -params_csv relabelled_p.csv -out relabelled.h5 > /dev/null
"$EV" -by_params -real real.h5 -fake relabelled.h5 -train train.h5 -json u.json > u.txt
grep "^BY_PARAMS:" u.txt | has "baselines (below 0.9x) on: none; not on: w1_marginal" \
  || { cat u.txt; fail "the relabelled pool beats a baseline"; }
grep -q '"beats_both": \[\]' u.json || fail "JSON summary of the relabelled pool"
[ "$(mean_of u.json conditional mass_w1)" = "$(mean_of u.json pooled_baseline mass_w1)" ] \
  || fail "the relabelled pool's mass_w1 differs from the pooled baseline's"

# 3. training members at the points themselves: the nearest baseline of each
# point is its own training members (distance 0), i.e. the conditional column
"$DG" $G -n 24 -seed 4 -params_file pts.h5 -out atpts.h5 > /dev/null
"$EV" -by_params -real real.h5 -fake atpts.h5 -train atpts.h5 -json n.json > /dev/null
sed -n '/^  "conditional"/,/^    \]}/p' n.json | sed 1d > n_cond.txt
sed -n '/^  "nearest_baseline"/,/^    \]}/p' n.json | sed 1d > n_near.txt
[ -s n_cond.txt ] && diff n_cond.txt n_near.txt > /dev/null || fail "nearest baseline is not the members at the point"
grep '^  "conditional"' n.json | sed 's/^  "conditional"//' > a.txt
grep '^  "nearest_baseline"' n.json | sed 's/^  "nearest_baseline"//' > b.txt
diff a.txt b.txt > /dev/null || fail "nearest baseline means differ from the members at the point"

# 4. errors: one line, status 1, no report
check_clean() {
  [ -e r.json ] && fail "report left behind"
  ls | has '\.tmp' && fail "temporary file left behind"
  return 0
}
"$DG" $G -n 6 -seed 5 -out plain.h5 > /dev/null
expect_error "-by_params needs -train FILE" "$EV" -by_params -real real.h5 -fake fake.h5 -json r.json; check_clean
expect_error "-by_params: plain.h5 has no params dataset" "$EV" -by_params -real real.h5 -fake plain.h5 -train train.h5 \
  -json r.json; check_clean
expect_error "-by_params: plain.h5 has no params dataset" "$EV" -by_params -real plain.h5 -fake fake.h5 -train train.h5 \
  -json r.json; check_clean
expect_error "-by_params writes no plots" "$EV" -by_params -real real.h5 -fake fake.h5 -train train.h5 -png p; check_clean
# other names, other P
counts_values plain.h5 | awk -v D=256 '{ printf "%s%s", $1, NR % D ? "," : "\n" }' > plain.csv
"$CV" -format csv -in plain.csv -shape 16,16 -params_csv <(printf 'corr_len,sigma\n'; for i in 1 2 3 4 5 6; do echo 4,1; done) \
  -out p2.h5 > /dev/null
expect_error "-by_params: p2.h5 has params (corr_len,sigma), real.h5 has (corr_len,sigma,pvi)" \
  "$EV" -by_params -real real.h5 -fake p2.h5 -train train.h5 -json r.json; check_clean
"$CV" -format csv -in plain.csv -shape 16,16 -params_csv <(printf 'corr_len,sigma,phi\n'; for i in 1 2 3 4 5 6; do echo 4,1,0.5; done) \
  -out phi.h5 > /dev/null
expect_error "-by_params: phi.h5 has params (corr_len,sigma,phi), real.h5 has (corr_len,sigma,pvi)" \
  "$EV" -by_params -real real.h5 -fake fake.h5 -train phi.h5 -json r.json; check_clean
# a generated point that is no real point; a real point without generated members
"$CV" -format csv -in <(printf '1\n2\n') -params_csv <(printf 'corr_len,sigma,pvi\n4,1,0.25\n4,1,0.9\n') -out pts9.h5 > /dev/null
"$DG" $G -n 3 -seed 6 -params_file pts9.h5 -out f9.h5 > /dev/null
expect_error "f9.h5: member 3 has params (corr_len=4, sigma=1, pvi=0.9), a point not in real.h5" \
  "$EV" -by_params -real real.h5 -fake f9.h5 -train train.h5 -json r.json; check_clean
"$CV" -format csv -in <(printf '1\n2\n') -params_csv <(printf 'corr_len,sigma,pvi\n4,1,0.25\n4,1,0.5\n') -out pts2.h5 > /dev/null
"$DG" $G -n 3 -seed 6 -params_file pts2.h5 -out f2.h5 > /dev/null
expect_error "f2.h5: no member at the point (corr_len=4, sigma=1, pvi=0.75) of real.h5" \
  "$EV" -by_params -real real.h5 -fake f2.h5 -train train.h5 -json r.json; check_clean
# on 2 ranks too
if $MPIRUN -n 2 "$EV" -by_params -real real.h5 -fake f2.h5 -train train.h5 -json r.json > out.txt 2> err.txt; then
  fail "2 ranks: expected failure"
fi
[ "$(grep -c 'bo_eval: error: f2.h5: no member at the point' err.txt)" = 1 ] || { cat err.txt; fail "2 ranks: not one error line"; }
check_clean
# a NaN parameter (params written by h5import next to copied counts)
h5copy -i real.h5 -o nan.h5 -s counts -d counts
printf "PATH /params\nINPUT-CLASS TEXTFP\nRANK 2\nDIMENSION-SIZES 72 3\nOUTPUT-CLASS FP\nOUTPUT-SIZE 64\n" > nan.cfg
for i in $(seq 72); do if [ "$i" = 5 ]; then echo "4 nan 0.5"; else echo "4 1 0.5"; fi; done > nan.txt
h5import nan.txt -c nan.cfg -o nan.h5
expect_error "nan.h5: dataset params: value at index (4, 1) is NaN" \
  "$EV" -by_params -real nan.h5 -fake fake.h5 -train train.h5 -json r.json; check_clean
expect_error "-by_params_tol must be in" "$EV" -by_params -by_params_tol -1 -real real.h5 -fake fake.h5 -train train.h5
# -help lists the options
"$EV" -help > help.txt 2>&1 || true
grep -q -- "-by_params " help.txt && grep -q -- "-by_params_tol" help.txt || fail "-help lacks -by_params"
echo ok
