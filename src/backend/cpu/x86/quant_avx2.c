/* quant_avx2.c — integer-dot kernels for the block-quantized weights (contract in ops_quant.h),
 * AVX2 version; quant_avx512.c includes this file with QX_VNNI defined to get the zmm twin of
 * the float path (dotf) and of the activation quantizer; its integer dot is its own (the ymm
 * integer dot below is compiled for AVX2 only). Compiled with the per-ISA flags of the Makefile
 * and only called after the run-time CPU check of rwkv_qkernels_avx2/avx512().
 *
 * One weight block of 32 values is one ymm of int8 codes. Signed codes w (q8_0, q4_0, q5_0,
 * nf4) are dotted with the activations q by the sign trick: |w| (unsigned) · sign(q, w) (signed)
 * = w·q, summed in groups of 4 into 8 int32 lanes (exact: |w| ≤ 128, |q| ≤ 127, so the int16
 * pair sums of vpmaddubsw cannot saturate). Unsigned codes (q4_1, q5_1) go in directly and the
 * minimum adds m·s_x per block. Per (row, token) the int32 lanes are converted to fp32 and
 * accumulated with one FMA by d_w·d_x in 8 lanes, reduced at the row end by a fixed tree: the
 * sequence of operations for one output is the same whatever the tile (1–4 tokens × 1–2 rows;
 * the float path also 1–3 tokens × 4 rows on AVX-512),
 * so results do not depend on T or on the slice. */
#ifndef QX_VNNI
#include "backend/cpu/cpu.h"
#include "backend/cpu/ops_quant.h"
#include "types/quant.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>
#define QX(name) name##_avx2
#endif

#define INLINE static inline __attribute__((always_inline))

/* Distance, in bytes, at which the kernels prefetch each weight row (one prefetch per 64-byte
 * line and row: the hardware streamer alone leaves the decode product at a fraction of
 * bandwidth; 4 KiB measured best of 1, 4, 8, 16 KiB on the 1.5B q4_0 decode, noisy shared
 * machine). The AVX-512 decode tiles round it up to a whole number of 4-row groups. */
#ifndef QX_PREFETCH
#define QX_PREFETCH 4096
#endif

/* Σ over groups of 4 of u[i]·s[i] (u unsigned, s signed bytes) into 8 int32 lanes. */
INLINE __m256i QX(dpbusd)(__m256i u, __m256i s) {
#ifdef QX_VNNI
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

/* 16 bytes of nibbles → 32 bytes: low nibbles (values 0..15) then high nibbles (16..31). */
INLINE __m256i QX(nibbles)(const uint8_t *qs) {
    const __m128i q = _mm_loadu_si128((const __m128i *)qs);
    const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
    return _mm256_and_si256(v, _mm256_set1_epi8(15));
}

/* Byte j = 16 where bit j of the little-endian 32-bit qh is set, else 0. */
INLINE __m256i QX(fifth_bits)(const uint8_t *qhp) {
    uint32_t qh;
    memcpy(&qh, qhp, 4);
    const __m256i sel = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2,
                                         2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201LL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), sel);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(16));
}

INLINE float QX(half)(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* Σ of the 8 lanes (fixed tree). */
INLINE float QX(hsum)(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

/* Weight block b of a row: codes c[0..1] (nf4 fills two), scale, minimum; returns whether the
 * codes are signed. */
INLINE int QX(unpack)(rwkv_dtype dt, const uint8_t *p, __m256i c[2], float *dw, float *mw) {
    *dw = QX(half)(p);
    switch (dt) {
    case RWKV_DT_Q8_0:
        c[0] = _mm256_loadu_si256((const __m256i *)(p + 2));
        return 1;
    case RWKV_DT_Q4_0:
        c[0] = _mm256_sub_epi8(QX(nibbles)(p + 2), _mm256_set1_epi8(8));
        return 1;
    case RWKV_DT_Q4_1:
        *mw = QX(half)(p + 2);
        c[0] = QX(nibbles)(p + 4);
        return 0;
    case RWKV_DT_Q5_0:
        c[0] = _mm256_sub_epi8(_mm256_or_si256(QX(nibbles)(p + 6), QX(fifth_bits)(p + 2)),
                               _mm256_set1_epi8(16));
        return 1;
    case RWKV_DT_Q5_1:
        *mw = QX(half)(p + 2);
        c[0] = _mm256_or_si256(QX(nibbles)(p + 8), QX(fifth_bits)(p + 4));
        return 0;
    case RWKV_DT_NF4: { /* codes are 127·level, so the scale is absmax/127 */
        *dw = *dw / 127.0f;
        const __m256i cb = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)rwkv_nf4_i8));
        const __m256i v = _mm256_loadu_si256((const __m256i *)(p + 2)), m = _mm256_set1_epi8(15);
        c[0] = _mm256_shuffle_epi8(cb, _mm256_and_si256(v, m));
        c[1] = _mm256_shuffle_epi8(cb, _mm256_and_si256(_mm256_srli_epi16(v, 4), m));
        return 1;
    }
    default: /* not reached: the entry points (dot, dotf) specialise only the types above */
        c[0] = c[1] = _mm256_setzero_si256();
        return 1;
    }
}

