/* cmd_eval.c — `rwkv eval perplexity` and `rwkv eval lambada`: language-model quality numbers.
 *
 *  perplexity: exp(mean negative log-likelihood) of every token of a text after the first of
 *              each window (--ctx N: the state is reset every N tokens; default one window).
 *  lambada:    the official RWKV LAMBADA method (docs/EVAL.md): context = text before the last
 *              space, target = " " + last word, fed from a fresh state; accuracy = every target
 *              token is the argmax; perplexity = exp(-sum of target log-probs / examples).
 *
 * Logits come from rwkv_eval with RWKV_EVAL_ALL_LOGITS, EVAL_CHUNK tokens at a time, so memory
 * stays bounded whatever the text length; log-softmax is computed in double. */
#include "cli.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { EVAL_CHUNK = 128 };

static const char eval_usage[] =
    "usage: rwkv eval perplexity -m MODEL -f TEXT [--ctx N] [options]\n"
    "       rwkv eval lambada -m MODEL --data lambada_test.jsonl [--limit N] [options]\n"
    "Measures a model's quality (method: docs/EVAL.md).\n"
    "  perplexity   exp(mean negative log-likelihood) of every token of TEXT after the first of\n"
    "               each window; one window by default (RWKV's state has no context limit)\n"
    "  lambada      LAMBADA last-word accuracy and perplexity, as the official RWKV script does\n"
    "common options:\n"
    "  -m, --model FILE     model file (.pth, .bin, .gguf)\n"
    "      --json           print one JSON object instead of a line of text\n"
    "      --vocab FILE     World vocabulary (default: the GGUF's own, $RWKV_VOCAB, next to the model)\n"
    "  -t, --threads N      worker threads (0 = physical cores)\n"
    "perplexity:\n"
    "  -f, --file TEXT      the text (binary-safe)\n"
    "      --ctx N          reset the state every N tokens (N >= 2; default: never)\n"
    "lambada:\n"
    "      --data FILE      lambada_test.jsonl: one {\"text\": ...} object per line\n"
    "      --limit N        only the first N examples\n"
    "      --pad-token ID   token fed before each context: 0 (<|endoftext|>, as the official\n"
    "                       script) for World models, none for byte-level models; 'none' = none\n";

/* ---- progress ------------------------------------------------------------------------------ */

/* A one-line progress bar on stderr, drawn only when stderr is a terminal. */
typedef struct progress {
    bool on;
    double last;   /* time of the last redraw */
    const char *unit;
} progress;

static void progress_init(progress *p, const char *unit) {
    p->on = isatty(2) != 0;
    p->last = 0;
    p->unit = unit;
}

/* Redraws at most ten times a second, and always when done == total. */
static void progress_draw(progress *p, uint64_t done, uint64_t total) {
    if (!p->on) return;
    double now = cli_now();
    if (done < total && now - p->last < 0.1) return;
    p->last = now;
    int width = 40, fill = total ? (int)((double)done / (double)total * width) : width;
    char bar[41];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r[%s] %5.1f%% %llu/%llu %s", bar,
            total ? 100.0 * (double)done / (double)total : 100.0, (unsigned long long)done,
            (unsigned long long)total, p->unit);
    fflush(stderr);
}

/* Ends the bar's line (if one was drawn). */
static void progress_end(progress *p) {
    if (p->on) fputc('\n', stderr);
}

/* ---- scoring -------------------------------------------------------------------------------- */

/* Sums over scored tokens. */
typedef struct score {
    double nll;       /* sum of -log p(target) */
    uint64_t n;       /* tokens scored */
    bool all_argmax;  /* every scored target was the argmax (lowest id on ties) */
} score;

/* What the scoring loop needs: the model, one state, a logits buffer of EVAL_CHUNK rows. */
typedef struct scorer {
    rwkv_model *model;
    rwkv_state *state;
    int n_vocab;
    float *logits;
} scorer;

/* Scores one row of logits against target: adds -log softmax(row)[target] (computed in double
 * around the row's maximum) to s and clears s->all_argmax unless target is the argmax.
 * Returns -1 (error printed) when the row holds a non-finite value. */
