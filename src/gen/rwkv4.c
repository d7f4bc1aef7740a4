/* rwkv4.c — RWKV-4 "Dove"/"Raven": weight layout, validation and the forward pass.
 * The math follows the official code (BlinkDL ChatRWKV RWKV_in_150_lines.py and the pip rwkv
 * package model.py, version 4): token shift with time_mix_{k,v,r}, the numerically stable WKV
 * with time_first / time_decay, and the squared-ReLU channel mix with a receptance gate.
 * One function, forward_layers(), runs T tokens through every layer; serial mode uses T = 1.
 *
 * State layout (floats), per layer i:
 *   [att_x_prev: C][ffn_x_prev: C][aa: C][bb: C][pp: C]
 * The zero state has pp = -1e30 (the official starting value), everything else 0.
 */
#include "model/weights.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct v4_layer {
    /* all [C] fp32 copies of small vectors */
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    float *mix_k, *mix_v, *mix_r;    /* att.time_mix_* */
    float *decay;                    /* −exp(att.time_decay) */
    float *first;                    /* att.time_first (u) */
    float *ffn_mix_k, *ffn_mix_r;    /* ffn.time_mix_* */
    rwkv_weight Wr, Wk, Wv, Wo;      /* [C][C] */
    rwkv_weight ffn_r;               /* [C][C] */
    rwkv_weight ffn_key;             /* [F][C] */
    rwkv_weight ffn_value;           /* [C][F] */
} v4_layer;

typedef struct v4_scratch {
    int T;                           /* capacity in tokens */
    float *x;                        /* [T][C] residual stream */
    float *xa;                       /* [T][C] normalised input of the block */
    float *xk, *xv, *xr;             /* [T][C] token-shift mixes */
    float *r, *k, *v, *y;            /* [T][C] */
    float *ffn;                      /* [T][F] */
} v4_scratch;

typedef struct v4_weights {
    rwkv_base_weights b;             /* L, C, V, emb, ln0, ln_out, head, owned buffers */
    int F;
    v4_layer *layers;                /* [L] */
    v4_scratch sc;
} v4_weights;

#define LN_EPS 1e-5f
#define PP_START (-1e30f)

/* ---- loading ---------------------------------------------------------------------------- */

/* RWKV-4 has time_first and no GroupNorm (ln_x): RWKV-5.1 has time_first too, with ln_x. */
static bool v4_detect(const rwkv_tensor_file *tf) {
    return rwkv_tensor_file_find(tf, "blocks.0.att.time_first") != NULL &&
           rwkv_tensor_file_find(tf, "blocks.0.att.ln_x.weight") == NULL &&
           rwkv_tensor_file_find(tf, "blocks.0.att.time_mix_k") != NULL;
}

/* Per-layer tensors of an RWKV-4 checkpoint (after "blocks.<i>."). */
static const char *const v4_keys[] = {
    "ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias", "att.time_decay", "att.time_first",
    "att.time_mix_k", "att.time_mix_v", "att.time_mix_r", "att.key.weight", "att.value.weight",
    "att.receptance.weight", "att.output.weight", "ffn.time_mix_k", "ffn.time_mix_r",
    "ffn.key.weight", "ffn.value.weight", "ffn.receptance.weight"};

static void v4_free(rwkv_model *m) {
    v4_weights *W = m->weights;
    if (!W) return;
    rwkv_w_base_free(&W->b);
    free(W->layers);
    m->weights = NULL;
    free(W);
}

static rwkv_status alloc_scratch(v4_weights *W, int T) {
    rwkv_owned *o = &W->b.owned;
    v4_scratch *s = &W->sc;
    size_t TC = (size_t)T * W->b.C;
    float **bufs[] = {&s->x, &s->xa, &s->xk, &s->xv, &s->xr, &s->r, &s->k, &s->v, &s->y};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (!(*bufs[i] = rwkv_w_alloc(o, TC))) return RWKV_ERR_NOMEM;
    if (!(s->ffn = rwkv_w_alloc(o, (size_t)T * W->F))) return RWKV_ERR_NOMEM;
    s->T = T;
    return RWKV_OK;
}

