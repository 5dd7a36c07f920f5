/* spec_training.c — the training control a JSON description may carry, in Keras's words:
 *   "schedule": {"type": "cosine", "warmup_steps": 500, "decay_steps": 0, "alpha": 0.01}
 *   "callbacks": [{"type": "early_stopping", "monitor": "val_loss", "patience": 3,
 *                  "min_delta": 0, "mode": "auto", "restore_best_weights": true},
 *                 {"type": "reduce_lr_on_plateau", "factor": 0.5, "patience": 2, "min_lr": 1e-5},
 *                 {"type": "model_checkpoint", "monitor": "val_loss"}]
 *   "class_weight": "balanced" (or [1, 5]: a weight by class)
 *   "precision": "fp16" (fp32, bf16 or fp16), and for fp16 "loss_scale": {"initial_scale":
 *                65536, "dynamic_growth_steps": 2000} (Keras's LossScaleOptimizer's names)
 *   "augment": {"shift": 2, "flip": 0.5, "rotate": 10, "noise": 0.05, "erase": 0.1,
 *               "shift_p": 1, "rotate_p": 1, "noise_p": 1}
 * Unknown keys are errors that name them, so a typo does not silently change training. */
#include "spec.h"
#include "data/augment.h"
#include "train/loader.h"
#include "train/loss_scale.h"

#include <math.h>

#include <stdio.h>
#include <string.h>

static kn_status get_bool(kn_ctx *ctx, const cJSON *obj, const char *key, const char *where, bool *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return KN_OK;
    if (!cJSON_IsBool(v)) {
        char field[160];
        snprintf(field, sizeof field, "%s%s", where, key);
        return kn__spec_error(ctx, field, "expected true or false");
    }
    *out = cJSON_IsTrue(v);
    return KN_OK;
}

/* "monitor" as one of the four metric names (static strings, so the spec can point at them). */
static kn_status get_monitor(kn_ctx *ctx, const cJSON *obj, const char *where, const char **out) {
    static const char *const names[] = {"loss", "accuracy", "val_loss", "val_accuracy"};
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "monitor");
    if (!v || cJSON_IsNull(v)) return KN_OK;
    for (int i = 0; i < 4; i++)
        if (cJSON_IsString(v) && strcmp(v->valuestring, names[i]) == 0) {
            *out = names[i];
            return KN_OK;
        }
    char field[160];
    snprintf(field, sizeof field, "%smonitor", where);
    return kn__spec_error(ctx, field, "expected \"loss\", \"accuracy\", \"val_loss\" or \"val_accuracy\"");
}

static kn_status get_mode(kn_ctx *ctx, const cJSON *obj, const char *where, kn_monitor_mode *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "mode");
    if (!v || cJSON_IsNull(v)) return KN_OK;
    if (cJSON_IsString(v)) {
        if (strcmp(v->valuestring, "auto") == 0) return *out = KN_MODE_AUTO, KN_OK;
        if (strcmp(v->valuestring, "min") == 0) return *out = KN_MODE_MIN, KN_OK;
        if (strcmp(v->valuestring, "max") == 0) return *out = KN_MODE_MAX, KN_OK;
    }
    char field[160];
    snprintf(field, sizeof field, "%smode", where);
    return kn__spec_error(ctx, field, "expected \"auto\", \"min\" or \"max\"");
}

/* A schedule's list of steps (boundaries, milestones) or rates (values): a JSON array of at
 * most max numbers, each integral when steps. */
