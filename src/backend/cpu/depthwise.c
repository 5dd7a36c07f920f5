/* depthwise.c — the depthwise convolution (graph.h's KN_OP_DEPTHWISE_CONV2D, Keras's
 * DepthwiseConv2D) and its gradients on the CPU, as direct loops: a depthwise window holds
 * KH*KW taps of one channel, too little work for im2col + GEMM to pay. NHWC keeps a cell's
 * C channels, and an output position's C*M columns, contiguous, so every inner loop runs
 * over them.
 *
 *   forward       y[n, oy, ox, c*M + m] = sum over taps of x[cell, c] k[tap, c*M + m]   rows (n, oy)
 *                 (then, fused by the fuse pass, + bias[c*M + m] and the activation, a row
 *                 at a time as each is finished)
 *   grad input    dx[n, iy, ix, c] = sum over the outputs reading the cell of
 *                 sum over m of dy[.., c*M + m] k[tap, c*M + m]                          rows (n, iy)
 *   grad kernel   dk[tap, c*M + m] = sum over output positions of x[cell, c] dy[.., c*M + m]
 *
 * With M = 1 (the common case: MobileNet's) and AVX2 + FMA, all three are register-blocked
 * ("M = 1 with AVX2 + FMA" below). The forward and the input gradient sum each element from
 * 0 over its taps with one fused multiply-add a tap (the forward in (ky, kx) order, the input
 * gradient in the reverse order, which reads dy at rising addresses), along a row in runs of
 * cells whose windows lie equally inside the image. With stride and dilation 1 along the row
 * (and at most 3x3 taps inside), a run of 6 or more cells slides (slide_block, as oneDNN's
 * JIT kernels do): per 8 channels, the window's kernel vectors in registers and 6 cells'
 * accumulators, each source column loaded once for the up to 3 cells that read it; other
 * runs (window edges, strides, dilations) sum 4 cells x 16 channels at a time, a kernel
 * vector loaded a tap and a source vector a cell and tap. The kernel gradient keeps up to 9
 * taps x 8 channels in registers over a few output rows (as many as fit L1), each tap adding
 * the rows' positions in order with one FMA each. With 3 tap columns, dilation 1 and stride
 * 1 or 2 along the row, it slides (dk_slide_row): each dy vector is loaded once and kept in a
 * register for the 3 (stride 2: 2) steps that pair it with x, each x column loaded once per
 * tap row and multiplied into every tap column it meets (1 + 3 loads to 9 FMAs a position at
 * stride 1, where the plain register scheme, dk_rows, which other windows take, loads 10);
 * rows wider than L1 with C >= 128 prefetch the next row's x and dy into L2. Other M, and
 * builds without AVX2, take the plain loops (taps in (ky, kx) order, a multiply and an add
 * each).
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
    int64_t ox_in0, ox_in1; /* the kernel gradient's (M = 1): output columns whose windows lie inside in x */
    kn__win win;
    const float *x, *k, *dy; /* x (N, H, W, C), kernel (KH*KW, C*M), dy (N, OH, OW, C*M) */
    float *out;              /* y, dx, or the kernel gradient's partials (parts, KH*KW, C*M) */
    const float *bias;       /* the forward's fused bias row (C*M), or NULL */
    kn_activation act;       /* the forward's fused activation (KN_LINEAR: none), alpha its parameter */
    float alpha;
} dw_args;

/* img: the image side (x, or dx for the input gradient); cm: the output channels. */
static dw_args args_of(const kn_tensor *t, const kn_tensor *img, int64_t cm) {
    dw_args a = {.h = img->ne[1], .w = img->ne[2], .c = img->ne[3], .cm = cm, .win = kn__win_unpack(t)};
    a.m = a.c > 0 ? cm / a.c : 0;
    return a;
}

/* The fused bias and activation over one finished row of y (OW, C*M), while it is in cache:
 * the bias added to each position, then the activation over the row (what the add and the
 * activation nodes the fuse pass folded in would compute). */
static void finish_row(const dw_args *a, float *y) {
    const int64_t cm = a->cm, n = (int64_t)a->win.ow * cm;
    if (a->bias)
        for (int64_t p = 0; p < n; p += cm)
            for (int64_t j = 0; j < cm; j++) y[p + j] += a->bias[j];
    if (a->act != KN_LINEAR) kn__act_apply(a->act, a->alpha, y, y, n);
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

/* ------------------------------------------------------------- M = 1 with AVX2 + FMA */

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define DW_M1 1
#define DW_INLINE static inline __attribute__((always_inline))

/* Up to 4 output cells summed over the same taps: cell u's channel c gets the sum, from 0,
 * over taps (i, j), i < nrow, j < ncol in (i, j) order, of src[src0 + u src_member + i
 * src_row + j src_col + c] k[k0 + i k_row + j k_col + c]; offsets in floats (src x for the
 * forward, dy for the input gradient, whose kernel steps are negative: it walks the taps
 * backwards), so a tap outside the image is never addressed. */
typedef struct {
    const float *src, *k;
    float *out;
    int64_t src0, k0, out0;         /* the first cell's first tap, and the first cell's output */
    int64_t src_member, out_member; /* from one cell to the next */
    int64_t src_row, src_col, k_row, k_col;
    int nrow, ncol;
    bool slide; /* stride and dilation 1 along the row: slide_cells may take runs (see slides) */
} dw_run;

/* Lanes [0, n) of 8 set. */
static inline __m256i lanes(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
DW_INLINE __m256 load8(const float *p, bool full, __m256i mask) {
    return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask);
}
DW_INLINE void store8(float *p, __m256 v, bool full, __m256i mask) {
    if (full) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, mask, v);
}

