/* test_cli.c — runs the built `rwkv` program ($BUILD/rwkv) through /bin/sh and checks its output,
 * exit codes and error messages: info, logits (vs the official fixtures), generate, tokenize, and
 * a list of bad inputs that must each give one "rwkv: " error line and a non-zero exit, no crash. */
#include "common/test.h"
#include "rwkv.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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

    /* The whole line parses (jansson) into the 19 documented members with their types. */
    json_t *j = json_loads(r.out, 0, NULL);
    static const char *const strs[] = {"generation", "weight_dtype", "format", "quant_products",
                                       "prefill_products", "fingerprint", "backend", "device"};
    static const char *const ints[] = {"n_layer", "n_embd", "head_size", "n_head", "n_vocab", "n_ffn",
                                       "params", "seq_chunk", "state_bytes", "file_bytes", "decode_bytes"};
    CHECK(json_is_object(j) && json_object_size(j) == 19, "info: 19 members: %s", r.out);
    CHECK(json_is_string(json_object_get(j, "backend")) && !strcmp(json_string_value(json_object_get(j, "backend")), "cpu"),
          "info: backend cpu");
    for (size_t i = 0; i < 8; i++) CHECK(json_is_string(json_object_get(j, strs[i])), "info: %s is a string", strs[i]);
    for (size_t i = 0; i < 11; i++) CHECK(json_is_integer(json_object_get(j, ints[i])), "info: %s is an integer", ints[i]);
    CHECK(json_integer_value(json_object_get(j, "state_bytes")) == 202752, "info: state_bytes");
    CHECK(strlen(json_string_value(json_object_get(j, "fingerprint")) ? json_string_value(json_object_get(j, "fingerprint")) : "") == 16,
          "info: fingerprint of 16 hex digits");
    json_decref(j);
    test_result_free(&r);

    /* Every model-reading command's help names the three formats. */
    static const char *const cmds[] = {"generate", "logits", "chat", "eval", "info"};
    for (size_t i = 0; i < 5; i++) {
        run_rwkv(&r, NULL, NULL, cmds[i], "--help", NULL);
        CHECK(r.rc == 0 && (strstr(r.out, ".pth, rwkv.cpp .bin or .gguf") || strstr(r.out, ".pth, .bin or .gguf")),
              "%s --help names .pth, .bin and .gguf: %s", cmds[i], r.out);
        test_result_free(&r);
    }

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

