/* test_kernels.c — every SIMD kernel table against the scalar oracle (ops_scalar.c), on random
 * inputs with odd sizes; plus the bf16 product's error against exact fp32 arithmetic.
 *
 * Tolerances (stated per check): products are compared to the scalar kernel with
 *   |simd − scalar| <= 1e-5 · Σ|w·x| + 1e-6
 * (fp32 sums in a different order: the error is a few ulps of the sum of magnitudes);
 * wkv7, norms: 2e-5 relative to the magnitudes involved; activations: 1e-6·|y| + 2e-7;
 * bf16 rounding: exact. Slices: a slice [r0, r1) with r0 a multiple of RWKV_ROW_ALIGN must give
 * bit-identical values to the whole range, and must not write outside itself. */
#include "common/test.h"
#include "backend/cpu/cpu.h"
#include "backend/cpu/kernels.h"

#include <math.h>
#include <stdint.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

static void fill(float *p, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) p[i] = frand() * scale;
}

/* Σ_i |W[o][i]·X[t][i]| for a [rows][K] matrix of type dt and X [T][K] (each product exact in
 * double); *exact, if given, = Σ_i W[o][i]·X[t][i] in double. */
static double sum_abs_wx(rwkv_dtype dt, const void *W, const float *X, int K, int o, int t, double *exact) {
    double mag = 0, sum = 0;
    for (int i = 0; i < K; i++) {
        const double p = (double)rwkv_load_elem(dt, W, (size_t)o * K + i) * X[(size_t)t * K + i];
        mag += fabs(p);
        sum += p;
    }
    if (exact) *exact = sum;
    return mag;
}

/* Random weights of type dt (values exactly representable), returned as raw bytes. */
static void *make_weights(rwkv_dtype dt, size_t n) {
    void *w = malloc(n * 4 + 64);
    for (size_t i = 0; i < n; i++) {
        float f = frand();
        if (dt == RWKV_DT_F32) ((float *)w)[i] = f;
        else if (dt == RWKV_DT_F16) ((uint16_t *)w)[i] = rwkv_f32_to_f16(f);
        else ((uint16_t *)w)[i] = rwkv_f32_to_bf16(f);
    }
    return w;
}

static const char *dt_name(rwkv_dtype dt) { return rwkv_dtype_name(dt); }

static void test_linear(const rwkv_kernels *k, const rwkv_kernels *ref) {
    /* K past the AVX-512 GEMM's column block (64) and R past its 32-row panel; T across its
     * token blocks (at most 14 tokens each) */
    const int Ks[] = {1, 7, 16, 31, 33, 64, 100, 300, 773};
    const int Rs[] = {1, 5, 17, 40, 70};
    const int Ts[] = {1, 2, 3, 4, 5, 9, 15, 29, 64};
    int bad = 0, bad_slice = 0, bad_bounds = 0, checks = 0;
    for (int d = RWKV_DT_F32; d <= RWKV_DT_BF16; d++)
        for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
            for (size_t ri = 0; ri < sizeof Rs / sizeof *Rs; ri++)
                for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
                    const int K = Ks[ki], R = Rs[ri], T = Ts[ti];
                    const rwkv_dtype dt = (rwkv_dtype)d;
                    void *W = make_weights(dt, (size_t)R * K);
                    float *X = malloc(sizeof(float) * T * K), *Y = malloc(sizeof(float) * T * R);
                    float *Yr = malloc(sizeof(float) * T * R), *Ys = malloc(sizeof(float) * T * R);
                    void *work = malloc(RWKV_LINEAR_WORK_BYTES(K));
                    fill(X, (size_t)T * K, 2.0f);
                    ref->linear(dt, W, K, 0, R, X, K, T, Yr, R, work);
                    k->linear(dt, W, K, 0, R, X, K, T, Y, R, work);
                    for (int t = 0; t < T; t++)
                        for (int o = 0; o < R; o++) {
                            const double mag = sum_abs_wx(dt, W, X, K, o, t, NULL);
                            float e = fabsf(Y[t * R + o] - Yr[t * R + o]);
                            if (!(e <= 1e-5 * mag + 1e-6)) {
                                if (bad < 5)
                                    fprintf(stderr, "%s linear %s K%d R%d T%d [%d][%d]: %g vs %g\n",
                                            k->name, dt_name(dt), K, R, T, t, o, Y[t * R + o], Yr[t * R + o]);
                                bad++;
                            }
                            checks++;
                        }
                    /* a slice starting at RWKV_ROW_ALIGN: same bits, nothing written outside */
                    if (R > RWKV_ROW_ALIGN) {
                        for (int i = 0; i < T * R; i++) Ys[i] = -12345.0f;
                        k->linear(dt, W, K, RWKV_ROW_ALIGN, R, X, K, T, Ys, R, work);
                        for (int t = 0; t < T; t++)
                            for (int o = 0; o < R; o++) {
                                if (o < RWKV_ROW_ALIGN) bad_bounds += Ys[t * R + o] != -12345.0f;
                                else bad_slice += memcmp(&Ys[t * R + o], &Y[t * R + o], 4) != 0;
                            }
                    }
                    free(W); free(X); free(Y); free(Yr); free(Ys); free(work);
                }
    CHECK(bad == 0, "%s linear: %d of %d outputs outside 1e-5*sum|wx|+1e-6", k->name, bad, checks);
    CHECK(bad_slice == 0, "%s linear: %d outputs of a row slice differ from the full range", k->name, bad_slice);
    CHECK(bad_bounds == 0, "%s linear: %d writes outside the slice", k->name, bad_bounds);
}

