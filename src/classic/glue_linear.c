/* glue_linear.c — linear_regression and logistic_regression as kiln models: their
 * hyperparameters (scikit-learn's names and defaults), fit, predict and saved tensors
 * ("coef" (k, d), "intercept" (k)) around linear.c and logistic.c. */
#include "classic/hparams.h"
#include "classic/linear.h"
#include "classic/model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

typedef struct linreg_state {
    kn__linreg_opts o;
    int solver;            /* index into solvers */
    kn__linear fit;
} linreg_state;

typedef struct logreg_state {
    kn__logreg_opts o;
    int penalty, multi;    /* indices into penalties, multis */
    kn__linear fit;
    int n_classes;
} logreg_state;

static const char *const solvers[] = {"auto", "cholesky", "svd", "sgd", NULL};
static const char *const penalties[] = {"l2", "l1", "none", NULL};
static const char *const multis[] = {"auto", "multinomial", "ovr", NULL};

/* ---------------------------------------------------------------- shared: coef and intercept */

static int linear_tensors(const kn__linear *m, kn__ctensor *t, int max) {
    if (max < 2) return 0;
    t[0] = (kn__ctensor){.name = "coef", .dtype = KN_F32, .ndim = 2, .shape = {m->k, m->d}, .data = m->coef};
    t[1] = (kn__ctensor){.name = "intercept", .dtype = KN_F32, .ndim = 1, .shape = {m->k, 1}, .data = m->intercept};
    return 2;
}

/* coef (k, d) and intercept (k) from a file, k as the model's outputs imply. */
static kn_status linear_load(kn_ctx *ctx, kn__linear *m, const kn__ctensor *t, int n, int64_t d, int64_t k, const char *path) {
    const kn__ctensor *c = kn__ctensor_find(t, n, "coef", KN_F32), *b = kn__ctensor_find(t, n, "intercept", KN_F32);
    if (!c || !b) return kn__error(ctx, KN_ERR_FORMAT, "%s: a linear model needs tensors 'coef' and 'intercept'", path);
    if (c->dtype != KN_F32 || c->ndim != 2 || c->shape[0] != k || c->shape[1] != d)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: 'coef' must be F32 (%lld, %lld)", path, (long long)k, (long long)d);
    if (b->dtype != KN_F32 || b->ndim != 1 || b->shape[0] != k)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: 'intercept' must be F32 (%lld)", path, (long long)k);
    kn_status st = kn__linear_alloc(ctx, k, d, m);
    if (st) return st;
    memcpy(m->coef, c->data, (size_t)(k * d) * sizeof(float));
    memcpy(m->intercept, b->data, (size_t)k * sizeof(float));
    for (int64_t i = 0; i < k * d; i++)
        if (!isfinite(m->coef[i])) return kn__error(ctx, KN_ERR_FORMAT, "%s: 'coef' holds a non-finite value", path);
    return KN_OK;
}

/* ---------------------------------------------------------------- linear_regression */

static kn_status linreg_parse(kn_ctx *ctx, const cJSON *spec, void *state) {
    static const char *const keys[] = {"fit_intercept", "alpha", "solver", "max_iter", "learning_rate", "batch_size", "adam", NULL};
    linreg_state *s = state;
    s->o = kn__linreg_defaults();
    const char *T = "linear_regression";
    int64_t max_iter = s->o.max_iter, batch = s->o.batch_size;
    kn_status st = kn__hp_known(ctx, spec, T, keys);
    if (!st) st = kn__hp_bool(ctx, spec, T, "fit_intercept", &s->o.fit_intercept);
    if (!st) st = kn__hp_number(ctx, spec, T, "alpha", 0, false, INFINITY, &s->o.alpha);
    if (!st) st = kn__hp_choice(ctx, spec, T, "solver", solvers, &s->solver);
    if (!st) st = kn__hp_int(ctx, spec, T, "max_iter", 1, 1000000, false, 0, &max_iter);
    if (!st) st = kn__hp_number(ctx, spec, T, "learning_rate", 0, true, INFINITY, &s->o.learning_rate);
    if (!st) st = kn__hp_int(ctx, spec, T, "batch_size", 1, 1 << 24, false, 0, &batch);
    if (!st) st = kn__hp_bool(ctx, spec, T, "adam", &s->o.adam);
    s->o.max_iter = (int)max_iter;
    s->o.batch_size = (int)batch;
    s->o.solver = solvers[s->solver];
    return st;
}

