/* fit.c — the training loop (seeded shuffle each epoch, mini-batches, optional validation,
 * a Keras-style progress line, history); evaluation is in evaluate.c. After its first step
 * the loop allocates nothing: buffers are sized before it starts (tests/test_alloc.c
 * counts). */
#include "nn/model.h"
#include "control.h"
#include "loader.h"
#include "loss_scale.h"
#include "resident.h"
#include "classic/model.h"
#include "data/dataset.h"
#include "dist/dist.h"

#include <math.h>
#include <string.h>

kn_status kn__model_set_training_summary(kn_model *m, const char *json);

/* "[==========>...................]" for done/total into buf. */
static void bar(char *buf, int64_t done, int64_t total) {
    const int width = 30;
    int filled = total ? (int)(done * width / total) : width;
    buf[0] = '[';
    for (int i = 0; i < width; i++) buf[1 + i] = i < filled ? '=' : (i == filled ? '>' : '.');
    if (filled >= width) buf[width] = '=';
    buf[width + 1] = ']';
    buf[width + 2] = 0;
}

static void format_time(char *buf, size_t size, double seconds, double per_step) {
    if (per_step >= 1) snprintf(buf, size, "%.0fs %.0fs/step", seconds, per_step);
    else if (per_step >= 1e-3) snprintf(buf, size, "%.0fs %.0fms/step", seconds, per_step * 1e3);
    else snprintf(buf, size, "%.0fs %.0fus/step", seconds, per_step * 1e6);
}

static double median(double *v, int n) {
    for (int i = 1; i < n; i++) /* insertion sort: n is the epoch count */
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n == 0 ? NAN : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Asks for the next batch's rows while this step computes: rows are scattered over the
 * dataset, so gathering them is bound by memory latency, which the step can hide. */
static void prefetch_rows(const kn_dataset *data, const int64_t *idx, int64_t n) {
    size_t bytes = (size_t)data->features * sizeof(float);
    for (int64_t i = 0; i < n; i++) {
        const char *row = (const char *)(data->x + idx[i] * data->features);
        for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(row + off, 0, 2);
    }
}

/* Each data row's loss weight into *out (kn__free it): its sample weight times its class's
 * weight (given, or "balanced": rows / (classes x rows of the class), counted over the
 * training rows, as scikit-learn's compute_class_weight). */
static kn_status row_weights(kn_model *m, const kn_dataset *data, const kn_fit_opts *o, int64_t n_train, bool all_train,
                             float **out) {
    kn_ctx *ctx = m->ctx;
    int64_t n = data->n, counted = all_train ? n : n_train;
    int classes = data->n_classes;
    float *w = kn__alloc(ctx, (size_t)(n > 0 ? n : 1) * sizeof *w);
    double *cw = kn__calloc(ctx, (size_t)(classes > 0 ? classes : 1), sizeof *cw);
    int64_t *count = kn__calloc(ctx, (size_t)(classes > 0 ? classes : 1), sizeof *count);
    kn_status st = KN_OK;
    if (!w || !cw || !count) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "fit: out of memory for the row weights");
        goto done;
    }
    if (o->class_weight_balanced) {
        for (int64_t r = 0; r < counted; r++) count[data->labels[r]]++;
        for (int c = 0; c < classes; c++) cw[c] = count[c] ? (double)counted / ((double)classes * (double)count[c]) : 0;
    } else {
        for (int c = 0; c < classes; c++) cw[c] = o->class_weight ? o->class_weight[c] : 1.0;
    }
    for (int c = 0; c < classes && !st; c++)
        if (!(cw[c] >= 0) || !isfinite(cw[c]))
            st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fit: class weight %d is %g (must be finite and >= 0)", c, cw[c]);
    for (int64_t r = 0; r < n && !st; r++) {
        double v = data->labels && (o->class_weight || o->class_weight_balanced) ? cw[data->labels[r]] : 1.0;
        if (o->sample_weight && (!(o->sample_weight[r] >= 0) || !isfinite(o->sample_weight[r])))
            st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fit: sample weight of row %lld is %g (must be finite and >= 0)",
                           (long long)r, (double)o->sample_weight[r]);
        w[r] = (float)(o->sample_weight ? v * o->sample_weight[r] : v);
    }
done:
    kn__free(ctx, cw);
    kn__free(ctx, count);
    if (st) kn__free(ctx, w);
    *out = st ? NULL : w;
    return st;
}

/* The control's state for a checkpoint (monitors that are off are NULL). */
static struct kn__control_pos control_pos(const kn__monitor *stop, const kn__monitor *save, const kn__plateau *plateau,
                                          double base_lr) {
    struct kn__control_pos k = {.valid = true, .base_lr = base_lr};
    if (stop) k.stop_best = stop->best, k.stop_best_epoch = stop->best_epoch, k.stop_wait = stop->wait;
    if (save) k.save_best = save->best, k.save_best_epoch = save->best_epoch, k.save_wait = save->wait;
    if (plateau) k.plateau_best = plateau->mon.best, k.plateau_wait = plateau->mon.wait, k.plateau_cooldown = plateau->cooldown_left;
    return k;
}

/* The loss or a gradient went NaN or infinite: name the step and the first tensor that did
 * (an input, a parameter, or an op's output, found by running the phases again node by node). */
static kn_status nonfinite_error(kn_model *m, const char *what, int ep, int64_t s, unsigned phases) {
    /* the diagnosis reruns the phases with the CPU kernels on the host buffers: the
     * parameters the failed step read (the inputs are host-written already) */
    const kn_tensor *t = kn__graph_pull(m->graph, KN_SYNC_PARAMS) ? NULL : kn__first_nonfinite(m->graph, phases);
    char where[256] = "";
    if (t) {
        char shape[64];
        snprintf(where, sizeof where, "; the first non-finite value is in %s '%s' (%s, %s)",
                 t->op == KN_OP_INPUT ? "input" : t->op == KN_OP_PARAM ? "parameter" : "the output of",
                 t->name, t->fused[0] ? t->fused : kn__op_info(t->op)->name, kn__shape_str(t, shape, sizeof shape));
    }
    return kn__error(m->ctx, KN_ERR_NUMERIC, "fit: %s at epoch %d, step %lld%s (training stopped before the update)",
                     what, ep + 1, (long long)s + 1, where);
}

