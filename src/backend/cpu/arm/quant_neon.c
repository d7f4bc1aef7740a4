/* quant_neon.c — NEON kernels for the block-quantized weights (contract in ops_quant.h), the
 * AArch64 twin of src/backend/cpu/x86/quant_avx2.c.
 *
 * Integer path (dot): one weight block of 32 values is two int8x16 of codes (nf4: four, 64
 * values). Every code fits int8 (the unsigned q4_1 / q5_1 codes are ≤ 31), so signed × signed
 * byte products work for all types: with the dotprod extension (FEAT_DotProd, checked at run
 * time through HWCAP_ASIMDDP) sdot sums groups of 4 into 4 int32 lanes; without it
 * smull + smlal2 pairs (|sum of 2| ≤ 2·128·127 < 2^15, exact in int16) are pairwise
 * accumulated into 4 int32 lanes (sadalp). Per (row, token) the int32 lanes are converted to
 * fp32 and accumulated with one FMA by d_w·d_x in 4 lanes, reduced at the row end by a fixed
 * tree; the min types add m_w·s_x per block in a scalar.
 *
 * Float path (dotf): the codes are widened to int32, converted (exact) and scaled as the
 * reference dequantizer does (c·d, or c·d + m as a separate multiply and add: the weights are
 * bit-identical to rwkv_dequantize_row's when that is compiled without FMA contraction, GCC's
 * default with -std=c11); nf4 looks its fp32 levels up with byte-wise table
 * lookups (the 4 byte planes of the 16 levels, re-interleaved with zips: exact), times the
 * absmax. Two 4-lane accumulators per (row, token) alternate over the vectors of a block.
 *
 * Tiles: dot takes 4 rows × T tokens for T < 4 (decode), otherwise 2 rows × 4 tokens (and 2
 * rows × the 1–3 remaining tokens), leftover rows one at a time; dotf takes 2 rows × T tokens
 * for T < 4, otherwise 1 row × 4 tokens (and × the rest): larger float tiles spill registers
 * and run more instructions per weight (counted under qemu). The sequence of operations for one
 * output is the same in every tile shape, so a result depends only on W, X, the row and the
 * token. The integer kernels exist twice (sdot and smull); they are written once below and
 * instantiated by including this file into itself with QN_DP set, the sdot copy compiled for
 * +dotprod. */
#ifndef QN_DP
#include "backend/cpu/cpu.h"
#include "backend/cpu/ops_quant.h"
#include "types/quant.h"

#include <arm_neon.h>
#include <math.h>
#include <string.h>
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

#define INLINE static inline __attribute__((always_inline))

INLINE float half_at(const uint8_t *p) {
    __fp16 h;
    memcpy(&h, p, 2);
    return (float)h;
}

