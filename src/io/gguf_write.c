/* gguf_write.c — writing models as GGUF v3: RWKV-7 with llama.cpp's rwkv7 names and metadata
 * (the inverse of the mapping in gguf.c); RWKV-4/5/6 in rwkv.c's own layout (official .pth names
 * and shapes, architecture "rwkv4-official"/"rwkv5-official"/"rwkv6-official", not llama.cpp
 * files).
 *
 * llama.cpp layout facts used here: LoRA matrices time_mix_{w,a,v,g}{1,2} are the transposes of
 * the official ones; att.x_r..x_g are stacked into time_mix_lerp_fused [6,1,1,C]; vectors are
 * flat [C] (lerp_k too); r_k is flat [C]; layer 0 carries dummy time_mix_v{0,1,2} (copies
 * of a{0,1,2}) because llama.cpp requires them; token id 0 is "<s>" (control), the others are
 * escaped as llama.cpp's converter escapes them (checked against llama.cpp: docs/FORMATS.md). */
#include "gguf.h"
#include "io/tensor_file.h"
#include "model/model.h"
#include "types/quant.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SRC 6

typedef enum { X_ROWS, X_TRANSPOSE, X_FUSE6, X_FLAT } xform;

typedef struct out_tensor {
    char name[96];
    int nd;
    uint64_t ne[4];              /* ggml order */
    rwkv_dtype dt;
    xform x;
    const rwkv_tensor *src[MAX_SRC];
    size_t nbytes;
    uint64_t offset;
} out_tensor;

typedef struct writer {
    FILE *f;
    out_tensor *t;
    size_t n, cap;
    rwkv_status st;
} writer;

static void wr(writer *w, const void *p, size_t n) {
    if (w->st == RWKV_OK && n && fwrite(p, 1, n, w->f) != n)
        w->st = rwkv_fail(RWKV_ERR_IO, "write failed: %s", strerror(errno));
}
static void wr_u32(writer *w, uint32_t v) { wr(w, &v, 4); }
static void wr_u64(writer *w, uint64_t v) { wr(w, &v, 8); }
static void wr_str(writer *w, const char *s, size_t n) { wr_u64(w, n); wr(w, s, n); }
static void kv_str(writer *w, const char *k, const char *v) {
    wr_str(w, k, strlen(k)); wr_u32(w, GGUF_T_STR); wr_str(w, v, strlen(v));
}
static void kv_u32(writer *w, const char *k, uint32_t v) { wr_str(w, k, strlen(k)); wr_u32(w, GGUF_T_U32); wr_u32(w, v); }
static void kv_f32(writer *w, const char *k, float v) { wr_str(w, k, strlen(k)); wr_u32(w, GGUF_T_F32); wr(w, &v, 4); }

/* Adds an output tensor. shape: torch order (outermost first). */
static out_tensor *push(writer *w, const char *name, int nd, const int64_t *shape, rwkv_dtype dt, xform x) {
    if (w->st != RWKV_OK) return NULL;
    if (w->n == w->cap) {
        size_t nc = w->cap ? 2 * w->cap : 256;
        out_tensor *q = realloc(w->t, nc * sizeof *q);
        if (!q) {
            w->st = rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
            return NULL;
        }
        w->t = q;
        w->cap = nc;
    }
    out_tensor *o = &w->t[w->n++];
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", name);
    o->nd = nd;
    size_t numel = 1;
    for (int d = 0; d < nd; d++) {
        o->ne[d] = (uint64_t)shape[nd - 1 - d];
        numel *= (size_t)shape[d];
    }
    size_t inner = (size_t)shape[nd - 1];
    if (rwkv_dtype_row_bytes(dt, inner) == 0) dt = RWKV_DT_F16; /* rows not whole blocks */
    o->dt = dt;
    o->nbytes = rwkv_dtype_row_bytes(dt, inner) * (numel / inner);
    o->x = x;
    return o;
}

