/* test_vulkan.c — every op of the Vulkan backend against the CPU backend and a host reference, on
 * whatever Vulkan device the machine has (Mesa's lavapipe in CI), under the Khronos validation
 * layer: any validation message fails the test. Inputs are fresh random data; every output buffer
 * is filled with NaN before an op runs, so an element the op does not write fails (NaN never
 * passes a comparison).
 *
 * Each op test runs twice on the same random inputs: first on the CPU backend with its scalar
 * reference kernels, then on the Vulkan backend. Both results are compared with a reference
 * computed here in double precision (block types dequantized with the library's reference
 * dequantizer) within the tolerance each comparison states, and the Vulkan result with the CPU
 * backend's within twice that. A machine without a Vulkan device fails this test (CI installs
 * lavapipe). */
#include "common/test.h"
#include "backend/backend.h"
#include "backend/vulkan/vulkan.h"
#include "types/quant.h"

#include <math.h>
#include <time.h>

static rwkv_backend *be;               /* the backend the op tests run on now */
static const rwkv_backend_ops *ops;
static const char *be_name = "vulkan";

/* The CPU backend's results of the current test (recorded in the first run, compared in the
 * second); REF_ONLY for tests that run on the Vulkan backend alone. */
static enum { REF_ONLY, RECORD, AGAINST_CPU } mode = REF_ONLY;
static struct {
    float *v;
    size_t n;
} recorded[4096];
static int n_recorded, next_recorded;

