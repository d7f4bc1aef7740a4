/* quant_avx512.c — the AVX-512 VNNI kernels for block-quantized weights (contract in
 * ops_quant.h). The float path (dotf) and the activation quantizer are quant_avx2.c's, included
 * with QX_VNNI defined (zmm float twin); the integer path (dot) is the zmm kernel below.
 * Compiled with the AVX-512 flags (Makefile) and only called after the run-time check in
 * rwkv_qkernels_avx512().
 * The Makefile rebuilds this object when quant_avx2.c changes (it is #included here).
 *
 * Integer dot, one "group" of 128 activations (4 activation blocks of 32) at a time:
 *  - the activations of a token are laid out once per call (prep): x1 = the first 16 codes of
 *    each of the 4 blocks, x2 = the last 16 (so x1/x2 match the low/high nibbles of 4 ggml
 *    4/5-bit blocks with no byte shuffle on the weights), plus per int32 lane of the dot the
 *    offset correction −off·Σq (the 8 codes feeding that lane), the activation scale d_x of the
 *    lane's block and, for the min types, s_x in the block's first lane;
 *  - the weights are unsigned codes u = w + off (q4_0: nibble, off 8; q5_0: 5-bit code, off 16;
 *    q8_0: w ^ 0x80, off 128; nf4: 127·level + 128 by vpshufb, off 128; q4_1 / q5_1: the code,
 *    off 0), gathered from the group's bytes with vpermt2w (all code and scale fields of the
 *    ggml blocks sit at even offsets);
 *  - two vpdpbusd (x1, x2) on top of the correction give, in lanes 4k..4k+3, Σ w·q of block k
 *    exactly; the sums of 4 rows are packed by integer adds into one vector (lane 4k+p = block k
 *    of row p, |lane| ≤ 32·255·127 + 32·128·127 < 2^24, so exact in fp32), then one vcvtdq2ps,
 *    one multiply (d_w·d_x per lane) and one FMA serve 4 rows × 4 blocks (nf4: 2 blocks of 64);
 *    the min types add m_w·s_x with one more FMA. Each output sums its 4 block lanes at the end
 *    as (l0 + l1) + (l2 + l3).
 * Per output the sequence of operations is the same whatever the tile (4 rows, the last 1–3 rows
 * padded by repeating one, × 1–4 tokens) and the row slice, so results depend only on W, X, the
 * row and the token. */
#include "backend/cpu/cpu.h"
#include "backend/cpu/ops_quant.h"
#include "types/quant.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define QX_VNNI 1
#define QX(name) name##_avx512
#include "quant_avx2.c"

/* One group of 128 quantized activations of one token, in the kernel's layout. */
typedef struct qz_x {
    int8_t x1[64], x2[64]; /* first / last 16 codes of each of the 4 blocks */
    int32_t corr[16];      /* −off·Σ of the 8 codes feeding each dot lane */
    float dx[16];          /* d_x of the lane's block (nf4: d_x/127) */
    float sx[16];          /* s_x of the lane's block (min types) */
} qz_x;

/* Per-type vpermt2w indices (words of the two 64-byte loads of a group) and the nf4 table. */
typedef struct qz_idx {
    __m512i c1, c2, sc, qh, tab;
} qz_idx;

/* Bytes of a group: 4 blocks, or 2 nf4 blocks. */
INLINE int qz_group_bytes(rwkv_dtype dt) {
    switch (dt) {
    case RWKV_DT_Q8_0: return 136;
    case RWKV_DT_Q4_0: return 72;
    case RWKV_DT_Q4_1: return 80;
    case RWKV_DT_Q5_0: return 88;
    case RWKV_DT_Q5_1: return 96;
    case RWKV_DT_NF4: return 68;
    default: return 0; /* not reached: only the types of dot_avx512 */
    }
}

/* Offset of the unsigned codes: w = u − off. */
INLINE int qz_off_shift(rwkv_dtype dt) {
    switch (dt) {
    case RWKV_DT_Q4_0: return 3;
    case RWKV_DT_Q5_0: return 4;
    case RWKV_DT_Q8_0:
    case RWKV_DT_NF4: return 7;
    default: return -1; /* q4_1, q5_1 (and any other): no offset */
    }
}

static qz_idx qz_make_idx(rwkv_dtype dt) {
    uint16_t c1[32], c2[32], sc[32], qh[32];
    memset(qh, 0, sizeof qh);
    qz_idx ix;
    if (dt == RWKV_DT_NF4) {
        for (int j = 0; j < 32; j++) {
            const int m = j / 8, i = j % 8;
            c1[j] = (uint16_t)(m < 2 ? 1 + i : 18 + i);
            c2[j] = (uint16_t)(m < 2 ? 9 + i : 26 + i);
            sc[j] = (uint16_t)(j < 16 ? 17 * (j / 8) : 0);
        }
    } else {
        int bb = 34, qs = 2, qhb = -1, minty = 0;
        switch (dt) {
        case RWKV_DT_Q4_0: bb = 18; break;
        case RWKV_DT_Q4_1: bb = 20, qs = 4, minty = 1; break;
        case RWKV_DT_Q5_0: bb = 22, qs = 6, qhb = 2; break;
        case RWKV_DT_Q5_1: bb = 24, qs = 8, qhb = 4, minty = 1; break;
        case RWKV_DT_Q8_0: break;
        default: break; /* not reached: only the types of dot_avx512 */
        }
        const int w = bb / 2;
        for (int j = 0; j < 32; j++) {
            const int k = j / 8, i = j % 8;
            c1[j] = (uint16_t)(qs / 2 + w * k + i);
            /* q8_0: the last 16 codes come from the loads at +8 and +72 bytes */
            c2[j] = (uint16_t)(dt == RWKV_DT_Q8_0 ? 5 + 17 * k + i : c1[j]);
            sc[j] = (uint16_t)(j < 16 ? w * (j / 4) : minty ? w * ((j - 16) / 4) + 1 : 0);
        }
        if (qhb >= 0) { /* the two 16-bit halves of each block's qh: words 0..3 low, 4..7 high */
            for (int k = 0; k < 4; k++) {
                qh[k] = (uint16_t)(qhb / 2 + w * k);
                qh[4 + k] = (uint16_t)(qhb / 2 + w * k + 1);
            }
            if (!minty) /* q5_0: in words 16..23 of the scale gather (no minimum there) */
                for (int k = 0; k < 8; k++) sc[16 + k] = qh[k];
        }
    }
    ix.c1 = _mm512_loadu_si512(c1);
    ix.c2 = _mm512_loadu_si512(c2);
    ix.sc = _mm512_loadu_si512(sc);
    ix.qh = _mm512_loadu_si512(qh);
    int8_t t[16];
    for (int i = 0; i < 16; i++) t[i] = (int8_t)(rwkv_nf4_i8[i] ^ 0x80); /* 127·level + 128 */
    ix.tab = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)t));
    return ix;
}

