/* ops_quant.c — products with block-quantized weight matrices (types in quant.h, kernels in
 * ops_quant.h).
 *
 * Two paths:
 *  - the float reference (force_scalar, or a CPU with no SIMD table): each weight row is
 *    dequantized to fp32 and dotted with every token's activations in a fixed order (8 partial
 *    sums): rwkv_type_dot_f32 of the type table (src/types/dot.c);
 *  - the integer path: the activations are quantized per block of 32 to int8 (once per chunk
 *    of tokens) and each weight block is dotted with them in integer arithmetic by the best
 *    kernel table (src/backend/cpu/…/quant_*.c); the scalar table here (the activation quantizer
 *    and the type table's rwkv_type_dot_i8) is their reference.
 * Either way a result depends only on W, X, the row and the token, not on the slice or T. */
#include "ops_quant.h"

#include "backend/backend.h"
#include "types/quant.h"

#include <math.h>
#include <stdlib.h>
#include <sys/mman.h>

/* ---- float reference ---------------------------------------------------------------------- */

void rwkv_linear_quant_rows_ref(const struct rwkv_weight *W, int o0, int o1, const float *X,
                                int T, float *Y) {
    rwkv_type_dot_f32(W->dtype, W->data, rwkv_dtype_row_bytes(W->dtype, (size_t)W->cols), W->cols, o0, o1, X, T,
                      Y, W->rows);
}

/* ---- scalar integer table ----------------------------------------------------------------- */

/* The activation quantizer of ops_quant.h. x·(1/d) is one rounded product and the rounding is
 * to nearest even, exactly what the SIMD twins compute (cvtps2dq / vcvtnq). */
static void quantize_x_scalar(const float *x, int K, int8_t *q, float *d, float *s) {
    for (int b = 0; b < K / 32; b++) {
        const float *xb = x + 32 * b;
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(xb[j]));
        const float db = amax / 127.0f;
        float id = db != 0.0f ? 1.0f / db : 0.0f;
        if (isinf(id)) id = 0.0f; /* amax < ~3.7e-37: codes 0 (1/d would overflow) */
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            int v = (int)nearbyintf(xb[j] * id);
            q[32 * b + j] = (int8_t)v;
            sum += v;
        }
        d[b] = db;
        s[b] = db * (float)sum;
    }
}

static const rwkv_qkernels scalar_qtable = {
    .name = "scalar",
    .quantize_x = quantize_x_scalar,
    .dot = rwkv_type_dot_i8, /* the integer dot of the type table (src/types/dot.c) */
    .dotf = NULL,
};

const rwkv_qkernels *rwkv_qkernels_scalar(void) { return &scalar_qtable; }

/* ---- dispatch (the table is chosen by the caller: select.c, rwkv_ctx) -------------------- */

/* Activation chunk sizes: a decode step (T = 1) always fits the stack buffer; prefill takes up
 * to QCHUNK_MAX tokens at a time so each weight row is read once per chunk. */
#define QSTACK_BYTES 32768
#define QCHUNK_MAX 32

void rwkv_linear_quant_rows_ex(const rwkv_qkernels *k, const struct rwkv_weight *W, int o0, int o1,
                               const float *X, int T, float *Y, int int8, void *work, size_t work_bytes) {
    const int K = W->cols;
    const size_t rb = rwkv_dtype_row_bytes(W->dtype, (size_t)K);
    if (!k || o0 >= o1 || T <= 0 || K % 32 != 0 || rb == 0) {
        rwkv_linear_quant_rows_ref(W, o0, o1, X, T, Y);
        return;
    }
    if (!int8 && k->dotf) { /* exact weights, fp32 activations */
        k->dotf(W->dtype, W->data, rb, K, o0, o1, X, T, Y, W->rows);
        return;
    }
    /* per token: K int8 codes, then K/32 scales and K/32 scaled sums (floats, 4-aligned) */
    const size_t per_tok = (size_t)K + 2 * sizeof(float) * (size_t)(K / 32);
    _Alignas(64) unsigned char stackbuf[QSTACK_BYTES];
    unsigned char *buf = stackbuf, *heap = NULL;
    size_t cap = sizeof stackbuf;
    if (work && work_bytes > cap) {
        buf = work;
        cap = work_bytes;
    }
    int tc = (int)(cap / per_tok);
    const int want = T < QCHUNK_MAX ? T : QCHUNK_MAX;
    if (tc < want) {
        heap = malloc(per_tok * (size_t)want);
        if (heap) {
            buf = heap;
            tc = want;
        }
    }
    if (tc < 1) { /* no memory at all: the reference needs none for K <= 1024 */
        rwkv_linear_quant_rows_ref(W, o0, o1, X, T, Y);
        return;
    }
    if (tc > T) tc = T;
    int8_t *xq = (int8_t *)buf;
    float *xd = (float *)(buf + (size_t)tc * K), *xs = xd + (size_t)tc * (K / 32);
    for (int t0 = 0; t0 < T; t0 += tc) {
        const int n = T - t0 < tc ? T - t0 : tc;
        for (int t = 0; t < n; t++)
            k->quantize_x(X + (size_t)(t0 + t) * K, K, xq + (size_t)t * K, xd + (size_t)t * (K / 32),
                          xs + (size_t)t * (K / 32));
        if (W->packed && k->dot_packed)
            k->dot_packed(W->dtype, W->packed, W->rows, K, o0, o1, xq, xd, xs, n, Y + (size_t)t0 * W->rows,
                          W->rows);
        else
            k->dot(W->dtype, W->data, rb, K, o0, o1, xq, xd, xs, n, Y + (size_t)t0 * W->rows, W->rows);
    }
    free(heap);
}

