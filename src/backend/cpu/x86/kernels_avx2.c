/* kernels_avx2.c — AVX2 + FMA + F16C kernels (x86-64 CPUs without AVX-512). Compiled with
 * -mavx2 -mfma -mf16c (Makefile) and only called after the run-time check in
 * rwkv_kernels_avx2(). Twins of the scalar kernels in ops_scalar.c.
 *
 * Precision: weights are converted exactly to fp32 and products summed in fp32 with FMA in
 * 8 lanes plus a fixed reduction tree (a different order than the scalar oracle: agreement to
 * a few ulps of the sum's magnitude). No bf16 dot product (linear_bf16 is NULL). exp uses a
 * degree-7 polynomial (≤ 2 ulp); tanh near 0 has an absolute error ≤ 1e-7. */
#include "backend/cpu/cpu.h"
#include "backend/cpu/kernels.h"

#include <immintrin.h>
#include <math.h>

#define INLINE static inline __attribute__((always_inline))
#define GEMV_PREFETCH 1024

INLINE size_t esize(rwkv_dtype dt) { return dt == RWKV_DT_F32 ? 4 : 2; }

/* 8 elements of type dt at p as fp32. */
INLINE __m256 load8(rwkv_dtype dt, const void *p) {
    if (dt == RWKV_DT_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    if (dt == RWKV_DT_BF16)
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    return _mm256_loadu_ps((const float *)p);
}

INLINE float elem(rwkv_dtype dt, const char *p, int i) { return rwkv_load_elem(dt, p, (size_t)i); }

/* Σ lanes of v (fixed tree). */
INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Lane j of the result = Σ lanes of v[j], j < 8 (fixed tree). */
INLINE __m256 hsum8(const __m256 *v) {
    __m256 h0 = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
    __m256 h1 = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(h0, h1, 0x20), _mm256_permute2f128_ps(h0, h1, 0x31));
}

/* ---- matrix × vector ------------------------------------------------------------------------ */

INLINE void gemv4(rwkv_dtype dt, const char *const w[4], const float *x, int K, float *out) {
    const size_t es = esize(dt);
    __m256 a0[4], a1[4];
    for (int r = 0; r < 4; r++) a0[r] = a1[r] = _mm256_setzero_ps();
    const int K16 = K & ~15;
    for (int i = 0; i < K16; i += 16) {
        __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const char *p = w[r] + (size_t)i * es;
            _mm_prefetch(p + GEMV_PREFETCH, _MM_HINT_T0);
            a0[r] = _mm256_fmadd_ps(load8(dt, p), x0, a0[r]);
            a1[r] = _mm256_fmadd_ps(load8(dt, p + 8 * es), x1, a1[r]);
        }
    }
    __m256 v[8];
    for (int r = 0; r < 4; r++) {
        v[r] = _mm256_add_ps(a0[r], a1[r]);
        v[r + 4] = _mm256_setzero_ps();
    }
    float tmp[8];
    _mm256_storeu_ps(tmp, hsum8(v));
    for (int r = 0; r < 4; r++) {
        float s = tmp[r];
        for (int i = K16; i < K; i++) s += elem(dt, w[r], i) * x[i];
        out[r] = s;
    }
}

INLINE void gemv_rows(rwkv_dtype dt, const void *W, int K, int r0, int r1, const float *X, int ldx,
                      int T, float *Y, int ldy) {
    const size_t rb = (size_t)K * esize(dt);
    for (int t = 0; t < T; t++) {
        const float *x = X + (size_t)t * ldx;
        float *y = Y + (size_t)t * ldy;
        for (int o = r0; o < r1; o += 4) {
            const char *w[4];
            for (int r = 0; r < 4; r++) w[r] = (const char *)W + (size_t)(o + r < r1 ? o + r : r1 - 1) * rb;
            float out[4];
            gemv4(dt, w, x, K, out);
            for (int r = 0; r < 4 && o + r < r1; r++) y[o + r] = out[r];
        }
    }
}

/* ---- matrix × matrix: 4 rows × 2 tokens tile on an fp32 panel -------------------------------- */