static int score_row(const float *row, int n_vocab, int32_t target, score *s) {
    int best = 0;
    float max = row[0];
    for (int i = 0; i < n_vocab; i++) {
        if (!isfinite(row[i])) {
            cli_error("the model produced a non-finite logit (token %d)", i);
            return -1;
        }
        if (row[i] > max) {
            max = row[i];
            best = i;
        }
    }
    double sum = 0;
    for (int i = 0; i < n_vocab; i++) sum += exp((double)row[i] - (double)max);
    s->nll += log(sum) - ((double)row[target] - (double)max);
    s->n++;
    if (best != target) s->all_argmax = false;
    return 0;
}

/* Feeds tokens[0..n) into sc->state (which the caller has reset) and, for every position p in
 * [from, n), scores the logits after tokens[p] against tokens[p+1] (so tokens must hold n + 1
 * ids). Positions before from are fed without logits. progress_base/total drive the bar (tokens
 * fed so far outside this call / in all). Returns 0, or -1 with an error printed. */
static int score_run(scorer *sc, const int32_t *tokens, size_t n, size_t from, score *s,
                     progress *pg, uint64_t progress_base, uint64_t progress_total) {
    size_t pos = 0;
    while (pos < n) {
        bool want = pos >= from;
        size_t end = want ? pos + EVAL_CHUNK : from;
        if (!want && end - pos > 4 * EVAL_CHUNK) end = pos + 4 * EVAL_CHUNK;
        if (end > n) end = n;
        rwkv_status st = rwkv_eval(sc->model, sc->state, tokens + pos, end - pos,
                                   want ? sc->logits : NULL, want ? RWKV_EVAL_ALL_LOGITS : 0);
        if (st != RWKV_OK) {
            cli_lib_error(st, "evaluation failed");
            return -1;
        }
        if (want)
            for (size_t p = pos; p < end; p++)
                if (score_row(sc->logits + (p - pos) * (size_t)sc->n_vocab, sc->n_vocab,
                              tokens[p + 1], s))
                    return -1;
        pos = end;
        if (pg) progress_draw(pg, progress_base + pos, progress_total);
    }
    return 0;
}

/* Prints a double as a JSON number (null when not finite). */
static void json_number(const char *key, double v, bool last) {
    if (isfinite(v))
        printf("\"%s\":%.10g%s", key, v, last ? "" : ",");
    else
        printf("\"%s\":null%s", key, last ? "" : ",");
}

/* ---- options shared by both subcommands ------------------------------------------------------ */

typedef struct eval_opts {
    const char *model_path, *vocab_path, *text_path, *data_path;
    int n_threads, ctx, limit, pad_token; /* ctx 0: one window; limit 0: all; pad -1: none, -2: default */
    bool json;
} eval_opts;

/* Parses the options of subcommand cmd ("eval perplexity" / "eval lambada"). Returns -1 when
 * the command should exit with *rc (help printed or usage error), 0 to go on. */
