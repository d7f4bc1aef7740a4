/* test_sampler.c — the token sampler: parameter checks, greedy, determinism, top-p / top-k,
 * the distribution after temperature, repetition penalties, NaN/inf robustness and speed. */
#include "common/test.h"
#include "rwkv.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* ---- helpers ---------------------------------------------------------------------------- */

static rwkv_sampler *make(const rwkv_sampler_params *p, int n_vocab) {
    rwkv_sampler *s = NULL;
    rwkv_status st = rwkv_sampler_new(p, n_vocab, NULL, &s);
    CHECK(st == RWKV_OK && s, "rwkv_sampler_new failed: %s", rwkv_last_error());
    return s;
}

/* Deterministic test data: splitmix64 → uniform / roughly normal numbers. */
static uint64_t tr_state = 12345;
static double tr_uniform(void) {
    uint64_t z = (tr_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1p-53;
}
static double tr_normal(void) {
    double s = 0;
    for (int i = 0; i < 12; i++) s += tr_uniform();
    return s - 6.0;
}

/* Reference pip distribution (double precision, full sort): softmax, top-p, top-k (exactly k,
 * lowest ids on ties), p ** (1/T), normalised. out[n]. */
static const double *cmp_base;
static int cmp_desc(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (cmp_base[i] != cmp_base[j]) return cmp_base[i] > cmp_base[j] ? -1 : 1;
    return i - j;
}
static void reference_dist(const float *logits, int n, float temperature, float top_p, int top_k,
                           double *out) {
    double m = -INFINITY, z = 0;
    for (int i = 0; i < n; i++)
        if (logits[i] > m) m = logits[i];
    for (int i = 0; i < n; i++) z += out[i] = exp((double)logits[i] - m);
    for (int i = 0; i < n; i++) out[i] /= z;
    int *ord = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) ord[i] = i;
    cmp_base = out;
    qsort(ord, (size_t)n, sizeof(int), cmp_desc);
    if (top_p < 1.0f) {
        double cum = 0, cutoff = 0;
        for (int i = 0; i < n; i++) {
            cum += out[ord[i]];
            if (cum >= top_p) {
                cutoff = out[ord[i]];
                break;
            }
        }
        for (int i = 0; i < n; i++)
            if (out[i] < cutoff) out[i] = 0;
    }
    if (top_k > 0 && top_k < n)
        for (int i = top_k; i < n; i++) out[ord[i]] = 0;
    double t = 0;
    for (int i = 0; i < n; i++) t += out[i] = pow(out[i], 1.0 / temperature);
    for (int i = 0; i < n; i++) out[i] /= t;
    free(ord);
}

/* Draws `draws` tokens from a copy of logits each time; counts[n] gets the histogram.
 * Returns the number of out-of-range ids (expected 0). */
