/* ops.c — the CPU execution context (thread pool, kernel tables, planned scratch) and the ops of
 * ops.h.
 * Each op is one parallel step on the pool: the work is cut into slices that depend only on the
 * op's shape and the thread count, every output element is computed by one thread with the
 * kernels of kernels.h, and the slice starts are multiples of RWKV_ROW_ALIGN so the result does
 * not depend on the thread count. The scalar oracle of every kernel is in ops_scalar.c. */
#include "ops.h"
#include "types/quant.h"
#include "ops_quant.h"
#include "threadpool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* bf16 products (rwkv_kernels.linear_bf16: activations and fp16 weights rounded to bf16, fp32
 * sums) are an opt-in for prefill speed: with rwkv_model_params.prefill_bf16 they are used for fp16/bf16
 * weights in sequence mode when the chunk has at least this many tokens and the matrix this
 * many input columns. They are off by default: arithmetic stays fp32 (sequence mode then equals
 * serial mode to float rounding), whereas the bf16 path moves the logits of a 0.1B model by
 * ~0.04 and changes greedy continuations. */
#define BF16_MIN_T 4
#define BF16_MIN_K 512

/* Products on split bf16 operands at fp32 grade (rwkv_kernels.linear_x3, AMX tiles) are the
 * default for fp16/bf16 weights in sequence mode where the kernel table has them: from this many
 * tokens (fewer stream the weights row by row, memory-bound, in `linear`) and BF16_MIN_K input
 * columns (a multiple of 32). Their error is that of an fp32 product (tests/test_kernels.c). */
#define X3_MIN_T 17

/* Least weights per work unit of a decode product (unit_rows), where the matrix allows. */
#define UNIT_MIN_ELEMS 16384

/* Element counts below which an elementwise op runs on the calling thread alone. */
#define PAR_MIN_ELEMS 16384

#define MAX_BATCH 16

#define QUANT_SEQ_ROWS 256

/* How a product's input is converted for the products: none (fp32 or int8 path), rounded to
 * bf16 (linear_bf16), split into three bf16 parts (linear_x3). */
enum { XM_NONE, XM_BF16, XM_X3 };

/* Row stride, in elements, of the bf16 copy of a product's input: 32 elements (one cache line)
 * more than the width, so that the rows of a token block do not all fall in one set of the L1
 * cache when the width is a multiple of 2048 (the AMX tile loads read 16 rows at this stride:
 * 1.5B --prefill-bf16 prefill 267 -> 300 tok/s). */
static size_t xb_ld(int cols) { return (size_t)cols + 32; }

/* Elements of the converted input of a job (XM_X3: rwkv_x3_index's tile layout). */
static size_t xb_elems(int cols, int T, int mode) {
    return mode == XM_X3 ? rwkv_x3_elems(cols, T) : (size_t)T * xb_ld(cols);
}

struct rwkv_ctx {
    int n_threads;
    int force_scalar;
    int allow_bf16;             /* bf16 prefill products allowed */
    int allow_x3;               /* fp32-grade split-bf16 products (linear_x3) available */
    const rwkv_kernels *k;      /* the kernel table */
    const rwkv_qkernels *qk;    /* the integer kernel table for quantized weights (NULL: none) */
    rwkv_pool *pool;            /* n_threads workers (the caller is one) */
    int quant_int8;             /* quantized weights: integer path (int8 activations) */
    int planning;               /* between plan_begin and plan_end: ops only record their needs */
    rwkv_status error;          /* an op outside the plan could not get scratch (rwkv_ctx_take_error) */
    /* the plan: what the ops need (grown while planning), and what is allocated */
    size_t need_work, need_xb, need_qx, need_qm;
    unsigned char **work;       /* [n_threads] private scratch of work_bytes */
    size_t work_bytes;
    uint16_t *xb;               /* bf16 copies of batch inputs */
    size_t xb_len;              /* in elements */
    unsigned char *qx;          /* activations quantized once per product (T > 1) */
    size_t qx_len;              /* in bytes */
    /* decode (T = 1): each thread quantizes a job's one activation row once and keeps it for
     * the job's other units it runs (qm[i] tagged with the batch serial and the job) */
    unsigned char **qm;         /* [n_threads] of qm_bytes */
    size_t qm_bytes;
    unsigned *qm_serial;        /* [n_threads] */
    int *qm_job;                /* [n_threads] */
    unsigned serial;            /* batches run so far */
    char describe[96];
};

