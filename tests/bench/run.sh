#!/usr/bin/env bash
# The benchmarks of docs/PERFORMANCE.md, side by side in one run:
#   1. C, unet-s, with the environment's OpenBLAS kernel: 1 rank (train +
#      forward + sgemm), 2 ranks (train + sgemm on both);
#   2. the same with the kernel OpenBLAS detects itself (OPENBLAS_CORETYPE and
#      OPENBLAS_L2_SIZE unset for these commands only);
#   3. PyTorch, the same network and step, at 1 and 2 threads;
#   4. sampling: unet-s ensembles on 2 ranks (bridge sampler, 100 steps),
#      network evaluations per second, the share of a step outside the
#      network, and the parallel HDF5 write rate;
#   5. the demo's sampler: its network (inputs/demo-reservoir.opts),
#      conditioned on the total, 50 exact total steps per member, on 2
#      ranks: the cost of a member;
#   6. the 3-D case (issue #16): unet-s on 16 x 32 x 32 volumes, batch 8,
#      the training step in C on 1 and 2 ranks and in PyTorch (Conv3d) at
#      1 and 2 threads, REPS3D=3 steps after one warm-up, interleaved the
#      same way (the autodetected OpenBLAS kernel; ONLY3D=1 runs this part
#      alone, BENCH3D=0 skips it).
# Raw outputs in out/; the summary (key=value) at the end, autodetected-kernel
# figures last. REPS=7 by default (medians within a run). The machines are
# shared: every configuration runs TRIES=2 times, the tries of C and PyTorch
# interleaved, and the best figure of the runs is kept (the same rule for C
# and PyTorch; peak memory: the largest).
set -euo pipefail
cd "$(dirname "$0")"
OUT=out
REPS=${REPS:-7}
TRIES=${TRIES:-2}
REPS3D=${REPS3D:-3}
ONLY3D=${ONLY3D:-0}
BENCH3D=${BENCH3D:-1}
PY=/usr/bin/python3 # Debian's python3 with python3-torch (not a pyenv one)
MPIRUN="mpirun --oversubscribe --timeout 900"
[ "$(id -u)" = 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

# get KEY FILE...: the largest value of KEY over the files (each
# configuration runs TRIES times; the best run of each figure is kept, the
# same rule for C and PyTorch)
get() {
  local key=$1
  shift
  grep -h "^$key=" "$@" 2>/dev/null | cut -d= -f2 | sort -g | tail -1
}
core() { grep -ho "Core: [A-Za-z0-9_]*" "$@" | head -1 | cut -d' ' -f2; }
ours() { echo "$(grep -h '^nn_gemm=' "$@" | head -1 | cut -d= -f2)$(grep -qh '^nn_winograd=1' "$@" && echo +winograd)"; }

# one NAME I CMD...: run CMD into $OUT/NAME.I.txt
one() {
  local name=$1 i=$2
  shift 2
  "$@" >"$OUT/$name.$i.txt" 2>&1 || { cat "$OUT/$name.$i.txt"; exit 1; }
}

AUTO=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE) # the kernel OpenBLAS detects itself

# Every try runs all configurations once, C and PyTorch in turn, so that a
# burst of load from other jobs on the shared machine hits both sides alike;
# the best of the TRIES runs of each configuration is kept.
DEMO_NET=(-net_channels 16 -net_mult 1,2,2 -net_attn 0,0,0 -mass 3500 -steps 50 -batch 32)
# 6. the 3-D case: C on 1 and 2 ranks, PyTorch at 1 and 2 threads, in turn
C3D=(-nz 16 -batch 8 -reps "$REPS3D" -warmup 1 -skip_forward -sgemm_n 0)
T3D=(--nz 16 --batch 8 --reps "$REPS3D" --warmup 1 --fwd-batch 0)
bench3d() {
  for name in c3d_1rank c3d_2ranks torch3d_t1 torch3d_t2; do rm -f "$OUT/$name".*.txt; done
  for i in $(seq "$TRIES"); do
    one c3d_1rank "$i" "${AUTO[@]}" "$OUT/bench_train" "${C3D[@]}"
    one torch3d_t1 "$i" env OMP_NUM_THREADS=1 $PY bench_torch.py --threads 1 "${T3D[@]}"
    one c3d_2ranks "$i" "${AUTO[@]}" $MPIRUN -n 2 "$OUT/bench_train" "${C3D[@]}"
    one torch3d_t2 "$i" env OMP_NUM_THREADS=2 $PY bench_torch.py --threads 2 "${T3D[@]}"
  done
}

# spread KEY FILE...: the smallest and largest value of KEY over the files
spread() {
  local key=$1
  shift
  echo "$(grep -h "^$key=" "$@" 2>/dev/null | cut -d= -f2 | sort -g | head -1)-$(get "$key" "$@")"
}

