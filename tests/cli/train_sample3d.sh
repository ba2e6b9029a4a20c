# bo_train and bo_sample on 3-D fields (issue #16): a 3-D U-Net trained on 2
# ranks from 64 members of 4 x 8 x 8 (labels, params); 16 members sampled on
# 1 and 2 ranks are the same; the ensemble is (N, Nz, Ny, Nx) with Mz and a
# 3-D sidecar; totals exact (-mass) and within the training members'; shards
# of -first_member merge into one job; observed cells honoured in 3-D;
# guidance toward a label; the picture; 3-D input fields (trained on and
# sampled for, the same on 1 and 2 ranks); and the errors, in one line with
# nothing written.
source "$(dirname "$0")/common.sh"
P="$BO_BUILD/tests/progs"
TR="$BO_BIN/bo_train"
SA="$BO_BIN/bo_sample"

# total_of FILE D: each member's total count, one a line
totals_of() { counts_values "$1" | awk -v d="$2" '{ s += $1 } NR % d == 0 { print s; s = 0 }'; }

# 1. a tiny 3-D dataset with labels and params; the smallest network, trained on 2 ranks
$MPIRUN -n 2 "$P/field3d_tool" -out d3.h5 -n 64 -nz 4 -ny 8 -nx 8 -conditions > /dev/null
$MPIRUN -n 2 "$TR" -data d3.h5 -model unet-tiny -steps 12 -batch 8 -checkpoint ck3.h5 -checkpoint_every 0 \
  > train.txt 2>&1 || { cat train.txt; fail "training on 3-D data"; }
grep -q "3-D input 4x8x8x1, levels on 4x8x8 2x4x4" train.txt || { cat train.txt; fail "not the 3-D U-Net"; }
h5dump -a /model/model_depth ck3.h5 | has "(0): 4" || fail "the checkpoint has no model_depth = 4"
# a restart continues the 3-D network
$MPIRUN -n 2 "$TR" -data d3.h5 -steps 14 -batch 8 -checkpoint ck3.h5 -checkpoint_every 0 -restart > rs.txt 2>&1 \
  || { cat rs.txt; fail "restart on 3-D data"; }
grep -q "restarting from ck3.h5 at step 12" rs.txt || { cat rs.txt; fail "no restart"; }

# 2. 16 members on 1 and 2 ranks: identical, (N, Nz, Ny, Nx) with Mz, a 3-D sidecar
S="-checkpoint ck3.h5 -n 16 -sample_steps 20 -batch 4 -params 1.1,20"
"$SA" $S -out s1.h5 > s1.txt 2>&1 || { cat s1.txt; fail "sampling on 1 rank"; }
$MPIRUN -n 2 "$SA" $S -out s2.h5 > s2.txt 2>&1 || { cat s2.txt; fail "sampling on 2 ranks"; }
h5diff s1.h5 s2.h5 /counts /counts || fail "1 vs 2 ranks differ"
h5dump -H s1.h5 | has 'DATASET "counts"' && h5dump -H -d /counts s1.h5 | has "SIMPLE { ( 16, 4, 8, 8 )" \
  || fail "the ensemble is not (N, Nz, Ny, Nx) = (16, 4, 8, 8)"
h5dump -a /counts/Mz s1.h5 | has "(0): 4" || fail "the ensemble has no Mz = 4"
grep -q 'TopologyType="3DCoRectMesh" Dimensions="5 9 9"' s1.xmf || fail "s1.xmf is no 3-D mesh"
"$P/dataset_info" -data s1.h5 | has "N=16 field3d Nz=4 Ny=8 Nx=8 C=1" || fail "s1.h5 is not read as 3-D"
$MPIRUN -n 2 "$P/petsc_load" -file s1.h5 | has "16 members of 4 x 8 x 8 x 1 (3-D DMDA): 0 mismatches" \
  || fail "VecLoad of the 3-D ensemble"
# totals: drawn from the training members' (12206 .. 12370 here), each member ends exactly at one
range=$("$P/dataset_info" -data d3.h5 | sed 's/.*totals=//')
totals_of s1.h5 256 | awk -v r="$range" '{ split(r, b, "\\.\\."); if ($1 < b[1] || $1 > b[2] || $1 != int($1)) bad++ }
  END { exit bad > 0 }' || fail "totals outside the training members' $range"
$MPIRUN -n 2 "$SA" $S -mass 12300 -label 1 -guidance 1 -out m.h5 > /dev/null || fail "-mass with guidance"
[ "$(totals_of m.h5 256 | sort -u)" = 12300 ] || fail "-mass 12300: totals $(totals_of m.h5 256 | sort -u | tr '\n' ' ')"
# -first_member shards merge into the ensemble of one job
"$SA" $S -n 8 -first_member 8 -out sh2.h5 > /dev/null || fail "-first_member 8"
$MPIRUN -n 2 "$SA" $S -n 8 -first_member 0 -out sh1.h5 > /dev/null || fail "-first_member 0"
"$SA" -merge sh2.h5,sh1.h5 -out merged.h5 > /dev/null || fail "merge of 3-D shards"
h5diff s1.h5 merged.h5 /counts /counts || fail "3-D shards merged differ from one job"

# 3. observed cells of a 3-D member (every third cell of training member 2): honoured exactly
"$P/condition_tool" -make obs.h5 -from d3.h5 -member 2 -every 3 > /dev/null
$MPIRUN -n 2 "$SA" $S -condition obs.h5 -out c.h5 > /dev/null || fail "sampling with observed cells"
"$P/condition_tool" -check obs.h5 -ens c.h5 | has "honoured 16 of 16" || fail "observed cells not honoured in 3-D"

