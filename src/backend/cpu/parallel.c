/* parallel.c — one way to split a loop over threads: kernels write their loop over a
 * range [lo, hi) with restrict pointers (so it vectorizes), and kn__parallel_for runs it on
 * the caller's thread when the work is small, or in chunks that are multiples of a grain
 * (16 floats: 64 bytes; or a row length) over OpenMP. */
#include "cpu.h"

#include <omp.h>

void kn__parallel_for(const kn_graph *g, int64_t n, int64_t grain, kn__range_fn fn, void *args) {
    int th = n >= KN_PAR_MIN ? kn_ctx_threads(g->ctx) : 1;
    if (th <= 1) {
        fn(args, 0, n);
        return;
    }
#pragma omp parallel num_threads(th)
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int64_t chunk = ((n + nt - 1) / nt + grain - 1) / grain * grain;
        int64_t lo = chunk * id, hi = lo + chunk < n ? lo + chunk : n;
        if (lo < hi) fn(args, lo, hi);
    }
}
