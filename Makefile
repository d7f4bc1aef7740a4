# rwkv.c — one Makefile. `make` builds build/librwkv.a, build/librwkv.so and build/rwkv; `make test`
# runs every test; `make sanitize` runs the same tests under ASan+UBSan (in build-san/); `make fuzz`
# builds the libFuzzer targets (clang); `make install PREFIX=/usr/local DESTDIR=` installs the
# command, both libraries, rwkv.h, rwkv.pc, the man page and the bash completion. BUILD=dir picks
# another build directory, CC=clang another compiler.

CC       ?= cc
BUILD    ?= build
OPT      ?= -O2 -g
SANFLAGS ?=
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
             -Iinclude -Isrc -Itools -pthread $(OPT) $(SANFLAGS) $(CFLAGS)
# jansson: the library's JSON Schema converter (src/text/json_schema.c), and the server.
LDLIBS_ALL = -lm -pthread -ljansson $(SANFLAGS) $(LDFLAGS)
TOOL_LIBS += -ledit
TOOL_LIBS += -lmicrohttpd -lhiredis

# The shared library: librwkv.so.$(SOMAJOR) is its soname, librwkv.so.$(VERSION) the file.
VERSION  := $(shell sed -n 's/^\#define RWKV_VERSION_STRING "\(.*\)"/\1/p' include/rwkv.h)
SOMAJOR  := $(firstword $(subst ., ,$(VERSION)))
SONAME   := librwkv.so.$(SOMAJOR)
PREFIX   ?= /usr/local
LIBDIR   ?= $(PREFIX)/lib
DESTDIR  ?=

