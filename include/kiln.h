/* kiln.h — the one public header of libkiln: a machine-learning training and inference
 * library in C11. Two levels: a Keras-like model level (kn_model_*) that most callers need,
 * and the graph level underneath it (kn_graph_*, tensor builders) for new layers.
 * Every fallible call returns kn_status; kn_last_error(ctx) says what and where. */
#ifndef KILN_H
#define KILN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_VERSION "0.1.0"

/* ---------------------------------------------------------------- status codes */

/* One list gives the enum and kn_status_name(); add a code here and nowhere else. */
#define KN_STATUS_LIST(X)                                                      \
    X(KN_OK, "ok")                                                             \
    X(KN_ERR_INVALID_ARGUMENT, "invalid argument")                            \
    X(KN_ERR_OUT_OF_MEMORY, "out of memory")                                  \
    X(KN_ERR_IO, "i/o error")                                                 \
    X(KN_ERR_FORMAT, "bad file format")                                       \
    X(KN_ERR_SHAPE, "shape mismatch")                                         \
    X(KN_ERR_DTYPE, "unsupported dtype")                                      \
    X(KN_ERR_SPEC, "bad model description")                                   \
    X(KN_ERR_STATE, "call out of order")                                      \
    X(KN_ERR_NUMERIC, "numeric failure")                                      \
    X(KN_ERR_UNSUPPORTED, "unsupported")                                      \
    X(KN_ERR_STOPPED, "stopped by callback")                                  \
    X(KN_ERR_DIST, "distributed training failure")                            \
    X(KN_ERR_DEVICE, "device failure")

typedef enum {
#define KN_STATUS_ENUM_(name, text) name,
    KN_STATUS_LIST(KN_STATUS_ENUM_)
#undef KN_STATUS_ENUM_
    KN_STATUS_COUNT
} kn_status;

/* Short constant name of a status ("KN_ERR_FORMAT"); never NULL. */
const char *kn_status_name(kn_status status);
/* Human description of a status ("bad file format"); never NULL. */
const char *kn_status_text(kn_status status);

/* ---------------------------------------------------------------- context */

typedef struct kn_ctx kn_ctx;

typedef enum {
    KN_LOG_DEBUG,
    KN_LOG_INFO,     /* a finished line: epoch summaries, reports */
    KN_LOG_PROGRESS, /* a line that the next PROGRESS or INFO line replaces (a progress bar) */
    KN_LOG_WARN,
    KN_LOG_ERROR
} kn_log_level;

/* Receives every line kiln prints; msg has no trailing newline. */
typedef void (*kn_log_fn)(void *user, kn_log_level level, const char *msg);

/* Allocator hook: every buffer kiln allocates for itself goes through it (OpenBLAS and
 * OpenMP allocate on their own). alloc must return memory aligned to `align` (a power of
 * two, at most 4096) or NULL. */
typedef struct kn_allocator {
    void *(*alloc)(void *user, size_t size, size_t align);
    void (*free)(void *user, void *ptr);
    void *user;
} kn_allocator;

/* Where a graph runs. KN_DEVICE_CUDA needs a build with KILN_CUDA and a GPU with its
 * driver (kn_device_check says which is missing). */
typedef enum { KN_DEVICE_CPU, KN_DEVICE_CUDA, KN_DEVICE_COUNT } kn_device;
const char *kn_device_name(kn_device d);
bool kn_device_parse(const char *name, kn_device *out);

typedef struct kn_ctx_opts {
    int threads;                  /* worker threads; 0 = all cores */
    uint64_t seed;                /* seeds init, shuffling, dropout; 0 is a valid seed */
    kn_log_fn log;                /* NULL: INFO/PROGRESS to stdout, WARN/ERROR to stderr */
    void *log_user;
    kn_log_level log_level;       /* lines below this level are dropped (default DEBUG+1) */
    const kn_allocator *allocator; /* NULL: aligned malloc; copied, must outlive the ctx */
    /* Tests only: called at named points ("save:before-rename", ...) so a crash-safety test
     * can kill the process there. NULL in normal use. */
    void (*test_hook)(void *user, const char *point);
    void *test_hook_user;
    kn_device device;             /* where graphs built on this ctx run (kn_graph_set_device) */
} kn_ctx_opts;

/* Creates a context (opts may be NULL for defaults). Free with kn_ctx_free. */
kn_status kn_ctx_new(const kn_ctx_opts *opts, kn_ctx **out);
void kn_ctx_free(kn_ctx *ctx);
/* The message of the last error on this context ("" if none). Owned by ctx. */
const char *kn_last_error(const kn_ctx *ctx);
int kn_ctx_threads(const kn_ctx *ctx);
uint64_t kn_ctx_seed(const kn_ctx *ctx);
/* Routes logging to stderr (the CLI's --json mode) or back to stdout. */
void kn_ctx_set_log_stream_stderr(kn_ctx *ctx, bool to_stderr);

/* ---------------------------------------------------------------- dtypes */

typedef enum { KN_F32, KN_F16, KN_BF16, KN_I32, KN_U8, KN_I8, KN_DTYPE_COUNT } kn_dtype;
size_t kn_dtype_size(kn_dtype dtype);
const char *kn_dtype_name(kn_dtype dtype);

/* Training precision (kn_compile_opts.precision). fp32: everything in float32. bf16, fp16:
 * mixed precision as PyTorch AMP and Keras's mixed_float16 policy: parameters, their
 * gradients and the optimizer state stay float32 (the master weights); activations and
 * their gradients are stored in the half type between ops, every kernel computing and
 * accumulating in float32. fp16 adds dynamic loss scaling (kn_compile_opts.loss_scale_*). */
typedef enum { KN_PRECISION_FP32, KN_PRECISION_BF16, KN_PRECISION_FP16, KN_PRECISION_COUNT } kn_precision;
const char *kn_precision_name(kn_precision p); /* "fp32", "bf16", "fp16" */
/* Parses "fp32", "bf16" or "fp16" (false, *out untouched, for anything else). */
bool kn_precision_parse(const char *s, kn_precision *out);

#define KN_MAX_DIMS 4

/* ---------------------------------------------------------------- nn vocabulary */

typedef enum {
    KN_LINEAR, KN_RELU, KN_LEAKY_RELU, KN_ELU, KN_SIGMOID, KN_TANH, KN_GELU, KN_SOFTMAX,
    /* Keras 3's others, with its formulas (PyTorch's where both have one): selu (fixed alpha
     * and scale), softplus, softsign, silu (alias swish: x * sigmoid(x)), hard_sigmoid
     * (relu6(x + 3) / 6), hard_silu (alias hard_swish: x * hard_sigmoid(x)), relu6, mish
     * (x * tanh(softplus(x))), exponential (exp(x)). */
    KN_SELU, KN_SOFTPLUS, KN_SOFTSIGN, KN_SILU, KN_HARD_SIGMOID, KN_HARD_SILU, KN_RELU6, KN_MISH,
    KN_EXPONENTIAL,
    KN_ACTIVATION_COUNT
} kn_activation;
const char *kn_activation_name(kn_activation a);
/* Parses a Keras activation name ("swish", "hard_swish" and "none" are aliases); returns
 * false if unknown. */
bool kn_activation_parse(const char *name, kn_activation *out);

typedef enum {
    KN_LOSS_MSE, KN_LOSS_MAE, KN_LOSS_BINARY_CROSSENTROPY, KN_LOSS_CATEGORICAL_CROSSENTROPY,
    KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
    /* One term per element, Keras 3's formulas (src/backend/loss_formulas.h): huber (delta
     * 1), log_cosh, hinge and squared_hinge (0/1 or -1/1 targets; a one-output model's
     * class is the sign of its output), poisson, kl_divergence (probabilities), msle and
     * mape (Keras's mean_squared_logarithmic_error, mean_absolute_percentage_error). */
    KN_LOSS_HUBER, KN_LOSS_LOG_COSH, KN_LOSS_HINGE, KN_LOSS_SQUARED_HINGE, KN_LOSS_POISSON, KN_LOSS_KL_DIVERGENCE,
    KN_LOSS_MSLE, KN_LOSS_MAPE,
    /* Keras 3's losses of a row at a time (src/backend/loss_formulas.h):
     * binary_focal_crossentropy and categorical_focal_crossentropy (Lin et al.'s focal loss:
     * cross-entropy times (1 - p_t)^gamma, weighted by alpha; kn_compile_opts.focal_gamma,
     * focal_alpha, apply_class_balancing), cosine_similarity (-cos(y, p) a row: -1 at best)
     * and categorical_hinge (one-hot targets; max(max of the wrong scores - the right one +
     * 1, 0)). */
    KN_LOSS_BINARY_FOCAL_CROSSENTROPY, KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY, KN_LOSS_COSINE_SIMILARITY,
    KN_LOSS_CATEGORICAL_HINGE,
    KN_LOSS_COUNT
} kn_loss;
const char *kn_loss_name(kn_loss l);
/* Parses a Keras loss name, short or long ("mean_squared_error", "kld", "huber_loss"). */
bool kn_loss_parse(const char *name, kn_loss *out);

typedef enum { KN_OPT_SGD, KN_OPT_ADAM, KN_OPT_ADAMW, KN_OPT_RMSPROP, KN_OPT_ADAGRAD, KN_OPT_ADAMAX,
               KN_OPT_ADADELTA, KN_OPT_NADAM, KN_OPT_LION, KN_OPT_RADAM, KN_OPT_FTRL, KN_OPT_COUNT } kn_optimizer_kind;

/* An optimizer and its hyperparameters. Build with kn_sgd()/kn_adam()/... for Keras's
 * defaults, then change fields. Adam/AdamW use the bias-corrected form of the paper
 * (PyTorch's): p -= lr * m_hat / (sqrt(v_hat) + epsilon). */
typedef struct kn_optimizer {
    kn_optimizer_kind kind;
    float learning_rate;
    float beta_1, beta_2;      /* adam, adamw, adamax, nadam, lion, radam */
    float epsilon;             /* adam, adamw, rmsprop, adagrad, adamax, adadelta, nadam, radam */
    float momentum;            /* sgd, rmsprop */
    bool nesterov;             /* sgd */
    float rho;                 /* rmsprop, adadelta */
    float weight_decay;        /* adamw (decoupled) */
    float initial_accumulator; /* adagrad, ftrl */
    float clip_norm;           /* > 0: scale gradients so their global L2 norm is at most this */
    float clip_value;          /* > 0: then clamp each gradient element to [-clip_value, clip_value] */
    float momentum_decay;      /* nadam: u_t = beta_1 (1 - 0.5 * 0.96^(t * momentum_decay)) */
    /* ftrl (Keras's names: learning_rate_power, l1_regularization_strength,
     * l2_regularization_strength, l2_shrinkage_regularization_strength, beta) */
    bool amsgrad;              /* adam, adamw: AMSGrad (Reddi et al. 2018; Keras's and PyTorch's amsgrad):
                                * the step divides by the largest second moment so far, a
                                * third state slot */
    float lr_power;            /* <= 0; -0.5 by default (0: a fixed rate) */
    float l1, l2, l2_shrinkage, ftrl_beta; /* >= 0 */
} kn_optimizer;
kn_optimizer kn_sgd(float learning_rate);     /* momentum 0, nesterov false */
kn_optimizer kn_adam(float learning_rate);    /* 0.9, 0.999, 1e-7 */
kn_optimizer kn_adamw(float learning_rate, float weight_decay);
kn_optimizer kn_rmsprop(float learning_rate); /* rho 0.9, momentum 0, 1e-7 */
kn_optimizer kn_adagrad(float learning_rate); /* initial accumulator 0.1, 1e-7 */
/* Keras's Adamax: m = b1 m + (1 - b1) g; u = max(b2 u, |g|); p -= lr / (1 - b1^t) m / (u + eps)
 * (0.9, 0.999, 1e-7). Adadelta: a = rho a + (1 - rho) g^2; d = sqrt(D + eps) / sqrt(a + eps) g;
 * D = rho D + (1 - rho) d^2; p -= lr d (rho 0.95, 1e-7; Keras's rate 0.001). */
kn_optimizer kn_adamax(float learning_rate);
kn_optimizer kn_adadelta(float learning_rate);
/* Nadam (Dozat 2016; PyTorch's NAdam, Keras's Nadam): Adam with Nesterov momentum under
 * the schedule u_t = b1 (1 - 0.5 * 0.96^(t * momentum_decay)); with P_t = u_1 ... u_t,
 * m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 * p -= lr [(1 - u_t) g / (1 - P_t) + u_{t+1} m / (1 - P_t u_{t+1})] / (sqrt(v / (1 - b2^t)) + eps)
 * (0.9, 0.999, 1e-7; momentum_decay 1: Keras 3's 0.96^t. PyTorch's and Keras 2's is
 * 0.004). */
kn_optimizer kn_nadam(float learning_rate);
/* Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"; Keras 3's Lion):
 * p -= lr sign(b1 m + (1 - b1) g); m = b2 m + (1 - b2) g (0.9, 0.99; one state slot, no
 * epsilon). Its steps are lr in every coordinate: rates 3-10x below Adam's are usual. */
kn_optimizer kn_lion(float learning_rate);
/* RAdam (Liu et al. 2020; PyTorch's torch.optim.RAdam): Adam whose adaptive step is used only
 * once the second moment's variance is tractable (rho_t > 5), scaled by the rectification
 * r_t, and momentum SGD with the bias-corrected first moment before that (the first 5 steps
 * at b2 0.999): no warm-up needed. (0.9, 0.999, epsilon 1e-8 as PyTorch, added to sqrt(v)
 * before the bias correction; the formulas in src/backend/radam_schedule.h.) */
kn_optimizer kn_radam(float learning_rate);
/* FTRL-Proximal (McMahan et al. 2013; Keras's Ftrl), for each weight w with accumulator n
 * (from initial_accumulator, 0.1) and linear term z (from 0), p = -lr_power (0.5):
 *   g' = g + 2 l2_shrinkage w;  n' = n + g^2;  z += g' - (n'^p - n^p) / lr * w;
 *   w = (clip(z, -l1, l1) - z) / (n'^p / lr + 2 (l2 + ftrl_beta / (2 lr)));  n = n'
 * (l1 drives weights to exactly 0: sparse linear models). */
kn_optimizer kn_ftrl(float learning_rate);
const char *kn_optimizer_name(kn_optimizer_kind k);
bool kn_optimizer_parse(const char *name, kn_optimizer_kind *out);
/* Keras defaults for an optimizer kind (learning_rate included). */
kn_optimizer kn_optimizer_default(kn_optimizer_kind k);

/* Learning-rate schedules: the rate of each optimizer step from the optimizer's base rate.
 * step counts updates from 0 (the first update uses step 0), as Keras's LearningRateSchedule
 * and PyTorch's schedulers stepped per batch. With warmup_steps > 0 the rate rises linearly
 * to the base over the first warmup_steps steps (step s gets base * (s + 1) / warmup_steps)
 * and the schedule proper starts after them (at its own step 0). */
