# Sourced by tests/cli/*.sh: helpers for program-level tests.
set -euo pipefail
: "${BO_BIN:?run through make check}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bo_cli_XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
# Each test its own TMPDIR, where Open MPI keeps its session directories:
# programs of two tests running side by side shared one, and two singletons
# racing on it failed in MPI_Init ("orte_session_dir failed", once in CI;
# open-mpi/ompi#8510).
mkdir .tmp
export TMPDIR="$WORK/.tmp"

fail() { echo "FAIL: $*" >&2; exit 1; }

# cmd | has [GREP-OPTION...] PATTERN: grep -q that reads all of its input.
# grep -q stops at the first match; a writer that goes on (ldd, mpirun, a
# long h5dump) then dies of SIGPIPE, and under pipefail the pipeline fails:
# seen in 48 of 300 runs of `ldd | grep -q` on a loaded machine.
has() { grep "$@" > /dev/null; }

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

# wait_for PATTERN FILE PID: wait up to 30 s for PATTERN in FILE, the output
# of the background process PID; kill it and fail if it never comes.
wait_for() {
  local i
  for i in $(seq 1 300); do grep -q -- "$1" "$2" && return 0; sleep 0.1; done
  kill "$3" 2> /dev/null || true
  fail "no '$1' in $2: $(tail -n 5 "$2")"
}

# signal_expect_99 SIGNAL PID FILE: send SIGNAL to the background process PID
# and expect it to end with status 99 (checkpointed and stopped) within 30 s.
signal_expect_99() {
  local i status=0
  kill -"$1" "$2"
  for i in $(seq 1 300); do kill -0 "$2" 2> /dev/null || break; sleep 0.1; done
  kill -0 "$2" 2> /dev/null && { kill -9 "$2"; fail "SIG$1 did not stop the run"; }
  wait "$2" || status=$?
  [ "$status" = 99 ] || { tail "$3" >&2; fail "exit status $status after SIG$1, want 99"; }
}
