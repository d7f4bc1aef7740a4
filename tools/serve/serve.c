/* serve.c — `rwkv serve`: an OpenAI-compatible HTTP server (docs/SERVER.md). This file reads the
 * command line (and RWKV_API_KEY), starts the HTTP daemon (it answers 503 on /health while the
 * model loads), loads the model, starts the state store and the scheduler, and shuts down on a
 * signal: SIGINT at once, SIGTERM after a graceful drain. */
#include "cli/cli.h"
#include "serve.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char serve_usage[] =
    "usage: rwkv serve -m MODEL [options]\n"
    "OpenAI-compatible HTTP server: /v1/completions, /v1/chat/completions, /v1/responses (streaming),\n"
    "/v1/models, /health, /metrics and a chat page at /. See docs/SERVER.md.\n"
    "  -m, --model FILE        model file (.pth, .gguf or rwkv.cpp .bin)\n"
    "      --host HOST         name or address to listen on (default 127.0.0.1)\n"
    "      --port N            port (default 8080; 0 = any free port, printed on stderr)\n"
    "      --parallel N        sequences decoded together (default 8)\n"
    "      --queue N           requests waiting for a slot before 429 (default 256)\n"
    "      --cache-mb M        in-process cache budget in MiB: prompt states, stored responses\n"
    "                          (default 256; 0 = off)\n"
    "      --state-store URL   share conversation states and stored responses with other replicas\n"
    "                          through Redis: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]\n"
    "      --state-ttl S       entries of the state store expire after S seconds (default 86400;\n"
    "                          0 = never)\n"
    "      --state-timeout MS  how long a request waits for the state store before recomputing\n"
    "                          (default 1000)\n"
    "      --replica-id ID     this replica's name in /metrics and the X-Replica-Id header\n"
    "                          (default HOSTNAME:PORT)\n"
    "      --drain-timeout S   on SIGTERM, finish admitted requests for up to S seconds (default 60)\n"
    "      --api-key KEY       require 'Authorization: Bearer KEY' on /v1/* (repeatable; also\n"
    "                          $RWKV_API_KEY)\n"
    "      --api-key-file F    accepted keys, one per line ('#' comments and blank lines ignored)\n"
    "      --alias NAME        another model id, listed in /v1/models (repeatable)\n"
    "      --strict-model      refuse requests naming another model (default: any name is served)\n"
    "      --cors ORIGIN       allow browser pages from ORIGIN ('*' = any; repeatable)\n"
    "      --max-body BYTES    largest request body (default 1048576)\n"
    "      --max-tokens N      largest max_tokens a request may ask for (default 4096)\n"
    "      --timeout S         close idle or too slow connections after S seconds (default 30)\n"
    "      --max-conn N        open connections in all (default 1000)\n"
    "      --max-conn-per-ip N open connections per client address (default 128; 0 = no limit)\n"
    "      --quiet             no access log (one line per request on stderr)\n"
    "      --vocab FILE        World vocabulary (default: $RWKV_VOCAB, or next to the model)\n"
    CLI_MODEL_HELP;

/* The model's id in the API: the file name without directories and without the extension of a
 * model format (.pth, .gguf, .bin). */
static void model_id_from_path(const char *path, char *out, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, cap, "%s", base);
    static const char *const ext[] = {".pth", ".gguf", ".bin"};
    size_t n = strlen(out);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t e = strlen(ext[i]);
        if (n > e && !strcmp(out + n - e, ext[i])) {
            out[n - e] = '\0';
            break;
        }
    }
    if (!out[0]) snprintf(out, cap, "rwkv");
}

/* The replica id travels in a header and a Prometheus label: letters, digits and ._:@- only. */
static int check_replica_id(const char *v) {
    size_t n = strlen(v);
    if (n == 0 || n >= 128) return cli_usage_error("serve", "--replica-id: 1 to 127 characters");
    for (size_t i = 0; i < n; i++)
        if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9') ||
              strchr("._:@-", v[i])))
            return cli_usage_error("serve", "--replica-id: only letters, digits and . _ : @ - are allowed");
    return 0;
}

/* Waits for SIGINT or SIGTERM. On SIGTERM: stop accepting connections, refuse new requests
 * (/health 503), and let what was admitted or queued finish, up to drain_s seconds or a second
 * signal; then the normal shutdown follows. */