static int histogram(rwkv_sampler *s, const float *logits, int n, int draws, int *counts) {
    float *buf = malloc(sizeof(float) * (size_t)n);
    int bad = 0;
    memset(counts, 0, sizeof(int) * (size_t)n);
    for (int d = 0; d < draws; d++) {
        memcpy(buf, logits, sizeof(float) * (size_t)n);
        int32_t t = rwkv_sampler_sample(s, buf);
        if (t < 0 || t >= n) bad++;
        else counts[t]++;
    }
    free(buf);
    return bad;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_params(void) {
    rwkv_sampler_params p;
    rwkv_sampler_params_default(&p);
    CHECK(p.temperature == 1.0f && p.top_p == 1.0f && p.top_k == 0, "defaults");
    CHECK(p.presence_penalty == 0.0f && p.frequency_penalty == 0.0f, "default penalties");
    CHECK(p.penalty_decay == 0.996f && p.seed == 0, "default decay/seed");

    rwkv_sampler *s = NULL;
    CHECK(rwkv_sampler_new(&p, 10, NULL, &s) == RWKV_OK && s, "valid params");
    rwkv_sampler_free(s);
    CHECK(rwkv_sampler_new(NULL, 10, NULL, &s) == RWKV_OK && s, "NULL params = defaults");
    rwkv_sampler_free(s);
    rwkv_sampler_free(NULL);
    rwkv_sampler_reset(NULL);
    CHECK(rwkv_sampler_new(&p, 10, NULL, NULL) == RWKV_ERR_INVALID_ARG, "NULL out");
    s = (rwkv_sampler *)&p;
    CHECK(rwkv_sampler_new(&p, 0, NULL, &s) == RWKV_ERR_INVALID_ARG && s == NULL, "n_vocab 0");
    CHECK(rwkv_sampler_new(&p, -5, NULL, &s) == RWKV_ERR_INVALID_ARG, "n_vocab < 0");

    struct { const char *what; rwkv_sampler_params p; } bad[16];
    int nb = 0;
#define BAD(field, value)                                                                       \
    do {                                                                                        \
        bad[nb].what = #field " = " #value;                                                     \
        rwkv_sampler_params_default(&bad[nb].p);                                                \
        bad[nb].p.field = value;                                                                \
        nb++;                                                                                   \
    } while (0)
    BAD(temperature, -0.5f);
    BAD(temperature, 100.5f);
    BAD(temperature, NAN);
    BAD(temperature, INFINITY);
    BAD(top_p, -0.01f);
    BAD(top_p, 1.01f);
    BAD(top_p, NAN);
    BAD(top_k, -1);
    BAD(presence_penalty, INFINITY);
    BAD(presence_penalty, NAN);
    BAD(frequency_penalty, -INFINITY);
    BAD(frequency_penalty, NAN);
    BAD(penalty_decay, -0.1f);
    BAD(penalty_decay, 1.5f);
    BAD(penalty_decay, NAN);
#undef BAD
    rwkv_sampler *good = make(&p, 10);
    for (int i = 0; i < nb; i++) {
        s = NULL;
        rwkv_status st = rwkv_sampler_new(&bad[i].p, 10, NULL, &s);
        CHECK(st == RWKV_ERR_INVALID_ARG && s == NULL, "new accepted %s", bad[i].what);
        CHECK(strlen(rwkv_last_error()) > 0, "no message for %s", bad[i].what);
        CHECK(rwkv_sampler_set_params(good, &bad[i].p) == RWKV_ERR_INVALID_ARG,
              "set_params accepted %s", bad[i].what);
    }
    rwkv_sampler_params_default(&p);
    p.temperature = -1;
    rwkv_sampler_new(&p, 10, NULL, &s);
    CHECK(strstr(rwkv_last_error(), "temperature") != NULL, "message: %s", rwkv_last_error());

    /* limits are accepted */
    rwkv_sampler_params_default(&p);
    p.temperature = 100.0f;
    p.top_p = 0.0f;
    p.penalty_decay = 0.0f;
    CHECK(rwkv_sampler_set_params(good, &p) == RWKV_OK, "limits 1");
    p.temperature = 0.0f;
    p.top_p = 1.0f;
    p.penalty_decay = 1.0f;
    p.top_k = 1000;
    p.presence_penalty = -3.0f;
    CHECK(rwkv_sampler_set_params(good, &p) == RWKV_OK, "limits 2");
    CHECK(rwkv_sampler_set_params(good, NULL) == RWKV_ERR_INVALID_ARG, "NULL params");
    CHECK(rwkv_sampler_set_params(NULL, &p) == RWKV_ERR_INVALID_ARG, "NULL sampler");
    float l[2] = {0, 1};
    CHECK(rwkv_sampler_sample(NULL, l) == 0, "sample(NULL) returns 0");
    CHECK(rwkv_sampler_sample(good, NULL) == 0, "sample(NULL logits) returns 0");
    rwkv_sampler_free(good);
}

static void test_greedy(void) {
    rwkv_sampler_params p;
    rwkv_sampler_params_default(&p);
    p.temperature = 0.0f;
    rwkv_sampler *s = make(&p, 8);
    float a[8] = {0.1f, 2.0f, -1.0f, 3.5f, 3.4f, 0.0f, -INFINITY, 1.0f};
    CHECK(rwkv_sampler_sample(s, a) == 3, "argmax");
    float b[8] = {1, 5, 2, 5, 5, 0, 0, 0};
    CHECK(rwkv_sampler_sample(s, b) == 1, "lowest id on ties");
    float c[8] = {NAN, 1, NAN, 2, NAN, 2, 0, 0};
    CHECK(rwkv_sampler_sample(s, c) == 3, "NaN ignored");
    float d[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
                  -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    CHECK(rwkv_sampler_sample(s, d) == 0, "all -inf -> 0");
    float e[8] = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    CHECK(rwkv_sampler_sample(s, e) == 0, "all NaN -> 0");
    float f[8] = {0, 0, 0, 0, 0, INFINITY, 0, INFINITY};
    CHECK(rwkv_sampler_sample(s, f) == 5, "+inf wins");
    rwkv_sampler_free(s);

    /* top_k = 1 is greedy too, whatever the temperature */
    rwkv_sampler_params_default(&p);
    p.top_k = 1;
    p.temperature = 2.0f;
    s = make(&p, 8);
    int ok = 1;
    for (int i = 0; i < 200; i++) {
        float g[8] = {1, 5, 2, 5, 4.9f, 0, 0, 0};
        ok &= rwkv_sampler_sample(s, g) == 1;
    }
    CHECK(ok, "top_k = 1 is greedy");
    rwkv_sampler_free(s);

    /* greedy consumes no randomness: greedy draws then random draws match pure random draws */
    rwkv_sampler_params_default(&p);
    p.seed = 77;
    rwkv_sampler *r1 = make(&p, 50), *r2 = make(&p, 50);
    rwkv_sampler_params g = p;
    g.temperature = 0.0f;
    rwkv_sampler_set_params(r1, &g);
    float buf[50];
    for (int k = 0; k < 5; k++) {
        for (int i = 0; i < 50; i++) buf[i] = (float)(i % 7);
        rwkv_sampler_sample(r1, buf);
    }
    rwkv_sampler_set_params(r1, &p);
    int same = 1;
    for (int k = 0; k < 100; k++) {
        float x[50], y[50];
        for (int i = 0; i < 50; i++) x[i] = y[i] = (float)(i % 5);
        same &= rwkv_sampler_sample(r1, x) == rwkv_sampler_sample(r2, y);
    }
    CHECK(same, "greedy steps consumed randomness");
    rwkv_sampler_free(r1);
    rwkv_sampler_free(r2);
}

static void test_determinism(void) {
    enum { N = 1000, DRAWS = 60 };
    rwkv_sampler_params p;
    rwkv_sampler_params_default(&p);
    p.seed = 42;
    rwkv_sampler *a = make(&p, N), *b = make(&p, N);
    p.seed = 43;
    rwkv_sampler *c = make(&p, N);
    static float la[N], lb[N], lc[N];
    int same_ab = 1, diff_ac = 0;
    for (int d = 0; d < DRAWS; d++) {
        for (int i = 0; i < N; i++) la[i] = lb[i] = lc[i] = 0.0f; /* uniform */
        int32_t ta = rwkv_sampler_sample(a, la), tb = rwkv_sampler_sample(b, lb);
        int32_t tc = rwkv_sampler_sample(c, lc);
        same_ab &= ta == tb;
        diff_ac += ta != tc;
    }
    CHECK(same_ab, "same seed, same sequence");
    CHECK(diff_ac > DRAWS / 2, "different seeds differ (%d of %d)", diff_ac, DRAWS);

    /* set_params keeps the random stream (its seed is ignored) */
    rwkv_sampler_params q = p;
    q.seed = 42;
    rwkv_sampler *x = make(&q, N), *y = make(&q, N);
    q.seed = 999;
    int same = 1;
    for (int d = 0; d < DRAWS; d++) {
        if (d == DRAWS / 2) CHECK(rwkv_sampler_set_params(x, &q) == RWKV_OK, "set_params");
        for (int i = 0; i < N; i++) la[i] = lb[i] = 0.0f;
        same &= rwkv_sampler_sample(x, la) == rwkv_sampler_sample(y, lb);
    }
    CHECK(same, "set_params kept the random stream");
    rwkv_sampler_free(a);
    rwkv_sampler_free(b);
    rwkv_sampler_free(c);
    rwkv_sampler_free(x);
    rwkv_sampler_free(y);
}

static void test_top_p(void) {
    enum { N = 16 };
    int counts[N];
    rwkv_sampler_params p;
    rwkv_sampler_params_default(&p);

    /* the top token alone has > top_p: only it survives */
    float one[N] = {0};
    one[9] = 6.0f; /* p ~ 0.96 */
    p.top_p = 0.9f;
    p.seed = 1;
    rwkv_sampler *s = make(&p, N);
    CHECK(histogram(s, one, N, 2000, counts) == 0, "range");
    CHECK(counts[9] == 2000, "top-p kept one token: %d of 2000", counts[9]);
    rwkv_sampler_free(s);

    /* ties with the cutoff survive: tokens 3 and 7 tie at the top */
    float tie[N];
    for (int i = 0; i < N; i++) tie[i] = -2.0f;
    tie[3] = tie[7] = 1.0f;
    p.top_p = 0.1f;
    s = make(&p, N);
    histogram(s, tie, N, 4000, counts);
    CHECK(counts[3] + counts[7] == 4000, "only the tied top tokens");
    CHECK(counts[3] > 1700 && counts[7] > 1700, "both tied tokens drawn: %d %d", counts[3],
          counts[7]);
    rwkv_sampler_free(s);

    /* top_p = 0 keeps the top token (and its ties) */
    p.top_p = 0.0f;
    s = make(&p, N);
    histogram(s, one, N, 500, counts);
    CHECK(counts[9] == 500, "top_p 0 keeps the top token");
    histogram(s, tie, N, 2000, counts);
    CHECK(counts[3] + counts[7] == 2000 && counts[3] > 0 && counts[7] > 0, "top_p 0 with ties");
    rwkv_sampler_free(s);

    /* a tie at the cutoff below the top: probs ~ {0.4, 0.2, 0.2, 0.2 (x3 tokens), rest tiny}.
     * top_p 0.5: cumsum 0.4, 0.6 -> cutoff 0.2 -> all three 0.2 tokens survive. */
    float t2[N];
    for (int i = 0; i < N; i++) t2[i] = -30.0f;
    t2[0] = logf(0.4f);
    t2[4] = t2[5] = t2[6] = logf(0.2f);
    p.top_p = 0.5f;
    s = make(&p, N);
    histogram(s, t2, N, 10000, counts);
    CHECK(counts[0] + counts[4] + counts[5] + counts[6] == 10000, "survivors of tied cutoff");
    CHECK(counts[4] > 1500 && counts[5] > 1500 && counts[6] > 1500, "all tied drawn: %d %d %d",
          counts[4], counts[5], counts[6]);
    rwkv_sampler_free(s);
}

/* Compares the surviving set of top-p (+ top-k) with a full-sort reference on random logits.
 * A high temperature flattens the survivors so each of them gets drawn. */
static void test_top_p_reference(void) {
    enum { N = 3000, DRAWS = 3000 };
    static float logits[N];
    static double ref[N];
    static int counts[N];
    const float tops[] = {0.3f, 0.6f, 0.85f, 0.95f};
    int mismatches = 0, checked = 0;
    for (int trial = 0; trial < 16; trial++) {
        double scale = 4.0 + trial % 4;
        for (int i = 0; i < N; i++) logits[i] = (float)(tr_normal() * scale);
        float top_p = tops[trial % 4];
        int top_k = trial >= 8 ? 5 + trial : 0;
        rwkv_sampler_params p;
        rwkv_sampler_params_default(&p);
        p.top_p = top_p;
        p.top_k = top_k;
        reference_dist(logits, N, 1.0f, top_p, top_k, ref);
        int n_ref = 0;
        for (int i = 0; i < N; i++) n_ref += ref[i] > 0;
        if (n_ref > 60) continue; /* too many to see each drawn */
        p.temperature = 100.0f;
        p.seed = (uint64_t)trial;
        rwkv_sampler *s = make(&p, N);
        CHECK(histogram(s, logits, N, DRAWS, counts) == 0, "range");
        for (int i = 0; i < N; i++)
            if ((ref[i] > 0) != (counts[i] > 0)) mismatches++;
        checked++;
        rwkv_sampler_free(s);
    }
    CHECK(checked >= 8, "too few reference trials (%d)", checked);
    CHECK(mismatches == 0, "surviving set differs from the full-sort reference in %d places",
          mismatches);
}

static void test_top_k(void) {
    enum { N = 200 };
    static float logits[N];
    static int counts[N];
    for (int i = 0; i < N; i++) logits[i] = fminf((float)(tr_normal() * 0.5), 2.0f);
    logits[17] = 2.5f;
    logits[150] = 2.4f;
    logits[3] = 2.3f;
    rwkv_sampler_params p;
    rwkv_sampler_params_default(&p);
    p.top_k = 2;
    p.temperature = 1.5f;
    rwkv_sampler *s = make(&p, N);
    histogram(s, logits, N, 5000, counts);
    CHECK(counts[17] + counts[150] == 5000, "top-k=2 outside the top 2");
    CHECK(counts[17] > 2000 && counts[150] > 2000, "both drawn: %d %d", counts[17], counts[150]);
    rwkv_sampler_free(s);

    /* ties at the k-th value: exactly k kept, lowest ids first */
    float tie[8] = {0, 1, 1, 1, 0, 1, 0, 0};
    p.top_k = 2;
    s = make(&p, 8);
    int c8[8];
    histogram(s, tie, 8, 4000, c8);
    CHECK(c8[1] + c8[2] == 4000 && c8[1] > 1500 && c8[2] > 1500, "k ties: %d %d %d %d", c8[1],
          c8[2], c8[3], c8[5]);
    p.top_k = 3;
    rwkv_sampler_set_params(s, &p);
    float tie2[8] = {0, 1, 2, 1, 0, 1, 0, 0};
    histogram(s, tie2, 8, 4000, c8);
    CHECK(c8[2] + c8[1] + c8[3] == 4000 && c8[1] > 0 && c8[3] > 0, "k=3 keeps 2, 1, 3");
    /* few likely tokens, k larger than their number: the k - 10 lowest ids of the tied rest */
    {
        enum { M = 100 };
        float lk[M];
        int cm[M];
        for (int i = 0; i < M; i++) lk[i] = -20.0f;
        for (int i = 0; i < 10; i++) lk[i * 9 + 5] = 0.0f; /* 5, 14, ..., 86 */
        rwkv_sampler_params q;
        rwkv_sampler_params_default(&q);
        q.top_k = 50;
        q.temperature = 100.0f; /* flattens: the -20 tokens get weight ~0.82 */
        rwkv_sampler *sk = make(&q, M);
        histogram(sk, lk, M, 20000, cm);
        int ok = 1, rest = 0;
        for (int i = 0; i < M; i++) {
            bool top = lk[i] == 0.0f, keep = top || rest < 40;
            if (!top) rest++;
            if (keep != (cm[i] > 0)) ok = 0;
        }
        CHECK(ok, "top-k over ties in the tail keeps the lowest ids");
        rwkv_sampler_free(sk);
    }
    /* top_k >= n_vocab is off */
    p.top_k = 8;
    rwkv_sampler_set_params(s, &p);
    histogram(s, tie2, 8, 4000, c8);
    int all = 1;
    for (int i = 0; i < 8; i++) all &= c8[i] > 0;
    CHECK(all, "top_k = n_vocab keeps everything");
    rwkv_sampler_free(s);
}

/* Empirical frequencies against the pip distribution. With DRAWS = 40000 the standard deviation
 * of a frequency is <= 0.0025; the tolerance 0.012 is ~5 sigma (and the seed is fixed). */
static void test_distribution(void) {
    enum { N = 8, DRAWS = 40000 };
    const float logits[N] = {2.0f, 1.5f, 1.0f, 0.5f, 0.0f, -1.0f, -2.0f, 0.7f};
    struct { float t, top_p; int top_k; } cfg[] = {
        {1.0f, 1.0f, 0}, {0.7f, 0.9f, 0}, {1.6f, 0.8f, 0}, {1.3f, 1.0f, 3}, {0.5f, 0.95f, 4},
        {1.0f, 0.6f, 0},
    };
    int counts[N];
    double ref[N];
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        rwkv_sampler_params p;
        rwkv_sampler_params_default(&p);
        p.temperature = cfg[c].t;
        p.top_p = cfg[c].top_p;
        p.top_k = cfg[c].top_k;
        p.seed = 1000 + c;
        rwkv_sampler *s = make(&p, N);
        CHECK(histogram(s, logits, N, DRAWS, counts) == 0, "range");
        reference_dist(logits, N, cfg[c].t, cfg[c].top_p, cfg[c].top_k, ref);
        double worst = 0;
        int zero_ok = 1;
        for (int i = 0; i < N; i++) {
            double f = (double)counts[i] / DRAWS, d = fabs(f - ref[i]);
            if (d > worst) worst = d;
            if (ref[i] == 0 && counts[i] != 0) zero_ok = 0;
        }
        CHECK(worst < 0.012, "config %zu: frequency off by %.4f", c, worst);
        CHECK(zero_ok, "config %zu: a removed token was drawn", c);
        rwkv_sampler_free(s);
    }
}

/* The expected penalised logit, computed as the sampler documents it. */
static float penalised(float logit, double presence, double count, double frequency) {
    return (float)((double)logit - (presence + count * frequency));
}

static void test_penalties(void) {
    enum { N = 10 };
    rwkv_sampler_params p;
    rwkv_sampler_params_default(&p);
    p.temperature = 0.0f;
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.25f;
    p.penalty_decay = 0.5f;
    rwkv_sampler *s = make(&p, N);
    float base[N] = {0.1f, 0.2f, 0.3f, 10.0f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1.0f};
    float l[N];

    memcpy(l, base, sizeof l);
    CHECK(rwkv_sampler_sample(s, l) == 3, "step 1");
    CHECK(memcmp(l, base, sizeof l) == 0, "no penalty before any token");

    memcpy(l, base, sizeof l); /* count[3] = 1 */
    CHECK(rwkv_sampler_sample(s, l) == 3, "step 2");
    int ok = l[3] == penalised(10.0f, 0.5, 1.0, 0.25);
    for (int i = 0; i < N; i++)
        if (i != 3) ok &= l[i] == base[i];
    CHECK(ok, "step 2 penalties: %.9g", (double)l[3]);

    float b2[N] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 10.0f, 0.7f, 0.8f, 0.9f, 1.0f};
    memcpy(l, b2, sizeof l); /* count[3] = 1 * 0.5 + 1 = 1.5 */
    CHECK(rwkv_sampler_sample(s, l) == 5, "step 3");
    CHECK(l[3] == penalised(0.4f, 0.5, 1.5, 0.25) && l[5] == 10.0f, "step 3 penalties");

    memcpy(l, b2, sizeof l); /* count[3] = 0.75, count[5] = 1 */
    rwkv_sampler_sample(s, l);
    CHECK(l[3] == penalised(0.4f, 0.5, 0.75, 0.25), "step 4 decayed: %.9g", (double)l[3]);
    CHECK(l[5] == penalised(10.0f, 0.5, 1.0, 0.25), "step 4 token 5");
    /* count[3] = 0.375, count[5] = 1.5: six more steps on token 5 */
    double c3 = 0.375, c5 = 1.5;
    ok = 1;
    for (int k = 0; k < 6; k++) {
        memcpy(l, b2, sizeof l);
        rwkv_sampler_sample(s, l);
        ok &= l[3] == penalised(0.4f, 0.5, c3, 0.25) && l[5] == penalised(10.0f, 0.5, c5, 0.25);
        c3 *= 0.5;
        c5 = c5 * 0.5 + 1;
    }
    CHECK(ok, "decay over several steps");

    /* changing the penalties keeps the counts */
    rwkv_sampler_params q = p;
    q.presence_penalty = 0.0f;
    q.frequency_penalty = 2.0f;
    rwkv_sampler_set_params(s, &q);
    memcpy(l, b2, sizeof l);
    rwkv_sampler_sample(s, l);
    CHECK(l[3] == penalised(0.4f, 0.0, c3, 2.0) && l[5] == penalised(10.0f, 0.0, c5, 2.0),
          "set_params kept the counts");

    /* reset clears them */
    rwkv_sampler_reset(s);
    memcpy(l, b2, sizeof l);
    rwkv_sampler_sample(s, l);
    CHECK(memcmp(l, b2, sizeof l) == 0, "reset cleared the counts");
    rwkv_sampler_free(s);

    /* decay 0: the count of a token drops to 0 but (as in pip) it stays seen: presence stays */
    rwkv_sampler_params_default(&p);
    p.temperature = 0.0f;
    p.presence_penalty = 1.0f;
    p.frequency_penalty = 1.0f;
    p.penalty_decay = 0.0f;
    s = make(&p, N);
    memcpy(l, base, sizeof l);
    rwkv_sampler_sample(s, l); /* 3 */
    memcpy(l, b2, sizeof l);
    rwkv_sampler_sample(s, l); /* 5; count[3] was 1 */
    CHECK(l[3] == penalised(0.4f, 1.0, 1.0, 1.0), "decay 0 step 2");
    memcpy(l, b2, sizeof l);
    rwkv_sampler_sample(s, l); /* count[3] = 0, count[5] = 1 */
    CHECK(l[3] == penalised(0.4f, 1.0, 0.0, 1.0) && l[5] == penalised(10.0f, 1.0, 1.0, 1.0),
          "decay 0: presence stays");
    rwkv_sampler_free(s);

    /* penalties also steer random sampling: a big presence penalty forbids repeats */
    rwkv_sampler_params_default(&p);
    p.presence_penalty = 1000.0f;
    p.penalty_decay = 1.0f;
    p.seed = 5;
    s = make(&p, N);
    int seen[N] = {0}, repeats = 0;
    for (int k = 0; k < N; k++) {
        for (int i = 0; i < N; i++) l[i] = 0.0f;
        int32_t t = rwkv_sampler_sample(s, l);
        repeats += seen[t]++;
    }
    CHECK(repeats == 0, "presence penalty: %d repeats in %d draws", repeats, N);
    rwkv_sampler_free(s);
}