/* Channels [c0, c0 + 8 nv) of `cells` cells (nv 1 or 2; a masked block has nv 1): cells x nv
 * accumulators, each tap's kernel vector loaded once for all cells. */
DW_INLINE void run_block(const dw_run *r, int64_t c0, int cells, int nv, bool full, __m256i mask) {
    __m256 acc[4][2];
    for (int u = 0; u < cells; u++)
        for (int v = 0; v < nv; v++) acc[u][v] = _mm256_setzero_ps();
    for (int i = 0; i < r->nrow; i++) {
        int64_t s = r->src0 + i * r->src_row + c0, k = r->k0 + i * r->k_row + c0;
        for (int j = 0; j < r->ncol; j++, s += r->src_col, k += r->k_col) {
            __m256 kv[2];
            for (int v = 0; v < nv; v++) kv[v] = load8(r->k + k + 8 * v, full, mask);
            for (int u = 0; u < cells; u++)
                for (int v = 0; v < nv; v++)
                    acc[u][v] = _mm256_fmadd_ps(load8(r->src + s + u * r->src_member + 8 * v, full, mask), kv[v],
                                                acc[u][v]);
        }
    }
    for (int u = 0; u < cells; u++)
        for (int v = 0; v < nv; v++) store8(r->out + r->out0 + u * r->out_member + c0 + 8 * v, acc[u][v], full, mask);
}

DW_INLINE void run_cells_n(const dw_run *r, int64_t c, int cells) {
    int64_t c0 = 0;
    const __m256i all = lanes(8);
    for (; c0 + 16 <= c; c0 += 16) run_block(r, c0, cells, 2, true, all);
    for (; c0 + 8 <= c; c0 += 8) run_block(r, c0, cells, 1, true, all);
    if (c0 < c) run_block(r, c0, cells, 1, false, lanes(c - c0));
}
/* The run's cells (4 or 1) over all C channels. */
static void run_cells(const dw_run *r, int64_t c, int cells) {
    if (cells == 4) run_cells_n(r, c, 4);
    else run_cells_n(r, c, 1);
}

/* Cells a sliding block sums at once: with a 3x3 window, its 9 kernel vectors, 6
 * accumulators and one input vector fill the 16 ymm registers. */
#define DW_SLIDE 6

/* Channels [c0, c0 + 8) (masked unless full) of the DW_SLIDE cells [u0, u0 + DW_SLIDE) of a
 * run whose cell u's tap column j reads source column u + j (src_col == src_member): the
 * nr x nc kernel vectors loaded once, then each tap row's DW_SLIDE + nc - 1 source columns
 * loaded once each and multiply-added into every cell that reads them. A cell's column j
 * comes before its column j + 1 and its tap rows in order, so each cell still sums its taps
 * from 0 in (i, j) order with one FMA a tap: run_block's bits, from fewer loads (a 3x3
 * window: 9 kernel and 24 input vectors to 54 FMAs, where run_block loads 10 to 8). */
DW_INLINE void slide_block(const dw_run *r, int64_t u0, int64_t c0, const int nr, const int nc, bool full,
                           __m256i mask) {
    const int64_t src_row = r->src_row, col = r->src_col, out_member = r->out_member;
    __m256 kv[3][3];
#pragma GCC unroll 3
    for (int i = 0; i < nr; i++)
#pragma GCC unroll 3
        for (int j = 0; j < nc; j++) kv[i][j] = load8(r->k + r->k0 + i * r->k_row + j * r->k_col + c0, full, mask);
    const float *s = r->src + r->src0 + u0 * r->src_member + c0;
    __m256 acc[DW_SLIDE];
#pragma GCC unroll 8
    for (int u = 0; u < DW_SLIDE; u++) acc[u] = _mm256_setzero_ps();
#pragma GCC unroll 3
    for (int i = 0; i < nr; i++, s += src_row)
#pragma GCC unroll 8
        for (int q = 0; q < DW_SLIDE + nc - 1; q++) {
            const __m256 v = load8(s + q * col, full, mask);
#pragma GCC unroll 3
            for (int j = 0; j < nc; j++)
                if (q - j >= 0 && q - j < DW_SLIDE) acc[q - j] = _mm256_fmadd_ps(v, kv[i][j], acc[q - j]);
        }
    float *o = r->out + r->out0 + u0 * out_member + c0;
#pragma GCC unroll 8
    for (int u = 0; u < DW_SLIDE; u++) store8(o + u * out_member, acc[u], full, mask);
}

/* A run's cells [0, n), n >= DW_SLIDE: blocks of DW_SLIDE cells, each over all C channels
 * (channel blocks outermost ran 25% slower on 56x56x128: 8-channel columns 512 bytes apart,
 * and rows a multiple of 4 KiB apart, crowd into a few L1 sets). The last block is moved back
 * to end at n: its first cells are summed again, to the same bits. */
DW_INLINE void slide_cells_n(const dw_run *r, int64_t c, int64_t n, const int nr, const int nc) {
    const __m256i all = lanes(8), tail = lanes(c % 8);
    for (int64_t b = 0; b < n; b += DW_SLIDE) {
        const int64_t u0 = b + DW_SLIDE <= n ? b : n - DW_SLIDE;
        int64_t c0 = 0;
        for (; c0 + 8 <= c; c0 += 8) slide_block(r, u0, c0, nr, nc, true, all);
        if (c0 < c) slide_block(r, u0, c0, nr, nc, false, tail);
    }
}