static void wait_and_drain(server *s, const sigset_t *set, int drain_s) {
    int sig = 0;
    sigwait(set, &sig);
    if (sig == SIGINT) {
        fprintf(stderr, "rwkv serve: SIGINT, shutting down\n");
        return;
    }
    fprintf(stderr, "rwkv serve: SIGTERM, draining (up to %d s)\n", drain_s);
    atomic_store(&s->draining, 1);
    srv_http_quiesce(s);
    struct timespec poll = {0, 50000000};
    for (int i = 0; i < drain_s * 20; i++) {
        int queued = 0, active = 0;
        srv_jobs_counts(&s->jobs, &queued, &active, NULL);
        if (queued == 0 && active == 0) break;
        if (sigtimedwait(set, NULL, &poll) > 0) break; /* a second signal: stop now */
    }
    fprintf(stderr, "rwkv serve: shutting down\n");
}

/* While the model loads, a signal ends the process at once (there is nothing to finish). */
static void *exit_on_signal(void *arg) {
    int sig = 0;
    sigwait(arg, &sig);
    fprintf(stderr, "rwkv serve: %s while loading the model, exiting\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    _exit(0);
}

/* Adds an API key (copied) after checking it can travel in a header. what names its source. */
static int add_key(server *s, const char *key, size_t len, const char *what) {
    if (len == 0) return cli_usage_error("serve", "%s: the key is empty", what);
    if (len > 1024) return cli_usage_error("serve", "%s: the key is longer than 1024 bytes", what);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)key[i] <= ' ' || (unsigned char)key[i] >= 127)
            return cli_usage_error("serve", "%s: a key may hold only printable ASCII without spaces", what);
    if (s->n_keys == SRV_MAX_KEYS) return cli_usage_error("serve", "%s: more than %d keys", what, SRV_MAX_KEYS);
    char *k = strndup(key, len);
    if (!k) return cli_usage_error("serve", "out of memory");
    s->keys[s->n_keys++] = k;
    return 0;
}

/* Reads the keys of an --api-key-file: one per line, '#' comment lines and blank lines ignored,
 * spaces around a key trimmed. A file without any key is an error. */
