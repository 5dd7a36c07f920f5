/* tree_fmnist.c — kiln's decision tree and random forest on Fashion-MNIST (60k x 784 pixels
 * in [0, 1], 10 classes), the models and settings of scikit-learn's peer figures
 * (../shared/bench/sklearn_fmnist.py: DecisionTreeClassifier(criterion="entropy",
 * max_depth=10); RandomForestClassifier(n_estimators=100, criterion="entropy", n_jobs=2),
 * i.e. sqrt(784) = 28 features per node, bootstrap, full depth). Fit time includes the
 * binning. Prints one RESULT line per model, as the peer script does.
 * usage: tree_fmnist [THREADS=2] [WHICH=tree,forest] [TREES=100] */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classic/tree.h"
#include "core/core.h"

static double accuracy(const float *p, const int32_t *y, int64_t n, int k) {
    int64_t right = 0;
    for (int64_t i = 0; i < n; i++) {
        int best = 0;
        for (int c = 1; c < k; c++)
            if (p[i * k + c] > p[i * k + best]) best = c;
        right += best == y[i];
    }
    return (double)right / (double)n;
}

static int64_t depth_of(const kn__tree *t) {
    int64_t *depth = calloc((size_t)t->n_nodes, sizeof(int64_t)), max = 0;
    for (int64_t v = 0; v < t->n_nodes; v++) {
        if (depth[v] > max) max = depth[v];
        if (t->feature[v] >= 0) depth[t->left[v]] = depth[t->right[v]] = depth[v] + 1;
    }
    free(depth);
    return max;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    const char *which = argc > 2 ? argv[2] : "tree,forest";
    int n_trees = argc > 3 ? atoi(argv[3]) : 100;
    kn_ctx *ctx;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 1}, &ctx)) return 1;
    kn_dataset *train, *test;
    if (kn_dataset_load(ctx, "fashion-mnist", &train, &test)) {
        fprintf(stderr, "tree_fmnist: %s\n", kn_last_error(ctx));
        return 1;
    }
    kn__xy xy = {.x = kn_dataset_x(train), .n = kn_dataset_size(train), .d = kn_dataset_features(train),
                 .y = kn_dataset_labels(train), .n_classes = kn_dataset_classes(train)};
    int64_t nt = kn_dataset_size(test);
    const float *xt = kn_dataset_x(test);
    const int32_t *yt = kn_dataset_labels(test);
    float *p = malloc(sizeof(float) * (size_t)nt * (size_t)xy.n_classes);
    printf("fashion-mnist: %lld train, %lld test, %lld features; %d threads\n", (long long)xy.n, (long long)nt,
           (long long)xy.d, threads);
    int status = 0;
    if (strstr(which, "tree")) {
        kn__tree t;
        kn__tree_opts o = {.criterion = KN_TREE_ENTROPY, .max_depth = 10};
        double t0 = kn__now();
        if (kn__tree_fit(ctx, &xy, NULL, &o, &t)) {
            fprintf(stderr, "tree_fmnist: %s\n", kn_last_error(ctx));
            return 1;
        }
        double fit = kn__now() - t0;
        t0 = kn__now();
        kn__tree_predict(&t, xt, nt, p);
        double pred = kn__now() - t0, acc = accuracy(p, yt, nt, xy.n_classes);
        printf("RESULT kiln tree fit_s=%.3f predict_s=%.4f test_acc=%.4f nodes=%lld depth=%lld\n", fit, pred, acc,
               (long long)t.n_nodes, (long long)depth_of(&t));
        kn__tree_free(ctx, &t);
    }
    if (strstr(which, "forest")) {
        kn__forest f;
        kn__forest_opts o = {.tree = {.criterion = KN_TREE_ENTROPY}, .n_estimators = n_trees};
        double t0 = kn__now();
        if (kn__forest_fit(ctx, &xy, &o, &f)) {
            fprintf(stderr, "tree_fmnist: %s\n", kn_last_error(ctx));
            return 1;
        }
        double fit = kn__now() - t0;
        t0 = kn__now();
        kn__forest_predict(&f, xt, nt, p);
        double pred = kn__now() - t0, acc = accuracy(p, yt, nt, xy.n_classes);
        int64_t nodes = 0, depth = 0;
        for (int i = 0; i < f.n_trees; i++) {
            nodes += f.trees[i].n_nodes;
            int64_t dd = depth_of(&f.trees[i]);
            if (dd > depth) depth = dd;
        }
        printf("RESULT kiln forest trees=%d fit_s=%.3f predict_s=%.4f test_acc=%.4f mean_nodes=%lld max_depth=%lld\n",
               f.n_trees, fit, pred, acc, (long long)(nodes / f.n_trees), (long long)depth);
        kn__forest_free(ctx, &f);
    }
    free(p);
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_ctx_free(ctx);
    return status;
}
