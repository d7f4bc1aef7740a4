/* types.h — the weight types: one table with a row per type (types.c) that every reader, writer
 * and kernel dispatcher looks types up in, the half-precision conversions (half.c), and the
 * scalar reference products of the block types (dot.c).
 *
 * A row says what a type is in every file format and how to compute with it:
 *   name, alias     "q8_0" ("int8"): rwkv_dtype_name, --type, rwkv_model_info.weight_dtype
 *   block, bytes    values per block (1 for the plain types fp32/fp16/bf16) and bytes per block
 *   ggml_id         GGUF tensor type (ggml's ids; -1: none)
 *   gguf_ftype      general.file_type of a GGUF file mostly of this type (-1: none)
 *   bin_code        rwkv.cpp .bin type code (-1: none)
 *   torch_storage   PyTorch storage class of .pth files (NULL: none)
 *   to_f32/from_f32 n values (whole blocks) to fp32 and back (the exact dequantizer, the
 *                   reference quantizer)
 *   codes           block types: one block as integer codes, scale and minimum — what the
 *                   scalar integer dot (rwkv_type_dot_i8) multiplies; NULL for plain types.
 * Layouts of the block types: quant.h. Adding a type: docs/ARCHITECTURE.md. */
#ifndef RWKV_TYPES_H
#define RWKV_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum rwkv_dtype {
    RWKV_DT_F32 = 0,
    RWKV_DT_F16 = 1,
    RWKV_DT_BF16 = 2,
    /* block types (quant.h): ggml's layouts, and our NF4 */
    RWKV_DT_Q8_0 = 3,
    RWKV_DT_Q4_0 = 4,
    RWKV_DT_Q4_1 = 5,
    RWKV_DT_Q5_0 = 6,
    RWKV_DT_Q5_1 = 7,
    RWKV_DT_NF4 = 8,
    RWKV_DT_IQ4_NL = 9,
    RWKV_DT_COUNT
} rwkv_dtype;

/* The most values one block holds (rows of the table stay within it). */
#define RWKV_MAX_BLOCK 256

/* One block as codes c[0..block) (signed, or unsigned for the types with a minimum), scale *d and
 * minimum *m (0 for the types without): value j = c[j]·d + m, up to the rounding of the codes
 * (nf4: its levels rounded to int8). */
typedef void (*rwkv_codes_fn)(const uint8_t *block, int *c, float *d, float *m);

typedef struct rwkv_type {
    const char *name;
    const char *alias; /* or NULL */
    int block;
    int block_bytes;
    int ggml_id;
    int gguf_ftype;
    int bin_code;
    const char *torch_storage;
    void (*to_f32)(const void *src, float *dst, size_t n);
    void (*from_f32)(const float *src, void *dst, size_t n);
    rwkv_codes_fn codes;
} rwkv_type;

/* The row of dt, or NULL when dt is not a type. */
const rwkv_type *rwkv_type_of(rwkv_dtype dt);

/* Lookups by name (name or alias), GGUF type id and rwkv.cpp code; false when none has it. */
bool rwkv_dtype_from_name(const char *name, rwkv_dtype *dt);
bool rwkv_dtype_of_ggml_id(uint32_t id, rwkv_dtype *dt);
bool rwkv_dtype_of_bin_code(uint32_t code, rwkv_dtype *dt);
bool rwkv_dtype_of_torch_storage(const char *name, size_t len, rwkv_dtype *dt);
/* The GGUF type id of dt (-1: none). */
int rwkv_ggml_id_of(rwkv_dtype dt);
/* Writes the names of the types for which want(row) holds (all when want is NULL) into buf as
 * "a, b, c" ("a, b (alias), c" with aliases); always terminated; returns buf. */
char *rwkv_dtype_list(char *buf, size_t cap, bool (*want)(const rwkv_type *t), bool aliases);

