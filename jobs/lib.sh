# jobs/lib.sh -- functions shared by the Blackout job scripts (sourced, bash).
#
# Expects BO_JOBS_DIR (the jobs/ directory) to be set by the caller; sets
# BO_ROOT and sources the site configuration ($BO_SITE_CONF, default
# jobs/site.conf). See jobs/README.md.

bo_log() { echo "[$(date -u +%Y-%m-%dT%H:%M:%SZ)] ${BO_SCRIPT:-bo}: $*"; }
bo_err() { echo "[$(date -u +%Y-%m-%dT%H:%M:%SZ)] ${BO_SCRIPT:-bo}: error: $*" >&2; }
bo_die() { echo "[$(date -u +%Y-%m-%dT%H:%M:%SZ)] ${BO_SCRIPT:-bo}: error: $*" >&2; exit 1; }

BO_JOBS_DIR=$(cd "$BO_JOBS_DIR" && pwd)
: "${BO_ROOT:=$(cd "$BO_JOBS_DIR/.." && pwd)}"
: "${BO_SITE_CONF:=$BO_JOBS_DIR/site.conf}"
[ -f "$BO_SITE_CONF" ] || bo_die "site configuration $BO_SITE_CONF not found"
# shellcheck source=site.conf
source "$BO_SITE_CONF"
export BO_JOBS_DIR BO_ROOT BO_SITE_CONF

# Every BO_* variable set so far goes to the jobs through sbatch's environment.
bo_export_all() {
  local v
  for v in $(compgen -v BO_); do export "${v?}"; done
}

# ---- inside a job ------------------------------------------------------------------

# Modules, site setup, one BLAS/OpenMP thread per allocated core of a rank.
bo_job_env() {
  if [ -n "$BO_MODULES" ]; then
    if ! type module > /dev/null 2>&1; then
      local init
      for init in "$BO_MODULE_INIT" /etc/profile.d/lmod.sh /etc/profile.d/modules.sh /usr/share/lmod/lmod/init/bash; do
        [ -n "$init" ] && [ -f "$init" ] && { set +u; source "$init"; set -u; break; }
      done
    fi
    type module > /dev/null 2>&1 || bo_die "BO_MODULES='$BO_MODULES' but the 'module' command is not available (set BO_MODULE_INIT)"
    set +u
    # shellcheck disable=SC2086
    module load $BO_MODULES || bo_die "module load $BO_MODULES failed"
    set -u
  fi
  if [ -n "$BO_SETUP" ]; then
    set +u; eval "$BO_SETUP" || bo_die "BO_SETUP failed: $BO_SETUP"; set -u
  fi
  export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
  export OPENBLAS_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
  [ -x "$BO_BIN/bo_train" ] || bo_die "no programs in BO_BIN=$BO_BIN (build them with 'make all', or set BO_BIN)"
}

# Print the provenance of this job (ids, nodes, restart count) to the log.
bo_job_banner() {
  bo_log "job ${SLURM_JOB_ID:-none}${SLURM_ARRAY_JOB_ID:+ (array ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID})}" \
    "name ${SLURM_JOB_NAME:-} restart ${SLURM_RESTART_COUNT:-0}" \
    "nodes ${SLURM_JOB_NODELIST:-$(hostname)} tasks ${SLURM_NTASKS:-1} cpus/task ${SLURM_CPUS_PER_TASK:-1}" \
    "launcher '$BO_LAUNCHER' bin $BO_BIN"
}

