/* test_knn.c — k-nearest neighbours (classic/knn.c) against scikit-learn 1.2.1's
 * KNeighborsClassifier and KNeighborsRegressor on wine and diabetes (tests/golden/knn.txt, made
 * by tests/golden/make_knn.py, which writes the standardized data too): the same neighbours in
 * the same order (but for rows at equal distance, which scikit-learn leaves in no set order),
 * their distances, vote shares and regression means, for each metric and both weightings; then against a plain double-precision search on data larger than a tile, with
 * ties; thread counts; sample weights; and bad hyperparameters. Run from the repository root. */
#include <kiln.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "classic/knn.h"
#include "golden.h"

typedef struct {
    int64_t n, q, d;
    float *xt, *xq, *t;
    int32_t *y;
} golden_set;

static float *floats(const char *name, int64_t n) {
    double *v = golden_record(name, n);
    float *f = v ? malloc((size_t)n * sizeof *f) : NULL;
    for (int64_t i = 0; f && i < n; i++) f[i] = (float)v[i];
    free(v);
    return f;
}

static int load_set(const char *tag, bool classify, golden_set *s) {
    char key[64];
    double shape[3];
    snprintf(key, sizeof key, "%s_shape", tag);
    if (get(key, shape, 3) != 3) {
        CHECK(0, "%s: no shape in the golden file", tag);
        return 0;
    }
    s->n = (int64_t)shape[0], s->q = (int64_t)shape[1], s->d = (int64_t)shape[2];
    snprintf(key, sizeof key, "%s_xtrain", tag);
    s->xt = floats(key, s->n * s->d);
    snprintf(key, sizeof key, "%s_xquery", tag);
    s->xq = floats(key, s->q * s->d);
    snprintf(key, sizeof key, "%s_ytrain", tag);
    s->t = floats(key, s->n);
    s->y = NULL;
    if (classify && s->t) {
        s->y = malloc((size_t)s->n * sizeof *s->y);
        for (int64_t i = 0; s->y && i < s->n; i++) s->y[i] = (int32_t)s->t[i];
    }
    return s->xt && s->xq && s->t && (!classify || s->y);
}

static void free_set(golden_set *s) {
    free(s->xt);
    free(s->xq);
    free(s->t);
    free(s->y);
}

/* One scikit-learn case: fit with o on s, query (the queries, or the training rows) and
 * compare neighbours, distances and predictions. */
static void golden_case(kn_ctx *ctx, const char *tag, const golden_set *s, int classes, kn__knn_opts o, bool self) {
    kn__xy xy = {.x = s->xt, .n = s->n, .d = s->d, .y = classes ? s->y : NULL, .n_classes = classes, .t = classes ? NULL : s->t};
    kn__knn m;
    char key[64];
    snprintf(key, sizeof key, "%s_k", tag);
    double kk = 0;
    CHECK(get(key, &kk, 1) == 1 && kk == o.n_neighbors, "%s: k %g in the golden file, %d here", tag, kk, o.n_neighbors);
    if (kn__knn_fit(ctx, &xy, &o, &m) != KN_OK) {
        CHECK(0, "%s: fit: %s", tag, kn_last_error(ctx));
        return;
    }
    const float *xq = self ? s->xt : s->xq;
    const int64_t q = self ? s->n : s->q, k = o.n_neighbors, outs = classes ? classes : 1;
    double *dist = malloc((size_t)(q * k) * sizeof *dist);
    int64_t *ind = malloc((size_t)(q * k) * sizeof *ind);
    float *pred = malloc((size_t)(q * outs) * sizeof *pred);
    CHECK(kn__knn_kneighbors(ctx, &m, xq, q, dist, ind) == KN_OK, "%s: %s", tag, kn_last_error(ctx));
    CHECK(kn__knn_predict(ctx, &m, xq, q, pred) == KN_OK, "%s: %s", tag, kn_last_error(ctx));
    snprintf(key, sizeof key, "%s_ind", tag);
    double *want_ind = golden_record(key, q * k);
    snprintf(key, sizeof key, "%s_dist", tag);
    double *want_dist = golden_record(key, q * k);
    snprintf(key, sizeof key, "%s_%s", tag, classes ? "proba" : "pred");
    double *want_pred = golden_record(key, q * outs);
    int bad_ind = 0, bad_dist = 0, bad_pred = 0, tied = 0;
    for (int64_t r = 0; want_ind && want_dist && want_pred && r < q; r++) {
        bool tie = false;
        for (int64_t i = r * k; i < (r + 1) * k; i++) {
            /* the distances are of float data summed in double on both sides */
            const bool same_dist = fabs(dist[i] - want_dist[i]) <= 1e-9 * (1 + want_dist[i]);
            bad_dist += !same_dist;
            /* rows at equal distance: kiln orders them by row, scikit-learn in no set order */
            if (ind[i] != (int64_t)want_ind[i]) {
                if (same_dist) tie = true;
                else bad_ind++;
            }
        }
        tied += tie;
        /* float outputs: vote shares and means rounded to float32 (a tie may change them) */
        for (int64_t i = r * outs; !tie && i < (r + 1) * outs; i++)
            bad_pred += !(fabs(pred[i] - want_pred[i]) <= 1e-6 * (1 + fabs(want_pred[i])));
    }
    CHECK(tied <= q / 20, "%s: %d queries with ties in their neighbours: too many for the comparison to mean much", tag, tied);
    CHECK(!bad_ind, "%s: %d of %lld neighbours differ from scikit-learn's", tag, bad_ind, (long long)(q * k));
    CHECK(!bad_dist, "%s: %d distances differ from scikit-learn's", tag, bad_dist);
    CHECK(!bad_pred, "%s: %d predictions differ from scikit-learn's", tag, bad_pred);
    free(want_ind);
    free(want_dist);
    free(want_pred);
    free(dist);
    free(ind);
    free(pred);
    kn__knn_free(ctx, &m);
}

