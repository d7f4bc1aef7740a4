/* grammar_mask.c — cost of grammar-constrained sampling per token against decode time.
 * Generates with a model under a JSON Schema (default: the tool-call schema below) and times,
 * for every token, the mask (rwkv_grammar_apply: mask lookup or trie walk, plus -inf on the
 * logits), the sampler, the matcher's advance (rwkv_grammar_accept) and the decode step
 * (rwkv_eval of one token). Each generation gets a fresh matcher (an empty cache: the worst
 * case); --shared makes them clones of one matcher instead. Then the generated token sequences
 * are replayed --reps times (fresh matchers again, no model) and each token's mask time is the
 * minimum over the repetitions ("replay"): the cost itself, without the scheduler's noise on a
 * loaded machine. Prints one JSON line.
 * Build and run: bench/grammar.sh. */
#include "rwkv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *DEFAULT_SCHEMA =
    "{\"type\":\"object\",\"properties\":{"
    "\"name\":{\"enum\":[\"get_weather\",\"search\",\"draw\"]},"
    "\"arguments\":{\"type\":\"object\",\"properties\":{"
    "\"location\":{\"type\":\"string\",\"maxLength\":40},"
    "\"unit\":{\"enum\":[\"celsius\",\"fahrenheit\"]},"
    "\"days\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":14},"
    "\"when\":{\"type\":\"string\",\"format\":\"date\"},"
    "\"query\":{\"type\":\"string\"},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":12},\"maxItems\":4}},"
    "\"required\":[\"location\"]}},"
    "\"required\":[\"name\",\"arguments\"]}";

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* p-th percentile (nearest rank) of v[0..n), sorted in place; ms. */
static double pct(double *v, size_t n, double p) {
    if (!n) return 0;
    qsort(v, n, sizeof *v, cmp_d);
    size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return v[k - 1] * 1e3;
}

static double mean(const double *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += v[i];
    return n ? s / (double)n * 1e3 : 0;
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) p[n] = 0, *len = (size_t)n;
    return p;
}

#define DIE(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

