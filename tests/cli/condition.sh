# bo_train and bo_sample conditioned on simulator parameters and input
# fields (issue #14): reservoir data with per-realization corr_len and sigma
# trains a network that records what it is conditioned on; bo_sample takes
# -params / -params_file / -inputs, writes every member's params and inputs,
# is rank-independent, and every bad input is a one-line error; a network of
# input fields draws totals near each member's field (-inputs_knn).
source "$(dirname "$0")/common.sh"
TR="$BO_BIN/bo_train"
SA="$BO_BIN/bo_sample"
"$BO_BIN/bo_datagen" -kind reservoir -n 24 -nx 8 -ny 8 -seed 2 -corr_len_range 2,8 -sigma_range 0.5,1.5 -out rp.h5 > /dev/null
"$BO_BIN/bo_datagen" -kind reservoir -n 2 -nx 16 -ny 8 -seed 2 -corr_len_range 2,8 -out wide.h5 > /dev/null
"$BO_BIN/bo_datagen" -kind reservoir -n 24 -nx 8 -ny 8 -seed 2 -out plain.h5 > /dev/null

"$TR" -help > help.txt 2>&1 || fail "bo_train -help"
grep -q -- "^ *-condition_on[: ]" help.txt || fail "bo_train -help lacks -condition_on"
"$SA" -help > help.txt 2>&1 || fail "bo_sample -help"
for opt in -params -params_file -params_knn -params_knn_adjust -inputs -inputs_knn; do grep -q -- "^ *$opt[: ]" help.txt || fail "bo_sample -help lacks $opt"; done

# default: everything the data has; the checkpoint records it, with the statistics and the members' params
$MPIRUN -n 2 "$TR" -data rp.h5 -steps 6 -batch 8 -model unet-tiny -checkpoint ck.h5 > tr.txt 2>&1 || { cat tr.txt; fail "training"; }
grep -q "conditioning on params corr_len,sigma,pvi and input fields" tr.txt || { cat tr.txt; fail "not conditioned"; }
h5dump -a /model/model_params ck.h5 | has "(0): 3" || fail "model_params"
h5dump -a /model/model_param_names ck.h5 | has '"corr_len,sigma,pvi"' || fail "model_param_names"
h5dump -a /model/model_param_stats ck.h5 | has "( 12 )" || fail "model_param_stats"
h5dump -a /model/model_inputs ck.h5 | has "(0): 1" || fail "model_inputs"
h5ls -r ck.h5 > ls.txt
grep -q "/data_totals/params .*Dataset {24, 3}" ls.txt || fail "data_totals/params"
# a restart keeps it
$MPIRUN -n 2 "$TR" -data rp.h5 -steps 8 -batch 8 -checkpoint ck.h5 -restart > rs.txt 2>&1 || { cat rs.txt; fail "restart"; }
grep -q "conditioning on params corr_len,sigma,pvi and input fields" rs.txt || fail "the restart lost the conditioning"
expect_error "the network is conditioned on params (corr_len,sigma,pvi), the data have none" \
  "$TR" -data plain.h5 -steps 10 -batch 8 -checkpoint ck.h5 -restart
# -condition_on chooses
"$TR" -data rp.h5 -steps 2 -batch 8 -model unet-tiny -checkpoint p.h5 -condition_on params > /dev/null || fail "-condition_on params"
h5dump -a /model/model_params p.h5 > /dev/null 2>&1 || fail "-condition_on params: no model_params"
h5dump -a /model/model_inputs p.h5 > /dev/null 2>&1 && fail "-condition_on params conditioned on inputs"
"$TR" -data rp.h5 -steps 2 -batch 8 -model unet-tiny -checkpoint none.h5 -condition_on none > /dev/null || fail "-condition_on none"
h5dump -a /model/model_params none.h5 > /dev/null 2>&1 && fail "-condition_on none conditioned on params"
expect_error "-condition_on: unknown condition 'parms'" "$TR" -data rp.h5 -condition_on parms -checkpoint e.h5
expect_error "-condition_on: at most 4 items" "$TR" -data rp.h5 -condition_on params,inputs,labels,none,params -checkpoint e.h5
expect_error "-condition_on params: plain.h5 has no 'params'" "$TR" -data plain.h5 -condition_on params -checkpoint e.h5
[ -f e.h5 ] && fail "a refused run left a checkpoint"

