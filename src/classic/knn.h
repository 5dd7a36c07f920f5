/* knn.h — k-nearest neighbours as scikit-learn's KNeighborsClassifier and KNeighborsRegressor
 * define them (1.2), brute force: fitting keeps the training rows; a prediction finds each
 * query's n_neighbors closest rows and takes their (weighted) class votes or mean target.
 *
 * Euclidean distances come from a matrix product (|q|^2 + |x|^2 - 2 q.x, kiln's sgemm), tiled
 * so that a block of queries against a block of training rows stays in cache; each query keeps
 * its closest n_neighbors + KN_KNN_SPARE candidates by that estimate, whose distances are then
 * recomputed exactly in double, so rounding in the product cannot change which rows are the
 * neighbours unless more than KN_KNN_SPARE rows crowd the boundary within float rounding.
 * Other metrics (manhattan, chebyshev, minkowski p) are summed directly, in double.
 *
 * Where kiln differs from scikit-learn on purpose: rows at equal distance are ordered by their
 * index (scikit-learn's argpartition leaves such ties in no defined order); sample and class
 * weights (classic.h), which scikit-learn's neighbours do not take, multiply each neighbour's
 * vote (and its share of a regression mean), and rows of weight 0 are left out at fit. */
#ifndef KN_CLASSIC_KNN_H
#define KN_CLASSIC_KNN_H

#include "classic/classic.h"

enum { KN_KNN_SPARE = 8 };

typedef enum { KN_KNN_UNIFORM = 0, KN_KNN_DISTANCE = 1 } kn_knn_weights;

/* Hyperparameters, scikit-learn's names and defaults: start from kn__knn_defaults(). */
typedef struct kn__knn_opts {
    int n_neighbors;        /* >= 1 (5); fewer training rows than this is an error at fit */
    kn_knn_weights weights; /* uniform: each neighbour counts 1; distance: 1 / its distance (a
                               query on a training row takes the rows at distance 0 alone) */
    double p;               /* the Minkowski power, >= 1 (2: euclidean; INFINITY: chebyshev) */
} kn__knn_opts;

kn__knn_opts kn__knn_defaults(void);

/* A fitted model: the training rows themselves. Arrays are kn__alloc'd through the fitting
 * context; free with kn__knn_free. */
typedef struct kn__knn {
    kn__knn_opts o;
    int64_t n, d;
    int n_classes;   /* classification: >= 2; regression: 0 */
    float *x;        /* (n, d) the training rows (weight-0 rows left out) */
    int32_t *y;      /* (n) labels, or NULL */
    float *t;        /* (n) regression targets, or NULL */
    float *w;        /* (n) the rows' weights, or NULL for all 1 */
    float *sq;       /* (n) |x|^2 (euclidean), rebuilt by kn__knn_prepare */
} kn__knn;

/* Fits (copies) data. Errors: KN_ERR_INVALID_ARGUMENT for bad options, fewer rows of
 * positive weight than n_neighbors, or a non-finite x; KN_ERR_OUT_OF_MEMORY. */
kn_status kn__knn_fit(kn_ctx *ctx, const kn__xy *data, const kn__knn_opts *opts, kn__knn *out);

/* Rebuilds what fitting derives from m->x (the norms), for a model loaded from a file. */
kn_status kn__knn_prepare(kn_ctx *ctx, kn__knn *m);

/* The k = m->o.n_neighbors nearest training rows of each query x (n, m->d): dist (n, k) their
 * distances, index (n, k) their rows, nearest first (either may be NULL). Parallel over query
 * blocks (kn_ctx_threads); results do not depend on the thread count. */
kn_status kn__knn_kneighbors(kn_ctx *ctx, const kn__knn *m, const float *x, int64_t n, double *dist, int64_t *index);

/* out: (n, n_classes) class probabilities (the weighted vote shares), or (n) regression
 * values. Safe to call from several threads at once. */
kn_status kn__knn_predict(kn_ctx *ctx, const kn__knn *m, const float *x, int64_t n, float *out);

/* Frees m's arrays and zeroes it (keeps nothing; m may be zeroed). */
void kn__knn_free(kn_ctx *ctx, kn__knn *m);

#endif
