/* serve_redis.c — the Redis implementation of the state-store interface (serve_store.h), on
 * hiredis (Debian libhiredis-dev). One srv_redis is one connection, used by one thread at a time
 * (the store front opens one for reads and one for writes). Every call is bounded: the
 * connection and every socket read or write time out after the configured time, and a connection
 * that failed is not retried for a second, so while Redis is down calls fail at once (the front
 * then goes on without the store). Values are binary-safe; keys are written with the configured
 * TTL (SET ... EX), and a read that finds a key renews its TTL. */
#include "serve.h"

#include <ctype.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* ---- the URL ----------------------------------------------------------------------------------- */

int srv_redis_parse_url(const char *url, srv_redis_url *out, char *err, size_t cap) {
    memset(out, 0, sizeof *out);
    out->port = 6379;
    const char *p = url;
    if (strncmp(p, "redis://", 8)) {
        snprintf(err, cap, "'%.100s' does not start with redis://", url);
        return -1;
    }
    p += 8;
    const char *at = strchr(p, '@'), *slash = strchr(p, '/');
    if (at && (!slash || at < slash)) { /* [user]:password@ */
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        size_t n = (size_t)(at - pw);
        if (n == 0 || n >= sizeof out->password) {
            snprintf(err, cap, "the password in '%.100s' is empty or too long", url);
            return -1;
        }
        memcpy(out->password, pw, n);
        p = at + 1;
    }
    size_t hl;
    if (*p == '[') { /* [IPv6] */
        const char *close = strchr(p, ']');
        if (!close) {
            snprintf(err, cap, "'%.100s': missing ']' after the IPv6 address", url);
            return -1;
        }
        p++;
        hl = (size_t)(close - p);
        if (hl == 0 || hl >= sizeof out->host) goto bad_host;
        memcpy(out->host, p, hl);
        for (size_t i = 0; i < hl; i++)
            if (!isxdigit((unsigned char)p[i]) && p[i] != ':' && p[i] != '.') goto bad_host;
        p = close + 1;
    } else {
        hl = strcspn(p, ":/");
        if (hl == 0 || hl >= sizeof out->host) goto bad_host;
        for (size_t i = 0; i < hl; i++)
            if (!isalnum((unsigned char)p[i]) && p[i] != '.' && p[i] != '-' && p[i] != '_') goto bad_host;
        memcpy(out->host, p, hl);
        p += hl;
    }
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535) {
            snprintf(err, cap, "'%.100s': the port must be a number from 1 to 65535", url);
            return -1;
        }
        out->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1]) {
        char *end;
        long db = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || db < 0 || db > 1000000) {
            snprintf(err, cap, "'%.100s': the database must be a number after '/'", url);
            return -1;
        }
        out->db = (int)db;
        p = end;
    } else if (*p == '/') {
        p++;
    }
    if (*p) {
        snprintf(err, cap, "'%.100s': unexpected '%.20s' after the address", url, p);
        return -1;
    }
    return 0;
bad_host:
    snprintf(err, cap, "'%.100s': a host name or address is needed after redis://", url);
    return -1;
}

/* ---- a connection ------------------------------------------------------------------------------- */

struct srv_redis {
    srv_redis_url url;
    int ttl_s;
    int timeout_ms;
    pthread_mutex_t mu;       /* guards c being replaced, against srv_redis_abort */
    int aborted;
    redisContext *c;
    double retry_at;          /* after a failure: no new attempt before this time */
    char err[160];            /* the last failure */
};

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

srv_redis *srv_redis_open(const srv_redis_url *url, int ttl_s, int timeout_ms) {
    srv_redis *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    if (pthread_mutex_init(&r->mu, NULL)) {
        free(r);
        return NULL;
    }
    r->url = *url;
    r->ttl_s = ttl_s;
    r->timeout_ms = timeout_ms;
    return r;
}

