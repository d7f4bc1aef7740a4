/* kernels_avx512.c — AVX-512 (F/BW/VL/DQ) kernels, with AVX-512 BF16 dot products for the
 * bf16 prefill path. Compiled with the AVX-512 flags (Makefile) and only called after the
 * run-time check in rwkv_kernels_avx512(). Twins of the scalar kernels in ops_scalar.c.
 *
 * Precision: fp16/bf16 weights are converted exactly to fp32 (vcvtph2ps / a 16-bit shift) and
 * every product is summed in fp32 with FMA, in a different order than the scalar oracle (16
 * lanes, then a fixed reduction tree): results agree to a few fp32 ulps of the sum's magnitude.
 * linear_bf16 rounds activations (and fp16 weights) to bf16: relative error ~2^-9 per product
 * (see kernels.h). exp/tanh/sigmoid use a degree-7 polynomial (error ≤ 2 ulp of the result;
 * tanh near 0 has an absolute error ≤ 1e-7). */
#include "backend/cpu/cpu.h"
#include "backend/cpu/kernels.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

/* Least distance, in bytes, at which the matrix-vector kernel prefetches each weight row (it
 * prefetches the next group of 4 rows at the same column: the rows of a group are contiguous,
 * and software prefetches, unlike the hardware's, cross 4 KiB page boundaries). */
#define GEMV_PREFETCH 1024

/* Up to this many tokens a product streams the weights row by row (matrix-vector style, each
 * weight read once for all tokens); from there on the packed GEMM below wins. */
#define GEMV_MAX_T 16

/* ---- helpers -------------------------------------------------------------------------------- */

INLINE __mmask16 tail16(int n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u); }
INLINE __mmask32 tail32(int n) { return n >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << n) - 1u); }

/* fp32 lanes of 16 bf16 values. */
INLINE __m512 bf16x16_ps(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }

/* 16 elements of type dt at p (masked lanes read as 0) as fp32. */
INLINE __m512 load16(rwkv_dtype dt, const void *p, __mmask16 m) {
    if (dt == RWKV_DT_F16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
    if (dt == RWKV_DT_BF16) return bf16x16_ps(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_maskz_loadu_ps(m, p);
}

INLINE size_t esize(rwkv_dtype dt) { return dt == RWKV_DT_F32 ? 4 : 2; }

/* [Σv0, Σv1, Σv2, Σv3] (fixed reduction tree). */
INLINE __m128 hsum4(__m512 v0, __m512 v1, __m512 v2, __m512 v3) {
    __m512 a = _mm512_add_ps(_mm512_shuffle_f32x4(v0, v1, 0x44), _mm512_shuffle_f32x4(v0, v1, 0xEE));
    __m512 b = _mm512_add_ps(_mm512_shuffle_f32x4(v2, v3, 0x44), _mm512_shuffle_f32x4(v2, v3, 0xEE));
    __m512 c = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xDD));
    __m128 h1 = _mm_hadd_ps(_mm512_castps512_ps128(c), _mm512_extractf32x4_ps(c, 1));
    __m128 h2 = _mm_hadd_ps(_mm512_extractf32x4_ps(c, 2), _mm512_extractf32x4_ps(c, 3));
    return _mm_hadd_ps(h1, h2);
}

/* Lane j of the result = Σ lanes of v[j] (fixed reduction tree, then one permutation). */
INLINE __m512 hsum16(const __m512 *v) {
    __m512 a[8], b[4], c[2];
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++)
        a[j] = _mm512_add_ps(_mm512_shuffle_f32x4(v[j], v[j + 8], 0x44),
                             _mm512_shuffle_f32x4(v[j], v[j + 8], 0xEE));
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++)
        b[j] = _mm512_add_ps(_mm512_shuffle_f32x4(a[j], a[j + 4], 0x88),
                             _mm512_shuffle_f32x4(a[j], a[j + 4], 0xDD));
#pragma GCC unroll 2
    for (int j = 0; j < 2; j++)
        c[j] = _mm512_add_ps(_mm512_unpacklo_ps(b[j], b[j + 2]), _mm512_unpackhi_ps(b[j], b[j + 2]));
    __m512 d = _mm512_add_ps(_mm512_shuffle_ps(c[0], c[1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(c[0], c[1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512i idx = _mm512_setr_epi32(0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15);
    return _mm512_permutexvar_ps(idx, d);
}

/* ---- matrix × vector (few tokens): bound by memory, 4 weight rows streamed at once -------- */

/* out[nt·r + t] = Σ_i w_r[i]·x_t[i] for 4 rows and nt ≤ 4 tokens (row pointers may repeat). Every
 * weight vector is loaded and converted once for all nt tokens; each (row, token) has one
 * accumulator over 16-lane steps and the same reduction tree whatever nt is, so a token's result
 * does not depend on which other tokens share the call (a batch of sequences decodes exactly
 * like one sequence). pf: prefetch distance in bytes from each row's read position (the next
 * group of rows at the same column); 0 = none. nt must be a compile-time constant after
 * inlining (the callers pass literals). */
INLINE void gemv4xn(rwkv_dtype dt, const char *const w[4], const float *const x[4], int nt, int K,
                    float *out, size_t pf) {
    const size_t es = esize(dt);
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++) acc[r][t] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= K; i += 16) {
        __m512 xv[4];
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++) xv[t] = _mm512_loadu_ps(x[t] + i);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const char *p = w[r] + (size_t)i * es;
            if (pf && ((i * (int)es) & 63) == 0) _mm_prefetch(p + pf, _MM_HINT_T0);
            __m512 wv = load16(dt, p, 0xffff);
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
        }
    }
    if (i < K) {
        __mmask16 m = tail16(K - i);
        __m512 xv[4];
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++) xv[t] = _mm512_maskz_loadu_ps(m, x[t] + i);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            __m512 wv = load16(dt, w[r] + (size_t)i * es, m);
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < nt; t++) {
        float o[4];
        _mm_storeu_ps(o, hsum4(acc[0][t], acc[1][t], acc[2][t], acc[3][t]));
        for (int r = 0; r < 4; r++) out[nt * r + t] = o[r];
    }
}

