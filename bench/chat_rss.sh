#!/bin/sh
# chat_rss.sh — manual check that `rwkv chat` keeps a flat memory footprint over a long
# conversation: feeds TURNS scripted messages through the pipe mode and prints the resident set
# size (VmRSS, from /stats) after turn 1, 10, 100 and the last one.
# usage: bench/chat_rss.sh [RWKV_BINARY [MODEL [TURNS [MAX_REPLY_TOKENS]]]]
#   defaults: build/rwkv, ../shared/models/tiny-rwkv-7v0-834K.pth, 1000 turns, 16 tokens per reply
set -eu
BIN=${1:-build/rwkv}
MODEL=${2:-${RWKV_SHARED:-../shared}/models/tiny-rwkv-7v0-834K.pth}
TURNS=${3:-1000}
NTOK=${4:-16}
in=$(mktemp)
trap 'rm -f "$in"' EXIT
i=1
while [ "$i" -le "$TURNS" ]; do
    echo "Message number $i: tell me something about the number $i."
    case $i in 1|10|100|"$TURNS") echo "/stats" ;; esac
    i=$((i + 1))
done >"$in"
start=$(date +%s)
"$BIN" chat -m "$MODEL" --plain --temperature 0 -n "$NTOK" --threads 1 <"$in" |
    grep '^tokens: ' | sed -E 's/^tokens: ([0-9]+), turns: ([0-9]+),.* rss: ([0-9-]+) kB$/turn \2: \1 tokens in the state, VmRSS \3 kB/'
echo "($TURNS turns in $(( $(date +%s) - start )) s)"
