/* cli_grammar.c — the --grammar / --json-schema options of generate and chat. */
#include "cli/cli_grammar.h"
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

int cli_grammar_open(cli_grammar *cg, const char *cmd, const char *gbnf_path, const char *schema,
                     const rwkv_tokenizer *tok) {
    memset(cg, 0, sizeof *cg);
    if (!gbnf_path && !schema) return CLI_EXIT_OK;
    if (gbnf_path && schema) return cli_usage_error(cmd, "give at most one of --grammar, --json-schema");
    char *text = NULL;
    size_t len = 0;
    rwkv_status st;
    if (gbnf_path) {
        if (cli_read_file("grammar file", gbnf_path, &text, &len)) return CLI_EXIT_RUNTIME;
        st = rwkv_grammar_parse(text, len, &cg->g);
        if (st != RWKV_OK) cli_lib_error(st, "--grammar '%.300s'", gbnf_path);
    } else {
        const char *p = schema;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (*p != '{' && cli_read_file("JSON schema file", schema, &text, &len)) return CLI_EXIT_RUNTIME;
        st = rwkv_grammar_from_json_schema(text ? text : schema, text ? len : strlen(schema), 0, &cg->g);
        if (st != RWKV_OK) {
            if (text) cli_lib_error(st, "--json-schema '%.300s'", schema);
            else cli_lib_error(st, "--json-schema");
        }
    }
    free(text);
    if (st != RWKV_OK) return CLI_EXIT_USAGE;
    /* token 0 ends the text for every RWKV model (World and byte vocabularies) */
    if ((st = rwkv_token_trie_new(tok, 0, &cg->trie)) != RWKV_OK ||
        (st = rwkv_grammar_matcher_new(cg->g, cg->trie, &cg->m)) != RWKV_OK) {
        cli_lib_error(st, "cannot start the grammar");
        cli_grammar_close(cg);
        return CLI_EXIT_RUNTIME;
    }
    return CLI_EXIT_OK;
}

void cli_grammar_close(cli_grammar *cg) {
    rwkv_grammar_matcher_free(cg->m);
    rwkv_token_trie_free(cg->trie);
    rwkv_grammar_free(cg->g);
    memset(cg, 0, sizeof *cg);
}

void cli_grammar_reset(cli_grammar *cg) { rwkv_grammar_matcher_reset(cg->m); }

int cli_grammar_sample(cli_grammar *cg, rwkv_sampler *s, float *logits, int n_vocab, int32_t *token) {
    if (!cg->m) {
        *token = rwkv_sampler_sample(s, logits);
        return 0;
    }
    rwkv_status st = rwkv_grammar_sample(cg->m, s, logits, n_vocab, token);
    if (st != RWKV_OK) {
        cli_lib_error(st, "generation stopped");
        return -1;
    }
    return 0;
}

int cli_grammar_must_end(const cli_grammar *cg) {
    return cg->m && rwkv_grammar_matcher_end(cg->m) == RWKV_GRAMMAR_MUST_END;
}
