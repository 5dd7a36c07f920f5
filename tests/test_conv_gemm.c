/* test_conv_gemm.c — the blocked convolution kernels (src/backend/cpu/conv_gemm.c), and the
 * forward and kernel gradient of few channels (conv_direct.c: C < 16, KH*KW*C <= 160, F a
 * multiple of 8), against
 * a plain convolution in double precision: relu(conv2d(x, k) + b) and, for the loss
 * sum(y^2)/2, the gradients of x, k and b. Shapes large enough that the kernels cut the
 * rows into several blocks, chunks and weight-gradient parts and run on several threads;
 * every window geometry kind (valid, same, strides, dilation, 1x1, one channel). The fuse
 * pass puts the bias and relu into the convolution's epilogue; with passes off they run
 * as their own nodes: both are checked. Results on 1 and 3 threads are the same bit for
 * bit. Grouped convolutions (kn_grouped_conv2d) likewise: column blocks of one group, of
 * several groups expanded block-diagonal, of all of them; 1x1 ones on the direct path.
 * conv_direct.c's cases: every tile width and filter-vector count at 8 and 16 lanes, steps
 * it specializes and one it does not, windows wider than the image, rows of one pixel, and
 * layers of 16 to 64 channels it takes for their small kernels (the first case, the 64
 * channels over 40x40 and the 1x1 stride-2 one);
 * KILN_CONV_DIRECT=0 (a second ctest run) sends them through the GEMM instead. */
#include "graph/graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

typedef struct {
    const char *name;
    int n, h, w, c, f, kh, kw, sh, sw, dh, dw;
    bool same;
    int groups; /* 0: 1 */
} conv_case;

static int groups_of(const conv_case *c) { return c->groups > 1 ? c->groups : 1; }

typedef struct {
    float *y, *dx, *dk, *db;
    int64_t ny, nx, nk;
} results;

/* Padding as the builder computes it (TensorFlow's 'same': the extra on the bottom/right). */
static int out_dim(int in, int k, int s, int d, bool same, int *pad) {
    int span = d * (k - 1) + 1;
    if (!same) {
        *pad = 0;
        return (in - span) / s + 1;
    }
    int out = (in + s - 1) / s, total = (out - 1) * s + span - in;
    *pad = total > 0 ? total / 2 : 0;
    return out;
}

/* The direct convolution and its gradients in double. */
static void reference(const conv_case *c, const float *x, const float *k, const float *b, results *r) {
    int pt, pl, oh = out_dim(c->h, c->kh, c->sh, c->dh, c->same, &pt), ow = out_dim(c->w, c->kw, c->sw, c->dw, c->same, &pl);
    int64_t ny = (int64_t)c->n * oh * ow * c->f;
    int cg = c->c / groups_of(c), fg = c->f / groups_of(c);
    double *y = calloc((size_t)ny, sizeof *y), *dx = calloc((size_t)c->n * c->h * c->w * c->c, sizeof *dx);
    double *dk = calloc((size_t)c->kh * c->kw * cg * c->f, sizeof *dk), *db = calloc((size_t)c->f, sizeof *db);
    for (int n = 0; n < c->n; n++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int f = 0; f < c->f; f++) {
                    double s = b[f];
                    int c0 = f / fg * cg; /* f's group's first channel */
                    for (int ky = 0; ky < c->kh; ky++)
                        for (int kx = 0; kx < c->kw; kx++) {
                            int iy = oy * c->sh - pt + ky * c->dh, ix = ox * c->sw - pl + kx * c->dw;
                            if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) continue;
                            for (int ch = 0; ch < cg; ch++)
                                s += (double)x[(((int64_t)n * c->h + iy) * c->w + ix) * c->c + c0 + ch] *
                                     k[(((int64_t)ky * c->kw + kx) * cg + ch) * c->f + f];
                        }
                    y[(((int64_t)n * oh + oy) * ow + ox) * c->f + f] = s > 0 ? s : 0;
                }
    /* loss sum(y^2)/2: dy = y, through relu: y where y > 0 (y itself) */
    for (int n = 0; n < c->n; n++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int f = 0; f < c->f; f++) {
                    double g = y[(((int64_t)n * oh + oy) * ow + ox) * c->f + f];
                    if (g == 0) continue;
                    db[f] += g;
                    int c0 = f / fg * cg;
                    for (int ky = 0; ky < c->kh; ky++)
                        for (int kx = 0; kx < c->kw; kx++) {
                            int iy = oy * c->sh - pt + ky * c->dh, ix = ox * c->sw - pl + kx * c->dw;
                            if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) continue;
                            for (int ch = 0; ch < cg; ch++) {
                                int64_t xi = (((int64_t)n * c->h + iy) * c->w + ix) * c->c + c0 + ch;
                                int64_t ki = (((int64_t)ky * c->kw + kx) * cg + ch) * c->f + f;
                                dx[xi] += g * k[ki];
                                dk[ki] += g * x[xi];
                            }
                        }
                }
    r->ny = ny;
    r->nx = (int64_t)c->n * c->h * c->w * c->c;
    r->nk = (int64_t)c->kh * c->kw * cg * c->f;
    r->y = malloc((size_t)r->ny * sizeof(float));
    r->dx = malloc((size_t)r->nx * sizeof(float));
    r->dk = malloc((size_t)r->nk * sizeof(float));
    r->db = malloc((size_t)c->f * sizeof(float));
    for (int64_t i = 0; i < r->ny; i++) r->y[i] = (float)y[i];
    for (int64_t i = 0; i < r->nx; i++) r->dx[i] = (float)dx[i];
    for (int64_t i = 0; i < r->nk; i++) r->dk[i] = (float)dk[i];
    for (int i = 0; i < c->f; i++) r->db[i] = (float)db[i];
    free(y), free(dx), free(dk), free(db);
}

