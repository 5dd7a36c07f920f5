/* glue_svm.c — linear_svm (scikit-learn's LinearSVC, and LinearSVR on regression data) and
 * svm (SVC, and SVR on regression data) as kiln models: hyperparameters with scikit-learn's
 * names and defaults, fit, predict, saved tensors. The data says the task, as for the trees
 * and neighbours. A classifier without probabilities predicts a one-hot row (1 for the class
 * it decides); svm with "probability": true gives Platt-scaled, pairwise-coupled
 * probabilities as LIBSVM does; a regressor predicts its decision value. Tensors: linear_svm
 * "coef" (k, d), "intercept" (k) (k = 1 for regression); svm "sv" (n_sv, d), "support"
 * (n_sv), "n_sv_class" (classes; not for regression), "dual_coef" (classes - 1, n_sv; 1 for
 * regression), "intercept" (pairs; 1 for regression) and, with probabilities, "prob_a" and
 * "prob_b" (pairs); the kernel and its resolved gamma are in the description. */
#include "classic/hparams.h"
#include "classic/model.h"
#include "classic/svm.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static bool finite_all(const float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return false;
    return true;
}

/* one-hot rows from labels */
static void one_hot(const int32_t *labels, int64_t n, int classes, float *out) {
    memset(out, 0, (size_t)(n * classes) * sizeof *out);
    for (int64_t i = 0; i < n; i++) out[i * classes + labels[i]] = 1;
}

/* ---------------------------------------------------------------- linear_svm */

typedef struct lsvm_state {
    kn__svm_linear_opts o;
    int loss;             /* index into losses, or -1: the task's default (resolved at fit) */
    bool epsilon_given;
    int64_t random_state;
    kn__svm_linear fit;
    int n_classes;        /* 0 for regression (once fitted or loaded) */
    bool task_known;      /* fitted or loaded */
} lsvm_state;

/* LinearSVC's losses, then LinearSVR's (kn_svm_loss in this order) */
static const char *const losses[] = {"squared_hinge", "hinge", "epsilon_insensitive", "squared_epsilon_insensitive", NULL};

static kn_status lsvm_parse(kn_ctx *ctx, const cJSON *spec, void *state) {
    static const char *const keys[] = {"C", "loss", "epsilon", "tol", "max_iter", "fit_intercept", "intercept_scaling", "random_state",
                                       "penalty", "dual", "multi_class", NULL};
    static const char *const l2[] = {"l2", NULL}, *const yes[] = {"ovr", NULL};
    lsvm_state *s = state;
    s->o = kn__svm_linear_defaults();
    const char *T = "linear_svm";
    int64_t max_iter = s->o.max_iter;
    int penalty = 0, multi = 0;
    bool dual = true;
    s->loss = -1;
    kn_status st = kn__hp_known(ctx, spec, T, keys);
    if (!st) st = kn__hp_number(ctx, spec, T, "C", 0, true, INFINITY, &s->o.C);
    if (!st) st = kn__hp_choice(ctx, spec, T, "loss", losses, &s->loss);
    s->epsilon_given = cJSON_GetObjectItemCaseSensitive(spec, "epsilon") != NULL;
    if (!st) st = kn__hp_number(ctx, spec, T, "epsilon", 0, false, INFINITY, &s->o.epsilon);
    if (!st) st = kn__hp_number(ctx, spec, T, "tol", 0, true, INFINITY, &s->o.tol);
    if (!st) st = kn__hp_int(ctx, spec, T, "max_iter", 1, 100000000, false, 0, &max_iter);
    if (!st) st = kn__hp_bool(ctx, spec, T, "fit_intercept", &s->o.fit_intercept);
    if (!st) st = kn__hp_number(ctx, spec, T, "intercept_scaling", 0, true, INFINITY, &s->o.intercept_scaling);
    if (!st) st = kn__hp_int(ctx, spec, T, "random_state", 0, INT64_MAX, true, 0, &s->random_state);
    if (!st) st = kn__hp_choice(ctx, spec, T, "penalty", l2, &penalty); /* the dual solver's only */
    if (!st) st = kn__hp_choice(ctx, spec, T, "multi_class", yes, &multi);
    if (!st) st = kn__hp_bool(ctx, spec, T, "dual", &dual);
    if (!st && !dual) st = kn__error(ctx, KN_ERR_SPEC, "%s.dual: only the dual solver (true) is built", T);
    s->o.max_iter = (int)max_iter;
    s->o.seed = (uint64_t)s->random_state;
    /* a saved model's description says its task by its loss */
    if (!st && s->loss >= 0) s->o.loss = (kn_svm_loss)s->loss;
    return st;
}

