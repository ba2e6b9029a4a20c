# 3-D fields (issue #16, docs/DATA.md §1): files written by BOWriter on 3
# ranks, and by PETSc's own VecView of a 3-D DMDA (no Mz: -data_dims 3), read
# by BODataset and VecLoaded into a 3-D DMDA on 1, 2 and 3 ranks with every
# value compared; -merge of 3-D shards; observed cells of a 3-D member's
# shape; bo_darcy on 3-D fields; and every 3-D error: one line, exit 1, no
# output, the input intact.
source "$(dirname "$0")/common.sh"
P="$BO_BUILD/tests/progs"
INFO="$P/dataset_info"

# expect_values FILE N D FIRST: /counts holds (k * 37 + e * 11) % 97 for member
# k = FIRST.. and element e (x fastest, components innermost), one value a line
expect_values() {
  counts_values "$1" > got.txt
  awk -v n="$2" -v d="$3" -v f="$4" 'BEGIN { for (k = 0; k < n; k++) for (e = 0; e < d; e++) print ((k + f) * 37 + e * 11) % 97 }' > want.txt
  cmp -s got.txt want.txt || fail "$1: the values are not what was written"
}

# 1. BOWriter on 3 ranks: (N, Nz, Ny, Nx) with Mz, and (N, Nz, Ny, Nx, C)
$MPIRUN -n 3 "$P/field3d_tool" -out w1.h5 -n 4 -nz 4 -ny 6 -nx 5 > /dev/null
$MPIRUN -n 3 "$P/field3d_tool" -out w2.h5 -n 3 -nz 4 -ny 6 -nx 5 -c 2 > /dev/null
h5dump -H w1.h5 | has "SIMPLE { ( 4, 4, 6, 5 )" || fail "w1.h5 is not (N, Nz, Ny, Nx)"
h5dump -H w2.h5 | has "SIMPLE { ( 3, 4, 6, 5, 2 )" || fail "w2.h5 is not (N, Nz, Ny, Nx, C)"
h5dump -a /counts/Mz w1.h5 | has "(0): 4" || fail "w1.h5 has no Mz = 4"
expect_values w1.h5 4 120 0
expect_values w2.h5 3 240 0
for n in 1 2 3; do
  $MPIRUN -n $n "$INFO" -data w1.h5 | has "N=4 field3d Nz=4 Ny=6 Nx=5 C=1 max=96" || fail "w1.h5 on $n ranks"
  $MPIRUN -n $n "$INFO" -data w2.h5 | has "N=3 field3d Nz=4 Ny=6 Nx=5 C=2 max=96" || fail "w2.h5 on $n ranks"
  $MPIRUN -n $n "$P/petsc_load" -file w1.h5 | has "4 members of 4 x 6 x 5 x 1 (3-D DMDA): 0 mismatches" \
    || fail "VecLoad of w1.h5 on $n ranks"
  $MPIRUN -n $n "$P/petsc_load" -file w2.h5 | has "3 members of 4 x 6 x 5 x 2 (3-D DMDA): 0 mismatches" \
    || fail "VecLoad of w2.h5 (dof 2) on $n ranks"
done
grep -q 'TopologyType="3DCoRectMesh" Dimensions="5 7 6"' w1.xmf || fail "w1.xmf is no 3-D mesh"

# 2. PETSc's VecView of a 3-D DMDA (timestepping, no attributes): a 4-D dataset
# without Mz reads as (N, Ny, Nx, C) unless -data_dims 3; a 5-D one is 3-D
$MPIRUN -n 3 "$P/field3d_tool" -via petsc -out p1.h5 -n 3 -nz 4 -ny 6 -nx 5 > /dev/null
$MPIRUN -n 2 "$P/field3d_tool" -via petsc -out p2.h5 -n 3 -nz 4 -ny 6 -nx 5 -c 2 > /dev/null
h5dump -a /counts/Mz p1.h5 > /dev/null 2>&1 && fail "VecView wrote Mz: the test needs a file without it"
expect_values p1.h5 3 120 0
expect_values p2.h5 3 240 0
"$INFO" -data p1.h5 | has "N=3 field Ny=4 Nx=6 C=5" || fail "p1.h5 without -data_dims is not read as before"
for n in 1 2 3; do
  $MPIRUN -n $n "$INFO" -data p1.h5 -data_dims 3 | has "N=3 field3d Nz=4 Ny=6 Nx=5 C=1 max=96" \
    || fail "p1.h5 -data_dims 3 on $n ranks"
  $MPIRUN -n $n "$INFO" -data p2.h5 | has "N=3 field3d Nz=4 Ny=6 Nx=5 C=2 max=96" || fail "p2.h5 on $n ranks"
  $MPIRUN -n $n "$P/petsc_load" -file p1.h5 -dims 3 | has "3 members of 4 x 6 x 5 x 1 (3-D DMDA): 0 mismatches" \
    || fail "VecLoad of p1.h5 on $n ranks"
done
"$BO_BIN/bo_train" -help 2> /dev/null | grep -c -- "-data_dims <now 0" > /dev/null || fail "bo_train -help does not show -data_dims"

