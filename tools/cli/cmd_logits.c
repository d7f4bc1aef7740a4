/* cmd_logits.c — `rwkv logits`: the float32 logits after a prompt, written to a file. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char logits_usage[] =
    "usage: rwkv logits -m MODEL (-p TEXT | --prompt-file FILE | --tokens 1,2,3) -o OUT [options]\n"
    "Feeds the prompt from a zero state (or --state) and writes little-endian float32 logits:\n"
    "n_vocab floats after the last token, or [n_tokens][n_vocab] with --all.\n"
    "  -m, --model FILE       model file (.pth, rwkv.cpp .bin or .gguf)\n"
    "  -p, --prompt TEXT      prompt text (encoded with the model's tokenizer)\n"
    "  -f, --prompt-file FILE prompt bytes from a file (binary-safe; '-' = stdin)\n"
    "      --tokens IDS       token ids, separated by a comma and/or whitespace\n"
    "  -o, --output FILE      output file ('-' = stdout); written atomically, replacing an\n"
    "                         existing file, but never one of the inputs\n"
    "      --all              logits after every token\n"
    "      --serial           feed one token at a time instead of sequence mode\n"
    "      --state FILE       start from a state file or a state-tuning file (.pth)\n"
    "      --vocab FILE       World vocabulary (default: the GGUF's own, $RWKV_VOCAB, or\n"
    "                         rwkv_vocab_v20230424.txt next to the model)\n"
    CLI_MODEL_HELP;

/* Converts n floats to little-endian in place (a no-op on little-endian hosts). */
static void to_little_endian(float *f, size_t n) {
    const uint32_t one = 1;
    if (*(const unsigned char *)&one == 1) return;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &f[i], 4);
        u = (u >> 24) | ((u >> 8) & 0xff00u) | ((u << 8) & 0xff0000u) | (u << 24);
        memcpy(&f[i], &u, 4);
    }
}

