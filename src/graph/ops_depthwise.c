/* ops_depthwise.c — the depthwise convolution's ops (Keras's DepthwiseConv2D; graph.h's
 * KN_OP_DEPTHWISE_CONV2D and its two gradients): shape inference, the backward builder and
 * the gradient nodes. The public builder kn_depthwise_conv2d is graph.c's, beside
 * kn_conv2d, whose window (kn__win, in iparam) it shares. Layouts: x (N, H, W, C), kernel
 * (KH*KW, C*M) (Keras's (KH, KW, C, M) flattened), y and dy (N, OH, OW, C*M); M is always
 * the kernel's columns / C, never stored. The kernels are backend/cpu/depthwise.c's and
 * backend/cuda/kernels_depthwise.cu's; f32 only (neither half_support.c lists them). */
#include "graph.h"

static bool need_f32(kn_graph *g, const kn_tensor *t, const kn_tensor *x, const char *role) {
    if (x->dtype == KN_F32) return true;
    return kn__graph_fail(g, KN_ERR_DTYPE, "%s: %s '%s' is %s, expected F32", t->name, role, x->name,
                          kn_dtype_name(x->dtype));
}

/* image (N, H, W, C) with one row per batch element: x, or the input gradient's own shape */
static bool check_image(kn_graph *g, const kn_tensor *t, const kn_tensor *img) {
    char si[64];
    if (img->ndim != 4 || kn__batch_rows(img) != 1 || img->shape[3] < 1)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: expects images (batch, height, width, channels), got %s", t->name,
                              kn__shape_str(img, si, sizeof si));
    return true;
}

/* kernel (KH*KW, C*M), M >= 1, for the window over c channels */
static bool check_kernel(kn_graph *g, const kn_tensor *t, const kn_tensor *k, int64_t c) {
    char sk[64];
    kn__win w = kn__win_unpack(t);
    if (k->dtype != KN_F32 || k->ndim != 2 || k->shape[0] != (int64_t)w.kh * w.kw || k->shape[1] == KN_BATCH ||
        k->shape[1] < c || k->shape[1] % c != 0)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: kernel '%s' %s must be (%lld, a multiple of %lld) for a %dx%d "
                              "window over %lld channels", t->name, k->name, kn__shape_str(k, sk, sizeof sk),
                              (long long)w.kh * w.kw, (long long)c, w.kh, w.kw, (long long)c);
    return true;
}

/* dy (N, OH, OW, C*M) of the window over images of `image`'s shape */
static bool check_dy(kn_graph *g, const kn_tensor *t, const kn_tensor *dy, const int64_t *image, int64_t cols) {
    char sd[64];
    kn__win w = kn__win_unpack(t);
    if (!need_f32(g, t, dy, "gradient")) return false;
    if (dy->ndim != 4 || dy->shape[0] != image[0] || kn__batch_rows(dy) != 1 || dy->shape[1] != w.oh ||
        dy->shape[2] != w.ow || dy->shape[3] != cols)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: gradient %s does not fit a %dx%d depthwise convolution to (%d, %d, "
                              "%lld)", t->name, kn__shape_str(dy, sd, sizeof sd), w.kh, w.kw, w.oh, w.ow,
                              (long long)cols);
    return true;
}

bool kn__infer_depthwise(kn_graph *g, kn_tensor *t) {
    kn_tensor *x = t->src[0], *k = t->src[1];
    if (!need_f32(g, t, x, "input") || !check_image(g, t, x) || !check_kernel(g, t, k, x->shape[3])) return false;
    kn__win w = kn__win_unpack(t);
    t->ndim = 4;
    t->shape[0] = x->shape[0], t->shape[1] = w.oh, t->shape[2] = w.ow, t->shape[3] = k->shape[1];
    t->batch_rows = 1;
    return true;
}

/* The shape is the builder's (x's). */
bool kn__infer_depthwise_grad_input(kn_graph *g, kn_tensor *t) {
    kn_tensor *dy = t->src[0], *k = t->src[1];
    return check_image(g, t, t) && check_kernel(g, t, k, t->shape[3]) && check_dy(g, t, dy, t->shape, k->shape[1]);
}

/* The shape is the builder's (the kernel's). */
bool kn__infer_depthwise_grad_kernel(kn_graph *g, kn_tensor *t) {
    kn_tensor *x = t->src[0], *dy = t->src[1];
    if (!need_f32(g, t, x, "input") || !check_image(g, t, x) || !check_kernel(g, t, t, x->shape[3])) return false;
    return check_dy(g, t, dy, x->shape, t->shape[1]);
}

/* y = dwconv(x, kernel): dx = dwconv_grad_input(dy, kernel), d kernel = dwconv_grad_kernel(x, dy),
 * each only where it is wanted. */
void kn__backward_depthwise(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *x = t->src[0], *k = t->src[1];
    kn__win w = kn__win_unpack(t);
    if (x->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, x, kn__depthwise_grad_input(g, dy, k, &w, x->shape));
    if (k->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, k, kn__depthwise_grad_kernel(g, x, dy, &w, k));
}

kn_tensor *kn__depthwise_grad_input(kn_graph *g, kn_tensor *dy, kn_tensor *kernel, const kn__win *w,
                                    const int64_t *x_shape) {
    kn_tensor *t = kn__node(g, KN_OP_DEPTHWISE_CONV2D_GRAD_INPUT, dy, kernel, NULL);
    if (!t) return NULL;
    kn__win_pack(t, w);
    t->ndim = 4;
    for (int i = 0; i < 4; i++) t->shape[i] = x_shape[i];
    t->batch_rows = 1;
    return kn__finish(g, t);
}

kn_tensor *kn__depthwise_grad_kernel(kn_graph *g, kn_tensor *x, kn_tensor *dy, const kn__win *w,
                                     const kn_tensor *kernel) {
    kn_tensor *t = kn__node(g, KN_OP_DEPTHWISE_CONV2D_GRAD_KERNEL, x, dy, NULL);
    if (!t) return NULL;
    kn__win_pack(t, w);
    t->ndim = 2;
    t->shape[0] = kernel->shape[0];
    t->shape[1] = kernel->shape[1];
    return kn__finish(g, t);
}
