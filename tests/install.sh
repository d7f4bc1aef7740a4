#!/bin/sh
# The shared library and `make install`: librwkv.so exports exactly the functions of
# include/rwkv.h under its soname; `make install` into a temporary DESTDIR puts every file in
# place; a small C program builds against the installed tree with pkg-config (shared and
# static) and gives the reference logits; the installed command runs; `make uninstall` removes
# it all. Prints FAIL lines and "N passed, N failed".
set -u
BUILD=${BUILD:-build}
CC=${CC:-cc}
SHARED=${RWKV_SHARED:-../shared}
passed=0; failed=0
check() { # check DESCRIPTION COMMAND...
    what=$1; shift
    if "$@" >/dev/null 2>&1; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL install: $what"; fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
so=$BUILD/librwkv.so

# Exports: the dynamic symbols defined by the library are the functions rwkv.h declares.
$CC -E -P include/rwkv.h | grep -oE '\<rwkv_[a-z0-9_]+ *\(' | tr -d ' (' | sort -u >"$tmp/declared"
nm -D --defined-only "$so" | awk '{print $3}' | sed 's/@.*//' | sort -u >"$tmp/exported"
if ! cmp -s "$tmp/declared" "$tmp/exported"; then
    echo "exported but not in rwkv.h / in rwkv.h but not exported:"
    diff "$tmp/declared" "$tmp/exported" | grep '^[<>]' | head -n 20
fi
check "librwkv.so exports exactly the functions of rwkv.h" cmp -s "$tmp/declared" "$tmp/exported"
check "rwkv.h declares functions (the header parse works)" test "$(wc -l <"$tmp/declared")" -gt 30
check "soname librwkv.so.0" sh -c "readelf -d '$so' | grep -q 'SONAME.*\[librwkv\.so\.0\]'"
check "no undefined symbols beyond libc/libm and jansson" sh -c "! nm -D --undefined-only '$so' | awk '\$1 == \"U\" && \$2 !~ /@GLIBC/ && \$2 !~ /^json_/' | grep -q ."
check "librwkv.so records its jansson dependency (DT_NEEDED)" sh -c "readelf -d '$so' | grep -q 'NEEDED.*libjansson\.so'"

# make install into a staging directory
dest=$tmp/dest; prefix=/opt/rwkv
make --no-print-directory BUILD="$BUILD" PREFIX=$prefix DESTDIR="$dest" install >"$tmp/install.log" 2>&1
check "make install succeeds" test $? -eq 0 || cat "$tmp/install.log"
root=$dest$prefix
for f in bin/rwkv lib/librwkv.a lib/librwkv.so lib/librwkv.so.0 include/rwkv.h lib/pkgconfig/rwkv.pc; do
    check "installed $f" test -e "$root/$f"
done
check "lib/librwkv.so -> librwkv.so.0" test "$(readlink "$root/lib/librwkv.so")" = librwkv.so.0
check "lib/librwkv.so.0 -> the versioned file" sh -c "test -f '$root/lib/'\$(readlink '$root/lib/librwkv.so.0')"
check "installed the man page" test -s "$root/share/man/man1/rwkv.1"
check "installed the bash completion" test -s "$root/share/bash-completion/completions/rwkv"
check "the installed command runs" sh -c "'$root/bin/rwkv' info '$SHARED/models/tiny-rwkv-7v0-834K.pth' | grep -q '\"n_layer\":12'"

# A program built with pkg-config against the installed tree
cat >"$tmp/prog.c" <<'EOF'
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <rwkv.h>
int main(int argc, char **argv) {
    rwkv_model *m = NULL;
    rwkv_state *s = NULL;
    if (rwkv_model_load(argv[1], NULL, &m) != RWKV_OK || rwkv_state_new(m, &s) != RWKV_OK) {
        fprintf(stderr, "load: %s\n", rwkv_last_error());
        return 1;
    }
    int32_t toks[19];
    float logits[256], ref[256];
    FILE *p = fopen(argv[2], "rb"), *r = fopen(argv[3], "rb");
    for (int i = 0; i < 19; i++) toks[i] = p ? fgetc(p) : 0;
    if (!p || !r || fread(ref, 4, 256, r) != 256) return 1;
    if (rwkv_eval(m, s, toks, 19, logits, 0) != RWKV_OK) return 1;
    float d = 0;
    for (int i = 0; i < 256; i++) d = fmaxf(d, fabsf(logits[i] - ref[i]));
    printf("max abs diff %g\n", d);
    rwkv_state_free(s);
    rwkv_model_free(m);
    return d <= 1e-4f ? 0 : 1;
}
EOF
export PKG_CONFIG_PATH="$root/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest"
check "pkg-config knows rwkv" pkg-config --exists rwkv
check "pkg-config version is rwkv.h's" test "$(pkg-config --modversion rwkv)" = \
    "$(sed -n 's/^#define RWKV_VERSION_STRING "\(.*\)"/\1/p' include/rwkv.h)"
$CC -o "$tmp/prog" "$tmp/prog.c" $(pkg-config --cflags --libs rwkv) -lm >"$tmp/cc.log" 2>&1
check "a program builds with pkg-config --cflags --libs rwkv" test $? -eq 0 || cat "$tmp/cc.log"
check "it links the shared library" sh -c "readelf -d '$tmp/prog' | grep -q 'NEEDED.*librwkv\.so\.0'"
args="$SHARED/models/tiny-rwkv-7v0-834K.pth $SHARED/fixtures/prompts/quick_fox.bin $SHARED/fixtures/tiny-7v0-834K/logits-quick_fox.bin"
check "it runs from the installed library (LD_LIBRARY_PATH) with the reference logits" \
    env LD_LIBRARY_PATH="$root/lib" "$tmp/prog" $args
$CC -o "$tmp/prog-static" "$tmp/prog.c" $(pkg-config --cflags rwkv) "$root/lib/librwkv.a" \
    $(pkg-config --static --libs-only-other --libs-only-l rwkv | sed 's/-lrwkv//') -lm >"$tmp/cc2.log" 2>&1
check "a program links the static library with pkg-config --static" test $? -eq 0 || cat "$tmp/cc2.log"
check "the static program runs with the reference logits" "$tmp/prog-static" $args

make --no-print-directory BUILD="$BUILD" PREFIX=$prefix DESTDIR="$dest" uninstall >/dev/null 2>&1
check "make uninstall removes every file" test -z "$(find "$dest" -type f -o -type l)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
