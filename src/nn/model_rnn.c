/* model_rnn.c — the recurrent layers of a model (Keras's SimpleRNN, LSTM, GRU) over
 * (steps, features): their checks and shapes, their parameters (kernel, recurrent_kernel,
 * bias, as Keras names and shapes them) and their piece of the graph (graph/ops_rnn.c's
 * kn_rnn). */
#include "model.h"
#include "backend/rnn_cell.h"

#include <string.h>

kn_rnn_opts kn_rnn_defaults(kn_rnn_cell cell, int64_t units) {
    return (kn_rnn_opts){.cell = cell, .units = units, .activation = KN_TANH, .recurrent_activation = KN_SIGMOID,
                         .unit_forget_bias = cell == KN_RNN_LSTM, .kernel_init = KN_INIT_GLOROT_UNIFORM,
                         .recurrent_init = KN_INIT_ORTHOGONAL, .bias_init = KN_INIT_ZEROS};
}

kn_status kn_model_add_rnn(kn_model *m, const kn_rnn_opts *opts) {
    if (!m || !opts) return KN_ERR_INVALID_ARGUMENT;
    if ((unsigned)opts->cell >= KN_RNN_CELL_COUNT)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] rnn: unknown cell %d", m->n_layers, (int)opts->cell);
    kn__layer L = {.kind = KN__LAYER_RNN, .u.rnn = *opts};
    const char *type = kn__layer_type(&L);
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    int i = m->n_layers;
    const kn_rnn_opts *o = &L.u.rnn;
    if (o->units <= 0 || o->units > (1LL << 20))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: units is %lld (must be in [1, 2^20])", i, type,
                         (long long)o->units);
    if ((st = kn__model_check_init(m, type, o->activation, o->l2, o->kernel_init, o->bias_init, o->no_bias,
                                   o->init_value)))
        return st;
    if ((unsigned)o->recurrent_activation >= KN_ACTIVATION_COUNT || (unsigned)o->recurrent_init >= KN_INIT_COUNT)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: unknown recurrent_activation %d or "
                         "recurrent_initializer %d", i, type, (int)o->recurrent_activation, (int)o->recurrent_init);
    if (!kn__rnn_act_ok(o->activation) || !kn__rnn_act_ok(o->recurrent_activation))
        return kn__error(m->ctx, KN_ERR_SPEC, "layers[%d] %s: activation '%s', recurrent_activation '%s': a cell "
                         "takes any activation but softmax and gelu", i, type, kn_activation_name(o->activation),
                         kn_activation_name(o->recurrent_activation));
    int64_t in[KN_MAX_DIMS], f;
    int ndim = kn__model_layer_input(m, i, in, &f);
    if (ndim != 2)
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: needs a sequence input (steps, features), got %d "
                         "dimension%s (%lld values a sample; give the model an input_shape such as [%lld, 1], or "
                         "reshape)", i, type, ndim, ndim == 1 ? "" : "s", (long long)f, (long long)f);
    if ((unsigned)o->bidirectional >= KN_BIDI_COUNT)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: unknown merge_mode %d", i, type,
                         (int)o->bidirectional);
    if (o->go_backwards && o->return_sequences && !o->bidirectional)
        return kn__error(m->ctx, KN_ERR_SPEC, "layers[%d] %s: go_backwards with return_sequences is not supported "
                         "(Keras returns that sequence reversed; a bidirectional layer returns both halves in time "
                         "order)", i, type);
    if (o->go_backwards && o->bidirectional)
        return kn__error(m->ctx, KN_ERR_SPEC, "layers[%d] bidirectional: its layer's go_backwards must be false (the "
                         "wrapper makes the backward copy)", i);
    if (!(o->dropout >= 0 && o->dropout < 1) || !(o->recurrent_dropout >= 0 && o->recurrent_dropout < 1))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: dropout %g, recurrent_dropout %g (each must "
                         "be in [0, 1))", i, type, (double)o->dropout, (double)o->recurrent_dropout);
    int64_t gh = (int64_t)kn__rnn_gates(o->cell) * o->units;
    if (in[1] * gh > (1LL << 28) || kn__rnn_width(o->cell, o->units, in[0], o->recurrent_dropout > 0) > (1LL << 30))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: %lld units over (%lld steps, %lld features) is too "
                         "large", i, type, (long long)o->units, (long long)in[0], (long long)in[1]);
    L.index = 0; /* among the layers of its type (lstm_<i>; bidirectional_<i>) */
    for (int k = 0; k < m->n_layers; k++) L.index += strcmp(kn__layer_type(&m->layers[k]), type) == 0;
    int64_t out = o->bidirectional == KN_BIDI_CONCAT ? 2 * o->units : o->units;
    if (o->return_sequences) {
        L.ndim = 2;
        L.shape[0] = in[0];
        L.shape[1] = out;
    } else {
        L.ndim = 1;
        L.shape[0] = out;
    }
    return kn__model_push_layer(m, &L);
}

/* The parameter names within a recurrent layer: "kernel", "recurrent_kernel", "bias", or in a
 * bidirectional layer "forward_lstm/kernel" and so on. */
