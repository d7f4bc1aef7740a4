/* serve_conn.c — connection accounting, so that one client cannot take every connection:
 *  - at most max_per_ip open connections per client address (an IPv4 address, or the /64
 *    prefix of an IPv6 address); when a client at its limit opens one more, its oldest idle
 *    connection is closed to make room, and only when none of its connections is idle is the
 *    new one refused;
 *  - when the pool is nearly full (90 % of max_total) a new connection closes the oldest idle
 *    connection of any client, so health checks and new clients still get in.
 * "Idle" = no request in progress: between keep-alive requests, or not yet done sending its
 * headers. An evicted connection's socket is shut down; libmicrohttpd then reads end-of-file
 * and closes it as if the client had. Only libmicrohttpd's polling thread calls this module. */
#include "serve.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct srv_conn {
    unsigned char key[16];
    int fd;
    int busy;                  /* inside a request */
    int evicted;               /* shut down by us; libmicrohttpd will close it */
    double idle_since;
    struct srv_conn *prev, *next;
};

struct srv_conns {
    int max_total, max_per_ip;
    srv_metrics *metrics;
    srv_conn *head, *tail;     /* in opening order */
    int live;                  /* open and not evicted */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The client key of an address: IPv4 address (IPv4-mapped IPv6 too), or the IPv6 /64. */
static void key_of(const struct sockaddr *a, unsigned char key[16]) {
    memset(key, 0, 16);
    if (!a) return;
    if (a->sa_family == AF_INET) {
        memcpy(key, &((const struct sockaddr_in *)a)->sin_addr, 4);
    } else if (a->sa_family == AF_INET6) {
        const unsigned char *b = ((const struct sockaddr_in6 *)a)->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(b, mapped, 12)) memcpy(key, b + 12, 4);
        else {
            key[15] = 6; /* never equal to an IPv4 key */
            memcpy(key, b, 8);
        }
    }
}

srv_conns *srv_conns_new(int max_total, int max_per_ip, srv_metrics *m) {
    srv_conns *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->max_total = max_total;
    c->max_per_ip = max_per_ip;
    c->metrics = m;
    return c;
}

void srv_conns_free(srv_conns *c) {
    if (!c) return;
    while (c->head) {
        srv_conn *x = c->head;
        c->head = x->next;
        free(x);
    }
    free(c);
}

/* The idle connection idle for longest, among those of key (or all when key is NULL). */
static srv_conn *oldest_idle(srv_conns *c, const unsigned char *key) {
    srv_conn *best = NULL;
    for (srv_conn *x = c->head; x; x = x->next)
        if (!x->busy && !x->evicted && (!key || !memcmp(x->key, key, 16)) &&
            (!best || x->idle_since < best->idle_since))
            best = x;
    return best;
}

static void evict(srv_conns *c, srv_conn *x) {
    shutdown(x->fd, SHUT_RDWR);
    x->evicted = 1;
    c->live--;
    atomic_fetch_add(&c->metrics->conn_evicted, 1);
}

int srv_conns_accept(srv_conns *c, const struct sockaddr *addr) {
    unsigned char key[16];
    key_of(addr, key);
    if (c->max_per_ip > 0) {
        int same = 0;
        for (srv_conn *x = c->head; x; x = x->next) same += !x->evicted && !memcmp(x->key, key, 16);
        if (same >= c->max_per_ip) {
            srv_conn *old = oldest_idle(c, key);
            if (!old) {
                atomic_fetch_add(&c->metrics->conn_refused, 1);
                return 0;
            }
            evict(c, old);
        }
    }
    if (c->live >= c->max_total - c->max_total / 10) {
        srv_conn *old = oldest_idle(c, NULL);
        if (old) evict(c, old);
    }
    if (c->live >= c->max_total) {
        atomic_fetch_add(&c->metrics->conn_refused, 1);
        return 0;
    }
    return 1;
}

srv_conn *srv_conns_opened(srv_conns *c, int fd, const struct sockaddr *addr) {
    srv_conn *x = calloc(1, sizeof *x);
    if (!x) return NULL; /* not counted: the limits only get looser */
    key_of(addr, x->key);
    x->fd = fd;
    x->idle_since = now_s();
    x->prev = c->tail;
    if (c->tail) c->tail->next = x;
    else c->head = x;
    c->tail = x;
    c->live++;
    return x;
}

void srv_conns_closed(srv_conns *c, srv_conn *x) {
    if (!x) return;
    if (x->prev) x->prev->next = x->next;
    else c->head = x->next;
    if (x->next) x->next->prev = x->prev;
    else c->tail = x->prev;
    if (!x->evicted) c->live--;
    free(x);
}

void srv_conns_busy(srv_conn *x, int busy) {
    if (!x) return;
    x->busy = busy;
    if (!busy) x->idle_since = now_s();
}
