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
    "usage: rwkv bench [-m] MODEL [--threads N] [--prompt 512] [--gen 128] [--reps 5] [--json]\n"
    "                  [--long N] [--seed S] [--bw-mb 1024] [--prefill-bf16] [--chunk N]\n"
    "Loads the model, warms up, then per repetition: prefill of a --prompt-token random prompt\n"
    "from a fresh state (logits of the last token), then --gen decode steps (one token each,\n"
    "greedy). Reports medians [min, max] over the repetitions of decode tok/s and ms/token and\n"
    "prefill tok/s; prefill GFLOP/s = 2 x (params - 2 x n_vocab x n_embd) x tok/s (every\n"
    "weight but the embedding and the head is one multiply-add per token); peak RSS; the weight\n"
    "bytes read per decoded token and the bandwidth that implies; the machine's memory read\n"
    "bandwidth (a multi-threaded sum over --bw-mb MiB with --threads threads, best of 8 runs, in\n"
    "a child process so that the model's peak RSS is not affected).\n"
    "--long N also prefills N tokens (in chunks, no logits) and compares peak RSS and decode\n"
    "ms/token after it with those after a 100-token prompt.\n"
    "--threads 0 (default) = the library's default (physical cores). --json prints one object.\n"
    "--prefill-bf16: prefill in bfloat16 arithmetic (rwkv_model_params.prefill_bf16; also\n"
    "RWKV_PREFILL_BF16=1); the default is exact fp32.\n"
    "--chunk N: tokens per prefill chunk (rwkv_model_params.seq_chunk, 1..4096; default: the\n"
    "library's).\n";

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

/* ---- memory read bandwidth ----------------------------------------------------------------- */

typedef uint64_t v2u64 __attribute__((vector_size(16)));

typedef struct bw_task {
    uint64_t *p;
    size_t n;       /* uint64 elements, a multiple of 8 */
    int fill;       /* 1: write the slice (first touch), 0: sum it */
    uint64_t sum;
} bw_task;

/* Sums (or fills) one thread's slice with 16-byte vector loads and four accumulators. */
static void *bw_thread(void *arg) {
    bw_task *t = arg;
    if (t->fill) {
        for (size_t i = 0; i < t->n; i++) t->p[i] = i;
        return NULL;
    }
    v2u64 a = {0, 0}, b = a, c = a, d = a;
    for (size_t i = 0; i < t->n; i += 8) {
        v2u64 x, y, z, w;
        memcpy(&x, t->p + i, 16);
        memcpy(&y, t->p + i + 2, 16);
        memcpy(&z, t->p + i + 4, 16);
        memcpy(&w, t->p + i + 6, 16);
        a += x;
        b += y;
        c += z;
        d += w;
    }
    a += b + c + d;
    t->sum = a[0] + a[1];
    return NULL;
}

/* Runs one pass over the array with n_threads threads; returns the seconds it took (< 0 on
 * failure to start threads). */
