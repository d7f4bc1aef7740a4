/* serve_store.c — the state store's front (serve_store.h): keys, the two tiers (the in-process
 * cache, and Redis when --state-store is given), a reader and a writer thread for the shared
 * tier with their own connections, the bounded write queue, state entries (serialized by the
 * writer thread, checked when loaded) and response records.
 *
 * Nothing here blocks the scheduler or the HTTP thread on the network: reads of the shared tier
 * are queued and polled (the scheduler gives up after --state-timeout) or answered through a
 * callback; writes are queued (a full queue drops the write, counted) and done in order by one
 * thread, so a record written after a state is in the store only once that state is. */
#include "serve.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_CANDIDATES = 64 };
static const size_t WRITE_QUEUE_BYTES = (size_t)256 << 20;

typedef enum { OP_GET, OP_PUT, OP_DEL_RECORD } op_kind;

/* One operation of the shared tier. Its end: a callback (cb), or done for a poller (polled: a
 * srv_fetch, freed by whichever of the store and the poller lets go last), or nothing (freed). */
typedef struct op {
    struct srv_store *st;
    op_kind kind;
    char **keys;
    int n_keys;
    cli_buf data;              /* PUT: the value; GET: the value read */
    rwkv_state *state;         /* PUT of a state: serialized by the writer thread */
    float *logits;
    char *text;
    size_t text_len;
    srv_store_cb cb;           /* completion callback, or NULL when polled */
    void *arg;
    int polled, done, released;
    int status, which;
    int base;                  /* fetch of states: index in ends[] of keys[0] */
    size_t bytes;              /* counted in the write queue */
    struct op *next;
} op;

struct srv_fetch {
    op o;
};

typedef struct queue {
    op *head, *tail;
    pthread_cond_t cond;
} queue;

