/* test_hgb.c — gradient-boosted trees (classic/hgb.h) against scikit-learn 1.2.1's
 * HistGradientBoostingRegressor / Classifier (tests/golden/hgb.txt, made by
 * tests/golden/make_hgb.py on one thread): the same trees split for split (node counts of
 * every tree, the first and last trees node by node) and the same raw scores and
 * probabilities on diabetes (squared and absolute error, weighted or not), breast_cancer
 * (binary), digits and iris (multinomial); early stopping on the training loss stopping at
 * scikit-learn's iteration with its scores, and on kiln's own validation rows; 1 vs 2 threads
 * bit for bit (features split among threads, and an iteration's trees); prediction from 4
 * threads at once; a damaged file refused naming the file and the tensor; bad
 * hyperparameters refused naming the field. Run from the repository root. */
#define _GNU_SOURCE
#include <kiln.h>

#include "classic/hgb.h"
#include "table.h"

#include <pthread.h>
#include <unistd.h>

/* ------------------------------------------------------------------ the golden cases */

typedef struct {
    const char *name, *data;
    bool regression, weighted;
    int rows;           /* rows of raw scores recorded */
    int trees[3], n_trees; /* trees recorded node by node (-1: the last) */
    kn__hgb_opts o;
} golden_case;

static float *weights(int64_t n) {
    float *w = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) w[i] = (float)(1 + i % 3);
    return w;
}

static kn__xy xy_weighted(const table *tb, bool regression, const float *w) {
    kn__xy xy = xy_of(tb, regression);
    xy.w = w;
    return xy;
}

/* A golden record of exactly n numbers (malloc'd), or NULL with a failure. */
static double *record(const char *cs, const char *field, int n) {
    char key[128];
    snprintf(key, sizeof key, "%s_%s", cs, field);
    double *v = malloc(sizeof(double) * (size_t)(n + 1));
    int got = get(key, v, n + 1);
    CHECK(got == n, "golden record %s: %d numbers, want %d", key, got, n);
    if (got != n) {
        free(v);
        return NULL;
    }
    return v;
}

/* One float rounding away: kiln keeps thresholds and leaf values as float32, scikit-learn as
 * float64. */
static bool one_rounding(float kiln, double sk) { return fabs((double)kiln - sk) <= fabs(sk) * 0x1p-23 + 1e-300; }

/* Tree t of h against the golden record <cs>_t<t>_*. */
static void check_tree(const char *cs, const kn__hgb *h, int64_t t) {
    int64_t at = h->node_offset[t], m = h->node_offset[t + 1] - at;
    char field[64];
    snprintf(field, sizeof field, "t%lld_feature", (long long)t);
    double *f = record(cs, field, (int)m);
    snprintf(field, sizeof field, "t%lld_threshold", (long long)t);
    double *th = f ? record(cs, field, (int)m) : NULL;
    snprintf(field, sizeof field, "t%lld_value", (long long)t);
    double *v = th ? record(cs, field, (int)m) : NULL;
    snprintf(field, sizeof field, "t%lld_count", (long long)t);
    double *c = v ? record(cs, field, (int)m) : NULL;
    int bad_f = 0, bad_th = 0, bad_v = 0, bad_c = 0;
    for (int64_t i = 0; c && i < m; i++) {
        bad_f += h->feature[at + i] != (int32_t)f[i];
        bad_c += h->n_samples[at + i] != (int32_t)c[i];
        if (h->feature[at + i] >= 0) bad_th += !one_rounding(h->threshold[at + i], th[i]);
        else bad_v += !one_rounding(h->value[at + i], v[i]);
    }
    CHECK(c && !bad_f && !bad_th && !bad_v && !bad_c, "%s tree %lld: %d features, %d thresholds, %d leaf values, %d counts differ from scikit-learn's",
          cs, (long long)t, bad_f, bad_th, bad_v, bad_c);
    free(f);
    free(th);
    free(v);
    free(c);
}

/* Prediction from several threads at once (each through the pool of a 2-thread context)
 * gives what one call gives. */
