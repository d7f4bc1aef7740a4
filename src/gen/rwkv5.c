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
#include "model/weights.h"

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
    rwkv_base_weights b;             /* L, C, V, emb, ln0, ln_out, head, owned buffers */
    int H, N, F;
    bool gate;                       /* 5.2 */
    v5_layer *layers;                /* [L] */
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

/* Per-layer tensors of an RWKV-5 checkpoint (after "blocks.<i>."); the last two only in gated
 * versions. */
static const char *const v5_keys[] = {
    "ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias", "att.time_decay", "att.time_first",
    "att.time_faaaa", "att.time_mix_k", "att.time_mix_v", "att.time_mix_r", "att.ln_x.weight",
    "att.ln_x.bias", "att.key.weight", "att.value.weight", "att.receptance.weight",
    "att.output.weight", "ffn.time_mix_k", "ffn.time_mix_r", "ffn.key.weight",
    "ffn.value.weight", "ffn.receptance.weight",
    "att.time_mix_g", "att.gate.weight"};

/* Loads a per-head tensor, [H] (one value per head) or [H,N], as an owned fp32 [H·N] copy. */
static rwkv_status head_vec(rwkv_model *m, v5_weights *W, float **out, const char *fmt, int i) {
    char name[128];
    snprintf(name, sizeof name, fmt, i);
    const rwkv_tensor *t = rwkv_tensor_file_find(&m->file, name);
    const int64_t hn[2] = {W->H, W->N}, h1[1] = {W->H};
    rwkv_status st = t && t->numel == (size_t)W->H ? rwkv_model_tensor(m, name, 1, h1, &t)
                                                   : rwkv_model_tensor(m, name, 2, hn, &t);
    if (st != RWKV_OK) return st;
    float *p = rwkv_w_alloc(&W->b.owned, (size_t)W->b.C);
    if (!p) return RWKV_ERR_NOMEM;
    if (t->numel == (size_t)W->b.C) {
        rwkv_convert_to_f32(t->dtype, t->data, p, t->numel);
    } else {
        for (int h = 0; h < W->H; h++)
            for (int j = 0; j < W->N; j++) p[h * W->N + j] = rwkv_load_elem(t->dtype, t->data, (size_t)h);
    }
    *out = p;
    return RWKV_OK;
}

static void v5_free(rwkv_model *m) {
    v5_weights *W = m->weights;
    if (!W) return;
    rwkv_w_base_free(&W->b);
    free(W->layers);
    m->weights = NULL;
    free(W);
}

static rwkv_status alloc_scratch(v5_weights *W, int T) {
    rwkv_owned *o = &W->b.owned;
    v5_scratch *s = &W->sc;
    size_t TC = (size_t)T * W->b.C;
    float **bufs[] = {&s->x, &s->xa, &s->xk, &s->xv, &s->xr, &s->xg,
                      &s->r, &s->k,  &s->v,  &s->g,  &s->y};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (!(*bufs[i] = rwkv_w_alloc(o, TC))) return RWKV_ERR_NOMEM;
    if (!(s->ffn = rwkv_w_alloc(o, (size_t)T * W->F))) return RWKV_ERR_NOMEM;
    s->T = T;
    return RWKV_OK;
}

