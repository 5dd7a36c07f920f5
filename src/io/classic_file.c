/* classic_file.c — classical models in .kiln files: the same safetensors container and
 * metadata as networks (io/model_file.c's kn__model_meta: type, architecture = the
 * hyperparameters, preprocessing, labels, training summary, checksum), with the fitted state
 * as named tensors (coef, tree/feature, sv, ...) of dtypes F32, I32 or U8, each 64-byte
 * aligned. Loading checks every tensor's dtype, shape and extent against the file before the
 * model's own load checks their contents. */
#include "classic/model.h"
#include "nn/model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

enum { MAX_TENSORS = 64 };

static const char *dtype_name(kn_dtype t) { return t == KN_I32 ? "I32" : t == KN_U8 ? "U8" : "F32"; }
static size_t dtype_bytes(kn_dtype t) { return t == KN_U8 ? 1 : 4; }

kn_status kn__classic_save(kn_model *m, const char *path) {
    kn_ctx *ctx = m->ctx;
    if (!m->c_fitted) return kn__error(ctx, KN_ERR_STATE, "%s: save before fit: a classical model is its fitted state", path);
    kn__ctensor t[MAX_TENSORS];
    int n = m->classic->tensors(ctx, m->cstate, t, MAX_TENSORS);
    if (n < 0) return KN_ERR_OUT_OF_MEMORY; /* tensors() set the error */
    if (n > MAX_TENSORS) return kn__error(ctx, KN_ERR_STATE, "%s: %d tensors (at most %d)", path, n, MAX_TENSORS);
    /* layout: each tensor 64-byte aligned; the gaps named as padding, safetensors allows no holes */
    const void *parts[2 * MAX_TENSORS];
    size_t sizes[2 * MAX_TENSORS], at = 0;
    static const uint8_t zeros[64];
    int n_parts = 0, pads = 0;
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
    kn__model_meta(m, meta);
    uint64_t checksum = 0;
    for (int i = 0; i < n; i++) {
        size_t count = (size_t)t[i].shape[0] * (size_t)(t[i].ndim > 1 ? t[i].shape[1] : 1), bytes = count * dtype_bytes(t[i].dtype);
        size_t start = (at + 63) / 64 * 64;
        if (start > at) {
            char name[32];
            snprintf(name, sizeof name, "kiln.pad.%d", pads++);
            cJSON *p = cJSON_AddObjectToObject(h, name);
            cJSON_AddStringToObject(p, "dtype", "U8");
            cJSON *ps = cJSON_AddArrayToObject(p, "shape");
            cJSON_AddItemToArray(ps, cJSON_CreateNumber((double)(start - at)));
            cJSON *po = cJSON_AddArrayToObject(p, "data_offsets");
            cJSON_AddItemToArray(po, cJSON_CreateNumber((double)at));
            cJSON_AddItemToArray(po, cJSON_CreateNumber((double)start));
            parts[n_parts] = zeros;
            sizes[n_parts++] = start - at;
        }
        cJSON *o = cJSON_AddObjectToObject(h, t[i].name);
        cJSON_AddStringToObject(o, "dtype", dtype_name(t[i].dtype));
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        for (int k = 0; k < t[i].ndim; k++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t[i].shape[k]));
        cJSON *off = cJSON_AddArrayToObject(o, "data_offsets");
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)start));
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)(start + bytes)));
        parts[n_parts] = t[i].data;
        sizes[n_parts++] = bytes;
        at = start + bytes;
    }
    checksum = kn__checksum_parts(parts, sizes, n_parts);
    char buf[64];
    snprintf(buf, sizeof buf, "xxh3-64:%016llx", (unsigned long long)checksum);
    cJSON_AddStringToObject(meta, "kiln.checksum", buf);
    char *text = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!text) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory building the header", path);
    kn_status st = kn__write_model_file(ctx, path, text, parts, sizes, n_parts);
    cJSON_free(text);
    return st;
}