/* Byte j = 16 where bit (j + 16·hi) of the little-endian 32-bit qh at p is set, else 0. */
INLINE uint8x16_t fifth_bits(const uint8_t *p, int hi) {
    uint32_t qh;
    memcpy(&qh, p, 4);
    static const uint8_t sel[2][16] = {{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
                                       {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3}};
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t v = vqtbl1q_u8(vreinterpretq_u8_u32(vdupq_n_u32(qh)), vld1q_u8(sel[hi]));
    return vandq_u8(vtstq_u8(v, vld1q_u8(bit)), vdupq_n_u8(16));
}

/* Codes of the weight block at p: c[i] holds values 16i..16i+15 (4 vectors for nf4, else 2).
 * Signed codes for q8_0, q4_0, q5_0; unsigned 0..31 for q4_1, q5_1 (*mw their minimum); for
 * nf4 the unsigned nibbles (indices into the code book) when idx is set, else the int8 code
 * book values (then *dw is absmax/127). *dw is the block scale. */
INLINE void unpack(rwkv_dtype dt, const uint8_t *p, int8x16_t c[4], float *dw, float *mw, int idx) {
    const uint8x16_t m4 = vdupq_n_u8(15);
    *dw = half_at(p);
    switch (dt) {
    case RWKV_DT_Q8_0:
        c[0] = vld1q_s8((const int8_t *)p + 2);
        c[1] = vld1q_s8((const int8_t *)p + 18);
        break;
    case RWKV_DT_Q4_0: {
        const uint8x16_t v = vld1q_u8(p + 2);
        c[0] = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, m4)), vdupq_n_s8(8));
        c[1] = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), vdupq_n_s8(8));
        break;
    }
    case RWKV_DT_Q4_1: {
        *mw = half_at(p + 2);
        const uint8x16_t v = vld1q_u8(p + 4);
        c[0] = vreinterpretq_s8_u8(vandq_u8(v, m4));
        c[1] = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
        break;
    }
    case RWKV_DT_Q5_0: {
        const uint8x16_t v = vld1q_u8(p + 6);
        c[0] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(v, m4), fifth_bits(p + 2, 0))), vdupq_n_s8(16));
        c[1] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(v, 4), fifth_bits(p + 2, 1))), vdupq_n_s8(16));
        break;
    }
    case RWKV_DT_Q5_1: {
        *mw = half_at(p + 2);
        const uint8x16_t v = vld1q_u8(p + 8);
        c[0] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(v, m4), fifth_bits(p + 4, 0)));
        c[1] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(v, 4), fifth_bits(p + 4, 1)));
        break;
    }
    case RWKV_DT_NF4: { /* byte j holds values j (low nibble) and j + 32 (high nibble) */
        const uint8x16_t v0 = vld1q_u8(p + 2), v1 = vld1q_u8(p + 18);
        uint8x16_t n[4] = {vandq_u8(v0, m4), vandq_u8(v1, m4), vshrq_n_u8(v0, 4), vshrq_n_u8(v1, 4)};
        if (idx) {
            for (int i = 0; i < 4; i++) c[i] = vreinterpretq_s8_u8(n[i]);
        } else { /* codes are 127·level: the scale is absmax/127 */
            *dw = *dw / 127.0f;
            const int8x16_t cb = vld1q_s8(rwkv_nf4_i8);
            for (int i = 0; i < 4; i++) c[i] = vqtbl1q_s8(cb, n[i]);
        }
        break;
    }
    default: /* not reached: the entry points (dot, dotf) specialise only the types above */
        for (int i = 0; i < 4; i++) c[i] = vdupq_n_s8(0);
        break;
    }
}

/* ---- integer path: instantiated twice (smull / sdot) ------------------------------------ */

#define QN_DP 0
#define QN(name) name##_mull
#define QN_TARGET
#include "quant_neon.c"
#undef QN_DP
#undef QN
#undef QN_TARGET

#define QN_DP 1
#define QN(name) name##_sdot
#if defined(__clang__)
#define QN_TARGET __attribute__((target("dotprod")))
#else
#define QN_TARGET __attribute__((target("arch=armv8.2-a+dotprod")))
#endif
#include "quant_neon.c"
#undef QN_DP
#undef QN
#undef QN_TARGET

/* ---- float path: weights dequantized exactly in registers, fp32 FMA with fp32 activations -- */

/* Four int8 codes → fp32 (exact): values 4i..4i+3 of c. */
INLINE float32x4_t codes_f(int8x16_t c, int i) {
    const int16x8_t h = (i >> 1) ? vmovl_high_s8(c) : vmovl_s8(vget_low_s8(c));
    const int32x4_t w = (i & 1) ? vmovl_high_s16(h) : vmovl_s16(vget_low_s16(h));
    return vcvtq_f32_s32(w);
}

/* rwkv_nf4_levels[n[j]] for the 16 nibbles n: the byte planes pl of the levels looked up and
 * re-interleaved into 4 vectors of fp32 (f[i] = values 4i..4i+3). */
