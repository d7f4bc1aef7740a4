/* rwkv7.c — RWKV-7 "Goose" (x070): weight layout, validation and the forward pass.
 * The math follows ../shared/docs/RWKV7.md and the official code (BlinkDL RWKV-LM
 * rwkv_v7_numpy.py, pip rwkv RWKV_x070). One function, forward_chunk(), runs T tokens
 * through every layer; serial mode calls it with T = 1.
 *
 * State layout (floats), per layer i:
 *   [att_x_prev: C][ffn_x_prev: C][wkv: H][N][N]   (wkv[h][value][key], read out y = S r)
 */
#include "model/model.h"
#include "model/weights.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct v7_layer {
    /* all [C] fp32 copies of small vectors */
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    float *x_r, *x_w, *x_k, *x_v, *x_a, *x_g;
    float *w0, *a0, *v0;             /* v0 NULL in layer 0 */
    float *k_k, *k_a, *r_k;          /* r_k is [H][N] */
    float *lnx_w, *lnx_b;
    float *ffn_x_k;
    rwkv_weight w1, w2;              /* [C][Dw], [Dw][C] */
    rwkv_weight a1, a2;              /* [C][Da], [Da][C] */
    rwkv_weight v1, v2;              /* [C][Dv], [Dv][C] (unused in layer 0) */
    rwkv_weight g1, g2;              /* [C][Dg], [Dg][C] */
    int dw, da, dv, dg;              /* low-rank widths */
    int lora_t;                      /* 1: the eight factors above are as stored, [in][out];
                                        0: transposed at load to [out][in] (see transpose_lora) */
    rwkv_weight Wr, Wk, Wv, Wo;      /* [C][C] */
    rwkv_weight ffn_key;             /* [F][C] */
    rwkv_weight ffn_value;           /* [C][F] */
} v7_layer;

typedef struct v7_scratch {
    int T;                           /* capacity in tokens */
    float *x;                        /* [T][C] residual stream */
    float *xa;                       /* [T][C] normalised input of the block */
    float *xr, *xw, *xk, *xv, *xA, *xg; /* [T][C] token-shift mixes */
    float *r, *w, *k, *v, *kk, *a, *g, *vf; /* [T][C] */
    float *y;                        /* [T][C] */
    float *lw, *la, *lg, *lv;        /* [T][Dmax] low-rank hiddens of w, a, g, v */
    float *ffn;                      /* [T][F] */
    const float **prev;              /* [T] token-shift source of each row (see forward_layers) */
} v7_scratch;

/* A run of consecutive rows of the chunk that belong to one sequence (one state). */
typedef struct v7_seg {
    float *state;                    /* that sequence's state */
    int start, len;                  /* rows [start, start + len) */
} v7_seg;

typedef struct v7_weights {
    int L, C, H, N, V, F, Dmax;
    const rwkv_tensor *emb;          /* [V][C] */
    float *ln0_w, *ln0_b;            /* [C] */
    float *lnout_w, *lnout_b;        /* [C] */
    rwkv_weight head;                /* [V][C] */
    v7_layer *layers;                /* [L] */
    rwkv_owned owned;                /* every converted vector, freed at the end */
    v7_scratch sc;
} v7_weights;

#define LN_EPS 1e-5f
#define GN_EPS 64e-5f

/* ---- loading ---------------------------------------------------------------------------- */

static bool v7_detect(const rwkv_tensor_file *tf) {
    return rwkv_tensor_file_find(tf, "blocks.0.att.r_k") != NULL &&
           rwkv_tensor_file_find(tf, "blocks.0.att.k_k") != NULL;
}

/* Keeps p in the owned list so v7_free releases it (rwkv_w_own). */
static bool own(v7_weights *W, float *p) {
    return rwkv_w_own(&W->owned, p);
}

