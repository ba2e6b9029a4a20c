# scripts/keff-agreement.awk (make demo-params' k_eff summary): the count
# within one standard error and the chi-square tail of the z-scores, against
# known quantiles, and an empty table as an error.
source "$(dirname "$0")/common.sh"
AGREE="$BO_ROOT/scripts/keff-agreement.awk"
# table Z...: one point per z, agree as demo-params.sh writes it
table() {
  echo "corr_len,sigma,pvi,sim_mean,sim_se,sur_mean,sur_se,z,agree"
  for z in "$@"; do awk -v z="$z" 'BEGIN { printf "4,1,0.5,0.5,0.01,0.5,0.01,%s,%s\n", z, (z < 1 && z > -1) ? "yes" : "no" }'; done
}
summary() { table "$@" > k.csv && awk -F, -f "$AGREE" k.csv; }

# 8 z's with sum of squares 5.7: the tail of chi-square(8) there is
# e^-2.85 (1 + 2.85 + 2.85^2/2 + 2.85^3/6) = 0.681
summary 0.5 -0.5 1.5 -1.2 0.3 0.9 -0.4 0.67082 > out.txt
has "at 6 of 8 points (an exact surrogate: 5.5 on average)" out.txt || { cat out.txt; fail "count within one se"; }
has "sum of squares 5.70 on 8 degrees of freedom, p = 0.681 " out.txt || { cat out.txt; fail "chi-square(8) tail"; }
# the 5 % quantiles of chi-square(1) and chi-square(3) (an odd count: half-whole gamma)
summary 1.95996 | has "on 1 degrees of freedom, p = 0.05 " || fail "chi-square(1) 5 % point"
summary 1.61 1.61 1.622 | has "sum of squares 7.82 on 3 degrees of freedom, p = 0.05 " || fail "chi-square(3) 5 % point"
summary 0 0 > out.txt
has "at 2 of 2 points" out.txt && has "sum of squares 0.00 on 2 degrees of freedom, p = 1 " out.txt || fail "all z = 0"
summary 9 -9 9 | has "p < 1e-6" || fail "far off"
summary 40 -40 40 40 | has "sum of squares 6400.00 on 4 degrees of freedom, p < 1e-6" || fail "far beyond the series"
table > empty.csv
expect_error "no points in empty.csv" awk -F, -f "$AGREE" empty.csv
echo ok
