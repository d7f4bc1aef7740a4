/* alloc.c — the allocator of the library's planned memory, with a failure switch for tests. */
#include "internal.h"

#include <stdatomic.h>
#include <stdlib.h>

/* Successful allocations left before failures start; negative: never fail. */
static atomic_int g_fail_after = -1;

static bool may_allocate(void) {
    int n = atomic_load(&g_fail_after);
    while (n >= 0) {
        if (n == 0) return false;
        if (atomic_compare_exchange_weak(&g_fail_after, &n, n - 1)) return true;
    }
    return true;
}

void rwkv_test_fail_alloc(int n) { atomic_store(&g_fail_after, n < 0 ? -1 : n); }

void *rwkv_calloc(size_t n, size_t size) { return may_allocate() ? calloc(n ? n : 1, size ? size : 1) : NULL; }

void *rwkv_aligned_alloc(size_t align, size_t size) {
    if (!may_allocate()) return NULL;
    size_t rounded;
    if (!rwkv_add_ok(size ? size : 1, align - 1, &rounded)) return NULL;
    return aligned_alloc(align, rounded / align * align);
}
