/* quant.c — reference quantizers and dequantizers of the block types (layouts in quant.h).
 *
 * The ggml types reproduce ggml's reference quantizers exactly: the same scale formula in fp32,
 * the same reciprocal (computed from the fp32 scale, before it is rounded to fp16), the same
 * rounding (truncating casts after adding an offset, or roundf for q8_0) and the same clamps.
 * tests/test_formats.c checks blocks computed by hand. IQ4_NL's quantizer is ours, not ggml's
 * (ggml searches scales with importance weights): its blocks differ from llama-quantize's, and
 * every reader of the layout decodes them to the same values.
 *
 * Each type has a quantizer and a dequantizer of one block and a block's integer codes; ROWS()
 * makes the row functions of the table (types.c) from the first two. */
#include "quant.h"

#include <math.h>

const float rwkv_nf4_levels[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

const int8_t rwkv_iq4nl_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                      1,    13,   25,  38,  53,  69,  89,  113};

const int8_t rwkv_nf4_i8[16] = {-127, -88, -67, -50, -36, -23, -12, 0,
                                10,   20,  31,  43,  56,  71,  92,  127};

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

/* Index of the IQ4_NL level nearest to v (ties to the lower level). */
static int iq4nl_index(float v) {
    int best = 0;
    for (int i = 1; i < 16; i++)
        if (v > 0.5f * (float)(rwkv_iq4nl_levels[i - 1] + rwkv_iq4nl_levels[i])) best = i;
    return best;
}

/* Squared error of block x coded with scale d, codes into l. */
static float iq4nl_assign(const float *x, float d, uint8_t *l) {
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    float err = 0.0f;
    for (int j = 0; j < 32; j++) {
        l[j] = (uint8_t)iq4nl_index(x[j] * id);
        const float e = x[j] - (float)rwkv_iq4nl_levels[l[j]] * d;
        err += e * e;
    }
    return err;
}

/* The scale that puts the value of largest magnitude on the level -127, then the least-squares
 * scale of the codes that gives; the better of the two (scales as stored, in fp16). */