/* The group of weights at p: unsigned codes w1 (lanes as x1) and w2 (as x2), per-lane d_w (dp)
 * and, for the min types, per-lane m_w (mp). Reads exactly the group's bytes. */
INLINE void qz_load(rwkv_dtype dt, const uint8_t *p, const qz_idx *ix, __m512i *w1, __m512i *w2,
                    __m512 *dp, __m512 *mp) {
    const __m512i m4 = _mm512_set1_epi8(15);
    const __m512i L0 = _mm512_loadu_si512(p);
    const __m512i L1 = dt == RWKV_DT_Q8_0
                           ? _mm512_loadu_si512(p + 64)
                           : _mm512_maskz_loadu_epi16((__mmask32)((1u << ((qz_group_bytes(dt) - 64) / 2)) - 1), p + 64);
    const __m512i S = _mm512_permutex2var_epi16(L0, ix->sc, L1);
    *dp = _mm512_cvtph_ps(_mm512_castsi512_si256(S));
    if (dt == RWKV_DT_Q4_1 || dt == RWKV_DT_Q5_1) *mp = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(S, 1));
    if (dt == RWKV_DT_Q8_0) {
        const __m512i sgn = _mm512_set1_epi8((char)0x80);
        *w1 = _mm512_xor_si512(_mm512_permutex2var_epi16(L0, ix->c1, L1), sgn);
        const __m512i L0b = _mm512_loadu_si512(p + 8), L1b = _mm512_loadu_si512(p + 72);
        *w2 = _mm512_xor_si512(_mm512_permutex2var_epi16(L0b, ix->c2, L1b), sgn);
    } else if (dt == RWKV_DT_NF4) {
        __m512i a = _mm512_permutex2var_epi16(L0, ix->c1, L1), b = _mm512_permutex2var_epi16(L0, ix->c2, L1);
        /* 128-bit lanes 1 and 3 hold the high nibbles (the second sub-block of each block) */
        a = _mm512_and_si512(_mm512_mask_srli_epi16(a, (__mmask32)0xFF00FF00u, a, 4), m4);
        b = _mm512_and_si512(_mm512_mask_srli_epi16(b, (__mmask32)0xFF00FF00u, b, 4), m4);
        *w1 = _mm512_shuffle_epi8(ix->tab, a);
        *w2 = _mm512_shuffle_epi8(ix->tab, b);
    } else {
        const __m512i C = _mm512_permutex2var_epi16(L0, ix->c1, L1);
        __m512i lo = _mm512_and_si512(C, m4), hi = _mm512_and_si512(_mm512_srli_epi16(C, 4), m4);
        if (dt == RWKV_DT_Q5_0 || dt == RWKV_DT_Q5_1) { /* fifth bits: byte 16k+j ↔ bit j (16+j) of qh_k */
            const __m128i h = dt == RWKV_DT_Q5_0 ? _mm512_extracti32x4_epi32(S, 2)
                                                 : _mm512_castsi512_si128(_mm512_permutex2var_epi16(L0, ix->qh, L1));
            const __m512i v16 = _mm512_set1_epi8(16);
            lo = _mm512_mask_add_epi8(lo, _cvtu64_mask64((uint64_t)_mm_cvtsi128_si64(h)), lo, v16);
            hi = _mm512_mask_add_epi8(hi, _cvtu64_mask64((uint64_t)_mm_extract_epi64(h, 1)), hi, v16);
        }
        *w1 = lo;
        *w2 = hi;
    }
}

/* One token's group of activations, in registers. */
typedef struct qz_xr {
    __m512i corr, x1, x2;
    __m512 dx, sx;
} qz_xr;

INLINE qz_xr qz_xload(rwkv_dtype dt, const qz_x *x) {
    qz_xr r;
    r.corr = _mm512_load_si512(x->corr);
    r.x1 = _mm512_load_si512(x->x1);
    r.x2 = _mm512_load_si512(x->x2);
    r.dx = _mm512_load_ps(x->dx);
    r.sx = dt == RWKV_DT_Q4_1 || dt == RWKV_DT_Q5_1 ? _mm512_load_ps(x->sx) : _mm512_setzero_ps();
    return r;
}

/* Σ w·q of one row and one token: lanes 4k..4k+3 hold block k's partial sums (exact). */
INLINE __m512i qz_isum(__m512i w1, __m512i w2, const qz_xr *x) {
    return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(x->corr, w1, x->x1), w2, x->x2);
}

