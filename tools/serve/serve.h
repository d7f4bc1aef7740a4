/* serve.h — internals of `rwkv serve` (tools/serve/), an OpenAI-compatible HTTP server.
 *
 * Files, from the bottom layer up (a file calls only files above it in this list; the job
 * module reaches the HTTP side through callbacks, so no two files call each other):
 *   serve_util.c     buffers, OpenAI error objects                                   (srv_*)
 *   serve_job.c      a request's life: creation, queue, admission, the reply handed from the
 *                    scheduler to the HTTP side, cancellation, shutdown              (srv_job*)
 *   serve_cache.c    prompt-state cache: text prefix -> state + logits, LRU in bytes (srv_cache_*)
 *   serve_metrics.c  counters and the Prometheus text of GET /metrics             (srv_metrics_*)
 *   serve_request.c  JSON request parsing/validation, G1 prompt building          (srv_parse_*)
 *   serve_reply.c    generated text -> OpenAI objects through the library's rwkv_stream (stop
 *                    strings, UTF-8 hold-back, <think> split): SSE chunks or the final JSON
 *                                                                                   (srv_reply_*)
 *   serve_tools.c    response_format, text.format and tools: the request's grammar, tool calls in
 *                    the prompt and in replies, the per-request matcher (serve_tools.h)
 *                                                               (srv_constraint_*, srv_guide_*)
 *   serve_sched.c    the scheduler thread: admission, round-robin chunked prefill, batched
 *                    decode, sampling                                               (srv_sched_*)
 *   serve_conn.c     connection accounting: per-IP limit, eviction of idle connections
 *   serve_http.c     libmicrohttpd glue: routing through a table, bodies, keys, CORS, access
 *                    log, responses, streams                                        (srv_http_*)
 *   serve_routes.c   THE routes table {method, path, handler, metric} and the handlers
 *   serve_page.c     the web chat page (tools/serve/web/index.html, embedded with .incbin)
 *   serve.c          command line, start-up, signals, shutdown                     (cmd_serve)
 *
 * Threads: libmicrohttpd's internal polling thread runs every HTTP callback; one scheduler
 * thread owns the model, the states, the samplers and the cache. They meet in srv_job objects
 * owned by serve_job.c (server.jobs), under that module's mutex. */
#ifndef RWKV_SERVE_H
#define RWKV_SERVE_H

#include "cli/cli.h"
#include "cli/g1.h"
#include "serve_store.h"
#include "rwkv.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum { SRV_MAX_STOPS = 4, SRV_PREFILL_CHUNK = 64, SRV_MAX_SEGMENTS_LIMIT = 4096 };

/* ---- serve_util.c ---------------------------------------------------------------------------- */

