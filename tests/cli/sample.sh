# bo_sample: the same ensemble on 1, 2 and 3 ranks and any micro-batch;
# shards + merge = one job; pictures and sidecar; label conditioning beats
# chance; observed cells are honoured; one-line errors.
source "$(dirname "$0")/common.sh"
SA="$BO_BIN/bo_sample"
PROGS="$BO_BUILD/tests/progs"

# a conditional model of the digits, briefly trained on 2 ranks
"$BO_BIN/bo_convert" -format csv -in "$BO_ROOT/inputs/digits/digits.csv.gz" -shape 8,8 -label_column 64 -out digits.h5 > /dev/null
$MPIRUN -n 2 "$BO_BIN/bo_train" -data digits.h5 -steps 300 -batch 64 -checkpoint ck.h5 -checkpoint_every 0 \
  -progress_interval 100 > train.txt 2>&1 || { cat train.txt; fail "training"; }

# 256 members on 1, 2, 3 ranks and micro-batches 16 and 5: bit-identical
for n in 1 2 3; do
  $MPIRUN -n $n "$SA" -checkpoint ck.h5 -n 256 -sample_steps 25 -seed 4 -out r$n.h5 > s$n.txt 2>&1 || { cat s$n.txt; fail "sampling on $n ranks"; }
done
grep -q "members 256/256 .*members/s" s3.txt || fail "no progress line"
h5diff r1.h5 r2.h5 /counts /counts || fail "1 vs 2 ranks differ"
h5diff r1.h5 r3.h5 /counts /counts || fail "1 vs 3 ranks differ"
$MPIRUN -n 2 "$SA" -checkpoint ck.h5 -n 256 -sample_steps 25 -seed 4 -batch 5 -out b5.h5 > /dev/null
h5diff r1.h5 b5.h5 /counts /counts || fail "micro-batch 5 differs"
# the training run ended with its calibration, which the sampler applies
# unless told not to (tests/mpi_trainer.c checks the ratios themselves)
grep -q "calibration: 512 members x 50 bins" train.txt || { cat train.txt; fail "no calibration pass"; }
grep -q "predictions calibrated on exact training states (50 bins" s1.txt || { cat s1.txt; fail "calibration not applied"; }
$MPIRUN -n 2 "$SA" -checkpoint ck.h5 -n 256 -sample_steps 25 -seed 4 -calibration false -out raw.h5 > raw.txt
grep -q "predictions calibrated" raw.txt && fail "-calibration false: still calibrated"
h5dump -a /calibrated r1.h5 | has "(0): 1" || fail "no calibrated = 1 attribute"
h5dump -a /calibrated raw.h5 | has "(0): 0" || fail "no calibrated = 0 attribute"
if h5diff -q r1.h5 raw.h5 /counts /counts > /dev/null 2>&1; then fail "-calibration false changes nothing"; fi
$MPIRUN -n 2 "$SA" -checkpoint ck.h5 -n 256 -sample_steps 25 -seed 5 -out other.h5 > /dev/null
if h5diff -q r1.h5 other.h5 /counts /counts > /dev/null 2>&1; then fail "seeds 4 and 5 agree"; fi
# provenance, layout, sidecar, picture
for a in checkpoint checkpoint_crc32 seed sampler sample_steps mpi_size; do
  h5dump -a /$a r3.h5 > /dev/null 2>&1 || fail "no provenance attribute $a"
done
h5dump -a /counts/timestepping r3.h5 | has "(0): 1" || fail "no timestepping attribute"
[ -f r3.xmf ] || fail "no XDMF sidecar"
$MPIRUN -n 2 "$BO_BUILD/tests/progs/petsc_load" -file r3.h5 | has " 0 mismatches" || fail "PETSc VecLoad of the ensemble"
# a network not conditioned on the total (-condition_total false): its members
# have no totals by default (-mass_from auto), and it can take tau-leaps
$MPIRUN -n 2 "$BO_BIN/bo_train" -data digits.h5 -steps 40 -batch 32 -condition_total false -checkpoint ckn.h5 \
  -checkpoint_every 0 -progress_interval 100 > trainn.txt 2>&1 || { cat trainn.txt; fail "training without totals"; }
$MPIRUN -n 2 "$SA" -checkpoint ckn.h5 -n 20 -sample_steps 25 -sampler tauleap -png tl.png -out tl.h5 > tl.txt || fail "tau-leaping"
grep -q "member totals: not conditioned (-mass_from none)" tl.txt || { cat tl.txt; fail "-mass_from auto: not none"; }
[ -s tl.png ] || fail "no PNG"
ls | has "\.tmp" && fail "temporary files left behind"

