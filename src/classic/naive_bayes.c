/* naive_bayes.c — gaussian_nb, multinomial_nb, bernoulli_nb and complement_nb: scikit-learn
 * 1.2's GaussianNB, MultinomialNB, BernoulliNB and ComplementNB as kiln models. Each fits in
 * one pass of weighted sums (class and sample weights multiply a row's contribution, as
 * scikit-learn's sample_weight does) and predicts class probabilities from the joint
 * log-likelihood, normalized by log-sum-exp.
 *
 * gaussian_nb {priors: null | [p per class], var_smoothing: 1e-9}: per class the weighted
 * mean and (biased) variance of each feature, every variance plus var_smoothing times the
 * largest feature variance over all the rows (unweighted, as scikit-learn's np.var(X)).
 * Tensors "theta" (classes, d), "var" (classes, d), "class_prior" (classes).
 *
 * The discrete three share {alpha: 1.0, force_alpha: false, fit_prior: true, class_prior:
 * null | [p per class]}, N_cj the weighted sum of feature j over class c's rows and N_c the
 * class's weight; tensors "feature_log_prob" (classes, d) and "class_log_prior" (classes):
 * class_prior's logarithms, else the weighted class shares' (fit_prior), else uniform.
 * alpha below 1e-10 is raised to 1e-10 (with a warning) unless force_alpha is true, as
 * scikit-learn 1.2 does (its default force_alpha="warn" acts as false; "warn" is taken too).
 * - multinomial_nb, for counts or frequencies (TF-IDF, csv:...:text=COL:scale=none):
 *   log((N_cj + alpha) / (N_c. + alpha d)), N_c. = sum_j N_cj; jll = x . flp_c + prior_c.
 * - bernoulli_nb {binarize: 0.0 | null}: x > binarize counts as 1, else 0 (null: the
 *   features are taken as they are, and fitting needs them in [0, 1]); flp = log((N_cj +
 *   alpha) / (N_c + 2 alpha)), and jll = prior_c + sum_j x_j log p_cj + (1 - x_j) log(1 - p_cj).
 * - complement_nb {norm: false}: Rennie et al.'s complement weights: with the complement
 *   counts K_cj = sum_k N_kj + alpha - N_cj, w_cj = log(K_cj / sum_j K_cj), flp = -w (or, with
 *   norm, w_cj / sum_j w_cj); jll = x . flp_c, the class prior left out: scikit-learn adds it
 *   only when the training labels hold one class, which a kiln classifier never has (it
 *   needs two), so class_log_prior is kept as scikit-learn's attribute and not used.
 * multinomial_nb and complement_nb refuse a negative feature, naming its row and column.
 *
 * Where kiln differs: with force_alpha and alpha 0 a log-probability can be -inf (or a
 * complement weight +inf); kiln takes a feature that is 0 in the row as contributing nothing
 * (x^0 = 1) where scikit-learn's matrix product gives 0 x inf = NaN, and a fit that would
 * leave 0/0 (NaN) in feature_log_prob is refused. Among classes whose score is +inf the
 * probability is shared equally; when every class scores -inf, uniformly. */
#include "classic/hparams.h"
#include "classic/model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

typedef enum nb_kind { NB_GAUSSIAN, NB_MULTINOMIAL, NB_BERNOULLI, NB_COMPLEMENT } nb_kind;
static const char *const kind_names[] = {"gaussian_nb", "multinomial_nb", "bernoulli_nb", "complement_nb"};