#ifndef QX_VNNI /* the AVX-512 table has its own zmm integer kernel (quant_avx512.c) */
/* A tile of R rows × TT tokens over the whole row (R, TT compile-time constants after
 * inlining). rows[r] points at row r; Y[t·ldy + r] receives the results. */
INLINE void QX(tile)(rwkv_dtype dt, const uint8_t *const *rows, int R, int TT, int K,
                     const int8_t *xq, const float *xd, const float *xs, float *Y, int ldy) {
    const size_t bb = rwkv_dtype_block_bytes(dt);
    const int sub = dt == RWKV_DT_NF4 ? 2 : 1, nb = K / (32 * sub), nx = K / 32;
    const int minty = dt == RWKV_DT_Q4_1 || dt == RWKV_DT_Q5_1;
    __m256 acc[2][4];
    float accm[2][4];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 4")
        for (int t = 0; t < TT; t++) {
            acc[r][t] = _mm256_setzero_ps();
            accm[r][t] = 0.0f;
        }
    for (int b = 0; b < nb; b++) {
        _Pragma("GCC unroll 4")
        for (int r = 0; r < R; r++) {
            __m256i c[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
            float dw, mw = 0.0f;
            const int sgn = QX(unpack)(dt, rows[r] + (size_t)b * bb, c, &dw, &mw);
            _Pragma("GCC unroll 4")
            for (int s = 0; s < sub; s++) {
                const int xb = b * sub + s;
                const __m256i u = sgn ? _mm256_sign_epi8(c[s], c[s]) : c[s];
                _Pragma("GCC unroll 4")
                for (int t = 0; t < TT; t++) {
                    __m256i x = _mm256_loadu_si256((const __m256i *)(xq + (size_t)t * K + 32 * xb));
                    if (sgn) x = _mm256_sign_epi8(x, c[s]);
                    const __m256 p = _mm256_cvtepi32_ps(QX(dpbusd)(u, x));
                    acc[r][t] = _mm256_fmadd_ps(p, _mm256_set1_ps(dw * xd[(size_t)t * nx + xb]), acc[r][t]);
                    if (minty) accm[r][t] += mw * xs[(size_t)t * nx + xb];
                }
            }
        }
    }
    _Pragma("GCC unroll 4")
    for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 4")
        for (int t = 0; t < TT; t++) Y[(size_t)t * ldy + r] = QX(hsum)(acc[r][t]) + accm[r][t];
}

/* One type's product: rows two at a time, tokens four at a time. */
INLINE void QX(dot_type)(rwkv_dtype dt, const void *W, size_t rb, int K, int o0, int o1,
                         const int8_t *xq, const float *xd, const float *xs, int T, float *Y,
                         int ldy) {
    const int nx = K / 32;
    int o = o0;
    for (; o < o1; o += 2) {
        const int R = o + 1 < o1 ? 2 : 1;
        const uint8_t *rows[2] = {(const uint8_t *)W + (size_t)o * rb,
                                  (const uint8_t *)W + (size_t)(o + R - 1) * rb};
        int t = 0;
        for (; t + 4 <= T; t += 4) {
            const int8_t *q = xq + (size_t)t * K;
            const float *d = xd + (size_t)t * nx, *s = xs + (size_t)t * nx;
            float *y = Y + (size_t)t * ldy + o;
            if (R == 2) QX(tile)(dt, rows, 2, 4, K, q, d, s, y, ldy);
            else QX(tile)(dt, rows, 1, 4, K, q, d, s, y, ldy);
        }
        for (; t < T; t++) {
            const int8_t *q = xq + (size_t)t * K;
            const float *d = xd + (size_t)t * nx, *s = xs + (size_t)t * nx;
            float *y = Y + (size_t)t * ldy + o;
            if (R == 2) QX(tile)(dt, rows, 2, 1, K, q, d, s, y, ldy);
            else QX(tile)(dt, rows, 1, 1, K, q, d, s, y, ldy);
        }
    }
}

static void QX(dot)(rwkv_dtype dt, const void *W, size_t rb, int K, int o0, int o1,
                    const int8_t *xq, const float *xd, const float *xs, int T, float *Y, int ldy) {
    switch (dt) { /* one specialised copy per type */
    case RWKV_DT_Q8_0: QX(dot_type)(RWKV_DT_Q8_0, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_Q4_0: QX(dot_type)(RWKV_DT_Q4_0, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_Q4_1: QX(dot_type)(RWKV_DT_Q4_1, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_Q5_0: QX(dot_type)(RWKV_DT_Q5_0, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_Q5_1: QX(dot_type)(RWKV_DT_Q5_1, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_NF4: QX(dot_type)(RWKV_DT_NF4, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    default: rwkv_type_dot_i8(dt, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break; /* no kernel: the reference */
    }
}

#endif

/* ---- float path: weights dequantized exactly in registers, fp32 FMA with fp32 activations -- */

#ifdef QX_VNNI
typedef __m512 QX(vf);
#define QX_VN 2 /* float vectors per 32 values */
#define QX_FR 2 /* rows per tile (chunks of 4 tokens) */
#define QX_FRD 4 /* rows per tile for T < 4 (decode): 4 weight streams in flight */
INLINE __m512 QX(iota)(void) {
    return _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}
INLINE __m512 QX(codes_f)(__m256i c, int i, int sgn) {
    const __m128i h = i ? _mm256_extracti128_si256(c, 1) : _mm256_castsi256_si128(c);
    return _mm512_cvtepi32_ps(sgn ? _mm512_cvtepi8_epi32(h) : _mm512_cvtepu8_epi32(h));
}
/* NF4 levels of the nibbles in byte half i of c (codes 0..15), exactly rwkv_nf4_levels[]. */
INLINE __m512 QX(nf4_f)(__m256i c, int i) {
    const __m128i h = i ? _mm256_extracti128_si256(c, 1) : _mm256_castsi256_si128(c);
    return _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(h), _mm512_loadu_ps(rwkv_nf4_levels));
}
#define QX_LOADF(p) _mm512_loadu_ps(p)
#define QX_SET1(v) _mm512_set1_ps(v)
#define QX_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define QX_MUL(a, b) _mm512_mul_ps(a, b)
#define QX_ZERO() _mm512_setzero_ps()
INLINE float QX(hsumf)(__m512 v) {
    const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    return QX(hsum)(a);
}
#else
typedef __m256 QX(vf);
#define QX_VN 4
#define QX_FR 1
#define QX_FRD 1
INLINE __m256 QX(codes_f)(__m256i c, int i, int sgn) {
    __m128i h = (i >> 1) ? _mm256_extracti128_si256(c, 1) : _mm256_castsi256_si128(c);
    if (i & 1) h = _mm_srli_si128(h, 8);
    return _mm256_cvtepi32_ps(sgn ? _mm256_cvtepi8_epi32(h) : _mm256_cvtepu8_epi32(h));
}
INLINE __m256 QX(nf4_f)(__m256i c, int i) {
    __m128i h = (i >> 1) ? _mm256_extracti128_si256(c, 1) : _mm256_castsi256_si128(c);
    if (i & 1) h = _mm_srli_si128(h, 8);
    const __m256i idx = _mm256_cvtepu8_epi32(h);
    const __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(rwkv_nf4_levels), idx);
    const __m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(rwkv_nf4_levels + 8), idx);
    return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(7))));
}
#define QX_LOADF(p) _mm256_loadu_ps(p)
#define QX_SET1(v) _mm256_set1_ps(v)
#define QX_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define QX_MUL(a, b) _mm256_mul_ps(a, b)
#define QX_ZERO() _mm256_setzero_ps()
INLINE float QX(hsumf)(__m256 v) { return QX(hsum)(v); }
#endif
#define QX_LANES (32 / QX_VN)

/* A tile of R rows × TT tokens with fp32 activations X (row stride K): per weight block the
 * codes are converted to fp32 and scaled (w = c·d [+ m], one rounding, within 1 ulp of the
 * reference dequantizer), then FMA'd with every token; two accumulators per (row, token)
 * alternate over the vectors of a block. The order per output is fixed, as in tile(). */
INLINE void QX(tilef)(rwkv_dtype dt, const uint8_t *const *rows, int R, int TT, int K,
                      const float *X, float *Y, int ldy, size_t pf) {
    const size_t bb = rwkv_dtype_block_bytes(dt);
    const int sub = dt == RWKV_DT_NF4 ? 2 : 1, nb = K / (32 * sub);
    const int minty = dt == RWKV_DT_Q4_1 || dt == RWKV_DT_Q5_1;
    QX(vf) acc[QX_FRD > QX_FR ? QX_FRD : QX_FR][4][2];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 4")
        for (int t = 0; t < TT; t++) acc[r][t][0] = acc[r][t][1] = QX_ZERO();
    for (int b = 0; b < nb; b++) {
        _Pragma("GCC unroll 4")
        for (int r = 0; r < R; r++) {
            __m256i c[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
            float dw, mw = 0.0f;
            const uint8_t *p = rows[r] + (size_t)b * bb;
            if (bb >= 32 || !(b & 1)) /* every 64-byte line of the row, pf bytes ahead */
                _mm_prefetch((const char *)p + pf, _MM_HINT_T0);
#ifdef QX_VNNI
            {
                /* every type: 16 fp32 weights per zmm, w = c·d [+ m] rounded once as in the
                 * generic path (identical values). 4- and 5-bit codes index a per-block table
                 * of the 16 (32) scaled levels (vpermps / vpermt2ps: no int→float conversion
                 * per weight; the low nibble needs no mask, vpermps reads 4 index bits); the
                 * fifth bits of q5 set bit 4 of the index under a 16-bit mask; q8_0 codes
                 * go through vpmovsxbd + vcvtdq2ps. */
                const float d0 = QX(half)(p);
                const __m512 vd = _mm512_set1_ps(d0);
                const int nv = dt == RWKV_DT_NF4 ? 4 : 2;
                __m512 w[4];
                if (dt == RWKV_DT_Q8_0) {
                    w[0] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 2)))), vd);
                    w[1] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 18)))), vd);
                } else if (dt == RWKV_DT_Q5_0 || dt == RWKV_DT_Q5_1) {
                    const int q51 = dt == RWKV_DT_Q5_1;
                    uint32_t qh;
                    memcpy(&qh, p + (q51 ? 4 : 2), 4);
                    const __m512 io = QX(iota)();
                    const __m512 io16 = _mm512_add_ps(io, _mm512_set1_ps(16.0f));
                    __m512 tl, th; /* levels of codes 0..15 and 16..31 */
                    if (q51) {
                        const __m512 vm = _mm512_set1_ps(QX(half)(p + 2));
                        tl = _mm512_fmadd_ps(io, vd, vm);
                        th = _mm512_fmadd_ps(io16, vd, vm);
                    } else { /* (c − 16)·d */
                        tl = _mm512_mul_ps(_mm512_sub_ps(io, _mm512_set1_ps(16.0f)), vd);
                        th = _mm512_mul_ps(io, vd);
                    }
                    const __m512i b0 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + (q51 ? 8 : 6))));
                    const __m512i s16 = _mm512_set1_epi32(16);
                    __m512i lo = _mm512_and_si512(b0, _mm512_set1_epi32(15)), hi = _mm512_srli_epi32(b0, 4);
                    lo = _mm512_mask_or_epi32(lo, (__mmask16)(qh & 0xffffu), lo, s16);
                    hi = _mm512_mask_or_epi32(hi, (__mmask16)(qh >> 16), hi, s16);
                    w[0] = _mm512_permutex2var_ps(tl, lo, th);
                    w[1] = _mm512_permutex2var_ps(tl, hi, th);
                } else {
                    __m512 tb; /* the 16 scaled levels */
                    if (dt == RWKV_DT_Q4_0) /* (c − 8)·d, = fma(c, d, −8d) */
                        tb = _mm512_mul_ps(_mm512_sub_ps(QX(iota)(), _mm512_set1_ps(8.0f)), vd);
                    else if (dt == RWKV_DT_Q4_1)
                        tb = _mm512_fmadd_ps(QX(iota)(), vd, _mm512_set1_ps(QX(half)(p + 2)));
                    else
                        tb = _mm512_mul_ps(_mm512_loadu_ps(rwkv_nf4_levels), vd);
                    const uint8_t *qs = p + (dt == RWKV_DT_Q4_1 ? 4 : 2);
                    const __m512i b0 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)qs));
                    const __m512i b1 = dt == RWKV_DT_NF4
                                           ? _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(qs + 16)))
                                           : b0;
                    /* vector v covers values 16v..16v+15: low nibbles of the first half of
                     * the bytes, then (nf4) of the second half, then the high nibbles */
                    _Pragma("GCC unroll 4")
                    for (int v = 0; v < nv; v++) {
                        const __m512i bv = (nv == 4 && (v & 1)) ? b1 : b0;
                        w[v] = _mm512_permutexvar_ps(v >= nv / 2 ? _mm512_srli_epi32(bv, 4) : bv, tb);
                    }
                }
                _Pragma("GCC unroll 4")
                for (int v = 0; v < nv; v++) {
                    const size_t off = (size_t)b * 32 * sub + (size_t)v * 16;
                    _Pragma("GCC unroll 4")
                    for (int t = 0; t < TT; t++)
                        acc[r][t][v & 1] = _mm512_fmadd_ps(w[v], _mm512_loadu_ps(X + (size_t)t * K + off), acc[r][t][v & 1]);
                }
                continue;
            }
