/* model.h — the sequential model inside: its layers, and the one graph that serves
 * training (forward + loss + backward + update), evaluation (forward + loss) and
 * prediction (forward + output head) through phases. Internal to libkiln. */
#ifndef KN_MODEL_H
#define KN_MODEL_H

#include "graph/graph.h"

typedef enum {
    KN__LAYER_DENSE, KN__LAYER_CONV2D, KN__LAYER_MAX_POOL2D, KN__LAYER_AVG_POOL2D, KN__LAYER_GLOBAL_AVG_POOL2D,
    KN__LAYER_FLATTEN, KN__LAYER_RESHAPE, KN__LAYER_ACTIVATION, KN__LAYER_DROPOUT,
    KN__LAYER_BATCH_NORM, KN__LAYER_LAYER_NORM,
    /* sequences (steps, channels): views of the 2-D ops (graph.c's kn_conv1d, ...) */
    KN__LAYER_CONV1D, KN__LAYER_MAX_POOL1D, KN__LAYER_AVG_POOL1D, KN__LAYER_GLOBAL_AVG_POOL1D,
    KN__LAYER_GLOBAL_MAX_POOL1D, KN__LAYER_GLOBAL_MAX_POOL2D,
    KN__LAYER_MERGE, /* add, subtract, ... concatenate over 2+ inputs (u.merge) */
    KN__LAYER_RNN,   /* simple_rnn, lstm, gru (u.rnn; model_rnn.c) */
    KN__LAYER_EMBEDDING, /* token indices from the model input -> rows of a table (model_embedding.c) */
    KN__LAYER_ATTENTION, /* multi_head_attention over 1 to 3 inputs (u.attention; model_attention.c) */
    KN__LAYER_POSITION_EMBEDDING, /* a learned (steps, channels) table added (model_attention.c) */
    KN__LAYER_PRELU, /* Keras's PReLU, alpha learned per element or per channel (model_prelu.c) */
    KN__LAYER_RESCALING, /* Keras's Rescaling: x scale + offset (u.rescaling) */
    KN__LAYER_DEPTHWISE, /* depthwise_conv2d, separable_conv2d (u.depthwise; model_depthwise.c) */
    /* zero_padding1d/2d, cropping1d/2d (u.pad), up_sampling1d/2d (u.upsample): model_resize.c (as
     * is KN__LAYER_RESIZE);
     * a sequence layer's name ends in 1d (its output is (steps, channels)) */
    KN__LAYER_PAD, KN__LAYER_UPSAMPLE,
    KN__LAYER_CONV_TRANSPOSE, /* conv2d_transpose (u.conv_transpose; model_conv_transpose.c) */
    KN__LAYER_CONV1D_TRANSPOSE, /* conv1d_transpose: u.conv_transpose with a 1 x K window, over (1, steps, C) */
    KN__LAYER_PERMUTE, /* Keras's Permute: each sample's axes reordered (u.permute: 0-based) */
    KN__LAYER_REPEAT_VECTOR, /* Keras's RepeatVector: features (F) -> (n, F) (u.repeat: n) */
    KN__LAYER_GROUP_NORM, /* Keras's GroupNormalization (u.ln, its groups: the count, or -1 for one a channel) */
    KN__LAYER_DEPTHWISE1D, /* depthwise_conv1d, separable_conv1d: u.depthwise with a 1 x K window over the (1, steps,
                           * C) view of a sequence, as conv1d is conv2d's (model_depthwise.c) */
    KN__LAYER_DOT_ATTENTION, /* Keras's Attention: dot-product attention without projections (u.dot_attention;
                           * model_attention.c) */
    KN__LAYER_MASKING, /* Keras's Masking over a sequence: steps whose values all equal u.mask_value masked (and zeroed) */
    KN__LAYER_UNIT_NORM, /* Keras's UnitNormalization over the last axis (kn_unit_norm, epsilon 1e-12) */
    KN__LAYER_DOT, /* Keras's Dot of two feature vectors -> (1) (u.dot_normalize: their cosine) (model_merge.c) */
    KN__LAYER_RESIZE, /* Keras's Resizing: an image to height x width (u.resizing; model_resize.c) */
    KN__LAYER_RANDOM_IMAGE, /* Keras 3's random_flip ... random_brightness (u.random_image; model_random_aug.c) */
    /* volumes (depth, height, width, channels): conv3d (u.conv3d), max_pool3d and average_pool3d
     * (u.pool3d), their global forms (u.pool3d.kind), zero_padding3d and cropping3d (u.pad3d),
     * up_sampling3d (u.upsample3d): model_volume.c */
    KN__LAYER_CONV3D, KN__LAYER_POOL3D, KN__LAYER_GLOBAL_POOL3D, KN__LAYER_PAD3D, KN__LAYER_UPSAMPLE3D,
    KN__LAYER_CONV3D_TRANSPOSE /* (u.conv3d_transpose; model_conv3d_transpose.c) */
} kn__layer_kind;
#define KN__LAYER_LAST KN__LAYER_CONV3D_TRANSPOSE

