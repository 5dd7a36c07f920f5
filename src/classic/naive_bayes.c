/* naive_bayes.c — gaussian_nb and multinomial_nb, scikit-learn 1.2's GaussianNB and
 * MultinomialNB, as kiln models. Both fit in one pass of weighted sums (class and sample
 * weights multiply a row's contribution, as scikit-learn's sample_weight does) and predict
 * class probabilities from the joint log-likelihood, normalized by log-sum-exp.
 *
 * gaussian_nb {priors: null | [p per class], var_smoothing: 1e-9}: per class the weighted
 * mean and (biased) variance of each feature, every variance plus var_smoothing times the
 * largest feature variance over all the rows (unweighted, as scikit-learn's np.var(X)).
 * Tensors "theta" (classes, d), "var" (classes, d), "class_prior" (classes).
 *
 * multinomial_nb {alpha: 1.0, force_alpha: accepted, fit_prior: true, class_prior: null |
 * [p per class]}: for counts or frequencies (TF-IDF, csv:...:text=COL:scale=none): per class
 * log((N_cj + alpha) / (N_c + alpha d)) with N the weighted feature sums; a negative feature is
 * an error naming its row and column. The prior: class_prior, else the weighted class shares
 * (fit_prior), else uniform. Tensors "feature_log_prob" (classes, d), "class_log_prior" (classes).
 *
 * Where kiln differs: alpha below 1e-10 is raised to 1e-10, with a warning, as scikit-learn
 * does unless force_alpha is true (kiln always does: an alpha of 0 makes log-probabilities of
 * -inf, and 0 x -inf a NaN prediction). */
#include "classic/hparams.h"
#include "classic/model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

typedef struct nb_state {
    bool multinomial;
    double var_smoothing, alpha;
    bool fit_prior, force_alpha;
    double *prior;      /* (n_prior) the description's priors / class_prior, or NULL */
    int n_prior;
    int classes;
    int64_t d;
    float *theta, *var; /* gaussian: (classes, d) */
    float *log_prob;    /* multinomial: (classes, d) feature_log_prob */
    float *class_prior; /* gaussian: (classes) priors */
    float *log_prior;   /* multinomial: (classes) class_log_prior */
} nb_state;

static kn_status read_prior(kn_ctx *ctx, const cJSON *spec, const char *type, const char *key, nb_state *s) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(spec, key);
    if (!p || cJSON_IsNull(p)) return KN_OK;
    int n = cJSON_IsArray(p) ? cJSON_GetArraySize(p) : 0;
    if (n < 2 || n > 65536) return kn__error(ctx, KN_ERR_SPEC, "%s.%s: expected null or a list of probabilities by class", type, key);
    s->prior = kn__alloc(ctx, (size_t)n * sizeof *s->prior);
    if (!s->prior) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", type);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetArrayItem(p, i);
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 1)
            return kn__error(ctx, KN_ERR_SPEC, "%s.%s[%d]: expected a probability in [0, 1]", type, key, i);
        sum += s->prior[i] = v->valuedouble;
    }
    /* GaussianNB insists that priors sum to 1; MultinomialNB takes them as given */
    if (!s->multinomial && fabs(sum - 1) > 1e-8) return kn__error(ctx, KN_ERR_SPEC, "%s.%s: the priors sum to %.10g, not 1", type, key, sum);
    s->n_prior = n;
    return KN_OK;
}

static kn_status gnb_parse(kn_ctx *ctx, const cJSON *spec, void *state) {
    static const char *const keys[] = {"priors", "var_smoothing", NULL};
    nb_state *s = state;
    s->var_smoothing = 1e-9;
    kn_status st = kn__hp_known(ctx, spec, "gaussian_nb", keys);
    if (!st) st = kn__hp_number(ctx, spec, "gaussian_nb", "var_smoothing", 0, false, INFINITY, &s->var_smoothing);
    if (!st) st = read_prior(ctx, spec, "gaussian_nb", "priors", s);
    return st;
}

static kn_status mnb_parse(kn_ctx *ctx, const cJSON *spec, void *state) {
    static const char *const keys[] = {"alpha", "force_alpha", "fit_prior", "class_prior", NULL};
    nb_state *s = state;
    s->multinomial = true;
    s->alpha = 1;
    s->fit_prior = true;
    kn_status st = kn__hp_known(ctx, spec, "multinomial_nb", keys);
    if (!st) st = kn__hp_number(ctx, spec, "multinomial_nb", "alpha", 0, false, INFINITY, &s->alpha);
    if (!st) st = kn__hp_bool(ctx, spec, "multinomial_nb", "force_alpha", &s->force_alpha);
    if (!st) st = kn__hp_bool(ctx, spec, "multinomial_nb", "fit_prior", &s->fit_prior);
    if (!st) st = read_prior(ctx, spec, "multinomial_nb", "class_prior", s);
    return st;
}

