/* ops_scalar.c — the scalar reference kernels (the oracle every SIMD kernel is tested against)
 * (the choice of the best table for the running CPU is select.c). Plain loops, no intrinsics. */
#include "kernels.h"

#include <math.h>
#include <stdlib.h>

/* Σ a[i]·b[i] with 8 partial sums (a fixed order, so every caller gets the same result). */
static float dot_f32(const float *a, const float *b, int n) {
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    float t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (; i < n; i++) t += a[i] * b[i];
    return t;
}

/* Row r of W ([rows][K] of dt) as floats: a pointer into W for fp32, else converted into buf. */
static const float *weight_row(rwkv_dtype dt, const void *W, int K, int r, float *buf) {
    size_t off = (size_t)r * (size_t)K;
    if (dt == RWKV_DT_F32) return (const float *)W + off;
    rwkv_convert_to_f32(dt, (const char *)W + off * rwkv_dtype_size(dt), buf, (size_t)K);
    return buf;
}

static void linear_scalar(rwkv_dtype dt, const void *W, int K, int r0, int r1, const float *X,
                          int ldx, int T, float *Y, int ldy, void *work) {
    float *buf = work;
    for (int o = r0; o < r1; o++) {
        const float *w = weight_row(dt, W, K, o, buf);
        for (int t = 0; t < T; t++) Y[(size_t)t * ldy + o] = dot_f32(w, X + (size_t)t * ldx, K);
    }
}

static void linear_bf16_scalar(rwkv_dtype dt, const void *W, int K, int r0, int r1,
                               const uint16_t *Xb, int ldxb, int T, float *Y, int ldy, void *work) {
    float *w = work, *x = w + K;
    for (int o = r0; o < r1; o++) {
        weight_row(dt, W, K, o, w);
        if (dt != RWKV_DT_F32 && dt != RWKV_DT_BF16)
            for (int i = 0; i < K; i++) w[i] = rwkv_bf16_to_f32(rwkv_f32_to_bf16(w[i]));
        for (int t = 0; t < T; t++) {
            const uint16_t *xb = Xb + (size_t)t * ldxb;
            for (int i = 0; i < K; i++) x[i] = rwkv_bf16_to_f32(xb[i]);
            Y[(size_t)t * ldy + o] = dot_f32(w, x, K);
        }
    }
}

static void linear_t_scalar(rwkv_dtype dt, const void *W, int K, int M, int c0, int c1,
                            const float *X, int ldx, int T, float *Y, int ldy) {
    const size_t es = rwkv_dtype_size(dt);
    for (int t = 0; t < T; t++) {
        float *y = Y + (size_t)t * ldy;
        const float *x = X + (size_t)t * ldx;
        for (int o = c0; o < c1; o++) y[o] = 0.0f;
        for (int i = 0; i < K; i++) {
            const char *row = (const char *)W + (size_t)i * M * es;
            for (int o = c0; o < c1; o++) y[o] += x[i] * rwkv_load_elem(dt, row, (size_t)o);
        }
    }
}

static void wkv7_scalar(float *S, const float *r, const float *w, const float *k, const float *v,
                        const float *kk, const float *a, float *y, int T, int ld, int N) {
    for (int t = 0; t < T; t++) {
        size_t b = (size_t)t * ld;
        const float *rt = r + b, *wt = w + b, *kt = k + b, *vt = v + b, *kkt = kk + b, *at = a + b;
        for (int i = 0; i < N; i++) {
            float *row = S + (size_t)i * N;
            float sa = 0.0f;
            for (int j = 0; j < N; j++) sa += row[j] * kkt[j];
            float vi = vt[i], acc = 0.0f;
            for (int j = 0; j < N; j++) {
                float s = row[j] * wt[j] - sa * (kkt[j] * at[j]) + vi * kt[j];
                row[j] = s;
                acc += s * rt[j];
            }
            y[b + i] = acc;
        }
    }
}

/* kernels.h wkv5, written so that the compiler can vectorize the inner loop over value channels
 * (restrict-qualified rows, no aliasing). The arithmetic per element is the same, in the same
 * order, as the textbook loop. */
