#!/usr/bin/env bash
# Slurm tests of the job scripts in jobs/, on a single-node Slurm started on
# this machine (start-slurm.sh) and stopped again at the end, also on failure.
#
#   tests/slurm/run-tests.sh [SCENARIO ...]       (as root; make check-slurm)
#
# Scenarios (default: all, in this order):
#   pipeline   jobs/pipeline.sh runs datagen -> train -> sample array -> merge
#              (-> eval -> darcy when bin/bo_eval, bin/bo_darcy exist) to the end
#              and leaves the checkpoint, shards, merged ensemble and reports
#   signal     scancel --signal=USR1 --batch on a running train.sbatch: the
#              ranks checkpoint and exit 99, the job requeues itself, resumes,
#              and ends with the same /params and /ema as an uninterrupted run
#   array      sample_array.sbatch + merge.sbatch give the same `counts` as one
#              job (h5diff), the shards are contiguous and do not overlap
#   singleton  train.sbatch with a launcher that would start 1-rank singletons
#              (srun --mpi=none; srun --mpi=pmi2 with Debian's Open MPI) fails
#              before training with a clear message
#   timelimit  (slow, ~3 min; only when named or BO_SLURM_TEST_SLOW=1) the real
#              --time=2 --signal=B:USR1@60 warning: checkpoint, 99, requeue,
#              resume, second warning, stop at BO_MAX_REQUEUES=1 with 99
#   srun       train.sbatch with BO_LAUNCHER="srun --mpi=pmix" (skipped if srun
#              lacks pmix): SIGUSR1 reaches the ranks through srun, exit 99 with
#              BO_MAX_REQUEUES=0 fails the job instead of requeueing, a
#              resubmission resumes and matches an uninterrupted mpirun run
#
# Prints one line per scenario and finally "N passed, N failed"; exits 1 if
# any scenario failed.
#
# Environment:
#   BO_BIN                  programs to test (default: bin/ of this tree; copied
#                           at the start so a concurrent rebuild cannot interfere)
#   BO_SLURM_TEST_TIMEOUT   global timeout in seconds (default 600)
#   BO_SLURM_TEST_DIR       work directory (default: a new one under ${TMPDIR:-/tmp});
#                           kept when a scenario fails, removed otherwise
#   BO_SLURM_KEEP=1         keep the work directory (and the Slurm logs) anyway
#   BO_SLURM_USE_RUNNING=1  use the Slurm already configured in this shell (SLURM_CONF,
#                           BO_PARTITION, ...) instead of starting one; not stopped
#   BO_SLURM_PORT           port of the test slurmctld (start-slurm.sh; default 16817)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TIMEOUT=${BO_SLURM_TEST_TIMEOUT:-600}
ALL="pipeline signal array singleton srun"
SLOW="timelimit"
[ "${BO_SLURM_TEST_SLOW:-0}" = 1 ] && ALL="$ALL $SLOW"
SCENARIOS=${*:-$ALL}
for s in $SCENARIOS; do
  case " $ALL $SLOW " in *" $s "*) ;; *) echo "run-tests.sh: unknown scenario '$s' (have: $ALL)" >&2; exit 2 ;; esac
done

