/* cmd_bench.c — `rwkv bench`: decode and prefill speed of a model, its memory use, the weight
 * bandwidth decode implies and the machine's measured memory read bandwidth. */
#include "cli.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static const char bench_usage[] =
    "usage: rwkv bench [-m] MODEL [--threads N] [--device DEV] [--prompt-tokens 512] [--gen 128]\n"
    "                  [--reps 5] [--json] [--long N] [--seed S] [--bw-mb MIB] [--prefill-bf16]\n"
    "                  [--chunk N]\n"
    "MODEL: a model file (.pth, rwkv.cpp .bin or .gguf). Loads the model, warms up, then per\n"
    "repetition: prefill of a random prompt of --prompt-tokens tokens (--prompt N: the same,\n"
    "deprecated) from a fresh state (logits of the last token), then --gen decode steps (one token\n"
    "each, greedy). Reports medians [min, max] over the repetitions of decode tok/s and ms/token and\n"
    "prefill tok/s; prefill GFLOP/s = 2 x (params - 2 x n_vocab x n_embd) x tok/s (every\n"
    "weight but the embedding and the head is one multiply-add per token); peak RSS; the weight\n"
    "bytes read per decoded token and the bandwidth that implies, beside the machine's memory\n"
    "read bandwidth: a streaming read (the widest vector loads the CPU has, 8 accumulators, pages\n"
    "touched first) of --bw-mb MiB (default 1024, or 8 x the last-level cache if larger) with\n"
    "--threads threads, best of 8 passes, in a child process so that the model's peak RSS is not\n"
    "affected.\n"
    "--long N also prefills N tokens (in chunks, no logits) and compares peak RSS and decode\n"
    "ms/token after it with those after a 100-token prompt.\n"
    "--json prints one object. The default prefill arithmetic is exact fp32.\n"
    "On a GPU (--device vulkan or vulkan:N) the decode bandwidth is compared with the device's\n"
    "copy-kernel bandwidth (device_bw_gbs: a copy of 256 MiB, as `rwkv devices` measures it).\n"
    "--chunk N: tokens per prefill chunk (rwkv_model_params.seq_chunk, 1..4096; default: the\n"
    "library's).\n"
    CLI_MODEL_HELP;

/* ---- statistics ---------------------------------------------------------------------------- */

typedef struct stats {
    double med, min, max;
} stats;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, minimum and maximum of v[0..n) (n >= 1; v is sorted in place). */
static stats summarize(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    stats s = {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0], v[n - 1]};
    return s;
}

/* ---- machine description ------------------------------------------------------------------- */

/* The value of the first /proc/cpuinfo line whose key is `key` into buf (empty if none). */
static void cpuinfo_value(const char *key, char *buf, size_t cap) {
    buf[0] = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[8192];
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0) continue;
        const char *p = line + klen;
        while (*p == ' ' || *p == '\t') p++;
        if (*p != ':') continue;
        p++;
        while (*p == ' ') p++;
        snprintf(buf, cap, "%s", p);
        size_t n = strlen(buf);
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
        break;
    }
    fclose(f);
}

/* The CPU's model name. */
static void cpu_model(char *buf, size_t cap) {
    cpuinfo_value("model name", buf, cap);
    if (!buf[0]) cpuinfo_value("Model", buf, cap);
    if (!buf[0]) cpuinfo_value("CPU part", buf, cap);
    if (!buf[0]) snprintf(buf, cap, "unknown");
}

/* The SIMD features that matter to the kernels, space-separated. */
static void cpu_features(char *buf, size_t cap) {
    static const char *const wanted[] = {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
                                         "avx512_bf16", "avx512_vnni", "avx512_fp16", "asimd",
                                         "asimdhp", "fphp", "bf16", "i8mm", "sve"};
    char flags[8192];
    cpuinfo_value("flags", flags, sizeof flags);
    if (!flags[0]) cpuinfo_value("Features", flags, sizeof flags);
    buf[0] = 0;
    size_t used = 0;
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        size_t wl = strlen(wanted[i]);
        for (const char *p = flags; (p = strstr(p, wanted[i])) != NULL; p += wl) {
            bool start = p == flags || p[-1] == ' ', end = p[wl] == 0 || p[wl] == ' ';
            if (start && end) {
                int k = snprintf(buf + used, cap - used, "%s%s", used ? " " : "", wanted[i]);
                if (k > 0 && (size_t)k < cap - used) used += (size_t)k;
                break;
            }
        }
    }
}

