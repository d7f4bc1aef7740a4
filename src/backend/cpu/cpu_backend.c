/* cpu_backend.c — the CPU backend: the seam's ops (backend/backend.h) over the execution context of
 * ops.h. Memory is host memory (rwkv_ptr are host pointers), weights stay where the loader put
 * them (the file mapping or owned copies), except block-quantized matrices that the integer path
 * reads in a packed layout. */
#include "ops.h"
#include "types/quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cpu_backend {
    rwkv_backend base;
    rwkv_ctx *ctx;
    int planning;
    void **owned;       /* packed weight copies */
    size_t n_owned, cap_owned;
} cpu_backend;

static cpu_backend *cpu(rwkv_backend *be) { return (cpu_backend *)be; }
static float *H(rwkv_ptr p) { return rwkv_ptr_to_host(p); }

static void cpu_free(rwkv_backend *be) {
    cpu_backend *c = cpu(be);
    rwkv_ctx_free(c->ctx);
    for (size_t i = 0; i < c->n_owned; i++) free(c->owned[i]);
    free(c->owned);
    free(c);
}

static void cpu_info(const rwkv_backend *be, rwkv_backend_info *out) {
    cpu_backend *c = (cpu_backend *)be;
    *out = (rwkv_backend_info){.name = "cpu",
                               .device = rwkv_ctx_describe(c->ctx),
                               .quant_products = rwkv_ctx_quant_products(c->ctx),
                               .prefill_products = rwkv_ctx_prefill_products(c->ctx),
                               .default_chunk = rwkv_ctx_default_chunk(c->ctx),
                               .host_memory = 1};
}

static rwkv_status cpu_set_threads(rwkv_backend *be, int n) { return rwkv_ctx_set_threads(cpu(be)->ctx, n); }

static rwkv_status cpu_alloc(rwkv_backend *be, size_t bytes, rwkv_ptr *out) {
    void *p = rwkv_aligned_alloc(64, bytes ? bytes : 1);
    if (!p) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory (%zu bytes)", bytes);
    memset(p, 0, bytes);
    *out = rwkv_ptr_host(p);
    (void)be;
    return RWKV_OK;
}

static void cpu_mem_free(rwkv_backend *be, rwkv_ptr p) {
    free(H(p));
    (void)be;
}

static rwkv_status cpu_upload(rwkv_backend *be, rwkv_ptr dst, const void *src, size_t bytes) {
    if (bytes) memmove(H(dst), src, bytes);
    (void)be;
    return RWKV_OK;
}

static rwkv_status cpu_download(rwkv_backend *be, void *dst, rwkv_ptr src, size_t bytes) {
    if (bytes) memmove(dst, H(src), bytes);
    (void)be;
    return RWKV_OK;
}

static void cpu_copy(rwkv_backend *be, rwkv_ptr dst, rwkv_ptr src, size_t bytes) {
    if (!cpu(be)->planning && bytes) memmove(H(dst), H(src), bytes);
}

static rwkv_status cpu_weight(rwkv_backend *be, rwkv_weight *w) {
    cpu_backend *c = cpu(be);
    w->mem = rwkv_ptr_host(w->data);
    w->packed = NULL;
    w->data_unused = 0;
    if (!rwkv_dtype_is_quant(w->dtype)) return RWKV_OK;
    if (c->n_owned == c->cap_owned) {
        size_t cap = c->cap_owned ? 2 * c->cap_owned : 64;
        void **p = realloc(c->owned, cap * sizeof *p);
        if (!p) return RWKV_OK; /* no room to keep a copy: the file's layout serves */
        c->owned = p;
        c->cap_owned = cap;
    }
    void *p = rwkv_ctx_quant_pack(c->ctx, w);
    if (!p) return RWKV_OK;
    c->owned[c->n_owned++] = p;
    w->packed = p;
    w->data_unused = 1; /* products read the copy from now on */
    return RWKV_OK;
}

static void cpu_plan_begin(rwkv_backend *be) {
    cpu(be)->planning = 1;
    rwkv_ctx_plan_begin(cpu(be)->ctx);
}

static rwkv_status cpu_plan_end(rwkv_backend *be) {
    cpu(be)->planning = 0;
    return rwkv_ctx_plan_end(cpu(be)->ctx);
}

static void cpu_embed(rwkv_backend *be, const rwkv_weight *emb, const int32_t *tokens, int T, rwkv_ptr x) {
    if (cpu(be)->planning) return;
    const size_t C = (size_t)emb->cols, row = rwkv_dtype_row_bytes(emb->dtype, C);
    for (int t = 0; t < T; t++)
        rwkv_convert_to_f32(emb->dtype, (const char *)emb->data + (size_t)tokens[t] * row, H(x) + (size_t)t * C, C);
}

static void cpu_linear(rwkv_backend *be, const rwkv_linear_job *jobs, int n, int T) {
    rwkv_op_linear_batch(cpu(be)->ctx, jobs, n, T);
}

static void cpu_norm(rwkv_backend *be, rwkv_ptr x, rwkv_ptr y, rwkv_ptr g, rwkv_ptr b, int T, int n, int gs,
                     float eps) {
    rwkv_op_norm(cpu(be)->ctx, H(x), H(y), H(g), H(b), T, n, gs, eps);
}

