/* kernels_neon.c — Arm NEON (AArch64 Advanced SIMD) kernels. NEON is part of every AArch64 CPU;
 * rwkv_kernels_neon() still checks HWCAP. Twins of the scalar kernels in ops_scalar.c.
 *
 * fp16 weights are widened with vcvt_f32_f16, bf16 weights with a 16-bit left shift (both
 * exact); sums in fp32 with FMA over 4 lanes × 4 accumulators, then a fixed reduction (a
 * different order than the scalar oracle). exp uses a degree-7 polynomial (≤ 2 ulp). No bf16
 * dot product (linear_bf16 is NULL). */
#include "backend/cpu/cpu.h"
#include "backend/cpu/kernels.h"

#include <arm_neon.h>
#include <math.h>

#define INLINE static inline __attribute__((always_inline))

INLINE size_t esize(rwkv_dtype dt) { return dt == RWKV_DT_F32 ? 4 : 2; }

/* 4 elements of type dt at p as fp32. */
INLINE float32x4_t load4(rwkv_dtype dt, const void *p) {
    if (dt == RWKV_DT_F16) return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)p)));
    if (dt == RWKV_DT_BF16) return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)p), 16));
    return vld1q_f32((const float *)p);
}

/* Σ_i w[i]·x[i] for one row (16 elements per step, 4 accumulators, scalar tail). */
INLINE float dot_row(rwkv_dtype dt, const char *w, const float *x, int K) {
    const size_t es = esize(dt);
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 16 <= K; i += 16) {
        const char *p = w + (size_t)i * es;
        a0 = vfmaq_f32(a0, load4(dt, p), vld1q_f32(x + i));
        a1 = vfmaq_f32(a1, load4(dt, p + 4 * es), vld1q_f32(x + i + 4));
        a2 = vfmaq_f32(a2, load4(dt, p + 8 * es), vld1q_f32(x + i + 8));
        a3 = vfmaq_f32(a3, load4(dt, p + 12 * es), vld1q_f32(x + i + 12));
    }
    for (; i + 4 <= K; i += 4) a0 = vfmaq_f32(a0, load4(dt, w + (size_t)i * es), vld1q_f32(x + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < K; i++) s += rwkv_load_elem(dt, w, (size_t)i) * x[i];
    return s;
}

INLINE void linear_impl(rwkv_dtype dt, const void *W, int K, int r0, int r1, const float *X,
                        int ldx, int T, float *Y, int ldy, float *buf) {
    const size_t es = esize(dt);
    if (T == 1 || dt == RWKV_DT_F32) {
        for (int o = r0; o < r1; o++) {
            const char *w = (const char *)W + (size_t)o * K * es;
            for (int t = 0; t < T; t++)
                Y[(size_t)t * ldy + o] = dot_row(dt, w, X + (size_t)t * ldx, K);
        }
        return;
    }
    /* several tokens: widen a panel of rows once, then every token passes over it */
    for (int p = r0; p < r1; p += RWKV_ROW_ALIGN) {
        int np = r1 - p < RWKV_ROW_ALIGN ? r1 - p : RWKV_ROW_ALIGN;
        for (int r = 0; r < np; r++) {
            const char *src = (const char *)W + (size_t)(p + r) * K * es;
            float *dst = buf + (size_t)r * K;
            int i = 0;
            for (; i + 4 <= K; i += 4) vst1q_f32(dst + i, load4(dt, src + (size_t)i * es));
            for (; i < K; i++) dst[i] = rwkv_load_elem(dt, src, (size_t)i);
        }
        for (int t = 0; t < T; t++)
            for (int r = 0; r < np; r++)
                Y[(size_t)t * ldy + p + r] =
                    dot_row(RWKV_DT_F32, (const char *)(buf + (size_t)r * K), X + (size_t)t * ldx, K);
    }
}

static void linear_neon(rwkv_dtype dt, const void *W, int K, int r0, int r1, const float *X,
                        int ldx, int T, float *Y, int ldy, void *work) {
    if (dt == RWKV_DT_F16) linear_impl(RWKV_DT_F16, W, K, r0, r1, X, ldx, T, Y, ldy, work);
    else if (dt == RWKV_DT_BF16) linear_impl(RWKV_DT_BF16, W, K, r0, r1, X, ldx, T, Y, ldy, work);
    else linear_impl(RWKV_DT_F32, W, K, r0, r1, X, ldx, T, Y, ldy, work);
}

