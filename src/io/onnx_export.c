/* onnx_export.c — kn_model_export_onnx: a network as an ONNX model (opset 13, IR version
 * 7) for ONNX Runtime, TensorRT or any other runtime. Each layer becomes a few standard
 * nodes, its parameters initializers in ONNX's layouts:
 *
 *   dense                       Flatten (of an image) then Gemm: B (in, out), C the bias
 *   conv2d                      Conv: W (F, C, KH, KW) from kiln's (KH*KW*C, F); 'same' as
 *                               explicit pads (the smaller half first, as Keras)
 *   depthwise_conv2d            Conv of group C: W (C*M, 1, KH, KW); separable_conv2d adds the
 *                               pointwise Conv 1x1 (F, C*M, 1, 1)
 *   max_pool2d, average_pool2d  MaxPool, AveragePool (count_include_pad 0, as Keras)
 *   global_*_pool2d             GlobalAveragePool / GlobalMaxPool, then Flatten
 *   batch_normalization         BatchNormalization (its moving statistics)
 *   flatten, reshape            Flatten, Reshape ([0, target...])
 *   permute                     Transpose ([0, dims...] of kiln's order)
 *   repeat_vector               Reshape to (N, 1, F), Tile (1, n, 1)
 *   zero_padding2d, cropping2d  Pad (zeros), Slice
 *   conv2d_transpose            ConvTranspose: W (C, F, KH, KW); kiln's crop as pads
 *   conv1d_transpose            ConvTranspose 1-D over (N, C, L): W (C, F, K)
 *   up_sampling2d               Resize (nearest: asymmetric, floor; bilinear: half-pixel)
 *   resizing                    Resize to sizes (N, C from Shape, then height, width), half-
 *                               pixel (nearest: round_prefer_ceil, i.e. floor((o + 0.5) in / out))
 *   prelu                       PRelu (alpha in kiln's (H, W, C) order)
 *   rescaling                   Mul, Add
 *   add, subtract, multiply,    Sum, Sub, Mul, Max, Min, Mean, Concat (the channels)
 *   maximum, minimum, average,
 *   concatenate
 *   dropout, noise              nothing (inference)
 *   random_flip ... random_brightness  nothing (the identity at inference)
 *   conv1d, 1-D pooling,        the same ops over (N, C, L), transposed from kiln's (N, L, C)
 *   padding, cropping, up-      and back; global 1-D pooling ReduceMean / ReduceMax; a
 *   sampling; time_distributed  time-distributed dense MatMul + Add
 *   depthwise_conv1d,           over (N, C, L) likewise: a Conv of group C, then (separable) a
 *   separable_conv1d            pointwise 1-D Conv
 *   embedding                   Gather of the table by the input cast to int64 (no mask_zero)
 *   conv3d                      Conv over (N, C, D, H, W): W (F, C, KD, KH, KW) from kiln's
 *                               (KH*KW*KD*C, F); 'same' as explicit pads (export_volume)
 *   max_pool3d, average_pool3d  MaxPool, AveragePool (3-D; count_include_pad 0)
 *   global_*_pool3d             GlobalMaxPool / GlobalAveragePool, then Flatten
 *   zero_padding3d, cropping3d  Pad (zeros), Slice of D, H, W
 *   up_sampling3d               Resize nearest (asymmetric, floor) by whole scales
 *   conv3d_transpose            ConvTranspose: W (C, F, KD, KH, KW); kiln's crop as pads
 *   simple_rnn, lstm, gru       RNN, LSTM, GRU over (L, N, C) (export_rnn)
 *   layer_normalization         decomposed over kiln's last axis, opset 13 having no
 *                               LayerNormalization: ReduceMean, Sub, Mul, ReduceMean, Add
 *                               epsilon, Sqrt, Div, Mul gamma, Add beta (export_layer_norm)
 *   unit_normalization          x / Sqrt(Max(ReduceSumSquare(x), 1e-12)) over the channels
 *   dot                         ReduceSum(Mul(a, b)) over the features (normalize: each
 *                               unit-normalized first)
 *   group_normalization         PyTorch's GroupNorm at opset 13: Reshape (N, G, -1),
 *                               InstanceNormalization, Reshape back, Mul gamma, Add beta
 *                               (export_group_norm)
 *   position_embedding          Add of the (steps, channels) table
 *   multi_head_attention        per projection MatMul, Add, Reshape and Transpose to (N,
 *                               heads, steps, dim); MatMul, Mul 1/sqrt(key_dim), a causal
 *                               mask's Add, Softmax, MatMul; the heads merged (Transpose,
 *                               Reshape), the output MatMul, Add (export_attention)
 *   activations                 Relu, Sigmoid, Tanh, Softmax, LeakyRelu, Elu, Selu, Softplus,
 *                               Softsign, HardSigmoid, Clip (relu6), Exp; silu and hard_silu
 *                               x * gate(x); mish x * tanh(softplus(x)); gelu with Erf
 *
 * The model's class names go into metadata_props ("kiln.labels", a JSON list), which kiln
 * import reads back. The graph's input is kiln's: (N, features), images (N, H, W, C) or
 * volumes (N, D, H, W, C) as kiln holds them. ONNX's convolutions and pooling read (N, C, H,
 * W) and (N, C, D, H, W), so a Transpose goes in where an image or a volume first needs that
 * order and another back where kiln's (H, W, C) or (D, H, W, C) order matters (a flatten, a
 * dense layer, the output): the model computes what kiln does, on the same rows. A volume
 * goes through the volume layers, batch normalization, activations, rescaling, dropout,
 * merges and reshapes; any other layer over one is refused in one line. The
 * CSV preprocessing a model may keep is not part of the graph (its inputs are the model's
 * own, standardized or scaled) unless it is all numbers: then the graph begins with it and
 * takes the raw CSV columns (export_prep; kn_onnx_export_opts.network_only leaves it out).
 * Masks (an embedding's mask_zero, and an attention input carrying one) and the few options
 * export_layer names are refused in one line naming the layer. */
#include "data/preprocess.h"
#include "io/onnx_write.h"
#include "nn/model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Value v in kiln's order (flat, NHWC, NDHWC) or channels first (images NCHW, volumes
 * NCDHW), a Transpose made once when first needed. */
static const char *in_order(exporter *e, exp_value *v, bool nchw) {
    if (!v->image && !v->vol) return v->nhwc;
    char *want = nchw ? v->nchw : v->nhwc, *have = nchw ? v->nhwc : v->nchw;
    if (!want[0]) {
        node n;
        node_begin(e, &n, "Transpose");
        node_in(&n, have);
        fresh(e, want, nchw ? "nchw" : "nhwc");
        node_out(&n, want);
        static const int64_t to_nchw[4] = {0, 3, 1, 2}, to_nhwc[4] = {0, 2, 3, 1};
        static const int64_t to_ncdhw[5] = {0, 4, 1, 2, 3}, to_ndhwc[5] = {0, 2, 3, 4, 1};
        if (v->vol) attr_ints(&n, "perm", nchw ? to_ncdhw : to_ndhwc, 5);
        else attr_ints(&n, "perm", nchw ? to_nchw : to_nhwc, 4);
        node_end(e, &n);
    }
    return want;
}

/* out = in with its nd axes permuted by perm. */
static void transpose(exporter *e, const char *in, const int64_t *perm, int nd, char *out) {
    node n;
    node_begin(e, &n, "Transpose");
    node_in(&n, in);
    fresh(e, out, "t");
    node_out(&n, out);
    attr_ints(&n, "perm", perm, nd);
    node_end(e, &n);
}

/* (N, A, B) -> (N, B, A): a sequence between kiln's (N, L, C) and ONNX's (N, C, L). */
static void seq_transpose(exporter *e, const char *in, char *out) { transpose(e, in, (int64_t[]){0, 2, 1}, 3, out); }


/* out = x W + b over x's last axis, for x of any rank (N, ..., k): a MatMul by W (k, n),
 * then an Add of b (n) when it is given. */
static void matmul_bias(exporter *e, const char *x, const float *W, int64_t k, int64_t n, const float *b, char *out) {
    char wn[NAME], bn[NAME], z[NAME];
    fresh(e, wn, "W");
    init_tensor(e, wn, (int64_t[]){k, n}, 2, W, NULL);
    if (!b) {
        binary(e, "MatMul", x, wn, out);
        return;
    }
    binary(e, "MatMul", x, wn, z);
    fresh(e, bn, "B");
    init_tensor(e, bn, &n, 1, b, NULL);
    binary(e, "Add", z, bn, out);
}

/* The activation applied to x (named in, order kept); out receives the result's name. */
static kn_status activation(exporter *e, kn_activation act, float alpha, const char *in, char *out, bool image_nchw) {
    char t1[NAME], t2[NAME], c[NAME];
    node n;
    switch (act) {
    case KN_LINEAR: snprintf(out, NAME, "%s", in); return KN_OK;
    case KN_RELU: unary(e, "Relu", in, out); return KN_OK;
    case KN_SIGMOID: unary(e, "Sigmoid", in, out); return KN_OK;
    case KN_TANH: unary(e, "Tanh", in, out); return KN_OK;
    case KN_SOFTPLUS: unary(e, "Softplus", in, out); return KN_OK;
    case KN_SOFTSIGN: unary(e, "Softsign", in, out); return KN_OK;
    case KN_SELU: unary(e, "Selu", in, out); return KN_OK;
    case KN_EXPONENTIAL: unary(e, "Exp", in, out); return KN_OK;
    case KN_SOFTMAX:
        node_begin(e, &n, "Softmax");
        node_in(&n, in);
        fresh(e, out, "t");
        node_out(&n, out);
        attr_int(&n, "axis", image_nchw ? 1 : -1); /* the channels (kiln's last axis) */
        node_end(e, &n);
        return KN_OK;
    case KN_LEAKY_RELU: case KN_ELU:
        node_begin(e, &n, act == KN_ELU ? "Elu" : "LeakyRelu");
        node_in(&n, in);
        fresh(e, out, "t");
        node_out(&n, out);
        attr_float(&n, "alpha", alpha != 0 ? alpha : act == KN_ELU ? 1.0f : 0.2f);
        node_end(e, &n);
        return KN_OK;
    case KN_HARD_SIGMOID: case KN_HARD_SILU: /* relu6(x + 3) / 6 */
        node_begin(e, &n, "HardSigmoid");
        node_in(&n, in);
        fresh(e, act == KN_HARD_SIGMOID ? out : t1, "t");
        node_out(&n, act == KN_HARD_SIGMOID ? out : t1);
        attr_float(&n, "alpha", 1.0f / 6);
        attr_float(&n, "beta", 0.5f);
        node_end(e, &n);
        if (act == KN_HARD_SILU) binary(e, "Mul", in, t1, out);
        return KN_OK;
    case KN_SILU:
        unary(e, "Sigmoid", in, t1);
        binary(e, "Mul", in, t1, out);
        return KN_OK;
    case KN_MISH:
        unary(e, "Softplus", in, t1);
        unary(e, "Tanh", t1, t2);
        binary(e, "Mul", in, t2, out);
        return KN_OK;
    case KN_RELU6: {
        char lo[NAME], hi[NAME];
        scalar(e, lo, 0.0f), scalar(e, hi, 6.0f);
        node_begin(e, &n, "Clip");
        node_in(&n, in), node_in(&n, lo), node_in(&n, hi);
        fresh(e, out, "t");
        node_out(&n, out);
        node_end(e, &n);
        return KN_OK;
    }
    case KN_GELU: /* 0.5 x (1 + erf(x / sqrt 2)) */
        scalar(e, c, (float)M_SQRT1_2);
        binary(e, "Mul", in, c, t1);
        unary(e, "Erf", t1, t2);
        scalar(e, c, 1.0f);
        binary(e, "Add", t2, c, t1);
        binary(e, "Mul", in, t1, t2);
        scalar(e, c, 0.5f);
        binary(e, "Mul", t2, c, out);
        return KN_OK;
    default:
        return fail(e, KN_ERR_UNSUPPORTED, "onnx export: activation %s%s has no ONNX form here", kn_activation_name(act), "");
    }
}

