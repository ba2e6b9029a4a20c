#!/usr/bin/env bash
# Runs the program-level tests tests/cli/*.sh (each exits 0 on success, or
# 77 when it cannot run here, e.g. without an optional tool: "skip", with
# the reason it printed last) and prints one line per test plus a closing
# "N passed, N failed, N skipped" line.
# With arguments NAME..., only tests/cli/NAME.sh for each (an error if one
# does not exist). Fewer tests run than asked for (every file but
# common.sh, or the NAMEs) is a failure: the run cannot pass having run
# nothing.
# Environment from the Makefile: BO_ROOT, BO_BIN, BO_BUILD, MPIRUN, TMPDIR.
set -u
pass=0; fail=0; skip=0; failed=""
only=" $* "
if [ $# -gt 0 ]; then
  for name in "$@"; do
    [ "$name" != common ] && [ -f "$BO_ROOT/tests/cli/$name.sh" ] || { echo "cli: FAILED: no test tests/cli/$name.sh"; exit 1; }
  done
  want=$#
else
  want=$(ls "$BO_ROOT"/tests/cli/*.sh | grep -vc '/common\.sh$')
fi
for t in "$BO_ROOT"/tests/cli/*.sh; do
  [ -e "$t" ] || continue
  name=$(basename "$t" .sh)
  [ "$name" = common ] && continue   # sourced by the tests, not one itself
  [ $# -gt 0 ] && [ "${only/ $name /}" = "$only" ] && continue
  log="$BO_BUILD/cli-$name.log"
  start=$(date +%s)
  status=0
  bash "$t" > "$log" 2>&1 || status=$?
  if [ "$status" = 0 ]; then
    pass=$((pass + 1)); echo "ok   $name ($(( $(date +%s) - start ))s)"
  elif [ "$status" = 77 ]; then
    skip=$((skip + 1)); echo "skip $name: $(tail -n 1 "$log")"
  else
    fail=$((fail + 1)); failed="$failed $name"
    echo "FAIL $name ($(( $(date +%s) - start ))s); last lines of $log:"; tail -n 15 "$log" | sed 's/^/     /'
  fi
done
echo "cli: $pass passed, $fail failed, $skip skipped"
[ $((pass + fail + skip)) -ge "$want" ] || { echo "cli: FAILED: $((pass + fail + skip)) tests ran, not $want"; exit 1; }
[ "$fail" = 0 ]