typedef enum {
    KN_SCHEDULE_CONSTANT,    /* base */
    KN_SCHEDULE_STEP,        /* base * decay_rate ^ floor(step / decay_steps) (PyTorch StepLR) */
    KN_SCHEDULE_EXPONENTIAL, /* base * decay_rate ^ (step / decay_steps), floored when staircase (Keras ExponentialDecay) */
    KN_SCHEDULE_COSINE,      /* Keras CosineDecay to alpha * base over decay_steps; with t_mul > 0,
                              * CosineDecayRestarts (first period decay_steps, then t_mul times
                              * longer, m_mul times lower) */
    KN_SCHEDULE_POLYNOMIAL,  /* Keras PolynomialDecay: (base - end) * (1 - min(step, decay_steps) / decay_steps)^power + end */
    KN_SCHEDULE_ONE_CYCLE,   /* PyTorch OneCycleLR (cosine annealing, two phases): from max / div_factor up
                              * to max_learning_rate over pct_start of the steps, then down to
                              * max / (div_factor * final_div_factor); base is not used */
    KN_SCHEDULE_INVERSE_TIME, /* Keras InverseTimeDecay: base / (1 + decay_rate * step / decay_steps), the
                               * quotient floored when staircase */
    KN_SCHEDULE_PIECEWISE_CONSTANT, /* Keras PiecewiseConstantDecay: values[0] while step <= boundaries[0],
                                     * values[i] while boundaries[i - 1] < step <= boundaries[i], values[n]
                                     * after boundaries[n - 1]; the values are the rates (base is not used,
                                     * but by warm-up); no boundaries: base */
    KN_SCHEDULE_MULTI_STEP,   /* PyTorch MultiStepLR: base * decay_rate ^ (the milestones, in boundaries,
                               * that step has reached: boundaries[i] <= step) */
    KN_SCHEDULE_COUNT
} kn_schedule_kind;

#define KN_SCHEDULE_MAX_BOUNDARIES 32

typedef struct kn_schedule {
    kn_schedule_kind kind;
    int64_t warmup_steps;
    int64_t decay_steps;        /* step, exponential, cosine, polynomial (0: the whole run) */
    double decay_rate;          /* step (gamma), exponential */
    bool staircase;             /* exponential */
    double alpha;               /* cosine: the final rate as a fraction of the base */
    double t_mul, m_mul;        /* cosine restarts (t_mul 0: no restarts) */
    double end_learning_rate, power; /* polynomial */
    double max_learning_rate, pct_start, div_factor, final_div_factor; /* one_cycle */
    int n_boundaries;           /* piecewise_constant, multi_step: at most KN_SCHEDULE_MAX_BOUNDARIES */
    int64_t boundaries[KN_SCHEDULE_MAX_BOUNDARIES]; /* increasing steps (multi_step's milestones) */
    double values[KN_SCHEDULE_MAX_BOUNDARIES + 1];  /* piecewise_constant: n_boundaries + 1 rates */
} kn_schedule;

/* Defaults as Keras / PyTorch have them: step decay_rate 0.1; exponential 0.96; cosine
 * alpha 0, t_mul 0 (2.0 when restarts are asked for), m_mul 1; polynomial end 1e-4, power 1;
 * one_cycle pct_start 0.3, div_factor 25, final_div_factor 1e4; inverse_time decay_rate 0.5
 * (the Keras docs' example); multi_step decay_rate (gamma) 0.1; piecewise_constant and
 * multi_step without boundaries (set them). */
kn_schedule kn_schedule_default(kn_schedule_kind kind);
const char *kn_schedule_name(kn_schedule_kind kind);     /* "cosine" */
bool kn_schedule_parse(const char *name, kn_schedule_kind *out);
/* The learning rate of optimizer step `step` (0-based) of a run of total_steps steps
 * (used where decay_steps is 0, and by one_cycle). */
double kn_schedule_rate(const kn_schedule *s, double base_lr, int64_t step, int64_t total_steps);
/* Whether s's settings are usable (kn_model_fit checks it): KN_OK, or KN_ERR_INVALID_ARGUMENT
 * with a message naming the field in *why (a static string), as "schedule.boundaries: not
 * increasing". */
kn_status kn_schedule_check(const kn_schedule *s, const char **why);

/* Weight initializers, named and defined as Keras defines them (fans as Keras computes
 * them: a dense kernel (in, out); a conv kernel (h, w, in, out) times its receptive field).
 * glorot_uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out)); he_uniform: l = sqrt(6 / fan_in);
 * lecun_uniform: l = sqrt(3 / fan_in). The *_normal ones are Keras's truncated normals of
 * variance 2 / (fan_in + fan_out), 2 / fan_in and 1 / fan_in. orthogonal: Q of the QR of a
 * normal matrix (gain 1; leading dimensions flattened); constant: a value (kn_dense_opts'
 * init_value; 0 through kn_param). New kinds are appended, so existing numbers never change. */
typedef enum { KN_INIT_GLOROT_UNIFORM, KN_INIT_ZEROS, KN_INIT_ONES, KN_INIT_HE_UNIFORM,
               KN_INIT_GLOROT_NORMAL, KN_INIT_HE_NORMAL, KN_INIT_LECUN_UNIFORM, KN_INIT_LECUN_NORMAL,
               KN_INIT_ORTHOGONAL, KN_INIT_CONSTANT,
               KN_INIT_UNIFORM, /* Keras's "uniform": RandomUniform(-0.05, 0.05), the Embedding default */
               KN_INIT_COUNT } kn_init;
const char *kn_init_name(kn_init kind);                /* "he_normal" */
/* Parses an initializer's name as Keras writes it, case and underscores aside: "he_normal",
 * "HeNormal", "OrthogonalInitializer" (a name Keras 3 exports), "zero", "one"; false if unknown. */
bool kn_init_parse(const char *name, kn_init *out);

/* ---------------------------------------------------------------- graph level */

typedef struct kn_graph kn_graph;
typedef struct kn_tensor kn_tensor;

/* A graph owns its tensors. Builders return NULL after the first error; the error is
 * kept (sticky) and returned by kn_graph_compile, so building code checks once. */
kn_status kn_graph_new(kn_ctx *ctx, kn_graph **out);
void kn_graph_free(kn_graph *g);
kn_status kn_graph_status(const kn_graph *g);

/* Leaves. A leading dimension of -1 is the batch dimension, set by kn_graph_set_batch. */
kn_tensor *kn_input(kn_graph *g, kn_dtype dtype, const int64_t *shape, int ndim, const char *name);
/* A trainable parameter, stored in the graph's flat parameter buffer. */
kn_tensor *kn_param(kn_graph *g, const int64_t *shape, int ndim, kn_init init, const char *name);

/* Ops. Shapes are (rows, cols) for matrices; a batch is the leading dimension. */
kn_tensor *kn_matmul(kn_graph *g, kn_tensor *a, kn_tensor *b);                 /* (m,k)x(k,n) */
kn_tensor *kn_matmul_t(kn_graph *g, kn_tensor *a, kn_tensor *b, bool ta, bool tb);
/* kn_add, kn_sub, kn_mul: b of a's shape, a row (n) for each row, a scalar, or a per-sample
 * broadcast of a (or a of b): the same rank, the batch first, (batch, 1, .., 1, C) channels
 * or (batch, .., 1) a value a position (Keras's merges of gates or maps with an image). */
kn_tensor *kn_add(kn_graph *g, kn_tensor *a, kn_tensor *b); /* same shape, or b of shape (n) added to each row */
kn_tensor *kn_sub(kn_graph *g, kn_tensor *a, kn_tensor *b);
kn_tensor *kn_mul(kn_graph *g, kn_tensor *a, kn_tensor *b);
/* Each sample's axes reordered (Keras's Permute, 0-based here): x (batch, a_0 .. a_{n-1}), n
 * <= 3, to (batch, a_perm[0] .. a_perm[n-1]), a copy; perm a permutation of 0 .. n-1. */
kn_tensor *kn_permute(kn_graph *g, kn_tensor *x, const int *perm, int n);
kn_tensor *kn_scale(kn_graph *g, kn_tensor *a, float s);
/* a and b joined along their last axis; every other dimension equal: (..., n) (..., m) -> (..., n + m) */
kn_tensor *kn_concat(kn_graph *g, kn_tensor *a, kn_tensor *b);
/* The elementwise maximum of a and b, of one shape; a tie's gradient goes to a (as TensorFlow's). */
kn_tensor *kn_maximum(kn_graph *g, kn_tensor *a, kn_tensor *b);
/* Rows of table (V, D) picked by indices (a gather, an embedding lookup): indices of any
 * shape (..., a leading batch dimension allowed) -> (..., D). The indices are floats
 * holding whole numbers in [0, V) (V at most 2^24, where f32 still holds every integer);
 * any other value (negative, V or more, a fraction, NaN) picks a row of zeros, so the
 * kernels never read outside the table (the model layer refuses such data first). The
 * gradient goes to the table only, summed over repeated indices in index order (the same
 * bits on every thread count and device); indices get none. */
kn_tensor *kn_gather(kn_graph *g, kn_tensor *indices, kn_tensor *table);
/* Inverted dropout (Keras's): in a training run each element is zeroed with probability
 * rate in [0, 1) and the others scaled by 1 / (1 - rate); the identity when evaluating or
 * predicting. Masks come from the context's seed, the optimizer step and the node, so they
 * do not depend on the thread count and a resumed checkpoint draws them again. */
kn_tensor *kn_dropout(kn_graph *g, kn_tensor *x, float rate);
/* Keras's SpatialDropout1D/2D/3D: dropout of whole channels, x (batch, steps..., channels)
 * with one draw per (sample, channel) shared by every step (position) between; as
 * kn_dropout otherwise. */
kn_tensor *kn_spatial_dropout(kn_graph *g, kn_tensor *x, float rate);
/* Keras's GaussianNoise: in a training run x + stddev z, z a standard normal drawn per
 * element (as dropout's masks: from the context's seed, the optimizer step and the node); the
 * identity when evaluating or predicting. stddev finite and >= 0, else the graph fails. */
kn_tensor *kn_gaussian_noise(kn_graph *g, kn_tensor *x, float stddev);
/* Keras's GaussianDropout: in a training run x (1 + s z), s = sqrt(rate / (1 - rate)), z as
 * kn_gaussian_noise's (multiplicative noise of mean 1); the identity otherwise. rate in [0, 1). */
kn_tensor *kn_gaussian_dropout(kn_graph *g, kn_tensor *x, float rate);
/* Keras's AlphaDropout (for SELU networks): in a training run each element is replaced with
 * probability rate in [0, 1) by SELU's negative saturation -alpha scale, then all are scaled
 * and shifted (Keras 3's a and b) so that inputs of mean 0 and variance 1 keep them; the
 * identity otherwise. Draws as kn_dropout's. */
kn_tensor *kn_alpha_dropout(kn_graph *g, kn_tensor *x, float rate);
/* Batch normalization as Keras's BatchNormalization: per channel (the last dimension, over
 * every other), y = (x - mean) / sqrt(var + epsilon) * gamma + beta. In a training run mean
 * and var are the batch's (the variance biased, as Keras), and the run also updates the
 * moving statistics: moving = moving * momentum + batch * (1 - momentum), the batch's
 * biased variance included (Keras; PyTorch uses the unbiased one). Evaluating or
 * predicting it uses moving_mean and moving_var. gamma, beta (each (channels)) may be
 * NULL; moving_mean, moving_var are (channels) parameters that get no gradient, so the
 * optimizer never changes them (Keras: ones, zeros, zeros, ones; momentum 0.99, epsilon
 * 1e-3). momentum in [0, 1], epsilon > 0. */
kn_tensor *kn_batch_norm(kn_graph *g, kn_tensor *x, kn_tensor *gamma, kn_tensor *beta, kn_tensor *moving_mean,
                         kn_tensor *moving_var, float momentum, float epsilon);
/* Layer normalization as Keras's LayerNormalization (PyTorch's nn.LayerNorm over the last
 * dimension): each row of the last dimension (a sample's features; an image position's
 * channels) normalized by its own mean and biased variance, y = (x - mean) /
 * sqrt(var + epsilon) * gamma + beta, the same when training, evaluating or predicting (no
 * moving statistics). gamma and beta (each (channels), trained) may be NULL (Keras's
 * scale=False, center=False). epsilon > 0 (Keras 1e-3). */
kn_tensor *kn_layer_norm(kn_graph *g, kn_tensor *x, kn_tensor *gamma, kn_tensor *beta, float epsilon);
/* Group normalization as Keras's GroupNormalization (PyTorch's nn.GroupNorm on channels-last
 * data): x (batch, ..., C) with C a multiple of groups; each sample's channels in `groups`
 * groups of C / groups consecutive channels, each (sample, group) normalized by the mean and
 * biased variance of all its values (every position's channels of the group), then
 * y = (x - mean) / sqrt(var + epsilon) * gamma + beta per channel. groups 1 normalizes each
 * sample whole, groups C is instance normalization. The same when training, evaluating and
 * predicting. gamma and beta ((C) each) may be NULL. epsilon > 0 (Keras 1e-3, PyTorch 1e-5). */
kn_tensor *kn_group_norm(kn_graph *g, kn_tensor *x, kn_tensor *gamma, kn_tensor *beta, int groups, float epsilon);
/* Keras's UnitNormalization over the last axis: each row divided by its L2 norm,
 * y = x / sqrt(max(sum x^2, epsilon)) (Keras 1e-12; PyTorch's F.normalize floors the norm
 * itself at its eps instead, so the two differ only for rows of norm below 1e-6). */
kn_tensor *kn_unit_norm(kn_graph *g, kn_tensor *x, float epsilon);
kn_tensor *kn_act(kn_graph *g, kn_tensor *x, kn_activation a); /* softmax is over the last dim */
kn_tensor *kn_leaky_relu(kn_graph *g, kn_tensor *x, float alpha);
kn_tensor *kn_relu(kn_graph *g, kn_tensor *x);
kn_tensor *kn_sum_rows(kn_graph *g, kn_tensor *x);     /* (m,n) -> (n) */
kn_tensor *kn_sum_squares(kn_graph *g, kn_tensor *x);  /* any -> scalar */
kn_tensor *kn_transpose(kn_graph *g, kn_tensor *x);    /* (m,n) -> (n,m) */
/* A view of x with another shape of the same element count (no copy); a leading -1 keeps
 * the batch dimension, which must then lead x too. */
kn_tensor *kn_reshape(kn_graph *g, kn_tensor *x, const int64_t *shape, int ndim);

/* Convolution and pooling over images laid out NHWC: x is (batch, height, width, channels).
 * same: 'same' padding as Keras/TensorFlow (output ceil(in / stride), the padding split
 * with the smaller half at the top/left); otherwise 'valid' (whole windows only, an error
 * when the window is larger than the input). Window sizes, strides and dilations are in
 * [1, 255]. */
/* 2-D convolution (cross-correlation, as Keras's Conv2D) -> (batch, OH, OW, F). kernel is
 * a (KH*KW*C, F) parameter: Keras's (KH, KW, C, F) kernel flattened, row (ky*KW + kx)*C + c.
 * Computed as im2col then one matrix product, or, for a layer of few input channels (C < 16,
 * F a multiple of 8), directly from the image. Add a bias of shape (F) with kn_add and an
 * activation with kn_act (the graph optimizer fuses both into the convolution). */
kn_tensor *kn_conv2d(kn_graph *g, kn_tensor *x, kn_tensor *kernel, int kh, int kw, int sh, int sw, int dh, int dw,
                     bool same);
