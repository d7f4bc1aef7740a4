#!/bin/sh
# Builds the libFuzzer targets and runs each for $1 seconds (default 20) on a seed corpus made
# from the shared models and data. Prints "N passed, N failed" (one per target).
set -u
secs=${1:-20}
shared=${RWKV_SHARED:-../shared}
make fuzz >/dev/null || { echo "fuzz build failed"; echo "0 passed, 1 failed"; exit 1; }
passed=0; failed=0
for bin in build-fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=${bin#build-fuzz/fuzz_}
    corpus=$(mktemp -d)
    case $name in
        pth) cp "$shared"/models/*.pth "$corpus"/ 2>/dev/null ;;
        vocab) head -c 200000 "$shared/data/rwkv_vocab_v20230424.txt" >"$corpus/vocab"
               printf "1 'a' 1\n2 b'\\\\x80' 1\n" >"$corpus/small" ;;
        grammar) cp fuzz/corpus/grammar/* "$corpus"/ ;;
        json_schema) cp fuzz/corpus/json_schema/* "$corpus"/ ;;
        *) for f in "$shared"/models/*"$name"* ; do [ -f "$f" ] && cp "$f" "$corpus"/; done ;;
    esac
    if "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=4194304 -timeout=20 \
        -artifact_prefix="$corpus/" "$corpus" >"$corpus/log" 2>&1; then
        echo "fuzz_$name: $(grep -E '^Done|stat::number_of_executed_units' "$corpus/log" | tail -n 1)"
        passed=$((passed + 1))
    else
        echo "fuzz_$name FAILED:"; tail -n 40 "$corpus/log"
        failed=$((failed + 1))
    fi
    rm -rf "$corpus"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
