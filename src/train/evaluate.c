/* evaluate.c — a network's evaluation over rows of a dataset, in batches of its graph:
 * the mean loss, accuracy and macro F1 from per-class counts (classification), MSE, RMSE,
 * MAE and R^2 (regression). fit's validation uses it too (unless the rows are resident on
 * the device: train/resident.c). */
#include "nn/model.h"
#include "classic/model.h"
#include "data/dataset.h"

#include <math.h>

kn_status kn__model_evaluate_range(kn_model *m, const kn_dataset *data, int64_t start, int64_t count,
                                   kn_eval_report *report, int64_t *counts) {
    double loss_sum = 0;
    int64_t correct = 0;
    kn_status st = KN_OK;
    /* regression: squared and absolute errors over every output, and R^2 per output about
     * the targets' mean (scikit-learn's uniform average; a constant target scores 1 when fit
     * exactly, else 0) */
    int64_t outs = data->targets ? data->outputs : 0;
    double sq = 0, ab = 0, *stats = outs ? kn__calloc(m->ctx, (size_t)outs * 3, sizeof *stats) : NULL;
    if (outs && !stats) return kn__error(m->ctx, KN_ERR_OUT_OF_MEMORY, "evaluate: out of memory for %lld outputs", (long long)outs);
    double *mean = stats, *ss_res = stats ? stats + outs : NULL, *ss_tot = stats ? stats + 2 * outs : NULL;
    bool per_output = outs > 0;
    for (int64_t i = 0; per_output && i < count; i++)
        for (int64_t o = 0; o < outs; o++) mean[o] += data->targets[(start + i) * outs + o] / (double)count;
    unsigned phases = KN_PHASE_FORWARD | KN_PHASE_LOSS | (outs ? KN_PHASE_PREDICT : 0);
    for (int64_t i = 0; i < count && !st; i += m->max_batch) {
        int64_t b = count - i < m->max_batch ? count - i : m->max_batch;
        st = kn__model_load_batch(m, data, NULL, start + i, b, true);
        if (!st) st = kn__graph_run_phases(m->graph, phases);
        if (st) break;
        loss_sum += (double)*(float *)m->loss->data * (double)b;
        correct += kn__model_batch_correct(m, data, NULL, start + i, b, counts);
        if (outs) {
            const float *p = m->pred->data, *y = data->targets + (start + i) * outs;
            for (int64_t k = 0; k < b * outs; k++) {
                double e = (double)p[k] - (double)y[k];
                sq += e * e;
                ab += fabs(e);
                if (per_output) {
                    double d = (double)y[k] - mean[k % outs];
                    ss_res[k % outs] += e * e;
                    ss_tot[k % outs] += d * d;
                }
            }
        }
    }
    report->n = count;
    report->loss = count ? loss_sum / (double)count : NAN;
    report->accuracy = data->labels && count ? (double)correct / (double)count : NAN;
    report->f1_macro = NAN;
    report->mse = report->rmse = report->mae = report->r2 = NAN;
    if (outs && count && !st) {
        double total = (double)count * (double)outs, r2 = 0;
        report->mse = sq / total;
        report->rmse = sqrt(report->mse);
        report->mae = ab / total;
        for (int64_t o = 0; per_output && o < outs; o++)
            r2 += (ss_tot[o] > 0 ? 1 - ss_res[o] / ss_tot[o] : ss_res[o] == 0 ? 1 : 0) / (double)outs;
        report->r2 = per_output ? r2 : NAN;
    }
    kn__free(m->ctx, stats);
    if (counts && data->labels && !st) { /* classes absent from both truth and predictions are skipped */
        double f1_sum = 0;
        int present = 0;
        for (int c = 0; c < data->n_classes; c++) {
            int64_t tp = counts[3 * c], fp = counts[3 * c + 1], fn = counts[3 * c + 2];
            if (tp + fp + fn == 0) continue;
            f1_sum += 2.0 * (double)tp / (double)(2 * tp + fp + fn);
            present++;
        }
        report->f1_macro = present ? f1_sum / present : NAN;
    }
    return st;
}

kn_status kn_model_evaluate(kn_model *m, const kn_dataset *data, kn_eval_report *report) {
    if (!m || !data || !report) return KN_ERR_INVALID_ARGUMENT;
    if (m->classic) return kn__classic_evaluate(m, data, report);
    kn_status st = kn__model_check_data(m, data);
    if (!st) st = kn__model_ensure_graph(m, 1, false);
    if (st) return st;
    int64_t *counts = NULL;
    if (data->labels && !(counts = kn__calloc(m->ctx, (size_t)data->n_classes * 3, sizeof *counts)))
        return kn__error(m->ctx, KN_ERR_OUT_OF_MEMORY, "evaluate: out of memory");
    st = kn__model_evaluate_range(m, data, 0, data->n, report, counts);
    kn__free(m->ctx, counts);
    return st;
}