/* Number of physical cores (distinct core ids per package), falling back to online CPUs. */
static int physical_cores(void) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1) online = 1;
    int seen = 0;
    uint64_t keys[1024];
    for (long cpu = 0; cpu < online && cpu < 1024; cpu++) {
        char path[128];
        int core = -1, pkg = -1;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/core_id", cpu);
        FILE *f = fopen(path, "r");
        if (!f) return (int)online;
        if (fscanf(f, "%d", &core) != 1) core = -1;
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/physical_package_id", cpu);
        f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%d", &pkg) != 1) pkg = -1;
            fclose(f);
        }
        if (core < 0) return (int)online;
        uint64_t key = ((uint64_t)(uint32_t)pkg << 32) | (uint32_t)core;
        int dup = 0;
        for (int i = 0; i < seen; i++) dup |= keys[i] == key;
        if (!dup) keys[seen++] = key;
    }
    return seen > 0 ? seen : (int)online;
}

/* Frees an array of n per-thread buffers. */
static void free_per_thread(unsigned char **p, int n) {
    if (p)
        for (int i = 0; i < n; i++) free(p[i]);
    free(p);
}

static void free_scratch(rwkv_ctx *c) {
    free_per_thread(c->work, c->n_threads);
    free_per_thread(c->qm, c->n_threads);
    free(c->qm_serial);
    free(c->qm_job);
    free(c->xb);
    free(c->qx);
    c->work = NULL;
    c->qm = NULL;
    c->qm_serial = NULL;
    c->qm_job = NULL;
    c->xb = NULL;
    c->qx = NULL;
    c->work_bytes = c->qm_bytes = c->xb_len = c->qx_len = 0;
}

/* n per-thread buffers of bytes each (64-byte aligned), or NULL. */
static unsigned char **alloc_per_thread(int n, size_t bytes) {
    unsigned char **p = rwkv_calloc((size_t)n, sizeof *p);
    for (int i = 0; p && i < n; i++)
        if (!(p[i] = rwkv_aligned_alloc(64, bytes))) {
            free_per_thread(p, n);
            return NULL;
        }
    return p;
}

/* Allocates the scratch of the plan (need_*) for n threads and makes n the thread count: all or
 * nothing (on failure the context is unchanged). */
static rwkv_status alloc_scratch(rwkv_ctx *c, int n) {
    const size_t work = (c->need_work + 4095) & ~(size_t)4095, qm = (c->need_qm + 4095) & ~(size_t)4095;
    unsigned char **w = work ? alloc_per_thread(n, work) : NULL;
    unsigned char **m = qm ? alloc_per_thread(n, qm) : NULL;
    unsigned *ms = qm ? rwkv_calloc((size_t)n, sizeof *ms) : NULL;
    int *mj = qm ? rwkv_calloc((size_t)n, sizeof *mj) : NULL;
    uint16_t *xb = c->need_xb ? rwkv_aligned_alloc(64, c->need_xb * sizeof *xb) : NULL;
    unsigned char *qx = c->need_qx ? rwkv_aligned_alloc(64, c->need_qx) : NULL;
    if ((work && !w) || (qm && (!m || !ms || !mj)) || (c->need_xb && !xb) || (c->need_qx && !qx)) {
        free_per_thread(w, n);
        free_per_thread(m, n);
        free(ms);
        free(mj);
        free(xb);
        free(qx);
        return rwkv_fail(RWKV_ERR_NOMEM, "out of memory for the CPU scratch (%zu + %zu bytes per thread, "
                         "%zu shared)", work, qm, c->need_xb * 2 + c->need_qx);
    }
    free_scratch(c);
    c->n_threads = n;
    c->work = w;
    c->work_bytes = work;
    c->qm = m;
    c->qm_bytes = qm;
    c->qm_serial = ms;
    c->qm_job = mj;
    for (int i = 0; mj && i < n; i++) mj[i] = -1;
    c->xb = xb;
    c->xb_len = c->need_xb;
    c->qx = qx;
    c->qx_len = c->need_qx;
    return RWKV_OK;
}

/* (Re)creates the pool for n threads and the scratch of the plan: all or nothing (on failure
 * the context keeps its threads and scratch). */
static rwkv_status setup_threads(rwkv_ctx *c, int n) {
    rwkv_pool *pool = NULL;
    rwkv_status st = rwkv_pool_new(n, &pool);
    if (st == RWKV_OK) st = alloc_scratch(c, n);
    if (st != RWKV_OK) {
        rwkv_pool_free(pool);
        return st;
    }
    rwkv_pool_free(c->pool);
    c->pool = pool;
    return RWKV_OK;
}

