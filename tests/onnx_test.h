/* onnx_test.h — checks shared by the ONNX import tests (test_onnx.c, test_onnx_volume.c,
 * test_onnx_shuffle.c): an imported model's layer types in order (layer_types) and an
 * import refused in one line (import_refused). Include after check.h, in a file that
 * defines new_ctx(). */
#ifndef KN_TEST_ONNX_TEST_H
#define KN_TEST_ONNX_TEST_H

#include "nn/model.h"

#include <stdio.h>
#include <string.h>

static kn_ctx *new_ctx(void);

/* The layers' types in order, space-separated. */
__attribute__((unused)) static void layer_types(const kn_model *m, char *buf, size_t size) {
    buf[0] = 0;
    for (int i = 0; i < m->n_layers; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", i ? " " : "", kn__layer_type(&m->layers[i]));
    }
}

/* The import of `path` fails with KN_ERR_UNSUPPORTED and a one-line message holding needle. */
__attribute__((unused)) static void import_refused(const char *path, const char *needle) {
    kn_ctx *ctx = new_ctx();
    kn_model *m = NULL;
    kn_status st = kn_model_import_onnx(ctx, path, NULL, &m);
    const char *msg = kn_last_error(ctx);
    CHECK(st == KN_ERR_UNSUPPORTED && !m && strstr(msg, needle) && !strchr(msg, '\n'), "%s: %s '%s' (want one line with '%s')",
          path, kn_status_name(st), msg, needle);
    printf("refused %s\n", msg);
    kn_model_free(m);
    kn_ctx_free(ctx);
}

#endif
