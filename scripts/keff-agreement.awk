# The agreement of k_eff per parameter point, from demo-params.sh's
# keff.csv (a header, then corr_len,sigma,pvi,sim_mean,sim_se,sur_mean,
# sur_se,z,agree; awk -F, -f keff-agreement.awk keff.csv).
# An exact surrogate has z ~ N(0, 1) at every point: within one standard
# error with probability 0.68 (so at all of 8 points only 5 % of the time),
# and sum z^2 ~ chi-square with one degree of freedom per point, whose upper
# tail p says how surprising the z's are. tests/cli/keff_agreement.sh.

# log Gamma(a) for a whole or half-whole a > 0, by Gamma(a) = (a - 1) Gamma(a - 1)
function log_gamma(a) {
  if (a == 1) return 0
  if (a == 0.5) return 0.5 * log(atan2(0, -1))
  return log(a - 1) + log_gamma(a - 1)
}

# P(chi-square with k degrees of freedom > x) = 1 - P(k/2, x/2), the lower
# regularized gamma function by its power series
# P(a, y) = y^a e^-y / Gamma(a + 1) * sum_j y^j / ((a + 1) ... (a + j))
# (0 beyond 30 standard deviations of y, where the series would overflow).
function chi2_upper(x, k,   a, y, term, sum, j) {
  if (x <= 0) return 1
  a = k / 2; y = x / 2; term = 1; sum = 1
  if (y > a + 30 * sqrt(a) + 100) return 0
  for (j = 1; j < 5000 && term > 1e-15 * sum; j++) { term *= y / (a + j); sum += term }
  return 1 - exp(-y + a * log(y) - log_gamma(a + 1)) * sum
}

NR > 1 { n++; within += ($9 == "yes"); sumsq += $8 * $8 }

END {
  if (n == 0) { print "keff-agreement: error: no points in " FILENAME > "/dev/stderr"; exit 1 }
  printf "  k_eff agrees within one combined standard error at %d of %d points (an exact surrogate: %.1f on average)\n",
    within, n, 0.6827 * n
  p = chi2_upper(sumsq, n)
  printf "  k_eff z-scores: sum of squares %.2f on %d degrees of freedom, p %s (small p: the surrogate is off)\n",
    sumsq, n, p < 1e-6 ? "< 1e-6" : sprintf("= %.3g", p)
}
