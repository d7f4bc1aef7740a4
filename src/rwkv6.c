/* rwkv6.c — RWKV-6 "Finch" (x060): weight layout, validation and the forward pass.
 * The math follows the official code (BlinkDL ChatRWKV RWKV_v6_demo.py and the pip rwkv package
 * model.py, version 6.0): data-dependent token shift (time_maa_* with a 5-way tanh LoRA),
 * data-dependent decay (time_decay + a tanh LoRA), the RWKV-5 multi-head WKV with bonus
 * time_faaaa, GroupNorm eps 64e-5 per head, a SiLU gate, and a squared-ReLU channel mix.
 * One function, forward_layers(), runs T tokens through every layer; serial mode uses T = 1.
 *
 * State layout (floats), per layer i:
 *   [att_x_prev: C][ffn_x_prev: C][wkv: H][N][N]   (wkv[h][key][value]: y = rᵀ S, the transpose
 *                                                    of RWKV-7's layout; same as RWKV-5)
 */
#include "weights.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct v6_layer {
    /* all [C] fp32 copies of small vectors */
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    float *maa_x;                    /* att.time_maa_x */
    float *maa[5];                   /* att.time_maa_{w,k,v,r,g} */
    float *decay;                    /* att.time_decay (before the LoRA is added) */
    float *u;                        /* att.time_faaaa, [H][N] */
    float *lnx_w, *lnx_b;            /* GroupNorm of the WKV output */
    float *ffn_maa_k, *ffn_maa_r;    /* ffn.time_maa_{k,r} */
    rwkv_weight maa_w1;              /* [C][5·D] */
    rwkv_weight maa_w2[5];           /* [D][C] each: time_maa_w2 [5][D][C] split along dim 0 */
    rwkv_weight decay_w1, decay_w2;  /* [C][Dw], [Dw][C] */
    rwkv_weight Wr, Wk, Wv, Wo, Wg;  /* [C][C] */
    rwkv_weight ffn_r;               /* [C][C] */
    rwkv_weight ffn_key;             /* [F][C] */
    rwkv_weight ffn_value;           /* [C][F] */
} v6_layer;

typedef struct v6_scratch {
    int T;                           /* capacity in tokens */
    float *x;                        /* [T][C] residual stream */
    float *xa;                       /* [T][C] normalised input of the block */
    float *dx;                       /* [T][C] previous token minus current */
    float *xm[5];                    /* [T][C] token-shift mixes for w, k, v, r, g */
    float *r, *k, *v, *g, *w, *y;    /* [T][C] */
    float *lr;                       /* [T][Dmax] low-rank hidden (Dmax >= 5·D) */
    float *lr5;                      /* [5][T][D] the token-shift LoRA hidden, split per target */
    float *ffn;                      /* [T][F] */
} v6_scratch;

typedef struct v6_weights {
    rwkv_base_weights b;             /* L, C, V, emb, ln0, ln_out, head, owned buffers */
    int H, N, F;
    int D;                           /* token-shift LoRA rank (time_maa_w1 is [C][5·D]) */
    int Dmax;                        /* widest low-rank hidden: max(5·D, decay LoRA rank) */
    v6_layer *layers;                /* [L] */
    v6_scratch sc;
} v6_weights;

#define LN_EPS 1e-5f
#define GN_EPS 64e-5f

enum { MW, MK, MV, MR, MG }; /* order of the five token-shift targets in time_maa_w1/w2 */

/* ---- loading ---------------------------------------------------------------------------- */

static bool v6_detect(const rwkv_tensor_file *tf) {
    return rwkv_tensor_file_find(tf, "blocks.0.att.time_maa_x") != NULL &&
           rwkv_tensor_file_find(tf, "blocks.0.att.time_faaaa") != NULL;
}