static void free_results(results *r) { free(r->y), free(r->dx), free(r->dk), free(r->db); }

/* Largest |got - want| relative to the largest |want|. */
static double rel_err(const float *got, const float *want, int64_t n) {
    double e = 0, m = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= e)) e = d; /* NaN counts */
        if (fabs(want[i]) > m) m = fabs(want[i]);
    }
    return e / m;
}

/* kiln's values for case c on `threads` threads with the given passes; the parameters'
 * initial values (seeded) into x0, k0, b0 when they are not NULL. */
static bool run(const conv_case *c, int threads, unsigned passes, results *r, float **x0, float **k0, float **b0) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 7}, &ctx);
    kn_graph *g;
    kn_graph_new(ctx, &g);
    g->passes = passes;
    kn_tensor *x = kn_param(g, (int64_t[]){c->n, c->h, c->w, c->c}, 4, KN_INIT_GLOROT_UNIFORM, "x");
    kn_tensor *k = kn_param(g, (int64_t[]){(int64_t)c->kh * c->kw * c->c / groups_of(c), c->f}, 2,
                            KN_INIT_GLOROT_UNIFORM, "k");
    kn_tensor *b = kn_param(g, (int64_t[]){c->f}, 1, KN_INIT_GLOROT_UNIFORM, "b");
    kn_tensor *y = kn_relu(g, kn_add(g, kn_grouped_conv2d(g, x, k, c->kh, c->kw, c->sh, c->sw, c->dh, c->dw, c->same,
                                                          groups_of(c)), b));
    kn_tensor *loss = kn_scale(g, kn_sum_squares(g, y), 0.5f);
    kn_graph_keep(g, y);
    kn_status st = kn_graph_backward(g, loss);
    if (!st) st = kn_graph_compile(g, c->n, true);
    if (!st) st = kn_graph_run(g);
    CHECK(st == KN_OK, "%s: %s", c->name, kn_last_error(ctx));
    if (!st) {
        r->ny = kn__numel(y), r->nx = kn__numel(x), r->nk = kn__numel(k);
        r->y = malloc((size_t)r->ny * sizeof(float));
        r->dx = malloc((size_t)r->nx * sizeof(float));
        r->dk = malloc((size_t)r->nk * sizeof(float));
        r->db = malloc((size_t)c->f * sizeof(float));
        memcpy(r->y, y->data, (size_t)r->ny * sizeof(float));
        memcpy(r->dx, x->grad->data, (size_t)r->nx * sizeof(float));
        memcpy(r->dk, k->grad->data, (size_t)r->nk * sizeof(float));
        memcpy(r->db, b->grad->data, (size_t)c->f * sizeof(float));
        if (x0) {
            *x0 = malloc((size_t)r->nx * sizeof(float)), *k0 = malloc((size_t)r->nk * sizeof(float));
            *b0 = malloc((size_t)c->f * sizeof(float));
            memcpy(*x0, x->data, (size_t)r->nx * sizeof(float));
            memcpy(*k0, k->data, (size_t)r->nk * sizeof(float));
            memcpy(*b0, b->data, (size_t)c->f * sizeof(float));
        }
    }
    kn_graph_free(g);
    kn_ctx_free(ctx);
    return st == KN_OK;
}

