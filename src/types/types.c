/* types.c — the table of weight types (types.h) and what is looked up in it. */
#include "quant.h"

#include <stdio.h>

/* ---- the plain types ------------------------------------------------------------------- */

static void f32_to_f32(const void *src, float *dst, size_t n) { memcpy(dst, src, n * 4); }
static void f32_from_f32(const float *src, void *dst, size_t n) { memcpy(dst, src, n * 4); }

/* The 16-bit types: bf16 or IEEE half. */
static void halves_to_f32(const void *src, float *dst, size_t n, bool bf16) {
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = bf16 ? rwkv_bf16_to_f32(h) : rwkv_f16_to_f32(h);
    }
}
static void halves_from_f32(const float *src, void *dst, size_t n, bool bf16) {
    uint16_t *h = dst;
    for (size_t i = 0; i < n; i++) h[i] = bf16 ? rwkv_f32_to_bf16(src[i]) : rwkv_f32_to_f16(src[i]);
}
static void f16_to_f32(const void *src, float *dst, size_t n) { halves_to_f32(src, dst, n, false); }
static void f16_from_f32(const float *src, void *dst, size_t n) { halves_from_f32(src, dst, n, false); }
static void bf16_to_f32(const void *src, float *dst, size_t n) { halves_to_f32(src, dst, n, true); }
static void bf16_from_f32(const float *src, void *dst, size_t n) { halves_from_f32(src, dst, n, true); }

/* ---- the table ------------------------------------------------------------------------- */

#define PLAIN(t) t##_to_f32, t##_from_f32, NULL
#define BLOCK(t) rwkv_##t##_to_f32, rwkv_##t##_from_f32, rwkv_##t##_codes

/* GGUF ids are ggml.h's GGML_TYPE_*, file types llama.h's LLAMA_FTYPE_MOSTLY_*; nf4 is ours alone
 * (id and file type 1000, far from ggml's range). rwkv.cpp codes: its rwkv_type_to_ggml. */
static const rwkv_type table[RWKV_DT_COUNT] = {
    /*              name    alias  block bytes ggml ftype .bin  torch storage      functions */
    [RWKV_DT_F32] = {"fp32", "f32", 1, 4, 0, 0, 0, "FloatStorage", PLAIN(f32)},
    [RWKV_DT_F16] = {"fp16", "f16", 1, 2, 1, 1, 1, "HalfStorage", PLAIN(f16)},
    [RWKV_DT_BF16] = {"bf16", NULL, 1, 2, 30, 32, -1, "BFloat16Storage", PLAIN(bf16)},
    [RWKV_DT_Q8_0] = {"q8_0", "int8", 32, 34, 8, 7, 9, NULL, BLOCK(q8_0)},
    [RWKV_DT_Q4_0] = {"q4_0", NULL, 32, 18, 2, 2, 2, NULL, BLOCK(q4_0)},
    [RWKV_DT_Q4_1] = {"q4_1", NULL, 32, 20, 3, 3, 3, NULL, BLOCK(q4_1)},
    [RWKV_DT_Q5_0] = {"q5_0", NULL, 32, 22, 6, 8, 7, NULL, BLOCK(q5_0)},
    [RWKV_DT_Q5_1] = {"q5_1", NULL, 32, 24, 7, 9, 8, NULL, BLOCK(q5_1)},
    [RWKV_DT_NF4] = {"nf4", NULL, 64, 34, 1000, 1000, -1, NULL, BLOCK(nf4)},
    [RWKV_DT_IQ4_NL] = {"iq4_nl", NULL, 32, 18, 20, 25, -1, NULL, BLOCK(iq4_nl)},
};

const rwkv_type *rwkv_type_of(rwkv_dtype dt) {
    return (unsigned)dt < RWKV_DT_COUNT ? &table[dt] : NULL;
}