/* Grouped 2-D convolution (PyTorch's Conv2d groups, Keras's Conv2D(groups=G)): the C input
 * channels and the F filters each split into G equal groups, filter f reading only its
 * group's channels, group j = f / (F/G) the channels [j C/G, (j+1) C/G). kernel is a
 * (KH*KW*C/G, F) parameter, row (ky*KW + kx)*(C/G) + c for channel c of the filter's group
 * (Keras's (KH, KW, C/G, F) kernel flattened). One node, computed without copies of the
 * groups; G = 1 is kn_conv2d. G must divide C and F (else NULL, the graph's error). */
kn_tensor *kn_grouped_conv2d(kn_graph *g, kn_tensor *x, kn_tensor *kernel, int kh, int kw, int sh, int sw, int dh,
                             int dw, bool same, int groups);
/* Depthwise 2-D convolution (Keras's DepthwiseConv2D without its bias) -> (batch, OH, OW,
 * C*M): each input channel c convolved alone with M filters of its own (M, the depth
 * multiplier, is the kernel's columns / C), output channel c*M + m:
 *   y[n, oy, ox, c*M + m] = sum over (ky, kx) of x[n, oy*sh + ky*dh - pad_top,
 *                           ox*sw + kx*dw - pad_left, c] * kernel[ky*KW + kx, c*M + m]
 * kernel is a (KH*KW, C*M) parameter: Keras's (KH, KW, C, M) depthwise kernel flattened.
 * Windows, strides, dilations and padding as kn_conv2d; add a bias (C*M) with kn_add. The
 * node belongs to the graph; a kernel that does not fit x is refused (NULL, the graph's
 * error) naming both shapes. */
kn_tensor *kn_depthwise_conv2d(kn_graph *g, kn_tensor *x, kn_tensor *kernel, int kh, int kw, int stride_h,
                               int stride_w, int dilation_h, int dilation_w, bool same);
/* A transposed convolution's window and Keras's layer options (Conv2DTranspose; the layer
 * is kn_model_add_conv2d_transpose). The graph builder kn_conv2d_transpose reads the window
 * alone: kernel_h x kernel_w taps, strides and dilations (0 means 1), same ('same' padding,
 * else 'valid'), and output_padding_h / _w when has_output_padding (Keras's output_padding;
 * false is Keras's None), each below its stride. The layer reads the rest: filters, the
 * activation (alpha: a leaky_relu's or elu's), no_bias, kernel_init (the zero value is
 * glorot_uniform, Keras's default), bias_init (the zero value means zeros), init_value (a
 * Constant's), l2 (the kernel's regularizer). */
typedef struct kn_conv2d_transpose_opts {
    int64_t filters;
    int kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
    bool same;
    bool has_output_padding;
    int output_padding_h, output_padding_w;
    kn_activation activation;
    float alpha;
    bool no_bias;
    kn_init kernel_init, bias_init;
    float init_value;
    float l2;
} kn_conv2d_transpose_opts;
/* Transposed 2-D convolution (Keras's Conv2DTranspose without its bias, PyTorch's
 * ConvTranspose2d) -> (batch, OH, OW, F): the input gradient of the convolution that would
 * take (OH, OW, F) images to x's (H, W, C) with this kernel and window, so each input cell
 * spreads x[n, iy, ix, :] kernel^T over the window at (iy sh - crop_top, ix sw - crop_left):
 *   y[n, iy*sh + ky*dh - crop_top, ix*sw + kx*dw - crop_left, f] +=
 *       sum over c of x[n, iy, ix, c] * kernel[(ky*KW + kx)*F + f, c]
 * kernel is a (KH*KW*F, C) parameter: Keras's (KH, KW, F, C) kernel flattened (F = its rows
 * / (KH*KW)). Sizes as Keras (span = (K - 1) d + 1, op the output padding): 'valid'
 * OH = (H - 1) sh + span + op (op None: max(sh - span, 0)), crop 0; 'same' OH = H sh (op
 * None) or (H - 1) sh + span % 2 + op, cropped at the top as Keras crops (half the excess,
 * rounded down). Add a bias (F) with kn_add. Refused (NULL, the graph's error, one line) when
 * the kernel does not fit x, an output padding is not below its stride, the output would be
 * empty, or the crop exceeds 255. */
kn_tensor *kn_conv2d_transpose(kn_graph *g, kn_tensor *x, kn_tensor *kernel, const kn_conv2d_transpose_opts *opts);
/* Max over each (PH, PW) window (padding never wins) -> (batch, OH, OW, C); the gradient
 * goes to each window's first maximum. */
kn_tensor *kn_max_pool2d(kn_graph *g, kn_tensor *x, int ph, int pw, int sh, int sw, bool same);
/* Mean over each window's cells inside the image (padding is not counted, as Keras). */
kn_tensor *kn_avg_pool2d(kn_graph *g, kn_tensor *x, int ph, int pw, int sh, int sw, bool same);
/* Mean over height and width: (batch, H, W, C) -> (batch, C); H, W up to 255. */
kn_tensor *kn_global_avg_pool2d(kn_graph *g, kn_tensor *x);
/* Maximum over height and width: (batch, H, W, C) -> (batch, C); H, W up to 255. */
kn_tensor *kn_global_max_pool2d(kn_graph *g, kn_tensor *x);
/* Zero padding and cropping of images: (batch, H, W, C) -> (batch, H + top + bottom,
 * W + left + right, C). A positive amount adds that many rows (columns) of zeros on its side,
 * a negative one removes that many (as PyTorch's F.pad): Keras's ZeroPadding2D is
 * kn_pad2d(g, x, t, b, l, r), its Cropping2D kn_pad2d(g, x, -t, -b, -l, -r). Each amount
 * within +-2^24; the output keeps at least one row and column (else NULL, the graph's error
 * naming the input's shape). All four 0: x itself. The gradient is the same op on dy with
 * the amounts negated. */
kn_tensor *kn_pad2d(kn_graph *g, kn_tensor *x, int top, int bottom, int left, int right);
/* How kn_upsample2d fills the new cells. */
typedef enum { KN_INTERP_NEAREST, KN_INTERP_BILINEAR } kn_interpolation;
/* Upsampling of images: (batch, H, W, C) -> (batch, H size_h, W size_w, C), each factor in
 * [1, 4096]. KN_INTERP_NEAREST repeats each cell size_h x size_w times (Keras's UpSampling2D);
 * KN_INTERP_BILINEAR interpolates with half-pixel centers (Keras's interpolation="bilinear",
 * PyTorch's F.interpolate(mode="bilinear", align_corners=False)), each output axis up to
 * 2^23 cells. The gradient is a gather (deterministic). 1 x 1: x itself. */
kn_tensor *kn_upsample2d(kn_graph *g, kn_tensor *x, int size_h, int size_w, kn_interpolation interpolation);
/* Resizing of images to any size: (batch, H, W, C) -> (batch, height, width, C), each axis up
 * or down alone, height and width in [1, 2^23] (Keras's Resizing without crop_to_aspect_ratio,
 * tf.image.resize without antialias). Half-pixel centers with the float scale H / height:
 * KN_INTERP_BILINEAR as PyTorch's F.interpolate(size=..., mode="bilinear", align_corners=False),
 * KN_INTERP_NEAREST reads cell min(floor(H / height (y + 0.5)), H - 1) (PyTorch's
 * mode="nearest-exact"). The gradient is a gather (deterministic). The same size: x itself. */
kn_tensor *kn_resize2d(kn_graph *g, kn_tensor *x, int height, int width, kn_interpolation interpolation);
/* Keras 3's random image-augmentation layers as graph ops over images (batch, height, width,
 * channels), f32: in a training run each sample draws its own transform from (seed, step,
 * node, sample) (the layer's seed in place of the context's when seeded), the identity
 * otherwise (and removed from graphs without backward). Geometric kinds resample through a
 * per-sample affine map (one op); contrast and brightness act per sample and channel (another).
 * Factors are [lower, upper] pairs with Keras's meanings: rotation in turns (fractions of 2 pi;
 * positive counter-clockwise), translation in fractions of the side (positive right / down),
 * zoom 1 + a draw (positive zooms out), contrast a factor in [1 - lower, 1 + upper], brightness
 * a delta lower .. upper times the value range's width. */
typedef enum {
    KN_RANDOM_FLIP, KN_RANDOM_TRANSLATION, KN_RANDOM_ROTATION, KN_RANDOM_ZOOM, KN_RANDOM_CONTRAST,
    KN_RANDOM_BRIGHTNESS, KN_RANDOM_IMAGE_KINDS
} kn_random_image_kind;
/* Where a geometric layer reads outside the image: Keras's fill_mode. */
typedef enum { KN_FILL_REFLECT, KN_FILL_WRAP, KN_FILL_CONSTANT, KN_FILL_NEAREST } kn_fill_mode;
typedef struct kn_random_image_opts {
    kn_random_image_kind kind;
    float factor[2];        /* the height's (translation, zoom) or the only factor: lower, upper */
    float width_factor[2];  /* translation and zoom: the width's lower, upper */
    bool width_same;        /* zoom: width_factor None, the width zoomed as the height (aspect kept) */
    bool horizontal, vertical; /* flip: the axes one coin flips (Keras's mode) */
    kn_fill_mode fill_mode; /* geometric: Keras's default KN_FILL_REFLECT (0) */
    kn_interpolation interpolation; /* geometric: set KN_INTERP_BILINEAR for Keras's default (0 is nearest) */
    float fill_value;       /* KN_FILL_CONSTANT's value */
    float value_range[2];   /* contrast and brightness: the clip, Keras's default (0, 255) */
    bool seeded;            /* the layer's own seed (Keras's seed) keys its draws; else the context's */
    int32_t seed;           /* when seeded: in [0, 2^31 - 1] */
} kn_random_image_opts;
/* The op of o (checked: kinds, modes, factors in range; errors name the field). */
kn_tensor *kn_random_image(kn_graph *g, kn_tensor *x, const kn_random_image_opts *o);

/* A window's padding along a sequence: 'valid' (whole windows only), 'same' (as above) or
 * 'causal' (Keras's: dilation * (K - 1) zeros before the first step and none after, so
 * output step t sees input steps up to t * stride only; the output has ceil(steps / stride)
 * steps). */
typedef enum { KN_PADDING_VALID, KN_PADDING_SAME, KN_PADDING_CAUSAL } kn_padding;

/* 1-D convolution and pooling over sequences laid out (batch, steps, channels) (Keras's
 * channels_last): views of the 2-D ops above over (batch, 1, steps, channels) with a 1 x K
 * window, so they share their kernels, gradients and limits (K, strides, dilations and
 * padding in [1, 255]; causal padding dilation * (K - 1) at most 255). */
/* (batch, L, C) -> (batch, OL, F); kernel (K*C, F): Keras's (K, C, F) kernel flattened,
 * row k*C + c. Add a bias (F) with kn_add. */
kn_tensor *kn_conv1d(kn_graph *g, kn_tensor *x, kn_tensor *kernel, int k, int stride, int dilation, kn_padding padding);
/* Keras's Conv1DTranspose's options: kn_conv2d_transpose_opts along one axis (kernel_size
 * taps, stride and dilation (0 means 1), same, output_padding when has_output_padding),
 * and the layer's (kn_model_add_conv1d_transpose) filters, activation, ... as there. */
typedef struct kn_conv1d_transpose_opts {
    int64_t filters;
    int kernel_size, stride, dilation;
    bool same;
    bool has_output_padding;
    int output_padding;
    kn_activation activation;
    float alpha;
    bool no_bias;
    kn_init kernel_init, bias_init;
    float init_value;
    float l2;
} kn_conv1d_transpose_opts;
/* Transposed 1-D convolution (Keras's Conv1DTranspose without its bias, PyTorch's
 * ConvTranspose1d): (batch, L, C) -> (batch, OL, F), kn_conv2d_transpose over the (batch,
 * 1, L, C) view with a 1 x K window (the same sizes, crop and refusals along the steps);
 * kernel (K*F, C): Keras's (K, F, C) kernel flattened, row k*F + f. */
kn_tensor *kn_conv1d_transpose(kn_graph *g, kn_tensor *x, kn_tensor *kernel, const kn_conv1d_transpose_opts *opts);
/* Max (average: over the steps inside the sequence) of each window of `pool` steps:
 * (batch, L, C) -> (batch, OL, C); same: 'same' padding, else 'valid'. */
kn_tensor *kn_max_pool1d(kn_graph *g, kn_tensor *x, int pool, int stride, bool same);
kn_tensor *kn_avg_pool1d(kn_graph *g, kn_tensor *x, int pool, int stride, bool same);
/* Mean (maximum) over the steps: (batch, L, C) -> (batch, C). Up to 255 steps in one
 * window; longer sequences in stages of windows of at most 255 steps (the maximum: any
 * length; the mean: windows that divide the length exactly, so a length with a prime
 * factor above 255 is refused). */
kn_tensor *kn_global_avg_pool1d(kn_graph *g, kn_tensor *x);
kn_tensor *kn_global_max_pool1d(kn_graph *g, kn_tensor *x);
/* Zero padding (a negative amount crops) and nearest upsampling of sequences: (batch, L, C)
 * -> (batch, L + left + right, C) and (batch, L size, C), Keras's ZeroPadding1D, Cropping1D
 * and UpSampling1D: kn_pad2d and kn_upsample2d over the (batch, 1, L, C) view. */
kn_tensor *kn_pad1d(kn_graph *g, kn_tensor *x, int left, int right);
kn_tensor *kn_upsample1d(kn_graph *g, kn_tensor *x, int size);
/* Recurrent layers over sequences (batch, steps, features), Keras's cells: G gates of H
 * units each, in Keras's order (simple: 1; lstm: input, forget, cell, output; gru: update,
 * reset, candidate, reset_after as Keras's default and PyTorch's). kernel (F, G*H) and
 * recurrent_kernel (H, G*H) as Keras stores them; bias (G*H), a gru's (2, G*H): its input
 * bias, then its recurrent bias (inside the reset gate's product for the candidate), or
 * NULL. The state starts at zero. activation (Keras: tanh) and recurrent_activation
 * (sigmoid; unused by simple) may be any but softmax and gelu. flags: KN_RNN_RETURN_SEQUENCES
 * returns every step's output (batch, steps, H), else the last step's (batch, H);
 * KN_RNN_GO_BACKWARDS runs the steps from the last to the first (the last step's output is
 * then the one at time 0), its sequence returned in time order (as Keras's Bidirectional
 * flips its backward half back; a go_backwards Keras layer alone returns it reversed). The
 * whole sequence runs as one node (its backward as another): the input term x_t W + b of
 * every step is one product before it. */
typedef enum { KN_RNN_SIMPLE, KN_RNN_LSTM, KN_RNN_GRU, KN_RNN_CELL_COUNT } kn_rnn_cell;
enum { KN_RNN_RETURN_SEQUENCES = 1u << 0, KN_RNN_GO_BACKWARDS = 1u << 1 };
kn_tensor *kn_rnn(kn_graph *g, kn_rnn_cell cell, kn_tensor *x, kn_tensor *kernel, kn_tensor *recurrent_kernel,
                  kn_tensor *bias, kn_activation activation, kn_activation recurrent_activation, unsigned flags);
/* The same with Keras's mask (batch, T) (an embedding's mask_zero; NULL: none): at a step the
 * mask drops (0) the state (h, and an lstm's c) carries over unchanged and the step's output
 * is the previous one (zeros before the first kept step), so padding never moves the state. */
kn_tensor *kn_rnn_masked(kn_graph *g, kn_rnn_cell cell, kn_tensor *x, kn_tensor *kernel, kn_tensor *recurrent_kernel,
                         kn_tensor *bias, kn_activation activation, kn_activation recurrent_activation, unsigned flags,
                         kn_tensor *mask);