/* Loads a vector tensor of n elements (any leading 1-dims) as an owned fp32 copy. */
static rwkv_status vec(rwkv_model *m, v7_weights *W, float **out, int64_t n, const char *fmt, int i) {
    char name[128];
    snprintf(name, sizeof name, fmt, i);
    const rwkv_tensor *t;
    int64_t dims[1] = {n};
    rwkv_status st = rwkv_model_tensor(m, name, 1, dims, &t);
    if (st == RWKV_ERR_SHAPE && t == NULL) {
        /* allow [1,1,C] and [H,N] layouts of the same numel */
        const rwkv_tensor *u = rwkv_tensor_file_find(&m->file, name);
        if (u && (int64_t)u->numel == n) {
            t = u;
            st = RWKV_OK;
        }
    }
    if (st != RWKV_OK) return st;
    *out = rwkv_tensor_to_f32(t);
    return own(W, *out) ? RWKV_OK : RWKV_ERR_NOMEM;
}

/* True if name is a tensor this loader knows (so unknown keys can be reported). */
static bool known_key(const char *name, int L) {
    static const char *const top[] = {"emb.weight", "ln_out.weight", "ln_out.bias", "head.weight",
                                      "blocks.0.ln0.weight", "blocks.0.ln0.bias"};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (!strcmp(name, top[i])) return true;
    static const char *const per[] = {
        "ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias", "att.x_r", "att.x_w", "att.x_k",
        "att.x_v", "att.x_a", "att.x_g", "att.w0", "att.w1", "att.w2", "att.a0", "att.a1",
        "att.a2", "att.v0", "att.v1", "att.v2", "att.g1", "att.g2", "att.k_k", "att.k_a",
        "att.r_k", "att.receptance.weight", "att.key.weight", "att.value.weight",
        "att.output.weight", "att.ln_x.weight", "att.ln_x.bias", "ffn.x_k", "ffn.key.weight",
        "ffn.value.weight"};
    int i, pos = 0;
    if (sscanf(name, "blocks.%d.%n", &i, &pos) != 1 || pos == 0 || i < 0 || i >= L) return false;
    for (size_t j = 0; j < sizeof per / sizeof per[0]; j++)
        if (!strcmp(name + pos, per[j])) return true;
    return false;
}

static void v7_free(rwkv_model *m) {
    v7_weights *W = m->weights;
    if (!W) return;
    for (size_t i = 0; i < W->owned.n; i++) free(W->owned.p[i]);
    free(W->owned.p);
    free(W->layers);
    m->weights = NULL;
    free(W);
}

static rwkv_status alloc_scratch(v7_weights *W, int T) {
    v7_scratch *s = &W->sc;
    size_t TC = (size_t)T * W->C;
    float **bufs[] = {&s->x, &s->xa, &s->xr, &s->xw, &s->xk, &s->xv, &s->xA, &s->xg, &s->r,
                      &s->w, &s->k,  &s->v,  &s->kk, &s->a,  &s->g,  &s->vf, &s->y};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        *bufs[i] = malloc(TC * sizeof(float));
        if (!own(W, *bufs[i])) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory for scratch");
    }
    float **lrs[] = {&s->lw, &s->la, &s->lg, &s->lv};
    for (size_t i = 0; i < sizeof lrs / sizeof lrs[0]; i++) {
        *lrs[i] = malloc((size_t)T * W->Dmax * sizeof(float));
        if (!own(W, *lrs[i])) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory for scratch");
    }
    s->ffn = malloc((size_t)T * W->F * sizeof(float));
    if (!own(W, s->ffn)) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory for scratch");
    s->prev = malloc((size_t)T * sizeof *s->prev);
    if (!own(W, (float *)s->prev)) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory for scratch");
    s->T = T;
    return RWKV_OK;
}

/* The 16-bit type that holds each of the n fp32 values exactly (bf16, else fp16), or fp32.
 * Checkpoints are trained in bf16 and converters often widen the low-rank factors to fp32 (every
 * GGUF from llama.cpp; our own quantized files from an fp16 .pth): the values then fit 16 bits. */
static rwkv_dtype exact16(const float *v, size_t n) {
    bool bf = true, hf = true;
    for (size_t i = 0; i < n && (bf || hf); i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        if (bf && ((u & 0xffffu) || (u & 0x7f800000u) == 0x7f800000u)) bf = false;
        if (hf) {
            const float back = rwkv_f16_to_f32(rwkv_f32_to_f16(v[i]));
            uint32_t b;
            memcpy(&b, &back, 4);
            if (b != u || (u & 0x7f800000u) == 0x7f800000u) hf = false;
        }
    }
    return bf ? RWKV_DT_BF16 : hf ? RWKV_DT_F16 : RWKV_DT_F32;
}