MACHINE := $(shell $(CC) -dumpmachine)
ifneq (,$(findstring x86_64,$(MACHINE)))
  ARCH_SRC := $(wildcard src/backend/cpu/x86/*.c)
else ifneq (,$(findstring aarch64,$(MACHINE)))
  ARCH_SRC := $(wildcard src/backend/cpu/arm/*.c)
else
  ARCH_SRC :=
endif

# Every .c under src/ except the per-ISA folders, which only the matching target builds.
LIB_SRC  := $(sort $(shell find src -name '*.c' -not -path 'src/backend/cpu/x86/*' -not -path 'src/backend/cpu/arm/*')) $(ARCH_SRC)
LIB_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC))
TOOL_SRC := $(wildcard tools/*/*.c)
TOOL_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(TOOL_SRC))
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TEST_COMMON := $(wildcard tests/common/*.c)
TEST_COMMON_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(TEST_COMMON))
HEADERS  := $(shell find include src tools tests/common -name '*.h' -not -path '*/node_modules/*')

# ---- Vulkan backend (src/backend/vulkan) -------------------------------------------------------
# Built when glslc and the Vulkan headers (Debian glslc, libvulkan-dev) are present; VULKAN=0
# builds without it, VULKAN=1 insists. The shaders are compiled to SPIR-V at build time and
# embedded in the library through a generated header ($(BUILD)/gen/vk_spirv.h). The library loads
# libvulkan.so.1 at run time (dlopen), so programs linked with it start where no Vulkan loader is
# installed. Without the backend, src/backend/vulkan and tests/test_vulkan*.c are left out.
.DEFAULT_GOAL := all
VK_PROBE := \#include <vulkan/vulkan.h>
ifeq ($(origin VULKAN),undefined)
VULKAN := $(shell command -v glslc >/dev/null 2>&1 && echo '$(VK_PROBE)' | $(CC) -E -x c - >/dev/null 2>&1 && echo 1 || echo 0)
endif
VK_DIR := src/backend/vulkan
ifeq ($(VULKAN),1)
VK_DTYPES := F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 IQ4_NL NF4
VK_PLAIN  := act ew norm l2norm shift copy wkv7 wkv5 wkv4
VK_TYPED  := mv mm mt embed
VK_SPV    := $(VK_PLAIN:%=$(BUILD)/spv/%.spv) \
             $(foreach s,$(VK_TYPED),$(foreach d,$(VK_DTYPES),$(BUILD)/spv/$(s)_$(d).spv))
VK_GLSL   := $(wildcard $(VK_DIR)/shaders/*.glsl)
GLSLC     ?= glslc
GLSLFLAGS ?= --target-env=vulkan1.2 -O
CFLAGS_ALL += -DRWKV_VULKAN
LDLIBS_ALL += -ldl
$(BUILD)/spv/%.spv: $(VK_DIR)/shaders/%.comp $(VK_GLSL)
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLFLAGS) -o $@ $<
# mv_F16.spv is mv.comp compiled with -DWT_F16, and so on for every weight type
define VK_TYPED_RULE
$(BUILD)/spv/$(1)_$(2).spv: $(VK_DIR)/shaders/$(1).comp $(VK_GLSL)
	@mkdir -p $$(dir $$@)
	$(GLSLC) $(GLSLFLAGS) -DWT_$(2) -o $$@ $$<
endef
$(foreach s,$(VK_TYPED),$(foreach d,$(VK_DTYPES),$(eval $(call VK_TYPED_RULE,$(s),$(d)))))
$(BUILD)/gen/vk_spirv.h: $(VK_SPV) $(VK_DIR)/spirv_embed.sh
	@mkdir -p $(dir $@)
	sh $(VK_DIR)/spirv_embed.sh $@ $(VK_SPV)
$(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard $(VK_DIR)/*.c)): $(BUILD)/gen/vk_spirv.h
$(BUILD)/obj/$(VK_DIR)/%.o: CFLAGS_ALL += -I$(BUILD)/gen
else
LIB_SRC  := $(filter-out $(VK_DIR)/%,$(LIB_SRC))
TEST_SRC := $(filter-out tests/test_vulkan%,$(TEST_SRC))
endif
LIB_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC))
TEST_BIN := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
# ---- end of the Vulkan block --------------------------------------------------------------------

# Per-ISA flags: kernels for one instruction set live in files named after it and are only
# called after a run-time CPU check.
ISA_avx2   := -mavx2 -mfma -mf16c
ISA_avx512 := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mavx512vnni -mfma -mf16c -mavx2 \
              -mamx-tile -mamx-bf16
ISA_neon   :=

.PHONY: all test sanitize fuzz clean check-clang check tests man install uninstall test-install \
        test-python
all: $(BUILD)/librwkv.a $(BUILD)/librwkv.so $(BUILD)/rwkv

# Library objects are position-independent (they go into the shared library as well); calls
# between them stay direct (no interposition of the library's own functions).
LIB_PIC := -fPIC -fno-semantic-interposition
$(LIB_OBJ): PIC := $(LIB_PIC)

# Every object is rebuilt when the compiler or the flags change: $(BUILD)/.flags holds them and
# is rewritten only when they differ.
FLAGS_FILE := $(BUILD)/.flags
FLAGS_NOW  := $(CC) $(CFLAGS_ALL) $(LIB_PIC)
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(FLAGS_FILE) 2>/dev/null)" = '$(FLAGS_NOW)' ] || echo '$(FLAGS_NOW)' >$(FLAGS_FILE); })

$(BUILD)/obj/%.o: %.c $(HEADERS) $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(PIC) $(ISA_$(lastword $(subst _, ,$(basename $(notdir $<))))) -c $< -o $@

$(BUILD)/librwkv.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# The shared library exports exactly the functions declared in include/rwkv.h: a version script
# made from the header (every "rwkv_name(" the preprocessed header declares) keeps the rest local.
$(BUILD)/rwkv.map: include/rwkv.h Makefile
	@mkdir -p $(dir $@)
	{ echo '{'; echo '  global:'; \
	  $(CC) -E -P include/rwkv.h | grep -oE '\<rwkv_[a-z0-9_]+ *\(' | tr -d ' (' | sort -u | sed 's/.*/    &;/'; \
	  echo '  local: *;'; echo '};'; } >$@.tmp && mv $@.tmp $@

$(BUILD)/librwkv.so.$(VERSION): $(LIB_OBJ) $(BUILD)/rwkv.map
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=$(BUILD)/rwkv.map -Wl,-z,defs \
	    -o $@ $(LIB_OBJ) $(LDLIBS_ALL)

$(BUILD)/librwkv.so: $(BUILD)/librwkv.so.$(VERSION)
	ln -sf librwkv.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

$(BUILD)/rwkv: $(TOOL_OBJ) $(BUILD)/librwkv.a
	$(CC) $(CFLAGS_ALL) -o $@ $(TOOL_OBJ) $(BUILD)/librwkv.a $(LDLIBS_ALL) $(TOOL_LIBS)

$(BUILD)/tests/%: tests/%.c $(TEST_COMMON_OBJ) $(BUILD)/librwkv.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests -o $@ $< $(TEST_COMMON_OBJ) $(BUILD)/librwkv.a $(LDLIBS_ALL)

# The manual page, made from the help texts by running the program (so not part of `all`).
man: $(BUILD)/rwkv.1
$(BUILD)/rwkv.1: $(BUILD)/rwkv tools/cli/mkman.sh
	sh tools/cli/mkman.sh $(BUILD)/rwkv >$@.tmp && mv $@.tmp $@

