/* serve_store.h — where conversation states live (docs/SERVER.md, "State store").
 *
 * The state-store interface (srv_backend_ops) stores byte entries under string keys. Two
 * implementations:
 *   memory  the in-process LRU of serve_cache.c (also the prompt-state cache of live states)
 *   redis   serve_redis.c, shared by every replica that names the same Redis
 * Entries are state files (rwkv_state_serialize: versioned, checksummed, naming the model's
 * fingerprint; the text the state has consumed and the logits after it are stored with it) and
 * the records of stored responses (JSON). Keys name the model fingerprint:
 *   rwkv:<fingerprint>:s:<hash of the text>   the state after that text
 *   rwkv:<fingerprint>:r:<response id>        a stored response and the text of its conversation
 *
 * The front (serve_store.c) keeps the server's hot paths off the network: a reader thread and a
 * writer thread, each with its own connection; writes wait in a bounded queue (full: dropped and
 * counted); reads are polled by the scheduler, which stops waiting after --state-timeout and
 * recomputes. A store that is down makes every call fail fast; requests go on without it. */
#ifndef RWKV_SERVE_STORE_H
#define RWKV_SERVE_STORE_H

#include "cli/cli.h"
#include "rwkv.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the interface ------------------------------------------------------------------------------ */

/* Every call is synchronous and bounded in time. self is the implementation's handle. */
typedef struct srv_backend_ops {
    const char *kind; /* "memory", "redis" */
    /* The value of the last key of keys[0..n) that exists (*which its index): 1 found (value in
     * *out), 0 none, -1 the store is unavailable. */
    int (*get_last)(void *self, const char *const *keys, int n, int *which, cli_buf *out);
    /* 0 stored, -1 unavailable. */
    int (*put)(void *self, const char *key, const void *data, size_t len);
    /* 1 deleted, 0 absent, -1 unavailable. */
    int (*del)(void *self, const char *key);
    /* Bytes and entries held (for /metrics); -1 unavailable. */
    int (*usage)(void *self, size_t *bytes, size_t *entries);
} srv_backend_ops;

/* ---- serve_redis.c ------------------------------------------------------------------------------ */

typedef struct srv_redis_url {
    char host[256];
    int port;                  /* default 6379 */
    int db;                    /* default 0 */
    char password[256];        /* "" = none */
} srv_redis_url;

/* Parses redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (HOST a name, an IPv4 address or [IPv6]).
 * -1 with a message in err when malformed. */
int srv_redis_parse_url(const char *url, srv_redis_url *out, char *err, size_t cap);

typedef struct srv_redis srv_redis;
/* A connection (made at the first call, remade after a failure). ttl_s 0 = keys never expire.
 * NULL when out of memory. */
srv_redis *srv_redis_open(const srv_redis_url *url, int ttl_s, int timeout_ms);
void srv_redis_close(srv_redis *r);
/* Makes the call in progress (another thread's) fail at once and every later one too: shutdown. */
void srv_redis_abort(srv_redis *r);
/* The reason of the last failure. */
const char *srv_redis_error(const srv_redis *r);
extern const srv_backend_ops srv_redis_ops;

/* ---- serve_store.c: the front ------------------------------------------------------------------ */

typedef struct srv_store srv_store;
struct srv_cache;

typedef struct srv_store_config {
    uint64_t fingerprint;      /* the model's (rwkv_model_info.fingerprint) */
    size_t n_vocab;
    const char *url;           /* redis://...; NULL = no shared store */
    int ttl_s;                 /* 0 = no expiry */
    int timeout_ms;            /* bound of a read; connections and socket operations too */
} srv_store_config;

/* The counters of /metrics. */
typedef struct srv_store_stats {
    atomic_ullong hits, misses, hit_tokens, rejected, errors, timeouts, reads, read_bytes, read_ns,
        writes, write_bytes, write_ns, dropped;
    atomic_ullong queue_bytes, queue_len, bytes, entries;
    atomic_int up;             /* the shared store answered the last call */
} srv_store_stats;

/* A store over the in-process cache (the local tier) and, when cfg->url is set, Redis (the
 * shared tier; its URL must have been checked with srv_redis_parse_url). NULL when out of memory
 * or the threads cannot start. */
