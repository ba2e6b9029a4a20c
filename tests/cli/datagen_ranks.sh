# bo_datagen: the same file for any number of ranks (2-D and 3-D); cost
# report; sidecar; PETSc can VecLoad every member (file written on 3 ranks,
# loaded on 1 and 2).
source "$(dirname "$0")/common.sh"
DG="$BO_BIN/bo_datagen"

# reservoir on 1, 2 and 3 ranks
for n in 1 2 3; do
  $MPIRUN -n $n "$DG" -kind reservoir -n 5 -nx 16 -ny 12 -seed 3 -out r$n.h5 > log$n.txt
  grep -q "cost per realization" log$n.txt || fail "no cost report on $n ranks"
done
h5diff r1.h5 r2.h5 /counts /counts || fail "reservoir: 1 vs 2 ranks differ"
h5diff r1.h5 r3.h5 /counts /counts || fail "reservoir: 1 vs 3 ranks differ"
[ -f r3.xmf ] || fail "no XDMF sidecar"
grep -q 'r3.h5:/counts' r3.xmf || fail "sidecar does not name r3.h5"
ls | has tmp && fail "temporary files left behind"
"$BO_BUILD/tests/progs/dataset_info" -data r3.h5 | has "N=5 field Ny=12 Nx=16 C=1" || fail "wrong shape"
# real spatial structure: no member's field is constant (max > min over its 192 cells)
counts_values r3.h5 | awk -v D=192 '{ m = int((NR - 1) / D); if (NR % D == 1 || $1 < lo[m]) lo[m] = $1
    if (NR % D == 1 || $1 > hi[m]) hi[m] = $1 }
  END { if (NR != 5 * D) { print NR " values, not " 5 * D; exit 1 }
    for (m = 0; m < 5; m++) if (hi[m] <= lo[m]) { print "member " m ": every cell is " lo[m]; bad = 1 }; exit bad }' \
  || fail "a constant field"
h5dump -a /mpi_size r3.h5 | has "(0): 3" || fail "no mpi_size provenance"
h5dump -a /seed r3.h5 | has "(0): 3" || fail "no seed provenance"

# PETSc loads the 3-rank file on 1 and 2 ranks
for n in 1 2; do
  $MPIRUN -n $n "$BO_BUILD/tests/progs/petsc_load" -file r3.h5 | has " 0 mismatches" || fail "VecLoad on $n ranks"
done

# 3-D (-nz 3): the same file on 1, 2 and 3 ranks, and bo_darcy's 3-D solve
# on it the same on 1 and 3 ranks (tests/cli/datagen3d.sh does the rest)
for n in 1 2 3; do
  $MPIRUN -n $n "$DG" -kind reservoir -n 4 -nx 8 -ny 6 -nz 3 -seed 3 -out z$n.h5 > /dev/null
done
h5diff z1.h5 z2.h5 /counts /counts || fail "3-D reservoir: 1 vs 2 ranks differ"
h5diff z1.h5 z3.h5 /counts /counts || fail "3-D reservoir: 1 vs 3 ranks differ"
for n in 1 3; do $MPIRUN -n $n "$BO_BIN/bo_darcy" -data z3.h5 -out zd$n.csv -ksp_rtol 1e-10 > /dev/null; done
paste -d, zd1.csv zd3.csv | awk -F, 'NR > 1 { for (c = 2; c <= 3; c++) { d = $c - $(c + 4); if (d < 0) d = -d
  if (!(d <= 1e-8 * $c)) { print "member " $1 " column " c ": " $c " vs " $(c + 4); bad = 1 } } } END { exit bad }' \
  || fail "3-D bo_darcy: 1 and 3 ranks disagree"

# -refine 2: fine-scale physics counted on the output grid, still rank-independent
$MPIRUN -n 1 "$DG" -kind reservoir -refine 2 -n 3 -nx 12 -ny 10 -out f1.h5 > /dev/null
$MPIRUN -n 2 "$DG" -kind reservoir -refine 2 -n 3 -nx 12 -ny 10 -out f2.h5 > /dev/null
h5diff f1.h5 f2.h5 /counts /counts || fail "refined: 1 vs 2 ranks differ"
"$BO_BUILD/tests/progs/dataset_info" -data f1.h5 | has "N=3 field Ny=10 Nx=12 C=1" || fail "refined shape"
expect_error "-refine 0" "$DG" -kind reservoir -refine 0 -n 2 -out bad.h5

# a different seed, all else the same: a file of the same shape with other
# counts (h5diff: 1 = differences found, 2 = could not compare)
$MPIRUN -n 2 "$DG" -kind reservoir -n 5 -nx 16 -ny 12 -seed 4 -out s4.h5 > /dev/null
"$BO_BUILD/tests/progs/dataset_info" -data s4.h5 | has "N=5 field Ny=12 Nx=16 C=1" || fail "seed 4: wrong shape"
status=0; h5diff -q r1.h5 s4.h5 /counts /counts > /dev/null 2>&1 || status=$?
[ "$status" = 1 ] || fail "seeds 3 and 4: h5diff exit status $status, not 1 (the counts differ)"

# the permeability output
$MPIRUN -n 2 "$DG" -kind reservoir -reservoir_output permeability -n 3 -nx 8 -ny 8 -seed 4 -out p.h5 > /dev/null
"$BO_BUILD/tests/progs/dataset_info" -data p.h5 | has "N=3 field" || fail "permeability output"

# genes: labels too, 1 vs 3 ranks
$MPIRUN -n 1 "$DG" -kind genes -n 30 -genes 12 -out g1.h5 > /dev/null
$MPIRUN -n 3 "$DG" -kind genes -n 30 -genes 12 -out g3.h5 > /dev/null
h5diff g1.h5 g3.h5 /counts /counts || fail "genes: counts differ"
h5diff g1.h5 g3.h5 /labels /labels || fail "genes: labels differ"
"$BO_BUILD/tests/progs/dataset_info" -data g3.h5 | has "N=30 vector G=12 .* labels=1 classes=3" || fail "genes dataset"
[ -f g3.xmf ] && fail "a sidecar for vectors"

# bad options: one-line errors, no file
expect_error "bo_datagen: error: give the output file" "$DG" -kind genes
expect_error "bo_datagen: error: -nx and -ny must be at least 2" "$DG" -kind reservoir -nx 1 -out x.h5
[ -e x.h5 ] && fail "output left after an error"
echo ok