kn_status kn__classic_bind(kn_model *m, const char *path, const cJSON *header, const uint8_t *data, size_t data_len) {
    kn_ctx *ctx = m->ctx;
    kn__ctensor t[MAX_TENSORS];
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, header) {
        const char *name = e->string;
        if (strcmp(name, "__metadata__") == 0 || strncmp(name, "kiln.pad.", 9) == 0) continue;
        if (n == MAX_TENSORS) return kn__error(ctx, KN_ERR_FORMAT, "%s: over %d tensors", path, MAX_TENSORS);
        if (strlen(name) >= sizeof t[n].name) return kn__error(ctx, KN_ERR_FORMAT, "%s: tensor name '%.40s...' too long", path, name);
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype"), *sh = cJSON_GetObjectItemCaseSensitive(e, "shape"),
                    *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        kn__ctensor *c = &t[n];
        snprintf(c->name, sizeof c->name, "%s", name);
        if (!cJSON_IsString(dt)) return kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%s': no dtype", path, name);
        if (strcmp(dt->valuestring, "F32") == 0) c->dtype = KN_F32;
        else if (strcmp(dt->valuestring, "I32") == 0) c->dtype = KN_I32;
        else if (strcmp(dt->valuestring, "U8") == 0) c->dtype = KN_U8;
        else return kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%s': dtype %.16s (expected F32, I32 or U8)", path, name, dt->valuestring);
        int nd = cJSON_IsArray(sh) ? cJSON_GetArraySize(sh) : -1;
        if (nd < 1 || nd > 2) return kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%s': shape must have 1 or 2 dimensions", path, name);
        c->ndim = nd;
        double count = 1;
        for (int k = 0; k < nd; k++) {
            const cJSON *v = cJSON_GetArrayItem(sh, k);
            if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 0x1p40 || v->valuedouble != floor(v->valuedouble))
                return kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%s': bad shape", path, name);
            c->shape[k] = (int64_t)v->valuedouble;
            count *= v->valuedouble;
        }
        if (nd == 1) c->shape[1] = 1;
        const cJSON *a = cJSON_IsArray(off) && cJSON_GetArraySize(off) == 2 ? cJSON_GetArrayItem(off, 0) : NULL;
        const cJSON *b = a ? cJSON_GetArrayItem(off, 1) : NULL;
        if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b) || !(a->valuedouble >= 0) || b->valuedouble < a->valuedouble ||
            b->valuedouble > (double)data_len || a->valuedouble != floor(a->valuedouble))
            return kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%s': data_offsets outside the %zu-byte data section", path, name, data_len);
        size_t start = (size_t)a->valuedouble, end = (size_t)b->valuedouble;
        if ((double)(end - start) != count * (double)dtype_bytes(c->dtype))
            return kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%s': %zu bytes for its shape's %.0f values", path, name, end - start, count);
        if (start % dtype_bytes(c->dtype))
            return kn__error(ctx, KN_ERR_FORMAT, "%s: tensor '%s': offset %zu not aligned to its element size", path, name, start);
        c->data = data + start;
        n++;
    }
    /* The loaders read the tensors as float and int32 arrays. kiln's writer puts the data
     * section on a 64-byte boundary, but a header whose length is not a multiple of 4 (a
     * hand-edited or another writer's file) leaves it unaligned in memory: such tensors are
     * read from aligned copies, freed once the model has taken its own. */
    void *copies[MAX_TENSORS];
    int n_copies = 0;
    kn_status st = KN_OK;
    for (int i = 0; i < n && !st; i++) {
        size_t bytes = (size_t)t[i].shape[0] * (size_t)t[i].shape[1] * dtype_bytes(t[i].dtype);
        if ((uintptr_t)t[i].data % dtype_bytes(t[i].dtype) == 0) continue;
        void *copy = kn__alloc(ctx, bytes ? bytes : 1);
        if (!copy) {
            st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: tensor '%s': out of memory for an aligned copy of %zu bytes", path,
                           t[i].name, bytes);
            break;
        }
        memcpy(copy, t[i].data, bytes);
        t[i].data = copies[n_copies++] = copy;
    }
    if (!st) st = m->classic->load(ctx, m->cstate, t, n, m->in_features, (int)m->c_outputs, path);
    for (int i = 0; i < n_copies; i++) kn__free(ctx, copies[i]);
    if (!st) m->c_fitted = true;
    return st;
}
