/* loss_scale.h — fp16's dynamic loss scaling (loss_scale.c), as PyTorch's GradScaler and
 * Keras's LossScaleOptimizer do it. fit.c owns one per run; internal to libkiln. */
#ifndef KN_LOSS_SCALE_H
#define KN_LOSS_SCALE_H

#include "core/core.h"

/* The bounds of the scale. Floor 1 (as TensorFlow's and DeepSpeed's scalers): below it the
 * scale would shrink gradients that already overflow fp16 unscaled (|g| > 65504), which
 * only a diverged model has; halving on forever is the failure PyTorch's unbounded scaler
 * shows (the scale sinks to 0 while every step is skipped), so an overflow at scale 1 stops
 * the run instead. Ceiling 2^24: it already lifts fp16's smallest subnormal (2^-24) to 1,
 * and without one a run that never overflows would double the scale to infinity in f32. */
#define KN_LOSS_SCALE_MIN 1.0f
#define KN_LOSS_SCALE_MAX 16777216.0f
#define KN_LOSS_SCALE_DEFAULT 65536.0f
#define KN_LOSS_SCALE_GROWTH_DEFAULT 2000

typedef struct kn__loss_scale {
    bool on;            /* fp16 training; off, the scale stays 1 and nothing is ever skipped */
    float scale;        /* the loss gradient's multiplier for the next update */
    int64_t good;       /* updates in a row without overflow since the scale last changed */
    int64_t interval;   /* good updates before the scale doubles */
} kn__loss_scale;

/* The scaler for a model's compile options at its start (scale 0: the options' initial). */
void kn__loss_scale_init(kn__loss_scale *s, const kn_compile_opts *c, float scale, int64_t good);
/* Whether the gradient about to be applied (n floats, still multiplied by the scale) may be:
 * true, the update goes ahead (then call kn__loss_scale_applied); false, it is skipped and
 * the scale halved (*at_floor: it was already at the minimum, and the run must stop). */
bool kn__loss_scale_check(kn__loss_scale *s, const float *grad, size_t n, bool *at_floor);
/* After an applied update: counts it, and doubles the scale after `interval` in a row. */
void kn__loss_scale_applied(kn__loss_scale *s);

#endif
