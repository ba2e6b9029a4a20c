# bo_eval on reservoir fields and gene vectors: table, JSON, verdict, PNGs;
# the same numbers on 1 and 3 ranks; copies of training members are flagged
# as memorised; an independent-marginals ensemble is not a surrogate; a
# second draw of gene vectors is one.
source "$(dirname "$0")/common.sh"
EV="$BO_BIN/bo_eval"
DG="$BO_BIN/bo_datagen"
$MPIRUN -n 2 "$DG" -kind reservoir -n 30 -nx 12 -ny 12 -seed 1 -out real.h5 > /dev/null
$MPIRUN -n 2 "$DG" -kind reservoir -n 24 -nx 12 -ny 12 -seed 2 -out fake.h5 > /dev/null
$MPIRUN -n 2 "$DG" -kind reservoir -n 20 -nx 12 -ny 12 -seed 3 -out train.h5 > /dev/null

# a second draw from the simulator is a surrogate; table, JSON and plots
"$EV" -real real.h5 -fake fake.h5 -train train.h5 -json r1.json -png p > out1.txt
grep -q "^psd_logratio" out1.txt || fail "no psd_logratio row"
grep -q "^memorized_fraction" out1.txt || fail "no memorised row"
grep -q "VERDICT: surrogate" out1.txt || { cat out1.txt; fail "simulator data not recognised as a surrogate"; }
for k in w1_marginal mass_w1 mmd frechet memorized_fraction psd_logratio; do
  for col in generated independent_baseline holdout; do
    grep "\"$col\"" r1.json | has "\"$k\": [0-9.e+-]*[,}]" || fail "$col lacks $k"
  done
done
grep -q '"surrogate": true' r1.json || fail "JSON verdict"
# width x height from the PNG header
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{ print $1 * 2^24 + $2 * 2^16 + $3 * 2^8 + $4 "x" $5 * 2^24 + $6 * 2^16 + $7 * 2^8 + $8 }'; }
for f in spectra:820x404 marginals:552x422 meanvar:400x364 montage:412x528; do
  png="p_${f%%:*}.png"
  [ "$(head -c 4 "$png" | tail -c 3)" = PNG ] || fail "$png is not a PNG"
  [ "$(png_size "$png")" = "${f#*:}" ] || fail "$png is $(png_size "$png"), not ${f#*:}"
  grep -aq Title "$png" && grep -aq Comment "$png" || fail "$png lacks its Title or Comment"
done
ls | has '\.tmp' && fail "temporary file left behind"

# 3 ranks: the same report (values printed to 6 digits)
$MPIRUN -n 3 "$EV" -real real.h5 -fake fake.h5 -train train.h5 -json r3.json > out3.txt
diff <(grep -v "done in" out1.txt) <(grep -v "done in" out3.txt) || fail "1 and 3 ranks disagree"

# generated = copies of training members: all memorised, flagged in the verdict
"$EV" -real real.h5 -fake train.h5 -train train.h5 -json rm.json > outm.txt
grep '"generated"' rm.json | has '"memorized_fraction": 1,' || fail "copies not memorised"
grep '"holdout"' rm.json | has '"memorized_fraction": 0,' || fail "real members memorised"
grep "VERDICT: NOT A SURROGATE" outm.txt | has "100% of generated members are near-copies of training members" || fail "memorisation not in the verdict"

# an independent-marginals ensemble is not a surrogate: the generated set
# with each cell's values shuffled across its members on their own (every
# cell keeps its marginal, the spatial structure is gone) beats the straw
# man on no structure metric
counts_values fake.h5 | awk -v D=144 'function swap(a, b, t) { t = x[a]; x[a] = x[b]; x[b] = t }
  { x[NR - 1] = $1 }
  END { if (NR % D) exit 1; N = NR / D; srand(1)
    for (d = 0; d < D; d++) for (i = N - 1; i > 0; i--) swap(i * D + d, int(rand() * (i + 1)) * D + d)
    for (i = 0; i < N; i++) { s = ""; for (d = 0; d < D; d++) s = s (d ? "," : "") x[i * D + d]; print s } }' > indep.csv \
  || fail "shuffling fake.h5"
"$BO_BIN/bo_convert" -format csv -in indep.csv -shape 12,12 -out indep.h5 > /dev/null
"$EV" -real real.h5 -fake indep.h5 -train train.h5 -json ri.json > outi.txt
grep "VERDICT: NOT A SURROGATE" outi.txt | has "beats the straw man by 10% on no structure metric" \
  || { cat outi.txt; fail "independent-marginals ensemble: the verdict lacks 'no structure metric'"; }
grep -q '"surrogate": false' ri.json || fail "JSON verdict of the independent-marginals ensemble"

# gene vectors: a second draw from the simulator is a surrogate (200
# members; independent training data for the straw man's marginals)
for s in 1 2 3; do
  $MPIRUN -n 2 "$DG" -kind genes -n 200 -genes 12 -seed $s -out g$s.h5 > /dev/null
done
$MPIRUN -n 2 "$EV" -real g1.h5 -fake g2.h5 -train g3.h5 -json g.json -png g > outg.txt
grep -q "VERDICT: surrogate" outg.txt || { cat outg.txt; fail "a second gene draw not recognised as a surrogate"; }
grep -q '"surrogate": true' g.json || fail "JSON verdict of the gene draw"
grep -q "^corr_dist" outg.txt || fail "no corr_dist row"
grep -q '"kind": "vectors"' g.json || fail "vector JSON"
[ -e g_marginals.png ] && [ -e g_montage.png ] && [ ! -e g_spectra.png ] || fail "vector plots"
echo ok