/* A dropout layer's noise (u.dropout.noise): none (dropout), Keras's GaussianNoise,
 * GaussianDropout, AlphaDropout (graph/ops_noise.c's builders). */
typedef enum { KN__NOISE_NONE, KN__NOISE_GAUSSIAN, KN__NOISE_GAUSSIAN_DROPOUT, KN__NOISE_ALPHA_DROPOUT } kn__noise_kind;

/* Inputs a layer may take (a merge's), and the longest layer name. */
#define KN__MAX_INPUTS 8
#define KN__NAME_MAX 48

/* A pooling window; a 1-D pooling's is pool_w, stride_w (pool_h = stride_h = 1). */
typedef struct kn__pool_opts {
    int pool_h, pool_w, stride_h, stride_w;
    bool same;
} kn__pool_opts;

/* One layer of a model (a list in graph order, each layer taking earlier ones): its kind and options, the per-sample shape it makes
 * (as Keras writes it), and its parameters in the current graph. */
typedef struct kn__layer {
    kn__layer_kind kind;
    union {
        kn_dense_opts dense;
        kn_conv2d_opts conv;
        kn_conv1d_opts conv1d;
        kn__pool_opts pool;
        struct { kn_activation act; float alpha; } activation; /* alpha: leaky_relu's slope, elu's (0: the default) */
        /* dropout, spatial (one draw per (sample, channel)) or noise (kn__noise_kind; rate: a
         * gaussian_noise's stddev) */
        struct { float rate; bool spatial; int noise; } dropout;
        struct { float momentum, epsilon; } bn; /* batch_normalization */
        struct { float epsilon; bool center, scale; int groups; } ln; /* layer_ and group_normalization */
        struct { bool use_scale, causal; float dropout; } dot_attention; /* Keras's Attention */
        float mask_value; /* masking */
        bool dot_normalize; /* dot: each vector L2-normalized first (Keras's normalize=True) */
        kn_merge merge;
        kn_rnn_opts rnn;
        kn_embedding_opts embedding;
        kn_attention_opts attention;
        kn_init position_init; /* position_embedding's table */
        kn_prelu_opts prelu;
        struct { float scale, offset; } rescaling;
        kn_depthwise_opts depthwise; /* filters 0: depthwise_conv2d; else separable_conv2d */
        struct { int top, bottom, left, right; bool crop; } pad; /* amounts >= 0 (a sequence's: left, right) */
        struct { int size_h, size_w; kn_interpolation interpolation; } upsample; /* a sequence's: size_w */
        struct { int height, width; kn_interpolation interpolation; } resizing; /* the output's size */
        kn_conv2d_transpose_opts conv_transpose; /* conv1d_transpose's too: kernel_h = 1, ... */
        int permute[KN_MAX_DIMS - 1]; /* output axis k is the input's axis permute[k] (ndim of them) */
        int repeat;                   /* repeat_vector's n */
        kn_random_image_opts random_image; /* random_flip ... random_brightness: its kind and options */
        kn_conv3d_opts conv3d;             /* strides and dilations set (1 where 0) */
        struct { kn_pool_kind kind; int pool[3], strides[3]; bool same; } pool3d; /* (depth, height, width) */
        struct { int amount[6]; bool crop; } pad3d; /* (front, back, top, bottom, left, right), >= 0 */
        int upsample3d[3];                          /* (depth, height, width) factors */
        kn_conv3d_transpose_opts conv3d_transpose;  /* strides and dilations set (1 where 0) */
    } u;
    char name[KN__NAME_MAX];   /* unique; "dense_0" unless the description names it */
    int inputs[KN__MAX_INPUTS]; /* the layers it takes, earlier ones (-1: the model's input) */
    int n_inputs;              /* 1 except for merges */
    bool named;                /* the name was given (kn_model_next_layer), not the default */
    int64_t shape[KN_MAX_DIMS]; /* output per sample; a reshape's target */
    int ndim;
    int64_t features;          /* product of shape */
    int index;                 /* among layers with parameters of its kind: dense_<index> */
    bool masked;               /* its output carries a mask (an embedding's mask_zero; kn__model_push_layer) */
    bool per_step;             /* a dense layer inside Keras's TimeDistributed: the product at every step
                                * (the input's last axis), not over the flattened sample */
    kn_tensor *kernel, *bias;  /* in the current graph */
} kn__layer;
const char *kn__layer_type(const kn__layer *L); /* "conv2d", as the JSON description names it */

