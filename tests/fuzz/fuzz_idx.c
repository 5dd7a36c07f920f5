/* fuzz_idx.c — libFuzzer target for the IDX reader: any bytes (plain or gzip) must give a
 * status, never a crash, an out-of-bounds read or a leak. Seeds: tests/fuzz/corpus/idx/.
 * Build: clang -g -fsanitize=fuzzer,address,undefined -Iinclude -Isrc ... -lz */
#include "data/idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kn_ctx *ctx = NULL;
    if (kn_ctx_new(NULL, &ctx) != KN_OK) return 0;
    kn__idx idx;
    kn_status st = kn__idx_parse(ctx, data, size, "fuzz", &idx);
    /* A result is either a complete file or nothing at all. */
    if ((st == KN_OK) != (idx.data != NULL)) __builtin_trap();
    if (st == KN_OK && idx.ndim != 1 && idx.ndim != 3) __builtin_trap();
    kn__idx_free(ctx, &idx);
    kn_ctx_free(ctx);
    return 0;
}
