/* onnx_export_classic.c — kn_model_export_onnx for classical models: the fitted state (the
 * tensors a .kiln file keeps, classic/model.h) as ONNX nodes computing what kn_model_predict
 * gives, after the CSV preprocessing onnx_export.c writes first:
 *
 *   linear_regression, lasso,    Gemm: x coef^T + intercept
 *   elastic_net
 *   logistic_regression          Gemm, then Sigmoid as [1 - p, p] (two classes) or Softmax
 *   decision_tree, random_forest ai.onnx.ml TreeEnsembleRegressor, one target per output: a
 *                                leaf's class fractions (or mean), averaged over the trees
 *                                (x <= threshold goes to the left child: BRANCH_LEQ)
 *   hist_gradient_boosting       TreeEnsembleRegressor summing each iteration's trees into
 *                                their class's raw score, from the baseline; Sigmoid as [1 -
 *                                p, p] or Softmax for classes, the raw score for regression
 *
 * Other types (SVMs, k-nearest neighbours, naive Bayes) are refused naming the type. */
#include "classic/model.h"
#include "io/onnx_write.h"
#include "nn/model.h"

/* The fitted tensor `name` of dtype, or NULL. */
static const kn__ctensor *tensor(const kn__ctensor *t, int n, const char *name, kn_dtype dtype) {
    return kn__ctensor_find(t, n, name, dtype);
}

static void attr_floats(node *nd, const char *name, const float *v, int64_t count) {
    pbw a = {0};
    field_str(&a, 1, name);
    for (int64_t k = 0; k < count; k++) field_float(&a, 7, v[k]);
    field_int(&a, 20, 6); /* FLOATS */
    field_msg(&nd->b, 5, &a);
}

static void attr_ints64(node *nd, const char *name, const int64_t *v, int64_t count) {
    pbw a = {0};
    field_str(&a, 1, name);
    for (int64_t k = 0; k < count; k++) field_int(&a, 8, v[k]);
    field_int(&a, 20, 7); /* INTS */
    field_msg(&nd->b, 5, &a);
}

/* Class probabilities from decision scores z (N, k): Softmax, or for one score the sigmoid's
 * [1 - p, p]. */
static void probabilities(exporter *e, const char *z, int64_t k, char *out) {
    if (k > 1) {
        node nd;
        node_begin(e, &nd, "Softmax");
        node_in(&nd, z);
        fresh(e, out, "t");
        node_out(&nd, out);
        attr_int(&nd, "axis", -1);
        node_end(e, &nd);
        return;
    }
    char p[NAME], one[NAME], q[NAME];
    unary(e, "Sigmoid", z, p);
    scalar(e, one, 1.0f);
    binary(e, "Sub", one, p, q);
    node nd;
    node_begin(e, &nd, "Concat");
    node_in(&nd, q), node_in(&nd, p);
    fresh(e, out, "t");
    node_out(&nd, out);
    attr_int(&nd, "axis", 1);
    node_end(e, &nd);
}

/* x coef^T + intercept: coef (k, d), intercept (k). */
static kn_status linear(exporter *e, const kn__ctensor *t, int n, int64_t d, const char *x, char *out, int64_t *k) {
    const kn__ctensor *coef = tensor(t, n, "coef", KN_F32), *b = tensor(t, n, "intercept", KN_F32);
    if (!coef || !b || coef->shape[1] != d)
        return fail(e, KN_ERR_STATE, "onnx export: a linear model's coef and intercept %s%s", "are missing", "");
    *k = coef->shape[0];
    node nd;
    node_begin(e, &nd, "Gemm");
    node_in(&nd, x);
    weights_in(e, &nd, coef->data, (int64_t[]){*k, d}, 2, b->data, *k);
    fresh(e, out, "t");
    node_out(&nd, out);
    attr_int(&nd, "transB", 1);
    node_end(e, &nd);
    return KN_OK;
}

/* Trees' nodes (feature, threshold, left, right: children counted from their tree's first
 * node, node_offset (trees + 1) where each begins; one tree when NULL) as a
 * TreeEnsembleRegressor of `targets` outputs: leaf j of tree i adds value[j * per + c] to
 * target c (per values a node), or (per = 1, target_of) its one value to target
 * target_of[i]; averaged over the trees or summed onto base (k values). */
