/* gguf.c — GGUF version 3 reader (mmap'd), with llama.cpp's rwkv7 tensor names mapped back to
 * the official RWKV-7 checkpoint names, shapes and layouts (docs/FORMATS.md):
 *   token_embd -> emb, token_embd_norm -> blocks.0.ln0, output_norm -> ln_out, output -> head,
 *   blk.N.attn_norm(_2) -> blocks.N.ln1 (ln2), time_mix_lerp_fused [6,1,1,C] -> att.x_r..x_g,
 *   time_mix_{w,a,v}0 -> att.{w,a,v}0 [1,1,C], time_mix_{w,a,v,g}{1,2} -> att.* transposed,
 *   time_mix_k_k/k_a -> att.k_k/k_a, time_mix_r_k [C] -> att.r_k [H,N],
 *   time_mix_{key,value,receptance,output} -> att.*.weight, time_mix_ln -> att.ln_x,
 *   channel_mix_lerp_k -> ffn.x_k, channel_mix_{key,value} -> ffn.*.weight.
 * The dummy blk.0.time_mix_v* that llama.cpp's converter writes are dropped. Tensors with other
 * names keep them (a GGUF may carry official names directly); files of architecture
 * rwkv{4,5,6}-official (rwkv.c's own layout, gguf_write.c) keep their official shapes too. World tokens stored as llama.cpp
 * stores them (Python repr escapes) are unescaped; UNUSED ("[PADi]") ids are dropped.
 * rwkv_tokenizer_from_model_file reads that vocabulary from the header and metadata alone. */
#include "gguf.h"
#include "tensor_file.h"
#include "types/quant.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define GG_MAX_TENSORS ((uint64_t)1 << 20)
#define GG_MAX_KV ((uint64_t)1 << 20)
#define GG_MAX_STR ((uint64_t)1 << 24)
#define GG_MAX_NUMEL ((uint64_t)1 << 40)

/* ---- ggml k-quants (super-blocks of 256), dequantized at load time ------------------------
 * Layouts (ggml's block_q{2..6}_K, little-endian, fp16 super-block scales):
 *   Q2_K (id 10, 84 B):  scales[16] (low nibble scale, high nibble min), qs[64] (2-bit), d, dmin
 *   Q3_K (id 11, 110 B): hmask[32], qs[64] (low 2 bits), scales[12] (16 6-bit scales, -32), d
 *   Q4_K (id 12, 144 B): d, dmin, scales[12] (8 6-bit scales + 8 6-bit mins), qs[128] (4-bit)
 *   Q5_K (id 13, 176 B): d, dmin, scales[12], qh[32] (5th bits), qs[128]
 *   Q6_K (id 14, 210 B): ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d */
#define QK_K 256

static size_t kq_block_bytes(uint32_t id) {
    switch (id) {
    case 10: return 84;
    case 11: return 110;
    case 12: return 144;
    case 13: return 176;
    case 14: return 210;
    default: return 0;
    }
}

static float f16_at(const unsigned char *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return rwkv_f16_to_f32(h);
}

/* The j-th 6-bit scale and min of a Q4_K/Q5_K super-block (0 <= j < 8). */
static void k4_scale_min(int j, const unsigned char *q, int *sc, int *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 15) | ((q[j - 4] >> 6) << 4);
        *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static void dequant_q2_k(const unsigned char *b, float *y) {
    const unsigned char *sc = b, *qs = b + 16;
    float d = f16_at(b + 80), dmin = f16_at(b + 82);
    int is = 0;
    for (int half = 0; half < 2; half++, qs += 32)
        for (int shift = 0; shift < 8; shift += 2)
            for (int part = 0; part < 2; part++, is++) {
                float dl = d * (float)(sc[is] & 15), ml = dmin * (float)(sc[is] >> 4);
                for (int l = 0; l < 16; l++) *y++ = dl * (float)((qs[16 * part + l] >> shift) & 3) - ml;
            }
}

