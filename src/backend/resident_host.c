/* resident_host.c — the resident training step's extra work (backend.h, KN_RUN_RESIDENT)
 * done on the host: the gather of a batch's rows from the bound tables, the step's figures
 * after the loss, and the guard before the update. The mirror test backend runs it between
 * its kernel phases, which is the order the CUDA backend's kernels follow on the device
 * (backend/cuda/resident.c), so the tests of fit's resident loop run here without a GPU. */
#include "backend.h"
#include "core/half.h"

#include <math.h>
#include <string.h>

bool kn__resident_placeable(const kn_graph *g, const kn_resident_desc *d) {
    for (int i = 0; i < g->n_nodes; i++) {
        const kn_tensor *t = g->nodes[i];
        if (t->op != KN_OP_INPUT || t->alias || !kn__nbytes(t) || t == d->loss_seed) continue;
        bool bound = false;
        for (int k = 0; k < d->n_tables; k++) bound |= d->tables[k].input == t;
        if (!bound) return false; /* a resident run copies no input in */
    }
    for (int k = 0; k < d->n_tables; k++) {
        const kn_tensor *in = d->tables[k].input;
        const uint8_t *p = in->data;
        if (kn__resident_input_row_bytes(d, k) * (size_t)g->batch != kn__nbytes(in) || !p || p < g->arena ||
            p >= g->arena + g->arena_bytes)
            return false;
    }
    if (d->narrow_x && (!d->augment || d->n_tables < 1 || (d->tables[0].input->dtype != KN_BF16 && d->tables[0].input->dtype != KN_F16)))
        return false;
    return d->loss && (!d->loss_seed || g->loss_seed == d->loss_seed) && !(d->accumulate && d->loss_seed);
}

kn_status kn__resident_host_open(kn_graph *g, kn__resident_host **r, const kn_resident_desc *d) {
    kn__resident_host *h = kn__calloc(g->ctx, 1, sizeof *h);
    if (!h) return kn__error(g->ctx, KN_ERR_OUT_OF_MEMORY, "resident: out of memory");
    h->desc = *d;
    if (d->accumulate && !(h->acc = kn__calloc(g->ctx, g->param_floats ? g->param_floats : 1, sizeof(float)))) {
        kn__free(g->ctx, h);
        return kn__error(g->ctx, KN_ERR_OUT_OF_MEMORY, "resident: out of memory for the gradient accumulator");
    }
    size_t image = (size_t)d->aug_h * (size_t)d->aug_w * (size_t)d->aug_c;
    /* (a row being augmented before it is narrowed, then kn__augment_apply's scratch) */
    if (d->augment && !(h->aug_scratch = kn__alloc(g->ctx, (image ? 2 * image : 1) * sizeof(float)))) {
        kn__free(g->ctx, h->acc);
        kn__free(g->ctx, h);
        return kn__error(g->ctx, KN_ERR_OUT_OF_MEMORY, "resident: out of memory for the augmentation's scratch");
    }
    h->stats.failed_step = -1;
    h->stats.scale = d->loss_seed ? d->scale : 1.0f;
    h->stats.good = d->good;
    *r = h;
    return KN_OK;
}

kn_status kn__resident_host_order(kn_graph *g, kn__resident_host *r, const int32_t *order, int64_t n) {
    if (n > r->cap_order) {
        int32_t *o = kn__alloc(g->ctx, (size_t)n * sizeof *o);
        if (!o) return kn__error(g->ctx, KN_ERR_OUT_OF_MEMORY, "resident: out of memory for the order of %lld rows", (long long)n);
        kn__free(g->ctx, r->order);
        r->order = o;
        r->cap_order = n;
    }
    memcpy(r->order, order, (size_t)n * sizeof *order);
    r->n_order = n;
    return KN_OK;
}

void kn__resident_host_close(kn_graph *g, kn__resident_host **r) {
    if (!*r) return;
    kn__free(g->ctx, (*r)->order);
    kn__free(g->ctx, (*r)->acc);
    kn__free(g->ctx, (*r)->aug_scratch);
    kn__free(g->ctx, *r);
    *r = NULL;
}

kn_status kn__resident_host_augment(kn_graph *g, kn__resident_host *r, const kn__augment_draw *draws, int64_t n) {
    if (!r->desc.augment || n > r->desc.n_rows)
        return kn__error(g->ctx, KN_ERR_INVALID_ARGUMENT, "resident: augmentation draws for %lld rows%s", (long long)n,
                         r->desc.augment ? " (more than the tables')" : " without augmentation");
    r->draws = draws;
    r->n_draws = n;
    return KN_OK;
}

