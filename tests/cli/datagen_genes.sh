# bo_datagen -kind genes with a parameter per cell (issue #14): the stimulus
# (a multiplier of the master regulator's burst frequency) drawn per cell by
# -stimulus_range from its own stream, or given per row by -params_file; the
# file is the same on 1, 2 and 3 ranks, a fixed stimulus of 1 changes nothing
# but adds params, no option writes no params; every bad option is a one-line
# error with no output. Then the pipeline on such a file: bo_train
# -condition_on params (the MLP), bo_sample -params and -params_file,
# bo_eval -by_params. (The stimulus's effect on the counts is measured in
# tests/mpi_dataset_sim.c, test_genes_stimulus.)
source "$(dirname "$0")/common.sh"
DG="$BO_BIN/bo_datagen"
CV="$BO_BIN/bo_convert"
values_of() {
  h5dump -y -w 0 -d "/$2" -o values.txt "$1" > /dev/null || fail "h5dump $1 /$2"
  tr -s ', ' '\n\n' < values.txt | grep .
}
K="-kind genes -genes 8 -tfs 2 -seed 3"
for n in 1 2 3; do $MPIRUN -n $n "$DG" $K -n 7 -stimulus_range 0.25,4 -out s$n.h5 > /dev/null; done
for d in counts labels params; do
  h5diff s1.h5 s2.h5 /$d /$d || fail "$d: 1 vs 2 ranks differ"
  h5diff s1.h5 s3.h5 /$d /$d || fail "$d: 1 vs 3 ranks differ"
done
h5dump -a /params/names s3.h5 | has '"stimulus"' || fail "params names"
h5dump -H -d /params s3.h5 | has "( 7, 1 )" || fail "params shape"
h5ls s3.h5 | has inputs && fail "genes wrote inputs"
h5dump -a /param_ranges s3.h5 | has '"stimulus 0.25..4 (uniform)"' || fail "param_ranges"
values_of s3.h5 params | awk '{ if ($1 < 0.25 || $1 > 4) bad = 1; c[$1] = 1 } END { exit bad || length(c) != 7 }' \
  || fail "stimulus outside its range or repeated: $(values_of s3.h5 params | tr '\n' ' ')"

# no option: no params, and the counts of earlier versions' streams; a fixed
# stimulus of 1 (its own stream drawn but unused) gives the same cells
$MPIRUN -n 2 "$DG" $K -n 7 -out plain.h5 > /dev/null
h5ls plain.h5 | has params && fail "params without -stimulus_range"
h5dump -a /stimulus plain.h5 > /dev/null 2>&1 && fail "a stimulus attribute without -stimulus"
$MPIRUN -n 2 "$DG" $K -n 7 -stimulus_range 1 -out one.h5 > /dev/null
for d in counts labels; do h5diff plain.h5 one.h5 /$d /$d || fail "-stimulus_range 1 changed the $d"; done
[ "$(values_of one.h5 params | sort -u)" = 1 ] || fail "-stimulus_range 1: params not all 1"
# the drawn stimulus changes the counts but not the cell types
h5diff -q plain.h5 s1.h5 /counts /counts > /dev/null 2>&1 && fail "the stimulus did not change the counts"
h5diff plain.h5 s1.h5 /labels /labels || fail "the stimulus changed the cell types"
# -stimulus fixes it for every cell, recorded as an attribute, without params
$MPIRUN -n 2 "$DG" $K -n 7 -stimulus 2 -out fixed.h5 > /dev/null
h5ls fixed.h5 | has params && fail "params with a fixed -stimulus"
h5dump -a /stimulus fixed.h5 | has "(0): 2" || fail "no stimulus attribute"

# -params_file: each row -n times, rows in member order, rank-independent;
# a row of stimulus 1 is the plain simulator
"$CV" -format csv -in <(printf '1\n2\n') -params_csv <(printf 'stimulus\n1\n3\n') -out pts.h5 > /dev/null
$MPIRUN -n 1 "$DG" $K -n 3 -params_file pts.h5 -out f1.h5 > /dev/null
$MPIRUN -n 3 "$DG" $K -n 3 -params_file pts.h5 -out f3.h5 > /dev/null
for d in counts labels params; do h5diff f1.h5 f3.h5 /$d /$d || fail "-params_file: $d differ on 1 and 3 ranks"; done
[ "$(values_of f3.h5 params | tr '\n' ' ')" = "1 1 1 3 3 3 " ] || fail "-params_file rows: $(values_of f3.h5 params)"
h5dump -a /realizations_per_row f3.h5 | has "(0): 3" || fail "realizations_per_row"
$MPIRUN -n 1 "$DG" $K -n 6 -out plain6.h5 > /dev/null
[ "$(values_of f3.h5 counts | head -24 | tr '\n' ' ')" = "$(values_of plain6.h5 counts | head -24 | tr '\n' ' ')" ] \
  || fail "a params row of stimulus 1 is not the plain simulator"
