/* pool.c — kiln's worker threads, made for the many small parallel loops of a training step
 * (a 32-row matrix product, an Adam update of 55k parameters: 5-30 µs each).
 *
 * A job is split into chunks that threads claim one at a time from a shared counter; the
 * caller claims chunks too and never waits for a worker to wake up or arrive, only for
 * chunks a worker has already claimed. On an idle machine both cores share the job; when
 * the other core is busy (another process, a second training run), the caller simply does
 * every chunk itself, so a job is never slower than on one thread by more than one chunk.
 * (A fork-join team, as OpenMP's, waits at its barrier for every thread to be scheduled:
 * on a loaded 2-core machine that turned 0.2 s epochs into 1-14 s ones.)
 *
 * One job at a time: its chunk counter carries the job's generation in its high bits, so a
 * worker that read an old job and was descheduled cannot claim a chunk of the next one.
 * Workers spin briefly after a job (the next one in a training loop comes within
 * microseconds), then sleep on a condition variable. A caller that finds the pool busy
 * (another thread's job) runs its job alone. Chunks must be independent: which thread runs
 * one never changes the result. */
#include "pool.h"

#include <stdbool.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define POOL_MAX_WORKERS 63
#define CHUNK_BITS 24                      /* low bits of the claim word: the next chunk */
#define SPIN_ROUNDS 20000                  /* up to ~1 ms of pause before a worker sleeps */

typedef struct {
    pthread_mutex_t lock;                  /* guards sleeping and starting workers */
    pthread_cond_t wake;
    atomic_uint_fast64_t claim;            /* (generation << CHUNK_BITS) | next chunk */
    atomic_int_fast64_t done;              /* chunks finished in the current job */
    atomic_int sleepers;
    atomic_int helpers;                    /* workers that joined the current job */
    atomic_flag busy;                      /* a job is running */
    /* the current job: written before its generation is published, read after a claim;
     * n_chunks and max_helpers also before one, by a worker that may still hold the job
     * before (its claim then fails): atomics, relaxed, so that those reads are not races */
    kn__chunk_fn fn;
    void *args;
    atomic_int_fast64_t n_chunks;
    atomic_int max_helpers;
    int n_workers;
    uint64_t generation;
    atomic_bool quit;                      /* process exit: workers leave (pool_shutdown) */
    pthread_cond_t exited;                 /* a worker left */
} pool_t;

/* This thread's slot in the job it is running (pool.h): 0 for the caller, 1.. for helpers. */
static _Thread_local int slot;

int kn__pool_slot(void) { return slot; }

static pool_t pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .busy = ATOMIC_FLAG_INIT,
                      .exited = PTHREAD_COND_INITIALIZER};

/* Claims and runs chunks of generation gen until none are left; returns chunks run. */
static int64_t work(uint64_t gen) {
    int64_t ran = 0;
    for (;;) {
        uint_fast64_t c = atomic_load_explicit(&pool.claim, memory_order_acquire);
        if (c >> CHUNK_BITS != gen) return ran;
        int64_t k = (int64_t)(c & ((1u << CHUNK_BITS) - 1));
        if (k >= atomic_load_explicit(&pool.n_chunks, memory_order_relaxed)) return ran;
        if (!atomic_compare_exchange_weak_explicit(&pool.claim, &c, c + 1, memory_order_acq_rel, memory_order_acquire))
            continue;
        pool.fn(pool.args, k); /* the job's fields are stable while a chunk of it is unfinished */
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
        ran++;
    }
}

/* arg: the generation current when the worker was started, before the job that started it
 * was published (reading it here instead would take that job for an old one, and its caller
 * would run it alone). */
