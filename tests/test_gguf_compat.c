/* test_gguf_compat.c — llama.cpp interoperability of the GGUF reader and writer.
 *
 * Builds, from a tiny random RWKV-7 .pth, a GGUF laid out the way llama.cpp's converter
 * (convert_hf_to_gguf.py, class Rwkv7Model, with gguf-py's writer) lays out an RWKV-7 model: its
 * metadata keys and value types, tensor names, ggml shapes (lerp_fused {C,1,1,6}, LoRA matrices
 * transposed, squeezed vectors, r_k flattened, dummy blk.0 v0/v1/v2 = a0/a1/a2), its type choice
 * for --outtype f16 (1-D tensors, norms, lerp_fused and time_mix_w1/w2 f32, other matrices f16)
 * and its World vocabulary (Python repr-escaped tokens, "[PADi]" UNUSED ids, bos/eos/eot ids).
 * Loads it with our reader and checks the logits against the .pth, the embedded tokenizer
 * against the raw token bytes, and that our own writer produces the same tensor table. */
#include "common/test.h"
#include "rwkv.h"
#include "internal.h"
#include "quant.h"

#include <stdint.h>
#include <unistd.h>


/* ---- a growing byte buffer ------------------------------------------------------------- */
typedef struct buf { unsigned char *p; size_t n, cap; } buf;
static void put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (nc < b->n + n) nc *= 2;
        b->p = realloc(b->p, nc);
        if (!b->p) abort();
        b->cap = nc;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_s(buf *b, const char *s, size_t n) { put_u64(b, n); put(b, s, n); }
static void put_cs(buf *b, const char *s) { put_s(b, s, strlen(s)); }

/* gguf-py's value types */
enum { T_U32 = 4, T_I32 = 5, T_F32 = 6, T_BOOL = 7, T_STR = 8, T_ARR = 9 };

typedef struct gw {
    buf kv;
    uint64_t n_kv;
    buf info, data;
    uint64_t n_t;
} gw;
static void kv_u32(gw *g, const char *k, uint32_t v) { put_cs(&g->kv, k); put_u32(&g->kv, T_U32); put_u32(&g->kv, v); g->n_kv++; }
static void kv_f32(gw *g, const char *k, float v) { put_cs(&g->kv, k); put_u32(&g->kv, T_F32); put(&g->kv, &v, 4); g->n_kv++; }
static void kv_str(gw *g, const char *k, const char *v) { put_cs(&g->kv, k); put_u32(&g->kv, T_STR); put_cs(&g->kv, v); g->n_kv++; }
static void kv_bool(gw *g, const char *k, int v) { unsigned char c = (unsigned char)v; put_cs(&g->kv, k); put_u32(&g->kv, T_BOOL); put(&g->kv, &c, 1); g->n_kv++; }

/* Adds a tensor: ne in ggml order; vals fp32, stored as ggml type (0 f32, 1 f16). */
static void tensor(gw *g, const char *name, int nd, const uint64_t *ne, int type, const float *vals) {
    size_t n = 1;
    for (int d = 0; d < nd; d++) n *= (size_t)ne[d];
    while (g->data.n % 32) put(&g->data, "", 1);
    put_cs(&g->info, name);
    put_u32(&g->info, (uint32_t)nd);
    for (int d = 0; d < nd; d++) put_u64(&g->info, ne[d]);
    put_u32(&g->info, (uint32_t)type);
    put_u64(&g->info, g->data.n);
    if (type == 0) {
        put(&g->data, vals, n * 4);
    } else {
        uint16_t *h = malloc(n * 2);
        rwkv_quantize_row(RWKV_DT_F16, vals, h, n);
        put(&g->data, h, n * 2);
        free(h);
    }
    g->n_t++;
}

static int save(gw *g, const char *path) {
    buf f = {0};
    put(&f, "GGUF", 4);
    put_u32(&f, 3);
    put_u64(&f, g->n_t);
    put_u64(&f, g->n_kv);
    put(&f, g->kv.p, g->kv.n);
    put(&f, g->info.p, g->info.n);
    while (f.n % 32) put(&f, "", 1);
    put(&f, g->data.p, g->data.n);
    FILE *fp = fopen(path, "wb");
    int ok = fp && fwrite(f.p, 1, f.n, fp) == f.n;
    if (fp) fclose(fp);
    free(f.p);
    return ok;
}