/* Four rows' sums a, b, c, d → lane 4k+p = block k of row p (integer adds: exact). */
INLINE __m512i qz_pack4(__m512i a, __m512i b, __m512i c, __m512i d) {
#define QZ_SHUF(x, y, imm) _mm512_castps_si512(_mm512_shuffle_ps(_mm512_castsi512_ps(x), _mm512_castsi512_ps(y), imm))
    const __m512i ab = _mm512_add_epi32(QZ_SHUF(a, b, 0x88), QZ_SHUF(a, b, 0xDD));
    const __m512i cd = _mm512_add_epi32(QZ_SHUF(c, d, 0x88), QZ_SHUF(c, d, 0xDD));
    return _mm512_add_epi32(QZ_SHUF(ab, cd, 0x88), QZ_SHUF(ab, cd, 0xDD));
#undef QZ_SHUF
}

/* Per-lane (lane 4k+p) value of row p from four per-row vectors (each row's value in 4k..4k+3). */
INLINE __m512 qz_blend4(const __m512 *v) {
    __m512 r = _mm512_mask_blend_ps((__mmask16)0x2222, v[0], v[1]);
    r = _mm512_mask_blend_ps((__mmask16)0x4444, r, v[2]);
    return _mm512_mask_blend_ps((__mmask16)0x8888, r, v[3]);
}

/* Lays out one token's quantized activations (K/32 blocks) as G = ⌈K/128⌉ groups; missing
 * blocks of the last group are zero (codes, corrections, scales). */
static void qz_prep(rwkv_dtype dt, const int8_t *q, const float *d, const float *s, int K, qz_x *out) {
    const int nx = K / 32, G = (nx + 3) / 4, sh = qz_off_shift(dt);
    const __m512i ones = _mm512_set1_epi8(1);
    const __m512i bidx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    for (int g = 0; g < G; g++) {
        const int nb = nx - 4 * g < 4 ? nx - 4 * g : 4;
        const int8_t *qg = q + 128 * g;
        __m512i A, B;
        if (nb == 4) {
            A = _mm512_loadu_si512(qg);
            B = _mm512_loadu_si512(qg + 64);
        } else {
            const int n = 32 * nb;
            A = _mm512_maskz_loadu_epi8(n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1), qg);
            B = _mm512_maskz_loadu_epi8(n > 64 ? (((__mmask64)1 << (n - 64)) - 1) : 0, qg + 64);
        }
        const __m512i x1 = _mm512_shuffle_i64x2(A, B, 0x88), x2 = _mm512_shuffle_i64x2(A, B, 0xDD);
        _mm512_store_si512(out[g].x1, x1);
        _mm512_store_si512(out[g].x2, x2);
        __m512i corr = _mm512_setzero_si512();
        if (sh >= 0) {
            const __m512i c = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, x1), ones, x2);
            corr = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_sll_epi32(c, _mm_cvtsi32_si128(sh)));
        }
        _mm512_store_si512(out[g].corr, corr);
        const __mmask16 bm = (__mmask16)((1u << nb) - 1);
        __m512 dv = _mm512_permutexvar_ps(bidx, _mm512_maskz_loadu_ps(bm, d + 4 * g));
        if (dt == RWKV_DT_NF4) dv = _mm512_div_ps(dv, _mm512_set1_ps(127.0f));
        _mm512_store_ps(out[g].dx, dv);
        _mm512_store_ps(out[g].sx, _mm512_permutexvar_ps(bidx, _mm512_maskz_loadu_ps(bm, s + 4 * g)));
    }
}

/* 16 vectors → one: lane j = the reduction (op) of all 16 lanes of v[perm[j]], perm the 4×4
 * transpose {0,4,8,12,1,5,...} (an involution: feed block perm[i] in slot i to get block j in
 * lane j). */
#define QZ_RED16(T, op, shf4, shf, v, out)                                                          \
    do {                                                                                           \
        T r_[8], u_[4], p_[2];                                                                     \
        for (int i_ = 0; i_ < 8; i_++)                                                             \
            r_[i_] = op(shf4(v[2 * i_], v[2 * i_ + 1], 0x44), shf4(v[2 * i_], v[2 * i_ + 1], 0xEE));  \
        for (int i_ = 0; i_ < 4; i_++)                                                             \
            u_[i_] = op(shf4(r_[2 * i_], r_[2 * i_ + 1], 0x88), shf4(r_[2 * i_], r_[2 * i_ + 1], 0xDD)); \
        for (int i_ = 0; i_ < 2; i_++)                                                             \
            p_[i_] = op(shf(u_[2 * i_], u_[2 * i_ + 1], 0x44), shf(u_[2 * i_], u_[2 * i_ + 1], 0xEE)); \
        out = op(shf(p_[0], p_[1], 0x88), shf(p_[0], p_[1], 0xDD));                                \
    } while (0)
#define QZ_SHF_EPI32(a, b, imm) \
    _mm512_castps_si512(_mm512_shuffle_ps(_mm512_castsi512_ps(a), _mm512_castsi512_ps(b), imm))

/* The activation quantizer of ops_quant.h, 16 blocks at a time (bit-identical to the scalar
 * one: same max, the same two IEEE divisions, x·(1/d) rounded once, round-half-even). */
