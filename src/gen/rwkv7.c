/* rwkv7.c — RWKV-7 "Goose" (x070): tensor names, per-layer weights and the forward of the layers.
 * The math follows ../shared/docs/RWKV7.md and the official code (BlinkDL RWKV-LM
 * rwkv_v7_numpy.py, pip rwkv RWKV_x070). forward_layers() runs T rows through every layer with
 * the backend's ops; serial mode calls it with T = 1, a batched decode step with one row per
 * sequence.
 *
 * State layout (floats), per layer i:
 *   [att_x_prev: C][ffn_x_prev: C][wkv: H][N][N]   (wkv[h][value][key], read out y = S r)
 */
#include "model/weights.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct v7_layer {
    /* all [C] fp32 vectors in backend memory */
    rwkv_ptr ln1_w, ln1_b, ln2_w, ln2_b;
    rwkv_ptr x_r, x_w, x_k, x_v, x_a, x_g;
    rwkv_ptr w0, a0, v0;             /* v0 unused in layer 0 */
    rwkv_ptr k_k, k_a, r_k;          /* r_k is [H][N] */
    rwkv_ptr lnx_w, lnx_b;
    rwkv_ptr ffn_x_k;
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

/* Backend scratch for seq_chunk rows. */
typedef struct v7_scratch {
    rwkv_ptr prev;                   /* [T][C] token-shift source of each row */
    rwkv_ptr xr, xw, xk, xv, xA, xg; /* [T][C] token-shift mixes */
    rwkv_ptr r, w, k, v, kk, a, g, vf; /* [T][C] */
    rwkv_ptr y;                      /* [T][C] */
    rwkv_ptr lw, la, lg, lv;         /* [T][Dmax] low-rank hiddens of w, a, g, v */
    rwkv_ptr ffn;                    /* [T][F] */
} v7_scratch;

typedef struct v7_weights {
    int H, N, F, Dmax;
    v7_layer *layers;                /* [L] */
    v7_scratch sc;
} v7_weights;


/* ---- loading ---------------------------------------------------------------------------- */

static bool v7_detect(const rwkv_tensor_file *tf) {
    return rwkv_tensor_file_find(tf, "blocks.0.att.r_k") != NULL &&
           rwkv_tensor_file_find(tf, "blocks.0.att.k_k") != NULL;
}

/* Per-layer tensors of an RWKV-7 checkpoint (after "blocks.<i>."). */
static const char *const v7_keys[] = {
    "ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias", "att.x_r", "att.x_w", "att.x_k",
    "att.x_v", "att.x_a", "att.x_g", "att.w0", "att.w1", "att.w2", "att.a0", "att.a1",
    "att.a2", "att.v0", "att.v1", "att.v2", "att.g1", "att.g2", "att.k_k", "att.k_a",
    "att.r_k", "att.receptance.weight", "att.key.weight", "att.value.weight",
    "att.output.weight", "att.ln_x.weight", "att.ln_x.bias", "ffn.x_k", "ffn.key.weight",
    "ffn.value.weight"};

static void v7_free(rwkv_model *m) {
    v7_weights *W = m->weights;
    if (!W) return;
    free(W->layers);
    m->weights = NULL;
    free(W);
}

