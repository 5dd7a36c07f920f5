/* linear_fmnist.c — multinomial logistic regression on Fashion-MNIST (60000 x 784 pixels in
 * [0, 1], 10 classes): L2, C = 1, lbfgs, max_iter 100 (scikit-learn's LogisticRegression()
 * defaults, which stop at 100 iterations here without converging). Reports fit seconds,
 * iterations, the objective, train and test accuracy, as one line of JSON on stdout after a
 * human line on stderr. The scikit-learn side of the comparison, run right before or after:
 *   /usr/bin/python3 ../shared/bench/sklearn_fmnist.py logreg
 * (LogisticRegression(max_iter=100) on the same float32 pixels).
 * usage: linear_fmnist [THREADS=2] [MAX_ITER=100] [C=1] [REPEATS=1]
 * (data: $KILN_DATA/fashion-mnist or /usr/share/datasets/fashion-mnist). */
#include "classic/linear.h"

#include <stdio.h>
#include <stdlib.h>

static double accuracy(const kn__linear *m, const kn_dataset *ds, float *scores, int32_t *pred) {
    int64_t n = kn_dataset_size(ds), correct = 0;
    const int32_t *y = kn_dataset_labels(ds);
    kn__logreg_predict(m, kn_dataset_x(ds), n, scores, pred);
    for (int64_t i = 0; i < n; i++) correct += pred[i] == y[i];
    return (double)correct / (double)n;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, max_iter = argc > 2 ? atoi(argv[2]) : 100;
    double C = argc > 3 ? atof(argv[3]) : 1.0;
    int repeats = argc > 4 ? atoi(argv[4]) : 1;
    kn_ctx *ctx;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = threads, .log_level = KN_LOG_ERROR}, &ctx) != KN_OK) return 1;
    kn_dataset *train, *test;
    if (kn_dataset_load(ctx, "fashion-mnist", &train, &test) != KN_OK) {
        fprintf(stderr, "linear_fmnist: %s\n", kn_last_error(ctx));
        kn_ctx_free(ctx);
        return 77;
    }
    kn__xy xy = {.x = kn_dataset_x(train), .n = kn_dataset_size(train), .d = kn_dataset_features(train),
                 .y = kn_dataset_labels(train), .n_classes = kn_dataset_classes(train)};
    kn__logreg_opts o = kn__logreg_defaults();
    o.C = C;
    o.max_iter = max_iter;
    o.threads = threads;
    kn__linear m = {0};
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        kn__linear_free(ctx, &m);
        double t0 = kn__now();
        if (kn__logreg_fit(ctx, &xy, &o, &m) != KN_OK) {
            fprintf(stderr, "linear_fmnist: %s\n", kn_last_error(ctx));
            return 1;
        }
        double t = kn__now() - t0;
        best = t < best ? t : best;
    }
    int64_t n = xy.n > kn_dataset_size(test) ? xy.n : kn_dataset_size(test);
    float *scores = malloc(sizeof(float) * (size_t)(n * m.k));
    int32_t *pred = malloc(sizeof(int32_t) * (size_t)n);
    double obj = 0;
    kn__logreg_objective(ctx, &xy, &o, &m, &obj);
    double train_acc = accuracy(&m, train, scores, pred), test_acc = accuracy(&m, test, scores, pred);
    fprintf(stderr, "kiln logistic regression, fashion-mnist: fit %.2f s (%d threads, best of %d), %d iterations, "
                    "objective %.4f, train accuracy %.4f, test accuracy %.4f\n",
            best, threads, repeats, m.n_iter, obj, train_acc, test_acc);
    printf("{\"fit_seconds\": %.3f, \"threads\": %d, \"n_iter\": %d, \"objective\": %.6f, \"train_accuracy\": %.4f, "
           "\"test_accuracy\": %.4f}\n",
           best, threads, m.n_iter, obj, train_acc, test_acc);
    free(scores);
    free(pred);
    kn__linear_free(ctx, &m);
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_ctx_free(ctx);
    return 0;
}
