/* spec.c — the JSON model description (Keras's vocabulary, see INTERFACE.md) into a
 * sequential model and its compile/fit settings. Every error names the field at fault;
 * values the description leaves out come from the data, then from Keras's defaults. */
#include "core/core.h"
#include "spec.h"
#include "classic/model.h"
#include "nn/model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

/* Line and column of a byte offset, for parse errors. */
static void line_col(const char *text, const char *at, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (const char *p = text; p < at && *p; p++) {
        if (*p == '\n') { (*line)++; *col = 1; }
        else (*col)++;
    }
}

kn_status kn__spec_error(kn_ctx *ctx, const char *field, const char *fmt, ...) {
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kn__error(ctx, KN_ERR_SPEC, "model description: %s: %s", field, msg);
}

kn_status kn__spec_check_keys(kn_ctx *ctx, const cJSON *obj, const char *where, const char *const *keys) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        const char *const *k = keys;
        while (*k && strcmp(*k, it->string) != 0) k++;
        if (*k) continue;
        char field[96], names[400];
        size_t len = strlen(where);
        snprintf(field, sizeof field, "%.*s", (int)(len && where[len - 1] == '.' ? len - 1 : len), where);
        kn__join_names(keys, -1, names, sizeof names);
        return kn__spec_error(ctx, field, "unknown key '%.60s' (expected one of %s)", it->string, names);
    }
    return KN_OK;
}

kn_status kn__spec_l2(kn_ctx *ctx, const cJSON *obj, const char *key, const char *where, float *l2) {
    const cJSON *reg = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!reg || cJSON_IsNull(reg)) return KN_OK;
    char field[160];
    snprintf(field, sizeof field, "%s%s.", where, key);
    if (!cJSON_IsObject(reg)) return kn__spec_error(ctx, field, "expected an object such as {\"l2\": 0.01}");
    static const char *const reg_keys[] = {"l2", NULL};
    double v = 0;
    kn_status st = kn__spec_check_keys(ctx, reg, field, reg_keys);
    if (!st) st = kn__spec_number(ctx, reg, "l2", field, 0, 1e6, &v);
    if (!st) *l2 = (float)v;
    return st;
}

static kn_status unknown_activation(kn_ctx *ctx, const char *field, const char *name) {
    char names[256];
    kn__activation_list(names, sizeof names);
    return kn__spec_error(ctx, field, "unknown activation '%.60s' (expected one of %s)", name, names);
}

kn_status kn__spec_number(kn_ctx *ctx, const cJSON *obj, const char *key, const char *where, double lo, double hi,
                            double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return KN_OK;
    char field[160];
    snprintf(field, sizeof field, "%s%s", where, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return kn__spec_error(ctx, field, "expected a number");
    if (v->valuedouble < lo || v->valuedouble > hi)
        return kn__spec_error(ctx, field, "%g is out of range [%g, %g]", v->valuedouble, lo, hi);
    *out = v->valuedouble;
    return KN_OK;
}

kn_status kn__spec_int(kn_ctx *ctx, const cJSON *obj, const char *key, const char *where, double lo, double hi,
                         int64_t *out) {
    double d = (double)*out;
    kn_status st = kn__spec_number(ctx, obj, key, where, lo, hi, &d);
    if (st) return st;
    if (d != floor(d)) {
        char field[160];
        snprintf(field, sizeof field, "%s%s", where, key);
        return kn__spec_error(ctx, field, "%g is not a whole number", d);
    }
    *out = (int64_t)d;
    return KN_OK;
}

static kn_status parse_optimizer(kn_ctx *ctx, const cJSON *v, kn_optimizer *opt) {
    const char *name = cJSON_IsString(v) ? v->valuestring : NULL;
    const cJSON *obj = NULL;
    if (cJSON_IsObject(v)) {
        obj = v;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(v, "type");
        if (!t) t = cJSON_GetObjectItemCaseSensitive(v, "class_name");
        if (!cJSON_IsString(t)) return kn__spec_error(ctx, "optimizer.type", "expected a name such as \"adam\"");
        name = t->valuestring;
    } else if (!name) {
        return kn__spec_error(ctx, "optimizer", "expected a name or an object");
    }
    char lower[32];
    snprintf(lower, sizeof lower, "%s", name);
    for (char *c = lower; *c; c++) *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    kn_optimizer_kind kind;
    if (!kn_optimizer_parse(lower, &kind)) {
        char names[160];
        kn__optimizer_list(names, sizeof names);
        return kn__spec_error(ctx, "optimizer", "unknown optimizer '%s' (expected %s)", name, names);
    }
    *opt = kn_optimizer_default(kind);
    if (!obj) return KN_OK;
    /* every optimizer's settings (a saved model writes them all, whatever its type) */
    static const char *const keys[] = {"type", "class_name", "name", "learning_rate", "beta_1", "beta_2", "epsilon",
                                       "momentum", "nesterov", "rho", "weight_decay", "initial_accumulator_value",
                                       "clipnorm", "global_clipnorm", "clipvalue", "momentum_decay",
                                       "learning_rate_power", "l1_regularization_strength", "l2_regularization_strength",
                                       "l2_shrinkage_regularization_strength", "beta", "amsgrad", NULL};
    kn_status kst = kn__spec_check_keys(ctx, obj, "optimizer", keys);
    if (kst) return kst;
    double lr = opt->learning_rate, b1 = opt->beta_1, b2 = opt->beta_2, eps = opt->epsilon, mom = opt->momentum,
           rho = opt->rho, wd = opt->weight_decay, acc = opt->initial_accumulator, md = opt->momentum_decay, clip = 0;
    kn_status st = KN_OK;
    if (!st) st = kn__spec_number(ctx, obj, "learning_rate", "optimizer.", 1e-12, 1e6, &lr);
    if (!st) st = kn__spec_number(ctx, obj, "beta_1", "optimizer.", 0, 0.999999, &b1);
    if (!st) st = kn__spec_number(ctx, obj, "beta_2", "optimizer.", 0, 0.99999999, &b2);
    if (!st) st = kn__spec_number(ctx, obj, "epsilon", "optimizer.", 0, 1, &eps);
    if (!st) st = kn__spec_number(ctx, obj, "momentum", "optimizer.", 0, 0.999999, &mom);
    if (!st) st = kn__spec_number(ctx, obj, "rho", "optimizer.", 0, 0.999999, &rho);
    if (!st) st = kn__spec_number(ctx, obj, "weight_decay", "optimizer.", 0, 1e3, &wd);
    if (!st) st = kn__spec_number(ctx, obj, "initial_accumulator_value", "optimizer.", 0, 1e6, &acc);
    if (!st) st = kn__spec_number(ctx, obj, "momentum_decay", "optimizer.", 0, 1e3, &md);
    double lrp = opt->lr_power, l1 = opt->l1, l2 = opt->l2, shrink = opt->l2_shrinkage, fbeta = opt->ftrl_beta;
    if (!st) st = kn__spec_number(ctx, obj, "learning_rate_power", "optimizer.", -1e3, 0, &lrp);
    if (!st) st = kn__spec_number(ctx, obj, "l1_regularization_strength", "optimizer.", 0, 1e6, &l1);
    if (!st) st = kn__spec_number(ctx, obj, "l2_regularization_strength", "optimizer.", 0, 1e6, &l2);
    if (!st) st = kn__spec_number(ctx, obj, "l2_shrinkage_regularization_strength", "optimizer.", 0, 1e6, &shrink);
    if (!st) st = kn__spec_number(ctx, obj, "beta", "optimizer.", 0, 1e6, &fbeta);
    /* kiln's clipnorm is global (PyTorch's clip_grad_norm_): Keras calls that global_clipnorm */
    if (!st && cJSON_GetObjectItemCaseSensitive(obj, "clipnorm") && cJSON_GetObjectItemCaseSensitive(obj, "global_clipnorm"))
        st = kn__spec_error(ctx, "optimizer.global_clipnorm", "give clipnorm or global_clipnorm (the same in kiln), not both");
    if (!st) st = kn__spec_number(ctx, obj, "clipnorm", "optimizer.", 0, 1e12, &clip);
    if (!st) st = kn__spec_number(ctx, obj, "global_clipnorm", "optimizer.", 0, 1e12, &clip);
    double clipv = opt->clip_value;
    if (!st) st = kn__spec_number(ctx, obj, "clipvalue", "optimizer.", 0, 1e12, &clipv);
    if (!st) opt->clip_value = (float)clipv;
    if (st) return st;
    const cJSON *nest = cJSON_GetObjectItemCaseSensitive(obj, "nesterov");
    if (nest && !cJSON_IsBool(nest)) return kn__spec_error(ctx, "optimizer.nesterov", "expected true or false");
    opt->nesterov = cJSON_IsTrue(nest);
    const cJSON *ams = cJSON_GetObjectItemCaseSensitive(obj, "amsgrad");
    if (ams && !cJSON_IsBool(ams)) return kn__spec_error(ctx, "optimizer.amsgrad", "expected true or false");
    if (cJSON_IsTrue(ams) && kind != KN_OPT_ADAM && kind != KN_OPT_ADAMW)
        return kn__spec_error(ctx, "optimizer.amsgrad", "AMSGrad is Adam's and AdamW's, not %s's", kn_optimizer_name(kind));
    opt->amsgrad = cJSON_IsTrue(ams);
    opt->learning_rate = (float)lr;
    opt->beta_1 = (float)b1;
    opt->beta_2 = (float)b2;
    opt->epsilon = (float)eps;
    opt->momentum = (float)mom;
    opt->rho = (float)rho;
    opt->weight_decay = (float)wd;
    opt->initial_accumulator = (float)acc;
    opt->momentum_decay = (float)md;
    opt->lr_power = (float)lrp;
    opt->l1 = (float)l1;
    opt->l2 = (float)l2;
    opt->l2_shrinkage = (float)shrink;
    opt->ftrl_beta = (float)fbeta;
    opt->clip_norm = (float)clip;
    return KN_OK;
}

/* An initializer as Keras writes it: a name ("he_normal", or the class name "HeNormal"), or
 * an object {"class_name": "Constant", "config": {"value": 0.1}} (Keras 3 adds "module" and
 * "registered_name", which say nothing kiln needs). A config may carry "seed", accepted and
 * unused: kiln's draws come from the context's seed, as every other random number does.
 * *value is Constant's value (0 when not given, as in Keras). field: "layers[0].kernel_initializer". */
static kn_status parse_initializer(kn_ctx *ctx, const cJSON *v, const char *field, kn_init *kind, float *value) {
    char sub[160];
    const char *name = cJSON_IsString(v) ? v->valuestring : NULL;
    const cJSON *config = NULL;
    if (cJSON_IsObject(v)) {
        const cJSON *cn = cJSON_GetObjectItemCaseSensitive(v, "class_name");
        snprintf(sub, sizeof sub, "%s.class_name", field);
        if (!cJSON_IsString(cn)) return kn__spec_error(ctx, sub, "expected a name such as \"HeNormal\"");
        name = cn->valuestring;
        config = cJSON_GetObjectItemCaseSensitive(v, "config");
        snprintf(sub, sizeof sub, "%s.config", field);
        if (config && !cJSON_IsNull(config) && !cJSON_IsObject(config))
            return kn__spec_error(ctx, sub, "expected an object such as {\"value\": 0.1}");
    } else if (!name) {
        return kn__spec_error(ctx, field, "expected a name such as \"he_normal\" or an object such as "
                                          "{\"class_name\": \"Constant\", \"config\": {\"value\": 0.1}}");
    }
    if (!kn_init_parse(name, kind)) {
        char names[200] = "";
        for (int i = 0; i < KN_INIT_COUNT; i++) {
            size_t len = strlen(names);
            snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", kn_init_name((kn_init)i));
        }
        return kn__spec_error(ctx, field, "unknown initializer '%s' (expected %s)", name, names);
    }
    *value = 0;
    if (!cJSON_IsObject(config)) return KN_OK;
    const cJSON *item;
    cJSON_ArrayForEach(item, config) {
        const char *key = item->string ? item->string : "";
        snprintf(sub, sizeof sub, "%s.config.%s", field, key);
        if (strcmp(key, "seed") == 0) {
            if (!cJSON_IsNull(item) && !cJSON_IsNumber(item)) return kn__spec_error(ctx, sub, "expected a number or null");
        } else if (strcmp(key, "value") == 0 && *kind == KN_INIT_CONSTANT) {
            if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) || fabs(item->valuedouble) > 3.4e38)
                return kn__spec_error(ctx, sub, "expected a finite number (a float)");
            *value = (float)item->valuedouble;
        } else if (strcmp(key, "gain") == 0 && *kind == KN_INIT_ORTHOGONAL) {
            if (!cJSON_IsNumber(item) || item->valuedouble != 1.0)
                return kn__spec_error(ctx, sub, "only a gain of 1 is supported");
        } else if ((strcmp(key, "minval") == 0 || strcmp(key, "maxval") == 0) && *kind == KN_INIT_UNIFORM) {
            double want = key[1] == 'i' ? -0.05 : 0.05; /* RandomUniform's defaults, all kiln's uniform draws */
            if (!cJSON_IsNumber(item) || item->valuedouble != want)
                return kn__spec_error(ctx, sub, "only RandomUniform(minval=-0.05, maxval=0.05) is supported");
        } else {
            return kn__spec_error(ctx, sub, "not a setting of the %s initializer", kn_init_name(*kind));
        }
    }
    return KN_OK;
}

