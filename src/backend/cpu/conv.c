/* conv.c — the pooling kernels over NHWC images (the convolutions are in conv_gemm.c):
 * max and average pooling with their gradients. Inner loops run over the channels, which
 * are contiguous. The gradients accumulate, so they split the work by whole images and
 * each sum is taken in one fixed order whatever the thread count. */
#include "cpu.h"

#include <math.h>
#include <string.h>

typedef struct {
    const float *x, *dy;
    float *y;
    const float *act_v;   /* gradients: an activation's value to apply its gradient at (fuse pass), or NULL */
    kn_activation act;
    float alpha;
    int64_t h, w, c, k; /* image height, width, channels; im2col row length */
    kn__win win;
} win_args;

static win_args args_of(kn_tensor *t, const kn_tensor *img) {
    return (win_args){.h = img->ne[1], .w = img->ne[2], .c = img->ne[3], .win = kn__win_unpack(t)};
}

/* The valid range [lo, hi) of window taps k (position o*s - p + k*d in [0, n)). */
static void taps(int64_t o, int s, int p, int d, int kn, int64_t n, int *lo, int *hi) {
    int64_t base = o * s - p;
    int a = 0, b = kn;
    while (a < b && base + (int64_t)a * d < 0) a++;
    while (b > a && base + (int64_t)(b - 1) * d >= n) b--;
    *lo = a, *hi = b;
}

/* ------------------------------------------------------------- pooling */

/* Forward pooling over output images [lo, hi) (elements of y, whole images). */
static void pool_range(const win_args *a, int64_t lo, int64_t hi, bool max) {
    const kn__win *w = &a->win;
    int64_t c = a->c, out_size = (int64_t)w->oh * w->ow * c;
    for (int64_t n = lo / out_size; n < hi / out_size; n++) {
        const float *img = a->x + n * a->h * a->w * c;
        for (int64_t oy = 0; oy < w->oh; oy++)
            for (int64_t ox = 0; ox < w->ow; ox++) {
                float *restrict o = a->y + n * out_size + (oy * w->ow + ox) * c;
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
}

static void maxpool_range(void *p, int64_t lo, int64_t hi) { pool_range(p, lo, hi, true); }
static void avgpool_range(void *p, int64_t lo, int64_t hi) { pool_range(p, lo, hi, false); }

static void pool(kn_graph *g, kn_tensor *t, kn__range_fn fn) {
    win_args a = args_of(t, t->src[0]);
    a.x = t->src[0]->data;
    a.y = t->data;
    kn__parallel_for(g, kn__numel(t), (int64_t)a.win.oh * a.win.ow * a.c, fn, &a);
}

void kn__cpu_maxpool2d(kn_graph *g, kn_tensor *t) { pool(g, t, maxpool_range); }
void kn__cpu_avgpool2d(kn_graph *g, kn_tensor *t) { pool(g, t, avgpool_range); }

/* Channels handled at once when finding each window's first maximum again. */
#define POOL_BLOCK 256

/* Pooling gradients over images [lo, hi) (elements of dx, whole images). */
static void pool_grad_range(const win_args *a, int64_t lo, int64_t hi, bool max) {
    const kn__win *w = &a->win;
    int64_t c = a->c, img_size = a->h * a->w * c, out_size = (int64_t)w->oh * w->ow * c;
    /* windows that tile the image (stride = size, no padding): every cell is in one window
     * at most, so each window's cells are written once (the maximum's gradient or zero)
     * instead of zeroing the image first and adding into it */
    const bool tiles = max && w->sh == w->kh && w->sw == w->kw && w->pt == 0 && w->pl == 0;
    const bool covered = tiles && (int64_t)w->oh * w->kh == a->h && (int64_t)w->ow * w->kw == a->w;
    /* a relu's gradient at the pooling's own input (the fused relu_grad of the layer that
     * made it, cnn.json's conv2): only each window's maximum gets a gradient, so the relu's
     * test is that maximum > 0, taken while writing, with no second pass over the image */
    const bool relu_at_max = tiles && a->act_v && a->act_v == a->x && a->act == KN_RELU;
    for (int64_t n = lo / img_size; n < hi / img_size; n++) {
        float *dx = a->y + n * img_size;
        const float *img = max ? a->x + n * img_size : NULL;
        if (!covered) memset(dx, 0, (size_t)img_size * sizeof(float));
        for (int64_t oy = 0; oy < w->oh; oy++)
            for (int64_t ox = 0; ox < w->ow; ox++) {
                const float *d = a->dy + n * out_size + (oy * w->ow + ox) * c;
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
                    int64_t arg[POOL_BLOCK];
                    int64_t first = corner + (int64_t)y0 * a->w + x0;
                    for (int64_t i = 0; i < cn; i++) best[i] = -INFINITY, arg[i] = first;
                    for (int ky = y0; ky < y1; ky++)
                        for (int kx = x0; kx < x1; kx++) {
                            int64_t cell = corner + (int64_t)ky * a->w + kx;
                            const float *v = img + cell * c + c0;
                            for (int64_t i = 0; i < cn; i++) { /* strict: the first maximum; no branch
                                                                  * (random data mispredicts half of them) */
                                bool gt = v[i] > best[i];
                                arg[i] = gt ? cell : arg[i];
                                best[i] = gt ? v[i] : best[i];
                            }
                        }
                    if (tiles) {
                        for (int ky = y0; ky < y1; ky++)
                            for (int kx = x0; kx < x1; kx++) {
                                int64_t cell = corner + (int64_t)ky * a->w + kx;
                                float *restrict o = dx + cell * c + c0;
                                for (int64_t i = 0; i < cn; i++)
                                    o[i] = arg[i] == cell && (!relu_at_max || best[i] > 0) ? d[c0 + i] : 0.0f;
                            }
                    } else {
                        for (int64_t i = 0; i < cn; i++) dx[arg[i] * c + c0 + i] += d[c0 + i];
                    }
                }
            }
        if (a->act_v && !relu_at_max) kn__act_grad_apply(a->act, a->alpha, dx, a->act_v + n * img_size, dx, img_size);
    }
}

static void maxpool_grad_range(void *p, int64_t lo, int64_t hi) { pool_grad_range(p, lo, hi, true); }
static void avgpool_grad_range(void *p, int64_t lo, int64_t hi) { pool_grad_range(p, lo, hi, false); }

/* The activation gradient the fuse pass gave a pooling gradient (src[2], iparam[4]). */
static void act_of(win_args *a, const kn_tensor *t) {
    a->act_v = t->src[2] ? t->src[2]->data : NULL;
    a->act = (kn_activation)t->iparam[4];
    a->alpha = t->fparam[0];
}

void kn__cpu_maxpool2d_grad(kn_graph *g, kn_tensor *t) {
    win_args a = args_of(t, t);
    act_of(&a, t);
    a.dy = t->src[0]->data;
    a.x = t->src[1]->data;
    a.y = t->data;
    kn__parallel_for(g, kn__numel(t), a.h * a.w * a.c, maxpool_grad_range, &a);
}

void kn__cpu_avgpool2d_grad(kn_graph *g, kn_tensor *t) {
    win_args a = args_of(t, t);
    act_of(&a, t);
    a.dy = t->src[0]->data;
    a.y = t->data;
    kn__parallel_for(g, kn__numel(t), a.h * a.w * a.c, avgpool_grad_range, &a);
}