/* The parameter `what` of layer i (n values), or NULL with the model's error. */
static const float *param(exporter *e, int i, const char *what, int64_t n) {
    const kn__layer *L = &e->m->layers[i];
    char name[96];
    snprintf(name, sizeof name, "%s_%d/%s", kn__layer_type(L), L->index, what);
    int64_t got = 0;
    const float *p = kn_model_param(e->m, name, &got);
    if (!p || got != n) {
        fail(e, KN_ERR_STATE, "onnx export: parameter %s: %s", name, p ? "unexpected size" : "missing");
        return NULL;
    }
    return p;
}

/* Keras's 'same' pads (top, left, bottom, right) of a window over h x w. */
static void same_pads(int64_t h, int64_t w, int kh, int kw, int sh, int sw, int dh, int dw, int64_t pads[4]) {
    int64_t in[2] = {h, w}, k[2] = {kh, kw}, s[2] = {sh, sw}, d[2] = {dh, dw};
    for (int a = 0; a < 2; a++) {
        int64_t out = (in[a] + s[a] - 1) / s[a], total = (out - 1) * s[a] + (k[a] - 1) * d[a] + 1 - in[a];
        if (total < 0) total = 0;
        pads[a] = total / 2, pads[a + 2] = total - total / 2;
    }
}

/* A Conv (or ConvTranspose) over x, channels first (nsp spatial axes: NCL 1, NCHW 2, NCDHW
 * 3): weights W (F, C/group, kernel...) (ConvTranspose: (C, F, kernel...)), bias b (F) or
 * NULL; k, s, d per spatial axis, pads begins then ends. */
static void conv_nd(exporter *e, const char *op, const char *x, const float *W, const float *b, int64_t F, int64_t cg,
                    int nsp, const int64_t *k, const int64_t *s, const int64_t *d, const int64_t *pads, int64_t group,
                    char *out) {
    int64_t dims[5] = {F, cg, 0, 0, 0};
    for (int a = 0; a < nsp; a++) dims[2 + a] = k[a];
    if (strcmp(op, "ConvTranspose") == 0) dims[0] = cg, dims[1] = F;
    node n;
    node_begin(e, &n, op);
    node_in(&n, x);
    weights_in(e, &n, W, dims, 2 + nsp, b, F);
    fresh(e, out, "t");
    node_out(&n, out);
    attr_ints(&n, "kernel_shape", k, nsp);
    attr_ints(&n, "strides", s, nsp);
    attr_ints(&n, "dilations", d, nsp);
    attr_ints(&n, "pads", pads, 2 * nsp);
    if (group != 1) attr_int(&n, "group", group);
    node_end(e, &n);
}

/* A 2-D Conv over x (NCHW): weights W (F, C/group, KH, KW), bias b (F) or NULL. */
static void conv(exporter *e, const char *x, const float *W, const float *b, int64_t F, int64_t cg, int kh, int kw,
                 int sh, int sw, int dh, int dw, const int64_t pads[4], int64_t group, char *out) {
    conv_nd(e, "Conv", x, W, b, F, cg, 2, (int64_t[]){kh, kw}, (int64_t[]){sh, sw}, (int64_t[]){dh, dw}, pads, group, out);
}

/* simple_rnn, lstm and gru (and their bidirectional): ONNX's RNN, LSTM and GRU over (L, N,
 * C), their weights in ONNX's gate order (LSTM i o f c from Keras's i f c o; GRU z r h as
 * Keras's, linear_before_reset as Keras's reset_after), W and R transposed, B the input
 * and the recurrent biases; the output (the last state, or every step's) back in kiln's
 * (N, ...) order, a bidirectional layer's two merged as kiln merges them. */
static kn_status export_rnn(exporter *e, int i, exp_value *x, char *out) {
    const kn__layer *L = &e->m->layers[i];
    const kn_rnn_opts *o = &L->u.rnn;
    const char *type = kn__layer_type(L);
    static const char *const cells[3] = {"simple_rnn", "lstm", "gru"}, *const ops[3] = {"RNN", "LSTM", "GRU"};
    int G = o->cell == KN_RNN_LSTM ? 4 : o->cell == KN_RNN_GRU ? 3 : 1, dirs = o->bidirectional ? 2 : 1;
    int64_t H = o->units, I = x->c, GH = G * H;
    if (o->go_backwards && !o->bidirectional && o->return_sequences)
        return fail(e, KN_ERR_UNSUPPORTED, "onnx export: layer '%s' (%s): go_backwards with return_sequences (Keras returns "
                    "the steps reversed)", L->name, type);
    bool relu_rnn = o->cell == KN_RNN_SIMPLE && o->activation == KN_RELU;
    if (!relu_rnn && (o->activation != KN_TANH || (o->cell != KN_RNN_SIMPLE && o->recurrent_activation != KN_SIGMOID)))
        return fail(e, KN_ERR_UNSUPPORTED, "onnx export: layer '%s' (%s): activations other than tanh and sigmoid (relu for "
                    "simple_rnn)", L->name, type);
    static const int lstm_gate[4] = {0, 3, 1, 2}; /* ONNX's gate g is Keras's lstm_gate[g] */
    float *W = malloc((size_t)(dirs * GH * I) * sizeof *W), *R = malloc((size_t)(dirs * GH * H) * sizeof *R);
    float *B = calloc((size_t)(dirs * 2 * GH), sizeof *B);
    kn_status st = W && R && B ? KN_OK : fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", L->name, "");
    for (int d = 0; !st && d < dirs; d++) {
        char what[3][64];
        static const char *const parts[3] = {"kernel", "recurrent_kernel", "bias"};
        for (int k = 0; k < 3; k++) {
            if (o->bidirectional) snprintf(what[k], sizeof what[k], "%s_%s/%s", d ? "backward" : "forward", cells[o->cell], parts[k]);
            else snprintf(what[k], sizeof what[k], "%s", parts[k]);
        }
        const float *K = param(e, i, what[0], I * GH), *Rk = param(e, i, what[1], H * GH);
        const float *b = o->no_bias ? NULL : param(e, i, what[2], o->cell == KN_RNN_GRU ? 2 * GH : GH);
        if (!K || !Rk || (!o->no_bias && !b)) {
            st = e->st;
            break;
        }
        for (int g = 0; g < G; g++) {
            int kg = o->cell == KN_RNN_LSTM ? lstm_gate[g] : g;
            for (int64_t u = 0; u < H; u++) {
                int64_t row = (int64_t)(d * G + g) * H + u, col = kg * H + u;
                for (int64_t j = 0; j < I; j++) W[row * I + j] = K[j * GH + col];
                for (int64_t j = 0; j < H; j++) R[row * H + j] = Rk[j * GH + col];
                if (b) B[(int64_t)d * 2 * GH + g * H + u] = b[col];
                if (b && o->cell == KN_RNN_GRU) B[(int64_t)d * 2 * GH + GH + g * H + u] = b[GH + col];
            }
        }
    }
    char wn[NAME], rn[NAME], bn[NAME], xt[NAME], yn[NAME], hn[NAME], t1[NAME];
    if (!st) {
        fresh(e, wn, "W"), fresh(e, rn, "R"), fresh(e, bn, "B");
        init_tensor(e, wn, (int64_t[]){dirs, GH, I}, 3, W, NULL);
        init_tensor(e, rn, (int64_t[]){dirs, GH, H}, 3, R, NULL);
        init_tensor(e, bn, (int64_t[]){dirs, 2 * GH}, 2, B, NULL);
    }
    free(W), free(R), free(B);
    if (st) return st;
    node n;
    node_begin(e, &n, "Transpose"); /* (N, L, C) -> (L, N, C) */
    node_in(&n, in_order(e, x, false));
    fresh(e, xt, "t");
    node_out(&n, xt);
    attr_ints(&n, "perm", (int64_t[]){1, 0, 2}, 3);
    node_end(e, &n);
    node_begin(e, &n, ops[o->cell]);
    node_in(&n, xt), node_in(&n, wn), node_in(&n, rn), node_in(&n, bn);
    fresh(e, yn, "Y"), fresh(e, hn, "Y_h");
    node_out(&n, yn), node_out(&n, hn);
    attr_int(&n, "hidden_size", H);
    attr_str(&n, "direction", o->bidirectional ? "bidirectional" : o->go_backwards ? "reverse" : "forward");
    if (o->cell == KN_RNN_GRU) attr_int(&n, "linear_before_reset", 1);
    if (relu_rnn) {
        pbw a = {0};
        field_str(&a, 1, "activations");
        for (int d = 0; d < dirs; d++) field_bytes(&a, 9, "Relu", 4);
        field_int(&a, 20, 8); /* STRINGS */
        field_msg(&n.b, 5, &a);
    }
    node_end(e, &n);
    /* Y (L, dirs, N, H) -> (N, L, dirs, H); Y_h (dirs, N, H) -> (N, dirs, H); then the
     * directions concatenated (a reshape) or reduced */
    bool seq = o->return_sequences;
    node_begin(e, &n, "Transpose");
    node_in(&n, seq ? yn : hn);
    fresh(e, t1, "t");
    node_out(&n, t1);
    attr_ints(&n, "perm", seq ? (int64_t[]){2, 0, 1, 3} : (int64_t[]){1, 0, 2}, seq ? 4 : 3);
    node_end(e, &n);
    int64_t axis = seq ? 2 : 1;
    if (dirs == 1 || o->bidirectional == KN_BIDI_CONCAT) {
        int64_t shape[3] = {0, seq ? 0 : dirs * H, dirs * H};
        reshape_to(e, t1, shape, seq ? 3 : 2, out);
    } else {
        reduce(e, o->bidirectional == KN_BIDI_SUM ? "ReduceSum" : o->bidirectional == KN_BIDI_MUL ? "ReduceProd" : "ReduceMean",
               t1, &axis, 1, false, out);
    }
    return KN_OK;
}

