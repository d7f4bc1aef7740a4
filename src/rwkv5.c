/* rwkv5.c — RWKV-5 "Eagle": versions 5.1 (no gate) and 5.2 (gated): weight layout,
 * validation and the forward pass. The math follows the official code (BlinkDL ChatRWKV
 * RWKV_v5_demo.py and the pip rwkv package model.py, versions 5 / 5.1 / 5.2): token shift with
 * time_mix_*, a multi-head matrix-valued WKV state with a constant per-channel decay and bonus,
 * GroupNorm with eps 64e-5 per head, an optional SiLU gate, and the RWKV-4 channel mix.
 * One function, forward_layers(), runs T tokens through every layer; serial mode uses T = 1.
 *
 * Versions (told apart by the tensors):
 *   5.1  no att.gate / att.time_mix_g; time_decay [H], time_first [H] (one value per head),
 *        u = exp(time_first)
 *   5.2  att.gate + att.time_mix_g; time_decay [H,N], time_faaaa [H,N] (per channel), u = faaaa
 *   Either decay shape and either bonus tensor is accepted with either gate setting (the pip
 *   package's intermediate "5.1" — gate, per-head decay — loads as 5.2 here).
 *   Decay in every version: w = exp(−exp(time_decay)).
 *
 * State layout (floats), per layer i:
 *   [att_x_prev: C][ffn_x_prev: C][wkv: H][N][N]   (wkv[h][key][value]: y = rᵀ S, the transpose
 *                                                    of RWKV-7's layout)
 */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct v5_layer {
    /* all [C] fp32 copies of small vectors */
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    float *mix_k, *mix_v, *mix_r, *mix_g; /* att.time_mix_* (mix_g NULL without gate) */
    float *w;                        /* exp(−exp(time_decay)) per channel (per head in 5.1: repeated) */
    float *u;                        /* time_faaaa, or exp(time_first), per channel */
    float *lnx_w, *lnx_b;            /* GroupNorm of the WKV output */
    float *ffn_mix_k, *ffn_mix_r;    /* ffn.time_mix_* */
    rwkv_weight Wr, Wk, Wv, Wo, Wg;  /* [C][C] (Wg unused without gate) */
    rwkv_weight ffn_r;               /* [C][C] */
    rwkv_weight ffn_key;             /* [F][C] */
    rwkv_weight ffn_value;           /* [C][F] */
} v5_layer;

typedef struct v5_scratch {
    int T;                           /* capacity in tokens */
    float *x;                        /* [T][C] residual stream */
    float *xa;                       /* [T][C] normalised input of the block */
    float *xk, *xv, *xr, *xg;        /* [T][C] token-shift mixes */
    float *r, *k, *v, *g, *y;        /* [T][C] */
    float *ffn;                      /* [T][F] */
} v5_scratch;

typedef struct v5_weights {
    int L, C, H, N, V, F;
    bool gate;                       /* 5.2 */
    const rwkv_tensor *emb;          /* [V][C] */
    float *ln0_w, *ln0_b;            /* [C] */
    float *lnout_w, *lnout_b;        /* [C] */
    rwkv_weight head;                /* [V][C] */
    v5_layer *layers;                /* [L] */
    float **owned;                   /* every converted vector and scratch buffer */
    size_t n_owned, cap_owned;
    v5_scratch sc;
} v5_weights;

#define LN_EPS 1e-5f
#define GN_EPS 64e-5f

/* ---- loading ---------------------------------------------------------------------------- */

/* RWKV-5: GroupNorm ln_x with time_mix_* token shift (RWKV-6 has time_maa_*, RWKV-7 x_*). */
static bool v5_is(const rwkv_tensor_file *tf) {
    return rwkv_tensor_file_find(tf, "blocks.0.att.ln_x.weight") != NULL &&
           rwkv_tensor_file_find(tf, "blocks.0.att.time_mix_k") != NULL &&
           rwkv_tensor_file_find(tf, "blocks.0.att.time_decay") != NULL;
}
static bool v5_1_detect(const rwkv_tensor_file *tf) {
    return v5_is(tf) && !rwkv_tensor_file_find(tf, "blocks.0.att.gate.weight");
}
static bool v5_2_detect(const rwkv_tensor_file *tf) {
    return v5_is(tf) && rwkv_tensor_file_find(tf, "blocks.0.att.gate.weight") != NULL;
}