INLINE void tile(const float *const w[4], const float *const x[2], int K, float *out) {
    __m256 acc[8];
    for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
    const int K8 = K & ~7;
    for (int i = 0; i < K8; i += 8) {
        __m256 x0 = _mm256_loadu_ps(x[0] + i), x1 = _mm256_loadu_ps(x[1] + i);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            __m256 wv = _mm256_loadu_ps(w[r] + i);
            acc[r] = _mm256_fmadd_ps(wv, x0, acc[r]);
            acc[4 + r] = _mm256_fmadd_ps(wv, x1, acc[4 + r]);
        }
    }
    _mm256_storeu_ps(out, hsum8(acc));
    for (int t = 0; t < 2; t++)
        for (int r = 0; r < 4; r++)
            for (int i = K8; i < K; i++) out[4 * t + r] += w[r][i] * x[t][i];
}

INLINE void gemm(rwkv_dtype dt, const void *W, int K, int r0, int r1, const float *X, int ldx,
                 int T, float *Y, int ldy, float *buf) {
    const size_t es = esize(dt);
    for (int p = r0; p < r1; p += RWKV_ROW_ALIGN) {
        int np = r1 - p < RWKV_ROW_ALIGN ? r1 - p : RWKV_ROW_ALIGN;
        const float *pw;
        if (dt == RWKV_DT_F32) {
            pw = (const float *)W + (size_t)p * K;
        } else {
            for (int r = 0; r < np; r++) {
                const char *src = (const char *)W + (size_t)(p + r) * K * es;
                float *dst = buf + (size_t)r * K;
                int i = 0;
                for (; i + 8 <= K; i += 8) _mm256_storeu_ps(dst + i, load8(dt, src + (size_t)i * es));
                for (; i < K; i++) dst[i] = elem(dt, src, i);
            }
            pw = buf;
        }
        for (int t0 = 0; t0 < T; t0 += 2) {
            int nt = T - t0 < 2 ? T - t0 : 2;
            const float *x[2] = {X + (size_t)t0 * ldx, X + (size_t)(t0 + nt - 1) * ldx};
            for (int g = 0; g < np; g += 4) {
                int nr = np - g < 4 ? np - g : 4;
                const float *w[4];
                for (int r = 0; r < 4; r++) w[r] = pw + (size_t)(g + (r < nr ? r : nr - 1)) * K;
                float out[8];
                tile(w, x, K, out);
                for (int t = 0; t < nt; t++)
                    for (int r = 0; r < nr; r++) Y[(size_t)(t0 + t) * ldy + p + g + r] = out[4 * t + r];
            }
        }
    }
}

#define LINEAR_DT(name, DT)                                                                        \
    static void name(const void *W, int K, int r0, int r1, const float *X, int ldx, int T,       \
                     float *Y, int ldy, void *work) {                                            \
        if (T < 2)                                                                                \
            gemv_rows(DT, W, K, r0, r1, X, ldx, T, Y, ldy);                                       \
        else                                                                                      \
            gemm(DT, W, K, r0, r1, X, ldx, T, Y, ldy, work);                                      \
    }
LINEAR_DT(linear_f32w, RWKV_DT_F32)
LINEAR_DT(linear_f16w, RWKV_DT_F16)
LINEAR_DT(linear_bf16w, RWKV_DT_BF16)

static void linear_avx2(rwkv_dtype dt, const void *W, int K, int r0, int r1, const float *X,
                        int ldx, int T, float *Y, int ldy, void *work) {
    if (dt == RWKV_DT_F16) linear_f16w(W, K, r0, r1, X, ldx, T, Y, ldy, work);
    else if (dt == RWKV_DT_BF16) linear_bf16w(W, K, r0, r1, X, ldx, T, Y, ldy, work);
    else linear_f32w(W, K, r0, r1, X, ldx, T, Y, ldy, work);
}

/* ---- xᵀW: 4 tokens × 16 columns tile ----------------------------------------------------------- */

