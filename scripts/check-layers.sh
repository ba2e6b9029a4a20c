#!/usr/bin/env bash
# The layering rule of docs/ARCHITECTURE.md, checked on every #include "...":
# a file of src/<layer>/ may include the public headers of its own layer and
# of lower layers, and the private *impl.h headers of its own folder; layers
# of the same rank (core and viz; data and sim; train, sample and eval) do
# not include each other. include/*.h follow the same rule with the layer of
# the table below; apps/ and tests/ may use any public header but no private
# one. A header missing from the table is an error too, so that a new one is
# placed on purpose.
#   scripts/check-layers.sh [ROOT]      (default: the repository)
# Prints one line per violation and exits 1 if there is any.
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 2

rank_of() {
  case $1 in
    sys) echo 0 ;;
    core | viz) echo 1 ;;
    nn) echo 2 ;;
    model) echo 3 ;;
    data | sim) echo 4 ;;
    ckpt) echo 5 ;;
    train | sample | eval) echo 6 ;;
    apps) echo 7 ;;
    *) echo -1 ;;
  esac
}

layer_of_header() {
  case $1 in
    bo_sys.h | bo_h5.h) echo sys ;;
    bo_rng.h | bo_process.h) echo core ;;
    bo_png.h) echo viz ;;
    bo_nn.h) echo nn ;;
    bo_model.h) echo model ;;
    bo_dataset.h | bo_io.h | bo_ensemble.h) echo data ;;
    bo_sim.h | bo_darcy.h) echo sim ;;
    bo_checkpoint.h) echo ckpt ;;
    bo_trainer.h) echo train ;;
    bo_sampler.h) echo sample ;;
    bo_metrics.h) echo eval ;;
    blackout.h) echo apps ;;
    *) echo unknown ;;
  esac
}

bad=0
say() { echo "layers: $*"; bad=1; }

# check FILE LAYER: every quoted include of FILE against LAYER
check() {
  local file=$1 layer=$2 dir h hl r rh
  dir=$(dirname "$file")
  r=$(rank_of "$layer")
  while read -r h; do
    case $h in
      *impl.h)
        [ -f "$dir/$h" ] || say "$file includes $h, a private header of another folder"
        continue ;;
    esac
    if [ ! -f "include/$h" ]; then
      [ -f "$dir/$h" ] || say "$file includes \"$h\", which is neither public (include/) nor beside it"
      continue
    fi
    hl=$(layer_of_header "$h")
    [ "$hl" = unknown ] && { say "include/$h is not in the layer table of scripts/check-layers.sh"; continue; }
    rh=$(rank_of "$hl")
    if [ "$hl" != "$layer" ] && [ "$rh" -ge "$r" ]; then
      say "$file (layer $layer, rank $r) includes $h (layer $hl, rank $rh): dependencies must point down"
    fi
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$file")
}

for d in src/*/; do
  layer=$(basename "$d")
  [ "$(rank_of "$layer")" -ge 0 ] || { say "src/$layer is not a layer of scripts/check-layers.sh"; continue; }
  for f in "$d"*.c "$d"*.h; do [ -e "$f" ] && check "$f" "$layer"; done
done
for f in include/*.h; do
  layer=$(layer_of_header "$(basename "$f")")
  [ "$layer" = unknown ] && { say "$f is not in the layer table of scripts/check-layers.sh"; continue; }
  check "$f" "$layer"
done
for f in apps/*.c tests/*.c tests/*/*.c; do
  [ -e "$f" ] || continue
  while read -r h; do
    case $h in *impl.h) say "$f includes $h: programs and tests use the public headers only" ;; esac
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done
[ "$bad" = 0 ] && echo "layers: every include points down ($(ls src/*/*.[ch] include/*.h | wc -l) files)"
exit "$bad"
