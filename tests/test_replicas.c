/* test_replicas.c — several `rwkv serve` replicas sharing conversation states through Redis,
 * behind nginx (docs/SERVER.md, "Several replicas"). Starts real servers on loopback, each on a
 * free port with its files in one temporary directory: redis-server, two replicas (A, B) with
 * --state-store, one reference server without a store (REF), and nginx running the configuration
 * of deploy/nginx/rwkv.conf with its ports replaced. Checks:
 *   - the official openai client: a 10-turn Responses conversation through nginx with
 *     previous_response_id, alternating replicas, only new tokens prefilled, replies equal to REF;
 *     chat completions with a growing message list, the other replica's prefix state found in Redis
 *     (tests/server/conversation.mjs);
 *   - faults: entries of another model, truncated, with a flipped byte → rejected and recomputed
 *     (same reply as REF); a Redis that answers slowly (tests/server/slowproxy.mjs) → the read
 *     times out and the prompt is recomputed; a replica killed between two turns → the other one
 *     continues the conversation from the store; Redis stopped → requests through nginx still
 *     succeed (full prefill, store errors counted), and are stored again once Redis is back;
 *   - load: 32 concurrent conversations x 10 turns through nginx, twice; RSS of each replica after
 *     the second run within 25% + 8 MiB of its value after the first.
 * redis-server, redis-cli, nginx and node with tests/server/node_modules are required: a missing
 * one is a failure that says so. Only 127.0.0.1 is contacted. */
#include "common/serve_client.h"
#include "common/test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp[256];             /* the temporary directory of everything started here */
static pid_t redis_pid, nginx_pid, proxy_pid;
static int redis_port, nginx_port, proxy_port;

/* ---- processes ------------------------------------------------------------------------------- */

/* A port nobody listens on now (the kernel's choice for port 0). */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof a;
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &n) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

