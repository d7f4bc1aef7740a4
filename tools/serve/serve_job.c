/* serve_job.c — the one owner of a request's life. A job is
 *   created      by the parser (srv_job_new, refs 0, private to the HTTP thread);
 *   submitted    srv_jobs_submit: named, queued, tied to its connection; from now on two
 *                references hold it: the HTTP side's and the scheduler's (srv_jobs_hold ties
 *                it without queueing: the second reference is its answerer's, e.g. a read of
 *                the state store, which posts like the scheduler does);
 *   admitted     srv_jobs_admit: taken from the queue by the scheduler (a job whose client
 *                left while it waited is dropped here);
 *   answered     srv_job_post: the scheduler hands reply bytes over; the first status it gives
 *                is the HTTP status; the last post (finished) drops the scheduler's reference.
 *                Queued jobs at shutdown are answered by srv_jobs_fail_queued;
 *   sent         the HTTP side takes the reply (srv_job_poll / srv_job_read), suspending its
 *                connection while there is nothing to send; a post resumes it;
 *   detached     srv_job_detach: the connection is finished (or gone): the HTTP side's
 *                reference goes. The job is freed when both references are gone.
 * Everything after submission happens under h->mu. The module knows nothing of HTTP: it
 * suspends, resumes and probes connections through the callbacks in h->ops. */
#include "serve.h"
#include "serve_tools.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

int srv_jobs_init(srv_jobs *h, int max_queue) {
    memset(h, 0, sizeof *h);
    h->max_queue = max_queue;
    if (pthread_mutex_init(&h->mu, NULL)) return -1;
    if (pthread_cond_init(&h->wake, NULL)) {
        pthread_mutex_destroy(&h->mu);
        return -1;
    }
    return 0;
}

void srv_jobs_destroy(srv_jobs *h) {
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->mu);
}

void srv_jobs_set_ops(srv_jobs *h, const srv_job_ops *ops) { h->ops = *ops; }

srv_job *srv_job_new(srv_kind kind) {
    srv_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->kind = kind;
    j->created = (long long)time(NULL);
    return j;
}

void srv_job_free(srv_job *j) {
    if (!j) return;
    free(j->prompt);
    free(j->seg_end);
    free(j->echo);
    for (int i = 0; i < j->n_stop; i++) free(j->stop[i]);
    srv_constraint_free(j->constraint);
    cli_buf_free(&j->out);
    free(j);
}

static void unref_locked(srv_jobs *h, srv_job *j) {
    if (--j->refs > 0) return;
    h->alive--;
    srv_job_free(j);
}

/* Takes the first queued job, or NULL. */
static srv_job *pop_locked(srv_jobs *h) {
    srv_job *j = h->head;
    if (!j) return NULL;
    h->head = j->next;
    if (!h->head) h->tail = NULL;
    h->queued--;
    j->next = NULL;
    return j;
}

/* ---- the HTTP side ---------------------------------------------------------------------------- */

/* Names a job: "chatcmpl-"/"cmpl-" + time and a counter; a response "resp_" + 32 random hex
 * digits, since its id must not collide with one made by another replica. */
static void name_job(srv_job *j) {
    static atomic_ullong counter;
    if (j->kind != SRV_RESPONSE) {
        snprintf(j->id, sizeof j->id, "%s-%llx%06llx", j->kind == SRV_CHAT ? "chatcmpl" : "cmpl",
                 (unsigned long long)time(NULL), (unsigned long long)atomic_fetch_add(&counter, 1));
        return;
    }
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) { /* no entropy source: time and counter */
        uint64_t a = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32), b = atomic_fetch_add(&counter, 1);
        for (int i = 0; i < 8; i++) r[i] = (unsigned char)(a >> (8 * i)), r[8 + i] = (unsigned char)(b >> (8 * i));
    }
    char *w = j->id + snprintf(j->id, sizeof j->id, "resp_");
    for (int i = 0; i < 16; i++) w += snprintf(w, 3, "%02x", r[i]);
}

/* Ties j to conn with two references (the HTTP side's and its answerer's). Caller holds h->mu. */
static void attach_locked(srv_jobs *h, srv_job *j, void *conn) {
    name_job(j);
    j->conn = conn;
    j->refs = 2;
    j->next = NULL;
    h->alive++;
}

int srv_jobs_submit(srv_jobs *h, srv_job *j, void *conn) {
    pthread_mutex_lock(&h->mu);
    int st = h->stopping ? 503 : h->queued >= h->max_queue ? 429 : 0;
    if (st == 0) {
        attach_locked(h, j, conn);
        if (h->tail) h->tail->next = j;
        else h->head = j;
        h->tail = j;
        h->queued++;
        pthread_cond_signal(&h->wake);
    }
    pthread_mutex_unlock(&h->mu);
    return st;
}

int srv_jobs_hold(srv_jobs *h, srv_job *j, void *conn) {
    pthread_mutex_lock(&h->mu);
    int st = h->stopping ? 503 : 0;
    if (st == 0) attach_locked(h, j, conn);
    pthread_mutex_unlock(&h->mu);
    return st;
}

/* Suspends j's connection until the scheduler posts more. Caller holds h->mu. */
static void suspend_locked(srv_jobs *h, srv_job *j) {
    j->suspended = 1;
    h->ops.suspend(j->conn);
}

