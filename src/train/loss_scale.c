/* loss_scale.c — fp16's dynamic loss scaling: the loss gradient is multiplied by a scale so
 * small gradients survive half-precision storage, the optimizer divides it out
 * (kn_graph.grad_unscale), and the scale adapts: halved, the update skipped, when the
 * gradient to apply holds an Inf or NaN; doubled after `interval` updates in a row without
 * one. Only powers of two (compile refuses other initial scales), so scaling and unscaling
 * are exact in f32. The decision is taken on the gradient that would be applied (after
 * accumulation and the all-reduce), so every rank of a data-parallel run takes the same. */
#include "loss_scale.h"
#include "nn/model.h"

#include <math.h>

kn_status kn__compile_check_precision(kn_ctx *ctx, const kn_compile_opts *c) {
    if ((unsigned)c->precision >= KN_PRECISION_COUNT)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "compile: unknown precision %d (fp32, bf16 or fp16)", (int)c->precision);
    /* powers of two keep scaling and unscaling exact; NaN fails every comparison */
    float s = c->loss_scale_initial;
    int e = 0;
    if (s != 0 && !(s >= KN_LOSS_SCALE_MIN && s <= KN_LOSS_SCALE_MAX && frexpf(s, &e) == 0.5f))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                         "compile: loss_scale_initial %g must be a power of two from 1 to 16777216 (0: 65536)", (double)s);
    if (c->loss_scale_growth_interval < 0)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                         "compile: loss_scale_growth_interval %d must be positive (0: 2000)", c->loss_scale_growth_interval);
    return KN_OK;
}

void kn__loss_scale_init(kn__loss_scale *s, const kn_compile_opts *c, float scale, int64_t good) {
    s->on = c->precision == KN_PRECISION_FP16;
    s->interval = c->loss_scale_growth_interval > 0 ? c->loss_scale_growth_interval : KN_LOSS_SCALE_GROWTH_DEFAULT;
    if (!(scale > 0)) { /* fresh: the options' initial scale (compile checked it) */
        scale = c->loss_scale_initial > 0 ? c->loss_scale_initial : KN_LOSS_SCALE_DEFAULT;
        good = 0;
    }
    scale = scale < KN_LOSS_SCALE_MIN ? KN_LOSS_SCALE_MIN : scale > KN_LOSS_SCALE_MAX ? KN_LOSS_SCALE_MAX : scale;
    s->scale = s->on ? scale : 1.0f;
    s->good = s->on && good > 0 ? good : 0;
}

bool kn__loss_scale_check(kn__loss_scale *s, const float *grad, size_t n, bool *at_floor) {
    *at_floor = false;
    if (!s->on || kn__all_finite(grad, n)) return true;
    s->good = 0;
    if (s->scale <= KN_LOSS_SCALE_MIN) *at_floor = true;
    else s->scale *= 0.5f;
    return false;
}

void kn__loss_scale_applied(kn__loss_scale *s) {
    if (!s->on) return;
    if (++s->good >= s->interval) {
        s->good = 0;
        if (s->scale < KN_LOSS_SCALE_MAX) s->scale *= 2.0f;
    }
}

/* Here rather than in nn/model.c, which the precision pass is reworking. */
kn_precision kn_model_precision(const kn_model *m) {
    return m && !m->classic && m->compiled ? m->copts.precision : KN_PRECISION_FP32;
}