/* Physical cores (distinct physical id / core id pairs), or the online CPUs if unknown. */
static int physical_cores(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int fallback = online > 0 ? (int)online : 1;
    if (!f) return fallback;
    long pairs[1024][2];
    int n = 0;
    long phys = 0, core = -1;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "physical id", 11)) phys = strtol(strchr(line, ':') ? strchr(line, ':') + 1 : "0", NULL, 10);
        if (!strncmp(line, "core id", 7)) {
            core = strtol(strchr(line, ':') ? strchr(line, ':') + 1 : "0", NULL, 10);
            bool seen = false;
            for (int i = 0; i < n; i++) seen |= pairs[i][0] == phys && pairs[i][1] == core;
            if (!seen && n < 1024) {
                pairs[n][0] = phys;
                pairs[n][1] = core;
                n++;
            }
        }
    }
    fclose(f);
    return n > 0 ? n : fallback;
}

/* Peak resident set size of this process so far, in MB (10^6 bytes). */
static double peak_rss_mb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)ru.ru_maxrss * 1024.0 / 1e6; /* ru_maxrss is in KiB on Linux */
}

/* ---- memory read bandwidth -----------------------------------------------------------------
 * A streaming read: every thread sums its slice of a buffer much larger than the last-level
 * cache with the widest loads the CPU has (AVX-512, AVX2, else the target's 16-byte vectors) into
 * 8 independent accumulators, so that neither the adds' latency nor the loop limits the rate. The
 * pages are written once before timing; the result is the best of several passes. */

typedef struct bw_task {
    const uint64_t *p;
    size_t n;       /* uint64 elements, a multiple of BW_STEP */
    int fill;       /* 1: write the slice (first touch), 0: sum it */
    uint64_t sum;
} bw_task;

enum { BW_STEP = 64 };  /* uint64 elements per loop iteration: 8 accumulators x 64 bytes */

/* Sums n uint64 (a multiple of BW_STEP) into 8 accumulators of W bytes, one load each per
 * iteration; one function per vector width, each compiled for its instruction set. */
#define BW_ACC(a, k) (memcpy(&x, p + i + (k) * L, sizeof x), (a) += x)
#define BW_SUM(name, W, attr)                                                                      \
    attr static uint64_t name(const uint64_t *p, size_t n) {                                      \
        typedef uint64_t v __attribute__((vector_size(W)));                                       \
        enum { L = W / 8 }; /* lanes */                                                          \
        v a0 = {0}, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, x;             \
        for (size_t i = 0; i < n; i += 8 * L) {                                                   \
            BW_ACC(a0, 0);                                                                        \
            BW_ACC(a1, 1);                                                                        \
            BW_ACC(a2, 2);                                                                        \
            BW_ACC(a3, 3);                                                                        \
            BW_ACC(a4, 4);                                                                        \
            BW_ACC(a5, 5);                                                                        \
            BW_ACC(a6, 6);                                                                        \
            BW_ACC(a7, 7);                                                                        \
        }                                                                                         \
        v t = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;                                              \
        uint64_t s = 0;                                                                           \
        for (int l = 0; l < L; l++) s += t[l];                                                    \
        return s;                                                                                 \
    }
BW_SUM(bw_sum16, 16, )
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
BW_SUM(bw_sum32, 32, __attribute__((target("avx2"))))
BW_SUM(bw_sum64, 64, __attribute__((target("avx512f"))))
#endif

/* The widest summing loop this CPU runs, and its name. */
static uint64_t (*bw_sum_best(const char **name))(const uint64_t *, size_t) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return *name = "avx512", bw_sum64;
    if (__builtin_cpu_supports("avx2")) return *name = "avx2", bw_sum32;
#endif
    return *name = "128-bit", bw_sum16;
}

static uint64_t (*g_bw_sum)(const uint64_t *, size_t) = bw_sum16;

static void *bw_thread(void *arg) {
    bw_task *t = arg;
    if (t->fill) {
        uint64_t *w = (uint64_t *)t->p;
        for (size_t i = 0; i < t->n; i++) w[i] = i;
    } else {
        t->sum = g_bw_sum(t->p, t->n);
    }
    return NULL;
}

/* Runs one pass over the array with n_threads threads; returns the seconds it took (< 0 on
 * failure to start threads). */