struct srv_store {
    srv_cache *local;
    uint64_t fp;
    size_t n_vocab;
    int timeout_ms;
    char url[300];             /* for messages (without the password) */
    const srv_backend_ops *shared; /* the shared tier (Redis), or NULL */
    srv_redis *rconn, *wconn;  /* its connections: reads, writes */
    pthread_mutex_t mu;
    queue rq, wq;
    int stopping;
    int writing;               /* the writer thread is inside an operation */
    pthread_t reader, writer;
    int started;
    void (*notify)(void *);
    void *notify_arg;
    srv_store_stats stats;
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- keys ----------------------------------------------------------------------------------- */

/* FNV-1a, 64 bits, continued from h. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static const uint64_t SEED_A = 0xcbf29ce484222325ULL, SEED_B = 0x84222325cbf29ce4ULL;

static void state_key_of(uint64_t fp, uint64_t a, uint64_t b, char *out) {
    snprintf(out, SRV_KEY_MAX, "rwkv:%016llx:s:%016llx%016llx", (unsigned long long)fp, (unsigned long long)a,
             (unsigned long long)b);
}

void srv_store_state_key(const srv_store *st, const char *text, size_t len, char *out) {
    state_key_of(st->fp, fnv(SEED_A, text, len), fnv(SEED_B, text, len), out);
}

static void record_key(const srv_store *st, const char *id, char *out) {
    snprintf(out, SRV_KEY_MAX, "rwkv:%016llx:r:%.80s", (unsigned long long)st->fp, id);
}

/* ---- operations and threads ----------------------------------------------------------------- */

static void op_free(op *o) {
    if (!o) return;
    for (int i = 0; i < o->n_keys; i++) free(o->keys[i]);
    free(o->keys);
    cli_buf_free(&o->data);
    rwkv_state_free(o->state);
    free(o->logits);
    free(o->text);
    free(o);
}

/* A new operation with n keys copied from keys. */
static op *op_new(srv_store *st, op_kind kind, const char *const *keys, int n) {
    op *o = calloc(1, sizeof(struct srv_fetch));
    if (!o) return NULL;
    o->st = st;
    o->kind = kind;
    o->keys = calloc((size_t)n, sizeof *o->keys);
    o->n_keys = n;
    int ok = o->keys != NULL;
    for (int i = 0; ok && i < n; i++) ok = (o->keys[i] = strdup(keys[i])) != NULL;
    if (!ok) {
        op_free(o);
        return NULL;
    }
    o->which = -1;
    return o;
}

/* Ends an operation: its callback, or done for its poller. */
static void complete(srv_store *st, op *o) {
    if (o->polled) {
        pthread_mutex_lock(&st->mu);
        o->done = 1;
        int gone = o->released;
        pthread_mutex_unlock(&st->mu);
        if (gone) op_free(o);
    } else {
        if (o->cb) o->cb(o->arg, o->status, o->data.data, o->data.len);
        op_free(o);
    }
    if (st->notify) st->notify(st->notify_arg);
}

/* Queues o; 0, or -1 when the store is stopping or (a write) the queue is full. */
static int enqueue(srv_store *st, queue *q, op *o) {
    pthread_mutex_lock(&st->mu);
    int ok = !st->stopping;
    if (ok && q == &st->wq) {
        ok = atomic_load(&st->stats.queue_bytes) + o->bytes <= WRITE_QUEUE_BYTES;
        if (ok) {
            atomic_fetch_add(&st->stats.queue_bytes, o->bytes);
            atomic_fetch_add(&st->stats.queue_len, 1);
        }
    }
    if (ok) {
        if (q->tail) q->tail->next = o;
        else q->head = o;
        q->tail = o;
        pthread_cond_signal(&q->cond);
    }
    pthread_mutex_unlock(&st->mu);
    return ok ? 0 : -1;
}

/* Records the outcome of a shared-tier call; prints a warning when the store goes down or
 * comes back. */
static void outcome(srv_store *st, srv_redis *conn, int rc) {
    int up = rc >= 0;
    if (!up) atomic_fetch_add(&st->stats.errors, 1);
    if (atomic_exchange(&st->stats.up, up) != up) {
        if (up) fprintf(stderr, "rwkv serve: state store %s is reachable again\n", st->url);
        else
            fprintf(stderr, "rwkv serve: warning: state store %s: %s; requests go on without it (full prefill)\n",
                    st->url, srv_redis_error(conn));
    }
}

/* The shared tier's part of deleting a record: read it, then delete it and its state. */
static int del_record_shared(srv_store *st, op *o) {
    int which = -1;
    int rc = st->shared->get_last(st->rconn, (const char *const *)o->keys, 1, &which, &o->data);
    if (rc <= 0) return rc;
    srv_record rec;
    if (srv_record_parse(o->data.data, o->data.len, &rec) == 0) {
        char key[SRV_KEY_MAX];
        srv_store_state_key(st, rec.history, rec.history_len, key);
        st->shared->del(st->rconn, key);
        srv_record_free(&rec);
    }
    cli_buf_clear(&o->data);
    int d = st->shared->del(st->rconn, o->keys[0]);
    return d < 0 ? -1 : 1;
}

static void *reader_main(void *arg) {
    srv_store *st = arg;
    for (;;) {
        pthread_mutex_lock(&st->mu);
        int idle = 0;
        while (!st->stopping && !st->rq.head && !idle) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 5;
            idle = pthread_cond_timedwait(&st->rq.cond, &st->mu, &ts) != 0;
        }
        op *o = st->rq.head;
        if (o && !st->stopping) {
            st->rq.head = o->next;
            if (!st->rq.head) st->rq.tail = NULL;
        } else {
            o = NULL;
        }
        int skip = o && o->released; /* the scheduler stopped waiting before it started */
        int stop = st->stopping;
        pthread_mutex_unlock(&st->mu);
        if (stop) break;
        if (skip) {
            op_free(o);
            continue;
        }
        if (!o) { /* idle: refresh the shared store's size for /metrics */
            size_t bytes = 0, entries = 0;
            int rc = st->shared->usage(st->rconn, &bytes, &entries);
            outcome(st, st->rconn, rc);
            if (rc == 0) {
                atomic_store(&st->stats.bytes, bytes);
                atomic_store(&st->stats.entries, entries);
            }
            continue;
        }
        uint64_t t0 = now_ns();
        int rc = o->kind == OP_GET
                     ? st->shared->get_last(st->rconn, (const char *const *)o->keys, o->n_keys, &o->which, &o->data)
                     : del_record_shared(st, o);
        outcome(st, st->rconn, rc);
        if (rc > 0 && o->kind == OP_GET) {
            atomic_fetch_add(&st->stats.reads, 1);
            atomic_fetch_add(&st->stats.read_bytes, o->data.len);
            atomic_fetch_add(&st->stats.read_ns, now_ns() - t0);
        }
        o->status = rc;
        complete(st, o);
    }
    return NULL;
}

