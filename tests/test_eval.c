/* test_eval.c — runs the built `rwkv eval` ($BUILD/rwkv) on the tiny byte-level RWKV-7 model and
 * checks its numbers against an independent recomputation from `rwkv logits --all` output:
 * perplexity of a text (one window and --ctx windows), LAMBADA accuracy/perplexity on real and
 * hand-written examples (JSON escapes, the pad token), and a table of bad inputs that must each
 * give one "rwkv: error:" line and a non-zero exit, never a crash. */
#include "common/test.h"

#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];
static const char *model_path;

/* Path of name inside the temporary directory (static buffer rotated over 64 slots: callers
 * hold at most a few at a time; the runners below keep their own). */
static const char *tmp_path(const char *name) {
    static char buf[64][512];
    static int slot;
    char *b = buf[slot++ & 63];
    snprintf(b, sizeof buf[0], "%s/%s", tmpdir, name);
    return b;
}

/* Runs `rwkv args...` (NULL-terminated) with stdin from /dev/null, capturing stdout and stderr. */
static void run_rwkv(test_run_result *r, ...) {
    const char *argv[64];
    int n = 0;
    argv[n++] = test_rwkv_bin();
    va_list ap;
    va_start(ap, r);
    for (const char *a; n < 63 && (a = va_arg(ap, const char *)) != NULL;) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    static char out_path[512], err_path[512];
    snprintf(out_path, sizeof out_path, "%s/stdout", tmpdir);
    snprintf(err_path, sizeof err_path, "%s/stderr", tmpdir);
    memset(r, 0, sizeof *r);
    pid_t pid = fork();
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || o < 0 || e < 0) _exit(126);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        r->rc = -1;
    else if (WIFSIGNALED(status))
        r->rc = 128 + WTERMSIG(status);
    else
        r->rc = WEXITSTATUS(status);
    r->out = test_read_file(out_path, &r->out_len);
    r->err = test_read_file(err_path, &r->err_len);
    if (!r->out) r->out = calloc(1, 1);
    if (!r->err) r->err = calloc(1, 1);
}

