/* internal.h — declarations shared by the library's source files (not installed). */
#ifndef RWKV_INTERNAL_H
#define RWKV_INTERNAL_H

#include "rwkv.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- errors (error.c) ------------------------------------------------------------------ */

/* Records a formatted message as the thread's last error and returns status. */
rwkv_status rwkv_fail(rwkv_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- planned memory (alloc.c) ----------------------------------------------------------- */

/* calloc / 64-byte-aligned allocation (size rounded up to the alignment) for the memory the
 * library plans at load (scratch, states, backend buffers). They behave as the C library's,
 * except that a test can make them fail on purpose: rwkv_test_fail_alloc(n) makes the call after
 * the next n successful ones return NULL (and every later call too), n < 0 turns this off. */
void *rwkv_calloc(size_t n, size_t size);
void *rwkv_aligned_alloc(size_t align, size_t size);
void rwkv_test_fail_alloc(int n);

/* ---- checked size arithmetic ----------------------------------------------------------- */

/* *out = a * b; false on overflow. */
static inline bool rwkv_mul_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool rwkv_add_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

/* ---- number formats (util.c) ----------------------------------------------------------- */

typedef enum rwkv_dtype {
    RWKV_DT_F32 = 0,
    RWKV_DT_F16 = 1,
    RWKV_DT_BF16 = 2,
    /* block-quantized types (src/types/quant.h): ggml layouts, and our NF4 */
    RWKV_DT_Q8_0 = 3,
    RWKV_DT_Q4_0 = 4,
    RWKV_DT_Q4_1 = 5,
    RWKV_DT_Q5_0 = 6,
    RWKV_DT_Q5_1 = 7,
    RWKV_DT_NF4 = 8,
    RWKV_DT_COUNT
} rwkv_dtype;

size_t rwkv_dtype_size(rwkv_dtype dt); /* bytes per element; 0 for the block types */
/* Bytes of a row of n elements of type dt; 0 when n is not a whole number of blocks (quant.c). */
size_t rwkv_dtype_row_bytes(rwkv_dtype dt, size_t n);
const char *rwkv_dtype_name(rwkv_dtype dt);

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
float rwkv_f16_to_f32(uint16_t h);
uint16_t rwkv_f32_to_f16(float f);

/* Reads element i of a tensor of type dt as float. */
static inline float rwkv_load_elem(rwkv_dtype dt, const void *data, size_t i) {
    switch (dt) {
    case RWKV_DT_F32: { float f; memcpy(&f, (const char *)data + 4 * i, 4); return f; }
    case RWKV_DT_F16: { uint16_t h; memcpy(&h, (const char *)data + 2 * i, 2); return rwkv_f16_to_f32(h); }
    case RWKV_DT_BF16: { uint16_t h; memcpy(&h, (const char *)data + 2 * i, 2); return rwkv_bf16_to_f32(h); }
    default: return 0.0f;
    }
}

/* Converts n elements of type dt to float. */
void rwkv_convert_to_f32(rwkv_dtype dt, const void *src, float *dst, size_t n);

/* ---- files (util.c) -------------------------------------------------------------------- */

typedef struct rwkv_mapping {
    void *data;  /* read-only mapping of the whole file (NULL when size is 0) */
    size_t size;
} rwkv_mapping;

/* Maps a whole file read-only. */
rwkv_status rwkv_map_file(const char *path, rwkv_mapping *out);
void rwkv_unmap(rwkv_mapping *m);

/* 64-bit FNV-1a over n bytes, continuing from h (start with RWKV_FNV_INIT). */
#define RWKV_FNV_INIT 0xcbf29ce484222325ull
uint64_t rwkv_fnv1a(uint64_t h, const void *data, size_t n);

/* ---- tensors read from a model file ---------------------------------------------------- */

#define RWKV_MAX_DIMS 4

typedef struct rwkv_tensor {
    char *name;                    /* owned */
    rwkv_dtype dtype;
    int n_dims;
    int64_t shape[RWKV_MAX_DIMS];  /* PyTorch order: outermost first */
    size_t numel;
    const void *data;              /* contiguous row-major, inside the file mapping */
    size_t nbytes;
} rwkv_tensor;

typedef struct rwkv_tensor_file {
    rwkv_tensor *tensors;          /* owned array of n_tensors */
    size_t n_tensors;
    rwkv_mapping map;              /* the file, when opened from a path */
    const char *format;            /* static: "pth", "gguf", "bin" */
    void **owned;                  /* buffers owned by the file (converted tensors), freed by close */
    size_t n_owned;
    void *meta;                    /* format-specific extra data (GGUF metadata), freed by close */
    void (*meta_free)(void *meta);
} rwkv_tensor_file;

/* Opens a model file of any supported format, detected from its first bytes (format.c):
 * .pth zip, GGUF, rwkv.cpp .bin. */
rwkv_status rwkv_tensor_file_open(const char *path, rwkv_tensor_file *out);
/* Parses a whole file image; label names it in errors. One per reader (pth.c, gguf.c, ...). */
typedef rwkv_status (*rwkv_tensor_parse_fn)(const void *data, size_t size, const char *label,
                                            rwkv_tensor_file *out);
/* The shared body of the readers' *_open (format.c): zeroes *out, sets out->format to format
 * (may be NULL; kept when mapping fails), maps path and parses it with parse (label = path).
 * On success out->map owns the mapping; on failure the mapping is released. */
rwkv_status rwkv_tensor_file_map_parse(const char *path, const char *format, rwkv_tensor_parse_fn parse,
                                       rwkv_tensor_file *out);
/* Adds p to tf's owned buffers (freed by rwkv_tensor_file_close). On failure p is freed. */
rwkv_status rwkv_tensor_file_own(rwkv_tensor_file *tf, void *p);
/* rwkv.cpp .bin files (bin_reader.c): tensors get the official names, shapes and values. */
rwkv_status rwkv_bin_open(const char *path, rwkv_tensor_file *out);
rwkv_status rwkv_bin_parse(const void *data, size_t size, rwkv_tensor_file *out);
/* GGUF v3 files (gguf.c). */
rwkv_status rwkv_gguf_open(const char *path, rwkv_tensor_file *out);
rwkv_status rwkv_gguf_parse(const void *data, size_t size, rwkv_tensor_file *out);

/* Opens an official PyTorch checkpoint (.pth zip). Tensors point into the mapping. */
rwkv_status rwkv_pth_open(const char *path, rwkv_tensor_file *out);
/* Parses a .pth image already in memory (data must outlive out; out->map stays empty). */
rwkv_status rwkv_pth_parse(const void *data, size_t size, rwkv_tensor_file *out);
/* Frees names, the table and the mapping. Safe on a zeroed struct. */
void rwkv_tensor_file_close(rwkv_tensor_file *tf);
/* Finds a tensor by exact name, or NULL. */
const rwkv_tensor *rwkv_tensor_file_find(const rwkv_tensor_file *tf, const char *name);

/* ---- tokenizer helpers ----------------------------------------------------------------- */

/* True when token id decodes to a substring of " \t0123456789" (the pip penalty-weight-0 rule). */
bool rwkv_tokenizer_is_blank_or_digits(const rwkv_tokenizer *tok, int32_t id);

#endif /* RWKV_INTERNAL_H */
