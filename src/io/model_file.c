/* model_file.c — .kiln model files: valid safetensors (8-byte little-endian header length,
 * JSON header, raw little-endian tensor bytes) whose data section is exactly kiln's flat
 * parameter buffer: every tensor 64-byte aligned, the gaps named "kiln.pad.N" (U8) because
 * safetensors allows no holes. A loader maps the file and uses the weights in place. Saves
 * are atomic (temporary file, fsync, rename); loads check every length, offset, shape and
 * the XXH3 checksum of the data before anything is used. */
#define _POSIX_C_SOURCE 200809L
#include "nn/model.h"
#include "data/preprocess.h"
#include "classic/model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define KN_FORMAT_VERSION "1"
#define KN_MAX_HEADER (64u << 20) /* a header over 64 MiB is not a model's */

cJSON *kn__model_to_cjson(const kn_model *m);

/* ------------------------------------------------------------------ metadata */

static kn_status set_string(kn_ctx *ctx, char **slot, const char *value) {
    char *copy = value ? kn__strdup(ctx, value) : NULL;
    if (value && !copy) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "model: out of memory");
    kn__free(ctx, *slot);
    *slot = copy;
    return KN_OK;
}

static void free_labels(kn_model *m) {
    for (int i = 0; m->label_names && i < m->n_labels; i++) kn__free(m->ctx, m->label_names[i]);
    kn__free(m->ctx, m->label_names);
    m->label_names = NULL;
    m->n_labels = 0;
}

kn_status kn_model_set_labels(kn_model *m, const char *const *names, int n) {
    if (!m || n < 0 || (n && !names)) return KN_ERR_INVALID_ARGUMENT;
    free_labels(m);
    if (n == 0) return KN_OK;
    m->label_names = kn__calloc(m->ctx, (size_t)n, sizeof *m->label_names);
    if (!m->label_names) return kn__error(m->ctx, KN_ERR_OUT_OF_MEMORY, "model: out of memory");
    m->n_labels = n;
    for (int i = 0; i < n; i++)
        if (set_string(m->ctx, &m->label_names[i], names[i] ? names[i] : "")) {
            free_labels(m);
            return KN_ERR_OUT_OF_MEMORY;
        }
    return KN_OK;
}

const char *kn_model_label_name(const kn_model *m, int cls) {
    return m && m->label_names && cls >= 0 && cls < m->n_labels ? m->label_names[cls] : NULL;
}

double kn_model_input_scale(const kn_model *m) { return m && m->input_scale > 0 ? m->input_scale : 1.0; }

const char *kn_model_training_summary(const kn_model *m) { return m ? m->training_json : NULL; }

kn_status kn__model_set_training_summary(kn_model *m, const char *json) {
    return set_string(m->ctx, &m->training_json, json);
}

void kn__model_free_features(kn_model *m) {
    for (int64_t i = 0; m->feature_names && i < m->in_features; i++) kn__free(m->ctx, m->feature_names[i]);
    kn__free(m->ctx, m->feature_names);
    m->feature_names = NULL;
}

kn_status kn_model_set_feature_names(kn_model *m, const char *const *names, int64_t n) {
    if (!m || (n && !names)) return KN_ERR_INVALID_ARGUMENT;
    kn__model_free_features(m);
    if (n == 0) return KN_OK;
    if (n != m->in_features)
        return kn__error(m->ctx, KN_ERR_SHAPE, "model: %lld feature names for %lld inputs", (long long)n,
                         (long long)m->in_features);
    m->feature_names = kn__calloc(m->ctx, (size_t)n, sizeof *m->feature_names);
    if (!m->feature_names) return kn__error(m->ctx, KN_ERR_OUT_OF_MEMORY, "model: out of memory");
    for (int64_t i = 0; i < n; i++)
        if (set_string(m->ctx, &m->feature_names[i], names[i] ? names[i] : "")) {
            kn__model_free_features(m);
            return KN_ERR_OUT_OF_MEMORY;
        }
    return KN_OK;
}

const char *kn_model_feature_name(const kn_model *m, int64_t i) {
    return m && m->feature_names && i >= 0 && i < m->in_features ? m->feature_names[i] : NULL;
}

