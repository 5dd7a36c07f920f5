/* resident.h — fit's training data on the graph's device (resident.c; backend.h's
 * resident_* and KN_RUN_RESIDENT). */
#ifndef KN_TRAIN_RESIDENT_H
#define KN_TRAIN_RESIDENT_H

#include "nn/model.h"
#include "backend/backend.h"
#include "loss_scale.h"
#include "loader.h"

typedef struct kn__resident {
    bool on;                     /* the tables are on the device: fit runs resident steps */
    kn_graph *graph;
    uint16_t *x_half;            /* (n, features) the features narrowed, until uploaded */
    float *y_rows;               /* (n, outs) one-hot or 0/1 targets built from the labels */
    float *weights;              /* (n) each row's weight: the fit's, ones where it has none */
    int32_t *order;              /* (n) the epoch's order, or the rows to evaluate */
    bool accumulate;             /* gradient accumulation on the device (KN_RUN_ACCUMULATE runs) */
    int64_t val_first;           /* separate validation data: its first row's index in the tables, else -1 */
    /* image augmentation on the device (the loader's settings): each epoch's draws for the
     * n_train training rows, made here and handed to the backend (resident_augment) */
    const kn__loader *aug;       /* NULL: none */
    kn__augment_draw *draws;     /* (n_train) */
    int64_t n_train;
} kn__resident;

/* Binds m's training data (and val, separate validation data, or NULL: its rows after
 * data's) on its graph's device when the backend offers it, the data fits and eligible
 * (fit's plain case) holds; r->on says whether it did (off is no error). row_w: the first
 * n_train rows' weights, or NULL. nccl: data parallel through this communicator (backend.h),
 * or NULL. */
kn_status kn__resident_open(kn__resident *r, kn_model *m, const kn_dataset *data, const kn_dataset *val, int64_t n_train,
                            const float *row_w, const kn__loss_scale *scaler, bool accumulate, void *nccl, bool eligible,
                            const kn__loader *aug);
/* aug: the loader when it augments (its settings, image shape and seed), else NULL; the
 * training rows are then augmented on the device as the loader would augment them (the
 * backend's resident_augment; without it, r->on stays false). */
/* The epoch's order (perm[0..n)) to the device, augmenting: the epoch's draws, and the
 * figures from zero. */
kn_status kn__resident_epoch(kn__resident *r, const int64_t *perm, int64_t n, int epoch);
/* Augmenting: applies row `row`'s draws of the current epoch to x (one sample), as the
 * device did (the host's diagnosis of a failed step); else nothing. */
void kn__resident_augment_row(const kn__resident *r, int64_t row, float *x, float *scratch);
/* One whole training step on the rows at order[first .. first + rows). micro: the batch's
 * dropout slot (its place in an accumulation group, and the rank's). Accumulating (opened
 * with accumulate):
 * update: the group's last batch, whose update takes the group's gradient sum over
 * group_rows rows; else the gradient is only added to the device's sum. */
kn_status kn__resident_step(kn__resident *r, int64_t first, int64_t rows, int64_t micro, bool update, int64_t group_rows);
/* The loss and accuracy (NaN without labels) of rows [start, start + count) of the bound
 * tables (a validation split, or the separate validation data at val_first), in batches of the model's, on the device: the figures of
 * kn__model_evaluate_range, without a copy or a wait per batch. The epoch's sums are
 * spent: call it after reading them. */
kn_status kn__resident_evaluate(kn__resident *r, kn_model *m, int64_t start, int64_t count, double *loss, double *accuracy,
                                bool labels);
/* The epoch's figures so far and any failure (synchronizes with the device). */
kn_status kn__resident_stats(kn__resident *r, kn_resident_stats *s);
void kn__resident_close(kn__resident *r, kn_ctx *ctx);

#endif