static bool same_bits(const results *a, const results *b, int f) {
    return !memcmp(a->y, b->y, (size_t)a->ny * sizeof(float)) && !memcmp(a->dx, b->dx, (size_t)a->nx * sizeof(float)) &&
           !memcmp(a->dk, b->dk, (size_t)a->nk * sizeof(float)) && !memcmp(a->db, b->db, (size_t)f * sizeof(float));
}

/* conv relu -> conv relu -> max pool -> conv tanh -> average pool: with every pass, the
 * activations' gradients run inside the image gradients before them
 * (conv2d_grad_input+relu_grad, max_pool2d_grad+relu_grad, avg_pool2d_grad+tanh_grad); the
 * gradients match the unfused graph's. */
/* A layer of 3 channels (conv_direct.c's, unless KILN_CONV_DIRECT=0) with its bias and an
 * activation fused into it (bias and relu inside the tiles; tanh, leaky relu after each
 * chunk; linear: bias alone) gives the outputs of the same graph with passes off, where bias
 * and activation are their own nodes. */
static void fused_bias_act(void) {
    const kn_activation acts[] = {KN_LINEAR, KN_RELU, KN_TANH, KN_LEAKY_RELU};
    const char *names[] = {"linear", "relu", "tanh", "leaky relu"};
    for (int a = 0; a < 4; a++) {
        float *ys[2] = {0};
        int64_t ny = 0;
        int fused = 0;
        for (int v = 0; v < 2; v++) {
            kn_ctx *ctx;
            kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 5}, &ctx);
            kn_graph *g;
            kn_graph_new(ctx, &g);
            g->passes = v ? KN_PASS_NONE : KN_PASS_ALL;
            kn_tensor *x = kn_param(g, (int64_t[]){6, 13, 15, 3}, 4, KN_INIT_GLOROT_UNIFORM, "x");
            kn_tensor *k = kn_param(g, (int64_t[]){27, 48}, 2, KN_INIT_GLOROT_UNIFORM, "k");
            kn_tensor *b = kn_param(g, (int64_t[]){48}, 1, KN_INIT_GLOROT_UNIFORM, "b");
            kn_tensor *y = kn_add(g, kn_conv2d(g, x, k, 3, 3, 1, 1, 1, 1, true), b);
            if (acts[a] != KN_LINEAR) y = kn_act(g, y, acts[a]);
            kn_graph_keep(g, y);
            kn_status st = kn_graph_compile(g, 6, true);
            if (!st) st = kn_graph_run(g);
            CHECK(st == KN_OK, "fused %s: %s", names[a], kn_last_error(ctx));
            if (!st) {
                ny = kn__numel(y);
                ys[v] = malloc((size_t)ny * sizeof(float));
                memcpy(ys[v], y->data, (size_t)ny * sizeof(float));
                for (int i = 0; i < g->n_nodes && !v; i++) /* bias and activation inside the conv2d node */
                    fused += g->nodes[i]->op == KN_OP_CONV2D && g->nodes[i]->fused[0];
            }
            kn_graph_free(g);
            kn_ctx_free(ctx);
        }
        if (ys[0] && ys[1]) {
            double e = rel_err(ys[0], ys[1], ny);
            printf("fused bias + %-23s vs own nodes %.1e\n", names[a], e);
            CHECK(fused == 1, "fused %s: the bias and activation were not fused into the convolution", names[a]);
            CHECK(e < 2e-6, "fused %s: differs from bias and activation as their own nodes (%.3g)", names[a], e);
        }
        free(ys[0]), free(ys[1]);
    }
}

