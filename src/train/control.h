/* control.h — training control between epochs (control.c): watched metrics, early stopping,
 * reduce-on-plateau. Internal to libkiln. */
#ifndef KN_CONTROL_H
#define KN_CONTROL_H

#include "core/core.h"

typedef struct kn__monitor {
    int which;          /* 0 loss, 1 accuracy, 2 val_loss, 3 val_accuracy */
    bool maximize;
    double min_delta;
    double best;        /* best value so far (+-inf before the first epoch) */
    int best_epoch;     /* 1-based; 0 before any improvement */
    int wait;           /* epochs since the last improvement */
} kn__monitor;

/* name NULL: val_loss with validation data, else loss. who names the caller in errors. */
kn_status kn__monitor_init(kn_ctx *ctx, kn__monitor *mon, const char *name, kn_monitor_mode mode, double min_delta,
                           bool have_val, const char *who);
const char *kn__monitor_name(const kn__monitor *mon);
double kn__monitor_value(const kn__monitor *mon, const kn_epoch_record *r);
/* value beats the best by more than min_delta in the improving direction (NaN never does). */
bool kn__monitor_improves(const kn__monitor *mon, double value);
/* Takes an epoch's record: true (and best updated, wait reset) when it improved. */
bool kn__monitor_update(kn__monitor *mon, const kn_epoch_record *r);

typedef struct kn__plateau {
    kn_reduce_on_plateau opts;
    kn__monitor mon;
    int cooldown_left;
} kn__plateau;
/* Keras's ReduceLROnPlateau.on_epoch_end: returns the learning rate for the next epoch. */
double kn__plateau_update(kn__plateau *p, const kn_epoch_record *r, double lr);

#endif
