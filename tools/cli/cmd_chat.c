/* cmd_chat.c — `rwkv chat`: a conversation with one running state.
 *
 * Every turn feeds only the new text ("User: MSG\n\nAssistant:" and the template's thinking
 * suffix) into the state, never the history; the reply's tokens are fed as they are sampled, so
 * after a reply the state has consumed exactly the conversation so far (kept as text in conv, for
 * /save). A reply ends at token 0, when its decoded text contains "\n\n", at the token limit, or
 * on Ctrl-C. When it did not end by "\n\n" the program feeds "\n\n" itself right away, so between
 * turns the state always ends with the separator and a saved state is at a turn boundary.
 * The reply's text goes through an rwkv_stream: "\n\n" is its stop string, and the G1 split
 * gives the reasoning and the answer, each trimmed.
 *
 * Terminal mode (stdin is a terminal): libedit line editing and history, thinking shown dimmed.
 * Pipe mode (stdin not a terminal, or --plain): one message per input line, each reply printed
 * followed by "\n", no prompts, no escape codes; command answers on stderr. --jsonl: one JSON
 * object per line in and out. See docs/CHAT.md. */
#include "cli.h"
#include "cli_grammar.h"
#include "g1.h"

#include <editline/readline.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char chat_usage[] =
    "usage: rwkv chat -m MODEL [options]\n"
    "Chats with a model, keeping one running state (G1/World chat template). On a terminal: line\n"
    "editing and history, Ctrl-C stops a reply, Ctrl-D quits. Otherwise (or with --plain): one\n"
    "message per input line, one reply per output line (a reply may hold single newlines; -v\n"
    "tells its length), command answers on stderr. --jsonl: one JSON object per line in and out\n"
    "(docs/CHAT.md). Type /help in the chat for commands.\n"
    "  -m, --model FILE            model file (.pth, rwkv.cpp .bin or .gguf)\n"
    "      --system TEXT           system prompt, fed once at the start\n"
    "      --think                 let the model reason first (\"Assistant: <think\")\n"
    "      --no-think              answer without reasoning (\"Assistant: <think>\\n</think\")\n"
    "                              (default: neither, plain \"Assistant:\")\n"
    "      --state FILE            start from a state file (rwkv_state_save, /save) or an\n"
    "                              official state-tuning .pth\n"
    "  -n, --max-tokens N          at most N tokens per reply (default 2048; also --n-tokens)\n"
    "      --temperature T         default 1.0 (0 = greedy)\n"
    "      --top-p P               default 0.3\n"
    "      --top-k K               default 0 (off)\n"
    "      --presence-penalty X    default 0.5\n"
    "      --frequency-penalty X   default 0.5\n"
    "      --penalty-decay X       default 0.996\n"
    "      --seed S                random seed (default: from the clock)\n"
    "      --vocab FILE            World vocabulary (default: the GGUF's own, $RWKV_VOCAB, or\n"
    "                              rwkv_vocab_v20230424.txt next to the model)\n"
    CLI_GRAMMAR_USAGE
    "                              (each reply; not with --think/--no-think)\n"
    CLI_MODEL_HELP
    "      --plain                 pipe mode even on a terminal\n"
    "      --jsonl                 pipe mode with one JSON object per line in and out\n"
    "  -v, --verbose               one line per turn on stderr: tokens fed, reply tokens, speed\n";

/* Token 0 (end of text) is forbidden for the first tokens of a reply, as chat front-ends do. */
enum { CHAT_NO_EOS_TOKENS = 4, CHAT_DEFAULT_MAX_TOKENS = 2048, CHAT_HISTORY_LINES = 1000 };

/* How a reply ended. */
typedef enum reply_end { END_STOP, END_EOS, END_LENGTH, END_INTERRUPT, END_GRAMMAR } reply_end;

static const char *const end_names[] = {"\\n\\n", "token 0", "length", "interrupted", "grammar"};
/* finish_reason of --jsonl */
static const char *const end_reasons[] = {"stop", "end_of_text", "length", "interrupted", "grammar"};

/* Set by SIGINT; checked between tokens and after reading input. */
static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
}

/* Everything about one chat session. */
typedef struct chat {
    rwkv_model *model;
    rwkv_tokenizer *tok;
    rwkv_state *state;
    rwkv_sampler *sampler;
    cli_grammar grammar;  /* --grammar / --json-schema: every reply (empty when none) */
    rwkv_model_info info;
    rwkv_sampler_params sp;
    int max_tokens;
    g1_think think;
    const char *system;   /* NULL = none */
    const char *model_path;
    int plain;            /* pipe mode */
    int jsonl;            /* --jsonl (pipe mode too) */
    int color;            /* escape codes allowed */
    int verbose;
    float *logits;        /* [n_vocab] after the last token fed (valid when have_logits) */
    int have_logits;
    cli_buf conv;         /* the text fed so far (what the state has consumed) */
    cli_buf said;         /* --jsonl: a command's answer lines */
    cli_buf content, reasoning; /* --jsonl: the current reply's parts */
    int turns;
    /* statistics of the last turn */
    size_t last_prompt_tokens, last_reply_tokens, last_sep_tokens, last_shown_bytes;
    double last_reply_secs;
    reply_end last_end;
} chat;

