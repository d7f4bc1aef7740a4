/* internal.h — the base of the library's source files (not installed): errors, checked size
 * arithmetic, planned memory, file mapping, hashing. */
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

/* ---- tokenizer helpers ----------------------------------------------------------------- */

/* True when token id decodes to a substring of " \t0123456789" (the pip penalty-weight-0 rule). */
bool rwkv_tokenizer_is_blank_or_digits(const rwkv_tokenizer *tok, int32_t id);

#endif /* RWKV_INTERNAL_H */
