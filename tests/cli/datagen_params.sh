# bo_datagen -kind reservoir with parameters per realization: -*_range draws
# (corr_len, sigma, pvi) per member from its own stream, so params, inputs
# and counts are identical on 1, 2 and 3 ranks; -params_file simulates given
# points -n times each; without either no params or inputs are written;
# every bad option is a one-line error with no output.
source "$(dirname "$0")/common.sh"
DG="$BO_BIN/bo_datagen"
values_of() {
  h5dump -y -w 0 -d "/$2" -o values.txt "$1" > /dev/null || fail "h5dump $1 /$2"
  tr -s ', ' '\n\n' < values.txt | grep .
}
R="-kind reservoir -n 5 -nx 16 -ny 12 -seed 3"
for n in 1 2 3; do
  $MPIRUN -n $n "$DG" $R -corr_len_range 2,8 -sigma_range 0.5,1.5 -pvi_range 0.4 -out p$n.h5 > /dev/null
done
for d in counts params inputs; do
  h5diff p1.h5 p2.h5 /$d /$d || fail "$d: 1 vs 2 ranks differ"
  h5diff p1.h5 p3.h5 /$d /$d || fail "$d: 1 vs 3 ranks differ"
done
h5dump -a /params/names p3.h5 | has '"corr_len,sigma,pvi"' || fail "params names"
h5dump -H -d /params p3.h5 | has "( 5, 3 )" || fail "params shape"
h5dump -H -d /inputs p3.h5 | has "H5T_IEEE_F32LE" || fail "inputs type"
h5dump -H -d /inputs p3.h5 | has "( 5, 12, 16 )" || fail "inputs shape"
# PETSc VecLoads the inputs of the 3-rank file on 2 ranks, member by member
$MPIRUN -n 2 "$BO_BUILD/tests/progs/petsc_load" -file p3.h5 -name inputs | has " 0 mismatches" || fail "VecLoad of inputs"
# each member draws its own values within the ranges; the fixed one is fixed
values_of p3.h5 params | paste -d' ' - - - | awk '{ if ($1 < 2 || $1 > 8 || $2 < 0.5 || $2 > 1.5 || $3 != 0.4) bad = 1
    c[$1] = 1 } END { if (length(c) != 5) bad = 1; exit bad }' || fail "params outside their ranges or repeated"
"$BO_BUILD/tests/progs/dataset_info" -data p3.h5 | has "N=5 field Ny=12 Nx=16 C=1" || fail "a counts reader fails"
# another seed draws other parameters
$MPIRUN -n 2 "$DG" $R -seed 4 -corr_len_range 2,8 -out s4.h5 > /dev/null
status=0; h5diff -q p1.h5 s4.h5 /params /params > /dev/null 2>&1 || status=$?
[ "$status" = 1 ] || fail "seeds 3 and 4 drew the same params (h5diff status $status)"

# -params_file: each row -n times, rows in member order; rank-independent
$MPIRUN -n 1 "$DG" -kind reservoir -n 2 -nx 16 -ny 12 -params_file p3.h5 -out f1.h5 > /dev/null
$MPIRUN -n 3 "$DG" -kind reservoir -n 2 -nx 16 -ny 12 -params_file p3.h5 -out f3.h5 > /dev/null
for d in counts params inputs; do h5diff f1.h5 f3.h5 /$d /$d || fail "-params_file: $d differ on 1 and 3 ranks"; done
[ "$(values_of f3.h5 params | paste -d' ' - - - | awk 'NR % 2 == 1')" = "$(values_of p3.h5 params | paste -d' ' - - -)" ] \
  && [ "$(values_of f3.h5 params | paste -d' ' - - - | awk 'NR % 2 == 0')" = "$(values_of p3.h5 params | paste -d' ' - - -)" ] \
  || fail "-params_file: members are not the rows, each twice"
# a file naming only some parameters: the others from the options
"$BO_BIN/bo_convert" -format csv -in <(printf '1\n2\n') -params_csv <(printf 'pvi\n0.3\n0.6\n') -out pvi.h5 > /dev/null
$MPIRUN -n 2 "$DG" -kind reservoir -n 1 -nx 8 -ny 8 -sigma 0.7 -params_file pvi.h5 -out g.h5 > /dev/null
[ "$(values_of g.h5 params | tr '\n' ' ')" = "4 0.7 0.3 4 0.7 0.6 " ] || fail "partial params file: $(values_of g.h5 params | tr '\n' ' ')"

# the parameters are those simulated: a row of the defaults (corr_len 4,
# sigma 1, pvi 0.5) gives member 0 of a run without parameters, bit for bit
"$BO_BIN/bo_convert" -format csv -in <(printf '1\n') -params_csv <(printf 'corr_len,sigma,pvi\n4,1,0.5\n') -out def.h5 > /dev/null
$MPIRUN -n 1 "$DG" -kind reservoir -n 1 -nx 16 -ny 12 -seed 3 -params_file def.h5 -out d1.h5 > /dev/null
$MPIRUN -n 1 "$DG" -kind reservoir -n 1 -nx 16 -ny 12 -seed 3 -out plain1.h5 > /dev/null
h5diff d1.h5 plain1.h5 /counts /counts || fail "a params row of the defaults: other counts than without params"

# no range, no file: no params, no inputs (the counts as before); -write_inputs alone adds inputs
$MPIRUN -n 2 "$DG" $R -out plain.h5 > /dev/null
h5ls plain.h5 | has -e params -e inputs && fail "params or inputs without a range"
h5diff plain.h5 p1.h5 /counts /counts > /dev/null 2>&1 && fail "drawn parameters did not change the counts"
$MPIRUN -n 2 "$DG" $R -write_inputs -out wi.h5 > /dev/null
h5ls wi.h5 | has inputs && ! h5ls wi.h5 | has params || fail "-write_inputs alone"
h5diff plain.h5 wi.h5 /counts /counts || fail "-write_inputs changed the counts"

# errors: one line, status 1, no output
expect_error "-corr_len_range 3,2: lo must not exceed hi" "$DG" $R -corr_len_range 3,2 -out x.h5
expect_error "pvi = -1 must be positive" "$DG" $R -pvi_range -1,2 -out x.h5
expect_error "give either -params_file or ranges (-corr_len_range, -sigma_range, -pvi_range), not both" "$DG" $R -params_file p3.h5 -sigma_range 1 -out x.h5
"$BO_BIN/bo_convert" -format csv -in <(printf '1\n') -params_csv <(printf 'a\n1\n') -out o.h5 > /dev/null
expect_error "o.h5: params column a is not a reservoir parameter (corr_len, sigma, pvi)" "$DG" $R -params_file o.h5 -out x.h5
"$BO_BIN/bo_convert" -format csv -in <(printf '1\n') -params_csv <(printf 'sigma\n-2\n') -out neg.h5 > /dev/null
expect_error "neg.h5: params row 0: sigma = -2 must be non-negative" "$DG" $R -params_file neg.h5 -out x.h5
expect_error "plain.h5: no dataset params" "$DG" $R -params_file plain.h5 -out x.h5
expect_error "-out p3.h5 is the same file as -params_file p3.h5" "$DG" $R -params_file p3.h5 -out p3.h5
expect_error "p3.h5: params column corr_len is not a genes parameter (stimulus)" "$DG" -kind genes -params_file p3.h5 -out x.h5
[ -e x.h5 ] && fail "output left after an error"
ls | has '\.tmp' && fail "temporary file left behind"
"$DG" -help > help.txt || fail "-help failed"
grep -q -- "-pvi_range" help.txt || fail "-help does not list -pvi_range"
echo ok