INLINE void linear_t_impl(rwkv_dtype dt, const void *W, int K, int M, int c0, int c1,
                          const float *X, int ldx, int T, float *Y, int ldy) {
    const size_t es = esize(dt);
    const int cv = c0 + ((c1 - c0) & ~15);
    for (int t0 = 0; t0 < T; t0 += 4) {
        int nt = T - t0 < 4 ? T - t0 : 4;
        const float *x[4];
        for (int t = 0; t < 4; t++) x[t] = X + (size_t)(t0 + (t < nt ? t : nt - 1)) * ldx;
        for (int c = c0; c < cv; c += 16) {
            __m256 acc[4][2];
            for (int t = 0; t < 4; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
            const char *wp = (const char *)W + (size_t)c * es;
            for (int i = 0; i < K; i++, wp += (size_t)M * es) {
                __m256 w0 = load8(dt, wp), w1 = load8(dt, wp + 8 * es);
#pragma GCC unroll 4
                for (int t = 0; t < 4; t++) {
                    __m256 xb = _mm256_set1_ps(x[t][i]);
                    acc[t][0] = _mm256_fmadd_ps(xb, w0, acc[t][0]);
                    acc[t][1] = _mm256_fmadd_ps(xb, w1, acc[t][1]);
                }
            }
            for (int t = 0; t < nt; t++) {
                float *y = Y + (size_t)(t0 + t) * ldy + c;
                _mm256_storeu_ps(y, acc[t][0]);
                _mm256_storeu_ps(y + 8, acc[t][1]);
            }
        }
        for (int t = 0; t < nt; t++)
            for (int c = cv; c < c1; c++) {
                float s = 0.0f;
                for (int i = 0; i < K; i++) s = fmaf(x[t][i], elem(dt, (const char *)W + (size_t)i * M * es, c), s);
                Y[(size_t)(t0 + t) * ldy + c] = s;
            }
    }
}

static void linear_t_avx2(rwkv_dtype dt, const void *W, int K, int M, int c0, int c1,
                          const float *X, int ldx, int T, float *Y, int ldy) {
    if (dt == RWKV_DT_F16) linear_t_impl(RWKV_DT_F16, W, K, M, c0, c1, X, ldx, T, Y, ldy);
    else if (dt == RWKV_DT_BF16) linear_t_impl(RWKV_DT_BF16, W, K, M, c0, c1, X, ldx, T, Y, ldy);
    else linear_t_impl(RWKV_DT_F32, W, K, M, c0, c1, X, ldx, T, Y, ldy);
}

/* ---- WKV-7: one state row at a time ----------------------------------------------------------- */

static void wkv7_avx2(float *S, const float *r, const float *w, const float *k, const float *v,
                      const float *kk, const float *a, float *y, int T, int ld, int N) {
    if (N % 8 || N > 128) {
        rwkv_kernels_scalar()->wkv7(S, r, w, k, v, kk, a, y, T, ld, N);
        return;
    }
    const int NQ = N / 8;
    for (int t = 0; t < T; t++) {
        const size_t b = (size_t)t * ld;
        __m256 B[16];
        for (int q = 0; q < NQ; q++)
            B[q] = _mm256_mul_ps(_mm256_loadu_ps(kk + b + 8 * q), _mm256_loadu_ps(a + b + 8 * q));
        for (int i = 0; i < N; i++) {
            float *row = S + (size_t)i * N;
            __m256 p = _mm256_setzero_ps();
            for (int q = 0; q < NQ; q++)
                p = _mm256_fmadd_ps(_mm256_loadu_ps(row + 8 * q), _mm256_loadu_ps(kk + b + 8 * q), p);
            __m256 nsa = _mm256_set1_ps(-hsum(p)), vi = _mm256_set1_ps(v[b + i]);
            __m256 yp = _mm256_setzero_ps();
            for (int q = 0; q < NQ; q++) {
                __m256 s = _mm256_fmadd_ps(nsa, B[q], _mm256_mul_ps(vi, _mm256_loadu_ps(k + b + 8 * q)));
                s = _mm256_fmadd_ps(_mm256_loadu_ps(row + 8 * q), _mm256_loadu_ps(w + b + 8 * q), s);
                _mm256_storeu_ps(row + 8 * q, s);
                yp = _mm256_fmadd_ps(s, _mm256_loadu_ps(r + b + 8 * q), yp);
            }
            y[b + i] = hsum(yp);
        }
    }
}

/* ---- norms and activations --------------------------------------------------------------------- */

static void groupnorm_avx2(const float *x, float *y, const float *g, const float *b, int n, int gs,
                           float eps) {
    if (gs % 8) {
        rwkv_kernels_scalar()->groupnorm(x, y, g, b, n, gs, eps);
        return;
    }
    for (int g0 = 0; g0 < n; g0 += gs) {
        __m256 s = _mm256_setzero_ps();
        for (int i = 0; i < gs; i += 8) s = _mm256_add_ps(s, _mm256_loadu_ps(x + g0 + i));
        const float mean = hsum(s) / (float)gs;
        const __m256 mv = _mm256_set1_ps(mean);
        __m256 q = _mm256_setzero_ps();
        for (int i = 0; i < gs; i += 8) {
            __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + g0 + i), mv);
            q = _mm256_fmadd_ps(d, d, q);
        }
        const __m256 inv = _mm256_set1_ps(1.0f / sqrtf(hsum(q) / (float)gs + eps));
        for (int i = 0; i < gs; i += 8) {
            __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + g0 + i), mv), inv);
            _mm256_storeu_ps(y + g0 + i, _mm256_fmadd_ps(d, _mm256_loadu_ps(g + g0 + i),
                                                         _mm256_loadu_ps(b + g0 + i)));
        }
    }
}