report3d() {
  local c1="$OUT/c3d_1rank".*.txt c2="$OUT/c3d_2ranks".*.txt t1="$OUT/torch3d_t1".*.txt t2="$OUT/torch3d_t2".*.txt
  local a b x y best tbest np_c np_t
  a=$(get train_samples_per_s $c1) b=$(get train_samples_per_s $c2)
  x=$(get torch3d_train_samples_per_s_t1 $t1) y=$(get torch3d_train_samples_per_s_t2 $t2)
  best=$(max "$a" "$b") tbest=$(max "$x" "$y")
  np_c=$(get nparams $c1) np_t=$(get torch3d_nparams $t1)
  echo "== 3-D: unet-s on 16 x 32 x 32, batch 8 ($TRIES tries, $REPS3D steps each; the tries' range in brackets)"
  echo "   C: 1 rank $a samples/s [$(spread train_samples_per_s $c1)], 2 ranks $b [$(spread train_samples_per_s $c2)];" \
    "PyTorch: 1 thread $x [$(spread torch3d_train_samples_per_s_t1 $t1)], 2 threads $y" \
    "[$(spread torch3d_train_samples_per_s_t2 $t2)]"
  echo "c3d_nparams=$np_c"
  echo "torch3d_nparams=$np_t"
  echo "nparams3d_match=$([ "$np_c" = "$np_t" ] && echo 1 || echo 0)"
  echo "c3d_gflop_per_sample_forward=$(get gflop_per_sample_forward $c1)"
  echo "c3d_nn_kernels=$(ours $c1)"
  echo "train3d_1rank_samples_per_s=$a"
  echo "train3d_2ranks_samples_per_s=$b"
  echo "train3d_samples_per_s=$best"
  echo "train3d_2ranks_gflops=$(get train_gflops $c2)"
  echo "torch3d_samples_per_s_t1=$x"
  echo "torch3d_samples_per_s_t2=$y"
  echo "torch3d_samples_per_s_best=$tbest"
  echo "train3d_1rank_over_torch3d_t1=$(div "$a" "$x")"
  echo "train3d_2ranks_over_torch3d_t2=$(div "$b" "$y")"
  echo "train3d_over_torch3d_best=$(div "$best" "$tbest")"
  # CPU time of one step on one core (C 1 rank, PyTorch 1 thread): what the
  # other jobs of a shared machine disturb least; the smallest of the tries
  echo "train3d_1rank_cpu_s_per_step=$(getmin train_cpu_s $c1)"
  echo "torch3d_t1_cpu_s_per_step=$(getmin torch3d_train_cpu_s_t1 $t1)"
  echo "train3d_1rank_over_torch3d_t1_cpu=$(div "$(getmin torch3d_train_cpu_s_t1 $t1)" "$(getmin train_cpu_s $c1)")"
  echo "c3d_peak_rss_mb=$(get peak_rss_mb $c1 $c2)"
}

max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", a / b }'; }
getmin() {
  local key=$1
  shift
  grep -h "^$key=" "$@" 2>/dev/null | cut -d= -f2 | sort -g | head -1
}

if [ "$ONLY3D" = 1 ]; then
  bench3d
  report3d
  exit 0
fi

for name in env_1rank env_2ranks auto_1rank auto_2ranks torch_t1 torch_t2 sample demo_sample; do rm -f "$OUT/$name".*.txt; done
for i in $(seq "$TRIES"); do
  one env_1rank "$i" env OPENBLAS_VERBOSE=2 "$OUT/bench_train" -reps "$REPS"
  one torch_t1 "$i" env OMP_NUM_THREADS=1 $PY bench_torch.py --threads 1 --reps "$REPS"
  one env_2ranks "$i" env OPENBLAS_VERBOSE=2 $MPIRUN -n 2 "$OUT/bench_train" -reps "$REPS"
  one torch_t2 "$i" env OMP_NUM_THREADS=2 $PY bench_torch.py --threads 2 --reps "$REPS"
  one auto_1rank "$i" "${AUTO[@]}" OPENBLAS_VERBOSE=2 "$OUT/bench_train" -reps "$REPS"
  one auto_2ranks "$i" "${AUTO[@]}" OPENBLAS_VERBOSE=2 $MPIRUN -n 2 "$OUT/bench_train" -reps "$REPS"
  one sample "$i" "${AUTO[@]}" $MPIRUN -n 2 "$OUT/bench_sample" -members "${SAMPLE_MEMBERS:-128}" -steps 100 -batch 32
  one demo_sample "$i" "${AUTO[@]}" $MPIRUN -n 2 "$OUT/bench_sample" -members "${SAMPLE_MEMBERS:-128}" "${DEMO_NET[@]}"
done

[ "$BENCH3D" = 1 ] && bench3d

