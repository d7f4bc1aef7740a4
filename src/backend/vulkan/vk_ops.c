/* vk_ops.c — the Vulkan backend's weights, plan and forward ops. Each op picks a shader
 * (shaders/NAME.comp) and its specialization, fills the shader's push constants (the structs below
 * mirror the GLSL blocks: 64-bit addresses first, then 32-bit fields) and appends a dispatch to
 * the op list (vk_device.c), with a barrier before it only where it touches memory that an op
 * since the last barrier wrote (or writes what one read). */
#include "vk.h"
#include "types/quant.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- push constants (each mirrors the `pc` block of its shader) ------------------------------ */

typedef struct pc_linear {            /* linear.glsl: mv, mm, mt */
    uint64_t wq, ws, wh, x, y, acc;
    int32_t rows, K, T, epi, vec;
} pc_linear;
typedef struct pc_embed {
    uint64_t wq, ws, wh, x, tok;
    int32_t rows, K;
} pc_embed;
typedef struct pc_act {
    uint64_t x, bias, y;
    int32_t T, n, kind, has_bias;
} pc_act;
typedef struct pc_ew {
    uint64_t y, a, b, c, d;
    int32_t ldy, lda, ldb, ldc, ldd, kind, T, n;
} pc_ew;
typedef struct pc_norm {
    uint64_t x, y, g, b;
    int32_t T, n, gs;
    float eps;
} pc_norm;
typedef struct pc_l2 {
    uint64_t x, y;
    int32_t T, n, gs;
} pc_l2;
typedef struct pc_shift {
    uint64_t cur, prev, segs, rowseg;
    int32_t T, C;
} pc_shift;
typedef struct pc_copy {
    uint64_t dst, src;
    uint32_t n;
    int32_t vec;
} pc_copy;
typedef struct pc_wkv7 {
    uint64_t r, w, k, v, kk, a, y, g, ln_w, ln_b, r_k, segs;
    int32_t C, out_steps;
    float eps;
} pc_wkv7;
typedef struct pc_wkv5 {
    uint64_t r, w, k, v, u, y, segs;
    int32_t C, w_per_token;
} pc_wkv5;
typedef struct pc_wkv4 {
    uint64_t u, w, k, v, y, segs;
    int32_t C;
} pc_wkv4;

static_assert(sizeof(pc_wkv7) <= VK_PC_BYTES, "push constants");
static_assert(sizeof(pc_linear) <= VK_PC_BYTES, "push constants");

/* A segment as the shaders read it (common.glsl: Seg). */
typedef struct seg_gpu {
    uint64_t state;                   /* the state address advanced by the op's offset */
    int32_t start, len;
} seg_gpu;

/* Workgroups per dimension a dispatch may ask for everywhere (Vulkan's minimum limit). */
#define GRID_MAX 65535u

static uint32_t ceil_div(uint64_t a, uint64_t b) { return (uint32_t)((a + b - 1) / b); }

/* ---- hazards and dispatch ---------------------------------------------------------------------- */

static int overlap(const vk_span *a, int na, const vk_span *b, int nb) {
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            if (a[i].n && b[j].n && a[i].a < b[j].a + b[j].n && b[j].a < a[i].a + a[i].n) return 1;
    return 0;
}

/* Sets op->barrier when the op reads or writes what an op since the last barrier wrote, or writes
 * what one read; then adds its spans to the pending ones. */
static void hazards(vk_backend *b, vk_op *op, const vk_span *rd, int nr, const vk_span *wr, int nw) {
    if (b->planning) return;
    int need = b->opt.full_barriers || overlap(rd, nr, b->pend_w, b->npend_w) || overlap(wr, nw, b->pend_w, b->npend_w) ||
               overlap(wr, nw, b->pend_r, b->npend_r) || b->npend_r + nr > VK_MAX_PENDING ||
               b->npend_w + nw > VK_MAX_PENDING;
    if (need) {
        op->barrier = 1;
        b->npend_r = b->npend_w = 0;
    }
    for (int i = 0; i < nr && b->npend_r < VK_MAX_PENDING; i++) b->pend_r[b->npend_r++] = rd[i];
    for (int i = 0; i < nw && b->npend_w < VK_MAX_PENDING; i++) b->pend_w[b->npend_w++] = wr[i];
}

