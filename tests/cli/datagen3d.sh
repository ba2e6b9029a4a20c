# bo_datagen -kind reservoir -nz NZ: 3-D fields (N, Nz, Ny, Nx) with Mz, a
# 3-D XDMF sidecar, params and inputs; the same file on 1 and 2 ranks; a
# plume; VecLoad-able; bo_darcy on it, the same on 1 and 2 ranks, and a known
# answer; -png; and the errors: one line, exit 1, no output.
source "$(dirname "$0")/common.sh"
DG="$BO_BIN/bo_datagen"
DA="$BO_BIN/bo_darcy"
INFO="$BO_BUILD/tests/progs/dataset_info"

# 1. 4 members of 4 x 8 x 12 with params and inputs, on 1 and 2 ranks
for n in 1 2; do
  $MPIRUN -n $n "$DG" -kind reservoir -n 4 -nx 12 -ny 8 -nz 4 -seed 5 -sigma_range 0.5,1.5 -write_inputs \
    -out r$n.h5 > log$n.txt
  grep -q "4 reservoir realizations of 4 x 8 x 12 -> r$n.h5" log$n.txt || fail "log on $n ranks: $(cat log$n.txt)"
  grep -q "cost per realization" log$n.txt || fail "no cost report on $n ranks"
done
for d in counts params inputs; do h5diff r1.h5 r2.h5 /$d /$d || fail "$d: 1 vs 2 ranks differ"; done
h5dump -H r2.h5 | grep -A3 'DATASET "counts"' | has "SIMPLE { ( 4, 4, 8, 12 )" || fail "counts are not (N, Nz, Ny, Nx)"
h5dump -H r2.h5 | grep -A3 'DATASET "inputs"' | has "SIMPLE { ( 4, 4, 8, 12 )" || fail "inputs are not (N, Nz, Ny, Nx)"
h5dump -a /counts/Mz r2.h5 | has "(0): 4" || fail "no Mz = 4 on counts"
h5dump -a /inputs/Mz r2.h5 | has "(0): 4" || fail "no Mz = 4 on inputs"
h5dump -a /tracer_step r2.h5 | has "(0): 0.25" || fail "no tracer_step provenance"
# params bring inputs by default, as in 2-D (BODataset reads them); -write_inputs 0 leaves them out
$MPIRUN -n 2 "$DG" -kind reservoir -n 4 -nx 12 -ny 8 -nz 4 -seed 5 -sigma_range 0.5,1.5 -out d.h5 > /dev/null
h5diff r1.h5 d.h5 /inputs /inputs || fail "3-D inputs are not written by default with params"
$MPIRUN -n 2 "$DG" -kind reservoir -n 4 -nx 12 -ny 8 -nz 4 -seed 5 -sigma_range 0.5,1.5 -write_inputs 0 \
  -out q.h5 > /dev/null
h5diff r1.h5 q.h5 /counts /counts || fail "-write_inputs changed the counts"
h5dump -H q.h5 | has 'DATASET "inputs"' && fail "3-D inputs written with -write_inputs 0"
"$INFO" -data r2.h5 | has "N=4 field3d Nz=4 Ny=8 Nx=12 C=1" || fail "dataset_info on 3-D inputs: $("$INFO" -data r2.h5)"
"$INFO" -data q.h5 | has "N=4 field3d Nz=4 Ny=8 Nx=12 C=1" || fail "dataset_info: $("$INFO" -data q.h5)"
grep -q 'TopologyType="3DCoRectMesh" Dimensions="5 9 13"' r2.xmf || fail "r2.xmf is no 3-D mesh"
$MPIRUN -n 2 "$BO_BUILD/tests/progs/petsc_load" -file r2.h5 | has "4 members of 4 x 8 x 12 x 1 (3-D DMDA): 0 mismatches" \
  || fail "VecLoad into a 3-D DMDA"
# a plume: the mean count over the first three x columns (every member, z
# and y) is more than twice that of the last three
counts_values r2.h5 | awk '{ i = (NR - 1) % 12; if (i < 3) a += $1; if (i >= 9) b += $1 }
  END { if (!(a > 2 * b)) { print "near the inflow " a ", near the outflow " b; exit 1 } }' || fail "no plume"

