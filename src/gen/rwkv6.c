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
#include "model/weights.h"

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

/* Token shift of the time mix, per token t (prev[t] = cur[t−1], or last for t = 0):
 * dx[t] = prev[t] − cur[t] and y[t] = cur[t] + dx[t]·maa_x (the LoRA's input). */
static void att_shift(const float *cur, const float *last, const float *maa_x, float *dx, float *y, int T,
                      int C) {
    for (int t = 0; t < T; t++) {
        const float *c = cur + (size_t)t * C;
        const float *p = t ? c - C : last;
        float *d = dx + (size_t)t * C, *o = y + (size_t)t * C;
        for (int i = 0; i < C; i++) {
            d[i] = p[i] - c[i];
            o[i] = c[i] + d[i] * maa_x[i];
        }
    }
}

/* Token shift of the channel mix: xk[t] = cur[t] + (prev[t] − cur[t])·maa_k, same for xr. */
static void ffn_shift(const float *cur, const float *last, const float *maa_k, const float *maa_r, float *xk,
                      float *xr, int T, int C) {
    for (int t = 0; t < T; t++) {
        const float *c = cur + (size_t)t * C;
        const float *p = t ? c - C : last;
        float *ok = xk + (size_t)t * C, *orr = xr + (size_t)t * C;
        for (int i = 0; i < C; i++) {
            const float d = p[i] - c[i];
            ok[i] = c[i] + d * maa_k[i];
            orr[i] = c[i] + d * maa_r[i];
        }
    }
}

/* LayerNorm (gs = n) or GroupNorm of T rows. One row (decode) runs on the calling thread: a pool
 * step costs more than the work, and more still on a busy machine. */
static void norm_rows(rwkv_ctx *ctx, const float *x, float *y, const float *g, const float *b, int T, int n,
                      int gs, float eps) {
    if (T == 1)
        rwkv_op_groupnorm(x, y, g, b, 1, n, gs, eps);
    else
        rwkv_op_norm(ctx, x, y, g, b, T, n, gs, eps);
}

/* x = tanh(x) over T rows of n; small sizes (the LoRA hidden of one token) on the calling thread. */
static void tanh_rows(rwkv_ctx *ctx, float *x, int T, int n) {
    if ((size_t)T * n <= 4096) {
        for (size_t i = 0; i < (size_t)T * n; i++) x[i] = tanhf(x[i]);
    } else {
        rwkv_op_act(ctx, RWKV_ACT_TANH, x, NULL, x, T, n);
    }
}

/* Runs T tokens (T <= scratch capacity) from sc.x (embedded, LayerNorm'd by ln0) through every
 * layer; leaves the final residual stream in sc.x. Every product over the chunk is one
 * matrix-matrix product; products that share an input step run as one parallel batch (one
 * wake-up of the thread pool), LayerNorm/GroupNorm and tanh run on the pool's kernels for
 * chunks and on the calling thread for one token. */