static void dequant_q3_k(const unsigned char *b, float *y) {
    const unsigned char *hm = b, *qs = b + 32, *s = b + 96;
    float d = f16_at(b + 108);
    int8_t scales[16];
    for (int i = 0; i < 16; i++) {
        int low = i < 8 ? (s[i] & 15) : (s[i - 8] >> 4);
        int high = (s[8 + (i & 3)] >> (2 * (i >> 2))) & 3;
        scales[i] = (int8_t)((low | (high << 4)) - 32);
    }
    int is = 0;
    unsigned m = 1;
    for (int half = 0; half < 2; half++, qs += 32)
        for (int shift = 0; shift < 8; shift += 2, m <<= 1)
            for (int part = 0; part < 2; part++, is++) {
                float dl = d * (float)scales[is];
                for (int l = 0; l < 16; l++) {
                    int k = 16 * part + l;
                    int q = ((qs[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4);
                    *y++ = dl * (float)q;
                }
            }
}

static void dequant_q45_k(const unsigned char *b, float *y, int five) {
    float d = f16_at(b), dmin = f16_at(b + 2);
    const unsigned char *sc = b + 4, *qh = b + 16, *qs = b + (five ? 48 : 16);
    for (int j = 0; j < 4; j++, qs += 32) {
        for (int nib = 0; nib < 2; nib++) {
            int s, mn;
            k4_scale_min(2 * j + nib, sc, &s, &mn);
            float dl = d * (float)s, ml = dmin * (float)mn;
            unsigned bit = 1u << (2 * j + nib);
            for (int l = 0; l < 32; l++) {
                int q = nib ? qs[l] >> 4 : qs[l] & 15;
                if (five && (qh[l] & bit)) q += 16;
                *y++ = dl * (float)q - ml;
            }
        }
    }
}

static void dequant_q6_k(const unsigned char *b, float *y) {
    const unsigned char *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = f16_at(b + 208);
    for (int n = 0; n < 2; n++, ql += 64, qh += 32, sc += 8, y += 128)
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * (float)sc[is] * (float)q1;
            y[l + 32] = d * (float)sc[is + 2] * (float)q2;
            y[l + 64] = d * (float)sc[is + 4] * (float)q3;
            y[l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
}

/* Dequantizes n (a multiple of 256) values of k-quant type id. */
void rwkv_gguf_dequant_k(uint32_t id, const void *src, float *dst, size_t n) {
    const unsigned char *b = src;
    size_t bs = kq_block_bytes(id);
    for (size_t i = 0; i < n / QK_K; i++, b += bs, dst += QK_K) {
        switch (id) {
        case 10: dequant_q2_k(b, dst); break;
        case 11: dequant_q3_k(b, dst); break;
        case 12: dequant_q45_k(b, dst, 0); break;
        case 13: dequant_q45_k(b, dst, 1); break;
        default: dequant_q6_k(b, dst); break;
        }
    }
}

static bool in_gguf(const rwkv_type *t) { return t->ggml_id >= 0; }

typedef struct cur {
    const unsigned char *p;
    size_t size, off;
    const char *label;
} cur;

static rwkv_status trunc_err(const cur *c, const char *what) {
    return rwkv_fail(RWKV_ERR_FORMAT, "%s: truncated GGUF file (%s at offset %zu of %zu bytes)", c->label,
                     what, c->off, c->size);
}

static rwkv_status rd(cur *c, void *dst, size_t n, const char *what) {
    if (c->size - c->off < n) return trunc_err(c, what);
    memcpy(dst, c->p + c->off, n); /* little-endian host assumed (x86-64, aarch64) */
    c->off += n;
    return RWKV_OK;
}

/* A string: *s points into the data, *len its length. */
static rwkv_status rd_str(cur *c, const unsigned char **s, uint64_t *len, const char *what) {
    rwkv_status st = rd(c, len, 8, what);
    if (st != RWKV_OK) return st;
    if (*len > GG_MAX_STR) return rwkv_fail(RWKV_ERR_FORMAT, "%s: GGUF %s of %" PRIu64 " bytes is too long", c->label, what, *len);
    if (c->size - c->off < *len) return trunc_err(c, what);
    *s = c->p + c->off;
    c->off += (size_t)*len;
    return RWKV_OK;
}

static size_t scalar_size(uint32_t t) {
    switch (t) {
    case GGUF_T_U8: case GGUF_T_I8: case GGUF_T_BOOL: return 1;
    case GGUF_T_U16: case GGUF_T_I16: return 2;
    case GGUF_T_U32: case GGUF_T_I32: case GGUF_T_F32: return 4;
    case GGUF_T_U64: case GGUF_T_I64: case GGUF_T_F64: return 8;
    default: return 0;
    }
}

/* Skips a value of type t (arrays nest at most depth levels). */
static rwkv_status skip_value(cur *c, uint32_t t, int depth) {
    size_t sz = scalar_size(t);
    if (sz) {
        if (c->size - c->off < sz) return trunc_err(c, "metadata value");
        c->off += sz;
        return RWKV_OK;
    }
    if (t == GGUF_T_STR) {
        const unsigned char *s;
        uint64_t len;
        return rd_str(c, &s, &len, "metadata string");
    }
    if (t != GGUF_T_ARR) return rwkv_fail(RWKV_ERR_FORMAT, "%s: unknown GGUF metadata type %" PRIu32, c->label, t);
    if (depth <= 0) return rwkv_fail(RWKV_ERR_FORMAT, "%s: GGUF arrays nested too deeply", c->label);
    uint32_t et;
    uint64_t n;
    rwkv_status st;
    if ((st = rd(c, &et, 4, "array type")) != RWKV_OK || (st = rd(c, &n, 8, "array length")) != RWKV_OK) return st;
    size_t es = scalar_size(et);
    if (es) {
        if (n > (c->size - c->off) / es) return trunc_err(c, "array data");
        c->off += (size_t)n * es;
        return RWKV_OK;
    }
    if (et != GGUF_T_STR && et != GGUF_T_ARR)
        return rwkv_fail(RWKV_ERR_FORMAT, "%s: unknown GGUF array element type %" PRIu32, c->label, et);
    if (n > (c->size - c->off) / 8) return trunc_err(c, "array data"); /* each element >= 8 bytes */
    for (uint64_t i = 0; i < n; i++)
        if ((st = skip_value(c, et, depth - 1)) != RWKV_OK) return st;
    return RWKV_OK;
}

static bool key_is(const unsigned char *k, uint64_t len, const char *s) {
    return len == strlen(s) && !memcmp(k, s, len);
}

static int hex_val(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Undoes the Python-repr escaping of a World token (\t \n \r \xNN, \c -> c) into out (at most
 * n bytes); returns the length. */
static size_t unescape_token(const unsigned char *p, size_t n, unsigned char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\\' || i + 1 == n) {
            out[o++] = p[i];
            continue;
        }
        unsigned char c = p[++i];
        if (c == 't') out[o++] = '\t';
        else if (c == 'n') out[o++] = '\n';
        else if (c == 'r') out[o++] = '\r';
        else if (c == 'x' && i + 2 < n && hex_val(p[i + 1]) >= 0 && hex_val(p[i + 2]) >= 0) {
            out[o++] = (unsigned char)(hex_val(p[i + 1]) * 16 + hex_val(p[i + 2]));
            i += 2;
        } else out[o++] = c;
    }
    return o;
}

/* After all metadata: blanks UNUSED (padding) ids and unescapes the tokens when the file stores
 * them as llama.cpp's converter does (every token printable ASCII; raw World tokens such as "\n"
 * are not, so files with raw bytes are recognized and kept as they are). */
static rwkv_status finish_vocab(rwkv_gguf_meta *m, const unsigned char *types, uint64_t n_types) {
    if (!m->n_tokens || !m->is_rwkv_vocab) return RWKV_OK;
    size_t total = 0;
    bool escaped = true;
    for (size_t i = 0; i < m->n_tokens; i++) {
        int32_t ty = 1;
        if (types && i < n_types) memcpy(&ty, types + 4 * i, 4);
        if (ty == 5) { /* UNUSED: "[PADi]" */
            m->tok[i] = NULL;
            m->tok_len[i] = 0;
            continue;
        }
        total += (size_t)m->tok_len[i];
        for (uint64_t j = 0; j < m->tok_len[i] && escaped; j++)
            if (m->tok[i][j] < 0x20 || m->tok[i][j] >= 0x7f) escaped = false;
    }
    if (!escaped) return RWKV_OK;
    m->tok_buf = malloc(total ? total : 1);
    if (!m->tok_buf) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    size_t off = 0;
    for (size_t i = 0; i < m->n_tokens; i++) {
        if (!m->tok[i]) continue;
        size_t len = unescape_token(m->tok[i], (size_t)m->tok_len[i], m->tok_buf + off);
        m->tok[i] = m->tok_buf + off;
        m->tok_len[i] = len;
        off += len;
    }
    return RWKV_OK;
}

static void meta_free(void *p) {
    rwkv_gguf_meta *m = p;
    if (!m) return;
    free(m->tok);
    free(m->tok_len);
    free(m->tok_buf);
    free(m);
}

typedef struct gg_info {
    const unsigned char *name;
    uint64_t name_len;
    int n_dims;
    int64_t shape[RWKV_MAX_DIMS]; /* torch order */
    rwkv_dtype dt;
    uint64_t offset;
    size_t numel, nbytes;
    uint32_t kq; /* ggml k-quant id (10..14), else 0 */
} gg_info;

/* Appends a tensor (name copied) to out. */
static rwkv_status add(rwkv_tensor_file *out, size_t cap, const char *name, rwkv_dtype dt, int nd,
                       const int64_t *shape, const void *data) {
    if (out->n_tensors >= cap) return rwkv_fail(RWKV_ERR_FORMAT, "GGUF: too many derived tensors");
    rwkv_tensor *t = &out->tensors[out->n_tensors];
    memset(t, 0, sizeof *t);
    size_t len = strlen(name);
    t->name = malloc(len + 1);
    if (!t->name) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    memcpy(t->name, name, len + 1);
    out->n_tensors++;
    t->dtype = dt;
    t->n_dims = nd;
    t->numel = 1;
    for (int d = 0; d < nd; d++) {
        t->shape[d] = shape[d];
        t->numel *= (size_t)shape[d];
    }
    t->nbytes = rwkv_dtype_row_bytes(dt, (size_t)shape[nd - 1]) * (t->numel / (size_t)shape[nd - 1]);
    t->data = data;
    return RWKV_OK;
}

/* An owned fp32 copy of g's data. */
static float *owned_f32(rwkv_tensor_file *out, const gg_info *g, const void *data) {
    float *f = malloc((g->numel ? g->numel : 1) * sizeof *f);
    if (rwkv_tensor_file_own(out, f) != RWKV_OK) return NULL;
    rwkv_convert_to_f32(g->dt, data, f, g->numel);
    return f;
}

static bool is_big_matrix(const char *official) {
    static const char *const big[] = {"att.key.weight", "att.value.weight", "att.receptance.weight",
                                      "att.output.weight", "ffn.key.weight", "ffn.value.weight",
                                      "head.weight", "att.gate.weight", "ffn.receptance.weight"};
    size_t n = strlen(official);
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        size_t b = strlen(big[i]);
        if (n >= b && !strcmp(official + n - b, big[i])) return true;
    }
    return false;
}

static rwkv_status map_tensor(const char *label, const gg_info *g, const void *data, int head_size,
                              rwkv_tensor_file *out, size_t cap);

/* A k-quant tensor: dequantized, then stored as q8_0 when it is one of the big matrices (the
 * engine has no k-quant kernels; q8_0 adds little error to a 2..6-bit k-quant), fp16 for the
 * embedding, fp32 otherwise; then mapped like any other tensor. */
static rwkv_status map_kquant(const char *label, const gg_info *g, const void *data, int head_size,
                              rwkv_tensor_file *out, size_t cap) {
    float *f = malloc(g->numel * sizeof *f);
    if (rwkv_tensor_file_own(out, f) != RWKV_OK) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    rwkv_gguf_dequant_k(g->kq, data, f, g->numel);
    gg_info h = *g;
    h.kq = 0;
    h.dt = RWKV_DT_F32;
    static const char *const big[] = {"time_mix_key.weight", "time_mix_value.weight", "time_mix_receptance.weight",
                                      "time_mix_output.weight", "time_mix_gate.weight", "channel_mix_key.weight",
                                      "channel_mix_value.weight", "channel_mix_receptance.weight"};
    bool is_big = g->n_dims == 2 && g->name_len == 13 && !memcmp(g->name, "output.weight", 13);
    for (size_t i = 0; i < sizeof big / sizeof big[0] && g->n_dims == 2 && !is_big; i++) {
        size_t bl = strlen(big[i]);
        is_big = g->name_len > bl && !memcmp(g->name + g->name_len - bl, big[i], bl);
    }
    bool is_emb = g->name_len == 17 && !memcmp(g->name, "token_embd.weight", 17);
    if (is_big || is_emb) {
        h.dt = is_big ? RWKV_DT_Q8_0 : RWKV_DT_F16;
        size_t inner = (size_t)g->shape[g->n_dims - 1], rows = g->numel / inner, rb = rwkv_dtype_row_bytes(h.dt, inner);
        unsigned char *q = malloc(rb * rows);
        if (rwkv_tensor_file_own(out, q) != RWKV_OK) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
        for (size_t r = 0; r < rows; r++) rwkv_quantize_row(h.dt, f + r * inner, q + r * rb, inner);
        h.nbytes = rb * rows;
        return map_tensor(label, &h, q, head_size, out, cap);
    }
    h.nbytes = g->numel * sizeof *f;
    return map_tensor(label, &h, f, head_size, out, cap);
}

/* Maps one GGUF tensor to official tensors in out. head_size: rwkv7.wkv.head_size. */
static rwkv_status map_tensor(const char *label, const gg_info *g, const void *data, int head_size,
                              rwkv_tensor_file *out, size_t cap) {
    if (g->kq) return map_kquant(label, g, data, head_size, out, cap);
    char gname[256], name[300];
    if (g->name_len >= sizeof gname) return rwkv_fail(RWKV_ERR_FORMAT, "%s: tensor name too long", label);
    memcpy(gname, g->name, g->name_len);
    gname[g->name_len] = 0;
    int layer = -1, pos = 0;
    const char *rest = gname;
    if (sscanf(gname, "blk.%d.%n", &layer, &pos) == 1 && pos > 0 && layer >= 0) rest = gname + pos;
    else layer = -1;
    int64_t shape[RWKV_MAX_DIMS];
    int nd = g->n_dims;
    memcpy(shape, g->shape, sizeof shape);
    const int64_t C = shape[nd - 1];
    int transpose = 0, vec = 0, rk = 0;
    static const struct { const char *from, *to; int kind; } tab[] = {
        /* kind: 0 as is, 1 vector [1,1,C], 2 transpose, 3 r_k, 4 lerp_fused, 5 drop in layer 0 */
        {"attn_norm.weight", "ln1.weight", 0}, {"attn_norm.bias", "ln1.bias", 0},
        {"attn_norm_2.weight", "ln2.weight", 0}, {"attn_norm_2.bias", "ln2.bias", 0},
        {"time_mix_lerp_fused.weight", "", 4},
        {"time_mix_w0.weight", "att.w0", 1}, {"time_mix_a0.weight", "att.a0", 1},
        {"time_mix_v0.weight", "att.v0", 5},
        {"time_mix_w1.weight", "att.w1", 2}, {"time_mix_w2.weight", "att.w2", 2},
        {"time_mix_a1.weight", "att.a1", 2}, {"time_mix_a2.weight", "att.a2", 2},
        {"time_mix_v1.weight", "att.v1", 5}, {"time_mix_v2.weight", "att.v2", 5},
        {"time_mix_g1.weight", "att.g1", 2}, {"time_mix_g2.weight", "att.g2", 2},
        {"time_mix_k_k.weight", "att.k_k", 1}, {"time_mix_k_a.weight", "att.k_a", 1},
        {"time_mix_r_k.weight", "att.r_k", 3},
        {"time_mix_key.weight", "att.key.weight", 0}, {"time_mix_value.weight", "att.value.weight", 0},
        {"time_mix_receptance.weight", "att.receptance.weight", 0},
        {"time_mix_output.weight", "att.output.weight", 0},
        {"time_mix_ln.weight", "att.ln_x.weight", 0}, {"time_mix_ln.bias", "att.ln_x.bias", 0},
        {"channel_mix_lerp_k.weight", "ffn.x_k", 1},
        {"channel_mix_key.weight", "ffn.key.weight", 0},
        {"channel_mix_value.weight", "ffn.value.weight", 0}};
    int kind = -1;
    if (layer >= 0) {
        for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
            if (!strcmp(rest, tab[i].from)) {
                kind = tab[i].kind;
                snprintf(name, sizeof name, "blocks.%d.%s", layer, tab[i].to);
                break;
            }
        if (kind == 5) {
            if (layer == 0) return RWKV_OK; /* llama.cpp's dummy value-residual tensors */
            kind = (strstr(rest, "v0") ? 1 : 2);
        }
    } else {
        static const char *const top[][2] = {{"token_embd.weight", "emb.weight"},
                                             {"token_embd_norm.weight", "blocks.0.ln0.weight"},
                                             {"token_embd_norm.bias", "blocks.0.ln0.bias"},
                                             {"output_norm.weight", "ln_out.weight"},
                                             {"output_norm.bias", "ln_out.bias"},
                                             {"output.weight", "head.weight"}};
        for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
            if (!strcmp(gname, top[i][0])) {
                kind = 0;
                snprintf(name, sizeof name, "%s", top[i][1]);
            }
    }
    if (kind < 0) { /* unknown: keep the name */
        kind = 0;
        snprintf(name, sizeof name, "%s", gname);
    }
    vec = kind == 1;
    transpose = kind == 2;
    rk = kind == 3;
    if (kind == 4) {
        if (g->numel % 6 != 0 || shape[0] != 6)
            return rwkv_fail(RWKV_ERR_SHAPE, "%s: %s is not [6,1,1,C]", label, gname);
        static const char *const parts[6] = {"x_r", "x_w", "x_k", "x_v", "x_a", "x_g"};
        size_t n = g->numel / 6;
        const void *base = data;
        rwkv_dtype dt = g->dt;
        if (rwkv_dtype_is_quant(dt) || rwkv_dtype_size(dt) == 0) {
            if (!(base = owned_f32(out, g, data))) return RWKV_ERR_NOMEM;
            dt = RWKV_DT_F32;
        }
        for (int k = 0; k < 6; k++) {
            char pn[300];
            snprintf(pn, sizeof pn, "blocks.%d.att.%s", layer, parts[k]);
            int64_t s3[3] = {1, 1, (int64_t)n};
            rwkv_status st = add(out, cap, pn, dt, 3, s3,
                                 (const char *)base + (size_t)k * n * rwkv_dtype_size(dt));
            if (st != RWKV_OK) return st;
        }
        return RWKV_OK;
    }
    if (vec || rk) {
        if (rk) {
            if (head_size <= 0 || (int64_t)g->numel % head_size != 0)
                return rwkv_fail(RWKV_ERR_SHAPE, "%s: %s does not split into heads of %d", label, gname, head_size);
            shape[0] = (int64_t)g->numel / head_size;
            shape[1] = head_size;
            nd = 2;
        } else {
            shape[0] = shape[1] = 1;
            shape[2] = (int64_t)g->numel;
            nd = 3;
        }
    }
    if (transpose) {
        if (nd != 2) return rwkv_fail(RWKV_ERR_SHAPE, "%s: %s is not a matrix", label, gname);
        float *f = owned_f32(out, g, data);
        float *t = f ? malloc(g->numel * sizeof *t) : NULL;
        if (!f || rwkv_tensor_file_own(out, t) != RWKV_OK) return RWKV_ERR_NOMEM;
        size_t r = (size_t)shape[0], c = (size_t)shape[1];
        for (size_t i = 0; i < r; i++)
            for (size_t j = 0; j < c; j++) t[j * r + i] = f[i * c + j];
        int64_t s2[2] = {(int64_t)c, (int64_t)r};
        return add(out, cap, name, RWKV_DT_F32, 2, s2, t);
    }
    (void)C;
    if (rwkv_dtype_is_quant(g->dt) && !(nd == 2 && is_big_matrix(name))) {
        float *f = owned_f32(out, g, data); /* small or embedding: float */
        if (!f) return RWKV_ERR_NOMEM;
        return add(out, cap, name, RWKV_DT_F32, nd, shape, f);
    }
    return add(out, cap, name, g->dt, nd, shape, data);
}

/* What the header and the metadata say besides the vocabulary (rwkv_gguf_meta). */
typedef struct gg_header {
    uint64_t n_tensors;
    uint32_t alignment;
    int head_size;
} gg_header;

/* Reads the header and the metadata at the start of c into *meta (allocated here and stored
 * before anything can fail: the caller frees it with meta_free) and *h; c is left at the first
 * tensor record. */
static rwkv_status read_header(cur *c, rwkv_gguf_meta **meta_out, gg_header *h) {
    const char *label = c->label;
    char magic[4];
    uint32_t version;
    uint64_t n_tensors, n_kv;
    rwkv_status st;
    *meta_out = NULL;
    if ((st = rd(c, magic, 4, "magic")) != RWKV_OK) return st;
    if (memcmp(magic, "GGUF", 4)) return rwkv_fail(RWKV_ERR_FORMAT, "%s: not a GGUF file (bad magic)", label);
    if ((st = rd(c, &version, 4, "version")) != RWKV_OK) return st;
    if (version != 3 && version != 2)
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "%s: GGUF version %" PRIu32 " (2 and 3 supported)", label, version);
    if ((st = rd(c, &n_tensors, 8, "tensor count")) != RWKV_OK || (st = rd(c, &n_kv, 8, "metadata count")) != RWKV_OK)
        return st;
    if (n_tensors == 0 || n_tensors > GG_MAX_TENSORS)
        return rwkv_fail(RWKV_ERR_FORMAT, "%s: GGUF tensor count %" PRIu64 " out of range 1..%" PRIu64, label, n_tensors, GG_MAX_TENSORS);
    if (n_kv > GG_MAX_KV) return rwkv_fail(RWKV_ERR_FORMAT, "%s: GGUF metadata count %" PRIu64 " too large", label, n_kv);
    rwkv_gguf_meta *meta = calloc(1, sizeof *meta);
    if (!meta) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    *meta_out = meta;
    uint32_t alignment = 32;
    int head_size = 64;
    const unsigned char *tok_types = NULL;
    uint64_t n_tok_types = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        const unsigned char *k;
        uint64_t klen;
        uint32_t t;
        if ((st = rd_str(c, &k, &klen, "metadata key")) != RWKV_OK) return st;
        if ((st = rd(c, &t, 4, "metadata type")) != RWKV_OK) return st;
        size_t at = c->off;
        if ((st = skip_value(c, t, 2)) != RWKV_OK) return st;
        cur v = {c->p, c->off, at, label}; /* the value's bytes */
        if (key_is(k, klen, "general.alignment")) {
            if (t != GGUF_T_U32 || rd(&v, &alignment, 4, "alignment") != RWKV_OK || alignment == 0 ||
                (alignment & (alignment - 1)) || alignment > 65536)
                return rwkv_fail(RWKV_ERR_FORMAT, "%s: bad general.alignment", label);
        } else if (key_is(k, klen, "general.architecture") && t == GGUF_T_STR) {
            const unsigned char *s;
            uint64_t len;
            if (rd_str(&v, &s, &len, "architecture") == RWKV_OK && len < sizeof meta->arch) {
                memcpy(meta->arch, s, len);
                meta->arch[len] = 0;
            }
        } else if (key_is(k, klen, "rwkv7.wkv.head_size") && t == GGUF_T_U32) {
            uint32_t hs;
            if (rd(&v, &hs, 4, "head size") == RWKV_OK && hs > 0 && hs <= 4096) head_size = (int)hs;
        } else if (key_is(k, klen, "tokenizer.ggml.model") && t == GGUF_T_STR) {
            const unsigned char *s;
            uint64_t len;
            if (rd_str(&v, &s, &len, "tokenizer model") == RWKV_OK) meta->is_rwkv_vocab = key_is(s, len, "rwkv");
        } else if (key_is(k, klen, "tokenizer.ggml.tokens") && t == GGUF_T_ARR) {
            uint32_t et;
            uint64_t n;
            if (rd(&v, &et, 4, "array type") == RWKV_OK && et == GGUF_T_STR && rd(&v, &n, 8, "array length") == RWKV_OK &&
                n > 0 && n <= (1u << 24)) {
                meta->tok = calloc((size_t)n, sizeof *meta->tok);
                meta->tok_len = calloc((size_t)n, sizeof *meta->tok_len);
                if (!meta->tok || !meta->tok_len) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
                for (uint64_t j = 0; j < n; j++)
                    if ((st = rd_str(&v, &meta->tok[j], &meta->tok_len[j], "token")) != RWKV_OK) return st;
                meta->n_tokens = (size_t)n;
            }
        } else if (key_is(k, klen, "tokenizer.ggml.token_type") && t == GGUF_T_ARR) {
            uint32_t et;
            uint64_t n;
            if (rd(&v, &et, 4, "array type") == RWKV_OK && (et == GGUF_T_I32 || et == GGUF_T_U32) &&
                rd(&v, &n, 8, "array length") == RWKV_OK) {
                tok_types = v.p + v.off; /* skip_value checked n * 4 bytes */
                n_tok_types = n;
            }
        }
    }
    if ((st = finish_vocab(meta, tok_types, n_tok_types)) != RWKV_OK) return st;
    h->n_tensors = n_tensors;
    h->alignment = alignment;
    h->head_size = head_size;
    return RWKV_OK;
}