static cJSON *linreg_describe(const void *state) {
    const linreg_state *s = state;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "type", "linear_regression");
    cJSON_AddBoolToObject(j, "fit_intercept", s->o.fit_intercept);
    cJSON_AddNumberToObject(j, "alpha", s->o.alpha);
    cJSON_AddStringToObject(j, "solver", solvers[s->solver]);
    if (s->solver == 3) {
        cJSON_AddNumberToObject(j, "max_iter", s->o.max_iter);
        cJSON_AddNumberToObject(j, "learning_rate", s->o.learning_rate);
        cJSON_AddNumberToObject(j, "batch_size", s->o.batch_size);
        cJSON_AddBoolToObject(j, "adam", s->o.adam);
    }
    return j;
}

static kn_status linreg_fit(kn_ctx *ctx, void *state, const kn__xy *xy) {
    linreg_state *s = state;
    kn__linear_free(ctx, &s->fit);
    s->o.seed = kn_ctx_seed(ctx);
    return kn__linreg_fit(ctx, xy, &s->o, &s->fit);
}

static kn_status linreg_predict(kn_ctx *ctx, const void *state, const float *x, int64_t n, float *out) {
    (void)ctx;
    kn__linear_decision(&((const linreg_state *)state)->fit, x, n, out);
    return KN_OK;
}

static bool no_proba(const void *state) {
    (void)state;
    return false;
}
static bool yes_proba(const void *state) {
    (void)state;
    return true;
}

static int linreg_tensors(kn_ctx *ctx, void *state, kn__ctensor *t, int max) {
    (void)ctx;
    return linear_tensors(&((const linreg_state *)state)->fit, t, max);
}

static kn_status linreg_load(kn_ctx *ctx, void *state, const kn__ctensor *t, int n, int64_t d, int outputs, const char *path) {
    (void)outputs;
    return linear_load(ctx, &((linreg_state *)state)->fit, t, n, d, 1, path);
}

static void linreg_free(kn_ctx *ctx, void *state) { kn__linear_free(ctx, &((linreg_state *)state)->fit); }

static int64_t linear_params(const kn__linear *m) { return m->k * m->d + m->k; }
static int64_t linreg_params(const void *state) { return linear_params(&((const linreg_state *)state)->fit); }
static int linreg_iters(const void *state) { return ((const linreg_state *)state)->fit.n_iter; }

const kn__classic_ops kn__ops_linear_regression = {
    .name = "linear_regression", .regression = true, .state_size = sizeof(linreg_state),
    .parse = linreg_parse, .describe = linreg_describe, .fit = linreg_fit, .predict = linreg_predict,
    .has_proba = no_proba, .tensors = linreg_tensors, .load = linreg_load, .free = linreg_free,
    .param_count = linreg_params, .iterations = linreg_iters,
};

/* ---------------------------------------------------------------- logistic_regression */

static kn_status logreg_parse(kn_ctx *ctx, const cJSON *spec, void *state) {
    static const char *const keys[] = {"C", "penalty", "max_iter", "tol", "fit_intercept", "multi_class", "solver", NULL};
    static const char *const solver_names[] = {"lbfgs", "owlqn", NULL};
    logreg_state *s = state;
    s->o = kn__logreg_defaults();
    const char *T = "logistic_regression";
    int64_t max_iter = s->o.max_iter;
    int solver = 0;
    kn_status st = kn__hp_known(ctx, spec, T, keys);
    if (!st) st = kn__hp_number(ctx, spec, T, "C", 0, true, INFINITY, &s->o.C);
    if (!st) st = kn__hp_choice(ctx, spec, T, "penalty", penalties, &s->penalty);
    if (!st) st = kn__hp_int(ctx, spec, T, "max_iter", 0, 100000000, false, 0, &max_iter);
    if (!st) st = kn__hp_number(ctx, spec, T, "tol", 0, false, INFINITY, &s->o.tol);
    if (!st) st = kn__hp_bool(ctx, spec, T, "fit_intercept", &s->o.fit_intercept);
    if (!st) st = kn__hp_choice(ctx, spec, T, "multi_class", multis, &s->multi);
    if (!st) st = kn__hp_choice(ctx, spec, T, "solver", solver_names, &solver); /* L-BFGS (OWL-QN for l1) */
    s->o.max_iter = (int)max_iter;
    s->o.penalty = penalties[s->penalty];
    s->o.multi_class = multis[s->multi];
    return st;
}