/* Starts argv[0] (searched in PATH) with stdout and stderr to log; the pid, or -1. */
static pid_t spawn(const char *const *argv, const char *log) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Sends sig and waits up to 15 s (then SIGKILL); the exit status or 128+signal. */
static int end_process(pid_t *pid, int sig) {
    if (*pid <= 0) return -1;
    kill(*pid, sig);
    int st = 0;
    for (int i = 0; i < 1500; i++) {
        if (waitpid(*pid, &st, WNOHANG) == *pid) {
            *pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(10000);
    }
    kill(*pid, SIGKILL);
    waitpid(*pid, &st, 0);
    *pid = 0;
    return -1;
}

static int alive(pid_t pid) { return pid > 0 && waitpid(pid, NULL, WNOHANG) == 0; }

static int in_path(const char *prog) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

/* ---- Redis ------------------------------------------------------------------------------------ */

/* Runs redis-cli against the test's Redis with args (shell words); its output (malloc'd, "" on
 * failure). */
static char *rcli(const char *fmt, ...) {
    char args[2048], cmd[2400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "timeout 20 redis-cli -h 127.0.0.1 -p %d %s 2>&1", redis_port, args);
    FILE *f = popen(cmd, "r");
    size_t cap = 1 << 16, n = 0;
    char *out = calloc(1, cap);
    if (f && out) {
        size_t k;
        while ((k = fread(out + n, 1, cap - 1 - n, f)) > 0) n += k;
        out[n] = 0;
    }
    if (f) pclose(f);
    return out ? out : strdup("");
}

static int redis_ping(void) {
    char *o = rcli("ping");
    int ok = strstr(o, "PONG") != NULL;
    free(o);
    return ok;
}

/* Starts redis-server on redis_port (chosen on the first start, kept on a restart). */
static int redis_start(void) {
    if (!redis_port) redis_port = free_port();
    char port[16], log[300];
    snprintf(port, sizeof port, "%d", redis_port);
    snprintf(log, sizeof log, "%s/redis.log", tmp);
    const char *argv[] = {"redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", tmp, "--save", "",
                          "--appendonly", "no", "--daemonize", "no", NULL};
    redis_pid = spawn(argv, log);
    for (int i = 0; i < 100; i++) {
        if (redis_ping()) return 0;
        if (!alive(redis_pid)) break;
        usleep(100000);
    }
    return -1;
}

/* The keys matching pattern, one per line, in a malloc'd array of n (sorted by Redis' order). */
static char **redis_keys(const char *pattern, int *n) {
    char *o = rcli("--raw keys '%s'", pattern);
    int cap = 64;
    char **k = calloc((size_t)cap, sizeof *k);
    *n = 0;
    for (char *line = strtok(o, "\n"); line && k; line = strtok(NULL, "\n")) {
        if (strncmp(line, "rwkv:", 5)) continue;
        if (*n == cap) {
            char **nk = realloc(k, (size_t)(cap *= 2) * sizeof *k);
            if (!nk) break;
            k = nk;
        }
        k[(*n)++] = strdup(line);
    }
    free(o);
    return k;
}

static void free_keys(char **k, int n) {
    for (int i = 0; i < n; i++) free(k[i]);
    free(k);
}

/* ---- nginx ------------------------------------------------------------------------------------ */

/* Replaces the first `from` in the malloc'd string *s by `to`; 0 when found. */
static int replace(char **s, const char *from, const char *to) {
    char *at = strstr(*s, from);
    if (!at) return -1;
    size_t pre = (size_t)(at - *s), fl = strlen(from), tl = strlen(to), rest = strlen(at + fl);
    char *n = malloc(pre + tl + rest + 1);
    if (!n) return -1;
    memcpy(n, *s, pre);
    memcpy(n + pre, to, tl);
    memcpy(n + pre + tl, at + fl, rest + 1);
    free(*s);
    *s = n;
    return 0;
}

/* Writes deploy/nginx/rwkv.conf with the replicas' and nginx's ports in tmp, wraps it in a
 * main configuration (no daemon, every file in tmp) and starts nginx. */
static int nginx_start(int port_a, int port_b) {
    size_t len = 0;
    char *conf = test_read_file("deploy/nginx/rwkv.conf", &len);
    CHECK(conf != NULL, "deploy/nginx/rwkv.conf cannot be read");
    if (!conf) return -1;
    char a[64], b[64], l[64];
    nginx_port = free_port();
    snprintf(a, sizeof a, "127.0.0.1:%d ", port_a);
    snprintf(b, sizeof b, "127.0.0.1:%d ", port_b);
    snprintf(l, sizeof l, "listen 127.0.0.1:%d;", nginx_port);
    int ok = replace(&conf, "127.0.0.1:8081 ", a) == 0 && replace(&conf, "127.0.0.1:8082 ", b) == 0 &&
             replace(&conf, "listen 8080;", l) == 0;
    CHECK(ok, "deploy/nginx/rwkv.conf no longer has the lines 'server 127.0.0.1:8081 ...', "
              "'server 127.0.0.1:8082 ...' and 'listen 8080;' that the test replaces");
    char path[300], main_conf[300], log[300];
    snprintf(path, sizeof path, "%s/rwkv.conf", tmp);
    snprintf(main_conf, sizeof main_conf, "%s/nginx.conf", tmp);
    snprintf(log, sizeof log, "%s/nginx.log", tmp);
    FILE *f = ok ? fopen(path, "w") : NULL;
    if (f) {
        fputs(conf, f);
        fclose(f);
    }
    free(conf);
    f = f ? fopen(main_conf, "w") : NULL;
    if (!f) return -1;
    fprintf(f,
            "daemon off;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\n%s"
            "events { worker_connections 1024; }\n"
            "http {\n  access_log %s/access.log;\n  client_body_temp_path %s/body;\n"
            "  proxy_temp_path %s/proxy;\n  fastcgi_temp_path %s/fastcgi;\n  uwsgi_temp_path %s/uwsgi;\n"
            "  scgi_temp_path %s/scgi;\n  include %s;\n}\n",
            tmp, tmp, geteuid() == 0 ? "user root root;\n" : "", tmp, tmp, tmp, tmp, tmp, tmp, path);
    fclose(f);
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s/", tmp);
    char elog[300];
    snprintf(elog, sizeof elog, "%s/error.log", tmp);
    const char *argv[] = {"nginx", "-p", prefix, "-c", main_conf, "-e", elog, NULL};
    nginx_pid = spawn(argv, log);
    for (int i = 0; i < 100; i++) {
        char *body = NULL;
        int st = get(nginx_port, "/health", &body);
        free(body);
        if (st == 200) return 0;
        if (!alive(nginx_pid)) break;
        usleep(100000);
    }
    return -1;
}

/* ---- requests --------------------------------------------------------------------------------- */

/* POST json to path on port; the status, the X-Replica-Id header in replica (cap 64) and the body
 * (malloc'd) in *body. */
static int post_h(int port, const char *path, const char *json, char *replica, char **body) {
    char req[8192];
    int n = snprintf(req, sizeof req,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     path, strlen(json), json);
    char *resp = NULL;
    int closed = 0;
    int st = exchange(port, req, (size_t)n, 120, &resp, &closed);
    replica[0] = 0;
    const char *h = resp ? strcasestr(resp, "\r\nX-Replica-Id: ") : NULL;
    if (h) sscanf(h + 16, "%63[^\r\n]", replica);
    const char *b = resp ? strstr(resp, "\r\n\r\n") : NULL;
    *body = strdup(b ? b + 4 : "");
    free(resp);
    return st;
}

/* The "text" of the first output_text of a Responses body, or of "content"/"text" otherwise. */
static char *reply_text(const char *body) {
    const char *at = body ? strstr(body, "\"output_text\"") : NULL;
    char *t = json_str(at ? at : body, "text");
    if (!t) t = json_str(body, "content");
    return t ? t : strdup("<none>");
}

typedef struct turn {
    int status;
    char replica[64];
    char *body, *text, *id;
    long cached, input;
} turn;

static void turn_free(turn *t) {
    free(t->body);
    free(t->text);
    free(t->id);
    memset(t, 0, sizeof *t);
}

/* One Responses turn on port: input text, continuing prev (NULL = none). */
static void respond(int port, const char *input, const char *prev, turn *t) {
    char json[1024];
    if (prev)
        snprintf(json, sizeof json,
                 "{\"input\":\"%s\",\"previous_response_id\":\"%s\",\"max_output_tokens\":10,\"temperature\":0}", input,
                 prev);
    else
        snprintf(json, sizeof json, "{\"input\":\"%s\",\"max_output_tokens\":10,\"temperature\":0}", input);
    memset(t, 0, sizeof *t);
    t->status = post_h(port, "/v1/responses", json, t->replica, &t->body);
    t->text = reply_text(t->body);
    t->id = json_str(t->body, "id");
    t->cached = json_int(t->body, "cached_tokens");
    t->input = json_int(t->body, "input_tokens");
}

/* A chat completion on port of the user messages msgs (n of them, no replies in between), 8
 * tokens at temperature 0. */
static int chat(int port, const char *const *msgs, int n, char *replica, char **body) {
    char json[4096];
    int k = snprintf(json, sizeof json, "{\"messages\":[");
    for (int i = 0; i < n; i++)
        k += snprintf(json + k, sizeof json - (size_t)k, "%s{\"role\":\"user\",\"content\":\"%s\"}", i ? "," : "", msgs[i]);
    snprintf(json + k, sizeof json - (size_t)k, "],\"max_tokens\":8,\"temperature\":0}");
    return post_h(port, "/v1/chat/completions", json, replica, body);
}

/* Waits until the replica's write queue is empty (its states are in the store); 0 when it is. */
static int written(int port) {
    for (int i = 0; i < 200; i++) {
        if (metric(port, "rwkv_store_queue_length") == 0) return 0;
        usleep(50000);
    }
    return -1;
}

static int run_node_args(const char *script, const char *args) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "timeout 300 node tests/server/%s %s 1>&2", script, args);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* ---- faults ---------------------------------------------------------------------------------- */

