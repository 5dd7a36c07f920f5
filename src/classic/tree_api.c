/* tree_api.c — the tree API around the grower of tree.c: defaults and checks of the
 * hyperparameters (messages naming the field), fitting, prediction (a row's leaf) and the
 * text export in scikit-learn's export_text format. */
#include "classic/tree.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ checks and the API */

kn__tree_opts kn__tree_defaults(const kn__tree_opts *in, const kn__xy *xy, bool forest) {
    kn__tree_opts o = *in;
    bool classification = xy->y != NULL;
    if (o.criterion == KN_TREE_DEFAULT) o.criterion = classification ? KN_TREE_GINI : KN_TREE_SQUARED_ERROR;
    if (o.min_samples_split == 0) o.min_samples_split = 2;
    if (o.min_samples_leaf == 0) o.min_samples_leaf = 1;
    if (o.max_bins == 0) o.max_bins = 256;
    if (o.max_features == 0) {
        o.max_features = (int)xy->d;
        if (forest && classification) { /* scikit-learn's "sqrt": max(1, int(sqrt(d))) */
            o.max_features = (int)sqrt((double)xy->d);
            if (o.max_features < 1) o.max_features = 1;
        }
    }
    return o;
}

kn_status kn__xy_check(kn_ctx *ctx, const char *who, const kn__xy *xy) {
    const kn_status bad = KN_ERR_INVALID_ARGUMENT;
    if (!xy) return kn__error(ctx, bad, "%s: NULL data", who);
    if (!xy->x) return kn__error(ctx, bad, "%s: NULL x", who);
    if (xy->n < 1 || xy->d < 1 || xy->n >= INT32_MAX || xy->d >= INT32_MAX)
        return kn__error(ctx, bad, "%s: %lld rows x %lld features (need 1 <= rows, features < 2^31)", who,
                         (long long)xy->n, (long long)xy->d);
    bool classification = xy->y != NULL;
    if (classification == (xy->t != NULL))
        return kn__error(ctx, bad, "%s: give class labels y (classification) or targets t (regression), not %s", who,
                         classification ? "both" : "neither");
    if (classification) {
        if (xy->n_classes < 2) return kn__error(ctx, bad, "%s: n_classes %d must be >= 2", who, xy->n_classes);
        for (int64_t i = 0; i < xy->n; i++)
            if (xy->y[i] < 0 || xy->y[i] >= xy->n_classes)
                return kn__error(ctx, bad, "%s: label y[%lld] = %d is outside [0, %d)", who, (long long)i, (int)xy->y[i],
                                 xy->n_classes);
    } else {
        for (int64_t i = 0; i < xy->n; i++)
            if (!isfinite(xy->t[i])) return kn__error(ctx, bad, "%s: target t[%lld] is %g", who, (long long)i, (double)xy->t[i]);
    }
    if (xy->w) {
        double sum = 0.0;
        for (int64_t i = 0; i < xy->n; i++) {
            if (!(xy->w[i] >= 0.0f) || !isfinite(xy->w[i]))
                return kn__error(ctx, bad, "%s: sample weight w[%lld] = %g must be finite and >= 0", who, (long long)i,
                                 (double)xy->w[i]);
            sum += xy->w[i];
        }
        if (!(sum > 0.0)) return kn__error(ctx, bad, "%s: the sample weights sum to 0", who);
    }
    return KN_OK;
}