/* ---- text ---------------------------------------------------------------------------------- */

/* Number of user turns in a conversation text: "User: " at the start or after "\n\n". */
static int count_turns(const char *t, size_t len) {
    int n = 0;
    for (size_t i = 0; i + 6 <= len; i++)
        if ((i == 0 || (i >= 2 && t[i - 1] == '\n' && t[i - 2] == '\n')) && !memcmp(t + i, "User: ", 6))
            n++;
    return n;
}

static const char *think_name(g1_think m) {
    return m == G1_THINK_ON ? "on" : m == G1_THINK_OFF ? "off" : "plain";
}

/* ---- output -------------------------------------------------------------------------------- */

/* Writes to stdout and flushes; -1 on error (reported). */
static int out(const char *s, size_t n) { return cli_write_stdout(s, n); }
static int outs(const char *s) { return cli_write_stdout(s, strlen(s)); }

/* Prints an informational line (a command's answer): on stdout in terminal mode, on stderr
 * ("rwkv: " first) in pipe mode so that stdout holds only replies, into c->said with --jsonl. */
static void info_line(chat *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void info_line(chat *c, const char *fmt, ...) {
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->jsonl) {
        if ((c->said.len && cli_buf_add(&c->said, "\n", 1)) || cli_buf_add(&c->said, msg, strlen(msg)))
            cli_error("out of memory");
        return;
    }
    FILE *f = c->plain ? stderr : stdout;
    fprintf(f, "%s%s\n", c->plain ? "rwkv: " : "", msg);
    fflush(f);
}

/* Resident memory of this process in kB from /proc/self/status, or -1. */
static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

/* ---- feeding ------------------------------------------------------------------------------- */

/* Feeds len bytes of text into the state (and the conversation text); *n_tokens = tokens fed.
 * Returns 0, or -1 after printing an error. */
static int feed_text(chat *c, const char *text, size_t len, size_t *n_tokens) {
    *n_tokens = 0;
    if (len == 0) return 0;
    int32_t *ids = NULL;
    size_t n = 0;
    if (cli_encode(c->tok, text, len, &ids, &n)) return -1;
    rwkv_status st = n ? rwkv_eval(c->model, c->state, ids, n, c->logits, 0) : RWKV_OK;
    free(ids);
    if (st != RWKV_OK) {
        cli_lib_error(st, "evaluation failed");
        return -1;
    }
    if (n) c->have_logits = 1;
    if (cli_buf_add(&c->conv, text, len)) {
        cli_error("out of memory");
        return -1;
    }
    *n_tokens = n;
    return 0;
}

/* Feeds "System: ...\n\n" when a system prompt is set and the state is at its start. */
static int feed_system(chat *c) {
    if (!c->system || rwkv_state_n_tokens(c->state) != 0) return 0;
    cli_buf b = {NULL, 0, 0};
    size_t sl = strlen(c->system);
    char *msg = malloc(sl + 1);
    if (!msg) {
        cli_error("out of memory");
        return -1;
    }
    memcpy(msg, c->system, sl + 1);
    sl = g1_clean(msg, sl);
    int r = 0;
    size_t n = 0;
    if (sl) {
        if (cli_buf_add(&b, "System: ", 8) || cli_buf_add(&b, msg, sl) || cli_buf_add(&b, "\n\n", 2)) {
            cli_error("out of memory");
            r = -1;
        } else {
            r = feed_text(c, b.data, b.len, &n);
        }
        if (!r && c->verbose) fprintf(stderr, "rwkv: system prompt: %zu tokens\n", n);
    }
    cli_buf_free(&b);
    free(msg);
    return r;
}

/* ---- replies ------------------------------------------------------------------------------- */

/* Where the display of the current reply stands. Reasoning is shown as "<think>REASONING</think>"
 * (dimmed on a terminal), then a newline and the answer. */
typedef struct reply_view {
    int think;      /* 0: no reasoning shown yet, 1: "<think>" shown, 2: "</think>" shown */
    int answered;   /* answer bytes were shown */
    size_t written; /* text bytes written for this reply (escape codes not counted) */
} reply_view;

/* Writes n bytes of reply text (counted in v->written). */
static int show(reply_view *v, const char *s, size_t n) {
    v->written += n;
    return out(s, n);
}