T0=$SECONDS
WORK=${BO_SLURM_TEST_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bo-slurm-test.XXXXXX")}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
passed=0 failed=0 started_slurm=0 watchdog="" finished=0

note() { echo "  $*" >&2; }

cleanup() {
  local rc=$?
  [ -n "$watchdog" ] && kill "$watchdog" 2> /dev/null
  if [ "$started_slurm" = 1 ]; then
    BO_SLURM_KEEP=$([ "$failed" -gt 0 ] || [ "${BO_SLURM_KEEP:-0}" = 1 ] || [ "$finished" = 0 ] && echo 1 || echo 0) \
      BO_SLURM_STATE=$WORK/slurm "$HERE/stop-slurm.sh" > "$WORK/stop-slurm.log" 2>&1
  fi
  if [ "$failed" = 0 ] && [ "$finished" = 1 ] && [ "${BO_SLURM_KEEP:-0}" != 1 ]; then
    rm -rf "$WORK"
  else
    echo "work directory kept: $WORK (job logs in */logs, Slurm logs in slurm/log)" >&2
  fi
  exit $rc
}
current=""
on_timeout() {
  if [ -n "$current" ]; then
    kill -TERM -- "-$current" 2> /dev/null
    sleep 1
    kill -KILL -- "-$current" 2> /dev/null
  fi
  echo "FAIL ${s:-setup} global timeout: run-tests.sh took more than ${TIMEOUT}s"
  failed=$((failed + 1))
  echo "$passed passed, $failed failed"
  exit 124
}
trap cleanup EXIT
trap on_timeout USR2
trap 'echo "interrupted" >&2; failed=$((failed + 1)); echo "$passed passed, $failed failed"; exit 130' INT TERM
# the watchdog: a loop of short sleeps, so nothing outlives the run by more than 1 s
( end=$((SECONDS + TIMEOUT)); while [ $SECONDS -lt $end ]; do sleep 1; done; kill -USR2 $$ ) &
watchdog=$!

# ---- preconditions -------------------------------------------------------------------
SRC_BIN=${BO_BIN:-$ROOT/bin}
for p in bo_datagen bo_train bo_sample; do
  [ -x "$SRC_BIN/$p" ] || { echo "FAIL setup: $SRC_BIN/$p not found (make all)"; failed=1; echo "0 passed, 1 failed"; exit 1; }
done
mkdir -p "$WORK/bin"
cp "$SRC_BIN"/bo_* "$WORK/bin/"
export BO_BIN=$WORK/bin
for t in h5diff h5dump h5ls; do
  command -v $t > /dev/null || { echo "FAIL setup: $t not found (hdf5-tools)"; failed=1; echo "0 passed, 1 failed"; exit 1; }
done

if [ "${BO_SLURM_USE_RUNNING:-0}" = 1 ]; then
  sinfo > /dev/null 2>&1 || { echo "FAIL setup: BO_SLURM_USE_RUNNING=1 but sinfo does not answer"; failed=1; echo "0 passed, 1 failed"; exit 1; }
else
  if ! BO_SLURM_STATE=$WORK/slurm "$HERE/start-slurm.sh" > "$WORK/start-slurm.log" 2>&1; then
    started_slurm=1
    echo "FAIL setup: could not start Slurm: $(tail -3 "$WORK/start-slurm.log")"
    failed=1; echo "0 passed, 1 failed"; exit 1
  fi
  started_slurm=1
  source "$WORK/slurm/env.sh"
  export BO_SITE_CONF=${BO_SITE_CONF:-$HERE/site-test.conf}
fi
export BO_JOBS_DIR=$ROOT/jobs
note "Slurm up after $((SECONDS - T0)) s; work directory $WORK"

# ---- helpers ----------------------------------------------------------------------------
# fail MESSAGE: end the current scenario (each runs in a subshell) as failed
fail() { echo "$*" > "$SCN_DIR/reason"; exit 1; }

# field JOBID NAME: a field of `scontrol show job` (first line of an array)
field() { scontrol -o show job "$1" 2> /dev/null | head -1 | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# wait_done SECONDS JOBID...: until none of the jobs is pending, running or completing
wait_done() {
  local limit=$1 end=$((SECONDS + $1)) states; shift
  while :; do
    states=$(for j in "$@"; do scontrol -o show job "$j" 2> /dev/null | tr ' ' '\n' | sed -n 's/^JobState=//p'; done)
    if ! grep -qE 'PENDING|RUNNING|COMPLETING|CONFIGURING|REQUEUE|RESIZING|SUSPENDED|SIGNALING|STAGE_OUT' <<< "$states"; then
      return 0
    fi
    [ $SECONDS -lt $end ] || fail "jobs $* not finished after ${limit}s: $(tr '\n' ' ' <<< "$states")"
    sleep 1
  done
}

# ok JOBID: every element of the job COMPLETED with exit code 0:0
ok() {
  local bad
  bad=$(scontrol -o show job "$1" 2> /dev/null | tr ' ' '\n' | grep -E '^(JobState|ExitCode)=' | paste - - \
        | grep -v 'JobState=COMPLETED.ExitCode=0:0' || true)
  [ -z "$bad" ] && [ -n "$(field "$1" JobState)" ]
}

# params_equal A B: the final parameters and their EMA are bitwise the same
params_equal() { h5diff -r "$1" "$2" /params /params > /dev/null 2>&1 && h5diff -r "$1" "$2" /ema /ema > /dev/null 2>&1; }
ckpt_step() { h5dump -a /step "$1" 2> /dev/null | sed -n 's/.*(0): *//p'; }
members() { h5ls "$1/counts" 2> /dev/null | sed -n 's/.*Dataset {\([0-9]*\).*/\1/p'; }

# tiny sizes shared by the scenarios
export BO_DATA_N=32 BO_NX=16 BO_NY=16 BO_BATCH=16 BO_MODEL=unet-tiny BO_SAMPLE_STEPS=20

# ---- scenario: pipeline -----------------------------------------------------------------
scenario_pipeline() {
  export BO_WORK=$SCN_DIR/run
  export BO_STEPS=60 BO_CHECKPOINT_EVERY=20 BO_ENSEMBLE_N=40 BO_MEMBERS_PER_TASK=16 BO_SAMPLE_BATCH=8
  "$BO_JOBS_DIR/pipeline.sh" > pipeline.out 2>&1 || fail "pipeline.sh failed: $(tail -2 pipeline.out)"
  cat pipeline.out
  local ids
  ids=$(awk '$2 ~ /^[0-9]+$/ { print $2 }' "$BO_WORK/pipeline.jobs")
  [ "$(wc -w <<< "$ids")" -ge 4 ] || fail "pipeline.jobs lists $(wc -w <<< "$ids") jobs: $(cat "$BO_WORK/pipeline.jobs")"
  # shellcheck disable=SC2086
  wait_done 240 $ids
  while read -r name id; do
    [ "$id" = skipped ] && { echo "$name skipped"; continue; }
    ok "$id" || fail "$name job $id: $(scontrol -o show job "$id" | tr ' ' '\n' | grep -E '^(JobState|ExitCode)=' | tr '\n' ' ')"
  done < "$BO_WORK/pipeline.jobs"
  [ "$(ckpt_step "$BO_WORK/train/checkpoint.h5")" = 60 ] || fail "checkpoint not at step 60"
  for i in 0 1 2; do [ -f "$BO_WORK/shards/shard_$i.h5" ] || fail "shard_$i.h5 missing"; done
  [ -f "$BO_WORK/shards/shard_3.h5" ] && fail "a 4th shard was written for 40 members of 16"
  [ "$(members "$BO_WORK/ensemble.h5")" = 40 ] || fail "ensemble.h5 has '$(members "$BO_WORK/ensemble.h5")' members, want 40"
  if [ -x "$BO_BIN/bo_eval" ]; then
    grep -q "^eval [0-9]" "$BO_WORK/pipeline.jobs" || fail "bo_eval exists but no eval job was submitted"
    [ -s "$BO_WORK/eval.json" ] || fail "no eval report eval.json"
  else
    grep -q "^eval skipped" "$BO_WORK/pipeline.jobs" || fail "eval not reported as skipped"
  fi
  if [ -x "$BO_BIN/bo_darcy" ]; then
    grep -q "^darcy [0-9]" "$BO_WORK/pipeline.jobs" || fail "bo_darcy exists but no darcy job was submitted"
    [ -s "$BO_WORK/darcy.csv" ] || fail "no darcy results darcy.csv"
  else
    grep -q "^darcy skipped" "$BO_WORK/pipeline.jobs" || fail "darcy not reported as skipped"
  fi
  echo "detail: $(tr '\n' ' ' < "$BO_WORK/pipeline.jobs")"
}

# ---- scenario: signal -> checkpoint -> 99 -> requeue -> resume ------------------------------
scenario_signal() {
  export BO_WORK=$SCN_DIR/run
  export BO_STEPS=${BO_SLURM_SIGNAL_STEPS:-800} BO_CHECKPOINT_EVERY=100 BO_DATAGEN=0
  mkdir -p "$BO_WORK"
  export BO_DATA=$BO_WORK/data.h5
  "$BO_BIN/bo_datagen" -n $BO_DATA_N -nx $BO_NX -ny $BO_NY -out "$BO_DATA" > datagen.out 2>&1 || fail "bo_datagen: $(tail -1 datagen.out)"
  local id log i state restarts stopped resumed
  id=$("$BO_JOBS_DIR/submit.sh" train) || fail "submit.sh train failed"
  log=$BO_WORK/logs/bo-train-$id.out
  # wait until it trains (a checkpoint at step >= 100 exists), then signal the batch shell
  for i in $(seq 1 240); do
    [ -f "$BO_WORK/train/checkpoint.h5" ] && break
    state=$(field "$id" JobState)
    case "$state" in PENDING|RUNNING|CONFIGURING) ;; *) fail "job $id is $state before it was signalled: $(tail -3 "$log")" ;; esac
    sleep 0.5
  done
  [ -f "$BO_WORK/train/checkpoint.h5" ] || fail "no checkpoint after 120 s"
  scancel --signal=USR1 --batch "$id" || fail "scancel --signal=USR1 --batch $id failed"
  echo "signalled job $id at $(date +%T)"
  # the first run must end with 99 and requeue; the second must finish
  for i in $(seq 1 120); do
    restarts=$(field "$id" Restarts)
    [ "${restarts:-0}" -ge 1 ] && break
    state=$(field "$id" JobState)
    case "$state" in COMPLETED|FAILED|CANCELLED|TIMEOUT) fail "job $id ended $state without a requeue: $(tail -3 "$log")" ;; esac
    sleep 0.5
  done
  [ "${restarts:-0}" -ge 1 ] || fail "job $id was not requeued within 60 s"
  wait_done 300 "$id"
  ok "$id" || fail "job $id did not complete after the requeue: $(field "$id" JobState) $(field "$id" ExitCode)"
  [ "$(field "$id" Restarts)" = 1 ] || fail "job $id restarted $(field "$id" Restarts) times, want 1"
  grep -q "received SIGUSR1: forwarding" "$log" || fail "the batch shell did not trap SIGUSR1"
  grep -q "stopped by signal at step" "$log" || fail "bo_train did not report stopping at the signal"
  grep -q "checkpointed and stopped .*(exit 99)" "$log" || fail "no exit 99 in the log"
  grep -q "requeueing job $id" "$log" || fail "the job did not requeue itself"
  stopped=$(sed -n 's/.*stopped by signal at step \([0-9]*\).*/\1/p' "$log" | head -1)
  resumed=$(grep -o "restarting from .* at step [0-9]*" "$log" | grep -o '[0-9]*$' | head -1)
  [ -n "$resumed" ] && [ "$resumed" -gt 0 ] && [ "$resumed" -lt "$BO_STEPS" ] \
    || fail "the requeued run did not resume from a checkpoint between 0 and $BO_STEPS (got '${resumed}')"
  [ "$resumed" = "$stopped" ] || fail "stopped at step $stopped but resumed at step $resumed"
  [ "$(ckpt_step "$BO_WORK/train/checkpoint.h5")" = "$BO_STEPS" ] || fail "final checkpoint not at step $BO_STEPS"
  # the uninterrupted reference, same ranks, outside Slurm (train.sbatch's fallback)
  BO_CKPT=$BO_WORK/ref/checkpoint.h5 BO_TRAIN_LOG=$BO_WORK/ref/train.csv BO_NP=2 \
    bash "$BO_JOBS_DIR/train.sbatch" > ref.out 2>&1 || fail "reference run failed: $(tail -3 ref.out)"
  params_equal "$BO_WORK/train/checkpoint.h5" "$BO_WORK/ref/checkpoint.h5" \
    || fail "resumed run's /params or /ema differ from the uninterrupted run's"
  echo "detail: job $id signalled at step ${stopped:-?}, requeued, resumed at step $resumed, /params and /ema identical to the uninterrupted run"
}

