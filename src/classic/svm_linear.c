/* svm_linear.c — the linear SVM of LIBLINEAR (scikit-learn's LinearSVC): L2-regularized
 * hinge or squared-hinge loss solved in the dual by coordinate descent with a random
 * permutation each pass and shrinking (Hsieh et al., ICML 2008, Algorithm 3; LIBLINEAR's
 * solve_l2r_l1l2_svc, with scikit-learn's per-sample C). Multiclass is one-vs-rest, each
 * class an independent problem; groups of them (one per thread) run in lockstep over one
 * random order of the rows a pass, so a row is fetched from memory once a pass for the whole
 * group (a pass is bound by fetching rows in random order: on Fashion-MNIST, 60,000 rows of
 * 3 KB, ~0.4 us a row from DRAM against ~0.1 us of arithmetic a problem). Dense float32 data
 * only; w is kept in double (as LIBLINEAR does), x is read in float32. */
#include "classic/svm.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend/cpu/sgemm.h"
#include "core/pool.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

kn__svm_linear_opts kn__svm_linear_defaults(void) {
    return (kn__svm_linear_opts){.loss = KN_SVM_SQUARED_HINGE,
                                 .epsilon = 0.0,
                                 .C = 1.0,
                                 .tol = 1e-4,
                                 .max_iter = 1000,
                                 .fit_intercept = true,
                                 .intercept_scaling = 1.0,
                                 .seed = 0};
}

