/* conv_gemm.c — convolution as blocked im2col + GEMM, without the im2col matrix.
 *
 * A 3x3 convolution of a batch of 128 26x26x32 images has an im2col matrix of
 * 128*576 x 288 floats: 85 MB, written, read back by the GEMM, and its gradient written and
 * read again by col2im (13 ms of a 95 ms training step, and a third of the arena). Here each
 * kernel gathers the windows of one block of output rows into a scratch block that stays in
 * the core's L2 cache, multiplies it at once, and moves on; each thread has its own block
 * (the node's planned scratch, slot by slot: core/pool.h) and runs its products on one
 * thread, so the threads never wait on one another inside a layer.
 *
 *   forward       y[rows] = act(im2col(x)[rows] kernel + bias)        blocks of output rows
 *   grad input    dx[image] = col2im(dy[image] kernel^T)                 whole images
 *   grad kernel   d kernel = sum over parts of im2col(x)[part]^T dy[part]
 *
 * Groups (kn__conv_groups G > 1): filter f reads only its group's C/G channels. The columns
 * are taken a block at a time: a block is the fewest groups whose filters fill the GEMM's
 * 16-column tile (one group when it has 16 filters or more), its windows gathered from its
 * own channels alone and its product written into its columns of y (row stride F), so the
 * groups are never copied apart nor joined. A block of several groups multiplies by its
 * kernel expanded block-diagonal (zeros between the groups: kernel_of), which costs the zero
 * products but keeps the GEMM's full tile; a single group's block reads the kernel's own
 * columns. The backward takes the same blocks: the input gradient's blocks write disjoint
 * channels of dx, the kernel gradient's keep their diagonal parts.
 *
 * The weight gradient is a sum over every output position: its rows are cut into parts
 * fixed by the shape alone (never by the thread count), each part summed into its own
 * partial in row order, and the partials added in part order, so the result is the same
 * bit for bit whatever the thread count. Images are disjoint in dx, so the input gradient
 * is too.
 *
 * Mixed precision (graph/passes/precision.c): x, dy and the fused activation's value may be
 * stored half, and so may y and dx. The GEMM only ever sees f32: the gather widens x as it
 * copies windows, a half dy block is widened into the thread's scratch first, and a half
 * output is computed into f32 scratch (a block of y, or a whole image of dx) and narrowed.
 * The f32 path takes none of these detours. Where kn__gemm_mixed runs bf16 products on AMX
 * tiles (kn__gemm_mixed_amx: the CPU has AMX-BF16, KILN_AMX is not 0), a bf16 x's windows
 * are gathered as bf16 (copied, half the bytes) and a bf16 dy is read as stored, and the
 * three products go to kn__gemm_mixed: bf16 x bf16 products (the f32 kernel rounded to bf16
 * while packed, PyTorch autocast's semantics) summed in f32, several times the f32
 * product's rate (bench/RESULTS.md). Still one thread a product, same parts: results keep
 * not depending on the thread count. */
#include "cpu.h"
#include "core/pool.h"
#include "sgemm.h"

#include <string.h>

/* Scratch a thread's block of windows may take: 768 KB, with the GEMM's packed kernel panel
 * and the block's output rows still inside this machine's 2 MB of L2 per core. Bigger blocks
 * repack the kernel less often: cnn.json's training step took 50-60 ms with 768 KB against
 * 53-64 with 256 KB and 52-60 with 128 KB (bench/train_step, 2 threads, three interleaved
 * rounds: 768 KB fastest in each). */
#define CONV_BLOCK_BYTES (768 * 1024)
/* Most rows in a block (a 1x1 or single-channel convolution has short rows). */
#define CONV_BLOCK_MAX_ROWS 4096
/* The weight gradient's parts: at most this many, each at least CONV_PART_MIN_ROWS. */
#define CONV_MAX_PARTS 16
#define CONV_PART_MIN_ROWS 2048

typedef struct {
    int64_t n, h, w, c;  /* input images (N, H, W, C) */
    int64_t f, k;        /* filters; window row length KH*KW*cb (a column block's) */
    int64_t rows;        /* output positions N*OH*OW */
    int64_t cg, fg;      /* a group's channels and filters (C and F ungrouped) */
    int64_t cb, fb;      /* a column block's channels and filters: whole groups, or one group */
    int64_t blocks;      /* column blocks, C / cb */
    bool expand;         /* a block holds several groups: its kernel is expanded (kernel_of) */
    kn__win win;
    bool direct;         /* 1x1, stride 1, no padding, all f32: the windows are x's own rows */
    kn_dtype xt;         /* x's storage type (f32, or half: the gather widens) */
} conv_geom;