/* ---- the converter's layout -------------------------------------------------------------- */
static const rwkv_tensor_file *g_pth;
static float *get(const char *fmt, int i, size_t *n, int64_t *shape) {
    char name[96];
    snprintf(name, sizeof name, fmt, i);
    const rwkv_tensor *t = rwkv_tensor_file_find(g_pth, name);
    if (!t) {
        fprintf(stderr, "missing %s\n", name);
        abort();
    }
    float *f = malloc(t->numel * sizeof *f);
    rwkv_convert_to_f32(t->dtype, t->data, f, t->numel);
    *n = t->numel;
    if (shape) {
        shape[0] = t->n_dims >= 2 ? t->shape[t->n_dims - 2] : 1;
        shape[1] = t->shape[t->n_dims - 1];
    }
    return f;
}

/* a squeezed 1-D tensor, always f32 */
static void vec(gw *g, const char *gname, const char *fmt, int i) {
    size_t n;
    float *f = get(fmt, i, &n, NULL);
    uint64_t ne[1] = {n};
    tensor(g, gname, 1, ne, 0, f);
    free(f);
}
/* a Linear weight [out,in] -> ggml {in,out} */
static void mat(gw *g, const char *gname, const char *fmt, int i, int type) {
    size_t n;
    int64_t s[2];
    float *f = get(fmt, i, &n, s);
    uint64_t ne[2] = {(uint64_t)s[1], (uint64_t)s[0]};
    tensor(g, gname, 2, ne, type, f);
    free(f);
}
/* a LoRA matrix, official [r,c] used as x @ M: transposed to torch [c,r] = ggml {r,c} */
static void lora(gw *g, const char *gname, const char *fmt, int i, int type) {
    size_t n;
    int64_t s[2];
    float *f = get(fmt, i, &n, s);
    float *t = malloc(n * sizeof *t);
    size_t r = (size_t)s[0], c = (size_t)s[1];
    for (size_t a = 0; a < r; a++)
        for (size_t b = 0; b < c; b++) t[b * r + a] = f[a * c + b];
    uint64_t ne[2] = {r, c};
    tensor(g, gname, 2, ne, type, t);
    free(f);
    free(t);
}

/* Python's repr(bytes)[2:-1], written independently of the writer's escape (a table of rules). */
static void py_repr(const unsigned char *p, size_t n, char *out) {
    int sq = 0, dq = 0;
    for (size_t i = 0; i < n; i++) {
        sq |= p[i] == '\'';
        dq |= p[i] == '"';
    }
    char quote = (sq && !dq) ? '"' : '\'';
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = p[i];
        if (c == (unsigned)quote || c == '\\') o += (size_t)sprintf(out + o, "\\%c", c);
        else if (c == '\t') o += (size_t)sprintf(out + o, "\\t");
        else if (c == '\n') o += (size_t)sprintf(out + o, "\\n");
        else if (c == '\r') o += (size_t)sprintf(out + o, "\\r");
        else if (c < 32 || c >= 127) o += (size_t)sprintf(out + o, "\\x%02x", c);
        else out[o++] = (char)c;
    }
    out[o] = 0;
}

#define V 300
/* raw token bytes of ids 257.. (escaped by py_repr when written) */
static const struct { const char *raw; size_t len; } multi[] = {
    {"Hello", 5}, {" world", 6}, {"\xe4\xb8\x80", 3}, {"\\n", 2}, {"\n\n", 2} /* id 261 */,
    {"'s", 2}, {"'\"", 2}, {"it's", 4}, {"\t\r", 2}, {"a\0b", 3}, {"\\x41", 4}, {"\"q\"", 3}};
#define N_MULTI (sizeof multi / sizeof multi[0])
#define FIRST_PAD 291

static size_t token_raw(int id, unsigned char *out) {
    if (id >= 1 && id <= 256) {
        out[0] = (unsigned char)(id - 1);
        return 1;
    }
    if (id >= 257 && id < 257 + (int)N_MULTI) {
        memcpy(out, multi[id - 257].raw, multi[id - 257].len);
        return multi[id - 257].len;
    }
    if (id < FIRST_PAD) return (size_t)sprintf((char *)out, "tok%d", id);
    return 0;
}

