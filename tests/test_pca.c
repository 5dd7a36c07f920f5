/* test_pca.c — PCA (data/pca.c) and the LAPACK wrappers (core/lapack.c): a hand-worked 2-D
 * case, scikit-learn's values for two fixed data sets (tests/golden/pca.txt, made by
 * tests/golden/make_pca.py), the blocked covariance against a plain one and across thread
 * counts, the errors, Cholesky and least-squares solves with known solutions, and what
 * happens when LAPACK cannot be loaded (in a child process). Exits 77 (skip) when this
 * machine has no LAPACK. Run from the repository root. */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core/lapack.h"
#include "data/pca.h"

/* ------------------------------------------------------------------ golden file */

#include "golden.h"

/* |a - ref| within rel of |ref|, or of floor for values near zero. */
static int close_to(double a, double ref, double rel, double floor) {
    double scale = fabs(ref) > floor ? fabs(ref) : floor;
    return fabs(a - ref) <= rel * scale;
}

static void check_array(const char *what, const double *got, const double *ref, int n, double rel, double floor) {
    int bad = 0;
    for (int i = 0; i < n; i++)
        if (!close_to(got[i], ref[i], rel, floor)) {
            if (bad++ < 3) CHECK(0, "%s[%d] = %.12g, scikit-learn %.12g", what, i, got[i], ref[i]);
        }
    if (bad > 3) CHECK(0, "%s: %d more differ", what, bad - 3);
}

/* Fits the golden set tag with its k and compares everything recorded for it. */
static void golden_set(kn_ctx *ctx, const char *tag) {
    char key[64];
    double shape[2] = {0}, kd = 0;
    snprintf(key, sizeof key, "%s_shape", tag);
    int ok = get(key, shape, 2) == 2;
    snprintf(key, sizeof key, "%s_k", tag);
    ok = ok && get(key, &kd, 1) == 1;
    CHECK(ok, "%s: golden shape/k missing", tag);
    if (!ok) return;
    int n = (int)shape[0], d = (int)shape[1], k = (int)kd;
    double *xd = malloc(sizeof(double) * (size_t)n * (size_t)d);
    double *ref = malloc(sizeof(double) * (size_t)n * (size_t)d);
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)d);
    float *y = malloc(sizeof(float) * 5 * (size_t)k);
    snprintf(key, sizeof key, "%s_x", tag);
    CHECK(get(key, xd, n * d) == n * d, "%s: golden x", tag);
    for (int i = 0; i < n * d; i++) x[i] = (float)xd[i];

    kn__pca p;
    kn_status st = kn__pca_fit(ctx, x, n, d, k, 0, &p);
    CHECK(st == KN_OK, "%s: fit: %s", tag, kn_last_error(ctx));
    if (st == KN_OK) {
        CHECK(p.d == d && p.k == k, "%s: d %lld k %lld", tag, (long long)p.d, (long long)p.k);
        char what[64];
        snprintf(key, sizeof key, "%s_mean", tag);
        CHECK(get(key, ref, d) == d, "%s: golden mean", tag);
        snprintf(what, sizeof what, "%s mean", tag);
        check_array(what, p.mean, ref, d, 1e-5, 1e-5);
        snprintf(key, sizeof key, "%s_components", tag);
        CHECK(get(key, ref, k * d) == k * d, "%s: golden components", tag);
        snprintf(what, sizeof what, "%s components", tag);
        check_array(what, p.components, ref, k * d, 1e-5, 1e-5);
        snprintf(key, sizeof key, "%s_explained_variance", tag);
        CHECK(get(key, ref, k) == k, "%s: golden explained_variance", tag);
        snprintf(what, sizeof what, "%s explained_variance", tag);
        check_array(what, p.explained_variance, ref, k, 1e-5, 0);
        snprintf(key, sizeof key, "%s_ratio", tag);
        CHECK(get(key, ref, k) == k, "%s: golden ratio", tag);
        snprintf(what, sizeof what, "%s explained_variance_ratio", tag);
        check_array(what, p.explained_variance_ratio, ref, k, 1e-5, 0);
        double ratio0 = ref[0];
        kn__pca_transform(&p, x, 5, y);
        double yd[64];
        for (int i = 0; i < 5 * k; i++) yd[i] = y[i];
        snprintf(key, sizeof key, "%s_transform", tag);
        CHECK(get(key, ref, 5 * k) == 5 * k, "%s: golden transform", tag);
        snprintf(what, sizeof what, "%s transform", tag);
        check_array(what, yd, ref, 5 * k, 1e-5, 1e-3);
        printf("%s: %dx%d, k=%d: first ratio %.9f (scikit-learn %.9f)\n", tag, n, d, k,
               p.explained_variance_ratio[0], ratio0);
    }
    kn__pca_free(ctx, &p);

    if (strcmp(tag, "a") == 0) {
        /* all components: the ratios; and the share rule picks sklearn's k */
        double all[6];
        CHECK(get("a_ratio_all", all, 6) == 6, "golden a_ratio_all");
        st = kn__pca_fit(ctx, x, n, d, 6, 0, &p);
        CHECK(st == KN_OK, "a k=6: %s", kn_last_error(ctx));
        double first = 0.5;
        if (st == KN_OK) {
            check_array("a ratio (k=6)", p.explained_variance_ratio, all, 6, 1e-5, 0);
            first = p.explained_variance_ratio[0];
        }
        kn__pca_free(ctx, &p);
        const double shares[] = {0.5, 0.95, 0.99};
        for (int i = 0; i < 3; i++) {
            double kref = 0;
            snprintf(key, sizeof key, "a_share_%g", shares[i]);
            CHECK(get(key, &kref, 1) == 1, "golden %s", key);
            st = kn__pca_fit(ctx, x, n, d, 0, shares[i], &p);
            CHECK(st == KN_OK && p.k == (int64_t)kref, "share %g: k %lld, scikit-learn %d (%s)", shares[i],
                  (long long)p.k, (int)kref, kn_last_error(ctx));
            printf("a: share %.2f -> k=%lld (scikit-learn %d)\n", shares[i], (long long)p.k, (int)kref);
            kn__pca_free(ctx, &p);
        }
        /* a share exactly equal to a cumulative ratio is not enough (sklearn: side='right') */
        st = kn__pca_fit(ctx, x, n, d, 0, first, &p);
        CHECK(st == KN_OK && p.k == 2, "share == first ratio: k %lld, want 2", (long long)p.k);
        kn__pca_free(ctx, &p);
    }
    free(xd);
    free(ref);
    free(x);
    free(y);
}