/* Groups in a column block: one when a group's filters fill the GEMM's 16-column tile, else
 * the fewest dividing G that do (all G when none does). */
static int64_t groups_per_block(int64_t groups, int64_t fg) {
    if (fg >= 16) return 1;
    for (int64_t s = 1; s < groups; s++)
        if (groups % s == 0 && s * fg >= 16) return s;
    return groups;
}

/* x is the image side (x, or dx for the input gradient); dy the (rows, F) side. A half
 * tensor on either side rules the direct path out: the GEMM reads only f32. */
static conv_geom geom_of(const kn_tensor *t, const kn_tensor *x, const kn_tensor *dy, int64_t filters) {
    conv_geom g = {.n = x->ne[0], .h = x->ne[1], .w = x->ne[2], .c = x->ne[3], .f = filters, .win = kn__win_unpack(t),
                   .xt = x->dtype};
    int64_t groups = kn__conv_groups(t), s;
    g.cg = g.c / groups, g.fg = g.f / groups;
    s = groups_per_block(groups, g.fg);
    g.cb = s * g.cg, g.fb = s * g.fg, g.blocks = groups / s, g.expand = s > 1;
    g.k = (int64_t)g.win.kh * g.win.kw * g.cb;
    g.rows = g.n * g.win.oh * g.win.ow;
    /* (the sizes too: a transposed convolution's 1x1 window need not map the image onto itself) */
    g.direct = g.win.kh == 1 && g.win.kw == 1 && g.win.sh == 1 && g.win.sw == 1 && g.win.pt == 0 && g.win.pl == 0 &&
               g.win.oh == g.h && g.win.ow == g.w && !kn__is_half(x) && !kn__is_half(dy);
    return g;
}

/* Rows in one block of windows (a multiple of the GEMM's 6-row tile). */
static int64_t block_rows(int64_t k) {
    int64_t r = CONV_BLOCK_BYTES / ((int64_t)sizeof(float) * (k > 0 ? k : 1));
    if (r > CONV_BLOCK_MAX_ROWS) r = CONV_BLOCK_MAX_ROWS;
    r = r / 6 * 6;
    return r < 6 ? 6 : r;
}

/* Convolutions below this many flops run on one thread. A convolution's chunks are
 * independent products on each thread, with no sharing of packed panels (unlike a split
 * GEMM), so a smaller one pays: one image of cnn.json's second layer (21 MFLOP) takes
 * 190 us on one thread. */
#define CONV_PAR_FLOPS 4e6

static int threads_for(const kn_graph *g, const conv_geom *c) {
    return 2.0 * (double)c->rows * (double)c->f * (double)c->k >= CONV_PAR_FLOPS ? kn_ctx_threads(g->ctx) : 1;
}

/* The node's scratch: first what the threads share, the expanded kernel of grouped blocks
 * (kernel_of: the forward's and the input gradient's, `shared`), then a slot per thread: a
 * block of windows (none on the direct path), then, in mixed precision, a block of f32 rows
 * of the (rows, F) side (a half y or dy) and an f32 image (a half dx), and last the kernel
 * gradient's expanded blocks (`kexp`, its grouped blocks' products before their diagonal
 * parts are kept). Sizes in floats. */
typedef struct {
    size_t shared, windows, rows_f, image, kexp;
} slot_layout;

/* The expanded kernel of every block: (KH*KW*cb, fb) each, KH*KW*cb*F in all. */
static size_t expanded_floats(const conv_geom *c) { return c->expand ? (size_t)c->k * (size_t)c->f : 0; }

static slot_layout layout_of(const conv_geom *c, bool half_rows, bool half_image) {
    return (slot_layout){0, c->direct ? 0 : (size_t)block_rows(c->k) * (size_t)c->k,
                         half_rows ? (size_t)block_rows(c->k) * (size_t)c->f : 0,
                         half_image ? (size_t)(c->h * c->w * c->c) : 0, 0};
}

static size_t slot_floats(const slot_layout *l) { return l->windows + l->rows_f + l->image + l->kexp; }

/* The scratch's floats for th threads. */
static size_t scratch_floats(const slot_layout *l, int th) { return l->shared + (size_t)th * slot_floats(l); }

/* This thread's windows block; its rows block, image and kexp follow (slot_layout). NULL
 * when the slot is empty (direct and f32: there may be no scratch at all). */
static float *slot_block(const kn_tensor *t, const slot_layout *l) {
    return slot_floats(l) ? (float *)t->scratch + l->shared + (size_t)kn__pool_slot() * slot_floats(l) : NULL;
}

/* The rows block of a thread's slot (slot_block's ws), or NULL when there is none. */
static float *rows_block(float *ws, const slot_layout *l) { return l->rows_f ? ws + l->windows : NULL; }

