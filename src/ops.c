/* ops.c — scalar reference implementations of the heavy operations (see ops.h), and the
 * execution context. These loops are the readable oracle; faster kernels are tested
 * against them. */
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct rwkv_ctx {
    int n_threads;
    int force_scalar;
    float *rowbuf;      /* one converted weight row */
    size_t rowbuf_len;
};

/* Number of physical cores (distinct core ids per package), falling back to online CPUs. */
static int physical_cores(void) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1) online = 1;
    int seen = 0;
    uint64_t keys[1024];
    for (long cpu = 0; cpu < online && cpu < 1024; cpu++) {
        char path[128];
        int core = -1, pkg = -1;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/core_id", cpu);
        FILE *f = fopen(path, "r");
        if (!f) return (int)online;
        if (fscanf(f, "%d", &core) != 1) core = -1;
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/physical_package_id", cpu);
        f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%d", &pkg) != 1) pkg = -1;
            fclose(f);
        }
        if (core < 0) return (int)online;
        uint64_t key = ((uint64_t)(uint32_t)pkg << 32) | (uint32_t)core;
        int dup = 0;
        for (int i = 0; i < seen; i++) dup |= keys[i] == key;
        if (!dup) keys[seen++] = key;
    }
    return seen > 0 ? seen : (int)online;
}

rwkv_status rwkv_ctx_new(int n_threads, int force_scalar, rwkv_ctx **out) {
    *out = NULL;
    if (n_threads < 0 || n_threads > 1024)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "thread count %d out of range 0..1024", n_threads);
    rwkv_ctx *c = calloc(1, sizeof *c);
    if (!c) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    c->n_threads = n_threads ? n_threads : physical_cores();
    c->force_scalar = force_scalar;
    *out = c;
    return RWKV_OK;
}

void rwkv_ctx_free(rwkv_ctx *ctx) {
    if (!ctx) return;
    free(ctx->rowbuf);
    free(ctx);
}

rwkv_status rwkv_ctx_set_threads(rwkv_ctx *ctx, int n_threads) {
    if (n_threads < 0 || n_threads > 1024)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "thread count %d out of range 0..1024", n_threads);
    ctx->n_threads = n_threads ? n_threads : physical_cores();
    return RWKV_OK;
}

int rwkv_ctx_threads(const rwkv_ctx *ctx) { return ctx->n_threads; }

/* Returns a float row buffer of at least n floats (grown on demand; NULL if out of memory). */
static float *row_buffer(rwkv_ctx *ctx, size_t n) {
    if (ctx->rowbuf_len < n) {
        float *p = realloc(ctx->rowbuf, n * sizeof *p);
        if (!p) return NULL;
        ctx->rowbuf = p;
        ctx->rowbuf_len = n;
    }
    return ctx->rowbuf;
}

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

/* Row r of W as floats: a pointer into W for fp32, else converted into buf. */
static const float *weight_row(const rwkv_weight *W, int r, float *buf) {
    size_t off = (size_t)r * (size_t)W->cols;
    if (W->dtype == RWKV_DT_F32) return (const float *)W->data + off;
    rwkv_convert_to_f32(W->dtype, (const char *)W->data + off * rwkv_dtype_size(W->dtype), buf,
                        (size_t)W->cols);
    return buf;
}

void rwkv_op_linear(rwkv_ctx *ctx, const rwkv_weight *W, const float *X, float *Y, int T) {
    float *buf = row_buffer(ctx, (size_t)W->cols);
    for (int o = 0; o < W->rows; o++) {
        const float *w = weight_row(W, o, buf);
        for (int t = 0; t < T; t++)
            Y[(size_t)t * W->rows + o] = dot_f32(w, X + (size_t)t * W->cols, W->cols);
    }
}

void rwkv_op_linear_t(rwkv_ctx *ctx, const rwkv_weight *W, const float *X, float *Y, int T) {
    float *buf = row_buffer(ctx, (size_t)W->cols);
    const int in = W->rows, out = W->cols;
    for (int t = 0; t < T; t++)
        for (int o = 0; o < out; o++) Y[(size_t)t * out + o] = 0.0f;
    for (int i = 0; i < in; i++) {
        const float *w = weight_row(W, i, buf);
        for (int t = 0; t < T; t++) {
            float xi = X[(size_t)t * in + i];
            float *y = Y + (size_t)t * out;
            for (int o = 0; o < out; o++) y[o] += xi * w[o];
        }
    }
}

void rwkv_op_wkv7(rwkv_ctx *ctx, float *S, const float *r, const float *w, const float *k,
                  const float *v, const float *kk, const float *a, float *y, int T, int H, int N) {
    (void)ctx;
    const int C = H * N;
    for (int h = 0; h < H; h++) {
        float *Sh = S + (size_t)h * N * N;
        for (int t = 0; t < T; t++) {
            size_t base = (size_t)t * C + (size_t)h * N;
            const float *rt = r + base, *wt = w + base, *kt = k + base, *vt = v + base;
            const float *kkt = kk + base, *at = a + base;
            float *yt = y + base;
            for (int i = 0; i < N; i++) {
                float *row = Sh + (size_t)i * N;
                float sa = 0.0f;
                for (int j = 0; j < N; j++) sa += row[j] * kkt[j];
                float vi = vt[i], acc = 0.0f;
                for (int j = 0; j < N; j++) {
                    float s = row[j] * wt[j] - sa * (kkt[j] * at[j]) + vi * kt[j];
                    row[j] = s;
                    acc += s * rt[j];
                }
                yt[i] = acc;
            }
        }
    }
}

void rwkv_op_layernorm(const float *x, float *y, const float *g, const float *b, int T, int n,
                       float eps) {
    rwkv_op_groupnorm(x, y, g, b, T, n, n, eps);
}

void rwkv_op_groupnorm(const float *x, float *y, const float *g, const float *b, int T, int n,
                       int gs, float eps) {
    for (int t = 0; t < T; t++) {
        for (int g0 = 0; g0 < n; g0 += gs) {
            const float *xs = x + (size_t)t * n + g0;
            float *ys = y + (size_t)t * n + g0;
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
}