kn_status kn__tree_check(kn_ctx *ctx, const char *who, const kn__xy *xy, const kn__tree_opts *o) {
    const kn_status bad = KN_ERR_INVALID_ARGUMENT;
    if (!xy || !o) return kn__error(ctx, bad, "%s: NULL data or options", who);
    kn_status st = kn__xy_check(ctx, who, xy);
    if (st) return st;
    bool classification = xy->y != NULL;
    static const char *names[] = {"default", "gini", "entropy", "squared_error"};
    if ((int)o->criterion < 0 || o->criterion > KN_TREE_SQUARED_ERROR)
        return kn__error(ctx, bad, "%s.criterion: %d is not a criterion (gini, entropy, squared_error)", who, (int)o->criterion);
    if (classification && o->criterion == KN_TREE_SQUARED_ERROR)
        return kn__error(ctx, bad, "%s.criterion: squared_error is for regression (classification: gini or entropy)", who);
    if (!classification && (o->criterion == KN_TREE_GINI || o->criterion == KN_TREE_ENTROPY))
        return kn__error(ctx, bad, "%s.criterion: %s is for classification (regression: squared_error)", who,
                         names[o->criterion]);
    if (o->max_depth < 0) return kn__error(ctx, bad, "%s.max_depth: %d must be >= 0 (0: no limit)", who, o->max_depth);
    if (o->min_samples_split != 0 && o->min_samples_split < 2)
        return kn__error(ctx, bad, "%s.min_samples_split: %lld must be >= 2", who, (long long)o->min_samples_split);
    if (o->min_samples_leaf < 0)
        return kn__error(ctx, bad, "%s.min_samples_leaf: %lld must be >= 1", who, (long long)o->min_samples_leaf);
    if (o->max_features < 0 || o->max_features > xy->d)
        return kn__error(ctx, bad, "%s.max_features: %d must be in [1, %lld] (0: the default)", who, o->max_features,
                         (long long)xy->d);
    if (o->max_bins != 0 && (o->max_bins < 2 || o->max_bins > 256))
        return kn__error(ctx, bad, "%s.max_bins: %d must be in [2, 256]", who, o->max_bins);
    return KN_OK;
}

kn_status kn__tree_fit(kn_ctx *ctx, const kn__xy *xy, const kn__bins *bins, const kn__tree_opts *opts, kn__tree *out) {
    if (!ctx) return KN_ERR_INVALID_ARGUMENT;
    if (!out) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "decision_tree: NULL output");
    memset(out, 0, sizeof *out);
    kn_status st = kn__tree_check(ctx, "decision_tree", xy, opts);
    if (st) return st;
    kn__tree_opts o = kn__tree_defaults(opts, xy, false);
    kn__bins own = {0};
    if (bins) {
        if (bins->n != xy->n || bins->d != xy->d || !bins->codes)
            return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "decision_tree: bins of %lld x %lld for data of %lld x %lld",
                             (long long)bins->n, (long long)bins->d, (long long)xy->n, (long long)xy->d);
    } else {
        if ((st = kn__bins_build(ctx, xy->x, xy->n, xy->d, o.max_bins, &own))) return st;
        bins = &own;
    }
    st = kn__tree_grow(ctx, xy, bins, &o, NULL, o.seed, kn_ctx_threads(ctx), NULL, out);
    if (st) kn__error(ctx, st, "decision_tree: out of memory growing a tree on %lld x %lld", (long long)xy->n, (long long)xy->d);
    kn__bins_free(ctx, &own);
    return st;
}

const char *kn__tree_nodes_check(int64_t n, int64_t d, int outputs, bool left_next, const int32_t *feature, const int32_t *left,
                                 const int32_t *right, const float *threshold, const float *value, int64_t *node) {
    *node = 0;
    if (n < 1) return "feature";
    for (int64_t i = 0; i < n; i++) {
        *node = i;
        if (feature[i] == -1) {
            if (left[i] != -1) return "left";
            if (right[i] != -1) return "right";
        } else {
            if (feature[i] < 0 || feature[i] >= d) return "feature";
            if (left[i] <= i || left[i] >= n || (left_next && left[i] != i + 1)) return "left";
            if (right[i] <= i || right[i] >= n) return "right";
            if (!isfinite(threshold[i])) return "threshold";
        }
        for (int k = 0; k < outputs; k++)
            if (!isfinite(value[i * outputs + k])) return "value";
    }
    return NULL;
}

int32_t kn__tree_leaf(const kn__tree *t, const float *row) {
    int32_t v = 0;
    while (t->feature[v] >= 0) v = row[t->feature[v]] <= t->threshold[v] ? t->left[v] : t->right[v];
    return v;
}

void kn__tree_predict(const kn__tree *t, const float *x, int64_t n, float *out) {
    const int no = t->n_outputs;
    for (int64_t i = 0; i < n; i++) {
        int32_t v = kn__tree_leaf(t, x + (size_t)i * (size_t)t->d);
        memcpy(out + (size_t)i * no, t->value + (size_t)v * no, sizeof(float) * (size_t)no);
    }
}

