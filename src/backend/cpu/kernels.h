/* kernels.h — the kernel trait table: one set of function pointers per instruction set,
 * filled once at start-up from the CPU's features (one binary runs everywhere).
 *
 * The scalar table (ops_scalar.c) is the readable oracle; src/backend/cpu/x86/kernels_avx2.c,
 * kernels_avx512.c and src/backend/cpu/arm/kernels_neon.c hold the SIMD twins, each tested against the
 * scalar table in tests/test_kernels.c. A SIMD table may point entries it does not speed up at
 * the scalar ones.
 *
 * Kernels work on a slice of an op (rows of a matrix, columns, one head) so that ops.c can
 * hand slices to threads. Determinism: every output element is computed by one call, in an
 * order that depends only on the op's shape and on the element's position relative to a slice
 * start that is a multiple of RWKV_ROW_ALIGN — never on the slice's length. Callers (ops.c)
 * therefore start slices at multiples of RWKV_ROW_ALIGN, and results do not depend on the
 * number of threads. */
#ifndef RWKV_KERNELS_H
#define RWKV_KERNELS_H

#include "backend/backend.h" /* rwkv_act */
#include "types/types.h"

/* Row slices of rwkv_kernels.linear / linear_bf16 start at multiples of this. */
#define RWKV_ROW_ALIGN 16

/* Bytes of private scratch a linear / linear_bf16 / linear_x3 call may use for an input width K
 * (linear_x3: two bf16 panels of 32 rows). */
#define RWKV_LINEAR_WORK_BYTES(K) ((size_t)RWKV_ROW_ALIGN * 8u * (size_t)(K) + 256u)

/* The tile layout of split activations (linear_x3): per block of 16 tokens, per 32 input
 * columns, per part, one 16 × 16 array of pairs (row: column pair, column: token) — the B
 * operand of a bf16 tile product. Elements of the T tokens: rwkv_x3_elems(K, T). */
static inline size_t rwkv_x3_index(int K, int t, int part, int k) {
    const size_t tile = ((size_t)(t / 16) * (size_t)(K / 32) + (size_t)(k / 32)) * 3 + (size_t)part;
    return tile * 512 + (size_t)((k % 32) / 2) * 32 + (size_t)(t % 16) * 2 + (size_t)(k % 2);
}
static inline size_t rwkv_x3_elems(int K, int T) { return (size_t)((T + 15) / 16) * 16 * 3 * (size_t)K; }

