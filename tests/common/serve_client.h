/* serve_client.h — helpers of the tests that run `rwkv serve` (test_server.c, test_replicas.c):
 * starting and stopping servers, raw HTTP over loopback sockets, /metrics, crude JSON field
 * reads, and running the Node.js scripts of tests/server. */
#ifndef RWKV_TEST_SERVE_CLIENT_H
#define RWKV_TEST_SERVE_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

/* ---- a running server ---------------------------------------------------------------------- */

typedef struct srv {
    pid_t pid;
    int port;
    int v6;             /* listening on [::1] rather than 127.0.0.1 */
    char log[256];
} srv;

/* Where srv_start writes the servers' logs (test_server_PID_TAG.log); NULL = /tmp. */
extern const char *srv_log_dir;

/* Seconds from a monotonic clock. */
double now_s(void);

/* Starts `rwkv serve` on a free port (--port 0; the port is read from its log line). Extra
 * arguments end with NULL (a later -m or --host replaces the default). Returns 0 on success. */
int srv_start(srv *s, const char *tag, ...);

/* Waits up to ms milliseconds for the server to exit: its exit status, or -1 while it runs. */
int srv_wait(srv *s, int ms);
/* Sends SIGTERM and waits (up to 15 s); returns the exit status, or -1. */
int srv_stop(srv *s);
/* Resident memory of a process in kB, or -1. */
long rss_kb(pid_t pid);

/* ---- raw HTTP ------------------------------------------------------------------------------ */

/* A TCP connection to the server: from source address src (IPv4, NULL = any), to ::1 when v6,
 * with a receive/send timeout of timeout_s seconds. */
int connect_to(int port, const char *src, int v6, int timeout_s);
/* connect_to 127.0.0.1:port with a 60 s timeout. */
int connect_port(int port);
int send_all(int fd, const char *p, size_t n);

/* Reads until the peer closes (or the receive timeout); returns malloc'd bytes. *closed (if not
 * NULL) tells whether the peer closed (rather than the timeout or an error ending the read). */
char *recv_until_close(int fd, size_t *len, int *closed);
char *recv_all(int fd, size_t *len);

/* Sends req on a new connection with a receive timeout of timeout_s and reads the answer until
 * the server closes. Returns the status (0 if none); *resp gets everything received (headers
 * too) and *closed whether the server closed the connection before the timeout. */
int exchange(int port, const char *req, size_t len, int timeout_s, char **resp, int *closed);

/* One raw exchange: sends req (len bytes), returns the status (0 if none) and the body. */
int http_raw(int port, const char *req, size_t len, char **body);

/* A request with a body; extra_headers may be "" (each line ends with \r\n). */
int http(int port, const char *method, const char *path, const char *extra_headers, const char *data,
         size_t data_len, char **body);
int post(int port, const char *path, const char *json, char **body);
int get(int port, const char *path, char **body);

/* GET path from source address src (NULL = any): status, body in *body. */
int get_from(int port, const char *src, const char *path, char **body);

/* The value of a metric line "name value" in /metrics asked from source address src, or -1. */
double metric_from(int port, const char *src, const char *name);
double metric(int port, const char *name);

/* Polls the metric until it equals want (up to about 10 s); returns the last value. */
double metric_wait(int port, const char *src, const char *name, double want);

/* The string value of "key":"..." in a JSON text (first occurrence, simple escapes decoded). */
char *json_str(const char *json, const char *key);
/* The integer value of "key": (first occurrence), or -1. */
long json_int(const char *json, const char *key);

/* ---- files and Node.js --------------------------------------------------------------------- */

int file_exists(const char *p);

/* Runs tests/server/SCRIPT 'ARG' with node (120 s at most); 0 when it exits with 0. */
int run_node(const char *script, const char *arg);

#endif