rwkv_status rwkv_ctx_new(const rwkv_ctx_params *p, rwkv_ctx **out) {
    *out = NULL;
    if (p->n_threads < 0 || p->n_threads > 1024)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "thread count %d out of range 0..1024", p->n_threads);
    rwkv_ctx *c = calloc(1, sizeof *c);
    if (!c) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    c->force_scalar = p->force_scalar;
    c->k = rwkv_kernels_best(p->force_scalar, p->amx != RWKV_AMX_OFF);
    c->qk = p->force_scalar ? NULL : rwkv_qkernels_best();
    c->allow_bf16 = !p->force_scalar && p->prefill_bf16;
    c->allow_x3 = !p->force_scalar && c->k->linear_x3 && c->k->to_bf16x3;
    c->quant_int8 = p->quant_dot == RWKV_QUANT_DOT_AUTO ? c->qk && c->qk->int8_default
                                                        : p->quant_dot == RWKV_QUANT_DOT_INT8;
    rwkv_status st = setup_threads(c, p->n_threads ? p->n_threads : physical_cores());
    if (st != RWKV_OK) {
        rwkv_ctx_free(c);
        return st;
    }
    *out = c;
    return RWKV_OK;
}

const char *rwkv_ctx_quant_products(const rwkv_ctx *ctx) {
    if (!ctx->qk) return "scalar";
    return ctx->quant_int8 ? "int8" : "exact";
}

const char *rwkv_ctx_prefill_products(const rwkv_ctx *ctx) {
    if (ctx->allow_bf16 && ctx->k->linear_bf16) return ctx->k->tiles ? "bf16-amx" : "bf16";
    return ctx->allow_x3 ? "fp32-x3-amx" : "fp32";
}

int rwkv_ctx_default_chunk(const rwkv_ctx *ctx) {
    /* measured at 1.5B and 0.1B with 512-token prompts (bench/README.md): the tile kernels pack
     * each weight panel once per chunk, and their split activations of a chunk of 128 tokens
     * (0.4-1.5 MB per product at 1.5B) still mostly stay in the L2 cache */
    if (ctx->allow_bf16 && ctx->k->tiles) return 256;
    if (ctx->allow_x3) return 128;
    return 64; /* fp32 products: 64-256 within 4% at 1.5B */
}

const char *rwkv_ctx_describe(rwkv_ctx *ctx) {
    snprintf(ctx->describe, sizeof ctx->describe, "%s, %d thread%s", ctx->k->name, ctx->n_threads,
             ctx->n_threads == 1 ? "" : "s");
    return ctx->describe;
}

static int packs_quant(const rwkv_ctx *ctx) {
    return ctx->quant_int8 && ctx->qk && ctx->qk->pack && ctx->qk->dot_packed;
}

typedef struct pack_task {
    const rwkv_qkernels *qk;
    const rwkv_weight *W;
    void *P;
    int groups;
} pack_task;

#define PACK_GROUPS_PER_UNIT 64

static void pack_unit(void *arg, int u, int ith) {
    const pack_task *pt = arg;
    const int g0 = u * PACK_GROUPS_PER_UNIT, g1 = g0 + PACK_GROUPS_PER_UNIT;
    rwkv_quant_pack_groups(pt->qk, pt->W, g0, g1 < pt->groups ? g1 : pt->groups, pt->P);
    (void)ith;
}

void *rwkv_ctx_quant_pack(rwkv_ctx *ctx, const rwkv_weight *W) {
    if (!packs_quant(ctx) || !rwkv_dtype_is_quant(W->dtype)) return NULL;
    pack_task pt = {.qk = ctx->qk, .W = W};
    pt.P = rwkv_quant_pack_alloc(ctx->qk, W, &pt.groups);
    if (!pt.P) return NULL;
    /* the threads share the page faults of the fresh copy (most of the time in a VM) */
    rwkv_pool_run_units(ctx->pool, pack_unit, &pt, (pt.groups + PACK_GROUPS_PER_UNIT - 1) / PACK_GROUPS_PER_UNIT);
    return pt.P;
}

void rwkv_ctx_free(rwkv_ctx *ctx) {
    if (!ctx) return;
    rwkv_pool_free(ctx->pool);
    free_scratch(ctx);
    free(ctx);
}

rwkv_status rwkv_ctx_set_threads(rwkv_ctx *ctx, int n_threads) {
    if (n_threads < 0 || n_threads > 1024)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "thread count %d out of range 0..1024", n_threads);
    int n = n_threads ? n_threads : physical_cores();
    if (n == ctx->n_threads && ctx->pool) return RWKV_OK;
    return setup_threads(ctx, n);
}

void rwkv_ctx_plan_begin(rwkv_ctx *ctx) { ctx->planning = 1; }

const rwkv_kernels *rwkv_ctx_kernels(const rwkv_ctx *ctx) { return ctx->k; }

void rwkv_ctx_run(rwkv_ctx *ctx, rwkv_ctx_unit_fn fn, void *arg, int n_units) {
    if (!ctx->planning && n_units > 0) rwkv_pool_run_units(ctx->pool, fn, arg, n_units);
}

rwkv_status rwkv_ctx_plan_end(rwkv_ctx *ctx) {
    ctx->planning = 0;
    if (ctx->need_work <= ctx->work_bytes && ctx->need_qm <= ctx->qm_bytes && ctx->need_xb <= ctx->xb_len &&
        ctx->need_qx <= ctx->qx_len)
        return RWKV_OK;
    return alloc_scratch(ctx, ctx->n_threads);
}

