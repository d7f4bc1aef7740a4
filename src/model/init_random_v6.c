/* init_random_v6.c — rwkv_model_init_random_v6(): random-weight RWKV-6 "Finch" models of the
 * released shapes, written as official .pth checkpoints through pth_write.c (benchmarks, tests).
 *
 * Keys, shapes and tensor order are those of the official x060 checkpoints (RWKV-LM v6 train
 * code; e.g. ../shared/models/tiny-rwkv-6v0-3m-Q5_1.pth):
 *   emb.weight [V,C]; per layer i: ln1/ln2 {weight,bias} [C] (block 0 also ln0), att.time_maa_x
 *   and att.time_maa_{w,k,v,r,g} [1,1,C], att.time_maa_w1 [C,5·Dm], att.time_maa_w2 [5,Dm,C],
 *   att.time_decay [1,1,C], att.time_decay_w1 [C,Dd], att.time_decay_w2 [Dd,C],
 *   att.time_faaaa [H,64], att.{receptance,key,value,output,gate}.weight [C,C],
 *   att.ln_x.{weight,bias} [C], ffn.time_maa_{k,r} [1,1,C], ffn.key.weight [F,C],
 *   ffn.receptance.weight [C,C], ffn.value.weight [C,F]; ln_out {weight,bias} [C]; head.weight [V,C].
 * Widths of the released Finch models: head size 64, F = int(3.5·C / 32)·32 (7168 for C = 2048,
 * as in RWKV-6-World-1.6B), Dm = 32 and Dd = 64 (doubled for C >= 4096, as in the 7B/14B models). */
#include "io/pth_write.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define V6_HEAD 64
#define V6_CHUNK ((size_t)1 << 16) /* elements generated and written per step */

typedef struct v6_shape {
    int L, C, V, F, Dm, Dd;
} v6_shape;

/* One step of splitmix64 (public-domain mixing constants): advances *s, returns 64 random bits. */
static uint64_t v6_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Case-insensitive string equality. */
static bool v6_eq(const char *a, const char *b) {
    while (*a && tolower((unsigned char)*a) == tolower((unsigned char)*b)) a++, b++;
    return !*a && !*b;
}

/* Fills *d from a shape name ("0.1b", "0.4b", "1.5b"/"1.6b", "2.9b"/"3b" or "L<n>C<n>") and a
 * vocabulary size (0 = 65536); fails with a message otherwise. */
static rwkv_status v6_parse_shape(const char *shape, int vocab, v6_shape *d) {
    static const struct { const char *name; int L, C; } named[] = {
        {"0.1b", 12, 768}, {"0.4b", 24, 1024}, {"1.5b", 24, 2048}, {"1.6b", 24, 2048},
        {"2.9b", 32, 2560}, {"3b", 32, 2560},  {"7b", 32, 4096},
    };
    if (!shape) return rwkv_fail(RWKV_ERR_INVALID_ARG, "model shape is NULL");
    int L = 0, C = 0;
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (v6_eq(named[i].name, shape)) L = named[i].L, C = named[i].C;
    if (!L) {
        char l_ch = 0, c_ch = 0, extra = 0;
        if (sscanf(shape, "%c%d%c%d%c", &l_ch, &L, &c_ch, &C, &extra) != 4 || tolower((unsigned char)l_ch) != 'l' ||
            tolower((unsigned char)c_ch) != 'c' || !isdigit((unsigned char)shape[1]))
            return rwkv_fail(RWKV_ERR_INVALID_ARG,
                             "unknown model shape '%.60s' (0.1b, 0.4b, 1.5b, 2.9b, 7b or L<layers>C<embd>)", shape);
    }
    if (L < 1 || L > 256 || C < V6_HEAD || C > 16384 || C % V6_HEAD != 0)
        return rwkv_fail(RWKV_ERR_INVALID_ARG,
                         "model shape '%.60s': n_embd must be a multiple of %d up to 16384 and layers 1..256",
                         shape, V6_HEAD);
    if (vocab < 0 || vocab > (1 << 24))
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "vocabulary size %d out of range 1..16777216 (0 = 65536)", vocab);
    d->L = L;
    d->C = C;
    d->V = vocab ? vocab : 65536;
    d->F = (int)((C * 7 / 2) / 32 * 32);
    d->Dm = C >= 4096 ? 64 : 32;
    d->Dd = C >= 4096 ? 128 : 64;
    return RWKV_OK;
}