static void forward_layers(rwkv_model *m, float *state, int T) {
    v6_weights *W = m->weights;
    v6_scratch *s = &W->sc;
    const int C = W->b.C, H = W->H, N = W->N, D = W->D;
    const size_t TC = (size_t)T * C;
    const size_t per_layer = (size_t)2 * C + (size_t)H * N * N;
    rwkv_ctx *ctx = m->ctx;

    for (int li = 0; li < W->b.L; li++) {
        const v6_layer *l = &W->layers[li];
        float *att_prev = state + li * per_layer;
        float *ffn_prev = att_prev + C;
        float *S = ffn_prev + C;

        /* ---- time mix ---- */
        norm_rows(ctx, s->x, s->xa, l->ln1_w, l->ln1_b, T, C, C, LN_EPS);
        att_shift(s->xa, att_prev, l->maa_x, s->dx, s->y, T, C);
        memcpy(att_prev, s->xa + TC - C, C * sizeof(float));

        /* data-dependent token shift:
         *   h = tanh((x + dx·maa_x)·maa_w1) split in five [D] parts h_w..h_g
         *   x_j = x + dx·(maa_j + h_j·maa_w2[j])   for j in w, k, v, r, g */
        rwkv_linear_job lora1 = {.W = &l->maa_w1, .X = s->y, .Y = s->lr, .transposed = 1};
        rwkv_op_linear_batch(ctx, &lora1, 1, T);
        tanh_rows(ctx, s->lr, T, 5 * D);
        const float *h5[5];
        for (int j = 0; j < 5; j++) {
            if (T == 1) {
                h5[j] = s->lr + (size_t)j * D; /* one token: the five parts are already contiguous */
                continue;
            }
            float *dst = s->lr5 + (size_t)j * T * D;
            for (int t = 0; t < T; t++)
                memcpy(dst + (size_t)t * D, s->lr + ((size_t)t * 5 + j) * D, (size_t)D * sizeof(float));
            h5[j] = dst;
        }
        rwkv_linear_job lora2[5];
        for (int j = 0; j < 5; j++)
            lora2[j] = (rwkv_linear_job){.W = &l->maa_w2[j], .X = h5[j], .Y = s->xm[j], .transposed = 1};
        rwkv_op_linear_batch(ctx, lora2, 5, T);
        for (int j = 0; j < 5; j++)
            for (int t = 0; t < T; t++) {
                const size_t o = (size_t)t * C;
                const float *xa = s->xa + o, *dx = s->dx + o, *mj = l->maa[j];
                float *xm = s->xm[j] + o;
                for (int i = 0; i < C; i++) xm[i] = xa[i] + dx[i] * (mj[i] + xm[i]);
            }

        /* r = Wr·xr, k = Wk·xk, v = Wv·xv, g = Wg·xg and the decay LoRA's first factor, in one step */
        rwkv_linear_job proj[5] = {
            {.W = &l->Wr, .X = s->xm[MR], .Y = s->r},
            {.W = &l->Wk, .X = s->xm[MK], .Y = s->k},
            {.W = &l->Wv, .X = s->xm[MV], .Y = s->v},
            {.W = &l->Wg, .X = s->xm[MG], .Y = s->g},
            {.W = &l->decay_w1, .X = s->xm[MW], .Y = s->lr, .transposed = 1},
        };
        rwkv_op_linear_batch(ctx, proj, 5, T);
        tanh_rows(ctx, s->lr, T, l->decay_w1.cols);
        rwkv_linear_job decay2 = {.W = &l->decay_w2, .X = s->lr, .Y = s->w, .transposed = 1};
        rwkv_op_linear_batch(ctx, &decay2, 1, T);
        /* w = exp(−exp(time_decay + tanh(xw·decay_w1)·decay_w2));  g = silu(g) */
        for (int t = 0; t < T; t++) {
            float *w = s->w + (size_t)t * C, *g = s->g + (size_t)t * C;
            for (int i = 0; i < C; i++) {
                w[i] = expf(-expf(l->decay[i] + w[i]));
                g[i] *= sigmoidf(g[i]);
            }
        }

        /* per head: y = rᵀ(u·k vᵀ + S);  S = w·S + k vᵀ   (w, u per key channel) */
        rwkv_op_wkv5(ctx, S, s->r, s->w, 1, s->k, s->v, l->u, s->y, T, H, N);

        /* y = GroupNorm_H(y, eps 64e-5) ⊙ g;  x += Wo·y */
        norm_rows(ctx, s->y, s->y, l->lnx_w, l->lnx_b, T, C, N, GN_EPS);
        for (size_t i = 0; i < TC; i++) s->y[i] *= s->g[i];
        rwkv_linear_job out = {.W = &l->Wo, .X = s->y, .Y = s->xm[0], .epilogue = RWKV_EPI_ADD, .acc = s->x};
        rwkv_op_linear_batch(ctx, &out, 1, T);

        /* ---- channel mix: x += σ(Wr·xr) ⊙ Wv·relu(Wk·xk)²,  x_j = x + dx·maa_j ---- */
        norm_rows(ctx, s->x, s->xa, l->ln2_w, l->ln2_b, T, C, C, LN_EPS);
        ffn_shift(s->xa, ffn_prev, l->ffn_maa_k, l->ffn_maa_r, s->xm[MK], s->xm[MR], T, C);
        memcpy(ffn_prev, s->xa + TC - C, C * sizeof(float));
        rwkv_linear_job ffn1[2] = {
            {.W = &l->ffn_r, .X = s->xm[MR], .Y = s->r},
            {.W = &l->ffn_key, .X = s->xm[MK], .Y = s->ffn, .epilogue = RWKV_EPI_RELU_SQ},
        };
        rwkv_op_linear_batch(ctx, ffn1, 2, T);
        rwkv_linear_job ffn2 = {.W = &l->ffn_value, .X = s->ffn, .Y = s->y};
        rwkv_op_linear_batch(ctx, &ffn2, 1, T);
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
