/* resident.c — the training data kept on the graph's device for fit (backend.h's
 * resident_*): the tables of the model's inputs in their storage types (the features,
 * narrowed once when the input is half; the targets in the form the loss takes; the row
 * weights), bound once per fit, the epoch's order uploaded once per epoch, and each step
 * then one run that gathers, trains and counts on the device with nothing copied. Only
 * for backends that offer it (not the CPU one, whose host loop is already the fastest way
 * on the host) and for the plain case: one rank or NCCL's data parallel (fit decides),
 * augmentation only where the backend augments (resident_augment: this file makes each
 * epoch's draws, the device applies them), no test hook, no fp16 loss scaling with
 * gradient accumulation (the scaler checks the group's sum). Separate validation data's
 * rows follow the training rows; accumulation sums on the device. */
#include "resident.h"
#include "backend/backend.h"
#include "data/dataset.h"
#include "core/half.h"
#include "core/pool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* KILN_RESIDENT=0: every batch through the host (the comparison the tests make). */
static bool resident_allowed(void) {
    const char *e = getenv("KILN_RESIDENT");
    return !(e && strcmp(e, "0") == 0);
}

static void release_tables(kn_ctx *ctx, kn__resident *r) {
    kn__free(ctx, r->x_half);
    kn__free(ctx, r->y_rows);
    kn__free(ctx, r->order);
    kn__free(ctx, r->weights);
    kn__free(ctx, r->draws);
    r->x_half = NULL, r->y_rows = NULL, r->order = NULL, r->weights = NULL, r->draws = NULL;
}

_Static_assert((long)KN_RESIDENT_SCALE_MIN == (long)KN_LOSS_SCALE_MIN && (long)KN_RESIDENT_SCALE_MAX == (long)KN_LOSS_SCALE_MAX,
               "the backends' loss-scale bounds are loss_scale.h's");

