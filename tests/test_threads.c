/* test_threads.c — the thread pool, and results that do not depend on the thread count:
 * logits with 1, 2 and 3 threads must be bit-identical (sequence and serial mode), on the
 * fixture model and on a random model large enough for the matrix-matrix and bf16 paths. */
#include "common/test.h"
#include "rwkv.h"
#include "backend/cpu/threadpool.h"

#include <math.h>
#include <stdatomic.h>
#include <unistd.h>

typedef struct {
    _Atomic int hits[8];
    _Atomic int sum;
    rwkv_pool *pool;
    int phases_ok;
} pool_probe;

static void probe_task(void *arg, int ith, int nth) {
    pool_probe *p = arg;
    atomic_fetch_add(&p->hits[ith], 1);
    atomic_fetch_add(&p->sum, nth);
}

static void barrier_task(void *arg, int ith, int nth) {
    pool_probe *p = arg;
    for (int phase = 1; phase <= 50; phase++) {
        atomic_fetch_add(&p->sum, 1);
        rwkv_pool_barrier(p->pool);
        if (atomic_load(&p->sum) != phase * nth) p->phases_ok = 0; /* everyone arrived */
        rwkv_pool_barrier(p->pool);
    }
    (void)ith;
}

typedef struct {
    _Atomic int count[1000];
} unit_probe;

static void unit_task(void *arg, int u, int ith) {
    unit_probe *p = arg;
    atomic_fetch_add(&p->count[u], 1);
    (void)ith;
}

static void test_pool(void) {
    for (int n = 1; n <= 4; n++) {
        rwkv_pool *pool = NULL;
        CHECK(rwkv_pool_new(n, &pool) == RWKV_OK && pool, "pool of %d", n);
        if (!pool) continue;
        CHECK(rwkv_pool_size(pool) == n, "pool size %d", n);
        pool_probe p;
        memset(&p, 0, sizeof p);
        const int runs = 2000;
        for (int r = 0; r < runs; r++) rwkv_pool_run(pool, probe_task, &p);
        int ok = 1;
        for (int i = 0; i < n; i++) ok &= atomic_load(&p.hits[i]) == runs;
        CHECK(ok && atomic_load(&p.sum) == runs * n * n, "%d threads: every worker ran every task once", n);
        /* after an idle pause the workers sleep; a new task must still wake them */
        usleep(20000);
        memset(&p, 0, sizeof p);
        rwkv_pool_run(pool, probe_task, &p);
        ok = 1;
        for (int i = 0; i < n; i++) ok &= atomic_load(&p.hits[i]) == 1;
        CHECK(ok, "%d threads: wake-up after sleeping", n);
        /* unit runs: every unit exactly once, interleaved with plain runs */
        static unit_probe up;
        int units_ok = 1;
        for (int r = 0; r < 600; r++) {
            int nu = 1 + (r * 37) % 1000;
            memset(&up, 0, sizeof up);
            rwkv_pool_run_units(pool, unit_task, &up, nu);
            for (int u = 0; u < nu; u++) units_ok &= atomic_load(&up.count[u]) == 1;
            if (r % 7 == 0) rwkv_pool_run(pool, probe_task, &p);
        }
        CHECK(units_ok, "%d threads: unit runs take every unit exactly once", n);
        memset(&p, 0, sizeof p);
        p.pool = pool;
        p.phases_ok = 1;
        rwkv_pool_run(pool, barrier_task, &p);
        CHECK(p.phases_ok, "%d threads: barrier holds every worker", n);
        rwkv_pool_free(pool);
    }
    CHECK(rwkv_pool_new(0, &(rwkv_pool *){NULL}) == RWKV_ERR_INVALID_ARG, "pool of 0 rejected");
    int lo, hi, total = 0, prev = 0, contiguous = 1;
    for (int i = 0; i < 3; i++) {
        rwkv_split(10, i, 3, &lo, &hi);
        contiguous &= lo == prev;
        prev = hi;
        total += hi - lo;
    }
    CHECK(contiguous && total == 10, "split covers the range in order");
}

/* Logits of every token of tok[n] (sequence or serial mode) with n_threads threads. */
static int g_chunk = 16;       /* sequence chunk of logits_with */
static int g_prefill_bf16 = 0; /* rwkv_model_params.prefill_bf16 of logits_with */

static float *logits_with(const char *path, int n_threads, const int32_t *tok, size_t n, int V,
                          unsigned flags) {
    rwkv_model_params mp;
    rwkv_model_params_default(&mp);
    mp.n_threads = n_threads;
    mp.seq_chunk = g_chunk;
    mp.prefill_bf16 = g_prefill_bf16;
    rwkv_model *m = NULL;
    if (rwkv_model_load(path, &mp, &m) != RWKV_OK) {
        CHECK(0, "load %s: %s", path, rwkv_last_error());
        return NULL;
    }
    rwkv_state *s = NULL;
    float *out = calloc(n * (size_t)V, sizeof *out);
    rwkv_state_new(m, &s);
    CHECK(rwkv_eval(m, s, tok, n, out, flags | RWKV_EVAL_ALL_LOGITS) == RWKV_OK, "eval: %s", rwkv_last_error());
    /* a second call continues from the state (decode after prefill) */
    float last[4096];
    if (V <= 4096) {
        CHECK(rwkv_eval(m, s, tok, 1, last, 0) == RWKV_OK, "eval one more");
        memcpy(out + (n - 1) * (size_t)V, last, (size_t)V * sizeof(float)); /* overwrite: compared too */
    }
    rwkv_state_free(s);
    rwkv_model_free(m);
    return out;
}

