/* fuzz_grammar.c — libFuzzer target: the input is a GBNF grammar. A grammar that compiles gets a
 * matcher on the byte tokenizer (token = byte, end of text = -1), which walks a pseudo-random
 * path of allowed bytes; at every step the mask must agree byte by byte with what accept
 * allows (traps otherwise), and nothing may be allowed only where the grammar may end. */
#include "fuzz_grammar_common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rwkv_token_trie *trie = byte_trie();
    rwkv_grammar *g = NULL;
    rwkv_status st = rwkv_grammar_parse((const char *)data, size, &g);
    if (st != RWKV_OK) {
        if (g || !*rwkv_last_error()) __builtin_trap(); /* failure: no grammar, a message */
        if (st != RWKV_ERR_FORMAT && st != RWKV_ERR_RANGE && st != RWKV_ERR_NOMEM) __builtin_trap();
        return 0;
    }
    rwkv_grammar_matcher *m = NULL;
    if (rwkv_grammar_matcher_new(g, trie, &m) != RWKV_OK) { /* only a limit may refuse the start */
        rwkv_grammar_free(g);
        return 0;
    }
    uint32_t rng = 2166136261u;
    for (size_t i = 0; i < size; i++) rng = (rng ^ data[i]) * 16777619u;
    for (int step = 0; step < 64; step++) {
        uint32_t mask[8];
        int n = 0;
        if (rwkv_grammar_mask(m, mask, 8, &n) != RWKV_OK) break; /* a limit or a dead end */
        int allowed[256], na = 0;
        for (int b = 0; b < 256; b++) {
            int bit = (int)(mask[b / 32] >> (b % 32) & 1);
            rwkv_grammar_matcher *c = NULL;
            if (rwkv_grammar_matcher_clone(m, &c) != RWKV_OK) __builtin_trap();
            char ch = (char)b;
            int ok = rwkv_grammar_accept_bytes(c, &ch, 1) == RWKV_OK;
            rwkv_grammar_matcher_free(c);
            if (ok != bit) __builtin_trap(); /* the mask and accept disagree */
            if (ok) allowed[na++] = b;
        }
        if (na != n) __builtin_trap();
        rwkv_grammar_end e = rwkv_grammar_matcher_end(m);
        if (na == 0 && e == RWKV_GRAMMAR_MORE) __builtin_trap(); /* dead ends are errors */
        if (na == 0) break;
        rng = rng * 1103515245u + 12345u;
        if (e == RWKV_GRAMMAR_MAY_END && (rng >> 16) % 8 == 0) break;
        char ch = (char)allowed[(rng >> 8) % (uint32_t)na];
        if (rwkv_grammar_accept_bytes(m, &ch, 1) != RWKV_OK) __builtin_trap();
    }
    rwkv_grammar_matcher_free(m);
    rwkv_grammar_free(g);
    return 0;
}