report_c() { # $1 = tag; the rest = environment prefix
  local tag=$1
  shift
  echo "== C, $tag kernel (OPENBLAS_CORETYPE=$("$@" sh -c 'echo ${OPENBLAS_CORETYPE:-unset}'), OPENBLAS_L2_SIZE=$("$@" sh -c 'echo ${OPENBLAS_L2_SIZE:-unset}'))"
  local a="$OUT/${tag}_1rank".*.txt b="$OUT/${tag}_2ranks".*.txt
  echo "   OpenBLAS core $(core $a), our kernels $(ours $a): sgemm $(get sgemm_gflops_rank0 $a) GFLOP/s;" \
    "train 1 rank $(get train_samples_per_s $a) samples/s," \
    "2 ranks $(get train_samples_per_s $b) samples/s ($(get train_gflops $b) GFLOP/s," \
    "sgemm on both ranks $(get sgemm_gflops_all_ranks $b));" \
    "forward (batch 128) $(get forward_samples_per_s $a) samples/s on 1 rank," \
    "$(get forward_samples_per_s $b) on 2 ranks"
}

report_c env env
report_c auto "${AUTO[@]}"
echo "== PyTorch"
for t in 1 2; do
  echo "   $t thread(s): train $(get torch_train_samples_per_s_t$t $OUT/torch_t$t.*.txt) samples/s," \
    "forward $(get torch_forward_samples_per_s_t$t $OUT/torch_t$t.*.txt) samples/s"
done

tt=$(max "$(get torch_train_samples_per_s_t1 $OUT/torch_t1.*.txt)" "$(get torch_train_samples_per_s_t2 $OUT/torch_t2.*.txt)")
tf=$(max "$(get torch_forward_samples_per_s_t1 $OUT/torch_t1.*.txt)" "$(get torch_forward_samples_per_s_t2 $OUT/torch_t2.*.txt)")

summary() { # $1 = tag, $2 = key prefix
  local a="$OUT/$1_1rank".*.txt b="$OUT/$1_2ranks".*.txt p=$2 f1 f2
  f1=$(get forward_samples_per_s $a)
  f2=$(get forward_samples_per_s $b)
  echo "${p}blas_core=$(core $a)"
  echo "${p}nn_kernels=$(ours $a)"
  echo "${p}sgemm_gflops=$(get sgemm_gflops_rank0 $a)"
  echo "${p}sgemm_2ranks_gflops=$(get sgemm_gflops_all_ranks $b)"
  echo "${p}c_train_1rank_samples_per_s=$(get train_samples_per_s $a)"
  echo "${p}c_train_1rank_gflops=$(get train_gflops $a)"
  echo "${p}c_train_2ranks_samples_per_s=$(get train_samples_per_s $b)"
  echo "${p}c_train_2ranks_gflops=$(get train_gflops $b)"
  echo "${p}c_forward_1rank_samples_per_s=$f1"
  echo "${p}c_forward_2ranks_samples_per_s=$f2"
  echo "${p}c_forward_samples_per_s=$(max "$f1" "$f2")"
  echo "${p}c_train_2ranks_over_torch=$(div "$(get train_samples_per_s $b)" "$tt")"
  echo "${p}c_train_2ranks_over_sgemm_1core=$(div "$(get train_gflops $b)" "$(get sgemm_gflops_rank0 $a)")"
  echo "${p}c_train_2ranks_over_sgemm_2ranks=$(div "$(get train_gflops $b)" "$(get sgemm_gflops_all_ranks $b)")"
  echo "${p}c_forward_over_torch=$(div "$(max "$f1" "$f2")" "$tf")"
  echo "${p}peak_rss_mb=$(get peak_rss_mb $a $b)"
}

echo "== summary (env_: the environment's kernel; then the autodetected kernel)"
summary env env_
echo "torch_train_t1_samples_per_s=$(get torch_train_samples_per_s_t1 $OUT/torch_t1.*.txt)"
echo "torch_train_t2_samples_per_s=$(get torch_train_samples_per_s_t2 $OUT/torch_t2.*.txt)"
echo "torch_forward_t1_samples_per_s=$(get torch_forward_samples_per_s_t1 $OUT/torch_t1.*.txt)"
echo "torch_forward_t2_samples_per_s=$(get torch_forward_samples_per_s_t2 $OUT/torch_t2.*.txt)"
summary auto ""
echo "torch_train_best_samples_per_s=$tt"
echo "torch_forward_best_samples_per_s=$tf"
# sampling (autodetected kernel, 2 ranks): the best try; the share outside
# the network and the time per ensemble from the same files (smallest)
se=$(get sample_net_evals_per_s $OUT/sample.*.txt)
echo "sample_net_evals_per_s=$se"
echo "sample_net_evals_over_torch_forward=$(div "$se" "$tf")"
echo "sample_outside_network_share=$(getmin sample_outside_network_share $OUT/sample.*.txt)"
echo "sample_s_per_1000_members_32x32_100_steps=$(getmin sample_s_per_1000_members $OUT/sample.*.txt)"
echo "h5_write_mb_per_s=$(get h5_write_mb_per_s $OUT/sample.*.txt)"
echo "seq_write_mb_per_s=$(get seq_write_mb_per_s $OUT/sample.*.txt)"
echo "demo_sample_ms_per_member_50_steps=$(getmin sample_ms_per_member $OUT/demo_sample.*.txt)"
echo "demo_sample_outside_network_share=$(getmin sample_outside_network_share $OUT/demo_sample.*.txt)"
[ "$BENCH3D" = 1 ] && report3d
exit 0
