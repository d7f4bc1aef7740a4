#!/bin/sh
# bench/grammar.sh — mask cost of grammar-constrained sampling per token against decode time
# (docs/GRAMMAR.md): builds bench/grammar_mask.c against build/librwkv.a, makes random RWKV-7
# models of the 0.1B and 1.5B shapes (fp16, `rwkv init`, in $TMPDIR; deleted afterwards) and
# prints one JSON line per run.
# Usage: bench/grammar.sh [SHAPES (default "0.1b 1.5b")]   (env: RWKV_SHARED, THREADS, SEQS)
set -eu
cd "$(dirname "$0")/.."
SHAPES=${1:-"0.1b 1.5b"}
VOCAB=${RWKV_SHARED:-../shared}/data/rwkv_vocab_v20230424.txt
THREADS=${THREADS:-0}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s build/librwkv.a build/rwkv
cc -std=c11 -D_GNU_SOURCE -O2 -Iinclude -o "$tmp/grammar_mask" bench/grammar_mask.c build/librwkv.a \
    -lm -pthread -ljansson
for s in $SHAPES; do
    ./build/rwkv init --shape "$s" --dtype fp16 --seed 1 "$tmp/$s.pth" >&2
    if [ "$s" = 0.1b ]; then seqs=${SEQS:-16}; gen=256; else seqs=${SEQS:-2}; gen=128; fi
    "$tmp/grammar_mask" "$tmp/$s.pth" "$VOCAB" --threads "$THREADS" --seqs "$seqs" --gen "$gen"
    [ "$s" = 0.1b ] && "$tmp/grammar_mask" "$tmp/$s.pth" "$VOCAB" --threads "$THREADS" --seqs "$seqs" --gen "$gen" --shared
    rm -f "$tmp/$s.pth"
done
