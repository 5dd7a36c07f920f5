/* fashion_mlp.c — the classic Keras Sequential MNIST example, step by step, in kiln's C API:
 * a 784-64-64-10 MLP (relu, relu, softmax) trained with Adam on Fashion-MNIST for 10 epochs,
 * evaluated on the test set, then used to predict one image.
 * Build: make (binary build/fashion_mlp). Run: build/fashion_mlp [EPOCHS]. */
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

/* Load Fashion-MNIST; pixels come scaled to [0, 1], each image flattened to 784 values. */
static void preprocess_data(kn_dataset **train, kn_dataset **test) {
    CHECK(kn_dataset_load(ctx, "fashion-mnist", train, test));
    printf("train: %lld images, test: %lld images\n", (long long)kn_dataset_size(*train),
           (long long)kn_dataset_size(*test));
}

/* Dense 64 relu -> Dense 64 relu -> Dense 10 softmax on 784 inputs. */
static kn_model *build_model(void) {
    kn_model *m;
    CHECK(kn_model_new_sequential(ctx, (int64_t[]){784}, 1, &m));
    CHECK(kn_model_add_dense(m, 64, KN_RELU));
    CHECK(kn_model_add_dense(m, 64, KN_RELU));
    CHECK(kn_model_add_dense(m, 10, KN_SOFTMAX));
    return m;
}

static kn_loss choose_loss_function(void) { return KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY; }

static kn_optimizer configure_optimizer(void) { return kn_adam(1e-3f); }

static void train_model(kn_model *m, const kn_dataset *train, int epochs) {
    CHECK(kn_model_compile(m, &(kn_compile_opts){.loss = choose_loss_function(),
                                                 .optimizer = configure_optimizer()}));
    const kn_history *h;
    CHECK(kn_model_fit(m, train, &(kn_fit_opts){.epochs = epochs, .batch_size = 32, .verbose = 1}, &h));
    printf("trained %d epochs in %.2f s (median %.3f s/epoch)\n", h->n_epochs, h->train_seconds,
           h->seconds_per_epoch);
}

static void evaluate_model(kn_model *m, const kn_dataset *test) {
    kn_eval_report r;
    CHECK(kn_model_evaluate(m, test, &r));
    printf("test loss: %.4f, test accuracy: %.4f\n", r.loss, r.accuracy);
}

/* Predicts the first test image and prints its class probabilities. */
static void infer_model(kn_model *m, const kn_dataset *test) {
    float probs[10];
    CHECK(kn_model_predict(m, kn_dataset_x(test), 1, probs));
    int best = 0;
    for (int c = 0; c < 10; c++) {
        printf("  %-12s %.4f\n", kn_dataset_label_name(test, c), probs[c]);
        if (probs[c] > probs[best]) best = c;
    }
    printf("predicted: %s (true: %s)\n", kn_dataset_label_name(test, best),
           kn_dataset_label_name(test, kn_dataset_labels(test)[0]));
}

int main(int argc, char **argv) {
    int epochs = argc > 1 ? atoi(argv[1]) : 10;
    CHECK(kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 42}, &ctx));
    kn_dataset *train, *test;
    preprocess_data(&train, &test);
    kn_model *m = build_model();
    train_model(m, train, epochs);
    evaluate_model(m, test);
    infer_model(m, test);
    kn_model_free(m);
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_ctx_free(ctx);
    return 0;
}