/* The same with Keras's dropout rates in [0, 1), applied in training runs only (the
 * identity when evaluating or predicting): dropout on the inputs, one draw per (sample,
 * feature) for the whole sequence (kn_spatial_dropout of x); recurrent_dropout on the state
 * the recurrent products read, h_prev times one draw per (sample, unit), the same at every
 * step, while the cell's own use of h_prev (a gru's z h_prev) and c stay undropped. One mask
 * for every gate: Keras 2's default implementation and Gal and Ghahramani's tied variational
 * dropout (Keras 3 draws a mask per gate). Masks as kn_dropout's (seed, step, node). */
kn_tensor *kn_rnn_dropout(kn_graph *g, kn_rnn_cell cell, kn_tensor *x, kn_tensor *kernel, kn_tensor *recurrent_kernel,
                          kn_tensor *bias, kn_activation activation, kn_activation recurrent_activation, unsigned flags,
                          kn_tensor *mask, float dropout, float recurrent_dropout);
/* Scaled dot-product attention over num_heads heads (Keras's MultiHeadAttention between its
 * projections; PyTorch's scaled_dot_product_attention): q (batch, Tq, H*Dk), k (batch, Tk,
 * H*Dk), v (batch, Tk, H*Dv), each step's row holding the heads' columns side by side (head
 * h: columns h*D .. h*D + D - 1) -> (batch, Tq, H*Dv), head h's columns softmax(Q_h K_h^T /
 * sqrt(Dk)) V_h. KN_ATTENTION_CAUSAL: query step i attends to key steps 0 .. i only (Keras's
 * use_causal_mask). One node; its backward recomputes the probabilities. */
enum { KN_ATTENTION_CAUSAL = 1u << 0 };
kn_tensor *kn_attention(kn_graph *g, kn_tensor *q, kn_tensor *k, kn_tensor *v, int num_heads, unsigned flags);
/* The same with Keras's attention dropout: in a training run each probability is dropped
 * with probability rate (in [0, 1)) and the kept ones scaled by 1 / (1 - rate) before they
 * weigh the values, the mask drawn as kn_dropout's (seed, step, node, element); evaluating
 * and predicting, none. */
kn_tensor *kn_attention_dropout(kn_graph *g, kn_tensor *q, kn_tensor *k, kn_tensor *v, int num_heads, unsigned flags,
                                float rate);
/* The same with Keras's masks (an embedding's mask_zero carried along): query_mask (batch,
 * Tq) and key_mask (batch, Tk), 1 where a step counts and 0 where it is padding, either NULL.
 * Query step i attends to the key steps both masks keep (and, causal, j <= i); a query step
 * that sees no key gets uniform probabilities over all keys and passes no gradient to its
 * scores, as Keras's -1e9 scores give. */
kn_tensor *kn_attention_masked(kn_graph *g, kn_tensor *q, kn_tensor *k, kn_tensor *v, int num_heads, unsigned flags,
                               float rate, kn_tensor *query_mask, kn_tensor *key_mask);
/* The mean over the steps (batch, T, C) -> (batch, C) of those mask (batch, T) keeps (Keras's
 * GlobalAveragePooling1D with a mask); a sample whose mask keeps no step gives zeros. */
kn_tensor *kn_masked_mean(kn_graph *g, kn_tensor *x, kn_tensor *mask);
/* Mean loss over the batch, a scalar. from_logits: pred are logits (softmax or sigmoid is
 * fused into the loss); otherwise pred are probabilities (clipped as Keras does).
 * target: i32 labels (batch) for sparse CE; f32 of pred's shape for the others. */
kn_tensor *kn_loss_op(kn_graph *g, kn_loss loss, kn_tensor *pred, kn_tensor *target, bool from_logits);
/* The same with per-sample weights (F32, (batch)): sum over the batch of weight x loss,
 * divided by the batch size (Keras's sample_weight / class_weight). */
kn_tensor *kn_loss_op_weighted(kn_graph *g, kn_loss loss, kn_tensor *pred, kn_tensor *target, kn_tensor *weights,
                               bool from_logits);
/* The same with label smoothing (Keras's and PyTorch's label_smoothing, in [0, 1]; the
 * cross-entropy losses only): each target row of k classes is trained towards
 * y (1 - label_smoothing) + label_smoothing / k (binary cross-entropy: / 2), a sparse label
 * towards its one-hot row smoothed so. weights may be NULL. */
kn_tensor *kn_loss_op_smoothed(kn_graph *g, kn_loss loss, kn_tensor *pred, kn_tensor *target, kn_tensor *weights,
                               bool from_logits, float label_smoothing);
/* Every setting of a loss node at once (the calls above are this with the rest 0). */
typedef struct kn_loss_options {
    bool from_logits;
    float label_smoothing;       /* the cross-entropies, focal ones included; in [0, 1] */
    float focal_gamma;           /* the focal losses: (1 - p_t)^focal_gamma, >= 0 (Keras's 2.0) */
    float focal_alpha;           /* the focal losses' alpha in [0, 1] (Keras's 0.25) */
    bool apply_class_balancing;  /* binary focal: weigh class 1 by alpha, class 0 by 1 - alpha */
    float huber_delta;           /* huber: quadratic within delta of the target, linear beyond (0: 1) */
} kn_loss_options;
kn_tensor *kn_loss_op_with(kn_graph *g, kn_loss loss, kn_tensor *pred, kn_tensor *target, kn_tensor *weights,
                           const kn_loss_options *opts);

/* Appends gradient nodes for every parameter that loss depends on. */
kn_status kn_graph_backward(kn_graph *g, kn_tensor *loss);
/* Appends the optimizer update of every parameter (one node per parameter; the fuse pass
 * merges them into one pass over the flat buffer). */
kn_status kn_graph_add_optimizer(kn_graph *g, const kn_optimizer *opt);
/* Marks a tensor whose value the caller reads after a run (kept, never overwritten). Only
 * kept tensors, inputs, parameters and their gradients are guaranteed to exist after
 * compile: the optimizer's passes remove, merge or overwrite the others. */
kn_status kn_graph_keep(kn_graph *g, kn_tensor *t);
/* Plans memory for batches up to max_batch and makes the graph runnable. Parameters are
 * initialized (seeded from the ctx) unless init_params is false. */
kn_status kn_graph_compile(kn_graph *g, int64_t max_batch, bool init_params);
/* Runs the graph on a device (before kn_graph_compile; default: the ctx's device). On
 * KN_DEVICE_CUDA the host buffers stay the interface: compile mirrors the parameter,
 * gradient and state buffers and the arena in device memory (the same offsets), a run
 * copies the inputs in and the kept tensors out; parameters, gradients and optimizer
 * state stay on the device between runs until kn_graph_sync copies them back. */
kn_status kn_graph_set_device(kn_graph *g, kn_device device);
kn_device kn_graph_device(const kn_graph *g);
/* KN_OK when graphs can run on the device here; else KN_ERR_UNSUPPORTED, and
 * kn_last_error says why (a build without CUDA, no GPU, a driver too old). */
kn_status kn_device_check(kn_ctx *ctx, kn_device device);
/* Device graphs: copies parameters, gradients and optimizer state back into the host
 * buffers (kn_tensor_data). A no-op on the CPU. After changing parameters on the host,
 * kn_graph_upload sends them (and the optimizer state) to the device. */
kn_status kn_graph_sync(kn_graph *g);
kn_status kn_graph_upload(kn_graph *g);
/* Sets the batch dimension (1..max_batch) for the next runs. */
kn_status kn_graph_set_batch(kn_graph *g, int64_t batch);
/* Runs every node once, in order: one forward (+ backward + update) step. */
kn_status kn_graph_run(kn_graph *g);
/* Optimizer steps taken so far (Adam's t). */
int64_t kn_graph_step(const kn_graph *g);
size_t kn_graph_node_count(const kn_graph *g);
size_t kn_graph_param_count(const kn_graph *g);

/* ---------------------------------------------------------------- graph optimizer */

/* Passes kn_graph_compile runs on the whole graph (forward, loss, backward and optimizer
 * update), in this order, before it plans memory. Each is on by default and can be turned
 * off to measure it; results agree to float rounding whichever are on. */
typedef enum {
    KN_PASS_DCE = 1u << 0,      /* dead-code elimination: nodes no output depends on */
    KN_PASS_FOLD = 1u << 1,     /* constant folding; scale layers into the weights before them */
    KN_PASS_CSE = 1u << 2,      /* common-subexpression elimination */
    KN_PASS_SIMPLIFY = 1u << 3, /* x*1, x+0, transpose of a transpose, reshape chains, ... */
    KN_PASS_FUSE = 1u << 4,     /* matmul+bias+activation, activation gradients into matmuls,
                                 * softmax+cross-entropy, elementwise chains, one optimizer pass */
    KN_PASS_INPLACE = 1u << 5,  /* outputs written over an input read for the last time */
    KN_PASS_ALL = 0x3fu,
    KN_PASS_NONE = 0,
} kn_pass;
#define KN_PASS_COUNT 6
/* "dce", "fold", ... for one pass bit; NULL otherwise. */
const char *kn_pass_name(unsigned pass);
/* Parses a --passes value: "all", "none", a list run alone ("dce,fold") or a list of
 * exclusions ("-fuse,-inplace"); errors name the unknown pass. */
kn_status kn_passes_parse(kn_ctx *ctx, const char *text, unsigned *passes);
/* Chooses the passes (before kn_graph_compile; default KN_PASS_ALL). */
kn_status kn_graph_set_passes(kn_graph *g, unsigned passes);
/* Mixed precision (kn_precision; before kn_graph_backward): a compiled graph stores its
 * activations and their gradients in bf16 or fp16 wherever every kernel touching them
 * handles that (docs/mixed_precision.md); parameters, gradients, optimizer state, scalars,
 * inputs and kept tensors stay f32, so the caller reads and writes them as floats. fp16:
 * the backward pass is seeded with the loss scale (kn_graph_set_loss_scale). */
kn_status kn_graph_set_precision(kn_graph *g, kn_precision precision);
/* fp16's loss scale for the next runs: gradients come out times scale and the optimizer
 * divides by it (scale > 0 and finite; 1 by default). The caller skips an update whose
 * gradients overflowed, as kn_model_fit's dynamic loss scaling does. */
kn_status kn_graph_set_loss_scale(kn_graph *g, float scale);
/* Inference graphs (no backward): parameters count as constants, so the fold pass may
 * fold them with scale layers. Call kn_graph_refold after changing a parameter's values. */
kn_status kn_graph_freeze_params(kn_graph *g);
kn_status kn_graph_refold(kn_graph *g);

/* What compile's passes and planner did (INTERFACE.md's `kiln graph` keys). */
typedef struct kn_graph_report {
    int nodes_before, nodes_after;
    int n_passes;                       /* passes run, in order */
    struct { const char *name; int nodes_after; } passes[KN_PASS_COUNT];
    int n_fused;                        /* fused kernels in the graph */
    const char *fused[64];              /* their names ("matmul+add+relu"), first 64 */
    size_t arena_bytes;                 /* planned peak of activations and temporaries */
    size_t naive_bytes;                 /* the unoptimized graph's tensors, each its own buffer */
    size_t param_bytes, grad_bytes, optimizer_bytes; /* the flat buffers */
} kn_graph_report;
/* After kn_graph_compile; the strings live as long as the graph. */
kn_status kn_graph_get_report(const kn_graph *g, kn_graph_report *out);
/* Writes the compiled graph as a Graphviz DOT file (atomically): one node per op with its
 * shape, fused kernels highlighted, edges from inputs to consumers. */
kn_status kn_graph_write_dot(const kn_graph *g, const char *path);

/* Tensor access: data is owned by the graph and valid after compile. */
void *kn_tensor_data(kn_tensor *t);
int kn_tensor_ndim(const kn_tensor *t);
int64_t kn_tensor_dim(const kn_tensor *t, int i);
int64_t kn_tensor_numel(const kn_tensor *t);
kn_dtype kn_tensor_dtype(const kn_tensor *t);
const char *kn_tensor_name(const kn_tensor *t);
/* The gradient of a parameter after kn_graph_backward (NULL if none). */
kn_tensor *kn_tensor_grad(const kn_tensor *t);

/* ---------------------------------------------------------------- data */

typedef struct kn_dataset kn_dataset;
typedef struct kn_model kn_model;

/* Loads a data source: "fashion-mnist" or "mnist" ($KILN_DATA/NAME, else
 * /usr/share/datasets/NAME), or "idx:DIR". *test is NULL when the source has no test
 * split (test may be NULL to skip it). Images are scaled to [0, 1]. Free with kn_dataset_free. */
kn_status kn_dataset_load(kn_ctx *ctx, const char *source, kn_dataset **train, kn_dataset **test);
/* Inputs without labels, for prediction: an IDX images file (plain or gzip) or a PNG/PGM
 * image, pixels scaled to [0, 1]. */
kn_status kn_dataset_load_inputs(kn_ctx *ctx, const char *path, kn_dataset **out);
/* A model's inputs from a file: IDX images, a PNG/PGM image (both scaled to [0, 1]), or a
 * CSV of feature rows (matched to the model's features by name, or in order when the model
 * has none; the model's input scaling applied). Errors name the file and the shape or
 * column at fault. */
kn_status kn_model_load_inputs(kn_model *m, const char *path, kn_dataset **out);
/* A classification dataset from arrays (copied): x (n, features), labels (n) in [0, n_classes). */
kn_status kn_dataset_from_arrays(kn_ctx *ctx, const float *x, const int32_t *labels, int64_t n,
                                 int64_t features, int n_classes, kn_dataset **out);
/* A regression dataset from arrays (copied): x (n, features), y (n, outputs). */
kn_status kn_dataset_from_arrays_regression(kn_ctx *ctx, const float *x, const float *y,
                                            int64_t n, int64_t features, int64_t outputs,
                                            kn_dataset **out);
/* Holds out test_fraction of the rows (in (0, 1)), seeded, stratified by class for
 * classification (each class gives its share, rounded); rows keep their order on each side. */
kn_status kn_dataset_split(const kn_dataset *ds, double test_fraction, uint64_t seed, kn_dataset **train,
                           kn_dataset **test);
/* Fold `fold` (0-based) of a k-fold split for cross-validation: the fold's rows as test, the
 * rest as train; stratified by class (each class dealt round-robin over the folds after a
 * seeded shuffle), so the folds partition the rows and every fold sees every class. */
kn_status kn_dataset_fold(const kn_dataset *ds, int folds, int fold, uint64_t seed, kn_dataset **train,
                          kn_dataset **test);
/* CSV preprocessing, as scikit-learn's pipelines do it. kn_dataset_load("csv:FILE[:key=value]...")
 * gives a raw table: one value per column (numbers, category codes, dates as days; NaN where
 * missing), labels encoded (class names sorted) or regression targets, rows without a
 * target dropped. Fit the preprocessing on its training rows (after any split), transform
 * every split with it, and give it to the model, which saves it and applies it to the CSV
 * rows it later predicts from (kn_model_load_inputs) or is evaluated on (kn_model_load_data):
 *
 *   kn_dataset_load(ctx, "csv:wine.csv:target=cultivar", &raw, NULL);
 *   kn_dataset_split(raw, 0.2, seed, &raw_train, &raw_test);
 *   kn_preprocessor_fit(raw_train, &prep);            // imputers, one-hot, scalers, PCA
 *   kn_preprocessor_transform(prep, raw_train, &train);
 *   ... kn_model_from_json(ctx, spec, train, &m, &s); kn_model_set_preprocessor(m, prep);
 *
 * What each key does: README "Tabular data". A raw table cannot be trained on directly. */
