#!/usr/bin/env bash
# Submit the whole Blackout chain, each job waiting for the previous one
# (sbatch --dependency=afterok:<id>, --kill-on-invalid-dep=yes):
#
#   datagen -> train -> sample array -> merge -> eval -> darcy
#
#   jobs/pipeline.sh [--dry-run] [NAME=value ...]
#
#   BO_WORK=$SCRATCH/run1 jobs/pipeline.sh BO_STEPS=20000 BO_ENSEMBLE_N=1024
#
# Settings come from jobs/site.conf (or $BO_SITE_CONF), sizes and paths from
# the BO_* parameters (jobs/README.md, "Parameters"); NAME=value arguments set
# them like environment variables. BO_DATAGEN=0 trains on an existing BO_DATA.
# eval and darcy are submitted only if $BO_BIN/bo_eval and $BO_BIN/bo_darcy
# exist. Prints one line per job ("<step> <job id>") and writes the same
# to $BO_WORK/pipeline.jobs.
set -euo pipefail
BO_SCRIPT=pipeline.sh
dry=0
for a in "$@"; do
  case "$a" in
    --dry-run) dry=1 ;;
    -h|--help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
    BO_*=*) export "${a?}" ;;
    *) echo "pipeline.sh: unknown argument '$a' (--dry-run, --help, BO_NAME=value)" >&2; exit 2 ;;
  esac
done
BO_JOBS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$BO_JOBS_DIR/lib.sh"
bo_params

command -v sbatch > /dev/null || [ "$dry" = 1 ] || bo_die "sbatch not found: not on a Slurm login node?"
for p in bo_train bo_sample; do
  [ -x "$BO_BIN/$p" ] || bo_die "$BO_BIN/$p not found (build with 'make all', or set BO_BIN)"
done
[ "$BO_DATAGEN" = 1 ] && { [ -x "$BO_BIN/bo_datagen" ] || bo_die "$BO_BIN/bo_datagen not found"; }
[ $((BO_MEMBERS_PER_TASK % BO_SAMPLE_BATCH)) = 0 ] \
  || bo_die "BO_MEMBERS_PER_TASK=$BO_MEMBERS_PER_TASK is not a multiple of BO_SAMPLE_BATCH=$BO_SAMPLE_BATCH"
[ "$BO_ENSEMBLE_N" -ge 1 ] || bo_die "BO_ENSEMBLE_N=$BO_ENSEMBLE_N"

BO_WORK=$(mkdir -p "$BO_WORK" && cd "$BO_WORK" && pwd)
mkdir -p "$BO_LOG_DIR"
bo_export_all
ntasks_array=$(( (BO_ENSEMBLE_N + BO_MEMBERS_PER_TASK - 1) / BO_MEMBERS_PER_TASK ))
jobs_file=$BO_WORK/pipeline.jobs
[ "$dry" = 1 ] || : > "$jobs_file"

# submit NAME KIND SCRIPT DEPENDENCY [sbatch options...] -> prints the job id
submit() {
  local name=$1 kind=$2 script=$3 dep=$4 id; shift 4
  bo_sbatch_args "$kind"
  local args=("${BO_SBATCH[@]}" --job-name="bo-$name")
  [ -n "$dep" ] && args+=(--dependency="afterok:$dep" --kill-on-invalid-dep=yes)
  args+=("$@" "$BO_JOBS_DIR/$script")
  if [ "$dry" = 1 ]; then
    echo "sbatch ${args[*]}" >&2
    id="<$name>"
  else
    id=$(sbatch "${args[@]}") || bo_die "sbatch for $name failed"
    id=${id%%;*}
    echo "$name $id" >> "$jobs_file"
  fi
  printf '%-8s %s\n' "$name" "$id" >&2
  echo "$id"
}

bo_log "work directory $BO_WORK, site config $BO_SITE_CONF, launcher '$BO_LAUNCHER'" >&2
dep=""
if [ "$BO_DATAGEN" = 1 ]; then
  dep=$(submit datagen datagen datagen.sbatch "")
else
  [ -f "$BO_DATA" ] || bo_die "BO_DATAGEN=0 but BO_DATA=$BO_DATA does not exist"
fi
train=$(submit train train train.sbatch "$dep")
sample=$(submit sample sample sample_array.sbatch "$train" \
  --array="0-$((ntasks_array - 1))${BO_ARRAY_PARALLEL:+%$BO_ARRAY_PARALLEL}")
merge=$(submit merge merge merge.sbatch "$sample")
last=$merge
if [ -x "$BO_BIN/bo_eval" ]; then
  last=$(submit eval eval eval.sbatch "$last")
else
  printf '%-8s %s\n' eval "skipped: $BO_BIN/bo_eval not found" >&2
  [ "$dry" = 1 ] || echo "eval skipped" >> "$jobs_file"
fi
if [ -x "$BO_BIN/bo_darcy" ]; then
  last=$(submit darcy eval darcy.sbatch "$last")
else
  printf '%-8s %s\n' darcy "skipped: $BO_BIN/bo_darcy not found" >&2
  [ "$dry" = 1 ] || echo "darcy skipped" >> "$jobs_file"
fi
bo_log "submitted; logs in $BO_LOG_DIR, outputs: $BO_CKPT, $BO_ENSEMBLE" >&2
