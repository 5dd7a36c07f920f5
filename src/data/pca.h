/* pca.h — principal component analysis, as scikit-learn's PCA(svd_solver='full') computes
 * it, through the eigendecomposition of the covariance matrix in double precision (LAPACK
 * dsyevd, loaded on demand: core/lapack.h). The covariance is accumulated in double over
 * blocks of rows, each element in row order whatever the thread count, so a fit is
 * deterministic. */
#ifndef KN_DATA_PCA_H
#define KN_DATA_PCA_H

#include "core/core.h"

typedef struct kn__pca {
    int64_t d, k;                     /* input features, components kept */
    double *mean;                     /* (d) */
    double *components;               /* (k, d) row-major, unit rows, in decreasing explained variance */
    double *explained_variance;       /* (k), with n-1 denominator as sklearn */
    double *explained_variance_ratio; /* (k) */
} kn__pca;

/* Fits on x (n, d) row-major float, on up to kn_ctx_threads(ctx) threads. Exactly one of:
 * k in [1, min(n, d)] components (share = 0), or share in (0, 1) (k = 0): the smallest k
 * whose cumulative explained variance ratio exceeds share (sklearn's n_components=float
 * rule: searchsorted(cumsum, share, side='right') + 1, so a cumulative ratio equal to share
 * is not enough), at most min(n, d). Sign convention as sklearn >= 1.5 svd_flip(
 * u_based_decision=False): each component's entry of largest absolute value (the first of
 * equals) is positive. n >= 2 required. Errors name what is wrong ("pca: 5 components asked
 * for 3 features"): KN_ERR_INVALID_ARGUMENT for bad k, share, n or d; KN_ERR_NUMERIC for
 * NaN/infinity in x or data without variance; KN_ERR_UNSUPPORTED when LAPACK cannot be
 * loaded. On error *out is left zeroed (kn__pca_free on it is a no-op). */
kn_status kn__pca_fit(kn_ctx *ctx, const float *x, int64_t n, int64_t d, int64_t k, double share,
                      kn__pca *out);

/* y (n, k) = (x - mean) @ components^T, accumulated in double. x is (n, d) row-major. */
void kn__pca_transform(const kn__pca *p, const float *x, int64_t n, float *y);

/* Frees what kn__pca_fit allocated and zeroes *p (NULL or a zeroed p: no-op). */
void kn__pca_free(kn_ctx *ctx, kn__pca *p);

#endif
