/* serve.c — `rwkv serve`: an OpenAI-compatible HTTP server (docs/SERVER.md). This file reads the
 * command line, loads the model, starts the scheduler and the HTTP daemon, and shuts both down
 * cleanly on SIGINT/SIGTERM. */
#include "cli/cli.h"
#include "serve.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char serve_usage[] =
    "usage: rwkv serve -m MODEL [options]\n"
    "OpenAI-compatible HTTP server: /v1/completions, /v1/chat/completions (streaming), /v1/models,\n"
    "/health, /metrics and a chat page at /. See docs/SERVER.md.\n"
    "  -m, --model FILE        model file (.pth)\n"
    "      --host ADDR         address to listen on (default 127.0.0.1)\n"
    "      --port N            port (default 8080; 0 = any free port, printed on stderr)\n"
    "      --parallel N        sequences decoded together (default 8)\n"
    "      --queue N           requests waiting for a slot before 429 (default 256)\n"
    "      --cache-mb M        prompt-state cache budget in MiB (default 256; 0 = off)\n"
    "      --api-key KEY       require 'Authorization: Bearer KEY' on /v1/*\n"
    "      --max-body BYTES    largest request body (default 1048576)\n"
    "      --max-tokens N      largest max_tokens a request may ask for (default 4096)\n"
    "      --timeout S         close idle or too slow connections after S seconds (default 30)\n"
    "      --vocab FILE        World vocabulary (default: $RWKV_VOCAB, or next to the model)\n"
    "  -t, --threads N         worker threads (0 = physical cores)\n";

/* The model's id in the API: the file name without directories and without ".pth". */
static void model_id_from_path(const char *path, char *out, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, cap, "%s", base);
    size_t n = strlen(out);
    if (n > 4 && !strcmp(out + n - 4, ".pth")) out[n - 4] = '\0';
    if (!out[0]) snprintf(out, cap, "rwkv");
}

int cmd_serve(int argc, char **argv) {
    enum { OPT_MODEL = 1, OPT_HOST, OPT_PORT, OPT_PARALLEL, OPT_QUEUE, OPT_CACHE, OPT_KEY,
           OPT_BODY, OPT_MAXTOK, OPT_TIMEOUT, OPT_VOCAB, OPT_THREADS };
    static const cli_option opts[] = {
        {OPT_MODEL, "model", 'm', 1},       {OPT_HOST, "host", 0, 1},
        {OPT_PORT, "port", 0, 1},           {OPT_PARALLEL, "parallel", 0, 1},
        {OPT_QUEUE, "queue", 0, 1},         {OPT_CACHE, "cache-mb", 0, 1},
        {OPT_KEY, "api-key", 0, 1},         {OPT_BODY, "max-body", 0, 1},
        {OPT_MAXTOK, "max-tokens", 0, 1},   {OPT_TIMEOUT, "timeout", 0, 1},
        {OPT_VOCAB, "vocab", 0, 1},         {OPT_THREADS, "threads", 't', 1},
        {0, NULL, 0, 0},
    };
    const char *model_path = NULL, *host = "127.0.0.1", *vocab = NULL, *key = NULL;
    int port = 8080, parallel = 8, queue = 256, cache_mb = 256, max_tokens = 4096, timeout = 30;
    int threads = 0;
    long long max_body = 1 << 20;
    cli_parser p;
    cli_parser_init(&p, "serve", argc, argv);
    const char *v;
    for (int id; (id = cli_next(&p, opts, &v)) != CLI_END;) {
        int bad = 0;
        switch (id) {
        case CLI_HELP: fputs(serve_usage, stdout); return CLI_EXIT_OK;
        case CLI_BAD: return CLI_EXIT_USAGE;
        case CLI_POSITIONAL: return cli_usage_error("serve", "unexpected argument '%.100s'", v);
        case OPT_MODEL: model_path = v; break;
        case OPT_HOST: host = v; break;
        case OPT_PORT: bad = cli_parse_int("--port", v, 0, 65535, &port); break;
        case OPT_PARALLEL: bad = cli_parse_int("--parallel", v, 1, 1024, &parallel); break;
        case OPT_QUEUE: bad = cli_parse_int("--queue", v, 1, 1000000, &queue); break;
        case OPT_CACHE: bad = cli_parse_int("--cache-mb", v, 0, 1 << 20, &cache_mb); break;
        case OPT_KEY:
            if (!*v) return cli_usage_error("serve", "--api-key: the key is empty");
            key = v;
            break;
        case OPT_BODY: bad = cli_parse_i64("--max-body", v, 64, 1LL << 32, &max_body); break;
        case OPT_MAXTOK: bad = cli_parse_int("--max-tokens", v, 1, 1 << 24, &max_tokens); break;
        case OPT_TIMEOUT: bad = cli_parse_int("--timeout", v, 1, 86400, &timeout); break;
        case OPT_VOCAB: vocab = v; break;
        case OPT_THREADS: bad = cli_parse_int("--threads", v, 0, 4096, &threads); break;
        }
        if (bad) return CLI_EXIT_USAGE;
    }
    if (!model_path) return cli_usage_error("serve", "missing -m MODEL");

    static server s; /* static: large and zeroed */
    memset(&s, 0, sizeof s);
    s.api_key = key;
    s.max_body = (size_t)max_body;
    s.parallel = parallel;
    s.max_queue = queue;
    s.max_tokens_cap = max_tokens;
    s.timeout_s = timeout;
    s.cache_bytes = (size_t)cache_mb << 20;
    model_id_from_path(model_path, s.model_id, sizeof s.model_id);
    if (cli_load_model(model_path, threads, &s.model)) return CLI_EXIT_RUNTIME;
    rwkv_model_get_info(s.model, &s.info);
    if (cli_load_tokenizer(model_path, vocab, s.info.n_vocab, &s.tok)) {
        rwkv_model_free(s.model);
        return CLI_EXIT_RUNTIME;
    }
    s.cache = srv_cache_new(s.cache_bytes);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.wake, NULL);

    /* Every thread started from here on inherits the blocked signals; main waits for them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = CLI_EXIT_RUNTIME;
    if (!s.cache || srv_sched_start(&s)) {
        cli_error("serve: cannot start the scheduler");
        goto done_nosched;
    }
    if (srv_http_start(&s, host, port)) goto done;
    fprintf(stderr, "rwkv serve: model %s, listening on http://%s%s%s:%d/ (parallel %d, cache %d MiB)\n",
            s.model_id, strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
            srv_http_port(&s), parallel, cache_mb);
    fflush(stderr);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "rwkv serve: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = CLI_EXIT_OK;
done:
    srv_sched_stop(&s);
    srv_http_stop(&s);
    goto cleanup;
done_nosched:
    pthread_mutex_lock(&s.mu);
    s.stopping = 1;
    pthread_mutex_unlock(&s.mu);
cleanup:
    srv_cache_free(s.cache);
    rwkv_tokenizer_free(s.tok);
    rwkv_model_free(s.model);
    pthread_cond_destroy(&s.wake);
    pthread_mutex_destroy(&s.mu);
    return rc;
}