static const rwkv_tensor *need(const rwkv_tensor_file *tf, writer *w, const char *fmt, int i) {
    char name[128];
    snprintf(name, sizeof name, fmt, i);
    const rwkv_tensor *t = rwkv_tensor_file_find(tf, name);
    if (!t && w->st == RWKV_OK) w->st = rwkv_fail(RWKV_ERR_SHAPE, "tensor '%s' is missing", name);
    return t;
}

/* Torch shape of t with leading size-1 dims removed. */
static int squeeze(const rwkv_tensor *t, int64_t *shape) {
    int nd = t->n_dims, s = 0;
    while (nd - s > 1 && t->shape[s] == 1) s++;
    for (int d = s; d < nd; d++) shape[d - s] = t->shape[d];
    return nd - s;
}

/* Produces the bytes of output tensor o into dst (o->nbytes). */
static rwkv_status produce(const out_tensor *o, unsigned char *dst) {
    const rwkv_tensor *s = o->src[0];
    if (o->x == X_ROWS || o->x == X_FLAT) {
        if (s->dtype == o->dt) {
            memcpy(dst, s->data, o->nbytes);
            return RWKV_OK;
        }
        size_t inner = o->x == X_FLAT ? s->numel : (size_t)o->ne[0], rows = s->numel / inner;
        size_t srb = rwkv_dtype_row_bytes(s->dtype, inner), drb = rwkv_dtype_row_bytes(o->dt, inner);
        if (srb == 0) return rwkv_fail(RWKV_ERR_SHAPE, "tensor '%s': rows are not whole blocks", s->name);
        float *row = malloc(inner * sizeof *row);
        if (!row) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
        for (size_t r = 0; r < rows; r++) {
            rwkv_convert_to_f32(s->dtype, (const char *)s->data + r * srb, row, inner);
            rwkv_quantize_row(o->dt, row, dst + r * drb, inner);
        }
        free(row);
        return RWKV_OK;
    }
    /* small tensors, written as f32 */
    float *out = (float *)(void *)dst;
    if (o->x == X_FUSE6) {
        size_t C = (size_t)o->ne[0];
        for (int k = 0; k < 6; k++) {
            if (o->src[k]->numel != C) return rwkv_fail(RWKV_ERR_SHAPE, "tensor '%s' has the wrong size", o->src[k]->name);
            float tmp[1];
            (void)tmp;
            rwkv_convert_to_f32(o->src[k]->dtype, o->src[k]->data, out + k * C, C);
        }
        return RWKV_OK;
    }
    /* transpose [r][c] -> [c][r] */
    size_t r = (size_t)o->ne[0], c = (size_t)o->ne[1]; /* output torch [c'][r'] = ne1 x ne0 */
    float *f = malloc(s->numel * sizeof *f);
    if (!f) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    rwkv_convert_to_f32(s->dtype, s->data, f, s->numel);
    /* source torch shape [r][c] where output is [c][r] (ne0 = r) */
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < c; j++) out[j * r + i] = f[i * c + j];
    free(f);
    return RWKV_OK;
}

static bool in_gguf(const rwkv_type *t) { return t->ggml_id >= 0; }

/* Parses a type name (one the table can write to GGUF); *keep for NULL/"". */
static rwkv_status parse_type(const char *type, rwkv_dtype *dt, bool *keep) {
    *keep = !type || !*type;
    if (*keep) return RWKV_OK;
    if (rwkv_dtype_from_name(type, dt) && rwkv_ggml_id_of(*dt) >= 0) return RWKV_OK;
    char names[256];
    return rwkv_fail(RWKV_ERR_INVALID_ARG, "unknown weight type '%.40s' (%s)", type,
                     rwkv_dtype_list(names, sizeof names, in_gguf, true));
}

