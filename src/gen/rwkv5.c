/* rwkv5.c — RWKV-5 "Eagle": versions 5.1 (no gate) and 5.2 (gated): weight layout,
 * validation and the forward pass. The math follows the official code (BlinkDL ChatRWKV
 * RWKV_v5_demo.py and the pip rwkv package model.py, versions 5 / 5.1 / 5.2): token shift with
 * time_mix_*, a multi-head matrix-valued WKV state with a constant per-channel decay and bonus,
 * GroupNorm with eps 64e-5 per head, an optional SiLU gate, and the RWKV-4 channel mix.
 * forward_layers() runs T rows through every layer with the backend's ops; serial mode uses T = 1.
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
    /* all [C] fp32 vectors in backend memory */
    rwkv_ptr ln1_w, ln1_b, ln2_w, ln2_b;
    rwkv_ptr mix_k, mix_v, mix_r, mix_g; /* att.time_mix_* (mix_g unused without gate) */
    rwkv_ptr w;                      /* exp(−exp(time_decay)) per channel (per head in 5.1: repeated) */
    rwkv_ptr u;                      /* time_faaaa, or exp(time_first), per channel */
    rwkv_ptr lnx_w, lnx_b;           /* GroupNorm of the WKV output */
    rwkv_ptr ffn_mix_k, ffn_mix_r;   /* ffn.time_mix_* */
    rwkv_weight Wr, Wk, Wv, Wo, Wg;  /* [C][C] (Wg unused without gate) */
    rwkv_weight ffn_r;               /* [C][C] */
    rwkv_weight ffn_key;             /* [F][C] */
    rwkv_weight ffn_value;           /* [C][F] */
} v5_layer;

/* Backend scratch for seq_chunk rows. */
typedef struct v5_scratch {
    rwkv_ptr prev;                   /* [T][C] token-shift source of each row */
    rwkv_ptr xk, xv, xr, xg;         /* [T][C] token-shift mixes */
    rwkv_ptr r, k, v, g, y;          /* [T][C] */
    rwkv_ptr ffn;                    /* [T][F] */
} v5_scratch;

typedef struct v5_weights {
    int H, N, F;
    bool gate;                       /* 5.2 */
    v5_layer *layers;                /* [L] */
    v5_scratch sc;
} v5_weights;

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