#endif
            int sgn;
            if (dt == RWKV_DT_NF4) { /* nibbles looked up in the fp32 code book: exact */
                dw = QX(half)(p);
                const __m256i v = _mm256_loadu_si256((const __m256i *)(p + 2)), m = _mm256_set1_epi8(15);
                c[0] = _mm256_and_si256(v, m);
                c[1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
                sgn = 0;
            } else {
                sgn = QX(unpack)(dt, p, c, &dw, &mw);
            }
            const QX(vf) vd = QX_SET1(dw), vm = QX_SET1(mw);
            _Pragma("GCC unroll 4")
            for (int s = 0; s < sub; s++)
                _Pragma("GCC unroll 4")
                for (int i = 0; i < QX_VN; i++) {
                    const QX(vf) cf = dt == RWKV_DT_NF4 ? QX(nf4_f)(c[s], i) : QX(codes_f)(c[s], i, sgn);
                    const QX(vf) w = minty ? QX_FMA(cf, vd, vm) : QX_MUL(cf, vd);
                    const size_t off = (size_t)(b * sub + s) * 32 + (size_t)i * QX_LANES;
                    _Pragma("GCC unroll 4")
                    for (int t = 0; t < TT; t++)
                        acc[r][t][i & 1] = QX_FMA(w, QX_LOADF(X + (size_t)t * K + off), acc[r][t][i & 1]);
                }
        }
    }
    _Pragma("GCC unroll 4")
    for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 4")
        for (int t = 0; t < TT; t++)
            Y[(size_t)t * ldy + r] = QX(hsumf)(acc[r][t][0]) + QX(hsumf)(acc[r][t][1]);
}

