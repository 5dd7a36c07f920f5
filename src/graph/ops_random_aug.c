/* ops_random_aug.c — Keras 3's random image-augmentation layers as two ops (graph.h):
 * KN_OP_RANDOM_AFFINE (random_flip, random_translation, random_rotation, random_zoom: a
 * per-sample affine resampling) and KN_OP_RANDOM_COLOR (random_contrast, random_brightness: a
 * per-sample, per-channel pointwise map with a clip), their public builder (which checks the
 * options, naming the field), shape inference and backward. Like dropout, they draw in training
 * runs only and copy otherwise; simplify drops them from graphs without backward. Their
 * gradients draw the forward's transforms again (the same key and step). The arithmetic is
 * backend/random_aug_formulas.h's; the kernels cpu/random_aug.c's and cuda/kernels_random_aug.cu's. */
#include "graph.h"
#include "backend/random_aug_formulas.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const kind_names[] = {"random_flip",     "random_translation", "random_rotation",
                                         "random_zoom",     "random_contrast",    "random_brightness"};
_Static_assert(sizeof kind_names / sizeof *kind_names == KN_RANDOM_IMAGE_KINDS, "a name for every kind");

const char *kn__random_image_name(int kind) {
    return (unsigned)kind < KN_RANDOM_IMAGE_KINDS ? kind_names[kind] : "random_image";
}

/* A factor pair [lower, upper] within [lo, hi], lower <= upper; else the message. */
static bool pair_ok(const char *field, const float *f, float lo, float hi, char *msg, size_t size) {
    if (isfinite(f[0]) && isfinite(f[1]) && f[0] >= lo && f[1] <= hi && f[0] <= f[1]) return true;
    snprintf(msg, size, "%s [%g, %g] must be lower <= upper within [%g, %g]", field, (double)f[0], (double)f[1],
             (double)lo, (double)hi);
    return false;
}

bool kn__random_image_check(const kn_random_image_opts *o, char *msg, size_t size) {
    if (!o || (unsigned)o->kind >= KN_RANDOM_IMAGE_KINDS) {
        snprintf(msg, size, "%s", o ? "unknown kind" : "options are NULL");
        return false;
    }
    bool geometric = o->kind <= KN_RANDOM_ZOOM;
    if (o->seeded && o->seed < 0) {
        snprintf(msg, size, "seed %d must be >= 0", (int)o->seed);
        return false;
    }
    if (geometric && (unsigned)o->fill_mode > KN_FILL_NEAREST) {
        snprintf(msg, size, "fill_mode %d unknown", (int)o->fill_mode);
        return false;
    }
    if (geometric && o->interpolation != KN_INTERP_NEAREST && o->interpolation != KN_INTERP_BILINEAR) {
        snprintf(msg, size, "interpolation %d unknown", (int)o->interpolation);
        return false;
    }
    if (geometric && !isfinite(o->fill_value)) {
        snprintf(msg, size, "fill_value %g must be finite", (double)o->fill_value);
        return false;
    }
    switch (o->kind) {
    case KN_RANDOM_FLIP:
        if (o->horizontal || o->vertical) return true;
        snprintf(msg, size, "mode flips no axis");
        return false;
    case KN_RANDOM_TRANSLATION:
        return pair_ok("height_factor", o->factor, -1, 1, msg, size) &&
               pair_ok("width_factor", o->width_factor, -1, 1, msg, size);
    case KN_RANDOM_ZOOM:
        return pair_ok("height_factor", o->factor, -1, 1, msg, size) &&
               (o->width_same || pair_ok("width_factor", o->width_factor, -1, 1, msg, size));
    case KN_RANDOM_ROTATION: return pair_ok("factor", o->factor, -1, 1, msg, size);
    case KN_RANDOM_CONTRAST:
        if (!(o->factor[0] >= 0 && o->factor[0] <= 1 && o->factor[1] >= 0 && o->factor[1] <= 1)) {
            snprintf(msg, size, "factor [%g, %g]: each must be in [0, 1]", (double)o->factor[0], (double)o->factor[1]);
            return false;
        }
        break;
    default: /* brightness */
        if (!pair_ok("factor", o->factor, -1, 1, msg, size)) return false;
        break;
    }
    if (isfinite(o->value_range[0]) && isfinite(o->value_range[1]) && o->value_range[0] < o->value_range[1]) return true;
    snprintf(msg, size, "value_range [%g, %g] must be finite with low < high", (double)o->value_range[0],
             (double)o->value_range[1]);
    return false;
}

