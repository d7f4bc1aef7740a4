/* test_vulkan_model.c — whole models on the Vulkan device (lavapipe in CI) under the validation
 * layer: every RWKV-7 fixture (fp32, fp16, bf16 checkpoints, rwkv.cpp files, the state-tuning file;
 * sequence and serial mode, several chunk sizes) within 1e-4 of the official logits; the other
 * generations against their fixtures; every quantized type within the bounds of the CPU path
 * (tests/test_formats.c) and within 1e-4 of the CPU's exact products; batched decode equal to one
 * by one; states moved between the GPU and the CPU continue identically; too little device memory
 * and a lost device give clear errors. A machine without a Vulkan device fails this test. */
#include "common/test.h"
#include "backend/vulkan/vulkan.h"
#include "rwkv.h"

#include <math.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#define V 256
#define NT 19 /* bytes of quick_fox */
#define FOX_REF "fixtures/tiny-7v0-834K/logits-all-quick_fox.bin"

static int32_t fox[NT];

static rwkv_model *load_q(const char *path, const char *device, int chunk, int quant_dot) {
    rwkv_model_params p;
    rwkv_model_params_default(&p);
    p.device = device;
    p.seq_chunk = chunk;
    p.quant_dot = quant_dot;
    p.n_threads = 1;
    rwkv_model *m = NULL;
    rwkv_status st = rwkv_model_load(path, &p, &m);
    CHECK(st == RWKV_OK, "load %s on %s (chunk %d): %s", path, device, chunk, rwkv_last_error());
    return m;
}
static rwkv_model *load(const char *path, const char *device, int chunk) {
    return load_q(path, device, chunk, RWKV_QUANT_DOT_EXACT);
}

/* Logits after every token of quick_fox from a fresh state (or the state-tuning file). */
static float *run_all(rwkv_model *m, unsigned flags, const char *tuning) {
    float *out = calloc(NT * V, sizeof *out);
    for (size_t i = 0; i < NT * V; i++) out[i] = NAN;
    rwkv_state *s = NULL;
    CHECK(rwkv_state_new(m, &s) == RWKV_OK, "state_new: %s", rwkv_last_error());
    if (!s) return out;
    if (tuning) CHECK(rwkv_state_load_tuning(s, test_shared(tuning)) == RWKV_OK, "tuning: %s", rwkv_last_error());
    CHECK(rwkv_eval(m, s, fox, NT, out, flags | RWKV_EVAL_ALL_LOGITS) == RWKV_OK, "eval: %s", rwkv_last_error());
    rwkv_state_free(s);
    return out;
}

static float *read_ref(const char *rel) {
    size_t n = 0;
    float *ref = test_read_file(test_shared(rel), &n);
    CHECK(ref && n == NT * V * 4, "fixture %s", rel);
    return ref && n == NT * V * 4 ? ref : NULL;
}

/* Max abs diff of a model's quick_fox logits to a fixture, in both modes; with all_chunks also at
 * chunk sizes 4 (several chunks of the decode kernel) and 16 (the tiled kernel and a tail). */
static void check_fixture(const char *model, const char *fixture, const char *tuning, float tol, int all_chunks) {
    float *ref = read_ref(fixture);
    if (!ref) return;
    const int chunks[] = {0, 4, 16};
    float worst = 0;
    for (size_t c = 0; c < (all_chunks ? 3u : 1u); c++) {
        rwkv_model *m = load(test_shared(model), "vulkan", chunks[c]);
        if (!m) continue;
        for (unsigned mode = 0; mode <= RWKV_EVAL_SERIAL; mode += RWKV_EVAL_SERIAL) {
            if (mode && c > 0) continue; /* serial mode does not chunk */
            float *l = run_all(m, mode, tuning);
            const float d = test_max_abs_diff(l, ref, NT * V);
            CHECK(d <= tol, "%s%s on vulkan (%s, chunk %d): max abs diff %g to the official logits", model,
                  tuning ? " + state tuning" : "", mode ? "serial" : "sequence", chunks[c], d);
            if (!(d <= worst)) worst = d;
            free(l);
        }
        rwkv_model_free(m);
    }
    printf("%-40s %s: max abs diff %.3g (tolerance %g)\n", model, tuning ? "from the tuned state" : "", worst, tol);
    free(ref);
}

