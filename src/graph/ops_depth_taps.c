/* ops_depth_taps.c — a 3-D convolution's depth taps gathered as channels (nn/model_volume.c's
 * conv3d), one op where pads, crops and concatenations made five copies: x (N, D H, W, C), a
 * volume's view, -> (N, OD H, W, KD C), whose (od, h, w) cell holds the KD input cells
 * (od stride + t dilation - front, h, w) side by side (zeros outside the depth), so that one
 * conv2d over the (N OD, H, W, KD C) images with a (KH KW KD C, F) kernel is the 3-D
 * convolution. Its gradient (KN_OP_DEPTH_TAPS_GRAD) gathers for each x cell the dy cells that
 * copied it; that gradient is also a transposed 3-D convolution's depth part
 * (nn/model_conv3d_transpose.c), so it has a backward too (the taps). The kernels are
 * backend/cpu/depth_taps.c's and the CUDA backend's. */
#include "graph.h"

static bool geometry_ok(const int32_t *p) {
    /* (D, KD, stride, dilation, front, OD): sizes the graph's int32 shapes hold */
    return p[0] >= 1 && p[1] >= 1 && p[1] <= 255 && p[2] >= 1 && p[2] <= 255 && p[3] >= 1 && p[3] <= 255 && p[4] >= 0 &&
           p[5] >= 1;
}

static kn_tensor *taps_node(kn_graph *g, kn_op op, kn_tensor *x, const int32_t *p) {
    kn_tensor *t = kn__node(g, op, x, NULL, NULL);
    if (!t) return NULL;
    for (int k = 0; k < 6; k++) t->iparam[k] = p[k];
    return kn__finish(g, t);
}

kn_tensor *kn__depth_taps(kn_graph *g, kn_tensor *x, int d, int taps, int stride, int dilation, int front, int out_d) {
    if (!g || g->status != KN_OK) return NULL;
    return taps_node(g, KN_OP_DEPTH_TAPS, x, (const int32_t[6]){d, taps, stride, dilation, front, out_d});
}
kn_tensor *kn__depth_taps_sum(kn_graph *g, kn_tensor *dy, int d, int taps, int stride, int dilation, int front, int out_d) {
    if (!g || g->status != KN_OK) return NULL;
    return taps_node(g, KN_OP_DEPTH_TAPS_GRAD, dy, (const int32_t[6]){d, taps, stride, dilation, front, out_d});
}

/* x (N, rows_in H, W, C) with H whole: into t as (N, rows_out H, W, chan C). */
static bool infer_common(kn_graph *g, kn_tensor *t, int64_t rows_in, int64_t rows_out, int64_t chan_in, int64_t chan_out) {
    const kn_tensor *x = t->src[0];
    char sx[64];
    if (!geometry_ok(t->iparam) || x->dtype != KN_F32 || x->ndim != 4 || kn__batch_rows(x) != 1 ||
        x->shape[1] == KN_BATCH || x->shape[1] % rows_in != 0 || x->shape[3] % chan_in != 0)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: %s is not a volume view (batch, D H, W, C) for depth %d, %d taps",
                              t->name, kn__shape_str(x, sx, sizeof sx), t->iparam[0], t->iparam[1]);
    int64_t h = x->shape[1] / rows_in, c = x->shape[3] / chan_in;
    t->dtype = KN_F32;
    t->ndim = 4;
    t->shape[0] = x->shape[0];
    t->shape[1] = rows_out * h;
    t->shape[2] = x->shape[2];
    t->shape[3] = chan_out * c;
    t->batch_rows = 1;
    return true;
}

bool kn__infer_depth_taps(kn_graph *g, kn_tensor *t) {
    return infer_common(g, t, t->iparam[0], t->iparam[5], 1, t->iparam[1]);
}
bool kn__infer_depth_taps_grad(kn_graph *g, kn_tensor *t) {
    return infer_common(g, t, t->iparam[5], t->iparam[0], t->iparam[1], 1);
}

void kn__backward_depth_taps(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn__grad_accumulate(g, t->src[0], taps_node(g, KN_OP_DEPTH_TAPS_GRAD, dy, t->iparam));
}
/* (the sum's own gradient, a conv3d_transpose's: the taps of its dy) */
void kn__backward_depth_taps_sum(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn__grad_accumulate(g, t->src[0], taps_node(g, KN_OP_DEPTH_TAPS, dy, t->iparam));
}

kn__depth_geom kn__depth_taps_geom(const kn_tensor *t) {
    const kn_tensor *y = t->op == KN_OP_DEPTH_TAPS ? t : t->src[0]; /* the taps' shape: (N, OD H, W, KD C) */
    kn__depth_geom q = {.n = t->ne[0], .d = t->iparam[0], .taps = t->iparam[1], .stride = t->iparam[2],
                        .dilation = t->iparam[3], .front = t->iparam[4], .od = t->iparam[5]};
    q.hw = y->ne[1] / q.od * y->ne[2];
    q.c = y->ne[3] / q.taps;
    return q;
}