struct kn_model {
    kn_ctx *ctx;
    int64_t input_shape[KN_MAX_DIMS];
    int input_ndim;
    int64_t in_features;       /* product of input_shape: Dense flattens its input */
    kn__layer *layers;
    int n_layers, cap_layers;
    /* kn_model_next_layer's setting for the next layer added (n_next 0: none) */
    char next_name[KN__NAME_MAX];
    int next_inputs[KN__MAX_INPUTS];
    int n_next;

    bool compiled;
    kn_compile_opts copts;
    unsigned passes;           /* the graph optimizer's passes (KN_PASS_*) for new graphs */
    kn_quant quant;            /* inference graphs' quantization (kn_model_set_quantization) */

    kn_graph *graph;           /* built on first use for batches up to max_batch */
    kn_graph *report_graph;    /* the last kn_model_graph_report's graph (its strings) */
    bool graph_stale;          /* compiled again since the graph was built */
    /* kn_model_param handed out the host parameters (pulled first), which the caller may
     * write: the host buffers are the current ones until the next use pushes them */
    bool host_ahead;
    int64_t max_batch;
    kn_tensor *x;              /* (batch, in_features) */
    kn_tensor *y;              /* (batch) I32 labels, or (batch, outputs) F32 targets */
    kn_tensor *out;            /* last layer before the fused head: logits, or outputs */
    kn_tensor *pred;           /* what predict returns: probabilities or outputs */
    kn_tensor *loss;           /* scalar: the loss plus regularization */
    kn_tensor *sw;             /* (batch) sample weights, once the model trained with weights */
    bool weighted;             /* its graphs take sample weights (sw) */
    const float *row_weights;  /* during a training step: each data row's weight, else NULL (ones) */

    /* a loaded model: its file mapped read-only; the flat parameters inside it */
    void *map;
    size_t map_size;
    const float *mapped_params; /* into map (zero-copy), or owned_params */
    size_t mapped_floats;
    float *owned_params;       /* a loaded file whose layout differs from kiln's: copied here */
    kn_dtype file_dtype;       /* a loaded file's parameter dtype (KN_F32 default; F16/BF16 widened into owned_params) */
    /* metadata kept with the model and saved with it */
    char **label_names;        /* n_labels names, or NULL */
    char **feature_names;      /* in_features names (a model trained from CSV), or NULL */
    int n_labels;
    double input_scale;        /* raw input units -> model input (1/255 for images), 0 unknown */
    char *training_json;       /* training summary written by fit, or NULL */
    struct kn_preprocessor *prep; /* CSV preprocessing (data/preprocess.h), or NULL */