/* Plans every output tensor of the RWKV-7 model tf. */
static void plan(writer *w, const rwkv_tensor_file *tf, bool keep, rwkv_dtype target, int L) {
    int64_t sh[4];
    const rwkv_tensor *t;
#define SRC(o, k, tt) do { if (o) (o)->src[k] = (tt); } while (0)
    /* big matrix: target type (or kept; quantized sources kept as they are) */
#define BIG(gname, tt)                                                                  \
    do {                                                                                \
        if (!(tt)) break;                                                               \
        int nd_ = squeeze((tt), sh);                                                    \
        rwkv_dtype d_ = keep ? (tt)->dtype : target;                                    \
        out_tensor *o_ = push(w, gname, nd_, sh, d_, X_ROWS);                           \
        SRC(o_, 0, (tt));                                                               \
    } while (0)
#define SMALL(gname, tt, x_)                                                            \
    do {                                                                                \
        if (!(tt)) break;                                                               \
        int nd_ = squeeze((tt), sh);                                                    \
        if ((x_) == X_FLAT) { sh[0] = (int64_t)(tt)->numel; nd_ = 1; }                  \
        if ((x_) == X_TRANSPOSE) { int64_t a_ = sh[0]; sh[0] = sh[1]; sh[1] = a_; }     \
        out_tensor *o_ = push(w, gname, nd_, sh, RWKV_DT_F32, (x_));                    \
        SRC(o_, 0, (tt));                                                               \
    } while (0)
    t = need(tf, w, "emb.weight", 0);
    if (t) {
        int nd = squeeze(t, sh);
        rwkv_dtype d = keep ? (rwkv_dtype_is_quant(t->dtype) ? RWKV_DT_F16 : t->dtype)
                            : (target == RWKV_DT_F32 || target == RWKV_DT_BF16 ? target : RWKV_DT_F16);
        out_tensor *o = push(w, "token_embd.weight", nd, sh, d, X_ROWS);
        SRC(o, 0, t);
    }
    SMALL("token_embd_norm.weight", need(tf, w, "blocks.0.ln0.weight", 0), X_FLAT);
    SMALL("token_embd_norm.bias", need(tf, w, "blocks.0.ln0.bias", 0), X_FLAT);
    for (int i = 0; i < L && w->st == RWKV_OK; i++) {
        char n[96];
#define N(s) (snprintf(n, sizeof n, "blk.%d.%s", i, s), n)
        SMALL(N("attn_norm.weight"), need(tf, w, "blocks.%d.ln1.weight", i), X_FLAT);
        SMALL(N("attn_norm.bias"), need(tf, w, "blocks.%d.ln1.bias", i), X_FLAT);
        SMALL(N("attn_norm_2.weight"), need(tf, w, "blocks.%d.ln2.weight", i), X_FLAT);
        SMALL(N("attn_norm_2.bias"), need(tf, w, "blocks.%d.ln2.bias", i), X_FLAT);
        {
            static const char *const parts[6] = {"x_r", "x_w", "x_k", "x_v", "x_a", "x_g"};
            const rwkv_tensor *p[6];
            for (int k = 0; k < 6; k++) {
                char f[64];
                snprintf(f, sizeof f, "blocks.%%d.att.%s", parts[k]);
                p[k] = need(tf, w, f, i);
            }
            if (w->st != RWKV_OK) break;
            int64_t s4[4] = {6, 1, 1, (int64_t)p[0]->numel};
            out_tensor *o = push(w, N("time_mix_lerp_fused.weight"), 4, s4, RWKV_DT_F32, X_FUSE6);
            for (int k = 0; o && k < 6; k++) o->src[k] = p[k];
        }
        SMALL(N("time_mix_w0.weight"), need(tf, w, "blocks.%d.att.w0", i), X_FLAT);
        SMALL(N("time_mix_w1.weight"), need(tf, w, "blocks.%d.att.w1", i), X_TRANSPOSE);
        SMALL(N("time_mix_w2.weight"), need(tf, w, "blocks.%d.att.w2", i), X_TRANSPOSE);
        SMALL(N("time_mix_a0.weight"), need(tf, w, "blocks.%d.att.a0", i), X_FLAT);
        SMALL(N("time_mix_a1.weight"), need(tf, w, "blocks.%d.att.a1", i), X_TRANSPOSE);
        SMALL(N("time_mix_a2.weight"), need(tf, w, "blocks.%d.att.a2", i), X_TRANSPOSE);
        const char *vs = i == 0 ? "blocks.%d.att.a" : "blocks.%d.att.v"; /* layer 0: dummies */
        char f0[40], f1[40], f2[40];
        snprintf(f0, sizeof f0, "%s0", vs);
        snprintf(f1, sizeof f1, "%s1", vs);
        snprintf(f2, sizeof f2, "%s2", vs);
        SMALL(N("time_mix_v0.weight"), need(tf, w, f0, i), X_FLAT);
        SMALL(N("time_mix_v1.weight"), need(tf, w, f1, i), X_TRANSPOSE);
        SMALL(N("time_mix_v2.weight"), need(tf, w, f2, i), X_TRANSPOSE);
        SMALL(N("time_mix_g1.weight"), need(tf, w, "blocks.%d.att.g1", i), X_TRANSPOSE);
        SMALL(N("time_mix_g2.weight"), need(tf, w, "blocks.%d.att.g2", i), X_TRANSPOSE);
        SMALL(N("time_mix_k_k.weight"), need(tf, w, "blocks.%d.att.k_k", i), X_FLAT);
        SMALL(N("time_mix_k_a.weight"), need(tf, w, "blocks.%d.att.k_a", i), X_FLAT);
        SMALL(N("time_mix_r_k.weight"), need(tf, w, "blocks.%d.att.r_k", i), X_FLAT);
        BIG(N("time_mix_key.weight"), need(tf, w, "blocks.%d.att.key.weight", i));
        BIG(N("time_mix_value.weight"), need(tf, w, "blocks.%d.att.value.weight", i));
        BIG(N("time_mix_receptance.weight"), need(tf, w, "blocks.%d.att.receptance.weight", i));
        BIG(N("time_mix_output.weight"), need(tf, w, "blocks.%d.att.output.weight", i));
        SMALL(N("time_mix_ln.weight"), need(tf, w, "blocks.%d.att.ln_x.weight", i), X_FLAT);
        SMALL(N("time_mix_ln.bias"), need(tf, w, "blocks.%d.att.ln_x.bias", i), X_FLAT);
        /* llama.cpp's converter squeezes it to [C] (its loader also accepts [1,1,C]) */
        SMALL(N("channel_mix_lerp_k.weight"), need(tf, w, "blocks.%d.ffn.x_k", i), X_FLAT);
        BIG(N("channel_mix_key.weight"), need(tf, w, "blocks.%d.ffn.key.weight", i));
        BIG(N("channel_mix_value.weight"), need(tf, w, "blocks.%d.ffn.value.weight", i));
#undef N
    }
    SMALL("output_norm.weight", need(tf, w, "ln_out.weight", 0), X_FLAT);
    SMALL("output_norm.bias", need(tf, w, "ln_out.bias", 0), X_FLAT);
    /* the head decides the logits directly: 8 bits at most (rwkv.cpp keeps it float, llama.cpp
     * gives it a higher-precision type than the rest) */
    if (!keep && rwkv_dtype_is_quant(target)) target = RWKV_DT_Q8_0;
    BIG("output.weight", need(tf, w, "head.weight", 0));
#undef SRC
#undef BIG
#undef SMALL
}