INLINE void nf4_levels(uint8x16_t n, const uint8x16x4_t *pl, float32x4_t f[4]) {
    const uint8x16_t b0 = vqtbl1q_u8(pl->val[0], n), b1 = vqtbl1q_u8(pl->val[1], n);
    const uint8x16_t b2 = vqtbl1q_u8(pl->val[2], n), b3 = vqtbl1q_u8(pl->val[3], n);
    const uint16x8_t l01 = vreinterpretq_u16_u8(vzip1q_u8(b0, b1)), h01 = vreinterpretq_u16_u8(vzip2q_u8(b0, b1));
    const uint16x8_t l23 = vreinterpretq_u16_u8(vzip1q_u8(b2, b3)), h23 = vreinterpretq_u16_u8(vzip2q_u8(b2, b3));
    f[0] = vreinterpretq_f32_u16(vzip1q_u16(l01, l23));
    f[1] = vreinterpretq_f32_u16(vzip2q_u16(l01, l23));
    f[2] = vreinterpretq_f32_u16(vzip1q_u16(h01, h23));
    f[3] = vreinterpretq_f32_u16(vzip2q_u16(h01, h23));
}

/* A tile of R rows × TT tokens with fp32 activations X (row stride K); rows[r] points at row r
 * and Y[t·ldy + r] receives the results. Per weight block: w = c·d [+ m] as the reference
 * rounds it, then one FMA per token and 4 values into acc[r][t][v & 1]. */
INLINE void tilef(rwkv_dtype dt, const uint8_t *const *rows, int R, int TT, int K,
                  const float *X, float *Y, int ldy, const uint8x16x4_t *pl) {
    const size_t bb = rwkv_dtype_block_bytes(dt);
    const int nf4 = dt == RWKV_DT_NF4, qk = nf4 ? 64 : 32, nb = K / qk;
    const int minty = dt == RWKV_DT_Q4_1 || dt == RWKV_DT_Q5_1;
    float32x4_t acc[2][4][2];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 4")
        for (int t = 0; t < TT; t++) acc[r][t][0] = acc[r][t][1] = vdupq_n_f32(0.0f);
    for (int b = 0; b < nb; b++) {
        _Pragma("GCC unroll 4")
        for (int r = 0; r < R; r++) {
            int8x16_t c[4];
            float dw, mw = 0.0f;
            unpack(dt, rows[r] + (size_t)b * bb, c, &dw, &mw, 1);
            const float32x4_t vd = vdupq_n_f32(dw), vm = vdupq_n_f32(mw);
            _Pragma("GCC unroll 4")
            for (int s = 0; s < qk / 16; s++) { /* 16 values per step: 4 vectors */
                float32x4_t w[4];
                if (nf4) {
                    nf4_levels(vreinterpretq_u8_s8(c[s]), pl, w);
                    _Pragma("GCC unroll 4")
                    for (int i = 0; i < 4; i++) w[i] = vmulq_f32(w[i], vd);
                } else {
                    _Pragma("GCC unroll 4")
                    for (int i = 0; i < 4; i++) {
                        w[i] = vmulq_f32(codes_f(c[s], i), vd);
                        if (minty) w[i] = vaddq_f32(w[i], vm);
                    }
                }
                _Pragma("GCC unroll 4")
                for (int i = 0; i < 4; i++) {
                    const size_t off = (size_t)b * qk + (size_t)s * 16 + (size_t)i * 4;
                    _Pragma("GCC unroll 4")
                    for (int t = 0; t < TT; t++)
                        acc[r][t][i & 1] = vfmaq_f32(acc[r][t][i & 1], w[i], vld1q_f32(X + (size_t)t * K + off));
                }
            }
        }
    }
    _Pragma("GCC unroll 4")
    for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 4")
        for (int t = 0; t < TT; t++) Y[(size_t)t * ldy + r] = vaddvq_f32(vaddq_f32(acc[r][t][0], acc[r][t][1]));
}

