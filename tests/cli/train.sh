# bo_train: help, CSV log, -log_view events, one-line errors, and the Slurm
# signal protocol (SIGUSR1 -> checkpoint -> exit 99 -> -restart finishes the
# same run).
source "$(dirname "$0")/common.sh"
TR="$BO_BIN/bo_train"
"$BO_BIN/bo_datagen" -kind reservoir -n 24 -nx 8 -ny 8 -seed 2 -out data.h5 > /dev/null

# -help lists the program's options, the network's too, before anything of
# PETSc's own (listed by -help all), and exits 0; --help and -h are -help
for h in -help --help -h; do
  "$TR" $h > help.txt 2>&1 || fail "$h exit status"
  for opt in -data -steps -batch -checkpoint -checkpoint_every -restart -seed -log -model -lr -lr_schedule -cond_drop \
    -net_channels -net_mult -net_blocks -net_noise -T -t_end; do
    grep -q -- "^ *$opt[: ]" help.txt || fail "$h does not list $opt"
  done
  grep -q "Options for all PETSc programs" help.txt && fail "$h lists PETSc's generic options"
  grep -q -- "-help all also lists PETSc's generic options" help.txt || fail "$h does not point to -help all"
done
"$TR" -help all > help_all.txt 2>&1 || fail "-help all exit status"
grep -q "Options for all PETSc programs" help_all.txt || fail "-help all lacks PETSc's generic options"

# a short run: CSV log, progress, stages and events in -log_view
$MPIRUN -n 2 "$TR" -data data.h5 -steps 12 -batch 8 -model unet-tiny -checkpoint ck.h5 -log log.csv \
  -checkpoint_every 5 -keep_checkpoints 2 -log_view > run.txt 2>&1 || { cat run.txt; fail "training run"; }
head -1 log.csv | has "^step,loss,samples_per_s" || fail "CSV header: $(head -1 log.csv)"
[ "$(wc -l < log.csv)" = 13 ] || fail "CSV has $(wc -l < log.csv) lines, want 13"
grep -q "step *12/12" run.txt || fail "no progress line for the last step"
for ev in BOLoadBatch BOForward BOBackward BOAllreduce BOOptimizer BOCheckpoint; do
  grep -q "^$ev " run.txt || fail "-log_view lacks event $ev"
done
grep -q "1: *Train:" run.txt || fail "-log_view lacks the Train stage"
[ -f ck.h5 ] && [ -f ck-step00000010.h5 ] || fail "checkpoints: $(ls)"
[ -f ck-step00000005.h5 ] && fail "-keep_checkpoints 2 kept step 5"
h5dump -a /step ck.h5 | has "(0): 12" || fail "final checkpoint step"
ls | has "\.tmp" && fail "temporary files left behind"

# the network from options: narrower and shallower than the automatic one
"$TR" -data data.h5 -steps 2 -batch 4 -checkpoint net.h5 -net_channels 8 -net_mult 1,2 -net_attn 0,1 -net_blocks 2 > net.txt 2>&1 \
  || { cat net.txt; fail "-net_* options"; }
grep -q "'auto+options'" net.txt && grep -q "2 levels, channels 8 16+attn, 2 res block" net.txt || { cat net.txt; fail "-net_* not applied"; }
"$BO_BIN/bo_sample" -checkpoint net.h5 -n 2 -sample_steps 3 -out net_s.h5 > /dev/null || fail "sampling needs no network options"
expect_error "-net_mult: multiplier 0" "$TR" -data data.h5 -net_mult 1,0 -checkpoint e.h5
# the input scaling: linear for fields unless -net_input says otherwise; the
# checkpoint carries it to bo_sample
grep -q "input scaling (n - N/2 p)/(N/2)" net.txt || { cat net.txt; fail "fields are not scaled linearly by default"; }
"$TR" -data data.h5 -steps 2 -batch 4 -model unet-tiny -net_input log1p -checkpoint log.h5 > log.txt 2>&1 \
  || { cat log.txt; fail "-net_input log1p"; }