typedef struct nb_state {
    nb_kind kind;
    double var_smoothing, alpha;
    double binarize;    /* bernoulli: the threshold, when has_binarize */
    bool has_binarize;  /* bernoulli: false for "binarize": null */
    bool fit_prior, force_alpha, norm;
    double *prior;      /* (n_prior) the description's priors / class_prior, or NULL */
    int n_prior;
    int classes;
    int64_t d;
    float *theta, *var; /* gaussian: (classes, d) */
    float *class_prior; /* gaussian: (classes) priors */
    float *log_prob;    /* discrete: (classes, d) feature_log_prob */
    float *log_prior;   /* discrete: (classes) class_log_prior */
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
    /* GaussianNB insists that priors sum to 1; the discrete ones take them as given */
    if (s->kind == NB_GAUSSIAN && fabs(sum - 1) > 1e-8)
        return kn__error(ctx, KN_ERR_SPEC, "%s.%s: the priors sum to %.10g, not 1", type, key, sum);
    s->n_prior = n;
    return KN_OK;
}

static kn_status gnb_parse(kn_ctx *ctx, const cJSON *spec, void *state) {
    static const char *const keys[] = {"priors", "var_smoothing", NULL};
    nb_state *s = state;
    s->kind = NB_GAUSSIAN;
    s->var_smoothing = 1e-9;
    kn_status st = kn__hp_known(ctx, spec, "gaussian_nb", keys);
    if (!st) st = kn__hp_number(ctx, spec, "gaussian_nb", "var_smoothing", 0, false, INFINITY, &s->var_smoothing);
    if (!st) st = read_prior(ctx, spec, "gaussian_nb", "priors", s);
    return st;
}

/* The hyperparameters of the discrete kinds; keys lists the kind's own. */
static kn_status discrete_parse(kn_ctx *ctx, const cJSON *spec, nb_state *s, nb_kind kind, const char *const *keys) {
    const char *T = kind_names[kind];
    s->kind = kind;
    s->alpha = 1;
    s->fit_prior = true;
    s->has_binarize = kind == NB_BERNOULLI; /* binarize 0.0 */
    kn_status st = kn__hp_known(ctx, spec, T, keys);
    if (!st) st = kn__hp_number(ctx, spec, T, "alpha", 0, false, INFINITY, &s->alpha);
    /* "warn", scikit-learn 1.2's default, acts as false */
    const cJSON *force = cJSON_GetObjectItemCaseSensitive(spec, "force_alpha");
    if (!st && force && !(cJSON_IsString(force) && strcmp(force->valuestring, "warn") == 0)) {
        if (cJSON_IsBool(force)) s->force_alpha = cJSON_IsTrue(force);
        else st = kn__error(ctx, KN_ERR_SPEC, "%s.force_alpha: expected true, false or \"warn\"", T);
    }
    if (!st) st = kn__hp_bool(ctx, spec, T, "fit_prior", &s->fit_prior);
    if (!st) st = read_prior(ctx, spec, T, "class_prior", s);
    if (!st && kind == NB_COMPLEMENT) st = kn__hp_bool(ctx, spec, T, "norm", &s->norm);
    const cJSON *b = kind == NB_BERNOULLI ? cJSON_GetObjectItemCaseSensitive(spec, "binarize") : NULL;
    if (!st && cJSON_IsNull(b)) s->has_binarize = false;
    else if (!st && b) st = kn__hp_number(ctx, spec, T, "binarize", 0, false, INFINITY, &s->binarize);
    return st;
}

static kn_status mnb_parse(kn_ctx *ctx, const cJSON *spec, void *state) {
    static const char *const keys[] = {"alpha", "force_alpha", "fit_prior", "class_prior", NULL};
    return discrete_parse(ctx, spec, state, NB_MULTINOMIAL, keys);
}

static kn_status bnb_parse(kn_ctx *ctx, const cJSON *spec, void *state) {
    static const char *const keys[] = {"alpha", "force_alpha", "binarize", "fit_prior", "class_prior", NULL};
    return discrete_parse(ctx, spec, state, NB_BERNOULLI, keys);
}