/* Y[t][o] for a few tokens (one decoding sequence, a batch of them, or a short chunk): each group
 * of 4 rows is streamed from memory once and reused, from L1, for every group of 4 tokens. */
INLINE void gemv_rows(rwkv_dtype dt, const void *W, int K, int r0, int r1, const float *X, int ldx,
                      int T, float *Y, int ldy) {
    const size_t rb = (size_t)K * esize(dt);
    const size_t pf = 4 * rb > GEMV_PREFETCH ? 4 * rb : GEMV_PREFETCH;
    for (int o = r0; o < r1; o += 4) {
        const char *w[4];
        for (int r = 0; r < 4; r++) w[r] = (const char *)W + (size_t)(o + r < r1 ? o + r : r1 - 1) * rb;
        for (int t0 = 0; t0 < T; t0 += 4) {
            const int nt = T - t0 < 4 ? T - t0 : 4;
            const float *x[4];
            for (int t = 0; t < 4; t++) x[t] = X + (size_t)(t0 + (t < nt ? t : 0)) * ldx;
            float out[16];
            const size_t p = t0 == 0 ? pf : 0; /* prefetch on the first pass over the rows */
            switch (nt) {
            case 1: gemv4xn(dt, w, x, 1, K, out, p); break;
            case 2: gemv4xn(dt, w, x, 2, K, out, p); break;
            case 3: gemv4xn(dt, w, x, 3, K, out, p); break;
            default: gemv4xn(dt, w, x, 4, K, out, p); break;
            }
            for (int r = 0; r < 4 && o + r < r1; r++)
                for (int t = 0; t < nt; t++) Y[(size_t)(t0 + t) * ldy + o + r] = out[nt * r + t];
        }
    }
}

/* ---- matrix × matrix (a chunk of tokens): packed weight panels, outer products -------------- */

/* Y = X·Wᵀ for a chunk of tokens. Rows of W are taken 32 at a time (a panel); a block of
 * GEMM_KB columns of the panel is converted to fp32 and packed k-major — pk[k][32], so one
 * zmm load gives 16 rows' weights for one k — into an 8 KiB buffer that stays in L1 while every
 * token of the chunk passes over it. The register block is 2 zmm of rows × up to GEMM_NT
 * tokens: X[t][k] is broadcast and multiplied into the 32 rows (outer-product FMAs), no
 * horizontal sums. Every output is summed in two levels: each column block of GEMM_KB terms in
 * order of k with one FMA per term, from zero, then the block sums in order of the blocks
 * (carried through Y) — an order fixed by K alone (not by the rows, tokens, slice or thread
 * count), and with the rounding error of ~GEMM_KB + K/GEMM_KB additions rather than K. */
#define GEMM_KB 64 /* also bounds the rounding error: see above (128 put a tiny RWKV-6 model past 1e-5 sequence vs serial) */
#define GEMM_NT 14

/* 16×16 transpose of r[] in place (r[i] lane j -> r[j] lane i). */
INLINE void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[4 * i]), _mm512_castps_pd(t[4 * i + 2])));
        u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[4 * i]), _mm512_castps_pd(t[4 * i + 2])));
        u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[4 * i + 1]), _mm512_castps_pd(t[4 * i + 3])));
        u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[4 * i + 1]), _mm512_castps_pd(t[4 * i + 3])));
    }
    /* u[4i+j] lane 4q+l holds r[4i+l] element 4q+j' with j' = (0,2,1,3)[j]... combined below */
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(u[i], u[4 + i], 0x88);
        t[4 + i] = _mm512_shuffle_f32x4(u[i], u[4 + i], 0xDD);
        t[8 + i] = _mm512_shuffle_f32x4(u[8 + i], u[12 + i], 0x88);
        t[12 + i] = _mm512_shuffle_f32x4(u[8 + i], u[12 + i], 0xDD);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
        r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xDD);
        r[4 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0x88);
        r[12 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0xDD);
    }
}

/* Packs rows [o, o+n) (n <= 32) and columns [k0, k0+kb) (kb <= GEMM_KB) of W as fp32 into
 * pk[k][ldp] (ldp = 16 or 32 >= n); rows from n to ldp are zero. */
INLINE void pack_panel(rwkv_dtype dt, const void *W, int K, int o, int n, int k0, int kb,
                       float *pk, int ldp) {
    const size_t es = esize(dt);
    for (int g = 0; g < ldp; g += 16) {
        for (int c = 0; c < kb; c += 16) {
            const __mmask16 m = tail16(kb - c);
            __m512 r[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                r[i] = g + i < n ? load16(dt, (const char *)W + ((size_t)(o + g + i) * K + k0 + c) * es, m)
                                 : _mm512_setzero_ps();
            transpose16(r);
            const int nc = kb - c < 16 ? kb - c : 16;
            for (int i = 0; i < nc; i++) _mm512_store_ps(pk + (size_t)(c + i) * ldp + g, r[i]);
        }
    }
}

/* The register block: rows [0, 16·NV) of the packed panel × NT tokens, columns [0, kb) of the
 * block, summed from zero and then added to Y (the sum of the earlier column blocks) unless
 * first. m0/m1: the rows of the two zmm that are stored. */
INLINE void gemm_block(const int NV, const int NT, const float *pk, int kb, const float *x,
                       size_t ldx, float *y, size_t ldy, int first, __mmask16 m0, __mmask16 m1) {
    __m512 a0[GEMM_NT], a1[GEMM_NT];
#pragma GCC unroll 14
    for (int t = 0; t < NT; t++) {
        a0[t] = _mm512_setzero_ps();
        a1[t] = _mm512_setzero_ps();
    }
    const int ldp = 16 * NV;
    for (int k = 0; k < kb; k++) {
        const __m512 w0 = _mm512_load_ps(pk + (size_t)k * ldp);
        const __m512 w1 = NV > 1 ? _mm512_load_ps(pk + (size_t)k * ldp + 16) : w0;
#pragma GCC unroll 14
        for (int t = 0; t < NT; t++) {
            const __m512 xb = _mm512_set1_ps(x[t * ldx + k]);
            a0[t] = _mm512_fmadd_ps(w0, xb, a0[t]);
            if (NV > 1) a1[t] = _mm512_fmadd_ps(w1, xb, a1[t]);
        }
    }
#pragma GCC unroll 14
    for (int t = 0; t < NT; t++) {
        if (!first) a0[t] = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, y + t * ldy), a0[t]);
        _mm512_mask_storeu_ps(y + t * ldy, m0, a0[t]);
        if (NV > 1) {
            if (!first) a1[t] = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, y + t * ldy + 16), a1[t]);
            _mm512_mask_storeu_ps(y + t * ldy + 16, m1, a1[t]);
        }
    }
}

