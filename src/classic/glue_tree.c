/* glue_tree.c — decision_tree and random_forest as kiln models: hyperparameters with
 * scikit-learn's names and defaults, fit, predict, and the saved tensors. A tree is saved as
 * its node arrays (feature, threshold, left, right, value, n_samples, impurity) and its
 * importances; a forest as the same arrays of all its trees end to end, with node_offset
 * (n_trees + 1) marking where each tree starts (children indices count from their tree's
 * first node). Loading checks every index, so a damaged file cannot send a prediction
 * outside its arrays or into a loop. */
#include "classic/hparams.h"
#include "classic/model.h"
#include "classic/tree.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

static const char *const criteria[] = {"gini", "entropy", "log_loss", "squared_error", NULL};

/* max_features as given: all, sqrt, log2, a count or a fraction (resolved with d at fit). */
typedef struct max_features {
    int kind;        /* 0 default, 1 all (null), 2 sqrt, 3 log2, 4 count, 5 fraction */
    double value;
} max_features;

typedef struct tree_hp {
    int criterion;   /* -1: the task's default */
    int64_t max_depth, min_samples_split, min_samples_leaf, max_bins, random_state;
    max_features mf;
} tree_hp;

typedef struct dt_state {
    tree_hp hp;
    kn__tree tree;
    float *importance32;  /* (d) for saving */
} dt_state;

typedef struct rf_state {
    tree_hp hp;
    int64_t n_estimators;
    bool bootstrap, oob_score;
    kn__forest forest;
    /* packed for saving (built on demand) */
    int64_t packed_nodes;
    int32_t *node_offset, *feature, *left, *right, *n_samples;
    float *threshold, *value, *impurity, *importance32;
} rf_state;

/* ---------------------------------------------------------------- hyperparameters */

static kn_status parse_tree_hp(kn_ctx *ctx, const cJSON *spec, const char *T, tree_hp *hp) {
    *hp = (tree_hp){.criterion = -1, .min_samples_split = 2, .min_samples_leaf = 1, .max_bins = 256};
    kn_status st = kn__hp_choice(ctx, spec, T, "criterion", criteria, &hp->criterion);
    if (!st) st = kn__hp_int(ctx, spec, T, "max_depth", 1, 100000, true, 0, &hp->max_depth);
    if (!st) st = kn__hp_int(ctx, spec, T, "min_samples_split", 2, (int64_t)1 << 40, false, 0, &hp->min_samples_split);
    if (!st) st = kn__hp_int(ctx, spec, T, "min_samples_leaf", 1, (int64_t)1 << 40, false, 0, &hp->min_samples_leaf);
    if (!st) st = kn__hp_int(ctx, spec, T, "max_bins", 2, 256, false, 0, &hp->max_bins);
    if (!st) st = kn__hp_int(ctx, spec, T, "random_state", 0, INT64_MAX, true, 0, &hp->random_state);
    const cJSON *mf = cJSON_GetObjectItemCaseSensitive(spec, "max_features");
    if (!st && mf) {
        if (cJSON_IsNull(mf)) hp->mf.kind = 1;
        else if (cJSON_IsString(mf) && strcmp(mf->valuestring, "sqrt") == 0) hp->mf.kind = 2;
        else if (cJSON_IsString(mf) && strcmp(mf->valuestring, "log2") == 0) hp->mf.kind = 3;
        else if (cJSON_IsNumber(mf) && mf->valuedouble > 1 && mf->valuedouble == floor(mf->valuedouble) && mf->valuedouble <= 1e7)
            hp->mf = (max_features){4, mf->valuedouble}; /* a count (1 reads as the fraction 1.0: all features) */
        else if (cJSON_IsNumber(mf) && mf->valuedouble > 0 && mf->valuedouble <= 1)
            hp->mf = (max_features){5, mf->valuedouble};
        else
            st = kn__error(ctx, KN_ERR_SPEC, "%s.max_features: expected null, \"sqrt\", \"log2\", a count >= 1 or a fraction in (0, 1]", T);
    }
    return st;
}

