/* bin_reader.c — rwkv.cpp model files (.bin, format versions 100 and 101).
 *
 * Layout (little-endian): int32 magic 0x67676d66, version, n_vocab, n_embed, n_layer,
 * data_type; then tensors until the end of the file: int32 n_dims, key_len, type,
 * shape[n_dims] (ggml order: innermost first), key bytes, data (row-major). Type codes: the
 * table's bin_code (types.c: 0 fp32, 1 fp16, 2 q4_0, 3 q4_1, 7 q5_0, 8 q5_1, 9 q8_0; ggml block
 * layouts; version 100 predates ggml's current quantized layouts, so only its float types are
 * accepted).
 *
 * rwkv.cpp's converter changes some tensors; this reader undoes it so that the table has the
 * official checkpoint's names, shapes and values (see ../shared/models/README.md):
 *   v7: att.x_rwkvag [6,1,C] -> att.x_r, x_w, x_k, x_v, x_a, x_g [1,1,C];
 *       att.{w,a,v,g}{1,2} transposed back;
 *   v6: att.time_maa_w1, time_decay_w1, time_decay_w2 transposed back; time_maa_w2 [5,C,D] ->
 *       [5,D,C]; time_decay [H,N,1] -> [1,1,C];
 *   v5.2: time_decay = log(-log(stored)); v5.1: also time_first = log(stored);
 *   v4: time_decay = log(-stored).
 * Trailing size-1 dimensions are dropped. Big matrices stay in the mapping in their stored type;
 * converted tensors are owned fp32 copies. Quantized tensors other than 2-D matrices, and a
 * quantized embedding, are dequantized to fp32 (the model code reads them as floats). */
#include "tensor_file.h"
#include "types/quant.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define BIN_MAGIC 0x67676d66u
#define BIN_MAX_KEY 1024
#define BIN_MAX_DIM ((int64_t)1 << 31)
#define BIN_MAX_NUMEL ((size_t)1 << 40)
#define BIN_MAX_TENSORS ((size_t)1 << 20)

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Appends a tensor to out (growing the table); takes ownership of name (freed on failure). */
static rwkv_status push(rwkv_tensor_file *out, size_t *cap, char *name, rwkv_dtype dt, int n_dims,
                        const int64_t *shape, const void *data, size_t nbytes) {
    if (!name) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    if (out->n_tensors == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        rwkv_tensor *t = realloc(out->tensors, nc * sizeof *t);
        if (!t) {
            free(name);
            return rwkv_fail(RWKV_ERR_NOMEM, "out of memory for the tensor table");
        }
        out->tensors = t;
        *cap = nc;
    }
    rwkv_tensor *t = &out->tensors[out->n_tensors++];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->dtype = dt;
    t->n_dims = n_dims;
    t->numel = 1;
    for (int d = 0; d < n_dims; d++) {
        t->shape[d] = shape[d];
        t->numel *= (size_t)shape[d];
    }
    t->data = data;
    t->nbytes = nbytes;
    return RWKV_OK;
}

static char *dup_name(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

/* An owned fp32 copy of raw tensor t (dequantized or converted), registered in out. */
static rwkv_status to_f32(rwkv_tensor_file *out, const rwkv_tensor *t, float **f) {
    *f = malloc((t->numel ? t->numel : 1) * sizeof **f);
    rwkv_status st = rwkv_tensor_file_own(out, *f);
    if (st != RWKV_OK) return st;
    rwkv_convert_to_f32(t->dtype, t->data, *f, t->numel);
    return RWKV_OK;
}

typedef enum { GEN_4, GEN_51, GEN_52, GEN_6, GEN_7 } bin_gen;

/* Guesses the generation from the raw key set (before transforms). */
static bin_gen detect(const rwkv_tensor *raw, size_t n) {
    bool ln_x = false, gate = false;
    for (size_t i = 0; i < n; i++) {
        if (ends_with(raw[i].name, "att.x_rwkvag") || ends_with(raw[i].name, "att.k_k")) return GEN_7;
        if (ends_with(raw[i].name, "att.time_maa_w1")) return GEN_6;
        ln_x |= ends_with(raw[i].name, "att.ln_x.weight");
        gate |= ends_with(raw[i].name, "att.gate.weight");
    }
    return ln_x ? (gate ? GEN_52 : GEN_51) : GEN_4;
}

/* Transposes the 2-D fp32 matrix src [r][c] into dst [c][r]. */
static void transpose(const float *src, float *dst, size_t r, size_t c) {
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < c; j++) dst[j * r + i] = src[i * c + j];
}