grep -q "input scaling log(1 + n)" log.txt || { cat log.txt; fail "-net_input log1p not applied"; }
h5dump -a /model/model_input log.h5 | has "(0): 1" || fail "model_input attribute"
"$BO_BIN/bo_sample" -checkpoint log.h5 -n 2 -sample_steps 3 -out log_s.h5 > log_s.txt || fail "sampling a log1p network"
grep -q "input scaling log(1 + n)" log_s.txt || { cat log_s.txt; fail "bo_sample does not see the log1p scaling"; }
expect_error "-net_input" "$TR" -data data.h5 -net_input cube -checkpoint e.h5
# FiLM: said by bo_train, kept in the checkpoint, seen by bo_sample
"$TR" -data data.h5 -steps 2 -batch 4 -model unet-tiny -net_film -checkpoint film.h5 > film.txt 2>&1 \
  || { cat film.txt; fail "-net_film"; }
grep -q "FiLM: the embedding scales" film.txt || { cat film.txt; fail "-net_film not applied"; }
grep -q "FiLM" log.txt && fail "FiLM without -net_film"
h5dump -a /model/model_film film.h5 | has "(0): 1" || fail "model_film attribute"
h5ls film.h5/params | has "^down0.res0.temb.weight  *Dataset {16, 16}" || fail "FiLM: temb is not [2 x 8 channels, 16]"
"$BO_BIN/bo_sample" -checkpoint film.h5 -n 2 -sample_steps 3 -out film_s.h5 > film_s.txt || fail "sampling FiLM"
grep -q "FiLM: the embedding scales" film_s.txt || { cat film_s.txt; fail "bo_sample does not see FiLM"; }

# errors: one line naming the culprit, non-zero exit, no checkpoint
expect_error "bo_train: error:" "$TR" -data missing.h5 -steps 2 -checkpoint e.h5
grep -q "missing.h5" err.txt || fail "error does not name the file"
[ "$(wc -l < err.txt)" = 1 ] || { cat err.txt; fail "error is not one line"; }
expect_error "-batch 0: must be >= 1" "$TR" -data data.h5 -batch 0 -checkpoint e.h5
expect_error "-lr -1" "$TR" -data data.h5 -lr -1 -checkpoint e.h5
expect_error "-calibrate_members -1: must be >= 0" "$TR" -data data.h5 -calibrate_members -1 -checkpoint e.h5
expect_error "-train_time_focus: give two values PLO,PHI, not 1" "$TR" -data data.h5 -train_time_focus 0.2 -checkpoint e.h5
expect_error "-train_time_focus: give two values PLO,PHI, not 3" "$TR" -data data.h5 -train_time_focus 0.1,0.2,0.3 -checkpoint e.h5
expect_error "-train_time_focus_fraction 2.*: must be in" "$TR" -data data.h5 -train_time_focus_fraction 2 -checkpoint e.h5
expect_error "-warmup -1: must be >= 0" "$TR" -data data.h5 -warmup -1 -checkpoint e.h5
expect_error "-clip -1.: must be >= 0" "$TR" -data data.h5 -clip -1 -checkpoint e.h5
expect_error "-checkpoint_every -1: must be >= 0" "$TR" -data data.h5 -checkpoint_every -1 -checkpoint e.h5
expect_error "unknown model 'nosuchnet'" "$TR" -data data.h5 -model nosuchnet -checkpoint e.h5
expect_error "has no 'labels'" "$TR" -data data.h5 -conditional -checkpoint e.h5
# a restart on data the checkpoint's network was not built for names what differs (16 x 16 fields, vectors,
# a larger count, -model) and leaves the checkpoint as it was
"$BO_BIN/bo_datagen" -kind reservoir -n 8 -nx 16 -ny 16 -seed 2 -out big.h5 > /dev/null
"$BO_BIN/bo_datagen" -kind genes -n 8 -seed 2 -out vec.h5 > /dev/null
"$BO_BIN/bo_datagen" -kind reservoir -n 8 -nx 8 -ny 8 -particles_per_cell 80 -seed 2 -out more.h5 > /dev/null
md5sum ck.h5 > ck.md5
expect_error "does not fit -data big.h5: the network's fields are 8 x 8 x 1, the data's 16 x 16 x 1" \
  "$TR" -data big.h5 -steps 14 -batch 8 -checkpoint ck.h5 -restart