/* bf16 products: against the scalar bf16 oracle (same rounded inputs), and the error of bf16
 * arithmetic against exact fp32 products (printed: this is the precision cost of the path). */
static void test_linear_bf16(const rwkv_kernels *k, const rwkv_kernels *ref) {
    if (!k->linear_bf16) return;
    /* 64/1024 inputs and 16-50 tokens: the AMX tiles' k-steps of 32 and token blocks of 32 + a
     * tail (other K fall back to the vdpbf16ps kernel there) */
    const int Ks[] = {1, 31, 32, 33, 64, 100, 512, 773, 1024};
    const int Rs[] = {1, 5, 17, 40};
    const int Ts[] = {1, 4, 5, 9, 16, 33, 50};
    int bad = 0, bad_slice = 0, checks = 0;
    double worst_rel = 0;
    for (int d = RWKV_DT_F16; d <= RWKV_DT_BF16; d++)
        for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
            for (size_t ri = 0; ri < sizeof Rs / sizeof *Rs; ri++)
                for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
                    const int K = Ks[ki], R = Rs[ri], T = Ts[ti];
                    const rwkv_dtype dt = (rwkv_dtype)d;
                    void *W = make_weights(dt, (size_t)R * K);
                    float *X = malloc(sizeof(float) * T * K), *Y = malloc(sizeof(float) * T * R);
                    float *Yr = malloc(sizeof(float) * T * R), *Ys = malloc(sizeof(float) * T * R);
                    float *Yf = malloc(sizeof(float) * T * R);
                    uint16_t *Xb = malloc(2 * (size_t)T * K);
                    void *work = malloc(RWKV_LINEAR_WORK_BYTES(K));
                    fill(X, (size_t)T * K, 2.0f);
                    ref->to_bf16(X, Xb, T * K);
                    ref->linear_bf16(dt, W, K, 0, R, Xb, K, T, Yr, R, work);
                    k->linear_bf16(dt, W, K, 0, R, Xb, K, T, Y, R, work);
                    ref->linear(dt, W, K, 0, R, X, K, T, Yf, R, work);
                    for (int t = 0; t < T; t++)
                        for (int o = 0; o < R; o++) {
                            const double mag = sum_abs_wx(dt, W, X, K, o, t, NULL);
                            float e = fabsf(Y[t * R + o] - Yr[t * R + o]);
                            if (!(e <= 1e-5 * mag + 1e-6)) {
                                if (bad < 5)
                                    fprintf(stderr, "%s linear_bf16 %s K%d R%d T%d [%d][%d]: %g vs %g\n",
                                            k->name, dt_name(dt), K, R, T, t, o, Y[t * R + o], Yr[t * R + o]);
                                bad++;
                            }
                            double rel = fabs(Y[t * R + o] - Yf[t * R + o]) / (mag + 1e-30);
                            if (rel > worst_rel) worst_rel = rel;
                            checks++;
                        }
                    if (R > RWKV_ROW_ALIGN) {
                        k->linear_bf16(dt, W, K, RWKV_ROW_ALIGN, R, Xb, K, T, Ys, R, work);
                        for (int t = 0; t < T; t++)
                            for (int o = RWKV_ROW_ALIGN; o < R; o++)
                                bad_slice += memcmp(&Ys[t * R + o], &Y[t * R + o], 4) != 0;
                    }
                    free(W); free(X); free(Y); free(Yr); free(Ys); free(Yf); free(Xb); free(work);
                }
    printf("%s linear_bf16: worst |bf16 − fp32| / Σ|w·x| = %.2e (bf16 rounding of activations%s)\n",
           k->name, worst_rel, " and of fp16 weights");
    CHECK(bad == 0, "%s linear_bf16: %d of %d outputs outside 1e-5*sum|wx|+1e-6 of the bf16 oracle", k->name, bad, checks);
    CHECK(worst_rel < 1e-2, "%s linear_bf16: relative error %g vs fp32 beyond bf16 precision", k->name, worst_rel);
    CHECK(bad_slice == 0, "%s linear_bf16: %d outputs of a row slice differ from the full range", k->name, bad_slice);
}