static int open_think(chat *c, reply_view *v) {
    if (v->think) return 0;
    v->think = 1;
    if (c->color && outs("\033[2m")) return -1;
    return show(v, "<think>", 7);
}

static int close_think(chat *c, reply_view *v) {
    if (v->think != 1) return 0;
    v->think = 2;
    if (show(v, "</think>", 8)) return -1;
    return c->color ? outs("\033[0m") : 0;
}

/* Shows (or, with --jsonl, collects) what the stream released. */
static int show_released(chat *c, reply_view *v, rwkv_stream *s) {
    size_t nr, nc;
    const char *r = rwkv_stream_take(s, RWKV_STREAM_REASONING, &nr);
    const char *a = rwkv_stream_take(s, RWKV_STREAM_CONTENT, &nc);
    if (c->jsonl) {
        if (cli_buf_add(&c->reasoning, r, nr) || cli_buf_add(&c->content, a, nc)) {
            cli_error("out of memory");
            return -1;
        }
        return 0;
    }
    if (nr && (open_think(c, v) || show(v, r, nr))) return -1;
    if (nc) {
        if (v->think && !v->answered && (close_think(c, v) || show(v, "\n", 1))) return -1;
        v->answered = 1;
        if (show(v, a, nc)) return -1;
    }
    return 0;
}

/* Samples and streams one reply (the prompt has been fed). Returns 0 or -1 (error printed). */
static int generate_reply(chat *c) {
    static const rwkv_think_mode modes[] = {RWKV_THINK_AUTO, RWKV_THINK_OPEN, RWKV_THINK_CLOSED};
    static const char *const stop[] = {"\n\n"};
    rwkv_stream_params sp = {stop, NULL, 1, modes[c->think]};
    rwkv_stream *stream = NULL;
    rwkv_status st = rwkv_stream_new(&sp, &stream);
    if (st != RWKV_OK) {
        cli_lib_error(st, "cannot set up the output");
        return -1;
    }
    rwkv_sampler_reset(c->sampler);
    cli_grammar_reset(&c->grammar);
    cli_buf_clear(&c->content);
    cli_buf_clear(&c->reasoning);
    reply_view v = {0, 0, 0};
    int rc = -1;
    if (c->think == G1_THINK_ON && !c->jsonl && open_think(c, &v)) goto done;
    reply_end end = END_LENGTH;
    size_t n = 0;
    double t0 = cli_now();
    while ((int)n < c->max_tokens) {
        if (g_interrupted) {
            end = END_INTERRUPT;
            break;
        }
        if (!c->have_logits) { /* cannot happen after a prompt; be safe */
            cli_error("no logits to sample from");
            goto done;
        }
        if (n < CHAT_NO_EOS_TOKENS) c->logits[0] = -INFINITY;
        int32_t t;
        if (cli_grammar_sample(&c->grammar, c->sampler, c->logits, c->info.n_vocab, &t)) goto done;
        if (t <= 0 || t >= c->info.n_vocab) {
            end = t < 0 ? END_GRAMMAR : END_EOS;
            break;
        }
        size_t tl = 0;
        const char *tb = rwkv_tokenizer_token(c->tok, t, &tl);
        if (tl && cli_buf_add(&c->conv, tb, tl)) {
            cli_error("out of memory");
            goto done;
        }
        /* The token is fed even when it ends the reply: the state must hold all of the text. */
        if ((st = rwkv_eval(c->model, c->state, &t, 1, c->logits, 0)) != RWKV_OK) {
            cli_lib_error(st, "evaluation failed");
            goto done;
        }
        n++;
        if ((st = rwkv_stream_feed(stream, tb, tl)) != RWKV_OK) {
            cli_lib_error(st, "output");
            goto done;
        }
        if (show_released(c, &v, stream)) goto done;
        if (rwkv_stream_stop_index(stream) >= 0) {
            end = END_STOP;
            break;
        }
        if (cli_grammar_must_end(&c->grammar)) {
            end = END_GRAMMAR;
            break;
        }
    }
    double secs = cli_now() - t0;
    if ((st = rwkv_stream_finish(stream)) != RWKV_OK) {
        cli_lib_error(st, "output");
        goto done;
    }
    if (show_released(c, &v, stream)) goto done;
    if (!c->jsonl) {
        if (close_think(c, &v)) goto done;
        if (end == END_INTERRUPT && !c->plain && outs(" [stopped]")) goto done;
        if (outs(c->plain ? "\n" : "\n\n")) goto done;
    }
    size_t sep = 0;
    if (end != END_STOP && feed_text(c, "\n\n", 2, &sep)) goto done;
    c->last_shown_bytes = c->jsonl ? c->content.len : v.written;
    c->last_reply_tokens = n;
    c->last_sep_tokens = sep;
    c->last_reply_secs = secs;
    c->last_end = end;
    rc = 0;
done:
    rwkv_stream_free(stream);
    return rc;
}