/* Spans of an op: at most this many reads and writes are listed; an op touching more states
 * than fit marks every write (a full barrier before and after it). */
#define MAX_SPANS 24

typedef struct spans {
    vk_span r[MAX_SPANS], w[MAX_SPANS];
    int nr, nw, all;
} spans;

static void rd(spans *s, rwkv_ptr p, uint64_t floats) {
    if (s->nr < MAX_SPANS)
        s->r[s->nr++] = (vk_span){p.a, 4 * floats};
    else
        s->all = 1;
}
static void wr(spans *s, rwkv_ptr p, uint64_t floats) {
    if (s->nw < MAX_SPANS)
        s->w[s->nw++] = (vk_span){p.a, 4 * floats};
    else
        s->all = 1;
}

/* The first half of appending a dispatch of shader `name` (specialization spec) over gx × gy
 * workgroups: the op, with `step_bytes` of step data reserved at *step / *step_addr (when asked).
 * NULL when the op is skipped (an error is recorded). */
static vk_op *op_begin(vk_backend *b, const char *name, const int spec[4], uint32_t gx, uint32_t gy, size_t step_bytes,
                       void **step, uint64_t *step_addr) {
    if (gx == 0 || gy == 0) return NULL;
    if (gx > GRID_MAX || gy > GRID_MAX) {
        vk_set_error(b, RWKV_ERR_UNSUPPORTED, "Vulkan: a dispatch of %u x %u workgroups is too large (%s)", gx, gy, name);
        return NULL;
    }
    const int pipe = vk_pipeline(b, name, spec);
    if (pipe < 0) return NULL;
    vk_op *op = vk_op_new(b, step_bytes, step, step_addr);
    if (!op) return NULL;
    op->kind = VK_OP_DISPATCH;
    op->pipe = (uint32_t)pipe;
    op->grid[0] = gx;
    op->grid[1] = gy;
    op->grid[2] = 1;
    return op;
}

/* The second half: the push constants, and the barrier decision from the op's spans. */
static void op_end(vk_backend *b, vk_op *op, const void *pc, size_t pc_bytes, const spans *s) {
    memcpy(op->u.pc, pc, pc_bytes);
    if (s->all) {
        static const vk_span everything = {0, UINT64_MAX};
        hazards(b, op, &everything, 1, &everything, 1);
    } else {
        hazards(b, op, s->r, s->nr, s->w, s->nw);
    }
}

/* A dispatch without step data. */
static void dispatch(vk_backend *b, const char *name, const int spec[4], uint32_t gx, uint32_t gy, const void *pc,
                     size_t pc_bytes, const spans *s) {
    vk_op *op = op_begin(b, name, spec, gx, gy, 0, NULL, NULL);
    if (op) op_end(b, op, pc, pc_bytes, s);
}

static const int NO_SPEC[4] = {0, 0, 0, 0};

/* ---- weights -------------------------------------------------------------------------------------- */

/* Where each array of a weight lies on the device (wtype.glsl): fp types as in the file; block
 * types as codes (wq), scales (ws) and fifth bits (wh), each 16-byte aligned. */
typedef struct wlayout {
    uint64_t q_row;                   /* code bytes per row */
    uint64_t s_row;                   /* scale bytes per row (ws) */
    uint64_t h_row;                   /* fifth-bit bytes per row (wh) */
    uint64_t s_off, h_off, total;
} wlayout;

static uint64_t up16(uint64_t n) { return (n + 15) & ~(uint64_t)15; }

static int has_min(rwkv_dtype dt) { return dt == RWKV_DT_Q4_1 || dt == RWKV_DT_Q5_1; }
static int has_qh(rwkv_dtype dt) { return dt == RWKV_DT_Q5_0 || dt == RWKV_DT_Q5_1; }

static void weight_layout(rwkv_dtype dt, int rows, int cols, wlayout *L) {
    memset(L, 0, sizeof *L);
    const uint64_t R = (uint64_t)rows, K = (uint64_t)cols;
    if (!rwkv_dtype_is_quant(dt)) {
        L->q_row = K * rwkv_dtype_size(dt);
        L->total = R * L->q_row;
        return;
    }
    const uint64_t nb = K / rwkv_dtype_block(dt);
    L->q_row = dt == RWKV_DT_Q8_0 ? K : K / 2;
    L->s_row = nb * (has_min(dt) ? 4 : 2);
    L->h_row = has_qh(dt) ? nb * 4 : 0;
    L->s_off = up16(R * L->q_row);
    L->h_off = L->s_off + up16(R * L->s_row);
    L->total = L->h_off + R * L->h_row;
}

