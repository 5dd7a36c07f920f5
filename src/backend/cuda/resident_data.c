/* resident_data.c — the CUDA backend's resident training data (backend.h's resident
 * hooks, runtime.c's kn__cuda_backend): the tables uploaded once, each epoch's order and
 * augmentation draws, the step ring's figures read back, and the gradients' finiteness
 * checked on the device (kn__cu_find_nonfinite) for fit's host loop. */
#include "backend/backend.h"
#include "cuda_internal.h"
#include "nccl_comm.h"

#include <stddef.h>

/* A copy to the device queued on the stream, its failure a status (for a goto). */
static kn_status queue_in(kn_graph *g, void *dst, const void *src, size_t bytes, const char *what) {
    kn__cuda_graph *c = g->backend.context;
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream);
    return e == cudaSuccess ? KN_OK : kn__cuda_fail(g, NULL, what, e);
}

/* bytes of zeros at dst, queued on the stream, its failure a status (for a goto). */
static kn_status cuda_memset_zero(kn_graph *g, void *dst, size_t bytes, const char *what) {
    kn__cuda_graph *c = g->backend.context;
    cudaError_t e = cudaMemsetAsync(dst, 0, bytes, c->stream);
    return e == cudaSuccess ? KN_OK : kn__cuda_fail(g, NULL, what, e);
}

/* A table's n_rows rows to one device buffer, from its one or two pieces (backend.h). */
static kn_status queue_pieces(kn_graph *g, void *dst, const void *rows, const void *rest, const kn_resident_desc *d,
                              size_t row_bytes, const char *what) {
    int64_t first = rest ? d->n_first : d->n_rows;
    kn_status st = queue_in(g, dst, rows, (size_t)first * row_bytes, what);
    if (!st && rest && d->n_rows > first)
        st = queue_in(g, (uint8_t *)dst + (size_t)first * row_bytes, rest, (size_t)(d->n_rows - first) * row_bytes, what);
    return st;
}