static void cpu_l2norm(rwkv_backend *be, rwkv_ptr x, rwkv_ptr y, int T, int n, int gs) {
    rwkv_op_l2norm(cpu(be)->ctx, H(x), H(y), T, n, gs);
}

static void cpu_act(rwkv_backend *be, rwkv_act kind, rwkv_ptr x, rwkv_ptr bias, rwkv_ptr y, int T, int n) {
    rwkv_op_act(cpu(be)->ctx, kind, H(x), H(bias), H(y), T, n);
}

static void cpu_ew(rwkv_backend *be, rwkv_ew_kind kind, int T, int n, rwkv_ptr y, int ldy, rwkv_operand a,
                   rwkv_operand b, rwkv_operand c, rwkv_operand d) {
    rwkv_op_ew(cpu(be)->ctx, kind, T, n, H(y), ldy, a, b, c, d);
}

static void cpu_shift(rwkv_backend *be, rwkv_ptr cur, rwkv_ptr prev, int T, int C, size_t state_off,
                      const rwkv_seg *seg, int nseg) {
    rwkv_op_shift(cpu(be)->ctx, H(cur), H(prev), T, C, state_off, seg, nseg);
}

static void cpu_wkv7(rwkv_backend *be, size_t state_off, rwkv_ptr r, rwkv_ptr w, rwkv_ptr k, rwkv_ptr v,
                     rwkv_ptr kk, rwkv_ptr a, rwkv_ptr y, int T, int H_, int N, rwkv_ptr ln_w, rwkv_ptr ln_b,
                     float eps, rwkv_ptr r_k, rwkv_ptr g, const rwkv_seg *seg, int nseg) {
    const size_t C = (size_t)H_ * N;
    for (int i = 0; i < nseg; i++) {
        const size_t o = (size_t)seg[i].start * C;
        rwkv_op_wkv7(cpu(be)->ctx, H(seg[i].state) + state_off, H(r) + o, H(w) + o, H(k) + o, H(v) + o,
                     H(kk) + o, H(a) + o, H(y) + o, seg[i].len, H_, N, H(ln_w), H(ln_b), eps, H(r_k),
                     H(g) + o);
    }
    (void)T;
}

static void cpu_wkv5(rwkv_backend *be, size_t state_off, rwkv_ptr r, rwkv_ptr w, int w_per_token, rwkv_ptr k,
                     rwkv_ptr v, rwkv_ptr u, rwkv_ptr y, int T, int H_, int N, const rwkv_seg *seg, int nseg) {
    const size_t C = (size_t)H_ * N;
    for (int i = 0; i < nseg; i++) {
        const size_t o = (size_t)seg[i].start * C;
        rwkv_op_wkv5(cpu(be)->ctx, H(seg[i].state) + state_off, H(r) + o, H(w) + (w_per_token ? o : 0),
                     w_per_token, H(k) + o, H(v) + o, H(u), H(y) + o, seg[i].len, H_, N);
    }
    (void)T;
}

static void cpu_wkv4(rwkv_backend *be, size_t state_off, rwkv_ptr u, rwkv_ptr w, rwkv_ptr k, rwkv_ptr v,
                     rwkv_ptr y, int T, int C, const rwkv_seg *seg, int nseg) {
    for (int i = 0; i < nseg; i++) {
        float *aa = H(seg[i].state) + state_off;
        const size_t o = (size_t)seg[i].start * C;
        rwkv_op_wkv4(cpu(be)->ctx, aa, aa + C, aa + 2 * (size_t)C, H(u), H(w), H(k) + o, H(v) + o, H(y) + o,
                     seg[i].len, C);
    }
    (void)T;
}

static rwkv_status cpu_sync(rwkv_backend *be) { return rwkv_ctx_take_error(cpu(be)->ctx); }

static const rwkv_backend_ops cpu_ops = {
    .free = cpu_free,
    .info = cpu_info,
    .set_threads = cpu_set_threads,
    .alloc = cpu_alloc,
    .mem_free = cpu_mem_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .copy = cpu_copy,
    .weight = cpu_weight,
    .plan_begin = cpu_plan_begin,
    .plan_end = cpu_plan_end,
    .embed = cpu_embed,
    .linear = cpu_linear,
    .norm = cpu_norm,
    .l2norm = cpu_l2norm,
    .act = cpu_act,
    .ew = cpu_ew,
    .shift = cpu_shift,
    .wkv7 = cpu_wkv7,
    .wkv5 = cpu_wkv5,
    .wkv4 = cpu_wkv4,
    .sync = cpu_sync,
};

rwkv_status rwkv_backend_cpu_new(const rwkv_backend_params *p, rwkv_backend **out) {
    *out = NULL;
    cpu_backend *c = calloc(1, sizeof *c);
    if (!c) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    c->base.ops = &cpu_ops;
    const rwkv_ctx_params cp = {.n_threads = p->n_threads, .force_scalar = p->force_scalar,
                                .prefill_bf16 = p->prefill_bf16, .quant_dot = p->quant_dot, .amx = p->amx};
    rwkv_status st = rwkv_ctx_new(&cp, &c->ctx);
    if (st != RWKV_OK) {
        free(c);
        return st;
    }
    *out = &c->base;
    return RWKV_OK;
}