/* e^x for x in [−87.3, 88.7] (clamped): x = n·ln2 + f, degree-7 Taylor polynomial, 2^n built
 * in the exponent field. Below the range the result is ~1e-38 rather than 0: harmless here. */
INLINE __m256 exp256(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.7f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 f = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145752f), x);
    f = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860677e-6f), f);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    /* 2^n as two factors so that n = 128 (x near 88.7) does not overflow the exponent */
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i h = _mm256_srai_epi32(ni, 1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

INLINE __m256 sigmoid256(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

INLINE __m256 act256(rwkv_act kind, __m256 v) {
    const __m256 one = _mm256_set1_ps(1.0f);
    switch (kind) {
    case RWKV_ACT_TANH: {
        const __m256 sign = _mm256_set1_ps(-0.0f);
        __m256 ax = _mm256_andnot_ps(sign, v);
        __m256 e = exp256(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0f)));
        __m256 t = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
        return _mm256_or_ps(t, _mm256_and_ps(sign, v));
    }
    case RWKV_ACT_SIGMOID: return sigmoid256(v);
    case RWKV_ACT_RELU_SQ: {
        __m256 q = _mm256_max_ps(v, _mm256_setzero_ps());
        return _mm256_mul_ps(q, q);
    }
    case RWKV_ACT_DECAY7: return exp256(_mm256_mul_ps(_mm256_set1_ps(-0.60653066f), sigmoid256(v)));
    case RWKV_ACT_EXP: return exp256(v);
    default: return v;
    }
}

INLINE void act_impl(rwkv_act kind, const float *x, const float *bias, float *y, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + i));
        _mm256_storeu_ps(y + i, act256(kind, v));
    }
    if (i < n) {
        float tx[8] = {0}, tb[8] = {0}, ty[8];
        for (int j = 0; i + j < n; j++) {
            tx[j] = x[i + j];
            tb[j] = bias ? bias[i + j] : 0.0f;
        }
        _mm256_storeu_ps(ty, act256(kind, _mm256_add_ps(_mm256_loadu_ps(tx), _mm256_loadu_ps(tb))));
        for (int j = 0; i + j < n; j++) y[i + j] = ty[j];
    }
}

static void act_avx2(rwkv_act kind, const float *x, const float *bias, float *y, int n) {
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

static void to_bf16_avx2(const float *x, uint16_t *y, int n) { rwkv_kernels_scalar()->to_bf16(x, y, n); }

static const rwkv_kernels table = {
    .name = "avx2",
    .linear = linear_avx2,
    .linear_bf16 = NULL,
    .linear_t = linear_t_avx2,
    .wkv7 = wkv7_avx2,
    .groupnorm = groupnorm_avx2,
    .act = act_avx2,
    .to_bf16 = to_bf16_avx2,
};

const rwkv_kernels *rwkv_kernels_avx2(void) {
    const rwkv_cpu *c = rwkv_cpu_get();
    return c->avx2 && c->fma && c->f16c ? &table : NULL;
}