# 3. bo_sample -merge of 3-D shards = the ensemble written at once
$MPIRUN -n 2 "$P/field3d_tool" -out s1.h5 -n 3 -nz 4 -ny 6 -nx 5 -first 0 > /dev/null
$MPIRUN -n 3 "$P/field3d_tool" -out s2.h5 -n 3 -nz 4 -ny 6 -nx 5 -first 3 > /dev/null
$MPIRUN -n 3 "$BO_BIN/bo_sample" -merge s2.h5,s1.h5 -out merged.h5 > /dev/null || fail "merge of 3-D shards"
expect_values merged.h5 6 120 0
"$INFO" -data merged.h5 | has "N=6 field3d Nz=4 Ny=6 Nx=5 C=1" || fail "merged.h5 is not 3-D"
$MPIRUN -n 2 "$P/petsc_load" -file merged.h5 | has "6 members of 4 x 6 x 5 x 1 (3-D DMDA): 0 mismatches" \
  || fail "VecLoad of merged.h5"
$MPIRUN -n 2 "$P/field3d_tool" -out s3.h5 -n 3 -nz 4 -ny 5 -nx 6 -first 3 > /dev/null
expect_error "s3.h5 holds members of 4 x 5 x 6 x 1 (Nz x Ny x Nx x C), the first shard s1.h5 of 4 x 6 x 5 x 1" \
  "$BO_BIN/bo_sample" -merge s1.h5,s3.h5 -out bad.h5
[ ! -e bad.h5 ] && [ -z "$(ls bad.h5.tmp* 2> /dev/null)" ] || fail "a failed merge left a file"

# 4. observed cells of a 3-D member's shape: honoured, and a value/mask of
# another shape (the same number of elements) refused
"$P/condition_tool" -make obs.h5 -from w1.h5 -member 2 -every 3 > /dev/null
h5dump -H obs.h5 | has "SIMPLE { ( 4, 6, 5 )" || fail "obs.h5 is not of the member's shape"
"$P/condition_tool" -check obs.h5 -ens w1.h5 | has "honoured 1 of 4" || fail "member 2 does not match itself"
expect_error "-check obs.h5: 'value' is 4 x 6 x 5, but the members of s3.h5 are 4 x 5 x 6 (Nz x Ny x Nx)" \
  "$P/condition_tool" -check obs.h5 -ens s3.h5

# 5. bad 3-D input: one line naming the file and dataset, exit 1, nothing written, input intact
cp w1.h5 mz.h5
"$P/field3d_tool" -set_mz 7 -out mz.h5
sum0=$(md5sum < mz.h5)
expect_error "mz.h5: dataset counts has attribute Mz = 7 but its second axis is 4: (N, Nz, Ny, Nx) = (4, 4, 6, 5)" \
  "$INFO" -data mz.h5
expect_error "w1.h5: dataset counts is a 3-D field (N, Nz, Ny, Nx) = (4, 4, 6, 5) by its attribute Mz, but -data_dims 2" \
  "$INFO" -data w1.h5 -data_dims 2
expect_error "-data_dims 4: expected 0 (from the file), 2 or 3" "$INFO" -data w1.h5 -data_dims 4
cp p1.h5 p1mz.h5
"$P/field3d_tool" -set_mz 1 -out p1mz.h5
"$INFO" -data p1mz.h5 | has "N=3 field Ny=4 Nx=6 C=5" || fail "Mz = 1 is not a 2-D grid"
expect_error "p1mz.h5: dataset counts has attribute Mz = 1 (a 2-D grid (N, Ny, Nx, C)), but -data_dims 3" \
  "$INFO" -data p1mz.h5 -data_dims 3
[ "$(md5sum < mz.h5)" = "$sum0" ] || fail "a failed read changed mz.h5"

# 6. the programs that are 2-D only refuse 3-D fields in one line, and write nothing
ls > before.txt
refused="dataset counts is a 3-D field (Nz x Ny x Nx = 4 x 6 x 5)"
expect_error "w1.h5: $refused; bo_convert does not handle 3-D fields yet" \
  "$BO_BIN/bo_convert" -format anndata -in w1.h5 -in_name counts -out c.h5
expect_error "w1.h5: $refused; bo_paramplot does not handle 3-D fields yet" \
  "$BO_BIN/bo_paramplot" -real w1.h5 -fake w1.h5 -out pp
ls | grep -v -e '^out.txt$' -e '^err.txt$' | cmp -s - <(grep -v -e '^out.txt$' -e '^err.txt$' before.txt) \
  || fail "a refused run wrote a file: $(ls | tr '\n' ' ')"
# 7. bo_darcy solves on 3-D fields (tests/cli/datagen3d.sh), also those of
# PETSc's VecView with 2 components (component 0 is the permeability)
for n in 1 2; do
  $MPIRUN -n $n "$BO_BIN/bo_darcy" -data p2.h5 -out d$n.csv > d$n.txt || fail "bo_darcy on p2.h5 on $n ranks"
  grep -q "3 of 3 members of 4 x 6 x 5 (p2.h5)" d$n.txt || fail "bo_darcy did not see 4 x 6 x 5 members: $(cat d$n.txt)"
done
paste -d, d1.csv d2.csv | awk -F, 'NR > 1 { d = $2 - $6; if (d < 0) d = -d; if (!(d <= 1e-8 * $2)) bad = 1 } END { exit bad }' \
  || fail "bo_darcy on p2.h5: 1 and 2 ranks disagree"
echo "3-D fields: written, read, VecLoaded on 1-3 ranks, merged, conditioned; every bad input refused in one line"