/* An entry made wrong in Redis: the states that replica A wrote for a chat are corrupted (how:
 * a Lua script over KEYS[1], foreign: the entry of the other model's KEYS[2]), then replica B
 * continues the chat: the entry is rejected, the prompt recomputed, the reply equals REF's. */
static void corrupt_case(const char *name, const char *lua, int a, int b, int ref, const char *foreign_key,
                         const char *word) {
    char replica[64];
    char *body = NULL, *want = NULL;
    const char *msgs[2] = {word, "And then?"};
    if (!foreign_key) free(rcli("flushall"));
    int st = chat(a, msgs, 1, replica, &body);
    CHECK(st == 200, "%s: the first chat turn on A: %d %s", name, st, body);
    free(body);
    CHECK(written(a) == 0, "%s: A's writes did not reach the store", name);
    int n = 0, skipped = 0;
    char **keys = redis_keys("rwkv:*:s:*", &n);
    CHECK(n > 0, "%s: no state entries in Redis after A's turn", name);
    int changed = 0;
    for (int i = 0; i < n; i++) {
        if (foreign_key && !strncmp(keys[i], foreign_key, 22)) { /* "rwkv:" fingerprint ":" */
            skipped++;
            continue;
        }
        char *o = foreign_key ? rcli("eval '%s' 2 %s %s", lua, keys[i], foreign_key) : rcli("eval '%s' 1 %s", lua, keys[i]);
        changed += strstr(o, "ERR") == NULL;
        if (strstr(o, "ERR")) fprintf(stderr, "test_replicas: %s: redis-cli: %s", name, o);
        free(o);
    }
    CHECK(n > skipped && changed == n - skipped, "%s: %d of %d entries changed", name, changed, n - skipped);
    free_keys(keys, n);
    double rej0 = metric(b, "rwkv_store_rejected_total"), pre0 = metric(b, "rwkv_prefill_tokens_total");
    st = chat(b, msgs, 2, replica, &body);
    double rej1 = metric(b, "rwkv_store_rejected_total"), pre1 = metric(b, "rwkv_prefill_tokens_total");
    long prompt = json_int(body, "prompt_tokens"), cached = json_int(body, "cached_tokens");
    char *got = reply_text(body);
    CHECK(st == 200, "%s: B's turn: %d %s", name, st, body);
    CHECK(rej1 >= rej0 + 1, "%s: B rejected %g entries (want at least 1)", name, rej1 - rej0);
    CHECK(cached == 0 && prompt > 0 && pre1 - pre0 == prompt,
          "%s: B prefilled %g tokens, %ld cached, of a %ld-token prompt (want a full prefill)", name, pre1 - pre0,
          cached, prompt);
    free(body);
    st = chat(ref, msgs, 2, replica, &body);
    want = reply_text(body);
    CHECK(st == 200 && !strcmp(got, want), "%s: B answered \"%s\", REF \"%s\"", name, got, want);
    free(body);
    free(got);
    free(want);
}