/* Whether slide_cells takes a run: stride and dilation 1 along the row (then each next cell's
 * taps are a column on: src_member == src_col; the input gradient's stride-2 runs, which
 * qualify too, ran no faster slid), at least DW_SLIDE cells, 1-3 tap rows and columns. */
static inline bool slides(const dw_run *r, int64_t n) {
    return r->slide && r->src_member == r->src_col && n >= DW_SLIDE && r->nrow >= 1 && r->nrow <= 3 &&
           r->ncol >= 1 && r->ncol <= 3;
}

/* A run's n cells (slides(r, n)) over all C channels, a channel block at a time. */
static void slide_cells(const dw_run *r, int64_t c, int64_t n) {
    switch (r->nrow * 4 + r->ncol) {
#define DW_SLIDE_CASE(nr, nc)                                                                                        \
    case nr * 4 + nc: slide_cells_n(r, c, n, nr, nc); break;
        DW_SLIDE_CASE(1, 1) DW_SLIDE_CASE(1, 2) DW_SLIDE_CASE(1, 3)
        DW_SLIDE_CASE(2, 1) DW_SLIDE_CASE(2, 2) DW_SLIDE_CASE(2, 3)
        DW_SLIDE_CASE(3, 1) DW_SLIDE_CASE(3, 2) DW_SLIDE_CASE(3, 3)
#undef DW_SLIDE_CASE
    }
}

/* Cells [0, n) of a run whose cells read the same taps: slid when slides() allows, else in
 * blocks of 4 and single cells (the run moved along as it goes). */
static void run_span(dw_run *r, int64_t c, int64_t n) {
    if (slides(r, n)) {
        slide_cells(r, c, n);
        return;
    }
    for (int64_t u = 0; u < n;) {
        int cells = n - u >= 4 ? 4 : 1;
        run_cells(r, c, cells);
        if (r->nrow > 0 && r->ncol > 0) r->src0 += cells * r->src_member;
        r->out0 += cells * r->out_member;
        u += cells;
    }
}

/* One axis's taps for an output (forward: [k0, k0 + nk) inside the image) or an input cell
 * (input gradient: k0 + j step, j < nk, o the first one's output). */
typedef struct {
    int k0, nk;
    int64_t o;
} axis_taps;

/* Columns whose taps a row's call looks up in a table filled once (the divisions are
 * otherwise a large share of a 16-channel cell's work); wider rows compute them per cell. */
#define DW_COLS 256

/* The forward's taps of output column ox. */
static axis_taps out_col(const dw_args *a, int64_t ox) {
    const kn__win *w = &a->win;
    int kx0, kx1;
    taps(ox, w->sw, w->pl, w->dw, w->kw, a->w, &kx0, &kx1);
    return (axis_taps){kx0, kx1 - kx0, ox * w->sw - w->pl + (int64_t)kx0 * w->dw};
}

/* Output rows r = n OH + oy for elements [lo, hi) of y (whole rows of OW*C): along the row,
 * the runs of positions whose windows lie equally inside the image (the taps' ranges change
 * monotonically with ox, so a run is contiguous), each to run_span. */
static void fwd_rows_m1(void *p, int64_t lo, int64_t hi) {
    const dw_args *a = p;
    const kn__win *w = &a->win;
    const int64_t c = a->c, row = (int64_t)w->ow * c;
    axis_taps table[DW_COLS];
    const bool tabled = w->ow <= DW_COLS;
    for (int64_t ox = 0; tabled && ox < w->ow; ox++) table[ox] = out_col(a, ox);
    dw_run run = {.src = a->x, .k = a->k, .out = a->out, .src_member = w->sw * c, .out_member = c,
                  .src_row = (int64_t)w->dh * a->w * c, .src_col = w->dw * c, .k_row = (int64_t)w->kw * c, .k_col = c,
                  .slide = w->sw == 1 && w->dw == 1};
    for (int64_t r = lo / row; r < hi / row; r++) {
        int64_t n = r / w->oh, oy = r % w->oh;
        int ky0, ky1;
        taps(oy, w->sh, w->pt, w->dh, w->kh, a->h, &ky0, &ky1);
        int64_t iy = oy * w->sh - w->pt + (int64_t)ky0 * w->dh; /* the first tap row's image row */
        run.nrow = ky1 - ky0;
        for (int64_t ox = 0, end; ox < w->ow; ox = end) {
            axis_taps x0 = tabled ? table[ox] : out_col(a, ox), xe;
            for (end = ox + 1; end < w->ow; end++) { /* the run of columns with x0's taps */
                xe = tabled ? table[end] : out_col(a, end);
                if (xe.k0 != x0.k0 || xe.nk != x0.nk) break;
            }
            run.ncol = x0.nk;
            run.src0 = run.nrow > 0 && run.ncol > 0 ? ((n * a->h + iy) * a->w + x0.o) * c : 0;
            run.k0 = ((int64_t)ky0 * w->kw + x0.k0) * c;
            run.out0 = (r * w->ow + ox) * c;
            run_span(&run, c, end - ox);
        }
        finish_row(a, a->out + r * row);
    }
}

static int gcd(int a, int b) { return b ? gcd(b, a % b) : a; }

