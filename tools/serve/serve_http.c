/* serve_http.c — the HTTP layer on libmicrohttpd: listening (host names resolved), connection
 * limits (serve_conn.c), request framing checks, routing through the routes table given at
 * start (serve_routes.c), bounded request bodies, API keys, CORS, responses (OpenAI error
 * objects), streams and the access log.
 *
 * Waiting for the scheduler never blocks libmicrohttpd's polling thread: a request whose reply
 * is not ready suspends its connection (through the job module, which calls back here), and the
 * scheduler's next post resumes it. */
#include "serve.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct srv_http {
    struct MHD_Daemon *daemon;
    const srv_route *routes;
    int n_routes;
    srv_conns *conns;
    char bound[128];
    int quiesced;              /* the listening socket is closed */
};

/* What libmicrohttpd keeps for one request (its *con_cls). */
struct srv_req {
    server *s;
    struct MHD_Connection *c;
    int route;               /* index in the routes table, -1 when no route matches */
    const char *param;       /* the {id} segment */
    char method[16], path[256], client[64];
    const char *origin;      /* the Origin to allow in the response (CORS), or NULL */
    cli_buf body;
    int too_big;
    srv_job *job;
    int status;              /* the status sent (0: none yet) */
    double t0;
    srv_conn *conn;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the job module's callbacks ---------------------------------------------------------------- */

static void conn_suspend(void *c) { MHD_suspend_connection(c); }
static void conn_resume(void *c) { MHD_resume_connection(c); }

static int conn_peer_gone(void *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return 0;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* ---- responses ----------------------------------------------------------------------------------- */

server *srv_req_server(srv_req *r) { return r->s; }

const char *srv_req_body(srv_req *r, size_t *len) {
    *len = r->body.len;
    return r->body.data ? r->body.data : "";
}

const char *srv_req_param(srv_req *r) { return r->param ? r->param : ""; }

/* The CORS headers of every response to an allowed origin. */
static void add_cors(srv_req *r, struct MHD_Response *resp) {
    if (!r->origin) return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->origin);
    if (strcmp(r->origin, "*")) MHD_add_response_header(resp, "Vary", "Origin");
}

/* Queues resp with status; counts it. extra: NULL-terminated name/value pairs. */
static int queue(srv_req *r, int status, struct MHD_Response *resp, const char *const *extra) {
    add_cors(r, resp);
    for (int i = 0; extra && extra[i]; i += 2) MHD_add_response_header(resp, extra[i], extra[i + 1]);
    const char *replica = atomic_load(&r->s->replica);
    if (replica) MHD_add_response_header(resp, "X-Replica-Id", replica);
    if (atomic_load(&r->s->draining)) MHD_add_response_header(resp, "Connection", "close");
    if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    enum MHD_Result ok = MHD_queue_response(r->c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->status = status;
    srv_metrics_count(&r->s->metrics, r->route, status);
    return ok == MHD_YES ? 0 : -1;
}

static int respond_h(srv_req *r, int status, const char *ctype, const char *body, size_t len,
                     const char *const *extra) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return -1;
    if (ctype) MHD_add_response_header(resp, "Content-Type", ctype);
    return queue(r, status, resp, extra);
}

int srv_respond(srv_req *r, int status, const char *ctype, const char *body, size_t len) {
    return respond_h(r, status, ctype, body, len, NULL);
}

static int respond_error_h(srv_req *r, int status, const char *message, const char *param,
                           const char *const *extra) {
    char *txt = srv_error_json(status, message, param);
    int rc = respond_h(r, status, "application/json", txt, strlen(txt), extra);
    free(txt);
    return rc;
}

int srv_respond_error(srv_req *r, int status, const char *message, const char *param) {
    return respond_error_h(r, status, message, param, NULL);
}

int srv_respond_json(srv_req *r, json_t *o) {
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!txt) return srv_respond_error(r, 500, "out of memory", NULL);
    int rc = srv_respond(r, 200, "application/json", txt, strlen(txt));
    free(txt);
    return rc;
}