kn_status kn__spec_initializer(kn_ctx *ctx, const cJSON *v, const char *field, kn_init *kind, float *value) {
    return parse_initializer(ctx, v, field, kind, value);
}

/* kernel_initializer and bias_initializer. A layer holds one constant value (init_value),
 * so a Constant kernel and a Constant bias must agree on it. */
static kn_status parse_dense_initializers(kn_ctx *ctx, const cJSON *L, const char *where, kn_dense_opts *d) {
    char field[96];
    float kernel_value = 0, bias_value = 0;
    const cJSON *ki = cJSON_GetObjectItemCaseSensitive(L, "kernel_initializer");
    if (ki && !cJSON_IsNull(ki)) {
        snprintf(field, sizeof field, "%skernel_initializer", where);
        kn_status st = parse_initializer(ctx, ki, field, &d->kernel_init, &kernel_value);
        if (st) return st;
    }
    d->bias_init = KN_INIT_ZEROS;
    const cJSON *bi = cJSON_GetObjectItemCaseSensitive(L, "bias_initializer");
    if (bi && !cJSON_IsNull(bi)) {
        snprintf(field, sizeof field, "%sbias_initializer", where);
        kn_status st = parse_initializer(ctx, bi, field, &d->bias_init, &bias_value);
        if (st) return st;
        if (d->bias_init == KN_INIT_ORTHOGONAL)
            return kn__spec_error(ctx, field, "orthogonal needs a matrix (a bias is a vector)");
        if (d->bias_init == KN_INIT_GLOROT_UNIFORM)
            return kn__spec_error(ctx, field, "glorot_uniform is not offered for a bias (use zeros, ones, constant, "
                                              "or another initializer)");
        if (d->bias_init == KN_INIT_CONSTANT && d->kernel_init == KN_INIT_CONSTANT && bias_value != kernel_value)
            return kn__spec_error(ctx, field, "Constant(%g) differs from kernel_initializer's Constant(%g) "
                                              "(a layer holds one constant)", (double)bias_value, (double)kernel_value);
    }
    d->init_value = d->kernel_init == KN_INIT_CONSTANT ? kernel_value : bias_value;
    return KN_OK;
}

static kn_status parse_dense(kn_ctx *ctx, const cJSON *L, const char *where, bool last, const kn_dataset *data,
                             kn_dense_opts *d, bool *activation_given) {
    char field[96];
    int64_t units = 0;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(L, "units");
    if (u) {
        kn_status st = kn__spec_int(ctx, L, "units", where, 1, 1 << 24, &units);
        if (st) return st;
    } else if (last && data) { /* left to the data: classes, or regression outputs */
        int classes = kn_dataset_classes(data);
        units = classes > 0 ? classes : kn_dataset_outputs(data);
    } else {
        snprintf(field, sizeof field, "%sunits", where);
        return kn__spec_error(ctx, field, "missing (only the last layer's units can be left to the data)");
    }
    d->units = units;
    d->activation = KN_LINEAR;
    *activation_given = false;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(L, "activation");
    if (a && !cJSON_IsNull(a)) {
        snprintf(field, sizeof field, "%sactivation", where);
        if (!cJSON_IsString(a)) return kn__spec_error(ctx, field, "expected a name such as \"relu\"");
        if (!kn_activation_parse(a->valuestring, &d->activation)) return unknown_activation(ctx, field, a->valuestring);
        *activation_given = true;
    }
    const cJSON *ub = cJSON_GetObjectItemCaseSensitive(L, "use_bias");
    if (ub) {
        snprintf(field, sizeof field, "%suse_bias", where);
        if (!cJSON_IsBool(ub)) return kn__spec_error(ctx, field, "expected true or false");
        d->no_bias = cJSON_IsFalse(ub);
    }
    kn_status ist = parse_dense_initializers(ctx, L, where, d);
    if (!ist) ist = kn__spec_l2(ctx, L, "kernel_regularizer", where, &d->l2);
    if (ist) return ist;
    double alpha = 0;
    kn_status st = kn__spec_number(ctx, L, "alpha", where, 0, 1e6, &alpha);
    d->alpha = (float)alpha;
    return st;
}

/* A window size as Keras accepts it: a whole number, or a list [h, w]; left as it is when
 * the key is missing or null. */
static kn_status parse_pair(kn_ctx *ctx, const cJSON *L, const char *key, const char *where, int out[2]) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, key);
    if (!v || cJSON_IsNull(v)) return KN_OK;
    char field[96];
    snprintf(field, sizeof field, "%s%s", where, key);
    const cJSON *items[2] = {v, v};
    if (cJSON_IsArray(v)) {
        if (cJSON_GetArraySize(v) != 2) return kn__spec_error(ctx, field, "expected a whole number or a list [height, width]");
        items[0] = cJSON_GetArrayItem(v, 0);
        items[1] = cJSON_GetArrayItem(v, 1);
    }
    for (int k = 0; k < 2; k++) {
        const cJSON *x = items[k];
        if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble))
            return kn__spec_error(ctx, field, "expected a whole number or a list [height, width]");
        if (x->valuedouble < 1 || x->valuedouble > 255)
            return kn__spec_error(ctx, field, "%g is out of range [1, 255]", x->valuedouble);
        out[k] = (int)x->valuedouble;
    }
    return KN_OK;
}

/* A 1-D window size as Keras accepts it: a whole number, or a list of one [n] (as Keras
 * writes its tuples); left as it is when the key is missing or null. */
static kn_status parse_single(kn_ctx *ctx, const cJSON *L, const char *key, const char *where, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, key);
    if (!v || cJSON_IsNull(v)) return KN_OK;
    char field[96];
    snprintf(field, sizeof field, "%s%s", where, key);
    if (cJSON_IsArray(v)) {
        if (cJSON_GetArraySize(v) != 1) return kn__spec_error(ctx, field, "expected a whole number or a list of one [n]");
        v = cJSON_GetArrayItem(v, 0);
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return kn__spec_error(ctx, field, "expected a whole number or a list of one [n]");
    if (v->valuedouble < 1 || v->valuedouble > 255)
        return kn__spec_error(ctx, field, "%g is out of range [1, 255]", v->valuedouble);
    *out = (int)v->valuedouble;
    return KN_OK;
}

/* A sequence layer's padding: "valid" (the default), "same", and with causal "causal". */
static kn_status parse_padding1d(kn_ctx *ctx, const cJSON *L, const char *where, bool causal, kn_padding *padding) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, "padding");
    *padding = KN_PADDING_VALID;
    if (!v || cJSON_IsNull(v)) return KN_OK;
    char field[96];
    snprintf(field, sizeof field, "%spadding", where);
    static const char *const names[] = {"valid", "same", "causal"};
    for (int k = 0; k < (causal ? 3 : 2); k++)
        if (cJSON_IsString(v) && strcmp(v->valuestring, names[k]) == 0) {
            *padding = (kn_padding)k;
            return KN_OK;
        }
    return kn__spec_error(ctx, field, causal ? "expected \"valid\", \"same\" or \"causal\"" : "expected \"valid\" or \"same\"");
}

/* padding: "valid" (the default) or "same". */
static kn_status parse_padding(kn_ctx *ctx, const cJSON *L, const char *where, bool *same) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, "padding");
    *same = false;
    if (!v || cJSON_IsNull(v)) return KN_OK;
    char field[96];
    snprintf(field, sizeof field, "%spadding", where);
    if (cJSON_IsString(v) && strcmp(v->valuestring, "valid") == 0) return KN_OK;
    if (cJSON_IsString(v) && strcmp(v->valuestring, "same") == 0) {
        *same = true;
        return KN_OK;
    }
    return kn__spec_error(ctx, field, "expected \"valid\" or \"same\"");
}

/* A convolution's filters (required) and the options it shares with dense (activation,
 * use_bias, initializers, regularizer, alpha), read as dense reads them, into *dense
 * (units = filters). type names the layer in messages ("conv2d"). */
static kn_status parse_conv_common(kn_ctx *ctx, const cJSON *L, const char *where, const char *type,
                                   kn_dense_opts *dense, bool *activation_given) {
    char field[96];
    int64_t filters = 0;
    if (!cJSON_GetObjectItemCaseSensitive(L, "filters")) {
        snprintf(field, sizeof field, "%sfilters", where);
        return kn__spec_error(ctx, field, "missing (the number of output channels, e.g. 32)");
    }
    kn_status st = kn__spec_int(ctx, L, "filters", where, 1, 1 << 24, &filters);
    if (st) return st;
    if (!cJSON_GetObjectItemCaseSensitive(L, "kernel_size")) {
        snprintf(field, sizeof field, "%skernel_size", where);
        return kn__spec_error(ctx, field, strcmp(type, "conv1d") == 0   ? "missing (e.g. 3)"
                                          : strcmp(type, "conv3d") == 0 ? "missing (e.g. 3 or [3, 3, 3])"
                                                                        : "missing (e.g. 3 or [3, 3])");
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(L, "units");
    if (u) {
        snprintf(field, sizeof field, "%sunits", where);
        return kn__spec_error(ctx, field, "not a %s setting (filters is)", type);
    }
    cJSON *copy = cJSON_Duplicate(L, 1);
    if (!copy) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "model description: out of memory");
    cJSON_AddNumberToObject(copy, "units", 1);
    *dense = (kn_dense_opts){0};
    st = parse_dense(ctx, copy, where, false, NULL, dense, activation_given);
    cJSON_Delete(copy);
    dense->units = filters;
    return st;
}

kn_status kn__spec_conv_common(kn_ctx *ctx, const cJSON *L, const char *where, const char *type, kn_dense_opts *dense,
                               bool *activation_given) {
    return parse_conv_common(ctx, L, where, type, dense, activation_given);
}
kn_status kn__spec_padding(kn_ctx *ctx, const cJSON *L, const char *where, bool *same) {
    return parse_padding(ctx, L, where, same);
}