kn_status kn__cuda_resident_open(kn_graph *g, const kn_resident_desc *d, bool *placed) {
    kn__cuda_graph *c = g->backend.context;
    *placed = false;
    kn_status st = kn__cuda_synchronize(g);
    if (st) return st;
    kn__cuda_resident_free(c);
    if (!kn__resident_placeable(g, d)) return KN_OK; /* (each gathered input checked there) */
    if (d->nccl && (d->loss_seed || d->accumulate || !c->grad)) return KN_OK; /* (fit asks for neither with it) */
    /* the step's figures are counted after the backward pass (in the guard's launch): the
     * loss and the outputs must be kept tensors, which nothing overwrites (a model's are) */
    if (!(d->loss->flags & KN_FLAG_KEEP) || (d->out && d->labels && !(d->out->flags & KN_FLAG_KEEP))) return KN_OK;
    /* augmentation: table 0 is the f32 images (h, w, c) the draws apply to */
    if (d->augment && (d->n_tables < 1 || d->aug_h < 1 || d->aug_w < 1 || d->aug_c < 1 ||
                       (d->tables[0].input->dtype != KN_F32 && !d->narrow_x) ||
                       d->tables[0].row_bytes != (size_t)d->aug_h * (size_t)d->aug_w * (size_t)d->aug_c * sizeof(float)))
        return KN_OK;
    size_t need = (size_t)d->n_rows * sizeof(int32_t) * (d->labels ? 2 : 1) + sizeof(kn__cuda_resident), free_b = 0, total = 0;
    if (d->augment) need += (size_t)d->n_rows * sizeof(kn__cu_augment_draw);
    for (int k = 0; k < d->n_tables; k++) need += (size_t)d->n_rows * d->tables[k].row_bytes;
    KN_CU_TRY(cudaMemGetInfo(&free_b, &total), "cudaMemGetInfo");
    /* the data fits with room to spare (a tenth of the device, for cuBLASLt and the rest):
     * else the host loop, as before */
    if (need + total / 10 > free_b) return KN_OK;
    c->n_rows = d->n_rows;
    for (int k = 0; k < d->n_tables; k++) {
        size_t bytes = (size_t)d->n_rows * d->tables[k].row_bytes;
        c->table_input[k] = d->tables[k].input;
        c->table_row_bytes[k] = d->tables[k].row_bytes;
        c->n_tables = k + 1;
        if ((st = kn__cuda_malloc(g, &c->table[k], bytes, "resident training data")) ||
            (st = queue_pieces(g, c->table[k], d->tables[k].rows, d->tables[k].rest, d, d->tables[k].row_bytes,
                               "cudaMemcpyAsync (resident training data)")))
            goto fail;
    }
    kn__cuda_resident zero = {0};
    zero.failed_step = -1;
    zero.scaling = d->loss_seed != NULL;
    zero.scale = d->loss_seed ? d->scale : 1.0f;
    zero.good = d->good;
    zero.interval = d->interval;
    zero.dist = d->nccl != NULL;
    zero.verdict = c->grad ? c->grad + g->param_floats : NULL;
    if (g->opt.kind == KN_OPT_NADAM) { /* P_t where the host's count stands (what start_step advances from) */
        zero.nadam = 1, zero.nadam_b1 = g->opt.beta_1, zero.nadam_decay = g->opt.momentum_decay;
        zero.nadam_product = kn__nadam_graph_product(g, g->step);
        zero.nadam_at = g->step;
    }
    if ((st = kn__cuda_malloc(g, (void **)&c->d_order, (size_t)d->n_rows * sizeof(int32_t), "resident order")) ||
        (d->labels && (st = kn__cuda_malloc(g, (void **)&c->d_labels, (size_t)d->n_rows * sizeof(int32_t), "resident labels"))) ||
        (st = kn__cuda_malloc(g, (void **)&c->d_res, sizeof *c->d_res, "resident figures")) ||
        (d->accumulate && (st = kn__cuda_malloc(g, (void **)&c->grad_acc, g->param_floats * sizeof(float) + 4, "gradient accumulator"))) ||
        (d->accumulate && (st = cuda_memset_zero(g, c->grad_acc, g->param_floats * sizeof(float) + 4,
                                                            "cudaMemsetAsync (resident accumulator)"))) ||
        (d->augment && (st = kn__cuda_malloc(g, (void **)&c->d_draws, (size_t)d->n_rows * sizeof(kn__cu_augment_draw),
                                         "resident augmentation draws"))) ||
        (d->augment && (st = cuda_memset_zero(g, c->d_draws, (size_t)d->n_rows * sizeof(kn__cu_augment_draw),
                                                         "cudaMemsetAsync (resident augmentation draws)"))) ||
        (d->labels && (st = queue_pieces(g, c->d_labels, d->labels, d->labels_rest, d, sizeof(int32_t),
                                         "cudaMemcpyAsync (resident labels)"))) ||
        (st = queue_in(g, c->d_res, &zero, sizeof zero, "cudaMemcpyAsync (resident figures)")))
        goto fail;
    c->ring_pos = 0; /* (as the device's, zeroed above) */
    c->aug_h = d->aug_h, c->aug_w = d->aug_w, c->aug_c = d->aug_c;
    c->aug_sigma = d->aug_sigma;
    c->narrow_x = d->narrow_x;
    kn__cuda_plan_fold(g, c); /* (never with augmentation: the gather kernel augments) */
    c->res_loss = d->loss;
    c->res_seed = d->loss_seed;
    c->res_nccl = d->nccl;
    c->res_out = d->labels ? d->out : NULL;
    c->res_outs = d->outs;
    c->res_threshold = d->threshold;
    c->resident_on = true;
    *placed = true;
    return KN_OK;
fail:
    cudaStreamSynchronize(c->stream); /* no queued copy into what is freed */
    kn__cuda_resident_free(c);
    return st;
}

kn_status kn__cuda_resident_order(kn_graph *g, const int32_t *order, int64_t n) {
    kn__cuda_graph *c = g->backend.context;
    kn_status st = kn__cuda_synchronize(g); /* no queued step reads the old order any more */
    if (st) return st;
    if (n > c->n_rows)
        return kn__error(g->ctx, KN_ERR_INVALID_ARGUMENT, "cuda: an order of %lld rows for %lld", (long long)n,
                         (long long)c->n_rows);
    return queue_in(g, c->d_order, order, (size_t)n * sizeof *order, "cudaMemcpyAsync (resident order)");
}