/* ---- the test --------------------------------------------------------------------------------- */

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    if (!test_require_shared()) return test_summary("test_replicas");
    int have = 1;
    static const char *const progs[] = {"redis-server", "redis-cli", "nginx", "node"};
    for (size_t i = 0; i < sizeof progs / sizeof progs[0]; i++)
        if (!in_path(progs[i])) {
            CHECK(0, "%s is not installed: the replicas test needs it (apt-get install redis-server nginx nodejs)",
                  progs[i]);
            have = 0;
        }
    if (!file_exists("tests/server/node_modules/openai/package.json")) {
        CHECK(0, "tests/server/node_modules is missing (cd tests/server && npm ci)");
        have = 0;
    }
    if (!have) return test_summary("test_replicas");
    snprintf(tmp, sizeof tmp, "/tmp/test_replicas_XXXXXX");
    if (!mkdtemp(tmp)) {
        CHECK(0, "cannot make a temporary directory: %s", strerror(errno));
        return test_summary("test_replicas");
    }
    srv_log_dir = tmp;
    double t0 = now_s();

    CHECK(redis_start() == 0, "redis-server did not start (see %s/redis.log)", tmp);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", redis_port);
    srv a = {0}, b = {0}, ref = {0};
    int ok = srv_start(&a, "replA", "--state-store", url, "--replica-id", "A", "--cache-mb", "32", "--quiet",
                   NULL) == 0;
    CHECK(ok, "replica A did not start (see %s)", a.log);
    ok = ok && srv_start(&b, "replB", "--state-store", url, "--replica-id", "B", "--cache-mb", "32",
                        "--quiet", NULL) == 0;
    CHECK(ok, "replica B did not start (see %s)", b.log);
    ok = ok && srv_start(&ref, "ref", "--replica-id", "REF", "--quiet", NULL) == 0;
    CHECK(ok, "the reference server did not start (see %s)", ref.log);
    ok = ok && redis_pid > 0 && nginx_start(a.port, b.port) == 0;
    CHECK(ok, "nginx did not start (see %s/nginx.log and %s/error.log)", tmp, tmp);
    if (!ok) goto out;
    printf("test_replicas: redis :%d, A :%d, B :%d, REF :%d, nginx :%d, files in %s\n", redis_port, a.port, b.port,
           ref.port, nginx_port, tmp);
    CHECK(metric(a.port, "rwkv_store_up") == 1 && metric(b.port, "rwkv_store_up") == 1,
          "the replicas do not report the store up");

    /* ---- the openai client through nginx ---- */
    char args[512];
    snprintf(args, sizeof args, "check http://127.0.0.1:%d http://127.0.0.1:%d http://127.0.0.1:%d http://127.0.0.1:%d",
             nginx_port, ref.port, a.port, b.port);
    CHECK(run_node_args("conversation.mjs", args) == 0,
          "conversation.mjs check (10 Responses turns through nginx, alternating replicas) failed");
    snprintf(args, sizeof args, "chat http://127.0.0.1:%d http://127.0.0.1:%d http://127.0.0.1:%d http://127.0.0.1:%d",
             nginx_port, ref.port, a.port, b.port);
    CHECK(run_node_args("conversation.mjs", args) == 0,
          "conversation.mjs chat (growing message list through nginx) failed");

    /* ---- corrupt entries: rejected, recomputed ---- */
    corrupt_case("truncated entry",
                 "local v = redis.call(\"GET\", KEYS[1]) redis.call(\"SET\", KEYS[1], string.sub(v, 1, "
                 "math.floor(#v / 2))) return #v",
                 a.port, b.port, ref.port, NULL, "Tell me about rivers.");
    corrupt_case("flipped byte",
                 "local v = redis.call(\"GET\", KEYS[1]) local i = math.floor(#v / 2) redis.call(\"SETRANGE\", "
                 "KEYS[1], i, string.char(bit.bxor(string.byte(v, i + 1), 16))) return i",
                 a.port, b.port, ref.port, NULL, "Tell me about lakes.");
    {
        /* an entry of another model: same shape, other weights, so another fingerprint */
        srv f = {0};
        int fok = srv_start(&f, "foreign", "-m", test_shared("models/tiny-rwkv-7v0-834K-fp16.pth"), "--state-store",
                            url, "--replica-id", "F", "--quiet", NULL) == 0;
        CHECK(fok, "the server of another model did not start (see %s)", f.log);
        char replica[64], *body = NULL;
        const char *msg[1] = {"Foreign words."};
        free(rcli("flushall"));
        if (fok) {
            CHECK(chat(f.port, msg, 1, replica, &body) == 200, "the other model's chat: %s", body);
            free(body);
            CHECK(written(f.port) == 0, "the other model's writes did not reach the store");
            srv_stop(&f);
        }
        int n = 0;
        char **keys = redis_keys("rwkv:*:s:*", &n);
        CHECK(n > 0, "no state entry of the other model in Redis");
        char fkey[128] = "";
        if (n > 0) snprintf(fkey, sizeof fkey, "%s", keys[0]);
        free_keys(keys, n);
        if (fkey[0])
            corrupt_case("entry of another model", "redis.call(\"SET\", KEYS[1], redis.call(\"GET\", KEYS[2])) return 1",
                         a.port, b.port, ref.port, fkey, "Tell me about hills.");
    }

    /* ---- slow Redis: bounded wait, then recompute ---- */
    {
        char pport[16], delay[16], plog[300];
        snprintf(pport, sizeof pport, "%d", redis_port);
        snprintf(delay, sizeof delay, "%d", 3000);
        snprintf(plog, sizeof plog, "%s/slowproxy.log", tmp);
        const char *pargv[] = {"node", "tests/server/slowproxy.mjs", pport, delay, NULL};
        proxy_pid = spawn(pargv, plog);
        for (int i = 0; i < 100 && !proxy_port; i++) {
            usleep(100000);
            size_t len = 0;
            char *txt = test_read_file(plog, &len);
            const char *at = txt ? strstr(txt, "port ") : NULL;
            if (at) proxy_port = atoi(at + 5);
            free(txt);
        }
        CHECK(proxy_port > 0, "slowproxy.mjs did not start (see %s)", plog);
        srv s = {0};
        char purl[64];
        snprintf(purl, sizeof purl, "redis://127.0.0.1:%d/0", proxy_port);
        int sok = proxy_port > 0 && srv_start(&s, "slow", "--state-store", purl, "--state-timeout", "300",
                                              "--state-ttl", "0", "--replica-id", "S", "--quiet", NULL) == 0;
        CHECK(sok, "the replica behind the slow proxy did not start (see %s)", s.log);
        if (sok) {
            const char *msgs[2] = {"Tell me about deserts.", "And then?"};
            char replica[64], *body = NULL;
            CHECK(chat(a.port, msgs, 1, replica, &body) == 200, "A's chat: %s", body);
            free(body);
            CHECK(written(a.port) == 0, "A's writes did not reach the store");
            /* the request's own deadline (timeouts), or the connection's socket timeout of the same
             * length (errors: then the connection is retried after a second) ends the wait */
            double to0 = metric(s.port, "rwkv_store_timeouts_total"), er0 = metric(s.port, "rwkv_store_errors_total");
            int st = chat(s.port, msgs, 2, replica, &body);
            double to1 = metric(s.port, "rwkv_store_timeouts_total"), er1 = metric(s.port, "rwkv_store_errors_total");
            char *got = reply_text(body);
            long cached = json_int(body, "cached_tokens");
            CHECK(st == 200, "slow store: %d %s", st, body);
            CHECK(to1 + er1 >= to0 + er0 + 1, "slow store: %g reads timed out, %g calls failed (want at least 1)",
                  to1 - to0, er1 - er0);
            CHECK(cached == 0, "slow store: %ld tokens cached (want a full prefill)", cached);
            free(body);
            chat(ref.port, msgs, 2, replica, &body);
            char *want = reply_text(body);
            CHECK(!strcmp(got, want), "slow store: \"%s\", REF \"%s\"", got, want);
            free(body);
            free(got);
            free(want);
            CHECK(srv_stop(&s) == 0, "the replica behind the slow proxy did not exit cleanly (see %s)", s.log);
        }
        end_process(&proxy_pid, SIGTERM);
    }

    /* ---- a replica killed between two turns ---- */
    {
        turn t1, t2, r1, r2;
        respond(nginx_port, "Hello there.", NULL, &t1);
        CHECK(t1.status == 200 && t1.id && t1.replica[0], "turn 1 through nginx: %d %s", t1.status, t1.body);
        srv *victim = !strcmp(t1.replica, "A") ? &a : &b;
        int vport = victim->port;
        kill(victim->pid, SIGKILL);
        waitpid(victim->pid, NULL, 0);
        victim->pid = 0;
        respond(nginx_port, "What is your name?", t1.id ? t1.id : "none", &t2);
        CHECK(t2.status == 200, "turn 2 after replica %s was killed: %d %s", t1.replica, t2.status, t2.body);
        CHECK(t2.replica[0] && strcmp(t2.replica, t1.replica), "turn 2 served by %s, turn 1 by %s (killed)", t2.replica,
              t1.replica);
        long before = json_int(t1.body, "input_tokens") + json_int(t1.body, "output_tokens");
        CHECK(t2.cached == before, "turn 2 continued from %ld tokens, turn 1's state had %ld", t2.cached, before);
        respond(ref.port, "Hello there.", NULL, &r1);
        respond(ref.port, "What is your name?", r1.id ? r1.id : "none", &r2);
        CHECK(!strcmp(t1.text, r1.text) && !strcmp(t2.text, r2.text),
              "after the kill: \"%s\" / \"%s\", REF \"%s\" / \"%s\"", t1.text, t2.text, r1.text, r2.text);
        turn_free(&t1);
        turn_free(&t2);
        turn_free(&r1);
        turn_free(&r2);
        /* the killed replica comes back on its port */
        char vp[16];
        snprintf(vp, sizeof vp, "%d", vport);
        int back = srv_start(victim, victim == &a ? "replA2" : "replB2", "--state-store", url, "--replica-id",
                             victim == &a ? "A" : "B", "--cache-mb", "32", "--quiet", "--port", vp, NULL) == 0 &&
                   victim->port == vport;
        CHECK(back, "the killed replica did not restart on port %d (see %s)", vport, victim->log);
        if (!back) goto out;
    }

    /* ---- load: 32 conversations x 10 turns through nginx, twice ---- */
    {
        snprintf(args, sizeof args, "load http://127.0.0.1:%d 32 10", nginx_port);
        CHECK(run_node_args("conversation.mjs", args) == 0, "conversation.mjs load (warm-up run) failed");
        long ra1 = rss_kb(a.pid), rb1 = rss_kb(b.pid);
        CHECK(run_node_args("conversation.mjs", args) == 0, "conversation.mjs load (second run) failed");
        long ra2 = rss_kb(a.pid), rb2 = rss_kb(b.pid);
        printf("test_replicas: RSS after a 32x10 load run: A %ld kB, B %ld kB; after a second: A %ld kB, B %ld kB\n",
               ra1, rb1, ra2, rb2);
        CHECK(ra1 > 0 && ra2 <= ra1 + ra1 / 4 + 8192, "replica A's RSS grew from %ld kB to %ld kB", ra1, ra2);
        CHECK(rb1 > 0 && rb2 <= rb1 + rb1 / 4 + 8192, "replica B's RSS grew from %ld kB to %ld kB", rb1, rb2);
        CHECK(alive(a.pid) && alive(b.pid), "a replica died under load");
    }

    /* ---- Redis stopped: requests still succeed; stored again once it is back ---- */
    {
        CHECK(end_process(&redis_pid, SIGTERM) == 0, "redis-server did not stop cleanly");
        double e0 = metric(a.port, "rwkv_store_errors_total") + metric(b.port, "rwkv_store_errors_total");
        int fails = 0;
        for (int i = 0; i < 4; i++) {
            turn t;
            char in[64];
            snprintf(in, sizeof in, "Without Redis %d.", i);
            respond(nginx_port, in, NULL, &t);
            if (t.status != 200) fails++;
            CHECK(t.status == 200, "request %d without Redis: %d %s", i, t.status, t.body);
            turn_free(&t);
        }
        const char *msgs[2] = {"No store here.", "And then?"};
        char replica[64], *body = NULL;
        int st = chat(nginx_port, msgs, 2, replica, &body);
        CHECK(st == 200 && json_int(body, "cached_tokens") == 0, "chat without Redis: %d %s", st, body);
        free(body);
        double e1 = metric(a.port, "rwkv_store_errors_total") + metric(b.port, "rwkv_store_errors_total");
        CHECK(e1 >= e0 + 1, "store errors counted without Redis: %g (want at least 1)", e1 - e0);
        CHECK(metric(a.port, "rwkv_store_up") == 0 || metric(b.port, "rwkv_store_up") == 0,
              "no replica reports the store down");
        CHECK(redis_start() == 0, "redis-server did not restart (see %s/redis.log)", tmp);
        /* back: a turn on A is written, its follow-up on B finds it */
        turn t1, t2;
        for (int i = 0; i < 30; i++) { /* a replica waits a second before reconnecting */
            respond(a.port, "Redis is back.", NULL, &t1);
            if (i == 29 || (written(a.port) == 0 && metric(a.port, "rwkv_store_up") == 1)) break;
            turn_free(&t1);
            usleep(200000);
        }
        /* B reconnects when a request needs the store, a second after its last failure: the first
         * follow-up may find it not yet back (a 404 saying the store did not answer); it is sent
         * again, for up to 10 s */
        for (int i = 0; i < 10; i++) {
            respond(b.port, "Good.", t1.id ? t1.id : "none", &t2);
            if (i == 9 || t2.status != 404 || !t2.body || !strstr(t2.body, "did not answer")) break;
            turn_free(&t2);
            sleep(1);
        }
        CHECK(t1.status == 200 && t2.status == 200 && t2.cached > 0,
              "after Redis came back: %d, %d, %ld tokens cached: %s", t1.status, t2.status, t2.cached, t2.body);
        turn_free(&t1);
        turn_free(&t2);
    }

out:
    CHECK(!a.pid || srv_stop(&a) == 0, "replica A did not exit cleanly (see %s)", a.log);
    CHECK(!b.pid || srv_stop(&b) == 0, "replica B did not exit cleanly (see %s)", b.log);
    if (ref.pid) srv_stop(&ref);
    if (nginx_pid) CHECK(end_process(&nginx_pid, SIGQUIT) == 0, "nginx did not exit cleanly");
    if (redis_pid) end_process(&redis_pid, SIGTERM);
    if (proxy_pid) end_process(&proxy_pid, SIGTERM);
    printf("test_replicas: %.1f s\n", now_s() - t0);
    if (!test_failed) test_remove_dir(tmp);
    else fprintf(stderr, "test_replicas: files kept in %s\n", tmp);
    return test_summary("test_replicas");
}