static kn_status parse_conv2d(kn_ctx *ctx, const cJSON *L, const char *where, kn_conv2d_opts *c, bool *activation_given) {
    kn_dense_opts dense;
    kn_status st = parse_conv_common(ctx, L, where, "conv2d", &dense, activation_given);
    if (st) return st;
    int k[2] = {0, 0}, s[2] = {1, 1}, d[2] = {1, 1};
    if ((st = parse_pair(ctx, L, "kernel_size", where, k))) return st;
    if ((st = parse_pair(ctx, L, "strides", where, s))) return st;
    if ((st = parse_pair(ctx, L, "dilation_rate", where, d))) return st;
    if ((st = parse_padding(ctx, L, where, &c->same))) return st;
    c->filters = dense.units;
    c->kernel_h = k[0]; c->kernel_w = k[1];
    c->stride_h = s[0]; c->stride_w = s[1];
    c->dilation_h = d[0]; c->dilation_w = d[1];
    c->activation = dense.activation;
    c->no_bias = dense.no_bias;
    c->kernel_init = dense.kernel_init;
    c->bias_init = dense.bias_init;
    c->init_value = dense.init_value;
    c->l2 = dense.l2;
    c->alpha = dense.alpha;
    int64_t groups = 1;
    if ((st = kn__spec_int(ctx, L, "groups", where, 1, 4096, &groups))) return st;
    c->groups = (int)groups;
    return KN_OK;
}

/* Keras's Conv1D: kernel_size, strides and dilation_rate a number or a list of one. */
static kn_status parse_conv1d(kn_ctx *ctx, const cJSON *L, const char *where, kn_conv1d_opts *c, bool *activation_given) {
    kn_dense_opts dense;
    kn_status st = parse_conv_common(ctx, L, where, "conv1d", &dense, activation_given);
    if (st) return st;
    int k = 0, s = 1, d = 1;
    if ((st = parse_single(ctx, L, "kernel_size", where, &k))) return st;
    if ((st = parse_single(ctx, L, "strides", where, &s))) return st;
    if ((st = parse_single(ctx, L, "dilation_rate", where, &d))) return st;
    if ((st = parse_padding1d(ctx, L, where, true, &c->padding))) return st;
    int64_t groups = 1;
    if ((st = kn__spec_int(ctx, L, "groups", where, 1, 4096, &groups))) return st;
    c->groups = (int)groups;
    c->filters = dense.units;
    c->kernel_size = k;
    c->stride = s;
    c->dilation = d;
    c->activation = dense.activation;
    c->no_bias = dense.no_bias;
    c->kernel_init = dense.kernel_init;
    c->bias_init = dense.bias_init;
    c->init_value = dense.init_value;
    c->l2 = dense.l2;
    c->alpha = dense.alpha;
    return KN_OK;
}

/* Keras's output_padding: null (None, the default: *given false) or a whole number, or a list
 * of one per axis (two: [height, width]; a sequence's one: [n]), each in [0, 254] (the layer
 * checks each is below its stride, as Keras). */
static kn_status parse_output_padding(kn_ctx *ctx, const cJSON *L, const char *where, int axes, bool *given,
                                      int pad[2]) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, "output_padding");
    *given = false;
    if (!v || cJSON_IsNull(v)) return KN_OK;
    char field[96];
    snprintf(field, sizeof field, "%soutput_padding", where);
    const cJSON *items[2] = {v, v};
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == axes) items[0] = v->child, items[1] = v->child->next;
    for (int k = 0; k < axes; k++) {
        const cJSON *x = items[k];
        if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble) || x->valuedouble < 0 || x->valuedouble > 254)
            return kn__spec_error(ctx, field, "expected null, a whole number or a list %s of whole numbers in [0, 254]",
                                  axes == 2 ? "[height, width]" : "of one [n]");
        pad[k] = (int)x->valuedouble;
    }
    *given = true;
    return KN_OK;
}

/* Keras's Conv2DTranspose and Conv1DTranspose: conv2d's (conv1d's) keys, padding "valid" or
 * "same", and output_padding. */
static kn_status parse_conv_transpose(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where, bool seq,
                                      bool *activation_given) {
    kn_status st;
    int pad[2] = {0, 0};
    bool given;
    if (seq) {
        kn_conv1d_opts c = {0};
        if ((st = parse_conv1d(ctx, L, where, &c, activation_given))) return st;
        if (c.padding == KN_PADDING_CAUSAL) {
            char field[96];
            snprintf(field, sizeof field, "%spadding", where);
            return kn__spec_error(ctx, field, "expected \"valid\" or \"same\" (Keras's Conv1DTranspose has no causal)");
        }
        if ((st = parse_output_padding(ctx, L, where, 1, &given, pad))) return st;
        kn_conv1d_transpose_opts o = {.filters = c.filters, .kernel_size = c.kernel_size, .stride = c.stride,
                                      .dilation = c.dilation, .same = c.padding == KN_PADDING_SAME,
                                      .has_output_padding = given, .output_padding = pad[0],
                                      .activation = c.activation, .alpha = c.alpha, .no_bias = c.no_bias,
                                      .kernel_init = c.kernel_init, .bias_init = c.bias_init,
                                      .init_value = c.init_value, .l2 = c.l2};
        return kn_model_add_conv1d_transpose(m, &o);
    }
    kn_conv2d_opts c = {0};
    if ((st = parse_conv2d(ctx, L, where, &c, activation_given))) return st;
    if ((st = parse_output_padding(ctx, L, where, 2, &given, pad))) return st;
    kn_conv2d_transpose_opts o = {.filters = c.filters, .kernel_h = c.kernel_h, .kernel_w = c.kernel_w,
                                  .stride_h = c.stride_h, .stride_w = c.stride_w, .dilation_h = c.dilation_h,
                                  .dilation_w = c.dilation_w, .same = c.same, .has_output_padding = given,
                                  .output_padding_h = pad[0], .output_padding_w = pad[1], .activation = c.activation,
                                  .alpha = c.alpha, .no_bias = c.no_bias, .kernel_init = c.kernel_init,
                                  .bias_init = c.bias_init, .init_value = c.init_value, .l2 = c.l2};
    return kn_model_add_conv2d_transpose(m, &o);
}

kn_status kn__spec_bool(kn_ctx *ctx, const cJSON *L, const char *key, const char *where, bool *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, key);
    if (!v || cJSON_IsNull(v)) return KN_OK;
    char field[96];
    snprintf(field, sizeof field, "%s%s", where, key);
    if (!cJSON_IsBool(v)) return kn__spec_error(ctx, field, "expected true or false");
    *out = cJSON_IsTrue(v);
    return KN_OK;
}

/* Keras's SimpleRNN, LSTM and GRU (type simple_rnn, lstm, gru): units (required) and the
 * cell's options with Keras's defaults (kn_rnn_defaults); the options kiln does not have
 * are accepted only at the value that means their absence. */
static kn_status parse_rnn(kn_ctx *ctx, const cJSON *L, const char *where, kn_rnn_cell cell, kn_rnn_opts *o) {
    char field[96];
    int64_t units = 0;
    if (!cJSON_GetObjectItemCaseSensitive(L, "units")) {
        snprintf(field, sizeof field, "%sunits", where);
        return kn__spec_error(ctx, field, "missing (the size of the state, e.g. 64)");
    }
    kn_status st = kn__spec_int(ctx, L, "units", where, 1, 1 << 20, &units);
    if (st) return st;
    *o = kn_rnn_defaults(cell, units);
    static const char *const acts[2] = {"activation", "recurrent_activation"};
    kn_activation *act_out[2] = {&o->activation, &o->recurrent_activation};
    for (int k = 0; k < 2; k++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(L, acts[k]);
        if (!a || cJSON_IsNull(a)) continue;
        snprintf(field, sizeof field, "%s%s", where, acts[k]);
        if (!cJSON_IsString(a)) return kn__spec_error(ctx, field, "expected a name such as \"tanh\"");
        if (!kn_activation_parse(a->valuestring, act_out[k])) return unknown_activation(ctx, field, a->valuestring);
    }
    bool use_bias = true;
    if ((st = kn__spec_bool(ctx, L, "use_bias", where, &use_bias))) return st;
    o->no_bias = !use_bias;
    if ((st = kn__spec_bool(ctx, L, "return_sequences", where, &o->return_sequences))) return st;
    if ((st = kn__spec_bool(ctx, L, "unit_forget_bias", where, &o->unit_forget_bias))) return st;
    if ((st = kn__spec_bool(ctx, L, "go_backwards", where, &o->go_backwards))) return st;
    static const char *const inits[3] = {"kernel_initializer", "recurrent_initializer", "bias_initializer"};
    kn_init *init_out[3] = {&o->kernel_init, &o->recurrent_init, &o->bias_init};
    bool constant = false;
    for (int k = 0; k < 3; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, inits[k]);
        if (!v || cJSON_IsNull(v)) continue;
        snprintf(field, sizeof field, "%s%s", where, inits[k]);
        float value = 0;
        if ((st = parse_initializer(ctx, v, field, init_out[k], &value))) return st;
        if (k == 2 && (o->bias_init == KN_INIT_ORTHOGONAL || o->bias_init == KN_INIT_GLOROT_UNIFORM))
            return kn__spec_error(ctx, field, "%s is not offered for a bias (use zeros, ones, constant, or another "
                                  "initializer)", kn_init_name(o->bias_init));
        if (*init_out[k] != KN_INIT_CONSTANT) continue;
        if (constant && value != o->init_value)
            return kn__spec_error(ctx, field, "Constant(%g) differs from another initializer's Constant(%g) (a layer "
                                  "holds one constant)", (double)value, (double)o->init_value);
        constant = true;
        o->init_value = value;
    }
    if ((st = kn__spec_l2(ctx, L, "kernel_regularizer", where, &o->l2))) return st;
    /* Keras options kiln runs only at their plain value */
    static const struct { const char *key; bool want; const char *why; } plain[] = {
        {"reset_after", true, "only true (Keras's default, PyTorch's GRU) is supported"},
        {"return_state", false, "only false is supported (the layer's output is its state h)"},
        {"stateful", false, "only false is supported (every batch starts from a zero state)"},
        {"unroll", false, NULL}, /* a speed hint: either value computes the same */
    };
    for (size_t k = 0; k < sizeof plain / sizeof plain[0]; k++) {
        bool v = plain[k].want;
        if ((st = kn__spec_bool(ctx, L, plain[k].key, where, &v))) return st;
        snprintf(field, sizeof field, "%s%s", where, plain[k].key);
        if (plain[k].why && v != plain[k].want) return kn__spec_error(ctx, field, "%s", plain[k].why);
    }
    /* Keras's dropout (of the inputs) and recurrent_dropout (of the state), kn_rnn_dropout */
    static const char *const rates[2] = {"dropout", "recurrent_dropout"};
    float *rate_out[2] = {&o->dropout, &o->recurrent_dropout};
    for (int k = 0; k < 2; k++) {
        double r = 0;
        if ((st = kn__spec_number(ctx, L, rates[k], where, 0, 1, &r))) return st;
        snprintf(field, sizeof field, "%s%s", where, rates[k]);
        if (r >= 1) return kn__spec_error(ctx, field, "expected a number in [0, 1)");
        *rate_out[k] = (float)r;
    }
    return KN_OK;
}

/* Every layer type kiln's parser knows and the keys each takes (every layer may have a name
 * and inputs): the table's entries, *n of them. */