/* Writes the converter-layout GGUF of the .pth; f16: the converter's --outtype f16 types. */
static int write_llama_layout(const char *path, int L, int C, int H, int F, int f16) {
    gw g = {0};
    int big = f16 ? 1 : 0;
    int64_t s[2];
    size_t n;
    float *t;
    t = get("blocks.0.att.w1", 0, &n, s);
    int dw = (int)s[1];
    free(t);
    t = get("blocks.0.att.a1", 0, &n, s);
    int da = (int)s[1];
    free(t);
    t = get("blocks.1.att.v1", 0, &n, s);
    int dv = (int)s[1];
    free(t);
    t = get("blocks.0.att.g1", 0, &n, s);
    int dg = (int)s[1];
    free(t);
    /* metadata, in gguf-py's order and types */
    kv_str(&g, "general.architecture", "rwkv7");
    kv_str(&g, "general.type", "model");
    kv_str(&g, "general.name", "Tiny Rwkv7");
    kv_str(&g, "general.size_label", "1M");
    kv_u32(&g, "rwkv7.context_length", 1048576);
    kv_u32(&g, "rwkv7.embedding_length", (uint32_t)C);
    kv_u32(&g, "rwkv7.block_count", (uint32_t)L);
    kv_f32(&g, "rwkv7.attention.layer_norm_epsilon", 1e-5f);
    kv_u32(&g, "rwkv7.wkv.head_size", (uint32_t)(C / H));
    kv_u32(&g, "rwkv7.attention.decay_lora_rank", (uint32_t)dw);
    kv_u32(&g, "rwkv7.attention.iclr_lora_rank", (uint32_t)da);
    kv_u32(&g, "rwkv7.attention.value_residual_mix_lora_rank", (uint32_t)dv);
    kv_u32(&g, "rwkv7.attention.gate_lora_rank", (uint32_t)dg);
    kv_u32(&g, "rwkv7.feed_forward_length", (uint32_t)F);
    kv_u32(&g, "general.file_type", f16 ? 1u : 0u);
    kv_u32(&g, "rwkv7.attention.head_count", 0);
    kv_u32(&g, "general.quantization_version", 2);
    kv_str(&g, "tokenizer.ggml.model", "rwkv");
    {
        put_cs(&g.kv, "tokenizer.ggml.tokens");
        put_u32(&g.kv, T_ARR);
        put_u32(&g.kv, T_STR);
        put_u64(&g.kv, V);
        put_cs(&g.kv, "<s>");
        for (int id = 1; id < V; id++) {
            unsigned char raw[64];
            char esc[256];
            size_t len = token_raw(id, raw);
            if (id >= FIRST_PAD) sprintf(esc, "[PAD%d]", id);
            else py_repr(raw, len, esc);
            put_cs(&g.kv, esc);
        }
        g.n_kv++;
        put_cs(&g.kv, "tokenizer.ggml.token_type");
        put_u32(&g.kv, T_ARR);
        put_u32(&g.kv, T_I32);
        put_u64(&g.kv, V);
        for (int id = 0; id < V; id++) put_u32(&g.kv, id == 0 ? 3u : id >= FIRST_PAD ? 5u : 1u);
        g.n_kv++;
    }
    kv_u32(&g, "tokenizer.ggml.bos_token_id", 0);
    kv_u32(&g, "tokenizer.ggml.eos_token_id", 0);
    kv_u32(&g, "tokenizer.ggml.eot_token_id", 261);
    kv_bool(&g, "tokenizer.ggml.add_bos_token", 0);
    kv_str(&g, "tokenizer.chat_template", "rwkv-world");
    /* tensors */
    mat(&g, "token_embd.weight", "emb.weight", 0, big);
    vec(&g, "token_embd_norm.weight", "blocks.0.ln0.weight", 0);
    vec(&g, "token_embd_norm.bias", "blocks.0.ln0.bias", 0);
    for (int i = 0; i < L; i++) {
        char nm[96];
#define NM(x) (snprintf(nm, sizeof nm, "blk.%d.%s", i, x), nm)
        vec(&g, NM("attn_norm.weight"), "blocks.%d.ln1.weight", i);
        vec(&g, NM("attn_norm.bias"), "blocks.%d.ln1.bias", i);
        vec(&g, NM("attn_norm_2.weight"), "blocks.%d.ln2.weight", i);
        vec(&g, NM("attn_norm_2.bias"), "blocks.%d.ln2.bias", i);
        {
            static const char *const parts[6] = {"x_r", "x_w", "x_k", "x_v", "x_a", "x_g"};
            float *fused = malloc(6 * (size_t)C * sizeof *fused);
            for (int k = 0; k < 6; k++) {
                char f[64];
                snprintf(f, sizeof f, "blocks.%%d.att.%s", parts[k]);
                float *x = get(f, i, &n, NULL);
                memcpy(fused + (size_t)k * (size_t)C, x, (size_t)C * sizeof *x);
                free(x);
            }
            uint64_t ne[4] = {(uint64_t)C, 1, 1, 6};
            tensor(&g, NM("time_mix_lerp_fused.weight"), 4, ne, 0, fused);
            free(fused);
        }
        vec(&g, NM("time_mix_w0.weight"), "blocks.%d.att.w0", i);
        lora(&g, NM("time_mix_w1.weight"), "blocks.%d.att.w1", i, 0); /* always f32 */
        lora(&g, NM("time_mix_w2.weight"), "blocks.%d.att.w2", i, 0);
        vec(&g, NM("time_mix_a0.weight"), "blocks.%d.att.a0", i);
        lora(&g, NM("time_mix_a1.weight"), "blocks.%d.att.a1", i, big);
        lora(&g, NM("time_mix_a2.weight"), "blocks.%d.att.a2", i, big);
        if (i == 0) { /* the converter's dummies: copies of a0/a1/a2 */
            vec(&g, NM("time_mix_v0.weight"), "blocks.%d.att.a0", i);
            lora(&g, NM("time_mix_v1.weight"), "blocks.%d.att.a1", i, big);
            lora(&g, NM("time_mix_v2.weight"), "blocks.%d.att.a2", i, big);
        } else {
            vec(&g, NM("time_mix_v0.weight"), "blocks.%d.att.v0", i);
            lora(&g, NM("time_mix_v1.weight"), "blocks.%d.att.v1", i, big);
            lora(&g, NM("time_mix_v2.weight"), "blocks.%d.att.v2", i, big);
        }
        lora(&g, NM("time_mix_g1.weight"), "blocks.%d.att.g1", i, big);
        lora(&g, NM("time_mix_g2.weight"), "blocks.%d.att.g2", i, big);
        vec(&g, NM("time_mix_k_k.weight"), "blocks.%d.att.k_k", i);
        vec(&g, NM("time_mix_k_a.weight"), "blocks.%d.att.k_a", i);
        vec(&g, NM("time_mix_r_k.weight"), "blocks.%d.att.r_k", i); /* [H,N] flattened */
        mat(&g, NM("time_mix_key.weight"), "blocks.%d.att.key.weight", i, big);
        mat(&g, NM("time_mix_value.weight"), "blocks.%d.att.value.weight", i, big);
        mat(&g, NM("time_mix_receptance.weight"), "blocks.%d.att.receptance.weight", i, big);
        mat(&g, NM("time_mix_output.weight"), "blocks.%d.att.output.weight", i, big);
        vec(&g, NM("time_mix_ln.weight"), "blocks.%d.att.ln_x.weight", i);
        vec(&g, NM("time_mix_ln.bias"), "blocks.%d.att.ln_x.bias", i);
        vec(&g, NM("channel_mix_lerp_k.weight"), "blocks.%d.ffn.x_k", i); /* squeezed to [C] */
        mat(&g, NM("channel_mix_key.weight"), "blocks.%d.ffn.key.weight", i, big);
        mat(&g, NM("channel_mix_value.weight"), "blocks.%d.ffn.value.weight", i, big);
#undef NM
    }
    vec(&g, "output_norm.weight", "ln_out.weight", 0);
    vec(&g, "output_norm.bias", "ln_out.bias", 0);
    mat(&g, "output.weight", "head.weight", 0, big);
    int ok = save(&g, path);
    free(g.kv.p);
    free(g.info.p);
    free(g.data.p);
    return ok;
}

