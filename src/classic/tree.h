/* tree.h — CART decision trees and random forests as scikit-learn's DecisionTreeClassifier /
 * DecisionTreeRegressor and RandomForestClassifier / RandomForestRegressor define them (1.2:
 * criteria, stopping rules, max_features draws, bootstrap as integer weights, importances,
 * OOB score), grown with histograms over features binned once (bins.c): per node and
 * candidate feature, the (weighted) class counts or target sums by bin, scanned for the best
 * impurity decrease; the larger child's histogram is its parent's minus the smaller child's.
 * Thresholds are in raw feature units, so prediction reads raw x. With at most max_bins
 * distinct values per feature the binning loses nothing and a tree equals scikit-learn's
 * (ties between features aside: kiln takes the lowest feature index, scikit-learn the first
 * in its random visiting order). On a feature of more values than bins, a threshold lies
 * midway between the two bins' training values rather than the node's own. Limits: n < 2^31 rows; x finite (scikit-learn 1.2 refuses
 * NaN too); one output (classes, or one regression target). */
#ifndef KN_CLASSIC_TREE_H
#define KN_CLASSIC_TREE_H

#include "classic/classic.h"

/* ------------------------------------------------------------------ binning (bins.c) */

/* Features pre-binned into at most 256 bins each. Bin b of feature j holds the training
 * values x <= edges[j][b] (and > edges[j][b - 1]); no bin is empty. edges[j][b] is
 * scikit-learn's HistGradientBoosting threshold for a split between bins b and b + 1 (hgb.c
 * reads it; the trees place theirs from lower and upper). */
typedef struct kn__bins {
    int64_t n, d;
    uint8_t *codes;  /* (n, d) row-major, as x: the bin of each value (a node's rows are
                        scattered, and a row's codes sit in a few cache lines) */
    float *edges;    /* (d, 255) upper edge of bins 0..254; unused ones +inf */
    float *lower;    /* (d, 256) smallest training value in each bin (thresholds are placed
                        between a bin's largest value and the next nonempty bin's smallest) */
    float *upper;    /* (d, 256) largest training value in each bin */
    int *n_bins;     /* (d) bins of each feature, >= 1 (1: the feature is constant) */
} kn__bins;

/* Bins x (n, d) row-major, finite, into at most max_bins (2..256) bins per feature, as
 * scikit-learn's HistGradientBoosting does (without its row subsample): a feature with at
 * most max_bins distinct values gets one bin per value (edges at the midpoints); otherwise
 * edges at the max_bins-quantiles (numpy's "midpoint" percentiles), duplicate edges merged
 * and empty bins dropped (an edge between two kept bins is the quantile just above the lower
 * one). Parallel over features (kn_ctx_threads); the result does not depend on the thread
 * count. *out owns its arrays (kn__bins_free). Errors: KN_ERR_INVALID_ARGUMENT (NULL, sizes,
 * max_bins, a non-finite x), KN_ERR_OUT_OF_MEMORY. */
kn_status kn__bins_build(kn_ctx *ctx, const float *x, int64_t n, int64_t d, int max_bins, kn__bins *out);
/* The same for rows[0, n) of x (row-major, d wide): out's codes are (n, d) in that order. */
kn_status kn__bins_build_rows(kn_ctx *ctx, const float *x, const int64_t *rows, int64_t n, int64_t d, int max_bins,
                              kn__bins *out);
/* Frees what bins owns and zeroes it; NULL or zeroed is fine. */
void kn__bins_free(kn_ctx *ctx, kn__bins *bins);

/* ------------------------------------------------------------------ one tree (tree.c) */

typedef enum {
    KN_TREE_DEFAULT = 0,     /* gini for classification, squared_error for regression */
    KN_TREE_GINI,
    KN_TREE_ENTROPY,         /* scikit-learn's "entropy" / "log_loss" (log base 2) */
    KN_TREE_SQUARED_ERROR,
} kn_tree_criterion;

/* A fitted tree as flat arrays (saved as tensors). Nodes are numbered in preorder (a node,
 * its left subtree, its right subtree) as scikit-learn's; node 0 is the root. */
typedef struct kn__tree {
    int64_t n_nodes, d;
    int n_outputs;          /* classes (class fractions per node) or 1 (regression mean) */
    int32_t *feature;       /* (n_nodes) split feature, -1 for a leaf */
    float *threshold;       /* (n_nodes) go left when x[feature] <= threshold (raw units); 0 for a leaf */
    int32_t *left, *right;  /* (n_nodes) children, -1 for a leaf */
    float *value;           /* (n_nodes, n_outputs) weighted class fractions, or the weighted mean */
    int32_t *n_samples;     /* (n_nodes) training rows reaching the node (bootstrap: distinct rows) */
    float *impurity;        /* (n_nodes) the criterion's impurity at the node */
    double *importance;     /* (d) impurity-decrease importances, summing to 1 (all 0 for a
                               single leaf), as scikit-learn's feature_importances_ */
} kn__tree;

/* Hyperparameters, named and defaulted as scikit-learn's (zeroed fields take the default). */
typedef struct kn__tree_opts {
    kn_tree_criterion criterion;
    int max_depth;             /* 0 = none; the root has depth 0 */
    int64_t min_samples_split; /* 0 = 2; a node with fewer rows is a leaf */
    int64_t min_samples_leaf;  /* 0 = 1; a split is valid only if both children get this many rows */
    int max_features;          /* features drawn per node, 0 = all (a forest: sqrt(d) for
                                  classification, d for regression, scikit-learn's defaults) */
    int max_bins;              /* 0 = 256; 2..256 (kiln's, for the binning) */
    uint64_t seed;             /* scikit-learn's random_state */
} kn__tree_opts;