static void qz_quantize_x(const float *x, int K, int8_t *q, float *d, float *s) {
    static const int perm[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};
    const int nb = K / 32;
    const __m512 absm = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    int b = 0;
    for (; b + 16 <= nb; b += 16) {
        const float *xb = x + 32 * b;
        __m512 m[16];
        for (int i = 0; i < 16; i++) {
            const float *xi = xb + 32 * perm[i];
            m[i] = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(xi), absm), _mm512_and_ps(_mm512_loadu_ps(xi + 16), absm));
        }
        __m512 amax;
        QZ_RED16(__m512, _mm512_max_ps, _mm512_shuffle_f32x4, _mm512_shuffle_ps, m, amax);
        const __m512 db = _mm512_div_ps(amax, _mm512_set1_ps(127.0f));
        __m512 id = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(db, _mm512_setzero_ps(), _CMP_NEQ_OQ),
                                        _mm512_set1_ps(1.0f), db);
        /* amax < ~3.7e-37: 1/d overflows; codes 0 as in the scalar oracle */
        id = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(id, _mm512_set1_ps(INFINITY), _CMP_NEQ_OQ), id);
        _mm512_storeu_ps(d + b, db);
        __m512i sm[16];
        const __m512i pk = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0);
        for (int i = 0; i < 16; i++) {
            const int j = perm[i];
            const __m512 v = _mm512_permutexvar_ps(_mm512_set1_epi32(j), id);
            const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + 32 * j), v));
            const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + 32 * j + 16), v));
            /* |codes| ≤ 127: the saturating packs are exact; they interleave the 128-bit lanes */
            const __m512i p16 = _mm512_packs_epi32(q0, q1), p8 = _mm512_packs_epi16(p16, p16);
            _mm256_storeu_si256((__m256i *)(q + 32 * (b + j)),
                                _mm512_castsi512_si256(_mm512_permutexvar_epi32(pk, p8)));
            sm[i] = _mm512_add_epi32(q0, q1);
        }
        __m512i sum;
        QZ_RED16(__m512i, _mm512_add_epi32, _mm512_shuffle_i32x4, QZ_SHF_EPI32, sm, sum);
        _mm512_storeu_ps(s + b, _mm512_mul_ps(db, _mm512_cvtepi32_ps(sum)));
    }
    if (b < nb) quantize_x_avx512(x + 32 * b, K - 32 * b, q + 32 * b, d + b, s + b);
}

/* 4 rows × TT tokens over the whole row: rows[r] the rows (repeat a row to fill a tile of fewer
 * rows: each lane depends on its own row only), xt[t] the tokens' groups, Y[t·ldy + r] the
 * results for r < R; pf the prefetch distance in bytes. Per token one accumulator holds
 * lane 4k+p = Σ over groups of block k of row p: the four rows' integer sums are packed first
 * (exact adds), so each float op serves 4 rows; each output is (l0 + l1) + (l2 + l3) of its
 * four block lanes at the end, whatever the tile. */
INLINE void qz_tile(rwkv_dtype dt, const uint8_t *const *rows, int R, int TT, int gfull, int ntail,
                    const qz_x *const *xt, const qz_idx *ix, float *Y, int ldy, size_t pf) {
    const int gb = qz_group_bytes(dt), minty = dt == RWKV_DT_Q4_1 || dt == RWKV_DT_Q5_1;
    const size_t bb = rwkv_dtype_block_bytes(dt);
    __m512 acc[4];
    _Pragma("GCC unroll 4")
    for (int t = 0; t < TT; t++) acc[t] = _mm512_setzero_ps();
    __m512i w1[4], w2[4];
    __m512 dp[4], mp[4];
    _Alignas(64) uint8_t buf[4][192]; /* the last, partial group: zero-padded copies */
    for (int g = 0; g < gfull + (ntail > 0); g++) {
        _Pragma("GCC unroll 4")
        for (int r = 0; r < 4; r++) {
            const uint8_t *p = rows[r] + (size_t)g * gb;
            if (g == gfull) {
                memset(buf[r], 0, sizeof buf[r]);
                memcpy(buf[r], p, (size_t)ntail * bb);
                p = buf[r];
            } else if (r < R) {
                _mm_prefetch((const char *)p + pf, _MM_HINT_T0);
                _mm_prefetch((const char *)p + pf + 64, _MM_HINT_T0);
                if (gb > 128) _mm_prefetch((const char *)p + pf + 128, _MM_HINT_T0);
            }
            mp[r] = _mm512_setzero_ps();
            qz_load(dt, p, ix, &w1[r], &w2[r], &dp[r], &mp[r]);
        }
        const __m512 dw = qz_blend4(dp), mw = minty ? qz_blend4(mp) : _mm512_setzero_ps();
        _Pragma("GCC unroll 4")
        for (int t = 0; t < TT; t++) {
            const qz_xr x = qz_xload(dt, xt[t] + g);
            const __m512i is = qz_pack4(qz_isum(w1[0], w2[0], &x), qz_isum(w1[1], w2[1], &x),
                                        qz_isum(w1[2], w2[2], &x), qz_isum(w1[3], w2[3], &x));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_mul_ps(dw, x.dx), acc[t]);
            if (minty) acc[t] = _mm512_fmadd_ps(mw, x.sx, acc[t]);
        }
    }
    _Pragma("GCC unroll 4")
    for (int t = 0; t < TT; t++) {
        const __m128 l0 = _mm512_castps512_ps128(acc[t]), l1 = _mm512_extractf32x4_ps(acc[t], 1);
        const __m128 l2 = _mm512_extractf32x4_ps(acc[t], 2), l3 = _mm512_extractf32x4_ps(acc[t], 3);
        _Alignas(16) float y[4];
        _mm_store_ps(y, _mm_add_ps(_mm_add_ps(l0, l1), _mm_add_ps(l2, l3)));
        for (int r = 0; r < R; r++) Y[(size_t)t * ldy + r] = y[r];
    }
}

/* Stack room for the laid-out activations (larger needs go to the heap). */
#define QZ_STACK 24576

/* One type's product: tokens in chunks of up to 4 (laid out once per chunk), rows 4 at a time
 * (each row's stream prefetched a whole number of 4-row groups ahead, see QX_PREFETCH), then
 * one at a time. 4 rows × 4 tokens measured equal or faster than 2 × 4 for every type (q8_0
 * ~20%, single thread, 32 rows × 32 tokens, K = 2048). */
