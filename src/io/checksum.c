/* checksum.c — the model file's checksum: XXH3-64 of the tensor data. xxhash is compiled
 * inline here (XXH_INLINE_ALL) so it uses this build's AVX2; Debian's libxxhash is built
 * for the x86-64 baseline and hashes at ~2.5 GB/s on these machines instead of ~20+. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core/core.h"

uint64_t kn__checksum(const void *data, size_t n) { return (uint64_t)XXH3_64bits(data, n); }

uint64_t kn__checksum_parts(const void *const *parts, const size_t *sizes, int n) {
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    for (int i = 0; i < n; i++) XXH3_64bits_update(&state, parts[i], sizes[i]);
    return (uint64_t)XXH3_64bits_digest(&state);
}
