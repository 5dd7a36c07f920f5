/* test_train_fmnist.c — integration: the reference MLP trained on 6,000 Fashion-MNIST
 * training images for 2 epochs must reach test accuracy >= 0.75 on the 10,000 test images
 * (it reaches ~0.80; PyTorch with the same recipe gets about the same). Skips (exit 77)
 * when the dataset is not installed. */
#include <kiln.h>

#include <math.h>
#include <stdio.h>

int main(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 3}, &ctx);
    kn_dataset *train, *test, *small;
    kn_status st = kn_dataset_load(ctx, "fashion-mnist", &train, &test);
    if (st == KN_ERR_IO) {
        printf("SKIP: %s\n", kn_last_error(ctx));
        kn_ctx_free(ctx);
        return 77;
    }
    if (st || !test) { printf("FAIL load: %s\n", kn_last_error(ctx)); return 1; }
    if (kn_dataset_size(train) != 60000 || kn_dataset_size(test) != 10000 || kn_dataset_features(train) != 784 ||
        kn_dataset_classes(train) != 10) {
        printf("FAIL: unexpected dataset sizes\n");
        return 1;
    }
    kn_dataset_slice(train, 0, 6000, &small);
    kn_model *m;
    kn_model_new_sequential(ctx, (int64_t[]){784}, 1, &m);
    kn_model_add_dense(m, 64, KN_RELU);
    kn_model_add_dense(m, 64, KN_RELU);
    kn_model_add_dense(m, 10, KN_SOFTMAX);
    kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_adam(1e-3f)});
    const kn_history *h;
    st = kn_model_fit(m, small, &(kn_fit_opts){.epochs = 2, .batch_size = 32, .validation_split = 0.1, .verbose = 2}, &h);
    if (st) { printf("FAIL fit: %s\n", kn_last_error(ctx)); return 1; }
    kn_eval_report r;
    kn_model_evaluate(m, test, &r);
    printf("epochs %d, steps %lld, loss %.4f -> %.4f, val_accuracy %.4f, test accuracy %.4f, f1_macro %.4f\n",
           h->n_epochs, (long long)h->steps, h->epochs[0].loss, h->epochs[1].loss, h->epochs[1].val_accuracy,
           r.accuracy, r.f1_macro);
    int fail = 0;
    /* 5,400 rows after the 10% validation split, batch 32: 169 steps per epoch */
    if (h->n_epochs != 2 || h->steps != 2 * 169) { printf("FAIL: %d epochs, %lld steps\n", h->n_epochs, (long long)h->steps); fail = 1; }
    if (!(h->epochs[1].loss < h->epochs[0].loss)) { printf("FAIL: training loss did not fall\n"); fail = 1; }
    if (!(r.accuracy >= 0.75)) { printf("FAIL: test accuracy %.4f < 0.75\n", r.accuracy); fail = 1; }
    if (!(r.f1_macro > 0.7 && r.f1_macro <= 1)) { printf("FAIL: f1_macro %.4f\n", r.f1_macro); fail = 1; }
    /* predictions are probabilities */
    float p[10], s = 0;
    kn_model_predict(m, kn_dataset_x(test), 1, p);
    for (int c = 0; c < 10; c++) s += p[c];
    if (fabsf(s - 1) > 1e-5f) { printf("FAIL: probabilities sum to %f\n", (double)s); fail = 1; }
    kn_model_free(m);
    kn_dataset_free(small);
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_ctx_free(ctx);
    return fail;
}
