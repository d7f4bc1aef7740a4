/* cmd_generate.c — `rwkv generate`: feeds a prompt, then samples and streams the continuation. */
#include "cli.h"
#include "cli_grammar.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char generate_usage[] =
    "usage: rwkv generate -m MODEL (-p TEXT | --prompt-file FILE) [options]\n"
    "Feeds the prompt, then samples up to -n tokens and streams the continuation to stdout.\n"
    "  -m, --model FILE            model file (.pth)\n"
    "  -p, --prompt TEXT           prompt text\n"
    "  -f, --prompt-file FILE      prompt from a file (binary-safe)\n"
    "  -n, --n-tokens N            tokens to generate (default 128)\n"
    "      --temperature T         0 = greedy (default 1.0)\n"
    "      --top-p P               nucleus sampling, (0,1]; 1 = off (default)\n"
    "      --top-k K               0 = off (default)\n"
    "      --presence-penalty X    default 0\n"
    "      --frequency-penalty X   default 0\n"
    "      --penalty-decay X       default 0.996\n"
    "      --seed S                random seed (default: from the clock)\n"
    "      --stop STR              stop before STR (repeatable)\n"
    CLI_GRAMMAR_USAGE
    "      --state FILE            start from a state file or a state-tuning file (.pth)\n"
    "      --state-out FILE        save the final state: the prompt and the generated tokens (not\n"
    "                              one that completed a --stop string); docs/STATE_FORMAT.md\n"
    "      --vocab FILE            World vocabulary (default: $RWKV_VOCAB, or next to the model)\n"
    "  -t, --threads N             worker threads (0 = physical cores)\n"
    "  -q, --quiet                 no summary line on stderr\n";

enum { MAX_STOPS = 64 };

/* Stop strings and where the generated text stands against them. */
typedef struct stop_set {
    const char *str[MAX_STOPS];
    size_t len[MAX_STOPS];
    int n;
} stop_set;

/* Position of the earliest stop string in text[from..len), or (size_t)-1 if none. */
static size_t find_stop(const stop_set *s, const char *text, size_t from, size_t len) {
    size_t best = (size_t)-1;
    for (int i = 0; i < s->n; i++) {
        const char *hit = memmem(text + from, len - from, s->str[i], s->len[i]);
        if (hit && (size_t)(hit - text) < best) best = (size_t)(hit - text);
    }
    return best;
}

/* Length of the longest suffix of text[0..len) that is the start of some stop string: bytes that
 * must be held back until the next tokens tell whether a stop string follows. */
static size_t stop_holdback(const stop_set *s, const char *text, size_t len) {
    size_t hold = 0;
    for (int i = 0; i < s->n; i++) {
        size_t k = s->len[i] - 1 < len ? s->len[i] - 1 : len;
        for (; k > hold; k--)
            if (!memcmp(text + len - k, s->str[i], k)) {
                hold = k;
                break;
            }
    }
    return hold;
}

