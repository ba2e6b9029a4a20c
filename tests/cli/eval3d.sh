# bo_eval on 3-D fields (N, Nz, Ny, Nx): the header says 3-D, the JSON has
# the 2-D keys and the 3-D shape, the same numbers on 1 and 2 ranks, the
# pictures (rows of z-slices, mid-slices of mean and variance) have their
# sizes, and a 2-D reference against a 3-D file, or another Nz, is refused
# in one line naming both shapes, leaving no output; -by_params works alike.
source "$(dirname "$0")/common.sh"
EV="$BO_BIN/bo_eval"
F3="$BO_BUILD/tests/progs/field3d_tool"
# two draws of one ensemble of bumps (and a third for training), 4 x 8 x 12
"$F3" -out real.h5 -n 30 -nz 4 -ny 8 -nx 12 -seed 1 > /dev/null
"$F3" -out fake.h5 -n 24 -nz 4 -ny 8 -nx 12 -seed 2 > /dev/null
"$F3" -out train.h5 -n 20 -nz 4 -ny 8 -nx 12 -seed 3 > /dev/null

"$EV" -real real.h5 -fake fake.h5 -train train.h5 -json r1.json -png p > out1.txt
grep -q "^bo_eval: 3-D fields of 4 x 8 x 12 x 1 (Nz x Ny x Nx x C): 30 real" out1.txt || { cat out1.txt; fail "no 3-D header"; }
grep -q "^3-D fields of 4 x 8 x 12 (Nz x Ny x Nx): spectra over spherical shells" out1.txt || fail "report lacks 3-D"
grep -q "^psd_logratio" out1.txt && grep -q "^tpcf_logratio" out1.txt || fail "no spectrum rows"
# a second draw is a surrogate: it beats the straw man on the 3-D spectrum
grep "VERDICT: surrogate" out1.txt | has "psd_logratio" || { cat out1.txt; fail "second draw not a surrogate on psd"; }
grep -q '"dims": 3,' r1.json && grep -q '"shape": \[4, 8, 12, 1\],' r1.json || fail "JSON shape"
for k in w1_marginal mass_w1 psd_logratio tpcf_logratio mmd frechet memorized_fraction; do
  for col in generated independent_baseline holdout; do
    grep "\"$col\"" r1.json | has "\"$k\": [0-9.e+-]*[,}]" || fail "$col lacks $k"
  done
done
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{ print $1 * 2^24 + $2 * 2^16 + $3 * 2^8 + $4 "x" $5 * 2^24 + $6 * 2^16 + $7 * 2^8 + $8 }'; }
# montage: 4 real + 4 generated rows of 4 z-slices of 96 x 64 (cells of 8),
# gaps of 4, a line of slice names: 396 x 558 under 3 text lines
for f in spectra:820x404 marginals:552x422 meanvar:400x426 montage:412x690; do
  png="p_${f%%:*}.png"
  [ "$(head -c 4 "$png" | tail -c 3)" = PNG ] || fail "$png is not a PNG"
  [ "$(png_size "$png")" = "${f#*:}" ] || fail "$png is $(png_size "$png"), not ${f#*:}"
done
grep -aq "z-slices" p_montage.png && grep -aq "mid-slices" p_meanvar.png || fail "3-D pictures lack their titles"
ls | has '\.tmp' && fail "temporary file left behind"

# 2 ranks: the same report (6 digits) and JSON (10 digits; sums in another
# order: numbers within 1e-7 relative, the Frechet distance's square roots
# of near-zero eigenvalues within 1e-6, as in tests/mpi_metrics.c)
$MPIRUN -n 2 "$EV" -real real.h5 -fake fake.h5 -train train.h5 -json r2.json > out2.txt
diff <(grep -v "done in" out1.txt) <(grep -v "done in" out2.txt) || fail "1 and 2 ranks disagree"
numbers() { grep -oE '"[a-z_0-9]+": -?[0-9][0-9.e+-]*' "$1" | sed 's/": / /'; }
skeleton() { sed -E 's/": -?[0-9][0-9.e+-]*/": N/g' "$1"; }
cmp -s <(skeleton r1.json) <(skeleton r2.json) || fail "1 and 2 ranks: JSON of another form"
paste -d' ' <(numbers r1.json) <(numbers r2.json) | awk '
  { x = $2 + 0; y = $4 + 0; tol = $1 ~ /frechet/ ? 1e-6 : 1e-7; d = x > y ? x - y : y - x
    s = (x < 0 ? -x : x) + (y < 0 ? -y : y); if (d > tol * (1 + s)) { print "differs: " $0; bad = 1 } }
  END { exit bad }' || fail "1 and 2 ranks wrote different JSON"

