/* test_quant.c — the integer-dot kernels of ops_quant.h.
 *
 *  1. Activation quantizer: every SIMD table gives the scalar oracle's bits (K = 37 blocks:
 *     whole runs of 16 blocks and a tail).
 *  2. Every SIMD dot kernel vs the scalar integer oracle on random weights and activations, odd
 *     row counts and slices, T = 1, 2, 3, 4, 5, 7, 9: relative error ≤ 2e-5 of Σ|terms| (the
 *     integer sums are exact; only the fp32 accumulation order differs).
 *  3. Independence from T and from the slice: a row computed with T = 9 equals, bit for bit, the
 *     same row with T = 1, and a split slice equals the whole.
 *  4. The integer path vs the float reference (dequantize, fp32 dot): the activation rounding
 *     costs at most ~1/254 of each block's max|x| per value; checked at 3·Σ_b max|x_b|·Σ|w_b|/254
 *     (nf4 adds its int8 code book, 0.5/127 of the absmax per weight).
 *  5. The float twins (dotf: exact weights, fp32 FMA) vs the float reference: ≤ 1e-5 of Σ|terms|,
 *     and independent of T and of the slice.
 *  6. rwkv_linear_quant_rows_ex: force_scalar equals the float reference exactly; int8 = 0
 *     equals the best table's dotf, int8 = 1 its integer dot, and so does the two-step path
 *     (rwkv_quant_acts + rwkv_linear_quant_rows_q).
 *  7. A type of the table without a SIMD kernel (iq4_nl) takes the reference in every table:
 *     dot is rwkv_type_dot_i8 and dotf rwkv_type_dot_f32, bit for bit, through the dispatcher
 *     too, and it is never packed. */
#include "common/test.h"

#include "backend/cpu/ops.h"
#include "backend/cpu/ops_quant.h"
#include "types/quant.h"

#include <math.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) & 0xffffff) / (float)(1 << 23) - 1.0f;
}

static const rwkv_dtype types[] = {RWKV_DT_Q8_0, RWKV_DT_Q4_0, RWKV_DT_Q4_1, RWKV_DT_Q5_0,
                                   RWKV_DT_Q5_1, RWKV_DT_NF4,   RWKV_DT_IQ4_NL};
#define NTYPES (int)(sizeof types / sizeof types[0])

typedef struct qx {
    int8_t *q;
    float *d, *s;
} qx;

static qx quantize_acts(const rwkv_qkernels *k, const float *X, int T, int K) {
    qx a = {malloc((size_t)T * K), malloc(sizeof(float) * T * (K / 32)), malloc(sizeof(float) * T * (K / 32))};
    for (int t = 0; t < T; t++)
        k->quantize_x(X + (size_t)t * K, K, a.q + (size_t)t * K, a.d + t * (K / 32), a.s + t * (K / 32));
    return a;
}

static void free_acts(qx a) {
    free(a.q);
    free(a.d);
    free(a.s);
}

/* Random activations with a spread of block magnitudes (and one all-zero block). */
static float *rand_acts(int T, int K) {
    float *X = malloc(sizeof(float) * T * K);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < K; i++) {
            float scale = (float)(1 + (i / 32) % 5) * 0.7f;
            X[(size_t)t * K + i] = (i / 32 == 1) ? 0.0f : frand() * scale;
        }
    return X;
}

/* The dispatcher (rwkv_linear_quant_rows_ex, path int8 or float) over rows [3, rows) through a
 * tiny work buffer, then [0, 3) with none, into Y. */
static void dispatch_in_two_slices(const rwkv_qkernels *k, const rwkv_weight *W, int rows, const float *X, int T,
                                   float *Y, int int8) {
    unsigned char work[8];
    rwkv_linear_quant_rows_ex(k, W, 3, rows, X, T, Y, int8, work, sizeof work);
    rwkv_linear_quant_rows_ex(k, W, 0, 3, X, T, Y, int8, NULL, 0);
}