static kn_status cnb_parse(kn_ctx *ctx, const cJSON *spec, void *state) {
    static const char *const keys[] = {"alpha", "force_alpha", "fit_prior", "class_prior", "norm", NULL};
    return discrete_parse(ctx, spec, state, NB_COMPLEMENT, keys);
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
    cJSON_AddStringToObject(j, "type", kind_names[s->kind]);
    if (s->kind == NB_GAUSSIAN) {
        cJSON_AddItemToObject(j, "priors", prior_json(s));
        cJSON_AddNumberToObject(j, "var_smoothing", s->var_smoothing);
        return j;
    }
    cJSON_AddNumberToObject(j, "alpha", s->alpha);
    cJSON_AddBoolToObject(j, "force_alpha", s->force_alpha);
    if (s->kind == NB_BERNOULLI) {
        if (s->has_binarize) cJSON_AddNumberToObject(j, "binarize", s->binarize);
        else cJSON_AddNullToObject(j, "binarize");
    }
    cJSON_AddBoolToObject(j, "fit_prior", s->fit_prior);
    cJSON_AddItemToObject(j, "class_prior", prior_json(s));
    if (s->kind == NB_COMPLEMENT) cJSON_AddBoolToObject(j, "norm", s->norm);
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
    const bool gaussian = s->kind == NB_GAUSSIAN;
    if (gaussian) s->theta = kn__alloc(ctx, cd), s->var = kn__alloc(ctx, cd), s->class_prior = kn__alloc(ctx, c);
    else s->log_prob = kn__alloc(ctx, cd), s->log_prior = kn__alloc(ctx, c);
    bool ok = gaussian ? s->theta && s->var && s->class_prior : s->log_prob && s->log_prior;
    return ok ? KN_OK : kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
}

/* A feature as the model counts it: bernoulli_nb's binarized value, else the value. */
static inline double feature_value(const nb_state *s, float x) {
    return s->kind == NB_BERNOULLI && s->has_binarize ? (double)((double)x > s->binarize) : (double)x;
}

/* The input checks of a fit: finite, and each kind's domain; an error names row and feature. */
static kn_status check_inputs(kn_ctx *ctx, const nb_state *s, const kn__xy *xy) {
    const char *T = kind_names[s->kind];
    const int64_t d = xy->d;
    const bool counts = s->kind == NB_MULTINOMIAL || s->kind == NB_COMPLEMENT;
    const bool binary = s->kind == NB_BERNOULLI && !s->has_binarize;
    for (int64_t i = 0; i < xy->n * d; i++) {
        const float v = xy->x[i];
        const long long row = (long long)(i / d), col = (long long)(i % d);
        if (!isfinite(v)) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: row %lld, feature %lld is not finite", T, row, col);
        if (counts && v < 0)
            return kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                             "%s: row %lld, feature %lld is %g: counts or frequencies are needed (for a CSV, scale=none or minmax)", T,
                             row, col, v);
        if (binary && (v < 0 || v > 1))
            return kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                             "%s: row %lld, feature %lld is %g: with binarize null the features must be in [0, 1] (or give binarize a "
                             "threshold)", T, row, col, v);
    }
    return KN_OK;
}

/* feature_log_prob and class_log_prior from the weighted sums: W (C) the classes' weights,
 * S (C, d) their feature sums, total the sum of W. */
