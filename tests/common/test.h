/* test.h — a tiny test harness. Each test file is its own program: CHECK() counts a result,
 * TEST_MAIN prints "N passed, N failed" and exits non-zero on any failure. */
#ifndef RWKV_TEST_H
#define RWKV_TEST_H

#include <stdarg.h>
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
/* What one run of a program gave. */
typedef struct test_run_result {
    int rc;          /* exit status; 128+N when killed by signal N; -1 if it could not run */
    char *out, *err; /* stdout / stderr (NUL-terminated, malloc'd) */
    size_t out_len, err_len;
} test_run_result;
/* Frees r's buffers and zeroes it. */
void test_result_free(test_run_result *r);
/* Appends " 's'" to the NUL-terminated command cmd (capacity cap): s as one single-quoted shell
 * word. Truncates silently when cmd is full. */
void test_shell_quote(char *cmd, size_t cap, const char *s);
/* Runs cmd through system(); cmd must itself redirect stdout to out_path and stderr to err_path.
 * Fills r (rc as above; out/err read back from the files, "" when missing). */
void test_system_capture(const char *cmd, const char *out_path, const char *err_path,
                         test_run_result *r);
/* Runs `prefix $BUILD/rwkv ARGS... <stdin_path` through the shell (the arguments after
 * stdin_path, NULL-terminated, each quoted; prefix is shell text such as "unset X; ", or NULL;
 * stdin_path NULL means /dev/null) with stdout and stderr captured in files of dir, into *r. */
void test_run_rwkv(test_run_result *r, const char *dir, const char *prefix, const char *stdin_path, ...);
void test_run_rwkv_v(test_run_result *r, const char *dir, const char *prefix, const char *stdin_path,
                     va_list args);
/* Removes directory dir and everything in it (rm -rf); prints a note on stderr on failure. */
void test_remove_dir(const char *dir);
/* Prints the summary line and returns the exit status. */
int test_summary(const char *name);

#endif