static void test_quantize_x(const rwkv_qkernels *k) {
    const int K = 32 * 37; /* 2 runs of 16 blocks (the AVX-512 quantizer's stride) and a tail of 5 */
    float *X = rand_acts(3, K);
    X[5] = 0.5f * (1.0f + 1e-7f); /* ties and near ties */
    /* blocks with a tiny but nonzero max|x|: 1/d overflows below ~3.7e-37, codes must be 0 */
    for (int j = 0; j < 32; j++) {
        X[3 * 32 + j] = (j & 1 ? -1e-38f : 2e-39f);   /* normal/subnormal, 1/d = inf */
        X[4 * 32 + j] = (j & 1 ? 1e-36f : -3e-37f);   /* just above the limit */
        X[K + 20 * 32 + j] = j == 7 ? 1.4e-45f : 0.0f; /* smallest subnormal */
    }
    qx a = quantize_acts(rwkv_qkernels_scalar(), X, 3, K), b = quantize_acts(k, X, 3, K);
    CHECK(memcmp(a.q, b.q, 3 * K) == 0, "%s quantize_x codes differ", k->name);
    CHECK(memcmp(a.d, b.d, sizeof(float) * 3 * (K / 32)) == 0, "%s quantize_x scales differ", k->name);
    CHECK(memcmp(a.s, b.s, sizeof(float) * 3 * (K / 32)) == 0, "%s quantize_x sums differ", k->name);
    int bad = 0;
    for (int i = 0; i < 3 * K; i++) bad += a.q[i] == -128;
    CHECK(bad == 0, "code -128 (must stay in [-127, 127])");
    free_acts(a);
    free_acts(b);
    free(X);
}

/* Σ|terms| bound of row o, token t, from the dequantized weights. */
static double abs_mass(const float *wd, const float *X, int K) {
    double m = 0;
    for (int i = 0; i < K; i++) m += fabs((double)wd[i] * X[i]);
    return m;
}

/* 7. The packed layout (where the table has one): dot_packed equals dot bit for bit (yk: dot's
 * rows [0, rows) for T tokens), in whole 16-row groups, in slices that cut groups, and with
 * o1 past the last row; rows outside a slice are not written; packing reads only the rows. */
static void test_packed(const rwkv_qkernels *k, rwkv_dtype dt, const unsigned char *Wq, int rows, int K,
                        const qx *a, int T, const float *yk) {
    const size_t pb = k->packed_bytes(dt, rows, K);
    CHECK(pb == (size_t)((rows + 15) / 16) * 16 * rwkv_dtype_row_bytes(dt, (size_t)K),
          "packed size %zu for %d rows", pb, rows);
    unsigned char *P = malloc(pb + 64);
    memset(P, 0xA5, pb + 64);
    k->pack(dt, Wq, rows, K, 1, 3, P); /* groups in two calls, the later ones first */
    k->pack(dt, Wq, rows, K, 0, 1, P);
    int tail_ok = 1;
    for (int i = 0; i < 64; i++) tail_ok &= P[pb + i] == 0xA5;
    CHECK(tail_ok, "%s pack wrote past its %zu bytes", k->name, pb);
    const float sentinel = -12345.0f;
    float *yp = malloc(sizeof(float) * T * rows);
    for (int i = 0; i < T * rows; i++) yp[i] = sentinel;
    /* slices [3, 5), [5, 21), [21, 32), [32, rows + 40): start mid-group, end mid-group, clamp */
    const int cut[] = {3, 5, 21, 32, rows + 40};
    for (int c = 0; c + 1 < 5; c++) k->dot_packed(dt, P, rows, K, cut[c], cut[c + 1], a->q, a->d, a->s, T, yp, rows);
    int same = 1, untouched = 1;
    for (int t = 0; t < T; t++)
        for (int o = 0; o < rows; o++) {
            const float v = yp[t * rows + o];
            if (o < 3) untouched &= v == sentinel;
            else same &= memcmp(&v, &yk[t * rows + o], sizeof v) == 0;
        }
    CHECK(same, "%s %s T=%d: packed dot differs from dot", k->name, rwkv_dtype_name(dt), T);
    CHECK(untouched, "%s %s T=%d: packed dot wrote rows outside its slice", k->name, rwkv_dtype_name(dt), T);
    free(yp);
    free(P);
}

