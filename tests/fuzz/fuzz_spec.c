/* fuzz_spec.c — libFuzzer target for the JSON model description: any bytes must give a
 * model or a status with a one-line message, never a crash or a leak. Seeds:
 * tests/fuzz/corpus/spec/. Build: clang -g -fsanitize=fuzzer,address,undefined -Iinclude
 * -Isrc tests/fuzz/fuzz_spec.c <libkiln sources> -lcjson -lopenblas -lz -lm -fopenmp */
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    kn_ctx *ctx = NULL;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 1}, &ctx) == KN_OK) {
        kn_model *m = NULL;
        kn_spec spec;
        kn_status st = kn_model_from_json(ctx, text, NULL, &m, &spec);
        if ((st == KN_OK) != (m != NULL)) __builtin_trap();
        if (st != KN_OK && strchr(kn_last_error(ctx), '\n')) __builtin_trap();
        /* a model that parsed must also compile (or say why) without crashing */
        if (m && kn_model_compile(m, &spec.compile) == KN_OK && kn_model_param_count(m) < 100000) {
            float x[64] = {0}, out[64];
            if (kn_model_input_size(m) <= 64 && kn_model_output_size(m) <= 64) kn_model_predict(m, x, 1, out);
        }
        kn_model_free(m);
        kn_ctx_free(ctx);
    }
    free(text);
    return 0;
}
