/* fuzz_vocab.c — libFuzzer target: the input is a vocabulary file. A vocabulary that loads is
 * used to encode a few fixed strings and the input itself, and every encoding is decoded back
 * and compared with its text. */
#include "rwkv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Encodes len bytes at text; when every byte has a token, checks the round trip (traps on a
 * mismatch so that libFuzzer reports it). */
static void round_trip(const rwkv_tokenizer *tok, const char *text, size_t len) {
    int32_t *ids = malloc((len ? len : 1) * sizeof *ids);
    char *back = malloc(len ? len : 1);
    size_t n = 0, nb = 0;
    if (ids && back && rwkv_tokenizer_encode(tok, text, len, ids, &n) == RWKV_OK) {
        if (n > len) __builtin_trap();
        if (rwkv_tokenizer_decode(tok, ids, n, back, len, &nb) != RWKV_OK || nb != len ||
            (len && memcmp(back, text, len) != 0))
            __builtin_trap();
    }
    size_t u = rwkv_utf8_complete_prefix(text, len);
    if (u > len || (len && u + 3 < len)) __builtin_trap();
    free(ids);
    free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rwkv_tokenizer *tok = NULL;
    if (rwkv_tokenizer_load_mem((const char *)data, size, &tok) != RWKV_OK) {
        if (tok) __builtin_trap(); /* a failed load leaves *out NULL */
        return 0;
    }
    static const char *const samples[] = {"", "a", "hello world", "\n\n", "\xe4\xb8\xad\xe6\x96\x87",
                                          "\x80\xff\x00 12 34"};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
        round_trip(tok, samples[i], i == 5 ? 9 : strlen(samples[i]));
    round_trip(tok, (const char *)data, size);
    for (int32_t id = -1; id <= 300; id++) {
        size_t len;
        const char *p = rwkv_tokenizer_token(tok, id, &len);
        if ((p == NULL) != (len == 0)) __builtin_trap();
    }
    rwkv_tokenizer_free(tok);
    return 0;
}
