# rwkv.c — one Makefile. `make` builds build/librwkv.a and build/rwkv; `make test` runs every test;
# `make sanitize` runs the same tests under ASan+UBSan (in build-san/); `make fuzz` builds the
# libFuzzer targets (clang). BUILD=dir picks another build directory, CC=clang another compiler.

CC       ?= cc
BUILD    ?= build
OPT      ?= -O2 -g
SANFLAGS ?=
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
             -Iinclude -Isrc -Itools -pthread $(OPT) $(SANFLAGS) $(CFLAGS)
# jansson: the library's JSON Schema converter (src/text/json_schema.c), and the server.
LDLIBS_ALL = -lm -pthread -ljansson $(SANFLAGS) $(LDFLAGS)
TOOL_LIBS += -ledit
TOOL_LIBS += -lmicrohttpd

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

.PHONY: all test sanitize fuzz clean check-clang check tests man
all: $(BUILD)/librwkv.a $(BUILD)/rwkv

$(BUILD)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(ISA_$(lastword $(subst _, ,$(basename $(notdir $<))))) -c $< -o $@

$(BUILD)/librwkv.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

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
	rm -rf build build-san build-clang build-fuzz

# Everything CI runs: tests (gcc), the same tests under ASan+UBSan, a clang build, short fuzz runs.
FUZZ_SECONDS ?= 20
check:
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/check.sh