    /* a checkpoint's training position (io/model_file.c writes it, train/fit.c resumes) */
    struct kn__train_pos {
        bool valid;
        int epoch, epochs;     /* epoch in progress (0-based); total epochs of the run */
        int64_t batch;         /* next batch of that epoch */
        int64_t batch_size;
        double loss_sum;       /* running sums of the epoch so far */
        int64_t correct, seen;
        double seconds;        /* time spent in that epoch so far */
        uint64_t seed;         /* the shuffle's seed: a resumed run shuffles as the original */
        double validation_split;
        /* training control (train/control.c) at the checkpoint: the watched metrics' best
         * values, epochs and waits, reduce-on-plateau's cooldown and rate */
        struct kn__control_pos {
            bool valid;
            double stop_best, save_best, plateau_best, base_lr;
            int stop_best_epoch, stop_wait, save_best_epoch, save_wait, plateau_wait, plateau_cooldown;
        } control;
        /* fp16 loss scaling (train/loss_scale.h) at the checkpoint: the scale (0: none
         * recorded, start afresh), good updates in a row, and updates skipped so far in the
         * epoch in progress */
        float loss_scale;
        int64_t loss_scale_good, epoch_skipped;
        const float *best_weights; /* saving: early stopping's best weights (param_floats), or NULL */
        kn_augment augment;    /* the run's augmentation, which a resume repeats */
        kn_schedule schedule;  /* the run's learning-rate schedule, which a resume repeats */
        bool has_schedule;     /* (read back: false for a checkpoint written before it was recorded) */
    } pos;
    float *resume_best;        /* from a checkpoint: early stopping's best weights, until fit takes them */
    size_t resume_best_floats;
    kn_epoch_record *resume_history; /* a checkpoint's completed epochs (pos.epoch records) */
    float loss_scale;          /* fp16: the loss scaler's state after the last fit, which the next */
    int64_t loss_scale_good;   /* continues (as Keras's optimizer keeps it); 0: afresh. compile resets */
    float *resume_state;       /* optimizer state from a checkpoint, until the training graph takes it */
    size_t resume_state_floats;
    int64_t resume_step;
    bool resume_step_pending;  /* a checkpoint's step, until the first training graph takes it (with
                                * the state, or alone for an optimizer without state: plain SGD) */

    /* a classical model (classic/model.h): its operations and fitted state; NULL for networks */
    const struct kn__classic_ops *classic;
    void *cstate;
    int64_t c_outputs;         /* classes (probabilities), or 1 (regression) */
    int c_classes;             /* 0 for regression */
    bool c_fitted;
    float *c_class_weight;     /* the description's class_weight list, or NULL */
    int c_n_class_weight;
    bool c_class_weight_balanced;

    kn_epoch_record *records;  /* history of the last fit */
    int records_cap;
    kn_history history;
};

/* Shared by the layer files (model.c, model_seq.c). The per-sample shape going into layer
 * i (its first input: the model's input, or an earlier layer's output; for the layer being
 * added, i == n_layers, the one kn_model_next_layer gave, else the previous layer's): its
 * dimensions; *features its size. */
int kn__model_layer_input(const kn_model *m, int i, int64_t shape[KN_MAX_DIMS], int64_t *features);
/* Layers of the given kind so far (a new one's index: conv1d_<index>). */
int kn__model_count_kind(const kn_model *m, kn__layer_kind kind);
/* Checks a layer may be added now (errors name it as layers[i] type). */
kn_status kn__model_can_add(kn_model *m, const char *type);
/* Appends L, its shape set (ndim dims in L->shape); computes its feature count and gives
 * it its name and inputs (kn_model_next_layer's, or the defaults). */