/* Rows [o0, o1): for T < 4 (decode) QX_FRD rows at a time, each row's stream prefetched a whole
 * number of row groups (≥ 4 KiB) ahead, i.e. at the same offset of a later group's rows, so the
 * prefetches run across 4 KiB pages where the hardware streamer stops; otherwise QX_FR rows × 4
 * tokens. The tile shape does not change the order of operations of any output. */
INLINE void QX(dotf_type)(rwkv_dtype dt, const void *W, size_t rb, int K, int o0, int o1,
                          const float *X, int T, float *Y, int ldy) {
    int o = o0;
    if (QX_FRD > 1 && T < 4) {
        const size_t g = (size_t)QX_FRD * rb, pf = g * ((QX_PREFETCH + g - 1) / g);
        for (; o + QX_FRD <= o1; o += QX_FRD) {
            const uint8_t *rows[4];
            _Pragma("GCC unroll 4")
            for (int r = 0; r < 4; r++) rows[r] = (const uint8_t *)W + (size_t)(o + (r < QX_FRD ? r : 0)) * rb;
            if (T == 1) QX(tilef)(dt, rows, QX_FRD, 1, K, X, Y + o, ldy, pf);
            else if (T == 2) QX(tilef)(dt, rows, QX_FRD, 2, K, X, Y + o, ldy, pf);
            else QX(tilef)(dt, rows, QX_FRD, 3, K, X, Y + o, ldy, pf);
        }
    }
    for (; o < o1; o += QX_FR) {
        const int R = o + QX_FR - 1 < o1 ? QX_FR : 1;
        const uint8_t *rows[2] = {(const uint8_t *)W + (size_t)o * rb,
                                  (const uint8_t *)W + (size_t)(o + R - 1) * rb};
        const size_t pf = QX_PREFETCH;
        int t = 0;
        for (; t + 4 <= T; t += 4) {
            if (R == QX_FR) QX(tilef)(dt, rows, QX_FR, 4, K, X + (size_t)t * K, Y + (size_t)t * ldy + o, ldy, pf);
            else QX(tilef)(dt, rows, 1, 4, K, X + (size_t)t * K, Y + (size_t)t * ldy + o, ldy, pf);
        }
        for (; t < T; t++) {
            if (R == QX_FR) QX(tilef)(dt, rows, QX_FR, 1, K, X + (size_t)t * K, Y + (size_t)t * ldy + o, ldy, pf);
            else QX(tilef)(dt, rows, 1, 1, K, X + (size_t)t * K, Y + (size_t)t * ldy + o, ldy, pf);
        }
    }
}