/* Replaces w by an owned copy of its transpose ([rows][cols] -> [cols][rows]), in the same
 * dtype or, for fp32 values that all fit a 16-bit type exactly, in that type: the same numbers
 * (the kernels widen 16-bit weights to fp32 exactly, so every product is bit-identical) in half
 * the bytes a decode step reads. *saved grows by the bytes saved per pass over the matrix. */
static rwkv_status transpose_weight(v7_weights *W, rwkv_weight *w, uint64_t *saved) {
    const size_t R = (size_t)w->rows, K = (size_t)w->cols;
    const rwkv_dtype dt = w->dtype == RWKV_DT_F32 ? exact16(w->data, R * K) : w->dtype;
    const size_t es = rwkv_dtype_size(w->dtype), eo = rwkv_dtype_size(dt);
    char *t = malloc(R * K * eo);
    if (!own(W, (float *)t)) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory transposing a low-rank factor");
    const char *src = w->data;
    if (dt == w->dtype) {
        for (size_t r = 0; r < R; r++)
            for (size_t c = 0; c < K; c++) memcpy(t + (c * R + r) * es, src + (r * K + c) * es, es);
    } else {
        uint16_t *t16 = (uint16_t *)t;
        const float *f = w->data;
        for (size_t r = 0; r < R; r++)
            for (size_t c = 0; c < K; c++)
                t16[c * R + r] = dt == RWKV_DT_BF16 ? rwkv_f32_to_bf16(f[r * K + c]) : rwkv_f32_to_f16(f[r * K + c]);
        *saved += R * K * (es - eo);
    }
    w->data = t;
    w->dtype = dt;
    w->rows = (int)K;
    w->cols = (int)R;
    return RWKV_OK;
}

/* The low-rank factors are stored [in][out] (y = xᵀ W). A product in that layout reads the
 * matrix column-wise, which is slow for one token; the transposed [out][in] copy is read row by
 * row like every other matrix. The copies are small (under 4% of the weights); the originals in
 * the mapping are then never touched. Block-quantized factors are kept as stored. */
static rwkv_status transpose_lora(v7_weights *W, v7_layer *l, bool has_v, uint64_t *saved) {
    rwkv_weight *f[8] = {&l->w1, &l->w2, &l->a1, &l->a2, &l->g1, &l->g2, &l->v1, &l->v2};
    const int n = has_v ? 8 : 6;
    l->lora_t = 1;
    for (int i = 0; i < n; i++)
        if (rwkv_dtype_size(f[i]->dtype) == 0) return RWKV_OK;
    for (int i = 0; i < n; i++) {
        rwkv_status st = transpose_weight(W, f[i], saved);
        if (st != RWKV_OK) return st;
    }
    l->lora_t = 0;
    return RWKV_OK;
}