static int parse_opts(const char *cmd, bool lambada, int argc, char **argv, eval_opts *o, int *rc) {
    enum { OPT_MODEL = 1, OPT_JSON, OPT_VOCAB, OPT_THREADS, OPT_FILE, OPT_CTX, OPT_DATA, OPT_LIMIT,
           OPT_PAD };
    static const cli_option ppl_opts[] = {
        {OPT_MODEL, "model", 'm', 1}, {OPT_JSON, "json", 0, 0}, {OPT_VOCAB, "vocab", 0, 1},
        {OPT_THREADS, "threads", 't', 1}, {OPT_FILE, "file", 'f', 1}, {OPT_CTX, "ctx", 0, 1},
        {0, NULL, 0, 0},
    };
    static const cli_option lam_opts[] = {
        {OPT_MODEL, "model", 'm', 1}, {OPT_JSON, "json", 0, 0}, {OPT_VOCAB, "vocab", 0, 1},
        {OPT_THREADS, "threads", 't', 1}, {OPT_DATA, "data", 0, 1}, {OPT_LIMIT, "limit", 0, 1},
        {OPT_PAD, "pad-token", 0, 1}, {0, NULL, 0, 0},
    };
    memset(o, 0, sizeof *o);
    o->pad_token = -2;
    cli_parser p;
    cli_parser_init(&p, cmd, argc, argv);
    const char *v;
    *rc = CLI_EXIT_USAGE;
    for (int id; (id = cli_next(&p, lambada ? lam_opts : ppl_opts, &v)) != CLI_END;) {
        switch (id) {
        case CLI_HELP: fputs(eval_usage, stdout); *rc = CLI_EXIT_OK; return -1;
        case CLI_BAD: return -1;
        case CLI_POSITIONAL: cli_usage_error(cmd, "unexpected argument '%.100s'", v); return -1;
        case OPT_MODEL: o->model_path = v; break;
        case OPT_JSON: o->json = true; break;
        case OPT_VOCAB: o->vocab_path = v; break;
        case OPT_THREADS:
            if (cli_parse_int("--threads", v, 0, 4096, &o->n_threads)) return -1;
            break;
        case OPT_FILE: o->text_path = v; break;
        case OPT_CTX:
            if (cli_parse_int("--ctx", v, 2, 1000000000, &o->ctx)) return -1;
            break;
        case OPT_DATA: o->data_path = v; break;
        case OPT_LIMIT:
            if (cli_parse_int("--limit", v, 1, 1000000000, &o->limit)) return -1;
            break;
        case OPT_PAD:
            if (!strcmp(v, "none"))
                o->pad_token = -1;
            else if (cli_parse_int("--pad-token", v, 0, INT32_MAX - 1, &o->pad_token))
                return -1;
            break;
        }
    }
    if (!o->model_path) {
        cli_usage_error(cmd, "missing -m MODEL");
        return -1;
    }
    if (!lambada && !o->text_path) {
        cli_usage_error(cmd, "missing -f TEXT");
        return -1;
    }
    if (lambada && !o->data_path) {
        cli_usage_error(cmd, "missing --data FILE");
        return -1;
    }
    return 0;
}

/* Loads the model and its tokenizer and makes a scorer (state + logits buffer). Returns -1 with
 * an error printed; what was made is released by scorer_free either way. */
static int scorer_open(const eval_opts *o, scorer *sc, rwkv_tokenizer **tok) {
    memset(sc, 0, sizeof *sc);
    *tok = NULL;
    if (cli_load_model(o->model_path, o->n_threads, &sc->model)) return -1;
    rwkv_model_info info;
    rwkv_model_get_info(sc->model, &info);
    sc->n_vocab = info.n_vocab;
    if (cli_load_tokenizer(o->model_path, o->vocab_path, info.n_vocab, tok)) return -1;
    if (cli_new_state(sc->model, NULL, &sc->state)) return -1;
    sc->logits = malloc((size_t)EVAL_CHUNK * (size_t)info.n_vocab * sizeof *sc->logits);
    if (!sc->logits) {
        cli_error("out of memory for %d x %d logits", EVAL_CHUNK, info.n_vocab);
        return -1;
    }
    return 0;
}

static void scorer_free(scorer *sc, rwkv_tokenizer *tok) {
    free(sc->logits);
    rwkv_state_free(sc->state);
    rwkv_model_free(sc->model);
    rwkv_tokenizer_free(tok);
}

/* ---- perplexity ------------------------------------------------------------------------------ */

