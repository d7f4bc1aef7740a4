/* backend.h — the seam between the model math (src/model, src/gen) and the hardware that runs it.
 *
 * A backend owns memory (weights, states, activations) and runs the operations a forward pass is
 * written in. The generation files never touch activation or state memory themselves: they call
 * the ops below on backend addresses (rwkv_ptr), so the same forward runs on the CPU (memory is
 * host memory, ops run at once on the thread pool) or on a GPU (memory is device memory, ops are
 * recorded into a command buffer and run at rwkv_backend_ops.sync).
 *
 * Contracts shared by every backend:
 *  - Everything that can fail is done at load: memory (alloc), weight placement (weight), and the
 *    plan (plan_begin ... a dry run of every forward shape ... plan_end), after which the forward
 *    ops have every buffer, pipeline and scratch they need: the forward ops return void and
 *    cannot fail. Only sync/download report errors that come from outside (a lost device).
 *  - Activations and states are fp32. Row tensors are [T][n] with a row stride (ld, floats);
 *    a vector operand ([n], the same for every row) is given with ld = 0.
 *  - Results must match the CPU scalar reference (src/backend/cpu) within the tolerances the
 *    tests state; the CPU backend itself is bit-identical for any thread count.
 *  - Ops on one backend run in the order they are called (a GPU backend inserts the barriers).
 *  - A backend leaves an op NULL when it does not implement it; a generation that needs it then
 *    fails to load on that backend with a clear message (rwkv_backend_check).
 */
#ifndef RWKV_BACKEND_H
#define RWKV_BACKEND_H

#include "base/internal.h"
#include "types/types.h"

/* An address in a backend's memory (CPU: a host pointer; Vulkan: a buffer device address).
 * 0 is the null address. Never dereference one on the host unless the backend has host_memory. */
typedef struct rwkv_ptr {
    uint64_t a;
} rwkv_ptr;

static inline rwkv_ptr rwkv_ptr_null(void) { return (rwkv_ptr){0}; }
static inline int rwkv_ptr_is_null(rwkv_ptr p) { return p.a == 0; }
/* p advanced by n floats. */
static inline rwkv_ptr rwkv_ptr_f(rwkv_ptr p, size_t n) { return (rwkv_ptr){p.a + 4u * (uint64_t)n}; }
/* p advanced by n bytes. */
static inline rwkv_ptr rwkv_ptr_b(rwkv_ptr p, size_t n) { return (rwkv_ptr){p.a + (uint64_t)n}; }
/* Host memory as an address (only for backends with host_memory). */
static inline rwkv_ptr rwkv_ptr_host(const void *p) { return (rwkv_ptr){(uint64_t)(uintptr_t)p}; }
static inline float *rwkv_ptr_to_host(rwkv_ptr p) { return (float *)(uintptr_t)p.a; }

/* A weight matrix [rows][cols] (PyTorch order: cols contiguous). data is the host copy (in the
 * file mapping or owned by the model) that loaders, converters and the CPU read; mem is where
 * the backend placed it (rwkv_backend_ops.weight; on the CPU the same bytes). */
typedef struct rwkv_weight {
    rwkv_dtype dtype;
    int rows;           /* first PyTorch dimension */
    int cols;           /* second PyTorch dimension (contiguous) */
    const void *data;   /* rows*cols elements, row-major, host memory */
    rwkv_ptr mem;       /* the backend's copy (set by rwkv_backend_ops.weight) */
    const void *packed; /* CPU: NULL, or block-quantized data re-laid for the integer path
                           (owned by the backend) */
    int data_unused;    /* set by weight(): the backend keeps its own copy and never reads data
                           again (the model may release the file pages under it) */
} rwkv_weight;

/* Elementwise activations (rwkv_backend_ops.act): y = act(x + bias). */
typedef enum rwkv_act {
    RWKV_ACT_TANH = 0,     /* tanh(x) */
    RWKV_ACT_SIGMOID = 1,  /* 1/(1+e^−x) */
    RWKV_ACT_RELU_SQ = 2,  /* max(x,0)² */
    RWKV_ACT_DECAY7 = 3,   /* exp(−e^−0.5 · σ(x)): the RWKV-7 decay, in (0,1) */
    RWKV_ACT_EXP = 4,      /* e^x */
    RWKV_ACT_IDENTITY = 5, /* x (with a bias: the sum x + bias) */
    RWKV_ACT_DECAY6 = 6,   /* exp(−e^x): the RWKV-6 decay */
    RWKV_ACT_COUNT
} rwkv_act;