static cJSON *logreg_describe(const void *state) {
    const logreg_state *s = state;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "type", "logistic_regression");
    cJSON_AddNumberToObject(j, "C", s->o.C);
    cJSON_AddStringToObject(j, "penalty", penalties[s->penalty]);
    cJSON_AddNumberToObject(j, "max_iter", s->o.max_iter);
    cJSON_AddNumberToObject(j, "tol", s->o.tol);
    cJSON_AddBoolToObject(j, "fit_intercept", s->o.fit_intercept);
    cJSON_AddStringToObject(j, "multi_class", multis[s->multi]);
    cJSON_AddStringToObject(j, "solver", s->penalty == 1 ? "owlqn" : "lbfgs");
    return j;
}

static kn_status logreg_fit(kn_ctx *ctx, void *state, const kn__xy *xy) {
    logreg_state *s = state;
    kn__linear_free(ctx, &s->fit);
    s->o.threads = kn_ctx_threads(ctx);
    s->n_classes = xy->n_classes;
    return kn__logreg_fit(ctx, xy, &s->o, &s->fit);
}

static kn_status logreg_predict(kn_ctx *ctx, const void *state, const float *x, int64_t n, float *out) {
    (void)ctx;
    kn__logreg_proba(&((const logreg_state *)state)->fit, x, n, out);
    return KN_OK;
}

static int logreg_tensors(kn_ctx *ctx, void *state, kn__ctensor *t, int max) {
    (void)ctx;
    return linear_tensors(&((const logreg_state *)state)->fit, t, max);
}

static kn_status logreg_load(kn_ctx *ctx, void *state, const kn__ctensor *t, int n, int64_t d, int outputs, const char *path) {
    logreg_state *s = state;
    s->n_classes = outputs;
    return linear_load(ctx, &s->fit, t, n, d, outputs <= 2 ? 1 : outputs, path);
}

static void logreg_free(kn_ctx *ctx, void *state) { kn__linear_free(ctx, &((logreg_state *)state)->fit); }
static int64_t logreg_params(const void *state) { return linear_params(&((const logreg_state *)state)->fit); }
static int logreg_iters(const void *state) { return ((const logreg_state *)state)->fit.n_iter; }

const kn__classic_ops kn__ops_logistic_regression = {
    .name = "logistic_regression", .classification = true, .state_size = sizeof(logreg_state),
    .parse = logreg_parse, .describe = logreg_describe, .fit = logreg_fit, .predict = logreg_predict,
    .has_proba = yes_proba, .tensors = logreg_tensors, .load = logreg_load, .free = logreg_free,
    .param_count = logreg_params, .iterations = logreg_iters,
};

/* ---------------------------------------------------------------- lasso and elastic_net */

typedef struct enet_state {
    kn__enet_opts o;
    bool lasso;
    int selection;          /* index into selections */
    int64_t random_state;
    kn__linear fit;
} enet_state;

static const char *const selections[] = {"cyclic", "random", NULL};