static double bw_pass(uint64_t *p, size_t n, int n_threads, int fill, uint64_t *sum) {
    bw_task tasks[256];
    pthread_t tid[256];
    size_t per = (n / (size_t)n_threads) & ~(size_t)7;
    double t0 = cli_now();
    int started = 0;
    for (int i = 0; i < n_threads; i++) {
        tasks[i] = (bw_task){p + (size_t)i * per, i == n_threads - 1 ? ((n - (size_t)i * per) & ~(size_t)7) : per, fill, 0};
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

/* Best read bandwidth (GB/s, 10^9 bytes) over `runs` sums of a mib-MiB array; -1 on failure. */
static double bw_measure_here(size_t mib, int n_threads, int runs) {
    size_t bytes = mib << 20, n = bytes / 8;
    uint64_t *p = aligned_alloc(64, bytes);
    if (!p) return -1;
    uint64_t sum = 0;
    double best = -1;
    if (bw_pass(p, n, n_threads, 1, &sum) >= 0) {
        for (int r = 0; r < runs; r++) {
            double dt = bw_pass(p, n, n_threads, 0, &sum);
            if (dt <= 0) break;
            double gbs = (double)((n / 8) * 8 * 8) / dt / 1e9;
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

/* Prints s as a JSON string literal. */
static void json_string(const char *s) {
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') printf("\\%c", *c);
        else if (*c < 0x20) printf("\\u%04x", *c);
        else putchar(*c);
    }
    putchar('"');
}

/* Prints ,"key":med,"key_min":min,"key_max":max. */
static void json_stats(const char *key, stats s) {
    printf(",\"%s\":%.6g,\"%s_min\":%.6g,\"%s_max\":%.6g", key, s.med, key, s.min, key, s.max);
}

typedef struct bench_opts {
    const char *model_path;
    int threads, prompt, gen, reps, json, bw_mib, prefill_bf16, chunk;
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
    enum { OPT_MODEL = 1, OPT_THREADS, OPT_PROMPT, OPT_GEN, OPT_REPS, OPT_JSON, OPT_LONG, OPT_SEED, OPT_BW, OPT_BF16, OPT_CHUNK };
    static const cli_option opts[] = {
        {OPT_MODEL, "model", 'm', 1}, {OPT_THREADS, "threads", 't', 1}, {OPT_PROMPT, "prompt", 'p', 1},
        {OPT_GEN, "gen", 'n', 1},     {OPT_REPS, "reps", 'r', 1},       {OPT_JSON, "json", 0, 0},
        {OPT_LONG, "long", 0, 1},     {OPT_SEED, "seed", 0, 1},         {OPT_BW, "bw-mb", 0, 1},
        {OPT_BF16, "prefill-bf16", 0, 0}, {OPT_CHUNK, "chunk", 0, 1},
        {0, NULL, 0, 0},
    };
    *o = (bench_opts){.threads = 0, .prompt = 512, .gen = 128, .reps = 5, .bw_mib = 1024, .seed = 1};
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
        case OPT_THREADS: if (cli_parse_int("--threads", v, 0, 256, &o->threads)) return CLI_EXIT_USAGE; break;
        case OPT_PROMPT: if (cli_parse_int("--prompt", v, 1, 1 << 20, &o->prompt)) return CLI_EXIT_USAGE; break;
        case OPT_GEN: if (cli_parse_int("--gen", v, 1, 1 << 20, &o->gen)) return CLI_EXIT_USAGE; break;
        case OPT_REPS: if (cli_parse_int("--reps", v, 1, 1000, &o->reps)) return CLI_EXIT_USAGE; break;
        case OPT_JSON: o->json = 1; break;
        case OPT_BF16: o->prefill_bf16 = 1; break;
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
        if (cli_load_model(o.model_path, o.threads, &b.model) == 0) rwkv_model_free(b.model);
        return CLI_EXIT_RUNTIME;
    }
    int bw_threads = o.threads > 0 ? o.threads : physical_cores();
    if (bw_threads > 256) bw_threads = 256;
    double mem_bw = bw_measure((size_t)o.bw_mib, bw_threads, 8); /* before any thread exists */

    /* The weights are made resident at load (prefault), so peak RSS measures the engine's
     * memory and does not grow with the embedding rows a prompt happens to touch. */
    rwkv_model_params mp;
    if (cli_model_params(&mp)) return CLI_EXIT_USAGE;
    mp.n_threads = o.threads;
    mp.prefault = 1;
    if (o.prefill_bf16) mp.prefill_bf16 = 1;
    mp.seq_chunk = o.chunk;
    if (cli_load_model_params(o.model_path, &mp, &b.model)) return CLI_EXIT_RUNTIME;
    rwkv_model_info info;
    rwkv_model_get_info(b.model, &info);
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
        fputs("{\"model\":", stdout);
        json_string(o.model_path);
        printf(",\"generation\":");
        json_string(info.generation);
        printf(",\"n_layer\":%d,\"n_embd\":%d,\"n_vocab\":%d,\"weight_dtype\":", info.n_layer, info.n_embd, info.n_vocab);
        json_string(info.weight_dtype);
        printf(",\"params\":%" PRIu64 ",\"file_bytes\":%" PRIu64 ",\"cpu\":", info.params, info.file_bytes);
        json_string(cpu);
        printf(",\"cpu_features\":");
        json_string(feat);
        printf(",\"logical_cpus\":%ld,\"threads\":%d,\"prompt\":%d,\"gen\":%d,\"reps\":%d", online, bw_threads,
               o.prompt, o.gen, o.reps);
        json_stats("decode_tok_s", sd);
        json_stats("decode_ms_per_token", sms);
        json_stats("prefill_tok_s", sp);
        json_stats("prefill_gflops", sg);
        printf(",\"prefill_arithmetic\":\"%s\",\"seq_chunk\":%d,\"quant_products\":", arith, info.seq_chunk);
        json_string(info.quant_products ? info.quant_products : "none");
        printf(",\"flops_per_token\":%.6g,\"bytes_per_token\":%" PRIu64, flops_per_token, info.decode_bytes);
        json_stats("decode_gbs", sbw);
        printf(",\"mem_bw_gbs\":%.6g,\"mem_bw_mib\":%d,\"bw_fraction\":%.4f,\"peak_rss_mb\":%.2f", mem_bw,
               o.bw_mib, mem_bw > 0 ? sbw.med / mem_bw : 0.0, rss);
        if (o.long_n > 0)
            printf(",\"long_tokens\":%lld,\"long_prefill_tok_s\":%.6g,\"rss_short_mb\":%.2f,\"rss_long_mb\":%.2f,"
                   "\"decode_ms_short\":%.6g,\"decode_ms_long\":%.6g",
                   o.long_n, lr.prefill_tok_s, lr.rss_short, lr.rss_long, lr.ms_short, lr.ms_long);
        printf(",\"logits_finite\":%s}\n", b.finite ? "true" : "false");
    } else {
        printf("model    %s: RWKV-%s L%d C%d vocab %d, %s, %.1f M params, file %.1f MB\n", o.model_path,
               info.generation, info.n_layer, info.n_embd, info.n_vocab, info.weight_dtype, info.params / 1e6,
               info.file_bytes / 1e6);
        printf("machine  %s (%ld logical CPUs; %s), %d threads\n", cpu, online, feat[0] ? feat : "-", bw_threads);
        if (info.quant_products && strcmp(info.quant_products, "none") != 0)
            printf("quant    products with the quantized weights: %s\n",
                   !strcmp(info.quant_products, "int8") ? "int8 activations, integer dot products"
                                                        : info.quant_products);
        printf("memory   read bandwidth %.1f GB/s (sum over %d MiB, %d threads, best of 8)\n", mem_bw, o.bw_mib,
               bw_threads);
        printf("decode   %.2f tok/s = %.2f ms/token  [min %.2f, max %.2f tok/s]  (%d reps x %d tokens)\n", sd.med,
               sms.med, sd.min, sd.max, o.reps, o.gen);
        printf("         %.1f MB of weights per token -> %.1f GB/s [%.1f, %.1f] = %.1f%% of the measured bandwidth\n",
               bpt / 1e6, sbw.med, sbw.min, sbw.max, mem_bw > 0 ? 100.0 * sbw.med / mem_bw : 0.0);
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