/* fp32-grade products on split bf16 operands (linear_x3): the split is exact and matches the
 * scalar one bit for bit; the products agree with the exact fp32 kernel (ref->linear) as the
 * SIMD fp32 kernels do, and their error against a double-precision sum is no larger than that
 * of the table's own fp32 kernel (k->linear) on the same inputs, up to a factor 2. */
static void test_linear_x3(const rwkv_kernels *k, const rwkv_kernels *ref) {
    if (!k->linear_x3) return;
    const int Ks[] = {32, 64, 512, 1024, 2048};
    const int Rs[] = {1, 5, 17, 40};
    const int Ts[] = {1, 5, 16, 33, 50};
    int bad = 0, bad_split = 0, bad_slice = 0, checks = 0;
    double worst_x3 = 0, worst_f32 = 0;
    for (int d = RWKV_DT_F16; d <= RWKV_DT_BF16; d++)
        for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
            for (size_t ri = 0; ri < sizeof Rs / sizeof *Rs; ri++)
                for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
                    const int K = Ks[ki], R = Rs[ri], T = Ts[ti];
                    const size_t nx = rwkv_x3_elems(K, T);
                    const rwkv_dtype dt = (rwkv_dtype)d;
                    void *W = make_weights(dt, (size_t)R * K);
                    float *X = malloc(sizeof(float) * T * K), *Y = malloc(sizeof(float) * T * R);
                    float *Yr = malloc(sizeof(float) * T * R), *Ys = malloc(sizeof(float) * T * R);
                    float *Yf = malloc(sizeof(float) * T * R);
                    uint16_t *Xs = malloc(2 * nx), *Xr = malloc(2 * nx);
                    void *work = malloc(RWKV_LINEAR_WORK_BYTES(K));
                    fill(X, (size_t)T * K, 2.0f);
                    for (int b = 0; b < (T + 15) / 16; b++) {
                        k->to_bf16x3(X, K, K, T, b, Xs);
                        ref->to_bf16x3(X, K, K, T, b, Xr);
                    }
                    bad_split += memcmp(Xr, Xs, 2 * nx) != 0;
                    for (int t = 0; t < (T + 15) / 16 * 16; t++)
                        for (int i = 0; i < K; i++) {
                            float sum = rwkv_bf16_to_f32(Xs[rwkv_x3_index(K, t, 0, i)]) +
                                        rwkv_bf16_to_f32(Xs[rwkv_x3_index(K, t, 1, i)]) +
                                        rwkv_bf16_to_f32(Xs[rwkv_x3_index(K, t, 2, i)]);
                            bad_split += sum != (t < T ? X[(size_t)t * K + i] : 0.0f); /* padding: 0 */
                        }
                    ref->linear(dt, W, K, 0, R, X, K, T, Yr, R, work);
                    k->linear(dt, W, K, 0, R, X, K, T, Yf, R, work);
                    k->linear_x3(dt, W, K, 0, R, Xs, T, Y, R, work);
                    for (int t = 0; t < T; t++)
                        for (int o = 0; o < R; o++) {
                            double exact;
                            const double mag = sum_abs_wx(dt, W, X, K, o, t, &exact);
                            float e = fabsf(Y[t * R + o] - Yr[t * R + o]);
                            if (!(e <= 1e-5 * mag + 1e-6)) {
                                if (bad < 5)
                                    fprintf(stderr, "%s linear_x3 %s K%d R%d T%d [%d][%d]: %g vs %g\n",
                                            k->name, dt_name(dt), K, R, T, t, o, Y[t * R + o], Yr[t * R + o]);
                                bad++;
                            }
                            double ex = fabs(Y[t * R + o] - exact) / (mag + 1e-30);
                            double ef = fabs(Yf[t * R + o] - exact) / (mag + 1e-30);
                            if (ex > worst_x3) worst_x3 = ex;
                            if (ef > worst_f32) worst_f32 = ef;
                            checks++;
                        }
                    if (R > RWKV_ROW_ALIGN) {
                        k->linear_x3(dt, W, K, RWKV_ROW_ALIGN, R, Xs, T, Ys, R, work);
                        for (int t = 0; t < T; t++)
                            for (int o = RWKV_ROW_ALIGN; o < R; o++)
                                bad_slice += memcmp(&Ys[t * R + o], &Y[t * R + o], 4) != 0;
                    }
                    free(W); free(X); free(Y); free(Yr); free(Ys); free(Yf); free(Xs); free(Xr); free(work);
                }
    printf("%s linear_x3: worst |y − exact| / Σ|w·x| = %.2e (the fp32 kernel: %.2e)\n", k->name, worst_x3,
           worst_f32);
    CHECK(bad_split == 0, "%s to_bf16x3: %d layouts/elements differ from the scalar split or do not sum to x", k->name, bad_split);
    CHECK(bad == 0, "%s linear_x3: %d of %d outputs outside 1e-5*sum|wx|+1e-6 of the fp32 oracle", k->name, bad, checks);
    CHECK(worst_x3 <= 2 * worst_f32 + 1e-7, "%s linear_x3: error %g against %g of the fp32 kernel", k->name, worst_x3, worst_f32);
    CHECK(bad_slice == 0, "%s linear_x3: %d outputs of a row slice differ from the full range", k->name, bad_slice);
}

