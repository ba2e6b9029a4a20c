# bo_eval on bad input: one line naming the problem, a non-zero exit, no report.
source "$(dirname "$0")/common.sh"
EV="$BO_BIN/bo_eval"
DG="$BO_BIN/bo_datagen"
"$DG" -kind reservoir -n 6 -nx 8 -ny 8 -out a.h5 > /dev/null
"$DG" -kind reservoir -n 6 -nx 8 -ny 6 -out b.h5 > /dev/null
"$DG" -kind genes -n 6 -genes 8 -out g.h5 > /dev/null

check_clean() {
  [ "$(grep -c 'bo_eval: error' err.txt)" = 1 ] || { cat err.txt >&2; fail "not one error line"; }
  [ -e r.json ] && fail "report left behind"
  ls | has '\.tmp' && fail "temporary file left behind"
  return 0
}
expect_error "bo_eval: error: missing.h5: cannot open" "$EV" -real missing.h5 -fake a.h5 -json r.json; check_clean
expect_error "bo_eval: error: missing.h5: cannot open" "$EV" -real a.h5 -fake missing.h5 -json r.json; check_clean
expect_error "shape mismatch: a.h5 has fields of 8 x 8 x 1, b.h5 has fields of 6 x 8 x 1" "$EV" -real a.h5 -fake b.h5 -json r.json; check_clean
expect_error "shape mismatch" "$EV" -real a.h5 -fake g.h5 -json r.json; check_clean
expect_error "shape mismatch" "$EV" -real a.h5 -fake a.h5 -train g.h5 -json r.json; check_clean
expect_error "give -real FILE and -fake FILE" "$EV" -real a.h5; check_clean
# an empty set (0 members)
printf "PATH /counts\nINPUT-CLASS TEXTIN\nRANK 3\nDIMENSION-SIZES 0 8 8\nOUTPUT-CLASS IN\nOUTPUT-SIZE 32\n" > cfg
: > empty.txt
h5import empty.txt -c cfg -o empty.h5
expect_error "empty" "$EV" -real a.h5 -fake empty.h5 -json r.json; check_clean
# the same collectively on 2 ranks
if $MPIRUN -n 2 "$EV" -real a.h5 -fake b.h5 -json r.json > out.txt 2> err.txt; then fail "2 ranks: expected failure"; fi
grep -q "shape mismatch" err.txt || fail "2 ranks: no message"
check_clean
# CSV mode
printf 'member,k_eff,outflow,iterations\n' > e.csv
printf 'member,k_eff,outflow,iterations\n0,1,2,3\n' > one.csv
expect_error "e.csv: no rows (empty set)" "$EV" -real one.csv -fake e.csv -json r.json; check_clean
expect_error "both be CSV or both HDF5" "$EV" -real one.csv -fake a.h5 -json r.json; check_clean
expect_error "missing.csv: cannot open" "$EV" -real one.csv -fake missing.csv -json r.json; check_clean
echo ok
