# Sourced by tests/cli/*.sh: helpers for program-level tests.
set -euo pipefail
: "${BO_BIN:?run through make check}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bo_cli_XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_error "text" cmd...: the command must exit with status 1 (a crash
# or a signal gives another), print exactly one error line, "PROGRAM: error:
# ...", containing text, and no "Caught signal".
expect_error() {
  local want="$1" status=0; shift
  "$@" > out.txt 2> err.txt || status=$?
  [ "$status" = 1 ] || { cat err.txt >&2; fail "exit status $status, not 1: $*"; }
  grep -q -- "$want" err.txt || { cat err.txt >&2; fail "stderr lacks '$want': $*"; }
  [ "$(grep -c ': error: ' err.txt)" = 1 ] || { cat err.txt >&2; fail "not exactly one error line: $*"; }
  if grep -q "Caught signal" err.txt; then cat err.txt >&2; fail "a crash: $*"; fi
}

# counts_values FILE: the values of FILE's /counts, one a line, member by
# member (each member's cells in storage order).
counts_values() {
  h5dump -y -w 0 -d /counts -o counts_values.txt "$1" > /dev/null || fail "h5dump $1"
  tr -s ', ' '\n\n' < counts_values.txt | grep .
}
