/* cmd_info.c — `rwkv info MODEL`: the model's hyperparameters as one line of JSON. */
#include "cli.h"

#include <inttypes.h>

static const char info_usage[] =
    "usage: rwkv info [-m] MODEL [--threads N] [--device DEV] [--prefill-bf16]\n"
    "MODEL: a model file (.pth, rwkv.cpp .bin or .gguf). Prints one line of JSON: generation,\n"
    "n_layer, n_embd, head_size, n_head, n_vocab, n_ffn, params, weight_dtype, format,\n"
    "quant_products, prefill_products (how sequence mode multiplies fp16/bf16 weights), seq_chunk,\n"
    "state_bytes, file_bytes, decode_bytes, fingerprint (hex), backend, device.\n"
    CLI_MODEL_HELP;

int cmd_info(int argc, char **argv) {
    enum { OPT_MODEL = 1 };
    static const cli_option opts[] = {
        {OPT_MODEL, "model", 'm', 1},
        CLI_MODEL_OPTIONS,
        {0, NULL, 0, 0},
    };
    const char *model_path = NULL;
    cli_model_opts mo = {0};
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
        case CLI_OPT_THREADS: case CLI_OPT_DEVICE: case CLI_OPT_PREFILL_BF16:
            if (cli_parse_model_option(id, v, &mo)) return CLI_EXIT_USAGE;
            break;
        }
    }
    if (!model_path) return cli_usage_error("info", "no model file given");

    rwkv_model *model;
    if (cli_load_model(model_path, &mo, &model)) return CLI_EXIT_RUNTIME;
    rwkv_model_info info;
    rwkv_model_get_info(model, &info);
    char fingerprint[17];
    snprintf(fingerprint, sizeof fingerprint, "%016" PRIx64, info.fingerprint);
    json_t *o = json_pack("{s:o, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:o, s:o, s:o, s:o, s:i, s:I, s:I, s:I, s:s, s:o, s:o}",
                          "generation", cli_json_str(info.generation), "n_layer", info.n_layer, "n_embd",
                          info.n_embd, "head_size", info.head_size, "n_head", info.n_head, "n_vocab",
                          info.n_vocab, "n_ffn", info.n_ffn, "params", (json_int_t)info.params,
                          "weight_dtype", cli_json_str(info.weight_dtype), "format", cli_json_str(info.format),
                          "quant_products", cli_json_str(info.quant_products), "prefill_products",
                          cli_json_str(info.prefill_products), "seq_chunk", info.seq_chunk, "state_bytes",
                          (json_int_t)info.state_bytes, "file_bytes", (json_int_t)info.file_bytes,
                          "decode_bytes", (json_int_t)info.decode_bytes, "fingerprint", fingerprint, "backend",
                          cli_json_str(info.backend), "device", cli_json_str(info.device));
    rwkv_model_free(model);
    return cli_print_json(o) ? CLI_EXIT_RUNTIME : CLI_EXIT_OK;
}
