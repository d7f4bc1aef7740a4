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

/* A claim slot: [generation:20][end:22][next:22] packed in one atomic word, so a claim is
 * valid only for the run that filled the slot (a late worker cannot take a unit of a newer run
 * with an older task). */
#define SLOT_BITS 22
#define SLOT_MASK ((1ull << SLOT_BITS) - 1)
#define GEN_MASK ((1ull << 20) - 1)

typedef struct worker {
    rwkv_pool *pool;
    int ith;
    pthread_t thread;
    _Alignas(64) _Atomic uint64_t slot; /* units of this worker's share not yet taken */
    char pad[56];
} worker;

struct rwkv_pool {
    int n;                          /* workers including the caller */
    worker *workers;                /* [n]; workers[0] is the caller (no thread) */
    /* The current task: fn (rwkv_pool_run) or ufn (rwkv_pool_run_units), and its argument.
     * Written before the generation is bumped; atomics because a late worker may read them
     * while the next run is being set up (it then sees a newer generation and starts over). */
    _Atomic(rwkv_task_fn) fn;
    _Atomic(rwkv_unit_fn) ufn;
    _Atomic(void *) arg;
    _Atomic int units_left;         /* units of the current unit task not yet finished */
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

/* Takes the next unit of worker j's share for run gen; -1 when none is left (or the slot
 * belongs to another run). */
static int claim(rwkv_pool *p, int j, uint64_t gen) {
    _Atomic uint64_t *slot = &p->workers[j].slot;
    uint64_t v = atomic_load_explicit(slot, memory_order_acquire);
    for (;;) {
        if ((v >> (2 * SLOT_BITS)) != gen) return -1;
        uint64_t next = v & SLOT_MASK, end = (v >> SLOT_BITS) & SLOT_MASK;
        if (next >= end) return -1;
        if (atomic_compare_exchange_weak_explicit(slot, &v, v + 1, memory_order_acq_rel,
                                                  memory_order_acquire))
            return (int)next;
    }
}

/* Worker ith's part of a unit run: its own share, then the others'. */
static void run_units_as(rwkv_pool *p, int ith, uint64_t gen, rwkv_unit_fn fn, void *arg) {
    int count = 0;
    for (int k = 0; k < p->n; k++) {
        int j = (ith + k) % p->n, u;
        while ((u = claim(p, j, gen)) >= 0) {
            fn(arg, u, ith);
            count++;
        }
    }
    if (count) atomic_fetch_sub_explicit(&p->units_left, count, memory_order_acq_rel);
}

static void *worker_main(void *argp) {
    worker *w = argp;
    rwkv_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g = wait_generation(p, seen);
        if (atomic_load_explicit(&p->quit, memory_order_acquire)) break;
        rwkv_unit_fn ufn = atomic_load_explicit(&p->ufn, memory_order_relaxed);
        rwkv_task_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
        void *arg = atomic_load_explicit(&p->arg, memory_order_relaxed);
        /* A newer run began while we read (possible only after a unit run that finished
         * without us): start over with it. A plain run is never overtaken: its caller waits
         * for every worker. */
        if (atomic_load(&p->generation) != g) {
            seen = g;
            continue;
        }
        seen = g;
        if (ufn) {
            run_units_as(p, w->ith, g & GEN_MASK, ufn, arg); /* claims re-check the generation */
        } else {
            fn(arg, w->ith, p->n);
            atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel);
        }
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
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->ufn, NULL, memory_order_relaxed);
    atomic_store_explicit(&p->arg, arg, memory_order_relaxed);
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

void rwkv_pool_run_units(rwkv_pool *p, rwkv_unit_fn fn, void *arg, int n_units) {
    if (n_units <= 0) return;
    if (p->n == 1 || n_units == 1) {
        for (int u = 0; u < n_units; u++) fn(arg, u, 0);
        return;
    }
    /* Every worker that ran a plain task has finished it (rwkv_pool_run waits); workers of an
     * earlier unit run may still be looking for units, but their claims fail on the generation. */
    const unsigned g = atomic_load_explicit(&p->generation, memory_order_relaxed) + 1;
    const uint64_t gen = g & GEN_MASK;
    atomic_store_explicit(&p->fn, NULL, memory_order_relaxed);
    atomic_store_explicit(&p->ufn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&p->units_left, n_units, memory_order_relaxed);
    for (int i = 0; i < p->n; i++) {
        int lo, hi;
        rwkv_split(n_units, i, p->n, &lo, &hi);
        atomic_store_explicit(&p->workers[i].slot,
                              (gen << (2 * SLOT_BITS)) | ((uint64_t)hi << SLOT_BITS) | (uint64_t)lo,
                              memory_order_relaxed);
    }
    atomic_fetch_add(&p->generation, 1); /* seq_cst: publishes the slots and the task */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mutex);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mutex);
    }
    run_units_as(p, 0, gen, fn, arg);
    unsigned spins = 0;
    while (atomic_load_explicit(&p->units_left, memory_order_acquire) != 0) wait_step(&spins);
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