/* ------------------------------------------------------------- grouped column blocks */

/* kx = each block's kernel expanded: block b's (KH*KW*cb, fb) matrix holds, at row
 * tap*cb + s*cg + j and column s*fg + o, the kernel's row tap*cg + j and column
 * (b S + s) fg + o for each of its S groups s, and zeros between the groups. */
static void expand_kernel(const conv_geom *g, const float *kernel, float *kx) {
    int64_t taps = (int64_t)g->win.kh * g->win.kw, S = g->cb / g->cg;
    memset(kx, 0, expanded_floats(g) * sizeof(float));
    for (int64_t b = 0; b < g->blocks; b++)
        for (int64_t tap = 0; tap < taps; tap++)
            for (int64_t s = 0; s < S; s++)
                for (int64_t j = 0; j < g->cg; j++)
                    memcpy(kx + ((b * taps + tap) * g->cb + s * g->cg + j) * g->fb + s * g->fg,
                           kernel + (tap * g->cg + j) * g->f + (b * S + s) * g->fg, (size_t)g->fg * sizeof(float));
}

/* The adjoint's diagonal: dk (KH*KW*cg, F) = the expanded blocks kx's parts that are the
 * kernel's (the rest, products across groups, dropped). */
static void keep_diagonal(const conv_geom *g, const float *kx, float *dk) {
    int64_t taps = (int64_t)g->win.kh * g->win.kw, S = g->cb / g->cg;
    for (int64_t b = 0; b < g->blocks; b++)
        for (int64_t tap = 0; tap < taps; tap++)
            for (int64_t s = 0; s < S; s++)
                for (int64_t j = 0; j < g->cg; j++)
                    memcpy(dk + (tap * g->cg + j) * g->f + (b * S + s) * g->fg,
                           kx + ((b * taps + tap) * g->cb + s * g->cg + j) * g->fb + s * g->fg,
                           (size_t)g->fg * sizeof(float));
}

/* Block b's (KH*KW*cb, fb) kernel and its row stride: its expanded matrix in kx, or the
 * kernel's own columns [b fb, (b+1) fb) (one group a block, or no groups). */
static const float *block_kernel(const conv_geom *g, const float *kernel, const float *kx, int64_t b, int64_t *ldb) {
    *ldb = g->expand ? g->fb : g->f;
    return g->expand ? kx + b * g->k * g->fb : kernel + b * g->fb;
}

/* ------------------------------------------------------------- windows of a block of rows */

static inline void copy_floats(float *restrict d, const float *restrict s, int64_t n) {
    for (int64_t i = 0; i < n; i++) d[i] = s[i];
}

static inline void add_floats(float *restrict d, const float *restrict s, int64_t n) {
    for (int64_t i = 0; i < n; i++) d[i] += s[i];
}

/* d[0, n) = x[off, off + n) as f32, x stored as xt. */
static inline void copy_in(float *restrict d, const void *x, kn_dtype xt, int64_t off, int64_t n) {
    if (xt == KN_F32) copy_floats(d, (const float *)x + off, n);
    else kn__widen(xt, (const uint16_t *)x + off, d, n);
}

/* Rows [b0, b1) of a (rows, F) tensor as f32: its own memory, or widened into buf. */
static const float *rows_f32(const kn_tensor *dy, int64_t f, int64_t b0, int64_t b1, float *buf) {
    return kn__read_f32(dy, b0 * f, (b1 - b0) * f, buf);
}

/* d[0, n) = x[off, off + n) as stored (2-byte halves, copied). */
static inline void copy_in_raw(uint16_t *restrict d, const void *x, int64_t off, int64_t n) {
    memcpy(d, (const uint16_t *)x + off, (size_t)n * sizeof *d);
}

/* out[(r - r0) * K ...] = the window of output position r over column block b's channels
 * [b cb, (b+1) cb) (all of them ungrouped), for r in [r0, r1): (ky, kx, c) order, zeros in
 * the padding. A window row's KW taps are one contiguous run of x when the block has every
 * channel, the dilation is 1 and the row lies inside the image. f32 windows (x widened), or
 * with `raw` x's own 2-byte halves copied (out then holds uint16_t; zero bits are 0.0 in
 * both). */