static const char *const plain_names[3] = {"kernel", "recurrent_kernel", "bias"};
static const char *const bidi_names[3][2][3] = {
    {{"forward_simple_rnn/kernel", "forward_simple_rnn/recurrent_kernel", "forward_simple_rnn/bias"},
     {"backward_simple_rnn/kernel", "backward_simple_rnn/recurrent_kernel", "backward_simple_rnn/bias"}},
    {{"forward_lstm/kernel", "forward_lstm/recurrent_kernel", "forward_lstm/bias"},
     {"backward_lstm/kernel", "backward_lstm/recurrent_kernel", "backward_lstm/bias"}},
    {{"forward_gru/kernel", "forward_gru/recurrent_kernel", "forward_gru/bias"},
     {"backward_gru/kernel", "backward_gru/recurrent_kernel", "backward_gru/bias"}}};

const char *const *kn__rnn_param_names(kn_rnn_cell cell, bool bidirectional, int dir) {
    return bidirectional ? bidi_names[cell][dir] : plain_names;
}

int kn__rnn_params(const kn_model *m, int i, kn__rnn_param out[KN__LAYER_MAX_PARAMS]) {
    const kn__layer *L = &m->layers[i];
    if (L->kind != KN__LAYER_RNN) return 0;
    const kn_rnn_opts *o = &L->u.rnn;
    int64_t in[KN_MAX_DIMS], H = o->units, gh = (int64_t)kn__rnn_gates(o->cell) * H;
    kn__model_layer_input(m, i, in, NULL);
    int n = 0;
    for (int dir = 0; dir < (o->bidirectional ? 2 : 1); dir++) {
        const char *const *nm = kn__rnn_param_names(o->cell, o->bidirectional, dir);
        out[n++] = (kn__rnn_param){nm[0], {in[1], gh}, 2, o->kernel_init, 0, 0};
        out[n++] = (kn__rnn_param){nm[1], {H, gh}, 2, o->recurrent_init, 0, 0};
        if (o->no_bias) continue;
        out[n] = o->cell == KN_RNN_GRU ? (kn__rnn_param){nm[2], {2, gh}, 2, o->bias_init, 0, 0}
                                       : (kn__rnn_param){nm[2], {gh, 0}, 1, o->bias_init, 0, 0};
        if (o->cell == KN_RNN_LSTM && o->unit_forget_bias) { /* the forget gate's units (the second H) start at 1 */
            out[n].ones_at = H;
            out[n].ones_len = H;
        }
        n++;
    }
    return n;
}

kn_tensor *kn__model_rnn(kn_model *m, kn_graph *g, int i, kn_tensor *h, kn_tensor *mask, kn_tensor **reg) {
    kn__layer *L = &m->layers[i];
    const kn_rnn_opts *o = &L->u.rnn;
    int64_t in[KN_MAX_DIMS];
    kn__model_layer_input(m, i, in, NULL);
    h = kn__model_view_as(g, h, in, 2); /* (batch, steps, features) */
    kn_tensor *p[KN__LAYER_MAX_PARAMS] = {NULL};
    if (kn__model_make_params(m, g, i, o->init_value, p) < 0) return NULL;
    int per = o->no_bias ? 2 : 3; /* parameters a direction */
    L->kernel = p[0];
    L->bias = o->no_bias ? NULL : p[2];
    unsigned flags = (o->return_sequences ? KN_RNN_RETURN_SEQUENCES : 0) | (o->go_backwards ? KN_RNN_GO_BACKWARDS : 0);
    /* (each direction of a bidirectional layer draws its own masks, as Keras's two copies) */
    kn_tensor *y = kn_rnn_dropout(g, o->cell, h, p[0], p[1], o->no_bias ? NULL : p[2], o->activation,
                                  o->recurrent_activation, flags, mask, o->dropout, o->recurrent_dropout);
    if (o->bidirectional) {
        kn_tensor *b = kn_rnn_dropout(g, o->cell, h, p[per], p[per + 1], o->no_bias ? NULL : p[per + 2], o->activation,
                                      o->recurrent_activation, flags | KN_RNN_GO_BACKWARDS, mask, o->dropout,
                                      o->recurrent_dropout);
        switch (o->bidirectional) {
        case KN_BIDI_CONCAT: y = kn_concat(g, y, b); break;
        case KN_BIDI_SUM: y = kn_add(g, y, b); break;
        case KN_BIDI_MUL: y = kn_mul(g, y, b); break;
        default: y = kn_scale(g, kn_add(g, y, b), 0.5f); break; /* ave */
        }
    }
    if (o->l2 > 0) { /* the kernels' (every direction's) l2, in the loss phase */
        g->build_phase = KN_PHASE_LOSS;
        for (int dir = 0; dir < (o->bidirectional ? 2 : 1); dir++) {
            kn_tensor *r = kn_scale(g, kn_sum_squares(g, p[dir * per]), o->l2);
            *reg = *reg ? kn_add(g, *reg, r) : r;
        }
        g->build_phase = KN_PHASE_FORWARD;
    }
    return y;
}