static rwkv_status v7_load(rwkv_model *m) {
    v7_weights *W = calloc(1, sizeof *W);
    if (!W) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    m->weights = W;
    rwkv_status st;
    const rwkv_tensor *t;
    int64_t any2[2] = {-1, -1};

    if ((st = rwkv_model_tensor(m, "emb.weight", 2, any2, &t)) != RWKV_OK) return st;
    if (t->shape[0] < 1 || t->shape[0] > (1 << 24) || t->shape[1] < 1 || t->shape[1] > (1 << 16))
        return rwkv_fail(RWKV_ERR_SHAPE, "emb.weight has an unusable shape");
    W->emb = t;
    W->V = (int)t->shape[0];
    W->C = (int)t->shape[1];
    const int C = W->C;
    if ((st = rwkv_model_tensor(m, "blocks.0.att.r_k", 2, any2, &t)) != RWKV_OK) return st;
    W->H = (int)t->shape[0];
    W->N = (int)t->shape[1];
    if (W->H < 1 || W->N < 1 || (int64_t)W->H * W->N != C)
        return rwkv_fail(RWKV_ERR_SHAPE, "blocks.0.att.r_k [%d,%d] does not split n_embd %d into heads",
                         W->H, W->N, C);
    int L = 0;
    while (L < 100000) {
        char name[64];
        snprintf(name, sizeof name, "blocks.%d.ln1.weight", L);
        if (!rwkv_tensor_file_find(&m->file, name)) break;
        L++;
    }
    if (L == 0) return rwkv_fail(RWKV_ERR_SHAPE, "no layers (blocks.0.ln1.weight is missing)");
    W->L = L;
    for (size_t i = 0; i < m->file.n_tensors; i++)
        if (!known_key(m->file.tensors[i].name, L))
            return rwkv_fail(RWKV_ERR_SHAPE, "unexpected tensor '%s' in an RWKV-7 checkpoint",
                             m->file.tensors[i].name);

    if ((st = vec(m, W, &W->ln0_w, C, "blocks.%d.ln0.weight", 0)) ||
        (st = vec(m, W, &W->ln0_b, C, "blocks.%d.ln0.bias", 0)) ||
        (st = vec(m, W, &W->lnout_w, C, "ln_out.weight", 0)) ||
        (st = vec(m, W, &W->lnout_b, C, "ln_out.bias", 0)) ||
        (st = rwkv_w_mat(m, &W->head, W->V, C, "head.weight", 0)))
        return st;

    W->layers = calloc((size_t)L, sizeof *W->layers);
    if (!W->layers) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    W->F = -1;
    W->Dmax = 1;
    for (int i = 0; i < L; i++) {
        v7_layer *l = &W->layers[i];
        if ((st = vec(m, W, &l->ln1_w, C, "blocks.%d.ln1.weight", i)) ||
            (st = vec(m, W, &l->ln1_b, C, "blocks.%d.ln1.bias", i)) ||
            (st = vec(m, W, &l->ln2_w, C, "blocks.%d.ln2.weight", i)) ||
            (st = vec(m, W, &l->ln2_b, C, "blocks.%d.ln2.bias", i)) ||
            (st = vec(m, W, &l->x_r, C, "blocks.%d.att.x_r", i)) ||
            (st = vec(m, W, &l->x_w, C, "blocks.%d.att.x_w", i)) ||
            (st = vec(m, W, &l->x_k, C, "blocks.%d.att.x_k", i)) ||
            (st = vec(m, W, &l->x_v, C, "blocks.%d.att.x_v", i)) ||
            (st = vec(m, W, &l->x_a, C, "blocks.%d.att.x_a", i)) ||
            (st = vec(m, W, &l->x_g, C, "blocks.%d.att.x_g", i)) ||
            (st = vec(m, W, &l->w0, C, "blocks.%d.att.w0", i)) ||
            (st = vec(m, W, &l->a0, C, "blocks.%d.att.a0", i)) ||
            (st = vec(m, W, &l->k_k, C, "blocks.%d.att.k_k", i)) ||
            (st = vec(m, W, &l->k_a, C, "blocks.%d.att.k_a", i)) ||
            (st = vec(m, W, &l->r_k, C, "blocks.%d.att.r_k", i)) ||
            (st = vec(m, W, &l->lnx_w, C, "blocks.%d.att.ln_x.weight", i)) ||
            (st = vec(m, W, &l->lnx_b, C, "blocks.%d.att.ln_x.bias", i)) ||
            (st = vec(m, W, &l->ffn_x_k, C, "blocks.%d.ffn.x_k", i)) ||
            (st = rwkv_w_mat(m, &l->w1, C, -1, "blocks.%d.att.w1", i)) ||
            (st = rwkv_w_mat(m, &l->w2, l->w1.cols, C, "blocks.%d.att.w2", i)) ||
            (st = rwkv_w_mat(m, &l->a1, C, -1, "blocks.%d.att.a1", i)) ||
            (st = rwkv_w_mat(m, &l->a2, l->a1.cols, C, "blocks.%d.att.a2", i)) ||
            (st = rwkv_w_mat(m, &l->g1, C, -1, "blocks.%d.att.g1", i)) ||
            (st = rwkv_w_mat(m, &l->g2, l->g1.cols, C, "blocks.%d.att.g2", i)) ||
            (st = rwkv_w_mat(m, &l->Wr, C, C, "blocks.%d.att.receptance.weight", i)) ||
            (st = rwkv_w_mat(m, &l->Wk, C, C, "blocks.%d.att.key.weight", i)) ||
            (st = rwkv_w_mat(m, &l->Wv, C, C, "blocks.%d.att.value.weight", i)) ||
            (st = rwkv_w_mat(m, &l->Wo, C, C, "blocks.%d.att.output.weight", i)) ||
            (st = rwkv_w_mat(m, &l->ffn_key, W->F < 0 ? -1 : W->F, C, "blocks.%d.ffn.key.weight", i)))
            return st;
        if (W->F < 0) W->F = l->ffn_key.rows;
        if ((st = rwkv_w_mat(m, &l->ffn_value, C, W->F, "blocks.%d.ffn.value.weight", i))) return st;
        if (i > 0) {
            if ((st = vec(m, W, &l->v0, C, "blocks.%d.att.v0", i)) ||
                (st = rwkv_w_mat(m, &l->v1, C, -1, "blocks.%d.att.v1", i)) ||
                (st = rwkv_w_mat(m, &l->v2, l->v1.cols, C, "blocks.%d.att.v2", i)))
                return st;
        }
        l->dw = l->w1.cols;
        l->da = l->a1.cols;
        l->dg = l->g1.cols;
        l->dv = i > 0 ? l->v1.cols : 1;
        if ((st = transpose_lora(W, l, i > 0, &m->decode_bytes_saved)) != RWKV_OK) return st;
        int ds[4] = {l->dw, l->da, l->dg, l->dv};
        for (int j = 0; j < 4; j++)
            if (ds[j] > W->Dmax) W->Dmax = ds[j];
    }
    if ((st = alloc_scratch(W, m->seq_chunk)) != RWKV_OK) return st;

    m->info.n_layer = L;
    m->info.n_embd = C;
    m->info.head_size = W->N;
    m->info.n_head = W->H;
    m->info.n_vocab = W->V;
    m->info.n_ffn = W->F;
    m->state_floats = (size_t)L * ((size_t)2 * C + (size_t)W->H * W->N * W->N);
    return RWKV_OK;
}

