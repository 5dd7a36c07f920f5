/* model.h — the sequential model inside: its layers, and the one graph that serves
 * training (forward + loss + backward + update), evaluation (forward + loss) and
 * prediction (forward + output head) through phases. Internal to libkiln. */
#ifndef KN_MODEL_H
#define KN_MODEL_H

#include "graph/graph.h"

typedef struct kn__dense_layer {
    kn_dense_opts opts;
    kn_tensor *kernel, *bias;  /* in the current graph */
} kn__dense_layer;

struct kn_model {
    kn_ctx *ctx;
    int64_t input_shape[KN_MAX_DIMS];
    int input_ndim;
    int64_t in_features;       /* product of input_shape: Dense flattens its input */
    kn__dense_layer *layers;
    int n_layers, cap_layers;

    bool compiled;
    kn_compile_opts copts;
    bool fused_head;           /* last softmax/sigmoid folded into the loss (from_logits) */

    kn_graph *graph;           /* built on first use for batches up to max_batch */
    bool graph_stale;          /* compiled again since the graph was built */
    int64_t max_batch;
    kn_tensor *x;              /* (batch, in_features) */
    kn_tensor *y;              /* (batch) I32 labels, or (batch, outputs) F32 targets */
    kn_tensor *out;            /* last layer before the fused head: logits, or outputs */
    kn_tensor *pred;           /* what predict returns: probabilities or outputs */
    kn_tensor *loss;           /* scalar: the loss plus regularization */

    kn_epoch_record *records;  /* history of the last fit */
    kn_history history;
};

/* Builds (or rebuilds for a larger batch, keeping parameters and optimizer state) the
 * model's graph so it runs batches of up to max_batch. */
kn_status kn__model_ensure_graph(kn_model *m, int64_t max_batch);
/* Copies rows idx[0..n) of data (or rows start.. when idx is NULL) into the input and
 * target tensors and sets the batch; targets are converted to what the loss expects. */
kn_status kn__model_load_batch(kn_model *m, const kn_dataset *data, const int64_t *idx, int64_t start, int64_t n,
                               bool with_targets);
/* Number of correct predictions in the current batch (classification). counts, when not
 * NULL, accumulates per class c: counts[3c] true positives, [3c+1] false positives,
 * [3c+2] false negatives (for classes < n_classes). */
int64_t kn__model_batch_correct(kn_model *m, const kn_dataset *data, const int64_t *idx, int64_t start, int64_t n,
                                int64_t *counts);
/* Checks that data fits the model (features, classes or outputs); names what does not. */
kn_status kn__model_check_data(kn_model *m, const kn_dataset *data);
/* Evaluates rows [start, start + count) of data. */
kn_status kn__model_evaluate_range(kn_model *m, const kn_dataset *data, int64_t start, int64_t count,
                                   kn_eval_report *report, int64_t *counts);

#endif