INLINE void qz_dot_type(rwkv_dtype dt, const void *W, size_t rb, int K, int o0, int o1,
                        const int8_t *xq, const float *xd, const float *xs, int T, float *Y, int ldy) {
    const int nx = K / 32, G = (nx + 3) / 4;
    const int bpg = dt == RWKV_DT_NF4 ? 2 : 4, nbr = (int)((size_t)K / rwkv_dtype_block(dt));
    const int gfull = nbr / bpg, ntail = nbr % bpg;
    _Alignas(64) unsigned char stackbuf[QZ_STACK];
    qz_x *xb = (qz_x *)stackbuf;
    void *heap = NULL;
    int tc = T < 4 ? T : 4;
    const size_t per_tok = (size_t)G * sizeof(qz_x);
    if ((size_t)tc * per_tok > sizeof stackbuf) {
        heap = aligned_alloc(64, (size_t)tc * per_tok);
        if (heap) xb = heap;
        else tc = (int)(sizeof stackbuf / per_tok);
    }
    if (tc < 1) { /* no memory for even one token (K > ~19k and no heap): zeros, as the reference */
        for (int t = 0; t < T; t++)
            for (int o = o0; o < o1; o++) Y[(size_t)t * ldy + o] = 0.0f;
        return;
    }
    const qz_idx ix = qz_make_idx(dt);
    const size_t g4 = 4 * rb, pf4 = g4 * ((QX_PREFETCH + g4 - 1) / g4);
    for (int t0 = 0; t0 < T; t0 += tc) {
        const int n = T - t0 < tc ? T - t0 : tc;
        const qz_x *xt[4];
        for (int t = 0; t < 4; t++) {
            const int tt = t < n ? t : 0;
            xt[t] = xb + (size_t)tt * G;
            if (t < n)
                qz_prep(dt, xq + (size_t)(t0 + t) * K, xd + (size_t)(t0 + t) * nx, xs + (size_t)(t0 + t) * nx, K,
                        xb + (size_t)t * G);
        }
        float *Yt = Y + (size_t)t0 * ldy;
        int o = o0;
        for (; o + 4 <= o1; o += 4) {
            const uint8_t *rows[4];
            for (int r = 0; r < 4; r++) rows[r] = (const uint8_t *)W + (size_t)(o + r) * rb;
            switch (n) {
            case 1: qz_tile(dt, rows, 4, 1, gfull, ntail, xt, &ix, Yt + o, ldy, pf4); break;
            case 2: qz_tile(dt, rows, 4, 2, gfull, ntail, xt, &ix, Yt + o, ldy, pf4); break;
            case 3: qz_tile(dt, rows, 4, 3, gfull, ntail, xt, &ix, Yt + o, ldy, pf4); break;
            default: qz_tile(dt, rows, 4, 4, gfull, ntail, xt, &ix, Yt + o, ldy, pf4); break;
            }
        }
        if (o < o1) { /* the last 1–3 rows: one tile, the last row repeated */
            const int R = o1 - o;
            const uint8_t *rows[4];
            for (int r = 0; r < 4; r++) rows[r] = (const uint8_t *)W + (size_t)(o + (r < R ? r : R - 1)) * rb;
            switch (n) {
            case 1: qz_tile(dt, rows, R, 1, gfull, ntail, xt, &ix, Yt + o, ldy, QX_PREFETCH); break;
            case 2: qz_tile(dt, rows, R, 2, gfull, ntail, xt, &ix, Yt + o, ldy, QX_PREFETCH); break;
            case 3: qz_tile(dt, rows, R, 3, gfull, ntail, xt, &ix, Yt + o, ldy, QX_PREFETCH); break;
            default: qz_tile(dt, rows, R, 4, gfull, ntail, xt, &ix, Yt + o, ldy, QX_PREFETCH); break;
            }
        }
    }
    free(heap);
}