kn_tensor *kn_random_image(kn_graph *g, kn_tensor *x, const kn_random_image_opts *o) {
    if (!g || g->status != KN_OK) return NULL;
    char msg[160];
    if (!kn__random_image_check(o, msg, sizeof msg)) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: %s", kn__random_image_name(o ? (int)o->kind : -1), msg);
        return NULL;
    }
    bool geometric = o->kind <= KN_RANDOM_ZOOM;
    kn_tensor *t = kn__node(g, geometric ? KN_OP_RANDOM_AFFINE : KN_OP_RANDOM_COLOR, x, NULL, NULL);
    if (!t) return NULL;
    t->iparam[0] = t->id; /* the build index: the same in every graph built alike */
    t->iparam[3] = o->seeded ? o->seed : -1;
    if (geometric) {
        unsigned flags = (unsigned)o->fill_mode | (o->interpolation == KN_INTERP_NEAREST ? KN_RAUG_NEAREST : 0u);
        t->iparam[1] = (int)o->kind - KN_RANDOM_FLIP + KN_RAUG_FLIP;
        if (o->kind == KN_RANDOM_FLIP) {
            flags = KN_RAUG_NEAREST | (o->horizontal ? KN_RAUG_FLIP_H : 0u) | (o->vertical ? KN_RAUG_FLIP_V : 0u);
        }
        if (o->kind == KN_RANDOM_ZOOM && o->width_same) flags |= KN_RAUG_ZOOM_SAME;
        t->iparam[2] = (int)flags;
        int32_t bits;
        memcpy(&bits, &o->fill_value, sizeof bits);
        t->iparam[5] = bits;
        t->fparam[0] = o->factor[0], t->fparam[1] = o->factor[1];
        t->fparam[2] = o->width_factor[0], t->fparam[3] = o->width_factor[1];
    } else {
        t->iparam[1] = o->kind == KN_RANDOM_CONTRAST ? KN_RAUG_CONTRAST : KN_RAUG_BRIGHTNESS;
        t->fparam[0] = o->factor[0], t->fparam[1] = o->factor[1];
        t->fparam[2] = o->value_range[0], t->fparam[3] = o->value_range[1];
    }
    return kn__finish(g, t);
}

/* x (or dy): an F32 image (N, H, W, C); the gradients' dy is src[1] for the color op. */
bool kn__infer_random_image(kn_graph *g, kn_tensor *t) {
    const kn_tensor *x = t->src[0];
    char sx[64];
    bool color = t->op == KN_OP_RANDOM_COLOR || t->op == KN_OP_RANDOM_COLOR_GRAD;
    int kinds = color ? KN_RAUG_COLOR_KINDS : KN_RAUG_GEOMETRIC_KINDS;
    if (t->iparam[1] < 0 || t->iparam[1] >= kinds)
        return kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: kind %d unknown", t->name, (int)t->iparam[1]);
    if (x->dtype != KN_F32 || x->ndim != 4 || kn__batch_rows(x) != 1 || x->shape[1] == KN_BATCH ||
        x->shape[2] == KN_BATCH || x->shape[3] == KN_BATCH || x->shape[1] < 1 || x->shape[2] < 1 || x->shape[3] < 1)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: '%s' must be F32 (batch, height, width, channels), got %s %s",
                              t->name, x->name, kn_dtype_name(x->dtype), kn__shape_str(x, sx, sizeof sx));
    /* the float source positions of the resampling: sides up to 2^23, as bilinear resizing's */
    if (!color && (x->shape[1] > (1 << 23) || x->shape[2] > (1 << 23)))
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: %s has a side over 2^23 cells", t->name,
                              kn__shape_str(x, sx, sizeof sx));
    if (t->op == KN_OP_RANDOM_COLOR_GRAD && !kn__same_shape(x, t->src[1]))
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: dy's shape differs from x's", t->name);
    t->ndim = 4;
    for (int d = 0; d < 4; d++) t->shape[d] = x->shape[d];
    t->batch_rows = 1;
    return true;
}

/* A gradient node with the forward's parameters (key, kind, flags, seed, factors). */
static kn_tensor *grad_node(kn_graph *g, kn_op op, const kn_tensor *t, kn_tensor *a, kn_tensor *b) {
    kn_tensor *d = kn__node(g, op, a, b, NULL);
    if (!d) return NULL;
    memcpy(d->iparam, t->iparam, sizeof d->iparam);
    memcpy(d->fparam, t->fparam, sizeof d->fparam);
    return kn__finish(g, d);
}

/* The resampling is linear in x: dx is its transpose (the fill value has no gradient). */
void kn__backward_random_affine(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn__grad_accumulate(g, t->src[0], grad_node(g, KN_OP_RANDOM_AFFINE_GRAD, t, dy, NULL));
}

/* Recomputes the mean and the clip's mask from x. */
void kn__backward_random_color(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn__grad_accumulate(g, t->src[0], grad_node(g, KN_OP_RANDOM_COLOR_GRAD, t, t->src[0], dy));
}
