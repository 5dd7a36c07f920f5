/* onnx_import.h — the ONNX importer's working state, shared by its files: onnx_import.c
 * (the graph walk, dense layers, images), onnx_import_seq.c (sequences: token ids and
 * embeddings, 1-D convolutions and pooling, RNN, LSTM and GRU, the shape arithmetic PyTorch
 * exports around them), onnx_import_volume.c (volumes: 3-D convolutions, pooling, padding,
 * cropping and upsampling) and the others below. Nothing here is part of kiln's API. */
#ifndef KILN_IO_ONNX_IMPORT_H
#define KILN_IO_ONNX_IMPORT_H

#include "io/onnx_proto.h"

#include <cjson/cJSON.h>

enum { MAX_PARAMS = 8, IMP_ORD = 5 }; /* (multi_head_attention has 8 parameters) */

/* One layer of the description, with the parameters it gets in kiln's layouts. */
typedef struct {
    cJSON *json;                  /* the layer's object (owned by the description) */
    cJSON *opts;                  /* where its activation goes: json, or a wrapper's inner layer */
    cJSON *rnn;                   /* a recurrent layer's own object (inside a bidirectional one's), else NULL */
    const char *what[MAX_PARAMS]; /* "kernel", "bias", "gamma", ... */
    float *data[MAX_PARAMS];      /* malloc'd, in kiln's layout */
    int64_t n[MAX_PARAMS];
    int n_params;
    bool weighted; /* dense, conv2d or depthwise_conv2d: takes a bias Add and an activation */
    bool has_act, has_bias;
    bool merge_open; /* a bidirectional layer whose merge_mode the graph has not yet chosen (concat until then) */
} imp_layer;

/* What a value of the graph is: an image (C, H, W), f features, token ids (f of them), a
 * sequence, or a volume (C, dp, H, W) (vol; image false; nhwc: ONNX holds it (N, D, H, W,
 * C)); made by kiln layer `layer` (-1: the model's input); perm: a Flatten of (pc, ph, pw)
 * whose (c, y, x) order the next dense layer's rows take (a volume's: ph = D H).
 *
 * A sequence's ONNX dimensions are named in ord, from N (the batch), L (its l steps), C (c
 * channels) and D (a recurrent layer's d directions): "NLC" is kiln's own order, "NCL" a 1-D
 * convolution's, "LNC" a recurrent op's input, "LDNC" its output Y and "DNC" its final state
 * Y_h. Whatever the order, kiln holds the value as (l, d*c) per sample (d*c without L), the
 * directions' outputs side by side, so a Transpose changes only ord. */
typedef struct {
    char name[KN__ONNX_NAME];
    int layer;
    bool image, perm;
    bool nhwc; /* an image whose ONNX order is (N, H, W, C) (after a Transpose): kiln's own */
    /* the input (or an elementwise function of it) of 3 or 4 dimensions not yet known to be
     * (N, C, H, W) or (N, H, W, C), (N, C, L) or (N, L, C): c, h, w hold its dimensions 1, 2, 3 */
    bool ambiguous;
    bool nonneg; /* no value below 0 (after a relu, sigmoid, ...): zero padding is -inf padding to a max */
    bool excl;   /* the only path from the output of `layer` (no other node read it on the way): a
                    node reading this value alone may change that layer */
    bool seq, ids;
    bool vol; /* a volume (N, C, D, H, W) (nhwc: (N, D, H, W, C)), its depth dp */
    char ord[IMP_ORD];
    int units; /* features only: ONNX's trailing dimensions of 1 after (N, f) (a global pool's) */
    int half;  /* 1 + the direction of a bidirectional layer's output this is (a Gather of its final states), of
                  which kiln holds both: only a Concat of the two in order reads it */
    int64_t c, h, w, f, pc, ph, pw, l, d, dp;
} imp_value;

/* A value computed from shapes (Shape and what follows it), not from the data: nodes of such
 * values are skipped; a ConstantOfShape of 0 is `zeros` (a recurrent op's initial state). */
