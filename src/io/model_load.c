/* model_load.c — loading a .kiln (safetensors) file: map it read-only, check the header
 * length against the file, the JSON, every tensor's dtype, shape and offsets (inside the
 * data, no overlap, no overflow) against the architecture in the metadata, verify the XXH3
 * checksum, then use the weights in place (or copy them when another writer laid them out
 * differently). Nothing in the file is trusted before it is checked. */
#define _POSIX_C_SOURCE 200809L
#include "nn/model.h"
#include "data/preprocess.h"
#include "train/loader.h"
#include "train/loss_scale.h"
#include "classic/model.h"
#include "core/half.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define KN_MAX_HEADER (64u << 20)
#define KN_MAX_PARAMS 8192 /* (a layer has at most a few: KN__MAX_LAYERS of them) */

kn_status kn__model_set_training_summary(kn_model *m, const char *json);

static const struct { const char *name; size_t size; } safetensors_dtypes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
    {"I8", 1}, {"U8", 1}, {"U16", 2}, {"U32", 4}, {"U64", 8}, {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
};

typedef struct { size_t start, end; } span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* A whole number in [0, max] from a JSON number. */
static bool json_size(const cJSON *v, double max, size_t *out) {
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > max || v->valuedouble != floor(v->valuedouble))
        return false;
    *out = (size_t)v->valuedouble;
    return true;
}

static const char *meta_string(const cJSON *meta, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A number field of the checkpoint object, in [0, max]. */
static bool ck_num(const cJSON *c, const char *key, double max, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > max) return false;
    *out = v->valuedouble;
    return true;
}

/* A checkpoint's schedule (model_file.c's checkpoint_json): its type, the 13 numeric fields
 * in order, the boundaries and values; false when anything is off or kn_schedule_check
 * refuses it. */
static bool read_schedule(const cJSON *sc, kn_schedule *out) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(sc, "type"), *f = cJSON_GetObjectItemCaseSensitive(sc, "fields");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(sc, "boundaries"), *r = cJSON_GetObjectItemCaseSensitive(sc, "values");
    kn_schedule_kind kind;
    if (!cJSON_IsObject(sc) || !cJSON_IsString(type) || !kn_schedule_parse(type->valuestring, &kind) || !cJSON_IsArray(f) ||
        cJSON_GetArraySize(f) != 13 || !cJSON_IsArray(b) || !cJSON_IsArray(r))
        return false;
    kn_schedule s = kn_schedule_default(kind);
    double v[13];
    for (int i = 0; i < 13; i++) {
        const cJSON *x = cJSON_GetArrayItem(f, i);
        if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble) || fabs(x->valuedouble) > 1e15) return false;
        v[i] = x->valuedouble;
    }
    if (v[0] != floor(v[0]) || v[1] != floor(v[1])) return false;
    s.warmup_steps = (int64_t)v[0], s.decay_steps = (int64_t)v[1], s.decay_rate = v[2], s.staircase = v[3] != 0;
    s.alpha = v[4], s.t_mul = v[5], s.m_mul = v[6], s.end_learning_rate = v[7], s.power = v[8];
    s.max_learning_rate = v[9], s.pct_start = v[10], s.div_factor = v[11], s.final_div_factor = v[12];
    int nb = cJSON_GetArraySize(b), nr = cJSON_GetArraySize(r);
    if (nb > KN_SCHEDULE_MAX_BOUNDARIES || (nr != 0 && nr != nb + 1)) return false;
    for (int i = 0; i < nb; i++) {
        const cJSON *x = cJSON_GetArrayItem(b, i);
        if (!cJSON_IsNumber(x) || !(x->valuedouble >= 0 && x->valuedouble <= 1e15) || x->valuedouble != floor(x->valuedouble))
            return false;
        s.boundaries[i] = (int64_t)x->valuedouble;
    }
    for (int i = 0; i < nr; i++) {
        const cJSON *x = cJSON_GetArrayItem(r, i);
        if (!cJSON_IsNumber(x)) return false;
        s.values[i] = x->valuedouble;
    }
    s.n_boundaries = nb;
    if (kn_schedule_check(&s, NULL)) return false;
    *out = s;
    return true;
}

