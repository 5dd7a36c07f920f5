/* model.c — classical models as kn_models: building one from a description, fitting it on a
 * dataset (class and sample weights folded into per-row weights), predicting, evaluating,
 * describing. The per-type work is behind kn__classic_ops (see model.h); the registry of
 * types is here. */
#include "classic/model.h"
#include "data/dataset.h"
#include "nn/model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- registry */

/* Each type's ops, defined in its glue file (classic/glue_*.c). */
extern const kn__classic_ops kn__ops_linear_regression, kn__ops_logistic_regression, kn__ops_decision_tree,
    kn__ops_random_forest, kn__ops_hist_gradient_boosting, kn__ops_linear_svm, kn__ops_svm, kn__ops_k_nearest_neighbors,
    kn__ops_gaussian_nb, kn__ops_multinomial_nb, kn__ops_bernoulli_nb, kn__ops_complement_nb, kn__ops_lasso,
    kn__ops_elastic_net;
static const kn__classic_ops *const types[] = {&kn__ops_linear_regression, &kn__ops_logistic_regression, &kn__ops_decision_tree,
                                               &kn__ops_random_forest, &kn__ops_hist_gradient_boosting, &kn__ops_linear_svm,
                                               &kn__ops_svm, &kn__ops_k_nearest_neighbors, &kn__ops_gaussian_nb,
                                               &kn__ops_multinomial_nb, &kn__ops_bernoulli_nb, &kn__ops_complement_nb,
                                               &kn__ops_lasso, &kn__ops_elastic_net};
enum { N_TYPES = (int)(sizeof types / sizeof *types) };

static const kn__classic_ops *registry(int i) { return i >= 0 && i < N_TYPES ? types[i] : NULL; }

const kn__ctensor *kn__ctensor_find(const kn__ctensor *t, int n, const char *name, kn_dtype dtype) {
    for (int i = 0; i < n; i++)
        if (t[i].dtype == dtype && strcmp(t[i].name, name) == 0) return &t[i];
    return NULL;
}

const kn__classic_ops *kn__classic_find(const char *name) {
    for (int i = 0; name && i < N_TYPES; i++) {
        const kn__classic_ops *o = registry(i);
        if (o && strcmp(o->name, name) == 0) return o;
    }
    return NULL;
}

const char *kn__classic_names(void) {
    static char names[512];
    if (!names[0]) {
        size_t w = 0;
        for (int i = 0; i < N_TYPES && w < sizeof names; i++)
            if (registry(i)) w += (size_t)snprintf(names + w, sizeof names - w, "%s%s", w ? ", " : "", registry(i)->name);
    }
    return names;
}

/* ---------------------------------------------------------------- building */

/* "class_weight": "balanced" or a list by class; shared by every classifier. */
static kn_status parse_class_weight(kn_model *m, const cJSON *spec) {
    const cJSON *cw = cJSON_GetObjectItemCaseSensitive(spec, "class_weight");
    char field[96];
    snprintf(field, sizeof field, "%s.class_weight", m->classic->name);
    if (!cw || cJSON_IsNull(cw)) return KN_OK;
    if (cJSON_IsString(cw) && strcmp(cw->valuestring, "balanced") == 0) {
        m->c_class_weight_balanced = true;
        return KN_OK;
    }
    int n = cJSON_IsArray(cw) ? cJSON_GetArraySize(cw) : 0;
    if (n < 1 || n > 65536) return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "%s: expected \"balanced\" or a list of weights by class", field);
    m->c_class_weight = kn__alloc(m->ctx, (size_t)n * sizeof(float));
    if (!m->c_class_weight) return kn__error(m->ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", field);
    for (int i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetArrayItem(cw, i);
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || !isfinite(v->valuedouble))
            return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "%s[%d]: expected a number >= 0", field, i);
        m->c_class_weight[i] = (float)v->valuedouble;
    }
    m->c_n_class_weight = n;
    return KN_OK;
}