static void test_fixtures(void) {
    const char *v7[] = {"models/tiny-rwkv-7v0-834K.pth", "models/tiny-rwkv-7v0-834K-fp16.pth",
                        "models/tiny-rwkv-7v0-834K-bf16.pth", "models/tiny-rwkv-7v0-834K-FP32.bin",
                        "models/tiny-rwkv-7v0-834K-FP16.bin"};
    for (size_t i = 0; i < sizeof v7 / sizeof v7[0]; i++) check_fixture(v7[i], FOX_REF, NULL, 1e-4f, i == 0);
    check_fixture("models/tiny-rwkv-7v0-834K.pth", "fixtures/tiny-7v0-834K/logits-all-quick_fox-from-state.bin",
                  "models/tiny-rwkv-7v0-834K-state.pth", 1e-4f, 1);
    /* the other generations (RWKV-6's fixture is the fp32 computation of the Q5_1 file's weights) */
    check_fixture("models/tiny-rwkv-6v0-3m-Q5_1.pth", "fixtures/tiny-6v0-3m/logits-all-quick_fox.bin", NULL, 1e-4f, 1);
    check_fixture("models/tiny-rwkv-6v0-3m-Q5_1.bin", "fixtures/tiny-6v0-3m/logits-all-quick_fox.bin", NULL, 1e-4f, 0);
    check_fixture("models/tiny-rwkv-5v2-730K.pth", "fixtures/tiny-5v2-730K/logits-all-quick_fox.bin", NULL, 1e-4f, 0);
    check_fixture("models/tiny-rwkv-5v1-730K.pth", "fixtures/tiny-5v1-730K/logits-all-quick_fox.bin", NULL, 1e-4f, 0);
    check_fixture("models/tiny-rwkv-4v0-660K.pth", "fixtures/tiny-4v0-660K/logits-all-quick_fox.bin", NULL, 1e-4f, 0);
}

/* Every quantized type (files written by rwkv_convert_file from the fp32 checkpoint, and rwkv.cpp's
 * Q5 files): within tests/test_formats.c's bounds of the official fp32 logits, and within 1e-4 of
 * the CPU backend's exact products on the same file (both dequantize the weights exactly). */
static void test_quantized(void) {
    float *ref = read_ref(FOX_REF);
    if (!ref) return;
    const char *types[] = {"f16", "bf16", "int8", "q5_0", "q5_1", "q4_0", "q4_1", "nf4", "iq4_nl", NULL, NULL};
    const float tols[] = {1e-3f, 1e-2f, 0.03f, 0.05f, 0.05f, 0.1f, 0.1f, 0.1f, 0.1f, 0.05f, 0.05f};
    char out[64];
    snprintf(out, sizeof out, "/tmp/test_vulkan_model_%ld.gguf", (long)getpid());
    for (size_t i = 0; i < sizeof tols / sizeof tols[0]; i++) {
        const char *path = out;
        if (types[i]) {
            CHECK(rwkv_convert_file(test_shared("models/tiny-rwkv-7v0-834K.pth"), out, types[i], NULL, NULL, NULL, NULL) ==
                      RWKV_OK,
                  "convert %s: %s", types[i], rwkv_last_error());
        } else {
            path = test_shared(i == 9 ? "models/tiny-rwkv-7v0-834K-Q5_0.bin" : "models/tiny-rwkv-7v0-834K-Q5_1.bin");
        }
        const char *name = types[i] ? types[i] : i == 9 ? "rwkv.cpp Q5_0" : "rwkv.cpp Q5_1";
        rwkv_model *g = load(path, "vulkan", 0), *c = load(path, "cpu", 0);
        if (g && c) {
            for (unsigned mode = 0; mode <= RWKV_EVAL_SERIAL; mode += RWKV_EVAL_SERIAL) {
                float *lg = run_all(g, mode, NULL), *lc = run_all(c, mode, NULL);
                const float d = test_max_abs_diff(lg, ref, NT * V), dc = test_max_abs_diff(lg, lc, NT * V);
                if (!mode)
                    printf("  %-14s on vulkan: max diff %.4f to fp32 (bound %g), %.3g to the CPU's exact products\n", name,
                           d, tols[i], dc);
                CHECK(d <= tols[i], "%s on vulkan (%s): max diff %g to the official fp32 logits", name,
                      mode ? "serial" : "sequence", d);
                CHECK(dc <= 1e-4f, "%s on vulkan (%s): max diff %g to the CPU backend's exact products", name,
                      mode ? "serial" : "sequence", dc);
                free(lg);
                free(lc);
            }
        }
        rwkv_model_free(g);
        rwkv_model_free(c);
    }
    unlink(out);
    free(ref);
}