#define GEMM_CASE(NV, NT)                                                                          \
    case NT:                                                                                       \
        gemm_block(NV, NT, pk, kb, x, ldx, y, ldy, first, m0, m1);                                 \
        break;
#define GEMM_SWITCH(NV)                                                                            \
    switch (nt) {                                                                                  \
        GEMM_CASE(NV, 1) GEMM_CASE(NV, 2) GEMM_CASE(NV, 3) GEMM_CASE(NV, 4) GEMM_CASE(NV, 5)      \
        GEMM_CASE(NV, 6) GEMM_CASE(NV, 7) GEMM_CASE(NV, 8) GEMM_CASE(NV, 9) GEMM_CASE(NV, 10)     \
        GEMM_CASE(NV, 11) GEMM_CASE(NV, 12) GEMM_CASE(NV, 13) GEMM_CASE(NV, 14)                  \
    }

static void gemm_blocks(int nv, int nt, const float *pk, int kb, const float *x, size_t ldx,
                        float *y, size_t ldy, int first, __mmask16 m0, __mmask16 m1) {
    if (nv > 1) {
        GEMM_SWITCH(2)
    } else {
        GEMM_SWITCH(1)
    }
}

/* Tokens per group: the group's partial sums live in a contiguous [GEMM_TG][32] buffer (8 KiB,
 * L1) rather than in Y, whose rows may lie a multiple of 4 KiB apart (ldy = 3072 floats) and
 * then fall into the same few L1 sets. */
#define GEMM_TG 64

static void gemm_f32(rwkv_dtype dt, const void *W, int K, int r0, int r1, const float *X, int ldx,
                     int T, float *Y, int ldy) {
    float pk[32 * GEMM_KB] __attribute__((aligned(64)));
    float acc[GEMM_TG * 32] __attribute__((aligned(64)));
    for (int p = r0; p < r1; p += 32) {
        const int n = r1 - p < 32 ? r1 - p : 32, nv = n > 16 ? 2 : 1;
        const __mmask16 m0 = tail16(n), m1 = n > 16 ? tail16(n - 16) : 0;
        for (int g0 = 0; g0 < T; g0 += GEMM_TG) {
            const int tg = T - g0 < GEMM_TG ? T - g0 : GEMM_TG;
            const int nblk = (tg + GEMM_NT - 1) / GEMM_NT; /* token blocks of near-equal size */
            for (int k0 = 0; k0 < K; k0 += GEMM_KB) {
                const int kb = K - k0 < GEMM_KB ? K - k0 : GEMM_KB;
                pack_panel(dt, W, K, p, n, k0, kb, pk, 16 * nv);
                for (int b = 0, t0 = 0; b < nblk; b++) {
                    const int t1 = tg * (b + 1) / nblk;
                    gemm_blocks(nv, t1 - t0, pk, kb, X + (size_t)(g0 + t0) * ldx + k0, (size_t)ldx,
                                acc + (size_t)t0 * 32, 32, k0 == 0, 0xffff, 0xffff);
                    t0 = t1;
                }
            }
            for (int t = 0; t < tg; t++) {
                float *y = Y + (size_t)(g0 + t) * ldy + p;
                _mm512_mask_storeu_ps(y, m0, _mm512_load_ps(acc + t * 32));
                if (nv > 1) _mm512_mask_storeu_ps(y + 16, m1, _mm512_load_ps(acc + t * 32 + 16));
            }
        }
    }
}

/* ---- bf16 matrix × matrix: 4 rows × 4 tokens register tile --------------------------------- */

/* res lane 4t+r = Σ_i w_r[i]·x_t[i] with bf16 inputs (vdpbf16ps: pairs, fp32 sums). */
INLINE __m512 tile_bf16(const uint16_t *const w[4], const uint16_t *const x[4], int K) {
    __m512 acc[16];
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) acc[j] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= K; i += 32) {
        __m512bh wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) wv[r] = (__m512bh)_mm512_loadu_si512(w[r] + i);
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++) {
            __m512bh xv = (__m512bh)_mm512_loadu_si512(x[t] + i);
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) acc[4 * t + r] = _mm512_dpbf16_ps(acc[4 * t + r], wv[r], xv);
        }
    }
    if (i < K) {
        __mmask32 m = tail32(K - i);
        __m512bh wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) wv[r] = (__m512bh)_mm512_maskz_loadu_epi16(m, w[r] + i);
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++) {
            __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(m, x[t] + i);
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) acc[4 * t + r] = _mm512_dpbf16_ps(acc[4 * t + r], wv[r], xv);
        }
    }
    return hsum16(acc);
}

/* Stores tile lanes 4t+r to Y[(t0+t)·ldy + o+r] for t < nt, r < nr. */
INLINE void store_tile(__m512 res, float *Y, int ldy, int t0, int nt, int o, int nr) {
    float tmp[16];
    _mm512_storeu_ps(tmp, res);
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++) Y[(size_t)(t0 + t) * ldy + o + r] = tmp[4 * t + r];
}

#define LINEAR_DT(name, DT)                                                                        \
    static void name(const void *W, int K, int r0, int r1, const float *X, int ldx, int T,       \
                     float *Y, int ldy, void *work) {                                            \
        if (T <= GEMV_MAX_T)                                                                      \
            gemv_rows(DT, W, K, r0, r1, X, ldx, T, Y, ldy);                                       \
        else                                                                                      \
            gemm_f32(DT, W, K, r0, r1, X, ldx, T, Y, ldy);                                        \
    }
