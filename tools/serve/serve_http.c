/* serve_http.c — the HTTP layer on libmicrohttpd: routing, request bodies (bounded while they are
 * received), API keys, OpenAI error objects, JSON replies and Server-Sent Events.
 *
 * Waiting for the scheduler never blocks MHD's polling thread: a non-streaming request suspends
 * its connection until the job is done; a stream's content reader suspends the connection when
 * it has nothing to send, and the scheduler resumes it after writing more (srv_http_resume). */
#include "serve.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* What MHD keeps for one request (its *con_cls). */
typedef struct req_ctx {
    server *s;
    int endpoint;
    cli_buf body;
    int too_big;
    srv_job *job;
} req_ctx;

void srv_job_unref_locked(server *s, srv_job *j) {
    if (--j->refs > 0) return;
    s->jobs_alive--;
    srv_job_free(j);
}

void srv_http_resume(struct MHD_Connection *c) { MHD_resume_connection(c); }

int srv_http_peer_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return 0;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* Queues a response with body[0..len) and content type; counts it. */
static enum MHD_Result respond(req_ctx *r, struct MHD_Connection *c, int status, const char *ctype,
                               const char *body, size_t len, const char *allow) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", ctype);
    if (allow) MHD_add_response_header(resp, "Allow", allow);
    if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    pthread_mutex_lock(&r->s->mu);
    srv_metrics_count_locked(r->s, r->endpoint, status);
    pthread_mutex_unlock(&r->s->mu);
    return ok;
}

/* An OpenAI error object: {"error": {"message", "type", "param", "code"}}. */
static enum MHD_Result respond_error(req_ctx *r, struct MHD_Connection *c, int status,
                                     const char *message, const char *param, const char *allow) {
    const char *type = status >= 500 ? "server_error" : "invalid_request_error";
    const char *code = status == 401 ? "invalid_api_key"
                       : status == 404 ? (param && !strcmp(param, "model") ? "model_not_found" : "not_found")
                       : status == 405 ? "method_not_allowed"
                       : status == 413 ? "request_too_large"
                       : status == 429 ? "rate_limit_exceeded"
                       : status == 503 ? "overloaded" : NULL;
    if (status == 429) type = "rate_limit_error";
    size_t mlen;
    char *msg = srv_utf8_sanitize(message, strlen(message), &mlen);
    json_t *o = json_pack("{s:{s:s%, s:s, s:o, s:o}}", "error", "message", msg ? msg : "error", msg ? mlen : 5,
                          "type", type, "param", param && *param ? json_string(param) : json_null(),
                          "code", code ? json_string(code) : json_null());
    free(msg);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    enum MHD_Result ok = respond(r, c, status, "application/json", txt ? txt : "{}", txt ? strlen(txt) : 2, allow);
    free(txt);
    return ok;
}

/* Sends a JSON value (released). */
static enum MHD_Result respond_json(req_ctx *r, struct MHD_Connection *c, json_t *o) {
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!txt) return respond_error(r, c, 500, "out of memory", NULL, NULL);
    enum MHD_Result ok = respond(r, c, 200, "application/json", txt, strlen(txt), NULL);
    free(txt);
    return ok;
}

/* The content reader of a stream: copies what the scheduler wrote, or suspends the connection
 * until it writes more. */
