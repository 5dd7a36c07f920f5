/* parallel.c — one way to split a loop over threads: kernels write their loop over a
 * range [lo, hi) (so it vectorizes), and kn__parallel_for runs it on the caller's thread
 * when the work is small, or in chunks that are multiples of a grain (16 floats: 64 bytes;
 * or a row length) on kiln's worker pool (core/pool.c). And the kernels' working memory:
 * their node's planned scratch. */
#include "cpu.h"
#include "core/pool.h"

typedef struct {
    kn__range_fn fn;
    void *args;
    int64_t n, chunk;
} range_job;

static void run_chunk(void *p, int64_t k) {
    const range_job *j = p;
    int64_t lo = k * j->chunk, hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
    if (lo < hi) j->fn(j->args, lo, hi);
}

void kn__parallel_for(const kn_graph *g, int64_t n, int64_t grain, kn__range_fn fn, void *args) {
    int th = n >= KN_PAR_MIN ? kn_ctx_threads(g->ctx) : 1;
    if (th <= 1) {
        fn(args, 0, n);
        return;
    }
    /* a few chunks a thread, so a thread that starts late finds work left */
    int64_t parts = 4 * (int64_t)th;
    range_job j = {fn, args, n, ((n + parts - 1) / parts + grain - 1) / grain * grain};
    kn__pool_run(th, (n + j.chunk - 1) / j.chunk, run_chunk, &j);
}

void *kn__cpu_scratch(kn_graph *g, const kn_tensor *t, size_t bytes) {
    if (t->scratch && t->scratch_bytes >= bytes) return t->scratch;
    void *s = kn__alloc(g->ctx, bytes ? bytes : 1);
    if (!s) kn__graph_fail(g, KN_ERR_OUT_OF_MEMORY, "%s: out of memory for %zu bytes of working memory", t->name, bytes);
    return s;
}

void kn__cpu_scratch_done(kn_graph *g, const kn_tensor *t, void *scratch) {
    if (scratch != t->scratch) kn__free(g->ctx, scratch);
}
