/* hgb.h — gradient-boosted trees as scikit-learn 1.2's HistGradientBoostingRegressor /
 * HistGradientBoostingClassifier define them: features binned once (bins.c), each iteration
 * one tree per output (one for regression and binary log-loss, one per class for multinomial
 * log-loss) grown leaf-wise (best gain first, as its heap orders nodes) on histograms of the
 * loss's gradients and hessians, the larger child's histogram its parent's minus the
 * smaller's; leaf values -G / (H + l2) times the learning rate; the baseline, losses, split
 * gain, stopping rules and early stopping as scikit-learn computes them. Thresholds are in
 * raw units (the bin edges), so prediction reads raw x. hgb.c boosts and predicts,
 * hgb_grow.c grows one tree. Limits: x finite (no missing-value bin: kiln refuses NaN);
 * numeric features only (no categorical splits, monotonic or interaction constraints);
 * scoring by the loss only; the quantiles of a feature of more than max_bins values come from
 * every training row (scikit-learn's from a random 200,000 when there are more); the
 * early-stopping validation rows are drawn by kiln's RNG, not numpy's. */
#ifndef KN_CLASSIC_HGB_H
#define KN_CLASSIC_HGB_H

#include "classic/tree.h"

typedef enum {
    KN_HGB_LOSS_DEFAULT = 0, /* squared_error for regression, log_loss for classification */
    KN_HGB_SQUARED_ERROR,
    KN_HGB_ABSOLUTE_ERROR,   /* leaves set to the (weighted) median of their residuals */
    KN_HGB_LOG_LOSS,         /* binary: logistic, one tree an iteration; more classes: softmax */
} kn_hgb_loss;

/* What early stopping watches (scikit-learn's scoring): the loss (the default), or a scorer
 * of the predictions, higher better: accuracy (classification), r2, neg_mean_squared_error,
 * neg_mean_absolute_error (regression); each weighted by the sample weights. */
typedef enum {
    KN_HGB_SCORE_LOSS = 0,
    KN_HGB_SCORE_ACCURACY,
    KN_HGB_SCORE_R2,
    KN_HGB_SCORE_NEG_MSE,
    KN_HGB_SCORE_NEG_MAE,
    KN_HGB_SCORE_COUNT
} kn_hgb_scoring;
extern const char *const kn__hgb_scoring_names[KN_HGB_SCORE_COUNT];

/* Hyperparameters, named as scikit-learn's; kn__hgb_defaults() gives its defaults. */
typedef struct kn__hgb_opts {
    kn_hgb_loss loss;
    double learning_rate;        /* 0.1; > 0 */
    int max_iter;                /* 100; >= 1 */
    int max_leaf_nodes;          /* 31; >= 2, or 0: no limit */
    int max_depth;               /* 0: no limit; else >= 1 (the root has depth 0) */
    int min_samples_leaf;        /* 20; >= 1 */
    double l2_regularization;    /* 0; >= 0 */
    int max_bins;                /* 255; 2..255 */
    int early_stopping;          /* -1 "auto" (on when there are more than 10,000 rows), 0 off, 1 on */
    double validation_fraction;  /* 0.1: in (0, 1) a fraction of the rows (rounded up), >= 1 a row
                                    count, 0 none (the training loss is watched) */
    kn_hgb_scoring scoring;      /* loss */
    int n_iter_no_change;        /* 10; >= 1 */
    double tol;                  /* 1e-7; >= 0 */
    uint64_t seed;               /* random_state: the validation rows */
} kn__hgb_opts;

kn__hgb_opts kn__hgb_defaults(void);

/* A fitted model as flat arrays (saved as tensors, and read as they are by prediction, so
 * what kn_model_param writes into threshold or value takes effect): the trees of every
 * iteration end to end, tree t = iteration t / k, output t % k, each in preorder (a node's
 * left child is the next node). */