int main(int argc, char **argv) {
    const char *model_path = NULL, *vocab = NULL, *schema_path = NULL;
    int gen = 256, seqs = 8, threads = 0, shared = 0, reps = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--gen") && i + 1 < argc) gen = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seqs") && i + 1 < argc) seqs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--schema") && i + 1 < argc) schema_path = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--shared")) shared = 1;
        else if (!model_path) model_path = argv[i];
        else if (!vocab) vocab = argv[i];
        else DIE("usage: grammar_mask MODEL VOCAB [--gen N] [--seqs N] [--threads N] [--schema FILE] [--shared]");
    }
    if (!model_path || !vocab) DIE("usage: grammar_mask MODEL VOCAB [--gen N] [--seqs N] [--threads N] [--schema FILE] [--shared]");
    size_t slen = strlen(DEFAULT_SCHEMA);
    char *schema = schema_path ? read_all(schema_path, &slen) : strdup(DEFAULT_SCHEMA);
    if (!schema) DIE("cannot read %s", schema_path);

    rwkv_model_params mp;
    rwkv_model_params_default(&mp);
    mp.n_threads = threads;
    rwkv_model *model;
    rwkv_tokenizer *tok;
    if (rwkv_model_load(model_path, &mp, &model)) DIE("model: %s", rwkv_last_error());
    if (rwkv_tokenizer_load(vocab, &tok)) DIE("vocab: %s", rwkv_last_error());
    rwkv_model_info info;
    rwkv_model_get_info(model, &info);
    int nv = info.n_vocab;

    double t0 = now();
    rwkv_token_trie *trie;
    if (rwkv_token_trie_new(tok, 0, &trie)) DIE("trie: %s", rwkv_last_error());
    double t_trie = now() - t0;
    t0 = now();
    rwkv_grammar *g;
    if (rwkv_grammar_from_json_schema(schema, slen, 0, &g)) DIE("schema: %s", rwkv_last_error());
    double t_compile = now() - t0;

    size_t cap = (size_t)gen * (size_t)seqs;
    double *t_mask = malloc(cap * sizeof *t_mask), *t_samp = malloc(cap * sizeof *t_samp);
    double *t_acc = malloc(cap * sizeof *t_acc), *t_dec = malloc(cap * sizeof *t_dec);
    double *t_rep = malloc(cap * sizeof *t_rep);
    int32_t *toks = malloc(cap * sizeof *toks); /* the generated tokens, sequence after sequence */
    size_t *seq_end = calloc((size_t)seqs, sizeof *seq_end);
    float *logits = malloc((size_t)nv * sizeof *logits), *first = malloc((size_t)nv * sizeof *first);
    rwkv_state *st0, *st;
    if (rwkv_state_new(model, &st0) || rwkv_state_new(model, &st)) DIE("state: %s", rwkv_last_error());
    int32_t prompt[64];
    size_t np = 0;
    const char *ptext = "User: call a tool\n\nAssistant:";
    rwkv_tokenizer_encode(tok, ptext, strlen(ptext), prompt, &np);
    if (rwkv_eval(model, st0, prompt, np, first, 0)) DIE("prompt: %s", rwkv_last_error());
    /* warm-up: fault in the weights */
    int32_t w = 11;
    rwkv_state_copy(st, st0);
    rwkv_eval(model, st, &w, 1, logits, 0);
    rwkv_grammar_matcher *root = NULL;
    if (shared && rwkv_grammar_matcher_new(g, trie, &root)) DIE("matcher: %s", rwkv_last_error());
    size_t n = 0, n_done = 0;
    for (int q = 0; q < seqs; q++) {
        rwkv_sampler_params sp;
        rwkv_sampler_params_default(&sp);
        sp.seed = (uint64_t)q + 1;
        rwkv_sampler *s;
        rwkv_grammar_matcher *m;
        if (rwkv_sampler_new(&sp, nv, tok, &s)) DIE("sampler: %s", rwkv_last_error());
        if (shared ? rwkv_grammar_matcher_clone(root, &m) : rwkv_grammar_matcher_new(g, trie, &m))
            DIE("matcher: %s", rwkv_last_error());
        rwkv_state_copy(st, st0);
        memcpy(logits, first, (size_t)nv * sizeof *logits);
        for (int k = 0; k < gen; k++) {
            int n_allowed = 0;
            double a = now();
            if (rwkv_grammar_apply(m, logits, nv, &n_allowed)) DIE("apply: %s", rwkv_last_error());
            double b = now();
            int32_t t = n_allowed ? rwkv_sampler_sample(s, logits) : -1;
            double c = now();
            if (t >= 0 && rwkv_grammar_accept(m, t)) DIE("accept: %s", rwkv_last_error());
            double d = now();
            t_mask[n] = b - a;
            t_samp[n] = c - b;
            t_acc[n] = d - c;
            toks[n] = t;
            if (t <= 0 || rwkv_grammar_matcher_end(m) == RWKV_GRAMMAR_MUST_END) {
                t_dec[n] = 0;
                n++;
                n_done++;
                break;
            }
            double e = now();
            if (rwkv_eval(model, st, &t, 1, logits, 0)) DIE("eval: %s", rwkv_last_error());
            t_dec[n] = now() - e;
            n++;
        }
        rwkv_grammar_matcher_free(m);
        rwkv_sampler_free(s);
        seq_end[q] = n;
    }
    /* replay: the same tokens, fresh matchers, mask only; per token the best of reps */
    for (size_t i = 0; i < n; i++) t_rep[i] = 1e9;
    uint32_t *mask = malloc(((size_t)nv + 31) / 32 * sizeof *mask);
    for (int r = 0; r < reps; r++) {
        size_t i = 0;
        if (shared) { /* every repetition starts from an empty cache, shared by its sequences */
            rwkv_grammar_matcher_free(root);
            if (rwkv_grammar_matcher_new(g, trie, &root)) DIE("matcher: %s", rwkv_last_error());
        }
        for (int q = 0; q < seqs; q++) {
            rwkv_grammar_matcher *m;
            if (shared ? rwkv_grammar_matcher_clone(root, &m) : rwkv_grammar_matcher_new(g, trie, &m))
                DIE("matcher: %s", rwkv_last_error());
            for (; i < seq_end[q]; i++) {
                int na;
                double a = now();
                if (rwkv_grammar_mask(m, mask, ((size_t)nv + 31) / 32, &na)) DIE("mask: %s", rwkv_last_error());
                double b = now() - a;
                if (b < t_rep[i]) t_rep[i] = b;
                if (toks[i] >= 0 && rwkv_grammar_accept(m, toks[i])) DIE("replay: %s", rwkv_last_error());
            }
            rwkv_grammar_matcher_free(m);
        }
    }
    free(mask);
    size_t n_dec = 0;
    for (size_t i = 0; i < n; i++)
        if (t_dec[i] > 0) t_dec[n_dec++] = t_dec[i];
    double mask_mean = mean(t_mask, n), mask_max = pct(t_mask, n, 100);
    double m50 = pct(t_mask, n, 50), m90 = pct(t_mask, n, 90), m99 = pct(t_mask, n, 99);
    double d50 = pct(t_dec, n_dec, 50), d99 = pct(t_dec, n_dec, 99);
    double rmean = mean(t_rep, n), r50 = pct(t_rep, n, 50), r90 = pct(t_rep, n, 90), r99 = pct(t_rep, n, 99),
           rmax = pct(t_rep, n, 100);
    printf("{\"model\":\"%s\",\"threads\":%d,\"matchers\":\"%s\",\"sequences\":%d,\"finished\":%zu,"
           "\"tokens\":%zu,\"trie_ms\":%.1f,\"compile_ms\":%.2f,"
           "\"mask_ms\":{\"p50\":%.4f,\"p90\":%.4f,\"p99\":%.4f,\"max\":%.3f,\"mean\":%.4f},"
           "\"replay_mask_ms\":{\"reps\":%d,\"p50\":%.4f,\"p90\":%.4f,\"p99\":%.4f,\"max\":%.3f,\"mean\":%.4f},"
           "\"accept_ms\":{\"p50\":%.4f,\"p99\":%.4f},\"sample_ms\":{\"p50\":%.4f,\"p99\":%.4f},"
           "\"decode_ms\":{\"p50\":%.3f,\"p99\":%.3f},\"mask_p50_over_decode_p50\":%.4f}\n",
           model_path, threads, shared ? "clones" : "fresh", seqs, n_done, n, t_trie * 1e3,
           t_compile * 1e3, m50, m90, m99, mask_max, mask_mean, reps, r50, r90, r99, rmax, rmean, pct(t_acc, n, 50), pct(t_acc, n, 99),
           pct(t_samp, n, 50), pct(t_samp, n, 99), d50, d99, d50 > 0 ? m50 / d50 : 0);
    rwkv_grammar_matcher_free(root);
    rwkv_state_free(st);
    rwkv_state_free(st0);
    rwkv_grammar_free(g);
    rwkv_token_trie_free(trie);
    rwkv_tokenizer_free(tok);
    rwkv_model_free(model);
    free(schema);
    free(t_mask);
    free(t_samp);
    free(t_acc);
    free(t_dec);
    free(t_rep);
    free(toks);
    free(seq_end);
    free(logits);
    free(first);
    return 0;
}