/* Serializes a state operation's state into its data (the state file bytes). */
static int serialize(op *o) {
    rwkv_state_extra extra = {o->logits, o->text, o->text_len};
    size_t n = rwkv_state_serialized_size(o->state, &extra);
    char *p = n ? malloc(n + 1) : NULL;
    if (!p || rwkv_state_serialize(o->state, &extra, p, n, &n) != RWKV_OK) {
        free(p);
        return -1;
    }
    p[n] = '\0';
    cli_buf_free(&o->data);
    o->data = (cli_buf){p, n, n + 1};
    rwkv_state_free(o->state);
    o->state = NULL;
    return 0;
}

static void *writer_main(void *arg) {
    srv_store *st = arg;
    for (;;) {
        pthread_mutex_lock(&st->mu);
        while (!st->stopping && !st->wq.head) pthread_cond_wait(&st->wq.cond, &st->mu);
        op *o = st->wq.head;
        if (o && !st->stopping) {
            st->wq.head = o->next;
            if (!st->wq.head) st->wq.tail = NULL;
            st->writing = 1;
        } else {
            o = NULL;
        }
        pthread_mutex_unlock(&st->mu);
        if (!o) break;
        uint64_t t0 = now_ns();
        int rc = o->state && serialize(o) ? -2 : 0;
        if (rc == 0) {
            rc = st->shared->put(st->wconn, o->keys[0], o->data.data ? o->data.data : "", o->data.len);
            outcome(st, st->wconn, rc);
        }
        if (rc == 0) {
            atomic_fetch_add(&st->stats.writes, 1);
            atomic_fetch_add(&st->stats.write_bytes, o->data.len);
            atomic_fetch_add(&st->stats.write_ns, now_ns() - t0);
        }
        o->status = rc == 0 ? 1 : -1;
        atomic_fetch_sub(&st->stats.queue_bytes, o->bytes);
        atomic_fetch_sub(&st->stats.queue_len, 1);
        complete(st, o);
        pthread_mutex_lock(&st->mu);
        st->writing = 0;
        pthread_cond_broadcast(&st->wq.cond); /* srv_store_drain waits on it */
        pthread_mutex_unlock(&st->mu);
    }
    return NULL;
}

/* ---- life --------------------------------------------------------------------------------- */

srv_store *srv_store_new(srv_cache *local, const srv_store_config *cfg) {
    srv_store *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->local = local;
    st->fp = cfg->fingerprint;
    st->n_vocab = cfg->n_vocab;
    st->timeout_ms = cfg->timeout_ms;
    atomic_store(&st->stats.up, 1);
    if (pthread_mutex_init(&st->mu, NULL) || pthread_cond_init(&st->rq.cond, NULL) ||
        pthread_cond_init(&st->wq.cond, NULL)) {
        free(st);
        return NULL;
    }
    if (!cfg->url) return st;
    srv_redis_url u;
    char err[200];
    if (srv_redis_parse_url(cfg->url, &u, err, sizeof err)) {
        srv_store_free(st);
        return NULL;
    }
    snprintf(st->url, sizeof st->url, "redis://%s%s%s:%d/%d", strchr(u.host, ':') ? "[" : "", u.host,
             strchr(u.host, ':') ? "]" : "", u.port, u.db);
    /* writes of large states: longer socket timeouts than reads */
    int wt = cfg->timeout_ms * 10 > 10000 ? cfg->timeout_ms * 10 : 10000;
    st->shared = &srv_redis_ops;
    st->rconn = srv_redis_open(&u, cfg->ttl_s, cfg->timeout_ms);
    st->wconn = srv_redis_open(&u, cfg->ttl_s, wt);
    if (!st->rconn || !st->wconn || pthread_create(&st->reader, NULL, reader_main, st)) {
        srv_store_free(st);
        return NULL;
    }
    if (pthread_create(&st->writer, NULL, writer_main, st)) {
        pthread_mutex_lock(&st->mu);
        st->stopping = 1;
        pthread_cond_broadcast(&st->rq.cond);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->reader, NULL);
        srv_redis_close(st->rconn);
        st->rconn = NULL;
        srv_store_free(st);
        return NULL;
    }
    st->started = 1;
    return st;
}