rwkv_status rwkv_gguf_parse(const void *data, size_t size, const char *label, rwkv_tensor_file *out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_gguf_parse: no output given");
    if (!label) label = "GGUF file";
    memset(out, 0, sizeof *out);
    out->format = "gguf";
    cur c = {data, size, 0, label};
    gg_header h = {0};
    rwkv_gguf_meta *meta;
    rwkv_status st = read_header(&c, &meta, &h);
    out->meta = meta;
    out->meta_free = meta_free;
    const uint64_t n_tensors = h.n_tensors;
    const uint32_t alignment = h.alignment;
    gg_info *info = NULL;
    if (st != RWKV_OK) goto done;
    /* "rwkv4-official", "rwkv5-official", "rwkv6-official": official .pth names and shapes,
     * taken as they are (map_tensor keeps names outside llama.cpp's rwkv7 scheme) */
    const bool official = !strcmp(meta->arch, "rwkv4-official") || !strcmp(meta->arch, "rwkv5-official") ||
                          !strcmp(meta->arch, "rwkv6-official");
    info = calloc((size_t)n_tensors, sizeof *info);
    if (!info) {
        st = rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        gg_info *g = &info[i];
        uint32_t nd, type;
        if ((st = rd_str(&c, &g->name, &g->name_len, "tensor name")) != RWKV_OK) goto done;
        if (g->name_len == 0 || g->name_len > 200 || memchr(g->name, 0, g->name_len)) {
            st = rwkv_fail(RWKV_ERR_FORMAT, "%s: GGUF tensor %" PRIu64 " has an empty, overlong or invalid name", label, i);
            goto done;
        }
        if ((st = rd(&c, &nd, 4, "tensor dims")) != RWKV_OK) goto done;
        if (nd < 1 || nd > RWKV_MAX_DIMS) {
            st = rwkv_fail(RWKV_ERR_FORMAT, "%s: GGUF tensor '%.*s' has %" PRIu32 " dimensions (1..4)", label,
                           (int)g->name_len, g->name, nd);
            goto done;
        }
        g->n_dims = (int)nd;
        uint64_t numel = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t ne;
            if ((st = rd(&c, &ne, 8, "tensor shape")) != RWKV_OK) goto done;
            if (ne == 0 || ne > GG_MAX_NUMEL || numel * ne > GG_MAX_NUMEL) { /* numel <= 2^40: no overflow */
                st = rwkv_fail(RWKV_ERR_FORMAT, "%s: GGUF tensor '%.*s' has a zero or too large dimension", label,
                               (int)g->name_len, g->name);
                goto done;
            }
            numel *= ne;
            g->shape[nd - 1 - d] = (int64_t)ne;
        }
        /* drop leading size-1 dims that ggml pads with (ne[3] = 1 ...); rwkv.c's own layout
         * keeps the official shapes as written */
        while (!official && g->n_dims > 1 && g->shape[0] == 1) {
            memmove(g->shape, g->shape + 1, sizeof g->shape[0] * (size_t)(g->n_dims - 1));
            g->n_dims--;
        }
        if ((st = rd(&c, &type, 4, "tensor type")) != RWKV_OK || (st = rd(&c, &g->offset, 8, "tensor offset")) != RWKV_OK)
            goto done;
        g->numel = (size_t)numel;
        size_t inner = (size_t)g->shape[g->n_dims - 1], rb;
        if (kq_block_bytes(type)) { /* k-quant: dequantized in map_tensor */
            g->kq = type;
            g->dt = RWKV_DT_F32;
            rb = inner % QK_K ? 0 : inner / QK_K * kq_block_bytes(type);
            if (rb == 0) {
                st = rwkv_fail(RWKV_ERR_FORMAT, "%s: GGUF tensor '%.*s': rows of %zu are not whole k-quant blocks of 256",
                               label, (int)g->name_len, g->name, inner);
                goto done;
            }
        } else if (!rwkv_dtype_of_ggml_id(type, &g->dt)) {
            char names[256];
            st = rwkv_fail(RWKV_ERR_UNSUPPORTED,
                           "%s: GGUF tensor '%.*s' has ggml type %" PRIu32 " (supported: %s, q2_K..q6_K)", label,
                           (int)g->name_len, g->name, type, rwkv_dtype_list(names, sizeof names, in_gguf, false));
            goto done;
        } else {
            rb = rwkv_dtype_row_bytes(g->dt, inner);
        }
        if (rb == 0 || !rwkv_mul_ok(rb, g->numel / inner, &g->nbytes)) {
            st = rwkv_fail(RWKV_ERR_FORMAT, "%s: GGUF tensor '%.*s': rows of %zu are not whole %s blocks", label,
                           (int)g->name_len, g->name, inner, rwkv_dtype_name(g->dt));
            goto done;
        }
    }
    size_t data_start = c.off + (alignment - c.off % alignment) % alignment;
    if (data_start > size) {
        st = trunc_err(&c, "tensor data");
        goto done;
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        gg_info *g = &info[i];
        if (g->offset % alignment != 0 || g->offset > size - data_start || g->nbytes > size - data_start - g->offset) {
            st = rwkv_fail(RWKV_ERR_FORMAT, "%s: GGUF tensor '%.*s' (offset %" PRIu64 ", %zu bytes) lies outside the file or is misaligned",
                           label, (int)g->name_len, g->name, g->offset, g->nbytes);
            goto done;
        }
    }
    const size_t cap = 6 * (size_t)n_tensors; /* lerp_fused splits into 6 */
    out->tensors = calloc(cap, sizeof *out->tensors);
    if (!out->tensors) {
        st = rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        const gg_info *g = &info[i];
        if ((st = map_tensor(label, g, (const char *)data + data_start + g->offset, h.head_size, out, cap)) != RWKV_OK)
            goto done;
    }
    st = rwkv_tensor_file_check_unique(out, label);
