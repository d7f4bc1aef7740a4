#!/bin/sh
# The aarch64 check: a cross build (Debian gcc-aarch64-linux-gnu) of the library, the rwkv
# command and every test with the usual -Werror flags, then every test program run under
# qemu-aarch64 (Debian qemu-user). Prints "N passed, N failed" like tests/run.sh.
#
# The rwkv command links libedit, libmicrohttpd, libjansson and libhiredis: their arm64 -dev packages come
# from Debian multiarch (tests/setup.sh installs them). Without them only the library and the
# tests that do not run the command are built; the others are reported as SKIP lines (not
# counted as passed).
set -u
B=${BUILD_ARM:-build-arm}
CC_ARM=${CC_ARM:-aarch64-linux-gnu-gcc}
root=$(pwd)

fail() { echo "FAIL cross: $*"; echo "0 passed, 1 failed"; exit 1; }
command -v "$CC_ARM" >/dev/null 2>&1 ||
    fail "$CC_ARM not found (Debian gcc-aarch64-linux-gnu; tests/setup.sh installs it)"
command -v qemu-aarch64 >/dev/null 2>&1 ||
    fail "qemu-aarch64 not found (Debian qemu-user; tests/setup.sh installs it)"

# The arm64 libc and libraries qemu loads: Debian multiarch's when installed (they come with the
# arm64 -dev packages; mixing its libraries with the cross toolchain's loader hangs), else the
# cross toolchain's.
if [ -e /lib/ld-linux-aarch64.so.1 ]; then QEMU_LD_PREFIX=/; else QEMU_LD_PREFIX=/usr/aarch64-linux-gnu; fi
export QEMU_LD_PREFIX

ARM_LIBDIR=${ARM_LIBDIR:-/usr/lib/aarch64-linux-gnu}
# The library itself links jansson (its JSON Schema converter): without the arm64 package
# nothing links, so that is a failure, not a SKIP.
[ -e "$ARM_LIBDIR/libjansson.so" ] ||
    fail "the arm64 libjansson.so is missing in $ARM_LIBDIR (Debian libjansson-dev:arm64; tests/setup.sh installs it): the library links jansson"
tools=1
for lib in edit microhttpd jansson hiredis; do
    [ -e "$ARM_LIBDIR/lib$lib.so" ] || tools=0
done
if [ "$tools" = 1 ]; then
    targets="all tests"
else
    # only the library and the test programs that do not run the command (test_rwkv_bin)
    targets="$B/librwkv.a"
    for src in tests/test_*.c; do
        name=${src#tests/}; name=${name%.c}
        if grep -q 'test_rwkv_bin()' "$src"; then
            rm -f "$B/tests/$name" # not run: none from an earlier build either
            echo "SKIP $name: runs the rwkv command, not built for aarch64: the arm64 packages" \
                 "libedit-dev, libmicrohttpd-dev, libjansson-dev, libhiredis-dev are missing (tests/setup.sh)"
        else
            targets="$targets $B/tests/$name"
        fi
    done
fi

echo "building for aarch64 with $CC_ARM in $B"
mkdir -p "$B"
if ! make -j2 CC="$CC_ARM" BUILD="$B" $targets >"$B/build.log" 2>&1; then
    grep -E 'error|Error' "$B/build.log" | head -n 30
    fail "the aarch64 build failed (log: $B/build.log)"
fi

# The Vulkan tests need a Vulkan driver: none runs under qemu here (the x86 run tests the backend
# on lavapipe), so they are SKIP lines, not passes.
for t in "$B"/tests/test_vulkan*; do
    [ -e "$t" ] || continue
    rm -f "$t"
    echo "SKIP ${t##*/}: no arm64 Vulkan driver under qemu (the x86 run tests the Vulkan backend)"
done

# The tests run the rwkv command as $BUILD/rwkv: there a script runs the aarch64 binary under
# qemu (the kernel here has no binfmt entry for it).
run=$B/qemu
mkdir -p "$run"
ln -sfn ../tests "$run/tests"
printf '#!/bin/sh\nexec qemu-aarch64 "%s" "$@"\n' "$root/$B/rwkv" >"$run/rwkv"
chmod +x "$run/rwkv"
# test_grammar_gen's 200 random-model generations per grammar take ~18 minutes under qemu: 10 here
# (the grammar code is portable C; the x86 step runs all 200).
echo "SKIP part of test_grammar_gen: 10 of 200 generations per grammar under qemu (all 200 in the x86 step)"
# The Node.js scripts drive a server that runs under qemu: 10 minutes each instead of 2.
BUILD=$run RUNNER=qemu-aarch64 RWKV_TEST_GENERATIONS=10 RWKV_TEST_NODE_TIMEOUT=600 sh tests/run.sh