static void test_kernel(const rwkv_qkernels *k, rwkv_dtype dt) {
    /* K: a partial last group of 4 blocks (nf4: 7 blocks of 64, an odd count) */
    const int rows = 37, K = 320 + (dt == RWKV_DT_NF4 ? 128 : 0) + 32 * (dt == RWKV_DT_Q4_1);
    const size_t rb = rwkv_dtype_row_bytes(dt, (size_t)K);
    float *Wf = malloc(sizeof(float) * rows * K), *wd = malloc(sizeof(float) * rows * K);
    for (int i = 0; i < rows * K; i++) Wf[i] = frand() * (1.0f + (float)((i / 64) % 3));
    unsigned char *Wq = malloc(rb * rows);
    for (int o = 0; o < rows; o++) {
        rwkv_quantize_row(dt, Wf + (size_t)o * K, Wq + o * rb, (size_t)K);
        rwkv_dequantize_row(dt, Wq + o * rb, wd + (size_t)o * K, (size_t)K);
    }
    const int Ts[] = {1, 2, 3, 4, 5, 7, 9};
    for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++) {
        const int T = Ts[ti];
        float *X = rand_acts(T, K);
        qx a = quantize_acts(rwkv_qkernels_scalar(), X, T, K);
        float *ys = calloc((size_t)T * rows, sizeof(float)), *yk = calloc((size_t)T * rows, sizeof(float));
        float *yr = calloc((size_t)T * rows, sizeof(float));
        rwkv_qkernels_scalar()->dot(dt, Wq, rb, K, 0, rows, a.q, a.d, a.s, T, ys, rows);
        /* the SIMD kernel in three odd slices */
        k->dot(dt, Wq, rb, K, 0, 5, a.q, a.d, a.s, T, yk, rows);
        k->dot(dt, Wq, rb, K, 5, 16, a.q, a.d, a.s, T, yk, rows);
        k->dot(dt, Wq, rb, K, 16, rows, a.q, a.d, a.s, T, yk, rows);
        rwkv_weight W = {.dtype = dt, .rows = rows, .cols = K, .data = Wq};
        rwkv_linear_quant_rows_ref(&W, 0, rows, X, T, yr);
        if (k->pack && k->packed_bytes(dt, rows, K)) test_packed(k, dt, Wq, rows, K, &a, T, yk);
        int bad = 0, bad_ref = 0;
        double worst = 0, worst_ref = 0;
        for (int t = 0; t < T; t++)
            for (int o = 0; o < rows; o++) {
                const float *w = wd + (size_t)o * K, *x = X + (size_t)t * K;
                double mass = abs_mass(w, x, K), e = fabs(ys[t * rows + o] - yk[t * rows + o]);
                if (e > 2e-5 * mass + 1e-6) bad++;
                if (e / (mass + 1e-30) > worst) worst = e / (mass + 1e-30);
                /* activation rounding bound vs the float reference */
                double bound = 0;
                for (int b = 0; b < K / 32; b++) {
                    double amax = 0, wsum = 0;
                    for (int j = 0; j < 32; j++) {
                        amax = fmax(amax, fabs(x[32 * b + j]));
                        wsum += fabs(w[32 * b + j]);
                    }
                    bound += amax * wsum / 254.0;
                }
                if (dt == RWKV_DT_NF4) {
                    double xs = 0, wmax = 0;
                    for (int i = 0; i < K; i++) {
                        xs += fabs(x[i]);
                        wmax = fmax(wmax, fabs(w[i]));
                    }
                    bound += xs * wmax * 0.5 / 127.0;
                }
                double er = fabs(ys[t * rows + o] - yr[t * rows + o]);
                if (er > 3 * bound + 1e-5) bad_ref++;
                if (er / (bound + 1e-30) > worst_ref) worst_ref = er / (bound + 1e-30);
            }
        CHECK(bad == 0, "%s %s T=%d: %d outputs off the scalar oracle (worst rel %g)", k->name,
              rwkv_dtype_name(dt), T, bad, worst);
        CHECK(bad_ref == 0, "%s T=%d: %d outputs off the float reference (worst %g of bound)",
              rwkv_dtype_name(dt), T, bad_ref, worst_ref);
        /* independence from T: token t of this call equals a T = 1 call on token t */
        int diff = 0;
        for (int t = 0; t < T; t++) {
            float y1[64];
            k->dot(dt, Wq, rb, K, 0, rows, a.q + (size_t)t * K, a.d + t * (K / 32), a.s + t * (K / 32), 1, y1, rows);
            diff += memcmp(y1, yk + t * rows, sizeof(float) * rows) != 0;
        }
        CHECK(diff == 0, "%s %s T=%d: result depends on T or slice", k->name, rwkv_dtype_name(dt), T);
        /* the dispatcher: no table (force_scalar) is the float reference, exactly */
        float *yf = calloc((size_t)T * rows, sizeof(float));
        rwkv_linear_quant_rows_ex(NULL, &W, 0, rows, X, T, yf, 1, NULL, 0);
        CHECK(memcmp(yf, yr, sizeof(float) * T * rows) == 0, "force_scalar is not the reference");
        /* the float twin: exact weights, fp32 activations, so the reference up to order */
        if (k->dotf) {
            float *yg = calloc((size_t)T * rows, sizeof(float));
            k->dotf(dt, Wq, rb, K, 0, 7, X, T, yg, rows);
            k->dotf(dt, Wq, rb, K, 7, rows, X, T, yg, rows);
            int badf = 0, dep = 0;
            double worstf = 0;
            for (int t = 0; t < T; t++)
                for (int o = 0; o < rows; o++) {
                    double mass = abs_mass(wd + (size_t)o * K, X + (size_t)t * K, K);
                    double e = fabs(yg[t * rows + o] - yr[t * rows + o]);
                    if (e > 1e-5 * mass + 1e-6) badf++;
                    if (e / (mass + 1e-30) > worstf) worstf = e / (mass + 1e-30);
                }
            CHECK(badf == 0, "%s dotf %s T=%d: %d outputs off the float reference (worst rel %g)",
                  k->name, rwkv_dtype_name(dt), T, badf, worstf);
            for (int t = 0; t < T; t++) {
                float y1[64];
                k->dotf(dt, Wq, rb, K, 0, rows, X + (size_t)t * K, 1, y1, rows);
                dep += memcmp(y1, yg + t * rows, sizeof(float) * rows) != 0;
            }
            CHECK(dep == 0, "%s dotf %s T=%d: result depends on T or slice", k->name, rwkv_dtype_name(dt), T);
            /* the dispatcher in float mode (int8 = 0: the float path of the best table), in two
             * slices */
            if (rwkv_qkernels_best() == k) {
                dispatch_in_two_slices(k, &W, rows, X, T, yf, 0);
                CHECK(memcmp(yf, yg, sizeof(float) * T * rows) == 0, "%s %s T=%d: dispatcher differs",
                      k->name, rwkv_dtype_name(dt), T);
            }
            free(yg);
        }
        /* the dispatcher in int8 mode (int8 = 1), chunked through a tiny work buffer */
        if (rwkv_qkernels_best() == k) {
            dispatch_in_two_slices(k, &W, rows, X, T, yf, 1);
            CHECK(memcmp(yf, yk, sizeof(float) * T * rows) == 0, "%s %s T=%d: int8 dispatcher differs",
                  k->name, rwkv_dtype_name(dt), T);
            /* the two-step path: activations quantized once (in two token ranges), rows in slices */
            const size_t qb = rwkv_quant_acts_bytes(k, K, T);
            CHECK(qb > 0, "rwkv_quant_acts_bytes is 0 with an integer table");
            if (qb > 0) {
                void *xbuf = malloc(qb);
                float *yq = calloc((size_t)T * rows, sizeof(float));
                rwkv_quant_acts(k, X, K, T, 0, T / 2, xbuf);
                rwkv_quant_acts(k, X, K, T, T / 2, T, xbuf);
                rwkv_linear_quant_rows_q(k, &W, 0, 9, xbuf, T, yq);
                rwkv_linear_quant_rows_q(k, &W, 9, rows, xbuf, T, yq);
                CHECK(memcmp(yq, yk, sizeof(float) * T * rows) == 0, "%s %s T=%d: two-step int8 path differs",
                      k->name, rwkv_dtype_name(dt), T);
                free(yq);
                free(xbuf);
            }
        }
        free(yf);
        free(ys);
        free(yk);
        free(yr);
        free(X);
        free_acts(a);
    }
    free(Wf);
    free(wd);
    free(Wq);
}