static void grow(size_t *need, size_t v) {
    if (v > *need) *need = v;
}

/* ---- products ------------------------------------------------------------------------------ */

typedef struct batch_task {
    rwkv_ctx *ctx;
    const rwkv_linear_job *jobs;
    int n, T;
    const uint16_t *xb[MAX_BATCH]; /* bf16 input of job i, or NULL for the fp32 path */
    unsigned char xmode[MAX_BATCH]; /* XM_*: what xb[i] holds */
    int first[MAX_BATCH + 1];      /* first unit of job i (units of job i: blocks of rows) */
    int rows_per_unit[MAX_BATCH];  /* a multiple of RWKV_ROW_ALIGN */
    int conv_first[MAX_BATCH + 1]; /* bf16 rounding or int8 quantization of the inputs: first
                                      unit (one token row) of job i */
    void *qx[MAX_BATCH];           /* job i's activations quantized once (ops_quant.h), or NULL */
    bool qm[MAX_BATCH];            /* decode: job i's row quantized once per thread (ctx->qm) */
    unsigned serial;               /* ctx->serial of this batch */
} batch_task;

static float *job_x(const rwkv_linear_job *j) { return rwkv_ptr_to_host(j->X); }
static float *job_y(const rwkv_linear_job *j) { return rwkv_ptr_to_host(j->Y); }

/* The job's epilogue on outputs [o0, o1) of every token, with the kernel table's elementwise
 * op (SIMD): relu² in place, or acc += y (acc = identity(y + acc): the same sum). */
static void epilogue(const rwkv_kernels *k, const rwkv_linear_job *j, int T, int out, int o0, int o1) {
    if (j->epilogue == RWKV_EPI_NONE || o0 >= o1) return;
    for (int t = 0; t < T; t++) {
        float *y = job_y(j) + (size_t)t * out + o0;
        if (j->epilogue == RWKV_EPI_RELU_SQ) {
            k->act(RWKV_ACT_RELU_SQ, y, NULL, y, o1 - o0);
        } else {
            float *a = rwkv_ptr_to_host(j->acc) + (size_t)t * out + o0;
            k->act(RWKV_ACT_IDENTITY, y, a, a, o1 - o0);
        }
    }
}

/* Outputs [o0, o1) of a product with block-quantized weights (quant.h, ops_quant.c) not taken by
 * the batched integer path. work holds at least one dequantized row. */
static void quant_slice(const rwkv_ctx *c, const rwkv_linear_job *j, int T, int o0, int o1,
                        void *work) {
    const rwkv_weight *W = j->W;
    const float *X = job_x(j);
    float *Y = job_y(j);
    if (!j->transposed) {
        rwkv_linear_quant_rows_ex(c->qk, W, o0, o1, X, T, Y, c->quant_int8, work, c->work_bytes);
        return;
    }
    /* xᵀW with W [in][out] quantized along its rows: dequantize each row once per slice */
    const int in = W->rows, out = W->cols;
    const size_t rb = rwkv_dtype_row_bytes(W->dtype, (size_t)out);
    float *row = work;
    for (int t = 0; t < T; t++)
        for (int o = o0; o < o1; o++) Y[(size_t)t * out + o] = 0.0f;
    for (int i = 0; i < in; i++) {
        rwkv_dequantize_row(W->dtype, (const char *)W->data + (size_t)i * rb, row, (size_t)out);
        for (int t = 0; t < T; t++) {
            const float xi = X[(size_t)t * in + i];
            float *y = Y + (size_t)t * out;
            for (int o = o0; o < o1; o++) y[o] += xi * row[o];
        }
    }
}

/* Index of the job that unit u belongs to (first[] ascending). */
static int job_of(const int *first, int n, int u) {
    int j = 0;
    while (j + 1 < n && first[j + 1] <= u) j++;
    return j;
}

/* Unit u of the input conversion: one token row of a bf16 or int8 job, or a block of 16 tokens
 * of a split-bf16 (XM_X3) job. */
static void convert_unit(void *arg, int u, int ith) {
    const batch_task *bt = arg;
    int i = job_of(bt->conv_first, bt->n, u), t = u - bt->conv_first[i];
    const int K = bt->jobs[i].W->cols;
    const float *X = job_x(&bt->jobs[i]);
    if (bt->qx[i])
        rwkv_quant_acts(bt->ctx->qk, X, K, bt->T, t, t + 1, bt->qx[i]);
    else if (bt->xmode[i] == XM_X3) /* t: a block of 16 tokens */
        bt->ctx->k->to_bf16x3(X, K, K, bt->T, t, (uint16_t *)bt->xb[i]);
    else
        bt->ctx->k->to_bf16(X + (size_t)t * K, (uint16_t *)bt->xb[i] + (size_t)t * xb_ld(K), K);
    (void)ith;
}