static const char *dt_suffix(rwkv_dtype dt) {
    switch (dt) {
    case RWKV_DT_F32: return "F32";
    case RWKV_DT_F16: return "F16";
    case RWKV_DT_BF16: return "BF16";
    case RWKV_DT_Q8_0: return "Q8_0";
    case RWKV_DT_Q4_0: return "Q4_0";
    case RWKV_DT_Q4_1: return "Q4_1";
    case RWKV_DT_Q5_0: return "Q5_0";
    case RWKV_DT_Q5_1: return "Q5_1";
    case RWKV_DT_IQ4_NL: return "IQ4_NL";
    case RWKV_DT_NF4: return "NF4";
    default: return NULL;
    }
}

/* The addresses of W's arrays. */
static void weight_arrays(const rwkv_weight *W, uint64_t *wq, uint64_t *ws, uint64_t *wh) {
    wlayout L;
    weight_layout(W->dtype, W->rows, W->cols, &L);
    *wq = W->mem.a;
    *ws = rwkv_dtype_is_quant(W->dtype) ? W->mem.a + L.s_off : 0;
    *wh = has_qh(W->dtype) ? W->mem.a + L.h_off : 0;
}

/* Rows [r0, r1) of a ggml-layout block matrix split into the three arrays (codes, scales, fifth
 * bits) of weight_layout, written at q, s and h (each for those rows only). */
static void split_blocks(rwkv_dtype dt, const unsigned char *src, int cols, int r0, int r1, unsigned char *q,
                         unsigned char *s, unsigned char *h) {
    const size_t qk = rwkv_dtype_block(dt), bb = rwkv_dtype_block_bytes(dt), nb = (size_t)cols / qk;
    const size_t nblocks = (size_t)(r1 - r0) * nb;
    const unsigned char *p = src + (size_t)r0 * nb * bb;
    const size_t qbytes = dt == RWKV_DT_Q8_0 ? 32 : dt == RWKV_DT_NF4 ? 32 : 16;
    for (size_t i = 0; i < nblocks; i++, p += bb) {
        /* every block starts with fp16 d (and m for the _1 types), then qh (q5), then the codes */
        const size_t head = has_min(dt) ? 4 : 2;
        memcpy(s + i * head, p, head);
        if (has_qh(dt)) memcpy(h + i * 4, p + head, 4);
        memcpy(q + i * qbytes, p + bb - qbytes, qbytes);
    }
}

#define REPACK_ROWS_BYTES (8u << 20) /* host memory for one piece of a repacked matrix */

