/* pca.c — PCA through the covariance matrix (pca.h).
 *
 * Fit: two passes over x. The first sums each feature in double (row order) for the mean.
 * The second centers blocks of ROWS rows into doubles, padded to a multiple of 8 features
 * with zeros, and adds each block's B^T B to the upper triangle of the covariance, tile by
 * tile (TILE x TILE). A tile belongs to one chunk of kiln's pool, and inside it each element
 * is a running sum over the rows in order, so the result is the same on any number of
 * threads. Then the upper triangle is mirrored, scaled by 1/(n-1), and LAPACK's dsyevd gives
 * the eigenvalues (the explained variances) and eigenvectors (the components).
 *
 * Against sklearn's SVD of the centered data this squares the condition number: variances
 * below ~1e-16 of the largest are noise (sklearn's are accurate further down), and are
 * clamped at zero. For what PCA is used for (keeping the leading components) that is
 * immaterial, and it costs O(n d^2 / 2) instead of the SVD's O(n d^2) plus an (n, d) copy. */
#include "data/pca.h"

#include <math.h>
#include <string.h>

#include "core/lapack.h"
#include "core/pool.h"

enum {
    ROWS = 256,   /* rows centered per block: B is ROWS x dp doubles */
    TILE = 64,    /* covariance tile edge; a multiple of 8 */
    PAD = 8,      /* features padded to a multiple of the 4 x 8 micro-tile (8 doubles: a line) */
};
#define PCA_MAX_FEATURES 32767 /* dsyevd's workspace (1 + 6d + 2d^2) must fit a 32-bit int */

typedef double v4d __attribute__((vector_size(32)));

/* acc += a * b, one fused multiply-add a lane where the build has FMA (kiln's default flags
 * do): the same bits on every thread count either way. */
#if defined(__FMA__) && defined(__AVX__)
#include <immintrin.h>
#define MADD(acc, a, b) ((acc) = _mm256_fmadd_pd(_mm256_set1_pd(a), (b), (acc)))
#else
#define MADD(acc, a, b) ((acc) += (a) * (b))
#endif

