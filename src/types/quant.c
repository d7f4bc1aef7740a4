/* quant.c — reference quantizers and dequantizers of the block types (layouts in quant.h).
 *
 * The ggml types reproduce ggml's reference quantizers exactly: the same scale formula in fp32,
 * the same reciprocal (computed from the fp32 scale, before it is rounded to fp16), the same
 * rounding (truncating casts after adding an offset, or roundf for q8_0) and the same clamps.
 * tests/test_formats.c checks blocks computed by hand. */
#include "quant.h"

#include <math.h>

const float rwkv_nf4_levels[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

size_t rwkv_dtype_block(rwkv_dtype dt) {
    switch (dt) {
    case RWKV_DT_F32: case RWKV_DT_F16: case RWKV_DT_BF16: return 1;
    case RWKV_DT_Q8_0: case RWKV_DT_Q4_0: case RWKV_DT_Q4_1: case RWKV_DT_Q5_0: case RWKV_DT_Q5_1:
        return RWKV_QK;
    case RWKV_DT_NF4: return RWKV_QK_NF4;
    default: return 0;
    }
}

size_t rwkv_dtype_block_bytes(rwkv_dtype dt) {
    switch (dt) {
    case RWKV_DT_F32: return 4;
    case RWKV_DT_F16: case RWKV_DT_BF16: return 2;
    case RWKV_DT_Q8_0: return sizeof(rwkv_block_q8_0);
    case RWKV_DT_Q4_0: return sizeof(rwkv_block_q4_0);
    case RWKV_DT_Q4_1: return sizeof(rwkv_block_q4_1);
    case RWKV_DT_Q5_0: return sizeof(rwkv_block_q5_0);
    case RWKV_DT_Q5_1: return sizeof(rwkv_block_q5_1);
    case RWKV_DT_NF4: return sizeof(rwkv_block_nf4);
    default: return 0;
    }
}

size_t rwkv_dtype_row_bytes(rwkv_dtype dt, size_t n) {
    size_t qk = rwkv_dtype_block(dt), bytes;
    if (qk == 0 || n % qk != 0) return 0;
    if (!rwkv_mul_ok(n / qk, rwkv_dtype_block_bytes(dt), &bytes)) return 0;
    return bytes;
}

/* ---- quantizers ------------------------------------------------------------------------ */

/* The element of largest magnitude, sign kept (the first one on ties). */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

static void min_max(const float *x, int n, float *mn, float *mx) {
    float lo = INFINITY, hi = -INFINITY;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

static int imin(int a, int b) { return a < b ? a : b; }

/* a·b rounded to fp32 on its own (never fused with the following addition, as in ggml). */
static float sc(float a, float b) {
    volatile float p = a * b;
    return p;
}

static void quant_q8_0(const float *x, rwkv_block_q8_0 *y) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    y->d = rwkv_f32_to_f16(d);
    for (int j = 0; j < 32; j++) y->qs[j] = (int8_t)roundf(x[j] * id);
}

static void quant_q4_0(const float *x, rwkv_block_q4_0 *y) {
    const float d = signed_absmax(x, 32) / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    y->d = rwkv_f32_to_f16(d);
    for (int j = 0; j < 16; j++) {
        int a = imin(15, (int8_t)(sc(x[j], id) + 8.5f));
        int b = imin(15, (int8_t)(sc(x[j + 16], id) + 8.5f));
        y->qs[j] = (uint8_t)(a | (b << 4));
    }
}

static void quant_q4_1(const float *x, rwkv_block_q4_1 *y) {
    float mn, mx;
    min_max(x, 32, &mn, &mx);
    const float d = (mx - mn) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    y->d = rwkv_f32_to_f16(d);
    y->m = rwkv_f32_to_f16(mn);
    for (int j = 0; j < 16; j++) {
        int a = imin(15, (int8_t)(sc(x[j] - mn, id) + 0.5f));
        int b = imin(15, (int8_t)(sc(x[j + 16] - mn, id) + 0.5f));
        y->qs[j] = (uint8_t)(a | (b << 4));
    }
}

static void quant_q5_0(const float *x, rwkv_block_q5_0 *y) {
    const float d = signed_absmax(x, 32) / -16.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    y->d = rwkv_f32_to_f16(d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        int a = imin(31, (int8_t)(sc(x[j], id) + 16.5f));
        int b = imin(31, (int8_t)(sc(x[j + 16], id) + 16.5f));
        y->qs[j] = (uint8_t)((a & 15) | ((b & 15) << 4));
        qh |= (uint32_t)((a >> 4) & 1) << j;
        qh |= (uint32_t)((b >> 4) & 1) << (j + 16);
    }
    for (int k = 0; k < 4; k++) y->qh[k] = (uint8_t)(qh >> (8 * k));
}

static void quant_q5_1(const float *x, rwkv_block_q5_1 *y) {
    float mn, mx;
    min_max(x, 32, &mn, &mx);
    const float d = (mx - mn) / 31.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    y->d = rwkv_f32_to_f16(d);
    y->m = rwkv_f32_to_f16(mn);
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        unsigned a = (uint8_t)(sc(x[j] - mn, id) + 0.5f);
        unsigned b = (uint8_t)(sc(x[j + 16] - mn, id) + 0.5f);
        y->qs[j] = (uint8_t)((a & 15) | ((b & 15) << 4));
        qh |= (uint32_t)((a >> 4) & 1) << j;
        qh |= (uint32_t)((b >> 4) & 1) << (j + 16);
    }
    for (int k = 0; k < 4; k++) y->qh[k] = (uint8_t)(qh >> (8 * k));
}