# 4. errors: one line, status 1, no output (or temporary) file, the checkpoint intact
"$BO_BIN/bo_convert" -format csv -in "$BO_ROOT/inputs/digits/digits.csv.gz" -shape 8,8 -label_column 64 \
  -out digits.h5 > /dev/null
"$TR" -data digits.h5 -model unet-tiny -steps 2 -batch 8 -checkpoint ck2.h5 -checkpoint_every 0 > /dev/null \
  || fail "training on 2-D data"
sum2=$(md5sum < ck2.h5) sum3=$(md5sum < ck3.h5)
expect_error "-restart: ck2.h5 does not fit -data d3.h5: the network's fields are 8 x 8 x 1 (Ny x Nx x C), the data's 4 x 8 x 8 x 1 (Nz x Ny x Nx x C)" \
  $MPIRUN -n 2 "$TR" -data d3.h5 -steps 4 -checkpoint ck2.h5 -restart
expect_error "-restart: ck3.h5 does not fit -data digits.h5: the network's fields are 4 x 8 x 8 x 1 (Nz x Ny x Nx x C), the data's 8 x 8 x 1 (Ny x Nx x C)" \
  "$TR" -data digits.h5 -steps 20 -checkpoint ck3.h5 -restart
$MPIRUN -n 2 "$P/field3d_tool" -out d5.h5 -n 8 -nz 5 -ny 8 -nx 8 -conditions > /dev/null
expect_error "the network's fields are 4 x 8 x 8 x 1 (Nz x Ny x Nx x C), the data's 5 x 8 x 8 x 1 (Nz x Ny x Nx x C)" \
  "$TR" -data d5.h5 -steps 20 -checkpoint ck3.h5 -restart
[ "$(md5sum < ck2.h5)" = "$sum2" ] && [ "$(md5sum < ck3.h5)" = "$sum3" ] || fail "a refused restart changed a checkpoint"
# a value/mask of another 3-D shape with as many cells (8 x 4 x 8) is refused before any sampling
"$P/field3d_tool" -out o.h5 -n 1 -nz 8 -ny 4 -nx 8 > /dev/null
"$P/condition_tool" -make obsbad.h5 -from o.h5 -member 0 -every 3 > /dev/null
expect_error "-condition obsbad.h5: 'value' is 8 x 4 x 8, but the model's members are 4 x 8 x 8 (Nz x Ny x Nx)" \
  $MPIRUN -n 2 "$SA" $S -condition obsbad.h5 -out bad.h5
# the PNG picture of 3-D members: a row of z-slices per member
"$SA" $S -n 4 -out pic.h5 -png p.png > /dev/null
grep -aq "4 members (rows) x 4 z-slices of 4 (columns)" p.png || fail "p.png is not rows of z-slices"
[ -z "$(ls ./*.tmp* 2> /dev/null)" ] || fail "a run left a temporary file"
# 3-D input fields: the log-permeability beside 3-D reservoir counts (bo_datagen's default with
# params), a network conditioned on it alone, members sampled for given fields on 1 and 2 ranks
$MPIRUN -n 2 "$BO_BIN/bo_datagen" -kind reservoir -n 16 -nx 8 -ny 8 -nz 4 -seed 3 -sigma_range 0.5,1.5 -out ri.h5 \
  > /dev/null
$MPIRUN -n 2 "$TR" -data ri.h5 -model unet-tiny -condition_on inputs -steps 4 -batch 8 -checkpoint cki.h5 \
  -checkpoint_every 0 > tri.txt 2>&1 || { cat tri.txt; fail "training on 3-D inputs"; }
grep -q "conditioned on 1 input field channel(s)" tri.txt || { cat tri.txt; fail "not conditioned on the inputs"; }
SI="-checkpoint cki.h5 -n 4 -sample_steps 5 -batch 4 -inputs ri.h5"
"$SA" $SI -out si1.h5 > si1.txt 2>&1 || { cat si1.txt; fail "sampling with 3-D inputs on 1 rank"; }
$MPIRUN -n 2 "$SA" $SI -out si2.h5 > si2.txt 2>&1 || { cat si2.txt; fail "sampling with 3-D inputs on 2 ranks"; }
h5diff si1.h5 si2.h5 /counts /counts || fail "3-D inputs: 1 vs 2 ranks differ"
h5dump -H si1.h5 | grep -A3 'DATASET "inputs"' | has "SIMPLE { ( 4, 4, 8, 8 )" || fail "si1.h5 lacks its inputs"
h5dump -y -w 0 -d /inputs -s 0,0,0,0 -c 4,4,8,8 -o want_in.txt ri.h5 > /dev/null || fail "h5dump ri.h5"
h5dump -y -w 0 -d /inputs -o got_in.txt si1.h5 > /dev/null || fail "h5dump si1.h5"
cmp -s <(tr -s ', ' '\n\n' < want_in.txt | grep .) <(tr -s ', ' '\n\n' < got_in.txt | grep .) || fail "si1.h5's inputs are not ri.h5's first 4"
# a 2-D input field for the 3-D network: one line, nothing written
$MPIRUN -n 1 "$BO_BIN/bo_datagen" -kind reservoir -n 2 -nx 8 -ny 8 -sigma_range 0.5,1.5 -out r2d.h5 > /dev/null
expect_error "-inputs r2d.h5: dataset inputs is 3-dimensional (2 x 8 x 8); the network takes (K, 4, 8, 8, 1)" \
  "$SA" -checkpoint cki.h5 -n 4 -sample_steps 5 -inputs r2d.h5 -out bad.h5
[ ! -e bad.h5 ] || fail "a refused run wrote bad.h5"
echo "3-D: trained on 2 ranks, sampled identically on 1 and 2, shape, Mz, sidecar, totals, shards, observed cells, picture, input fields, errors"
