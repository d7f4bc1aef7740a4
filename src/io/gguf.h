/* gguf.h — GGUF v3 constants shared by the reader (gguf.c) and the writer (gguf_write.c).
 * See docs/FORMATS.md. */
#ifndef RWKV_GGUF_H
#define RWKV_GGUF_H

#include "base/internal.h"
#include "types/types.h"

enum {
    GGUF_T_U8 = 0, GGUF_T_I8 = 1, GGUF_T_U16 = 2, GGUF_T_I16 = 3, GGUF_T_U32 = 4, GGUF_T_I32 = 5,
    GGUF_T_F32 = 6, GGUF_T_BOOL = 7, GGUF_T_STR = 8, GGUF_T_ARR = 9, GGUF_T_U64 = 10,
    GGUF_T_I64 = 11, GGUF_T_F64 = 12
};

/* GGUF metadata kept with a tensor file opened from GGUF (rwkv_tensor_file.meta). Token bytes
 * point into the file, or into tok_buf where the file stores them escaped (llama.cpp's RWKV
 * World vocabulary: Python repr(bytes) text). */
typedef struct rwkv_gguf_meta {
    char arch[32];               /* general.architecture ("" if absent) */
    size_t n_tokens;             /* tokenizer.ggml.tokens, 0 if absent */
    const unsigned char **tok;   /* [n_tokens] token bytes (NULL for UNUSED/padding ids) */
    uint64_t *tok_len;           /* [n_tokens] (0 for UNUSED/padding ids) */
    int is_rwkv_vocab;           /* tokenizer.ggml.model == "rwkv" */
    unsigned char *tok_buf;      /* owned unescaped token bytes, or NULL */
} rwkv_gguf_meta;

/* Dequantizes n (a multiple of 256) values of ggml k-quant type id (10 q2_K .. 14 q6_K). */
void rwkv_gguf_dequant_k(uint32_t id, const void *src, float *dst, size_t n);

#endif