static void gather_windows(const conv_geom *g, const void *x, bool raw, int64_t b, int64_t r0, int64_t r1, void *outv) {
    const kn__win *w = &g->win;
    const int64_t c = g->c, cb = g->cb, per = (int64_t)w->oh * w->ow, run = (int64_t)w->kw * cb;
    const size_t es = raw ? sizeof(uint16_t) : sizeof(float);
    for (int64_t r = r0; r < r1; r++) {
        int64_t n = r / per, q = r % per, oy = q / w->ow, ox = q % w->ow;
        char *row = (char *)outv + (size_t)((r - r0) * g->k) * es;
        const int64_t img = n * g->h * g->w * c + b * cb; /* the image's first element of the block in x */
        int64_t ix0 = ox * w->sw - w->pl;
        bool whole = cb == c && w->dw == 1 && ix0 >= 0 && ix0 + w->kw <= g->w;
        for (int ky = 0; ky < w->kh; ky++) {
            int64_t iy = oy * w->sh - w->pt + (int64_t)ky * w->dh;
            char *dst = row + (size_t)(ky * run) * es;
            if (iy < 0 || iy >= g->h) {
                memset(dst, 0, (size_t)run * es);
            } else if (whole) {
                if (raw) copy_in_raw((uint16_t *)dst, x, img + (iy * g->w + ix0) * c, run);
                else copy_in((float *)dst, x, g->xt, img + (iy * g->w + ix0) * c, run);
            } else {
                for (int kx = 0; kx < w->kw; kx++) {
                    int64_t ix = ix0 + (int64_t)kx * w->dw;
                    char *d = dst + (size_t)(kx * cb) * es;
                    if (ix < 0 || ix >= g->w) memset(d, 0, (size_t)cb * es);
                    else if (raw) copy_in_raw((uint16_t *)d, x, img + (iy * g->w + ix) * c, cb);
                    else copy_in((float *)d, x, g->xt, img + (iy * g->w + ix) * c, cb);
                }
            }
        }
    }
}

/* The adjoint: adds window row r of cols[(r - r0) * K ...] into its cells of img (block
 * b's channels), the (H, W, C) gradient of the image rows [r0, r1) all belong to; padding
 * taps are dropped. */
static void scatter_windows(const conv_geom *g, const float *cols, int64_t b, int64_t r0, int64_t r1, float *img) {
    const kn__win *w = &g->win;
    const int64_t c = g->c, cb = g->cb, per = (int64_t)w->oh * w->ow, run = (int64_t)w->kw * cb;
    img += b * cb;
    for (int64_t r = r0; r < r1; r++) {
        int64_t q = r % per, oy = q / w->ow, ox = q % w->ow;
        const float *row = cols + (r - r0) * g->k;
        int64_t ix0 = ox * w->sw - w->pl;
        bool whole = cb == c && w->dw == 1 && ix0 >= 0 && ix0 + w->kw <= g->w;
        for (int ky = 0; ky < w->kh; ky++) {
            int64_t iy = oy * w->sh - w->pt + (int64_t)ky * w->dh;
            const float *src = row + ky * run;
            if (iy < 0 || iy >= g->h) continue;
            if (whole) {
                add_floats(img + (iy * g->w + ix0) * c, src, run);
                continue;
            }
            for (int kx = 0; kx < w->kw; kx++) {
                int64_t ix = ix0 + (int64_t)kx * w->dw;
                if (ix >= 0 && ix < g->w) add_floats(img + (iy * g->w + ix) * c, src + kx * cb, cb);
            }
        }
    }
}

/* Rows a chunk of the forward pass takes: one block, or fewer rows when one block per
 * thread would leave a thread idle (a single image: 576 rows of 288 for 2 threads); at
 * most a block, which is under 48 rows when a window holds over 4096 floats. */
static int64_t chunk_rows(const conv_geom *g, int threads) {
    int64_t step = block_rows(g->k), n = (g->rows + step - 1) / step;
    if (threads > 1 && n < 4 * (int64_t)threads) {
        int64_t most = (g->rows + 47) / 48; /* chunks of 48 rows at least */
        n = 4 * (int64_t)threads < most ? 4 * (int64_t)threads : most;
        if (n < 1) n = 1;
    }
    int64_t r = (g->rows + n - 1) / n;
    r = (r + 5) / 6 * 6;
    return r < step ? r : step; /* never past the block the scratch holds (windows over 4096 floats) */
}

/* ------------------------------------------------------------- forward */

typedef struct {
    conv_geom geom;
    const kn_tensor *t;
    const void *x;               /* stored as geom.xt */
    const float *kernel;
    const float *kx;             /* the expanded kernel of grouped blocks (kernel_of), or NULL */
    kn_tensor *y;
    slot_layout lay;
    int64_t chunk;               /* output rows a chunk (at most a block) */
    kn__bias_act ba;
    bool bf16_windows;           /* bf16 x and kn__gemm_mixed on AMX: windows kept bf16 */
} fwd_job;

