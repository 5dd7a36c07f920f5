/* glue_hgb.c — hist_gradient_boosting as a kiln model: scikit-learn's
 * HistGradientBoostingRegressor / HistGradientBoostingClassifier hyperparameters with their
 * names and defaults (one type for both tasks: the data says which), fit, predict, and the
 * saved tensors: baseline (k), node_offset (trees + 1, tree t = iteration t / k, output
 * t % k) and the node arrays of every tree end to end (feature, threshold, left, right,
 * value, n_samples; children counted from their tree's first node). Loading checks every
 * shape and index, so a damaged file cannot send a prediction outside its arrays or into a
 * loop. No feature importances: scikit-learn's HistGradientBoosting has none. */
#include "classic/hgb.h"
#include "classic/hparams.h"
#include "classic/model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#define T_NAME "hist_gradient_boosting"

static const char *const loss_names[] = {"squared_error", "absolute_error", "log_loss", NULL};

typedef struct hgb_state {
    kn__hgb_opts o;
    int64_t random_state;
    kn__hgb model;
} hgb_state;

static kn_status hgb_parse(kn_ctx *ctx, const cJSON *spec, void *state) {
    static const char *const keys[] = {"loss", "learning_rate", "max_iter", "max_leaf_nodes", "max_depth", "min_samples_leaf",
                                       "l2_regularization", "max_bins", "early_stopping", "scoring", "validation_fraction",
                                       "n_iter_no_change", "tol", "random_state", NULL};
    hgb_state *s = state;
    s->o = kn__hgb_defaults();
    int loss = -1;
    int64_t max_iter = s->o.max_iter, leaves = s->o.max_leaf_nodes, depth = 0, msl = s->o.min_samples_leaf, bins = s->o.max_bins,
            patience = s->o.n_iter_no_change;
    kn_status st = kn__hp_known(ctx, spec, T_NAME, keys);
    if (!st) st = kn__hp_choice(ctx, spec, T_NAME, "loss", loss_names, &loss);
    if (!st) st = kn__hp_number(ctx, spec, T_NAME, "learning_rate", 0, true, INFINITY, &s->o.learning_rate);
    if (!st) st = kn__hp_int(ctx, spec, T_NAME, "max_iter", 1, 100000, false, 0, &max_iter);
    if (!st) st = kn__hp_int(ctx, spec, T_NAME, "max_leaf_nodes", 2, INT32_MAX, true, 0, &leaves);
    if (!st) st = kn__hp_int(ctx, spec, T_NAME, "max_depth", 1, 100000, true, 0, &depth);
    if (!st) st = kn__hp_int(ctx, spec, T_NAME, "min_samples_leaf", 1, INT32_MAX, false, 0, &msl);
    if (!st) st = kn__hp_number(ctx, spec, T_NAME, "l2_regularization", 0, false, INFINITY, &s->o.l2_regularization);
    if (!st) st = kn__hp_int(ctx, spec, T_NAME, "max_bins", 2, 255, false, 0, &bins);
    if (!st) st = kn__hp_int(ctx, spec, T_NAME, "n_iter_no_change", 1, INT32_MAX, false, 0, &patience);
    if (!st) st = kn__hp_number(ctx, spec, T_NAME, "tol", 0, false, INFINITY, &s->o.tol);
    if (!st) st = kn__hp_int(ctx, spec, T_NAME, "random_state", 0, INT64_MAX, true, 0, &s->random_state);
    const cJSON *es = cJSON_GetObjectItemCaseSensitive(spec, "early_stopping");
    if (!st && es) {
        if (cJSON_IsString(es) && strcmp(es->valuestring, "auto") == 0) s->o.early_stopping = -1;
        else if (cJSON_IsBool(es)) s->o.early_stopping = cJSON_IsTrue(es) ? 1 : 0;
        else st = kn__error(ctx, KN_ERR_SPEC, T_NAME ".early_stopping: expected \"auto\", true or false");
    }
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(spec, "scoring");
    if (!st && sc && cJSON_IsNull(sc))
        st = kn__error(ctx, KN_ERR_SPEC, T_NAME ".scoring: null (scikit-learn's estimator score) is not supported: name "
                       "the scorer (\"accuracy\" or \"r2\")");
    else if (!st && sc) {
        int k = 0;
        while (k < KN_HGB_SCORE_COUNT && !(cJSON_IsString(sc) && strcmp(sc->valuestring, kn__hgb_scoring_names[k]) == 0)) k++;
        if (k == KN_HGB_SCORE_COUNT)
            st = kn__error(ctx, KN_ERR_SPEC, T_NAME ".scoring: expected \"loss\", \"accuracy\", \"r2\", "
                           "\"neg_mean_squared_error\" or \"neg_mean_absolute_error\"");
        else s->o.scoring = (kn_hgb_scoring)k;
    }
    const cJSON *vf = cJSON_GetObjectItemCaseSensitive(spec, "validation_fraction");
    if (!st && vf) {
        double v = cJSON_IsNumber(vf) ? vf->valuedouble : NAN;
        if (cJSON_IsNull(vf)) s->o.validation_fraction = 0; /* none: the training loss is watched */
        else if ((v > 0 && v < 1) || (v >= 1 && v == floor(v) && v <= 1e12)) s->o.validation_fraction = v;
        else st = kn__error(ctx, KN_ERR_SPEC, T_NAME ".validation_fraction: expected a fraction in (0, 1), a row count >= 1 or null");
    }
    if (!st) {
        s->o.loss = loss < 0 ? KN_HGB_LOSS_DEFAULT : loss == 0 ? KN_HGB_SQUARED_ERROR : loss == 1 ? KN_HGB_ABSOLUTE_ERROR : KN_HGB_LOG_LOSS;
        s->o.max_iter = (int)max_iter;
        s->o.max_leaf_nodes = (int)leaves;
        s->o.max_depth = (int)depth;
        s->o.min_samples_leaf = (int)msl;
        s->o.max_bins = (int)bins;
        s->o.n_iter_no_change = (int)patience;
        s->o.seed = (uint64_t)s->random_state;
    }
    return st;
}