void kn__svm_linear_free(kn_ctx *ctx, kn__svm_linear *m) {
    if (!m) return;
    kn__free(ctx, m->coef);
    kn__free(ctx, m->intercept);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------ kernels of one step */

#define ALWAYS_INLINE __attribute__((always_inline)) inline
enum { BATCH = 4 }; /* weight vectors a fused pass over a row handles at once */

/* out[b] = x (d, float) . w[b] (d, double) for b < NB. Each w has its own accumulators and
 * the same order of operations whatever NB, so a class's arithmetic never depends on which
 * classes share the pass (hence not on the thread count). */
static ALWAYS_INLINE void dots_n(const int NB, const float *restrict x, double *const *w, int64_t d, double *out,
                                  const char *pf) {
    int64_t j = 0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256d lo[BATCH], hi[BATCH];
    for (int b = 0; b < NB; b++) lo[b] = _mm256_setzero_pd(), hi[b] = _mm256_setzero_pd();
    for (; j + 8 <= d; j += 8) {
        if (pf) __builtin_prefetch(pf + 4 * j, 0, 2);
        __m256 xv = _mm256_loadu_ps(x + j);
        __m256d xl = _mm256_cvtps_pd(_mm256_castps256_ps128(xv)), xh = _mm256_cvtps_pd(_mm256_extractf128_ps(xv, 1));
        for (int b = 0; b < NB; b++) {
            lo[b] = _mm256_fmadd_pd(xl, _mm256_loadu_pd(w[b] + j), lo[b]);
            hi[b] = _mm256_fmadd_pd(xh, _mm256_loadu_pd(w[b] + j + 4), hi[b]);
        }
    }
    for (int b = 0; b < NB; b++) {
        __m256d a = _mm256_add_pd(lo[b], hi[b]);
        __m128d h = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
        out[b] = _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
    }
#else
    for (int b = 0; b < NB; b++) out[b] = 0;
#endif
    for (; j < d; j++)
        for (int b = 0; b < NB; b++) out[b] += (double)x[j] * w[b][j];
}

/* w[b] (d, double) += a[b] * x (d, float) for b < NB */
static ALWAYS_INLINE void axpys_n(const int NB, const double *a, const float *restrict x, double *const *w, int64_t d) {
    int64_t j = 0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256d av[BATCH];
    for (int b = 0; b < NB; b++) av[b] = _mm256_set1_pd(a[b]);
    for (; j + 8 <= d; j += 8) {
        __m256 xv = _mm256_loadu_ps(x + j);
        __m256d xl = _mm256_cvtps_pd(_mm256_castps256_ps128(xv)), xh = _mm256_cvtps_pd(_mm256_extractf128_ps(xv, 1));
        for (int b = 0; b < NB; b++) {
            _mm256_storeu_pd(w[b] + j, _mm256_fmadd_pd(av[b], xl, _mm256_loadu_pd(w[b] + j)));
            _mm256_storeu_pd(w[b] + j + 4, _mm256_fmadd_pd(av[b], xh, _mm256_loadu_pd(w[b] + j + 4)));
        }
    }
#endif
    for (; j < d; j++)
        for (int b = 0; b < NB; b++) w[b][j] += a[b] * (double)x[j];
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_AVX512 1
#define AVX512 __attribute__((target("avx512f")))
/* The same with 8 doubles a register, on CPUs that have AVX-512F (chosen at run time, as
 * sgemm does): half the instructions of a step. Accumulation order differs from the AVX2
 * path, so the last bits of a fit depend on the CPU (never on the thread count). */
AVX512 static ALWAYS_INLINE void dots512_n(const int NB, const float *restrict x, double *const *w, int64_t d,
                                           double *out, const char *pf) {
    int64_t j = 0;
    __m512d lo[BATCH], hi[BATCH];
    for (int b = 0; b < NB; b++) lo[b] = _mm512_setzero_pd(), hi[b] = _mm512_setzero_pd();
    for (; j + 16 <= d; j += 16) {
        if (pf) __builtin_prefetch(pf + 4 * j, 0, 2);
        __m512d xl = _mm512_cvtps_pd(_mm256_loadu_ps(x + j)), xh = _mm512_cvtps_pd(_mm256_loadu_ps(x + j + 8));
        for (int b = 0; b < NB; b++) {
            lo[b] = _mm512_fmadd_pd(xl, _mm512_loadu_pd(w[b] + j), lo[b]);
            hi[b] = _mm512_fmadd_pd(xh, _mm512_loadu_pd(w[b] + j + 8), hi[b]);
        }
    }
    for (int b = 0; b < NB; b++) out[b] = _mm512_reduce_add_pd(_mm512_add_pd(lo[b], hi[b]));
    for (; j < d; j++)
        for (int b = 0; b < NB; b++) out[b] += (double)x[j] * w[b][j];
}

AVX512 static ALWAYS_INLINE void axpys512_n(const int NB, const double *a, const float *restrict x, double *const *w,
                                            int64_t d) {
    int64_t j = 0;
    __m512d av[BATCH];
    for (int b = 0; b < NB; b++) av[b] = _mm512_set1_pd(a[b]);
    for (; j + 16 <= d; j += 16) {
        __m512d xl = _mm512_cvtps_pd(_mm256_loadu_ps(x + j)), xh = _mm512_cvtps_pd(_mm256_loadu_ps(x + j + 8));
        for (int b = 0; b < NB; b++) {
            _mm512_storeu_pd(w[b] + j, _mm512_fmadd_pd(av[b], xl, _mm512_loadu_pd(w[b] + j)));
            _mm512_storeu_pd(w[b] + j + 8, _mm512_fmadd_pd(av[b], xh, _mm512_loadu_pd(w[b] + j + 8)));
        }
    }
    for (; j < d; j++)
        for (int b = 0; b < NB; b++) w[b][j] += a[b] * (double)x[j];
}

AVX512 static void dots512(int nb, const float *x, double *const *w, int64_t d, double *out, const char *pf) {
    switch (nb) {
    case 1: dots512_n(1, x, w, d, out, pf); break;
    case 2: dots512_n(2, x, w, d, out, pf); break;
    case 3: dots512_n(3, x, w, d, out, pf); break;
    default: dots512_n(4, x, w, d, out, pf); break;
    }
}

AVX512 static void axpys512(int nb, const double *a, const float *x, double *const *w, int64_t d) {
    switch (nb) {
    case 1: axpys512_n(1, a, x, w, d); break;
    case 2: axpys512_n(2, a, x, w, d); break;
    case 3: axpys512_n(3, a, x, w, d); break;
    default: axpys512_n(4, a, x, w, d); break;
    }
}
#endif

/* pf: a row whose lines to prefetch along the way (one a 64 bytes of x), or NULL */
static void dots(bool wide, int nb, const float *x, double *const *w, int64_t d, double *out, const char *pf) {
#ifdef HAVE_AVX512
    if (wide) return dots512(nb, x, w, d, out, pf);
#endif
    (void)wide;
    switch (nb) {
    case 1: dots_n(1, x, w, d, out, pf); break;
    case 2: dots_n(2, x, w, d, out, pf); break;
    case 3: dots_n(3, x, w, d, out, pf); break;
    default: dots_n(4, x, w, d, out, pf); break;
    }
}

static void axpys(bool wide, int nb, const double *a, const float *x, double *const *w, int64_t d) {
#ifdef HAVE_AVX512
    if (wide) return axpys512(nb, a, x, w, d);
#endif
    (void)wide;
    switch (nb) {
    case 1: axpys_n(1, a, x, w, d); break;
    case 2: axpys_n(2, a, x, w, d); break;
    case 3: axpys_n(3, a, x, w, d); break;
    default: axpys_n(4, a, x, w, d); break;
    }
}

static bool cpu_has_avx512(void) {
#ifdef HAVE_AVX512
    return __builtin_cpu_supports("avx512f");
#else
    return false;
#endif
}

/* Asks for a row's cache lines (into L2) ahead of its turn: the permutation makes every row
 * a jump the hardware prefetcher cannot guess, and at d = 784 a row is 49 lines. Measured on
 * Fashion-MNIST: 3 rows ahead into L2 beat 1-2 ahead, 6 ahead, only the first lines, and
 * prefetchnta (which stalled on full fill buffers) by 1.3-2.6x. */
static inline void prefetch_row(const float *x, int64_t d) {
    const char *p = (const char *)x, *end = (const char *)(x + d);
    for (; p < end; p += 64) __builtin_prefetch(p, 0, 2);
}

/* ------------------------------------------------------------------ the binary problems */

/* One binary problem: class `positive` against the rest (binary: class 1 against class 0).
 * LIBLINEAR's solve_l2r_l1l2_svc:
 *   min_alpha 0.5 alpha' (Q + D) alpha - e' alpha,  0 <= alpha_i <= U_i,  Q_ij = y_i y_j x_i.x_j
 * hinge: D = 0, U_i = C_i; squared hinge: D_ii = 1 / (2 C_i), U_i = inf; w = sum y_i alpha_i x_i
 * (x with the bias feature appended). */
typedef struct {
    int positive;
    int col;          /* its column in the (l, n_problems) alpha and shrunk */
    double *w;        /* (d + 1) */
    int64_t active;   /* rows not shrunk */
    double pg_max_old, pg_min_old, pg_max_new, pg_min_new;
    int iter;
    bool done;
} problem;

/* What a step needs of row i, in one cache line (the permutation makes every row a miss). */
typedef struct {
    const float *x; /* (d) */
    double qd;      /* Q_ii + D_ii */
    double bd;      /* U_i (hinge) or D_ii (squared hinge) */
    int32_t label;
} row_info;

typedef struct {
    const kn__svm_linear_opts *o;
    int64_t l, d;
    const row_info *ri;   /* (l) the rows of positive weight, in data order */
    double *alpha;        /* (l, n_problems): a row's alphas share cache lines */
    uint8_t *shrunk;      /* (l, n_problems) out of a problem's active set */
    problem *p;           /* (n_problems) */
    int n_problems, groups;
    int32_t **perm;       /* (groups) each group's (l) permutation buffer */
    bool wide;            /* AVX-512F steps */
} linear_job;

/* The problems of group g (g, g + groups, ...) in lockstep: each pass draws one random
 * order of the rows (from (seed, pass): the same for every group) and each problem visits
 * its active rows in that order, so a row is read from memory once a pass for all of them.
 * A random order of all rows restricted to a problem's active ones is a random order of
 * those: each problem is LIBLINEAR's, only its permutations come from another generator. */
static void solve_group(void *args, int64_t g) {
    const linear_job *j = args;
    const kn__svm_linear_opts *o = j->o;
    const int64_t l = j->l, d = j->d, np = j->n_problems;
    const double bias = o->fit_intercept ? o->intercept_scaling : 0;
    const bool l1 = o->loss == KN_SVM_HINGE;
    int32_t *perm = j->perm[g];
    problem *mine[256];
    int nm = 0;
    for (int c = (int)g; c < np && nm < 256; c += j->groups) mine[nm++] = &j->p[c];
    for (int pass = 0;; pass++) {
        bool any = false;
        for (int q = 0; q < nm; q++) any |= !mine[q]->done;
        if (!any) break;
        for (int q = 0; q < nm; q++) mine[q]->pg_max_new = -INFINITY, mine[q]->pg_min_new = INFINITY;
        /* this pass's order: a key from kn__rng_u64 per pass, then a splitmix64 sequence
         * (one full kn__rng_u64 per draw costs 3x more) */
        uint64_t state = kn__rng_u64(o->seed, KN_STREAM_SVM, (uint64_t)pass);
        for (int64_t i = 0; i < l; i++) perm[i] = (int32_t)i;
        for (int64_t i = 0; i + 1 < l; i++) {
            uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            z ^= z >> 31;
            int64_t k = i + (int64_t)(((unsigned __int128)z * (uint64_t)(l - i)) >> 64);
            int32_t t = perm[i];
            perm[i] = perm[k], perm[k] = t;
        }
        for (int64_t s = 0; s < l; s++) {
            const int64_t i = perm[s];
            /* ahead of time: row s + 4's info and state; row s + 3's features, one line at a
             * time during this row's dot products (49 prefetches at once stalled on full fill
             * buffers) */
            if (s + 4 < l) {
                int64_t f = perm[s + 4];
                __builtin_prefetch(&j->ri[f], 0, 0);
                __builtin_prefetch(&j->alpha[f * np], 1, 0);
                __builtin_prefetch(&j->shrunk[f * np], 1, 0);
            }
            const char *pf = s + 3 < l ? (const char *)j->ri[perm[s + 3]].x : NULL;
            const row_info *r = &j->ri[i];
            double *alpha = j->alpha + i * np;
            uint8_t *shrunk = j->shrunk + i * np;
            problem *act[256];
            int na = 0;
            for (int q = 0; q < nm; q++)
                if (!mine[q]->done && !shrunk[mine[q]->col]) act[na++] = mine[q];
            if (na == 0) {
                if (pf) prefetch_row((const float *)pf, d);
                continue;
            }
            const float *xi = r->x;
            double dot[256], delta[BATCH];
            double *wv[BATCH];
            for (int q0 = 0; q0 < na; q0 += BATCH) {
                int nb = na - q0 < BATCH ? na - q0 : BATCH;
                for (int b = 0; b < nb; b++) wv[b] = act[q0 + b]->w;
                dots(j->wide, nb, xi, wv, d, dot + q0, q0 == 0 ? pf : NULL);
            }
            const double ui = l1 ? r->bd : INFINITY;
            int nu = 0;
            for (int q = 0; q < na; q++) {
                problem *p = act[q];
                const double y = r->label == p->positive ? 1 : -1;
                const double a = alpha[p->col];
                double grad = (dot[q] + p->w[d] * bias) * y - 1;
                if (!l1) grad += a * r->bd; /* the diagonal term D_ii alpha_i */
                double pg = 0;
                if (a == 0) {
                    if (grad > p->pg_max_old) { /* shrink: at its bound and likely to stay */
                        shrunk[p->col] = 1;
                        p->active--;
                        continue;
                    } else if (grad < 0)
                        pg = grad;
                } else if (a == ui) {
                    if (grad < p->pg_min_old) {
                        shrunk[p->col] = 1;
                        p->active--;
                        continue;
                    } else if (grad > 0)
                        pg = grad;
                } else
                    pg = grad;
                if (pg > p->pg_max_new) p->pg_max_new = pg;
                if (pg < p->pg_min_new) p->pg_min_new = pg;
                if (fabs(pg) > 1.0e-12) {
                    double an = a - grad / r->qd;
                    an = an < 0 ? 0 : an;
                    alpha[p->col] = an < ui ? an : ui;
                    double dl = (alpha[p->col] - a) * y;
                    if (dl != 0) {
                        act[nu] = p; /* act[0..nu) reused for the updates: nu <= q */
                        dot[nu++] = dl;
                    }
                }
            }
            for (int q0 = 0; q0 < nu; q0 += BATCH) {
                int nb = nu - q0 < BATCH ? nu - q0 : BATCH;
                for (int b = 0; b < nb; b++) wv[b] = act[q0 + b]->w, delta[b] = dot[q0 + b];
                axpys(j->wide, nb, delta, xi, wv, d);
                for (int b = 0; b < nb; b++) wv[b][d] += delta[b] * bias;
            }
        }
        for (int q = 0; q < nm; q++) {
            problem *p = mine[q];
            if (p->done) continue;
            p->iter++;
            if (p->pg_max_new - p->pg_min_new <= o->tol) {
                if (p->active == l)
                    p->done = true;
                else { /* converged on the shrunk set: check every row once more */
                    for (int64_t i = 0; i < l; i++) j->shrunk[i * np + p->col] = 0;
                    p->active = l;
                    p->pg_max_old = INFINITY;
                    p->pg_min_old = -INFINITY;
                }
            } else {
                p->pg_max_old = p->pg_max_new <= 0 ? INFINITY : p->pg_max_new;
                p->pg_min_old = p->pg_min_new >= 0 ? -INFINITY : p->pg_min_new;
            }
            if (p->iter >= o->max_iter) p->done = true;
        }
    }
}

/* ------------------------------------------------------------------ fit */

kn_status kn__svm_linear_check_opts(kn_ctx *ctx, const kn__svm_linear_opts *o, bool regression) {
    if (!regression && o->loss != KN_SVM_SQUARED_HINGE && o->loss != KN_SVM_HINGE)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm.loss: %d is not hinge (%d) or squared_hinge (%d) (classification)",
                         (int)o->loss, KN_SVM_HINGE, KN_SVM_SQUARED_HINGE);
    if (regression && o->loss != KN_SVM_EPSILON_INSENSITIVE && o->loss != KN_SVM_SQUARED_EPSILON_INSENSITIVE)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                         "linear_svm.loss: %d is not epsilon_insensitive (%d) or squared_epsilon_insensitive (%d) (regression)",
                         (int)o->loss, KN_SVM_EPSILON_INSENSITIVE, KN_SVM_SQUARED_EPSILON_INSENSITIVE);
    if (!(o->epsilon >= 0) || !isfinite(o->epsilon))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm.epsilon: %g must be >= 0", o->epsilon);
    if (!(o->C > 0) || !isfinite(o->C))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm.C: %g must be > 0", o->C);
    if (!(o->tol > 0) || !isfinite(o->tol))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm.tol: %g must be > 0", o->tol);
    if (o->max_iter <= 0)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm.max_iter: %d must be > 0", o->max_iter);
    if (o->fit_intercept && (!(o->intercept_scaling > 0) || !isfinite(o->intercept_scaling)))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm.intercept_scaling: %g must be > 0",
                         o->intercept_scaling);
    return KN_OK;
}