static void dot_avx512(rwkv_dtype dt, const void *W, size_t rb, int K, int o0, int o1, const int8_t *xq,
                       const float *xd, const float *xs, int T, float *Y, int ldy) {
    switch (dt) { /* one specialised copy per type */
    case RWKV_DT_Q8_0: qz_dot_type(RWKV_DT_Q8_0, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_Q4_0: qz_dot_type(RWKV_DT_Q4_0, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_Q4_1: qz_dot_type(RWKV_DT_Q4_1, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_Q5_0: qz_dot_type(RWKV_DT_Q5_0, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_Q5_1: qz_dot_type(RWKV_DT_Q5_1, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_NF4: qz_dot_type(RWKV_DT_NF4, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    default: rwkv_type_dot_i8(dt, W, rb, K, o0, o1, xq, xd, xs, T, Y, ldy); break; /* no kernel: the reference */
    }
}

/* ---- the packed layout: 16 rows interleaved ---------------------------------------------------
 *
 * The kernel above reads 4 rows at a time and gathers each row's codes with vpermt2w, then packs
 * the four rows' block sums together: ~68 instructions per 4 rows × 128 weights, and 4 separate
 * streams. A model loaded for the integer path keeps a second copy of every quantized matrix in
 * this layout instead (qp_pack, done once at load; the file's copy stays for the other paths):
 * groups of 16 rows one after the other, each group one contiguous stream of "units" (a ggml
 * block of 32 weights, or an NF4 block of 64) holding, for its 16 rows:
 *   d[16] fp16, then m[16] fp16 (q4_1, q5_1);
 *   the codes of each 32-weight block as 8 vectors of 64 bytes, vector v lane r (int32) = row r's
 *   unsigned codes u = w + off of weights 4v..4v+3 of the block (the order of the activations'
 *   dword v) — for the 4/5-bit types two vectors share 64 bytes as low and high nibbles (vector
 *   2i low, 2i+1 high: weights 8i..8i+3 and 8i+4..8i+7), q8_0 stores w ^ 0x80;
 *   q5_0 / q5_1: then 8 64-bit masks, bit 4r+j of mask v = the fifth bit of that code.
 * A unit takes exactly the bytes of the 16 rows' blocks, so a packed matrix is ⌈rows/16⌉·16 rows
 * of the row size (the padding rows are zero). One vpdpbusd then serves 16 rows × 4 weights with
 * the activation dword broadcast, with no gather and no horizontal packing: ~30 instructions per
 * 16 rows × 32 weights, one stream per 16 rows.
 * The arithmetic is the kernel's above, term for term: per output, block b's exact integer sum
 * (with the same offset correction), one multiply d_w·d_x and one FMA into accumulator b mod 4,
 * then m_w·s_x by one more FMA (min types), and (a0 + a1) + (a2 + a3) at the end — so the
 * results equal dot_avx512's bit for bit (tests/test_quant.c checks it). */

/* Bytes of one unit of 16 rows. */
INLINE size_t qp_unit_bytes(rwkv_dtype dt) { return 16 * rwkv_dtype_block_bytes(dt); }

/* The types with a packed kernel (dot_packed_avx512); 0 bytes for the others (not packed). */
static size_t qp_packed_bytes(rwkv_dtype dt, int rows, int K) {
    switch (dt) {
    case RWKV_DT_Q8_0: case RWKV_DT_Q4_0: case RWKV_DT_Q4_1: case RWKV_DT_Q5_0: case RWKV_DT_Q5_1: case RWKV_DT_NF4:
        return (size_t)((rows + 15) / 16) * 16 * rwkv_dtype_row_bytes(dt, (size_t)K);
    default: return 0;
    }
}

/* One row's 16 code bytes of a 32-weight block in the packed order (vector i at 4i: byte j =
 * code 8i+j | code 8i+4+j << 4) from ggml's (qs[j] = code j | code j+16 << 4). */
INLINE void qp_nibbles(const uint8_t *qs, uint8_t *o) {
    uint32_t q[4], v[4];
    memcpy(q, qs, 16);
    v[0] = (q[0] & 0x0F0F0F0Fu) | (q[1] & 0x0F0F0F0Fu) << 4;
    v[1] = (q[2] & 0x0F0F0F0Fu) | (q[3] & 0x0F0F0F0Fu) << 4;
    v[2] = (q[0] >> 4 & 0x0F0F0F0Fu) | (q[1] & 0xF0F0F0F0u);
    v[3] = (q[2] >> 4 & 0x0F0F0F0Fu) | (q[3] & 0xF0F0F0F0u);
    for (int i = 0; i < 4; i++) memcpy(o + 64 * i, &v[i], 4);
}

/* Writes 16-row groups [g0, g1) of the packed copy of W [rows][K] (K a multiple of the block
 * size) into P (qp_packed_bytes for the whole matrix). */
static void qp_pack(rwkv_dtype dt, const void *W, int rows, int K, int g0, int g1, void *P) {
    if (qp_packed_bytes(dt, rows, K) == 0) return; /* a type without a packed kernel */
    const size_t rb = rwkv_dtype_row_bytes(dt, (size_t)K), bb = rwkv_dtype_block_bytes(dt);
    const int nu = (int)((size_t)K / rwkv_dtype_block(dt));
    const int minty = dt == RWKV_DT_Q4_1 || dt == RWKV_DT_Q5_1;
    const int q5 = dt == RWKV_DT_Q5_0 || dt == RWKV_DT_Q5_1;
    const size_t ub = qp_unit_bytes(dt), gbytes = (size_t)nu * ub;
    const int G = (rows + 15) / 16;
    if (g1 > G) g1 = G;
    if (rows % 16 && g0 < G && g1 == G) /* the padding rows of the last group are zero */
        memset((uint8_t *)P + (size_t)(G - 1) * gbytes, 0, gbytes);
    for (int g = g0; g < g1; g++)
        for (int r = 0; r < 16 && 16 * g + r < rows; r++) {
            const uint8_t *row = (const uint8_t *)W + (size_t)(16 * g + r) * rb;
            uint8_t *o = (uint8_t *)P + (size_t)g * gbytes;
            for (int b = 0; b < nu; b++, o += ub) {
                const uint8_t *blk = row + (size_t)b * bb;
                uint8_t *c = o + 32 * (1 + minty) + 4 * r;
                memcpy(o + 2 * r, blk, 2);
                if (minty) memcpy(o + 32 + 2 * r, blk + 2, 2);
                if (dt == RWKV_DT_Q8_0) {
                    for (int v = 0; v < 8; v++) {
                        uint32_t x;
                        memcpy(&x, blk + 2 + 4 * v, 4);
                        x ^= 0x80808080u;
                        memcpy(c + 64 * v, &x, 4);
                    }
                } else if (dt == RWKV_DT_NF4) { /* code j: qs[j] & 15, code 32 + j: qs[j] >> 4 */
                    uint32_t q[8], lo[4], hi[4]; /* each half in ggml's 32-code nibble order */
                    memcpy(q, blk + 2, 32);
                    for (int i = 0; i < 4; i++) {
                        lo[i] = (q[i] & 0x0F0F0F0Fu) | (q[4 + i] & 0x0F0F0F0Fu) << 4;
                        hi[i] = (q[i] >> 4 & 0x0F0F0F0Fu) | (q[4 + i] & 0xF0F0F0F0u);
                    }
                    qp_nibbles((const uint8_t *)lo, c);
                    qp_nibbles((const uint8_t *)hi, c + 256);
                } else {
                    const uint8_t *qs = blk + 2 + 2 * minty + 4 * q5;
                    qp_nibbles(qs, c);
                    if (q5) { /* mask v, bits 4r..4r+3 = fifth bits of codes 4v..4v+3 */
                        uint32_t qh;
                        memcpy(&qh, blk + 2 + 2 * minty, 4);
                        uint8_t *mk = o + 32 * (1 + minty) + 256;
                        for (int v = 0; v < 8; v++) {
                            uint64_t m;
                            memcpy(&m, mk + 8 * v, 8);
                            if (r == 0) m = 0;
                            m |= (uint64_t)((qh >> (4 * v)) & 15) << (4 * r);
                            memcpy(mk + 8 * v, &m, 8);
                        }
                    }
                }
            }
        }
}

/* The 8 code vectors of 32-weight block sb of the unit at p (lane r, dword v). */
INLINE void qp_decode(rwkv_dtype dt, const uint8_t *p, int sb, __m512i tab, __m512i *w) {
    const int minty = dt == RWKV_DT_Q4_1 || dt == RWKV_DT_Q5_1;
    const uint8_t *c = p + 32 * (1 + minty);
    const __m512i m4 = _mm512_set1_epi8(15);
    if (dt == RWKV_DT_Q8_0) {
        _Pragma("GCC unroll 8")
        for (int v = 0; v < 8; v++) w[v] = _mm512_loadu_si512(c + 64 * v);
        return;
    }
    c += 256 * sb;
    _Pragma("GCC unroll 4")
    for (int i = 0; i < 4; i++) {
        const __m512i x = _mm512_loadu_si512(c + 64 * i);
        w[2 * i] = _mm512_and_si512(x, m4);
        w[2 * i + 1] = _mm512_and_si512(_mm512_srli_epi16(x, 4), m4);
    }
    if (dt == RWKV_DT_Q5_0 || dt == RWKV_DT_Q5_1) {
        const __m512i v16 = _mm512_set1_epi8(16);
        _Pragma("GCC unroll 8")
        for (int v = 0; v < 8; v++) {
            uint64_t k;
            memcpy(&k, c + 256 + 8 * v, 8);
            w[v] = _mm512_mask_add_epi8(w[v], _cvtu64_mask64(k), w[v], v16);
        }
    } else if (dt == RWKV_DT_NF4) {
        _Pragma("GCC unroll 8")
        for (int v = 0; v < 8; v++) w[v] = _mm512_shuffle_epi8(tab, w[v]);
    }
}

/* Per token and activation block: the offset correction −off·Σq and the scales d_x (nf4:
 * d_x/127, as qz_prep) and s_x. */
typedef struct qp_xs {
    int32_t corr;
    float dx, sx;
} qp_xs;

static void qp_prep(rwkv_dtype dt, const int8_t *q, const float *d, const float *s, int K, qp_xs *out) {
    const int nx = K / 32, sh = qz_off_shift(dt);
    for (int b = 0; b < nx; b++) {
        int32_t c = 0;
        if (sh >= 0) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(q + 32 * b));
            const __m256i s16 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), v), _mm256_set1_epi16(1));
            const __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s16), _mm256_extracti128_si256(s16, 1));
            const __m128i h2 = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
            c = -(_mm_cvtsi128_si32(_mm_add_epi32(h2, _mm_shuffle_epi32(h2, 0xB1))) * (1 << sh));
        }
        out[b].corr = c;
        out[b].dx = dt == RWKV_DT_NF4 ? d[b] / 127.0f : d[b];
        out[b].sx = s[b];
    }
}