static rwkv_status v5_load(rwkv_model *m) {
    v5_weights *W = calloc(1, sizeof *W);
    if (!W) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    m->weights = W;
    rwkv_status st;
    const rwkv_tensor *t;
    rwkv_owned *o = &W->b.owned;
    W->gate = rwkv_tensor_file_find(&m->file, "blocks.0.att.gate.weight") != NULL;
    const size_t n_keys = sizeof v5_keys / sizeof v5_keys[0] - (W->gate ? 0 : 2);
    if ((st = rwkv_w_load_base(m, &W->b, v5_keys, n_keys, "RWKV-5")) != RWKV_OK) return st;
    const int C = W->b.C;
    /* heads: time_decay is [H] (5.1) or [H,N] (5.2), as the official code reads it */
    t = rwkv_tensor_file_find(&m->file, "blocks.0.att.time_decay");
    int lead = 0;
    while (t && lead < t->n_dims - 1 && t->shape[lead] == 1) lead++;
    if (!t || t->shape[lead] < 1 || t->shape[lead] > C || C % t->shape[lead] != 0)
        return rwkv_fail(RWKV_ERR_SHAPE, "blocks.0.att.time_decay does not split n_embd %d into heads", C);
    W->H = (int)t->shape[lead];
    W->N = C / W->H;
    const int L = W->b.L;
    W->layers = calloc((size_t)L, sizeof *W->layers);
    if (!W->layers) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    W->F = -1;
    for (int i = 0; i < L; i++) {
        v5_layer *l = &W->layers[i];
        char name[64];
        snprintf(name, sizeof name, "blocks.%d.att.time_faaaa", i);
        const bool faaaa = rwkv_tensor_file_find(&m->file, name) != NULL;
        if ((st = rwkv_w_vec(m, o, &l->ln1_w, C, "blocks.%d.ln1.weight", i)) ||
            (st = rwkv_w_vec(m, o, &l->ln1_b, C, "blocks.%d.ln1.bias", i)) ||
            (st = rwkv_w_vec(m, o, &l->ln2_w, C, "blocks.%d.ln2.weight", i)) ||
            (st = rwkv_w_vec(m, o, &l->ln2_b, C, "blocks.%d.ln2.bias", i)) ||
            (st = rwkv_w_vec(m, o, &l->mix_k, C, "blocks.%d.att.time_mix_k", i)) ||
            (st = rwkv_w_vec(m, o, &l->mix_v, C, "blocks.%d.att.time_mix_v", i)) ||
            (st = rwkv_w_vec(m, o, &l->mix_r, C, "blocks.%d.att.time_mix_r", i)) ||
            (st = head_vec(m, W, &l->w, "blocks.%d.att.time_decay", i)) ||
            (st = head_vec(m, W, &l->u, faaaa ? "blocks.%d.att.time_faaaa" : "blocks.%d.att.time_first", i)) ||
            (st = rwkv_w_vec(m, o, &l->lnx_w, C, "blocks.%d.att.ln_x.weight", i)) ||
            (st = rwkv_w_vec(m, o, &l->lnx_b, C, "blocks.%d.att.ln_x.bias", i)) ||
            (st = rwkv_w_vec(m, o, &l->ffn_mix_k, C, "blocks.%d.ffn.time_mix_k", i)) ||
            (st = rwkv_w_vec(m, o, &l->ffn_mix_r, C, "blocks.%d.ffn.time_mix_r", i)) ||
            (st = rwkv_w_mat(m, &l->Wr, C, C, "blocks.%d.att.receptance.weight", i)) ||
            (st = rwkv_w_mat(m, &l->Wk, C, C, "blocks.%d.att.key.weight", i)) ||
            (st = rwkv_w_mat(m, &l->Wv, C, C, "blocks.%d.att.value.weight", i)) ||
            (st = rwkv_w_mat(m, &l->Wo, C, C, "blocks.%d.att.output.weight", i)) ||
            (st = rwkv_w_mat(m, &l->ffn_r, C, C, "blocks.%d.ffn.receptance.weight", i)) ||
            (st = rwkv_w_mat(m, &l->ffn_key, W->F < 0 ? -1 : W->F, C, "blocks.%d.ffn.key.weight", i)))
            return st;
        if (W->F < 0) W->F = l->ffn_key.rows;
        if ((st = rwkv_w_mat(m, &l->ffn_value, C, W->F, "blocks.%d.ffn.value.weight", i))) return st;
        if (W->gate && ((st = rwkv_w_vec(m, o, &l->mix_g, C, "blocks.%d.att.time_mix_g", i)) ||
                        (st = rwkv_w_mat(m, &l->Wg, C, C, "blocks.%d.att.gate.weight", i))))
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
    m->info.n_vocab = W->b.V;
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
    return rwkv_w_state_tuning_kv(tf, state, W->b.L, W->b.C, W->H, W->N);
}

/* ---- forward ------------------------------------------------------------------------------ */

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }


/* Runs T tokens (T <= scratch capacity) from sc.x (embedded, LayerNorm'd by ln0) through every
 * layer; leaves the final residual stream in sc.x. */
static void forward_layers(rwkv_model *m, float *state, int T) {
    v5_weights *W = m->weights;
    v5_scratch *s = &W->sc;
    const int C = W->b.C, H = W->H, N = W->N;
    const size_t TC = (size_t)T * C;
    const size_t per_layer = (size_t)2 * C + (size_t)H * N * N;
    rwkv_ctx *ctx = m->ctx;

    for (int li = 0; li < W->b.L; li++) {
        const v5_layer *l = &W->layers[li];
        float *att_prev = state + li * per_layer;
        float *ffn_prev = att_prev + C;
        float *S = ffn_prev + C;

        /* ---- time mix ---- */
        rwkv_op_layernorm(s->x, s->xa, l->ln1_w, l->ln1_b, T, C, LN_EPS);
        rwkv_w_token_mix(s->xa, att_prev, l->mix_k, s->xk, T, C);
        rwkv_w_token_mix(s->xa, att_prev, l->mix_v, s->xv, T, C);
        rwkv_w_token_mix(s->xa, att_prev, l->mix_r, s->xr, T, C);
        if (W->gate) rwkv_w_token_mix(s->xa, att_prev, l->mix_g, s->xg, T, C);
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
        const rwkv_w_cmix cm = {l->ln2_w, l->ln2_b, l->ffn_mix_k, l->ffn_mix_r, &l->ffn_r, &l->ffn_key,
                                &l->ffn_value};
        rwkv_w_channel_mix(ctx, &cm, s->x, ffn_prev, s->xa, s->xk, s->xr, s->r, s->y, s->ffn, T, C);
    }
}

/* Feeds tokens in chunks of the scratch capacity (1 in serial mode). */
static rwkv_status v5_eval(rwkv_model *m, float *state, const int32_t *tokens, size_t n, float *logits,
                           unsigned flags) {
    v5_weights *W = m->weights;
    return rwkv_w_eval(m, &W->b, W->sc.x, W->sc.xa, W->sc.T, forward_layers, state, tokens, n, logits, flags);
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
