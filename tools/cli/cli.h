/* cli.h — helpers shared by the subcommands of the `rwkv` program (tools/cmd_*.c).
 *
 * Conventions: every subcommand is `int cmd_NAME(int argc, char **argv)` with argv[0] the
 * subcommand's name; it returns the process exit status: 0 success, CLI_EXIT_RUNTIME (1) for a
 * failure while running, CLI_EXIT_USAGE (2) for a bad command line. Every error is reported as
 * exactly one line on stderr starting with "rwkv: error: ". The tools use only the public API. */
#ifndef RWKV_CLI_H
#define RWKV_CLI_H

#include "rwkv.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

/* 130 = 128 + SIGINT, as a shell reports a program stopped by Ctrl-C. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_RUNTIME = 1, CLI_EXIT_USAGE = 2, CLI_EXIT_INTERRUPTED = 130 };

/* ---- errors ------------------------------------------------------------------------------ */

/* Prints "rwkv: error: <message>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "rwkv: error: <message>: <status name>: <rwkv_last_error()>" to stderr (the library's
 * reason is omitted when empty). */
void cli_lib_error(rwkv_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "rwkv: error: <cmd>: <message> (see 'rwkv <cmd> --help')" and returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* While b is not NULL, every error message printed by the functions above is also appended to b
 * (without the "rwkv: error: " prefix; several are separated by "\n"). The caller owns b. */
struct cli_buf;
void cli_error_capture(struct cli_buf *b);

/* ---- option parsing ---------------------------------------------------------------------- */

/* One option of a subcommand. long_name without the dashes ("top-p"); short_name 0 if none. */
typedef struct cli_option {
    int id;             /* > 0, returned by cli_next when the option is seen */
    const char *long_name;
    char short_name;
    int has_value;      /* 1: takes a value (--opt V, --opt=V, -o V, -oV); 0: a flag */
} cli_option;

enum {
    CLI_END = 0,         /* no more arguments */
    CLI_POSITIONAL = -1, /* *value is a positional argument */
    CLI_HELP = -2,       /* -h / --help was given */
    CLI_BAD = -3         /* an error was printed (unknown option, missing value) */
};

/* Walks argv from index 1. No global state: everything lives in the parser. */
typedef struct cli_parser {
    int argc;
    char **argv;
    int index;          /* next argv element to look at */
    int only_positional;/* set after "--" */
    const char *cmd;    /* subcommand name, for messages */
} cli_parser;

void cli_parser_init(cli_parser *p, const char *cmd, int argc, char **argv);

/* Returns the next option's id (with *value its value, or NULL for a flag), or one of CLI_END,
 * CLI_POSITIONAL, CLI_HELP, CLI_BAD. opts ends with an entry whose id is 0. */
int cli_next(cli_parser *p, const cli_option *opts, const char **value);

/* ---- strict number parsing ------------------------------------------------------------------
 * The whole string must be a number in [min, max] (no trailing junk, no empty string, no
 * overflow, no NaN/inf). On failure an error naming the option is printed and -1 returned;
 * 0 on success. */
int cli_parse_int(const char *opt, const char *s, long long min, long long max, int *out);
int cli_parse_i64(const char *opt, const char *s, long long min, long long max, long long *out);
int cli_parse_u64(const char *opt, const char *s, uint64_t *out);
int cli_parse_float(const char *opt, const char *s, double min, double max, float *out);

/* The sampling options of generate and chat: ids CLI_OPT_TEMP.. (above any subcommand's own),
 * their table rows (CLI_SAMPLING_OPTIONS, for a cli_option array) and their parser. */
enum { CLI_OPT_TEMP = 1000, CLI_OPT_TOP_P, CLI_OPT_TOP_K, CLI_OPT_PRESENCE, CLI_OPT_FREQUENCY,
       CLI_OPT_DECAY, CLI_OPT_SEED };
#define CLI_SAMPLING_OPTIONS                                                                        \
    {CLI_OPT_TEMP, "temperature", 0, 1}, {CLI_OPT_TOP_P, "top-p", 0, 1}, {CLI_OPT_TOP_K, "top-k", 0, 1}, \
        {CLI_OPT_PRESENCE, "presence-penalty", 0, 1}, {CLI_OPT_FREQUENCY, "frequency-penalty", 0, 1},    \
        {CLI_OPT_DECAY, "penalty-decay", 0, 1}, {CLI_OPT_SEED, "seed", 0, 1}
/* Stores the value v of sampling option id into sp (--seed also sets *have_seed = 1). Returns 0,
 * or -1 after printing an error for a bad value. id must be one of CLI_OPT_TEMP..CLI_OPT_SEED. */
int cli_parse_sampling(int id, const char *v, rwkv_sampler_params *sp, int *have_seed);

/* Parses a list of token ids separated by whitespace and/or one comma ("1,2, 3 4"; "1,,2", a
 * leading or a trailing comma are errors). Every id must be in [0, INT32_MAX). On success *ids is malloc'd (NULL when *n is 0) and 0 returned; otherwise an
 * error naming opt is printed and -1 returned. */
int cli_parse_ids(const char *opt, const char *s, int32_t **ids, size_t *n);

/* ---- files --------------------------------------------------------------------------------- */

/* Reads a whole file (binary-safe) into a malloc'd buffer (NUL-appended, not counted in *len);
 * path "-" reads stdin. Prints an error naming what ("prompt file") and returns -1 on failure. */
int cli_read_file(const char *what, const char *path, char **data, size_t *len);

/* Reads a whole stream, like cli_read_file. */
int cli_read_stream(const char *what, FILE *f, char **data, size_t *len);

/* Writes len bytes to path atomically (a temporary file in the same directory, then rename);
 * path "-" writes to stdout. Prints an error and returns -1 on failure (no partial file left). */
int cli_write_file_atomic(const char *path, const void *data, size_t len);

/* 1 when paths a and b name the same existing file (same device and inode: hard links and
 * symbolic links count), else 0. */
int cli_same_file(const char *a, const char *b);

/* Checks output file out of command cmd before anything is written: its name must end in ext
 * (case-insensitive; NULL = any name), it must not be a directory nor the same file as any of
 * the n_inputs inputs (NULL entries skipped), and unless replace it must not exist yet (the
 * message suggests --force). Returns 0, or the exit status after printing an error. */
int cli_check_output(const char *cmd, const char *out, const char *ext, const char *const *inputs,
                     size_t n_inputs, int replace);

/* Checks that input file path (described as what, e.g. "model") exists and is not a directory.
 * Returns 0, or -1 after printing an error. */
int cli_check_input(const char *what, const char *path);

/* fwrite + fflush to stdout; prints an error and returns -1 on failure. */
int cli_write_stdout(const void *data, size_t len);

/* ---- model and vocabulary ------------------------------------------------------------------ */

/* The options of every command that loads a model: ids above any command's own, their table rows
 * (CLI_MODEL_OPTIONS, for a cli_option array), their help lines and their parser. */
enum { CLI_OPT_THREADS = 1100, CLI_OPT_DEVICE, CLI_OPT_PREFILL_BF16 };
#define CLI_MODEL_OPTIONS                                                                           \
    {CLI_OPT_THREADS, "threads", 't', 1}, {CLI_OPT_DEVICE, "device", 0, 1},                         \
        {CLI_OPT_PREFILL_BF16, "prefill-bf16", 0, 0}
#define CLI_MODEL_HELP                                                                              \
    "  -t, --threads N             worker threads (0 = physical cores)\n"                          \
    "      --device DEV            where the model runs: cpu (default), vulkan, vulkan:N (see\n"    \
    "                              'rwkv devices'; also $RWKV_DEVICE)\n"                          \
    "      --prefill-bf16          prompt products of fp16/bf16 weights in bfloat16: faster,\n"    \
    "                              ~0.03 logit change (also $RWKV_PREFILL_BF16=1)\n"
typedef struct cli_model_opts {
    int n_threads;       /* 0 = physical cores */
    const char *device;  /* NULL: $RWKV_DEVICE or the CPU */
    int prefill_bf16;    /* 1: --prefill-bf16 */
} cli_model_opts;
/* Stores the value v of model option id (one of CLI_OPT_THREADS..CLI_OPT_PREFILL_BF16) in o.
 * Returns 0, or -1 after printing an error for a bad value. */
int cli_parse_model_option(int id, const char *v, cli_model_opts *o);


/* Loads the model at path with n_threads workers (0 = default). Prints an error and returns -1 on
 * failure (missing file, directory, corrupt ...). */
int cli_load_model(const char *path, const struct cli_model_opts *o, rwkv_model **out);
/* The model parameters from the environment, then the options o (may be NULL) — the one place the
 * CLI reads these variables: RWKV_FORCE_SCALAR=1 (scalar kernels), RWKV_QUANT_DOT=auto|exact|int8,
 * RWKV_PREFILL_BF16=1, RWKV_AMX=0 (no AMX tiles), RWKV_DEVICE=cpu|vulkan|vulkan:N. A malformed
 * value prints an error and returns -1. */
int cli_model_params(const struct cli_model_opts *o, rwkv_model_params *mp);
int cli_load_model_params(const char *path, const rwkv_model_params *mp, rwkv_model **out);

/* The tokenizer for a model with n_vocab tokens: vocab_opt if given, else $RWKV_VOCAB, else
 * rwkv_vocab_v20230424.txt in model_path's directory; a model with 256 tokens and no explicit
 * vocabulary gets the byte tokenizer. Prints an error and returns -1 on failure. */
int cli_load_tokenizer(const char *model_path, const char *vocab_opt, int n_vocab,
                       rwkv_tokenizer **out);

/* Encodes len bytes of text with tok into a malloc'd id array (*ids, *n). Prints an error and
 * returns -1 on failure. */
int cli_encode(const rwkv_tokenizer *tok, const char *text, size_t len, int32_t **ids, size_t *n);

/* Makes a fresh state for model; with state_path (may be NULL) loads that state-tuning file into
 * it. Prints an error and returns -1 on failure. */
int cli_new_state(rwkv_model *model, const char *state_path, rwkv_state **out);

/* Seconds from a monotonic clock. */
double cli_now(void);

/* A sampler seed that differs between runs (clock and process id, bits spread). */
uint64_t cli_clock_seed(void);

/* ---- JSON (jansson) ------------------------------------------------------------------------ */

/* A JSON string of n bytes of s (NULL with n 0 = ""): invalid UTF-8 and NUL bytes become
 * U+FFFD, since JSON text is UTF-8. NULL when out of memory (json_object_set_new then fails). */
json_t *cli_json_text(const char *s, size_t n);

/* cli_json_text of a NUL-terminated string (NULL = ""). */
json_t *cli_json_str(const char *s);

/* A JSON number, or null when v is not finite (JSON has no NaN or infinity). */
json_t *cli_json_number(double v);

/* Prints o as one line of compact JSON (numbers with 10 significant digits) on stdout and releases it (o may be NULL: an allocation
 * failed). Returns 0, or -1 after printing an error. */
int cli_print_json(json_t *o);

/* ---- byte buffer ------------------------------------------------------------------------- */

/* A growing byte buffer, always NUL-terminated once data != NULL. {NULL, 0, 0} is empty. */
typedef struct cli_buf {
    char *data;
    size_t len, cap;
} cli_buf;

/* Appends n bytes of s (allocating even when n == 0); -1 when out of memory (the buffer is then
 * unchanged). */
int cli_buf_add(cli_buf *b, const void *s, size_t n);
/* Empties b, keeping its memory. */
void cli_buf_clear(cli_buf *b);
/* Frees b's memory and leaves it empty. */
void cli_buf_free(cli_buf *b);

#endif
