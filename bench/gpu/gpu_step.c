/* gpu_step.c — the reference MLP's training step (784-64-64-10, relu, Adam 1e-3, sparse
 * cross-entropy from logits) as one kiln graph on a device, timed over many steps at a
 * few batch sizes: the input batch copied in each step, the step run (on cuda: replayed
 * from a captured CUDA graph after the second step), the loss copied out. Random inputs:
 * the figure is the step time, not accuracy (bench/gpu/run.sh).
 *
 * `gpu_step DEVICE wide fp32|bf16|fp16 [steps]`: issue 11's wide MLP instead,
 * 784-8192-8192-8192-10 (relu, Adam 1e-4), batch 8192, in that precision (the input batch
 * stored half too, as the model's loaders store it), printing ms per step and TFLOP/s =
 * 6 x batch x sum(inputs x outputs) / step time (INTERFACE.md, "Measuring"); PyTorch's
 * autocast figure is torch_gpu_baseline.py's wide_bf16_*. On a device the batch is bound
 * as resident data (backend.h), as PyTorch's baseline keeps its batch on the GPU: each step
 * is then one launch of the captured graph with nothing copied and nothing waited for, and
 * the time is taken over all the steps up to a final synchronize.
 * usage: gpu_step cpu|cuda [steps] | gpu_step cpu|cuda wide fp32|bf16|fp16 [steps] */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <kiln.h>

#include "graph/graph.h" /* half_inputs, kn__tensor_store_f32: the wide bench's half batch */
#include "backend/backend.h" /* resident_*: the wide bench's batch kept on the device */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* An MLP training graph on g: x (b, widths[0]) -> dense layers (relu between) ->
 * sparse cross-entropy from logits against labels y, then backward and Adam at lr.
 * Returns the loss (kept), or NULL; *xo and *yo get the inputs, *macs the multiply-adds a
 * row of the forward pass. */
static kn_tensor *build_mlp(kn_graph *g, int64_t b, const int64_t *widths, int layers, float lr, kn_tensor **xo,
                            kn_tensor **yo, double *macs) {
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){b, widths[0]}, 2, "x");
    kn_tensor *y = kn_input(g, KN_I32, (int64_t[]){b}, 1, "labels");
    kn_tensor *h = x;
    *macs = 0;
    for (int l = 0; l < layers; l++) {
        char wn[16], bn[16];
        snprintf(wn, sizeof wn, "w%d", l);
        snprintf(bn, sizeof bn, "b%d", l);
        kn_tensor *w = kn_param(g, (int64_t[]){widths[l], widths[l + 1]}, 2, KN_INIT_GLOROT_UNIFORM, wn);
        kn_tensor *bias = kn_param(g, (int64_t[]){widths[l + 1]}, 1, KN_INIT_ZEROS, bn);
        h = kn_add(g, kn_matmul(g, h, w), bias);
        if (l < layers - 1) h = kn_relu(g, h);
        *macs += (double)widths[l] * (double)widths[l + 1];
    }
    kn_tensor *loss = kn_loss_op(g, KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, h, y, true);
    kn_graph_keep(g, loss);
    kn_graph_backward(g, loss);
    kn_optimizer opt = kn_adam(lr);
    kn_graph_add_optimizer(g, &opt);
    *xo = x, *yo = y;
    return kn_graph_status(g) == KN_OK ? loss : NULL;
}