/* ---- random data --------------------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(void) { /* [0, 1) */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}
static float frand(float lo, float hi) { return lo + (hi - lo) * (float)urand(); }
static float *rand_vec(size_t n, float lo, float hi) {
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = frand(lo, hi);
    return v;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- device buffers -------------------------------------------------------------------------- */

static rwkv_ptr dev_put(rwkv_backend *b, const void *host, size_t bytes) {
    rwkv_ptr p = {0};
    rwkv_status st = b->ops->alloc(b, bytes, &p);
    CHECK(st == RWKV_OK, "alloc %zu: %s", bytes, rwkv_last_error());
    if (st == RWKV_OK && host) CHECK(b->ops->upload(b, p, host, bytes) == RWKV_OK, "upload: %s", rwkv_last_error());
    return p;
}
static rwkv_ptr put(const float *host, size_t n) { return dev_put(be, host, n * sizeof(float)); }

/* n floats of NaN on the device (an output to be written). */
static rwkv_ptr poisoned(size_t n) {
    float *nan = malloc(n * sizeof *nan);
    for (size_t i = 0; i < n; i++) nan[i] = NAN;
    rwkv_ptr p = put(nan, n);
    free(nan);
    return p;
}
static float *get(rwkv_ptr p, size_t n) {
    float *h = malloc(n * sizeof *h);
    CHECK(ops->sync(be) == RWKV_OK, "sync: %s", rwkv_last_error());
    CHECK(ops->download(be, h, p, n * sizeof *h) == RWKV_OK, "download: %s", rwkv_last_error());
    return h;
}
static void release(rwkv_ptr p) { ops->mem_free(be, p); }
/* A weight's device copy (on the CPU backend the weight is the host data itself: nothing to free). */
static void release_weight(rwkv_weight *w) {
    rwkv_backend_info bi;
    ops->info(be, &bi);
    if (!bi.host_memory) ops->mem_free(be, w->mem);
    w->mem = rwkv_ptr_null();
}

/* Compares got with ref within tol[i] (or tol0 when tol is NULL); one CHECK per call, naming the
 * worst element. Returns the largest |got − ref| / tol seen. */
static double compare(const char *what, const float *got, const double *ref, const double *tol, double tol0, size_t n) {
    if (mode == RECORD && n_recorded < (int)(sizeof recorded / sizeof recorded[0])) {
        recorded[n_recorded].v = malloc(n * sizeof(float));
        memcpy(recorded[n_recorded].v, got, n * sizeof(float));
        recorded[n_recorded++].n = n;
    } else if (mode == AGAINST_CPU) {
        const int i = next_recorded++;
        CHECK(i < n_recorded && recorded[i].n == n, "%s: the CPU run compared other outputs", what);
        if (i < n_recorded && recorded[i].n == n) {
            size_t bad = n;
            for (size_t j = 0; j < n && bad == n; j++) {
                const double t = 2.0 * (tol ? tol[j] : tol0);
                if (!(fabs((double)got[j] - recorded[i].v[j]) <= t) && !(isinf(t) && isnan(recorded[i].v[j])))
                    bad = j;
            }
            CHECK(bad == n, "%s: vulkan %.9g, cpu %.9g at element %zu (tolerance %.3g)", what, bad < n ? got[bad] : 0.0,
                  bad < n ? recorded[i].v[bad] : 0.0, bad, bad < n ? 2.0 * (tol ? tol[bad] : tol0) : 0.0);
        }
    }
    double worst = 0.0;
    size_t bad = n, first_bad = n;
    for (size_t i = 0; i < n; i++) {
        const double t = tol ? tol[i] : tol0, e = fabs((double)got[i] - ref[i]);
        const double r = e / t;
        if (!(e <= t)) {
            if (first_bad == n) first_bad = i;
            if (bad == n || !(r <= worst)) bad = i;
        }
        if (!(r <= worst)) worst = r;
    }
    CHECK(first_bad == n, "%s (%s): element %zu is %.9g, expected %.9g (tolerance %.3g); first bad element %zu", what,
          be_name, bad,
          bad < n ? got[bad] : 0.0, bad < n ? ref[bad] : 0.0, bad < n ? (tol ? tol[bad] : tol0) : 0.0, first_bad);
    return worst;
}

/* ---- products -------------------------------------------------------------------------------- */

static const rwkv_dtype all_types[] = {RWKV_DT_F32,  RWKV_DT_F16,  RWKV_DT_BF16, RWKV_DT_Q8_0,   RWKV_DT_Q4_0,
                                       RWKV_DT_Q4_1, RWKV_DT_Q5_0, RWKV_DT_Q5_1, RWKV_DT_IQ4_NL, RWKV_DT_NF4};

/* A random [rows][cols] matrix of type dt (host bytes, malloc'd) and its exact fp32 values. */
static void *rand_weight(rwkv_dtype dt, int rows, int cols, float **values) {
    float *f = rand_vec((size_t)rows * cols, -1.0f, 1.0f);
    const size_t rb = rwkv_dtype_row_bytes(dt, (size_t)cols);
    unsigned char *w = malloc((size_t)rows * rb);
    for (int r = 0; r < rows; r++) {
        rwkv_quantize_row(dt, f + (size_t)r * cols, w + (size_t)r * rb, (size_t)cols);
        rwkv_dequantize_row(dt, w + (size_t)r * rb, f + (size_t)r * cols, (size_t)cols);
    }
    *values = f;
    return w;
}

static double worst_linear;
static int x_offset; /* floats between the input allocation and the input rows (misaligned rows) */

/* One product job (W [rows][cols] of type dt) over T tokens on the device against the reference:
 * y = Σ w·x in double; tolerance 2e-6·Σ|w·x| + 1e-7 (fp32 sums of up to thousands of terms; the
 * weights are exact in both), widened through the epilogue. */
static void check_linear(rwkv_dtype dt, int rows, int cols, int T, int transposed, rwkv_epilogue epi) {
    float *wf;
    void *wd = rand_weight(dt, rows, cols, &wf);
    rwkv_weight W = {.dtype = dt, .rows = rows, .cols = cols, .data = wd};
    rwkv_status st = ops->weight(be, &W);
    CHECK(st == RWKV_OK, "weight %s %dx%d: %s", rwkv_dtype_name(dt), rows, cols, rwkv_last_error());
    if (st != RWKV_OK) {
        free(wd);
        free(wf);
        return;
    }
    const int in = transposed ? rows : cols, out = transposed ? cols : rows;
    float *x = rand_vec((size_t)T * in, -1.0f, 1.0f), *acc = rand_vec((size_t)T * out, -1.0f, 1.0f);
    float *xa = malloc(((size_t)T * in + (size_t)x_offset) * sizeof *xa);
    for (int i = 0; i < x_offset; i++) xa[i] = NAN;
    memcpy(xa + x_offset, x, (size_t)T * in * sizeof *x);
    rwkv_ptr X = put(xa, (size_t)T * in + (size_t)x_offset), Y = poisoned((size_t)T * out), A = put(acc, (size_t)T * out);
    free(xa);
    rwkv_linear_job job = {.W = &W, .X = rwkv_ptr_f(X, (size_t)x_offset), .Y = Y, .transposed = transposed, .epilogue = epi,
                           .acc = epi == RWKV_EPI_ADD ? A : rwkv_ptr_null()};
    ops->linear(be, &job, 1, T);
    float *y = get(Y, (size_t)T * out), *a = get(A, (size_t)T * out);
    double *ref = malloc((size_t)T * out * sizeof *ref), *tol = malloc((size_t)T * out * sizeof *tol);
    double *ref_a = malloc((size_t)T * out * sizeof *ref_a), *tol_a = malloc((size_t)T * out * sizeof *tol_a);
    for (int t = 0; t < T; t++)
        for (int o = 0; o < out; o++) {
            double s = 0.0, m = 0.0;
            for (int i = 0; i < in; i++) {
                const double w = transposed ? wf[(size_t)i * cols + o] : wf[(size_t)o * cols + i];
                s += w * x[(size_t)t * in + i];
                m += fabs(w * x[(size_t)t * in + i]);
            }
            double tl = 2e-6 * m + 1e-7;
            if (epi == RWKV_EPI_RELU_SQ) {
                tl = s > 0 ? 2.0 * s * tl + tl * tl : tl * tl;
                s = s > 0 ? s * s : 0.0;
            }
            const size_t i = (size_t)t * out + o;
            ref[i] = s;
            tol[i] = tl;
            ref_a[i] = epi == RWKV_EPI_ADD ? acc[i] + s : acc[i];
            tol_a[i] = epi == RWKV_EPI_ADD ? tl + 1e-7 * fabs(ref_a[i]) : 0.0;
        }
    char what[160];
    snprintf(what, sizeof what, "linear %s %dx%d T=%d%s epi=%d%s", rwkv_dtype_name(dt), rows, cols, T,
             transposed ? " transposed" : "", (int)epi, x_offset ? " misaligned input" : "");
    double w = compare(what, y, ref, tol, 0, (size_t)T * out);
    if (w > worst_linear) worst_linear = w;
    snprintf(what + strlen(what), sizeof what - strlen(what), " (acc)");
    compare(what, a, ref_a, tol_a, 0, (size_t)T * out);
    free(ref);
    free(tol);
    free(ref_a);
    free(tol_a);
    free(y);
    free(a);
    free(x);
    free(acc);
    release(X);
    release(Y);
    release(A);
    release_weight(&W);
    free(wd);
    free(wf);
}

static void test_linear(void) {
    const double t0 = now_ms();
    worst_linear = 0;
    const int Ts[] = {1, 2, 3, 5, 8, 9, 20, 64, 70};
    for (size_t d = 0; d < sizeof all_types / sizeof all_types[0]; d++) {
        const rwkv_dtype dt = all_types[d];
        const int qk = (int)rwkv_dtype_block(dt);
        /* every token count (decode kernel up to 8 tokens, tiled kernel beyond) on one shape */
        for (size_t i = 0; i < sizeof Ts / sizeof Ts[0]; i++) check_linear(dt, 67, qk > 1 ? 4 * qk : 96, Ts[i], 0, RWKV_EPI_NONE);
        /* a wide row (many chunks per invocation), the epilogues */
        check_linear(dt, 130, qk > 1 ? 32 * qk : 2048, 1, 0, RWKV_EPI_ADD);
        check_linear(dt, 70, qk > 1 ? 2 * qk : 128, 3, 0, RWKV_EPI_RELU_SQ);
        check_linear(dt, 64, qk > 1 ? 8 * qk : 256, 33, 0, RWKV_EPI_ADD);
        check_linear(dt, 64, qk > 1 ? 2 * qk : 64, 40, 0, RWKV_EPI_RELU_SQ);
        /* transposed ([in][out] factors) */
        check_linear(dt, 96, qk > 1 ? 2 * qk : 40, 1, 1, RWKV_EPI_NONE);
        check_linear(dt, 64, qk > 1 ? qk : 24, 19, 1, RWKV_EPI_ADD);
        /* input rows that do not start at 16-byte boundaries (the decode kernel's scalar x reads) */
        x_offset = 1;
        check_linear(dt, 40, qk > 1 ? 2 * qk : 64, 1, 0, RWKV_EPI_NONE);
        check_linear(dt, 40, qk > 1 ? 2 * qk : 64, 3, 0, RWKV_EPI_ADD);
        check_linear(dt, 40, qk > 1 ? 2 * qk : 64, 12, 0, RWKV_EPI_NONE);
        x_offset = 0;
        if (qk == 1) { /* rows not a multiple of the 16-byte chunk: the per-element paths */
            check_linear(dt, 21, 37, 1, 0, RWKV_EPI_NONE);
            check_linear(dt, 21, 37, 4, 0, RWKV_EPI_NONE);
            check_linear(dt, 21, 13, 30, 0, RWKV_EPI_NONE);
        }
    }
    /* a batch of jobs in one call, some sharing an input */
    float *wf[3];
    void *wd[3];
    rwkv_weight W[3];
    const int rows[3] = {48, 64, 16}, cols = 64, T = 4;
    for (int j = 0; j < 3; j++) {
        wd[j] = rand_weight(RWKV_DT_F16, rows[j], cols, &wf[j]);
        W[j] = (rwkv_weight){.dtype = RWKV_DT_F16, .rows = rows[j], .cols = cols, .data = wd[j]};
        CHECK(ops->weight(be, &W[j]) == RWKV_OK, "weight: %s", rwkv_last_error());
    }
    float *x0 = rand_vec((size_t)T * cols, -1, 1), *x1 = rand_vec((size_t)T * cols, -1, 1);
    rwkv_ptr X0 = put(x0, (size_t)T * cols), X1 = put(x1, (size_t)T * cols), Y[3];
    for (int j = 0; j < 3; j++) Y[j] = poisoned((size_t)T * rows[j]);
    rwkv_linear_job jobs[3] = {{.W = &W[0], .X = X0, .Y = Y[0]}, {.W = &W[1], .X = X1, .Y = Y[1]}, {.W = &W[2], .X = X0, .Y = Y[2]}};
    ops->linear(be, jobs, 3, T);
    for (int j = 0; j < 3; j++) {
        float *y = get(Y[j], (size_t)T * rows[j]);
        const float *x = j == 1 ? x1 : x0;
        double *ref = malloc((size_t)T * rows[j] * sizeof *ref);
        for (int t = 0; t < T; t++)
            for (int o = 0; o < rows[j]; o++) {
                double s = 0;
                for (int i = 0; i < cols; i++) s += (double)wf[j][(size_t)o * cols + i] * x[(size_t)t * cols + i];
                ref[(size_t)t * rows[j] + o] = s;
            }
        compare("linear batch of 3 jobs", y, ref, NULL, 1e-4, (size_t)T * rows[j]);
        free(ref);
        free(y);
        release(Y[j]);
        release_weight(&W[j]);
        free(wd[j]);
        free(wf[j]);
    }
    release(X0);
    release(X1);
    free(x0);
    free(x1);
    printf("linear on %s: every type, decode/tiled/transposed, worst error %.3f of its tolerance (%.0f ms)\n", be_name,
           worst_linear, now_ms() - t0);
}

/* ---- norms, activations, elementwise ------------------------------------------------------------ */

static void test_norm(void) {
    const int cases[][3] = {{3, 256, 256}, {2, 2048, 2048}, {5, 128, 64}, {4, 64, 8}, {1, 40, 40}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int T = cases[c][0], n = cases[c][1], gs = cases[c][2];
        float *x = rand_vec((size_t)T * n, -2, 3), *g = rand_vec((size_t)n, 0.5f, 1.5f), *bb = rand_vec((size_t)n, -1, 1);
        rwkv_ptr X = put(x, (size_t)T * n), G = put(g, (size_t)n), B = put(bb, (size_t)n), Y = poisoned((size_t)T * n);
        const float eps = c == 3 ? 64e-5f : 1e-5f;
        ops->norm(be, X, Y, G, B, T, n, gs, eps);
        ops->l2norm(be, X, X, T, n, gs); /* in place */
        float *y = get(Y, (size_t)T * n), *l2 = get(X, (size_t)T * n);
        double *ref = malloc((size_t)T * n * sizeof *ref), *ref2 = malloc((size_t)T * n * sizeof *ref2);
        for (int t = 0; t < T; t++)
            for (int g0 = 0; g0 < n; g0 += gs) {
                const float *xs = x + (size_t)t * n + g0;
                double mean = 0, var = 0, ss = 0;
                for (int i = 0; i < gs; i++) mean += xs[i];
                mean /= gs;
                for (int i = 0; i < gs; i++) var += (xs[i] - mean) * (xs[i] - mean), ss += (double)xs[i] * xs[i];
                var /= gs;
                for (int i = 0; i < gs; i++) {
                    ref[(size_t)t * n + g0 + i] = (xs[i] - mean) / sqrt(var + eps) * g[g0 + i] + bb[g0 + i];
                    ref2[(size_t)t * n + g0 + i] = xs[i] / fmax(sqrt(ss), 1e-12);
                }
            }
        char what[96];
        snprintf(what, sizeof what, "norm T=%d n=%d gs=%d", T, n, gs);
        compare(what, y, ref, NULL, 2e-5, (size_t)T * n);
        snprintf(what, sizeof what, "l2norm (in place) T=%d n=%d gs=%d", T, n, gs);
        compare(what, l2, ref2, NULL, 2e-6, (size_t)T * n);
        free(ref);
        free(ref2);
        free(y);
        free(l2);
        free(x);
        free(g);
        free(bb);
        release(X);
        release(G);
        release(B);
        release(Y);
    }
}

static double sigm(double v) { return 1.0 / (1.0 + exp(-v)); }

static double act_ref(rwkv_act k, double v) {
    switch (k) {
    case RWKV_ACT_TANH: return tanh(v);
    case RWKV_ACT_SIGMOID: return sigm(v);
    case RWKV_ACT_RELU_SQ: return v > 0 ? v * v : 0;
    case RWKV_ACT_DECAY7: return exp(-exp(-0.5) * sigm(v));
    case RWKV_ACT_EXP: return exp(v);
    case RWKV_ACT_DECAY6: return exp(-exp(v));
    default: return v;
    }
}

static void test_act(void) {
    const int T = 3, n = 300;
    for (int k = 0; k < RWKV_ACT_COUNT; k++)
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            const float lim = k == RWKV_ACT_EXP || k == RWKV_ACT_DECAY6 ? 4.0f : 30.0f; /* tanh/σ saturate */
            float *x = rand_vec((size_t)T * n, -lim, lim), *bias = rand_vec((size_t)n, -1, 1);
            rwkv_ptr X = put(x, (size_t)T * n), B = with_bias ? put(bias, (size_t)n) : rwkv_ptr_null();
            rwkv_ptr Y = with_bias ? poisoned((size_t)T * n) : X; /* without a bias: in place */
            ops->act(be, (rwkv_act)k, X, B, Y, T, n);
            float *y = get(Y, (size_t)T * n);
            double *ref = malloc((size_t)T * n * sizeof *ref), *tol = malloc((size_t)T * n * sizeof *tol);
            for (int t = 0; t < T; t++)
                for (int i = 0; i < n; i++) {
                    const double v = (double)(float)(x[(size_t)t * n + i] + (with_bias ? bias[i] : 0.0f));
                    ref[(size_t)t * n + i] = act_ref((rwkv_act)k, v);
                    tol[(size_t)t * n + i] = 1e-6 + 4e-6 * fabs(ref[(size_t)t * n + i]); /* GLSL exp: 3 + 2|x| ulp */
                }
            char what[64];
            snprintf(what, sizeof what, "act kind %d%s", k, with_bias ? " with bias" : " in place");
            compare(what, y, ref, tol, 0, (size_t)T * n);
            free(ref);
            free(tol);
            free(y);
            free(x);
            free(bias);
            if (with_bias) release(Y);
            release(X);
            if (with_bias) release(B);
        }
}