/* Per-layer tensors of an RWKV-6 checkpoint (after "blocks.<i>."). */
static const char *const v6_keys[] = {
    "ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias", "att.time_maa_x", "att.time_maa_w",
    "att.time_maa_k", "att.time_maa_v", "att.time_maa_r", "att.time_maa_g", "att.time_maa_w1",
    "att.time_maa_w2", "att.time_decay", "att.time_decay_w1", "att.time_decay_w2",
    "att.time_faaaa", "att.receptance.weight", "att.key.weight", "att.value.weight",
    "att.output.weight", "att.gate.weight", "att.ln_x.weight", "att.ln_x.bias",
    "ffn.time_maa_k", "ffn.time_maa_r", "ffn.key.weight", "ffn.receptance.weight",
    "ffn.value.weight"};

/* Binds time_maa_w2 [5][D][C] as five [D][C] matrices. */
static rwkv_status mat5(rwkv_model *m, rwkv_weight w[5], int64_t D, int64_t C, const char *fmt, int i) {
    const rwkv_tensor *t;
    int64_t dims[3] = {5, D, C};
    rwkv_status st = rwkv_model_tensorf(m, &t, 3, dims, fmt, i);
    if (st != RWKV_OK) return st;
    for (int j = 0; j < 5; j++) {
        w[j].dtype = t->dtype;
        w[j].rows = (int)D;
        w[j].cols = (int)C;
        w[j].data = (const char *)t->data + (size_t)j * (size_t)D * (size_t)C * rwkv_dtype_size(t->dtype);
    }
    return RWKV_OK;
}

static void v6_free(rwkv_model *m) {
    v6_weights *W = m->weights;
    if (!W) return;
    rwkv_w_base_free(&W->b);
    free(W->layers);
    m->weights = NULL;
    free(W);
}

static rwkv_status alloc_scratch(v6_weights *W, int T) {
    rwkv_owned *o = &W->b.owned;
    v6_scratch *s = &W->sc;
    size_t TC = (size_t)T * W->b.C;
    float **bufs[] = {&s->x,     &s->xa,    &s->dx,    &s->xm[0], &s->xm[1], &s->xm[2], &s->xm[3],
                      &s->xm[4], &s->r,     &s->k,     &s->v,     &s->g,     &s->w,     &s->y};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (!(*bufs[i] = rwkv_w_alloc(o, TC))) return RWKV_ERR_NOMEM;
    if (!(s->lr = rwkv_w_alloc(o, (size_t)T * W->Dmax))) return RWKV_ERR_NOMEM;
    if (!(s->lr5 = rwkv_w_alloc(o, (size_t)T * 5 * W->D))) return RWKV_ERR_NOMEM;
    if (!(s->ffn = rwkv_w_alloc(o, (size_t)T * W->F))) return RWKV_ERR_NOMEM;
    s->T = T;
    return RWKV_OK;
}