expect_error "does not fit -data vec.h5: the network takes fields, the data are vectors" \
  "$TR" -data vec.h5 -steps 14 -batch 8 -checkpoint ck.h5 -restart
expect_error "is above the network's" "$TR" -data more.h5 -steps 14 -batch 8 -checkpoint ck.h5 -restart
expect_error "-model unet-s: the checkpoint's network is unet-tiny, and a restart keeps it" \
  "$TR" -data data.h5 -steps 14 -batch 8 -checkpoint ck.h5 -restart -model unet-s
md5sum -c --quiet ck.md5 || fail "a refused restart changed the checkpoint"
# a new run (another seed) on an existing checkpoint is refused unless -overwrite says so
expect_error "-checkpoint ck.h5 exists: continue it with -restart, or replace it with -overwrite" \
  "$TR" -data data.h5 -steps 2 -batch 8 -seed 9 -checkpoint ck.h5
md5sum -c --quiet ck.md5 || fail "a refused new run changed the checkpoint"
"$TR" -data data.h5 -steps 2 -batch 8 -seed 9 -checkpoint ck.h5 -overwrite -checkpoint_every 0 > ow.txt 2>&1 \
  || { cat ow.txt; fail "-overwrite"; }
grep -q "replacing the existing ck.h5 (-overwrite)" ow.txt || fail "-overwrite not said"
h5dump -a /step ck.h5 | has "(0): 2$" || fail "-overwrite did not replace the checkpoint"
[ -e e.h5 ] && fail "a failed run left a checkpoint"
echo "corrupt" > bad.h5
expect_error "bo_sample: error: -checkpoint bad.h5" "$BO_BIN/bo_sample" -checkpoint bad.h5 -n 2 -out s.h5
[ -e s.h5 ] && fail "a failed sample left an output"

# the signal protocol: run long, signal mpirun (it forwards SIGUSR1 to the
# ranks), expect status 99 and a checkpoint, then -restart to the end
$MPIRUN -n 2 "$TR" -data data.h5 -steps 100000 -batch 8 -model unet-tiny -checkpoint sig.h5 \
  -checkpoint_every 0 -progress_interval 0 > sig.txt 2>&1 &
pid=$!
wait_for "step *20/" sig.txt $pid
signal_expect_99 USR1 $pid sig.txt
grep -q "stopped by signal at step" sig.txt || fail "no stop message"
[ -f sig.h5 ] || fail "no checkpoint after the signal"
stopped=$(h5dump -a /step sig.h5 | sed -n 's/.*(0): //p')
[ "$stopped" -gt 20 ] && [ "$stopped" -lt 100000 ] || fail "checkpoint at step $stopped"
$MPIRUN -n 2 "$TR" -data data.h5 -steps $((stopped + 5)) -batch 8 -checkpoint sig.h5 -restart > res.txt 2>&1 \
  || { cat res.txt; fail "restart"; }
grep -q "restarting from sig.h5 at step $stopped" res.txt || fail "restart message: $(head -3 res.txt)"
h5dump -a /step sig.h5 | has "(0): $((stopped + 5))" || fail "restarted run did not reach its steps"
echo "signal at step $stopped, restarted to $((stopped + 5))"

