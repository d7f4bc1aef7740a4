/* ops.h — the heavy operations the model math is written in. Each op has a scalar reference
 * (ops.c); faster variants sit underneath without changing these signatures. */
#ifndef RWKV_OPS_H
#define RWKV_OPS_H

#include "internal.h"

/* A weight matrix inside the model file (or owned memory). */
typedef struct rwkv_weight {
    rwkv_dtype dtype;
    int rows;          /* first PyTorch dimension */
    int cols;          /* second PyTorch dimension (contiguous) */
    const void *data;  /* rows*cols elements, row-major */
} rwkv_weight;

typedef struct rwkv_ctx rwkv_ctx; /* per-model execution context: threads, kernel table */

/* Creates / destroys an execution context. n_threads 0 = physical cores. */
rwkv_status rwkv_ctx_new(int n_threads, int force_scalar, rwkv_ctx **out);
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

/* LayerNorm of each of T rows of length n: y = (x − mean)/sqrt(var + eps)·g + b. y may equal x. */
void rwkv_op_layernorm(const float *x, float *y, const float *g, const float *b, int T, int n,
                       float eps);

/* GroupNorm of each of T rows of length n split into groups of gs. y may equal x. */
void rwkv_op_groupnorm(const float *x, float *y, const float *g, const float *b, int T, int n,
                       int gs, float eps);

#endif
