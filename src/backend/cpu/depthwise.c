/* depthwise.c — the depthwise convolution (graph.h's KN_OP_DEPTHWISE_CONV2D, Keras's
 * DepthwiseConv2D) and its gradients on the CPU, as direct loops: a depthwise window holds
 * KH*KW taps of one channel, too little work for im2col + GEMM to pay. NHWC keeps a cell's
 * C channels, and an output position's C*M columns, contiguous, so every inner loop runs
 * over them (vectorized; with M = 1, the common case, the forward sums blocks of 16 channels
 * over every tap in registers and writes y once).
 *
 *   forward       y[n, oy, ox, c*M + m] = sum over taps of x[cell, c] k[tap, c*M + m]   rows (n, oy)
 *   grad input    dx[n, iy, ix, c] = sum over the outputs reading the cell of
 *                 sum over m of dy[.., c*M + m] k[tap, c*M + m]                          rows (n, iy)
 *   grad kernel   dk[tap, c*M + m] = sum over output positions of x[cell, c] dy[.., c*M + m]
 *
 * Each element of y and dx is summed by one thread in a fixed tap order (a gather, never a
 * scatter), so any thread count gives the same bits. The kernel gradient is a sum over every
 * output position: its rows (n, oy) are cut into parts fixed by the shape alone, each summed
 * into its own partial (the node's planned scratch) in row order, and the partials added in
 * part order, as conv_gemm.c's kernel gradient: the same bits whatever the thread count.
 * f32 only (half_support.c lists none of the three, so the precision pass keeps them f32). */
#include "cpu.h"
#include "core/pool.h"

#include <string.h>

/* The kernel gradient's parts: at most this many, each of at least DW_PART_MIN output
 * positions (a part's partial is KH*KW*C*M floats, zeroed and summed once more). */
#define DW_MAX_PARTS 16
#define DW_PART_MIN 2048
/* Below this many multiply-adds the kernel gradient runs its parts on one thread. */
#define DW_PAR_WORK (1 << 16)

typedef struct {
    int64_t h, w, c, m, cm; /* images (N, H, W, C); depth multiplier M; output channels C*M */
    int64_t rows, parts;    /* the kernel gradient's: output rows N*OH, and the parts they are cut into */
    kn__win win;
    const float *x, *k, *dy; /* x (N, H, W, C), kernel (KH*KW, C*M), dy (N, OH, OW, C*M) */
    float *out;              /* y, dx, or the kernel gradient's partials (parts, KH*KW, C*M) */
} dw_args;

/* img: the image side (x, or dx for the input gradient); cm: the output channels. */
static dw_args args_of(const kn_tensor *t, const kn_tensor *img, int64_t cm) {
    dw_args a = {.h = img->ne[1], .w = img->ne[2], .c = img->ne[3], .cm = cm, .win = kn__win_unpack(t)};
    a.m = a.c > 0 ? cm / a.c : 0;
    return a;
}

/* Taps [lo, hi) of a window whose cells o*s - p + k*d lie in [0, n). */
static void taps(int64_t o, int s, int p, int d, int kn, int64_t n, int *lo, int *hi) {
    int64_t base = o * s - p;
    int64_t a = base >= 0 ? 0 : (-base + d - 1) / d;
    int64_t b = base >= n ? 0 : (n - 1 - base) / d + 1;
    if (b > kn) b = kn;
    if (a > b) a = b;
    *lo = (int)a, *hi = (int)b;
}

/* y[c*M + m] += x[c] k[c*M + m] over c < C, m < M: y and k (C*M), x (C). */
static inline void mul_add(float *restrict y, const float *restrict x, const float *restrict k, int64_t c, int64_t m) {
    if (m == 1) {
        for (int64_t i = 0; i < c; i++) y[i] += x[i] * k[i];
        return;
    }
    for (int64_t i = 0; i < c; i++) {
        const float v = x[i];
        for (int64_t j = 0; j < m; j++) y[i * m + j] += v * k[i * m + j];
    }
}

