/* svm_kernel.c — the kernel SVM of LIBSVM (scikit-learn's SVC, and NuSVC with opts->nu; SVR
 * and NuSVR are svm_kernel_svr.c's): SMO with
 * second-order working-set selection (Fan, Chen and Lin, JMLR 2005), shrinking, an LRU cache
 * of kernel rows, one-vs-one multiclass voting, optional Platt probabilities (LIBSVM's
 * internal 5-fold CV, Lin/Lin/Weng's sigmoid fit, Wu/Lin/Weng's pairwise coupling).
 *
 * The solver is LIBSVM's Solver step for step (same selection, same tie-breaking, same
 * shrinking schedule), on dense float32 rows. Kernel values are computed with kiln's sgemm
 * (a row: a GEMV against the problem's rows; several rows at once: a GEMM) and mapped with
 * vectorized exp, and stored as float, as LIBSVM's Qfloat. The cache keeps LIBSVM's
 * semantics (partial rows [0, len), least recently used evicted first, rows and columns
 * swapped when shrinking reorders the problem) but holds rows in fixed slots of one block
 * (no allocation while solving). While the cache has free slots, a missing row is computed
 * together with up to 63 uncached rows, the most violating ones (the likeliest to be asked
 * for soon), as one GEMM: at d = 784 a row alone streams the whole problem from memory for
 * 2 flops a float (250 us for 2,000 rows here), 64 rows at once reuse it (27 us a row).
 * On Fashion-MNIST pairs, 15-45% of such rows were asked for later, which still beats one
 * GEMV a row; rows computed for nothing are the first evicted.
 * nu-SVC runs LIBSVM's Solver_NU (svm_kernel_smo.c) from LIBSVM's starting point and scales
 * its solution by 1 / r, as svm_train does. Limits: no precomputed kernels, no one-class SVM.
 *
 * Files: svm_kernel.c (this one: defaults, one-vs-one fit, the model), svm_kernel_cache.c
 * (kernel functions, the row cache), svm_kernel_smo.c (the solver), svm_kernel_platt.c
 * (probabilities), svm_kernel_predict.c; svm_kernel.h declares what they share. */
#include "classic/svm_kernel.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "core/pool.h"

kn__svm_opts kn__svm_defaults(void) {
    return (kn__svm_opts){.kernel = KN_SVM_KERNEL_RBF,
                          .C = 1.0,
                          .gamma = KN_SVM_GAMMA_SCALE,
                          .degree = 3,
                          .coef0 = 0.0,
                          .epsilon = 0.1,
                          .nu = 0.0,
                          .tol = 1e-3,
                          .max_iter = -1,
                          .cache_size = 200.0,
                          .shrinking = true,
                          .probability = false,
                          .class_weight = NULL,
                          .seed = 0};
}