typedef struct rwkv_kernels {
    const char *name; /* "scalar", "avx2", "avx512", "avx512-amx", "neon" */
    int tiles;        /* 1: the bf16 products run on matrix tiles (AMX) */

    /* Rows [r0, r1) of Y = X·Wᵀ for T tokens:
     *   Y[t·ldy + o] = Σ_{i<K} W[o·K + i] · X[t·ldx + i]      r0 <= o < r1, t < T
     * W is row-major [rows][K] of type dt (fp32 weights are read as is, fp16/bf16 exactly
     * converted to fp32; sums in fp32). work: RWKV_LINEAR_WORK_BYTES(K) private bytes. */
    void (*linear)(rwkv_dtype dt, const void *W, int K, int r0, int r1, const float *X, int ldx,
                   int T, float *Y, int ldy, void *work);

    /* The same product in bfloat16 arithmetic: Xb holds the activations already rounded to
     * bf16 ([T][ldxb]); bf16 weights are used as they are, fp16 weights are rounded to bf16
     * (round to nearest even); products of two bf16 are exact in fp32 and summed in fp32
     * (the AVX-512 BF16 vdpbf16ps contract: denormals flushed). NULL where the CPU has no
     * bf16 dot product. Only called for dt fp16 or bf16. */
    void (*linear_bf16)(rwkv_dtype dt, const void *W, int K, int r0, int r1, const uint16_t *Xb,
                        int ldxb, int T, float *Y, int ldy, void *work);

    /* The product of `linear` (fp16/bf16 weights) at fp32 grade on bf16 matrix units: Xs holds
     * the activations of the T tokens split exactly into three bf16 parts, in the tile layout of
     * rwkv_x3_index (to_bf16x3); fp16 weights are split exactly into two bf16 parts (bf16
     * weights are one). Every product of two parts is exact in fp32; all of them are summed in
     * fp32 but w_lo·x_lo (fp16 weights only; < 2^-24·|w·x|) — an error of the order of one
     * fp32 rounding of each product. Denormals flushed. K must be a multiple of 32. NULL where
     * the CPU has no such unit (AMX). work: RWKV_LINEAR_WORK_BYTES(K). */
    void (*linear_x3)(rwkv_dtype dt, const void *W, int K, int r0, int r1, const uint16_t *Xs, int T,
                      float *Y, int ldy, void *work);

    /* Columns [c0, c1) of Y = X·W for T tokens, W row-major [K][M] of type dt:
     *   Y[t·ldy + o] = Σ_{i<K} X[t·ldx + i] · W[i·M + o]      c0 <= o < c1, t < T
     * summed in order of i. */
    void (*linear_t)(rwkv_dtype dt, const void *W, int K, int M, int c0, int c1, const float *X,
                     int ldx, int T, float *Y, int ldy);

    /* One head of the RWKV-7 WKV recurrence (rwkv_op_wkv7) over T tokens. S is the head's
     * [N][N] state (value row, key column); r, w, k, v, kk, a, y point at the head's first
     * channel of token 0 and step ld floats per token. */
    void (*wkv7)(float *S, const float *r, const float *w, const float *k, const float *v,
                 const float *kk, const float *a, float *y, int T, int ld, int N);

    /* One head of the RWKV-5/6 WKV recurrence (rwkv_op_wkv5) for one token:
     *   y[j] = Σ_i r[i]·(u[i]·k[i]·v[j] + S[i][j]);   S[i][j] = S[i][j]·w[i] + k[i]·v[j]
     * S is the head's [N key][N value] block; r, k, w, u its key channels, v and y its value
     * channels. NULL in a SIMD table: the scalar kernel serves. */
    void (*wkv5)(float *S, float *y, const float *r, const float *k, const float *v, const float *w,
                 const float *u, int N);

    /* One row of n floats normalised in groups of gs (gs divides n):
     *   y = (x − mean)/sqrt(var + eps)·g + b   per group (biased variance). y may equal x. */
    void (*groupnorm)(const float *x, float *y, const float *g, const float *b, int n, int gs,
                      float eps);

    /* y[i] = act(x[i] + bias[i]) for i < n (bias may be NULL). y may equal x. */
    void (*act)(rwkv_act kind, const float *x, const float *bias, float *y, int n);

    /* y[i] = x[i] rounded to bf16 (nearest even), i < n. */
    void (*to_bf16)(const float *x, uint16_t *y, int n);

    /* Tokens [16b, 16b+16) of X ([T][ldx] fp32, rows past T read as 0) split into three bf16
     * parts, written at Xs[rwkv_x3_index(K, t, part, k)]: hi = bf16(x), mid = bf16(x − hi),
     * lo = x − hi − mid (exact: x = hi + mid + lo for finite x whose parts stay normal). */
    void (*to_bf16x3)(const float *X, int ldx, int K, int T, int b, uint16_t *Xs);
} rwkv_kernels;

/* The scalar reference table (always available). */
const rwkv_kernels *rwkv_kernels_scalar(void);

/* The SIMD tables; each returns NULL when the running CPU lacks the features it needs.
 * Only the ones of the target architecture exist. */
#if defined(__x86_64__)
const rwkv_kernels *rwkv_kernels_avx2(void);
const rwkv_kernels *rwkv_kernels_avx512(void);
/* The AVX-512 table whose bf16 products run on AMX tiles (needs AMX-BF16 and the OS grant, which
 * this call asks for). */
const rwkv_kernels *rwkv_kernels_amx(void);
#endif
#if defined(__aarch64__)
const rwkv_kernels *rwkv_kernels_neon(void);
#endif


/* The best table for this CPU (select.c): the scalar one when force_scalar; the AMX table only
 * when allow_amx (the OS grant is asked for then, not before). */
const rwkv_kernels *rwkv_kernels_best(int force_scalar, int allow_amx);

#endif
