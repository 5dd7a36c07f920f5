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
 *   linear_svm                   Gemm, then the one-hot of the decision: ArgMax and OneHot
 *                                (two classes: decision > 0, Greater and Cast, as [1 - c, c]);
 *                                regression (LinearSVR): the Gemm alone
 *   gaussian_nb                  each class's joint log-likelihood log prior - sum log(2 pi
 *                                var) / 2 - sum (x - theta)^2 / (2 var): Reshape x to (N, 1,
 *                                d), Sub, Mul, Mul, ReduceSum, Sub; then Softmax
 *   multinomial_nb, complement_nb  Gemm by feature_log_prob (+ class_log_prior: multinomial), Softmax
 *   bernoulli_nb                 x binarized (Greater, Cast) unless binarize is null, then
 *                                Gemm by log p - log(1 - p) plus sum log(1 - p) + prior, Softmax
 *
 *   k_nearest_neighbors          the distances to every training row ((N, 1, d) - (n, d): Abs,
 *                                Mul or Pow, ReduceSum or ReduceMax, Sqrt or Pow), TopK of the
 *                                smallest (ties: the lower index, as kiln's), the neighbours'
 *                                rows of a one-hot label table (or targets) times their
 *                                weights gathered and averaged by their (1 / distance) shares
 *   svm (without probability)    the kernel against the support vectors (Gemm, then Pow,
 *                                Exp of the distances, or Tanh), each class pair's decision
 *                                (Gemm by the pair's dual coefficients, its intercept), the
 *                                pairs' votes (Greater, Cast, Gemm: +1 to the first class
 *                                when the decision is positive, else to the second), the
 *                                one-hot of the first class with the most votes (LIBSVM's);
 *                                regression (SVR): the kernel, then one Gemm by the dual
 *                                coefficients plus the intercept
 *
 * An svm with probability (LIBSVM's Platt scaling and iterated pairwise coupling) is refused. */
#include "classic/model.h"
#include "io/onnx_write.h"
#include "nn/model.h"

#include <cjson/cJSON.h>
#include <math.h>

/* The fitted tensor `name` of dtype, or NULL. */
static const kn__ctensor *tensor(const kn__ctensor *t, int n, const char *name, kn_dtype dtype) {
    return kn__ctensor_find(t, n, name, dtype);
}

static void softmax(exporter *e, const char *z, char *out) {
    node nd;
    node_begin(e, &nd, "Softmax");
    node_in(&nd, z);
    fresh(e, out, "t");
    node_out(&nd, out);
    attr_int(&nd, "axis", -1);
    node_end(e, &nd);
}

/* [1 - p, p] from p (N, 1). */
static void pair_of(exporter *e, const char *p, char *out) {
    char one[NAME], q[NAME];
    scalar(e, one, 1.0f);
    binary(e, "Sub", one, p, q);
    concat2(e, q, p, 1, out);
}

/* Class probabilities from decision scores z (N, k): Softmax, or for one score the sigmoid's
 * [1 - p, p]. */
static void probabilities(exporter *e, const char *z, int64_t k, char *out) {
    if (k > 1) {
        softmax(e, z, out);
        return;
    }
    char p[NAME];
    unary(e, "Sigmoid", z, p);
    pair_of(e, p, out);
}

/* (x > threshold) as 0s and 1s (float). */
static void above(exporter *e, const char *x, float threshold, char *out) {
    char c[NAME], g[NAME];
    scalar(e, c, threshold);
    binary(e, "Greater", x, c, g);
    to_float(e, g, out);
}

/* The one-hot of the decision z (N, k): its first largest score (ArgMax, OneHot), or for one
 * score [1 - (z > 0), z > 0]. */
static void decided(exporter *e, const char *z, int64_t k, char *out) {
    if (k == 1) {
        char c[NAME];
        above(e, z, 0.0f, c);
        pair_of(e, c, out);
        return;
    }
    char am[NAME], depth[NAME], values[NAME];
    node nd;
    node_begin(e, &nd, "ArgMax");
    node_in(&nd, z);
    fresh(e, am, "t");
    node_out(&nd, am);
    attr_int(&nd, "axis", 1);
    attr_int(&nd, "keepdims", 0);
    node_end(e, &nd);
    int_const(e, depth, "depth", &k, 1);
    fresh(e, values, "values");
    init_tensor(e, values, (int64_t[]){2}, 1, (const float[]){0.0f, 1.0f}, NULL);
    node_begin(e, &nd, "OneHot");
    node_in(&nd, am), node_in(&nd, depth), node_in(&nd, values);
    fresh(e, out, "t");
    node_out(&nd, out);
    attr_int(&nd, "axis", -1);
    node_end(e, &nd);
}

/* x W^T + b: W (k, d) row-major (n values), b (k), doubles or floats as given. */
static void gemm(exporter *e, const char *x, const float *W, int64_t k, int64_t d, const float *b, char *out) {
    node nd;
    node_begin(e, &nd, "Gemm");
    node_in(&nd, x);
    weights_in(e, &nd, W, (int64_t[]){k, d}, 2, b, k);
    fresh(e, out, "t");
    node_out(&nd, out);
    attr_int(&nd, "transB", 1);
    node_end(e, &nd);
}

/* x coef^T + intercept: coef (k, d), intercept (k). */
static kn_status linear(exporter *e, const kn__ctensor *t, int n, int64_t d, const char *x, char *out, int64_t *k) {
    const kn__ctensor *coef = tensor(t, n, "coef", KN_F32), *b = tensor(t, n, "intercept", KN_F32);
    if (!coef || !b || coef->shape[1] != d)
        return fail(e, KN_ERR_STATE, "onnx export: a linear model's coef and intercept %s%s", "are missing", "");
    *k = coef->shape[0];
    gemm(e, x, coef->data, *k, d, b->data, out);
    return KN_OK;
}

/* gaussian_nb: jll_c = base_c - sum_j (x_j - theta_cj)^2 h_cj, base_c = log prior_c - sum_j
 * log(2 pi var_cj) / 2 and h = 1 / (2 var) (in double, as kiln's), then Softmax. */
static kn_status gaussian_nb(exporter *e, const kn__ctensor *t, int n, int64_t d, const char *x, char *out) {
    const kn__ctensor *th = tensor(t, n, "theta", KN_F32), *var = tensor(t, n, "var", KN_F32),
                      *prior = tensor(t, n, "class_prior", KN_F32);
    if (!th || !var || !prior || th->shape[1] != d)
        return fail(e, KN_ERR_STATE, "onnx export: gaussian_nb's theta, var and class_prior %s%s", "are missing", "");
    int64_t C = th->shape[0];
    const float *v = var->data, *pr = prior->data;
    float *h = malloc((size_t)(C * d) * sizeof *h), *base = malloc((size_t)C * sizeof *base);
    if (!h || !base) {
        free(h), free(base);
        return fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", "gaussian_nb", "");
    }
    for (int64_t c = 0; c < C; c++) {
        double s = log((double)pr[c]);
        for (int64_t j = 0; j < d; j++) s -= 0.5 * log(2 * M_PI * v[c * d + j]), h[c * d + j] = (float)(0.5 / v[c * d + j]);
        base[c] = (float)s;
    }
    char x3[NAME], tn[NAME], diff[NAME], sq[NAME], hn[NAME], q[NAME], s[NAME], bn[NAME], jll[NAME];
    reshape_to(e, x, (int64_t[]){0, 1, d}, 3, x3); /* (N, 1, d) against (C, d) */
    fresh(e, tn, "theta");
    init_tensor(e, tn, (int64_t[]){C, d}, 2, th->data, NULL);
    binary(e, "Sub", x3, tn, diff);
    binary(e, "Mul", diff, diff, sq);
    fresh(e, hn, "h");
    init_tensor(e, hn, (int64_t[]){C, d}, 2, h, NULL);
    binary(e, "Mul", sq, hn, q);
    reduce(e, "ReduceSum", q, (int64_t[]){2}, 1, false, s); /* (N, C) */
    fresh(e, bn, "base");
    init_tensor(e, bn, &C, 1, base, NULL);
    binary(e, "Sub", bn, s, jll);
    free(h), free(base);
    softmax(e, jll, out);
    return KN_OK;
}

/* multinomial_nb, complement_nb and bernoulli_nb: a Gemm of (binarized) x, then Softmax. */
static kn_status discrete_nb(exporter *e, kn_model *m, const kn__ctensor *t, int n, int64_t d, const char *x, char *out) {
    const char *type = m->classic->name;
    const kn__ctensor *lp = tensor(t, n, "feature_log_prob", KN_F32), *prior = tensor(t, n, "class_log_prior", KN_F32);
    if (!lp || !prior || lp->shape[1] != d)
        return fail(e, KN_ERR_STATE, "onnx export: %s's feature_log_prob and class_log_prior are missing", type, "");
    int64_t C = lp->shape[0];
    const float *L = lp->data, *P = prior->data;
    float *W = malloc((size_t)(C * d) * sizeof *W), *b = malloc((size_t)C * sizeof *b);
    if (!W || !b) {
        free(W), free(b);
        return fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", type, "");
    }
    bool bernoulli = strcmp(type, "bernoulli_nb") == 0, complement = strcmp(type, "complement_nb") == 0;
    for (int64_t c = 0; c < C; c++) {
        double s = complement ? 0 : P[c];
        for (int64_t j = 0; j < d; j++) {
            double l = L[c * d + j], neg = bernoulli ? log1p(-exp(l)) : 0; /* log(1 - p) */
            W[c * d + j] = (float)(l - neg);
            s += neg;
        }
        b[c] = (float)s;
    }
    char xb[NAME], jll[NAME];
    snprintf(xb, NAME, "%s", x);
    if (bernoulli) { /* x > binarize counts as 1 (binarize null: x as it is) */
        cJSON *hp = m->classic->describe ? m->classic->describe(m->cstate) : NULL;
        const cJSON *bz = cJSON_GetObjectItemCaseSensitive(hp, "binarize");
        if (cJSON_IsNumber(bz)) above(e, x, (float)bz->valuedouble, xb);
        cJSON_Delete(hp);
    }
    gemm(e, xb, W, C, d, b, jll);
    free(W), free(b);
    softmax(e, jll, out);
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
    attr_ints(&nd, "nodes_treeids", tree_id, n);
    attr_ints(&nd, "nodes_nodeids", node_id, n);
    attr_ints(&nd, "nodes_featureids", feat, n);
    attr_floats(&nd, "nodes_values", thr, n);
    pbw a = {0};
    field_str(&a, 1, "nodes_modes");
    put(&a, modes.p, modes.n);
    field_int(&a, 20, 8); /* STRINGS */
    field_msg(&nd.b, 5, &a);
    attr_ints(&nd, "nodes_truenodeids", yes, n);
    attr_ints(&nd, "nodes_falsenodeids", no, n);
    attr_ints(&nd, "target_treeids", t_tree, at);
    attr_ints(&nd, "target_nodeids", t_node, at);
    attr_ints(&nd, "target_ids", t_id, at);
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

/* k_nearest_neighbors: weighted vote shares (or the weighted mean target) of the k training
 * rows closest to x under the model's metric, as kn__knn_predict's (distance weights: 1 /
 * distance, the rows at distance 0 alone when there are any). Distances in float here (kiln
 * recomputes its candidates' in double): rows tied within float rounding may swap. */
static kn_status knn(exporter *e, kn_model *m, const kn__ctensor *t, int n, int64_t d, int64_t outputs, const char *x,
                     char *out) {
    const kn__ctensor *X = tensor(t, n, "fit_x", KN_F32), *y = tensor(t, n, "fit_y", KN_I32),
                      *tg = tensor(t, n, "fit_t", KN_F32), *wt = tensor(t, n, "fit_w", KN_F32);
    cJSON *hp = m->classic->describe ? m->classic->describe(m->cstate) : NULL;
    const cJSON *kj = cJSON_GetObjectItemCaseSensitive(hp, "n_neighbors"), *wj = cJSON_GetObjectItemCaseSensitive(hp, "weights"),
                *mj = cJSON_GetObjectItemCaseSensitive(hp, "metric"), *pj = cJSON_GetObjectItemCaseSensitive(hp, "p");
    int64_t k = cJSON_IsNumber(kj) ? (int64_t)kj->valuedouble : 0, rows = X ? X->shape[0] : 0;
    bool distance = cJSON_IsString(wj) && strcmp(wj->valuestring, "distance") == 0;
    const char *metric = cJSON_IsString(mj) ? mj->valuestring : "minkowski";
    double p = strcmp(metric, "euclidean") == 0 || strcmp(metric, "l2") == 0 ? 2
               : strcmp(metric, "manhattan") == 0 || strcmp(metric, "l1") == 0 || strcmp(metric, "cityblock") == 0 ? 1
               : strcmp(metric, "chebyshev") == 0 ? INFINITY
               : cJSON_IsNumber(pj) ? pj->valuedouble : 2;
    cJSON_Delete(hp);
    if (!X || (!y && !tg) || X->shape[1] != d || k < 1 || k > rows)
        return fail(e, KN_ERR_STATE, "onnx export: k_nearest_neighbors's training rows %s%s", "are missing", "");
    /* the table each neighbour's row contributes: its one-hot label (or target) times its weight,
     * and (regression) its weight alone */
    int64_t C = y ? outputs : 1, cols = y ? C : 2;
    float *table = calloc((size_t)(rows * cols), sizeof *table);
    if (!table) return fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", "k_nearest_neighbors", "");
    for (int64_t r = 0; r < rows; r++) {
        float w = wt ? ((const float *)wt->data)[r] : 1.0f;
        if (y) table[r * cols + ((const int32_t *)y->data)[r]] = w;
        else table[r * cols] = w * ((const float *)tg->data)[r], table[r * cols + 1] = w;
    }
    char x3[NAME], xn[NAME], diff[NAME], a[NAME], dist[NAME], kn[NAME], v[NAME], idx[NAME], tn[NAME], g[NAME];
    reshape_to(e, x, (int64_t[]){0, 1, d}, 3, x3); /* (N, 1, d) against (rows, d) */
    fresh(e, xn, "fit_x");
    init_tensor(e, xn, (int64_t[]){rows, d}, 2, X->data, NULL);
    binary(e, "Sub", x3, xn, diff);
    if (p == 2) {
        char sq[NAME], ss[NAME];
        binary(e, "Mul", diff, diff, sq);
        reduce(e, "ReduceSum", sq, (int64_t[]){2}, 1, false, ss);
        unary(e, "Sqrt", ss, dist);
    } else {
        unary(e, "Abs", diff, a);
        if (isinf(p)) {
            reduce(e, "ReduceMax", a, (int64_t[]){2}, 1, false, dist);
        } else if (p == 1) {
            reduce(e, "ReduceSum", a, (int64_t[]){2}, 1, false, dist);
        } else {
            char pn[NAME], ap[NAME], s[NAME], ip[NAME];
            scalar(e, pn, (float)p);
            binary(e, "Pow", a, pn, ap);
            reduce(e, "ReduceSum", ap, (int64_t[]){2}, 1, false, s);
            scalar(e, ip, (float)(1 / p));
            binary(e, "Pow", s, ip, dist);
        }
    }
    int_const(e, kn, "k", &k, 1);
    node nd;
    node_begin(e, &nd, "TopK");
    node_in(&nd, dist), node_in(&nd, kn);
    fresh(e, v, "t"), fresh(e, idx, "t");
    node_out(&nd, v), node_out(&nd, idx);
    attr_int(&nd, "axis", -1);
    attr_int(&nd, "largest", 0);
    attr_int(&nd, "sorted", 1);
    node_end(e, &nd);
    fresh(e, tn, "table");
    init_tensor(e, tn, (int64_t[]){rows, cols}, 2, table, NULL);
    free(table);
    binary(e, "Gather", tn, idx, g); /* (N, k, cols) */
    char wk[NAME], w3[NAME], gw[NAME], sum[NAME];
    if (distance) { /* 1 / distance, or (distance == 0) in a row with a neighbour at distance 0 */
        char zero[NAME], eq[NAME], eqf[NAME], any[NAME], cond[NAME], one[NAME], inv[NAME];
        scalar(e, zero, 0.0f);
        binary(e, "Equal", v, zero, eq);
        to_float(e, eq, eqf);
        reduce(e, "ReduceMax", eqf, (int64_t[]){1}, 1, true, any);
        binary(e, "Greater", any, zero, cond);
        scalar(e, one, 1.0f);
        binary(e, "Div", one, v, inv);
        where(e, cond, eqf, inv, wk);
        reshape_to(e, wk, (int64_t[]){0, k, 1}, 3, w3);
        binary(e, "Mul", g, w3, gw);
    } else {
        snprintf(gw, NAME, "%s", g);
    }
    reduce(e, "ReduceSum", gw, (int64_t[]){1}, 1, false, sum); /* (N, cols) */
    char total[NAME];
    if (y) { /* vote shares */
        reduce(e, "ReduceSum", sum, (int64_t[]){1}, 1, true, total);
        binary(e, "Div", sum, total, out);
        return KN_OK;
    }
    char num[NAME], den[NAME]; /* the weighted mean target: column 0 over column 1 */
    slice(e, sum, (int64_t[]){0}, (int64_t[]){1}, (int64_t[]){1}, 1, num);
    slice(e, sum, (int64_t[]){1}, (int64_t[]){2}, (int64_t[]){1}, 1, den);
    binary(e, "Div", num, den, out);
    return KN_OK;
}

/* svm: one-vs-one votes over every class pair's kernel decision (kn__svm_predict's); a
 * regressor (SVR, one output) gives its one decision. */
static kn_status kernel_svm(exporter *e, kn_model *m, const kn__ctensor *t, int n, int64_t d, const char *x, char *out) {
    const kn__ctensor *sv = tensor(t, n, "sv", KN_F32), *nsv = tensor(t, n, "n_sv_class", KN_I32),
                      *dc = tensor(t, n, "dual_coef", KN_F32), *b = tensor(t, n, "intercept", KN_F32);
    const bool regression = kn_model_output_size(m) == 1;
    if (tensor(t, n, "prob_a", KN_F32))
        return fail(e, KN_ERR_UNSUPPORTED, "onnx export: an svm with probability: true (LIBSVM's pairwise coupling "
                    "iterates; fit it without probabilities to export its decisions)%s%s", "", "");
    if (!sv || (!nsv && !regression) || !dc || !b || sv->shape[1] != d)
        return fail(e, KN_ERR_STATE, "onnx export: the svm's support vectors and coefficients %s%s", "are missing", "");
    cJSON *hp = m->classic->describe ? m->classic->describe(m->cstate) : NULL;
    const cJSON *kj = cJSON_GetObjectItemCaseSensitive(hp, "kernel"), *gj = cJSON_GetObjectItemCaseSensitive(hp, "gamma"),
                *dj = cJSON_GetObjectItemCaseSensitive(hp, "degree"), *cj = cJSON_GetObjectItemCaseSensitive(hp, "coef0");
    char kernel[16];
    snprintf(kernel, sizeof kernel, "%s", cJSON_IsString(kj) ? kj->valuestring : "rbf");
    float gamma = cJSON_IsNumber(gj) ? (float)gj->valuedouble : 1, coef0 = cJSON_IsNumber(cj) ? (float)cj->valuedouble : 0;
    float degree = cJSON_IsNumber(dj) ? (float)dj->valuedouble : 3;
    cJSON_Delete(hp);
    /* a regressor: one "pair" whose coefficients cover every support vector */
    const int32_t one_group[2] = {(int32_t)sv->shape[0], 0};
    int64_t S = sv->shape[0], C = regression ? 2 : nsv->shape[0], P = C * (C - 1) / 2;
    const int32_t *per = regression ? one_group : nsv->data;
    const float *D = dc->data;
    float *W = calloc((size_t)(P * S), sizeof *W), *M = calloc((size_t)(P * C), sizeof *M), *bias = malloc((size_t)C * sizeof *bias);
    float *svsq = malloc((size_t)S * sizeof *svsq);
    int64_t *start = malloc((size_t)(C + 1) * sizeof *start);
    if (!W || !M || !bias || !svsq || !start) {
        free(W), free(M), free(bias), free(svsq), free(start);
        return fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", "svm", "");
    }
    start[0] = 0;
    for (int64_t c = 0; c < C; c++) start[c + 1] = start[c] + per[c], bias[c] = (float)c; /* c pairs (a, c) vote c when not positive */
    int64_t p = 0;
    for (int64_t a = 0; a < C; a++)
        for (int64_t c = a + 1; c < C; c++, p++) {
            for (int64_t s = start[a]; s < start[a + 1]; s++) W[p * S + s] = D[(c - 1) * S + s];
            for (int64_t s = start[c]; s < start[c + 1]; s++) W[p * S + s] = D[a * S + s];
            M[a * P + p] = 1, M[c * P + p] = -1; /* (C, P): class a gains, c loses the pair's vote */
        }
    for (int64_t s = 0; s < S; s++) {
        double q = 0;
        for (int64_t j = 0; j < d; j++) q += (double)((const float *)sv->data)[s * d + j] * ((const float *)sv->data)[s * d + j];
        svsq[s] = (float)q;
    }
    char dot[NAME], k[NAME], g[NAME], c0[NAME], lin[NAME];
    node nd;
    node_begin(e, &nd, "Gemm"); /* x sv^T: (N, S) */
    node_in(&nd, x);
    weights_in(e, &nd, sv->data, (int64_t[]){S, d}, 2, NULL, 0);
    fresh(e, dot, "t");
    node_out(&nd, dot);
    attr_int(&nd, "transB", 1);
    node_end(e, &nd);
    if (strcmp(kernel, "linear") == 0) {
        snprintf(k, NAME, "%s", dot);
    } else if (strcmp(kernel, "rbf") == 0) { /* exp(-gamma max(|x|^2 + |sv|^2 - 2 x.sv, 0)) */
        char xx[NAME], xs[NAME], sq[NAME], two[NAME], t2[NAME], dist[NAME], pos[NAME], ng[NAME], arg[NAME];
        binary(e, "Mul", x, x, xx);
        reduce(e, "ReduceSum", xx, (int64_t[]){1}, 1, true, xs); /* (N, 1) */
        fresh(e, sq, "svsq");
        init_tensor(e, sq, &S, 1, svsq, NULL);
        scalar(e, two, 2.0f);
        binary(e, "Mul", dot, two, t2);
        binary(e, "Add", xs, sq, dist);
        binary(e, "Sub", dist, t2, pos);
        unary(e, "Relu", pos, dist);
        scalar(e, ng, -gamma);
        binary(e, "Mul", dist, ng, arg);
        unary(e, "Exp", arg, k);
    } else { /* poly (gamma x.sv + coef0)^degree, sigmoid tanh(gamma x.sv + coef0) */
        char gd[NAME];
        scalar(e, g, gamma);
        binary(e, "Mul", dot, g, gd);
        scalar(e, c0, coef0);
        binary(e, "Add", gd, c0, lin);
        if (strcmp(kernel, "poly") == 0) {
            char dg[NAME];
            scalar(e, dg, degree);
            binary(e, "Pow", lin, dg, k);
        } else {
            unary(e, "Tanh", lin, k);
        }
    }
    char dec[NAME], votes[NAME];
    if (regression) {
        gemm(e, k, W, 1, S, b->data, out);  /* (N, 1): the prediction */
        free(W), free(M), free(bias), free(svsq), free(start);
        return e->st;
    }
    gemm(e, k, W, P, S, b->data, dec);      /* (N, P): each pair's decision */
    above(e, dec, 0.0f, g);                 /* 1 where the first class of the pair wins */
    gemm(e, g, M, C, P, bias, votes);       /* (N, C): c + (wins - losses as first class) */
    free(W), free(M), free(bias), free(svsq), free(start);
    decided(e, votes, C, out);
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
    if (strcmp(type, "linear_svm") == 0) {
        if (outputs == 1) return linear(e, t, n, d, x, out, &k); /* LinearSVR */
        kn_status st = linear(e, t, n, d, x, z, &k);
        if (!st) decided(e, z, k, out);
        return e->st;
    }
    if (strcmp(type, "gaussian_nb") == 0) return gaussian_nb(e, t, n, d, x, out);
    if (strstr(type, "_nb")) return discrete_nb(e, m, t, n, d, x, out);
    if (strcmp(type, "k_nearest_neighbors") == 0) return knn(e, m, t, n, d, outputs, x, out);
    if (strcmp(type, "svm") == 0) return kernel_svm(e, m, t, n, d, x, out);
    return fail(e, KN_ERR_UNSUPPORTED, "onnx export: a %s model has no ONNX form here (kiln exports networks, linear and "
                "logistic regression, lasso, elastic_net, linear_svm, decision_tree, random_forest, "
                "hist_gradient_boosting, k_nearest_neighbors and the naive Bayes models)%s", type, "");
}