/* True when official tensor name n is one of the large matrices that take the target type
 * (the same set as the RWKV-7 plan: attention and FFN projections, the head). */
static bool official_big(const char *n) {
    static const char *const big[] = {".att.key.weight", ".att.value.weight", ".att.receptance.weight",
                                      ".att.output.weight", ".att.gate.weight", ".ffn.key.weight",
                                      ".ffn.value.weight", ".ffn.receptance.weight"};
    size_t len = strlen(n);
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        size_t b = strlen(big[i]);
        if (len > b && !strcmp(n + len - b, big[i])) return true;
    }
    return false;
}

/* Plans every tensor of an RWKV-4/5/6 model tf under its own (official) name and full torch
 * shape: big matrices in the target type (head at most q8_0), the embedding as in plan(), every
 * other tensor (norms, decays, mixes, LoRA) in f32. */
static void plan_official(writer *w, const rwkv_tensor_file *tf, bool keep, rwkv_dtype target) {
    for (size_t i = 0; i < tf->n_tensors && w->st == RWKV_OK; i++) {
        const rwkv_tensor *t = &tf->tensors[i];
        if (strlen(t->name) >= sizeof w->t[0].name || t->n_dims > 4 || t->numel == 0) {
            w->st = rwkv_fail(RWKV_ERR_SHAPE, "tensor '%.100s' has an overlong name, more than 4 dims or no elements",
                              t->name);
            return;
        }
        int64_t sh[4] = {1, 1, 1, 1};
        int nd = t->n_dims ? t->n_dims : 1;
        for (int d = 0; d < t->n_dims; d++) sh[d] = t->shape[d];
        rwkv_dtype d = RWKV_DT_F32;
        bool head = !strcmp(t->name, "head.weight");
        if (!strcmp(t->name, "emb.weight"))
            d = keep ? (rwkv_dtype_is_quant(t->dtype) ? RWKV_DT_F16 : t->dtype)
                     : (target == RWKV_DT_F32 || target == RWKV_DT_BF16 ? target : RWKV_DT_F16);
        else if (nd == 2 && (head || official_big(t->name)))
            d = keep ? t->dtype : head && rwkv_dtype_is_quant(target) ? RWKV_DT_Q8_0 : target;
        out_tensor *o = push(w, t->name, nd, sh, d, X_ROWS);
        if (o) o->src[0] = t;
    }
}

