# No command damages a file it did not write, and a bad output location is
# found before the work: checkpoint rotation touches only its own rotated
# files; an ensemble's XDMF sidecar is an output like the others; an output
# that names a directory, or is empty, is refused up front; a new training
# run keeps an existing log; pictures named by a prefix are checked against
# the other files; a merge refuses the options it would ignore; list options
# refuse values they would drop. Each refusal is one error line.
source "$(dirname "$0")/common.sh"
TR="$BO_BIN/bo_train"
SA="$BO_BIN/bo_sample"
DG="$BO_BIN/bo_datagen"

"$DG" -kind reservoir -nx 8 -ny 8 -n 16 -out d.h5 > /dev/null
md5() { md5sum "$1" | cut -d' ' -f1; }
data_sum=$(md5 d.h5)
train() { "$TR" -steps 6 -batch 4 -checkpoint_every 2 -calibrate_members 0 "$@"; }

# 1. Rotation. A user's file that shares the checkpoint's prefix survives the
#    pruning (it used to be unlinked as the oldest "sibling"): the training
#    data itself named run-steps.h5, and an unrelated ck-step.h5.
cp d.h5 run-steps.h5
train -data run-steps.h5 -checkpoint run.h5 -keep_checkpoints 1 > /dev/null || fail "training on run-steps.h5"
[ "$(md5 run-steps.h5)" = "$data_sum" ] || fail "-data run-steps.h5 was pruned as a checkpoint"
cp d.h5 ck-step.h5
train -data d.h5 -checkpoint ck.h5 -keep_checkpoints 2 > /dev/null || fail "training beside ck-step.h5"
[ "$(md5 ck-step.h5)" = "$data_sum" ] || fail "ck-step.h5 was pruned as a checkpoint"
# ... while the rotated checkpoints themselves are still pruned to -keep_checkpoints
[ "$(ls ck-step0*.h5 | wc -l)" = 1 ] || fail "rotation kept $(ls ck-step0*.h5 | wc -l) old checkpoints, want 1"
# A user's file with a rotated name is not replaced by the move aside
cp d.h5 cr-step00000002.h5
expect_error "cannot move cr.h5 aside to cr-step00000002.h5: that file exists and is not a checkpoint" \
  train -data cr-step00000002.h5 -checkpoint cr.h5
[ "$(md5 cr-step00000002.h5)" = "$data_sum" ] || fail "cr-step00000002.h5 was replaced by the move aside"
ls cr.h5.tmp* 2> /dev/null && fail "the refused move aside left its temporary"

# 2. The XDMF sidecar is an output: not the ensemble itself, not another output's
expect_error "-out's XDMF sidecar e.xmf is the same file as -out e.xmf" "$SA" -checkpoint ck.h5 -n 4 -out e.xmf
[ -e e.xmf ] && fail "a refused run wrote e.xmf"
gzip -dc "$BO_ROOT/inputs/digits/digits.csv.gz" > all.csv && head -40 all.csv > a.csv
expect_error "-holdout_out's XDMF sidecar t.xmf is the same file as -out's XDMF sidecar t.xmf" \
  "$BO_BIN/bo_convert" -format csv -in a.csv -shape 8,8 -label_column 64 -holdout 5 -out t.h5 -holdout_out t.hdf5
[ -e t.h5 ] && fail "a refused conversion wrote t.h5"

# 3. An output that names a directory, or is empty, is refused before the work
mkdir dir
expect_error "-out dir: is a directory, not a file name" "$SA" -checkpoint ck.h5 -n 4 -out dir
expect_error "-out nodir/: is a directory, not a file name" "$SA" -checkpoint ck.h5 -n 4 -out nodir/
expect_error "-png dir: is a directory, not a file name" "$SA" -checkpoint ck.h5 -n 4 -out o.h5 -png dir
expect_error "-checkpoint nodir/: is a directory, not a file name" train -data d.h5 -checkpoint nodir/
grep -q "step" out.txt && fail "bo_train trained before finding -checkpoint a directory"
echo "old results" > r.csv
expect_error "-out_h5 dir: is a directory, not a file name" "$BO_BIN/bo_darcy" -data d.h5 -n 2 -out r.csv -out_h5 dir
[ "$(cat r.csv)" = "old results" ] || fail "bo_darcy replaced -out before finding -out_h5 a directory"
echo old > train.h5
expect_error "-holdout_out dir: is a directory, not a file name" "$BO_BIN/bo_convert" -format csv -in a.csv \
  -shape 8,8 -label_column 64 -holdout 5 -holdout_out dir -out train.h5