kn_status kn__svm_linear_fit(kn_ctx *ctx, const kn__xy *data, const kn__svm_linear_opts *opts,
                             kn__svm_linear *out) {
    if (!out) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm: out is NULL");
    memset(out, 0, sizeof *out);
    if (!data || !opts) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm: data or opts is NULL");
    if (data->n_classes == 0 && data->t && !data->y) return kn__svm_linear_fit_svr(ctx, data, opts, out);
    kn_status st = kn__svm_linear_check_opts(ctx, opts, false);
    if (st != KN_OK) return st;
    const int64_t n = data->n, d = data->d;
    const int k = data->n_classes;
    if (!data->x || !data->y || n <= 0 || d <= 0)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm: needs x and labels y (n %lld, d %lld)",
                         (long long)n, (long long)d);
    if (k < 2) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm: n_classes %d must be >= 2", k);
    if (n > INT32_MAX) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm: %lld rows, at most 2^31-1", (long long)n);
    size_t nd;
    if (!kn__mul_size((size_t)n, (size_t)d, &nd))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm: %lld x %lld is too large", (long long)n, (long long)d);
    if (!kn__all_finite(data->x, nd)) return kn__error(ctx, KN_ERR_NUMERIC, "linear_svm: x has NaN or infinity");

    /* rows of positive weight, every class among them */
    int64_t *count = kn__calloc(ctx, (size_t)k, sizeof *count);
    int64_t *rows = kn__alloc(ctx, (size_t)n * sizeof *rows);
    if (!count || !rows) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "linear_svm: no memory for %lld rows", (long long)n);
        goto fail_early;
    }
    int64_t l = 0;
    for (int64_t r = 0; r < n; r++) {
        int32_t c = data->y[r];
        if (c < 0 || c >= k) {
            st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm: label %d of row %lld is not in [0, %d)", c,
                           (long long)r, k);
            goto fail_early;
        }
        if (data->w) {
            float wr = data->w[r];
            if (!(wr >= 0) || !isfinite(wr)) {
                st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm: sample weight %g of row %lld must be >= 0",
                               (double)wr, (long long)r);
                goto fail_early;
            }
            if (wr == 0) continue;
        }
        rows[l++] = r;
        count[c]++;
    }
    for (int c = 0; c < k; c++)
        if (count[c] == 0) {
            st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm: class %d has no rows of positive weight", c);
            goto fail_early;
        }

    const int n_problems = k == 2 ? 1 : k;
    const double bias = opts->fit_intercept ? opts->intercept_scaling : 0;
    const int threads = kn_ctx_threads(ctx);
    /* groups of problems solved in lockstep (at most 256 a group), one per thread */
    int groups = threads < n_problems ? threads : n_problems;
    if (groups < 1) groups = 1;
    if (groups < (n_problems + 255) / 256) groups = (n_problems + 255) / 256;
    problem *pr = kn__calloc(ctx, (size_t)n_problems, sizeof *pr);
    int32_t **perm = kn__calloc(ctx, (size_t)groups, sizeof *perm);
    row_info *ri = kn__alloc(ctx, (size_t)l * sizeof *ri);
    double *alpha = kn__calloc(ctx, (size_t)l * (size_t)n_problems, sizeof *alpha);
    uint8_t *shrunk = kn__calloc(ctx, (size_t)l * (size_t)n_problems, sizeof *shrunk);
    out->coef = kn__alloc(ctx, (size_t)n_problems * (size_t)d * sizeof *out->coef);
    out->intercept = kn__calloc(ctx, (size_t)n_problems, sizeof *out->intercept);
    bool ok = pr && perm && ri && alpha && shrunk && out->coef && out->intercept;
    for (int g = 0; ok && g < groups; g++) ok = (perm[g] = kn__alloc(ctx, (size_t)l * sizeof **perm)) != NULL;
    for (int c = 0; ok && c < n_problems; c++) {
        pr[c].positive = n_problems == 1 ? 1 : c;
        pr[c].col = c;
        pr[c].w = kn__calloc(ctx, (size_t)(d + 1), sizeof *pr[c].w);
        pr[c].active = l;
        pr[c].pg_max_old = INFINITY;
        pr[c].pg_min_old = -INFINITY;
        ok = pr[c].w != NULL;
    }
    if (!ok) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "linear_svm: no memory for %d problems of %lld rows", n_problems,
                       (long long)l);
        goto done;
    }
    for (int64_t i = 0; i < l; i++) {
        const int64_t r = rows[i];
        const float *xi = data->x + r * d;
        double sq = 0;
        for (int64_t q = 0; q < d; q++) sq += (double)xi[q] * xi[q];
        const double ci = opts->C * (data->w ? (double)data->w[r] : 1.0);
        ri[i].x = xi;
        ri[i].bd = opts->loss == KN_SVM_HINGE ? ci : 0.5 / ci;
        ri[i].qd = sq + bias * bias + (opts->loss == KN_SVM_HINGE ? 0 : ri[i].bd);
        ri[i].label = data->y[r];
    }
    linear_job job = {opts, l, d, ri, alpha, shrunk, pr, n_problems, groups, perm, cpu_has_avx512()};
    kn__pool_run(threads, groups, solve_group, &job);

    out->k = n_problems;
    out->d = d;
    for (int c = 0; c < n_problems; c++) {
        const double *w = pr[c].w;
        for (int64_t q = 0; q < d; q++) out->coef[(int64_t)c * d + q] = (float)w[q];
        out->intercept[c] = (float)(w[d] * bias);
        if (pr[c].iter > out->n_iter) out->n_iter = pr[c].iter;
    }
    if (out->n_iter >= opts->max_iter)
        kn__log(ctx, KN_LOG_WARN, "linear_svm: did not converge in max_iter %d passes (tol %g); raise max_iter",
                opts->max_iter, opts->tol);