static void describe_tree_hp(cJSON *j, const tree_hp *hp) {
    if (hp->criterion >= 0) cJSON_AddStringToObject(j, "criterion", criteria[hp->criterion]);
    if (hp->max_depth) cJSON_AddNumberToObject(j, "max_depth", (double)hp->max_depth);
    else cJSON_AddNullToObject(j, "max_depth");
    cJSON_AddNumberToObject(j, "min_samples_split", (double)hp->min_samples_split);
    cJSON_AddNumberToObject(j, "min_samples_leaf", (double)hp->min_samples_leaf);
    switch (hp->mf.kind) {
    case 1: cJSON_AddNullToObject(j, "max_features"); break;
    case 2: cJSON_AddStringToObject(j, "max_features", "sqrt"); break;
    case 3: cJSON_AddStringToObject(j, "max_features", "log2"); break;
    case 4: cJSON_AddNumberToObject(j, "max_features", hp->mf.value); break;
    case 5: cJSON_AddNumberToObject(j, "max_features", hp->mf.value); break;
    default: break;
    }
    cJSON_AddNumberToObject(j, "max_bins", (double)hp->max_bins);
    cJSON_AddNumberToObject(j, "random_state", (double)hp->random_state);
}

/* The tree options for data of d features; 0 max_features keeps the kernel's default. */
static kn__tree_opts tree_opts(const tree_hp *hp, const kn__xy *xy, uint64_t seed) {
    kn__tree_opts o = {.max_depth = (int)hp->max_depth, .min_samples_split = hp->min_samples_split,
                       .min_samples_leaf = hp->min_samples_leaf, .max_bins = (int)hp->max_bins, .seed = seed};
    o.criterion = hp->criterion < 0 ? KN_TREE_DEFAULT
                  : hp->criterion == 0 ? KN_TREE_GINI
                  : hp->criterion == 3 ? KN_TREE_SQUARED_ERROR
                                       : KN_TREE_ENTROPY;
    double d = (double)xy->d;
    switch (hp->mf.kind) {
    case 1: o.max_features = (int)xy->d; break;
    case 2: o.max_features = (int)fmax(1, floor(sqrt(d))); break;
    case 3: o.max_features = (int)fmax(1, floor(log2(d))); break;
    case 4: o.max_features = (int)fmin(d, hp->mf.value); break;
    case 5: o.max_features = (int)fmax(1, floor(hp->mf.value * d)); break;
    default: break;
    }
    return o;
}

/* ---------------------------------------------------------------- checking loaded trees */

/* Allocates t's arrays for n nodes. */
static kn_status tree_alloc(kn_ctx *ctx, kn__tree *t, int64_t n, int64_t d, int outputs) {
    *t = (kn__tree){.n_nodes = n, .d = d, .n_outputs = outputs};
    t->feature = kn__alloc(ctx, (size_t)n * sizeof(int32_t));
    t->left = kn__alloc(ctx, (size_t)n * sizeof(int32_t));
    t->right = kn__alloc(ctx, (size_t)n * sizeof(int32_t));
    t->n_samples = kn__alloc(ctx, (size_t)n * sizeof(int32_t));
    t->threshold = kn__alloc(ctx, (size_t)n * sizeof(float));
    t->impurity = kn__alloc(ctx, (size_t)n * sizeof(float));
    t->value = kn__alloc(ctx, (size_t)(n * outputs) * sizeof(float));
    t->importance = kn__calloc(ctx, (size_t)d, sizeof(double));
    if (!t->feature || !t->left || !t->right || !t->n_samples || !t->threshold || !t->impurity || !t->value || !t->importance) {
        kn__tree_free(ctx, t);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "tree: out of memory for %lld nodes", (long long)n);
    }
    return KN_OK;
}