/* Moves raw tensor t (name owned by the caller's table) into out, applying the transforms of
 * generation g. */
static rwkv_status convert(const char *label, bin_gen g, const rwkv_tensor *t, rwkv_tensor_file *out,
                           size_t *cap) {
    const char *n = t->name;
    int64_t shape[RWKV_MAX_DIMS];
    int nd = t->n_dims;
    memcpy(shape, t->shape, sizeof shape);
    while (nd > 1 && shape[nd - 1] == 1) nd--;
    float *f;
    rwkv_status st;

    if (g == GEN_7 && ends_with(n, "att.x_rwkvag")) {
        static const char *const parts[6] = {"x_r", "x_w", "x_k", "x_v", "x_a", "x_g"};
        if (t->numel % 6 != 0 || t->shape[0] != 6)
            return rwkv_fail(RWKV_ERR_SHAPE, "%s: tensor '%.200s' is not [6,1,C]", label, n);
        if ((st = to_f32(out, t, &f)) != RWKV_OK) return st;
        const size_t C = t->numel / 6, plen = strlen(n) - strlen("x_rwkvag");
        for (int k = 0; k < 6; k++) {
            char *name = malloc(plen + 4);
            if (name) {
                memcpy(name, n, plen);
                memcpy(name + plen, parts[k], 4);
            }
            int64_t s3[3] = {1, 1, (int64_t)C};
            if ((st = push(out, cap, name, RWKV_DT_F32, 3, s3, f + k * C, C * 4)) != RWKV_OK) return st;
        }
        return RWKV_OK;
    }
    bool transpose2 = false, transpose3 = false;
    if (g == GEN_7) {
        static const char *const lora[] = {"att.w1", "att.w2", "att.a1", "att.a2",
                                           "att.v1", "att.v2", "att.g1", "att.g2"};
        for (size_t i = 0; i < 8; i++) transpose2 |= ends_with(n, lora[i]);
    }
    if (g == GEN_6) {
        transpose2 = ends_with(n, "att.time_maa_w1") || ends_with(n, "att.time_decay_w1") ||
                     ends_with(n, "att.time_decay_w2");
        transpose3 = ends_with(n, "att.time_maa_w2");
    }
    if (transpose2 || transpose3) {
        if ((transpose2 && nd != 2) || (transpose3 && nd != 3))
            return rwkv_fail(RWKV_ERR_SHAPE, "%s: tensor '%.200s' has %d dimensions, expected %d", label,
                             n, nd, transpose2 ? 2 : 3);
        if ((st = to_f32(out, t, &f)) != RWKV_OK) return st;
        float *tr = malloc(t->numel * sizeof *tr);
        if ((st = rwkv_tensor_file_own(out, tr)) != RWKV_OK) return st;
        size_t slices = transpose3 ? (size_t)shape[0] : 1;
        size_t r = (size_t)shape[nd - 2], c = (size_t)shape[nd - 1];
        for (size_t s = 0; s < slices; s++) transpose(f + s * r * c, tr + s * r * c, r, c);
        shape[nd - 2] = (int64_t)c;
        shape[nd - 1] = (int64_t)r;
        return push(out, cap, dup_name(n, strlen(n)), RWKV_DT_F32, nd, shape, tr, t->numel * 4);
    }
    int value_op = 0; /* 1: log(-log x)  2: log x  3: log(-x) */
    if ((g == GEN_51 || g == GEN_52) && ends_with(n, "att.time_decay")) value_op = 1;
    if (g == GEN_51 && ends_with(n, "att.time_first")) value_op = 2;
    if (g == GEN_4 && ends_with(n, "att.time_decay")) value_op = 3;
    if (g == GEN_6 && ends_with(n, "att.time_decay")) { /* [H,N,1] -> [1,1,C] */
        shape[0] = shape[1] = 1;
        shape[2] = (int64_t)t->numel;
        nd = 3;
    }
    if (value_op || (rwkv_dtype_is_quant(t->dtype) && (nd != 2 || ends_with(n, "emb.weight")))) {
        if ((st = to_f32(out, t, &f)) != RWKV_OK) return st;
        for (size_t i = 0; value_op && i < t->numel; i++) {
            if (value_op == 1) f[i] = logf(-logf(f[i]));
            else if (value_op == 2) f[i] = logf(f[i]);
            else f[i] = logf(-f[i]);
        }
        return push(out, cap, dup_name(n, strlen(n)), RWKV_DT_F32, nd, shape, f, t->numel * 4);
    }
    const void *data = t->data;
    size_t es = rwkv_dtype_size(t->dtype);
    if (es > 1 && (uintptr_t)data % es != 0) { /* records are packed: give floats their alignment */
        void *copy = malloc(t->nbytes ? t->nbytes : 1);
        if ((st = rwkv_tensor_file_own(out, copy)) != RWKV_OK) return st;
        memcpy(copy, data, t->nbytes);
        data = copy;
    }
    return push(out, cap, dup_name(n, strlen(n)), t->dtype, nd, shape, data, t->nbytes);
}