/* The loss for the task (the description's, else the task's default), or an error naming a
 * loss or epsilon that belongs to the other task. */
static kn_status lsvm_task(kn_ctx *ctx, lsvm_state *s, bool regression) {
    if (s->loss >= 0 && (s->loss >= 2) != regression)
        return kn__error(ctx, KN_ERR_SPEC, "linear_svm.loss: \"%s\" is a %s loss, but the data is %s (%s)", losses[s->loss],
                         regression ? "classification" : "regression", regression ? "regression" : "classification",
                         regression ? "epsilon_insensitive or squared_epsilon_insensitive" : "squared_hinge or hinge");
    if (s->epsilon_given && !regression)
        return kn__error(ctx, KN_ERR_SPEC, "linear_svm.epsilon: regression only, but the data has classes");
    s->o.loss = s->loss >= 0 ? (kn_svm_loss)s->loss : regression ? KN_SVM_EPSILON_INSENSITIVE : KN_SVM_SQUARED_HINGE;
    return KN_OK;
}

static cJSON *lsvm_describe(const void *state) {
    const lsvm_state *s = state;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "type", "linear_svm");
    cJSON_AddNumberToObject(j, "C", s->o.C);
    /* the loss's default depends on the task, known once fitted */
    if (s->task_known || s->loss >= 0) cJSON_AddStringToObject(j, "loss", losses[s->task_known ? (int)s->o.loss : s->loss]);
    if ((s->task_known && s->n_classes == 0) || s->epsilon_given) cJSON_AddNumberToObject(j, "epsilon", s->o.epsilon);
    cJSON_AddNumberToObject(j, "tol", s->o.tol);
    cJSON_AddNumberToObject(j, "max_iter", s->o.max_iter);
    cJSON_AddBoolToObject(j, "fit_intercept", s->o.fit_intercept);
    cJSON_AddNumberToObject(j, "intercept_scaling", s->o.intercept_scaling);
    cJSON_AddNumberToObject(j, "random_state", (double)s->random_state);
    return j;
}

static kn_status lsvm_fit(kn_ctx *ctx, void *state, const kn__xy *xy) {
    lsvm_state *s = state;
    kn__svm_linear_free(ctx, &s->fit);
    kn_status st = lsvm_task(ctx, s, xy->n_classes == 0);
    if (st) return st;
    st = kn__svm_linear_fit(ctx, xy, &s->o, &s->fit);
    if (!st) s->n_classes = xy->n_classes, s->task_known = true;
    return st;
}

static kn_status lsvm_predict(kn_ctx *ctx, const void *state, const float *x, int64_t n, float *out) {
    const lsvm_state *s = state;
    if (s->fit.regression) {
        kn__svm_linear_decision(ctx, &s->fit, x, n, out);
        return KN_OK;
    }
    int32_t *labels = kn__alloc(ctx, (size_t)(n > 0 ? n : 1) * sizeof *labels);
    if (!labels) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "linear_svm: out of memory");
    kn__svm_linear_predict(ctx, &s->fit, x, n, labels);
    one_hot(labels, n, s->n_classes, out);
    kn__free(ctx, labels);
    return KN_OK;
}

static bool lsvm_proba(const void *state) {
    (void)state;
    return false;
}

static int lsvm_tensors(kn_ctx *ctx, void *state, kn__ctensor *t, int max) {
    (void)ctx;
    const kn__svm_linear *m = &((const lsvm_state *)state)->fit;
    if (max < 2) return -1;
    t[0] = (kn__ctensor){.name = "coef", .dtype = KN_F32, .ndim = 2, .shape = {m->k, m->d}, .data = m->coef};
    t[1] = (kn__ctensor){.name = "intercept", .dtype = KN_F32, .ndim = 1, .shape = {m->k, 1}, .data = m->intercept};
    return 2;
}

