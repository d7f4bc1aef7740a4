/* weights.c — the loader plumbing every generation uses (see weights.h). */
#include "weights.h"
#include "types/quant.h"

#include <sys/mman.h>

#include <stdio.h>
#include <stdlib.h>

rwkv_status rwkv_model_tensor(const rwkv_model *m, const char *name, int n_dims, const int64_t *dims,
                              const rwkv_tensor **out) {
    *out = NULL;
    const rwkv_tensor *t = rwkv_tensor_file_find(&m->file, name);
    if (!t) return rwkv_fail(RWKV_ERR_SHAPE, "tensor '%s' is missing", name);
    /* Leading size-1 dims are tolerated on both sides ([1,1,C] == [C]). */
    int td = t->n_dims, wd = n_dims;
    const int64_t *ts = t->shape;
    while (td > 0 && ts[0] == 1 && td > wd) { ts++; td--; }
    while (wd > 0 && dims[0] == 1 && wd > td) { dims++; wd--; }
    bool ok = td == wd;
    for (int i = 0; ok && i < td; i++) ok = dims[i] < 0 || dims[i] == ts[i];
    if (!ok) {
        char got[96] = "", want[96] = "";
        for (int i = 0; i < t->n_dims; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "",
                     (long long)t->shape[i]);
        for (int i = 0; i < wd; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? "," : "",
                     (long long)dims[i]);
        return rwkv_fail(RWKV_ERR_SHAPE, "tensor '%s' has shape [%s], expected [%s]", name, got, want);
    }
    *out = t;
    return RWKV_OK;
}

rwkv_status rwkv_model_tensorf(const rwkv_model *m, const rwkv_tensor **out, int n_dims,
                               const int64_t *dims, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return rwkv_model_tensor(m, name, n_dims, dims, out);
}