static kn__knn_opts opts(int k, kn_knn_weights w, double p) { return (kn__knn_opts){.n_neighbors = k, .weights = w, .p = p}; }

static void against_sklearn(kn_ctx *ctx) {
    golden_set wine, dia;
    if (load_set("wine", true, &wine)) {
        golden_case(ctx, "wine_uniform", &wine, 3, opts(5, KN_KNN_UNIFORM, 2), false);
        golden_case(ctx, "wine_distance7", &wine, 3, opts(7, KN_KNN_DISTANCE, 2), false);
        golden_case(ctx, "wine_manhattan3", &wine, 3, opts(3, KN_KNN_UNIFORM, 1), false);
        golden_case(ctx, "wine_chebyshev4", &wine, 3, opts(4, KN_KNN_UNIFORM, INFINITY), false);
        golden_case(ctx, "wine_minkowski3", &wine, 3, opts(6, KN_KNN_DISTANCE, 3), false);
        golden_case(ctx, "wine_k1", &wine, 3, opts(1, KN_KNN_UNIFORM, 2), false);
        golden_case(ctx, "wine_self", &wine, 3, opts(5, KN_KNN_DISTANCE, 2), true);
    }
    if (load_set("diabetes", false, &dia)) {
        golden_case(ctx, "diabetes_uniform", &dia, 0, opts(5, KN_KNN_UNIFORM, 2), false);
        golden_case(ctx, "diabetes_distance10", &dia, 0, opts(10, KN_KNN_DISTANCE, 2), false);
    }
    free_set(&wine);
    free_set(&dia);
}

/* ------------------------------------------------------------------ a plain search */

