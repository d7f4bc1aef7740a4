#!/bin/sh
# The full check: unit tests with gcc, again under ASan+UBSan, a warning-free clang build, the
# shared library and make install, the Python package's tests, the aarch64 cross build with every
# test program run under qemu, and a short run of every fuzz target. Ends with every FAIL and SKIP
# line of every step (whatever each step's tail showed) and one line "check: N passed, N failed".
set -u
passed=0; failed=0
log=$(mktemp -d)
: >"$log/lines"

# Lines of a step's output that the summary repeats: failed checks (FAIL ...), test programs
# that crashed or failed without a FAIL line, failed fuzz targets and pytest items, skips.
LINES_RE='^FAIL|^SKIP |^(FAILED|ERROR) |crashed or printed no summary|with no failed check| FAILED'

# step NAME COMMAND... : runs a step; test steps add their "N passed, N failed" totals.
step() {
    name=$1; shift
    echo "=== $name: $*"
    start=$(date +%s)
    "$@" >"$log/$name.out" 2>&1; rc=$?
    tail -n 60 "$log/$name.out"
    echo "=== $name: exit $rc after $(($(date +%s) - start)) s"
    grep -E "$LINES_RE" "$log/$name.out" | sed "s/^/$name: /" >>"$log/lines"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log/$name.out" | tail -n 1)
    if [ -n "$line" ]; then
        p=${line%% passed*}; f=${line##*, }; f=${f%% failed}
        passed=$((passed + p)); failed=$((failed + f))
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            echo "$name: FAILED (exit $rc with 0 failed)" | tee -a "$log/lines"
            failed=$((failed + 1))
        fi
    elif [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
    else
        echo "$name: FAILED (exit $rc, no summary line)" | tee -a "$log/lines"
        failed=$((failed + 1))
    fi
}

# Node.js packages of the server test (openai, playwright-core) from the npm registry
if [ ! -d tests/server/node_modules ]; then
    step npm sh -c 'cd tests/server && npm ci --no-audit --no-fund'
fi
step test make -j2 test
step sanitize make -j2 sanitize
step clang make -j2 check-clang
step install make test-install
step python make test-python
step cross sh tests/cross.sh
step fuzz sh fuzz/run.sh "${FUZZ_SECONDS:-20}"
echo "=== every FAIL and SKIP line of every step:"
if [ -s "$log/lines" ]; then awk '!seen[$0]++' "$log/lines"; else echo "(none)"; fi
rm -rf "$log"
echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