# ---- scenario: array + merge == one job ----------------------------------------------------------
scenario_array() {
  export BO_WORK=$SCN_DIR/run BO_ENSEMBLE_N=56 BO_MEMBERS_PER_TASK=16 BO_SAMPLE_BATCH=8 BO_SAMPLE_SEED=7
  mkdir -p "$BO_WORK"
  export BO_DATA=$BO_WORK/data.h5 BO_CKPT=$BO_WORK/ckpt.h5
  "$BO_BIN/bo_datagen" -n $BO_DATA_N -nx $BO_NX -ny $BO_NY -out "$BO_DATA" > datagen.out 2>&1 || fail "bo_datagen: $(tail -1 datagen.out)"
  "$BO_BIN/bo_train" -data "$BO_DATA" -steps 30 -batch 16 -model unet-tiny -checkpoint "$BO_CKPT" > train.out 2>&1 \
    || fail "bo_train: $(tail -1 train.out)"
  local arr merge single i first n prev=0
  arr=$("$BO_JOBS_DIR/submit.sh" sample) || fail "submit.sh sample failed"
  merge=$("$BO_JOBS_DIR/submit.sh" merge --dependency=afterok:"$arr") || fail "submit.sh merge failed"
  # the same ensemble in one job, straight from bo_sample
  single=$(sbatch --parsable --chdir="$BO_WORK" --output="$BO_WORK/logs/single-%j.out" ${BO_PARTITION:+--partition=$BO_PARTITION} \
    --wrap "'$BO_BIN/bo_sample' -checkpoint '$BO_CKPT' -seed $BO_SAMPLE_SEED -batch $BO_SAMPLE_BATCH -sample_steps $BO_SAMPLE_STEPS -n $BO_ENSEMBLE_N -out '$BO_WORK/single.h5'")
  single=${single%%;*}
  wait_done 240 "$arr" "$merge" "$single"
  ok "$arr" || fail "array job $arr: $(scontrol -o show job "$arr" | tr ' ' '\n' | grep -E '^(JobState|ExitCode)=' | tr '\n' ' ')"
  [ "$(scontrol -o show job "$arr" | wc -l)" = 4 ] || fail "array job $arr has $(scontrol -o show job "$arr" | wc -l) tasks, want 4"
  ok "$merge" || fail "merge job $merge: $(field "$merge" JobState) $(field "$merge" ExitCode)"
  ok "$single" || fail "single job $single: $(field "$single" JobState)"
  # shards: contiguous, no overlap, the last one short
  for i in 0 1 2 3; do
    first=$(h5dump -a /first_member "$BO_WORK/shards/shard_$i.h5" 2> /dev/null | sed -n 's/.*(0): *//p')
    n=$(members "$BO_WORK/shards/shard_$i.h5")
    [ "$first" = "$prev" ] || fail "shard_$i starts at member '$first', want $prev (overlap or gap)"
    prev=$((first + n))
  done
  [ "$prev" = "$BO_ENSEMBLE_N" ] || fail "shards cover $prev members, want $BO_ENSEMBLE_N"
  [ "$(members "$BO_WORK/ensemble.h5")" = "$BO_ENSEMBLE_N" ] || fail "merged ensemble has $(members "$BO_WORK/ensemble.h5") members"
  h5diff "$BO_WORK/ensemble.h5" "$BO_WORK/single.h5" counts counts > h5diff.out 2>&1 \
    || fail "merged ensemble differs from the single job's: $(head -3 h5diff.out)"
  # the comparison can fail: another seed gives another ensemble
  "$BO_BIN/bo_sample" -checkpoint "$BO_CKPT" -seed $((BO_SAMPLE_SEED + 1)) -batch $BO_SAMPLE_BATCH -sample_steps $BO_SAMPLE_STEPS \
    -n $BO_ENSEMBLE_N -out "$BO_WORK/other.h5" > other.out 2>&1 || fail "bo_sample (control): $(tail -1 other.out)"
  h5diff -q "$BO_WORK/ensemble.h5" "$BO_WORK/other.h5" counts counts > /dev/null 2>&1 \
    && fail "control: h5diff finds no difference between seeds $BO_SAMPLE_SEED and $((BO_SAMPLE_SEED + 1))"
  echo "detail: array $arr (4 shards of <=16) + merge $merge == single job $single (h5diff counts)"
}