typedef struct {
    const char *type;
    const char *const *keys;
} layer_entry;
static const layer_entry *layer_table(size_t *n) {
#define KN_DENSE_KEYS "activation", "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer", "alpha"
    static const char *const dense[] = {"type", "name", "inputs", "units", KN_DENSE_KEYS, NULL};
    static const char *const conv[] = {"type", "name", "inputs", "filters", "kernel_size", "strides", "padding", "dilation_rate",
                                       "groups", KN_DENSE_KEYS, NULL};
    static const char *const conv2d[] = {"type", "name", "inputs", "filters", "kernel_size", "strides", "padding",
                                         "dilation_rate", "groups", KN_DENSE_KEYS, NULL};
    static const char *const conv_transpose[] = {"type", "name", "inputs", "filters", "kernel_size", "strides", "padding",
                                                 "output_padding", "dilation_rate", KN_DENSE_KEYS, NULL};
    static const char *const conv3d[] = {"type", "name", "inputs", "filters", "kernel_size", "strides", "padding",
                                         "dilation_rate", "groups", "data_format", KN_DENSE_KEYS, NULL};
    static const char *const conv3d_transpose[] = {"type", "name", "inputs", "filters", "kernel_size", "strides",
                                                   "padding", "output_padding", "dilation_rate", "data_format",
                                                   KN_DENSE_KEYS, NULL};
#undef KN_DENSE_KEYS
    static const char *const pool[] = {"type", "name", "inputs", "pool_size", "strides", "padding", NULL};
    static const char *const plain[] = {"type", "name", "inputs", NULL};
    static const char *const reshape[] = {"type", "name", "inputs", "target_shape", NULL};
    static const char *const permute[] = {"type", "name", "inputs", "dims", NULL};
    static const char *const repeat_vector[] = {"type", "name", "inputs", "n", NULL};
    static const char *const activation[] = {"type", "name", "inputs", "activation", "alpha", NULL};
    /* Keras's activation layers: ReLU, LeakyReLU (negative_slope; Keras 2's alpha), ELU, Softmax, Identity */
    static const char *const relu[] = {"type", "name", "inputs", "max_value", "negative_slope", "threshold", NULL};
    static const char *const leaky_relu[] = {"type", "name", "inputs", "negative_slope", "alpha", NULL};
    static const char *const elu[] = {"type", "name", "inputs", "alpha", NULL};
    static const char *const softmax[] = {"type", "name", "inputs", "axis", NULL};
    static const char *const masking[] = {"type", "name", "inputs", "mask_value", NULL};
    static const char *const unit_norm[] = {"type", "name", "inputs", "axis", NULL};
    static const char *const dot[] = {"type", "name", "inputs", "axes", "normalize", NULL};
    static const char *const center_crop[] = {"type", "name", "inputs", "height", "width", "data_format", NULL};
    static const char *const dropout[] = {"type", "name", "inputs", "rate", NULL};
    static const char *const gaussian_noise[] = {"type", "name", "inputs", "stddev", NULL};
    static const char *const wrapper[] = {"type", "name", "inputs", "layer", NULL};
#define KN_DEPTHWISE_KEYS "type", "name", "inputs", "kernel_size", "strides", "padding", "dilation_rate", \
    "depth_multiplier", "activation", "use_bias", "depthwise_initializer", "bias_initializer", "depthwise_regularizer", \
    "alpha"
    static const char *const depthwise[] = {KN_DEPTHWISE_KEYS, NULL};
    static const char *const separable[] = {KN_DEPTHWISE_KEYS, "filters", "pointwise_initializer",
                                            "pointwise_regularizer", NULL};
#undef KN_DEPTHWISE_KEYS
    static const char *const rescaling[] = {"type", "name", "inputs", "scale", "offset", NULL};
    static const char *const prelu[] = {"type", "name", "inputs", "alpha_initializer", "shared_axes",
                                        "alpha_regularizer", "alpha_constraint", NULL};
    static const char *const batch_norm[] = {"type", "name", "inputs", "momentum", "epsilon", "axis", NULL};
    static const char *const layer_norm[] = {"type", "name", "inputs", "epsilon", "center", "scale", "axis", NULL};
    static const char *const group_norm[] = {"type", "name", "inputs", "groups", "epsilon", "center", "scale", "axis",
                                             NULL};
    static const char *const concat[] = {"type", "name", "inputs", "axis", NULL};
    static const char *const rnn[] = {"type", "name", "inputs", "units", "activation", "recurrent_activation", "use_bias",
                                      "kernel_initializer", "recurrent_initializer", "bias_initializer",
                                      "unit_forget_bias", "kernel_regularizer", "return_sequences", "reset_after",
                                      "go_backwards", "return_state", "stateful", "unroll", "dropout",
                                      "recurrent_dropout", NULL};
    static const char *const bidirectional[] = {"type", "name", "inputs", "layer", "merge_mode", NULL};
    static const char *const embedding[] = {"type", "name", "inputs", "input_dim", "output_dim", "embeddings_initializer",
                                            "embeddings_regularizer", "embeddings_constraint", "mask_zero",
                                            "input_length", NULL};
    static const char *const attention[] = {"type", "name", "inputs", "num_heads", "key_dim", "value_dim", "output_shape",
                                            "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer",
                                            "use_causal_mask", "dropout", "attention_axes", NULL};
    static const char *const dot_attention[] = {"type", "name", "inputs", "use_scale", "score_mode", "dropout", "seed",
                                                "use_causal_mask", NULL};
    static const char *const position[] = {"type", "name", "inputs", "initializer", "sequence_length", NULL};
    static const char *const padding2d[] = {"type", "name", "inputs", "padding", "data_format", NULL};
    static const char *const cropping2d[] = {"type", "name", "inputs", "cropping", "data_format", NULL};
    static const char *const padding1d[] = {"type", "name", "inputs", "padding", NULL};
    static const char *const cropping1d[] = {"type", "name", "inputs", "cropping", NULL};
    static const char *const upsampling2d[] = {"type", "name", "inputs", "size", "interpolation", "data_format", NULL};
    static const char *const upsampling1d[] = {"type", "name", "inputs", "size", NULL};
    static const char *const pool3d[] = {"type", "name", "inputs", "pool_size", "strides", "padding", "data_format", NULL};
    static const char *const global3d[] = {"type", "name", "inputs", "data_format", "keepdims", NULL};
    static const char *const padding3d[] = {"type", "name", "inputs", "padding", "data_format", NULL};
    static const char *const cropping3d[] = {"type", "name", "inputs", "cropping", "data_format", NULL};
    static const char *const upsampling3d[] = {"type", "name", "inputs", "size", "data_format", NULL};
    static const char *const resizing[] = {"type", "name", "inputs", "height", "width", "interpolation",
                                           "crop_to_aspect_ratio", "pad_to_aspect_ratio", "antialias", "data_format",
                                           NULL};
    static const char *const random_flip[] = {"type", "name", "inputs", "mode", "seed", "data_format", NULL};
    static const char *const random_geometry[] = {"type", "name", "inputs", "height_factor", "width_factor", "fill_mode",
                                                  "interpolation", "fill_value", "seed", "data_format", NULL};
    static const char *const random_rotation[] = {"type", "name", "inputs", "factor", "fill_mode", "interpolation",
                                                  "fill_value", "seed", "data_format", NULL};
    static const char *const random_color[] = {"type", "name", "inputs", "factor", "value_range", "seed",
                                               "data_format", NULL};
    static const layer_entry table[] = {
        {"dense", dense}, {"conv2d", conv2d}, {"max_pool2d", pool}, {"average_pool2d", pool},
        {"global_average_pool2d", plain}, {"global_max_pool2d", plain}, {"conv1d", conv}, {"max_pool1d", pool},
        {"average_pool1d", pool}, {"global_average_pool1d", plain}, {"global_max_pool1d", plain}, {"flatten", plain},
        {"reshape", reshape}, {"permute", permute}, {"repeat_vector", repeat_vector}, {"activation", activation}, {"re_lu", relu},
        {"leaky_re_lu", leaky_relu}, {"elu", elu}, {"softmax", softmax}, {"identity", plain}, {"masking", masking}, {"unit_normalization", unit_norm}, {"dot", dot}, {"center_crop", center_crop}, {"dropout", dropout}, {"spatial_dropout1d", dropout},
        {"spatial_dropout2d", dropout}, {"spatial_dropout3d", dropout}, {"gaussian_noise", gaussian_noise},
        {"gaussian_dropout", dropout}, {"alpha_dropout", dropout}, {"batch_normalization", batch_norm},
        {"layer_normalization", layer_norm}, {"group_normalization", group_norm}, {"add", plain}, {"subtract", plain}, {"multiply", plain},
        {"average", plain}, {"maximum", plain}, {"minimum", plain}, {"concatenate", concat}, {"simple_rnn", rnn}, {"lstm", rnn},
        {"gru", rnn}, {"bidirectional", bidirectional}, {"time_distributed", wrapper}, {"embedding", embedding},
        {"multi_head_attention", attention}, {"attention", dot_attention}, {"position_embedding", position}, {"prelu", prelu},
        {"rescaling", rescaling}, {"depthwise_conv2d", depthwise}, {"separable_conv2d", separable},
        {"depthwise_conv1d", depthwise}, {"separable_conv1d", separable},
        {"zero_padding2d", padding2d}, {"cropping2d", cropping2d}, {"zero_padding1d", padding1d},
        {"cropping1d", cropping1d}, {"up_sampling2d", upsampling2d}, {"up_sampling1d", upsampling1d},
        {"resizing", resizing},
        {"random_flip", random_flip}, {"random_translation", random_geometry}, {"random_rotation", random_rotation},
        {"random_zoom", random_geometry}, {"random_contrast", random_color}, {"random_brightness", random_color},
        {"conv2d_transpose", conv_transpose}, {"conv1d_transpose", conv_transpose},
        {"conv3d", conv3d}, {"max_pool3d", pool3d}, {"average_pool3d", pool3d}, {"global_max_pool3d", global3d},
        {"global_average_pool3d", global3d}, {"zero_padding3d", padding3d}, {"cropping3d", cropping3d},
        {"up_sampling3d", upsampling3d}, {"conv3d_transpose", conv3d_transpose},
    };
    *n = sizeof table / sizeof table[0];
    return table;
}

/* The keys a layer of type t takes; NULL for a type kiln does not know (add_other_layer
 * names it). */
static const char *const *layer_keys(const char *t) {
    size_t n;
    const layer_entry *table = layer_table(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(t, table[i].type) == 0) return table[i].keys;
    return NULL;
}

const char *kn__spec_layer_type(size_t i) {
    size_t n;
    const layer_entry *table = layer_table(&n);
    return i < n ? table[i].type : NULL;
}

/* Keras's other spellings of a layer type as kiln's: its class names snake-cased as Keras's
 * to_snake_case does (MaxPooling2D -> max_pooling2d, Conv2DTranspose -> conv2d_transpose,
 * SimpleRNN -> simple_rnn), then its aliases (max_pooling2d -> max_pool2d, avg_pool2d,
 * global_average_pooling2d, convolution2d, separable_convolution2d, p_re_lu -> prelu, ...).
 * t itself when that names no layer kiln knows (so a message quotes what was written). */
static const char *layer_alias(const char *t, char *buf, size_t size) {
    static const char *const aliases[][2] = {
        {"max_pooling1d", "max_pool1d"}, {"max_pooling2d", "max_pool2d"}, {"average_pooling1d", "average_pool1d"},
        {"average_pooling2d", "average_pool2d"}, {"avg_pool1d", "average_pool1d"}, {"avg_pool2d", "average_pool2d"},
        {"global_average_pooling1d", "global_average_pool1d"}, {"global_average_pooling2d", "global_average_pool2d"},
        {"global_avg_pool1d", "global_average_pool1d"}, {"global_avg_pool2d", "global_average_pool2d"},
        {"global_max_pooling1d", "global_max_pool1d"}, {"global_max_pooling2d", "global_max_pool2d"},
        {"convolution1d", "conv1d"}, {"convolution2d", "conv2d"}, {"convolution1d_transpose", "conv1d_transpose"},
        {"convolution2d_transpose", "conv2d_transpose"}, {"separable_convolution2d", "separable_conv2d"},
        {"separable_convolution1d", "separable_conv1d"}, {"convolution3d", "conv3d"}, {"max_pooling3d", "max_pool3d"},
        {"convolution3d_transpose", "conv3d_transpose"},
        {"average_pooling3d", "average_pool3d"}, {"avg_pool3d", "average_pool3d"},
        {"global_max_pooling3d", "global_max_pool3d"}, {"global_average_pooling3d", "global_average_pool3d"},
        {"global_avg_pool3d", "global_average_pool3d"},
        {"p_re_lu", "prelu"}};
    size_t n = 0;
    for (size_t i = 0; t[i] && n + 2 < size; i++) {
        char c = t[i];
        bool upper = c >= 'A' && c <= 'Z';
        bool prev_lower = i > 0 && t[i - 1] >= 'a' && t[i - 1] <= 'z';
        bool acronym_end = i > 0 && t[i - 1] >= 'A' && t[i - 1] <= 'Z' && t[i + 1] >= 'a' && t[i + 1] <= 'z';
        if (upper && (prev_lower || acronym_end)) buf[n++] = '_';
        buf[n++] = upper ? (char)(c - 'A' + 'a') : c;
    }
    buf[n] = 0;
    const char *name = buf;
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
        if (strcmp(buf, aliases[i][0]) == 0) name = aliases[i][1];
    return layer_keys(name) ? name : t;
}