kn_status kn__model_push_layer(kn_model *m, kn__layer *L);
/* Whether the model's layers are a plain chain with default names (a sequential model:
 * its description needs no names or inputs). */
bool kn__model_is_sequential(const kn_model *m);
/* Checks that every layer but the last feeds a later one (errors name the unused one). */
kn_status kn__model_check_used(kn_model *m, kn_status code);
/* Checks a layer's activation, l2 factor and initializers (errors name layers[i] type). */
kn_status kn__model_check_init(kn_model *m, const char *type, kn_activation act, float l2, kn_init ki, kn_init bi,
                               bool no_bias, float init_value);

/* Embedding layers (model_embedding.c): layer i's lookup of the model input x into the graph
 * (its table made as L->kernel, "embedding_<n>/embeddings"); the check that rows x (n,
 * features) hold whole numbers in [0, input_dim) for every embedding reading the input
 * (what names the rows in a message: "data", "predict"; first_row numbers them); and
 * whether any embedding reads the input (data the model takes as indices, not values). */
kn_tensor *kn__model_embedding(kn_model *m, kn_graph *g, int i);
kn_status kn__model_check_indices(kn_model *m, const float *x, int64_t n, int64_t first_row, const char *what);
bool kn__model_reads_indices(const kn_model *m);

/* h viewed as (batch, shape...) unless it is that already (model.c). */
kn_tensor *kn__model_view_as(kn_graph *g, kn_tensor *h, const int64_t *shape, int ndim);
/* Merge layer i's output from its inputs' outputs outs[] (the model input for -1) (model_merge.c). */
kn_tensor *kn__model_dot(kn_model *m, kn_graph *g, int i, kn_tensor *const *outs); /* (model_merge.c) */
kn_tensor *kn__model_merge(kn_model *m, kn_graph *g, int i, kn_tensor *const *outs);
/* A recurrent layer's parameters in graph order (model_rnn.c): "kernel", "recurrent_kernel"
 * and (with a bias) "bias", each's shape, initializer and the elements set to 1 after it
 * (an lstm's forget gate bias). Returns how many (0: layer i is not recurrent). */
typedef struct {
    const char *what;
    int64_t shape[3];
    int ndim;
    kn_init init;
    int64_t ones_at, ones_len;
} kn__rnn_param;
#define KN__LAYER_MAX_PARAMS 8 /* an attention layer's four kernels and biases (a bidirectional layer's: 6) */
int kn__rnn_params(const kn_model *m, int i, kn__rnn_param out[KN__LAYER_MAX_PARAMS]);
/* A recurrent layer's three parameter names (kernel, recurrent_kernel, bias) for direction
 * dir (0 forward, 1 backward), as kn__rnn_params gives them. */
const char *const *kn__rnn_param_names(kn_rnn_cell cell, bool bidirectional, int dir);
/* An attention layer's parameters the same way (model_attention.c): 0 for other layers. */
int kn__attention_params(const kn_model *m, int i, kn__rnn_param out[KN__LAYER_MAX_PARAMS]);
/* Keras's Attention layer's scale (use_scale) the same way (model_attention.c). */
int kn__dot_attention_params(const kn_model *m, int i, kn__rnn_param out[KN__LAYER_MAX_PARAMS]);
/* A prelu layer's alpha the same way (model_prelu.c), a depthwise or separable layer's
 * kernels and bias (model_depthwise.c): 0 for other layers. */