/* The node tensors (count = total nodes) from a file, checked for shape. */
typedef struct node_tensors {
    const kn__ctensor *feature, *left, *right, *n_samples, *threshold, *impurity, *value, *importance;
} node_tensors;

static kn_status node_tensors_find(kn_ctx *ctx, const kn__ctensor *t, int n, int64_t d, int outputs, const char *path,
                                   node_tensors *nt, int64_t *nodes) {
    *nt = (node_tensors){kn__ctensor_find(t, n, "feature", KN_I32), kn__ctensor_find(t, n, "left", KN_I32), kn__ctensor_find(t, n, "right", KN_I32),
                         kn__ctensor_find(t, n, "n_samples", KN_I32), kn__ctensor_find(t, n, "threshold", KN_F32), kn__ctensor_find(t, n, "impurity", KN_F32),
                         kn__ctensor_find(t, n, "value", KN_F32), kn__ctensor_find(t, n, "importance", KN_F32)};
    if (!nt->feature || !nt->left || !nt->right || !nt->n_samples || !nt->threshold || !nt->impurity || !nt->value || !nt->importance)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: a tree needs I32 feature, left, right, n_samples and F32 threshold, impurity, value, importance",
                         path);
    int64_t m = nt->feature->shape[0];
    const kn__ctensor *ones[] = {nt->feature, nt->left, nt->right, nt->n_samples, nt->threshold, nt->impurity};
    for (int i = 0; i < 6; i++)
        if (ones[i]->ndim != 1 || ones[i]->shape[0] != m)
            return kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%s' must have %lld entries", path, ones[i]->name, (long long)m);
    if (nt->value->ndim != 2 || nt->value->shape[0] != m || nt->value->shape[1] != outputs)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: tensor 'value' must be (%lld, %d)", path, (long long)m, outputs);
    if (nt->importance->ndim != 1 || nt->importance->shape[0] != d)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: tensor 'importance' must have %lld entries", path, (long long)d);
    *nodes = m;
    return KN_OK;
}

/* Copies nodes [start, start + n) of the file's arrays into t (allocated here). */
static kn_status tree_from(kn_ctx *ctx, const node_tensors *nt, int64_t start, int64_t n, int64_t d, int outputs, const char *path,
                           kn__tree *t) {
    const int32_t *f = (const int32_t *)nt->feature->data + start, *l = (const int32_t *)nt->left->data + start,
                  *r = (const int32_t *)nt->right->data + start;
    const float *th = (const float *)nt->threshold->data + start, *v = (const float *)nt->value->data + start * outputs;
    int64_t node;
    const char *bad = kn__tree_nodes_check(n, d, outputs, false, f, l, r, th, v, &node);
    if (bad)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%s' of a tree is inconsistent at its node %lld (an index out of range, a child before its parent, or a non-finite value)",
                         path, bad, (long long)node);
    kn_status st = tree_alloc(ctx, t, n, d, outputs);
    if (st) return st;
    memcpy(t->feature, f, (size_t)n * sizeof(int32_t));
    memcpy(t->left, l, (size_t)n * sizeof(int32_t));
    memcpy(t->right, r, (size_t)n * sizeof(int32_t));
    memcpy(t->n_samples, (const int32_t *)nt->n_samples->data + start, (size_t)n * sizeof(int32_t));
    memcpy(t->threshold, th, (size_t)n * sizeof(float));
    memcpy(t->impurity, (const float *)nt->impurity->data + start, (size_t)n * sizeof(float));
    memcpy(t->value, v, (size_t)(n * outputs) * sizeof(float));
    const float *imp = nt->importance->data;
    for (int64_t j = 0; j < d; j++) t->importance[j] = imp[j];
    return KN_OK;
}

static bool has_proba(const void *state) {
    (void)state;
    return true;
}

/* ---------------------------------------------------------------- decision_tree */