# The CLI tests parse the JSON the program writes with jansson.
$(BUILD)/tests/test_cli $(BUILD)/tests/test_chat $(BUILD)/tests/test_eval: LDLIBS_ALL += -ljansson

# test_serve_tools drives the server's tool-call module (and the objects it calls) without HTTP.
SERVE_TOOLS_OBJ := $(BUILD)/obj/tools/serve/serve_tools.o $(BUILD)/obj/tools/serve/serve_reply.o \
                   $(BUILD)/obj/tools/serve/serve_util.o $(BUILD)/obj/tools/cli/cli_common.o
$(BUILD)/tests/test_serve_tools: tests/test_serve_tools.c $(SERVE_TOOLS_OBJ) $(TEST_COMMON_OBJ) $(BUILD)/librwkv.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests -o $@ $< $(SERVE_TOOLS_OBJ) $(TEST_COMMON_OBJ) $(BUILD)/librwkv.a $(LDLIBS_ALL)

# The web page of `rwkv serve` is embedded with .incbin: rebuild its object when the page changes.
$(BUILD)/obj/tools/serve/serve_page.o: tools/serve/web/index.html

# quant_avx512.c compiles quant_avx2.c's shared parts with QX_VNNI defined (#include).
$(BUILD)/obj/src/backend/cpu/x86/quant_avx512.o: src/backend/cpu/x86/quant_avx2.c

tests: $(TEST_BIN)

test: all $(TEST_BIN)
	@BUILD=$(BUILD) sh tests/run.sh

# The shared library's exports, make install, and a program built with pkg-config against it.
test-install: all
	@BUILD=$(BUILD) sh tests/install.sh

# The Python package's tests (tests/python) with Debian's python3, which has python3-pytest and
# python3-numpy (the machine's default python3 may be another one without them).
PYTHON ?= /usr/bin/python3
test-python: all
	cd tests/python && BUILD=$(BUILD) RWKV_LIB=$(CURDIR)/$(BUILD)/librwkv.so \
	    $(PYTHON) -m pytest -q -rfEs -p no:cacheprovider .

sanitize:
	$(MAKE) BUILD=build-san OPT="-O1 -g -fno-omit-frame-pointer" \
	    SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" test

# Compile everything with clang as well (the warning flags are the same).
check-clang:
	$(MAKE) CC=clang BUILD=build-clang all tests

FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst fuzz/%.c,build-fuzz/%,$(FUZZ_SRC))
fuzz: $(FUZZ_BIN)
build-fuzz/%: fuzz/%.c
	$(MAKE) CC=clang BUILD=build-fuzz VULKAN=0 OPT="-O1 -g" \
	    SANFLAGS="-fsanitize=address,undefined,fuzzer-no-link" build-fuzz/librwkv.a
	clang -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -g -O1 -fsanitize=address,undefined,fuzzer \
	    -o $@ $< build-fuzz/librwkv.a -lm -pthread -ljansson

clean:
	rm -rf build build-san build-clang build-fuzz build-arm

# bin/rwkv, lib/librwkv.a, lib/librwkv.so*, include/rwkv.h, lib/pkgconfig/rwkv.pc, the man page
# (made from the help texts) and the bash completion.
install: all man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 $(BUILD)/rwkv $(DESTDIR)$(PREFIX)/bin/rwkv
	install -m 644 $(BUILD)/librwkv.a $(DESTDIR)$(LIBDIR)/librwkv.a
	install -m 755 $(BUILD)/librwkv.so.$(VERSION) $(DESTDIR)$(LIBDIR)/librwkv.so.$(VERSION)
	ln -sf librwkv.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/librwkv.so
	install -m 644 include/rwkv.h $(DESTDIR)$(PREFIX)/include/rwkv.h
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@VERSION@|$(VERSION)|' rwkv.pc.in \
	    >$(DESTDIR)$(LIBDIR)/pkgconfig/rwkv.pc
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 644 $(BUILD)/rwkv.1 $(DESTDIR)$(PREFIX)/share/man/man1/rwkv.1
	install -m 644 tools/cli/completion.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/rwkv

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/rwkv $(DESTDIR)$(LIBDIR)/librwkv.a $(DESTDIR)$(LIBDIR)/librwkv.so \
	    $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/librwkv.so.$(VERSION) \
	    $(DESTDIR)$(PREFIX)/include/rwkv.h $(DESTDIR)$(LIBDIR)/pkgconfig/rwkv.pc \
	    $(DESTDIR)$(PREFIX)/share/man/man1/rwkv.1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions/rwkv

# Everything CI runs: tests (gcc), the same tests under ASan+UBSan, a clang build, short fuzz runs.
FUZZ_SECONDS ?= 20
check:
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/check.sh