int kn__prelu_params(const kn_model *m, int i, kn__rnn_param out[KN__LAYER_MAX_PARAMS]);
int kn__depthwise_params(const kn_model *m, int i, kn__rnn_param out[KN__LAYER_MAX_PARAMS]);
/* A conv2d_transpose layer's kernel and bias the same way (model_conv_transpose.c). */
int kn__conv_transpose_params(const kn_model *m, int i, kn__rnn_param out[KN__LAYER_MAX_PARAMS]);
/* A conv3d or conv3d_transpose layer's kernel and bias the same way (model_volume.c). */
int kn__volume_params(const kn_model *m, int i, kn__rnn_param out[KN__LAYER_MAX_PARAMS]);
/* Any of these, whichever layer i is (model.c: the parameter lists and counts), and one's size. */
static inline int kn__layer_params(const kn_model *m, int i, kn__rnn_param out[KN__LAYER_MAX_PARAMS]) {
    int n = kn__volume_params(m, i, out);
    if (!n) n = kn__rnn_params(m, i, out);
    if (!n) n = kn__attention_params(m, i, out);
    if (!n) n = kn__prelu_params(m, i, out);
    if (!n) n = kn__depthwise_params(m, i, out);
    if (!n) n = kn__dot_attention_params(m, i, out);
    return n ? n : kn__conv_transpose_params(m, i, out);
}
/* Layer i's parameters (kn__layer_params) made in g, in that order: "<type>_<index>/<what>"
 * with its initializer, init_value (a Constant's) and the ones after it; returns how many,
 * or -1 when the graph failed (its status says why). */
int kn__model_make_params(kn_model *m, kn_graph *g, int i, float init_value, kn_tensor *p[KN__LAYER_MAX_PARAMS]);
static inline int64_t kn__layer_param_numel(const kn__rnn_param *p) {
    int64_t n = 1;
    for (int d = 0; d < p->ndim; d++) n *= p->shape[d];
    return n;
}
/* Attention layer i's output from its inputs' outputs (the model input for -1); its kernels'
 * l2 added to *reg. A position embedding's output from its input h (model_attention.c). */
kn_tensor *kn__model_attention(kn_model *m, kn_graph *g, int i, kn_tensor *const *outs, kn_tensor *const *masks,
                               kn_tensor **reg);
kn_tensor *kn__model_position_embedding(kn_model *m, kn_graph *g, int i, kn_tensor *h);
/* The per-sample shape going into the layer being added, which must be an image (height,
 * width, channels); else a one-line error naming the layer type (model.c). */
kn_status kn__model_image_input(kn_model *m, const char *type, int64_t shape[KN_MAX_DIMS]);
/* An image axis of in cells under a window of k taps, stride s and dilation d: 'same'
 * ceil(in / s), else the windows that fit; false when none does (model.c). */
bool kn__model_out_dim(int64_t in, int k, int s, int d, bool same, int64_t *out);
/* The per-sample shape going into the layer being added, which must be a sequence (steps,
 * channels); else a one-line error naming the layer type (model_seq.c). */
kn_status kn__model_sequence_input(kn_model *m, const char *type, int64_t shape[KN_MAX_DIMS]);
/* Padding, cropping or upsampling layer i's output from its input h (an image, or a
 * sequence left in its (batch, 1, steps, channels) view); and its part of a model summary,
 * " -> zero_padding2d ((1, 1), (2, 2))": the characters it would write (model_resize.c). */
kn_tensor *kn__model_resize(kn_model *m, kn_graph *g, int i, kn_tensor *h);
/* Volume layer i's output from its input h (model_volume.c): a (batch, D H, W, C) view in
 * and out (kn__model_view_as's for a 4-D sample); a conv3d's kernel l2 added to *reg. Its
 * summary line " -> conv3d 8 3x3x3 relu" (the characters it would write). */
kn_tensor *kn__model_volume(kn_model *m, kn_graph *g, int i, kn_tensor *h, kn_tensor **reg);
int kn__volume_summary(const kn__layer *L, char *buf, size_t size);
/* model_volume.c's checks the volume layers share: the input must be a volume (else the
 * error naming the layer); L (its 4 output dims in L->shape) pushed unless its output
 * exceeds 2^31 values; each of the n values v in [lo, hi] (else the error listing them). */
kn_status kn__model_volume_input(kn_model *m, const char *type, int64_t in[KN_MAX_DIMS]);
kn_status kn__model_push_volume(kn_model *m, kn__layer *L, const char *type);
kn_status kn__model_check_range(kn_model *m, const char *type, const char *what, const int *v, int n, int lo, int hi);
/* A 3-D convolution's window (conv3d's, conv3d_transpose's): zero strides and dilations set
 * to 1, a glorot bias_init (0) to zeros, then filters and the three windows' ranges checked. */