/* 7. A type without a SIMD kernel: table k computes the type table's references, bit for bit.
 * iq4_nl has no kernel in any SIMD table (give this test another such row when it gets one). */
static void test_no_kernel(const rwkv_qkernels *k) {
    const rwkv_dtype dt = RWKV_DT_IQ4_NL;
    const int rows = 21, K = 256, T = 5;
    const size_t rb = rwkv_dtype_row_bytes(dt, (size_t)K);
    float *Wf = malloc(sizeof(float) * rows * K), *X = rand_acts(T, K);
    for (int i = 0; i < rows * K; i++) Wf[i] = frand();
    unsigned char *Wq = malloc(rb * rows);
    for (int o = 0; o < rows; o++) rwkv_quantize_row(dt, Wf + (size_t)o * K, Wq + o * rb, (size_t)K);
    qx a = quantize_acts(k, X, T, K);
    const size_t ny = (size_t)T * rows;
    float *yk = malloc(sizeof(float) * ny), *yr = malloc(sizeof(float) * ny);
    for (size_t i = 0; i < ny; i++) yk[i] = yr[i] = -12345.0f;
    k->dot(dt, Wq, rb, K, 0, rows, a.q, a.d, a.s, T, yk, rows);
    rwkv_type_dot_i8(dt, Wq, rb, K, 0, rows, a.q, a.d, a.s, T, yr, rows);
    CHECK(memcmp(yk, yr, sizeof(float) * ny) == 0 && yr[0] != -12345.0f, "%s: iq4_nl dot is not the integer reference",
          k->name);
    rwkv_weight W = {.dtype = dt, .rows = rows, .cols = K, .data = Wq};
    dispatch_in_two_slices(k, &W, rows, X, T, yk, 1);
    CHECK(memcmp(yk, yr, sizeof(float) * ny) == 0, "%s: iq4_nl int8 dispatcher is not the integer reference", k->name);
    if (k->dotf) {
        for (size_t i = 0; i < ny; i++) yk[i] = -12345.0f;
        k->dotf(dt, Wq, rb, K, 0, rows, X, T, yk, rows);
        rwkv_type_dot_f32(dt, Wq, rb, K, 0, rows, X, T, yr, rows);
        CHECK(memcmp(yk, yr, sizeof(float) * ny) == 0, "%s: iq4_nl dotf is not the float reference", k->name);
        dispatch_in_two_slices(k, &W, rows, X, T, yk, 0);
        CHECK(memcmp(yk, yr, sizeof(float) * ny) == 0, "%s: iq4_nl float dispatcher is not the float reference",
              k->name);
    }
    int groups = -1;
    void *P = rwkv_quant_pack_alloc(k, &W, &groups);
    CHECK(!P && groups == 0 && (!k->packed_bytes || k->packed_bytes(dt, rows, K) == 0), "%s: iq4_nl packed", k->name);
    free(P);
    free(Wf);
    free(X);
    free(Wq);
    free(yk);
    free(yr);
    free_acts(a);
}