/* Whether g's gradients are all finite: checked on its device (device), else in the host
 * copy (which the caller pulled). */
static kn_status grads_finite(kn_graph *g, bool device, bool *finite) {
    if (device) return g->backend.iface->grads_finite(g, finite);
    *finite = kn__all_finite(g->grad_buf, g->param_floats);
    return KN_OK;
}

/* fp16's loss scaler found an overflow at its smallest scale: the run stops. */
static const char fp16_floor_message[] =
    "fp16 loss scaling: a gradient overflowed even at the smallest loss scale (1): "
    "the model diverged or its gradients exceed fp16's range (try bf16 or fp32);";

/* A resident step failed (its update, and every later one, was not taken): the host path's
 * error for it, with the failing batch loaded on the host for the diagnosis. */
static kn_status resident_failure(kn_model *m, const kn_dataset *data, const int64_t *perm, const float *row_w, int64_t n_train,
                                  int64_t bs, int64_t accumulate, const kn__dist *d, int ep, const kn_resident_stats *rs,
                                  const kn__resident *res, const kn__loader *ld) {
    kn_graph *g = m->graph;
    int64_t s = rs->failed_first / bs, b_global = (s + 1) * bs <= n_train ? bs : n_train - s * bs, lo = 0, b = b_global;
    kn__shard(b_global, d->rank, d->world, &lo, &b); /* (data parallel: this rank's rows; alone, all) */
    int64_t steps = (n_train + bs - 1) / bs;
    bool update = (s + 1) % accumulate == 0 || s + 1 == steps; /* (a batch mid-group counted no update) */
    g->step = update ? rs->failed_step - 1 : rs->failed_step; /* the updates not taken; the failed forward's dropout masks */
    g->rng_step = g->step;
    g->rng_micro = s % accumulate + accumulate * d->rank;
    m->row_weights = row_w;
    const int64_t *idx = perm + s * bs + lo, f = data->features;
    kn_status st;
    if (res->aug) { /* the rows as the device augmented them, loaded as the host loop loads the loader's */
        for (int64_t i = 0; i < b; i++) {
            memcpy(ld->buf + i * f, data->x + idx[i] * f, (size_t)f * sizeof(float));
            kn__resident_augment_row(res, idx[i], ld->buf + i * f, ld->scratch);
        }
        st = kn__model_load_batch_x(m, data, idx, ld->buf, b);
    } else {
        st = kn__model_load_batch(m, data, idx, 0, b, true);
    }
    m->row_weights = NULL;
    if (st) return st;
    if (rs->failed_what == 1) {
        char what[64];
        snprintf(what, sizeof what, "the loss became %f", (double)rs->failed_loss);
        return nonfinite_error(m, what, ep, s, KN_PHASE_FORWARD | KN_PHASE_LOSS);
    }
    return nonfinite_error(m, rs->failed_what == 3 ? fp16_floor_message : "a gradient became non-finite", ep, s,
                           KN_PHASE_FORWARD | KN_PHASE_LOSS | KN_PHASE_BACKWARD);
}

/* A network's fit on this rank, d: the ranks training together (world 1: alone). Every
 * return before the setup agreement is a failure the wrapper shares with the others. */
