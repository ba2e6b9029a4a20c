# bo_convert on every input format, including the digits data set.
source "$(dirname "$0")/common.sh"
CV="$BO_BIN/bo_convert"
INFO="$BO_BUILD/tests/progs/dataset_info"

# digits: gzip CSV, 64 pixels then the label
"$CV" -format csv -in "$BO_ROOT/inputs/digits/digits.csv.gz" -shape 8,8 -label_column 64 -out digits.h5 > log.txt
grep -q "wrote 1797 samples" log.txt || fail "digits: $(cat log.txt)"
$INFO -data digits.h5 | has "N=1797 field Ny=8 Nx=8 C=1 max=16 labels=1 classes=10" || fail "digits: $($INFO -data digits.h5)"
# images: row 0 is the top (row_order), which pictures honour; -row_order bottom_up leaves the attribute out
h5dump -a /row_order digits.h5 | has '"top_down"' || fail "digits: no row_order top_down"
"$CV" -format csv -in "$BO_ROOT/inputs/digits/digits.csv.gz" -shape 8,8 -label_column 64 -row_order bottom_up \
  -n 10 -out up.h5 > /dev/null
h5dump -a /row_order up.h5 > /dev/null 2>&1 && fail "-row_order bottom_up wrote row_order"
h5dump -H digits.h5 | has "H5T_STD_U8LE" || fail "digits not stored as u8"
# streamed in chunks of about 10 KB on 3 ranks: the same summary
$MPIRUN -n 3 $INFO -data digits.h5 -data_chunk_mb 0.01 | has "N=1797 field Ny=8 Nx=8 C=1 max=16 labels=1 classes=10" \
  || fail "streaming open"
# -max_count below the data's maximum is an error naming the first offender
$INFO -data digits.h5 -max_count 15 2> err.txt > /dev/null && fail "max_count not enforced"
grep -q "dataset_info: error: digits.h5: dataset counts: value at index (.*) is above the maximum count (-max_count) (16)" err.txt \
  || fail "max_count message: $(cat err.txt)"
# dropping the label column gives vectors of 64
"$CV" -format csv -in "$BO_ROOT/inputs/digits/digits.csv.gz" -drop_column 64 -out dv.h5 > /dev/null
$INFO -data dv.h5 | has "N=1797 vector G=64 max=16 labels=0" || fail "drop_column"

# idx, gzip: 3 images of 2 x 2 and their labels
printf '\x00\x00\x08\x03\x00\x00\x00\x03\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\xc8' | gzip > img.gz
printf '\x00\x00\x08\x01\x00\x00\x00\x03\x02\x00\x05' > lab.idx
"$CV" -format idx -in img.gz -labels lab.idx -out idx.h5 > /dev/null
$INFO -data idx.h5 | has "N=3 field Ny=2 Nx=2 C=1 max=200 labels=1 classes=6" || fail "idx: $($INFO -data idx.h5)"

# raw big-endian u16 with a 2-byte header: 2 vectors of 3
printf '\xff\xff\x01\x00\x00\x02\x00\x03\x00\x04\x00\x05\x00\x06' > be.raw
"$CV" -format raw -dtype u16 -endian big -offset 2 -shape 3 -in be.raw -out raw.h5 > /dev/null
$INFO -data raw.h5 | has "N=2 vector G=3 max=256 labels=0" || fail "raw: $($INFO -data raw.h5)"
h5dump -d counts raw.h5 | has "256, 2, 3" || fail "raw values"

# AnnData CSR and 10x
"$BO_BUILD/tests/progs/make_anndata" ad.h5ad
"$CV" -format anndata -in ad.h5ad -out ad.h5 > /dev/null
$INFO -data ad.h5 | has "N=7 vector G=5 max=9 labels=1 classes=2" || fail "anndata: $($INFO -data ad.h5)"
"$BO_BUILD/tests/progs/make_anndata" tenx.h5 tenx
$MPIRUN -n 2 "$CV" -format anndata -in tenx.h5 -in_name matrix -out tx.h5 > /dev/null
h5diff tx.h5 ad.h5 /counts /counts || fail "10x and AnnData differ"

# patches: 8 x 8 digits cut into 4 x 4 patches at stride 4 -> 4 per image
"$CV" -format csv -in "$BO_ROOT/inputs/digits/digits.csv.gz" -shape 8,8 -label_column 64 -patch 4 -stride 4 -out patches.h5 > /dev/null
$INFO -data patches.h5 | has "N=7188 field Ny=4 Nx=4" || fail "patches"