void srv_store_drain(srv_store *st, int timeout_ms) {
    if (!st || !st->started) return;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&st->mu);
    while ((st->wq.head || st->writing) && pthread_cond_timedwait(&st->wq.cond, &st->mu, &until) == 0) {}
    pthread_mutex_unlock(&st->mu);
}

/* Completes every queued operation of q as failed. */
static void fail_all(srv_store *st, queue *q) {
    for (;;) {
        pthread_mutex_lock(&st->mu);
        op *o = q->head;
        if (o) {
            q->head = o->next;
            if (!q->head) q->tail = NULL;
        }
        pthread_mutex_unlock(&st->mu);
        if (!o) return;
        if (q == &st->wq) {
            atomic_fetch_sub(&st->stats.queue_bytes, o->bytes);
            atomic_fetch_sub(&st->stats.queue_len, 1);
            atomic_fetch_add(&st->stats.dropped, 1);
        }
        o->status = -1;
        complete(st, o);
    }
}

void srv_store_free(srv_store *st) {
    if (!st) return;
    if (st->started) {
        pthread_mutex_lock(&st->mu);
        st->stopping = 1;
        pthread_cond_broadcast(&st->rq.cond);
        pthread_cond_broadcast(&st->wq.cond);
        pthread_mutex_unlock(&st->mu);
        srv_redis_abort(st->rconn); /* a call blocked on a slow store returns now */
        srv_redis_abort(st->wconn);
        pthread_join(st->reader, NULL);
        pthread_join(st->writer, NULL);
        fail_all(st, &st->rq);
        fail_all(st, &st->wq);
    }
    srv_redis_close(st->rconn);
    srv_redis_close(st->wconn);
    pthread_cond_destroy(&st->rq.cond);
    pthread_cond_destroy(&st->wq.cond);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

int srv_store_shared(const srv_store *st) { return st && st->shared != NULL; }
const char *srv_store_kind(const srv_store *st) { return srv_store_shared(st) ? st->shared->kind : srv_cache_ops.kind; }
srv_store_stats *srv_store_get_stats(srv_store *st) { return &st->stats; }

void srv_store_set_notify(srv_store *st, void (*fn)(void *), void *arg) {
    st->notify = fn;
    st->notify_arg = arg;
}

/* ---- states --------------------------------------------------------------------------------- */

void srv_store_put_state(srv_store *st, const char *text, size_t len, const rwkv_state *state,
                         const float *logits) {
    if (!srv_store_shared(st) || len == 0) return;
    char key[SRV_KEY_MAX];
    const char *keys[1] = {key};
    srv_store_state_key(st, text, len, key);
    op *o = op_new(st, OP_PUT, keys, 1);
    int ok = o != NULL;
    if (ok) {
        o->logits = malloc(st->n_vocab * sizeof *o->logits);
        o->text = malloc(len);
        ok = o->logits && o->text && rwkv_state_clone(state, &o->state) == RWKV_OK;
    }
    if (ok) {
        memcpy(o->logits, logits, st->n_vocab * sizeof *logits);
        memcpy(o->text, text, len);
        o->text_len = len;
        o->bytes = len + st->n_vocab * sizeof(float) + rwkv_state_n_floats(state) * sizeof(float) + 256;
        ok = enqueue(st, &st->wq, o) == 0;
    }
    if (!ok) {
        atomic_fetch_add(&st->stats.dropped, 1);
        op_free(o);
    }
}

srv_fetch *srv_store_fetch_state(srv_store *st, const char *text, const size_t *ends, int n) {
    if (!srv_store_shared(st) || n <= 0) return NULL;
    int first = n > MAX_CANDIDATES ? n - MAX_CANDIDATES : 0, k = n - first;
    char (*keys)[SRV_KEY_MAX] = malloc((size_t)k * SRV_KEY_MAX);
    const char **ptrs = malloc((size_t)k * sizeof *ptrs);
    op *o = NULL;
    if (keys && ptrs) {
        /* one pass over the text, a hash snapshot at every candidate end */
        uint64_t a = SEED_A, b = SEED_B;
        size_t at = 0;
        for (int i = 0; i < n; i++) {
            a = fnv(a, text + at, ends[i] - at);
            b = fnv(b, text + at, ends[i] - at);
            at = ends[i];
            if (i >= first) {
                state_key_of(st->fp, a, b, keys[i - first]);
                ptrs[i - first] = keys[i - first];
            }
        }
        o = op_new(st, OP_GET, ptrs, k);
    }
    free(keys);
    free(ptrs);
    if (!o) return NULL;
    o->polled = 1;
    o->base = first;
    if (enqueue(st, &st->rq, o)) {
        op_free(o);
        return NULL;
    }
    return (srv_fetch *)o;
}

int srv_fetch_poll(srv_fetch *f, int *status, int *which, const char **data, size_t *len) {
    op *o = &f->o;
    pthread_mutex_lock(&o->st->mu);
    int done = o->done;
    pthread_mutex_unlock(&o->st->mu);
    if (!done) return 0;
    *status = o->status;
    *which = o->which >= 0 ? o->which + o->base : -1;
    *data = o->data.data ? o->data.data : "";
    *len = o->data.len;
    return 1;
}

int srv_store_load_state(srv_store *st, const char *data, size_t dlen, const char *text, size_t len,
                         rwkv_state *state, float *logits, uint64_t *n_tokens) {
    rwkv_state_loaded ld;
    memset(&ld, 0, sizeof ld);
    int ok = rwkv_state_deserialize(state, data, dlen, &ld) == RWKV_OK && ld.text && ld.text_len == len &&
             !memcmp(ld.text, text, len) && ld.logits && ld.n_logits == st->n_vocab;
    if (ok) {
        memcpy(logits, ld.logits, st->n_vocab * sizeof *logits);
        *n_tokens = ld.n_tokens;
    }
    rwkv_state_loaded_free(&ld);
    if (!ok) atomic_fetch_add(&st->stats.rejected, 1);
    return ok ? 0 : -1;
}

/* ---- records -------------------------------------------------------------------------------- */

static const char REC_MAGIC[8] = {'R', 'W', 'K', 'V', 'R', 'E', 'C', '1'};

static void put_u64(char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (char)(v >> (8 * i));
}
static uint64_t get_u64(const char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)(unsigned char)p[i] << (8 * i);
    return v;
}

