/* model_convert.c — half-precision and int8 model files (kn_model_save_as): a network's
 * parameters stored as F16 or BF16 safetensors tensors, or (int8) the weights its int8
 * inference graph packs stored as I8 with a kiln.scale.NAME F32 tensor of their columns'
 * scales and every other parameter F32, each tensor 64-byte aligned (gaps named
 * kiln.pad.N, as model_file.c does), with the same metadata as an f32 file plus kiln.dtype. The data
 * section is not kiln's flat f32 buffer, so such a file is never mapped in place: the
 * loader (model_load.c) widens it to f32, and computation stays f32. No checkpoint or
 * optimizer state goes in: a converted file is for inference. */
#include "nn/model.h"
#include "backend/cpu/q8.h"
#include "core/half.h"
#include "graph/graph.h"

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

/* ------------------------------------------------------------- int8 files */

/* The packed int8 weights (backend/cpu/q8.h) an int8 inference graph of m would run with,
 * by parameter offset: an inference graph built, its parameters m's current ones, frozen
 * (so batch norms fold as in a loaded model), compiled and packed. *gout owns the packs. */
static kn_status int8_graph(kn_model *m, const float *params, kn_graph **gout) {
    graph_refs saved;
    kn__model_save_refs(m, &saved);
    kn_graph *g = NULL;
    kn_status st = kn__model_build_graph(m, &g, false);
    if (!st) {
        g->quant = KN_QUANT_INT8;
        g->shared_params = params;
        st = kn_graph_freeze_params(g);
    }
    if (!st) st = kn_graph_compile(g, 1, false);
    kn__model_restore_refs(m, &saved);
    if (st) {
        kn_graph_free(g);
        return st;
    }
    kn__graph_refold_now(g); /* (folded weights are packed too, though no parameter is theirs) */
    kn__q8_graph_pack(g);
    *gout = g;
    return KN_OK;
}

/* The pack of the parameter at param_offset off in g (a node multiplying by it, or by a view
 * of it), or NULL: that parameter stays f32. */
static const kn__q8_weights *pack_of(const kn_graph *g, size_t off) {
    for (int i = 0; i < g->n_nodes; i++) {
        const kn_tensor *t = g->nodes[i], *b;
        if (!kn__q8_node(g, t)) continue;
        b = t->src[1]->op == KN_OP_RESHAPE ? t->src[1]->src[0] : t->src[1];
        if (b->op == KN_OP_PARAM && b->param_offset == off) return t->aux;
    }
    return NULL;
}

/* W (k, n) as int8, row-major, from the pack's panels. */
static void unpack_q8(const kn__q8_weights *w, int8_t *q) {
    for (int64_t r = 0; r < w->k; r++)
        for (int64_t j = 0; j < w->n; j++)
            q[r * w->n + j] = w->packed[(j / KN_Q8_PANEL) * w->k4 * 64 + (r / 4) * 64 + (j % KN_Q8_PANEL) * 4 + r % 4];
}