typedef struct {
    char name[KN__ONNX_NAME];
    bool zeros;
} imp_shape_value;

typedef struct {
    kn_ctx *ctx;
    const char *what;
    const kn__onnx_model *m;
    cJSON *desc, *layers;
    imp_layer *L;
    int n, cap;
    imp_value *vals;
    int n_vals, cap_vals;
    imp_shape_value *shapes;
    int n_shapes, cap_shapes;
    /* the node's input value, as the readers below work on it (then its output's) */
    char cur[KN__ONNX_NAME];
    int src_layer; /* the layer that made it (-1: the input); a new layer takes it as input */
    bool sole;     /* this node is its only reader: the layer that made it may absorb the node */
    bool image, nhwc, ambiguous, nonneg, seq, ids, excl, vol;
    char ord[IMP_ORD];
    int units, half;
    int64_t c, h, w, f, l, d, dp;
    bool perm;
    int64_t pc, ph, pw;
    int out_slot; /* which of the node's outputs the value is (a recurrent op's Y or Y_h) */
    /* the input: its dimensions after the batch, and how the graph reads 3, 4 or 5 of them: 0
     * not yet known, 1 channels first ((N, C, H, W), (N, C, L), (N, C, D, H, W)), 2 channels
     * last ((N, H, W, C) transposed to NCHW first, as tf2onnx does; (N, L, C); (N, D, H, W, C)) */
    int in_ndim, input_layout;
    int64_t in_dims[4];
    const kn__onnx_node *node; /* the node being read (for messages) */
    int node_index;
    /* attention subgraphs (onnx_import_attn.c): per node the one it belongs to or -1 (NULL when
     * the graph has no Softmax), and each one's last node */
    int *attn_region, *attn_end;
    int n_attn;
    unsigned char *attn_near; /* per node: part of a Softmax's subgraph that was not read as attention (or NULL) */
    char attn_why[320];       /* why not, appended to the refusal of such a node */
    struct imp_dot *attn_dot; /* per region: Keras's Attention without projections (onnx_import_dot.c), or unused */
    unsigned char *read_ahead; /* per node: read already by a pattern read whole at an earlier node (a channel
                                  shuffle's Transpose and Reshape back), which the walk skips; or NULL */
} imp;

/* A dot-product attention region (onnx_import_dot.c): softmax(A B^T * scale [+ causal]) V over
 * values A (query), B (key) and V (value) of the graph. */
typedef struct imp_dot {
    bool found;
    char q[KN__ONNX_NAME], k[KN__ONNX_NAME], v[KN__ONNX_NAME], out[KN__ONNX_NAME];
    float scale;
    bool causal;
} imp_dot;

/* errors, naming the node being read */
kn_status kn__imp_fail(imp *s, kn_status st, const char *fmt, const char *detail);
kn_status kn__imp_unsupported(imp *s, const char *why);
kn_status kn__imp_oom(imp *s);

/* constants and attributes */
const kn__onnx_tensor *kn__imp_constant(const imp *s, const char *name);
const kn__onnx_tensor *kn__imp_const_input(imp *s, int k, int64_t n); /* input k as floats (n < 0: any count) */
int64_t kn__imp_attr_int(const kn__onnx_node *nd, const char *name, int64_t dflt);
float kn__imp_attr_float(const kn__onnx_node *nd, const char *name, float dflt);
bool kn__imp_attr_ints(const kn__onnx_node *nd, const char *name, int n, int64_t dflt, int64_t *out);

/* layers of the description */
imp_layer *kn__imp_add_layer(imp *s, const char *type);
imp_layer *kn__imp_add_layer_from(imp *s, const char *type, const int *from, int n); /* inputs named */
const char *kn__imp_layer_name(imp *s, int layer);
float *kn__imp_add_param(imp_layer *L, const char *what, int64_t n);
float *kn__imp_param_of(imp_layer *L, const char *what);
bool kn__imp_add_pair(cJSON *o, const char *key, int64_t a, int64_t b);
imp_layer *kn__imp_producer(imp *s);

