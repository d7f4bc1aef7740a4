/* test.h — a tiny test harness. Each test file is its own program: CHECK() counts a result,
 * TEST_MAIN prints "N passed, N failed" and exits non-zero on any failure. */
#ifndef RWKV_TEST_H
#define RWKV_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int test_passed, test_failed;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (cond) {                                                                       \
            test_passed++;                                                                \
        } else {                                                                          \
            test_failed++;                                                                \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);              \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
        }                                                                                 \
    } while (0)

/* Directory of the shared models/fixtures: $RWKV_SHARED, default ../shared (from the repo). */
const char *test_shared_dir(void);
/* Path under the shared directory (static buffer rotated over 8 slots). */
const char *test_shared(const char *rel);
/* 1 if the shared directory exists; otherwise prints a loud notice and returns 0. */
int test_require_shared(void);
/* Reads a whole file; returns malloc'd data and *len, or NULL. */
void *test_read_file(const char *path, size_t *len);
/* Max abs difference of n floats. */
float test_max_abs_diff(const float *a, const float *b, size_t n);
/* Path of the built rwkv binary ($BUILD/rwkv). */
const char *test_rwkv_bin(void);
/* Prints the summary line and returns the exit status. */
int test_summary(const char *name);

#endif
