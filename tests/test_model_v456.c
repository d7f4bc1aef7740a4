/* test_model_v456.c — RWKV-4, 5.1, 5.2 and 6 forward passes against the official reference
 * outputs (../shared/fixtures/tiny-*), serial and sequence mode, chunk sizes, state copies, and
 * the v5/v6 state-tuning transpose on a synthetic state file. */
#include "common/test.h"
#include "io/pth_write.h"
#include "rwkv.h"

#include <math.h>
#include <unistd.h>

#define V 256
#define NT 19 /* bytes of quick_fox */

typedef struct gen_case {
    const char *model;       /* under shared/ */
    const char *fixture;     /* folder under shared/fixtures/ */
    const char *generation;
    int n_layer, n_embd, n_head, head_size;
} gen_case;

static const gen_case cases[] = {
    {"models/tiny-rwkv-4v0-660K.pth", "tiny-4v0-660K", "4", 4, 128, 0, 0},
    {"models/tiny-rwkv-5v1-730K.pth", "tiny-5v1-730K", "5.1", 12, 64, 8, 8},
    {"models/tiny-rwkv-5v2-730K.pth", "tiny-5v2-730K", "5.2", 12, 64, 8, 8},
    {"models/tiny-rwkv-6v0-3m-Q5_1.pth", "tiny-6v0-3m", "6", 12, 128, 16, 8},
};

static rwkv_model *load(const char *rel, int chunk) {
    rwkv_model_params p;
    rwkv_model_params_default(&p);
    p.seq_chunk = chunk;
    rwkv_model *m = NULL;
    rwkv_status st = rwkv_model_load(test_shared(rel), &p, &m);
    CHECK(st == RWKV_OK, "load %s (chunk %d): %s", rel, chunk, rwkv_last_error());
    return m;
}

/* Logits after every token, from a fresh state (or from `from`, when given). */
static float *run_all(rwkv_model *m, const rwkv_state *from, const int32_t *tok, size_t n, unsigned flags) {
    float *out = calloc(n * V, sizeof *out);
    rwkv_state *s = NULL;
    CHECK((from ? rwkv_state_clone(from, &s) : rwkv_state_new(m, &s)) == RWKV_OK, "state: %s", rwkv_last_error());
    if (!s) return out;
    CHECK(rwkv_eval(m, s, tok, n, out, flags | RWKV_EVAL_ALL_LOGITS) == RWKV_OK, "eval: %s", rwkv_last_error());
    rwkv_state_free(s);
    return out;
}

/* Split feeding, clone, copy and reset continue exactly like one uninterrupted run. */
static void check_state_api(rwkv_model *m, const int32_t *tok, const float *seq, const char *name) {
    rwkv_state *a = NULL, *b = NULL, *c = NULL;
    float la[V], lb[V], lc[V];
    rwkv_state_new(m, &a);
    rwkv_state_new(m, &c);
    CHECK(rwkv_eval(m, a, tok, 7, NULL, 0) == RWKV_OK, "%s: feed 7", name);
    CHECK(rwkv_state_clone(a, &b) == RWKV_OK, "%s: clone", name);
    CHECK(rwkv_state_copy(c, a) == RWKV_OK, "%s: copy", name);
    rwkv_eval(m, a, tok + 7, NT - 7, la, 0);
    rwkv_eval(m, b, tok + 7, NT - 7, lb, RWKV_EVAL_SERIAL);
    rwkv_eval(m, c, tok + 7, NT - 7, lc, 0);
    float d1 = test_max_abs_diff(la, seq + (NT - 1) * V, V);
    CHECK(d1 <= 1e-5f, "%s: split feed vs one run %g", name, d1);
    CHECK(test_max_abs_diff(la, lb, V) <= 1e-5f, "%s: clone continues identically", name);
    CHECK(!memcmp(la, lc, sizeof la), "%s: copy continues identically", name);
    CHECK(rwkv_state_n_tokens(c) == NT, "%s: token count %llu", name, (unsigned long long)rwkv_state_n_tokens(c));
    /* reset goes back to the model's zero state (RWKV-4: pp = -1e30, not 0) */
    rwkv_state_reset(a);
    rwkv_state *fresh = NULL;
    rwkv_state_new(m, &fresh);
    CHECK(fresh && !memcmp(rwkv_state_data(a), rwkv_state_data(fresh), rwkv_state_n_floats(a) * sizeof(float)),
          "%s: reset equals a new state", name);
    rwkv_eval(m, a, tok, NT, la, 0);
    CHECK(test_max_abs_diff(la, seq + (NT - 1) * V, V) <= 1e-5f, "%s: after reset", name);
    rwkv_state_free(fresh);
    rwkv_state_free(a);
    rwkv_state_free(b);
    rwkv_state_free(c);
}

/* RWKV-5/6: a state-tuning file holds time_state [H][value][key]; loading it must transpose into
 * the engine's [H][key][value]. Builds such a file from a state reached by feeding tokens (the
 * WKV part transposed), loads it into a fresh state and compares with the original WKV part. */