done:
    free(info);
    if (st != RWKV_OK) {
        rwkv_tensor_file_close(out);
        out->format = "gguf";
    }
    return st;
}

/* The World vocabulary of meta as the text rwkv_tokenizer_load_mem reads: one line per token,
 * "ID b'\xNN...' LEN" (padding and unused ids left out). *text is malloc'd. */
static rwkv_status vocab_text(const rwkv_gguf_meta *m, char **text, size_t *len) {
    static const char hex[] = "0123456789abcdef";
    size_t cap = 1;
    for (size_t i = 1; i < m->n_tokens; i++) cap += 48 + 4 * (size_t)m->tok_len[i];
    char *b = malloc(cap);
    if (!b) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 1; i < m->n_tokens; i++) {
        if (!m->tok_len[i]) continue;
        n += (size_t)snprintf(b + n, cap - n, "%zu b'", i);
        for (uint64_t j = 0; j < m->tok_len[i]; j++) {
            const unsigned char ch = m->tok[i][j];
            b[n++] = '\\';
            b[n++] = 'x';
            b[n++] = hex[ch >> 4];
            b[n++] = hex[ch & 15];
        }
        n += (size_t)snprintf(b + n, cap - n, "' %" PRIu64 "\n", m->tok_len[i]);
    }
    *text = b;
    *len = n;
    return RWKV_OK;
}

