# Writes that fail part-way (here: a file-size limit, as a full disk would)
# give one error line naming the file and the reason, exit status 1 (no
# crash in HDF5's teardown), and leave neither the output nor its
# temporary file behind. Programs run as singletons: the limit (32 MB, above
# what Open MPI's own shared-memory files need) and the ignored SIGXFSZ
# reach them directly.
source "$(dirname "$0")/common.sh"

"$BO_BIN/bo_convert" -format csv -in "$BO_ROOT/inputs/digits/digits.csv.gz" -shape 8,8 -label_column 64 -n 40 \
  -out d.h5 > /dev/null
limited() { (trap '' XFSZ; ulimit -f 32000; "$@"); }
nothing_left() { # nothing_left NAME: no NAME, no NAME.tmp*, no HDF5 sidecar
  ls -a | has "^$1" && { ls -la; fail "$1 or its temporary file left behind"; }
  return 0
}

# the checkpoint writer: a network of 4.2 M parameters, a 68 MB checkpoint
expect_error "checkpoint big.h5: cannot write big.h5.tmp" limited "$BO_BIN/bo_train" -data d.h5 -steps 1 -batch 4 \
  -net_channels 128 -calibrate_members 0 -checkpoint big.h5
grep -q "File too large" err.txt || fail "checkpoint: no reason: $(cat err.txt)"
nothing_left big.h5

# the ensemble writer (MPI-IO), through bo_convert: 40 MB of counts
head -c 40000000 /dev/zero > zeros.raw
expect_error "cannot write rows 0..4000 of dataset /counts of z.h5.tmp" limited "$BO_BIN/bo_convert" -format raw \
  -dtype u8 -shape 100,100 -in zeros.raw -out z.h5
grep -q "MB free)" err.txt || fail "ensemble writer: no note on the free space: $(cat err.txt)"
nothing_left z.h5

# the XDMF sidecar, written after the .h5 is published (100000 members of 8 x 8:
# 6.4 MB of counts, 39 MB of XML), fails alike on every rank: one error line
# saying the .h5 is complete, status 1, no temporary left (mpirun resets the
# ignored SIGXFSZ, so each rank sets it itself)
head -c 6400000 /dev/zero > small.raw
expect_error "s.h5 is complete, but its XDMF sidecar s.xmf.tmp" $MPIRUN -n 2 sh -c \
  "trap '' XFSZ; ulimit -f 32000; exec '$BO_BIN/bo_convert' -format raw -dtype u8 -shape 8,8 -in small.raw -out s.h5"
grep -q "File too large" err.txt || fail "sidecar: no reason: $(cat err.txt)"
grep -q "ORTE_ERROR_LOG\|MPI_ABORT" err.txt && fail "sidecar: the job aborted: $(cat err.txt)"
test -s s.h5 || fail "sidecar: s.h5 was not kept"
nothing_left s.xmf

# the same runs without the limit succeed (the failures above were the limit's)
"$BO_BIN/bo_convert" -format raw -dtype u8 -shape 100,100 -in zeros.raw -out z.h5 > /dev/null || fail "bo_convert without the limit"
test -s z.h5 && test -s z.xmf || fail "no z.h5 and z.xmf"
# re-written without a sidecar, z.h5 loses the stale one; another file's stays
cp z.xmf other.xmf
"$BO_BIN/bo_convert" -format raw -dtype u8 -shape 100,100 -in zeros.raw -n 10 -io_xdmf 0 -out z.h5 > /dev/null
test -e z.xmf && fail "a stale z.xmf beside the re-written z.h5"
test -e other.xmf || fail "other.xmf removed"
echo ok