static cJSON *prior_json(const nb_state *s) {
    if (!s->prior) return cJSON_CreateNull();
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < s->n_prior; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(s->prior[i]));
    return a;
}

static cJSON *nb_describe(const void *state) {
    const nb_state *s = state;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "type", s->multinomial ? "multinomial_nb" : "gaussian_nb");
    if (s->multinomial) {
        cJSON_AddNumberToObject(j, "alpha", s->alpha);
        cJSON_AddBoolToObject(j, "force_alpha", s->force_alpha);
        cJSON_AddBoolToObject(j, "fit_prior", s->fit_prior);
        cJSON_AddItemToObject(j, "class_prior", prior_json(s));
    } else {
        cJSON_AddItemToObject(j, "priors", prior_json(s));
        cJSON_AddNumberToObject(j, "var_smoothing", s->var_smoothing);
    }
    return j;
}

static void nb_free_fit(kn_ctx *ctx, nb_state *s) {
    kn__free(ctx, s->theta), kn__free(ctx, s->var), kn__free(ctx, s->log_prob);
    kn__free(ctx, s->class_prior), kn__free(ctx, s->log_prior);
    s->theta = s->var = s->log_prob = s->class_prior = s->log_prior = NULL;
}

static void nb_free(kn_ctx *ctx, void *state) {
    nb_state *s = state;
    nb_free_fit(ctx, s);
    kn__free(ctx, s->prior);
    s->prior = NULL;
}

/* Allocates the fitted arrays for C classes of d features. */
static kn_status nb_alloc(kn_ctx *ctx, nb_state *s, int C, int64_t d, const char *what) {
    nb_free_fit(ctx, s);
    s->classes = C, s->d = d;
    const size_t cd = (size_t)C * (size_t)d * sizeof(float), c = (size_t)C * sizeof(float);
    if (s->multinomial) s->log_prob = kn__alloc(ctx, cd), s->log_prior = kn__alloc(ctx, c);
    else s->theta = kn__alloc(ctx, cd), s->var = kn__alloc(ctx, cd), s->class_prior = kn__alloc(ctx, c);
    bool ok = s->multinomial ? s->log_prob && s->log_prior : s->theta && s->var && s->class_prior;
    return ok ? KN_OK : kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
}