# sampling: -params in physical units; the output carries params and inputs per member
"$BO_BIN/bo_convert" -format csv -in <(printf '1\n') -out one.h5 > /dev/null
"$SA" -checkpoint ck.h5 -n 24 -sample_steps 5 -params 4,1,0.5 -inputs rp.h5 -out s.h5 > s.txt 2> s_err.txt || { cat s_err.txt; fail "sampling"; }
[ -s s_err.txt ] && { cat s_err.txt; fail "a warning inside the training range"; }
h5ls s.h5 > ls.txt
grep -q "params *Dataset {24, 3}" ls.txt && grep -q "inputs *Dataset {24, 8, 8}" ls.txt || fail "output params/inputs: $(cat ls.txt)"
h5dump -a /params/names s.h5 | has '"corr_len,sigma,pvi"' || fail "output params names"
h5dump -a /totals s.h5 | has '"train, the 24 members nearest to each member.s params"' || fail "totals provenance: $(h5dump -a /totals s.h5)"
h5diff s.h5 rp.h5 /inputs /inputs || fail "the members' inputs are not the given ones"
# outside the training range: allowed, one warning naming the parameter and the range
"$SA" -checkpoint ck.h5 -n 24 -sample_steps 5 -params 4,3,0.5 -inputs rp.h5 -out w.h5 > /dev/null 2> w_err.txt || fail "out of range"
grep -q "warning: -params: sigma = 3.* is outside the training range \[0.5" w_err.txt || { cat w_err.txt; fail "range warning"; }
[ "$(wc -l < w_err.txt)" = 1 ] || { cat w_err.txt; fail "more than one warning"; }
# -params_file: every point -n members, point-major; the same on 1 and 2 ranks
$MPIRUN -n 1 "$SA" -checkpoint ck.h5 -n 1 -batch 5 -sample_steps 5 -params_file rp.h5 -inputs rp.h5 -out f1.h5 > /dev/null || fail "-params_file"
$MPIRUN -n 2 "$SA" -checkpoint ck.h5 -n 1 -batch 5 -sample_steps 5 -params_file rp.h5 -inputs rp.h5 -out f2.h5 > /dev/null || fail "-params_file on 2 ranks"
for d in counts params inputs; do h5diff f1.h5 f2.h5 /$d /$d || fail "-params_file: $d differ on 1 and 2 ranks"; done
h5diff f1.h5 rp.h5 /params /params || fail "-params_file: the members' params are not the file's rows"
# errors, one line each, no output
expect_error "the network is conditioned on params corr_len,sigma,pvi: give -params" "$SA" -checkpoint ck.h5 -inputs rp.h5 -out e.h5
expect_error "-params: 2 values, but the network takes 3 (corr_len,sigma,pvi)" "$SA" -checkpoint ck.h5 -params 4,1 -inputs rp.h5 -out e.h5
expect_error "-params: sigma = nan" "$SA" -checkpoint ck.h5 -params 4,nan,0.5 -inputs rp.h5 -out e.h5
expect_error "conditioned on input fields (1 per cell): give -inputs" "$SA" -checkpoint ck.h5 -params 4,1,0.5 -out e.h5
expect_error "the network takes (K, 8, 8, 1)" "$SA" -checkpoint ck.h5 -params 4,1,0.5 -inputs wide.h5 -out e.h5
expect_error "give one for all members or one per member (at least 25)" "$SA" -checkpoint ck.h5 -n 25 -params 4,1,0.5 -inputs rp.h5 -out e.h5
expect_error "(at least 32)" "$SA" -checkpoint ck.h5 -n 8 -first_member 24 -batch 8 -params 4,1,0.5 -inputs rp.h5 -out e.h5
expect_error "-first_member 8 with -params_file rp.h5" "$SA" -checkpoint ck.h5 -n 1 -first_member 8 -batch 8 -params_file rp.h5 -inputs rp.h5 -out e.h5
expect_error "-params: 17 values, but the network takes 3" "$SA" -checkpoint ck.h5 -params 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17 -inputs rp.h5 -out e.h5
# a shard takes the fields of its own members from a whole-ensemble inputs file
"$SA" -checkpoint ck.h5 -n 8 -first_member 8 -batch 8 -sample_steps 5 -params 4,1,0.5 -inputs rp.h5 -out sh.h5 > /dev/null \
  || fail "a shard with the whole inputs file"
expect_error "-params: the network of none.h5 is not conditioned on params" "$SA" -checkpoint none.h5 -params 1,2,3 -out e.h5
expect_error "one.h5: no dataset params" "$SA" -checkpoint ck.h5 -params_file one.h5 -inputs rp.h5 -out e.h5
expect_error "-inputs: the network of p.h5 is not conditioned on input fields" "$SA" -checkpoint p.h5 -params 4,1,0.5 -inputs rp.h5 -out e.h5
[ -f e.h5 ] && fail "a refused run left an output"

# a network of input fields alone: the checkpoint keeps each training member's field summary (4 x 4 block means),
# and each member's total is drawn from the -inputs_knn members whose summaries are nearest; the same on 1-3 ranks
$MPIRUN -n 2 "$TR" -data rp.h5 -steps 4 -batch 8 -model unet-tiny -condition_on inputs -checkpoint ci.h5 > ci.txt 2>&1 ||
  { cat ci.txt; fail "training on inputs"; }