/* --jsonl: the object for a finished reply. */
static int print_reply_json(const chat *c) {
    return cli_print_json(json_pack(
        "{s:o, s:o*, s:s, s:I, s:I, s:I}", "content", cli_json_text(c->content.data, c->content.len),
        "reasoning", c->reasoning.len ? cli_json_text(c->reasoning.data, c->reasoning.len) : NULL, "finish_reason",
        end_reasons[c->last_end], "prompt_tokens", (json_int_t)c->last_prompt_tokens, "completion_tokens",
        (json_int_t)c->last_reply_tokens, "state_tokens", (json_int_t)rwkv_state_n_tokens(c->state)));
}

/* One turn: feeds the user's (cleaned) message with the template, then the reply. */
static int chat_turn(chat *c, char *msg, size_t len) {
    len = g1_clean(msg, len);
    if (len == 0) { /* ignored; --jsonl answers every line */
        if (c->jsonl) cli_error("the message is empty");
        return 0;
    }
    cli_buf p = {NULL, 0, 0};
    const char *suffix = g1_think_suffix(c->think);
    if (cli_buf_add(&p, "User: ", 6) || cli_buf_add(&p, msg, len) || cli_buf_add(&p, "\n\nAssistant:", 12) ||
        cli_buf_add(&p, suffix, strlen(suffix))) {
        cli_buf_free(&p);
        cli_error("out of memory");
        return -1;
    }
    size_t n = 0;
    int r = feed_text(c, p.data, p.len, &n);
    cli_buf_free(&p);
    if (r) return -1;
    c->turns++;
    c->last_prompt_tokens = n;
    if (generate_reply(c) || (c->jsonl && print_reply_json(c))) return -1;
    g_interrupted = 0;
    if (c->verbose)
        fprintf(stderr, "rwkv: turn %d: prompt %zu tokens, reply %zu tokens (end: %s), separator "
                "%zu tokens, state %llu tokens, shown %zu bytes, %.1f tok/s\n", c->turns,
                c->last_prompt_tokens, c->last_reply_tokens, end_names[c->last_end],
                c->last_sep_tokens, (unsigned long long)rwkv_state_n_tokens(c->state),
                c->last_shown_bytes,
                c->last_reply_secs > 0 ? (double)c->last_reply_tokens / c->last_reply_secs : 0.0);
    return 0;
}

/* ---- state files --------------------------------------------------------------------------- */

/* Loads a state file or state-tuning .pth into the running state. Returns 0, or -1 after an
 * error message (the conversation is then unchanged). */
static int load_state(chat *c, const char *path, int quiet) {
    rwkv_state_loaded ld;
    rwkv_status st = rwkv_state_load(c->state, path, &ld);
    if (st != RWKV_OK) {
        cli_lib_error(st, "cannot load state '%.300s'", path);
        return -1;
    }
    cli_buf_clear(&c->conv);
    c->have_logits = 0;
    c->turns = 0;
    if (ld.from_tuning) {
        if (!quiet) info_line(c, "loaded state-tuning file %s (the initial state; /reset returns to it)", path);
        rwkv_state_loaded_free(&ld);
        return feed_system(c);
    }
    if (ld.text && cli_buf_add(&c->conv, ld.text, ld.text_len)) {
        rwkv_state_loaded_free(&ld);
        cli_error("out of memory");
        return -1;
    }
    if (ld.logits && ld.n_logits == (size_t)c->info.n_vocab) {
        memcpy(c->logits, ld.logits, ld.n_logits * sizeof(float));
        c->have_logits = 1;
    }
    c->turns = count_turns(c->conv.data ? c->conv.data : "", c->conv.len);
    if (!quiet)
        info_line(c, "loaded %s: %d turn%s, %llu tokens", path, c->turns, c->turns == 1 ? "" : "s",
                  (unsigned long long)ld.n_tokens);
    rwkv_state_loaded_free(&ld);
    if (rwkv_state_n_tokens(c->state) == 0) return feed_system(c);
    return 0;
}

/* ---- slash commands ------------------------------------------------------------------------ */

static void print_help(chat *c) {
    info_line(c, "commands:\n"
              "  /save FILE        save the state and the conversation text\n"
              "  /load FILE        load a state file or a state-tuning .pth\n"
              "  /reset            start a new conversation (system prompt fed again)\n"
              "  /think on|off|plain  reasoning: \"<think\", an empty think block, or no tags\n"
              "  /set NAME VALUE   temperature, top_p, top_k, presence, frequency, decay,\n"
              "                    max_tokens, seed\n"
              "  /stats            tokens, state size, last reply speed, memory\n"
              "  /help             this list\n"
              "  /quit             leave (also Ctrl-D)\n"
              "  //TEXT            send a message that starts with \"/\"\n"
              "settings: temperature %g, top_p %g, top_k %d, presence %g, frequency %g, decay %g, "
              "max_tokens %d, think %s",
              (double)c->sp.temperature, (double)c->sp.top_p, c->sp.top_k,
              (double)c->sp.presence_penalty, (double)c->sp.frequency_penalty,
              (double)c->sp.penalty_decay, c->max_tokens, think_name(c->think));
}