typedef struct {
    int64_t n_nodes, trees, targets, per;
    const int32_t *offset, *feature, *left, *right, *target_of;
    const float *threshold, *value, *base;
    bool average;
} ensemble;

static kn_status tree_ensemble(exporter *e, const ensemble *E, const char *x, char *out) {
    int64_t n = E->n_nodes, leaves = 0;
    for (int64_t j = 0; j < n; j++) leaves += E->feature[j] < 0;
    int64_t *ints = malloc((size_t)(5 * n + 3 * leaves * E->per + 1) * sizeof *ints);
    float *vals = malloc((size_t)(n + leaves * E->per + 1) * sizeof *vals);
    pbw modes = {0};
    if (!ints || !vals) {
        free(ints), free(vals);
        return fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", "trees", "");
    }
    int64_t *tree_id = ints, *node_id = ints + n, *feat = ints + 2 * n, *yes = ints + 3 * n, *no = ints + 4 * n;
    int64_t *t_tree = ints + 5 * n, *t_node = t_tree + leaves * E->per, *t_id = t_node + leaves * E->per;
    float *thr = vals, *w = vals + n;
    int64_t at = 0;
    for (int64_t i = 0; i < E->trees; i++) {
        int64_t first = E->offset ? E->offset[i] : 0, last = E->offset ? E->offset[i + 1] : n;
        for (int64_t j = first; j < last; j++) {
            bool leaf = E->feature[j] < 0;
            tree_id[j] = i, node_id[j] = j - first;
            feat[j] = leaf ? 0 : E->feature[j];
            thr[j] = leaf ? 0 : E->threshold[j];
            yes[j] = leaf ? 0 : E->left[j], no[j] = leaf ? 0 : E->right[j];
            field_str(&modes, 9, leaf ? "LEAF" : "BRANCH_LEQ");
            for (int64_t c = 0; leaf && c < E->per; c++, at++) {
                t_tree[at] = i, t_node[at] = j - first;
                t_id[at] = E->per > 1 ? c : E->target_of ? E->target_of[i] : 0;
                w[at] = E->value[j * E->per + c];
            }
        }
    }
    node nd;
    node_begin(e, &nd, "TreeEnsembleRegressor");
    field_str(&nd.b, 7, "ai.onnx.ml"); /* the node's domain */
    node_in(&nd, x);
    fresh(e, out, "t");
    node_out(&nd, out);
    attr_int(&nd, "n_targets", E->targets);
    attr_str(&nd, "aggregate_function", E->average ? "AVERAGE" : "SUM");
    attr_ints64(&nd, "nodes_treeids", tree_id, n);
    attr_ints64(&nd, "nodes_nodeids", node_id, n);
    attr_ints64(&nd, "nodes_featureids", feat, n);
    attr_floats(&nd, "nodes_values", thr, n);
    pbw a = {0};
    field_str(&a, 1, "nodes_modes");
    put(&a, modes.p, modes.n);
    field_int(&a, 20, 8); /* STRINGS */
    field_msg(&nd.b, 5, &a);
    attr_ints64(&nd, "nodes_truenodeids", yes, n);
    attr_ints64(&nd, "nodes_falsenodeids", no, n);
    attr_ints64(&nd, "target_treeids", t_tree, at);
    attr_ints64(&nd, "target_nodeids", t_node, at);
    attr_ints64(&nd, "target_ids", t_id, at);
    attr_floats(&nd, "target_weights", w, at);
    if (E->base) attr_floats(&nd, "base_values", E->base, E->targets);
    node_end(e, &nd);
    free(modes.p);
    free(ints), free(vals);
    if (modes.oom) e->nodes.oom = true;
    e->ml = true;
    return KN_OK;
}