# ---- scenario: direct launch with srun --mpi=pmix, the requeue cap, manual resubmission ----------
scenario_srun() {
  if ! srun --mpi=list 2>&1 | grep -w pmix > /dev/null; then
    echo "skip: srun --mpi=list has no pmix"; return 0
  fi
  export BO_WORK=$SCN_DIR/run BO_STEPS=${BO_SLURM_SIGNAL_STEPS:-800} BO_CHECKPOINT_EVERY=100 BO_DATAGEN=0
  export BO_LAUNCHER="srun --mpi=pmix" BO_MAX_REQUEUES=0
  mkdir -p "$BO_WORK"
  export BO_DATA=$BO_WORK/data.h5
  "$BO_BIN/bo_datagen" -n $BO_DATA_N -nx $BO_NX -ny $BO_NY -out "$BO_DATA" > datagen.out 2>&1 || fail "bo_datagen: $(tail -1 datagen.out)"
  local id id2 log log2 i resumed
  id=$("$BO_JOBS_DIR/submit.sh" train) || fail "submit.sh train failed"
  log=$BO_WORK/logs/bo-train-$id.out
  for i in $(seq 1 240); do
    [ -f "$BO_WORK/train/checkpoint.h5" ] && break
    case "$(field "$id" JobState)" in PENDING|RUNNING|CONFIGURING) ;; *) fail "job $id ended before it was signalled: $(tail -3 "$log")" ;; esac
    sleep 0.5
  done
  [ -f "$BO_WORK/train/checkpoint.h5" ] || fail "no checkpoint after 120 s"
  scancel --signal=USR1 --batch "$id" || fail "scancel --signal=USR1 --batch $id failed"
  wait_done 120 "$id"
  # BO_MAX_REQUEUES=0: no requeue, the job fails with 99
  [ "$(field "$id" JobState)" = FAILED ] && [ "$(field "$id" ExitCode)" = 99:0 ] \
    || fail "with BO_MAX_REQUEUES=0, job $id is $(field "$id" JobState) $(field "$id" ExitCode), want FAILED 99:0"
  [ "$(field "$id" Restarts)" = 0 ] || fail "job $id was requeued despite BO_MAX_REQUEUES=0"
  grep -q "not requeueing" "$log" || fail "no 'not requeueing' message"
  grep -q "stopped by signal at step" "$log" || fail "srun did not pass SIGUSR1 on to the ranks: $(tail -3 "$log")"
  # resubmitting the same job resumes from the checkpoint
  id2=$("$BO_JOBS_DIR/submit.sh" train) || fail "submit.sh train (resubmission) failed"
  log2=$BO_WORK/logs/bo-train-$id2.out
  wait_done 240 "$id2"
  ok "$id2" || fail "resubmitted job $id2: $(field "$id2" JobState) $(field "$id2" ExitCode): $(tail -3 "$log2")"
  resumed=$(grep -o "restarting from .* at step [0-9]*" "$log2" | grep -o '[0-9]*$' | head -1)
  [ -n "$resumed" ] && [ "$resumed" -gt 0 ] || fail "the resubmitted job did not resume: $(grep -m1 'step' "$log2")"
  BO_LAUNCHER=mpirun BO_CKPT=$BO_WORK/ref/checkpoint.h5 BO_TRAIN_LOG=$BO_WORK/ref/train.csv BO_NP=2 \
    bash "$BO_JOBS_DIR/train.sbatch" > ref.out 2>&1 || fail "reference run failed: $(tail -3 ref.out)"
  params_equal "$BO_WORK/train/checkpoint.h5" "$BO_WORK/ref/checkpoint.h5" \
    || fail "srun-launched, resubmitted run's /params or /ema differ from an uninterrupted mpirun run's"
  echo "detail: srun --mpi=pmix: SIGUSR1 -> 99, no requeue at the cap, resubmission resumed at step $resumed, same /params and /ema as mpirun"
}