static void test_linear_t(const rwkv_kernels *k, const rwkv_kernels *ref) {
    const int Ks[] = {1, 5, 64, 97};
    const int Ms[] = {1, 7, 16, 33, 64, 100};
    const int Ts[] = {1, 3, 4, 6};
    int bad = 0, bad_slice = 0, checks = 0;
    for (int d = RWKV_DT_F32; d <= RWKV_DT_BF16; d++)
        for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
            for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
                for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
                    const int K = Ks[ki], M = Ms[mi], T = Ts[ti];
                    const rwkv_dtype dt = (rwkv_dtype)d;
                    void *W = make_weights(dt, (size_t)K * M);
                    float *X = malloc(sizeof(float) * T * K), *Y = malloc(sizeof(float) * T * M);
                    float *Yr = malloc(sizeof(float) * T * M), *Ys = malloc(sizeof(float) * T * M);
                    fill(X, (size_t)T * K, 2.0f);
                    ref->linear_t(dt, W, K, M, 0, M, X, K, T, Yr, M);
                    k->linear_t(dt, W, K, M, 0, M, X, K, T, Y, M);
                    for (int t = 0; t < T; t++)
                        for (int o = 0; o < M; o++) {
                            double mag = 0;
                            for (int i = 0; i < K; i++)
                                mag += fabs(X[t * K + i] * rwkv_load_elem(dt, W, (size_t)i * M + o));
                            if (!(fabsf(Y[t * M + o] - Yr[t * M + o]) <= 1e-5 * mag + 1e-6)) {
                                if (bad < 5)
                                    fprintf(stderr, "%s linear_t %s K%d M%d T%d [%d][%d]: %g vs %g\n", k->name,
                                            dt_name(dt), K, M, T, t, o, Y[t * M + o], Yr[t * M + o]);
                                bad++;
                            }
                            checks++;
                        }
                    if (M > 16) {
                        for (int i = 0; i < T * M; i++) Ys[i] = -1.0f;
                        k->linear_t(dt, W, K, M, 16, M, X, K, T, Ys, M);
                        for (int t = 0; t < T; t++)
                            for (int o = 0; o < M; o++)
                                bad_slice += o < 16 ? Ys[t * M + o] != -1.0f
                                                    : memcmp(&Ys[t * M + o], &Y[t * M + o], 4) != 0;
                    }
                    free(W); free(X); free(Y); free(Yr); free(Ys);
                }
    CHECK(bad == 0, "%s linear_t: %d of %d outputs outside tolerance", k->name, bad, checks);
    CHECK(bad_slice == 0, "%s linear_t: column slice differs or writes outside (%d)", k->name, bad_slice);
}

