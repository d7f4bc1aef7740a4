/* serve_metrics.c — the counters behind GET /metrics, rendered in the Prometheus text format.
 * Request counts are kept per route (labels from the routes table's metric column). */
#include "serve.h"

#include <string.h>

static const int status_codes[SRV_ST_COUNT] = {200, 204, 400, 401, 404, 405, 413, 429, 500, 501, 503};

void srv_metrics_set_labels(srv_metrics *m, const char *const *labels, int n) {
    if (n > SRV_MAX_ROUTES) n = SRV_MAX_ROUTES;
    for (int i = 0; i < n; i++) m->labels[i] = labels[i];
    m->labels[n] = "other";
    m->n_labels = n + 1;
}

void srv_metrics_count(srv_metrics *m, int route, int status) {
    int slot = route >= 0 && route < m->n_labels - 1 ? route : m->n_labels - 1;
    if (slot < 0) return; /* no labels set */
    int st = SRV_ST_500;
    for (int i = 0; i < SRV_ST_COUNT; i++)
        if (status_codes[i] == status) st = i;
    atomic_fetch_add(&m->requests[slot][st], 1);
}

/* Appends one counter or gauge with its HELP/TYPE lines. */
static void one(cli_buf *b, const char *name, const char *type, const char *help,
                unsigned long long v) {
    srv_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, v);
}

/* A counter of seconds kept in nanoseconds. */
static void seconds(cli_buf *b, const char *name, const char *help, unsigned long long ns) {
    srv_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu.%09llu\n", name, help, name, name, ns / 1000000000ull,
                   ns % 1000000000ull);
}

/* The state store's counters (the shared tier's only when there is one). */
static void store_metrics(cli_buf *b, srv_store_stats *t, int shared) {
    if (!shared) return;
    one(b, "rwkv_store_up", "gauge", "1 when the shared state store answered the last call.",
        (unsigned long long)atomic_load(&t->up));
    one(b, "rwkv_store_hits_total", "counter", "Prompts that continued from a state found in the shared store.",
        atomic_load(&t->hits));
    one(b, "rwkv_store_misses_total", "counter", "Shared-store lookups that found no longer prefix state.",
        atomic_load(&t->misses));
    one(b, "rwkv_store_hit_tokens_total", "counter", "Prompt tokens not prefilled thanks to the shared store.",
        atomic_load(&t->hit_tokens));
    one(b, "rwkv_store_rejected_total", "counter",
        "Entries ignored: damaged, truncated, of another model or format version (recomputed).",
        atomic_load(&t->rejected));
    one(b, "rwkv_store_errors_total", "counter", "Calls to the shared store that failed (it was down or broke).",
        atomic_load(&t->errors));
    one(b, "rwkv_store_timeouts_total", "counter", "Reads not answered within --state-timeout (recomputed).",
        atomic_load(&t->timeouts));
    one(b, "rwkv_store_reads_total", "counter", "Entries read from the shared store.", atomic_load(&t->reads));
    one(b, "rwkv_store_read_bytes_total", "counter", "Bytes read from the shared store.", atomic_load(&t->read_bytes));
    seconds(b, "rwkv_store_read_seconds_total", "Time of the reads that found an entry.", atomic_load(&t->read_ns));
    one(b, "rwkv_store_writes_total", "counter", "Entries written to the shared store.", atomic_load(&t->writes));
    one(b, "rwkv_store_write_bytes_total", "counter", "Bytes written to the shared store.", atomic_load(&t->write_bytes));
    seconds(b, "rwkv_store_write_seconds_total", "Time of the writes (serializing included).",
            atomic_load(&t->write_ns));
    one(b, "rwkv_store_writes_dropped_total", "counter", "Writes dropped (queue full, or pending at shutdown).",
        atomic_load(&t->dropped));
    one(b, "rwkv_store_queue_length", "gauge", "Writes waiting for the writer thread.", atomic_load(&t->queue_len));
    one(b, "rwkv_store_queue_bytes", "gauge", "Bytes of the writes waiting.", atomic_load(&t->queue_bytes));
    one(b, "rwkv_store_bytes", "gauge", "Memory used by the Redis server (INFO memory), refreshed every 5 s.",
        atomic_load(&t->bytes));
    one(b, "rwkv_store_entries", "gauge", "Keys in the Redis database (DBSIZE), refreshed every 5 s.",
        atomic_load(&t->entries));
}