static kn_status lsvm_load(kn_ctx *ctx, void *state, const kn__ctensor *t, int n, int64_t d, int outputs, const char *path) {
    lsvm_state *s = state;
    const bool regression = outputs == 1;
    kn_status st = lsvm_task(ctx, s, regression);
    if (st) {
        char why[256];
        snprintf(why, sizeof why, "%s", kn_last_error(ctx));
        return kn__error(ctx, KN_ERR_FORMAT, "%s: %s", path, why);
    }
    int64_t k = outputs <= 2 ? 1 : outputs;
    const kn__ctensor *c = kn__ctensor_find(t, n, "coef", KN_F32), *b = kn__ctensor_find(t, n, "intercept", KN_F32);
    if (!c || !b || c->ndim != 2 || c->shape[0] != k || c->shape[1] != d || b->ndim != 1 || b->shape[0] != k)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: a linear SVM needs F32 'coef' (%lld, %lld) and 'intercept' (%lld)", path, (long long)k,
                         (long long)d, (long long)k);
    if (!finite_all(c->data, k * d) || !finite_all(b->data, k)) return kn__error(ctx, KN_ERR_FORMAT, "%s: a non-finite coefficient", path);
    s->fit = (kn__svm_linear){.k = k, .d = d};
    s->fit.coef = kn__alloc(ctx, (size_t)(k * d) * sizeof(float));
    s->fit.intercept = kn__alloc(ctx, (size_t)k * sizeof(float));
    if (!s->fit.coef || !s->fit.intercept) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    memcpy(s->fit.coef, c->data, (size_t)(k * d) * sizeof(float));
    memcpy(s->fit.intercept, b->data, (size_t)k * sizeof(float));
    s->fit.regression = regression;
    s->n_classes = regression ? 0 : outputs;
    s->task_known = true;
    return KN_OK;
}

static void lsvm_free(kn_ctx *ctx, void *state) { kn__svm_linear_free(ctx, &((lsvm_state *)state)->fit); }
static int64_t lsvm_params(const void *state) {
    const kn__svm_linear *m = &((const lsvm_state *)state)->fit;
    return m->k * m->d + m->k;
}
static int lsvm_iters(const void *state) { return ((const lsvm_state *)state)->fit.n_iter; }

const kn__classic_ops kn__ops_linear_svm = {
    .name = "linear_svm", .classification = true, .regression = true, .state_size = sizeof(lsvm_state),
    .parse = lsvm_parse, .describe = lsvm_describe, .fit = lsvm_fit, .predict = lsvm_predict, .has_proba = lsvm_proba,
    .tensors = lsvm_tensors, .load = lsvm_load, .free = lsvm_free, .param_count = lsvm_params, .iterations = lsvm_iters,
};

/* ---------------------------------------------------------------- svm */

typedef struct svm_state {
    kn__svm_opts o;
    int gamma_kind;          /* 0 scale, 1 auto, 2 a number */
    bool epsilon_given, c_given;
    int64_t random_state;
    kn__svm fit;
    int32_t *support32;      /* (n_sv) for saving */
} svm_state;

static const char *const kernels[] = {"linear", "poly", "rbf", "sigmoid", NULL};

