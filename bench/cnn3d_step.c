/* cnn3d_step.c — a small 3-D CNN's training step and forward pass in kiln, for
 * bench/conv3d_vs_torch.sh (its PyTorch peer: bench/torch_cnn3d.py, the same network and
 * data): volumes (16, 32, 32, 1), conv3d 16 3x3x3 'same' relu, max_pool3d 2, conv3d 32
 * 3x3x3 'same' relu, max_pool3d 2, global average pool, dense 10 softmax; sparse
 * cross-entropy, Adam 1e-3, batch BATCH. Synthetic data from a fixed formula (the same on
 * both sides), 4 batches cycled. Milliseconds a training step and a forward pass of a batch
 * (kn_model_predict), the median of BLOCKS blocks of STEPS, after a warm-up, printed as
 * "RESULT {json}".
 * usage: cnn3d_step [THREADS=2] [BLOCKS=7] [STEPS=5] [BATCH=8] */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

#define D 16
#define H 32
#define W 32
#define F (D * H * W)
#define BATCHES 4

static const char *spec =
    "{\"input_shape\": [16, 32, 32, 1], \"layers\": ["
    "{\"type\": \"conv3d\", \"filters\": 16, \"kernel_size\": 3, \"padding\": \"same\", \"activation\": \"relu\"},"
    "{\"type\": \"max_pool3d\", \"pool_size\": 2},"
    "{\"type\": \"conv3d\", \"filters\": 32, \"kernel_size\": 3, \"padding\": \"same\", \"activation\": \"relu\"},"
    "{\"type\": \"max_pool3d\", \"pool_size\": 2},"
    "{\"type\": \"global_average_pool3d\"}, {\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}],"
    " \"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.001}}";

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, blocks = argc > 2 ? atoi(argv[2]) : 7;
    int steps = argc > 3 ? atoi(argv[3]) : 5, batch = argc > 4 ? atoi(argv[4]) : 8;
    if (threads < 1 || blocks < 1 || steps < 1 || batch < 1 || blocks > 99) return 2;
    int64_t n = (int64_t)BATCHES * batch;
    float *x = malloc((size_t)(n * F) * sizeof *x), *y = malloc((size_t)batch * 10 * sizeof *y);
    int32_t *labels = malloc((size_t)n * sizeof *labels);
    kn_ctx *ctx;
    if (!x || !y || !labels || kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 1}, &ctx)) return 2;
    for (int64_t i = 0; i < n * F; i++) x[i] = (float)sin(0.001 * (double)i * (double)(i % 7 + 1));
    for (int64_t i = 0; i < n; i++) labels[i] = (int32_t)(i % 10);
    kn_model *m = NULL;
    kn_spec sp;
    kn_status st = kn_model_from_json(ctx, spec, NULL, &m, &sp);
    if (!st) st = kn_model_compile(m, &sp.compile);
    float loss = 0;
    double train_ms[99], fwd_ms[99];
    for (int b = -1; !st && b < blocks; b++) { /* (block -1: the warm-up) */
        double t0 = now();
        for (int s = 0; !st && s < steps; s++) {
            int k = s % BATCHES;
            st = kn_model_train_step(m, x + (int64_t)k * batch * F, labels + (int64_t)k * batch, batch, &loss);
        }
        double t1 = now();
        for (int s = 0; !st && s < steps; s++) st = kn_model_predict(m, x + (int64_t)(s % BATCHES) * batch * F, batch, y);
        double t2 = now();
        if (b >= 0) train_ms[b] = (t1 - t0) * 1e3 / steps, fwd_ms[b] = (t2 - t1) * 1e3 / steps;
    }
    if (st) {
        fprintf(stderr, "cnn3d_step: %s\n", kn_last_error(ctx));
        return 1;
    }
    qsort(train_ms, (size_t)blocks, sizeof *train_ms, cmp);
    qsort(fwd_ms, (size_t)blocks, sizeof *fwd_ms, cmp);
    printf("RESULT {\"threads\": %d, \"batch\": %d, \"train_ms\": %.2f, \"forward_ms\": %.2f, \"loss\": %.4f}\n", threads,
           batch, train_ms[blocks / 2], fwd_ms[blocks / 2], loss);
    kn_model_free(m);
    kn_ctx_free(ctx);
    free(x);
    free(y);
    free(labels);
    return 0;
}
