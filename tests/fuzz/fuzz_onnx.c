/* fuzz_onnx.c — libFuzzer target for the ONNX importer (io/onnx_proto.c, io/onnx_import.c):
 * any bytes must import as a model or give a status with a one-line message, never a
 * crash, an out-of-bounds read or a leak; a model that imports must predict. Seeds:
 * tests/fuzz/corpus/onnx/ (the test models of tests/data/onnx, and cut and altered ones).
 * Build: cmake -DKILN_FUZZ=ON with clang (see tests/CMakeLists.txt). */
#include "fuzz_model_check.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kn_ctx *ctx = NULL;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 1}, &ctx) != KN_OK) return 0;
    kn_model *m = NULL;
    kn_status st = kn_model_import_onnx_buffer(ctx, data, size, "fuzz.onnx", NULL, &m);
    fuzz_check_model(ctx, st, m);
    kn_model_free(m);
    kn_ctx_free(ctx);
    return 0;
}