/* Keeps p in the owned list so v5_free releases it. */
static bool own(v5_weights *W, float *p) {
    if (!p) return false;
    if (W->n_owned == W->cap_owned) {
        size_t cap = W->cap_owned ? 2 * W->cap_owned : 64;
        float **q = realloc(W->owned, cap * sizeof *q);
        if (!q) {
            free(p);
            rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
            return false;
        }
        W->owned = q;
        W->cap_owned = cap;
    }
    W->owned[W->n_owned++] = p;
    return true;
}

/* Loads a vector tensor of n elements ([n] or [1,1,n]) as an owned fp32 copy. */
static rwkv_status vec(rwkv_model *m, v5_weights *W, float **out, int64_t n, const char *fmt, int i) {
    const rwkv_tensor *t;
    int64_t dims[1] = {n};
    rwkv_status st = rwkv_model_tensorf(m, &t, 1, dims, fmt, i);
    if (st != RWKV_OK) return st;
    *out = rwkv_tensor_to_f32(t);
    return own(W, *out) ? RWKV_OK : RWKV_ERR_NOMEM;
}

/* Loads a per-head tensor, [H] (one value per head) or [H,N], as an owned fp32 [H·N] copy. */
static rwkv_status head_vec(rwkv_model *m, v5_weights *W, float **out, const char *fmt, int i) {
    char name[128];
    snprintf(name, sizeof name, fmt, i);
    const rwkv_tensor *t = rwkv_tensor_file_find(&m->file, name);
    const int64_t hn[2] = {W->H, W->N}, h1[1] = {W->H};
    rwkv_status st = t && t->numel == (size_t)W->H ? rwkv_model_tensor(m, name, 1, h1, &t)
                                                   : rwkv_model_tensor(m, name, 2, hn, &t);
    if (st != RWKV_OK) return st;
    float *p = malloc((size_t)W->C * sizeof *p);
    if (!own(W, p)) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    if (t->numel == (size_t)W->C) {
        rwkv_convert_to_f32(t->dtype, t->data, p, t->numel);
    } else {
        for (int h = 0; h < W->H; h++)
            for (int j = 0; j < W->N; j++) p[h * W->N + j] = rwkv_load_elem(t->dtype, t->data, (size_t)h);
    }
    *out = p;
    return RWKV_OK;
}

/* Binds a matrix tensor [rows][cols] in place (rows < 0: any). */
static rwkv_status mat(rwkv_model *m, rwkv_weight *w, int64_t rows, int64_t cols, const char *fmt, int i) {
    const rwkv_tensor *t;
    int64_t dims[2] = {rows, cols};
    rwkv_status st = rwkv_model_tensorf(m, &t, 2, dims, fmt, i);
    if (st != RWKV_OK) return st;
    if (t->shape[0] < 1 || t->shape[1] < 1 || t->shape[0] > (1 << 24) || t->shape[1] > (1 << 24))
        return rwkv_fail(RWKV_ERR_SHAPE, "tensor '%s' has an unusable shape", t->name);
    w->dtype = t->dtype;
    w->rows = (int)t->shape[0];
    w->cols = (int)t->shape[1];
    w->data = t->data;
    return RWKV_OK;
}

/* True if name is a tensor this loader knows (so unknown keys can be reported). */
static bool known_key(const char *name, int L, bool gate) {
    static const char *const top[] = {"emb.weight", "ln_out.weight", "ln_out.bias", "head.weight",
                                      "blocks.0.ln0.weight", "blocks.0.ln0.bias"};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (!strcmp(name, top[i])) return true;
    static const char *const per[] = {
        "ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias", "att.time_decay", "att.time_first",
        "att.time_faaaa", "att.time_mix_k", "att.time_mix_v", "att.time_mix_r", "att.ln_x.weight",
        "att.ln_x.bias", "att.key.weight", "att.value.weight", "att.receptance.weight",
        "att.output.weight", "ffn.time_mix_k", "ffn.time_mix_r", "ffn.key.weight",
        "ffn.value.weight", "ffn.receptance.weight",
        "att.time_mix_g", "att.gate.weight"}; /* the last two: gated versions only */
    const size_t n_per = sizeof per / sizeof per[0] - (gate ? 0 : 2);
    int i, pos = 0;
    if (sscanf(name, "blocks.%d.%n", &i, &pos) != 1 || pos == 0 || i < 0 || i >= L) return false;
    for (size_t j = 0; j < n_per; j++)
        if (!strcmp(name + pos, per[j])) return true;
    return false;
}

static void v5_free(rwkv_model *m) {
    v5_weights *W = m->weights;
    if (!W) return;
    for (size_t i = 0; i < W->n_owned; i++) free(W->owned[i]);
    free(W->owned);
    free(W->layers);
    m->weights = NULL;
    free(W);
}

