/* serve_metrics.c — the counters behind GET /metrics, rendered in the Prometheus text format. */
#include "serve.h"

#include <string.h>

static const char *const endpoint_names[SRV_EP_COUNT] = {
    "/v1/models", "/v1/completions", "/v1/chat/completions", "/health", "/metrics", "/", "other"};
static const int status_codes[SRV_ST_COUNT] = {200, 400, 401, 404, 405, 413, 429, 500, 503};

int srv_metrics_endpoint(const char *url) {
    for (int i = 0; i < SRV_EP_OTHER; i++)
        if (!strcmp(url, endpoint_names[i])) return i;
    if (!strcmp(url, "/index.html")) return SRV_EP_PAGE;
    return SRV_EP_OTHER;
}

void srv_metrics_count_locked(server *s, int endpoint, int status) {
    if (endpoint < 0 || endpoint >= SRV_EP_COUNT) endpoint = SRV_EP_OTHER;
    for (int i = 0; i < SRV_ST_COUNT; i++)
        if (status_codes[i] == status) {
            s->metrics.requests[endpoint][i]++;
            return;
        }
    s->metrics.requests[endpoint][SRV_ST_500]++;
}

/* Appends one counter or gauge with its HELP/TYPE lines. */
static void one(cli_buf *b, const char *name, const char *type, const char *help,
                unsigned long long v) {
    srv_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, v);
}

char *srv_metrics_render(server *s, size_t *len) {
    cli_buf b = {0};
    srv_buf_printf(&b, "# HELP rwkv_requests_total HTTP requests answered, by endpoint and status.\n"
                       "# TYPE rwkv_requests_total counter\n");
    pthread_mutex_lock(&s->mu);
    unsigned long long req[SRV_EP_COUNT][SRV_ST_COUNT];
    memcpy(req, s->metrics.requests, sizeof req);
    int queue = s->queue_len, active = s->active;
    pthread_mutex_unlock(&s->mu);
    for (int e = 0; e < SRV_EP_COUNT; e++)
        for (int st = 0; st < SRV_ST_COUNT; st++)
            if (req[e][st])
                srv_buf_printf(&b, "rwkv_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n",
                               endpoint_names[e], status_codes[st], req[e][st]);
    srv_metrics *m = &s->metrics;
    one(&b, "rwkv_prompt_tokens_total", "counter", "Prompt tokens of all requests (cached or not).",
        atomic_load(&m->prompt_tokens));
    one(&b, "rwkv_prefill_tokens_total", "counter", "Prompt tokens actually evaluated (not from the cache).",
        atomic_load(&m->prefill_tokens));
    one(&b, "rwkv_generated_tokens_total", "counter", "Tokens generated.", atomic_load(&m->generated_tokens));
    one(&b, "rwkv_decode_steps_total", "counter", "Batched decode steps.", atomic_load(&m->decode_steps));
    one(&b, "rwkv_cancelled_total", "counter", "Requests dropped because the client went away.",
        atomic_load(&m->cancelled));
    one(&b, "rwkv_queue_length", "gauge", "Requests waiting for a slot.", (unsigned long long)queue);
    one(&b, "rwkv_active_sequences", "gauge", "Requests being prefilled or decoded.", (unsigned long long)active);
    one(&b, "rwkv_cache_hits_total", "counter", "Prompts that started from a cached state.",
        atomic_load(&m->cache_hits));
    one(&b, "rwkv_cache_misses_total", "counter", "Prompts with no cached prefix.", atomic_load(&m->cache_misses));
    one(&b, "rwkv_cache_hit_tokens_total", "counter", "Prompt tokens skipped thanks to the cache.",
        atomic_load(&m->cache_hit_tokens));
    one(&b, "rwkv_cache_bytes", "gauge", "Bytes held by the prompt cache.", atomic_load(&m->cache_bytes));
    one(&b, "rwkv_cache_entries", "gauge", "Entries in the prompt cache.", atomic_load(&m->cache_entries));
    one(&b, "rwkv_parallel_slots", "gauge", "Sequences decoded together at most (--parallel).",
        (unsigned long long)s->parallel);
    if (len) *len = b.len;
    return b.data;
}