/* rwkv_eval_batch on the GPU equals feeding each sequence on its own: 5 sequences (the decode
 * kernel) and 12 (the tiled kernel). */
static void test_batch(int nseq) {
    rwkv_model *m = load(test_shared("models/tiny-rwkv-7v0-834K.pth"), "vulkan", 16);
    if (!m) return;
    const char *prompts[4] = {"The quick", "In a hole in the ground", "Hello", "\"in"};
    rwkv_state *bs[16], *ss[16];
    int32_t next[16];
    float *bl = calloc((size_t)nseq * V, sizeof(float)), sl[V];
    for (int i = 0; i < nseq; i++) {
        int32_t tok[64];
        const char *p = prompts[i % 4];
        const size_t n = strlen(p) - (size_t)(i / 4); /* different history lengths */
        for (size_t j = 0; j < n; j++) tok[j] = (unsigned char)p[j];
        rwkv_state_new(m, &bs[i]);
        rwkv_state_new(m, &ss[i]);
        rwkv_eval(m, bs[i], tok, n - 1, NULL, 0);
        rwkv_eval(m, ss[i], tok, n - 1, NULL, 0);
        next[i] = tok[n - 1];
    }
    float worst = 0;
    for (int step = 0; step < 5; step++) {
        CHECK(rwkv_eval_batch(m, bs, next, (size_t)nseq, bl) == RWKV_OK, "batch: %s", rwkv_last_error());
        for (int i = 0; i < nseq; i++) {
            CHECK(rwkv_eval(m, ss[i], &next[i], 1, sl, 0) == RWKV_OK, "eval: %s", rwkv_last_error());
            const float d = test_max_abs_diff(bl + (size_t)i * V, sl, V);
            if (!(d <= worst)) worst = d;
            int best = 0;
            for (int t = 1; t < V; t++)
                if (bl[(size_t)i * V + t] > bl[(size_t)i * V + best]) best = t;
            next[i] = best;
        }
    }
    printf("batched decode of %d sequences vs one by one on vulkan: max abs diff %.3g\n", nseq, worst);
    CHECK(worst <= 1e-5f, "batched decode of %d differs by %g", nseq, worst);
    for (int i = 0; i < nseq; i++) {
        rwkv_state_free(bs[i]);
        rwkv_state_free(ss[i]);
    }
    free(bl);
    rwkv_model_free(m);
}

/* The hazard tracking leaves out barriers between independent ops: on a GPU that overlaps
 * dispatches, a wrongly omitted one would change results. With a barrier between every two ops the
 * logits must be the same (identical on lavapipe, which never overlaps). */
static void test_full_barriers(void) {
    const char *path = test_shared("models/tiny-rwkv-7v0-834K.pth");
    rwkv_model *a = load(path, "vulkan", 16);
    rwkv_vk_set_options(&(rwkv_vk_options){.validation = 1, .full_barriers = 1});
    rwkv_model *b = load(path, "vulkan", 16);
    rwkv_vk_set_options(&(rwkv_vk_options){.validation = 1});
    if (a && b)
        for (unsigned mode = 0; mode <= RWKV_EVAL_SERIAL; mode += RWKV_EVAL_SERIAL) {
            float *la = run_all(a, mode, NULL), *lb = run_all(b, mode, NULL);
            CHECK(!memcmp(la, lb, NT * V * sizeof(float)), "barriers where needed vs everywhere (%s): max diff %g",
                  mode ? "serial" : "sequence", test_max_abs_diff(la, lb, NT * V));
            free(la);
            free(lb);
        }
    rwkv_model_free(a);
    rwkv_model_free(b);
}

static void test_batches(void) {
    test_batch(5);
    test_batch(12);
}

/* A state fed on the GPU continues on the CPU like the GPU's own, and back; through
 * rwkv_state_get/set and through serialized bytes. */
