/* glue_knn.c — k_nearest_neighbors (scikit-learn's KNeighborsClassifier / KNeighborsRegressor)
 * as a kiln model: hyperparameters with scikit-learn's names and defaults, fit, predict (class
 * probabilities are the neighbours' weighted vote shares, as predict_proba's), saved tensors
 * "fit_x" (n, d), "fit_y" (n, labels) or "fit_t" (n, targets), and "fit_w" (n) when the rows
 * were weighted. */
#include "classic/hparams.h"
#include "classic/knn.h"
#include "classic/model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

typedef struct knn_state {
    kn__knn_opts o;
    int metric;        /* index into metrics */
    double p;          /* the description's p (minkowski's power) */
    int algorithm;     /* index into algorithms: each gives the brute-force result */
    int64_t leaf_size; /* accepted for scikit-learn's trees; brute force has none */
    kn__knn fit;
} knn_state;

static const char *const metrics[] = {"minkowski", "euclidean", "manhattan", "chebyshev", "l2", "l1", "cityblock", NULL};
static const char *const algorithms[] = {"auto", "brute", "kd_tree", "ball_tree", NULL};
static const char *const weight_names[] = {"uniform", "distance", NULL};

/* The Minkowski power a metric means (minkowski: the description's p). */
static double metric_power(int metric, double p) {
    switch (metric) {
    case 1: case 4: return 2;
    case 2: case 5: case 6: return 1;
    case 3: return INFINITY;
    default: return p;
    }
}

static kn_status knn_parse(kn_ctx *ctx, const cJSON *spec, void *state) {
    static const char *const keys[] = {"n_neighbors", "weights", "algorithm", "leaf_size", "p", "metric", NULL};
    knn_state *s = state;
    s->o = kn__knn_defaults();
    s->p = 2;
    s->leaf_size = 30;
    const char *T = "k_nearest_neighbors";
    int64_t k = s->o.n_neighbors;
    int weights = 0;
    kn_status st = kn__hp_known(ctx, spec, T, keys);
    if (!st) st = kn__hp_int(ctx, spec, T, "n_neighbors", 1, 1000000, false, 0, &k);
    if (!st) st = kn__hp_choice(ctx, spec, T, "weights", weight_names, &weights);
    if (!st) st = kn__hp_choice(ctx, spec, T, "algorithm", algorithms, &s->algorithm);
    if (!st) st = kn__hp_int(ctx, spec, T, "leaf_size", 1, INT32_MAX, false, 0, &s->leaf_size);
    if (!st) st = kn__hp_number(ctx, spec, T, "p", 1, false, 1e6, &s->p);
    if (!st) st = kn__hp_choice(ctx, spec, T, "metric", metrics, &s->metric);
    s->o.n_neighbors = (int)k;
    s->o.weights = weights ? KN_KNN_DISTANCE : KN_KNN_UNIFORM;
    s->o.p = metric_power(s->metric, s->p);
    return st;
}

static cJSON *knn_describe(const void *state) {
    const knn_state *s = state;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "type", "k_nearest_neighbors");
    cJSON_AddNumberToObject(j, "n_neighbors", s->o.n_neighbors);
    cJSON_AddStringToObject(j, "weights", weight_names[s->o.weights]);
    cJSON_AddStringToObject(j, "algorithm", algorithms[s->algorithm]);
    cJSON_AddNumberToObject(j, "leaf_size", (double)s->leaf_size);
    cJSON_AddNumberToObject(j, "p", s->p);
    cJSON_AddStringToObject(j, "metric", metrics[s->metric]);
    return j;
}

static void knn_free(kn_ctx *ctx, void *state) { kn__knn_free(ctx, &((knn_state *)state)->fit); }

static kn_status knn_fit(kn_ctx *ctx, void *state, const kn__xy *xy) {
    knn_state *s = state;
    knn_free(ctx, s);
    return kn__knn_fit(ctx, xy, &s->o, &s->fit);
}

static kn_status knn_predict(kn_ctx *ctx, const void *state, const float *x, int64_t n, float *out) {
    return kn__knn_predict(ctx, &((const knn_state *)state)->fit, x, n, out);
}

static bool knn_proba(const void *state) {
    (void)state;
    return true;
}