/* The taps of one axis that read cell i (offset t = i + pad - k d, t a multiple of s, o = t / s
 * in [0, on)): k = k0 + j step for j < nk (step = s / gcd(s, d); o falls as k rises, so they
 * are consecutive in that progression), o the first one's output. */
static axis_taps taps_reading(int64_t i, int s, int pad, int d, int kn, int64_t on, int step) {
    axis_taps r = {0, 0, 0};
    for (int k = 0; k < kn; k++) {
        int64_t t = i + pad - (int64_t)k * d;
        int64_t o = s > 1 ? t / s : t;
        if (t < 0 || (s > 1 && t % s) || o >= on) continue;
        if (!r.nk) r.k0 = k, r.o = o;
        if (k == r.k0 + r.nk * step) r.nk++;
    }
    return r;
}

/* dx rows r = n H + iy for elements [lo, hi) of dx (whole rows of W*C). Each cell sums its
 * taps from the last (ky, kx) to the first, so dy is read at rising addresses (falling ones
 * ran 2-3x slower on a 56x56x128 image). The cells ix, ix + sw, ix + 2 sw, ... read the same
 * taps, at consecutive output columns: the runs of them whose taps agree (their ranges move
 * monotonically), each to run_span. */
static void dx_rows_m1(void *p, int64_t lo, int64_t hi) {
    const dw_args *a = p;
    const kn__win *w = &a->win;
    const int64_t c = a->c, row = a->w * c;
    const int gy = w->sh / gcd(w->sh, w->dh), gx = w->sw / gcd(w->sw, w->dw); /* tap steps */
    const int64_t oy_step = gy * w->dh / w->sh, ox_step = gx * w->dw / w->sw;  /* outputs a tap step falls by */
    axis_taps table[DW_COLS];
    const bool tabled = a->w <= DW_COLS;
    for (int64_t ix = 0; tabled && ix < a->w; ix++) table[ix] = taps_reading(ix, w->sw, w->pl, w->dw, w->kw, w->ow, gx);
    dw_run run = {.src = a->dy, .k = a->k, .out = a->out, .src_member = c, .out_member = w->sw * c,
                  .src_row = oy_step * w->ow * c, .src_col = ox_step * c,
                  .k_row = -(int64_t)gy * w->kw * c, .k_col = -(int64_t)gx * c, .slide = w->sw == 1 && w->dw == 1};
    for (int64_t r = lo / row; r < hi / row; r++) {
        int64_t n = r / a->h, iy = r % a->h;
        axis_taps y0 = taps_reading(iy, w->sh, w->pt, w->dh, w->kh, w->oh, gy);
        run.nrow = y0.nk;
        int ky_last = y0.k0 + (y0.nk - 1) * gy;
        int64_t oy_last = y0.o - (y0.nk - 1) * oy_step;
        for (int64_t phase = 0; phase < w->sw && phase < a->w; phase++)
            for (int64_t ix = phase, end; ix < a->w; ix = end) {
                axis_taps x0 = tabled ? table[ix] : taps_reading(ix, w->sw, w->pl, w->dw, w->kw, w->ow, gx), xe;
                for (end = ix + w->sw; end < a->w; end += w->sw) { /* the run of the phase's cells with x0's taps */
                    xe = tabled ? table[end] : taps_reading(end, w->sw, w->pl, w->dw, w->kw, w->ow, gx);
                    if (xe.k0 != x0.k0 || xe.nk != x0.nk) break;
                }
                run.ncol = x0.nk;
                int kx_last = x0.k0 + (x0.nk - 1) * gx;
                int64_t ox_last = x0.o - (x0.nk - 1) * ox_step;
                bool any = run.nrow > 0 && run.ncol > 0;
                run.src0 = any ? ((n * w->oh + oy_last) * w->ow + ox_last) * c : 0;
                run.k0 = any ? ((int64_t)ky_last * w->kw + kx_last) * c : 0;
                run.out0 = (r * a->w + ix) * c;
                run_span(&run, c, (end - ix + w->sw - 1) / w->sw);
            }
    }
}

/* The kernel gradient's taps held in registers at once (9: a 3x3 window). */
#define DK_TAPS 9

/* A chunk of the kernel gradient's taps [t0, t0 + nt), nt <= DK_TAPS: each tap's row and
 * column, and its cell's offset (floats) from the window's corner. */
typedef struct {
    int t0, nt, ky[DK_TAPS], kx[DK_TAPS];
    int64_t off[DK_TAPS];
} dk_chunk;

/* Output rows the kernel gradient sums per load of its accumulators, at most: as many as
 * keep their x and dy rows within DK_ROW_BYTES (L1), so the channel blocks after the first
 * find them there. */
#define DK_ROWS 8
#define DK_ROW_BYTES (32 << 10)

/* An output row's facts: its taps' rows [ky0, ky1), the window corner's offset in x (row
 * oy sh - pt, column -pl at ox = 0) and the row's offset in dy (channel 0). */
typedef struct {
    int ky0, ky1;
    int64_t corner, dy;
    int64_t pf_x[2], pf_dy; /* the sliding path's: x rows (column 0) and the dy row to prefetch */
} dk_row_info;

/* Output row r = n OH + oy's facts (but the prefetch rows). */
static void dk_row_at(const dw_args *a, int64_t r, dk_row_info *row) {
    const kn__win *w = &a->win;
    int64_t n = r / w->oh, oy = r % w->oh;
    taps(oy, w->sh, w->pt, w->dh, w->kh, a->h, &row->ky0, &row->ky1);
    row->corner = ((n * a->h + oy * w->sh - w->pt) * a->w - w->pl) * a->c;
    row->dy = r * w->ow * a->c;
}

