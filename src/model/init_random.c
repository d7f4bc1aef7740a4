/* init_random.c — rwkv_model_init_random(): random-weight RWKV-7 models of the released shapes,
 * written as official .pth checkpoints through pth_write.c (for benchmarks and tests). */
#include "io/pth_write.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define HEAD_SIZE 64
#define CHUNK_ELEMS ((size_t)1 << 16) /* elements generated and written per step */

/* ---- deterministic random numbers --------------------------------------------------------- */

/* splitmix64 step: advances *s and returns the next 64 random bits. */
static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- shapes --------------------------------------------------------------------------------- */

typedef struct shape_desc {
    int n_layer, n_embd, n_vocab;
    int d_w, d_a, d_v, d_g; /* low-rank widths */
} shape_desc;

/* RWKV-LM (RWKV-v7 train code) suggestion: max(32, round(factor * C^power / 32) * 32), with
 * Python's round-half-to-even (nearbyint in the default rounding mode). */
static int lora_width(int C, double factor, double power) {
    double v = nearbyint(factor * pow((double)C, power) / 32.0) * 32.0;
    return v < 32.0 ? 32 : (int)v;
}

/* Parses "L<n>C<n>" (case-insensitive); false if s is not of that form. */
static bool parse_lc(const char *s, int *L, int *C) {
    if (tolower((unsigned char)*s) != 'l') return false;
    char *end;
    long l = strtol(s + 1, &end, 10);
    if (end == s + 1 || tolower((unsigned char)*end) != 'c' || !isdigit((unsigned char)end[1])) return false;
    const char *cs = end + 1;
    long c = strtol(cs, &end, 10);
    if (*end || !isdigit((unsigned char)s[1])) return false;
    if (l < 1 || l > 1024 || c < 1 || c > 65536) return false;
    *L = (int)l;
    *C = (int)c;
    return true;
}

/* Fills *d from a shape name; fails with a message on an unknown shape. */
static rwkv_status parse_shape(const char *shape, int vocab, shape_desc *d) {
    static const struct { const char *name; int L, C; } named[] = {
        {"0.1b", 12, 768}, {"0.4b", 24, 1024}, {"1.5b", 24, 2048}, {"2.9b", 32, 2560},
    };
    if (!shape) return rwkv_fail(RWKV_ERR_INVALID_ARG, "model shape is NULL");
    int L = 0, C = 0;
    bool found = false;
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        const char *a = named[i].name, *b = shape;
        while (*a && tolower((unsigned char)*b) == *a) a++, b++;
        if (!*a && !*b) {
            L = named[i].L;
            C = named[i].C;
            found = true;
        }
    }
    if (!found && !parse_lc(shape, &L, &C))
        return rwkv_fail(RWKV_ERR_INVALID_ARG,
                         "unknown model shape '%.60s' (0.1b, 0.4b, 1.5b, 2.9b or L<layers>C<embd>)", shape);
    if (C % HEAD_SIZE != 0 || C > 16384 || L > 256)
        return rwkv_fail(RWKV_ERR_INVALID_ARG,
                         "model shape '%.60s': n_embd must be a multiple of %d up to 16384 and layers "
                         "at most 256",
                         shape, HEAD_SIZE);
    if (vocab < 0 || vocab > (1 << 24))
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "vocabulary size %d out of range 1..16777216 (0 = 65536)", vocab);
    d->n_layer = L;
    d->n_embd = C;
    d->n_vocab = vocab ? vocab : 65536;
    d->d_w = lora_width(C, 1.8, 0.5);
    d->d_a = lora_width(C, 1.8, 0.5);
    d->d_v = lora_width(C, 1.3, 0.5);
    d->d_g = lora_width(C, 0.6, 0.8);
    return RWKV_OK;
}

/* ---- tensor generation ---------------------------------------------------------------------- */

typedef struct gen_ctx {
    rwkv_pth_writer *w;
    rwkv_dtype dt;
    uint64_t seed;
    float *f;            /* [CHUNK_ELEMS] */
    unsigned char *out;  /* [CHUNK_ELEMS * 4] */
} gen_ctx;

/* Writes tensor `name` of the given shape, elements uniform in [center - half, center + half),
 * drawn from a stream seeded by (seed, name) so that every tensor is independent of the others
 * and of the weight type (an fp16 and an fp32 model of one seed hold the same values, rounded). */
