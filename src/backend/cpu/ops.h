/* ops.h — the CPU backend's execution context and ops (ops.c, ops_wkv.c). Each op is one parallel
 * step on the context's thread pool over host memory, with the kernels of kernels.h; the scalar
 * oracle of every kernel is ops_scalar.c. cpu_backend.c exposes these ops through the backend
 * seam (backend/backend.h); tests may call them directly.
 *
 * Work memory is planned, not grown: between rwkv_ctx_plan_begin and rwkv_ctx_plan_end the ops
 * compute nothing and record the scratch they will need; plan_end allocates it. After that an op
 * never allocates and never fails. An op whose needs exceed the plan is a bug in the caller's
 * plan; it still computes the right result on a slower path that needs no scratch. */
#ifndef RWKV_OPS_H
#define RWKV_OPS_H

#include "backend/backend.h"
#include "kernels.h"

typedef struct rwkv_ctx rwkv_ctx; /* threads, kernel table, planned scratch */

/* What a context is asked for (from rwkv_backend_params). */
typedef struct rwkv_ctx_params {
    int n_threads;    /* 0 = physical cores */
    int force_scalar; /* scalar reference kernels only */
    int prefill_bf16; /* bf16 prefill products for fp16/bf16 weights */
    int quant_dot;    /* RWKV_QUANT_DOT_* */
    int amx;          /* RWKV_AMX_* */
} rwkv_ctx_params;

/* Creates / destroys an execution context. */
rwkv_status rwkv_ctx_new(const rwkv_ctx_params *p, rwkv_ctx **out);
void rwkv_ctx_free(rwkv_ctx *ctx);
/* Changes the thread count; the per-thread scratch is re-made for the current plan. All or
 * nothing: on failure the context keeps its threads. */
rwkv_status rwkv_ctx_set_threads(rwkv_ctx *ctx, int n_threads);

/* Planning (see above). plan_begin clears nothing already planned: plans only grow. */
void rwkv_ctx_plan_begin(rwkv_ctx *ctx);
rwkv_status rwkv_ctx_plan_end(rwkv_ctx *ctx);

/* RWKV_OK, or the error of an op since the last call that could not run (an op outside the plan
 * whose scratch could not be allocated; its outputs were set to NaN). Clears it. */
rwkv_status rwkv_ctx_take_error(rwkv_ctx *ctx);

/* "int8", "exact" or "scalar": the path the context takes for block-quantized weights. */
const char *rwkv_ctx_quant_products(const rwkv_ctx *ctx);
/* rwkv_model_info.prefill_products of a model run by this context (static string). */
const char *rwkv_ctx_prefill_products(const rwkv_ctx *ctx);
/* The default sequence chunk for this context's products (tokens): 64, 128 with the split-bf16
 * tile products (linear_x3), 256 with the opt-in bf16 products on tiles. */
int rwkv_ctx_default_chunk(const rwkv_ctx *ctx);
/* A description of the CPU path, e.g. "avx512-amx, 2 threads". Valid until the next call. */
const char *rwkv_ctx_describe(rwkv_ctx *ctx);

/* For a block-quantized w, when the context's products take the integer path with a packed
 * layout: a packed copy of w written by the context's threads (free() it), else NULL (products
 * then read w->data). */
void *rwkv_ctx_quant_pack(rwkv_ctx *ctx, const rwkv_weight *w);

/* Runs fn(arg, u, ith) for every u < n_units on the context's threads (threadpool.h
 * rwkv_pool_run_units); does nothing while planning. For ops written outside ops.c. */
typedef void (*rwkv_ctx_unit_fn)(void *arg, int unit, int ith);
void rwkv_ctx_run(rwkv_ctx *ctx, rwkv_ctx_unit_fn fn, void *arg, int n_units);

/* The context's kernel table. */
const rwkv_kernels *rwkv_ctx_kernels(const rwkv_ctx *ctx);

/* ---- ops on host memory ---------------------------------------------------------------------- */

/* The n products of jobs (backend.h; addresses are host pointers) over the same T tokens, as one
 * parallel step: each thread takes a fixed share of every product's output rows (columns when
 * transposed). Results are identical whatever the thread count and however the jobs are
 * grouped. Outputs must not overlap inputs of the batch. */
