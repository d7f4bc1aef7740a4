#!/bin/sh
# bench/gpu.sh — the Vulkan backend on a machine with a real GPU: its tests, the device's copy
# bandwidth, then `rwkv bench` of random-weight RWKV-7 models on the GPU. Prints one JSON line per
# model and weight type (and one for the bandwidth probe) on stdout; progress goes to stderr.
#
#   bench/gpu.sh kit
#       On a machine with glslc and the Vulkan headers (this project's CI image): builds the
#       programs and packs bench/models/gpu-kit.tar.xz (~30 MB, git-ignored) with what a GPU
#       machine may lack: the programs, their shared libraries, the Vulkan loader, the Khronos
#       validation layer, and the models and fixtures the tests read.
#   bench/gpu.sh run [SIZES] [TYPES]
#       On the GPU machine (x86-64 Linux with the GPU's Vulkan driver): unpacks the kit when there
#       is one (else builds from source, which needs glslc, the Vulkan headers and the CLI's
#       libraries), runs test_vulkan and test_vulkan_model (under the validation layer), measures
#       the copy bandwidth, then for each size makes a random fp16 model (`rwkv init`), quantizes
#       it to each type (`rwkv quantize`) and runs `rwkv bench` on the device.
#       SIZES default "0.1b 1.5b 2.9b", TYPES default "fp16 int8 nf4" (int8 = q8_0).
#
# Environment: DEVICE (default vulkan; vulkan:N picks a device of `rwkv devices`), PROMPT (512),
# GEN (128), REPS (3), MODELS (where the random models go, default /tmp/rwkv-gpu-models: the 2.9B
# fp16 file is 5.9 GB), SKIP_TESTS=1, KIT_DIR (where the kit is unpacked, /tmp/rwkv-gpu-kit).
# When the loader finds no driver but the NVIDIA one is mounted under /usr/local/nvidia, the script
# points VK_DRIVER_FILES at it.
set -eu
cd "$(dirname "$0")/.."
KIT_TAR=bench/models/gpu-kit.tar.xz

say() { echo "gpu.sh: $*" >&2; }

