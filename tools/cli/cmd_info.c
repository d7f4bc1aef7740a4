/* cmd_info.c — `rwkv info MODEL`: the model's hyperparameters as one line of JSON. */
#include "cli.h"

#include <inttypes.h>

static const char info_usage[] =
    "usage: rwkv info [-m] MODEL [--threads N]\n"
    "MODEL: a model file (.pth, rwkv.cpp .bin or .gguf). Prints one line of JSON: generation,\n"
    "n_layer, n_embd, head_size, n_head, n_vocab, n_ffn, params, weight_dtype, format,\n"
    "quant_products, prefill_products (how sequence mode multiplies fp16/bf16 weights), seq_chunk,\n"
    "state_bytes, file_bytes, decode_bytes, fingerprint (hex).\n";

int cmd_info(int argc, char **argv) {
    enum { OPT_MODEL = 1, OPT_THREADS };
    static const cli_option opts[] = {
        {OPT_MODEL, "model", 'm', 1},
        {OPT_THREADS, "threads", 't', 1},
        {0, NULL, 0, 0},
    };
    const char *model_path = NULL;
    int n_threads = 0;
    cli_parser p;
    cli_parser_init(&p, "info", argc, argv);
    const char *v;
    for (int id; (id = cli_next(&p, opts, &v)) != CLI_END;) {
        switch (id) {
        case CLI_HELP: fputs(info_usage, stdout); return CLI_EXIT_OK;
        case CLI_BAD: return CLI_EXIT_USAGE;
        case CLI_POSITIONAL:
        case OPT_MODEL:
            if (model_path) return cli_usage_error("info", "only one model may be given");
            model_path = v;
            break;
        case OPT_THREADS:
            if (cli_parse_int("--threads", v, 0, 4096, &n_threads)) return CLI_EXIT_USAGE;
            break;
        }
    }
    if (!model_path) return cli_usage_error("info", "no model file given");

    rwkv_model *model;
    if (cli_load_model(model_path, n_threads, &model)) return CLI_EXIT_RUNTIME;
    rwkv_model_info info;
    rwkv_model_get_info(model, &info);
    char fingerprint[17];
    snprintf(fingerprint, sizeof fingerprint, "%016" PRIx64, info.fingerprint);
    json_t *o = json_object();
    json_object_set_new(o, "generation", cli_json_str(info.generation));
    json_object_set_new(o, "n_layer", json_integer(info.n_layer));
    json_object_set_new(o, "n_embd", json_integer(info.n_embd));
    json_object_set_new(o, "head_size", json_integer(info.head_size));
    json_object_set_new(o, "n_head", json_integer(info.n_head));
    json_object_set_new(o, "n_vocab", json_integer(info.n_vocab));
    json_object_set_new(o, "n_ffn", json_integer(info.n_ffn));
    json_object_set_new(o, "params", json_integer((json_int_t)info.params));
    json_object_set_new(o, "weight_dtype", cli_json_str(info.weight_dtype));
    json_object_set_new(o, "format", cli_json_str(info.format));
    json_object_set_new(o, "quant_products", cli_json_str(info.quant_products));
    json_object_set_new(o, "prefill_products", cli_json_str(info.prefill_products));
    json_object_set_new(o, "seq_chunk", json_integer(info.seq_chunk));
    json_object_set_new(o, "state_bytes", json_integer((json_int_t)info.state_bytes));
    json_object_set_new(o, "file_bytes", json_integer((json_int_t)info.file_bytes));
    json_object_set_new(o, "decode_bytes", json_integer((json_int_t)info.decode_bytes));
    json_object_set_new(o, "fingerprint", cli_json_str(fingerprint));
    rwkv_model_free(model);
    return cli_print_json(o) ? CLI_EXIT_RUNTIME : CLI_EXIT_OK;
}