static void *worker_main(void *arg) {
    uint64_t seen = (uint64_t)(uintptr_t)arg;
    for (;;) {
        uint64_t gen = seen;
        for (int spin = 0; spin < SPIN_ROUNDS && gen == seen && !atomic_load(&pool.quit); spin++) {
            cpu_relax();
            gen = atomic_load_explicit(&pool.claim, memory_order_acquire) >> CHUNK_BITS;
        }
        if (gen == seen) {
            pthread_mutex_lock(&pool.lock);
            atomic_fetch_add(&pool.sleepers, 1);
            while ((gen = atomic_load_explicit(&pool.claim, memory_order_acquire) >> CHUNK_BITS) == seen &&
                   !atomic_load(&pool.quit))
                pthread_cond_wait(&pool.wake, &pool.lock);
            atomic_fetch_sub(&pool.sleepers, 1);
            pthread_mutex_unlock(&pool.lock);
        }
        if (atomic_load(&pool.quit)) break;
        seen = gen;
        int helper = atomic_fetch_add(&pool.helpers, 1);
        if (helper < atomic_load_explicit(&pool.max_helpers, memory_order_relaxed)) {
            slot = helper + 1;
            work(gen);
            slot = 0;
        }
    }
    pthread_mutex_lock(&pool.lock);
    pool.n_workers--;
    pthread_cond_broadcast(&pool.exited);
    pthread_mutex_unlock(&pool.lock);
    return NULL;
}

/* At process exit: the workers leave their loop and end (at most a second is waited), so
 * nothing of theirs is left behind (valgrind sees no thread still holding its stack). */
static void pool_shutdown(void) {
    pthread_mutex_lock(&pool.lock);
    atomic_store(&pool.quit, true);
    pthread_cond_broadcast(&pool.wake);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    while (pool.n_workers > 0)
        if (pthread_cond_timedwait(&pool.exited, &pool.lock, &until) != 0) break;
    pthread_mutex_unlock(&pool.lock);
}

/* Starts workers up to want (under the lock); false when none could be started. */
static bool ensure_workers(int want) {
    if (want > POOL_MAX_WORKERS) want = POOL_MAX_WORKERS;
    if (pool.n_workers >= want) return true;
    pthread_mutex_lock(&pool.lock);
    static bool registered;
    if (!registered) registered = atexit(pool_shutdown) == 0;
    if (atomic_load(&pool.quit)) { /* exiting: no new workers */
        pthread_mutex_unlock(&pool.lock);
        return false;
    }
    while (pool.n_workers < want) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        /* default stack size: glibc carves the static TLS (sgemm's 656 KB packing buffers)
         * out of the stack, and a small stack makes pthread_create fail */
        uint64_t gen_now = atomic_load_explicit(&pool.claim, memory_order_acquire) >> CHUNK_BITS;
        int rc = pthread_create(&t, &attr, worker_main, (void *)(uintptr_t)gen_now);
        pthread_attr_destroy(&attr);
        if (rc != 0) break;
        pool.n_workers++;
    }
    pthread_mutex_unlock(&pool.lock);
    return pool.n_workers > 0;
}

void kn__pool_run(int threads, int64_t n_chunks, kn__chunk_fn fn, void *args) {
    if (n_chunks <= 0) return;
    int outer = slot;
    slot = 0; /* the caller is slot 0 of its own job (a worker may call from inside a chunk) */
    if (threads <= 1 || n_chunks == 1 || n_chunks >= (1 << CHUNK_BITS) || atomic_flag_test_and_set(&pool.busy)) {
        for (int64_t k = 0; k < n_chunks; k++) fn(args, k);
        slot = outer;
        return;
    }
    if (!ensure_workers(threads - 1)) {
        atomic_flag_clear(&pool.busy);
        for (int64_t k = 0; k < n_chunks; k++) fn(args, k);
        slot = outer;
        return;
    }
    pool.fn = fn;
    pool.args = args;
    atomic_store_explicit(&pool.n_chunks, n_chunks, memory_order_relaxed);
    atomic_store_explicit(&pool.max_helpers, threads - 1, memory_order_relaxed);
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.helpers, 0, memory_order_relaxed);
    uint64_t gen = ++pool.generation & ((UINT64_C(1) << (64 - CHUNK_BITS)) - 1);
    atomic_store_explicit(&pool.claim, (uint_fast64_t)gen << CHUNK_BITS, memory_order_release);
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
    work(gen);
    /* only chunks a worker claimed are left: they are running now */
    while (atomic_load_explicit(&pool.done, memory_order_acquire) < n_chunks) cpu_relax();
    atomic_flag_clear(&pool.busy);
    slot = outer;
}