static double bw_pass(uint64_t *p, size_t n, int n_threads, int fill, uint64_t *sum) {
    bw_task tasks[256];
    pthread_t tid[256];
    size_t per = (n / (size_t)n_threads) / BW_STEP * BW_STEP;
    double t0 = cli_now();
    int started = 0;
    for (int i = 0; i < n_threads; i++) {
        tasks[i] = (bw_task){p + (size_t)i * per, per, fill, 0};
        if (i > 0 && pthread_create(&tid[i], NULL, bw_thread, &tasks[i]) != 0) break;
        started = i + 1;
    }
    if (started > 0) bw_thread(&tasks[0]);
    for (int i = 1; i < started; i++) pthread_join(tid[i], NULL);
    double dt = cli_now() - t0;
    if (started < n_threads) return -1;
    for (int i = 0; i < n_threads; i++) *sum += tasks[i].sum;
    return dt;
}

/* The default probe size in MiB: 1 GiB, or 8 times the last-level cache if that is larger. */
static int bw_default_mib(void) {
    long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (llc <= 0) llc = sysconf(_SC_LEVEL2_CACHE_SIZE);
    long mib = llc > 0 ? 8 * (llc >> 20) : 0;
    return mib > 1024 ? (int)(mib < (1 << 20) ? mib : 1 << 20) : 1024;
}

/* Best read bandwidth (GB/s, 10^9 bytes) over `runs` passes over a mib-MiB array; -1 on failure. */
static double bw_measure_here(size_t mib, int n_threads, int runs) {
    size_t bytes = mib << 20, n = bytes / 8;
    uint64_t *p = aligned_alloc(64, bytes);
    if (!p) return -1;
    uint64_t sum = 0;
    double best = -1;
    size_t read = (n / (size_t)n_threads) / BW_STEP * BW_STEP * (size_t)n_threads * 8;
    if (bw_pass(p, n, n_threads, 1, &sum) >= 0) {
        for (int r = 0; r < runs; r++) {
            double dt = bw_pass(p, n, n_threads, 0, &sum);
            if (dt <= 0) break;
            double gbs = (double)read / dt / 1e9;
            if (gbs > best) best = gbs;
        }
    }
    if (sum == 42) fputc(' ', stderr); /* keeps the sums observable */
    free(p);
    return best;
}

/* bw_measure_here in a child process (so its array does not raise this process's peak RSS);
 * falls back to measuring here if fork fails. Call before any thread exists. */
static double bw_measure(size_t mib, int n_threads, int runs) {
    int fds[2];
    if (pipe(fds) != 0) return bw_measure_here(mib, n_threads, runs);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return bw_measure_here(mib, n_threads, runs);
    }
    if (pid == 0) {
        close(fds[0]);
        double v = bw_measure_here(mib, n_threads, runs);
        ssize_t k = write(fds[1], &v, sizeof v);
        _exit(k == (ssize_t)sizeof v ? 0 : 1);
    }
    close(fds[1]);
    double v = -1;
    if (read(fds[0], &v, sizeof v) != (ssize_t)sizeof v) v = -1;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return v;
}

/* ---- the model runs ------------------------------------------------------------------------ */

/* splitmix64 step for the random prompt. */
static uint64_t next_random(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Index of the largest logit (lowest index on ties). */
static int32_t argmax(const float *v, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* True when every logit is finite. */
static bool all_finite(const float *v, int n) {
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i])) return false;
    return true;
}

typedef struct bench_ctx {
    rwkv_model *model;
    rwkv_state *state;
    int n_vocab;
    float *logits;
    bool finite;    /* every logits vector seen was finite */
} bench_ctx;

/* Feeds n tokens (logits of the last one if want_logits); returns seconds or < 0 on failure. */
static double timed_eval(bench_ctx *b, const int32_t *tok, size_t n, bool want_logits) {
    double t0 = cli_now();
    rwkv_status st = rwkv_eval(b->model, b->state, tok, n, want_logits ? b->logits : NULL, 0);
    double dt = cli_now() - t0;
    if (st != RWKV_OK) {
        cli_lib_error(st, "evaluation failed");
        return -1;
    }
    if (want_logits && !all_finite(b->logits, b->n_vocab)) b->finite = false;
    return dt;
}