/* The formula of kind k, as written, in fp32 (the contract: no fused multiply-add). */
static float ew_ref(rwkv_ew_kind k, float a, float b, float c, float d) {
    volatile float t;
    switch (k) {
    case RWKV_EW_LERP: t = b - a; t = t * c; return a + t;
    case RWKV_EW_MIX: { volatile float u = a * c; t = 1.0f - c; t = b * t; return u + t; }
    case RWKV_EW_SUB: return b - a;
    case RWKV_EW_ADD_MUL_SUM: t = c + d; t = b * t; return a + t;
    case RWKV_EW_MUL: return a * b;
    case RWKV_EW_MUL_SIGMOID: return a * (float)sigm(b);
    case RWKV_EW_MUL_SILU: t = b * (float)sigm(b); return a * t;
    case RWKV_EW_ADD_SIGMOID_MUL: t = (float)sigm(b) * c; return a + t;
    case RWKV_EW_K7: t = b - 1.0f; t = t * c; t = 1.0f + t; return a * t;
    case RWKV_EW_ADD: return a + b;
    default: return a;
    }
}

static void test_ew(void) {
    const int T = 4, n = 520, ld = 600; /* y and a strided rows, b a vector, c and d dense */
    for (int k = 0; k < RWKV_EW_COUNT; k++) {
        float *a = rand_vec((size_t)T * ld, -2, 2), *b = rand_vec((size_t)n, -2, 2), *c = rand_vec((size_t)T * n, -2, 2),
              *d = rand_vec((size_t)T * n, -2, 2);
        rwkv_ptr A = put(a, (size_t)T * ld), B = put(b, (size_t)n), C = put(c, (size_t)T * n), D = put(d, (size_t)T * n);
        rwkv_ptr Y = poisoned((size_t)T * ld);
        ops->ew(be, (rwkv_ew_kind)k, T, n, Y, ld, (rwkv_operand){A, ld}, (rwkv_operand){B, 0}, (rwkv_operand){C, n},
                (rwkv_operand){D, n});
        float *y = get(Y, (size_t)T * ld);
        double *ref = malloc((size_t)T * ld * sizeof *ref), *tol = malloc((size_t)T * ld * sizeof *tol);
        for (int t = 0; t < T; t++)
            for (int i = 0; i < ld; i++) {
                const size_t j = (size_t)t * ld + i;
                if (i >= n) { /* past n: must stay untouched (NaN) */
                    ref[j] = 0;
                    tol[j] = INFINITY;
                    continue;
                }
                const float r = ew_ref((rwkv_ew_kind)k, a[j], b[i], c[(size_t)t * n + i], d[(size_t)t * n + i]);
                ref[j] = r;
                /* formulas without σ are exact in fp32 on both; σ goes through exp */
                const int has_exp = k == RWKV_EW_MUL_SIGMOID || k == RWKV_EW_MUL_SILU || k == RWKV_EW_ADD_SIGMOID_MUL;
                tol[j] = has_exp ? 1e-6 + 4e-6 * fabs(r) : 0.0;
            }
        char what[64];
        snprintf(what, sizeof what, "ew kind %d", k);
        int untouched = 1;
        for (int t = 0; t < T; t++)
            for (int i = n; i < ld; i++) untouched &= isnan(y[(size_t)t * ld + i]);
        for (int t = 0; t < T; t++)
            for (int i = n; i < ld; i++) y[(size_t)t * ld + i] = 0; /* checked above */
        CHECK(untouched, "%s: wrote past n in a strided row", what);
        compare(what, y, ref, tol, 0, (size_t)T * ld);
        free(ref);
        free(tol);
        free(y);
        free(a);
        free(b);
        free(c);
        free(d);
        release(A);
        release(B);
        release(C);
        release(D);
        release(Y);
    }
    /* in place: y = a + b with y == a */
    float *a = rand_vec(100, -1, 1), *b = rand_vec(100, -1, 1);
    rwkv_ptr A = put(a, 100), B = put(b, 100);
    ops->ew(be, RWKV_EW_ADD, 2, 50, A, 50, (rwkv_operand){A, 50}, (rwkv_operand){B, 50}, (rwkv_operand){{0}, 0},
            (rwkv_operand){{0}, 0});
    float *y = get(A, 100);
    double ref[100];
    for (int i = 0; i < 100; i++) ref[i] = a[i] + b[i];
    compare("ew add in place", y, ref, NULL, 1e-7, 100);
    free(y);
    free(a);
    free(b);
    release(A);
    release(B);
}

