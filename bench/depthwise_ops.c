/* depthwise_ops.c — kiln's three depthwise-convolution kernels (forward, input gradient,
 * kernel gradient; src/backend/cpu/depthwise.c) timed one by one on a few shapes, for
 * bench/depthwise_vs_torch.sh (its PyTorch peer: bench/torch_depthwise_ops.py, the same
 * shapes). Each shape is one graph, x and the kernel parameters, loss = sum(y^2), with the
 * backward appended and the passes off; after one run, each of the three nodes' CPU kernel
 * is called directly, in alternating blocks (this VM drifts), and the median block's
 * microseconds a call printed: "RESULT {json}" a shape. 3x3 windows, 'same' padding, M = 1.
 * CLOCK=thread with THREADS=1: the thread's CPU time instead of the wall clock, which a
 * machine shared with other work inflates (for comparing two builds; not a figure to quote).
 * usage: [CLOCK=thread] depthwise_ops [THREADS=2] [BLOCKS=15] [N,H,W,C,STRIDE ...] */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "graph/graph.h"

/* The shapes of models/separable_cnn.json's depthwise products at batch 128, and two more:
 * the (32, 28, 28, 32) an earlier look timed, and a MobileNet-sized 56x56x128. */
static const char *default_shapes[] = {"32,28,28,32,1", "128,28,28,16,1", "128,28,28,32,2", "128,14,14,64,1",
                                       "128,14,14,64,2", "16,56,56,128,1"};

static bool thread_clock;
static double clock_now(void) {
    if (!thread_clock) return now();
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static const kn_op ops[3] = {KN_OP_DEPTHWISE_CONV2D, KN_OP_DEPTHWISE_CONV2D_GRAD_INPUT,
                             KN_OP_DEPTHWISE_CONV2D_GRAD_KERNEL};

/* Microseconds a call of each op (median of blocks), or a negative status. */
static int time_shape(kn_ctx *ctx, const int64_t s[5], int blocks, double us[3]) {
    kn_graph *g;
    if (kn_graph_new(ctx, &g)) return -1;
    kn_tensor *x = kn_param(g, (int64_t[]){s[0], s[1], s[2], s[3]}, 4, KN_INIT_GLOROT_UNIFORM, "x");
    kn_tensor *k = kn_param(g, (int64_t[]){9, s[3]}, 2, KN_INIT_GLOROT_UNIFORM, "kernel");
    kn_tensor *y = kn_depthwise_conv2d(g, x, k, 3, 3, (int)s[4], (int)s[4], 1, 1, true);
    kn_tensor *loss = kn_sum_squares(g, y);
    if (kn_graph_set_passes(g, KN_PASS_NONE) || kn_graph_backward(g, loss) || kn_graph_compile(g, 1, true) ||
        kn_graph_run(g)) {
        fprintf(stderr, "depthwise_ops: %s\n", kn_last_error(ctx));
        kn_graph_free(g);
        return -1;
    }
    kn_tensor *node[3] = {NULL};
    for (int i = 0; i < g->n_nodes; i++)
        for (int o = 0; o < 3; o++)
            if (g->nodes[i]->op == ops[o]) node[o] = g->nodes[i];
    if (!node[0] || !node[1] || !node[2]) {
        fprintf(stderr, "depthwise_ops: the graph lacks one of the three depthwise nodes\n");
        kn_graph_free(g);
        return -1;
    }
    /* calls a block: about 20 ms of the forward's time */
    double t0 = now();
    kn__op_info(ops[0])->cpu(g, node[0]);
    int per = (int)(0.02 / (now() - t0 + 1e-9));
    per = per < 1 ? 1 : per > 2000 ? 2000 : per;
    double *t = malloc(sizeof(double) * 3 * (size_t)blocks);
    if (!t) return -1;
    unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040); /* FTZ | DAZ, as a graph run sets them */
    for (int b = -1; b < blocks; b++) /* block -1 warms up */
        for (int o = 0; o < 3; o++) {
            void (*kernel)(kn_graph *, kn_tensor *) = kn__op_info(ops[o])->cpu;
            t0 = clock_now();
            for (int r = 0; r < per; r++) kernel(g, node[o]);
            if (b >= 0) t[o * blocks + b] = (clock_now() - t0) / per * 1e6;
        }
    _mm_setcsr(csr);
    for (int o = 0; o < 3; o++) {
        qsort(t + o * blocks, (size_t)blocks, sizeof(double), cmp);
        us[o] = t[o * blocks + blocks / 2];
    }
    free(t);
    kn_graph_free(g);
    return 0;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, blocks = argc > 2 ? atoi(argv[2]) : 15;
    int n_shapes = argc > 3 ? argc - 3 : (int)(sizeof default_shapes / sizeof *default_shapes);
    const char *clock = getenv("CLOCK");
    thread_clock = clock && !strcmp(clock, "thread") && threads == 1;
    kn_ctx *ctx;
    if (threads < 1 || blocks < 1 || kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 1}, &ctx)) {
        fprintf(stderr, "usage: depthwise_ops [THREADS=2] [BLOCKS=15] [N,H,W,C,STRIDE ...]\n");
        return 2;
    }
    for (int i = 0; i < n_shapes; i++) {
        const char *arg = argc > 3 ? argv[3 + i] : default_shapes[i];
        long long v[5];
        if (sscanf(arg, "%lld,%lld,%lld,%lld,%lld", &v[0], &v[1], &v[2], &v[3], &v[4]) != 5 || v[4] < 1) {
            fprintf(stderr, "depthwise_ops: %s: expected N,H,W,C,STRIDE\n", arg);
            return 2;
        }
        int64_t s[5] = {v[0], v[1], v[2], v[3], v[4]};
        double us[3];
        if (time_shape(ctx, s, blocks, us)) return 1;
        printf("RESULT {\"shape\": \"%s\", \"threads\": %d, \"forward_us\": %.1f, \"grad_input_us\": %.1f, "
               "\"grad_kernel_us\": %.1f, \"clock\": \"%s\"}\n", arg, threads, us[0], us[1], us[2],
               thread_clock ? "thread" : "wall");
        fflush(stdout);
    }
    kn_ctx_free(ctx);
    return 0;
}