typedef struct kn_preprocessor kn_preprocessor;
kn_status kn_preprocessor_fit(const kn_dataset *raw, kn_preprocessor **out);
/* raw's rows through the fitted preprocessing: a model-ready dataset (rows with a missing
 * value dropped under impute=drop; categories unseen in training counted in a warning). */
kn_status kn_preprocessor_transform(const kn_preprocessor *p, const kn_dataset *raw, kn_dataset **out);
void kn_preprocessor_free(kn_preprocessor *p);
/* What loading and fitting did, for people (rows, columns by kind, missing values imputed,
 * constant features dropped, model inputs). */
const char *kn_preprocessor_report(const kn_preprocessor *p);
int64_t kn_preprocessor_output_size(const kn_preprocessor *p);
/* Model input i's name: "age", "color=red", "date.month", "a*b", "pc1". */
const char *kn_preprocessor_feature_name(const kn_preprocessor *p, int64_t i);
/* True for a raw CSV table that needs a preprocessor before training. */
bool kn_dataset_is_raw(const kn_dataset *ds);

/* Rows [start, start+count) as a new dataset (copied). */
kn_status kn_dataset_slice(const kn_dataset *ds, int64_t start, int64_t count, kn_dataset **out);
/* A regression dataset of ds's rows whose targets are the rows themselves (Keras's
 * model.fit(x, x): an autoencoder's data), ds's labels or targets dropped; the sample shape
 * kept. ds must be model-ready (a CSV source preprocessed). fit then refuses augmentation
 * that moves pixels (shift, flip, rotate: the targets would not move with them); noise and
 * erase corrupt the inputs alone, which trains a denoising autoencoder. Free with
 * kn_dataset_free. */
kn_status kn_dataset_inputs_as_targets(const kn_dataset *ds, kn_dataset **out);
void kn_dataset_free(kn_dataset *ds);
int64_t kn_dataset_size(const kn_dataset *ds);
int64_t kn_dataset_features(const kn_dataset *ds);
/* A regression dataset's targets per sample (0 for classification). */
int64_t kn_dataset_outputs(const kn_dataset *ds);
int kn_dataset_classes(const kn_dataset *ds);           /* 0 for regression */
const float *kn_dataset_x(const kn_dataset *ds);        /* (n, features) */
const int32_t *kn_dataset_labels(const kn_dataset *ds); /* (n), NULL for regression */
const float *kn_dataset_targets(const kn_dataset *ds);  /* (n, outputs), NULL for classification */
/* Name of a class ("Ankle boot" for Fashion-MNIST's 9), or NULL when unnamed. */
const char *kn_dataset_label_name(const kn_dataset *ds, int cls);
/* Sets the shape of one sample, as Keras writes it ((28, 28, 1) for 28x28 grey images); its
 * product must be the feature count. Images from arrays need it for augmentation and for
 * models whose input_shape is left to the data. */
kn_status kn_dataset_set_sample_shape(kn_dataset *ds, const int64_t *shape, int ndim);
/* Sample shape as Keras writes it, e.g. (28, 28, 1) for images; returns ndim. */
int kn_dataset_sample_shape(const kn_dataset *ds, int64_t shape[KN_MAX_DIMS]);

/* ---------------------------------------------------------------- model level */

typedef struct kn_dense_opts {
    int64_t units;
    kn_activation activation;
    bool no_bias;       /* Keras use_bias = !no_bias */
    float l2;           /* kernel_regularizer l2 factor; 0 = none */
    float alpha;        /* leaky_relu slope (0 = 0.2, Keras's default) or elu alpha (0 = 1) */
    kn_init kernel_init; /* default glorot_uniform */
    /* Default zeros. The zero value (KN_INIT_GLOROT_UNIFORM, the kernel's default) stands
     * for that default here, so a zeroed kn_dense_opts keeps meaning what it always has:
     * a glorot_uniform bias is therefore not offered (kn_model_add_dense_ex reads 0 as zeros). */
    kn_init bias_init;
    float init_value;   /* the value of a KN_INIT_CONSTANT kernel and/or bias (Keras's Constant) */
} kn_dense_opts;

/* A 2-D convolution layer (Keras's Conv2D) over images (height, width, channels). Zero
 * strides and dilations mean 1; same: 'same' padding, else 'valid'. The kernel parameter
 * "conv2d_<i>/kernel" is Keras's (KH, KW, C, F) kernel flattened to (KH*KW*C, F), with
 * Keras's conv fans (fan_in KH*KW*C, fan_out KH*KW*F); the bias "conv2d_<i>/bias" is (F).
 * bias_init, init_value, l2 and alpha as kn_dense_opts. groups (Keras's; 0 or 1: one): the
 * channels and filters split in that many groups, group j's F/groups filters reading only its
 * C/groups channels; the kernel is then (KH*KW*C/groups, F), Keras's (KH, KW, C/groups, F),
 * group j's filters its columns j*F/groups on (ResNeXt's grouped convolutions). */
typedef struct kn_conv2d_opts {
    int64_t filters;
    int kernel_h, kernel_w;
    int stride_h, stride_w;
    int dilation_h, dilation_w;
    bool same;
    kn_activation activation;
    bool no_bias;
    kn_init kernel_init;
    kn_init bias_init;
    float init_value;
    float l2;
    float alpha;
    int groups;
} kn_conv2d_opts;

typedef enum { KN_POOL_MAX, KN_POOL_AVG } kn_pool_kind;

/* A recurrent layer (Keras's SimpleRNN, LSTM, GRU) over sequences (steps, features); see
 * kn_rnn. kn_rnn_defaults gives Keras's defaults (tanh, sigmoid, a bias, glorot_uniform
 * kernel, orthogonal recurrent kernel, zeros bias with the lstm's forget gate's at 1
 * (unit_forget_bias), the last step's output only). Parameters "<type>_<i>/kernel" (F, G*H),
 * "/recurrent_kernel" (H, G*H) and "/bias" (G*H; a gru's (2, G*H)), type simple_rnn, lstm
 * or gru. l2: the kernel's regularizer, as kn_dense_opts's. go_backwards: the steps run
 * from the last to the first (Keras's; a layer alone only without return_sequences, whose
 * sequence Keras returns reversed). bidirectional (Keras's Bidirectional wrapper, merge_mode
 * concat, sum, mul or ave): a forward and a go_backwards copy of the layer over the same
 * input, their outputs (the backward's sequence in time order) merged; parameters
 * "bidirectional_<i>/forward_<type>/kernel", ".../backward_<type>/kernel", .... */
typedef enum { KN_BIDI_NONE, KN_BIDI_CONCAT, KN_BIDI_SUM, KN_BIDI_MUL, KN_BIDI_AVE, KN_BIDI_COUNT } kn_bidi_merge;
typedef struct kn_rnn_opts {
    kn_rnn_cell cell;
    int64_t units;
    kn_activation activation;
    kn_activation recurrent_activation;
    bool no_bias;
    bool return_sequences;
    bool unit_forget_bias; /* lstm: the forget gate's bias starts at 1 (added to bias_init's) */
    kn_init kernel_init, recurrent_init, bias_init;
    float init_value;      /* a KN_INIT_CONSTANT initializer's value */
    float l2;
    bool go_backwards;
    kn_bidi_merge bidirectional;
    float dropout, recurrent_dropout; /* Keras's, in [0, 1): see kn_rnn_dropout (0: none) */
} kn_rnn_opts;
kn_rnn_opts kn_rnn_defaults(kn_rnn_cell cell, int64_t units);

/* A 1-D convolution layer (Keras's Conv1D) over sequences (steps, channels). Zero stride
 * and dilation mean 1; padding valid (the zero value), same or causal (kn_padding). The
 * kernel parameter "conv1d_<i>/kernel" is Keras's (K, C, F) kernel flattened to (K*C, F),
 * with Keras's conv fans (fan_in K*C, fan_out K*F); the bias "conv1d_<i>/bias" is (F).
 * bias_init, init_value, l2 and alpha as kn_dense_opts. */
typedef struct kn_conv1d_opts {
    int64_t filters;
    int kernel_size;
    int stride;
    int dilation;
    int groups; /* Keras's groups (0 or 1: one): the channels and filters in that many groups, as conv2d's */
    kn_padding padding;
    kn_activation activation;
    bool no_bias;
    kn_init kernel_init;
    kn_init bias_init;
    float init_value;
    float l2;
    float alpha;
} kn_conv1d_opts;

typedef struct kn_compile_opts {
    kn_loss loss;
    kn_optimizer optimizer;
    bool from_logits;   /* the last layer outputs logits (no softmax/sigmoid applied) */
    float label_smoothing; /* the cross-entropy losses' (kn_loss_op_smoothed); 0 by default */
    /* the focal losses' (kn_loss_options): focal_gamma 0 means Keras's 2.0 (a gamma of 0 is
     * the plain cross-entropy), focal_alpha 0 Keras's 0.25; apply_class_balancing as Keras's
     * BinaryFocalCrossentropy's */
    float focal_gamma;
    float focal_alpha;
    bool apply_class_balancing;
    float huber_delta; /* huber's delta (Keras's Huber(delta), PyTorch's HuberLoss(delta)); 0: 1 */
    kn_precision precision; /* default (0) fp32 */
    /* fp16's dynamic loss scaling: the loss gradient is multiplied by the scale, and the
     * gradients divided by it before the update; the scale starts at loss_scale_initial
     * (0: 65536), doubles after loss_scale_growth_interval (0: 2000) updates in a row
     * without overflow, and halves, the update skipped, when any gradient is Inf or NaN. */
    float loss_scale_initial;
    int loss_scale_growth_interval;
} kn_compile_opts;

typedef struct kn_epoch_record {
    int epoch;                  /* 1-based */
    double loss, accuracy;      /* training, mean over the epoch (accuracy NaN for regression) */
    double val_loss, val_accuracy; /* NaN without validation data */
    double seconds;             /* wall clock: shuffle to last update */
    double learning_rate;
    /* fp16 training: updates skipped this epoch for an overflowing gradient, and the loss
     * scale at the epoch's end (0 and 1 otherwise) */
    int64_t skipped_steps;
    double loss_scale;
} kn_epoch_record;

typedef struct kn_history {
    int n_epochs;
    const kn_epoch_record *epochs;
    int64_t steps;              /* optimizer steps taken (classical models: the solver's
                                   iterations; hist_gradient_boosting: the boosting
                                   iterations run, scikit-learn's n_iter_) */
    double train_seconds;       /* wall clock of the whole fit */
    double seconds_per_epoch;   /* median epoch */
    int best_epoch;             /* 1-based epoch the monitored metric was best at (0: no monitor) */
    bool stopped_early;         /* early stopping ended the run */
    int64_t skipped_steps;      /* fp16: updates skipped for overflow, all epochs */
    /* Data-parallel fits (kn_fit_opts.distributed): the ranks that trained (1 alone), this
     * rank's share of a full global batch, and the wall time spent in the gradient
     * all-reduce (waiting for the slowest rank included). */
    int ranks;
    int64_t rank_batch_size;
    double allreduce_seconds;
    /* The training data was kept on the graph's device and each step ran there as one
     * launch, nothing copied per step (a device backend, one rank, no gradient
     * accumulation, augmentation or fp16 loss scaling; KILN_RESIDENT=0 turns it off). */
    bool resident;
} kn_history;

/* Which way a monitored metric improves: auto is max for accuracies, min otherwise. */
typedef enum { KN_MODE_AUTO, KN_MODE_MIN, KN_MODE_MAX } kn_monitor_mode;

/* Keras's EarlyStopping: stop when `monitor` ("val_loss" when NULL; also "val_accuracy",
 * "loss", "accuracy") has not improved by more than min_delta for `patience` epochs
 * (0: off); restore_best_weights puts back the weights of the best epoch when training
 * ends, stopped early or not (Keras 3). */
typedef struct kn_early_stopping {
    const char *monitor;
    int patience;
    double min_delta;
    kn_monitor_mode mode;
    bool restore_best_weights;
} kn_early_stopping;

/* Keras's ReduceLROnPlateau: multiply the learning rate by factor (default 0.1) when
 * `monitor` has not improved for `patience` epochs (0: off), then wait `cooldown` epochs;
 * never below min_lr. */
typedef struct kn_reduce_on_plateau {
    const char *monitor;
    int patience;
    double factor, min_lr, min_delta;
    int cooldown;
    kn_monitor_mode mode;
} kn_reduce_on_plateau;

/* Called at each batch end (batch >= 0) and epoch end (batch = -1) with the running mean
 * loss; return false to stop training (kn_model_fit then returns KN_OK). */
typedef bool (*kn_fit_callback)(void *user, int epoch, int64_t batch, double loss);

/* Image augmentation while training (Keras's random layers, torchvision's transforms):
 * each training sample, each epoch, independently per op. Off at evaluation and prediction.
 * A zeroed struct is off; in the JSON description {"augment": {"shift": 2, "flip": 0.5,
 * "rotate": 10, "noise": 0.05, "erase": 0.1}} (and shift_p, rotate_p, noise_p). Draws are
 * keyed by (seed, epoch, row), so a run is deterministic whatever the threads. */
typedef struct kn_augment {
    int shift;        /* max shift in pixels (each axis uniform in [-shift, shift]; uncovered pixels 0) */
    float flip;       /* probability of a horizontal flip */
    float rotate;     /* max rotation in degrees (uniform in [-rotate, rotate], bilinear) */
    float noise;      /* standard deviation of Gaussian noise added to every value */
    float erase;      /* probability of random erasing (torchvision RandomErasing's defaults) */
    float shift_p, rotate_p, noise_p; /* probability of each of those per sample (0: 1) */
} kn_augment;

/* Parses an "augment" object's JSON text ('{"shift": 2, "flip": 0.5}'), or "off"; errors name
 * the field and its allowed range. */
kn_status kn_augment_parse(kn_ctx *ctx, const char *json, kn_augment *out);

typedef enum { KN_GRAD_COMPRESSION_NONE, KN_GRAD_COMPRESSION_FP16 } kn_grad_compression;