static rwkv_status gen(gen_ctx *g, const char *name, int n_dims, const int64_t *shape, double center,
                       double half) {
    uint64_t s = g->seed ^ rwkv_fnv1a(RWKV_FNV_INIT, name, strlen(name));
    (void)splitmix64(&s);
    rwkv_status st = rwkv_pth_writer_begin(g->w, name, g->dt, n_dims, shape);
    if (st != RWKV_OK) return st;
    uint64_t numel = 1;
    for (int i = 0; i < n_dims; i++) numel *= (uint64_t)shape[i];
    size_t esz = rwkv_dtype_size(g->dt);
    for (uint64_t done = 0; done < numel && st == RWKV_OK;) {
        size_t n = numel - done < CHUNK_ELEMS ? (size_t)(numel - done) : CHUNK_ELEMS;
        for (size_t i = 0; i < n; i++) {
            double u = (double)(splitmix64(&s) >> 11) * 0x1.0p-53; /* [0, 1) */
            g->f[i] = (float)(center + half * (2.0 * u - 1.0));
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char *o = g->out + i * esz;
            if (g->dt == RWKV_DT_F32) {
                uint32_t u;
                memcpy(&u, &g->f[i], 4);
                for (int b = 0; b < 4; b++) o[b] = (unsigned char)(u >> (8 * b));
            } else {
                uint16_t h = g->dt == RWKV_DT_F16 ? rwkv_f32_to_f16(g->f[i]) : rwkv_f32_to_bf16(g->f[i]);
                o[0] = (unsigned char)h;
                o[1] = (unsigned char)(h >> 8);
            }
        }
        st = rwkv_pth_writer_write(g->w, g->out, n * esz);
        done += n;
    }
    return st == RWKV_OK ? rwkv_pth_writer_end(g->w) : st;
}

/* Shorthands for the tensor kinds (name built with printf formatting, at most 127 chars). */
#define NAME_MAX_LEN 128

/* A [C] or [1,1,C] vector uniform in [lo, hi). */
static rwkv_status gen_vec(gen_ctx *g, int n_dims, int64_t C, double lo, double hi, const char *name) {
    int64_t shape[3] = {1, 1, C};
    return gen(g, name, n_dims, n_dims == 1 ? &shape[2] : shape, 0.5 * (lo + hi), 0.5 * (hi - lo));
}

/* A [rows, cols] matrix with standard deviation gain / sqrt(fan_in) (uniform: half-width
 * sqrt(3) times the standard deviation). */
static rwkv_status gen_mat(gen_ctx *g, int64_t rows, int64_t cols, int64_t fan_in, double gain,
                           const char *name) {
    int64_t shape[2] = {rows, cols};
    return gen(g, name, 2, shape, 0.0, sqrt(3.0) * gain / sqrt((double)fan_in));
}

