/* conv_q8.c — a convolution's forward pass in int8 (kn_model_set_quantization).
 *
 * Each image of the batch is quantized once, over its own range (one scale and zero point
 * an image, q8.h's rule for a row: the image is the row), so a sample's result never
 * depends on its batch. Its windows are then gathered as bytes, a block of output
 * positions at a time, as conv_gemm.c gathers f32 windows (a quarter of the bytes), the
 * padding filled with the image's zero point (the quantized 0.0, so it adds exactly
 * nothing), and each block multiplies the kernel packed once (q8.h) with bias and
 * activation applied to its rows. The kernel is quantized per filter (a column of the
 * (KH*KW*C, F) matrix).
 *
 *   scratch: the quantized batch (N*H*W*C bytes), its scales and zero points (N each), then
 *            a slot per thread: a block of window rows (rows x ldq bytes) and the rows'
 *            scales and zero points (the image's, repeated). */
#include "cpu.h"
#include "core/pool.h"
#include "q8.h"

#include <string.h>

/* Most bytes in a block of window rows (it stays in L2 beside the packed kernel). */
#define CONV_Q8_BLOCK_BYTES (96 * 1024)
#define CONV_Q8_MIN_TAPS 32 /* fewer inputs a window (a first layer's 3x3 of one channel): conv_direct.c's */

static size_t up64(size_t b) { return (b + 63) & ~(size_t)63; }

bool kn__q8_conv_eligible(const kn_graph *g, const kn_tensor *t) {
    const kn_tensor *x = t->src[0], *k = t->src[1];
    if (t->op != KN_OP_CONV2D || kn__conv_groups(t) > 1) return false;
    if (x->dtype != KN_F32 || k->dtype != KN_F32 || t->dtype != KN_F32 || k->ndim != 2) return false;
    if (k->ne[0] < CONV_Q8_MIN_TAPS || k->ne[0] > KN_Q8_MAX_K || k->ne[1] < KN_Q8_PANEL) return false;
    (void)g;
    return kn__q8_constant(k);
}

typedef struct {
    int64_t n, h, w, c, f, k, ldq, rows, block; /* block: window rows in a thread's slot */
    kn__win win;
} q8_geom;

static q8_geom geom_of(const kn_tensor *t) {
    const kn_tensor *x = t->src[0];
    q8_geom q = {.n = x->ne[0], .h = x->ne[1], .w = x->ne[2], .c = x->ne[3], .f = t->ne[3], .win = kn__win_unpack(t)};
    q.k = (int64_t)q.win.kh * q.win.kw * q.c;
    q.ldq = (q.k + 3) / 4 * 4;
    q.rows = q.n * q.win.oh * q.win.ow;
    q.block = CONV_Q8_BLOCK_BYTES / q.ldq / 6 * 6;
    if (q.block < 6) q.block = 6;
    return q;
}

static size_t slot_bytes(const q8_geom *q) { return up64((size_t)(q->block * q->ldq)) + 2 * up64((size_t)q->block * 4); }
static size_t shared_bytes(const q8_geom *q) { return up64((size_t)(q->n * q->h * q->w * q->c)) + 2 * up64((size_t)q->n * 4); }

size_t kn__cpu_conv_q8_scratch(const kn_graph *g, const kn_tensor *t) {
    q8_geom q = geom_of(t);
    return shared_bytes(&q) + (size_t)kn_ctx_threads(g->ctx) * slot_bytes(&q);
}

typedef struct {
    q8_geom q;
    int isa;
    const float *x;
    uint8_t *img;   /* (N, H*W*C) quantized images */
    float *sx;      /* (N) their scales */
    int32_t *zp;    /* (N) and zero points */
    uint8_t *slots; /* the threads' slots */
    const kn__q8_weights *w;
    const float *bias;
    int act;
    float alpha;
    float *y;
    int64_t chunk;  /* output rows a chunk (at most a slot's block) */
} q8_conv_job;

static void quantize_image(void *p, int64_t i) {
    const q8_conv_job *j = p;
    int64_t size = j->q.h * j->q.w * j->q.c;
    kn__q8_quantize(j->isa, j->x + i * size, size, j->img + i * size, j->sx + i, j->zp + i);
}

/* Window rows [r0, r1) as bytes into out (row stride ldq): (ky, kx, c) order, the image's
 * zero point in the padding, zeros past K. */