/* What to do with a product's result (rwkv_linear_job.epilogue). */
typedef enum rwkv_epilogue {
    RWKV_EPI_NONE = 0,    /* Y = product */
    RWKV_EPI_RELU_SQ = 1, /* Y = max(product, 0)² */
    RWKV_EPI_ADD = 2      /* Y = product, then acc[t][o] += Y[t][o] (acc laid out like Y) */
} rwkv_epilogue;

/* One product of a batch over T tokens:
 *   transposed 0:  Y[t][o] = Σ_i W[o][i]·X[t][i]   (PyTorch Linear, W [out][in])
 *   transposed 1:  Y[t][o] = Σ_i X[t][i]·W[i][o]   (low-rank factors stored [in][out]) */
typedef struct rwkv_linear_job {
    const rwkv_weight *W;
    rwkv_ptr X;             /* [T][in], rows contiguous */
    rwkv_ptr Y;             /* [T][out], rows contiguous */
    int transposed;
    rwkv_epilogue epilogue;
    rwkv_ptr acc;           /* RWKV_EPI_ADD only: [T][out] */
} rwkv_linear_job;

/* Elementwise kinds (rwkv_backend_ops.ew): y[t][i] from operands a, b, c, d (row tensors or
 * vectors). Each formula is evaluated exactly as written, left to right, in fp32 (no fused
 * multiply-add), so every backend's scalar path rounds the same way. */
typedef enum rwkv_ew_kind {
    RWKV_EW_LERP = 0,         /* a + (b − a)·c          (token shift: a cur, b prev, c mix) */
    RWKV_EW_MIX = 1,          /* a·c + b·(1 − c)        (RWKV-4/5 token shift) */
    RWKV_EW_SUB = 2,          /* b − a */
    RWKV_EW_ADD_MUL_SUM = 3,  /* a + b·(c + d)          (RWKV-6 data-dependent token shift) */
    RWKV_EW_MUL = 4,          /* a·b */
    RWKV_EW_MUL_SIGMOID = 5,  /* a·σ(b) */
    RWKV_EW_MUL_SILU = 6,     /* a·(b·σ(b)) */
    RWKV_EW_ADD_SIGMOID_MUL = 7, /* a + σ(b)·c          (channel mix of RWKV-4/5/6) */
    RWKV_EW_K7 = 8,           /* a·(1 + (b − 1)·c)      (RWKV-7 key: a k, b the in-context rate, c k_a) */
    RWKV_EW_ADD = 9,          /* a + b */
    RWKV_EW_COPY = 10,        /* a */
    RWKV_EW_COUNT
} rwkv_ew_kind;

/* An operand of ew: a [T][n] tensor with row stride ld (floats), or with ld = 0 one [n] vector
 * used for every row. Unused operands are {0}. */
typedef struct rwkv_operand {
    rwkv_ptr p;
    int ld;
} rwkv_operand;

/* A run of consecutive rows of a forward that belong to one sequence. A forward over T rows is
 * one or more segments: one for a prompt chunk, one row per sequence for a batched decode step.
 * Ops that read or write a state (shift, wkv*) take the segments; state_off (floats) locates the
 * op's part inside each state. */
typedef struct rwkv_seg {
    rwkv_ptr state;       /* that sequence's state */
    int start, len;       /* rows [start, start + len) */
} rwkv_seg;

/* What a backend tells the model at load (rwkv_model_info fields and defaults). */
typedef struct rwkv_backend_info {
    const char *name;             /* "cpu", "vulkan" (static) */
    const char *device;           /* the device in words, e.g. "AMD EPYC (avx512, 2 threads)" (static
                                     or owned by the backend) */
    const char *quant_products;   /* rwkv_model_info.quant_products for quantized weights */
    const char *prefill_products; /* rwkv_model_info.prefill_products */
    int default_chunk;            /* sequence-mode chunk when the parameters leave it at 0 */
    int host_memory;              /* 1: rwkv_ptr are host pointers (rwkv_ptr_host may be passed) */
} rwkv_backend_info;