# ---- scenario (slow, on request): the real time-limit warning, twice -----------------------------
scenario_timelimit() {
  # --time=2 --signal=B:USR1@60: Slurm sends SIGUSR1 to the batch shell 0-60 s
  # after the start (its event resolution is 60 s); steps never run out, so
  # the first run checkpoints, exits 99 and requeues, and the second does the
  # same but hits BO_MAX_REQUEUES=1 and fails with 99. Never TIMEOUT.
  export BO_WORK=$SCN_DIR/run BO_STEPS=100000000 BO_CHECKPOINT_EVERY=0 BO_DATAGEN=0
  export BO_TIME_TRAIN=00:02:00 BO_SIGNAL_LEAD=60 BO_MAX_REQUEUES=1
  mkdir -p "$BO_WORK"
  export BO_DATA=$BO_WORK/data.h5
  "$BO_BIN/bo_datagen" -n $BO_DATA_N -nx $BO_NX -ny $BO_NY -out "$BO_DATA" > datagen.out 2>&1 || fail "bo_datagen: $(tail -1 datagen.out)"
  local id log n1 n2
  id=$("$BO_JOBS_DIR/submit.sh" train -- -progress_interval 10) || fail "submit.sh train failed"
  log=$BO_WORK/logs/bo-train-$id.out
  wait_done 400 "$id"
  [ "$(field "$id" JobState)" = FAILED ] && [ "$(field "$id" ExitCode)" = 99:0 ] \
    || fail "job $id is $(field "$id" JobState) $(field "$id" ExitCode), want FAILED 99:0 after the second warning: $(tail -3 "$log")"
  [ "$(field "$id" Restarts)" = 1 ] || fail "job $id restarted $(field "$id" Restarts) times, want 1"
  [ "$(grep -c "received SIGUSR1: forwarding" "$log")" = 2 ] || fail "want 2 trapped warnings in the log"
  n1=$(sed -n 's/.*stopped by signal at step \([0-9]*\).*/\1/p' "$log" | sed -n 1p)
  n2=$(sed -n 's/.*stopped by signal at step \([0-9]*\).*/\1/p' "$log" | sed -n 2p)
  grep -q "restarting from .* at step $n1\$" "$log" || fail "the second run did not resume at step $n1"
  [ -n "$n2" ] && [ "$n2" -gt "$n1" ] || fail "the second run did not get further than the first ($n1, $n2)"
  grep -q "not requeueing: already requeued 1 times" "$log" || fail "no requeue-cap message"
  echo "detail: warned at step $n1, requeued, resumed, warned again at step $n2, stopped at the cap (BO_MAX_REQUEUES=1)"
}