/* ------------------------------------------------------------- forward */

/* The taps of one output position: rows [ky0, ky1), columns [kx0, kx1) inside the image;
 * xc, x at the first tap's cell (channel 0); a tap row dy rows of x further, a tap column dx
 * cells further (floats). */
typedef struct {
    int ky0, ky1, kx0, kx1;
    const float *xc;
    int64_t dy, dx;
} tap_set;

/* acc[0, n) = sum over the taps, in (ky, kx) order, of x's cell (channels [c0, c0 + n))
 * times the kernel's tap row (columns [c0, c0 + n)), M = 1. Inlined with n = DW_BLOCK, acc
 * stays in registers across the taps (two AVX2 registers). */
static inline void block_taps(const dw_args *a, const tap_set *s, int64_t c0, int64_t n, float *restrict acc) {
    for (int64_t i = 0; i < n; i++) acc[i] = 0.0f;
    for (int ky = s->ky0; ky < s->ky1; ky++) {
        const float *restrict xr = s->xc + (ky - s->ky0) * s->dy + c0;
        const float *restrict kr = a->k + (int64_t)ky * a->win.kw * a->c + c0;
        for (int kx = s->kx0; kx < s->kx1; kx++) {
            const float *restrict xv = xr + (kx - s->kx0) * s->dx, *restrict kv = kr + (int64_t)kx * a->c;
            for (int64_t i = 0; i < n; i++) acc[i] += xv[i] * kv[i];
        }
    }
}

/* Channels summed at once over every tap before y is written (M = 1). */
#define DW_BLOCK 16

/* One output position's y (C*M) over its taps. M = 1: a block of channels at a time summed
 * in registers, y written once; M > 1: the taps added into y in (ky, kx) order (the same
 * order of sums). */
static void fwd_position(const dw_args *a, const tap_set *s, float *restrict y) {
    if (a->m == 1) {
        float acc[DW_BLOCK];
        int64_t c0 = 0;
        for (; c0 + DW_BLOCK <= a->c; c0 += DW_BLOCK) {
            block_taps(a, s, c0, DW_BLOCK, acc);
            memcpy(y + c0, acc, sizeof acc);
        }
        if (c0 < a->c) {
            block_taps(a, s, c0, a->c - c0, acc);
            memcpy(y + c0, acc, (size_t)(a->c - c0) * sizeof(float));
        }
        return;
    }
    memset(y, 0, (size_t)a->cm * sizeof(float));
    for (int ky = s->ky0; ky < s->ky1; ky++)
        for (int kx = s->kx0; kx < s->kx1; kx++)
            mul_add(y, s->xc + (ky - s->ky0) * s->dy + (kx - s->kx0) * s->dx,
                    a->k + (int64_t)(ky * a->win.kw + kx) * a->cm, a->c, a->m);
}

/* Output rows r = n OH + oy for elements [lo, hi) of y (whole rows of OW*C*M). */
static void fwd_rows(void *p, int64_t lo, int64_t hi) {
    const dw_args *a = p;
    const kn__win *w = &a->win;
    const int64_t row = (int64_t)w->ow * a->cm;
    tap_set s = {.dy = (int64_t)w->dh * a->w * a->c, .dx = (int64_t)w->dw * a->c};
    for (int64_t r = lo / row; r < hi / row; r++) {
        int64_t n = r / w->oh, oy = r % w->oh;
        taps(oy, w->sh, w->pt, w->dh, w->kh, a->h, &s.ky0, &s.ky1);
        int64_t iy = oy * w->sh - w->pt + (int64_t)s.ky0 * w->dh; /* the first tap row's image row */
        for (int64_t ox = 0; ox < w->ow; ox++) {
            taps(ox, w->sw, w->pl, w->dw, w->kw, a->w, &s.kx0, &s.kx1);
            int64_t ix = ox * w->sw - w->pl + (int64_t)s.kx0 * w->dw;
            bool inside = s.ky0 < s.ky1 && s.kx0 < s.kx1; /* (else xc is never read: y gets zeros) */
            s.xc = inside ? a->x + ((n * a->h + iy) * a->w + ix) * a->c : a->x;
            fwd_position(a, &s, a->out + (r * w->ow + ox) * a->cm);
        }
    }
}