static void wkv5_scalar(float *restrict S, float *restrict y, const float *restrict r, const float *restrict k,
                      const float *restrict v, const float *restrict w, const float *restrict u, int N) {
    for (int j = 0; j < N; j++) y[j] = 0.0f;
    for (int i = 0; i < N; i++) {
        const float ri = r[i], ki = k[i], rui = ri * u[i] * ki, wi = w[i];
        float *restrict Si = S + (size_t)i * N;
        int j = 0;
        /* blocks of 8 independent lanes (straight-line code the SLP vectorizer packs at -O2) */
        for (; j + 8 <= N; j += 8) {
            float yb[8], sb[8];
            for (int q = 0; q < 8; q++) {
                yb[q] = y[j + q] + (ri * Si[j + q] + rui * v[j + q]);
                sb[q] = Si[j + q] * wi + ki * v[j + q];
            }
            for (int q = 0; q < 8; q++) {
                y[j + q] = yb[q];
                Si[j + q] = sb[q];
            }
        }
        for (; j < N; j++) {
            y[j] += ri * Si[j] + rui * v[j];
            Si[j] = Si[j] * wi + ki * v[j];
        }
    }
}

static void groupnorm_scalar(const float *x, float *y, const float *g, const float *b, int n, int gs,
                             float eps) {
    for (int g0 = 0; g0 < n; g0 += gs) {
        const float *xs = x + g0;
        float *ys = y + g0;
        float mean = 0.0f;
        for (int i = 0; i < gs; i++) mean += xs[i];
        mean /= (float)gs;
        float var = 0.0f;
        for (int i = 0; i < gs; i++) {
            float d = xs[i] - mean;
            var += d * d;
        }
        var /= (float)gs;
        float inv = 1.0f / sqrtf(var + eps);
        for (int i = 0; i < gs; i++) ys[i] = (xs[i] - mean) * inv * g[g0 + i] + b[g0 + i];
    }
}

static void act_scalar(rwkv_act kind, const float *x, const float *bias, float *y, int n) {
    for (int i = 0; i < n; i++) {
        float v = x[i] + (bias ? bias[i] : 0.0f), o;
        switch (kind) {
        case RWKV_ACT_TANH: o = tanhf(v); break;
        case RWKV_ACT_SIGMOID: o = 1.0f / (1.0f + expf(-v)); break;
        case RWKV_ACT_RELU_SQ: o = v > 0.0f ? v * v : 0.0f; break;
        case RWKV_ACT_DECAY7: o = expf(-0.60653066f / (1.0f + expf(-v))); break;
        case RWKV_ACT_EXP: o = expf(v); break;
        case RWKV_ACT_DECAY6: o = expf(-expf(v)); break;
        default: o = v; break;
        }
        y[i] = o;
    }
}

static void to_bf16_scalar(const float *x, uint16_t *y, int n) {
    for (int i = 0; i < n; i++) y[i] = rwkv_f32_to_bf16(x[i]);
}

static void to_bf16x3_scalar(const float *X, int ldx, int K, int T, int b, uint16_t *Xs) {
    for (int t = 16 * b; t < 16 * b + 16; t++)
        for (int k = 0; k < K; k++) {
            const float x = t < T ? X[(size_t)t * ldx + k] : 0.0f;
            const uint16_t hi = rwkv_f32_to_bf16(x);
            const float r1 = x - rwkv_bf16_to_f32(hi);
            const uint16_t mid = rwkv_f32_to_bf16(r1);
            Xs[rwkv_x3_index(K, t, 0, k)] = hi;
            Xs[rwkv_x3_index(K, t, 1, k)] = mid;
            Xs[rwkv_x3_index(K, t, 2, k)] = rwkv_f32_to_bf16(r1 - rwkv_bf16_to_f32(mid));
        }
}

static const rwkv_kernels scalar_table = {
    .name = "scalar",
    .linear = linear_scalar,
    .linear_bf16 = linear_bf16_scalar,
    .linear_t = linear_t_scalar,
    .wkv7 = wkv7_scalar,
    .wkv5 = wkv5_scalar,
    .groupnorm = groupnorm_scalar,
    .act = act_scalar,
    .to_bf16 = to_bf16_scalar,
    .to_bf16x3 = to_bf16x3_scalar, /* linear_x3: none (its oracle is linear, exact fp32) */
};

const rwkv_kernels *rwkv_kernels_scalar(void) { return &scalar_table; }
