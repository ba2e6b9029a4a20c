# bo_convert -format grdecl: an Eclipse/OPM keyword file (4 x 3 x 2 cells,
# with comments, N*value repeats, SPECGRID and ACTNUM) to a 3-D member, its
# values and its active mask; quantizing; 3-D patches; and every bad input
# as one error line with nothing left behind.
source "$(dirname "$0")/common.sh"
CV="$BO_BIN/bo_convert"
INFO="$BO_BUILD/tests/progs/dataset_info"

no_output() {
  [ -e out.h5 ] && fail "output file left behind"
  ls | has '\.tmp' && fail "temporary file left behind"
  return 0
}
# values FILE DATASET: its values, one a line, in storage order
values() {
  h5dump -y -w 0 -d "$2" -o values.txt "$1" > /dev/null || fail "h5dump $1 $2"
  tr -s ', ' '\n\n' < values.txt | grep . | tr '\n' ' '
}

cat > grid.grdecl <<'G'
-- a 4 x 3 x 2 grid, i fastest
GRID
SPECGRID
 4 3 2 1 F /
PERMX -- mD
 1 2 3 4 5 6 7 8 9 10 11 12   -- layer k = 1
 12*2 /                       -- layer k = 2
ACTNUM
 4*1 0 7*1 -- cell (1,2,1) is inactive
 12*1 /
G
"$CV" -format grdecl -in grid.grdecl -out g.h5 > log.txt || fail "convert: $(cat log.txt)"
grep -q "wrote 1 3-D members of 4 x 3 x 2 counts of PERMX (max 12, with active)" log.txt || fail "log: $(cat log.txt)"
$INFO -data g.h5 | has "N=1 field3d Nz=2 Ny=3 Nx=4 C=1 max=12" || fail "shape: $($INFO -data g.h5)"
[ "$(values g.h5 /counts)" = "1 2 3 4 0 6 7 8 9 10 11 12 2 2 2 2 2 2 2 2 2 2 2 2 " ] \
  || fail "counts: $(values g.h5 /counts)"
[ "$(values g.h5 /active)" = "1 1 1 1 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 " ] \
  || fail "active: $(values g.h5 /active)"
h5dump -a /keyword g.h5 | has '"PERMX"' || fail "no keyword attribute"
h5dump -a /source_format g.h5 | has '"grdecl"' || fail "no source_format"

# -shape instead of SPECGRID; a file without ACTNUM has no /active
printf 'PORO\n 2*0 3 -- a comment\n 3*4 /\n' > poro.grdecl
"$CV" -format grdecl -in poro.grdecl -shape 3,1,2 -out p.h5 > /dev/null || fail "-shape"
$INFO -data p.h5 | has "N=1 field3d Nz=2 Ny=1 Nx=3" || fail "-shape: $($INFO -data p.h5)"
[ "$(values p.h5 /counts)" = "0 0 3 4 4 4 " ] || fail "-shape counts: $(values p.h5 /counts)"
h5dump -d /active p.h5 > /dev/null 2>&1 && fail "an /active without ACTNUM"

# -quantize: linear over the active cells' range, log10 of positive values
printf 'PERMX\n 0.5 1.5 2.5 3.5 /\n' > f.grdecl
"$CV" -format grdecl -in f.grdecl -shape 4,1,1 -quantize linear:6 -out q.h5 > /dev/null || fail "linear"
[ "$(values q.h5 /counts)" = "0 2 4 6 " ] || fail "linear: $(values q.h5 /counts)"
h5dump -a /quantize q.h5 | has '"linear:6"' || fail "no quantize attribute"
printf 'PERMX\n 1 10 100 1000 /\n' > l.grdecl
"$CV" -format grdecl -in l.grdecl -shape 2,2,1 -quantize log:3 -out lq.h5 > /dev/null || fail "log"
[ "$(values lq.h5 /counts)" = "0 1 2 3 " ] || fail "log: $(values lq.h5 /counts)"

