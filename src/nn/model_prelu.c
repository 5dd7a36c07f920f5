/* model_prelu.c — Keras's PReLU as a model layer: y = relu(x) + alpha (x - relu(x)), that is
 * x where x > 0 and alpha x elsewhere, with alpha learned. Keras gives each element of a
 * sample its own alpha (alpha of the input's shape) unless shared_axes share it; kiln takes
 * either that or one alpha per channel (shared over every axis but the last: Keras's
 * shared_axes [1, 2] on images, [1] on sequences, PyTorch's nn.PReLU(num_parameters=C) on
 * channels-last data). The parameter "prelu_<i>/alpha" has Keras's shape: the input's, with
 * the shared axes 1. Built from the graph's elementwise ops (relu, sub, a row-broadcast
 * mul, add), so every backend and the fuse pass have it and autodiff gives alpha's gradient
 * (the row broadcast's column sums). */
#include "model.h"

kn_status kn_model_add_prelu(kn_model *m, const kn_prelu_opts *opts) {
    if (!m || !opts) return KN_ERR_INVALID_ARGUMENT;
    const char *type = "prelu";
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    kn_prelu_opts o = *opts;
    if (o.alpha_init == KN_INIT_GLOROT_UNIFORM) o.alpha_init = KN_INIT_ZEROS; /* the zero value: Keras's default */
    if ((st = kn__model_check_init(m, type, KN_LINEAR, 0, o.alpha_init, KN_INIT_ZEROS, true, o.init_value))) return st;
    if (o.alpha_init == KN_INIT_ORTHOGONAL)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] prelu: alpha_initializer orthogonal needs a "
                         "matrix (use zeros, constant, ...)", m->n_layers);
    kn__layer L = {.kind = KN__LAYER_PRELU, .u.prelu = o, .index = kn__model_count_kind(m, KN__LAYER_PRELU)};
    L.ndim = kn__model_layer_input(m, m->n_layers, L.shape, NULL);
    return kn__model_push_layer(m, &L);
}

int kn__prelu_params(const kn_model *m, int i, kn__rnn_param out[KN__LAYER_MAX_PARAMS]) {
    const kn__layer *L = &m->layers[i];
    if (L->kind != KN__LAYER_PRELU) return 0;
    out[0] = (kn__rnn_param){"alpha", {0, 0, 0}, L->ndim, L->u.prelu.alpha_init, 0, 0};
    for (int d = 0; d < L->ndim && d < 3; d++) /* Keras's shape: the shared axes 1 */
        out[0].shape[d] = L->u.prelu.per_channel && d < L->ndim - 1 ? 1 : L->shape[d];
    return 1;
}

kn_tensor *kn__model_prelu(kn_model *m, kn_graph *g, int i, kn_tensor *h) {
    kn__layer *L = &m->layers[i];
    kn__rnn_param ps[KN__LAYER_MAX_PARAMS];
    kn__prelu_params(m, i, ps);
    kn_tensor *alpha_p[KN__LAYER_MAX_PARAMS] = {NULL};
    L->kernel = kn__model_make_params(m, g, i, L->u.prelu.init_value, alpha_p) == 1 ? alpha_p[0] : NULL;
    L->bias = NULL;
    if (!h || !L->kernel) return NULL;
    const kn__rnn_param p = ps[0];
    /* per channel: alpha (C) broadcast over every row of the last axis; per element: the
     * sample flattened to one row and alpha to one row of its size */
    int64_t n = kn__layer_param_numel(&p);
    kn_tensor *x = L->u.prelu.per_channel ? kn__model_view_as(g, h, L->shape, L->ndim)
                                          : kn_reshape(g, h, (int64_t[]){-1, n}, 2);
    kn_tensor *alpha = kn_reshape(g, L->kernel, (int64_t[]){n}, 1);
    kn_tensor *pos = kn_relu(g, x);
    kn_tensor *y = kn_add(g, pos, kn_mul(g, kn_sub(g, x, pos), alpha));
    return kn__model_view_as(g, y, L->shape, L->ndim);
}