/* Reads the raw tensor records of a .bin image into raw[] (names owned). */
static rwkv_status read_raw(const unsigned char *p, size_t size, const char *label, uint32_t version,
                           rwkv_tensor **raw_out, size_t *n_out) {
    size_t off = 24, n = 0, cap = 0;
    rwkv_tensor *raw = NULL;
    rwkv_status st = RWKV_OK;
    while (off < size) {
        if (n >= BIN_MAX_TENSORS) {
            st = rwkv_fail(RWKV_ERR_FORMAT, "%s: too many tensors (limit %zu)", label, BIN_MAX_TENSORS);
            break;
        }
        if (size - off < 12) {
            st = rwkv_fail(RWKV_ERR_FORMAT, "%s: truncated tensor header at offset %zu", label, off);
            break;
        }
        uint32_t nd = rd32(p + off), klen = rd32(p + off + 4), code = rd32(p + off + 8);
        off += 12;
        rwkv_dtype dt;
        if (nd < 1 || nd > 3) {
            st = rwkv_fail(RWKV_ERR_FORMAT, "%s: tensor %zu has %" PRIu32 " dimensions (1..3 allowed)", label, n, nd);
            break;
        }
        if (klen < 1 || klen > BIN_MAX_KEY) {
            st = rwkv_fail(RWKV_ERR_FORMAT, "%s: tensor %zu has a name length of %" PRIu32 " (1..%d allowed)",
                           label, n, klen, BIN_MAX_KEY);
            break;
        }
        if (!rwkv_dtype_of_bin_code(code, &dt)) {
            st = rwkv_fail(RWKV_ERR_UNSUPPORTED, "%s: tensor %zu has unknown data type %" PRIu32, label, n, code);
            break;
        }
        if (version == 100 && rwkv_dtype_is_quant(dt)) {
            st = rwkv_fail(RWKV_ERR_UNSUPPORTED,
                           "%s: quantized tensors of format version 100 use an old ggml block layout "
                           "(not supported; quantize the FP32/FP16 file again)",
                           label);
            break;
        }
        if (size - off < (size_t)nd * 4 + klen) {
            st = rwkv_fail(RWKV_ERR_FORMAT, "%s: truncated tensor header at offset %zu", label, off);
            break;
        }
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 64;
            rwkv_tensor *q = realloc(raw, nc * sizeof *q);
            if (!q) {
                st = rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory", label);
                break;
            }
            raw = q;
            cap = nc;
        }
        rwkv_tensor *t = &raw[n];
        memset(t, 0, sizeof *t);
        t->dtype = dt;
        t->n_dims = (int)nd;
        size_t numel = 1;
        bool bad = false;
        for (uint32_t d = 0; d < nd; d++) {
            uint32_t v = rd32(p + off + 4 * d);
            if (v < 1 || (int64_t)v >= BIN_MAX_DIM || !rwkv_mul_ok(numel, v, &numel) || numel > BIN_MAX_NUMEL)
                bad = true;
            t->shape[nd - 1 - d] = (int64_t)v; /* ggml order reversed */
        }
        off += (size_t)nd * 4;
        const char *key = (const char *)p + off;
        off += klen;
        if (memchr(key, 0, klen)) {
            st = rwkv_fail(RWKV_ERR_FORMAT, "%s: tensor %zu has a NUL byte in its name", label, n);
            break;
        }
        t->name = dup_name(key, klen);
        if (!t->name) {
            st = rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory", label);
            break;
        }
        n++;
        if (bad) {
            st = rwkv_fail(RWKV_ERR_FORMAT, "%s: tensor '%.200s' has a zero or too large dimension", label, t->name);
            break;
        }
        size_t inner = (size_t)t->shape[nd - 1], rb = rwkv_dtype_row_bytes(dt, inner), bytes;
        if (rb == 0) {
            st = rwkv_fail(RWKV_ERR_FORMAT, "%s: tensor '%.200s': row of %zu elements is not a whole number of %s blocks",
                           label, t->name, inner, rwkv_dtype_name(dt));
            break;
        }
        if (!rwkv_mul_ok(rb, numel / inner, &bytes) || bytes > size - off) {
            st = rwkv_fail(RWKV_ERR_FORMAT, "%s: tensor '%.200s': data (%zu elements of %s) runs past the end of the file",
                           label, t->name, numel, rwkv_dtype_name(dt));
            break;
        }
        t->numel = numel;
        t->nbytes = bytes;
        t->data = p + off;
        off += bytes;
    }
    *raw_out = raw;
    *n_out = n;
    return st;
}

