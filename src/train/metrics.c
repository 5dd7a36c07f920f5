/* metrics.c — classification metrics from a confusion matrix (precision, recall, F1 per
 * class; macro, micro and weighted averages, as scikit-learn defines them, with 0 where a
 * ratio is undefined) and the confusion matrix of a model on a dataset. */
#include "nn/model.h"
#include "classic/model.h"
#include "data/dataset.h"

#include <string.h>

void kn_metrics_from_confusion(const int64_t *cm, int c, kn_metrics *out, kn_class_metrics *per_class) {
    *out = (kn_metrics){.n_classes = c};
    int64_t n = 0, correct = 0;
    double p_sum = 0, r_sum = 0, f_sum = 0, f_weighted = 0;
    for (int k = 0; k < c; k++) {
        int64_t tp = cm[k * c + k], support = 0, predicted = 0;
        for (int j = 0; j < c; j++) {
            support += cm[k * c + j];
            predicted += cm[j * c + k];
        }
        double p = predicted ? (double)tp / (double)predicted : 0, r = support ? (double)tp / (double)support : 0;
        double f = p + r > 0 ? 2 * p * r / (p + r) : 0;
        if (per_class) per_class[k] = (kn_class_metrics){p, r, f, support};
        p_sum += p;
        r_sum += r;
        f_sum += f;
        f_weighted += f * (double)support;
        n += support;
        correct += tp;
    }
    out->n = n;
    out->accuracy = n ? (double)correct / (double)n : 0;
    out->f1_micro = out->accuracy;
    if (c > 0) {
        out->precision_macro = p_sum / c;
        out->recall_macro = r_sum / c;
        out->f1_macro = f_sum / c;
    }
    out->f1_weighted = n ? f_weighted / (double)n : 0;
}

int kn_model_class_count(const kn_model *m) {
    int64_t outs = kn_model_output_size(m);
    return outs > 1 ? (int)outs : 2;
}

kn_status kn_model_confusion(kn_model *m, const kn_dataset *data, int64_t *confusion, int n_classes) {
    if (!m || !data || !confusion) return KN_ERR_INVALID_ARGUMENT;
    if (!data->labels) return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "confusion: the data has no class labels");
    if (n_classes < kn_model_class_count(m) || n_classes < data->n_classes)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "confusion: %d classes is fewer than the model's %d or the data's %d",
                         n_classes, kn_model_class_count(m), data->n_classes);
    int c = n_classes;
    if (m->classic) { /* through its predictions, in chunks */
        int64_t outs = m->c_outputs, chunk = 4096;
        float *p = kn__alloc(m->ctx, (size_t)(chunk * outs) * sizeof *p);
        if (!p) return kn__error(m->ctx, KN_ERR_OUT_OF_MEMORY, "confusion: out of memory");
        memset(confusion, 0, (size_t)c * (size_t)c * sizeof *confusion);
        kn_status cst = data->features == m->in_features ? KN_OK
                        : kn__error(m->ctx, KN_ERR_SHAPE, "data: %lld features, the model takes %lld", (long long)data->features,
                                    (long long)m->in_features);
        for (int64_t i = 0; i < data->n && !cst; i += chunk) {
            int64_t b = data->n - i < chunk ? data->n - i : chunk;
            if ((cst = kn_model_predict(m, data->x + i * data->features, b, p))) break;
            for (int64_t r = 0; r < b; r++) {
                int64_t best = 0;
                for (int64_t j = 1; j < outs; j++) best = p[r * outs + j] > p[r * outs + best] ? j : best;
                confusion[(int64_t)data->labels[i + r] * c + best]++;
            }
        }
        kn__free(m->ctx, p);
        return cst;
    }
    kn_status st = kn__model_check_data(m, data);
    if (!st) st = kn__model_ensure_graph(m, 1, false);
    if (st) return st;
    int64_t outs = kn_model_output_size(m);
    float threshold = kn__decision_threshold(&m->copts);
    memset(confusion, 0, (size_t)c * (size_t)c * sizeof *confusion);
    for (int64_t i = 0; i < data->n && !st; i += m->max_batch) {
        int64_t b = data->n - i < m->max_batch ? data->n - i : m->max_batch;
        st = kn__model_load_batch(m, data, NULL, i, b, false);
        if (!st) st = kn__graph_run_phases(m->graph, KN_PHASE_FORWARD);
        const float *o = m->out->data; /* logits or probabilities: the argmax is the same */
        for (int64_t r = 0; !st && r < b; r++) {
            const float *row = o + r * outs;
            int64_t best = 0;
            if (outs == 1) best = row[0] > threshold;
            else
                for (int64_t j = 1; j < outs; j++) best = row[j] > row[best] ? j : best;
            confusion[(int64_t)data->labels[i + r] * c + best]++;
        }
    }
    return st;
}