kn_status kn__resident_open(kn__resident *r, kn_model *m, const kn_dataset *data, const kn_dataset *val, int64_t n_train,
                            const float *row_w, const kn__loss_scale *scaler, bool accumulate, void *nccl, bool eligible,
                            const kn__loader *aug) {
    memset(r, 0, sizeof *r);
    kn_graph *g = m->graph;
    const kn_backend_iface *bi = g->backend.iface;
    int64_t outs = kn_model_output_size(m);
    if (!eligible || !bi->resident_open || !resident_allowed() || n_train > INT32_MAX || outs > KN_HALF_BLOCK) return KN_OK;
    /* augmenting: on the device when the backend can, the features f32 images as stored */
    if (aug && (!bi->resident_augment || (m->x->dtype != KN_F32 && m->x->dtype != KN_BF16 && m->x->dtype != KN_F16) ||
                (int64_t)aug->h * aug->w * aug->c != data->features))
        return KN_OK;
    /* separate validation data: its rows follow the training rows' on the device */
    if (val && (!val->labels != !data->labels || !val->targets != !data->targets || val->features != data->features))
        return KN_OK;
    kn_ctx *ctx = m->ctx;
    int64_t n_first = data->n, n = data->n + (val ? val->n : 0), f = data->features;
    if (n > INT32_MAX) return KN_OK;
    kn_resident_desc d = {.n_rows = n, .n_first = n_first, .labels = data->labels, .labels_rest = val ? val->labels : NULL,
                          .loss = m->loss, .out = m->out, .outs = outs, .threshold = kn__decision_threshold(&m->copts)};
    d.accumulate = accumulate;
    d.nccl = nccl;
    if (scaler->on) { /* fp16: the scaler continues on the device from where fit has it (not
                       * with accumulation, whose check is the group's sum: the host loop) */
        if (!g->loss_seed || accumulate) return KN_OK;
        d.loss_seed = g->loss_seed;
        d.scale = scaler->scale;
        d.good = scaler->good;
        d.interval = scaler->interval;
    }
    /* the features, in the input's storage type (narrowed: one piece of all n rows) */
    size_t x_elem = kn_dtype_size(m->x->dtype);
    kn_resident_table x_table = {m->x, data->x, val ? val->x : NULL, (size_t)f * x_elem};
    if (aug && m->x->dtype != KN_F32) { /* augmenting a half input: the f32 rows, narrowed after (by the gather) */
        x_table.row_bytes = (size_t)f * sizeof(float);
        d.narrow_x = true;
    } else if (m->x->dtype == KN_BF16 || m->x->dtype == KN_F16) {
        if (!(r->x_half = kn__alloc(ctx, (size_t)n * (size_t)f * x_elem))) goto oom;
        for (int piece = 0; piece < 2; piece++) {
            const kn_dataset *src = piece ? val : data;
            if (!src) continue;
            void *dst = (uint8_t *)r->x_half + (size_t)(piece ? n_first : 0) * (size_t)f * x_elem;
            if (m->x->dtype == KN_BF16) kn__f32_to_bf16(src->x, dst, (size_t)(src->n * f));
            else kn__f32_to_f16(src->x, dst, (size_t)(src->n * f));
        }
        x_table.rows = r->x_half, x_table.rest = NULL;
    } else if (m->x->dtype != KN_F32) {
        return KN_OK; /* not an input kiln's loaders fill: the host loop */
    }
    d.tables[d.n_tables++] = x_table;
    /* the targets, as load_targets (batch.c) writes them */
    if (m->y->dtype == KN_I32) {
        d.tables[d.n_tables++] = (kn_resident_table){m->y, data->labels, val ? val->labels : NULL, sizeof(int32_t)};
    } else if (data->targets) {
        d.tables[d.n_tables++] = (kn_resident_table){m->y, data->targets, val ? val->targets : NULL, (size_t)outs * sizeof(float)};
    } else {
        if (!(r->y_rows = kn__calloc(ctx, (size_t)n * (size_t)outs, sizeof(float)))) goto oom;
        for (int64_t i = 0; i < n; i++) {
            int32_t label = i < n_first ? data->labels[i] : val->labels[i - n_first];
            if (outs == 1) r->y_rows[i] = (float)label;      /* binary: the label as 0/1 */
            else r->y_rows[i * outs + label] = 1.0f;        /* one-hot */
        }
        d.tables[d.n_tables++] = (kn_resident_table){m->y, r->y_rows, NULL, (size_t)outs * sizeof(float)};
    }
    if (m->sw) { /* each row's weight: the training rows' (ones without weighting), and 1 for the
                  * validation rows, which evaluation weighs equally (as load_targets) */
        if (!(r->weights = kn__alloc(ctx, (size_t)n * sizeof(float)))) goto oom;
        for (int64_t i = 0; i < n; i++) r->weights[i] = row_w && i < n_train ? row_w[i] : 1.0f;
        d.tables[d.n_tables++] = (kn_resident_table){m->sw, r->weights, NULL, sizeof(float)};
    }
    if (!(r->order = kn__alloc(ctx, (size_t)(n > 0 ? n : 1) * sizeof *r->order))) goto oom; /* (training or validation rows) */
    if (aug) {
        if (!(r->draws = kn__alloc(ctx, (size_t)(n_train > 0 ? n_train : 1) * sizeof *r->draws))) goto oom;
        d.augment = true;
        d.aug_h = aug->h, d.aug_w = aug->w, d.aug_c = aug->c;
        d.aug_sigma = aug->aug.noise;
    }
    bool placed = false;
    kn_status st = bi->resident_open(g, &d, &placed);
    if (st || !placed) {
        release_tables(ctx, r);
        return st;
    }
    r->on = true;
    r->graph = g;
    r->accumulate = accumulate;
    r->val_first = val ? n_first : -1;
    r->aug = aug;
    r->n_train = n_train;
    g->resident_skipped = 0; /* the device counts fp16's skips from here */
    return KN_OK;
oom:
    release_tables(ctx, r);
    return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "fit: out of memory for the training data's device tables");
}

/* The epoch's augmentation draws, DRAW_ROWS rows a chunk of the worker pool (each row's
 * draws depend on nothing else, so neither do the chunks). */
enum { DRAW_ROWS = 2048 };
typedef struct {
    const kn__loader *l;
    kn__augment_draw *draws;
    int64_t n;
    uint64_t stream;
} draw_job;

