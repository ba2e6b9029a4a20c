# bo_paramplot: the mean-field and k_eff pictures of a conditional ensemble
# at 2 parameter points, and every misuse as a one-line error with no
# picture left behind.
source "$(dirname "$0")/common.sh"
PP="$BO_BIN/bo_paramplot"
DG="$BO_BIN/bo_datagen"
G="-kind reservoir -nx 8 -ny 8"
"$BO_BIN/bo_convert" -format csv -in <(printf '1\n2\n') -params_csv <(printf 'corr_len,sigma,pvi\n4,1,0.3\n4,1,0.6\n') \
  -out pts.h5 > /dev/null
"$DG" $G -n 6 -seed 2 -params_file pts.h5 -out real.h5 > /dev/null
"$DG" $G -n 6 -seed 3 -params_file pts.h5 -out fake.h5 > /dev/null
"$DG" $G -n 6 -seed 1 -pvi_range 0.2,0.8 -out other.h5 > /dev/null
keff() { awk -v n="$1" 'BEGIN { print "member,k_eff"; for (i = 0; i < n; i++) print i "," 0.1 * (i % 6 + 1) }'; }
keff 12 > real.csv; keff 12 > fake.csv; keff 5 > short.csv

"$PP" -real real.h5 -fake fake.h5 -real_keff real.csv -fake_keff fake.csv -out p > out.txt
grep -q "wrote p_mean.png" out.txt && grep -q "wrote p_keff.png" out.txt || { cat out.txt; fail "pictures not named"; }
for f in p_mean.png p_keff.png; do
  [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] || fail "$f is not a PNG"
done
"$PP" -real real.h5 -fake fake.h5 -out q > /dev/null
[ -f q_mean.png ] && [ ! -e q_keff.png ] || fail "without k_eff: one picture, the mean fields"

expect_error "give -real FILE and -fake FILE" "$PP" -real real.h5 -out r
expect_error "-out PREFIX" "$PP" -real real.h5 -fake fake.h5
expect_error "is at no point of real.h5" "$PP" -real real.h5 -fake other.h5 -out r
expect_error "short.csv" "$PP" -real real.h5 -fake fake.h5 -real_keff real.csv -fake_keff short.csv -out r
expect_error "serial" $MPIRUN -n 2 "$PP" -real real.h5 -fake fake.h5 -out r
ls r_* 2> /dev/null && fail "a failed run left a picture"
echo "bo_paramplot: pictures, and one-line errors"
