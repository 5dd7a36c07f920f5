/* conv_direct.c — the forward convolution and the kernel gradient of a layer of few input
 * channels (a network's first layer: 3x3 over 1 channel, 3x3x3 over one, 7x7 over RGB;
 * C < 16, KH*KW*C <= 160), or of a kernel small enough to stay in L1 (kn__conv_direct_fits),
 * computed directly from the image instead of through conv_gemm.c's gathered windows and
 * GEMM. (The input gradient of a first layer is rarely
 * wanted: its input is the data.)
 *
 * For such a layer the GEMM's K is 9 to 147 in runs of C floats: copying each window (a
 * few runs, one library call each) and packing it costs as much as its products, and the
 * 3-D CNN's first conv3d ran at ~26 GFLOP/s. Here each output row of an image is cut into tiles of
 * P pixels x FV vectors of filters held in registers (conv_direct_lanes.h); per tap, FV
 * kernel vectors are loaded once and each pixel's input broadcast into them, so the image
 * is read in place and nothing is copied.
 *
 * Taps are (ky, kx, c) in the kernel's row order. A chunk (a block of an image's output
 * rows) first copies the input rows its windows read into the thread's scratch, zeros
 * where they leave the image, so every pixel takes every tap, the edges included, and
 * each tile reads its pixels at one stride. Each output's sum is fixed by its pixel's
 * place in the row (which tile takes it), never by the thread count; the results are the
 * GEMM path's within float rounding (tests/test_conv_gemm.c's "direct:" cases). The bias
 * starts each tile's sums and relu clamps them as they are stored; other activations
 * follow per chunk, as the GEMM's epilogue does per block. */
#include "cpu.h"
#include "core/pool.h"
#include "sgemm.h"

#include <stdlib.h>
#include <string.h>

#define KN_LANES 8
#include "vlanes.h"
#include "conv_direct_lanes.h"
#include "vlanes_end.h"
#define KN_LANES 16
#include "vlanes.h"
#include "conv_direct_lanes.h"
#include "vlanes_end.h"

/* Most filter vectors a tile holds (conv_direct_lanes.h); wider layers take groups of them. */
#define DIRECT_MAX_FV 4
/* Floats of a chunk's padded input rows at most (a thread's scratch): 64 KB, in L2. */
#define DIRECT_PAD_FLOATS 16384

/* A forward tile reads every tap's kernel row for its filters: where the whole kernel
 * (taps x F) stays in L1 beside the padded rows, the direct path wins at any channel count.
 * The kernel gradient's tiles hold their sums in registers and read only x and dy, and win
 * up to the larger bound (3x3 64 -> 64, 144 KB: 1.15-1.2x the GEMM path). */
#define DIRECT_KERNEL_BYTES (40 * 1024)
#define DIRECT_GRAD_KERNEL_BYTES (160 * 1024)
/* Taps of a first layer taken whatever its kernel's size (7x7 over RGB: 147). */
#define DIRECT_FEW_CHANNEL_TAPS 160

/* Where it wins (bench/RESULTS.md, "Direct convolution of few channels"): 1 to 6 channels
 * and 3x3 to 7x7 windows, 1.3-6x the GEMM path; from 16 channels on, 1.2-1.9x while the
 * kernel fits DIRECT_KERNEL_BYTES (3x3 over 16 channels to 64 filters, over 32 to 32, over
 * 64 to 16), and even or behind past it (3x3 32 -> 64: the GEMM's 0-10% faster). */
bool kn__conv_direct_fits(int64_t channels, int64_t taps, int64_t filters, bool grouped, bool kernel_grad) {
    static int off = -1; /* KILN_CONV_DIRECT=0: every convolution through the GEMM (tests compare the two) */
    if (off < 0) {
        const char *e = getenv("KILN_CONV_DIRECT");
        off = e && e[0] == '0';
    }
    const bool small = (channels < 16 && taps <= DIRECT_FEW_CHANNEL_TAPS) ||
                       taps * filters * (int64_t)sizeof(float) <= (kernel_grad ? DIRECT_GRAD_KERNEL_BYTES : DIRECT_KERNEL_BYTES);
    return !off && !grouped && small && taps >= 1 && taps <= KN_CONV_DIRECT_MAX_TAPS && filters > 0 &&
           filters % 8 == 0 && kn__sgemm_isa_best() != KN_SGEMM_PORTABLE;
}