# compressed output reads back the same
"$CV" -format csv -in "$BO_ROOT/inputs/digits/digits.csv.gz" -shape 8,8 -label_column 64 -io_deflate 6 -out z.h5 > /dev/null
h5diff z.h5 digits.h5 /counts /counts || fail "deflate changed the data"
# a held-out split: the last 297 samples, the same on 1 and 3 ranks
"$CV" -format csv -in "$BO_ROOT/inputs/digits/digits.csv.gz" -shape 8,8 -label_column 64 -holdout 297 -holdout_out h1.h5 -out t1.h5 > /dev/null
$MPIRUN -n 3 "$CV" -format csv -in "$BO_ROOT/inputs/digits/digits.csv.gz" -shape 8,8 -label_column 64 -holdout 297 -holdout_out h3.h5 -out t3.h5 > /dev/null
"$BO_BUILD/tests/progs/dataset_info" -data t1.h5 | has "N=1500 " || fail "training part"
"$BO_BUILD/tests/progs/dataset_info" -data h1.h5 | has "N=297 " || fail "held-out part"
h5diff h1.h5 h3.h5 /counts /counts && h5diff t3.h5 t1.h5 /labels /labels || fail "holdout split differs on 3 ranks"
# -n keeps the first N: here 1000, of which the last 200 are held out
"$CV" -format csv -in "$BO_ROOT/inputs/digits/digits.csv.gz" -shape 8,8 -label_column 64 -n 1000 -holdout 200 -holdout_out hn.h5 -out tn.h5 > /dev/null
"$BO_BUILD/tests/progs/dataset_info" -data tn.h5 | has "N=800 " || fail "-n: training part"
"$BO_BUILD/tests/progs/dataset_info" -data hn.h5 | has "N=200 " || fail "-n: held-out part"
h5dump -d /counts -s "0,0,0" -c "800,8,8" t1.h5 | sed -n '/DATA {/,$p' > a.txt
h5dump -d /counts -s "0,0,0" -c "800,8,8" tn.h5 | sed -n '/DATA {/,$p' > b.txt
test -s a.txt || fail "-n: h5dump printed no data"
cmp -s a.txt b.txt || fail "-n: not the first samples"
# -shuffle_seed: a random split. Training and held-out parts together are the
# input's members (each with its label), in another order; the same on 1 and
# 3 ranks; another seed gives another order.
values() { # values() FILE DATASET: its values, one per line
  h5dump -d "$2" -y -m %d "$1" | sed -n '/DATA {/,/^   }/{p;/^   }/q}' | tr -dc '0-9,' | tr ',' '\n' | grep .
}
rows() { # one line per member: its label, then its 64 counts
  paste -d' ' <(values "$1" /labels) <(values "$1" /counts | paste -d' ' $(printf -- '- %.0s' $(seq 64)))
}
split() { # split SEED RANKS TRAIN HELDOUT
  $MPIRUN -n "$2" "$CV" -format csv -in "$BO_ROOT/inputs/digits/digits.csv.gz" -shape 8,8 -label_column 64 \
    -shuffle_seed "$1" -holdout 297 -holdout_out "$4" -out "$3" > /dev/null
}
split 1 1 s1t.h5 s1h.h5 && split 1 3 s3t.h5 s3h.h5 && split 2 1 s2t.h5 s2h.h5 || fail "-shuffle_seed: bo_convert failed"
rows digits.h5 > all.txt
cat <(rows s1t.h5) <(rows s1h.h5) > shuf.txt
test "$(wc -l < all.txt)" = 1797 && test "$(wc -w < all.txt)" = $((1797 * 65)) || fail "-shuffle_seed: rows of the input"
cmp -s all.txt shuf.txt && fail "-shuffle_seed 1: the input's order"
cmp -s <(sort all.txt) <(sort shuf.txt) || fail "-shuffle_seed 1: not a permutation of the members with their labels"
h5diff s1t.h5 s3t.h5 /counts /counts && h5diff s1h.h5 s3h.h5 /labels /labels || fail "-shuffle_seed: 1 and 3 ranks differ"
h5diff -q s1h.h5 s2h.h5 /counts /counts && fail "-shuffle_seed 2 gives the order of seed 1"
h5dump -a /shuffle_seed s1h.h5 | has "(0): 1" || fail "-shuffle_seed not recorded"
echo ok
