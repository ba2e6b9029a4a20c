# bo_convert -params_csv: one row of parameters per member, carried with its
# member through -patch, -shuffle_seed, -n and -holdout, and back out of an
# HDF5 input (-format anndata); every malformed CSV is a one-line error with
# no output left behind.
source "$(dirname "$0")/common.sh"
CV="$BO_BIN/bo_convert"

# values_of FILE DATASET: the dataset's values, one a line
values_of() {
  h5dump -y -w 0 -d "/$2" -o values.txt "$1" > /dev/null || fail "h5dump $1 /$2"
  tr -s ', ' '\n\n' < values.txt | grep .
}
names_of() { h5dump -a "/$2/names" "$1" | sed -n 's/.*(0): "\(.*\)"/\1/p'; }
check_clean() {
  [ -e out.h5 ] && fail "output file left behind"
  ls | has '\.tmp' && fail "temporary file left behind"
  return 0
}

# member k: counts k,k,k,k (2 x 2); params 10k+1, -k (a header names them)
: > c.csv; printf 'a,b\n' > p.csv
for k in 0 1 2 3 4 5; do echo "$k,$k,$k,$k" >> c.csv; echo "$((10 * k + 1)),$((-k))" >> p.csv; done
"$CV" -format csv -in c.csv -shape 2,2 -params_csv p.csv -out all.h5 > log.txt
grep -q "with params" log.txt || fail "no params reported"
[ "$(names_of all.h5 params)" = "a,b" ] || fail "names: $(names_of all.h5 params)"
[ "$(values_of all.h5 params | tr '\n' ' ')" = "1 0 11 -1 21 -2 31 -3 41 -4 51 -5 " ] || fail "params: $(values_of all.h5 params | tr '\n' ' ')"
h5dump -A -d /params all.h5 | has "( 6, 2 )" || fail "params shape"
"$BO_BUILD/tests/progs/dataset_info" -data all.h5 | has "N=6 field Ny=2 Nx=2" || fail "a reader of counts fails on params"

# pairing survives reordering and splitting: member with counts k has params 10k+1, -k
pairs() { paste -d' ' <(counts_values "$1" | awk 'NR % 4 == 1') <(values_of "$1" params | paste -d' ' - -); }
check_pairs() {
  pairs "$1" | awk '{ if ($2 != 10 * $1 + 1 || $3 != -$1) { print "member with counts " $1 ": params " $2 ", " $3; bad = 1 } }
    END { exit bad }' || fail "$1: params not with their members"
}
"$CV" -format csv -in c.csv -shape 2,2 -params_csv p.csv -shuffle_seed 7 -n 5 -holdout 2 -holdout_out h.h5 \
  -out tr.h5 > /dev/null
check_pairs tr.h5; check_pairs h.h5
[ "$(counts_values tr.h5 | awk 'NR % 4 == 1' | tr '\n' ' ')" != "0 1 2 " ] || fail "-shuffle_seed kept the order"
[ "$(values_of tr.h5 params | wc -l)" = 6 ] && [ "$(values_of h.h5 params | wc -l)" = 4 ] || fail "split sizes"
# through an HDF5 input read in shards on 2 ranks
$MPIRUN -n 2 "$CV" -format anndata -in tr.h5 -in_name counts -out again.h5 > /dev/null
check_pairs again.h5
[ "$(names_of again.h5 params)" = "a,b" ] || fail "names lost through -format anndata"
# patches repeat their field's params: 4 patches of 1 x 1 per member
"$CV" -format csv -in c.csv -shape 2,2 -params_csv p.csv -patch 1 -out pat.h5 > /dev/null
[ "$(values_of pat.h5 params | awk 'NR % 2 == 1' | tr '\n' ' ')" = \
  "1 1 1 1 11 11 11 11 21 21 21 21 31 31 31 31 41 41 41 41 51 51 51 51 " ] || fail "patches: params not repeated"
# no header: names p0, p1; blank lines are skipped
printf '1,2\n\n3,4\n5,6\n' > nh.csv; printf '1\n2\n3\n' > c3.csv
"$CV" -format csv -in c3.csv -params_csv nh.csv -out nh.h5 > /dev/null
[ "$(names_of nh.h5 params)" = "p0,p1" ] || fail "default names: $(names_of nh.h5 params)"
[ "$(values_of nh.h5 params | tr '\n' ' ')" = "1 2 3 4 5 6 " ] || fail "no header: params"

# errors: one line naming the file and the line, status 1, no output
printf 'a,b\n1,2\n3,4\n' > two.csv
expect_error "two.csv: 2 rows of params, but the input has 3 samples" "$CV" -format csv -in c3.csv -params_csv two.csv -out out.h5; check_clean
printf '1,2\n3,4\n5,6\n7,8\n' > four.csv
expect_error "four.csv: more than 3 rows of params, but the input has 3 samples" "$CV" -format csv -in c3.csv -params_csv four.csv -out out.h5; check_clean
printf 'a,b\n1,2\n3\n5,6\n' > ragged.csv
expect_error "ragged.csv: line 3 has 1 values, expected 2 (ragged rows)" "$CV" -format csv -in c3.csv -params_csv ragged.csv -out out.h5; check_clean
printf '1,2\n3,x4\n5,6\n' > word.csv
expect_error "word.csv: line 2, column 2: not a number (x4)" "$CV" -format csv -in c3.csv -params_csv word.csv -out out.h5; check_clean
printf 'a,b\n1,2\nnan,4\n5,6\n' > nan.csv
expect_error "nan.csv: line 3, column 1: NaN (nan)" "$CV" -format csv -in c3.csv -params_csv nan.csv -out out.h5; check_clean
printf '1,2\n1,inf\n5,6\n' > inf.csv
expect_error "inf.csv: line 2, column 2: infinite (inf)" "$CV" -format csv -in c3.csv -params_csv inf.csv -out out.h5; check_clean
printf 'a,,c\n1,2,3\n' > empty.csv
expect_error "empty.csv: line 1 (the header): name 2 is empty" "$CV" -format csv -in c3.csv -params_csv empty.csv -out out.h5; check_clean
expect_error "cannot open missing.csv" "$CV" -format csv -in c3.csv -params_csv missing.csv -out out.h5; check_clean
expect_error "-out p.csv is the same file as -params_csv p.csv" "$CV" -format csv -in c3.csv -params_csv p.csv -out p.csv
expect_error "-params_csv is not supported with -format anndata" "$CV" -format anndata -in tr.h5 -params_csv p.csv -out out.h5
"$CV" -help > help.txt || fail "-help failed"
grep -q -- "-params_csv" help.txt || fail "-help does not list -params_csv"
echo ok