static void quant_iq4_nl(const float *x, rwkv_block_iq4_nl *y) {
    uint8_t l[32], l2[32];
    const float d0 = rwkv_f16_to_f32(rwkv_f32_to_f16(signed_absmax(x, 32) / -127.0f));
    float err = iq4nl_assign(x, d0, l), d = d0;
    float sxl = 0.0f, sll = 0.0f;
    for (int j = 0; j < 32; j++) {
        const float q = (float)rwkv_iq4nl_levels[l[j]];
        sxl += x[j] * q;
        sll += q * q;
    }
    const float d1 = rwkv_f16_to_f32(rwkv_f32_to_f16(sll > 0.0f ? sxl / sll : 0.0f));
    const float err1 = iq4nl_assign(x, d1, l2);
    if (err1 < err) {
        d = d1;
        memcpy(l, l2, sizeof l);
    }
    y->d = rwkv_f32_to_f16(d);
    for (int j = 0; j < 16; j++) y->qs[j] = (uint8_t)(l[j] | l[j + 16] << 4);
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

/* ---- dequantizers ---------------------------------------------------------------------- */

static uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static void dequant_q8_0(const rwkv_block_q8_0 *k, float *o) {
    const float d = rwkv_f16_to_f32(k->d);
    for (int j = 0; j < 32; j++) o[j] = (float)k->qs[j] * d;
}

static void dequant_q4_0(const rwkv_block_q4_0 *k, float *o) {
    const float d = rwkv_f16_to_f32(k->d);
    for (int j = 0; j < 16; j++) {
        o[j] = (float)((k->qs[j] & 15) - 8) * d;
        o[j + 16] = (float)((k->qs[j] >> 4) - 8) * d;
    }
}

static void dequant_q4_1(const rwkv_block_q4_1 *k, float *o) {
    const float d = rwkv_f16_to_f32(k->d), m = rwkv_f16_to_f32(k->m);
    for (int j = 0; j < 16; j++) {
        o[j] = (float)(k->qs[j] & 15) * d + m;
        o[j + 16] = (float)(k->qs[j] >> 4) * d + m;
    }
}

static void dequant_q5_0(const rwkv_block_q5_0 *k, float *o) {
    const float d = rwkv_f16_to_f32(k->d);
    const uint32_t qh = load_qh(k->qh);
    for (int j = 0; j < 16; j++) {
        int a = (int)((k->qs[j] & 15) | (((qh >> j) & 1) << 4)) - 16;
        int c = (int)((k->qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
        o[j] = (float)a * d;
        o[j + 16] = (float)c * d;
    }
}

static void dequant_q5_1(const rwkv_block_q5_1 *k, float *o) {
    const float d = rwkv_f16_to_f32(k->d), m = rwkv_f16_to_f32(k->m);
    const uint32_t qh = load_qh(k->qh);
    for (int j = 0; j < 16; j++) {
        unsigned a = (k->qs[j] & 15u) | (((qh >> j) & 1u) << 4);
        unsigned c = (k->qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4);
        o[j] = (float)a * d + m;
        o[j + 16] = (float)c * d + m;
    }
}

static void dequant_iq4_nl(const rwkv_block_iq4_nl *k, float *o) {
    const float d = rwkv_f16_to_f32(k->d);
    for (int j = 0; j < 16; j++) {
        o[j] = (float)rwkv_iq4nl_levels[k->qs[j] & 15] * d;
        o[j + 16] = (float)rwkv_iq4nl_levels[k->qs[j] >> 4] * d;
    }
}

static void dequant_nf4(const rwkv_block_nf4 *k, float *o) {
    const float d = rwkv_f16_to_f32(k->d);
    for (int j = 0; j < 32; j++) {
        o[j] = rwkv_nf4_levels[k->qs[j] & 15] * d;
        o[j + 32] = rwkv_nf4_levels[k->qs[j] >> 4] * d;
    }
}

/* ---- integer codes (rwkv_codes_fn) ----------------------------------------------------- */

void rwkv_q8_0_codes(const uint8_t *p, int *c, float *d, float *m) {
    rwkv_block_q8_0 k;
    memcpy(&k, p, sizeof k);
    *d = rwkv_f16_to_f32(k.d);
    *m = 0.0f;
    for (int j = 0; j < 32; j++) c[j] = k.qs[j];
}

void rwkv_q4_0_codes(const uint8_t *p, int *c, float *d, float *m) {
    rwkv_block_q4_0 k;
    memcpy(&k, p, sizeof k);
    *d = rwkv_f16_to_f32(k.d);
    *m = 0.0f;
    for (int j = 0; j < 16; j++) {
        c[j] = (k.qs[j] & 15) - 8;
        c[j + 16] = (k.qs[j] >> 4) - 8;
    }
}

void rwkv_q4_1_codes(const uint8_t *p, int *c, float *d, float *m) {
    rwkv_block_q4_1 k;
    memcpy(&k, p, sizeof k);
    *d = rwkv_f16_to_f32(k.d);
    *m = rwkv_f16_to_f32(k.m);
    for (int j = 0; j < 16; j++) {
        c[j] = k.qs[j] & 15;
        c[j + 16] = k.qs[j] >> 4;
    }
}

void rwkv_q5_0_codes(const uint8_t *p, int *c, float *d, float *m) {
    rwkv_block_q5_0 k;
    memcpy(&k, p, sizeof k);
    *d = rwkv_f16_to_f32(k.d);
    *m = 0.0f;
    const uint32_t qh = load_qh(k.qh);
    for (int j = 0; j < 16; j++) {
        c[j] = (int)((k.qs[j] & 15) | ((qh >> j) & 1) << 4) - 16;
        c[j + 16] = (int)((k.qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - 16;
    }
}

void rwkv_q5_1_codes(const uint8_t *p, int *c, float *d, float *m) {
    rwkv_block_q5_1 k;
    memcpy(&k, p, sizeof k);
    *d = rwkv_f16_to_f32(k.d);
    *m = rwkv_f16_to_f32(k.m);
    const uint32_t qh = load_qh(k.qh);
    for (int j = 0; j < 16; j++) {
        c[j] = (int)((k.qs[j] & 15) | ((qh >> j) & 1) << 4);
        c[j + 16] = (int)((k.qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4);
    }
}

/* Codes of the code-book types: nibble j of qs[0..half) (low: value j, high: value j + half)
 * looked up in levels. */
static void book_codes(const uint8_t *qs, int half, const int8_t *levels, int *c) {
    for (int j = 0; j < half; j++) {
        c[j] = levels[qs[j] & 15];
        c[j + half] = levels[qs[j] >> 4];
    }
}

void rwkv_iq4_nl_codes(const uint8_t *p, int *c, float *d, float *m) {
    rwkv_block_iq4_nl k;
    memcpy(&k, p, sizeof k);
    *d = rwkv_f16_to_f32(k.d);
    *m = 0.0f;
    book_codes(k.qs, 16, rwkv_iq4nl_levels, c);
}

/* The levels as int8 codes (127·level): the scale is absmax/127. */
void rwkv_nf4_codes(const uint8_t *p, int *c, float *d, float *m) {
    rwkv_block_nf4 k;
    memcpy(&k, p, sizeof k);
    *d = rwkv_f16_to_f32(k.d) / 127.0f;
    *m = 0.0f;
    book_codes(k.qs, 32, rwkv_nf4_i8, c);
}

/* ---- rows ------------------------------------------------------------------------------ */

/* The row functions of type t (blocks of qk values) from its block quantizer and dequantizer. */
#define ROWS(t, qk)                                                                                \
    void rwkv_##t##_from_f32(const float *x, void *dst, size_t n) {                                \
        for (size_t b = 0; b < n / (qk); b++) quant_##t(x + b * (qk), (rwkv_block_##t *)dst + b);   \
    }                                                                                              \
    void rwkv_##t##_to_f32(const void *src, float *y, size_t n) {                                  \
        for (size_t b = 0; b < n / (qk); b++) {                                                    \
            rwkv_block_##t k;                                                                      \
            memcpy(&k, (const unsigned char *)src + b * sizeof k, sizeof k);                       \
            dequant_##t(&k, y + b * (qk));                                                         \
        }                                                                                          \
    }
ROWS(q8_0, RWKV_QK)
ROWS(q4_0, RWKV_QK)
ROWS(q4_1, RWKV_QK)
ROWS(q5_0, RWKV_QK)
ROWS(q5_1, RWKV_QK)
ROWS(iq4_nl, RWKV_QK)
ROWS(nf4, RWKV_QK_NF4)
