/* weights.c — loader and eval plumbing shared by the RWKV-4/5/6 model files (see weights.h). */
#include "weights.h"
#include "backend/cpu/ops_quant.h"
#include "types/quant.h"

#include <sys/mman.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define LN_EPS 1e-5f

bool rwkv_w_own(rwkv_owned *o, float *p) {
    if (!p) return false;
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        float **q = realloc(o->p, cap * sizeof *q);
        if (!q) {
            free(p);
            rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
            return false;
        }
        o->p = q;
        o->cap = cap;
    }
    o->p[o->n++] = p;
    return true;
}

float *rwkv_w_alloc(rwkv_owned *o, size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return rwkv_w_own(o, p) ? p : NULL;
}

rwkv_status rwkv_w_vecd(rwkv_model *m, rwkv_owned *o, float **out, int n_dims, const int64_t *dims,
                        const char *fmt, int i) {
    const rwkv_tensor *t;
    rwkv_status st = rwkv_model_tensorf(m, &t, n_dims, dims, fmt, i);
    if (st != RWKV_OK) return st;
    *out = rwkv_tensor_to_f32(t);
    return rwkv_w_own(o, *out) ? RWKV_OK : RWKV_ERR_NOMEM;
}

rwkv_status rwkv_w_vec(rwkv_model *m, rwkv_owned *o, float **out, int64_t n, const char *fmt, int i) {
    const int64_t dims[1] = {n};
    return rwkv_w_vecd(m, o, out, 1, dims, fmt, i);
}

rwkv_status rwkv_w_mat(rwkv_model *m, rwkv_weight *w, int64_t rows, int64_t cols, const char *fmt, int i) {
    const rwkv_tensor *t;
    const int64_t dims[2] = {rows, cols};
    rwkv_status st = rwkv_model_tensorf(m, &t, 2, dims, fmt, i);
    if (st != RWKV_OK) return st;
    if (t->shape[0] < 1 || t->shape[1] < 1 || t->shape[0] > (1 << 24) || t->shape[1] > (1 << 24))
        return rwkv_fail(RWKV_ERR_SHAPE, "tensor '%s' has an unusable shape", t->name);
    w->dtype = t->dtype;
    w->rows = (int)t->shape[0];
    w->cols = (int)t->shape[1];
    w->data = t->data;
    w->packed = NULL;
    return rwkv_w_pack(m, w);
}

rwkv_status rwkv_w_pack(rwkv_model *m, rwkv_weight *w) {
    if (!m->ctx || !rwkv_dtype_is_quant(w->dtype) || !rwkv_ctx_packs_quant(m->ctx)) return RWKV_OK;
    if (m->n_packs == m->cap_packs) {
        size_t cap = m->cap_packs ? 2 * m->cap_packs : 64;
        void **p = realloc(m->packs, cap * sizeof *p);
        if (p) m->packs = p;
        uintptr_t *s = realloc(m->pack_spans, 2 * cap * sizeof *s);
        if (s) m->pack_spans = s;
        if (!p || !s) return RWKV_OK; /* no room to keep it: the file's layout serves */
        m->cap_packs = cap;
    }
    void *p = rwkv_ctx_quant_pack(m->ctx, w);
    if (!p) return RWKV_OK;
    uintptr_t *span = m->pack_spans + 2 * m->n_packs;
    m->packs[m->n_packs++] = p;
    w->packed = p;
    /* products now read the copy: let the kernel drop the file's pages of this matrix from
     * the process (a read-only file mapping: they come back from the file if ever read) */
    const uintptr_t lo = (uintptr_t)m->file.map.data, hi = lo + m->file.map.size;
    const uintptr_t a = (uintptr_t)w->data, b = a + rwkv_dtype_row_bytes(w->dtype, (size_t)w->cols) * (size_t)w->rows;
    const uintptr_t pg = 4096, a2 = (a + pg - 1) & ~(pg - 1), b2 = b & ~(pg - 1);
    span[0] = span[1] = 0;
    if (lo && a >= lo && b <= hi && a2 < b2) {
        madvise((void *)a2, b2 - a2, MADV_DONTNEED);
        span[0] = a2;
        span[1] = b2;
    }
    return RWKV_OK;
}

