/* fuzz_model_check.h — what the model fuzz targets (fuzz_model.c, fuzz_onnx.c) demand of a
 * load or import: a model exactly when the status is KN_OK, a one-line message otherwise,
 * and a model that loads predicts one zero row (when it is small enough to be quick). */
#ifndef KILN_TESTS_FUZZ_MODEL_CHECK_H
#define KILN_TESTS_FUZZ_MODEL_CHECK_H

#include <kiln.h>

#include <stdlib.h>
#include <string.h>

static inline void fuzz_check_model(kn_ctx *ctx, kn_status st, kn_model *m) {
    if ((st == KN_OK) != (m != NULL)) __builtin_trap();
    if (st != KN_OK && strchr(kn_last_error(ctx), '\n')) __builtin_trap();
    if (m && kn_model_input_size(m) <= 4096 && kn_model_param_count(m) < 1000000) {
        float *x = calloc((size_t)kn_model_input_size(m), sizeof *x);
        float *y = calloc((size_t)kn_model_output_size(m), sizeof *y);
        if (x && y) kn_model_predict(m, x, 1, y);
        free(x);
        free(y);
    }
}

#endif