bool rwkv_w_own(rwkv_model *m, void *p) {
    if (!p) return false;
    rwkv_owned *o = &m->host;
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        void **q = realloc(o->p, cap * sizeof *q);
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

float *rwkv_w_alloc(rwkv_model *m, size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return rwkv_w_own(m, p) ? p : NULL;
}

/* Keeps a backend allocation until the model is freed (frees it on failure). */
static rwkv_status keep_mem(rwkv_model *m, rwkv_ptr p) {
    if (m->n_mems == m->cap_mems) {
        size_t cap = m->cap_mems ? 2 * m->cap_mems : 64;
        rwkv_ptr *q = realloc(m->mems, cap * sizeof *q);
        if (!q) {
            m->be->ops->mem_free(m->be, p);
            return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
        }
        m->mems = q;
        m->cap_mems = cap;
    }
    m->mems[m->n_mems++] = p;
    return RWKV_OK;
}

rwkv_status rwkv_w_scratch(rwkv_model *m, size_t n, rwkv_ptr *out) {
    size_t bytes;
    if (!rwkv_mul_ok(n ? n : 1, sizeof(float), &bytes))
        return rwkv_fail(RWKV_ERR_NOMEM, "scratch of %zu floats is too large", n);
    rwkv_status st = m->be->ops->alloc(m->be, bytes, out);
    return st == RWKV_OK ? keep_mem(m, *out) : st;
}

rwkv_status rwkv_w_put(rwkv_model *m, const float *host, size_t n, rwkv_ptr *out) {
    if (m->bi.host_memory) {
        *out = rwkv_ptr_host(host);
        return RWKV_OK;
    }
    rwkv_status st = rwkv_w_scratch(m, n, out);
    return st == RWKV_OK ? m->be->ops->upload(m->be, *out, host, n * sizeof(float)) : st;
}

rwkv_status rwkv_w_vecd_host(rwkv_model *m, float **out, int n_dims, const int64_t *dims, const char *fmt, int i) {
    const rwkv_tensor *t;
    rwkv_status st = rwkv_model_tensorf(m, &t, n_dims, dims, fmt, i);
    if (st == RWKV_ERR_SHAPE && t == NULL) {
        /* the same number of elements in another layout ([C] for [H,N], [C,1], ...) */
        char name[128];
        snprintf(name, sizeof name, fmt, i);
        const rwkv_tensor *u = rwkv_tensor_file_find(&m->file, name);
        size_t want = 1;
        for (int d = 0; d < n_dims; d++) want *= (size_t)dims[d];
        if (u && u->numel == want) {
            t = u;
            st = RWKV_OK;
        }
    }
    if (st != RWKV_OK) return st;
    *out = rwkv_w_alloc(m, t->numel);
    if (!*out) return RWKV_ERR_NOMEM;
    rwkv_convert_to_f32(t->dtype, t->data, *out, t->numel);
    return RWKV_OK;
}

rwkv_status rwkv_w_vec_host(rwkv_model *m, float **out, int64_t n, const char *fmt, int i) {
    const int64_t dims[1] = {n};
    return rwkv_w_vecd_host(m, out, 1, dims, fmt, i);
}

rwkv_status rwkv_w_vecd(rwkv_model *m, rwkv_ptr *out, int n_dims, const int64_t *dims, const char *fmt, int i) {
    float *h;
    rwkv_status st = rwkv_w_vecd_host(m, &h, n_dims, dims, fmt, i);
    if (st != RWKV_OK) return st;
    size_t n = 1;
    for (int d = 0; d < n_dims; d++) n *= (size_t)dims[d];
    return rwkv_w_put(m, h, n, out);
}

rwkv_status rwkv_w_vec(rwkv_model *m, rwkv_ptr *out, int64_t n, const char *fmt, int i) {
    const int64_t dims[1] = {n};
    return rwkv_w_vecd(m, out, 1, dims, fmt, i);
}

rwkv_status rwkv_w_vecs(rwkv_model *m, void *layer, const rwkv_w_vec_field *f, size_t n, int i) {
    rwkv_status st = RWKV_OK;
    for (size_t j = 0; st == RWKV_OK && j < n; j++) {
        char fmt[96];
        snprintf(fmt, sizeof fmt, "blocks.%%d.%s", f[j].key);
        st = rwkv_w_vec(m, (rwkv_ptr *)((char *)layer + f[j].off), m->C, fmt, i);
    }
    return st;
}

rwkv_status rwkv_w_bind(rwkv_model *m, rwkv_weight *w, int64_t rows, int64_t cols, const char *fmt, int i) {
    const rwkv_tensor *t;
    const int64_t dims[2] = {rows, cols};
    rwkv_status st = rwkv_model_tensorf(m, &t, 2, dims, fmt, i);
    if (st != RWKV_OK) return st;
    if (t->shape[0] < 1 || t->shape[1] < 1 || t->shape[0] > (1 << 24) || t->shape[1] > (1 << 24))
        return rwkv_fail(RWKV_ERR_SHAPE, "tensor '%s' has an unusable shape", t->name);
    *w = (rwkv_weight){.dtype = t->dtype, .rows = (int)t->shape[0], .cols = (int)t->shape[1], .data = t->data};
    return RWKV_OK;
}

rwkv_status rwkv_w_mat(rwkv_model *m, rwkv_weight *w, int64_t rows, int64_t cols, const char *fmt, int i) {
    rwkv_status st = rwkv_w_bind(m, w, rows, cols, fmt, i);
    return st == RWKV_OK ? rwkv_w_place(m, w) : st;
}

/* Records the whole pages of [a, b) inside the file mapping as released and drops them from the
 * process (a read-only file mapping: they come back from the file if ever read). */
static void release_pages(rwkv_model *m, uintptr_t a, uintptr_t b) {
    const uintptr_t lo = (uintptr_t)m->file.map.data, hi = lo + m->file.map.size;
    const uintptr_t pg = 4096, a2 = (a + pg - 1) & ~(pg - 1), b2 = b & ~(pg - 1);
    if (!lo || a < lo || b > hi || a2 >= b2) return;
    if (m->n_released == m->cap_released) {
        size_t cap = m->cap_released ? 2 * m->cap_released : 64;
        uintptr_t *s = realloc(m->released, 2 * cap * sizeof *s);
        if (!s) return; /* not recorded: keep the pages */
        m->released = s;
        m->cap_released = cap;
    }
    madvise((void *)a2, b2 - a2, MADV_DONTNEED);
    m->released[2 * m->n_released] = a2;
    m->released[2 * m->n_released + 1] = b2;
    m->n_released++;
}

rwkv_status rwkv_w_place(rwkv_model *m, rwkv_weight *w) {
    rwkv_status st = m->be->ops->weight(m->be, w);
    if (st != RWKV_OK) return st;
    if (w->data_unused) {
        const uintptr_t a = (uintptr_t)w->data;
        release_pages(m, a, a + rwkv_dtype_row_bytes(w->dtype, (size_t)w->cols) * (size_t)w->rows);
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

rwkv_status rwkv_w_load_base(rwkv_model *m) {
    const rwkv_tensor *t;
    const int64_t any2[2] = {-1, -1};
    rwkv_status st = rwkv_model_tensor(m, "emb.weight", 2, any2, &t);
    if (st != RWKV_OK) return st;
    if (t->shape[0] < 1 || t->shape[0] > (1 << 24) || t->shape[1] < 1 || t->shape[1] > (1 << 16))
        return rwkv_fail(RWKV_ERR_SHAPE, "emb.weight has an unusable shape");
    m->V = (int)t->shape[0];
    m->C = (int)t->shape[1];
    m->emb = (rwkv_weight){.dtype = t->dtype, .rows = m->V, .cols = m->C, .data = t->data};
    int L = 0;
    while (L < 100000) {
        char name[64];
        snprintf(name, sizeof name, "blocks.%d.ln1.weight", L);
        if (!rwkv_tensor_file_find(&m->file, name)) break;
        L++;
    }
    if (L == 0) return rwkv_fail(RWKV_ERR_SHAPE, "no layers (blocks.0.ln1.weight is missing)");
    m->L = L;
    for (size_t i = 0; i < m->file.n_tensors; i++)
        if (!known_key(m->file.tensors[i].name, L, m->gen->layer_keys, m->gen->n_layer_keys))
            return rwkv_fail(RWKV_ERR_SHAPE, "unexpected tensor '%s' in an %s checkpoint", m->file.tensors[i].name,
                             m->gen->family);
    if ((st = rwkv_w_place(m, &m->emb)) || (st = rwkv_w_vec(m, &m->ln0_w, m->C, "blocks.%d.ln0.weight", 0)) ||
        (st = rwkv_w_vec(m, &m->ln0_b, m->C, "blocks.%d.ln0.bias", 0)) ||
        (st = rwkv_w_vec(m, &m->lnout_w, m->C, "ln_out.weight", 0)) ||
        (st = rwkv_w_vec(m, &m->lnout_b, m->C, "ln_out.bias", 0)) ||
        (st = rwkv_w_mat(m, &m->head, m->V, m->C, "head.weight", 0)))
        return st;
    m->info.n_layer = L;
    m->info.n_embd = m->C;
    m->info.n_vocab = m->V;
    return RWKV_OK;
}

rwkv_status rwkv_w_state_tuning(const rwkv_tensor_file *tf, float *state, int L, int C, int H, int N,
                                int transpose) {
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
        if (!transpose) {
            rwkv_convert_to_f32(t->dtype, t->data, S, t->numel);
        } else { /* S[h][key c][value a] = time_state[h][a][c] */
            for (int h = 0; h < H; h++)
                for (int a = 0; a < N; a++)
                    for (int c = 0; c < N; c++)
                        S[((size_t)h * N + c) * N + a] = rwkv_load_elem(t->dtype, t->data, ((size_t)h * N + a) * N + c);
        }
        found++;
    }
    if (found != (size_t)L)
        return rwkv_fail(RWKV_ERR_SHAPE, "state file has time_state for %zu of %d layers", found, L);
    return RWKV_OK;
}

void rwkv_w_channel_mix(rwkv_model *m, const rwkv_w_cmix *w, const rwkv_w_cmix_scratch *s, size_t ffn_off,
                        const rwkv_seg *seg, int nseg, int T) {
    const rwkv_backend_ops *op = m->be->ops;
    rwkv_backend *be = m->be;
    const int C = m->C, F = w->Wk->rows;
    op->norm(be, m->x, m->xa, w->ln_w, w->ln_b, T, C, C, RWKV_LN_EPS);
    op->shift(be, m->xa, s->prev, T, C, ffn_off, seg, nseg);
    op->ew(be, RWKV_EW_MIX, T, C, s->xk, C, rwkv_rows(m->xa, C), rwkv_rows(s->prev, C), rwkv_vec(w->mix_k), rwkv_none());
    op->ew(be, RWKV_EW_MIX, T, C, s->xr, C, rwkv_rows(m->xa, C), rwkv_rows(s->prev, C), rwkv_vec(w->mix_r), rwkv_none());
    const rwkv_linear_job first[2] = {
        {.W = w->Wr, .X = s->xr, .Y = s->r},
        {.W = w->Wk, .X = s->xk, .Y = s->ffn, .epilogue = RWKV_EPI_RELU_SQ},
    };
    op->linear(be, first, 2, T);
    const rwkv_linear_job value = {.W = w->Wv, .X = s->ffn, .Y = s->y};
    op->linear(be, &value, 1, T);
    op->ew(be, RWKV_EW_ADD_SIGMOID_MUL, T, C, m->x, C, rwkv_rows(m->x, C), rwkv_rows(s->r, C), rwkv_rows(s->y, C),
           rwkv_none());
    (void)F;
}
