/* group_norm_ops.c — kiln's group normalization (src/backend/cpu/groupnorm.c) timed on a few
 * shapes, for bench/group_norm_vs_torch.sh (its PyTorch peer: bench/torch_group_norm.py, the
 * same shapes, F.group_norm on channels-last tensors). Each shape is one graph: x a parameter
 * (N, H, W, C), gamma and beta, y = group_norm(x) and loss = sum(y * r) with r fixed, the
 * backward appended (dx, dgamma, dbeta), the passes off. Timed: the forward alone (an
 * evaluating run) and a training run (forward and backward), in alternating blocks (this VM
 * drifts); the median block's microseconds a run, "RESULT {json}" a shape.
 * usage: group_norm_ops [THREADS=2] [BLOCKS=11] [N,H,W,C,GROUPS ...] */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "graph/graph.h"

/* A ResNet-like stage at batch 32, a detection-sized batch of 8, one large image (diffusion,
 * segmentation), a deep stage at batch 64. */
static const char *default_shapes[] = {"32,28,28,64,8", "8,56,56,128,32", "1,128,128,64,32", "64,14,14,256,32"};

/* Microseconds a forward run and a training run (medians of blocks), or -1. */
static int time_shape(kn_ctx *ctx, const int64_t s[5], int blocks, double us[2]) {
    kn_graph *g;
    if (kn_graph_new(ctx, &g)) return -1;
    int64_t shape[4] = {s[0], s[1], s[2], s[3]}, c = s[3];
    kn_tensor *x = kn_param(g, shape, 4, KN_INIT_GLOROT_UNIFORM, "x");
    kn_tensor *gamma = kn_param(g, &c, 1, KN_INIT_ONES, "gamma"), *beta = kn_param(g, &c, 1, KN_INIT_ZEROS, "beta");
    kn_tensor *r = kn_input(g, KN_F32, shape, 4, "r");
    kn_tensor *y = kn_group_norm(g, x, gamma, beta, (int)s[4], 1e-5f);
    g->build_phase = KN_PHASE_LOSS;
    kn_tensor *loss = kn__sum(g, kn_mul(g, y, r));
    g->build_phase = KN_PHASE_FORWARD;
    kn_graph_keep(g, y);
    kn_graph_keep(g, loss);
    if (kn_graph_set_passes(g, KN_PASS_NONE) || kn_graph_backward(g, loss) || kn_graph_compile(g, 1, true)) {
        fprintf(stderr, "group_norm_ops: %s\n", kn_last_error(ctx));
        kn_graph_free(g);
        return -1;
    }
    float *rv = r->data;
    for (int64_t i = 0; i < kn__numel(r); i++) rv[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    /* runs a block: about 30 ms of training */
    double t0 = now();
    kn_graph_run(g);
    int per = (int)(0.03 / (now() - t0 + 1e-9));
    per = per < 1 ? 1 : per > 1000 ? 1000 : per;
    double *t = malloc(sizeof(double) * 2 * (size_t)blocks);
    if (!t) return -1;
    for (int b = -1; b < blocks; b++) /* block -1 warms up */
        for (int k = 0; k < 2; k++) {
            t0 = now();
            for (int i = 0; i < per; i++) {
                kn_status st = k ? kn_graph_run(g) : kn__graph_run_phases(g, KN_PHASE_FORWARD);
                if (st) {
                    fprintf(stderr, "group_norm_ops: %s\n", kn_last_error(ctx));
                    free(t);
                    kn_graph_free(g);
                    return -1;
                }
            }
            if (b >= 0) t[k * blocks + b] = (now() - t0) / per * 1e6;
        }
    for (int k = 0; k < 2; k++) {
        qsort(t + k * blocks, (size_t)blocks, sizeof(double), cmp);
        us[k] = t[k * blocks + blocks / 2];
    }
    free(t);
    kn_graph_free(g);
    return 0;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, blocks = argc > 2 ? atoi(argv[2]) : 11;
    int n_shapes = argc > 3 ? argc - 3 : (int)(sizeof default_shapes / sizeof *default_shapes);
    kn_ctx *ctx;
    if (threads < 1 || blocks < 1 || kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 1}, &ctx)) {
        fprintf(stderr, "usage: group_norm_ops [THREADS=2] [BLOCKS=11] [N,H,W,C,GROUPS ...]\n");
        return 2;
    }
    for (int i = 0; i < n_shapes; i++) {
        const char *arg = argc > 3 ? argv[3 + i] : default_shapes[i];
        long long v[5];
        if (sscanf(arg, "%lld,%lld,%lld,%lld,%lld", &v[0], &v[1], &v[2], &v[3], &v[4]) != 5 || v[4] < 1) {
            fprintf(stderr, "group_norm_ops: %s: expected N,H,W,C,GROUPS\n", arg);
            return 2;
        }
        int64_t s[5] = {v[0], v[1], v[2], v[3], v[4]};
        double us[2];
        if (time_shape(ctx, s, blocks, us)) return 1;
        printf("RESULT {\"shape\": \"%s\", \"threads\": %d, \"forward_us\": %.1f, \"train_us\": %.1f}\n", arg, threads,
               us[0], us[1]);
        fflush(stdout);
    }
    kn_ctx_free(ctx);
    return 0;
}