void kn__resident_host_gather(kn_graph *g, kn__resident_host *r) {
    const kn_resident_desc *d = &r->desc;
    if (d->loss_seed) { /* the step's scale: the backward seed, and the update's unscale */
        *(float *)d->loss_seed->data = r->stats.scale;
        g->grad_unscale = 1.0f / r->stats.scale;
    }
    for (int k = 0; k < d->n_tables; k++) {
        const kn_resident_table *t = &d->tables[k];
        uint8_t *dst = t->input->data;
        size_t in_row = kn__resident_input_row_bytes(d, k);
        bool narrow = k == 0 && d->narrow_x;
        for (int64_t i = 0; i < g->batch; i++) {
            int32_t row = r->order[g->resident_first + i];
            float *x = narrow ? r->aug_scratch : (float *)(dst + (size_t)i * in_row); /* (the f32 row) */
            memcpy(x, kn__resident_row(d, t, row), t->row_bytes);
            if (k == 0 && d->augment && g->training && row < r->n_draws)
                kn__augment_apply(&r->draws[row], x, d->aug_h, d->aug_w, d->aug_c, d->aug_sigma,
                                  r->aug_scratch + (size_t)d->aug_h * d->aug_w * d->aug_c);
            if (narrow && t->input->dtype == KN_BF16) kn__f32_to_bf16(x, (uint16_t *)(dst + (size_t)i * in_row), t->row_bytes / 4);
            else if (narrow) kn__f32_to_f16(x, (uint16_t *)(dst + (size_t)i * in_row), t->row_bytes / 4);
        }
    }
}

/* Row i's prediction, as kn__model_batch_correct decides it. */
static int32_t predicted(const kn_resident_desc *d, const kn_tensor *out, int64_t i) {
    float buf[KN_HALF_BLOCK];
    int64_t outs = d->outs, best = 0;
    const float *o = kn__read_f32(out, i * outs, outs, buf); /* outs <= KN_HALF_BLOCK (resident.c) */
    if (outs == 1) return o[0] > d->threshold;
    for (int64_t j = 1; j < outs; j++)
        if (o[j] > o[best]) best = j;
    return (int32_t)best;
}

void kn__resident_host_count(kn_graph *g, kn__resident_host *r, bool training) {
    kn_resident_stats *s = &r->stats;
    const kn_resident_desc *d = &r->desc;
    if (s->failed_step >= 0) return;
    float loss = *(const float *)d->loss->data;
    if (training && !isfinite(loss)) {
        s->failed_step = g->step, s->failed_first = g->resident_first, s->failed_what = 1, s->failed_loss = loss;
        return;
    }
    s->loss_sum += (double)loss * (double)g->batch;
    s->rows += g->batch;
    if (!d->labels || !d->out) return;
    for (int64_t i = 0; i < g->batch; i++)
        s->correct += predicted(d, d->out, i) == kn__resident_label(d, r->order[g->resident_first + i]);
}

bool kn__resident_host_guard(kn_graph *g, kn__resident_host *r, const float *grad, size_t n) {
    kn_resident_stats *s = &r->stats;
    if (s->failed_step >= 0) return false;
    bool finite = kn__all_finite(grad, n);
    if (r->desc.loss_seed) { /* loss_scale.c's kn__loss_scale_check and _applied */
        if (finite) {
            if (++s->good >= r->desc.interval) {
                s->good = 0;
                if (s->scale < KN_RESIDENT_SCALE_MAX) s->scale *= 2.0f;
            }
            return true;
        }
        s->good = 0;
        if (s->scale > KN_RESIDENT_SCALE_MIN) {
            s->scale *= 0.5f;
            s->skipped++;
            return false;
        }
    }
    if (!finite)
        s->failed_step = g->step, s->failed_first = g->resident_first, s->failed_what = r->desc.loss_seed ? 3 : 2,
        s->failed_loss = *(const float *)r->desc.loss->data;
    return finite;
}

void kn__resident_host_accumulate(kn_graph *g, kn__resident_host *r, float *grad, size_t n, bool update) {
    float rows = (float)g->batch, *acc = r->acc;
    for (size_t i = 0; i < n; i++) {
        float sum = fmaf(rows, grad[i], acc[i]);
        if (update) grad[i] = sum * g->grad_acc_scale, acc[i] = 0.0f;
        else acc[i] = sum;
    }
}
