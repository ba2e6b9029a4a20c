#!/usr/bin/env bash
# Stop the test cluster started by tests/slurm/start-slurm.sh: cancel its jobs,
# stop exactly the daemons recorded in $BO_SLURM_STATE/pids, remove the state
# directory (BO_SLURM_KEEP=1 keeps it, e.g. to read the daemon logs).
set -uo pipefail
STATE=${BO_SLURM_STATE:-${TMPDIR:-/tmp}/bo-slurm-$(id -u)}
[ -f "$STATE/pids" ] || { echo "stop-slurm.sh: nothing to stop ($STATE/pids not found)"; exit 0; }
export SLURM_CONF=$STATE/slurm.conf

alive() { kill -0 "$1" 2> /dev/null; }
pid_of() { awk -v n="$1" '$1 == n { print $2 }' "$STATE/pids"; }

# jobs first, while slurmctld/slurmd can still clean up their steps
ctld=$(pid_of slurmctld)
if [ -n "$ctld" ] && alive "$ctld" && [ -n "$(squeue -h -o %i 2> /dev/null)" ]; then
  scancel --full $(squeue -h -o %A 2> /dev/null | sort -u) 2> /dev/null || true
  for _ in $(seq 1 30); do [ -z "$(squeue -h -o %i 2> /dev/null)" ] && break; sleep 0.5; done
fi
# then the daemons, in reverse order of start: slurmd, slurmctld, munged
for name in slurmd slurmctld munged; do
  pid=$(pid_of "$name")
  [ -n "$pid" ] && alive "$pid" || continue
  kill -TERM "$pid" 2> /dev/null
  for _ in $(seq 1 40); do alive "$pid" || break; sleep 0.25; done
  alive "$pid" && { echo "stop-slurm.sh: $name (pid $pid) ignored SIGTERM, killing" >&2; kill -KILL "$pid" 2> /dev/null; }
done
if [ "${BO_SLURM_KEEP:-0}" = 1 ]; then
  rm -f "$STATE/pids"
  echo "stop-slurm.sh: stopped; state kept in $STATE"
else
  rm -rf "$STATE"/{munge,ctld,spool,log} "$STATE"/{pids,slurm.conf,env.sh,slurmctld.pid,slurmd.pid}
  rmdir "$STATE" 2> /dev/null || true
fi
exit 0
