#!/bin/sh
# bench/types.sh — the per-weight-type table of docs/FORMATS.md: file size and `rwkv bench`
# decode/prefill medians for the 0.1B and 1.5B RWKV-7 shapes in every weight type.
# Makes the models it lacks (random weights, `rwkv init`, then `rwkv quantize`) under
# bench/models/ (git-ignored; ~12 GB for both shapes). One JSON line per model on stdout.
# Usage: bench/types.sh [SHAPES (default "0.1b 1.5b")] [TYPES (default "fp16 bf16 int8 q5_1 q4_0 nf4")]
set -eu
cd "$(dirname "$0")/.."
RWKV=${RWKV:-./build/rwkv}
SHAPES=${1:-"0.1b 1.5b"}
TYPES=${2:-"fp16 bf16 int8 q5_1 q4_0 nf4"}
mkdir -p bench/models/q
for s in $SHAPES; do
    for t in $TYPES; do
        case $t in
        fp16 | bf16 | fp32)
            f=bench/models/$s-$t.pth
            [ -f "$f" ] || "$RWKV" init --shape "$s" --dtype "$t" --seed 1 "$f" >&2 ;;
        *)
            src=bench/models/$s-fp16.pth
            [ -f "$src" ] || "$RWKV" init --shape "$s" --dtype fp16 --seed 1 "$src" >&2
            f=bench/models/q/$s-$t.gguf
            [ -f "$f" ] || "$RWKV" quantize "$src" "$f" --type "$t" >&2 ;;
        esac
        if [ "$s" = 0.1b ]; then gen=128; else gen=32; fi
        "$RWKV" bench "$f" --prompt 512 --gen "$gen" --reps 3 --json
    done
done