static kn_status svm_parse(kn_ctx *ctx, const cJSON *spec, void *state) {
    static const char *const keys[] = {"C", "kernel", "gamma", "degree", "coef0", "epsilon", "nu", "tol", "max_iter", "cache_size",
                                       "shrinking", "probability", "random_state", "decision_function_shape", NULL};
    static const char *const ovr[] = {"ovr", "ovo", NULL};
    svm_state *s = state;
    s->o = kn__svm_defaults();
    const char *T = "svm";
    int64_t degree = s->o.degree;
    int shape = 0;
    kn_status st = kn__hp_known(ctx, spec, T, keys);
    if (!st) st = kn__hp_number(ctx, spec, T, "C", 0, true, INFINITY, &s->o.C);
    if (!st) st = kn__hp_choice(ctx, spec, T, "kernel", kernels, &s->o.kernel);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(spec, "gamma");
    if (!st && g) {
        if (cJSON_IsString(g) && strcmp(g->valuestring, "scale") == 0) s->gamma_kind = 0;
        else if (cJSON_IsString(g) && strcmp(g->valuestring, "auto") == 0) s->gamma_kind = 1;
        else if (cJSON_IsNumber(g) && g->valuedouble > 0 && isfinite(g->valuedouble)) s->gamma_kind = 2, s->o.gamma = g->valuedouble;
        else st = kn__error(ctx, KN_ERR_SPEC, "%s.gamma: expected \"scale\", \"auto\" or a number > 0", T);
    }
    if (s->gamma_kind == 0) s->o.gamma = KN_SVM_GAMMA_SCALE;
    if (s->gamma_kind == 1) s->o.gamma = KN_SVM_GAMMA_AUTO;
    if (!st) st = kn__hp_int(ctx, spec, T, "degree", 0, 100, false, 0, &degree);
    if (!st) st = kn__hp_number(ctx, spec, T, "coef0", -INFINITY, false, INFINITY, &s->o.coef0);
    s->epsilon_given = cJSON_GetObjectItemCaseSensitive(spec, "epsilon") != NULL;
    s->c_given = cJSON_GetObjectItemCaseSensitive(spec, "C") != NULL;
    if (!st) st = kn__hp_number(ctx, spec, T, "epsilon", 0, false, INFINITY, &s->o.epsilon);
    if (!st) st = kn__hp_number(ctx, spec, T, "nu", 0, true, 1, &s->o.nu);
    if (!st) st = kn__hp_number(ctx, spec, T, "tol", 0, true, INFINITY, &s->o.tol);
    if (!st) st = kn__hp_int(ctx, spec, T, "max_iter", -1, INT64_MAX, false, 0, &s->o.max_iter);
    if (!st && s->o.max_iter == 0) st = kn__error(ctx, KN_ERR_SPEC, "%s.max_iter: -1 (no limit) or > 0", T);
    if (!st) st = kn__hp_number(ctx, spec, T, "cache_size", 0, true, 1e6, &s->o.cache_size);
    if (!st) st = kn__hp_bool(ctx, spec, T, "shrinking", &s->o.shrinking);
    if (!st) st = kn__hp_bool(ctx, spec, T, "probability", &s->o.probability);
    if (!st) st = kn__hp_int(ctx, spec, T, "random_state", 0, INT64_MAX, true, 0, &s->random_state);
    if (!st) st = kn__hp_choice(ctx, spec, T, "decision_function_shape", ovr, &shape); /* votes decide either way */
    s->o.degree = (int)degree;
    s->o.seed = (uint64_t)s->random_state;
    return st;
}

static cJSON *svm_describe(const void *state) {
    const svm_state *s = state;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "type", "svm");
    /* a nu-SVC has no C; a nu-SVR has C but no epsilon (its tube comes out of the fit) */
    const bool fitted = s->fit.n_classes != 0, nu = s->o.nu > 0;
    if (!nu || s->c_given || (fitted && s->fit.regression)) cJSON_AddNumberToObject(j, "C", s->o.C);
    if (nu) cJSON_AddNumberToObject(j, "nu", s->o.nu);
    cJSON_AddStringToObject(j, "kernel", kernels[s->o.kernel]);
    if (s->fit.n_classes) cJSON_AddNumberToObject(j, "gamma", s->fit.gamma); /* resolved at fit */
    else if (s->gamma_kind == 2) cJSON_AddNumberToObject(j, "gamma", s->o.gamma);
    else cJSON_AddStringToObject(j, "gamma", s->gamma_kind ? "auto" : "scale");
    cJSON_AddNumberToObject(j, "degree", s->o.degree);
    cJSON_AddNumberToObject(j, "coef0", s->o.coef0);
    if ((s->fit.regression && !nu) || s->epsilon_given) cJSON_AddNumberToObject(j, "epsilon", s->o.epsilon);
    cJSON_AddNumberToObject(j, "tol", s->o.tol);
    cJSON_AddNumberToObject(j, "max_iter", (double)s->o.max_iter);
    cJSON_AddNumberToObject(j, "cache_size", s->o.cache_size);
    cJSON_AddBoolToObject(j, "shrinking", s->o.shrinking);
    cJSON_AddBoolToObject(j, "probability", s->o.probability);
    cJSON_AddNumberToObject(j, "random_state", (double)s->random_state);
    return j;
}

static void svm_free(kn_ctx *ctx, void *state) {
    svm_state *s = state;
    kn__svm_free(ctx, &s->fit);
    kn__free(ctx, s->support32);
    s->support32 = NULL;
}

