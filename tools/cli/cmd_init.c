/* cmd_init.c — `rwkv init`: writes a random-weight RWKV-7 (or, with --arch 6, RWKV-6) model
 * (official .pth layout) of a released shape, for benchmarks and tests. */
#include "cli.h"

#include <inttypes.h>

static const char init_usage[] =
    "usage: rwkv init --shape 0.1b|0.4b|1.5b|2.9b|L<n>C<n> [--dtype fp16|bf16|fp32] [--seed S]\n"
    "                 [--vocab N] [--arch 7|6] [--force] OUT.pth\n"
    "Writes an RWKV-7 model with random weights (deterministic for a given seed) as an official\n"
    "PyTorch checkpoint. Shapes: 0.1b = L12 C768, 0.4b = L24 C1024, 1.5b = L24 C2048,\n"
    "2.9b = L32 C2560 (head size 64, vocabulary 65536 unless --vocab). Default dtype fp16, seed 0.\n"
    "--arch 6 writes an RWKV-6 \"Finch\" model of the shape instead (FFN 3.5C as the released\n"
    "Finch models, e.g. 7168 at C2048; token-shift LoRA 32, decay LoRA 64).\n"
    "OUT (or -o OUT) must end in .pth and must not exist unless --force is given.\n";

int cmd_init(int argc, char **argv) {
    enum { OPT_SHAPE = 1, OPT_DTYPE, OPT_SEED, OPT_VOCAB, OPT_OUT, OPT_ARCH, OPT_FORCE };
    static const cli_option opts[] = {
        {OPT_SHAPE, "shape", 's', 1}, {OPT_DTYPE, "dtype", 'd', 1}, {OPT_SEED, "seed", 0, 1},
        {OPT_VOCAB, "vocab", 0, 1},   {OPT_OUT, "output", 'o', 1},  {OPT_ARCH, "arch", 0, 1},
        {OPT_FORCE, "force", 0, 0},   {0, NULL, 0, 0},
    };
    const char *shape = NULL, *dtype = "fp16", *out = NULL;
    uint64_t seed = 0;
    int vocab = 0, arch = 7, force = 0;
    cli_parser p;
    cli_parser_init(&p, "init", argc, argv);
    const char *v;
    for (int id; (id = cli_next(&p, opts, &v)) != CLI_END;) {
        switch (id) {
        case CLI_HELP: fputs(init_usage, stdout); return CLI_EXIT_OK;
        case CLI_BAD: return CLI_EXIT_USAGE;
        case OPT_SHAPE: shape = v; break;
        case OPT_DTYPE: dtype = v; break;
        case OPT_SEED:
            if (cli_parse_u64("--seed", v, &seed)) return CLI_EXIT_USAGE;
            break;
        case OPT_VOCAB:
            if (cli_parse_int("--vocab", v, 1, 1 << 24, &vocab)) return CLI_EXIT_USAGE;
            break;
        case OPT_ARCH:
            if (cli_parse_int("--arch", v, 6, 7, &arch)) return CLI_EXIT_USAGE;
            break;
        case OPT_FORCE: force = 1; break;
        case CLI_POSITIONAL:
        case OPT_OUT:
            if (out) return cli_usage_error("init", "only one output file may be given");
            out = v;
            break;
        }
    }
    if (!shape) return cli_usage_error("init", "no --shape given");
    if (!out) return cli_usage_error("init", "no output file given");
    int bad = cli_check_output("init", out, ".pth", NULL, 0, force);
    if (bad) return bad;
    double t0 = cli_now();
    rwkv_status st = arch == 6 ? rwkv_model_init_random_v6(shape, dtype, seed, vocab, out)
                               : rwkv_model_init_random(shape, dtype, seed, vocab, out);
    if (st == RWKV_ERR_INVALID_ARG) {
        cli_lib_error(st, "init");
        return CLI_EXIT_USAGE;
    }
    if (st != RWKV_OK) {
        cli_lib_error(st, "cannot write '%.300s'", out);
        return CLI_EXIT_RUNTIME;
    }
    fprintf(stderr, "rwkv: wrote %s (RWKV-%d, shape %s, %s, seed %" PRIu64 ") in %.1f s\n", out, arch, shape,
            dtype, seed, cli_now() - t0);
    return CLI_EXIT_OK;
}