static inline v4d load4(const double *p) {
    v4d v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void store4(double *p, v4d v) { memcpy(p, &v, sizeof v); }

typedef struct {
    const double *b;     /* (rows, dp) centered block */
    double *cov;         /* (dp, dp) row-major; upper triangle tiles accumulated */
    const int32_t *tiles; /* pairs (bi, bj), bi <= bj */
    int64_t rows, dp;
} cov_job;

/* cov[i0..i0+4, j0..j0+8] += sum over rows r of b[r, i] * b[r, j], in row order. */
static void micro_4x8(const double *b, int64_t rows, int64_t dp, double *cov, int64_t i0, int64_t j0) {
    v4d acc[4][2];
    for (int ii = 0; ii < 4; ii++) {
        acc[ii][0] = load4(cov + (i0 + ii) * dp + j0);
        acc[ii][1] = load4(cov + (i0 + ii) * dp + j0 + 4);
    }
    for (int64_t r = 0; r < rows; r++) {
        const double *row = b + r * dp;
        v4d b0 = load4(row + j0), b1 = load4(row + j0 + 4);
        for (int ii = 0; ii < 4; ii++) {
            double a = row[i0 + ii];
            MADD(acc[ii][0], a, b0);
            MADD(acc[ii][1], a, b1);
        }
    }
    for (int ii = 0; ii < 4; ii++) {
        store4(cov + (i0 + ii) * dp + j0, acc[ii][0]);
        store4(cov + (i0 + ii) * dp + j0 + 4, acc[ii][1]);
    }
}

static void cov_tile(void *args, int64_t t) {
    const cov_job *j = args;
    int64_t i_lo = (int64_t)j->tiles[2 * t] * TILE, j_lo = (int64_t)j->tiles[2 * t + 1] * TILE;
    int64_t i_hi = i_lo + TILE < j->dp ? i_lo + TILE : j->dp;
    int64_t j_hi = j_lo + TILE < j->dp ? j_lo + TILE : j->dp;
    /* j outer: the 8-column panel of b stays in L1 while the 4-column panels pass */
    for (int64_t j0 = j_lo; j0 < j_hi; j0 += 8)
        for (int64_t i0 = i_lo; i0 < i_hi; i0 += 4) {
            if (j0 + 8 <= i0) break; /* wholly below the diagonal (only in diagonal tiles) */
            micro_4x8(j->b, j->rows, j->dp, j->cov, i0, j0);
        }
}

/* The first component index (of the d-vector v) of largest absolute value. */
static int64_t argmax_abs(const double *v, int64_t d) {
    int64_t best = 0;
    for (int64_t j = 1; j < d; j++)
        if (fabs(v[j]) > fabs(v[best])) best = j;
    return best;
}

void kn__pca_free(kn_ctx *ctx, kn__pca *p) {
    if (!p) return;
    kn__free(ctx, p->mean);
    kn__free(ctx, p->components);
    kn__free(ctx, p->explained_variance);
    kn__free(ctx, p->explained_variance_ratio);
    memset(p, 0, sizeof *p);
}

kn_status kn__pca_fit(kn_ctx *ctx, const float *x, int64_t n, int64_t d, int64_t k, double share,
                      kn__pca *out) {
    if (!out) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "pca: no output");
    memset(out, 0, sizeof *out);
    if (n < 2) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "pca: needs at least 2 rows, got %lld", (long long)n);
    if (d < 1) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "pca: needs at least 1 feature, got %lld", (long long)d);
    if (d > PCA_MAX_FEATURES)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "pca: %lld features, at most %d (LAPACK's workspace limit)",
                         (long long)d, PCA_MAX_FEATURES);
    if (!x) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "pca: no data");
    if (k != 0 && share != 0)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "pca: give a number of components or a share of variance, not both");
    if (k == 0 && share == 0)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "pca: give a number of components or a share of variance");
    if (k < 0) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "pca: %lld components asked for (at least 1)", (long long)k);
    if (k > d)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "pca: %lld components asked for %lld features",
                         (long long)k, (long long)d);
    if (k > n)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "pca: %lld components asked for %lld rows (at most min(rows, features))",
                         (long long)k, (long long)n);
    if (k == 0 && !(share > 0 && share < 1))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "pca: share of variance %g is not in (0, 1)", share);
    size_t nd;
    if (!kn__mul_size((size_t)n, (size_t)d, &nd))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "pca: %lld x %lld is too large", (long long)n, (long long)d);
    if (!kn__all_finite(x, nd)) return kn__error(ctx, KN_ERR_NUMERIC, "pca: the data has NaN or infinity");
    kn_status st = kn__lapack_require(ctx, "PCA");
    if (st != KN_OK) return st;

    /* rows of b an odd number of cache lines apart, so a column panel's lines spread over
     * every L1 set (a 1024-feature stride of 8 KiB put them all in one: 1.8x slower) */
    int64_t dp = (d + PAD - 1) / PAD * PAD;
    if ((dp / PAD) % 2 == 0) dp += PAD;
    const int64_t nt = (dp + TILE - 1) / TILE;
    const int64_t n_tiles = nt * (nt + 1) / 2;
    double *mean = kn__calloc(ctx, (size_t)d, sizeof *mean);
    double *cov = kn__calloc(ctx, (size_t)dp * (size_t)dp, sizeof *cov);
    double *b = kn__calloc(ctx, (size_t)ROWS * (size_t)dp, sizeof *b);
    double *w = kn__calloc(ctx, (size_t)d, sizeof *w);
    int32_t *tiles = kn__calloc(ctx, 2 * (size_t)n_tiles, sizeof *tiles);
    kn__pca p = {.d = d};
    if (!mean || !cov || !b || !w || !tiles) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "pca: no memory for the %lld x %lld covariance", (long long)d, (long long)d);
        goto done;
    }

    /* mean */
    for (int64_t r = 0; r < n; r++) {
        const float *row = x + r * d;
        for (int64_t j = 0; j < d; j++) mean[j] += row[j];
    }
    for (int64_t j = 0; j < d; j++) mean[j] /= (double)n;

    /* covariance, upper triangle */
    int64_t t = 0;
    for (int64_t bi = 0; bi < nt; bi++)
        for (int64_t bj = bi; bj < nt; bj++) {
            tiles[2 * t] = (int32_t)bi;
            tiles[2 * t + 1] = (int32_t)bj;
            t++;
        }
    /* a block of 256 rows on 64 features is ~0.5 M multiply-adds: below that, one thread */
    int threads = dp * dp * ROWS >= ((int64_t)1 << 21) ? kn_ctx_threads(ctx) : 1;
    for (int64_t r0 = 0; r0 < n; r0 += ROWS) {
        int64_t rows = n - r0 < ROWS ? n - r0 : ROWS;
        for (int64_t r = 0; r < rows; r++) {
            const float *src = x + (r0 + r) * d;
            double *dst = b + r * dp;
            for (int64_t j = 0; j < d; j++) dst[j] = (double)src[j] - mean[j];
        }
        cov_job job = {b, cov, tiles, rows, dp};
        kn__pool_run(threads, n_tiles, cov_tile, &job);
    }

    /* (dp, dp) -> (d, d) in place (each row moves to a lower address), mirror, scale */
    for (int64_t i = 0; i < d; i++) memmove(cov + i * d, cov + i * dp, (size_t)d * sizeof *cov);
    const double scale = 1.0 / (double)(n - 1);
    double total = 0;
    for (int64_t i = 0; i < d; i++) {
        for (int64_t j = i; j < d; j++) cov[i * d + j] *= scale;
        for (int64_t j = 0; j < i; j++) cov[i * d + j] = cov[j * d + i];
        total += cov[i * d + i];
    }
    if (!(total > 0)) {
        st = kn__error(ctx, KN_ERR_NUMERIC, "pca: the data has no variance (all %lld rows are equal)", (long long)n);
        goto done;
    }

    st = kn__lapack_syevd(ctx, (int)d, cov, w);
    if (st != KN_OK) goto done;

    /* eigenvalue c-th largest: w[d-1-c], its eigenvector column d-1-c (contiguous) */
    const int64_t kmax = n < d ? n : d;
    if (k == 0) {
        double cum = 0;
        int64_t below = 0; /* components whose cumulative ratio is <= share */
        for (int64_t c = 0; c < kmax; c++) {
            double ev = w[d - 1 - c] > 0 ? w[d - 1 - c] : 0;
            cum += ev / total;
            if (cum <= share) below = c + 1;
            else break;
        }
        k = below + 1 < kmax ? below + 1 : kmax;
    }
    p.k = k;
    p.mean = mean;
    mean = NULL;
    p.components = kn__calloc(ctx, (size_t)k * (size_t)d, sizeof *p.components);
    p.explained_variance = kn__calloc(ctx, (size_t)k, sizeof *p.explained_variance);
    p.explained_variance_ratio = kn__calloc(ctx, (size_t)k, sizeof *p.explained_variance_ratio);
    if (!p.components || !p.explained_variance || !p.explained_variance_ratio) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "pca: no memory for %lld components", (long long)k);
        goto done;
    }
    for (int64_t c = 0; c < k; c++) {
        const double *v = cov + (d - 1 - c) * d;
        double *dst = p.components + c * d;
        double sign = v[argmax_abs(v, d)] < 0 ? -1.0 : 1.0;
        for (int64_t j = 0; j < d; j++) dst[j] = sign * v[j];
        double ev = w[d - 1 - c] > 0 ? w[d - 1 - c] : 0;
        p.explained_variance[c] = ev;
        p.explained_variance_ratio[c] = ev / total;
    }
    *out = p;
    memset(&p, 0, sizeof p);