const char *rwkv_dtype_name(rwkv_dtype dt); /* "unknown" for a value that is not a type */
size_t rwkv_dtype_size(rwkv_dtype dt);      /* bytes per element; 0 for the block types */
size_t rwkv_dtype_block(rwkv_dtype dt);     /* values per block (1: plain; 0: not a type) */
size_t rwkv_dtype_block_bytes(rwkv_dtype dt); /* bytes per block (per element for plain types) */
bool rwkv_dtype_is_quant(rwkv_dtype dt);    /* a block type */
/* Bytes of a row of n elements; 0 when n is not a whole number of blocks (or dt not a type). */
size_t rwkv_dtype_row_bytes(rwkv_dtype dt, size_t n);

/* n values of type dt (whole blocks) to fp32, and n floats to type dt (quantized by the type's
 * reference quantizer: the ggml types to ggml's bits). Nothing for a value that is not a type. */
void rwkv_convert_to_f32(rwkv_dtype dt, const void *src, float *dst, size_t n);
void rwkv_quantize_row(rwkv_dtype dt, const float *src, void *dst, size_t n);
/* The same as rwkv_convert_to_f32 (the name the block-type code uses). */
static inline void rwkv_dequantize_row(rwkv_dtype dt, const void *src, float *dst, size_t n) {
    rwkv_convert_to_f32(dt, src, dst, n);
}

/* ---- half precision (half.c) ----------------------------------------------------------- */

float rwkv_f16_to_f32(uint16_t h);
uint16_t rwkv_f32_to_f16(float f); /* round to nearest even; overflow to inf; NaN stays NaN */

static inline float rwkv_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
/* Round to nearest even; NaN stays NaN. */
static inline uint16_t rwkv_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* Element i of a tensor of plain type dt (fp32, fp16, bf16) as float. A block type is read
 * through rwkv_convert_to_f32 of its row; here it gives NaN, never a plausible number. */
static inline float rwkv_load_elem(rwkv_dtype dt, const void *data, size_t i) {
    switch (dt) {
    case RWKV_DT_F32: { float f; memcpy(&f, (const char *)data + 4 * i, 4); return f; }
    case RWKV_DT_F16: { uint16_t h; memcpy(&h, (const char *)data + 2 * i, 2); return rwkv_f16_to_f32(h); }
    case RWKV_DT_BF16: { uint16_t h; memcpy(&h, (const char *)data + 2 * i, 2); return rwkv_bf16_to_f32(h); }
    default: return __builtin_nanf("");
    }
}

/* ---- scalar reference products of the block types (dot.c) ------------------------------ */

/* Rows [o0, o1) of Y[t·ldy + o] = Σ_k W[o][k]·X[t][k] for t < T, W [rows][K] of block type dt
 * (row_bytes per row, K a multiple of 32 and of the block), in two references:
 *  - rwkv_type_dot_i8: the integer dot of the activations quantized per block of 32 (xq [T][K]
 *    int8 codes, xd/xs [T][K/32] scales and scaled sums, ops_quant.h): per block of 32,
 *    Σ c_j·q_j exact in int32 times d_w·d_x, plus m_w·s_x — the oracle of every SIMD integer
 *    kernel (rwkv_qkernels.dot), and what a SIMD table computes for a type it has no kernel for;
 *  - rwkv_type_dot_f32: each weight row dequantized exactly (the row's to_f32) and dotted with
 *    the fp32 activations X [T][K] in 8 partial sums (sum j takes the elements k ≡ j mod 8, in
 *    order; then ((s0+s4)+(s1+s5))+((s2+s6)+(s3+s7))) — the float reference (force_scalar), the
 *    oracle of rwkv_qkernels.dotf and its stand-in for a type without a SIMD kernel.
 * Neither allocates; each output depends only on W, the row and its token. */
void rwkv_type_dot_i8(rwkv_dtype dt, const void *W, size_t row_bytes, int K, int o0, int o1,
                      const int8_t *xq, const float *xd, const float *xs, int T, float *Y, int ldy);
void rwkv_type_dot_f32(rwkv_dtype dt, const void *W, size_t row_bytes, int K, int o0, int o1,
                       const float *X, int T, float *Y, int ldy);

#endif