/* gen greedy decode steps from the current state and logits; returns seconds or < 0. */
static double decode_steps(bench_ctx *b, int gen) {
    double total = 0;
    for (int i = 0; i < gen; i++) {
        int32_t t = argmax(b->logits, b->n_vocab);
        double dt = timed_eval(b, &t, 1, true);
        if (dt < 0) return -1;
        total += dt;
    }
    return total;
}

/* Sets key, key_min and key_max of o to s. */
static void json_stats(json_t *o, const char *key, stats s) {
    char k[64];
    json_object_set_new(o, key, cli_json_number(s.med));
    snprintf(k, sizeof k, "%s_min", key);
    json_object_set_new(o, k, cli_json_number(s.min));
    snprintf(k, sizeof k, "%s_max", key);
    json_object_set_new(o, k, cli_json_number(s.max));
}

typedef struct bench_opts {
    const char *model_path;
    cli_model_opts mo;
    int prompt, gen, reps, json, bw_mib, chunk;
    long long long_n;
    uint64_t seed;
} bench_opts;

typedef struct long_result {
    double prefill_tok_s, rss_short, rss_long, ms_short, ms_long;
} long_result;

/* The --long measurement: decode after a 100-token prompt vs after an n-token prompt. */
static int run_long(bench_ctx *b, const bench_opts *o, int32_t *buf, size_t buf_n, uint64_t *rng,
                    long_result *r) {
    int gen = o->gen > 0 ? o->gen : 16;
    size_t short_n = buf_n < 100 ? buf_n : 100;
    rwkv_state_reset(b->state);
    for (size_t i = 0; i < short_n; i++) buf[i] = (int32_t)(next_random(rng) % (uint64_t)b->n_vocab);
    if (timed_eval(b, buf, short_n, true) < 0) return -1;
    r->rss_short = peak_rss_mb();
    double dt = decode_steps(b, gen);
    if (dt < 0) return -1;
    r->ms_short = 1000.0 * dt / gen;

    rwkv_state_reset(b->state);
    double total = 0, next_note = 0.1;
    bool tty = !o->json && isatty(2);
    for (long long done = 0; done < o->long_n;) {
        size_t n = (size_t)(o->long_n - done) < buf_n ? (size_t)(o->long_n - done) : buf_n;
        for (size_t i = 0; i < n; i++) buf[i] = (int32_t)(next_random(rng) % (uint64_t)b->n_vocab);
        bool last = done + (long long)n == o->long_n;
        double t = timed_eval(b, buf, n, last);
        if (t < 0) return -1;
        total += t;
        done += (long long)n;
        if (tty && (double)done >= next_note * (double)o->long_n) {
            fprintf(stderr, "rwkv: long prompt %lld/%lld tokens (%.0f tok/s)\n", done, o->long_n, done / total);
            next_note += 0.1;
        }
    }
    r->prefill_tok_s = (double)o->long_n / total;
    r->rss_long = peak_rss_mb();
    dt = decode_steps(b, gen);
    if (dt < 0) return -1;
    r->ms_long = 1000.0 * dt / gen;
    return 0;
}