# -patch PX,PY,PZ: 2 x 3 x 1 patches of the 4 x 3 x 2 grid, x fastest, the same on 2 ranks
"$CV" -format grdecl -in grid.grdecl -patch 2,3,1 -out pt.h5 > /dev/null || fail "-patch"
$INFO -data pt.h5 | has "N=4 field3d Nz=1 Ny=3 Nx=2" || fail "-patch: $($INFO -data pt.h5)"
[ "$(values pt.h5 /counts)" = "1 2 0 6 9 10 3 4 7 8 11 12 2 2 2 2 2 2 2 2 2 2 2 2 " ] \
  || fail "-patch counts: $(values pt.h5 /counts)"
[ "$(values pt.h5 /active)" = "1 1 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 " ] \
  || fail "-patch active: $(values pt.h5 /active)"
$MPIRUN -n 2 "$CV" -format grdecl -in grid.grdecl -patch 2,3,1 -out pt2.h5 > /dev/null || fail "-patch on 2 ranks"
h5diff pt.h5 pt2.h5 /counts /counts && h5diff pt.h5 pt2.h5 /active /active || fail "-patch: 2 ranks differ"
# -patch P: cubes, with -stride
"$CV" -format grdecl -in grid.grdecl -patch 2 -stride 1 -out cube.h5 > /dev/null || fail "-patch 2 -stride 1"
$INFO -data cube.h5 | has "N=6 field3d Nz=2 Ny=2 Nx=2" || fail "-patch 2: $($INFO -data cube.h5)"

# bad input: one error line naming the file and line, no output
printf 'PERMX\n 1 2\n 3 x4 /\n' > nan.grdecl
expect_error "nan.grdecl: line 3: 'x4' is not a number (in the PERMX record of line 1" \
  "$CV" -format grdecl -in nan.grdecl -shape 4,1,1 -out out.h5; no_output
expect_error "poro.grdecl: PORO (line 1) has 6 values, but -shape 4,3,3 has 36 cells" \
  "$CV" -format grdecl -in poro.grdecl -shape 4,3,3 -out out.h5; no_output
printf 'DIMENS\n 4 3 1 /\nPERMX 12*1 1 /\n' > count.grdecl
expect_error "count.grdecl: PERMX (line 3) has 13 values, but the grid (DIMENS, line 1) has 12 cells" \
  "$CV" -format grdecl -in count.grdecl -out out.h5; no_output
expect_error "poro.grdecl: no grid: give -shape Nx,Ny,Nz or a SPECGRID or DIMENS record" \
  "$CV" -format grdecl -in poro.grdecl -out out.h5; no_output
printf 'DIMENS 2 2 1 /\nPORO 4*1 /\nACTNUM 3*1 /\n' > mask.grdecl
expect_error "mask.grdecl: ACTNUM (line 3) has 3 values, but the grid (DIMENS, line 1) has 4 cells" \
  "$CV" -format grdecl -in mask.grdecl -out out.h5; no_output
printf 'DIMENS 2 1 1 /\nPORO 1 -2 /\n' > neg.grdecl
expect_error "neg.grdecl: PORO (line 2), value 2: count negative (-2); use -quantize" \
  "$CV" -format grdecl -in neg.grdecl -out out.h5; no_output
printf 'DIMENS 2 1 1 /\nPORO 1 0.25 /\n' > frac.grdecl
expect_error "frac.grdecl: PORO (line 2), value 2: count not an integer (0.25)" \
  "$CV" -format grdecl -in frac.grdecl -out out.h5; no_output
expect_error "grid.grdecl: no keyword PORO (its properties: PERMX)" \
  "$CV" -format grdecl -in grid.grdecl -keyword PORO -out out.h5; no_output