/* ---- jobs ----------------------------------------------------------------------------------------- */

/* The content reader of a stream. */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    srv_req *r = cls;
    size_t n = 0;
    switch (srv_job_read(&r->s->jobs, r->job, buf, max, &n)) {
    case SRV_READ_DATA: return (ssize_t)n;
    case SRV_READ_WAIT: return 0;
    case SRV_READ_END: return MHD_CONTENT_READER_END_OF_STREAM;
    default: return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

/* Sends what the job has (or waits for it). Called when the job is attached and whenever its
 * connection is resumed before a response was queued. */
static int job_continue(srv_req *r) {
    int status = 500;
    cli_buf body = {0};
    switch (srv_job_poll(&r->s->jobs, r->job, &status, &body)) {
    case SRV_POLL_WAIT: return 0;
    case SRV_POLL_GONE: return -1; /* the client left while we waited: just close */
    case SRV_POLL_STREAM: {
        struct MHD_Response *resp =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_reader, r, NULL);
        if (!resp) return -1;
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        return queue(r, 200, resp, NULL);
    }
    default: break;
    }
    int rc = body.data ? srv_respond(r, status, "application/json", body.data, body.len)
                       : srv_respond_error(r, 500, "out of memory", NULL);
    cli_buf_free(&body);
    return rc;
}

srv_job *srv_req_defer(srv_req *r) {
    srv_job *j = srv_job_new(SRV_DEFERRED);
    if (!j) return NULL;
    if (srv_jobs_hold(&r->s->jobs, j, r->c)) {
        srv_job_free(j);
        return NULL;
    }
    r->job = j;
    return j;
}

int srv_respond_deferred(srv_req *r) { return job_continue(r); }

int srv_respond_job(srv_req *r, srv_job *j) {
    int st = srv_jobs_submit(&r->s->jobs, j, r->c);
    if (st) {
        srv_job_free(j);
        return srv_respond_error(r, st, st == 429 ? "The server's queue is full; retry later"
                                                  : "The server is shutting down", NULL);
    }
    r->job = j;
    return job_continue(r);
}

/* ---- routing ------------------------------------------------------------------------------------ */

/* Whether route matches path; sets *param for a "{id}" route. */
static int path_matches(const srv_route *rt, const char *path, const char **param) {
    const char *brace = strstr(rt->path, "{id}");
    if (!brace) return !strcmp(rt->path, path);
    size_t pre = (size_t)(brace - rt->path);
    if (strncmp(path, rt->path, pre) || !path[pre] || strchr(path + pre, '/')) return 0;
    *param = path + pre;
    return 1;
}

/* Finds the route of (method, path); -1 when none. *known: some route has the path; allow
 * lists the methods that have one. */
static int find_route(const struct srv_http *h, const char *method, const char *path,
                      const char **param, int *known, char *allow, size_t cap) {
    int found = -1;
    *known = 0;
    allow[0] = '\0';
    for (int i = 0; i < h->n_routes; i++) {
        const srv_route *rt = &h->routes[i];
        const char *p = NULL;
        if (!path_matches(rt, path, &p)) continue;
        *known = 1;
        size_t n = strlen(allow);
        snprintf(allow + n, cap - n, "%s%s%s", n ? ", " : "", rt->method,
                 !strcmp(rt->method, "GET") ? ", HEAD" : "");
        int same = !strcmp(rt->method, method) || (!strcmp(method, "HEAD") && !strcmp(rt->method, "GET"));
        if (same && found < 0) {
            found = i;
            *param = p;
        }
    }
    if (*known) {
        size_t n = strlen(allow);
        snprintf(allow + n, cap - n, ", OPTIONS");
    }
    return found;
}