static void print_stats(chat *c) {
    long rss = rss_kb();
    double rate = c->last_reply_secs > 0 ? (double)c->last_reply_tokens / c->last_reply_secs : 0.0;
    info_line(c, "tokens: %llu, turns: %d, state: %zu bytes, conversation: %zu bytes, last prompt: %zu "
              "tokens, last reply: %zu tokens in %.3f s (%.1f tok/s), rss: %ld kB",
              (unsigned long long)rwkv_state_n_tokens(c->state), c->turns, c->info.state_bytes,
              c->conv.len, c->last_prompt_tokens, c->last_reply_tokens, c->last_reply_secs, rate,
              rss);
}

/* /set NAME VALUE. Returns 0 (errors are printed, the chat goes on) or -1 (fatal). */
static int cmd_set(chat *c, const char *name, const char *value) {
    if (!name || !value) {
        cli_error("usage: /set NAME VALUE (see /help)");
        return 0;
    }
    rwkv_sampler_params sp = c->sp;
    int bad = 0, reseed = 0;
    if (!strcmp(name, "temperature")) bad = cli_parse_float(name, value, 0, 100, &sp.temperature);
    else if (!strcmp(name, "top_p") || !strcmp(name, "top-p")) {
        bad = cli_parse_float(name, value, 0, 1, &sp.top_p);
        if (!bad && sp.top_p <= 0) {
            cli_error("top_p: %.100s is out of range (0, 1]", value);
            bad = 1;
        }
    } else if (!strcmp(name, "top_k") || !strcmp(name, "top-k"))
        bad = cli_parse_int(name, value, 0, 1 << 30, &sp.top_k);
    else if (!strcmp(name, "presence"))
        bad = cli_parse_float(name, value, -1e6, 1e6, &sp.presence_penalty);
    else if (!strcmp(name, "frequency"))
        bad = cli_parse_float(name, value, -1e6, 1e6, &sp.frequency_penalty);
    else if (!strcmp(name, "decay")) bad = cli_parse_float(name, value, 0, 1, &sp.penalty_decay);
    else if (!strcmp(name, "max_tokens") || !strcmp(name, "max-tokens")) {
        int mt;
        if (cli_parse_int(name, value, 0, 1000000000, &mt)) return 0;
        c->max_tokens = mt;
        info_line(c, "max_tokens = %d", mt);
        return 0;
    } else if (!strcmp(name, "seed")) {
        bad = cli_parse_u64(name, value, &sp.seed);
        reseed = 1;
    } else {
        cli_error("unknown setting '%.100s' (temperature, top_p, top_k, presence, frequency, decay, "
                  "max_tokens, seed)", name);
        return 0;
    }
    if (bad) return 0;
    rwkv_status st;
    if (reseed) { /* a new seed needs a new random stream */
        rwkv_sampler *s = NULL;
        st = rwkv_sampler_new(&sp, c->info.n_vocab, c->tok, &s);
        if (st == RWKV_OK) {
            rwkv_sampler_free(c->sampler);
            c->sampler = s;
        }
    } else {
        st = rwkv_sampler_set_params(c->sampler, &sp);
    }
    if (st != RWKV_OK) {
        cli_lib_error(st, "invalid value for %.100s", name);
        return 0;
    }
    c->sp = sp;
    info_line(c, "%s = %s", name, value);
    return 0;
}

/* Runs a slash command (line starts with "/"). Returns 0 to go on, 1 to quit, -1 on a fatal
 * error. Errors in a command (bad file, bad value) are printed and the chat goes on. */