/* data/augment.h's draw is the kernels' (launch.h's copy of it) */
_Static_assert(sizeof(kn__augment_draw) == sizeof(kn__cu_augment_draw) &&
                   offsetof(kn__augment_draw, noise_key) == offsetof(kn__cu_augment_draw, noise_key) &&
                   offsetof(kn__augment_draw, rotate) == offsetof(kn__cu_augment_draw, rotate) &&
                   offsetof(kn__augment_draw, noise) == offsetof(kn__cu_augment_draw, noise) &&
                   offsetof(kn__augment_draw, ew) == offsetof(kn__cu_augment_draw, ew),
               "kn__augment_draw and kn__cu_augment_draw differ");

kn_status kn__cuda_resident_augment(kn_graph *g, const kn__augment_draw *draws, int64_t n) {
    kn__cuda_graph *c = g->backend.context;
    kn_status st = kn__cuda_synchronize(g); /* no queued step reads the old draws any more */
    if (st) return st;
    if (!c->d_draws || n > c->n_rows)
        return kn__error(g->ctx, KN_ERR_INVALID_ARGUMENT, "cuda: augmentation draws for %lld rows%s", (long long)n,
                         c->d_draws ? " (more than the tables')" : " without augmentation");
    return queue_in(g, c->d_draws, draws, (size_t)n * sizeof *draws, "cudaMemcpyAsync (resident augmentation draws)");
}

kn_status kn__cuda_resident_stats(kn_graph *g, kn_resident_stats *out, bool reset) {
    kn__cuda_graph *c = g->backend.context;
    kn_status st = kn__cuda_synchronize(g);
    if (st) return st;
    kn__cuda_resident r;
    KN_CU_TRY(cudaMemcpy(&r, c->d_res, sizeof r, cudaMemcpyDeviceToHost), "cudaMemcpy (resident figures out)");
    *out = (kn_resident_stats){r.loss_sum, r.rows,  r.correct,     r.failed_step, r.failed_first, r.failed_what,
                               r.failed_loss, r.scale, r.good, r.skipped};
    if (reset) /* the three sums lead the struct (launch.h) */
        KN_CU_TRY(cudaMemsetAsync(c->d_res, 0, sizeof(double) + 2 * sizeof(int64_t), c->stream), "cudaMemsetAsync (resident figures)");
    return KN_OK;
}

void kn__cuda_resident_close(kn_graph *g) {
    kn__cuda_graph *c = g->backend.context;
    kn__cuda_flush_pending(g); /* (the host counted them as run; a failed launch shows at the next synchronize) */
    if (c->res_nccl && kn__nccl_wait(g, c->res_nccl, "a resident step's all-reduce") != KN_OK) {
        /* a peer left mid-collective: waiting or freeing (cudaFree synchronizes) would hang
         * until the communicator is aborted; the buffers are left to the process's end */
        c->resident_on = false;
        c->res_nccl = NULL;
        return;
    }
    cudaStreamSynchronize(c->stream);
    c->inflight = 0;
    kn__cuda_resident_free(c);
}

/* The gradients checked on the device: a word of the workspace (scratch between runs) set
 * by the scan, then 4 bytes copied out. */
kn_status kn__cuda_grads_finite(kn_graph *g, bool *finite) {
    kn__cuda_graph *c = g->backend.context;
    kn_status st = kn__cuda_flush_pending(g);
    if (st) return st;
    int32_t *flag = c->ws, bad = 0;
    *finite = true;
    if (!c->grad || !g->param_floats) return KN_OK;
    KN_CU_TRY(cudaMemsetAsync(flag, 0, sizeof *flag, c->stream), "cudaMemsetAsync (gradient check)");
    KN_CU_TRY(kn__cu_find_nonfinite(c->stream, c->grad, (int64_t)g->param_floats, flag), "kn__cu_find_nonfinite");
    KN_CU_TRY(cudaMemcpyAsync(&bad, flag, sizeof bad, cudaMemcpyDeviceToHost, c->stream), "cudaMemcpyAsync (gradient check)");
    if ((st = kn__cuda_synchronize(g))) return st;
    *finite = !bad;
    return KN_OK;
}