static kn_status discrete_finish(kn_ctx *ctx, nb_state *s, const double *W, const double *S, double total) {
    const char *T = kind_names[s->kind];
    const int C = s->classes;
    const int64_t d = s->d;
    double alpha = s->alpha;
    if (alpha < 1e-10 && !s->force_alpha) {
        kn__log(ctx, KN_LOG_WARN, "%s.alpha: %g is too small for the logarithms; using 1e-10 (force_alpha: true keeps it)", T, alpha);
        alpha = 1e-10;
    }
    double *all = NULL; /* complement: (d) every class's sum of each feature */
    if (s->kind == NB_COMPLEMENT) {
        if (!(all = kn__calloc(ctx, (size_t)d, sizeof *all))) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", T);
        for (int c = 0; c < C; c++)
            for (int64_t j = 0; j < d; j++) all[j] += S[(size_t)c * (size_t)d + (size_t)j];
    }
    kn_status st = KN_OK;
    for (int c = 0; c < C && !st; c++) {
        const double *sc = S + (size_t)c * (size_t)d;
        float *lp = s->log_prob + (size_t)c * (size_t)d;
        double row = 0, logged_sum = 0;
        switch (s->kind) {
        case NB_MULTINOMIAL:
            for (int64_t j = 0; j < d; j++) row += sc[j] + alpha;
            for (int64_t j = 0; j < d; j++) lp[j] = (float)(log(sc[j] + alpha) - log(row));
            break;
        case NB_BERNOULLI:
            for (int64_t j = 0; j < d; j++) lp[j] = (float)(log(sc[j] + alpha) - log(W[c] + 2 * alpha));
            break;
        case NB_COMPLEMENT: /* scikit-learn's order: (all + alpha) - N_cj, then log of the share */
            for (int64_t j = 0; j < d; j++) row += all[j] + alpha - sc[j];
            for (int64_t j = 0; j < d; j++) logged_sum += log((all[j] + alpha - sc[j]) / row);
            for (int64_t j = 0; j < d; j++) {
                const double logged = log((all[j] + alpha - sc[j]) / row);
                lp[j] = (float)(s->norm ? logged / logged_sum : -logged);
            }
            break;
        case NB_GAUSSIAN: break;
        }
        for (int64_t j = 0; j < d && !st; j++)
            if (isnan(lp[j]))
                st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: feature_log_prob of class %d, feature %lld is 0/0 (%s)", T, c,
                               (long long)j, alpha == 0 ? "alpha 0 with force_alpha: give alpha > 0" : "norm with a single feature");
        s->log_prior[c] = (float)(s->prior ? log(s->prior[c]) : s->fit_prior ? log(W[c]) - log(total) : -log((double)C));
    }
    kn__free(ctx, all);
    return st;
}

/* gaussian_nb's means and variances: S the classes' feature sums, Q their squared deviations. */
static kn_status gaussian_finish(kn_ctx *ctx, nb_state *s, const kn__xy *xy, const double *W, const double *S, const double *Q,
                                 double total) {
    const int C = s->classes;
    const int64_t n = xy->n, d = xy->d;
    /* epsilon: var_smoothing times the largest feature variance over all rows (unweighted),
     * two passes row by row (the data is row-major) */
    double largest = 0, *m1 = kn__calloc(ctx, (size_t)d * 2, sizeof *m1), *m2 = m1 ? m1 + d : NULL;
    if (!m1) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "gaussian_nb: out of memory");
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) m1[j] += xy->x[i * d + j];
    for (int64_t j = 0; j < d; j++) m1[j] /= (double)n;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) m2[j] += (xy->x[i * d + j] - m1[j]) * (xy->x[i * d + j] - m1[j]);
    for (int64_t j = 0; j < d; j++) largest = fmax(largest, m2[j] / (double)n);
    kn__free(ctx, m1);
    const double eps = s->var_smoothing * largest;
    for (int c = 0; c < C; c++) {
        for (int64_t j = 0; j < d; j++) {
            const size_t k = (size_t)c * (size_t)d + (size_t)j;
            const double mean = W[c] > 0 ? S[k] / W[c] : 0;
            const double var = W[c] > 0 ? Q[k] / W[c] : 0;
            s->theta[k] = (float)mean;
            s->var[k] = (float)(var + eps);
            if (!(s->var[k] > 0))
                return kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                                 "gaussian_nb: feature %lld has variance 0 in class %d (var_smoothing > 0 avoids this)", (long long)j, c);
        }
        s->class_prior[c] = (float)(s->prior ? s->prior[c] : W[c] / total);
    }
    return KN_OK;
}

