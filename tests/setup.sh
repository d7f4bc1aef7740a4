#!/usr/bin/env bash
# Installs (as root, with apt-get) what `make check` needs and this Debian 12 machine lacks, and
# nothing else: every package below is checked first, and only the missing ones are installed.
# `.ci/run` calls it before `make check`.
set -euo pipefail

need=()
# want PACKAGE...: each PACKAGE that dpkg does not list as installed.
want() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -qx 'install ok installed' ||
            need+=("$p")
    done
}
# want_cmd COMMAND PACKAGE: PACKAGE when COMMAND is not on PATH. For programs that may come from
# outside Debian: the machine's Node.js (nodesource) ships its own npm and conflicts with
# Debian's npm package, so npm is installed only where no npm exists at all.
want_cmd() { command -v "$1" >/dev/null 2>&1 || need+=("$2"); }

# The library (jansson: the JSON Schema converter), the rwkv command (chat: libedit; serve:
# libmicrohttpd, jansson; hiredis below) and the clang build
want build-essential make clang pkg-config libedit-dev libmicrohttpd-dev libjansson-dev
# libFuzzer's runtime (make fuzz); any LLVM version's
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
    need+=(libclang-rt-dev)
# The server test (tests/test_server.c, tests/server/*.mjs): curl, Node.js + npm, Chromium
want curl chromium
want_cmd node nodejs
want_cmd npm npm
# The Vulkan backend: headers and loader, Mesa's software device (lavapipe), the shader compiler
want libvulkan-dev mesa-vulkan-drivers glslc vulkan-validationlayers
# The multi-replica server: hiredis, and Redis and nginx for its tests
want libhiredis-dev redis-server nginx
# The Python package's tests run with Debian's python3 (pytest, numpy; venv for pip install)
want python3 python3-pytest python3-numpy python3-venv
# The aarch64 cross build and its run under qemu (tests/cross.sh)
want gcc-aarch64-linux-gnu qemu-user

export DEBIAN_FRONTEND=noninteractive
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}"
    apt-get update -q
    apt-get install -y -q "${need[@]}"
else
    echo "setup: every package is present"
fi

# The aarch64 build of the rwkv command links the arm64 builds of its libraries (Debian
# multiarch; they bring the arm64 libc that qemu-aarch64 then loads). Where they cannot be
# installed, tests/cross.sh builds the library and tests only and prints SKIP lines for the
# test programs that run the command.
need=()
want libedit-dev:arm64 libmicrohttpd-dev:arm64 libjansson-dev:arm64 libhiredis-dev:arm64
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]} (multiarch)"
    if ! { dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64; } ||
        ! apt-get update -q || ! apt-get install -y -q --no-install-recommends "${need[@]}"; then
        echo "setup: WARNING: could not install ${need[*]}; the aarch64 check will skip the rwkv command"
    fi
fi