void *rwkv_quant_pack_alloc(const rwkv_qkernels *k, const struct rwkv_weight *W, int *groups) {
    *groups = 0;
    if (!k || !k->pack || !k->packed_bytes || !k->dot_packed || !rwkv_dtype_is_quant(W->dtype) ||
        W->cols % 32 != 0 || W->cols % (int)rwkv_dtype_block(W->dtype) != 0 || W->rows < 1)
        return NULL;
    const size_t n = (k->packed_bytes(W->dtype, W->rows, W->cols) + 63) & ~(size_t)63;
    if (n == 0) return NULL; /* no packed kernel for this type */
    /* large copies in 2 MiB pages where the kernel allows: first-touch faults of 4 KiB pages
     * made packing 15x slower (1.4 s for 300 MB in a VM) and decode streams fewer TLB entries */
    const size_t huge = (size_t)2 << 20;
    void *p = NULL;
    if (posix_memalign(&p, n >= huge ? huge : 64, n) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    if (n >= huge) madvise(p, n, MADV_HUGEPAGE);
#endif
    *groups = (W->rows + 15) / 16;
    return p;
}

void rwkv_quant_pack_groups(const rwkv_qkernels *k, const struct rwkv_weight *W, int g0, int g1, void *P) {
    k->pack(W->dtype, W->data, W->rows, W->cols, g0, g1, P);
}

/* buf: codes [T][K], then scales [T][K/32], then scaled sums [T][K/32] (the layout dot takes). */
size_t rwkv_quant_acts_bytes(const rwkv_qkernels *k, int K, int T) {
    if (!k || K <= 0 || K % 32 != 0 || T <= 0) return 0;
    return ((size_t)K + 2 * sizeof(float) * (size_t)(K / 32)) * (size_t)T;
}

void rwkv_quant_acts(const rwkv_qkernels *k, const float *X, int K, int T, int t0, int t1, void *buf) {
    int8_t *xq = buf;
    float *xd = (float *)(xq + (size_t)T * K), *xs = xd + (size_t)T * (K / 32);
    for (int t = t0; t < t1; t++)
        k->quantize_x(X + (size_t)t * K, K, xq + (size_t)t * K, xd + (size_t)t * (K / 32),
                      xs + (size_t)t * (K / 32));
}

void rwkv_linear_quant_rows_q(const rwkv_qkernels *k, const struct rwkv_weight *W, int o0, int o1,
                              const void *buf, int T, float *Y) {
    const int K = W->cols;
    const int8_t *xq = buf;
    const float *xd = (const float *)(xq + (size_t)T * K), *xs = xd + (size_t)T * (K / 32);
    if (o0 >= o1 || T <= 0) return;
    if (W->packed && k->dot_packed) {
        k->dot_packed(W->dtype, W->packed, W->rows, K, o0, o1, xq, xd, xs, T, Y, W->rows);
        return;
    }
    k->dot(W->dtype, W->data, rwkv_dtype_row_bytes(W->dtype, (size_t)K), K, o0, o1, xq, xd, xs, T, Y,
           W->rows);
}