/* Appends a printf-formatted string; -1 on failure. */
int srv_buf_printf(cli_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* OpenAI's error object {"error": {"message", "type", "param", "code"}} for an HTTP status
 * (type and code follow from the status; param may be NULL or ""). Malloc'd JSON text; never
 * NULL (a fixed text when out of memory, which must still be freed). */
char *srv_error_json(int status, const char *message, const char *param);

/* ---- serve_job.c ----------------------------------------------------------------------------- */

/* What a job is: a generation (the first three, run by the scheduler), or a request answered by
 * someone else through the job's hand-off (a state-store read: srv_jobs_hold). */
typedef enum srv_kind { SRV_COMPLETION = 0, SRV_CHAT = 1, SRV_RESPONSE = 2, SRV_DEFERRED = 3 } srv_kind;

/* One request. The parser fills the request part before srv_jobs_submit; afterwards it is
 * read-only and both sides may read it. Everything else is private to serve_job.c. */
typedef struct srv_job {
    /* the request */
    srv_kind kind;
    int stream, include_usage;
    char *prompt;              /* the full prompt text */
    size_t prompt_len;
    size_t *seg_end;           /* the prompt is encoded segment by segment: ends of segments */
    size_t n_seg;
    int max_tokens;
    rwkv_sampler_params sp;
    char *stop[SRV_MAX_STOPS + 1]; /* user stops (+ "\n\n" for chat) */
    size_t stop_len[SRV_MAX_STOPS + 1];
    int n_stop;
    g1_think think;
    size_t mark;               /* chat: where the final "Assistant:" starts (a cache point), or 0 */
    struct srv_constraint *constraint; /* response_format / tools (serve_tools.c), or NULL */
    /* the Responses API (SRV_RESPONSE) */
    char prev_id[72];          /* previous_response_id: the prompt continues its conversation */
    int store;                 /* keep the response (GET /v1/responses/{id}, previous_response_id) */
    char *echo;                /* JSON object: the request fields the response object repeats */
    char id[48];               /* "chatcmpl-...", "cmpl-...", "resp_..." (set by srv_jobs_submit) */
    long long created;
    /* the hand-off (serve_job.c, under srv_jobs.mu) */
    cli_buf out;               /* reply bytes not yet taken by the HTTP side */
    size_t out_pos;
    int status;                /* 0 until the scheduler decides; then the HTTP status */
    int done;                  /* the scheduler has posted everything */
    int detached;              /* the HTTP side is finished with this job */
    int suspended;             /* the connection is suspended waiting for this job */
    int cancelled;             /* the client left: close without (the rest of) a reply */
    int admitted;              /* taken by the scheduler */
    void *conn;                /* the HTTP side's connection (while not detached) */
    int refs;                  /* HTTP side + scheduler */
    uint64_t usage_prompt, usage_completion; /* for the access log, set when done */
    struct srv_job *next;      /* queue link */
} srv_job;

/* How the job module reaches the HTTP side (set by serve_http.c). suspend and peer_gone are
 * called with the job lock held; resume without it. */
typedef struct srv_job_ops {
    void (*suspend)(void *conn);
    void (*resume)(void *conn);
    int (*peer_gone)(void *conn); /* 1 if the peer of a suspended connection has left */
} srv_job_ops;

typedef struct srv_jobs {
    pthread_mutex_t mu;
    pthread_cond_t wake;       /* a job was queued or detached, or shutdown */
    srv_job *head, *tail;      /* the queue (FIFO) */
    int queued, max_queue;
    int active;                /* admitted and not yet released */
    int alive;                 /* submitted and not yet freed */
    int stopping;
    int poked;                 /* srv_jobs_poke since the scheduler last looked */
    atomic_ullong cancelled;   /* jobs dropped because their client left */
    srv_job_ops ops;
} srv_jobs;

int srv_jobs_init(srv_jobs *h, int max_queue);
void srv_jobs_destroy(srv_jobs *h);
void srv_jobs_set_ops(srv_jobs *h, const srv_job_ops *ops);

/* A new, empty job (refs 0, in no queue). NULL when out of memory. */
srv_job *srv_job_new(srv_kind kind);
/* Frees a job that was never submitted (or, internally, one whose last reference went). */
void srv_job_free(srv_job *j);

/* -- the HTTP side -- */
/* Ties a job to conn without queueing it: whoever answers it ends with srv_job_post(finished).
 * 0, or 503 when the server is stopping (the caller still owns the job). */
int srv_jobs_hold(srv_jobs *h, srv_job *j, void *conn);
/* Names the job, queues it for the scheduler and ties it to conn. 0 on success (the job now
 * belongs to the module: the HTTP side must end with srv_job_detach); 429 when the queue is
 * full or 503 when the server is stopping (the caller still owns and frees the job). */
int srv_jobs_submit(srv_jobs *h, srv_job *j, void *conn);
typedef enum srv_job_poll_result {
    SRV_POLL_WAIT,   /* nothing to send yet: the connection was suspended and will be resumed */
    SRV_POLL_GONE,   /* the client left: close the connection without a reply */
    SRV_POLL_STREAM, /* status 200 and a stream: read its body with srv_job_read */
    SRV_POLL_REPLY   /* the complete reply: *status and *body */
} srv_job_poll_result;
/* What to answer. body (filled for SRV_POLL_REPLY) is the caller's to free. */
srv_job_poll_result srv_job_poll(srv_jobs *h, srv_job *j, int *status, cli_buf *body);
typedef enum srv_job_read_result { SRV_READ_DATA, SRV_READ_WAIT, SRV_READ_END, SRV_READ_ABORT } srv_job_read_result;
/* Copies up to max bytes of a stream's body into buf (*n). SRV_READ_WAIT: the connection was
 * suspended until there is more; SRV_READ_END: all sent; SRV_READ_ABORT: the client left. */
srv_job_read_result srv_job_read(srv_jobs *h, srv_job *j, char *buf, size_t max, size_t *n);
/* The connection is finished with the job (completed, failed or gone); drops its reference. */
void srv_job_detach(srv_jobs *h, srv_job *j);
/* Tokens of a job (0 until it is done), for the access log. */
void srv_job_usage(srv_jobs *h, srv_job *j, uint64_t *prompt, uint64_t *completion);

/* -- the scheduler -- */
/* Waits while there is nothing to do (busy = the scheduler has work; otherwise at most wait_ms
 * when wait_ms > 0, or until srv_jobs_poke), then takes up to max queued jobs into out (skipping
 * those whose client left). Returns how many, or -1 when the server is stopping. */
int srv_jobs_admit(srv_jobs *h, srv_job **out, int max, int busy, int wait_ms);
/* Wakes the scheduler (something it waits for has happened); any thread. */
void srv_jobs_poke(srv_jobs *h);
/* Hands reply bytes to the HTTP side. The first call's status becomes the HTTP status (200 for a
 * stream that may start; for a plain reply the call with finished). finished: nothing more will
 * come; the scheduler's reference is dropped (j must not be used afterwards). */
void srv_job_post(srv_jobs *h, srv_job *j, int status, const char *data, size_t len, int finished);
/* 1 when the job's client has left: its connection is detached, or (check_peer) it is
 * suspended and its peer has closed; the job is then marked cancelled. */
int srv_job_abandoned(srv_jobs *h, srv_job *j, int check_peer);
/* Sets the access-log token counts (before the final srv_job_post). */
void srv_job_set_usage(srv_jobs *h, srv_job *j, uint64_t prompt, uint64_t completion);
/* Starts the shutdown: new submissions get 503, srv_jobs_admit returns -1. */
void srv_jobs_stop(srv_jobs *h);
/* Answers every queued job with status and body (the JSON of srv_error_json) and empties the
 * queue. */
void srv_jobs_fail_queued(srv_jobs *h, int status, const char *body);
/* Queue length and admitted jobs, for /metrics. */
void srv_jobs_counts(srv_jobs *h, int *queued, int *active, int *alive);

/* ---- serve_cache.c: the in-process store ---------------------------------------------------- */

typedef struct srv_cache srv_cache;
/* max_bytes 0 = off (nothing is kept); ttl_s applies to byte entries (0 = none). */
srv_cache *srv_cache_new(size_t max_bytes, int ttl_s);
void srv_cache_free(srv_cache *c);
/* The longest cached text that is a prefix of text[0..len) (at least 1 byte); copies its state
 * into state and its logits into logits, returns its length and sets *n_tokens. 0 if none. */
size_t srv_cache_lookup(srv_cache *c, const char *text, size_t len, rwkv_state *state,
                        float *logits, size_t n_vocab, uint64_t *n_tokens);
/* Stores a copy of (text, state, logits); evicts least recently used entries to fit. */
void srv_cache_store(srv_cache *c, const char *text, size_t len, const rwkv_state *state,
                     const float *logits, size_t n_vocab, uint64_t n_tokens);
/* Drops the state entry of exactly text[0..len), if any. */
void srv_cache_forget(srv_cache *c, const char *text, size_t len);
void srv_cache_usage(srv_cache *c, size_t *bytes, size_t *entries);
/* Byte entries: the memory implementation of the state-store interface (self = the cache). */
extern const srv_backend_ops srv_cache_ops;

/* ---- serve_metrics.c ------------------------------------------------------------------------- */

enum { SRV_MAX_ROUTES = 16 };
enum { SRV_ST_200, SRV_ST_204, SRV_ST_400, SRV_ST_401, SRV_ST_404, SRV_ST_405, SRV_ST_413,
       SRV_ST_429, SRV_ST_500, SRV_ST_501, SRV_ST_503, SRV_ST_COUNT };
/* The counters of GET /metrics (all atomic: any thread may count). Request counts are kept per
 * route label (the routes table's metric column; the last slot counts unknown routes). */
typedef struct srv_metrics {
    const char *labels[SRV_MAX_ROUTES + 1];
    int n_labels;
    atomic_ullong requests[SRV_MAX_ROUTES + 1][SRV_ST_COUNT];
    atomic_ullong prompt_tokens, prefill_tokens, generated_tokens, cache_hits, cache_misses,
        cache_hit_tokens, decode_steps, prefill_chunks,
        conn_refused, conn_evicted;
    /* scheduler time in nanoseconds: busy steps, inside the model, sampling */
    atomic_ullong sched_ns, model_ns, sample_ns;
} srv_metrics;

/* Sets the request labels: one per route (labels[i] for route i) and "other" after them. */
void srv_metrics_set_labels(srv_metrics *m, const char *const *labels, int n);
/* Counts an answered request of route (-1 = unknown route). */
void srv_metrics_count(srv_metrics *m, int route, int status);

/* ---- the server ------------------------------------------------------------------------------ */

enum { SRV_MAX_KEYS = 64, SRV_MAX_ALIASES = 16, SRV_MAX_CORS = 16 };

typedef struct server {
    /* configuration (read-only after start) */
    rwkv_model *model;
    rwkv_tokenizer *tok;
    rwkv_model_info info;
    char model_id[128];
    const char *aliases[SRV_MAX_ALIASES];
    int n_aliases;
    int strict_model;           /* refuse model names other than the id and the aliases */
    char *keys[SRV_MAX_KEYS];   /* accepted API keys (none: no key needed) */
    int n_keys;
    const char *cors[SRV_MAX_CORS]; /* allowed origins ("*" = any) */
    int n_cors;
    size_t max_body;
    int parallel, max_tokens_cap, timeout_s;
    int max_conn, max_conn_per_ip;
    int quiet;                  /* no access log */
    size_t cache_bytes;
    char replica_id[128];       /* --replica-id, or host:port once bound */
    _Atomic(const char *) replica; /* replica_id once set: /metrics, the X-Replica-Id header */
    int store_timeout_ms;       /* how long a request waits for the shared store */
    /* shared */
    atomic_int ready;           /* the model is loaded and the scheduler runs */
    atomic_int draining;        /* SIGTERM: finishing what was admitted, refusing the rest */
    srv_jobs jobs;
    srv_metrics metrics;
    srv_cache *cache;           /* the in-process store (its own lock) */
    srv_store *store;           /* the state store's front (its own threads) */
    /* scheduler-owned */
    struct srv_guides *guides;  /* grammars' token trie and matcher cache (serve_tools.c) */
    pthread_t sched_thread;
    /* HTTP-owned */
    struct srv_http *http;
} server;

/* Renders the Prometheus text of s's counters (caller frees). */
char *srv_metrics_render(server *s, size_t *len);

/* 1 when name may be used as the model of a request (the id, an alias, or anything unless
 * --strict-model). */
int srv_model_accepts(const server *s, const char *name);

/* ---- serve_request.c ------------------------------------------------------------------------- */

/* Parses and validates a request body for kind. On success returns a new job (not submitted)
 * and 0; on failure returns the HTTP status (400/404/500) and fills msg/param (param may be ""). */
int srv_parse_request(const server *s, srv_kind kind, const char *body, size_t len, srv_job **out,
                      char *msg, size_t msg_cap, char *param, size_t param_cap);

/* ---- serve_reply.c --------------------------------------------------------------------------- */

/* The output of one job under construction: every generated byte, the output stream that
 * releases them (stop strings, UTF-8 hold-back, <think> split), and the bytes for the HTTP side. */
typedef struct srv_reply {
    const server *s;
    const srv_job *job;
    cli_buf gen;               /* every generated byte */
    rwkv_stream *stream;
    cli_buf content, reasoning;/* for non-streaming replies */
    int sent_role;
    int streaming;             /* the stream has started (status 200 posted): the end is SSE too */
    cli_buf pend;              /* output not yet handed to the HTTP side */
    struct json_t *chunk[2];   /* the streamed text chunk (content, reasoning), built once: */
    struct json_t *chunk_text[2]; /* only its text changes from token to token */
    char *scratch;             /* JSON text of one chunk */
    size_t scratch_cap;
    struct json_t *tool_calls; /* the reply's tool_calls (serve_tools.c), or NULL */
    /* the Responses API */
    struct json_t *echo;       /* the request's fields repeated in the response object */
    int seq;                   /* sequence_number of the next event */
    int item;                  /* the output item open in the stream: 0 none, 1 reasoning, 2 message */
    int n_items;               /* output items opened so far */
    int n_tokens, reasoning_tokens;
    char *final;               /* the finished response object (JSON), for the stored record */
} srv_reply;

/* -1 when out of memory (srv_reply_free is still needed). */
int srv_reply_init(srv_reply *r, const server *s, const srv_job *j);
/* The opening of a stream (Responses: response.created, response.in_progress) into pend. */
int srv_reply_start(srv_reply *r);
void srv_reply_free(srv_reply *r);
/* Adds the bytes of one generated token; returns 1 when a stop string ended the reply, 0 if not,
 * -1 on failure. */
int srv_reply_add(srv_reply *r, const char *bytes, size_t len);
/* Releases the bytes held back for stop strings (they are known not to start one). -1 on failure. */
int srv_reply_flush(srv_reply *r);
/* Appends a streamed chat chunk with this delta (released; the first one also names the role). */
int srv_reply_delta(srv_reply *r, struct json_t *delta);
/* How a reply ends. */
typedef enum srv_reply_end { SRV_END_OK, SRV_END_INTERNAL, SRV_END_SHUTDOWN } srv_reply_end;
/* Writes an error that ends the job before its stream started (a JSON body) or after (an SSE
 * error event): status, message and param as for srv_error_json. Returns status. */
int srv_reply_fail(srv_reply *r, int status, const char *message, const char *param);
/* Writes the end of the reply into pend: the held-back text, the finish chunk, usage and [DONE]
 * (a stream that has started) or the whole JSON body; with an error end an error object instead
 * (an SSE event in a started stream). Returns the HTTP status of a plain reply (200, 500, 503). */
int srv_reply_finish(srv_reply *r, srv_reply_end end, const char *finish, uint64_t prompt_tokens,
                     uint64_t cached_tokens, int n_gen);

/* ---- serve_sched.c --------------------------------------------------------------------------- */

int srv_sched_start(server *s);
/* Finishes every job (running ones with "length", the others with 503), joins the thread. */
void srv_sched_stop(server *s);

/* ---- serve_conn.c (libmicrohttpd's polling thread only) ------------------------------------- */

struct sockaddr;
typedef struct srv_conns srv_conns;
typedef struct srv_conn srv_conn;
/* max_per_ip 0 = no per-address limit. Evictions and refusals are counted in m. */
srv_conns *srv_conns_new(int max_total, int max_per_ip, srv_metrics *m);
void srv_conns_free(srv_conns *c);
/* Whether a new connection from addr may be accepted (1) or must be refused (0); may close
 * idle connections to make room. */
int srv_conns_accept(srv_conns *c, const struct sockaddr *addr);
/* A connection was opened on socket fd (NULL when it cannot be tracked) / closed. */
srv_conn *srv_conns_opened(srv_conns *c, int fd, const struct sockaddr *addr);
void srv_conns_closed(srv_conns *c, srv_conn *x);
/* A request started (busy 1) or ended (0) on x. */
void srv_conns_busy(srv_conn *x, int busy);

/* ---- serve_http.c ---------------------------------------------------------------------------- */

/* One HTTP request as the handlers see it. */
typedef struct srv_req srv_req;
struct json_t;

/* A handler answers the request with one of the srv_respond* calls (or srv_respond_job) and
 * returns its result (0, or -1 when the connection must be closed). */
typedef int (*srv_handler)(srv_req *r);

enum {
    SRV_ROUTE_KEY = 1,   /* the route needs the API key (when keys are set) */
    SRV_ROUTE_MODEL = 2  /* the route needs the model: 503 while it loads and while draining */
};

/* One row of the routes table. A path ending in "{id}" matches any non-empty last segment
 * (srv_req_param gives it). */
typedef struct srv_route {
    const char *method;   /* "GET" (HEAD is answered too) or "POST" */
    const char *path;
    srv_handler handler;
    const char *metric;   /* the endpoint label in /metrics */
    int flags;
} srv_route;

/* Starts listening on host (a name or an address; the first address it resolves to that can
 * be bound is used) and port, routing through routes[0..n). Prints an error and returns -1 on
 * failure. */
int srv_http_start(server *s, const char *host, int port, const srv_route *routes, int n);
/* "ADDR:PORT" of the bound socket ("[ADDR]:PORT" for IPv6). */
const char *srv_http_bound(server *s);
/* Closes the listening socket: new connections are refused, open ones go on (SIGTERM). */
void srv_http_quiesce(server *s);
/* Waits (a bounded time) for the last replies to go out, then stops the daemon. */
void srv_http_stop(server *s);

server *srv_req_server(srv_req *r);
/* The request body (bounded by --max-body; "" when none) and its length. */
const char *srv_req_body(srv_req *r, size_t *len);
/* The "{id}" segment of the path of a route that has one, else "". */
const char *srv_req_param(srv_req *r);
/* Answers with body[0..len) (copied). */
int srv_respond(srv_req *r, int status, const char *ctype, const char *body, size_t len);
/* Answers 200 with a JSON value (released). */
int srv_respond_json(srv_req *r, struct json_t *o);
/* Answers with OpenAI's error object. */
int srv_respond_error(srv_req *r, int status, const char *message, const char *param);
/* Submits a parsed job (srv_jobs_submit) and answers with its reply: a stream or a JSON body,
 * when the scheduler has it; 429/503 when it cannot be queued (the job is then freed). */
int srv_respond_job(srv_req *r, srv_job *j);
/* A job tied to this request (srv_jobs_hold) for an answer that someone else will post (e.g. a
 * state-store callback: srv_job_post with finished); NULL when stopping or out of memory. Then
 * return srv_respond_deferred(r), which sends that answer when it comes. */
srv_job *srv_req_defer(srv_req *r);
int srv_respond_deferred(srv_req *r);

/* ---- serve_routes.c -------------------------------------------------------------------------- */

extern const srv_route srv_routes[];
extern const int srv_n_routes;

/* ---- serve_page.c ---------------------------------------------------------------------------- */

extern const char srv_page_html[];
size_t srv_page_len(void);

#endif