/* Index of the NF4 level nearest to v (v in [-1, 1]); ties go to the upper level. */
static int nf4_index(float v) {
    int best = 0;
    for (int i = 1; i < 16; i++) {
        float mid = 0.5f * (rwkv_nf4_levels[i - 1] + rwkv_nf4_levels[i]);
        if (v >= mid) best = i;
    }
    return best;
}

static void quant_nf4(const float *x, rwkv_block_nf4 *y) {
    float amax = 0.0f;
    for (int j = 0; j < 64; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float id = amax != 0.0f ? 1.0f / amax : 0.0f;
    y->d = rwkv_f32_to_f16(amax);
    for (int j = 0; j < 32; j++)
        y->qs[j] = (uint8_t)(nf4_index(x[j] * id) | (nf4_index(x[j + 32] * id) << 4));
}

void rwkv_quantize_row(rwkv_dtype dt, const float *x, void *dst, size_t n) {
    switch (dt) {
    case RWKV_DT_F32: memcpy(dst, x, n * 4); return;
    case RWKV_DT_F16: {
        uint16_t *h = dst;
        for (size_t i = 0; i < n; i++) h[i] = rwkv_f32_to_f16(x[i]);
        return;
    }
    case RWKV_DT_BF16: {
        uint16_t *h = dst;
        for (size_t i = 0; i < n; i++) h[i] = rwkv_f32_to_bf16(x[i]);
        return;
    }
    default: break;
    }
    const size_t qk = rwkv_dtype_block(dt);
    if (qk == 0) return;
    for (size_t b = 0; b < n / qk; b++) {
        const float *xb = x + b * qk;
        switch (dt) {
        case RWKV_DT_Q8_0: quant_q8_0(xb, (rwkv_block_q8_0 *)dst + b); break;
        case RWKV_DT_Q4_0: quant_q4_0(xb, (rwkv_block_q4_0 *)dst + b); break;
        case RWKV_DT_Q4_1: quant_q4_1(xb, (rwkv_block_q4_1 *)dst + b); break;
        case RWKV_DT_Q5_0: quant_q5_0(xb, (rwkv_block_q5_0 *)dst + b); break;
        case RWKV_DT_Q5_1: quant_q5_1(xb, (rwkv_block_q5_1 *)dst + b); break;
        case RWKV_DT_NF4: quant_nf4(xb, (rwkv_block_nf4 *)dst + b); break;
        default: return;
        }
    }
}

/* ---- dequantizers ---------------------------------------------------------------------- */

static uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

void rwkv_dequantize_row(rwkv_dtype dt, const void *src, float *y, size_t n) {
    const size_t qk = rwkv_dtype_block(dt);
    if (qk <= 1) {
        if (qk == 1) rwkv_convert_to_f32(dt, src, y, n);
        return;
    }
    const size_t bb = rwkv_dtype_block_bytes(dt);
    for (size_t b = 0; b < n / qk; b++) {
        const unsigned char *p = (const unsigned char *)src + b * bb;
        float *o = y + b * qk;
        switch (dt) {
        case RWKV_DT_Q8_0: {
            rwkv_block_q8_0 k;
            memcpy(&k, p, sizeof k);
            const float d = rwkv_f16_to_f32(k.d);
            for (int j = 0; j < 32; j++) o[j] = (float)k.qs[j] * d;
            break;
        }
        case RWKV_DT_Q4_0: {
            rwkv_block_q4_0 k;
            memcpy(&k, p, sizeof k);
            const float d = rwkv_f16_to_f32(k.d);
            for (int j = 0; j < 16; j++) {
                o[j] = (float)((k.qs[j] & 15) - 8) * d;
                o[j + 16] = (float)((k.qs[j] >> 4) - 8) * d;
            }
            break;
        }
        case RWKV_DT_Q4_1: {
            rwkv_block_q4_1 k;
            memcpy(&k, p, sizeof k);
            const float d = rwkv_f16_to_f32(k.d), m = rwkv_f16_to_f32(k.m);
            for (int j = 0; j < 16; j++) {
                o[j] = (float)(k.qs[j] & 15) * d + m;
                o[j + 16] = (float)(k.qs[j] >> 4) * d + m;
            }
            break;
        }
        case RWKV_DT_Q5_0: {
            rwkv_block_q5_0 k;
            memcpy(&k, p, sizeof k);
            const float d = rwkv_f16_to_f32(k.d);
            const uint32_t qh = load_qh(k.qh);
            for (int j = 0; j < 16; j++) {
                int a = (int)((k.qs[j] & 15) | (((qh >> j) & 1) << 4)) - 16;
                int c = (int)((k.qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
                o[j] = (float)a * d;
                o[j + 16] = (float)c * d;
            }
            break;
        }
        case RWKV_DT_Q5_1: {
            rwkv_block_q5_1 k;
            memcpy(&k, p, sizeof k);
            const float d = rwkv_f16_to_f32(k.d), m = rwkv_f16_to_f32(k.m);
            const uint32_t qh = load_qh(k.qh);
            for (int j = 0; j < 16; j++) {
                unsigned a = (k.qs[j] & 15u) | (((qh >> j) & 1u) << 4);
                unsigned c = (k.qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4);
                o[j] = (float)a * d + m;
                o[j + 16] = (float)c * d + m;
            }
            break;
        }
        case RWKV_DT_NF4: {
            rwkv_block_nf4 k;
            memcpy(&k, p, sizeof k);
            const float d = rwkv_f16_to_f32(k.d);
            for (int j = 0; j < 32; j++) {
                o[j] = rwkv_nf4_levels[k.qs[j] & 15] * d;
                o[j + 32] = rwkv_nf4_levels[k.qs[j] >> 4] * d;
            }
            break;
        }
        default: return;
        }
    }
}