static kn_status dt_parse(kn_ctx *ctx, const cJSON *spec, void *state) {
    static const char *const keys[] = {"criterion", "max_depth", "min_samples_split", "min_samples_leaf", "max_features", "max_bins",
                                       "random_state", NULL};
    dt_state *s = state;
    kn_status st = kn__hp_known(ctx, spec, "decision_tree", keys);
    if (!st) st = parse_tree_hp(ctx, spec, "decision_tree", &s->hp);
    return st;
}

static cJSON *dt_describe(const void *state) {
    const dt_state *s = state;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "type", "decision_tree");
    describe_tree_hp(j, &s->hp);
    return j;
}

static void dt_free(kn_ctx *ctx, void *state) {
    dt_state *s = state;
    kn__tree_free(ctx, &s->tree);
    kn__free(ctx, s->importance32);
    s->importance32 = NULL;
}

static kn_status dt_fit(kn_ctx *ctx, void *state, const kn__xy *xy) {
    dt_state *s = state;
    dt_free(ctx, s);
    kn__tree_opts o = tree_opts(&s->hp, xy, (uint64_t)s->hp.random_state);
    kn_status st = kn__tree_fit(ctx, xy, NULL, &o, &s->tree);
    if (!st && !(s->importance32 = kn__alloc(ctx, (size_t)xy->d * sizeof(float))))
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "decision_tree: out of memory");
    for (int64_t j = 0; !st && j < xy->d; j++) s->importance32[j] = (float)s->tree.importance[j];
    return st;
}

static kn_status dt_predict(kn_ctx *ctx, const void *state, const float *x, int64_t n, float *out) {
    (void)ctx;
    kn__tree_predict(&((const dt_state *)state)->tree, x, n, out);
    return KN_OK;
}

static int dt_tensors(kn_ctx *ctx, void *state, kn__ctensor *t, int max) {
    (void)ctx;
    const dt_state *s = state;
    const kn__tree *tr = &s->tree;
    if (max < 8) return 0;
    int64_t n = tr->n_nodes;
    t[0] = (kn__ctensor){.name = "feature", .dtype = KN_I32, .ndim = 1, .shape = {n, 1}, .data = tr->feature};
    t[1] = (kn__ctensor){.name = "threshold", .dtype = KN_F32, .ndim = 1, .shape = {n, 1}, .data = tr->threshold};
    t[2] = (kn__ctensor){.name = "left", .dtype = KN_I32, .ndim = 1, .shape = {n, 1}, .data = tr->left};
    t[3] = (kn__ctensor){.name = "right", .dtype = KN_I32, .ndim = 1, .shape = {n, 1}, .data = tr->right};
    t[4] = (kn__ctensor){.name = "value", .dtype = KN_F32, .ndim = 2, .shape = {n, tr->n_outputs}, .data = tr->value};
    t[5] = (kn__ctensor){.name = "n_samples", .dtype = KN_I32, .ndim = 1, .shape = {n, 1}, .data = tr->n_samples};
    t[6] = (kn__ctensor){.name = "impurity", .dtype = KN_F32, .ndim = 1, .shape = {n, 1}, .data = tr->impurity};
    t[7] = (kn__ctensor){.name = "importance", .dtype = KN_F32, .ndim = 1, .shape = {tr->d, 1}, .data = s->importance32};
    return 8;
}

static kn_status dt_load(kn_ctx *ctx, void *state, const kn__ctensor *t, int n, int64_t d, int outputs, const char *path) {
    dt_state *s = state;
    node_tensors nt;
    int64_t nodes;
    kn_status st = node_tensors_find(ctx, t, n, d, outputs, path, &nt, &nodes);
    if (!st) st = tree_from(ctx, &nt, 0, nodes, d, outputs, path, &s->tree);
    if (!st && !(s->importance32 = kn__alloc(ctx, (size_t)d * sizeof(float))))
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    if (!st) memcpy(s->importance32, nt.importance->data, (size_t)d * sizeof(float));
    return st;
}

static int64_t dt_params(const void *state) { return ((const dt_state *)state)->tree.n_nodes; }

