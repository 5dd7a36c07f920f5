/* vocab.c — the names of activations, losses, initializers and optimizers (Keras's
 * spelling), their parsers, and the optimizers' Keras defaults. */
#include "core/core.h"

#include <stdio.h>
#include <string.h>

static const char *activation_names[] = {
    [KN_LINEAR] = "linear", [KN_RELU] = "relu", [KN_LEAKY_RELU] = "leaky_relu", [KN_ELU] = "elu",
    [KN_SIGMOID] = "sigmoid", [KN_TANH] = "tanh", [KN_GELU] = "gelu", [KN_SOFTMAX] = "softmax",
    [KN_SELU] = "selu", [KN_SOFTPLUS] = "softplus", [KN_SOFTSIGN] = "softsign", [KN_SILU] = "silu",
    [KN_HARD_SIGMOID] = "hard_sigmoid", [KN_HARD_SILU] = "hard_silu", [KN_RELU6] = "relu6", [KN_MISH] = "mish",
    [KN_EXPONENTIAL] = "exponential",
};
_Static_assert(sizeof activation_names / sizeof *activation_names == KN_ACTIVATION_COUNT, "activation names");

static const char *loss_names[] = {
    [KN_LOSS_MSE] = "mse", [KN_LOSS_MAE] = "mae", [KN_LOSS_BINARY_CROSSENTROPY] = "binary_crossentropy",
    [KN_LOSS_CATEGORICAL_CROSSENTROPY] = "categorical_crossentropy",
    [KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY] = "sparse_categorical_crossentropy",
    [KN_LOSS_HUBER] = "huber", [KN_LOSS_LOG_COSH] = "log_cosh", [KN_LOSS_HINGE] = "hinge",
    [KN_LOSS_SQUARED_HINGE] = "squared_hinge", [KN_LOSS_POISSON] = "poisson", [KN_LOSS_KL_DIVERGENCE] = "kl_divergence",
    [KN_LOSS_MSLE] = "msle", [KN_LOSS_MAPE] = "mape", [KN_LOSS_BINARY_FOCAL_CROSSENTROPY] = "binary_focal_crossentropy",
    [KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY] = "categorical_focal_crossentropy",
    [KN_LOSS_COSINE_SIMILARITY] = "cosine_similarity", [KN_LOSS_CATEGORICAL_HINGE] = "categorical_hinge",
};
_Static_assert(sizeof loss_names / sizeof *loss_names == KN_LOSS_COUNT, "loss names");

static const char *optimizer_names[] = {
    [KN_OPT_SGD] = "sgd", [KN_OPT_ADAM] = "adam", [KN_OPT_ADAMW] = "adamw",
    [KN_OPT_RMSPROP] = "rmsprop", [KN_OPT_ADAGRAD] = "adagrad", [KN_OPT_ADAMAX] = "adamax",
    [KN_OPT_ADADELTA] = "adadelta", [KN_OPT_NADAM] = "nadam", [KN_OPT_LION] = "lion", [KN_OPT_RADAM] = "radam",
    [KN_OPT_FTRL] = "ftrl",
};
_Static_assert(sizeof optimizer_names / sizeof *optimizer_names == KN_OPT_COUNT, "optimizer names");

static const char *init_names[] = {
    [KN_INIT_GLOROT_UNIFORM] = "glorot_uniform", [KN_INIT_ZEROS] = "zeros", [KN_INIT_ONES] = "ones",
    [KN_INIT_HE_UNIFORM] = "he_uniform", [KN_INIT_GLOROT_NORMAL] = "glorot_normal",
    [KN_INIT_HE_NORMAL] = "he_normal", [KN_INIT_LECUN_UNIFORM] = "lecun_uniform",
    [KN_INIT_LECUN_NORMAL] = "lecun_normal", [KN_INIT_ORTHOGONAL] = "orthogonal", [KN_INIT_CONSTANT] = "constant",
    [KN_INIT_UNIFORM] = "uniform",
};
_Static_assert(sizeof init_names / sizeof *init_names == KN_INIT_COUNT, "initializer names");

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
    if (i < 0 && name) { /* Keras's aliases */
        if (strcmp(name, "none") == 0) i = KN_LINEAR;
        else if (strcmp(name, "swish") == 0) i = KN_SILU;
        else if (strcmp(name, "hard_swish") == 0) i = KN_HARD_SILU;
    }
    if (i >= 0) *out = (kn_activation)i;
    return i >= 0;
}

void kn__join_names(const char *const *names, int n, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; (n < 0 ? names[i] != NULL : i < n) && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
}
void kn__activation_list(char *buf, size_t size) { kn__join_names(activation_names, KN_ACTIVATION_COUNT, buf, size); }
void kn__loss_list(char *buf, size_t size) { kn__join_names(loss_names, KN_LOSS_COUNT, buf, size); }
void kn__optimizer_list(char *buf, size_t size) { kn__join_names(optimizer_names, KN_OPT_COUNT, buf, size); }

const char *kn_loss_name(kn_loss l) { return (unsigned)l < KN_LOSS_COUNT ? loss_names[l] : "?"; }
bool kn_loss_parse(const char *name, kn_loss *out) {
    int i = find(loss_names, KN_LOSS_COUNT, name);
    if (i < 0 && name) { /* Keras's long aliases */
        static const struct { const char *alias; kn_loss loss; } aliases[] = {
            {"mean_squared_error", KN_LOSS_MSE}, {"mean_absolute_error", KN_LOSS_MAE},
            {"mean_squared_logarithmic_error", KN_LOSS_MSLE}, {"mean_absolute_percentage_error", KN_LOSS_MAPE},
            {"kld", KN_LOSS_KL_DIVERGENCE}, {"kullback_leibler_divergence", KN_LOSS_KL_DIVERGENCE},
            {"huber_loss", KN_LOSS_HUBER}, {"logcosh", KN_LOSS_LOG_COSH},
        };
        for (size_t k = 0; k < sizeof aliases / sizeof aliases[0]; k++)
            if (strcmp(name, aliases[k].alias) == 0) i = (int)aliases[k].loss;
    }
    if (i >= 0) *out = (kn_loss)i;
    return i >= 0;
}

