/* gpu_step.c — the reference MLP's training step (784-64-64-10, relu, Adam 1e-3, sparse
 * cross-entropy from logits) as one kiln graph on a device, timed over many steps at a
 * few batch sizes: the input batch copied in each step, the step run (on cuda: replayed
 * from a captured CUDA graph after the second step), the loss copied out. Random inputs:
 * the figure is the step time, not accuracy (bench/gpu/run.sh).
 * usage: gpu_step cpu|cuda [steps] */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <kiln.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    kn_device dev = KN_DEVICE_CPU;
    if (argc < 2 || !kn_device_parse(argv[1], &dev)) {
        fprintf(stderr, "usage: gpu_step cpu|cuda [steps]\n");
        return 2;
    }
    int steps = argc > 2 ? atoi(argv[2]) : 2000;
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.seed = 1, .device = dev}, &ctx);
    if (kn_device_check(ctx, dev) != KN_OK) {
        fprintf(stderr, "gpu_step: %s\n", kn_last_error(ctx));
        kn_ctx_free(ctx);
        return 77;
    }
    static const int64_t batches[] = {32, 128, 1024};
    for (int bi = 0; bi < 3; bi++) {
        int64_t b = batches[bi];
        kn_graph *g;
        kn_graph_new(ctx, &g);
        kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){b, 784}, 2, "x");
        kn_tensor *y = kn_input(g, KN_I32, (int64_t[]){b}, 1, "labels");
        kn_tensor *h = x;
        int64_t widths[] = {784, 64, 64, 10};
        for (int l = 0; l < 3; l++) {
            char wn[8], bn[8];
            snprintf(wn, sizeof wn, "w%d", l);
            snprintf(bn, sizeof bn, "b%d", l);
            kn_tensor *w = kn_param(g, (int64_t[]){widths[l], widths[l + 1]}, 2, KN_INIT_GLOROT_UNIFORM, wn);
            kn_tensor *bias = kn_param(g, (int64_t[]){widths[l + 1]}, 1, KN_INIT_ZEROS, bn);
            h = kn_add(g, kn_matmul(g, h, w), bias);
            if (l < 2) h = kn_relu(g, h);
        }
        kn_tensor *loss = kn_loss_op(g, KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, h, y, true);
        kn_graph_keep(g, loss);
        kn_graph_backward(g, loss);
        kn_optimizer opt = kn_adam(1e-3f);
        kn_graph_add_optimizer(g, &opt);
        if (kn_graph_compile(g, 1, true) != KN_OK) {
            fprintf(stderr, "gpu_step: compile: %s\n", kn_last_error(ctx));
            return 1;
        }
        float *xd = kn_tensor_data(x);
        int32_t *yd = kn_tensor_data(y);
        for (int64_t i = 0; i < b * 784; i++) xd[i] = (float)((i * 2654435761u) % 256) / 255.0f;
        for (int64_t i = 0; i < b; i++) yd[i] = (int32_t)(i % 10);
        for (int s = 0; s < 10; s++) kn_graph_run(g); /* warm up (and capture) */
        int n = b >= 1024 ? steps / 4 : steps;
        double t0 = now();
        kn_status st = KN_OK;
        for (int s = 0; s < n && !st; s++) st = kn_graph_run(g);
        double dt = now() - t0;
        if (st) {
            fprintf(stderr, "gpu_step: run: %s\n", kn_last_error(ctx));
            return 1;
        }
        printf("%s batch %5lld: %8.1f us/step  %9.0f samples/s  loss %.4f\n", argv[1], (long long)b, 1e6 * dt / n,
               (double)b * n / dt, (double)*(float *)kn_tensor_data(loss));
        kn_graph_free(g);
    }
    kn_ctx_free(ctx);
    return 0;
}
