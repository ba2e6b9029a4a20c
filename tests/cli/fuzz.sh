# A bounded fuzz test (fixed seeds, about 30 s): mutated CSV, idx, GRDECL, HDF5 data
# and checkpoints through the readers. Each mutant must end in exit status 0
# or 1 (never a signal, a hang or another status), an error must be one line,
# and a failed run must leave no output under the final name.
source "$(dirname "$0")/common.sh"
RANDOM=20261201 # bash's generator, seeded: the same mutants every run

gzip -dc "$BO_ROOT/inputs/digits/digits.csv.gz" > all.csv && head -60 all.csv > seed.csv
"$BO_BIN/bo_convert" -format csv -in seed.csv -shape 8,8 -label_column 64 -out seed.h5 > /dev/null
"$BO_BIN/bo_train" -data seed.h5 -steps 2 -batch 8 -model unet-tiny -checkpoint seed_ck.h5 -checkpoint_every 0 > /dev/null
printf '\x00\x00\x08\x03\x00\x00\x00\x03\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\xc8' > seed.idx

# mutate SRC DST: one of: flip 1-8 bytes, truncate, or overwrite a run with garbage
mutate() {
  local size pos n
  cp "$1" "$2"
  size=$(stat -c %s "$2")
  case $((RANDOM % 3)) in
  0) for n in $(seq $((1 + RANDOM % 8))); do
       pos=$(((RANDOM * 32768 + RANDOM) % size))
       printf "\\x$(printf %02x $((RANDOM % 256)))" | dd of="$2" bs=1 seek=$pos conv=notrunc 2> /dev/null
     done ;;
  1) truncate -s $(((RANDOM * 32768 + RANDOM) % size)) "$2" ;;
  2) pos=$(((RANDOM * 32768 + RANDOM) % size))
     head -c $((1 + RANDOM % 64)) /dev/urandom | dd of="$2" bs=1 seek=$pos conv=notrunc 2> /dev/null ;;
  esac
}

# run OUT CMD...: the status must be 0 or 1; after 1, one error line and no OUT
run() {
  local out=$1 status=0; shift
  rm -f "$out"
  timeout 20 "$@" > o.txt 2> e.txt || status=$?
  case $status in
  0) ;;
  1) [ "$(grep -c ': error: ' e.txt)" = 1 ] || { cat e.txt; fail "not one error line: $*"; }
     [ -e "$out" ] && fail "a failed run left $out: $*"
     ls | has "^$out\.tmp" && fail "a failed run left a temporary $out file: $*" ;;
  *) cat e.txt; fail "exit status $status (124: a hang; > 128: a signal): $*" ;;
  esac
  grep -q "Caught signal" e.txt && { cat e.txt; fail "a crash: $*"; }
  [ $status = 0 ] && ok=$((ok + 1)) || bad=$((bad + 1))
}

ok=0 bad=0
for i in $(seq 16); do
  mutate seed.csv m.csv
  run m.h5 "$BO_BIN/bo_convert" -format csv -in m.csv -shape 8,8 -label_column 64 -out m.h5
  mutate seed.idx m.idx
  run m2.h5 "$BO_BIN/bo_convert" -format idx -in m.idx -out m2.h5
  mutate seed.h5 md.h5
  run m3.h5 "$BO_BIN/bo_convert" -format anndata -in md.h5 -in_name counts -out m3.h5
  run mt.h5 "$BO_BIN/bo_train" -data md.h5 -steps 1 -batch 4 -model unet-tiny -checkpoint mt.h5 -checkpoint_every 0
  mutate seed_ck.h5 mc.h5
  run me.h5 "$BO_BIN/bo_sample" -checkpoint mc.h5 -n 2 -sample_steps 2 -out me.h5
done
# GRDECL text (after the others, so their mutants stay the same)
printf -- '-- seed\nGRID\nSPECGRID\n 4 3 2 1 F /\nPERMX\n 1 2 3 4 5 6 7 8 9 10 11 12\n 12*2 /\nACTNUM\n 4*1 0 19*1 /\n' > seed.grdecl
for i in $(seq 16); do
  mutate seed.grdecl m.grdecl
  run m4.h5 "$BO_BIN/bo_convert" -format grdecl -in m.grdecl -out m4.h5
done
echo "fuzz: $ok mutants read, $bad refused with one error line, none crashed"
[ $bad -gt 0 ] || fail "no mutant was refused: the mutations do nothing"