int cmd_logits(int argc, char **argv) {
    enum { OPT_MODEL = 1, OPT_PROMPT, OPT_PROMPT_FILE, OPT_TOKENS, OPT_OUT, OPT_ALL, OPT_SERIAL,
           OPT_STATE, OPT_VOCAB };
    static const cli_option opts[] = {
        {OPT_MODEL, "model", 'm', 1},
        {OPT_PROMPT, "prompt", 'p', 1},
        {OPT_PROMPT_FILE, "prompt-file", 'f', 1},
        {OPT_TOKENS, "tokens", 0, 1},
        {OPT_OUT, "output", 'o', 1},
        {OPT_ALL, "all", 0, 0},
        {OPT_SERIAL, "serial", 0, 0},
        {OPT_STATE, "state", 0, 1},
        {OPT_VOCAB, "vocab", 0, 1},
        CLI_MODEL_OPTIONS,
        {0, NULL, 0, 0},
    };
    const char *model_path = NULL, *prompt = NULL, *prompt_file = NULL, *tokens_arg = NULL;
    const char *out_path = NULL, *state_path = NULL, *vocab_path = NULL;
    unsigned flags = 0;
    cli_model_opts mo = {0};
    cli_parser p;
    cli_parser_init(&p, "logits", argc, argv);
    const char *v;
    for (int id; (id = cli_next(&p, opts, &v)) != CLI_END;) {
        switch (id) {
        case CLI_HELP: fputs(logits_usage, stdout); return CLI_EXIT_OK;
        case CLI_BAD: return CLI_EXIT_USAGE;
        case CLI_POSITIONAL: return cli_usage_error("logits", "unexpected argument '%.100s'", v);
        case OPT_MODEL: model_path = v; break;
        case OPT_PROMPT: prompt = v; break;
        case OPT_PROMPT_FILE: prompt_file = v; break;
        case OPT_TOKENS: tokens_arg = v; break;
        case OPT_OUT: out_path = v; break;
        case OPT_ALL: flags |= RWKV_EVAL_ALL_LOGITS; break;
        case OPT_SERIAL: flags |= RWKV_EVAL_SERIAL; break;
        case OPT_STATE: state_path = v; break;
        case OPT_VOCAB: vocab_path = v; break;
        case CLI_OPT_THREADS: case CLI_OPT_DEVICE: case CLI_OPT_PREFILL_BF16:
            if (cli_parse_model_option(id, v, &mo)) return CLI_EXIT_USAGE;
            break;
        }
    }
    if (!model_path) return cli_usage_error("logits", "missing -m MODEL");
    if (!prompt + !prompt_file + !tokens_arg != 2)
        return cli_usage_error("logits", "give exactly one of -p TEXT, --prompt-file FILE, --tokens IDS");
    if (!out_path) return cli_usage_error("logits", "missing -o OUT");
    if (!*out_path) return cli_usage_error("logits", "-o: the output file name is empty");
    if (strcmp(out_path, "-")) {
        const char *inputs[4] = {model_path, prompt_file, state_path, vocab_path};
        int bad = cli_check_output("logits", out_path, NULL, inputs, 4, 1);
        if (bad) return bad;
    }
    if (prompt && !*prompt) return cli_usage_error("logits", "the prompt is empty");

    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (tokens_arg) {
        if (cli_parse_ids("--tokens", tokens_arg, &ids, &n_ids)) return CLI_EXIT_USAGE;
        if (n_ids == 0) return cli_usage_error("logits", "--tokens: no token ids given");
    }

    int rc = CLI_EXIT_RUNTIME;
    char *text = NULL;
    size_t text_len = 0;
    rwkv_model *model = NULL;
    rwkv_tokenizer *tok = NULL;
    rwkv_state *state = NULL;
    float *logits = NULL;
    if (prompt_file) {
        if (cli_read_file("prompt file", prompt_file, &text, &text_len)) goto done;
        if (text_len == 0) {
            cli_error("prompt file '%.300s' is empty", prompt_file);
            goto done;
        }
    } else if (prompt) {
        text_len = strlen(prompt);
    }

    if (cli_load_model(model_path, &mo, &model)) goto done;
    rwkv_model_info info;
    rwkv_model_get_info(model, &info);
    if (ids) {
        for (size_t i = 0; i < n_ids; i++)
            if (ids[i] >= info.n_vocab) {
                cli_error("--tokens: token id %d is out of range (the model has %d tokens)",
                          (int)ids[i], info.n_vocab);
                goto done;
            }
    } else {
        if (cli_load_tokenizer(model_path, vocab_path, info.n_vocab, &tok)) goto done;
        if (cli_encode(tok, text ? text : prompt, text_len, &ids, &n_ids)) goto done;
        if (n_ids == 0) {
            cli_error("the prompt encodes to no tokens");
            goto done;
        }
    }
    if (cli_new_state(model, state_path, &state)) goto done;

    size_t rows = (flags & RWKV_EVAL_ALL_LOGITS) ? n_ids : 1;
    if (rows > SIZE_MAX / sizeof(float) / (size_t)info.n_vocab) {
        cli_error("the prompt is too long for --all (%zu tokens)", n_ids);
        goto done;
    }
    size_t n_floats = rows * (size_t)info.n_vocab;
    logits = malloc(n_floats * sizeof *logits);
    if (!logits) {
        cli_error("out of memory for %zu logits", n_floats);
        goto done;
    }
    rwkv_status st = rwkv_eval(model, state, ids, n_ids, logits, flags);
    if (st != RWKV_OK) {
        cli_lib_error(st, "evaluation failed");
        goto done;
    }
    to_little_endian(logits, n_floats);
    if (cli_write_file_atomic(out_path, logits, n_floats * sizeof *logits)) goto done;
    rc = CLI_EXIT_OK;
done:
    free(logits);
    rwkv_state_free(state);
    rwkv_tokenizer_free(tok);
    rwkv_model_free(model);
    free(text);
    free(ids);
    return rc;
}