static void gather(const q8_conv_job *j, int64_t r0, int64_t r1, uint8_t *out, float *sx, int32_t *zp) {
    const q8_geom *g = &j->q;
    const kn__win *w = &g->win;
    const int64_t c = g->c, per = (int64_t)w->oh * w->ow, run = (int64_t)w->kw * c;
    for (int64_t r = r0; r < r1; r++) {
        int64_t n = r / per, at = r % per, oy = at / w->ow, ox = at % w->ow;
        uint8_t *row = out + (r - r0) * g->ldq, z = (uint8_t)j->zp[n];
        const uint8_t *img = j->img + n * g->h * g->w * c;
        int64_t ix0 = ox * w->sw - w->pl;
        bool whole = w->dw == 1 && ix0 >= 0 && ix0 + w->kw <= g->w;
        for (int ky = 0; ky < w->kh; ky++) {
            int64_t iy = oy * w->sh - w->pt + (int64_t)ky * w->dh;
            uint8_t *dst = row + ky * run;
            if (iy < 0 || iy >= g->h) memset(dst, z, (size_t)run);
            else if (whole) memcpy(dst, img + (iy * g->w + ix0) * c, (size_t)run);
            else
                for (int kx = 0; kx < w->kw; kx++) {
                    int64_t ix = ix0 + (int64_t)kx * w->dw;
                    if (ix < 0 || ix >= g->w) memset(dst + kx * c, z, (size_t)c);
                    else memcpy(dst + kx * c, img + (iy * g->w + ix) * c, (size_t)c);
                }
        }
        memset(row + g->k, 0, (size_t)(g->ldq - g->k));
        sx[r - r0] = j->sx[n], zp[r - r0] = j->zp[n];
    }
}

static void product_chunk(void *p, int64_t k) {
    const q8_conv_job *j = p;
    const q8_geom *g = &j->q;
    int64_t r0 = k * j->chunk, r1 = r0 + j->chunk < g->rows ? r0 + j->chunk : g->rows;
    if (r0 >= r1) return;
    uint8_t *slot = j->slots + (size_t)kn__pool_slot() * slot_bytes(g);
    float *sx = (float *)(slot + up64((size_t)(g->block * g->ldq)));
    int32_t *zp = (int32_t *)((uint8_t *)sx + up64((size_t)g->block * 4));
    gather(j, r0, r1, slot, sx, zp);
    kn__q8_product(j->isa, r1 - r0, slot, g->ldq, sx, zp, j->w, j->bias, j->act, j->alpha, j->y + r0 * g->f, g->f);
}

/* Convolutions below this many multiply-adds run on one thread (as conv_gemm.c's, at a
 * quarter of the cost a product). */
#define CONV_Q8_PAR_MACS 4e6

bool kn__cpu_conv_q8(kn_graph *g, kn_tensor *t) {
    const kn__q8_weights *w = kn__q8_node(g, t);
    if (!w) return false;
    const kn_tensor *bias = t->src[2];
    q8_conv_job j = {.q = geom_of(t), .isa = kn__q8_isa_best(), .x = t->src[0]->data, .w = w,
                     .bias = bias ? bias->data : NULL, .act = t->iparam[4], .alpha = t->fparam[0], .y = t->data};
    uint8_t *s = kn__cpu_scratch(g, t, kn__cpu_conv_q8_scratch(g, t));
    if (!s) return true; /* (the graph's error is set) */
    size_t images = up64((size_t)(j.q.n * j.q.h * j.q.w * j.q.c));
    j.img = s, j.sx = (float *)(s + images), j.zp = (int32_t *)(s + images + up64((size_t)j.q.n * 4));
    j.slots = s + shared_bytes(&j.q);
    int threads = (double)j.q.rows * (double)j.q.f * (double)j.q.k >= CONV_Q8_PAR_MACS ? kn_ctx_threads(g->ctx) : 1;
    kn__pool_run(threads < j.q.n ? threads : (int)j.q.n, j.q.n, quantize_image, &j);
    /* chunks of a block, or smaller so that every thread has a few (at least 24 rows) */
    int64_t chunks = (j.q.rows + j.q.block - 1) / j.q.block;
    if (threads > 1 && chunks < 4 * threads) {
        chunks = 4 * threads;
        if (chunks > (j.q.rows + 23) / 24) chunks = (j.q.rows + 23) / 24;
    }
    j.chunk = (j.q.rows + chunks - 1) / chunks;
    j.chunk = (j.chunk + 5) / 6 * 6;
    if (j.chunk > j.q.block) j.chunk = j.q.block;
    kn__pool_run(threads, (j.q.rows + j.chunk - 1) / j.chunk, product_chunk, &j);
    kn__cpu_scratch_done(g, t, s);
    return true;
}