static kn_status nb_fit(kn_ctx *ctx, void *state, const kn__xy *xy) {
    nb_state *s = state;
    const char *T = s->multinomial ? "multinomial_nb" : "gaussian_nb";
    const int C = xy->n_classes;
    const int64_t n = xy->n, d = xy->d;
    if (s->prior && s->n_prior != C)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s.%s: %d priors for %d classes", T, s->multinomial ? "class_prior" : "priors",
                         s->n_prior, C);
    for (int64_t i = 0; i < n * d; i++) {
        if (!isfinite(xy->x[i]))
            return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: row %lld, feature %lld is not finite", T, (long long)(i / d), (long long)(i % d));
        if (s->multinomial && xy->x[i] < 0)
            return kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                             "%s: row %lld, feature %lld is %g: counts or frequencies are needed (for a CSV, scale=none or minmax)", T,
                             (long long)(i / d), (long long)(i % d), xy->x[i]);
    }
    /* weighted sums per class: weight and sum x; then (gaussian) the squared deviations */
    double *W = kn__calloc(ctx, (size_t)C, sizeof *W), *S = kn__calloc(ctx, (size_t)C * (size_t)d, sizeof *S),
           *Q = s->multinomial ? NULL : kn__calloc(ctx, (size_t)C * (size_t)d, sizeof *Q);
    kn_status st = W && S && (s->multinomial || Q) ? nb_alloc(ctx, s, C, d, T) : kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", T);
    for (int64_t i = 0; i < n && !st; i++) {
        const double w = xy->w ? xy->w[i] : 1.0;
        const int c = xy->y[i];
        const float *x = xy->x + i * d;
        double *sc = S + (size_t)c * (size_t)d;
        W[c] += w;
        for (int64_t j = 0; j < d; j++) sc[j] += w * x[j];
    }
    for (int64_t i = 0; Q && i < n && !st; i++) { /* about each class's mean, for precision */
        const double w = xy->w ? xy->w[i] : 1.0;
        const int c = xy->y[i];
        const float *x = xy->x + i * d;
        const double *sc = S + (size_t)c * (size_t)d;
        double *qc = Q + (size_t)c * (size_t)d;
        for (int64_t j = 0; j < d; j++) {
            const double dev = x[j] - sc[j] / W[c];
            qc[j] += w * dev * dev;
        }
    }
    double total = 0;
    for (int c = 0; c < C; c++) total += W[c];
    if (!st && !(total > 0)) st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: the rows' weights sum to 0", T);
    if (!st && s->multinomial) {
        double alpha = s->alpha;
        if (alpha < 1e-10) {
            kn__log(ctx, KN_LOG_WARN, "multinomial_nb.alpha: %g is too small for the logarithms; using 1e-10", alpha);
            alpha = 1e-10;
        }
        for (int c = 0; c < C; c++) {
            const double *sc = S + (size_t)c * (size_t)d;
            double row = 0;
            for (int64_t j = 0; j < d; j++) row += sc[j] + alpha;
            for (int64_t j = 0; j < d; j++) s->log_prob[(size_t)c * (size_t)d + (size_t)j] = (float)(log(sc[j] + alpha) - log(row));
            s->log_prior[c] = (float)(s->prior ? log(s->prior[c]) : s->fit_prior ? log(W[c]) - log(total) : -log((double)C));
        }
    } else if (!st) {
        /* epsilon: var_smoothing times the largest feature variance over all rows (unweighted),
         * two passes row by row (the data is row-major) */
        double largest = 0, *m1 = kn__calloc(ctx, (size_t)d * 2, sizeof *m1), *m2 = m1 ? m1 + d : NULL;
        if (!m1) st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", T);
        for (int64_t i = 0; m1 && i < n; i++)
            for (int64_t j = 0; j < d; j++) m1[j] += xy->x[i * d + j];
        for (int64_t j = 0; m1 && j < d; j++) m1[j] /= (double)n;
        for (int64_t i = 0; m1 && i < n; i++)
            for (int64_t j = 0; j < d; j++) m2[j] += (xy->x[i * d + j] - m1[j]) * (xy->x[i * d + j] - m1[j]);
        for (int64_t j = 0; m1 && j < d; j++) largest = fmax(largest, m2[j] / (double)n);
        kn__free(ctx, m1);
        const double eps = s->var_smoothing * largest;
        for (int c = 0; c < C && !st; c++) {
            for (int64_t j = 0; j < d; j++) {
                const size_t k = (size_t)c * (size_t)d + (size_t)j;
                const double mean = W[c] > 0 ? S[k] / W[c] : 0;
                const double var = W[c] > 0 ? Q[k] / W[c] : 0;
                s->theta[k] = (float)mean;
                s->var[k] = (float)(var + eps);
                if (!(s->var[k] > 0))
                    st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                                   "gaussian_nb: feature %lld has variance 0 in class %d (var_smoothing > 0 avoids this)", (long long)j, c);
            }
            s->class_prior[c] = (float)(s->prior ? s->prior[c] : W[c] / total);
        }
    }
    kn__free(ctx, W), kn__free(ctx, S), kn__free(ctx, Q);
    if (st) nb_free_fit(ctx, s);
    return st;
}

/* Class probabilities from each class's joint log-likelihood (log-sum-exp). */
static kn_status nb_predict(kn_ctx *ctx, const void *state, const float *x, int64_t n, float *out) {
    const nb_state *s = state;
    const int C = s->classes;
    const int64_t d = s->d;
    double jll[C > 0 ? C : 1];
    /* gaussian: per class, log prior - 1/2 sum log(2 pi var), and 1 / var, computed once */
    double *base = NULL, *inv = NULL;
    if (!s->multinomial) {
        base = kn__alloc(ctx, (size_t)C * sizeof *base);
        inv = kn__alloc(ctx, (size_t)C * (size_t)d * sizeof *inv);
        if (!base || !inv) {
            kn__free(ctx, base), kn__free(ctx, inv);
            return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "gaussian_nb: out of memory");
        }
        for (int c = 0; c < C; c++) {
            const float *va = s->var + (size_t)c * (size_t)d;
            double b = s->class_prior[c] > 0 ? log(s->class_prior[c]) : -INFINITY;
            for (int64_t j = 0; j < d; j++) b -= 0.5 * log(2 * M_PI * va[j]), inv[(size_t)c * (size_t)d + (size_t)j] = 1.0 / va[j];
            base[c] = b;
        }
    }
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * d;
        double top = -INFINITY;
        for (int c = 0; c < C; c++) {
            double v = 0;
            if (s->multinomial) {
                const float *lp = s->log_prob + (size_t)c * (size_t)d;
                for (int64_t j = 0; j < d; j++) v += (double)xi[j] * lp[j];
                v += s->log_prior[c];
            } else {
                const float *th = s->theta + (size_t)c * (size_t)d;
                const double *iv = inv + (size_t)c * (size_t)d;
                double q = 0;
                for (int64_t j = 0; j < d; j++) {
                    const double diff = (double)xi[j] - th[j];
                    q += diff * diff * iv[j];
                }
                v = base[c] - 0.5 * q;
            }
            jll[c] = v;
            top = fmax(top, v);
        }
        double sum = 0;
        for (int c = 0; c < C; c++) sum += exp(jll[c] - top);
        for (int c = 0; c < C; c++) out[i * C + c] = isfinite(top) ? (float)(exp(jll[c] - top) / sum) : 1.0f / (float)C;
    }
    kn__free(ctx, base);
    kn__free(ctx, inv);
    return KN_OK;
}

