/* quant.h — the block types: ggml's Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (bit-exact layouts, so files
 * interchange with ggml/llama.cpp/rwkv.cpp), ggml's IQ4_NL and our NF4; their rows of the type table (types.h)
 * point at the functions below.
 *
 * A quantized row of n elements (n a multiple of the block size) is n/QK blocks laid end to
 * end; a matrix is its rows one after the other. Scales are IEEE half floats, little-endian.
 *
 *   q8_0  32 values: fp16 d; int8 qs[32]                  x = qs[j]·d
 *   q4_0  32 values: fp16 d; u8 qs[16]                    x = (nib − 8)·d
 *   q4_1  32 values: fp16 d, m; u8 qs[16]                 x = nib·d + m
 *   q5_0  32 values: fp16 d; u8 qh[4]; u8 qs[16]          x = (nib | bit4 − 16)·d
 *   q5_1  32 values: fp16 d, m; u8 qh[4]; u8 qs[16]       x = (nib | bit4)·d + m
 *   iq4_nl 32 values: fp16 d; u8 qs[16]                   x = IQ4NL[nib]·d
 *   nf4   64 values: fp16 d (absmax); u8 qs[32]           x = NF4[nib]·d
 * For the 4/5-bit types value j < QK/2 is the low nibble of qs[j] and value j + QK/2 its high
 * nibble; the fifth bit of value j is bit j of the little-endian 32-bit qh. */
#ifndef RWKV_QUANT_H
#define RWKV_QUANT_H

#include "types.h"

#include <assert.h>

#define RWKV_QK 32     /* values per block of the ggml types */
#define RWKV_QK_NF4 64 /* values per NF4 block */

typedef struct { uint16_t d; int8_t qs[32]; } rwkv_block_q8_0;
typedef struct { uint16_t d; uint8_t qs[16]; } rwkv_block_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[16]; } rwkv_block_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } rwkv_block_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } rwkv_block_q5_1;
typedef struct { uint16_t d; uint8_t qs[16]; } rwkv_block_iq4_nl;
typedef struct { uint16_t d; uint8_t qs[32]; } rwkv_block_nf4;

static_assert(sizeof(rwkv_block_q8_0) == 34, "q8_0 block size");
static_assert(sizeof(rwkv_block_q4_0) == 18, "q4_0 block size");
static_assert(sizeof(rwkv_block_q4_1) == 20, "q4_1 block size");
static_assert(sizeof(rwkv_block_q5_0) == 22, "q5_0 block size");
static_assert(sizeof(rwkv_block_q5_1) == 24, "q5_1 block size");
static_assert(sizeof(rwkv_block_iq4_nl) == 18, "iq4_nl block size");
static_assert(sizeof(rwkv_block_nf4) == 34, "nf4 block size");

/* The 16 levels of ggml's IQ4_NL (kvalues_iq4nl), ascending: the codes of the integer dot. */
extern const int8_t rwkv_iq4nl_levels[16];
/* The 16 NormalFloat-4 levels of QLoRA / bitsandbytes, ascending. */
extern const float rwkv_nf4_levels[16];
/* The same levels as signed int8 codes for the integer dot: round(127·rwkv_nf4_levels[i]). */
extern const int8_t rwkv_nf4_i8[16];

/* Per type: n values (a multiple of the block size) to fp32 (exact), n floats to blocks (the
 * ggml types follow ggml's reference quantizers, quantize_row_*_ref, to the bit), and one block
 * as integer codes (rwkv_codes_fn). */
void rwkv_q8_0_to_f32(const void *src, float *dst, size_t n);
void rwkv_q8_0_from_f32(const float *src, void *dst, size_t n);
void rwkv_q8_0_codes(const uint8_t *block, int *c, float *d, float *m);
void rwkv_q4_0_to_f32(const void *src, float *dst, size_t n);
void rwkv_q4_0_from_f32(const float *src, void *dst, size_t n);
void rwkv_q4_0_codes(const uint8_t *block, int *c, float *d, float *m);
void rwkv_q4_1_to_f32(const void *src, float *dst, size_t n);
void rwkv_q4_1_from_f32(const float *src, void *dst, size_t n);
void rwkv_q4_1_codes(const uint8_t *block, int *c, float *d, float *m);
void rwkv_q5_0_to_f32(const void *src, float *dst, size_t n);
void rwkv_q5_0_from_f32(const float *src, void *dst, size_t n);
void rwkv_q5_0_codes(const uint8_t *block, int *c, float *d, float *m);
void rwkv_q5_1_to_f32(const void *src, float *dst, size_t n);
void rwkv_q5_1_from_f32(const float *src, void *dst, size_t n);
void rwkv_q5_1_codes(const uint8_t *block, int *c, float *d, float *m);
void rwkv_iq4_nl_to_f32(const void *src, float *dst, size_t n);
void rwkv_iq4_nl_from_f32(const float *src, void *dst, size_t n);
void rwkv_iq4_nl_codes(const uint8_t *block, int *c, float *d, float *m);
void rwkv_nf4_to_f32(const void *src, float *dst, size_t n);
void rwkv_nf4_from_f32(const float *src, void *dst, size_t n);
void rwkv_nf4_codes(const uint8_t *block, int *c, float *d, float *m);

#endif