/* Reads fd until end of file or ms milliseconds pass; returns the bytes in buf (NUL-terminated). */
static size_t read_for(int fd, char *buf, size_t cap, int ms) {
    size_t len = 0;
    for (int waited = 0; waited < ms && len + 1 < cap;) {
        struct pollfd pf = {fd, POLLIN, 0};
        int r = poll(&pf, 1, 50);
        if (r == 0) {
            waited += 50;
            continue;
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return len;
}

/* Starts `rwkv ARGS...` (argv NULL-terminated) with stdout and stderr on out_fd; returns the pid. */
static pid_t spawn_rwkv(int out_fd, int err_fd, const char *const *args) {
    const char *argv[32];
    int n = 0;
    argv[n++] = test_rwkv_bin();
    for (; *args && n < 31; args++) argv[n++] = *args;
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        dup2(in, 0);
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Exit status of pid as run_rwkv reports it (128 + signal), waiting at most 10 s. */
static int wait_rwkv(pid_t pid) {
    int status = 0;
    for (int i = 0; i < 1000; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* Why generate stopped (issue 14, items 8-10): the reason on the summary line, a newline after
 * the text on a terminal (not in a pipe), Ctrl-C during generation. */
static void test_generate_end(void) {
    test_run_result r;
    run_rwkv(&r, NULL, NULL, "generate", "-m", model_path, "-p", "Hello", "-n", "5", "--temperature", "0", NULL);
    CHECK(r.rc == 0 && strstr(r.err, ", stopped: length\n"), "-n 5: %s", r.err);
    CHECK(r.out_len > 0 && r.out[r.out_len - 1] != '\n', "a pipe gets the bytes only: '%s'", r.out);
    test_result_free(&r);
    run_rwkv(&r, NULL, NULL, "generate", "-m", model_path, "-p", "Hello", "-n", "50", "--temperature", "0",
             "--stop", "the", NULL);
    CHECK(r.rc == 0 && strstr(r.err, ", stopped: stop string\n") && !strstr(r.out, "the"), "--stop: %s", r.err);
    test_result_free(&r);
    /* near-uniform sampling over 256 tokens meets token 0 (end of text) long before 100000 */
    run_rwkv(&r, NULL, NULL, "generate", "-m", model_path, "-p", "Hello", "--max-tokens", "100000",
             "--temperature", "100", "--seed", "1", NULL);
    CHECK(r.rc == 0 && strstr(r.err, ", stopped: end-of-text\n") && r.out_len < 100000, "end of text: %s", r.err);
    test_result_free(&r);

    /* On a terminal the summary starts its own line. */
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0) {
        int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
        static const char *const args[] = {"generate", "-m", NULL, "-p", "Hello", "-n", "5", "--temperature", "0", NULL};
        const char *a[10];
        memcpy(a, args, sizeof a);
        a[2] = model_path;
        pid_t pid = spawn_rwkv(slave, slave, a);
        close(slave);
        static char buf[65536];
        read_for(master, buf, sizeof buf, 5000);
        int rc = wait_rwkv(pid);
        const char *sum = strstr(buf, "rwkv: ");
        CHECK(rc == 0 && sum && sum > buf && sum[-1] == '\n', "terminal: the summary joins the text: '%s'", buf);
        close(master);
    } else {
        CHECK(0, "no pseudo-terminal");
    }

    /* Ctrl-C: partial summary, exit 130. */
    int out[2], err[2];
    CHECK(pipe(out) == 0 && pipe(err) == 0, "pipe");
    /* (greedy: this model repeats " the" and never picks token 0) */
    static const char *const args[] = {"generate", "-m", NULL, "-p", "Hello", "-n", "1000000000", "-t", "1",
                                       "--temperature", "0", NULL};
    const char *a[12];
    memcpy(a, args, sizeof a);
    a[2] = model_path;
    pid_t pid = spawn_rwkv(out[1], err[1], a);
    close(out[1]);
    close(err[1]);
    static char text[1 << 16], msg[4096];
    size_t got = 0;
    for (int i = 0; i < 1200 && got < 20; i++) { /* some text first: generation is under way */
        struct pollfd pf = {out[0], POLLIN, 0};
        if (poll(&pf, 1, 50) > 0) {
            ssize_t n = read(out[0], text + got, sizeof text - 1 - got);
            if (n <= 0) break;
            got += (size_t)n;
        }
    }
    CHECK(got >= 20, "generation under way (%zu bytes)", got);
    kill(pid, SIGINT);
    while (read(out[0], text, sizeof text) > 0) {}
    read_for(err[0], msg, sizeof msg, 5000);
    int rc = wait_rwkv(pid);
    CHECK(rc == 130, "Ctrl-C: exit %d, want 130: %s", rc, msg);
    CHECK(strstr(msg, "generated tokens") && strstr(msg, ", stopped: interrupted\n"), "Ctrl-C: summary '%s'", msg);
    close(out[0]);
    close(err[0]);
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

/* One vocabulary across commands (issue 14, item 18): --tokens lists, -f - (stdin), tokenize -m,
 * bench --prompt-tokens and its JSON, -o never an input. */
static void test_options(void) {
    test_run_result r;
    /* --tokens: empty items are errors; a comma and whitespace together are one separator. */
    static const char *const bad_ids[] = {"1,,3", ",1", "1,", "1, ,2", ","};
    for (size_t i = 0; i < 5; i++) {
        run_rwkv(&r, NULL, NULL, "logits", "-m", model_path, "--tokens", bad_ids[i], "-o", tmp_path("o.bin"), NULL);
        check_error(bad_ids[i], &r);
        CHECK(r.rc == 2 && strstr(r.err, "--tokens"), "--tokens '%s': exit %d %s", bad_ids[i], r.rc, r.err);
        test_result_free(&r);
    }
    run_rwkv(&r, NULL, NULL, "logits", "-m", model_path, "--tokens", "84, 104 ,101\t32", "-o", tmp_path("ok.bin"), NULL);
    CHECK(r.rc == 0, "--tokens with mixed separators: %s", r.err);
    test_result_free(&r);
    /* -f - reads stdin. */
    const char *prompt = test_shared("fixtures/prompts/quick_fox.bin");
    run_rwkv(&r, NULL, prompt, "logits", "-m", model_path, "-f", "-", "-o", tmp_path("stdin.bin"), NULL);
    CHECK(r.rc == 0, "logits -f -: %s", r.err);
    check_logits_file("logits -f -", tmp_path("stdin.bin"), test_shared("fixtures/tiny-7v0-834K/logits-quick_fox.bin"), 256);
    test_result_free(&r);
    run_rwkv(&r, NULL, prompt, "generate", "-m", model_path, "-f", "-", "-n", "3", "--temperature", "0", NULL);
    CHECK(r.rc == 0 && strstr(r.err, "19 prompt tokens"), "generate -f -: %s", r.err);
    test_result_free(&r);
    /* -o is never an input. */
    run_rwkv(&r, NULL, NULL, "logits", "-m", model_path, "-p", "x", "-o", model_path, NULL);
    check_error("logits -o MODEL", &r);
    test_result_free(&r);
    run_rwkv(&r, NULL, NULL, "generate", "-m", model_path, "-p", "x", "-n", "1", "--state-out", model_path, NULL);
    check_error("generate --state-out MODEL", &r);
    test_result_free(&r);

    /* tokenize -m: a GGUF's own World vocabulary, or the byte tokenizer of a vocab-256 model. */
    char vocab[600];
    snprintf(vocab, sizeof vocab, "%s", test_shared("data/rwkv_vocab_v20230424.txt"));
    run_rwkv(&r, NULL, NULL, "init", "--shape", "L1C64", "--vocab", "65536", tmp_path("world.pth"), NULL);
    CHECK(r.rc == 0, "init a World-vocabulary model: %s", r.err);
    test_result_free(&r);
    run_rwkv(&r, NULL, NULL, "convert", tmp_path("world.pth"), tmp_path("world.gguf"), "--vocab", vocab, NULL);
    CHECK(r.rc == 0 && strstr(r.err, "vocabulary embedded"), "convert with the World vocabulary: %s", r.err);
    test_result_free(&r);
    write_file(tmp_path("fox.txt"), "The quick brown fox jumps over the lazy dog.", 44);
    run_rwkv(&r, NULL, tmp_path("fox.txt"), "tokenize", "-m", tmp_path("world.gguf"), NULL);
    CHECK(r.rc == 0 && !strcmp(r.out, "6699 39418 37917 21704 38828 31601 22590 31261 21551 47\n"),
          "tokenize -m GGUF: exit %d, '%s' %s", r.rc, r.out, r.err);
    test_result_free(&r);
    run_rwkv(&r, NULL, tmp_path("fox.txt"), "tokenize", "-m", model_path, NULL);
    CHECK(r.rc == 0 && !strncmp(r.out, "84 104 101 32 ", 14), "tokenize -m (byte model): '%s' %s", r.out, r.err);
    test_result_free(&r);
    run_rwkv(&r, NULL, NULL, "tokenize", "-m", tmp_path("missing.gguf"), NULL);
    check_error("tokenize -m missing", &r);
    test_result_free(&r);

    /* bench: --prompt-tokens, the JSON object parsed; --prompt is the deprecated spelling. */
    for (int old = 0; old < 2; old++) {
        run_rwkv(&r, NULL, NULL, "bench", "-m", model_path, old ? "--prompt" : "--prompt-tokens", "16", "--gen", "4",
                 "--reps", "1", "--bw-mb", "16", "--threads", "1", "--json", NULL);
        json_t *j = json_loads(r.out, 0, NULL);
        CHECK(r.rc == 0 && json_is_object(j), "bench --json: %d %s %s", r.rc, r.out, r.err);
        static const char *const nums[] = {"decode_tok_s", "decode_tok_s_min", "decode_tok_s_max", "prefill_tok_s",
                                           "prefill_gflops", "decode_ms_per_token", "decode_gbs", "mem_bw_gbs",
                                           "bw_fraction", "peak_rss_mb", "flops_per_token"};
        for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
            CHECK(json_is_number(json_object_get(j, nums[i])), "bench: %s is a number", nums[i]);
        CHECK(json_integer_value(json_object_get(j, "prompt")) == 16 && json_integer_value(json_object_get(j, "gen")) == 4 &&
              json_integer_value(json_object_get(j, "threads")) == 1, "bench: prompt, gen, threads");
        CHECK(json_is_true(json_object_get(j, "logits_finite")) && json_is_string(json_object_get(j, "cpu")),
              "bench: logits_finite, cpu");
        CHECK(!old || strstr(r.err, "deprecated"), "bench --prompt: a note says it is deprecated: %s", r.err);
        json_decref(j);
        test_result_free(&r);
    }
}

/* Runs a bash script (text) with the completion sourced and `comp WORDS...` defined (prints
 * "[WORDS] -> COMPREPLY"); its output in *r. */
static void run_completion(test_run_result *r, const char *script) {
    char body[8192];
    snprintf(body, sizeof body,
             "source tools/cli/completion.bash\n"
             "comp() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(( $# - 1 )); _rwkv; echo \"[$*] -> ${COMPREPLY[*]}\"; }\n"
             "B='%s'\n%s", test_rwkv_bin(), script);
    write_file(tmp_path("comp.sh"), body, strlen(body));
    char cmd[2048] = "bash";
    test_shell_quote(cmd, sizeof cmd, tmp_path("comp.sh"));
    size_t n = strlen(cmd);
    snprintf(cmd + n, sizeof cmd - n, " >'%s' 2>'%s'", tmp_path("comp.out"), tmp_path("comp.err"));
    char out[600], err[600];
    snprintf(out, sizeof out, "%s", tmp_path("comp.out"));
    snprintf(err, sizeof err, "%s", tmp_path("comp.err"));
    test_system_capture(cmd, out, err, r);
}

/* Bash completion (tools/cli/completion.bash) and the manual page (tools/cli/mkman.sh). */
static void test_completion_and_man(void) {
    if (system("command -v bash >/dev/null 2>&1") != 0) {
        CHECK(0, "bash is needed to test the completion");
        return;
    }
    write_file(tmp_path("model-a.pth"), "x", 1);
    char script[4096];
    snprintf(script, sizeof script,
             "comp $B gen\ncomp $B generate --te\ncomp $B chat --js\ncomp $B convert a b --type q4\n"
             "comp $B quantize a b -t q8\ncomp $B init --shape 1\ncomp $B init --dtype b\ncomp $B eval l\n"
             "comp $B eval perplexity --c\ncomp $B bench --prompt-\ncomp $B generate -m '%s/model-'\n"
             "comp $B chat --state '%s/model-'\ncomp $B info '%s/model-'\ncomp $B generate --h\n",
             tmpdir, tmpdir, tmpdir);
    test_run_result r;
    run_completion(&r, script);
    static const char *const want[] = {
        "gen] -> generate\n", "generate --te] -> --temperature\n", "chat --js] -> --json-schema --jsonl\n",
        "--type q4] -> q4_0 q4_1\n", "-t q8] -> q8_0\n", "--shape 1] -> 1.5b\n", "--dtype b] -> bf16\n",
        "eval l] -> lambada\n", "perplexity --c] -> --ctx\n", "bench --prompt-] -> --prompt-tokens\n",
        "generate --h] -> --help\n"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK(strstr(r.out, want[i]) != NULL, "completion: want '%s' in:\n%s%s", want[i], r.out, r.err);
    char file[700];
    snprintf(file, sizeof file, "model-] -> %s/model-a.pth\n", tmpdir);
    int files = 0;
    for (const char *p = r.out; (p = strstr(p, file)) != NULL; p++) files++;
    CHECK(files == 3, "completion: file names after -m, --state and for info's MODEL (%d):\n%s", files, r.out);
    test_result_free(&r);

    /* Every option the completion offers (read from the help texts) is one the command knows. */
    static const char *const cmds[] = {"info", "generate", "logits", "tokenize", "chat", "init", "bench",
                                       "convert", "quantize", "eval perplexity", "eval lambada", "serve", "devices"};
    char all[2048] = "";
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char line[128];
        snprintf(line, sizeof line, "comp $B %s -\n", cmds[i]);
        strcat(all, line);
    }
    run_completion(&r, all);
    int checked = 0, unknown = 0;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char head[128];
        snprintf(head, sizeof head, "[%s %s -] -> ", test_rwkv_bin(), cmds[i]);
        const char *p = strstr(r.out, head);
        CHECK(p != NULL, "completion of '%s -'", cmds[i]);
        if (!p) continue;
        p += strlen(head);
        const char *end = strchr(p, '\n');
        char opts[2048];
        snprintf(opts, sizeof opts, "%.*s", (int)(end ? end - p : 0), p);
        char *save = NULL;
        for (char *o = strtok_r(opts, " ", &save); o; o = strtok_r(NULL, " ", &save)) {
            if (!strcmp(o, "--help")) continue;
            /* "rwkv CMD OPT --help": help, or a complaint about a value, never "unknown option" */
            char cmd[1024] = "";
            test_shell_quote(cmd, sizeof cmd, test_rwkv_bin());
            char sub[64];
            snprintf(sub, sizeof sub, "%s", cmds[i]);
            char *sp = strchr(sub, ' ');
            if (sp) *sp = '\0';
            test_shell_quote(cmd, sizeof cmd, sub);
            if (sp) test_shell_quote(cmd, sizeof cmd, sp + 1);
            test_shell_quote(cmd, sizeof cmd, o);
            size_t n = strlen(cmd);
            snprintf(cmd + n, sizeof cmd - n, " --help </dev/null >'%s/o.out' 2>'%s/o.err'", tmpdir, tmpdir);
            char po[600], pe[600];
            snprintf(po, sizeof po, "%s/o.out", tmpdir);
            snprintf(pe, sizeof pe, "%s/o.err", tmpdir);
            test_run_result x;
            test_system_capture(cmd, po, pe, &x);
            checked++;
            if (strstr(x.err, "unknown option") || x.rc >= 128) {
                unknown++;
                fprintf(stderr, "  %s %s: %s", cmds[i], o, x.err);
            }
            test_result_free(&x);
        }
    }
    CHECK(checked > 100 && unknown == 0, "%d of %d options in the help texts are unknown to their command", unknown,
          checked);
    test_result_free(&r);

    /* The manual page: every command's section, and groff renders it without a warning. */
    char cmd[2048] = "sh tools/cli/mkman.sh";
    test_shell_quote(cmd, sizeof cmd, test_rwkv_bin());
    size_t n = strlen(cmd);
    snprintf(cmd + n, sizeof cmd - n, " >'%s/rwkv.1' 2>'%s/man.err'", tmpdir, tmpdir);
    char po[600], pe[600];
    snprintf(po, sizeof po, "%s/rwkv.1", tmpdir);
    snprintf(pe, sizeof pe, "%s/man.err", tmpdir);
    test_system_capture(cmd, po, pe, &r);
    CHECK(r.rc == 0 && !strncmp(r.out, ".TH RWKV 1", 10), "mkman.sh: %d %s", r.rc, r.err);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char sec[64];
        snprintf(sec, sizeof sec, "\n.SS %.20s\n", cmds[i]);
        if (strchr(sec + 5, ' ')) continue; /* (eval's tasks are in its section) */
        CHECK(strstr(r.out, sec) != NULL, "the manual has a section for %s", cmds[i]);
    }
    test_result_free(&r);
    if (system("command -v groff >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof cmd, "groff -man -Tutf8 -ww '%s/rwkv.1' >'%s/man.txt' 2>'%s/man.err'", tmpdir, tmpdir,
                 tmpdir);
        snprintf(po, sizeof po, "%s/man.txt", tmpdir);
        test_system_capture(cmd, po, pe, &r);
        CHECK(r.rc == 0 && r.err_len == 0 && strstr(r.out, "--temperature"), "groff: %d %s", r.rc, r.err);
        test_result_free(&r);
    } else {
        fprintf(stderr, "note: groff is not installed: the manual page was not rendered\n");
    }
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
    BAD("--temperature 1000", "generate", "-m", model_path, "-p", "x", "--temperature", "1000");
    BAD("--top-p 2", "generate", "-m", model_path, "-p", "x", "--top-p", "2");
    BAD("--top-k 1.5", "generate", "-m", model_path, "-p", "x", "--top-k", "1.5");
    BAD("--seed -1", "generate", "-m", model_path, "-p", "x", "--seed", "-1");
    BAD("--threads -1", "generate", "-m", model_path, "-p", "x", "--threads", "-1");
    /* the environment's model parameters: malformed values are errors; good ones take effect */
    static const char *const bad_env[] = {"RWKV_DEVICE=tpu ", "RWKV_QUANT_DOT=fast ", "RWKV_FORCE_SCALAR=maybe ",
                                          "RWKV_AMX=2 ", "RWKV_PREFILL_BF16=x "};
    for (size_t i = 0; i < sizeof bad_env / sizeof bad_env[0]; i++) {
        run_rwkv(&r, bad_env[i], NULL, "info", model_path, NULL);
        check_error(bad_env[i], &r);
        test_result_free(&r);
    }
    run_rwkv(&r, "RWKV_FORCE_SCALAR=1 ", NULL, "info", test_shared("models/tiny-rwkv-7v0-834K-Q5_1.bin"), NULL);
    CHECK(r.rc == 0 && json_has(r.out, "quant_products", "\"scalar\""), "RWKV_FORCE_SCALAR=1 takes effect: %s%s",
          r.out, r.err);
    test_result_free(&r);
    run_rwkv(&r, "RWKV_DEVICE=cpu RWKV_QUANT_DOT=exact ", NULL, "info", test_shared("models/tiny-rwkv-7v0-834K-Q5_1.bin"),
             "--threads", "1", NULL);
    CHECK(r.rc == 0 && json_has(r.out, "quant_products", "\"exact\"") && strstr(r.out, "1 thread\""),
          "RWKV_QUANT_DOT=exact and --threads 1 take effect: %s%s", r.out, r.err);
    test_result_free(&r);
    BAD("--device unknown", "generate", "-m", model_path, "-p", "x", "--device", "tpu");
    BAD("--device vulkan:x", "info", model_path, "--device", "vulkan:x");
    BAD("--device empty", "info", model_path, "--device", "");
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

/* Number of temporary files (names containing ".tmp") left in dir. */
static int stray_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) n += strstr(e->d_name, ".tmp") != NULL;
    closedir(d);
    return n;
}

/* 1 when the two files have the same bytes. */
static int same_bytes(const char *a, const char *b) {
    size_t la = 0, lb = 0;
    char *da = test_read_file(a, &la), *db = test_read_file(b, &lb);
    int same = da && db && la == lb && !memcmp(da, db, la);
    free(da);
    free(db);
    return same;
}

/* convert / quantize / init: bad vocabularies, outputs that are inputs, existing outputs, wrong
 * extensions, no temporary file left behind by any failure (issue 14, items 1, 2 and 17). */
static void test_writers(void) {
    char vocab[600]; /* test_shared's buffers are reused */
    snprintf(vocab, sizeof vocab, "%s", test_shared("data/rwkv_vocab_v20230424.txt"));
    test_run_result r;
    /* A World vocabulary (65536 tokens) with byte-level models: one clear error, no crash. */
    static const char *const models[] = {"models/tiny-rwkv-7v0-834K.pth", "models/tiny-rwkv-5v2-730K.pth",
                                         "models/tiny-rwkv-5v2-730K-FP16.bin", "models/tiny-rwkv-7v0-834K-FP16.bin"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char what[200];
        for (int q = 0; q < 2; q++) {
            snprintf(what, sizeof what, "%s %s with a 65536-token vocabulary", q ? "quantize" : "convert",
                     models[i]);
            if (q)
                run_rwkv(&r, NULL, NULL, "quantize", test_shared(models[i]), tmp_path("v.gguf"), "--type",
                         "q8_0", "--vocab", vocab, NULL);
            else
                run_rwkv(&r, NULL, NULL, "convert", test_shared(models[i]), tmp_path("v.gguf"), "--vocab",
                         vocab, NULL);
            check_error(what, &r);
            CHECK(strstr(r.err, "has 65536 tokens but the model 256") != NULL, "%s: %s", what, r.err);
            CHECK(!file_exists(tmp_path("v.gguf")) && stray_files(tmpdir) == 0, "%s: files left behind", what);
            test_result_free(&r);
        }
    }
    /* The same through a GGUF input. */
    run_rwkv(&r, NULL, NULL, "convert", model_path, tmp_path("in.gguf"), NULL);
    CHECK(r.rc == 0 && file_exists(tmp_path("in.gguf")), "convert to GGUF: %d %s", r.rc, r.err);
    test_result_free(&r);
    run_rwkv(&r, NULL, NULL, "quantize", tmp_path("in.gguf"), tmp_path("v.gguf"), "--type", "q8_0", "--vocab",
             vocab, NULL);
    check_error("quantize GGUF with a 65536-token vocabulary", &r);
    test_result_free(&r);

    /* OUT is IN: by name, through a hard link, through a symbolic link; never replaced. */
    const char *in = tmp_path("model.pth");
    size_t mlen = 0;
    char *mdata = test_read_file(model_path, &mlen);
    CHECK(mdata && write_file(in, mdata, mlen) == 0, "copy the model");
    free(mdata);
    CHECK(link(in, tmp_path("hard.gguf")) == 0 && symlink(in, tmp_path("sym.gguf")) == 0, "links");
    static const char *const same[] = {"model.pth", "hard.gguf", "sym.gguf"};
    for (size_t i = 0; i < 3; i++) {
        run_rwkv(&r, NULL, NULL, "convert", in, tmp_path(same[i]), "--force", NULL);
        check_error(same[i], &r);
        CHECK(strstr(r.err, "same file") != NULL, "convert to %s: %s", same[i], r.err);
        test_result_free(&r);
        run_rwkv(&r, NULL, NULL, "quantize", in, tmp_path(same[i]), "--type", "q8_0", NULL);
        check_error(same[i], &r);
        test_result_free(&r);
    }
    CHECK(same_bytes(in, model_path), "the input is unchanged");
    /* OUT names a format that is not written. */
    run_rwkv(&r, NULL, NULL, "convert", tmp_path("in.gguf"), tmp_path("back.pth"), NULL);
    check_error("convert to .pth", &r);
    test_result_free(&r);
    run_rwkv(&r, NULL, NULL, "convert", tmp_path("in.gguf"), tmp_path("back.bin"), NULL);
    check_error("convert to .bin", &r);
    test_result_free(&r);
    run_rwkv(&r, NULL, NULL, "init", "--shape", "L2C64", "--vocab", "256", tmp_path("i.gguf"), NULL);
    check_error("init to .gguf", &r);
    test_result_free(&r);
    CHECK(!file_exists(tmp_path("back.pth")) && !file_exists(tmp_path("back.bin")) &&
          !file_exists(tmp_path("i.gguf")), "nothing written under a wrong extension");
    /* An existing OUT needs --force. */
    run_rwkv(&r, NULL, NULL, "convert", model_path, tmp_path("in.gguf"), NULL);
    check_error("convert over an existing file", &r);
    CHECK(strstr(r.err, "--force") != NULL, "the error names --force: %s", r.err);
    test_result_free(&r);
    run_rwkv(&r, NULL, NULL, "convert", model_path, tmp_path("in.gguf"), "--force", NULL);
    CHECK(r.rc == 0, "convert --force: %d %s", r.rc, r.err);
    test_result_free(&r);
    run_rwkv(&r, NULL, NULL, "init", "--shape", "L2C64", "--vocab", "256", tmp_path("i.pth"), NULL);
    CHECK(r.rc == 0, "init: %d %s", r.rc, r.err);
    test_result_free(&r);
    run_rwkv(&r, NULL, NULL, "init", "--shape", "L2C64", "--vocab", "256", "--seed", "3", tmp_path("i.pth"), NULL);
    check_error("init over an existing file", &r);
    test_result_free(&r);
    run_rwkv(&r, NULL, NULL, "init", "--shape", "L2C64", "--vocab", "256", "--seed", "3", "--force",
             tmp_path("i.pth"), NULL);
    CHECK(r.rc == 0, "init --force: %d %s", r.rc, r.err);
    test_result_free(&r);

    /* A bad input is named as the input, not blamed on the output; no temporary file stays. */
    write_file(tmp_path("empty.pth"), "", 0);
    run_rwkv(&r, NULL, NULL, "convert", tmp_path("empty.pth"), tmp_path("o.gguf"), NULL);
    check_error("convert of an empty file", &r);
    char want[700];
    snprintf(want, sizeof want, "rwkv: error: cannot convert '%s'", tmp_path("empty.pth"));
    CHECK(!strncmp(r.err, want, strlen(want)) && !strstr(r.err, "cannot write"), "names the input: %s", r.err);
    test_result_free(&r);
    run_rwkv(&r, NULL, NULL, "convert", tmp_path("missing.pth"), tmp_path("o.gguf"), NULL);
    check_error("convert of a missing file", &r);
    CHECK(strstr(r.err, "input '") != NULL, "names the input: %s", r.err);
    test_result_free(&r);
    CHECK(mkdir(tmp_path("dir.gguf"), 0700) == 0, "mkdir");
    run_rwkv(&r, NULL, NULL, "convert", model_path, tmp_path("dir.gguf"), "--force", NULL);
    check_error("convert to a directory", &r);
    test_result_free(&r);
    /* The library on its own: the rename into a directory fails and the temporary file goes. */
    CHECK(rwkv_convert_file(model_path, tmp_path("dir.gguf"), NULL, NULL, NULL, NULL, NULL) == RWKV_ERR_IO,
          "rwkv_convert_file onto a directory: %s", rwkv_last_error());
    CHECK(rwkv_model_init_random("L2C64", "fp16", 0, 256, tmp_path("dir.gguf")) != RWKV_OK,
          "rwkv_model_init_random onto a directory");
    CHECK(stray_files(tmpdir) == 0, "no temporary file left after the failures");
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
    test_generate_end();
    test_tokenize();
    test_options();
    test_bad_inputs();
    test_writers();
    test_completion_and_man();

    test_remove_dir(tmpdir);
    return test_summary("test_cli");
}
