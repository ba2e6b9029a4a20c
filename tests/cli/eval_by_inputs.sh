# bo_eval -by_inputs without a trained model: 4 permeability fields x 32
# tracer walks (bo_datagen -realizations_per_field), split into the even
# members (real) and the odd ones ("generated", tests/progs/split_members):
# a second simulator draw on the same fields, which must pass at every field with a
# margin above 1 and an own RMSE near the floor; the generated set made a copy
# of the real members of other fields (roll_inputs moves each member's field
# 32 members on) must fail at every field, with its source field's totals; the JSON keys; the same report on
# 1 and 3 ranks; 3-D fields; every misuse is a one-line error.
source "$(dirname "$0")/common.sh"
EV="$BO_BIN/bo_eval"
DG="$BO_BIN/bo_datagen"
G="-kind reservoir -nx 10 -ny 8 -write_inputs -seed 4"
"$DG" $G -n 128 -realizations_per_field 32 -out all.h5 > /dev/null
"$BO_BUILD/tests/progs/split_members" -in all.h5 -even real.h5 -odd fake.h5

# 1. a second simulator draw passes
"$EV" -by_inputs -real real.h5 -fake fake.h5 -json p.json > p.txt
grep -q "^by inputs: 4 input fields; 64 real, 64 generated members" p.txt || { cat p.txt; fail "fields or sizes"; }
grep -q "^BY_INPUTS: pass: .* at 4 of 4 fields" p.txt || { cat p.txt; fail "a second simulator draw does not pass"; }
# per field (table rows: field member n_real n_gen own other nearest margin floor_split floor_scaled separation):
# margin > 1, 16 + 16 members, and own / the scaled floor in [0.75, 1.4]: both
# estimate the RMSE of two independent means of 16 walks (seen 0.88 to 1.17;
# the unscaled split-half floor, of 8 vs 8, gives 0.62 to 0.83)
awk '/^ *[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ / { n++; if (!($8 > 1)) { print "margin " $8; bad = 1 }
    if ($3 != 16 || $4 != 16) { print "field " $1 ": " $3 " + " $4 " members"; bad = 1 }
    if (!($5 < 1.4 * $10 && $5 > 0.75 * $10)) { print "field " $1 ": own " $5 " vs floor " $10; bad = 1 } }
  END { if (n != 4) { print n " rows"; bad = 1 }; exit bad }' p.txt || { cat p.txt; fail "second draw: per-field rows"; }
# the members' total counts per field (columns mass_real sd_real mass_gen sd_gen): two draws of 16 walks,
# means within 3 standard errors of their difference, sds within a factor 2 (their log ratio's sd is about 0.26)
awk '/^ *[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ / { se = sqrt(($13 * $13 + $15 * $15) / 16)
    if (!($12 - $14 < 3 * se && $14 - $12 < 3 * se)) { print "field " $1 ": mass " $12 " vs " $14; bad = 1 }
    if (!($15 < 2 * $13 && $13 < 2 * $15 && $13 > 0)) { print "field " $1 ": sd " $13 " vs " $15; bad = 1 } }
  END { exit bad }' p.txt || { cat p.txt; fail "second draw: per-field mass"; }
grep -Eq "^BY_INPUTS: pass: .*; per field, the generated total's sd is (0\.[89][0-9]*|1|1\.[0-3][0-9]*) times the simulator's and its mean (0\.99[0-9]*|1|1\.00[0-9]*) times" p.txt ||
  { cat p.txt; fail "second draw: the summary's mass ratios"; }