/* Writes len bytes to a file in the temporary directory; returns its path (static slot). */
static const char *write_tmp(const char *name, const void *data, size_t len) {
    const char *p = tmp_path(name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
    return p;
}

/* The number after "key": in a JSON object printed on one line; NAN if absent. */
static double json_get(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    if (!p) return NAN;
    return strtod(p + strlen(pat), NULL);
}

static bool rel_close(double a, double b, double tol) {
    return fabs(a - b) <= tol * fabs(b);
}

/* Logits of the byte model after every token of the byte string text[0..len) (or of the ids in
 * tokens, when not NULL), from `rwkv logits --all`. Returns malloc'd [len][256] floats or NULL. */
static float *all_logits(const char *text, size_t len, const char *tokens) {
    test_run_result r;
    static char out[512];
    snprintf(out, sizeof out, "%s/logits.bin", tmpdir);
    if (tokens) {
        run_rwkv(&r, "logits", "-m", model_path, "--tokens", tokens, "--all", "-o", out, "-t", "1",
                 NULL);
    } else {
        const char *in = write_tmp("logits_in.txt", text, len);
        run_rwkv(&r, "logits", "-m", model_path, "-f", in, "--all", "-o", out, "-t", "1", NULL);
    }
    int rc = r.rc;
    if (rc != 0) fprintf(stderr, "rwkv logits failed: %s\n", r.err);
    test_result_free(&r);
    if (rc != 0) return NULL;
    size_t n;
    float *f = test_read_file(out, &n);
    if (f && n != len * 256 * sizeof(float)) {
        fprintf(stderr, "logits file has %zu bytes, expected %zu\n", n, len * 256 * sizeof(float));
        free(f);
        return NULL;
    }
    return f;
}

/* -log softmax(row)[target] in double, and whether target is the row's argmax (lowest on ties). */
static double nll_of(const float *row, int target, bool *is_max) {
    double m = row[0];
    int best = 0;
    for (int i = 1; i < 256; i++)
        if (row[i] > m) {
            m = row[i];
            best = i;
        }
    double s = 0;
    for (int i = 0; i < 256; i++) s += exp((double)row[i] - m);
    if (is_max) *is_max = best == target;
    return log(s) - ((double)row[target] - m);
}

/* Sum of NLL of text[1..len) given the logits after text[0..len-1) (one window). */
static double window_nll(const char *text, size_t len, bool *ok) {
    float *lg = all_logits(text, len, NULL);
    if (!lg) {
        *ok = false;
        return 0;
    }
    double sum = 0;
    for (size_t p = 0; p + 1 < len; p++) sum += nll_of(lg + p * 256, (unsigned char)text[p + 1], NULL);
    free(lg);
    return sum;
}

static const char sample_text[] =
    "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore, and "
    "the shells she sells are surely sea shells. Peter Piper picked a peck of pickled peppers;\n"
    "how many pickled peppers did Peter Piper pick? It was the best of times, it was the worst "
    "of times.";

static void test_perplexity(void) {
    size_t len = strlen(sample_text);
    const char *txt = write_tmp("sample.txt", sample_text, len);
    test_run_result r;
    run_rwkv(&r, "eval", "perplexity", "-m", model_path, "-f", txt, "--json", "-t", "1", NULL);
    CHECK(r.rc == 0, "eval perplexity exit %d: %s", r.rc, r.err);
    json_t *j = json_loads(r.out, 0, NULL);
    static const char *const keys[] = {"n", "tokens", "windows", "ctx", "mean_nll", "perplexity", "seconds"};
    CHECK(json_is_object(j) && json_object_size(j) == 7, "one JSON object of 7 members: %s", r.out);
    for (size_t k = 0; k < 7; k++) CHECK(json_is_number(json_object_get(j, keys[k])), "%s is a number", keys[k]);
    CHECK(r.out_len && r.out[r.out_len - 1] == '\n' && strchr(r.out, '\n') == r.out + r.out_len - 1, "one line");
    json_decref(j);
    double ppl = json_get(r.out, "perplexity"), n = json_get(r.out, "n");
    CHECK(n == (double)(len - 1), "scored %g tokens, expected %zu", n, len - 1);
    CHECK(json_get(r.out, "tokens") == (double)len, "tokens: %s", r.out);
    CHECK(json_get(r.out, "windows") == 1, "windows: %s", r.out);
    CHECK(json_get(r.out, "seconds") >= 0, "seconds: %s", r.out);
    CHECK(r.err_len == 0, "stderr not empty (not a terminal): %s", r.err);
    test_result_free(&r);

    bool ok = true;
    double want = exp(window_nll(sample_text, len, &ok) / (double)(len - 1));
    CHECK(ok, "rwkv logits for the recomputation failed");
    CHECK(rel_close(ppl, want, 1e-4), "perplexity %.8g, recomputed %.8g", ppl, want);
    CHECK(ppl > 1 && ppl < 256, "perplexity %g of a byte model out of (1, 256)", ppl);

    /* --ctx as large as the text: the same single window. */
    char ctxbuf[32];
    snprintf(ctxbuf, sizeof ctxbuf, "%zu", len);
    run_rwkv(&r, "eval", "perplexity", "-m", model_path, "-f", txt, "--json", "--ctx", ctxbuf, "-t",
             "1", NULL);
    CHECK(r.rc == 0 && rel_close(json_get(r.out, "perplexity"), ppl, 1e-9),
          "--ctx %s: %s %s", ctxbuf, r.out, r.err);
    test_result_free(&r);

    /* --ctx 100: windows [0,100), [100,200), [200,len), each from a fresh state. */
    run_rwkv(&r, "eval", "perplexity", "-m", model_path, "-f", txt, "--json", "--ctx", "100", "-t",
             "1", NULL);
    CHECK(r.rc == 0, "--ctx 100 exit %d: %s", r.rc, r.err);
    double ppl_ctx = json_get(r.out, "perplexity");
    size_t n_win = (len + 99) / 100, scored = 0;
    CHECK(json_get(r.out, "windows") == (double)n_win, "windows: %s", r.out);
    double sum = 0;
    for (size_t w = 0; w < len; w += 100) {
        size_t wl = len - w < 100 ? len - w : 100;
        if (wl < 2) continue;
        sum += window_nll(sample_text + w, wl, &ok);
        scored += wl - 1;
    }
    CHECK(ok, "rwkv logits for the --ctx recomputation failed");
    CHECK(json_get(r.out, "n") == (double)scored, "scored: %s (expected %zu)", r.out, scored);
    want = exp(sum / (double)scored);
    CHECK(rel_close(ppl_ctx, want, 1e-4), "--ctx 100 perplexity %.8g, recomputed %.8g", ppl_ctx, want);
    CHECK(fabs(ppl_ctx - ppl) > 1e-6, "resetting the state changed nothing (%g)", ppl_ctx);
    test_result_free(&r);

    /* Human-readable output. */
    run_rwkv(&r, "eval", "perplexity", "-m", model_path, "-f", txt, "-t", "1", NULL);
    CHECK(r.rc == 0 && strstr(r.out, "perplexity ") == r.out, "text output: %s", r.out);
    test_result_free(&r);
}

/* Expected LAMBADA numbers for decoded texts (byte model), recomputed from `rwkv logits`. */
typedef struct lambada_want {
    double nll;          /* sum over examples of the target tokens' NLL */
    size_t target_tokens, correct, n;
    bool ok;
} lambada_want;

/* Adds one example (decoded text) to w; pad: token fed first, or -1 for none. */
static void lambada_add(lambada_want *w, const char *text, size_t len, int pad) {
    size_t sp = len;
    while (sp > 0 && text[sp - 1] != ' ') sp--;
    sp--; /* the last space: context = text[0..sp), target = text[sp..len) */
    float *lg;
    size_t off = pad >= 0 ? 1 : 0; /* row of text byte i is i + off */
    if (pad >= 0) {
        char *ids = malloc(len * 4 + 16);
        int k = snprintf(ids, 16, "%d", pad);
        for (size_t i = 0; i < len; i++) k += sprintf(ids + k, ",%d", (unsigned char)text[i]);
        lg = all_logits(NULL, len + 1, ids);
        free(ids);
    } else {
        lg = all_logits(text, len, NULL);
    }
    if (!lg) {
        w->ok = false;
        return;
    }
    bool all = true;
    for (size_t j = sp; j < len; j++) {
        bool is_max;
        w->nll += nll_of(lg + (j - 1 + off) * 256, (unsigned char)text[j], &is_max);
        all = all && is_max;
        w->target_tokens++;
    }
    w->correct += all;
    w->n++;
    free(lg);
}

/* Runs eval lambada on the jsonl file path (extra: one more option or NULL) and compares with w. */
static void lambada_compare(const char *what, const char *path, const char *extra, const char *val,
                            const lambada_want *w) {
    test_run_result r;
    if (extra)
        run_rwkv(&r, "eval", "lambada", "-m", model_path, "--data", path, "--json", "-t", "1", extra,
                 val, NULL);
    else
        run_rwkv(&r, "eval", "lambada", "-m", model_path, "--data", path, "--json", "-t", "1", NULL);
    CHECK(r.rc == 0, "%s: exit %d: %s", what, r.rc, r.err);
    CHECK(w->ok, "%s: recomputation failed", what);
    CHECK(json_get(r.out, "n") == (double)w->n, "%s: n: %s", what, r.out);
    CHECK(json_get(r.out, "target_tokens") == (double)w->target_tokens, "%s: target tokens: %s",
          what, r.out);
    double acc = (double)w->correct / (double)w->n;
    CHECK(fabs(json_get(r.out, "accuracy") - acc) < 1e-9, "%s: accuracy %s, want %g", what, r.out,
          acc);
    double ppl = exp(w->nll / (double)w->n), ppl_tok = exp(w->nll / (double)w->target_tokens);
    CHECK(rel_close(json_get(r.out, "perplexity"), ppl, 1e-4), "%s: perplexity %s, want %.8g",
          what, r.out, ppl);
    CHECK(rel_close(json_get(r.out, "perplexity_per_token"), ppl_tok, 1e-4),
          "%s: per-token perplexity %s, want %.8g", what, r.out, ppl_tok);
    test_result_free(&r);
}

static void test_lambada(void) {
    const char *data = test_shared("data/lambada_test.jsonl");
    test_run_result r;
    run_rwkv(&r, "eval", "lambada", "-m", model_path, "--data", data, "--limit", "20", "--json",
             "-t", "1", NULL);
    CHECK(r.rc == 0, "lambada --limit 20 exit %d: %s", r.rc, r.err);
    json_t *j = json_loads(r.out, 0, NULL);
    static const char *const keys[] = {"n", "accuracy", "perplexity", "perplexity_per_token", "tokens",
                                       "target_tokens", "pad_token", "seconds"};
    CHECK(json_is_object(j) && json_object_size(j) == 8, "one JSON object of 8 members: %s", r.out);
    for (size_t k = 0; k < 8; k++) CHECK(json_is_number(json_object_get(j, keys[k])), "%s is a number", keys[k]);
    json_decref(j);
    CHECK(json_get(r.out, "n") == 20, "n: %s", r.out);
    double acc = json_get(r.out, "accuracy");
    CHECK(acc >= 0 && acc <= 1, "accuracy: %s", r.out);
    CHECK(json_get(r.out, "perplexity") > 1, "perplexity: %s", r.out);
    CHECK(json_get(r.out, "pad_token") == -1, "byte model gets no pad token: %s", r.out);
    CHECK(json_get(r.out, "tokens") > json_get(r.out, "target_tokens"), "tokens: %s", r.out);
    test_result_free(&r);

    /* The first two lines of the real file without backslashes (so the text is the raw bytes
     * between the quotes), and a recomputation of their numbers. */
    size_t len;
    char *all = test_read_file(data, &len);
    CHECK(all != NULL, "cannot read %s", data);
    if (!all) return;
    char jsonl[8192] = "";
    lambada_want w = {0, 0, 0, 0, true}, wpad = {0, 0, 0, 0, true};
    int found = 0;
    for (char *line = all; found < 2 && line < all + len;) {
        char *nl = memchr(line, '\n', (size_t)(all + len - line));
        size_t ll = nl ? (size_t)(nl - line) : (size_t)(all + len - line);
        static const char pre[] = "{\"text\": \"";
        if (ll > sizeof pre + 2 && ll < 2000 && !memchr(line, '\\', ll) &&
            !memcmp(line, pre, sizeof pre - 1) && !memcmp(line + ll - 2, "\"}", 2)) {
            strncat(jsonl, line, ll);
            strcat(jsonl, "\n");
            lambada_add(&w, line + sizeof pre - 1, ll - (sizeof pre - 1) - 2, -1);
            lambada_add(&wpad, line + sizeof pre - 1, ll - (sizeof pre - 1) - 2, 0);
            found++;
        }
        line += ll + 1;
    }
    free(all);
    CHECK(found == 2, "found %d plain lines", found);
    const char *two = write_tmp("two.jsonl", jsonl, strlen(jsonl));
    lambada_compare("two real examples", two, NULL, NULL, &w);
    lambada_compare("two real examples, --pad-token 0", two, "--pad-token", "0", &wpad);
    lambada_compare("two real examples, --pad-token none", two, "--pad-token", "none", &w);

    /* JSON escapes, surrogate pairs, other members of any kind, blank and CRLF lines. */
    static const char esc[] =
        "\n{\"id\": 7, \"meta\": {\"a\": [1, -2.5e3, true, false, null, {}], \"b\": \"\\u0041\"},"
        " \"text\": \"a \\u00e9\\ud83d\\ude00 b\\n\\\"c\\\"\\t\\/d\\\\ e\"}\r\n"
        "  \n{\"text\":\"x\\r\\b\\f y\"}";
    static const char dec1[] = "a \xc3\xa9\xf0\x9f\x98\x80 b\n\"c\"\t/d\\ e";
    static const char dec2[] = "x\r\b\f y";
    lambada_want we = {0, 0, 0, 0, true};
    lambada_add(&we, dec1, sizeof dec1 - 1, -1);
    lambada_add(&we, dec2, sizeof dec2 - 1, -1);
    lambada_compare("escapes", write_tmp("esc.jsonl", esc, sizeof esc - 1), NULL, NULL, &we);

    /* --limit stops before a bad line; human-readable output. */
    static const char lim[] = "{\"text\": \"one two\"}\n{\"text\": oops}\n";
    const char *lp = write_tmp("lim.jsonl", lim, sizeof lim - 1);
    run_rwkv(&r, "eval", "lambada", "-m", model_path, "--data", lp, "--limit", "1", "-t", "1", NULL);
    CHECK(r.rc == 0 && strstr(r.out, "LAMBADA: 1 examples") == r.out, "--limit 1: %s %s", r.out,
          r.err);
    test_result_free(&r);
}

/* Checks that r is a clean failure: non-zero exit, not a signal, one "rwkv: error:" line
 * (containing must, when not NULL). */
static void check_bad(const char *what, test_run_result *r, const char *must) {
    CHECK(r->rc != 0 && r->rc < 128 && r->rc != -1, "%s: exit %d", what, r->rc);
    CHECK(!strncmp(r->err, "rwkv: error: ", 13), "%s: stderr '%s'", what, r->err);
    const char *nl = strchr(r->err, '\n');
    CHECK(nl && nl[1] == '\0', "%s: not exactly one line: '%s'", what, r->err);
    if (must) CHECK(strstr(r->err, must) != NULL, "%s: '%s' lacks '%s'", what, r->err, must);
    CHECK(r->out_len == 0, "%s: stdout '%s'", what, r->out);
    test_result_free(r);
}

static void test_bad_jsonl(void) {
    static const char *const bad[] = {
        "{\"text\": \"abc def",                 /* unterminated string */
        "{\"text\": 5}",                         /* not a string */
        "{\"txt\": \"a b\"}",                    /* no text */
        "[\"a b\"]",                             /* not an object */
        "{\"text\": \"a b\"} x",                 /* trailing junk */
        "{\"text\": \"a\x01 b\"}",               /* raw control character */
        "{\"text\": \"\\ud800 x\"}",             /* lone high surrogate */
        "{\"text\": \"\\ud800\\u0041 x\"}",      /* high surrogate + non-surrogate */
        "{\"text\": \"\\udc00 x\"}",             /* lone low surrogate */
        "{\"text\": \"\\u12G4 x\"}",             /* bad hex */
        "{\"text\": \"\\u12\"}",                 /* short \u */
        "{\"text\": \"\\q x\"}",                 /* unknown escape */
        "{\"text\": \"a b\\",                    /* escape at the end */
        "{\"text\": \"nospace\"}",               /* no last word */
        "{\"text\": \"a b\", \"text\": \"c d\"}",/* duplicate */
        "{\"text\": \"a b\",}",                  /* trailing comma */
        "{\"text\" \"a b\"}",                    /* no colon */
        "{\"n\": 1.e5, \"text\": \"a b\"}",      /* bad number */
        "{\"n\": tru, \"text\": \"a b\"}",       /* bad literal */
        "{\"text\": \"a b\"",                    /* unclosed object */
        "{text: \"a b\"}",                       /* unquoted key */
        "\x01",                                  /* junk */
    };
    test_run_result r;
    char buf[4096], what[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int n = snprintf(buf, sizeof buf, "{\"text\": \"fine line\"}\n%s\n", bad[i]);
        const char *p = write_tmp("bad.jsonl", buf, (size_t)n);
        snprintf(what, sizeof what, "bad jsonl #%zu", i);
        run_rwkv(&r, "eval", "lambada", "-m", model_path, "--data", p, "-t", "1", NULL);
        check_bad(what, &r, "bad.jsonl:2: ");
    }
    /* Nesting deeper than the JSON reader (jansson: 2048 levels) allows. */
    static char deep[16384];
    int n = snprintf(deep, sizeof deep, "{\"x\": ");
    for (int k = 0; k < 5000; k++) deep[n++] = '[';
    for (int k = 0; k < 5000; k++) deep[n++] = ']';
    n += snprintf(deep + n, sizeof deep - (size_t)n, ", \"text\": \"a b\"}\n");
    run_rwkv(&r, "eval", "lambada", "-m", model_path, "--data",
             write_tmp("deep.jsonl", deep, (size_t)n), "-t", "1", NULL);
    check_bad("deep nesting", &r, "deep.jsonl:1: ");
    /* No examples at all; an empty context without a pad token. */
    run_rwkv(&r, "eval", "lambada", "-m", model_path, "--data", write_tmp("empty.jsonl", "\n \n", 3),
             "-t", "1", NULL);
    check_bad("no examples", &r, "no examples");
    static const char lead[] = "{\"text\": \" word\"}\n";
    const char *lp = write_tmp("lead.jsonl", lead, sizeof lead - 1);
    run_rwkv(&r, "eval", "lambada", "-m", model_path, "--data", lp, "-t", "1", NULL);
    check_bad("empty context", &r, "lead.jsonl:1: ");
    run_rwkv(&r, "eval", "lambada", "-m", model_path, "--data", lp, "--pad-token", "0", "--json",
             "-t", "1", NULL);
    CHECK(r.rc == 0 && json_get(r.out, "n") == 1, "empty context with a pad token: %s %s", r.out,
          r.err);
    test_result_free(&r);
}

static void test_bad_args(void) {
    const char *txt = write_tmp("ok.txt", "hello there", 11);
    const char *one = write_tmp("one.txt", "h", 1);
    const char *empty = write_tmp("empty.txt", "", 0);
    const char *jl = write_tmp("ok.jsonl", "{\"text\": \"a b\"}\n", 16);
    const char *missing = tmp_path("no-such-file");
    const char *data = test_shared("data/lambada_test.jsonl");
    test_run_result r;
#define BAD(what, must, ...)                                   \
    do {                                                       \
        run_rwkv(&r, __VA_ARGS__, NULL);                       \
        check_bad(what, &r, must);                             \
    } while (0)
    BAD("no task", "eval", "eval");
    BAD("unknown task", "unknown task", "eval", "bleu", "-m", model_path);
    BAD("perplexity: no model", "missing -m", "eval", "perplexity", "-f", txt);
    BAD("perplexity: no text", "missing -f", "eval", "perplexity", "-m", model_path);
    BAD("perplexity: missing model", "no-such-file", "eval", "perplexity", "-m", missing, "-f", txt);
    BAD("perplexity: missing text", "no-such-file", "eval", "perplexity", "-m", model_path, "-f",
        missing);
    BAD("perplexity: directory text", NULL, "eval", "perplexity", "-m", model_path, "-f", tmpdir);
    BAD("perplexity: empty text", "at least 2", "eval", "perplexity", "-m", model_path, "-f", empty);
    BAD("perplexity: one token", "at least 2", "eval", "perplexity", "-m", model_path, "-f", one);
    BAD("--ctx 0", "--ctx", "eval", "perplexity", "-m", model_path, "-f", txt, "--ctx", "0");
    BAD("--ctx 1", "--ctx", "eval", "perplexity", "-m", model_path, "-f", txt, "--ctx", "1");
    BAD("--ctx -5", "--ctx", "eval", "perplexity", "-m", model_path, "-f", txt, "--ctx=-5");
    BAD("--ctx abc", "--ctx", "eval", "perplexity", "-m", model_path, "-f", txt, "--ctx", "abc");
    BAD("--ctx 12x", "--ctx", "eval", "perplexity", "-m", model_path, "-f", txt, "--ctx", "12x");
    BAD("--ctx huge", "--ctx", "eval", "perplexity", "-m", model_path, "-f", txt, "--ctx",
        "99999999999999999999");
    BAD("--ctx no value", NULL, "eval", "perplexity", "-m", model_path, "-f", txt, "--ctx");
    BAD("perplexity: stray argument", "unexpected", "eval", "perplexity", "-m", model_path, "-f",
        txt, "extra");
    BAD("perplexity: --data", "unknown option", "eval", "perplexity", "-m", model_path, "-f", txt,
        "--data", jl);
    BAD("perplexity: corrupt model", "cannot load", "eval", "perplexity", "-m", txt, "-f", txt);
    BAD("lambada: no data", "missing --data", "eval", "lambada", "-m", model_path);
    BAD("lambada: missing data", "no-such-file", "eval", "lambada", "-m", model_path, "--data",
        missing);
    BAD("lambada: directory data", NULL, "eval", "lambada", "-m", model_path, "--data", tmpdir);
    BAD("lambada: missing model", "no-such-file", "eval", "lambada", "-m", missing, "--data", data);
    BAD("--limit 0", "--limit", "eval", "lambada", "-m", model_path, "--data", jl, "--limit", "0");
    BAD("--limit x", "--limit", "eval", "lambada", "-m", model_path, "--data", jl, "--limit", "x");
    BAD("--pad-token -1", "--pad-token", "eval", "lambada", "-m", model_path, "--data", jl,
        "--pad-token", "-1");
    BAD("--pad-token 256", "out of range", "eval", "lambada", "-m", model_path, "--data", jl,
        "--pad-token", "256");
    BAD("--threads -1", "--threads", "eval", "lambada", "-m", model_path, "--data", jl,
        "--threads", "-1");
    BAD("lambada: --ctx", "unknown option", "eval", "lambada", "-m", model_path, "--data", jl,
        "--ctx", "5");
#undef BAD
    run_rwkv(&r, "eval", "--help", NULL);
    CHECK(r.rc == 0 && strstr(r.out, "rwkv eval lambada"), "eval --help: %d", r.rc);
    test_result_free(&r);
    run_rwkv(&r, "eval", "lambada", "--help", NULL);
    CHECK(r.rc == 0 && strstr(r.out, "--pad-token"), "eval lambada --help: %d", r.rc);
    test_result_free(&r);
    run_rwkv(&r, "--help", NULL);
    CHECK(r.rc == 0 && strstr(r.out, "  eval "), "rwkv --help lists eval");
    test_result_free(&r);
}

int main(void) {
    if (!test_require_shared()) return test_summary("test_eval");
    static char model_buf[512]; /* test_shared's buffers are reused */
    snprintf(model_buf, sizeof model_buf, "%s", test_shared("models/tiny-rwkv-7v0-834K.pth"));
    model_path = model_buf;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rwkv-test-eval-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "mkdtemp failed");
        return test_summary("test_eval");
    }
    test_perplexity();
    test_lambada();
    test_bad_jsonl();
    test_bad_args();
    test_remove_dir(tmpdir);
    return test_summary("test_eval");
}
