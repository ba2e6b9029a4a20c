# Sourced by scripts/demo.sh and scripts/demo-params.sh after they set
# OUT and OPTS: the environment (DEMO_NP ranks, default 2; DEMO_BIN, the
# programs' directory, which make passes as its BINDIR), the launcher, one
# BLAS thread per rank; then the options file (KEY=VALUE lines in shell
# syntax, see inputs/*.opts) is read and the run moves into OUT.
NP=${DEMO_NP:-2}
BIN=${DEMO_BIN:-$ROOT/bin}
MPIRUN="mpirun --oversubscribe"
[ "$(id -u)" = 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# shellcheck source=/dev/null
source "$OPTS"
mkdir -p "$OUT"
cd "$OUT"