/* Fits a tree on xy (classification when xy->y is set, regression when xy->t is). bins: x
 * binned by kn__bins_build (same n and d), or NULL to bin here with opts->max_bins. Rows of
 * weight 0 take no part. Parallel over features within a node (kn_ctx_threads); the tree does
 * not depend on the thread count. *out owns its arrays (kn__tree_free). Errors:
 * KN_ERR_INVALID_ARGUMENT naming the field ("decision_tree.max_depth: -1 must be >= 0") or
 * the data at fault; KN_ERR_OUT_OF_MEMORY. */
kn_status kn__tree_fit(kn_ctx *ctx, const kn__xy *xy, const kn__bins *bins, const kn__tree_opts *opts,
                       kn__tree *out);
/* x (n, d) -> out (n, n_outputs): the class fractions, or the mean, of each row's leaf. */
void kn__tree_predict(const kn__tree *t, const float *x, int64_t n, float *out);
/* Frees what t owns and zeroes it; NULL or zeroed is fine. */
void kn__tree_free(kn_ctx *ctx, kn__tree *t);
/* The tree as scikit-learn's export_text(tree, feature_names=...) prints it (max_depth 10,
 * spacing 3, decimals 2). feature_names (d) may be NULL ("feature_<j>"); class_names
 * (n_outputs) may be NULL (the class index, as scikit-learn prints integer labels). *out is
 * NUL-terminated, allocated through ctx (kn__free). */
kn_status kn__tree_export_text(kn_ctx *ctx, const kn__tree *t, const char *const *feature_names,
                               const char *const *class_names, char **out);

/* ------------------------------------------------------------------ forests (forest.c) */

typedef struct kn__forest {
    int n_trees;
    kn__tree *trees;     /* (n_trees) */
    int64_t d;
    int n_outputs;
    double *importance;  /* (d) the mean of the trees' importances (trees of one node left
                            out), normalized to sum 1, as scikit-learn's */
    double oob_score;    /* out-of-bag accuracy or R², NaN unless asked for */
} kn__forest;

typedef struct kn__forest_opts {
    kn__tree_opts tree;  /* per tree; max_features 0 = sqrt(d) (classification) or d (regression) */
    int n_estimators;    /* 0 = 100 */
    bool no_bootstrap;   /* scikit-learn's bootstrap=False (each tree sees every row once) */
    bool oob_score;      /* needs the bootstrap */
} kn__forest_opts;

/* Fits a forest: x binned once; trees grown in parallel (one pool chunk per tree), tree k
 * seeded by (opts->tree.seed, k) so the forest does not depend on the thread count; each
 * bootstrap draws n rows with replacement, kept as integer weights (times xy->w) as
 * scikit-learn does. *out owns everything (kn__forest_free). Errors as kn__tree_fit's, the
 * fields named "random_forest.<field>". */
kn_status kn__forest_fit(kn_ctx *ctx, const kn__xy *xy, const kn__forest_opts *opts, kn__forest *out);
/* x (n, d) -> out (n, n_outputs): the mean of the trees' outputs (class probabilities). */
void kn__forest_predict(const kn__forest *f, const float *x, int64_t n, float *out);
void kn__forest_free(kn_ctx *ctx, kn__forest *f);

/* ------------------------------------------------------------------ internal (tree.c, forest.c) */

/* The leaf a row of d features reaches (scikit-learn's apply). */
int32_t kn__tree_leaf(const kn__tree *t, const float *row);

/* opts with the zero fields given their defaults (forest: scikit-learn's forest max_features). */
kn__tree_opts kn__tree_defaults(const kn__tree_opts *opts, const kn__xy *xy, bool forest);

/* Checks opts against xy, with messages prefixed by `who` ("decision_tree"). */
kn_status kn__tree_check(kn_ctx *ctx, const char *who, const kn__xy *xy, const kn__tree_opts *opts);
/* Checks the data alone (sizes, labels in range, finite targets, weights >= 0 summing > 0);
 * kn__tree_check's first half, shared with hgb.c. */
kn_status kn__xy_check(kn_ctx *ctx, const char *who, const kn__xy *xy);

/* Checks nodes [0, n) of one loaded tree, children counted from its first node: every index
 * in range, children after their parent (no loops), with left_next each left child the next
 * node (preorder), leaves marked consistently (feature -1, children -1), thresholds and
 * values (n, outputs) finite. NULL when valid, else the name of the array at fault
 * ("feature", "left", "right", "threshold", "value"), its node in *node. */
const char *kn__tree_nodes_check(int64_t n, int64_t d, int outputs, bool left_next, const int32_t *feature, const int32_t *left,
                                 const int32_t *right, const float *threshold, const float *value, int64_t *node);

/* One tree's growth as the forest asks it: weights (n) replace xy->w when set (0: the row
 * is out of the sample); threads for the split search; lock (a pthread_mutex_t *, or NULL)
 * serializes allocations through ctx when trees grow in parallel. Returns a status without
 * a message (the caller writes it). opts already checked and defaulted. */
kn_status kn__tree_grow(kn_ctx *ctx, const kn__xy *xy, const kn__bins *bins, const kn__tree_opts *opts,
                        const float *weights, uint64_t seed, int threads, void *lock, kn__tree *out);

/* The largest float <= a/2 + b/2 (taken in double) for a < b: scikit-learn's threshold
 * between two values, rounded down so that a float x <= it exactly when x <= the double
 * midpoint (bins.c). */
float kn__tree_midpoint(float a, float b);

#endif