/* The wide MLP's step time in precision prec. */
static int wide(kn_ctx *ctx, const char *dev, kn_precision prec, int steps) {
    /* WIDE_WIDTH / WIDE_BATCH: a smaller one, to test the bench itself on a CPU */
    int64_t w = getenv("WIDE_WIDTH") ? atoll(getenv("WIDE_WIDTH")) : 8192;
    const int64_t b = getenv("WIDE_BATCH") ? atoll(getenv("WIDE_BATCH")) : 8192, widths[] = {784, w, w, w, 10};
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_graph_set_precision(g, prec);
    g->half_inputs = prec != KN_PRECISION_FP32;
    kn_tensor *x, *y;
    double macs;
    kn_tensor *loss = build_mlp(g, b, widths, 4, 1e-4f, &x, &y, &macs);
    if (kn_graph_compile(g, 1, true) != KN_OK) {
        fprintf(stderr, "gpu_step: wide compile: %s\n", kn_last_error(ctx));
        kn_graph_free(g);
        return 1;
    }
    float row[784];
    for (int64_t r = 0; r < b; r++) { /* narrowed when the pass made x half */
        for (int j = 0; j < 784; j++) row[j] = (float)(((r * 784 + j) * 2654435761u) % 256) / 255.0f;
        kn__tensor_store_f32(x, r * 784, row, 784);
    }
    int32_t *yd = kn_tensor_data(y);
    for (int64_t i = 0; i < b; i++) yd[i] = (int32_t)(i % 10);
    int half = 0;
    for (int i = 0; i < g->n_nodes; i++) half += g->nodes[i]->dtype == KN_BF16 || g->nodes[i]->dtype == KN_F16;
    /* the whole batch as one resident row of each input (order {0}) */
    const kn_backend_iface *bi = g->backend.iface;
    bool placed = false;
    kn_status st = KN_OK;
    if (bi->resident_open) {
        kn_resident_desc d = {.n_rows = 1, .n_first = 1, .n_tables = 2, .loss = loss, .outs = 10};
        if (g->loss_seed) /* fp16: dynamic loss scaling on the device, from 2^16 */
            d.loss_seed = g->loss_seed, d.scale = 65536.0f, d.interval = 2000;
        d.tables[0] = (kn_resident_table){.input = x, .rows = kn_tensor_data(x), .row_bytes = kn__nbytes(x)};
        d.tables[1] = (kn_resident_table){.input = y, .rows = yd, .row_bytes = kn__nbytes(y)};
        const int32_t first_row = 0;
        st = bi->resident_open(g, &d, &placed);
        if (!st && placed) st = bi->resident_order(g, &first_row, 1);
    }
    unsigned mask = placed ? KN_PHASE_TRAIN | KN_RUN_RESIDENT : KN_PHASE_ALL;
    g->resident_first = 0;
    for (int s = 0; s < 3 && !st; s++) st = kn__graph_run_phases(g, mask); /* warm up (and capture) */
    kn_resident_stats rs = {0};
    if (!st && placed) st = bi->resident_stats(g, &rs, true); /* (waits for the warm-up) */
    double t0 = now();
    double loss_sum = 0;
    for (int s = 0; s < steps && !st; s++) {
        st = kn__graph_run_phases(g, mask);
        if (!placed) loss_sum += *(float *)kn_tensor_data(loss); /* (copied out by the run) */
    }
    if (!st && placed) st = bi->resident_stats(g, &rs, false); /* waits for the last step */
    double dt = (now() - t0) / steps;
    if (!st && placed && rs.failed_step >= 0) st = KN_ERR_NUMERIC;
    if (st) {
        fprintf(stderr, "gpu_step: wide run: %s\n", kn_last_error(ctx));
        kn_graph_free(g);
        return 1;
    }
    printf("%s wide %s batch %lld: %8.2f ms/step  %6.1f TFLOP/s  (%d half tensors%s)  loss %.4f\n", dev,
           kn_precision_name(prec), (long long)b, 1e3 * dt, 6.0 * (double)b * macs / dt / 1e12, half,
           placed ? ", resident" : "", placed ? rs.loss_sum / (double)rs.rows : loss_sum / steps);
    kn_graph_free(g);
    return 0;
}

int main(int argc, char **argv) {
    kn_device dev = KN_DEVICE_CPU;
    if (argc < 2 || !kn_device_parse(argv[1], &dev)) {
        fprintf(stderr, "usage: gpu_step cpu|cuda [steps]\n");
        return 2;
    }
    bool is_wide = argc > 2 && strcmp(argv[2], "wide") == 0;
    kn_precision prec = KN_PRECISION_FP32;
    if (is_wide && (argc < 4 || !kn_precision_parse(argv[3], &prec))) {
        fprintf(stderr, "usage: gpu_step cpu|cuda wide fp32|bf16|fp16 [steps]\n");
        return 2;
    }
    int steps = is_wide ? (argc > 4 ? atoi(argv[4]) : 20) : argc > 2 ? atoi(argv[2]) : 2000;
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.seed = 1, .device = dev}, &ctx);
    if (kn_device_check(ctx, dev) != KN_OK) {
        fprintf(stderr, "gpu_step: %s\n", kn_last_error(ctx));
        kn_ctx_free(ctx);
        return 77;
    }
    if (is_wide) {
        int rc = wide(ctx, argv[1], prec, steps > 0 ? steps : 1);
        kn_ctx_free(ctx);
        return rc;
    }
    static const int64_t batches[] = {32, 128, 1024};
    for (int bi = 0; bi < 3; bi++) {
        int64_t b = batches[bi];
        kn_graph *g;
        kn_graph_new(ctx, &g);
        kn_tensor *x, *y;
        double macs;
        kn_tensor *loss = build_mlp(g, b, (const int64_t[]){784, 64, 64, 10}, 3, 1e-3f, &x, &y, &macs);
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