/* Calls tilef with R and TT as constants (2 rows × 1–3 tokens, 1 row × 1–4 tokens). */
INLINE void tilef_rt(rwkv_dtype dt, const uint8_t *const *rows, int R, int TT, int K,
                     const float *X, float *Y, int ldy, const uint8x16x4_t *pl) {
#define QN_F(r, tt) \
    if (R == r && TT == tt) {                                       \
        tilef(dt, rows, r, tt, K, X, Y, ldy, pl);                   \
        return;                                                     \
    }
    QN_F(2, 1); QN_F(2, 2); QN_F(2, 3);
    QN_F(1, 1); QN_F(1, 2); QN_F(1, 3); QN_F(1, 4);
#undef QN_F
}

INLINE void dotf_type(rwkv_dtype dt, const void *W, size_t rb, int K, int o0, int o1,
                      const float *X, int T, float *Y, int ldy) {
    const uint8x16x4_t pl = vld4q_u8((const uint8_t *)rwkv_nf4_levels); /* byte planes */
    for (int o = o0; o < o1;) {
        const int R = T < 4 && o1 - o >= 2 ? 2 : 1;
        const uint8_t *rows[2];
        for (int r = 0; r < 2; r++) rows[r] = (const uint8_t *)W + (size_t)(o + (r < R ? r : 0)) * rb;
        for (int t = 0; t < T;) {
            const int TT = T - t < 4 ? T - t : 4;
            tilef_rt(dt, rows, R, TT, K, X + (size_t)t * K, Y + (size_t)t * ldy + o, ldy, &pl);
            t += TT;
        }
        o += R;
    }
}

static void dotf_neon(rwkv_dtype dt, const void *W, size_t rb, int K, int o0, int o1,
                      const float *X, int T, float *Y, int ldy) {
    switch (dt) { /* one specialised copy per type */
    case RWKV_DT_Q8_0: dotf_type(RWKV_DT_Q8_0, W, rb, K, o0, o1, X, T, Y, ldy); break;
    case RWKV_DT_Q4_0: dotf_type(RWKV_DT_Q4_0, W, rb, K, o0, o1, X, T, Y, ldy); break;
    case RWKV_DT_Q4_1: dotf_type(RWKV_DT_Q4_1, W, rb, K, o0, o1, X, T, Y, ldy); break;
    case RWKV_DT_Q5_0: dotf_type(RWKV_DT_Q5_0, W, rb, K, o0, o1, X, T, Y, ldy); break;
    case RWKV_DT_Q5_1: dotf_type(RWKV_DT_Q5_1, W, rb, K, o0, o1, X, T, Y, ldy); break;
    case RWKV_DT_NF4: dotf_type(RWKV_DT_NF4, W, rb, K, o0, o1, X, T, Y, ldy); break;
    default: rwkv_type_dot_f32(dt, W, rb, K, o0, o1, X, T, Y, ldy); break; /* no kernel: the reference */
    }
}

/* ---- activation quantizer: bit-identical to the scalar one ------------------------------- */