static int run_command(chat *c, char *line) {
    char *save = NULL;
    char *cmd = strtok_r(line, " \t", &save);
    char *arg = strtok_r(NULL, " \t", &save);
    char *arg2 = strtok_r(NULL, " \t", &save);
    if (!strcmp(cmd, "/quit") || !strcmp(cmd, "/exit")) return 1;
    if (!strcmp(cmd, "/help")) {
        print_help(c);
    } else if (!strcmp(cmd, "/stats")) {
        print_stats(c);
    } else if (!strcmp(cmd, "/reset")) {
        rwkv_state_reset(c->state);
        cli_buf_clear(&c->conv);
        c->have_logits = 0;
        c->turns = 0;
        if (feed_system(c)) return -1;
        info_line(c, "conversation reset");
    } else if (!strcmp(cmd, "/think")) {
        if (c->grammar.m && (!arg || strcmp(arg, "plain"))) {
            cli_error("/think %s: not with --grammar/--json-schema", arg ? arg : "");
            return 0;
        }
        if (arg && !strcmp(arg, "on")) c->think = G1_THINK_ON;
        else if (arg && !strcmp(arg, "off")) c->think = G1_THINK_OFF;
        else if (arg && !strcmp(arg, "plain")) c->think = G1_THINK_PLAIN;
        else {
            cli_error("usage: /think on|off|plain");
            return 0;
        }
        info_line(c, "think = %s", think_name(c->think));
    } else if (!strcmp(cmd, "/set")) {
        return cmd_set(c, arg, arg2);
    } else if (!strcmp(cmd, "/save")) {
        if (!arg) {
            cli_error("usage: /save FILE");
            return 0;
        }
        if (cli_same_file(arg, c->model_path)) {
            cli_error("/save: '%.300s' is the model file", arg);
            return 0;
        }
        rwkv_state_extra ex = {c->have_logits ? c->logits : NULL, c->conv.data ? c->conv.data : "",
                               c->conv.len};
        rwkv_status st = rwkv_state_save(c->state, &ex, arg);
        if (st != RWKV_OK) {
            cli_lib_error(st, "cannot save the state");
            return 0;
        }
        info_line(c, "saved %s: %d turn%s, %llu tokens, %zu bytes", arg, c->turns,
                  c->turns == 1 ? "" : "s", (unsigned long long)rwkv_state_n_tokens(c->state),
                  rwkv_state_serialized_size(c->state, &ex));
    } else if (!strcmp(cmd, "/load")) {
        if (!arg) {
            cli_error("usage: /load FILE");
            return 0;
        }
        load_state(c, arg, 0);
    } else {
        cli_error("unknown command '%.100s' (see /help)", cmd);
    }
    return 0;
}

/* ---- input --------------------------------------------------------------------------------- */

/* Reads the next input line into *line (malloc'd, without the newline; caller frees). Returns 1
 * with a line, 0 at the end of input. In terminal mode Ctrl-C abandons the line being typed and
 * asks again. */
static int read_input(chat *c, char **line, size_t *len) {
    *line = NULL;
    *len = 0;
    if (!c->plain) {
        for (;;) {
            g_interrupted = 0;
            char *l = readline("> ");
            if (l) {
                if (*l) add_history(l);
                *line = l;
                *len = strlen(l);
                return 1;
            }
            if (!g_interrupted) {
                outs("\n");
                return 0; /* Ctrl-D */
            }
            outs("\n"); /* Ctrl-C: a fresh prompt */
        }
    }
    size_t cap = 0;
    char *l = NULL;
    ssize_t n;
    errno = 0;
    while ((n = getline(&l, &cap, stdin)) < 0 && errno == EINTR && !g_interrupted) clearerr(stdin);
    if (n < 0) {
        free(l);
        return 0; /* end of input, or Ctrl-C while waiting in pipe mode */
    }
    if (n > 0 && l[n - 1] == '\n') l[--n] = '\0';
    if (n > 0 && l[n - 1] == '\r') l[--n] = '\0';
    *line = l;
    *len = (size_t)n;
    return 1;
}

/* ---- one input line ------------------------------------------------------------------------- */

/* A line of pipe or terminal mode: a slash command or a message. Returns 0 to go on, 1 to quit,
 * -1 on a fatal error. */
static int text_line(chat *c, char *line, size_t len) {
    if (line[0] == '/' && line[1] != '/') return run_command(c, line);
    char *msg = line[0] == '/' ? line + 1 : line;
    return chat_turn(c, msg, len - (size_t)(msg - line));
}

/* --jsonl: {"command": NAME, "output": ANSWER} and "error" when the command reported one. */
static int print_command_json(const char *name, const cli_buf *said, const cli_buf *errs) {
    return cli_print_json(json_pack("{s:o, s:o, s:o*}", "command", cli_json_str(name), "output",
                                    cli_json_text(said->data, said->len), "error",
                                    errs->len ? cli_json_text(errs->data, errs->len) : NULL));
}

/* --jsonl: one input object, {"content": MESSAGE} or {"command": "/NAME ARGS"}; answers with one
 * object (the reply, the command's answer, or {"error": ...}). Blank lines are skipped. Returns
 * 0 to go on, 1 to quit, -1 on a fatal error. */
