/* test_device.c — the device API on any build and machine: names parse and print, the CPU
 * is always there, and where CUDA is not usable (a build without it, no GPU, an old
 * driver) asking for it gives KN_ERR_UNSUPPORTED with a message saying which, from
 * kn_device_check and from compiling a graph for it, never a crash. A model on a cuda
 * context builds cuda graphs: without a usable GPU its first use fails with that message. */
#include <kiln.h>

#include <stdio.h>
#include <string.h>
#include "check.h"

#ifdef KILN_HAVE_CUDA
kn_status kn__cublaslt_load(kn_ctx *ctx); /* src/backend/cuda/cublaslt_load.c */
#endif

int main(void) {
    kn_device d;
    CHECK(kn_device_parse("cuda", &d) && d == KN_DEVICE_CUDA, "parse cuda");
    CHECK(kn_device_parse("cpu", &d) && d == KN_DEVICE_CPU, "parse cpu");
    CHECK(!kn_device_parse("tpu", &d), "parse tpu");
    CHECK(strcmp(kn_device_name(KN_DEVICE_CUDA), "cuda") == 0, "name");
    kn_ctx *bad = NULL;
    CHECK(kn_ctx_new(&(kn_ctx_opts){.device = KN_DEVICE_COUNT}, &bad) == KN_ERR_INVALID_ARGUMENT && !bad, "bad device");

    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .device = KN_DEVICE_CUDA}, &ctx);
    CHECK(kn_device_check(ctx, KN_DEVICE_CPU) == KN_OK, "cpu is always usable");
    bool cuda = kn_device_check(ctx, KN_DEVICE_CUDA) == KN_OK;
    printf("cuda: %s\n", cuda ? "usable" : kn_last_error(ctx));
    CHECK(cuda || strstr(kn_last_error(ctx), "cuda"), "the message names the device: %s", kn_last_error(ctx));

    /* a graph made on a cuda context is a cuda graph; compiling it where cuda is missing fails cleanly */
    kn_graph *g;
    kn_graph_new(ctx, &g);
    CHECK(kn_graph_device(g) == KN_DEVICE_CUDA, "graphs take the context's device");
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){2, 3}, 2, "x");
    kn_tensor *y = kn_scale(g, x, 2.0f);
    kn_graph_keep(g, y);
    kn_status st = kn_graph_compile(g, 1, true);
    if (!cuda) {
        CHECK(st == KN_ERR_UNSUPPORTED, "compile for a missing cuda: %s", kn_status_name(st));
        CHECK(kn_graph_run(g) == KN_ERR_STATE, "an uncompiled graph does not run");
    } else {
        CHECK(st == KN_OK, "compile on cuda: %s", kn_last_error(ctx));
        float *xd = kn_tensor_data(x);
        for (int i = 0; i < 6; i++) xd[i] = (float)i;
        CHECK(kn_graph_run(g) == KN_OK, "run on cuda: %s", kn_last_error(ctx));
        CHECK(((float *)kn_tensor_data(y))[5] == 10.0f, "2 * 5 on cuda");
    }
    kn_graph_free(g);
    /* the same graph on the cpu, set explicitly */
    kn_graph_new(ctx, &g);
    CHECK(kn_graph_set_device(g, KN_DEVICE_CPU) == KN_OK, "set_device");
    x = kn_input(g, KN_F32, (int64_t[]){2, 3}, 2, "x");
    y = kn_scale(g, x, 2.0f);
    kn_graph_keep(g, y);
    CHECK(kn_graph_compile(g, 1, true) == KN_OK, "compile on cpu: %s", kn_last_error(ctx));
    CHECK(kn_graph_set_device(g, KN_DEVICE_CUDA) == KN_ERR_STATE, "set_device after compile");
    CHECK(kn_graph_sync(g) == KN_OK && kn_graph_upload(g) == KN_OK, "sync and upload are no-ops on the cpu");
    kn_graph_free(g);

    /* a model on a cuda context: where cuda is missing, its first use fails cleanly, saying why */
    kn_model *m;
    st = kn_model_new_sequential(ctx, (int64_t[]){4}, 1, &m);
    if (!st) st = kn_model_add_dense(m, 3, KN_SOFTMAX);
    kn_optimizer opt = kn_adam(1e-3f);
    if (!st) st = kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = opt});
    float in[4] = {1, 2, 3, 4}, out[3];
    if (!st) st = kn_model_predict(m, in, 1, out);
    if (!cuda)
        CHECK(st == KN_ERR_UNSUPPORTED && strstr(kn_last_error(ctx), "device cuda") && !strchr(kn_last_error(ctx), '\n'),
              "a model on a missing cuda: %s: %s", kn_status_name(st), kn_last_error(ctx));
    else
        CHECK(st == KN_OK && out[0] + out[1] + out[2] > 0.999f && out[0] + out[1] + out[2] < 1.001f,
              "a model predicts on cuda: %s: %s", kn_status_name(st), kn_last_error(ctx));
    kn_model_free(m);
#ifdef KILN_HAVE_CUDA
    /* cuBLASLt is opened with dlopen, not linked: its loading works without a GPU, so a
     * machine with the toolkit checks here what a GPU session would otherwise find first */
    kn_status lt = kn__cublaslt_load(ctx);
    printf("cuBLASLt: %s\n", lt ? kn_last_error(ctx) : "loaded");
    CHECK(lt == KN_OK, "cuBLASLt does not load: %s", kn_last_error(ctx));
#endif
    kn_ctx_free(ctx);
    printf("test_device: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