static cJSON *hgb_describe(const void *state) {
    const hgb_state *s = state;
    const kn__hgb_opts *o = &s->o;
    kn_hgb_loss loss = s->model.loss ? s->model.loss : o->loss; /* fitted: the task's */
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "type", T_NAME);
    if (loss) cJSON_AddStringToObject(j, "loss", loss_names[loss - 1]);
    cJSON_AddNumberToObject(j, "learning_rate", o->learning_rate);
    cJSON_AddNumberToObject(j, "max_iter", o->max_iter);
    if (o->max_leaf_nodes) cJSON_AddNumberToObject(j, "max_leaf_nodes", o->max_leaf_nodes);
    else cJSON_AddNullToObject(j, "max_leaf_nodes");
    if (o->max_depth) cJSON_AddNumberToObject(j, "max_depth", o->max_depth);
    else cJSON_AddNullToObject(j, "max_depth");
    cJSON_AddNumberToObject(j, "min_samples_leaf", o->min_samples_leaf);
    cJSON_AddNumberToObject(j, "l2_regularization", o->l2_regularization);
    cJSON_AddNumberToObject(j, "max_bins", o->max_bins);
    if (o->early_stopping < 0) cJSON_AddStringToObject(j, "early_stopping", "auto");
    else cJSON_AddBoolToObject(j, "early_stopping", o->early_stopping == 1);
    cJSON_AddStringToObject(j, "scoring", kn__hgb_scoring_names[o->scoring]);
    if (o->validation_fraction > 0) cJSON_AddNumberToObject(j, "validation_fraction", o->validation_fraction);
    else cJSON_AddNullToObject(j, "validation_fraction");
    cJSON_AddNumberToObject(j, "n_iter_no_change", o->n_iter_no_change);
    cJSON_AddNumberToObject(j, "tol", o->tol);
    cJSON_AddNumberToObject(j, "random_state", (double)s->random_state);
    return j;
}