static void QX(dotf)(rwkv_dtype dt, const void *W, size_t rb, int K, int o0, int o1,
                     const float *X, int T, float *Y, int ldy) {
    switch (dt) { /* one specialised copy per type */
    case RWKV_DT_Q8_0: QX(dotf_type)(RWKV_DT_Q8_0, W, rb, K, o0, o1, X, T, Y, ldy); break;
    case RWKV_DT_Q4_0: QX(dotf_type)(RWKV_DT_Q4_0, W, rb, K, o0, o1, X, T, Y, ldy); break;
    case RWKV_DT_Q4_1: QX(dotf_type)(RWKV_DT_Q4_1, W, rb, K, o0, o1, X, T, Y, ldy); break;
    case RWKV_DT_Q5_0: QX(dotf_type)(RWKV_DT_Q5_0, W, rb, K, o0, o1, X, T, Y, ldy); break;
    case RWKV_DT_Q5_1: QX(dotf_type)(RWKV_DT_Q5_1, W, rb, K, o0, o1, X, T, Y, ldy); break;
    case RWKV_DT_NF4: QX(dotf_type)(RWKV_DT_NF4, W, rb, K, o0, o1, X, T, Y, ldy); break;
    default: rwkv_type_dot_f32(dt, W, rb, K, o0, o1, X, T, Y, ldy); break; /* no kernel: the reference */
    }
}