static kn_status read_checkpoint(kn_model *m, const char *path, const char *text) {
    kn_ctx *ctx = m->ctx;
    cJSON *c = cJSON_Parse(text);
    double step = 0, epoch = 0, epochs = 0, batch = 0, bs = 0, correct = 0, seen = 0, seconds = 0;
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(c, "loss_sum");
    const cJSON *hist = cJSON_GetObjectItemCaseSensitive(c, "history");
    bool ok = cJSON_IsObject(c) && ck_num(c, "step", 0x1p52, &step) && ck_num(c, "epoch", 1e6, &epoch) &&
              ck_num(c, "epochs", 1e6, &epochs) && ck_num(c, "batch", 0x1p40, &batch) &&
              ck_num(c, "batch_size", 1 << 24, &bs) && ck_num(c, "correct", 0x1p52, &correct) &&
              ck_num(c, "seen", 0x1p52, &seen) && ck_num(c, "seconds", 1e12, &seconds) && cJSON_IsString(ls) &&
              cJSON_IsArray(hist) && cJSON_GetArraySize(hist) == (int)epoch && epoch <= epochs && bs >= 1;
    int n = ok ? (int)epoch : 0;
    if (ok && n > 0) {
        m->resume_history = kn__calloc(ctx, (size_t)n, sizeof *m->resume_history);
        ok = m->resume_history != NULL;
    }
    for (int e = 0; ok && e < n; e++) {
        const cJSON *row = cJSON_GetArrayItem(hist, e);
        double v[8] = {0, 0, 0, 0, 0, 0, 0, 1}; /* six fields, or eight with fp16's skipped updates and scale */
        int fields = cJSON_GetArraySize(row);
        ok = cJSON_IsArray(row) && (fields == 6 || fields == 8);
        for (int k = 0; ok && k < fields; k++) {
            const cJSON *x = cJSON_GetArrayItem(row, k);
            ok = cJSON_IsString(x) && sscanf(x->valuestring, "%lf", &v[k]) == 1;
        }
        ok = ok && v[6] >= 0 && v[6] <= 0x1p52 && v[6] == floor(v[6]) && v[7] > 0 && isfinite(v[7]);
        if (ok)
            m->resume_history[e] = (kn_epoch_record){.epoch = e + 1, .loss = v[0], .accuracy = v[1], .val_loss = v[2],
                                                     .val_accuracy = v[3], .seconds = v[4], .learning_rate = v[5],
                                                     .skipped_steps = (int64_t)v[6], .loss_scale = v[7]};
    }
    struct kn__control_pos control = {0};
    const cJSON *ctl = cJSON_GetObjectItemCaseSensitive(c, "control");
    if (ok && ctl) { /* training control's state (optional) */
        const char *dn[4] = {"stop_best", "save_best", "plateau_best", "base_lr"};
        double *dv[4] = {&control.stop_best, &control.save_best, &control.plateau_best, &control.base_lr};
        for (int i = 0; ok && i < 4; i++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(ctl, dn[i]);
            ok = cJSON_IsString(x) && sscanf(x->valuestring, "%lf", dv[i]) == 1;
        }
        const char *vn[6] = {"stop_best_epoch", "stop_wait", "save_best_epoch", "save_wait", "plateau_wait", "plateau_cooldown"};
        int *iv[6] = {&control.stop_best_epoch, &control.stop_wait, &control.save_best_epoch, &control.save_wait,
                      &control.plateau_wait, &control.plateau_cooldown};
        for (int i = 0; ok && i < 6; i++) {
            double v = 0;
            ok = ck_num(ctl, vn[i], 1e6, &v);
            *iv[i] = (int)v;
        }
        ok = ok && control.base_lr > 0 && isfinite(control.base_lr);
        control.valid = ok;
    }
    double scale = 0, good = 0, skipped = 0;
    const cJSON *lsc = cJSON_GetObjectItemCaseSensitive(c, "loss_scale");
    if (ok && lsc) /* fp16's loss scaler (optional: absent, a resumed fp16 run starts it afresh) */
        ok = cJSON_IsObject(lsc) && ck_num(lsc, "scale", KN_LOSS_SCALE_MAX, &scale) && scale >= KN_LOSS_SCALE_MIN &&
             ck_num(lsc, "good", 0x1p52, &good) && good == floor(good) && ck_num(lsc, "epoch_skipped", 0x1p52, &skipped) &&
             skipped == floor(skipped);
    kn_augment aug = {0};
    const cJSON *au = cJSON_GetObjectItemCaseSensitive(c, "augment");
    if (ok && au) { /* [shift, flip, rotate, noise, erase, shift_p, rotate_p, noise_p], checked as a description's */
        double v[8] = {0};
        ok = cJSON_IsArray(au) && cJSON_GetArraySize(au) == 8;
        for (int i = 0; ok && i < 8; i++) {
            const cJSON *x = cJSON_GetArrayItem(au, i);
            ok = cJSON_IsNumber(x) && x->valuedouble >= 0 && x->valuedouble <= 180;
            v[i] = ok ? x->valuedouble : 0;
        }
        aug = (kn_augment){.shift = (int)v[0], .flip = (float)v[1], .rotate = (float)v[2], .noise = (float)v[3],
                           .erase = (float)v[4], .shift_p = (float)v[5], .rotate_p = (float)v[6], .noise_p = (float)v[7]};
        kn__augment internal;
        kn__augment_from_public(&aug, &internal);
        ok = ok && v[0] == (int)v[0] && kn__augment_check(ctx, &internal) == KN_OK;
    }
    kn_schedule sched = kn_schedule_default(KN_SCHEDULE_CONSTANT);
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(c, "schedule");
    if (ok && sc) ok = read_schedule(sc, &sched);
    double loss_sum = 0, vsplit = 0;
    unsigned long long seed = 0;
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(c, "seed"), *vs = cJSON_GetObjectItemCaseSensitive(c, "validation_split");
    if (ok) ok = sscanf(ls->valuestring, "%lf", &loss_sum) == 1 && cJSON_IsString(sd) &&
                 sscanf(sd->valuestring, "%llu", &seed) == 1 && cJSON_IsString(vs) &&
                 sscanf(vs->valuestring, "%lf", &vsplit) == 1 && vsplit >= 0 && vsplit < 1;
    cJSON_Delete(c);
    if (!ok) return kn__error(ctx, KN_ERR_FORMAT, "%s: __metadata__.kiln.checkpoint is malformed", path);
    m->pos = (struct kn__train_pos){.valid = true, .epoch = (int)epoch, .epochs = (int)epochs, .batch = (int64_t)batch,
                                    .batch_size = (int64_t)bs, .loss_sum = loss_sum, .correct = (int64_t)correct,
                                    .seen = (int64_t)seen, .seconds = seconds, .seed = seed,
                                    .validation_split = vsplit, .control = control, .augment = aug,
                                    .schedule = sched, .has_schedule = sc != NULL,
                                    .loss_scale = (float)scale, .loss_scale_good = (int64_t)good,
                                    .epoch_skipped = (int64_t)skipped};
    m->resume_step = (int64_t)step;
    m->resume_step_pending = true;
    return KN_OK;
}

