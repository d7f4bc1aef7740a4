/* cmd_convert.c — `rwkv convert` and `rwkv quantize`: write a model as GGUF (rwkv_convert_file),
 * with a progress bar when stderr is a terminal and a summary of sizes and time. */
#include "cli.h"

#include <inttypes.h>
#include <unistd.h>

static const char convert_usage[] =
    "usage: rwkv convert IN OUT.gguf [--vocab FILE] [--type T] [--force]\n"
    "Writes IN (.pth, rwkv.cpp .bin or GGUF) as a GGUF file: RWKV-7 with llama.cpp's rwkv7 names,\n"
    "RWKV-4/5/6 in rwkv.c's own layout (official names; see docs/FORMATS.md), embedding the World\n"
    "vocabulary FILE if given.\n"
    "  -t, --type T       weight type as for 'rwkv quantize' (default: keep the input's)\n"
    "      --vocab FILE   World vocabulary to embed (its size must be the model's)\n"
    "      --force        replace OUT if it exists (never when it is IN)\n"
    "OUT must end in .gguf; it is written atomically (temporary file, then rename).\n";
static const char quantize_usage[] =
    "usage: rwkv quantize IN OUT.gguf --type T [--vocab FILE] [--force]\n"
    "Writes IN (RWKV-4..7, any supported format) as GGUF with its large matrices in type T (int8 =\n"
    "q8_0; the head at most q8_0; embedding f16; small tensors f32). See docs/FORMATS.md.\n"
    "  -t, --type T       f16, bf16, int8, nf4, q4_0, q4_1, q5_0, q5_1, q8_0\n"
    "      --vocab FILE   World vocabulary to embed (its size must be the model's)\n"
    "      --force        replace OUT if it exists (never when it is IN)\n"
    "OUT must end in .gguf; it is written atomically (temporary file, then rename).\n";

/* Redraws a one-line progress bar on stderr. */
static void progress_bar(uint64_t done, uint64_t total, void *user) {
    (void)user;
    int width = 40, fill = total ? (int)((double)done / (double)total * width) : width;
    char bar[41];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r[%s] %5.1f%%", bar, total ? 100.0 * (double)done / (double)total : 100.0);
    if (done >= total) fputc('\n', stderr);
}

static int run(const char *cmd, const char *usage, int argc, char **argv, int need_type) {
    enum { OPT_TYPE = 1, OPT_VOCAB, OPT_FORCE };
    static const cli_option opts[] = {{OPT_TYPE, "type", 't', 1}, {OPT_VOCAB, "vocab", 0, 1},
                                      {OPT_FORCE, "force", 0, 0}, {0, NULL, 0, 0}};
    const char *type = NULL, *vocab = NULL, *pos[2] = {NULL, NULL};
    int n_pos = 0, force = 0;
    cli_parser p;
    cli_parser_init(&p, cmd, argc, argv);
    const char *v;
    for (int id; (id = cli_next(&p, opts, &v)) != CLI_END;) {
        switch (id) {
        case CLI_HELP: fputs(usage, stdout); return CLI_EXIT_OK;
        case CLI_BAD: return CLI_EXIT_USAGE;
        case OPT_TYPE: type = v; break;
        case OPT_VOCAB: vocab = v; break;
        case OPT_FORCE: force = 1; break;
        case CLI_POSITIONAL:
            if (n_pos == 2) return cli_usage_error(cmd, "too many arguments (IN OUT expected)");
            pos[n_pos++] = v;
            break;
        }
    }
    if (n_pos != 2) return cli_usage_error(cmd, "IN and OUT files are required");
    if (need_type && !type) return cli_usage_error(cmd, "no --type given");
    if (cli_check_input("input", pos[0]) || (vocab && cli_check_input("vocabulary", vocab)))
        return CLI_EXIT_RUNTIME;
    const char *inputs[2] = {pos[0], vocab};
    int bad = cli_check_output(cmd, pos[1], ".gguf", inputs, 2, force);
    if (bad) return bad;
    double t0 = cli_now();
    rwkv_convert_stats s;
    rwkv_status st = rwkv_convert_file(pos[0], pos[1], type, vocab, isatty(2) ? progress_bar : NULL, NULL, &s);
    if (st == RWKV_ERR_INVALID_ARG) {
        cli_lib_error(st, "%s", cmd);
        return CLI_EXIT_USAGE;
    }
    if (st != RWKV_OK) {
        cli_lib_error(st, "cannot convert '%.300s' to '%.300s'", pos[0], pos[1]);
        return CLI_EXIT_RUNTIME;
    }
    fprintf(stderr,
            "rwkv: wrote %s: %d tensors (%d quantized%s%s), %" PRIu64 " -> %" PRIu64 " bytes (%.1f%%), "
            "vocabulary %s, %.2f s\n",
            pos[1], s.n_tensors, s.n_quantized, type ? ", type " : "", type ? type : "", s.in_bytes,
            s.out_bytes, s.in_bytes ? 100.0 * (double)s.out_bytes / (double)s.in_bytes : 0.0,
            s.n_vocab_embedded ? "embedded" : "not embedded", cli_now() - t0);
    return CLI_EXIT_OK;
}

int cmd_convert(int argc, char **argv) { return run("convert", convert_usage, argc, argv, 0); }
int cmd_quantize(int argc, char **argv) { return run("quantize", quantize_usage, argc, argv, 1); }
