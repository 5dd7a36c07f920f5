/* control.c — training control between epochs, as Keras's callbacks do it: a watched
 * metric and whether it improved (with min_delta and direction), early stopping,
 * reduce-on-plateau. fit.c calls these at each epoch's end. */
#include "control.h"

#include <math.h>
#include <string.h>

static const char *const metric_names[] = {"loss", "accuracy", "val_loss", "val_accuracy"};

kn_status kn__monitor_init(kn_ctx *ctx, kn__monitor *mon, const char *name, kn_monitor_mode mode, double min_delta,
                           bool have_val, const char *who) {
    memset(mon, 0, sizeof *mon);
    if (!name) name = have_val ? "val_loss" : "loss";
    mon->which = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(name, metric_names[i]) == 0) mon->which = i;
    if (mon->which < 0)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: unknown metric '%s' to monitor (loss, accuracy, val_loss, val_accuracy)",
                         who, name);
    if (mon->which >= 2 && !have_val)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s monitors %s, but there is no validation data (give a validation split)",
                         who, name);
    if (min_delta < 0 || !isfinite(min_delta))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: min_delta %g must be >= 0", who, min_delta);
    mon->maximize = mode == KN_MODE_MAX || (mode == KN_MODE_AUTO && (mon->which == 1 || mon->which == 3));
    mon->min_delta = min_delta;
    mon->best = mon->maximize ? -INFINITY : INFINITY;
    return KN_OK;
}

const char *kn__monitor_name(const kn__monitor *mon) { return metric_names[mon->which]; }

double kn__monitor_value(const kn__monitor *mon, const kn_epoch_record *r) {
    const double v[4] = {r->loss, r->accuracy, r->val_loss, r->val_accuracy};
    return v[mon->which];
}

bool kn__monitor_improves(const kn__monitor *mon, double value) {
    if (!isfinite(value)) return false;
    return mon->maximize ? value - mon->min_delta > mon->best : value + mon->min_delta < mon->best;
}

bool kn__monitor_update(kn__monitor *mon, const kn_epoch_record *r) {
    double v = kn__monitor_value(mon, r);
    if (kn__monitor_improves(mon, v)) {
        mon->best = v;
        mon->best_epoch = r->epoch;
        mon->wait = 0;
        return true;
    }
    mon->wait++;
    return false;
}

double kn__plateau_update(kn__plateau *p, const kn_epoch_record *r, double lr) {
    double v = kn__monitor_value(&p->mon, r);
    if (p->cooldown_left > 0) {
        p->cooldown_left--;
        p->mon.wait = 0;
    }
    if (kn__monitor_improves(&p->mon, v)) {
        p->mon.best = v;
        p->mon.wait = 0;
        return lr;
    }
    if (p->cooldown_left > 0) return lr;
    if (++p->mon.wait < p->opts.patience || lr <= p->opts.min_lr) return lr;
    p->mon.wait = 0;
    p->cooldown_left = p->opts.cooldown;
    double next = lr * p->opts.factor;
    return next > p->opts.min_lr ? next : p->opts.min_lr;
}
