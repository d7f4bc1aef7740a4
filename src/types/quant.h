/* quant.h — block-quantized weight types: ggml's Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (bit-exact
 * layouts, so files interchange with ggml/llama.cpp/rwkv.cpp) and our NF4.
 *
 * A quantized row of n elements (n a multiple of the block size) is n/QK blocks laid end to
 * end; a matrix is its rows one after the other. Scales are IEEE half floats, little-endian.
 *
 *   q8_0  32 values: fp16 d; int8 qs[32]                  x = qs[j]·d
 *   q4_0  32 values: fp16 d; u8 qs[16]                    x = (nib − 8)·d
 *   q4_1  32 values: fp16 d, m; u8 qs[16]                 x = nib·d + m
 *   q5_0  32 values: fp16 d; u8 qh[4]; u8 qs[16]          x = (nib | bit4 − 16)·d
 *   q5_1  32 values: fp16 d, m; u8 qh[4]; u8 qs[16]       x = (nib | bit4)·d + m
 *   nf4   64 values: fp16 d (absmax); u8 qs[32]           x = NF4[nib]·d
 * For the 4/5-bit types value j < QK/2 is the low nibble of qs[j] and value j + QK/2 its high
 * nibble; the fifth bit of value j is bit j of the little-endian 32-bit qh. */
#ifndef RWKV_QUANT_H
#define RWKV_QUANT_H

#include "base/internal.h"

#include <assert.h>

#define RWKV_QK 32     /* values per block of the ggml types */
#define RWKV_QK_NF4 64 /* values per NF4 block */

typedef struct { uint16_t d; int8_t qs[32]; } rwkv_block_q8_0;
typedef struct { uint16_t d; uint8_t qs[16]; } rwkv_block_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[16]; } rwkv_block_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } rwkv_block_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } rwkv_block_q5_1;
typedef struct { uint16_t d; uint8_t qs[32]; } rwkv_block_nf4;

static_assert(sizeof(rwkv_block_q8_0) == 34, "q8_0 block size");
static_assert(sizeof(rwkv_block_q4_0) == 18, "q4_0 block size");
static_assert(sizeof(rwkv_block_q4_1) == 20, "q4_1 block size");
static_assert(sizeof(rwkv_block_q5_0) == 22, "q5_0 block size");
static_assert(sizeof(rwkv_block_q5_1) == 24, "q5_1 block size");
static_assert(sizeof(rwkv_block_nf4) == 34, "nf4 block size");

/* The 16 NormalFloat-4 levels of QLoRA / bitsandbytes, ascending. */
extern const float rwkv_nf4_levels[16];

/* True for the block-quantized types. */
static inline bool rwkv_dtype_is_quant(rwkv_dtype dt) { return dt >= RWKV_DT_Q8_0 && dt < RWKV_DT_COUNT; }

/* Values per block (1 for the float types, 0 for an unknown type). */
size_t rwkv_dtype_block(rwkv_dtype dt);
/* Bytes per block (bytes per element for the float types). */
size_t rwkv_dtype_block_bytes(rwkv_dtype dt);

/* Quantizes one row of n floats (n a multiple of the block size) into dst. The ggml types follow
 * ggml's reference quantizers (quantize_row_*_ref) to the bit. */
void rwkv_quantize_row(rwkv_dtype dt, const float *src, void *dst, size_t n);
/* Dequantizes n values (n a multiple of the block size) of type dt. */
void rwkv_dequantize_row(rwkv_dtype dt, const void *src, float *dst, size_t n);


#endif
