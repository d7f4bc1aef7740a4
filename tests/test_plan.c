/* test_plan.c — memory is planned at load: every allocation a forward needs is made by
 * rwkv_model_load (a failure there is a clean RWKV_ERR_NOMEM), and eval allocates nothing, so it
 * cannot fail or degrade mid-forward. Allocations are made to fail on purpose with the library's
 * test switch (rwkv_test_fail_alloc). Also: no file under src/ reads the environment. */
#include "common/test.h"
#include "rwkv.h"
#include "base/internal.h"
#include "backend/cpu/ops.h"
#include "types/quant.h"

#include <math.h>

#define V 256

static const int32_t prompt[] = {84, 104, 101, 32, 113, 117, 105, 99, 107, 32, 98, 114, 111, 119, 110,
                                 32, 102, 111, 120, 32, 106, 117, 109, 112, 115};
#define NP ((int)(sizeof prompt / sizeof prompt[0]))

/* Logits after the prompt in sequence mode (chunk 8, so several chunks), then after one more
 * token in serial mode, then one batched decode step of two states: 3·V floats. */
static int run(rwkv_model *m, float *out, int fail_after_states) {
    rwkv_state *a = NULL, *b = NULL;
    if (rwkv_state_new(m, &a) != RWKV_OK || rwkv_state_new(m, &b) != RWKV_OK) {
        rwkv_state_free(a);
        return -1;
    }
    if (fail_after_states) rwkv_test_fail_alloc(0); /* from here on, every planned allocation fails */
    int ok = rwkv_eval(m, a, prompt, NP, out, 0) == RWKV_OK;
    int32_t t = 7;
    ok = ok && rwkv_eval(m, a, &t, 1, out + V, RWKV_EVAL_SERIAL) == RWKV_OK;
    ok = ok && rwkv_eval(m, b, prompt, 3, NULL, 0) == RWKV_OK;
    rwkv_state *both[2] = {a, b};
    int32_t next[2] = {11, 12};
    float two[2 * V];
    ok = ok && rwkv_eval_batch(m, both, next, 2, two) == RWKV_OK;
    if (ok) memcpy(out + 2 * V, two, V * sizeof(float));
    if (!ok) fprintf(stderr, "eval failed: %s\n", rwkv_last_error());
    rwkv_test_fail_alloc(-1);
    rwkv_state_free(a);
    rwkv_state_free(b);
    return ok ? 0 : -1;
}

static void test_model(const char *rel) {
    rwkv_model_params mp;
    rwkv_model_params_default(&mp);
    mp.seq_chunk = 8;
    mp.n_threads = 2;
    rwkv_model *m = NULL;
    if (rwkv_model_load(test_shared(rel), &mp, &m) != RWKV_OK) {
        CHECK(0, "load %s: %s", rel, rwkv_last_error());
        return;
    }
    float ref[3 * V], got[3 * V];
    CHECK(run(m, ref, 0) == 0, "%s: reference run", rel);
    rwkv_model_free(m);

    /* every allocation of the load failing in turn: a clean error, never a crash */
    int n_fail = 0, loaded_at = -1;
    for (int n = 0; n < 10000 && loaded_at < 0; n++) {
        rwkv_test_fail_alloc(n);
        rwkv_status st = rwkv_model_load(test_shared(rel), &mp, &m);
        rwkv_test_fail_alloc(-1);
        if (st == RWKV_OK) {
            loaded_at = n;
        } else {
            n_fail++;
            if (st != RWKV_ERR_NOMEM || m != NULL) {
                CHECK(0, "%s: load with allocation %d failing: status %d (%s), want a clean out-of-memory", rel, n,
                      (int)st, rwkv_last_error());
                break;
            }
        }
    }
    printf("%s: %d planned allocations at load, each failing gave a clean out-of-memory error\n", rel, n_fail);
    CHECK(loaded_at > 0, "%s: the load makes its allocations through the planned allocator (%d)", rel, loaded_at);
    if (!m) return;

    /* after the load nothing is allocated: with every allocation failing, eval is unchanged */
    memset(got, 0, sizeof got);
    CHECK(run(m, got, 1) == 0, "%s: eval with allocations failing", rel);
    float d = test_max_abs_diff(ref, got, 3 * V);
    CHECK(d == 0.0f, "%s: eval with allocations failing differs from the reference by %g", rel, d);

    /* a thread count change re-makes the per-thread scratch: all or nothing */
    rwkv_test_fail_alloc(0);
    CHECK(rwkv_model_set_threads(m, 3) == RWKV_ERR_NOMEM, "%s: set_threads without memory fails cleanly", rel);
    rwkv_test_fail_alloc(-1);
    memset(got, 0, sizeof got);
    CHECK(run(m, got, 0) == 0 && test_max_abs_diff(ref, got, 3 * V) == 0.0f, "%s: the model still runs as before",
          rel);
    CHECK(rwkv_model_set_threads(m, 3) == RWKV_OK, "%s: set_threads 3: %s", rel, rwkv_last_error());
    memset(got, 0, sizeof got);
    CHECK(run(m, got, 1) == 0 && test_max_abs_diff(ref, got, 3 * V) == 0.0f,
          "%s: 3 threads give the same logits, with no allocation in eval", rel);
    rwkv_model_free(m);
}