/* ---- sequences: shift, WKV ------------------------------------------------------------------------ */

/* Segments: lens[i] rows each, consecutive, each with its own state of state_floats (random). */
typedef struct segs {
    int n, T;
    rwkv_seg seg[8];
    float *host[8];
    size_t floats;
} segs;

static void segs_make(segs *s, const int *lens, int n, size_t floats, float lo, float hi) {
    memset(s, 0, sizeof *s);
    s->n = n;
    s->floats = floats;
    for (int i = 0; i < n; i++) {
        s->host[i] = rand_vec(floats, lo, hi);
        s->seg[i] = (rwkv_seg){.state = put(s->host[i], floats), .start = s->T, .len = lens[i]};
        s->T += lens[i];
    }
}
/* Floats [off, off + n) of segment i's initial state, in double (the reference's state). */
static double *state_part(const segs *s, int i, size_t off, size_t n) {
    double *S = malloc(n * sizeof *S);
    for (size_t j = 0; j < n; j++) S[j] = s->host[i][off + j];
    return S;
}

/* Segment i's state after an op that replaced floats [off, off + n) of it with S: the rest must be
 * unchanged. */
static void check_state(const segs *s, int i, size_t off, const double *S, size_t n, const double *tol, double tol0,
                        const char *what) {
    float *st = get(s->seg[i].state, s->floats);
    double *sr = malloc(s->floats * sizeof *sr);
    for (size_t j = 0; j < s->floats; j++) sr[j] = j >= off && j < off + n ? S[j - off] : s->host[i][j];
    compare(what, st, sr, tol, tol0, s->floats);
    free(sr);
    free(st);
}

static void segs_free(segs *s) {
    for (int i = 0; i < s->n; i++) {
        release(s->seg[i].state);
        free(s->host[i]);
    }
}

static void test_shift(void) {
    const int layouts[][5] = {{1, 5}, {4, 1, 1, 1, 1}, {3, 2, 1, 4}};
    for (size_t l = 0; l < 3; l++) {
        const int n = layouts[l][0], C = 70;
        const size_t off = 16; /* the vector sits at state + 16 floats */
        segs s;
        segs_make(&s, &layouts[l][1], n, off + C + 8, -1, 1);
        float *cur = rand_vec((size_t)s.T * C, -1, 1);
        rwkv_ptr CUR = put(cur, (size_t)s.T * C), PREV = poisoned((size_t)s.T * C);
        ops->shift(be, CUR, PREV, s.T, C, off, s.seg, n);
        float *prev = get(PREV, (size_t)s.T * C);
        double *ref = malloc((size_t)s.T * C * sizeof *ref);
        for (int i = 0; i < n; i++)
            for (int t = s.seg[i].start; t < s.seg[i].start + s.seg[i].len; t++)
                for (int c = 0; c < C; c++)
                    ref[(size_t)t * C + c] = t == s.seg[i].start ? s.host[i][off + c] : cur[(size_t)(t - 1) * C + c];
        char what[64];
        snprintf(what, sizeof what, "shift, %d segments", n);
        compare(what, prev, ref, NULL, 0.0, (size_t)s.T * C);
        for (int i = 0; i < n; i++) {
            double last[70];
            for (int c = 0; c < C; c++) last[c] = cur[(size_t)(s.seg[i].start + s.seg[i].len - 1) * C + c];
            snprintf(what, sizeof what, "shift, %d segments: saved state %d", n, i);
            check_state(&s, i, off, last, (size_t)C, NULL, 0.0, what);
        }
        free(ref);
        free(prev);
        free(cur);
        release(CUR);
        release(PREV);
        segs_free(&s);
    }
}

/* RWKV-7 WKV of one segment (state S [H][N][N] in double) with the output steps, as
 * rwkv_op_wkv7_out. */
static void wkv7_ref(double *S, const float *r, const float *w, const float *k, const float *v, const float *kk,
                     const float *a, const float *g, const float *lnw, const float *lnb, const float *rk, int T, int H,
                     int N, int out_steps, double *y) {
    const int C = H * N;
    double *yh = malloc((size_t)N * sizeof *yh);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++) {
            const size_t b = (size_t)t * C + (size_t)h * N;
            for (int i = 0; i < N; i++) {
                double *row = S + ((size_t)h * N + i) * N, sa = 0, acc = 0;
                for (int j = 0; j < N; j++) sa += row[j] * kk[b + j];
                for (int j = 0; j < N; j++) {
                    row[j] = row[j] * w[b + j] - sa * kk[b + j] * a[b + j] + (double)v[b + i] * k[b + j];
                    acc += row[j] * r[b + j];
                }
                yh[i] = acc;
            }
            if (out_steps) {
                double mean = 0, var = 0, dot = 0;
                for (int i = 0; i < N; i++) mean += yh[i];
                mean /= N;
                for (int i = 0; i < N; i++) var += (yh[i] - mean) * (yh[i] - mean);
                var /= N;
                for (int j = 0; j < N; j++) dot += (double)r[b + j] * k[b + j] * rk[h * N + j];
                for (int i = 0; i < N; i++)
                    yh[i] = ((yh[i] - mean) / sqrt(var + 64e-5) * lnw[h * N + i] + lnb[h * N + i] + dot * v[b + i]) *
                            g[b + i];
            }
            for (int i = 0; i < N; i++) y[b + i] = yh[i];
        }
    free(yh);
}

