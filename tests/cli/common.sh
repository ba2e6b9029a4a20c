# Sourced by tests/cli/*.sh: helpers for program-level tests.
set -euo pipefail
: "${BO_BIN:?run through make check}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bo_cli_XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_error "text" cmd...: the command must exit non-zero and its stderr
# must contain text, on one line starting with the program's name.
expect_error() {
  local want="$1"; shift
  if "$@" > out.txt 2> err.txt; then fail "expected failure: $*"; fi
  grep -q -- "$want" err.txt || { cat err.txt >&2; fail "stderr lacks '$want': $*"; }
}