static void hgb_free(kn_ctx *ctx, void *state) { kn__hgb_free(ctx, &((hgb_state *)state)->model); }

static kn_status hgb_fit(kn_ctx *ctx, void *state, const kn__xy *xy) {
    hgb_state *s = state;
    hgb_free(ctx, s);
    return kn__hgb_fit(ctx, xy, &s->o, &s->model);
}

static kn_status hgb_predict(kn_ctx *ctx, const void *state, const float *x, int64_t n, float *out) {
    kn__hgb_predict(ctx, &((const hgb_state *)state)->model, x, n, out);
    return KN_OK;
}

static bool hgb_has_proba(const void *state) {
    (void)state;
    return true;
}

static int hgb_tensors(kn_ctx *ctx, void *state, kn__ctensor *t, int max) {
    (void)ctx;
    const kn__hgb *h = &((const hgb_state *)state)->model;
    if (max < 8) return 0;
    int64_t n = h->n_nodes, trees = (int64_t)h->n_iter * h->k;
    t[0] = (kn__ctensor){.name = "baseline", .dtype = KN_F32, .ndim = 1, .shape = {h->k, 1}, .data = h->baseline};
    t[1] = (kn__ctensor){.name = "node_offset", .dtype = KN_I32, .ndim = 1, .shape = {trees + 1, 1}, .data = h->node_offset};
    t[2] = (kn__ctensor){.name = "feature", .dtype = KN_I32, .ndim = 1, .shape = {n, 1}, .data = h->feature};
    t[3] = (kn__ctensor){.name = "threshold", .dtype = KN_F32, .ndim = 1, .shape = {n, 1}, .data = h->threshold};
    t[4] = (kn__ctensor){.name = "left", .dtype = KN_I32, .ndim = 1, .shape = {n, 1}, .data = h->left};
    t[5] = (kn__ctensor){.name = "right", .dtype = KN_I32, .ndim = 1, .shape = {n, 1}, .data = h->right};
    t[6] = (kn__ctensor){.name = "value", .dtype = KN_F32, .ndim = 1, .shape = {n, 1}, .data = h->value};
    t[7] = (kn__ctensor){.name = "n_samples", .dtype = KN_I32, .ndim = 1, .shape = {n, 1}, .data = h->n_samples};
    return 8;
}

/* A tensor by name and dtype, 1-D of `len` entries (len < 0: any), or NULL with ctx's error
 * naming the file and the tensor. */
static const kn__ctensor *need(kn_ctx *ctx, const kn__ctensor *t, int n, const char *name, kn_dtype dtype, int64_t len,
                               const char *path) {
    const kn__ctensor *c = kn__ctensor_find(t, n, name, dtype);
    if (!c) kn__error(ctx, KN_ERR_FORMAT, "%s: " T_NAME " needs a %s tensor '%s'", path, dtype == KN_F32 ? "F32" : "I32", name);
    else if (c->ndim != 1 || (len >= 0 && c->shape[0] != len))
        kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%s' must be 1-D%s", path, name, len >= 0 ? " of the node count" : "");
    else return c;
    return NULL;
}