static void test_wkv7(void) {
    const int layouts[][5] = {{1, 7}, {3, 1, 1, 1}, {2, 3, 2}};
    const int HN[][2] = {{2, 64}, {3, 16}, {1, 64}};
    for (size_t l = 0; l < 3; l++)
        for (int out_steps = 0; out_steps < 2; out_steps++) {
            const int n = layouts[l][0], H = HN[l][0], N = HN[l][1], C = H * N;
            const size_t off = 2 * (size_t)C; /* as in an RWKV-7 layer: [att][ffn][S] */
            segs s;
            segs_make(&s, &layouts[l][1], n, off + (size_t)H * N * N, -0.5f, 0.5f);
            const int T = s.T;
            const size_t TC = (size_t)T * C;
            float *r = rand_vec(TC, -1, 1), *w = rand_vec(TC, 0.3f, 0.999f), *k = rand_vec(TC, -1, 1),
                  *v = rand_vec(TC, -1, 1), *kk = rand_vec(TC, -1, 1), *a = rand_vec(TC, 0, 1), *g = rand_vec(TC, -1, 1);
            float *lnw = rand_vec((size_t)C, 0.5f, 1.5f), *lnb = rand_vec((size_t)C, -0.5f, 0.5f),
                  *rk = rand_vec((size_t)C, -1, 1);
            for (int t = 0; t < T; t++) /* kk: unit length per head */
                for (int h = 0; h < H; h++) {
                    double ss = 0;
                    float *q = kk + (size_t)t * C + (size_t)h * N;
                    for (int j = 0; j < N; j++) ss += (double)q[j] * q[j];
                    for (int j = 0; j < N; j++) q[j] = (float)(q[j] / sqrt(ss));
                }
            rwkv_ptr R = put(r, TC), Wp = put(w, TC), K = put(k, TC), V = put(v, TC), KK = put(kk, TC), A = put(a, TC),
                     G = put(g, TC), LW = put(lnw, (size_t)C), LB = put(lnb, (size_t)C), RK = put(rk, (size_t)C),
                     Y = poisoned(TC);
            ops->wkv7(be, off, R, Wp, K, V, KK, A, Y, T, H, N, out_steps ? LW : rwkv_ptr_null(), LB, 64e-5f, RK, G, s.seg, n);
            float *y = get(Y, TC);
            double *ref = malloc(TC * sizeof *ref);
            char what[96];
            for (int i = 0; i < n; i++) {
                double *S = state_part(&s, i, off, (size_t)H * N * N);
                const size_t o = (size_t)s.seg[i].start * C;
                wkv7_ref(S, r + o, w + o, k + o, v + o, kk + o, a + o, g + o, lnw, lnb, rk, s.seg[i].len, H, N, out_steps,
                         ref + o);
                snprintf(what, sizeof what, "wkv7 H=%d N=%d, %d segments: state %d", H, N, n, i);
                check_state(&s, i, off, S, (size_t)H * N * N, NULL, 2e-5, what);
                free(S);
            }
            snprintf(what, sizeof what, "wkv7 H=%d N=%d, %d segments%s", H, N, n, out_steps ? ", output steps" : "");
            compare(what, y, ref, NULL, out_steps ? 2e-4 : 2e-5, TC);
            free(ref);
            free(y);
            float *hs[] = {r, w, k, v, kk, a, g, lnw, lnb, rk};
            for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) free(hs[i]);
            rwkv_ptr ds[] = {R, Wp, K, V, KK, A, G, LW, LB, RK, Y};
            for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) release(ds[i]);
            segs_free(&s);
        }
}

static void test_wkv5(void) {
    const int layouts[][4] = {{1, 6}, {3, 1, 1, 1}, {2, 2, 3}};
    for (size_t l = 0; l < 3; l++)
        for (int wpt = 0; wpt < 2; wpt++) {
            const int n = layouts[l][0], H = l == 2 ? 8 : 2, N = l == 2 ? 8 : 64, C = H * N;
            const size_t off = 2 * (size_t)C;
            segs s;
            segs_make(&s, &layouts[l][1], n, off + (size_t)H * N * N, -0.5f, 0.5f);
            const int T = s.T;
            const size_t TC = (size_t)T * C;
            float *r = rand_vec(TC, -1, 1), *k = rand_vec(TC, -1, 1), *v = rand_vec(TC, -1, 1),
                  *w = rand_vec(wpt ? TC : (size_t)C, 0.3f, 0.999f), *u = rand_vec((size_t)C, -1, 1);
            rwkv_ptr R = put(r, TC), K = put(k, TC), V = put(v, TC), Wp = put(w, wpt ? TC : (size_t)C), U = put(u, (size_t)C),
                     Y = poisoned(TC);
            ops->wkv5(be, off, R, Wp, wpt, K, V, U, Y, T, H, N, s.seg, n);
            float *y = get(Y, TC);
            double *ref = malloc(TC * sizeof *ref);
            char what[96];
            for (int i = 0; i < n; i++) {
                double *S = state_part(&s, i, off, (size_t)H * N * N);
                for (int t = s.seg[i].start; t < s.seg[i].start + s.seg[i].len; t++)
                    for (int h = 0; h < H; h++) {
                        const size_t b = (size_t)t * C + (size_t)h * N;
                        const float *wt = w + (wpt ? b : (size_t)h * N);
                        double *Sh = S + (size_t)h * N * N;
                        for (int j = 0; j < N; j++) {
                            double acc = 0;
                            for (int q = 0; q < N; q++)
                                acc += (double)r[b + q] * ((double)u[h * N + q] * k[b + q] * v[b + j] + Sh[q * N + j]);
                            ref[b + j] = acc;
                        }
                        for (int q = 0; q < N; q++)
                            for (int j = 0; j < N; j++) Sh[q * N + j] = Sh[q * N + j] * wt[q] + (double)k[b + q] * v[b + j];
                    }
                snprintf(what, sizeof what, "wkv5 H=%d N=%d w_per_token=%d: state %d", H, N, wpt, i);
                check_state(&s, i, off, S, (size_t)H * N * N, NULL, 2e-5, what);
                free(S);
            }
            snprintf(what, sizeof what, "wkv5 H=%d N=%d w_per_token=%d, %d segments", H, N, wpt, n);
            compare(what, y, ref, NULL, 5e-5, TC);
            free(ref);
            free(y);
            free(r);
            free(k);
            free(v);
            free(w);
            free(u);
            rwkv_ptr ds[] = {R, K, V, Wp, U, Y};
            for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) release(ds[i]);
            segs_free(&s);
        }
}

