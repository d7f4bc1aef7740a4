/* rwkv6.c — RWKV-6 "Finch" (x060): weight layout, validation and the forward pass.
 * The math follows the official code (BlinkDL ChatRWKV RWKV_v6_demo.py and the pip rwkv package
 * model.py, version 6.0): data-dependent token shift (time_maa_* with a 5-way tanh LoRA),
 * data-dependent decay (time_decay + a tanh LoRA), the RWKV-5 multi-head WKV with bonus
 * time_faaaa, GroupNorm eps 64e-5 per head, a SiLU gate, and a squared-ReLU channel mix.
 * forward_layers() runs T rows through every layer with the backend's ops; serial mode uses T = 1.
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
    /* all [C] fp32 vectors in backend memory */
    rwkv_ptr ln1_w, ln1_b, ln2_w, ln2_b;
    rwkv_ptr maa_x;                  /* att.time_maa_x */
    rwkv_ptr maa[5];                 /* att.time_maa_{w,k,v,r,g} */
    rwkv_ptr decay;                  /* att.time_decay (before the LoRA is added) */
    rwkv_ptr u;                      /* att.time_faaaa, [H][N] */
    rwkv_ptr lnx_w, lnx_b;           /* GroupNorm of the WKV output */
    rwkv_ptr ffn_maa_k, ffn_maa_r;   /* ffn.time_maa_{k,r} */
    rwkv_weight maa_w1;              /* [C][5·D] */
    rwkv_weight maa_w2[5];           /* [D][C] each: time_maa_w2 [5][D][C] split along dim 0 */
    rwkv_weight decay_w1, decay_w2;  /* [C][Dw], [Dw][C] */
    rwkv_weight Wr, Wk, Wv, Wo, Wg;  /* [C][C] */
    rwkv_weight ffn_r;               /* [C][C] */
    rwkv_weight ffn_key;             /* [F][C] */
    rwkv_weight ffn_value;           /* [C][F] */
} v6_layer;

/* Backend scratch for seq_chunk rows. */
typedef struct v6_scratch {
    rwkv_ptr prev;                   /* [T][C] token-shift source of each row */
    rwkv_ptr dx;                     /* [T][C] previous token minus current */
    rwkv_ptr xm[5];                  /* [T][C] token-shift mixes for w, k, v, r, g */
    rwkv_ptr r, k, v, g, w, y;       /* [T][C] */
    rwkv_ptr lr;                     /* [T][Dmax] low-rank hidden (Dmax >= 5·D) */
    rwkv_ptr lr5;                    /* [5][T][D] the token-shift LoRA hidden, split per target */
    rwkv_ptr ffn;                    /* [T][F] */
} v6_scratch;

typedef struct v6_weights {
    int H, N, F;
    int D;                           /* token-shift LoRA rank (time_maa_w1 is [C][5·D]) */
    int Dmax;                        /* widest low-rank hidden: max(5·D, decay LoRA rank) */
    v6_layer *layers;                /* [L] */
    v6_scratch sc;
} v6_weights;

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

/* Binds time_maa_w2 [5][D][C] as five [D][C] matrices placed in the backend. */
static rwkv_status mat5(rwkv_model *m, rwkv_weight w[5], int64_t D, int64_t C, const char *fmt, int i) {
    const rwkv_tensor *t;
    int64_t dims[3] = {5, D, C};
    rwkv_status st = rwkv_model_tensorf(m, &t, 3, dims, fmt, i);
    if (st != RWKV_OK) return st;
    const size_t bytes = rwkv_dtype_row_bytes(t->dtype, (size_t)C) * (size_t)D;
    for (int j = 0; j < 5 && st == RWKV_OK; j++) {
        w[j] = (rwkv_weight){.dtype = t->dtype, .rows = (int)D, .cols = (int)C,
                             .data = (const char *)t->data + (size_t)j * bytes};
        st = rwkv_w_place(m, &w[j]);
    }
    return st;
}