/* The positions [0, n) of a row whose whole 3x3 window lies inside the image, added into
 * acc (taps in (ky, kx) order): the tap rows x0, x1, x2 floats into x (the first position's
 * first tap column), tap columns col floats apart, positions step floats apart in x and
 * dstep in dy. Three row offsets and one column step address all nine taps (no offsets
 * reloaded from memory). */
DW_INLINE void dk_inside_3x3(const float *x, int64_t x0, int64_t x1, int64_t x2, const float *dy, int64_t n,
                             int64_t col, int64_t step, int64_t dstep, __m256 acc[DK_TAPS], bool full, __m256i mask) {
    const float *r0 = x + x0, *r1 = x + x1, *r2 = x + x2;
    for (int64_t i = 0; i < n; i++) {
        const __m256 d = load8(dy + i * dstep, full, mask);
        const int64_t o = i * step;
        acc[0] = _mm256_fmadd_ps(load8(r0 + o, full, mask), d, acc[0]);
        acc[1] = _mm256_fmadd_ps(load8(r0 + o + col, full, mask), d, acc[1]);
        acc[2] = _mm256_fmadd_ps(load8(r0 + o + 2 * col, full, mask), d, acc[2]);
        acc[3] = _mm256_fmadd_ps(load8(r1 + o, full, mask), d, acc[3]);
        acc[4] = _mm256_fmadd_ps(load8(r1 + o + col, full, mask), d, acc[4]);
        acc[5] = _mm256_fmadd_ps(load8(r1 + o + 2 * col, full, mask), d, acc[5]);
        acc[6] = _mm256_fmadd_ps(load8(r2 + o, full, mask), d, acc[6]);
        acc[7] = _mm256_fmadd_ps(load8(r2 + o + col, full, mask), d, acc[7]);
        acc[8] = _mm256_fmadd_ps(load8(r2 + o + 2 * col, full, mask), d, acc[8]);
    }
}

/* Rows rows[0, nrows)'s share of the kernel gradient, the chunk's taps and channels
 * [c0, c0 + 8) (masked unless full): each tap's accumulator loaded from the part's partial,
 * the rows' positions added in order, stored back. Positions whose windows lie inside the
 * image in x (ox in [a->ox_in0, a->ox_in1)) on a row inside it in y take no tests; the
 * others look up their columns' taps in cols (NULL: computed). */
DW_INLINE void dk_rows(const dw_args *a, const dk_chunk *ch, int nt, const dk_row_info *rows, int nrows, int64_t c0,
                       bool full, __m256i mask, const axis_taps *cols, float *part) {
    const kn__win *w = &a->win;
    const int64_t c = a->c, step = w->sw * c;
    __m256 acc[DK_TAPS];
#pragma GCC unroll 9
    for (int t = 0; t < DK_TAPS; t++)
        acc[t] = t < nt ? load8(part + (int64_t)(ch->t0 + t) * c + c0, full, mask) : _mm256_setzero_ps();
    for (int i = 0; i < nrows; i++) {
        const dk_row_info *ri = &rows[i];
        bool on_row[DK_TAPS], row_inside = true;
#pragma GCC unroll 9
        for (int t = 0; t < DK_TAPS; t++) {
            on_row[t] = t < nt && ch->ky[t] >= ri->ky0 && ch->ky[t] < ri->ky1;
            row_inside &= t >= nt || on_row[t];
        }
        const float *dy = a->dy + ri->dy + c0;
        const int64_t xo = ri->corner + c0; /* (an offset: the corner may lie in the padding) */
        const int64_t in0 = row_inside ? a->ox_in0 : w->ow, in1 = row_inside ? a->ox_in1 : w->ow;
        const bool whole_3x3 = nt == DK_TAPS && w->kh == 3 && w->kw == 3;
        for (int64_t ox = 0; ox < w->ow; ox++) {
            if (whole_3x3 && ox == in0 && in0 < in1) { /* the row's inside positions at once */
                const int64_t first = xo + ox * step, row = (int64_t)w->dh * a->w * c;
                dk_inside_3x3(a->x, first, first + row, first + 2 * row, dy + ox * c, in1 - in0, w->dw * c, step, c, acc,
                              full, mask);
                ox = in1 - 1;
                continue;
            }
            const __m256 d = load8(dy + ox * c, full, mask);
            if (ox >= in0 && ox < in1) {
#pragma GCC unroll 9
                for (int t = 0; t < DK_TAPS; t++)
                    if (t < nt) acc[t] = _mm256_fmadd_ps(load8(a->x + (xo + ch->off[t] + ox * step), full, mask), d, acc[t]);
                continue;
            }
            axis_taps col = cols ? cols[ox] : out_col(a, ox);
#pragma GCC unroll 9
            for (int t = 0; t < DK_TAPS; t++)
                if (on_row[t] && ch->kx[t] >= col.k0 && ch->kx[t] < col.k0 + col.nk)
                    acc[t] = _mm256_fmadd_ps(load8(a->x + (xo + ch->off[t] + ox * step), full, mask), d, acc[t]);
        }
    }
#pragma GCC unroll 9
    for (int t = 0; t < DK_TAPS; t++)
        if (t < nt) store8(part + (int64_t)(ch->t0 + t) * c + c0, acc[t], full, mask);
}

/* ---- the kernel gradient's sliding rows: KW = 3, dilation 1 and stride 1 or 2 along x */