/* Parses the command line into *o; returns -1 to continue, else the exit status. */
static int parse_bench_args(int argc, char **argv, bench_opts *o) {
    enum { OPT_MODEL = 1, OPT_PROMPT, OPT_PROMPT_OLD, OPT_GEN, OPT_REPS, OPT_JSON, OPT_LONG,
           OPT_SEED, OPT_BW, OPT_CHUNK };
    static const cli_option opts[] = {
        {OPT_MODEL, "model", 'm', 1}, CLI_MODEL_OPTIONS, {OPT_PROMPT, "prompt-tokens", 0, 1},
        {OPT_PROMPT_OLD, "prompt", 'p', 1},
        {OPT_GEN, "gen", 'n', 1},     {OPT_REPS, "reps", 'r', 1},       {OPT_JSON, "json", 0, 0},
        {OPT_LONG, "long", 0, 1},     {OPT_SEED, "seed", 0, 1},         {OPT_BW, "bw-mb", 0, 1},
        {OPT_CHUNK, "chunk", 0, 1},
        {0, NULL, 0, 0},
    };
    *o = (bench_opts){.prompt = 512, .gen = 128, .reps = 5, .bw_mib = bw_default_mib(), .seed = 1};
    cli_parser p;
    cli_parser_init(&p, "bench", argc, argv);
    const char *v;
    for (int id; (id = cli_next(&p, opts, &v)) != CLI_END;) {
        switch (id) {
        case CLI_HELP: fputs(bench_usage, stdout); return CLI_EXIT_OK;
        case CLI_BAD: return CLI_EXIT_USAGE;
        case CLI_POSITIONAL:
        case OPT_MODEL:
            if (o->model_path) return cli_usage_error("bench", "only one model may be given");
            o->model_path = v;
            break;
        case CLI_OPT_THREADS: case CLI_OPT_DEVICE: case CLI_OPT_PREFILL_BF16:
            if (cli_parse_model_option(id, v, &o->mo)) return CLI_EXIT_USAGE;
            break;
        case OPT_PROMPT_OLD:
            fprintf(stderr, "rwkv: note: bench --prompt N is deprecated: it is --prompt-tokens N\n");
            /* fall through */
        case OPT_PROMPT:
            if (cli_parse_int("--prompt-tokens", v, 1, 1 << 20, &o->prompt)) return CLI_EXIT_USAGE;
            break;
        case OPT_GEN: if (cli_parse_int("--gen", v, 1, 1 << 20, &o->gen)) return CLI_EXIT_USAGE; break;
        case OPT_REPS: if (cli_parse_int("--reps", v, 1, 1000, &o->reps)) return CLI_EXIT_USAGE; break;
        case OPT_JSON: o->json = 1; break;
        case OPT_CHUNK: if (cli_parse_int("--chunk", v, 1, 4096, &o->chunk)) return CLI_EXIT_USAGE; break;
        case OPT_LONG: if (cli_parse_i64("--long", v, 1, 1000000000LL, &o->long_n)) return CLI_EXIT_USAGE; break;
        case OPT_SEED: if (cli_parse_u64("--seed", v, &o->seed)) return CLI_EXIT_USAGE; break;
        case OPT_BW: if (cli_parse_int("--bw-mb", v, 1, 1 << 20, &o->bw_mib)) return CLI_EXIT_USAGE; break;
        }
    }
    if (!o->model_path) return cli_usage_error("bench", "no model file given");
    return -1;
}