/* ------------------------------------------------------------------ hand-worked */

/* Five points on the line (1, 2) + t (3, -4): one component, (-0.6, 0.8) after the sign rule
 * (the entry of largest size, -4/5, made positive), variance 25 var(t) = 25 * 14.8 / 4. */
static void line_2d(kn_ctx *ctx) {
    const float t[5] = {-2, -1, 0, 1, 3};
    float x[10], y[10];
    for (int i = 0; i < 5; i++) {
        x[2 * i] = 1 + 3 * t[i];
        x[2 * i + 1] = 2 - 4 * t[i];
    }
    kn__pca p;
    kn_status st = kn__pca_fit(ctx, x, 5, 2, 1, 0, &p);
    CHECK(st == KN_OK, "line: %s", kn_last_error(ctx));
    if (st != KN_OK) return;
    CHECK(fabs(p.mean[0] - 1.6) < 1e-12 && fabs(p.mean[1] - 1.2) < 1e-12, "line mean %.17g %.17g", p.mean[0], p.mean[1]);
    CHECK(fabs(p.components[0] + 0.6) < 1e-12 && fabs(p.components[1] - 0.8) < 1e-12, "line component %.17g %.17g",
          p.components[0], p.components[1]);
    CHECK(fabs(p.explained_variance[0] - 92.5) < 1e-10, "line variance %.17g, want 92.5", p.explained_variance[0]);
    CHECK(fabs(p.explained_variance_ratio[0] - 1) < 1e-12, "line ratio %.17g, want 1", p.explained_variance_ratio[0]);
    kn__pca_transform(&p, x, 5, y);
    for (int i = 0; i < 5; i++)
        CHECK(fabs(y[i] - (-5.0 * (t[i] - 0.2))) < 1e-5, "line transform[%d] %.9g, want %.9g", i, y[i], -5.0 * (t[i] - 0.2));
    kn__pca_free(ctx, &p);
    CHECK(p.mean == NULL && p.k == 0, "free zeroes");
    kn__pca_free(ctx, &p); /* twice: no-op */

    st = kn__pca_fit(ctx, x, 5, 2, 2, 0, &p);
    CHECK(st == KN_OK && p.k == 2, "line k=2: %s", kn_last_error(ctx));
    if (st == KN_OK) {
        CHECK(p.explained_variance[1] >= 0 && p.explained_variance_ratio[1] < 1e-12, "line second ratio %.3g",
              p.explained_variance_ratio[1]);
        double dot = p.components[0] * p.components[2] + p.components[1] * p.components[3];
        CHECK(fabs(dot) < 1e-12, "line components orthogonal: %.3g", dot);
    }
    kn__pca_free(ctx, &p);
    st = kn__pca_fit(ctx, x, 5, 2, 0, 0.95, &p);
    CHECK(st == KN_OK && p.k == 1, "line share 0.95: k %lld", (long long)p.k);
    if (st != KN_OK) return;
    printf("line: component (%.6f, %.6f), variance %.6f, ratio %.6f\n", p.components[0], p.components[1],
           p.explained_variance[0], p.explained_variance_ratio[0]);
    kn__pca_free(ctx, &p);
}

