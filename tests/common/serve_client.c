/* serve_client.c — helpers of the tests that run `rwkv serve` (serve_client.h). */
#include "serve_client.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- a running server ---------------------------------------------------------------------- */

const char *srv_log_dir;

double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Starts `rwkv serve` on a free port (--port 0; the port is read from its log line). Extra
 * arguments end with NULL (a later -m or --host replaces the default). Returns 0 on success. */
int srv_start(srv *s, const char *tag, ...) {
    const char *argv[40];
    int n = 0;
    argv[n++] = test_rwkv_bin();
    argv[n++] = "serve";
    argv[n++] = "-m";
    argv[n++] = test_shared("models/tiny-rwkv-7v0-834K.pth");
    argv[n++] = "--host";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--threads";
    argv[n++] = "1";
    va_list ap;
    va_start(ap, tag);
    for (const char *a; n < 38 && (a = va_arg(ap, const char *)) != NULL;) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    snprintf(s->log, sizeof s->log, "%s/test_server_%d_%s.log", srv_log_dir ? srv_log_dir : "/tmp", (int)getpid(),
             tag);
    s->port = 0;
    s->pid = fork();
    if (s->pid < 0) return -1;
    if (s->pid == 0) {
        int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 300 && !s->port; i++) { /* up to 30 s (ASan builds start slower) */
        usleep(100000);
        size_t len = 0;
        char *txt = test_read_file(s->log, &len);
        const char *at = txt ? strstr(txt, "listening on http://") : NULL;
        if (at) {
            at += 20;
            s->v6 = !strncmp(at, "[::1]:", 6);
            if (s->v6 || !strncmp(at, "127.0.0.1:", 10)) s->port = atoi(at + (s->v6 ? 6 : 10));
        }
        free(txt);
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            break;
        }
    }
    return s->port ? 0 : -1;
}

/* Waits up to ms milliseconds for the server to exit: its exit status (pid then 0), or -1 while it
 * still runs. */
int srv_wait(srv *s, int ms) {
    for (int i = 0; s->pid > 0 && i < ms / 10; i++) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(10000);
    }
    return -1;
}

/* Sends SIGTERM and waits (up to 15 s); returns the exit status, or -1. */
int srv_stop(srv *s) {
    if (s->pid <= 0) return -1;
    kill(s->pid, SIGTERM);
    const int code = srv_wait(s, 15000);
    if (s->pid == 0) return code;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
    return -1;
}