/* Unit u of the products: a block of output rows (columns when transposed) of one job. */
static void product_unit(void *arg, int u, int ith) {
    const batch_task *bt = arg;
    rwkv_ctx *c = bt->ctx;
    const int T = bt->T;
    const int i = job_of(bt->first, bt->n, u);
    const rwkv_linear_job *j = &bt->jobs[i];
    const rwkv_weight *W = j->W;
    const float *X = job_x(j);
    float *Y = job_y(j);
    const int out = j->transposed ? W->cols : W->rows;
    int o0 = (u - bt->first[i]) * bt->rows_per_unit[i], o1 = o0 + bt->rows_per_unit[i];
    if (o1 > out) o1 = out;
    void *work = c->work[ith];
    if (rwkv_dtype_is_quant(W->dtype)) /* block-quantized weights: ops_quant.c */
        if (bt->qx[i]) {
            rwkv_linear_quant_rows_q(c->qk, W, o0, o1, bt->qx[i], T, Y);
        } else if (bt->qm[i]) {
            if (c->qm_serial[ith] != bt->serial || c->qm_job[ith] != i) {
                rwkv_quant_acts(c->qk, X, W->cols, 1, 0, 1, c->qm[ith]);
                c->qm_serial[ith] = bt->serial;
                c->qm_job[ith] = i;
            }
            rwkv_linear_quant_rows_q(c->qk, W, o0, o1, c->qm[ith], 1, Y);
        } else
            quant_slice(c, j, T, o0, o1, work);
    else if (j->transposed)
        c->k->linear_t(W->dtype, W->data, W->rows, W->cols, o0, o1, X, W->rows, T, Y, out);
    else if (bt->xb[i] && bt->xmode[i] == XM_X3)
        c->k->linear_x3(W->dtype, W->data, W->cols, o0, o1, bt->xb[i], T, Y, out, work);
    else if (bt->xb[i])
        c->k->linear_bf16(W->dtype, W->data, W->cols, o0, o1, bt->xb[i], (int)xb_ld(W->cols), T, Y, out,
                          work);
    else
        c->k->linear(W->dtype, W->data, W->cols, o0, o1, X, W->cols, T, Y, out, work);
    epilogue(c->k, j, T, out, o0, o1);
}

/* Output rows per work unit: for chunks of tokens, 32 rows (the AVX-512 GEMM's weight panel; up
 * to QUANT_SEQ_ROWS with block-quantized weights on the integer path;
 * 16 when the matrix is too small to give every thread a few units), larger blocks for a single
 * token so that big matrices are not cut into thousands of units. Always a multiple of
 * RWKV_ROW_ALIGN, a function of the shape only. (Blocks of up to 256 rows keeping ~6 units per
 * thread were tried: 1.5B fp16 decode 5-14% slower in three A/B pairs, 0.1B within the noise.) */
static int unit_rows(int out, int in, int T, bool quant) {
    int r = RWKV_ROW_ALIGN;
    if (T > 1 && quant && out >= 32 * 8) {
        /* the integer kernel prepares each token's per-block terms once per call: units of up
         * to QUANT_SEQ_ROWS rows, still >= 8 per product (512-token prefill, 3 reps: 1.5B q4_0
         * 131 / 147 / 155 / 161 tok/s at 32 / 64 / 128 / 256 rows, 0.1B q4_0 1409 / 1532 /
         * 1551 / 1579) */
        r = 32;
        while (r < QUANT_SEQ_ROWS && out / (r * 2) >= 8) r *= 2;
    } else if (T == 1) {
        while (r < 256 && out / (r * 2) >= 32) r *= 2;
        /* narrow matrices (the second low-rank factors: 768-2048 rows of 32-256 inputs): units of
         * at least UNIT_MIN_ELEMS weights, still >= 4 per product — 16-row units of 1-4 K weights
         * spent more time in claiming and calling than in reading */
        while (r < 256 && (size_t)r * (size_t)in < UNIT_MIN_ELEMS && out / (r * 2) >= 4) r *= 2;
    } else if (out >= 32 * 8)
        r = 32;
    return r;
}

/* The scratch a batch needs beyond what the context holds, if any: in planning it is recorded;
 * otherwise (an op outside the plan: a direct caller) it is allocated now. False when it could
 * not be: the error is kept for rwkv_ctx_take_error and the outputs are set to NaN. */