/* ------------------------------------------------------------------ export_text */

typedef struct {
    kn_ctx *ctx;
    char *buf;
    size_t len, cap;
    bool failed;
    const kn__tree *t;
    const char *const *features, *const *classes;
    const int32_t *height;
} text_out;

static void put(text_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_out *o, const char *fmt, ...) {
    if (o->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (k < 0) {
        o->failed = true;
        return;
    }
    if (o->len + (size_t)k + 1 > o->cap) {
        size_t cap = 2 * o->cap + (size_t)k + 1;
        char *nb = kn__alloc(o->ctx, cap);
        if (!nb) {
            o->failed = true;
            return;
        }
        memcpy(nb, o->buf, o->len + 1);
        kn__free(o->ctx, o->buf);
        o->buf = nb;
        o->cap = cap;
        va_start(ap, fmt);
        vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
    }
    o->len += (size_t)k;
}

/* "|   |   |---" for depth 3 (scikit-learn: ("|" + " " * 3) * depth, last 3 made "---"). */
static void indent(text_out *o, int depth) {
    for (int i = 0; i < depth - 1; i++) put(o, "|   ");
    put(o, "|---");
}

static void leaf_line(text_out *o, int32_t v, int depth) {
    const kn__tree *t = o->t;
    indent(o, depth);
    const float *val = t->value + (size_t)v * t->n_outputs;
    if (t->n_outputs > 1) { /* classification: the first largest fraction */
        int best = 0;
        for (int c = 1; c < t->n_outputs; c++)
            if (val[c] > val[best]) best = c;
        if (o->classes) put(o, " class: %s\n", o->classes[best]);
        else put(o, " class: %d\n", best);
    } else {
        put(o, " value: [%.2f]\n", (double)val[0]);
    }
}

static void print_node(text_out *o, int32_t v, int depth) {
    const kn__tree *t = o->t;
    const int max_depth = 10;
    if (depth > max_depth + 1) {
        if (o->height[v] == 1) leaf_line(o, v, depth);
        else {
            indent(o, depth);
            put(o, " truncated branch of depth %d\n", (int)o->height[v]);
        }
        return;
    }
    if (t->feature[v] < 0) {
        leaf_line(o, v, depth);
        return;
    }
    char own[32];
    const char *name = own;
    if (o->features) name = o->features[t->feature[v]];
    else snprintf(own, sizeof own, "feature_%d", (int)t->feature[v]);
    indent(o, depth);
    put(o, " %s <= %.2f\n", name, (double)t->threshold[v]);
    print_node(o, t->left[v], depth + 1);
    indent(o, depth);
    put(o, " %s >  %.2f\n", name, (double)t->threshold[v]);
    print_node(o, t->right[v], depth + 1);
}

kn_status kn__tree_export_text(kn_ctx *ctx, const kn__tree *t, const char *const *feature_names,
                               const char *const *class_names, char **out) {
    if (!ctx) return KN_ERR_INVALID_ARGUMENT;
    if (!t || !out || t->n_nodes < 1) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "export_text: NULL or empty tree");
    *out = NULL;
    int32_t *height = kn__alloc(ctx, sizeof(int32_t) * (size_t)t->n_nodes);
    text_out o = {.ctx = ctx, .cap = 4096, .t = t, .features = feature_names, .classes = class_names, .height = height};
    o.buf = kn__alloc(ctx, o.cap);
    if (!height || !o.buf) {
        kn__free(ctx, height);
        kn__free(ctx, o.buf);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "export_text: out of memory");
    }
    o.buf[0] = '\0';
    /* preorder: children come after their parent, so heights fill from the end */
    for (int64_t v = t->n_nodes - 1; v >= 0; v--) {
        if (t->feature[v] < 0) height[v] = 1;
        else height[v] = 1 + (height[t->left[v]] > height[t->right[v]] ? height[t->left[v]] : height[t->right[v]]);
    }
    print_node(&o, 0, 1);
    kn__free(ctx, height);
    if (o.failed) {
        kn__free(ctx, o.buf);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "export_text: out of memory");
    }
    *out = o.buf;
    return KN_OK;
}
