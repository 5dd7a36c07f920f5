/* rng.c — a counter-based random generator: every draw is a pure function of
 * (seed, stream, counter), so initialization and shuffling give the same numbers whatever
 * the thread count. The draw itself is inline in core.h. */
#include "core.h"

void kn__rng_shuffle(int64_t *idx, int64_t n, uint64_t seed, uint64_t stream) {
    for (int64_t i = n - 1; i > 0; i--) {
        /* Lemire's multiply-shift: unbiased enough for n << 2^32 and branch-free. */
        uint64_t r = kn__rng_u64(seed, stream, (uint64_t)i) >> 32;
        int64_t j = (int64_t)((r * (uint64_t)(i + 1)) >> 32);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