typedef struct v6_gen {
    rwkv_pth_writer *w;
    rwkv_dtype dt;
    uint64_t seed;
    float *f;           /* [V6_CHUNK] */
    unsigned char *out; /* [V6_CHUNK · 4] */
    char name[128];     /* the tensor name being written */
} v6_gen;

/* Writes tensor g->name of the given shape with elements uniform in [lo, hi), from a random
 * stream seeded by (seed, name): each tensor is independent of the others and of the weight
 * type (fp16 and fp32 models of one seed hold the same values, rounded). */
static rwkv_status v6_tensor(v6_gen *g, int n_dims, const int64_t *shape, double lo, double hi) {
    uint64_t s = g->seed ^ rwkv_fnv1a(RWKV_FNV_INIT, g->name, strlen(g->name));
    rwkv_status st = rwkv_pth_writer_begin(g->w, g->name, g->dt, n_dims, shape);
    uint64_t numel = 1;
    for (int i = 0; i < n_dims; i++) numel *= (uint64_t)shape[i];
    const size_t esz = rwkv_dtype_size(g->dt);
    for (uint64_t done = 0; st == RWKV_OK && done < numel;) {
        size_t n = numel - done < V6_CHUNK ? (size_t)(numel - done) : V6_CHUNK;
        for (size_t i = 0; i < n; i++)
            g->f[i] = (float)(lo + (hi - lo) * ((double)(v6_rand(&s) >> 11) * 0x1.0p-53));
        for (size_t i = 0; i < n; i++) {
            unsigned char *o = g->out + i * esz;
            uint32_t bits;
            if (g->dt == RWKV_DT_F32)
                memcpy(&bits, &g->f[i], 4);
            else
                bits = g->dt == RWKV_DT_F16 ? rwkv_f32_to_f16(g->f[i]) : rwkv_f32_to_bf16(g->f[i]);
            for (size_t b = 0; b < esz; b++) o[b] = (unsigned char)(bits >> (8 * b));
        }
        st = rwkv_pth_writer_write(g->w, g->out, n * esz);
        done += n;
    }
    return st == RWKV_OK ? rwkv_pth_writer_end(g->w) : st;
}

/* Sets g->name with printf formatting. */
static void v6_name(v6_gen *g, const char *fmt, int i, const char *part)
    __attribute__((format(printf, 2, 0)));
static void v6_name(v6_gen *g, const char *fmt, int i, const char *part) {
    snprintf(g->name, sizeof g->name, fmt, i, part);
}

/* A vector tensor: [C] (n_dims 1) or [1,1,C] (n_dims 3), uniform in [lo, hi). */
static rwkv_status v6_vec(v6_gen *g, int n_dims, int64_t C, double lo, double hi) {
    const int64_t shape[3] = {1, 1, C};
    return v6_tensor(g, n_dims, n_dims == 1 ? &shape[2] : shape, lo, hi);
}

/* A matrix [rows, cols] (or [5, rows, cols] when five > 0) with standard deviation
 * gain/sqrt(fan_in) (uniform: half-width sqrt(3) times the standard deviation). */
static rwkv_status v6_mat(v6_gen *g, int five, int64_t rows, int64_t cols, int64_t fan_in, double gain) {
    const int64_t shape[3] = {5, rows, cols};
    double h = sqrt(3.0) * gain / sqrt((double)fan_in);
    return v6_tensor(g, five ? 3 : 2, five ? shape : &shape[1], -h, h);
}

/* Writes every tensor in the order of official checkpoints. The value ranges keep activations
 * finite over long inputs: LayerNorm/GroupNorm weights near 1, token-shift mixes in (0,1) with a
 * small LoRA term, time_decay in [-6,-1] plus a small LoRA term (so the decay
 * w = exp(-exp(.)) lies in (0,1), about [0.08, 0.998]), bonus time_faaaa in [-0.5,0.5], matrices
 * scaled by 1/sqrt(fan_in). */
