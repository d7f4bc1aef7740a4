/* fuzz_grammar_common.h — shared by the grammar fuzz targets: the byte tokenizer's token trie
 * (token = byte, no end-of-text token), made once. */
#ifndef FUZZ_GRAMMAR_COMMON_H
#define FUZZ_GRAMMAR_COMMON_H

#include "rwkv.h"

static rwkv_token_trie *byte_trie(void) {
    static rwkv_token_trie *trie;
    if (!trie) {
        rwkv_tokenizer *bt = NULL;
        if (rwkv_tokenizer_new_bytes(&bt) != RWKV_OK || rwkv_token_trie_new(bt, -1, &trie) != RWKV_OK)
            __builtin_trap();
        rwkv_tokenizer_free(bt);
    }
    return trie;
}

#endif