/* Constant-time check of "Authorization: Bearer KEY" against every configured key. */
static int auth_ok(const server *s, struct MHD_Connection *c) {
    if (s->n_keys == 0) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) return 0;
    h += 7;
    size_t a = strlen(h);
    unsigned ok = 0;
    for (int k = 0; k < s->n_keys; k++) {
        const char *key = s->keys[k];
        size_t b = strlen(key);
        unsigned diff = (unsigned)(a != b);
        for (size_t i = 0; i < a && i < b; i++) diff |= (unsigned char)h[i] ^ (unsigned char)key[i];
        ok |= diff == 0;
    }
    return ok != 0;
}

/* The Origin to allow for this request (CORS), or NULL. */
static const char *allowed_origin(const server *s, struct MHD_Connection *c) {
    const char *o = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (!o) return NULL;
    for (int i = 0; i < s->n_cors; i++) {
        if (!strcmp(s->cors[i], "*")) return "*";
        if (!strcmp(s->cors[i], o)) return s->cors[i];
    }
    return NULL;
}

/* Answers OPTIONS on a known path: 204 with Allow, and the CORS preflight headers when the
 * origin is allowed. */
static int preflight(srv_req *r, const char *allow) {
    const char *req_h = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Access-Control-Request-Headers");
    int plain = req_h && *req_h && strlen(req_h) < 1024;
    for (const char *p = req_h; plain && *p; p++) /* header names, commas and spaces only */
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                *p == '-' || *p == '_' || *p == ',' || *p == ' ';
    const char *cors[] = {"Allow", allow, "Access-Control-Allow-Methods", allow,
                          "Access-Control-Allow-Headers", plain ? req_h : "Authorization, Content-Type",
                          "Access-Control-Max-Age", "600", NULL};
    if (!r->origin) cors[2] = NULL;
    return respond_h(r, 204, NULL, "", 0, cors);
}

/* Refuses request framings libmicrohttpd would mishandle (it waits for a body it cannot
 * delimit, or reads the first of several lengths). */
static enum MHD_Result count_content_length(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    (void)value;
    if (!strcasecmp(key, "Content-Length")) ++*(int *)cls;
    return MHD_YES;
}

static int bad_framing(srv_req *r) {
    const char *te = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Transfer-Encoding");
    int n_cl = 0;
    MHD_get_connection_values(r->c, MHD_HEADER_KIND, count_content_length, &n_cl);
    char m[200];
    if (te && strcasecmp(te, "chunked")) {
        snprintf(m, sizeof m, "Transfer-Encoding '%.60s' is not supported (only 'chunked')", te);
        return respond_error_h(r, 501, m, NULL, NULL) ? -1 : 1;
    }
    if (te && n_cl)
        return respond_error_h(r, 400, "A request must not have both Transfer-Encoding and Content-Length",
                               NULL, NULL) ? -1 : 1;
    if (n_cl > 1)
        return respond_error_h(r, 400, "Content-Length is given more than once", NULL, NULL) ? -1 : 1;
    return 0;
}

/* Routes a request: 404 / 405 / OPTIONS / 401 / 413, else its handler. Called at the first
 * callback when the request can be answered before its body (413 from Content-Length), else
 * once the body is complete. */
static int route(srv_req *r) {
    server *s = r->s;
    struct srv_http *h = s->http;
    int known = 0;
    char allow[128];
    r->route = find_route(h, r->method, r->path, &r->param, &known, allow, sizeof allow);
    if (!known) {
        char m[300];
        snprintf(m, sizeof m, "Unknown route: %.20s %.150s", r->method, r->path);
        return srv_respond_error(r, 404, m, NULL);
    }
    if (r->route < 0) {
        if (!strcmp(r->method, "OPTIONS")) return preflight(r, allow);
        char m[320];
        snprintf(m, sizeof m, "Method %.20s is not allowed on %.150s (use %.100s)", r->method, r->path, allow);
        const char *extra[] = {"Allow", allow, NULL};
        return respond_error_h(r, 405, m, NULL, extra);
    }
    const srv_route *rt = &h->routes[r->route];
    if ((rt->flags & SRV_ROUTE_KEY) && !auth_ok(s, r->c))
        return srv_respond_error(r, 401, "Incorrect or missing API key (send 'Authorization: Bearer KEY')", NULL);
    if ((rt->flags & SRV_ROUTE_MODEL) && (!atomic_load(&s->ready) || atomic_load(&s->draining))) {
        const char *retry[] = {"Retry-After", "5", NULL};
        return respond_error_h(r, 503, atomic_load(&s->draining) ? "The server is shutting down" : "The model is still loading",
                               NULL, retry);
    }
    if (r->too_big) {
        char m[200];
        snprintf(m, sizeof m, "The request body is larger than the limit of %zu bytes", s->max_body);
        return srv_respond_error(r, 413, m, NULL);
    }
    return rt->handler(r);
}