# job-array shards joined in any order equal one job
"$SA" -checkpoint ck.h5 -n 16 -first_member 32 -sample_steps 25 -seed 4 -out shard2.h5 > /dev/null
$MPIRUN -n 2 "$SA" -checkpoint ck.h5 -n 32 -first_member 0 -sample_steps 25 -seed 4 -out shard1.h5 > /dev/null
$MPIRUN -n 3 "$SA" -merge shard2.h5,shard1.h5 -out merged.h5 > /dev/null || fail "merge"
$MPIRUN -n 2 "$SA" -checkpoint ck.h5 -n 48 -sample_steps 25 -seed 4 -out one48.h5 > /dev/null
h5diff one48.h5 merged.h5 /counts /counts || fail "merged shards differ from one job"
h5diff one48.h5 merged.h5 /labels /labels || fail "merged shards lost or changed the members' labels"
expect_error "must be contiguous" "$SA" -merge shard1.h5,shard1.h5 -out bad.h5
"$SA" -checkpoint ck.h5 -n 16 -first_member 0 -sample_steps 30 -seed 4 -out shard3.h5 > /dev/null
expect_error "sample_steps" "$SA" -merge shard3.h5,shard2.h5 -out bad.h5
[ -e bad.h5 ] && fail "a failed merge left an output"
# the empty-cell hurdle: its q is checked, it is named in the header and in
# sample_grid, and shards sampled without it do not merge with one sampled with it
expect_error "-sample_empty_hurdle 1.*: must be in \[0, 1)" "$SA" -checkpoint ck.h5 -n 4 -sample_empty_hurdle 1 -out e.h5
# ... on every rank, also one with no block to generate (it used to wait in the writer)
expect_error "-sample_empty_hurdle 1.*: must be in \[0, 1)" timeout 60 $MPIRUN -n 2 "$SA" -checkpoint ck.h5 -n 4 \
  -batch 4 -sample_empty_hurdle 1 -out e.h5
"$SA" -checkpoint ck.h5 -n 16 -first_member 0 -sample_steps 25 -seed 4 -sample_empty_hurdle 0.7 -out shardh.h5 \
  | has "empty cells open at a step with probability 1 - 0.7 r" || fail "no hurdle in the header"
h5dump -a sample_grid shardh.h5 | has "power 4, empty hurdle 0.7" || fail "no hurdle in sample_grid"
expect_error "sample_grid" "$SA" -merge shardh.h5,shard2.h5 -out bad.h5

# labels: class 3 far more often than chance (1/10); nearest class means
$MPIRUN -n 2 "$SA" -checkpoint ck.h5 -n 100 -label 3 -guidance 1 -sample_steps 50 -out l3.h5 > /dev/null
frac=$("$PROGS/nearest_mean" -train digits.h5 -ens l3.h5 -label 3 | awk '{print $2}')
# 100 draws at chance 0.1 have sd 0.03: 0.3 is 6.7 sd above chance
awk -v f="$frac" 'BEGIN { exit !(f > 0.3) }' || fail "label 3: only a fraction $frac classified as 3"
funcond=$("$PROGS/nearest_mean" -train digits.h5 -ens r1.h5 -label 3 | awk '{print $2}')
awk -v f="$funcond" 'BEGIN { exit !(f < 0.3) }' || fail "unconditional members are class 3 at rate $funcond"
echo "label 3: $frac conditional vs $funcond unconditional"
# without -label each member takes a training member's label (-label_from
# train), which the ensemble records: the labels follow the training
# frequencies (chi-square, 9 degrees of freedom: 27.9 is p = 0.001) and the
# members look like their own label far more often than chance (1/10)
grep -q "member labels: drawn from the 1797 training labels" s1.txt || { cat s1.txt; fail "labels not drawn"; }
own=$("$PROGS/nearest_mean" -train digits.h5 -ens r1.h5 -label -1) || fail "no labels in the ensemble"
echo "drawn labels: $own"
awk -v l="$own" 'BEGIN { split(l, f, " "); exit !(f[2] > 0.3 && f[12] < 27.9) }' || fail "drawn labels: $own"
h5dump -a /labels_from r1.h5 | has '"train"' || fail "no labels_from attribute"
# the training images' row order travels through the checkpoint to the ensemble (pictures: row 0 on top)
h5dump -a /row_order r1.h5 | has '"top_down"' || fail "the ensemble lost the data's row_order"
$MPIRUN -n 2 "$SA" -checkpoint ck.h5 -n 16 -label_from none -sample_steps 10 -out ln.h5 > ln.txt || fail "-label_from none"
grep -q "member labels" ln.txt && fail "-label_from none draws labels"
grep -q "member totals: drawn from 1797 totals (the training members), " ln.txt || { cat ln.txt; fail "-label_from none: totals"; }
h5dump -d /labels ln.h5 > /dev/null 2>&1 && fail "-label_from none wrote labels"

# observed cells: every third cell of a real digit, honoured exactly
"$PROGS/condition_tool" -make obs.h5 -from digits.h5 -member 7 -every 3
$MPIRUN -n 2 "$SA" -checkpoint ck.h5 -n 24 -condition obs.h5 -sample_steps 40 -out c.h5 > /dev/null
"$PROGS/condition_tool" -check obs.h5 -ens c.h5 | has "honoured 24 of 24" || fail "observed cells not honoured"
# a mask is 0 or 1: another value is refused before any sampling
"$PROGS/condition_tool" -make obs2.h5 -from digits.h5 -member 7 -every 3 -mask_value 2
expect_error "mask value 2. at element 0 is not 0 or 1" "$SA" -checkpoint ck.h5 -n 4 -condition obs2.h5 \
  -out c2.h5