static rwkv_status vk_weight(rwkv_backend *be, rwkv_weight *w) {
    vk_backend *b = (vk_backend *)be;
    w->mem = rwkv_ptr_null();
    w->packed = NULL;
    w->data_unused = 0;
    if (!dt_suffix(w->dtype) || w->rows <= 0 || w->cols <= 0)
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "Vulkan: weights of type %s are not supported", rwkv_dtype_name(w->dtype));
    if (rwkv_dtype_is_quant(w->dtype) && w->cols % (int)rwkv_dtype_block(w->dtype) != 0)
        return rwkv_fail(RWKV_ERR_SHAPE, "Vulkan: a %s matrix needs rows of whole blocks (%d columns)",
                         rwkv_dtype_name(w->dtype), w->cols);
    if ((uint64_t)w->rows * (uint64_t)w->cols >= (1ull << 32))
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "Vulkan: a %d x %d matrix is too large (2^32 elements at most)", w->rows,
                         w->cols);
    wlayout L;
    weight_layout(w->dtype, w->rows, w->cols, &L);
    uint64_t a = 0;
    rwkv_status st = vk_alloc(b, L.total, &a);
    if (st != RWKV_OK) return st;
    if (!rwkv_dtype_is_quant(w->dtype)) {
        st = vk_upload_bytes(b, a, w->data, L.total);
    } else {
        const size_t per_row = L.q_row + L.s_row + L.h_row;
        int rows = (int)(REPACK_ROWS_BYTES / per_row);
        if (rows < 1) rows = 1;
        if (rows > w->rows) rows = w->rows;
        unsigned char *buf = malloc((size_t)rows * per_row);
        if (!buf) st = rwkv_fail(RWKV_ERR_NOMEM, "out of memory repacking a weight for Vulkan");
        for (int r0 = 0; r0 < w->rows && st == RWKV_OK; r0 += rows) {
            const int r1 = r0 + rows < w->rows ? r0 + rows : w->rows, n = r1 - r0;
            unsigned char *q = buf, *s = q + (size_t)n * L.q_row, *h = s + (size_t)n * L.s_row;
            split_blocks(w->dtype, w->data, w->cols, r0, r1, q, s, h);
            st = vk_upload_bytes(b, a + (uint64_t)r0 * L.q_row, q, (size_t)n * L.q_row);
            if (st == RWKV_OK) st = vk_upload_bytes(b, a + L.s_off + (uint64_t)r0 * L.s_row, s, (size_t)n * L.s_row);
            if (st == RWKV_OK && L.h_row)
                st = vk_upload_bytes(b, a + L.h_off + (uint64_t)r0 * L.h_row, h, (size_t)n * L.h_row);
        }
        free(buf);
    }
    if (st != RWKV_OK) {
        be->ops->mem_free(be, (rwkv_ptr){a});
        return st;
    }
    w->mem = (rwkv_ptr){a};
    w->data_unused = 1; /* the device holds its own copy */
    return RWKV_OK;
}

/* ---- plan ------------------------------------------------------------------------------------------ */

static void vk_plan_begin(rwkv_backend *be) {
    vk_backend *b = (vk_backend *)be;
    be->ops->sync(be); /* nothing may be pending while planning */
    b->planning = 1;
    b->plan_ops = b->plan_step = 0;
    b->plan_max_ops = b->plan_max_step = 0;
}

static rwkv_status vk_plan_end(rwkv_backend *be) {
    vk_backend *b = (vk_backend *)be;
    be->ops->sync(be); /* the last planned step's counts */
    b->planning = 0;
    if (b->err != RWKV_OK) return vk_flush(b); /* a pipeline that could not be made, a shape too large */
    /* the op list and the step data of the largest planned step, allocated now */
    if (b->capops < b->plan_max_ops + 4) {
        vk_op *p = realloc(b->list, (b->plan_max_ops + 4) * sizeof *p);
        if (!p) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory for the Vulkan op list");
        b->list = p;
        b->capops = b->plan_max_ops + 4;
    }
    for (int i = 0; i < VK_CACHE; i++) {
        vk_cached *c = &b->cache[i];
        if (c->cap < b->plan_max_ops) {
            vk_op *p = realloc(c->ops, b->plan_max_ops * sizeof *p);
            if (!p) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory for the Vulkan op list");
            c->ops = p;
            c->cap = b->plan_max_ops;
        }
    }
    return vk_step_reserve(b, b->plan_max_step);
}

/* ---- forward ops ---------------------------------------------------------------------------------- */

static void vk_embed(rwkv_backend *be, const rwkv_weight *emb, const int32_t *tokens, int T, rwkv_ptr x) {
    vk_backend *b = (vk_backend *)be;
    const char *sfx = dt_suffix(emb->dtype);
    if (T <= 0) return;
    if (!sfx) {
        vk_set_error(b, RWKV_ERR_UNSUPPORTED, "Vulkan: embedding of type %s", rwkv_dtype_name(emb->dtype));
        return;
    }
    char name[32];
    snprintf(name, sizeof name, "embed_%s", sfx);
    pc_embed pc = {.x = x.a, .rows = emb->rows, .K = emb->cols};
    weight_arrays(emb, &pc.wq, &pc.ws, &pc.wh);
    spans s = {0};
    wr(&s, x, (uint64_t)T * emb->cols);
    /* the token ids are step data: the recorded op does not depend on them */
    void *step = NULL;
    vk_op *op = op_begin(b, name, NO_SPEC, ceil_div((uint64_t)emb->cols, 64), (uint32_t)T, (size_t)T * sizeof(int32_t),
                         &step, &pc.tok);
    if (!op) return;
    memcpy(step, tokens, (size_t)T * sizeof(int32_t));
    op_end(b, op, &pc, sizeof pc, &s);
}

