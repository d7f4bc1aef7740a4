#!/bin/sh
# Runs every test program in $BUILD/tests and prints the total as "N passed, N failed".
# For each program: every FAIL line of its output (however long the output), then its last 40
# lines. RUNNER (optional) is a command the programs run under (e.g. qemu-aarch64).
BUILD=${BUILD:-build}
export BUILD
total_p=0; total_f=0
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=${t##*/}
    start=$(date +%s)
    out=$(${RUNNER:-} "$t" 2>&1); rc=$?
    secs=$(($(date +%s) - start))
    # FAIL lines above the last 40 lines, which follow
    printf '%s\n' "$out" | head -n -40 | grep -E '^FAIL'
    printf '%s\n' "$out" | tail -n 40
    echo "($name: $secs s)"
    line=$(printf '%s\n' "$out" | grep -E '^[a-z_0-9]+: [0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ -z "$line" ]; then
        echo "$t: crashed or printed no summary (exit $rc)"
        total_f=$((total_f + 1)); continue
    fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
    total_p=$((total_p + p)); total_f=$((total_f + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "$t: exit $rc with no failed check"; total_f=$((total_f + 1))
    fi
done
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