int cmd_generate(int argc, char **argv) {
    enum { OPT_MODEL = 1, OPT_PROMPT, OPT_PROMPT_FILE, OPT_N, OPT_STOP, OPT_STATE, OPT_VOCAB,
           OPT_THREADS, OPT_QUIET, OPT_STATE_OUT, OPT_GRAMMAR, OPT_JSON_SCHEMA };
    static const cli_option opts[] = {
        {OPT_MODEL, "model", 'm', 1},
        {OPT_PROMPT, "prompt", 'p', 1},
        {OPT_PROMPT_FILE, "prompt-file", 'f', 1},
        {OPT_N, "n-tokens", 'n', 1},
        CLI_SAMPLING_OPTIONS,
        {OPT_STOP, "stop", 0, 1},
        {OPT_STATE, "state", 0, 1},
        {OPT_VOCAB, "vocab", 0, 1},
        {OPT_THREADS, "threads", 't', 1},
        {OPT_QUIET, "quiet", 'q', 0},
        {OPT_STATE_OUT, "state-out", 0, 1},
        {OPT_GRAMMAR, "grammar", 0, 1},
        {OPT_JSON_SCHEMA, "json-schema", 0, 1},
        {0, NULL, 0, 0},
    };
    const char *model_path = NULL, *prompt = NULL, *prompt_file = NULL, *state_path = NULL;
    const char *vocab_path = NULL;
    const char *state_out = NULL; /* --state-out */
    const char *grammar_path = NULL, *json_schema = NULL;
    int n_gen = 128, n_threads = 0, quiet = 0, have_seed = 0;
    stop_set stops = {.n = 0};
    rwkv_sampler_params sp;
    rwkv_sampler_params_default(&sp);
    cli_parser p;
    cli_parser_init(&p, "generate", argc, argv);
    const char *v;
    for (int id; (id = cli_next(&p, opts, &v)) != CLI_END;) {
        int bad = 0;
        switch (id) {
        case CLI_HELP: fputs(generate_usage, stdout); return CLI_EXIT_OK;
        case CLI_BAD: return CLI_EXIT_USAGE;
        case CLI_POSITIONAL: return cli_usage_error("generate", "unexpected argument '%.100s'", v);
        case OPT_MODEL: model_path = v; break;
        case OPT_PROMPT: prompt = v; break;
        case OPT_PROMPT_FILE: prompt_file = v; break;
        case OPT_N: bad = cli_parse_int("-n", v, 0, 1000000000, &n_gen); break;
        case CLI_OPT_TEMP: case CLI_OPT_TOP_P: case CLI_OPT_TOP_K: case CLI_OPT_PRESENCE:
        case CLI_OPT_FREQUENCY: case CLI_OPT_DECAY: case CLI_OPT_SEED:
            bad = cli_parse_sampling(id, v, &sp, &have_seed) != 0;
            break;
        case OPT_STOP:
            if (!*v) return cli_usage_error("generate", "--stop: the stop string is empty");
            if (stops.n == MAX_STOPS)
                return cli_usage_error("generate", "--stop: at most %d stop strings", MAX_STOPS);
            stops.str[stops.n] = v;
            stops.len[stops.n++] = strlen(v);
            break;
        case OPT_STATE: state_path = v; break;
        case OPT_VOCAB: vocab_path = v; break;
        case OPT_THREADS: bad = cli_parse_int("--threads", v, 0, 4096, &n_threads); break;
        case OPT_QUIET: quiet = 1; break;
        case OPT_STATE_OUT: state_out = v; break;
        case OPT_GRAMMAR: grammar_path = v; break;
        case OPT_JSON_SCHEMA: json_schema = v; break;
        }
        if (bad) return CLI_EXIT_USAGE;
    }
    if (!model_path) return cli_usage_error("generate", "missing -m MODEL");
    if (!prompt == !prompt_file)
        return cli_usage_error("generate", "give exactly one of -p TEXT, --prompt-file FILE");
    if (prompt && !*prompt) return cli_usage_error("generate", "the prompt is empty");
    if (!have_seed) sp.seed = cli_clock_seed();

    int rc = CLI_EXIT_RUNTIME;
    char *text = NULL;
    size_t text_len = prompt ? strlen(prompt) : 0;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    rwkv_model *model = NULL;
    rwkv_tokenizer *tok = NULL;
    rwkv_state *state = NULL;
    rwkv_sampler *sampler = NULL;
    float *logits = NULL;
    cli_buf gen = {NULL, 0, 0};
    cli_grammar grammar = {0};
    rwkv_status st;
    if (prompt_file) {
        if (cli_read_file("prompt file", prompt_file, &text, &text_len)) goto done;
        if (text_len == 0) {
            cli_error("prompt file '%.300s' is empty", prompt_file);
            goto done;
        }
    }
    if (cli_load_model(model_path, n_threads, &model)) goto done;
    rwkv_model_info info;
    rwkv_model_get_info(model, &info);
    if (cli_load_tokenizer(model_path, vocab_path, info.n_vocab, &tok)) goto done;
    if ((rc = cli_grammar_open(&grammar, "generate", grammar_path, json_schema, tok)) != CLI_EXIT_OK)
        goto done;
    rc = CLI_EXIT_RUNTIME;
    if (cli_encode(tok, text ? text : prompt, text_len, &ids, &n_ids)) goto done;
    if (n_ids == 0) {
        cli_error("the prompt encodes to no tokens");
        goto done;
    }
    if ((st = rwkv_sampler_new(&sp, info.n_vocab, tok, &sampler)) != RWKV_OK) {
        sampler = NULL;
        cli_lib_error(st, "invalid sampling parameters");
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if (cli_new_state(model, state_path, &state)) goto done;
    logits = malloc((size_t)info.n_vocab * sizeof *logits);
    if (!logits) {
        cli_error("out of memory");
        goto done;
    }

    double t0 = cli_now();
    if ((st = rwkv_eval(model, state, ids, n_ids, logits, 0)) != RWKV_OK) {
        cli_lib_error(st, "evaluation of the prompt failed");
        goto done;
    }
    double t1 = cli_now();

    /* gen holds all generated bytes; gen.data[0..emitted) has been written. Output is held back
     * while it could be the start of a stop string or ends inside a UTF-8 character. */
    size_t emitted = 0;
    int n_done = 0, stopped = 0;
    while (n_done < n_gen) {
        int32_t t;
        if (cli_grammar_sample(&grammar, sampler, logits, info.n_vocab, &t)) goto done;
        if (t <= 0 || t >= info.n_vocab) break; /* 0 = end of text; -1: the grammar is complete */
        n_done++;
        size_t tlen = 0;
        const char *tb = rwkv_tokenizer_token(tok, t, &tlen);
        if (tb && tlen && cli_buf_add(&gen, tb, tlen)) {
            cli_error("out of memory");
            goto done;
        }
        size_t hit = stops.n && gen.len > emitted ? find_stop(&stops, gen.data, emitted, gen.len) : (size_t)-1;
        if (hit != (size_t)-1) {
            if (cli_write_stdout(gen.data + emitted, hit - emitted)) goto done;
            emitted = gen.len;
            stopped = 1;
            break;
        }
        size_t limit = gen.len - stop_holdback(&stops, gen.data, gen.len);
        if (limit > emitted) {
            size_t n = rwkv_utf8_complete_prefix(gen.data + emitted, limit - emitted);
            if (n && cli_write_stdout(gen.data + emitted, n)) goto done;
            emitted += n;
        }
        int last = n_done == n_gen || cli_grammar_must_end(&grammar);
        if (last && !state_out) break; /* the last token need not be fed */
        if ((st = rwkv_eval(model, state, &t, 1, logits, 0)) != RWKV_OK) {
            cli_lib_error(st, "evaluation failed");
            goto done;
        }
        if (last) break;
    }
    if (!stopped && emitted < gen.len && cli_write_stdout(gen.data + emitted, gen.len - emitted))
        goto done;
    double t2 = cli_now();
    /* --state-out: the state as fed (prompt + generated tokens), without optional blocks. */
    if (state_out && (st = rwkv_state_save(state, NULL, state_out)) != RWKV_OK) {
        cli_lib_error(st, "cannot save the state to '%.300s'", state_out);
        goto done;
    }
    if (!quiet) {
        double pre = t1 - t0, dec = t2 - t1;
        fprintf(stderr,
                "rwkv: %zu prompt tokens, %d generated tokens, prefill %.1f tok/s, decode %.1f tok/s\n",
                n_ids, n_done, pre > 0 ? (double)n_ids / pre : 0.0,
                dec > 0 ? (double)n_done / dec : 0.0);
    }
    rc = CLI_EXIT_OK;
done:
    cli_grammar_close(&grammar);
    cli_buf_free(&gen);
    free(logits);
    rwkv_sampler_free(sampler);
    rwkv_state_free(state);
    rwkv_tokenizer_free(tok);
    rwkv_model_free(model);
    free(ids);
    free(text);
    return rc;
}