grep -q "members" out.txt && fail "a bad mask was found after sampling began"

# totals: -mass fixes every member's total; by default they are drawn from the
# training totals (of the label asked for), which the checkpoint keeps
$MPIRUN -n 2 "$SA" -checkpoint ck.h5 -n 20 -mass 200 -sample_steps 10 -out m200.h5 > m.txt || { cat m.txt; fail "-mass"; }
grep -q "member totals: exactly 200" m.txt || fail "-mass not reported"
"$PROGS/dataset_info" -data m200.h5 | has "totals=200..200" || fail "-mass 200: members of other totals"
h5dump -a /totals m200.h5 | has '"mass 200"' || fail "no totals provenance"
grep -q "member totals: drawn from 1797 totals (the training members, within each member's label)" s1.txt ||
  fail "totals not drawn from training"
"$SA" -checkpoint ck.h5 -n 16 -label 3 -sample_steps 10 -out tl3.h5 > t3.txt
grep -q "member totals: drawn from 183 totals (the training members of the label)" t3.txt || { cat t3.txt; fail "label totals"; }
"$SA" -checkpoint ck.h5 -n 16 -mass_from digits.h5 -sample_steps 10 -out tf.h5 > tf.txt
grep -q "member totals: drawn from 1797 totals (digits.h5, within each member's label)" tf.txt || fail "-mass_from FILE"
"$SA" -checkpoint ckn.h5 -n 16 -mass_from train -sample_steps 10 -out tn.h5 > tn.txt
grep -q "member totals: drawn from 1797 totals (the training members, within each" tn.txt || fail "-mass_from train without totals"

# errors
expect_error "-mass 3.5: must be a non-negative integer" "$SA" -checkpoint ck.h5 -n 4 -mass 3.5 -out e.h5
expect_error "-mass -1" "$SA" -checkpoint ck.h5 -n 4 -mass -1 -out e.h5
expect_error "nofile.h5" "$SA" -checkpoint ck.h5 -n 4 -mass_from nofile.h5 -out e.h5
expect_error "-mass_from none gives no totals, but the network is conditioned" "$SA" -checkpoint ck.h5 -n 4 -mass_from none -out e.h5
expect_error "-sampler tauleap: members with a total" "$SA" -checkpoint ck.h5 -n 4 -sampler tauleap -out e.h5
expect_error "-label 12" "$SA" -checkpoint ck.h5 -n 4 -label 12 -out e.h5
expect_error "-label -2: must be a class" "$SA" -checkpoint ck.h5 -n 4 -label -2 -out e.h5
expect_error "-cap -5.: must be >= 0" "$SA" -checkpoint ck.h5 -n 4 -cap -5 -out e.h5
expect_error "-guidance inf.: must be a finite number" "$SA" -checkpoint ck.h5 -n 4 -label 1 -guidance inf -out e.h5
expect_error "-label_from maybe: expected auto, train or none" "$SA" -checkpoint ck.h5 -n 4 -label_from maybe -out e.h5
expect_error "-label_from train draws each member's label; it cannot go with -label 3" \
  "$SA" -checkpoint ck.h5 -n 4 -label_from train -label 3 -out e.h5
expect_error "-guidance 1. needs labels" "$SA" -checkpoint ck.h5 -n 4 -label_from none -guidance 1 -out e.h5
expect_error "-sample_steps 0" "$SA" -checkpoint ck.h5 -n 4 -sample_steps 0 -out e.h5
expect_error "must be a multiple of -batch" "$SA" -checkpoint ck.h5 -n 4 -first_member 3 -out e.h5
expect_error "-condition missing.h5" "$SA" -checkpoint ck.h5 -n 4 -condition missing.h5 -out e.h5
expect_error "-checkpoint nothere.h5" "$SA" -checkpoint nothere.h5 -n 4 -out e.h5
[ "$(wc -l < err.txt)" = 1 ] || { cat err.txt; fail "error is not one line"; }
[ -e e.h5 ] && fail "a failed run left an output"
# a micro-batch that cannot fit in memory is refused before it is allocated
expect_error "-batch 100000000: needs about .* GB per rank, more than the" "$SA" -checkpoint ck.h5 -n 4 -batch 100000000 \
  -out big.h5
# a misspelled option: the run completes and names it once
"$SA" -checkpoint ck.h5 -n 4 -sample_stpes 3 -out typo.h5 > typo.txt 2>&1 || fail "-sample_stpes: $(cat typo.txt)"
[ "$(grep -c "warning: option -sample_stpes is not one of this program's" typo.txt)" = 1 ] \
  || fail "no single warning on -sample_stpes: $(cat typo.txt)"
exit 0