static void quantize_x_neon(const float *x, int K, int8_t *q, float *d, float *s) {
    for (int b = 0; b < K / 32; b++) {
        const float *xb = x + 32 * b;
        float32x4_t v[8], mx = vdupq_n_f32(0.0f);
        for (int i = 0; i < 8; i++) {
            v[i] = vld1q_f32(xb + 4 * i);
            mx = vmaxnmq_f32(mx, vabsq_f32(v[i])); /* fmaxf semantics: NaN ignored */
        }
        const float amax = vmaxnmvq_f32(mx);
        const float db = amax / 127.0f;
        float id = db != 0.0f ? 1.0f / db : 0.0f;
        if (isinf(id)) id = 0.0f; /* amax < ~3.7e-37: codes 0 (1/d would overflow) */
        int32x4_t i32[8], sum = vdupq_n_s32(0);
        for (int i = 0; i < 8; i++) {
            i32[i] = vcvtnq_s32_f32(vmulq_n_f32(v[i], id)); /* round to nearest, ties to even */
            sum = vaddq_s32(sum, i32[i]);
        }
        for (int i = 0; i < 2; i++) {
            const int16x8_t a = vcombine_s16(vqmovn_s32(i32[4 * i]), vqmovn_s32(i32[4 * i + 1]));
            const int16x8_t c = vcombine_s16(vqmovn_s32(i32[4 * i + 2]), vqmovn_s32(i32[4 * i + 3]));
            vst1q_s8(q + 32 * b + 16 * i, vcombine_s8(vqmovn_s16(a), vqmovn_s16(c)));
        }
        d[b] = db;
        s[b] = db * (float)vaddvq_s32(sum);
    }
}

/* ---- tables ------------------------------------------------------------------------------- */

static const rwkv_qkernels neon_qtable = {
    .name = "neon",
    .quantize_x = quantize_x_neon,
    .dot = dot_mull,
    .dotf = dotf_neon,
};

static const rwkv_qkernels neon_dotprod_qtable = {
    .name = "neon-dotprod",
    .quantize_x = quantize_x_neon,
    .dot = dot_sdot,
    .dotf = dotf_neon,
};

const rwkv_qkernels *rwkv_qkernels_neon(void) {
#if defined(__AARCH64EB__)
    return NULL; /* the byte-plane lookups of nf4_levels and the qh bytes assume little-endian */
#endif
    if (!rwkv_cpu_get()->neon) return NULL;
#if defined(__linux__)
    if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) return &neon_dotprod_qtable;
#endif
    return &neon_qtable;
}

#else /* QN_DP: the integer kernels, once per instruction choice ------------------------- */

/* acc + the 4 int32 lanes of Σ a·b over groups of 4 (sdot) or of the smull pairs. */
INLINE QN_TARGET int32x4_t QN(idot)(int32x4_t acc, int8x16_t a0, int8x16_t x0, int8x16_t a1,
                                    int8x16_t x1) {
#if QN_DP && (defined(__ARM_FEATURE_DOTPROD) || !defined(__clang__))
    return vdotq_s32(vdotq_s32(acc, a0, x0), a1, x1);
#elif QN_DP /* older clang declares vdotq_s32 only with -march=…+dotprod for the whole file */
    __asm__("sdot %0.4s, %1.16b, %2.16b\n\tsdot %0.4s, %3.16b, %4.16b"
            : "+w"(acc)
            : "w"(a0), "w"(x0), "w"(a1), "w"(x1));
    return acc;
#else
    const int16x8_t p0 = vmlal_high_s8(vmull_s8(vget_low_s8(a0), vget_low_s8(x0)), a0, x0);
    const int16x8_t p1 = vmlal_high_s8(vmull_s8(vget_low_s8(a1), vget_low_s8(x1)), a1, x1);
    return vpadalq_s16(vpadalq_s16(acc, p0), p1);
#endif
}