/* True if name is a top-level tensor of every generation or blocks.<i>.<one of per> with i < L. */
static bool known_key(const char *name, int L, const char *const *per, size_t n_per) {
    static const char *const top[] = {"emb.weight", "ln_out.weight", "ln_out.bias", "head.weight",
                                      "blocks.0.ln0.weight", "blocks.0.ln0.bias"};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (!strcmp(name, top[i])) return true;
    int i, pos = 0;
    if (sscanf(name, "blocks.%d.%n", &i, &pos) != 1 || pos == 0 || i < 0 || i >= L) return false;
    for (size_t j = 0; j < n_per; j++)
        if (!strcmp(name + pos, per[j])) return true;
    return false;
}

rwkv_status rwkv_w_load_base(rwkv_model *m, rwkv_base_weights *b, const char *const *per_layer, size_t n_per,
                             const char *family) {
    const rwkv_tensor *t;
    const int64_t any2[2] = {-1, -1};
    rwkv_status st = rwkv_model_tensor(m, "emb.weight", 2, any2, &t);
    if (st != RWKV_OK) return st;
    if (t->shape[0] < 1 || t->shape[0] > (1 << 24) || t->shape[1] < 1 || t->shape[1] > (1 << 16))
        return rwkv_fail(RWKV_ERR_SHAPE, "emb.weight has an unusable shape");
    b->emb = t;
    b->V = (int)t->shape[0];
    b->C = (int)t->shape[1];
    int L = 0;
    while (L < 100000) {
        char name[64];
        snprintf(name, sizeof name, "blocks.%d.ln1.weight", L);
        if (!rwkv_tensor_file_find(&m->file, name)) break;
        L++;
    }
    if (L == 0) return rwkv_fail(RWKV_ERR_SHAPE, "no layers (blocks.0.ln1.weight is missing)");
    b->L = L;
    for (size_t i = 0; i < m->file.n_tensors; i++)
        if (!known_key(m->file.tensors[i].name, L, per_layer, n_per))
            return rwkv_fail(RWKV_ERR_SHAPE, "unexpected tensor '%s' in an %s checkpoint", m->file.tensors[i].name,
                             family);
    if ((st = rwkv_w_vec(m, &b->owned, &b->ln0_w, b->C, "blocks.%d.ln0.weight", 0)) ||
        (st = rwkv_w_vec(m, &b->owned, &b->ln0_b, b->C, "blocks.%d.ln0.bias", 0)) ||
        (st = rwkv_w_vec(m, &b->owned, &b->lnout_w, b->C, "ln_out.weight", 0)) ||
        (st = rwkv_w_vec(m, &b->owned, &b->lnout_b, b->C, "ln_out.bias", 0)) ||
        (st = rwkv_w_mat(m, &b->head, b->V, b->C, "head.weight", 0)))
        return st;
    return RWKV_OK;
}

void rwkv_w_base_free(rwkv_base_weights *b) {
    for (size_t i = 0; i < b->owned.n; i++) free(b->owned.p[i]);
    free(b->owned.p);
    b->owned = (rwkv_owned){0};
}

rwkv_status rwkv_w_eval(rwkv_model *m, const rwkv_base_weights *b, float *x, float *xa, int cap,
                        rwkv_forward_fn forward, float *state, const int32_t *tokens, size_t n, float *logits,
                        unsigned flags) {
    const int C = b->C;
    const size_t row_bytes = (size_t)C * rwkv_dtype_size(b->emb->dtype);
    const bool all = flags & RWKV_EVAL_ALL_LOGITS;
    const size_t chunk = (flags & RWKV_EVAL_SERIAL) ? 1 : (size_t)cap;
    for (size_t done = 0; done < n;) {
        int T = (int)(n - done < chunk ? n - done : chunk);
        for (int t = 0; t < T; t++)
            rwkv_convert_to_f32(b->emb->dtype, (const char *)b->emb->data + (size_t)tokens[done + t] * row_bytes,
                                x + (size_t)t * C, (size_t)C);
        rwkv_op_layernorm(x, x, b->ln0_w, b->ln0_b, T, C, LN_EPS);
        forward(m, state, T);
        if (logits && (all || done + (size_t)T == n)) {
            int first = all ? 0 : T - 1;
            int nrows = T - first;
            rwkv_op_layernorm(x + (size_t)first * C, xa, b->lnout_w, b->lnout_b, nrows, C, LN_EPS);
            float *dst = all ? logits + done * (size_t)b->V : logits;
            rwkv_op_linear(m->ctx, &b->head, xa, dst, nrows);
        }
        done += (size_t)T;
    }
    return RWKV_OK;
}