/* ---- libmicrohttpd callbacks -------------------------------------------------------------------- */

static enum MHD_Result ret(int rc) { return rc ? MHD_NO : MHD_YES; }

/* The first callback of a request (headers complete). */
static enum MHD_Result start_request(server *s, struct MHD_Connection *c, const char *url,
                                     const char *method, void **con_cls) {
    srv_req *r = calloc(1, sizeof *r);
    if (!r) return MHD_NO;
    r->s = s;
    r->c = c;
    r->route = -1;
    r->t0 = now_s();
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->path, sizeof r->path, "%s", url);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *a = ci ? ci->client_addr : NULL;
    if (a && a->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, r->client, sizeof r->client);
    else if (a && a->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, r->client, sizeof r->client);
    else
        snprintf(r->client, sizeof r->client, "-");
    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    r->conn = ci ? ci->socket_context : NULL;
    srv_conns_busy(r->conn, 1);
    r->origin = allowed_origin(s, c);
    *con_cls = r;
    int bad = bad_framing(r);
    if (bad) return ret(bad < 0);
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end != cl && n > s->max_body) { /* refuse before reading the body */
            r->too_big = 1;
            return ret(route(r));
        }
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)version;
    server *s = cls;
    srv_req *r = *con_cls;
    if (!r) return start_request(s, c, url, method, con_cls);
    if (*upload_data_size) { /* a piece of the body */
        if (!r->too_big && r->body.len + *upload_data_size <= s->max_body) {
            if (cli_buf_add(&r->body, upload_data, *upload_data_size)) r->too_big = 1;
        } else {
            r->too_big = 1; /* keep discarding; answered with 413 at the end */
            cli_buf_free(&r->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->status) return MHD_YES; /* answered already (early error) */
    if (r->job) return ret(job_continue(r));
    return ret(route(r));
}

/* One access-log line: time, client, method, path, status, tokens, milliseconds. */
static void access_log(srv_req *r, int aborted) {
    uint64_t pt = 0, ct = 0;
    if (r->job) srv_job_usage(&r->s->jobs, r->job, &pt, &ct);
    char path[160], when[32], line[400];
    size_t k = 0;
    for (const char *p = r->path; *p && k < sizeof path - 1; p++) /* printable ASCII only */
        path[k++] = *p > ' ' && *p < 127 ? *p : '?';
    path[k] = '\0';
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    char status[8] = "-";
    if (r->status) snprintf(status, sizeof status, "%d", r->status);
    int n = snprintf(line, sizeof line, "%s.%03dZ %s %s %s %s tokens=%llu+%llu ms=%.1f%s\n", when,
                     (int)(ts.tv_nsec / 1000000), r->client, r->method, path, status,
                     (unsigned long long)pt, (unsigned long long)ct, (now_s() - r->t0) * 1e3,
                     aborted ? " aborted" : "");
    if (n > 0) fwrite(line, 1, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1, stderr);
}

/* End of a request (complete, failed or the client went away). */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)c;
    server *s = cls;
    srv_req *r = *con_cls;
    if (!r) return;
    if (!s->quiet) access_log(r, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
    if (r->job) srv_job_detach(&s->jobs, r->job);
    srv_conns_busy(r->conn, 0);
    cli_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len) {
    (void)len;
    server *s = cls;
    return srv_conns_accept(s->http->conns, addr) ? MHD_YES : MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *a = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        *socket_context = fd ? srv_conns_opened(s->http->conns, fd->connect_fd, a ? a->client_addr : NULL) : NULL;
    } else {
        srv_conns_closed(s->http->conns, *socket_context);
        *socket_context = NULL;
    }
}

