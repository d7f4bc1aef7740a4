/* cli_grammar.h — `--grammar FILE` and `--json-schema FILE|JSON` of generate and chat: the
 * grammar, its matcher and the sampling step that applies it (docs/GRAMMAR.md). */
#ifndef RWKV_CLI_GRAMMAR_H
#define RWKV_CLI_GRAMMAR_H

#include "rwkv.h"

#define CLI_GRAMMAR_USAGE                                                                          \
    "      --grammar FILE          constrain the output to a GBNF grammar (docs/GRAMMAR.md)\n"      \
    "      --json-schema S         constrain the output to JSON valid against a JSON Schema: S is\n" \
    "                              the schema itself (starting with '{') or a file\n"

/* No grammar: all fields NULL ({0}). */
typedef struct cli_grammar {
    rwkv_grammar *g;
    rwkv_token_trie *trie;
    rwkv_grammar_matcher *m;
} cli_grammar;

/* Compiles the grammar of --grammar (gbnf_path) or --json-schema (schema: JSON text when it
 * starts with '{' after spaces, else a file) for tok; with neither, leaves cg empty. Returns 0,
 * or an exit status after printing the error (CLI_EXIT_USAGE for a bad grammar or schema). */
int cli_grammar_open(cli_grammar *cg, const char *cmd, const char *gbnf_path, const char *schema,
                     const rwkv_tokenizer *tok);
void cli_grammar_close(cli_grammar *cg);

/* Back to the start of the grammar (a new reply). */
void cli_grammar_reset(cli_grammar *cg);

/* Samples the next token from logits[n_vocab]: through the grammar when there is one
 * (rwkv_grammar_sample), else rwkv_sampler_sample. *token <= 0 means the text ends (end of text,
 * or -1: the grammar is complete). Returns 0, or -1 after printing why generation must stop
 * (no token can continue the grammar, or a limit of the matcher). */
int cli_grammar_sample(cli_grammar *cg, rwkv_sampler *s, float *logits, int n_vocab, int32_t *token);

/* 1 when the grammar is complete and nothing may follow (stop without sampling again). */
int cli_grammar_must_end(const cli_grammar *cg);

#endif
