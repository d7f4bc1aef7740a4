/* ops.h — the heavy operations the model math is written in. Each op has a scalar reference
 * (ops.c); faster variants sit underneath without changing these signatures. */
#ifndef RWKV_OPS_H
#define RWKV_OPS_H

#include "base/internal.h"
#include "kernels.h"

/* A weight matrix inside the model file (or owned memory). */
typedef struct rwkv_weight {
    rwkv_dtype dtype;
    int rows;          /* first PyTorch dimension */
    int cols;          /* second PyTorch dimension (contiguous) */
    const void *data;  /* rows*cols elements, row-major */
    const void *packed; /* NULL, or block-quantized data re-laid for the integer path
                           (rwkv_quant_pack, owned by the model) */
} rwkv_weight;

typedef struct rwkv_ctx rwkv_ctx; /* per-model execution context: threads, kernel table */

/* Creates / destroys an execution context. n_threads 0 = physical cores. */
rwkv_status rwkv_ctx_new(int n_threads, int force_scalar, int prefill_bf16, int quant_dot,
                          rwkv_ctx **out);
/* "int8", "exact" or "scalar": the path the context takes for block-quantized weights. */
const char *rwkv_ctx_quant_products(const rwkv_ctx *ctx);
/* True when the context's products with block-quantized weights would use packed copies
 * (rwkv_quant_pack_alloc): integer path, SIMD, and a kernel table with a packed layout. */
int rwkv_ctx_packs_quant(const rwkv_ctx *ctx);

/* The default sequence chunk for this context's products (tokens): 64, 128 with the split-bf16
 * tile products (linear_x3), 256 with the opt-in bf16 products on tiles. */
int rwkv_ctx_default_chunk(const rwkv_ctx *ctx);
/* rwkv_model_info.prefill_products of a model run by this context (static string). */
const char *rwkv_ctx_prefill_products(const rwkv_ctx *ctx);
/* The packed copy of W (ops_quant.h), written by the context's threads; NULL as
 * rwkv_quant_pack_alloc. */
void *rwkv_ctx_quant_pack(rwkv_ctx *ctx, const rwkv_weight *W);
void rwkv_ctx_free(rwkv_ctx *ctx);
rwkv_status rwkv_ctx_set_threads(rwkv_ctx *ctx, int n_threads);
int rwkv_ctx_threads(const rwkv_ctx *ctx);

/* Y[t][o] = Σ_i W[o][i] · X[t][i]   for t < T, o < W.rows; X is [T][W.cols], Y is [T][W.rows].
 * (PyTorch Linear: y = W x, W stored [out][in].) */
void rwkv_op_linear(rwkv_ctx *ctx, const rwkv_weight *W, const float *X, float *Y, int T);

/* Y[t][o] = Σ_i X[t][i] · W[i][o]   for t < T, o < W.cols; X is [T][W.rows], Y is [T][W.cols].
 * (Low-rank factors stored [in][out]: y = xᵀ W.) */
void rwkv_op_linear_t(rwkv_ctx *ctx, const rwkv_weight *W, const float *X, float *Y, int T);

/* RWKV-7 WKV recurrence over T tokens for H heads of size N. S is [H][N][N] (value row, key
 * column), updated in place; r,w,k,v,kk,a are [T][H*N]; y is [T][H*N]:
 *   S[i][j] = S[i][j]·w[j] − (Σ_m S[i][m]·kk[m])·kk[j]·a[j] + v[i]·k[j];   y[i] = Σ_j S[i][j]·r[j]
 * (the sum over m uses S before the update). */
void rwkv_op_wkv7(rwkv_ctx *ctx, float *S, const float *r, const float *w, const float *k,
                  const float *v, const float *kk, const float *a, float *y, int T, int H, int N);