# ---- kit: pack what the GPU machine needs -----------------------------------------------------
make_kit() {
    command -v glslc >/dev/null || { say "glslc is needed to build the shaders"; exit 1; }
    make -j"$(nproc)" VULKAN=1 build/rwkv build/tests/test_vulkan build/tests/test_vulkan_model >&2
    S=${RWKV_SHARED:-../shared}
    [ -d "$S/models" ] || { say "the shared models ($S) are needed for the tests"; exit 1; }
    tmp=$(mktemp -d)
    k=$tmp/gpu-kit
    mkdir -p "$k/bin" "$k/lib" "$k/layers" "$k/shared/models"
    cp build/rwkv build/tests/test_vulkan build/tests/test_vulkan_model "$k/bin/"
    # shared libraries of the programs, except the C library's own
    for b in "$k"/bin/*; do
        ldd "$b" | awk '$3 ~ /^\// {print $3}'
    done | sort -u | while read -r lib; do
        case $(basename "$lib") in
        libc.so* | libm.so* | libpthread.so* | libdl.so* | librt.so* | ld-linux*) ;;
        *) cp -L "$lib" "$k/lib/" ;;
        esac
    done
    loader=$(ldconfig -p | awk '/libvulkan\.so\.1 / {print $NF; exit}')
    [ -n "$loader" ] || { say "no Vulkan loader (libvulkan1) here"; exit 1; }
    cp -L "$loader" "$k/lib/libvulkan.so.1"
    layer=$(ldconfig -p | awk '/libVkLayer_khronos_validation\.so / {print $NF; exit}')
    [ -n "$layer" ] || { say "no validation layer (vulkan-validationlayers) here"; exit 1; }
    cp -L "$layer" "$k/layers/"
    sed 's|"library_path": *"[^"]*"|"library_path": "./libVkLayer_khronos_validation.so"|' \
        /usr/share/vulkan/explicit_layer.d/VkLayer_khronos_validation.json >"$k/layers/VkLayer_khronos_validation.json"
    cp -r "$S/fixtures" "$k/shared/"
    for f in "$S"/models/tiny-rwkv-7v0-834K* "$S"/models/tiny-rwkv-6v0-3m-Q5_1.* "$S"/models/tiny-rwkv-5v1-730K.pth \
        "$S"/models/tiny-rwkv-5v2-730K.pth "$S"/models/tiny-rwkv-4v0-660K.pth; do
        cp "$f" "$k/shared/models/"
    done
    mkdir -p bench/models
    tar -C "$tmp" -cJf "$KIT_TAR" gpu-kit
    rm -rf "$tmp"
    say "wrote $KIT_TAR ($(du -h "$KIT_TAR" | cut -f1)); carry it to the GPU machine and run: bench/gpu.sh run"
}

# ---- run: tests and benchmark on the GPU --------------------------------------------------------
run() {
    SIZES=${1:-"0.1b 1.5b 2.9b"}
    TYPES=${2:-"fp16 int8 nf4"}
    DEVICE=${DEVICE:-vulkan}
    if [ -f "$KIT_TAR" ]; then
        KIT_DIR=${KIT_DIR:-/tmp/rwkv-gpu-kit}
        mkdir -p "$KIT_DIR"
        tar -C "$KIT_DIR" -xJf "$KIT_TAR"
        k=$KIT_DIR/gpu-kit
        RWKV=$k/bin/rwkv
        TESTS=$k/bin
        export LD_LIBRARY_PATH="$k/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        export VK_LAYER_PATH="$k/layers"
        export RWKV_SHARED="$k/shared"
        export BUILD="$k/bin" # test_vulkan_model runs $BUILD/rwkv
    else
        say "no $KIT_TAR: building from source"
        make -j"$(nproc)" VULKAN=1 build/rwkv build/tests/test_vulkan build/tests/test_vulkan_model >&2
        RWKV=./build/rwkv
        TESTS=./build/tests
        export BUILD=build
    fi
    nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    if ! "$RWKV" devices --json 2>/dev/null | grep '"id":"vulkan' | grep -q '"usable":true' && [ -f "$nvidia_icd" ] &&
        [ -z "${VK_DRIVER_FILES:-}" ]; then
        export VK_DRIVER_FILES=$nvidia_icd
        say "using the NVIDIA driver at $nvidia_icd"
    fi
    "$RWKV" devices >&2
    if ! "$RWKV" devices --json 2>/dev/null | grep '"id":"vulkan' | grep -q '"usable":true'; then
        say "no usable Vulkan device"
        exit 1
    fi
    if [ "${SKIP_TESTS:-0}" != 1 ]; then
        for t in test_vulkan test_vulkan_model; do
            say "running $t"
            "$TESTS/$t" >&2 || { say "$t FAILED"; exit 1; }
        done
    fi
    "$RWKV" devices --json --bandwidth --bandwidth-mb 1024 | grep '"id":"vulkan'
    MODELS=${MODELS:-/tmp/rwkv-gpu-models}
    mkdir -p "$MODELS"
    if "$RWKV" bench --help | grep -q -- '--device'; then dev_opt="--device $DEVICE"; else dev_opt=; fi
    for s in $SIZES; do
        src=$MODELS/$s-fp16.pth
        [ -f "$src" ] || { say "making $src"; "$RWKV" init --shape "$s" --dtype fp16 --seed 1 "$src" >&2; }
        for t in $TYPES; do
            f=$src
            if [ "$t" != fp16 ]; then
                f=$MODELS/$s-$t.gguf
                [ -f "$f" ] || { say "quantizing $f"; "$RWKV" quantize "$src" "$f" --type "$t" >&2; }
            fi
            say "bench $s $t on $DEVICE"
            # shellcheck disable=SC2086
            line=$(RWKV_DEVICE=$DEVICE "$RWKV" bench "$f" $dev_opt --prompt-tokens "${PROMPT:-512}" --gen "${GEN:-128}" \
                --reps "${REPS:-3}" --json)
            printf '{"shape":"%s","type":"%s","device":"%s","bench":%s}\n' "$s" "$t" "$DEVICE" "$line"
        done
    done
}

case "${1:-}" in
kit) make_kit ;;
run) shift; run "$@" ;;
*)
    sed -n '2,28p' "$0" >&2
    exit 2
    ;;
esac
