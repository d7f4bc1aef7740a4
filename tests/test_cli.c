/* test_cli.c — runs the built `rwkv` program ($BUILD/rwkv) through /bin/sh and checks its output,
 * exit codes and error messages: info, logits (vs the official fixtures), generate, tokenize, and
 * a list of bad inputs that must each give one "rwkv: " error line and a non-zero exit, no crash. */
#include "common/test.h"
#include "rwkv.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];

/* Runs `env_prefix rwkv args... <stdin_path` (NULL-terminated args; env_prefix and stdin_path may
 * be NULL) and captures everything into *r. RWKV_VOCAB is unset unless env_prefix sets it. */
static void run_rwkv(test_run_result *r, const char *env_prefix, const char *stdin_path, ...) {
    char prefix[4096];
    snprintf(prefix, sizeof prefix, "unset RWKV_VOCAB; %s", env_prefix ? env_prefix : "");
    va_list ap;
    va_start(ap, stdin_path);
    test_run_rwkv_v(r, tmpdir, prefix, stdin_path, ap);
    va_end(ap);
}

/* Path of a file in the temporary directory (static buffer rotated over 8 slots). */
static const char *tmp_path(const char *name) {
    static char buf[8][512];
    static int slot;
    char *b = buf[slot++ & 7];
    snprintf(b, sizeof buf[0], "%s/%s", tmpdir, name);
    return b;
}

static int write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Number of '\n' in s. */
static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Checks that r is a clean failure: non-zero exit, no signal, exactly one line on stderr
 * starting with "rwkv: ". */
static void check_error(const char *what, const test_run_result *r) {
    CHECK(r->rc > 0 && r->rc < 128, "%s: exit %d (want 1..127)\nstderr: %s", what, r->rc, r->err);
    CHECK(!strncmp(r->err, "rwkv: ", 6), "%s: stderr does not start with 'rwkv: ': %s", what, r->err);
    CHECK(count_lines(r->err) == 1, "%s: want one error line, got: %s", what, r->err);
}