/* The tokenizer rule: tokens of only spaces/tabs/digits add weight 0 (but become seen). */
static void test_blank_digits(void) {
    rwkv_tokenizer *tok = NULL;
    if (rwkv_tokenizer_new_bytes(&tok) != RWKV_OK || !tok) {
        CHECK(0, "byte tokenizer: %s", rwkv_last_error());
        return;
    }
    rwkv_sampler_params p;
    rwkv_sampler_params_default(&p);
    p.temperature = 0.0f;
    p.frequency_penalty = 1.0f;
    p.penalty_decay = 1.0f;
    rwkv_sampler *s = NULL;
    CHECK(rwkv_sampler_new(&p, 256, tok, &s) == RWKV_OK, "new with tokenizer");
    float l[256];
    const int pick[4] = {'5', ' ', 'a', '\t'};
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < 256; i++) l[i] = 0.0f;
        l[pick[k]] = 5.0f;
        CHECK(rwkv_sampler_sample(s, l) == pick[k], "pick %d", pick[k]);
    }
    for (int i = 0; i < 256; i++) l[i] = 0.0f;
    l[0] = 50.0f;
    rwkv_sampler_sample(s, l);
    CHECK(l['5'] == 0.0f && l[' '] == 0.0f && l['\t'] == 0.0f, "blank/digit weight 0");
    CHECK(l['a'] == -1.0f, "letter weight 1: %g", (double)l['a']);
    /* presence applies to blank/digit tokens too (pip: they are in `occurrence`) */
    p.presence_penalty = 0.5f;
    rwkv_sampler_set_params(s, &p);
    for (int i = 0; i < 256; i++) l[i] = 0.0f;
    l[0] = 50.0f;
    rwkv_sampler_sample(s, l);
    CHECK(l['5'] == -0.5f && l['a'] == -1.5f && l['b'] == 0.0f, "presence on blank/digits");
    rwkv_sampler_free(s);
    rwkv_tokenizer_free(tok);
}