static int eval_perplexity(int argc, char **argv) {
    eval_opts o;
    int rc;
    if (parse_opts("eval perplexity", false, argc, argv, &o, &rc)) return rc;
    rc = CLI_EXIT_RUNTIME;
    char *text = NULL;
    size_t text_len = 0;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    scorer sc;
    rwkv_tokenizer *tok = NULL;
    memset(&sc, 0, sizeof sc);
    if (cli_read_file("text file", o.text_path, &text, &text_len)) goto done;
    if (scorer_open(&o, &sc, &tok)) goto done;
    double t0 = cli_now();
    if (cli_encode(tok, text, text_len, &ids, &n_ids)) goto done;
    if (n_ids < 2) {
        cli_error("text file '%.300s' has %zu token%s: at least 2 are needed", o.text_path, n_ids,
                  n_ids == 1 ? "" : "s");
        goto done;
    }
    size_t ctx = o.ctx ? (size_t)o.ctx : n_ids;
    score s = {0, 0, true};
    progress pg;
    progress_init(&pg, "tokens");
    size_t windows = 0;
    for (size_t w = 0; w < n_ids; w += ctx) {
        size_t len = n_ids - w < ctx ? n_ids - w : ctx;
        windows++;
        if (len < 2) continue; /* a last window of one token has nothing to predict */
        rwkv_state_reset(sc.state);
        if (score_run(&sc, ids + w, len - 1, 0, &s, &pg, w, n_ids)) {
            progress_end(&pg);
            goto done;
        }
    }
    progress_draw(&pg, n_ids, n_ids);
    progress_end(&pg);
    double secs = cli_now() - t0;
    double mean = s.nll / (double)s.n, ppl = exp(mean);
    if (o.json) {
        printf("{\"n\":%llu,\"tokens\":%zu,\"windows\":%zu,\"ctx\":%zu,", (unsigned long long)s.n,
               n_ids, windows, o.ctx ? ctx : 0);
        json_number("mean_nll", mean, false);
        json_number("perplexity", ppl, false);
        json_number("seconds", secs, true);
        printf("}\n");
    } else {
        printf("perplexity %.4f (mean NLL %.6f nats) over %llu scored tokens of %zu, %zu window%s, "
               "%.2f s\n", ppl, mean, (unsigned long long)s.n, n_ids, windows,
               windows == 1 ? "" : "s", secs);
    }
    if (fflush(stdout) != 0) {
        cli_error("cannot write to stdout");
        goto done;
    }
    rc = CLI_EXIT_OK;
done:
    scorer_free(&sc, tok);
    free(ids);
    free(text);
    return rc;
}

/* ---- a small JSON reader for one jsonl line ------------------------------------------------- */

/* A cursor over one line. */
typedef struct jcur {
    const char *s;
    size_t n, i;
} jcur;

static void j_ws(jcur *c) {
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\r' ||
                           c->s[c->i] == '\n'))
        c->i++;
}