static uint64_t rng = 88172645463325252ull;
static double uniform01(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* Many training rows (several tiles, and a last partial one), queries in several blocks,
 * values on a coarse grid so that equal distances are common: every metric's neighbours must
 * be those of a double-precision search ordered by (distance, row). */
static void against_plain_search(kn_ctx *ctx1, kn_ctx *ctx3) {
    enum { N = 2500, Q = 150, D = 7, K = 9 };
    float *xt = malloc(sizeof(float) * N * D), *xq = malloc(sizeof(float) * Q * D);
    int32_t *y = malloc(sizeof(int32_t) * N);
    for (int i = 0; i < N * D; i++) xt[i] = (float)(floor(uniform01() * 5) * 0.5 + 100); /* offset: the product's cancellation */
    for (int i = 0; i < Q * D; i++) xq[i] = (float)(floor(uniform01() * 5) * 0.5 + 100);
    memcpy(xq, xt + 17 * D, sizeof(float) * D); /* a query on a training row */
    for (int i = 0; i < N; i++) y[i] = (int32_t)(uniform01() * 4);
    const double ps[] = {2, 1, INFINITY, 3};
    for (int pi = 0; pi < 4; pi++) {
        kn__xy xy = {.x = xt, .n = N, .d = D, .y = y, .n_classes = 4};
        kn__knn_opts o = opts(K, KN_KNN_UNIFORM, ps[pi]);
        kn__knn m;
        if (kn__knn_fit(ctx1, &xy, &o, &m) != KN_OK) {
            CHECK(0, "plain search fit: %s", kn_last_error(ctx1));
            continue;
        }
        static double dist[Q * K], dist3[Q * K];
        static int64_t ind[Q * K], ind3[Q * K];
        CHECK(kn__knn_kneighbors(ctx1, &m, xq, Q, dist, ind) == KN_OK, "%s", kn_last_error(ctx1));
        CHECK(kn__knn_kneighbors(ctx3, &m, xq, Q, dist3, ind3) == KN_OK, "%s", kn_last_error(ctx3));
        CHECK(memcmp(ind, ind3, sizeof ind) == 0 && memcmp(dist, dist3, sizeof dist) == 0, "p %g: 1 and 3 threads differ", ps[pi]);
        int bad = 0;
        for (int q = 0; q < Q; q++) {
            /* the plain search: every row's key, then the K smallest by (key, row) */
            static double key[N];
            for (int t = 0; t < N; t++) {
                double s = 0;
                for (int j = 0; j < D; j++) {
                    double a = fabs((double)xq[q * D + j] - xt[t * D + j]);
                    s = ps[pi] == 2 ? s + a * a : ps[pi] == 1 ? s + a : isinf(ps[pi]) ? fmax(s, a) : s + pow(a, ps[pi]);
                }
                key[t] = s;
            }
            int64_t prev = -1;
            double prev_key = -1;
            for (int i = 0; i < K; i++) {
                int64_t best = -1;
                for (int t = 0; t < N; t++)
                    if ((key[t] > prev_key || (key[t] == prev_key && t > prev)) && (best < 0 || key[t] < key[best])) best = t;
                bad += ind[q * K + i] != best;
                prev = best, prev_key = key[best];
            }
        }
        CHECK(!bad, "p %g: %d neighbours differ from a plain search", ps[pi], bad);
        CHECK(dist[0] == 0 || ind[0] != 17, "p %g: the query on row 17 is at distance %g from it", ps[pi], dist[0]);
        kn__knn_free(ctx1, &m);
    }
    free(xt);
    free(xq);
    free(y);
}

/* ------------------------------------------------------------------ weights and limits */

static void weights_and_errors(kn_ctx *ctx) {
    /* 1-D: rows at 0, 1, 2, 3, 10 with labels 0, 0, 1, 1, 1 */
    const float x[] = {0, 1, 2, 3, 10};
    const int32_t y[] = {0, 0, 1, 1, 1};
    const float q[] = {1.4f};
    float p[2];
    kn__knn m;
    kn__xy xy = {.x = x, .n = 5, .d = 1, .y = y, .n_classes = 2};
    kn__knn_opts o = opts(3, KN_KNN_UNIFORM, 2);
    /* neighbours of 1.4: rows 1 (0.4), 2 (0.6), 0 (1.4): votes 2:1 for class 0 */
    CHECK(kn__knn_fit(ctx, &xy, &o, &m) == KN_OK && kn__knn_predict(ctx, &m, q, 1, p) == KN_OK, "%s", kn_last_error(ctx));
    CHECK(fabsf(p[0] - 2.0f / 3) < 1e-6f && fabsf(p[1] - 1.0f / 3) < 1e-6f, "uniform votes %g %g", p[0], p[1]);
    kn__knn_free(ctx, &m);
    /* row weights multiply the votes: class 1's row 2 counts 4 */
    const float w[] = {1, 1, 4, 1, 1};
    xy.w = w;
    CHECK(kn__knn_fit(ctx, &xy, &o, &m) == KN_OK && kn__knn_predict(ctx, &m, q, 1, p) == KN_OK, "%s", kn_last_error(ctx));
    CHECK(fabsf(p[0] - 2.0f / 6) < 1e-6f && fabsf(p[1] - 4.0f / 6) < 1e-6f, "weighted votes %g %g", p[0], p[1]);
    kn__knn_free(ctx, &m);
    /* a row of weight 0 is left out: row 1 gone, the neighbours are rows 2, 0, 3 */
    const float w0[] = {1, 0, 1, 1, 1};
    xy.w = w0;
    CHECK(kn__knn_fit(ctx, &xy, &o, &m) == KN_OK && m.n == 4 && kn__knn_predict(ctx, &m, q, 1, p) == KN_OK, "%s", kn_last_error(ctx));
    CHECK(fabsf(p[0] - 1.0f / 3) < 1e-6f, "weight-0 row still votes: %g", p[0]);
    kn__knn_free(ctx, &m);
    /* distance weights: 1/0.4, 1/0.6, 1/1.4 */
    xy.w = NULL;
    o.weights = KN_KNN_DISTANCE;
    CHECK(kn__knn_fit(ctx, &xy, &o, &m) == KN_OK && kn__knn_predict(ctx, &m, q, 1, p) == KN_OK, "%s", kn_last_error(ctx));
    double a = 1 / 0.4 + 1 / 1.4, b = 1 / 0.6;
    CHECK(fabs(p[0] - a / (a + b)) < 1e-5, "distance votes %g, want %g", p[0], a / (a + b));
    kn__knn_free(ctx, &m);
    /* regression: the mean of the neighbours' targets */
    const float t[] = {0, 10, 20, 30, 40};
    kn__xy r = {.x = x, .n = 5, .d = 1, .t = t};
    o = opts(2, KN_KNN_UNIFORM, 2);
    float v;
    CHECK(kn__knn_fit(ctx, &r, &o, &m) == KN_OK && kn__knn_predict(ctx, &m, q, 1, &v) == KN_OK && fabsf(v - 15) < 1e-5f,
          "regression mean %g, want 15", v);
    kn__knn_free(ctx, &m);
    /* exactly k rows; more neighbours than rows is an error naming the hyperparameter */
    o = opts(5, KN_KNN_UNIFORM, 2);
    CHECK(kn__knn_fit(ctx, &xy, &o, &m) == KN_OK && kn__knn_predict(ctx, &m, q, 1, p) == KN_OK &&
              fabsf(p[0] - 0.4f) < 1e-6f, "k = n: %g", p[0]);
    kn__knn_free(ctx, &m);
    o.n_neighbors = 6;
    CHECK(kn__knn_fit(ctx, &xy, &o, &m) == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "n_neighbors"),
          "k > n: %s", kn_last_error(ctx));
    o = opts(3, KN_KNN_UNIFORM, 0.5);
    CHECK(kn__knn_fit(ctx, &xy, &o, &m) == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), ".p"), "p < 1: %s", kn_last_error(ctx));
    const float bad_x[] = {0, NAN, 2, 3, 10};
    xy.x = bad_x;
    o = opts(3, KN_KNN_UNIFORM, 2);
    CHECK(kn__knn_fit(ctx, &xy, &o, &m) == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "row 1"), "NaN: %s", kn_last_error(ctx));
}

int main(void) {
    golden = read_all("tests/golden/knn.txt");
    if (!golden) {
        printf("FAIL cannot read tests/golden/knn.txt (run from the repository root)\n");
        return 1;
    }
    kn_ctx *ctx1 = NULL, *ctx3 = NULL;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 1, .log_level = KN_LOG_ERROR}, &ctx1) != KN_OK ||
        kn_ctx_new(&(kn_ctx_opts){.threads = 3, .log_level = KN_LOG_ERROR}, &ctx3) != KN_OK)
        return 1;
    against_sklearn(ctx3);
    against_plain_search(ctx1, ctx3);
    weights_and_errors(ctx1);
    kn_ctx_free(ctx1);
    kn_ctx_free(ctx3);
    free(golden);
    if (!failures) printf("test_knn: all passed\n");
    return failures != 0;
}
