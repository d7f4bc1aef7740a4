/* serve_cache.c — the in-process store: one LRU, bounded in bytes (--cache-mb), of two kinds of
 * entries.
 *  - States (the prompt-state cache): a text (what a state has consumed: a prompt, a prompt up to
 *    its last "Assistant:", or a prompt plus the reply generated after it) maps to a live copy of
 *    that state and the logits after its last token. A request whose prompt starts with a cached
 *    text copies the state and prefills only the rest (srv_cache_lookup: any prefix length).
 *  - Byte entries under a key (response records): the memory implementation of the state-store
 *    interface (srv_cache_ops, serve_store.h), with the same TTL as the shared store.
 * Guarded by a mutex: the scheduler, the store's threads and the HTTP thread use it. */
#include "serve.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct cache_entry {
    char *text;                /* state: the text; byte entry: the key */
    size_t len;
    rwkv_state *state;         /* NULL for a byte entry */
    float *logits;
    uint64_t n_tokens;
    char *data;                /* byte entry: the value */
    size_t data_len;
    double expires;            /* byte entry: monotonic time after which it is gone (0 = never) */
    uint64_t last_used;
    size_t bytes;
} cache_entry;

struct srv_cache {
    pthread_mutex_t mu;
    cache_entry *e;
    size_t n, cap;
    size_t bytes, max_bytes;
    int ttl_s;
    uint64_t clock;
};

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

srv_cache *srv_cache_new(size_t max_bytes, int ttl_s) {
    srv_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (pthread_mutex_init(&c->mu, NULL)) {
        free(c);
        return NULL;
    }
    c->max_bytes = max_bytes;
    c->ttl_s = ttl_s;
    return c;
}

/* Frees entry i and moves the last entry into its slot. */
static void drop(srv_cache *c, size_t i) {
    cache_entry *x = &c->e[i];
    free(x->text);
    free(x->logits);
    free(x->data);
    rwkv_state_free(x->state);
    c->bytes -= x->bytes;
    c->e[i] = c->e[--c->n];
}