static rwkv_status alloc_scratch(v5_weights *W, int T) {
    v5_scratch *s = &W->sc;
    size_t TC = (size_t)T * W->C;
    float **bufs[] = {&s->x, &s->xa, &s->xk, &s->xv, &s->xr, &s->xg,
                      &s->r, &s->k,  &s->v,  &s->g,  &s->y};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        *bufs[i] = malloc(TC * sizeof(float));
        if (!own(W, *bufs[i])) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory for scratch");
    }
    s->ffn = malloc((size_t)T * W->F * sizeof(float));
    if (!own(W, s->ffn)) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory for scratch");
    s->T = T;
    return RWKV_OK;
}

static rwkv_status v5_load(rwkv_model *m) {
    v5_weights *W = calloc(1, sizeof *W);
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
    W->gate = rwkv_tensor_file_find(&m->file, "blocks.0.att.gate.weight") != NULL;
    /* heads: time_decay is [H] (5.1) or [H,N] (5.2), as the official code reads it */
    t = rwkv_tensor_file_find(&m->file, "blocks.0.att.time_decay");
    int lead = 0;
    while (t && lead < t->n_dims - 1 && t->shape[lead] == 1) lead++;
    if (!t || t->shape[lead] < 1 || t->shape[lead] > C || C % t->shape[lead] != 0)
        return rwkv_fail(RWKV_ERR_SHAPE, "blocks.0.att.time_decay does not split n_embd %d into heads", C);
    W->H = (int)t->shape[lead];
    W->N = C / W->H;
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
        if (!known_key(m->file.tensors[i].name, L, W->gate))
            return rwkv_fail(RWKV_ERR_SHAPE, "unexpected tensor '%s' in an RWKV-5 checkpoint",
                             m->file.tensors[i].name);

    if ((st = vec(m, W, &W->ln0_w, C, "blocks.%d.ln0.weight", 0)) ||
        (st = vec(m, W, &W->ln0_b, C, "blocks.%d.ln0.bias", 0)) ||
        (st = vec(m, W, &W->lnout_w, C, "ln_out.weight", 0)) ||
        (st = vec(m, W, &W->lnout_b, C, "ln_out.bias", 0)) ||
        (st = mat(m, &W->head, W->V, C, "head.weight", 0)))
        return st;

    W->layers = calloc((size_t)L, sizeof *W->layers);
    if (!W->layers) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    W->F = -1;
    for (int i = 0; i < L; i++) {
        v5_layer *l = &W->layers[i];
        char name[64];
        snprintf(name, sizeof name, "blocks.%d.att.time_faaaa", i);
        const bool faaaa = rwkv_tensor_file_find(&m->file, name) != NULL;
        if ((st = vec(m, W, &l->ln1_w, C, "blocks.%d.ln1.weight", i)) ||
            (st = vec(m, W, &l->ln1_b, C, "blocks.%d.ln1.bias", i)) ||
            (st = vec(m, W, &l->ln2_w, C, "blocks.%d.ln2.weight", i)) ||
            (st = vec(m, W, &l->ln2_b, C, "blocks.%d.ln2.bias", i)) ||
            (st = vec(m, W, &l->mix_k, C, "blocks.%d.att.time_mix_k", i)) ||
            (st = vec(m, W, &l->mix_v, C, "blocks.%d.att.time_mix_v", i)) ||
            (st = vec(m, W, &l->mix_r, C, "blocks.%d.att.time_mix_r", i)) ||
            (st = head_vec(m, W, &l->w, "blocks.%d.att.time_decay", i)) ||
            (st = head_vec(m, W, &l->u, faaaa ? "blocks.%d.att.time_faaaa" : "blocks.%d.att.time_first", i)) ||
            (st = vec(m, W, &l->lnx_w, C, "blocks.%d.att.ln_x.weight", i)) ||
            (st = vec(m, W, &l->lnx_b, C, "blocks.%d.att.ln_x.bias", i)) ||
            (st = vec(m, W, &l->ffn_mix_k, C, "blocks.%d.ffn.time_mix_k", i)) ||
            (st = vec(m, W, &l->ffn_mix_r, C, "blocks.%d.ffn.time_mix_r", i)) ||
            (st = mat(m, &l->Wr, C, C, "blocks.%d.att.receptance.weight", i)) ||
            (st = mat(m, &l->Wk, C, C, "blocks.%d.att.key.weight", i)) ||
            (st = mat(m, &l->Wv, C, C, "blocks.%d.att.value.weight", i)) ||
            (st = mat(m, &l->Wo, C, C, "blocks.%d.att.output.weight", i)) ||
            (st = mat(m, &l->ffn_r, C, C, "blocks.%d.ffn.receptance.weight", i)) ||
            (st = mat(m, &l->ffn_key, W->F < 0 ? -1 : W->F, C, "blocks.%d.ffn.key.weight", i)))
            return st;
        if (W->F < 0) W->F = l->ffn_key.rows;
        if ((st = mat(m, &l->ffn_value, C, W->F, "blocks.%d.ffn.value.weight", i))) return st;
        if (W->gate && ((st = vec(m, W, &l->mix_g, C, "blocks.%d.att.time_mix_g", i)) ||
                        (st = mat(m, &l->Wg, C, C, "blocks.%d.att.gate.weight", i))))
            return st;
        /* w = exp(−exp(time_decay));  u = time_faaaa, or exp(time_first) in files that store its log */
        for (int j = 0; j < C; j++) l->w[j] = expf(-expf(l->w[j]));
        if (!faaaa)
            for (int j = 0; j < C; j++) l->u[j] = expf(l->u[j]);
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

static void v5_state_zero(const rwkv_model *m, float *state) {
    memset(state, 0, m->state_floats * sizeof(float));
}

/* Official state-tuning file (RWKV-PEFT): blocks.i.att.time_state [H][N][N] stored [value][key];
 * the official loader transposes it (time_state.transpose(1,2)) into the [key][value] state. */
static rwkv_status v5_state_tuning(const rwkv_model *m, const rwkv_tensor_file *tf, float *state) {
    const v5_weights *W = m->weights;
    const int H = W->H, N = W->N;
    const size_t per_layer = (size_t)2 * W->C + (size_t)H * N * N;
    size_t found = 0;
    for (size_t i = 0; i < tf->n_tensors; i++) {
        const rwkv_tensor *t = &tf->tensors[i];
        int layer, pos = 0;
        if (sscanf(t->name, "blocks.%d.att.time_state%n", &layer, &pos) != 1 || t->name[pos] != 0)
            continue;
        if (layer < 0 || layer >= W->L)
            return rwkv_fail(RWKV_ERR_SHAPE, "'%s': layer out of range (model has %d layers)", t->name, W->L);
        bool shape_ok = t->numel == (size_t)H * N * N && t->n_dims >= 2 &&
                        t->shape[t->n_dims - 1] == N && t->shape[t->n_dims - 2] == N;
        if (!shape_ok)
            return rwkv_fail(RWKV_ERR_SHAPE, "'%s' does not have shape [%d,%d,%d]", t->name, H, N, N);
        float *S = state + (size_t)layer * per_layer + 2 * (size_t)W->C;
        /* S[h][key i][value j] = time_state[h][j][i] */
        for (int h = 0; h < H; h++)
            for (int a = 0; a < N; a++)
                for (int b = 0; b < N; b++)
                    S[((size_t)h * N + b) * N + a] = rwkv_load_elem(t->dtype, t->data, ((size_t)h * N + a) * N + b);
        found++;
    }
    if (found != (size_t)W->L)
        return rwkv_fail(RWKV_ERR_SHAPE, "state file has time_state for %zu of %d layers", found, W->L);
    return RWKV_OK;
}

/* ---- forward ------------------------------------------------------------------------------ */

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* out[t] = cur[t]·mix + prev[t]·(1 − mix), where prev[t] is cur[t−1] (or last for t = 0). */
static void token_mix(const float *cur, const float *last, const float *mix, float *out, int T, int C) {
    for (int t = 0; t < T; t++) {
        const float *c = cur + (size_t)t * C;
        const float *p = t ? c - C : last;
        float *o = out + (size_t)t * C;
        for (int i = 0; i < C; i++) o[i] = c[i] * mix[i] + p[i] * (1.0f - mix[i]);
    }
}

/* Runs T tokens (T <= scratch capacity) from sc.x (embedded, LayerNorm'd by ln0) through every
 * layer; leaves the final residual stream in sc.x. */
static void forward_layers(rwkv_model *m, float *state, int T) {
    v5_weights *W = m->weights;
    v5_scratch *s = &W->sc;
    const int C = W->C, H = W->H, N = W->N, F = W->F;
    const size_t TC = (size_t)T * C;
    const size_t per_layer = (size_t)2 * C + (size_t)H * N * N;
    rwkv_ctx *ctx = m->ctx;

    for (int li = 0; li < W->L; li++) {
        const v5_layer *l = &W->layers[li];
        float *att_prev = state + li * per_layer;
        float *ffn_prev = att_prev + C;
        float *S = ffn_prev + C;

        /* ---- time mix ---- */
        rwkv_op_layernorm(s->x, s->xa, l->ln1_w, l->ln1_b, T, C, LN_EPS);
        token_mix(s->xa, att_prev, l->mix_k, s->xk, T, C);
        token_mix(s->xa, att_prev, l->mix_v, s->xv, T, C);
        token_mix(s->xa, att_prev, l->mix_r, s->xr, T, C);
        if (W->gate) token_mix(s->xa, att_prev, l->mix_g, s->xg, T, C);
        memcpy(att_prev, s->xa + TC - C, C * sizeof(float));

        /* r = Wr·xr, k = Wk·xk, v = Wv·xv (no activation) */
        rwkv_op_linear(ctx, &l->Wr, s->xr, s->r, T);
        rwkv_op_linear(ctx, &l->Wk, s->xk, s->k, T);
        rwkv_op_linear(ctx, &l->Wv, s->xv, s->v, T);

        /* per head: y = rᵀ(u·k vᵀ + S);  S = w·S + k vᵀ   (w, u per key channel) */
        rwkv_op_wkv5(ctx, S, s->r, l->w, 0, s->k, s->v, l->u, s->y, T, H, N);

        /* y = GroupNorm_H(y, eps 64e-5), gated by silu(Wg·xg) in 5.2;  x += Wo·y */
        rwkv_op_groupnorm(s->y, s->y, l->lnx_w, l->lnx_b, T, C, N, GN_EPS);
        if (W->gate) {
            rwkv_op_linear(ctx, &l->Wg, s->xg, s->g, T);
            for (size_t i = 0; i < TC; i++) s->y[i] *= s->g[i] * sigmoidf(s->g[i]);
        }
        rwkv_op_linear(ctx, &l->Wo, s->y, s->xr, T);
        for (size_t i = 0; i < TC; i++) s->x[i] += s->xr[i];

        /* ---- channel mix: x += σ(Wr·xr) ⊙ Wv·relu(Wk·xk)² ---- */
        rwkv_op_layernorm(s->x, s->xa, l->ln2_w, l->ln2_b, T, C, LN_EPS);
        token_mix(s->xa, ffn_prev, l->ffn_mix_k, s->xk, T, C);
        token_mix(s->xa, ffn_prev, l->ffn_mix_r, s->xr, T, C);
        memcpy(ffn_prev, s->xa + TC - C, C * sizeof(float));
        rwkv_op_linear(ctx, &l->ffn_r, s->xr, s->r, T);
        rwkv_op_linear(ctx, &l->ffn_key, s->xk, s->ffn, T);
        for (size_t i = 0; i < (size_t)T * F; i++) {
            float q = s->ffn[i] > 0.0f ? s->ffn[i] : 0.0f;
            s->ffn[i] = q * q;
        }
        rwkv_op_linear(ctx, &l->ffn_value, s->ffn, s->y, T);
        for (size_t i = 0; i < TC; i++) s->x[i] += sigmoidf(s->r[i]) * s->y[i];
    }
}

/* Feeds tokens in chunks of the scratch capacity (1 in serial mode). */
static rwkv_status v5_eval(rwkv_model *m, float *state, const int32_t *tokens, size_t n, float *logits,
                           unsigned flags) {
    v5_weights *W = m->weights;
    v5_scratch *s = &W->sc;
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
        rwkv_op_layernorm(s->x, s->x, W->ln0_w, W->ln0_b, T, C, LN_EPS);
        forward_layers(m, state, T);
        if (logits && (all || done + (size_t)T == n)) {
            int first = all ? 0 : T - 1;
            int nrows = T - first;
            rwkv_op_layernorm(s->x + (size_t)first * C, s->xa, W->lnout_w, W->lnout_b, nrows, C, LN_EPS);
            float *dst = all ? logits + done * (size_t)W->V : logits;
            rwkv_op_linear(m->ctx, &W->head, s->xa, dst, nrows);
        }
        done += (size_t)T;
    }
    return RWKV_OK;
}

const rwkv_arch rwkv_arch_v5_1 = {
    .generation = "5.1",
    .detect = v5_1_detect,
    .load = v5_load,
    .free = v5_free,
    .state_zero = v5_state_zero,
    .state_tuning = v5_state_tuning,
    .eval = v5_eval,
};

const rwkv_arch rwkv_arch_v5_2 = {
    .generation = "5.2",
    .detect = v5_2_detect,
    .load = v5_load,
    .free = v5_free,
    .state_zero = v5_state_zero,
    .state_tuning = v5_state_tuning,
    .eval = v5_eval,
};
