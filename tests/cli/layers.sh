# The layering check (scripts/check-layers.sh): the tree passes, and copies
# with a deliberate violation of each kind fail, naming the file.
source "$(dirname "$0")/common.sh"
CHECK="$BO_ROOT/scripts/check-layers.sh"
"$CHECK" "$BO_ROOT" > ok.txt || { cat ok.txt; fail "the tree breaks its own layering"; }

fresh() { rm -rf tree && mkdir tree && cp -r "$BO_ROOT/src" "$BO_ROOT/include" "$BO_ROOT/apps" "$BO_ROOT/tests" tree/; }
# violate FILE LINE: a fresh copy of the tree with LINE appended to FILE must fail naming FILE
violate() {
  fresh
  echo "$2" >> "tree/$1"
  if "$CHECK" tree > bad.txt; then fail "not caught: $2 in $1"; fi
  grep -q "$1" bad.txt || { cat bad.txt; fail "the message does not name $1"; }
}
violate src/data/merge.c '#include "bo_sampler.h"'     # upwards
violate src/eval/report.c '#include "bo_sampler.h"'    # a peer of the same rank
violate src/train/trainer.c '#include "modelimpl.h"'   # another layer's private header
violate include/bo_nn.h '#include "bo_model.h"'        # a public header upwards
violate apps/bo_eval.c '#include "nnimpl.h"'           # a program reaching inside
fresh && mkdir tree/src/extra && touch tree/src/extra/x.c
if "$CHECK" tree > bad.txt; then fail "an unknown layer folder passed"; fi
fresh && touch tree/include/bo_new.h
if "$CHECK" tree > bad.txt; then fail "a public header missing from the layer table passed"; fi
echo "layers: ok"