void rwkv_op_linear_batch(rwkv_ctx *ctx, const rwkv_linear_job *jobs, int n, int T);

/* Normalises T rows of length n in groups of gs (gs = n: LayerNorm), rows over the threads.
 * y may equal x. */
void rwkv_op_norm(rwkv_ctx *ctx, const float *x, float *y, const float *g, const float *b, int T,
                  int n, int gs, float eps);

/* backend.h l2norm. */
void rwkv_op_l2norm(rwkv_ctx *ctx, const float *x, float *y, int T, int n, int gs);

/* y[t][i] = act(x[t][i] + bias[i]) for T rows of n (bias [n] or NULL). y may equal x. */
void rwkv_op_act(rwkv_ctx *ctx, rwkv_act kind, const float *x, const float *bias, float *y, int T,
                 int n);

/* backend.h ew (operand addresses are host pointers). */
void rwkv_op_ew(rwkv_ctx *ctx, rwkv_ew_kind kind, int T, int n, float *y, int ldy, rwkv_operand a,
                rwkv_operand b, rwkv_operand c, rwkv_operand d);

/* backend.h shift. */
void rwkv_op_shift(rwkv_ctx *ctx, const float *cur, float *prev, int T, int C, size_t state_off,
                   const rwkv_seg *seg, int nseg);

/* RWKV-7 WKV over T tokens for H heads of size N, followed per head and token by the head's
 * output steps. S is [H][N][N] (value row, key column), updated in place; r,w,k,v,kk,a,y,g are
 * [T][H·N]:
 *   S[i][j] = S[i][j]·w[j] − (Σ_m S[i][m]·kk[m])·kk[j]·a[j] + v[i]·k[j];   y[i] = Σ_j S[i][j]·r[j]
 *   (the sum over m uses S before the update), then
 *   y_h = GroupNorm(y_h)·ln_w + ln_b (eps);  y_h += (Σ_j r_h[j]·k_h[j]·r_k[h·N+j])·v_h;  y_h *= g_h
 * ln_w, ln_b, r_k are [H·N]; ln_w NULL skips the output steps (y is then the plain WKV).
 * Heads are split over the threads. */
void rwkv_op_wkv7(rwkv_ctx *ctx, float *S, const float *r, const float *w, const float *k,
                  const float *v, const float *kk, const float *a, float *y, int T, int H, int N,
                  const float *ln_w, const float *ln_b, float eps, const float *r_k, const float *g);

/* RWKV-5/6 WKV recurrence over T tokens for H heads of size N (ops_wkv.c). S is [H][N][N] (key
 * row, value column: the opposite of RWKV-7), updated in place; r,k,v,y are [T][H*N]; u
 * (time_first / time_faaaa) is [H*N]; w (the decay, in (0,1)) is [T][H*N] when w_per_token
 * (RWKV-6), else one [H*N] row for every token (RWKV-5). Per head, per token:
 *   y[j] = Σ_i r[i]·(u[i]·k[i]·v[j] + S[i][j]);   then S[i][j] = S[i][j]·w[i] + k[i]·v[j]
 * Heads are split over the threads. */
void rwkv_op_wkv5(rwkv_ctx *ctx, float *S, const float *r, const float *w, int w_per_token,
                  const float *k, const float *v, const float *u, float *y, int T, int H, int N);

/* RWKV-4 WKV over T tokens per channel (ops_wkv.c), in the stable form with a running exponent:
 *   ww = u + k;  p = max(pp, ww);  y = (e^{pp−p}·aa + e^{ww−p}·v) / (e^{pp−p}·bb + e^{ww−p})
 *   ww = w + pp; p = max(ww, k);   aa = e^{ww−p}·aa + e^{k−p}·v;  bb = e^{ww−p}·bb + e^{k−p};  pp = p
 * aa, bb, pp are [C] (updated in place), u and w [C], k, v, y [T][C]. Channels over the threads. */
void rwkv_op_wkv4(rwkv_ctx *ctx, float *aa, float *bb, float *pp, const float *u, const float *w,
                  const float *k, const float *v, float *y, int T, int C);

#endif
