/* pool.h — kiln's worker threads for small parallel loops (pool.c explains the design). */
#ifndef KN_POOL_H
#define KN_POOL_H

#include <stdint.h>

/* Runs chunk `chunk` of a job. */
typedef void (*kn__chunk_fn)(void *args, int64_t chunk);

/* Runs fn(args, k) for k in [0, n_chunks), on the calling thread and up to threads - 1
 * workers; returns when all are done. Chunks must be independent of one another (and of
 * which thread runs them). threads <= 1 runs them in order on the caller. Never allocates
 * after the first call that starts workers. */
void kn__pool_run(int threads, int64_t n_chunks, kn__chunk_fn fn, void *args);

/* Inside a chunk: which of the job's threads runs it, in [0, threads): 0 the caller, 1..
 * the workers that joined. No two threads of a job share a slot, so a kernel can give each
 * slot its own scratch. Outside a job: 0. */
int kn__pool_slot(void);

#endif