typedef struct {
    kn_ctx *ctx;
    const kn__hgb *h;
    const float *x;
    int64_t n;
    float *out;
} predict_arg;

static void *predict_thread(void *p) {
    predict_arg *a = p;
    for (int rep = 0; rep < 3; rep++) kn__hgb_predict(a->ctx, a->h, a->x, a->n, a->out);
    return NULL;
}

static void concurrent_predict(kn_ctx *ctx, const kn__hgb *h, const float *x, int64_t n, int outs) {
    enum { THREADS = 4 };
    float *want = malloc(sizeof(float) * (size_t)(n * outs));
    kn__hgb_predict(ctx, h, x, n, want);
    pthread_t th[THREADS];
    predict_arg args[THREADS];
    int differ = 0;
    for (int i = 0; i < THREADS; i++) {
        args[i] = (predict_arg){ctx, h, x, n, malloc(sizeof(float) * (size_t)(n * outs))};
        pthread_create(&th[i], NULL, predict_thread, &args[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        differ += memcmp(args[i].out, want, sizeof(float) * (size_t)(n * outs)) != 0;
        free(args[i].out);
    }
    CHECK(differ == 0, "%d of %d threads predicting at once got other values", differ, THREADS);
    free(want);
}

/* The same fitted model, bit for bit. */
static bool same_model(const kn__hgb *a, const kn__hgb *b) {
    return a->n_nodes == b->n_nodes && a->n_iter == b->n_iter && a->k == b->k &&
           !memcmp(a->feature, b->feature, sizeof(int32_t) * (size_t)a->n_nodes) &&
           !memcmp(a->threshold, b->threshold, sizeof(float) * (size_t)a->n_nodes) &&
           !memcmp(a->right, b->right, sizeof(int32_t) * (size_t)a->n_nodes) &&
           !memcmp(a->value, b->value, sizeof(float) * (size_t)a->n_nodes) &&
           !memcmp(a->node_offset, b->node_offset, sizeof(int32_t) * (size_t)(a->n_iter * a->k + 1)) &&
           !memcmp(a->baseline, b->baseline, sizeof(float) * (size_t)a->k) &&
           !memcmp(a->n_samples, b->n_samples, sizeof(int32_t) * (size_t)a->n_nodes);
}

static void golden_fit(kn_ctx *c1, kn_ctx *c2, const golden_case *gc) {
    kn_ctx *ctx = c1;
    table tb = load(ctx, gc->data, gc->regression);
    if (!tb.x) return;
    float *w = gc->weighted ? weights(tb.n) : NULL;
    kn__xy xy = xy_weighted(&tb, gc->regression, w);
    kn__hgb h = {0}, h2 = {0};
    kn_status st = kn__hgb_fit(ctx, &xy, &gc->o, &h);
    CHECK(st == KN_OK, "%s: fit: %s", gc->name, kn_last_error(ctx));
    if (st) goto done;
    const int k = h.k;
    double n_iter = 0;
    char key[96];
    snprintf(key, sizeof key, "%s_n_iter", gc->name);
    n_iter = get1(key);
    CHECK(h.n_iter == (int)n_iter, "%s: %d iterations, scikit-learn %g", gc->name, h.n_iter, n_iter);
    if (h.n_iter != (int)n_iter) goto done;
    /* every tree's size, then the first and last trees node by node */
    int64_t trees = (int64_t)h.n_iter * k;
    double *sizes = record(gc->name, "tree_nodes", (int)trees);
    int differ = 0;
    for (int64_t t = 0; sizes && t < trees; t++) differ += h.node_offset[t + 1] - h.node_offset[t] != (int32_t)sizes[t];
    CHECK(sizes && differ == 0, "%s: %d of %lld trees differ in size from scikit-learn's", gc->name, differ, (long long)trees);
    free(sizes);
    for (int i = 0; i < gc->n_trees; i++) check_tree(gc->name, &h, gc->trees[i] < 0 ? trees + gc->trees[i] : gc->trees[i]);
    /* raw scores: a leaf value and the baseline are each one float rounding from
     * scikit-learn's (float32 in kiln's file, float64 there); summed over the trees a row
     * passes through, that is at most 2^-24 of the sum of their magnitudes (allowed: twice
     * that, for the two sums' own double roundings) */
    double *want = record(gc->name, "raw", gc->rows * k);
    double *raw = malloc(sizeof(double) * (size_t)(gc->rows * k));
    kn__hgb_raw(ctx, &h, tb.x, gc->rows, raw);
    double worst = 0, worst_rel = 0;
    int off = 0;
    for (int64_t i = 0; want && i < gc->rows; i++)
        for (int c = 0; c < k; c++) {
            double mag = fabs((double)h.baseline[c]); /* the magnitudes along the row's path in each tree */
            for (int64_t it = 0; it < h.n_iter; it++) {
                int64_t at = h.node_offset[it * k + c], v = 0;
                while (h.feature[at + v] >= 0) v = tb.x[i * tb.d + h.feature[at + v]] <= h.threshold[at + v] ? v + 1 : h.right[at + v];
                mag += fabs((double)h.value[at + v]);
            }
            double e = fabs(raw[i * k + c] - want[i * k + c]), bound = mag * 0x1p-23 + 1e-12;
            off += e > bound;
            if (e > worst) worst = e;
            if (e / bound > worst_rel) worst_rel = e / bound;
        }
    CHECK(want && off == 0, "%s: %d raw scores beyond one float rounding per term of scikit-learn's (worst %.3g, %.2f of the bound)",
          gc->name, off, worst, worst_rel);
    printf("%-14s %4d iterations, %5lld nodes, raw scores within %.3g of scikit-learn's (%.2f of the float-rounding bound)\n",
           gc->name, h.n_iter, (long long)h.n_nodes, worst, worst_rel);
    free(want);
    free(raw);
    if (!gc->regression) { /* probabilities: float outputs of the same scores */
        double *pw = record(gc->name, "proba", 5 * tb.n_classes);
        float p[5 * 16];
        kn__hgb_predict(ctx, &h, tb.x, 5, p);
        int bad = 0;
        for (int i = 0; pw && i < 5 * tb.n_classes; i++) bad += fabs(p[i] - pw[i]) > 1e-6;
        CHECK(pw && bad == 0, "%s: %d probabilities differ from scikit-learn's by more than 1e-6", gc->name, bad);
        free(pw);
    }
    if (h.n_scores) { /* early stopping's scores: the raw scores in training are double, as scikit-learn's */
        double *ts = record(gc->name, "train_score", h.n_scores);
        int bad = 0;
        for (int i = 0; ts && i < h.n_scores; i++) bad += fabs(h.train_score[i] - ts[i]) > 1e-9 * fabs(ts[i]);
        CHECK(ts && bad == 0, "%s: %d of %d training scores differ from scikit-learn's by more than 1e-9 relative", gc->name, bad,
              h.n_scores);
        free(ts);
    }
    if (k > 1) concurrent_predict(c2, &h, tb.x, tb.n, k);
    /* the same fit on 2 threads, bit for bit */
    st = kn__hgb_fit(c2, &xy, &gc->o, &h2);
    CHECK(st == KN_OK && h2.n_nodes == h.n_nodes && h2.n_iter == h.n_iter &&
              same_model(&h, &h2),
          "%s: 2 threads fit another model (%s)", gc->name, kn_last_error(c2));
done:
    kn__hgb_free(ctx, &h);
    kn__hgb_free(c2, &h2);
    free(w);
    table_free(&tb);
}

static kn__hgb_opts opts(void) {
    kn__hgb_opts o = kn__hgb_defaults();
    o.early_stopping = 0;
    return o;
}

static void golden_cases(kn_ctx *c1, kn_ctx *c2) {
    golden_case cases[] = {
        {"diabetes", "diabetes", true, false, 442, {0, -1}, 2, opts()},
        {"diabetes_w", "diabetes", true, true, 442, {0, -1}, 2, opts()},
        {"diabetes_abs", "diabetes", true, false, 442, {0, -1}, 2, opts()},
        {"diabetes_absw", "diabetes", true, true, 442, {0, -1}, 2, opts()},
        {"diabetes_es", "diabetes", true, false, 442, {0, -1}, 2, opts()},
        {"cancer", "breast_cancer", false, false, 569, {0, -1}, 2, opts()},
        {"cancer_w", "breast_cancer", false, true, 569, {0, -1}, 2, opts()},
        {"digits", "digits", false, false, 300, {0, 9, -1}, 3, opts()},
        {"iris", "iris", false, false, 150, {0, -1}, 2, opts()},
        /* early stopping on a scorer of the predictions (scikit-learn's scoring) */
        {"diabetes_r2", "diabetes", true, false, 442, {0, -1}, 2, opts()},
        {"iris_acc", "iris", false, true, 150, {0, -1}, 2, opts()},
    };
    kn__hgb_opts *o = &cases[1].o;
    o->l2_regularization = 1, o->max_leaf_nodes = 15, o->max_depth = 4, o->min_samples_leaf = 10, o->learning_rate = 0.2;
    cases[2].o.loss = KN_HGB_ABSOLUTE_ERROR, cases[2].o.max_iter = 50;
    cases[3].o.loss = KN_HGB_ABSOLUTE_ERROR, cases[3].o.max_iter = 30;
    o = &cases[4].o;
    o->early_stopping = 1, o->validation_fraction = 0, o->n_iter_no_change = 5, o->tol = 50;
    o = &cases[6].o;
    o->max_bins = 32, o->learning_rate = 0.3, o->max_iter = 60;
    cases[7].o.max_iter = 30;
    cases[8].o.min_samples_leaf = 5, cases[8].o.max_iter = 20;
    o = &cases[9].o;
    o->early_stopping = 1, o->validation_fraction = 0, o->scoring = KN_HGB_SCORE_R2, o->n_iter_no_change = 4, o->tol = 5e-3;
    o = &cases[10].o;
    o->early_stopping = 1, o->validation_fraction = 0, o->scoring = KN_HGB_SCORE_ACCURACY, o->n_iter_no_change = 3, o->tol = 0;
    o->min_samples_leaf = 5, o->max_iter = 40;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) golden_fit(c1, c2, &cases[i]);
}

/* ------------------------------------------------------------------ threads, early stopping */


/* make_tree.py's 5000 x 20 synthetic set (large enough that a node's histograms are split
 * among threads) for each task, and a 12,000-row one where early stopping's "auto" is on:
 * 1 and 2 threads fit the same model bit for bit, and predict the same bits. */
static void threads_and_early_stopping(kn_ctx *c1, kn_ctx *c2) {
    table syn = synth();
    for (int task = 0; task < 3; task++) { /* regression, binary (classes 0 against the rest), 3 classes */
        int32_t *y2 = NULL;
        kn__xy xy = xy_of(&syn, task == 0);
        if (task == 1) {
            y2 = malloc(sizeof(int32_t) * (size_t)syn.n);
            for (int64_t i = 0; i < syn.n; i++) y2[i] = syn.y[i] != 0;
            xy.y = y2, xy.n_classes = 2;
        }
        kn__hgb_opts o = opts();
        o.max_iter = 20;
        o.max_leaf_nodes = 0, o.max_depth = 6; /* no leaf limit: the depth stops growth */
        kn__hgb a = {0}, b = {0};
        kn_status sa = kn__hgb_fit(c1, &xy, &o, &a), sb = kn__hgb_fit(c2, &xy, &o, &b);
        CHECK(!sa && !sb && same_model(&a, &b), "synthetic task %d: 1 and 2 threads fit different models (%s)", task,
              kn_last_error(c1));
        if (!sa && !sb) {
            int outs = task == 2 ? 3 : task == 1 ? 2 : 1;
            float *pa = malloc(sizeof(float) * (size_t)(syn.n * outs)), *pb = malloc(sizeof(float) * (size_t)(syn.n * outs));
            kn__hgb_predict(c1, &a, syn.x, syn.n, pa);
            kn__hgb_predict(c2, &b, syn.x, syn.n, pb);
            CHECK(!memcmp(pa, pb, sizeof(float) * (size_t)(syn.n * outs)), "synthetic task %d: 1 and 2 threads predict differently", task);
            int64_t right = 0;
            double sq = 0, tot = 0, mean = 0;
            for (int64_t i = 0; i < syn.n; i++) mean += syn.t[i] / (double)syn.n;
            for (int64_t i = 0; i < syn.n; i++) {
                if (task == 0) sq += (pa[i] - syn.t[i]) * (pa[i] - syn.t[i]), tot += (syn.t[i] - mean) * (syn.t[i] - mean);
                int best = 0;
                for (int c = 1; c < outs; c++) best = pa[i * outs + c] > pa[i * outs + best] ? c : best;
                right += task && best == xy.y[i];
            }
            /* what the features say of the targets: R² 0.98 for a 200-level target built from
             * three features plus noise of range 50; the labels' noise caps accuracy near 0.8 */
            if (task == 0) CHECK(1 - sq / tot > 0.9, "synthetic regression: training R² %.3f", 1 - sq / tot);
            else CHECK((double)right / (double)syn.n > 0.75, "synthetic task %d: training accuracy %.3f", task, (double)right / (double)syn.n);
            free(pa);
            free(pb);
        }
        kn__hgb_free(c1, &a);
        kn__hgb_free(c2, &b);
        free(y2);
    }
    table_free(&syn);
    /* early stopping "auto": on above 10,000 rows, 10% of them for validation */
    enum { N = 12000, D = 8 };
    float *x = malloc(sizeof(float) * N * D), *t = malloc(sizeof(float) * N);
    lcg_state = 99;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) x[i * D + j] = (float)(lcg() % 1000) / 100.0f;
        t[i] = x[i * D] * x[i * D + 1] + 3 * x[i * D + 2] + (float)(lcg() % 1000) / 50.0f; /* noise: the loss stops improving */
    }
    kn__xy xy = {.x = x, .n = N, .d = D, .t = t};
    kn__hgb_opts o = kn__hgb_defaults();
    o.max_iter = 300;
    kn__hgb a = {0}, b = {0};
    kn_status sa = kn__hgb_fit(c1, &xy, &o, &a), sb = kn__hgb_fit(c2, &xy, &o, &b);
    CHECK(!sa && a.n_iter < o.max_iter && a.n_scores == a.n_iter + 1 && a.validation_score,
          "early stopping: %d of %d iterations, %d scores (%s)", a.n_iter, o.max_iter, a.n_scores, kn_last_error(c1));
    if (!sa) { /* stopped where scikit-learn's rule says: no score of the last 10 beat the one before them by tol */
        const double *v = a.validation_score;
        int n = a.n_scores, better = 0, earlier = 0;
        for (int i = n - 10; i < n; i++) better += v[i] > v[n - 11] + o.tol;
        for (int i = n - 11; i < n - 1; i++) earlier += v[i] > v[n - 12] + o.tol;
        CHECK(n >= 12 && better == 0 && earlier > 0, "early stopping: stopped at %d, the rule says otherwise", a.n_iter);
        printf("early stopping: %d iterations of %d, validation loss %.4f (at the start %.4f)\n", a.n_iter, o.max_iter, -v[n - 1], -v[0]);
    }
    CHECK(!sb && same_model(&a, &b), "early stopping: 1 and 2 threads fit different models");
    o.early_stopping = 0;
    o.max_iter = 40;
    kn__hgb_free(c1, &b);
    CHECK(!kn__hgb_fit(c1, &xy, &o, &b) && b.n_iter == 40 && b.n_scores == 0, "early_stopping false runs max_iter (%d)", b.n_iter);
    kn__hgb_free(c1, &a);
    kn__hgb_free(c1, &b);
    free(x);
    free(t);
}