/* A chunk's input: its output rows' window rows, from column -pl, with zeros where the
 * window leaves the image (the padding, and any cells the last windows reach past it). */
static int64_t pad_width(const kn__win *w) { return (int64_t)(w->ow - 1) * w->sw + (int64_t)(w->kw - 1) * w->dw + 1; }
static int64_t pad_rows(const kn__win *w, int64_t out_rows) {
    return (out_rows - 1) * w->sh + (int64_t)(w->kh - 1) * w->dh + 1;
}

/* Output rows a chunk takes at most: as many as keep its padded input in DIRECT_PAD_FLOATS
 * (one at least). */
static int64_t fit_rows(const kn__win *w, int64_t c) {
    int64_t r = w->oh;
    while (r > 1 && pad_rows(w, r) * pad_width(w) * c > DIRECT_PAD_FLOATS) r = (r + 1) / 2;
    return r;
}

size_t kn__conv_direct_scratch_floats(const kn__win *w, int64_t c) { return (size_t)(pad_rows(w, fit_rows(w, c)) * pad_width(w) * c); }

typedef struct {
    const float *x, *kernel; /* x (N, H, W, C); kernel (KH*KW*C, F) */
    float *y;                /* (N, OH, OW, F) */
    int64_t n, h, w, c, f;
    kn__win win;
    kn__bias_act ba;
    int lanes;               /* 8 or 16 */
    int64_t rows;            /* output rows a chunk (the last of an image may have fewer) */
    int64_t chunks_per_image;
    float *scratch;          /* a slot of slot_floats per thread */
    size_t slot_floats;
    int64_t off[KN_CONV_DIRECT_MAX_TAPS]; /* tap t's input from its window's corner, in the padded rows */
} direct_job;

/* Copies rows [iy0, iy0 + rows) of image img, columns [-pl, -pl + wp), into buf, zeros outside. */
static void pad_copy(const direct_job *j, int64_t img, int64_t iy0, int64_t rows, float *buf) {
    const int64_t c = j->c, wp = pad_width(&j->win), pl = j->win.pl;
    const int64_t lo = pl < wp ? pl : wp, hi = pl + j->w < wp ? pl + j->w : wp; /* image columns in buf: [lo, hi) */
    for (int64_t r = 0; r < rows; r++) {
        float *row = buf + r * wp * c;
        int64_t iy = iy0 + r;
        if (iy < 0 || iy >= j->h || hi <= lo) {
            memset(row, 0, (size_t)(wp * c) * sizeof *row);
            continue;
        }
        memset(row, 0, (size_t)(lo * c) * sizeof *row);
        memcpy(row + lo * c, j->x + ((img * j->h + iy) * j->w + lo - pl) * c, (size_t)((hi - lo) * c) * sizeof *row);
        memset(row + hi * c, 0, (size_t)((wp - hi) * c) * sizeof *row);
    }
}