kn_status kn__model_conv3d_window(kn_model *m, const char *type, int64_t filters, const int kernel[3], int strides[3],
                                  int dilation[3], kn_init *bias_init);
/* A conv3d_transpose layer's output from its input h, the same way (model_conv3d_transpose.c),
 * and its summary line " -> conv3d_transpose 8 3x3x3 stride 2x2x2 same relu". */
kn_tensor *kn__model_conv3d_transpose(kn_model *m, kn_graph *g, int i, kn_tensor *h, kn_tensor **reg);
int kn__conv3d_transpose_summary(const kn__layer *L, char *buf, size_t size);
int kn__resize_summary(const kn__layer *L, char *buf, size_t size);
/* The random augmentation layers (model_random_aug.c): the graph of layer i over h, the summary. */
kn_tensor *kn__model_random_image(kn_model *m, kn_graph *g, int i, kn_tensor *h);
int kn__random_image_summary(const kn__layer *L, char *buf, size_t size);
/* Prelu layer i's output from its input h (model_prelu.c). */
kn_tensor *kn__model_prelu(kn_model *m, kn_graph *g, int i, kn_tensor *h);
/* Depthwise or separable layer i's output before its activation, from its input h; its
 * kernels' l2 added to *reg (model_depthwise.c). */
kn_tensor *kn__model_depthwise(kn_model *m, kn_graph *g, int i, kn_tensor *h, kn_tensor **reg);
/* Keras's Attention layer i over its inputs' outputs and masks (model_attention.c). */
kn_tensor *kn__model_dot_attention(kn_model *m, kn_graph *g, int i, kn_tensor *const *outs, kn_tensor *const *masks);
/* Conv2d_transpose or conv1d_transpose layer i's output before its activation, from its input
 * h (a sequence's left in its (batch, 1, steps, C) view, as conv1d's); its kernel's l2 added
 * to *reg. Its summary text (" -> conv2d_transpose 16 3x3 stride 2x2 same relu") into buf
 * (model_conv_transpose.c): the characters it needed, as snprintf. */
kn_tensor *kn__model_conv_transpose(kn_model *m, kn_graph *g, int i, kn_tensor *h, kn_tensor **reg);
int kn__conv_transpose_summary(const kn__layer *L, char *buf, size_t size);
/* Recurrent layer i's output from its input h (model_rnn.c); its kernels' l2 added to *reg. */
kn_tensor *kn__model_rnn(kn_model *m, kn_graph *g, int i, kn_tensor *h, kn_tensor *mask, kn_tensor **reg);
/* Builds the model's graph (forward + predict head + loss; with training, backward and
 * update), pointing m->x, m->y, m->out, m->pred, m->loss and the layers' tensors into it. */
kn_status kn__model_build_graph(kn_model *m, kn_graph **out, bool training);
/* The tensors kn__model_build_graph points the model at, saved and restored around a
 * build that must leave the model as it was (a failed rebuild, a session's graph). */
#define KN__MAX_LAYERS 1024 /* (a ResNet-152 written layer by layer has ~500) */
typedef struct {
    kn_tensor *x, *y, *out, *pred, *loss, *sw, *kernels[KN__MAX_LAYERS], *biases[KN__MAX_LAYERS];
} graph_refs;
void kn__model_save_refs(const kn_model *m, graph_refs *r);
void kn__model_restore_refs(kn_model *m, const graph_refs *r);

/* Builds (or rebuilds for a larger batch or for training, keeping parameters and optimizer
 * state) the model's graph so it runs batches of up to max_batch; a training graph when
 * training. A loaded model's first graph is forward-only and reads the file's mapping. */