/* RWKV-5/6 WKV recurrence over T tokens for H heads of size N (ops_wkv.c). S is [H][N][N]
 * (key row, value column: the opposite of RWKV-7), updated in place; r,k,v,y are [T][H*N];
 * u (time_first / time_faaaa) is [H*N]; w (the decay, in (0,1)) is [T][H*N] when w_per_token
 * (RWKV-6), else one [H*N] row for every token (RWKV-5). Per head, per token:
 *   y[j] = Σ_i r[i]·(u[i]·k[i]·v[j] + S[i][j]);   then S[i][j] = S[i][j]·w[i] + k[i]·v[j] */
void rwkv_op_wkv5(rwkv_ctx *ctx, float *S, const float *r, const float *w, int w_per_token,
                  const float *k, const float *v, const float *u, float *y, int T, int H, int N);

/* ---- added ops: batched products, fused and threaded elementwise work ------------------- */

/* What to do with a product's result (rwkv_linear_job.epilogue). */
typedef enum rwkv_epilogue {
    RWKV_EPI_NONE = 0,    /* Y = product */
    RWKV_EPI_RELU_SQ = 1, /* Y = max(product, 0)² */
    RWKV_EPI_ADD = 2      /* Y = product, then acc[t][o] += Y[t][o] (acc laid out like Y) */
} rwkv_epilogue;

/* One product of a batch. */
typedef struct rwkv_linear_job {
    const rwkv_weight *W;
    const float *X;       /* [T][in] */
    float *Y;             /* [T][out] */
    int transposed;       /* 0: as rwkv_op_linear (W [out][in]); 1: as rwkv_op_linear_t */
    rwkv_epilogue epilogue;
    float *acc;           /* RWKV_EPI_ADD only: [T][out] */
} rwkv_linear_job;

/* Runs n products over the same T tokens as one parallel step (one wake-up, one barrier):
 * each thread takes a fixed share of every product's output rows (columns when transposed).
 * Results are identical to running the jobs one by one with rwkv_op_linear / _linear_t,
 * whatever the thread count. Outputs must not overlap inputs of the batch. */
void rwkv_op_linear_batch(rwkv_ctx *ctx, const rwkv_linear_job *jobs, int n, int T);

/* Normalises T rows of length n in groups of gs (gs = n: LayerNorm) with the context's
 * kernels, rows split over the threads. y may equal x. */
void rwkv_op_norm(rwkv_ctx *ctx, const float *x, float *y, const float *g, const float *b, int T,
                  int n, int gs, float eps);

/* y[t][i] = act(x[t][i] + bias[i]) for T rows of n (bias [n] or NULL). y may equal x. */
void rwkv_op_act(rwkv_ctx *ctx, rwkv_act kind, const float *x, const float *bias, float *y, int T,
                 int n);

/* RWKV-7 WKV (as rwkv_op_wkv7) followed, per head and token, by the head's output steps:
 *   y_h = GroupNorm(y_h)·ln_w + ln_b   (eps)
 *   y_h += (Σ_j r_h[j]·k_h[j]·r_k[h·N+j]) · v_h
 *   y_h *= g_h
 * ln_w, ln_b, r_k are [H·N]; g is [T][H·N]. Heads are split over the threads. */
void rwkv_op_wkv7_out(rwkv_ctx *ctx, float *S, const float *r, const float *w, const float *k,
                      const float *v, const float *kk, const float *a, float *y, int T, int H,
                      int N, const float *ln_w, const float *ln_b, float eps, const float *r_k,
                      const float *g);

/* Name of the kernel table the context uses ("avx512", "scalar", ...). */
const char *rwkv_ctx_kernels_name(const rwkv_ctx *ctx);

/* LayerNorm of each of T rows of length n: y = (x − mean)/sqrt(var + eps)·g + b. y may equal x. */
void rwkv_op_layernorm(const float *x, float *y, const float *g, const float *b, int T, int n,
                       float eps);

/* GroupNorm of each of T rows of length n split into groups of gs. y may equal x. */
void rwkv_op_groupnorm(const float *x, float *y, const float *g, const float *b, int T, int n,
                       int gs, float eps);

#endif