INLINE void linear_t_impl(rwkv_dtype dt, const void *W, int K, int M, int c0, int c1,
                          const float *X, int ldx, int T, float *Y, int ldy) {
    const size_t es = esize(dt);
    const int cv = c0 + ((c1 - c0) & ~7);
    for (int t = 0; t < T; t++) {
        const float *x = X + (size_t)t * ldx;
        float *y = Y + (size_t)t * ldy;
        for (int c = c0; c < cv; c += 8) {
            float32x4_t a0 = vdupq_n_f32(0), a1 = a0;
            const char *wp = (const char *)W + (size_t)c * es;
            for (int i = 0; i < K; i++, wp += (size_t)M * es) {
                float32x4_t xb = vdupq_n_f32(x[i]);
                a0 = vfmaq_f32(a0, xb, load4(dt, wp));
                a1 = vfmaq_f32(a1, xb, load4(dt, wp + 4 * es));
            }
            vst1q_f32(y + c, a0);
            vst1q_f32(y + c + 4, a1);
        }
        for (int c = cv; c < c1; c++) {
            float s = 0.0f;
            for (int i = 0; i < K; i++)
                s = fmaf(x[i], rwkv_load_elem(dt, (const char *)W + (size_t)i * M * es, (size_t)c), s);
            y[c] = s;
        }
    }
}

static void linear_t_neon(rwkv_dtype dt, const void *W, int K, int M, int c0, int c1,
                          const float *X, int ldx, int T, float *Y, int ldy) {
    if (dt == RWKV_DT_F16) linear_t_impl(RWKV_DT_F16, W, K, M, c0, c1, X, ldx, T, Y, ldy);
    else if (dt == RWKV_DT_BF16) linear_t_impl(RWKV_DT_BF16, W, K, M, c0, c1, X, ldx, T, Y, ldy);
    else linear_t_impl(RWKV_DT_F32, W, K, M, c0, c1, X, ldx, T, Y, ldy);
}

static void wkv7_neon(float *S, const float *r, const float *w, const float *k, const float *v,
                      const float *kk, const float *a, float *y, int T, int ld, int N) {
    if (N % 4 || N > 128) {
        rwkv_kernels_scalar()->wkv7(S, r, w, k, v, kk, a, y, T, ld, N);
        return;
    }
    const int NQ = N / 4;
    for (int t = 0; t < T; t++) {
        const size_t b = (size_t)t * ld;
        float32x4_t B[32];
        for (int q = 0; q < NQ; q++) B[q] = vmulq_f32(vld1q_f32(kk + b + 4 * q), vld1q_f32(a + b + 4 * q));
        for (int i = 0; i < N; i++) {
            float *row = S + (size_t)i * N;
            float32x4_t p = vdupq_n_f32(0);
            for (int q = 0; q < NQ; q++) p = vfmaq_f32(p, vld1q_f32(row + 4 * q), vld1q_f32(kk + b + 4 * q));
            float32x4_t nsa = vdupq_n_f32(-vaddvq_f32(p)), vi = vdupq_n_f32(v[b + i]);
            float32x4_t yp = vdupq_n_f32(0);
            for (int q = 0; q < NQ; q++) {
                float32x4_t s = vfmaq_f32(vmulq_f32(vi, vld1q_f32(k + b + 4 * q)), nsa, B[q]);
                s = vfmaq_f32(s, vld1q_f32(row + 4 * q), vld1q_f32(w + b + 4 * q));
                vst1q_f32(row + 4 * q, s);
                yp = vfmaq_f32(yp, s, vld1q_f32(r + b + 4 * q));
            }
            y[b + i] = vaddvq_f32(yp);
        }
    }
}

static void groupnorm_neon(const float *x, float *y, const float *g, const float *b, int n, int gs,
                           float eps) {
    if (gs % 4) {
        rwkv_kernels_scalar()->groupnorm(x, y, g, b, n, gs, eps);
        return;
    }
    for (int g0 = 0; g0 < n; g0 += gs) {
        float32x4_t s = vdupq_n_f32(0);
        for (int i = 0; i < gs; i += 4) s = vaddq_f32(s, vld1q_f32(x + g0 + i));
        const float mean = vaddvq_f32(s) / (float)gs;
        const float32x4_t mv = vdupq_n_f32(mean);
        float32x4_t q = vdupq_n_f32(0);
        for (int i = 0; i < gs; i += 4) {
            float32x4_t d = vsubq_f32(vld1q_f32(x + g0 + i), mv);
            q = vfmaq_f32(q, d, d);
        }
        const float32x4_t inv = vdupq_n_f32(1.0f / sqrtf(vaddvq_f32(q) / (float)gs + eps));
        for (int i = 0; i < gs; i += 4) {
            float32x4_t d = vmulq_f32(vsubq_f32(vld1q_f32(x + g0 + i), mv), inv);
            vst1q_f32(y + g0 + i, vfmaq_f32(vld1q_f32(b + g0 + i), d, vld1q_f32(g + g0 + i)));
        }
    }
}