void kn__svm_free(kn_ctx *ctx, kn__svm *m) {
    if (!m) return;
    kn__free(ctx, m->sv);
    kn__free(ctx, m->support);
    kn__free(ctx, m->n_sv_class);
    kn__free(ctx, m->dual_coef);
    kn__free(ctx, m->intercept);
    kn__free(ctx, m->prob_a);
    kn__free(ctx, m->prob_b);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------ one-vs-one fit */

typedef struct {
    kn__svm_shared *sh;
    const int64_t *perm;          /* kept rows grouped by class, data order within a class */
    const int64_t *start, *count; /* (k) each class's range in perm */
    const double *c_row;          /* each kept row's C, in perm's order */
    const int32_t *pair_i, *pair_j, *order; /* (pairs); order: biggest problems first */
    double **alpha;               /* (pairs) y alpha over the pair's rows */
    double *rho, *obj;            /* (pairs) */
    int64_t *iters;               /* (pairs) */
    double *prob_a, *prob_b;      /* (pairs) or NULL */
    bool *failed;                 /* (pairs) out of memory */
} pair_job;

static void solve_pair(void *args, int64_t chunk) {
    pair_job *j = args;
    kn__svm_shared *sh = j->sh;
    const int64_t p = j->order[chunk];
    const int a = j->pair_i[p], b = j->pair_j[p];
    const int64_t sa = j->start[a], sb = j->start[b], na = j->count[a], nb = j->count[b];
    const int32_t l = (int32_t)(na + nb);
    char *mem = kn__svm_shared_alloc(sh, (size_t)l * (sizeof(int64_t) + sizeof(double) + sizeof(int8_t)));
    j->alpha[p] = kn__svm_shared_alloc(sh, (size_t)l * sizeof(double));
    if (!mem || !j->alpha[p]) {
        j->failed[p] = true;
        kn__svm_shared_free(sh, mem);
        return;
    }
    int64_t *rows = (int64_t *)mem;
    double *C = (double *)(rows + l);
    int8_t *y = (int8_t *)(C + l);
    for (int64_t t = 0; t < na; t++) rows[t] = j->perm[sa + t], C[t] = j->c_row[sa + t], y[t] = 1;
    for (int64_t t = 0; t < nb; t++) rows[na + t] = j->perm[sb + t], C[na + t] = j->c_row[sb + t], y[na + t] = -1;
    bool ok = true;
    if (j->prob_a) ok = kn__svm_binary_probability(sh, rows, y, C, l, p, &j->prob_a[p], &j->prob_b[p]);
    ok = ok && kn__svm_solve_svc(sh, rows, y, C, l, j->alpha[p], &j->rho[p], &j->obj[p], &j->iters[p]);
    if (!ok) j->failed[p] = true;
    kn__svm_shared_free(sh, mem);
}

kn_status kn__svm_check_opts(kn_ctx *ctx, const kn__svm_opts *o, int k) {
    if (o->kernel < KN_SVM_KERNEL_LINEAR || o->kernel > KN_SVM_KERNEL_SIGMOID)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                         "svm.kernel: %d is not linear (0), poly (1), rbf (2) or sigmoid (3)", o->kernel);
    if (!(o->C > 0) || !isfinite(o->C)) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.C: %g must be > 0", o->C);
    if (!(o->gamma > 0 || o->gamma == KN_SVM_GAMMA_SCALE || o->gamma == KN_SVM_GAMMA_AUTO) || !isfinite(o->gamma))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.gamma: %g must be > 0, 'scale' or 'auto'", o->gamma);
    if (o->degree < 0) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.degree: %d must be >= 0", o->degree);
    if (!isfinite(o->coef0)) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.coef0: %g must be finite", o->coef0);
    if (!(o->tol > 0) || !isfinite(o->tol))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.tol: %g must be > 0", o->tol);
    if (o->max_iter == 0 || o->max_iter < -1)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.max_iter: %lld must be -1 (no limit) or > 0",
                         (long long)o->max_iter);
    if (!(o->nu >= 0 && o->nu <= 1))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.nu: %g must be in (0, 1] (0: C-SVC and epsilon-SVR)", o->nu);
    if (!(o->epsilon >= 0) || !isfinite(o->epsilon))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.epsilon: %g must be >= 0", o->epsilon);
    if (!(o->cache_size > 0) || !isfinite(o->cache_size))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.cache_size: %g MB must be > 0", o->cache_size);
    if (o->class_weight && o->nu > 0)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.class_weight: a nu-SVC has no C for class weights to scale");
    if (o->class_weight)
        for (int c = 0; c < k; c++)
            if (!(o->class_weight[c] > 0) || !isfinite(o->class_weight[c]))
                return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.class_weight[%d]: %g must be > 0", c,
                                 o->class_weight[c]);
    return KN_OK;
}

double kn__svm_resolve_gamma(const kn__svm_opts *o, const float *x, size_t nd, int64_t d) {
    if (o->gamma == KN_SVM_GAMMA_AUTO) return 1.0 / (double)d;
    if (o->gamma != KN_SVM_GAMMA_SCALE) return o->gamma;
    double sum = 0, ss = 0;
    for (size_t t = 0; t < nd; t++) sum += x[t];
    double mean = sum / (double)nd;
    for (size_t t = 0; t < nd; t++) ss += (x[t] - mean) * (x[t] - mean);
    double var = ss / (double)nd;
    return var != 0 ? 1.0 / ((double)d * var) : 1.0;
}

