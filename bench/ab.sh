#!/bin/sh
# Before/after speed of two builds of the rwkv command on the same models, in one run:
#   bench/ab.sh OLD_RWKV NEW_RWKV [ROUNDS] MODEL...
# Each round runs `rwkv bench --json` of OLD then NEW on every model (alternating, so a drift of
# the machine's speed hits both alike). Prints, per model, the medians over the rounds of decode
# and prefill tok/s (each round's figure is itself the median of --reps repetitions) and the
# ratio NEW/OLD of the medians. Extra bench options go in $BENCH_ARGS (default: 2 threads,
# 512-token prompt, 128 decode steps, 5 repetitions).
set -eu
[ $# -ge 3 ] || { echo "usage: bench/ab.sh OLD_RWKV NEW_RWKV [ROUNDS] MODEL..." >&2; exit 2; }
old=$1; new=$2; shift 2
rounds=3
case $1 in *[!0-9]*) ;; *) rounds=$1; shift ;; esac
args=${BENCH_ARGS:---threads 2 --reps 5 --gen 128 --bw-mb 64}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
r=1
while [ "$r" -le "$rounds" ]; do
    for m in "$@"; do
        for side in old new; do
            bin=$old; [ "$side" = new ] && bin=$new
            # shellcheck disable=SC2086
            "$bin" bench -m "$m" $args --json 2>/dev/null |
                python3 -c 'import json,sys; j=json.load(sys.stdin); print(sys.argv[1], sys.argv[2], j["decode_tok_s"], j["prefill_tok_s"])' "$side" "$m" >>"$out"
        done
    done
    r=$((r + 1))
done
python3 - "$out" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
models = list(dict.fromkeys(r[1] for r in rows))
print(f"{'model':40} {'decode old':>11} {'new':>9} {'new/old':>8} {'prefill old':>12} {'new':>9} {'new/old':>8}")
for m in models:
    med = {s: [statistics.median(float(r[k]) for r in rows if r[0] == s and r[1] == m) for k in (2, 3)]
           for s in ("old", "new")}
    print(f"{m:40} {med['old'][0]:11.2f} {med['new'][0]:9.2f} {med['new'][0] / med['old'][0]:8.3f} "
          f"{med['old'][1]:12.1f} {med['new'][1]:9.1f} {med['new'][1] / med['old'][1]:8.3f}")
EOF