static rwkv_status v6_load(rwkv_model *m) {
    v6_weights *W = calloc(1, sizeof *W);
    if (!W) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    m->weights = W;
    rwkv_status st;
    const rwkv_tensor *t;
    int64_t any2[2] = {-1, -1};
    rwkv_owned *o = &W->b.owned;
    if ((st = rwkv_w_load_base(m, &W->b, v6_keys, sizeof v6_keys / sizeof v6_keys[0], "RWKV-6")) != RWKV_OK)
        return st;
    const int C = W->b.C;
    if ((st = rwkv_model_tensor(m, "blocks.0.att.time_faaaa", 2, any2, &t)) != RWKV_OK) return st;
    W->H = (int)t->shape[0];
    W->N = (int)t->shape[1];
    if (W->H < 1 || W->N < 1 || (int64_t)W->H * W->N != C)
        return rwkv_fail(RWKV_ERR_SHAPE, "blocks.0.att.time_faaaa [%d,%d] does not split n_embd %d into heads",
                         W->H, W->N, C);
    if ((st = rwkv_model_tensor(m, "blocks.0.att.time_maa_w1", 2, any2, &t)) != RWKV_OK) return st;
    if (t->shape[1] % 5 != 0 || t->shape[1] < 5 || t->shape[1] > (1 << 20))
        return rwkv_fail(RWKV_ERR_SHAPE, "blocks.0.att.time_maa_w1 has %lld columns, not 5·D",
                         (long long)t->shape[1]);
    W->D = (int)(t->shape[1] / 5);
    const int L = W->b.L;
    W->layers = calloc((size_t)L, sizeof *W->layers);
    if (!W->layers) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    W->F = -1;
    W->Dmax = 5 * W->D;
    const int64_t hn[2] = {W->H, W->N};
    for (int i = 0; i < L; i++) {
        v6_layer *l = &W->layers[i];
        if ((st = rwkv_w_vec(m, o, &l->ln1_w, C, "blocks.%d.ln1.weight", i)) ||
            (st = rwkv_w_vec(m, o, &l->ln1_b, C, "blocks.%d.ln1.bias", i)) ||
            (st = rwkv_w_vec(m, o, &l->ln2_w, C, "blocks.%d.ln2.weight", i)) ||
            (st = rwkv_w_vec(m, o, &l->ln2_b, C, "blocks.%d.ln2.bias", i)) ||
            (st = rwkv_w_vec(m, o, &l->maa_x, C, "blocks.%d.att.time_maa_x", i)) ||
            (st = rwkv_w_vec(m, o, &l->maa[MW], C, "blocks.%d.att.time_maa_w", i)) ||
            (st = rwkv_w_vec(m, o, &l->maa[MK], C, "blocks.%d.att.time_maa_k", i)) ||
            (st = rwkv_w_vec(m, o, &l->maa[MV], C, "blocks.%d.att.time_maa_v", i)) ||
            (st = rwkv_w_vec(m, o, &l->maa[MR], C, "blocks.%d.att.time_maa_r", i)) ||
            (st = rwkv_w_vec(m, o, &l->maa[MG], C, "blocks.%d.att.time_maa_g", i)) ||
            (st = rwkv_w_vec(m, o, &l->decay, C, "blocks.%d.att.time_decay", i)) ||
            (st = rwkv_w_vecd(m, o, &l->u, 2, hn, "blocks.%d.att.time_faaaa", i)) ||
            (st = rwkv_w_vec(m, o, &l->lnx_w, C, "blocks.%d.att.ln_x.weight", i)) ||
            (st = rwkv_w_vec(m, o, &l->lnx_b, C, "blocks.%d.att.ln_x.bias", i)) ||
            (st = rwkv_w_vec(m, o, &l->ffn_maa_k, C, "blocks.%d.ffn.time_maa_k", i)) ||
            (st = rwkv_w_vec(m, o, &l->ffn_maa_r, C, "blocks.%d.ffn.time_maa_r", i)) ||
            (st = rwkv_w_mat(m, &l->maa_w1, C, 5 * (int64_t)W->D, "blocks.%d.att.time_maa_w1", i)) ||
            (st = mat5(m, l->maa_w2, W->D, C, "blocks.%d.att.time_maa_w2", i)) ||
            (st = rwkv_w_mat(m, &l->decay_w1, C, -1, "blocks.%d.att.time_decay_w1", i)) ||
            (st = rwkv_w_mat(m, &l->decay_w2, l->decay_w1.cols, C, "blocks.%d.att.time_decay_w2", i)) ||
            (st = rwkv_w_mat(m, &l->Wr, C, C, "blocks.%d.att.receptance.weight", i)) ||
            (st = rwkv_w_mat(m, &l->Wk, C, C, "blocks.%d.att.key.weight", i)) ||
            (st = rwkv_w_mat(m, &l->Wv, C, C, "blocks.%d.att.value.weight", i)) ||
            (st = rwkv_w_mat(m, &l->Wo, C, C, "blocks.%d.att.output.weight", i)) ||
            (st = rwkv_w_mat(m, &l->Wg, C, C, "blocks.%d.att.gate.weight", i)) ||
            (st = rwkv_w_mat(m, &l->ffn_r, C, C, "blocks.%d.ffn.receptance.weight", i)) ||
            (st = rwkv_w_mat(m, &l->ffn_key, W->F < 0 ? -1 : W->F, C, "blocks.%d.ffn.key.weight", i)))
            return st;
        if (W->F < 0) W->F = l->ffn_key.rows;
        if ((st = rwkv_w_mat(m, &l->ffn_value, C, W->F, "blocks.%d.ffn.value.weight", i))) return st;
        if (l->decay_w1.cols > W->Dmax) W->Dmax = l->decay_w1.cols;
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

static void v6_state_zero(const rwkv_model *m, float *state) {
    memset(state, 0, m->state_floats * sizeof(float));
}

/* Official state-tuning file (RWKV-PEFT): blocks.i.att.time_state [H][N][N] stored [value][key];
 * the official loader transposes it (time_state.transpose(1,2)) into the [key][value] state. */
static rwkv_status v6_state_tuning(const rwkv_model *m, const rwkv_tensor_file *tf, float *state) {
    const v6_weights *W = m->weights;
    return rwkv_w_state_tuning_kv(tf, state, W->b.L, W->b.C, W->H, W->N);
}

/* ---- forward ------------------------------------------------------------------------------ */

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* dx[t] = prev[t] − cur[t], where prev[t] is cur[t−1] (or last for t = 0). */
static void token_delta(const float *cur, const float *last, float *dx, int T, int C) {
    for (int t = 0; t < T; t++) {
        const float *c = cur + (size_t)t * C;
        const float *p = t ? c - C : last;
        float *o = dx + (size_t)t * C;
        for (int i = 0; i < C; i++) o[i] = p[i] - c[i];
    }
}

/* Runs T tokens (T <= scratch capacity) from sc.x (embedded, LayerNorm'd by ln0) through every
 * layer; leaves the final residual stream in sc.x. */
static void forward_layers(rwkv_model *m, float *state, int T) {
    v6_weights *W = m->weights;
    v6_scratch *s = &W->sc;
    const int C = W->b.C, H = W->H, N = W->N, F = W->F, D = W->D;
    const size_t TC = (size_t)T * C;
    const size_t per_layer = (size_t)2 * C + (size_t)H * N * N;
    rwkv_ctx *ctx = m->ctx;

    for (int li = 0; li < W->b.L; li++) {
        const v6_layer *l = &W->layers[li];
        float *att_prev = state + li * per_layer;
        float *ffn_prev = att_prev + C;
        float *S = ffn_prev + C;

        /* ---- time mix ---- */
        rwkv_op_layernorm(s->x, s->xa, l->ln1_w, l->ln1_b, T, C, LN_EPS);
        token_delta(s->xa, att_prev, s->dx, T, C);
        memcpy(att_prev, s->xa + TC - C, C * sizeof(float));

        /* data-dependent token shift:
         *   h = tanh((x + dx·maa_x)·maa_w1) split in five [D] parts h_w..h_g
         *   x_j = x + dx·(maa_j + h_j·maa_w2[j])   for j in w, k, v, r, g */
        for (size_t i = 0; i < TC; i++) s->y[i] = s->xa[i] + s->dx[i] * l->maa_x[i % C];
        rwkv_op_linear_t(ctx, &l->maa_w1, s->y, s->lr, T);
        for (int t = 0; t < T; t++)
            for (int j = 0; j < 5; j++)
                for (int d = 0; d < D; d++)
                    s->lr5[((size_t)j * T + t) * D + d] = tanhf(s->lr[((size_t)t * 5 + j) * D + d]);
        for (int j = 0; j < 5; j++) {
            rwkv_op_linear_t(ctx, &l->maa_w2[j], s->lr5 + (size_t)j * T * D, s->xm[j], T);
            for (size_t i = 0; i < TC; i++)
                s->xm[j][i] = s->xa[i] + s->dx[i] * (l->maa[j][i % C] + s->xm[j][i]);
        }

        /* r = Wr·xr, k = Wk·xk, v = Wv·xv, g = silu(Wg·xg) */
        rwkv_op_linear(ctx, &l->Wr, s->xm[MR], s->r, T);
        rwkv_op_linear(ctx, &l->Wk, s->xm[MK], s->k, T);
        rwkv_op_linear(ctx, &l->Wv, s->xm[MV], s->v, T);
        rwkv_op_linear(ctx, &l->Wg, s->xm[MG], s->g, T);
        for (size_t i = 0; i < TC; i++) s->g[i] *= sigmoidf(s->g[i]);

        /* w = exp(−exp(time_decay + tanh(xw·decay_w1)·decay_w2)) */
        rwkv_op_linear_t(ctx, &l->decay_w1, s->xm[MW], s->lr, T);
        for (size_t i = 0; i < (size_t)T * l->decay_w1.cols; i++) s->lr[i] = tanhf(s->lr[i]);
        rwkv_op_linear_t(ctx, &l->decay_w2, s->lr, s->w, T);
        for (size_t i = 0; i < TC; i++) s->w[i] = expf(-expf(l->decay[i % C] + s->w[i]));

        /* per head: y = rᵀ(u·k vᵀ + S);  S = w·S + k vᵀ   (w, u per key channel) */
        rwkv_op_wkv5(ctx, S, s->r, s->w, 1, s->k, s->v, l->u, s->y, T, H, N);

        /* y = GroupNorm_H(y, eps 64e-5) ⊙ g;  x += Wo·y */
        rwkv_op_groupnorm(s->y, s->y, l->lnx_w, l->lnx_b, T, C, N, GN_EPS);
        for (size_t i = 0; i < TC; i++) s->y[i] *= s->g[i];
        rwkv_op_linear(ctx, &l->Wo, s->y, s->xm[0], T);
        for (size_t i = 0; i < TC; i++) s->x[i] += s->xm[0][i];

        /* ---- channel mix: x += σ(Wr·xr) ⊙ Wv·relu(Wk·xk)²,  x_j = x + dx·maa_j ---- */
        rwkv_op_layernorm(s->x, s->xa, l->ln2_w, l->ln2_b, T, C, LN_EPS);
        token_delta(s->xa, ffn_prev, s->dx, T, C);
        memcpy(ffn_prev, s->xa + TC - C, C * sizeof(float));
        for (size_t i = 0; i < TC; i++) {
            s->xm[MK][i] = s->xa[i] + s->dx[i] * l->ffn_maa_k[i % C];
            s->xm[MR][i] = s->xa[i] + s->dx[i] * l->ffn_maa_r[i % C];
        }
        rwkv_op_linear(ctx, &l->ffn_r, s->xm[MR], s->r, T);
        rwkv_op_linear(ctx, &l->ffn_key, s->xm[MK], s->ffn, T);
        for (size_t i = 0; i < (size_t)T * F; i++) {
            float q = s->ffn[i] > 0.0f ? s->ffn[i] : 0.0f;
            s->ffn[i] = q * q;
        }
        rwkv_op_linear(ctx, &l->ffn_value, s->ffn, s->y, T);
        for (size_t i = 0; i < TC; i++) s->x[i] += sigmoidf(s->r[i]) * s->y[i];
    }
}

/* Feeds tokens in chunks of the scratch capacity (1 in serial mode). */
static rwkv_status v6_eval(rwkv_model *m, float *state, const int32_t *tokens, size_t n, float *logits,
                           unsigned flags) {
    v6_weights *W = m->weights;
    return rwkv_w_eval(m, &W->b, W->sc.x, W->sc.xa, W->sc.T, forward_layers, state, tokens, n, logits, flags);
}

const rwkv_arch rwkv_arch_v6 = {
    .generation = "6",
    .detect = v6_detect,
    .load = v6_load,
    .free = v6_free,
    .state_zero = v6_state_zero,
    .state_tuning = v6_state_tuning,
    .eval = v6_eval,
};