static void fwd_chunk(void *p, int64_t k) {
    const fwd_job *j = p;
    const conv_geom *g = &j->geom;
    int64_t r0 = k * j->chunk, r1 = r0 + j->chunk < g->rows ? r0 + j->chunk : g->rows;
    if (r0 >= r1) return;
    float *ws = slot_block(j->t, &j->lay);
    /* a half y: the block's f32 rows in scratch, bias and activation applied there, narrowed */
    float *out = kn__write_f32(j->y, r0 * g->f, rows_block(ws, &j->lay));
    for (int64_t b = 0; b < g->blocks; b++) { /* column block b: its channels to its filters */
        const float *a = g->direct ? (const float *)j->x + r0 * g->c + b * g->cb : ws;
        int64_t lda = g->direct ? g->c : g->k, ldb;
        const float *kb = block_kernel(g, j->kernel, j->kx, b, &ldb);
        if (!g->direct) gather_windows(g, j->x, j->bf16_windows, b, r0, r1, ws);
        kn__bias_act ba = j->ba; /* the epilogue's columns are the block's */
        if (ba.bias) ba.bias += b * g->fb;
        kn_sgemm_epilogue ep = {kn__bias_act_epilogue, &ba};
        const kn_sgemm_epilogue *epp = ba.bias || ba.act != KN_LINEAR ? &ep : NULL;
        if (j->bf16_windows) /* bf16 windows (half the bytes) x the f32 kernel, on AMX tiles */
            kn__gemm_mixed(false, false, r1 - r0, g->fb, g->k, ws, KN_GEMM_BF16, g->k, kb, KN_GEMM_F32, ldb, 0.0f,
                           out + b * g->fb, KN_GEMM_F32, g->f, 1, epp);
        else
            kn__sgemm_ep(false, false, r1 - r0, g->fb, g->k, a, lda, kb, ldb, out + b * g->fb, g->f, 1, epp);
    }
    kn__write_done(j->y, r0 * g->f, (r1 - r0) * g->f, out);
}

/* The forward's geometry: x, and y on the (rows, F) side. */
static conv_geom fwd_geom(const kn_tensor *t) { return geom_of(t, t->src[0], t, t->ne[3]); }

static slot_layout fwd_layout(const conv_geom *c, const kn_tensor *t) {
    slot_layout l = layout_of(c, kn__is_half(t), false);
    l.shared = expanded_floats(c);
    return l;
}

/* A layer of few channels or a small kernel (kn__conv_direct_fits), all f32, ungrouped: conv_direct.c's. */
static bool takes_direct(const conv_geom *c, const kn_tensor *t) {
    return !c->direct && c->blocks == 1 && t->src[0]->dtype == KN_F32 && t->dtype == KN_F32 &&
           kn__conv_direct_fits(c->c, c->k, c->f, kn__conv_groups(t) > 1, false);
}

size_t kn__cpu_conv2d_scratch(const kn_graph *g, const kn_tensor *t) {
    if (kn__q8_eligible(g, t)) return kn__cpu_conv_q8_scratch(g, t); /* int8 inference (conv_q8.c) */
    conv_geom c = fwd_geom(t);
    if (takes_direct(&c, t)) return (size_t)kn_ctx_threads(g->ctx) * kn__conv_direct_scratch_floats(&c.win, c.c) * sizeof(float);
    slot_layout l = fwd_layout(&c, t);
    return scratch_floats(&l, kn_ctx_threads(g->ctx)) * sizeof(float);
}

void kn__cpu_conv2d(kn_graph *g, kn_tensor *t) {
    if (kn__cpu_conv_q8(g, t)) return; /* int8 inference (conv_q8.c) */
    kn_tensor *x = t->src[0], *bias = t->src[2];
    fwd_job j = {.geom = fwd_geom(t), .t = t, .x = x->data, .kernel = t->src[1]->data, .y = t,
                 .ba = {bias ? bias->data : NULL, (kn_activation)t->iparam[4], t->fparam[0]}};
    if (takes_direct(&j.geom, t)) { /* straight from the image (conv_direct.c) */
        kn__conv_direct(x->data, j.geom.n, j.geom.h, j.geom.w, j.geom.c, j.kernel, j.geom.f, &j.geom.win, &j.ba,
                        t->data, t->scratch, threads_for(g, &j.geom));
        return;
    }
    j.lay = fwd_layout(&j.geom, t);
    if (j.geom.expand) { /* made once a run, read by every thread */
        expand_kernel(&j.geom, j.kernel, t->scratch);
        j.kx = t->scratch;
    }
    /* A bf16-trained convolution (x stored bf16) on a CPU where kn__gemm_mixed runs bf16
     * products on AMX: its windows stay bf16 and its product is bf16 x bf16 (the kernel
     * rounded to bf16 as packed: autocast's semantics), several times the f32 product's
     * rate. Elsewhere, the f32 windows and product as ever (bit for bit). */
    j.bf16_windows = !j.geom.direct && x->dtype == KN_BF16 && kn__gemm_mixed_amx();
    int th = threads_for(g, &j.geom);
    j.chunk = chunk_rows(&j.geom, th);
    kn__pool_run(th, (j.geom.rows + j.chunk - 1) / j.chunk, fwd_chunk, &j);
}