done:
    kn__pca_free(ctx, &p);
    kn__free(ctx, mean);
    kn__free(ctx, cov);
    kn__free(ctx, b);
    kn__free(ctx, w);
    kn__free(ctx, tiles);
    return st;
}

void kn__pca_transform(const kn__pca *p, const float *x, int64_t n, float *y) {
    const int64_t d = p->d, k = p->k;
    const double *mean = p->mean;
    for (int64_t r = 0; r < n; r++) {
        const float *row = x + r * d;
        float *yr = y + r * k;
        /* four components at a time, each a 4-lane running sum over the features */
        for (int64_t c0 = 0; c0 < k; c0 += 4) {
            int nc = k - c0 < 4 ? (int)(k - c0) : 4;
            const double *comp[4];
            for (int cc = 0; cc < 4; cc++) comp[cc] = p->components + (c0 + (cc < nc ? cc : 0)) * d;
            v4d acc[4] = {{0}};
            int64_t j = 0;
            for (; j + 4 <= d; j += 4) {
                v4d v = {(double)row[j] - mean[j], (double)row[j + 1] - mean[j + 1],
                         (double)row[j + 2] - mean[j + 2], (double)row[j + 3] - mean[j + 3]};
                for (int cc = 0; cc < 4; cc++) acc[cc] += v * load4(comp[cc] + j);
            }
            for (int cc = 0; cc < nc; cc++) {
                double s = (acc[cc][0] + acc[cc][1]) + (acc[cc][2] + acc[cc][3]);
                for (int64_t jj = j; jj < d; jj++) s += ((double)row[jj] - mean[jj]) * comp[cc][jj];
                yr[c0 + cc] = (float)s;
            }
        }
    }
}
