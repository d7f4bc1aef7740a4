/* test_batch.c — rwkv_eval_batch (one decode step for many sequences) equals feeding each
 * sequence on its own, for every generation. */
#include "common/test.h"
#include "rwkv.h"

#define V 256
#define NSEQ 5
#define STEPS 12

static void run_model(const char *rel, int chunk) {
    rwkv_model_params p;
    rwkv_model_params_default(&p);
    p.seq_chunk = chunk;
    rwkv_model *m = NULL;
    if (rwkv_model_load(test_shared(rel), &p, &m) != RWKV_OK) {
        CHECK(0, "load %s: %s", rel, rwkv_last_error());
        return;
    }
    const char *prompts[NSEQ] = {"The quick", "In a hole in the ground", "Hello", "\"in", "x"};
    rwkv_state *bs[NSEQ], *ss[NSEQ];
    int32_t next[NSEQ];
    float *bl = calloc(NSEQ * V, sizeof(float)), sl[V];
    for (int i = 0; i < NSEQ; i++) {
        int32_t tok[64];
        size_t n = strlen(prompts[i]);
        for (size_t j = 0; j < n; j++) tok[j] = (unsigned char)prompts[i][j];
        rwkv_state_new(m, &bs[i]);
        rwkv_state_new(m, &ss[i]);
        /* different history lengths: the batch rows sit at different positions */
        rwkv_eval(m, bs[i], tok, n - 1, NULL, 0);
        rwkv_eval(m, ss[i], tok, n - 1, NULL, 0);
        next[i] = tok[n - 1];
    }
    float worst = 0;
    for (int step = 0; step < STEPS; step++) {
        CHECK(rwkv_eval_batch(m, bs, next, NSEQ, bl) == RWKV_OK, "%s", rwkv_last_error());
        for (int i = 0; i < NSEQ; i++) {
            rwkv_eval(m, ss[i], &next[i], 1, sl, 0);
            float d = test_max_abs_diff(bl + i * V, sl, V);
            if (d > worst) worst = d;
            int best = 0; /* greedy continuation from the batched logits */
            for (int t = 1; t < V; t++)
                if (bl[i * V + t] > bl[i * V + best]) best = t;
            next[i] = best;
        }
    }
    printf("%s (chunk %d): batched vs one-by-one max abs diff %.3g\n", rel, chunk, worst);
    CHECK(worst <= 1e-5f, "batched decode differs by %g", worst);
    for (int i = 0; i < NSEQ; i++)
        CHECK(rwkv_state_n_tokens(bs[i]) == rwkv_state_n_tokens(ss[i]), "token counts");

    /* argument checks */
    rwkv_state *dup[2] = {bs[0], bs[0]};
    int32_t two[2] = {1, 2};
    CHECK(rwkv_eval_batch(m, dup, two, 2, NULL) == RWKV_ERR_INVALID_ARG, "same state twice rejected");
    int32_t bad[2] = {1, 999};
    CHECK(rwkv_eval_batch(m, bs, bad, 2, NULL) == RWKV_ERR_RANGE, "token out of range rejected");
    CHECK(rwkv_eval_batch(m, bs, two, 0, NULL) == RWKV_ERR_INVALID_ARG, "empty batch rejected");
    for (int i = 0; i < NSEQ; i++) {
        rwkv_state_free(bs[i]);
        rwkv_state_free(ss[i]);
    }
    free(bl);
    rwkv_model_free(m);
}

int main(void) {
    if (!test_require_shared()) return test_summary("test_batch");
    run_model("models/tiny-rwkv-7v0-834K.pth", 0);
    run_model("models/tiny-rwkv-7v0-834K.pth", 2);   /* batch larger than the chunk: groups */
    run_model("models/tiny-rwkv-7v0-834K-bf16.pth", 0);
    /* every generation runs a batch as one forward (segments of one row per state) */
    run_model("models/tiny-rwkv-6v0-3m-Q5_1.pth", 0);
    run_model("models/tiny-rwkv-6v0-3m-Q5_1.pth", 2);
    run_model("models/tiny-rwkv-5v2-730K.pth", 0);
    run_model("models/tiny-rwkv-5v1-730K.pth", 2);
    run_model("models/tiny-rwkv-4v0-660K.pth", 0);
    run_model("models/tiny-rwkv-4v0-660K.pth", 2);
    return test_summary("test_batch");
}