/* layer_normalization, decomposed: opset 13 has no LayerNormalization (opset 17's would
 * move the whole file to opset 17, for one op). Each row of kiln's last axis (a dense
 * layer's features, a sequence's or an image's channels) by its own mean and biased
 * variance, epsilon inside the root, as kiln's layer_norm op: d = x - ReduceMean(x), y = d
 * / Sqrt(ReduceMean(d d) + epsilon), then Mul gamma (C) when it scales and Add beta (C)
 * when it centers. An image held NCHW (a convolution's output) is normalized there, over
 * axis 1, gamma and beta (C, 1, 1). */
static kn_status export_layer_norm(exporter *e, int i, exp_value *x, exp_value *y) {
    const kn__layer *L = &e->m->layers[i];
    bool nchw = x->image && x->nchw[0] && !x->nhwc[0], sc = L->u.ln.scale, ce = L->u.ln.center;
    int64_t C = x->image || x->seq ? x->c : x->f, axis = nchw ? 1 : -1;
    const float *p[2] = {sc ? param(e, i, "gamma", C) : NULL, ce ? param(e, i, "beta", C) : NULL};
    if ((sc && !p[0]) || (ce && !p[1])) return e->st;
    const char *in = in_order(e, x, nchw);
    char mean[NAME], d[NAME], sq[NAME], var[NAME], eps[NAME], ve[NAME], sd[NAME], t[NAME], t2[NAME];
    reduce(e, "ReduceMean", in, &axis, 1, true, mean); /* (N, ..., 1) */
    binary(e, "Sub", in, mean, d);
    binary(e, "Mul", d, d, sq);
    reduce(e, "ReduceMean", sq, &axis, 1, true, var); /* the biased variance, (N, ..., 1) */
    scalar(e, eps, L->u.ln.epsilon);
    binary(e, "Add", var, eps, ve);
    unary(e, "Sqrt", ve, sd);
    binary(e, "Div", d, sd, t);
    static const char *const ops[2] = {"Mul", "Add"}, *const stems[2] = {"gamma", "beta"};
    for (int k = 0; k < 2; k++) {
        if (!p[k]) continue;
        char pn[NAME];
        fresh(e, pn, stems[k]);
        init_tensor(e, pn, (int64_t[]){C, 1, 1}, nchw ? 3 : 1, p[k], NULL);
        binary(e, ops[k], t, pn, t2);
        snprintf(t, NAME, "%s", t2);
    }
    snprintf(nchw ? y->nchw : y->nhwc, NAME, "%s", t);
    return KN_OK;
}

/* group_normalization as PyTorch's GroupNorm exports at opset 13 (which has no
 * GroupNormalization): over channels-first values (an image's NCHW, a sequence transposed to
 * (N, C, L), features (N, C)), Reshape to (N, G, -1), InstanceNormalization with unit scale
 * and zero B, Reshape back, Mul gamma and Add beta (one value per channel along axis 1), and a
 * sequence transposed back. kiln import reads the same nodes. */
static kn_status export_group_norm(exporter *e, int i, exp_value *x, exp_value *y) {
    const kn__layer *L = &e->m->layers[i];
    bool sc = L->u.ln.scale, ce = L->u.ln.center;
    int64_t C = x->image || x->seq ? x->c : x->f, G = L->u.ln.groups > 0 ? L->u.ln.groups : C;
    const float *p[2] = {sc ? param(e, i, "gamma", C) : NULL, ce ? param(e, i, "beta", C) : NULL};
    if ((sc && !p[0]) || (ce && !p[1])) return e->st;
    float *unit = malloc((size_t)(2 * G) * sizeof *unit);
    if (!unit) return fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: out of memory", NULL, NULL);
    for (int64_t g = 0; g < G; g++) unit[g] = 1.0f, unit[G + g] = 0.0f;
    char in[NAME], r1[NAME], sn[NAME], bn[NAME], t[NAME], t2[NAME];
    if (x->seq) seq_transpose(e, x->nhwc, in);
    else snprintf(in, NAME, "%s", in_order(e, x, true));
    reshape_to(e, in, (int64_t[]){0, G, -1}, 3, r1);
    fresh(e, sn, "group_scale");
    init_tensor(e, sn, &G, 1, unit, NULL);
    fresh(e, bn, "group_bias");
    init_tensor(e, bn, &G, 1, unit + G, NULL);
    free(unit);
    node n;
    node_begin(e, &n, "InstanceNormalization");
    node_in(&n, r1), node_in(&n, sn), node_in(&n, bn);
    fresh(e, t, "normalized");
    node_out(&n, t);
    attr_float(&n, "epsilon", L->u.ln.epsilon);
    node_end(e, &n);
    int64_t back[4] = {0, C, x->image ? x->h : x->l, x->w};
    int nd = x->image ? 4 : x->seq ? 3 : 2;
    reshape_to(e, t, back, nd, t2);
    snprintf(t, NAME, "%s", t2);
    static const char *const ops[2] = {"Mul", "Add"}, *const stems[2] = {"gamma", "beta"};
    for (int k = 0; k < 2; k++) {
        if (!p[k]) continue;
        char pn[NAME];
        fresh(e, pn, stems[k]);
        init_tensor(e, pn, (int64_t[]){C, 1, 1}, nd - 1, p[k], NULL); /* (C), (C, 1) or (C, 1, 1) */
        binary(e, ops[k], t, pn, t2);
        snprintf(t, NAME, "%s", t2);
    }
    if (x->seq) seq_transpose(e, t, y->nhwc);
    else snprintf(x->image ? y->nchw : y->nhwc, NAME, "%s", t);
    return KN_OK;
}

/* One projection of attention split into heads: x (N, T, F) times the kernel (F, H*D)
 * (Keras's (F, H, D) read flat: head h's columns h*D on, as kiln's attention takes them)
 * plus the bias (H*D) when given, Reshape to (N, T, H, D), then Transpose by perm: (N, H,
 * T, D) for queries and values (0 2 1 3), (N, H, D, T) for keys (0 2 3 1). */
static void heads(exporter *e, const char *x, const float *W, const float *b, int64_t F, int64_t H, int64_t D,
                  const int64_t perm[4], char *out) {
    char z[NAME], r[NAME];
    matmul_bias(e, x, W, F, H * D, b, z);
    reshape_to(e, z, (int64_t[]){0, 0, H, D}, 4, r);
    transpose(e, r, perm, 4, out);
}

/* multi_head_attention (Keras's MultiHeadAttention; model_attention.c): query (N, Tq, Fq),
 * value (N, Tk, Fv) and key (N, Tk, Fk) in Keras's call order (one input: the query is all
 * three; two: the key is the value). Q (N, H, Tq, Dk), K^T (N, H, Dk, Tk), V (N, H, Tk, Dv)
 * by heads(); the scores Q K^T (N, H, Tq, Tk) times kiln's scale, 1 / sqrt(Dk) rounded to
 * float as kiln's; causal: plus a (Tq, Tk) constant of -1e9 where key step j > query step
 * i (Keras's large negative: their probabilities underflow to 0, kiln's are 0); Softmax
 * over the keys; times V (N, H, Tq, Dv); the heads merged back to (N, Tq, H*Dv) and
 * projected by attention_output's kernel (H*Dv, Fo) and bias (Fo). Dropout is training's
 * only. An input carrying a mask (mask_zero) is refused. */
/* s (scores (..., Tq, Tk)) plus a causal mask, -1e9 where key step j > query step i (Keras's
 * large negative: those probabilities are 0, as kiln's): the sum's name into s. */
static kn_status add_causal_mask(exporter *e, const char *layer, int64_t Tq, int64_t Tk, char *s) {
    float *mask = malloc((size_t)(Tq * Tk) * sizeof *mask); /* (Tq, Tk) */
    if (!mask) return fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", layer, "");
    for (int64_t r = 0; r < Tq; r++)
        for (int64_t j = 0; j < Tk; j++) mask[r * Tk + j] = j > r ? -1e9f : 0.0f;
    char c[NAME], sum[NAME];
    fresh(e, c, "causal");
    init_tensor(e, c, (int64_t[]){Tq, Tk}, 2, mask, NULL);
    free(mask);
    binary(e, "Add", s, c, sum);
    snprintf(s, NAME, "%s", sum);
    return KN_OK;
}

static kn_status export_attention(exporter *e, int i, char *out) {
    const kn__layer *L = &e->m->layers[i];
    const kn_attention_opts *o = &L->u.attention;
    const char *type = kn__layer_type(L);
    int n = L->n_inputs, src[3] = {L->inputs[0], L->inputs[n > 1 ? 1 : 0], L->inputs[n > 2 ? 2 : n > 1 ? 1 : 0]};
    for (int k = 0; k < 3; k++)
        if (src[k] >= 0 && e->m->layers[src[k]].masked)
            return fail(e, KN_ERR_UNSUPPORTED, "onnx export: layer '%s' (%s): a masked input (mask_zero)", L->name, type);
    exp_value *xq = &e->v[src[0] + 1], *xv = &e->v[src[1] + 1], *xk = &e->v[src[2] + 1];
    int64_t H = o->num_heads, Dk = o->key_dim, Dv = o->value_dim, Fo = L->shape[1], Tq = xq->l, Tk = xk->l;
    static const char *const what[8] = {"query/kernel", "query/bias", "key/kernel", "key/bias",
                                        "value/kernel", "value/bias", "attention_output/kernel", "attention_output/bias"};
    const int64_t sizes[8] = {xq->c * H * Dk, H * Dk, xk->c * H * Dk, H * Dk, xv->c * H * Dv, H * Dv, H * Dv * Fo, Fo};
    const float *p[8] = {NULL}; /* kernels, and biases unless use_bias is false */
    for (int j = 0; j < 8; j++)
        if ((j % 2 == 0 || !o->no_bias) && !(p[j] = param(e, i, what[j], sizes[j]))) return e->st;
    char qh[NAME], kt[NAME], vh[NAME], s[NAME], s2[NAME], c[NAME], pr[NAME], a[NAME], a2[NAME], a3[NAME];
    heads(e, in_order(e, xq, false), p[0], p[1], xq->c, H, Dk, (int64_t[]){0, 2, 1, 3}, qh);
    heads(e, in_order(e, xk, false), p[2], p[3], xk->c, H, Dk, (int64_t[]){0, 2, 3, 1}, kt);
    heads(e, in_order(e, xv, false), p[4], p[5], xv->c, H, Dv, (int64_t[]){0, 2, 1, 3}, vh);
    binary(e, "MatMul", qh, kt, s); /* (N, H, Tq, Tk) */
    scalar(e, c, (float)(1.0 / sqrt((double)Dk)));
    binary(e, "Mul", s, c, s2);
    if (o->causal && add_causal_mask(e, L->name, Tq, Tk, s2)) return e->st; /* query step i sees key steps 0 to i */
    activation(e, KN_SOFTMAX, 0, s2, pr, false); /* over the key steps, the last axis */
    binary(e, "MatMul", pr, vh, a);               /* (N, H, Tq, Dv) */
    transpose(e, a, (int64_t[]){0, 2, 1, 3}, 4, a2); /* (N, Tq, H, Dv) */
    reshape_to(e, a2, (int64_t[]){0, 0, H * Dv}, 3, a3);
    matmul_bias(e, a3, p[6], H * Dv, Fo, p[7], out);
    return KN_OK;
}

