# bo_datagen -realizations_per_field R: member m is on permeability field
# m / R (and its params draw) with its own tracer walk. The same file on 1,
# 2 and 3 ranks (2-D and 3-D); members of one field share inputs and params
# but not counts; member m's field is realization m / R's of an R = 1 file,
# and member 0 is that file's member 0; the bad values are one-line errors.
source "$(dirname "$0")/common.sh"
DG="$BO_BIN/bo_datagen"

# values FILE DATASET: one a line, member by member
values() {
  h5dump -y -w 0 -d "/$2" -o values.txt "$1" > /dev/null || fail "h5dump $1 /$2"
  tr -s ', ' '\n\n' < values.txt | grep .
}
# member_lines FILE DATASET D: one line per member (its D values)
member_lines() { values "$1" "$2" | awk -v D="$3" '{ printf "%s%s", $1, NR % D ? " " : "\n" }'; }

# 2-D, 2 fields x 4 walks, params drawn per field, on 1, 2 and 3 ranks
args="-kind reservoir -n 8 -realizations_per_field 4 -nx 10 -ny 8 -sigma_range 0.5,1.5 -pvi_range 0.3,0.6 -seed 7"
for n in 1 2 3; do $MPIRUN -n $n "$DG" $args -out r$n.h5 > /dev/null; done
for d in counts inputs params; do
  h5diff r1.h5 r2.h5 /$d /$d || fail "per field: $d differ on 1 and 2 ranks"
  h5diff r1.h5 r3.h5 /$d /$d || fail "per field: $d differ on 1 and 3 ranks"
done
h5dump -a /realizations_per_field r1.h5 | has "(0): 4" || fail "no realizations_per_field attribute"
member_lines r1.h5 inputs 80 > in.txt
member_lines r1.h5 params 3 > par.txt
member_lines r1.h5 counts 80 > cnt.txt
[ "$(wc -l < in.txt)" = 8 ] || fail "not 8 members of inputs"
# members 0-3 on one field, 4-7 on another: 2 distinct inputs and params, 8 distinct counts
[ "$(sed -n 1,4p in.txt | sort -u | wc -l)" = 1 ] || fail "members 0-3 do not share their field"
[ "$(sed -n 5,8p in.txt | sort -u | wc -l)" = 1 ] || fail "members 4-7 do not share their field"
[ "$(sort -u in.txt | wc -l)" = 2 ] || fail "the two fields are the same"
[ "$(sed -n 1,4p par.txt | sort -u | wc -l)" = 1 ] || fail "members 0-3 do not share their params"
[ "$(sort -u par.txt | wc -l)" = 2 ] || fail "the two fields have the same params"
[ "$(sort -u cnt.txt | wc -l)" = 8 ] || fail "members of one field have the same tracer counts"

# R = 1 (the default): field k is realization k's; member 0 is the same
$MPIRUN -n 2 "$DG" ${args/-realizations_per_field 4/} -out one.h5 > /dev/null
member_lines one.h5 inputs 80 > in1.txt
member_lines one.h5 params 3 > par1.txt
member_lines one.h5 counts 80 > cnt1.txt
[ "$(sed -n 2p in1.txt)" = "$(sed -n 5p in.txt)" ] || fail "member 4's field is not realization 1's"
[ "$(sed -n 2p par1.txt)" = "$(sed -n 5p par.txt)" ] || fail "member 4's params are not realization 1's"
[ "$(sed -n 1p cnt1.txt)" = "$(sed -n 1p cnt.txt)" ] || fail "member 0 differs from the R = 1 file's"
h5dump -a /realizations_per_field one.h5 > /dev/null 2>&1 && fail "R = 1 records realizations_per_field"

# 3-D, 2 fields x 2 walks, with -write_inputs, on 1, 2 and 3 ranks
for n in 1 2 3; do
  $MPIRUN -n $n "$DG" -kind reservoir -n 4 -realizations_per_field 2 -nx 6 -ny 5 -nz 3 -write_inputs -seed 3 \
    -out z$n.h5 > /dev/null
done
for d in counts inputs; do
  h5diff z1.h5 z2.h5 /$d /$d || fail "3-D per field: $d differ on 1 and 2 ranks"
  h5diff z1.h5 z3.h5 /$d /$d || fail "3-D per field: $d differ on 1 and 3 ranks"
done
member_lines z1.h5 inputs 90 > zin.txt
member_lines z1.h5 counts 90 > zcnt.txt
[ "$(sed -n 1,2p zin.txt | sort -u | wc -l)" = 1 ] || fail "3-D: members 0, 1 do not share their field"
[ "$(sort -u zin.txt | wc -l)" = 2 ] || fail "3-D: not 2 fields"
[ "$(sort -u zcnt.txt | wc -l)" = 4 ] || fail "3-D: members of one field have the same counts"

# -params_file: R divides -n, the realizations per row
printf 'corr_len,sigma,pvi\n4,1,0.5\n3,0.5,0.4\n' > pts.csv
printf '0\n0\n' > ptsc.csv
"$BO_BIN/bo_convert" -format csv -in ptsc.csv -params_csv pts.csv -out pts.h5 > /dev/null
$MPIRUN -n 2 "$DG" -kind reservoir -params_file pts.h5 -n 4 -realizations_per_field 2 -nx 8 -ny 6 -out pf.h5 \
  > /dev/null
member_lines pf.h5 inputs 48 > pfin.txt
[ "$(sort -u pfin.txt | wc -l)" = 4 ] || fail "-params_file: not 2 fields per row"
[ "$(sed -n 3,4p pfin.txt | sort -u | wc -l)" = 1 ] || fail "-params_file: members 2, 3 do not share a field"

# errors
expect_error "-realizations_per_field 0: must be at least 1" "$DG" -kind reservoir -n 4 -realizations_per_field 0 \
  -out bad.h5
expect_error "-realizations_per_field 3 does not divide -n 8" "$DG" -kind reservoir -n 8 -realizations_per_field 3 \
  -out bad.h5
expect_error "within one -params_file row" "$DG" -kind reservoir -params_file pts.h5 -n 3 -realizations_per_field 2 \
  -out bad.h5
expect_error "-realizations_per_field is for -kind reservoir" "$DG" -kind genes -n 4 -realizations_per_field 2 \
  -out bad.h5
expect_error "would be identical copies" "$DG" -kind reservoir -reservoir_output permeability -n 4 \
  -realizations_per_field 2 -out bad.h5
[ -e bad.h5 ] && fail "an error left bad.h5"
"$DG" -help > help.txt 2>&1 || true
grep -q -- "-realizations_per_field" help.txt || fail "-help does not show -realizations_per_field"
echo "datagen_per_field: ok"