/* The activation quantizer of ops_quant.h, bit-identical to the scalar one. */
static void QX(quantize_x)(const float *x, int K, int8_t *q, float *d, float *s) {
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int b = 0; b < K / 32; b++) {
        const float *xb = x + 32 * b;
        __m256 v[4], mx = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(xb + 8 * i);
            mx = _mm256_max_ps(mx, _mm256_and_ps(v[i], absm));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float db = amax / 127.0f;
        float id = db != 0.0f ? 1.0f / db : 0.0f;
        if (isinf(id)) id = 0.0f; /* amax < ~3.7e-37: codes 0 (1/d would overflow) */
        const __m256 vid = _mm256_set1_ps(id);
        __m256i i32[4];
        for (int i = 0; i < 4; i++) i32[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], vid));
        __m256i sum = _mm256_add_epi32(_mm256_add_epi32(i32[0], i32[1]), _mm256_add_epi32(i32[2], i32[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        /* packs interleave the 128-bit lanes: 0 1 2 3 → bytes in lane order 0,2,1,3 → fix */
        const __m256i p16a = _mm256_packs_epi32(i32[0], i32[1]), p16b = _mm256_packs_epi32(i32[2], i32[3]);
        __m256i p8 = _mm256_packs_epi16(p16a, p16b);
        p8 = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(q + 32 * b), p8);
        d[b] = db;
        s[b] = db * (float)_mm_cvtsi128_si32(s4);
    }
}

#ifndef QX_VNNI
static const rwkv_qkernels avx2_qtable = {
    .name = "avx2",
    .quantize_x = quantize_x_avx2,
    .dot = dot_avx2,
    .dotf = dotf_avx2,
};

const rwkv_qkernels *rwkv_qkernels_avx2(void) {
    const rwkv_cpu *c = rwkv_cpu_get();
    return c->avx2 && c->fma && c->f16c ? &avx2_qtable : NULL;
}
#endif