/* a ConvTranspose's weights when kiln reads the node (spatial: 1 or 2 axes), else NULL and *st */
const kn__onnx_tensor *kn__imp_conv_transpose_weights(imp *s, int spatial, kn_status *st);

/* the graph's values */
int kn__imp_readers(const kn__onnx_model *m, const char *name);
const imp_value *kn__imp_find_value(const imp *s, const char *name);
void kn__imp_load_value(imp *s, const imp_value *v);     /* the working state from v, as a node reading it */
kn_status kn__imp_add_value(imp *s, const char *name); /* the working state recorded as value `name` */

/* onnx_import_quant.c: a quantized model's graph rewritten as the float model it quantizes,
 * before the walk (nothing done to a graph without quantized ops). */
kn_status kn__imp_dequantize(imp *s, kn__onnx_model *m);

/* onnx_import_seq.c: the readers of sequence nodes. kn__imp_read_seq reads the node when it
 * is one (*handled), kn__imp_shape_node skips the node when it computes shapes (*skipped). */
kn_status kn__imp_read_seq(imp *s, const char *op, bool *handled);
kn_status kn__imp_shape_node(imp *s, bool *skipped);
kn_status kn__imp_seq_input(imp *s, const kn__onnx_value *in);
kn_status kn__imp_resolve_seq(imp *s, const char *op);
kn_status kn__imp_read_token_concat(imp *s, bool *handled); /* a Concat of constant tokens and a sequence */

/* onnx_import.c's checks and the dense layer the image readers share: the value here must be
 * an NCHW image (batch, C, H, W); a dense layer from W (k, out) (transposed: (out, k)) times
 * scale, its rows permuted after a Flatten of channels. */
kn_status kn__imp_need_image(imp *s);
kn_status kn__imp_dense_from(imp *s, const kn__onnx_tensor *W, bool trans, float scale);
/* onnx_import_image.c: the image nodes, each read at s->node into layers. */
kn_status kn__imp_read_conv(imp *s);
kn_status kn__imp_read_pool(imp *s, bool max);
kn_status kn__imp_read_conv_transpose(imp *s);
kn_status kn__imp_read_resize(imp *s);
kn_status kn__imp_read_slice(imp *s);
kn_status kn__imp_read_prelu(imp *s);
kn_status kn__imp_read_pad(imp *s);
kn_status kn__imp_read_global_pool(imp *s, bool max);
/* a layer of `type` whose `key` is [[top, bottom], [left, right]] (zero_padding2d, cropping2d) */
kn_status kn__imp_add_edges(imp *s, const char *type, const char *key, int64_t top, int64_t bottom, int64_t left,
                            int64_t right);
/* onnx_import_shuffle.c: ShuffleNet's channel shuffle, read whole at its Reshape to (N, G, C/G,
 * H, W) (*done false: the Reshape is not to 5 dimensions), and channel splits: channels [b, e)
 * of the image (a Slice's, kn__imp_read_slice), a Split of the channels. */
kn_status kn__imp_read_shuffle(imp *s, bool *done);
kn_status kn__imp_channel_crop(imp *s, int64_t b, int64_t e);
kn_status kn__imp_read_split(imp *s);
kn_status kn__imp_read_batch_norm(imp *s);
/* onnx_import_volume.c: volumes (N, C, D, H, W). The 5-D input (kn__imp_volume_input), its
 * order once a node says it (kn__imp_resolve_volume: a Transpose to channels first, or kiln
 * export's file, says (N, D, H, W, C)), and every node reading a volume (kn__imp_read_volume):
 * Conv, MaxPool, AveragePool, global pooling (and ReduceMean / ReduceMax over D, H, W), Pad,
 * Slice, Resize, Upsample, BatchNormalization, Transpose, Flatten, Reshape to (batch, n), read
 * there; activations, Dropout, Identity, merges and constant scalar operands left to
 * onnx_import.c (*handled false); anything else refused naming the node. */
