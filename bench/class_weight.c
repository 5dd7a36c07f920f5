/* class_weight.c — does class_weight "balanced" help a rare class? breast_cancer (569 rows,
 * 30 numeric features) with the malignant class subsampled to 10% of its rows (seeded), an
 * MLP (30-16-2, relu, softmax, Adam 1e-2, batch 32, 40 epochs) trained without and with
 * balanced class weights on each of 5 stratified folds (seeded); features standardized
 * with the training folds' mean and deviation. Reports the minority class's recall and the
 * accuracy on the held-out folds, fold by fold and their mean.
 * usage: class_weight [CSV=../shared/data/breast_cancer.csv] [SEED=1] */
#include "data/csv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FOLDS = 5, MAXR = 600, MAXF = 64 };

static uint64_t rng;
static uint64_t next(void) { return rng = rng * 6364136223846793005ULL + 1442695040888963407ULL, rng >> 33; }

static void shuffle(int *v, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(next() % (uint64_t)(i + 1)), t = v[i];
        v[i] = v[j], v[j] = t;
    }
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "../shared/data/breast_cancer.csv";
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = seed}, &ctx);
    kn__csv csv;
    if (kn__csv_read(ctx, path, &(kn__csv_opts){.keep_text = true}, &csv)) {
        fprintf(stderr, "class_weight: %s\n", kn_last_error(ctx));
        return 1;
    }
    int f = (int)csv.cols - 1, n = 0;
    static float x[MAXR * MAXF];
    static int32_t y[MAXR];
    int minority[MAXR], majority[MAXR], n_min = 0, n_maj = 0;
    for (int r = 0; r < csv.rows && r < MAXR; r++) {
        if (strcmp(csv.cells[r * csv.cols + f], "malignant") == 0) minority[n_min++] = r;
        else majority[n_maj++] = r;
    }
    rng = seed * 7919 + 1;
    shuffle(minority, n_min);
    int keep_min = n_min / 10; /* the rare class: a tenth of its rows */
    int rows[MAXR];
    for (int i = 0; i < keep_min; i++) rows[n++] = minority[i];
    for (int i = 0; i < n_maj; i++) rows[n++] = majority[i];
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < f; j++) x[i * f + j] = csv.values[rows[i] * csv.cols + j];
        y[i] = i < keep_min; /* 1 = malignant */
    }
    /* stratified folds: each class dealt round-robin after a shuffle */
    int fold[MAXR], order_min[MAXR], order_maj[MAXR];
    for (int i = 0; i < keep_min; i++) order_min[i] = i;
    for (int i = 0; i < n - keep_min; i++) order_maj[i] = keep_min + i;
    shuffle(order_min, keep_min);
    shuffle(order_maj, n - keep_min);
    for (int i = 0; i < keep_min; i++) fold[order_min[i]] = i % FOLDS;
    for (int i = 0; i < n - keep_min; i++) fold[order_maj[i]] = i % FOLDS;
    printf("breast_cancer, malignant subsampled to %d of %d rows (seed %llu): %d rows, %d features, %d folds\n", keep_min,
           n_min, (unsigned long long)seed, n, f, FOLDS);
    double sum_recall[2] = {0}, sum_acc[2] = {0};
    for (int k = 0; k < FOLDS; k++) {
        static float xtr[MAXR * MAXF], xte[MAXR * MAXF];
        static int32_t ytr[MAXR], yte[MAXR];
        int ntr = 0, nte = 0;
        double mean[MAXF] = {0}, sd[MAXF] = {0};
        for (int i = 0; i < n; i++)
            if (fold[i] != k) {
                for (int j = 0; j < f; j++) mean[j] += x[i * f + j];
                ntr++;
            }
        for (int j = 0; j < f; j++) mean[j] /= ntr;
        for (int i = 0; i < n; i++)
            if (fold[i] != k)
                for (int j = 0; j < f; j++) sd[j] += (x[i * f + j] - mean[j]) * (x[i * f + j] - mean[j]);
        for (int j = 0; j < f; j++) sd[j] = sqrt(sd[j] / ntr) + 1e-12;
        ntr = 0;
        for (int i = 0; i < n; i++) {
            float *dst = fold[i] != k ? xtr + ntr * f : xte + nte * f;
            for (int j = 0; j < f; j++) dst[j] = (float)((x[i * f + j] - mean[j]) / sd[j]);
            if (fold[i] != k) ytr[ntr++] = y[i];
            else yte[nte++] = y[i];
        }
        kn_dataset *tr, *te;
        kn_dataset_from_arrays(ctx, xtr, ytr, ntr, f, 2, &tr);
        kn_dataset_from_arrays(ctx, xte, yte, nte, f, 2, &te);
        printf("fold %d:", k + 1);
        for (int balanced = 0; balanced < 2; balanced++) {
            kn_model *m;
            kn_model_new_sequential(ctx, (int64_t[]){f}, 1, &m);
            kn_model_add_dense(m, 16, KN_RELU);
            kn_model_add_dense(m, 2, KN_SOFTMAX);
            kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_adam(1e-2f)});
            kn_status st = kn_model_fit(m, tr, &(kn_fit_opts){.epochs = 40, .batch_size = 32, .verbose = 0,
                                                              .class_weight_balanced = balanced}, NULL);
            int64_t cm[4] = {0};
            if (!st) st = kn_model_confusion(m, te, cm, 2);
            if (st) {
                fprintf(stderr, "class_weight: %s\n", kn_last_error(ctx));
                return 1;
            }
            double recall = cm[2] + cm[3] ? (double)cm[3] / (double)(cm[2] + cm[3]) : NAN;
            double acc = (double)(cm[0] + cm[3]) / (double)nte;
            sum_recall[balanced] += recall;
            sum_acc[balanced] += acc;
            printf("  %s recall %.3f acc %.3f", balanced ? "balanced" : "unweighted", recall, acc);
            kn_model_free(m);
        }
        printf("\n");
        kn_dataset_free(tr);
        kn_dataset_free(te);
    }
    printf("mean of %d folds: minority recall %.3f unweighted, %.3f balanced; accuracy %.3f unweighted, %.3f balanced\n",
           FOLDS, sum_recall[0] / FOLDS, sum_recall[1] / FOLDS, sum_acc[0] / FOLDS, sum_acc[1] / FOLDS);
    kn__csv_free(ctx, &csv);
    kn_ctx_free(ctx);
    return 0;
}