/* e^x, x clamped to [−87.3, 88.7]: x = n·ln2 + f, degree-7 Taylor polynomial, 2^n in two
 * exponent-field factors. */
INLINE float32x4_t exp4(float32x4_t x) {
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.3f)), vdupq_n_f32(88.7f));
    float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504f)));
    float32x4_t f = vfmsq_f32(x, n, vdupq_n_f32(0.693145752f));
    f = vfmsq_f32(f, n, vdupq_n_f32(1.42860677e-6f));
    float32x4_t p = vdupq_n_f32(1.0f / 5040.0f);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 720.0f), p, f);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 120.0f), p, f);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 24.0f), p, f);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 6.0f), p, f);
    p = vfmaq_f32(vdupq_n_f32(0.5f), p, f);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, f);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, f);
    int32x4_t ni = vcvtq_s32_f32(n);
    int32x4_t h = vshrq_n_s32(ni, 1);
    float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(h, vdupq_n_s32(127)), 23));
    float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vsubq_s32(ni, h), vdupq_n_s32(127)), 23));
    return vmulq_f32(vmulq_f32(p, s1), s2);
}

INLINE float32x4_t sigmoid4(float32x4_t x) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    return vdivq_f32(one, vaddq_f32(one, exp4(vnegq_f32(x))));
}

INLINE float32x4_t act4(rwkv_act kind, float32x4_t v) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    switch (kind) {
    case RWKV_ACT_TANH: {
        float32x4_t e = exp4(vmulq_f32(vabsq_f32(v), vdupq_n_f32(-2.0f)));
        float32x4_t t = vdivq_f32(vsubq_f32(one, e), vaddq_f32(one, e));
        uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(v), vdupq_n_u32(0x80000000u));
        return vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(t), sign));
    }
    case RWKV_ACT_SIGMOID: return sigmoid4(v);
    case RWKV_ACT_RELU_SQ: {
        float32x4_t q = vmaxq_f32(v, vdupq_n_f32(0));
        return vmulq_f32(q, q);
    }
    case RWKV_ACT_DECAY7: return exp4(vmulq_f32(vdupq_n_f32(-0.60653066f), sigmoid4(v)));
    case RWKV_ACT_EXP: return exp4(v);
    default: return v;
    }
}

static void act_neon(rwkv_act kind, const float *x, const float *bias, float *y, int n) {
    /* the kinds act4 computes; any other (RWKV_ACT_DECAY6, a kind added later) takes the scalar
     * reference rather than act4's identity */
    switch (kind) {
    case RWKV_ACT_TANH: case RWKV_ACT_SIGMOID: case RWKV_ACT_RELU_SQ: case RWKV_ACT_DECAY7:
    case RWKV_ACT_EXP: case RWKV_ACT_IDENTITY: break;
    default: rwkv_kernels_scalar()->act(kind, x, bias, y, n); return;
    }
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        if (bias) v = vaddq_f32(v, vld1q_f32(bias + i));
        vst1q_f32(y + i, act4(kind, v));
    }
    if (i < n) {
        float tx[4] = {0}, ty[4];
        for (int j = 0; i + j < n; j++) tx[j] = x[i + j] + (bias ? bias[i + j] : 0.0f);
        vst1q_f32(ty, act4(kind, vld1q_f32(tx)));
        for (int j = 0; i + j < n; j++) y[i + j] = ty[j];
    }
}

static void to_bf16_neon(const float *x, uint16_t *y, int n) { rwkv_kernels_scalar()->to_bf16(x, y, n); }

static const rwkv_kernels table = {
    .name = "neon",
    .linear = linear_neon,
    .linear_bf16 = NULL,
    .linear_t = linear_t_neon,
    .wkv7 = wkv7_neon,
    .groupnorm = groupnorm_neon,
    .act = act_neon,
    .to_bf16 = to_bf16_neon,
};

const rwkv_kernels *rwkv_kernels_neon(void) { return rwkv_cpu_get()->neon ? &table : NULL; }