/* A tree's or forest's node tensors as an averaging ensemble of `outputs` targets. */
static kn_status forest(exporter *e, const kn__ctensor *t, int n, int64_t outputs, bool one, const char *x, char *out) {
    const kn__ctensor *f = tensor(t, n, "feature", KN_I32), *l = tensor(t, n, "left", KN_I32),
                      *r = tensor(t, n, "right", KN_I32), *th = tensor(t, n, "threshold", KN_F32),
                      *v = tensor(t, n, "value", KN_F32), *off = one ? NULL : tensor(t, n, "node_offset", KN_I32);
    if (!f || !l || !r || !th || !v || (!one && !off))
        return fail(e, KN_ERR_STATE, "onnx export: the trees' node tensors %s%s", "are missing", "");
    ensemble E = {.n_nodes = f->shape[0], .trees = one ? 1 : off->shape[0] - 1, .targets = outputs, .per = outputs,
                  .offset = off ? off->data : NULL, .feature = f->data, .left = l->data, .right = r->data,
                  .threshold = th->data, .value = v->data, .average = true};
    return tree_ensemble(e, &E, x, out);
}

/* hist_gradient_boosting: k trees an iteration (tree i adds to score i mod k), from the baseline. */
static kn_status boosting(exporter *e, const kn__ctensor *t, int n, int64_t outputs, const char *x, char *out) {
    const kn__ctensor *f = tensor(t, n, "feature", KN_I32), *l = tensor(t, n, "left", KN_I32),
                      *r = tensor(t, n, "right", KN_I32), *th = tensor(t, n, "threshold", KN_F32),
                      *v = tensor(t, n, "value", KN_F32), *off = tensor(t, n, "node_offset", KN_I32),
                      *base = tensor(t, n, "baseline", KN_F32);
    if (!f || !l || !r || !th || !v || !off || !base)
        return fail(e, KN_ERR_STATE, "onnx export: the boosted trees' tensors %s%s", "are missing", "");
    int64_t k = base->shape[0], trees = off->shape[0] - 1;
    int32_t *target_of = malloc((size_t)(trees + 1) * sizeof *target_of);
    if (!target_of) return fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", "trees", "");
    for (int64_t i = 0; i < trees; i++) target_of[i] = (int32_t)(i % k);
    ensemble E = {.n_nodes = f->shape[0], .trees = trees, .targets = k, .per = 1, .offset = off->data,
                  .feature = f->data, .left = l->data, .right = r->data, .target_of = target_of,
                  .threshold = th->data, .value = v->data, .base = base->data};
    char raw[NAME];
    kn_status st = tree_ensemble(e, &E, x, raw);
    free(target_of);
    if (st) return st;
    if (outputs == 1) snprintf(out, NAME, "%s", raw); /* regression: the raw score */
    else probabilities(e, raw, k, out);
    return KN_OK;
}

kn_status kn__onnx_export_classic(exporter *e, kn_model *m, const char *x, char *out) {
    const char *type = m->classic->name;
    if (!m->c_fitted) return fail(e, KN_ERR_STATE, "onnx export: the %s is not fitted%s", type, "");
    kn__ctensor t[64];
    int n = m->classic->tensors(e->ctx, m->cstate, t, 64);
    if (n < 0) return e->st = KN_ERR_OUT_OF_MEMORY;
    int64_t d = kn_model_input_size(m), outputs = kn_model_output_size(m), k = 0;
    char z[NAME];
    if (strcmp(type, "linear_regression") == 0 || strcmp(type, "lasso") == 0 || strcmp(type, "elastic_net") == 0)
        return linear(e, t, n, d, x, out, &k);
    if (strcmp(type, "logistic_regression") == 0) {
        kn_status st = linear(e, t, n, d, x, z, &k);
        if (!st) probabilities(e, z, k, out);
        return e->st;
    }
    if (strcmp(type, "decision_tree") == 0 || strcmp(type, "random_forest") == 0)
        return forest(e, t, n, outputs, type[0] == 'd', x, out);
    if (strcmp(type, "hist_gradient_boosting") == 0) return boosting(e, t, n, outputs, x, out);
    return fail(e, KN_ERR_UNSUPPORTED, "onnx export: a %s model has no ONNX form here (kiln exports networks, linear and "
                "logistic regression, lasso, elastic_net, decision_tree, random_forest and hist_gradient_boosting)%s", type, "");
}