LINEAR_DT(linear_f32w, RWKV_DT_F32)
LINEAR_DT(linear_f16w, RWKV_DT_F16)
LINEAR_DT(linear_bf16w, RWKV_DT_BF16)

static void linear_avx512(rwkv_dtype dt, const void *W, int K, int r0, int r1, const float *X,
                          int ldx, int T, float *Y, int ldy, void *work) {
    if (dt == RWKV_DT_F16) linear_f16w(W, K, r0, r1, X, ldx, T, Y, ldy, work);
    else if (dt == RWKV_DT_BF16) linear_bf16w(W, K, r0, r1, X, ldx, T, Y, ldy, work);
    else linear_f32w(W, K, r0, r1, X, ldx, T, Y, ldy, work);
}

/* bf16 products: bf16 weights are read in place, fp16 weights rounded to bf16 one panel of
 * RWKV_ROW_ALIGN rows at a time (the panel stays in L2 while every token passes over it). */
static void linear_bf16_avx512(rwkv_dtype dt, const void *W, int K, int r0, int r1,
                               const uint16_t *Xb, int ldxb, int T, float *Y, int ldy, void *work) {
    uint16_t *buf = work;
    for (int p = r0; p < r1; p += RWKV_ROW_ALIGN) {
        int np = r1 - p < RWKV_ROW_ALIGN ? r1 - p : RWKV_ROW_ALIGN;
        const uint16_t *pw;
        if (dt == RWKV_DT_BF16) {
            pw = (const uint16_t *)W + (size_t)p * K;
        } else {
            for (int r = 0; r < np; r++) {
                const uint16_t *src = (const uint16_t *)W + (size_t)(p + r) * K;
                uint16_t *dst = buf + (size_t)r * K;
                int i = 0;
                for (; i + 32 <= K; i += 32) {
                    __m512bh b = _mm512_cvtne2ps_pbh(load16(dt, src + i + 16, 0xffff), load16(dt, src + i, 0xffff));
                    _mm512_storeu_si512(dst + i, (__m512i)b);
                }
                for (; i < K; i += 16) {
                    __mmask16 m = tail16(K - i);
                    __m512 f = load16(dt, src + i, m);
                    _mm256_mask_storeu_epi16(dst + i, m, (__m256i)_mm512_cvtneps_pbh(f));
                }
            }
            pw = buf;
        }
        for (int t0 = 0; t0 < T; t0 += 4) {
            int nt = T - t0 < 4 ? T - t0 : 4;
            const uint16_t *x[4];
            for (int t = 0; t < 4; t++) x[t] = Xb + (size_t)(t0 + (t < nt ? t : nt - 1)) * ldxb;
            for (int g = 0; g < np; g += 4) {
                int nr = np - g < 4 ? np - g : 4;
                const uint16_t *w[4];
                for (int r = 0; r < 4; r++) w[r] = pw + (size_t)(g + (r < nr ? r : nr - 1)) * K;
                store_tile(tile_bf16(w, x, K), Y, ldy, t0, nt, p + g, nr);
            }
        }
    }
}

/* ---- bf16 matrix × matrix on AMX tiles ----------------------------------------------------- */

/* The same product on the AMX tile unit (tdpbf16ps: bf16 pairs, fp32 sums, denormals flushed —
 * the vdpbf16ps contract). Tiles: C 0-3 (tokens × 16 outputs, fp32), A 4-5 (tokens × 32 inputs,
 * read in place from Xb), B 6-7 (16 input pairs × 16 outputs). A panel of 32 weight rows is
 * rounded to bf16 and packed pair-interleaved into work (each k-step of a 16-row group is one
 * 1 KiB B tile), then every token of the chunk passes over it, 32 tokens (2 A tiles × 2 B
 * tiles) at a time. Each output is summed over k-steps of 32 in order: the same whatever the
 * slice, the panel position or the other tokens. K must be a multiple of 32 (else the
 * vdpbf16ps kernel above runs). */
typedef struct amx_tilecfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_tilecfg;

/* Tiles 0-5 get m rows (tokens), tiles 6-7 16 rows; every row is 64 bytes. */
static void amx_config(int m) {
    /* not a local: gcc 12 may drop stores to a local whose only reader is ldtilecfg (seen in
     * a test program: the rows and widths were never written and the tile loads faulted) */
    static _Thread_local amx_tilecfg c __attribute__((aligned(64)));
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int i = 0; i < 8; i++) {
        c.rows[i] = (uint8_t)(i < 6 ? m : 16);
        c.colsb[i] = 64;
    }
    _tile_loadconfig(&c);
}

/* Rows [o, o+n) (n <= 16, the rest zero), columns [32s, 32s+32) of W as a B tile at dst:
 * dst[16·d + r] (32-bit pairs) = (W[o+r][32s+2d], W[o+r][32s+2d+1]) in bf16. */
INLINE void amx_pack_b(rwkv_dtype dt, const void *W, int K, int o, int n, int s, uint16_t *dst) {
    __m512 r[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) {
        if (i >= n) {
            r[i] = _mm512_setzero_ps();
            continue;
        }
        const uint16_t *src = (const uint16_t *)W + (size_t)(o + i) * K + 32 * (size_t)s;
        r[i] = dt == RWKV_DT_BF16 ? _mm512_castsi512_ps(_mm512_loadu_si512(src))
                                  : _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(
                                        load16(dt, src + 16, 0xffff), load16(dt, src, 0xffff)));
    }
    transpose16(r);
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) _mm512_store_ps((float *)dst + 16 * i, r[i]);
}

/* Stores the m × 16 fp32 tile held in tmp (row stride 16) to Y, outputs [o, o+n). */
INLINE void amx_store_part(const float *tmp, int m, float *Y, int ldy, int t0, int o, int n) {
    for (int t = 0; t < m; t++)
        _mm512_mask_storeu_ps(Y + (size_t)(t0 + t) * ldy + o, tail16(n), _mm512_load_ps(tmp + 16 * t));
}