/* ---- a tensor table read back from a GGUF (names, dims, types) --------------------------- */
typedef struct tinfo { char name[96]; int nd; uint64_t ne[4]; uint32_t type; } tinfo;

static int skip_val(const unsigned char *p, size_t *o, uint32_t t) {
    static const size_t sz[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (t > 12) return 0;
    if (t == T_STR) {
        uint64_t l;
        memcpy(&l, p + *o, 8);
        *o += 8 + (size_t)l;
        return 1;
    }
    if (t == T_ARR) {
        uint32_t et;
        uint64_t n;
        memcpy(&et, p + *o, 4);
        memcpy(&n, p + *o + 4, 8);
        *o += 12;
        for (uint64_t i = 0; i < n; i++)
            if (!skip_val(p, o, et)) return 0;
        return 1;
    }
    *o += sz[t];
    return 1;
}

/* Reads the tensor table and the metadata keys (joined by '\n' into keys). */
static int read_table(const char *path, tinfo **out, size_t *n_out, char *keys, size_t keys_cap) {
    size_t len;
    unsigned char *p = test_read_file(path, &len);
    if (!p) return 0;
    uint64_t nt, nkv;
    memcpy(&nt, p + 8, 8);
    memcpy(&nkv, p + 16, 8);
    size_t o = 24, kl = 0;
    keys[0] = 0;
    for (uint64_t i = 0; i < nkv; i++) {
        uint64_t l;
        memcpy(&l, p + o, 8);
        if (kl + l + 2 < keys_cap) {
            memcpy(keys + kl, p + o + 8, l);
            kl += l;
            keys[kl++] = '\n';
            keys[kl] = 0;
        }
        o += 8 + (size_t)l;
        uint32_t t;
        memcpy(&t, p + o, 4);
        o += 4;
        if (!skip_val(p, &o, t)) {
            free(p);
            return 0;
        }
    }
    tinfo *ti = calloc((size_t)nt, sizeof *ti);
    for (uint64_t i = 0; i < nt; i++) {
        uint64_t l;
        memcpy(&l, p + o, 8);
        snprintf(ti[i].name, sizeof ti[i].name, "%.*s", (int)l, (const char *)p + o + 8);
        o += 8 + (size_t)l;
        uint32_t nd;
        memcpy(&nd, p + o, 4);
        o += 4;
        ti[i].nd = (int)nd;
        for (uint32_t d = 0; d < nd && d < 4; d++) memcpy(&ti[i].ne[d], p + o + 8 * d, 8);
        o += 8 * (size_t)nd;
        memcpy(&ti[i].type, p + o, 4);
        o += 4 + 8;
    }
    free(p);
    *out = ti;
    *n_out = (size_t)nt;
    return 1;
}

static const tinfo *find_ti(const tinfo *t, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].name, name)) return &t[i];
    return NULL;
}