/* Prefetch distance of the packed kernel (shorter than QX_PREFETCH). On a 2-core Xeon with AMX,
 * where a software prefetch waits for a free line-fill buffer, 4 KiB kept too many in flight —
 * 1.5B decode, 3 reps × 48 tokens: nf4 25.3 tok/s at 4 KiB, 28.0 at 512 B, 28.7 at 1 KiB, 28.9
 * at 2 KiB; q4_0 25.7 / 27.0 / 28.5 / 27.7; int8 17.2 / 17.4 / 18.1 / 18.7; 0.1B q4_0 equal at 2
 * and 4 KiB, 6-9% slower at 1 KiB. On the AMD Zen 5 VM 2 KiB and 4 KiB were within the noise. */
#define QP_PREFETCH 2048

/* One group of 16 rows × TT tokens: y[t][r] for the group at p (nu units); each unit's bytes
 * are prefetched pf bytes ahead. */
INLINE void qp_group(rwkv_dtype dt, const uint8_t *p, int nu, int TT, const qp_xs *const *xs,
                     const int32_t *const *xq, __m512i tab, __m512 *yout, size_t pf) {
    const int minty = dt == RWKV_DT_Q4_1 || dt == RWKV_DT_Q5_1, nsub = dt == RWKV_DT_NF4 ? 2 : 1;
    const size_t ub = qp_unit_bytes(dt);
    __m512 acc[4][4];
    _Pragma("GCC unroll 4")
    for (int t = 0; t < TT; t++)
        for (int a = 0; a < 4; a++) acc[t][a] = _mm512_setzero_ps();
    for (int u = 0; u < nu; u++, p += ub) {
        for (size_t o = 0; o < ub; o += 64) _mm_prefetch((const char *)p + pf + o, _MM_HINT_T0);
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
        const __m512 mw = minty ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 32))) : _mm512_setzero_ps();
        for (int sb = 0; sb < nsub; sb++) {
            const int b = u * nsub + sb;
            __m512i w[8];
            qp_decode(dt, p, sb, tab, w);
            _Pragma("GCC unroll 4")
            for (int t = 0; t < TT; t++) {
                const int32_t *xa = xq[t] + 8 * b;
                __m512i is = _mm512_set1_epi32(xs[t][b].corr);
                _Pragma("GCC unroll 8")
                for (int v = 0; v < 8; v++) is = _mm512_dpbusd_epi32(is, w[v], _mm512_set1_epi32(xa[v]));
                acc[t][b & 3] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_mul_ps(dw, _mm512_set1_ps(xs[t][b].dx)),
                                                acc[t][b & 3]);
                if (minty) acc[t][b & 3] = _mm512_fmadd_ps(mw, _mm512_set1_ps(xs[t][b].sx), acc[t][b & 3]);
            }
        }
    }
    _Pragma("GCC unroll 4")
    for (int t = 0; t < TT; t++)
        yout[t] = _mm512_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]), _mm512_add_ps(acc[t][2], acc[t][3]));
}