static void test_state_moves(void) {
    const char *path = test_shared("models/tiny-rwkv-7v0-834K.pth");
    rwkv_model *g = load(path, "vulkan", 0), *c = load(path, "cpu", 0);
    if (!g || !c) {
        rwkv_model_free(g);
        rwkv_model_free(c);
        return;
    }
    float *ref = read_ref(FOX_REF);
    for (int dir = 0; dir < 2; dir++) { /* 0: GPU → CPU → GPU, 1: CPU → GPU → CPU */
        rwkv_model *a = dir ? c : g, *b = dir ? g : c;
        rwkv_state *sa = NULL, *sb = NULL, *sa2 = NULL;
        rwkv_state_new(a, &sa);
        rwkv_state_new(b, &sb);
        rwkv_state_new(a, &sa2);
        CHECK(rwkv_eval(a, sa, fox, 7, NULL, 0) == RWKV_OK, "eval: %s", rwkv_last_error());
        const size_t n = rwkv_state_n_floats(sa);
        float *buf = malloc(n * sizeof *buf);
        CHECK(rwkv_state_get(sa, buf, n) == RWKV_OK, "state_get: %s", rwkv_last_error());
        CHECK(rwkv_state_set(sb, buf, n) == RWKV_OK, "state_set: %s", rwkv_last_error());
        float la[V], lb[V], lc[V];
        CHECK(rwkv_eval(b, sb, fox + 7, 6, NULL, 0) == RWKV_OK, "eval after the move: %s", rwkv_last_error());
        /* and back, through serialized bytes */
        size_t bytes = rwkv_state_serialized_size(sb, NULL), written = 0;
        void *ser = malloc(bytes);
        CHECK(rwkv_state_serialize(sb, NULL, ser, bytes, &written) == RWKV_OK, "serialize: %s", rwkv_last_error());
        CHECK(rwkv_state_deserialize(sa2, ser, written, NULL) == RWKV_OK, "deserialize: %s", rwkv_last_error());
        CHECK(rwkv_eval(a, sa2, fox + 13, NT - 13, la, 0) == RWKV_OK, "eval: %s", rwkv_last_error());
        CHECK(rwkv_eval(a, sa, fox + 7, NT - 7, lb, 0) == RWKV_OK, "eval: %s", rwkv_last_error());
        CHECK(rwkv_eval(b, sb, fox + 13, NT - 13, lc, 0) == RWKV_OK, "eval: %s", rwkv_last_error());
        const float d1 = test_max_abs_diff(la, lb, V), d2 = test_max_abs_diff(lc, lb, V);
        const float d3 = ref ? test_max_abs_diff(lb, ref + (NT - 1) * V, V) : 1e9f;
        printf("state %s: moved and back vs never moved %.3g, moved vs never moved %.3g, to the fixture %.3g\n",
               dir ? "CPU -> GPU -> CPU" : "GPU -> CPU -> GPU", d1, d2, d3);
        CHECK(d1 <= 1e-5f && d2 <= 1e-5f && d3 <= 1e-4f, "state moved %s: %g %g %g", dir ? "from the CPU" : "from the GPU",
              d1, d2, d3);
        CHECK(rwkv_state_n_tokens(sa2) == rwkv_state_n_tokens(sb), "token count carried by the serialized state: %llu, %llu",
              (unsigned long long)rwkv_state_n_tokens(sa2), (unsigned long long)rwkv_state_n_tokens(sb));
        free(buf);
        free(ser);
        rwkv_state_free(sa);
        rwkv_state_free(sb);
        rwkv_state_free(sa2);
    }
    /* a GPU state has no host pointer; copies and clones stay on the GPU */
    rwkv_state *s = NULL, *t = NULL;
    rwkv_state_new(g, &s);
    CHECK(rwkv_state_data(s) == NULL, "rwkv_state_data of a GPU state is NULL");
    rwkv_eval(g, s, fox, 9, NULL, 0);
    CHECK(rwkv_state_clone(s, &t) == RWKV_OK, "clone: %s", rwkv_last_error());
    float l1[V], l2[V];
    rwkv_eval(g, s, fox + 9, NT - 9, l1, 0);
    rwkv_eval(g, t, fox + 9, NT - 9, l2, 0);
    CHECK(!memcmp(l1, l2, sizeof l1), "a cloned GPU state continues identically");
    rwkv_state_reset(t);
    rwkv_eval(g, t, fox, NT, l2, 0);
    CHECK(ref && test_max_abs_diff(l2, ref + (NT - 1) * V, V) <= 1e-4f, "reset GPU state");
    rwkv_state_free(s);
    rwkv_state_free(t);
    free(ref);
    rwkv_model_free(g);
    rwkv_model_free(c);
}

/* States made, set, cloned, read and freed on one thread while another evaluates on the same GPU
 * model (the server does this): both get right results. */