static void test_wkv4(void) {
    const int lens[3] = {4, 1, 2};
    const int C = 100;
    const size_t off = 2 * (size_t)C;
    segs s;
    segs_make(&s, lens, 3, off + 3 * (size_t)C, 0.0f, 1.0f);
    for (int i = 0; i < 3; i++) /* pp: a running exponent, start it low for one state */
        for (int c = 0; c < C; c++) s.host[i][off + 2 * C + c] = i == 1 ? -1e30f : frand(-3, 3);
    for (int i = 0; i < 3; i++) CHECK(ops->upload(be, s.seg[i].state, s.host[i], s.floats * 4) == RWKV_OK, "upload");
    const size_t TC = (size_t)s.T * C;
    float *u = rand_vec((size_t)C, -1, 1), *w = rand_vec((size_t)C, -3, -0.1f), *k = rand_vec(TC, -3, 3), *v = rand_vec(TC, -2, 2);
    rwkv_ptr U = put(u, (size_t)C), Wp = put(w, (size_t)C), K = put(k, TC), V = put(v, TC), Y = poisoned(TC);
    ops->wkv4(be, off, U, Wp, K, V, Y, s.T, C, s.seg, 3);
    float *y = get(Y, TC);
    double *ref = malloc(TC * sizeof *ref);
    for (int i = 0; i < 3; i++) {
        double *aa = state_part(&s, i, off, 3 * (size_t)C), *bb = aa + C, *pp = bb + C;
        for (int t = s.seg[i].start; t < s.seg[i].start + s.seg[i].len; t++)
            for (int c = 0; c < C; c++) {
                const double kt = k[(size_t)t * C + c], vt = v[(size_t)t * C + c];
                double ww = u[c] + kt, p = fmax(pp[c], ww), e1 = exp(pp[c] - p), e2 = exp(ww - p);
                ref[(size_t)t * C + c] = (e1 * aa[c] + e2 * vt) / (e1 * bb[c] + e2);
                ww = w[c] + pp[c];
                p = fmax(ww, kt);
                e1 = exp(ww - p);
                e2 = exp(kt - p);
                aa[c] = e1 * aa[c] + e2 * vt;
                bb[c] = e1 * bb[c] + e2;
                pp[c] = p;
            }
        double *tol = malloc(s.floats * sizeof *tol);
        for (size_t j = 0; j < s.floats; j++) tol[j] = 1e-5 * (1 + fabs(j < off ? s.host[i][j] : aa[j - off]));
        check_state(&s, i, off, aa, 3 * (size_t)C, tol, 0, "wkv4 state");
        free(tol);
        free(aa);
    }
    compare("wkv4", y, ref, NULL, 1e-5, TC);
    free(ref);
    free(y);
    free(u);
    free(w);
    free(k);
    free(v);
    rwkv_ptr ds[] = {U, Wp, K, V, Y};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) release(ds[i]);
    segs_free(&s);
}

/* ---- embedding, copies, reuse of recorded command buffers ----------------------------------------- */

static void test_embed(void) {
    const rwkv_dtype types[] = {RWKV_DT_F32, RWKV_DT_F16, RWKV_DT_BF16, RWKV_DT_Q8_0};
    for (size_t d = 0; d < sizeof types / sizeof types[0]; d++) {
        const int V = 50, C = 96, T = 5;
        float *ef;
        void *ed = rand_weight(types[d], V, C, &ef);
        rwkv_weight E = {.dtype = types[d], .rows = V, .cols = C, .data = ed};
        CHECK(ops->weight(be, &E) == RWKV_OK, "weight: %s", rwkv_last_error());
        rwkv_ptr X = poisoned((size_t)T * C);
        /* the same op twice with other tokens: a reused command buffer must read the new ids */
        for (int round = 0; round < 3; round++) {
            int32_t tok[5];
            for (int t = 0; t < T; t++) tok[t] = (int32_t)(urand() * V);
            ops->embed(be, &E, tok, T, X);
            float *x = get(X, (size_t)T * C);
            double *ref = malloc((size_t)T * C * sizeof *ref);
            for (int t = 0; t < T; t++)
                for (int c = 0; c < C; c++) ref[(size_t)t * C + c] = ef[(size_t)tok[t] * C + c];
            char what[64];
            snprintf(what, sizeof what, "embed %s, round %d", rwkv_dtype_name(types[d]), round);
            compare(what, x, ref, NULL, 0.0, (size_t)T * C);
            free(ref);
            free(x);
        }
        release(X);
        release_weight(&E);
        free(ed);
        free(ef);
    }
}

static void test_copy(void) {
    const size_t sizes[] = {16 * 1000, 4 * 77, 6};
    for (size_t i = 0; i < 3; i++) {
        const size_t bytes = sizes[i];
        unsigned char *src = malloc(bytes + 8), *dst = malloc(bytes + 8);
        for (size_t j = 0; j < bytes + 8; j++) src[j] = (unsigned char)(urand() * 256);
        rwkv_ptr S = dev_put(be, src, bytes + 8), D = dev_put(be, NULL, bytes + 8);
        const size_t so = i == 1 ? 4 : 0; /* an offset copy of whole words, not 16-byte aligned */
        ops->copy(be, rwkv_ptr_b(D, so), rwkv_ptr_b(S, so), bytes);
        CHECK(ops->sync(be) == RWKV_OK, "sync: %s", rwkv_last_error());
        CHECK(ops->download(be, dst, D, bytes + 8) == RWKV_OK, "download: %s", rwkv_last_error());
        int ok = !memcmp(dst + so, src + so, bytes);
        for (size_t j = 0; j < so; j++) ok &= dst[j] == 0;
        for (size_t j = so + bytes; j < bytes + 8; j++) ok &= dst[j] == 0; /* alloc zeroes */
        CHECK(ok, "copy of %zu bytes at offset %zu", bytes, so);
        release(S);
        release(D);
        free(src);
        free(dst);
    }
}

/* A little forward-like sequence run several times: the op list repeats, so the recorded command
 * buffer is reused; new inputs must give new results each time. Also the plan: after plan_end the
 * same ops run without recording errors. */