kn_status kn__classic_new(kn_ctx *ctx, const cJSON *spec, const kn_dataset *data, kn_model **out) {
    *out = NULL;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(spec, "type");
    const kn__classic_ops *ops = cJSON_IsString(type) ? kn__classic_find(type->valuestring) : NULL;
    if (!ops) return kn__error(ctx, KN_ERR_SPEC, "type: not a classical model (%s)", kn__classic_names());
    kn_model *m = kn__calloc(ctx, 1, sizeof *m);
    if (!m) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "model: out of memory");
    m->ctx = ctx;
    m->classic = ops;
    m->cstate = kn__calloc(ctx, 1, ops->state_size ? ops->state_size : 1);
    /* the keys every classical model shares are read here; the type's own by its parse */
    cJSON *own = cJSON_Duplicate(spec, 1);
    kn_status st = m->cstate && own ? KN_OK : kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "model: out of memory");
    if (!st) st = parse_class_weight(m, spec);
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(spec, "input_shape"), *nc = cJSON_GetObjectItemCaseSensitive(spec, "n_classes");
    if (!st && shape) { /* a saved model's description carries its input width and classes */
        const cJSON *d0 = cJSON_IsArray(shape) && cJSON_GetArraySize(shape) == 1 ? cJSON_GetArrayItem(shape, 0) : NULL;
        if (!cJSON_IsNumber(d0) || !(d0->valuedouble >= 1) || d0->valuedouble > 1e8 || d0->valuedouble != floor(d0->valuedouble))
            st = kn__error(ctx, KN_ERR_SPEC, "%s.input_shape: expected [features]", ops->name);
        else
            m->in_features = m->input_shape[0] = (int64_t)d0->valuedouble, m->input_ndim = 1;
    }
    if (!st && nc) {
        if (!cJSON_IsNumber(nc) || nc->valuedouble < 0 || nc->valuedouble == 1 || nc->valuedouble > 65536 ||
            nc->valuedouble != floor(nc->valuedouble) || (nc->valuedouble == 0 ? !ops->regression : !ops->classification))
            st = kn__error(ctx, KN_ERR_SPEC, "%s.n_classes: expected 0 (regression) or 2 and up", ops->name);
        else
            m->c_classes = (int)nc->valuedouble, m->c_outputs = m->c_classes ? m->c_classes : 1;
    }
    static const char *const shared_keys[] = {"type", "input_shape", "n_classes", "class_weight"};
    for (int i = 0; own && i < 4; i++) cJSON_DeleteItemFromObjectCaseSensitive(own, shared_keys[i]);
    if (!st) st = ops->parse(ctx, own, m->cstate);
    cJSON_Delete(own);
    if (!st && data) {
        if (data->raw) {
            st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "model description: the data is a raw CSV table: build the model from the preprocessed data");
        } else if (data->labels && !ops->classification) {
            st = kn__error(ctx, KN_ERR_SPEC, "%s: a regression model, but the data has class labels (say task=regression for a numeric target)",
                           ops->name);
        } else if (!data->labels && !ops->regression) {
            st = kn__error(ctx, KN_ERR_SPEC, "%s: a classifier, but the data has regression targets", ops->name);
        } else if (!data->labels && data->outputs != 1) {
            st = kn__error(ctx, KN_ERR_SHAPE, "%s: %lld regression targets per row; classical models take one", ops->name,
                           (long long)data->outputs);
        } else {
            m->in_features = data->features;
            m->input_ndim = 1;
            m->input_shape[0] = data->features;
            m->c_classes = data->labels ? data->n_classes : 0;
            m->c_outputs = data->labels ? data->n_classes : 1;
        }
    }
    if (st) {
        kn_model_free(m);
        return st;
    }
    m->compiled = true; /* nothing to compile: the description is the whole configuration */
    *out = m;
    return KN_OK;
}

void kn__classic_free(kn_model *m) {
    if (m->cstate && m->classic) m->classic->free(m->ctx, m->cstate);
    kn__free(m->ctx, m->cstate);
    kn__free(m->ctx, m->c_class_weight);
    m->cstate = NULL;
    m->c_class_weight = NULL;
}

/* ---------------------------------------------------------------- fitting */