static bool ensure_scratch(rwkv_ctx *c, size_t work, size_t xb, size_t qx, size_t qm) {
    grow(&c->need_work, work);
    grow(&c->need_xb, xb);
    grow(&c->need_qx, qx);
    grow(&c->need_qm, qm);
    if (c->planning) return false;
    if (work <= c->work_bytes && xb <= c->xb_len && qx <= c->qx_len && qm <= c->qm_bytes) return true;
    rwkv_status st = alloc_scratch(c, c->n_threads);
    if (st != RWKV_OK && c->error == RWKV_OK) c->error = st;
    return st == RWKV_OK;
}

/* Sets outputs [0, out) of T tokens of a job that could not run to NaN (never a silent zero). */
static void poison(const rwkv_linear_job *j, int T) {
    const int out = j->transposed ? j->W->cols : j->W->rows;
    float *Y = job_y(j);
    for (size_t i = 0; i < (size_t)T * (size_t)out; i++) Y[i] = NAN;
}

void rwkv_op_linear_batch(rwkv_ctx *ctx, const rwkv_linear_job *jobs, int n, int T) {
    if (n > MAX_BATCH) {
        for (int i = 0; i < n; i += MAX_BATCH)
            rwkv_op_linear_batch(ctx, jobs + i, n - i < MAX_BATCH ? n - i : MAX_BATCH, T);
        return;
    }
    const bool int8 = ctx->qk && ctx->quant_int8;
    batch_task bt = {.ctx = ctx, .jobs = jobs, .n = n, .T = T};
    size_t maxk = 1, xb_need = 0, qx_need = 0, qx_bytes[MAX_BATCH], qm_need = 0;
    unsigned char want[MAX_BATCH]; /* XM_* */
    for (int i = 0; i < n; i++) {
        const rwkv_weight *W = jobs[i].W;
        if ((size_t)W->cols > maxk) maxk = (size_t)W->cols;
        /* integer path for more than one token: quantize each token row once for all units
         * (a decode step quantizes its one row inside each unit: cheaper than another pass) */
        const bool iq = int8 && !jobs[i].transposed && rwkv_dtype_is_quant(W->dtype);
        qx_bytes[i] = 0;
        if (T > 1 && iq) qx_bytes[i] = (rwkv_quant_acts_bytes(ctx->qk, W->cols, T) + 63) & ~(size_t)63;
        qx_need += qx_bytes[i];
        bt.qm[i] = T == 1 && iq && rwkv_quant_acts_bytes(ctx->qk, W->cols, 1) > 0;
        if (bt.qm[i] && rwkv_quant_acts_bytes(ctx->qk, W->cols, 1) > qm_need)
            qm_need = rwkv_quant_acts_bytes(ctx->qk, W->cols, 1);
        const bool f16w = !jobs[i].transposed && (W->dtype == RWKV_DT_F16 || W->dtype == RWKV_DT_BF16) &&
                          ctx->k != rwkv_kernels_scalar() && W->cols >= BF16_MIN_K;
        want[i] = XM_NONE;
        if (f16w && ctx->allow_bf16 && ctx->k->linear_bf16 && T >= BF16_MIN_T)
            want[i] = XM_BF16;
        else if (f16w && ctx->allow_x3 && T >= X3_MIN_T && W->cols % 32 == 0)
            want[i] = XM_X3;
        if (want[i]) xb_need += xb_elems(W->cols, T, want[i]);
    }
    if (!ensure_scratch(ctx, RWKV_LINEAR_WORK_BYTES(maxk), xb_need, qx_need, qm_need)) {
        if (!ctx->planning)
            for (int i = 0; i < n; i++) poison(&jobs[i], T);
        return;
    }
    if (++ctx->serial == 0) { /* wrapped: no tag may match a batch of 2^32 batches ago */
        ctx->serial = 1;
        if (ctx->qm_job)
            for (int i = 0; i < ctx->n_threads; i++) ctx->qm_job[i] = -1;
    }
    bt.serial = ctx->serial;
    size_t off = 0, qoff = 0;
    int units = 0, conv_units = 0;
    for (int i = 0; i < n; i++) {
        bt.xb[i] = NULL;
        bt.qx[i] = NULL;
        bt.xmode[i] = want[i];
        if (want[i]) {
            bt.xb[i] = ctx->xb + off;
            off += xb_elems(jobs[i].W->cols, T, want[i]);
        }
        if (qx_bytes[i]) {
            bt.qx[i] = ctx->qx + qoff;
            qoff += qx_bytes[i];
        }
        bt.conv_first[i] = conv_units;
        conv_units += bt.xmode[i] == XM_X3 ? (T + 15) / 16 : bt.xb[i] || bt.qx[i] ? T : 0;
        const int out = jobs[i].transposed ? jobs[i].W->cols : jobs[i].W->rows;
        bt.rows_per_unit[i] = unit_rows(out, jobs[i].transposed ? jobs[i].W->rows : jobs[i].W->cols, T,
                                        bt.qx[i] != NULL);
        bt.first[i] = units;
        units += (out + bt.rows_per_unit[i] - 1) / bt.rows_per_unit[i];
    }
    bt.first[n] = units;
    bt.conv_first[n] = conv_units;
    if (conv_units) rwkv_pool_run_units(ctx->pool, convert_unit, &bt, conv_units);
    rwkv_pool_run_units(ctx->pool, product_unit, &bt, units);
}