/* ------------------------------------------------------------- input gradient */

typedef struct {
    conv_geom geom;
    const kn_tensor *t;
    const kn_tensor *dy;
    const float *kernel;
    const float *kx;        /* the expanded kernel of grouped blocks (kernel_of), or NULL */
    kn_tensor *dx;
    const kn_tensor *act_v; /* an activation's value to apply its gradient at (fuse pass), or NULL */
    kn_activation act;
    float alpha;
    slot_layout lay;
    bool bf16_dy;           /* bf16 dy and kn__gemm_mixed on AMX: dy read as stored */
} dx_job;

/* dxi, image k's f32 gradient, times the activation's gradient, while the image is in
 * cache; a half value is widened a block at a time. */
static void dx_act(const dx_job *j, int64_t k, float *dxi) {
    int64_t img = j->geom.h * j->geom.w * j->geom.c;
    if (!j->act_v) return;
    if (!kn__is_half(j->act_v)) {
        kn__act_grad_apply(j->act, j->alpha, dxi, (const float *)j->act_v->data + k * img, dxi, img);
        return;
    }
    float vb[KN_HALF_BLOCK];
    for (int64_t i = 0; i < img; i += KN_HALF_BLOCK) {
        int64_t n = img - i < KN_HALF_BLOCK ? img - i : KN_HALF_BLOCK;
        kn__act_grad_apply(j->act, j->alpha, dxi + i, kn__read_f32(j->act_v, k * img + i, n, vb), dxi + i, n);
    }
}

/* Image k: dx = col2im(dy kernel^T), a block of its rows at a time, in row order; summed
 * in f32 (dx's own memory, or the thread's image scratch when dx is half). */
static void dx_image(void *p, int64_t k) {
    const dx_job *j = p;
    const conv_geom *g = &j->geom;
    int64_t per = (int64_t)g->win.oh * g->win.ow, step = block_rows(g->k), img = g->h * g->w * g->c;
    int64_t r0 = k * per, r1 = r0 + per;
    int64_t ldb;
    if (g->direct) { /* the window rows are dx's own rows (all f32); each block its channels */
        float *dxi = (float *)j->dx->data + k * img;
        for (int64_t b = 0; b < g->blocks; b++) {
            const float *kb = block_kernel(g, j->kernel, j->kx, b, &ldb);
            kn__sgemm(false, true, per, g->k, g->fb, 1.0f, (const float *)j->dy->data + r0 * g->f + b * g->fb, g->f,
                      kb, ldb, 0.0f, dxi + b * g->cb, g->c, 1);
        }
        dx_act(j, k, dxi);
        return;
    }
    float *ws = slot_block(j->t, &j->lay), *dyb = rows_block(ws, &j->lay);
    float *dxi = kn__write_f32(j->dx, k * img, ws + j->lay.windows + j->lay.rows_f);
    memset(dxi, 0, (size_t)img * sizeof(float));
    for (int64_t b0 = r0; b0 < r1; b0 += step) {
        int64_t b1 = b0 + step < r1 ? b0 + step : r1;
        const float *dyf = j->bf16_dy ? NULL : rows_f32(j->dy, g->f, b0, b1, dyb); /* (b1 - b0, F) */
        for (int64_t b = 0; b < g->blocks; b++) { /* block b's windows' gradient, to its channels */
            const float *kb = block_kernel(g, j->kernel, j->kx, b, &ldb);
            if (j->bf16_dy) /* bf16 dy x the f32 kernel^T, on AMX tiles */
                kn__gemm_mixed(false, true, b1 - b0, g->k, g->fb, (const uint16_t *)j->dy->data + b0 * g->f + b * g->fb,
                               KN_GEMM_BF16, g->f, kb, KN_GEMM_F32, ldb, 0.0f, ws, KN_GEMM_F32, g->k, 1, NULL);
            else
                kn__sgemm(false, true, b1 - b0, g->k, g->fb, 1.0f, dyf + b * g->fb, g->f, kb, ldb, 0.0f, ws, g->k, 1);
            scatter_windows(g, ws, b, b0, b1, dxi);
        }
    }
    dx_act(j, k, dxi);
    kn__write_done(j->dx, k * img, img, dxi);
}

/* The input gradient's geometry: dx on the image side, dy on the rows side. */
static conv_geom dx_geom(const kn_tensor *t) { return geom_of(t, t, t->src[0], t->src[1]->ne[1]); }