/* Value of hex digit ch, or -1. */
static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits of a \u escape at c->s[c->i..]; -1 if malformed. */
static long j_hex4(jcur *c) {
    if (c->n - c->i < 4) return -1;
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(c->s[c->i + (size_t)k]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    c->i += 4;
    return v;
}

/* Appends code point cp (< 0x110000, not a surrogate) to out as UTF-8; returns bytes written. */
static size_t utf8_put(char *out, unsigned long cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the JSON string at the cursor (which is on its opening quote) into out (when not NULL;
 * it must hold as many bytes as remain on the line: a decoded string is never longer than its
 * source) and sets *out_len. Escapes: \" \\ \/ \b \f \n \r \t and \uXXXX, surrogate pairs joined
 * into one code point; raw bytes are copied unchanged. Returns NULL, or what is wrong. */
static const char *j_string(jcur *c, char *out, size_t *out_len) {
    size_t len = 0;
    c->i++; /* the opening quote */
    for (;;) {
        if (c->i >= c->n) return "unterminated string";
        unsigned char ch = (unsigned char)c->s[c->i++];
        if (ch == '"') break;
        if (ch < 0x20) return "control character in a string";
        if (ch != '\\') {
            if (out) out[len] = (char)ch;
            len++;
            continue;
        }
        if (c->i >= c->n) return "unterminated escape";
        char e = c->s[c->i++], one = 0;
        switch (e) {
        case '"': one = '"'; break;
        case '\\': one = '\\'; break;
        case '/': one = '/'; break;
        case 'b': one = '\b'; break;
        case 'f': one = '\f'; break;
        case 'n': one = '\n'; break;
        case 'r': one = '\r'; break;
        case 't': one = '\t'; break;
        case 'u': {
            long cp = j_hex4(c);
            if (cp < 0) return "bad \\u escape";
            if (cp >= 0xDC00 && cp <= 0xDFFF) return "lone low surrogate in \\u escape";
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (c->n - c->i < 2 || c->s[c->i] != '\\' || c->s[c->i + 1] != 'u')
                    return "high surrogate not followed by a low surrogate";
                c->i += 2;
                long lo = j_hex4(c);
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return "high surrogate not followed by a low surrogate";
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            char tmp[4];
            size_t k = utf8_put(tmp, (unsigned long)cp);
            if (out) memcpy(out + len, tmp, k);
            len += k;
            continue;
        }
        default: return "unknown escape in a string";
        }
        if (out) out[len] = one;
        len++;
    }
    *out_len = len;
    return NULL;
}

/* Skips one JSON value of any kind (nesting at most depth deep). Returns NULL, or what is wrong. */
static const char *j_skip(jcur *c, int depth) {
    if (depth <= 0) return "nested too deeply";
    j_ws(c);
    if (c->i >= c->n) return "value expected";
    char ch = c->s[c->i];
    size_t len;
    if (ch == '"') return j_string(c, NULL, &len);
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        c->i++;
        j_ws(c);
        if (c->i < c->n && c->s[c->i] == close) {
            c->i++;
            return NULL;
        }
        for (;;) {
            j_ws(c);
            if (ch == '{') {
                if (c->i >= c->n || c->s[c->i] != '"') return "object key expected";
                const char *err = j_string(c, NULL, &len);
                if (err) return err;
                j_ws(c);
                if (c->i >= c->n || c->s[c->i] != ':') return "':' expected";
                c->i++;
            }
            const char *err = j_skip(c, depth - 1);
            if (err) return err;
            j_ws(c);
            if (c->i < c->n && c->s[c->i] == ',') {
                c->i++;
                continue;
            }
            if (c->i < c->n && c->s[c->i] == close) {
                c->i++;
                return NULL;
            }
            return ch == '{' ? "',' or '}' expected" : "',' or ']' expected";
        }
    }
    static const char *const words[] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++) {
        size_t wl = strlen(words[k]);
        if (c->n - c->i >= wl && !memcmp(c->s + c->i, words[k], wl)) {
            c->i += wl;
            return NULL;
        }
    }
    /* A number: -?digits(.digits)?([eE][+-]?digits)? */
    size_t start = c->i;
    if (c->i < c->n && c->s[c->i] == '-') c->i++;
    size_t digits = 0;
    while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') c->i++, digits++;
    if (!digits) {
        c->i = start;
        return "unexpected character";
    }
    if (c->i < c->n && c->s[c->i] == '.') {
        c->i++;
        for (digits = 0; c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9'; c->i++) digits++;
        if (!digits) return "bad number";
    }
    if (c->i < c->n && (c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
        c->i++;
        if (c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-')) c->i++;
        for (digits = 0; c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9'; c->i++) digits++;
        if (!digits) return "bad number";
    }
    return NULL;
}

/* Parses one line that must be a JSON object with a string member "text" (other members are
 * allowed and ignored; a second "text" is an error). On success *text is malloc'd (NUL-terminated,
 * *text_len bytes without it) and NULL returned; otherwise what is wrong. */
static const char *parse_jsonl_line(const char *line, size_t n, char **text, size_t *text_len) {
    *text = NULL;
    jcur c = {line, n, 0};
    char *key = malloc(n + 1), *val = malloc(n + 1);
    const char *err = NULL;
    bool have = false;
    if (!key || !val) {
        err = "out of memory";
        goto fail;
    }
    j_ws(&c);
    if (c.i >= c.n || c.s[c.i] != '{') {
        err = "a JSON object expected";
        goto fail;
    }
    c.i++;
    j_ws(&c);
    if (c.i < c.n && c.s[c.i] == '}') {
        c.i++;
    } else {
        for (;;) {
            j_ws(&c);
            if (c.i >= c.n || c.s[c.i] != '"') {
                err = "object key expected";
                goto fail;
            }
            size_t klen;
            if ((err = j_string(&c, key, &klen))) goto fail;
            j_ws(&c);
            if (c.i >= c.n || c.s[c.i] != ':') {
                err = "':' expected";
                goto fail;
            }
            c.i++;
            j_ws(&c);
            if (klen == 4 && !memcmp(key, "text", 4)) {
                if (have) {
                    err = "duplicate \"text\"";
                    goto fail;
                }
                if (c.i >= c.n || c.s[c.i] != '"') {
                    err = "\"text\" is not a string";
                    goto fail;
                }
                if ((err = j_string(&c, val, text_len))) goto fail;
                val[*text_len] = '\0';
                have = true;
            } else if ((err = j_skip(&c, 64))) {
                goto fail;
            }
            j_ws(&c);
            if (c.i < c.n && c.s[c.i] == ',') {
                c.i++;
                continue;
            }
            if (c.i < c.n && c.s[c.i] == '}') {
                c.i++;
                break;
            }
            err = "',' or '}' expected";
            goto fail;
        }
    }
    j_ws(&c);
    if (c.i != c.n) {
        err = "trailing characters after the object";
        goto fail;
    }
    if (!have) {
        err = "no \"text\" member";
        goto fail;
    }
    free(key);
    *text = val;
    return NULL;
fail:
    free(key);
    free(val);
    return err;
}

/* ---- lambada --------------------------------------------------------------------------------- */

/* One LAMBADA example: the decoded text and its line number. */
typedef struct example {
    char *text;
    size_t len;
    size_t line;
} example;

/* Parses data[0..len) as jsonl into *ex (up to limit examples; 0 = all; blank lines skipped).
 * Returns 0, or -1 with an error naming path and the line. */
static int read_examples(const char *path, const char *data, size_t len, size_t limit,
                         example **ex, size_t *n_ex) {
    *ex = NULL;
    *n_ex = 0;
    size_t cap = 0, line_no = 0;
    for (size_t pos = 0; pos < len && (!limit || *n_ex < limit);) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;
        line_no++;
        size_t k = pos;
        while (k < end && (data[k] == ' ' || data[k] == '\t' || data[k] == '\r')) k++;
        if (k < end) {
            char *text;
            size_t tlen;
            const char *err = parse_jsonl_line(data + pos, end - pos, &text, &tlen);
            if (err) {
                cli_error("%.300s:%zu: %s", path, line_no, err);
                return -1;
            }
            if (!memchr(text, ' ', tlen)) {
                cli_error("%.300s:%zu: the text has no space, so no last word to predict", path,
                          line_no);
                free(text);
                return -1;
            }
            if (*n_ex == cap) {
                size_t ncap = cap ? cap * 2 : 1024;
                example *grown = realloc(*ex, ncap * sizeof *grown);
                if (!grown) {
                    free(text);
                    cli_error("out of memory reading '%.300s'", path);
                    return -1;
                }
                *ex = grown;
                cap = ncap;
            }
            (*ex)[(*n_ex)++] = (example){text, tlen, line_no};
        }
        pos = end + 1;
    }
    if (*n_ex == 0) {
        cli_error("'%.300s' holds no examples", path);
        return -1;
    }
    return 0;
}

/* Position of the last space in s[0..n) (one exists: read_examples checked). */
static size_t last_space(const char *s, size_t n) {
    size_t k = n;
    while (k > 0 && s[k - 1] != ' ') k--;
    return k - 1;
}

static int eval_lambada(int argc, char **argv) {
    eval_opts o;
    int rc;
    if (parse_opts("eval lambada", true, argc, argv, &o, &rc)) return rc;
    rc = CLI_EXIT_RUNTIME;
    char *data = NULL;
    size_t data_len = 0, n_ex = 0;
    example *ex = NULL;
    int32_t *seq = NULL, *ctx_ids = NULL, *tgt_ids = NULL;
    scorer sc;
    rwkv_tokenizer *tok = NULL;
    memset(&sc, 0, sizeof sc);
    if (cli_read_file("LAMBADA data", o.data_path, &data, &data_len)) goto done;
    if (read_examples(o.data_path, data, data_len, (size_t)o.limit, &ex, &n_ex)) goto done;
    if (scorer_open(&o, &sc, &tok)) goto done;
    int pad = o.pad_token;
    if (pad == -2) pad = sc.n_vocab == 256 ? -1 : 0;
    if (pad >= sc.n_vocab) {
        cli_error("--pad-token %d is out of range (the model has %d tokens)", pad, sc.n_vocab);
        goto done;
    }
    double t0 = cli_now();
    double nll_total = 0;
    uint64_t target_tokens = 0, fed_tokens = 0, correct = 0;
    progress pg;
    progress_init(&pg, "examples");
    for (size_t e = 0; e < n_ex; e++) {
        const example *x = &ex[e];
        size_t sp = last_space(x->text, x->len), n_ctx, n_tgt;
        if (cli_encode(tok, x->text, sp, &ctx_ids, &n_ctx)) goto fail_bar;
        if (cli_encode(tok, x->text + sp, x->len - sp, &tgt_ids, &n_tgt)) goto fail_bar;
        size_t n_src = n_ctx + (pad >= 0);
        if (n_src == 0) {
            cli_error("%.300s:%zu: the context before the last word is empty (and no --pad-token)",
                      o.data_path, x->line);
            goto fail_bar;
        }
        int32_t *grown = realloc(seq, (n_src + n_tgt) * sizeof *seq);
        if (!grown) {
            cli_error("out of memory");
            goto fail_bar;
        }
        seq = grown;
        if (pad >= 0) seq[0] = pad;
        memcpy(seq + (pad >= 0), ctx_ids, n_ctx * sizeof *seq);
        memcpy(seq + n_src, tgt_ids, n_tgt * sizeof *seq);
        free(ctx_ids);
        free(tgt_ids);
        ctx_ids = tgt_ids = NULL;
        rwkv_state_reset(sc.state);
        score s = {0, 0, true};
        if (score_run(&sc, seq, n_src + n_tgt - 1, n_src - 1, &s, NULL, 0, 0)) goto fail_bar;
        nll_total += s.nll;
        target_tokens += s.n;
        fed_tokens += n_src + n_tgt - 1;
        correct += s.all_argmax;
        progress_draw(&pg, e + 1, n_ex);
    }
    progress_end(&pg);
    double secs = cli_now() - t0;
    double acc = (double)correct / (double)n_ex;
    double ppl = exp(nll_total / (double)n_ex), ppl_tok = exp(nll_total / (double)target_tokens);
    if (o.json) {
        printf("{\"n\":%zu,", n_ex);
        json_number("accuracy", acc, false);
        json_number("perplexity", ppl, false);
        json_number("perplexity_per_token", ppl_tok, false);
        printf("\"tokens\":%llu,\"target_tokens\":%llu,\"pad_token\":%d,",
               (unsigned long long)fed_tokens, (unsigned long long)target_tokens, pad);
        json_number("seconds", secs, true);
        printf("}\n");
    } else {
        printf("LAMBADA: %zu examples, accuracy %.2f%%, perplexity %.4f (per token %.4f), "
               "%llu target tokens, %.2f s\n", n_ex, 100.0 * acc, ppl, ppl_tok,
               (unsigned long long)target_tokens, secs);
    }
    if (fflush(stdout) != 0) {
        cli_error("cannot write to stdout");
        goto done;
    }
    rc = CLI_EXIT_OK;
    goto done;
fail_bar:
    progress_end(&pg);
done:
    scorer_free(&sc, tok);
    for (size_t e = 0; e < n_ex; e++) free(ex[e].text);
    free(ex);
    free(seq);
    free(ctx_ids);
    free(tgt_ids);
    free(data);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    if (argc < 2) return cli_usage_error("eval", "give a task: perplexity or lambada");
    const char *task = argv[1];
    if (!strcmp(task, "--help") || !strcmp(task, "-h")) {
        fputs(eval_usage, stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(task, "perplexity")) return eval_perplexity(argc - 1, argv + 1);
    if (!strcmp(task, "lambada")) return eval_lambada(argc - 1, argv + 1);
    return cli_usage_error("eval", "unknown task '%.100s' (perplexity or lambada)", task);
}