/* Rows [o0, o1) of Y from the packed copy P of a [rows][K] matrix; tokens in tiles of up to 4
 * (each 16-row group read once per tile). Rows outside [o0, o1) ∩ [0, rows) are not written. */
INLINE void qp_dot_type(rwkv_dtype dt, const void *P, int rows, int K, int o0, int o1, const int8_t *xq,
                        const float *xd, const float *xsum, int T, float *Y, int ldy) {
    const int nx = K / 32, nu = (int)((size_t)K / rwkv_dtype_block(dt));
    const size_t gbytes = (size_t)nu * qp_unit_bytes(dt);
    if (o1 > rows) o1 = rows;
    if (o0 >= o1 || T <= 0) return;
    int8_t t8[16];
    for (int i = 0; i < 16; i++) t8[i] = (int8_t)(rwkv_nf4_i8[i] ^ 0x80); /* 127·level + 128 */
    const __m512i tab = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)t8));
    const size_t pf = QP_PREFETCH;
    _Alignas(64) qp_xs stackbuf[QZ_STACK / sizeof(qp_xs)];
    qp_xs *xs = stackbuf, *heap = NULL;
    int tc = T < 4 ? T : 4;
    if ((size_t)tc * nx > sizeof stackbuf / sizeof stackbuf[0]) {
        heap = malloc((size_t)tc * nx * sizeof *heap);
        if (heap) xs = heap;
        else tc = (int)(sizeof stackbuf / sizeof stackbuf[0] / (size_t)nx);
    }
    if (tc < 1) { /* no memory even for one token (K > ~65k and no heap) */
        for (int t = 0; t < T; t++)
            for (int o = o0; o < o1; o++) Y[(size_t)t * ldy + o] = 0.0f;
        return;
    }
    for (int t0 = 0; t0 < T; t0 += tc) {
        const int n = T - t0 < tc ? T - t0 : tc;
        const qp_xs *xt[4];
        const int32_t *qt[4];
        for (int t = 0; t < 4; t++) {
            const int tt = t < n ? t : 0;
            xt[t] = xs + (size_t)tt * nx;
            qt[t] = (const int32_t *)(xq + (size_t)(t0 + tt) * K);
            if (t < n)
                qp_prep(dt, xq + (size_t)(t0 + t) * K, xd + (size_t)(t0 + t) * nx, xsum + (size_t)(t0 + t) * nx, K,
                        xs + (size_t)t * nx);
        }
        for (int g = o0 / 16; g * 16 < o1; g++) {
            const uint8_t *p = (const uint8_t *)P + (size_t)g * gbytes;
            __m512 y[4];
            switch (n) {
            case 1: qp_group(dt, p, nu, 1, xt, qt, tab, y, pf); break;
            case 2: qp_group(dt, p, nu, 2, xt, qt, tab, y, pf); break;
            case 3: qp_group(dt, p, nu, 3, xt, qt, tab, y, pf); break;
            default: qp_group(dt, p, nu, 4, xt, qt, tab, y, pf); break;
            }
            const int r0 = 16 * g < o0 ? o0 - 16 * g : 0, r1 = 16 * g + 16 > o1 ? o1 - 16 * g : 16;
            const __mmask16 km = (__mmask16)(((1u << r1) - 1) & ~((1u << r0) - 1));
            for (int t = 0; t < n; t++) _mm512_mask_storeu_ps(Y + (size_t)(t0 + t) * ldy + 16 * g, km, y[t]);
        }
    }
    free(heap);
}

static void dot_packed_avx512(rwkv_dtype dt, const void *P, int rows, int K, int o0, int o1, const int8_t *xq,
                              const float *xd, const float *xs, int T, float *Y, int ldy) {
    switch (dt) { /* one specialised copy per type */
    case RWKV_DT_Q8_0: qp_dot_type(RWKV_DT_Q8_0, P, rows, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_Q4_0: qp_dot_type(RWKV_DT_Q4_0, P, rows, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_Q4_1: qp_dot_type(RWKV_DT_Q4_1, P, rows, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_Q5_0: qp_dot_type(RWKV_DT_Q5_0, P, rows, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_Q5_1: qp_dot_type(RWKV_DT_Q5_1, P, rows, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    case RWKV_DT_NF4: qp_dot_type(RWKV_DT_NF4, P, rows, K, o0, o1, xq, xd, xs, T, Y, ldy); break;
    default: break; /* not reached: qp_packed_bytes is 0 for the other types, so none is packed */
    }
}

static const rwkv_qkernels avx512_qtable = {
    .name = "avx512vnni",
    .quantize_x = qz_quantize_x,
    .dot = dot_avx512,
    .dotf = dotf_avx512,
    .packed_bytes = qp_packed_bytes,
    .pack = qp_pack,
    .dot_packed = dot_packed_avx512,
    .int8_default = 1, /* 1.5B decode 1.3-1.5x, prefill 1.4-1.6x the float path (docs/FORMATS.md) */
};

const rwkv_qkernels *rwkv_qkernels_avx512(void) {
    const rwkv_cpu *c = rwkv_cpu_get();
    return c->avx512f && c->avx512bw && c->avx512vl && c->avx512vnni && c->avx2 && c->fma && c->f16c
               ? &avx512_qtable
               : NULL;
}