/* ------------------------------------------------------------------ the model API, files, refusals */

static kn_dataset *dataset(kn_ctx *ctx, const char *name, bool regression) {
    table tb = load(ctx, name, regression);
    kn_dataset *ds = NULL;
    kn_status st = regression ? kn_dataset_from_arrays_regression(ctx, tb.x, tb.t, tb.n, tb.d, 1, &ds)
                              : kn_dataset_from_arrays(ctx, tb.x, tb.y, tb.n, tb.d, tb.n_classes, &ds);
    CHECK(st == KN_OK, "%s: %s", name, kn_last_error(ctx));
    table_free(&tb);
    return ds;
}

/* Overwrites 4 bytes of tensor `name`'s data at entry `at` in a saved file. */
static bool poke(const char *path, const char *name, int64_t at, const void *bytes) {
    FILE *f = fopen(path, "r+b");
    uint64_t hlen = 0;
    char *header = NULL;
    bool ok = f && fread(&hlen, 8, 1, f) == 1 && hlen < (1u << 24) && (header = calloc(hlen + 1, 1)) && fread(header, 1, hlen, f) == hlen;
    char key[80];
    snprintf(key, sizeof key, "\"%s\"", name);
    const char *p = ok ? strstr(header, key) : NULL, *q = p ? strstr(p, "data_offsets") : NULL;
    long long begin = -1, end = -1;
    ok = q && sscanf(q, "data_offsets\"%*[^[][%lld,%lld]", &begin, &end) == 2 && 8 + (int64_t)hlen + begin + 4 * at + 4 <= 8 + (int64_t)hlen + end;
    ok = ok && fseek(f, (long)(8 + hlen + (uint64_t)begin + 4 * (uint64_t)at), SEEK_SET) == 0 && fwrite(bytes, 4, 1, f) == 1;
    if (f) fclose(f);
    free(header);
    return ok;
}