char *srv_metrics_render(server *s, size_t *len) {
    srv_metrics *m = &s->metrics;
    cli_buf b = {0};
    srv_buf_printf(&b, "# HELP rwkv_requests_total HTTP requests answered, by endpoint and status.\n"
                       "# TYPE rwkv_requests_total counter\n");
    /* rows that share a label are summed into the first row with that label */
    for (int e = 0; e < m->n_labels; e++) {
        int seen = 0;
        for (int k = 0; k < e; k++) seen |= !strcmp(m->labels[k], m->labels[e]);
        if (seen) continue;
        for (int st = 0; st < SRV_ST_COUNT; st++) {
            unsigned long long v = 0;
            for (int k = e; k < m->n_labels; k++)
                if (!strcmp(m->labels[k], m->labels[e])) v += atomic_load(&m->requests[k][st]);
            if (v)
                srv_buf_printf(&b, "rwkv_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n",
                               m->labels[e], status_codes[st], v);
        }
    }
    int queued = 0, active = 0;
    srv_jobs_counts(&s->jobs, &queued, &active, NULL);
    one(&b, "rwkv_prompt_tokens_total", "counter", "Prompt tokens of all requests (cached or not).",
        atomic_load(&m->prompt_tokens));
    one(&b, "rwkv_prefill_tokens_total", "counter", "Prompt tokens actually evaluated (not from the cache).",
        atomic_load(&m->prefill_tokens));
    one(&b, "rwkv_prefill_chunks_total", "counter", "Prefill chunks evaluated (one per scheduler step at most).",
        atomic_load(&m->prefill_chunks));
    one(&b, "rwkv_generated_tokens_total", "counter", "Tokens generated.", atomic_load(&m->generated_tokens));
    one(&b, "rwkv_decode_steps_total", "counter", "Batched decode steps.", atomic_load(&m->decode_steps));
    one(&b, "rwkv_cancelled_total", "counter", "Requests dropped because the client went away.",
        atomic_load(&s->jobs.cancelled));
    one(&b, "rwkv_queue_length", "gauge", "Requests waiting for a slot.", (unsigned long long)queued);
    one(&b, "rwkv_active_sequences", "gauge", "Requests being prefilled or decoded.", (unsigned long long)active);
    one(&b, "rwkv_cache_hits_total", "counter", "Prompts that started from a cached state.",
        atomic_load(&m->cache_hits));
    one(&b, "rwkv_cache_misses_total", "counter", "Prompts with no cached prefix.", atomic_load(&m->cache_misses));
    one(&b, "rwkv_cache_hit_tokens_total", "counter", "Prompt tokens skipped thanks to the cache.",
        atomic_load(&m->cache_hit_tokens));
    size_t cbytes = 0, centries = 0;
    if (s->cache) srv_cache_usage(s->cache, &cbytes, &centries);
    one(&b, "rwkv_cache_bytes", "gauge", "Bytes held by the in-process cache (states and stored responses).",
        (unsigned long long)cbytes);
    one(&b, "rwkv_cache_entries", "gauge", "Entries in the in-process cache.", (unsigned long long)centries);
    one(&b, "rwkv_connections_refused_total", "counter",
        "Connections refused by the per-address or total connection limit.", atomic_load(&m->conn_refused));
    one(&b, "rwkv_connections_evicted_total", "counter",
        "Idle connections closed early to make room for new ones.", atomic_load(&m->conn_evicted));
    seconds(&b, "rwkv_scheduler_seconds_total", "Time the scheduler spent in steps (prefill, sampling, decode, output).",
            atomic_load(&m->sched_ns));
    seconds(&b, "rwkv_model_seconds_total", "Time inside the model (prefill chunks and batched decode).",
            atomic_load(&m->model_ns));
    seconds(&b, "rwkv_sampling_seconds_total", "Time spent sampling tokens.", atomic_load(&m->sample_ns));
    one(&b, "rwkv_parallel_slots", "gauge", "Sequences decoded together at most (--parallel).",
        (unsigned long long)s->parallel);
    one(&b, "rwkv_ready", "gauge", "1 once the model is loaded (/health answers 200), 0 while loading or draining.",
        (unsigned long long)(atomic_load(&s->ready) && !atomic_load(&s->draining)));
    srv_buf_printf(&b, "# HELP rwkv_replica_info This replica (--replica-id) and its state store.\n"
                       "# TYPE rwkv_replica_info gauge\nrwkv_replica_info{replica=\"%s\",store=\"%s\"} 1\n",
                   atomic_load(&s->replica) ? atomic_load(&s->replica) : "", s->store ? srv_store_kind(s->store) : "memory");
    if (s->store) store_metrics(&b, srv_store_get_stats(s->store), srv_store_shared(s->store));
    if (len) *len = b.len;
    return b.data;
}