static kn_status get_list(kn_ctx *ctx, const cJSON *v, const char *key, int max, bool steps, int *n, int64_t *ints,
                          double *numbers) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(v, key);
    char field[64];
    snprintf(field, sizeof field, "schedule.%s", key);
    if (!a) return KN_OK;
    if (!cJSON_IsArray(a)) return kn__spec_error(ctx, field, "expected a list of %s", steps ? "steps" : "rates");
    int count = cJSON_GetArraySize(a);
    if (count > max) return kn__spec_error(ctx, field, "%d entries, at most %d", count, max);
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        double x = cJSON_IsNumber(e) ? e->valuedouble : NAN;
        if (steps ? !(x >= 0 && x <= 1e15 && x == floor(x)) : !(x > 0 && x <= 1e6))
            return kn__spec_error(ctx, field, "entry %d: expected %s", i, steps ? "a whole step >= 0" : "a rate in (0, 1e6]");
        if (ints) ints[i] = (int64_t)x;
        if (numbers) numbers[i] = x;
    }
    *n = count;
    return KN_OK;
}

static kn_status parse_schedule(kn_ctx *ctx, const cJSON *v, kn_schedule *out) {
    static const char *const keys[] = {"type", "warmup_steps", "decay_steps", "decay_rate", "gamma", "staircase",
                                       "alpha", "t_mul", "m_mul", "end_learning_rate", "power", "max_learning_rate",
                                       "pct_start", "div_factor", "final_div_factor", "boundaries", "values",
                                       "milestones", NULL};
    if (!cJSON_IsObject(v)) return kn__spec_error(ctx, "schedule", "expected an object such as {\"type\": \"cosine\"}");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(v, "type");
    kn_schedule_kind kind;
    if (!cJSON_IsString(type) || !kn_schedule_parse(type->valuestring, &kind))
        return kn__spec_error(ctx, "schedule.type",
                              "expected \"constant\", \"step\", \"exponential\", \"cosine\", \"polynomial\", "
                              "\"one_cycle\", \"inverse_time\", \"piecewise_constant\" or \"multi_step\"");
    kn_status st = kn__spec_check_keys(ctx, v, "schedule", keys);
    if (st) return st;
    kn_schedule s = kn_schedule_default(kind);
    const char *w = "schedule.";
    if (!st) st = kn__spec_int(ctx, v, "warmup_steps", w, 0, 1e12, &s.warmup_steps);
    if (!st) st = kn__spec_int(ctx, v, "decay_steps", w, 0, 1e12, &s.decay_steps);
    if (!st) st = kn__spec_number(ctx, v, "decay_rate", w, 0, 1e6, &s.decay_rate);
    if (!st) st = get_bool(ctx, v, "staircase", w, &s.staircase);
    if (!st) st = kn__spec_number(ctx, v, "alpha", w, 0, 1, &s.alpha);
    if (!st) st = kn__spec_number(ctx, v, "t_mul", w, 0, 1e6, &s.t_mul);
    if (!st) st = kn__spec_number(ctx, v, "m_mul", w, 0, 1e6, &s.m_mul);
    if (!st) st = kn__spec_number(ctx, v, "end_learning_rate", w, 0, 1e6, &s.end_learning_rate);
    if (!st) st = kn__spec_number(ctx, v, "power", w, 0, 1e3, &s.power);
    if (!st) st = kn__spec_number(ctx, v, "max_learning_rate", w, 0, 1e6, &s.max_learning_rate);
    if (!st) st = kn__spec_number(ctx, v, "pct_start", w, 0, 1, &s.pct_start);
    if (!st) st = kn__spec_number(ctx, v, "div_factor", w, 1e-12, 1e12, &s.div_factor);
    if (!st) st = kn__spec_number(ctx, v, "final_div_factor", w, 1e-12, 1e12, &s.final_div_factor);
    /* PyTorch's name for the factor of step and multi_step */
    if (!st && cJSON_GetObjectItemCaseSensitive(v, "gamma") && cJSON_GetObjectItemCaseSensitive(v, "decay_rate"))
        st = kn__spec_error(ctx, "schedule.gamma", "give gamma or decay_rate (the same), not both");
    if (!st) st = kn__spec_number(ctx, v, "gamma", w, 0, 1e6, &s.decay_rate);
    bool piecewise = kind == KN_SCHEDULE_PIECEWISE_CONSTANT, milestones = kind == KN_SCHEDULE_MULTI_STEP;
    const char *wrong = !piecewise && cJSON_GetObjectItemCaseSensitive(v, "boundaries") ? "boundaries"
                        : !piecewise && cJSON_GetObjectItemCaseSensitive(v, "values") ? "values"
                        : !milestones && cJSON_GetObjectItemCaseSensitive(v, "milestones") ? "milestones" : NULL;
    if (!st && wrong) {
        char field[64];
        snprintf(field, sizeof field, "schedule.%s", wrong);
        st = kn__spec_error(ctx, field, "belongs to %s, not %s",
                            strcmp(wrong, "milestones") == 0 ? "multi_step" : "piecewise_constant", kn_schedule_name(kind));
    }
    int n_values = 0;
    if (!st) st = get_list(ctx, v, piecewise ? "boundaries" : "milestones", KN_SCHEDULE_MAX_BOUNDARIES, true,
                           &s.n_boundaries, s.boundaries, NULL);
    if (!st && piecewise) st = get_list(ctx, v, "values", KN_SCHEDULE_MAX_BOUNDARIES + 1, false, &n_values, NULL, s.values);
    if (!st && piecewise && (s.n_boundaries < 1 || n_values != s.n_boundaries + 1))
        st = kn__spec_error(ctx, "schedule.values", "%d rates for %d boundaries: piecewise_constant takes one more rate "
                            "than boundaries, and at least one boundary", n_values, s.n_boundaries);
    const char *why = NULL;
    if (!st && kn_schedule_check(&s, &why)) st = kn__error(ctx, KN_ERR_SPEC, "model description: %s", why);
    if (!st) *out = s;
    return st;
}