/* ------------------------------------------------------------------ blocked covariance */

/* 700 x 150 (features not a multiple of 8, several tiles, rows not a multiple of the block):
 * each component v with variance l satisfies C v = l v for a plainly computed covariance C,
 * the components are orthonormal, and 1 and 4 threads give the same bits. */
static void blocked(kn_ctx *ctx1, kn_ctx *ctx4) {
    enum { N = 700, D = 150, K = 12 };
    float *x = malloc(sizeof(float) * N * D);
    uint64_t s = 12345;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            double u = (double)(s >> 11) / 9007199254740992.0 - 0.5;
            /* correlated columns of decreasing spread */
            x[i * D + j] = (float)(u * (1.0 + 40.0 / (1 + j)) + (j % 7 == 0 ? 0.3 * x[i * D] : 0) + j);
        }
    kn__pca p1, p4;
    kn_status s1 = kn__pca_fit(ctx1, x, N, D, K, 0, &p1), s4 = kn__pca_fit(ctx4, x, N, D, K, 0, &p4);
    CHECK(s1 == KN_OK && s4 == KN_OK, "blocked fit: %s / %s", kn_last_error(ctx1), kn_last_error(ctx4));
    if (s1 == KN_OK && s4 == KN_OK) {
        CHECK(memcmp(p1.mean, p4.mean, sizeof(double) * D) == 0 &&
                  memcmp(p1.components, p4.components, sizeof(double) * K * D) == 0 &&
                  memcmp(p1.explained_variance, p4.explained_variance, sizeof(double) * K) == 0,
              "1 and 4 threads differ");
        double *mean = calloc(D, sizeof(double)), *c = calloc((size_t)D * D, sizeof(double));
        for (int i = 0; i < N; i++)
            for (int j = 0; j < D; j++) mean[j] += x[i * D + j];
        for (int j = 0; j < D; j++) mean[j] /= N;
        for (int i = 0; i < N; i++)
            for (int a = 0; a < D; a++)
                for (int b = 0; b < D; b++) c[a * D + b] += (x[i * D + a] - mean[a]) * (x[i * D + b] - mean[b]);
        for (int a = 0; a < D * D; a++) c[a] /= N - 1;
        double worst = 0, ortho = 0, lmax = p1.explained_variance[0];
        for (int j = 0; j < D; j++) CHECK(fabs(p1.mean[j] - mean[j]) < 1e-12 * (1 + fabs(mean[j])), "mean[%d]", j);
        for (int k = 0; k < K; k++) {
            const double *v = p1.components + k * D;
            for (int a = 0; a < D; a++) {
                double cv = 0;
                for (int b = 0; b < D; b++) cv += c[a * D + b] * v[b];
                double r = fabs(cv - p1.explained_variance[k] * v[a]) / lmax;
                worst = r > worst ? r : worst;
            }
            for (int l = 0; l <= k; l++) {
                double dot = 0;
                for (int a = 0; a < D; a++) dot += v[a] * p1.components[l * D + a];
                double e = fabs(dot - (l == k));
                ortho = e > ortho ? e : ortho;
            }
            if (k > 0) CHECK(p1.explained_variance[k] <= p1.explained_variance[k - 1], "variances decrease");
            int64_t m = 0;
            for (int a = 1; a < D; a++)
                if (fabs(v[a]) > fabs(v[m])) m = a;
            CHECK(v[m] > 0, "component %d: largest entry %.3g not positive", k, v[m]);
        }
        CHECK(worst < 1e-12 && ortho < 1e-12, "|C v - l v| / l_max = %.3g, orthonormality %.3g", worst, ortho);
        printf("blocked %dx%d: |Cv - lv|/l_max %.2g, orthonormality %.2g, 1 vs 4 threads identical\n", N, D,
               worst, ortho);
        free(mean);
        free(c);
    }
    kn__pca_free(ctx1, &p1);
    kn__pca_free(ctx4, &p4);
    free(x);
}