/* Tokens up to which the decode kernel (mv) is used; more go to the tiled kernel (mm). */
#define MV_MAX_T 8

static void linear_job(vk_backend *b, const rwkv_linear_job *j, int T) {
    const rwkv_weight *W = j->W;
    const char *sfx = dt_suffix(W->dtype);
    if (!sfx || rwkv_ptr_is_null(W->mem)) {
        vk_set_error(b, RWKV_ERR_INVALID_ARG, "Vulkan: a product with a weight that is not on the device");
        return;
    }
    const int in = j->transposed ? W->rows : W->cols, out = j->transposed ? W->cols : W->rows;
    pc_linear pc = {.x = j->X.a, .y = j->Y.a, .acc = j->acc.a, .rows = W->rows, .K = W->cols, .T = T,
                    .epi = (int32_t)j->epilogue};
    weight_arrays(W, &pc.wq, &pc.ws, &pc.wh);
    spans s = {0};
    rd(&s, j->X, (uint64_t)T * in);
    wr(&s, j->Y, (uint64_t)T * out);
    if (j->epilogue == RWKV_EPI_ADD) {
        rd(&s, j->acc, (uint64_t)T * out);
        wr(&s, j->acc, (uint64_t)T * out);
    }
    char name[32];
    const int K = W->cols;
    if (j->transposed) {
        snprintf(name, sizeof name, "mt_%s", sfx);
        dispatch(b, name, NO_SPEC, ceil_div((uint64_t)out, 64), (uint32_t)T, &pc, sizeof pc, &s);
    } else if (T <= MV_MAX_T) {
        const int nt = T <= 1 ? 1 : T <= 2 ? 2 : T <= 4 ? 4 : 8;
        const int nr = 2, wg = 128;
        const int chunk = W->dtype == RWKV_DT_F32 ? 4 : W->dtype == RWKV_DT_F16 || W->dtype == RWKV_DT_BF16 ? 8 : 16;
        pc.vec = (K % chunk == 0) | (j->X.a % 16 == 0 && K % 4 == 0) << 1;
        const int spec[4] = {wg, nt, nr, vk_max_subgroups(b, wg)};
        const uint32_t groups = ceil_div((uint64_t)out, (uint64_t)nr);
        const uint32_t gx = groups < GRID_MAX ? groups : GRID_MAX;
        snprintf(name, sizeof name, "mv_%s", sfx);
        dispatch(b, name, spec, gx, ceil_div(groups, gx), &pc, sizeof pc, &s);
    } else {
        pc.vec = K % 8 == 0;
        snprintf(name, sizeof name, "mm_%s", sfx);
        dispatch(b, name, NO_SPEC, ceil_div((uint64_t)out, 64), ceil_div((uint64_t)T, 64), &pc, sizeof pc, &s);
    }
}

static void vk_linear(rwkv_backend *be, const rwkv_linear_job *jobs, int n, int T) {
    vk_backend *b = (vk_backend *)be;
    if (T <= 0) return;
    for (int i = 0; i < n; i++) linear_job(b, &jobs[i], T);
}

/* Invocations of a workgroup that reduces groups of gs values. */
static int reduce_wg(int gs) { return gs <= 64 ? 64 : 256; }

static void vk_norm(rwkv_backend *be, rwkv_ptr x, rwkv_ptr y, rwkv_ptr g, rwkv_ptr bias, int T, int n, int gs, float eps) {
    vk_backend *b = (vk_backend *)be;
    if (T <= 0 || n <= 0 || gs <= 0) return;
    pc_norm pc = {.x = x.a, .y = y.a, .g = g.a, .b = bias.a, .T = T, .n = n, .gs = gs, .eps = eps};
    spans s = {0};
    rd(&s, x, (uint64_t)T * n);
    wr(&s, y, (uint64_t)T * n);
    const int wg = reduce_wg(gs), spec[4] = {wg, 0, 0, vk_max_subgroups(b, wg)};
    dispatch(b, "norm", spec, (uint32_t)(n / gs), (uint32_t)T, &pc, sizeof pc, &s);
}

