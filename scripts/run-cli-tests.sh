#!/usr/bin/env bash
# Runs the program-level tests tests/cli/*.sh (each exits 0 on success, or
# 77 when it cannot run here, e.g. without an optional tool: "skip", with
# the reason it printed last) and prints one line per test, as each ends,
# plus a closing "N passed, N failed, N skipped" line.
# With arguments NAME..., only tests/cli/NAME.sh for each (an error if one
# does not exist). Fewer tests run than asked for (every file but
# common.sh, or the NAMEs) is a failure: the run cannot pass having run
# nothing.
# BO_CLI_JOBS tests run at once (default 2): most of a test's time is
# program start-up and file I/O, so two lanes keep two cores busy. Each
# test has its own scratch directory (tests/cli/common.sh) and log.
# Environment from the Makefile: BO_ROOT, BO_BIN, BO_BUILD, MPIRUN, TMPDIR.
set -u
pass=0; fail=0; skip=0; failed=""
jobs_max=${BO_CLI_JOBS:-2}
[[ "$jobs_max" =~ ^[1-9][0-9]*$ ]] || { echo "cli: FAILED: BO_CLI_JOBS=$jobs_max is not a positive integer"; exit 1; }
names=()
if [ $# -gt 0 ]; then
  for name in "$@"; do
    [ "$name" != common ] && [ -f "$BO_ROOT/tests/cli/$name.sh" ] || { echo "cli: FAILED: no test tests/cli/$name.sh"; exit 1; }
    names+=("$name")
  done
else
  for t in "$BO_ROOT"/tests/cli/*.sh; do
    name=$(basename "$t" .sh)
    [ "$name" = common ] || names+=("$name") # sourced by the tests, not one itself
  done
fi
want=${#names[@]}

# run_one NAME: runs the test, then writes "status seconds" to its .status file
run_one() {
  local start status=0
  start=$(date +%s)
  bash "$BO_ROOT/tests/cli/$1.sh" > "$BO_BUILD/cli-$1.log" 2>&1 || status=$?
  echo "$status $(( $(date +%s) - start ))" > "$BO_BUILD/cli-$1.status"
}

# report NAME: one line for the finished test, and the tallies
report() {
  local status=1 secs=0 log="$BO_BUILD/cli-$1.log"
  read -r status secs < "$BO_BUILD/cli-$1.status" || true
  if [ "$status" = 0 ]; then
    pass=$((pass + 1)); echo "ok   $1 (${secs}s)"
  elif [ "$status" = 77 ]; then
    skip=$((skip + 1)); echo "skip $1: $(tail -n 1 "$log")"
  else
    fail=$((fail + 1)); failed="$failed $1"
    echo "FAIL $1 (${secs}s, status $status); last lines of $log:"; tail -n 15 "$log" | sed 's/^/     /'
  fi
}

declare -A running=() # pid -> test name
wait_one() {
  local pid
  wait -n -p pid "${!running[@]}" || true
  report "${running[$pid]}"
  unset "running[$pid]"
}
for name in "${names[@]}"; do
  rm -f "$BO_BUILD/cli-$name.status"
  while [ ${#running[@]} -ge "$jobs_max" ]; do wait_one; done
  run_one "$name" &
  running[$!]=$name
done
while [ ${#running[@]} -gt 0 ]; do wait_one; done
echo "cli: $pass passed, $fail failed, $skip skipped${failed:+ (failed:$failed)}"
[ $((pass + fail + skip)) -ge "$want" ] || { echo "cli: FAILED: $((pass + fail + skip)) tests ran, not $want"; exit 1; }
[ "$fail" = 0 ]