static kn_status parse_callback(kn_ctx *ctx, const cJSON *cb, int i, kn_spec *spec) {
    char where[48];
    snprintf(where, sizeof where, "callbacks[%d].", i);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(cb, "type");
    if (!cJSON_IsObject(cb) || !cJSON_IsString(type))
        return kn__spec_error(ctx, where, "expected an object with a \"type\"");
    kn_status st;
    if (strcmp(type->valuestring, "early_stopping") == 0) {
        static const char *const keys[] = {"type", "monitor", "patience", "min_delta", "mode", "restore_best_weights", NULL};
        kn_early_stopping *e = &spec->early_stopping;
        int64_t patience = 0;
        if ((st = kn__spec_check_keys(ctx, cb, where, keys)) || (st = get_monitor(ctx, cb, where, &e->monitor)) ||
            (st = kn__spec_int(ctx, cb, "patience", where, 0, 1e6, &patience)) ||
            (st = kn__spec_number(ctx, cb, "min_delta", where, 0, 1e12, &e->min_delta)) ||
            (st = get_mode(ctx, cb, where, &e->mode)) ||
            (st = get_bool(ctx, cb, "restore_best_weights", where, &e->restore_best_weights)))
            return st;
        e->patience = patience ? (int)patience : 1; /* present with no patience: Keras's 0 waits one epoch */
        return KN_OK;
    }
    if (strcmp(type->valuestring, "reduce_lr_on_plateau") == 0) {
        static const char *const keys[] = {"type", "monitor", "patience", "factor", "min_lr", "min_delta", "cooldown", "mode", NULL};
        kn_reduce_on_plateau *r = &spec->reduce_lr;
        int64_t patience = 10, cooldown = 0; /* Keras's defaults */
        r->factor = 0.1;
        r->min_delta = 1e-4;
        if ((st = kn__spec_check_keys(ctx, cb, where, keys)) || (st = get_monitor(ctx, cb, where, &r->monitor)) ||
            (st = kn__spec_int(ctx, cb, "patience", where, 1, 1e6, &patience)) ||
            (st = kn__spec_number(ctx, cb, "factor", where, 1e-12, 0.999999, &r->factor)) ||
            (st = kn__spec_number(ctx, cb, "min_lr", where, 0, 1e6, &r->min_lr)) ||
            (st = kn__spec_number(ctx, cb, "min_delta", where, 0, 1e12, &r->min_delta)) ||
            (st = kn__spec_int(ctx, cb, "cooldown", where, 0, 1e6, &cooldown)) || (st = get_mode(ctx, cb, where, &r->mode)))
            return st;
        r->patience = (int)patience;
        r->cooldown = (int)cooldown;
        return KN_OK;
    }
    if (strcmp(type->valuestring, "model_checkpoint") == 0) {
        static const char *const keys[] = {"type", "monitor", "mode", NULL};
        /* the best model is judged by the early-stopping monitor (one monitor for both) */
        if ((st = kn__spec_check_keys(ctx, cb, where, keys)) || (st = get_monitor(ctx, cb, where, &spec->early_stopping.monitor)) ||
            (st = get_mode(ctx, cb, where, &spec->early_stopping.mode)))
            return st;
        spec->save_best = true;
        return KN_OK;
    }
    return kn__spec_error(ctx, where, "type '%s' is not one of early_stopping, reduce_lr_on_plateau, model_checkpoint",
                          type->valuestring);
}

