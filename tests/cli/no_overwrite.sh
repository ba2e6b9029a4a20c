# No output replaces an input: each program refuses, before any work, an
# output that is one of its inputs, however it is spelled (the same name,
# ./name, dir/../name, a symbolic or a hard link), with one error line naming
# both options; the input is left byte for byte as it was. And an output's
# directory must exist (and be writable) before any work starts.
source "$(dirname "$0")/common.sh"

"$BO_BIN/bo_convert" -format csv -in "$BO_ROOT/inputs/digits/digits.csv.gz" -shape 8,8 -label_column 64 -n 200 \
  -out d.h5 > /dev/null
"$BO_BIN/bo_train" -data d.h5 -steps 2 -batch 8 -checkpoint ck.h5 -checkpoint_every 0 > /dev/null
"$BO_BIN/bo_sample" -checkpoint ck.h5 -n 8 -sample_steps 2 -out ens.h5 > /dev/null
gzip -dc "$BO_ROOT/inputs/digits/digits.csv.gz" > all.csv && head -50 all.csv > a.csv
mkdir sub && ln -s ../ck.h5 sub/link.h5 && ln ck.h5 hard.h5
sums() { md5sum d.h5 ck.h5 ens.h5 a.csv; }
sums > before.txt

# refuse "text" cmd...: an error naming the clash, and the inputs unchanged
# (clash: two outputs that name one file)
refuse_because() {
  expect_error "$2" "${@:3}"
  grep -q "$1" err.txt || { cat err.txt; fail "no reason given: ${*:3}"; }
  sums | cmp -s - before.txt || fail "an input changed: ${*:3}"
}
refuse() { refuse_because "an output may not replace an input" "$@"; }
clash() { refuse_because "one would overwrite the other" "$@"; }
SA="$BO_BIN/bo_sample"
refuse "-out ck.h5 is the same file as -checkpoint ck.h5" "$SA" -checkpoint ck.h5 -n 4 -out ck.h5
refuse "-out ./ck.h5 is the same file as -checkpoint" "$SA" -checkpoint ck.h5 -n 4 -out ./ck.h5
refuse "-out sub/../ck.h5 is the same file" "$SA" -checkpoint ck.h5 -n 4 -out sub/../ck.h5
refuse "-out sub/link.h5 is the same file" "$SA" -checkpoint ck.h5 -n 4 -out sub/link.h5
refuse "-out hard.h5 is the same file" "$SA" -checkpoint ck.h5 -n 4 -out hard.h5
refuse "-png ck.h5 is the same file as -checkpoint" "$SA" -checkpoint ck.h5 -n 4 -out o.h5 -png ck.h5
refuse "-out d.h5 is the same file as -mass_from d.h5" "$SA" -checkpoint ck.h5 -n 4 -mass_from d.h5 -out d.h5
clash "-png o.h5 is the same file as -out o.h5" "$SA" -checkpoint ck.h5 -n 4 -out o.h5 -png o.h5
refuse "-out ens.h5 is the same file as -merge shard ens.h5" "$SA" -merge ens.h5 -out ens.h5
refuse "-checkpoint d.h5 is the same file as -data d.h5" "$BO_BIN/bo_train" -data d.h5 -steps 1 -checkpoint d.h5
refuse "-log d.h5 is the same file as -data d.h5" "$BO_BIN/bo_train" -data d.h5 -steps 1 -checkpoint c2.h5 -log d.h5
clash "-log ck.h5 is the same file as -checkpoint ck.h5" "$BO_BIN/bo_train" -data d.h5 -steps 1 -checkpoint ck.h5 \
  -log ck.h5
refuse "-out a.csv is the same file as -in a.csv" "$BO_BIN/bo_convert" -format csv -in a.csv -shape 8,8 \
  -label_column 64 -out a.csv
clash "-holdout_out o.h5 is the same file as -out o.h5" "$BO_BIN/bo_convert" -format csv -in a.csv -shape 8,8 \
  -label_column 64 -holdout 5 -holdout_out o.h5 -out o.h5
refuse "-out ens.h5 is the same file as -data ens.h5" "$BO_BIN/bo_darcy" -data ens.h5 -out ens.h5
refuse "-json ens.h5 is the same file as -fake ens.h5" "$BO_BIN/bo_eval" -real d.h5 -fake ens.h5 -json ens.h5
refuse "-json d.h5 is the same file as -train d.h5" "$BO_BIN/bo_eval" -real ens.h5 -fake ens.h5 -train d.h5 -json d.h5
# on 2 ranks every rank stops alike: one error line, status 1
refuse "-out ck.h5 is the same file as -checkpoint ck.h5" $MPIRUN -n 2 "$SA" -checkpoint ck.h5 -n 4 -out ck.h5
[ -e o.h5 ] && fail "a refused run left an output"

# an output's directory is checked before the work (it used to be found missing only after sampling or
# training to the first checkpoint)
expect_error "-png nodir/x.png: directory nodir does not exist" "$SA" -checkpoint ck.h5 -n 4 -out o.h5 -png nodir/x.png
grep -q "members" out.txt && fail "bo_sample sampled before finding -png's directory missing"
expect_error "-out nodir/o.h5: directory nodir does not exist" "$SA" -checkpoint ck.h5 -n 4 -out nodir/o.h5
expect_error "-checkpoint nodir/c.h5: directory nodir does not exist" \
  "$BO_BIN/bo_train" -data d.h5 -steps 1 -checkpoint nodir/c.h5
grep -q "step" out.txt && fail "bo_train trained before finding -checkpoint's directory missing"
expect_error "-log nodir/l.csv: directory nodir does not exist" \
  "$BO_BIN/bo_train" -data d.h5 -steps 1 -checkpoint c3.h5 -log nodir/l.csv
expect_error "-out nodir/x.h5: directory nodir does not exist" "$BO_BIN/bo_convert" -format csv -in a.csv \
  -shape 8,8 -label_column 64 -out nodir/x.h5
expect_error "-out nodir/k.csv: directory nodir does not exist" "$BO_BIN/bo_darcy" -data ens.h5 -out nodir/k.csv
expect_error "-json nodir/r.json: directory nodir does not exist" "$BO_BIN/bo_eval" -real d.h5 -fake ens.h5 \
  -json nodir/r.json
expect_error "-out nodir/g.h5: directory nodir does not exist" "$BO_BIN/bo_datagen" -kind genes -n 4 -out nodir/g.h5
if [ "$(id -u)" != 0 ]; then # root writes anywhere
  mkdir ro && chmod a-w ro
  expect_error "-out ro/o.h5: directory ro is not writable" "$SA" -checkpoint ck.h5 -n 4 -out ro/o.h5
fi
[ -e c3.h5 ] && fail "a refused run left a checkpoint"
# a new name beside the input is fine
"$SA" -checkpoint ck.h5 -n 4 -sample_steps 2 -out sub/new.h5 > /dev/null || fail "a new output refused"
exit 0