static kn_status hgb_load(kn_ctx *ctx, void *state, const kn__ctensor *t, int n, int64_t d, int outputs, const char *path) {
    hgb_state *s = state;
    kn__hgb *h = &s->model;
    int classes = outputs > 1 ? outputs : 0, k = outputs > 2 ? outputs : 1;
    kn_hgb_loss loss = s->o.loss ? s->o.loss : classes ? KN_HGB_LOG_LOSS : KN_HGB_SQUARED_ERROR;
    if ((loss == KN_HGB_LOG_LOSS) != (classes > 0))
        return kn__error(ctx, KN_ERR_FORMAT, "%s: loss %s does not fit %d outputs", path, loss_names[loss - 1], outputs);
    const kn__ctensor *base = need(ctx, t, n, "baseline", KN_F32, -1, path), *off = base ? need(ctx, t, n, "node_offset", KN_I32, -1, path) : NULL,
                      *feature = off ? need(ctx, t, n, "feature", KN_I32, -1, path) : NULL;
    if (!feature) return KN_ERR_FORMAT;
    int64_t nodes = feature->shape[0];
    const kn__ctensor *threshold = need(ctx, t, n, "threshold", KN_F32, nodes, path),
                      *left = threshold ? need(ctx, t, n, "left", KN_I32, nodes, path) : NULL,
                      *right = left ? need(ctx, t, n, "right", KN_I32, nodes, path) : NULL,
                      *value = right ? need(ctx, t, n, "value", KN_F32, nodes, path) : NULL,
                      *count = value ? need(ctx, t, n, "n_samples", KN_I32, nodes, path) : NULL;
    if (!count) return KN_ERR_FORMAT;
    if (base->shape[0] != k) return kn__error(ctx, KN_ERR_FORMAT, "%s: tensor 'baseline' must have %d entries", path, k);
    const float *b = base->data;
    for (int c = 0; c < k; c++)
        if (!isfinite(b[c])) return kn__error(ctx, KN_ERR_FORMAT, "%s: tensor 'baseline' holds a non-finite value", path);
    int64_t trees = off->shape[0] - 1;
    if (trees < 1 || trees % k || trees / k > 100000 || nodes < trees || nodes >= INT32_MAX)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: tensor 'node_offset' must have iterations x %d + 1 entries (%lld)", path, k,
                         (long long)off->shape[0]);
    const int32_t *o = off->data;
    if (o[0] != 0 || o[trees] != nodes)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: tensor 'node_offset' must run from 0 to %lld", path, (long long)nodes);
    for (int64_t i = 0; i < trees; i++)
        if (o[i + 1] <= o[i]) return kn__error(ctx, KN_ERR_FORMAT, "%s: tensor 'node_offset' must increase", path);
    const int32_t *f = feature->data, *l = left->data, *r = right->data;
    for (int64_t i = 0; i < trees; i++) {
        int64_t at = o[i], node;
        const char *bad = kn__tree_nodes_check(o[i + 1] - at, d, 1, true, f + at, l + at, r + at, (const float *)threshold->data + at,
                                               (const float *)value->data + at, &node);
        if (bad)
            return kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%s' is inconsistent at tree %lld, node %lld (an index out of range, not in preorder, or a non-finite value)",
                             path, bad, (long long)i, (long long)node);
    }
    *h = (kn__hgb){.d = d, .n_classes = classes, .k = k, .n_iter = (int)(trees / k), .loss = loss};
    size_t nb = sizeof(int32_t) * (size_t)nodes;
    h->baseline = kn__alloc(ctx, sizeof(float) * (size_t)k);
    h->node_offset = kn__alloc(ctx, sizeof(int32_t) * (size_t)(trees + 1));
    if (!h->baseline || !h->node_offset) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    kn_status st = kn__hgb_reserve(ctx, h, nodes);
    if (st) return st;
    h->n_nodes = nodes;
    memcpy(h->baseline, b, sizeof(float) * (size_t)k);
    memcpy(h->node_offset, o, sizeof(int32_t) * (size_t)(trees + 1));
    memcpy(h->feature, f, nb);
    memcpy(h->threshold, threshold->data, nb);
    memcpy(h->left, l, nb);
    memcpy(h->right, r, nb);
    memcpy(h->value, value->data, nb);
    memcpy(h->n_samples, count->data, nb);
    return KN_OK;
}

static int64_t hgb_params(const void *state) { return ((const hgb_state *)state)->model.n_nodes; }

static int hgb_iterations(const void *state) { return ((const hgb_state *)state)->model.n_iter; }

const kn__classic_ops kn__ops_hist_gradient_boosting = {
    .name = T_NAME, .classification = true, .regression = true, .state_size = sizeof(hgb_state),
    .parse = hgb_parse, .describe = hgb_describe, .fit = hgb_fit, .predict = hgb_predict, .has_proba = hgb_has_proba,
    .tensors = hgb_tensors, .load = hgb_load, .free = hgb_free, .param_count = hgb_params, .iterations = hgb_iterations,
};
