/* test_metrics.c — ROC-AUC and log-loss against scikit-learn's values for fixed predictions
 * (tests/golden/metrics.txt, made by tests/golden/make_metrics_golden.py), and the confusion
 * matrix metrics against values worked out by hand. */
#include <kiln.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

/* Reads "key v" (a double); 1 when read. */
static int read_double(FILE *f, const char *key, double *out) {
    char word[64];
    return fscanf(f, "%63s", word) == 1 && strcmp(word, key) == 0 && fscanf(f, "%lf", out) == 1;
}

/* Reads "key v v v ..." (floats) into out; returns the count. */
static int read_floats(FILE *f, const char *key, float *out, int max) {
    char word[64];
    if (fscanf(f, "%63s", word) != 1 || strcmp(word, key) != 0) return 0;
    int n = 0;
    double v;
    while (n < max && fscanf(f, "%lf", &v) == 1) out[n++] = (float)v;
    return n;
}

int main(void) {
    kn_ctx *ctx;
    kn_ctx_new(NULL, &ctx);
    FILE *f = fopen("tests/golden/metrics.txt", "r");
    CHECK(f != NULL, "tests/golden/metrics.txt missing (run from the repository root)");
    if (f) {
        float scores[64], lab_f[64], probs[64], plab_f[64];
        double auc_ref = 0, ll_ref = 0;
        int n = read_floats(f, "auc_scores", scores, 64), nl = read_floats(f, "auc_labels", lab_f, 64);
        int na = read_double(f, "auc", &auc_ref);
        int np_ = read_floats(f, "ll_probs", probs, 64), npl = read_floats(f, "ll_labels", plab_f, 64);
        int nll = read_double(f, "log_loss", &ll_ref);
        fclose(f);
        CHECK(n == 12 && nl == 12 && na == 1 && np_ == 15 && npl == 5 && nll == 1, "metrics.txt unreadable");
        int32_t lab[64], plab[64];
        for (int i = 0; i < nl; i++) lab[i] = (int32_t)lab_f[i];
        for (int i = 0; i < npl; i++) plab[i] = (int32_t)plab_f[i];
        double auc = kn_roc_auc(ctx, scores, lab, n);
        CHECK(fabs(auc - auc_ref) < 1e-12, "roc_auc %.17g, scikit-learn %.17g", auc, auc_ref);
        double ll = kn_log_loss(probs, plab, npl, 3);
        /* the probabilities are floats here (scikit-learn's were doubles): ~1e-7 relative */
        CHECK(fabs(ll - ll_ref) < 1e-6 * ll_ref, "log_loss %.17g, scikit-learn %.17g", ll, ll_ref);
        printf("roc_auc %.6f (scikit-learn %.6f), log_loss %.6f (scikit-learn %.6f)\n", auc, auc_ref, ll, ll_ref);
    }
        /* one-vs-rest ROC-AUC over 4 classes, macro and weighted */
    f = fopen("tests/golden/metrics.txt", "r");
    if (f) {
        char line[4096];
        float probs[64], lab_f[16];
        double macro_ref = NAN, weighted_ref = NAN;
        int np_ = 0, nl = 0;
        while (fgets(line, sizeof line, f)) { /* the lines after the binary and log-loss ones */
            if (strncmp(line, "ovr_probs ", 10) == 0) {
                for (char *p = line + 10, *end; np_ < 64; p = end) {
                    double v = strtod(p, &end);
                    if (end == p) break;
                    probs[np_++] = (float)v;
                }
            } else if (strncmp(line, "ovr_labels ", 11) == 0) {
                for (char *p = line + 11, *end; nl < 16; p = end) {
                    double v = strtod(p, &end);
                    if (end == p) break;
                    lab_f[nl++] = (float)v;
                }
            } else {
                sscanf(line, "auc_ovr_macro %lf", &macro_ref);
                sscanf(line, "auc_ovr_weighted %lf", &weighted_ref);
            }
        }
        fclose(f);
        CHECK(np_ == 56 && nl == 14 && !isnan(macro_ref) && !isnan(weighted_ref), "metrics.txt: ovr lines unreadable");
        int32_t lab[16];
        for (int i = 0; i < nl; i++) lab[i] = (int32_t)lab_f[i];
        double weighted = NAN, macro = kn_roc_auc_ovr(ctx, probs, lab, nl, 4, &weighted);
        CHECK(fabs(macro - macro_ref) < 1e-12, "roc_auc ovr macro %.17g, scikit-learn %.17g", macro, macro_ref);
        CHECK(fabs(weighted - weighted_ref) < 1e-12, "roc_auc ovr weighted %.17g, scikit-learn %.17g", weighted, weighted_ref);
        lab[3] = lab[9] = 0; /* class 3 absent: undefined */
        double absent_weighted = 0;
        CHECK(isnan(kn_roc_auc_ovr(ctx, probs, lab, nl, 4, &absent_weighted)) && isnan(absent_weighted),
              "ovr with an absent class: NaN");
        printf("roc_auc ovr macro %.6f (scikit-learn %.6f), weighted %.6f (scikit-learn %.6f)\n", macro, macro_ref, weighted,
               weighted_ref);
    }
    /* one class present: ROC-AUC is undefined */
    const float s1[3] = {0.1f, 0.2f, 0.3f};
    const int32_t l1[3] = {1, 1, 1};
    CHECK(isnan(kn_roc_auc(ctx, s1, l1, 3)), "one class: NaN");
    /* perfect and reversed rankings */
    const float s2[4] = {0.1f, 0.2f, 0.8f, 0.9f};
    const int32_t l2[4] = {0, 0, 1, 1}, l3[4] = {1, 1, 0, 0};
    CHECK(kn_roc_auc(ctx, s2, l2, 4) == 1.0 && kn_roc_auc(ctx, s2, l3, 4) == 0.0, "perfect / reversed");
    /* confusion metrics by hand: 3 classes
     *   true\\pred  0  1  2
     *   0          5  1  0    precision 5/7, recall 5/6
     *   1          2  3  1    precision 3/4, recall 3/6
     *   2          0  0  4    precision 4/5, recall 4/4 */
    const int64_t cm[9] = {5, 1, 0, 2, 3, 1, 0, 0, 4};
    kn_metrics mt;
    kn_class_metrics pc[3];
    kn_metrics_from_confusion(cm, 3, &mt, pc);
    double p0 = 5.0 / 7, r0 = 5.0 / 6, p1 = 3.0 / 4, r1 = 0.5, p2 = 0.8, r2 = 1;
    double f0 = 2 * p0 * r0 / (p0 + r0), f1 = 2 * p1 * r1 / (p1 + r1), f2 = 2 * p2 * r2 / (p2 + r2);
    CHECK(fabs(mt.accuracy - 12.0 / 16) < 1e-12 && fabs(mt.precision_macro - (p0 + p1 + p2) / 3) < 1e-12 &&
              fabs(mt.recall_macro - (r0 + r1 + r2) / 3) < 1e-12 && fabs(mt.f1_macro - (f0 + f1 + f2) / 3) < 1e-12 &&
              fabs(mt.f1_weighted - (6 * f0 + 6 * f1 + 4 * f2) / 16) < 1e-12 && pc[1].support == 6,
          "confusion metrics");
    kn_ctx_free(ctx);
    printf(failures ? "%d check(s) failed\n" : "metrics checks passed\n", failures);
    return failures ? 1 : 0;
}