/* Keras's activation layers as kiln's activation layer: ReLU {max_value (null; 6: relu6),
 * negative_slope (0: relu; above 0: leaky_relu), threshold (0 only)}, LeakyReLU
 * {negative_slope, or Keras 2's alpha; 0.3 by default, as the layer's (the function's is
 * 0.2)}, ELU {alpha (1)}, Softmax {axis (-1 only)}, Identity. */
static kn_status parse_activation_layer(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where, const char *t) {
    char field[96];
    double v[3] = {0, 0, 0}; /* max_value (0: none), negative_slope or alpha, threshold */
    kn_status st = KN_OK;
    if (t[0] == 'i') return kn_model_add_activation(m, KN_LINEAR);
    if (t[0] == 's') {
        const cJSON *ax = cJSON_GetObjectItemCaseSensitive(L, "axis");
        snprintf(field, sizeof field, "%saxis", where);
        int64_t in[KN_MAX_DIMS];
        int last = kn__model_layer_input(m, m->n_layers, in, NULL); /* (Keras counts the batch as axis 0) */
        if (ax && !cJSON_IsNull(ax) && !(cJSON_IsNumber(ax) && (ax->valuedouble == -1 || ax->valuedouble == last)))
            return kn__spec_error(ctx, field, "only the last axis (-1, or %d here) is supported", last);
        return kn_model_add_activation(m, KN_SOFTMAX);
    }
    if (t[0] == 'e') {
        v[1] = 1.0;
        st = kn__spec_number(ctx, L, "alpha", where, 0, 1e6, &v[1]);
        return st ? st : kn_model_add_activation_alpha(m, KN_ELU, (float)v[1]);
    }
    if (t[0] == 'l') {
        const char *key = cJSON_GetObjectItemCaseSensitive(L, "alpha") ? "alpha" : "negative_slope";
        v[1] = 0.3; /* Keras's LeakyReLU layer */
        st = kn__spec_number(ctx, L, key, where, 0, 1e6, &v[1]);
        if (!st && v[1] == 0) return kn_model_add_activation(m, KN_RELU);
        return st ? st : kn_model_add_activation_alpha(m, KN_LEAKY_RELU, (float)v[1]);
    }
    static const char *const keys[3] = {"max_value", "negative_slope", "threshold"};
    for (int k = 0; k < 3 && !st; k++) st = kn__spec_number(ctx, L, keys[k], where, k == 0 ? 1e-30 : 0, 1e30, &v[k]);
    if (st) return st;
    if (v[2] != 0) {
        snprintf(field, sizeof field, "%sthreshold", where);
        return kn__spec_error(ctx, field, "only 0 is supported (kiln's ReLU is relu, relu6 or leaky_relu)");
    }
    if (v[0] != 0 && (v[0] != 6 || v[1] != 0)) {
        snprintf(field, sizeof field, "%smax_value", where);
        return kn__spec_error(ctx, field, "only null or 6 (relu6) is supported, with negative_slope 0");
    }
    if (v[0] == 6) return kn_model_add_activation(m, KN_RELU6);
    return v[1] > 0 ? kn_model_add_activation_alpha(m, KN_LEAKY_RELU, (float)v[1]) : kn_model_add_activation(m, KN_RELU);
}

/* Keras's PReLU (type prelu): alpha_initializer (zeros), shared_axes null (an alpha per
 * element) or every axis but the channels ([1] on sequences, [1, 2] on images: an alpha per
 * channel); alpha_regularizer and alpha_constraint only null. */
static kn_status parse_prelu(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where) {
    char field[96];
    kn_prelu_opts o = {.alpha_init = KN_INIT_ZEROS};
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, "alpha_initializer");
    if (v && !cJSON_IsNull(v)) {
        snprintf(field, sizeof field, "%salpha_initializer", where);
        kn_status st = parse_initializer(ctx, v, field, &o.alpha_init, &o.init_value);
        if (st) return st;
        if (o.alpha_init == KN_INIT_ORTHOGONAL || o.alpha_init == KN_INIT_GLOROT_UNIFORM)
            return kn__spec_error(ctx, field, "%s is not offered for alpha (use zeros, constant, ...)",
                                  kn_init_name(o.alpha_init));
    }
    static const char *const nulls[] = {"alpha_regularizer", "alpha_constraint"};
    for (int k = 0; k < 2; k++) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(L, nulls[k]);
        snprintf(field, sizeof field, "%s%s", where, nulls[k]);
        if (n && !cJSON_IsNull(n)) return kn__spec_error(ctx, field, "only null is supported");
    }
    const cJSON *axes = cJSON_GetObjectItemCaseSensitive(L, "shared_axes");
    if (axes && !cJSON_IsNull(axes)) {
        int64_t in[KN_MAX_DIMS];
        int ndim = kn__model_layer_input(m, m->n_layers, in, NULL), k = 0;
        bool channels = cJSON_IsArray(axes) && cJSON_GetArraySize(axes) == ndim - 1 && ndim > 1;
        const cJSON *a;
        cJSON_ArrayForEach(a, axes) channels = channels && cJSON_IsNumber(a) && a->valuedouble == ++k;
        snprintf(field, sizeof field, "%sshared_axes", where);
        if (!channels)
            return kn__spec_error(ctx, field, "expected null (an alpha per element) or every axis but the channels "
                                  "([1] on sequences, [1, 2] on images: an alpha per channel)");
        o.per_channel = true;
    }
    return kn_model_add_prelu(m, &o);
}

/* Keras's DepthwiseConv2D (type depthwise_conv2d) and SeparableConv2D (separable_conv2d,
 * filters required): kernel_size (required), strides, padding, dilation_rate,
 * depth_multiplier (1), activation, use_bias, depthwise_initializer / _regularizer,
 * (separable) pointwise_initializer / _regularizer, bias_initializer, alpha. */
static kn_status parse_depthwise(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where, const char *t,
                                 bool *activation_given) {
    char field[96];
    bool separable = t[0] == 's', seq = strstr(t, "1d") != NULL; /* (a sequence's: one kernel_size, ...) */
    kn_depthwise_opts o = {0};
    kn_status st = KN_OK;
    if (separable) {
        snprintf(field, sizeof field, "%sfilters", where);
        if (!cJSON_GetObjectItemCaseSensitive(L, "filters"))
            return kn__spec_error(ctx, field, "missing (the number of output channels, e.g. 32)");
        if ((st = kn__spec_int(ctx, L, "filters", where, 1, 1 << 24, &o.filters))) return st;
    }
    if (!cJSON_GetObjectItemCaseSensitive(L, "kernel_size")) {
        snprintf(field, sizeof field, "%skernel_size", where);
        return kn__spec_error(ctx, field, seq ? "missing (e.g. 3)" : "missing (e.g. 3 or [3, 3])");
    }
    int k[2] = {1, 0}, s[2] = {1, 1}, d[2] = {1, 1};
    static const char *const window[3] = {"kernel_size", "strides", "dilation_rate"};
    int *w[3] = {k, s, d};
    for (int j = 0; j < 3; j++)
        if ((st = seq ? parse_single(ctx, L, window[j], where, &w[j][1]) : parse_pair(ctx, L, window[j], where, w[j])))
            return st;
    if ((st = parse_padding(ctx, L, where, &o.same))) return st;
    int64_t dm = 1;
    if ((st = kn__spec_int(ctx, L, "depth_multiplier", where, 1, 4096, &dm))) return st;
    o.kernel_h = k[0], o.kernel_w = k[1], o.stride_h = s[0], o.stride_w = s[1], o.dilation_h = d[0], o.dilation_w = d[1];
    o.depth_multiplier = (int)dm;
    o.depthwise_init = o.pointwise_init = KN_INIT_GLOROT_UNIFORM;
    static const char *const inits[2] = {"depthwise_initializer", "pointwise_initializer"};
    kn_init *init_out[2] = {&o.depthwise_init, &o.pointwise_init};
    float value[2] = {0, 0};
    for (int j = 0; j < (separable ? 2 : 1); j++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, inits[j]);
        if (!v || cJSON_IsNull(v)) continue;
        snprintf(field, sizeof field, "%s%s", where, inits[j]);
        if ((st = parse_initializer(ctx, v, field, init_out[j], &value[j]))) return st;
    }
    if ((st = kn__spec_l2(ctx, L, "depthwise_regularizer", where, &o.l2))) return st;
    if (separable && (st = kn__spec_l2(ctx, L, "pointwise_regularizer", where, &o.pointwise_l2))) return st;
    /* activation, use_bias, bias_initializer and alpha as dense reads them */
    cJSON *copy = cJSON_Duplicate(L, 1);
    if (!copy) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "model description: out of memory");
    static const char *const drop[] = {"depthwise_initializer", "pointwise_initializer", "depthwise_regularizer",
                                       "pointwise_regularizer", "filters"};
    for (size_t j = 0; j < sizeof drop / sizeof *drop; j++) cJSON_DeleteItemFromObjectCaseSensitive(copy, drop[j]);
    cJSON_AddNumberToObject(copy, "units", 1);
    kn_dense_opts dense = {0};
    st = parse_dense(ctx, copy, where, false, NULL, &dense, activation_given);
    cJSON_Delete(copy);
    if (st) return st;
    o.activation = dense.activation;
    o.alpha = dense.alpha;
    o.no_bias = dense.no_bias;
    o.bias_init = dense.bias_init;
    /* one constant a layer, as the other layers hold it */
    bool constant = false;
    float c = 0;
    kn_init kinds[3] = {o.depthwise_init, o.pointwise_init, o.bias_init};
    float values[3] = {value[0], value[1], dense.init_value};
    for (int j = 0; j < 3; j++) {
        if (kinds[j] != KN_INIT_CONSTANT) continue;
        if (constant && values[j] != c) {
            snprintf(field, sizeof field, "%s%s", where, j < 2 ? inits[j] : "bias_initializer");
            return kn__spec_error(ctx, field, "Constant(%g) differs from another initializer's Constant(%g) (a layer "
                                  "holds one constant)", (double)values[j], (double)c);
        }
        constant = true;
        c = values[j];
    }
    o.init_value = c;
    if (seq) return separable ? kn_model_add_separable_conv1d(m, &o) : kn_model_add_depthwise_conv1d(m, &o);
    return separable ? kn_model_add_separable_conv2d(m, &o) : kn_model_add_depthwise_conv2d(m, &o);
}