static kn_status svm_fit(kn_ctx *ctx, void *state, const kn__xy *xy) {
    svm_state *s = state;
    svm_free(ctx, s);
    if (s->epsilon_given && xy->n_classes != 0)
        return kn__error(ctx, KN_ERR_SPEC, "svm.epsilon: regression only, but the data has classes");
    if (s->epsilon_given && s->o.nu > 0)
        return kn__error(ctx, KN_ERR_SPEC, "svm.epsilon: a nu-SVR finds its tube's width from nu; give one of the two");
    if (s->c_given && s->o.nu > 0 && xy->n_classes != 0)
        return kn__error(ctx, KN_ERR_SPEC, "svm.C: a nu-SVC has no C (nu bounds its margin errors); give one of the two");
    kn_status st = kn__svm_fit(ctx, xy, &s->o, &s->fit);
    if (st) return st;
    if (xy->n >= INT32_MAX) return kn__error(ctx, KN_ERR_UNSUPPORTED, "svm: over 2^31 training rows");
    s->support32 = kn__alloc(ctx, (size_t)(s->fit.n_sv ? s->fit.n_sv : 1) * sizeof(int32_t));
    if (!s->support32) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "svm: out of memory");
    for (int64_t i = 0; i < s->fit.n_sv; i++) s->support32[i] = (int32_t)s->fit.support[i];
    return KN_OK;
}

static kn_status svm_predict(kn_ctx *ctx, const void *state, const float *x, int64_t n, float *out) {
    const svm_state *s = state;
    if (s->fit.regression) return kn__svm_decision(ctx, &s->fit, x, n, out, NULL);
    if (s->fit.prob_a) return kn__svm_predict_proba(ctx, &s->fit, x, n, out, NULL);
    int32_t *labels = kn__alloc(ctx, (size_t)(n > 0 ? n : 1) * sizeof *labels);
    if (!labels) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "svm: out of memory");
    kn_status st = kn__svm_predict(ctx, &s->fit, x, n, labels, NULL);
    if (!st) one_hot(labels, n, s->fit.n_classes, out);
    kn__free(ctx, labels);
    return st;
}

static bool svm_proba(const void *state) { return ((const svm_state *)state)->fit.prob_a != NULL; }

static int svm_tensors(kn_ctx *ctx, void *state, kn__ctensor *t, int max) {
    (void)ctx;
    const svm_state *s = state;
    const kn__svm *m = &s->fit;
    int64_t pairs = (int64_t)m->n_classes * (m->n_classes - 1) / 2;
    if (max < 7) return -1;
    t[0] = (kn__ctensor){.name = "sv", .dtype = KN_F32, .ndim = 2, .shape = {m->n_sv, m->d}, .data = m->sv};
    t[1] = (kn__ctensor){.name = "support", .dtype = KN_I32, .ndim = 1, .shape = {m->n_sv, 1}, .data = s->support32};
    if (m->regression) {
        t[2] = (kn__ctensor){.name = "dual_coef", .dtype = KN_F32, .ndim = 2, .shape = {1, m->n_sv}, .data = m->dual_coef};
        t[3] = (kn__ctensor){.name = "intercept", .dtype = KN_F32, .ndim = 1, .shape = {1, 1}, .data = m->intercept};
        return 4;
    }
    t[2] = (kn__ctensor){.name = "n_sv_class", .dtype = KN_I32, .ndim = 1, .shape = {m->n_classes, 1}, .data = m->n_sv_class};
    t[3] = (kn__ctensor){.name = "dual_coef", .dtype = KN_F32, .ndim = 2, .shape = {m->n_classes - 1, m->n_sv}, .data = m->dual_coef};
    t[4] = (kn__ctensor){.name = "intercept", .dtype = KN_F32, .ndim = 1, .shape = {pairs, 1}, .data = m->intercept};
    if (!m->prob_a) return 5;
    t[5] = (kn__ctensor){.name = "prob_a", .dtype = KN_F32, .ndim = 1, .shape = {pairs, 1}, .data = m->prob_a};
    t[6] = (kn__ctensor){.name = "prob_b", .dtype = KN_F32, .ndim = 1, .shape = {pairs, 1}, .data = m->prob_b};
    return 7;
}

