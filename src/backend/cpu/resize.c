/* resize.c — padding and cropping (graph.h's KN_OP_PAD2D), upsampling (KN_OP_UPSAMPLE2D,
 * nearest or bilinear, and its gradient) and resizing to any size (KN_OP_RESIZE2D and its
 * gradient) on the CPU, NHWC, over whole rows with kn__parallel_for:
 *
 *   pad2d          y rows (n, oy): zeros, or x's row iy = oy - top copied at column left
 *                  (cropped where left or the right amount is negative)        rows (n, oy)
 *   upsample2d     y rows (n, oy): nearest copies x's cell (oy / sh, ox / sw); bilinear mixes
 *                  four cells (backend/resize_formulas.h)                      rows (n, oy)
 *   upsample2d_grad dx rows (n, iy): each cell sums, over the outputs that read it, dy times
 *                  their weight: nearest its sh x sw block in row order; bilinear row by row
 *                  of outputs (each row's sum times the row's weight), in order  rows (n, iy)
 *   resize2d       y rows (n, oy): as upsample2d, the source cells and weights from the float
 *                  scale H / OH (kn__nearest_at, kn__linear_at)                 rows (n, oy)
 *   resize2d_grad  dx rows (n, iy): as upsample2d_grad over the outputs kn__resize_readers
 *                  names, those that read the cell, in order; nearest by rows too   rows (n, iy)
 *
 * Every element is written by one thread in a fixed order (a gather, never a scatter), so
 * any thread count gives the same bits, and the CUDA kernels (cuda/kernels_resize.cu) the
 * same bits as these: the same operations in the same order. f32 only. */
#include "cpu.h"
#include "backend/resize_formulas.h"

#include <string.h>

/* Channels summed together in the gradients' registers. */
#define RS_BLOCK 64

typedef struct rs_args {
    int64_t h, w, c;   /* the image side (x, or dx): (N, H, W, C) */
    int64_t oh, ow;    /* the other side (y, or dy): (N, OH, OW, C) */
    int top, left;     /* pad2d's amounts on the leading sides */
    int sh, sw;        /* upsampling factors */
    float inv_h, inv_w; /* bilinear: 1 / sh, 1 / sw (kn__resize_inv) */
    float scale_h, scale_w; /* resize2d: H / OH, W / OW (kn__resize_scale) */
    bool bilinear;
    const float *in;   /* x, or dy */
    float *out;        /* y, or dx */
    /* a gradient's cell: acc[0, n) = dx at (iy, ix), channels [c0, c0 + n), from dyn (dy's image) */
    void (*cell)(const struct rs_args *a, const float *dyn, int64_t iy, int64_t ix, int64_t c0, int64_t n, float *restrict acc);
} rs_args;

/* ------------------------------------------------------------- padding and cropping */

/* y rows r = n OH + oy for elements [lo, hi) (whole rows of OW*C). */
static void pad_rows(void *p, int64_t lo, int64_t hi) {
    const rs_args *a = p;
    const int64_t c = a->c, row = a->ow * c;
    /* the columns inside x: ox in [x0, x1) reads ix = ox - left */
    int64_t x0 = a->left > 0 ? a->left : 0, x1 = a->w + a->left < a->ow ? a->w + a->left : a->ow;
    if (x1 < x0) x1 = x0;
    for (int64_t r = lo / row; r < hi / row; r++) {
        int64_t n = r / a->oh, iy = r % a->oh - a->top;
        float *y = a->out + r * row;
        if (iy < 0 || iy >= a->h || x0 == x1) {
            memset(y, 0, (size_t)row * sizeof(float));
            continue;
        }
        memset(y, 0, (size_t)(x0 * c) * sizeof(float));
        memcpy(y + x0 * c, a->in + ((n * a->h + iy) * a->w + x0 - a->left) * c, (size_t)((x1 - x0) * c) * sizeof(float));
        memset(y + x1 * c, 0, (size_t)((a->ow - x1) * c) * sizeof(float));
    }
}