static slot_layout dx_layout(const conv_geom *c, const kn_tensor *t) {
    slot_layout l = layout_of(c, kn__is_half(t->src[0]), kn__is_half(t));
    l.shared = expanded_floats(c);
    return l;
}

size_t kn__cpu_conv2d_grad_input_scratch(const kn_graph *g, const kn_tensor *t) {
    conv_geom c = dx_geom(t);
    slot_layout l = dx_layout(&c, t);
    return scratch_floats(&l, kn_ctx_threads(g->ctx)) * sizeof(float);
}

void kn__cpu_conv2d_grad_input(kn_graph *g, kn_tensor *t) {
    dx_job j = {.geom = dx_geom(t), .t = t, .dy = t->src[0], .kernel = t->src[1]->data, .dx = t, .act_v = t->src[2],
                .act = (kn_activation)t->iparam[4], .alpha = t->fparam[0]};
    j.lay = dx_layout(&j.geom, t);
    if (j.geom.expand) { /* made once a run, read by every thread */
        expand_kernel(&j.geom, j.kernel, t->scratch);
        j.kx = t->scratch;
    }
    j.bf16_dy = !j.geom.direct && j.dy->dtype == KN_BF16 && kn__gemm_mixed_amx(); /* as the forward's windows */
    kn__pool_run(threads_for(g, &j.geom), j.geom.n, dx_image, &j);
}

/* ------------------------------------------------------------- kernel gradient */

/* Parts of the rows summed apart: fixed by the row count alone. */
static int64_t kernel_parts(const conv_geom *g) {
    int64_t n = g->rows / CONV_PART_MIN_ROWS;
    return n < 1 ? 1 : n > CONV_MAX_PARTS ? CONV_MAX_PARTS : n;
}

typedef struct {
    conv_geom geom;
    const kn_tensor *t;
    const void *x;               /* stored as geom.xt */
    const kn_tensor *dy;
    float *partial;              /* (parts, K, F) */
    int64_t parts;
    slot_layout lay;
    bool bf16_windows;           /* bf16 x and kn__gemm_mixed on AMX: windows kept bf16 */
} dk_job;

/* The kernel's rows: KH*KW*cg (the window's K, KH*KW*cb, when no block expands). */
static int64_t kernel_rows(const conv_geom *g) { return (int64_t)g->win.kh * g->win.kw * g->cg; }

/* Part k: partial[k] = im2col(x)[rows]^T dy[rows] over its rows, a block of rows at a
 * time, each column block's product into its columns (ldc F), or into the thread's
 * expanded blocks (kexp) whose diagonal parts are kept at the end. */
static void dk_part(void *p, int64_t k) {
    const dk_job *j = p;
    const conv_geom *g = &j->geom;
    int64_t r0 = g->rows * k / j->parts, r1 = g->rows * (k + 1) / j->parts, step = block_rows(g->k);
    float *out = j->partial + k * kernel_rows(g) * g->f;
    if (r0 >= r1) {
        memset(out, 0, (size_t)(kernel_rows(g) * g->f) * sizeof(float));
        return;
    }
    float *ws = slot_block(j->t, &j->lay);
    float *kexp = g->expand ? ws + j->lay.windows + j->lay.rows_f + j->lay.image : NULL;
    for (int64_t b0 = r0; b0 < r1; b0 += step) {
        int64_t b1 = b0 + step < r1 ? b0 + step : r1;
        float beta = b0 == r0 ? 0.0f : 1.0f;
        const float *dyf = j->bf16_windows ? NULL : rows_f32(j->dy, g->f, b0, b1, rows_block(ws, &j->lay));
        for (int64_t b = 0; b < g->blocks; b++) {
            const float *a = g->direct ? (const float *)j->x + b0 * g->c + b * g->cb : ws;
            int64_t lda = g->direct ? g->c : g->k;
            float *c = g->expand ? kexp + b * g->k * g->fb : out + b * g->fb; /* (K, fb) */
            int64_t ldc = g->expand ? g->fb : g->f;
            if (!g->direct) gather_windows(g, j->x, j->bf16_windows, b, b0, b1, ws);
            if (j->bf16_windows) { /* bf16 windows^T x dy as stored (bf16 or f32), on AMX tiles */
                const kn_gemm_type dyt = kn__half_gemm_type(j->dy->dtype);
                const void *dy = (const char *)j->dy->data + (size_t)(b0 * g->f + b * g->fb) * (dyt == KN_GEMM_F32 ? 4 : 2);
                kn__gemm_mixed(true, false, g->k, g->fb, b1 - b0, ws, KN_GEMM_BF16, g->k, dy, dyt, g->f, beta, c,
                               KN_GEMM_F32, ldc, 1, NULL);
                continue;
            }
            kn__sgemm(true, false, g->k, g->fb, b1 - b0, 1.0f, a, lda, dyf + b * g->fb, g->f, beta, c, ldc, 1);
        }
    }
    if (g->expand) keep_diagonal(g, kexp, out);
}

