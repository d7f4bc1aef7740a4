/* threadpool.c — persistent workers that spin briefly, then sleep (see threadpool.h). */
#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define CPU_RELAX() ((void)0)
#endif

/* How long an idle worker spins before it sleeps: long enough to bridge the gap between two
 * ops of a forward pass and between two decoded tokens, short enough not to burn a core
 * when nothing runs. */
#define RWKV_POOL_SPIN_US 2000

/* Pause-loop iterations before a waiting thread starts yielding its core (a few µs): when the
 * machine has more runnable threads than cores, the thread we wait for may need our core. */
#define RWKV_POOL_PAUSES 4096

/* One step of a busy wait: a pause for the first RWKV_POOL_PAUSES steps, then sched_yield. */
static inline void wait_step(unsigned *spins) {
    if (*spins < RWKV_POOL_PAUSES) {
        ++*spins;
        CPU_RELAX();
    } else {
        sched_yield();
    }
}

typedef struct worker {
    rwkv_pool *pool;
    int ith;
    pthread_t thread;
} worker;

struct rwkv_pool {
    int n;                          /* workers including the caller */
    worker *workers;                /* [n]; workers[0] is the caller (no thread) */
    rwkv_task_fn fn;                /* the current task */
    void *arg;
    _Atomic unsigned generation;    /* bumped once per run */
    _Atomic int done;               /* workers (other than the caller) finished this run */
    _Atomic int sleepers;           /* workers waiting on wake */
    _Atomic int quit;
    /* barrier inside a run */
    _Atomic int bar_count;
    _Atomic unsigned bar_phase;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
};

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Waits until the generation differs from seen; returns the new one. */
static unsigned wait_generation(rwkv_pool *p, unsigned seen) {
    uint64_t start = 0;
    unsigned spins = 0;
    for (unsigned n = 0;; n++) {
        unsigned g = atomic_load_explicit(&p->generation, memory_order_acquire);
        if (g != seen) return g;
        if ((n & 255u) == 255u) {
            uint64_t t = now_us();
            if (!start) start = t;
            else if (t - start > RWKV_POOL_SPIN_US) break;
        }
        wait_step(&spins);
    }
    /* Sleep. sleepers is raised before generation is re-read (both sequentially consistent),
     * and the producer bumps generation before reading sleepers: one of the two sees the other,
     * so no wake-up is lost. */
    pthread_mutex_lock(&p->mutex);
    atomic_fetch_add(&p->sleepers, 1);
    unsigned g;
    while ((g = atomic_load(&p->generation)) == seen) pthread_cond_wait(&p->wake, &p->mutex);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mutex);
    return g;
}

static void *worker_main(void *argp) {
    worker *w = argp;
    rwkv_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_generation(p, seen);
        if (atomic_load_explicit(&p->quit, memory_order_acquire)) break;
        p->fn(p->arg, w->ith, p->n);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel);
    }
    return NULL;
}

rwkv_status rwkv_pool_new(int n_threads, rwkv_pool **out) {
    *out = NULL;
    if (n_threads < 1) return rwkv_fail(RWKV_ERR_INVALID_ARG, "pool needs at least one thread");
    rwkv_pool *p = calloc(1, sizeof *p);
    if (!p) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    p->workers = calloc((size_t)n_threads, sizeof *p->workers);
    if (!p->workers) {
        free(p);
        return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->n = 1;
    p->workers[0].pool = p;
    for (int i = 1; i < n_threads; i++) {
        worker *w = &p->workers[i];
        w->pool = p;
        w->ith = i;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            w->pool = NULL;
            rwkv_pool_free(p);
            return rwkv_fail(RWKV_ERR_NOMEM, "could not start worker thread %d", i);
        }
        p->n = i + 1;
    }
    /* workers started with n smaller than the final count never ran a task; fix n now */
    p->n = n_threads;
    *out = p;
    return RWKV_OK;
}

void rwkv_pool_free(rwkv_pool *p) {
    if (!p) return;
    atomic_store(&p->quit, 1);
    pthread_mutex_lock(&p->mutex);
    atomic_fetch_add(&p->generation, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    for (int i = 1; i < p->n; i++)
        if (p->workers[i].pool) pthread_join(p->workers[i].thread, NULL);
    pthread_mutex_destroy(&p->mutex);
    pthread_cond_destroy(&p->wake);
    free(p->workers);
    free(p);
}

int rwkv_pool_size(const rwkv_pool *p) { return p->n; }

void rwkv_pool_run(rwkv_pool *p, rwkv_task_fn fn, void *arg) {
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_fetch_add(&p->generation, 1); /* seq_cst: publishes fn/arg, pairs with sleepers */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mutex);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mutex);
    }
    fn(arg, 0, p->n);
    unsigned spins = 0;
    while (atomic_load_explicit(&p->done, memory_order_acquire) != p->n - 1) wait_step(&spins);
}

void rwkv_pool_barrier(rwkv_pool *p) {
    if (p->n == 1) return;
    unsigned phase = atomic_load_explicit(&p->bar_phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->bar_count, 1, memory_order_acq_rel) == p->n - 1) {
        atomic_store_explicit(&p->bar_count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->bar_phase, 1, memory_order_acq_rel);
    } else {
        unsigned spins = 0;
        while (atomic_load_explicit(&p->bar_phase, memory_order_acquire) == phase) wait_step(&spins);
    }
}