static kn_status nb_fit(kn_ctx *ctx, void *state, const kn__xy *xy) {
    nb_state *s = state;
    const char *T = kind_names[s->kind];
    const bool gaussian = s->kind == NB_GAUSSIAN;
    const int C = xy->n_classes;
    const int64_t n = xy->n, d = xy->d;
    if (s->prior && s->n_prior != C)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s.%s: %d priors for %d classes", T, gaussian ? "priors" : "class_prior",
                         s->n_prior, C);
    kn_status st = check_inputs(ctx, s, xy);
    if (st) return st;
    /* weighted sums per class: weight and sum x; then (gaussian) the squared deviations */
    double *W = kn__calloc(ctx, (size_t)C, sizeof *W), *S = kn__calloc(ctx, (size_t)C * (size_t)d, sizeof *S),
           *Q = gaussian ? kn__calloc(ctx, (size_t)C * (size_t)d, sizeof *Q) : NULL;
    st = W && S && (!gaussian || Q) ? nb_alloc(ctx, s, C, d, T) : kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", T);
    for (int64_t i = 0; i < n && !st; i++) {
        const double w = xy->w ? xy->w[i] : 1.0;
        const int c = xy->y[i];
        const float *x = xy->x + i * d;
        double *sc = S + (size_t)c * (size_t)d;
        W[c] += w;
        for (int64_t j = 0; j < d; j++) sc[j] += w * feature_value(s, x[j]);
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
    for (int c = 0; W && c < C; c++) total += W[c];
    if (!st && !(total > 0)) st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: the rows' weights sum to 0", T);
    if (!st) st = gaussian ? gaussian_finish(ctx, s, xy, W, S, Q, total) : discrete_finish(ctx, s, W, S, total);
    kn__free(ctx, W), kn__free(ctx, S), kn__free(ctx, Q);
    if (st) nb_free_fit(ctx, s);
    return st;
}

/* Class probabilities from one row's joint log-likelihoods (NaN already taken as -inf). */
static void normalize(const double *jll, int C, float *out) {
    double top = -INFINITY;
    for (int c = 0; c < C; c++) top = fmax(top, jll[c]);
    if (top == -INFINITY) {
        for (int c = 0; c < C; c++) out[c] = 1.0f / (float)C;
    } else if (top == INFINITY) {
        int k = 0;
        for (int c = 0; c < C; c++) k += jll[c] == INFINITY;
        for (int c = 0; c < C; c++) out[c] = jll[c] == INFINITY ? 1.0f / (float)k : 0.0f;
    } else {
        double sum = 0;
        for (int c = 0; c < C; c++) sum += exp(jll[c] - top);
        for (int c = 0; c < C; c++) out[c] = (float)(exp(jll[c] - top) / sum);
    }
}

/* One row's score for class c (the caller's tables: gaussian base and 1/var, bernoulli
 * log(1 - p)). A feature that is 0 adds nothing to the multinomial and complement sums,
 * even against an infinite weight (x^0 = 1). */
static double class_score(const nb_state *s, int c, const float *xi, const double *base, const double *table) {
    const int64_t d = s->d;
    const size_t off = (size_t)c * (size_t)d;
    const float *lp = s->log_prob ? s->log_prob + off : NULL;
    double v = 0;
    switch (s->kind) {
    case NB_GAUSSIAN: {
        const float *th = s->theta + off;
        const double *iv = table + off;
        double q = 0;
        for (int64_t j = 0; j < d; j++) {
            const double diff = (double)xi[j] - th[j];
            q += diff * diff * iv[j];
        }
        v = base[c] - 0.5 * q;
        break;
    }
    case NB_MULTINOMIAL:
    case NB_COMPLEMENT:
        for (int64_t j = 0; j < d; j++)
            if (xi[j] != 0) v += (double)xi[j] * lp[j];
        if (s->kind == NB_MULTINOMIAL) v += s->log_prior[c];
        break;
    case NB_BERNOULLI: {
        const double *neg = table + off; /* log(1 - p) */
        for (int64_t j = 0; j < d; j++) {
            const double x = feature_value(s, xi[j]);
            v += x == 1 ? lp[j] : x == 0 ? neg[j] : x * lp[j] + (1 - x) * neg[j];
        }
        v += s->log_prior[c];
        break;
    }
    }
    return isnan(v) ? -INFINITY : v;
}