# ---- scenario: the srun-without-PMI singleton trap ----------------------------------------------
scenario_singleton() {
  export BO_WORK=$SCN_DIR/run BO_STEPS=20 BO_DATAGEN=0
  mkdir -p "$BO_WORK"
  export BO_DATA=$BO_WORK/data.h5
  "$BO_BIN/bo_datagen" -n $BO_DATA_N -nx $BO_NX -ny $BO_NY -out "$BO_DATA" > datagen.out 2>&1 || fail "bo_datagen: $(tail -1 datagen.out)"
  local id1 id2 log1 log2 m2 checks="--mpi=none"
  # srun without an MPI plugin: caught by the script before anything runs
  id1=$(BO_LAUNCHER="srun --mpi=none" "$BO_JOBS_DIR/submit.sh" train) || fail "submit.sh train failed"
  # srun with a plugin the MPI library cannot use (pmi2 for Debian's Open MPI),
  # or any other plugin srun lists but MPI does not wire up: caught by the preflight run
  m2=$(srun --mpi=list 2>&1 | grep -owE 'pmi2' | head -1 || true)
  if [ -n "$m2" ]; then
    id2=$(BO_LAUNCHER="srun --mpi=$m2" BO_CKPT=$BO_WORK/train2/checkpoint.h5 "$BO_JOBS_DIR/submit.sh" train) || fail "submit.sh train failed"
  fi
  wait_done 120 "$id1" ${id2:-}
  log1=$BO_WORK/logs/bo-train-$id1.out
  [ "$(field "$id1" JobState)" = FAILED ] || fail "--mpi=none: job $id1 is $(field "$id1" JobState), want FAILED"
  grep -q "1-rank MPI world" "$log1" || fail "--mpi=none: no clear singleton message in the log: $(tail -2 "$log1")"
  if [ -n "${id2:-}" ]; then
    log2=$BO_WORK/logs/bo-train-$id2.out
    [ "$(field "$id2" JobState)" = FAILED ] || fail "--mpi=$m2: job $id2 is $(field "$id2" JobState), want FAILED"
    grep -q "preflight: .* failed on 2 tasks\|MPI sees 1 rank" "$log2" || fail "--mpi=$m2: no preflight error in the log: $(tail -2 "$log2")"
    checks="$checks and --mpi=$m2"
  fi
  [ -e "$BO_WORK/train/checkpoint.h5" ] || [ -e "$BO_WORK/train2/checkpoint.h5" ] && fail "training ran despite a singleton launcher"
  echo "detail: srun $checks with 2 tasks fail before training, with a message"
}