/* Keras's Attention (attention): MatMul(q, Transpose(k)) [* scale] [+ causal mask] ->
 * Softmax -> MatMul(., v) over the (N, T, C) inputs; kiln import reads the same nodes. */
static kn_status export_dot_attention(exporter *e, int i, char *out) {
    const kn__layer *L = &e->m->layers[i];
    int n = L->n_inputs, src[3] = {L->inputs[0], L->inputs[n > 1 ? 1 : 0], L->inputs[n > 2 ? 2 : n > 1 ? 1 : 0]};
    for (int k = 0; k < 3; k++)
        if (src[k] >= 0 && e->m->layers[src[k]].masked)
            return fail(e, KN_ERR_UNSUPPORTED, "onnx export: layer '%s' (%s): a masked input", L->name, "attention");
    exp_value *xq = &e->v[src[0] + 1], *xv = &e->v[src[1] + 1], *xk = &e->v[src[2] + 1];
    int64_t Tq = xq->l, Tk = xk->l;
    char kt[NAME], s[NAME], s2[NAME], c[NAME], pr[NAME];
    transpose(e, in_order(e, xk, false), (int64_t[]){0, 2, 1}, 3, kt);
    binary(e, "MatMul", in_order(e, xq, false), kt, s); /* (N, Tq, Tk) */
    if (L->u.dot_attention.use_scale) {
        const float *sc = param(e, i, "scale", 1);
        if (!sc) return e->st;
        scalar(e, c, sc[0]);
        binary(e, "Mul", s, c, s2);
        snprintf(s, NAME, "%s", s2);
    }
    if (L->u.dot_attention.causal && add_causal_mask(e, L->name, Tq, Tk, s)) return e->st;
    activation(e, KN_SOFTMAX, 0, s, pr, false); /* over the key steps */
    binary(e, "MatMul", pr, in_order(e, xv, false), out);
    return KN_OK;
}

/* x / Sqrt(Max(ReduceSumSquare(x) over axis, 1e-12)): unit_normalization's nodes. */
static void unit_norm_nodes(exporter *e, const char *x, int64_t axis, char *out) {
    char ss[NAME], c[NAME], mx[NAME], nr[NAME];
    reduce(e, "ReduceSumSquare", x, &axis, 1, true, ss);
    scalar(e, c, 1e-12f);
    binary(e, "Max", ss, c, mx);
    unary(e, "Sqrt", mx, nr);
    binary(e, "Div", x, nr, out);
}

/* Keras's 'same' pads of a window over a volume (begins of depth, height, width, then their
 * ends; the smaller half of each total first). */
static void volume_same_pads(const int64_t in[3], const int64_t k[3], const int64_t s[3], const int64_t d[3], int64_t pads[6]) {
    for (int a = 0; a < 3; a++) {
        int64_t out = (in[a] + s[a] - 1) / s[a], total = (out - 1) * s[a] + (k[a] - 1) * d[a] + 1 - in[a];
        if (total < 0) total = 0;
        pads[a] = total / 2, pads[a + 3] = total - total / 2;
    }
}

/* Whether layer L may read or make a volume here: the volume layers and those that take any
 * shape (a dense layer flattens it; batch normalization is over its channels). */
static bool volume_layer(const kn__layer *L) {
    switch (L->kind) {
    case KN__LAYER_CONV3D: case KN__LAYER_POOL3D: case KN__LAYER_GLOBAL_POOL3D: case KN__LAYER_PAD3D:
    case KN__LAYER_UPSAMPLE3D: case KN__LAYER_CONV3D_TRANSPOSE: case KN__LAYER_FLATTEN: case KN__LAYER_DROPOUT: case KN__LAYER_ACTIVATION:
    case KN__LAYER_BATCH_NORM: case KN__LAYER_RESCALING: case KN__LAYER_RESHAPE: case KN__LAYER_MERGE: return true;
    case KN__LAYER_DENSE: return !L->per_step;
    default: return false;
    }
}

/* The volume layers (model_volume.c) over x, channels first (NCDHW) as 2-D images are NCHW:
 * conv3d a Conv of W (F, C, KD, KH, KW) from kiln's (KH KW KD C, F) (its depth taps after the
 * width), 'same' as explicit pads; max_pool3d and average_pool3d MaxPool and AveragePool
 * (count_include_pad 0: kiln's 'same' windows average the cells inside); global pooling
 * GlobalMaxPool / GlobalAveragePool then Flatten; zero_padding3d Pad, cropping3d Slice;
 * up_sampling3d Resize nearest (asymmetric, floor: each cell repeated) by its whole factors. */
static kn_status export_volume(exporter *e, int i, exp_value *x, exp_value *y) {
    const kn__layer *L = &e->m->layers[i];
    const int64_t in[3] = {x->depth, x->h, x->w};
    int64_t pads[6] = {0}, k[3], st[3], dl[3] = {1, 1, 1};
    char t[NAME];
    node n;
    switch (L->kind) {
    case KN__LAYER_CONV3D: {
        const kn_conv3d_opts *o = &L->u.conv3d;
        for (int a = 0; a < 3; a++) k[a] = o->kernel[a], st[a] = o->strides[a], dl[a] = o->dilation[a];
        int64_t C = x->c, F = o->filters, taps = k[0] * k[1] * k[2];
        const float *K = param(e, i, "kernel", taps * C * F), *b = o->no_bias ? NULL : param(e, i, "bias", F);
        if (!K || (!o->no_bias && !b)) return e->st;
        float *W = malloc((size_t)(taps * C * F) * sizeof *W);
        if (!W) return fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", L->name, "");
        for (int64_t f = 0; f < F; f++) /* ONNX's (f, c, kd, ky, kx) from kiln's row (ky, kx, kd, c) */
            for (int64_t c = 0; c < C; c++)
                for (int64_t td = 0; td < k[0]; td++)
                    for (int64_t ty = 0; ty < k[1]; ty++)
                        for (int64_t tx = 0; tx < k[2]; tx++)
                            W[(((f * C + c) * k[0] + td) * k[1] + ty) * k[2] + tx] = K[((((ty * k[2] + tx) * k[0] + td) * C + c) * F) + f];
        if (o->same) volume_same_pads(in, k, st, dl, pads);
        conv_nd(e, "Conv", in_order(e, x, true), W, b, F, C, 3, k, st, dl, pads, 1, t);
        free(W);
        return activation(e, o->activation, o->alpha, t, y->nchw, true);
    }
    case KN__LAYER_CONV3D_TRANSPOSE: { /* ConvTranspose: W (C, F, KD, KH, KW) from kiln's (KH KW KD F, C) */
        const kn_conv3d_transpose_opts *o = &L->u.conv3d_transpose;
        int64_t C = x->c, F = o->filters, taps = (int64_t)o->kernel[0] * o->kernel[1] * o->kernel[2], opad[3];
        const float *K = param(e, i, "kernel", taps * F * C), *b = o->no_bias ? NULL : param(e, i, "bias", F);
        if (!K || (!o->no_bias && !b)) return e->st;
        float *W = malloc((size_t)(taps * F * C) * sizeof *W);
        if (!W) return fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", L->name, "");
        for (int a = 0; a < 3; a++) k[a] = o->kernel[a], st[a] = o->strides[a], dl[a] = o->dilation[a];
        for (int64_t c = 0; c < C; c++) /* ONNX's (c, f, kd, ky, kx) from kiln's row (ky, kx, kd, f) */
            for (int64_t f = 0; f < F; f++)
                for (int64_t td = 0; td < k[0]; td++)
                    for (int64_t ty = 0; ty < k[1]; ty++)
                        for (int64_t tx = 0; tx < k[2]; tx++)
                            W[(((c * F + f) * k[0] + td) * k[1] + ty) * k[2] + tx] = K[(((ty * k[2] + tx) * k[0] + td) * F + f) * C + c];
        /* kiln's size and crop as pads, an output_padding where kiln's output is longer (as the
         * 2-D layer's export) */
        for (int a = 0; a < 3; a++) {
            int64_t out_a, crop;
            kn__conv_transpose_axis(in[a], o->kernel[a], o->strides[a], o->dilation[a], o->same,
                                    o->has_output_padding ? o->output_padding[a] : -1, &out_a, &crop);
            int64_t full = (in[a] - 1) * st[a] + (k[a] - 1) * dl[a] + 1, end = full - out_a - crop;
            pads[a] = crop, pads[a + 3] = end > 0 ? end : 0, opad[a] = end < 0 ? -end : 0;
        }
        node_begin(e, &n, "ConvTranspose");
        node_in(&n, in_order(e, x, true));
        weights_in(e, &n, W, (int64_t[]){C, F, k[0], k[1], k[2]}, 5, b, F);
        free(W);
        fresh(e, t, "t");
        node_out(&n, t);
        attr_ints(&n, "kernel_shape", k, 3);
        attr_ints(&n, "strides", st, 3);
        attr_ints(&n, "dilations", dl, 3);
        attr_ints(&n, "pads", pads, 6);
        if (opad[0] || opad[1] || opad[2]) attr_ints(&n, "output_padding", opad, 3);
        node_end(e, &n);
        return activation(e, o->activation, o->alpha, t, y->nchw, true);
    }
    case KN__LAYER_POOL3D: {
        bool max = L->u.pool3d.kind == KN_POOL_MAX;
        for (int a = 0; a < 3; a++) k[a] = L->u.pool3d.pool[a], st[a] = L->u.pool3d.strides[a];
        if (L->u.pool3d.same) volume_same_pads(in, k, st, dl, pads);
        node_begin(e, &n, max ? "MaxPool" : "AveragePool");
        node_in(&n, in_order(e, x, true));
        fresh(e, y->nchw, "t");
        node_out(&n, y->nchw);
        attr_ints(&n, "kernel_shape", k, 3);
        attr_ints(&n, "strides", st, 3);
        attr_ints(&n, "pads", pads, 6);
        if (!max) attr_int(&n, "count_include_pad", 0);
        node_end(e, &n);
        return KN_OK;
    }
    case KN__LAYER_GLOBAL_POOL3D:
        unary(e, L->u.pool3d.kind == KN_POOL_MAX ? "GlobalMaxPool" : "GlobalAveragePool", in_order(e, x, true), t);
        unary(e, "Flatten", t, y->nhwc);
        return KN_OK;
    case KN__LAYER_PAD3D: { /* amounts (front, back, top, bottom, left, right) */
        const int *a = L->u.pad3d.amount;
        if (L->u.pad3d.crop) {
            slice(e, in_order(e, x, true), (int64_t[]){a[0], a[2], a[4]}, (int64_t[]){in[0] - a[1], in[1] - a[3], in[2] - a[5]},
                  (int64_t[]){2, 3, 4}, 3, y->nchw);
            return KN_OK;
        }
        int_const(e, t, "pads", (int64_t[]){0, 0, a[0], a[2], a[4], 0, 0, a[1], a[3], a[5]}, 10);
        binary(e, "Pad", in_order(e, x, true), t, y->nchw);
        return KN_OK;
    }
    case KN__LAYER_UPSAMPLE3D: {
        const int *f = L->u.upsample3d;
        float scales[5] = {1, 1, (float)f[0], (float)f[1], (float)f[2]};
        fresh(e, t, "scales");
        init_tensor(e, t, (int64_t[]){5}, 1, scales, NULL);
        node_begin(e, &n, "Resize");
        node_in(&n, in_order(e, x, true));
        node_in(&n, ""); /* no roi */
        node_in(&n, t);
        fresh(e, y->nchw, "t");
        node_out(&n, y->nchw);
        attr_str(&n, "mode", "nearest");
        attr_str(&n, "coordinate_transformation_mode", "asymmetric");
        attr_str(&n, "nearest_mode", "floor");
        node_end(e, &n);
        return KN_OK;
    }
    default: return fail(e, KN_ERR_STATE, "onnx export: layer '%s' (%s): not a volume layer", L->name, kn__layer_type(L));
    }
}