/* Adds layer L (JSON layers[i], any type but dense) to m. */
static kn_status add_other_layer(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *t, const char *where,
                                 bool *activation_given) {
    char field[96];
    kn_status st;
    *activation_given = true;
    if (strcmp(t, "conv2d") == 0) {
        kn_conv2d_opts c = {0};
        if ((st = parse_conv2d(ctx, L, where, &c, activation_given))) return st;
        return kn_model_add_conv2d(m, &c);
    }
    if (strcmp(t, "max_pool2d") == 0 || strcmp(t, "average_pool2d") == 0) {
        int p[2] = {2, 2}, s[2] = {0, 0};
        bool same;
        if ((st = parse_pair(ctx, L, "pool_size", where, p))) return st;
        if ((st = parse_pair(ctx, L, "strides", where, s))) return st; /* null or missing: the pool size */
        if ((st = parse_padding(ctx, L, where, &same))) return st;
        return kn_model_add_pool2d(m, t[0] == 'm' ? KN_POOL_MAX : KN_POOL_AVG, p[0], p[1], s[0], s[1], same);
    }
    if (strcmp(t, "global_average_pool2d") == 0) return kn_model_add_global_pool2d(m, KN_POOL_AVG);
    if (strcmp(t, "global_max_pool2d") == 0) return kn_model_add_global_pool2d(m, KN_POOL_MAX);
    if (strcmp(t, "conv1d") == 0) {
        kn_conv1d_opts c = {0};
        if ((st = parse_conv1d(ctx, L, where, &c, activation_given))) return st;
        return kn_model_add_conv1d(m, &c);
    }
    if (strcmp(t, "max_pool1d") == 0 || strcmp(t, "average_pool1d") == 0) {
        int p = 2, s = 0; /* Keras's pool_size 2; strides null or missing: the pool size */
        kn_padding padding;
        if ((st = parse_single(ctx, L, "pool_size", where, &p))) return st;
        if ((st = parse_single(ctx, L, "strides", where, &s))) return st;
        if ((st = parse_padding1d(ctx, L, where, false, &padding))) return st;
        return kn_model_add_pool1d(m, t[0] == 'm' ? KN_POOL_MAX : KN_POOL_AVG, p, s, padding == KN_PADDING_SAME);
    }
    if (strcmp(t, "global_average_pool1d") == 0) return kn_model_add_global_pool1d(m, KN_POOL_AVG);
    if (strcmp(t, "global_max_pool1d") == 0) return kn_model_add_global_pool1d(m, KN_POOL_MAX);
    static const char *const cells[] = {"simple_rnn", "lstm", "gru"};
    for (int k = 0; k < KN_RNN_CELL_COUNT; k++) {
        if (strcmp(t, cells[k]) != 0) continue;
        kn_rnn_opts o;
        if ((st = parse_rnn(ctx, L, where, (kn_rnn_cell)k, &o))) return st;
        return kn_model_add_rnn(m, &o);
    }
    if (strcmp(t, "bidirectional") == 0) { /* Keras's Bidirectional(layer, merge_mode) */
        const cJSON *inner = cJSON_GetObjectItemCaseSensitive(L, "layer"), *lt = cJSON_GetObjectItemCaseSensitive(inner, "type");
        char sub[96];
        snprintf(field, sizeof field, "%slayer", where);
        snprintf(sub, sizeof sub, "%slayer.", where);
        if (!cJSON_IsObject(inner))
            return kn__spec_error(ctx, field, "missing (the recurrent layer to run both ways, e.g. {\"type\": \"lstm\", "
                                  "\"units\": 32})");
        int cell = -1;
        char alias[64];
        for (int k = 0; k < KN_RNN_CELL_COUNT; k++)
            if (cJSON_IsString(lt) && strcmp(layer_alias(lt->valuestring, alias, sizeof alias), cells[k]) == 0) cell = k;
        snprintf(field, sizeof field, "%slayer.type", where);
        if (cell < 0) return kn__spec_error(ctx, field, "expected \"simple_rnn\", \"lstm\" or \"gru\"");
        static const char *const rnn_keys[] = {"type", "units", "activation", "recurrent_activation", "use_bias",
                                               "kernel_initializer", "recurrent_initializer", "bias_initializer",
                                               "unit_forget_bias", "kernel_regularizer", "return_sequences",
                                               "reset_after", "go_backwards", "return_state", "stateful", "unroll",
                                               "dropout", "recurrent_dropout", NULL};
        kn_rnn_opts o;
        if ((st = kn__spec_check_keys(ctx, inner, sub, rnn_keys))) return st;
        if ((st = parse_rnn(ctx, inner, sub, (kn_rnn_cell)cell, &o))) return st;
        static const char *const merges[] = {"concat", "sum", "mul", "ave"};
        const cJSON *mm = cJSON_GetObjectItemCaseSensitive(L, "merge_mode");
        o.bidirectional = KN_BIDI_CONCAT; /* Keras's default */
        if (mm && !cJSON_IsNull(mm)) {
            snprintf(field, sizeof field, "%smerge_mode", where);
            o.bidirectional = KN_BIDI_NONE;
            for (int k = 0; k < 4; k++)
                if (cJSON_IsString(mm) && strcmp(mm->valuestring, merges[k]) == 0) o.bidirectional = (kn_bidi_merge)(k + 1);
            if (!o.bidirectional) return kn__spec_error(ctx, field, "expected \"concat\", \"sum\", \"mul\" or \"ave\"");
        }
        return kn_model_add_rnn(m, &o);
    }
    if (strcmp(t, "time_distributed") == 0) { /* Keras's TimeDistributed(layer): a dense layer at every step */
        const cJSON *inner = cJSON_GetObjectItemCaseSensitive(L, "layer");
        char sub[64];
        snprintf(sub, sizeof sub, "%slayer.", where);
        snprintf(field, sizeof field, "%slayer", where);
        if (!cJSON_IsObject(inner))
            return kn__spec_error(ctx, field, "missing (the layer to apply at every step, e.g. {\"type\": \"dense\", "
                                  "\"units\": 32})");
        const cJSON *lt = cJSON_GetObjectItemCaseSensitive(inner, "type");
        snprintf(field, sizeof field, "%slayer.type", where);
        char alias[64];
        if (!cJSON_IsString(lt) || strcmp(layer_alias(lt->valuestring, alias, sizeof alias), "dense") != 0)
            return kn__spec_error(ctx, field, "expected \"dense\" (the only layer kiln applies per step; conv1d "
                                  "with kernel_size 1 is the same product)");
        static const char *const dense_keys[] = {"type", "units", "activation", "use_bias", "kernel_initializer",
                                                 "bias_initializer", "kernel_regularizer", "alpha", NULL};
        kn_dense_opts d = {0};
        bool given = false;
        st = kn__spec_check_keys(ctx, inner, sub, dense_keys);
        if (!st) st = parse_dense(ctx, inner, sub, false, NULL, &d, &given);
        return st ? st : kn_model_add_time_distributed(m, &d);
    }
    if (strcmp(t, "flatten") == 0) return kn_model_add_flatten(m);
    if (strcmp(t, "reshape") == 0) {
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(L, "target_shape"), *d;
        snprintf(field, sizeof field, "%starget_shape", where);
        int n = cJSON_IsArray(ts) ? cJSON_GetArraySize(ts) : 0;
        if (n < 1 || n > KN_MAX_DIMS) /* (4: a volume's (depth, height, width, channels)) */
            return kn__spec_error(ctx, field, "expected a list of 1 to %d positive sizes, e.g. [28, 28, 1]", KN_MAX_DIMS);
        int64_t shape[KN_MAX_DIMS];
        int k = 0;
        int unknown = 0; /* Keras's -1: the one size the others leave */
        cJSON_ArrayForEach(d, ts) {
            bool inferred = cJSON_IsNumber(d) && d->valuedouble == -1;
            unknown += inferred;
            if (!inferred && (!cJSON_IsNumber(d) || d->valuedouble < 1 || d->valuedouble > (1 << 30) ||
                              d->valuedouble != floor(d->valuedouble)))
                return kn__spec_error(ctx, field, "sizes must be positive whole numbers, one of them -1 at most (the "
                                                  "size the others leave)");
            shape[k++] = (int64_t)d->valuedouble;
        }
        if (unknown > 1) return kn__spec_error(ctx, field, "only one size may be -1");
        return kn_model_add_reshape(m, shape, n);
    }
    if (strcmp(t, "repeat_vector") == 0) { /* Keras's RepeatVector(n) */
        const cJSON *nv = cJSON_GetObjectItemCaseSensitive(L, "n");
        snprintf(field, sizeof field, "%sn", where);
        if (!cJSON_IsNumber(nv) || nv->valuedouble < 1 || nv->valuedouble > 65536 || nv->valuedouble != floor(nv->valuedouble))
            return kn__spec_error(ctx, field, "expected a whole number of repeats in [1, 65536]");
        return kn_model_add_repeat_vector(m, (int)nv->valuedouble);
    }
    if (strcmp(t, "permute") == 0) { /* Keras's Permute(dims), 1-based */
        const cJSON *ds = cJSON_GetObjectItemCaseSensitive(L, "dims"), *d;
        snprintf(field, sizeof field, "%sdims", where);
        int n = cJSON_IsArray(ds) ? cJSON_GetArraySize(ds) : 0, dims[KN_MAX_DIMS], k = 0;
        if (n < 1 || n > KN_MAX_DIMS - 1)
            return kn__spec_error(ctx, field, "expected a list of 1 to %d axes, 1-based as Keras's, e.g. [2, 1]",
                                  KN_MAX_DIMS - 1);
        cJSON_ArrayForEach(d, ds) {
            if (!cJSON_IsNumber(d) || d->valuedouble < 1 || d->valuedouble > KN_MAX_DIMS - 1 ||
                d->valuedouble != floor(d->valuedouble))
                return kn__spec_error(ctx, field, "axes must be whole numbers from 1 (the batch is not one)");
            dims[k++] = (int)d->valuedouble;
        }
        return kn_model_add_permute(m, dims, n);
    }
    if (strcmp(t, "activation") == 0) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(L, "activation");
        kn_activation act;
        snprintf(field, sizeof field, "%sactivation", where);
        if (!cJSON_IsString(a)) return kn__spec_error(ctx, field, "expected a name such as \"relu\"");
        if (!kn_activation_parse(a->valuestring, &act)) return unknown_activation(ctx, field, a->valuestring);
        double alpha = 0;
        kn_status ast = kn__spec_number(ctx, L, "alpha", where, 0, 1e6, &alpha);
        return ast ? ast : kn_model_add_activation_alpha(m, act, (float)alpha);
    }
    if (strcmp(t, "dot") == 0) { /* Keras's Dot(axes=-1, normalize=False) of two feature vectors */
        const cJSON *ax = cJSON_GetObjectItemCaseSensitive(L, "axes");
        bool axes_ok = !ax || cJSON_IsNull(ax) || (cJSON_IsNumber(ax) && (ax->valuedouble == -1 || ax->valuedouble == 1));
        if (cJSON_IsArray(ax) && cJSON_GetArraySize(ax) == 2) { /* [a, b]: both the features' axis */
            axes_ok = true;
            for (int k = 0; k < 2; k++) {
                const cJSON *a = cJSON_GetArrayItem(ax, k);
                axes_ok = axes_ok && cJSON_IsNumber(a) && (a->valuedouble == -1 || a->valuedouble == 1);
            }
        }
        if (!axes_ok) {
            snprintf(field, sizeof field, "%saxes", where);
            return kn__spec_error(ctx, field, "only the features' axis (-1 or 1) of (batch, features) inputs");
        }
        bool normalize = false;
        kn_status dst = kn__spec_bool(ctx, L, "normalize", where, &normalize);
        return dst ? dst : kn_model_add_dot(m, normalize);
    }
    if (strcmp(t, "unit_normalization") == 0) { /* Keras's UnitNormalization(axis=-1) */
        const cJSON *ax = cJSON_GetObjectItemCaseSensitive(L, "axis");
        int64_t in[KN_MAX_DIMS];
        int last = kn__model_layer_input(m, m->n_layers, in, NULL);
        if (ax && !cJSON_IsNull(ax) && !(cJSON_IsNumber(ax) && (ax->valuedouble == -1 || ax->valuedouble == last))) {
            snprintf(field, sizeof field, "%saxis", where);
            return kn__spec_error(ctx, field, "only the last axis (-1, or %d here) is supported", last);
        }
        return kn_model_add_unit_norm(m);
    }
    if (strcmp(t, "masking") == 0) { /* Keras's Masking(mask_value=0.0) */
        double v = 0;
        kn_status mst = kn__spec_number(ctx, L, "mask_value", where, -1e30, 1e30, &v);
        return mst ? mst : kn_model_add_masking(m, (float)v);
    }
    if (strcmp(t, "re_lu") == 0 || strcmp(t, "leaky_re_lu") == 0 || strcmp(t, "elu") == 0 || strcmp(t, "softmax") == 0 ||
        strcmp(t, "identity") == 0)
        return parse_activation_layer(ctx, m, L, where, t);
    int noise = strcmp(t, "gaussian_noise") == 0 ? 1 : strcmp(t, "gaussian_dropout") == 0 ? 2
              : strcmp(t, "alpha_dropout") == 0 ? 3 : 0;
    if (noise) { /* Keras's GaussianNoise(stddev), GaussianDropout(rate), AlphaDropout(rate) */
        const char *key = noise == 1 ? "stddev" : "rate";
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(L, key);
        snprintf(field, sizeof field, "%s%s", where, key);
        if (!r) return kn__spec_error(ctx, field, noise == 1 ? "missing (the noise's standard deviation, e.g. 0.1)"
                                                             : "missing (in [0, 1), e.g. 0.1)");
        bool ok = cJSON_IsNumber(r) && (noise == 1 ? r->valuedouble >= 0 && isfinite(r->valuedouble)
                                                   : r->valuedouble >= 0 && r->valuedouble < 1);
        if (!ok) return kn__spec_error(ctx, field, noise == 1 ? "expected a number >= 0" : "expected a number in [0, 1)");
        float v = (float)r->valuedouble;
        return noise == 1 ? kn_model_add_gaussian_noise(m, v)
             : noise == 2 ? kn_model_add_gaussian_dropout(m, v) : kn_model_add_alpha_dropout(m, v);
    }
    int spatial = strcmp(t, "spatial_dropout1d") == 0 ? 2 : strcmp(t, "spatial_dropout2d") == 0 ? 3
                : strcmp(t, "spatial_dropout3d") == 0 ? 4 : 0; /* the input's dimensions */
    if (strcmp(t, "dropout") == 0 || spatial) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(L, "rate");
        snprintf(field, sizeof field, "%srate", where);
        if (!r) return kn__spec_error(ctx, field, "missing (the fraction of inputs to drop, in [0, 1), e.g. 0.5)");
        if (!cJSON_IsNumber(r) || !(r->valuedouble >= 0 && r->valuedouble < 1))
            return kn__spec_error(ctx, field, "expected a number in [0, 1), e.g. 0.5");
        if (!spatial) return kn_model_add_dropout(m, (float)r->valuedouble);
        int64_t in[KN_MAX_DIMS];
        int ndim = kn__model_layer_input(m, m->n_layers, in, NULL);
        if (ndim != spatial) {
            static const char *const wants[] = {"", "", "(steps, channels)", "(height, width, channels)",
                                                "(depth, height, width, channels)"};
            snprintf(field, sizeof field, "%stype", where);
            return kn__spec_error(ctx, field, "%s needs a %s input, got %d dimension%s", t, wants[spatial], ndim,
                                  ndim == 1 ? "" : "s");
        }
        return kn_model_add_spatial_dropout(m, (float)r->valuedouble);
    }
    if (strcmp(t, "batch_normalization") == 0 || strcmp(t, "layer_normalization") == 0 ||
        strcmp(t, "group_normalization") == 0) {
        bool batch = t[0] == 'b';
        double v[2] = {0.99, 1e-3}; /* Keras's defaults */
        static const char *const keys[2] = {"momentum", "epsilon"};
        for (int k = !batch; k < 2; k++) { /* (layer normalization has no momentum) */
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(L, keys[k]);
            snprintf(field, sizeof field, "%s%s", where, keys[k]);
            if (!r || cJSON_IsNull(r)) continue;
            if (!cJSON_IsNumber(r) || !(k ? r->valuedouble > 0 && r->valuedouble < 1e30
                                          : r->valuedouble >= 0 && r->valuedouble <= 1))
                return kn__spec_error(ctx, field, k ? "expected a positive number, e.g. 0.001"
                                                    : "expected a number in [0, 1], e.g. 0.99");
            v[k] = r->valuedouble;
        }
        const cJSON *ax = cJSON_GetObjectItemCaseSensitive(L, "axis");
        if (ax && !(cJSON_IsNumber(ax) && ax->valuedouble == -1)) {
            snprintf(field, sizeof field, "%saxis", where);
            return kn__spec_error(ctx, field, "only -1 (the last axis, channels) is supported");
        }
        if (batch) return kn_model_add_batch_norm(m, (float)v[0], (float)v[1]);
        bool on[2] = {true, true}; /* Keras's center and scale */
        static const char *const flags[2] = {"center", "scale"};
        for (int k = 0; k < 2; k++) {
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(L, flags[k]);
            snprintf(field, sizeof field, "%s%s", where, flags[k]);
            if (!r || cJSON_IsNull(r)) continue;
            if (!cJSON_IsBool(r)) return kn__spec_error(ctx, field, "expected true or false");
            on[k] = cJSON_IsTrue(r);
        }
        if (t[0] == 'l') return kn_model_add_layer_norm(m, (float)v[1], on[0], on[1]);
        int groups = 32; /* Keras's default; -1: one a channel */
        const cJSON *gr = cJSON_GetObjectItemCaseSensitive(L, "groups");
        snprintf(field, sizeof field, "%sgroups", where);
        if (gr && !cJSON_IsNull(gr)) {
            double gv = cJSON_IsNumber(gr) ? gr->valuedouble : 0; /* (the range first: only then a cast) */
            if (!(gv >= 1 || gv == -1) || gv > 1e9 || gv != (int)gv)
                return kn__spec_error(ctx, field, "expected a positive integer dividing the channels, or -1 (one a "
                                                  "channel), e.g. 32");
            groups = (int)gv;
        }
        int64_t in[KN_MAX_DIMS];
        int64_t c = in[kn__model_layer_input(m, m->n_layers, in, NULL) - 1];
        if (groups != -1 && c % groups != 0)
            return kn__spec_error(ctx, field, "%d groups do not divide the input's %lld channels (groups must divide "
                                              "them, or be -1: one a channel)", groups, (long long)c);
        return kn_model_add_group_norm(m, groups, (float)v[1], on[0], on[1]);
    }
    if (strcmp(t, "embedding") == 0) return kn__spec_embedding(ctx, m, L, where);
    if (strcmp(t, "multi_head_attention") == 0) return kn__spec_attention(ctx, m, L, where);
    if (strcmp(t, "attention") == 0) return kn__spec_dot_attention(ctx, m, L, where);
    if (strcmp(t, "position_embedding") == 0) return kn__spec_position_embedding(ctx, m, L, where);
    if (strcmp(t, "prelu") == 0) return parse_prelu(ctx, m, L, where);
    if (strcmp(t, "depthwise_conv2d") == 0 || strcmp(t, "separable_conv2d") == 0 || strcmp(t, "depthwise_conv1d") == 0 ||
        strcmp(t, "separable_conv1d") == 0)
        return parse_depthwise(ctx, m, L, where, t, activation_given);
    if (kn__spec_is_resize(t)) return kn__spec_resize(ctx, m, L, where, t);
    if (kn__spec_is_volume(t)) return kn__spec_volume(ctx, m, L, where, t, activation_given);
    if (kn__spec_is_random_image(t)) return kn__spec_random_image(ctx, m, L, where, t);
    if (strcmp(t, "conv2d_transpose") == 0 || strcmp(t, "conv1d_transpose") == 0)
        return parse_conv_transpose(ctx, m, L, where, t[4] == '1', activation_given);
    if (strcmp(t, "rescaling") == 0) { /* Keras's Rescaling: scale (required), offset (0) */
        double scale = 1, offset = 0;
        snprintf(field, sizeof field, "%sscale", where);
        if (!cJSON_GetObjectItemCaseSensitive(L, "scale"))
            return kn__spec_error(ctx, field, "missing (e.g. 0.00392156862745098 for 1 / 255)");
        if ((st = kn__spec_number(ctx, L, "scale", where, -1e30, 1e30, &scale))) return st;
        if ((st = kn__spec_number(ctx, L, "offset", where, -1e30, 1e30, &offset))) return st;
        return kn_model_add_rescaling(m, (float)scale, (float)offset);
    }
    static const char *const merges[] = {"add", "subtract", "multiply", "average", "maximum", "concatenate", "minimum"};
    for (int k = 0; k < KN_MERGE_COUNT; k++) {
        if (strcmp(t, merges[k]) != 0) continue;
        const cJSON *ax = cJSON_GetObjectItemCaseSensitive(L, "axis");
        int last = m->n_next ? (m->next_inputs[0] >= 0 ? m->layers[m->next_inputs[0]].ndim : m->input_ndim) : 0;
        if (ax && !(cJSON_IsNumber(ax) && (ax->valuedouble == -1 || ax->valuedouble == last))) {
            snprintf(field, sizeof field, "%saxis", where);
            return kn__spec_error(ctx, field, "only -1 (the last axis, channels) is supported");
        }
        return kn_model_add_merge(m, (kn_merge)k);
    }
    snprintf(field, sizeof field, "%stype", where);
    return kn__spec_unknown_layer(ctx, field, t);
}