typedef struct kn_fit_opts {
    int epochs;                 /* default 1 */
    int64_t batch_size;         /* default 32 */
    double validation_split;    /* the last fraction of the data, as Keras takes it */
    const kn_dataset *validation_data; /* used instead of validation_split when set */
    int verbose;                /* 0 silent, 1 progress bar (default), 2 one line per epoch */
    bool no_shuffle;
    kn_fit_callback callback;
    void *callback_user;
    /* Checkpoints: with a path, fit saves one there (atomically: weights, optimizer state,
     * step, epoch and batch position, history) every checkpoint_every optimizer steps
     * (0: only) at each epoch's end. Checkpointing allocates; without it, nothing does
     * after the first step. */
    const char *checkpoint_path;
    int64_t checkpoint_every;
    /* Continue a model loaded from a checkpoint where it stopped (epochs counts the whole
     * run, as Keras's initial_epoch), shuffling with the checkpointed run's seed. Training
     * is deterministic for a seed and data whatever the thread count, so a resumed run ends
     * with parameters bit-identical to an uninterrupted one. */
    bool resume;
    /* Training control. schedule: the learning rate of every step (zeroed: constant), from
     * the optimizer's rate; the rate of each epoch's last step goes to its history record. */
    kn_schedule schedule;
    kn_early_stopping early_stopping;
    kn_reduce_on_plateau reduce_lr;
    /* With a path: the model is saved there (atomically) at every epoch whose monitored
     * metric (early_stopping.monitor, else val_loss, else loss) is the best so far. */
    const char *best_path;
    /* Gradient accumulation: update every `accumulate` batches (and at each epoch's end)
     * from the mean gradient over their rows, as one batch that many times larger would
     * (0 or 1: every batch). Optimizer steps, schedules and checkpoints count updates. */
    int accumulate;
    /* Called at each epoch's end with its record (metrics, validation, rate); return false
     * to stop training. */
    bool (*epoch_callback)(void *user, const kn_epoch_record *record);
    /* Class and sample weights, for the training loss only (validation and evaluation weigh
     * every row 1), as Keras's class_weight and sample_weight: each row's loss times
     * class_weight[its class] (n_class_weights entries, at least the data's classes), or
     * with class_weight_balanced times rows / (classes x rows of its class) over the
     * training rows; times sample_weight[row] (one per row of data) when given. */
    const float *class_weight;
    int n_class_weights;
    bool class_weight_balanced;
    const float *sample_weight;
    /* Augmentation of the training batches (images only; see kn_augment). */
    kn_augment augment;
    /* Batches are gathered (and augmented) on a background thread one step ahead of the
     * training step: 0 auto (when augmenting), 1 always, -1 never (inline). */
    int loader_thread;
    /* Data-parallel training over MPI (kiln built with KILN_MPI, MPI started with
     * kn_dist_init): every rank of MPI_COMM_WORLD calls kn_model_fit with the same model,
     * data and options; batch_size is the global batch, each rank computing the gradient
     * of its contiguous share of every batch (shares differ by at most one row). Rank 0's
     * parameters are broadcast first; the gradients, weighted by each rank's rows, are
     * summed with one all-reduce per update, so every rank applies the same update and
     * the parameters stay bit-identical, and the result equals one process's up to float
     * rounding. Losses and metrics are over the global batch. Only rank 0 logs progress
     * and writes checkpoint_path and best_path; callbacks run on every rank with the same
     * figures and must decide alike. A failure on any rank (bad data, a NaN loss) makes
     * kn_model_fit return on every rank with that rank's message ("rank 1 of 2: ...") and
     * kn_dist_error_shared(ctx) true. Alone (one rank, or no MPI in the build) this is
     * an ordinary fit. Batch normalization uses each rank's batch statistics, and its
     * moving statistics are averaged across ranks after every step. */
    bool distributed;
    /* The all-reduce's wire format: none (fp32) or fp16 (half the bytes; each value
     * rounded to half precision, sums kept in fp32 between hops). */
    kn_grad_compression grad_compression;
} kn_fit_opts;

typedef struct kn_eval_report {
    int64_t n;
    double loss;
    double accuracy;            /* NaN for regression */
    double f1_macro;            /* unweighted mean of per-class F1; NaN for regression */
    /* regression (NaN for classification): over every output; r2 is scikit-learn's
     * uniform average over outputs (NaN beyond 16 outputs) */
    double mse, rmse, mae, r2;
} kn_eval_report;

/* input_shape: the shape of one sample (without the batch), e.g. {784}. */
kn_status kn_model_new_sequential(kn_ctx *ctx, const int64_t *input_shape, int ndim, kn_model **out);
void kn_model_free(kn_model *m);
kn_status kn_model_add_dense(kn_model *m, int64_t units, kn_activation activation);
kn_status kn_model_add_dense_ex(kn_model *m, const kn_dense_opts *opts);
/* Image layers; each needs an image input (height, width, channels) and names itself in
 * errors ("layers[2] conv2d: ..."). Pool strides of 0 mean the pool size (as Keras). */
kn_status kn_model_add_conv2d(kn_model *m, const kn_conv2d_opts *opts);
kn_status kn_model_add_pool2d(kn_model *m, kn_pool_kind kind, int pool_h, int pool_w, int stride_h, int stride_w,
                              bool same);
kn_status kn_model_add_global_avg_pool2d(kn_model *m);  /* (H, W, C) -> (C) */
/* Keras's GlobalMaxPooling2D (KN_POOL_MAX) or GlobalAveragePooling2D: (H, W, C) -> (C). */
kn_status kn_model_add_global_pool2d(kn_model *m, kn_pool_kind kind);
/* Sequence layers (Keras's Conv1D, MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D,
 * GlobalAveragePooling1D); each needs a sequence input (steps, channels) (an input_shape
 * such as [100, 1], or a reshape) and names itself in errors ("layers[2] conv1d: ...").
 * A pool stride of 0 means the pool size (as Keras). */
kn_status kn_model_add_conv1d(kn_model *m, const kn_conv1d_opts *opts);
kn_status kn_model_add_pool1d(kn_model *m, kn_pool_kind kind, int pool_size, int stride, bool same);
kn_status kn_model_add_global_pool1d(kn_model *m, kn_pool_kind kind); /* (steps, C) -> (C) */
/* A recurrent layer (kn_rnn_opts): (steps, F) -> (steps, units) with return_sequences, else
 * (units); bidirectional with concat: 2 x units. */
kn_status kn_model_add_rnn(kn_model *m, const kn_rnn_opts *opts);
/* Keras's TimeDistributed(Dense(...)): the dense layer applied at every step of a (steps...,
 * C) input on its own, (steps..., C) -> (steps..., units), with one kernel (C, units) and
 * bias; parameters "time_distributed_<i>/kernel", "/bias". (A plain dense layer flattens a
 * sequence instead.) Passes a mask on. Not the last layer. */
kn_status kn_model_add_time_distributed(kn_model *m, const kn_dense_opts *opts);
kn_status kn_model_add_flatten(kn_model *m);            /* any -> (features) */
/* A new per-sample shape of the same size (Keras's Reshape target_shape), 1 to 3 dims; one
 * may be -1, the size the others leave. */
kn_status kn_model_add_reshape(kn_model *m, const int64_t *shape, int ndim);
kn_status kn_model_add_activation(kn_model *m, kn_activation activation);
/* Keras's Masking(mask_value) over a sequence (steps, features): a step whose features all
 * equal mask_value is masked for the layers after it (recurrent layers skip it, pooling
 * and attention leave it out, as an embedding's mask_zero) and its output is zeros; other
 * steps pass unchanged. */
kn_status kn_model_add_masking(kn_model *m, float mask_value);
/* Keras's UnitNormalization (axis -1): each row of the last axis divided by its L2 norm
 * (kn_unit_norm, epsilon 1e-12 on the squared norm); no parameters. */
kn_status kn_model_add_unit_norm(kn_model *m);
/* The same with alpha: leaky_relu's negative slope, elu's alpha (0: the default, 0.2 and 1;
 * Keras's LeakyReLU layer and ELU layer take theirs so). */
kn_status kn_model_add_activation_alpha(kn_model *m, kn_activation activation, float alpha);
/* Keras's PReLU: x where x > 0, alpha x elsewhere, alpha learned ("prelu_<i>/alpha", of the
 * input's shape, Keras's default, or per_channel: one per channel, Keras's shared_axes over
 * every axis but the last, its shape the input's with those axes 1). alpha_init's zero value
 * means zeros (Keras's default); PyTorch's nn.PReLU starts at the constant 0.25. */
typedef struct kn_prelu_opts {
    bool per_channel;
    kn_init alpha_init;
    float init_value; /* a KN_INIT_CONSTANT's value */
} kn_prelu_opts;
kn_status kn_model_add_prelu(kn_model *m, const kn_prelu_opts *opts);
/* Keras's DepthwiseConv2D and SeparableConv2D over images (height, width, channels): each
 * input channel convolved with its own depth_multiplier M filters (kn_depthwise_conv2d),
 * (H, W, C) -> (OH, OW, C M), kernel "depthwise_conv2d_<i>/depthwise_kernel" (KH KW, C, M)
 * (Keras's (KH, KW, C, M), the same floats), then a bias (C M) and the activation;
 * separable: then a pointwise 1x1 product to filters channels ("separable_conv2d_<i>/
 * depthwise_kernel", "/pointwise_kernel" (C M, filters), "/bias" (filters)). Zero strides,
 * dilations and depth_multiplier mean 1; same: 'same' padding. l2: the depthwise kernel's
 * regularizer, pointwise_l2 the pointwise one's; the zero bias_init means zeros. */
typedef struct kn_depthwise_opts {
    int kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
    bool same;
    int depth_multiplier;
    int64_t filters; /* separable_conv2d's output channels (unused by depthwise_conv2d) */
    kn_activation activation;
    float alpha;
    bool no_bias;
    kn_init depthwise_init, pointwise_init, bias_init;
    float init_value;
    float l2, pointwise_l2;
} kn_depthwise_opts;
kn_status kn_model_add_depthwise_conv2d(kn_model *m, const kn_depthwise_opts *opts);
kn_status kn_model_add_separable_conv2d(kn_model *m, const kn_depthwise_opts *opts);
/* Keras's DepthwiseConv1D and SeparableConv1D over sequences (steps, channels): the same
 * layers with a 1 x kernel_w window over the (1, steps, C) view (kernel_h, stride_h and
 * dilation_h 0 or 1), (L, C) -> (OL, C M) or (OL, filters); kernels "depthwise_conv1d_<i>/
 * depthwise_kernel" (K, C, M) (Keras's), "separable_conv1d_<i>/pointwise_kernel" (C M,
 * filters). */
kn_status kn_model_add_depthwise_conv1d(kn_model *m, const kn_depthwise_opts *opts);
kn_status kn_model_add_separable_conv1d(kn_model *m, const kn_depthwise_opts *opts);
/* Keras's ZeroPadding2D and Cropping2D over images (height, width, channels): rows of zeros
 * added above (top) and below (bottom), columns left and right, (H, W, C) -> (H + top +
 * bottom, W + left + right, C); cropping removes as many instead (kn_pad2d). ZeroPadding1D and
 * Cropping1D over sequences (steps, channels): steps before (left) and after (right). Amounts
 * in [0, 2^24]; cropping must leave a row, a column, a step (else an error naming the layer
 * and its input). No parameters; a mask is not passed on (Keras drops it too). */
kn_status kn_model_add_zero_padding2d(kn_model *m, int top, int bottom, int left, int right);
kn_status kn_model_add_cropping2d(kn_model *m, int top, int bottom, int left, int right);
kn_status kn_model_add_zero_padding1d(kn_model *m, int left, int right);
kn_status kn_model_add_cropping1d(kn_model *m, int left, int right);
/* Keras's UpSampling2D(size, interpolation) over images, (H, W, C) -> (H size_h, W size_w, C),
 * nearest or bilinear (kn_upsample2d), and UpSampling1D(size) over sequences (each step
 * repeated size times); factors in [1, 4096]. */
kn_status kn_model_add_up_sampling2d(kn_model *m, int size_h, int size_w, kn_interpolation interpolation);
kn_status kn_model_add_up_sampling1d(kn_model *m, int size);
/* Keras's Resizing(height, width, interpolation) over images, (H, W, C) -> (height, width, C),
 * each side in [1, 2^23], bilinear (Keras's default) or nearest, half-pixel centers
 * (kn_resize2d); Keras's crop_to_aspect_ratio=False only (the image is stretched). No
 * parameters. */
kn_status kn_model_add_resizing(kn_model *m, int height, int width, kn_interpolation interpolation);
/* Volume layers over (depth, height, width, channels) samples (Keras's Conv3D, MaxPooling3D,
 * AveragePooling3D, GlobalMaxPooling3D, GlobalAveragePooling3D, ZeroPadding3D, Cropping3D and
 * UpSampling3D); each needs a volume input (an input_shape such as [16, 32, 32, 1], or a
 * reshape) and names itself in errors ("layers[2] conv3d: ..."). Axes are (depth, height,
 * width) in every 3-element array. A conv3d's kernel "conv3d_<i>/kernel" is (KH KW KD, C, F):
 * Keras's (KD, KH, KW, C, F) with the depth axis moved after the width (kiln convolves the
 * depth taps as channels of a 2-D convolution), Keras's fans (fan_in KD KH KW C, fan_out
 * KD KH KW F); its bias "conv3d_<i>/bias" (F). Zero strides and dilations mean 1; same:
 * 'same' padding, else 'valid'; the rest as kn_conv2d_opts (no groups). Pool strides of 0
 * mean the pool size (as Keras); a pool's 'same' windows take their valid cells (the
 * average their mean, as Keras). Padding and cropping amounts are (front, back, top, bottom,
 * left, right), each in [0, 2^24]; upsampling repeats each cell size_d x size_h x size_w
 * times, each factor in [1, 4096]. No mask is passed on. */
typedef struct kn_conv3d_opts {
    int64_t filters;
    int kernel[3];
    int strides[3];
    int dilation[3];
    bool same;
    kn_activation activation;
    bool no_bias;
    kn_init kernel_init;
    kn_init bias_init;
    float init_value;
    float l2;
    float alpha;
} kn_conv3d_opts;
kn_status kn_model_add_conv3d(kn_model *m, const kn_conv3d_opts *opts);
kn_status kn_model_add_pool3d(kn_model *m, kn_pool_kind kind, const int pool[3], const int strides[3], bool same);
kn_status kn_model_add_global_pool3d(kn_model *m, kn_pool_kind kind); /* (D, H, W, C) -> (C) */
kn_status kn_model_add_zero_padding3d(kn_model *m, const int amounts[6]);
kn_status kn_model_add_cropping3d(kn_model *m, const int amounts[6]);
kn_status kn_model_add_up_sampling3d(kn_model *m, int size_d, int size_h, int size_w);
/* Keras's Conv3DTranspose (PyTorch's ConvTranspose3d) over volumes: (D, H, W, C) -> (OD, OH,
 * OW, filters), each axis sized and cropped as Keras's Conv2DTranspose's (kn_conv2d_transpose:
 * 'valid' (in - 1) stride + span, or stride - span more when the stride is larger; 'same' in
 * stride; output_padding when has_output_padding, each below its stride), then a bias and the
 * activation. Parameters "conv3d_transpose_<i>/kernel" (KH KW KD, filters, C): Keras's (KD,
 * KH, KW, filters, C) with the depth axis moved after the width (as conv3d's), Keras's fans
 * (fan_in KD KH KW filters, fan_out KD KH KW C); "conv3d_transpose_<i>/bias" (filters). Axes
 * (depth, height, width) in every array; zero strides and dilations mean 1. */
typedef struct kn_conv3d_transpose_opts {
    int64_t filters;
    int kernel[3];
    int strides[3];
    int dilation[3];
    bool same;
    bool has_output_padding;
    int output_padding[3];
    kn_activation activation;
    float alpha;
    bool no_bias;
    kn_init kernel_init, bias_init;
    float init_value;
    float l2;
} kn_conv3d_transpose_opts;
kn_status kn_model_add_conv3d_transpose(kn_model *m, const kn_conv3d_transpose_opts *opts);
/* Keras 3's RandomFlip, RandomTranslation, RandomRotation, RandomZoom, RandomContrast and
 * RandomBrightness over images (H, W, C) -> (H, W, C) (kn_random_image; o->kind says which):
 * a random transform per image while training, the identity in evaluation and prediction
 * (an inference graph holds nothing of them). No parameters. */
