/* svm_fmnist.c — kiln's SVMs on Fashion-MNIST (pixels in [0, 1], 784 features, 10 classes),
 * the figures scikit-learn's LinearSVC and SVC are compared with:
 *   linear  LinearSVC defaults (squared hinge, C 1, tol 1e-4, max_iter 1000), one-vs-rest,
 *           fitted on the 60,000 training images, scored on the 10,000 test images;
 *   rbf10k  SVC(C=10, gamma='scale') (tol 1e-3, cache 200 MB) on the first 10,000 training
 *           images; fit time, predict time of the 10,000 test images, test accuracy;
 *   rbf60k  the same SVC on all 60,000 training images (minutes).
 * Times are wall clock of the fit and predict calls alone (data in memory).
 * usage: svm_fmnist [linear|rbf10k|rbf60k|all=linear,rbf10k] [THREADS=2] */
#include <kiln.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classic/svm.h"
#include "core/pool.h"

static void noop(void *args, int64_t chunk) { (void)args, (void)chunk; }

static double accuracy(const int32_t *pred, const int32_t *y, int64_t n) {
    int64_t right = 0;
    for (int64_t i = 0; i < n; i++) right += pred[i] == y[i];
    return (double)right / (double)n;
}

static int run_linear(kn_ctx *ctx, const kn_dataset *train, const kn_dataset *test) {
    kn__xy xy = {.x = kn_dataset_x(train), .n = kn_dataset_size(train), .d = kn_dataset_features(train),
                 .y = kn_dataset_labels(train), .n_classes = kn_dataset_classes(train)};
    kn__svm_linear_opts o = kn__svm_linear_defaults();
    kn__svm_linear m;
    double t0 = kn__now();
    if (kn__svm_linear_fit(ctx, &xy, &o, &m) != KN_OK) {
        fprintf(stderr, "svm_fmnist: %s\n", kn_last_error(ctx));
        return 1;
    }
    double fit = kn__now() - t0;
    int64_t nt = kn_dataset_size(test);
    int32_t *pred = malloc(sizeof *pred * (size_t)nt);
    t0 = kn__now();
    kn__svm_linear_predict(ctx, &m, kn_dataset_x(test), nt, pred);
    double predict = kn__now() - t0;
    printf("linear  train %lld  fit %.2f s  n_iter %d  predict %lld %.3f s  test accuracy %.4f\n",
           (long long)xy.n, fit, m.n_iter, (long long)nt, predict, accuracy(pred, kn_dataset_labels(test), nt));
    fflush(stdout);
    free(pred);
    kn__svm_linear_free(ctx, &m);
    return 0;
}

static int run_rbf(kn_ctx *ctx, const kn_dataset *train, const kn_dataset *test, int64_t n_train, const char *name) {
    kn__xy xy = {.x = kn_dataset_x(train), .n = n_train, .d = kn_dataset_features(train),
                 .y = kn_dataset_labels(train), .n_classes = kn_dataset_classes(train)};
    kn__svm_opts o = kn__svm_defaults();
    o.C = 10;
    kn__svm m;
    double t0 = kn__now();
    if (kn__svm_fit(ctx, &xy, &o, &m) != KN_OK) {
        fprintf(stderr, "svm_fmnist: %s\n", kn_last_error(ctx));
        return 1;
    }
    double fit = kn__now() - t0;
    int64_t nt = kn_dataset_size(test);
    int32_t *pred = malloc(sizeof *pred * (size_t)nt);
    t0 = kn__now();
    kn_status st = kn__svm_predict(ctx, &m, kn_dataset_x(test), nt, pred, NULL);
    double predict = kn__now() - t0;
    if (st != KN_OK) {
        fprintf(stderr, "svm_fmnist: %s\n", kn_last_error(ctx));
        return 1;
    }
    printf("%s  train %lld  gamma %.6g  fit %.2f s  SMO steps %lld  n_sv %lld  predict %lld %.2f s  test accuracy %.4f\n",
           name, (long long)n_train, m.gamma, fit, (long long)m.n_iter, (long long)m.n_sv, (long long)nt, predict,
           accuracy(pred, kn_dataset_labels(test), nt));
    fflush(stdout);
    free(pred);
    kn__svm_free(ctx, &m);
    return 0;
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "all";
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    kn_ctx *ctx;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 1}, &ctx) != KN_OK) return 1;
    /* core/pool.c starts its workers on the first parallel job, and a worker reads the job
     * generation only once running: one that starts after the first job was handed out
     * takes it for an old one, and that job runs on the caller alone. Start them now, a
     * second before anything is timed. */
    kn__pool_run(threads, threads, noop, NULL);
    kn_dataset *train, *test;
    if (kn_dataset_load(ctx, "fashion-mnist", &train, &test) != KN_OK || !test) {
        fprintf(stderr, "svm_fmnist: %s\n", kn_last_error(ctx));
        return 1;
    }
    printf("Fashion-MNIST: %lld train, %lld test, %lld features; %d threads\n", (long long)kn_dataset_size(train),
           (long long)kn_dataset_size(test), (long long)kn_dataset_features(train), threads);
    int rc = 0;
    bool all = strcmp(what, "all") == 0;
    if (all || strcmp(what, "linear") == 0) rc |= run_linear(ctx, train, test);
    if (all || strcmp(what, "rbf10k") == 0) rc |= run_rbf(ctx, train, test, 10000, "rbf10k");
    if (strcmp(what, "rbf60k") == 0) rc |= run_rbf(ctx, train, test, kn_dataset_size(train), "rbf60k");
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_ctx_free(ctx);
    return rc;
}