static void vk_l2norm(rwkv_backend *be, rwkv_ptr x, rwkv_ptr y, int T, int n, int gs) {
    vk_backend *b = (vk_backend *)be;
    if (T <= 0 || n <= 0 || gs <= 0) return;
    pc_l2 pc = {.x = x.a, .y = y.a, .T = T, .n = n, .gs = gs};
    spans s = {0};
    rd(&s, x, (uint64_t)T * n);
    wr(&s, y, (uint64_t)T * n);
    const int wg = reduce_wg(gs), spec[4] = {wg, 0, 0, vk_max_subgroups(b, wg)};
    dispatch(b, "l2norm", spec, (uint32_t)(n / gs), (uint32_t)T, &pc, sizeof pc, &s);
}

static void vk_act(rwkv_backend *be, rwkv_act kind, rwkv_ptr x, rwkv_ptr bias, rwkv_ptr y, int T, int n) {
    vk_backend *b = (vk_backend *)be;
    if (T <= 0 || n <= 0) return;
    pc_act pc = {.x = x.a, .bias = bias.a, .y = y.a, .T = T, .n = n, .kind = (int32_t)kind,
                 .has_bias = !rwkv_ptr_is_null(bias)};
    spans s = {0};
    rd(&s, x, (uint64_t)T * n);
    wr(&s, y, (uint64_t)T * n);
    dispatch(b, "act", NO_SPEC, ceil_div((uint64_t)n, 256), (uint32_t)T, &pc, sizeof pc, &s);
}

/* Floats an operand of T rows of n with row stride ld spans (ld = 0: one vector). */
static uint64_t operand_floats(int T, int n, int ld) { return ld > 0 ? (uint64_t)(T - 1) * (uint64_t)ld + (uint64_t)n : (uint64_t)n; }

static void vk_ew(rwkv_backend *be, rwkv_ew_kind kind, int T, int n, rwkv_ptr y, int ldy, rwkv_operand a, rwkv_operand b_,
                  rwkv_operand c, rwkv_operand d) {
    vk_backend *b = (vk_backend *)be;
    if (T <= 0 || n <= 0) return;
    pc_ew pc = {.y = y.a, .a = a.p.a, .b = b_.p.a, .c = c.p.a, .d = d.p.a, .ldy = ldy, .lda = a.ld, .ldb = b_.ld,
                .ldc = c.ld, .ldd = d.ld, .kind = (int32_t)kind, .T = T, .n = n};
    spans s = {0};
    const rwkv_operand *ops[4] = {&a, &b_, &c, &d};
    for (int i = 0; i < 4; i++)
        if (!rwkv_ptr_is_null(ops[i]->p)) rd(&s, ops[i]->p, operand_floats(T, n, ops[i]->ld));
    wr(&s, y, operand_floats(T, n, ldy));
    dispatch(b, "ew", NO_SPEC, ceil_div((uint64_t)n, 256), (uint32_t)T, &pc, sizeof pc, &s);
}

/* Writes the segment table (state + off floats) at p; adds each state's span [off, off + floats). */
static void put_segs(void *p, const rwkv_seg *seg, int nseg, size_t off, uint64_t floats, spans *s) {
    seg_gpu *g = p;
    for (int i = 0; i < nseg; i++) {
        g[i] = (seg_gpu){.state = rwkv_ptr_f(seg[i].state, off).a, .start = seg[i].start, .len = seg[i].len};
        rd(s, rwkv_ptr_f(seg[i].state, off), floats);
        wr(s, rwkv_ptr_f(seg[i].state, off), floats);
    }
}

/* op_begin for an op whose step data is the segment table (then extra_bytes more, at *extra). */
static vk_op *seg_begin(vk_backend *b, const char *name, const int spec[4], uint32_t gx, uint32_t gy, size_t extra_bytes,
                        const rwkv_seg *seg, int nseg, size_t off, uint64_t state_floats, spans *s, void **extra,
                        uint64_t *addr) {
    void *step = NULL;
    const size_t seg_bytes = (size_t)nseg * sizeof(seg_gpu);
    vk_op *op = op_begin(b, name, spec, gx, gy, seg_bytes + extra_bytes, &step, addr);
    if (!op) return NULL;
    put_segs(step, seg, nseg, off, state_floats, s);
    if (extra) *extra = (unsigned char *)step + seg_bytes;
    return op;
}

