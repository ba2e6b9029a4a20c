# bo_darcy: the same results on 1 and 2 ranks for a bo_datagen permeability
# ensemble; known answers (uniform, layers along and across the flow, a
# 2-component field); bo_eval compares two result files.
source "$(dirname "$0")/common.sh"
DA="$BO_BIN/bo_darcy"
$MPIRUN -n 2 "$BO_BIN/bo_datagen" -kind reservoir -reservoir_output permeability -n 5 -nx 16 -ny 12 -out perm.h5 > /dev/null
for n in 1 2; do
  $MPIRUN -n $n "$DA" -data perm.h5 -out r$n.csv -ksp_rtol 1e-10 > out$n.txt
  grep -q "k_eff mean" out$n.txt || fail "no summary on $n ranks"
done
head -1 r1.csv | has -x "member,k_eff,outflow,iterations" || fail "CSV header"
[ "$(wc -l < r1.csv)" = 6 ] || fail "CSV rows"
paste -d, r1.csv r2.csv | awk -F, 'NR > 1 { for (c = 2; c <= 3; c++) { d = $c - $(c + 4); if (d < 0) d = -d;
  if (d > 1e-8 * $c) { print "member " $1 " column " c ": " $c " vs " $(c + 4); bad = 1 } } } END { exit bad }' \
  || fail "1 and 2 ranks disagree"

# known answers on 6 x 8 cells, k = 10^count: uniform 1 -> k_eff 10;
# rows alternating 0/1 (layers along the flow) -> arithmetic mean 5.5;
# columns alternating (across the flow) -> harmonic mean 2 / (1 + 1/10);
# uniform 0 -> 1; outflow k_eff dp Ny / Nx = 6/8 k_eff. Exactly 4 rows.
awk 'BEGIN { for (m = 0; m < 4; m++) { s = ""; for (j = 0; j < 6; j++) for (i = 0; i < 8; i++) {
  v = (m == 0) ? 1 : (m == 1) ? j % 2 : (m == 2) ? i % 2 : 0; s = s (s == "" ? "" : ",") v }; print s } }' > known.csv
"$BO_BIN/bo_convert" -format csv -in known.csv -shape 6,8 -out known.h5 > /dev/null
$MPIRUN -n 2 "$DA" -data known.h5 -out k.csv -perm_log10_min 0 -perm_log10_per_count 1 -out_h5 k.h5 > /dev/null
awk -F, 'function chk(x, want) { if ((x - want) ^ 2 > (1e-9 * want) ^ 2) { print "member " $1 ": " x " vs " want; bad = 1 } }
  BEGIN { k[0] = 10; k[1] = 5.5; k[2] = 2 / 1.1; k[3] = 1 }
  NR > 1 { m = NR - 2; if ($1 != m) { print "row " NR ": member " $1 ", not " m; bad = 1 }; chk($2, k[m]); chk($3, k[m] * 6 / 8) }
  END { if (NR != 5) { print NR - 1 " members, not 4"; bad = 1 }; exit bad }' k.csv || fail "known answers"
h5dump -d k_eff k.h5 | has "(0): 10," || fail "HDF5 results"
# 2 components: component 0 is the permeability (uniform 1 -> 10)
awk 'BEGIN { s = ""; for (c = 0; c < 96; c++) s = s (c ? "," : "") (c % 2 ? 3 : 1); print s; print s }' > two.csv
"$BO_BIN/bo_convert" -format csv -in two.csv -shape 6,8,2 -out two.h5 > /dev/null
$MPIRUN -n 2 "$DA" -data two.h5 -out t.csv -perm_log10_min 0 -perm_log10_per_count 1 -n 1 > /dev/null
[ "$(wc -l < t.csv)" = 2 ] || fail "-n 1"
awk -F, 'NR == 2 { exit !(($2 - 10) ^ 2 < 1e-16) }' t.csv || fail "2-component field"

# physics-level comparison of two result files
"$BO_BIN/bo_eval" -real r1.csv -fake r2.csv -json c.json > c.txt
grep -q '"k_eff_w1": 0' c.json || { cat c.json; fail "identical results differ"; }
grep -q "^outflow" c.txt || fail "no outflow row"
ls | has '\.tmp' && fail "temporary file left behind"
echo ok