/* Output row steps o of a sliding row (see dk_slide_row) whose every load lies inside: its
 * dy columns o - m, m < ceil(3 / s), inside [0, OW), its x columns o s - pl + j, j < s,
 * inside [0, W). [in0, in1) (empty when in1 <= in0); steps: all of them, OW + (3 - 1) / s. */
typedef struct {
    int64_t in0, in1, steps;
} dk_span;

static dk_span dk_span_of(const dw_args *a) {
    const kn__win *w = &a->win;
    const int s = w->sw, m = (3 + s - 1) / s, k0 = s < 3 ? s : 3;
    int64_t in0 = m - 1, first = (w->pl + s - 1) / s; /* o s - pl >= 0 */
    if (first > in0) in0 = first;
    int64_t in1 = w->ow, last = a->w - k0 + w->pl; /* o s - pl + k0 - 1 <= W - 1 */
    last = last < 0 ? -1 : last / s;
    if (last + 1 < in1) in1 = last + 1;
    return (dk_span){in0, in1, w->ow + (3 - 1) / s};
}

/* One output row's pairs for the chunk's tap rows i < 3 with bit i of `rows` set (x row
 * xr[i], column 0, the block's first channel; dy row d, likewise), channels of one block
 * (masked unless full), added into acc[i][kx]. Step o pairs the x columns o s - pl + j,
 * j < min(s, 3), each loaded once per tap row, with dy columns o - m (tap kx = j + m s < 3):
 * dy column o is loaded at step o and kept in a register for the ceil(3 / s) steps that read
 * it. A tap's pairs come in rising ox (tap kx's at step ox + kx / s), so each accumulator
 * still adds the row's positions in order, one FMA each: the same bits as dk_rows, from 1 + 3
 * loads a position to 9 FMAs at stride 1 (1 + 6 at stride 2) where dk_rows loads 10. Steps
 * outside span's interior test each load. */
DW_INLINE void dk_slide_row(const dw_args *a, __m256 acc[3][3], const float *const xr[3], const float *d,
                            const float *const px[2], const float *pd, const dk_span *sp, const unsigned rows,
                            const int s, const bool pf, bool full, __m256i mask) {
    enum { NC = 3 };
    const int nm = (NC + s - 1) / s, k0 = s < NC ? s : NC;
    const int64_t c = a->c, ow = a->win.ow, wd = a->w, pl = a->win.pl;
    const int64_t e0 = sp->in0 < sp->in1 ? sp->in0 : sp->steps;
    for (int64_t o = 0; o < sp->steps; o++) {
        if (o == e0) { /* the interior */
            __m256 dv[3];
#pragma GCC unroll 3
            for (int m = 1; m < nm; m++) dv[m - 1] = load8(d + (o - m) * c, full, mask); /* (shifted on entry) */
            const float *dp = d + o * c;
            const float *xp[3];
#pragma GCC unroll 3
            for (int i = 0; i < 3; i++) xp[i] = rows >> i & 1 ? xr[i] + (o * s - pl) * c : NULL;
            const bool px2 = px[1] != px[0];
            for (; o < sp->in1; o++, dp += c) {
                if (pf) { /* this step's x columns and dy column in the rows ahead, into L2 */
#pragma GCC unroll 2
                    for (int j = 0; j < s; j++) __builtin_prefetch(px[0] + (o * s - pl + j) * c, 0, 2);
                    if (px2)
#pragma GCC unroll 2
                        for (int j = 0; j < s; j++) __builtin_prefetch(px[1] + (o * s - pl + j) * c, 0, 2);
                    __builtin_prefetch(pd + o * c, 0, 2);
                }
#pragma GCC unroll 3
                for (int m = nm - 1; m >= 1; m--) dv[m] = dv[m - 1];
                dv[0] = load8(dp, full, mask);
#pragma GCC unroll 3
                for (int i = 0; i < 3; i++) {
                    if (!(rows >> i & 1)) continue;
#pragma GCC unroll 3
                    for (int j = 0; j < k0; j++) {
                        const __m256 xv = load8(xp[i] + j * c, full, mask);
#pragma GCC unroll 3
                        for (int m = 0; m < nm; m++)
                            if (j + m * s < NC) acc[i][j + m * s] = _mm256_fmadd_ps(xv, dv[m], acc[i][j + m * s]);
                    }
                    xp[i] += s * c;
                }
            }
            if (o >= sp->steps) break;
        }
        /* an edge step */
#pragma GCC unroll 3
        for (int i = 0; i < 3; i++) {
            if (!(rows >> i & 1)) continue;
#pragma GCC unroll 3
            for (int j = 0; j < k0; j++) {
                const int64_t ix = o * s - pl + j;
                if (ix < 0 || ix >= wd) continue;
                const __m256 xv = load8(xr[i] + ix * c, full, mask);
#pragma GCC unroll 3
                for (int m = 0; m < nm; m++)
                    if (j + m * s < NC && o - m >= 0 && o - m < ow)
                        acc[i][j + m * s] = _mm256_fmadd_ps(xv, load8(d + (o - m) * c, full, mask), acc[i][j + m * s]);
            }
        }
    }
}

/* dk_rows for a sliding chunk (KW = 3, dilation 1 along x, stride s = 1 or 2): the chunk's
 * tap rows [ky_a, ky_a + nr) (nr <= 3), all 3 columns, in registers over rows[0, nrows), each
 * row's valid tap rows to its dk_slide_row instance. */