h5ls -r ci.h5 > ls.txt
grep -q "/data_totals/input_summary .*Dataset {24, 16}" ls.txt || fail "data_totals/input_summary"
for n in 1 2 3; do
  $MPIRUN -n $n "$SA" -checkpoint ci.h5 -n 24 -batch 5 -sample_steps 5 -inputs rp.h5 -inputs_knn 6 -out i$n.h5 > i$n.txt ||
    fail "sampling near the inputs on $n ranks"
done
for n in 2 3; do h5diff i1.h5 i$n.h5 /counts /counts || fail "-inputs_knn: counts differ on 1 and $n ranks"; done
grep -q "member totals: drawn from the 6 training members whose input fields are nearest to the member's" i1.txt ||
  { cat i1.txt; fail "the view of -inputs_knn"; }
h5dump -a /totals i1.h5 | has '"train, the 6 members nearest to each member.s input field"' ||
  fail "totals provenance: $(h5dump -a /totals i1.h5)"
expect_error "-inputs_knn 0: must be >= 1" "$SA" -checkpoint ci.h5 -n 4 -inputs rp.h5 -inputs_knn 0 -out e.h5
[ -f e.h5 ] && fail "a refused run left an output"

# -data_chunk_mb streams the inputs with the counts, and the view says so
# (their values and the trajectory: tests/mpi_trainer.c, test_streamed_inputs)
$MPIRUN -n 2 "$TR" -data rp.h5 -steps 4 -batch 8 -model unet-tiny -data_chunk_mb 0.001 -data_shuffle_window 2 \
  -checkpoint cs.h5 > cs.txt 2>&1 || { cat cs.txt; fail "streamed training"; }
grep -q "windows of 2 blocks of 2 samples, with their inputs" cs.txt || { cat cs.txt; fail "the view: no streamed inputs"; }
grep -q "input fields, dropped at rate 0.1 (the inputs streamed with the counts, -data_chunk_mb)" cs.txt \
  || { cat cs.txt; fail "the trainer's view of streamed inputs"; }
# -params_knn_adjust linear: member k (k = 0..23) has every cell k + 1, so its
# total is 64 (k + 1), linear in param a = k, with b = 7k mod 5 beside it
# doing nothing; at a = 5.5 the 8 nearest totals, moved to the point, are
# all 64 x 6.5 = 416, where unadjusted they spread over the neighbours'
: > lin.csv; echo "a,b" > linp.csv
for k in $(seq 0 23); do
  printf "%s\n" "$(yes $((k + 1)) | head -n 64 | paste -sd,)" >> lin.csv; echo "$k,$((7 * k % 5))" >> linp.csv
done
"$BO_BIN/bo_convert" -format csv -in lin.csv -shape 8,8 -params_csv linp.csv -out lin.h5 > /dev/null || fail "lin.h5"
"$TR" -data lin.h5 -steps 2 -batch 8 -model unet-tiny -checkpoint lin_ck.h5 > /dev/null || fail "training on lin.h5"
totals_of() { counts_values "$1" | awk '{ s += $1 } NR % 64 == 0 { print s; s = 0 }' | sort -n | uniq | tr '\n' ' '; }
"$SA" -checkpoint lin_ck.h5 -n 16 -sample_steps 5 -params 5.5,2 -params_knn 8 -params_knn_adjust linear -out la.h5 \
  > la.txt || fail "-params_knn_adjust linear"
[ "$(totals_of la.h5)" = "416 " ] || fail "-params_knn_adjust linear: totals $(totals_of la.h5), not all 416"
grep -q "nearest to the member's params, moved to the point by a linear fit" la.txt || { cat la.txt; fail "the view"; }
h5dump -a /totals la.h5 | has "members nearest to each member.s params, moved to the point by a linear fit" \
  || fail "totals provenance: $(h5dump -a /totals la.h5)"
"$SA" -checkpoint lin_ck.h5 -n 16 -sample_steps 5 -params 5.5,2 -params_knn 8 -out ln.h5 > /dev/null || fail "-params_knn 8"
[ "$(totals_of ln.h5 | wc -w)" -gt 3 ] || fail "unadjusted totals do not spread: $(totals_of ln.h5)"
expect_error "-params_knn_adjust quadratic: must be none or linear" \
  "$SA" -checkpoint lin_ck.h5 -params 5.5,2 -params_knn_adjust quadratic -out e.h5
expect_error "-params_knn_adjust linear: a fit of 2 params needs at least 4 members (-params_knn 3" \
  "$SA" -checkpoint lin_ck.h5 -params 5.5,2 -params_knn 3 -params_knn_adjust linear -out e.h5
[ -f e.h5 ] && fail "a refused run left an output"
echo "condition: ok"
