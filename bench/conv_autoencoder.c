/* conv_autoencoder.c — models/conv_autoencoder.json (conv2d 32 and 64 with stride 2, then
 * conv2d_transpose 32 and 1 with 4x4 windows and stride 2: 28x28 -> 7x7 -> 28x28) trained to
 * reproduce Fashion-MNIST's training images (mean squared error, Adam 1e-3, batch 128): the
 * median epoch's seconds over NTRAIN images, and the last epoch's mean loss, printed as
 * "RESULT {json}" for bench/conv_transpose_vs_torch.sh (its PyTorch peer:
 * bench/torch_conv_autoencoder.py, the same model). Data loaded before the clock starts.
 * usage: conv_autoencoder [EPOCHS=3] [NTRAIN=60000] [THREADS=2] [SPEC=models/conv_autoencoder.json] */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

int main(int argc, char **argv) {
    int epochs = argc > 1 ? atoi(argv[1]) : 3, threads = argc > 3 ? atoi(argv[3]) : 2;
    int64_t ntrain = argc > 2 ? atoll(argv[2]) : 60000;
    const char *path = argc > 4 ? argv[4] : "models/conv_autoencoder.json";
    char *json = slurp(path);
    kn_ctx *ctx;
    if (!json || epochs < 1 || ntrain < 1 || kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 1}, &ctx)) {
        fprintf(stderr, "conv_autoencoder: cannot read %s (run from the repository root)\n", path);
        return 2;
    }
    kn_dataset *train = NULL, *test = NULL, *images = NULL;
    kn_model *m = NULL;
    kn_spec spec;
    const kn_history *h = NULL;
    kn_status st = kn_dataset_load(ctx, "fashion-mnist", &train, &test);
    if (!st && kn_dataset_size(train) < ntrain) ntrain = kn_dataset_size(train);
    /* the images as their own targets: x (ntrain, 784) -> y = x */
    if (!st) st = kn_dataset_from_arrays_regression(ctx, kn_dataset_x(train), kn_dataset_x(train), ntrain, 784, 784,
                                                    &images);
    if (!st) st = kn_model_from_json(ctx, json, NULL, &m, &spec);
    if (!st) st = kn_model_compile(m, &spec.compile);
    if (!st)
        st = kn_model_fit(m, images, &(kn_fit_opts){.epochs = epochs, .batch_size = spec.batch_size, .verbose = 0}, &h);
    if (st) {
        fprintf(stderr, "conv_autoencoder: %s\n", kn_last_error(ctx));
        return 1;
    }
    printf("RESULT {\"s_per_epoch\": %.3f, \"final_loss\": %.5f, \"threads\": %d, \"n\": %lld, \"params\": %lld}\n",
           h->seconds_per_epoch, h->epochs[h->n_epochs - 1].loss, threads, (long long)ntrain,
           (long long)kn_model_param_count(m));
    kn_model_free(m);
    kn_dataset_free(images);
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_ctx_free(ctx);
    free(json);
    return 0;
}