static void test_reuse_and_plan(void) {
    const int C = 64, T = 1;
    float *wf;
    void *wd = rand_weight(RWKV_DT_Q4_0, C, C, &wf);
    rwkv_weight W = {.dtype = RWKV_DT_Q4_0, .rows = C, .cols = C, .data = wd};
    CHECK(ops->weight(be, &W) == RWKV_OK, "weight: %s", rwkv_last_error());
    float *g = rand_vec((size_t)C, 0.5f, 1.5f), *b = rand_vec((size_t)C, -1, 1);
    rwkv_ptr G = put(g, (size_t)C), B = put(b, (size_t)C), X = poisoned((size_t)C), H = poisoned((size_t)C),
             Y = poisoned((size_t)C);
    ops->plan_begin(be);
    for (int pass = 0; pass < 2; pass++) { /* the dry run: nothing runs, nothing is touched */
        ops->norm(be, X, H, G, B, T, C, C, 1e-5f);
        rwkv_linear_job j = {.W = &W, .X = H, .Y = Y, .epilogue = RWKV_EPI_RELU_SQ};
        ops->linear(be, &j, 1, T);
        CHECK(ops->sync(be) == RWKV_OK, "sync while planning: %s", rwkv_last_error());
    }
    CHECK(ops->plan_end(be) == RWKV_OK, "plan_end: %s", rwkv_last_error());
    float *y0 = get(Y, (size_t)C);
    int still_nan = 1;
    for (int i = 0; i < C; i++) still_nan &= isnan(y0[i]);
    CHECK(still_nan, "planning ran an op");
    free(y0);
    rwkv_backend_info bi;
    ops->info(be, &bi);
    uint64_t sub0 = 0, rec0 = 0;
    for (int round = 0; round < 4; round++) {
        if (round == 1 && !bi.host_memory) rwkv_vk_counts(be, &sub0, &rec0);
        float *x = rand_vec((size_t)C, -2, 2);
        CHECK(ops->upload(be, X, x, (size_t)C * 4) == RWKV_OK, "upload: %s", rwkv_last_error());
        ops->norm(be, X, H, G, B, T, C, C, 1e-5f);
        rwkv_linear_job j = {.W = &W, .X = H, .Y = Y, .epilogue = RWKV_EPI_RELU_SQ};
        ops->linear(be, &j, 1, T);
        float *y = get(Y, (size_t)C);
        double h[64], ref[64], tol[64], mean = 0, var = 0;
        for (int i = 0; i < C; i++) mean += x[i];
        mean /= C;
        for (int i = 0; i < C; i++) var += (x[i] - mean) * (x[i] - mean);
        var /= C;
        for (int i = 0; i < C; i++) h[i] = (x[i] - mean) / sqrt(var + 1e-5) * g[i] + b[i];
        for (int o = 0; o < C; o++) {
            double s = 0, m = 0;
            for (int i = 0; i < C; i++) s += wf[o * C + i] * h[i], m += fabs(wf[o * C + i] * h[i]);
            ref[o] = s > 0 ? s * s : 0;
            tol[o] = (2 * fabs(s) + 1) * (1e-5 * m + 1e-6);
        }
        char what[64];
        snprintf(what, sizeof what, "repeated step %d (reused command buffer)", round);
        compare(what, y, ref, tol, 0, (size_t)C);
        free(y);
        free(x);
    }
    if (!bi.host_memory) {
        uint64_t sub = 0, rec = 0;
        rwkv_vk_counts(be, &sub, &rec);
        CHECK(sub - sub0 == 3 && rec == rec0, "3 repeated steps: %llu submits, %llu recorded (want 3 and 0)",
              (unsigned long long)(sub - sub0), (unsigned long long)(rec - rec0));
    }
    release_weight(&W);
    rwkv_ptr ds[] = {G, B, X, H, Y};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) release(ds[i]);
    free(wd);
    free(wf);
    free(g);
    free(b);
}

/* Barriers go exactly where an op touches memory that an op since the last barrier wrote, or writes
 * what one read (lavapipe runs dispatches one after the other, so a missing barrier would pass every
 * result check there: the placement itself is checked). */
static void test_barriers(void) {
    rwkv_ptr X = poisoned(64), Y = poisoned(64), Z = poisoned(64), W = poisoned(64), S1 = poisoned(256), S2 = poisoned(256);
    const rwkv_ptr none = rwkv_ptr_null();
    struct {
        const char *what;
        int want;
    } cases[] = {{"independent ops", 0},      {"read after write", 1},  {"write after read", 1},
                 {"write after write", 1},    {"a chain of three", 2},  {"disjoint halves of one buffer", 0},
                 {"overlapping halves", 1},   {"states of other segments", 0}, {"the same state", 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        CHECK(ops->sync(be) == RWKV_OK, "sync");
        switch (c) {
        case 0: ops->act(be, RWKV_ACT_EXP, X, none, Y, 1, 64); ops->act(be, RWKV_ACT_EXP, Z, none, W, 1, 64); break;
        case 1: ops->act(be, RWKV_ACT_EXP, X, none, Y, 1, 64); ops->act(be, RWKV_ACT_EXP, Y, none, Z, 1, 64); break;
        case 2: ops->act(be, RWKV_ACT_EXP, X, none, Y, 1, 64); ops->act(be, RWKV_ACT_EXP, Z, none, X, 1, 64); break;
        case 3: ops->act(be, RWKV_ACT_EXP, X, none, Y, 1, 64); ops->act(be, RWKV_ACT_EXP, Z, none, Y, 1, 64); break;
        case 4:
            ops->act(be, RWKV_ACT_EXP, X, none, Y, 1, 64);
            ops->act(be, RWKV_ACT_EXP, Y, none, Z, 1, 64);
            ops->act(be, RWKV_ACT_EXP, Z, none, W, 1, 64);
            break;
        case 5:
            ops->act(be, RWKV_ACT_EXP, X, none, Y, 1, 32);
            ops->act(be, RWKV_ACT_EXP, rwkv_ptr_f(X, 32), none, rwkv_ptr_f(Y, 32), 1, 32);
            break;
        case 6:
            ops->act(be, RWKV_ACT_EXP, X, none, Y, 1, 33);
            ops->act(be, RWKV_ACT_EXP, rwkv_ptr_f(Y, 32), none, Z, 1, 32);
            break;
        case 7:
        case 8: {
            const rwkv_seg a = {.state = S1, .start = 0, .len = 1}, b = {.state = c == 7 ? S2 : S1, .start = 0, .len = 1};
            ops->shift(be, X, Y, 1, 64, 0, &a, 1);
            ops->shift(be, X, Z, 1, 64, 0, &b, 1);
            break;
        }
        }
        CHECK(ops->sync(be) == RWKV_OK, "sync: %s", rwkv_last_error());
        CHECK(rwkv_vk_last_barriers(be) == cases[c].want, "%s: %d barriers, want %d", cases[c].what,
              rwkv_vk_last_barriers(be), cases[c].want);
    }
    rwkv_ptr ds[] = {X, Y, Z, W, S1, S2};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) release(ds[i]);
}

/* ---- bad cases ---------------------------------------------------------------------------------- */

/* A second Vulkan backend made with options o (and the validation layer), or NULL (a failed check). */
static rwkv_backend *backend_with(rwkv_vk_options o, const char *what) {
    o.validation = 1;
    rwkv_vk_set_options(&o);
    rwkv_backend *nb = NULL;
    rwkv_status st = rwkv_backend_vulkan_new(NULL, -1, &nb);
    rwkv_vk_set_options(&(rwkv_vk_options){.validation = 1});
    CHECK(st == RWKV_OK, "backend with %s: %s", what, rwkv_last_error());
    return st == RWKV_OK ? nb : NULL;
}

static void test_memory_limit(void) {
    rwkv_backend *small = backend_with((rwkv_vk_options){.mem_limit = 8u << 20}, "a memory cap");
    if (!small) return;
    rwkv_status st;
    rwkv_ptr a = {0}, b = {0};
    CHECK(small->ops->alloc(small, 6u << 20, &a) == RWKV_OK, "6 MiB under an 8 MiB cap: %s", rwkv_last_error());
    st = small->ops->alloc(small, 6u << 20, &b);
    CHECK(st == RWKV_ERR_NOMEM && strstr(rwkv_last_error(), "device memory"),
          "12 MiB under an 8 MiB cap: status %d, '%s'", (int)st, rwkv_last_error());
    /* a weight that does not fit fails the same way, and the backend stays usable */
    float *wf;
    void *wd = rand_weight(RWKV_DT_F32, 1024, 1024, &wf);
    rwkv_weight W = {.dtype = RWKV_DT_F32, .rows = 1024, .cols = 1024, .data = wd};
    st = small->ops->weight(small, &W);
    CHECK(st == RWKV_ERR_NOMEM && rwkv_ptr_is_null(W.mem), "a 4 MiB weight beyond the cap: status %d", (int)st);
    small->ops->mem_free(small, a);
    CHECK(small->ops->weight(small, &W) == RWKV_OK, "the weight after freeing: %s", rwkv_last_error());
    small->ops->free(small);
    free(wd);
    free(wf);
}