DW_INLINE void dk_slide_rows(const dw_args *a, int ky_a, int nr, const dk_row_info *rows, int nrows, int64_t c0,
                             const dk_span *sp, const int s, const bool pf, bool full, __m256i mask, float *part) {
    const kn__win *w = &a->win;
    const int64_t c = a->c, row = (int64_t)w->dh * a->w * c;
    __m256 acc[3][3];
#pragma GCC unroll 3
    for (int i = 0; i < 3; i++)
#pragma GCC unroll 3
        for (int j = 0; j < 3; j++)
            acc[i][j] = i < nr ? load8(part + (int64_t)((ky_a + i) * 3 + j) * c + c0, full, mask) : _mm256_setzero_ps();
    for (int r = 0; r < nrows; r++) {
        const dk_row_info *ri = &rows[r];
        const float *xr[3];
        unsigned valid = 0;
        for (int i = 0; i < nr; i++) {
            const int ky = ky_a + i;
            const bool in = ky >= ri->ky0 && ky < ri->ky1;
            valid |= (unsigned)in << i;
            /* (the corner's row plus the tap row's: inside the image when the tap row is) */
            xr[i] = in ? a->x + (ri->corner + w->pl * c + ky * row + c0) : a->x;
        }
        for (int i = nr; i < 3; i++) xr[i] = a->x;
        const float *d = a->dy + ri->dy + c0, *pd = a->dy + ri->pf_dy + c0;
        const float *const px[2] = {a->x + ri->pf_x[0] + c0, a->x + ri->pf_x[1] + c0};
        switch (valid) {
#define DK_SLIDE_CASE(v)                                                                                             \
    case v: dk_slide_row(a, acc, xr, d, px, pd, sp, v, s, pf, full, mask); break;
            DK_SLIDE_CASE(1) DK_SLIDE_CASE(2) DK_SLIDE_CASE(3) DK_SLIDE_CASE(4)
            DK_SLIDE_CASE(5) DK_SLIDE_CASE(6) DK_SLIDE_CASE(7)
#undef DK_SLIDE_CASE
        default: break;
        }
    }
#pragma GCC unroll 3
    for (int i = 0; i < 3; i++)
#pragma GCC unroll 3
        for (int j = 0; j < 3; j++)
            if (i < nr) store8(part + (int64_t)((ky_a + i) * 3 + j) * c + c0, acc[i][j], full, mask);
}

/* dk_slide_rows' instances: stride s along x; full channel blocks with and without
 * prefetching (pf), and a masked block (never prefetching). */
static void dk_slide_rows_s1(const dw_args *a, int ky_a, int nr, const dk_row_info *rows, int nrows, int64_t c0,
                             const dk_span *sp, bool pf, bool full, __m256i mask, float *part) {
    if (full && pf) dk_slide_rows(a, ky_a, nr, rows, nrows, c0, sp, 1, true, true, mask, part);
    else if (full) dk_slide_rows(a, ky_a, nr, rows, nrows, c0, sp, 1, false, true, mask, part);
    else dk_slide_rows(a, ky_a, nr, rows, nrows, c0, sp, 1, false, false, mask, part);
}
static void dk_slide_rows_s2(const dw_args *a, int ky_a, int nr, const dk_row_info *rows, int nrows, int64_t c0,
                             const dk_span *sp, bool pf, bool full, __m256i mask, float *part) {
    if (full && pf) dk_slide_rows(a, ky_a, nr, rows, nrows, c0, sp, 2, true, true, mask, part);
    else if (full) dk_slide_rows(a, ky_a, nr, rows, nrows, c0, sp, 2, false, true, mask, part);
    else dk_slide_rows(a, ky_a, nr, rows, nrows, c0, sp, 2, false, false, mask, part);
}

/* part (KH*KW, C) = the sum over rows [r0, r1), in order, of each row's share: a chunk of
 * taps at a time (sliding windows: 3 tap rows; others: 9 taps), blocks of rows inside it,
 * every channel block over a block of rows. Either way each tap adds the positions in row
 * order, one FMA each, so both give the same bits. */