kn_status kn__classic_fit(kn_model *m, const kn_dataset *data, const kn_fit_opts *o, const kn_history **history) {
    kn_ctx *ctx = m->ctx;
    const kn__classic_ops *ops = m->classic;
    if (data->raw)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                         "data: a raw CSV table (categories are codes): transform it with kn_preprocessor_fit/transform first");
    if (m->in_features && data->features != m->in_features)
        return kn__error(ctx, KN_ERR_SHAPE, "data: %lld features per sample, but the model was built for %lld", (long long)data->features,
                         (long long)m->in_features);
    if (data->labels ? !ops->classification : !ops->regression)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: cannot fit %s data", ops->name, data->labels ? "classification" : "regression");
    if (!(o->validation_split >= 0 && o->validation_split < 1))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fit: validation_split %g must be in [0, 1)", o->validation_split);
    /* validation: the given data, else the last validation_split of the rows (as Keras and the
     * networks take it), which the fit then leaves out */
    const kn_dataset *val = o->validation_data;
    int64_t n_fit = val ? data->n : data->n - (int64_t)((double)data->n * o->validation_split);
    if (n_fit < 2) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: %lld rows to fit; at least 2 are needed", ops->name, (long long)n_fit);
    if (data->labels && data->n_classes < 2)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: the data has %d class; at least 2 are needed", ops->name, data->n_classes);
    /* per-row weights: class weights (the description's, else the fit options') times sample weights */
    const float *cw = m->c_class_weight ? m->c_class_weight : o->class_weight;
    int n_cw = m->c_class_weight ? m->c_n_class_weight : o->n_class_weights;
    bool balanced = m->c_class_weight_balanced || (!m->c_class_weight && o->class_weight_balanced);
    if (cw && data->labels && n_cw < data->n_classes)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s.class_weight: %d weights for %d classes", ops->name, n_cw, data->n_classes);
    const char *why_not = (cw || balanced) && data->labels && ops->class_weight_refused ? ops->class_weight_refused(m->cstate) : NULL;
    if (why_not) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s.class_weight: %s", ops->name, why_not);
    float *w = NULL;
    if ((cw || balanced) && data->labels) {
        w = kn__alloc(ctx, (size_t)data->n * sizeof *w);
        int64_t *count = kn__calloc(ctx, (size_t)data->n_classes, sizeof *count);
        if (!w || !count) {
            kn__free(ctx, w);
            kn__free(ctx, count);
            return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "fit: out of memory");
        }
        for (int64_t i = 0; i < n_fit; i++) count[data->labels[i]]++;
        int present = 0;
        for (int c = 0; c < data->n_classes; c++) present += count[c] > 0;
        for (int64_t i = 0; i < data->n; i++) {
            int c = data->labels[i];
            w[i] = balanced ? (float)((double)n_fit / ((double)present * (double)(count[c] ? count[c] : 1))) : cw[c];
            if (o->sample_weight) w[i] *= o->sample_weight[i];
        }
        kn__free(ctx, count);
    } else if (o->sample_weight) {
        w = kn__alloc(ctx, (size_t)data->n * sizeof *w);
        if (!w) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "fit: out of memory");
        memcpy(w, o->sample_weight, (size_t)data->n * sizeof *w);
    }
    kn__xy xy = {.x = data->x, .n = n_fit, .d = data->features, .y = data->labels, .n_classes = data->labels ? data->n_classes : 0,
                 .t = data->targets, .w = w};
    double t0 = kn__now();
    kn_status st = ops->fit(ctx, m->cstate, &xy);
    double seconds = kn__now() - t0;
    kn__free(ctx, w);
    if (st) return st;
    m->c_fitted = true;
    m->in_features = data->features;
    m->input_ndim = 1;
    m->input_shape[0] = data->features;
    m->c_classes = data->labels ? data->n_classes : 0;
    m->c_outputs = data->labels ? data->n_classes : 1;
    m->input_scale = data->input_scale;
    if (data->label_names && !m->label_names &&
        (st = kn_model_set_labels(m, (const char *const *)data->label_names, data->n_classes)))
        return st;
    /* history: one record (the fit), its time; no training metrics (they would cost a
     * prediction over the whole training set) */
    kn__free(ctx, m->records);
    m->records = kn__calloc(ctx, 1, sizeof *m->records);
    if (!m->records) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "fit: out of memory");
    m->records[0] = (kn_epoch_record){.epoch = 1, .loss = NAN, .accuracy = NAN, .val_loss = NAN, .val_accuracy = NAN,
                                      .seconds = seconds, .learning_rate = NAN};
    kn_dataset *tail = NULL;
    if (!val && n_fit < data->n && (st = kn_dataset_slice(data, n_fit, data->n - n_fit, &tail))) return st;
    if (val || tail) { /* the validation loss (log-loss, or MSE) and accuracy, as a network reports them */
        kn_eval_report r;
        st = kn__classic_evaluate(m, val ? val : tail, &r);
        kn_dataset_free(tail);
        if (st) return st;
        m->records[0].val_loss = r.loss;
        m->records[0].val_accuracy = r.accuracy;
    }
    int iters = ops->iterations ? ops->iterations(m->cstate) : 0;
    m->history = (kn_history){.n_epochs = 1, .epochs = m->records, .steps = iters, .train_seconds = seconds,
                              .seconds_per_epoch = seconds};
    char summary[320];
    int used = snprintf(summary, sizeof summary, "{\"model_type\": \"%s\", \"n_train\": %lld, \"iterations\": %d, \"train_seconds\": %.6g",
                     ops->name, (long long)n_fit, iters, seconds);
    double oob = kn_model_oob_score(m);
    if (isfinite(oob)) used += snprintf(summary + used, sizeof summary - (size_t)used, ", \"oob_score\": %.6g", oob);
    snprintf(summary + used, sizeof summary - (size_t)used, "}");
    kn_status sst = kn__model_set_training_summary(m, summary);
    if (sst) return sst;
    if (history) *history = &m->history;
    return KN_OK;
}