bool rwkv_dtype_from_name(const char *name, rwkv_dtype *dt) {
    for (int d = 0; name && d < RWKV_DT_COUNT; d++)
        if (!strcmp(name, table[d].name) || (table[d].alias && !strcmp(name, table[d].alias))) {
            *dt = (rwkv_dtype)d;
            return true;
        }
    return false;
}

bool rwkv_dtype_of_ggml_id(uint32_t id, rwkv_dtype *dt) {
    for (int d = 0; d < RWKV_DT_COUNT; d++)
        if (table[d].ggml_id >= 0 && (uint32_t)table[d].ggml_id == id) {
            *dt = (rwkv_dtype)d;
            return true;
        }
    return false;
}

bool rwkv_dtype_of_bin_code(uint32_t code, rwkv_dtype *dt) {
    for (int d = 0; d < RWKV_DT_COUNT; d++)
        if (table[d].bin_code >= 0 && (uint32_t)table[d].bin_code == code) {
            *dt = (rwkv_dtype)d;
            return true;
        }
    return false;
}

bool rwkv_dtype_of_torch_storage(const char *name, size_t len, rwkv_dtype *dt) {
    for (int d = 0; d < RWKV_DT_COUNT; d++) {
        const char *s = table[d].torch_storage;
        if (s && strlen(s) == len && !memcmp(s, name, len)) {
            *dt = (rwkv_dtype)d;
            return true;
        }
    }
    return false;
}

int rwkv_ggml_id_of(rwkv_dtype dt) {
    const rwkv_type *t = rwkv_type_of(dt);
    return t ? t->ggml_id : -1;
}

char *rwkv_dtype_list(char *buf, size_t cap, bool (*want)(const rwkv_type *t), bool aliases) {
    size_t n = 0;
    if (cap) buf[0] = 0;
    for (int d = 0; d < RWKV_DT_COUNT && n < cap; d++) {
        const rwkv_type *t = &table[d];
        if (want && !want(t)) continue;
        const bool a = aliases && t->alias;
        int w = snprintf(buf + n, cap - n, "%s%s%s%s%s", n ? ", " : "", t->name, a ? " (" : "", a ? t->alias : "",
                         a ? ")" : "");
        if (w < 0) break;
        n += (size_t)w;
    }
    return buf;
}

const char *rwkv_dtype_name(rwkv_dtype dt) {
    const rwkv_type *t = rwkv_type_of(dt);
    return t ? t->name : "unknown";
}

size_t rwkv_dtype_block(rwkv_dtype dt) {
    const rwkv_type *t = rwkv_type_of(dt);
    return t ? (size_t)t->block : 0;
}

size_t rwkv_dtype_block_bytes(rwkv_dtype dt) {
    const rwkv_type *t = rwkv_type_of(dt);
    return t ? (size_t)t->block_bytes : 0;
}

size_t rwkv_dtype_size(rwkv_dtype dt) { return rwkv_dtype_block(dt) == 1 ? rwkv_dtype_block_bytes(dt) : 0; }

bool rwkv_dtype_is_quant(rwkv_dtype dt) { return rwkv_dtype_block(dt) > 1; }

size_t rwkv_dtype_row_bytes(rwkv_dtype dt, size_t n) {
    size_t qk = rwkv_dtype_block(dt);
    if (qk == 0 || n % qk != 0 || n / qk > SIZE_MAX / rwkv_dtype_block_bytes(dt)) return 0;
    return n / qk * rwkv_dtype_block_bytes(dt);
}

void rwkv_convert_to_f32(rwkv_dtype dt, const void *src, float *dst, size_t n) {
    const rwkv_type *t = rwkv_type_of(dt);
    if (t) t->to_f32(src, dst, n);
}

void rwkv_quantize_row(rwkv_dtype dt, const float *src, void *dst, size_t n) {
    const rwkv_type *t = rwkv_type_of(dt);
    if (t) t->from_f32(src, dst, n);
}