#define AMX_STORE(TILE, t0_, o_, n_)                                                               \
    do {                                                                                           \
        if ((n_) == 16) {                                                                          \
            _tile_stored(TILE, Y + (size_t)(t0_) * ldy + (o_), (long)ldy * 4);                     \
        } else {                                                                                   \
            _tile_stored(TILE, tmp, 64);                                                           \
            amx_store_part(tmp, m, Y, ldy, t0_, o_, n_);                                           \
        }                                                                                          \
    } while (0)

static void linear_bf16_amx(rwkv_dtype dt, const void *W, int K, int r0, int r1,
                            const uint16_t *Xb, int ldxb, int T, float *Y, int ldy, void *work) {
    if (K % 32) {
        linear_bf16_avx512(dt, W, K, r0, r1, Xb, ldxb, T, Y, ldy, work);
        return;
    }
    /* 32 rows × K bf16 = 64·K bytes of RWKV_LINEAR_WORK_BYTES(K), 64-byte aligned */
    uint16_t *pk = (uint16_t *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    float tmp[256] __attribute__((aligned(64)));
    const int S = K / 32;
    const long sx = (long)ldxb * 2;
    int cfg = 16;
    amx_config(cfg);
    for (int p = r0; p < r1; p += 32) {
        const int np = r1 - p < 32 ? r1 - p : 32;
        const int n0 = np < 16 ? np : 16, n1 = np - n0; /* outputs of the two B tiles */
        for (int s = 0; s < S; s++) {
            amx_pack_b(dt, W, K, p, n0, s, pk + (size_t)512 * (2 * s));
            if (n1 > 0) amx_pack_b(dt, W, K, p + 16, n1, s, pk + (size_t)512 * (2 * s + 1));
        }
        for (int t0 = 0; t0 < T;) {
            const int rest = T - t0;
            const int m = rest >= 16 ? 16 : rest;
            if (m != cfg) amx_config(cfg = m);
            if (rest >= 32) { /* 2 A tiles × 2 B tiles */
                _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
                const uint16_t *x0 = Xb + (size_t)t0 * ldxb, *x1 = x0 + (size_t)16 * ldxb;
                for (int s = 0; s < S; s++) {
                    _tile_loadd(4, x0 + 32 * s, sx);
                    _tile_loadd(5, x1 + 32 * s, sx);
                    _tile_loadd(6, pk + (size_t)512 * (2 * s), 64);
                    _tile_dpbf16ps(0, 4, 6);
                    _tile_dpbf16ps(2, 5, 6);
                    if (n1 > 0) {
                        _tile_loadd(7, pk + (size_t)512 * (2 * s + 1), 64);
                        _tile_dpbf16ps(1, 4, 7);
                        _tile_dpbf16ps(3, 5, 7);
                    }
                }
                AMX_STORE(0, t0, p, n0);
                AMX_STORE(2, t0 + 16, p, n0);
                if (n1 > 0) {
                    AMX_STORE(1, t0, p + 16, n1);
                    AMX_STORE(3, t0 + 16, p + 16, n1);
                }
                t0 += 32;
            } else { /* one A tile of m tokens */
                _tile_zero(0); _tile_zero(1);
                const uint16_t *x0 = Xb + (size_t)t0 * ldxb;
                for (int s = 0; s < S; s++) {
                    _tile_loadd(4, x0 + 32 * s, sx);
                    _tile_loadd(6, pk + (size_t)512 * (2 * s), 64);
                    _tile_dpbf16ps(0, 4, 6);
                    if (n1 > 0) {
                        _tile_loadd(7, pk + (size_t)512 * (2 * s + 1), 64);
                        _tile_dpbf16ps(1, 4, 7);
                    }
                }
                AMX_STORE(0, t0, p, n0);
                if (n1 > 0) AMX_STORE(1, t0, p + 16, n1);
                t0 += m;
            }
        }
    }
    _tile_release();
}

/* ---- fp32-grade products on AMX tiles: split operands ------------------------------------ */

/* x0 (elements 0-15) and x1 (16-31) rounded to 32 bf16 (nearest even); *r0, *r1 = what the
 * rounding left out, exact in fp32. */
INLINE __m512i bf16_split32(__m512 x0, __m512 x1, __m512 *r0, __m512 *r1) {
    const __m512i b = (__m512i)_mm512_cvtne2ps_pbh(x1, x0);
    *r0 = _mm512_sub_ps(x0, bf16x16_ps(_mm512_castsi512_si256(b)));
    *r1 = _mm512_sub_ps(x1, bf16x16_ps(_mm512_extracti64x4_epi64(b, 1)));
    return b;
}

/* Rows [o, o+n) (n <= 16, the rest zero), columns [32s, 32s+32) of W as A tiles (16 rows of 32
 * bf16, row-major) at hi and, for fp16 weights, lo: w = hi + lo exactly (w − hi has at most 4
 * significant bits). */
INLINE void x3_pack_a(rwkv_dtype dt, const void *W, int K, int o, int n, int s, uint16_t *hi, uint16_t *lo) {
    for (int i = 0; i < 16; i++) {
        if (i >= n) {
            _mm512_store_si512(hi + 32 * i, _mm512_setzero_si512());
            if (dt == RWKV_DT_F16) _mm512_store_si512(lo + 32 * i, _mm512_setzero_si512());
            continue;
        }
        const uint16_t *src = (const uint16_t *)W + (size_t)(o + i) * K + 32 * (size_t)s;
        if (dt == RWKV_DT_BF16) {
            _mm512_store_si512(hi + 32 * i, _mm512_loadu_si512(src));
            continue;
        }
        __m512 l0, l1;
        _mm512_store_si512(hi + 32 * i, bf16_split32(load16(RWKV_DT_F16, src, 0xffff),
                                                     load16(RWKV_DT_F16, src + 16, 0xffff), &l0, &l1));
        _mm512_store_si512(lo + 32 * i, (__m512i)_mm512_cvtne2ps_pbh(l1, l0));
    }
}

/* Stores C (16 outputs × 16 tokens, fp32, in tmp) transposed to Y: tokens [t0, t0+nt), outputs
 * [o, o+n). */
INLINE void x3_store(float *tmp, float *Y, int ldy, int t0, int nt, int o, int n) {
    __m512 r[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) r[i] = _mm512_load_ps(tmp + 16 * i);
    transpose16(r);
    for (int t = 0; t < nt; t++) _mm512_mask_storeu_ps(Y + (size_t)(t0 + t) * ldy + o, tail16(n), r[t]);
}

/* C tiles += the weight tiles in 4 (and 5 when half1) × the first nparts activation parts of
 * token blocks x0 (and x1 when two). */
INLINE void x3_parts(const uint16_t *x0, const uint16_t *x1, int nparts, int half1, int two) {
    for (int a = 0; a < nparts; a++) {
        _tile_loadd(6, x0 + 512 * a, 64);
        _tile_dpbf16ps(0, 4, 6);
        if (half1) _tile_dpbf16ps(2, 5, 6);
        if (two) {
            _tile_loadd(7, x1 + 512 * a, 64);
            _tile_dpbf16ps(1, 4, 7);
            if (half1) _tile_dpbf16ps(3, 5, 7);
        }
    }
}

/* linear_x3 on tiles, the weights as the A operand (C = W·Xᵀ: 16 outputs × 16 tokens per tile):
 * C 0-3 = (output half 0/1) × (token block b/b+1), A 4-5 = the panel's two 16-row halves (hi,
 * then lo), B 6-7 = the two token blocks' activation parts (already in tile layout). Per k-step
 * of 32 each output sums hi·x_hi, hi·x_mid, hi·x_lo, then lo·x_hi, lo·x_mid. */
static void linear_x3_amx(rwkv_dtype dt, const void *W, int K, int r0, int r1, const uint16_t *Xs, int T,
                          float *Y, int ldy, void *work) {
    /* hi and lo panels of 32 rows: 2 × 64·K bytes of RWKV_LINEAR_WORK_BYTES(K), 64-byte aligned */
    uint16_t *pk = (uint16_t *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    uint16_t *pl = pk + (size_t)32 * K;
    const int lo = dt == RWKV_DT_F16;
    float tmp[256] __attribute__((aligned(64)));
    const int S = K / 32, nb = (T + 15) / 16;
    amx_config(16);
    for (int p = r0; p < r1; p += 32) {
        const int np = r1 - p < 32 ? r1 - p : 32;
        const int n0 = np < 16 ? np : 16, n1 = np - n0;
        for (int s = 0; s < S; s++) {
            x3_pack_a(dt, W, K, p, n0, s, pk + (size_t)1024 * s, pl + (size_t)1024 * s);
            if (n1 > 0) x3_pack_a(dt, W, K, p + 16, n1, s, pk + (size_t)1024 * s + 512, pl + (size_t)1024 * s + 512);
        }
        for (int b = 0; b < nb; b += 2) {
            const int two = b + 1 < nb;
            _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
            for (int s = 0; s < S; s++) {
                const uint16_t *x0 = Xs + ((size_t)b * S + s) * 3 * 512, *x1 = x0 + (size_t)S * 3 * 512;
                _tile_loadd(4, pk + (size_t)1024 * s, 64);
                if (n1 > 0) _tile_loadd(5, pk + (size_t)1024 * s + 512, 64);
                x3_parts(x0, x1, 3, n1 > 0, two);
                if (!lo) continue;
                _tile_loadd(4, pl + (size_t)1024 * s, 64);
                if (n1 > 0) _tile_loadd(5, pl + (size_t)1024 * s + 512, 64);
                x3_parts(x0, x1, 2, n1 > 0, two);
            }
            const int t0 = 16 * b, nt0 = T - t0 < 16 ? T - t0 : 16;
            _tile_stored(0, tmp, 64);
            x3_store(tmp, Y, ldy, t0, nt0, p, n0);
            if (n1 > 0) {
                _tile_stored(2, tmp, 64);
                x3_store(tmp, Y, ldy, t0, nt0, p + 16, n1);
            }
            if (two) {
                const int nt1 = T - t0 - 16 < 16 ? T - t0 - 16 : 16;
                _tile_stored(1, tmp, 64);
                x3_store(tmp, Y, ldy, t0 + 16, nt1, p, n0);
                if (n1 > 0) {
                    _tile_stored(3, tmp, 64);
                    x3_store(tmp, Y, ldy, t0 + 16, nt1, p + 16, n1);
                }
            }
        }
    }
    _tile_release();
}

/* Token block b of X split into bf16 parts in the tile layout (kernels.h rwkv_x3_index): per 32
 * columns, each token's 32 values → 32 bf16 (16 pairs) per part, then a 16 × 16 transpose of
 * the pairs puts the tokens along the rows. */
static void to_bf16x3_avx512(const float *X, int ldx, int K, int T, int b, uint16_t *Xs) {
    const int S = K / 32;
    for (int s = 0; s < S; s++) {
        __m512 part[3][16];
        for (int n = 0; n < 16; n++) {
            const int t = 16 * b + n;
            if (t >= T) {
                part[0][n] = part[1][n] = part[2][n] = _mm512_setzero_ps();
                continue;
            }
            const float *x = X + (size_t)t * ldx + 32 * s;
            __m512 a0, a1, c0, c1;
            part[0][n] = _mm512_castsi512_ps(bf16_split32(_mm512_loadu_ps(x), _mm512_loadu_ps(x + 16), &a0, &a1));
            part[1][n] = _mm512_castsi512_ps(bf16_split32(a0, a1, &c0, &c1));
            part[2][n] = _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(c1, c0));
        }
        for (int a = 0; a < 3; a++) {
            transpose16(part[a]);
            uint16_t *dst = Xs + (((size_t)b * S + s) * 3 + a) * 512;
            for (int kp = 0; kp < 16; kp++) _mm512_storeu_ps((float *)(dst + 32 * kp), part[a][kp]);
        }
    }
}

/* ---- xᵀW for the low-rank factors: 4 tokens × 32 columns register tile ----------------------- */

INLINE void linear_t_impl(rwkv_dtype dt, const void *W, int K, int M, int c0, int c1,
                          const float *X, int ldx, int T, float *Y, int ldy) {
    const size_t es = esize(dt);
    for (int t0 = 0; t0 < T; t0 += 4) {
        int nt = T - t0 < 4 ? T - t0 : 4;
        const float *x[4];
        for (int t = 0; t < 4; t++) x[t] = X + (size_t)(t0 + (t < nt ? t : nt - 1)) * ldx;
        for (int c = c0; c < c1; c += 32) {
            __mmask16 m0 = tail16(c1 - c), m1 = c1 - c > 16 ? tail16(c1 - c - 16) : 0;
            __m512 acc[4][2];
#pragma GCC unroll 4
            for (int t = 0; t < 4; t++) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
            const char *wp = (const char *)W + (size_t)c * es;
            for (int i = 0; i < K; i++, wp += (size_t)M * es) {
                __m512 w0 = load16(dt, wp, m0), w1 = load16(dt, wp + 16 * es, m1);
#pragma GCC unroll 4
                for (int t = 0; t < 4; t++) {
                    __m512 xb = _mm512_set1_ps(x[t][i]);
                    acc[t][0] = _mm512_fmadd_ps(xb, w0, acc[t][0]);
                    acc[t][1] = _mm512_fmadd_ps(xb, w1, acc[t][1]);
                }
            }
            for (int t = 0; t < nt; t++) {
                float *y = Y + (size_t)(t0 + t) * ldy + c;
                _mm512_mask_storeu_ps(y, m0, acc[t][0]);
                _mm512_mask_storeu_ps(y + 16, m1, acc[t][1]);
            }
        }
    }
}

static void linear_t_avx512(rwkv_dtype dt, const void *W, int K, int M, int c0, int c1,
                            const float *X, int ldx, int T, float *Y, int ldy) {
    if (dt == RWKV_DT_F16) linear_t_impl(RWKV_DT_F16, W, K, M, c0, c1, X, ldx, T, Y, ldy);
    else if (dt == RWKV_DT_BF16) linear_t_impl(RWKV_DT_BF16, W, K, M, c0, c1, X, ldx, T, Y, ldy);
    else linear_t_impl(RWKV_DT_F32, W, K, M, c0, c1, X, ldx, T, Y, ldy);
}

/* ---- WKV-7: 16 state rows at a time, reductions through hsum16 ----------------------------- */

INLINE void wkv7_impl(float *S, const float *r, const float *w, const float *k, const float *v,
                      const float *kk, const float *a, float *y, int T, int ld, const int NQ) {
    const int N = 16 * NQ;
    for (int t = 0; t < T; t++) {
        const size_t b = (size_t)t * ld;
        __m512 W_[8], K_[8], KK[8], R[8], B[8];
        for (int q = 0; q < NQ; q++) {
            W_[q] = _mm512_loadu_ps(w + b + 16 * q);
            K_[q] = _mm512_loadu_ps(k + b + 16 * q);
            KK[q] = _mm512_loadu_ps(kk + b + 16 * q);
            R[q] = _mm512_loadu_ps(r + b + 16 * q);
            B[q] = _mm512_mul_ps(KK[q], _mm512_loadu_ps(a + b + 16 * q));
        }
        for (int i0 = 0; i0 < N; i0 += 16) {
            __m512 part[16];
            float sa[16];
            for (int ii = 0; ii < 16; ii++) {
                const float *row = S + (size_t)(i0 + ii) * N;
                __m512 p = _mm512_mul_ps(_mm512_loadu_ps(row), KK[0]);
                for (int q = 1; q < NQ; q++) p = _mm512_fmadd_ps(_mm512_loadu_ps(row + 16 * q), KK[q], p);
                part[ii] = p;
            }
            _mm512_storeu_ps(sa, hsum16(part));
            for (int ii = 0; ii < 16; ii++) {
                float *row = S + (size_t)(i0 + ii) * N;
                __m512 vi = _mm512_set1_ps(v[b + i0 + ii]), nsa = _mm512_set1_ps(-sa[ii]);
                __m512 yp = _mm512_setzero_ps();
                for (int q = 0; q < NQ; q++) {
                    __m512 s = _mm512_fmadd_ps(nsa, B[q], _mm512_mul_ps(vi, K_[q]));
                    s = _mm512_fmadd_ps(_mm512_loadu_ps(row + 16 * q), W_[q], s);
                    _mm512_storeu_ps(row + 16 * q, s);
                    yp = _mm512_fmadd_ps(s, R[q], yp);
                }
                part[ii] = yp;
            }
            _mm512_storeu_ps(y + b + i0, hsum16(part));
        }
    }
}

static void wkv7_avx512(float *S, const float *r, const float *w, const float *k, const float *v,
                        const float *kk, const float *a, float *y, int T, int ld, int N) {
    if (N == 64) wkv7_impl(S, r, w, k, v, kk, a, y, T, ld, 4);
    else if (N % 16 == 0 && N <= 128) wkv7_impl(S, r, w, k, v, kk, a, y, T, ld, N / 16);
    else rwkv_kernels_scalar()->wkv7(S, r, w, k, v, kk, a, y, T, ld, N);
}

/* ---- norms and activations ------------------------------------------------------------------ */

static void groupnorm_avx512(const float *x, float *y, const float *g, const float *b, int n,
                             int gs, float eps) {
    if (gs % 16) {
        rwkv_kernels_scalar()->groupnorm(x, y, g, b, n, gs, eps);
        return;
    }
    for (int g0 = 0; g0 < n; g0 += gs) {
        __m512 s = _mm512_setzero_ps();
        for (int i = 0; i < gs; i += 16) s = _mm512_add_ps(s, _mm512_loadu_ps(x + g0 + i));
        const float mean = _mm512_reduce_add_ps(s) / (float)gs;
        const __m512 mv = _mm512_set1_ps(mean);
        __m512 q = _mm512_setzero_ps();
        for (int i = 0; i < gs; i += 16) {
            __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + g0 + i), mv);
            q = _mm512_fmadd_ps(d, d, q);
        }
        const float var = _mm512_reduce_add_ps(q) / (float)gs;
        const __m512 inv = _mm512_set1_ps(1.0f / sqrtf(var + eps));
        for (int i = 0; i < gs; i += 16) {
            __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + g0 + i), mv), inv);
            _mm512_storeu_ps(y + g0 + i, _mm512_fmadd_ps(d, _mm512_loadu_ps(g + g0 + i),
                                                         _mm512_loadu_ps(b + g0 + i)));
        }
    }
}