printf 'DIMENS 2 1 1 /\nPORO 1 2 /\nPERMX 3 4 /\n' > two.grdecl
expect_error "two.grdecl: several properties (PORO, PERMX): choose one with -keyword NAME" \
  "$CV" -format grdecl -in two.grdecl -out out.h5; no_output
expect_error "-shape 4,3,1 disagrees with grid.grdecl SPECGRID of line 3 (4 3 2)" \
  "$CV" -format grdecl -in grid.grdecl -shape 4,3,1 -out out.h5; no_output
expect_error "-shape: -format grdecl takes Nx,Ny,Nz (3 values), not 2" \
  "$CV" -format grdecl -in grid.grdecl -shape 4,6 -out out.h5; no_output
expect_error "-patch: -format grdecl takes P or PX,PY,PZ" \
  "$CV" -format grdecl -in grid.grdecl -patch 2,3,1,9 -out out.h5; no_output
printf 'DIMENS 2 1 1 /\nPORO 2* /\n' > def.grdecl
expect_error "def.grdecl: line 2: '2\*' (default values) in PORO is not supported" \
  "$CV" -format grdecl -in def.grdecl -out out.h5; no_output
printf "DIMENS 2 1 1 /\nINCLUDE\n 'poro.inc' /\n" > inc.grdecl
expect_error "inc.grdecl: line 2: INCLUDE is not supported" "$CV" -format grdecl -in inc.grdecl -out out.h5; no_output
printf 'DIMENS 2 1 1 /\nPORO 1 2\n' > open.grdecl
expect_error "open.grdecl: the PORO record of line 2 has no closing '/'" \
  "$CV" -format grdecl -in open.grdecl -out out.h5; no_output
printf 'PERMX\n 0 1 2 3 /\n' > z.grdecl
expect_error "z.grdecl: PERMX (line 1), value 1: 0 is not positive (-quantize log)" \
  "$CV" -format grdecl -in z.grdecl -shape 4,1,1 -quantize log:4 -out out.h5; no_output
expect_error "-quantize cubic:4: give linear:LEVELS or log:LEVELS" \
  "$CV" -format grdecl -in z.grdecl -shape 4,1,1 -quantize cubic:4 -out out.h5; no_output
expect_error "patch 5 x 1 x 1 and stride 5 must be positive and fit the 4 x 1 x 1 grid" \
  "$CV" -format grdecl -in z.grdecl -shape 4,1,1 -patch 5,1,1 -out out.h5; no_output
expect_error "-n, -shuffle_seed, -holdout and -params_csv are not supported with -format grdecl" \
  "$CV" -format grdecl -in z.grdecl -shape 4,1,1 -n 1 -out out.h5; no_output
expect_error "-keyword and -quantize are for -format grdecl" \
  "$CV" -format csv -in z.grdecl -keyword PERMX -out out.h5; no_output
# sizes beyond 10^8 values or cells are refused before they are allocated
printf 'DIMENS 2 1 1 /\nPORO 999999999*1 /\n' > big.grdecl
expect_error "big.grdecl: line 2: PORO has more than 100000000 values" \
  "$CV" -format grdecl -in big.grdecl -out out.h5; no_output
printf 'DIMENS 2000 1000 1000 /\nPORO 1 /\n' > huge.grdecl
expect_error "huge.grdecl: line 1: DIMENS: more than 100000000 cells" \
  "$CV" -format grdecl -in huge.grdecl -out out.h5; no_output
expect_error "-shape: more than 100000000 cells" \
  "$CV" -format grdecl -in z.grdecl -shape 100000,100000,100000 -out out.h5; no_output
# on 2 ranks: still one message and no output
if $MPIRUN -n 2 "$CV" -format grdecl -in nan.grdecl -shape 4,1,1 -out out.h5 > out.txt 2> err.txt; then
  fail "2 ranks: expected failure"
fi
grep -q "line 3: 'x4' is not a number" err.txt || fail "2 ranks: no message: $(cat err.txt)"
no_output
echo ok