/* ---- start and stop ------------------------------------------------------------------------------ */

static struct MHD_Daemon *start_on(server *s, const struct sockaddr *addr, int port) {
    /* ITC: so that the listening socket can be closed while the daemon runs (srv_http_quiesce) */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
    if (addr->sa_family == AF_INET6) flags |= MHD_USE_IPv6;
    return MHD_start_daemon(flags, (uint16_t)port, on_accept, s, on_request, s,
                            MHD_OPTION_SOCK_ADDR, addr,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)s->timeout_s,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            /* above our own limit: evicted sockets close a moment later */
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(s->max_conn + 64),
                            MHD_OPTION_END);
}

int srv_http_start(server *s, const char *host, int port, const srv_route *routes, int n) {
    struct srv_http *h = calloc(1, sizeof *h);
    if (!h) return -1;
    s->http = h;
    h->routes = routes;
    h->n_routes = n;
    const char *labels[SRV_MAX_ROUTES];
    for (int i = 0; i < n && i < SRV_MAX_ROUTES; i++) labels[i] = routes[i].metric;
    srv_metrics_set_labels(&s->metrics, labels, n);
    h->conns = srv_conns_new(s->max_conn, s->max_conn_per_ip, &s->metrics);
    const srv_job_ops ops = {conn_suspend, conn_resume, conn_peer_gone};
    srv_jobs_set_ops(&s->jobs, &ops);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = h->conns ? getaddrinfo(host, NULL, &hints, &res) : EAI_MEMORY;
    if (gai) {
        fprintf(stderr, "rwkv: error: serve: cannot resolve --host '%.100s': %s\n", host, gai_strerror(gai));
        return -1;
    }
    for (struct addrinfo *a = res; a && !h->daemon; a = a->ai_next) {
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
        struct sockaddr_storage ss;
        memcpy(&ss, a->ai_addr, a->ai_addrlen);
        if (a->ai_family == AF_INET) ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
        else ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
        h->daemon = start_on(s, (struct sockaddr *)&ss, port);
        if (!h->daemon) continue;
        char num[INET6_ADDRSTRLEN] = "?";
        const void *raw = a->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)&ss)->sin_addr
                                                  : (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
        inet_ntop(a->ai_family, raw, num, sizeof num);
        const union MHD_DaemonInfo *i = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
        snprintf(h->bound, sizeof h->bound, a->ai_family == AF_INET6 ? "[%s]:%d" : "%s:%d", num,
                 i ? (int)i->port : port);
    }
    freeaddrinfo(res);
    if (!h->daemon) {
        fprintf(stderr, "rwkv: error: serve: cannot listen on %s port %d (address in use?)\n", host, port);
        return -1;
    }
    return 0;
}

const char *srv_http_bound(server *s) { return s->http ? s->http->bound : "?"; }

void srv_http_quiesce(server *s) {
    struct srv_http *h = s->http;
    if (!h || !h->daemon || h->quiesced) return;
    MHD_socket fd = MHD_quiesce_daemon(h->daemon);
    if (fd != MHD_INVALID_SOCKET) close(fd);
    h->quiesced = 1;
}

void srv_http_stop(server *s) {
    struct srv_http *h = s->http;
    if (!h) return;
    if (h->daemon) {
        /* let the last replies go out (every job has been answered by the scheduler) */
        for (int i = 0; i < 200; i++) {
            int alive = 0;
            srv_jobs_counts(&s->jobs, NULL, NULL, &alive);
            if (alive == 0) break;
            usleep(10000);
        }
        MHD_stop_daemon(h->daemon);
    }
    srv_conns_free(h->conns);
    free(h);
    s->http = NULL;
}
