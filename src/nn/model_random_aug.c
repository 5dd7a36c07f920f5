/* model_random_aug.c — Keras 3's RandomFlip, RandomTranslation, RandomRotation, RandomZoom,
 * RandomContrast and RandomBrightness as model layers (KN__LAYER_RANDOM_IMAGE, u.random_image:
 * the kn_random_image_opts): their checks (errors name the layer and the field), graphs and
 * summary lines. Images (height, width, channels) only. No parameters; the ops
 * (graph/ops_random_aug.c) draw in training runs alone, so evaluation and prediction see the
 * identity, and a graph without backward (a loaded model's inference graph) drops them. */
#include "model.h"

#include <stdio.h>

kn_status kn_model_add_random_image(kn_model *m, const kn_random_image_opts *o) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    const char *type = kn__random_image_name(o ? (int)o->kind : -1);
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    char msg[160];
    if (!kn__random_image_check(o, msg, sizeof msg))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: %s", m->n_layers, type, msg);
    int64_t in[KN_MAX_DIMS];
    if ((st = kn__model_image_input(m, type, in))) return st;
    kn__layer L = {.kind = KN__LAYER_RANDOM_IMAGE, .u.random_image = *o, .ndim = 3};
    if (!L.u.random_image.seeded) L.u.random_image.seed = 0;
    for (int d = 0; d < 3; d++) L.shape[d] = in[d];
    return kn__model_push_layer(m, &L);
}

kn_tensor *kn__model_random_image(kn_model *m, kn_graph *g, int i, kn_tensor *h) {
    int64_t in[KN_MAX_DIMS];
    kn__model_layer_input(m, i, in, NULL);
    return kn_random_image(g, kn__model_view_as(g, h, in, 3), &m->layers[i].u.random_image);
}

int kn__random_image_summary(const kn__layer *L, char *buf, size_t size) {
    const kn_random_image_opts *o = &L->u.random_image;
    static const char *const fills[] = {"reflect", "wrap", "constant", "nearest"};
    const char *fill = (unsigned)o->fill_mode <= KN_FILL_NEAREST ? fills[o->fill_mode] : "?";
    const char *interp = o->interpolation == KN_INTERP_NEAREST ? "nearest" : "bilinear";
    const char *type = kn__layer_type(L);
    switch (o->kind) {
    case KN_RANDOM_FLIP:
        return snprintf(buf, size, " -> %s %s", type,
                        o->horizontal && o->vertical ? "horizontal_and_vertical" : o->horizontal ? "horizontal" : "vertical");
    case KN_RANDOM_ROTATION:
        return snprintf(buf, size, " -> %s [%g, %g] %s %s", type, (double)o->factor[0], (double)o->factor[1], fill,
                        interp);
    case KN_RANDOM_TRANSLATION:
    case KN_RANDOM_ZOOM:
        if (o->kind == KN_RANDOM_ZOOM && o->width_same)
            return snprintf(buf, size, " -> %s [%g, %g] %s %s", type, (double)o->factor[0], (double)o->factor[1], fill,
                            interp);
        return snprintf(buf, size, " -> %s [%g, %g]x[%g, %g] %s %s", type, (double)o->factor[0], (double)o->factor[1],
                        (double)o->width_factor[0], (double)o->width_factor[1], fill, interp);
    default:
        return snprintf(buf, size, " -> %s [%g, %g] range [%g, %g]", type, (double)o->factor[0], (double)o->factor[1],
                        (double)o->value_range[0], (double)o->value_range[1]);
    }
}