static void vk_shift(rwkv_backend *be, rwkv_ptr cur, rwkv_ptr prev, int T, int C, size_t state_off, const rwkv_seg *seg,
                     int nseg) {
    vk_backend *b = (vk_backend *)be;
    if (T <= 0 || C <= 0 || nseg <= 0) return;
    spans s = {0};
    rd(&s, cur, (uint64_t)T * C);
    wr(&s, prev, (uint64_t)T * C);
    void *rows = NULL;
    uint64_t addr = 0;
    vk_op *op = seg_begin(b, "shift", NO_SPEC, ceil_div((uint64_t)C, 64), (uint32_t)T, (size_t)T * sizeof(int32_t), seg,
                          nseg, state_off, (uint64_t)C, &s, &rows, &addr);
    if (!op) return;
    int32_t *rs = rows;
    for (int i = 0; i < nseg; i++)
        for (int t = seg[i].start; t < seg[i].start + seg[i].len; t++)
            if (t >= 0 && t < T) rs[t] = i;
    pc_shift pc = {.cur = cur.a, .prev = prev.a, .segs = addr, .rowseg = addr + (uint64_t)nseg * sizeof(seg_gpu), .T = T,
                   .C = C};
    op_end(b, op, &pc, sizeof pc, &s);
}

/* False (and an error recorded) for a head size the WKV shaders cannot take (a workgroup per head). */
static int head_ok(vk_backend *b, int N) {
    if (N <= 256) return 1;
    vk_set_error(b, RWKV_ERR_UNSUPPORTED, "Vulkan: head size %d is too large (256 at most)", N);
    return 0;
}

static void vk_wkv7(rwkv_backend *be, size_t state_off, rwkv_ptr r, rwkv_ptr w, rwkv_ptr k, rwkv_ptr v, rwkv_ptr kk,
                    rwkv_ptr a, rwkv_ptr y, int T, int H, int N, rwkv_ptr ln_w, rwkv_ptr ln_b, float eps, rwkv_ptr r_k,
                    rwkv_ptr g, const rwkv_seg *seg, int nseg) {
    vk_backend *b = (vk_backend *)be;
    if (T <= 0 || H <= 0 || nseg <= 0 || !head_ok(b, N)) return;
    const uint64_t TC = (uint64_t)T * H * N;
    spans s = {0};
    const rwkv_ptr ins[7] = {r, w, k, v, kk, a, g};
    for (int i = 0; i < 7; i++)
        if (!rwkv_ptr_is_null(ins[i])) rd(&s, ins[i], TC);
    wr(&s, y, TC);
    const int spec[4] = {N, 0, 0, vk_max_subgroups(b, N)};
    uint64_t addr = 0;
    vk_op *op = seg_begin(b, "wkv7", spec, (uint32_t)H, (uint32_t)nseg, 0, seg, nseg, state_off, (uint64_t)H * N * N,
                          &s, NULL, &addr);
    if (!op) return;
    pc_wkv7 pc = {.r = r.a, .w = w.a, .k = k.a, .v = v.a, .kk = kk.a, .a = a.a, .y = y.a, .g = g.a, .ln_w = ln_w.a,
                  .ln_b = ln_b.a, .r_k = r_k.a, .segs = addr, .C = H * N, .out_steps = !rwkv_ptr_is_null(ln_w),
                  .eps = eps};
    op_end(b, op, &pc, sizeof pc, &s);
}

static void vk_wkv5(rwkv_backend *be, size_t state_off, rwkv_ptr r, rwkv_ptr w, int w_per_token, rwkv_ptr k, rwkv_ptr v,
                    rwkv_ptr u, rwkv_ptr y, int T, int H, int N, const rwkv_seg *seg, int nseg) {
    vk_backend *b = (vk_backend *)be;
    if (T <= 0 || H <= 0 || nseg <= 0 || !head_ok(b, N)) return;
    const uint64_t TC = (uint64_t)T * H * N;
    spans s = {0};
    rd(&s, r, TC);
    rd(&s, k, TC);
    rd(&s, v, TC);
    rd(&s, w, w_per_token ? TC : (uint64_t)H * N);
    wr(&s, y, TC);
    const int spec[4] = {N, 0, 0, 0};
    uint64_t addr = 0;
    vk_op *op = seg_begin(b, "wkv5", spec, (uint32_t)H, (uint32_t)nseg, 0, seg, nseg, state_off, (uint64_t)H * N * N,
                          &s, NULL, &addr);
    if (!op) return;
    pc_wkv5 pc = {.r = r.a, .w = w.a, .k = k.a, .v = v.a, .u = u.a, .y = y.a, .segs = addr, .C = H * N,
                  .w_per_token = w_per_token};
    op_end(b, op, &pc, sizeof pc, &s);
}