static rwkv_status v4_load(rwkv_model *m) {
    v4_weights *W = calloc(1, sizeof *W);
    if (!W) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    m->weights = W;
    rwkv_status st;
    rwkv_owned *o = &W->b.owned;
    if ((st = rwkv_w_load_base(m, &W->b, v4_keys, sizeof v4_keys / sizeof v4_keys[0], "RWKV-4")) != RWKV_OK)
        return st;
    const int C = W->b.C;
    const int L = W->b.L;
    W->layers = calloc((size_t)L, sizeof *W->layers);
    if (!W->layers) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    W->F = -1;
    for (int i = 0; i < L; i++) {
        v4_layer *l = &W->layers[i];
        if ((st = rwkv_w_vec(m, o, &l->ln1_w, C, "blocks.%d.ln1.weight", i)) ||
            (st = rwkv_w_vec(m, o, &l->ln1_b, C, "blocks.%d.ln1.bias", i)) ||
            (st = rwkv_w_vec(m, o, &l->ln2_w, C, "blocks.%d.ln2.weight", i)) ||
            (st = rwkv_w_vec(m, o, &l->ln2_b, C, "blocks.%d.ln2.bias", i)) ||
            (st = rwkv_w_vec(m, o, &l->mix_k, C, "blocks.%d.att.time_mix_k", i)) ||
            (st = rwkv_w_vec(m, o, &l->mix_v, C, "blocks.%d.att.time_mix_v", i)) ||
            (st = rwkv_w_vec(m, o, &l->mix_r, C, "blocks.%d.att.time_mix_r", i)) ||
            (st = rwkv_w_vec(m, o, &l->decay, C, "blocks.%d.att.time_decay", i)) ||
            (st = rwkv_w_vec(m, o, &l->first, C, "blocks.%d.att.time_first", i)) ||
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
        /* w = −exp(time_decay): the log of the per-token decay */
        for (int j = 0; j < C; j++) l->decay[j] = -expf(l->decay[j]);
    }
    if ((st = alloc_scratch(W, m->seq_chunk)) != RWKV_OK) return st;

    m->info.n_layer = L;
    m->info.n_embd = C;
    m->info.head_size = 0;
    m->info.n_head = 0;
    m->info.n_vocab = W->b.V;
    m->info.n_ffn = W->F;
    m->state_floats = (size_t)L * 5 * (size_t)C;
    return RWKV_OK;
}

/* Zero state, except pp = −1e30 in every layer (official starting value). */
static void v4_state_zero(const rwkv_model *m, float *state) {
    const v4_weights *W = m->weights;
    const size_t C = (size_t)W->b.C;
    memset(state, 0, m->state_floats * sizeof(float));
    for (int i = 0; i < W->b.L; i++) {
        float *pp = state + (size_t)i * 5 * C + 4 * C;
        for (size_t j = 0; j < C; j++) pp[j] = PP_START;
    }
}

/* ---- forward ------------------------------------------------------------------------------ */

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }


/* The RWKV-4 WKV over T tokens, per channel, in the stable form with a running exponent pp:
 *   ww = u + k;  p = max(pp, ww);  wkv = (e^{pp−p}·aa + e^{ww−p}·v) / (e^{pp−p}·bb + e^{ww−p})
 *   ww = w + pp; p = max(ww, k);   aa = e^{ww−p}·aa + e^{k−p}·v;  bb = e^{ww−p}·bb + e^{k−p};  pp = p
 * y[t] = wkv (aa, bb, pp updated in place). */