/* magic | checksum of what follows | response length | response | history */
static int record_bytes(cli_buf *b, const char *response, size_t rlen, const char *history, size_t hlen) {
    char head[24];
    memcpy(head, REC_MAGIC, 8);
    put_u64(head + 16, rlen);
    if (cli_buf_add(b, head, 24) || cli_buf_add(b, response, rlen) || cli_buf_add(b, history, hlen)) return -1;
    put_u64(b->data + 8, fnv(SEED_A, b->data + 16, b->len - 16));
    return 0;
}

int srv_record_parse(const char *data, size_t len, srv_record *out) {
    memset(out, 0, sizeof *out);
    if (!data || len < 24 || memcmp(data, REC_MAGIC, 8) || get_u64(data + 8) != fnv(SEED_A, data + 16, len - 16))
        return -1;
    uint64_t rlen = get_u64(data + 16);
    if (rlen > len - 24) return -1;
    size_t hlen = len - 24 - (size_t)rlen;
    out->response = malloc((size_t)rlen + 1);
    out->history = malloc(hlen + 1);
    if (!out->response || !out->history) {
        srv_record_free(out);
        return -1;
    }
    memcpy(out->response, data + 24, (size_t)rlen);
    out->response[rlen] = '\0';
    memcpy(out->history, data + 24 + rlen, hlen);
    out->history[hlen] = '\0';
    out->response_len = (size_t)rlen;
    out->history_len = hlen;
    return 0;
}