/* Loads a per-head tensor, [H] (one value per head) or [H,N], as a [H·N] fp32 host copy. */
static rwkv_status head_vec(rwkv_model *m, const v5_weights *W, float **out, const char *fmt, int i) {
    char name[128];
    snprintf(name, sizeof name, fmt, i);
    const rwkv_tensor *t = rwkv_tensor_file_find(&m->file, name);
    const int64_t hn[2] = {W->H, W->N}, h1[1] = {W->H};
    rwkv_status st = t && t->numel == (size_t)W->H ? rwkv_model_tensor(m, name, 1, h1, &t)
                                                   : rwkv_model_tensor(m, name, 2, hn, &t);
    if (st != RWKV_OK) return st;
    float *p = rwkv_w_alloc(m, (size_t)m->C);
    if (!p) return RWKV_ERR_NOMEM;
    if (t->numel == (size_t)m->C) {
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
    free(W->layers);
    m->weights = NULL;
    free(W);
}

static rwkv_status alloc_scratch(rwkv_model *m, v5_weights *W) {
    v5_scratch *s = &W->sc;
    const size_t T = (size_t)m->seq_chunk, TC = T * (size_t)m->C;
    rwkv_ptr *bufs[] = {&s->prev, &s->xk, &s->xv, &s->xr, &s->xg, &s->r, &s->k, &s->v, &s->g, &s->y};
    rwkv_status st = RWKV_OK;
    for (size_t i = 0; st == RWKV_OK && i < sizeof bufs / sizeof bufs[0]; i++) st = rwkv_w_scratch(m, TC, bufs[i]);
    return st == RWKV_OK ? rwkv_w_scratch(m, T * (size_t)W->F, &s->ffn) : st;
}

/* The [C] vectors of every layer. */
static const rwkv_w_vec_field v5_vecs[] = {
    RWKV_W_VEC(v5_layer, ln1_w, "ln1.weight"),
    RWKV_W_VEC(v5_layer, ln1_b, "ln1.bias"),
    RWKV_W_VEC(v5_layer, ln2_w, "ln2.weight"),
    RWKV_W_VEC(v5_layer, ln2_b, "ln2.bias"),
    RWKV_W_VEC(v5_layer, mix_k, "att.time_mix_k"),
    RWKV_W_VEC(v5_layer, mix_v, "att.time_mix_v"),
    RWKV_W_VEC(v5_layer, mix_r, "att.time_mix_r"),
    RWKV_W_VEC(v5_layer, lnx_w, "att.ln_x.weight"),
    RWKV_W_VEC(v5_layer, lnx_b, "att.ln_x.bias"),
    RWKV_W_VEC(v5_layer, ffn_mix_k, "ffn.time_mix_k"),
    RWKV_W_VEC(v5_layer, ffn_mix_r, "ffn.time_mix_r"),
};

static rwkv_status v5_load(rwkv_model *m) {
    v5_weights *W = calloc(1, sizeof *W);
    if (!W) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    m->weights = W;
    rwkv_status st;
    const rwkv_tensor *t;
    W->gate = rwkv_tensor_file_find(&m->file, "blocks.0.att.gate.weight") != NULL;
    const int C = m->C, L = m->L;
    /* heads: time_decay is [H] (5.1) or [H,N] (5.2), as the official code reads it */
    t = rwkv_tensor_file_find(&m->file, "blocks.0.att.time_decay");
    int lead = 0;
    while (t && lead < t->n_dims - 1 && t->shape[lead] == 1) lead++;
    if (!t || t->shape[lead] < 1 || t->shape[lead] > C || C % t->shape[lead] != 0)
        return rwkv_fail(RWKV_ERR_SHAPE, "blocks.0.att.time_decay does not split n_embd %d into heads", C);
    W->H = (int)t->shape[lead];
    W->N = C / W->H;
    W->layers = calloc((size_t)L, sizeof *W->layers);
    if (!W->layers) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    W->F = -1;
    for (int i = 0; i < L; i++) {
        v5_layer *l = &W->layers[i];
        char name[64];
        snprintf(name, sizeof name, "blocks.%d.att.time_faaaa", i);
        const bool faaaa = rwkv_tensor_file_find(&m->file, name) != NULL;
        float *w, *u;
        if ((st = rwkv_w_vecs(m, l, v5_vecs, sizeof v5_vecs / sizeof v5_vecs[0], i)) ||
            (st = head_vec(m, W, &w, "blocks.%d.att.time_decay", i)) ||
            (st = head_vec(m, W, &u, faaaa ? "blocks.%d.att.time_faaaa" : "blocks.%d.att.time_first", i)) ||
            (st = rwkv_w_mat(m, &l->Wr, C, C, "blocks.%d.att.receptance.weight", i)) ||
            (st = rwkv_w_mat(m, &l->Wk, C, C, "blocks.%d.att.key.weight", i)) ||
            (st = rwkv_w_mat(m, &l->Wv, C, C, "blocks.%d.att.value.weight", i)) ||
            (st = rwkv_w_mat(m, &l->Wo, C, C, "blocks.%d.att.output.weight", i)) ||
            (st = rwkv_w_mat(m, &l->ffn_r, C, C, "blocks.%d.ffn.receptance.weight", i)) ||
            (st = rwkv_w_mat(m, &l->ffn_key, W->F < 0 ? -1 : W->F, C, "blocks.%d.ffn.key.weight", i)))
            return st;
        if (W->F < 0) W->F = l->ffn_key.rows;
        if ((st = rwkv_w_mat(m, &l->ffn_value, C, W->F, "blocks.%d.ffn.value.weight", i))) return st;
        if (W->gate && ((st = rwkv_w_vec(m, &l->mix_g, C, "blocks.%d.att.time_mix_g", i)) ||
                        (st = rwkv_w_mat(m, &l->Wg, C, C, "blocks.%d.att.gate.weight", i))))
            return st;
        /* w = exp(−exp(time_decay));  u = time_faaaa, or exp(time_first) in files that store its log */
        for (int j = 0; j < C; j++) w[j] = expf(-expf(w[j]));
        if (!faaaa)
            for (int j = 0; j < C; j++) u[j] = expf(u[j]);
        if ((st = rwkv_w_put(m, w, (size_t)C, &l->w)) || (st = rwkv_w_put(m, u, (size_t)C, &l->u))) return st;
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
static rwkv_status v5_state_tuning(const rwkv_model *m, const rwkv_tensor_file *tf, float *state) {
    const v5_weights *W = m->weights;
    return rwkv_w_state_tuning(tf, state, m->L, m->C, W->H, W->N, 1);
}

/* ---- forward ------------------------------------------------------------------------------ */

/* Runs T rows (T <= seq_chunk) from m->x (embedded, LayerNorm'd by ln0) through every layer;
 * leaves the final residual stream in m->x. State per layer: [att_prev: C][ffn_prev: C][S]. */
static void forward_layers(rwkv_model *m, const rwkv_seg *seg, int nseg, int T) {
    const v5_weights *W = m->weights;
    const v5_scratch *s = &W->sc;
    const int C = m->C, H = W->H, N = W->N;
    const size_t per_layer = (size_t)2 * C + (size_t)H * N * N;
    rwkv_backend *be = m->be;
    const rwkv_backend_ops *op = be->ops;
    const rwkv_operand xa = rwkv_rows(m->xa, C), prev = rwkv_rows(s->prev, C), none = rwkv_none();

    for (int li = 0; li < m->L; li++) {
        const v5_layer *l = &W->layers[li];
        const size_t lo = (size_t)li * per_layer;

        /* ---- time mix ---- */
        op->norm(be, m->x, m->xa, l->ln1_w, l->ln1_b, T, C, C, RWKV_LN_EPS);
        op->shift(be, m->xa, s->prev, T, C, lo, seg, nseg);
        op->ew(be, RWKV_EW_MIX, T, C, s->xk, C, xa, prev, rwkv_vec(l->mix_k), none);
        op->ew(be, RWKV_EW_MIX, T, C, s->xv, C, xa, prev, rwkv_vec(l->mix_v), none);
        op->ew(be, RWKV_EW_MIX, T, C, s->xr, C, xa, prev, rwkv_vec(l->mix_r), none);
        if (W->gate) op->ew(be, RWKV_EW_MIX, T, C, s->xg, C, xa, prev, rwkv_vec(l->mix_g), none);

        /* r = Wr·xr, k = Wk·xk, v = Wv·xv (and g = Wg·xg in 5.2), no activation */
        const rwkv_linear_job proj[4] = {
            {.W = &l->Wr, .X = s->xr, .Y = s->r},
            {.W = &l->Wk, .X = s->xk, .Y = s->k},
            {.W = &l->Wv, .X = s->xv, .Y = s->v},
            {.W = &l->Wg, .X = s->xg, .Y = s->g},
        };
        op->linear(be, proj, W->gate ? 4 : 3, T);

        /* per head: y = rᵀ(u·k vᵀ + S);  S = w·S + k vᵀ   (w, u per key channel) */
        op->wkv5(be, lo + 2 * (size_t)C, s->r, l->w, 0, s->k, s->v, l->u, s->y, T, H, N, seg, nseg);

        /* y = GroupNorm_H(y, eps 64e-5), gated by silu(g) in 5.2;  x += Wo·y */
        op->norm(be, s->y, s->y, l->lnx_w, l->lnx_b, T, C, N, RWKV_GN_EPS);
        if (W->gate)
            op->ew(be, RWKV_EW_MUL_SILU, T, C, s->y, C, rwkv_rows(s->y, C), rwkv_rows(s->g, C), none, none);
        const rwkv_linear_job out = {.W = &l->Wo, .X = s->y, .Y = s->xr, .epilogue = RWKV_EPI_ADD, .acc = m->x};
        op->linear(be, &out, 1, T);

        /* ---- channel mix: x += σ(Wr·xr) ⊙ Wv·relu(Wk·xk)² ---- */
        const rwkv_w_cmix cm = {l->ln2_w, l->ln2_b, l->ffn_mix_k, l->ffn_mix_r, &l->ffn_r, &l->ffn_key, &l->ffn_value};
        const rwkv_w_cmix_scratch cs = {s->prev, s->xk, s->xr, s->r, s->y, s->ffn};
        rwkv_w_channel_mix(m, &cm, &cs, lo + (size_t)C, seg, nseg, T);
    }
}

const rwkv_gen rwkv_gen_v5_1 = {
    .generation = "5.1",
    .family = "RWKV-5",
    .needs = RWKV_NEED_WKV5,
    .detect = v5_1_detect,
    .layer_keys = v5_keys,
    .n_layer_keys = sizeof v5_keys / sizeof v5_keys[0] - 2, /* no gate */
    .load = v5_load,
    .free = v5_free,
    .state_tuning = v5_state_tuning,
    .forward = forward_layers,
};

const rwkv_gen rwkv_gen_v5_2 = {
    .generation = "5.2",
    .family = "RWKV-5",
    .needs = RWKV_NEED_WKV5,
    .detect = v5_2_detect,
    .layer_keys = v5_keys,
    .n_layer_keys = sizeof v5_keys / sizeof v5_keys[0],
    .load = v5_load,
    .free = v5_free,
    .state_tuning = v5_state_tuning,
    .forward = forward_layers,
};
