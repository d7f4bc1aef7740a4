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
    "usage: rwkv eval perplexity -m MODEL -f FILE [--ctx N] [options]\n"
    "       rwkv eval lambada -m MODEL --data lambada_test.jsonl [--limit N] [options]\n"
    "Measures a model's quality (method: docs/EVAL.md). 'rwkv eval TASK --help': one task's options.\n"
    "  perplexity   exp(mean negative log-likelihood) of every token of a text after the first of\n"
    "               each window; one window by default (RWKV's state has no context limit)\n"
    "  lambada      LAMBADA last-word accuracy and perplexity, as the official RWKV script does\n";
static const char eval_common[] =
    "common options:\n"
    "  -m, --model FILE     model file (.pth, rwkv.cpp .bin or .gguf)\n"
    "      --json           print one JSON object instead of a line of text\n"
    "      --vocab FILE     World vocabulary (default: the GGUF's own, $RWKV_VOCAB, next to the model)\n"
    CLI_MODEL_HELP;
static const char eval_perplexity_usage[] =
    "perplexity:\n"
    "  -f, --file FILE      the text (binary-safe; '-' = stdin)\n"
    "      --ctx N          reset the state every N tokens (N >= 2; default: never)\n";
static const char eval_lambada_usage[] =
    "lambada:\n"
    "      --data FILE      lambada_test.jsonl: one {\"text\": ...} object per line\n"
    "      --limit N        only the first N examples\n"
    "      --pad-token ID   token fed before each context: 0 (<|endoftext|>, as the official\n"
    "                       script) for World models, none for byte-level models; 'none' = none\n";

/* Prints the help of one task (lambada or perplexity), or of both (task NULL). */
static void print_usage(const char *task) {
    if (!task) {
        printf("%s%s%s%s", eval_usage, eval_common, eval_perplexity_usage, eval_lambada_usage);
        return;
    }
    bool lam = !strcmp(task, "lambada");
    printf("usage: rwkv eval %s%s", lam ? "lambada -m MODEL --data lambada_test.jsonl [--limit N] [options]\n"
                                         : "perplexity -m MODEL -f FILE [--ctx N] [options]\n",
           eval_common);
    fputs(lam ? eval_lambada_usage : eval_perplexity_usage, stdout);
}

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

/* ---- options shared by both subcommands ------------------------------------------------------ */

typedef struct eval_opts {
    const char *model_path, *vocab_path, *text_path, *data_path;
    cli_model_opts mo;
    int ctx, limit, pad_token; /* ctx 0: one window; limit 0: all; pad -1: none, -2: default */
    bool json;
} eval_opts;

/* Parses the options of subcommand cmd ("eval perplexity" / "eval lambada"). Returns -1 when
 * the command should exit with *rc (help printed or usage error), 0 to go on. */