/* The vocabulary to embed: token bytes for ids 1..n-1 (id 0 is "<s>"). */
typedef struct vocab {
    size_t n;
    const unsigned char **tok;
    uint64_t *len;
    rwkv_tokenizer *owner;
} vocab;

/* Fills *v (all zero first). On failure *v may hold allocations: free_vocab releases them. */
static rwkv_status load_vocab(const char *vocab_path, const rwkv_tensor_file *tf, int n_vocab, vocab *v) {
    memset(v, 0, sizeof *v);
    if (vocab_path) {
        rwkv_status st = rwkv_tokenizer_load(vocab_path, &v->owner);
        if (st != RWKV_OK) {
            v->owner = NULL;
            return st;
        }
        int n = rwkv_tokenizer_n_vocab(v->owner);
        if (n != n_vocab) /* v->owner stays set: free_vocab releases it */
            return rwkv_fail(RWKV_ERR_SHAPE, "vocabulary %s has %d tokens but the model %d", vocab_path, n, n_vocab);
        v->n = (size_t)n;
        v->tok = calloc(v->n, sizeof *v->tok);
        v->len = calloc(v->n, sizeof *v->len);
        if (!v->tok || !v->len) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
        for (size_t i = 1; i < v->n; i++) {
            size_t len;
            v->tok[i] = (const unsigned char *)rwkv_tokenizer_token(v->owner, (int32_t)i, &len);
            v->len[i] = len;
        }
        return RWKV_OK;
    }
    if (!strcmp(tf->format, "gguf") && tf->meta) {
        const rwkv_gguf_meta *m = tf->meta;
        if (m->is_rwkv_vocab && m->n_tokens == (size_t)n_vocab) {
            v->n = m->n_tokens;
            v->tok = calloc(v->n, sizeof *v->tok);
            v->len = calloc(v->n, sizeof *v->len);
            if (!v->tok || !v->len) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
            for (size_t i = 1; i < v->n; i++) {
                v->tok[i] = m->tok[i];
                v->len[i] = m->tok_len[i];
            }
        }
    }
    return RWKV_OK;
}

/* Releases what load_vocab allocated and empties *v (safe to call twice). */
static void free_vocab(vocab *v) {
    free(v->tok);
    free(v->len);
    rwkv_tokenizer_free(v->owner);
    memset(v, 0, sizeof *v);
}

/* Escapes token bytes the way llama.cpp's converter stores RWKV World tokens: Python's
 * repr(bytes) without the b'' around it (\t \n \r, \\, \xNN below 0x20 and from 0x7f, the
 * quote character escaped only when repr would pick ' as the quote). out: 4*n bytes. */