/* Keras writes an initializer as its function name ("he_normal") or its class name
 * ("HeNormal"), so names compare without case and underscores: "glorotuniform" either way. */
static bool same_init_name(const char *a, const char *b) {
    for (;;) {
        while (*a == '_') a++;
        while (*b == '_') b++;
        char ca = (char)(*a >= 'A' && *a <= 'Z' ? *a - 'A' + 'a' : *a);
        char cb = (char)(*b >= 'A' && *b <= 'Z' ? *b - 'A' + 'a' : *b);
        if (ca != cb) return false;
        if (!ca) return true;
        a++;
        b++;
    }
}

const char *kn_init_name(kn_init kind) { return (unsigned)kind < KN_INIT_COUNT ? init_names[kind] : "?"; }
bool kn_init_parse(const char *name, kn_init *out) {
    if (!name || !out) return false;
    /* Keras's aliases: OrthogonalInitializer (Keras 3 exports it), "zero" and "one", and
     * RandomUniform / "random_uniform" for "uniform" (at its defaults, -0.05 and 0.05). */
    static const struct { const char *name; kn_init kind; } aliases[] = {
        {"orthogonal_initializer", KN_INIT_ORTHOGONAL}, {"zero", KN_INIT_ZEROS}, {"one", KN_INIT_ONES},
        {"random_uniform", KN_INIT_UNIFORM},
    };
    for (int i = 0; i < KN_INIT_COUNT; i++)
        if (same_init_name(name, init_names[i])) {
            *out = (kn_init)i;
            return true;
        }
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
        if (same_init_name(name, aliases[i].name)) {
            *out = aliases[i].kind;
            return true;
        }
    return false;
}

const char *kn_optimizer_name(kn_optimizer_kind k) {
    return (unsigned)k < KN_OPT_COUNT ? optimizer_names[k] : "?";
}
bool kn_optimizer_parse(const char *name, kn_optimizer_kind *out) {
    int i = find(optimizer_names, KN_OPT_COUNT, name);
    if (i >= 0) *out = (kn_optimizer_kind)i;
    return i >= 0;
}

static const char *const precision_names[KN_PRECISION_COUNT] = {"fp32", "bf16", "fp16"};
const char *kn_precision_name(kn_precision p) {
    return (unsigned)p < KN_PRECISION_COUNT ? precision_names[p] : "?";
}
bool kn_precision_parse(const char *name, kn_precision *out) {
    int i = find(precision_names, KN_PRECISION_COUNT, name);
    if (i >= 0) *out = (kn_precision)i;
    return i >= 0;
}

kn_optimizer kn_optimizer_default(kn_optimizer_kind k) {
    kn_optimizer o = {.kind = k, .learning_rate = 0.001f, .beta_1 = 0.9f, .beta_2 = 0.999f,
                      .epsilon = 1e-7f, .rho = 0.9f, .initial_accumulator = 0.1f, .momentum_decay = 1.0f};
    if (k == KN_OPT_SGD) o.learning_rate = 0.01f;
    if (k == KN_OPT_ADAMW) o.weight_decay = 0.004f;
    if (k == KN_OPT_ADADELTA) o.rho = 0.95f;
    if (k == KN_OPT_LION) o.beta_2 = 0.99f;     /* (Keras 3's) */
    if (k == KN_OPT_RADAM) o.epsilon = 1e-8f;   /* (PyTorch's: Keras has no RAdam) */
    if (k == KN_OPT_FTRL) o.lr_power = -0.5f;
    return o;
}

/* Keras's defaults for kind, at this learning rate. */
static kn_optimizer at_rate(kn_optimizer_kind kind, float learning_rate) {
    kn_optimizer o = kn_optimizer_default(kind);
    o.learning_rate = learning_rate;
    return o;
}
kn_optimizer kn_sgd(float learning_rate) { return at_rate(KN_OPT_SGD, learning_rate); }
kn_optimizer kn_adam(float learning_rate) { return at_rate(KN_OPT_ADAM, learning_rate); }
kn_optimizer kn_adamw(float learning_rate, float weight_decay) {
    kn_optimizer o = at_rate(KN_OPT_ADAMW, learning_rate);
    o.weight_decay = weight_decay;
    return o;
}
kn_optimizer kn_rmsprop(float learning_rate) { return at_rate(KN_OPT_RMSPROP, learning_rate); }
kn_optimizer kn_adagrad(float learning_rate) { return at_rate(KN_OPT_ADAGRAD, learning_rate); }
kn_optimizer kn_adamax(float learning_rate) { return at_rate(KN_OPT_ADAMAX, learning_rate); }
kn_optimizer kn_adadelta(float learning_rate) { return at_rate(KN_OPT_ADADELTA, learning_rate); }
kn_optimizer kn_nadam(float learning_rate) { return at_rate(KN_OPT_NADAM, learning_rate); }
kn_optimizer kn_lion(float learning_rate) { return at_rate(KN_OPT_LION, learning_rate); }
kn_optimizer kn_radam(float learning_rate) { return at_rate(KN_OPT_RADAM, learning_rate); }
kn_optimizer kn_ftrl(float learning_rate) { return at_rate(KN_OPT_FTRL, learning_rate); }
