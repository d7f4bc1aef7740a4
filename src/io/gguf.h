/* gguf.h — GGUF v3 constants shared by the reader (gguf.c) and the writer (gguf_write.c).
 * See docs/FORMATS.md. */
#ifndef RWKV_GGUF_H
#define RWKV_GGUF_H

#include "base/internal.h"

enum {
    GGUF_T_U8 = 0, GGUF_T_I8 = 1, GGUF_T_U16 = 2, GGUF_T_I16 = 3, GGUF_T_U32 = 4, GGUF_T_I32 = 5,
    GGUF_T_F32 = 6, GGUF_T_BOOL = 7, GGUF_T_STR = 8, GGUF_T_ARR = 9, GGUF_T_U64 = 10,
    GGUF_T_I64 = 11, GGUF_T_F64 = 12
};

/* ggml tensor type ids (ggml.h); NF4 is ours alone, far from ggml's range. */
enum {
    GGML_ID_F32 = 0, GGML_ID_F16 = 1, GGML_ID_Q4_0 = 2, GGML_ID_Q4_1 = 3, GGML_ID_Q5_0 = 6,
    GGML_ID_Q5_1 = 7, GGML_ID_Q8_0 = 8, GGML_ID_BF16 = 30, GGML_ID_RWKVC_NF4 = 1000
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

int rwkv_ggml_id_of(rwkv_dtype dt);
bool rwkv_dtype_of_ggml_id(uint32_t id, rwkv_dtype *dt);

#endif