/* x (N, H, W, C) -> y (N, H + top + bottom, W + left + right, C); dy -> dx likewise with the
 * amounts negated (the backward's node is another pad2d). */
void kn__cpu_pad2d(kn_graph *g, kn_tensor *t) {
    const kn_tensor *x = t->src[0];
    rs_args a = {.h = x->ne[1], .w = x->ne[2], .c = x->ne[3], .oh = t->ne[1], .ow = t->ne[2], .top = t->iparam[0],
                 .left = t->iparam[2], .in = x->data, .out = t->data};
    kn__parallel_for(g, kn__numel(t), a.ow * a.c, pad_rows, &a);
}

/* ------------------------------------------------------------- upsampling */

static rs_args upsample_args(const kn_tensor *t, const kn_tensor *img, const kn_tensor *big) {
    rs_args a = {.h = img->ne[1], .w = img->ne[2], .c = img->ne[3], .oh = big->ne[1], .ow = big->ne[2],
                 .sh = t->iparam[0], .sw = t->iparam[1], .bilinear = t->iparam[2] == KN_INTERP_BILINEAR};
    a.inv_h = kn__resize_inv(a.sh), a.inv_w = kn__resize_inv(a.sw);
    return a;
}

/* Bilinear output cell yc (c channels): rows r0 and r1 (the input rows ly reads, (W, C)) at
 * the columns lx reads, mixed (kn__bilinear_mix). */
static inline void mix_cell(float *restrict yc, kn__lerp ly, kn__lerp lx, const float *r0, const float *r1, int64_t c) {
    const float *p00 = r0 + lx.i0 * c, *p01 = r0 + lx.i1 * c, *p10 = r1 + lx.i0 * c, *p11 = r1 + lx.i1 * c;
    for (int64_t k = 0; k < c; k++) yc[k] = kn__bilinear_mix(ly, lx, p00[k], p01[k], p10[k], p11[k]);
}

/* y rows r = n OH + oy for elements [lo, hi) (whole rows of OW*C). */
static void upsample_rows(void *p, int64_t lo, int64_t hi) {
    const rs_args *a = p;
    const int64_t c = a->c, row = a->ow * c;
    for (int64_t r = lo / row; r < hi / row; r++) {
        int64_t n = r / a->oh, oy = r % a->oh;
        float *y = a->out + r * row;
        if (!a->bilinear) {
            const float *xr = a->in + (n * a->h + oy / a->sh) * a->w * c; /* (W, C) */
            for (int64_t ox = 0; ox < a->ow; ox++) memcpy(y + ox * c, xr + ox / a->sw * c, (size_t)c * sizeof(float));
            continue;
        }
        kn__lerp ly = kn__bilinear_at(oy, a->h, a->sh, a->inv_h);
        const float *r0 = a->in + (n * a->h + ly.i0) * a->w * c, *r1 = a->in + (n * a->h + ly.i1) * a->w * c;
        for (int64_t ox = 0; ox < a->ow; ox++) mix_cell(y + ox * c, ly, kn__bilinear_at(ox, a->w, a->sw, a->inv_w), r0, r1, c);
    }
}

void kn__cpu_upsample2d(kn_graph *g, kn_tensor *t) {
    rs_args a = upsample_args(t, t->src[0], t);
    a.in = t->src[0]->data, a.out = t->data;
    kn__parallel_for(g, kn__numel(t), a.ow * a.c, upsample_rows, &a);
}

/* ------------------------------------------------------------- upsampling's gradient */

/* acc[0, n) = nearest: the sum of cell (iy, ix)'s sh x sw block of dy (channels [c0, c0 + n)),
 * in row order; dyn: dy's image n. */
static void nearest_cell(const rs_args *a, const float *dyn, int64_t iy, int64_t ix, int64_t c0, int64_t n,
                         float *restrict acc) {
    for (int64_t k = 0; k < n; k++) acc[k] = 0.0f;
    for (int64_t oy = iy * a->sh; oy < (iy + 1) * a->sh; oy++)
        for (int64_t ox = ix * a->sw; ox < (ix + 1) * a->sw; ox++) {
            const float *restrict d = dyn + (oy * a->ow + ox) * a->c + c0;
            for (int64_t k = 0; k < n; k++) acc[k] += d[k];
        }
}

