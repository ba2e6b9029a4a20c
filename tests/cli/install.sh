# make install into a fresh prefix, then the two examples built against the
# installed tree alone (pkg-config blackout) and run on 2 ranks: ex2 (a PETSc
# simulation) writes VecView snapshots, the installed bo_train trains on
# them, and ex1 fills a DMDA vector with a generated member and solves on it.
source "$(dirname "$0")/common.sh"
prefix=$PWD/prefix

make -s -C "$BO_ROOT" install PREFIX="$prefix" BUILD="$BO_BUILD" BINDIR="$BO_BIN" LIBDIR="$BO_LIBDIR" > make.txt 2>&1 \
  || { cat make.txt; fail "make install"; }
for f in lib/libblackout.a lib/libblackout.so lib/pkgconfig/blackout.pc include/blackout/blackout.h \
  include/blackout/bo_sampler.h bin/bo_train bin/bo_sample; do
  [ -e "$prefix/$f" ] || fail "make install did not install $f"
done
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
pkg-config --exists blackout || fail "pkg-config does not find blackout.pc"
pkg-config --cflags blackout | has -- "-I$prefix/include/blackout" || fail "blackout.pc Cflags: $(pkg-config --cflags blackout)"
for ex in ex1 ex2; do # the source tree's include/ is not on the path: only the installed headers
  mpicc "$BO_ROOT/examples/$ex.c" -o $ex $(pkg-config --cflags --libs blackout) > cc.txt 2>&1 \
    || { cat cc.txt; fail "$ex does not build against the installed tree"; }
done
# (through a file: grep -q ends at the first match, and the loader writes a
# line at a time, so a pipe could end ldd with SIGPIPE, a failure under pipefail)
ldd ./ex1 > ldd.txt || fail "ldd ex1"
grep -q "$prefix/lib/libblackout.so" ldd.txt || fail "ex1 does not use the installed shared library: $(cat ldd.txt)"

$MPIRUN -n 2 ./ex2 -out snaps.h5 -n 24 -nx 12 -ny 12 -particles 200 -walk 20 > ex2.txt || { cat ex2.txt; fail "ex2"; }
grep -q "ex2: 24 snapshots of 12 x 12 cells, 200 particles each" ex2.txt || fail "ex2: $(cat ex2.txt)"
$MPIRUN -n 2 "$prefix/bin/bo_train" -data snaps.h5 -steps 4 -batch 8 -model unet-tiny -checkpoint ck.h5 > tr.txt \
  || { cat tr.txt; fail "bo_train on ex2's VecView snapshots"; }
grep -q "N = 24, Ny = 12, Nx = 12, C = 1" tr.txt || fail "bo_train read: $(grep -i fields tr.txt)"
grep -q "max count 200" tr.txt && fail "one cell holds every particle: the walk did not move them"
$MPIRUN -n 2 ./ex1 -checkpoint ck.h5 -member 3 -sample_steps 10 -ksp_rtol 1e-8 > ex1.txt || { cat ex1.txt; fail "ex1"; }
# every snapshot holds 200 particles, and members take their totals from the training set
grep -q "ex1: member 3 of ck.h5: 12 x 12 cells, total count 200\.; KSP CONVERGED_RTOL in [0-9]* iterations" ex1.txt \
  || fail "ex1: $(cat ex1.txt)"
echo ok