static void v6_free(rwkv_model *m) {
    v6_weights *W = m->weights;
    if (!W) return;
    free(W->layers);
    m->weights = NULL;
    free(W);
}

static rwkv_status alloc_scratch(rwkv_model *m, v6_weights *W) {
    v6_scratch *s = &W->sc;
    const size_t T = (size_t)m->seq_chunk, TC = T * (size_t)m->C;
    rwkv_ptr *bufs[] = {&s->prev,  &s->dx, &s->xm[0], &s->xm[1], &s->xm[2], &s->xm[3], &s->xm[4],
                        &s->r,     &s->k,  &s->v,     &s->g,     &s->w,     &s->y};
    rwkv_status st = RWKV_OK;
    for (size_t i = 0; st == RWKV_OK && i < sizeof bufs / sizeof bufs[0]; i++) st = rwkv_w_scratch(m, TC, bufs[i]);
    if (st == RWKV_OK) st = rwkv_w_scratch(m, T * (size_t)W->Dmax, &s->lr);
    if (st == RWKV_OK) st = rwkv_w_scratch(m, T * 5 * (size_t)W->D, &s->lr5);
    return st == RWKV_OK ? rwkv_w_scratch(m, T * (size_t)W->F, &s->ffn) : st;
}

/* The [C] vectors of every layer. */
static const rwkv_w_vec_field v6_vecs[] = {
    RWKV_W_VEC(v6_layer, ln1_w, "ln1.weight"),
    RWKV_W_VEC(v6_layer, ln1_b, "ln1.bias"),
    RWKV_W_VEC(v6_layer, ln2_w, "ln2.weight"),
    RWKV_W_VEC(v6_layer, ln2_b, "ln2.bias"),
    RWKV_W_VEC(v6_layer, maa_x, "att.time_maa_x"),
    RWKV_W_VEC(v6_layer, maa[MW], "att.time_maa_w"),
    RWKV_W_VEC(v6_layer, maa[MK], "att.time_maa_k"),
    RWKV_W_VEC(v6_layer, maa[MV], "att.time_maa_v"),
    RWKV_W_VEC(v6_layer, maa[MR], "att.time_maa_r"),
    RWKV_W_VEC(v6_layer, maa[MG], "att.time_maa_g"),
    RWKV_W_VEC(v6_layer, decay, "att.time_decay"),
    RWKV_W_VEC(v6_layer, lnx_w, "att.ln_x.weight"),
    RWKV_W_VEC(v6_layer, lnx_b, "att.ln_x.bias"),
    RWKV_W_VEC(v6_layer, ffn_maa_k, "ffn.time_maa_k"),
    RWKV_W_VEC(v6_layer, ffn_maa_r, "ffn.time_maa_r"),
};