kn_status kn_model_add_random_image(kn_model *m, const kn_random_image_opts *o);
/* Keras's Conv2DTranspose over images (height, width, channels) -> (OH, OW, filters)
 * (kn_conv2d_transpose's sizes), then a bias and the activation: parameters
 * "conv2d_transpose_<i>/kernel" (KH KW, filters, C) (Keras's (KH, KW, filters, C), the same
 * floats in the same order, so the initializers take Keras's fans: fan_in KH KW filters,
 * fan_out KH KW C) and "/bias" (filters). Errors name the layer ("layers[2]
 * conv2d_transpose: ..."). */
kn_status kn_model_add_conv2d_transpose(kn_model *m, const kn_conv2d_transpose_opts *opts);
/* Keras's Conv1DTranspose over sequences (steps, channels) -> (OL, filters), then a bias and
 * the activation: "conv1d_transpose_<i>/kernel" (K, filters, C), Keras's, and "/bias". */
kn_status kn_model_add_conv1d_transpose(kn_model *m, const kn_conv1d_transpose_opts *opts);
/* Keras's Permute(dims): each sample's axes reordered, output axis k (1-based) the input's
 * axis dims[k - 1]; dims a permutation of 1 .. n, n the input's axes after the batch (at most
 * 3). Permute((2, 1)) swaps a sequence's steps and features. */
kn_status kn_model_add_permute(kn_model *m, const int *dims, int n);
/* Keras's RepeatVector(n): features (batch, F) -> (batch, n, F), the sample repeated n times
 * (an encoder's state fed to every step of a decoder: an LSTM autoencoder). */
kn_status kn_model_add_repeat_vector(kn_model *m, int n);
/* Keras's Rescaling(scale, offset): x * scale + offset, the same when training and
 * predicting (Rescaling(1. / 255) over raw pixels). */
kn_status kn_model_add_rescaling(kn_model *m, float scale, float offset);
/* Keras's Dropout(rate), rate in [0, 1): zeroes a fraction rate of its input while training
 * (the others scaled by 1 / (1 - rate)); the identity in evaluation and prediction. */
kn_status kn_model_add_dropout(kn_model *m, float rate);
/* Keras's SpatialDropout1D/2D/3D(rate): dropout of whole channels, one draw per (sample,
 * channel) shared by every step or position (kn_spatial_dropout); the layer's type is
 * spatial_dropout1d, 2d or 3d by its input, (steps, C), (H, W, C) or (D, H, W, C). */
kn_status kn_model_add_spatial_dropout(kn_model *m, float rate);
/* Keras's GaussianNoise(stddev), GaussianDropout(rate) and AlphaDropout(rate) layers
 * (kn_gaussian_noise, kn_gaussian_dropout, kn_alpha_dropout): noise while training, the
 * identity in evaluation and prediction. */
kn_status kn_model_add_gaussian_noise(kn_model *m, float stddev);
kn_status kn_model_add_gaussian_dropout(kn_model *m, float rate);
kn_status kn_model_add_alpha_dropout(kn_model *m, float rate);
/* Keras's BatchNormalization(momentum, epsilon) over the last axis (channels of an image,
 * features otherwise): parameters batch_normalization_<i>/gamma, /beta (trained) and
 * /moving_mean, /moving_variance (updated by training runs, saved with the model).
 * momentum in [0, 1] (Keras 0.99), epsilon > 0 (Keras 1e-3). */
kn_status kn_model_add_batch_norm(kn_model *m, float momentum, float epsilon);
/* Keras's LayerNormalization(epsilon, center, scale) over the last axis (the channels of an
 * image, one position at a time; the features otherwise): parameters
 * layer_normalization_<i>/gamma (ones, when scale) and /beta (zeros, when center), both
 * trained. epsilon > 0 (Keras 1e-3; center and scale true). */
kn_status kn_model_add_layer_norm(kn_model *m, float epsilon, bool center, bool scale);
/* Keras's GroupNormalization(groups, epsilon, center, scale) over the last axis: each sample's
 * channels in `groups` groups of consecutive channels, each normalized over the sample's
 * positions and the group's channels together (kn_group_norm); groups -1 is one a channel
 * (instance normalization), 1 the whole sample. groups must divide the channels (Keras 32,
 * epsilon 1e-3). Parameters group_normalization_<i>/gamma (ones, when scale) and /beta
 * (zeros, when center), both trained. */
kn_status kn_model_add_group_norm(kn_model *m, int groups, float epsilon, bool center, bool scale);
/* Non-sequential models (Keras's functional API, kept to a list in graph order). The next
 * layer added is called name (NULL: "<type>_<n>", as Keras names it; names are unique and
 * "input" is the model's input) and takes the named earlier layers' outputs (n_inputs 0:
 * the previous layer's, as in a sequential model). Only merge layers take more than one
 * input. Names are copied; the setting applies to the next successful kn_model_add_*. */
kn_status kn_model_next_layer(kn_model *m, const char *name, const char *const *inputs, int n_inputs);
/* Keras's merge layers over the inputs kn_model_next_layer gave (2 or more; subtract
 * exactly 2): add, subtract, multiply, average, maximum and minimum need equal shapes (add,
 * subtract, multiply and average also take one broadcast over the others: (1, 1, C) gates,
 * an (H, W, 1) map); concatenate joins along the last axis (the channels), the others equal. */
typedef enum {
    KN_MERGE_ADD, KN_MERGE_SUBTRACT, KN_MERGE_MULTIPLY, KN_MERGE_AVERAGE, KN_MERGE_MAXIMUM, KN_MERGE_CONCATENATE,
    KN_MERGE_MINIMUM,
    KN_MERGE_COUNT
} kn_merge;
kn_status kn_model_add_merge(kn_model *m, kn_merge kind);
/* Keras's Dot(axes=-1) over the 2 inputs kn_model_next_layer gave, feature vectors of the
 * same size: (F), (F) -> (1), their inner product; normalize: their cosine similarity (each
 * divided by its L2 norm first, as Keras's normalize=True). */
kn_status kn_model_add_dot(kn_model *m, bool normalize);
/* Keras's Embedding: each input value is a token index (a whole number in [0, input_dim),
 * stored as a float in the model input) replaced by its row of the parameter
 * "embedding_<i>/embeddings" (input_dim, output_dim), so a sample of shape (T) becomes
 * (T, output_dim) (any sample shape of 1 or 2 dimensions gets output_dim appended), ready
 * for conv1d, global_average_pool1d, flatten + dense. It reads the model's input only
 * (index tensors have no gradient): a layer feeding it is refused. Data holding another
 * value is refused by fit, evaluate, predict and train_step, naming the row, the column
 * and the value (kn_model_check_input). embeddings_init as Keras's embeddings_initializer
 * (kn_embedding_default: "uniform", U(-0.05, 0.05)); init_value a constant's value; l2 the
 * embeddings_regularizer's factor (0: none), added to the loss as dense's l2 is.
 * input_dim in [1, 2^24] (f32 holds every integer up to it), output_dim in [1, 2^24].
 * mask_zero (Keras's): index 0 is padding. The layer then carries a mask (the steps whose
 * index is not 0) to the layers after it, as Keras does: dropout, activation, layer and
 * batch normalization, position_embedding, conv1d of kernel_size 1 and stride 1 (kiln's
 * position-wise dense) and recurrent layers returning sequences pass it on; merges pass on
 * what their masked inputs keep in common; multi_head_attention attends to no padding key
 * (and passes its query's mask on); global_average_pool1d averages the kept steps only;
 * recurrent layers carry their state over padding steps (kn_rnn_masked). Any other layer
 * drops it. */
typedef struct kn_embedding_opts {
    int64_t input_dim, output_dim;
    kn_init embeddings_init; /* as given (zero is glorot_uniform): start from kn_embedding_default */
    float init_value;
    float l2;
    bool mask_zero;
} kn_embedding_opts;
kn_embedding_opts kn_embedding_default(int64_t input_dim, int64_t output_dim);
kn_status kn_model_add_embedding(kn_model *m, int64_t input_dim, int64_t output_dim); /* Keras's defaults */
kn_status kn_model_add_embedding_ex(kn_model *m, const kn_embedding_opts *opts);
/* Checks that rows x (n, features) are input the model takes: with an embedding reading
 * the input, every value a whole number in [0, input_dim). KN_OK, or KN_ERR_INVALID_ARGUMENT
 * and one line naming the layer, the row (0-based, counted from x), the column and the
 * value. fit, evaluate, predict and train_step check their rows this way themselves. */
kn_status kn_model_check_input(kn_model *m, const float *x, int64_t n);
/* Keras's MultiHeadAttention over sequences (steps, channels): one input (a sequence
 * attending to itself, as in a sequential model), or through kn_model_next_layer two
 * (query, value; the key is the value) or three (query, value, key), Keras's call order.
 * Each input step is projected to num_heads heads of key_dim (query, key) or value_dim
 * (value; 0: key_dim) channels, each head attends (kn_attention; causal: Keras's
 * use_causal_mask), and the heads' outputs are projected to output_dim channels (0: the
 * query's, Keras's default). Parameters "multi_head_attention_<i>/query/kernel" (F, H, Dk)
 * and ".../query/bias" (H, Dk), "key/..." and "value/..." (Dv) likewise over their inputs'
 * channels, "attention_output/kernel" (H, Dv, output_dim) and "/bias" (output_dim): Keras's
 * names and shapes. kernel_init (Keras: glorot_uniform, with the 3-D kernels' fans as
 * Keras computes them), bias_init (zeros), init_value, l2 (every kernel's) as kn_dense_opts.
 * dropout: Keras's, on the attention probabilities while training (kn_attention_dropout). */
typedef struct kn_attention_opts {
    int num_heads;
    int64_t key_dim, value_dim, output_dim;
    bool no_bias;
    bool causal;
    kn_init kernel_init, bias_init;
    float init_value;
    float l2;
    float dropout;
} kn_attention_opts;
kn_attention_opts kn_attention_default(int num_heads, int64_t key_dim);
kn_status kn_model_add_attention(kn_model *m, const kn_attention_opts *opts);
/* Keras's Attention layer (score_mode "dot"): no projections; over the inputs
 * kn_model_next_layer gave (query, value[, key]: the key the value when left out; one input
 * attends to itself) the scores q k^T, times a learned scalar "attention_<i>/scale" (ones)
 * with use_scale, softmax over the keys (causal: query step i sees key steps up to i), times
 * the values: (Tq, D), (Tk, Dv)[, (Tk, D)] -> (Tq, Dv). dropout in [0, 1) drops attention
 * probabilities while training. Masks as multi_head_attention's. */
kn_status kn_model_add_dot_attention(kn_model *m, bool use_scale, bool causal, float dropout);
/* A learned position embedding over a sequence (steps, channels): a table of that shape,
 * "position_embedding_<i>/embeddings" (init: keras_hub's glorot_uniform), added to every
 * sample (keras_hub's TokenAndPositionEmbedding's position half). */
kn_status kn_model_add_position_embedding(kn_model *m, kn_init init);
kn_status kn_model_compile(kn_model *m, const kn_compile_opts *opts);
/* Trains on data. *history (may be NULL) is owned by the model, valid until the next fit. */
kn_status kn_model_fit(kn_model *m, const kn_dataset *data, const kn_fit_opts *opts,
                       const kn_history **history);
kn_status kn_model_evaluate(kn_model *m, const kn_dataset *data, kn_eval_report *report);
/* x: (n, features) -> out: (n, outputs), class probabilities for classifiers. */
kn_status kn_model_predict(kn_model *m, const float *x, int64_t n, float *out);
int64_t kn_model_param_count(const kn_model *m);
/* A fitted tree or forest's feature importances (impurity decrease, summing to 1, as
 * scikit-learn's feature_importances_) into out (kn_model_input_size entries);
 * KN_ERR_UNSUPPORTED for other models (hist_gradient_boosting has none, as scikit-learn's
 * HistGradientBoosting has none). */
kn_status kn_model_feature_importances(kn_model *m, double *out);
/* A random forest's out-of-bag score (accuracy or R²) when it was fitted with
 * "oob_score": true, else NaN. */
double kn_model_oob_score(const kn_model *m);
/* A fitted decision tree as text, as scikit-learn's export_text prints it (the model's
 * feature and class names when it has them); free the text with kn_free(ctx, text).
 * KN_ERR_UNSUPPORTED for other models. */
kn_status kn_model_export_text(kn_model *m, char **out);
/* The context a model was made with. */
kn_ctx *kn_model_ctx(const kn_model *m);
/* "sequential" for networks, else the classical model's type: "linear_regression",
 * "logistic_regression", "decision_tree", "random_forest", "hist_gradient_boosting",
 * "linear_svm" or "svm". */
const char *kn_model_type(const kn_model *m);
int64_t kn_model_output_size(const kn_model *m);
int64_t kn_model_input_size(const kn_model *m);
/* Parameters by name ("dense_0/kernel" (in, out), "dense_0/bias" (out)); *n receives the
 * element count. Valid after compile; the pointer is into the model's flat buffer. A fitted
 * classical model gives its float tensors the same way: "coef" (k, d) and "intercept" (k)
 * of linear models and linear SVMs, "threshold" and "value" of a tree (every tree's end to end for
 * a forest or gradient boosting, whose "baseline" (k) is the raw score before the first
 * tree), "sv" and "dual_coef" of a kernel SVM. On a device (a cuda context) the pointer is into the host copy, current
 * at the call: call again after training to read new values; what is written through it
 * reaches the device at the model's next use (fit, predict, evaluate, save...). */
float *kn_model_param(kn_model *m, const char *name, int64_t *n);
/* The gradient of a parameter from the last training step (after compile; on a device, a
 * host copy current at the call). */
const float *kn_model_grad(kn_model *m, const char *name, int64_t *n);
/* One training step on one batch (x (n, features); labels or targets as the loss needs);
 * writes the mean loss. What kn_model_fit runs per batch. */
kn_status kn_model_train_step(kn_model *m, const float *x, const void *y, int64_t n, float *loss);
/* The graph optimizer's passes for the model's graphs (KN_PASS_* bits; default all); takes
 * effect at the next graph the model builds. */
kn_status kn_model_set_passes(kn_model *m, unsigned passes);
/* Int8 inference (dynamic quantization, as PyTorch's quantize_dynamic): with KN_QUANT_INT8
 * the model's inference graph runs its dense layers of 16 outputs or more (and matmuls by
 * constant weights) on 8-bit integers: each weight column quantized once to [-127, 127]
 * with its own scale, each input row quantized as it comes to [0, 255] over its own range,
 * the sums exact in int32, bias and activation in f32. Other layers (a 10-class output
 * layer among them) stay f32. CPU only, inference only: a model that has trained in this
 * process keeps its training graph (KN_ERR_STATE: save it and load the file); takes effect
 * at the next graph the model builds. KN_QUANT_NONE (default): f32. */
typedef enum { KN_QUANT_NONE, KN_QUANT_INT8, KN_QUANT_COUNT } kn_quant;
kn_status kn_model_set_quantization(kn_model *m, kn_quant quant);
kn_quant kn_model_quantization(const kn_model *m);
/* Dense layers the model's current graph runs in int8 (0 before its first prediction). */
int kn_model_quantized_layers(const kn_model *m);
/* Builds and compiles the model's training (or inference) graph for batch (as fit or
 * predict would), fills *report and, with dot_path, writes its DOT file. */