static kn_status read_preprocessing(kn_model *m, const char *path, const char *text) {
    cJSON *pre = cJSON_Parse(text);
    if (!cJSON_IsObject(pre)) {
        cJSON_Delete(pre);
        return kn__error(m->ctx, KN_ERR_FORMAT, "%s: __metadata__.kiln.preprocessing is not a JSON object", path);
    }
    kn_status st = KN_OK;
    const cJSON *scale = cJSON_GetObjectItemCaseSensitive(pre, "input_scale");
    if (cJSON_IsNumber(scale) && scale->valuedouble > 0 && isfinite(scale->valuedouble)) m->input_scale = scale->valuedouble;
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(pre, "labels");
    int n = cJSON_IsArray(labels) ? cJSON_GetArraySize(labels) : 0;
    if (n > 0 && n <= 1 << 20) {
        const char **names = kn__calloc(m->ctx, (size_t)n, sizeof *names);
        if (!names) st = kn__error(m->ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        for (int i = 0; !st && i < n; i++) {
            const cJSON *s = cJSON_GetArrayItem(labels, i);
            if (!cJSON_IsString(s)) st = kn__error(m->ctx, KN_ERR_FORMAT, "%s: kiln.preprocessing.labels[%d] is not a string", path, i);
            else names[i] = s->valuestring;
        }
        if (!st) st = kn_model_set_labels(m, names, n);
        kn__free(m->ctx, names);
    }
    const cJSON *tabular = cJSON_GetObjectItemCaseSensitive(pre, "tabular");
    if (!st && tabular) {
        kn_preprocessor_free(m->prep);
        m->prep = NULL;
        st = kn__prep_from_json(m->ctx, tabular, path, &m->prep);
        if (!st && m->prep->n_out != m->in_features)
            st = kn__error(m->ctx, KN_ERR_FORMAT, "%s: kiln.preprocessing.tabular gives %lld inputs for a model of %lld", path,
                           (long long)m->prep->n_out, (long long)m->in_features);
    }
    const cJSON *features = cJSON_GetObjectItemCaseSensitive(pre, "features");
    int nf = cJSON_IsArray(features) ? cJSON_GetArraySize(features) : 0;
    if (!st && nf > 0) {
        if (nf != m->in_features) {
            st = kn__error(m->ctx, KN_ERR_FORMAT, "%s: kiln.preprocessing.features has %d names for %lld inputs", path, nf,
                           (long long)m->in_features);
        } else {
            const char **names = kn__calloc(m->ctx, (size_t)nf, sizeof *names);
            if (!names) st = kn__error(m->ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            for (int i = 0; !st && i < nf; i++) {
                const cJSON *f = cJSON_GetArrayItem(features, i);
                if (!cJSON_IsString(f)) st = kn__error(m->ctx, KN_ERR_FORMAT, "%s: kiln.preprocessing.features[%d] is not a string", path, i);
                else names[i] = f->valuestring;
            }
            if (!st) st = kn_model_set_feature_names(m, names, nf);
            kn__free(m->ctx, names);
        }
    }
    cJSON_Delete(pre);
    return st;
}

/* Checks the tensors of the header against the model's parameters; on success the
 * parameters are in place (zero-copy) or copied into m->owned_params. */
/* The model's n_specs parameters (specs, total floats) and, per parameter, what the file
 * gives: its byte offset, its dtype (F32, or F16/BF16 (a converted file): widened below)
 * and whether it was found (all false on entry). */
typedef struct {
    const kn__param_spec *specs;
    int n_specs;
    size_t total;
    size_t *file_offset;
    kn_dtype *file_dtype;
    bool *found;
    size_t *scale_offset; /* an int8 file: where kiln.scale.NAME of parameter k starts (0: none) */
} bind_arrays;

static kn_status bind_into(kn_model *m, const char *path, const cJSON *header, const uint8_t *data, size_t data_len,
                           const char *want_dtype, const bind_arrays *b) {
    kn_ctx *ctx = m->ctx;
    const kn__param_spec *specs = b->specs;
    int n_specs = b->n_specs;
    size_t total = b->total, *file_offset = b->file_offset;
    kn_dtype *file_dtype = b->file_dtype;
    bool *found = b->found;
    size_t *scale_offset = b->scale_offset;
    bool int8_file = want_dtype && strcmp(want_dtype, "I8") == 0;
    int n_tensors = cJSON_GetArraySize(header);
    span *spans = kn__calloc(ctx, (size_t)(n_tensors > 0 ? n_tensors : 1), sizeof *spans);
    if (!spans) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    int n_spans = 0;
    size_t state_start = 0, state_count = 0, best_start = 0, best_count = 0;
    kn_status st = KN_OK;
    const cJSON *t;
    cJSON_ArrayForEach(t, header) {
        const char *name = t->string ? t->string : "";
        if (strcmp(name, "__metadata__") == 0) continue;
        if (!cJSON_IsObject(t)) { st = kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%.64s' is not an object", path, name); break; }
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
        const cJSON *offs = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
        size_t esize = 0;
        for (size_t k = 0; cJSON_IsString(dt) && k < sizeof safetensors_dtypes / sizeof *safetensors_dtypes; k++)
            if (strcmp(dt->valuestring, safetensors_dtypes[k].name) == 0) esize = safetensors_dtypes[k].size;
        if (!esize) { st = kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%.64s': unknown dtype", path, name); break; }
        if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) > 8) {
            st = kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%.64s': shape must be a list of at most 8 sizes", path, name);
            break;
        }
        int64_t dims[8];
        int ndim = 0;
        size_t numel = 1;
        const cJSON *d;
        cJSON_ArrayForEach(d, shape) {
            size_t v;
            if (!json_size(d, 0x1p40, &v) || !kn__mul_size(numel, v, &numel)) {
                st = kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%.64s': shape[%d] is not a valid size", path, name, ndim);
                break;
            }
            dims[ndim++] = (int64_t)v;
        }
        if (st) break;
        size_t bytes, start, end;
        if (!kn__mul_size(numel, esize, &bytes)) { st = kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%.64s': size overflows", path, name); break; }
        if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !json_size(cJSON_GetArrayItem(offs, 0), 0x1p53, &start) ||
            !json_size(cJSON_GetArrayItem(offs, 1), 0x1p53, &end) || start > end || end > data_len) {
            st = kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%.64s': data_offsets must be [start, end] within the %zu data bytes",
                           path, name, data_len);
            break;
        }
        if (end - start != bytes) {
            st = kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%.64s': data_offsets span %zu bytes, its dtype and shape need %zu",
                           path, name, end - start, bytes);
            break;
        }
        spans[n_spans++] = (span){start, end};
        if (strncmp(name, "kiln.pad.", 9) == 0) continue;
        if (strcmp(name, "kiln.best_weights") == 0) { /* a checkpoint's early-stopping best weights */
            if (strcmp(dt->valuestring, "F32") != 0 || ndim != 1 || numel != total) {
                st = kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%s' must be a 1-D F32 tensor of %zu values", path, name, total);
                break;
            }
            best_start = start;
            best_count = numel;
            continue;
        }
        if (strcmp(name, "kiln.optimizer.state") == 0) { /* a checkpoint's optimizer state */
            if (strcmp(dt->valuestring, "F32") != 0 || ndim != 1) {
                st = kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%s' must be a 1-D F32 tensor", path, name);
                break;
            }
            state_start = start;
            state_count = numel;
            continue;
        }
        if (strncmp(name, "kiln.scale.", 11) == 0) { /* an int8 file: a weight's column scales */
            int q = 0;
            while (q < n_specs && strcmp(specs[q].name, name + 11) != 0) q++;
            if (!int8_file || q == n_specs || strcmp(dt->valuestring, "F32") != 0 || ndim != 1 || specs[q].ndim != 2 ||
                dims[0] != specs[q].shape[1] || scale_offset[q]) {
                st = kn__error(ctx, KN_ERR_FORMAT,
                               "%s: tensor '%.80s' must be, in an int8 file (kiln.dtype I8), the one 1-D F32 tensor of "
                               "a 2-D parameter's column scales",
                               path, name);
                break;
            }
            scale_offset[q] = start + 1; /* (+1: 0 says none) */
            continue;
        }
        int k = 0;
        while (k < n_specs && strcmp(specs[k].name, name) != 0) k++;
        /* files written before names kept 63 characters held their first 47: a bidirectional
         * simple_rnn's "bidirectional_<i>/backward_simple_rnn/recurrent_kernel" */
        if (k == n_specs && strlen(name) == 47)
            for (k = 0; k < n_specs && !(strlen(specs[k].name) > 47 && strncmp(specs[k].name, name, 47) == 0); k++) {}
        if (k == n_specs) { st = kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%.64s' is not a parameter of the architecture", path, name); break; }
        kn_dtype pdt = !strcmp(dt->valuestring, "F32") ? KN_F32 : !strcmp(dt->valuestring, "F16") ? KN_F16
                     : !strcmp(dt->valuestring, "BF16") ? KN_BF16 : !strcmp(dt->valuestring, "I8") ? KN_I8
                     : KN_DTYPE_COUNT;
        if (pdt == KN_DTYPE_COUNT) {
            st = kn__error(ctx, KN_ERR_DTYPE, "%s: tensor '%s' is %s; this kiln reads F32, F16, BF16 and I8 parameters", path,
                           name, dt->valuestring);
            break;
        }
        /* kiln.dtype says what every parameter is; an int8 file's are I8 or F32 */
        if (want_dtype && strcmp(dt->valuestring, want_dtype) != 0 && !(int8_file && pdt == KN_F32)) {
            st = kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%s' is %s, but __metadata__.kiln.dtype says %s", path, name,
                           dt->valuestring, want_dtype);
            break;
        }
        bool same = ndim == specs[k].ndim;
        for (int i = 0; same && i < ndim; i++) same = dims[i] == specs[k].shape[i];
        if (!same) {
            char want[64];
            if (specs[k].ndim == 3)
                snprintf(want, sizeof want, "(%lld, %lld, %lld)", (long long)specs[k].shape[0],
                         (long long)specs[k].shape[1], (long long)specs[k].shape[2]);
            else if (specs[k].ndim == 2) snprintf(want, sizeof want, "(%lld, %lld)", (long long)specs[k].shape[0], (long long)specs[k].shape[1]);
            else snprintf(want, sizeof want, "(%lld)", (long long)specs[k].shape[0]);
            st = kn__error(ctx, KN_ERR_SHAPE, "%s: tensor '%s': shape does not match the architecture's %s", path, name, want);
            break;
        }
        if (found[k]) { st = kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%s' appears twice", path, name); break; }
        found[k] = true;
        file_offset[k] = start;
        file_dtype[k] = pdt;
    }
    for (int k = 0; !st && k < n_specs; k++)
        if (!found[k]) st = kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%s' is missing", path, specs[k].name);
    for (int k = 0; !st && k < n_specs; k++)
        if ((file_dtype[k] == KN_I8) != (scale_offset[k] != 0))
            st = kn__error(ctx, KN_ERR_FORMAT,
                           file_dtype[k] == KN_I8 ? "%s: tensor '%s' is I8 but the file has no kiln.scale.%s"
                                                  : "%s: tensor '%s' is not I8 but the file has kiln.scale.%s",
                           path, specs[k].name, specs[k].name);
    if (!st) {
        qsort(spans, (size_t)n_spans, sizeof *spans, cmp_span);
        for (int i = 1; !st && i < n_spans; i++)
            if (spans[i].start < spans[i - 1].end)
                st = kn__error(ctx, KN_ERR_FORMAT, "%s: tensors overlap at data byte %zu", path, spans[i].start);
    }
    kn__free(ctx, spans);
    if (st) return st;
    /* kiln's own layout: the data section is the flat buffer itself */
    if (best_count) {
        m->resume_best = kn__alloc(ctx, best_count * sizeof(float));
        if (!m->resume_best) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory for the best weights", path);
        memcpy(m->resume_best, data + best_start, best_count * sizeof(float));
        m->resume_best_floats = best_count;
    }
    if (state_count) {
        m->resume_state = kn__alloc(ctx, state_count * sizeof(float));
        if (!m->resume_state) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory for the optimizer state", path);
        memcpy(m->resume_state, data + state_start, state_count * sizeof(float));
        m->resume_state_floats = state_count;
    }
    bool in_place = data_len >= total * sizeof(float) && ((uintptr_t)data % 64) == 0;
    for (int k = 0; in_place && k < n_specs; k++)
        in_place = file_offset[k] == specs[k].offset * sizeof(float) && file_dtype[k] == KN_F32;
    if (in_place) {
        m->mapped_params = (const float *)data;
    } else {
        m->owned_params = kn__calloc(ctx, total ? total : 1, sizeof(float));
        if (!m->owned_params) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory for the parameters", path);
        for (int k = 0; k < n_specs; k++) { /* the checks above sized each span for its dtype */
            float *dst = m->owned_params + specs[k].offset;
            const uint8_t *src = data + file_offset[k];
            if (file_dtype[k] != KN_F32) m->file_dtype = file_dtype[k];
            /* an int8 file is served in int8 (on the CPU; a device computes on the dequantized weights) */
            if (file_dtype[k] == KN_I8 && ctx->device == KN_DEVICE_CPU) m->quant = KN_QUANT_INT8;
            if (file_dtype[k] == KN_F32) {
                memcpy(dst, src, specs[k].numel * sizeof(float));
            } else if (file_dtype[k] == KN_I8) { /* w = q s, s the column's scale */
                int64_t rows = specs[k].shape[0], cols = specs[k].shape[1];
                float s;
                for (int64_t j = 0; j < cols; j++) {
                    memcpy(&s, data + scale_offset[k] - 1 + (size_t)j * sizeof s, sizeof s);
                    if (!(s >= 0 && s < 0x1p100f)) /* (NaN fails both) */
                        return kn__error(ctx, KN_ERR_FORMAT, "%s: kiln.scale.%s[%lld] is %g, not a finite scale >= 0",
                                         path, specs[k].name, (long long)j, (double)s);
                    for (int64_t r = 0; r < rows; r++) dst[r * cols + j] = (float)(int8_t)src[r * cols + j] * s;
                }
            } else { /* halves may sit at any even offset in another writer's file: copy out first */
                uint16_t chunk[1024];
                for (size_t i = 0; i < specs[k].numel; i += 1024) {
                    size_t c = specs[k].numel - i < 1024 ? specs[k].numel - i : 1024;
                    memcpy(chunk, src + i * 2, c * 2);
                    if (file_dtype[k] == KN_F16) kn__f16_to_f32(chunk, dst + i, c);
                    else kn__bf16_to_f32(chunk, dst + i, c);
                }
            }
        }
        m->mapped_params = m->owned_params;
    }
    m->mapped_floats = total;
    return KN_OK;
}

static kn_status bind_tensors(kn_model *m, const char *path, const cJSON *header, const uint8_t *data, size_t data_len,
                              const char *want_dtype) {
    kn_ctx *ctx = m->ctx;
    bind_arrays b = {0};
    b.n_specs = kn__model_param_specs(m, NULL, 0, &b.total);
    if (b.n_specs > KN_MAX_PARAMS)
        return kn__error(ctx, KN_ERR_UNSUPPORTED, "%s: more than %d parameters", path, KN_MAX_PARAMS);
    size_t n = (size_t)(b.n_specs > 0 ? b.n_specs : 1);
    kn__param_spec *specs = kn__calloc(ctx, n, sizeof *specs);
    b.file_offset = kn__calloc(ctx, n, sizeof *b.file_offset);
    b.file_dtype = kn__calloc(ctx, n, sizeof *b.file_dtype);
    b.found = kn__calloc(ctx, n, sizeof *b.found);
    b.scale_offset = kn__calloc(ctx, n, sizeof *b.scale_offset);
    kn_status st = specs && b.file_offset && b.file_dtype && b.found && b.scale_offset ? KN_OK
                                                                        : kn__error(ctx, KN_ERR_OUT_OF_MEMORY,
                                                                                    "%s: out of memory", path);
    if (!st) {
        kn__model_param_specs(m, specs, b.n_specs, &b.total);
        b.specs = specs;
        st = bind_into(m, path, header, data, data_len, want_dtype, &b);
    }
    kn__free(ctx, specs);
    kn__free(ctx, b.file_offset);
    kn__free(ctx, b.file_dtype);
    kn__free(ctx, b.found);
    kn__free(ctx, b.scale_offset);
    return st;
}

kn_status kn__model_load_buffer(kn_ctx *ctx, const uint8_t *bytes, size_t size, const char *path,
                                const kn_load_opts *opts, kn_model **out) {
    *out = NULL;
    if (size < 8)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: %zu bytes, too short for a model file (8-byte header length first)", path, size);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)bytes[i] << (8 * i);
    kn_status st = KN_OK;
    cJSON *header = NULL;
    kn_model *m = NULL;
    char *text = NULL;
    if (hlen > size - 8 || hlen > KN_MAX_HEADER || hlen < 2) {
        /* a text file (a JSON description, a CSV) is the usual mistake: say so */
        size_t lead = 0;
        while (lead < size && lead < 64 && (bytes[lead] == ' ' || bytes[lead] == '\n' || bytes[lead] == '\r' || bytes[lead] == '\t')) lead++;
        if (lead < size && (bytes[lead] == '{' || bytes[lead] == '['))
            st = kn__error(ctx, KN_ERR_FORMAT, "%s: not a model file: it begins as JSON text (a model description? "
                           "kiln train takes those; kiln info, eval and predict take the model.kiln it saves)", path);
        else
            st = kn__error(ctx, KN_ERR_FORMAT, "%s: header length %" PRIu64 " does not fit the file's %zu bytes (not a "
                           "kiln model file)", path, hlen, size);
        goto done;
    }
    header = cJSON_ParseWithLength((const char *)bytes + 8, (size_t)hlen);
    if (!cJSON_IsObject(header)) {
        st = kn__error(ctx, KN_ERR_FORMAT, "%s: the header is not a JSON object", path);
        goto done;
    }
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(header, "__metadata__");
    if (!cJSON_IsObject(meta)) { st = kn__error(ctx, KN_ERR_FORMAT, "%s: no __metadata__ (not a kiln model file)", path); goto done; }
    const cJSON *mv;
    cJSON_ArrayForEach(mv, meta) if (!cJSON_IsString(mv)) {
        st = kn__error(ctx, KN_ERR_FORMAT, "%s: __metadata__.%.64s is not a string", path, mv->string ? mv->string : "");
        goto done;
    }
    const char *version = meta_string(meta, "kiln.format_version");
    if (!version) { st = kn__error(ctx, KN_ERR_FORMAT, "%s: __metadata__ has no kiln.format_version (not a kiln model file)", path); goto done; }
    if (strcmp(version, "1") != 0) { st = kn__error(ctx, KN_ERR_UNSUPPORTED, "%s: format version %.32s (this kiln reads 1)", path, version); goto done; }
    const char *arch = meta_string(meta, "kiln.architecture");
    if (!arch) { st = kn__error(ctx, KN_ERR_FORMAT, "%s: __metadata__ has no kiln.architecture", path); goto done; }
    kn_spec spec;
    if ((st = kn_model_from_json(ctx, arch, NULL, &m, &spec))) {
        text = kn__strdup(ctx, kn_last_error(ctx));
        st = kn__error(ctx, st, "%s: kiln.architecture: %s", path, text ? text : "invalid");
        goto done;
    }
    if ((st = kn_model_compile(m, &spec.compile))) goto done;
    size_t data_start = 8 + (size_t)hlen, data_len = size - data_start;
    const uint8_t *data = bytes + data_start;
    const char *dtype = meta_string(meta, "kiln.dtype"); /* a converted file's parameter dtype */
    if (dtype && strcmp(dtype, "F32") != 0 && strcmp(dtype, "F16") != 0 && strcmp(dtype, "BF16") != 0 &&
        strcmp(dtype, "I8") != 0) {
        st = kn__error(ctx, KN_ERR_FORMAT, "%s: __metadata__.kiln.dtype '%.16s' is not F32, F16, BF16 or I8", path, dtype);
        goto done;
    }
    if (dtype && m->classic && strcmp(dtype, "F32") != 0) {
        st = kn__error(ctx, KN_ERR_UNSUPPORTED, "%s: kiln.dtype %s: converted files hold networks only", path, dtype);
        goto done;
    }
    if ((st = m->classic ? kn__classic_bind(m, path, header, data, data_len)
                         : bind_tensors(m, path, header, data, data_len, dtype)))
        goto done;
    const char *sum = meta_string(meta, "kiln.checksum");
    if (sum && !(opts && opts->skip_checksum)) {
        unsigned long long want;
        if (sscanf(sum, "xxh3-64:%16llx", &want) != 1) {
            st = kn__error(ctx, KN_ERR_FORMAT, "%s: kiln.checksum '%.40s' is not xxh3-64:HEX", path, sum);
            goto done;
        }
        unsigned long long got = kn__checksum(data, data_len);
        if (got != want) {
            st = kn__error(ctx, KN_ERR_FORMAT, "%s: checksum mismatch (file says %016llx, data gives %016llx): the file is damaged",
                           path, want, got);
            goto done;
        }
    }
    const char *pre = meta_string(meta, "kiln.preprocessing");
    if (pre && (st = read_preprocessing(m, path, pre))) goto done;
    const char *checkpoint = meta_string(meta, "kiln.checkpoint");
    if (checkpoint && (st = read_checkpoint(m, path, checkpoint))) goto done;
    const char *training = meta_string(meta, "kiln.training");
    if (training && (st = kn__model_set_training_summary(m, training))) goto done;
done:
    cJSON_Delete(header);
    kn__free(ctx, text);
    if (st) {
        kn_model_free(m);
        m = NULL;
    }
    *out = m;
    return st;
}

kn_status kn_model_load(kn_ctx *ctx, const char *path, const kn_load_opts *opts, kn_model **out) {
    if (!ctx || !path || !out) return KN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return kn__error(ctx, KN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return kn__error(ctx, KN_ERR_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return kn__error(ctx, KN_ERR_FORMAT, "%s: %zu bytes, too short for a model file (8-byte header length first)", path, size);
    }
    /* MAP_POPULATE: one pass sets up every page, cheaper than a fault per page later */
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return kn__error(ctx, KN_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    kn_model *m;
    kn_status st = kn__model_load_buffer(ctx, map, size, path, opts, &m);
    if (st) {
        munmap(map, size);
        return st;
    }
    m->map = map; /* the weights may point into it: the model owns the mapping now */
    m->map_size = size;
    *out = m;
    return KN_OK;
}