/* "metrics": Keras's names of what kiln reports anyway (training reports the loss and, for
 * classes, accuracy; evaluation adds precision, recall, F1, the confusion matrix, ROC-AUC
 * for two classes, and MSE, RMSE, MAE, R² for regression), so the list selects nothing; a
 * name kiln does not compute is an error rather than a metric silently missing. */
static kn_status check_metrics(kn_ctx *ctx, const cJSON *metrics) {
    static const char *const known[] = {"accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy",
                                        "binary_accuracy", "precision", "recall", "f1_score", "auc", "mse", "mae",
                                        "mean_squared_error", "mean_absolute_error", "rmse", "root_mean_squared_error",
                                        "r2_score", "loss", NULL};
    int i = 0;
    for (const cJSON *m = metrics->child; m; m = m->next, i++) {
        char field[32];
        snprintf(field, sizeof field, "metrics[%d]", i);
        const char *const *k = known;
        while (*k && !(cJSON_IsString(m) && strcmp(*k, m->valuestring) == 0)) k++;
        if (*k) continue;
        char names[400];
        kn__join_names(known, -1, names, sizeof names);
        return kn__spec_error(ctx, field, "'%.40s' is not a metric kiln reports (it reports, whatever the list: %s)",
                              cJSON_IsString(m) ? m->valuestring : "(not a name)", names);
    }
    return KN_OK;
}

/* layers[i]'s "name" and "inputs" (a name or a list of names of earlier layers, "input" the
 * model's input) for the model's next layer. A name that only a later layer has is refused
 * as such: the list is in graph order, each layer taking earlier ones. */
