/* fuzz_json_schema.c — libFuzzer target: the input is a JSON Schema. A schema that converts must
 * give a grammar that compiles (or exceeds a size limit); its matcher then walks pseudo-random
 * paths of allowed bytes, and every complete text must be JSON that jansson parses (the
 * converter's grammars describe JSON only). */
#include "fuzz_grammar_common.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rwkv_token_trie *trie = byte_trie();
    unsigned flags = size && (data[0] & 1) ? RWKV_JSON_SCHEMA_COMPACT : 0;
    char *text = NULL;
    size_t len = 0;
    rwkv_status st = rwkv_json_schema_to_gbnf((const char *)data, size, flags, &text, &len);
    if (st != RWKV_OK) {
        if (text || !*rwkv_last_error()) __builtin_trap();
        return 0;
    }
    rwkv_grammar *g = NULL;
    st = rwkv_grammar_parse(text, len, &g);
    rwkv_grammar_text_free(text);
    if (st != RWKV_OK) {
        if (st != RWKV_ERR_RANGE && st != RWKV_ERR_NOMEM) __builtin_trap(); /* a converter bug */
        return 0;
    }
    rwkv_grammar_matcher *m = NULL;
    if (rwkv_grammar_matcher_new(g, trie, &m) != RWKV_OK) {
        rwkv_grammar_free(g);
        return 0;
    }
    uint32_t rng = 2166136261u;
    for (size_t i = 0; i < size; i++) rng = (rng ^ data[i]) * 16777619u;
    char out[512];
    for (int walk = 0; walk < 4; walk++) {
        rwkv_grammar_matcher_reset(m);
        size_t n = 0;
        int complete = 0;
        while (n < sizeof out) {
            uint32_t mask[8];
            int na = 0;
            if (rwkv_grammar_mask(m, mask, 8, &na) != RWKV_OK) break;
            rwkv_grammar_end e = rwkv_grammar_matcher_end(m);
            rng = rng * 1103515245u + 12345u;
            if (e == RWKV_GRAMMAR_MUST_END || (e == RWKV_GRAMMAR_MAY_END && (rng >> 16) % 4 == 0)) {
                complete = 1;
                break;
            }
            if (na == 0) __builtin_trap(); /* not complete, yet nothing allowed */
            /* prefer closing brackets and quotes so that walks finish */
            int pick = -1, k = (int)((rng >> 8) % (uint32_t)na);
            for (int b = 0; b < 256 && pick < 0; b++) {
                if (!(mask[b / 32] >> (b % 32) & 1)) continue;
                if ((rng >> 20) % 2 && (b == '}' || b == ']' || b == '"')) pick = b;
                else if (k-- == 0) pick = b;
            }
            if (pick < 0) break;
            out[n] = (char)pick;
            if (rwkv_grammar_accept_bytes(m, out + n, 1) != RWKV_OK) __builtin_trap();
            n++;
        }
        if (!complete) continue;
        json_error_t je;
        json_t *v = json_loadb(out, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!v) __builtin_trap(); /* the grammar accepted a text that is not JSON */
        json_decref(v);
    }
    rwkv_grammar_matcher_free(m);
    rwkv_grammar_free(g);
    return 0;
}