static void check_state_tuning(rwkv_model *m, const gen_case *gc, const int32_t *tok) {
    const int L = gc->n_layer, C = gc->n_embd, H = gc->n_head, N = gc->head_size;
    const size_t per_layer = 2 * (size_t)C + (size_t)H * N * N;
    rwkv_state *a = NULL, *b = NULL;
    rwkv_state_new(m, &a);
    rwkv_state_new(m, &b);
    static const int32_t hello[] = {'H', 'e', 'l', 'l', 'o', ',', ' ', 'w', 'o', 'r', 'l', 'd'};
    rwkv_eval(m, a, hello, sizeof hello / sizeof hello[0], NULL, 0);
    CHECK(rwkv_state_n_floats(a) == (size_t)L * per_layer, "%s: state size", gc->generation);
    const float *sa = rwkv_state_data(a);

    char path[256];
    snprintf(path, sizeof path, "/tmp/test_model_v456_state_%d_%s.pth", (int)getpid(), gc->fixture);
    rwkv_pth_writer *w = NULL;
    rwkv_status st = rwkv_pth_writer_open(path, NULL, 0, &w);
    CHECK(st == RWKV_OK, "pth writer: %s", rwkv_last_error());
    float *ts = malloc((size_t)H * N * N * sizeof *ts);
    for (int i = 0; st == RWKV_OK && i < L; i++) {
        const float *S = sa + (size_t)i * per_layer + 2 * (size_t)C; /* [h][key][value] */
        for (int h = 0; h < H; h++)
            for (int kk = 0; kk < N; kk++)
                for (int vv = 0; vv < N; vv++)
                    ts[((size_t)h * N + vv) * N + kk] = S[((size_t)h * N + kk) * N + vv];
        char name[64];
        snprintf(name, sizeof name, "blocks.%d.att.time_state", i);
        const int64_t shape[3] = {H, N, N};
        st = rwkv_pth_writer_add(w, name, RWKV_DT_F32, 3, shape, ts);
    }
    free(ts);
    CHECK(st == RWKV_OK && rwkv_pth_writer_close(w) == RWKV_OK, "write %s: %s", path, rwkv_last_error());

    st = rwkv_state_load_tuning(b, path);
    CHECK(st == RWKV_OK, "%s: load_tuning: %s", gc->generation, rwkv_last_error());
    const float *sb = rwkv_state_data(b);
    int wkv_same = 1, shift_zero = 1;
    for (int i = 0; i < L; i++) {
        const float *la = sa + (size_t)i * per_layer, *lb = sb + (size_t)i * per_layer;
        for (int j = 0; j < 2 * C; j++) shift_zero &= lb[j] == 0.0f;
        wkv_same &= !memcmp(la + 2 * C, lb + 2 * C, (size_t)H * N * N * sizeof(float));
    }
    CHECK(wkv_same, "%s: time_state is transposed into [head][key][value]", gc->generation);
    CHECK(shift_zero, "%s: token shift starts at zero", gc->generation);
    /* the loaded state is what reset returns to, and evaluation from it matches a state built by hand */
    float *manual = calloc(rwkv_state_n_floats(a), sizeof(float));
    for (int i = 0; i < L; i++)
        memcpy(manual + (size_t)i * per_layer + 2 * C, sa + (size_t)i * per_layer + 2 * C,
               (size_t)H * N * N * sizeof(float));
    memcpy(rwkv_state_data(a), manual, rwkv_state_n_floats(a) * sizeof(float));
    float la[V], lb[V];
    rwkv_eval(m, b, tok, NT, NULL, 0);
    rwkv_state_reset(b);
    rwkv_eval(m, b, tok, NT, lb, 0);
    rwkv_eval(m, a, tok, NT, la, 0);
    CHECK(test_max_abs_diff(la, lb, V) <= 1e-5f, "%s: eval from the tuned state", gc->generation);
    free(manual);
    unlink(path);
    rwkv_state_free(a);
    rwkv_state_free(b);
}