void kn__model_unmap(kn_model *m) {
    kn__model_free_features(m);
    if (m->map) munmap(m->map, m->map_size);
    m->map = NULL;
    kn__free(m->ctx, m->owned_params);
    m->owned_params = NULL;
    m->mapped_params = NULL;
    free_labels(m);
    kn__free(m->ctx, m->training_json);
    m->training_json = NULL;
    kn_preprocessor_free(m->prep);
    m->prep = NULL;
}

kn_status kn_model_set_preprocessor(kn_model *m, const kn_preprocessor *p) {
    if (!m || !p) return KN_ERR_INVALID_ARGUMENT;
    if (p->n_out != m->in_features)
        return kn__error(m->ctx, KN_ERR_SHAPE, "model: the preprocessing gives %lld inputs, the model takes %lld",
                         (long long)p->n_out, (long long)m->in_features);
    kn_preprocessor *copy = NULL;
    kn_status st = kn__prep_copy(p, m->ctx, &copy);
    if (!st) st = kn_model_set_feature_names(m, (const char *const *)copy->out_names, copy->n_out);
    if (!st && copy->n_labels) st = kn_model_set_labels(m, (const char *const *)copy->labels, copy->n_labels);
    if (st) {
        kn_preprocessor_free(copy);
        return st;
    }
    kn_preprocessor_free(m->prep);
    m->prep = copy;
    return KN_OK;
}

const kn_preprocessor *kn_model_preprocessor(const kn_model *m) { return m ? m->prep : NULL; }

/* ------------------------------------------------------------------ save */

static kn_status write_all(kn_ctx *ctx, int fd, const void *buf, size_t n, const char *path) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return kn__error(ctx, KN_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return KN_OK;
}