static void compare_threads(const char *label, const char *path, const int32_t *tok, size_t n, int V) {
    for (int serial = 0; serial < 2; serial++) {
        unsigned flags = serial ? RWKV_EVAL_SERIAL : 0;
        float *one = logits_with(path, 1, tok, n, V, flags);
        for (int th = 2; th <= 3; th++) {
            float *o = logits_with(path, th, tok, n, V, flags);
            CHECK(one && o && !memcmp(one, o, n * (size_t)V * sizeof(float)),
                  "%s %s: %d threads bit-identical to 1 (max diff %g)", label, serial ? "serial" : "sequence", th,
                  one && o ? test_max_abs_diff(one, o, n * (size_t)V) : -1.0f);
            free(o);
        }
        int finite = 1;
        for (size_t i = 0; one && i < n * (size_t)V; i++) finite &= isfinite(one[i]) != 0;
        CHECK(one && finite, "%s %s: logits finite", label, serial ? "serial" : "sequence");
        free(one);
    }
}

int main(void) {
    test_pool();

    int32_t tok[40];
    for (int i = 0; i < 40; i++) tok[i] = (i * 37 + 11) % 256;

    if (test_require_shared()) compare_threads("fixture", test_shared("models/tiny-rwkv-7v0-834K.pth"), tok, 19, 256);

    /* A random model with C = 512: products go through the matrix-matrix kernels and, with
     * prefill_bf16 on CPUs with AVX-512 BF16, the bf16 path (512 input columns). */
    char dir[] = "/tmp/rwkv-test-threads-XXXXXX";
    if (mkdtemp(dir)) {
        char path[128];
        snprintf(path, sizeof path, "%s/l2c512.pth", dir);
        rwkv_status st = rwkv_model_init_random("L2C512", "fp16", 7, 256, path);
        CHECK(st == RWKV_OK, "random model: %s", rwkv_last_error());
        if (st == RWKV_OK) {
            compare_threads("random L2C512 fp16", path, tok, 40, 256);
            /* default (fp32 arithmetic): sequence mode equals serial mode to float rounding */
            float *seq = logits_with(path, 2, tok, 40, 256, 0);
            float *ser = logits_with(path, 2, tok, 40, 256, RWKV_EVAL_SERIAL);
            float d = seq && ser ? test_max_abs_diff(seq, ser, 40 * 256) : 1e9f;
            float mag = 0;
            for (int i = 0; ser && i < 40 * 256; i++) mag = fmaxf(mag, fabsf(ser[i]));
            printf("random L2C512 fp16: sequence vs serial (fp32): max abs diff %.3g (max |logit| %.3g)\n", d, mag);
            CHECK(d <= 1e-5f * (1.0f + mag), "sequence vs serial: %g", d);
            /* chunks of 40 tokens: on CPUs with AMX the products run on split bf16 operands
             * (linear_x3, fp32 grade); the same bound, and no dependence on the thread count */
            g_chunk = 64;
            compare_threads("random L2C512 fp16, chunk 64", path, tok, 40, 256);
            float *seq64 = logits_with(path, 2, tok, 40, 256, 0);
            g_chunk = 16;
            float d64 = seq64 && ser ? test_max_abs_diff(seq64, ser, 40 * 256) : 1e9f;
            printf("random L2C512 fp16: sequence (chunk 64) vs serial: max abs diff %.3g\n", d64);
            CHECK(d64 <= 1e-5f * (1.0f + mag), "sequence (chunk 64) vs serial: %g", d64);
            free(seq64);
            /* opt-in bf16 prefill products (prefill_bf16): bounded precision cost */
            g_prefill_bf16 = 1;
            compare_threads("random L2C512 fp16, bf16 prefill", path, tok, 40, 256);
            float *seqb = logits_with(path, 2, tok, 40, 256, 0);
            g_prefill_bf16 = 0;
            float db = seqb && ser ? test_max_abs_diff(seqb, ser, 40 * 256) : 1e9f;
            printf("random L2C512 fp16: bf16-prefill sequence vs serial: max abs diff %.3g\n", db);
            CHECK(db <= 0.05f * (1.0f + mag), "bf16 prefill within bf16 precision: %g", db);
            free(seq);
            free(seqb);
            free(ser);
            remove(path);
        }
        rmdir(dir);
    }
    return test_summary("test_threads");
}