kn_status kn_model_graph_report(kn_model *m, int64_t batch, bool training, kn_graph_report *report,
                                const char *dot_path);
/* A one-line summary of the layers and parameter count, into buf. */
void kn_model_summary(const kn_model *m, char *buf, size_t size);

/* ---------------------------------------------------------------- metrics */

typedef struct kn_class_metrics {
    double precision, recall, f1; /* 0 where undefined (no predictions / no support), as scikit-learn */
    int64_t support;              /* rows of this true class */
} kn_class_metrics;

typedef struct kn_metrics {
    int n_classes;
    int64_t n;
    double accuracy;
    double precision_macro, recall_macro, f1_macro; /* unweighted means over classes */
    double f1_micro;                                /* = accuracy for single-label data */
    double f1_weighted;                             /* weighted by support */
} kn_metrics;

/* Classes a classifier tells apart: its outputs, or 2 for one sigmoid output. */
int kn_model_class_count(const kn_model *m);
/* The confusion matrix of the model's predictions on a labelled dataset:
 * confusion[true * n_classes + predicted]; n_classes must be at least
 * kn_model_class_count(m) and kn_dataset_classes(data). */
kn_status kn_model_confusion(kn_model *m, const kn_dataset *data, int64_t *confusion, int n_classes);
/* Binary ROC-AUC of scores (the probability of class 1) against labels (0/1), as
 * scikit-learn's roc_auc_score (ties averaged); NaN with one class present. */
double kn_roc_auc(kn_ctx *ctx, const float *score, const int32_t *labels, int64_t n);
/* One-vs-rest ROC-AUC of (n, classes) probabilities against labels in [0, classes), as
 * scikit-learn's roc_auc_score(multi_class="ovr"): each class's binary ROC-AUC against the
 * rest, averaged (macro, returned) and weighted by the class's count (*weighted, unless
 * NULL); NaN when a class is absent from the labels. */
double kn_roc_auc_ovr(kn_ctx *ctx, const float *probs, const int32_t *labels, int64_t n, int classes, double *weighted);
/* Mean -log p(true class) of probability rows (n, classes), clipped to [eps, 1-eps] and
 * renormalized, as scikit-learn's log_loss. */
double kn_log_loss(const float *probs, const int32_t *labels, int64_t n, int classes);
/* Metrics of a confusion matrix; per_class (n_classes entries) may be NULL. */
void kn_metrics_from_confusion(const int64_t *confusion, int n_classes, kn_metrics *out,
                               kn_class_metrics *per_class);

/* ---------------------------------------------------------------- model files */

/* Saves the model as a .kiln file (a safetensors file, see README): atomically — a
 * temporary file in the same folder, fsync'd, renamed over path — so path holds either the
 * old file or the new one, never a part. */
kn_status kn_model_save(kn_model *m, const char *path);

/* Saves a network for inference with its parameters stored as dtype: KN_F16 (IEEE half)
 * or KN_BF16 (bfloat16), rounded to nearest even, each tensor 64-byte aligned: about half
 * the file of kn_model_save. Everything else (architecture, preprocessing, labels, training
 * summary) is kept and the dtype recorded in the metadata (kiln.dtype); no optimizer state
 * or checkpoint goes in, so the file cannot be resumed from. KN_F32 is kn_model_save.
 * KN_I8: the weights the model's int8 inference runs with (kn_model_set_quantization:
 * dense layers of 16 outputs or more, convolutions, attention's projections) stored as I8
 * with a kiln.scale.NAME F32 tensor of each column's scale, the rest F32 (the reference
 * MLP's file 28% of the f32 one); loading such a file dequantizes the weights (w = q s)
 * and serves the model in int8 (KN_QUANT_INT8, which packs the same q and scales again).
 * Atomic like kn_model_save. KN_ERR_UNSUPPORTED for classical models, KN_ERR_DTYPE for
 * other dtypes. */
kn_status kn_model_save_as(kn_model *m, const char *path, kn_dtype dtype);
/* The dtype of the parameters in the file a model was loaded from (KN_F16, KN_BF16), or
 * KN_F32 (an f32 file, or a model that was not loaded). A half file's weights are widened
 * to f32 at load: computation is f32 either way. */
kn_dtype kn_model_param_dtype(const kn_model *m);
/* The training precision the model was compiled with (kn_compile_opts.precision; a model
 * loaded from a file or checkpoint: the one it was trained in), or KN_PRECISION_FP32 for
 * classical models and models not compiled. */
kn_precision kn_model_precision(const kn_model *m);

typedef struct kn_load_opts {
    bool skip_checksum;   /* skip the XXH3 pass over the data (for files verified before) */
} kn_load_opts;

/* Loads a .kiln file (opts may be NULL). Every length, offset, dtype and shape is checked
 * against the file and the architecture before use, and the checksum verified; a bad file
 * gives a status and a message naming the field. The weights are used in place from a
 * read-only mapping until the model trains. Free with kn_model_free. */
kn_status kn_model_load(kn_ctx *ctx, const char *path, const kn_load_opts *opts, kn_model **out);

/* ONNX import (io/onnx_import.c): a model saved by PyTorch's torch.onnx.export (or any
 * exporter) as a kiln model, ready to predict, evaluate, save as a .kiln file or train on.
 * Its nodes may be Gemm/MatMul (+ Add), Conv (group 1 or depthwise), MaxPool, AveragePool,
 * GlobalAveragePool/MaxPool, BatchNormalization, Flatten, Reshape, Pad, Slice, ConvTranspose,
 * Resize (by whole factors: up_sampling2d; to other sizes, half-pixel: resizing), PRelu, Transpose between
 * NCHW and NHWC, scaling by constants, merges of values
 * (Add, Sub, Mul, Max, Mean, Sum, Concat: residual and branching networks), Dropout,
 * Identity and the activations kiln has, over one input to one output; anything else is
 * refused naming the node and its op. ONNX's images (N, C, H, W) become kiln's (H, W, C): an image
 * model of C > 1 channels takes rows in kiln's (H, W, C) order (the same as ONNX's for one
 * channel); the weights are reordered so it computes what the ONNX model does. */
typedef struct kn_onnx_opts {
    /* the loss the model compiles with (a kiln loss name), or NULL: from the last layer
     * (softmax: sparse_categorical_crossentropy; one sigmoid output: binary_crossentropy;
     * else mse). A cross-entropy over a last layer of neither is from its logits. */
    const char *loss;
} kn_onnx_opts;
kn_status kn_model_import_onnx(kn_ctx *ctx, const char *path, const kn_onnx_opts *opts, kn_model **out);
/* The same from bytes in memory; name (may be NULL) names them in messages. */
kn_status kn_model_import_onnx_buffer(kn_ctx *ctx, const void *data, size_t size, const char *name,
                                      const kn_onnx_opts *opts, kn_model **out);

/* ONNX export (io/onnx_export.c): a network as an ONNX model (opset 13) computing what kiln
 * does, for ONNX Runtime, TensorRT and the rest: dense, conv2d, depthwise and separable
 * convolutions, conv2d_transpose and conv1d_transpose, pooling, flatten, reshape, batch norm, zero padding,
 * cropping, up_sampling2d, resizing, prelu, rescaling, dropout, conv1d and 1-D pooling, embeddings
 * (no mask_zero), simple_rnn, lstm, gru and bidirectional ones,
 * activations and merges (residual and branching networks). Its input is kiln's: (N,
 * features), or images (N, H, W, C) (Transposes to and from NCHW go around the convolutions
 * and pooling inside). A CSV preprocessing the model keeps begins the graph when its
 * columns are all numbers (imputing, dropping constant columns, poly=2, scaling, PCA): the
 * input is then the raw columns (N, columns) as `kiln predict` reads them, their names in
 * metadata_props "kiln.inputs"; one with categorical, date, text or sequence columns is
 * refused naming the column (export the network alone with network_only). Other layers
 * are refused naming the layer (KN_ERR_UNSUPPORTED). Classical models export as what they
 * predict: linear models as Gemm (logistic: then Sigmoid or Softmax; linear_svm: the one-hot
 * of its decision), trees, forests and hist_gradient_boosting as ai.onnx.ml
 * TreeEnsembleRegressor, naive Bayes as its joint log-likelihood and Softmax,
 * k_nearest_neighbors by TopK over the distances to its training rows, svm by its kernel and
 * one-vs-one votes; an svm with probabilities is refused. Written atomically. */
kn_status kn_model_export_onnx(kn_model *m, const char *path);

typedef struct kn_onnx_export_opts {
    bool network_only; /* leave a CSV preprocessing out: the graph's input is the model's own */
} kn_onnx_export_opts;
kn_status kn_model_export_onnx_ex(kn_model *m, const char *path, const kn_onnx_export_opts *opts);

/* An inference session: its own activation buffers over the model's weights, shared
 * read-only, so threads predict concurrently (one session per thread). Create sessions
 * from one thread; a session is valid until its model trains, is compiled again or is
 * freed. kn_session_predict: x (n, features) -> out (n, outputs), as kn_model_predict. */
typedef struct kn_session kn_session;
kn_status kn_session_new(kn_model *m, int64_t max_batch, kn_session **out);
kn_status kn_session_predict(kn_session *s, const float *x, int64_t n, float *out);
void kn_session_free(kn_session *s);

/* Where a checkpoint left training: the epoch in progress (0-based), the next batch in it,
 * and the total epochs of the run; false when the model holds no checkpoint position. */
bool kn_model_checkpoint_position(const kn_model *m, int *epoch, int64_t *batch, int *epochs);
/* The checkpointed run's batch size and validation split, which a resume must repeat. */
bool kn_model_checkpoint_run(const kn_model *m, int64_t *batch_size, double *validation_split);
/* The checkpointed run's augmentation (zeroed: none), which a resume must repeat. */
bool kn_model_checkpoint_augment(const kn_model *m, kn_augment *augment);
/* The learning-rate schedule a checkpoint's run trained under (pass it to kn_fit_opts.schedule
 * to resume it); false for a model file or a checkpoint written before schedules were
 * recorded. */
bool kn_model_checkpoint_schedule(const kn_model *m, kn_schedule *schedule);

/* The CSV preprocessing the model applies to raw rows (copied into the model, saved with
 * it, replacing any); its output size must be the model's input size. */
kn_status kn_model_set_preprocessor(kn_model *m, const kn_preprocessor *p);
/* The model's preprocessing, or NULL (image models, models trained from arrays). */
const kn_preprocessor *kn_model_preprocessor(const kn_model *m);
/* Labelled CSV data through the model's preprocessing, for evaluation: source is
 * "csv:FILE[:sep=..][:na=..]"; the target column is the one the model was trained on. */
kn_status kn_model_load_data(kn_model *m, const char *source, kn_dataset **out);

/* Class names saved with the model (from the training data), or NULL. */
const char *kn_model_label_name(const kn_model *m, int cls);
kn_status kn_model_set_labels(kn_model *m, const char *const *names, int n);
/* Names of the model's inputs (set from CSV columns when training from CSV); saved with
 * the model and used to match a CSV's columns at prediction. NULL when unnamed. */
kn_status kn_model_set_feature_names(kn_model *m, const char *const *names, int64_t n);
const char *kn_model_feature_name(const kn_model *m, int64_t i);
/* Raw input units -> model input (1/255 for 8-bit images; 1 when unknown). */
double kn_model_input_scale(const kn_model *m);
/* The training summary saved with the model (JSON text), or NULL. */
const char *kn_model_training_summary(const kn_model *m);
/* The model's complete JSON description; the caller frees it with kn_free(ctx, text). */
kn_status kn_model_to_json(const kn_model *m, char **out);
/* Frees memory kiln handed to the caller (kn_model_to_json's text). */
void kn_free(kn_ctx *ctx, void *ptr);

/* What a JSON description says beyond the layers: how to compile and train. */
typedef struct kn_spec {
    kn_compile_opts compile;    /* loss and optimizer (Keras defaults where absent) */
    int epochs;                 /* default 1, as Keras's fit */
    int64_t batch_size;         /* default 32 */
    /* "schedule": {"type": "cosine", "warmup_steps": 100, ...} (kn_schedule's fields) and
     * "callbacks": [{"type": "early_stopping", "patience": 3, ...},
     * {"type": "reduce_lr_on_plateau", ...}, {"type": "model_checkpoint"}] — copy them into
     * kn_fit_opts (the CLI does); save_best: a model_checkpoint callback was given. */
    kn_schedule schedule;
    kn_early_stopping early_stopping;
    kn_reduce_on_plateau reduce_lr;
    bool save_best;
    /* "class_weight": "balanced", or a list of weights by class ([1, 5]) */
    bool class_weight_balanced;
    int n_class_weights;
    float class_weight[256];
    /* "augment": {"shift": 2, "flip": 0.5, "rotate": 10, "noise": 0.05, "erase": 0.1} */
    kn_augment augment;
} kn_spec;

/* Builds an uncompiled model from a JSON description in Keras's vocabulary (see
 * INTERFACE.md) and fills *spec; call kn_model_compile(m, &spec->compile) next, after any
 * overrides. data (may be NULL) fills in what the description leaves to it: input_shape,
 * the last layer's units, its activation and the loss. Errors name the field
 * ("layers[1].units: ..."). */
kn_status kn_model_from_json(kn_ctx *ctx, const char *json, const kn_dataset *data, kn_model **out,
                             kn_spec *spec);

/* ---------------------------------------------------------------- data parallelism (MPI)
 *
 * Run the same program on N processes (mpirun -np N ./train); each one:
 *
 *   kn_dist_init(&argc, &argv);                    // MPI_Init_thread, unless already started
 *   ... the same context seed, data and model on every rank ...
 *   kn_model_fit(m, train, &(kn_fit_opts){ .batch_size = 256, .distributed = true }, &h);
 *   if (kn_dist_rank() == 0) kn_model_save(m, "model.kiln");
 *   kn_dist_finalize();                            // MPI_Finalize
 *
 * MPI belongs to the process: a program that starts MPI itself need not call kn_dist_init
 * (kiln only needs it started, at least MPI_THREAD_FUNNELED, from the thread that fits).
 * kiln uses its own duplicate of MPI_COMM_WORLD. Built without MPI, kn_dist_init and
 * kn_dist_finalize do nothing and every process is rank 0 of 1. */

/* Whether this build of kiln has MPI (CMake KILN_MPI). */
bool kn_dist_available(void);
/* Starts MPI (MPI_THREAD_FUNNELED) if it is not running; argc and argv may be NULL.
 * KN_ERR_DIST when MPI cannot start. */
kn_status kn_dist_init(int *argc, char ***argv);
/* Ends MPI if kn_dist_init (or the caller) started it and it still runs. */
kn_status kn_dist_finalize(void);
/* This process's rank in MPI_COMM_WORLD and the number of ranks (0 and 1 without MPI). */
int kn_dist_rank(void);
int kn_dist_world(void);
/* Ranks on this machine (collective over MPI_COMM_WORLD: every rank calls it), to divide
 * its cores among them. */
int kn_dist_local_world(void);
/* Ends every rank of the job (MPI_Abort) with exit code `code`: for a program whose rank
 * failed outside a distributed fit (a file only it could not read) while the others may
 * be waiting in one. kiln itself never calls it. Returns only without MPI. */
void kn_dist_abort(int code);
/* True when the context's last error came from a distributed fit that every rank left with
 * the same error (so no rank waits for another; a caller may exit normally). */
bool kn_dist_error_shared(const kn_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif /* KILN_H */