static void dk_rows_m1(const dw_args *a, int64_t r0, int64_t r1, float *part) {
    const kn__win *w = &a->win;
    const int ntaps = w->kh * w->kw;
    const __m256i all = lanes(8), tail = lanes(a->c % 8);
    axis_taps table[DW_COLS];
    const axis_taps *cols = w->ow <= DW_COLS ? table : NULL;
    for (int64_t ox = 0; cols && ox < w->ow; ox++) table[ox] = out_col(a, ox);
    int64_t row_bytes = (int64_t)w->ow * a->c * (int64_t)sizeof(float) * (1 + w->sh), per = DK_ROW_BYTES / row_bytes;
    per = per < 1 ? 1 : per > DK_ROWS ? DK_ROWS : per;
    memset(part, 0, (size_t)ntaps * (size_t)a->c * sizeof(float));
    if (w->kw == 3 && w->dw == 1 && (w->sw == 1 || w->sw == 2)) { /* sliding */
        const dk_span sp = dk_span_of(a);
        const int64_t all_rows = a->rows;
        /* rows wider than DK_ROW_BYTES with positions 512 bytes or more apart (C >= 128) prefetch
         * the rows ahead (56x56x128: 20-25% faster; at C = 32 or 64, or rows that fit L1
         * together, it ran no faster or slower) */
        const bool pf = per == 1 && a->c >= 128;
        for (int ky_a = 0; ky_a < w->kh; ky_a += 3) {
            const int nr = w->kh - ky_a < 3 ? w->kh - ky_a : 3;
            for (int64_t rb = r0; rb < r1; rb += per) {
                dk_row_info rows[DK_ROWS];
                int nrows = (int)(r1 - rb < per ? r1 - rb : per);
                for (int i = 0; i < nrows; i++) {
                    int64_t r = rb + i;
                    dk_row_at(a, r, &rows[i]);
                    /* the row `per` on (the next block's, when there is one): its dy row, and
                     * the x rows of its last tap row and, at SH > 1, the one above (the rows the
                     * row before it lacks, at SH <= 2), clamped to the image */
                    int64_t rn = r + per < all_rows ? r + per : r, nn = rn / w->oh, oyn = rn % w->oh;
                    int64_t iy = oyn * w->sh - w->pt + (int64_t)(w->kh - 1) * w->dh;
                    for (int q = 0; q < 2; q++) {
                        int64_t y = w->sh > 1 ? iy - 1 + q : iy;
                        y = y >= a->h ? a->h - 1 : y < 0 ? 0 : y;
                        rows[i].pf_x[q] = (nn * a->h + y) * a->w * a->c;
                    }
                    rows[i].pf_dy = rn * w->ow * a->c;
                }
                for (int64_t c0 = 0; c0 < a->c; c0 += 8) {
                    const bool full = c0 + 8 <= a->c;
                    const __m256i mask = full ? all : tail;
                    if (w->sw == 1) dk_slide_rows_s1(a, ky_a, nr, rows, nrows, c0, &sp, pf, full, mask, part);
                    else dk_slide_rows_s2(a, ky_a, nr, rows, nrows, c0, &sp, pf, full, mask, part);
                }
            }
        }
        return;
    }
    for (int t0 = 0; t0 < ntaps; t0 += DK_TAPS) {
        dk_chunk ch = {.t0 = t0, .nt = ntaps - t0 < DK_TAPS ? ntaps - t0 : DK_TAPS};
        for (int t = 0; t < ch.nt; t++) {
            ch.ky[t] = (t0 + t) / w->kw, ch.kx[t] = (t0 + t) % w->kw;
            ch.off[t] = ((int64_t)ch.ky[t] * w->dh * a->w + (int64_t)ch.kx[t] * w->dw) * a->c;
        }
        for (int64_t rb = r0; rb < r1; rb += per) {
            dk_row_info rows[DK_ROWS];
            int nrows = (int)(r1 - rb < per ? r1 - rb : per);
            for (int i = 0; i < nrows; i++) {
                dk_row_at(a, rb + i, &rows[i]);
            }
            for (int64_t c0 = 0; c0 < a->c; c0 += 8) {
                if (c0 + 8 > a->c) dk_rows(a, &ch, ch.nt, rows, nrows, c0, false, tail, cols, part);
                else if (ch.nt == DK_TAPS) dk_rows(a, &ch, DK_TAPS, rows, nrows, c0, true, all, cols, part);
                else dk_rows(a, &ch, ch.nt, rows, nrows, c0, true, all, cols, part);
            }
        }
    }
}
#else
#define DW_M1 0
#define fwd_rows_m1 fwd_rows
#define dx_rows_m1 dx_rows
#endif

/* ------------------------------------------------------------- forward */

/* The taps of one output position: rows [ky0, ky1), columns [kx0, kx1) inside the image;
 * xc, x at the first tap's cell (channel 0); a tap row dy rows of x further, a tap column dx
 * cells further (floats). */
typedef struct {
    int ky0, ky1, kx0, kx1;
    const float *xc;
    int64_t dy, dx;
} tap_set;

/* One output position's y (C*M): zeroed, then the taps added in (ky, kx) order. */
static void fwd_position(const dw_args *a, const tap_set *s, float *restrict y) {
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
        finish_row(a, a->out + r * row);
    }
}

void kn__cpu_depthwise_conv2d(kn_graph *g, kn_tensor *t) {
    dw_args a = args_of(t, t->src[0], t->ne[3]);
    a.x = t->src[0]->data, a.k = t->src[1]->data, a.out = t->data;
    a.bias = t->src[2] ? t->src[2]->data : NULL; /* the fuse pass's bias and activation */
    a.act = (kn_activation)t->iparam[4], a.alpha = t->fparam[0];
    kn__parallel_for(g, kn__numel(t), (int64_t)a.win.ow * a.cm, DW_M1 && a.m == 1 ? fwd_rows_m1 : fwd_rows, &a);
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
    kn__parallel_for(g, kn__numel(t), a.w * a.c, DW_M1 && a.m == 1 ? dx_rows_m1 : dx_rows, &a);
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
#if DW_M1
    if (a->m == 1) {
        dk_rows_m1(a, r0, r1, part);
        return;
    }
#endif
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
    /* output columns whose every tap column lies inside the image: kx = 0 and KW - 1 inside */
    const kn__win *w = &a.win;
    a.ox_in0 = w->ow, a.ox_in1 = w->ow;
    for (int64_t ox = 0; ox < w->ow; ox++) {
        int kx0, kx1;
        taps(ox, w->sw, w->pl, w->dw, w->kw, a.w, &kx0, &kx1);
        bool inside = kx0 == 0 && kx1 == w->kw;
        if (inside && a.ox_in0 == w->ow) a.ox_in0 = ox;
        if (inside) a.ox_in1 = ox + 1;
    }
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