rwkv_status rwkv_bin_parse(const void *data, size_t size, const char *label, rwkv_tensor_file *out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_bin_parse: no output given");
    if (!label) label = "rwkv.cpp file";
    memset(out, 0, sizeof *out);
    out->format = "bin";
    const unsigned char *p = data;
    if (size < 24) return rwkv_fail(RWKV_ERR_FORMAT, "%s: truncated rwkv.cpp header (%zu bytes)", label, size);
    if (rd32(p) != BIN_MAGIC) return rwkv_fail(RWKV_ERR_FORMAT, "%s: not an rwkv.cpp .bin file (bad magic)", label);
    uint32_t version = rd32(p + 4);
    if (version != 100 && version != 101)
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "%s: rwkv.cpp file version %" PRIu32 " (100 and 101 supported)",
                         label, version);
    rwkv_tensor *raw = NULL;
    size_t n_raw = 0, cap = 0;
    rwkv_status st = read_raw(p, size, label, version, &raw, &n_raw);
    if (st == RWKV_OK && n_raw == 0) st = rwkv_fail(RWKV_ERR_FORMAT, "%s: the file holds no tensors", label);
    if (st == RWKV_OK) {
        bin_gen g = detect(raw, n_raw);
        for (size_t i = 0; i < n_raw && st == RWKV_OK; i++) st = convert(label, g, &raw[i], out, &cap);
    }
    if (st == RWKV_OK) st = rwkv_tensor_file_check_unique(out, label);
    for (size_t i = 0; i < n_raw; i++) free(raw[i].name);
    free(raw);
    if (st != RWKV_OK) {
        rwkv_tensor_file_close(out);
        out->format = "bin";
    }
    return st;
}