static float *run(const char *path, const int32_t *toks, size_t n, int nv) {
    rwkv_model *m = NULL;
    rwkv_model_params mp;
    rwkv_model_params_default(&mp);
    rwkv_status st = rwkv_model_load(path, &mp, &m);
    CHECK(st == RWKV_OK, "load %s: %s", path, rwkv_last_error());
    if (st != RWKV_OK) return NULL;
    rwkv_state *s = NULL;
    float *lg = malloc(n * (size_t)nv * sizeof *lg);
    CHECK(rwkv_state_new(m, &s) == RWKV_OK, "state");
    st = rwkv_eval(m, s, toks, n, lg, RWKV_EVAL_ALL_LOGITS);
    CHECK(st == RWKV_OK, "eval %s: %s", path, rwkv_last_error());
    rwkv_state_free(s);
    rwkv_model_free(m);
    return lg;
}

int main(void) {
    char pth[128], g32[128], g16[128], ours[128];
    long pid = (long)getpid();
    snprintf(pth, sizeof pth, "/tmp/test_gguf_compat_%ld.pth", pid);
    snprintf(g32, sizeof g32, "/tmp/test_gguf_compat_%ld_f32.gguf", pid);
    snprintf(g16, sizeof g16, "/tmp/test_gguf_compat_%ld_f16.gguf", pid);
    snprintf(ours, sizeof ours, "/tmp/test_gguf_compat_%ld_ours.gguf", pid);
    const int L = 2, C = 128, H = 2, F = 4 * C;
    rwkv_status st = rwkv_model_init_random("L2C128", "fp32", 11, V, pth);
    CHECK(st == RWKV_OK, "init: %s", rwkv_last_error());
    if (st != RWKV_OK) return test_summary("test_gguf_compat");
    rwkv_tensor_file tf;
    st = rwkv_tensor_file_open(pth, &tf);
    CHECK(st == RWKV_OK, "open pth: %s", rwkv_last_error());
    if (st != RWKV_OK) return test_summary("test_gguf_compat");
    g_pth = &tf;
    CHECK(write_llama_layout(g32, L, C, H, F, 0), "write f32 layout");
    CHECK(write_llama_layout(g16, L, C, H, F, 1), "write f16 layout");
    rwkv_tensor_file_close(&tf);

    /* logits: converter-layout GGUF vs the .pth */
    const int32_t toks[] = {73, 102, 109, 109, 112, 261, 257, 258, 11, 33, 290, 1};
    const size_t nt = sizeof toks / sizeof toks[0];
    float *ref = run(pth, toks, nt, V);
    float *a = run(g32, toks, nt, V);
    float *b = run(g16, toks, nt, V);
    if (ref && a && b) {
        float d32 = test_max_abs_diff(ref, a, nt * V), d16 = test_max_abs_diff(ref, b, nt * V);
        printf("converter layout: f32 max abs logit diff %.3g, f16 %.3g\n", (double)d32, (double)d16);
        CHECK(d32 <= 1e-6f, "f32 layout logits differ by %g", (double)d32);
        CHECK(d16 <= 2e-2f, "f16 layout logits differ by %g", (double)d16);
    }
    free(ref);
    free(a);
    free(b);

    /* the embedded vocabulary: escaped tokens decoded, padding ids skipped */
    rwkv_tokenizer *tok = NULL;
    st = rwkv_tokenizer_from_model_file(g32, &tok);
    CHECK(st == RWKV_OK, "tokenizer from GGUF: %s", rwkv_last_error());
    if (st == RWKV_OK) {
        int bad = 0;
        for (int id = 1; id < V; id++) {
            unsigned char raw[64];
            size_t want = token_raw(id, raw), got_len = 0;
            const char *got = rwkv_tokenizer_token(tok, id, &got_len);
            if (want != got_len || (want && memcmp(got, raw, want))) {
                if (bad++ < 5) fprintf(stderr, "token %d: %zu bytes, want %zu\n", id, got_len, want);
            }
        }
        CHECK(bad == 0, "%d tokens decoded wrongly", bad);
        int32_t ids[32];
        size_t n = 0;
        rwkv_tokenizer_encode(tok, "[PAD295]", 8, ids, &n);
        CHECK(n == 8, "padding token text is not a token (%zu ids)", n);
        rwkv_tokenizer_encode(tok, "Hello world\n\n", 13, ids, &n);
        CHECK(n == 3 && ids[0] == 257 && ids[1] == 258 && ids[2] == 261, "encode (%zu ids)", n);
        rwkv_tokenizer_free(tok);
    }

    /* our writer: the same tensor table (names, ggml shapes) and every key the converter writes */
    rwkv_convert_stats cs;
    st = rwkv_convert_file(pth, ours, "f32", NULL, NULL, NULL, &cs);
    CHECK(st == RWKV_OK, "convert: %s", rwkv_last_error());
    tinfo *ta = NULL, *tb = NULL;
    size_t na = 0, nb = 0;
    static char ka[65536], kb[65536];
    if (st == RWKV_OK && read_table(g32, &ta, &na, ka, sizeof ka) && read_table(ours, &tb, &nb, kb, sizeof kb)) {
        CHECK(na == nb, "tensor count %zu vs %zu", na, nb);
        int mism = 0;
        for (size_t i = 0; i < na; i++) {
            const tinfo *o = find_ti(tb, nb, ta[i].name);
            int same = o && o->nd == ta[i].nd && o->type == ta[i].type;
            for (int d = 0; same && d < o->nd; d++) same = o->ne[d] == ta[i].ne[d];
            if (!same && mism++ < 5) fprintf(stderr, "tensor %s differs or is missing in ours\n", ta[i].name);
        }
        CHECK(mism == 0, "%d tensors differ", mism);
        static const char *const model_keys[] = {
            "general.architecture", "rwkv7.context_length", "rwkv7.embedding_length", "rwkv7.block_count",
            "rwkv7.attention.layer_norm_epsilon", "rwkv7.wkv.head_size", "rwkv7.attention.decay_lora_rank",
            "rwkv7.attention.iclr_lora_rank", "rwkv7.attention.value_residual_mix_lora_rank",
            "rwkv7.attention.gate_lora_rank", "rwkv7.feed_forward_length", "general.file_type",
            "rwkv7.attention.head_count"};
        for (size_t k = 0; k < sizeof model_keys / sizeof model_keys[0]; k++) {
            char line[96];
            snprintf(line, sizeof line, "%s\n", model_keys[k]);
            CHECK(strstr(ka, line) && strstr(kb, line), "key %s in both files", model_keys[k]);
        }
    }
    free(ta);
    free(tb);
    unlink(pth);
    unlink(g32);
    unlink(g16);
    unlink(ours);
    return test_summary("test_gguf_compat");
}