static void v7_state_zero(const rwkv_model *m, float *state) {
    memset(state, 0, m->state_floats * sizeof(float));
}

/* Official state-tuning file: blocks.i.att.time_state [H][N][N] copied as is (RWKV7.md). */
static rwkv_status v7_state_tuning(const rwkv_model *m, const rwkv_tensor_file *tf, float *state) {
    const v7_weights *W = m->weights;
    const size_t per_layer = (size_t)2 * W->C + (size_t)W->H * W->N * W->N;
    size_t found = 0;
    for (size_t i = 0; i < tf->n_tensors; i++) {
        const rwkv_tensor *t = &tf->tensors[i];
        int layer, pos = 0;
        if (sscanf(t->name, "blocks.%d.att.time_state%n", &layer, &pos) != 1 || t->name[pos] != 0)
            continue;
        if (layer < 0 || layer >= W->L)
            return rwkv_fail(RWKV_ERR_SHAPE, "'%s': layer out of range (model has %d layers)", t->name, W->L);
        bool shape_ok = t->numel == (size_t)W->H * W->N * W->N && t->n_dims >= 2 &&
                        t->shape[t->n_dims - 1] == W->N && t->shape[t->n_dims - 2] == W->N;
        if (!shape_ok)
            return rwkv_fail(RWKV_ERR_SHAPE, "'%s' does not have shape [%d,%d,%d]", t->name, W->H, W->N, W->N);
        rwkv_convert_to_f32(t->dtype, t->data, state + (size_t)layer * per_layer + 2 * (size_t)W->C, t->numel);
        found++;
    }
    if (found != (size_t)W->L)
        return rwkv_fail(RWKV_ERR_SHAPE, "state file has time_state for %zu of %d layers", found, W->L);
    return RWKV_OK;
}

/* ---- forward ------------------------------------------------------------------------------ */

/* Points s->prev[t] at the token-shift source of row t: the previous row of the same sequence,
 * or, for a sequence's first row, its saved vector at offset `off` in the layer's state. */