static int add_key_file(server *s, const char *path) {
    char *data = NULL;
    size_t len = 0;
    if (cli_read_file("--api-key-file", path, &data, &len)) return CLI_EXIT_USAGE;
    int n = 0, rc = 0, line = 0;
    for (char *p = data, *end = data + len; p < end && rc == 0;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        line++;
        char *a = p, *b = e;
        while (a < b && (*a == ' ' || *a == '\t' || *a == '\r')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r')) b--;
        if (a < b && *a != '#') {
            char what[300];
            snprintf(what, sizeof what, "--api-key-file %.200s, line %d", path, line);
            rc = add_key(s, a, (size_t)(b - a), what);
            n++;
        }
        p = e + 1;
    }
    free(data);
    if (rc == 0 && n == 0) rc = cli_usage_error("serve", "--api-key-file %.200s: no key in the file", path);
    return rc;
}

static int add_listed(const char **list, int *n, int cap, const char *v, const char *opt) {
    if (!*v) return cli_usage_error("serve", "%s: the value is empty", opt);
    if (*n == cap) return cli_usage_error("serve", "%s: at most %d", opt, cap);
    list[(*n)++] = v;
    return 0;
}

int cmd_serve(int argc, char **argv) {
    enum { OPT_MODEL = 1, OPT_HOST, OPT_PORT, OPT_PARALLEL, OPT_QUEUE, OPT_CACHE, OPT_KEY, OPT_KEY_FILE,
           OPT_ALIAS, OPT_STRICT, OPT_CORS, OPT_BODY, OPT_MAXTOK, OPT_TIMEOUT, OPT_MAX_CONN,
           OPT_MAX_CONN_IP, OPT_QUIET, OPT_VOCAB, OPT_STORE, OPT_TTL, OPT_STORE_TIMEOUT, OPT_REPLICA,
           OPT_DRAIN };
    static const cli_option opts[] = {
        {OPT_MODEL, "model", 'm', 1},       {OPT_HOST, "host", 0, 1},
        {OPT_PORT, "port", 0, 1},           {OPT_PARALLEL, "parallel", 0, 1},
        {OPT_QUEUE, "queue", 0, 1},         {OPT_CACHE, "cache-mb", 0, 1},
        {OPT_KEY, "api-key", 0, 1},         {OPT_KEY_FILE, "api-key-file", 0, 1},
        {OPT_ALIAS, "alias", 0, 1},         {OPT_STRICT, "strict-model", 0, 0},
        {OPT_CORS, "cors", 0, 1},           {OPT_BODY, "max-body", 0, 1},
        {OPT_MAXTOK, "max-tokens", 0, 1},   {OPT_TIMEOUT, "timeout", 0, 1},
        {OPT_MAX_CONN, "max-conn", 0, 1},   {OPT_MAX_CONN_IP, "max-conn-per-ip", 0, 1},
        {OPT_QUIET, "quiet", 0, 0},         {OPT_VOCAB, "vocab", 0, 1},
        {OPT_STORE, "state-store", 0, 1},   {OPT_TTL, "state-ttl", 0, 1},
        {OPT_STORE_TIMEOUT, "state-timeout", 0, 1},
        {OPT_REPLICA, "replica-id", 0, 1},  {OPT_DRAIN, "drain-timeout", 0, 1},
        CLI_MODEL_OPTIONS,   {0, NULL, 0, 0},
    };
    static server s; /* static: large and zeroed */
    memset(&s, 0, sizeof s);
    const char *model_path = NULL, *host = "127.0.0.1", *vocab = NULL, *store_url = NULL;
    int port = 8080, queue = 256, cache_mb = 256, ttl = 86400, drain_s = 60;
    cli_model_opts mo = {0};
    s.store_timeout_ms = 1000;
    long long max_body = 1 << 20;
    s.parallel = 8;
    s.max_tokens_cap = 4096;
    s.timeout_s = 30;
    s.max_conn = 1000;
    s.max_conn_per_ip = 128;
    cli_parser p;
    cli_parser_init(&p, "serve", argc, argv);
    const char *v;
    int rc = CLI_EXIT_USAGE;
    for (int id; (id = cli_next(&p, opts, &v)) != CLI_END;) {
        int bad = 0;
        switch (id) {
        case CLI_HELP: fputs(serve_usage, stdout); rc = CLI_EXIT_OK; goto free_keys;
        case CLI_BAD: goto free_keys;
        case CLI_POSITIONAL: cli_usage_error("serve", "unexpected argument '%.100s'", v); goto free_keys;
        case OPT_MODEL: model_path = v; break;
        case OPT_HOST: host = v; break;
        case OPT_PORT: bad = cli_parse_int("--port", v, 0, 65535, &port); break;
        case OPT_PARALLEL: bad = cli_parse_int("--parallel", v, 1, 1024, &s.parallel); break;
        case OPT_QUEUE: bad = cli_parse_int("--queue", v, 1, 1000000, &queue); break;
        case OPT_CACHE: bad = cli_parse_int("--cache-mb", v, 0, 1 << 20, &cache_mb); break;
        case OPT_KEY: bad = add_key(&s, v, strlen(v), "--api-key"); break;
        case OPT_KEY_FILE: bad = add_key_file(&s, v); break;
        case OPT_ALIAS: bad = add_listed(s.aliases, &s.n_aliases, SRV_MAX_ALIASES, v, "--alias"); break;
        case OPT_STRICT: s.strict_model = 1; break;
        case OPT_CORS: bad = add_listed(s.cors, &s.n_cors, SRV_MAX_CORS, v, "--cors"); break;
        case OPT_BODY: bad = cli_parse_i64("--max-body", v, 64, 1LL << 32, &max_body); break;
        case OPT_MAXTOK: bad = cli_parse_int("--max-tokens", v, 1, 1 << 24, &s.max_tokens_cap); break;
        case OPT_TIMEOUT: bad = cli_parse_int("--timeout", v, 1, 86400, &s.timeout_s); break;
        case OPT_MAX_CONN: bad = cli_parse_int("--max-conn", v, 4, 100000, &s.max_conn); break;
        case OPT_MAX_CONN_IP: bad = cli_parse_int("--max-conn-per-ip", v, 0, 100000, &s.max_conn_per_ip); break;
        case OPT_QUIET: s.quiet = 1; break;
        case OPT_VOCAB: vocab = v; break;
        case OPT_STORE: store_url = v; break;
        case OPT_TTL: bad = cli_parse_int("--state-ttl", v, 0, 1 << 30, &ttl); break;
        case OPT_STORE_TIMEOUT: bad = cli_parse_int("--state-timeout", v, 1, 600000, &s.store_timeout_ms); break;
        case OPT_REPLICA:
            bad = check_replica_id(v);
            if (!bad) snprintf(s.replica_id, sizeof s.replica_id, "%s", v);
            break;
        case OPT_DRAIN: bad = cli_parse_int("--drain-timeout", v, 0, 86400, &drain_s); break;
        case CLI_OPT_THREADS: case CLI_OPT_DEVICE: case CLI_OPT_PREFILL_BF16: bad = cli_parse_model_option(id, v, &mo); break;
        }
        if (bad) goto free_keys;
    }
    const char *env_key = getenv("RWKV_API_KEY");
    if (env_key && *env_key && add_key(&s, env_key, strlen(env_key), "RWKV_API_KEY")) goto free_keys;
    if (!model_path) {
        cli_usage_error("serve", "missing -m MODEL");
        goto free_keys;
    }

    if (store_url) {
        srv_redis_url u;
        char err[300];
        if (srv_redis_parse_url(store_url, &u, err, sizeof err)) {
            cli_usage_error("serve", "--state-store: %s", err);
            goto free_keys;
        }
    }

    s.max_body = (size_t)max_body;
    s.cache_bytes = (size_t)cache_mb << 20;
    model_id_from_path(model_path, s.model_id, sizeof s.model_id);
    if (cli_check_input("model", model_path)) {
        rc = CLI_EXIT_RUNTIME;
        goto free_keys;
    }
    if (srv_jobs_init(&s.jobs, queue)) {
        cli_error("serve: cannot create the job queue");
        rc = CLI_EXIT_RUNTIME;
        goto free_keys;
    }

    /* Every thread started from here on inherits the blocked signals; main waits for them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Listen first: while the model loads, /health answers 503 and the API 503 "loading". */
    rc = CLI_EXIT_RUNTIME;
    if (srv_http_start(&s, host, port, srv_routes, srv_n_routes)) goto stop_http;
    if (!s.replica_id[0]) {
        char hn[64] = "localhost";
        gethostname(hn, sizeof hn - 1);
        const char *b = srv_http_bound(&s), *colon = strrchr(b, ':');
        snprintf(s.replica_id, sizeof s.replica_id, "%.63s%s", hn, colon ? colon : "");
    }
    atomic_store(&s.replica, s.replica_id);
    fprintf(stderr, "rwkv serve: bound to http://%s/, loading %s\n", srv_http_bound(&s), model_path);
    pthread_t watch;
    int watching = pthread_create(&watch, NULL, exit_on_signal, &set) == 0;
    int loaded = cli_load_model(model_path, &mo, &s.model) == 0;
    if (loaded) {
        rwkv_model_get_info(s.model, &s.info);
        loaded = cli_load_tokenizer(model_path, vocab, s.info.n_vocab, &s.tok) == 0;
    }
    if (watching) { /* from here on, signals are waited for below */
        pthread_cancel(watch);
        pthread_join(watch, NULL);
    }
    if (!loaded) goto stop_http;
    s.cache = srv_cache_new(s.cache_bytes, ttl);
    srv_store_config sc = {s.info.fingerprint, (size_t)s.info.n_vocab, store_url, ttl, s.store_timeout_ms};
    s.store = s.cache ? srv_store_new(s.cache, &sc) : NULL;
    if (!s.store || srv_sched_start(&s)) {
        cli_error("serve: cannot start the scheduler");
        goto stop_http;
    }
    atomic_store(&s.ready, 1);
    fprintf(stderr, "rwkv serve: model %s, listening on http://%s/ (parallel %d, cache %d MiB, state store %s, replica %s)\n",
            s.model_id, srv_http_bound(&s), s.parallel, cache_mb, store_url ? store_url : "in-process", s.replica_id);
    fflush(stderr);
    wait_and_drain(&s, &set, drain_s);
    rc = CLI_EXIT_OK;
    srv_sched_stop(&s);
    srv_store_drain(s.store, 5000); /* the last states and records */
stop_http:
    srv_http_stop(&s);
    srv_store_free(s.store);
    srv_cache_free(s.cache);
    srv_jobs_destroy(&s.jobs);
    rwkv_tokenizer_free(s.tok);
    rwkv_model_free(s.model);
free_keys:
    for (int i = 0; i < s.n_keys; i++) free(s.keys[i]);
    return rc;
}