rwkv_status rwkv_ctx_take_error(rwkv_ctx *ctx) {
    rwkv_status st = ctx->error;
    ctx->error = RWKV_OK;
    if (st != RWKV_OK)
        return rwkv_fail(st, "an operation needed scratch memory beyond the plan made at load and none "
                             "could be allocated");
    return RWKV_OK;
}

/* ---- WKV ------------------------------------------------------------------------------------ */

typedef struct wkv_task {
    const rwkv_kernels *k;
    float *S;
    const float *r, *w, *kk_, *k_, *v, *a, *ln_w, *ln_b, *r_k, *g;
    float *y;
    int T, H, N;
    float eps;
} wkv_task;

/* The per-head output steps of rwkv_op_wkv7 for head h. */
static void wkv_head_out(const wkv_task *wt, int h) {
    const int N = wt->N, C = wt->H * wt->N;
    for (int t = 0; t < wt->T; t++) {
        size_t b = (size_t)t * C + (size_t)h * N;
        float *y = wt->y + b;
        wt->k->groupnorm(y, y, wt->ln_w + (size_t)h * N, wt->ln_b + (size_t)h * N, N, N, wt->eps);
        const float *r = wt->r + b, *k = wt->k_ + b, *v = wt->v + b, *rk = wt->r_k + (size_t)h * N;
        float dot = 0.0f;
        for (int j = 0; j < N; j++) dot += r[j] * k[j] * rk[j];
        const float *g = wt->g + b;
        for (int j = 0; j < N; j++) y[j] = (y[j] + dot * v[j]) * g[j];
    }
}

/* Unit h: head h over every token. */
static void wkv_unit(void *arg, int h, int ith) {
    const wkv_task *wt = arg;
    const int N = wt->N;
    size_t o = (size_t)h * N;
    wt->k->wkv7(wt->S + o * N, wt->r + o, wt->w + o, wt->k_ + o, wt->v + o, wt->kk_ + o,
                wt->a + o, wt->y + o, wt->T, wt->H * N, N);
    if (wt->ln_w) wkv_head_out(wt, h);
    (void)ith;
}

void rwkv_op_wkv7(rwkv_ctx *ctx, float *S, const float *r, const float *w, const float *k,
                  const float *v, const float *kk, const float *a, float *y, int T, int H, int N,
                  const float *ln_w, const float *ln_b, float eps, const float *r_k, const float *g) {
    if (ctx->planning) return;
    wkv_task wt = {.k = ctx->k, .S = S, .r = r, .w = w, .kk_ = kk, .k_ = k, .v = v, .a = a,
                   .y = y, .T = T, .H = H, .N = N, .ln_w = ln_w, .ln_b = ln_b, .r_k = r_k,
                   .g = g, .eps = eps};
    rwkv_pool_run_units(ctx->pool, wkv_unit, &wt, H);
}

/* ---- rows: norms and activations ------------------------------------------------------------ */

typedef enum { ROWS_NORM, ROWS_L2, ROWS_ACT } rows_kind;

typedef struct rows_task {
    const rwkv_kernels *k;
    const float *x, *g, *b;
    float *y;
    int T, n, gs;
    float eps;
    rwkv_act act;
    rows_kind kind;
} rows_task;

/* y = x / max(‖x‖, 1e-12) for one group of n, the squares summed in index order. */
static void l2norm_group(const float *x, float *y, int n) {
    float ss = 0.0f;
    for (int j = 0; j < n; j++) ss += x[j] * x[j];
    const float nrm = sqrtf(ss);
    const float inv = 1.0f / (nrm > 1e-12f ? nrm : 1e-12f);
    for (int j = 0; j < n; j++) y[j] = x[j] * inv;
}

/* Unit t: row t. */
static void rows_unit(void *arg, int t, int ith) {
    const rows_task *rt = arg;
    size_t o = (size_t)t * rt->n;
    switch (rt->kind) {
    case ROWS_ACT: rt->k->act(rt->act, rt->x + o, rt->b, rt->y + o, rt->n); break;
    case ROWS_NORM: rt->k->groupnorm(rt->x + o, rt->y + o, rt->g, rt->b, rt->n, rt->gs, rt->eps); break;
    case ROWS_L2:
        for (int g = 0; g < rt->n; g += rt->gs) l2norm_group(rt->x + o + g, rt->y + o + g, rt->gs);
        break;
    }
    (void)ith;
}