static void wkv4(float *aa, float *bb, float *pp, const float *u, const float *w, const float *k,
                 const float *v, float *y, int T, int C) {
    for (int t = 0; t < T; t++) {
        const float *kt = k + (size_t)t * C, *vt = v + (size_t)t * C;
        float *yt = y + (size_t)t * C;
        for (int i = 0; i < C; i++) {
            float ww = u[i] + kt[i];
            float p = fmaxf(pp[i], ww);
            float e1 = expf(pp[i] - p), e2 = expf(ww - p);
            yt[i] = (e1 * aa[i] + e2 * vt[i]) / (e1 * bb[i] + e2);
            ww = w[i] + pp[i];
            p = fmaxf(ww, kt[i]);
            e1 = expf(ww - p);
            e2 = expf(kt[i] - p);
            aa[i] = e1 * aa[i] + e2 * vt[i];
            bb[i] = e1 * bb[i] + e2;
            pp[i] = p;
        }
    }
}

/* Runs T tokens (T <= scratch capacity) from sc.x (embedded, LayerNorm'd by ln0) through every
 * layer; leaves the final residual stream in sc.x. */
static void forward_layers(rwkv_model *m, float *state, int T) {
    v4_weights *W = m->weights;
    v4_scratch *s = &W->sc;
    const int C = W->b.C;
    const size_t TC = (size_t)T * C;
    rwkv_ctx *ctx = m->ctx;

    for (int li = 0; li < W->b.L; li++) {
        const v4_layer *l = &W->layers[li];
        float *att_prev = state + (size_t)li * 5 * C;
        float *ffn_prev = att_prev + C;
        float *aa = ffn_prev + C, *bb = aa + C, *pp = bb + C;

        /* ---- time mix: x += Wo·(σ(Wr·xr) ⊙ wkv(Wk·xk, Wv·xv)) ---- */
        rwkv_op_layernorm(s->x, s->xa, l->ln1_w, l->ln1_b, T, C, LN_EPS);
        rwkv_w_token_mix(s->xa, att_prev, l->mix_k, s->xk, T, C);
        rwkv_w_token_mix(s->xa, att_prev, l->mix_v, s->xv, T, C);
        rwkv_w_token_mix(s->xa, att_prev, l->mix_r, s->xr, T, C);
        memcpy(att_prev, s->xa + TC - C, C * sizeof(float));

        rwkv_op_linear(ctx, &l->Wr, s->xr, s->r, T);
        rwkv_op_linear(ctx, &l->Wk, s->xk, s->k, T);
        rwkv_op_linear(ctx, &l->Wv, s->xv, s->v, T);
        wkv4(aa, bb, pp, l->first, l->decay, s->k, s->v, s->y, T, C);
        for (size_t i = 0; i < TC; i++) s->y[i] *= sigmoidf(s->r[i]);
        rwkv_op_linear(ctx, &l->Wo, s->y, s->xr, T);
        for (size_t i = 0; i < TC; i++) s->x[i] += s->xr[i];

        /* ---- channel mix: x += σ(Wr·xr) ⊙ Wv·relu(Wk·xk)² ---- */
        const rwkv_w_cmix cm = {l->ln2_w, l->ln2_b, l->ffn_mix_k, l->ffn_mix_r, &l->ffn_r, &l->ffn_key,
                                &l->ffn_value};
        rwkv_w_channel_mix(ctx, &cm, s->x, ffn_prev, s->xa, s->xk, s->xr, s->r, s->y, s->ffn, T, C);
    }
}

/* Feeds tokens in chunks of the scratch capacity (1 in serial mode). */
static rwkv_status v4_eval(rwkv_model *m, float *state, const int32_t *tokens, size_t n, float *logits,
                           unsigned flags) {
    v4_weights *W = m->weights;
    return rwkv_w_eval(m, &W->b, W->sc.x, W->sc.xa, W->sc.T, forward_layers, state, tokens, n, logits, flags);
}

const rwkv_arch rwkv_arch_v4 = {
    .generation = "4",
    .detect = v4_detect,
    .load = v4_load,
    .free = v4_free,
    .state_zero = v4_state_zero,
    .state_tuning = NULL, /* no official state-tuning format for RWKV-4 */
    .eval = v4_eval,
};
