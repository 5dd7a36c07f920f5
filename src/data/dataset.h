/* dataset.h — a dataset inside: samples as f32 rows, classification labels or regression
 * targets, label names and the sample shape. Internal to libkiln. */
#ifndef KN_DATASET_H
#define KN_DATASET_H

#include "core/core.h"

struct kn_dataset {
    kn_ctx *ctx;
    int64_t n, features;
    float *x;                  /* (n, features) */
    int32_t *labels;           /* (n) classification, else NULL */
    float *targets;            /* (n, outputs) regression, else NULL */
    int64_t outputs;           /* regression outputs */
    int n_classes;             /* 0 for regression */
    char **label_names;        /* n_classes names or NULL */
    double input_scale;        /* raw units -> values in x (1/255 for images; 1 for arrays) */
    int64_t sample_shape[KN_MAX_DIMS];
    int sample_ndim;
    /* read from a CSV source and not yet preprocessed: x holds one raw value per column
     * (see data/tabular.h), described by raw (shared by the splits of one table); NULL
     * for model-ready data */
    struct kn__raw *raw;
    /* kn_dataset_inputs_as_targets: targets is a copy of x (an autoencoder's data), so
     * augmentation that moves pixels would misalign them (fit refuses it) */
    bool targets_are_inputs;
};

/* Copies what describes ds's rows (scale, sample shape, label names, raw table) to d. */
kn_status kn__dataset_copy_meta(kn_dataset *d, const kn_dataset *ds);

/* An empty dataset with buffers for n rows (labels when n_classes > 0, else targets). */
kn_status kn__dataset_alloc(kn_ctx *ctx, int64_t n, int64_t features, int n_classes, int64_t outputs,
                            kn_dataset **out);

/* Copies n_classes names into ds (replacing any). */
kn_status kn__dataset_set_names(kn_dataset *ds, const char *const *names);

#endif