static void model_api(kn_ctx *ctx, const char *dir) {
    kn_dataset *cancer = dataset(ctx, "breast_cancer", false);
    kn_model *m = NULL, *back = NULL;
    kn_spec spec;
    const kn_history *hist = NULL;
    char path[160], bad[160];
    snprintf(path, sizeof path, "%s/hgb.kiln", dir);
    snprintf(bad, sizeof bad, "%s/hgb_bad.kiln", dir);
    kn_status st = cancer ? kn_model_from_json(ctx, "{\"type\": \"hist_gradient_boosting\", \"max_iter\": 25, \"early_stopping\": false, "
                                                    "\"class_weight\": \"balanced\"}", cancer, &m, &spec) : KN_ERR_INVALID_ARGUMENT;
    if (!st) st = kn_model_fit(m, cancer, NULL, &hist);
    CHECK(!st && hist && hist->steps == 25, "the model API fits and reports its iterations (%d): %s", hist ? (int)hist->steps : -1,
          kn_last_error(ctx));
    if (!st) st = kn_model_save(m, path);
    if (!st) st = kn_model_load(ctx, path, NULL, &back);
    CHECK(!st, "save and load: %s", kn_last_error(ctx));
    if (!st) {
        int64_t n = kn_dataset_size(cancer);
        float *a = malloc(sizeof(float) * (size_t)n * 2), *b = malloc(sizeof(float) * (size_t)n * 2);
        kn_model_predict(m, kn_dataset_x(cancer), n, a);
        kn_model_predict(back, kn_dataset_x(cancer), n, b);
        CHECK(!memcmp(a, b, sizeof(float) * (size_t)n * 2) && kn_model_param_count(back) == kn_model_param_count(m),
              "the loaded model predicts bit-identically");
        free(a);
        free(b);
    }
    kn_model_free(back);
    back = NULL;
    /* damaged files: each refused with a message naming the file and what is wrong */
    struct {
        const char *tensor;
        int64_t at;
        int32_t value;
        const char *want;
    } damage[] = {
        {"node_offset", 1, 0, "node_offset"},       /* a tree of no nodes */
        {"node_offset", 2, 1 << 30, "node_offset"}, /* past the nodes */
        {"right", 0, 1 << 20, "'right' is inconsistent at tree 0, node 0"}, /* a child out of range */
        {"right", 0, 0, "'right' is inconsistent at tree 0, node 0"},       /* a loop */
        {"left", 0, 3, "'left' is inconsistent at tree 0, node 0"},         /* not preorder */
        {"feature", 0, 30, "'feature' is inconsistent at tree 0, node 0"},  /* a feature past the input */
        {"threshold", 0, 0x7fc00000, "'threshold' is inconsistent"},        /* NaN */
        {"baseline", 0, 0x7f800000, "baseline"},    /* inf */
    };
    FILE *in = fopen(path, "rb");
    long size = in && !fseek(in, 0, SEEK_END) ? ftell(in) : 0;
    char *bytes = size > 0 ? malloc((size_t)size) : NULL;
    if (in) rewind(in);
    bool read_ok = bytes && fread(bytes, 1, (size_t)size, in) == (size_t)size;
    if (in) fclose(in);
    for (size_t i = 0; read_ok && i < sizeof damage / sizeof *damage; i++) {
        FILE *out = fopen(bad, "wb");
        bool written = out && fwrite(bytes, 1, (size_t)size, out) == (size_t)size;
        if (out) fclose(out);
        bool poked = written && poke(bad, damage[i].tensor, damage[i].at, &damage[i].value);
        st = kn_model_load(ctx, bad, &(kn_load_opts){.skip_checksum = true}, &back);
        const char *msg = kn_last_error(ctx);
        CHECK(poked && st == KN_ERR_FORMAT && strstr(msg, bad) && strstr(msg, damage[i].want) && !strchr(msg, '\n'),
              "%s[%lld] = %d: refused naming the file and '%s': %s", damage[i].tensor, (long long)damage[i].at, damage[i].value,
              damage[i].want, msg);
        kn_model_free(back);
        back = NULL;
        if (i == 0) { /* and with the checksum on, that catches it first */
            st = kn_model_load(ctx, bad, NULL, &back);
            CHECK(st != KN_OK && strstr(kn_last_error(ctx), bad), "a damaged file fails its checksum: %s", kn_last_error(ctx));
            kn_model_free(back);
            back = NULL;
        }
    }
    CHECK(read_ok, "could not read back %s", path);
    free(bytes);
    kn_model_free(m);
    kn_dataset_free(cancer);
}