static void shift_sources(v7_scratch *s, const float *cur, const v7_seg *seg, int nseg,
                          size_t layer_off, size_t off, int C) {
    for (int i = 0; i < nseg; i++)
        for (int t = seg[i].start; t < seg[i].start + seg[i].len; t++)
            s->prev[t] = t == seg[i].start ? seg[i].state + layer_off + off : cur + (size_t)(t - 1) * C;
}

/* Saves each sequence's last row of cur as its token-shift vector (offset off in the layer). */
static void shift_save(const float *cur, const v7_seg *seg, int nseg, size_t layer_off, size_t off, int C) {
    for (int i = 0; i < nseg; i++)
        memcpy(seg[i].state + layer_off + off, cur + (size_t)(seg[i].start + seg[i].len - 1) * C,
               (size_t)C * sizeof(float));
}

/* The six time-mix inputs in one pass: out_j[t] = cur[t] + (prev[t] − cur[t])·mix_j. */
static void token_shift6(const float *cur, const float *const *prev, const v7_layer *l, v7_scratch *s,
                         int T, int C) {
    for (int t = 0; t < T; t++) {
        const size_t o = (size_t)t * C;
        const float *c = cur + o, *p = prev[t];
        for (int i = 0; i < C; i++) {
            const float x = c[i], d = p[i] - x;
            s->xr[o + i] = x + d * l->x_r[i];
            s->xw[o + i] = x + d * l->x_w[i];
            s->xk[o + i] = x + d * l->x_k[i];
            s->xv[o + i] = x + d * l->x_v[i];
            s->xA[o + i] = x + d * l->x_a[i];
            s->xg[o + i] = x + d * l->x_g[i];
        }
    }
}

/* out[t] = cur[t] + (prev[t] − cur[t])·mix. */
static void token_shift(const float *cur, const float *const *prev, const float *mix, float *out, int T, int C) {
    for (int t = 0; t < T; t++) {
        const float *c = cur + (size_t)t * C;
        const float *p = prev[t];
        float *o = out + (size_t)t * C;
        for (int i = 0; i < C; i++) o[i] = c[i] + (p[i] - c[i]) * mix[i];
    }
}

/* Runs T rows (T <= scratch capacity) from x (already embedded, LayerNorm'd by ln0) through
 * every layer; leaves the final residual stream in sc.x. The rows are nseg runs of consecutive
 * tokens, each of its own sequence/state (one run for a prompt chunk; one row per sequence for
 * a batched decode step). Every product over the chunk is one matrix-matrix product over all
 * rows, so the weights are read once for every sequence; products that share an input step
 * run as one parallel batch. Only token shift and the WKV recurrence look at the segments. */