static void stacked(void) {
    float *grads[2] = {0};
    int64_t total = 0;
    int fused[2] = {0};
    for (int v = 0; v < 2; v++) {
        kn_ctx *ctx;
        kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 11}, &ctx);
        kn_graph *g;
        kn_graph_new(ctx, &g);
        g->passes = v ? KN_PASS_NONE : KN_PASS_ALL;
        kn_tensor *x = kn_param(g, (int64_t[]){12, 16, 16, 3}, 4, KN_INIT_GLOROT_UNIFORM, "x");
        kn_tensor *k1 = kn_param(g, (int64_t[]){27, 16}, 2, KN_INIT_GLOROT_UNIFORM, "k1");
        kn_tensor *b1 = kn_param(g, (int64_t[]){16}, 1, KN_INIT_GLOROT_UNIFORM, "b1");
        kn_tensor *k2 = kn_param(g, (int64_t[]){144, 24}, 2, KN_INIT_GLOROT_UNIFORM, "k2");
        kn_tensor *b2 = kn_param(g, (int64_t[]){24}, 1, KN_INIT_GLOROT_UNIFORM, "b2");
        kn_tensor *k3 = kn_param(g, (int64_t[]){216, 8}, 2, KN_INIT_GLOROT_UNIFORM, "k3");
        kn_tensor *h = kn_relu(g, kn_add(g, kn_conv2d(g, x, k1, 3, 3, 1, 1, 1, 1, true), b1));
        h = kn_relu(g, kn_add(g, kn_conv2d(g, h, k2, 3, 3, 1, 1, 1, 1, false), b2));
        h = kn_max_pool2d(g, h, 2, 2, 2, 2, false);
        h = kn_act(g, kn_conv2d(g, h, k3, 3, 3, 1, 1, 1, 1, true), KN_TANH);
        h = kn_avg_pool2d(g, h, 2, 2, 2, 2, false);
        kn_tensor *loss = kn_sum_squares(g, h);
        kn_status st = kn_graph_backward(g, loss);
        if (!st) st = kn_graph_compile(g, 12, true);
        if (!st) st = kn_graph_run(g);
        CHECK(st == KN_OK, "stacked: %s", kn_last_error(ctx));
        if (!st) {
            kn_tensor *ps[] = {x, k1, b1, k2, b2, k3};
            total = 0;
            for (int i = 0; i < 6; i++) total += kn__numel(ps[i]);
            grads[v] = malloc((size_t)total * sizeof(float));
            int64_t at = 0;
            for (int i = 0; i < 6; i++) {
                memcpy(grads[v] + at, ps[i]->grad->data, (size_t)kn__numel(ps[i]) * sizeof(float));
                at += kn__numel(ps[i]);
            }
            for (int i = 0; i < g->n_nodes; i++)
                fused[v] += strstr(g->nodes[i]->fused, "grad_input+") || strstr(g->nodes[i]->fused, "pool2d_grad+");
        }
        kn_graph_free(g);
        kn_ctx_free(ctx);
    }
    if (grads[0] && grads[1]) {
        double e = 0, m = 1e-30;
        for (int64_t i = 0; i < total; i++) {
            e = fmax(e, fabs((double)grads[0][i] - grads[1][i]));
            m = fmax(m, fabs((double)grads[1][i]));
        }
        printf("%-36s fused activation gradients %d (unfused %d), gradients differ by %.1e\n", "stacked conv, conv, pool, conv, pool",
               fused[0], fused[1], e / m);
        CHECK(fused[0] == 3 && fused[1] == 0, "stacked: %d activation gradients fused into image gradients (expected 3)",
              fused[0]);
        CHECK(e / m < 1e-5, "stacked: fused and unfused gradients differ (%.3g)", e / m);
    }
    free(grads[0]);
    free(grads[1]);
}