/* An op outside a plan (a direct caller) whose scratch cannot be allocated: the error is
 * reported and the outputs are NaN, never zeros or stale numbers. */
static void test_unplanned_op(void) {
    const int rows = 32, K = 64;
    const size_t rb = rwkv_dtype_row_bytes(RWKV_DT_Q8_0, K);
    unsigned char *w = calloc((size_t)rows, rb);
    float x[64], y[32];
    for (int i = 0; i < K; i++) x[i] = 0.25f;
    float row[64];
    for (int i = 0; i < K; i++) row[i] = (float)(i % 7) - 3.0f;
    for (int r = 0; r < rows; r++) rwkv_quantize_row(RWKV_DT_Q8_0, row, w + (size_t)r * rb, K);
    rwkv_weight W = {.dtype = RWKV_DT_Q8_0, .rows = rows, .cols = K, .data = w};
    rwkv_ctx *ctx = NULL;
    const rwkv_ctx_params cp = {.n_threads = 1};
    CHECK(rwkv_ctx_new(&cp, &ctx) == RWKV_OK, "context");
    if (!ctx) return;
    const rwkv_linear_job job = {.W = &W, .X = rwkv_ptr_host(x), .Y = rwkv_ptr_host(y)};
    rwkv_test_fail_alloc(0);
    rwkv_op_linear_batch(ctx, &job, 1, 1);
    rwkv_test_fail_alloc(-1);
    int nan = 1;
    for (int r = 0; r < rows; r++) nan &= isnan(y[r]);
    CHECK(nan, "outputs of an op that could not run are NaN");
    CHECK(rwkv_ctx_take_error(ctx) == RWKV_ERR_NOMEM, "the failed op is reported");
    CHECK(rwkv_ctx_take_error(ctx) == RWKV_OK, "the error is cleared once taken");
    /* with memory, the same op computes: Σ 0.25·(i%7 − 3) over 64 inputs */
    rwkv_op_linear_batch(ctx, &job, 1, 1);
    float want = 0;
    for (int i = 0; i < K; i++) want += 0.25f * row[i];
    CHECK(fabsf(y[0] - want) < 0.05f && rwkv_ctx_take_error(ctx) == RWKV_OK, "op with memory: %g, want %g", y[0],
          want);
    rwkv_ctx_free(ctx);
    free(w);
}

/* The library takes its policy from parameters: no getenv/secure_getenv anywhere under src/. */
static void test_no_environment(void) {
    FILE *p = popen("grep -rlE '\\b(secure_)?getenv[[:space:]]*\\(' src 2>/dev/null", "r");
    CHECK(p != NULL, "grep runs");
    if (!p) return;
    char line[512];
    int found = 0;
    while (fgets(line, sizeof line, p)) {
        fprintf(stderr, "reads the environment: %s", line);
        found++;
    }
    int rc = pclose(p);
    CHECK(found == 0, "%d file(s) under src/ read the environment", found);
    CHECK(rc != -1 && WEXITSTATUS(rc) == 1, "grep searched src/ (exit %d; run the test from the repository root)",
          WEXITSTATUS(rc));
}

int main(void) {
    test_unplanned_op();
    test_no_environment();
    if (test_require_shared()) {
        test_model("models/tiny-rwkv-7v0-834K-Q5_1.bin");   /* quantized: the integer path's scratch */
        test_model("models/tiny-rwkv-7v0-834K.pth");        /* fp32 */
        test_model("models/tiny-rwkv-6v0-3m-Q5_1.pth");
        test_model("models/tiny-rwkv-5v2-730K.pth");
        test_model("models/tiny-rwkv-4v0-660K.pth");
    }
    return test_summary("test_plan");
}