void srv_record_free(srv_record *r) {
    free(r->response);
    free(r->history);
    memset(r, 0, sizeof *r);
}

void srv_store_put_record(srv_store *st, const char *id, const char *response, size_t rlen,
                          const char *history, size_t hlen, srv_store_cb done, void *arg) {
    char key[SRV_KEY_MAX];
    const char *keys[1] = {key};
    record_key(st, id, key);
    op *o = op_new(st, OP_PUT, keys, 1);
    if (!o || record_bytes(&o->data, response, rlen, history, hlen)) {
        op_free(o);
        if (done) done(arg, -1, NULL, 0);
        return;
    }
    int local = srv_cache_ops.put(st->local, key, o->data.data, o->data.len);
    o->cb = done;
    o->arg = arg;
    o->bytes = o->data.len;
    if (srv_store_shared(st) && enqueue(st, &st->wq, o) == 0) return;
    if (srv_store_shared(st)) atomic_fetch_add(&st->stats.dropped, 1);
    if (done) done(arg, local == 0 ? 1 : -1, NULL, 0);
    o->cb = NULL;
    op_free(o);
}

/* Starts reading a record: the local tier answers at once when it has it. */
static op *record_read(srv_store *st, const char *id, srv_store_cb done, void *arg, int polled) {
    char key[SRV_KEY_MAX];
    const char *keys[1] = {key};
    record_key(st, id, key);
    op *o = op_new(st, OP_GET, keys, 1);
    if (!o) {
        if (done) done(arg, -1, NULL, 0);
        return NULL;
    }
    o->cb = done;
    o->arg = arg;
    o->polled = polled;
    int rc = srv_cache_ops.get_last(st->local, keys, 1, &o->which, &o->data);
    if (rc == 0 && srv_store_shared(st) && enqueue(st, &st->rq, o) == 0) return polled ? o : NULL;
    o->status = rc;
    if (polled) {
        o->done = 1;
        return o;
    }
    complete(st, o);
    return NULL;
}

void srv_store_get_record(srv_store *st, const char *id, srv_store_cb done, void *arg) {
    record_read(st, id, done, arg, 0);
}

srv_fetch *srv_store_fetch_record(srv_store *st, const char *id) {
    return (srv_fetch *)record_read(st, id, NULL, NULL, 1);
}

void srv_store_del_record(srv_store *st, const char *id, srv_store_cb done, void *arg) {
    char key[SRV_KEY_MAX];
    const char *keys[1] = {key};
    record_key(st, id, key);
    cli_buf b = {0};
    int which = -1, found = srv_cache_ops.get_last(st->local, keys, 1, &which, &b) > 0;
    if (found) {
        srv_record rec;
        if (srv_record_parse(b.data, b.len, &rec) == 0) {
            srv_cache_forget(st->local, rec.history, rec.history_len);
            srv_record_free(&rec);
        }
        srv_cache_ops.del(st->local, key);
    }
    cli_buf_free(&b);
    if (!srv_store_shared(st)) {
        done(arg, found, NULL, 0);
        return;
    }
    op *o = op_new(st, OP_DEL_RECORD, keys, 1);
    if (o && !found) { /* the answer depends on the shared tier */
        o->cb = done;
        o->arg = arg;
        if (enqueue(st, &st->rq, o) == 0) return;
        o->cb = NULL;
    }
    /* answered now; the shared tier's copy is deleted in the background */
    if (o && (!found || enqueue(st, &st->rq, o))) op_free(o);
    done(arg, found ? 1 : -1, NULL, 0);
}

void srv_fetch_release(srv_fetch *f) {
    if (!f) return;
    op *o = &f->o;
    pthread_mutex_lock(&o->st->mu);
    int done = o->done;
    o->released = 1;
    pthread_mutex_unlock(&o->st->mu);
    if (done) op_free(o);
}