static kn_status fit_network(kn_model *m, const kn_dataset *data, kn_fit_opts o, const kn_history **history, kn__dist *d) {
    bool writer = d->rank == 0; /* rank 0 alone logs and writes files */
    if (!writer) o.verbose = 0;
    if (o.epochs == 0) o.epochs = 1;
    if (o.batch_size == 0) o.batch_size = 32;
    kn_ctx *ctx = m->ctx;
    if (o.epochs < 0 || o.epochs > 1000000)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fit: epochs is %d (must be positive)", o.epochs);
    if (o.batch_size < 0 || o.batch_size > (1 << 24))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fit: batch_size is %lld (must be positive)", (long long)o.batch_size);
    if (!(o.validation_split >= 0 && o.validation_split < 1))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fit: validation_split %g must be in [0, 1)", o.validation_split);
    kn_status st = kn__model_check_data(m, data);
    if (!st && o.validation_data) st = kn__model_check_data(m, o.validation_data);
    if (st) return st;

    /* Validation: the last fraction of the data, before shuffling, as Keras takes it. */
    const kn_dataset *val = o.validation_data ? o.validation_data : data;
    int64_t n_val = o.validation_data ? o.validation_data->n : (int64_t)((double)data->n * o.validation_split);
    int64_t val_start = o.validation_data ? 0 : data->n - n_val;
    int64_t n_train = o.validation_data ? data->n : data->n - n_val;
    if (n_train < 1) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fit: no training rows left after the validation split");
    int64_t bs = o.batch_size < n_train ? o.batch_size : n_train;
    int64_t steps = (n_train + bs - 1) / bs;

    /* class and sample weights: the graph takes a weight per row from now on */
    bool weighting = o.class_weight || o.class_weight_balanced || o.sample_weight;
    if (weighting && (o.class_weight || o.class_weight_balanced) && !data->labels)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fit: class weights need class labels (the data is regression)");
    if (weighting && o.class_weight && o.n_class_weights < data->n_classes)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fit: %d class weights for %d classes", o.n_class_weights,
                         data->n_classes);
    if (weighting && !m->weighted) {
        m->weighted = true;
        m->graph_stale = m->graph != NULL;
    }
    if ((st = kn__model_ensure_graph(m, bs, true))) return st;
    /* what inference needs to know about the data, saved with the model */
    if (data->label_names && !m->label_names &&
        (st = kn_model_set_labels(m, (const char *const *)data->label_names, data->n_classes)))
        return st;
    m->input_scale = data->input_scale;
    int64_t *perm = kn__alloc(ctx, (size_t)n_train * sizeof *perm);
    kn_epoch_record *rec = kn__calloc(ctx, (size_t)o.epochs, sizeof *rec);
    double *times = kn__alloc(ctx, (size_t)o.epochs * sizeof *times);
    if (!perm || !rec || !times) {
        kn__free(ctx, perm);
        kn__free(ctx, rec);
        kn__free(ctx, times);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "fit: out of memory");
    }
    kn__free(ctx, m->records);
    m->records = rec;
    m->history = (kn_history){.epochs = rec};

    /* where to start: the beginning, or where a checkpoint left off */
    int ep0 = 0;
    int64_t s0 = 0;
    if (o.resume) {
        const struct kn__train_pos *p = &m->pos;
        if (!p->valid) st = kn__error(ctx, KN_ERR_STATE, "fit: resume needs a model loaded from a checkpoint");
        else if (p->batch_size != bs)
            st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fit: the checkpoint was taken with batch size %lld, not %lld",
                           (long long)p->batch_size, (long long)bs);
        else if (p->epoch > o.epochs)
            st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fit: the checkpoint is at epoch %d of a run of %d epochs, past %d",
                           p->epoch, p->epochs, o.epochs);
        if (st) {
            kn__free(ctx, perm);
            kn__free(ctx, times);
            return st;
        }
        ep0 = p->epoch;
        s0 = p->batch;
        for (int e = 0; e < ep0; e++) {
            rec[e] = m->resume_history[e];
            times[e] = rec[e].seconds;
        }
        m->history.n_epochs = ep0;
    }
    /* training control: schedule, early stopping, reduce-on-plateau, best-model saving */
    const kn_early_stopping *es = &o.early_stopping;
    bool stopping = es->patience > 0, plateau_on = o.reduce_lr.patience > 0, saving = o.best_path != NULL;
    kn__monitor stop_mon, best_mon;
    kn__plateau plateau = {.opts = o.reduce_lr};
    float *best_w = NULL;
    const char *schedule_why = NULL;
    if (kn_schedule_check(&o.schedule, &schedule_why)) st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fit: %s", schedule_why);
    if (!st && stopping) st = kn__monitor_init(ctx, &stop_mon, es->monitor, es->mode, es->min_delta, n_val > 0, "early stopping");
    if (!st && saving) st = kn__monitor_init(ctx, &best_mon, es->monitor, es->mode, es->min_delta, n_val > 0, "save best");
    if (!st && plateau_on) {
        if (plateau.opts.factor == 0) plateau.opts.factor = 0.1;
        if (!(plateau.opts.factor > 0 && plateau.opts.factor < 1) || plateau.opts.min_lr < 0 || plateau.opts.cooldown < 0)
            st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fit: reduce_lr: factor %g must be in (0, 1), min_lr and cooldown >= 0",
                           plateau.opts.factor);
        else
            st = kn__monitor_init(ctx, &plateau.mon, plateau.opts.monitor, plateau.opts.mode, plateau.opts.min_delta,
                                  n_val > 0, "reduce_lr");
    }
    if (!st && stopping && es->restore_best_weights &&
        !(best_w = kn__alloc(ctx, (m->graph->param_floats ? m->graph->param_floats : 1) * sizeof(float))))
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "fit: out of memory for the best weights");
    if (st) {
        kn__free(ctx, perm);
        kn__free(ctx, times);
        return st;
    }
    double base_lr = m->copts.optimizer.learning_rate;
    /* a checkpoint carries the control's state: a resumed run watches as the original did */
    if (o.resume && m->pos.control.valid) {
        const struct kn__control_pos *k = &m->pos.control;
        if (stopping) stop_mon.best = k->stop_best, stop_mon.best_epoch = k->stop_best_epoch, stop_mon.wait = k->stop_wait;
        if (saving) best_mon.best = k->save_best, best_mon.best_epoch = k->save_best_epoch, best_mon.wait = k->save_wait;
        if (plateau_on) plateau.mon.best = k->plateau_best, plateau.mon.wait = k->plateau_wait, plateau.cooldown_left = k->plateau_cooldown;
        base_lr = k->base_lr;
        if (best_w && m->resume_best && m->resume_best_floats == m->graph->param_floats)
            memcpy(best_w, m->resume_best, m->graph->param_floats * sizeof(float));
    }
    kn__free(ctx, m->resume_best);
    m->resume_best = NULL;
    /* fp16: the loss scaler where the checkpoint (or else the last fit) left it */
    kn__loss_scale scaler;
    int64_t skipped_total = 0;
    if (o.resume) {
        kn__loss_scale_init(&scaler, &m->copts, m->pos.loss_scale, m->pos.loss_scale_good);
        for (int e = 0; e < ep0; e++) skipped_total += rec[e].skipped_steps;
        skipped_total += m->pos.epoch_skipped;
    } else {
        kn__loss_scale_init(&scaler, &m->copts, m->loss_scale, m->loss_scale_good);
    }
    int64_t accumulate = o.accumulate > 1 ? o.accumulate : 1, acc_rows = 0;
    int64_t total_steps = (int64_t)o.epochs * ((steps + accumulate - 1) / accumulate); /* optimizer updates */
    float *grad_sum = NULL; /* accumulation: rows x gradient, summed over the group */
    if (accumulate > 1 && !(grad_sum = kn__calloc(ctx, m->graph->param_floats ? m->graph->param_floats : 1, sizeof(float)))) {
        kn__free(ctx, perm);
        kn__free(ctx, times);
        kn__free(ctx, best_w);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "fit: out of memory for gradient accumulation");
    }
    m->history.best_epoch = 0;
    m->history.stopped_early = false;

    float *row_w = NULL;
    if (weighting && (st = row_weights(m, data, &o, n_train, o.validation_data != NULL, &row_w))) {
        kn__free(ctx, perm);
        kn__free(ctx, times);
        kn__free(ctx, best_w);
        kn__free(ctx, grad_sum);
        return st;
    }

    uint64_t seed = o.resume ? m->pos.seed : kn_ctx_seed(ctx);
    /* batches: gathered and augmented on a background thread when augmenting (or asked) */
    kn__augment aug;
    kn__augment_from_public(&o.augment, &aug);
    kn__loader ld;
    bool augmenting = kn__augment_active(&aug);
    st = augmenting ? kn__augment_check(ctx, &aug) : KN_OK;
    if (!st && augmenting && kn__model_reads_indices(m)) /* shifted or noisy indices would name other tokens */
        st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fit: augment: the model's embedding reads token indices from its "
                       "input, which augmentation would change (turn augmentation off)");
    if (!st && augmenting && data->targets_are_inputs && (aug.shift > 0 || aug.flip > 0 || aug.rotate > 0))
        st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fit: augment: shift, flip and rotate move the inputs but not the "
                       "targets, which are the inputs (an autoencoder's data); noise and erase corrupt the inputs "
                       "alone (a denoising autoencoder)");
    if (!st) st = kn__loader_init(&ld, ctx, data, n_train, bs, d->rank, d->world, augmenting ? &aug : NULL, seed,
                                  o.loader_thread > 0 || (o.loader_thread == 0 && augmenting));
    if (st) {
        kn__free(ctx, perm);
        kn__free(ctx, times);
        kn__free(ctx, best_w);
        kn__free(ctx, grad_sum);
        kn__free(ctx, row_w);
        return st;
    }
    bool via_loader = ld.threaded || ld.augmenting; /* else rows go straight into the input */
    struct kn__train_pos here = {.valid = true, .epochs = o.epochs, .batch_size = bs, .seed = seed,
                                 .validation_split = o.validation_split};

    /* every rank is ready (or the first failure reaches all); then rank 0's parameters and
     * optimizer state everywhere, and the settings that must match */
    st = kn__dist_agree(d, KN_OK, KN_DIST_TAG_SETUP, NULL, 0);
    if (!st && d->world > 1) st = kn__model_pull(m); /* rank 0's, broadcast from its host buffers */
    if (!st) st = kn__dist_broadcast(d, m->graph->param_buf, m->graph->param_floats);
    if (!st && m->graph->state_floats) st = kn__dist_broadcast(d, m->graph->state_buf, m->graph->state_floats);
    if (!st && d->world > 1) st = kn__graph_push(m->graph, KN_SYNC_PARAMS | KN_SYNC_STATE);
    if (!st && d->world > 1) {
        static const char *const names[] = {"the training rows", "the batch size", "the parameter count", "the epochs",
                                            "the seed", "the optimizer step"};
        const int64_t same[] = {n_train, bs, (int64_t)m->graph->param_floats, o.epochs, (int64_t)seed,
                                m->graph->step};
        st = kn__dist_same(d, same, names, 6);
        m->graph->fold_stale = true; /* the parameters changed under the graph */
    }
    /* GPUs: the gradients summed on the devices through NCCL (KILN_NCCL=0: through the
     * hosts and MPI; =force: a one-rank communicator even alone, the path a single GPU tests) */
    if (!st) st = kn__dist_open_device(d, m->graph);
    bool nccl = d->nccl != NULL;
    /* NCCL's plain case (no accumulation on the host, no loss scaler, no test hook): the
     * gradients stay on the devices, checked there (the backend's grads_finite) */
    bool device_checks = nccl && accumulate == 1 && !scaler.on && !ctx->test_hook && m->graph->backend.iface->grads_finite;
    int64_t share_lo, share = bs;
    kn__shard(bs, d->rank, d->world, &share_lo, &share);
    if (!st && d->world > 1 && o.verbose >= 1)
        kn__log(ctx, KN_LOG_INFO, "Data parallel: %d ranks, global batch %lld: %lld%s rows per rank (all-reduce in %s)",
                d->world, (long long)bs, (long long)(bs / d->world), bs % d->world ? " or one more" : "",
                d->compression == KN_GRAD_COMPRESSION_FP16 ? "fp16" : "fp32");

    /* the plain case on a device that keeps the data: each step one run, nothing copied */
    kn__resident res = {0};
    /* ... and data parallel on GPUs, the all-reduce inside the step: not with fp16's scaler or
     * accumulation, nor with moving statistics to average on the hosts, and every rank must
     * have rows in every step */
    bool moving_state = false;
    for (int i = 0; i < m->graph->n_params; i++) moving_state |= !m->graph->params[i]->grad;
    int64_t last_rows = n_train % bs ? n_train % bs : bs;
    bool dist_resident = nccl && accumulate == 1 && !scaler.on && !(moving_state && d->world > 1) && last_rows >= d->world;
    /* (augmentation too, when the backend augments on the device; a loader thread asked for
     * by name keeps the batches on the host) */
    if (!st) st = kn__resident_open(&res, m, data, o.validation_data, n_train, row_w, &scaler, accumulate > 1,
                                    dist_resident ? d->nccl : NULL,
                                    ((d->world == 1 && !nccl) || dist_resident) && o.loader_thread <= 0 && !ctx->test_hook &&
                                        /* fp16: the host learns of skipped updates only when it reads the figures,
                                         * so its step count may run ahead: no schedule or periodic checkpoint
                                         * may depend on it */
                                        (!scaler.on || (o.schedule.kind == KN_SCHEDULE_CONSTANT &&
                                                        o.schedule.warmup_steps == 0 && o.checkpoint_every == 0)),
                                    ld.augmenting ? &ld : NULL);
    if (d->world > 1) { /* every rank resident, or none (a device short of memory): the same loop; an
                         * error opening (this rank's alone) is everyone's */
        double on[1] = {!st && res.on ? 1.0 : 0.0};
        if (!(st = kn__dist_agree(d, st, KN_DIST_TAG_SETUP, on, 1)) && on[0] < d->world && res.on) kn__resident_close(&res, ctx);
    }
    if (!st && res.on && o.verbose >= 2) kn__log(ctx, KN_LOG_INFO, "Training data resident on the device");

    double t_fit = kn__now(), gather_s = 0;
    bool stop = false, cut_mid = false;
    bool classify = data->labels != NULL;
    for (int ep = ep0; ep < o.epochs && !st && !stop; ep++) {
        if (o.verbose == 1) kn__log(ctx, KN_LOG_INFO, "Epoch %d/%d", ep + 1, o.epochs);
        /* ckpt_s: mid-epoch checkpoint writes, left out of the epoch's time (INTERFACE.md: an
         * epoch is timed to the end of its last parameter update, the updates' work alone) */
        double t0 = kn__now(), last_draw = 0, ckpt_s = 0;
        for (int64_t i = 0; i < n_train; i++) perm[i] = i;
        if (!o.no_shuffle) kn__rng_shuffle(perm, n_train, seed, KN_STREAM_SHUFFLE + (uint64_t)ep);
        double loss_sum = 0, seconds_before = 0;
        int64_t correct = 0, seen = 0, first = 0, epoch_skipped = 0;
        if (o.resume && ep == ep0) { /* the epoch the checkpoint interrupted */
            epoch_skipped = m->pos.epoch_skipped;
            loss_sum = m->pos.loss_sum;
            correct = m->pos.correct;
            seen = m->pos.seen;
            seconds_before = m->pos.seconds;
            first = s0;
        }
        if (!res.on) kn__loader_epoch(&ld, perm, ep, first); /* (resident: the device gathers and augments) */
        /* resident: the device sums the epoch's figures from here */
        double loss_base = loss_sum;
        int64_t seen_base = seen, correct_base = correct;
        if (res.on && (st = kn__resident_epoch(&res, perm, n_train, ep))) break;
        bool fresh = false; /* resident: the figures were read this step */
        for (int64_t s = first; s < steps; s++) {
            /* what a callback wrote through kn_model_param (a flag's test when nothing) */
            if ((st = kn__model_push(m))) break;
            bool update = true, skip = false;
            if (res.on) {
                kn_graph *g = m->graph;
                int64_t b = (s + 1) * bs <= n_train ? bs : n_train - s * bs, lo = 0, mine = b;
                if (dist_resident) kn__shard(b, d->rank, d->world, &lo, &mine); /* this rank's rows of the step */
                g->grad_share = (float)mine / (float)b; /* (as the host path's part) */
                update = (s + 1) % accumulate == 0 || s + 1 == steps; /* (accumulating: the group's last batch) */
                acc_rows += b;
                g->opt.learning_rate = (float)kn_schedule_rate(&o.schedule, base_lr, g->step, total_steps);
                if ((st = kn__resident_step(&res, s * bs + lo, mine, s % accumulate + accumulate * d->rank, update, acc_rows)))
                    break;
                if (update) acc_rows = 0;
                /* the figures cross to the host only when something reads them; with several
                 * ranks at the same steps on every rank (their sums are summed) */
                bool ckpt_due = o.checkpoint_path && writer && update && s + 1 < steps && o.checkpoint_every > 0 &&
                                g->step % o.checkpoint_every == 0;
                fresh = o.callback || ckpt_due || s == steps - 1 ||
                        (o.verbose == 1 && d->world == 1 && kn__now() - last_draw > 0.1);
                if (fresh) {
                    kn_resident_stats rs = {0};
                    kn_status rst = kn__resident_stats(&res, &rs);
                    if (!rst && scaler.on) { /* the skips since the last read: the step count corrected (a
                                              * failure too leaves the scaler where the host loop would) */
                        int64_t unseen = rs.skipped - g->resident_skipped; /* (the count at the last read) */
                        g->step -= unseen;
                        g->resident_skipped = rs.skipped;
                        epoch_skipped += unseen;
                        skipped_total += unseen;
                        scaler.scale = rs.scale;
                        scaler.good = rs.good;
                    }
                    if (!rst && rs.failed_step >= 0) /* (the same step on every rank: the verdicts were summed) */
                        rst = resident_failure(m, data, perm, row_w, n_train, bs, accumulate, d, ep, &rs, &res, &ld);
                    if (d->world > 1) { /* a failure anywhere is everyone's; the figures the ranks' sums */
                        double sums[3] = {rs.loss_sum, (double)rs.rows, (double)rs.correct};
                        rst = kn__dist_agree(d, rst, KN_DIST_TAG_STEP, sums, 3);
                        rs.loss_sum = sums[0], rs.rows = (int64_t)sums[1], rs.correct = (int64_t)sums[2];
                    }
                    if ((st = rst)) break;
                    loss_sum = loss_base + rs.loss_sum;
                    seen = seen_base + rs.rows;
                    correct = correct_base + rs.correct;
                }
            } else {
                int64_t b; /* this rank's rows of the step (of b_global in all) */
                const int64_t *idx;
                kn__loader_rows(&ld, s, &idx, &b);
                int64_t b_global = (s + 1) * bs <= n_train ? bs : n_train - s * bs;
                kn_graph *g = m->graph;
                float loss = 0;
                int64_t step_correct = 0;
                do { /* this rank's share of the step: a failure leaves the block, for the agreement */
                    if (b == 0) { /* a last batch with fewer rows than ranks: this rank adds nothing */
                        memset(g->grad_buf, 0, g->param_floats * sizeof(float));
                        break;
                    }
                    double tg0 = kn__now();
                    m->row_weights = row_w;
                    if (via_loader) { /* prepared while the last step ran */
                        const float *xb = kn__loader_take(&ld, s);
                        st = kn__model_load_batch_x(m, data, idx, xb, b);
                        kn__loader_prefetch(&ld, s + 1);
                    } else {
                        st = kn__model_load_batch(m, data, idx, 0, b, true);
                    }
                    m->row_weights = NULL;
                    if (st) break;
                    gather_s += kn__now() - tg0;
                    if (!via_loader && s + 1 < steps) {
                        const int64_t *next;
                        int64_t n_next;
                        kn__loader_rows(&ld, s + 1, &next, &n_next);
                        prefetch_rows(data, next, n_next);
                    }
                    /* batches accumulated into one update, and each rank's share: their own dropout masks */
                    g->rng_micro_next = s % accumulate + accumulate * d->rank;
                    /* fp16: the loss gradient scaled up, the update scaling back down; the scale
                     * changes only at updates, so accumulated batches all share one */
                    g->loss_scale = scaler.scale;
                    g->grad_unscale = 1.0f / scaler.scale;
                    if ((st = kn__graph_run_phases(g, KN_PHASE_FORWARD | KN_PHASE_LOSS | KN_RUN_TRAINING))) break;
                    loss = *(float *)m->loss->data;
                    if (!isfinite(loss)) { /* before any update: the weights are still the last good ones */
                        char what[64];
                        snprintf(what, sizeof what, "the loss became %f", (double)loss);
                        st = nonfinite_error(m, what, ep, s, KN_PHASE_FORWARD | KN_PHASE_LOSS);
                        break;
                    }
                    if ((st = kn__graph_run_phases(g, KN_PHASE_BACKWARD))) break;
                    /* the host reads the gradients (the check below or the loss scaler's,
                     * accumulation, the all-reduce): from a device, a copy each step (docs/cuda.md);
                     * but NCCL's plain case checks them on the device, and copies nothing */
                    if (!device_checks && (st = kn__graph_pull(g, KN_SYNC_GRADS))) break;
                    kn__test_point(ctx, "fit:backward"); /* tests/test_loss_scale.c plants overflows here */
                    /* a finite loss can still have non-finite gradients (an infinite input under a
                     * saturating activation): checked before they reach the weights, ~1 us. In
                     * fp16 an overflow is expected now and then: the loss scaler checks the
                     * gradient to apply, after accumulation and the all-reduce */
                    bool finite = true;
                    if (!scaler.on && (st = grads_finite(g, device_checks, &finite))) break;
                    if (!finite) {
                        st = nonfinite_error(m, "a gradient became non-finite", ep, s, KN_PHASE_FORWARD | KN_PHASE_LOSS | KN_PHASE_BACKWARD);
                        break;
                    }
                    if (classify) step_correct = kn__model_batch_correct(m, data, idx, 0, b, NULL);
                } while (0);
                /* the ranks agree on the step before any update: a failure anywhere stops them all
                 * here; the loss and counts become the global batch's (alone: unchanged). An
                 * update in fp32 without a callback (which could stop one rank alone) carries the
                 * agreement in its gradient all-reduce: one collective a step */
                double sums[3] = {(double)loss * (double)b, (double)b, (double)step_correct};
                update = (s + 1) % accumulate == 0 || s + 1 == steps;
                bool one_collective = d->world > 1 && !nccl && !grad_sum && !o.callback && d->compression == KN_GRAD_COMPRESSION_NONE;
                if (one_collective) {
                    if (!st && b) { /* each rank's mean gradient weighted by its share of the rows */
                        float part = (float)b / (float)b_global;
                        for (size_t i = 0; i < g->param_floats; i++) g->grad_buf[i] *= part;
                    }
                    st = kn__dist_reduce_step(d, st, g->grad_buf, g->param_floats, sums, 3);
                    if (!st && !scaler.on && !kn__all_finite(g->grad_buf, g->param_floats))
                        st = kn__error(ctx, KN_ERR_NUMERIC, "fit: the all-reduced gradient became non-finite at epoch %d, step %lld",
                                       ep + 1, (long long)s + 1);
                    if (st) break;
                } else if ((st = kn__dist_agree(d, st, KN_DIST_TAG_STEP, sums, 3))) {
                    break;
                }
                g->opt.learning_rate = (float)kn_schedule_rate(&o.schedule, base_lr, g->step, total_steps);
                /* an update every `accumulate` batches (and at the epoch's end), from the mean
                 * gradient over their rows: the same as one batch that many times larger. Under
                 * data parallelism each rank's mean gradient is weighted by its share of the
                 * rows, so the all-reduced sum is the global batch's mean */
                if (grad_sum) {
                    if (b)
                        for (size_t i = 0; i < g->param_floats; i++) /* (fma: the device's sum, resident) */
                            grad_sum[i] = fmaf((float)b, g->grad_buf[i], grad_sum[i]);
                    acc_rows += b_global;
                    if (update) {
                        float inv = 1.0f / (float)acc_rows;
                        for (size_t i = 0; i < g->param_floats; i++) g->grad_buf[i] = grad_sum[i] * inv, grad_sum[i] = 0;
                        acc_rows = 0;
                    }
                } else if (d->world > 1 && b && !one_collective && !nccl) { /* (NCCL: scaled on the device) */
                    float part = (float)b / (float)b_global;
                    for (size_t i = 0; i < g->param_floats; i++) g->grad_buf[i] *= part;
                }
                if (update && nccl) { /* each rank's share scaled and summed on the devices, then
                                       * read back for the checks below (the host copy is stale) */
                    float part = grad_sum ? 1.0f : b ? (float)b / (float)b_global : 0.0f;
                    if ((grad_sum && (st = kn__graph_push(g, KN_SYNC_GRADS))) ||
                        (st = kn__dist_reduce_grad_device(d, g, part)) ||
                        (!device_checks && (st = kn__graph_pull(g, KN_SYNC_GRADS))))
                        break;
                }
                if (update && (d->world > 1 || nccl) && !one_collective) { /* the same sum on every rank: a failure is everyone's */
                    bool finite = true;
                    if (!(st = nccl ? KN_OK : kn__dist_reduce_grad(d, g->grad_buf, g->param_floats)) && !scaler.on &&
                        !(st = grads_finite(g, device_checks, &finite)) && !finite)
                        st = kn__error(ctx, KN_ERR_NUMERIC, "fit: the all-reduced gradient became non-finite at epoch %d, step %lld%s",
                                       ep + 1, (long long)s + 1,
                                       d->compression == KN_GRAD_COMPRESSION_FP16 ? " (fp16 holds at most 65504: try without compression)" : "");
                    if (st) break;
                }
                /* fp16: an overflowing gradient (the same on every rank: it is the all-reduced
                 * one) skips the update (parameters, optimizer state and step untouched) and
                 * halves the scale; an overflow at the smallest scale stops the run */
                if (update && scaler.on) {
                    bool at_floor;
                    skip = !kn__loss_scale_check(&scaler, g->grad_buf, g->param_floats, &at_floor);
                    if (at_floor) {
                        st = nonfinite_error(m, fp16_floor_message, ep, s,
                                             KN_PHASE_FORWARD | KN_PHASE_LOSS | KN_PHASE_BACKWARD);
                        break;
                    }
                    epoch_skipped += skip;
                    skipped_total += skip;
                }
                /* gradients the host changed (accumulated, weighted, all-reduced, zeroed; a test's
                 * hook) go back before the update that reads them */
                bool host_grads = (grad_sum || d->world > 1 || ctx->test_hook) && !nccl; /* NCCL's sum is on the device */
                if (update && !skip && host_grads && (st = kn__graph_push(g, KN_SYNC_GRADS))) break;
                if (update && !skip && (st = kn__graph_run_phases(g, KN_PHASE_UPDATE))) break;
                if (update && !skip) kn__loss_scale_applied(&scaler);
                if ((st = kn__dist_reduce_state(d, g))) break;
                loss_sum += sums[0];
                seen += (int64_t)sums[1];
                correct += (int64_t)sums[2];
            } /* the host loop */
            kn__test_point(ctx, "fit:step");
            /* the callback may stop here; a checkpoint then records exactly this position (after
             * an update: mid-accumulation the last periodic one stands), as do periodic ones */
            bool cut = o.callback && !o.callback(o.callback_user, ep + 1, s, loss_sum / (double)seen);
            bool periodic = o.checkpoint_every > 0 && !skip && m->graph->step % o.checkpoint_every == 0;
            if (o.checkpoint_path && writer && update && s + 1 < steps && (periodic || cut)) {
                here.epoch = ep;
                here.batch = s + 1;
                here.loss_sum = loss_sum;
                here.correct = correct;
                here.seen = seen;
                double tc0 = kn__now();
                here.seconds = seconds_before + tc0 - t0 - ckpt_s;
                here.control = control_pos(stopping ? &stop_mon : NULL, saving ? &best_mon : NULL,
                                           plateau_on ? &plateau : NULL, base_lr);
                here.best_weights = best_w && stop_mon.best_epoch > 0 ? best_w : NULL;
                here.augment = o.augment;
                here.schedule = o.schedule;
                here.loss_scale = scaler.on ? scaler.scale : 0;
                here.loss_scale_good = scaler.good;
                here.epoch_skipped = epoch_skipped;
                if ((st = kn__model_save_file(m, o.checkpoint_path, &here))) break;
                ckpt_s += kn__now() - tc0;
            }
            if (cut) {
                stop = true;
                cut_mid = s + 1 < steps; /* at the last step the epoch ends as usual */
                break;
            }
            if (o.verbose == 1) {
                double now = kn__now();
                if ((!res.on || fresh) && (now - last_draw > 0.1 || s == steps - 1)) {
                    last_draw = now;
                    char b_str[40], t_str[48], acc[48] = "";
                    bar(b_str, s + 1, steps);
                    format_time(t_str, sizeof t_str, now - t0, (now - t0) / (double)(s + 1 - first));
                    if (classify) snprintf(acc, sizeof acc, " - accuracy: %.4f", (double)correct / (double)seen);
                    kn__log(ctx, KN_LOG_PROGRESS, "%lld/%lld %s - %s - loss: %.4f%s", (long long)(s + 1),
                            (long long)steps, b_str, t_str, loss_sum / (double)seen, acc);
                }
            }
        }
        double seconds = seconds_before + kn__now() - t0 - ckpt_s;
        if (st || cut_mid) break; /* a partial epoch is not an epoch: no record, no epoch-end checkpoint */
        kn_epoch_record *r = &rec[ep];
        *r = (kn_epoch_record){.epoch = ep + 1, .loss = seen ? loss_sum / (double)seen : NAN,
                               .accuracy = classify && seen ? (double)correct / (double)seen : NAN,
                               .val_loss = NAN, .val_accuracy = NAN, .seconds = seconds,
                               .learning_rate = m->graph->opt.learning_rate, .skipped_steps = epoch_skipped,
                               .loss_scale = scaler.on ? scaler.scale : 1.0};
        if (n_val > 0 && res.on) { /* the split's rows, or the validation data's, are on the device too */
            int64_t at = o.validation_data ? res.val_first : val_start;
            if ((st = kn__resident_evaluate(&res, m, at, n_val, &r->val_loss, &r->val_accuracy, classify))) break;
        } else if (n_val > 0) {
            kn_eval_report vr;
            if ((st = kn__model_evaluate_range(m, val, val_start, n_val, &vr, NULL))) break;
            r->val_loss = vr.loss;
            r->val_accuracy = vr.accuracy;
        }
        times[ep] = seconds;
        m->history.n_epochs = ep + 1;
        if (o.verbose >= 1) {
            char line[256], t_str[48], bar_str[40];
            int used = 0;
            format_time(t_str, sizeof t_str, seconds, seconds / (double)steps);
            bar(bar_str, steps, steps);
            if (o.verbose == 1)
                used = snprintf(line, sizeof line, "%lld/%lld %s - %s", (long long)steps, (long long)steps, bar_str, t_str);
            else
                used = snprintf(line, sizeof line, "Epoch %d/%d - %.2fs", ep + 1, o.epochs, seconds);
            used += snprintf(line + used, sizeof line - (size_t)used, " - loss: %.4f", r->loss);
            if (classify) used += snprintf(line + used, sizeof line - (size_t)used, " - accuracy: %.4f", r->accuracy);
            if (n_val > 0) {
                used += snprintf(line + used, sizeof line - (size_t)used, " - val_loss: %.4f", r->val_loss);
                if (classify) used += snprintf(line + used, sizeof line - (size_t)used, " - val_accuracy: %.4f", r->val_accuracy);
            }
            if (scaler.on) /* fp16: the updates skipped for overflow, the scale now */
                snprintf(line + used, sizeof line - (size_t)used, " - skipped: %lld - loss_scale: %g",
                         (long long)epoch_skipped, (double)scaler.scale);
            kn__log(ctx, KN_LOG_INFO, "%s", line);
        }
        if (saving && kn__monitor_update(&best_mon, r)) {
            if (writer && (st = kn__model_save_file(m, o.best_path, NULL))) break;
            if (o.verbose >= 1)
                kn__log(ctx, KN_LOG_INFO, "Epoch %d: %s improved to %.5f, model saved to %s", ep + 1,
                        kn__monitor_name(&best_mon), best_mon.best, o.best_path);
        }
        if (plateau_on) {
            double next = kn__plateau_update(&plateau, r, base_lr);
            if (next != base_lr && o.verbose >= 1)
                kn__log(ctx, KN_LOG_INFO, "Epoch %d: ReduceLROnPlateau reducing learning rate to %g", ep + 1, next);
            base_lr = next;
        }
        if (stopping) {
            if (kn__monitor_update(&stop_mon, r) && best_w) {
                if ((st = kn__model_pull(m))) break;
                memcpy(best_w, m->graph->param_buf, m->graph->param_floats * sizeof(float));
            }
            if (stop_mon.wait >= es->patience && ep + 1 < o.epochs) {
                stop = true;
                m->history.stopped_early = true;
                if (o.verbose >= 1) kn__log(ctx, KN_LOG_INFO, "Epoch %d: early stopping", ep + 1);
            }
        }
        if (o.checkpoint_path && writer) { /* every epoch's end, after the control saw the epoch */
            here = (struct kn__train_pos){.valid = true, .epoch = ep + 1, .epochs = o.epochs, .batch_size = bs,
                                          .seed = seed, .validation_split = o.validation_split};
            here.control = control_pos(stopping ? &stop_mon : NULL, saving ? &best_mon : NULL, plateau_on ? &plateau : NULL,
                                       base_lr);
            here.best_weights = best_w && stop_mon.best_epoch > 0 ? best_w : NULL;
            here.augment = o.augment;
            here.schedule = o.schedule;
            here.loss_scale = scaler.on ? scaler.scale : 0;
            here.loss_scale_good = scaler.good;
            if ((st = kn__model_save_file(m, o.checkpoint_path, &here))) break;
        }
        if (o.callback && !o.callback(o.callback_user, ep + 1, -1, r->loss)) stop = true;
        if (o.epoch_callback && !o.epoch_callback(o.callback_user, r)) stop = true;
    }
    /* as Keras 3's EarlyStopping.on_train_end: the best epoch's weights come back at the end
     * of training, stopped early or not (unless the last epoch was the best) */
    /* the trained parameters and state in the host buffers (what a device graph holds) */
    kn_status pst = kn__model_pull(m);
    if (!st) st = pst;
    if (!st && best_w && stop_mon.best_epoch > 0 && stop_mon.best_epoch != m->history.n_epochs) {
        memcpy(m->graph->param_buf, best_w, m->graph->param_floats * sizeof(float));
        st = kn__graph_push(m->graph, KN_SYNC_PARAMS);
        if (o.verbose >= 1)
            kn__log(ctx, KN_LOG_INFO, "Restoring model weights from the end of the best epoch: %d", stop_mon.best_epoch);
    }
    kn__free(ctx, best_w);
    kn__free(ctx, grad_sum);
    kn__free(ctx, row_w);
    m->history.best_epoch = stopping ? stop_mon.best_epoch : saving ? best_mon.best_epoch : 0;
    m->graph->opt.learning_rate = m->copts.optimizer.learning_rate;
    /* the scaler's state for the next fit; the graph back to unscaled for anything else */
    m->loss_scale = scaler.on ? scaler.scale : 0;
    m->loss_scale_good = scaler.good;
    m->graph->loss_scale = m->graph->grad_unscale = 1.0f;
    m->history.skipped_steps = skipped_total;
    if (o.resume && !st) m->pos.valid = false; /* consumed */
    m->history.steps = m->graph->step;
    m->history.train_seconds = kn__now() - t_fit;
    m->history.seconds_per_epoch = median(times, m->history.n_epochs);
    if (m->history.n_epochs > 0) {
        const kn_epoch_record *r = &rec[m->history.n_epochs - 1];
        const char *keys[] = {"final_loss", "final_accuracy", "val_loss", "val_accuracy", "seconds_per_epoch"};
        double vals[] = {r->loss, r->accuracy, r->val_loss, r->val_accuracy, m->history.seconds_per_epoch};
        char summary[512];
        int used = snprintf(summary, sizeof summary, "{\"epochs\": %d, \"steps\": %lld, \"batch_size\": %lld, \"n_train\": %lld",
                            m->history.n_epochs, (long long)m->history.steps, (long long)bs, (long long)n_train);
        if (m->copts.precision != KN_PRECISION_FP32)
            used += snprintf(summary + used, sizeof summary - (size_t)used, ", \"precision\": \"%s\"",
                             kn_precision_name(m->copts.precision));
        if (scaler.on)
            used += snprintf(summary + used, sizeof summary - (size_t)used, ", \"skipped_steps\": %lld, \"loss_scale\": %g",
                             (long long)skipped_total, (double)scaler.scale);
        for (int k = 0; k < 5; k++) /* JSON has no NaN: absent metrics are null */
            used += snprintf(summary + used, sizeof summary - (size_t)used, isfinite(vals[k]) ? ", \"%s\": %.6g" : ", \"%s\": null",
                             keys[k], vals[k]);
        snprintf(summary + used, sizeof summary - (size_t)used, "}");
        kn_status sst = kn__model_set_training_summary(m, summary);
        if (!st) st = sst;
    }
    m->history.ranks = d->world;
    m->history.rank_batch_size = share;
    m->history.allreduce_seconds = d->reduce_seconds;
    m->history.resident = res.on;
    if (ctx->profile)
        fprintf(stderr, "kiln profile: batch gathering %.3f s (waiting for the loader thread %.3f s); rank %d of %d: "
                "all-reduce %.3f s over %lld updates, agreements %.3f s\n", gather_s, ld.wait_seconds, d->rank, d->world,
                d->reduce_seconds, (long long)d->reduces, d->agree_seconds);
    kn__resident_close(&res, ctx);
    kn__loader_free(&ld);
    kn__free(ctx, perm);
    kn__free(ctx, times);
    if (history) *history = &m->history;
    /* the last collective: every rank leaves together, with the first failure if any */
    return kn__dist_agree(d, st, KN_DIST_TAG_END, NULL, 0);
}

kn_status kn_model_fit(kn_model *m, const kn_dataset *data, const kn_fit_opts *opts, const kn_history **history) {
    if (!m || !data) return KN_ERR_INVALID_ARGUMENT;
    kn_fit_opts o = opts ? *opts : (kn_fit_opts){0};
    if (m->classic) return kn__classic_fit(m, data, &o, history); /* alone on each rank: the same data, the same fit */
    if (!opts) o.verbose = 1;
    kn__dist d;
    kn_status st = kn__dist_open(&d, m->ctx, o.distributed, o.grad_compression);
    if (!st) st = fit_network(m, data, o, history, &d);
    /* a rank that failed before the first agreement meets the others at it */
    if (!d.done) st = kn__dist_agree(&d, st, KN_DIST_TAG_LEFT, NULL, 0);
    kn__dist_close(&d);
    return st;
}