# bo_launcher NTASKS: the MPI launch command in the array BO_LAUNCH.
bo_launcher() {
  local n=$1 l=$BO_LAUNCHER extra=()
  if [ "$l" = auto ]; then
    if [ -n "${SLURM_JOB_ID:-}" ] && srun --mpi=list 2>&1 | grep -qw pmix; then l="srun --mpi=pmix"; else l=mpirun; fi
  fi
  read -ra BO_LAUNCH <<< "$l"
  case "$(basename "${BO_LAUNCH[0]}")" in
    srun)
      [ -n "${SLURM_JOB_ID:-}" ] || bo_die "launcher '$l' needs a Slurm job (set BO_LAUNCHER=mpirun to run outside Slurm)"
      BO_LAUNCH+=(--ntasks="$n" --kill-on-bad-exit=1)
      read -ra extra <<< "$BO_SRUN_ARGS"
      ;;
    *)
      BO_LAUNCH+=(-n "$n")
      # Open MPI binds each rank to one core when np <= 2: threads need room
      if [ "${SLURM_CPUS_PER_TASK:-1}" -gt 1 ] && "${BO_LAUNCH[0]}" --version 2>&1 | grep -q "Open MPI"; then
        BO_LAUNCH+=(--bind-to none)
      fi
      read -ra extra <<< "$BO_MPIRUN_ARGS"
      ;;
  esac
  BO_LAUNCH+=("${extra[@]}")
  return 0
}

# The srun-without-PMI singleton trap: N processes that each think they are
# rank 0 of 1. Fail before any real work when SLURM_NTASKS > 1 and the launcher
# cannot give MPI a world of that size. (The programs check again themselves:
# "Slurm started N tasks but MPI sees 1 rank".)
bo_preflight() {
  local n=${SLURM_NTASKS:-1} mpi="" a out tmp
  [ "$n" -gt 1 ] || return 0
  if [ "$(basename "${BO_LAUNCH[0]}")" = srun ]; then
    for a in "${BO_LAUNCH[@]}"; do case "$a" in --mpi=*) mpi=${a#--mpi=} ;; esac; done
    [ -n "$mpi" ] || mpi=${SLURM_MPI_TYPE:-$(scontrol show config 2> /dev/null | sed -n 's/^MpiDefault *= *//p')}
    case "$mpi" in
      ""|none)
        bo_die "SLURM_NTASKS=$n but the launcher '${BO_LAUNCH[*]}' uses no MPI plugin (--mpi=${mpi:-unset}):" \
          "every task would start as a separate 1-rank MPI world. Use BO_LAUNCHER=mpirun, or 'srun --mpi=pmix'" \
          "if 'srun --mpi=list' lists pmix (jobs/README.md, troubleshooting)" ;;
    esac
    srun --mpi=list 2>&1 | grep -qw "$mpi" \
      || bo_die "launcher asks for --mpi=$mpi but 'srun --mpi=list' does not list it; use BO_LAUNCHER=mpirun"
  fi
  [ "$BO_PREFLIGHT" = 1 ] || return 0
  [ -x "$BO_BIN/bo_datagen" ] || { bo_log "preflight skipped: no $BO_BIN/bo_datagen"; return 0; }
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/bo-preflight.XXXXXX")
  out=$("${BO_LAUNCH[@]}" "$BO_BIN/bo_datagen" -kind genes -n "$n" -genes 4 -tfs 2 -cell_types 2 -out "$tmp/p.h5" 2>&1) || {
    rm -rf "$tmp"
    bo_die "preflight: '${BO_LAUNCH[*]} bo_datagen' failed on $n tasks (if the MPI library lacks PMI support for" \
      "this srun plugin, use BO_LAUNCHER=mpirun or srun --mpi=pmix; jobs/README.md, troubleshooting):"$'\n'"$out"
  }
  rm -rf "$tmp"
  if grep -q " on 1 rank " <<< "$out"; then
    bo_die "preflight: Slurm started $n tasks but MPI sees 1 rank (launcher '${BO_LAUNCH[*]}' has no PMI support" \
      "for this MPI); use BO_LAUNCHER=mpirun or srun --mpi=pmix (jobs/README.md, troubleshooting)"
  fi
  bo_log "preflight: launcher starts one MPI world of $n ranks"
}

