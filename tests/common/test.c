/* test.c — shared helpers for the test programs. */
#include "test.h"

#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>

int test_passed, test_failed;

const char *test_shared_dir(void) {
    const char *d = getenv("RWKV_SHARED");
    return d && *d ? d : "../shared";
}

const char *test_shared(const char *rel) {
    static char buf[8][1024];
    static int slot;
    char *b = buf[slot++ & 7];
    snprintf(b, sizeof buf[0], "%s/%s", test_shared_dir(), rel);
    return b;
}

int test_require_shared(void) {
    struct stat st;
    if (stat(test_shared("models"), &st) == 0 && S_ISDIR(st.st_mode)) return 1;
    fprintf(stderr,
            "\n*** SHARED DATA ABSENT: %s/models not found. Set RWKV_SHARED to the shared folder.\n"
            "*** Tests that need real models and fixtures are counted as FAILED, not skipped.\n\n",
            test_shared_dir());
    test_failed++;
    return 0;
}

void *test_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc(n > 0 ? (size_t)n + 1 : 1);
    if (p && n > 0 && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) {
        p[n > 0 ? n : 0] = 0;
        *len = n > 0 ? (size_t)n : 0;
    }
    return p;
}

float test_max_abs_diff(const float *a, const float *b, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN propagates as a failure */
    }
    return m;
}

const char *test_rwkv_bin(void) {
    static char buf[512];
    const char *b = getenv("BUILD");
    snprintf(buf, sizeof buf, "%s/rwkv", b && *b ? b : "build");
    return buf;
}

int test_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, test_passed, test_failed);
    return test_failed ? 1 : 0;
}

void test_result_free(test_run_result *r) {
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

void test_shell_quote(char *cmd, size_t cap, const char *s) {
    size_t n = strlen(cmd);
    if (n + 4 >= cap) return;
    cmd[n++] = ' ';
    cmd[n++] = '\'';
    for (; *s && n + 6 < cap; s++) {
        if (*s == '\'') {
            memcpy(cmd + n, "'\\''", 4);
            n += 4;
        } else {
            cmd[n++] = *s;
        }
    }
    cmd[n++] = '\'';
    cmd[n] = '\0';
}

void test_system_capture(const char *cmd, const char *out_path, const char *err_path,
                         test_run_result *r) {
    int status = system(cmd);
    if (status == -1)
        r->rc = -1;
    else if (WIFSIGNALED(status))
        r->rc = 128 + WTERMSIG(status);
    else
        r->rc = WEXITSTATUS(status); /* the shell reports a killed child as 128+N */
    r->out = test_read_file(out_path, &r->out_len);
    r->err = test_read_file(err_path, &r->err_len);
    if (!r->out) { r->out = calloc(1, 1); r->out_len = 0; }
    if (!r->err) { r->err = calloc(1, 1); r->err_len = 0; }
}

void test_remove_dir(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

void test_run_rwkv_v(test_run_result *r, const char *dir, const char *prefix, const char *stdin_path,
                     va_list args) {
    static char cmd[16384];
    char out_path[512], err_path[512];
    snprintf(out_path, sizeof out_path, "%s/stdout", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);
    snprintf(cmd, sizeof cmd, "%s", prefix ? prefix : "");
    test_shell_quote(cmd, sizeof cmd, test_rwkv_bin());
    for (const char *a; (a = va_arg(args, const char *)) != NULL;) test_shell_quote(cmd, sizeof cmd, a);
    size_t n = strlen(cmd);
    snprintf(cmd + n, sizeof cmd - n, " <");
    test_shell_quote(cmd, sizeof cmd, stdin_path ? stdin_path : "/dev/null");
    n = strlen(cmd);
    snprintf(cmd + n, sizeof cmd - n, " >");
    test_shell_quote(cmd, sizeof cmd, out_path);
    n = strlen(cmd);
    snprintf(cmd + n, sizeof cmd - n, " 2>");
    test_shell_quote(cmd, sizeof cmd, err_path);
    test_system_capture(cmd, out_path, err_path, r);
}

void test_run_rwkv(test_run_result *r, const char *dir, const char *prefix, const char *stdin_path, ...) {
    va_list ap;
    va_start(ap, stdin_path);
    test_run_rwkv_v(r, dir, prefix, stdin_path, ap);
    va_end(ap);
}