/* The header: tensors in flat-buffer order with pad entries between, and __metadata__. */
/* A checkpoint's position and history as JSON text (doubles printed to round-trip). */
static cJSON *checkpoint_json(const kn_model *m, const struct kn__train_pos *pos) {
    cJSON *c = cJSON_CreateObject();
    char num[40];
    cJSON_AddNumberToObject(c, "step", (double)m->graph->step);
    cJSON_AddNumberToObject(c, "epoch", pos->epoch);
    cJSON_AddNumberToObject(c, "epochs", pos->epochs);
    cJSON_AddNumberToObject(c, "batch", (double)pos->batch);
    cJSON_AddNumberToObject(c, "batch_size", (double)pos->batch_size);
    snprintf(num, sizeof num, "%.17g", pos->loss_sum);
    cJSON_AddStringToObject(c, "loss_sum", num); /* as text: exact */
    cJSON_AddNumberToObject(c, "correct", (double)pos->correct);
    cJSON_AddNumberToObject(c, "seen", (double)pos->seen);
    cJSON_AddNumberToObject(c, "seconds", pos->seconds);
    snprintf(num, sizeof num, "%llu", (unsigned long long)pos->seed);
    cJSON_AddStringToObject(c, "seed", num); /* as text: 64 bits exact */
    snprintf(num, sizeof num, "%.17g", pos->validation_split);
    cJSON_AddStringToObject(c, "validation_split", num);
    if (pos->control.valid) { /* training control's state, each double as exact text */
        const struct kn__control_pos *k = &pos->control;
        cJSON *ctl = cJSON_AddObjectToObject(c, "control");
        const double d[4] = {k->stop_best, k->save_best, k->plateau_best, k->base_lr};
        const char *dn[4] = {"stop_best", "save_best", "plateau_best", "base_lr"};
        for (int i = 0; i < 4; i++) {
            snprintf(num, sizeof num, "%.17g", d[i]);
            cJSON_AddStringToObject(ctl, dn[i], num);
        }
        const int v[6] = {k->stop_best_epoch, k->stop_wait, k->save_best_epoch, k->save_wait, k->plateau_wait, k->plateau_cooldown};
        const char *vn[6] = {"stop_best_epoch", "stop_wait", "save_best_epoch", "save_wait", "plateau_wait", "plateau_cooldown"};
        for (int i = 0; i < 6; i++) cJSON_AddNumberToObject(ctl, vn[i], v[i]);
    }
    if (pos->loss_scale > 0) { /* fp16's loss scaler (absent: fp32/bf16, or a checkpoint from before it) */
        cJSON *ls = cJSON_AddObjectToObject(c, "loss_scale");
        cJSON_AddNumberToObject(ls, "scale", pos->loss_scale); /* a power of two: exact as a JSON number */
        cJSON_AddNumberToObject(ls, "good", (double)pos->loss_scale_good);
        cJSON_AddNumberToObject(ls, "epoch_skipped", (double)pos->epoch_skipped);
    }
    const kn_augment *a = &pos->augment;
    if (a->shift || a->flip > 0 || a->rotate > 0 || a->noise > 0 || a->erase > 0) { /* the run's augmentation */
        const double v[8] = {a->shift, a->flip, a->rotate, a->noise, a->erase, a->shift_p, a->rotate_p, a->noise_p};
        cJSON *arr = cJSON_AddArrayToObject(c, "augment");
        for (int i = 0; i < 8; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(v[i]));
    }
    { /* the run's schedule, every field (numbers print to round-trip) */
        const kn_schedule *k = &pos->schedule;
        cJSON *sc = cJSON_AddObjectToObject(c, "schedule");
        cJSON_AddStringToObject(sc, "type", kn_schedule_name(k->kind));
        const double v[13] = {(double)k->warmup_steps, (double)k->decay_steps, k->decay_rate, k->staircase, k->alpha,
                              k->t_mul, k->m_mul, k->end_learning_rate, k->power, k->max_learning_rate, k->pct_start,
                              k->div_factor, k->final_div_factor};
        cJSON *f = cJSON_AddArrayToObject(sc, "fields");
        for (int i = 0; i < 13; i++) cJSON_AddItemToArray(f, cJSON_CreateNumber(v[i]));
        cJSON *b = cJSON_AddArrayToObject(sc, "boundaries"), *r = cJSON_AddArrayToObject(sc, "values");
        for (int i = 0; i < k->n_boundaries && i < KN_SCHEDULE_MAX_BOUNDARIES; i++) {
            cJSON_AddItemToArray(b, cJSON_CreateNumber((double)k->boundaries[i]));
            cJSON_AddItemToArray(r, cJSON_CreateNumber(k->values[i]));
        }
        if (k->n_boundaries > 0 && k->n_boundaries <= KN_SCHEDULE_MAX_BOUNDARIES)
            cJSON_AddItemToArray(r, cJSON_CreateNumber(k->values[k->n_boundaries]));
    }
    cJSON *hist = cJSON_AddArrayToObject(c, "history");
    for (int e = 0; e < pos->epoch && e < m->history.n_epochs; e++) {
        const kn_epoch_record *r = &m->records[e];
        /* fp16 rows add the epoch's skipped updates and final loss scale (other rows keep
         * the six fields older readers expect) */
        double v[8] = {r->loss, r->accuracy, r->val_loss, r->val_accuracy, r->seconds, r->learning_rate,
                       (double)r->skipped_steps, r->loss_scale};
        int fields = pos->loss_scale > 0 ? 8 : 6;
        cJSON *row = cJSON_CreateArray();
        for (int k = 0; k < fields; k++) {
            snprintf(num, sizeof num, "%.17g", v[k]);
            cJSON_AddItemToArray(row, cJSON_CreateString(num));
        }
        cJSON_AddItemToArray(hist, row);
    }
    return c;
}

static void add_tensor_entry(cJSON *h, const char *name, const char *dtype, size_t count, size_t start, size_t end) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "dtype", dtype);
    cJSON *ts = cJSON_AddArrayToObject(t, "shape");
    cJSON_AddItemToArray(ts, cJSON_CreateNumber((double)count));
    cJSON *to = cJSON_AddArrayToObject(t, "data_offsets");
    cJSON_AddItemToArray(to, cJSON_CreateNumber((double)start));
    cJSON_AddItemToArray(to, cJSON_CreateNumber((double)end));
    cJSON_AddItemToObject(h, name, t);
}

/* The metadata every kiln model file carries: format, type, architecture (the JSON
 * description), preprocessing (input shape and scale, labels, feature names, CSV
 * transforms) and the training summary. */