/* Class probabilities from each class's joint log-likelihood (log-sum-exp). */
static kn_status nb_predict(kn_ctx *ctx, const void *state, const float *x, int64_t n, float *out) {
    const nb_state *s = state;
    const int C = s->classes;
    const int64_t d = s->d;
    const size_t cd = (size_t)C * (size_t)d;
    /* jll (C); gaussian: per class log prior - 1/2 sum log(2 pi var) (C), and 1 / var (C, d);
     * bernoulli: log(1 - p) = log(-expm1(log p)) (C, d); computed once per call */
    const bool table = s->kind == NB_GAUSSIAN || s->kind == NB_BERNOULLI;
    double *jll = kn__alloc(ctx, (size_t)C * sizeof *jll * 2), *base = jll ? jll + C : NULL;
    double *tab = table ? kn__alloc(ctx, cd * sizeof *tab) : NULL;
    if (!jll || (table && !tab)) {
        kn__free(ctx, jll), kn__free(ctx, tab);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", kind_names[s->kind]);
    }
    for (int c = 0; s->kind == NB_GAUSSIAN && c < C; c++) {
        const float *va = s->var + (size_t)c * (size_t)d;
        double b = s->class_prior[c] > 0 ? log(s->class_prior[c]) : -INFINITY;
        for (int64_t j = 0; j < d; j++) b -= 0.5 * log(2 * M_PI * va[j]), tab[(size_t)c * (size_t)d + (size_t)j] = 1.0 / va[j];
        base[c] = b;
    }
    for (size_t k = 0; s->kind == NB_BERNOULLI && k < cd; k++) tab[k] = log(-expm1((double)s->log_prob[k]));
    for (int64_t i = 0; i < n; i++) {
        for (int c = 0; c < C; c++) jll[c] = class_score(s, c, x + i * d, base, tab);
        normalize(jll, C, out + i * C);
    }
    kn__free(ctx, jll);
    kn__free(ctx, tab);
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
    if (s->kind != NB_GAUSSIAN) {
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
static bool is_log_probability(float v) { return v <= 0 && !isnan(v); } /* -inf: a probability of 0 */
static bool is_complement_weight(float v) { return v >= 0; }            /* +inf: a complement count of 0 */

static kn_status nb_load(kn_ctx *ctx, void *state, const kn__ctensor *t, int n, int64_t d, int outputs, const char *path) {
    nb_state *s = state;
    kn_status st = nb_alloc(ctx, s, outputs, d, path);
    if (st) return st;
    if (s->kind == NB_COMPLEMENT) {
        st = take(ctx, t, n, "feature_log_prob", outputs, d, is_complement_weight, "not a complement weight (>= 0)", path, &s->log_prob);
        if (!st) st = take(ctx, t, n, "class_log_prior", outputs, 0, is_log_probability, "not a log-probability", path, &s->log_prior);
    } else if (s->kind != NB_GAUSSIAN) {
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
    return (int64_t)s->classes * s->d * (s->kind == NB_GAUSSIAN ? 2 : 1) + s->classes;
}

#define NB_OPS(NAME, PARSE)                                                                                                     \
    const kn__classic_ops kn__ops_##NAME = {                                                                                    \
        .name = #NAME, .classification = true, .state_size = sizeof(nb_state),                                                  \
        .parse = PARSE, .describe = nb_describe, .fit = nb_fit, .predict = nb_predict, .has_proba = nb_proba,                   \
        .tensors = nb_tensors, .load = nb_load, .free = nb_free, .param_count = nb_params,                                      \
    }
NB_OPS(gaussian_nb, gnb_parse);
NB_OPS(multinomial_nb, mnb_parse);
NB_OPS(bernoulli_nb, bnb_parse);
NB_OPS(complement_nb, cnb_parse);
