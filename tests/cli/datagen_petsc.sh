# A multi-component field file written on 3 ranks (bo_convert -format raw
# -shape Ny,Nx,C) loads member by member into a DMDA with dof 2 on 1 and 2 ranks.
source "$(dirname "$0")/common.sh"
# 4 members of 3 x 5 x 2 u8 counts: byte b = b % 7
for b in $(seq 0 119); do printf "\\$(printf '%03o' $((b % 7)))"; done > f.raw
[ "$(stat -c %s f.raw)" = 120 ] || fail "could not make the input"
$MPIRUN -n 3 "$BO_BIN/bo_convert" -format raw -dtype u8 -shape 3,5,2 -in f.raw -out f.h5 > /dev/null
"$BO_BUILD/tests/progs/dataset_info" -data f.h5 | has "N=4 field Ny=3 Nx=5 C=2 max=6" || fail "wrong dataset"
for n in 1 2; do
  $MPIRUN -n $n "$BO_BUILD/tests/progs/petsc_load" -file f.h5 | has "4 members of 3 x 5 x 2: 0 mismatches" \
    || fail "VecLoad with dof 2 on $n ranks"
done
grep -q '3 0 0 1 1 1 1 1 1 3 5 1' f.xmf || fail "sidecar lacks the hyperslab of member 3, component 1"
echo ok
