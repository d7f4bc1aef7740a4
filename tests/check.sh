#!/bin/sh
# The full check: unit tests with gcc, again under ASan+UBSan, a warning-free clang build, and a
# short run of every fuzz target. Ends with one line "check: N passed, N failed".
set -u
passed=0; failed=0
log=$(mktemp -d)

# step NAME COMMAND... : runs a step; test steps add their "N passed, N failed" totals.
step() {
    name=$1; shift
    echo "=== $name: $*"
    "$@" >"$log/$name.out" 2>&1; rc=$?
    tail -n 60 "$log/$name.out"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log/$name.out" | tail -n 1)
    if [ -n "$line" ]; then
        p=${line%% passed*}; f=${line##*, }; f=${f%% failed}
        passed=$((passed + p)); failed=$((failed + f))
        [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && failed=$((failed + 1))
    elif [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
    else
        echo "=== $name FAILED (exit $rc)"; failed=$((failed + 1))
    fi
}

# Node.js packages of the server test (openai, playwright-core) from the npm registry
if [ ! -d tests/server/node_modules ]; then
    step npm sh -c 'cd tests/server && npm ci --no-audit --no-fund'
fi
step test make -j2 test
step sanitize make -j2 sanitize
step clang make -j2 check-clang
step fuzz sh fuzz/run.sh "${FUZZ_SECONDS:-20}"
rm -rf "$log"
echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