kn_status kn_model_save_as(kn_model *m, const char *path, kn_dtype dtype) {
    if (!m || !path) return KN_ERR_INVALID_ARGUMENT;
    if (dtype == KN_F32) return kn_model_save(m, path);
    kn_ctx *ctx = m->ctx;
    if (dtype != KN_F16 && dtype != KN_BF16 && dtype != KN_I8)
        return kn__error(ctx, KN_ERR_DTYPE,
                         "%s: convert: a model's parameters can be stored as f32, f16, bf16 or int8, not %s", path,
                         kn_dtype_name(dtype));
    if (m->classic)
        return kn__error(ctx, KN_ERR_UNSUPPORTED, "%s: convert: only networks so far (this is a %s model)", path,
                         kn_model_type(m));
    kn_status st = kn__model_ensure_graph(m, 1, false);
    if (!st) st = kn__model_pull(m); /* the parameters a device graph holds */
    if (st) return st;
    const kn_graph *g = m->graph;
    kn_graph *qg = NULL; /* int8: the packs */
    if (dtype == KN_I8 && (st = int8_graph(m, g->param_buf, &qg))) return st;
    int packed = 0;
    for (int i = 0; qg && i < g->n_params; i++) packed += pack_of(qg, g->params[i]->param_offset) != NULL;
    if (qg && !packed) {
        kn_graph_free(qg);
        return kn__error(ctx, KN_ERR_UNSUPPORTED,
                         "%s: convert: no layer of this model runs in int8 (dense layers of 16 or more units, ungrouped conv2d "
                         "layers of 16 or more filters over 32 or more inputs a window do), so the file would hold its "
                         "f32 weights only: keep it f32, or convert to fp16 or bf16", path);
    }
    const char *name = dtype == KN_F16 ? "F16" : dtype == KN_BF16 ? "BF16" : "I8";
    /* the layout first: each tensor 64-byte aligned, as in an f32 file; int8 weights, then
     * their scales (kiln.scale.NAME, F32), the rest f32 */
    size_t bytes = 0;
    for (int i = 0; i < g->n_params; i++) {
        const kn_tensor *p = g->params[i];
        const kn__q8_weights *w = qg ? pack_of(qg, p->param_offset) : NULL;
        size_t n = (size_t)kn__numel(p);
        if (w) bytes = (bytes + 63) / 64 * 64 + n, bytes = (bytes + 63) / 64 * 64 + (size_t)w->n * 4;
        else bytes = (bytes + 63) / 64 * 64 + n * (dtype == KN_I8 ? 4 : 2);
    }
    bytes = (bytes + 63) / 64 * 64;
    uint8_t *data = kn__calloc(ctx, bytes ? bytes : 1, 1); /* zeroed: the padding's bytes */
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = h ? cJSON_AddObjectToObject(h, "__metadata__") : NULL;
    if (!data || !meta) {
        kn__free(ctx, data);
        cJSON_Delete(h);
        kn_graph_free(qg);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    kn__model_meta(m, meta);
    cJSON_AddStringToObject(meta, "kiln.dtype", name);
    size_t at = 0;
    int pads = 0;
    char buf[96];
    for (int i = 0; i < g->n_params; i++) {
        const kn_tensor *p = g->params[i];
        const kn__q8_weights *w = qg ? pack_of(qg, p->param_offset) : NULL;
        for (int part = 0; part < (w ? 2 : 1); part++) { /* int8: the weights, then their scales */
            size_t n = part ? (size_t)w->n : (size_t)kn__numel(p);
            size_t es = w && !part ? 1 : dtype == KN_I8 ? 4 : 2, start = (at + 63) / 64 * 64;
            if (start > at) {
                snprintf(buf, sizeof buf, "kiln.pad.%d", pads++);
                add_entry(h, buf, "U8", (int64_t[]){(int64_t)(start - at)}, 1, at, start);
            }
            const float *src = g->param_buf + p->param_offset;
            if (w && !part) {
                unpack_q8(w, (int8_t *)(data + start));
                add_entry(h, p->name, "I8", p->ne, p->ndim, start, start + n);
            } else if (part) {
                memcpy(data + start, w->scale, n * sizeof(float));
                snprintf(buf, sizeof buf, "kiln.scale.%s", p->name);
                add_entry(h, buf, "F32", (int64_t[]){(int64_t)n}, 1, start, start + n * 4);
            } else if (dtype == KN_I8) { /* a parameter an int8 graph keeps f32 */
                memcpy(data + start, src, n * sizeof(float));
                add_entry(h, p->name, "F32", p->ne, p->ndim, start, start + n * 4);
            } else {
                uint16_t *dst = (uint16_t *)(data + start); /* 64-byte aligned: a uint16_t's alignment holds */
                if (dtype == KN_F16) kn__f32_to_f16(src, dst, n);
                else kn__f32_to_bf16(src, dst, n);
                add_entry(h, p->name, name, p->ne, p->ndim, start, start + n * 2);
            }
            at = start + n * es;
        }
    }
    kn_graph_free(qg);
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