static void test_nonfinite(void) {
    enum { N = 64 };
    struct { float t, top_p; int top_k; float pres; } cfg[] = {
        {1.0f, 1.0f, 0, 0}, {0.5f, 0.9f, 0, 0}, {1.0f, 0.5f, 3, 1.0f}, {3.0f, 1.0f, 5, 0},
        {0.0f, 1.0f, 0, 0.5f}, {1e-30f, 0.7f, 0, 0}, {100.0f, 0.0f, 0, 0},
    };
    float l[N];
    int bad = 0, inf_ok = 1;
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        rwkv_sampler_params p;
        rwkv_sampler_params_default(&p);
        p.temperature = cfg[c].t;
        p.top_p = cfg[c].top_p;
        p.top_k = cfg[c].top_k;
        p.presence_penalty = cfg[c].pres;
        rwkv_sampler *s = make(&p, N);
        for (int pattern = 0; pattern < 6; pattern++) {
            for (int rep = 0; rep < 50; rep++) {
                for (int i = 0; i < N; i++) {
                    switch (pattern) {
                    case 0: l[i] = NAN; break;
                    case 1: l[i] = -INFINITY; break;
                    case 2: l[i] = i % 3 == 0 ? NAN : (float)tr_normal(); break;
                    case 3: l[i] = i == 10 || i == 40 ? INFINITY : (float)tr_normal(); break;
                    case 4: l[i] = i % 2 ? -INFINITY : (i % 4 ? NAN : 1e38f); break;
                    default: l[i] = i == 7 ? -1e38f : -INFINITY; break;
                    }
                }
                int32_t t = rwkv_sampler_sample(s, l);
                if (t < 0 || t >= N) bad++;
                if (pattern == 3 && t != 10 && t != 40) inf_ok = 0;
                if (pattern == 5 && t != 7) inf_ok = 0;
            }
        }
        rwkv_sampler_free(s);
    }
    CHECK(bad == 0, "%d out-of-range ids", bad);
    CHECK(inf_ok, "+inf tokens / the only finite token must win");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time per sample on a 65536 vocabulary: "lm" logits look like a language model's (a few
 * strong candidates over a broad tail), "flat" ones are a wide Gaussian (the slow case: tens of
 * thousands of tokens survive top-p). */