long rss_kb(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r"); /* /proc files have no size: read line by line */
    char line[256];
    long kb = -1;
    for (int i = 0; f && i < 200 && fgets(line, sizeof line, f); i++)
        if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

/* ---- raw HTTP ------------------------------------------------------------------------------- */

/* A TCP connection to the server: from source address src (IPv4, NULL = any), to ::1 when v6,
 * with a receive/send timeout of timeout_s seconds. */
int connect_to(int port, const char *src, int v6, int timeout_s) {
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {0};
    struct sockaddr_in6 a6 = {0};
    if (src) {
        struct sockaddr_in b = {0};
        b.sin_family = AF_INET;
        inet_pton(AF_INET, src, &b.sin_addr);
        if (bind(fd, (struct sockaddr *)&b, sizeof b)) {
            close(fd);
            return -1;
        }
    }
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons((uint16_t)port);
    a6.sin6_addr = in6addr_loopback;
    if (v6 ? connect(fd, (struct sockaddr *)&a6, sizeof a6) : connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    struct timeval tv = {timeout_s, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

int connect_port(int port) { return connect_to(port, NULL, 0, 60); }

int send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads until the peer closes (or the receive timeout); returns malloc'd bytes. *closed (if not
 * NULL) tells whether the peer closed (rather than the timeout or an error ending the read). */
char *recv_until_close(int fd, size_t *len, int *closed) {
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    for (int guard = 0; b && guard < 1000000; guard++) {
        if (n + 4096 > cap) {
            char *nb = realloc(b, cap * 2);
            if (!nb) break;
            b = nb;
            cap *= 2;
        }
        ssize_t k = recv(fd, b + n, cap - n - 1, 0);
        if (k <= 0) {
            if (closed) *closed = k == 0 || errno == ECONNRESET;
            break;
        }
        n += (size_t)k;
    }
    if (b) b[n] = 0;
    *len = n;
    return b;
}

char *recv_all(int fd, size_t *len) { return recv_until_close(fd, len, NULL); }

/* Sends req on a new connection with a receive timeout of timeout_s and reads the answer until
 * the server closes. Returns the status (0 if none); *resp gets everything received (headers
 * too) and *closed whether the server closed the connection before the timeout. */
int exchange(int port, const char *req, size_t len, int timeout_s, char **resp, int *closed) {
    *resp = NULL;
    *closed = 0;
    int fd = connect_to(port, NULL, 0, timeout_s);
    if (fd < 0) return -1;
    send_all(fd, req, len);
    size_t n;
    *resp = recv_until_close(fd, &n, closed);
    close(fd);
    return *resp && n > 12 && !strncmp(*resp, "HTTP/1.", 7) ? atoi(*resp + 9) : 0;
}

/* One raw exchange: sends req (len bytes), returns the status (0 if none) and the body. */
int http_raw(int port, const char *req, size_t len, char **body) {
    if (body) *body = NULL;
    int fd = connect_port(port);
    if (fd < 0) return -1;
    send_all(fd, req, len); /* the server may answer (413) and close before reading it all */
    size_t n;
    char *resp = recv_all(fd, &n);
    close(fd);
    int status = 0;
    if (resp && n > 12 && !strncmp(resp, "HTTP/1.", 7)) status = atoi(resp + 9);
    if (body && resp) {
        const char *b = strstr(resp, "\r\n\r\n");
        *body = strdup(b ? b + 4 : "");
    }
    free(resp);
    return status;
}

/* A request with a body; extra_headers may be "" (each line ends with \r\n). */
int http(int port, const char *method, const char *path, const char *extra_headers,
                const char *data, size_t data_len, char **body) {
    size_t cap = data_len + 1024;
    char *req = malloc(cap);
    if (!req) return -1;
    int h = snprintf(req, cap,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     method, path, extra_headers, data_len);
    memcpy(req + h, data, data_len);
    int st = http_raw(port, req, (size_t)h + data_len, body);
    free(req);
    return st;
}

int post(int port, const char *path, const char *json, char **body) {
    return http(port, "POST", path, "", json, strlen(json), body);
}

int get(int port, const char *path, char **body) {
    return http(port, "GET", path, "", "", 0, body);
}

/* GET path from source address src (NULL = any): status, body in *body. */
int get_from(int port, const char *src, const char *path, char **body) {
    *body = NULL;
    int fd = connect_to(port, src, 0, 30);
    if (fd < 0) return -1;
    char req[256];
    int h = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    send_all(fd, req, (size_t)h);
    size_t n;
    char *resp = recv_all(fd, &n);
    close(fd);
    int st = resp && n > 12 && !strncmp(resp, "HTTP/1.", 7) ? atoi(resp + 9) : 0;
    const char *b = resp ? strstr(resp, "\r\n\r\n") : NULL;
    *body = strdup(b ? b + 4 : "");
    free(resp);
    return st;
}

/* The value of a metric line "name value" in /metrics asked from source address src, or -1. */
double metric_from(int port, const char *src, const char *name) {
    char *b = NULL;
    double v = -1;
    if (get_from(port, src, "/metrics", &b) == 200 && b) {
        char key[128];
        snprintf(key, sizeof key, "\n%s ", name);
        const char *at = strstr(b, key);
        if (at) v = atof(at + strlen(key));
    }
    free(b);
    return v;
}

double metric(int port, const char *name) { return metric_from(port, NULL, name); }

/* Polls the metric until it equals want (up to about 10 s); returns the last value. */
double metric_wait(int port, const char *src, const char *name, double want) {
    double v = metric_from(port, src, name);
    for (int i = 0; i < 200 && v != want; i++) {
        usleep(50000);
        v = metric_from(port, src, name);
    }
    return v;
}

/* The string value of "key":"..." in a JSON text (first occurrence, simple escapes decoded). */
char *json_str(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *at = json ? strstr(json, pat) : NULL;
    if (!at) return NULL;
    at += strlen(pat);
    char *out = malloc(strlen(at) + 1), *w = out;
    for (; *at && *at != '"'; at++) {
        if (*at == '\\' && at[1]) {
            at++;
            *w++ = *at == 'n' ? '\n' : *at == 't' ? '\t' : *at == 'r' ? '\r' : *at;
        } else {
            *w++ = *at;
        }
    }
    *w = 0;
    return out;
}

long json_int(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *at = json ? strstr(json, pat) : NULL;
    return at ? atol(at + strlen(pat)) : -1;
}

int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* Runs a node script; 0 when it exits with 0. */
int run_node(const char *script, const char *arg) {
    /* 120 s, or RWKV_TEST_NODE_TIMEOUT seconds (tests/cross.sh: the server runs under qemu) */
    int limit = 120;
    const char *t = getenv("RWKV_TEST_NODE_TIMEOUT");
    if (t && atoi(t) > 0) limit = atoi(t);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "timeout %d node tests/server/%s '%s' 1>&2", limit, script, arg);
    int rc = system(cmd);
    rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    if (rc == 124) printf("FAIL %s: killed after %d s (RWKV_TEST_NODE_TIMEOUT)\n", script, limit);
    return rc;
}

