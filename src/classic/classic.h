/* classic.h — what the classical models (linear and logistic regression, decision trees,
 * random forests and gradient-boosted trees, linear and kernel SVMs) share: the training data
 * as they see it, and the conventions every one follows. Each model lives in its own files
 * (linear.c, logistic.c, tree.c, forest.c, hgb.c, svm_linear.c, svm_kernel.c), fits into a
 * struct of flat arrays (saved as tensors of a .kiln file by io/, described in the model's
 * header) and predicts from it.
 *
 * Conventions:
 * - x is (n, d) row-major float32; fitting accumulates in double where it matters.
 * - classification labels are int32 in [0, n_classes); regression targets float32 (n).
 * - sample weights w (n) may be NULL (all 1); class weights are folded into w by the caller
 *   (kn__class_weights), as scikit-learn's class_weight multiplies sample_weight.
 * - hyperparameters are named and defaulted as scikit-learn's (the opts structs say which),
 *   and every bad value is refused with KN_ERR_INVALID_ARGUMENT and a message naming it
 *   ("logistic_regression.C: -1 must be > 0").
 * - threads: kn_ctx_threads(ctx) through kn__pool_run (core/pool.h); results never depend
 *   on the thread count; randomness from kn__rng_u64(seed, stream, counter).
 * - fitting may allocate; predicting into caller buffers does not. */
#ifndef KN_CLASSIC_H
#define KN_CLASSIC_H

#include "core/core.h"

typedef struct kn__xy {
    const float *x;       /* (n, d) */
    int64_t n, d;
    const int32_t *y;     /* (n) classification labels, or NULL */
    int n_classes;        /* classification: >= 2; regression: 0 */
    const float *t;       /* (n) regression targets, or NULL */
    const float *w;       /* (n) sample weights, or NULL */
} kn__xy;

/* Streams for the classical models' randomness (beside core.h's). */
enum { KN_STREAM_TREE = 3000, KN_STREAM_FOREST = 4000, KN_STREAM_SVM = 5000, KN_STREAM_LINEAR = 6000, KN_STREAM_HGB = 7000 };

#endif