# bo_run_forwarding CMD...: run CMD in the background, forward SIGUSR1/SIGTERM
# received by this (batch) shell to it as SIGUSR1, wait for it to finish, and
# set BO_STATUS to its exit status. Bash runs traps only between commands,
# hence the background launcher + wait; after a forwarded signal, wait again so
# the ranks can write their checkpoint. SIGTERM is forwarded as SIGUSR1 because
# mpirun turns SIGTERM into "kill the job", but propagates SIGUSR1 to the ranks;
# the programs treat both signals alike.
bo_run_forwarding() {
  BO_SIGNALLED=0
  if [ "${BO_EARLY_SIGNAL:-}" != "" ]; then
    # the warning came before the program started (bo_trap_early): the
    # checkpoint on disk is the newest state, so stop as the program would
    bo_log "SIG$BO_EARLY_SIGNAL arrived before the launch: not starting, exit 99 (resume from the newest checkpoint)"
    BO_SIGNALLED=1 BO_STATUS=99
    return 0
  fi
  "$@" &
  BO_CHILD=$!
  trap '_bo_forward USR1' USR1
  trap '_bo_forward TERM' TERM
  local rc
  while :; do
    BO_INTERRUPTED=0
    rc=0
    wait "$BO_CHILD" || rc=$?
    if [ "$BO_INTERRUPTED" = 1 ]; then
      # wait returned because a trap ran: the child is still running (wait
      # again), or it ended in between (wait once more for its real status)
      if kill -0 "$BO_CHILD" 2> /dev/null; then continue; fi
      if [ "$rc" -gt 128 ]; then rc=0; wait "$BO_CHILD" || rc=$?; fi
    fi
    break
  done
  trap - USR1 TERM
  BO_STATUS=$rc
}
# bo_trap_early: from the start of the job until bo_run_forwarding, a SIGUSR1
# or SIGTERM must not kill the batch shell (default action): remember it.
bo_trap_early() {
  BO_EARLY_SIGNAL=""
  trap 'BO_EARLY_SIGNAL=USR1; bo_log "received SIGUSR1 before the launch"' USR1
  trap 'BO_EARLY_SIGNAL=TERM; bo_log "received SIGTERM before the launch"' TERM
}
_bo_forward() {
  BO_INTERRUPTED=1
  BO_SIGNALLED=1
  bo_log "received SIG$1: forwarding SIGUSR1 to the launcher (pid $BO_CHILD) so the ranks checkpoint"
  kill -USR1 "$BO_CHILD" 2> /dev/null || true
}

# ---- submitting -----------------------------------------------------------------------

# bo_sbatch_args KIND: the site's sbatch options for a job of KIND
# (datagen|train|sample|merge|eval), in the array BO_SBATCH.
bo_sbatch_args() {
  local kind=$1 extra
  BO_SBATCH=(--parsable --export=ALL --chdir="$BO_WORK")
  [ -n "$BO_PARTITION" ] && BO_SBATCH+=(--partition="$BO_PARTITION")
  [ -n "$BO_ACCOUNT" ] && BO_SBATCH+=(--account="$BO_ACCOUNT")
  [ -n "$BO_QOS" ] && BO_SBATCH+=(--qos="$BO_QOS")
  case "$kind" in
    datagen) BO_SBATCH+=(--nodes=1 --ntasks="$BO_DATAGEN_TASKS" --cpus-per-task=1 --time="$BO_TIME_DATAGEN"
                         --output="$BO_LOG_DIR/%x-%j.out") ;;
    train)   BO_SBATCH+=(--nodes="$BO_NODES" --ntasks-per-node="$BO_RANKS_PER_NODE" --cpus-per-task="$BO_CPUS_PER_TASK"
                         --time="$BO_TIME_TRAIN" --signal="B:USR1@$BO_SIGNAL_LEAD" --requeue --open-mode=append
                         --output="$BO_LOG_DIR/%x-%j.out") ;;
    sample)  BO_SBATCH+=(--nodes=1 --ntasks="$BO_SAMPLE_TASKS" --cpus-per-task=1 --time="$BO_TIME_SAMPLE"
                         --output="$BO_LOG_DIR/%x-%A_%a.out") ;;
    merge)   BO_SBATCH+=(--nodes=1 --ntasks=1 --cpus-per-task=1 --time="$BO_TIME_MERGE"
                         --output="$BO_LOG_DIR/%x-%j.out") ;;
    eval)    BO_SBATCH+=(--nodes=1 --ntasks="$BO_EVAL_TASKS" --cpus-per-task=1 --time="$BO_TIME_EVAL"
                         --output="$BO_LOG_DIR/%x-%j.out") ;;
    *) bo_die "bo_sbatch_args: unknown job kind '$kind'" ;;
  esac
  read -ra extra <<< "$BO_SBATCH_ARGS"
  BO_SBATCH+=("${extra[@]}")
  return 0
}