static int jsonl_line(chat *c, const char *line, size_t len) {
    size_t k = 0;
    while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r')) k++;
    if (k == len) return 0;
    cli_buf errs = {NULL, 0, 0};
    cli_buf_clear(&c->said);
    cli_error_capture(&errs);
    json_error_t je;
    json_t *in = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    json_t *jc = json_object_get(in, "content"), *jm = json_object_get(in, "command");
    char *text = NULL;
    int r = 0, replied = 0;
    if (!in) {
        cli_error("input line is not JSON: %s", je.text);
    } else if (!json_is_object(in) || !jc == !jm || json_object_size(in) != 1) {
        cli_error("an input line is {\"content\": MESSAGE} or {\"command\": \"/NAME ...\"}");
    } else if (!json_is_string(jc ? jc : jm)) {
        cli_error("\"%s\" must be a string", jc ? "content" : "command");
    } else {
        json_t *js = jc ? jc : jm;
        size_t n = json_string_length(js);
        text = malloc(n + 1);
        if (!text) {
            cli_error("out of memory");
            r = -1;
        } else {
            memcpy(text, json_string_value(js), n + 1);
            if (jc) {
                r = chat_turn(c, text, n);
                replied = r == 0 && errs.len == 0;
            } else if (text[0] != '/' || strlen(text) != n) {
                cli_error("a command starts with \"/\" (and holds no NUL byte)");
            } else {
                char name[64];
                size_t nl = strcspn(text, " \t");
                snprintf(name, sizeof name, "%.*s", (int)(nl < 63 ? nl : 63), text);
                r = run_command(c, text);
                cli_error_capture(NULL);
                if (r >= 0 && print_command_json(name, &c->said, &errs)) r = -1;
                replied = 1;
            }
        }
    }
    cli_error_capture(NULL);
    if (!replied) { /* a bad line, or a message that gave no reply */
        if (cli_print_json(json_pack("{s:o}", "error", cli_json_text(errs.data, errs.len)))) r = -1;
    }
    free(text);
    json_decref(in);
    cli_buf_free(&errs);
    return r;
}

/* ---- the command --------------------------------------------------------------------------- */