static void forward_layers(rwkv_model *m, const v7_seg *seg, int nseg, int T) {
    v7_weights *W = m->weights;
    v7_scratch *s = &W->sc;
    const int C = W->C, H = W->H, N = W->N, F = W->F;
    const size_t TC = (size_t)T * C;
    const size_t per_layer = (size_t)2 * C + (size_t)H * N * N;
    rwkv_ctx *ctx = m->ctx;

    for (int li = 0; li < W->L; li++) {
        const v7_layer *l = &W->layers[li];
        const size_t lo = (size_t)li * per_layer; /* layer offset: [att_prev][ffn_prev][S] */

        /* ---- time mix ---- */
        rwkv_op_norm(ctx, s->x, s->xa, l->ln1_w, l->ln1_b, T, C, C, LN_EPS);
        shift_sources(s, s->xa, seg, nseg, lo, 0, C);
        token_shift6(s->xa, s->prev, l, s, T, C);
        shift_save(s->xa, seg, nseg, lo, 0, C);

        /* r = Wr xr, k = Wk xk, v = Wv xv and the first low-rank factors, in one step */
        rwkv_linear_job first[7] = {
            {.W = &l->Wr, .X = s->xr, .Y = s->r},
            {.W = &l->Wk, .X = s->xk, .Y = s->k},
            {.W = &l->Wv, .X = s->xv, .Y = s->v},
            {.W = &l->w1, .X = s->xw, .Y = s->lw, .transposed = l->lora_t},
            {.W = &l->a1, .X = s->xA, .Y = s->la, .transposed = l->lora_t},
            {.W = &l->g1, .X = s->xg, .Y = s->lg, .transposed = l->lora_t},
            {.W = &l->v1, .X = s->xv, .Y = s->lv, .transposed = l->lora_t},
        };
        rwkv_op_linear_batch(ctx, first, li > 0 ? 7 : 6, T);
        rwkv_op_act(ctx, RWKV_ACT_TANH, s->lw, NULL, s->lw, T, l->dw);
        rwkv_op_act(ctx, RWKV_ACT_SIGMOID, s->lg, NULL, s->lg, T, l->dg);
        rwkv_linear_job second[4] = {
            {.W = &l->w2, .X = s->lw, .Y = s->w, .transposed = l->lora_t},
            {.W = &l->a2, .X = s->la, .Y = s->a, .transposed = l->lora_t},
            {.W = &l->g2, .X = s->lg, .Y = s->g, .transposed = l->lora_t},
            {.W = &l->v2, .X = s->lv, .Y = s->y, .transposed = l->lora_t},
        };
        rwkv_op_linear_batch(ctx, second, li > 0 ? 4 : 3, T);
        /* w = exp(−e^{−0.5}·σ(w0 + tanh(xw·w1)·w2));  a = σ(a0 + (xa·a1)·a2);  g = σ(xg·g1)·g2 */
        rwkv_op_act(ctx, RWKV_ACT_DECAY7, s->w, l->w0, s->w, T, C);
        rwkv_op_act(ctx, RWKV_ACT_SIGMOID, s->a, l->a0, s->a, T, C);

        /* kk = normalize_per_head(k·k_k);  k = k·(1 + (a − 1)·k_a) */
        for (int t = 0; t < T; t++) {
            for (int h = 0; h < H; h++) {
                size_t b = (size_t)t * C + (size_t)h * N;
                float ss = 0.0f;
                for (int j = 0; j < N; j++) {
                    float q = s->k[b + j] * l->k_k[h * N + j];
                    s->kk[b + j] = q;
                    ss += q * q;
                }
                float nrm = sqrtf(ss);
                float inv = 1.0f / (nrm > 1e-12f ? nrm : 1e-12f);
                for (int j = 0; j < N; j++) s->kk[b + j] *= inv;
            }
            float *k = s->k + (size_t)t * C;
            const float *a = s->a + (size_t)t * C;
            for (int i = 0; i < C; i++) k[i] = k[i] * (1.0f + (a[i] - 1.0f) * l->k_a[i]);
        }

        /* value residual: layer 0 remembers v, later layers mix towards it:
         * v = v + (v_first − v)·σ(v0 + (xv·v1)·v2) */
        if (li == 0) {
            memcpy(s->vf, s->v, TC * sizeof(float));
        } else {
            rwkv_op_act(ctx, RWKV_ACT_SIGMOID, s->y, l->v0, s->y, T, C);
            for (size_t i = 0; i < TC; i++) s->v[i] = s->v[i] + (s->vf[i] - s->v[i]) * s->y[i];
        }

        /* y = (GroupNorm(WKV) + (Σ r·k·r_k)·v per head)·g, then x += Wo y */
        for (int i = 0; i < nseg; i++) {
            const size_t o = (size_t)seg[i].start * C;
            rwkv_op_wkv7_out(ctx, seg[i].state + lo + 2 * (size_t)C, s->r + o, s->w + o, s->k + o,
                             s->v + o, s->kk + o, s->a + o, s->y + o, seg[i].len, H, N, l->lnx_w,
                             l->lnx_b, GN_EPS, l->r_k, s->g + o);
        }
        rwkv_linear_job out = {.W = &l->Wo, .X = s->y, .Y = s->xr, .epilogue = RWKV_EPI_ADD, .acc = s->x};
        rwkv_op_linear_batch(ctx, &out, 1, T);

        /* ---- channel mix: x += Wv·relu(Wk·lerp(xf, prev, x_k))² ---- */
        rwkv_op_norm(ctx, s->x, s->xa, l->ln2_w, l->ln2_b, T, C, C, LN_EPS);
        shift_sources(s, s->xa, seg, nseg, lo, (size_t)C, C);
        token_shift(s->xa, s->prev, l->ffn_x_k, s->xk, T, C);
        shift_save(s->xa, seg, nseg, lo, (size_t)C, C);
        rwkv_linear_job key = {.W = &l->ffn_key, .X = s->xk, .Y = s->ffn, .epilogue = RWKV_EPI_RELU_SQ};
        rwkv_op_linear_batch(ctx, &key, 1, T);
        rwkv_linear_job val = {.W = &l->ffn_value, .X = s->ffn, .Y = s->xr, .epilogue = RWKV_EPI_ADD, .acc = s->x};
        rwkv_op_linear_batch(ctx, &val, 1, T);
    }
    (void)F;
}