static rwkv_status alloc_scratch(rwkv_model *m, v7_weights *W) {
    v7_scratch *s = &W->sc;
    const size_t T = (size_t)m->seq_chunk, TC = T * (size_t)m->C;
    rwkv_ptr *bufs[] = {&s->prev, &s->xr, &s->xw, &s->xk, &s->xv, &s->xA, &s->xg, &s->r, &s->w,
                        &s->k,    &s->v,  &s->kk, &s->a,  &s->g,  &s->vf, &s->y};
    rwkv_status st = RWKV_OK;
    for (size_t i = 0; st == RWKV_OK && i < sizeof bufs / sizeof bufs[0]; i++) st = rwkv_w_scratch(m, TC, bufs[i]);
    rwkv_ptr *lrs[] = {&s->lw, &s->la, &s->lg, &s->lv};
    for (size_t i = 0; st == RWKV_OK && i < sizeof lrs / sizeof lrs[0]; i++)
        st = rwkv_w_scratch(m, T * (size_t)W->Dmax, lrs[i]);
    return st == RWKV_OK ? rwkv_w_scratch(m, T * (size_t)W->F, &s->ffn) : st;
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

/* Replaces w by a copy of its transpose ([rows][cols] -> [cols][rows]) kept by the model, in the
 * same dtype or, for fp32 values that all fit a 16-bit type exactly, in that type: the same
 * numbers (the kernels widen 16-bit weights to fp32 exactly, so every product is bit-identical)
 * in half the bytes a decode step reads. *saved grows by the bytes saved per pass over the matrix. */
static rwkv_status transpose_weight(rwkv_model *m, rwkv_weight *w, uint64_t *saved) {
    const size_t R = (size_t)w->rows, K = (size_t)w->cols;
    const rwkv_dtype dt = w->dtype == RWKV_DT_F32 ? exact16(w->data, R * K) : w->dtype;
    const size_t es = rwkv_dtype_size(w->dtype), eo = rwkv_dtype_size(dt);
    char *t = malloc(R * K * eo);
    if (!rwkv_w_own(m, t)) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory transposing a low-rank factor");
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
 * the mapping are then never touched. Block-quantized factors are kept as stored. The factors are
 * placed in the backend afterwards, in their final layout. */
static rwkv_status transpose_lora(rwkv_model *m, v7_layer *l, bool has_v, uint64_t *saved) {
    rwkv_weight *f[8] = {&l->w1, &l->w2, &l->a1, &l->a2, &l->g1, &l->g2, &l->v1, &l->v2};
    const int n = has_v ? 8 : 6;
    bool quant = false;
    for (int i = 0; i < n; i++) quant |= rwkv_dtype_size(f[i]->dtype) == 0;
    l->lora_t = quant;
    rwkv_status st = RWKV_OK;
    for (int i = 0; st == RWKV_OK && i < n; i++)
        if (!quant) st = transpose_weight(m, f[i], saved);
    for (int i = 0; st == RWKV_OK && i < n; i++) st = rwkv_w_place(m, f[i]);
    return st;
}

/* The [C] vectors of every layer. */
static const rwkv_w_vec_field v7_vecs[] = {
    RWKV_W_VEC(v7_layer, ln1_w, "ln1.weight"),
    RWKV_W_VEC(v7_layer, ln1_b, "ln1.bias"),
    RWKV_W_VEC(v7_layer, ln2_w, "ln2.weight"),
    RWKV_W_VEC(v7_layer, ln2_b, "ln2.bias"),
    RWKV_W_VEC(v7_layer, x_r, "att.x_r"),
    RWKV_W_VEC(v7_layer, x_w, "att.x_w"),
    RWKV_W_VEC(v7_layer, x_k, "att.x_k"),
    RWKV_W_VEC(v7_layer, x_v, "att.x_v"),
    RWKV_W_VEC(v7_layer, x_a, "att.x_a"),
    RWKV_W_VEC(v7_layer, x_g, "att.x_g"),
    RWKV_W_VEC(v7_layer, w0, "att.w0"),
    RWKV_W_VEC(v7_layer, a0, "att.a0"),
    RWKV_W_VEC(v7_layer, k_k, "att.k_k"),
    RWKV_W_VEC(v7_layer, k_a, "att.k_a"),
    RWKV_W_VEC(v7_layer, lnx_w, "att.ln_x.weight"),
    RWKV_W_VEC(v7_layer, lnx_b, "att.ln_x.bias"),
    RWKV_W_VEC(v7_layer, ffn_x_k, "ffn.x_k"),
};

static rwkv_status v7_load(rwkv_model *m) {
    v7_weights *W = calloc(1, sizeof *W);
    if (!W) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    m->weights = W;
    rwkv_status st;
    const rwkv_tensor *t;
    const int64_t any2[2] = {-1, -1};
    const int C = m->C, L = m->L;
    if ((st = rwkv_model_tensor(m, "blocks.0.att.r_k", 2, any2, &t)) != RWKV_OK) return st;
    W->H = (int)t->shape[0];
    W->N = (int)t->shape[1];
    if (W->H < 1 || W->N < 1 || (int64_t)W->H * W->N != C)
        return rwkv_fail(RWKV_ERR_SHAPE, "blocks.0.att.r_k [%d,%d] does not split n_embd %d into heads",
                         W->H, W->N, C);
    const int64_t hn[2] = {W->H, W->N};
    W->layers = calloc((size_t)L, sizeof *W->layers);
    if (!W->layers) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    W->F = -1;
    W->Dmax = 1;
    for (int i = 0; i < L; i++) {
        v7_layer *l = &W->layers[i];
        if ((st = rwkv_w_vecs(m, l, v7_vecs, sizeof v7_vecs / sizeof v7_vecs[0], i)) ||
            (st = rwkv_w_vecd(m, &l->r_k, 2, hn, "blocks.%d.att.r_k", i)) ||
            (st = rwkv_w_bind(m, &l->w1, C, -1, "blocks.%d.att.w1", i)) ||
            (st = rwkv_w_bind(m, &l->w2, l->w1.cols, C, "blocks.%d.att.w2", i)) ||
            (st = rwkv_w_bind(m, &l->a1, C, -1, "blocks.%d.att.a1", i)) ||
            (st = rwkv_w_bind(m, &l->a2, l->a1.cols, C, "blocks.%d.att.a2", i)) ||
            (st = rwkv_w_bind(m, &l->g1, C, -1, "blocks.%d.att.g1", i)) ||
            (st = rwkv_w_bind(m, &l->g2, l->g1.cols, C, "blocks.%d.att.g2", i)) ||
            (st = rwkv_w_mat(m, &l->Wr, C, C, "blocks.%d.att.receptance.weight", i)) ||
            (st = rwkv_w_mat(m, &l->Wk, C, C, "blocks.%d.att.key.weight", i)) ||
            (st = rwkv_w_mat(m, &l->Wv, C, C, "blocks.%d.att.value.weight", i)) ||
            (st = rwkv_w_mat(m, &l->Wo, C, C, "blocks.%d.att.output.weight", i)) ||
            (st = rwkv_w_mat(m, &l->ffn_key, W->F < 0 ? -1 : W->F, C, "blocks.%d.ffn.key.weight", i)))
            return st;
        if (W->F < 0) W->F = l->ffn_key.rows;
        if ((st = rwkv_w_mat(m, &l->ffn_value, C, W->F, "blocks.%d.ffn.value.weight", i))) return st;
        if (i > 0) {
            if ((st = rwkv_w_vec(m, &l->v0, C, "blocks.%d.att.v0", i)) ||
                (st = rwkv_w_bind(m, &l->v1, C, -1, "blocks.%d.att.v1", i)) ||
                (st = rwkv_w_bind(m, &l->v2, l->v1.cols, C, "blocks.%d.att.v2", i)))
                return st;
        }
        l->dw = l->w1.cols;
        l->da = l->a1.cols;
        l->dg = l->g1.cols;
        l->dv = i > 0 ? l->v1.cols : 1;
        if ((st = transpose_lora(m, l, i > 0, &m->decode_bytes_saved)) != RWKV_OK) return st;
        int ds[4] = {l->dw, l->da, l->dg, l->dv};
        for (int j = 0; j < 4; j++)
            if (ds[j] > W->Dmax) W->Dmax = ds[j];
    }
    if ((st = alloc_scratch(m, W)) != RWKV_OK) return st;
    m->info.head_size = W->N;
    m->info.n_head = W->H;
    m->info.n_ffn = W->F;
    m->state_floats = (size_t)L * ((size_t)2 * C + (size_t)W->H * W->N * W->N);
    return RWKV_OK;
}

/* Official state-tuning file: blocks.i.att.time_state [H][N][N] copied as is (RWKV7.md). */
static rwkv_status v7_state_tuning(const rwkv_model *m, const rwkv_tensor_file *tf, float *state) {
    const v7_weights *W = m->weights;
    return rwkv_w_state_tuning(tf, state, m->L, m->C, W->H, W->N, 0);
}

/* ---- forward ------------------------------------------------------------------------------ */

/* Runs T rows (T <= seq_chunk) from m->x (already embedded, LayerNorm'd by ln0) through every
 * layer; leaves the final residual stream in m->x. The rows are nseg runs of consecutive tokens,
 * each of its own sequence/state (one run for a prompt chunk; one row per sequence for a batched
 * decode step). Every product over the chunk is one matrix-matrix product over all rows, so the
 * weights are read once for every sequence; products that share an input step run as one
 * parallel batch. Only token shift and the WKV recurrence look at the segments.
 * State per layer: [att_prev: C][ffn_prev: C][S: H][N][N]. */
static void forward_layers(rwkv_model *m, const rwkv_seg *seg, int nseg, int T) {
    const v7_weights *W = m->weights;
    const v7_scratch *s = &W->sc;
    const int C = m->C, H = W->H, N = W->N;
    const size_t per_layer = (size_t)2 * C + (size_t)H * N * N;
    rwkv_backend *be = m->be;
    const rwkv_backend_ops *op = be->ops;
    const rwkv_operand xa = rwkv_rows(m->xa, C), prev = rwkv_rows(s->prev, C), none = rwkv_none();

    for (int li = 0; li < m->L; li++) {
        const v7_layer *l = &W->layers[li];
        const size_t lo = (size_t)li * per_layer; /* layer offset: [att_prev][ffn_prev][S] */

        /* ---- time mix: the six token-shift mixes x + (prev − x)·mix ---- */
        op->norm(be, m->x, m->xa, l->ln1_w, l->ln1_b, T, C, C, RWKV_LN_EPS);
        op->shift(be, m->xa, s->prev, T, C, lo, seg, nseg);
        const struct { rwkv_ptr out, mix; } mixes[6] = {{s->xr, l->x_r}, {s->xw, l->x_w}, {s->xk, l->x_k},
                                                        {s->xv, l->x_v}, {s->xA, l->x_a}, {s->xg, l->x_g}};
        for (int j = 0; j < 6; j++)
            op->ew(be, RWKV_EW_LERP, T, C, mixes[j].out, C, xa, prev, rwkv_vec(mixes[j].mix), none);

        /* r = Wr xr, k = Wk xk, v = Wv xv and the first low-rank factors, in one step */
        const rwkv_linear_job first[7] = {
            {.W = &l->Wr, .X = s->xr, .Y = s->r},
            {.W = &l->Wk, .X = s->xk, .Y = s->k},
            {.W = &l->Wv, .X = s->xv, .Y = s->v},
            {.W = &l->w1, .X = s->xw, .Y = s->lw, .transposed = l->lora_t},
            {.W = &l->a1, .X = s->xA, .Y = s->la, .transposed = l->lora_t},
            {.W = &l->g1, .X = s->xg, .Y = s->lg, .transposed = l->lora_t},
            {.W = &l->v1, .X = s->xv, .Y = s->lv, .transposed = l->lora_t},
        };
        op->linear(be, first, li > 0 ? 7 : 6, T);
        op->act(be, RWKV_ACT_TANH, s->lw, rwkv_ptr_null(), s->lw, T, l->dw);
        op->act(be, RWKV_ACT_SIGMOID, s->lg, rwkv_ptr_null(), s->lg, T, l->dg);
        const rwkv_linear_job second[4] = {
            {.W = &l->w2, .X = s->lw, .Y = s->w, .transposed = l->lora_t},
            {.W = &l->a2, .X = s->la, .Y = s->a, .transposed = l->lora_t},
            {.W = &l->g2, .X = s->lg, .Y = s->g, .transposed = l->lora_t},
            {.W = &l->v2, .X = s->lv, .Y = s->y, .transposed = l->lora_t},
        };
        op->linear(be, second, li > 0 ? 4 : 3, T);
        /* w = exp(−e^{−0.5}·σ(w0 + tanh(xw·w1)·w2));  a = σ(a0 + (xa·a1)·a2);  g = σ(xg·g1)·g2 */
        op->act(be, RWKV_ACT_DECAY7, s->w, l->w0, s->w, T, C);
        op->act(be, RWKV_ACT_SIGMOID, s->a, l->a0, s->a, T, C);

        /* kk = normalize_per_head(k·k_k);  k = k·(1 + (a − 1)·k_a) */
        op->ew(be, RWKV_EW_MUL, T, C, s->kk, C, rwkv_rows(s->k, C), rwkv_vec(l->k_k), none, none);
        op->l2norm(be, s->kk, s->kk, T, C, N);
        op->ew(be, RWKV_EW_K7, T, C, s->k, C, rwkv_rows(s->k, C), rwkv_rows(s->a, C), rwkv_vec(l->k_a), none);

        /* value residual: layer 0 remembers v, later layers mix towards it:
         * v = v + (v_first − v)·σ(v0 + (xv·v1)·v2) */
        if (li == 0) {
            op->ew(be, RWKV_EW_COPY, T, C, s->vf, C, rwkv_rows(s->v, C), none, none, none);
        } else {
            op->act(be, RWKV_ACT_SIGMOID, s->y, l->v0, s->y, T, C);
            op->ew(be, RWKV_EW_LERP, T, C, s->v, C, rwkv_rows(s->v, C), rwkv_rows(s->vf, C), rwkv_rows(s->y, C), none);
        }

        /* y = (GroupNorm(WKV) + (Σ r·k·r_k)·v per head)·g, then x += Wo y */
        op->wkv7(be, lo + 2 * (size_t)C, s->r, s->w, s->k, s->v, s->kk, s->a, s->y, T, H, N, l->lnx_w, l->lnx_b,
                 RWKV_GN_EPS, l->r_k, s->g, seg, nseg);
        const rwkv_linear_job out = {.W = &l->Wo, .X = s->y, .Y = s->xr, .epilogue = RWKV_EPI_ADD, .acc = m->x};
        op->linear(be, &out, 1, T);

        /* ---- channel mix: x += Wv·relu(Wk·lerp(xf, prev, x_k))² ---- */
        op->norm(be, m->x, m->xa, l->ln2_w, l->ln2_b, T, C, C, RWKV_LN_EPS);
        op->shift(be, m->xa, s->prev, T, C, lo + (size_t)C, seg, nseg);
        op->ew(be, RWKV_EW_LERP, T, C, s->xk, C, xa, prev, rwkv_vec(l->ffn_x_k), none);
        const rwkv_linear_job key = {.W = &l->ffn_key, .X = s->xk, .Y = s->ffn, .epilogue = RWKV_EPI_RELU_SQ};
        op->linear(be, &key, 1, T);
        const rwkv_linear_job val = {.W = &l->ffn_value, .X = s->ffn, .Y = s->xr, .epilogue = RWKV_EPI_ADD, .acc = m->x};
        op->linear(be, &val, 1, T);
    }
}

const rwkv_gen rwkv_gen_v7 = {
    .generation = "7",
    .family = "RWKV-7",
    .needs = RWKV_NEED_WKV7,
    .detect = v7_detect,
    .layer_keys = v7_keys,
    .n_layer_keys = sizeof v7_keys / sizeof v7_keys[0],
    .load = v7_load,
    .free = v7_free,
    .state_tuning = v7_state_tuning,
    .forward = forward_layers,
};
