#!/usr/bin/env bash
# ParaView reads our XDMF sidecars: pvpython opens FILE.xmf with its XDMF
# reader and every member's cells must equal the HDF5 file's, for a field
# of one component (3-D dataset) and of two (4-D), on a grid that is not
# square (an axis swap shows); and 3-D fields (4-D and 5-D datasets) as
# volumes, with a hyperslab broken on purpose once to see the check fail. Skipped (exit 77) without pvpython
# (Debian: python3-paraview; .ci/run installs it).
source "$(dirname "$0")/common.sh"
command -v pvpython > /dev/null || { echo "pvpython not found: install python3-paraview"; exit 77; }

# pv_cells XMF MEMBER ARRAY: the cell values ParaView gives that member's
# array, one a line, in VTK's cell order (x fastest, as our storage order).
cat > pv_cells.py << 'PY'
import sys
from paraview import servermanager as sm
from paraview.simple import XDMFReader
r = XDMFReader(FileNames=[sys.argv[1]])
r.UpdatePipelineInformation()
r.UpdatePipeline(r.TimestepValues[int(sys.argv[2])])
d = sm.Fetch(r)
if d.IsA("vtkMultiBlockDataSet"):
    d = d.GetBlock(0)
a = d.GetCellData().GetArray(sys.argv[3])
print("\n".join(str(int(a.GetValue(i))) for i in range(a.GetNumberOfTuples())))
PY
pv_cells() { pvpython pv_cells.py "$@" 2> pv_err.txt | grep -E '^[0-9]+$' || { cat pv_err.txt >&2; fail "pvpython $*"; }; }
# pv_dims XMF: the point dimensions (x y z) of member 0's grid
cat > pv_dims.py << 'PY'
import sys
from paraview import servermanager as sm
from paraview.simple import XDMFReader
r = XDMFReader(FileNames=[sys.argv[1]])
r.UpdatePipeline(0)
d = sm.Fetch(r)
if d.IsA("vtkMultiBlockDataSet"):
    d = d.GetBlock(0)
print("dims", *d.GetDimensions())
PY

# one component: 3 members of 12 x 8 (Nx x Ny)
$MPIRUN -n 2 "$BO_BIN/bo_datagen" -kind reservoir -nx 12 -ny 8 -n 3 -seed 4 -out one.h5 > /dev/null
[ -f one.xmf ] || fail "no one.xmf"
counts_values one.h5 > h5.txt
[ "$(wc -l < h5.txt)" = 288 ] || fail "one.h5 holds $(wc -l < h5.txt) values, not 3 x 96"
for k in 0 2; do
  pv_cells one.xmf $k counts > pv.txt
  sed -n "$((k * 96 + 1)),$((k * 96 + 96))p" h5.txt | cmp -s - pv.txt || fail "member $k: ParaView's cells differ"
done
# the check can fail: member 1's cells are not member 0's
pv_cells one.xmf 1 counts | cmp -s - <(sed -n 1,96p h5.txt) && fail "members 0 and 1 alike: the check is void"

# two components: 2 members of 5 x 4 x 2 from raw bytes (value = index % 7)
python3 -c "import sys; sys.stdout.buffer.write(bytes(i % 7 for i in range(2 * 4 * 5 * 2)))" > two.bin
"$BO_BIN/bo_convert" -format raw -in two.bin -dtype u8 -shape 4,5,2 -out two.h5 > /dev/null
[ -f two.xmf ] || fail "no two.xmf"
counts_values two.h5 > h5two.txt
for k in 0 1; do
  for c in 0 1; do
    # component c of member k: every second value of the member, from c
    sed -n "$((k * 40 + 1)),$((k * 40 + 40))p" h5two.txt | awk -v c=$c '(NR - 1) % 2 == c' > want.txt
    pv_cells two.xmf $k counts_$c | cmp -s - want.txt || fail "member $k component $c: ParaView's cells differ"
  done
done

# 3-D fields: 3 members of 4 x 6 x 5 (Nz x Ny x Nx), one component, and 2 of two
$MPIRUN -n 2 "$BO_BUILD/tests/progs/field3d_tool" -out v1.h5 -n 3 -nz 4 -ny 6 -nx 5 > /dev/null
$MPIRUN -n 2 "$BO_BUILD/tests/progs/field3d_tool" -out v2.h5 -n 2 -nz 4 -ny 6 -nx 5 -c 2 > /dev/null
[ -f v1.xmf ] && [ -f v2.xmf ] || fail "no v1.xmf or v2.xmf"
pvpython pv_dims.py v1.xmf 2> pv_err.txt | has "^dims 6 7 5$" || { cat pv_err.txt >&2; fail "v1.xmf is not a 5 x 6 x 4 cell volume"; }
counts_values v1.h5 > h5v1.txt
[ "$(wc -l < h5v1.txt)" = 360 ] || fail "v1.h5 holds $(wc -l < h5v1.txt) values, not 3 x 120"
for k in 0 1 2; do
  pv_cells v1.xmf $k counts > pv.txt
  sed -n "$((k * 120 + 1)),$((k * 120 + 120))p" h5v1.txt | cmp -s - pv.txt || fail "3-D member $k: ParaView's cells differ"
done
# the check can fail: member 1's hyperslab moved to member 0 on purpose
sed 's|>1 0 0 0 1 1 1 1 1 4 6 5<|>0 0 0 0 1 1 1 1 1 4 6 5<|' v1.xmf > broken.xmf
cmp -s v1.xmf broken.xmf && fail "could not break the hyperslab of member 1"
pv_cells broken.xmf 1 counts | cmp -s - <(sed -n 121,240p h5v1.txt) && fail "a broken hyperslab goes unnoticed: the check is void"
counts_values v2.h5 > h5v2.txt
for k in 0 1; do
  for c in 0 1; do
    sed -n "$((k * 240 + 1)),$((k * 240 + 240))p" h5v2.txt | awk -v c=$c '(NR - 1) % 2 == c' > want.txt
    pv_cells v2.xmf $k counts_$c | cmp -s - want.txt || fail "3-D member $k component $c: ParaView's cells differ"
  done
done
echo "ParaView reads one- and two-component sidecars, 2-D and 3-D, as the HDF5 files hold them"
