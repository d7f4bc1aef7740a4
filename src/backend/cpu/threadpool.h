/* threadpool.h — a persistent pool of worker threads for the forward pass.
 *
 * One pool belongs to one execution context (rwkv_ctx). The calling thread is worker 0 and
 * n-1 extra threads are created once, at rwkv_pool_new. rwkv_pool_run hands the same task to
 * every worker: fn(arg, ith, nth) with ith in [0, nth). The task decides its own slice of the
 * work from (ith, nth) — callers slice deterministically (rows of a matrix, heads of the WKV)
 * so that each output element is computed by exactly one thread in a fixed order.
 *
 * Between tasks the workers spin for a short while (about RWKV_POOL_SPIN_US) on an atomic
 * generation counter, then sleep on a condition variable; a new task wakes them. */
#ifndef RWKV_THREADPOOL_H
#define RWKV_THREADPOOL_H

#include "base/internal.h"

typedef struct rwkv_pool rwkv_pool;

/* A task: runs worker ith's share of the work (nth workers in all). */
typedef void (*rwkv_task_fn)(void *arg, int ith, int nth);

/* Creates a pool of n_threads workers in all (the caller counts as one; n_threads >= 1).
 * On success *out owns the pool (free with rwkv_pool_free). */
rwkv_status rwkv_pool_new(int n_threads, rwkv_pool **out);

/* Stops and joins the workers and frees the pool. Accepts NULL. Not while a task runs. */
void rwkv_pool_free(rwkv_pool *pool);

/* Number of workers (including the caller). */
int rwkv_pool_size(const rwkv_pool *pool);

/* Runs fn(arg, ith, nth) on every worker (the caller runs ith = 0) and returns when all have
 * finished. Not reentrant: one run at a time per pool (rwkv_eval serialises per model). */
void rwkv_pool_run(rwkv_pool *pool, rwkv_task_fn fn, void *arg);

/* A task over work units: runs unit u (0 <= u < n_units) on worker ith. */
typedef void (*rwkv_unit_fn)(void *arg, int unit, int ith);

/* Runs fn(arg, u, ith) exactly once for every u < n_units and returns when all have finished.
 * Worker i starts on its own contiguous share of the units (rwkv_split) in order, then takes
 * units left in the other workers' shares; the caller returns as soon as every unit is done,
 * without waiting for workers that are not scheduled (a busy machine). Which worker runs a unit
 * must not change its result: fn computes a unit the same way on any worker (ith only picks
 * private scratch). n_units < 2^22. */
void rwkv_pool_run_units(rwkv_pool *pool, rwkv_unit_fn fn, void *arg, int n_units);

/* Waits inside a task until every worker of the current run has reached the barrier.
 * Every worker must call it the same number of times in a run. */
void rwkv_pool_barrier(rwkv_pool *pool);

/* The part [*lo, *hi) of n units that worker ith of nth takes: contiguous, in order, sizes
 * differing by at most one, and a function of (n, ith, nth) only. */
static inline void rwkv_split(int n, int ith, int nth, int *lo, int *hi) {
    *lo = (int)((long long)n * ith / nth);
    *hi = (int)((long long)n * (ith + 1) / nth);
}

#endif