for k in field first_real_member n_real n_generated rmse_own rmse_other margin floor_split_half floor_scaled \
  separation mass_real mass_sd_real mass_generated mass_sd_generated nearest_other nearest_is_own; do
  [ "$(grep "^    {\"field\": " p.json | grep -c "\"$k\": ")" = 4 ] || fail "JSON: $k not in every field"
done
grep -q '"mode": "by_inputs"' p.json || fail "JSON mode"
grep -q '"summary": {"pass": true, "fields_nearest_own": 4, "margin_min": ' p.json || fail "JSON summary"
grep -q '"margin_mean": [0-9.]*, "mass_sd_ratio": [0-9.]*, "mass_mean_ratio": [0-9.]*, "text"' p.json ||
  fail "JSON summary: the mass ratios"

# 2. a copy of the real members of other fields fails at every field
cp all.h5 copy.h5
"$BO_BUILD/tests/progs/roll_inputs" copy.h5 32
"$EV" -by_inputs -real all.h5 -fake copy.h5 -json f.json > f.txt
grep -q "^BY_INPUTS: FAIL: .* at 0 of 4 fields" f.txt || { cat f.txt; fail "a copy of other fields passes"; }
grep -q '"summary": {"pass": false, "fields_nearest_own": 0' f.json || fail "JSON summary of the failure"
# the nearest other field is the one the copy came from: field f's members are field f - 1's
awk '/^ *[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ / { if ($7 != ($1 + 3) % 4 || $6 != 0) { print; bad = 1 } } END { exit bad }' \
  f.txt || { cat f.txt; fail "the copy is not matched to its source field"; }
# and its members' totals are that field's, exactly: mass_gen, sd_gen of f are mass_real, sd_real of f - 1
awk '/^ *[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ / { m[$1] = $12; s[$1] = $13; g[$1] = $14; h[$1] = $15; n++ }
  END { for (f = 0; f < n; f++) if (g[f] != m[(f + 3) % 4] || h[f] != s[(f + 3) % 4]) { print "field " f; bad = 1 }
    exit bad || n != 4 }' f.txt || { cat f.txt; fail "the copy's totals are not its source field's"; }

# 3-D fields: the same grouping (inputs of nz x ny x nx per member); the set
# itself passes (own RMSE 0), its rolled copy fails
"$DG" -kind reservoir -nx 6 -ny 5 -nz 3 -write_inputs -seed 4 -n 8 -realizations_per_field 4 -out z.h5 > /dev/null
cp z.h5 zc.h5
"$BO_BUILD/tests/progs/roll_inputs" zc.h5 4
$MPIRUN -n 2 "$EV" -by_inputs -real z.h5 -fake z.h5 > z.txt
grep -q "^by inputs: 2 input fields; 8 real, 8 generated members" z.txt || { cat z.txt; fail "3-D: fields or sizes"; }
grep -q "^BY_INPUTS: pass: .* at 2 of 2 fields" z.txt || { cat z.txt; fail "3-D: the set itself does not pass"; }
$MPIRUN -n 2 "$EV" -by_inputs -real z.h5 -fake zc.h5 > zc.txt
grep -q "^BY_INPUTS: FAIL: .* at 0 of 2 fields" zc.txt || { cat zc.txt; fail "3-D: the rolled copy passes"; }

# 3. the same report on 1 and 3 ranks
$MPIRUN -n 1 "$EV" -by_inputs -real real.h5 -fake fake.h5 | grep -v "done in" > r1.txt
$MPIRUN -n 3 "$EV" -by_inputs -real real.h5 -fake fake.h5 | grep -v "done in" > r3.txt
cmp -s r1.txt r3.txt || { diff r1.txt r3.txt; fail "1 and 3 ranks differ"; }
cmp -s r1.txt <(grep -v "done in" p.txt) || fail "1 rank and the serial run differ"

# 4. errors
"$DG" -kind reservoir -nx 10 -ny 8 -n 4 -out plain.h5 > /dev/null
"$DG" -kind reservoir -nx 10 -ny 8 -write_inputs -seed 4 -n 64 -realizations_per_field 32 -out two.h5 > /dev/null
"$DG" -kind reservoir -nx 10 -ny 8 -write_inputs -seed 5 -n 8 -realizations_per_field 8 -out one.h5 > /dev/null
expect_error "-by_inputs: plain.h5 has no inputs dataset" "$EV" -by_inputs -real plain.h5 -fake fake.h5
expect_error "-by_inputs: plain.h5 has no inputs dataset" "$EV" -by_inputs -real real.h5 -fake plain.h5
expect_error "one.h5: member 0 is on an input field that no member of real.h5 has" \
  "$EV" -by_inputs -real real.h5 -fake one.h5
expect_error "two.h5: no member on the input field of member 64 of all.h5" "$EV" -by_inputs -real all.h5 -fake two.h5
expect_error "one.h5: all 8 members are on one input field" "$EV" -by_inputs -real one.h5 -fake one.h5
expect_error "give -by_inputs or -by_params, not both" "$EV" -by_inputs -by_params -real real.h5 -fake fake.h5 \
  -train all.h5
expect_error "-by_inputs compares -fake with -real only: drop -train" "$EV" -by_inputs -real real.h5 -fake fake.h5 \
  -train all.h5
expect_error "-by_inputs writes no plots: drop -png" "$EV" -by_inputs -real real.h5 -fake fake.h5 -png pic
printf '1\n2\n' > a.csv
expect_error "-by_inputs needs HDF5 files, not CSV" "$EV" -by_inputs -real a.csv -fake a.csv
ls | has '^pic' && fail "an error wrote a picture"
"$EV" -help > help.txt 2>&1 # (not piped into grep -q: its early exit fails the pipe under pipefail)
grep -q -- "-by_inputs" help.txt || fail "-help does not show -by_inputs"
echo "eval_by_inputs: ok"
