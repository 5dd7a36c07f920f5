/* conv_layer.c — one convolution layer's forward pass (conv2d + bias + relu, 'same') and its
 * kernel gradient, the first layers of networks (few input channels) and some past them,
 * timed on their own: the node's CPU kernel called directly in blocks after a graph run,
 * the median block's microseconds a call printed, "RESULT {json}" a shape. bench/conv_direct.sh runs it with
 * KILN_CONV_DIRECT=1 and =0 (the direct path of src/backend/cpu/conv_direct.c against the
 * GEMM path of conv_gemm.c) in alternating runs, beside PyTorch's F.conv2d
 * (bench/torch_conv_layer.py, the same shapes).
 * A shape is N,H,W,C,F,K,STRIDE: N images of HxWxC, F filters of KxK.
 * usage: conv_layer [THREADS=1] [BLOCKS=15] [N,H,W,C,F,K,STRIDE ...] */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "graph/graph.h"

/* cnn.json's first layer at batch 128; CIFAR-sized 3x3 and 5x5 over 1 and 3 channels; a
 * ResNet-style 7x7/2 stem; one 28x28 image (a predict call); then layers of 16 to 64
 * channels whose kernels fit conv_direct.c's L1 bound (to 36 KB) and two past it
 * (55 KB; cnn.json's second layer, 72 KB: the GEMM in both runs). */
static const char *default_shapes[] = {"128,28,28,1,32,3,1", "64,32,32,1,32,3,1",   "64,32,32,3,32,3,1",
                                       "64,32,32,3,32,5,1",  "64,32,32,3,64,3,1",   "32,64,64,3,64,7,2",
                                       "1,28,28,1,32,3,1",   "64,32,32,16,32,3,1",  "64,32,32,16,64,3,1",
                                       "32,32,32,32,32,3,1", "64,16,16,64,16,3,1",  "64,16,16,48,32,3,1",
                                       "128,24,24,32,64,3,1"};

/* Microseconds a call of the node of op `op` (median of blocks), or a negative status: the
 * forward (KN_OP_CONV2D, the layer alone) or the kernel gradient (KN_OP_CONV2D_GRAD_KERNEL,
 * the layer under the loss sum(y^2), x a constant input as a network's data). */
static double time_shape(kn_ctx *ctx, const int64_t s[7], int blocks, kn_op op) {
    kn_graph *g;
    if (kn_graph_new(ctx, &g)) return -1;
    const int k = (int)s[5], st = (int)s[6];
    const bool grad = op != KN_OP_CONV2D;
    kn_tensor *x = grad ? kn_input(g, KN_F32, (int64_t[]){s[0], s[1], s[2], s[3]}, 4, "x")
                        : kn_param(g, (int64_t[]){s[0], s[1], s[2], s[3]}, 4, KN_INIT_GLOROT_UNIFORM, "x");
    kn_tensor *kernel = kn_param(g, (int64_t[]){(int64_t)k * k * s[3], s[4]}, 2, KN_INIT_GLOROT_UNIFORM, "kernel");
    kn_tensor *bias = kn_param(g, (int64_t[]){s[4]}, 1, KN_INIT_GLOROT_UNIFORM, "bias");
    kn_tensor *y = kn_act(g, kn_add(g, kn_conv2d(g, x, kernel, k, k, st, st, 1, 1, true), bias), KN_RELU);
    kn_status st_built = grad ? kn_graph_backward(g, kn_sum_squares(g, y)) : kn_graph_keep(g, y);
    if (st_built || kn_graph_compile(g, s[0], true)) {
        fprintf(stderr, "conv_layer: %s\n", kn_last_error(ctx));
        kn_graph_free(g);
        return -1;
    }
    if (grad) { /* x: values in [-1, 1) */
        float *xv = (float *)x->data;
        for (int64_t i = 0; i < kn__numel(x); i++) xv[i] = (float)((i * 2654435761u) % 2000u) / 1000.0f - 1.0f;
    }
    if (kn_graph_run(g)) {
        fprintf(stderr, "conv_layer: %s\n", kn_last_error(ctx));
        kn_graph_free(g);
        return -1;
    }
    kn_tensor *node = NULL;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == op) node = g->nodes[i];
    if (!node) {
        fprintf(stderr, "conv_layer: the graph has no %s node\n", grad ? "conv2d_grad_kernel" : "conv2d");
        kn_graph_free(g);
        return -1;
    }
    void (*fn)(kn_graph *, kn_tensor *) = kn__op_info(op)->cpu;
    double t0 = now();
    fn(g, node);
    int per = (int)(0.02 / (now() - t0 + 1e-9)); /* calls a block: about 20 ms */
    per = per < 1 ? 1 : per > 5000 ? 5000 : per;
    double *t = malloc(sizeof(double) * (size_t)blocks);
    if (!t) return -1;
    unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040); /* FTZ | DAZ, as a graph run sets them */
    for (int b = -1; b < blocks; b++) { /* block -1 warms up */
        t0 = now();
        for (int r = 0; r < per; r++) fn(g, node);
        if (b >= 0) t[b] = (now() - t0) / per * 1e6;
    }
    _mm_setcsr(csr);
    qsort(t, (size_t)blocks, sizeof(double), cmp);
    double us = t[blocks / 2];
    free(t);
    kn_graph_free(g);
    return us;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1, blocks = argc > 2 ? atoi(argv[2]) : 15;
    int n_shapes = argc > 3 ? argc - 3 : (int)(sizeof default_shapes / sizeof *default_shapes);
    kn_ctx *ctx;
    if (threads < 1 || blocks < 1 || kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 1}, &ctx)) {
        fprintf(stderr, "usage: conv_layer [THREADS=1] [BLOCKS=15] [N,H,W,C,F,K,STRIDE ...]\n");
        return 2;
    }
    for (int i = 0; i < n_shapes; i++) {
        const char *arg = argc > 3 ? argv[3 + i] : default_shapes[i];
        long long v[7];
        if (sscanf(arg, "%lld,%lld,%lld,%lld,%lld,%lld,%lld", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]) != 7 ||
            v[5] < 1 || v[5] > 255 || v[6] < 1 || v[6] > 255) {
            fprintf(stderr, "conv_layer: %s: expected N,H,W,C,F,K,STRIDE\n", arg);
            return 2;
        }
        int64_t s[7] = {v[0], v[1], v[2], v[3], v[4], v[5], v[6]};
        double us = time_shape(ctx, s, blocks, KN_OP_CONV2D), dk = time_shape(ctx, s, blocks, KN_OP_CONV2D_GRAD_KERNEL);
        if (us < 0 || dk < 0) return 1;
        printf("RESULT {\"shape\": \"%s\", \"threads\": %d, \"forward_us\": %.1f, \"grad_kernel_us\": %.1f}\n", arg,
               threads, us, dk);
        fflush(stdout);
    }
    kn_ctx_free(ctx);
    return 0;
}
