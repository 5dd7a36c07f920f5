/* checksum.c — the model file's checksum: XXH3-64 of the tensor data. xxhash is compiled
 * inline here (XXH_INLINE_ALL) so it uses this build's AVX2; Debian's libxxhash is built
 * for the x86-64 baseline and hashes at ~2.5 GB/s on these machines instead of ~20+. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core/core.h"

uint64_t kn__checksum(const void *data, size_t n) { return (uint64_t)XXH3_64bits(data, n); }