int cmd_bench(int argc, char **argv) {
    bench_opts o;
    int rc = parse_bench_args(argc, argv, &o);
    if (rc >= 0) return rc;
    bench_ctx b = {0};
    b.finite = true;
    if (access(o.model_path, R_OK) != 0) { /* report a missing model before measuring anything */
        if (cli_load_model(o.model_path, &o.mo, &b.model) == 0) rwkv_model_free(b.model);
        return CLI_EXIT_RUNTIME;
    }
    int bw_threads = o.mo.n_threads > 0 ? o.mo.n_threads : physical_cores();
    if (bw_threads > 256) bw_threads = 256;
    const char *bw_isa;
    g_bw_sum = bw_sum_best(&bw_isa);
    double mem_bw = bw_measure((size_t)o.bw_mib, bw_threads, 8); /* before any thread exists */

    /* The weights are made resident at load (prefault), so peak RSS measures the engine's
     * memory and does not grow with the embedding rows a prompt happens to touch. */
    rwkv_model_params mp;
    if (cli_model_params(&o.mo, &mp)) return CLI_EXIT_USAGE;
    mp.prefault = 1;
    mp.seq_chunk = o.chunk;
    /* on a GPU the decode bandwidth is compared with the device's, from its copy kernel (before
     * the model takes the device's memory; 0 where it cannot be measured) */
    double dev_bw = 0;
    const int on_device = mp.device && *mp.device && strcmp(mp.device, "cpu") != 0;
    if (on_device && rwkv_device_bandwidth(mp.device, 256, 8, &dev_bw) != RWKV_OK) dev_bw = 0;
    if (cli_load_model_params(o.model_path, &mp, &b.model)) return CLI_EXIT_RUNTIME;
    rwkv_model_info info;
    rwkv_model_get_info(b.model, &info);
    const double ref_bw = on_device ? dev_bw : mem_bw; /* what decode_gbs is a fraction of */
    b.n_vocab = info.n_vocab;
    size_t buf_n = (size_t)o.prompt > 512 ? (size_t)o.prompt : 512;
    int32_t *tok = malloc(buf_n * sizeof *tok);
    b.logits = malloc((size_t)info.n_vocab * sizeof *b.logits);
    double *dec = malloc((size_t)o.reps * sizeof *dec), *dec_ms = malloc((size_t)o.reps * sizeof *dec_ms);
    double *pre = malloc((size_t)o.reps * sizeof *pre), *gfl = malloc((size_t)o.reps * sizeof *gfl);
    rc = CLI_EXIT_RUNTIME;
    if (!tok || !b.logits || !dec || !dec_ms || !pre || !gfl) {
        cli_error("out of memory");
        goto done;
    }
    rwkv_status st = rwkv_state_new(b.model, &b.state);
    if (st != RWKV_OK) {
        cli_lib_error(st, "cannot make a state");
        goto done;
    }
    uint64_t rng = o.seed;
    for (int i = 0; i < o.prompt; i++) tok[i] = (int32_t)(next_random(&rng) % (uint64_t)info.n_vocab);
    /* flops per prefilled token: one multiply-add per weight, except the embedding (a lookup) and
     * the head (computed for the last token only) */
    double mat_params = (double)info.params - 2.0 * info.n_vocab * (double)info.n_embd;
    double flops_per_token = 2.0 * (mat_params > 0 ? mat_params : (double)info.params);

    /* warm-up: touches every weight page and the kernels' scratch memory */
    if (timed_eval(&b, tok, (size_t)(o.prompt < 16 ? o.prompt : 16), true) < 0 || decode_steps(&b, 2) < 0) goto done;
    for (int r = 0; r < o.reps; r++) {
        rwkv_state_reset(b.state);
        double tp = timed_eval(&b, tok, (size_t)o.prompt, true);
        double td = tp < 0 ? -1 : decode_steps(&b, o.gen);
        if (td < 0) goto done;
        pre[r] = o.prompt / tp;
        gfl[r] = pre[r] * flops_per_token / 1e9;
        dec[r] = o.gen / td;
        dec_ms[r] = 1000.0 * td / o.gen;
    }
    double rss = peak_rss_mb();
    long_result lr = {0};
    if (o.long_n > 0 && run_long(&b, &o, tok, buf_n, &rng, &lr) < 0) goto done;

    stats sd = summarize(dec, o.reps), sms = summarize(dec_ms, o.reps);
    stats sp = summarize(pre, o.reps), sg = summarize(gfl, o.reps);
    double bpt = (double)info.decode_bytes;
    stats sbw = {bpt * sd.med / 1e9, bpt * sd.min / 1e9, bpt * sd.max / 1e9};
    char cpu[256], feat[256];
    cpu_model(cpu, sizeof cpu);
    cpu_features(feat, sizeof feat);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    const char *arith = info.prefill_products ? info.prefill_products : "fp32";
    if (o.json) {
        json_t *j = json_pack("{s:o, s:o, s:i, s:i, s:i, s:o, s:I, s:I, s:o, s:o, s:I, s:i, s:i, s:i, s:i}", "model",
                              cli_json_str(o.model_path), "generation", cli_json_str(info.generation), "n_layer",
                              info.n_layer, "n_embd", info.n_embd, "n_vocab", info.n_vocab, "weight_dtype",
                              cli_json_str(info.weight_dtype), "params", (json_int_t)info.params, "file_bytes",
                              (json_int_t)info.file_bytes, "cpu", cli_json_str(cpu), "cpu_features",
                              cli_json_str(feat), "logical_cpus", (json_int_t)online, "threads", bw_threads,
                              "prompt", o.prompt, "gen", o.gen, "reps", o.reps);
        json_stats(j, "decode_tok_s", sd);
        json_stats(j, "decode_ms_per_token", sms);
        json_stats(j, "prefill_tok_s", sp);
        json_stats(j, "prefill_gflops", sg);
        json_object_update_new(j, json_pack("{s:o, s:i, s:o, s:o, s:I}", "prefill_arithmetic", cli_json_str(arith),
                                        "seq_chunk", info.seq_chunk, "quant_products",
                                        cli_json_str(info.quant_products ? info.quant_products : "none"),
                                        "flops_per_token", cli_json_number(flops_per_token), "bytes_per_token",
                                        (json_int_t)info.decode_bytes));
        json_stats(j, "decode_gbs", sbw);
        json_object_update_new(j, json_pack("{s:o, s:i, s:o, s:o, s:o}", "mem_bw_gbs", cli_json_number(mem_bw),
                                        "mem_bw_mib", o.bw_mib, "mem_bw_loads", cli_json_str(bw_isa), "bw_fraction",
                                        cli_json_number(ref_bw > 0 ? sbw.med / ref_bw : 0.0), "peak_rss_mb",
                                        cli_json_number(rss)));
        json_object_update_new(j, json_pack("{s:o, s:o}", "backend", cli_json_str(info.backend), "device",
                                            cli_json_str(info.device)));
        if (on_device) json_object_set_new(j, "device_bw_gbs", cli_json_number(dev_bw));
        if (o.long_n > 0)
            json_object_update_new(j, json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "long_tokens", (json_int_t)o.long_n,
                                            "long_prefill_tok_s", cli_json_number(lr.prefill_tok_s), "rss_short_mb",
                                            cli_json_number(lr.rss_short), "rss_long_mb", cli_json_number(lr.rss_long),
                                            "decode_ms_short", cli_json_number(lr.ms_short), "decode_ms_long",
                                            cli_json_number(lr.ms_long)));
        json_object_set_new(j, "logits_finite", json_boolean(b.finite));
        if (cli_print_json(j)) goto done;
    } else {
        printf("model    %s: RWKV-%s L%d C%d vocab %d, %s, %.1f M params, file %.1f MB\n", o.model_path,
               info.generation, info.n_layer, info.n_embd, info.n_vocab, info.weight_dtype, info.params / 1e6,
               info.file_bytes / 1e6);
        printf("machine  %s (%ld logical CPUs; %s), %d threads\n", cpu, online, feat[0] ? feat : "-", bw_threads);
        if (info.quant_products && strcmp(info.quant_products, "none") != 0)
            printf("quant    products with the quantized weights: %s\n",
                   !strcmp(info.quant_products, "int8") ? "int8 activations, integer dot products"
                                                        : info.quant_products);
        printf("memory   read bandwidth %.1f GB/s (%s loads over %d MiB, %d threads, best of 8)\n", mem_bw,
               bw_isa, o.bw_mib, bw_threads);
        if (on_device)
            printf("device   %s: %s; copy bandwidth %.1f GB/s (256 MiB, best of 8)\n", info.backend, info.device,
                   dev_bw);
        printf("decode   %.2f tok/s = %.2f ms/token  [min %.2f, max %.2f tok/s]  (%d reps x %d tokens)\n", sd.med,
               sms.med, sd.min, sd.max, o.reps, o.gen);
        printf("         %.1f MB of weights per token -> %.1f GB/s [%.1f, %.1f] beside %.1f GB/s measured = %.1f%%\n",
               bpt / 1e6, sbw.med, sbw.min, sbw.max, ref_bw, ref_bw > 0 ? 100.0 * sbw.med / ref_bw : 0.0);
        printf("prefill  %.1f tok/s [min %.1f, max %.1f] for %d tokens -> %.1f GFLOP/s [%.1f, %.1f]\n", sp.med, sp.min,
               sp.max, o.prompt, sg.med, sg.min, sg.max);
        printf("         (GFLOP/s = 2 x %.1f M weights (all but embedding and head) x tok/s; %s products,\n"
               "         chunks of %d tokens)\n",
               flops_per_token / 2e6, arith, info.seq_chunk);
        printf("rss      peak %.1f MB\n", rss);
        if (o.long_n > 0) {
            printf("long     %lld tokens prefilled at %.1f tok/s\n", o.long_n, lr.prefill_tok_s);
            printf("         peak RSS after 100-token prompt %.2f MB, after %lld tokens %.2f MB (%+.2f MB)\n",
                   lr.rss_short, o.long_n, lr.rss_long, lr.rss_long - lr.rss_short);
            printf("         decode after 100 tokens %.3f ms/token, after %lld tokens %.3f ms/token (%+.1f%%)\n",
                   lr.ms_short, o.long_n, lr.ms_long, 100.0 * (lr.ms_long / lr.ms_short - 1.0));
        }
        printf("logits   %s\n", b.finite ? "all finite" : "NOT FINITE");
    }
    rc = cli_write_stdout(NULL, 0) ? CLI_EXIT_RUNTIME : CLI_EXIT_OK;
done:
    rwkv_state_free(b.state);
    rwkv_model_free(b.model);
    free(tok);
    free(b.logits);
    free(dec);
    free(dec_ms);
    free(pre);
    free(gfl);
    return rc;
}
