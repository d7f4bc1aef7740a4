/* rwkv4.c — RWKV-4 "Dove"/"Raven": weight layout, validation and the forward pass.
 * The math follows the official code (BlinkDL ChatRWKV RWKV_in_150_lines.py and the pip rwkv
 * package model.py, version 4): token shift with time_mix_{k,v,r}, the numerically stable WKV
 * with time_first / time_decay, and the squared-ReLU channel mix with a receptance gate.
 * forward_layers() runs T rows through every layer with the backend's ops; serial mode uses T = 1.
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
    /* all [C] fp32 vectors in backend memory */
    rwkv_ptr ln1_w, ln1_b, ln2_w, ln2_b;
    rwkv_ptr mix_k, mix_v, mix_r;    /* att.time_mix_* */
    rwkv_ptr decay;                  /* −exp(att.time_decay) */
    rwkv_ptr first;                  /* att.time_first (u) */
    rwkv_ptr ffn_mix_k, ffn_mix_r;   /* ffn.time_mix_* */
    rwkv_weight Wr, Wk, Wv, Wo;      /* [C][C] */
    rwkv_weight ffn_r;               /* [C][C] */
    rwkv_weight ffn_key;             /* [F][C] */
    rwkv_weight ffn_value;           /* [C][F] */
} v4_layer;

/* Backend scratch for seq_chunk rows. */
typedef struct v4_scratch {
    rwkv_ptr prev;                   /* [T][C] token-shift source of each row */
    rwkv_ptr xk, xv, xr;             /* [T][C] token-shift mixes */
    rwkv_ptr r, k, v, y;             /* [T][C] */
    rwkv_ptr ffn;                    /* [T][F] */
} v4_scratch;

typedef struct v4_weights {
    int F;
    v4_layer *layers;                /* [L] */
    v4_scratch sc;
} v4_weights;

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
    free(W->layers);
    m->weights = NULL;
    free(W);
}

static rwkv_status alloc_scratch(rwkv_model *m, v4_weights *W) {
    v4_scratch *s = &W->sc;
    const size_t T = (size_t)m->seq_chunk, TC = T * (size_t)m->C;
    rwkv_ptr *bufs[] = {&s->prev, &s->xk, &s->xv, &s->xr, &s->r, &s->k, &s->v, &s->y};
    rwkv_status st = RWKV_OK;
    for (size_t i = 0; st == RWKV_OK && i < sizeof bufs / sizeof bufs[0]; i++) st = rwkv_w_scratch(m, TC, bufs[i]);
    return st == RWKV_OK ? rwkv_w_scratch(m, T * (size_t)W->F, &s->ffn) : st;
}

/* The [C] vectors of every layer. */
static const rwkv_w_vec_field v4_vecs[] = {
    RWKV_W_VEC(v4_layer, ln1_w, "ln1.weight"),
    RWKV_W_VEC(v4_layer, ln1_b, "ln1.bias"),
    RWKV_W_VEC(v4_layer, ln2_w, "ln2.weight"),
    RWKV_W_VEC(v4_layer, ln2_b, "ln2.bias"),
    RWKV_W_VEC(v4_layer, mix_k, "att.time_mix_k"),
    RWKV_W_VEC(v4_layer, mix_v, "att.time_mix_v"),
    RWKV_W_VEC(v4_layer, mix_r, "att.time_mix_r"),
    RWKV_W_VEC(v4_layer, first, "att.time_first"),
    RWKV_W_VEC(v4_layer, ffn_mix_k, "ffn.time_mix_k"),
    RWKV_W_VEC(v4_layer, ffn_mix_r, "ffn.time_mix_r"),
};