kn_status kn__classic_predict(kn_model *m, const float *x, int64_t n, float *out) {
    if (!m->c_fitted) return kn__error(m->ctx, KN_ERR_STATE, "%s: predict before fit", m->classic->name);
    return n > 0 ? m->classic->predict(m->ctx, m->cstate, x, n, out) : KN_OK;
}

/* ---------------------------------------------------------------- evaluation */

kn_status kn__classic_evaluate(kn_model *m, const kn_dataset *data, kn_eval_report *rep) {
    kn_ctx *ctx = m->ctx;
    if (!m->c_fitted) return kn__error(ctx, KN_ERR_STATE, "%s: evaluate before fit", m->classic->name);
    if (data->raw) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "data: a raw CSV table: transform it first");
    if (data->features != m->in_features)
        return kn__error(ctx, KN_ERR_SHAPE, "data: %lld features per sample, but the model takes %lld", (long long)data->features,
                         (long long)m->in_features);
    if (data->labels && !m->c_classes) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "data: class labels for a regression model");
    if (!data->labels && m->c_classes) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "data: regression targets for a classifier");
    if (data->labels && data->n_classes > m->c_classes)
        return kn__error(ctx, KN_ERR_SHAPE, "data: %d classes, the model knows %d", data->n_classes, m->c_classes);
    int64_t outs = m->c_outputs, chunk = 4096;
    float *p = kn__alloc(ctx, (size_t)(chunk * outs) * sizeof *p);
    int64_t *counts = data->labels ? kn__calloc(ctx, (size_t)m->c_classes * 3, sizeof *counts) : NULL;
    if (!p || (data->labels && !counts)) {
        kn__free(ctx, p);
        kn__free(ctx, counts);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "evaluate: out of memory");
    }
    bool proba = m->classic->has_proba(m->cstate);
    double loss = 0, sq = 0, ab = 0, mean = 0, ss_tot = 0;
    int64_t correct = 0, n = data->n;
    for (int64_t i = 0; i < n && !data->labels; i++) mean += data->targets[i] / (double)n;
    kn_status st = KN_OK;
    for (int64_t i = 0; i < n && !st; i += chunk) {
        int64_t b = n - i < chunk ? n - i : chunk;
        if ((st = m->classic->predict(ctx, m->cstate, data->x + i * data->features, b, p))) break;
        for (int64_t r = 0; r < b; r++) {
            const float *row = p + r * outs;
            if (data->labels) {
                int y = data->labels[i + r], best = 0;
                for (int c = 1; c < outs; c++) best = row[c] > row[best] ? c : best;
                correct += best == y;
                counts[3 * best + (best == y ? 0 : 1)]++; /* tp or fp of the predicted class */
                if (best != y) counts[3 * y + 2]++;       /* fn of the true class */
                double q = row[y] < 1e-15 ? 1e-15 : row[y] > 1 - 1e-15 ? 1 - 1e-15 : row[y];
                loss -= log(q);
            } else {
                double e = (double)row[0] - data->targets[i + r], dt = data->targets[i + r] - mean;
                sq += e * e;
                ab += fabs(e);
                ss_tot += dt * dt;
            }
        }
    }
    *rep = (kn_eval_report){.n = n, .loss = NAN, .accuracy = NAN, .f1_macro = NAN, .mse = NAN, .rmse = NAN, .mae = NAN, .r2 = NAN};
    if (data->labels && n) {
        rep->accuracy = (double)correct / (double)n;
        rep->loss = proba ? loss / (double)n : NAN; /* log-loss needs probabilities */
        double f1 = 0;
        int present = 0;
        for (int c = 0; c < m->c_classes; c++) {
            int64_t tp = counts[3 * c], fp = counts[3 * c + 1], fn = counts[3 * c + 2];
            if (tp + fp + fn == 0) continue;
            f1 += 2.0 * (double)tp / (double)(2 * tp + fp + fn);
            present++;
        }
        rep->f1_macro = present ? f1 / present : NAN;
    } else if (n) {
        rep->mse = rep->loss = sq / (double)n;
        rep->rmse = sqrt(rep->mse);
        rep->mae = ab / (double)n;
        rep->r2 = ss_tot > 0 ? 1 - sq / ss_tot : sq == 0 ? 1 : 0;
    }
    kn__free(ctx, p);
    kn__free(ctx, counts);
    return st;
}