/* ------------------------------------------------------------------ errors */

static void expect_error(kn_ctx *ctx, kn_status st, kn_status want, const char *text, const char *what) {
    CHECK(st == want, "%s: status %s, want %s", what, kn_status_name(st), kn_status_name(want));
    CHECK(strstr(kn_last_error(ctx), text) != NULL, "%s: message \"%s\" lacks \"%s\"", what, kn_last_error(ctx), text);
}

static void errors(kn_ctx *ctx) {
    float x[30];
    for (int i = 0; i < 30; i++) x[i] = (float)((i * 7) % 11);
    kn__pca p;
    expect_error(ctx, kn__pca_fit(ctx, x, 10, 3, 5, 0, &p), KN_ERR_INVALID_ARGUMENT,
                 "pca: 5 components asked for 3 features", "k > d");
    CHECK(p.mean == NULL && p.k == 0, "error leaves out zeroed");
    expect_error(ctx, kn__pca_fit(ctx, x, 3, 10, 4, 0, &p), KN_ERR_INVALID_ARGUMENT,
                 "pca: 4 components asked for 3 rows", "k > n");
    expect_error(ctx, kn__pca_fit(ctx, x, 10, 3, -1, 0, &p), KN_ERR_INVALID_ARGUMENT, "-1 components", "k < 0");
    expect_error(ctx, kn__pca_fit(ctx, x, 10, 3, 0, 0, &p), KN_ERR_INVALID_ARGUMENT,
                 "give a number of components or a share", "neither");
    expect_error(ctx, kn__pca_fit(ctx, x, 10, 3, 2, 0.5, &p), KN_ERR_INVALID_ARGUMENT, "not both", "both");
    expect_error(ctx, kn__pca_fit(ctx, x, 10, 3, 0, 1.0, &p), KN_ERR_INVALID_ARGUMENT, "share of variance 1 is not in (0, 1)",
                 "share 1");
    expect_error(ctx, kn__pca_fit(ctx, x, 10, 3, 0, -0.5, &p), KN_ERR_INVALID_ARGUMENT, "not in (0, 1)", "share < 0");
    expect_error(ctx, kn__pca_fit(ctx, x, 10, 3, 0, NAN, &p), KN_ERR_INVALID_ARGUMENT, "not in (0, 1)", "share NaN");
    expect_error(ctx, kn__pca_fit(ctx, x, 1, 3, 1, 0, &p), KN_ERR_INVALID_ARGUMENT, "pca: needs at least 2 rows, got 1",
                 "n = 1");
    expect_error(ctx, kn__pca_fit(ctx, x, 10, 0, 1, 0, &p), KN_ERR_INVALID_ARGUMENT, "at least 1 feature", "d = 0");
    float bad[6] = {1, 2, 3, NAN, 5, 6};
    expect_error(ctx, kn__pca_fit(ctx, bad, 3, 2, 1, 0, &p), KN_ERR_NUMERIC, "NaN or infinity", "NaN in x");
    float same[6] = {1, 2, 1, 2, 1, 2};
    expect_error(ctx, kn__pca_fit(ctx, same, 3, 2, 1, 0, &p), KN_ERR_NUMERIC, "no variance", "constant x");
    CHECK(p.mean == NULL && p.components == NULL, "error leaves out zeroed");
}

