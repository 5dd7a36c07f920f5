/* ops_conv_transpose.c — the transposed convolution (Keras's Conv2DTranspose and
 * Conv1DTranspose, PyTorch's ConvTranspose2d and 1d) as the convolution's own input
 * gradient: kn_conv2d_transpose builds one KN_OP_CONV2D_GRAD_INPUT node, so both backends'
 * kernels (conv_gemm.c's col2im GEMMs, CUDA's cuBLASLt + col2im), their half-precision paths
 * and the fuse pass's activation gradient serve it as they serve a convolution's backward,
 * with no kernel of its own.
 *
 * x (N, H, W, C) plays the convolution's dy; the output (N, OH, OW, F) its dx; the kernel
 * (KH*KW*F, C) is the (KH*KW*F, C) kernel of that convolution from F to C channels, which is
 * exactly Keras's (KH, KW, F, C) Conv2DTranspose kernel flattened. The window (kn__win) is
 * the convolution's over the OH x OW output: its leading padding is Keras's crop of the
 * full transposed output, oh x ow is x's H x W. Its backward (for autodiff) is the pair
 * every linear map's adjoint gives: d x = conv2d(d y, kernel) over the same window, and
 * d kernel = conv2d_grad_kernel(d y, x), the image and the dy roles swapped.
 * kn_conv1d_transpose is the same node over a sequence's (N, 1, L, C) view, a 1 x K window. */
#include "graph.h"

/* (graph.h) The size from Keras's _get_output_shape_given_tf_padding, the crop from the
 * left pad of its JAX padding (_convert_conv_transpose_padding_args_from_keras_to_jax), which
 * TensorFlow's 'same' padding of the OH x OW convolution also gives. */
void kn__conv_transpose_axis(int64_t in, int k, int s, int d, bool same, int op, int64_t *out, int64_t *crop) {
    int64_t span = (int64_t)(k - 1) * d + 1;
    if (!same) {
        *out = (in - 1) * s + span + (op >= 0 ? op : (s > span ? s - span : 0));
        *crop = 0;
        return;
    }
    *out = op >= 0 ? (in - 1) * s + span % 2 + op : in * s;
    int64_t pad_len = op >= 0 ? span + span % 2 - 2 + op : s + span - 2;
    int64_t left = pad_len / 2 + pad_len % 2; /* the padding JAX puts before the dilated input */
    if (left > span - 1) left = span - 1;
    *crop = span - 1 - left;
}

/* The node for x4 (N, H, W, C); `what` and x (the caller's tensor: x4 itself, or the sequence
 * it views) name the refusals. */
static kn_tensor *transpose_node(kn_graph *g, const char *what, const kn_tensor *x, kn_tensor *x4, kn_tensor *kernel,
                                 const kn_conv2d_transpose_opts *o) {
    char sx[64], sk[64];
    int sh = o->stride_h ? o->stride_h : 1, sw = o->stride_w ? o->stride_w : 1;
    int dh = o->dilation_h ? o->dilation_h : 1, dw = o->dilation_w ? o->dilation_w : 1;
    int v[6] = {o->kernel_h, o->kernel_w, sh, sw, dh, dw};
    for (int i = 0; i < 6; i++)
        if (v[i] < 1 || v[i] > 255) {
            kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: window %dx%d, strides %dx%d, dilation %dx%d: each must be "
                           "in [1, 255]", what, o->kernel_h, o->kernel_w, sh, sw, dh, dw);
            return NULL;
        }
    int oph = o->has_output_padding ? o->output_padding_h : -1, opw = o->has_output_padding ? o->output_padding_w : -1;
    if (o->has_output_padding && (oph < 0 || oph >= sh || opw < 0 || opw >= sw)) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: output_padding %dx%d must be below the strides %dx%d (and not "
                       "negative)", what, o->output_padding_h, o->output_padding_w, sh, sw);
        return NULL;
    }
    int64_t taps = (int64_t)o->kernel_h * o->kernel_w;
    if (!kernel || kernel->dtype != KN_F32 || kernel->ndim != 2 || kernel->shape[0] == KN_BATCH ||
        kernel->shape[0] % taps != 0 || kernel->shape[1] != x4->shape[3]) {
        kn__graph_fail(g, KN_ERR_SHAPE, "%s: kernel '%s' %s must be (KH*KW*filters, C) = (%lld*filters, %lld) for a "
                       "%dx%d window over input '%s' %s", what, kernel ? kernel->name : "(null)",
                       kernel ? kn__shape_str(kernel, sk, sizeof sk) : "", (long long)taps, (long long)x4->shape[3],
                       o->kernel_h, o->kernel_w, x->name, kn__shape_str(x, sx, sizeof sx));
        return NULL;
    }
    int64_t oh, ow, pt, pl;
    kn__conv_transpose_axis(x4->shape[1], o->kernel_h, sh, dh, o->same, oph, &oh, &pt);
    kn__conv_transpose_axis(x4->shape[2], o->kernel_w, sw, dw, o->same, opw, &ow, &pl);
    if (oh < 1 || ow < 1 || oh > INT32_MAX || ow > INT32_MAX || pt > 255 || pl > 255 || x4->shape[1] > INT32_MAX ||
        x4->shape[2] > INT32_MAX) {
        kn__graph_fail(g, KN_ERR_SHAPE, "%s: input '%s' %s under a %dx%d window (strides %dx%d, dilation %dx%d) gives "
                       "%lldx%lld outputs cropped %lldx%lld (want at least 1x1, a crop of 255 at most)", what, x->name,
                       kn__shape_str(x, sx, sizeof sx), o->kernel_h, o->kernel_w, sh, sw, dh, dw, (long long)oh,
                       (long long)ow, (long long)pt, (long long)pl);
        return NULL;
    }
    /* the convolution from (OH, OW, F) to x's (H, W, C): x is its output, so oh x ow = H x W */
    kn__win w = {o->kernel_h, o->kernel_w, sh, sw, dh, dw, (int)pt, (int)pl, (int)x4->shape[1], (int)x4->shape[2]};
    int64_t shape[4] = {x4->shape[0], oh, ow, kernel->shape[0] / taps};
    kn_tensor *t = kn__conv2d_grad_input(g, x4, kernel, &w, shape, 1);
    if (t) snprintf(t->name, sizeof t->name, "%s_%d", what, t->id);
    return t;
}

