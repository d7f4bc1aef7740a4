/* cmd_info.c — `rwkv info MODEL`: the model's hyperparameters as one line of JSON. */
#include "cli.h"

#include <inttypes.h>

static const char info_usage[] =
    "usage: rwkv info [-m] MODEL [--threads N]\n"
    "Prints one line of JSON: generation, n_layer, n_embd, head_size, n_head, n_vocab, n_ffn,\n"
    "params, weight_dtype, format, quant_products, prefill_products (how sequence mode multiplies\n"
    "fp16/bf16 weights), seq_chunk, backend and device (where it runs: RWKV_DEVICE=cpu|vulkan|vulkan:N),\n"
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
    fputs("{\"generation\":", stdout);
    cli_json_string(info.generation);
    printf(",\"n_layer\":%d,\"n_embd\":%d,\"head_size\":%d,\"n_head\":%d,\"n_vocab\":%d,"
           "\"n_ffn\":%d,\"params\":%" PRIu64 ",\"weight_dtype\":",
           info.n_layer, info.n_embd, info.head_size, info.n_head, info.n_vocab, info.n_ffn,
           info.params);
    cli_json_string(info.weight_dtype);
    fputs(",\"format\":", stdout);
    cli_json_string(info.format);
    fputs(",\"quant_products\":", stdout);
    cli_json_string(info.quant_products);
    fputs(",\"prefill_products\":", stdout);
    cli_json_string(info.prefill_products);
    printf(",\"seq_chunk\":%d,\"backend\":", info.seq_chunk);
    cli_json_string(info.backend);
    fputs(",\"device\":", stdout);
    cli_json_string(info.device);
    printf(",\"state_bytes\":%zu,\"file_bytes\":%" PRIu64 ",\"decode_bytes\":%" PRIu64
           ",\"fingerprint\":\"%016" PRIx64 "\"}\n",
           info.state_bytes, info.file_bytes, info.decode_bytes, info.fingerprint);
    rwkv_model_free(model);
    return cli_write_stdout(NULL, 0) ? CLI_EXIT_RUNTIME : CLI_EXIT_OK;
}