/* Index of the largest of n floats (lowest on ties). */
static size_t argmax(const float *v, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* 1 if the JSON text has "key":value exactly (value as written in JSON). */
static int json_has(const char *json, const char *key, const char *value) {
    char pat[256];
    snprintf(pat, sizeof pat, "\"%s\":%s", key, value);
    const char *hit = strstr(json, pat);
    if (!hit) return 0;
    char next = hit[strlen(pat)];
    return next == ',' || next == '}';
}

/* Compares a logits output file with a fixture of n floats. */
static void check_logits_file(const char *what, const char *out_path, const char *fixture, size_t n) {
    size_t got_len = 0, want_len = 0;
    float *got = test_read_file(out_path, &got_len);
    float *want = test_read_file(fixture, &want_len);
    CHECK(want && want_len == n * sizeof(float), "%s: fixture %s missing or wrong size", what, fixture);
    CHECK(got && got_len == n * sizeof(float), "%s: output has %zu bytes, want %zu", what,
          got ? got_len : 0, n * sizeof(float));
    if (got && want && got_len == n * sizeof(float) && want_len == got_len) {
        float d = test_max_abs_diff(got, want, n);
        CHECK(d <= 1e-4f, "%s: max abs diff %g > 1e-4", what, (double)d);
    }
    free(got);
    free(want);
}

static const char *model_path;

static void test_info(void) {
    test_run_result r;
    run_rwkv(&r, NULL, NULL, "info", model_path, NULL);
    CHECK(r.rc == 0, "info: exit %d, stderr: %s", r.rc, r.err);
    CHECK(count_lines(r.out) == 1 && r.out[0] == '{', "info: want one JSON line, got: %s", r.out);
    CHECK(json_has(r.out, "generation", "\"7\""), "info: generation: %s", r.out);
    CHECK(json_has(r.out, "n_layer", "12"), "info: n_layer: %s", r.out);
    CHECK(json_has(r.out, "n_embd", "64"), "info: n_embd: %s", r.out);
    CHECK(json_has(r.out, "n_vocab", "256"), "info: n_vocab: %s", r.out);
    CHECK(json_has(r.out, "head_size", "64"), "info: head_size: %s", r.out);
    CHECK(json_has(r.out, "weight_dtype", "\"fp32\""), "info: weight_dtype: %s", r.out);
    CHECK(json_has(r.out, "quant_products", "\"none\""), "info: quant_products of an fp32 model: %s", r.out);
    CHECK(json_has(r.out, "format", "\"pth\""), "info: format: %s", r.out);
    /* the library's choice for this CPU, one of four names; the fp32 default chunk is 64 */
    CHECK(json_has(r.out, "prefill_products", "\"fp32\"") || json_has(r.out, "prefill_products", "\"fp32-x3-amx\""),
          "info: prefill_products (default params): %s", r.out);
    CHECK(json_has(r.out, "seq_chunk", "64") || json_has(r.out, "seq_chunk", "128"), "info: seq_chunk: %s", r.out);
    CHECK(strstr(r.out, "\"params\":") && strstr(r.out, "\"state_bytes\":") &&
          strstr(r.out, "\"fingerprint\":\""), "info: missing fields: %s", r.out);
    test_result_free(&r);

    run_rwkv(&r, NULL, NULL, "info", "--help", NULL);
    CHECK(r.rc == 0 && strstr(r.out, "usage"), "info --help: exit %d, out %s", r.rc, r.out);
    test_result_free(&r);
    run_rwkv(&r, NULL, NULL, "--help", NULL);
    CHECK(r.rc == 0 && strstr(r.out, "generate") && strstr(r.out, "tokenize"),
          "--help: exit %d, out %s", r.rc, r.out);
    test_result_free(&r);
    run_rwkv(&r, NULL, NULL, "help", "generate", NULL);
    CHECK(r.rc == 0 && strstr(r.out, "--temperature"), "help generate: exit %d, out %s", r.rc, r.out);
    test_result_free(&r);
    run_rwkv(&r, NULL, NULL, "--version", NULL);
    CHECK(r.rc == 0 && strstr(r.out, RWKV_VERSION_STRING), "--version: %s", r.out);
    test_result_free(&r);
}

static void test_logits(void) {
    const char *prompt = test_shared("fixtures/prompts/quick_fox.bin");
    const char *all = test_shared("fixtures/tiny-7v0-834K/logits-all-quick_fox.bin");
    const char *last = test_shared("fixtures/tiny-7v0-834K/logits-quick_fox.bin");
    test_run_result r;

    run_rwkv(&r, NULL, NULL, "logits", "-m", model_path, "--prompt-file", prompt, "--all", "-o",
             tmp_path("all.bin"), NULL);
    CHECK(r.rc == 0, "logits --all: exit %d, stderr: %s", r.rc, r.err);
    check_logits_file("logits --all", tmp_path("all.bin"), all, 19 * 256);
    test_result_free(&r);

    run_rwkv(&r, NULL, NULL, "logits", "-m", model_path, "--prompt-file", prompt, "--all",
             "--serial", "--output=" , tmp_path("serial.bin"), NULL);
    /* "--output=" with an empty inline value is an error; then do it properly. */
    CHECK(r.rc != 0, "logits --output= (empty): exit %d", r.rc);
    test_result_free(&r);
    char oarg[600];
    snprintf(oarg, sizeof oarg, "--output=%s", tmp_path("serial.bin"));
    run_rwkv(&r, NULL, NULL, "logits", "-m", model_path, "--prompt-file", prompt, "--all",
             "--serial", oarg, NULL);
    CHECK(r.rc == 0, "logits --all --serial: exit %d, stderr: %s", r.rc, r.err);
    check_logits_file("logits --all --serial", tmp_path("serial.bin"), all, 19 * 256);
    test_result_free(&r);

    run_rwkv(&r, NULL, NULL, "logits", "-m", model_path, "-p", "The quick brown fox", "-o",
             tmp_path("last.bin"), "--threads", "2", NULL);
    CHECK(r.rc == 0, "logits -p: exit %d, stderr: %s", r.rc, r.err);
    check_logits_file("logits -p", tmp_path("last.bin"), last, 256);
    test_result_free(&r);

    /* The same prompt as ids: T=84 h=104 e=101 ... */
    run_rwkv(&r, NULL, NULL, "logits", "-m", model_path, "--tokens",
             "84,104,101,32,113,117,105,99,107,32,98,114,111,119,110,32,102,111,120", "-o",
             tmp_path("tok.bin"), NULL);
    CHECK(r.rc == 0, "logits --tokens: exit %d, stderr: %s", r.rc, r.err);
    check_logits_file("logits --tokens", tmp_path("tok.bin"), last, 256);
    test_result_free(&r);

    run_rwkv(&r, NULL, NULL, "logits", "-m", model_path, "--prompt-file", prompt, "--all", "--state",
             test_shared("models/tiny-rwkv-7v0-834K-state.pth"), "-o", tmp_path("state.bin"), NULL);
    CHECK(r.rc == 0, "logits --state: exit %d, stderr: %s", r.rc, r.err);
    check_logits_file("logits --state --all", tmp_path("state.bin"),
                      test_shared("fixtures/tiny-7v0-834K/logits-all-quick_fox-from-state.bin"), 19 * 256);
    test_result_free(&r);

    /* -o - writes to stdout. */
    run_rwkv(&r, NULL, NULL, "logits", "-m", model_path, "--prompt-file", prompt, "-o", "-", NULL);
    CHECK(r.rc == 0 && r.out_len == 256 * sizeof(float), "logits -o -: exit %d, %zu bytes", r.rc,
          r.out_len);
    if (r.rc == 0 && r.out_len == 256 * sizeof(float)) {
        size_t wl = 0;
        float *want = test_read_file(last, &wl);
        CHECK(want && wl == r.out_len && test_max_abs_diff((float *)r.out, want, 256) <= 1e-4f,
              "logits -o -: differs from the fixture");
        free(want);
    }
    test_result_free(&r);
}

/* Greedy generation: deterministic, and each byte is the argmax of the logits before it. */
static void test_generate(void) {
    const char *prompt = "The quick brown fox";
    test_run_result a, b;
    run_rwkv(&a, NULL, NULL, "generate", "-m", model_path, "-p", prompt, "--temperature", "0",
             "-n", "20", NULL);
    CHECK(a.rc == 0, "generate greedy: exit %d, stderr: %s", a.rc, a.err);
    CHECK(a.out_len > 0 && a.out_len <= 20, "generate greedy: %zu bytes", a.out_len);
    CHECK(strstr(a.err, "prompt tokens") != NULL, "generate: no summary on stderr: %s", a.err);
    run_rwkv(&b, NULL, NULL, "generate", "-m", model_path, "-p", prompt, "--temperature=0", "-n20",
             "--quiet", NULL);
    CHECK(b.rc == 0 && b.out_len == a.out_len && !memcmp(a.out, b.out, a.out_len),
          "generate greedy: two runs differ: '%s' vs '%s'", a.out, b.out);
    CHECK(b.err_len == 0, "generate --quiet: stderr not empty: %s", b.err);
    test_result_free(&b);

    /* Feed prompt + output through `logits --all`: row t's argmax must be byte t+1. */
    size_t plen = strlen(prompt), total = plen + a.out_len;
    char *seq = malloc(total + 1);
    memcpy(seq, prompt, plen);
    memcpy(seq + plen, a.out, a.out_len);
    write_file(tmp_path("seq.bin"), seq, total);
    run_rwkv(&b, NULL, NULL, "logits", "-m", model_path, "--prompt-file", tmp_path("seq.bin"),
             "--all", "-o", tmp_path("seq-logits.bin"), NULL);
    CHECK(b.rc == 0, "logits of the generated text: exit %d: %s", b.rc, b.err);
    size_t ll = 0;
    float *lg = test_read_file(tmp_path("seq-logits.bin"), &ll);
    if (lg && ll == total * 256 * sizeof(float)) {
        int bad = 0;
        for (size_t t = plen - 1; t + 1 < total; t++) {
            const float *row = lg + t * 256;
            unsigned char next = (unsigned char)seq[t + 1];
            float best = row[argmax(row, 256)];
            if (!(row[next] >= best - 1e-4f)) bad++; /* ties within float noise are fine */
        }
        CHECK(bad == 0, "generate greedy: %d bytes are not the argmax of the logits", bad);
        if (a.out_len < 20) /* ended early: only by token 0 */
            CHECK(argmax(lg + (total - 1) * 256, 256) == 0, "generate stopped early without token 0");
    } else {
        CHECK(0, "logits of the generated text: %zu bytes", ll);
    }
    free(lg);
    free(seq);
    test_result_free(&b);

    /* Stop strings: output is the greedy text up to (not including) the first occurrence. */
    if (a.out_len >= 8) {
        char stop[4];
        memcpy(stop, a.out + 5, 3);
        stop[3] = '\0';
        if (strlen(stop) == 3) {
            const char *first = strstr(a.out, stop);
            size_t want = first ? (size_t)(first - a.out) : a.out_len;
            run_rwkv(&b, NULL, NULL, "generate", "-m", model_path, "-p", prompt, "--temperature",
                     "0", "-n", "20", "--stop", "\x01never", "--stop", stop, "-q", NULL);
            CHECK(b.rc == 0 && b.out_len == want && !memcmp(b.out, a.out, want),
                  "generate --stop '%s': got '%s' (%zu bytes), want %zu bytes of '%s'", stop, b.out,
                  b.out_len, want, a.out);
            test_result_free(&b);
        }
        /* A stop string that never appears changes nothing (held-back bytes are flushed). */
        char never[3] = {a.out[a.out_len - 1], '\x02', 0};
        run_rwkv(&b, NULL, NULL, "generate", "-m", model_path, "-p", prompt, "--temperature", "0",
                 "-n", "20", "--stop", never, "-q", NULL);
        CHECK(b.rc == 0 && b.out_len == a.out_len && !memcmp(b.out, a.out, a.out_len),
              "generate --stop (absent): got '%s', want '%s'", b.out, a.out);
        test_result_free(&b);
    } else {
        CHECK(0, "generate greedy: too short to test --stop (%zu bytes)", a.out_len);
    }
    test_result_free(&a);

    /* Sampling with a seed is reproducible. */
    run_rwkv(&a, NULL, NULL, "generate", "-m", model_path, "-p", prompt, "-n", "30", "--seed", "42",
             "--temperature", "1.0", "--top-p", "0.9", "--top-k", "50", "--presence-penalty", "0.2",
             "--frequency-penalty", "0.1", "--penalty-decay", "0.99", "-q", NULL);
    run_rwkv(&b, NULL, NULL, "generate", "-m", model_path, "-p", prompt, "-n", "30", "--seed=42",
             "--temperature", "1.0", "--top-p", "0.9", "--top-k", "50", "--presence-penalty", "0.2",
             "--frequency-penalty", "0.1", "--penalty-decay", "0.99", "-q", NULL);
    CHECK(a.rc == 0 && b.rc == 0, "generate --seed: exit %d/%d: %s", a.rc, b.rc, a.err);
    CHECK(a.out_len == b.out_len && !memcmp(a.out, b.out, a.out_len),
          "generate --seed 42: two runs differ: '%s' vs '%s'", a.out, b.out);
    test_result_free(&a);
    test_result_free(&b);

    /* -n 0 generates nothing. --state works with generate. */
    run_rwkv(&a, NULL, NULL, "generate", "-m", model_path, "-p", prompt, "-n", "0", "-q", NULL);
    CHECK(a.rc == 0 && a.out_len == 0, "generate -n 0: exit %d, %zu bytes", a.rc, a.out_len);
    test_result_free(&a);
    run_rwkv(&a, NULL, NULL, "generate", "-m", model_path, "-p", prompt, "-n", "5", "--temperature",
             "0", "--state", test_shared("models/tiny-rwkv-7v0-834K-state.pth"), "-q", NULL);
    CHECK(a.rc == 0, "generate --state: exit %d: %s", a.rc, a.err);
    test_result_free(&a);
}

static void test_tokenize(void) {
    const char *vocab = test_shared("data/rwkv_vocab_v20230424.txt");
    write_file(tmp_path("hello.txt"), "Hello world", 11);
    test_run_result r;
    run_rwkv(&r, NULL, tmp_path("hello.txt"), "tokenize", "--vocab", vocab, NULL);
    CHECK(r.rc == 0, "tokenize: exit %d: %s", r.rc, r.err);
    CHECK(r.out_len > 1 && r.out[r.out_len - 1] == '\n' && count_lines(r.out) == 1 &&
          !strstr(r.out, "  ") && r.out[0] != ' ', "tokenize: bad format '%s'", r.out);
    CHECK(strspn(r.out, "0123456789 \n") == r.out_len, "tokenize: not ids: '%s'", r.out);
    int n_spaces = 0;
    for (size_t i = 0; i < r.out_len; i++) n_spaces += r.out[i] == ' ';
    CHECK(n_spaces >= 1 && n_spaces < 10, "tokenize: 'Hello world' gave %d ids", n_spaces + 1);
    write_file(tmp_path("ids.txt"), r.out, r.out_len);
    test_result_free(&r);
    run_rwkv(&r, NULL, tmp_path("ids.txt"), "tokenize", "--vocab", vocab, "--decode", NULL);
    CHECK(r.rc == 0 && r.out_len == 11 && !memcmp(r.out, "Hello world", 11),
          "tokenize --decode: exit %d, got '%s'", r.rc, r.out);
    test_result_free(&r);

    /* The official encoding of a fixture sentence. */
    write_file(tmp_path("fox.txt"), "The quick brown fox jumps over the lazy dog.", 44);
    char env[700];
    snprintf(env, sizeof env, "RWKV_VOCAB='%s' ", vocab);
    run_rwkv(&r, env, tmp_path("fox.txt"), "tokenize", NULL);
    CHECK(r.rc == 0 && !strcmp(r.out, "6699 39418 37917 21704 38828 31601 22590 31261 21551 47\n"),
          "tokenize (RWKV_VOCAB): exit %d, got '%s'", r.rc, r.out);
    test_result_free(&r);

    /* Byte tokenizer both ways; empty input gives an empty line. */
    run_rwkv(&r, NULL, tmp_path("hello.txt"), "tokenize", "--bytes", NULL);
    CHECK(r.rc == 0 && !strcmp(r.out, "72 101 108 108 111 32 119 111 114 108 100\n"),
          "tokenize --bytes: got '%s'", r.out);
    test_result_free(&r);
    run_rwkv(&r, NULL, NULL, "tokenize", "--bytes", NULL);
    CHECK(r.rc == 0 && !strcmp(r.out, "\n"), "tokenize --bytes (empty): got '%s'", r.out);
    test_result_free(&r);
    write_file(tmp_path("bids.txt"), " 72\n105 \t 255\n", 14);
    run_rwkv(&r, NULL, tmp_path("bids.txt"), "tokenize", "--bytes", "--decode", NULL);
    CHECK(r.rc == 0 && r.out_len == 3 && !memcmp(r.out, "Hi\xff", 3), "tokenize --bytes --decode: '%s'",
          r.out);
    test_result_free(&r);
}

/* Every bad input gives one error line and a non-zero exit, never a crash. */
static void test_bad_inputs(void) {
    const char *prompt = test_shared("fixtures/prompts/quick_fox.bin");
    test_run_result r;

    /* Files to break things with. */
    size_t mlen = 0;
    char *model = test_read_file(model_path, &mlen);
    CHECK(model && mlen > 1000, "cannot read %s", model_path);
    if (model) write_file(tmp_path("truncated.pth"), model, mlen / 2);
    if (model) write_file(tmp_path("head.pth"), model, 100);
    free(model);
    char junk[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (char)(x >> 24);
    }
    write_file(tmp_path("random.bin"), junk, sizeof junk);
    write_file(tmp_path("empty.bin"), "", 0);

#define BAD(what, ...)                                          \
    do {                                                        \
        run_rwkv(&r, NULL, NULL, __VA_ARGS__, NULL);            \
        check_error(what, &r);                                  \
        test_result_free(&r);                                        \
    } while (0)

    BAD("missing model file", "info", tmp_path("does-not-exist.pth"));
    BAD("directory as model", "info", tmpdir);
    BAD("truncated model", "info", tmp_path("truncated.pth"));
    BAD("first 100 bytes of a model", "info", tmp_path("head.pth"));
    BAD("random bytes as model", "info", tmp_path("random.bin"));
    BAD("empty file as model", "info", tmp_path("empty.bin"));
    BAD("vocabulary as model", "info", test_shared("data/rwkv_vocab_v20230424.txt"));
    BAD("truncated model (logits)", "logits", "-m", tmp_path("truncated.pth"), "-p", "x", "-o",
        tmp_path("o.bin"));
    BAD("random model (generate)", "generate", "-m", tmp_path("random.bin"), "-p", "x");
    BAD("unknown option", "logits", "-m", model_path, "-p", "x", "-o", tmp_path("o.bin"), "--bogus");
    BAD("unknown short option", "generate", "-m", model_path, "-p", "x", "-Z");
    BAD("unknown subcommand", "frobnicate", model_path);
    BAD("no subcommand", "--bogus");
    BAD("missing -m", "generate", "-p", "hello");
    BAD("missing option value", "generate", "-p", "hello", "-m");
    BAD("-n abc", "generate", "-m", model_path, "-p", "x", "-n", "abc");
    BAD("-n -5", "generate", "-m", model_path, "-p", "x", "-n", "-5");
    BAD("-n 12abc", "generate", "-m", model_path, "-p", "x", "-n", "12abc");
    BAD("-n empty", "generate", "-m", model_path, "-p", "x", "-n", "");
    BAD("-n overflow", "generate", "-m", model_path, "-p", "x", "-n", "99999999999999999999999");
    BAD("--temperature nan", "generate", "-m", model_path, "-p", "x", "--temperature", "nan");
    BAD("--temperature -1", "generate", "-m", model_path, "-p", "x", "--temperature", "-1");
    BAD("--top-p 2", "generate", "-m", model_path, "-p", "x", "--top-p", "2");
    BAD("--top-k 1.5", "generate", "-m", model_path, "-p", "x", "--top-k", "1.5");
    BAD("--seed -1", "generate", "-m", model_path, "-p", "x", "--seed", "-1");
    BAD("--threads -1", "generate", "-m", model_path, "-p", "x", "--threads", "-1");
    BAD("--stop empty", "generate", "-m", model_path, "-p", "x", "--stop", "");
    BAD("flag with a value", "logits", "-m", model_path, "-p", "x", "--all=1", "-o", tmp_path("o.bin"));
    BAD("--tokens 1,x", "logits", "-m", model_path, "--tokens", "1,x", "-o", tmp_path("o.bin"));
    BAD("--tokens -1", "logits", "-m", model_path, "--tokens", "-1", "-o", tmp_path("o.bin"));
    BAD("--tokens 999 (vocab 256)", "logits", "-m", model_path, "--tokens", "1,999", "-o",
        tmp_path("o.bin"));
    BAD("--tokens empty", "logits", "-m", model_path, "--tokens", "", "-o", tmp_path("o.bin"));
    BAD("empty prompt (logits)", "logits", "-m", model_path, "-p", "", "-o", tmp_path("o.bin"));
    BAD("empty prompt (generate)", "generate", "-m", model_path, "-p", "");
    BAD("empty prompt file", "logits", "-m", model_path, "--prompt-file", tmp_path("empty.bin"),
        "-o", tmp_path("o.bin"));
    BAD("missing prompt file", "logits", "-m", model_path, "--prompt-file", tmp_path("nope.bin"),
        "-o", tmp_path("o.bin"));
    BAD("two prompts", "logits", "-m", model_path, "-p", "x", "--tokens", "1", "-o", tmp_path("o.bin"));
    BAD("no prompt", "logits", "-m", model_path, "-o", tmp_path("o.bin"));
    BAD("missing -o", "logits", "-m", model_path, "--prompt-file", prompt);
    BAD("-o in a missing directory", "logits", "-m", model_path, "-p", "x", "-o",
        tmp_path("no/such/dir/o.bin"));
    BAD("-o is a directory", "logits", "-m", model_path, "-p", "x", "-o", tmpdir);
    BAD("missing state file", "logits", "-m", model_path, "-p", "x", "--state", tmp_path("nope.pth"),
        "-o", tmp_path("o.bin"));
    BAD("random state file", "logits", "-m", model_path, "-p", "x", "--state", tmp_path("random.bin"),
        "-o", tmp_path("o.bin"));
    BAD("nonexistent vocab (generate)", "generate", "-m", model_path, "-p", "x", "--vocab",
        tmp_path("nope.txt"));
    BAD("nonexistent vocab (tokenize)", "tokenize", "--vocab", tmp_path("nope.txt"));
    BAD("random vocab", "tokenize", "--vocab", tmp_path("random.bin"));
    BAD("tokenize without vocab", "tokenize");
    BAD("positional junk", "logits", "-m", model_path, "-p", "x", "-o", tmp_path("o.bin"), "extra");
    CHECK(!file_exists(tmp_path("o.bin")), "a failed logits run left an output file");

    /* Bad ids on stdin for tokenize --decode. */
    write_file(tmp_path("bad-ids.txt"), "72 abc 5", 8);
    run_rwkv(&r, NULL, tmp_path("bad-ids.txt"), "tokenize", "--bytes", "--decode", NULL);
    check_error("tokenize --decode non-numeric", &r);
    test_result_free(&r);
    write_file(tmp_path("big-ids.txt"), "72 300", 6);
    run_rwkv(&r, NULL, tmp_path("big-ids.txt"), "tokenize", "--bytes", "--decode", NULL);
    check_error("tokenize --decode out of range", &r);
    test_result_free(&r);
    write_file(tmp_path("huge-ids.txt"), "70000", 5);
    char env[700];
    snprintf(env, sizeof env, "RWKV_VOCAB='%s' ", test_shared("data/rwkv_vocab_v20230424.txt"));
    run_rwkv(&r, env, tmp_path("huge-ids.txt"), "tokenize", "--decode", NULL);
    check_error("tokenize --decode 70000 (World)", &r);
    test_result_free(&r);

    /* Usage errors exit 2, runtime errors 1. */
    run_rwkv(&r, NULL, NULL, "generate", "-m", model_path, "-p", "x", "-n", "abc", NULL);
    CHECK(r.rc == 2, "usage error exit %d, want 2", r.rc);
    test_result_free(&r);
    run_rwkv(&r, NULL, NULL, "info", tmp_path("does-not-exist.pth"), NULL);
    CHECK(r.rc == 1, "runtime error exit %d, want 1", r.rc);
    test_result_free(&r);
#undef BAD
}

int main(void) {
    if (!test_require_shared()) return test_summary("test_cli");
    if (access(test_rwkv_bin(), X_OK) != 0) {
        CHECK(0, "the rwkv binary %s is missing: build it first", test_rwkv_bin());
        return test_summary("test_cli");
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rwkv-test-cli-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "mkdtemp failed");
        return test_summary("test_cli");
    }
    static char model_buf[1024];
    snprintf(model_buf, sizeof model_buf, "%s", test_shared("models/tiny-rwkv-7v0-834K.pth"));
    model_path = model_buf;

    test_info();
    test_logits();
    test_generate();
    test_tokenize();
    test_bad_inputs();

    test_remove_dir(tmpdir);
    return test_summary("test_cli");
}