# ---- the pipeline's parameters (defaults; the environment wins) ----------------------------
# Documented in jobs/README.md ("Parameters"). Paths are under BO_WORK.
bo_params() {
  : "${BO_DATA:=$BO_WORK/data.h5}"             # training data (written by datagen.sbatch)
  : "${BO_DATA_KIND:=reservoir}"               # bo_datagen -kind
  : "${BO_DATA_N:=256}"                        # bo_datagen -n
  : "${BO_NX:=32}"                             # bo_datagen -nx
  : "${BO_NY:=32}"                             # bo_datagen -ny
  : "${BO_DATA_SEED:=1}"                       # bo_datagen -seed
  : "${BO_DATAGEN_OPTS:=}"                     # more bo_datagen options
  : "${BO_CKPT:=$BO_WORK/train/checkpoint.h5}" # bo_train -checkpoint (older ones get -stepN suffixes)
  : "${BO_TRAIN_LOG:=$BO_WORK/train/train.csv}" # bo_train -log
  : "${BO_STEPS:=2000}"                        # bo_train -steps (total, across requeues)
  : "${BO_BATCH:=64}"                          # bo_train -batch (global)
  : "${BO_MODEL:=}"                            # bo_train -model (empty: chosen from the data's shape)
  : "${BO_CHECKPOINT_EVERY:=200}"              # bo_train -checkpoint_every
  : "${BO_TRAIN_SEED:=1}"                      # bo_train -seed
  : "${BO_TRAIN_OPTS:=}"                       # more bo_train options (e.g. "-lr 2e-4 -options_file f")
  : "${BO_SHARD_DIR:=$BO_WORK/shards}"         # shard_<index>.h5 of the sample array
  : "${BO_ENSEMBLE:=$BO_WORK/ensemble.h5}"     # merged ensemble
  : "${BO_ENSEMBLE_N:=256}"                    # members in the ensemble
  : "${BO_MEMBERS_PER_TASK:=64}"               # members per array task (a multiple of BO_SAMPLE_BATCH)
  : "${BO_SAMPLE_BATCH:=16}"                   # bo_sample -batch (part of the ensemble's identity)
  : "${BO_SAMPLE_SEED:=1}"                     # bo_sample -seed (the same for every shard)
  : "${BO_SAMPLE_STEPS:=100}"                  # bo_sample -sample_steps
  : "${BO_SAMPLE_OPTS:=}"                      # more bo_sample options (e.g. "-sampler tauleap")
  : "${BO_EVAL_JSON:=$BO_WORK/eval.json}"      # bo_eval -json
  : "${BO_EVAL_OPTS:=}"                        # more bo_eval options
  : "${BO_DARCY_DATA:=$BO_ENSEMBLE}"          # bo_darcy -data
  : "${BO_DARCY_CSV:=$BO_WORK/darcy.csv}"      # bo_darcy -out
  : "${BO_DARCY_OPTS:=}"                       # more bo_darcy options
  : "${BO_DATAGEN:=1}"                         # pipeline.sh: 0 = BO_DATA exists already, no datagen job
}
