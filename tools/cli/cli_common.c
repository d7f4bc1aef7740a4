/* cli_common.c — shared helpers of the rwkv program: errors, options, numbers, files, loading. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- errors ------------------------------------------------------------------------------ */

static cli_buf *g_capture; /* cli_error_capture */

void cli_error_capture(cli_buf *b) { g_capture = b; }

/* Writes "rwkv: error: " + the formatted message (+ suffix) + "\n" as one line. */
static void error_line(const char *suffix, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* Keep it one line: a file name or library message with a newline must not split it. */
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    if (!suffix) suffix = "";
    fprintf(stderr, "rwkv: error: %s%s\n", msg, suffix);
    fflush(stderr);
    if (g_capture) /* (out of memory: the message is on stderr anyway) */
        (void)((g_capture->len && cli_buf_add(g_capture, "\n", 1)) ||
               cli_buf_add(g_capture, msg, strlen(msg)) || cli_buf_add(g_capture, suffix, strlen(suffix)));
}

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    error_line(NULL, fmt, ap);
    va_end(ap);
}

void cli_lib_error(rwkv_status st, const char *fmt, ...) {
    char suffix[700];
    const char *why = rwkv_last_error();
    if (why && *why)
        snprintf(suffix, sizeof suffix, ": %s: %s", rwkv_status_name(st), why);
    else
        snprintf(suffix, sizeof suffix, ": %s", rwkv_status_name(st));
    for (char *c = suffix; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    va_list ap;
    va_start(ap, fmt);
    error_line(suffix, fmt, ap);
    va_end(ap);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cli_error("%s: %s (see 'rwkv %s --help')", cmd, msg, cmd);
    return CLI_EXIT_USAGE;
}

/* ---- option parsing ---------------------------------------------------------------------- */

void cli_parser_init(cli_parser *p, const char *cmd, int argc, char **argv) {
    p->argc = argc;
    p->argv = argv;
    p->index = 1;
    p->only_positional = 0;
    p->cmd = cmd;
}

/* Takes the value of option o: the inline part (after '=' or the short letter) or the next
 * argument, whatever it looks like (so "-n -5" gives -n the value "-5"). */
static int take_value(cli_parser *p, const cli_option *o, const char *shown, const char *inline_val,
                      const char **value) {
    if (!o->has_value) {
        if (inline_val) {
            cli_usage_error(p->cmd, "option %s takes no value", shown);
            return CLI_BAD;
        }
        *value = NULL;
        return o->id;
    }
    if (inline_val) {
        *value = inline_val;
        return o->id;
    }
    if (p->index >= p->argc) {
        cli_usage_error(p->cmd, "option %s needs a value", shown);
        return CLI_BAD;
    }
    *value = p->argv[p->index++];
    return o->id;
}

int cli_next(cli_parser *p, const cli_option *opts, const char **value) {
    *value = NULL;
    if (p->index >= p->argc) return CLI_END;
    const char *arg = p->argv[p->index++];
    if (p->only_positional || arg[0] != '-' || arg[1] == '\0') { /* "-" alone is positional */
        *value = arg;
        return CLI_POSITIONAL;
    }
    if (arg[1] == '-') {
        if (arg[2] == '\0') { /* "--": the rest is positional */
            p->only_positional = 1;
            return cli_next(p, opts, value);
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        if (nlen == 4 && !strncmp(name, "help", 4) && !eq) return CLI_HELP;
        for (const cli_option *o = opts; o->id; o++) {
            if (o->long_name && strlen(o->long_name) == nlen && !strncmp(o->long_name, name, nlen)) {
                char shown[64];
                snprintf(shown, sizeof shown, "--%s", o->long_name);
                return take_value(p, o, shown, eq ? eq + 1 : NULL, value);
            }
        }
        cli_usage_error(p->cmd, "unknown option '%.*s'", (int)(nlen + 2 < 200 ? nlen + 2 : 200), arg);
        return CLI_BAD;
    }
    if (arg[1] == 'h' && arg[2] == '\0') return CLI_HELP;
    for (const cli_option *o = opts; o->id; o++) {
        if (o->short_name && o->short_name == arg[1]) {
            char shown[4] = {'-', arg[1], 0, 0};
            if (arg[2] != '\0' && !o->has_value) {
                cli_usage_error(p->cmd, "unknown option '%.200s'", arg);
                return CLI_BAD;
            }
            return take_value(p, o, shown, arg[2] ? arg + 2 : NULL, value);
        }
    }
    /* A lone negative number is a positional argument in no command: call it an option. */
    cli_usage_error(p->cmd, "unknown option '%.200s'", arg);
    return CLI_BAD;
}

/* ---- numbers ----------------------------------------------------------------------------- */

int cli_parse_i64(const char *opt, const char *s, long long min, long long max, long long *out) {
    if (!s || !*s) {
        cli_error("%s: empty value, expected an integer", opt);
        return -1;
    }
    /* strtoll skips leading spaces; a strict parser does not. */
    if (!(*s == '-' || *s == '+' || (*s >= '0' && *s <= '9'))) {
        cli_error("%s: '%.100s' is not an integer", opt, s);
        return -1;
    }
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0') {
        cli_error("%s: '%.100s' is not an integer", opt, s);
        return -1;
    }
    if (errno == ERANGE || v < min || v > max) {
        cli_error("%s: %.100s is out of range [%lld, %lld]", opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_int(const char *opt, const char *s, long long min, long long max, int *out) {
    if (min < INT_MIN) min = INT_MIN;
    if (max > INT_MAX) max = INT_MAX;
    long long v;
    if (cli_parse_i64(opt, s, min, max, &v)) return -1;
    *out = (int)v;
    return 0;
}

int cli_parse_u64(const char *opt, const char *s, uint64_t *out) {
    if (!s || !*s || !(*s >= '0' && *s <= '9')) {
        cli_error("%s: '%.100s' is not a non-negative integer", opt, s ? s : "");
        return -1;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0') {
        cli_error("%s: '%.100s' is not a non-negative integer", opt, s);
        return -1;
    }
    if (errno == ERANGE) {
        cli_error("%s: %.100s is out of range [0, %llu]", opt, s, (unsigned long long)UINT64_MAX);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_float(const char *opt, const char *s, double min, double max, float *out) {
    if (!s || !*s) {
        cli_error("%s: empty value, expected a number", opt);
        return -1;
    }
    if (!(*s == '-' || *s == '+' || *s == '.' || (*s >= '0' && *s <= '9'))) {
        cli_error("%s: '%.100s' is not a number", opt, s);
        return -1;
    }
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0') {
        cli_error("%s: '%.100s' is not a number", opt, s);
        return -1;
    }
    if (!isfinite(v) || errno == ERANGE || v < min || v > max) {
        cli_error("%s: %.100s is out of range [%g, %g]", opt, s, min, max);
        return -1;
    }
    *out = (float)v;
    return 0;
}

int cli_parse_ids(const char *opt, const char *s, int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    size_t cap = 0, count = 0;
    int32_t *buf = NULL;
    const char *c = s;
    for (int comma = 0;;) { /* comma: a ',' was seen since the last id */
        for (; *c == ',' || *c == ' ' || *c == '\t' || *c == '\n' || *c == '\r'; c++) {
            if (*c != ',') continue;
            if (comma || count == 0) {
                cli_error("%s: an empty item before ',' (ids are separated by one comma and/or "
                          "whitespace)", opt);
                free(buf);
                return -1;
            }
            comma = 1;
        }
        if (!*c) {
            if (comma) {
                cli_error("%s: a ',' ends the list", opt);
                free(buf);
                return -1;
            }
            break;
        }
        comma = 0;
        const char *start = c;
        while (*c && *c != ',' && *c != ' ' && *c != '\t' && *c != '\n' && *c != '\r') c++;
        char item[32];
        size_t ilen = (size_t)(c - start);
        if (ilen >= sizeof item) ilen = sizeof item - 1; /* long junk: still rejected below */
        memcpy(item, start, ilen);
        item[ilen] = '\0';
        long long v;
        if ((size_t)(c - start) >= sizeof item || !(item[0] >= '0' && item[0] <= '9')) {
            cli_error("%s: '%.*s' is not a token id", opt, (int)((size_t)(c - start) < 40 ? c - start : 40), start);
            free(buf);
            return -1;
        }
        if (cli_parse_i64(opt, item, 0, INT32_MAX - 1, &v)) {
            free(buf);
            return -1;
        }
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            int32_t *nb = realloc(buf, ncap * sizeof *nb);
            if (!nb) {
                free(buf);
                cli_error("%s: out of memory", opt);
                return -1;
            }
            buf = nb;
            cap = ncap;
        }
        buf[count++] = (int32_t)v;
    }
    *ids = buf;
    *n = count;
    return 0;
}

/* ---- files ------------------------------------------------------------------------------- */

int cli_read_stream(const char *what, FILE *f, char **data, size_t *len) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        cli_error("%s: out of memory", what);
        return -1;
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                cli_error("%s: out of memory", what);
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        int e = errno;
        free(buf);
        cli_error("%s: read error: %s", what, strerror(e ? e : EIO));
        return -1;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

int cli_read_file(const char *what, const char *path, char **data, size_t *len) {
    if (!strcmp(path, "-")) return cli_read_stream(what, stdin, data, len);
    if (cli_check_input(what, path)) return -1;
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("%s '%.300s': %s", what, path, strerror(errno));
        return -1;
    }
    char label[400];
    snprintf(label, sizeof label, "%s '%.300s'", what, path);
    int r = cli_read_stream(label, f, data, len);
    fclose(f);
    return r;
}

int cli_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int cli_check_output(const char *cmd, const char *out, const char *ext, const char *const *inputs,
                     size_t n_inputs, int replace) {
    if (!*out) return cli_usage_error(cmd, "the output file name is empty");
    for (size_t i = 0; i < n_inputs; i++)
        if (cli_same_file(out, inputs[i]))
            return cli_usage_error(cmd, "output '%.300s' is the input '%.300s' (same file)", out,
                                   inputs[i]);
    size_t ol = strlen(out), el = ext ? strlen(ext) : 0;
    if (ext && (ol <= el || strcasecmp(out + ol - el, ext) != 0))
        return cli_usage_error(cmd, "output '%.300s': the name must end in %s (the format written)",
                               out, ext);
    struct stat st;
    if (stat(out, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            cli_error("output '%.300s' is a directory", out);
            return CLI_EXIT_RUNTIME;
        }
        if (!replace) {
            cli_error("output '%.300s' exists (give --force to replace it)", out);
            return CLI_EXIT_RUNTIME;
        }
    }
    return 0;
}

int cli_check_input(const char *what, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        cli_error("%s '%.300s': %s", what, path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        cli_error("%s '%.300s' is a directory", what, path);
        return -1;
    }
    return 0;
}

int cli_write_stdout(const void *data, size_t len) {
    if (len && fwrite(data, 1, len, stdout) != len) {
        cli_error("writing to stdout: %s", strerror(errno));
        return -1;
    }
    if (fflush(stdout) != 0) {
        cli_error("writing to stdout: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Writes all of data to fd; 0 or -1 with errno set. */
static int write_all(int fd, const char *data, size_t len) {
    while (len) {
        ssize_t w = write(fd, data, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

int cli_write_file_atomic(const char *path, const void *data, size_t len) {
    if (!strcmp(path, "-")) return cli_write_stdout(data, len);
    if (!*path) {
        cli_error("output file name is empty");
        return -1;
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        cli_error("output '%.300s' is a directory", path);
        return -1;
    }
    /* The temporary file lives next to the target so that rename() is atomic. */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) {
        cli_error("out of memory");
        return -1;
    }
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
    memcpy(tmp, path, dlen);
    strcpy(tmp + dlen, ".rwkv-tmp-XXXXXX");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        cli_error("cannot create output '%.300s': %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    mode_t mask = umask(0);
    umask(mask);
    int ok = write_all(fd, data, len) == 0 && fchmod(fd, 0666 & ~mask) == 0;
    int e = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        cli_error("cannot write output '%.300s': %s", path, strerror(e));
    }
    free(tmp);
    return ok ? 0 : -1;
}

/* ---- model and vocabulary ------------------------------------------------------------------ */

/* A boolean environment variable: unset or empty → dflt; "0"/"1" (also no/yes, off/on, false/true). */
static int env_bool(const char *name, int dflt, int *out) {
    const char *v = getenv(name);
    *out = dflt;
    if (!v || !*v) return 0;
    if (!strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "false")) *out = 0;
    else if (!strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "true")) *out = 1;
    else {
        cli_error("environment variable %s='%.40s': expected 0 or 1", name, v);
        return -1;
    }
    return 0;
}

int cli_parse_model_option(int id, const char *v, cli_model_opts *o) {
    switch (id) {
    case CLI_OPT_THREADS: return cli_parse_int("--threads", v, 0, 4096, &o->n_threads);
    case CLI_OPT_DEVICE:
        if (!*v) {
            cli_error("--device: empty device name (cpu, vulkan or vulkan:N)");
            return -1;
        }
        o->device = v;
        return 0;
    case CLI_OPT_PREFILL_BF16: o->prefill_bf16 = 1; return 0;
    default: return -1;
    }
}

int cli_model_params(const cli_model_opts *o, rwkv_model_params *mp) {
    rwkv_model_params_default(mp);
    int amx = 1;
    if (env_bool("RWKV_FORCE_SCALAR", 0, &mp->force_scalar) || env_bool("RWKV_PREFILL_BF16", 0, &mp->prefill_bf16) ||
        env_bool("RWKV_AMX", 1, &amx))
        return -1;
    mp->amx = amx ? RWKV_AMX_AUTO : RWKV_AMX_OFF;
    const char *q = getenv("RWKV_QUANT_DOT");
    if (q && *q) {
        if (!strcmp(q, "auto")) mp->quant_dot = RWKV_QUANT_DOT_AUTO;
        else if (!strcmp(q, "exact")) mp->quant_dot = RWKV_QUANT_DOT_EXACT;
        else if (!strcmp(q, "int8")) mp->quant_dot = RWKV_QUANT_DOT_INT8;
        else {
            cli_error("environment variable RWKV_QUANT_DOT='%.40s': expected auto, exact or int8", q);
            return -1;
        }
    }
    const char *d = getenv("RWKV_DEVICE");
    if (d && *d) mp->device = d;
    if (o) {
        mp->n_threads = o->n_threads;
        if (o->device) mp->device = o->device;
        if (o->prefill_bf16) mp->prefill_bf16 = 1;
    }
    return 0;
}

int cli_load_model(const char *path, const cli_model_opts *o, rwkv_model **out) {
    rwkv_model_params mp;
    *out = NULL;
    if (cli_model_params(o, &mp)) return -1;
    return cli_load_model_params(path, &mp, out);
}

int cli_load_model_params(const char *path, const rwkv_model_params *mp, rwkv_model **out) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) {
        cli_error("model '%.300s': %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        cli_error("model '%.300s' is a directory, not a model file", path);
        return -1;
    }
    rwkv_status st2 = rwkv_model_load(path, mp, out);
    if (st2 != RWKV_OK) {
        *out = NULL;
        cli_lib_error(st2, "cannot load model '%.300s'", path);
        return -1;
    }
    return 0;
}

/* Loads a World vocabulary from path and checks it fits a model with n_vocab tokens. */
static int load_vocab_file(const char *path, const char *source, int n_vocab, rwkv_tokenizer **out) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        cli_error("vocabulary '%.300s' (%s): %s", path, source, strerror(errno));
        return -1;
    }
    if (S_ISDIR(sb.st_mode)) {
        cli_error("vocabulary '%.300s' (%s) is a directory", path, source);
        return -1;
    }
    rwkv_status st = rwkv_tokenizer_load(path, out);
    if (st != RWKV_OK) {
        *out = NULL;
        cli_lib_error(st, "cannot load vocabulary '%.300s' (%s)", path, source);
        return -1;
    }
    int tv = rwkv_tokenizer_n_vocab(*out);
    if (n_vocab > 0 && tv > n_vocab) {
        cli_error("vocabulary '%.300s' has %d tokens but the model only %d", path, tv, n_vocab);
        rwkv_tokenizer_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

int cli_load_tokenizer(const char *model_path, const char *vocab_opt, int n_vocab,
                       rwkv_tokenizer **out) {
    *out = NULL;
    if (vocab_opt) return load_vocab_file(vocab_opt, "--vocab", n_vocab, out);
    if (model_path && rwkv_tokenizer_from_model_file(model_path, out) == RWKV_OK) { /* GGUF vocab */
        if (rwkv_tokenizer_n_vocab(*out) == n_vocab) return 0;
        rwkv_tokenizer_free(*out);
        *out = NULL;
    }
    if (n_vocab == 256) {
        rwkv_status st = rwkv_tokenizer_new_bytes(out);
        if (st != RWKV_OK) {
            *out = NULL;
            cli_lib_error(st, "cannot create the byte tokenizer");
            return -1;
        }
        return 0;
    }
    const char *env = getenv("RWKV_VOCAB");
    if (env && *env) return load_vocab_file(env, "from RWKV_VOCAB", n_vocab, out);
    if (model_path) {
        static const char name[] = "rwkv_vocab_v20230424.txt";
        const char *slash = strrchr(model_path, '/');
        size_t dlen = slash ? (size_t)(slash - model_path) + 1 : 0;
        char *p = malloc(dlen + sizeof name);
        if (!p) {
            cli_error("out of memory");
            return -1;
        }
        memcpy(p, model_path, dlen);
        memcpy(p + dlen, name, sizeof name);
        struct stat sb;
        int found = stat(p, &sb) == 0;
        int r = found ? load_vocab_file(p, "next to the model", n_vocab, out) : 1;
        free(p);
        if (found) return r;
    }
    cli_error("the model has %d tokens and needs a vocabulary: give --vocab FILE, set RWKV_VOCAB, "
              "or put rwkv_vocab_v20230424.txt next to the model", n_vocab);
    return -1;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cli_encode(const rwkv_tokenizer *tok, const char *text, size_t len, int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    int32_t *buf = malloc((len ? len : 1) * sizeof *buf);
    if (!buf || len > SIZE_MAX / sizeof *buf) {
        free(buf);
        cli_error("out of memory encoding the prompt");
        return -1;
    }
    size_t count = 0;
    rwkv_status st = rwkv_tokenizer_encode(tok, text, len, buf, &count);
    if (st != RWKV_OK) {
        free(buf);
        cli_lib_error(st, "cannot encode the prompt");
        return -1;
    }
    *ids = buf;
    *n = count;
    return 0;
}

int cli_new_state(rwkv_model *model, const char *state_path, rwkv_state **out) {
    *out = NULL;
    rwkv_status st = rwkv_state_new(model, out);
    if (st != RWKV_OK) {
        *out = NULL;
        cli_lib_error(st, "cannot create a state");
        return -1;
    }
    if (!state_path) return 0;
    struct stat sb;
    if (stat(state_path, &sb) != 0) {
        cli_error("state file '%.300s': %s", state_path, strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
        cli_error("state file '%.300s' is a directory", state_path);
    } else if ((st = rwkv_state_load(*out, state_path, NULL)) != RWKV_OK) { /* state file or .pth */
        cli_lib_error(st, "cannot load state file '%.300s'", state_path);
    } else {
        return 0;
    }
    rwkv_state_free(*out);
    *out = NULL;
    return -1;
}

/* ---- byte buffer ------------------------------------------------------------------------- */

int cli_buf_add(cli_buf *b, const void *s, size_t n) {
    if (n > SIZE_MAX - b->len - 1) return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap = cap > SIZE_MAX / 2 ? b->len + n + 1 : cap * 2;
        char *d = realloc(b->data, cap);
        if (!d) return -1;
        b->data = d;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

void cli_buf_clear(cli_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void cli_buf_free(cli_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 character at s[0..n), or 0 if there is none. */
static size_t utf8_char(const unsigned char *s, size_t n) {
    if (s[0] < 0x80) return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) len = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) len = 3, lo = s[0] == 0xE0 ? 0xA0 : 0x80, hi = s[0] == 0xED ? 0x9F : 0xBF;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4) len = 4, lo = s[0] == 0xF0 ? 0x90 : 0x80, hi = s[0] == 0xF4 ? 0x8F : 0xBF;
    else return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

json_t *cli_json_text(const char *s, size_t n) {
    if (!s) s = "", n = 0;
    json_t *j = json_stringn(s, n); /* NULL for invalid UTF-8 */
    if (j) return j;
    cli_buf b = {NULL, 0, 0};
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_char(u + i, n - i);
        if (k ? cli_buf_add(&b, s + i, k) : cli_buf_add(&b, "\xEF\xBF\xBD", 3)) {
            cli_buf_free(&b);
            return NULL;
        }
        i += k ? k : 1;
    }
    j = json_stringn(b.data ? b.data : "", b.len);
    cli_buf_free(&b);
    return j;
}

json_t *cli_json_str(const char *s) { return cli_json_text(s, s ? strlen(s) : 0); }

json_t *cli_json_number(double v) { return isfinite(v) ? json_real(v) : json_null(); }

int cli_print_json(json_t *o) {
    char *txt = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(o);
    if (!txt) {
        cli_error("out of memory writing JSON");
        return -1;
    }
    size_t n = strlen(txt);
    txt[n] = '\n'; /* json_dumps's NUL becomes the line's end */
    int r = cli_write_stdout(txt, n + 1);
    free(txt);
    return r;
}

/* ---- sampling options and seed ------------------------------------------------------------- */

int cli_parse_sampling(int id, const char *v, rwkv_sampler_params *sp, int *have_seed) {
    int bad = 0;
    switch (id) {
    case CLI_OPT_TEMP: bad = cli_parse_float("--temperature", v, 0, 100, &sp->temperature); break;
    case CLI_OPT_TOP_P:
        bad = cli_parse_float("--top-p", v, 0, 1, &sp->top_p);
        if (!bad && sp->top_p <= 0) {
            cli_error("--top-p: %.100s is out of range (0, 1]", v);
            bad = 1;
        }
        break;
    case CLI_OPT_TOP_K: bad = cli_parse_int("--top-k", v, 0, 1 << 30, &sp->top_k); break;
    case CLI_OPT_PRESENCE:
        bad = cli_parse_float("--presence-penalty", v, -1e6, 1e6, &sp->presence_penalty);
        break;
    case CLI_OPT_FREQUENCY:
        bad = cli_parse_float("--frequency-penalty", v, -1e6, 1e6, &sp->frequency_penalty);
        break;
    case CLI_OPT_DECAY: bad = cli_parse_float("--penalty-decay", v, 0, 1, &sp->penalty_decay); break;
    case CLI_OPT_SEED:
        bad = cli_parse_u64("--seed", v, &sp->seed);
        *have_seed = 1;
        break;
    }
    return bad ? -1 : 0;
}

uint64_t cli_clock_seed(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    x ^= x >> 33; /* a splitmix-style finaliser spreads the bits */
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}
