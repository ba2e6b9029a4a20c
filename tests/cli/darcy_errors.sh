# bo_darcy on bad input: one line naming the problem, a non-zero exit.
source "$(dirname "$0")/common.sh"
DA="$BO_BIN/bo_darcy"
"$BO_BIN/bo_datagen" -kind genes -n 4 -genes 6 -out g.h5 > /dev/null
expect_error "bo_darcy: error: missing.h5: cannot open" "$DA" -data missing.h5 -out r.csv
echo "not hdf5" > bad.h5
expect_error "bad.h5: cannot open" "$DA" -data bad.h5 -out r.csv
expect_error "holds vectors (N, G), not fields" "$DA" -data g.h5 -out r.csv
expect_error "dataset labels has 1 axes" "$DA" -data g.h5 -data_name labels -out r.csv
expect_error "no dataset nothing" "$DA" -data g.h5 -data_name nothing -out r.csv
expect_error "give the results file" "$DA" -data g.h5
if $MPIRUN -n 2 "$DA" -data g.h5 -out r.csv > out.txt 2> err.txt; then fail "2 ranks: expected failure"; fi
[ "$(grep -c 'bo_darcy: error: .*holds vectors' err.txt)" = 1 ] || { cat err.txt; fail "2 ranks: not one line"; }
[ -e r.csv ] && fail "results written"
echo ok