rwkv_status rwkv_w_state_tuning_kv(const rwkv_tensor_file *tf, float *state, int L, int C, int H, int N) {
    const size_t per_layer = (size_t)2 * C + (size_t)H * N * N;
    size_t found = 0;
    for (size_t i = 0; i < tf->n_tensors; i++) {
        const rwkv_tensor *t = &tf->tensors[i];
        int layer, pos = 0;
        if (sscanf(t->name, "blocks.%d.att.time_state%n", &layer, &pos) != 1 || t->name[pos] != 0) continue;
        if (layer < 0 || layer >= L)
            return rwkv_fail(RWKV_ERR_SHAPE, "'%s': layer out of range (model has %d layers)", t->name, L);
        bool shape_ok = t->numel == (size_t)H * N * N && t->n_dims >= 2 && t->shape[t->n_dims - 1] == N &&
                        t->shape[t->n_dims - 2] == N;
        if (!shape_ok) return rwkv_fail(RWKV_ERR_SHAPE, "'%s' does not have shape [%d,%d,%d]", t->name, H, N, N);
        float *S = state + (size_t)layer * per_layer + 2 * (size_t)C;
        /* S[h][key c][value a] = time_state[h][a][c] */
        for (int h = 0; h < H; h++)
            for (int a = 0; a < N; a++)
                for (int c = 0; c < N; c++)
                    S[((size_t)h * N + c) * N + a] = rwkv_load_elem(t->dtype, t->data, ((size_t)h * N + a) * N + c);
        found++;
    }
    if (found != (size_t)L)
        return rwkv_fail(RWKV_ERR_SHAPE, "state file has time_state for %zu of %d layers", found, L);
    return RWKV_OK;
}

void rwkv_w_token_mix(const float *cur, const float *last, const float *mix, float *out, int T, int C) {
    for (int t = 0; t < T; t++) {
        const float *c = cur + (size_t)t * C;
        const float *p = t ? c - C : last;
        float *o = out + (size_t)t * C;
        for (int i = 0; i < C; i++) o[i] = c[i] * mix[i] + p[i] * (1.0f - mix[i]);
    }
}

void rwkv_w_channel_mix(rwkv_ctx *ctx, const rwkv_w_cmix *w, float *x, float *ffn_prev, float *xa,
                        float *xk, float *xr, float *r, float *y, float *ffn, int T, int C) {
    const size_t TC = (size_t)T * C, TF = (size_t)T * w->Wk->rows;
    rwkv_op_layernorm(x, xa, w->ln_w, w->ln_b, T, C, LN_EPS);
    rwkv_w_token_mix(xa, ffn_prev, w->mix_k, xk, T, C);
    rwkv_w_token_mix(xa, ffn_prev, w->mix_r, xr, T, C);
    memcpy(ffn_prev, xa + TC - C, (size_t)C * sizeof(float));
    rwkv_op_linear(ctx, w->Wr, xr, r, T);
    rwkv_op_linear(ctx, w->Wk, xk, ffn, T);
    for (size_t i = 0; i < TF; i++) {
        float q = ffn[i] > 0.0f ? ffn[i] : 0.0f;
        ffn[i] = q * q;
    }
    rwkv_op_linear(ctx, w->Wv, ffn, y, T);
    for (size_t i = 0; i < TC; i++) x[i] += (1.0f / (1.0f + expf(-r[i]))) * y[i];
}