static kn_status parse_connections(kn_ctx *ctx, kn_model *m, const cJSON *layers, const cJSON *L, int i) {
    char field[48];
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(L, "name"), *inputs = cJSON_GetObjectItemCaseSensitive(L, "inputs");
    if (cJSON_IsNull(name)) name = NULL;
    if (cJSON_IsNull(inputs)) inputs = NULL;
    if (!name && !inputs) return KN_OK;
    snprintf(field, sizeof field, "layers[%d].name", i);
    if (name && !cJSON_IsString(name)) return kn__spec_error(ctx, field, "expected a string such as \"block1_add\"");
    snprintf(field, sizeof field, "layers[%d].inputs", i);
    const char *names[KN__MAX_INPUTS];
    int n = 0;
    if (inputs) {
        bool list = cJSON_IsArray(inputs);
        int count = list ? cJSON_GetArraySize(inputs) : 1;
        if ((!list && !cJSON_IsString(inputs)) || count < 1)
            return kn__spec_error(ctx, field, "expected a layer name or a list of names, e.g. [\"conv2d_0\", \"input\"]");
        if (count > KN__MAX_INPUTS) return kn__spec_error(ctx, field, "%d inputs (%d at most)", count, KN__MAX_INPUTS);
        const cJSON *it = list ? inputs->child : inputs;
        for (; it && n < count; it = list ? it->next : NULL) {
            if (!cJSON_IsString(it))
                return kn__spec_error(ctx, field, "expected a layer name or a list of names, e.g. [\"conv2d_0\", \"input\"]");
            const char *s = it->valuestring;
            if (name && strcmp(s, name->valuestring) == 0)
                return kn__spec_error(ctx, field, "'%.60s' is this layer (a layer takes earlier layers' outputs)", s);
            int j = 0;
            for (const cJSON *o = layers->child; o; o = o->next, j++) {
                const cJSON *on = cJSON_GetObjectItemCaseSensitive(o, "name");
                if (j > i && cJSON_IsString(on) && strcmp(on->valuestring, s) == 0)
                    return kn__spec_error(ctx, field, "'%.60s' is layers[%d], a later layer (a layer takes earlier "
                                          "layers' outputs; list the layers in the order they compute)", s, j);
            }
            names[n++] = s;
        }
    }
    return kn_model_next_layer(m, name ? name->valuestring : NULL, names, n);
}

/* The focal losses' settings (kn_compile_opts.focal_gamma, focal_alpha,
 * apply_class_balancing; Keras's gamma, alpha and apply_class_balancing). Their 0 means
 * Keras's default in kn_compile_opts, so a description's 0 is refused rather than read so. */
static kn_status parse_focal(kn_ctx *ctx, const cJSON *root, kn_compile_opts *c) {
    double gamma = 0, alpha = 0;
    kn_status st = kn__spec_number(ctx, root, "focal_gamma", "", 0, 1000, &gamma);
    if (!st) st = kn__spec_number(ctx, root, "focal_alpha", "", 0, 1, &alpha);
    if (st) return st;
    if (cJSON_GetObjectItemCaseSensitive(root, "focal_gamma") && gamma == 0)
        return kn__spec_error(ctx, "focal_gamma", "focal_gamma 0 is the plain cross-entropy: use binary_crossentropy or "
                              "categorical_crossentropy");
    if (cJSON_GetObjectItemCaseSensitive(root, "focal_alpha") && alpha == 0)
        return kn__spec_error(ctx, "focal_alpha", "focal_alpha 0 weighs every term 0 (expected a number in (0, 1])");
    const cJSON *bal = cJSON_GetObjectItemCaseSensitive(root, "apply_class_balancing");
    if (bal && !cJSON_IsBool(bal)) return kn__spec_error(ctx, "apply_class_balancing", "must be true or false");
    c->focal_gamma = (float)gamma;
    c->focal_alpha = (float)alpha;
    c->apply_class_balancing = cJSON_IsTrue(bal);
    return KN_OK;
}

kn_status kn_model_from_json(kn_ctx *ctx, const char *json, const kn_dataset *data, kn_model **out, kn_spec *spec) {
    if (!ctx || !json || !out || !spec) return KN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (data && kn_dataset_is_raw(data))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                         "model description: the data is a raw CSV table: build the model from the preprocessed data");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root) {
        int line, col;
        const char *at = cJSON_GetErrorPtr();
        line_col(json, at ? at : json, &line, &col);
        return kn__error(ctx, KN_ERR_SPEC, "model description: line %d, column %d: malformed JSON", line, col);
    }
    kn_status st = KN_OK;
    kn_model *m = NULL;
    *spec = (kn_spec){.epochs = 1, .batch_size = 32};
    spec->compile.optimizer = kn_optimizer_default(KN_OPT_ADAM);
    if (!cJSON_IsObject(root)) { st = kn__spec_error(ctx, "(top level)", "expected an object"); goto done; }

    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "sequential") != 0)) {
        const char *t = cJSON_IsString(type) ? type->valuestring : "(not a string)";
        if (kn__classic_find(t)) { /* a classical model: its hyperparameters are the description */
            st = kn__classic_new(ctx, root, data, &m);
            goto done;
        }
        st = kn__spec_error(ctx, "type", "unknown model type '%s' (expected sequential, %s)", t, kn__classic_names());
        goto done;
    }

    static const char *const root_keys[] = {"type", "name", "input_shape", "layers", "loss", "from_logits", "label_smoothing",
                                            "focal_gamma", "focal_alpha", "apply_class_balancing", "huber_delta", "optimizer",
                                            "epochs", "batch_size", "metrics", "precision", "loss_scale", "augment",
                                            "class_weight", "schedule", "callbacks", NULL};
    if ((st = kn__spec_check_keys(ctx, root, "(top level)", root_keys))) goto done;

    /* input_shape, or the data's sample shape */
    int64_t shape[KN_MAX_DIMS];
    int ndim = 0;
    const cJSON *is = cJSON_GetObjectItemCaseSensitive(root, "input_shape");
    if (is) {
        if (!cJSON_IsArray(is) || cJSON_GetArraySize(is) < 1 || cJSON_GetArraySize(is) > KN_MAX_DIMS) {
            st = kn__spec_error(ctx, "input_shape", "expected a list of 1 to %d positive sizes, e.g. [784]", KN_MAX_DIMS);
            goto done;
        }
        const cJSON *d;
        cJSON_ArrayForEach(d, is) {
            if (!cJSON_IsNumber(d) || d->valuedouble < 1 || d->valuedouble > (1 << 30) ||
                d->valuedouble != floor(d->valuedouble)) {
                st = kn__spec_error(ctx, "input_shape", "sizes must be positive whole numbers");
                goto done;
            }
            shape[ndim++] = (int64_t)d->valuedouble;
        }
    } else if (data) {
        ndim = kn_dataset_sample_shape(data, shape);
    } else {
        st = kn__spec_error(ctx, "input_shape", "missing (and no data to take it from)");
        goto done;
    }
    if ((st = kn_model_new_sequential(ctx, shape, ndim, &m))) goto done;

    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) == 0) {
        st = kn__spec_error(ctx, "layers", "expected a non-empty list of layers");
        goto done;
    }
    int n_layers = cJSON_GetArraySize(layers), i = 0, n_dense = 0;
    bool last_activation_given = false;
    const cJSON *L;
    cJSON_ArrayForEach(L, layers) {
        char where[32];
        snprintf(where, sizeof where, "layers[%d].", i);
        const cJSON *lt = cJSON_GetObjectItemCaseSensitive(L, "type");
        if (!cJSON_IsObject(L) || !cJSON_IsString(lt)) {
            char f[40];
            snprintf(f, sizeof f, "layers[%d].type", i);
            st = kn__spec_error(ctx, f, "each layer needs a type, e.g. {\"type\": \"dense\", \"units\": 64}");
            goto done;
        }
        char alias[64];
        const char *t = layer_alias(lt->valuestring, alias, sizeof alias);
        const char *const *keys = layer_keys(t);
        if (keys && (st = kn__spec_check_keys(ctx, L, where, keys))) goto done;
        if ((st = parse_connections(ctx, m, layers, L, i))) goto done;
        if (strcmp(t, "dense") == 0) {
            kn_dense_opts d = {0};
            if ((st = parse_dense(ctx, L, where, i == n_layers - 1, data, &d, &last_activation_given))) goto done;
            if ((st = kn_model_add_dense_ex(m, &d))) goto done;
            n_dense++;
        } else {
            if ((st = add_other_layer(ctx, m, L, t, where, &last_activation_given))) goto done;
            n_dense += strcmp(t, "conv2d") == 0 || strcmp(t, "conv1d") == 0 || strcmp(t, "simple_rnn") == 0 ||
                       strcmp(t, "lstm") == 0 || strcmp(t, "gru") == 0 || strcmp(t, "bidirectional") == 0 ||
                       strcmp(t, "time_distributed") == 0 || strcmp(t, "depthwise_conv2d") == 0 ||
                       strcmp(t, "separable_conv2d") == 0 || strcmp(t, "conv2d_transpose") == 0 ||
                       strcmp(t, "depthwise_conv1d") == 0 || strcmp(t, "separable_conv1d") == 0 ||
                       strcmp(t, "conv1d_transpose") == 0;
        }
        i++;
    }
    if (n_dense == 0) { st = kn__spec_error(ctx, "layers", "the model needs at least one dense, conv2d, conv1d or recurrent layer"); goto done; }
    if ((st = kn__model_check_used(m, KN_ERR_SPEC))) goto done;

    bool classification = !data || kn_dataset_classes(data) > 0;
    /* loss, or from the data: sparse categorical cross-entropy or mean squared error */
    const cJSON *loss = cJSON_GetObjectItemCaseSensitive(root, "loss");
    if (loss) {
        if (!cJSON_IsString(loss) || !kn_loss_parse(loss->valuestring, &spec->compile.loss)) {
            char names[512];
            kn__loss_list(names, sizeof names);
            st = kn__spec_error(ctx, "loss", "unknown loss '%.60s' (expected one of %s)",
                                cJSON_IsString(loss) ? loss->valuestring : "?", names);
            goto done;
        }
    } else {
        spec->compile.loss = classification ? KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY : KN_LOSS_MSE;
    }
    if (!last_activation_given) { /* the last layer's activation follows the loss */
        kn_loss l = spec->compile.loss;
        kn_activation head = l == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY || l == KN_LOSS_CATEGORICAL_CROSSENTROPY ||
                                     l == KN_LOSS_KL_DIVERGENCE || l == KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY
                                 ? KN_SOFTMAX
                             : l == KN_LOSS_BINARY_CROSSENTROPY || l == KN_LOSS_BINARY_FOCAL_CROSSENTROPY ? KN_SIGMOID
                             : l == KN_LOSS_POISSON             ? KN_EXPONENTIAL /* a rate: the log link */
                                                                : KN_LINEAR;
        kn__model_set_last_activation(m, head);
    }
    const cJSON *from_logits = cJSON_GetObjectItemCaseSensitive(root, "from_logits");
    spec->compile.from_logits = cJSON_IsTrue(from_logits);
    double smoothing = 0;
    if ((st = kn__spec_number(ctx, root, "label_smoothing", "", 0, 1, &smoothing))) goto done;
    spec->compile.label_smoothing = (float)smoothing;
    if ((st = parse_focal(ctx, root, &spec->compile))) goto done;
    double delta = 0; /* huber's (Keras's Huber(delta)); 0 in kn_compile_opts means 1 */
    if ((st = kn__spec_number(ctx, root, "huber_delta", "", 1e-6, 1e6, &delta))) goto done;
    spec->compile.huber_delta = (float)delta;
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(root, "optimizer");
    if (opt && (st = parse_optimizer(ctx, opt, &spec->compile.optimizer))) goto done;
    int64_t epochs = spec->epochs;
    if ((st = kn__spec_int(ctx, root, "epochs", "", 1, 1e6, &epochs))) goto done;
    spec->epochs = (int)epochs;
    if ((st = kn__spec_int(ctx, root, "batch_size", "", 1, 1 << 24, &spec->batch_size))) goto done;
    if ((st = kn__spec_training(ctx, root, spec))) goto done;
    const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(root, "metrics");
    if (metrics && !cJSON_IsArray(metrics)) { st = kn__spec_error(ctx, "metrics", "expected a list such as [\"accuracy\"]"); goto done; }
    if (metrics && (st = check_metrics(ctx, metrics))) goto done;

done:
    cJSON_Delete(root);
    if (st) kn_model_free(m);
    else *out = m;
    return st;
}