static kn_status export_layer(exporter *e, int i) {
    kn_model *m = e->m;
    const kn__layer *L = &m->layers[i];
    exp_value *x = &e->v[L->inputs[0] + 1], *y = &e->v[i + 1];
    y->image = L->ndim == 3;
    y->seq = L->ndim == 2;
    y->vol = L->ndim == 4;
    if (y->image) y->h = L->shape[0], y->w = L->shape[1], y->c = L->shape[2];
    else if (y->seq) y->l = L->shape[0], y->c = L->shape[1];
    else if (y->vol) y->depth = L->shape[0], y->h = L->shape[1], y->w = L->shape[2], y->c = L->shape[3];
    else y->f = L->features;
    char *out = y->nhwc; /* kiln's order, unless set in y->nchw below */
    char t[NAME];
    const char *type = kn__layer_type(L);
    if ((x->vol || y->vol) && !volume_layer(L))
        return fail(e, KN_ERR_UNSUPPORTED, "onnx export: layer '%s' (%s) over a volume has no ONNX form here (kiln exports "
                    "volumes through conv3d, conv3d_transpose, max_pool3d, average_pool3d, global pooling, zero_padding3d, cropping3d, "
                    "up_sampling3d, batch_normalization, flatten, dense, dropout, activation, rescaling, reshape and merge "
                    "layers)", L->name, type);
    switch (L->kind) {
    case KN__LAYER_CONV3D: case KN__LAYER_POOL3D: case KN__LAYER_GLOBAL_POOL3D: case KN__LAYER_PAD3D:
    case KN__LAYER_UPSAMPLE3D: case KN__LAYER_CONV3D_TRANSPOSE: return export_volume(e, i, x, y);
    case KN__LAYER_DENSE: {
        const kn_dense_opts *o = &L->u.dense;
        int64_t k = L->per_step ? x->c : x->image ? x->h * x->w * x->c : x->seq ? x->l * x->c
                    : x->vol ? x->depth * x->h * x->w * x->c : x->f;
        const char *in = in_order(e, x, false);
        if (L->per_step) { /* TimeDistributed: (N, L, C) x (C, units) + bias at every step */
            const float *W = param(e, i, "kernel", k * o->units), *b = o->no_bias ? NULL : param(e, i, "bias", o->units);
            if (!W || (!o->no_bias && !b)) return e->st;
            char z[NAME];
            matmul_bias(e, in, W, k, o->units, b, z);
            return activation(e, o->activation, o->alpha, z, out, false);
        }
        if (x->image || x->seq || x->vol) unary(e, "Flatten", in, t), in = t;
        const float *W = param(e, i, "kernel", k * o->units), *b = o->no_bias ? NULL : param(e, i, "bias", o->units);
        if (!W || (!o->no_bias && !b)) return e->st;
        char z[NAME];
        node n;
        node_begin(e, &n, "Gemm");
        node_in(&n, in);
        weights_in(e, &n, W, (int64_t[]){k, o->units}, 2, b, o->units);
        fresh(e, z, "t");
        node_out(&n, z);
        node_end(e, &n);
        return activation(e, o->activation, o->alpha, z, out, false);
    }
    case KN__LAYER_CONV2D: {
        const kn_conv2d_opts *o = &L->u.conv;
        int64_t G = o->groups > 1 ? o->groups : 1; /* (grouped: W (F, C/G, KH, KW), ONNX's group attribute) */
        int64_t C = x->c / G, F = o->filters, taps = (int64_t)o->kernel_h * o->kernel_w, pads[4] = {0, 0, 0, 0};
        const float *K = param(e, i, "kernel", taps * C * F), *b = o->no_bias ? NULL : param(e, i, "bias", F);
        if (!K || (!o->no_bias && !b)) return e->st;
        float *W = malloc((size_t)(taps * C * F) * sizeof *W);
        if (!W) return fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", L->name, "");
        for (int64_t f = 0; f < F; f++)
            for (int64_t c = 0; c < C; c++)
                for (int64_t tp = 0; tp < taps; tp++) W[(f * C + c) * taps + tp] = K[(tp * C + c) * F + f];
        if (o->same) same_pads(x->h, x->w, o->kernel_h, o->kernel_w, o->stride_h, o->stride_w, o->dilation_h, o->dilation_w, pads);
        conv(e, in_order(e, x, true), W, b, F, C, o->kernel_h, o->kernel_w, o->stride_h, o->stride_w, o->dilation_h,
             o->dilation_w, pads, G, t);
        free(W);
        out = y->nchw;
        return activation(e, o->activation, o->alpha, t, out, true);
    }
    case KN__LAYER_DEPTHWISE: {
        const kn_depthwise_opts *o = &L->u.depthwise;
        int64_t C = x->c, M = o->depth_multiplier, CM = C * M, taps = (int64_t)o->kernel_h * o->kernel_w, pads[4] = {0};
        int64_t F = o->filters ? o->filters : CM;
        const float *K = param(e, i, "depthwise_kernel", taps * CM);
        const float *P = o->filters ? param(e, i, "pointwise_kernel", CM * F) : NULL;
        const float *b = o->no_bias ? NULL : param(e, i, "bias", F);
        if (!K || (o->filters && !P) || (!o->no_bias && !b)) return e->st;
        float *W = malloc((size_t)(taps * CM + (P ? CM * F : 0)) * sizeof *W);
        if (!W) return fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", L->name, "");
        for (int64_t j = 0; j < CM; j++)
            for (int64_t tp = 0; tp < taps; tp++) W[j * taps + tp] = K[tp * CM + j];
        if (o->same) same_pads(x->h, x->w, o->kernel_h, o->kernel_w, o->stride_h, o->stride_w, o->dilation_h, o->dilation_w, pads);
        conv(e, in_order(e, x, true), W, P ? NULL : b, CM, 1, o->kernel_h, o->kernel_w, o->stride_h, o->stride_w,
             o->dilation_h, o->dilation_w, pads, C, t);
        if (P) { /* the pointwise product, its (C*M, F) kernel as (F, C*M, 1, 1) */
            float *Wp = W + taps * CM;
            for (int64_t f = 0; f < F; f++)
                for (int64_t j = 0; j < CM; j++) Wp[f * CM + j] = P[j * F + f];
            char t2[NAME];
            conv(e, t, Wp, b, F, CM, 1, 1, 1, 1, 1, 1, (int64_t[]){0, 0, 0, 0}, 1, t2);
            snprintf(t, NAME, "%s", t2);
        }
        free(W);
        out = y->nchw;
        return activation(e, o->activation, o->alpha, t, out, true);
    }
    case KN__LAYER_DEPTHWISE1D: { /* (N, L, C) -> (N, C, L), Conv 1-D of group C (and the pointwise Conv), back */
        const kn_depthwise_opts *o = &L->u.depthwise;
        int64_t C = x->c, M = o->depth_multiplier, CM = C * M, K = o->kernel_w, st = o->stride_w, d = o->dilation_w;
        int64_t F = o->filters ? o->filters : CM;
        const float *Kk = param(e, i, "depthwise_kernel", K * CM);
        const float *P = o->filters ? param(e, i, "pointwise_kernel", CM * F) : NULL;
        const float *b = o->no_bias ? NULL : param(e, i, "bias", F);
        if (!Kk || (o->filters && !P) || (!o->no_bias && !b)) return e->st;
        float *W = malloc((size_t)(K * CM + (P ? CM * F : 0)) * sizeof *W);
        if (!W) return fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", L->name, "");
        for (int64_t j = 0; j < CM; j++) /* (C M, 1, K) from (K, C, M) */
            for (int64_t k = 0; k < K; k++) W[j * K + k] = Kk[k * CM + j];
        int64_t pads[2] = {0, 0}, span = (K - 1) * d + 1, one = 1, zeros[2] = {0, 0};
        if (o->same) {
            int64_t outl = (x->l + st - 1) / st, total = (outl - 1) * st + span - x->l;
            if (total < 0) total = 0;
            pads[0] = total / 2, pads[1] = total - total / 2;
        }
        char ncl[NAME], z[NAME], z2[NAME];
        seq_transpose(e, in_order(e, x, false), ncl);
        conv_nd(e, "Conv", ncl, W, P ? NULL : b, CM, 1, 1, &K, &st, &d, pads, C, z);
        if (P) { /* the pointwise product, its (C M, F) kernel as (F, C M, 1) */
            float *Wp = W + K * CM;
            for (int64_t f = 0; f < F; f++)
                for (int64_t j = 0; j < CM; j++) Wp[f * CM + j] = P[j * F + f];
            conv_nd(e, "Conv", z, Wp, b, F, CM, 1, &one, &one, &one, zeros, 1, z2);
            snprintf(z, NAME, "%s", z2);
        }
        free(W);
        seq_transpose(e, z, z2);
        return activation(e, o->activation, o->alpha, z2, out, false);
    }
    case KN__LAYER_MAX_POOL2D: case KN__LAYER_AVG_POOL2D: {
        const kn__pool_opts *p = &L->u.pool;
        int64_t pads[4] = {0, 0, 0, 0};
        if (p->same) same_pads(x->h, x->w, p->pool_h, p->pool_w, p->stride_h, p->stride_w, 1, 1, pads);
        node n;
        node_begin(e, &n, L->kind == KN__LAYER_MAX_POOL2D ? "MaxPool" : "AveragePool");
        node_in(&n, in_order(e, x, true));
        fresh(e, y->nchw, "t");
        node_out(&n, y->nchw);
        attr_ints(&n, "kernel_shape", (int64_t[]){p->pool_h, p->pool_w}, 2);
        attr_ints(&n, "strides", (int64_t[]){p->stride_h, p->stride_w}, 2);
        attr_ints(&n, "pads", pads, 4);
        if (L->kind == KN__LAYER_AVG_POOL2D) attr_int(&n, "count_include_pad", 0);
        node_end(e, &n);
        return KN_OK;
    }
    case KN__LAYER_GLOBAL_AVG_POOL2D: case KN__LAYER_GLOBAL_MAX_POOL2D:
        unary(e, L->kind == KN__LAYER_GLOBAL_AVG_POOL2D ? "GlobalAveragePool" : "GlobalMaxPool", in_order(e, x, true), t);
        unary(e, "Flatten", t, out);
        return KN_OK;
    case KN__LAYER_FLATTEN:
        if (x->image || x->seq || x->vol) unary(e, "Flatten", in_order(e, x, false), out);
        else memmove(out, x->nhwc, NAME);
        return KN_OK;
    case KN__LAYER_REPEAT_VECTOR: { /* (N, F) as (N, 1, F), tiled n times along the steps */
        char one[NAME], reps[NAME];
        reshape_to(e, in_order(e, x, false), (int64_t[]){0, 1, x->f}, 3, one);
        int_const(e, reps, "repeats", (int64_t[]){1, L->u.repeat, 1}, 3);
        binary(e, "Tile", one, reps, out);
        return KN_OK;
    }
    case KN__LAYER_PERMUTE: { /* a Transpose of the value in kiln's order, the batch kept first */
        int64_t perm[KN_MAX_DIMS] = {0};
        for (int k = 0; k < L->ndim; k++) perm[k + 1] = L->u.permute[k] + 1;
        transpose(e, in_order(e, x, false), perm, L->ndim + 1, out);
        return KN_OK;
    }
    case KN__LAYER_RESHAPE: {
        if (L->ndim < 1 || L->ndim > 4)
            return fail(e, KN_ERR_UNSUPPORTED, "onnx export: layer '%s' (%s): a reshape to more than 4 dimensions", L->name, type);
        int64_t shape[5] = {0};
        for (int k = 0; k < L->ndim; k++) shape[k + 1] = L->shape[k];
        reshape_to(e, in_order(e, x, false), shape, L->ndim + 1, out);
        return KN_OK;
    }
    case KN__LAYER_ACTIVATION: {
        bool nchw = (x->image || x->vol) && x->nchw[0] && !x->nhwc[0] && L->u.activation.act != KN_SOFTMAX;
        return activation(e, L->u.activation.act, L->u.activation.alpha, in_order(e, x, nchw), nchw ? y->nchw : out,
                          nchw);
    }
    case KN__LAYER_DROPOUT:
    case KN__LAYER_RANDOM_IMAGE: /* random augmentation: the identity at inference, as dropout */
        memmove(y->nhwc, x->nhwc, NAME); /* (x is an earlier layer's: memmove only for the compiler) */
        memmove(y->nchw, x->nchw, NAME);
        return KN_OK;
    case KN__LAYER_BATCH_NORM: { /* over the channels: axis 1 of NCHW, NCDHW, (N, C, L) */
        int64_t n = x->image || x->seq || x->vol ? x->c : x->f;
        static const char *const what[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
        char names[4][NAME];
        for (int k = 0; k < 4; k++) {
            const float *p = param(e, i, what[k], n);
            if (!p) return e->st;
            fresh(e, names[k], what[k]);
            init_tensor(e, names[k], (int64_t[]){n}, 1, p, NULL);
        }
        char ncl[NAME], bnout[NAME];
        const char *src = in_order(e, x, true);
        if (x->seq) seq_transpose(e, src, ncl), src = ncl; /* (N, C, L): the channels on axis 1 */
        node nd;
        node_begin(e, &nd, "BatchNormalization");
        node_in(&nd, src);
        for (int k = 0; k < 4; k++) node_in(&nd, names[k]);
        char *dst = x->image || x->vol ? y->nchw : x->seq ? bnout : out;
        fresh(e, dst, "t");
        node_out(&nd, dst);
        attr_float(&nd, "epsilon", L->u.bn.epsilon);
        node_end(e, &nd);
        if (x->seq) seq_transpose(e, bnout, out);
        return KN_OK;
    }
    case KN__LAYER_RESCALING: {
        char c[NAME], t2[NAME];
        bool nchw = (x->image || x->vol) && x->nchw[0] && !x->nhwc[0];
        const char *in = in_order(e, x, nchw);
        char *dst = nchw ? y->nchw : out;
        scalar(e, c, L->u.rescaling.scale);
        if (L->u.rescaling.offset == 0) {
            binary(e, "Mul", in, c, dst);
        } else {
            binary(e, "Mul", in, c, t2);
            scalar(e, c, L->u.rescaling.offset);
            binary(e, "Add", t2, c, dst);
        }
        return KN_OK;
    }
    case KN__LAYER_PAD: {
        if (y->seq && L->u.pad.crop) { /* Slice of the steps kept */
            slice(e, in_order(e, x, false), (int64_t[]){L->u.pad.left}, (int64_t[]){x->l - L->u.pad.right}, (int64_t[]){1}, 1,
                  out);
            return KN_OK;
        }
        if (y->seq) { /* zeros before and after the steps of (N, L, C) */
            int64_t pads[6] = {0, L->u.pad.left, 0, 0, L->u.pad.right, 0};
            char pn[NAME];
            int_const(e, pn, "pads", pads, 6);
            binary(e, "Pad", in_order(e, x, false), pn, out);
            return KN_OK;
        }
        if (!y->image) return fail(e, KN_ERR_UNSUPPORTED, "onnx export: layer '%s' (%s): this padding", L->name, type);
        if (L->u.pad.crop) { /* Slice of the rows and columns kept */
            slice(e, in_order(e, x, true), (int64_t[]){L->u.pad.top, L->u.pad.left},
                  (int64_t[]){x->h - L->u.pad.bottom, x->w - L->u.pad.right}, (int64_t[]){2, 3}, 2, y->nchw);
            return KN_OK;
        }
        int64_t pads[8] = {0, 0, L->u.pad.top, L->u.pad.left, 0, 0, L->u.pad.bottom, L->u.pad.right};
        char pn[NAME];
        int_const(e, pn, "pads", pads, 8);
        binary(e, "Pad", in_order(e, x, true), pn, y->nchw);
        return KN_OK;
    }
    case KN__LAYER_MERGE: {
        static const char *const ops[KN_MERGE_COUNT] = {"Sum", "Sub", "Mul", "Mean", "Max", "Concat", "Min"};
        kn_merge kind = L->u.merge;
        bool nchw = (x->image || x->vol) && x->nchw[0] && !x->nhwc[0]; /* the first input's order (a broadcast one's */
        /* (1, 1, C) gates or (H, W, 1) map are images too: in NCHW, (N, C, 1, 1) or (N, 1, H, W)) */
        node n;
        node_begin(e, &n, ops[kind]);
        for (int k = 0; k < L->n_inputs; k++) node_in(&n, in_order(e, &e->v[L->inputs[k] + 1], nchw));
        char *dst = nchw ? y->nchw : out;
        fresh(e, dst, "t");
        node_out(&n, dst);
        if (kind == KN_MERGE_CONCATENATE) attr_int(&n, "axis", nchw ? 1 : -1);
        node_end(e, &n);
        if (kind == KN_MERGE_MULTIPLY && L->n_inputs > 2)
            return fail(e, KN_ERR_UNSUPPORTED, "onnx export: layer '%s' (%s): a multiply of more than 2 inputs", L->name, type);
        return KN_OK;
    }
    case KN__LAYER_CONV_TRANSPOSE: case KN__LAYER_CONV1D_TRANSPOSE: {
        /* ConvTranspose: W (C, F, KH, KW) from kiln's (KH*KW*F, C); conv1d_transpose's over
         * (N, C, L), transposed from and back to kiln's (N, L, C), W (C, F, K) */
        const kn_conv2d_transpose_opts *o = &L->u.conv_transpose;
        bool seq = L->kind == KN__LAYER_CONV1D_TRANSPOSE;
        int nsp = seq ? 1 : 2;
        int64_t C = x->c, F = o->filters, taps = (int64_t)o->kernel_h * o->kernel_w;
        const float *K = param(e, i, "kernel", taps * F * C), *b = o->no_bias ? NULL : param(e, i, "bias", F);
        if (!K || (!o->no_bias && !b)) return e->st;
        float *W = malloc((size_t)(taps * F * C) * sizeof *W);
        if (!W) return fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", L->name, "");
        for (int64_t c = 0; c < C; c++)
            for (int64_t f = 0; f < F; f++)
                for (int64_t tp = 0; tp < taps; tp++) W[(c * F + f) * taps + tp] = K[(tp * F + f) * C + c];
        /* ONNX's output: s (in - 1) + output_padding + (k - 1) d + 1 - pads: kiln's size and
         * crop (its leading pad) give the pads, an output_padding where kiln's is larger; a
         * sequence's axis is kiln's width */
        int64_t in[2] = {seq ? x->l : x->h, x->w}, pads[4], opad[2], ks[2], ss[2], ds[2];
        int k[2] = {o->kernel_h, o->kernel_w}, s[2] = {o->stride_h, o->stride_w}, d[2] = {o->dilation_h, o->dilation_w};
        int op[2] = {o->has_output_padding ? o->output_padding_h : -1, o->has_output_padding ? o->output_padding_w : -1};
        for (int a = 0; a < nsp; a++) {
            int src = seq ? 1 : a; /* (a sequence's window is kiln's width) */
            int64_t out_a, crop;
            kn__conv_transpose_axis(in[a], k[src], s[src], d[src], o->same, op[src], &out_a, &crop);
            int64_t full = (in[a] - 1) * s[src] + (int64_t)(k[src] - 1) * d[src] + 1, end = full - out_a - crop;
            pads[a] = crop, pads[a + nsp] = end > 0 ? end : 0, opad[a] = end < 0 ? -end : 0;
            ks[a] = k[src], ss[a] = s[src], ds[a] = d[src];
        }
        char ncl[NAME];
        if (seq) seq_transpose(e, in_order(e, x, false), ncl);
        node n;
        node_begin(e, &n, "ConvTranspose");
        node_in(&n, seq ? ncl : in_order(e, x, true));
        weights_in(e, &n, W, (int64_t[]){C, F, ks[0], ks[1]}, 2 + nsp, b, F);
        free(W);
        fresh(e, t, "t");
        node_out(&n, t);
        attr_ints(&n, "kernel_shape", ks, nsp);
        attr_ints(&n, "strides", ss, nsp);
        attr_ints(&n, "dilations", ds, nsp);
        attr_ints(&n, "pads", pads, 2 * nsp);
        if (opad[0] || (nsp > 1 && opad[1])) attr_ints(&n, "output_padding", opad, nsp);
        node_end(e, &n);
        if (seq) {
            char back[NAME];
            seq_transpose(e, t, back);
            return activation(e, o->activation, o->alpha, back, out, false);
        }
        out = y->nchw;
        return activation(e, o->activation, o->alpha, t, out, true);
    }
    case KN__LAYER_UPSAMPLE: { /* Resize: nearest as Keras's repeat (floor of o / s), bilinear half-pixel */
        if (y->seq) { /* each step repeated: Resize nearest along the steps of (N, L, C) */
            float sc[3] = {1, (float)L->u.upsample.size_w, 1};
            char sn[NAME];
            fresh(e, sn, "scales");
            init_tensor(e, sn, (int64_t[]){3}, 1, sc, NULL);
            node n;
            node_begin(e, &n, "Resize");
            node_in(&n, in_order(e, x, false));
            node_in(&n, "");
            node_in(&n, sn);
            fresh(e, out, "t");
            node_out(&n, out);
            attr_str(&n, "mode", "nearest");
            attr_str(&n, "coordinate_transformation_mode", "asymmetric");
            attr_str(&n, "nearest_mode", "floor");
            node_end(e, &n);
            return KN_OK;
        }
        float scales[4] = {1, 1, (float)L->u.upsample.size_h, (float)L->u.upsample.size_w};
        char sn[NAME];
        fresh(e, sn, "scales");
        init_tensor(e, sn, (int64_t[]){4}, 1, scales, NULL);
        bool linear = L->u.upsample.interpolation == KN_INTERP_BILINEAR;
        node n;
        node_begin(e, &n, "Resize");
        node_in(&n, in_order(e, x, true));
        node_in(&n, ""); /* no roi */
        node_in(&n, sn);
        fresh(e, y->nchw, "t");
        node_out(&n, y->nchw);
        attr_str(&n, "mode", linear ? "linear" : "nearest");
        attr_str(&n, "coordinate_transformation_mode", linear ? "half_pixel" : "asymmetric");
        if (!linear) attr_str(&n, "nearest_mode", "floor");
        node_end(e, &n);
        return KN_OK;
    }
    case KN__LAYER_RESIZE: { /* Resize to sizes: the batch and channels of Shape(x), then (height, width) */
        const char *src = in_order(e, x, true);
        char shape[NAME], nc[NAME], hw[NAME], sizes[NAME];
        unary(e, "Shape", src, shape);
        slice(e, shape, (int64_t[]){0}, (int64_t[]){2}, (int64_t[]){0}, 1, nc);
        int_const(e, hw, "hw", (int64_t[]){L->u.resizing.height, L->u.resizing.width}, 2);
        node n;
        node_begin(e, &n, "Concat");
        node_in(&n, nc);
        node_in(&n, hw);
        fresh(e, sizes, "sizes");
        node_out(&n, sizes);
        attr_int(&n, "axis", 0);
        node_end(e, &n);
        bool linear = L->u.resizing.interpolation == KN_INTERP_BILINEAR;
        node_begin(e, &n, "Resize");
        node_in(&n, src);
        node_in(&n, ""); /* no roi */
        node_in(&n, ""); /* no scales: sizes */
        node_in(&n, sizes);
        fresh(e, y->nchw, "t");
        node_out(&n, y->nchw);
        attr_str(&n, "mode", linear ? "linear" : "nearest");
        attr_str(&n, "coordinate_transformation_mode", "half_pixel");
        /* half-pixel's source (o + 0.5) in / out - 0.5 rounded half up: floor((o + 0.5) in / out), kiln's */
        if (!linear) attr_str(&n, "nearest_mode", "round_prefer_ceil");
        node_end(e, &n);
        return KN_OK;
    }
    case KN__LAYER_PRELU: { /* PRelu with kiln's alpha shape, over kiln's (H, W, C) order */
        int64_t n_alpha = 0, dims[3];
        char name[96], an[NAME];
        snprintf(name, sizeof name, "%s_%d/alpha", type, L->index);
        const float *alpha = kn_model_param(m, name, &n_alpha);
        if (!alpha) return fail(e, KN_ERR_STATE, "onnx export: parameter %s: %s", name, "missing");
        int nd = L->ndim;
        for (int k = 0; k < nd; k++) dims[k] = L->u.prelu.per_channel && k < nd - 1 ? 1 : L->shape[k];
        fresh(e, an, "alpha");
        init_tensor(e, an, dims, nd, alpha, NULL);
        binary(e, "PRelu", in_order(e, x, false), an, out);
        return KN_OK;
    }
    case KN__LAYER_CONV1D: { /* (N, L, C) -> (N, C, L), Conv 1-D, back: W (F, C, K) from (K*C, F) */
        const kn_conv1d_opts *o = &L->u.conv1d;
        int64_t G = o->groups > 1 ? o->groups : 1, C = x->c / G; /* (C: a group's channels) */
        int64_t F = o->filters, K = o->kernel_size, st = o->stride ? o->stride : 1, d = o->dilation ? o->dilation : 1;
        const float *Kk = param(e, i, "kernel", K * C * F), *b = o->no_bias ? NULL : param(e, i, "bias", F);
        if (!Kk || (!o->no_bias && !b)) return e->st;
        float *W = malloc((size_t)(K * C * F) * sizeof *W);
        if (!W) return fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", L->name, "");
        for (int64_t f = 0; f < F; f++)
            for (int64_t c = 0; c < C; c++)
                for (int64_t k = 0; k < K; k++) W[(f * C + c) * K + k] = Kk[(k * C + c) * F + f];
        int64_t pads[2] = {0, 0}, span = (K - 1) * d + 1;
        if (o->padding == KN_PADDING_CAUSAL) pads[0] = span - 1;
        if (o->padding == KN_PADDING_SAME) {
            int64_t outl = (x->l + st - 1) / st, total = (outl - 1) * st + span - x->l;
            if (total < 0) total = 0;
            pads[0] = total / 2, pads[1] = total - total / 2;
        }
        char ncl[NAME], z[NAME], z2[NAME];
        seq_transpose(e, in_order(e, x, false), ncl);
        conv_nd(e, "Conv", ncl, W, b, F, C, 1, &K, &st, &d, pads, G, z);
        free(W);
        seq_transpose(e, z, z2);
        return activation(e, o->activation, o->alpha, z2, out, false);
    }
    case KN__LAYER_MAX_POOL1D: case KN__LAYER_AVG_POOL1D: {
        const kn__pool_opts *p = &L->u.pool;
        int64_t k = p->pool_w, st = p->stride_w, pads[2] = {0, 0};
        if (p->same) {
            int64_t outl = (x->l + st - 1) / st, total = (outl - 1) * st + k - x->l;
            if (total < 0) total = 0;
            pads[0] = total / 2, pads[1] = total - total / 2;
        }
        char ncl[NAME], z[NAME];
        seq_transpose(e, in_order(e, x, false), ncl);
        node n;
        node_begin(e, &n, L->kind == KN__LAYER_MAX_POOL1D ? "MaxPool" : "AveragePool");
        node_in(&n, ncl);
        fresh(e, z, "t");
        node_out(&n, z);
        attr_ints(&n, "kernel_shape", &k, 1);
        attr_ints(&n, "strides", &st, 1);
        attr_ints(&n, "pads", pads, 2);
        if (L->kind == KN__LAYER_AVG_POOL1D) attr_int(&n, "count_include_pad", 0);
        node_end(e, &n);
        seq_transpose(e, z, out);
        return KN_OK;
    }
    case KN__LAYER_GLOBAL_AVG_POOL1D: case KN__LAYER_GLOBAL_MAX_POOL1D:
        reduce(e, L->kind == KN__LAYER_GLOBAL_AVG_POOL1D ? "ReduceMean" : "ReduceMax", in_order(e, x, false),
               (int64_t[]){1}, 1, false, out);
        return KN_OK;
    case KN__LAYER_EMBEDDING: { /* Gather of the table by the indices (the float input cast) */
        const kn_embedding_opts *o = &L->u.embedding;
        if (o->mask_zero) return fail(e, KN_ERR_UNSUPPORTED, "onnx export: layer '%s' (%s): mask_zero", L->name, type);
        const float *T = param(e, i, "embeddings", o->input_dim * o->output_dim);
        if (!T) return e->st;
        char tn[NAME], idx[NAME];
        fresh(e, tn, "table");
        init_tensor(e, tn, (int64_t[]){o->input_dim, o->output_dim}, 2, T, NULL);
        node n;
        node_begin(e, &n, "Cast");
        node_in(&n, in_order(e, x, false));
        fresh(e, idx, "idx");
        node_out(&n, idx);
        attr_int(&n, "to", 7); /* INT64 */
        node_end(e, &n);
        binary(e, "Gather", tn, idx, out);
        return KN_OK;
    }
    case KN__LAYER_RNN: return export_rnn(e, i, x, out);
    case KN__LAYER_LAYER_NORM: return export_layer_norm(e, i, x, y);
    case KN__LAYER_GROUP_NORM: return export_group_norm(e, i, x, y);
    case KN__LAYER_ATTENTION: return export_attention(e, i, out);
    case KN__LAYER_DOT_ATTENTION: return export_dot_attention(e, i, out);
    case KN__LAYER_UNIT_NORM: { /* over the channels: NCHW's axis 1, else the last */
        bool nchw = x->image && x->nchw[0] && !x->nhwc[0];
        unit_norm_nodes(e, in_order(e, x, nchw), nchw ? 1 : -1, nchw ? y->nchw : out);
        return KN_OK;
    }
    case KN__LAYER_DOT: { /* ReduceSum over the features of Mul(a, b) (each unit-normalized first) */
        char in[2][NAME], prod[NAME];
        for (int k = 0; k < 2; k++) {
            const char *v = in_order(e, &e->v[L->inputs[k] + 1], false);
            if (L->u.dot_normalize) unit_norm_nodes(e, v, -1, in[k]);
            else snprintf(in[k], NAME, "%s", v);
        }
        binary(e, "Mul", in[0], in[1], prod);
        reduce(e, "ReduceSum", prod, (int64_t[]){-1}, 1, true, out);
        return KN_OK;
    }
    case KN__LAYER_POSITION_EMBEDDING: { /* Add of the (L, C) table, the same for every sample */
        const float *T = param(e, i, "embeddings", y->l * y->c);
        if (!T) return e->st;
        char tn[NAME];
        fresh(e, tn, "positions");
        init_tensor(e, tn, (int64_t[]){y->l, y->c}, 2, T, NULL);
        binary(e, "Add", in_order(e, x, false), tn, out);
        return KN_OK;
    }
    default:
        return fail(e, KN_ERR_UNSUPPORTED,
                    "onnx export: layer '%s' (%s) has no ONNX form here (kiln exports dense, conv2d, depthwise_conv2d, "
                    "separable_conv2d, depthwise_conv1d, separable_conv1d, conv2d_transpose, conv1d, pooling, flatten, "
                    "reshape, permute, repeat_vector, batch_normalization, layer_normalization, group_normalization, "
                    "unit_normalization, dot, "
                    "padding, cropping, upsampling, rescaling, prelu, embedding, position_embedding, multi_head_attention, attention, "
                    "simple_rnn, lstm, gru, bidirectional, time_distributed, conv3d, 3-D pooling, padding, cropping and "
                    "upsampling, dropout, activation and merge layers)",
                    L->name, type);
    }
}

/* ValueInfoProto of a float tensor (batch, dims...). */
static void value_info(pbw *g, int field, const char *name, const int64_t *dims, int nd) {
    pbw vi = {0}, type = {0}, tensor = {0}, shape = {0};
    field_str(&vi, 1, name);
    field_int(&tensor, 1, 1); /* FLOAT */
    pbw dim = {0};
    field_str(&dim, 2, "batch");
    field_msg(&shape, 1, &dim);
    for (int k = 0; k < nd; k++) {
        field_int(&dim, 1, dims[k]);
        field_msg(&shape, 1, &dim);
    }
    field_msg(&tensor, 2, &shape);
    field_msg(&type, 1, &tensor);
    field_msg(&vi, 2, &type);
    field_msg(g, field, &vi);
}

/* ------------------------------------------------------------- CSV preprocessing */

/* v (n doubles) as an f32 initializer of dims, named from stem into name; false out of memory. */
static bool doubles_const(exporter *e, char *name, const char *stem, const double *v, const int64_t *dims, int nd) {
    int64_t n = 1;
    for (int k = 0; k < nd; k++) n *= dims[k];
    float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
    if (!f) return false;
    for (int64_t k = 0; k < n; k++) f[k] = (float)v[k];
    fresh(e, name, stem);
    init_tensor(e, name, dims, nd, f, NULL);
    free(f);
    return true;
}

/* out = x's columns idx (n of them). */
static void gather_cols(exporter *e, const char *x, const int64_t *idx, int64_t n, char *out) {
    char in[NAME];
    int_const(e, in, "cols", idx, n);
    op_with(e, "Gather", x, in, "axis", 1, out);
}

/* The CSV preprocessing the model keeps (data/preprocess.h), when its columns are all
 * numbers: the graph's input is then the raw columns (N, columns) of a CSV row, in the
 * order `kiln info` lists them, as `kiln predict` reads them; out receives the name of the
 * model inputs they make. Missing values (NaN) take their fitted fill (IsNaN, Where); the
 * numeric features kept (Gather; constant ones are dropped); poly=2's products x_i x_j, i
 * <= j (Gather, Gather, Mul, Concat); the scaling (x - shift) * mul (Sub, Mul); PCA's
 * projection (x - mean) components^T (Sub, MatMul). Computed in float (kiln's in double):
 * the features agree to float rounding. Categories, dates, text and token sequences, which
 * an ONNX graph of floats cannot take from strings, are refused naming the column. */
static kn_status export_prep(exporter *e, const struct kn_preprocessor *p, char *out) {
    static const char *const kinds[] = {"numeric", "categorical", "date", "text", "sequence"};
    for (int64_t j = 0; j < p->n_cols; j++)
        if (p->cols[j].kind != KN__COL_NUMERIC) {
            char what[160];
            snprintf(what, sizeof what, "'%.60s' is %s", p->cols[j].name, kinds[p->cols[j].kind]);
            return fail(e, KN_ERR_UNSUPPORTED, "onnx export: the model's CSV preprocessing: column %s (an ONNX graph of "
                        "floats takes numeric columns only; --network-only exports the network alone, its inputs the %s",
                        what, "preprocessed features)");
        }
    char x[NAME], t[NAME], c[NAME], lin[NAME];
    snprintf(x, NAME, "input");
    bool fills = false;
    double *fill = malloc((size_t)p->n_cols * sizeof *fill);
    if (!fill) return fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", "preprocessing", "");
    for (int64_t j = 0; j < p->n_cols; j++) fill[j] = p->cols[j].fill, fills |= !isnan(fill[j]);
    if (fills) { /* where x is NaN, the column's fill (NaN itself where impute=drop: left missing) */
        char nan[NAME], f[NAME];
        unary(e, "IsNaN", x, nan);
        bool ok = doubles_const(e, f, "fill", fill, &p->n_cols, 1);
        where(e, nan, f, x, t);
        snprintf(x, NAME, "%s", t);
        if (!ok) e->nodes.oom = true;
    }
    free(fill);
    bool all = p->n_num1 == p->n_cols;
    for (int64_t i = 0; all && i < p->n_num1; i++) all = p->num_base[i] == i;
    if (all) snprintf(lin, NAME, "%s", x);
    else gather_cols(e, x, p->num_base, p->n_num1, lin); /* the kept columns */
    snprintf(x, NAME, "%s", lin);
    if (p->poly == 2) { /* [x, x_i x_j for i <= j] */
        int64_t n = p->n_num1, pairs = n * (n + 1) / 2, k = 0;
        int64_t *ij = malloc((size_t)(2 * pairs + 1) * sizeof *ij);
        if (!ij) return fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", "preprocessing", "");
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i; j < n; j++) ij[k] = i, ij[pairs + k] = j, k++;
        char a[NAME], b[NAME], prod[NAME];
        gather_cols(e, lin, ij, pairs, a);
        gather_cols(e, lin, ij + pairs, pairs, b);
        free(ij);
        binary(e, "Mul", a, b, prod);
        concat2(e, lin, prod, 1, x);
    }
    if (p->scale != KN__SCALE_NONE && p->n_num) { /* (x - shift) * mul */
        if (!doubles_const(e, c, "shift", p->shift, &p->n_num, 1)) e->nodes.oom = true;
        binary(e, "Sub", x, c, t);
        if (!doubles_const(e, c, "mul", p->mul, &p->n_num, 1)) e->nodes.oom = true;
        binary(e, "Mul", t, c, x);
    }
    if (p->pca.k > 0) { /* (x - mean) components^T: (N, d) x (d, k) */
        int64_t d = p->pca.d, k = p->pca.k;
        double *ct = malloc((size_t)(d * k) * sizeof *ct);
        if (!ct) return fail(e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", "preprocessing", "");
        for (int64_t i = 0; i < d; i++)
            for (int64_t j = 0; j < k; j++) ct[i * k + j] = p->pca.components[j * d + i];
        bool ok = doubles_const(e, c, "mean", p->pca.mean, &d, 1);
        binary(e, "Sub", x, c, t);
        ok = ok && doubles_const(e, c, "components", ct, (int64_t[]){d, k}, 2);
        free(ct);
        binary(e, "MatMul", t, c, x);
        if (!ok) e->nodes.oom = true;
    }
    snprintf(out, NAME, "%s", x);
    return e->st;
}

kn_status kn_model_export_onnx(kn_model *m, const char *path) { return kn_model_export_onnx_ex(m, path, NULL); }

kn_status kn_model_export_onnx_ex(kn_model *m, const char *path, const kn_onnx_export_opts *opts) {
    if (!m || !path) return KN_ERR_INVALID_ARGUMENT;
    kn_ctx *ctx = m->ctx;
    bool classic = m->classic != NULL;
    if (!classic && (m->input_ndim < 1 || m->input_ndim > 4))
        return kn__error(ctx, KN_ERR_UNSUPPORTED, "onnx export: inputs of %d dimensions", m->input_ndim);
    exporter e = {.ctx = ctx, .m = m};
    e.v = calloc((size_t)m->n_layers + 1, sizeof *e.v);
    if (!e.v) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "onnx export: out of memory");
    exp_value *in = &e.v[0];
    snprintf(in->nhwc, NAME, "input");
    in->image = m->input_ndim == 3;
    in->seq = m->input_ndim == 2;
    in->vol = m->input_ndim == 4;
    if (in->image) in->h = m->input_shape[0], in->w = m->input_shape[1], in->c = m->input_shape[2];
    else if (in->vol) in->depth = m->input_shape[0], in->h = m->input_shape[1], in->w = m->input_shape[2], in->c = m->input_shape[3];
    else if (in->seq) in->l = m->input_shape[0], in->c = m->input_shape[1];
    else in->f = m->input_shape[0];
    int64_t d = kn_model_input_size(m), outputs = kn_model_output_size(m);
    const struct kn_preprocessor *prep = opts && opts->network_only ? NULL : m->prep;
    if (prep && (classic || m->input_ndim == 1)) export_prep(&e, prep, in->nhwc); /* raw CSV columns in */
    char result[NAME] = "";
    if (classic && !e.st) kn__onnx_export_classic(&e, m, in->nhwc, result);
    for (int i = 0; !classic && i < m->n_layers && !e.st; i++) export_layer(&e, i);
    /* the output, in kiln's order, named "output" */
    pbw graph = {0}, model = {0}, opset = {0};
    if (!e.st) {
        node n;
        node_begin(&e, &n, "Identity");
        node_in(&n, classic ? result : in_order(&e, &e.v[m->n_layers], false));
        node_out(&n, "output");
        node_end(&e, &n);
        put(&graph, e.nodes.p, e.nodes.n);
        field_str(&graph, 2, "kiln");
        put(&graph, e.inits.p, e.inits.n);
        if (prep) value_info(&graph, 11, "input", &prep->n_cols, 1);
        else if (classic) value_info(&graph, 11, "input", &d, 1);
        else value_info(&graph, 11, "input", m->input_shape, m->input_ndim);
        if (classic) value_info(&graph, 12, "output", &outputs, 1);
        else value_info(&graph, 12, "output", m->layers[m->n_layers - 1].shape, m->layers[m->n_layers - 1].ndim);
        if (e.nodes.oom || e.inits.oom) graph.oom = true;
        field_int(&model, 1, e.ml ? 8 : 7); /* IR version 7 (opset 13's); 8 for ai.onnx.ml 3's tree ensembles */
        field_str(&model, 2, "kiln");
        field_str(&model, 3, KILN_VERSION);
        field_msg(&model, 7, &graph);
        field_int(&opset, 2, 13);
        field_msg(&model, 8, &opset);
        if (e.ml) { /* the tree ensembles' domain */
            pbw ml = {0};
            field_str(&ml, 1, "ai.onnx.ml");
            field_int(&ml, 2, 3); /* (TreeEnsembleRegressor-3: the version whose types onnx's checker infers) */
            field_msg(&model, 8, &ml);
        }
        /* the class names, for kiln import (and any reader of metadata_props) */
        int classes = (int)kn_model_output_size(m);
        if (classes > 1 && kn_model_label_name(m, 0)) {
            cJSON *list = cJSON_CreateArray();
            for (int k = 0; list && k < classes; k++) {
                const char *name = kn_model_label_name(m, k);
                cJSON_AddItemToArray(list, cJSON_CreateString(name ? name : ""));
            }
            char *text = list ? cJSON_PrintUnformatted(list) : NULL;
            if (text) {
                pbw entry = {0};
                field_str(&entry, 1, "kiln.labels");
                field_str(&entry, 2, text);
                field_msg(&model, 14, &entry);
            } else {
                model.oom = true;
            }
            free(text);
            cJSON_Delete(list);
        }
        if (prep) { /* the raw columns the graph takes, in order ("kiln.inputs", a JSON list) */
            cJSON *list = cJSON_CreateArray();
            for (int64_t j = 0; list && j < prep->n_cols; j++) cJSON_AddItemToArray(list, cJSON_CreateString(prep->cols[j].name));
            char *text = list ? cJSON_PrintUnformatted(list) : NULL;
            pbw entry = {0};
            field_str(&entry, 1, "kiln.inputs");
            field_str(&entry, 2, text ? text : "[]");
            field_msg(&model, 14, &entry);
            if (!text) model.oom = true;
            free(text);
            cJSON_Delete(list);
        }
        if (model.oom) fail(&e, KN_ERR_OUT_OF_MEMORY, "onnx export: %s%s: out of memory", path, "");
    }
    if (!e.st) { /* written beside the target and renamed into place: never half a file */
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
        FILE *f = fopen(tmp, "wb");
        bool ok = f && fwrite(model.p, 1, model.n, f) == model.n;
        if (f && fclose(f) != 0) ok = false;
        if (!ok || rename(tmp, path) != 0) {
            e.st = kn__error(ctx, KN_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
            remove(tmp);
        }
    }
    free(model.p);
    free(graph.p);
    free(e.nodes.p);
    free(e.inits.p);
    free(e.v);
    return e.st;
}