kn_status kn__imp_volume_input(imp *s, const kn__onnx_value *in);
kn_status kn__imp_resolve_volume(imp *s, const char *op);
kn_status kn__imp_read_volume(imp *s, const char *op, bool merge, bool *handled);
/* onnx_import_norm.c: InstanceNormalization; PyTorch's GroupNorm spelled from node i (a
 * Reshape), its nodes in *count (0: node i does not begin one). */
kn_status kn__imp_read_instance_norm(imp *s);
kn_status kn__imp_group_norm_pattern(imp *s, int i, int *count);
/* ... and a unit normalization (kiln export's ReduceSumSquare, Max, Sqrt, Div; PyTorch's
 * F.normalize: ReduceL2, Clip, Expand, Div) from node i the same way. */
kn_status kn__imp_unit_norm_pattern(imp *s, int i, int *count);
/* Whether axis of the value being read is its channels (kiln's last axis); a Reduce* node's
 * one axis kept (keepdims), or INT64_MIN (onnx_import.c). */
bool kn__imp_channel_axis(const imp *s, int64_t axis);
int64_t kn__imp_reduce_axis(const imp *s, const kn__onnx_node *nd);

/* onnx_import_attn.c: attention subgraphs, found before the walk (kn__imp_find_attention) and
 * read as one multi_head_attention layer at their last node (kn__imp_read_attention). A value
 * inside one is kn__imp_attn_internal (a Shape of it is shape arithmetic). */
kn_status kn__imp_find_attention(imp *s);
kn_status kn__imp_read_attention(imp *s, int region);
/* onnx_import_dot.c: Keras's Attention (kiln export's, or attention written by hand) around
 * Softmax node i: its last node, its nodes marked, and d filled; -1 when it is not one. Read
 * at that node by kn__imp_read_dot_attention. */
int kn__imp_dot_region(const imp *s, int i, unsigned char *mark, imp_dot *d);
kn_status kn__imp_read_dot_attention(imp *s, const imp_dot *d);
/* ReduceSum over the features of Mul(a, b) of two feature vectors from node i (the Mul): a dot
 * layer, its nodes in *count (0: not one). */
kn_status kn__imp_dot_pattern(imp *s, int i, int *count);
bool kn__imp_attn_internal(const imp *s, const char *name);
/* onnx_import_shape.c: shape arithmetic worked out. A shape computed from the graph's
 * values' shapes (Shape, Gather, Concat, Mul, ...) or a constant: n dimensions (at most 8),
 * each k[j] times the batch when batched[j]; refused naming the node when it cannot be. */
kn_status kn__imp_eval_shape(imp *s, const char *name, int64_t *k, bool *batched, int *n);
/* The same with a caller's own values: dims_of gives the ONNX dimensions of a value it
 * tracks (false: not one of its); constants computed (cut weights) are owned until
 * kn__imp_shapes_free. */
typedef struct {
    imp *s;
    bool (*dims_of)(void *ctx, const char *name, int64_t batch, int64_t *dims, int *n);
    void *ctx;
    int budget;                /* nodes a walk may still visit (a malformed graph may branch without end) */
    kn__onnx_tensor *made[16]; /* constants computed by kn__imp_shape_tensor */
    int n_made;
} kn__imp_shapes;
kn_status kn__imp_shape_dims(kn__imp_shapes *e, const char *name, int64_t *k, bool *batched, int *n);
kn_status kn__imp_shape_fixed(kn__imp_shapes *e, const char *name, int64_t *out, int *n); /* not batched */
const kn__onnx_tensor *kn__imp_shape_tensor(kn__imp_shapes *e, const char *name); /* a float constant, or cut from one */
void kn__imp_shapes_free(kn__imp_shapes *e);
int kn__imp_node_making(const kn__onnx_model *m, const char *name); /* the node making value `name`, or -1 */

#endif