static void direct_chunk(void *p, int64_t k) {
    const direct_job *j = p;
    const kn__win *w = &j->win;
    const int64_t img = k / j->chunks_per_image, oy0 = k % j->chunks_per_image * j->rows;
    const int64_t oy1 = oy0 + j->rows < w->oh ? oy0 + j->rows : w->oh, c = j->c, f = j->f, wp = pad_width(w);
    float *buf = j->scratch + (size_t)kn__pool_slot() * j->slot_floats;
    pad_copy(j, img, oy0 * w->sh - w->pt, pad_rows(w, oy1 - oy0), buf);
    float *y = j->y + (img * w->oh + oy0) * w->ow * f;
    const int ntaps = w->kh * w->kw * (int)c;
    const bool relu = j->ba.act == KN_RELU;
    for (int64_t oy = oy0; oy < oy1; oy++) {
        const float *xr = buf + (oy - oy0) * w->sh * wp * c;
        float *yr = y + (oy - oy0) * w->ow * f;
        for (int64_t v0 = 0; v0 < f / j->lanes; v0 += DIRECT_MAX_FV) { /* groups of filter vectors */
            int64_t left = f / j->lanes - v0;
            int fv = (int)(left < DIRECT_MAX_FV ? left : DIRECT_MAX_FV);
            int64_t col = v0 * j->lanes;
            const float *bias = j->ba.bias ? j->ba.bias + col : NULL;
            if (j->lanes == 16)
                direct_run16(fv, w->ow, xr, (int64_t)w->sw * c, j->off, j->kernel + col, ntaps, f, bias, relu, yr + col);
            else direct_run8(fv, w->ow, xr, (int64_t)w->sw * c, j->off, j->kernel + col, ntaps, f, bias, relu, yr + col);
        }
    }
    if (j->ba.act != KN_LINEAR && !relu) /* (bias and relu came in the tiles) */
        kn__bias_act_epilogue(&(kn__bias_act){.act = j->ba.act, .alpha = j->ba.alpha}, y, f, 0, (oy1 - oy0) * w->ow, 0, f);
}

void kn__conv_direct(const float *x, int64_t n, int64_t h, int64_t w, int64_t c, const float *kernel, int64_t f,
                     const kn__win *win, const kn__bias_act *ba, float *y, float *scratch, int threads) {
    direct_job j = {.x = x, .kernel = kernel, .y = y, .n = n, .h = h, .w = w, .c = c, .f = f, .win = *win, .ba = *ba,
                    .scratch = scratch, .slot_floats = kn__conv_direct_scratch_floats(win, c)};
    j.lanes = kn__sgemm_isa_best() == KN_SGEMM_AVX512 && f % 16 == 0 ? 16 : 8;
    int t = 0;
    for (int ky = 0; ky < win->kh; ky++)
        for (int kx = 0; kx < win->kw; kx++)
            for (int64_t ci = 0; ci < c; ci++) j.off[t++] = ((int64_t)ky * win->dh * pad_width(win) + (int64_t)kx * win->dw) * c + ci;
    /* chunks of fit_rows rows, halved until every thread has four (a single image's rows) */
    j.rows = fit_rows(win, c);
    while (j.rows > 1 && n * ((win->oh + j.rows - 1) / j.rows) < 4 * (int64_t)threads) j.rows = (j.rows + 1) / 2;
    j.chunks_per_image = (win->oh + j.rows - 1) / j.rows;
    kn__pool_run(threads, n * j.chunks_per_image, direct_chunk, &j);
}

/* ------------------------------------------------------------- kernel gradient */

/* dk[t, f] = sum over output pixels of x's tap t input times dy[f]: the same padded rows
 * per chunk, and tiles of taps x one filter vector (conv_direct_lanes.h's dk tile) summing
 * over the chunk's pixels in registers. The 3-D CNN's first layer (27 taps, 16 filters):
 * 2.73 -> 0.66 ms, ~170 GFLOP/s on one thread (bench/RESULTS.md, "Direct convolution of
 * few channels"). A tile's taps are consecutive floats of the padded
 * rows: a run is a window row's KW*C taps (no dilation across) or one column's C,
 * cut into even tiles of at most the tile's width. */
typedef struct {
    direct_job d;            /* x, the geometry, lanes, the chunk's rows, scratch */
    const float *dy;         /* (N, OH, OW, F) */
    float *partial;          /* (parts, KH*KW*C, F) */
    int64_t parts;
    int ntiles;
    int64_t tile_off[KN_CONV_DIRECT_MAX_TAPS]; /* a tile's first tap's input, in the padded rows */
    int tile_tap[KN_CONV_DIRECT_MAX_TAPS], tile_len[KN_CONV_DIRECT_MAX_TAPS];
} dk_job;