rwkv_status rwkv_tokenizer_from_model_file(const char *model_path, rwkv_tokenizer **out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_tokenizer_from_model_file: out is NULL");
    *out = NULL;
    rwkv_mapping map;
    rwkv_status st = rwkv_map_file(model_path, &map);
    if (st != RWKV_OK) return st;
    rwkv_gguf_meta *m = NULL;
    char *text = NULL;
    size_t len = 0;
    if (map.size < 4 || memcmp(map.data, "GGUF", 4)) {
        st = rwkv_fail(RWKV_ERR_UNSUPPORTED, "%s: not a GGUF file (no embedded vocabulary)", model_path);
    } else { /* the header and metadata only: the tensors are not needed */
        cur c = {map.data, map.size, 0, model_path};
        gg_header h;
        st = read_header(&c, &m, &h);
        if (st == RWKV_OK && (!m->is_rwkv_vocab || m->n_tokens < 2))
            st = rwkv_fail(RWKV_ERR_UNSUPPORTED, "%s: the GGUF file embeds no RWKV World vocabulary", model_path);
        if (st == RWKV_OK) st = vocab_text(m, &text, &len);
    }
    meta_free(m);
    rwkv_unmap(&map);
    if (st == RWKV_OK) st = rwkv_tokenizer_load_mem(text, len, out);
    free(text);
    return st;
}