static void draw_chunk(void *arg, int64_t chunk) {
    const draw_job *j = arg;
    const kn__loader *l = j->l;
    int64_t hi = (chunk + 1) * DRAW_ROWS < j->n ? (chunk + 1) * DRAW_ROWS : j->n;
    for (int64_t row = chunk * DRAW_ROWS; row < hi; row++)
        kn__augment_draw_one(&l->aug, l->h, l->w, l->seed, j->stream, row, &j->draws[row]);
}

kn_status kn__resident_epoch(kn__resident *r, const int64_t *perm, int64_t n, int epoch) {
    kn_graph *g = r->graph;
    for (int64_t i = 0; i < n; i++) r->order[i] = (int32_t)perm[i];
    kn_resident_stats unused;
    kn_status st = KN_OK;
    if (r->aug) { /* keyed by dataset row, as the loader's: the same draws whatever the batch */
        draw_job job = {r->aug, r->draws, r->n_train, kn__loader_augment_stream(epoch)};
        kn__pool_run(kn_ctx_threads(g->ctx), (r->n_train + DRAW_ROWS - 1) / DRAW_ROWS, draw_chunk, &job);
        st = g->backend.iface->resident_augment(g, r->draws, r->n_train);
    }
    if (!st) st = g->backend.iface->resident_order(g, r->order, n);
    if (!st) st = g->backend.iface->resident_stats(g, &unused, true); /* the epoch's sums from zero */
    return st;
}

kn_status kn__resident_step(kn__resident *r, int64_t first, int64_t rows, int64_t micro, bool update, int64_t group_rows) {
    kn_graph *g = r->graph;
    kn_status st = kn_graph_set_batch(g, rows);
    if (st) return st;
    g->resident_first = first;
    unsigned mask = KN_PHASE_TRAIN | KN_RUN_RESIDENT;
    g->rng_micro_next = micro; /* (as fit's host loop) */
    if (r->accumulate) { /* 1 / the group's rows */
        g->grad_acc_scale = 1.0f / (float)group_rows;
        mask |= KN_RUN_ACCUMULATE;
        if (!update) mask &= ~(unsigned)KN_PHASE_UPDATE;
    }
    return kn__graph_run_phases(g, mask);
}

kn_status kn__resident_evaluate(kn__resident *r, kn_model *m, int64_t start, int64_t count, double *loss, double *accuracy,
                                bool labels) {
    kn_graph *g = r->graph;
    for (int64_t i = 0; i < count; i++) r->order[i] = (int32_t)(start + i);
    kn_resident_stats s;
    kn_status st = g->backend.iface->resident_order(g, r->order, count);
    if (!st) st = g->backend.iface->resident_stats(g, &s, true);
    for (int64_t i = 0; i < count && !st; i += m->max_batch) {
        int64_t b = count - i < m->max_batch ? count - i : m->max_batch;
        if ((st = kn_graph_set_batch(g, b))) break;
        g->resident_first = i;
        st = kn__graph_run_phases(g, KN_PHASE_FORWARD | KN_PHASE_LOSS | KN_RUN_RESIDENT);
    }
    if (!st) st = g->backend.iface->resident_stats(g, &s, true);
    if (st) return st;
    *loss = count ? s.loss_sum / (double)count : NAN; /* as kn__model_evaluate_range sums them */
    *accuracy = labels && count ? (double)s.correct / (double)count : NAN;
    return KN_OK;
}

void kn__resident_augment_row(const kn__resident *r, int64_t row, float *x, float *scratch) {
    if (!r->aug || row < 0 || row >= r->n_train) return;
    const kn__loader *l = r->aug;
    kn__augment_apply(&r->draws[row], x, l->h, l->w, l->c, l->aug.noise, scratch);
}

kn_status kn__resident_stats(kn__resident *r, kn_resident_stats *s) {
    return r->graph->backend.iface->resident_stats(r->graph, s, false);
}

void kn__resident_close(kn__resident *r, kn_ctx *ctx) {
    if (r->on) r->graph->backend.iface->resident_close(r->graph);
    release_tables(ctx, r);
    memset(r, 0, sizeof *r);
}
