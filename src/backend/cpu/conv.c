/* conv.c — the pooling kernels over NHWC images (the convolutions are in conv_gemm.c):
 * max and average pooling with their gradients. Inner loops run over the channels, which
 * are contiguous. The gradients accumulate, so they split the work by whole images and
 * each sum is taken in one fixed order whatever the thread count.
 *
 * Mixed precision (graph/passes/precision.c): any of x, dy, y/dx and the fused activation's
 * value may be stored half. The kernels work an image at a time, so a half image is widened
 * whole into the thread's planned scratch (kn__cpu_pool2d_scratch and _grad_scratch), and a
 * half output image computed there in f32 and narrowed; f32 tensors are used in place. */
#include "cpu.h"
#include "core/pool.h"

#include <math.h>
#include <string.h>

typedef struct {
    const kn_tensor *x, *dy; /* x: the forward's input (max pooling's gradient reads it too) */
    kn_tensor *y;            /* the output: y, or dx for the gradients */
    const kn_tensor *act_v;  /* gradients: an activation's value to apply its gradient at (fuse pass), or NULL */
    kn_activation act;
    float alpha;
    int64_t h, w, c, k; /* image height, width, channels; im2col row length */
    kn__win win;
    float *scratch;     /* the node's scratch: one slot of slot_floats per thread */
    size_t slot_floats;
} win_args;

static win_args args_of(kn_tensor *t, const kn_tensor *img) {
    return (win_args){.h = img->ne[1], .w = img->ne[2], .c = img->ne[3], .win = kn__win_unpack(t), .y = t,
                      .scratch = t->scratch};
}

/* Floats of a half tensor's image (n floats) in a thread's slot, else nothing. */
static size_t if_half(const kn_tensor *t, int64_t n) { return t && kn__is_half(t) ? (size_t)n : 0; }

/* This thread's slot, or NULL when the kernel needs none (all f32). */
static float *slot_of(const win_args *a) {
    return a->slot_floats ? a->scratch + (size_t)kn__pool_slot() * a->slot_floats : NULL;
}

/* Place [off, ...) of a slot, or NULL without one (a pointer kn__read_f32 and
 * kn__write_f32 ignore for f32 tensors). */
static float *at(float *slot, size_t off) { return slot ? slot + off : NULL; }

/* The valid range [lo, hi) of window taps k (position o*s - p + k*d in [0, n)). */
static void taps(int64_t o, int s, int p, int d, int kn, int64_t n, int *lo, int *hi) {
    int64_t base = o * s - p;
    int a = 0, b = kn;
    while (a < b && base + (int64_t)a * d < 0) a++;
    while (b > a && base + (int64_t)(b - 1) * d >= n) b--;
    *lo = a, *hi = b;
}

/* ------------------------------------------------------------- pooling */

/* Forward pooling of one image: img (H, W, C) -> out (OH, OW, C). */
static void pool_image(const win_args *a, const float *img, float *out, bool max) {
    const kn__win *w = &a->win;
    int64_t c = a->c;
    for (int64_t oy = 0; oy < w->oh; oy++)
        for (int64_t ox = 0; ox < w->ow; ox++) {
            float *restrict o = out + (oy * w->ow + ox) * c;
            int y0, y1, x0, x1;
            taps(oy, w->sh, w->pt, 1, w->kh, a->h, &y0, &y1);
            taps(ox, w->sw, w->pl, 1, w->kw, a->w, &x0, &x1);
            for (int64_t i = 0; i < c; i++) o[i] = max ? -INFINITY : 0.0f;
            for (int ky = y0; ky < y1; ky++)
                for (int kx = x0; kx < x1; kx++) {
                    const float *restrict v = img + ((oy * w->sh - w->pt + ky) * a->w + ox * w->sw - w->pl + kx) * c;
                    if (max)
                        for (int64_t i = 0; i < c; i++) o[i] = v[i] > o[i] ? v[i] : o[i];
                    else
                        for (int64_t i = 0; i < c; i++) o[i] += v[i];
                }
            if (!max) {
                float inv = 1.0f / (float)((y1 - y0) * (x1 - x0));
                for (int64_t i = 0; i < c; i++) o[i] *= inv;
            }
        }
}

/* Forward pooling over output images [lo, hi) (elements of y, whole images); a thread's
 * slot holds a half x image, then a half y image. */
static void pool_range(const win_args *a, int64_t lo, int64_t hi, bool max) {
    int64_t in_size = a->h * a->w * a->c, out_size = (int64_t)a->win.oh * a->win.ow * a->c;
    float *slot = slot_of(a);
    for (int64_t n = lo / out_size; n < hi / out_size; n++) {
        const float *img = kn__read_f32(a->x, n * in_size, in_size, at(slot, 0));
        float *out = kn__write_f32(a->y, n * out_size, at(slot, if_half(a->x, in_size)));
        pool_image(a, img, out, max);
        kn__write_done(a->y, n * out_size, out_size, out);
    }
}