static int parse_opts(const char *cmd, bool lambada, int argc, char **argv, eval_opts *o, int *rc) {
    enum { OPT_MODEL = 1, OPT_JSON, OPT_VOCAB, OPT_FILE, OPT_CTX, OPT_DATA, OPT_LIMIT,
           OPT_PAD };
    static const cli_option ppl_opts[] = {
        {OPT_MODEL, "model", 'm', 1}, {OPT_JSON, "json", 0, 0}, {OPT_VOCAB, "vocab", 0, 1},
        CLI_MODEL_OPTIONS, {OPT_FILE, "file", 'f', 1}, {OPT_CTX, "ctx", 0, 1},
        {0, NULL, 0, 0},
    };
    static const cli_option lam_opts[] = {
        {OPT_MODEL, "model", 'm', 1}, {OPT_JSON, "json", 0, 0}, {OPT_VOCAB, "vocab", 0, 1},
        CLI_MODEL_OPTIONS, {OPT_DATA, "data", 0, 1}, {OPT_LIMIT, "limit", 0, 1},
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
        case CLI_HELP: print_usage(lambada ? "lambada" : "perplexity"); *rc = CLI_EXIT_OK; return -1;
        case CLI_BAD: return -1;
        case CLI_POSITIONAL: cli_usage_error(cmd, "unexpected argument '%.100s'", v); return -1;
        case OPT_MODEL: o->model_path = v; break;
        case OPT_JSON: o->json = true; break;
        case OPT_VOCAB: o->vocab_path = v; break;
        case CLI_OPT_THREADS: case CLI_OPT_DEVICE: case CLI_OPT_PREFILL_BF16:
            if (cli_parse_model_option(id, v, &o->mo)) return -1;
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
        cli_usage_error(cmd, "missing -f FILE");
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
    if (cli_load_model(o->model_path, &o->mo, &sc->model)) return -1;
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
        json_t *j = json_object();
        json_object_set_new(j, "n", json_integer((json_int_t)s.n));
        json_object_set_new(j, "tokens", json_integer((json_int_t)n_ids));
        json_object_set_new(j, "windows", json_integer((json_int_t)windows));
        json_object_set_new(j, "ctx", json_integer((json_int_t)(o.ctx ? ctx : 0)));
        json_object_set_new(j, "mean_nll", cli_json_number(mean));
        json_object_set_new(j, "perplexity", cli_json_number(ppl));
        json_object_set_new(j, "seconds", cli_json_number(secs));
        if (cli_print_json(j)) goto done;
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

/* ---- one jsonl line -------------------------------------------------------------------------- */

/* Parses one line that must be a JSON object with a string member "text" (other members are
 * allowed and ignored; a repeated key is an error). On success *text is malloc'd (NUL-terminated,
 * *text_len bytes without it; the text may hold NUL bytes written as \u0000) and 0 returned;
 * otherwise -1 with what is wrong in err. */
static int parse_jsonl_line(const char *line, size_t n, char **text, size_t *text_len, char *err,
                            size_t cap) {
    *text = NULL;
    json_error_t je;
    json_t *o = json_loadb(line, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    json_t *t = json_object_get(o, "text");
    if (!o) snprintf(err, cap, "%s", je.text);
    else if (!json_is_object(o)) snprintf(err, cap, "a JSON object expected");
    else if (!t) snprintf(err, cap, "no \"text\" member");
    else if (!json_is_string(t)) snprintf(err, cap, "\"text\" is not a string");
    else if (!(*text = malloc(json_string_length(t) + 1))) snprintf(err, cap, "out of memory");
    else {
        *text_len = json_string_length(t);
        memcpy(*text, json_string_value(t), *text_len + 1);
    }
    json_decref(o);
    return *text ? 0 : -1;
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
            char *text, err[200];
            size_t tlen;
            if (parse_jsonl_line(data + pos, end - pos, &text, &tlen, err, sizeof err)) {
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
        json_t *j = json_object();
        json_object_set_new(j, "n", json_integer((json_int_t)n_ex));
        json_object_set_new(j, "accuracy", cli_json_number(acc));
        json_object_set_new(j, "perplexity", cli_json_number(ppl));
        json_object_set_new(j, "perplexity_per_token", cli_json_number(ppl_tok));
        json_object_set_new(j, "tokens", json_integer((json_int_t)fed_tokens));
        json_object_set_new(j, "target_tokens", json_integer((json_int_t)target_tokens));
        json_object_set_new(j, "pad_token", json_integer(pad));
        json_object_set_new(j, "seconds", cli_json_number(secs));
        if (cli_print_json(j)) goto done;
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
        print_usage(NULL);
        return CLI_EXIT_OK;
    }
    if (!strcmp(task, "perplexity")) return eval_perplexity(argc - 1, argv + 1);
    if (!strcmp(task, "lambada")) return eval_lambada(argc - 1, argv + 1);
    return cli_usage_error("eval", "unknown task '%.100s' (perplexity or lambada)", task);
}