static kn_status parse_class_weight(kn_ctx *ctx, const cJSON *v, kn_spec *spec) {
    if (cJSON_IsString(v) && strcmp(v->valuestring, "balanced") == 0) {
        spec->class_weight_balanced = true;
        return KN_OK;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 || cJSON_GetArraySize(v) > 256)
        return kn__spec_error(ctx, "class_weight", "expected \"balanced\" or a list of 1 to 256 weights by class, such as [1, 5]");
    int i = 0;
    for (const cJSON *w = v->child; w; w = w->next, i++) {
        if (!cJSON_IsNumber(w) || !(w->valuedouble >= 0) || w->valuedouble > 1e12) {
            char field[48];
            snprintf(field, sizeof field, "class_weight[%d]", i);
            return kn__spec_error(ctx, field, "expected a number >= 0");
        }
        spec->class_weight[i] = (float)w->valuedouble;
    }
    spec->n_class_weights = i;
    return KN_OK;
}

/* "augment": numbers only; ranges checked as the loader will use them (kn__augment_check). */
static kn_status parse_augment(kn_ctx *ctx, const cJSON *v, kn_augment *out) {
    static const char *const keys[] = {"shift", "flip", "rotate", "noise", "erase", "shift_p", "rotate_p", "noise_p", NULL};
    if (!cJSON_IsObject(v))
        return kn__spec_error(ctx, "augment", "expected an object such as {\"shift\": 2, \"flip\": 0.5, \"rotate\": 10}");
    kn_status st = kn__spec_check_keys(ctx, v, "augment", keys);
    float *fields[] = {NULL, &out->flip, &out->rotate, &out->noise, &out->erase, &out->shift_p, &out->rotate_p, &out->noise_p};
    for (int i = 0; keys[i] && !st; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(v, keys[i]);
        if (!x) continue;
        char field[32];
        snprintf(field, sizeof field, "augment.%s", keys[i]);
        if (!cJSON_IsNumber(x)) return kn__spec_error(ctx, field, "expected a number");
        if (i == 0) {
            if (x->valuedouble != (int)x->valuedouble || x->valuedouble < 0 || x->valuedouble > 64)
                return kn__spec_error(ctx, field, "expected a whole number of pixels in [0, 64]");
            out->shift = (int)x->valuedouble;
        } else {
            *fields[i] = (float)x->valuedouble;
            if (i >= 5 && x->valuedouble == 0) return kn__spec_error(ctx, field, "0 would never apply it: leave the op out instead");
        }
    }
    if (st) return st;
    kn__augment in;
    kn__augment_from_public(out, &in);
    return kn__augment_check(ctx, &in);
}