# a signal during the calibration pass: the checkpoint is written without a
# calibration, status 99, and a -restart of the finished run calibrates it
$MPIRUN -n 2 "$TR" -data data.h5 -steps 2 -batch 8 -model unet-tiny -checkpoint cal.h5 -calibrate_members 20000 \
  -progress_interval 0 > cal.txt 2>&1 &
pid=$!
wait_for "bins of time on exact states" cal.txt $pid
signal_expect_99 USR1 $pid cal.txt
grep -q "calibration: stopped by signal" cal.txt || fail "no message for the abandoned calibration"
h5dump -a /calibration cal.h5 > /dev/null 2>&1 && fail "an abandoned calibration pass was kept"
$MPIRUN -n 2 "$TR" -data data.h5 -steps 2 -batch 8 -checkpoint cal.h5 -restart -calibrate_members 16 > calr.txt 2>&1 \
  || { cat calr.txt; fail "the restart that calibrates"; }
h5dump -a /calibration cal.h5 > /dev/null 2>&1 || fail "the restart of a finished run did not calibrate it"
# training on drops the old network's calibration (here none is made anew)
$MPIRUN -n 2 "$TR" -data data.h5 -steps 4 -batch 8 -checkpoint cal.h5 -restart -calibrate_members 0 > calc.txt 2>&1 \
  || { cat calc.txt; fail "training on"; }
h5dump -a /calibration cal.h5 > /dev/null 2>&1 && fail "a checkpoint trained on kept the old calibration"

# Ctrl-C (SIGINT) on a run without mpirun checkpoints like SIGTERM: status 99,
# a checkpoint, and a CSV log that holds every step the checkpoint does
"$TR" -data data.h5 -steps 100000 -batch 8 -model unet-tiny -checkpoint int.h5 -log int.csv \
  -checkpoint_every 0 -progress_interval 0 > int.txt 2>&1 &
pid=$!
wait_for "step *20/" int.txt $pid
signal_expect_99 INT $pid int.txt
stopped=$(h5dump -a /step int.h5 | sed -n 's/.*(0): //p')
[ "$(tail -1 int.csv | cut -d, -f1)" = "$stopped" ] || fail "the log ends at $(tail -1 int.csv | cut -d, -f1), the checkpoint at $stopped"
echo "SIGINT at step $stopped"

# a value that does not parse names its option
expect_error "-steps 1.5: Input string 1.5 has no integer value" "$TR" -data data.h5 -steps 1.5 -checkpoint p.h5
expect_error "-restart maybe: Unknown logical value" "$TR" -data data.h5 -restart maybe -checkpoint p.h5

# a batch that cannot fit in memory is refused before it is allocated
expect_error "-batch 100000000: needs about .* GB per rank, more than the" "$TR" -data data.h5 -batch 100000000 \
  -checkpoint p.h5

# a misspelled option is named before the training starts (a warning: the
# run goes on), and the intact runs above printed none
"$TR" -data data.h5 -steps 2 -batch 8 -model unet-tiny -checkpoint typo.h5 -stpes 5 -checkpoint_every 0 > typo.txt 2>&1 \
  || fail "-stpes: $(cat typo.txt)"
w=$(grep -n "warning: option -stpes is not one of this program's" typo.txt | cut -d: -f1)
s=$(grep -n "^step " typo.txt | head -1 | cut -d: -f1)
[ -n "$w" ] && [ -n "$s" ] && [ "$w" -lt "$s" ] || fail "no warning on -stpes before the first step: $(cat typo.txt)"
[ "$(grep -c 'warning: option' typo.txt)" = 1 ] || fail "-stpes warned more than once: $(cat typo.txt)"
"$TR" -data data.h5 -steps 4 -batch 8 -model unet-tiny -checkpoint typo.h5 -checkpoint_every 0 -restart > re.txt 2>&1 \
  || fail "restart: $(cat re.txt)"
grep -q "warning: option" re.txt && fail "a restart repeating -model warned: $(cat re.txt)"
echo ok