srv_job_poll_result srv_job_poll(srv_jobs *h, srv_job *j, int *status, cli_buf *body) {
    srv_job_poll_result r;
    pthread_mutex_lock(&h->mu);
    if (j->cancelled) {
        r = SRV_POLL_GONE;
    } else if (j->stream && j->status == 200) {
        r = SRV_POLL_STREAM;
    } else if (j->done) {
        *status = j->status ? j->status : 500;
        if (cli_buf_add(body, j->out.data ? j->out.data + j->out_pos : "", j->out.len - j->out_pos))
            cli_buf_free(body); /* out of memory: the caller answers 500 */
        r = SRV_POLL_REPLY;
    } else {
        suspend_locked(h, j);
        r = SRV_POLL_WAIT;
    }
    pthread_mutex_unlock(&h->mu);
    return r;
}

srv_job_read_result srv_job_read(srv_jobs *h, srv_job *j, char *buf, size_t max, size_t *n) {
    srv_job_read_result r;
    *n = 0;
    pthread_mutex_lock(&h->mu);
    if (j->out_pos < j->out.len) {
        size_t k = j->out.len - j->out_pos;
        if (k > max) k = max;
        memcpy(buf, j->out.data + j->out_pos, k);
        j->out_pos += k;
        if (j->out_pos == j->out.len) j->out_pos = j->out.len = 0;
        *n = k;
        r = SRV_READ_DATA;
    } else if (j->cancelled) {
        r = SRV_READ_ABORT;
    } else if (j->done) {
        r = SRV_READ_END;
    } else {
        suspend_locked(h, j);
        r = SRV_READ_WAIT;
    }
    pthread_mutex_unlock(&h->mu);
    return r;
}

void srv_job_detach(srv_jobs *h, srv_job *j) {
    pthread_mutex_lock(&h->mu);
    j->detached = 1;
    j->suspended = 0;
    j->conn = NULL;
    unref_locked(h, j);
    pthread_cond_signal(&h->wake);
    pthread_mutex_unlock(&h->mu);
}

void srv_job_usage(srv_jobs *h, srv_job *j, uint64_t *prompt, uint64_t *completion) {
    pthread_mutex_lock(&h->mu);
    *prompt = j->usage_prompt;
    *completion = j->usage_completion;
    pthread_mutex_unlock(&h->mu);
}

/* ---- the scheduler ------------------------------------------------------------------------------ */

int srv_jobs_admit(srv_jobs *h, srv_job **out, int max, int busy, int wait_ms) {
    pthread_mutex_lock(&h->mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)wait_ms * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    while (!h->stopping && !busy && !h->head && !h->poked) {
        if (wait_ms <= 0) pthread_cond_wait(&h->wake, &h->mu);
        else if (pthread_cond_timedwait(&h->wake, &h->mu, &until)) break;
    }
    h->poked = 0;
    int n = -1;
    if (!h->stopping) {
        n = 0;
        for (srv_job *j; n < max && (j = pop_locked(h));) {
            if (j->detached) { /* the client left while the job waited */
                atomic_fetch_add(&h->cancelled, 1);
                unref_locked(h, j);
                continue;
            }
            j->admitted = 1;
            h->active++;
            out[n++] = j;
        }
    }
    pthread_mutex_unlock(&h->mu);
    return n;
}

void srv_job_post(srv_jobs *h, srv_job *j, int status, const char *data, size_t len, int finished) {
    void *conn = NULL;
    pthread_mutex_lock(&h->mu);
    int decided = !j->status && status;
    if (decided) j->status = status;
    if (!j->detached && len && cli_buf_add(&j->out, data, len)) j->cancelled = 1; /* OOM: close */
    if (finished) j->done = 1;
    if (j->suspended && !j->detached && (len || finished || decided)) {
        j->suspended = 0;
        conn = j->conn;
    }
    if (finished) {
        if (j->admitted) h->active--; /* before the client can see its reply (and read /metrics) */
        unref_locked(h, j);
    }
    pthread_mutex_unlock(&h->mu);
    if (conn) h->ops.resume(conn);
}

int srv_job_abandoned(srv_jobs *h, srv_job *j, int check_peer) {
    pthread_mutex_lock(&h->mu);
    if (!j->detached && !j->cancelled && check_peer && j->suspended && h->ops.peer_gone(j->conn))
        j->cancelled = 1;
    int gone = j->detached || j->cancelled;
    pthread_mutex_unlock(&h->mu);
    return gone;
}

void srv_job_set_usage(srv_jobs *h, srv_job *j, uint64_t prompt, uint64_t completion) {
    pthread_mutex_lock(&h->mu);
    j->usage_prompt = prompt;
    j->usage_completion = completion;
    pthread_mutex_unlock(&h->mu);
}

void srv_jobs_poke(srv_jobs *h) {
    pthread_mutex_lock(&h->mu);
    h->poked = 1;
    pthread_cond_signal(&h->wake);
    pthread_mutex_unlock(&h->mu);
}

void srv_jobs_stop(srv_jobs *h) {
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    pthread_cond_broadcast(&h->wake);
    pthread_mutex_unlock(&h->mu);
}

void srv_jobs_fail_queued(srv_jobs *h, int status, const char *body) {
    for (;;) {
        pthread_mutex_lock(&h->mu);
        srv_job *j = pop_locked(h);
        pthread_mutex_unlock(&h->mu);
        if (!j) return;
        srv_job_post(h, j, status, body, strlen(body), 1);
    }
}

void srv_jobs_counts(srv_jobs *h, int *queued, int *active, int *alive) {
    pthread_mutex_lock(&h->mu);
    if (queued) *queued = h->queued;
    if (active) *active = h->active;
    if (alive) *alive = h->alive;
    pthread_mutex_unlock(&h->mu);
}