kn_status kn_augment_parse(kn_ctx *ctx, const char *json, kn_augment *out) {
    if (!ctx || !json || !out) return KN_ERR_INVALID_ARGUMENT;
    *out = (kn_augment){0};
    if (strcmp(json, "off") == 0 || strcmp(json, "none") == 0) return KN_OK;
    cJSON *v = cJSON_Parse(json);
    if (!v) return kn__spec_error(ctx, "augment", "malformed JSON (expected an object such as {\"flip\": 0.5}, or off)");
    kn_status st = parse_augment(ctx, v, out);
    cJSON_Delete(v);
    if (st) *out = (kn_augment){0};
    return st;
}

/* "precision" and fp16's "loss_scale" into spec->compile. */
static kn_status parse_precision(kn_ctx *ctx, const cJSON *root, kn_spec *spec) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "precision");
    if (p && !cJSON_IsNull(p) && !(cJSON_IsString(p) && kn_precision_parse(p->valuestring, &spec->compile.precision)))
        return kn__spec_error(ctx, "precision", "expected \"fp32\", \"bf16\" or \"fp16\"");
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(root, "loss_scale");
    if (!ls || cJSON_IsNull(ls)) return KN_OK;
    static const char *const keys[] = {"initial_scale", "dynamic_growth_steps", NULL};
    if (!cJSON_IsObject(ls))
        return kn__spec_error(ctx, "loss_scale", "expected an object such as {\"initial_scale\": 65536, \"dynamic_growth_steps\": 2000}");
    if (spec->compile.precision != KN_PRECISION_FP16)
        return kn__spec_error(ctx, "loss_scale", "applies to \"precision\": \"fp16\" only (bf16 and fp32 need no loss scaling)");
    kn_status st = kn__spec_check_keys(ctx, ls, "loss_scale", keys);
    double initial = 0;
    int64_t growth = 0;
    int e = 0;
    if (!st) st = kn__spec_number(ctx, ls, "initial_scale", "loss_scale.", KN_LOSS_SCALE_MIN, KN_LOSS_SCALE_MAX, &initial);
    if (!st && initial != 0 && frexp(initial, &e) != 0.5)
        st = kn__spec_error(ctx, "loss_scale.initial_scale", "%g is not a power of two (such as 65536)", initial);
    if (!st) st = kn__spec_int(ctx, ls, "dynamic_growth_steps", "loss_scale.", 1, 1e9, &growth);
    if (st) return st;
    spec->compile.loss_scale_initial = (float)initial;
    spec->compile.loss_scale_growth_interval = (int)growth;
    return KN_OK;
}

kn_status kn__spec_training(kn_ctx *ctx, const cJSON *root, kn_spec *spec) {
    kn_status pst = parse_precision(ctx, root, spec);
    if (pst) return pst;
    const cJSON *augment = cJSON_GetObjectItemCaseSensitive(root, "augment");
    if (augment) {
        kn_status ast = parse_augment(ctx, augment, &spec->augment);
        if (ast) return ast;
    }
    spec->schedule = kn_schedule_default(KN_SCHEDULE_CONSTANT);
    const cJSON *cw = cJSON_GetObjectItemCaseSensitive(root, "class_weight");
    if (cw) {
        kn_status cst = parse_class_weight(ctx, cw, spec);
        if (cst) return cst;
    }
    const cJSON *schedule = cJSON_GetObjectItemCaseSensitive(root, "schedule");
    kn_status st = schedule ? parse_schedule(ctx, schedule, &spec->schedule) : KN_OK;
    const cJSON *callbacks = cJSON_GetObjectItemCaseSensitive(root, "callbacks");
    if (st || !callbacks) return st;
    if (!cJSON_IsArray(callbacks))
        return kn__spec_error(ctx, "callbacks", "expected a list such as [{\"type\": \"early_stopping\", \"patience\": 3}]");
    int i = 0;
    for (const cJSON *cb = callbacks->child; cb && !st; cb = cb->next, i++) st = parse_callback(ctx, cb, i, spec);
    return st;
}
