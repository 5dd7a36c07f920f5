/* vocab.c — the names of activations, losses and optimizers (Keras's spelling), their
 * parsers, and the optimizers' Keras defaults. */
#include "core/core.h"

#include <string.h>

static const char *activation_names[] = {
    [KN_LINEAR] = "linear", [KN_RELU] = "relu", [KN_LEAKY_RELU] = "leaky_relu", [KN_ELU] = "elu",
    [KN_SIGMOID] = "sigmoid", [KN_TANH] = "tanh", [KN_GELU] = "gelu", [KN_SOFTMAX] = "softmax",
};
_Static_assert(sizeof activation_names / sizeof *activation_names == KN_ACTIVATION_COUNT, "activation names");

static const char *loss_names[] = {
    [KN_LOSS_MSE] = "mse", [KN_LOSS_MAE] = "mae", [KN_LOSS_BINARY_CROSSENTROPY] = "binary_crossentropy",
    [KN_LOSS_CATEGORICAL_CROSSENTROPY] = "categorical_crossentropy",
    [KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY] = "sparse_categorical_crossentropy",
};
_Static_assert(sizeof loss_names / sizeof *loss_names == KN_LOSS_COUNT, "loss names");

static const char *optimizer_names[] = {
    [KN_OPT_SGD] = "sgd", [KN_OPT_ADAM] = "adam", [KN_OPT_ADAMW] = "adamw",
    [KN_OPT_RMSPROP] = "rmsprop", [KN_OPT_ADAGRAD] = "adagrad",
};
_Static_assert(sizeof optimizer_names / sizeof *optimizer_names == KN_OPT_COUNT, "optimizer names");

static int find(const char *const *names, int n, const char *name) {
    if (!name) return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

const char *kn_activation_name(kn_activation a) {
    return (unsigned)a < KN_ACTIVATION_COUNT ? activation_names[a] : "?";
}
bool kn_activation_parse(const char *name, kn_activation *out) {
    int i = find(activation_names, KN_ACTIVATION_COUNT, name);
    if (i < 0 && name && strcmp(name, "none") == 0) i = KN_LINEAR;
    if (i >= 0) *out = (kn_activation)i;
    return i >= 0;
}

const char *kn_loss_name(kn_loss l) { return (unsigned)l < KN_LOSS_COUNT ? loss_names[l] : "?"; }
bool kn_loss_parse(const char *name, kn_loss *out) {
    int i = find(loss_names, KN_LOSS_COUNT, name);
    if (i < 0 && name) { /* Keras's long aliases */
        if (strcmp(name, "mean_squared_error") == 0) i = KN_LOSS_MSE;
        else if (strcmp(name, "mean_absolute_error") == 0) i = KN_LOSS_MAE;
    }
    if (i >= 0) *out = (kn_loss)i;
    return i >= 0;
}

const char *kn_optimizer_name(kn_optimizer_kind k) {
    return (unsigned)k < KN_OPT_COUNT ? optimizer_names[k] : "?";
}
bool kn_optimizer_parse(const char *name, kn_optimizer_kind *out) {
    int i = find(optimizer_names, KN_OPT_COUNT, name);
    if (i >= 0) *out = (kn_optimizer_kind)i;
    return i >= 0;
}

kn_optimizer kn_optimizer_default(kn_optimizer_kind k) {
    kn_optimizer o = {.kind = k, .learning_rate = 0.001f, .beta_1 = 0.9f, .beta_2 = 0.999f,
                      .epsilon = 1e-7f, .rho = 0.9f, .initial_accumulator = 0.1f};
    if (k == KN_OPT_SGD) o.learning_rate = 0.01f;
    if (k == KN_OPT_ADAMW) o.weight_decay = 0.004f;
    return o;
}

kn_optimizer kn_sgd(float learning_rate) {
    kn_optimizer o = kn_optimizer_default(KN_OPT_SGD);
    o.learning_rate = learning_rate;
    return o;
}
kn_optimizer kn_adam(float learning_rate) {
    kn_optimizer o = kn_optimizer_default(KN_OPT_ADAM);
    o.learning_rate = learning_rate;
    return o;
}
kn_optimizer kn_adamw(float learning_rate, float weight_decay) {
    kn_optimizer o = kn_optimizer_default(KN_OPT_ADAMW);
    o.learning_rate = learning_rate;
    o.weight_decay = weight_decay;
    return o;
}
kn_optimizer kn_rmsprop(float learning_rate) {
    kn_optimizer o = kn_optimizer_default(KN_OPT_RMSPROP);
    o.learning_rate = learning_rate;
    return o;
}
kn_optimizer kn_adagrad(float learning_rate) {
    kn_optimizer o = kn_optimizer_default(KN_OPT_ADAGRAD);
    o.learning_rate = learning_rate;
    return o;
}
