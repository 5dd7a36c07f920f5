/* fuzz_onnx.c — libFuzzer target for the ONNX importer (io/onnx_proto.c, io/onnx_import.c):
 * any bytes must import as a model or give a status with a one-line message, never a
 * crash, an out-of-bounds read or a leak; a model that imports must predict. Seeds:
 * tests/fuzz/corpus/onnx/ (the test models of tests/data/onnx, and cut and altered ones).
 * Build: cmake -DKILN_FUZZ=ON with clang (see tests/CMakeLists.txt). */
#include <kiln.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kn_ctx *ctx = NULL;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 1}, &ctx) != KN_OK) return 0;
    kn_model *m = NULL;
    kn_status st = kn_model_import_onnx_buffer(ctx, data, size, "fuzz.onnx", NULL, &m);
    if ((st == KN_OK) != (m != NULL)) __builtin_trap();
    if (st != KN_OK && strchr(kn_last_error(ctx), '\n')) __builtin_trap();
    if (m && kn_model_input_size(m) <= 4096 && kn_model_param_count(m) < 1000000) {
        float *x = calloc((size_t)kn_model_input_size(m), sizeof *x);
        float *y = calloc((size_t)kn_model_output_size(m), sizeof *y);
        if (x && y) kn_model_predict(m, x, 1, y);
        free(x);
        free(y);
    }
    kn_model_free(m);
    kn_ctx_free(ctx);
    return 0;
}
