/* separable_cnn.c — models/separable_cnn.json (a MobileNet-style CNN: conv2d 16, then four
 * separable_conv2d blocks 32, 64 stride 2, 64, 128 stride 2, global average pool, dense 10)
 * trained on NTRAIN Fashion-MNIST training images (Adam 1e-3, batch 128) and evaluated on
 * the 10,000 test images: the median epoch's seconds, the last epoch's loss and the test
 * accuracy, printed as "RESULT {json}" for bench/depthwise_vs_torch.sh (its PyTorch peer:
 * bench/torch_separable_cnn.py, the same model). Data loaded before the clock starts.
 * usage: separable_cnn [EPOCHS=3] [NTRAIN=60000] [THREADS=2] [SEED=1] [SPEC=models/separable_cnn.json] */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

int main(int argc, char **argv) {
    int epochs = argc > 1 ? atoi(argv[1]) : 3, threads = argc > 3 ? atoi(argv[3]) : 2;
    int64_t ntrain = argc > 2 ? atoll(argv[2]) : 60000;
    uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 10) : 1;
    const char *path = argc > 5 ? argv[5] : "models/separable_cnn.json";
    char *json = slurp(path);
    kn_ctx *ctx;
    if (!json || epochs < 1 || ntrain < 1 || threads < 1 ||
        kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = seed}, &ctx)) {
        fprintf(stderr, "separable_cnn: cannot read %s (run from the repository root)\n", path);
        return 2;
    }
    kn_dataset *train = NULL, *test = NULL, *part = NULL;
    kn_model *m = NULL;
    kn_spec spec;
    const kn_history *h = NULL;
    kn_eval_report rep = {0};
    kn_status st = kn_dataset_load(ctx, "fashion-mnist", &train, &test);
    if (!st && kn_dataset_size(train) < ntrain) ntrain = kn_dataset_size(train);
    if (!st) st = kn_dataset_slice(train, 0, ntrain, &part);
    if (!st) st = kn_model_from_json(ctx, json, NULL, &m, &spec);
    if (!st) st = kn_model_compile(m, &spec.compile);
    if (!st)
        st = kn_model_fit(m, part, &(kn_fit_opts){.epochs = epochs, .batch_size = spec.batch_size, .verbose = 0}, &h);
    if (!st) st = kn_model_evaluate(m, test, &rep);
    if (st) {
        fprintf(stderr, "separable_cnn: %s\n", kn_last_error(ctx));
        return 1;
    }
    printf("RESULT {\"s_per_epoch\": %.3f, \"final_loss\": %.5f, \"test_accuracy\": %.4f, \"threads\": %d, "
           "\"n\": %lld, \"params\": %lld}\n",
           h->seconds_per_epoch, h->epochs[h->n_epochs - 1].loss, rep.accuracy, threads, (long long)ntrain,
           (long long)kn_model_param_count(m));
    kn_model_free(m);
    kn_dataset_free(part);
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_ctx_free(ctx);
    free(json);
    return 0;
}