/* ---------------------------------------------------------------- describing */

cJSON *kn__classic_to_cjson(const kn_model *m) {
    cJSON *j = m->classic->describe(m->cstate);
    if (!j) return NULL;
    if (m->c_class_weight_balanced) {
        cJSON_DeleteItemFromObject(j, "class_weight");
        cJSON_AddStringToObject(j, "class_weight", "balanced");
    } else if (m->c_class_weight) {
        cJSON_DeleteItemFromObject(j, "class_weight");
        cJSON *a = cJSON_AddArrayToObject(j, "class_weight");
        for (int i = 0; i < m->c_n_class_weight; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(m->c_class_weight[i]));
    }
    cJSON *shape = cJSON_AddArrayToObject(j, "input_shape");
    cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)m->in_features));
    cJSON_AddNumberToObject(j, "n_classes", m->c_classes);
    return j;
}

double kn_model_oob_score(const kn_model *m) {
    return m && m->classic && m->c_fitted && m->classic->oob_score ? m->classic->oob_score(m->cstate) : NAN;
}

kn_status kn_model_feature_importances(kn_model *m, double *out) {
    if (!m || !out) return KN_ERR_INVALID_ARGUMENT;
    if (!m->classic || !m->classic->importances)
        return kn__error(m->ctx, KN_ERR_UNSUPPORTED, "feature importances: a %s has none (trees and forests do)", kn_model_type(m));
    if (!m->c_fitted) return kn__error(m->ctx, KN_ERR_STATE, "%s: not fitted", m->classic->name);
    m->classic->importances(m->cstate, out);
    return KN_OK;
}

kn_status kn_model_export_text(kn_model *m, char **out) {
    if (!m || !out) return KN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!m->classic || !m->classic->export_text)
        return kn__error(m->ctx, KN_ERR_UNSUPPORTED, "export_text: a %s has no text form (decision trees do)", kn_model_type(m));
    if (!m->c_fitted) return kn__error(m->ctx, KN_ERR_STATE, "%s: not fitted", m->classic->name);
    return m->classic->export_text(m->ctx, m->cstate, (const char *const *)m->feature_names, (const char *const *)m->label_names,
                                   out);
}

float *kn__classic_param(kn_model *m, const char *name, int64_t *n) {
    if (!m->c_fitted || !name) {
        kn__error(m->ctx, KN_ERR_STATE, "%s: no parameters before fit", m->classic->name);
        return NULL;
    }
    kn__ctensor t[64];
    int k = m->classic->tensors(m->ctx, m->cstate, t, 64);
    for (int i = 0; i < k; i++)
        if (t[i].dtype == KN_F32 && strcmp(t[i].name, name) == 0) {
            if (n) *n = t[i].shape[0] * (t[i].ndim > 1 ? t[i].shape[1] : 1);
            return (float *)t[i].data;
        }
    kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "model: a %s has no float tensor named '%s'", m->classic->name, name);
    return NULL;
}

int64_t kn__classic_param_count(const kn_model *m) {
    return m->c_fitted && m->classic->param_count ? m->classic->param_count(m->cstate) : 0;
}

void kn__classic_summary(const kn_model *m, char *buf, size_t size) {
    snprintf(buf, size, "%s: input %lld -> %lld output%s%s", m->classic->name, (long long)m->in_features,
             (long long)m->c_outputs, m->c_outputs == 1 ? "" : "s", m->c_classes ? " (class probabilities)" : "");
    if (m->c_fitted) {
        size_t used = strlen(buf);
        snprintf(buf + used, size - used, ", %lld parameters", (long long)kn__classic_param_count(m));
    }
}
