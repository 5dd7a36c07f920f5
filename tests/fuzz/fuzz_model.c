/* fuzz_model.c — libFuzzer target for the model loader: any bytes must load as a model or
 * give a status with a one-line message, never a crash, an out-of-bounds read or a leak; a
 * model that loads must predict. Seeds: tests/fuzz/corpus/model/ (valid and hand-broken
 * files). Build: cmake -DKILN_FUZZ=ON with clang (see tests/CMakeLists.txt). */
#include "fuzz_model_check.h"
#include "nn/model.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kn_ctx *ctx = NULL;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 1}, &ctx) != KN_OK) return 0;
    /* a 64-byte-aligned copy, as a mapping would be, so the zero-copy path is fuzzed too */
    uint8_t *buf = aligned_alloc(64, (size + 63) / 64 * 64 + 64);
    if (buf) {
        memcpy(buf, data, size);
        kn_model *m = NULL;
        kn_status st = kn__model_load_buffer(ctx, buf, size, "fuzz.kiln", NULL, &m);
        fuzz_check_model(ctx, st, m);
        kn_model_free(m);
        free(buf);
    }
    kn_ctx_free(ctx);
    return 0;
}