# 2. bo_darcy on the 3-D members: 3-D DMDA on 1 and 2 ranks, the same results
$MPIRUN -n 2 "$DG" -kind reservoir -reservoir_output permeability -n 3 -nx 10 -ny 6 -nz 5 -out perm.h5 > /dev/null
for n in 1 2; do
  $MPIRUN -n $n "$DA" -data perm.h5 -out d$n.csv -ksp_rtol 1e-10 > out$n.txt
  grep -q "3 of 3 members of 5 x 6 x 10 (perm.h5)" out$n.txt || fail "bo_darcy on $n ranks: $(cat out$n.txt)"
done
head -1 d1.csv | has -x "member,k_eff,outflow,iterations" || fail "CSV header"
[ "$(wc -l < d1.csv)" = 4 ] || fail "CSV rows"
# the same on 1 and 2 ranks; k_eff = outflow Nx / (dp Ny Nz)
paste -d, d1.csv d2.csv | awk -F, 'NR > 1 { for (c = 2; c <= 3; c++) { d = $c - $(c + 4); if (d < 0) d = -d
    if (!(d <= 1e-8 * $c)) { print "member " $1 " column " c ": " $c " vs " $(c + 4); bad = 1 } }
  w = $3 * 10 / 30; if ((($2 - w) / w) ^ 2 > 1e-20) { print "member " $1 ": k_eff " $2 ", outflow gives " w; bad = 1 } }
  END { exit bad }' || fail "bo_darcy: 1 and 2 ranks disagree, or k_eff is not outflow Nx / (Ny Nz)"
# a known answer: sigma 0 and no channels give level 0 everywhere, k = 10^0.5 = k_eff
$MPIRUN -n 1 "$DG" -kind reservoir -reservoir_output permeability -sigma 0 -channels 0 -n 2 -nx 7 -ny 4 -nz 3 \
  -out flat.h5 > /dev/null
$MPIRUN -n 2 "$DA" -data flat.h5 -out f.csv -perm_log10_min 0.5 > /dev/null
awk -F, 'NR > 1 { if ((($2 - 3.16227766017) / 3.16227766017) ^ 2 > 1e-18) { print $0; bad = 1 } } END { exit bad }' f.csv \
  || fail "uniform 3-D permeability: k_eff is not k"

# 3. -png: the members as rows of z-slices (on 2 ranks: gathered); -refine in 3-D
$MPIRUN -n 2 "$DG" -kind reservoir -n 3 -nx 6 -ny 4 -nz 2 -out p.h5 -png p.png > /dev/null
grep -aq "3 members (rows) x 2 z-slices of 2 (columns)" p.png || fail "-png: p.png is not rows of z-slices"
for n in 1 2; do $MPIRUN -n $n "$DG" -kind reservoir -refine 2 -n 3 -nx 6 -ny 4 -nz 2 -out f$n.h5 > /dev/null; done
h5diff f1.h5 f2.h5 /counts /counts || fail "-refine 2: 1 vs 2 ranks differ"
"$INFO" -data f1.h5 | has "N=3 field3d Nz=2 Ny=4 Nx=6 C=1" || fail "-refine 2: wrong shape"

# 4. bad options: one line, exit 1, no output
ls > before.txt
expect_error "bo_datagen: error: -nz 0: must be at least 1" "$DG" -kind reservoir -nz 0 -out x.h5
expect_error "bo_datagen: error: -nz is for -kind reservoir" "$DG" -kind genes -nz 4 -out x.h5
expect_error "bo_datagen: error: -tracer_step 0: must be in (0, 1] cells" "$DG" -kind reservoir -nz 2 -tracer_step 0 \
  -out x.h5
ls | grep -v -e '^out.txt$' -e '^err.txt$' | cmp -s - <(grep -v -e '^out.txt$' -e '^err.txt$' before.txt) \
  || fail "a refused run wrote a file: $(ls | tr '\n' ' ')"
ls | has '\.tmp' && fail "temporary file left behind"
echo ok