void kn__model_meta(const kn_model *m, cJSON *meta) {
    cJSON_AddStringToObject(meta, "format", "pt"); /* what safetensors writers put; harmless */
    cJSON_AddStringToObject(meta, "kiln.format_version", KN_FORMAT_VERSION);
    cJSON_AddStringToObject(meta, "kiln.model_type", m->classic ? m->classic->name : "sequential");
    cJSON *arch = kn__model_to_cjson(m);
    char *arch_text = arch ? cJSON_PrintUnformatted(arch) : NULL;
    cJSON_Delete(arch);
    if (arch_text) cJSON_AddStringToObject(meta, "kiln.architecture", arch_text);
    cJSON_free(arch_text);
    cJSON *pre = cJSON_CreateObject();
    cJSON *shape = cJSON_AddArrayToObject(pre, "input_shape");
    for (int i = 0; i < m->input_ndim; i++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)m->input_shape[i]));
    cJSON_AddNumberToObject(pre, "input_scale", kn_model_input_scale(m));
    cJSON *labels = cJSON_AddArrayToObject(pre, "labels");
    for (int i = 0; i < m->n_labels; i++) cJSON_AddItemToArray(labels, cJSON_CreateString(m->label_names[i]));
    if (m->feature_names) {
        cJSON *features = cJSON_AddArrayToObject(pre, "features");
        for (int64_t i = 0; i < m->in_features; i++) cJSON_AddItemToArray(features, cJSON_CreateString(m->feature_names[i]));
    }
    if (m->prep) cJSON_AddItemToObject(pre, "tabular", kn__prep_to_json(m->prep));
    char *pre_text = cJSON_PrintUnformatted(pre);
    cJSON_Delete(pre);
    if (pre_text) cJSON_AddStringToObject(meta, "kiln.preprocessing", pre_text);
    cJSON_free(pre_text);
    if (m->training_json) cJSON_AddStringToObject(meta, "kiln.training", m->training_json);
}

static char *build_header(kn_model *m, const kn_graph *g, size_t data_bytes, uint64_t checksum,
                          const struct kn__train_pos *pos) {
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
    char buf[64];
    kn__model_meta(m, meta);
    snprintf(buf, sizeof buf, "xxh3-64:%016llx", (unsigned long long)checksum);
    cJSON_AddStringToObject(meta, "kiln.checksum", buf);
    if (pos) {
        cJSON *c = checkpoint_json(m, pos);
        char *c_text = c ? cJSON_PrintUnformatted(c) : NULL;
        cJSON_Delete(c);
        if (c_text) cJSON_AddStringToObject(meta, "kiln.checkpoint", c_text);
        cJSON_free(c_text);
        if (g->state_floats) /* right after the parameters, 64-byte aligned like them */
            add_tensor_entry(h, "kiln.optimizer.state", "F32", g->state_floats, data_bytes,
                             data_bytes + g->state_floats * sizeof(float));
        if (pos->best_weights) { /* then early stopping's best weights, the flat layout again */
            size_t at = data_bytes + g->state_floats * sizeof(float);
            add_tensor_entry(h, "kiln.best_weights", "F32", g->param_floats, at, at + g->param_floats * sizeof(float));
        }
    }

    size_t at = 0;
    int pads = 0;
    for (int i = 0; i < g->n_params; i++) {
        const kn_tensor *p = g->params[i];
        size_t start = p->param_offset * sizeof(float), bytes = (size_t)kn__numel(p) * sizeof(float);
        if (start > at) { /* a gap: name it, safetensors allows no holes */
            snprintf(buf, sizeof buf, "kiln.pad.%d", pads++);
            add_tensor_entry(h, buf, "U8", start - at, at, start);
        }
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "dtype", "F32");
        cJSON *ts = cJSON_AddArrayToObject(t, "shape");
        for (int d = 0; d < p->ndim; d++) cJSON_AddItemToArray(ts, cJSON_CreateNumber((double)p->ne[d]));
        cJSON *to = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(to, cJSON_CreateNumber((double)start));
        cJSON_AddItemToArray(to, cJSON_CreateNumber((double)(start + bytes)));
        cJSON_AddItemToObject(h, p->name, t);
        at = start + bytes;
    }
    if (data_bytes > at) { /* the tail: the data section is the whole padded flat buffer */
        snprintf(buf, sizeof buf, "kiln.pad.%d", pads++);
        add_tensor_entry(h, buf, "U8", data_bytes - at, at, data_bytes);
    }
    char *text = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    return text;
}

