/* batch.c — moving rows of a dataset into the model's input and target tensors, in the
 * form the loss wants (labels, one-hot rows, 0/1 floats or regression targets), checking
 * that data and model agree, and counting correct predictions. */
#include "nn/model.h"
#include "data/dataset.h"

#include <math.h>
#include <string.h>

kn_status kn__model_check_data(kn_model *m, const kn_dataset *data) {
    int64_t outs = kn_model_output_size(m);
    if (!m->compiled) return kn__error(m->ctx, KN_ERR_STATE, "model: call kn_model_compile first");
    if (data->raw)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT,
                         "data: a raw CSV table (categories are codes): transform it with kn_preprocessor_fit/transform first");
    if (data->features != m->in_features)
        return kn__error(m->ctx, KN_ERR_SHAPE, "data: %lld features per sample, but the model's input has %lld",
                         (long long)data->features, (long long)m->in_features);
    kn_loss loss = m->copts.loss;
    if (data->n_classes > 0) {
        bool binary_ok = outs == 1 && data->n_classes <= 2;
        if (loss == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY || loss == KN_LOSS_CATEGORICAL_CROSSENTROPY) {
            if (outs < data->n_classes)
                return kn__error(m->ctx, KN_ERR_SHAPE, "data: %d classes, but the last layer has %lld units",
                                 data->n_classes, (long long)outs);
        } else if (!binary_ok && outs != data->n_classes) {
            return kn__error(m->ctx, KN_ERR_SHAPE, "data: %d classes for loss %s, but the last layer has %lld units",
                             data->n_classes, kn_loss_name(loss), (long long)outs);
        }
    } else {
        if (loss == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)
            return kn__error(m->ctx, KN_ERR_SPEC, "data: regression targets cannot use %s", kn_loss_name(loss));
        if (data->outputs != outs)
            return kn__error(m->ctx, KN_ERR_SHAPE, "data: %lld targets per sample, but the last layer has %lld units",
                             (long long)data->outputs, (long long)outs);
    }
    /* token indices for an embedding: checked once here, before any batch is loaded */
    return kn__model_check_indices(m, data->x, data->n, 0, "data");
}

/* The targets (and weights) of rows idx (or start..) into the model's tensors. */
static kn_status load_targets(kn_model *m, const kn_dataset *data, const int64_t *idx, int64_t start, int64_t n);

kn_status kn__model_load_batch_x(kn_model *m, const kn_dataset *data, const int64_t *idx, const float *x, int64_t n) {
    kn_status st = kn_graph_set_batch(m->graph, n);
    if (st) return st;
    kn__tensor_store_f32(m->x, 0, x, n * data->features);
    return load_targets(m, data, idx, 0, n);
}

kn_status kn__model_load_batch(kn_model *m, const kn_dataset *data, const int64_t *idx, int64_t start, int64_t n,
                               bool with_targets) {
    kn_status st = kn_graph_set_batch(m->graph, n);
    if (st) return st;
    int64_t f = data->features;
    for (int64_t i = 0; i < n; i++) { /* narrowed when mixed precision stores the input half */
        int64_t r = idx ? idx[i] : start + i;
        kn__tensor_store_f32(m->x, i * f, data->x + r * f, f);
    }
    return with_targets ? load_targets(m, data, idx, start, n) : KN_OK;
}

static kn_status load_targets(kn_model *m, const kn_dataset *data, const int64_t *idx, int64_t start, int64_t n) {
    if (m->sw) { /* training rows carry their weights; evaluation weighs every row 1 */
        float *w = m->sw->data;
        for (int64_t i = 0; i < n; i++) w[i] = m->row_weights ? m->row_weights[idx ? idx[i] : start + i] : 1.0f;
    }
    int64_t outs = kn_model_output_size(m);
    if (m->y->dtype == KN_I32) {
        int32_t *y = m->y->data;
        for (int64_t i = 0; i < n; i++) y[i] = data->labels[idx ? idx[i] : start + i];
        return KN_OK;
    }
    float *y = m->y->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = idx ? idx[i] : start + i;
        float *yr = y + i * outs;
        if (data->targets) {
            memcpy(yr, data->targets + r * outs, (size_t)outs * sizeof(float));
        } else if (outs == 1) { /* binary: the label as 0/1 */
            yr[0] = (float)data->labels[r];
        } else { /* one-hot */
            memset(yr, 0, (size_t)outs * sizeof(float));
            yr[data->labels[r]] = 1.0f;
        }
    }
    return KN_OK;
}

int64_t kn__model_batch_correct(kn_model *m, const kn_dataset *data, const int64_t *idx, int64_t start, int64_t n,
                                int64_t *counts) {
    if (!data->labels) return 0;
    const float *o = m->out->data; /* logits or probabilities: the argmax is the same */
    int64_t outs = kn_model_output_size(m), correct = 0;
    /* one output: a sigmoid probability, or a logit with from_logits */
    float threshold = kn__decision_threshold(&m->copts);
    for (int64_t i = 0; i < n; i++) {
        const float *r = o + i * outs;
        int32_t label = data->labels[idx ? idx[i] : start + i], best = 0;
        if (outs == 1) {
            best = r[0] > threshold;
        } else {
            for (int64_t j = 1; j < outs; j++)
                if (r[j] > r[best]) best = (int32_t)j;
        }
        correct += best == label;
        if (counts && best != label) {
            if (best < data->n_classes) counts[3 * best + 1]++;
            counts[3 * label + 2]++;
        } else if (counts) {
            counts[3 * label]++;
        }
    }
    return correct;
}