typedef struct kn__hgb {
    int64_t d;
    int n_classes;          /* 0 for regression */
    int k;                  /* trees per iteration: n_classes when > 2, else 1 */
    int n_iter;             /* iterations run (scikit-learn's n_iter_) */
    kn_hgb_loss loss;       /* resolved: never KN_HGB_LOSS_DEFAULT */
    float *baseline;        /* (k) the raw score before any tree (scikit-learn's _baseline_prediction) */
    int64_t n_nodes;
    int32_t *node_offset;   /* (n_iter * k + 1) first node of each tree; the last is n_nodes */
    int32_t *feature;       /* (n_nodes) split feature, -1 for a leaf */
    float *threshold;       /* (n_nodes) go left when x <= threshold (raw units); 0 for a leaf */
    int32_t *left, *right;  /* (n_nodes) children counted from their tree's first node; -1 for a leaf */
    float *value;           /* (n_nodes) the raw score a leaf adds (learning rate applied); at an
                               internal node what it would add as a leaf */
    int32_t *n_samples;     /* (n_nodes) training rows reaching the node */
    int n_scores;           /* early stopping: scores recorded (n_iter + 1), else 0 */
    double *train_score;      /* (n_scores) minus the training loss before each iteration and after the last */
    double *validation_score; /* (n_scores) the same on the validation rows, or NULL without them */
} kn__hgb;

/* Fits on xy (classification when xy->y is set: log_loss; regression when xy->t is). Rows
 * of weight 0 count for the binning and min_samples_leaf as scikit-learn's do. Parallel over
 * features within a node, or over the trees of one iteration (multinomial); the model does
 * not depend on the thread count. *out owns its arrays (kn__hgb_free). Errors:
 * KN_ERR_INVALID_ARGUMENT naming the field ("hist_gradient_boosting.learning_rate: -1 must be
 * > 0") or the data at fault; KN_ERR_OUT_OF_MEMORY. */
kn_status kn__hgb_fit(kn_ctx *ctx, const kn__xy *xy, const kn__hgb_opts *opts, kn__hgb *out);
/* x (n, d) -> raw (n, k): the baseline plus every tree's leaf (scikit-learn's
 * decision_function, in double). Parallel over rows; safe from several threads at once. */
void kn__hgb_raw(kn_ctx *ctx, const kn__hgb *h, const float *x, int64_t n, double *raw);
/* x (n, d) -> out (n, outputs): class probabilities (the sigmoid or softmax of the raw scores)
 * or regression values. Allocates nothing; safe from several threads at once. */
void kn__hgb_predict(kn_ctx *ctx, const kn__hgb *h, const float *x, int64_t n, float *out);
/* (Re)allocates h's six node arrays for cap >= h->n_nodes nodes, keeping the first n_nodes;
 * KN_ERR_OUT_OF_MEMORY with a message. */
kn_status kn__hgb_reserve(kn_ctx *ctx, kn__hgb *h, int64_t cap);
/* Frees what h owns and zeroes it; NULL or zeroed is fine. */
void kn__hgb_free(kn_ctx *ctx, kn__hgb *h);

/* ------------------------------------------------------------------ one tree (hgb_grow.c) */

/* A grown tree in preorder, owned by its grower (valid until its next tree). */
typedef struct kn__hgb_tree {
    int64_t n_nodes;
    int32_t *feature, *left, *right, *n_samples; /* (n_nodes) as kn__hgb's */
    float *threshold;                            /* (n_nodes) */
    double *value;                               /* (n_nodes) learning rate applied */
    int64_t *start, *stop;                       /* (n_nodes) a leaf's rows: rows[start, stop) */
    const int32_t *rows;                         /* (n) the training rows in leaf order */
} kn__hgb_tree;

typedef struct kn__hgb_grower kn__hgb_grower;

/* A grower for codes in blocks of 8 features (ceil(d / 8), n): word [j / 8][i] holds row i's
 * codes of features 8 (j / 8) .. + 7, feature j's in bits 8 (j % 8) .. + 7 (0 past d); and
 * the same codes row by row, rows padded to 8 ceil(d / 8) bytes (rowcodes); binned into
 * n_bins[j] bins with edges (d, 255) as kn__bins's. threads: the most its trees will be
 * grown with. lock (a pthread_mutex_t *, or NULL) serializes its allocations through ctx
 * when growers run side by side. */
kn_status kn__hgb_grower_new(kn_ctx *ctx, const uint64_t *codes, const uint8_t *rowcodes, int64_t n, int64_t d, const int *n_bins,
                             const float *edges, const kn__hgb_opts *opts, int threads, void *lock, kn__hgb_grower **out);
/* Grows one tree on gradients g (n) and hessians h (n, or NULL: all 1, counted instead of
 * summed as scikit-learn does for a constant hessian), with `threads` for the histograms and
 * the split search. KN_ERR_OUT_OF_MEMORY without a message (the caller writes it). */
kn_status kn__hgb_grow(kn__hgb_grower *w, const float *g, const float *h, int threads, const kn__hgb_tree **out);
void kn__hgb_grower_free(kn__hgb_grower *w);

#endif