/* ------------------------------------------------------------------ LAPACK */

static void lapack(kn_ctx *ctx) {
    /* syevd: [[2, 1], [1, 2]] has eigenvalues 1, 3 with vectors (1, -1), (1, 1) / sqrt 2 */
    double s[4] = {2, 1, 1, 2}, w[2];
    CHECK(kn__lapack_syevd(ctx, 2, s, w) == KN_OK, "syevd: %s", kn_last_error(ctx));
    CHECK(fabs(w[0] - 1) < 1e-14 && fabs(w[1] - 3) < 1e-14, "syevd eigenvalues %.17g %.17g", w[0], w[1]);
    CHECK(fabs(fabs(s[2]) - sqrt(0.5)) < 1e-14 && fabs(s[2] - s[3]) < 1e-14, "syevd vector of 3: %.17g %.17g", s[2], s[3]);

    /* posv: A x = b with A SPD, two right-hand sides (column-major; A symmetric) */
    double a[9] = {4, 2, 0, 2, 5, 1, 0, 1, 3};
    double b[6] = {0, -5, 7, 4, 5, -2};
    const double x[6] = {1, -2, 3, 0.5, 1, -1};
    CHECK(kn__lapack_posv(ctx, 3, 2, a, b) == KN_OK, "posv: %s", kn_last_error(ctx));
    for (int i = 0; i < 6; i++) CHECK(fabs(b[i] - x[i]) < 1e-13, "posv x[%d] %.17g, want %g", i, b[i], x[i]);
    double np[4] = {1, 2, 2, 1}, nb[2] = {1, 1};
    expect_error(ctx, kn__lapack_posv(ctx, 2, 1, np, nb), KN_ERR_NUMERIC, "not positive definite", "posv indefinite");
    double nan_a[4] = {1, 0, 0, NAN}, nan_b[2] = {1, 1};
    expect_error(ctx, kn__lapack_posv(ctx, 2, 1, nan_a, nan_b), KN_ERR_NUMERIC, "NaN", "posv NaN");

    /* gelsd: 4 x 2, consistent: y = 2 + 0.5 t at t = 1..4 */
    double g[8] = {1, 1, 1, 1, 1, 2, 3, 4}, gb[4] = {2.5, 3, 3.5, 4};
    int rank = -1;
    CHECK(kn__lapack_gelsd(ctx, 4, 2, 1, g, 4, gb, 4, -1, &rank) == KN_OK, "gelsd: %s", kn_last_error(ctx));
    CHECK(rank == 2 && fabs(gb[0] - 2) < 1e-13 && fabs(gb[1] - 0.5) < 1e-13, "gelsd exact: rank %d x %.17g %.17g", rank,
          gb[0], gb[1]);
    /* inconsistent: b = (1, 3, 2, 5); normal equations [[4,10],[10,30]] x = (11, 33) give (0, 1.1) */
    double g2[8] = {1, 1, 1, 1, 1, 2, 3, 4}, gb2[4] = {1, 3, 2, 5};
    CHECK(kn__lapack_gelsd(ctx, 4, 2, 1, g2, 4, gb2, 4, -1, &rank) == KN_OK, "gelsd ls: %s", kn_last_error(ctx));
    CHECK(fabs(gb2[0]) < 1e-13 && fabs(gb2[1] - 1.1) < 1e-13, "gelsd least squares %.17g %.17g, want 0 1.1", gb2[0], gb2[1]);
    /* rank 1: columns 1 and 2 x ones; x0 + 2 x1 = 3 at minimum norm is (0.6, 1.2) */
    double g3[6] = {1, 1, 1, 2, 2, 2}, gb3[3] = {3, 3, 3};
    CHECK(kn__lapack_gelsd(ctx, 3, 2, 1, g3, 3, gb3, 3, -1, &rank) == KN_OK, "gelsd rank 1: %s", kn_last_error(ctx));
    CHECK(rank == 1 && fabs(gb3[0] - 0.6) < 1e-13 && fabs(gb3[1] - 1.2) < 1e-13, "gelsd min norm: rank %d x %.17g %.17g",
          rank, gb3[0], gb3[1]);
    /* under-determined 1 x 2: x0 + x1 = 2, min norm (1, 1); b needs max(m, n) = 2 rows */
    double g4[2] = {1, 1}, gb4[2] = {2, 0};
    CHECK(kn__lapack_gelsd(ctx, 1, 2, 1, g4, 1, gb4, 2, -1, &rank) == KN_OK, "gelsd 1x2: %s", kn_last_error(ctx));
    CHECK(fabs(gb4[0] - 1) < 1e-13 && fabs(gb4[1] - 1) < 1e-13, "gelsd under-determined %.17g %.17g", gb4[0], gb4[1]);
    double g5[2] = {1, 1}, gb5[2] = {2, 0};
    expect_error(ctx, kn__lapack_gelsd(ctx, 1, 2, 1, g5, 1, gb5, 1, -1, &rank), KN_ERR_INVALID_ARGUMENT, "bad sizes",
                 "gelsd ldb < n");
    printf("lapack: syevd, posv (3x3, 2 rhs), gelsd (4x2 exact and least squares, rank 1, 1x2) ok\n");
}

