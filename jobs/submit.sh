#!/usr/bin/env bash
# Submit one of the job scripts with the site's settings (jobs/site.conf):
# partition, account, qos, nodes/tasks/cpus, time limit, signal, log file.
#
#   jobs/submit.sh KIND [sbatch options] [-- script arguments]
#     KIND: datagen | train | sample | merge | eval | darcy
#
#   BO_WORK=$SCRATCH/run1 BO_STEPS=5000 jobs/submit.sh train --dependency=afterok:123 -- -lr 2e-4
#   BO_WORK=$SCRATCH/run1 jobs/submit.sh sample          # --array from BO_ENSEMBLE_N / BO_MEMBERS_PER_TASK
#
# Prints the job id. sbatch options given here come after the site's and win.
set -euo pipefail
BO_SCRIPT=submit.sh
BO_JOBS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$BO_JOBS_DIR/lib.sh"

usage() { sed -n '2,12s/^# \{0,1\}//p' "$0"; }
[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; esac
kind=$1; shift
sbatch_opts=(); script_args=()
while [ $# -gt 0 ]; do
  if [ "$1" = -- ]; then shift; script_args=("$@"); break; fi
  sbatch_opts+=("$1"); shift
done
case "$kind" in
  datagen|train|merge|eval|darcy) script=$BO_JOBS_DIR/$kind.sbatch ;;
  sample) script=$BO_JOBS_DIR/sample_array.sbatch ;;
  *) bo_die "unknown job kind '$kind' (datagen, train, sample, merge, eval, darcy)" ;;
esac
bo_params
BO_WORK=$(mkdir -p "$BO_WORK" && cd "$BO_WORK" && pwd)
mkdir -p "$BO_LOG_DIR"
bo_sbatch_args "$([ "$kind" = darcy ] && echo eval || echo "$kind")"
if [ "$kind" = sample ]; then
  [ $((BO_MEMBERS_PER_TASK % BO_SAMPLE_BATCH)) = 0 ] \
    || bo_die "BO_MEMBERS_PER_TASK=$BO_MEMBERS_PER_TASK is not a multiple of BO_SAMPLE_BATCH=$BO_SAMPLE_BATCH"
  BO_SBATCH+=(--array="0-$(( (BO_ENSEMBLE_N + BO_MEMBERS_PER_TASK - 1) / BO_MEMBERS_PER_TASK - 1 ))${BO_ARRAY_PARALLEL:+%$BO_ARRAY_PARALLEL}")
fi
bo_export_all
id=$(sbatch "${BO_SBATCH[@]}" "${sbatch_opts[@]}" "$script" "${script_args[@]}")
echo "${id%%;*}"