kn_tensor *kn_conv2d_transpose(kn_graph *g, kn_tensor *x, kn_tensor *kernel, const kn_conv2d_transpose_opts *o) {
    if (!g || g->status != KN_OK) return NULL;
    char sx[64];
    if (!o || !x) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "conv2d_transpose: %s is NULL", !o ? "opts" : "input");
        return NULL;
    }
    /* (a batch of batch x rows: a volume's slices, nn/model_conv3d_transpose.c) */
    if (x->dtype != KN_F32 || x->ndim != 4 || x->shape[1] == KN_BATCH || x->shape[2] == KN_BATCH ||
        x->shape[3] == KN_BATCH) {
        kn__graph_fail(g, KN_ERR_SHAPE, "conv2d_transpose: input '%s' must be F32 (batch, height, width, channels), "
                       "got %s %s", x->name, kn_dtype_name(x->dtype), kn__shape_str(x, sx, sizeof sx));
        return NULL;
    }
    return transpose_node(g, "conv2d_transpose", x, x, kernel, o);
}

/* t = conv2d_grad_input(dy, kernel) of the window w; dt its gradient (t's shape). */
void kn__backward_conv2d_grad_input(kn_graph *g, kn_tensor *t, kn_tensor *dt) {
    kn_tensor *dy = t->src[0], *k = t->src[1];
    kn__win w = kn__win_unpack(t);
    if (dy->flags & KN_FLAG_NEEDS_GRAD) { /* the convolution forward: (N, OH, OW, F) -> dy's (N, H, W, C) */
        kn_tensor *c = kn__node(g, KN_OP_CONV2D, dt, k, NULL);
        if (c) {
            kn__win_pack(c, &w);
            c->iparam[4] = KN_LINEAR;
            c->iparam[5] = t->iparam[5];
        }
        kn__grad_accumulate(g, dy, kn__finish(g, c));
    }
    if (k->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, k, kn__conv2d_grad_kernel(g, dt, dy, &w, k, (int)kn__conv_groups(t)));
}

/* The 1-D options as the 2-D ones along the width (a 1 x K window over a 1 x L image). */
static kn_conv2d_transpose_opts as_2d(const kn_conv1d_transpose_opts *o) {
    return (kn_conv2d_transpose_opts){.kernel_h = 1, .kernel_w = o->kernel_size, .stride_h = 1,
                                      .stride_w = o->stride, .dilation_h = 1, .dilation_w = o->dilation,
                                      .same = o->same, .has_output_padding = o->has_output_padding,
                                      .output_padding_w = o->output_padding};
}

kn_tensor *kn_conv1d_transpose(kn_graph *g, kn_tensor *x, kn_tensor *kernel, const kn_conv1d_transpose_opts *o) {
    if (!g || g->status != KN_OK) return NULL;
    if (!o) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "conv1d_transpose: opts is NULL");
        return NULL;
    }
    kn_tensor *x4 = kn__seq_view(g, "conv1d_transpose", x);
    if (!x4) return NULL;
    kn_conv2d_transpose_opts o2 = as_2d(o);
    return kn__seq_unview(g, transpose_node(g, "conv1d_transpose", x, x4, kernel, &o2));
}