/* ------------------------------------------------------------------ no LAPACK */

/* In a child (LAPACK is loaded once per process): $KILN_LAPACK naming a missing library
 * turns every LAPACK user into KN_ERR_UNSUPPORTED with a message saying what is needed. */
static void no_lapack(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("KILN_LAPACK", "/nonexistent/liblapack-kiln-test.so", 1);
        kn_ctx *ctx;
        if (kn_ctx_new(&(kn_ctx_opts){.threads = 1}, &ctx) != KN_OK) _exit(2);
        const float x[4] = {1, 2, 3, 5};
        kn__pca p;
        int bad = 0;
        if (kn__lapack_available()) bad |= 1;
        if (kn__pca_fit(ctx, x, 2, 2, 1, 0, &p) != KN_ERR_UNSUPPORTED) bad |= 2;
        if (!strstr(kn_last_error(ctx), "PCA needs LAPACK") || !strstr(kn_last_error(ctx), "KILN_LAPACK")) bad |= 4;
        double a[1] = {4}, b[1] = {2};
        if (kn__lapack_posv(ctx, 1, 1, a, b) != KN_ERR_UNSUPPORTED || !strstr(kn_last_error(ctx), "needs LAPACK")) bad |= 8;
        if (bad) printf("no-LAPACK child: %d, last error \"%s\"\n", bad, kn_last_error(ctx));
        fflush(stdout);
        kn_ctx_free(ctx);
        _exit(bad ? 1 : 0);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork/wait");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "without LAPACK: not KN_ERR_UNSUPPORTED with a clear message");
    printf("no LAPACK: KN_ERR_UNSUPPORTED, \"PCA needs LAPACK: ...\"\n");
}

int main(void) {
    no_lapack(); /* first: before anything here starts threads */
    if (!kn__lapack_available()) {
        printf("SKIP test_pca: no LAPACK (liblapack.so.3, libopenblas.so.0, liblapack.so)\n");
        return failures ? 1 : 77;
    }
    kn_ctx *ctx, *ctx4;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 1}, &ctx) != KN_OK ||
        kn_ctx_new(&(kn_ctx_opts){.threads = 4}, &ctx4) != KN_OK)
        return 1;
    golden = read_all("tests/golden/pca.txt");
    CHECK(golden != NULL, "tests/golden/pca.txt missing (run from the repository root)");
    line_2d(ctx);
    if (golden) {
        golden_set(ctx, "a");
        golden_set(ctx4, "b");
    }
    blocked(ctx, ctx4);
    errors(ctx);
    lapack(ctx);
    free(golden);
    kn_ctx_free(ctx);
    kn_ctx_free(ctx4);
    printf(failures ? "test_pca: %d FAILED\n" : "test_pca: ok\n", failures);
    return failures != 0;
}
