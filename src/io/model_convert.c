/* model_convert.c — half-precision model files (kn_model_save_as): a network's parameters
 * stored as F16 or BF16 safetensors tensors, each 64-byte aligned (gaps named kiln.pad.N,
 * as model_file.c does), with the same metadata as an f32 file plus kiln.dtype. The data
 * section is not kiln's flat f32 buffer, so such a file is never mapped in place: the
 * loader (model_load.c) widens it to f32, and computation stays f32. No checkpoint or
 * optimizer state goes in: a converted file is for inference. */
#include "nn/model.h"
#include "core/half.h"

#include <cjson/cJSON.h>
#include <string.h>

static void add_entry(cJSON *h, const char *name, const char *dtype, const int64_t *shape, int ndim, size_t start,
                      size_t end) {
    cJSON *t = cJSON_AddObjectToObject(h, name);
    cJSON_AddStringToObject(t, "dtype", dtype);
    cJSON *ts = cJSON_AddArrayToObject(t, "shape");
    for (int d = 0; d < ndim; d++) cJSON_AddItemToArray(ts, cJSON_CreateNumber((double)shape[d]));
    cJSON *to = cJSON_AddArrayToObject(t, "data_offsets");
    cJSON_AddItemToArray(to, cJSON_CreateNumber((double)start));
    cJSON_AddItemToArray(to, cJSON_CreateNumber((double)end));
}

kn_dtype kn_model_param_dtype(const kn_model *m) { return m ? m->file_dtype : KN_F32; }

kn_status kn_model_save_as(kn_model *m, const char *path, kn_dtype dtype) {
    if (!m || !path) return KN_ERR_INVALID_ARGUMENT;
    if (dtype == KN_F32) return kn_model_save(m, path);
    kn_ctx *ctx = m->ctx;
    if (dtype != KN_F16 && dtype != KN_BF16)
        return kn__error(ctx, KN_ERR_DTYPE, "%s: convert: a model's parameters can be stored as f32, f16 or bf16, not %s",
                         path, kn_dtype_name(dtype));
    if (m->classic)
        return kn__error(ctx, KN_ERR_UNSUPPORTED, "%s: convert: only networks so far (this is a %s model)", path,
                         kn_model_type(m));
    kn_status st = kn__model_ensure_graph(m, 1, false);
    if (!st) st = kn__model_pull(m); /* the parameters a device graph holds */
    if (st) return st;
    const kn_graph *g = m->graph;
    const char *name = dtype == KN_F16 ? "F16" : "BF16";
    /* the layout first: each tensor 64-byte aligned (32 halves), as in an f32 file */
    size_t bytes = 0;
    for (int i = 0; i < g->n_params; i++) bytes = (bytes + 63) / 64 * 64 + (size_t)kn__numel(g->params[i]) * 2;
    bytes = (bytes + 63) / 64 * 64;
    uint8_t *data = kn__calloc(ctx, bytes ? bytes : 1, 1); /* zeroed: the padding's bytes */
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = h ? cJSON_AddObjectToObject(h, "__metadata__") : NULL;
    if (!data || !meta) {
        kn__free(ctx, data);
        cJSON_Delete(h);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    kn__model_meta(m, meta);
    cJSON_AddStringToObject(meta, "kiln.dtype", name);
    size_t at = 0;
    int pads = 0;
    char buf[64];
    for (int i = 0; i < g->n_params; i++) {
        const kn_tensor *p = g->params[i];
        size_t start = (at + 63) / 64 * 64, n = (size_t)kn__numel(p);
        if (start > at) {
            snprintf(buf, sizeof buf, "kiln.pad.%d", pads++);
            add_entry(h, buf, "U8", (int64_t[]){(int64_t)(start - at)}, 1, at, start);
        }
        const float *src = g->param_buf + p->param_offset;
        uint16_t *dst = (uint16_t *)(data + start); /* 64-byte aligned: a uint16_t's alignment holds */
        if (dtype == KN_F16) kn__f32_to_f16(src, dst, n);
        else kn__f32_to_bf16(src, dst, n);
        add_entry(h, p->name, name, p->ne, p->ndim, start, start + n * 2);
        at = start + n * 2;
    }
    if (bytes > at) {
        snprintf(buf, sizeof buf, "kiln.pad.%d", pads++);
        add_entry(h, buf, "U8", (int64_t[]){(int64_t)(bytes - at)}, 1, at, bytes);
    }
    snprintf(buf, sizeof buf, "xxh3-64:%016llx", (unsigned long long)kn__checksum(data, bytes));
    cJSON_AddStringToObject(meta, "kiln.checksum", buf);
    char *text = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!text) st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory building the header", path);
    const void *parts[1] = {data};
    size_t sizes[1] = {bytes};
    if (!st) st = kn__write_model_file(ctx, path, text, parts, sizes, 1);
    cJSON_free(text);
    kn__free(ctx, data);
    return st;
}