static void vk_wkv4(rwkv_backend *be, size_t state_off, rwkv_ptr u, rwkv_ptr w, rwkv_ptr k, rwkv_ptr v, rwkv_ptr y, int T,
                    int C, const rwkv_seg *seg, int nseg) {
    vk_backend *b = (vk_backend *)be;
    if (T <= 0 || C <= 0 || nseg <= 0) return;
    spans s = {0};
    rd(&s, k, (uint64_t)T * C);
    rd(&s, v, (uint64_t)T * C);
    wr(&s, y, (uint64_t)T * C);
    uint64_t addr = 0;
    vk_op *op = seg_begin(b, "wkv4", NO_SPEC, ceil_div((uint64_t)C, 64), (uint32_t)nseg, 0, seg, nseg, state_off,
                          3 * (uint64_t)C, &s, NULL, &addr);
    if (!op) return;
    pc_wkv4 pc = {.u = u.a, .w = w.a, .k = k.a, .v = v.a, .y = y.a, .segs = addr, .C = C};
    op_end(b, op, &pc, sizeof pc, &s);
}

static void vk_copy(rwkv_backend *be, rwkv_ptr dst, rwkv_ptr src, size_t bytes) {
    vk_backend *b = (vk_backend *)be;
    if (bytes == 0) return;
    spans s = {0};
    s.r[s.nr++] = (vk_span){src.a, bytes};
    s.w[s.nw++] = (vk_span){dst.a, bytes};
    if (bytes % 4 != 0 || dst.a % 4 != 0 || src.a % 4 != 0) { /* not whole words: a transfer */
        vk_mem *ms = b->planning ? NULL : vk_find(b, src.a, bytes), *md = b->planning ? NULL : vk_find(b, dst.a, bytes);
        if (b->planning) {
            vk_op_new(b, 0, NULL, NULL);
            return;
        }
        if (!ms || !md) {
            vk_set_error(b, RWKV_ERR_INVALID_ARG, "Vulkan copy: %zu bytes outside backend memory", bytes);
            return;
        }
        vk_op *op = vk_op_new(b, 0, NULL, NULL);
        if (!op) return;
        op->kind = VK_OP_COPY;
        op->u.copy.src = ms->buf;
        op->u.copy.src_off = src.a - ms->addr;
        op->u.copy.dst = md->buf;
        op->u.copy.dst_off = dst.a - md->addr;
        op->u.copy.bytes = bytes;
        hazards(b, op, s.r, s.nr, s.w, s.nw);
        return;
    }
    const int vec = bytes % 16 == 0 && dst.a % 16 == 0 && src.a % 16 == 0;
    const uint64_t words = bytes / (vec ? 16 : 4);
    if (words > UINT32_MAX) {
        vk_set_error(b, RWKV_ERR_UNSUPPORTED, "Vulkan copy: %zu bytes in one copy is too many", bytes);
        return;
    }
    pc_copy pc = {.dst = dst.a, .src = src.a, .n = (uint32_t)words, .vec = vec};
    const uint32_t groups = ceil_div(words, 256);
    dispatch(b, "copy", NO_SPEC, groups < GRID_MAX ? groups : GRID_MAX, 1, &pc, sizeof pc, &s);
}

void vk_fill_ops(rwkv_backend_ops *ops) {
    ops->set_threads = NULL;
    ops->copy = vk_copy;
    ops->weight = vk_weight;
    ops->plan_begin = vk_plan_begin;
    ops->plan_end = vk_plan_end;
    ops->embed = vk_embed;
    ops->linear = vk_linear;
    ops->norm = vk_norm;
    ops->l2norm = vk_l2norm;
    ops->act = vk_act;
    ops->ew = vk_ew;
    ops->shift = vk_shift;
    ops->wkv7 = vk_wkv7;
    ops->wkv5 = vk_wkv5;
    ops->wkv4 = vk_wkv4;
}