static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    req_ctx *r = cls;
    server *s = r->s;
    srv_job *j = r->job;
    ssize_t n;
    pthread_mutex_lock(&s->mu);
    if (j->out_pos < j->out.len) {
        size_t k = j->out.len - j->out_pos;
        if (k > max) k = max;
        memcpy(buf, j->out.data + j->out_pos, k);
        j->out_pos += k;
        if (j->out_pos == j->out.len) j->out_pos = j->out.len = 0;
        n = (ssize_t)k;
    } else if (j->done) {
        n = j->cancelled ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        j->suspended = 1;
        MHD_suspend_connection(j->conn);
        n = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Constant-time comparison of the Authorization header with "Bearer KEY". */
static int auth_ok(const server *s, struct MHD_Connection *c) {
    if (!s->api_key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) return 0;
    h += 7;
    size_t a = strlen(h), b = strlen(s->api_key);
    unsigned diff = (unsigned)(a != b);
    for (size_t i = 0; i < a && i < b; i++) diff |= (unsigned char)h[i] ^ (unsigned char)s->api_key[i];
    return diff == 0;
}

/* GET /v1/models and /v1/models/{id}. */
static json_t *model_object(const server *s) {
    return json_pack("{s:s, s:s, s:I, s:s}", "id", s->model_id, "object", "model", "created",
                     (json_int_t)0, "owned_by", "rwkv.c");
}

/* Handles a POST to /v1/completions or /v1/chat/completions once its body is complete. */
static enum MHD_Result start_job(req_ctx *r, struct MHD_Connection *c) {
    server *s = r->s;
    char msg[512], param[64];
    srv_job *j = NULL;
    srv_kind kind = r->endpoint == SRV_EP_CHAT ? SRV_CHAT : SRV_COMPLETION;
    int st = srv_parse_request(s, kind, r->body.data ? r->body.data : "", r->body.len, &j, msg,
                               sizeof msg, param, sizeof param);
    if (st) return respond_error(r, c, st, msg, param, NULL);
    static atomic_ullong counter;
    snprintf(j->id, sizeof j->id, "%s-%llx%06llx", kind == SRV_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)time(NULL), (unsigned long long)atomic_fetch_add(&counter, 1));
    j->conn = c;
    j->refs = 1; /* the HTTP side */
    pthread_mutex_lock(&s->mu);
    s->jobs_alive++;
    st = srv_sched_enqueue_locked(s, j);
    if (st) {
        srv_job_unref_locked(s, j);
        pthread_mutex_unlock(&s->mu);
        return respond_error(r, c, st,
                             st == 429 ? "The server's queue is full; retry later"
                                       : "The server is shutting down",
                             NULL, NULL);
    }
    r->job = j;
    if (j->stream) {
        pthread_mutex_unlock(&s->mu);
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_reader, r, NULL);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        pthread_mutex_lock(&s->mu);
        srv_metrics_count_locked(s, r->endpoint, 200);
        pthread_mutex_unlock(&s->mu);
        return ok;
    }
    j->suspended = 1; /* resumed by the scheduler when the reply is complete */
    MHD_suspend_connection(c);
    pthread_mutex_unlock(&s->mu);
    return MHD_YES;
}

/* A non-streaming job's connection was resumed: send its reply (or wait again). */
static enum MHD_Result finish_job(req_ctx *r, struct MHD_Connection *c) {
    server *s = r->s;
    srv_job *j = r->job;
    pthread_mutex_lock(&s->mu);
    if (!j->done) {
        j->suspended = 1;
        MHD_suspend_connection(c);
        pthread_mutex_unlock(&s->mu);
        return MHD_YES;
    }
    if (j->cancelled) { /* the client left while we waited: just close */
        pthread_mutex_unlock(&s->mu);
        return MHD_NO;
    }
    cli_buf body = {0};
    int status = j->status ? j->status : 500;
    int oom = cli_buf_add(&body, j->out.data ? j->out.data : "", j->out.len);
    pthread_mutex_unlock(&s->mu);
    if (oom) return respond_error(r, c, 500, "out of memory", NULL, NULL);
    enum MHD_Result ok = respond(r, c, status, "application/json", body.data, body.len, NULL);
    cli_buf_free(&body);
    return ok;
}