/* e^x: x = n·ln2 + f, |f| <= ln2/2, e^f by a degree-7 Taylor polynomial, scaled by scalef
 * (which also gives 0 and +inf outside the float range). */
INLINE __m512 exp512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145752f), x);
    f = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860677e-6f), f);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

INLINE __m512 sigmoid512(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

INLINE __m512 act512(rwkv_act kind, __m512 v) {
    const __m512 one = _mm512_set1_ps(1.0f);
    switch (kind) {
    case RWKV_ACT_TANH: {
        /* tanh(x) = sign(x)·(1 − e)/(1 + e), e = e^{−2|x|} */
        __m512 ax = _mm512_abs_ps(v);
        __m512 e = exp512(_mm512_mul_ps(ax, _mm512_set1_ps(-2.0f)));
        __m512 t = _mm512_div_ps(_mm512_sub_ps(one, e), _mm512_add_ps(one, e));
        __m512i sign = _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u));
        return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(t), sign));
    }
    case RWKV_ACT_SIGMOID: return sigmoid512(v);
    case RWKV_ACT_RELU_SQ: {
        __m512 q = _mm512_max_ps(v, _mm512_setzero_ps());
        return _mm512_mul_ps(q, q);
    }
    case RWKV_ACT_DECAY7: return exp512(_mm512_mul_ps(_mm512_set1_ps(-0.60653066f), sigmoid512(v)));
    case RWKV_ACT_EXP: return exp512(v);
    default: return v;
    }
}