/* Feeds tokens in chunks of the scratch capacity (1 in serial mode). */
static rwkv_status v7_eval(rwkv_model *m, float *state, const int32_t *tokens, size_t n, float *logits,
                           unsigned flags) {
    v7_weights *W = m->weights;
    v7_scratch *s = &W->sc;
    const int C = W->C;
    const bool all = flags & RWKV_EVAL_ALL_LOGITS;
    const size_t chunk = (flags & RWKV_EVAL_SERIAL) ? 1 : (size_t)s->T;
    for (size_t done = 0; done < n;) {
        int T = (int)(n - done < chunk ? n - done : chunk);
        for (int t = 0; t < T; t++)
            rwkv_convert_to_f32(W->emb->dtype,
                                (const char *)W->emb->data + (size_t)tokens[done + t] * C *
                                                                 rwkv_dtype_size(W->emb->dtype),
                                s->x + (size_t)t * C, (size_t)C);
        rwkv_op_norm(m->ctx, s->x, s->x, W->ln0_w, W->ln0_b, T, C, C, LN_EPS);
        const v7_seg one = {.state = state, .start = 0, .len = T};
        forward_layers(m, &one, 1, T);
        if (logits && (all || done + (size_t)T == n)) {
            int first = all ? 0 : T - 1;
            int nrows = T - first;
            rwkv_op_norm(m->ctx, s->x + (size_t)first * C, s->xa, W->lnout_w, W->lnout_b, nrows, C, C, LN_EPS);
            float *dst = all ? logits + done * (size_t)W->V : logits;
            rwkv_op_linear(m->ctx, &W->head, s->xa, dst, nrows);
        }
        done += (size_t)T;
    }
    return RWKV_OK;
}

/* One decode step for n sequences: row i is tokens[i] of states[i]; groups of up to the
 * scratch capacity run as one batched forward. */
static rwkv_status v7_eval_batch(rwkv_model *m, float *const *states, const int32_t *tokens, size_t n,
                                 float *logits) {
    v7_weights *W = m->weights;
    v7_scratch *s = &W->sc;
    const int C = W->C;
    v7_seg *seg = malloc((size_t)s->T * sizeof *seg);
    if (!seg) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    for (size_t done = 0; done < n;) {
        int B = (int)(n - done < (size_t)s->T ? n - done : (size_t)s->T);
        for (int b = 0; b < B; b++) {
            rwkv_convert_to_f32(W->emb->dtype,
                                (const char *)W->emb->data + (size_t)tokens[done + b] * C *
                                                                 rwkv_dtype_size(W->emb->dtype),
                                s->x + (size_t)b * C, (size_t)C);
            seg[b] = (v7_seg){.state = states[done + b], .start = b, .len = 1};
        }
        rwkv_op_norm(m->ctx, s->x, s->x, W->ln0_w, W->ln0_b, B, C, C, LN_EPS);
        forward_layers(m, seg, B, B);
        if (logits) {
            rwkv_op_norm(m->ctx, s->x, s->xa, W->lnout_w, W->lnout_b, B, C, C, LN_EPS);
            rwkv_op_linear(m->ctx, &W->head, s->xa, logits + done * (size_t)W->V, B);
        }
        done += (size_t)B;
    }
    free(seg);
    return RWKV_OK;
}

const rwkv_arch rwkv_arch_v7 = {
    .eval_batch = v7_eval_batch,
    .generation = "7",
    .detect = v7_detect,
    .load = v7_load,
    .free = v7_free,
    .state_zero = v7_state_zero,
    .state_tuning = v7_state_tuning,
    .eval = v7_eval,
};