static size_t escape_token(const unsigned char *p, size_t n, char *out) {
    static const char hex[] = "0123456789abcdef";
    bool has_sq = memchr(p, '\'', n) != NULL, has_dq = memchr(p, '"', n) != NULL;
    char quote = has_sq && !has_dq ? '"' : '\'';
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c == '\\' || c == (unsigned char)quote) {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\t' || c == '\n' || c == '\r') {
            out[o++] = '\\';
            out[o++] = c == '\t' ? 't' : c == '\n' ? 'n' : 'r';
        } else if (c < 0x20 || c >= 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    return o;
}

static void pad(writer *w, uint64_t *pos, uint32_t align) {
    static const unsigned char zeros[64] = {0};
    size_t p = (size_t)((align - *pos % align) % align);
    wr(w, zeros, p);
    *pos += p;
}

rwkv_status rwkv_convert_file(const char *in_path, const char *out_path, const char *type,
                              const char *vocab_path, rwkv_progress_fn progress, void *user,
                              rwkv_convert_stats *stats) {
    if (!in_path || !out_path) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_convert_file: no input or output path");
    if (stats) memset(stats, 0, sizeof *stats);
    rwkv_dtype target = RWKV_DT_F16;
    bool keep;
    rwkv_status st = parse_type(type, &target, &keep);
    if (st != RWKV_OK) return st;
    rwkv_tensor_file tf;
    if ((st = rwkv_tensor_file_open(in_path, &tf)) != RWKV_OK) return st;
    writer w = {0};
    vocab v = {0};
    char *tmp = NULL, *esc = NULL;
    bool tmp_made = false; /* the temporary file exists: removed on every failure below */
    const rwkv_tensor *rk = rwkv_tensor_file_find(&tf, "blocks.0.att.r_k");
    const rwkv_tensor *emb = rwkv_tensor_file_find(&tf, "emb.weight");
    const rwkv_tensor *ffk = rwkv_tensor_file_find(&tf, "blocks.0.ffn.key.weight");
    /* RWKV-7: llama.cpp's layout; 4/5/6: ours, official names (docs/FORMATS.md) */
    const char *arch = NULL;
    if (rk && rwkv_tensor_file_find(&tf, "blocks.0.att.k_k") && rk->n_dims >= 1) arch = "rwkv7";
    else if (rwkv_gen_v6.detect(&tf)) arch = "rwkv6-official";
    else if (rwkv_gen_v5_2.detect(&tf) || rwkv_gen_v5_1.detect(&tf)) arch = "rwkv5-official";
    else if (rwkv_gen_v4.detect(&tf)) arch = "rwkv4-official";
    if (!arch || !emb || !ffk || emb->n_dims != 2) {
        st = rwkv_fail(RWKV_ERR_UNSUPPORTED, "%s: not an RWKV-4, 5, 6 or 7 model (GGUF writing)", in_path);
        goto done;
    }
    const bool v7 = !strcmp(arch, "rwkv7");
    int L = 0;
    for (;; L++) {
        char n[64];
        snprintf(n, sizeof n, "blocks.%d.ln1.weight", L);
        if (!rwkv_tensor_file_find(&tf, n) || L > 100000) break;
    }
    const int C = (int)emb->shape[1], V = (int)emb->shape[0];
    const int N = v7 ? (int)rk->shape[rk->n_dims - 1] : 0;
    if (v7) plan(&w, &tf, keep, target, L);
    else plan_official(&w, &tf, keep, target);
    if ((st = w.st) != RWKV_OK) goto done;
    if ((st = load_vocab(vocab_path, &tf, V, &v)) != RWKV_OK) goto done;
    /* temporary file next to the output */
    size_t plen = strlen(out_path);
    tmp = malloc(plen + 48);
    if (!tmp) {
        st = rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
        goto done;
    }
    const char *slash = strrchr(out_path, '/');
    size_t dlen = slash ? (size_t)(slash - out_path) + 1 : 0;
    snprintf(tmp, plen + 48, "%.*s.%s.tmp.XXXXXX", (int)dlen, out_path, out_path + dlen);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = rwkv_fail(RWKV_ERR_IO, "cannot create a temporary file next to '%s': %s", out_path, strerror(errno));
        goto done;
    }
    tmp_made = true;
    (void)fchmod(fd, 0644); /* mkstemp makes 0600; a model file is ordinarily world-readable */
    w.f = fdopen(fd, "wb");
    if (!w.f) {
        st = rwkv_fail(RWKV_ERR_IO, "cannot open '%s': %s", tmp, strerror(errno));
        close(fd);
        goto done;
    }
    const uint32_t align = 32;
    uint64_t n_kv = (v7 ? 17 : 8) + (v.n ? 6 + (v.n > 261) : 0);
    size_t max_len = 0;
    for (size_t i = 1; i < v.n; i++)
        if (v.len[i] > max_len) max_len = (size_t)v.len[i];
    esc = malloc(4 * max_len + 1);
    if (!esc) {
        st = rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
        goto done;
    }
    wr(&w, "GGUF", 4);
    wr_u32(&w, 3);
    wr_u64(&w, w.n);
    wr_u64(&w, n_kv);
    kv_str(&w, "general.architecture", arch);
    kv_str(&w, "general.name", "rwkv.c export");
    kv_u32(&w, "general.alignment", align);
    kv_u32(&w, "general.file_type", (uint32_t)rwkv_type_of(keep ? RWKV_DT_F16 : target)->gguf_ftype);
    kv_u32(&w, "general.quantization_version", 2);
    if (!v7) { /* informative only: the reader takes the shapes from the tensors */
        char key[64];
        snprintf(key, sizeof key, "%s.block_count", arch);
        kv_u32(&w, key, (uint32_t)L);
        snprintf(key, sizeof key, "%s.embedding_length", arch);
        kv_u32(&w, key, (uint32_t)C);
        snprintf(key, sizeof key, "%s.vocab_size", arch);
        kv_u32(&w, key, (uint32_t)V);
    } else {
        kv_u32(&w, "rwkv7.context_length", 1048576);
        kv_u32(&w, "rwkv7.embedding_length", (uint32_t)C);
        kv_u32(&w, "rwkv7.block_count", (uint32_t)L);
        kv_u32(&w, "rwkv7.feed_forward_length", (uint32_t)ffk->shape[0]);
        kv_f32(&w, "rwkv7.attention.layer_norm_epsilon", 1e-5f);
        kv_u32(&w, "rwkv7.wkv.head_size", (uint32_t)N);
        kv_u32(&w, "rwkv7.attention.head_count", 0);
        kv_u32(&w, "rwkv7.vocab_size", (uint32_t)V);
        {
            static const char *const keys[4] = {"rwkv7.attention.decay_lora_rank", "rwkv7.attention.iclr_lora_rank",
                                                "rwkv7.attention.value_residual_mix_lora_rank",
                                                "rwkv7.attention.gate_lora_rank"};
            static const char *const src[4] = {"blocks.0.att.w1", "blocks.0.att.a1", "blocks.1.att.v1", "blocks.0.att.g1"};
            for (int k = 0; k < 4; k++) {
                const rwkv_tensor *t = rwkv_tensor_file_find(&tf, src[k]);
                if (!t && k == 2) t = rwkv_tensor_file_find(&tf, "blocks.0.att.a1");
                kv_u32(&w, keys[k], t ? (uint32_t)t->shape[t->n_dims - 1] : 0);
            }
        }
    }
    if (v.n) {
        /* as llama.cpp's converter writes the World vocabulary: id 0 "<s>" (CONTROL), each
         * token's bytes escaped like Python's repr(bytes) without the b'' (NORMAL), "[PADi]"
         * (UNUSED) for ids the vocabulary does not define; bos = eos = 0, eot = 261 ("\n\n") */
        kv_str(&w, "tokenizer.ggml.model", "rwkv");
        wr_str(&w, "tokenizer.ggml.tokens", strlen("tokenizer.ggml.tokens"));
        wr_u32(&w, GGUF_T_ARR);
        wr_u32(&w, GGUF_T_STR);
        wr_u64(&w, v.n);
        wr_str(&w, "<s>", 3);
        for (size_t i = 1; i < v.n && w.st == RWKV_OK; i++) {
            if (!v.len[i]) {
                char pad[32];
                int pl = snprintf(pad, sizeof pad, "[PAD%zu]", i);
                wr_str(&w, pad, (size_t)pl);
                continue;
            }
            size_t el = escape_token(v.tok[i], (size_t)v.len[i], esc);
            wr_str(&w, esc, el);
        }
        wr_str(&w, "tokenizer.ggml.token_type", strlen("tokenizer.ggml.token_type"));
        wr_u32(&w, GGUF_T_ARR);
        wr_u32(&w, GGUF_T_I32);
        wr_u64(&w, v.n);
        for (size_t i = 0; i < v.n; i++) wr_u32(&w, i == 0 ? 3u : v.len[i] ? 1u : 5u); /* CONTROL, NORMAL, UNUSED */
        kv_u32(&w, "tokenizer.ggml.bos_token_id", 0);
        kv_u32(&w, "tokenizer.ggml.eos_token_id", 0);
        if (v.n > 261) kv_u32(&w, "tokenizer.ggml.eot_token_id", 261);
        kv_str(&w, "tokenizer.chat_template", "rwkv-world");
    }
    uint64_t off = 0, total = 0;
    for (size_t i = 0; i < w.n; i++) {
        out_tensor *o = &w.t[i];
        o->offset = off;
        off += o->nbytes;
        off += (align - off % align) % align;
        total += o->nbytes;
        wr_str(&w, o->name, strlen(o->name));
        wr_u32(&w, (uint32_t)o->nd);
        for (int d = 0; d < o->nd; d++) wr_u64(&w, o->ne[d]);
        wr_u32(&w, (uint32_t)rwkv_ggml_id_of(o->dt));
        wr_u64(&w, o->offset);
        if (stats) {
            stats->n_tensors++;
            stats->n_quantized += rwkv_dtype_is_quant(o->dt);
        }
    }
    uint64_t pos = (uint64_t)ftell(w.f);
    pad(&w, &pos, align);
    uint64_t done_bytes = 0;
    for (size_t i = 0; i < w.n && w.st == RWKV_OK; i++) {
        out_tensor *o = &w.t[i];
        unsigned char *buf = malloc(o->nbytes ? o->nbytes : 1);
        if (!buf) {
            w.st = rwkv_fail(RWKV_ERR_NOMEM, "out of memory for tensor '%s'", o->name);
            break;
        }
        rwkv_status ps = produce(o, buf);
        if (ps != RWKV_OK) w.st = ps;
        wr(&w, buf, o->nbytes);
        free(buf);
        pos += o->nbytes;
        pad(&w, &pos, align);
        done_bytes += o->nbytes;
        if (progress) progress(done_bytes, total, user);
    }
    if ((st = w.st) != RWKV_OK) goto done;
    if (fflush(w.f) != 0 || fsync(fileno(w.f)) != 0) {
        st = rwkv_fail(RWKV_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
        goto done;
    }
    int closed = fclose(w.f);
    w.f = NULL;
    if (closed != 0) {
        st = rwkv_fail(RWKV_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
        goto done;
    }
    if (rename(tmp, out_path) != 0) {
        st = rwkv_fail(RWKV_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, out_path, strerror(errno));
        goto done;
    }
    tmp_made = false; /* it is the output now */
    {
        char *dir = strndup(out_path, dlen ? dlen : 1);
        if (dir) {
            if (!dlen) strcpy(dir, ".");
            int dfd = open(dir, O_RDONLY | O_DIRECTORY);
            if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
            }
            free(dir);
        }
    }
    if (stats) {
        stats->in_bytes = tf.map.size;
        stats->out_bytes = pos;
        stats->n_vocab_embedded = (int)v.n;
    }
done:
    if (w.f) fclose(w.f);
    if (tmp_made) unlink(tmp);
    free(tmp);
    free(esc);
    free(w.t);
    free_vocab(&v);
    rwkv_tensor_file_close(&tf);
    return st;
}