srv_store *srv_store_new(struct srv_cache *local, const srv_store_config *cfg);
/* Waits up to timeout_ms for the queued writes to finish (graceful shutdown). */
void srv_store_drain(srv_store *st, int timeout_ms);
/* Stops the threads (pending operations complete as failed) and frees the store. */
void srv_store_free(srv_store *st);
int srv_store_shared(const srv_store *st);
const char *srv_store_kind(const srv_store *st);
srv_store_stats *srv_store_get_stats(srv_store *st);
/* Called (from any thread) whenever an operation completes; set before use. */
void srv_store_set_notify(srv_store *st, void (*fn)(void *), void *arg);

/* A completion callback: status 1 found/done, 0 not found, -1 store unavailable; data is the
 * value read (get) and is valid during the call only. Runs on a store thread or inline. */
typedef void (*srv_store_cb)(void *arg, int status, const char *data, size_t len);

/* -- prefix states (shared tier only) -- */
/* Queues the state after text[0..len) (copied now, serialized by the writer thread) for the
 * shared store. Dropped (counted) when the queue is full. */
void srv_store_put_state(srv_store *st, const char *text, size_t len, const rwkv_state *state,
                         const float *logits);

/* An asynchronous read that the scheduler polls. */
typedef struct srv_fetch srv_fetch;
/* Looks for the state after the longest of text[0..ends[i]) (ends ascending, at most 64 used:
 * the longest). NULL when there is no shared store, nothing to look for, or out of memory. */
srv_fetch *srv_store_fetch_state(srv_store *st, const char *text, const size_t *ends, int n);
/* 0 while pending; 1 when done: *status as for srv_store_cb, *which the index into ends (or -1),
 * *data and *len the value (owned by f). */
int srv_fetch_poll(srv_fetch *f, int *status, int *which, const char **data, size_t *len);
/* Gives f back (pending or not); the store frees it. */
void srv_fetch_release(srv_fetch *f);
/* Checks a fetched state entry and loads it: a state file of this model whose text is exactly
 * text[0..len), with logits. 0 and *n_tokens when loaded; -1 when rejected (counted; state may
 * then hold anything: reset it). */
int srv_store_load_state(srv_store *st, const char *data, size_t dlen, const char *text, size_t len,
                         rwkv_state *state, float *logits, uint64_t *n_tokens);

/* -- response records (local tier, and shared tier when there is one) -- */
/* A record: the response object (JSON text) and the text of its conversation (what the state
 * after the response has consumed, any bytes). Stored as "RWKVREC1", a checksum, the lengths and
 * both texts, so that damage is detected (the record then counts as absent). */
typedef struct srv_record {
    char *response, *history;  /* malloc'd, NUL-terminated */
    size_t response_len, history_len;
} srv_record;
/* Parses a record's bytes; -1 when damaged. */
int srv_record_parse(const char *data, size_t len, srv_record *out);
void srv_record_free(srv_record *r);

/* Stores a record: in the local tier at once, then queued for the shared tier; done is called
 * when it is there (status 1), failed (-1), or at once without a shared tier. done may be NULL. */
void srv_store_put_record(srv_store *st, const char *id, const char *response, size_t rlen,
                          const char *history, size_t hlen, srv_store_cb done, void *arg);
/* Reads a record: the local tier, then the shared one. done gets its bytes (possibly inline). */
void srv_store_get_record(srv_store *st, const char *id, srv_store_cb done, void *arg);
/* The same, polled by the scheduler (NULL when out of memory). */
srv_fetch *srv_store_fetch_record(srv_store *st, const char *id);
/* Deletes a record and the state after its conversation from both tiers; done gets 1 when the
 * record existed in either, 0 when not, -1 when it was not found and the shared tier failed. */
void srv_store_del_record(srv_store *st, const char *id, srv_store_cb done, void *arg);

/* The key of the state after text[0..len) ("rwkv:<fp>:s:<hash>"), into out[SRV_KEY_MAX]. */
enum { SRV_KEY_MAX = 128 };
void srv_store_state_key(const srv_store *st, const char *text, size_t len, char *out);

#endif