static void rows_dispatch(rwkv_ctx *ctx, rows_task *rt) {
    if (ctx->planning) return;
    if ((size_t)rt->T * rt->n < PAR_MIN_ELEMS || rt->T < 2)
        for (int t = 0; t < rt->T; t++) rows_unit(rt, t, 0);
    else
        rwkv_pool_run_units(ctx->pool, rows_unit, rt, rt->T);
}

void rwkv_op_norm(rwkv_ctx *ctx, const float *x, float *y, const float *g, const float *b, int T,
                  int n, int gs, float eps) {
    rows_task rt = {.k = ctx->k, .x = x, .g = g, .b = b, .y = y, .T = T, .n = n, .gs = gs, .eps = eps,
                    .kind = ROWS_NORM};
    rows_dispatch(ctx, &rt);
}

void rwkv_op_l2norm(rwkv_ctx *ctx, const float *x, float *y, int T, int n, int gs) {
    rows_task rt = {.k = ctx->k, .x = x, .y = y, .T = T, .n = n, .gs = gs, .kind = ROWS_L2};
    rows_dispatch(ctx, &rt);
}

void rwkv_op_act(rwkv_ctx *ctx, rwkv_act kind, const float *x, const float *bias, float *y, int T,
                 int n) {
    rows_task rt = {.k = ctx->k, .x = x, .b = bias, .y = y, .T = T, .n = n, .act = kind, .kind = ROWS_ACT};
    rows_dispatch(ctx, &rt);
}

/* ---- elementwise kinds and token shift (plain loops: memory-bound, small next to the products) */

static inline float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Row t of operand o (a vector when ld is 0). */
static inline const float *opnd_row(rwkv_operand o, int t) {
    return rwkv_ptr_to_host(o.p) + (size_t)t * (size_t)o.ld;
}

void rwkv_op_ew(rwkv_ctx *ctx, rwkv_ew_kind kind, int T, int n, float *y, int ldy, rwkv_operand a,
                rwkv_operand b, rwkv_operand c, rwkv_operand d) {
    if (ctx->planning) return;
    for (int t = 0; t < T; t++) {
        const float *A = opnd_row(a, t), *B = opnd_row(b, t), *Cc = opnd_row(c, t), *D = opnd_row(d, t);
        float *Y = y + (size_t)t * (size_t)ldy;
        switch (kind) {
        case RWKV_EW_LERP: for (int i = 0; i < n; i++) Y[i] = A[i] + (B[i] - A[i]) * Cc[i]; break;
        case RWKV_EW_MIX: for (int i = 0; i < n; i++) Y[i] = A[i] * Cc[i] + B[i] * (1.0f - Cc[i]); break;
        case RWKV_EW_SUB: for (int i = 0; i < n; i++) Y[i] = B[i] - A[i]; break;
        case RWKV_EW_ADD_MUL_SUM: for (int i = 0; i < n; i++) Y[i] = A[i] + B[i] * (Cc[i] + D[i]); break;
        case RWKV_EW_MUL: for (int i = 0; i < n; i++) Y[i] = A[i] * B[i]; break;
        case RWKV_EW_MUL_SIGMOID: for (int i = 0; i < n; i++) Y[i] = A[i] * sigmoidf_(B[i]); break;
        case RWKV_EW_MUL_SILU: for (int i = 0; i < n; i++) Y[i] = A[i] * (B[i] * sigmoidf_(B[i])); break;
        case RWKV_EW_ADD_SIGMOID_MUL: for (int i = 0; i < n; i++) Y[i] = A[i] + sigmoidf_(B[i]) * Cc[i]; break;
        case RWKV_EW_K7: for (int i = 0; i < n; i++) Y[i] = A[i] * (1.0f + (B[i] - 1.0f) * Cc[i]); break;
        case RWKV_EW_ADD: for (int i = 0; i < n; i++) Y[i] = A[i] + B[i]; break;
        case RWKV_EW_COPY: memmove(Y, A, (size_t)n * sizeof *Y); break;
        case RWKV_EW_COUNT: break;
        }
    }
}

void rwkv_op_shift(rwkv_ctx *ctx, const float *cur, float *prev, int T, int C, size_t state_off,
                   const rwkv_seg *seg, int nseg) {
    if (ctx->planning) return;
    const size_t row = (size_t)C * sizeof(float);
    for (int i = 0; i < nseg; i++) {
        float *saved = rwkv_ptr_to_host(seg[i].state) + state_off;
        const int s0 = seg[i].start, s1 = s0 + seg[i].len;
        memcpy(prev + (size_t)s0 * C, saved, row);
        if (s1 - s0 > 1) memcpy(prev + (size_t)(s0 + 1) * C, cur + (size_t)s0 * C, row * (size_t)(s1 - s0 - 1));
        memcpy(saved, cur + (size_t)(s1 - 1) * C, row);
    }
    (void)T;
}
