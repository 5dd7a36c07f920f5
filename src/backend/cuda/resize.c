/* resize.c — the CUDA backend's padding and cropping, upsampling, resizing and their gradients (ops.c's
 * table points here; graph/ops_resize.c says what they compute): the node's shapes and
 * parameters read as cpu/resize.c reads them, kernels_resize.cu's launchers. f32 only
 * (half_support.c lists none of them, so their tensors stay f32); never fused. */
#include "node_launch.h"

/* img: the image side (x, or dx); big: the other (y, or dy); at the resolved batch. */
static kn__cuda_resize resize_of(const kn_graph *g, const kn_tensor *img, const kn_tensor *big) {
    return (kn__cuda_resize){.n = img->ne[0], .h = img->ne[1], .w = img->ne[2], .c = img->ne[3], .oh = big->ne[1],
                             .ow = big->ne[2], .index64 = ((const kn__cuda_graph *)g->backend.context)->index64};
}

/* x (N, H, W, C) -> y (N, H + top + bottom, W + left + right, C) */
kn_status kn__cuda_k_pad2d(kn_graph *g, kn_tensor *t) {
    kn__cuda_resize r = resize_of(g, t->src[0], t);
    r.top = t->iparam[0], r.left = t->iparam[2];
    LAUNCH(kn__cu_pad2d(STREAM, &r, kn__cuda_tensor(g, t->src[0]), kn__cuda_tensor(g, t)));
    return KN_OK;
}

static void factors(const kn_tensor *t, kn__cuda_resize *r) {
    r->sh = t->iparam[0], r->sw = t->iparam[1];
    r->bilinear = t->iparam[2] == KN_INTERP_BILINEAR;
}

/* x (N, H, W, C) -> y (N, H sh, W sw, C) */
kn_status kn__cuda_k_upsample2d(kn_graph *g, kn_tensor *t) {
    kn__cuda_resize r = resize_of(g, t->src[0], t);
    factors(t, &r);
    LAUNCH(kn__cu_upsample2d(STREAM, &r, kn__cuda_tensor(g, t->src[0]), kn__cuda_tensor(g, t)));
    return KN_OK;
}

/* dy (N, H sh, W sw, C) -> dx (N, H, W, C), the node's own shape */
kn_status kn__cuda_k_upsample2d_grad(kn_graph *g, kn_tensor *t) {
    kn__cuda_resize r = resize_of(g, t, t->src[0]);
    factors(t, &r);
    LAUNCH(kn__cu_upsample2d_grad(STREAM, &r, kn__cuda_tensor(g, t->src[0]), kn__cuda_tensor(g, t)));
    return KN_OK;
}

/* x (N, H, W, C) -> y (N, OH, OW, C), the node's own shape */
kn_status kn__cuda_k_resize2d(kn_graph *g, kn_tensor *t) {
    kn__cuda_resize r = resize_of(g, t->src[0], t);
    r.bilinear = t->iparam[2] == KN_INTERP_BILINEAR;
    LAUNCH(kn__cu_resize2d(STREAM, &r, kn__cuda_tensor(g, t->src[0]), kn__cuda_tensor(g, t)));
    return KN_OK;
}

/* dy (N, OH, OW, C) -> dx (N, H, W, C), the node's own shape */
kn_status kn__cuda_k_resize2d_grad(kn_graph *g, kn_tensor *t) {
    kn__cuda_resize r = resize_of(g, t, t->src[0]);
    r.bilinear = t->iparam[2] == KN_INTERP_BILINEAR;
    LAUNCH(kn__cu_resize2d_grad(STREAM, &r, kn__cuda_tensor(g, t->src[0]), kn__cuda_tensor(g, t)));
    return KN_OK;
}