/* acc[0, n) = bilinear: over the output rows oy reading row iy, in order, the row's weight
 * times (over its outputs ox reading column ix, in order, their weight times dy). */
static void bilinear_cell(const rs_args *a, const float *dyn, int64_t iy, int64_t ix, int64_t c0, int64_t n,
                          float *restrict acc) {
    int64_t y0, y1, x0, x1;
    kn__bilinear_readers(iy, a->sh, a->oh, &y0, &y1);
    kn__bilinear_readers(ix, a->sw, a->ow, &x0, &x1);
    float row[RS_BLOCK];
    for (int64_t k = 0; k < n; k++) acc[k] = 0.0f;
    for (int64_t oy = y0; oy < y1; oy++) {
        kn__lerp ly = kn__bilinear_at(oy, a->h, a->sh, a->inv_h);
        if (!kn__lerp_reads(ly, iy)) continue;
        float wy = kn__lerp_weight(ly, iy);
        for (int64_t k = 0; k < n; k++) row[k] = 0.0f;
        for (int64_t ox = x0; ox < x1; ox++) {
            kn__lerp lx = kn__bilinear_at(ox, a->w, a->sw, a->inv_w);
            if (!kn__lerp_reads(lx, ix)) continue;
            float wx = kn__lerp_weight(lx, ix);
            const float *restrict d = dyn + (oy * a->ow + ox) * a->c + c0;
            for (int64_t k = 0; k < n; k++) row[k] += kn__resize_mul(wx, d[k]);
        }
        for (int64_t k = 0; k < n; k++) acc[k] += kn__resize_mul(wy, row[k]);
    }
}

/* dx rows r = n H + iy for elements [lo, hi) (whole rows of W*C), RS_BLOCK channels at a
 * time, each block a->cell's (upsampling's or resizing's gradient). */
static void grad_rows(void *p, int64_t lo, int64_t hi) {
    const rs_args *a = p;
    const int64_t c = a->c, row = a->w * c;
    for (int64_t r = lo / row; r < hi / row; r++) {
        int64_t n = r / a->h, iy = r % a->h;
        const float *dyn = a->in + n * a->oh * a->ow * c;
        for (int64_t ix = 0; ix < a->w; ix++)
            for (int64_t c0 = 0; c0 < c; c0 += RS_BLOCK) {
                int64_t m = c - c0 < RS_BLOCK ? c - c0 : RS_BLOCK;
                a->cell(a, dyn, iy, ix, c0, m, a->out + (r * a->w + ix) * c + c0);
            }
    }
}

/* dy (N, H sh, W sw, C) -> dx (N, H, W, C), the node's own shape. */
void kn__cpu_upsample2d_grad(kn_graph *g, kn_tensor *t) {
    rs_args a = upsample_args(t, t, t->src[0]);
    a.in = t->src[0]->data, a.out = t->data;
    a.cell = a.bilinear ? bilinear_cell : nearest_cell;
    kn__parallel_for(g, kn__numel(t), a.w * a.c, grad_rows, &a);
}

/* ------------------------------------------------------------- resizing to any size */

static rs_args resize_args(const kn_tensor *t, const kn_tensor *img, const kn_tensor *big) {
    rs_args a = {.h = img->ne[1], .w = img->ne[2], .c = img->ne[3], .oh = big->ne[1], .ow = big->ne[2],
                 .bilinear = t->iparam[2] == KN_INTERP_BILINEAR};
    a.scale_h = kn__resize_scale(a.h, a.oh), a.scale_w = kn__resize_scale(a.w, a.ow);
    return a;
}