typedef struct {
    const float *partial;
    float *dk;
    int64_t parts, size;
} sum_args;

static void sum_parts(void *p, int64_t lo, int64_t hi) {
    const sum_args *a = p;
    memcpy(a->dk + lo, a->partial + lo, (size_t)(hi - lo) * sizeof(float));
    for (int64_t k = 1; k < a->parts; k++) add_floats(a->dk + lo, a->partial + k * a->size + lo, hi - lo);
}

/* The kernel gradient's geometry: x on the image side, dy on the rows side. */
static conv_geom dk_geom(const kn_tensor *t) { return geom_of(t, t->src[0], t->src[1], t->ne[1]); }

/* Floats of the threads' slots, before the partials. */
static size_t dk_slots(const kn_graph *g, const slot_layout *l) { return (size_t)kn_ctx_threads(g->ctx) * slot_floats(l); }

static slot_layout dk_layout(const conv_geom *c, const kn_tensor *t) {
    slot_layout l = layout_of(c, kn__is_half(t->src[1]), false);
    l.kexp = expanded_floats(c);
    return l;
}

/* Likewise its kernel gradient (to larger kernels), cut into parts of output rows (no more
 * than kernel_parts, as fixed by the shape). */
static bool dk_takes_direct(const conv_geom *c, const kn_tensor *t) {
    return !c->direct && c->blocks == 1 && t->src[0]->dtype == KN_F32 && t->src[1]->dtype == KN_F32 &&
           t->dtype == KN_F32 && kn__conv_direct_fits(c->c, c->k, c->f, kn__conv_groups(t) > 1, true);
}

static int64_t dk_direct_parts(const conv_geom *c) { return kn__conv_direct_grad_kernel_parts(c->n, &c->win, kernel_parts(c)); }

size_t kn__cpu_conv2d_grad_kernel_scratch(const kn_graph *g, const kn_tensor *t) {
    conv_geom c = dk_geom(t);
    if (dk_takes_direct(&c, t)) {
        size_t parts = dk_direct_parts(&c) > 1 ? (size_t)dk_direct_parts(&c) * (size_t)kernel_rows(&c) * (size_t)c.f : 0;
        return ((size_t)kn_ctx_threads(g->ctx) * kn__conv_direct_scratch_floats(&c.win, c.c) + parts) * sizeof(float);
    }
    slot_layout l = dk_layout(&c, t);
    size_t partials = kernel_parts(&c) > 1 ? (size_t)kernel_parts(&c) * (size_t)kernel_rows(&c) * (size_t)c.f : 0;
    return (dk_slots(g, &l) + partials) * sizeof(float);
}

void kn__cpu_conv2d_grad_kernel(kn_graph *g, kn_tensor *t) {
    dk_job j = {.geom = dk_geom(t), .t = t, .x = t->src[0]->data, .dy = t->src[1]};
    const conv_geom *c = &j.geom;
    if (dk_takes_direct(c, t)) {
        j.parts = dk_direct_parts(c);
        size_t slots = (size_t)kn_ctx_threads(g->ctx) * kn__conv_direct_scratch_floats(&c->win, c->c);
        j.partial = j.parts == 1 ? t->data : (float *)t->scratch + slots;
        kn__conv_direct_grad_kernel(j.x, c->n, c->h, c->w, c->c, j.dy->data, c->f, &c->win, j.partial, j.parts,
                                    t->scratch, threads_for(g, c));
        if (j.parts > 1) {
            sum_args s = {j.partial, t->data, j.parts, kernel_rows(c) * c->f};
            kn__parallel_for(g, s.size, KN_GRAIN, sum_parts, &s);
        }
        return;
    }
    j.lay = dk_layout(c, t);
    j.bf16_windows = !c->direct && c->xt == KN_BF16 && kn__gemm_mixed_amx(); /* as the forward's */
    j.parts = kernel_parts(c);
    if (j.parts == 1) { /* straight into the gradient */
        j.partial = t->data;
        dk_part(&j, 0);
        return;
    }
    j.partial = (float *)t->scratch + dk_slots(g, &j.lay);
    kn__pool_run(threads_for(g, c), j.parts, dk_part, &j);
    sum_args s = {j.partial, t->data, j.parts, kernel_rows(c) * c->f};
    kn__parallel_for(g, s.size, KN_GRAIN, sum_parts, &s);
}