void kn__cpu_depthwise_conv2d(kn_graph *g, kn_tensor *t) {
    dw_args a = args_of(t, t->src[0], t->ne[3]);
    a.x = t->src[0]->data, a.k = t->src[1]->data, a.out = t->data;
    kn__parallel_for(g, kn__numel(t), (int64_t)a.win.ow * a.cm, fwd_rows, &a);
}

/* ------------------------------------------------------------- input gradient */

/* The output position o on one axis whose tap at offset t = i + pad - k d reads cell i:
 * t a multiple of the stride, o = t / s in [0, on); -1 when there is none. */
static inline int64_t tap_out(int64_t t, int s, int64_t on) {
    if (t < 0 || t % s) return -1;
    return t / s < on ? t / s : -1;
}

/* dx rows r = n H + iy for elements [lo, hi) of dx (whole rows of W*C): each cell gathers
 * dy . kernel over the (ky, kx) taps that read it, in that order. */
static void dx_rows(void *p, int64_t lo, int64_t hi) {
    const dw_args *a = p;
    const kn__win *w = &a->win;
    const int64_t row = a->w * a->c, c = a->c, m = a->m;
    for (int64_t r = lo / row; r < hi / row; r++) {
        int64_t n = r / a->h, iy = r % a->h;
        for (int64_t ix = 0; ix < a->w; ix++) {
            float *restrict dx = a->out + (r * a->w + ix) * c; /* (C) */
            memset(dx, 0, (size_t)c * sizeof(float));
            for (int ky = 0; ky < w->kh; ky++) {
                int64_t oy = tap_out(iy + w->pt - (int64_t)ky * w->dh, w->sh, w->oh);
                if (oy < 0) continue;
                for (int kx = 0; kx < w->kw; kx++) {
                    int64_t ox = tap_out(ix + w->pl - (int64_t)kx * w->dw, w->sw, w->ow);
                    if (ox < 0) continue;
                    const float *restrict d = a->dy + ((n * w->oh + oy) * w->ow + ox) * a->cm; /* (C*M) */
                    const float *restrict k = a->k + (int64_t)(ky * w->kw + kx) * a->cm;      /* (C*M) */
                    if (m == 1) {
                        for (int64_t i = 0; i < c; i++) dx[i] += d[i] * k[i];
                        continue;
                    }
                    for (int64_t i = 0; i < c; i++) { /* the tap's M products summed, then added */
                        float s = 0.0f;
                        for (int64_t j = 0; j < m; j++) s += d[i * m + j] * k[i * m + j];
                        dx[i] += s;
                    }
                }
            }
        }
    }
}

void kn__cpu_depthwise_conv2d_grad_input(kn_graph *g, kn_tensor *t) {
    dw_args a = args_of(t, t, t->src[0]->ne[3]);
    a.dy = t->src[0]->data, a.k = t->src[1]->data, a.out = t->data;
    kn__parallel_for(g, kn__numel(t), a.w * a.c, dx_rows, &a);
}

/* ------------------------------------------------------------- kernel gradient */

/* Parts of the N*OH output rows summed apart: fixed by the shape alone. */
static int64_t kernel_parts(const dw_args *a) {
    int64_t n = a->rows * a->win.ow / DW_PART_MIN;
    if (n > a->rows) n = a->rows;
    return n < 1 ? 1 : n > DW_MAX_PARTS ? DW_MAX_PARTS : n;
}