static void dt_importances(const void *state, double *out) {
    const kn__tree *t = &((const dt_state *)state)->tree;
    memcpy(out, t->importance, (size_t)t->d * sizeof *out);
}

static kn_status dt_text(kn_ctx *ctx, const void *state, const char *const *features, const char *const *classes, char **out) {
    const kn__tree *t = &((const dt_state *)state)->tree;
    return kn__tree_export_text(ctx, t, features, t->n_outputs > 1 ? classes : NULL, out);
}

const kn__classic_ops kn__ops_decision_tree = {
    .name = "decision_tree", .classification = true, .regression = true, .state_size = sizeof(dt_state),
    .parse = dt_parse, .describe = dt_describe, .fit = dt_fit, .predict = dt_predict, .has_proba = has_proba,
    .tensors = dt_tensors, .load = dt_load, .free = dt_free, .param_count = dt_params, .importances = dt_importances,
    .export_text = dt_text,
};

/* ---------------------------------------------------------------- random_forest */

static kn_status rf_parse(kn_ctx *ctx, const cJSON *spec, void *state) {
    static const char *const keys[] = {"n_estimators", "criterion", "max_depth", "min_samples_split", "min_samples_leaf", "max_features",
                                       "max_bins", "bootstrap", "oob_score", "random_state", NULL};
    rf_state *s = state;
    s->n_estimators = 100;
    s->bootstrap = true;
    kn_status st = kn__hp_known(ctx, spec, "random_forest", keys);
    if (!st) st = parse_tree_hp(ctx, spec, "random_forest", &s->hp);
    if (!st) st = kn__hp_int(ctx, spec, "random_forest", "n_estimators", 1, 100000, false, 0, &s->n_estimators);
    if (!st) st = kn__hp_bool(ctx, spec, "random_forest", "bootstrap", &s->bootstrap);
    if (!st) st = kn__hp_bool(ctx, spec, "random_forest", "oob_score", &s->oob_score);
    if (!st && s->oob_score && !s->bootstrap)
        st = kn__error(ctx, KN_ERR_SPEC, "random_forest.oob_score: out-of-bag estimates need bootstrap true");
    return st;
}

static cJSON *rf_describe(const void *state) {
    const rf_state *s = state;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "type", "random_forest");
    cJSON_AddNumberToObject(j, "n_estimators", (double)s->n_estimators);
    describe_tree_hp(j, &s->hp);
    cJSON_AddBoolToObject(j, "bootstrap", s->bootstrap);
    cJSON_AddBoolToObject(j, "oob_score", s->oob_score);
    return j;
}

static void rf_unpack(kn_ctx *ctx, rf_state *s) {
    void *bufs[] = {s->node_offset, s->feature, s->left, s->right, s->n_samples, s->threshold, s->value, s->impurity, s->importance32};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) kn__free(ctx, bufs[i]);
    s->node_offset = s->feature = s->left = s->right = s->n_samples = NULL;
    s->threshold = s->value = s->impurity = s->importance32 = NULL;
    s->packed_nodes = 0;
}

static void rf_free(kn_ctx *ctx, void *state) {
    rf_state *s = state;
    rf_unpack(ctx, s);
    kn__forest_free(ctx, &s->forest);
}