kn_status kn__model_ensure_graph(kn_model *m, int64_t max_batch, bool training);
/* The graph's parameters and optimizer state from its device into the host buffers, before
 * host code reads them (not while host_ahead: the host's are the current ones then). */
kn_status kn__model_pull(kn_model *m);
/* The host buffers' parameters and optimizer state to the device, after host code wrote them. */
kn_status kn__model_push(kn_model *m);
/* The parameters a model's graph will have, in graph order, with their offsets (floats)
 * in the flat buffer as kn_graph_compile lays them out; returns the count (writes at most
 * max) and the buffer's padded length. */
typedef struct kn__param_spec {
    char name[64]; /* "bidirectional_<i>/backward_simple_rnn/recurrent_kernel": 52 */
    int64_t shape[3];
    int ndim;
    size_t offset, numel;
} kn__param_spec;
int kn__model_param_specs(const kn_model *m, kn__param_spec *out, int max, size_t *total_floats);
/* The metadata every model file carries (io/model_file.c); meta is the __metadata__ object. */
struct cJSON;
void kn__model_meta(const kn_model *m, struct cJSON *meta);
/* Writes a safetensors file atomically: length, the header text (padded here so the data
 * section starts 64-byte aligned), then the data parts in order. */
kn_status kn__write_model_file(kn_ctx *ctx, const char *path, const char *text, const void *const *parts,
                               const size_t *sizes, int n_parts);
kn_status kn__model_set_training_summary(kn_model *m, const char *json);
/* Saves the model; with pos, a checkpoint: the optimizer state and the training position
 * and history go in too. */
/* kn_model_compile's checks of precision and the fp16 loss-scaling options, each failure a
 * one-line KN_ERR_INVALID_ARGUMENT (train/loss_scale.c). */
kn_status kn__compile_check_precision(kn_ctx *ctx, const kn_compile_opts *c);
kn_status kn__model_save_file(kn_model *m, const char *path, const struct kn__train_pos *pos);
/* Loads a model file held in memory (bytes stay the caller's and must outlive the model,
 * whose weights may point into them); path names it in messages. */
kn_status kn__model_load_buffer(kn_ctx *ctx, const uint8_t *bytes, size_t size, const char *path,
                                const kn_load_opts *opts, kn_model **out);
/* Releases a loaded model's file mapping and metadata (io/model_file.c). */
void kn__model_unmap(kn_model *m);
/* The same with the rows already gathered (and augmented) in x (n, features). */
kn_status kn__model_load_batch_x(kn_model *m, const kn_dataset *data, const int64_t *idx, const float *x, int64_t n);
/* Copies rows idx[0..n) of data (or rows start.. when idx is NULL) into the input and
 * target tensors and sets the batch; targets are converted to what the loss expects. */
kn_status kn__model_load_batch(kn_model *m, const kn_dataset *data, const int64_t *idx, int64_t start, int64_t n,
                               bool with_targets);
/* Number of correct predictions in the current batch (classification). counts, when not
 * NULL, accumulates per class c: counts[3c] true positives, [3c+1] false positives,
 * [3c+2] false negatives (for classes < n_classes). */
/* Where a one-output classifier's output divides its two classes: 0 for a logit and for
 * the hinge losses' scores (their class is the sign), 0.5 for a probability. */
static inline float kn__decision_threshold(const kn_compile_opts *c) {
    return c->from_logits || c->loss == KN_LOSS_HINGE || c->loss == KN_LOSS_SQUARED_HINGE ? 0.0f : 0.5f;
}
int64_t kn__model_batch_correct(kn_model *m, const kn_dataset *data, const int64_t *idx, int64_t start, int64_t n,
                                int64_t *counts);
/* Checks that data fits the model (features, classes or outputs); names what does not. */
kn_status kn__model_check_data(kn_model *m, const kn_dataset *data);
/* Evaluates rows [start, start + count) of data. */
kn_status kn__model_evaluate_range(kn_model *m, const kn_dataset *data, int64_t start, int64_t count,
                                   kn_eval_report *report, int64_t *counts);

#endif