static bool nb_proba(const void *state) {
    (void)state;
    return true;
}

static int nb_tensors(kn_ctx *ctx, void *state, kn__ctensor *t, int max) {
    (void)ctx;
    const nb_state *s = state;
    if (max < 3) return -1;
    if (s->multinomial) {
        t[0] = (kn__ctensor){.name = "feature_log_prob", .dtype = KN_F32, .ndim = 2, .shape = {s->classes, s->d}, .data = s->log_prob};
        t[1] = (kn__ctensor){.name = "class_log_prior", .dtype = KN_F32, .ndim = 1, .shape = {s->classes, 1}, .data = s->log_prior};
        return 2;
    }
    t[0] = (kn__ctensor){.name = "theta", .dtype = KN_F32, .ndim = 2, .shape = {s->classes, s->d}, .data = s->theta};
    t[1] = (kn__ctensor){.name = "var", .dtype = KN_F32, .ndim = 2, .shape = {s->classes, s->d}, .data = s->var};
    t[2] = (kn__ctensor){.name = "class_prior", .dtype = KN_F32, .ndim = 1, .shape = {s->classes, 1}, .data = s->class_prior};
    return 3;
}

/* A (rows, cols) or (rows) F32 tensor of that name whose values all pass ok, copied into *out. */
static kn_status take(kn_ctx *ctx, const kn__ctensor *t, int n, const char *name, int64_t rows, int64_t cols, bool (*ok)(float),
                      const char *what, const char *path, float **out) {
    const kn__ctensor *x = kn__ctensor_find(t, n, name, KN_F32);
    if (!x || x->ndim != (cols ? 2 : 1) || x->shape[0] != rows || (cols && x->shape[1] != cols))
        return kn__error(ctx, KN_ERR_FORMAT, "%s: a naive Bayes model needs F32 '%s' (%lld%s)", path, name, (long long)rows,
                         cols ? ", features" : "");
    const int64_t count = rows * (cols ? cols : 1);
    const float *v = x->data;
    for (int64_t i = 0; i < count; i++)
        if (!ok(v[i])) return kn__error(ctx, KN_ERR_FORMAT, "%s: %s[%lld] = %g: %s", path, name, (long long)i, v[i], what);
    memcpy(*out, v, (size_t)count * sizeof(float));
    return KN_OK;
}

static bool is_finite(float v) { return isfinite(v); }
static bool is_positive(float v) { return v > 0 && isfinite(v); }
static bool is_probability(float v) { return v >= 0 && v <= 1; }
static bool is_log_probability(float v) { return v <= 0 && !isnan(v); } /* -inf: a class of prior 0 */

static kn_status nb_load(kn_ctx *ctx, void *state, const kn__ctensor *t, int n, int64_t d, int outputs, const char *path) {
    nb_state *s = state;
    kn_status st = nb_alloc(ctx, s, outputs, d, path);
    if (st) return st;
    if (s->multinomial) {
        st = take(ctx, t, n, "feature_log_prob", outputs, d, is_log_probability, "not a log-probability", path, &s->log_prob);
        if (!st) st = take(ctx, t, n, "class_log_prior", outputs, 0, is_log_probability, "not a log-probability", path, &s->log_prior);
    } else {
        st = take(ctx, t, n, "theta", outputs, d, is_finite, "not finite", path, &s->theta);
        if (!st) st = take(ctx, t, n, "var", outputs, d, is_positive, "not a positive variance", path, &s->var);
        if (!st) st = take(ctx, t, n, "class_prior", outputs, 0, is_probability, "not a probability", path, &s->class_prior);
    }
    return st;
}

static int64_t nb_params(const void *state) {
    const nb_state *s = state;
    return (int64_t)s->classes * s->d * (s->multinomial ? 1 : 2) + s->classes;
}

const kn__classic_ops kn__ops_gaussian_nb = {
    .name = "gaussian_nb", .classification = true, .state_size = sizeof(nb_state),
    .parse = gnb_parse, .describe = nb_describe, .fit = nb_fit, .predict = nb_predict, .has_proba = nb_proba,
    .tensors = nb_tensors, .load = nb_load, .free = nb_free, .param_count = nb_params,
};

const kn__classic_ops kn__ops_multinomial_nb = {
    .name = "multinomial_nb", .classification = true, .state_size = sizeof(nb_state),
    .parse = mnb_parse, .describe = nb_describe, .fit = nb_fit, .predict = nb_predict, .has_proba = nb_proba,
    .tensors = nb_tensors, .load = nb_load, .free = nb_free, .param_count = nb_params,
};