[ "$(values_of f3.h5 counts | tail -24 | tr '\n' ' ')" = "$(values_of plain6.h5 counts | tail -24 | tr '\n' ' ')" ] \
  && fail "a params row of stimulus 3 gave the plain simulator's cells"
h5diff f3.h5 plain6.h5 /labels /labels || fail "-params_file changed the cell types"

# errors: one line, status 1, no output
expect_error "-stimulus_range 3,2: lo must not exceed hi" "$DG" $K -stimulus_range 3,2 -out x.h5
expect_error "-stimulus_range -1,2: stimulus = -1 must be non-negative" "$DG" $K -stimulus_range -1,2 -out x.h5
expect_error "-stimulus: stimulus = -0.5 must be non-negative" "$DG" $K -stimulus -0.5 -out x.h5
expect_error "give either -params_file or -stimulus_range, not both" "$DG" $K -params_file pts.h5 -stimulus_range 1,2 -out x.h5
"$DG" -kind reservoir -n 1 -nx 8 -ny 8 -sigma_range 1,2 -out res.h5 > /dev/null
expect_error "res.h5: params column corr_len is not a genes parameter (stimulus)" "$DG" $K -params_file res.h5 -out x.h5
"$CV" -format csv -in <(printf '1\n2\n') -params_csv <(printf 'stimulus\n1\n-3\n') -out neg.h5 > /dev/null
expect_error "neg.h5: params row 1: stimulus = -3 must be non-negative" "$DG" $K -params_file neg.h5 -out x.h5
expect_error "-write_inputs is for -kind reservoir (genes have no input fields)" "$DG" $K -write_inputs -out x.h5
[ -e x.h5 ] && fail "output left after an error"
ls | has '\.tmp' && fail "temporary file left behind"
"$DG" -help > help.txt || fail "-help failed"
grep -q -- "-stimulus_range" help.txt && grep -q -- "^ *-stimulus[: ]" help.txt || fail "-help lacks -stimulus(_range)"

# the pipeline on it: a conditioned MLP, sampled at a point and at a file's
# points, evaluated per point
$MPIRUN -n 2 "$DG" $K -n 64 -stimulus_range 0.25,4 -out train.h5 > /dev/null
"$CV" -format csv -in <(printf '1\n2\n') -params_csv <(printf 'stimulus\n0.5\n3\n') -out held.h5 > /dev/null
$MPIRUN -n 2 "$DG" $K -n 12 -seed 4 -params_file held.h5 -out real.h5 > /dev/null
$MPIRUN -n 2 "$BO_BIN/bo_train" -data train.h5 -model mlp -steps 6 -batch 16 -condition_on params -checkpoint ck.h5 \
  > tr.txt 2>&1 || { cat tr.txt; fail "bo_train -condition_on params"; }
grep -q "conditioning on params stimulus" tr.txt || { cat tr.txt; fail "not conditioned on the stimulus"; }
h5dump -a /model/model_param_names ck.h5 | has '"stimulus"' || fail "model_param_names"
"$BO_BIN/bo_sample" -checkpoint ck.h5 -n 5 -sample_steps 4 -params 2 -out one_pt.h5 > /dev/null 2> err.txt \
  || { cat err.txt; fail "bo_sample -params"; }
[ -s err.txt ] && { cat err.txt; fail "a warning inside the training range"; }
[ "$(values_of one_pt.h5 params | sort -u)" = 2 ] || fail "bo_sample -params: the members' params"
expect_error "-params: 2 values, but the network takes 1 (stimulus)" \
  "$BO_BIN/bo_sample" -checkpoint ck.h5 -n 5 -params 2,3 -out y.h5
$MPIRUN -n 2 "$BO_BIN/bo_sample" -checkpoint ck.h5 -n 12 -sample_steps 4 -params_file held.h5 -out fake.h5 > /dev/null \
  || fail "bo_sample -params_file"
h5diff fake.h5 real.h5 /params /params || fail "the ensemble's params are not the points'"
$MPIRUN -n 2 "$BO_BIN/bo_eval" -by_params -real real.h5 -fake fake.h5 -train train.h5 -json bp.json > bp.txt 2>&1 \
  || { cat bp.txt; fail "bo_eval -by_params"; }
grep -q "^by params: 2 points of (stimulus); 24 real, 24 generated, 64 training members" bp.txt \
  || { cat bp.txt; fail "bo_eval -by_params: points or sizes"; }
grep -q '"n_points": 2,' bp.json || fail "n_points"
echo ok