int main(void) {
    /* big enough for 2+ threads (>= 3e7 flops), several 256 KB blocks and weight-gradient parts */
    const conv_case cases[] = {
        {"3x3 valid, 16 channels", 16, 20, 20, 16, 32, 3, 3, 1, 1, 1, 1, false, 0},
        {"3x3 same, 1 channel", 32, 28, 28, 1, 32, 3, 3, 1, 1, 1, 1, true, 0},
        {"3x3 stride 2 same", 16, 21, 19, 8, 24, 3, 3, 2, 2, 1, 1, true, 0},
        {"2x3 stride 2x1 dilation 2 same", 8, 17, 18, 12, 20, 2, 3, 2, 1, 2, 2, true, 0},
        {"5x5 dilation 2 valid", 8, 22, 22, 6, 16, 5, 5, 1, 1, 2, 2, false, 0},
        {"1x1 (windows are rows)", 16, 24, 24, 64, 48, 1, 1, 1, 1, 1, 1, false, 0},
        /* 1,600 output rows of 576 an image: several blocks within one image's input gradient */
        {"3x3 same, 64 channels, 40x40 images", 2, 40, 40, 64, 16, 3, 3, 1, 1, 1, 1, true, 0},
        /* windows of 4608 floats: a 768 KB block holds 42 rows, fewer than the 48-row
         * chunks the forward splits small products into (chunks stay within a block) */
        {"3x3 same, 512 channels", 4, 8, 8, 512, 8, 3, 3, 1, 1, 1, 1, true, 0},
        /* grouped: blocks of 4 groups of 4 filters (ResNeXt's first stage), expanded */
        {"3x3 same, 32 groups 4 -> 4", 8, 14, 14, 128, 128, 3, 3, 1, 1, 1, 1, true, 32},
        /* a block a group (16 filters fill the tile): its columns of the kernel itself */
        {"3x3 stride 2 same, 2 groups 16 -> 16", 8, 17, 16, 32, 32, 3, 3, 2, 2, 1, 1, true, 2},
        /* no block of groups reaches 16 filters: all three groups in one block */
        {"2x3 dilation 2 valid, 3 groups 4 -> 2", 8, 17, 18, 12, 6, 2, 3, 1, 1, 2, 2, false, 3},
        /* 1x1: the windows are x's rows, from each block's channels */
        {"1x1, 8 groups 4 -> 8 (direct)", 16, 12, 12, 32, 64, 1, 1, 1, 1, 1, 1, false, 8},
        {"1x1, 2 groups 8 -> 24 (direct)", 16, 12, 12, 16, 48, 1, 1, 1, 1, 1, 1, false, 2},
        /* 6,400 rows: weight-gradient parts, each summing its blocks' expanded products */
        {"3x3 same, 16 groups 2 -> 2, 40x40 images", 4, 40, 40, 32, 32, 3, 3, 1, 1, 1, 1, true, 16},
        /* conv_direct.c: the 3-D CNN's first layer (27 taps, 16 filters: one vector at 16 lanes) */
        {"direct: 3x3 same, 3 channels, 16 filters", 8, 32, 32, 3, 16, 3, 3, 1, 1, 1, 1, true, 0},
        /* 24 filters: three vectors at 8 lanes; stride 2 over 2 channels (step 4) */
        {"direct: 5x5 stride 2 same, 2 ch, 24 f", 4, 19, 23, 2, 24, 5, 5, 2, 2, 1, 1, true, 0},
        /* 72 filters: groups of 4, 4 and 1 vectors at 8 lanes (9 vectors); dilation; rows
         * of 13 pixels, the last one a tile of its own whose 9 taps split into partial sums
         * (8 and a last one), every tap inside the image */
        {"direct: 3x3 dil 2 valid, 1 ch, 72 f", 3, 15, 17, 1, 72, 3, 3, 1, 1, 2, 2, false, 0},
        /* step 8 (stride 2, 4 channels): read at run time; 64 filters, 4 vectors at 16 lanes */
        {"direct: 3x3 stride 2 valid, 4 ch, 64 f", 5, 17, 21, 4, 64, 3, 3, 2, 2, 1, 1, false, 0},
        /* windows wider than the image (the padding past its last column), 48 filters */
        {"direct: 5x7 same over 3x4, 2 ch, 48 f", 6, 3, 4, 2, 48, 5, 7, 1, 1, 1, 1, true, 0},
        /* a 7x7 stride-2 stem over RGB (147 taps, step 6), 64 filters */
        {"direct: 7x7 stride 2 same, 3 ch, 64 f", 2, 30, 27, 3, 64, 7, 7, 2, 2, 1, 1, true, 0},
        /* rows of one output pixel; stride 3 over 2 channels (step 6) */
        {"direct: 2x2 stride 3 valid, 8 f", 7, 11, 4, 2, 8, 2, 2, 3, 3, 1, 1, false, 0},
        /* a 1-D convolution's shape (one row), 32 filters: two vectors at 16 lanes */
        {"direct: 1x7 same, 1 row, 3 ch, 32 f", 9, 1, 50, 3, 32, 1, 7, 1, 1, 1, 1, true, 0},
        /* window rows of 30 taps (5 x 6 channels): the kernel gradient's runs cut into two
         * tiles of 15 at 16 lanes, three of 10 at 8 */
        {"direct: 3x5 same, 6 ch, 32 f", 6, 20, 18, 6, 32, 3, 5, 1, 1, 1, 1, true, 0},
        /* past 16 channels while the kernel fits conv_direct.c's 40 KB: a 1x1 stride-2
         * projection (64 taps at step 128, 128 filters: groups of 4 and 4 vectors) */
        {"direct: 1x1 stride 2, 64 ch, 128 f", 4, 15, 13, 64, 128, 1, 1, 2, 2, 1, 1, false, 0},
        /* a 72 KB kernel: the forward through the GEMM, the kernel gradient direct (to
         * 160 KB), in two parts */
        {"3x3 same, 32 -> 64 (direct kernel grad)", 24, 14, 14, 32, 64, 3, 3, 1, 1, 1, 1, true, 0},
    };
    const unsigned variants[2] = {KN_PASS_ALL, KN_PASS_NONE};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const conv_case *c = &cases[i];
        results ref = {0}, one = {0}, three = {0}, plain = {0};
        float *x0 = NULL, *k0 = NULL, *b0 = NULL;
        if (!run(c, 1, variants[0], &one, &x0, &k0, &b0)) continue;
        reference(c, x0, k0, b0, &ref);
        double ey = rel_err(one.y, ref.y, ref.ny), ex = rel_err(one.dx, ref.dx, ref.nx);
        double ek = rel_err(one.dk, ref.dk, ref.nk), eb = rel_err(one.db, ref.db, c->f);
        printf("%-36s y %.1e  dx %.1e  dk %.1e  db %.1e", c->name, ey, ex, ek, eb);
        CHECK(one.ny == ref.ny && ey < 1e-5 && ex < 1e-5 && ek < 1e-5 && eb < 1e-5, "%s: differs from the direct convolution",
              c->name);
        if (run(c, 3, variants[0], &three, NULL, NULL, NULL)) {
            bool same = same_bits(&one, &three, c->f);
            printf("  1 vs 3 threads %s", same ? "identical" : "DIFFER");
            CHECK(same, "%s: 1 and 3 threads differ", c->name);
        }
        if (run(c, 3, variants[1], &plain, NULL, NULL, NULL)) {
            double e = rel_err(plain.y, ref.y, ref.ny) + rel_err(plain.dk, ref.dk, ref.nk) + rel_err(plain.dx, ref.dx, ref.nx);
            printf("  passes off %.1e", e);
            CHECK(e < 3e-5, "%s: passes off differs from the direct convolution", c->name);
        }
        printf("\n");
        free_results(&ref), free_results(&one), free_results(&three), free_results(&plain);
        free(x0), free(k0), free(b0);
    }
    stacked();
    fused_bias_act();
    return failures ? 1 : 0;
}