done:
    if (pr)
        for (int c = 0; c < n_problems; c++) kn__free(ctx, pr[c].w);
    if (perm)
        for (int g = 0; g < groups; g++) kn__free(ctx, perm[g]);
    kn__free(ctx, perm);
    kn__free(ctx, pr);
    kn__free(ctx, ri);
    kn__free(ctx, alpha);
    kn__free(ctx, shrunk);
    if (st != KN_OK) kn__svm_linear_free(ctx, out);
fail_early:
    kn__free(ctx, rows);
    kn__free(ctx, count);
    return st;
}

/* ------------------------------------------------------------------ predict */

/* Decisions are computed in tiles of at most TILE_ROWS rows and TILE_COLS classes, one sgemm
 * call a tile, by both kn__svm_linear_decision and kn__svm_linear_predict, so that a label is
 * always the argmax of the decisions the other function gives (same calls, same rounding). */
enum { TILE_ROWS = 16, TILE_COLS = 256 };

typedef struct {
    const kn__svm_linear *m;
    const float *x;
    int64_t n;
    float *dec;      /* (n, k) or NULL */
    int32_t *labels; /* (n) or NULL */
} predict_job;

static void predict_block(void *args, int64_t b) {
    const predict_job *j = args;
    const kn__svm_linear *m = j->m;
    const int64_t r0 = b * TILE_ROWS, rows = j->n - r0 < TILE_ROWS ? j->n - r0 : TILE_ROWS;
    float tile[TILE_ROWS * TILE_COLS];
    float best_v[TILE_ROWS];
    int32_t best[TILE_ROWS];
    for (int64_t r = 0; r < rows; r++) best_v[r] = -INFINITY, best[r] = 0;
    for (int64_t c0 = 0; c0 < m->k; c0 += TILE_COLS) {
        const int64_t cols = m->k - c0 < TILE_COLS ? m->k - c0 : TILE_COLS;
        // (rows, d) x (cols, d)^T -> (rows, cols)
        kn__sgemm(false, true, rows, cols, m->d, 1.0f, j->x + r0 * m->d, m->d, m->coef + c0 * m->d, m->d, 0.0f, tile,
                  cols, 1);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) {
                float v = tile[r * cols + c] + m->intercept[c0 + c];
                if (j->dec) j->dec[(r0 + r) * m->k + c0 + c] = v;
                if (v > best_v[r]) best_v[r] = v, best[r] = (int32_t)(c0 + c);
            }
    }
    if (j->labels)
        for (int64_t r = 0; r < rows; r++)
            j->labels[r0 + r] = m->k == 1 ? (best_v[r] > 0) : best[r];
}

static void run_predict(kn_ctx *ctx, const kn__svm_linear *m, const float *x, int64_t n, float *dec, int32_t *labels) {
    if (n <= 0) return;
    predict_job j = {m, x, n, dec, labels};
    /* below ~1 M multiply-adds a second thread costs more than it saves */
    int threads = n * m->k * m->d >= (1 << 20) ? kn_ctx_threads(ctx) : 1;
    kn__pool_run(threads, (n + TILE_ROWS - 1) / TILE_ROWS, predict_block, &j);
}

void kn__svm_linear_decision(kn_ctx *ctx, const kn__svm_linear *m, const float *x, int64_t n, float *dec) {
    run_predict(ctx, m, x, n, dec, NULL);
}

void kn__svm_linear_predict(kn_ctx *ctx, const kn__svm_linear *m, const float *x, int64_t n, int32_t *labels) {
    run_predict(ctx, m, x, n, NULL, labels);
}