/* The trees end to end, for saving (children stay relative to their tree). */
static kn_status rf_pack(kn_ctx *ctx, rf_state *s) {
    const kn__forest *f = &s->forest;
    int64_t total = 0;
    for (int k = 0; k < f->n_trees; k++) total += f->trees[k].n_nodes;
    int outs = f->n_outputs;
    s->node_offset = kn__alloc(ctx, (size_t)(f->n_trees + 1) * sizeof(int32_t));
    s->feature = kn__alloc(ctx, (size_t)total * sizeof(int32_t));
    s->left = kn__alloc(ctx, (size_t)total * sizeof(int32_t));
    s->right = kn__alloc(ctx, (size_t)total * sizeof(int32_t));
    s->n_samples = kn__alloc(ctx, (size_t)total * sizeof(int32_t));
    s->threshold = kn__alloc(ctx, (size_t)total * sizeof(float));
    s->impurity = kn__alloc(ctx, (size_t)total * sizeof(float));
    s->value = kn__alloc(ctx, (size_t)(total * outs) * sizeof(float));
    s->importance32 = kn__alloc(ctx, (size_t)f->d * sizeof(float));
    if (!s->node_offset || !s->feature || !s->left || !s->right || !s->n_samples || !s->threshold || !s->impurity || !s->value ||
        !s->importance32) {
        rf_unpack(ctx, s);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "random_forest: out of memory packing %lld nodes", (long long)total);
    }
    int64_t at = 0;
    for (int k = 0; k < f->n_trees; k++) {
        const kn__tree *t = &f->trees[k];
        s->node_offset[k] = (int32_t)at;
        memcpy(s->feature + at, t->feature, (size_t)t->n_nodes * sizeof(int32_t));
        memcpy(s->left + at, t->left, (size_t)t->n_nodes * sizeof(int32_t));
        memcpy(s->right + at, t->right, (size_t)t->n_nodes * sizeof(int32_t));
        memcpy(s->n_samples + at, t->n_samples, (size_t)t->n_nodes * sizeof(int32_t));
        memcpy(s->threshold + at, t->threshold, (size_t)t->n_nodes * sizeof(float));
        memcpy(s->impurity + at, t->impurity, (size_t)t->n_nodes * sizeof(float));
        memcpy(s->value + at * outs, t->value, (size_t)(t->n_nodes * outs) * sizeof(float));
        at += t->n_nodes;
    }
    s->node_offset[f->n_trees] = (int32_t)at;
    for (int64_t j = 0; j < f->d; j++) s->importance32[j] = (float)f->importance[j];
    s->packed_nodes = total;
    return KN_OK;
}

static kn_status rf_fit(kn_ctx *ctx, void *state, const kn__xy *xy) {
    rf_state *s = state;
    rf_free(ctx, s);
    kn__forest_opts o = {.tree = tree_opts(&s->hp, xy, (uint64_t)s->hp.random_state), .n_estimators = (int)s->n_estimators,
                         .no_bootstrap = !s->bootstrap, .oob_score = s->oob_score};
    kn_status st = kn__forest_fit(ctx, xy, &o, &s->forest);
    if (!st) {
        int64_t total = 0;
        for (int k = 0; k < s->forest.n_trees; k++) total += s->forest.trees[k].n_nodes;
        if (total >= INT32_MAX) st = kn__error(ctx, KN_ERR_UNSUPPORTED, "random_forest: %lld nodes in all (the file format holds 2^31)", (long long)total);
    }
    if (!st && s->oob_score) kn__log(ctx, KN_LOG_INFO, "random_forest: out-of-bag score %.4f", s->forest.oob_score);
    return st;
}

static kn_status rf_predict(kn_ctx *ctx, const void *state, const float *x, int64_t n, float *out) {
    (void)ctx;
    kn__forest_predict(&((const rf_state *)state)->forest, x, n, out);
    return KN_OK;
}

