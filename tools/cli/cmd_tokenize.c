/* cmd_tokenize.c — `rwkv tokenize`: stdin text -> token ids, or ids -> bytes with --decode. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char tokenize_usage[] =
    "usage: rwkv tokenize [--vocab FILE | --bytes | -m MODEL] [--decode] [-p TEXT]\n"
    "Reads all of stdin (or -p TEXT) and prints its token ids on one line, separated by spaces.\n"
    "With --decode, reads ids separated by whitespace or commas and writes their raw bytes.\n"
    "  -m, --model FILE   the tokenizer of this model: a GGUF's embedded vocabulary, or as\n"
    "                     generate finds it (--vocab, $RWKV_VOCAB, next to the model, bytes)\n"
    "      --vocab FILE   World vocabulary (default: $RWKV_VOCAB)\n"
    "      --bytes        the byte tokenizer (id = byte value) of vocab-256 models\n"
    "  -d, --decode       ids -> bytes\n"
    "  -p, --text TEXT    input text instead of stdin\n";

/* Encodes text and prints the ids; returns the exit status. */
static int encode_text(const rwkv_tokenizer *tok, const char *text, size_t len) {
    int32_t *ids;
    size_t n;
    if (cli_encode(tok, text, len, &ids, &n)) return CLI_EXIT_RUNTIME;
    for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
    putchar('\n');
    free(ids);
    return cli_write_stdout(NULL, 0) ? CLI_EXIT_RUNTIME : CLI_EXIT_OK;
}

/* Parses ids from text, decodes them and writes the bytes; returns the exit status. */
static int decode_ids(const rwkv_tokenizer *tok, const char *text) {
    int32_t *ids;
    size_t n;
    if (cli_parse_ids("token ids", text, &ids, &n)) return CLI_EXIT_RUNTIME;
    int n_vocab = rwkv_tokenizer_n_vocab(tok);
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= n_vocab) {
            cli_error("token id %d is out of range (the vocabulary has %d tokens)", (int)ids[i],
                      n_vocab);
            free(ids);
            return CLI_EXIT_RUNTIME;
        }
    /* Ask for the size with a guess, then again with the exact size if the guess was short. */
    size_t cap = n * 8 + 16, need = 0;
    char *out = NULL;
    rwkv_status st;
    for (int attempt = 0;; attempt++) {
        char *nb = realloc(out, cap);
        if (!nb) {
            cli_error("out of memory decoding %zu bytes", cap);
            free(out);
            free(ids);
            return CLI_EXIT_RUNTIME;
        }
        out = nb;
        st = rwkv_tokenizer_decode(tok, ids, n, out, cap, &need);
        if (st == RWKV_ERR_INVALID_ARG && need > cap && attempt == 0) {
            cap = need;
            continue;
        }
        break;
    }
    free(ids);
    if (st != RWKV_OK) {
        cli_lib_error(st, "cannot decode the token ids");
        free(out);
        return CLI_EXIT_RUNTIME;
    }
    int r = cli_write_stdout(out, need);
    free(out);
    return r ? CLI_EXIT_RUNTIME : CLI_EXIT_OK;
}

int cmd_tokenize(int argc, char **argv) {
    enum { OPT_VOCAB = 1, OPT_BYTES, OPT_DECODE, OPT_TEXT, OPT_MODEL };
    static const cli_option opts[] = {
        {OPT_MODEL, "model", 'm', 1},
        {OPT_VOCAB, "vocab", 0, 1},
        {OPT_BYTES, "bytes", 0, 0},
        {OPT_DECODE, "decode", 'd', 0},
        {OPT_TEXT, "text", 'p', 1},
        {0, NULL, 0, 0},
    };
    const char *vocab_path = NULL, *text_arg = NULL, *model_path = NULL;
    int bytes = 0, decode = 0;
    cli_parser p;
    cli_parser_init(&p, "tokenize", argc, argv);
    const char *v;
    for (int id; (id = cli_next(&p, opts, &v)) != CLI_END;) {
        switch (id) {
        case CLI_HELP: fputs(tokenize_usage, stdout); return CLI_EXIT_OK;
        case CLI_BAD: return CLI_EXIT_USAGE;
        case CLI_POSITIONAL: return cli_usage_error("tokenize", "unexpected argument '%.100s'", v);
        case OPT_VOCAB: vocab_path = v; break;
        case OPT_BYTES: bytes = 1; break;
        case OPT_DECODE: decode = 1; break;
        case OPT_TEXT: text_arg = v; break;
        case OPT_MODEL: model_path = v; break;
        }
    }
    if (bytes && (vocab_path || model_path))
        return cli_usage_error("tokenize", "--bytes excludes --vocab and -m");
    if (!bytes && !vocab_path && !model_path) {
        const char *env = getenv("RWKV_VOCAB");
        if (!env || !*env)
            return cli_usage_error("tokenize", "no vocabulary: give --vocab FILE or --bytes, or set RWKV_VOCAB");
    }

    rwkv_tokenizer *tok = NULL;
    if (bytes) {
        rwkv_status st = rwkv_tokenizer_new_bytes(&tok);
        if (st != RWKV_OK) {
            cli_lib_error(st, "cannot create the byte tokenizer");
            return CLI_EXIT_RUNTIME;
        }
    } else if (model_path && !vocab_path) {
        /* a GGUF's own vocabulary needs no model load; otherwise the model tells its size */
        if (cli_check_input("model", model_path)) return CLI_EXIT_RUNTIME;
        if (rwkv_tokenizer_from_model_file(model_path, &tok) != RWKV_OK) {
            rwkv_model *model = NULL;
            const cli_model_opts one = {.n_threads = 1, .device = "cpu"};
            if (cli_load_model(model_path, &one, &model)) return CLI_EXIT_RUNTIME;
            rwkv_model_info info;
            rwkv_model_get_info(model, &info);
            rwkv_model_free(model);
            if (cli_load_tokenizer(model_path, NULL, info.n_vocab, &tok)) return CLI_EXIT_RUNTIME;
        }
    } else if (cli_load_tokenizer(model_path, vocab_path, 0, &tok)) {
        return CLI_EXIT_RUNTIME;
    }

    char *input = NULL;
    size_t len = 0;
    int rc;
    if (text_arg) {
        rc = decode ? decode_ids(tok, text_arg) : encode_text(tok, text_arg, strlen(text_arg));
    } else if (cli_read_stream("stdin", stdin, &input, &len)) {
        rc = CLI_EXIT_RUNTIME;
    } else if (decode) {
        if (strlen(input) != len) {
            cli_error("token ids: the input contains a NUL byte");
            rc = CLI_EXIT_RUNTIME;
        } else {
            rc = decode_ids(tok, input);
        }
    } else {
        rc = encode_text(tok, input, len);
    }
    free(input);
    rwkv_tokenizer_free(tok);
    return rc;
}
