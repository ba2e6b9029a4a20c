# bo_convert on bad input: one line on stderr naming the problem, a non-zero
# exit, and no output file (nor a temporary one).
source "$(dirname "$0")/common.sh"
CV="$BO_BIN/bo_convert"

check_clean() {
  # mpirun adds its own report; the program's own message is one line
  [ "$(grep -v -e '^--' -e '^ ' -e '^$' -e 'mpirun' -e 'Primary job' -e 'a non-zero exit' -e 'Process name' -e 'Exit code' -e 'the job to be' err.txt | wc -l)" = 1 ] \
    || { cat err.txt >&2; fail "error is not one line"; }
  [ -e out.h5 ] && fail "output file left behind"
  ls | has '\.tmp' && fail "temporary file left behind"
  return 0
}

printf '1,2,3\n4,-5,6\n' > neg.csv
expect_error "bo_convert: error: neg.csv: line 2, column 2: count negative (-5)" "$CV" -format csv -in neg.csv -out out.h5
check_clean
# the same under mpirun on 2 ranks
if $MPIRUN -n 2 "$CV" -format csv -in neg.csv -out out.h5 > out.txt 2> err.txt; then fail "2 ranks: expected failure"; fi
grep -q "count negative" err.txt || fail "2 ranks: no message"
check_clean

printf '1,2.5\n' > frac.csv
expect_error "line 1, column 2: count not an integer (2.5)" "$CV" -format csv -in frac.csv -out out.h5; check_clean
printf '1,NaN\n' > nan.csv
expect_error "count NaN" "$CV" -format csv -in nan.csv -out out.h5; check_clean
printf '1,2,3\n' > three.csv
expect_error "wrong shape" "$CV" -format csv -in three.csv -shape 2,2 -out out.h5; check_clean
expect_error "cannot open" "$CV" -format csv -in missing.csv -out out.h5; check_clean
expect_error "give -format" "$CV" -in three.csv -out out.h5; check_clean
expect_error "give the output file" "$CV" -format csv -in three.csv; check_clean
printf 'abc' > bad.idx
expect_error "not an idx file" "$CV" -format idx -in bad.idx -out out.h5; check_clean
printf '\x01\x02\x03' > odd.raw
expect_error "wrong shape" "$CV" -format raw -dtype u16 -shape 1 -in odd.raw -out out.h5; check_clean
expect_error "cannot open" "$CV" -format anndata -in missing.h5ad -out out.h5; check_clean
expect_error "patch size" "$CV" -format csv -in three.csv -shape 1,3 -patch 2 -out out.h5; check_clean
# a directory as the input: the reason, read before the gzip handle is freed
mkdir adir
expect_error "cannot read adir: Is a directory" "$CV" -format csv -in adir -out out.h5
expect_error "cannot read adir: Is a directory" "$CV" -format idx -in adir -out out.h5
# an output directory that does not exist
expect_error "-out no/such/dir/out.h5: directory no/such/dir does not exist" \
  "$CV" -format csv -in three.csv -out no/such/dir/out.h5
expect_error "the input has only" "$CV" -format csv -in three.csv -holdout 5 -holdout_out h.h5 -out out.h5
[ -e h.h5 ] || [ -e out.h5 ] && fail "a failed split left an output"
expect_error "-n 4: three.csv has fewer samples (1)" "$CV" -format csv -in three.csv -n 4 -out out.h5; check_clean
expect_error "-n -1: must be >= 0" "$CV" -format csv -in three.csv -n -1 -out out.h5
expect_error "-shape: more than 3 values" "$CV" -format csv -in three.csv -shape 1,1,1,3 -out out.h5; check_clean
expect_error "-n abc: Input string abc has no integer value" "$CV" -format csv -in three.csv -n abc -out out.h5
expect_error "-options_file nothere.opts: No such file or directory" "$CV" -options_file nothere.opts -format csv \
  -in three.csv -out out.h5
expect_error "-shuffle_seed -1: must be >= 0" "$CV" -format csv -in three.csv -shuffle_seed -1 -out out.h5
expect_error "-shuffle_seed is not supported" "$CV" -format anndata -in three.csv -shuffle_seed 1 -out out.h5
expect_error "needs -holdout_out" "$CV" -format csv -in three.csv -holdout 1 -out out.h5
echo ok
