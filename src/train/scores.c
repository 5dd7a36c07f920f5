/* scores.c — metrics of predicted probabilities rather than of decisions: ROC-AUC for a
 * binary task, one-vs-rest ROC-AUC for more classes, and log-loss, as scikit-learn's
 * roc_auc_score and log_loss compute them. */
#include "core/core.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    float score;
    int32_t positive;
} scored;

static int by_score(const void *a, const void *b) {
    float x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return x < y ? -1 : x > y;
}

double kn_roc_auc(kn_ctx *ctx, const float *score, const int32_t *labels, int64_t n) {
    if (!score || !labels || n < 1) return NAN;
    scored *s = kn__alloc(ctx, (size_t)n * sizeof *s);
    if (!s) return NAN;
    int64_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        s[i] = (scored){score[i], labels[i] == 1};
        pos += labels[i] == 1;
    }
    int64_t neg = n - pos;
    if (pos == 0 || neg == 0) { /* undefined with one class, as scikit-learn says */
        kn__free(ctx, s);
        return NAN;
    }
    /* Mann-Whitney U: the positives' rank sum, ties given their average rank */
    qsort(s, (size_t)n, sizeof *s, by_score);
    double rank_sum = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && s[j].score == s[i].score) j++;
        double avg_rank = 0.5 * (double)(i + 1 + j); /* ranks i+1 .. j */
        for (int64_t k = i; k < j; k++)
            if (s[k].positive) rank_sum += avg_rank;
        i = j;
    }
    kn__free(ctx, s);
    return (rank_sum - 0.5 * (double)pos * (double)(pos + 1)) / ((double)pos * (double)neg);
}

double kn_roc_auc_ovr(kn_ctx *ctx, const float *probs, const int32_t *labels, int64_t n, int classes, double *weighted) {
    if (weighted) *weighted = NAN;
    if (!probs || !labels || n < 1 || classes < 2) return NAN;
    float *column = kn__alloc(ctx, (size_t)n * sizeof *column);
    int32_t *is_class = kn__alloc(ctx, (size_t)n * sizeof *is_class);
    double total = 0, weighted_total = 0;
    for (int c = 0; column && is_class && c < classes && !isnan(total); c++) { /* class c against the rest */
        int64_t count = 0;
        for (int64_t i = 0; i < n; i++) {
            column[i] = probs[i * classes + c];
            is_class[i] = labels[i] == c;
            count += is_class[i];
        }
        double auc = kn_roc_auc(ctx, column, is_class, n);
        total += auc; /* NaN when a class is absent (or every row is it): undefined, as scikit-learn says */
        weighted_total += (double)count * auc;
    }
    bool ok = column && is_class;
    kn__free(ctx, column);
    kn__free(ctx, is_class);
    if (ok && weighted) *weighted = weighted_total / (double)n; /* the counts sum to n */
    return ok ? total / classes : NAN;
}

double kn_log_loss(const float *probs, const int32_t *labels, int64_t n, int classes) {
    if (!probs || !labels || n < 1 || classes < 1) return NAN;
    const double eps = 2.220446049250313e-16; /* scikit-learn's eps="auto" for float64 */
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *p = probs + i * classes;
        double sum = 0;
        for (int c = 0; c < classes; c++) sum += fmin(fmax(p[c], eps), 1 - eps);
        /* rows renormalized after clipping, as scikit-learn does */
        double q = fmin(fmax(p[labels[i]], eps), 1 - eps) / sum;
        total -= log(q);
    }
    return total / (double)n;
}