/* y rows r = n OH + oy for elements [lo, hi) (whole rows of OW*C). */
static void resize_rows(void *p, int64_t lo, int64_t hi) {
    const rs_args *a = p;
    const int64_t c = a->c, row = a->ow * c;
    for (int64_t r = lo / row; r < hi / row; r++) {
        int64_t n = r / a->oh, oy = r % a->oh;
        float *y = a->out + r * row;
        if (!a->bilinear) {
            const float *xr = a->in + (n * a->h + kn__nearest_at(oy, a->h, a->scale_h)) * a->w * c; /* (W, C) */
            for (int64_t ox = 0; ox < a->ow; ox++)
                memcpy(y + ox * c, xr + kn__nearest_at(ox, a->w, a->scale_w) * c, (size_t)c * sizeof(float));
            continue;
        }
        kn__lerp ly = kn__linear_at(oy, a->h, a->scale_h);
        const float *r0 = a->in + (n * a->h + ly.i0) * a->w * c, *r1 = a->in + (n * a->h + ly.i1) * a->w * c;
        for (int64_t ox = 0; ox < a->ow; ox++) mix_cell(y + ox * c, ly, kn__linear_at(ox, a->w, a->scale_w), r0, r1, c);
    }
}

/* x (N, H, W, C) -> y (N, OH, OW, C), the node's own shape. */
void kn__cpu_resize2d(kn_graph *g, kn_tensor *t) {
    rs_args a = resize_args(t, t->src[0], t);
    a.in = t->src[0]->data, a.out = t->data;
    kn__parallel_for(g, kn__numel(t), a.ow * a.c, resize_rows, &a);
}

/* The weight output cell o gives input cell i on a resized axis (n cells, the scale): 0 where
 * it does not read i (nearest: 1 where it does). */
static float resize_weight(bool bilinear, int64_t o, int64_t i, int64_t n, float scale, bool *reads) {
    if (!bilinear) {
        *reads = kn__nearest_at(o, n, scale) == i;
        return 1.0f;
    }
    kn__lerp L = kn__linear_at(o, n, scale);
    *reads = kn__lerp_reads(L, i);
    return kn__lerp_weight(L, i);
}

/* acc[0, n) = over the output rows oy reading row iy, in order, the row's weight times (over
 * its outputs ox reading column ix, in order, their weight times dy); nearest's weights are 1
 * and multiply nothing (sums alone, as upsampling's nearest gradient). */
static void resize_cell(const rs_args *a, const float *dyn, int64_t iy, int64_t ix, int64_t c0, int64_t n,
                        float *restrict acc) {
    int64_t y0, y1, x0, x1;
    kn__resize_readers(iy, a->h, a->oh, &y0, &y1);
    kn__resize_readers(ix, a->w, a->ow, &x0, &x1);
    float row[RS_BLOCK];
    for (int64_t k = 0; k < n; k++) acc[k] = 0.0f;
    for (int64_t oy = y0; oy < y1; oy++) {
        bool reads;
        float wy = resize_weight(a->bilinear, oy, iy, a->h, a->scale_h, &reads);
        if (!reads) continue;
        for (int64_t k = 0; k < n; k++) row[k] = 0.0f;
        for (int64_t ox = x0; ox < x1; ox++) {
            float wx = resize_weight(a->bilinear, ox, ix, a->w, a->scale_w, &reads);
            if (!reads) continue;
            const float *restrict d = dyn + (oy * a->ow + ox) * a->c + c0;
            if (a->bilinear)
                for (int64_t k = 0; k < n; k++) row[k] += kn__resize_mul(wx, d[k]);
            else
                for (int64_t k = 0; k < n; k++) row[k] += d[k];
        }
        if (a->bilinear)
            for (int64_t k = 0; k < n; k++) acc[k] += kn__resize_mul(wy, row[k]);
        else
            for (int64_t k = 0; k < n; k++) acc[k] += row[k];
    }
}

/* dy (N, OH, OW, C) -> dx (N, H, W, C), the node's own shape. */
void kn__cpu_resize2d_grad(kn_graph *g, kn_tensor *t) {
    rs_args a = resize_args(t, t, t->src[0]);
    a.in = t->src[0]->data, a.out = t->data;
    a.cell = resize_cell;
    kn__parallel_for(g, kn__numel(t), a.w * a.c, grad_rows, &a);
}