/* Part k: the output rows [U k / parts, U (k+1) / parts) of the U = N*OH rows, a chunk of
 * at most d.rows rows (within one image) at a time: the cuts fixed by the shape alone. */
static void dk_part(void *p, int64_t k) {
    const dk_job *j = p;
    const kn__win *w = &j->d.win;
    const int64_t units = j->d.n * w->oh, u1 = units * (k + 1) / j->parts, f = j->d.f, c = j->d.c, wp = pad_width(w);
    const int64_t ntaps = (int64_t)w->kh * w->kw * c, lanes = j->d.lanes;
    float *out = j->partial + k * ntaps * f;
    memset(out, 0, (size_t)(ntaps * f) * sizeof *out);
    float *buf = j->d.scratch + (size_t)kn__pool_slot() * j->d.slot_floats;
    for (int64_t u = units * k / j->parts; u < u1;) {
        const int64_t img = u / w->oh, oy = u % w->oh;
        int64_t rows = j->d.rows;
        if (rows > u1 - u) rows = u1 - u;
        if (rows > w->oh - oy) rows = w->oh - oy;
        pad_copy(&j->d, img, oy * w->sh - w->pt, pad_rows(w, rows), buf);
        const float *dy = j->dy + u * w->ow * f;
        for (int t = 0; t < j->ntiles; t++)
            for (int64_t col = 0; col < f; col += lanes) {
                float *dk = out + (int64_t)j->tile_tap[t] * f + col;
                const float *x = buf + j->tile_off[t];
                if (lanes == 16)
                    dk_run16(j->tile_len[t], x, w->sh * wp * c, (int64_t)w->sw * c, dy + col, w->ow * f, f, rows, w->ow, dk);
                else dk_run8(j->tile_len[t], x, w->sh * wp * c, (int64_t)w->sw * c, dy + col, w->ow * f, f, rows, w->ow, dk);
            }
        u += rows;
    }
}

/* Splits a run of len taps from tap t0 (input offset off) into even tiles of at most max. */
static void add_run(dk_job *j, int64_t off, int t0, int len, int max) {
    int n = (len + max - 1) / max;
    for (int i = 0, done = 0; i < n; i++) {
        int take = (len - done) / (n - i); /* (the larger tiles last) */
        j->tile_off[j->ntiles] = off + done, j->tile_tap[j->ntiles] = t0 + done, j->tile_len[j->ntiles] = take;
        j->ntiles++, done += take;
    }
}

int64_t kn__conv_direct_grad_kernel_parts(int64_t n, const kn__win *win, int64_t max_parts) {
    int64_t units = n * win->oh;
    return max_parts < units ? max_parts : units;
}

void kn__conv_direct_grad_kernel(const float *x, int64_t n, int64_t h, int64_t w, int64_t c, const float *dy,
                                 int64_t f, const kn__win *win, float *partial, int64_t parts, float *scratch,
                                 int threads) {
    dk_job j = {.d = {.x = x, .n = n, .h = h, .w = w, .c = c, .f = f, .win = *win, .scratch = scratch,
                      .slot_floats = kn__conv_direct_scratch_floats(win, c)},
                .dy = dy, .partial = partial, .parts = parts};
    j.d.lanes = kn__sgemm_isa_best() == KN_SGEMM_AVX512 && f % 16 == 0 ? 16 : 8;
    j.d.rows = fit_rows(win, c);
    const int max = j.d.lanes == 16 ? dk_max_taps16() : dk_max_taps8(), kwc = win->kw * (int)c;
    const int64_t wp = pad_width(win);
    for (int ky = 0; ky < win->kh; ky++) {
        int64_t row = (int64_t)ky * win->dh * wp * c;
        if (win->dw == 1 || win->kw == 1) add_run(&j, row, ky * kwc, kwc, max);
        else
            for (int kx = 0; kx < win->kw; kx++) add_run(&j, row + (int64_t)kx * win->dw * c, ky * kwc + kx * (int)c, (int)c, max);
    }
    kn__pool_run(threads, parts, dk_part, &j);
}