/* An SVR's tensors: sv (m, d), support (m), dual_coef (1, m), intercept (1). */
static kn_status svr_load(kn_ctx *ctx, svm_state *s, const kn__ctensor *t, int n, int64_t d, const char *path) {
    const kn__ctensor *sv = kn__ctensor_find(t, n, "sv", KN_F32), *sup = kn__ctensor_find(t, n, "support", KN_I32),
                      *dc = kn__ctensor_find(t, n, "dual_coef", KN_F32), *b = kn__ctensor_find(t, n, "intercept", KN_F32);
    if (!sv || !sup || !dc || !b)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: a support vector regressor needs tensors sv, support, dual_coef and intercept", path);
    const int64_t m = sv->shape[0];
    if (sv->ndim != 2 || sv->shape[1] != d || sup->ndim != 1 || sup->shape[0] != m || dc->ndim != 2 || dc->shape[0] != 1 ||
        dc->shape[1] != m || b->ndim != 1 || b->shape[0] != 1 || m > INT32_MAX)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: the SVR's tensors disagree in shape (%lld support vectors of %lld features)", path,
                         (long long)m, (long long)d);
    if (!finite_all(sv->data, m * d) || !finite_all(dc->data, m) || !finite_all(b->data, 1))
        return kn__error(ctx, KN_ERR_FORMAT, "%s: the SVR holds a non-finite value", path);
    if (s->o.probability) return kn__error(ctx, KN_ERR_FORMAT, "%s: svm.probability is true, but the model is a regressor", path);
    if (s->gamma_kind != 2) return kn__error(ctx, KN_ERR_FORMAT, "%s: a fitted SVM's description must give gamma as a number", path);
    kn__svm *f = &s->fit;
    *f = (kn__svm){.n_classes = 2, .regression = true, .n_sv = m, .d = d, .kernel = s->o.kernel, .gamma = s->o.gamma,
                   .degree = s->o.degree, .coef0 = s->o.coef0};
    f->sv = kn__alloc(ctx, (size_t)(m * d) * sizeof(float) + 64);
    f->support = kn__alloc(ctx, (size_t)(m ? m : 1) * sizeof(int64_t));
    s->support32 = kn__alloc(ctx, (size_t)(m ? m : 1) * sizeof(int32_t));
    f->n_sv_class = kn__calloc(ctx, 2, sizeof(int32_t));
    f->dual_coef = kn__alloc(ctx, (size_t)m * sizeof(float) + 64);
    f->intercept = kn__alloc(ctx, sizeof(float));
    if (!f->sv || !f->support || !s->support32 || !f->n_sv_class || !f->dual_coef || !f->intercept)
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    memcpy(f->sv, sv->data, (size_t)(m * d) * sizeof(float));
    memcpy(s->support32, sup->data, (size_t)m * sizeof(int32_t));
    for (int64_t i = 0; i < m; i++) f->support[i] = s->support32[i];
    f->n_sv_class[0] = (int32_t)m;
    memcpy(f->dual_coef, dc->data, (size_t)m * sizeof(float));
    memcpy(f->intercept, b->data, sizeof(float));
    return KN_OK;
}