static int knn_tensors(kn_ctx *ctx, void *state, kn__ctensor *t, int max) {
    (void)ctx;
    const kn__knn *m = &((const knn_state *)state)->fit;
    if (max < 3) return -1;
    t[0] = (kn__ctensor){.name = "fit_x", .dtype = KN_F32, .ndim = 2, .shape = {m->n, m->d}, .data = m->x};
    if (m->y) t[1] = (kn__ctensor){.name = "fit_y", .dtype = KN_I32, .ndim = 1, .shape = {m->n, 1}, .data = m->y};
    else t[1] = (kn__ctensor){.name = "fit_t", .dtype = KN_F32, .ndim = 1, .shape = {m->n, 1}, .data = m->t};
    if (!m->w) return 2;
    t[2] = (kn__ctensor){.name = "fit_w", .dtype = KN_F32, .ndim = 1, .shape = {m->n, 1}, .data = m->w};
    return 3;
}

static kn_status knn_load(kn_ctx *ctx, void *state, const kn__ctensor *t, int n, int64_t d, int outputs, const char *path) {
    knn_state *s = state;
    const bool classes = outputs >= 2;
    const kn__ctensor *x = kn__ctensor_find(t, n, "fit_x", KN_F32), *y = kn__ctensor_find(t, n, "fit_y", KN_I32),
                      *tt = kn__ctensor_find(t, n, "fit_t", KN_F32), *w = kn__ctensor_find(t, n, "fit_w", KN_F32);
    if (!x || (classes ? !y : !tt))
        return kn__error(ctx, KN_ERR_FORMAT, "%s: a k-nearest-neighbours model needs F32 'fit_x' and %s", path,
                         classes ? "I32 'fit_y'" : "F32 'fit_t'");
    const kn__ctensor *target = classes ? y : tt;
    const int64_t rows = x->shape[0];
    if (x->ndim != 2 || x->shape[1] != d || target->ndim != 1 || target->shape[0] != rows || (w && (w->ndim != 1 || w->shape[0] != rows)))
        return kn__error(ctx, KN_ERR_FORMAT, "%s: 'fit_x' must be (rows, %lld) and 'fit_%s'%s (rows)", path, (long long)d,
                         classes ? "y" : "t", w ? " and 'fit_w'" : "");
    if (rows < s->o.n_neighbors)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: %lld stored rows, fewer than n_neighbors %d", path, (long long)rows, s->o.n_neighbors);
    const float *xv = x->data, *wv = w ? w->data : NULL, *tv = classes ? NULL : tt->data;
    const int32_t *yv = classes ? y->data : NULL;
    for (int64_t i = 0; i < rows * d; i++)
        if (!isfinite(xv[i])) return kn__error(ctx, KN_ERR_FORMAT, "%s: 'fit_x' holds a non-finite value", path);
    for (int64_t i = 0; i < rows; i++) {
        if (yv && (yv[i] < 0 || yv[i] >= outputs))
            return kn__error(ctx, KN_ERR_FORMAT, "%s: fit_y[%lld] = %d is not one of the %d classes", path, (long long)i, yv[i], outputs);
        if (tv && !isfinite(tv[i])) return kn__error(ctx, KN_ERR_FORMAT, "%s: fit_t[%lld] is not finite", path, (long long)i);
        if (wv && !(wv[i] > 0 && isfinite(wv[i])))
            return kn__error(ctx, KN_ERR_FORMAT, "%s: fit_w[%lld] = %g must be > 0", path, (long long)i, wv[i]);
    }
    kn__knn *f = &s->fit;
    *f = (kn__knn){.o = s->o, .n = rows, .d = d, .n_classes = classes ? outputs : 0};
    f->x = kn__alloc(ctx, (size_t)(rows * d) * sizeof(float));
    if (yv) f->y = kn__alloc(ctx, (size_t)rows * sizeof(int32_t));
    if (tv) f->t = kn__alloc(ctx, (size_t)rows * sizeof(float));
    if (wv) f->w = kn__alloc(ctx, (size_t)rows * sizeof(float));
    if (!f->x || (yv && !f->y) || (tv && !f->t) || (wv && !f->w)) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    memcpy(f->x, xv, (size_t)(rows * d) * sizeof(float));
    if (yv) memcpy(f->y, yv, (size_t)rows * sizeof(int32_t));
    if (tv) memcpy(f->t, tv, (size_t)rows * sizeof(float));
    if (wv) memcpy(f->w, wv, (size_t)rows * sizeof(float));
    return kn__knn_prepare(ctx, f);
}

static int64_t knn_params(const void *state) {
    const kn__knn *m = &((const knn_state *)state)->fit;
    return m->n * m->d;
}

const kn__classic_ops kn__ops_k_nearest_neighbors = {
    .name = "k_nearest_neighbors", .classification = true, .regression = true, .state_size = sizeof(knn_state),
    .parse = knn_parse, .describe = knn_describe, .fit = knn_fit, .predict = knn_predict, .has_proba = knn_proba,
    .tensors = knn_tensors, .load = knn_load, .free = knn_free, .param_count = knn_params,
};