/* Writes every tensor of the model in the order of official checkpoints. */
static rwkv_status gen_model(gen_ctx *g, const shape_desc *d) {
    const int64_t C = d->n_embd, V = d->n_vocab, H = C / HEAD_SIZE, F = 4 * C;
    char n[NAME_MAX_LEN];
    rwkv_status st;
#define TRY(call)                                   \
    do {                                            \
        if ((st = (call)) != RWKV_OK) return st;   \
    } while (0)
#define NM(...) (snprintf(n, sizeof n, __VA_ARGS__), n)
    TRY(gen_mat(g, V, C, 1, 1.0, "emb.weight")); /* ln0 normalises it: scale is irrelevant */
    for (int i = 0; i < d->n_layer; i++) {
        if (i == 0) {
            TRY(gen_vec(g, 1, C, 0.9, 1.1, "blocks.0.ln0.weight"));
            TRY(gen_vec(g, 1, C, -0.05, 0.05, "blocks.0.ln0.bias"));
        }
        TRY(gen_vec(g, 1, C, 0.9, 1.1, NM("blocks.%d.ln1.weight", i)));
        TRY(gen_vec(g, 1, C, -0.05, 0.05, NM("blocks.%d.ln1.bias", i)));
        TRY(gen_vec(g, 1, C, 0.9, 1.1, NM("blocks.%d.ln2.weight", i)));
        TRY(gen_vec(g, 1, C, -0.05, 0.05, NM("blocks.%d.ln2.bias", i)));
        static const char *const mixes[] = {"x_r", "x_w", "x_k", "x_v", "x_a", "x_g"};
        for (int m = 0; m < 6; m++) TRY(gen_vec(g, 3, C, 0.05, 0.95, NM("blocks.%d.att.%s", i, mixes[m])));
        /* decay: w = exp(-e^-0.5 * sigmoid(w0 + w2^T tanh(w1^T x))); w0 in [-2, 1] and a small
         * low-rank term keep the sigmoid's argument moderate, so w stays in about [0.55, 0.95] */
        TRY(gen_vec(g, 3, C, -2.0, 1.0, NM("blocks.%d.att.w0", i)));
        TRY(gen_mat(g, C, d->d_w, C, 1.0, NM("blocks.%d.att.w1", i)));
        TRY(gen_mat(g, d->d_w, C, d->d_w, 0.3, NM("blocks.%d.att.w2", i)));
        TRY(gen_vec(g, 3, C, -1.0, 1.0, NM("blocks.%d.att.a0", i)));
        TRY(gen_mat(g, C, d->d_a, C, 1.0, NM("blocks.%d.att.a1", i)));
        TRY(gen_mat(g, d->d_a, C, d->d_a, 0.3, NM("blocks.%d.att.a2", i)));
        TRY(gen_vec(g, 3, C, -1.0, 1.0, NM("blocks.%d.att.v0", i)));
        TRY(gen_mat(g, C, d->d_v, C, 1.0, NM("blocks.%d.att.v1", i)));
        TRY(gen_mat(g, d->d_v, C, d->d_v, 0.3, NM("blocks.%d.att.v2", i)));
        TRY(gen_mat(g, C, d->d_g, C, 1.0, NM("blocks.%d.att.g1", i)));
        TRY(gen_mat(g, d->d_g, C, d->d_g, 1.0, NM("blocks.%d.att.g2", i)));
        TRY(gen_vec(g, 3, C, 0.75, 0.95, NM("blocks.%d.att.k_k", i)));
        TRY(gen_vec(g, 3, C, 0.95, 1.05, NM("blocks.%d.att.k_a", i)));
        {
            int64_t shape[2] = {H, HEAD_SIZE};
            TRY(gen(g, NM("blocks.%d.att.r_k", i), 2, shape, 0.0, 0.1));
        }
        static const char *const proj[] = {"receptance", "key", "value", "output"};
        for (int m = 0; m < 4; m++) TRY(gen_mat(g, C, C, C, 1.0, NM("blocks.%d.att.%s.weight", i, proj[m])));
        TRY(gen_vec(g, 1, C, 0.9, 1.1, NM("blocks.%d.att.ln_x.weight", i)));
        TRY(gen_vec(g, 1, C, -0.05, 0.05, NM("blocks.%d.att.ln_x.bias", i)));
        TRY(gen_vec(g, 3, C, 0.05, 0.95, NM("blocks.%d.ffn.x_k", i)));
        TRY(gen_mat(g, F, C, C, 1.0, NM("blocks.%d.ffn.key.weight", i)));
        TRY(gen_mat(g, C, F, F, 1.0, NM("blocks.%d.ffn.value.weight", i)));
    }
    TRY(gen_vec(g, 1, C, 0.9, 1.1, "ln_out.weight"));
    TRY(gen_vec(g, 1, C, -0.05, 0.05, "ln_out.bias"));
    TRY(gen_mat(g, V, C, C, 1.0, "head.weight"));
#undef NM
#undef TRY
    return RWKV_OK;
}

rwkv_status rwkv_model_init_random(const char *shape, const char *dtype, uint64_t seed, int vocab,
                                   const char *out_path) {
    shape_desc d = {0};
    rwkv_status st = parse_shape(shape, vocab, &d);
    if (st != RWKV_OK) return st;
    rwkv_dtype dt;
    if (!dtype || !strcmp(dtype, "fp16") || !strcmp(dtype, "f16") || !strcmp(dtype, "float16"))
        dt = RWKV_DT_F16;
    else if (!strcmp(dtype, "bf16") || !strcmp(dtype, "bfloat16"))
        dt = RWKV_DT_BF16;
    else if (!strcmp(dtype, "fp32") || !strcmp(dtype, "f32") || !strcmp(dtype, "float32"))
        dt = RWKV_DT_F32;
    else
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "unknown weight type '%.40s' (fp16, bf16 or fp32)", dtype);
    if (!out_path || !*out_path) return rwkv_fail(RWKV_ERR_INVALID_ARG, "no output path");

    gen_ctx g = {NULL, dt, splitmix64(&seed), malloc(CHUNK_ELEMS * sizeof(float)), malloc(CHUNK_ELEMS * 4)};
    if (!g.f || !g.out) {
        free(g.f);
        free(g.out);
        return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    }
    st = rwkv_pth_writer_open(out_path, "archive", 0, &g.w);
    if (st == RWKV_OK) {
        st = gen_model(&g, &d);
        if (st == RWKV_OK)
            st = rwkv_pth_writer_close(g.w);
        else
            rwkv_pth_writer_abort(g.w);
    }
    free(g.f);
    free(g.out);
    return st;
}