static void test_speed(void) {
    enum { N = 65536, REPS = 200 };
    static float lm[N], flat[N], l[N];
    for (int i = 0; i < N; i++) {
        lm[i] = (float)(tr_normal() * 2.0);
        flat[i] = (float)(tr_normal() * 1.5);
    }
    for (int i = 0; i < 30; i++) lm[(int)(tr_uniform() * N)] = 8.0f + (float)(tr_uniform() * 10.0);
    struct { const char *name; const float *base; float t, top_p; int top_k; float pres, freq; } cfg[] = {
        {"lm T=1 top_p=1", lm, 1.0f, 1.0f, 0, 0, 0},
        {"lm T=1 top_p=0.85", lm, 1.0f, 0.85f, 0, 0, 0},
        {"lm T=0.7 top_p=1", lm, 0.7f, 1.0f, 0, 0, 0},
        {"lm T=1 top_p=0.3 pres/freq", lm, 1.0f, 0.3f, 0, 0.5f, 0.5f},
        {"lm T=1 top_k=50", lm, 1.0f, 1.0f, 50, 0, 0},
        {"flat T=1 top_p=0.85", flat, 1.0f, 0.85f, 0, 0, 0},
        {"flat T=0.7 top_p=0.5", flat, 0.7f, 0.5f, 0, 0, 0},
        {"flat T=1 top_k=50", flat, 1.0f, 1.0f, 50, 0, 0},
        {"lm greedy", lm, 0.0f, 1.0f, 0, 0, 0},
    };
    double worst = 0;
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        rwkv_sampler_params p;
        rwkv_sampler_params_default(&p);
        p.temperature = cfg[c].t;
        p.top_p = cfg[c].top_p;
        p.top_k = cfg[c].top_k;
        p.presence_penalty = cfg[c].pres;
        p.frequency_penalty = cfg[c].freq;
        rwkv_sampler *s = make(&p, N);
        double t0 = now_s();
        int bad = 0;
        for (int r = 0; r < REPS; r++) {
            memcpy(l, cfg[c].base, sizeof l);
            int32_t t = rwkv_sampler_sample(s, l);
            bad += t < 0 || t >= N;
        }
        double us = (now_s() - t0) / REPS * 1e6;
        if (us > worst) worst = us;
        printf("sampler speed, 65536 vocab, %-28s %7.1f us/sample (CPU time)\n",
               cfg[c].name, us);
        CHECK(bad == 0, "range");
        rwkv_sampler_free(s);
    }
    /* Reported only: no timing assertions in unit tests (CI machines are noisy). */
    printf("sampler speed, worst configuration: %.1f us/sample\n", worst);
}

int main(void) {
    test_params();
    test_greedy();
    test_determinism();
    test_top_p();
    test_top_p_reference();
    test_top_k();
    test_distribution();
    test_penalties();
    test_blank_digits();
    test_nonfinite();
    test_speed();
    return test_summary("test_sampler");
}