static int rf_tensors(kn_ctx *ctx, void *state, kn__ctensor *t, int max) {
    rf_state *s = state; /* the packed arrays are a cache of the fitted state, built once */
    if (max < 9 || (!s->packed_nodes && rf_pack(ctx, s) != KN_OK)) return -1;
    int64_t n = s->packed_nodes;
    t[0] = (kn__ctensor){.name = "node_offset", .dtype = KN_I32, .ndim = 1, .shape = {s->forest.n_trees + 1, 1}, .data = s->node_offset};
    t[1] = (kn__ctensor){.name = "feature", .dtype = KN_I32, .ndim = 1, .shape = {n, 1}, .data = s->feature};
    t[2] = (kn__ctensor){.name = "threshold", .dtype = KN_F32, .ndim = 1, .shape = {n, 1}, .data = s->threshold};
    t[3] = (kn__ctensor){.name = "left", .dtype = KN_I32, .ndim = 1, .shape = {n, 1}, .data = s->left};
    t[4] = (kn__ctensor){.name = "right", .dtype = KN_I32, .ndim = 1, .shape = {n, 1}, .data = s->right};
    t[5] = (kn__ctensor){.name = "value", .dtype = KN_F32, .ndim = 2, .shape = {n, s->forest.n_outputs}, .data = s->value};
    t[6] = (kn__ctensor){.name = "n_samples", .dtype = KN_I32, .ndim = 1, .shape = {n, 1}, .data = s->n_samples};
    t[7] = (kn__ctensor){.name = "impurity", .dtype = KN_F32, .ndim = 1, .shape = {n, 1}, .data = s->impurity};
    t[8] = (kn__ctensor){.name = "importance", .dtype = KN_F32, .ndim = 1, .shape = {s->forest.d, 1}, .data = s->importance32};
    return 9;
}

static kn_status rf_load(kn_ctx *ctx, void *state, const kn__ctensor *t, int n, int64_t d, int outputs, const char *path) {
    rf_state *s = state;
    node_tensors nt;
    int64_t nodes;
    kn_status st = node_tensors_find(ctx, t, n, d, outputs, path, &nt, &nodes);
    if (st) return st;
    const kn__ctensor *off = kn__ctensor_find(t, n, "node_offset", KN_I32);
    if (!off || off->ndim != 1 || off->shape[0] < 2 || off->shape[0] > 100001)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: a forest needs an I32 node_offset of (trees + 1) entries", path);
    const int32_t *o = off->data;
    int trees = (int)off->shape[0] - 1;
    if (o[0] != 0 || o[trees] != nodes) return kn__error(ctx, KN_ERR_FORMAT, "%s: node_offset must run from 0 to %lld", path, (long long)nodes);
    for (int k = 0; k < trees; k++)
        if (o[k + 1] <= o[k]) return kn__error(ctx, KN_ERR_FORMAT, "%s: node_offset must increase", path);
    s->forest = (kn__forest){.d = d, .n_outputs = outputs, .oob_score = NAN};
    s->forest.trees = kn__calloc(ctx, (size_t)trees, sizeof(kn__tree));
    s->forest.importance = kn__calloc(ctx, (size_t)d, sizeof(double));
    if (!s->forest.trees || !s->forest.importance) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (int k = 0; k < trees && !st; k++) {
        st = tree_from(ctx, &nt, o[k], o[k + 1] - o[k], d, outputs, path, &s->forest.trees[k]);
        if (!st) s->forest.n_trees = k + 1;
    }
    const float *imp = nt.importance->data;
    for (int64_t j = 0; !st && j < d; j++) s->forest.importance[j] = imp[j];
    return st;
}

static double rf_oob(const void *state) { return ((const rf_state *)state)->forest.oob_score; }

static void rf_importances(const void *state, double *out) {
    const kn__forest *f = &((const rf_state *)state)->forest;
    memcpy(out, f->importance, (size_t)f->d * sizeof *out);
}

static int64_t rf_params(const void *state) {
    const kn__forest *f = &((const rf_state *)state)->forest;
    int64_t total = 0;
    for (int k = 0; k < f->n_trees; k++) total += f->trees[k].n_nodes;
    return total;
}

const kn__classic_ops kn__ops_random_forest = {
    .name = "random_forest", .classification = true, .regression = true, .state_size = sizeof(rf_state),
    .parse = rf_parse, .describe = rf_describe, .fit = rf_fit, .predict = rf_predict, .has_proba = has_proba,
    .tensors = rf_tensors, .load = rf_load, .free = rf_free, .param_count = rf_params, .importances = rf_importances,
    .oob_score = rf_oob,
};
