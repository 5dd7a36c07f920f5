/* rng.c — a counter-based random generator: every draw is a pure function of
 * (seed, stream, counter), so initialization and shuffling give the same numbers whatever
 * the thread count. The mixer is splitmix64's finalizer applied twice over the key. */
#include "core.h"

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t kn__rng_u64(uint64_t seed, uint64_t stream, uint64_t counter) {
    uint64_t key = mix64(seed + 0x9e3779b97f4a7c15ULL * (stream + 1));
    return mix64(key ^ mix64(counter + 0x632be59bd9b4e019ULL));
}

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