# -by_params on 3-D files (one parameter a = k % 3, the bump's height): 3
# points, the same on 1 and 2 ranks
for s in 1 2 3; do "$F3" -out bp$s.h5 -n 36 -nz 4 -ny 6 -nx 8 -seed $s -params > /dev/null; done
"$EV" -by_params -real bp1.h5 -fake bp2.h5 -train bp3.h5 -json bp.json > bp1.txt
grep -q "^by params: 3 points of (a); 36 real, 36 generated, 36 training members" bp1.txt || { cat bp1.txt; fail "-by_params"; }
grep -q '"mode": "by_params",' bp.json && grep -q '"shape": \[4, 6, 8, 1\],' bp.json || fail "-by_params JSON shape"
$MPIRUN -n 2 "$EV" -by_params -real bp1.h5 -fake bp2.h5 -train bp3.h5 > bp2.txt
diff <(grep -v "done in" bp1.txt) <(grep -v "done in" bp2.txt) || fail "-by_params: 1 and 2 ranks disagree"

# shapes: a 2-D reference against a 3-D file, another Nz; one line, nothing written
"$BO_BIN/bo_datagen" -kind reservoir -n 6 -nx 12 -ny 8 -out flat.h5 > /dev/null
"$F3" -out nz2.h5 -n 6 -nz 2 -ny 8 -nx 12 -seed 4 > /dev/null
# the same cells as a 2-D file (N, 8, 12, 2) and a 3-D one with Nz = 1 (N, 1, 8, 12, 2): only the layout differs
"$F3" -out z1.h5 -n 3 -nz 1 -ny 8 -nx 12 -c 2 -seed 5 > /dev/null
seq 0 575 | awk '{ print $1 % 5 }' > c2.txt
printf "PATH /counts\nINPUT-CLASS TEXTIN\nRANK 4\nDIMENSION-SIZES 3 8 12 2\nOUTPUT-CLASS IN\nOUTPUT-SIZE 32\n" > c2.cfg
h5import c2.txt -c c2.cfg -o c2.h5
ls > before.txt
expect_error "shape mismatch: c2.h5 has fields of 8 x 12 x 2, z1.h5 has 3-D fields of 1 x 8 x 12 x 2 (Nz x Ny x Nx x C)" \
  "$EV" -real c2.h5 -fake z1.h5 -json e.json
expect_error "shape mismatch: flat.h5 has fields of 8 x 12 x 1, fake.h5 has 3-D fields of 4 x 8 x 12 x 1 (Nz x Ny x Nx x C)" \
  "$EV" -real flat.h5 -fake fake.h5 -json e.json -png e
expect_error "shape mismatch: real.h5 has 3-D fields of 4 x 8 x 12 x 1 (Nz x Ny x Nx x C), nz2.h5 has 3-D fields of 2 x 8 x 12" \
  "$EV" -real real.h5 -fake nz2.h5 -json e.json -png e
if $MPIRUN -n 2 "$EV" -real real.h5 -fake fake.h5 -train nz2.h5 -json e.json > out.txt 2> err.txt; then
  fail "2 ranks: another Nz accepted"
fi
[ "$(grep -c 'bo_eval: error: shape mismatch' err.txt)" = 1 ] || { cat err.txt; fail "2 ranks: not one error line"; }
ls | grep -v -e '^out.txt$' -e '^err.txt$' | cmp -s - <(grep -v -e '^out.txt$' -e '^err.txt$' before.txt) \
  || fail "a refused run wrote a file: $(ls | tr '\n' ' ')"
echo "3-D bo_eval: report, JSON, pictures, 1 = 2 ranks, shape errors"