static void maxpool_range(void *p, int64_t lo, int64_t hi) { pool_range(p, lo, hi, true); }
static void avgpool_range(void *p, int64_t lo, int64_t hi) { pool_range(p, lo, hi, false); }

/* A thread's slot: a half x image, then a half y image. */
static size_t pool_slot_floats(const kn_tensor *t) {
    const kn_tensor *x = t->src[0];
    return if_half(x, x->ne[1] * x->ne[2] * x->ne[3]) + if_half(t, t->ne[1] * t->ne[2] * t->ne[3]);
}

size_t kn__cpu_pool2d_scratch(const kn_graph *g, const kn_tensor *t) {
    return (size_t)kn_ctx_threads(g->ctx) * pool_slot_floats(t) * sizeof(float);
}

static void pool(kn_graph *g, kn_tensor *t, kn__range_fn fn) {
    win_args a = args_of(t, t->src[0]);
    a.x = t->src[0];
    a.slot_floats = pool_slot_floats(t);
    kn__parallel_for(g, kn__numel(t), (int64_t)a.win.oh * a.win.ow * a.c, fn, &a);
}

void kn__cpu_maxpool2d(kn_graph *g, kn_tensor *t) { pool(g, t, maxpool_range); }
void kn__cpu_avgpool2d(kn_graph *g, kn_tensor *t) { pool(g, t, avgpool_range); }

/* Channels handled at once when finding each window's first maximum again. */
#define POOL_BLOCK 256

/* A relu's gradient at the pooling's own input, taken at each window's maximum (below). */
static bool relu_at_max_of(const win_args *a, bool max) {
    const kn__win *w = &a->win;
    const bool tiles = max && w->sh == w->kh && w->sw == w->kw && w->pt == 0 && w->pl == 0;
    return tiles && a->act_v && a->x && a->act_v->data == a->x->data && a->act == KN_RELU;
}

/* The pooling gradient of one image: dx (H, W, C) from dy (OH, OW, C) and, for max
 * pooling, the forward's input img (H, W, C); act_v, the fused activation's value at this
 * image (f32), or NULL (none, or half: the caller applies it). */
static void pool_grad_image(const win_args *a, float *dx, const float *img, const float *dyi, const float *act_v,
                            bool max) {
    const kn__win *w = &a->win;
    int64_t c = a->c, img_size = a->h * a->w * c;
    /* windows that tile the image (stride = size, no padding): every cell is in one window
     * at most, so each window's cells are written once (the maximum's gradient or zero)
     * instead of zeroing the image first and adding into it */
    const bool tiles = max && w->sh == w->kh && w->sw == w->kw && w->pt == 0 && w->pl == 0;
    const bool covered = tiles && (int64_t)w->oh * w->kh == a->h && (int64_t)w->ow * w->kw == a->w;
    /* a relu's gradient at the pooling's own input (the fused relu_grad of the layer that
     * made it, cnn.json's conv2): only each window's maximum gets a gradient, so the relu's
     * test is that maximum > 0, taken while writing, with no second pass over the image */
    const bool relu_at_max = relu_at_max_of(a, max);
    if (!covered) memset(dx, 0, (size_t)img_size * sizeof(float));
    for (int64_t oy = 0; oy < w->oh; oy++)
        for (int64_t ox = 0; ox < w->ow; ox++) {
            const float *d = dyi + (oy * w->ow + ox) * c;
            int y0, y1, x0, x1;
            taps(oy, w->sh, w->pt, 1, w->kh, a->h, &y0, &y1);
            taps(ox, w->sw, w->pl, 1, w->kw, a->w, &x0, &x1);
            int64_t corner = (oy * w->sh - w->pt) * a->w + ox * w->sw - w->pl; /* cell of tap (0, 0) */
            if (!max) {
                float inv = 1.0f / (float)((y1 - y0) * (x1 - x0));
                for (int ky = y0; ky < y1; ky++)
                    for (int kx = x0; kx < x1; kx++) {
                        float *restrict o = dx + (corner + (int64_t)ky * a->w + kx) * c;
                        for (int64_t i = 0; i < c; i++) o[i] += d[i] * inv;
                    }
                continue;
            }
            for (int64_t c0 = 0; c0 < c; c0 += POOL_BLOCK) {
                int64_t cn = c - c0 < POOL_BLOCK ? c - c0 : POOL_BLOCK;
                float best[POOL_BLOCK];
                /* the maximum's place in the window's scan (its cells in row order), 32-bit
                 * beside the 32-bit floats so that the scan vectorizes (with 64-bit cell
                 * numbers: 1.3-1.4x slower, the 3-D CNN's pooling gradients) */
                int32_t arg[POOL_BLOCK];
                for (int64_t i = 0; i < cn; i++) best[i] = -INFINITY, arg[i] = 0;
                int32_t t = 0;
                for (int ky = y0; ky < y1; ky++)
                    for (int kx = x0; kx < x1; kx++, t++) {
                        const float *v = img + (corner + (int64_t)ky * a->w + kx) * c + c0;
                        for (int64_t i = 0; i < cn; i++) { /* strict: the first maximum; no branch
                                                              * (random data mispredicts half of them) */
                            bool gt = v[i] > best[i];
                            arg[i] = gt ? t : arg[i];
                            best[i] = gt ? v[i] : best[i];
                        }
                    }
                t = 0;
                for (int ky = y0; ky < y1; ky++)
                    for (int kx = x0; kx < x1; kx++, t++) {
                        float *restrict o = dx + (corner + (int64_t)ky * a->w + kx) * c + c0;
                        if (tiles)
                            for (int64_t i = 0; i < cn; i++)
                                o[i] = arg[i] == t && (!relu_at_max || best[i] > 0) ? d[c0 + i] : 0.0f;
                        else /* (+0: a no-op on dx's sums, which are never -0) */
                            for (int64_t i = 0; i < cn; i++) o[i] += arg[i] == t ? d[c0 + i] : 0.0f;
                    }
            }
        }
    if (act_v && !relu_at_max) kn__act_grad_apply(a->act, a->alpha, dx, act_v, dx, img_size);
}