/* Routes a complete request. */
static enum MHD_Result route(req_ctx *r, struct MHD_Connection *c, const char *url, const char *method) {
    server *s = r->s;
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    int ep = r->endpoint;
    int is_model = !strncmp(url, "/v1/models/", 11);
    if (ep == SRV_EP_OTHER && !is_model) {
        char m[300];
        snprintf(m, sizeof m, "Unknown route: %.100s %.150s", method, url);
        return respond_error(r, c, 404, m, NULL, NULL);
    }
    int wants_post = ep == SRV_EP_COMPLETIONS || ep == SRV_EP_CHAT;
    if (wants_post ? !post : !get) {
        char m[300];
        snprintf(m, sizeof m, "Method %.20s is not allowed on %.150s (use %s)", method, url,
                 wants_post ? "POST" : "GET");
        return respond_error(r, c, 405, m, NULL, wants_post ? "POST" : "GET, HEAD");
    }
    int needs_key = ep == SRV_EP_MODELS || ep == SRV_EP_COMPLETIONS || ep == SRV_EP_CHAT || is_model;
    if (needs_key && !auth_ok(s, c))
        return respond_error(r, c, 401, "Incorrect or missing API key (send 'Authorization: Bearer KEY')", NULL, NULL);
    if (r->too_big) {
        char m[200];
        snprintf(m, sizeof m, "The request body is larger than the limit of %zu bytes", s->max_body);
        return respond_error(r, c, 413, m, NULL, NULL);
    }
    switch (ep) {
    case SRV_EP_HEALTH: return respond(r, c, 200, "application/json", "{\"status\":\"ok\"}", 15, NULL);
    case SRV_EP_METRICS: {
        size_t len = 0;
        char *txt = srv_metrics_render(s, &len);
        enum MHD_Result ok = respond(r, c, 200, "text/plain; version=0.0.4", txt ? txt : "", txt ? len : 0, NULL);
        free(txt);
        return ok;
    }
    case SRV_EP_PAGE:
        return respond(r, c, 200, "text/html; charset=utf-8", srv_page_html, srv_page_len(), NULL);
    case SRV_EP_MODELS:
        return respond_json(r, c, json_pack("{s:s, s:[o]}", "object", "list", "data", model_object(s)));
    case SRV_EP_OTHER: /* /v1/models/{id} */
        if (strcmp(url + 11, s->model_id)) {
            char m[300];
            snprintf(m, sizeof m, "The model '%.150s' does not exist", url + 11);
            return respond_error(r, c, 404, m, "model", NULL);
        }
        return respond_json(r, c, model_object(s));
    default: return start_job(r, c);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)version;
    server *s = cls;
    req_ctx *r = *con_cls;
    if (!r) { /* first call: headers only */
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->s = s;
        r->endpoint = srv_metrics_endpoint(url);
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            unsigned long long n = strtoull(cl, &end, 10);
            if (end != cl && n > s->max_body) { /* refuse before reading the body */
                r->too_big = 1;
                return route(r, c, url, method);
            }
        }
        return MHD_YES;
    }
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
    if (r->job) return finish_job(r, c);
    return route(r, c, url, method);
}

/* End of a request (complete, failed or the client went away): release our side of the job. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)c;
    (void)toe;
    server *s = cls;
    req_ctx *r = *con_cls;
    if (!r) return;
    if (r->job) {
        pthread_mutex_lock(&s->mu);
        r->job->conn_gone = 1;
        r->job->conn = NULL;
        srv_job_unref_locked(s, r->job);
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->mu);
    }
    cli_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

int srv_http_start(server *s, const char *host, int port) {
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    struct sockaddr *addr;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
        addr = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
        addr = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        fprintf(stderr, "rwkv: error: serve: --host '%.100s' is not an IPv4 or IPv6 address\n", host);
        return -1;
    }
    s->daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, addr,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)s->timeout_s,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1000,
                                 MHD_OPTION_END);
    if (!s->daemon) {
        fprintf(stderr, "rwkv: error: serve: cannot listen on %s:%d (address in use?)\n", host, port);
        return -1;
    }
    return 0;
}

int srv_http_port(server *s) {
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return i ? (int)i->port : -1;
}

void srv_http_stop(server *s) {
    if (!s->daemon) return;
    /* let the last replies go out (every job has been finished by the scheduler) */
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&s->mu);
        int alive = s->jobs_alive;
        pthread_mutex_unlock(&s->mu);
        if (alive == 0) break;
        usleep(10000);
    }
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
}