static rwkv_status v6_load(rwkv_model *m) {
    v6_weights *W = calloc(1, sizeof *W);
    if (!W) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    m->weights = W;
    rwkv_status st;
    const rwkv_tensor *t;
    int64_t any2[2] = {-1, -1};
    const int C = m->C, L = m->L;
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
    W->layers = calloc((size_t)L, sizeof *W->layers);
    if (!W->layers) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    W->F = -1;
    W->Dmax = 5 * W->D;
    const int64_t hn[2] = {W->H, W->N};
    for (int i = 0; i < L; i++) {
        v6_layer *l = &W->layers[i];
        if ((st = rwkv_w_vecs(m, l, v6_vecs, sizeof v6_vecs / sizeof v6_vecs[0], i)) ||
            (st = rwkv_w_vecd(m, &l->u, 2, hn, "blocks.%d.att.time_faaaa", i)) ||
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
    if ((st = alloc_scratch(m, W)) != RWKV_OK) return st;
    m->info.head_size = W->N;
    m->info.n_head = W->H;
    m->info.n_ffn = W->F;
    m->state_floats = (size_t)L * ((size_t)2 * C + (size_t)W->H * W->N * W->N);
    return RWKV_OK;
}

/* Official state-tuning file (RWKV-PEFT): blocks.i.att.time_state [H][N][N] stored [value][key];
 * the official loader transposes it (time_state.transpose(1,2)) into the [key][value] state. */
static rwkv_status v6_state_tuning(const rwkv_model *m, const rwkv_tensor_file *tf, float *state) {
    const v6_weights *W = m->weights;
    return rwkv_w_state_tuning(tf, state, m->L, m->C, W->H, W->N, 1);
}

/* ---- forward ------------------------------------------------------------------------------ */

/* Runs T rows (T <= seq_chunk) from m->x (embedded, LayerNorm'd by ln0) through every layer;
 * leaves the final residual stream in m->x. Products that share an input step run as one
 * parallel batch. State per layer: [att_prev: C][ffn_prev: C][S]. */
static void forward_layers(rwkv_model *m, const rwkv_seg *seg, int nseg, int T) {
    const v6_weights *W = m->weights;
    const v6_scratch *s = &W->sc;
    const int C = m->C, H = W->H, N = W->N, D = W->D;
    const size_t per_layer = (size_t)2 * C + (size_t)H * N * N;
    rwkv_backend *be = m->be;
    const rwkv_backend_ops *op = be->ops;
    const rwkv_operand xa = rwkv_rows(m->xa, C), dx = rwkv_rows(s->dx, C), none = rwkv_none();

    for (int li = 0; li < m->L; li++) {
        const v6_layer *l = &W->layers[li];
        const size_t lo = (size_t)li * per_layer;

        /* ---- time mix: dx = prev − x;  the LoRA's input x + dx·maa_x ---- */
        op->norm(be, m->x, m->xa, l->ln1_w, l->ln1_b, T, C, C, RWKV_LN_EPS);
        op->shift(be, m->xa, s->prev, T, C, lo, seg, nseg);
        op->ew(be, RWKV_EW_SUB, T, C, s->dx, C, xa, rwkv_rows(s->prev, C), none, none);
        op->ew(be, RWKV_EW_LERP, T, C, s->y, C, xa, rwkv_rows(s->prev, C), rwkv_vec(l->maa_x), none);

        /* data-dependent token shift:
         *   h = tanh((x + dx·maa_x)·maa_w1) split in five [D] parts h_w..h_g
         *   x_j = x + dx·(maa_j + h_j·maa_w2[j])   for j in w, k, v, r, g */
        const rwkv_linear_job lora1 = {.W = &l->maa_w1, .X = s->y, .Y = s->lr, .transposed = 1};
        op->linear(be, &lora1, 1, T);
        op->act(be, RWKV_ACT_TANH, s->lr, rwkv_ptr_null(), s->lr, T, 5 * D);
        rwkv_linear_job lora2[5];
        for (int j = 0; j < 5; j++) {
            const rwkv_ptr hj = rwkv_ptr_f(s->lr5, (size_t)j * T * D);
            op->ew(be, RWKV_EW_COPY, T, D, hj, D, rwkv_rows(rwkv_ptr_f(s->lr, (size_t)j * D), 5 * D), none, none, none);
            lora2[j] = (rwkv_linear_job){.W = &l->maa_w2[j], .X = hj, .Y = s->xm[j], .transposed = 1};
        }
        op->linear(be, lora2, 5, T);
        for (int j = 0; j < 5; j++)
            op->ew(be, RWKV_EW_ADD_MUL_SUM, T, C, s->xm[j], C, xa, dx, rwkv_vec(l->maa[j]), rwkv_rows(s->xm[j], C));

        /* r = Wr·xr, k = Wk·xk, v = Wv·xv, g = Wg·xg and the decay LoRA's first factor, in one step */
        const rwkv_linear_job proj[5] = {
            {.W = &l->Wr, .X = s->xm[MR], .Y = s->r},
            {.W = &l->Wk, .X = s->xm[MK], .Y = s->k},
            {.W = &l->Wv, .X = s->xm[MV], .Y = s->v},
            {.W = &l->Wg, .X = s->xm[MG], .Y = s->g},
            {.W = &l->decay_w1, .X = s->xm[MW], .Y = s->lr, .transposed = 1},
        };
        op->linear(be, proj, 5, T);
        op->act(be, RWKV_ACT_TANH, s->lr, rwkv_ptr_null(), s->lr, T, l->decay_w1.cols);
        const rwkv_linear_job decay2 = {.W = &l->decay_w2, .X = s->lr, .Y = s->w, .transposed = 1};
        op->linear(be, &decay2, 1, T);
        /* w = exp(−exp(time_decay + tanh(xw·decay_w1)·decay_w2)) */
        op->act(be, RWKV_ACT_DECAY6, s->w, l->decay, s->w, T, C);

        /* per head: y = rᵀ(u·k vᵀ + S);  S = w·S + k vᵀ   (w, u per key channel) */
        op->wkv5(be, lo + 2 * (size_t)C, s->r, s->w, 1, s->k, s->v, l->u, s->y, T, H, N, seg, nseg);

        /* y = GroupNorm_H(y, eps 64e-5) ⊙ silu(g);  x += Wo·y */
        op->norm(be, s->y, s->y, l->lnx_w, l->lnx_b, T, C, N, RWKV_GN_EPS);
        op->ew(be, RWKV_EW_MUL_SILU, T, C, s->y, C, rwkv_rows(s->y, C), rwkv_rows(s->g, C), none, none);
        const rwkv_linear_job out = {.W = &l->Wo, .X = s->y, .Y = s->xm[0], .epilogue = RWKV_EPI_ADD, .acc = m->x};
        op->linear(be, &out, 1, T);

        /* ---- channel mix: x += σ(Wr·xr) ⊙ Wv·relu(Wk·xk)²,  x_j = x + (prev − x)·maa_j ---- */
        op->norm(be, m->x, m->xa, l->ln2_w, l->ln2_b, T, C, C, RWKV_LN_EPS);
        op->shift(be, m->xa, s->prev, T, C, lo + (size_t)C, seg, nseg);
        op->ew(be, RWKV_EW_LERP, T, C, s->xm[MK], C, xa, rwkv_rows(s->prev, C), rwkv_vec(l->ffn_maa_k), none);
        op->ew(be, RWKV_EW_LERP, T, C, s->xm[MR], C, xa, rwkv_rows(s->prev, C), rwkv_vec(l->ffn_maa_r), none);
        const rwkv_linear_job ffn1[2] = {
            {.W = &l->ffn_r, .X = s->xm[MR], .Y = s->r},
            {.W = &l->ffn_key, .X = s->xm[MK], .Y = s->ffn, .epilogue = RWKV_EPI_RELU_SQ},
        };
        op->linear(be, ffn1, 2, T);
        const rwkv_linear_job ffn2 = {.W = &l->ffn_value, .X = s->ffn, .Y = s->y};
        op->linear(be, &ffn2, 1, T);
        op->ew(be, RWKV_EW_ADD_SIGMOID_MUL, T, C, m->x, C, rwkv_rows(m->x, C), rwkv_rows(s->r, C), rwkv_rows(s->y, C),
               none);
    }
}

const rwkv_gen rwkv_gen_v6 = {
    .generation = "6",
    .family = "RWKV-6",
    .needs = RWKV_NEED_WKV5,
    .detect = v6_detect,
    .layer_keys = v6_keys,
    .n_layer_keys = sizeof v6_keys / sizeof v6_keys[0],
    .load = v6_load,
    .free = v6_free,
    .state_tuning = v6_state_tuning,
    .forward = forward_layers,
};