kn_status kn__svm_shared_init(kn__svm_shared *sh, kn_ctx *ctx, const kn__svm_opts *o, const float *x, size_t nd, int64_t d,
                              double *gamma) {
    *gamma = kn__svm_resolve_gamma(o, x, nd, d);
    *sh = (kn__svm_shared){.ctx = ctx, .x = x, .d = d, .o = o, .cache_bytes = (size_t)(o->cache_size * 1048576.0),
                           .kp = {o->kernel, o->degree, (float)*gamma, (float)o->coef0}, .gemm_threads = 1};
    if (pthread_mutex_init(&sh->lock, NULL) != 0) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "svm: no mutex");
    return KN_OK;
}

void kn__svm_shared_done(kn__svm_shared *sh) { pthread_mutex_destroy(&sh->lock); }

void kn__svm_set_kernel(kn__svm *m, const kn__svm_opts *o, double gamma) {
    m->kernel = o->kernel;
    m->gamma = gamma;
    m->degree = o->degree;
    m->coef0 = o->coef0;
}

kn_status kn__svm_fit(kn_ctx *ctx, const kn__xy *data, const kn__svm_opts *opts, kn__svm *out) {
    if (!out) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: out is NULL");
    memset(out, 0, sizeof *out);
    if (!data || !opts) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: data or opts is NULL");
    if (data->n_classes == 0 && data->t && !data->y) return kn__svm_fit_svr(ctx, data, opts, out);
    const int k = data->n_classes;
    const int64_t n = data->n, d = data->d;
    if (k < 2) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: n_classes %d must be >= 2", k);
    kn_status st = kn__svm_check_opts(ctx, opts, k);
    if (st != KN_OK) return st;
    if (!data->x || !data->y || n <= 0 || d <= 0)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: needs x and labels y (n %lld, d %lld)", (long long)n,
                         (long long)d);
    size_t nd;
    if (!kn__mul_size((size_t)n, (size_t)d, &nd))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: %lld x %lld is too large", (long long)n, (long long)d);
    if (!kn__all_finite(data->x, nd)) return kn__error(ctx, KN_ERR_NUMERIC, "svm: x has NaN or infinity");
    const int64_t pairs = (int64_t)k * (k - 1) / 2;

    int64_t *count = kn__calloc(ctx, (size_t)k, sizeof *count), *start = kn__calloc(ctx, (size_t)k, sizeof *start);
    int64_t *perm = kn__alloc(ctx, (size_t)n * sizeof *perm);
    double *c_row = kn__alloc(ctx, (size_t)n * sizeof *c_row);
    int32_t *pair_i = kn__alloc(ctx, (size_t)pairs * sizeof *pair_i), *pair_j = kn__alloc(ctx, (size_t)pairs * sizeof *pair_j);
    int32_t *order = kn__alloc(ctx, (size_t)pairs * sizeof *order);
    double **alpha = kn__calloc(ctx, (size_t)pairs, sizeof *alpha);
    double *rho = kn__calloc(ctx, (size_t)pairs, sizeof *rho), *obj = kn__calloc(ctx, (size_t)pairs, sizeof *obj);
    int64_t *iters = kn__calloc(ctx, (size_t)pairs, sizeof *iters);
    bool *failed = kn__calloc(ctx, (size_t)pairs, sizeof *failed);
    uint8_t *nonzero = kn__calloc(ctx, (size_t)n, sizeof *nonzero);
    int64_t *nz_start = kn__calloc(ctx, (size_t)k, sizeof *nz_start);
    bool sh_lock = false;
    kn__svm_shared sh;
    if (!count || !start || !perm || !c_row || !pair_i || !pair_j || !order || !alpha || !rho || !obj || !iters ||
        !failed || !nonzero || !nz_start) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "svm: no memory for %lld rows", (long long)n);
        goto done;
    }

    /* rows of positive weight, grouped by class (LIBSVM's remove_zero_weight, group_classes) */
    for (int64_t r = 0; r < n; r++) {
        int32_t c = data->y[r];
        if (c < 0 || c >= k) {
            st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: label %d of row %lld is not in [0, %d)", c, (long long)r, k);
            goto done;
        }
        if (data->w && (!(data->w[r] >= 0) || !isfinite(data->w[r]))) {
            st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: sample weight %g of row %lld must be >= 0",
                           (double)data->w[r], (long long)r);
            goto done;
        }
        if (!data->w || data->w[r] > 0) count[c]++;
    }
    for (int c = 0; c < k; c++) {
        if (count[c] == 0) {
            st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: class %d has no rows of positive weight", c);
            goto done;
        }
        if (c > 0) start[c] = start[c - 1] + count[c - 1];
    }
    for (int c = 0; c < k - 1; c++)
        for (int c2 = c + 1; c2 < k; c2++)
            if (count[c] + count[c2] > INT32_MAX) {
                st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: classes %d and %d have %lld rows, at most 2^31-1", c,
                               c2, (long long)(count[c] + count[c2]));
                goto done;
            }
    for (int64_t r = 0; r < n; r++) {
        if (data->w && !(data->w[r] > 0)) continue;
        int32_t c = data->y[r];
        double cw = opts->class_weight ? opts->class_weight[c] : 1.0;
        /* each row's bound: C-SVC's C times the weights; nu-SVC's the sample weights alone */
        c_row[start[c]] = (opts->nu > 0 ? 1.0 : opts->C) * cw * (data->w ? (double)data->w[r] : 1.0);
        perm[start[c]++] = r;
    }
    for (int c = 0; c < k; c++) start[c] -= count[c];
    /* nu-SVC: nu is feasible for a pair only if nu (n_a + n_b) / 2 <= min(n_a, n_b), with the
     * rows' weights summed (LIBSVM's svm_check_parameter; scikit-learn's with weights) */
    for (int a = 0; opts->nu > 0 && a < k; a++)
        for (int b = a + 1; b < k; b++) {
            double na = 0, nb = 0;
            for (int64_t t = 0; t < count[a]; t++) na += c_row[start[a] + t];
            for (int64_t t = 0; t < count[b]; t++) nb += c_row[start[b] + t];
            if (opts->nu * (na + nb) / 2 > fmin(na, nb)) {
                st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                               "svm.nu: %g is infeasible for classes %d and %d (%g and %g rows): at most %.4g", opts->nu, a, b, na,
                               nb, 2 * fmin(na, nb) / (na + nb));
                goto done;
            }
        }

    double gamma;
    if ((st = kn__svm_shared_init(&sh, ctx, opts, data->x, nd, d, &gamma)) != KN_OK) goto done;
    sh_lock = true;

    int64_t p = 0;
    for (int a = 0; a < k; a++)
        for (int b = a + 1; b < k; b++) pair_i[p] = a, pair_j[p] = b, order[p] = (int32_t)p, p++;
    /* biggest problems first, so the last one to start is a small one (insertion sort: few pairs) */
    for (int64_t t = 1; t < pairs; t++) {
        int32_t v = order[t];
        int64_t size = count[pair_i[v]] + count[pair_j[v]], u = t - 1;
        while (u >= 0 && count[pair_i[order[u]]] + count[pair_j[order[u]]] < size) order[u + 1] = order[u], u--;
        order[u + 1] = v;
    }
    if (opts->probability) {
        out->prob_a = kn__alloc(ctx, (size_t)pairs * sizeof *out->prob_a);
        out->prob_b = kn__alloc(ctx, (size_t)pairs * sizeof *out->prob_b);
    }
    double *prob_a = opts->probability ? kn__alloc(ctx, (size_t)pairs * sizeof *prob_a) : NULL;
    double *prob_b = opts->probability ? kn__alloc(ctx, (size_t)pairs * sizeof *prob_b) : NULL;
    if (opts->probability && (!out->prob_a || !out->prob_b || !prob_a || !prob_b)) {
        kn__free(ctx, prob_a);
        kn__free(ctx, prob_b);
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "svm: no memory for %lld pairs", (long long)pairs);
        goto done;
    }
    /* one pair: it runs on this thread, and its kernel rows' products may use them all */
    if (pairs == 1) sh.gemm_threads = kn_ctx_threads(ctx);
    pair_job job = {&sh, perm, start, count, c_row, pair_i, pair_j, order, alpha, rho, obj, iters, prob_a, prob_b, failed};
    kn__pool_run(kn_ctx_threads(ctx), pairs, solve_pair, &job);
    if (prob_a)
        for (p = 0; p < pairs; p++) out->prob_a[p] = (float)prob_a[p], out->prob_b[p] = (float)prob_b[p];
    kn__free(ctx, prob_a);
    kn__free(ctx, prob_b);
    for (p = 0; p < pairs; p++)
        if (failed[p]) {
            st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "svm: no memory to solve classes %d vs %d (%lld rows, cache %g MB)",
                           pair_i[p], pair_j[p], (long long)(count[pair_i[p]] + count[pair_j[p]]), opts->cache_size);
            goto done;
        }

    /* the model, as LIBSVM's svm_train builds it */
    for (p = 0; p < pairs; p++) {
        const int a = pair_i[p], b = pair_j[p];
        for (int64_t t = 0; t < count[a]; t++) nonzero[start[a] + t] |= alpha[p][t] != 0;
        for (int64_t t = 0; t < count[b]; t++) nonzero[start[b] + t] |= alpha[p][count[a] + t] != 0;
        out->n_iter += iters[p];
    }
    out->n_sv_class = kn__calloc(ctx, (size_t)k, sizeof *out->n_sv_class);
    out->intercept = kn__alloc(ctx, (size_t)pairs * sizeof *out->intercept);
    if (!out->n_sv_class || !out->intercept) goto oom;
    int64_t n_sv = 0;
    for (int c = 0; c < k; c++) {
        nz_start[c] = n_sv;
        for (int64_t t = 0; t < count[c]; t++) out->n_sv_class[c] += nonzero[start[c] + t];
        n_sv += out->n_sv_class[c];
    }
    out->sv = kn__alloc(ctx, (size_t)(n_sv > 0 ? n_sv : 1) * (size_t)d * sizeof *out->sv);
    out->support = kn__alloc(ctx, (size_t)(n_sv > 0 ? n_sv : 1) * sizeof *out->support);
    out->dual_coef = kn__calloc(ctx, (size_t)(k - 1) * (size_t)(n_sv > 0 ? n_sv : 1), sizeof *out->dual_coef);
    if (!out->sv || !out->support || !out->dual_coef) goto oom;
    for (int64_t t = 0, q = 0; t < start[k - 1] + count[k - 1]; t++)
        if (nonzero[t]) {
            memcpy(out->sv + q * d, data->x + perm[t] * d, (size_t)d * sizeof *out->sv);
            out->support[q++] = perm[t];
        }
    for (p = 0; p < pairs; p++) {
        const int a = pair_i[p], b = pair_j[p];
        int64_t q = nz_start[a];
        for (int64_t t = 0; t < count[a]; t++)
            if (nonzero[start[a] + t]) out->dual_coef[(int64_t)(b - 1) * n_sv + q++] = (float)alpha[p][t];
        q = nz_start[b];
        for (int64_t t = 0; t < count[b]; t++)
            if (nonzero[start[b] + t]) out->dual_coef[(int64_t)a * n_sv + q++] = (float)alpha[p][count[a] + t];
        out->intercept[p] = (float)-rho[p];
    }
    out->n_classes = k;
    out->n_sv = n_sv;
    out->d = d;
    kn__svm_set_kernel(out, opts, gamma);
    if (opts->max_iter != -1)
        for (p = 0; p < pairs; p++)
            if (iters[p] >= opts->max_iter) {
                kn__log(ctx, KN_LOG_WARN, "svm: classes %d vs %d stopped at max_iter %lld before tol %g", pair_i[p],
                        pair_j[p], (long long)opts->max_iter, opts->tol);
                break;
            }
    goto done;
oom:
    st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "svm: no memory for the model");
done:
    if (sh_lock) kn__svm_shared_done(&sh);
    if (alpha)
        for (p = 0; p < pairs; p++) kn__free(ctx, alpha[p]);
    kn__free(ctx, alpha);
    kn__free(ctx, count);
    kn__free(ctx, start);
    kn__free(ctx, perm);
    kn__free(ctx, c_row);
    kn__free(ctx, pair_i);
    kn__free(ctx, pair_j);
    kn__free(ctx, order);
    kn__free(ctx, rho);
    kn__free(ctx, obj);
    kn__free(ctx, iters);
    kn__free(ctx, failed);
    kn__free(ctx, nonzero);
    kn__free(ctx, nz_start);
    if (st != KN_OK) kn__svm_free(ctx, out);
    return st;
}