static void test_wkv7(const rwkv_kernels *k, const rwkv_kernels *ref) {
    const int Ns[] = {4, 8, 12, 16, 64};
    const int Ts[] = {1, 5};
    int bad = 0;
    for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
        for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
            const int N = Ns[ni], T = Ts[ti], H = 2, ld = H * N;
            size_t n = (size_t)T * ld;
            float *r = malloc(4 * n), *w = malloc(4 * n), *kv = malloc(4 * n), *v = malloc(4 * n);
            float *kk = malloc(4 * n), *a = malloc(4 * n), *y = malloc(4 * n), *yr = malloc(4 * n);
            float *S = malloc(4 * (size_t)N * N), *Sr = malloc(4 * (size_t)N * N);
            fill(r, n, 1.0f); fill(kv, n, 1.0f); fill(v, n, 1.0f);
            for (size_t i = 0; i < n; i++) {
                w[i] = 0.5f + 0.45f * frand();
                a[i] = 0.5f + 0.5f * frand();
            }
            for (int t = 0; t < T; t++) /* kk unit per head, as in the model */
                for (int h = 0; h < H; h++) {
                    float *q = kk + (size_t)t * ld + (size_t)h * N, ss = 0;
                    for (int j = 0; j < N; j++) {
                        q[j] = frand();
                        ss += q[j] * q[j];
                    }
                    for (int j = 0; j < N; j++) q[j] /= sqrtf(ss);
                }
            fill(S, (size_t)N * N, 1.0f);
            memcpy(Sr, S, 4 * (size_t)N * N);
            /* head 1 of H = 2, to exercise the token stride */
            ref->wkv7(Sr, r + N, w + N, kv + N, v + N, kk + N, a + N, yr + N, T, ld, N);
            k->wkv7(S, r + N, w + N, kv + N, v + N, kk + N, a + N, y + N, T, ld, N);
            for (int i = 0; i < N * N; i++) bad += !(fabsf(S[i] - Sr[i]) <= 2e-5f * (1.0f + fabsf(Sr[i])));
            for (int t = 0; t < T; t++)
                for (int j = 0; j < N; j++) {
                    float e = fabsf(y[(size_t)t * ld + N + j] - yr[(size_t)t * ld + N + j]);
                    bad += !(e <= 2e-5f * (float)N);
                }
            free(r); free(w); free(kv); free(v); free(kk); free(a); free(y); free(yr); free(S); free(Sr);
        }
    CHECK(bad == 0, "%s wkv7: %d values outside 2e-5 relative", k->name, bad);
}

static void test_norm_act(const rwkv_kernels *k, const rwkv_kernels *ref) {
    const int cases[][2] = {{64, 64}, {192, 64}, {768, 768}, {100, 100}, {24, 8}, {60, 12}};
    int bad = 0;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int n = cases[c][0], gs = cases[c][1];
        float *x = malloc(4 * (size_t)n), *g = malloc(4 * (size_t)n), *b = malloc(4 * (size_t)n);
        float *y = malloc(4 * (size_t)n), *yr = malloc(4 * (size_t)n);
        fill(x, (size_t)n, 3.0f); fill(g, (size_t)n, 1.0f); fill(b, (size_t)n, 1.0f);
        for (int i = 0; i < n; i++) x[i] += 1.5f;
        ref->groupnorm(x, yr, g, b, n, gs, 1e-5f);
        k->groupnorm(x, y, g, b, n, gs, 1e-5f);
        for (int i = 0; i < n; i++) bad += !(fabsf(y[i] - yr[i]) <= 2e-5f * (1.0f + fabsf(yr[i])));
        k->groupnorm(x, x, g, b, n, gs, 1e-5f); /* in place */
        bad += memcmp(x, y, 4 * (size_t)n) != 0;
        free(x); free(g); free(b); free(y); free(yr);
    }
    CHECK(bad == 0, "%s groupnorm: %d values outside 2e-5 relative", k->name, bad);

    const int n = 1003;
    float *x = malloc(4 * n), *bias = malloc(4 * n), *y = malloc(4 * n), *yr = malloc(4 * n);
    for (int i = 0; i < n; i++) x[i] = -25.0f + 50.0f * (float)i / (float)(n - 1);
    x[0] = 0.0f; x[1] = -0.0f; x[2] = 1e-6f; x[3] = -3e-4f; x[4] = 88.0f; x[5] = -100.0f;
    fill(bias, n, 0.5f);
    for (int kind = 0; kind < RWKV_ACT_COUNT; kind++) {
        int bad_act = 0;
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            const float *bp = with_bias ? bias : NULL;
            ref->act((rwkv_act)kind, x, bp, yr, n);
            k->act((rwkv_act)kind, x, bp, y, n);
            for (int i = 0; i < n; i++) {
                if (kind == RWKV_ACT_EXP && x[i] + (bp ? bp[i] : 0) < -87.0f) continue; /* denormal range */
                bad_act += !(fabsf(y[i] - yr[i]) <= 1e-6f * fabsf(yr[i]) + 2e-7f);
            }
        }
        CHECK(bad_act == 0, "%s act %d: %d values outside 1e-6 relative + 2e-7", k->name, kind, bad_act);
    }
    /* relu² and the identity (the linear epilogues: y² in place, acc += y) are exact */
    for (int kind = RWKV_ACT_RELU_SQ; kind <= RWKV_ACT_IDENTITY; kind += RWKV_ACT_IDENTITY - RWKV_ACT_RELU_SQ) {
        ref->act((rwkv_act)kind, x, bias, yr, n);
        k->act((rwkv_act)kind, x, bias, y, n);
        CHECK(!memcmp(y, yr, 4 * (size_t)n), "%s act %d equals the scalar result bit for bit", k->name, kind);
    }
    free(x); free(bias); free(y); free(yr);

    float f[37];
    uint16_t hb[37], hr[37];
    fill(f, 37, 100.0f);
    f[0] = 1.0f + 1.0f / 256.0f; /* a tie: rounds to even */
    f[1] = 3.0e38f;
    ref->to_bf16(f, hr, 37);
    k->to_bf16(f, hb, 37);
    CHECK(!memcmp(hb, hr, sizeof hb), "%s to_bf16 equals round-to-nearest-even", k->name);
}