typedef struct conc {
    rwkv_model *m;
    const float *ref;
    int bad_evals, bad_states, rounds;
} conc;

static void *conc_eval(void *arg) {
    conc *c = arg;
    for (int i = 0; i < c->rounds; i++) {
        rwkv_state *s = NULL;
        float l[V];
        if (rwkv_state_new(c->m, &s) != RWKV_OK || rwkv_eval(c->m, s, fox, NT, l, i % 2 ? RWKV_EVAL_SERIAL : 0) != RWKV_OK ||
            !(test_max_abs_diff(l, c->ref + (NT - 1) * V, V) <= 1e-4f))
            c->bad_evals++;
        rwkv_state_free(s);
    }
    return NULL;
}

static void test_concurrent_states(void) {
    float *ref = read_ref(FOX_REF);
    rwkv_model *m = load(test_shared("models/tiny-rwkv-7v0-834K.pth"), "vulkan", 0);
    if (!m || !ref) {
        rwkv_model_free(m);
        free(ref);
        return;
    }
    conc c = {.m = m, .ref = ref, .rounds = 6};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, conc_eval, &c) == 0, "thread");
    rwkv_state *probe = NULL;
    rwkv_state_new(m, &probe);
    const size_t n = rwkv_state_n_floats(probe);
    rwkv_state_free(probe);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    for (int i = 0; i < 40; i++) {
        for (size_t j = 0; j < n; j++) a[j] = (float)((i * 131 + (int)j) % 977) / 977.0f;
        rwkv_state *s = NULL, *t = NULL;
        int ok = rwkv_state_new(m, &s) == RWKV_OK && rwkv_state_set(s, a, n) == RWKV_OK &&
                 rwkv_state_clone(s, &t) == RWKV_OK && rwkv_state_get(t, b, n) == RWKV_OK && !memcmp(a, b, n * sizeof *a);
        rwkv_state_reset(s);
        ok = ok && rwkv_state_get(s, b, n) == RWKV_OK;
        for (size_t j = 0; ok && j < n; j++) ok = b[j] == 0.0f;
        c.bad_states += !ok;
        rwkv_state_free(s);
        rwkv_state_free(t);
    }
    pthread_join(th, NULL);
    CHECK(c.bad_evals == 0 && c.bad_states == 0, "concurrent states: %d bad evals, %d bad state round trips",
          c.bad_evals, c.bad_states);
    free(a);
    free(b);
    free(ref);
    rwkv_model_free(m);
}

/* `rwkv devices` lists the device the tests run on. */
static void test_cli_devices(void) {
    char cmd[1024] = "";
    test_shell_quote(cmd, sizeof cmd, test_rwkv_bin());
    char out[64], err[64];
    snprintf(out, sizeof out, "/tmp/test_vulkan_model_%ld.out", (long)getpid());
    snprintf(err, sizeof err, "/tmp/test_vulkan_model_%ld.err", (long)getpid());
    snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), " devices --json >%s 2>%s", out, err);
    test_run_result r;
    test_system_capture(cmd, out, err, &r);
    CHECK(r.rc == 0 && strstr(r.out, "{\"id\":\"cpu\"") && strstr(r.out, "{\"id\":\"vulkan:0\"") &&
              strstr(r.out, "\"usable\":true"),
          "rwkv devices --json: exit %d, out '%s', err '%s'", r.rc, r.out, r.err);
    test_result_free(&r);
    unlink(out);
    unlink(err);
}

