/* main.c — `rwkv <subcommand> ...`: dispatches to the cmd_*() functions of tools/cmd_*.c. */
#include "cli.h"

#include <string.h>

/* The subcommands. To add one, write `int cmd_NAME(int argc, char **argv)` in tools/cmd_NAME.c
 * and add one line here: X(NAME, "one-line description for --help"). */
#define RWKV_COMMANDS(X)                                                              \
    X(info, "print a model's hyperparameters as one line of JSON")                    \
    X(generate, "continue a prompt, streaming the text to stdout")                    \
    X(logits, "write the float32 logits after a prompt to a file")                    \
    X(tokenize, "encode stdin to token ids, or decode ids (--decode) to bytes")       \
    X(chat, "chat with a model, keeping one running state (G1 template, /save)")     \
    X(init, "write a random-weight RWKV-7 model of a released shape (benchmarks)")    \
    X(bench, "measure decode and prefill speed, memory and bandwidth of a model")     \
    X(convert, "write a model (.pth, rwkv.cpp .bin, GGUF) as GGUF with llama.cpp rwkv7 names")   \
    X(quantize, "write a model as GGUF with quantized weights (int8, nf4, q4_0, q5_1, ...)")     \
    X(eval, "perplexity of a text, LAMBADA accuracy and perplexity (docs/EVAL.md)")             \
    X(serve, "OpenAI-compatible HTTP server with streaming, batching and a chat page")           \
    X(devices, "list the devices models can run on (cpu, Vulkan GPUs) with memory and features")

#define DECLARE_COMMAND(name, desc) int cmd_##name(int argc, char **argv);
RWKV_COMMANDS(DECLARE_COMMAND)

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *description;
} command;

#define COMMAND_ENTRY(name, desc) {#name, cmd_##name, desc},
static const command commands[] = {RWKV_COMMANDS(COMMAND_ENTRY)};

/* Prints the program's usage and the list of subcommands to f. */
static void usage(FILE *f) {
    fprintf(f, "usage: rwkv <command> [options]   (rwkv <command> --help for its options)\n"
               "       rwkv --help | --version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].description);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        cli_error("no command given (see 'rwkv --help')");
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        if (argc > 2 && !strcmp(name, "help")) {
            for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (!strcmp(argv[2], commands[i].name)) {
                    char help_flag[] = "--help";
                    char *sub[] = {argv[2], help_flag, NULL};
                    return commands[i].run(2, sub);
                }
            cli_error("unknown command '%.100s' (see 'rwkv --help')", argv[2]);
            return CLI_EXIT_USAGE;
        }
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
        printf("rwkv %s\n", RWKV_VERSION_STRING);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(name, commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    cli_error("unknown command '%.100s' (see 'rwkv --help')", name);
    return CLI_EXIT_USAGE;
}