static rwkv_status v4_load(rwkv_model *m) {
    v4_weights *W = calloc(1, sizeof *W);
    if (!W) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    m->weights = W;
    rwkv_status st;
    const int C = m->C, L = m->L;
    W->layers = calloc((size_t)L, sizeof *W->layers);
    if (!W->layers) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    W->F = -1;
    for (int i = 0; i < L; i++) {
        v4_layer *l = &W->layers[i];
        float *decay;
        if ((st = rwkv_w_vecs(m, l, v4_vecs, sizeof v4_vecs / sizeof v4_vecs[0], i)) ||
            (st = rwkv_w_vec_host(m, &decay, C, "blocks.%d.att.time_decay", i)) ||
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
        for (int j = 0; j < C; j++) decay[j] = -expf(decay[j]);
        if ((st = rwkv_w_put(m, decay, (size_t)C, &l->decay))) return st;
    }
    if ((st = alloc_scratch(m, W)) != RWKV_OK) return st;
    m->info.head_size = 0;
    m->info.n_head = 0;
    m->info.n_ffn = W->F;
    m->state_floats = (size_t)L * 5 * (size_t)C;
    return RWKV_OK;
}

/* Zero state, except pp = −1e30 in every layer (official starting value). */
static void v4_state_zero(const rwkv_model *m, float *state) {
    const size_t C = (size_t)m->C;
    for (int i = 0; i < m->L; i++) {
        float *pp = state + (size_t)i * 5 * C + 4 * C;
        for (size_t j = 0; j < C; j++) pp[j] = PP_START;
    }
}

/* ---- forward ------------------------------------------------------------------------------ */

/* Runs T rows (T <= seq_chunk) from m->x (embedded, LayerNorm'd by ln0) through every layer;
 * leaves the final residual stream in m->x. State per layer: [att_prev][ffn_prev][aa][bb][pp],
 * [C] each; the WKV (ops.h rwkv_op_wkv4) is the numerically stable form with a running
 * exponent pp. */
static void forward_layers(rwkv_model *m, const rwkv_seg *seg, int nseg, int T) {
    const v4_weights *W = m->weights;
    const v4_scratch *s = &W->sc;
    const int C = m->C;
    rwkv_backend *be = m->be;
    const rwkv_backend_ops *op = be->ops;
    const rwkv_operand xa = rwkv_rows(m->xa, C), prev = rwkv_rows(s->prev, C), none = rwkv_none();

    for (int li = 0; li < m->L; li++) {
        const v4_layer *l = &W->layers[li];
        const size_t lo = (size_t)li * 5 * C;

        /* ---- time mix: x += Wo·(σ(Wr·xr) ⊙ wkv(Wk·xk, Wv·xv)) ---- */
        op->norm(be, m->x, m->xa, l->ln1_w, l->ln1_b, T, C, C, RWKV_LN_EPS);
        op->shift(be, m->xa, s->prev, T, C, lo, seg, nseg);
        op->ew(be, RWKV_EW_MIX, T, C, s->xk, C, xa, prev, rwkv_vec(l->mix_k), none);
        op->ew(be, RWKV_EW_MIX, T, C, s->xv, C, xa, prev, rwkv_vec(l->mix_v), none);
        op->ew(be, RWKV_EW_MIX, T, C, s->xr, C, xa, prev, rwkv_vec(l->mix_r), none);
        const rwkv_linear_job rkv[3] = {
            {.W = &l->Wr, .X = s->xr, .Y = s->r},
            {.W = &l->Wk, .X = s->xk, .Y = s->k},
            {.W = &l->Wv, .X = s->xv, .Y = s->v},
        };
        op->linear(be, rkv, 3, T);
        op->wkv4(be, lo + 2 * (size_t)C, l->first, l->decay, s->k, s->v, s->y, T, C, seg, nseg);
        op->ew(be, RWKV_EW_MUL_SIGMOID, T, C, s->y, C, rwkv_rows(s->y, C), rwkv_rows(s->r, C), none, none);
        const rwkv_linear_job out = {.W = &l->Wo, .X = s->y, .Y = s->xr, .epilogue = RWKV_EPI_ADD, .acc = m->x};
        op->linear(be, &out, 1, T);

        /* ---- channel mix: x += σ(Wr·xr) ⊙ Wv·relu(Wk·xk)² ---- */
        const rwkv_w_cmix cm = {l->ln2_w, l->ln2_b, l->ffn_mix_k, l->ffn_mix_r, &l->ffn_r, &l->ffn_key, &l->ffn_value};
        const rwkv_w_cmix_scratch cs = {s->prev, s->xk, s->xr, s->r, s->y, s->ffn};
        rwkv_w_channel_mix(m, &cm, &cs, lo + (size_t)C, seg, nseg, T);
    }
}

const rwkv_gen rwkv_gen_v4 = {
    .generation = "4",
    .family = "RWKV-4",
    .needs = RWKV_NEED_WKV4,
    .detect = v4_detect,
    .layer_keys = v4_keys,
    .n_layer_keys = sizeof v4_keys / sizeof v4_keys[0],
    .load = v4_load,
    .free = v4_free,
    .state_zero = v4_state_zero,
    .state_tuning = NULL, /* no official state-tuning format for RWKV-4 */
    .forward = forward_layers,
};