void srv_cache_free(srv_cache *c) {
    if (!c) return;
    while (c->n) drop(c, c->n - 1);
    free(c->e);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Makes room for bytes more (evicting the least recently used) and a free slot. 0 when there is
 * room. Caller holds the lock. */
static int make_room(srv_cache *c, size_t bytes) {
    if (c->max_bytes == 0 || bytes > c->max_bytes) return -1;
    while (c->n && c->bytes + bytes > c->max_bytes) {
        size_t lru = 0;
        for (size_t i = 1; i < c->n; i++)
            if (c->e[i].last_used < c->e[lru].last_used) lru = i;
        drop(c, lru);
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        cache_entry *n = realloc(c->e, cap * sizeof *n);
        if (!n) return -1;
        c->e = n;
        c->cap = cap;
    }
    return 0;
}

/* The entry of kind (state or not) whose text is exactly text[0..len), or -1. */
static long find(const srv_cache *c, int state, const char *text, size_t len) {
    for (size_t i = 0; i < c->n; i++)
        if (!c->e[i].state == !state && c->e[i].len == len && !memcmp(c->e[i].text, text, len)) return (long)i;
    return -1;
}

/* ---- states -------------------------------------------------------------------------------- */

size_t srv_cache_lookup(srv_cache *c, const char *text, size_t len, rwkv_state *state,
                        float *logits, size_t n_vocab, uint64_t *n_tokens) {
    pthread_mutex_lock(&c->mu);
    size_t best = (size_t)-1;
    for (size_t i = 0; i < c->n; i++) {
        const cache_entry *x = &c->e[i];
        if (x->state && x->len <= len && (best == (size_t)-1 || x->len > c->e[best].len) &&
            !memcmp(x->text, text, x->len))
            best = i;
    }
    size_t hit = 0;
    if (best != (size_t)-1 && rwkv_state_copy(state, c->e[best].state) == RWKV_OK) {
        cache_entry *x = &c->e[best];
        memcpy(logits, x->logits, n_vocab * sizeof *logits);
        x->last_used = ++c->clock;
        *n_tokens = x->n_tokens;
        hit = x->len;
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

void srv_cache_store(srv_cache *c, const char *text, size_t len, const rwkv_state *state,
                     const float *logits, size_t n_vocab, uint64_t n_tokens) {
    if (len == 0) return;
    size_t bytes = len + n_vocab * sizeof(float) + rwkv_state_n_floats(state) * sizeof(float) + 256;
    pthread_mutex_lock(&c->mu);
    long i = find(c, 1, text, len);
    if (i >= 0) {
        c->e[i].last_used = ++c->clock; /* the same text gives the same state */
    } else if (make_room(c, bytes) == 0) {
        cache_entry x = {0};
        x.text = malloc(len);
        x.logits = malloc(n_vocab * sizeof *x.logits);
        if (x.text && x.logits && rwkv_state_clone(state, &x.state) == RWKV_OK) {
            memcpy(x.text, text, len);
            memcpy(x.logits, logits, n_vocab * sizeof *logits);
            x.len = len;
            x.n_tokens = n_tokens;
            x.last_used = ++c->clock;
            x.bytes = bytes;
            c->e[c->n++] = x;
            c->bytes += bytes;
        } else {
            free(x.text);
            free(x.logits);
        }
    }
    pthread_mutex_unlock(&c->mu);
}

void srv_cache_forget(srv_cache *c, const char *text, size_t len) {
    pthread_mutex_lock(&c->mu);
    long i = find(c, 1, text, len);
    if (i >= 0) drop(c, (size_t)i);
    pthread_mutex_unlock(&c->mu);
}

void srv_cache_usage(srv_cache *c, size_t *bytes, size_t *entries) {
    pthread_mutex_lock(&c->mu);
    *bytes = c->bytes;
    *entries = c->n;
    pthread_mutex_unlock(&c->mu);
}

/* ---- byte entries: the memory implementation of the state-store interface ------------------ */

/* The live byte entry of key, or -1 (an expired one is dropped). Caller holds the lock. */
static long find_live(srv_cache *c, const char *key) {
    long i = find(c, 0, key, strlen(key));
    if (i >= 0 && c->e[i].expires && mono_s() > c->e[i].expires) {
        drop(c, (size_t)i);
        i = -1;
    }
    return i;
}

static int mem_get_last(void *self, const char *const *keys, int n, int *which, cli_buf *out) {
    srv_cache *c = self;
    int rc = 0;
    *which = -1;
    pthread_mutex_lock(&c->mu);
    for (int k = n - 1; k >= 0 && rc == 0; k--) {
        long i = find_live(c, keys[k]);
        if (i < 0) continue;
        cache_entry *x = &c->e[i];
        x->last_used = ++c->clock;
        if (c->ttl_s) x->expires = mono_s() + c->ttl_s;
        cli_buf_clear(out);
        rc = cli_buf_add(out, x->data, x->data_len) ? -1 : 1;
        if (rc > 0) *which = k;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int mem_put(void *self, const char *key, const void *data, size_t len) {
    srv_cache *c = self;
    size_t klen = strlen(key), bytes = klen + len + 128;
    pthread_mutex_lock(&c->mu);
    long i = find(c, 0, key, klen);
    if (i >= 0) drop(c, (size_t)i);
    int rc = -1;
    if (make_room(c, bytes) == 0) {
        cache_entry x = {0};
        x.text = malloc(klen + 1);
        x.data = malloc(len ? len : 1);
        if (x.text && x.data) {
            memcpy(x.text, key, klen + 1);
            memcpy(x.data, data, len);
            x.len = klen;
            x.data_len = len;
            x.expires = c->ttl_s ? mono_s() + c->ttl_s : 0;
            x.last_used = ++c->clock;
            x.bytes = bytes;
            c->e[c->n++] = x;
            c->bytes += bytes;
            rc = 0;
        } else {
            free(x.text);
            free(x.data);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int mem_del(void *self, const char *key) {
    srv_cache *c = self;
    pthread_mutex_lock(&c->mu);
    long i = find_live(c, key);
    if (i >= 0) drop(c, (size_t)i);
    pthread_mutex_unlock(&c->mu);
    return i >= 0;
}

static int mem_usage(void *self, size_t *bytes, size_t *entries) {
    srv_cache_usage(self, bytes, entries);
    return 0;
}

const srv_backend_ops srv_cache_ops = {"memory", mem_get_last, mem_put, mem_del, mem_usage};