/* Bytes of the data section: the whole flat parameter buffer, padding included, so a
 * mapped file can serve as the buffer itself. */
static size_t data_section_bytes(const kn_graph *g) { return g->param_floats * sizeof(float); }

/* Writes a safetensors file atomically: the 8-byte length, the header (padded with spaces so
 * the data section starts 64-byte aligned), then the data parts in order, into a temporary file in the same folder that is fsync'd and renamed
 * over path (then the folder fsync'd), so path holds the old file or the new, never a part. */
kn_status kn__write_model_file(kn_ctx *ctx, const char *path, const char *text, const void *const *parts,
                               const size_t *sizes, int n_parts) {
    size_t tlen = strlen(text), hlen = ((8 + tlen + 63) / 64) * 64 - 8;
    /* temporary file in the same folder, so the rename is atomic */
    size_t plen = strlen(path);
    char *tmp = kn__alloc(ctx, plen + 32), *header = kn__alloc(ctx, hlen);
    if (!tmp || !header) {
        kn__free(ctx, tmp);
        kn__free(ctx, header);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    memcpy(header, text, tlen);
    memset(header + tlen, ' ', hlen - tlen);
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    kn_status st = KN_OK;
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) st = kn__error(ctx, KN_ERR_IO, "%s: cannot create its temporary file %s: %s", path, tmp, strerror(errno));
    if (!st) st = write_all(ctx, fd, len8, 8, tmp);
    if (!st) st = write_all(ctx, fd, header, hlen, tmp);
    kn__test_point(ctx, "save:half-written");
    for (int i = 0; i < n_parts && !st; i++)
        if (sizes[i]) st = write_all(ctx, fd, parts[i], sizes[i], tmp);
    if (!st && fsync(fd) != 0) st = kn__error(ctx, KN_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    if (fd >= 0 && close(fd) != 0 && !st) st = kn__error(ctx, KN_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    kn__test_point(ctx, "save:before-rename");
    if (!st && rename(tmp, path) != 0) st = kn__error(ctx, KN_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
    if (st) {
        unlink(tmp);
    } else { /* make the rename itself durable */
        char *dir = kn__strdup(ctx, path);
        int dfd = dir ? open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        kn__free(ctx, dir);
    }
    kn__free(ctx, tmp);
    kn__free(ctx, header);
    return st;
}

kn_status kn_model_save(kn_model *m, const char *path) {
    if (!m || !path) return KN_ERR_INVALID_ARGUMENT;
    if (m->classic) return kn__classic_save(m, path);
    return kn__model_save_file(m, path, NULL);
}

kn_status kn__model_save_file(kn_model *m, const char *path, const struct kn__train_pos *pos) {
    kn_ctx *ctx = m->ctx;
    kn_status st = kn__model_ensure_graph(m, 1, pos != NULL);
    if (!st) st = kn__model_pull(m); /* the parameters and state a device graph holds */
    if (st) return st;
    const kn_graph *g = m->graph;
    size_t data_bytes = data_section_bytes(g);
    size_t state_bytes = pos ? g->state_floats * sizeof(float) : 0;
    size_t best_bytes = pos && pos->best_weights ? g->param_floats * sizeof(float) : 0;
    const void *parts[3] = {g->param_buf, g->state_buf, pos ? pos->best_weights : NULL};
    size_t sizes[3] = {data_bytes, state_bytes, best_bytes};
    uint64_t checksum = kn__checksum_parts(parts, sizes, best_bytes ? 3 : state_bytes ? 2 : 1);
    char *header = build_header(m, g, data_bytes, checksum, pos);
    if (!header) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory building the header", path);

    st = kn__write_model_file(ctx, path, header, parts, sizes, 3);
    cJSON_free(header);
    return st;
}