INLINE void act_impl(rwkv_act kind, const float *x, const float *bias, float *y, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        if (bias) v = _mm512_add_ps(v, _mm512_loadu_ps(bias + i));
        _mm512_storeu_ps(y + i, act512(kind, v));
    }
    if (i < n) {
        __mmask16 m = tail16(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + i));
        _mm512_mask_storeu_ps(y + i, m, act512(kind, v));
    }
}

static void act_avx512(rwkv_act kind, const float *x, const float *bias, float *y, int n) {
    switch (kind) {
    case RWKV_ACT_TANH: act_impl(RWKV_ACT_TANH, x, bias, y, n); break;
    case RWKV_ACT_SIGMOID: act_impl(RWKV_ACT_SIGMOID, x, bias, y, n); break;
    case RWKV_ACT_RELU_SQ: act_impl(RWKV_ACT_RELU_SQ, x, bias, y, n); break;
    case RWKV_ACT_DECAY7: act_impl(RWKV_ACT_DECAY7, x, bias, y, n); break;
    case RWKV_ACT_EXP: act_impl(RWKV_ACT_EXP, x, bias, y, n); break;
    case RWKV_ACT_IDENTITY: act_impl(RWKV_ACT_IDENTITY, x, bias, y, n); break;
    default: rwkv_kernels_scalar()->act(kind, x, bias, y, n); break;
    }
}

