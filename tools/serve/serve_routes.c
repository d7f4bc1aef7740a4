/* serve_routes.c — every HTTP endpoint of `rwkv serve`: the routes table and its handlers.
 * To add an endpoint: one row here and one handler (answering with the srv_respond* calls of
 * serve_http.c). serve_http.c does the rest: 404 for unknown paths, 405 with Allow for other
 * methods, OPTIONS/CORS, the API key (SRV_ROUTE_KEY), body limits and the /metrics count
 * under the row's label. */
#include "serve.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static int page(srv_req *r) {
    return srv_respond(r, 200, "text/html; charset=utf-8", srv_page_html, srv_page_len());
}

/* 200 once the model is loaded; 503 while it loads and while the server drains (SIGTERM), so
 * that a load balancer sends requests elsewhere. */
static int health(srv_req *r) {
    const server *s = srv_req_server(r);
    if (!atomic_load(&s->ready)) return srv_respond(r, 503, "application/json", "{\"status\":\"loading\"}", 20);
    if (atomic_load(&s->draining)) return srv_respond(r, 503, "application/json", "{\"status\":\"draining\"}", 21);
    return srv_respond(r, 200, "application/json", "{\"status\":\"ok\"}", 15);
}

static int metrics(srv_req *r) {
    size_t len = 0;
    char *txt = srv_metrics_render(srv_req_server(r), &len);
    int rc = txt ? srv_respond(r, 200, "text/plain; version=0.0.4", txt, len)
                 : srv_respond_error(r, 500, "out of memory", NULL);
    free(txt);
    return rc;
}

/* A model object; "meta" (an extension) tells clients the server's limits. */
static json_t *model_object(const server *s, const char *id) {
    return json_pack("{s:s, s:s, s:I, s:s, s:{s:i, s:i}}", "id", id, "object", "model", "created",
                     (json_int_t)0, "owned_by", "rwkv.c", "meta", "max_tokens", s->max_tokens_cap,
                     "n_vocab", s->info.n_vocab);
}

static int models(srv_req *r) {
    const server *s = srv_req_server(r);
    json_t *data = json_array();
    json_array_append_new(data, model_object(s, s->model_id));
    for (int i = 0; i < s->n_aliases; i++) json_array_append_new(data, model_object(s, s->aliases[i]));
    return srv_respond_json(r, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

/* GET /v1/models/{id}: the served id or an alias; another name is the served model unless
 * --strict-model. */
static int model(srv_req *r) {
    const server *s = srv_req_server(r);
    const char *id = srv_req_param(r);
    if (!srv_model_accepts(s, id)) {
        char m[300];
        snprintf(m, sizeof m, "The model '%.150s' does not exist", id);
        return srv_respond_error(r, 404, m, "model");
    }
    int named = !strcmp(id, s->model_id);
    for (int i = 0; i < s->n_aliases; i++) named |= !strcmp(id, s->aliases[i]);
    return srv_respond_json(r, model_object(s, named ? id : s->model_id));
}

/* POST of a generation: parse, then queue and answer when the scheduler has the reply. */
static int generate(srv_req *r, srv_kind kind) {
    server *s = srv_req_server(r);
    char msg[512], param[64];
    size_t len = 0;
    const char *body = srv_req_body(r, &len);
    srv_job *j = NULL;
    int st = srv_parse_request(s, kind, body, len, &j, msg, sizeof msg, param, sizeof param);
    if (st) return srv_respond_error(r, st, msg, param);
    return srv_respond_job(r, j);
}

static int completions(srv_req *r) { return generate(r, SRV_COMPLETION); }
static int chat(srv_req *r) { return generate(r, SRV_CHAT); }
static int responses(srv_req *r) { return generate(r, SRV_RESPONSE); }

/* GET and DELETE /v1/responses/{id}: the record is read (or deleted) by the state store, in this
 * process or (--state-store) in Redis; the answer is posted to a deferred job when it comes. */
typedef struct record_query {
    srv_jobs *jobs;
    srv_job *job;
    int del;
    char id[96];
} record_query;

static void post_json(record_query *q, int status, const char *body, size_t len) {
    srv_job_post(q->jobs, q->job, status, body, len, 1);
    free(q);
}

static void record_answer(void *arg, int status, const char *data, size_t len) {
    record_query *q = arg;
    srv_record rec;
    if (status > 0 && q->del) {
        json_t *o = json_pack("{s:s, s:s, s:b}", "id", q->id, "object", "response.deleted", "deleted", 1);
        char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (txt) {
            post_json(q, 200, txt, strlen(txt));
            free(txt);
            return;
        }
    } else if (status > 0 && srv_record_parse(data, len, &rec) == 0) {
        post_json(q, 200, rec.response, rec.response_len);
        srv_record_free(&rec);
        return;
    }
    char m[300];
    snprintf(m, sizeof m, "No response found with id '%.80s'.%s", q->id,
             status < 0 ? " (The state store did not answer.)" : "");
    char *err = srv_error_json(404, m, NULL);
    post_json(q, 404, err, strlen(err));
    free(err);
}

static int record_route(srv_req *r, int del) {
    server *s = srv_req_server(r);
    record_query *q = calloc(1, sizeof *q);
    srv_job *j = q ? srv_req_defer(r) : NULL;
    if (!j) {
        free(q);
        return srv_respond_error(r, 503, "The server is shutting down", NULL);
    }
    q->jobs = &s->jobs;
    q->job = j;
    q->del = del;
    snprintf(q->id, sizeof q->id, "%s", srv_req_param(r));
    if (del) srv_store_del_record(s->store, q->id, record_answer, q);
    else srv_store_get_record(s->store, q->id, record_answer, q);
    return srv_respond_deferred(r);
}

static int response_get(srv_req *r) { return record_route(r, 0); }
static int response_delete(srv_req *r) { return record_route(r, 1); }

const srv_route srv_routes[] = {
    {"GET", "/", page, "/", 0},
    {"GET", "/index.html", page, "/", 0},
    {"GET", "/health", health, "/health", 0},
    {"GET", "/metrics", metrics, "/metrics", 0},
    {"GET", "/v1/models", models, "/v1/models", SRV_ROUTE_KEY | SRV_ROUTE_MODEL},
    {"GET", "/v1/models/{id}", model, "/v1/models/{id}", SRV_ROUTE_KEY | SRV_ROUTE_MODEL},
    {"POST", "/v1/completions", completions, "/v1/completions", SRV_ROUTE_KEY | SRV_ROUTE_MODEL},
    {"POST", "/v1/chat/completions", chat, "/v1/chat/completions", SRV_ROUTE_KEY | SRV_ROUTE_MODEL},
    {"POST", "/v1/responses", responses, "/v1/responses", SRV_ROUTE_KEY | SRV_ROUTE_MODEL},
    {"GET", "/v1/responses/{id}", response_get, "/v1/responses/{id}", SRV_ROUTE_KEY | SRV_ROUTE_MODEL},
    {"DELETE", "/v1/responses/{id}", response_delete, "/v1/responses/{id}", SRV_ROUTE_KEY | SRV_ROUTE_MODEL},
};
const int srv_n_routes = (int)(sizeof srv_routes / sizeof srv_routes[0]);