static void test_nf4_codebook(void) {
    int bad = 0;
    for (int i = 0; i < 16; i++) bad += rwkv_nf4_i8[i] != (int)lrintf(127.0f * rwkv_nf4_levels[i]);
    CHECK(bad == 0, "nf4 int8 code book is not round(127·level)");
}

int main(void) {
    const rwkv_qkernels *tables[4];
    int n = 0;
    tables[n++] = rwkv_qkernels_scalar();
#if defined(__x86_64__)
    if (rwkv_qkernels_avx2()) tables[n++] = rwkv_qkernels_avx2();
    else printf("note: no AVX2 on this CPU, avx2 table not tested\n");
    if (rwkv_qkernels_avx512()) tables[n++] = rwkv_qkernels_avx512();
    else printf("note: no AVX-512 VNNI on this CPU, avx512 table not tested\n");
#endif
#if defined(__aarch64__)
    if (rwkv_qkernels_neon()) tables[n++] = rwkv_qkernels_neon();
    else printf("note: no neon integer table\n");
#endif
    test_nf4_codebook();
    for (int i = 0; i < n; i++) {
        test_quantize_x(tables[i]);
        for (int j = 0; j < NTYPES; j++) test_kernel(tables[i], types[j]);
        if (i > 0) test_no_kernel(tables[i]);
    }
    printf("integer tables tested: %d (best: %s)\n", n,
           rwkv_qkernels_best() ? rwkv_qkernels_best()->name : "none, float reference");
    return test_summary("test_quant");
}