/* A thread's slot for the gradients: a half dx image, a half x image (max pooling), then a
 * half dy image. */
static size_t grad_slot_floats(const kn_tensor *t, bool max) {
    int64_t img = t->ne[1] * t->ne[2] * t->ne[3], out = t->src[0]->ne[1] * t->src[0]->ne[2] * t->src[0]->ne[3];
    return if_half(t, img) + (max ? if_half(t->src[1], img) : 0) + if_half(t->src[0], out);
}

/* Pooling gradients over images [lo, hi) (elements of dx, whole images). A half activation
 * value the image's gradient is taken at is widened a block at a time afterwards. */
static void pool_grad_range(const win_args *a, int64_t lo, int64_t hi, bool max) {
    int64_t img_size = a->h * a->w * a->c, out_size = (int64_t)a->win.oh * a->win.ow * a->c;
    float *slot = slot_of(a);
    size_t at_x = if_half(a->y, img_size), at_dy = at_x + (max ? if_half(a->x, img_size) : 0);
    bool half_v = a->act_v && kn__is_half(a->act_v) && !relu_at_max_of(a, max);
    for (int64_t n = lo / img_size; n < hi / img_size; n++) {
        float *dx = kn__write_f32(a->y, n * img_size, at(slot, 0));
        const float *img = max ? kn__read_f32(a->x, n * img_size, img_size, at(slot, at_x)) : NULL;
        const float *dyi = kn__read_f32(a->dy, n * out_size, out_size, at(slot, at_dy));
        const float *v = a->act_v && !kn__is_half(a->act_v) ? (const float *)a->act_v->data + n * img_size : NULL;
        pool_grad_image(a, dx, img, dyi, v, max);
        float vb[KN_HALF_BLOCK];
        for (int64_t i = 0; half_v && i < img_size; i += KN_HALF_BLOCK) {
            int64_t m = img_size - i < KN_HALF_BLOCK ? img_size - i : KN_HALF_BLOCK;
            kn__act_grad_apply(a->act, a->alpha, dx + i, kn__read_f32(a->act_v, n * img_size + i, m, vb), dx + i, m);
        }
        kn__write_done(a->y, n * img_size, img_size, dx);
    }
}

static void maxpool_grad_range(void *p, int64_t lo, int64_t hi) { pool_grad_range(p, lo, hi, true); }
static void avgpool_grad_range(void *p, int64_t lo, int64_t hi) { pool_grad_range(p, lo, hi, false); }

/* The activation gradient the fuse pass gave a pooling gradient (src[2], iparam[4]). */
static void act_of(win_args *a, const kn_tensor *t) {
    a->act_v = t->src[2];
    a->act = (kn_activation)t->iparam[4];
    a->alpha = t->fparam[0];
}

size_t kn__cpu_maxpool2d_grad_scratch(const kn_graph *g, const kn_tensor *t) {
    return (size_t)kn_ctx_threads(g->ctx) * grad_slot_floats(t, true) * sizeof(float);
}

size_t kn__cpu_avgpool2d_grad_scratch(const kn_graph *g, const kn_tensor *t) {
    return (size_t)kn_ctx_threads(g->ctx) * grad_slot_floats(t, false) * sizeof(float);
}

void kn__cpu_maxpool2d_grad(kn_graph *g, kn_tensor *t) {
    win_args a = args_of(t, t);
    act_of(&a, t);
    a.dy = t->src[0];
    a.x = t->src[1];
    a.slot_floats = grad_slot_floats(t, true);
    kn__parallel_for(g, kn__numel(t), a.h * a.w * a.c, maxpool_grad_range, &a);
}

void kn__cpu_avgpool2d_grad(kn_graph *g, kn_tensor *t) {
    win_args a = args_of(t, t);
    act_of(&a, t);
    a.dy = t->src[0];
    a.slot_floats = grad_slot_floats(t, false);
    kn__parallel_for(g, kn__numel(t), a.h * a.w * a.c, avgpool_grad_range, &a);
}