int cmd_chat(int argc, char **argv) {
    enum { OPT_MODEL = 1, OPT_SYSTEM, OPT_THINK, OPT_NO_THINK, OPT_STATE, OPT_N, OPT_VOCAB,
           OPT_PLAIN, OPT_VERBOSE, OPT_JSONL, OPT_GRAMMAR, OPT_JSON_SCHEMA };
    static const cli_option opts[] = {
        {OPT_MODEL, "model", 'm', 1},
        {OPT_SYSTEM, "system", 0, 1},
        {OPT_THINK, "think", 0, 0},
        {OPT_NO_THINK, "no-think", 0, 0},
        {OPT_STATE, "state", 0, 1},
        {OPT_N, "max-tokens", 'n', 1},
        {OPT_N, "n-tokens", 0, 1},
        CLI_SAMPLING_OPTIONS,
        {OPT_VOCAB, "vocab", 0, 1},
        CLI_MODEL_OPTIONS,
        {OPT_PLAIN, "plain", 0, 0},
        {OPT_VERBOSE, "verbose", 'v', 0},
        {OPT_JSONL, "jsonl", 0, 0},
        {OPT_GRAMMAR, "grammar", 0, 1},
        {OPT_JSON_SCHEMA, "json-schema", 0, 1},
        {0, NULL, 0, 0},
    };
    chat c;
    memset(&c, 0, sizeof c);
    c.max_tokens = CHAT_DEFAULT_MAX_TOKENS;
    c.think = G1_THINK_PLAIN;
    rwkv_sampler_params_default(&c.sp);
    c.sp.temperature = 1.0f; /* the official chat demo's settings */
    c.sp.top_p = 0.3f;
    c.sp.presence_penalty = 0.5f;
    c.sp.frequency_penalty = 0.5f;
    c.sp.penalty_decay = 0.996f;
    const char *model_path = NULL, *state_path = NULL, *vocab_path = NULL;
    const char *grammar_path = NULL, *json_schema = NULL;
    int have_seed = 0, force_plain = 0, think_opts = 0;
    cli_model_opts mo = {0};
    cli_parser p;
    cli_parser_init(&p, "chat", argc, argv);
    const char *v;
    for (int id; (id = cli_next(&p, opts, &v)) != CLI_END;) {
        int bad = 0;
        switch (id) {
        case CLI_HELP: fputs(chat_usage, stdout); return CLI_EXIT_OK;
        case CLI_BAD: return CLI_EXIT_USAGE;
        case CLI_POSITIONAL: return cli_usage_error("chat", "unexpected argument '%.100s'", v);
        case OPT_MODEL: model_path = v; break;
        case OPT_SYSTEM: c.system = v; break;
        case OPT_THINK: c.think = G1_THINK_ON; think_opts |= 1; break;
        case OPT_NO_THINK: c.think = G1_THINK_OFF; think_opts |= 2; break;
        case OPT_STATE: state_path = v; break;
        case OPT_N: bad = cli_parse_int("--max-tokens", v, 0, 1000000000, &c.max_tokens); break;
        case CLI_OPT_TEMP: case CLI_OPT_TOP_P: case CLI_OPT_TOP_K: case CLI_OPT_PRESENCE:
        case CLI_OPT_FREQUENCY: case CLI_OPT_DECAY: case CLI_OPT_SEED:
            bad = cli_parse_sampling(id, v, &c.sp, &have_seed) != 0;
            break;
        case OPT_VOCAB: vocab_path = v; break;
        case CLI_OPT_THREADS: case CLI_OPT_DEVICE: case CLI_OPT_PREFILL_BF16: bad = cli_parse_model_option(id, v, &mo); break;
        case OPT_PLAIN: force_plain = 1; break;
        case OPT_VERBOSE: c.verbose = 1; break;
        case OPT_JSONL: c.jsonl = 1; break;
        case OPT_GRAMMAR: grammar_path = v; break;
        case OPT_JSON_SCHEMA: json_schema = v; break;
        }
        if (bad) return CLI_EXIT_USAGE;
    }
    if (!model_path) return cli_usage_error("chat", "missing -m MODEL");
    if (think_opts == 3) return cli_usage_error("chat", "--think and --no-think exclude each other");
    if ((grammar_path || json_schema) && think_opts)
        return cli_usage_error("chat", "--grammar/--json-schema constrain plain replies: not with "
                               "--think or --no-think");
    if (!have_seed) c.sp.seed = cli_clock_seed();
    c.model_path = model_path;
    c.plain = force_plain || c.jsonl || !isatty(STDIN_FILENO);
    c.color = !c.plain && isatty(STDOUT_FILENO);

    int rc = CLI_EXIT_RUNTIME;
    rwkv_status st;
    if (cli_load_model(model_path, &mo, &c.model)) goto done;
    rwkv_model_get_info(c.model, &c.info);
    if (cli_load_tokenizer(model_path, vocab_path, c.info.n_vocab, &c.tok)) goto done;
    if ((rc = cli_grammar_open(&c.grammar, "chat", grammar_path, json_schema, c.tok)) != CLI_EXIT_OK)
        goto done;
    rc = CLI_EXIT_RUNTIME;
    if ((st = rwkv_sampler_new(&c.sp, c.info.n_vocab, c.tok, &c.sampler)) != RWKV_OK) {
        c.sampler = NULL;
        cli_lib_error(st, "invalid sampling parameters");
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if ((st = rwkv_state_new(c.model, &c.state)) != RWKV_OK) {
        c.state = NULL;
        cli_lib_error(st, "cannot create a state");
        goto done;
    }
    c.logits = malloc((size_t)c.info.n_vocab * sizeof *c.logits);
    if (!c.logits) {
        cli_error("out of memory");
        goto done;
    }
    if (state_path) {
        if (load_state(&c, state_path, 1)) goto done;
        fprintf(stderr, "rwkv: loaded %s: %d turns, %llu tokens\n", state_path, c.turns,
                (unsigned long long)rwkv_state_n_tokens(c.state));
        if (c.system && rwkv_state_n_tokens(c.state) != 0)
            fprintf(stderr, "rwkv: note: --system ignored: the state already holds a conversation\n");
    } else if (feed_system(&c)) {
        goto done;
    }

    /* Ctrl-C sets a flag (no SA_RESTART, so a blocking read returns). */
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_sa);
    if (!c.plain) {
        rl_readline_name = "rwkv";
        using_history();
        stifle_history(CHAT_HISTORY_LINES);
        fprintf(stderr, "rwkv chat: RWKV-%s, %d layers, %d embd, vocab %d; think %s. /help for "
                "commands, Ctrl-C stops a reply, Ctrl-D quits.\n", c.info.generation, c.info.n_layer,
                c.info.n_embd, c.info.n_vocab, think_name(c.think));
    }
    rc = CLI_EXIT_OK;
    for (;;) {
        char *line = NULL;
        size_t len = 0;
        if (!read_input(&c, &line, &len)) break;
        int r = c.jsonl ? jsonl_line(&c, line, len) : text_line(&c, line, len);
        free(line);
        if (r < 0) rc = CLI_EXIT_RUNTIME;
        if (r != 0) break;
    }
    sigaction(SIGINT, &old_sa, NULL);
    if (!c.plain) clear_history();
done:
    cli_grammar_close(&c.grammar);
    cli_buf_free(&c.conv);
    cli_buf_free(&c.said);
    cli_buf_free(&c.content);
    cli_buf_free(&c.reasoning);
    free(c.logits);
    rwkv_sampler_free(c.sampler);
    rwkv_state_free(c.state);
    rwkv_tokenizer_free(c.tok);
    rwkv_model_free(c.model);
    return rc;
}
