/* ops_quant.h — integer-dot kernels for block-quantized weights (quant.h), internal to the
 * library and to tests/test_quant.c.
 *
 * Activations are quantized per block of 32 to int8, as ggml's q8_0 does for its integer dots:
 *   d = max|x|/127 (fp32), q = round-half-even(x·(1/d)), s = d·Σq       (all types)
 * and each weight block is dotted with the activation block(s) it covers in integer arithmetic:
 *   q8_0 / q4_0 / q5_0 / nf4   y += d_w·d_x · Σ w_j·q_j      (w_j the signed int8 weight code:
 *                                q8_0 q, q4_0 nib−8, q5_0 v−16, nf4 round(127·NF4[nib]))
 *   q4_1 / q5_1                 y += d_w·d_x · Σ u_j·q_j + m_w·s_x   (u_j the unsigned code)
 * The integer sums are exact; only the fp32 accumulation order differs between the scalar oracle
 * and the SIMD twins. NF4 uses its code book rounded to int8 (|error| ≤ 0.5/127 of the block's
 * absmax per weight, small next to the NF4 step). A result depends only on W, X, the row and the
 * token — never on the row slice or on T — so threads may split rows freely. */
#ifndef RWKV_OPS_QUANT_H
#define RWKV_OPS_QUANT_H

#include "base/internal.h"
#include "types/types.h"

struct rwkv_weight;

/* One kernel set (scalar oracle or one instruction set). */
typedef struct rwkv_qkernels {
    const char *name;
    /* Quantizes one row of K activations (K a multiple of 32) into q[K], d[K/32], s[K/32].
     * Every table produces the same bits. */
    void (*quantize_x)(const float *x, int K, int8_t *q, float *d, float *s);
    /* Rows [o0, o1) of Y[t·ldy + o] = Σ W[o]·X[t] for t < T, W of type dt (row_bytes bytes per
     * row, K columns), X given by its quantized rows xq [T][K], xd/xs [T][K/32]. */
    void (*dot)(rwkv_dtype dt, const void *W, size_t row_bytes, int K, int o0, int o1,
                const int8_t *xq, const float *xd, const float *xs, int T, float *Y, int ldy);
    /* The same rows with fp32 activations X [T][K] and exactly dequantized weights (fp32 FMA):
     * the float reference's result up to summation order. NULL in the scalar table (the float
     * reference is its scalar twin). */
    void (*dotf)(rwkv_dtype dt, const void *W, size_t row_bytes, int K, int o0, int o1,
                 const float *X, int T, float *Y, int ldy);
    /* Optional (NULL where absent): a second layout of a quantized matrix made once at load for
     * the integer path (quant_avx512.c: 16 rows interleaved, one stream per 16 rows, no
     * gathers). packed_bytes(dt, rows, K) is its size, pack(dt, W, rows, K, g0, g1, P) writes
     * its 16-row groups [g0, g1) (threads may split the groups) and dot_packed computes rows [o0, o1) of Y from it (o1 may be beyond rows: clamped), with
     * results equal to dot's bit for bit. */
    size_t (*packed_bytes)(rwkv_dtype dt, int rows, int K);
    void (*pack)(rwkv_dtype dt, const void *W, int rows, int K, int g0, int g1, void *P);
    void (*dot_packed)(rwkv_dtype dt, const void *P, int rows, int K, int o0, int o1, const int8_t *xq,
                       const float *xd, const float *xs, int T, float *Y, int ldy);
    /* 1 where dot is clearly faster than dotf (measured): then the integer path is the default
     * (rwkv_model_params.quant_dot = RWKV_QUANT_DOT_AUTO). */
    int int8_default;
} rwkv_qkernels;

/* The scalar integer oracle (always there). */
const rwkv_qkernels *rwkv_qkernels_scalar(void);
/* The SIMD tables: NULL when the running CPU lacks their features. Only the ones of the target
 * architecture exist (src/backend/cpu/x86/quant_avx2.c, quant_avx512.c, src/backend/cpu/arm/quant_neon.c). */
#if defined(__x86_64__)
const rwkv_qkernels *rwkv_qkernels_avx2(void);
const rwkv_qkernels *rwkv_qkernels_avx512(void);
#endif
#if defined(__aarch64__)
const rwkv_qkernels *rwkv_qkernels_neon(void);
#endif
/* The best integer table for this CPU (select.c), or NULL when there is no SIMD one (then the
 * float reference path is used). */
const rwkv_qkernels *rwkv_qkernels_best(void);

/* Rows [o0, o1) of Y = X·Wᵀ (Y [T][W->rows], X [T][W->cols]) for a block-quantized W with the
 * integer table k: k NULL runs the float reference (dequantize a row, fp32 dot: no activation
 * rounding); otherwise int8 = 1 the table's integer path, 0 its float path. work (work_bytes,
 * may be NULL/0) is scratch for the quantized activations; without enough the call uses its
 * stack or the heap. */
void rwkv_linear_quant_rows_ex(const rwkv_qkernels *k, const struct rwkv_weight *W, int o0, int o1,
                               const float *X, int T, float *Y, int int8, void *work, size_t work_bytes);

/* The integer path in two steps, so a caller can quantize the activations once per product
 * instead of once per row slice (rwkv_linear_quant_rows_ex quantizes X in every call):
 *  - rwkv_quant_acts_bytes: the scratch for T rows of K activations, or 0 when there is no
 *    integer path (no SIMD table, K not a multiple of 32): then use rwkv_linear_quant_rows_ex;
 *  - rwkv_quant_acts: quantizes token rows [t0, t1) of X [T][K] into buf (threads may split the
 *    rows);
 *  - rwkv_linear_quant_rows_q: rows [o0, o1) of Y from buf (threads may split the rows).
 * The results are rwkv_linear_quant_rows_ex's (int8 mode), bit for bit. */
size_t rwkv_quant_acts_bytes(const rwkv_qkernels *k, int K, int T);
void rwkv_quant_acts(const rwkv_qkernels *k, const float *X, int K, int T, int t0, int t1, void *buf);
void rwkv_linear_quant_rows_q(const rwkv_qkernels *k, const struct rwkv_weight *W, int o0, int o1,
                              const void *buf, int T, float *Y);

/* Room for a copy of W in table k's packed layout (rwkv_qkernels.pack; free() it), or
 * NULL when k is NULL or has none, W is not a block-quantized matrix with K a multiple of 32, or
 * memory is short (then products read W->data as before). *groups: its 16-row groups.
 * rwkv_quant_pack_groups writes groups [g0, g1) (threads may split them). Set W->packed to the
 * copy and the integer path of rwkv_linear_quant_rows_ex / _q reads it instead of W->data
 * (same results, bit for bit). */
void *rwkv_quant_pack_alloc(const rwkv_qkernels *k, const struct rwkv_weight *W, int *groups);
void rwkv_quant_pack_groups(const rwkv_qkernels *k, const struct rwkv_weight *W, int g0, int g1, void *P);

/* The float reference (force_scalar path), exposed for the tests. */
void rwkv_linear_quant_rows_ref(const struct rwkv_weight *W, int o0, int o1, const float *X,
                                int T, float *Y);

#endif