void srv_redis_close(srv_redis *r) {
    if (!r) return;
    if (r->c) redisFree(r->c);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

void srv_redis_abort(srv_redis *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->aborted = 1;
    if (r->c && r->c->fd >= 0) shutdown(r->c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&r->mu);
}

const char *srv_redis_error(const srv_redis *r) { return r->err; }

/* Marks the connection failed (reconnect after a second). Returns -1. */
static int failed(srv_redis *r, const char *what) {
    snprintf(r->err, sizeof r->err, "%s", what);
    pthread_mutex_lock(&r->mu);
    if (r->c) redisFree(r->c);
    r->c = NULL;
    pthread_mutex_unlock(&r->mu);
    r->retry_at = mono_s() + 1.0;
    return -1;
}

/* A command; NULL (and the connection marked failed) on a network error or an error reply. */
static redisReply *command(srv_redis *r, int argc, const char **argv, const size_t *len) {
    redisReply *rep = redisCommandArgv(r->c, argc, argv, len);
    if (!rep) {
        failed(r, r->c->errstr[0] ? r->c->errstr : "no reply");
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        char m[160];
        snprintf(m, sizeof m, "%.150s", rep->str ? rep->str : "error reply");
        freeReplyObject(rep);
        failed(r, m);
        return NULL;
    }
    return rep;
}

/* Connects (again) when needed: 0 when connected. */
static int ensure(srv_redis *r) {
    if (r->c) return 0;
    if (mono_s() < r->retry_at || r->aborted) return -1;
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(r->url.host, r->url.port, tv);
    pthread_mutex_lock(&r->mu);
    r->c = c;
    if (c && r->aborted && c->fd >= 0) shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&r->mu);
    if (!r->c) return failed(r, "out of memory");
    if (r->c->err) return failed(r, r->c->errstr);
    if (redisSetTimeout(r->c, tv) != REDIS_OK) return failed(r, "cannot set the socket timeout");
    if (r->url.password[0]) {
        const char *argv[] = {"AUTH", r->url.password};
        redisReply *rep = command(r, 2, argv, NULL);
        if (!rep) return -1;
        freeReplyObject(rep);
    }
    if (r->url.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", r->url.db);
        const char *argv[] = {"SELECT", db};
        redisReply *rep = command(r, 2, argv, NULL);
        if (!rep) return -1;
        freeReplyObject(rep);
    }
    r->err[0] = '\0';
    return 0;
}

/* The value of the last key of KEYS that exists (the longest prefix), with its TTL renewed: one
 * round trip whatever the number of candidates. */
static const char last_script[] =
    "for i = #KEYS, 1, -1 do local v = redis.call('GET', KEYS[i]) if v then "
    "if tonumber(ARGV[1]) > 0 then redis.call('EXPIRE', KEYS[i], ARGV[1]) end "
    "return {i, v} end end return false";

static int get_last(void *self, const char *const *keys, int n, int *which, cli_buf *out) {
    srv_redis *r = self;
    *which = -1;
    if (n <= 0) return 0;
    if (ensure(r)) return -1;
    const char **argv = malloc(((size_t)n + 4) * sizeof *argv);
    if (!argv) return -1;
    char nk[16], ttl[16];
    snprintf(nk, sizeof nk, "%d", n);
    snprintf(ttl, sizeof ttl, "%d", r->ttl_s);
    argv[0] = "EVAL";
    argv[1] = last_script;
    argv[2] = nk;
    for (int i = 0; i < n; i++) argv[3 + i] = keys[i];
    argv[3 + n] = ttl;
    redisReply *rep = command(r, n + 4, argv, NULL);
    free(argv);
    if (!rep) return -1;
    int rc = 0;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 && rep->element[0]->type == REDIS_REPLY_INTEGER &&
        rep->element[1]->type == REDIS_REPLY_STRING && rep->element[0]->integer >= 1 &&
        rep->element[0]->integer <= n) {
        cli_buf_clear(out);
        if (cli_buf_add(out, rep->element[1]->str, rep->element[1]->len)) rc = -1;
        else {
            *which = (int)rep->element[0]->integer - 1;
            rc = 1;
        }
    } else if (rep->type != REDIS_REPLY_NIL) {
        rc = failed(r, "unexpected reply to EVAL");
    }
    freeReplyObject(rep);
    return rc;
}

static int put(void *self, const char *key, const void *data, size_t len) {
    srv_redis *r = self;
    if (ensure(r)) return -1;
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", r->ttl_s);
    const char *argv[] = {"SET", key, data, "EX", ttl};
    size_t lens[] = {3, strlen(key), len, 2, strlen(ttl)};
    redisReply *rep = command(r, r->ttl_s > 0 ? 5 : 3, argv, lens);
    if (!rep) return -1;
    freeReplyObject(rep);
    return 0;
}

static int del(void *self, const char *key) {
    srv_redis *r = self;
    if (ensure(r)) return -1;
    const char *argv[] = {"DEL", key};
    redisReply *rep = command(r, 2, argv, NULL);
    if (!rep) return -1;
    int rc = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
    freeReplyObject(rep);
    return rc;
}

/* Memory used by the Redis server (INFO memory: used_memory) and its number of keys (DBSIZE). */
static int usage(void *self, size_t *bytes, size_t *entries) {
    srv_redis *r = self;
    if (ensure(r)) return -1;
    const char *info[] = {"INFO", "memory"}, *dbsize[] = {"DBSIZE"};
    redisReply *rep = command(r, 2, info, NULL);
    if (!rep) return -1;
    const char *m = rep->type == REDIS_REPLY_STRING || rep->type == REDIS_REPLY_STATUS ? strstr(rep->str, "used_memory:") : NULL;
    if (m) *bytes = (size_t)strtoull(m + 12, NULL, 10);
    freeReplyObject(rep);
    rep = command(r, 1, dbsize, NULL);
    if (!rep) return -1;
    if (rep->type == REDIS_REPLY_INTEGER && rep->integer >= 0) *entries = (size_t)rep->integer;
    freeReplyObject(rep);
    return 0;
}

const srv_backend_ops srv_redis_ops = {"redis", get_last, put, del, usage};