static void to_bf16_avx512(const float *x, uint16_t *y, int n) {
    int i = 0;
    for (; i + 32 <= n; i += 32)
        _mm512_storeu_si512(y + i, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i)));
    for (; i < n; i += 16) {
        __mmask16 m = tail16(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        _mm256_mask_storeu_epi16(y + i, m, (__m256i)_mm512_cvtneps_pbh(v));
    }
}

static void to_bf16_avx512_nobf16(const float *x, uint16_t *y, int n) {
    rwkv_kernels_scalar()->to_bf16(x, y, n);
}

static rwkv_kernels table_bf16 = {
    .name = "avx512",
    .linear = linear_avx512,
    .linear_bf16 = linear_bf16_avx512,
    .linear_t = linear_t_avx512,
    .wkv7 = wkv7_avx512,
    .groupnorm = groupnorm_avx512,
    .act = act_avx512,
    .to_bf16 = to_bf16_avx512,
};

static rwkv_kernels table_nobf16 = {
    .name = "avx512",
    .linear = linear_avx512,
    .linear_bf16 = NULL,
    .linear_t = linear_t_avx512,
    .wkv7 = wkv7_avx512,
    .groupnorm = groupnorm_avx512,
    .act = act_avx512,
    .to_bf16 = to_bf16_avx512_nobf16,
};

/* The AVX-512 table with the bf16 products on AMX tiles. */
static rwkv_kernels table_amx = {
    .name = "avx512-amx",
    .tiles = 1,
    .linear = linear_avx512,
    .linear_bf16 = linear_bf16_amx,
    .linear_x3 = linear_x3_amx,
    .to_bf16x3 = to_bf16x3_avx512,
    .linear_t = linear_t_avx512,
    .wkv7 = wkv7_avx512,
    .groupnorm = groupnorm_avx512,
    .act = act_avx512,
    .to_bf16 = to_bf16_avx512,
};

const rwkv_kernels *rwkv_kernels_amx(void) {
    return rwkv_kernels_avx512() && rwkv_cpu_amx_granted() ? &table_amx : NULL;
}

const rwkv_kernels *rwkv_kernels_avx512(void) {
    const rwkv_cpu *c = rwkv_cpu_get();
    if (!(c->avx512f && c->avx512bw && c->avx512vl && c->avx512dq && c->fma && c->f16c && c->avx2))
        return NULL;
    return c->avx512bf16 ? &table_bf16 : &table_nobf16;
}