/* Too little device memory: a clear error at load, not a crash; then a lost device. */
static void test_bad_cases(void) {
    const char *path = test_shared("models/tiny-rwkv-7v0-834K.pth");
    rwkv_vk_set_options(&(rwkv_vk_options){.validation = 1, .mem_limit = 256 << 10});
    rwkv_model_params p;
    rwkv_model_params_default(&p);
    p.device = "vulkan";
    rwkv_model *m = NULL;
    rwkv_status st = rwkv_model_load(path, &p, &m);
    CHECK(st == RWKV_ERR_NOMEM && !m && strstr(rwkv_last_error(), "device memory"),
          "a model larger than the device memory: status %d, '%s'", (int)st, rwkv_last_error());
    printf("model on a 256 KiB device: %s\n", rwkv_last_error());

    /* device memory running out at every point of a load (caps growing by 1/4): each failure is a
     * clean RWKV_ERR_NOMEM, and the first load that fits computes the right logits */
    float *ref = read_ref(FOX_REF);
    int n_fail = 0, loaded = 0;
    for (uint64_t cap = 64 << 10; cap < (64u << 20) && !loaded; cap += cap / 4) {
        rwkv_vk_set_options(&(rwkv_vk_options){.validation = 1, .mem_limit = cap});
        m = NULL;
        st = rwkv_model_load(path, &p, &m);
        if (st == RWKV_OK) {
            loaded = 1;
            float *l = run_all(m, 0, NULL);
            CHECK(ref && test_max_abs_diff(l, ref, NT * V) <= 1e-4f, "the first load that fits (%llu KiB)",
                  (unsigned long long)(cap >> 10));
            printf("model loads on a device capped at %llu KiB, after %d loads that did not fit\n",
                   (unsigned long long)(cap >> 10), n_fail);
            free(l);
            rwkv_model_free(m);
        } else {
            n_fail++;
            CHECK(st == RWKV_ERR_NOMEM && !m, "cap %llu KiB: status %d, '%s'", (unsigned long long)(cap >> 10), (int)st,
                  rwkv_last_error());
        }
    }
    CHECK(loaded && n_fail > 5, "memory caps: %d failed loads, loaded %d", n_fail, loaded);
    free(ref);

    rwkv_vk_set_options(&(rwkv_vk_options){.validation = 1, .lose_after_submits = 40});
    m = load(path, "vulkan", 0);
    if (m) {
        rwkv_state *s = NULL;
        rwkv_state_new(m, &s);
        float l[V];
        int failed_at = -1;
        for (int i = 0; i < 200 && failed_at < 0; i++)
            if (rwkv_eval(m, s, &fox[i % NT], 1, l, 0) != RWKV_OK) failed_at = i;
        CHECK(failed_at >= 0 && strstr(rwkv_last_error(), "lost"), "a lost device fails eval (at %d: '%s')", failed_at,
              rwkv_last_error());
        CHECK(rwkv_eval(m, s, fox, 3, l, 0) != RWKV_OK, "and every later eval");
        const size_t n = rwkv_state_n_floats(s);
        float *buf = malloc(n * sizeof *buf);
        CHECK(rwkv_state_get(s, buf, n) != RWKV_OK, "and state reads");
        free(buf);
        rwkv_state_free(s);
        rwkv_model_free(m);
    }
    rwkv_vk_set_options(&(rwkv_vk_options){.validation = 1});
    p.device = "vulkan:77";
    st = rwkv_model_load(path, &p, &m);
    CHECK(st == RWKV_ERR_UNSUPPORTED && strstr(rwkv_last_error(), "77"), "device 77: %d '%s'", (int)st, rwkv_last_error());
}

int main(void) {
    if (!test_require_shared()) return test_summary("test_vulkan_model");
    size_t plen = 0;
    unsigned char *prompt = test_read_file(test_shared("fixtures/prompts/quick_fox.bin"), &plen);
    CHECK(prompt && plen == NT, "quick_fox prompt");
    if (!prompt || plen != NT) return test_summary("test_vulkan_model");
    for (int i = 0; i < NT; i++) fox[i] = prompt[i];
    free(prompt);
    rwkv_vk_set_options(&(rwkv_vk_options){.validation = 1});
    rwkv_device_info d;
    int n = 0;
    if (rwkv_devices(&d, 1, &n) != RWKV_OK || n < 1) {
        fprintf(stderr, "FAIL test_vulkan_model: no Vulkan device on this machine: %s\n", rwkv_last_error());
        test_failed++;
        return test_summary("test_vulkan_model");
    }
    printf("device: %s\n", d.name);
    struct {
        const char *name;
        void (*fn)(void);
    } parts[] = {{"fixtures", test_fixtures}, {"quantized", test_quantized}, {"batch", test_batches},
                 {"state moves", test_state_moves}, {"concurrent states", test_concurrent_states},
                 {"barriers", test_full_barriers},
                 {"bad cases", test_bad_cases}, {"rwkv devices", test_cli_devices}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        const time_t t0 = time(NULL);
        parts[i].fn();
        printf("-- %s: %lld s\n", parts[i].name, (long long)(time(NULL) - t0));
    }
    CHECK(rwkv_vk_messages() == 0, "%u validation messages (printed above)", rwkv_vk_messages());
    printf("validation messages: %u\n", rwkv_vk_messages());
    return test_summary("test_vulkan_model");
}