static rwkv_status v6_model(v6_gen *g, const v6_shape *d) {
    const int64_t C = d->C, V = d->V, F = d->F, Dm = d->Dm, Dd = d->Dd;
    rwkv_status st;
#define TRY(call)                                 \
    do {                                          \
        if ((st = (call)) != RWKV_OK) return st; \
    } while (0)
#define NAME(part) v6_name(g, "blocks.%d.%s", i, part)
    snprintf(g->name, sizeof g->name, "emb.weight");
    TRY(v6_mat(g, 0, V, C, 1, 1.0)); /* ln0 normalises it: its scale is irrelevant */
    for (int i = 0; i < d->L; i++) {
        static const char *const ln[] = {"ln1", "ln2", "ln0"};
        for (int j = 0; j < (i == 0 ? 3 : 2); j++) {
            char part[32];
            snprintf(part, sizeof part, "%s.weight", ln[j]);
            NAME(part);
            TRY(v6_vec(g, 1, C, 0.9, 1.1));
            snprintf(part, sizeof part, "%s.bias", ln[j]);
            NAME(part);
            TRY(v6_vec(g, 1, C, -0.05, 0.05));
        }
        static const char *const maa[] = {"att.time_maa_x", "att.time_maa_w", "att.time_maa_k",
                                          "att.time_maa_v", "att.time_maa_r", "att.time_maa_g"};
        for (int j = 0; j < 6; j++) {
            NAME(maa[j]);
            TRY(v6_vec(g, 3, C, 0.05, 0.95));
        }
        NAME("att.time_maa_w1");
        TRY(v6_mat(g, 0, C, 5 * Dm, C, 1.0));
        NAME("att.time_maa_w2");
        TRY(v6_mat(g, 1, Dm, C, Dm, 0.1));
        NAME("att.time_decay");
        TRY(v6_vec(g, 3, C, -6.0, -1.0));
        NAME("att.time_decay_w1");
        TRY(v6_mat(g, 0, C, Dd, C, 1.0));
        NAME("att.time_decay_w2");
        TRY(v6_mat(g, 0, Dd, C, Dd, 0.3));
        {
            const int64_t hn[2] = {C / V6_HEAD, V6_HEAD};
            NAME("att.time_faaaa");
            TRY(v6_tensor(g, 2, hn, -0.5, 0.5));
        }
        static const char *const proj[] = {"att.receptance.weight", "att.key.weight", "att.value.weight",
                                           "att.output.weight", "att.gate.weight"};
        for (int j = 0; j < 5; j++) {
            NAME(proj[j]);
            TRY(v6_mat(g, 0, C, C, C, 1.0));
        }
        NAME("att.ln_x.weight");
        TRY(v6_vec(g, 1, C, 0.9, 1.1));
        NAME("att.ln_x.bias");
        TRY(v6_vec(g, 1, C, -0.05, 0.05));
        NAME("ffn.time_maa_k");
        TRY(v6_vec(g, 3, C, 0.05, 0.95));
        NAME("ffn.time_maa_r");
        TRY(v6_vec(g, 3, C, 0.05, 0.95));
        NAME("ffn.key.weight");
        TRY(v6_mat(g, 0, F, C, C, 1.0));
        NAME("ffn.receptance.weight");
        TRY(v6_mat(g, 0, C, C, C, 1.0));
        NAME("ffn.value.weight");
        TRY(v6_mat(g, 0, C, F, F, 1.0));
    }
    snprintf(g->name, sizeof g->name, "ln_out.weight");
    TRY(v6_vec(g, 1, C, 0.9, 1.1));
    snprintf(g->name, sizeof g->name, "ln_out.bias");
    TRY(v6_vec(g, 1, C, -0.05, 0.05));
    snprintf(g->name, sizeof g->name, "head.weight");
    TRY(v6_mat(g, 0, V, C, C, 1.0));
#undef NAME
#undef TRY
    return RWKV_OK;
}

rwkv_status rwkv_model_init_random_v6(const char *shape, const char *dtype, uint64_t seed, int vocab,
                                      const char *out_path) {
    v6_shape d = {0};
    rwkv_status st = v6_parse_shape(shape, vocab, &d);
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

    v6_gen g = {.dt = dt, .seed = v6_rand(&seed), .f = malloc(V6_CHUNK * sizeof(float)),
                .out = malloc(V6_CHUNK * 4)};
    if (!g.f || !g.out) {
        st = rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    } else if ((st = rwkv_pth_writer_open(out_path, "archive", 0, &g.w)) == RWKV_OK) {
        st = v6_model(&g, &d);
        if (st == RWKV_OK)
            st = rwkv_pth_writer_close(g.w);
        else
            rwkv_pth_writer_abort(g.w);
    }
    free(g.f);
    free(g.out);
    return st;
}