static void refusals(kn_ctx *ctx) {
    struct {
        const char *spec, *want;
    } bad[] = {
        {"{\"type\": \"hist_gradient_boosting\", \"learning_rate\": -1}", "hist_gradient_boosting.learning_rate: -1 must be > 0"},
        {"{\"type\": \"hist_gradient_boosting\", \"learning_rate\": 0}", "hist_gradient_boosting.learning_rate: 0 must be > 0"},
        {"{\"type\": \"hist_gradient_boosting\", \"max_iter\": 0}", "hist_gradient_boosting.max_iter"},
        {"{\"type\": \"hist_gradient_boosting\", \"max_leaf_nodes\": 1}", "hist_gradient_boosting.max_leaf_nodes"},
        {"{\"type\": \"hist_gradient_boosting\", \"max_depth\": 0}", "hist_gradient_boosting.max_depth"},
        {"{\"type\": \"hist_gradient_boosting\", \"min_samples_leaf\": 0}", "hist_gradient_boosting.min_samples_leaf"},
        {"{\"type\": \"hist_gradient_boosting\", \"l2_regularization\": -0.5}", "hist_gradient_boosting.l2_regularization: -0.5 must be >= 0"},
        {"{\"type\": \"hist_gradient_boosting\", \"max_bins\": 256}", "hist_gradient_boosting.max_bins: 256 must be in [2, 255]"},
        {"{\"type\": \"hist_gradient_boosting\", \"early_stopping\": \"yes\"}", "hist_gradient_boosting.early_stopping"},
        {"{\"type\": \"hist_gradient_boosting\", \"scoring\": \"f1\"}", "hist_gradient_boosting.scoring: expected \"loss\""},
        {"{\"type\": \"hist_gradient_boosting\", \"scoring\": null}", "hist_gradient_boosting.scoring: null"},
        {"{\"type\": \"hist_gradient_boosting\", \"validation_fraction\": 1.5}", "hist_gradient_boosting.validation_fraction"},
        {"{\"type\": \"hist_gradient_boosting\", \"validation_fraction\": 0}", "hist_gradient_boosting.validation_fraction"},
        {"{\"type\": \"hist_gradient_boosting\", \"n_iter_no_change\": 0}", "hist_gradient_boosting.n_iter_no_change"},
        {"{\"type\": \"hist_gradient_boosting\", \"tol\": -1}", "hist_gradient_boosting.tol"},
        {"{\"type\": \"hist_gradient_boosting\", \"loss\": \"huber\"}", "hist_gradient_boosting.loss: expected one of"},
        {"{\"type\": \"hist_gradient_boosting\", \"n_estimators\": 10}", "hist_gradient_boosting.n_estimators: unknown hyperparameter"},
        {"{\"type\": \"hist_gradient_boosting\", \"monotonic_cst\": [1]}", "hist_gradient_boosting.monotonic_cst: unknown hyperparameter"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        kn_model *m = NULL;
        kn_spec spec;
        kn_status st = kn_model_from_json(ctx, bad[i].spec, NULL, &m, &spec);
        CHECK(st != KN_OK && m == NULL && strstr(kn_last_error(ctx), bad[i].want) && !strchr(kn_last_error(ctx), '\n'),
              "%s: refused naming '%s': %s", bad[i].spec, bad[i].want, kn_last_error(ctx));
        kn_model_free(m);
    }
    /* a loss or scorer for the other task, refused at fit */
    kn_dataset *iris = dataset(ctx, "iris", false), *diab = dataset(ctx, "diabetes", true);
    const struct {
        const char *spec;
        kn_dataset *data;
        const char *want;
    } task[] = {{"{\"type\": \"hist_gradient_boosting\", \"loss\": \"squared_error\"}", iris, "hist_gradient_boosting.loss: squared_error is for regression"},
                {"{\"type\": \"hist_gradient_boosting\", \"loss\": \"log_loss\"}", diab, "hist_gradient_boosting.loss: log_loss is for classification"},
                {"{\"type\": \"hist_gradient_boosting\", \"early_stopping\": true, \"validation_fraction\": 150}", iris,
                 "hist_gradient_boosting.validation_fraction: 150 leaves none"},
                {"{\"type\": \"hist_gradient_boosting\", \"scoring\": \"accuracy\"}", diab,
                 "hist_gradient_boosting.scoring: accuracy is for classification"},
                {"{\"type\": \"hist_gradient_boosting\", \"scoring\": \"r2\"}", iris,
                 "hist_gradient_boosting.scoring: r2 is for regression"}};
    for (size_t i = 0; iris && diab && i < sizeof task / sizeof *task; i++) {
        kn_model *m = NULL;
        kn_spec spec;
        kn_status st = kn_model_from_json(ctx, task[i].spec, task[i].data, &m, &spec);
        if (!st) st = kn_model_fit(m, task[i].data, NULL, NULL);
        CHECK(st != KN_OK && strstr(kn_last_error(ctx), task[i].want), "%s: refused at fit naming '%s': %s", task[i].spec, task[i].want,
              kn_last_error(ctx));
        kn_model_free(m);
    }
    kn_dataset_free(iris);
    kn_dataset_free(diab);
}

int main(void) {
    golden = read_all("tests/golden/hgb.txt");
    if (!golden) {
        printf("FAIL tests/golden/hgb.txt missing (run from the repository root)\n");
        return 1;
    }
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/kiln_hgb_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    kn_ctx *c1 = NULL, *c2 = NULL;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 1, .log_level = KN_LOG_ERROR}, &c1) ||
        kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 1, .log_level = KN_LOG_ERROR}, &c2))
        return 1;
    golden_cases(c1, c2);
    threads_and_early_stopping(c1, c2);
    model_api(c2, dir);
    refusals(c1);
    kn_ctx_free(c1);
    kn_ctx_free(c2);
    free(golden);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    printf("%s (%d failures)\n", failures ? "FAILED" : "ok", failures);
    return failures != 0;
}