static kn_status enet_parse_as(kn_ctx *ctx, const cJSON *spec, enet_state *s, bool lasso) {
    static const char *const enet_keys[] = {"alpha", "l1_ratio", "fit_intercept", "max_iter", "tol", "positive", "selection",
                                            "random_state", NULL};
    const char *T = lasso ? "lasso" : "elastic_net";
    s->o = kn__enet_defaults();
    s->lasso = lasso;
    if (lasso) s->o.l1_ratio = 1;
    int64_t max_iter = s->o.max_iter;
    kn_status st = kn__hp_known(ctx, spec, T, enet_keys);
    if (!st && lasso && cJSON_GetObjectItemCaseSensitive(spec, "l1_ratio"))
        st = kn__error(ctx, KN_ERR_SPEC, "lasso.l1_ratio: the lasso's is 1 (elastic_net takes l1_ratio)");
    if (!st) st = kn__hp_number(ctx, spec, T, "alpha", 0, false, INFINITY, &s->o.alpha);
    if (!st) st = kn__hp_number(ctx, spec, T, "l1_ratio", 0, false, 1, &s->o.l1_ratio);
    if (!st) st = kn__hp_bool(ctx, spec, T, "fit_intercept", &s->o.fit_intercept);
    if (!st) st = kn__hp_int(ctx, spec, T, "max_iter", 1, 100000000, false, 0, &max_iter);
    if (!st) st = kn__hp_number(ctx, spec, T, "tol", 0, false, INFINITY, &s->o.tol);
    if (!st) st = kn__hp_bool(ctx, spec, T, "positive", &s->o.positive);
    if (!st) st = kn__hp_choice(ctx, spec, T, "selection", selections, &s->selection);
    if (!st) st = kn__hp_int(ctx, spec, T, "random_state", 0, INT64_MAX, true, 0, &s->random_state);
    s->o.max_iter = (int)max_iter;
    s->o.random_selection = s->selection == 1;
    s->o.seed = (uint64_t)s->random_state;
    return st;
}

static kn_status lasso_parse(kn_ctx *ctx, const cJSON *spec, void *state) { return enet_parse_as(ctx, spec, state, true); }
static kn_status enet_parse(kn_ctx *ctx, const cJSON *spec, void *state) { return enet_parse_as(ctx, spec, state, false); }

static cJSON *enet_describe(const void *state) {
    const enet_state *s = state;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "type", s->lasso ? "lasso" : "elastic_net");
    cJSON_AddNumberToObject(j, "alpha", s->o.alpha);
    if (!s->lasso) cJSON_AddNumberToObject(j, "l1_ratio", s->o.l1_ratio);
    cJSON_AddBoolToObject(j, "fit_intercept", s->o.fit_intercept);
    cJSON_AddNumberToObject(j, "max_iter", s->o.max_iter);
    cJSON_AddNumberToObject(j, "tol", s->o.tol);
    cJSON_AddBoolToObject(j, "positive", s->o.positive);
    cJSON_AddStringToObject(j, "selection", selections[s->selection]);
    cJSON_AddNumberToObject(j, "random_state", (double)s->random_state);
    return j;
}

static kn_status enet_fit(kn_ctx *ctx, void *state, const kn__xy *xy) {
    enet_state *s = state;
    kn__linear_free(ctx, &s->fit);
    return kn__enet_fit(ctx, xy, &s->o, s->lasso ? "lasso" : "elastic_net", &s->fit);
}

static kn_status enet_predict(kn_ctx *ctx, const void *state, const float *x, int64_t n, float *out) {
    (void)ctx;
    kn__linear_decision(&((const enet_state *)state)->fit, x, n, out);
    return KN_OK;
}

static int enet_tensors(kn_ctx *ctx, void *state, kn__ctensor *t, int max) {
    (void)ctx;
    return linear_tensors(&((const enet_state *)state)->fit, t, max);
}

static kn_status enet_load(kn_ctx *ctx, void *state, const kn__ctensor *t, int n, int64_t d, int outputs, const char *path) {
    (void)outputs;
    return linear_load(ctx, &((enet_state *)state)->fit, t, n, d, 1, path);
}

static void enet_free(kn_ctx *ctx, void *state) { kn__linear_free(ctx, &((enet_state *)state)->fit); }
static int64_t enet_params(const void *state) { return linear_params(&((const enet_state *)state)->fit); }
static int enet_iters(const void *state) { return ((const enet_state *)state)->fit.n_iter; }

const kn__classic_ops kn__ops_lasso = {
    .name = "lasso", .regression = true, .state_size = sizeof(enet_state),
    .parse = lasso_parse, .describe = enet_describe, .fit = enet_fit, .predict = enet_predict,
    .has_proba = no_proba, .tensors = enet_tensors, .load = enet_load, .free = enet_free,
    .param_count = enet_params, .iterations = enet_iters,
};

const kn__classic_ops kn__ops_elastic_net = {
    .name = "elastic_net", .regression = true, .state_size = sizeof(enet_state),
    .parse = enet_parse, .describe = enet_describe, .fit = enet_fit, .predict = enet_predict,
    .has_proba = no_proba, .tensors = enet_tensors, .load = enet_load, .free = enet_free,
    .param_count = enet_params, .iterations = enet_iters,
};
