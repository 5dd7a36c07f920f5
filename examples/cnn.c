/* cnn.c — the convolutional network of models/cnn.json in kiln's C API: conv 32 3x3 relu ->
 * conv 64 3x3 relu -> max pool 2 -> dropout .25 -> flatten -> dense 128 relu -> dropout .5 ->
 * dense 10 softmax, Adam 1e-3, batch 128, trained on Fashion-MNIST (28x28x1 images),
 * evaluated, saved, loaded back and used to predict one image.
 * Build: make (binary build/cnn). Run: build/cnn [EPOCHS=1] [OUT=/tmp/kiln_cnn.kiln]
 * (10 epochs reach ~0.927 test accuracy at ~29 s an epoch on 2 cores; bench/RESULTS.md). */
#include <kiln.h>

#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                     \
    do {                                                                                \
        kn_status st_ = (call);                                                         \
        if (st_ != KN_OK) {                                                             \
            fprintf(stderr, "error: %s (%s)\n", kn_last_error(ctx), kn_status_name(st_)); \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

static kn_ctx *ctx;

/* 3x3 'valid' convolution, stride 1, with a bias and an activation. */
static kn_conv2d_opts conv3x3(int64_t filters) {
    return (kn_conv2d_opts){.filters = filters, .kernel_h = 3, .kernel_w = 3, .stride_h = 1, .stride_w = 1,
                            .dilation_h = 1, .dilation_w = 1, .activation = KN_RELU};
}

int main(int argc, char **argv) {
    int epochs = argc > 1 ? atoi(argv[1]) : 1;
    const char *path = argc > 2 ? argv[2] : "/tmp/kiln_cnn.kiln";
    CHECK(kn_ctx_new(&(kn_ctx_opts){.seed = 1}, &ctx));

    kn_dataset *train, *test;
    CHECK(kn_dataset_load(ctx, "fashion-mnist", &train, &test)); /* pixels scaled to [0, 1] */

    kn_model *m;
    CHECK(kn_model_new_sequential(ctx, (int64_t[]){28, 28, 1}, 3, &m)); /* (height, width, channels) */
    kn_conv2d_opts c32 = conv3x3(32), c64 = conv3x3(64);
    CHECK(kn_model_add_conv2d(m, &c32));
    CHECK(kn_model_add_conv2d(m, &c64));
    CHECK(kn_model_add_pool2d(m, KN_POOL_MAX, 2, 2, 0, 0, false)); /* strides 0: the pool size */
    CHECK(kn_model_add_dropout(m, 0.25f));
    CHECK(kn_model_add_flatten(m));
    CHECK(kn_model_add_dense(m, 128, KN_RELU));
    CHECK(kn_model_add_dropout(m, 0.5f));
    CHECK(kn_model_add_dense(m, 10, KN_SOFTMAX));
    CHECK(kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
                                                 .optimizer = kn_adam(1e-3f)}));

    const kn_history *h;
    CHECK(kn_model_fit(m, train, &(kn_fit_opts){.epochs = epochs, .batch_size = 128, .verbose = 1}, &h));
    kn_eval_report r;
    CHECK(kn_model_evaluate(m, test, &r));
    printf("%d epoch(s), %.1f s/epoch: test loss %.4f, test accuracy %.4f\n", h->n_epochs, h->seconds_per_epoch,
           r.loss, r.accuracy);

    /* saved, loaded back (its batch norms, if any, fold into the layers before them), used */
    CHECK(kn_model_save(m, path));
    kn_model *loaded;
    CHECK(kn_model_load(ctx, path, NULL, &loaded));
    float probs[10];
    CHECK(kn_model_predict(loaded, kn_dataset_x(test), 1, probs));
    int best = 0;
    for (int c = 1; c < 10; c++) best = probs[c] > probs[best] ? c : best;
    printf("first test image: class %d (p = %.3f), true class %d; model saved to %s\n", best, probs[best],
           kn_dataset_labels(test)[0], path);

    kn_model_free(loaded);
    kn_model_free(m);
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_ctx_free(ctx);
    return 0;
}