typedef struct rwkv_backend rwkv_backend;

/* The operations. `be` is the backend itself. */
typedef struct rwkv_backend_ops {
    void (*free)(rwkv_backend *be);
    void (*info)(const rwkv_backend *be, rwkv_backend_info *out);
    /* Threads for the ops (0 = physical cores). NULL where it does not apply. */
    rwkv_status (*set_threads)(rwkv_backend *be, int n_threads);

    /* ---- memory (load time and state management; may fail) ---- */
    /* bytes of zeroed memory; *out = its address. Freed with the backend or by mem_free. */
    rwkv_status (*alloc)(rwkv_backend *be, size_t bytes, rwkv_ptr *out);
    void (*mem_free)(rwkv_backend *be, rwkv_ptr p);
    /* Host ↔ backend copies; they wait for every op called before them. */
    rwkv_status (*upload)(rwkv_backend *be, rwkv_ptr dst, const void *src, size_t bytes);
    rwkv_status (*download)(rwkv_backend *be, void *dst, rwkv_ptr src, size_t bytes);
    /* Backend-to-backend copy, ordered with the ops. */
    void (*copy)(rwkv_backend *be, rwkv_ptr dst, rwkv_ptr src, size_t bytes);
    /* Places w (dtype, rows, cols, data set) in the backend: sets w->mem (and any private layout
     * such as w->packed). The host data stays valid and unchanged. */
    rwkv_status (*weight)(rwkv_backend *be, rwkv_weight *w);

    /* ---- plan (load time) ----
     * plan_begin switches the backend to planning: the forward ops that follow compute nothing
     * and touch no memory; they record what they will need (scratch, pipelines). The model runs
     * its forward once for every shape it will use (a full chunk, one token, a batch). plan_end
     * allocates it all and returns to execution; it is the last call that may fail for lack of
     * resources. Calling plan_begin again later (after set_threads, say) plans anew. */
    void (*plan_begin)(rwkv_backend *be);
    rwkv_status (*plan_end)(rwkv_backend *be);

    /* ---- forward ops (cannot fail) ---- */
    /* x[t] = row tokens[t] of emb (any plain dtype, converted to fp32), t < T. tokens is host
     * memory, valid only during the call (a recording backend copies it). */
    void (*embed)(rwkv_backend *be, const rwkv_weight *emb, const int32_t *tokens, int T, rwkv_ptr x);
    /* The n products of jobs over the same T tokens (one parallel step); outputs must not overlap
     * the batch's inputs. Results equal running the jobs one by one. */
    void (*linear)(rwkv_backend *be, const rwkv_linear_job *jobs, int n, int T);
    /* T rows of n normalised in groups of gs (gs = n: LayerNorm):
     *   y = (x − mean)/sqrt(var + eps)·g + b   per group (biased variance). y may equal x. */
    void (*norm)(rwkv_backend *be, rwkv_ptr x, rwkv_ptr y, rwkv_ptr g, rwkv_ptr b, int T, int n, int gs,
                 float eps);
    /* T rows of n scaled to unit L2 norm in groups of gs: y = x / max(‖x_group‖, 1e-12), the
     * squares summed in index order. y may equal x. */
    void (*l2norm)(rwkv_backend *be, rwkv_ptr x, rwkv_ptr y, int T, int n, int gs);
    /* y[t][i] = act(x[t][i] + bias[i]) for T rows of n (bias may be null). y may equal x. */
    void (*act)(rwkv_backend *be, rwkv_act kind, rwkv_ptr x, rwkv_ptr bias, rwkv_ptr y, int T, int n);
    /* y[t][i] = kind(a, b, c, d) for T rows of n; y has row stride ldy. y may equal an operand
     * with the same layout. */
    void (*ew)(rwkv_backend *be, rwkv_ew_kind kind, int T, int n, rwkv_ptr y, int ldy, rwkv_operand a,
               rwkv_operand b, rwkv_operand c, rwkv_operand d);
    /* Token shift: prev[t] = the row before t in its segment, or for a segment's first row the
     * saved vector at state + state_off; then each segment's last row of cur is saved there.
     * cur and prev are [T][C]. */
    void (*shift)(rwkv_backend *be, rwkv_ptr cur, rwkv_ptr prev, int T, int C, size_t state_off,
                  const rwkv_seg *seg, int nseg);
    /* RWKV-7 WKV with its output steps (src/backend/cpu/ops.h: rwkv_op_wkv7_out) for each
     * segment; the [H][N][N] state (value row, key column) is at state + state_off. r, w, k, v,
     * kk, a, y, g are [T][H·N]; ln_w, ln_b, r_k are [H·N]. */
    void (*wkv7)(rwkv_backend *be, size_t state_off, rwkv_ptr r, rwkv_ptr w, rwkv_ptr k, rwkv_ptr v,
                 rwkv_ptr kk, rwkv_ptr a, rwkv_ptr y, int T, int H, int N, rwkv_ptr ln_w, rwkv_ptr ln_b,
                 float eps, rwkv_ptr r_k, rwkv_ptr g, const rwkv_seg *seg, int nseg);
    /* RWKV-5/6 WKV (rwkv_op_wkv5): the [H][N][N] state (key row, value column) at state +
     * state_off; w is [T][H·N] when w_per_token (RWKV-6), else one [H·N] row; u is [H·N]. */
    void (*wkv5)(rwkv_backend *be, size_t state_off, rwkv_ptr r, rwkv_ptr w, int w_per_token, rwkv_ptr k,
                 rwkv_ptr v, rwkv_ptr u, rwkv_ptr y, int T, int H, int N, const rwkv_seg *seg, int nseg);
    /* RWKV-4 WKV per channel (stable form with a running exponent): aa, bb, pp are [C] each,
     * consecutive at state + state_off; u (time_first) and w (−exp(time_decay)) are [C]. */
    void (*wkv4)(rwkv_backend *be, size_t state_off, rwkv_ptr u, rwkv_ptr w, rwkv_ptr k, rwkv_ptr v,
                 rwkv_ptr y, int T, int C, const rwkv_seg *seg, int nseg);

    /* Waits for every op called so far. RWKV_OK on the CPU; a GPU reports a lost device here. */
    rwkv_status (*sync)(rwkv_backend *be);
} rwkv_backend_ops;