/* A tile of R rows × TT tokens over the whole row, quantized activations xq/xd/xs. */
INLINE QN_TARGET void QN(tile)(rwkv_dtype dt, const uint8_t *const *rows, int R, int TT, int K,
                               const int8_t *xq, const float *xd, const float *xs, float *Y,
                               int ldy) {
    const size_t bb = rwkv_dtype_block_bytes(dt);
    const int sub = dt == RWKV_DT_NF4 ? 2 : 1, nb = K / (32 * sub), nx = K / 32;
    const int minty = dt == RWKV_DT_Q4_1 || dt == RWKV_DT_Q5_1;
    float32x4_t acc[4][4];
    float accm[4][4];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 4")
        for (int t = 0; t < TT; t++) {
            acc[r][t] = vdupq_n_f32(0.0f);
            accm[r][t] = 0.0f;
        }
    for (int b = 0; b < nb; b++) {
        _Pragma("GCC unroll 4")
        for (int r = 0; r < R; r++) {
            int8x16_t c[4];
            float dw, mw = 0.0f;
            unpack(dt, rows[r] + (size_t)b * bb, c, &dw, &mw, 0);
            _Pragma("GCC unroll 2")
            for (int s = 0; s < sub; s++) {
                const int xb = b * sub + s;
                _Pragma("GCC unroll 4")
                for (int t = 0; t < TT; t++) {
                    const int8_t *x = xq + (size_t)t * K + 32 * xb;
                    const int32x4_t is = QN(idot)(vdupq_n_s32(0), c[2 * s], vld1q_s8(x), c[2 * s + 1], vld1q_s8(x + 16));
                    acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(is), dw * xd[(size_t)t * nx + xb]);
                    if (minty) accm[r][t] += mw * xs[(size_t)t * nx + xb];
                }
            }
        }
    }
    _Pragma("GCC unroll 4")
    for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 4")
        for (int t = 0; t < TT; t++) Y[(size_t)t * ldy + r] = vaddvq_f32(acc[r][t]) + accm[r][t];
}

/* Calls tile with R and TT as constants (the shapes of tilef_rt). */
INLINE QN_TARGET void QN(tile_rt)(rwkv_dtype dt, const uint8_t *const *rows, int R, int TT, int K,
                                  const int8_t *xq, const float *xd, const float *xs, float *Y,
                                  int ldy) {
#define QN_I(r, tt) \
    if (R == r && TT == tt) {                                             \
        QN(tile)(dt, rows, r, tt, K, xq, xd, xs, Y, ldy);                 \
        return;                                                           \
    }
    QN_I(4, 1); QN_I(4, 2); QN_I(4, 3);
    QN_I(2, 1); QN_I(2, 2); QN_I(2, 3); QN_I(2, 4);
    QN_I(1, 1); QN_I(1, 2); QN_I(1, 3); QN_I(1, 4);
#undef QN_I
}

INLINE QN_TARGET void QN(dot_type)(rwkv_dtype dt, const void *W, size_t rb, int K, int o0, int o1,
                                   const int8_t *xq, const float *xd, const float *xs, int T,
                                   float *Y, int ldy) {
    const int nx = K / 32, rmax = T < 4 ? 4 : 2;
    for (int o = o0; o < o1;) {
        const int R = o1 - o >= rmax ? rmax : 1;
        const uint8_t *rows[4];
        for (int r = 0; r < 4; r++) rows[r] = (const uint8_t *)W + (size_t)(o + (r < R ? r : 0)) * rb;
        for (int t = 0; t < T;) {
            const int TT = T - t < 4 ? T - t : 4;
            QN(tile_rt)(dt, rows, R, TT, K, xq + (size_t)t * K, xd + (size_t)t * nx, xs + (size_t)t * nx,
                        Y + (size_t)t * ldy + o, ldy);
            t += TT;
        }
        o += R;
    }
}

static QN_TARGET void QN(dot)(rwkv_dtype dt, const void *W, size_t rb, int K, int o0, int o1,
                              const int8_t *xq, const float *xd, const float *xs, int T, float *Y,
                              int ldy) {
    switch (dt) { /* one specialised copy per type */
    case RWKV_DT_Q8_0: QN(dot_type)(RWKV_DT_Q8_0, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_Q4_0: QN(dot_type)(RWKV_DT_Q4_0, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_Q4_1: QN(dot_type)(RWKV_DT_Q4_1, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_Q5_0: QN(dot_type)(RWKV_DT_Q5_0, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_Q5_1: QN(dot_type)(RWKV_DT_Q5_1, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_NF4: QN(dot_type)(RWKV_DT_NF4, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    default: rwkv_type_dot_i8(dt, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break; /* no kernel: the reference */
    }
}

#endif