static void test_table(const rwkv_kernels *k) {
    const rwkv_kernels *ref = rwkv_kernels_scalar();
    printf("testing kernel table %s against scalar\n", k->name);
    test_linear(k, ref);
    test_linear_bf16(k, ref);
    test_linear_x3(k, ref); /* only tables with split-bf16 products (returns at once without) */
    test_linear_t(k, ref);
    test_wkv7(k, ref);
    test_norm_act(k, ref);
}

int main(void) {
    printf("cpu: %s\n", rwkv_cpu_describe());
    const rwkv_kernels *s = rwkv_kernels_scalar();
    CHECK(s && !strcmp(s->name, "scalar"), "scalar table");
    CHECK(rwkv_kernels_best(1, 1) == s, "force_scalar gives the scalar table");
    const rwkv_kernels *best = rwkv_kernels_best(0, 1);
    printf("best table: %s\n", best->name);
    int n_simd = 0;
#if defined(__x86_64__)
    const rwkv_kernels *t2 = rwkv_kernels_avx2(), *t5 = rwkv_kernels_avx512();
    const rwkv_kernels *ta = rwkv_kernels_amx();
    const rwkv_cpu *cpu = rwkv_cpu_get();
    CHECK((t2 != NULL) == (cpu->avx2 && cpu->fma && cpu->f16c), "avx2 table iff avx2+fma+f16c");
    CHECK((ta != NULL) == (t5 != NULL && cpu->amx_bf16 && rwkv_cpu_amx_granted()), "amx table iff avx512 and amx-bf16");
    if (t5) CHECK(best == (ta ? ta : t5), "avx512 (with amx where granted) preferred when available");
    if (t5) CHECK(rwkv_kernels_best(0, 0) == t5, "amx off: the avx512 table");
    if (t5) CHECK((t5->linear_bf16 != NULL) == cpu->avx512bf16, "bf16 products iff avx512bf16");
    if (t2) { test_table(t2); n_simd++; }
    if (t5) { test_table(t5); n_simd++; }
    /* the amx table differs from the avx512 one only in its bf16 products */
    if (ta) {
        test_linear_bf16(ta, s);
        test_linear_x3(ta, s);
    }
    else printf("no AMX-BF16 on this CPU (or no OS grant): the AMX bf16 products were not checked\n");
#elif defined(__aarch64__)
    const rwkv_kernels *tn = rwkv_kernels_neon();
    CHECK(tn != NULL, "neon table on aarch64");
    if (tn) { test_table(tn); n_simd++; }
#endif
    /* the scalar bf16 oracle against itself is trivial; check the scalar table's own
     * consistency of slices too */
    test_linear(s, s);
    if (!n_simd) printf("no SIMD kernel table on this CPU: only the scalar table was checked\n");
    return test_summary("test_kernels");
}