static void test_staging(void) {
    rwkv_backend *st_be = backend_with((rwkv_vk_options){.force_staging = 1}, "the staging path");
    if (!st_be) return;
    /* run the product tests through a backend whose device memory is never mapped */
    rwkv_backend *saved = be;
    be = st_be;
    ops = be->ops;
    check_linear(RWKV_DT_Q5_1, 70, 128, 1, 0, RWKV_EPI_ADD);
    check_linear(RWKV_DT_F16, 64, 64, 20, 0, RWKV_EPI_NONE);
    test_shift();
    be->ops->free(be);
    be = saved;
    ops = be->ops;
}

static void test_device_lost(void) {
    rwkv_backend *lb = backend_with((rwkv_vk_options){.lose_after_submits = 3}, "a device lost after 3 submits");
    if (!lb) return;
    float x[64], y[64];
    for (int i = 0; i < 64; i++) x[i] = (float)i;
    rwkv_ptr X = {0}, Y = {0};
    CHECK(lb->ops->alloc(lb, sizeof x, &X) == RWKV_OK && lb->ops->alloc(lb, sizeof y, &Y) == RWKV_OK, "alloc");
    int failed_at = -1;
    for (int i = 0; i < 6 && failed_at < 0; i++) {
        lb->ops->act(lb, RWKV_ACT_RELU_SQ, X, rwkv_ptr_null(), Y, 1, 64);
        if (lb->ops->sync(lb) != RWKV_OK) failed_at = i;
    }
    CHECK(failed_at >= 0 && strstr(rwkv_last_error(), "lost"), "a lost device is reported by sync (at step %d: '%s')",
          failed_at, rwkv_last_error());
    lb->ops->act(lb, RWKV_ACT_RELU_SQ, X, rwkv_ptr_null(), Y, 1, 64);
    CHECK(lb->ops->sync(lb) == RWKV_ERR_IO, "and by every later sync");
    CHECK(lb->ops->download(lb, y, Y, sizeof y) != RWKV_OK, "and by downloads");
    rwkv_ptr Z = {0};
    CHECK(lb->ops->alloc(lb, 64, &Z) != RWKV_OK, "and by allocations");
    lb->ops->free(lb);
}

static void test_no_device(void) {
    /* the loader reads VK_DRIVER_FILES: point it at no driver (the test's own environment) */
    const char *old = getenv("VK_DRIVER_FILES");
    char *saved = old ? strdup(old) : NULL;
    setenv("VK_DRIVER_FILES", "/nonexistent/rwkv_no_driver.json", 1);
    rwkv_vk_set_options(NULL);
    rwkv_backend *nb = NULL;
    rwkv_status st = rwkv_backend_vulkan_new(NULL, -1, &nb);
    CHECK(st == RWKV_ERR_UNSUPPORTED && nb == NULL && strstr(rwkv_last_error(), "no Vulkan device"),
          "no driver: status %d, '%s'", (int)st, rwkv_last_error());
    rwkv_device_info info[4];
    int n = -1;
    st = rwkv_devices(info, 4, &n);
    CHECK((st == RWKV_OK && n == 0) || st == RWKV_ERR_UNSUPPORTED, "rwkv_devices without a driver: %d, n %d", (int)st, n);
    if (saved) {
        setenv("VK_DRIVER_FILES", saved, 1);
        free(saved);
    } else {
        unsetenv("VK_DRIVER_FILES");
    }
    rwkv_vk_set_options(&(rwkv_vk_options){.validation = 1});
    st = rwkv_backend_vulkan_new(NULL, 99, &nb);
    CHECK(st == RWKV_ERR_UNSUPPORTED && strstr(rwkv_last_error(), "no Vulkan device 99"), "device 99: '%s'",
          rwkv_last_error());
}

/* Runs an op test on the CPU backend (recording) and then on the Vulkan backend (comparing), from
 * the same random seed. */
static void run_both(void (*fn)(void), rwkv_backend *vk, rwkv_backend *cpu, uint64_t seed) {
    mode = RECORD;
    be = cpu;
    ops = cpu->ops;
    be_name = "cpu";
    rng = seed;
    fn();
    mode = AGAINST_CPU;
    next_recorded = 0;
    be = vk;
    ops = vk->ops;
    be_name = "vulkan";
    rng = seed;
    fn();
    CHECK(next_recorded == n_recorded, "the Vulkan run compared %d outputs, the CPU run %d", next_recorded, n_recorded);
    for (int i = 0; i < n_recorded; i++) free(recorded[i].v);
    n_recorded = next_recorded = 0;
    mode = REF_ONLY;
}

int main(void) {
    rwkv_vk_set_options(&(rwkv_vk_options){.validation = 1});
    double t0 = now_ms();
    rwkv_backend *vk = NULL, *cpu = NULL;
    rwkv_status st = rwkv_backend_vulkan_new(NULL, -1, &vk);
    if (st != RWKV_OK) {
        fprintf(stderr, "FAIL test_vulkan: no Vulkan backend on this machine: %s\n", rwkv_last_error());
        test_failed++;
        return test_summary("test_vulkan");
    }
    const rwkv_backend_params cp = {.device = "cpu", .n_threads = 1, .force_scalar = 1};
    st = rwkv_backend_cpu_new(&cp, &cpu);
    CHECK(st == RWKV_OK, "CPU backend: %s", rwkv_last_error());
    if (st != RWKV_OK) return test_summary("test_vulkan");
    be = vk;
    ops = be->ops;
    rwkv_backend_info info;
    ops->info(be, &info);
    printf("device: %s (backend made in %.0f ms)\n", info.device, now_ms() - t0);
    int n = 0;
    rwkv_device_info devs[8];
    CHECK(rwkv_devices(devs, 8, &n) == RWKV_OK && n >= 1, "rwkv_devices: %s", rwkv_last_error());
    for (int i = 0; i < n && i < 8; i++)
        printf("  %s: %s (%s), %.0f MiB, subgroups %d-%d, usable %d\n", devs[i].id, devs[i].name, devs[i].type,
               (double)devs[i].memory / 1048576.0, devs[i].subgroup_min, devs[i].subgroup_max, devs[i].usable);

    struct {
        const char *name;
        void (*fn)(void);
        int both; /* 1: on the CPU backend too, and compared with it */
    } tests[] = {{"copy", test_copy, 1},          {"embed", test_embed, 1},
                 {"act", test_act, 1},            {"ew", test_ew, 1},
                 {"norm", test_norm, 1},          {"shift", test_shift, 1},
                 {"wkv7", test_wkv7, 1},          {"wkv5", test_wkv5, 1},
                 {"wkv4", test_wkv4, 1},          {"reuse+plan", test_reuse_and_plan, 1},
                 {"linear", test_linear, 1},      {"memory limit", test_memory_limit, 0},
                 {"barriers", test_barriers, 0},  {"staging", test_staging, 0},
                 {"device lost", test_device_lost, 0},
                 {"no device", test_no_device, 0}};
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        const double t = now_ms();
        const int failed = test_failed;
        if (tests[i].both)
            run_both(tests[i].fn, vk, cpu, 0x9e3779b97f4a7c15ull + i);
        else
            tests[i].fn();
        printf("%-12s %s (%.0f ms)\n", tests[i].name, test_failed == failed ? "ok" : "FAILED", now_ms() - t);
    }
    vk->ops->free(vk);
    cpu->ops->free(cpu);
    CHECK(rwkv_vk_messages() == 0, "%u validation messages (printed above)", rwkv_vk_messages());
    printf("validation messages: %u\n", rwkv_vk_messages());
    return test_summary("test_vulkan");
}