/* Part k: partial[k] (KH*KW, C*M) = sum over its rows' positions of x's window cells times
 * dy, rows in order, each position's taps in (ky, kx) order. */
static void dk_part(void *p, int64_t k) {
    const dw_args *a = p;
    const kn__win *w = &a->win;
    const int64_t size = (int64_t)w->kh * w->kw * a->cm;
    int64_t r0 = a->rows * k / a->parts, r1 = a->rows * (k + 1) / a->parts;
    float *part = a->out + k * size;
    memset(part, 0, (size_t)size * sizeof(float));
    for (int64_t r = r0; r < r1; r++) {
        int64_t n = r / w->oh, oy = r % w->oh;
        int ky0, ky1;
        taps(oy, w->sh, w->pt, w->dh, w->kh, a->h, &ky0, &ky1);
        for (int64_t ox = 0; ox < w->ow; ox++) {
            const float *d = a->dy + (r * w->ow + ox) * a->cm; /* (C*M) */
            int kx0, kx1;
            taps(ox, w->sw, w->pl, w->dw, w->kw, a->w, &kx0, &kx1);
            for (int ky = ky0; ky < ky1; ky++) {
                int64_t iy = oy * w->sh - w->pt + (int64_t)ky * w->dh;
                for (int kx = kx0; kx < kx1; kx++) {
                    int64_t ix = ox * w->sw - w->pl + (int64_t)kx * w->dw;
                    mul_add(part + (int64_t)(ky * w->kw + kx) * a->cm, a->x + ((n * a->h + iy) * a->w + ix) * a->c, d,
                            a->c, a->m);
                }
            }
        }
    }
}

typedef struct {
    const float *partial; /* (parts, size) */
    float *dk;            /* (size) */
    int64_t parts, size;
} sum_args;

/* dk[lo, hi) = the partials' sum, in part order. */
static void sum_parts(void *p, int64_t lo, int64_t hi) {
    const sum_args *s = p;
    memcpy(s->dk + lo, s->partial + lo, (size_t)(hi - lo) * sizeof(float));
    for (int64_t k = 1; k < s->parts; k++) {
        const float *restrict src = s->partial + k * s->size;
        float *restrict dst = s->dk;
        for (int64_t i = lo; i < hi; i++) dst[i] += src[i];
    }
}

/* x (src[0]) is the image side; dk's columns the output channels. */
static dw_args dk_args(const kn_tensor *t) {
    dw_args a = args_of(t, t->src[0], t->ne[1]);
    a.rows = t->src[0]->ne[0] * a.win.oh;
    a.parts = kernel_parts(&a);
    return a;
}

size_t kn__cpu_depthwise_conv2d_grad_kernel_scratch(const kn_graph *g, const kn_tensor *t) {
    (void)g;
    dw_args a = dk_args(t);
    return a.parts > 1 ? (size_t)a.parts * (size_t)kn__numel(t) * sizeof(float) : 0;
}

void kn__cpu_depthwise_conv2d_grad_kernel(kn_graph *g, kn_tensor *t) {
    dw_args a = dk_args(t);
    a.x = t->src[0]->data, a.dy = t->src[1]->data;
    if (a.parts == 1) { /* straight into the gradient */
        a.out = t->data;
        dk_part(&a, 0);
        return;
    }
    int64_t size = kn__numel(t);
    float *partial = kn__cpu_scratch(g, t, (size_t)a.parts * (size_t)size * sizeof(float));
    if (!partial) return;
    a.out = partial;
    double work = (double)a.rows * a.win.ow * (double)size;
    kn__pool_run(work >= DW_PAR_WORK ? kn_ctx_threads(g->ctx) : 1, a.parts, dk_part, &a);
    sum_args s = {partial, t->data, a.parts, size};
    kn__parallel_for(g, size, KN_GRAIN, sum_parts, &s);
    kn__cpu_scratch_done(g, t, partial);
}