# ---- run -------------------------------------------------------------------------------------------
for s in $SCENARIOS; do
  SCN_DIR=$WORK/$s
  mkdir -p "$SCN_DIR"
  t=$SECONDS
  # in the background, in its own process group (set -m), so that the global
  # timeout can interrupt the wait and end exactly this scenario's processes
  set -m
  ( cd "$SCN_DIR" && set -e && "scenario_$s" ) > "$SCN_DIR/output.log" 2>&1 < /dev/null &
  current=$!
  set +m
  rc=0; wait "$current" || rc=$?
  current=""
  dt=$((SECONDS - t))
  if [ $rc = 0 ] && grep -q '^skip: ' "$SCN_DIR/output.log"; then
    printf 'SKIP %-10s %4ds  %s\n' "$s" "$dt" "$(sed -n 's/^skip: //p' "$SCN_DIR/output.log" | tail -1)"
  elif [ $rc = 0 ]; then
    passed=$((passed + 1))
    printf 'PASS %-10s %4ds  %s\n' "$s" "$dt" "$(sed -n 's/^detail: //p' "$SCN_DIR/output.log" | tail -1)"
  else
    failed=$((failed + 1))
    printf 'FAIL %-10s %4ds  %s\n' "$s" "$dt" "$( { cat "$SCN_DIR/reason" 2> /dev/null || echo "exit status $rc; see $SCN_DIR/output.log"; } | tr -s '\n' ' ' | cut -c1-400)"
  fi
done
finished=1
note "total $((SECONDS - T0)) s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