static kn_status svm_load(kn_ctx *ctx, void *state, const kn__ctensor *t, int n, int64_t d, int outputs, const char *path) {
    svm_state *s = state;
    if (outputs == 1) return svr_load(ctx, s, t, n, d, path);
    int k = outputs;
    int64_t pairs = (int64_t)k * (k - 1) / 2;
    const kn__ctensor *sv = kn__ctensor_find(t, n, "sv", KN_F32), *sup = kn__ctensor_find(t, n, "support", KN_I32), *nsv = kn__ctensor_find(t, n, "n_sv_class", KN_I32),
                      *dc = kn__ctensor_find(t, n, "dual_coef", KN_F32), *b = kn__ctensor_find(t, n, "intercept", KN_F32), *pa = kn__ctensor_find(t, n, "prob_a", KN_F32),
                      *pb = kn__ctensor_find(t, n, "prob_b", KN_F32);
    if (!sv || !sup || !nsv || !dc || !b)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: an SVM needs tensors sv, support, n_sv_class, dual_coef and intercept", path);
    int64_t m = sv->shape[0];
    if (sv->ndim != 2 || sv->shape[1] != d || sup->shape[0] != m || nsv->ndim != 1 || nsv->shape[0] != k || dc->ndim != 2 ||
        dc->shape[0] != k - 1 || dc->shape[1] != m || b->ndim != 1 || b->shape[0] != pairs || (!pa != !pb) ||
        (pa && (pa->shape[0] != pairs || pb->shape[0] != pairs)))
        return kn__error(ctx, KN_ERR_FORMAT, "%s: the SVM's tensors disagree in shape (%lld support vectors of %lld features, %d classes)", path,
                         (long long)m, (long long)d, k);
    const int32_t *counts = nsv->data;
    int64_t total = 0;
    for (int c = 0; c < k; c++) {
        if (counts[c] < 0) return kn__error(ctx, KN_ERR_FORMAT, "%s: n_sv_class[%d] is negative", path, c);
        total += counts[c];
    }
    if (total != m) return kn__error(ctx, KN_ERR_FORMAT, "%s: n_sv_class sums to %lld, not the %lld support vectors", path, (long long)total, (long long)m);
    if (!finite_all(sv->data, m * d) || !finite_all(dc->data, (k - 1) * m) || !finite_all(b->data, pairs) ||
        (pa && (!finite_all(pa->data, pairs) || !finite_all(pb->data, pairs))))
        return kn__error(ctx, KN_ERR_FORMAT, "%s: the SVM holds a non-finite value", path);
    kn__svm *f = &s->fit;
    *f = (kn__svm){.n_classes = k, .n_sv = m, .d = d, .kernel = s->o.kernel, .gamma = s->o.gamma, .degree = s->o.degree, .coef0 = s->o.coef0};
    if (s->gamma_kind != 2) return kn__error(ctx, KN_ERR_FORMAT, "%s: a fitted SVM's description must give gamma as a number", path);
    f->sv = kn__alloc(ctx, (size_t)(m * d) * sizeof(float) + 64);
    f->support = kn__alloc(ctx, (size_t)(m ? m : 1) * sizeof(int64_t));
    s->support32 = kn__alloc(ctx, (size_t)(m ? m : 1) * sizeof(int32_t));
    f->n_sv_class = kn__alloc(ctx, (size_t)k * sizeof(int32_t));
    f->dual_coef = kn__alloc(ctx, (size_t)((k - 1) * m) * sizeof(float) + 64);
    f->intercept = kn__alloc(ctx, (size_t)pairs * sizeof(float));
    if (pa) f->prob_a = kn__alloc(ctx, (size_t)pairs * sizeof(float)), f->prob_b = kn__alloc(ctx, (size_t)pairs * sizeof(float));
    if (!f->sv || !f->support || !s->support32 || !f->n_sv_class || !f->dual_coef || !f->intercept || (pa && (!f->prob_a || !f->prob_b)))
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    memcpy(f->sv, sv->data, (size_t)(m * d) * sizeof(float));
    memcpy(s->support32, sup->data, (size_t)m * sizeof(int32_t));
    for (int64_t i = 0; i < m; i++) f->support[i] = s->support32[i];
    memcpy(f->n_sv_class, counts, (size_t)k * sizeof(int32_t));
    memcpy(f->dual_coef, dc->data, (size_t)((k - 1) * m) * sizeof(float));
    memcpy(f->intercept, b->data, (size_t)pairs * sizeof(float));
    if (pa) {
        memcpy(f->prob_a, pa->data, (size_t)pairs * sizeof(float));
        memcpy(f->prob_b, pb->data, (size_t)pairs * sizeof(float));
    }
    return KN_OK;
}

static int64_t svm_params(const void *state) {
    const kn__svm *m = &((const svm_state *)state)->fit;
    return m->n_sv * m->d + (int64_t)(m->n_classes - 1) * m->n_sv; /* SVR: n_classes 2, one coefficient each */
}
static int svm_iters(const void *state) {
    int64_t it = ((const svm_state *)state)->fit.n_iter;
    return it > INT32_MAX ? INT32_MAX : (int)it;
}

/* LIBSVM's nu-SVC has no C for class weights to scale: scikit-learn's NuSVC fits the same
 * model with or without them. Rather than fold them into the rows' bounds (a model NuSVC
 * would not give) or drop them unsaid, they are refused. */
static const char *svm_class_weight_refused(const void *state) {
    return ((const svm_state *)state)->o.nu > 0 ? "a nu-SVC has no C for class weights to scale (LIBSVM and scikit-learn's NuSVC "
                                                  "ignore them); weight the rows (sample weights) instead"
                                                : NULL;
}

const kn__classic_ops kn__ops_svm = {
    .name = "svm", .classification = true, .regression = true, .state_size = sizeof(svm_state),
    .parse = svm_parse, .describe = svm_describe, .fit = svm_fit, .predict = svm_predict, .has_proba = svm_proba,
    .tensors = svm_tensors, .load = svm_load, .free = svm_free, .param_count = svm_params, .iterations = svm_iters,
    .class_weight_refused = svm_class_weight_refused,
};
