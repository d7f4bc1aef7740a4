/* serve_cache.c — the prompt-state cache. Every entry maps a text (what a state has consumed:
 * a prompt, a prompt up to its last "Assistant:", or a prompt plus the reply generated after it)
 * to a copy of that state and the logits after its last token. A request whose prompt starts with
 * a cached text copies the state and prefills only the rest. Bounded by a byte budget, evicting
 * the least recently used entries. Only the scheduler thread touches it; the byte and entry
 * counts are read by /metrics through the metrics atomics. */
#include "serve.h"

#include <stdlib.h>
#include <string.h>

typedef struct cache_entry {
    char *text;
    size_t len;
    rwkv_state *state;
    float *logits;
    uint64_t n_tokens;
    uint64_t last_used;
    size_t bytes;
} cache_entry;

struct srv_cache {
    cache_entry *e;
    size_t n, cap;
    size_t bytes, max_bytes;
    uint64_t clock;
};

srv_cache *srv_cache_new(size_t max_bytes) {
    srv_cache *c = calloc(1, sizeof *c);
    if (c) c->max_bytes = max_bytes;
    return c;
}

/* Frees entry i and moves the last entry into its slot. */
static void drop(srv_cache *c, size_t i) {
    cache_entry *x = &c->e[i];
    free(x->text);
    free(x->logits);
    rwkv_state_free(x->state);
    c->bytes -= x->bytes;
    c->e[i] = c->e[--c->n];
}

void srv_cache_free(srv_cache *c) {
    if (!c) return;
    while (c->n) drop(c, c->n - 1);
    free(c->e);
    free(c);
}

size_t srv_cache_lookup(srv_cache *c, const char *text, size_t len, rwkv_state *state,
                        float *logits, size_t n_vocab, uint64_t *n_tokens) {
    size_t best = (size_t)-1;
    for (size_t i = 0; i < c->n; i++) {
        const cache_entry *x = &c->e[i];
        if (x->len <= len && (best == (size_t)-1 || x->len > c->e[best].len) &&
            !memcmp(x->text, text, x->len))
            best = i;
    }
    if (best == (size_t)-1) return 0;
    cache_entry *x = &c->e[best];
    if (rwkv_state_copy(state, x->state) != RWKV_OK) return 0;
    memcpy(logits, x->logits, n_vocab * sizeof *logits);
    x->last_used = ++c->clock;
    *n_tokens = x->n_tokens;
    return x->len;
}

void srv_cache_store(srv_cache *c, const char *text, size_t len, const rwkv_state *state,
                     const float *logits, size_t n_vocab, uint64_t n_tokens) {
    if (len == 0 || c->max_bytes == 0) return;
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].len == len && !memcmp(c->e[i].text, text, len)) {
            c->e[i].last_used = ++c->clock; /* the same text gives the same state */
            return;
        }
    size_t bytes = len + n_vocab * sizeof(float) + rwkv_state_n_floats(state) * sizeof(float) + 256;
    if (bytes > c->max_bytes) return;
    while (c->n && c->bytes + bytes > c->max_bytes) { /* evict the least recently used */
        size_t lru = 0;
        for (size_t i = 1; i < c->n; i++)
            if (c->e[i].last_used < c->e[lru].last_used) lru = i;
        drop(c, lru);
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        cache_entry *n = realloc(c->e, cap * sizeof *n);
        if (!n) return;
        c->e = n;
        c->cap = cap;
    }
    cache_entry x = {0};
    x.text = malloc(len);
    x.logits = malloc(n_vocab * sizeof *x.logits);
    if (!x.text || !x.logits || rwkv_state_clone(state, &x.state) != RWKV_OK) {
        free(x.text);
        free(x.logits);
        return;
    }
    memcpy(x.text, text, len);
    memcpy(x.logits, logits, n_vocab * sizeof *logits);
    x.len = len;
    x.n_tokens = n_tokens;
    x.last_used = ++c->clock;
    x.bytes = bytes;
    c->e[c->n++] = x;
    c->bytes += bytes;
}

size_t srv_cache_bytes(const srv_cache *c) { return c->bytes; }
size_t srv_cache_entries(const srv_cache *c) { return c->n; }