/* A backend: its ops and private state (each backend embeds this struct first). */
struct rwkv_backend {
    const rwkv_backend_ops *ops;
};

/* What the caller asks of a backend (from rwkv_model_params). */
typedef struct rwkv_backend_params {
    const char *device;   /* "cpu" (NULL or "" too), "vulkan", "vulkan:N" */
    int n_threads;        /* CPU worker threads (0 = physical cores) */
    int force_scalar;     /* CPU: scalar reference kernels only */
    int prefill_bf16;     /* CPU: bf16 prefill products for fp16/bf16 weights */
    int quant_dot;        /* RWKV_QUANT_DOT_* */
    int amx;              /* RWKV_AMX_* */
} rwkv_backend_params;

/* Makes the backend that p->device names (the one selector of backends: src/backend/registry.c).
 * RWKV_ERR_UNSUPPORTED for a device this build has no backend for or that is absent. */
rwkv_status rwkv_backend_new(const rwkv_backend_params *p, rwkv_backend **out);
void rwkv_backend_free(rwkv_backend *be);

/* Ops a forward may need (rwkv_backend_check). */
enum {
    RWKV_NEED_WKV7 = 1 << 0,
    RWKV_NEED_WKV5 = 1 << 1,
    RWKV_NEED_WKV4 = 1 << 2,
};
/* RWKV_OK when be has every op in `needs` (and the common ones), else RWKV_ERR_UNSUPPORTED with a
 * message naming the backend, the missing op and `what` (e.g. "RWKV-4 models"). */
rwkv_status rwkv_backend_check(const rwkv_backend *be, unsigned needs, const char *what);

/* Backend constructors, one per backend folder. */
rwkv_status rwkv_backend_cpu_new(const rwkv_backend_params *p, rwkv_backend **out);
#if defined(RWKV_VULKAN)
rwkv_status rwkv_backend_vulkan_new(const rwkv_backend_params *p, int device_index, rwkv_backend **out);
#endif

#endif