static void check_case(const gen_case *gc, const int32_t *tok) {
    char rel[128];
    snprintf(rel, sizeof rel, "fixtures/%s/logits-all-quick_fox.bin", gc->fixture);
    size_t flen = 0;
    float *ref = test_read_file(test_shared(rel), &flen);
    CHECK(ref && flen == NT * V * 4, "%s readable", rel);
    rwkv_model *m = load(gc->model, 0);
    if (!ref || !m) {
        free(ref);
        rwkv_model_free(m);
        return;
    }
    rwkv_model_info info;
    rwkv_model_get_info(m, &info);
    CHECK(!strcmp(info.generation, gc->generation), "generation %s, expected %s", info.generation, gc->generation);
    CHECK(info.n_layer == gc->n_layer && info.n_embd == gc->n_embd && info.n_vocab == V &&
              info.n_head == gc->n_head && info.head_size == gc->head_size,
          "%s: shape L%d C%d V%d H%d N%d", gc->generation, info.n_layer, info.n_embd, info.n_vocab,
          info.n_head, info.head_size);
    size_t want_state = !strcmp(gc->generation, "4")
                            ? (size_t)gc->n_layer * 5 * gc->n_embd
                            : (size_t)gc->n_layer * (2 * (size_t)gc->n_embd +
                                                     (size_t)gc->n_head * gc->head_size * gc->head_size);
    CHECK(info.state_bytes == want_state * 4, "%s: state bytes %zu", gc->generation, info.state_bytes);
    CHECK(!strcmp(info.weight_dtype, "fp32") && !strcmp(info.format, "pth"), "%s: info strings", gc->generation);

    /* sequence and serial mode against the official logits after every byte */
    float *seq = run_all(m, NULL, tok, NT, 0);
    float *ser = run_all(m, NULL, tok, NT, RWKV_EVAL_SERIAL);
    float dseq = test_max_abs_diff(seq, ref, NT * V), dser = test_max_abs_diff(ser, ref, NT * V);
    float dss = test_max_abs_diff(seq, ser, NT * V);
    printf("RWKV-%-3s %-14s sequence vs official %.3g, serial vs official %.3g, sequence vs serial %.3g\n",
           gc->generation, gc->fixture, dseq, dser, dss);
    CHECK(dseq <= 1e-4f, "%s: sequence mode max abs diff %g", gc->generation, dseq);
    CHECK(dser <= 1e-4f, "%s: serial mode max abs diff %g", gc->generation, dser);
    CHECK(dss <= 1e-5f, "%s: sequence vs serial %g", gc->generation, dss);

    /* last-token logits only */
    {
        snprintf(rel, sizeof rel, "fixtures/%s/logits-quick_fox.bin", gc->fixture);
        size_t l1 = 0;
        float *last = test_read_file(test_shared(rel), &l1);
        float out[V];
        rwkv_state *s = NULL;
        rwkv_state_new(m, &s);
        CHECK(rwkv_eval(m, s, tok, NT, out, 0) == RWKV_OK, "%s: eval last", gc->generation);
        CHECK(last && l1 == V * 4 && test_max_abs_diff(out, last, V) <= 1e-4f, "%s: last-token logits",
              gc->generation);
        rwkv_state_free(s);
        free(last);
    }

    /* chunk sizes do not change results */
    const int chunks[] = {1, 3, 64};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        rwkv_model *mc = load(gc->model, chunks[c]);
        if (!mc) continue;
        float *o = run_all(mc, NULL, tok, NT, 0);
        float d = test_max_abs_diff(o, seq, NT * V);
        CHECK(d <= 1e-5f, "%s: chunk %d vs default: %g", gc->generation, chunks[c], d);
        free(o);
        rwkv_model_free(mc);
    }

    check_state_api(m, tok, seq, gc->generation);
    if (gc->n_head > 0) {
        check_state_tuning(m, gc, tok);
    } else {
        rwkv_state *s = NULL;
        rwkv_state_new(m, &s);
        CHECK(rwkv_state_load_tuning(s, test_shared("models/tiny-rwkv-7v0-834K-state.pth")) == RWKV_ERR_UNSUPPORTED,
              "RWKV-4 state tuning unsupported: %s", rwkv_last_error());
        rwkv_state_free(s);
    }

    free(seq);
    free(ser);
    free(ref);
    rwkv_model_free(m);
}

int main(void) {
    if (!test_require_shared()) return test_summary("test_model_v456");
    size_t plen = 0;
    unsigned char *prompt = test_read_file(test_shared("fixtures/prompts/quick_fox.bin"), &plen);
    CHECK(prompt && plen == NT, "quick_fox readable");
    if (!prompt || plen != NT) return test_summary("test_model_v456");
    int32_t tok[NT];
    for (int i = 0; i < NT; i++) tok[i] = prompt[i];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i], tok);

    /* rwkv.cpp's expected logits for RWKV-4 after "in (its v5 files differ by design: GroupNorm eps) */
    {
        rwkv_model *m = load("models/tiny-rwkv-4v0-660K.pth", 0);
        size_t l = 0;
        float *exp_in = test_read_file(test_shared("models/expected-logits-4v0-660K.bin"), &l);
        if (m && exp_in && l == V * 4) {
            const int32_t in[3] = {34, 105, 110};
            float out[V], out_ser[V];
            rwkv_state *s = NULL;
            rwkv_state_new(m, &s);
            CHECK(rwkv_eval(m, s, in, 3, out, 0) == RWKV_OK, "eval \"in");
            rwkv_state_reset(s);
            CHECK(rwkv_eval(m, s, in, 3, out_ser, RWKV_EVAL_SERIAL) == RWKV_OK, "eval \"in serial");
            float d = test_max_abs_diff(out, exp_in, V), ds = test_max_abs_diff(out_ser, exp_in, V);
            printf("expected-logits-4v0-660K (\"in): sequence %.3g, serial %.3g\n", d, ds);
            CHECK(d <= 1e-4f && ds <= 1e-4f, "expected-logits-4v0-660K diff %g %g", d, ds);
            rwkv_state_free(s);
        } else {
            CHECK(0, "expected-logits-4v0-660K.bin readable");
        }
        free(exp_in);
        rwkv_model_free(m);
    }

    free(prompt);
    return test_summary("test_model_v456");
}