[ "$(cat train.h5)" = old ] || fail "bo_convert replaced -out before finding -holdout_out a directory"
expect_error "-png dir: is a directory, not a file name" "$DG" -kind genes -n 4 -out g.h5 -png dir
[ -e g.h5 ] && fail "bo_datagen wrote -out before finding -png a directory"
expect_error "-out is empty" "$SA" -checkpoint ck.h5 -n 4 -out ""
expect_error "-checkpoint is empty" "$TR" -data d.h5 -steps 1 -checkpoint ""
[ -e o.h5 ] && fail "a refused run left an output"
ls -- *.tmp* 2> /dev/null && fail "a refused run left a temporary"
# on 2 ranks the same: one error line (a rank-0-only error used to abort the job)
expect_error "-log dir: is a directory, not a file name" $MPIRUN -n 2 "$TR" -data d.h5 -steps 2 -batch 4 \
  -checkpoint c2.h5 -log dir
mkdir ens2.xmf
expect_error "-out's XDMF sidecar ens2.xmf: is a directory" $MPIRUN -n 2 "$SA" -checkpoint ck.h5 -n 4 -out ens2.h5
[ -e ens2.h5 ] && fail "bo_sample wrote -out before finding its sidecar's name a directory"

# 4. A new training run keeps an existing log unless told -overwrite
printf 'precious\n' > old.csv
expect_error "-log old.csv exists: continue it with -restart, or replace it with -overwrite" \
  train -data d.h5 -checkpoint c3.h5 -log old.csv
[ "$(cat old.csv)" = precious ] || fail "a refused run changed the log"
[ -e c3.h5 ] && fail "a refused run wrote a checkpoint"
train -data d.h5 -checkpoint c3.h5 -log old.csv -overwrite > /dev/null || fail "-overwrite of the log refused"
head -n 1 old.csv | has "^step,loss" || fail "-overwrite did not begin a new log"
# -restart without a checkpoint to continue appends to the log, as the refusal advises
printf 'precious\n' > kept.csv
train -data d.h5 -checkpoint c4.h5 -log kept.csv -restart > /dev/null || fail "-restart with a new log"
head -n 1 kept.csv | has "^precious" || fail "-restart without a checkpoint truncated the log"

# 5. Pictures named by a prefix are outputs like the others
"$SA" -checkpoint ck.h5 -n 8 -sample_steps 2 -out ens.h5 > /dev/null
expect_error "-png r_spectra.png is the same file as -json r_spectra.png" "$BO_BIN/bo_eval" -real d.h5 \
  -fake ens.h5 -json r_spectra.png -png r
cp d.h5 q_montage.png
expect_error "-png q_montage.png is the same file as -real q_montage.png" "$BO_BIN/bo_eval" -real q_montage.png \
  -fake ens.h5 -png q
cp d.h5 q_meanvar.png
expect_error "-png q_meanvar.png is the same file as -real q_meanvar.png" "$BO_BIN/bo_eval" -real q_meanvar.png \
  -fake ens.h5 -png q
expect_error "-out nodir/p_mean.png: directory nodir does not exist" "$BO_BIN/bo_paramplot" -real d.h5 -fake ens.h5 \
  -out nodir/p
printf 'member,k_eff\n0,0.5\n' > k_mean.png
expect_error "-out k_mean.png is the same file as -real_keff k_mean.png" "$BO_BIN/bo_paramplot" -real d.h5 \
  -fake ens.h5 -real_keff k_mean.png -fake_keff k_mean.png -out k
printf 'member,k_eff\n0,0.5\n' > a_keff.csv
expect_error "comparing bo_darcy results (CSV) takes no -png" "$BO_BIN/bo_eval" -real a_keff.csv -fake a_keff.csv \
  -png p

# 6. A merge refuses the options it would ignore, and names a file that is no shard
expect_error "-merge only joins shards: -png does not apply" "$SA" -merge ens.h5 -out m.h5 -png m.png
expect_error "-merge: d.h5 is not a shard of bo_sample: it has no attribute 'first_member'" \
  "$SA" -merge ens.h5,d.h5 -out m.h5
[ -e m.h5 ] && fail "a refused merge wrote m.h5"

# 7. List options refuse the values they would drop
expect_error "-corr_len_range needs lo,hi or one value" "$DG" -kind reservoir -nx 8 -ny 8 -n 4 \
  -corr_len_range 1,2,3 -out x.h5
expect_error "-stimulus_range needs lo,hi or one value" "$DG" -kind genes -n 4 -stimulus_range 1,2,3 -out x.h5
[ "$(md5 d.h5)" = "$data_sum" ] || fail "the data changed"
exit 0
