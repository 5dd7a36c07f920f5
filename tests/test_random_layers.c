/* test_random_layers.c — Keras 3's random augmentation layers (kn_random_image; random_flip,
 * random_translation, random_rotation, random_zoom, random_contrast, random_brightness):
 *
 * - each geometric layer's forward against a reference written here in double from the same
 *   draws (sample n's 64-bit draw under kn__cpu_random_image_key, its two 24-bit uniforms, the
 *   layer's map from graph.h's definition with libm's sine and cosine, the fill modes written
 *   out by reflection loops): every fill mode, both interpolations, odd and even sides, three
 *   channels, batches of 5; within 2e-4 (the kernels' positions are float: under 1e-5 of a
 *   cell on these sides, times value steps of at most 2); nearest skips cells whose double
 *   position lies within 1e-3 of a rounding boundary (counted, a few at most); the gradient
 *   of sum(y) against the reference's transpose (each cell: the weights of the taps reading it);
 * - the directions Keras documents: a quarter turn moves the top centre to the left (counter-
 *   clockwise), a positive translation moves the image down and right;
 * - random_flip bit for bit (each image flipped exactly, or not) and its statistics: the
 *   fraction flipped within 4 standard errors of 1/2; horizontal_and_vertical flips both
 *   axes or neither (Keras 3's one coin);
 * - the draws' ranges (kn__raug_map_of over 20000 draws): rotation angles, translations and
 *   zooms within [lower, upper], their mean within 4 standard errors, both ends reached;
 * - contrast and brightness against a double reference (the clip included) and their exact
 *   gradients (the clip's mask, contrast's mean);
 * - the same step draws the same values, the next another; a layer seed overrides the
 *   context's; 1 and 3 threads give the same bits (forward and gradient, every layer);
 * - models: prediction equals the same model without the layers bit for bit, before and after
 *   training; the training graph holds the layers but none of their gradients (they sit at the
 *   input); a loaded model's graph holds no random node; the description's errors (one line
 *   naming the field) and its round trip; the graph builder's refusals; a small CNN trained
 *   on digits with the layers.
 * ONNX export: test_onnx's "random_aug" model; finite differences: test_gradcheck; the CUDA
 * kernels against the CPU's: test_cuda_ops. Run from the source root. */
#define _DEFAULT_SOURCE /* mkdtemp (model_test.h) */
#include "graph/graph.h"
#include "backend/cpu/cpu.h"
#include "backend/random_aug_formulas.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model_test.h"

static int ctx_threads = 2;
static uint64_t ctx_seed = 11;
static kn_ctx *new_ctx(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = ctx_threads, .seed = ctx_seed}, &ctx);
    return ctx;
}

#define TWO_PI 6.283185307179586
static uint64_t gen = 77;
static double uniform(void) { /* the test's own generator (splitmix64), in [0, 1) */
    uint64_t z = (gen += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1p-53;
}

static const char *const kind_names[] = {"flip", "translation", "rotation", "zoom", "contrast", "brightness"};
static const char *const fill_names[] = {"reflect", "wrap", "constant", "nearest"};

/* A graph of y = kn_random_image(x) for x a (n, h, w, c) parameter (so it trains), loss
 * sum(y * r) (r fixed, or 1), compiled; NULL (a failure counted) when it does not build. */
typedef struct {
    kn_ctx *ctx;
    kn_graph *g;
    kn_tensor *x, *y, *r;
} op_graph;

static bool op_graph_new(op_graph *o, const kn_random_image_opts *opts, int64_t n, int64_t h, int64_t w, int64_t c) {
    o->ctx = new_ctx();
    kn_graph_new(o->ctx, &o->g);
    int64_t shape[4] = {n, h, w, c};
    o->x = kn_param(o->g, shape, 4, KN_INIT_ZEROS, "x");
    o->y = kn_random_image(o->g, o->x, opts);
    o->r = kn_input(o->g, KN_F32, shape, 4, "r");
    kn_graph_keep(o->g, o->y);
    kn_status st = kn_graph_backward(o->g, kn__sum(o->g, kn_mul(o->g, o->y, o->r)));
    if (!st) st = kn_graph_compile(o->g, 1, false);
    CHECK(!st && o->y, "graph: %s", kn_last_error(o->ctx));
    if (st || !o->y) {
        kn_graph_free(o->g);
        kn_ctx_free(o->ctx);
        return false;
    }
    return true;
}
static void op_graph_free(op_graph *o) {
    kn_graph_free(o->g);
    kn_ctx_free(o->ctx);
}
/* x from the test's generator in [lo, lo + span), r all ones (or random), then a training run. */
static void op_graph_run(op_graph *o, double lo, double span, bool random_r) {
    float *x = o->x->data, *r = o->r->data;
    for (int64_t i = 0; i < kn__numel(o->x); i++) x[i] = (float)(lo + span * uniform());
    for (int64_t i = 0; i < kn__numel(o->r); i++) r[i] = random_r ? (float)(uniform() - 0.5) : 1.0f;
    kn_graph_upload(o->g);
    CHECK(kn_graph_run(o->g) == KN_OK && kn_graph_sync(o->g) == KN_OK, "run: %s", kn_last_error(o->ctx));
}

/* ---------------------------------------------------------------- the double reference */

static int64_t ref_fill(int64_t i, int64_t n, int mode) {
    if (i >= 0 && i < n) return i;
    if (mode == KN_FILL_CONSTANT) return -1;
    if (mode == KN_FILL_NEAREST) return i < 0 ? 0 : n - 1;
    if (mode == KN_FILL_WRAP) return ((i % n) + n) % n;
    while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - 1 - i; /* reflect: d c b a | a b c d | d c b a */
    return i;
}

/* Sample n's source position of output (x, y) in double, from its draw r. */
static void ref_source(const kn_random_image_opts *o, uint64_t r, int64_t h, int64_t w, int64_t x, int64_t y,
                       double *sx, double *sy) {
    double ua = (double)(r >> 40) / 16777216.0, ub = (double)((uint32_t)r >> 8) / 16777216.0;
    double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
    const float *f = o->factor, *g = o->width_factor;
    *sx = (double)x, *sy = (double)y;
    if (o->kind == KN_RANDOM_FLIP) {
        if (ua < 0.5) {
            if (o->horizontal) *sx = (double)(w - 1 - x);
            if (o->vertical) *sy = (double)(h - 1 - y);
        }
    } else if (o->kind == KN_RANDOM_TRANSLATION) {
        *sy = y - (f[0] + (f[1] - (double)f[0]) * ua) * h;
        *sx = x - (g[0] + (g[1] - (double)g[0]) * ub) * w;
    } else if (o->kind == KN_RANDOM_ROTATION) {
        double a = TWO_PI * (f[0] + (f[1] - (double)f[0]) * ua);
        *sx = cos(a) * (x - cx) - sin(a) * (y - cy) + cx;
        *sy = sin(a) * (x - cx) + cos(a) * (y - cy) + cy;
    } else {
        double zy = 1 + f[0] + (f[1] - (double)f[0]) * ua, zx = o->width_same ? zy : 1 + g[0] + (g[1] - (double)g[0]) * ub;
        *sx = zx * (x - cx) + cx, *sy = zy * (y - cy) + cy;
    }
}

/* One geometric case: forward and gradient against the reference. */
static void affine_case(const kn_random_image_opts *o, int64_t n, int64_t h, int64_t w, int64_t c) {
    char what[128];
    if (o->kind == KN_RANDOM_FLIP)
        snprintf(what, sizeof what, "flip %s %lldx%lldx%lld", o->horizontal && o->vertical ? "both" : o->horizontal ? "horizontal" : "vertical",
                 (long long)h, (long long)w, (long long)c);
    else
        snprintf(what, sizeof what, "%s %s %s %lldx%lldx%lld", kind_names[o->kind], fill_names[o->fill_mode],
                 o->interpolation == KN_INTERP_NEAREST ? "nearest" : "bilinear", (long long)h, (long long)w, (long long)c);
    op_graph G;
    if (!op_graph_new(&G, o, n, h, w, c)) return;
    op_graph_run(&G, 0.0, 2.0, false);
    const float *x = G.x->data, *y = G.y->data, *dx = G.x->grad->data;
    uint64_t key = kn__cpu_random_image_key(G.g, G.y);
    bool nearest = o->interpolation == KN_INTERP_NEAREST || o->kind == KN_RANDOM_FLIP;
    double *gref = calloc((size_t)(n * h * w), sizeof *gref); /* the transpose of ones, per sample cell */
    int64_t bad = 0, skipped = 0, bad_grad = 0;
    double worst = 0;
    for (int64_t s = 0; s < n; s++) {
        uint64_t r = kn__rng_draw(key, (uint64_t)s);
        bool uncertain = false;
        for (int64_t oy = 0; oy < h; oy++)
            for (int64_t ox = 0; ox < w; ox++) {
                double sx, sy;
                ref_source(o, r, h, w, ox, oy, &sx, &sy);
                int64_t cell[4];
                double weight[4];
                int taps = 1;
                if (nearest) {
                    double fx = sx + 0.5 - floor(sx + 0.5), fy = sy + 0.5 - floor(sy + 0.5);
                    if (o->kind != KN_RANDOM_FLIP && (fx < 1e-3 || fx > 1 - 1e-3 || fy < 1e-3 || fy > 1 - 1e-3)) {
                        skipped++, uncertain = true;
                        continue;
                    }
                    int64_t ix = ref_fill((int64_t)floor(sx + 0.5), w, o->fill_mode);
                    int64_t iy = ref_fill((int64_t)floor(sy + 0.5), h, o->fill_mode);
                    cell[0] = ix < 0 || iy < 0 ? -1 : iy * w + ix, weight[0] = 1;
                } else {
                    int64_t x0 = (int64_t)floor(sx), y0 = (int64_t)floor(sy);
                    double fx = sx - x0, fy = sy - y0;
                    taps = 4;
                    for (int k = 0; k < 4; k++) {
                        int64_t ix = ref_fill(x0 + (k & 1), w, o->fill_mode), iy = ref_fill(y0 + (k >> 1), h, o->fill_mode);
                        cell[k] = ix < 0 || iy < 0 ? -1 : iy * w + ix;
                        weight[k] = ((k & 1) ? fx : 1 - fx) * ((k >> 1) ? fy : 1 - fy);
                    }
                }
                for (int k = 0; k < taps; k++)
                    if (cell[k] >= 0) gref[s * h * w + cell[k]] += weight[k];
                for (int64_t ch = 0; ch < c; ch++) {
                    double ref = 0;
                    for (int k = 0; k < taps; k++)
                        ref += weight[k] * (cell[k] < 0 ? o->fill_value : x[(s * h * w + cell[k]) * c + ch]);
                    float got = y[((s * h + oy) * w + ox) * c + ch];
                    double e = fabs(got - ref);
                    if (o->kind == KN_RANDOM_FLIP) bad += got != (float)ref; /* a move: exact */
                    else bad += !(e <= 2e-4);
                    if (e > worst || e != e) worst = e;
                }
            }
        /* the gradient of sum(y): every channel's cell the same sum of weights (a sample with
         * an uncertain nearest cell is not compared: its transpose may move one unit) */
        for (int64_t i = 0; !uncertain && i < h * w; i++)
            for (int64_t ch = 0; ch < c; ch++) bad_grad += !(fabs(dx[(s * h * w + i) * c + ch] - gref[s * h * w + i]) <= 2e-4);
    }
    printf("  %-44s worst %.2e, %lld cells near a rounding boundary skipped\n", what, worst, (long long)skipped);
    CHECK(bad == 0, "%s: %lld values differ from the reference (worst %.3g)", what, (long long)bad, worst);
    CHECK(bad_grad == 0, "%s: %lld gradient values differ from the reference's transpose", what, (long long)bad_grad);
    /* a few: rotations near a quarter turn of an image with one odd and one even side put whole
     * rows of cells at half-cell positions exactly (cx - cy a half) */
    CHECK(skipped <= n * h * w / 10, "%s: %lld cells skipped", what, (long long)skipped);
    free(gref);
    op_graph_free(&G);
}

static void geometric_cases(void) {
    printf("geometric layers against the double reference:\n");
    static const int64_t sides[][2] = {{7, 6}, {8, 9}};
    for (int kind = KN_RANDOM_TRANSLATION; kind <= KN_RANDOM_ZOOM; kind++)
        for (int fill = 0; fill < 4; fill++)
            for (int interp = 0; interp < 2; interp++) {
                kn_random_image_opts o = {.kind = (kn_random_image_kind)kind, .fill_mode = (kn_fill_mode)fill,
                                          .interpolation = (kn_interpolation)interp, .fill_value = -0.75f};
                if (kind == KN_RANDOM_TRANSLATION) o.factor[0] = -0.6f, o.factor[1] = 0.4f, o.width_factor[0] = -0.3f, o.width_factor[1] = 0.9f;
                if (kind == KN_RANDOM_ROTATION) o.factor[0] = -0.5f, o.factor[1] = 0.45f;
                if (kind == KN_RANDOM_ZOOM) {
                    o.factor[0] = -0.5f, o.factor[1] = 0.9f, o.width_same = fill & 1;
                    o.width_factor[0] = -0.2f, o.width_factor[1] = 0.7f;
                }
                const int64_t *s = sides[(fill + interp) & 1];
                affine_case(&o, 5, s[0], s[1], 3);
            }
    for (int mode = 0; mode < 3; mode++) {
        kn_random_image_opts o = {.kind = KN_RANDOM_FLIP, .horizontal = mode != 1, .vertical = mode != 0};
        affine_case(&o, 6, 5, 4, 2);
    }
}

/* ------------------------------------------------ directions, flips and the draws' ranges */

/* One sample of a single bright cell at (py, px) in an h x w image through o (nearest): where
 * the bright cell went (*qy, *qx; -1 when not exactly one). */
static void moved(const kn_random_image_opts *o, int64_t h, int64_t w, int64_t py, int64_t px, int64_t *qy, int64_t *qx) {
    op_graph G;
    *qy = *qx = -1;
    if (!op_graph_new(&G, o, 1, h, w, 1)) return;
    float *x = G.x->data;
    for (int64_t i = 0; i < h * w; i++) x[i] = 0.0f;
    x[py * w + px] = 1.0f;
    ((float *)G.r->data)[0] = 1.0f;
    kn_graph_upload(G.g);
    CHECK(kn_graph_run(G.g) == KN_OK, "run: %s", kn_last_error(G.ctx));
    int found = 0;
    for (int64_t i = 0; i < h * w; i++)
        if (((const float *)G.y->data)[i] == 1.0f) *qy = i / w, *qx = i % w, found++;
    if (found != 1) *qy = *qx = -1;
    op_graph_free(&G);
}

static void directions(void) {
    int64_t qy, qx;
    kn_random_image_opts turn = {.kind = KN_RANDOM_ROTATION, .factor = {0.25f, 0.25f}, .fill_mode = KN_FILL_CONSTANT,
                                 .interpolation = KN_INTERP_NEAREST};
    moved(&turn, 5, 5, 0, 2, &qy, &qx);
    CHECK(qy == 2 && qx == 0, "a quarter turn moves the top centre to (%lld, %lld), not the left centre (2, 0)",
          (long long)qy, (long long)qx);
    kn_random_image_opts shift = {.kind = KN_RANDOM_TRANSLATION, .factor = {0.2f, 0.2f}, .width_factor = {0.4f, 0.4f},
                                  .fill_mode = KN_FILL_CONSTANT, .interpolation = KN_INTERP_NEAREST};
    moved(&shift, 5, 5, 1, 1, &qy, &qx);
    CHECK(qy == 2 && qx == 3, "a translation of (0.2, 0.4) of 5 x 5 moves (1, 1) to (%lld, %lld), not (2, 3)",
          (long long)qy, (long long)qx);
    printf("directions: a quarter turn is counter-clockwise, a positive translation moves down and right\n");
}

/* random_flip over 4000 images of 3 x 4 x 2: each exactly itself or flipped, about half flipped. */
static void flip_statistics(void) {
    enum { N = 4000, H = 3, W = 4, C = 2 };
    static const char *const modes[] = {"horizontal", "vertical", "horizontal_and_vertical"};
    for (int mode = 0; mode < 3; mode++) {
        kn_random_image_opts o = {.kind = KN_RANDOM_FLIP, .horizontal = mode != 1, .vertical = mode != 0};
        op_graph G;
        if (!op_graph_new(&G, &o, N, H, W, C)) continue;
        op_graph_run(&G, -1.0, 2.0, false);
        const float *x = G.x->data, *y = G.y->data;
        int64_t flipped = 0, neither = 0;
        for (int64_t s = 0; s < N; s++) {
            bool same = true, flip = true;
            for (int64_t i = 0; i < H; i++)
                for (int64_t j = 0; j < W; j++)
                    for (int64_t k = 0; k < C; k++) {
                        int64_t fi = o.vertical ? H - 1 - i : i, fj = o.horizontal ? W - 1 - j : j;
                        float v = y[((s * H + i) * W + j) * C + k];
                        same &= v == x[((s * H + i) * W + j) * C + k];
                        flip &= v == x[((s * H + fi) * W + fj) * C + k];
                    }
            flipped += flip, neither += !flip && !same;
        }
        double p = (double)flipped / N, se = sqrt(0.25 / N);
        printf("random_flip %-24s %.4f of %d images flipped (%.1f standard errors from 1/2)\n", modes[mode], p, N,
               fabs(p - 0.5) / se);
        CHECK(neither == 0, "random_flip %s: %lld images neither themselves nor flipped", modes[mode], (long long)neither);
        CHECK(fabs(p - 0.5) <= 4 * se, "random_flip %s: %.4f flipped", modes[mode], p);
        op_graph_free(&G);
    }
}

/* The maps of 20000 draws: each layer's drawn parameter within [lower, upper], its mean within
 * 4 standard errors of the middle, and both ends approached within 1% of the range. */
static void draw_ranges(void) {
    enum { N = 20000 };
    static const struct { int kind; float lo, hi; const char *what; } cases[] = {
        {KN_RAUG_ROTATION, -0.3f, 0.1f, "rotation (turns)"},
        {KN_RAUG_TRANSLATION, -0.2f, 0.5f, "translation (of the width)"},
        {KN_RAUG_ZOOM, -0.4f, 0.3f, "zoom - 1"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        float f[4] = {cases[c].lo, cases[c].hi, cases[c].lo, cases[c].hi};
        double lo = cases[c].lo, hi = cases[c].hi, sum = 0, mn = 1e9, mx = -1e9;
        int64_t outside = 0, unequal = 0;
        for (int64_t s = 0; s < N; s++) {
            uint64_t r = kn__rng_draw(kn__rng_key(5, 9), (uint64_t)s);
            kn__raug_map m = kn__raug_map_of(cases[c].kind, f, KN_RAUG_ZOOM_SAME, 21, 21, r);
            double v = cases[c].kind == KN_RAUG_ROTATION    ? atan2(m.m[3], m.m[0]) / TWO_PI
                       : cases[c].kind == KN_RAUG_TRANSLATION ? -m.m[2] / 21.0
                                                              : m.m[0] - 1.0;
            if (cases[c].kind == KN_RAUG_ZOOM) unequal += m.m[0] != m.m[4]; /* the aspect kept */
            outside += v < lo - 1e-6 || v > hi + 1e-6;
            sum += v, mn = fmin(mn, v), mx = fmax(mx, v);
        }
        double mean = sum / N, se = (hi - lo) / sqrt(12.0 * N);
        printf("draws of %-28s in [%.4f, %.4f], mean %.4f (%.1f standard errors from %.3f)\n", cases[c].what, mn, mx, mean,
               fabs(mean - (lo + hi) / 2) / se, (lo + hi) / 2);
        CHECK(outside == 0, "%s: %lld draws outside [%g, %g]", cases[c].what, (long long)outside, lo, hi);
        CHECK(fabs(mean - (lo + hi) / 2) <= 4 * se, "%s: mean %.5f", cases[c].what, mean);
        CHECK(mn < lo + 0.01 * (hi - lo) && mx > hi - 0.01 * (hi - lo), "%s: draws span [%g, %g] only", cases[c].what, mn, mx);
        CHECK(unequal == 0, "%s: %lld zooms changed the aspect ratio", cases[c].what, (long long)unequal);
    }
}

/* ------------------------------------------------------------ contrast and brightness */

static void color_case(const kn_random_image_opts *o) {
    enum { N = 6, H = 5, W = 4, C = 3 };
    const char *what = kind_names[o->kind];
    op_graph G;
    if (!op_graph_new(&G, o, N, H, W, C)) return;
    double lo = o->value_range[0], hi = o->value_range[1], span = hi - lo;
    op_graph_run(&G, lo - 0.2 * span, 1.4 * span, false); /* some values clip */
    const float *x = G.x->data, *y = G.y->data, *dx = G.x->grad->data;
    uint64_t key = kn__cpu_random_image_key(G.g, G.y);
    int64_t bad = 0, bad_grad = 0, clipped = 0;
    for (int64_t s = 0; s < N; s++) {
        uint64_t r = kn__rng_draw(key, (uint64_t)s);
        double u = (double)(r >> 40) / 16777216.0;
        double factor = o->kind == KN_RANDOM_CONTRAST ? 1 - o->factor[0] + ((double)o->factor[0] + o->factor[1]) * u
                                                      : (o->factor[0] + ((double)o->factor[1] - o->factor[0]) * u) * span;
        for (int64_t k = 0; k < C; k++) {
            double mean = 0;
            int64_t inside = 0;
            for (int64_t i = 0; i < H * W; i++) mean += x[(s * H * W + i) * C + k];
            mean /= H * W;
            for (int64_t i = 0; i < H * W; i++) {
                double v = x[(s * H * W + i) * C + k];
                double raw = o->kind == KN_RANDOM_CONTRAST ? (v - mean) * factor + mean : v + factor;
                inside += raw >= lo && raw <= hi;
            }
            for (int64_t i = 0; i < H * W; i++) {
                int64_t e = (s * H * W + i) * C + k;
                double v = x[e], raw = o->kind == KN_RANDOM_CONTRAST ? (v - mean) * factor + mean : v + factor;
                double ref = fmin(fmax(raw, lo), hi);
                bool in = raw >= lo && raw <= hi;
                clipped += !in;
                bad += !(fabs(y[e] - ref) <= 1e-5 * (1 + fabs(ref)));
                /* d sum(y) / dx: the mask (brightness); contrast f mask + (1 - f) inside / cells */
                double g = o->kind == KN_RANDOM_CONTRAST ? (in ? factor : 0) + (1 - factor) * inside / (H * W) : in;
                if (fabs(raw - lo) > 1e-4 && fabs(raw - hi) > 1e-4) bad_grad += !(fabs(dx[e] - g) <= 1e-5);
            }
        }
    }
    printf("%-10s against the double reference (%lld of %d values clipped)\n", what, (long long)clipped, N * H * W * C);
    CHECK(clipped > 0 && clipped < N * H * W * C, "%s: %lld values clipped", what, (long long)clipped);
    CHECK(bad == 0, "%s: %lld values differ from the reference", what, (long long)bad);
    CHECK(bad_grad == 0, "%s: %lld gradient values wrong", what, (long long)bad_grad);
    op_graph_free(&G);
}

/* ------------------------------------------------------------------ determinism */

static const kn_random_image_opts every[] = {
    {.kind = KN_RANDOM_FLIP, .horizontal = true, .vertical = true},
    {.kind = KN_RANDOM_TRANSLATION, .factor = {-0.3f, 0.3f}, .width_factor = {-0.2f, 0.4f},
     .interpolation = KN_INTERP_BILINEAR},
    {.kind = KN_RANDOM_ROTATION, .factor = {-0.1f, 0.3f}, .fill_mode = KN_FILL_WRAP,
     .interpolation = KN_INTERP_BILINEAR},
    {.kind = KN_RANDOM_ZOOM, .factor = {-0.2f, 0.4f}, .width_same = true, .fill_mode = KN_FILL_CONSTANT,
     .interpolation = KN_INTERP_NEAREST},
    {.kind = KN_RANDOM_CONTRAST, .factor = {0.4f, 0.4f}, .value_range = {0.0f, 1.0f}},
    {.kind = KN_RANDOM_BRIGHTNESS, .factor = {-0.3f, 0.3f}, .value_range = {0.0f, 1.0f}},
};

/* y and dx of o over (16, 24, 24, 4) (36864 values: the kernels split over threads) at the
 * context settings now in force, into y and dx (fresh inputs from gen's state *at). */
static bool outputs(const kn_random_image_opts *o, uint64_t at, int steps, float *y, float *dx) {
    op_graph G;
    if (!op_graph_new(&G, o, 16, 24, 24, 4)) return false;
    gen = at;
    G.g->step += steps; /* (what updates do) */
    op_graph_run(&G, 0.0, 1.0, true);
    size_t bytes = (size_t)kn__numel(G.y) * sizeof *y;
    memcpy(y, G.y->data, bytes);
    memcpy(dx, G.x->grad->data, bytes);
    /* the same step again: the same draws */
    kn__graph_run_phases(G.g, KN_PHASE_FORWARD | KN_RUN_TRAINING);
    CHECK(memcmp(y, G.y->data, bytes) == 0, "%s: another run at the same step draws others", kind_names[o->kind]);
    /* evaluating: the identity, bit for bit */
    kn__graph_run_phases(G.g, KN_PHASE_FORWARD);
    CHECK(memcmp(G.x->data, G.y->data, bytes) == 0, "%s: evaluating is not the identity", kind_names[o->kind]);
    op_graph_free(&G);
    return true;
}

static void determinism(void) {
    enum { SIZE = 16 * 24 * 24 * 4 };
    float *y1 = malloc(SIZE * sizeof(float)), *d1 = malloc(SIZE * sizeof(float));
    float *y3 = malloc(SIZE * sizeof(float)), *d3 = malloc(SIZE * sizeof(float));
    for (size_t i = 0; i < sizeof every / sizeof *every; i++) {
        const char *what = kind_names[every[i].kind];
        ctx_threads = 1;
        bool ok = outputs(&every[i], 5, 0, y1, d1);
        ctx_threads = 3;
        ok = ok && outputs(&every[i], 5, 0, y3, d3);
        CHECK(ok && memcmp(y1, y3, SIZE * sizeof(float)) == 0 && memcmp(d1, d3, SIZE * sizeof(float)) == 0,
              "%s: 1 and 3 threads differ", what);
        /* the next step: other draws (flip: about half the images change) */
        ok = ok && outputs(&every[i], 5, 1, y3, d3);
        int64_t moved_images = 0;
        for (int64_t s = 0; ok && s < 16; s++)
            moved_images += memcmp(y1 + s * SIZE / 16, y3 + s * SIZE / 16, SIZE / 16 * sizeof(float)) != 0;
        CHECK(moved_images >= (every[i].kind == KN_RANDOM_FLIP ? 3 : 15), "%s: the next step changes %lld of 16 images",
              what, (long long)moved_images);
        /* a layer seed: the same draws under another context seed; without it, others */
        kn_random_image_opts seeded = every[i];
        seeded.seed = 1234, seeded.seeded = true;
        ctx_seed = 11;
        ok = ok && outputs(&seeded, 5, 0, y1, d1);
        ctx_seed = 12;
        ok = ok && outputs(&seeded, 5, 0, y3, d3);
        CHECK(ok && memcmp(y1, y3, SIZE * sizeof(float)) == 0, "%s: a layer seed does not fix the draws", what);
        ok = ok && outputs(&every[i], 5, 0, y3, d3);
        ctx_seed = 11;
        ok = ok && outputs(&every[i], 5, 0, y1, d1);
        CHECK(ok && memcmp(y1, y3, SIZE * sizeof(float)) != 0, "%s: another context seed draws the same", what);
        printf("%-10s 1 and 3 threads the same bits; the next step and another seed draw others\n", what);
    }
    ctx_threads = 2;
    free(y1), free(d1), free(y3), free(d3);
}

/* ------------------------------------------------------------------------ models */

#define AUG_LAYERS                                                                                                   \
    "{\"type\": \"random_flip\", \"mode\": \"horizontal\"}, {\"type\": \"random_rotation\", \"factor\": 0.05}, "   \
    "{\"type\": \"random_zoom\", \"height_factor\": [-0.1, 0.1]}, "                                                  \
    "{\"type\": \"random_translation\", \"height_factor\": 0.1, \"width_factor\": 0.1, \"fill_mode\": \"constant\"}, " \
    "{\"type\": \"random_contrast\", \"factor\": 0.2, \"value_range\": [0, 1]}, "                                    \
    "{\"type\": \"random_brightness\", \"factor\": 0.1, \"value_range\": [0, 1]}, "
#define NET                                                                                                          \
    "{\"type\": \"conv2d\", \"filters\": 8, \"kernel_size\": 3, \"activation\": \"relu\"}, {\"type\": \"flatten\"}, " \
    "{\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}]}"

/* Copies every parameter of b's from a (the same names). */
static void copy_params(kn_model *a, kn_model *b) {
    static const char *const names[] = {"conv2d_0/kernel", "conv2d_0/bias", "dense_0/kernel", "dense_0/bias"};
    for (int k = 0; k < 4; k++) {
        int64_t na = 0, nb = 0;
        float *pa = kn_model_param(a, names[k], &na), *pb = kn_model_param(b, names[k], &nb);
        CHECK(pa && pb && na == nb, "parameter %s", names[k]);
        if (pa && pb && na == nb) memcpy(pb, pa, (size_t)na * sizeof *pa);
    }
}

static bool same_predictions(kn_model *a, kn_model *b, const float *x, int64_t n) {
    float *pa = malloc((size_t)n * 10 * sizeof *pa), *pb = malloc((size_t)n * 10 * sizeof *pb);
    bool ok = pa && pb && !kn_model_predict(a, x, n, pa) && !kn_model_predict(b, x, n, pb) &&
              memcmp(pa, pb, (size_t)n * 10 * sizeof *pa) == 0;
    free(pa), free(pb);
    return ok;
}

static void models(void) {
    enum { MAX = 1797 };
    float *x = malloc((size_t)MAX * 64 * sizeof *x);
    int32_t *labels = malloc(MAX * sizeof *labels);
    int64_t n = read_digits(x, labels, MAX);
    kn_ctx *ctx = new_ctx();
    kn_model *a = build(ctx, "{\"input_shape\": [8, 8, 1], \"layers\": [" AUG_LAYERS NET);
    kn_model *b = build(ctx, "{\"input_shape\": [8, 8, 1], \"layers\": [" NET);
    if (a && b && n == MAX) {
        copy_params(a, b);
        CHECK(same_predictions(a, b, x, 64), "predictions with the layers differ from those without (untrained)");
        kn_dataset *train = NULL;
        kn_dataset_from_arrays(ctx, x, labels, 256, 64, 10, &train);
        kn_status st = kn_model_fit(a, train, &(kn_fit_opts){.epochs = 1, .batch_size = 32, .verbose = 0}, NULL);
        CHECK(!st, "fit: %s", kn_last_error(ctx));
        copy_params(a, b);
        CHECK(same_predictions(a, b, x, 64), "predictions with the layers differ from those without (trained)");
        /* at the input no gradient is needed: the training graph holds the six layers, no gradient of theirs */
        int forward = 0, backward = 0;
        for (int i = 0; a->graph && i < a->graph->n_nodes; i++) {
            const kn_tensor *t = a->graph->nodes[i];
            if (t->flags & KN_FLAG_DEAD) continue;
            forward += t->op == KN_OP_RANDOM_AFFINE || t->op == KN_OP_RANDOM_COLOR;
            backward += t->op == KN_OP_RANDOM_AFFINE_GRAD || t->op == KN_OP_RANDOM_COLOR_GRAD;
        }
        CHECK(forward == 6 && backward == 0, "the training graph: %d random nodes (want 6), %d of their gradients (want 0)",
              forward, backward);
        /* saved and loaded: the same predictions, and no random node in the loaded graph */
        double diff = reload_difference(ctx, a, x, 64, 10, NULL);
        CHECK(diff == 0, "saved and loaded, predictions differ by %g", diff);
        char dir[] = "/tmp/kiln_raug_XXXXXX", path[64];
        kn_model *r = NULL;
        if (mkdtemp(dir)) {
            snprintf(path, sizeof path, "%s/m.kiln", dir);
            if (!kn_model_save(a, path) && !kn_model_load(ctx, path, NULL, &r)) {
                CHECK(same_predictions(r, b, x, 64), "the loaded model predicts otherwise than the one without layers");
                int random_nodes = 0;
                for (int i = 0; r->graph && i < r->graph->n_nodes; i++) {
                    const kn_tensor *t = r->graph->nodes[i];
                    random_nodes += !(t->flags & KN_FLAG_DEAD) && (t->op == KN_OP_RANDOM_AFFINE || t->op == KN_OP_RANDOM_COLOR);
                }
                CHECK(r->graph && random_nodes == 0, "the loaded model's graph holds %d random nodes", random_nodes);
                char summary[2048];
                kn_model_summary(r, summary, sizeof summary);
                CHECK(strstr(summary, "random_rotation [-0.05, 0.05] reflect bilinear") &&
                          strstr(summary, "random_flip horizontal"),
                      "the summary: %s", summary);
            }
            unlink(path);
            rmdir(dir);
        }
        kn_model_free(r);
        kn_dataset_free(train);
        printf("models: predictions with the layers equal those without, bit for bit; none in a loaded graph\n");
    }
    kn_model_free(a);
    kn_model_free(b);
    /* the description: errors naming the field, and a round trip */
    static const description_case cases[] = {
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"random_flip\", \"mode\": \"diagonal\"}]}",
         "layers[0].mode: expected \"horizontal\", \"vertical\" or \"horizontal_and_vertical\""},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"random_rotation\", \"factor\": 1.5}]}",
         "layers[0].factor: [-1.5, 1.5] is outside [-1, 1]"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"random_rotation\"}]}", "layers[0].factor: required"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"random_zoom\", \"height_factor\": [0.1, 2]}]}",
         "layers[0].height_factor: [0.1, 2] is outside [-1, 1]"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"random_translation\", \"height_factor\": 0.1}]}",
         "layers[0].width_factor: required"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"random_contrast\", \"factor\": -0.2}]}",
         "layers[0].factor: [-0.2, -0.2] is outside [0, 1]"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"random_translation\", \"height_factor\": 0.1, "
         "\"width_factor\": 0.1, \"fill_mode\": \"mirror\"}]}",
         "layers[0].fill_mode: expected \"reflect\", \"wrap\", \"constant\" or \"nearest\""},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"random_zoom\", \"height_factor\": 0.1, "
         "\"interpolation\": \"bicubic\"}]}",
         "layers[0].interpolation: expected \"bilinear\" or \"nearest\""},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"random_brightness\", \"factor\": 0.1, "
         "\"value_range\": [1, 0]}]}",
         "layers[0].value_range: expected [low, high] with low < high"},
        {"{\"input_shape\": [64], \"layers\": [{\"type\": \"random_flip\"}]}",
         "layers[0] random_flip: needs an image input (height, width, channels), got (64,)"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"random_flip\", \"seed\": -3}]}", "layers[0].seed"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"random_flip\", \"factor\": 0.1}]}",
         "unknown key 'factor'"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"RandomRotation\", \"factor\": [0.2, -0.1], "
         "\"fill_mode\": \"nearest\", \"seed\": 3}, {\"type\": \"RandomZoom\", \"height_factor\": 0.2, \"width_factor\": "
         "null}, {\"type\": \"RandomFlip\"}, " NET,
         NULL},
    };
    check_descriptions(ctx, cases, sizeof cases / sizeof *cases);
    static const char *const want[] = {
        "{\"type\":\"random_flip\",\"mode\":\"horizontal\",\"seed\":null}",
        "{\"type\":\"random_rotation\",\"factor\":[-0.05,0.05],\"fill_mode\":\"reflect\",\"interpolation\":\"bilinear\","
        "\"fill_value\":0,\"seed\":null}",
        "{\"type\":\"random_zoom\",\"height_factor\":[-0.1,0.1],\"width_factor\":null",
        "\"fill_mode\":\"constant\"",
        "{\"type\":\"random_contrast\",\"factor\":[0.2,0.2],\"value_range\":[0,1],\"seed\":null}",
        "{\"type\":\"random_brightness\",\"factor\":[-0.1,0.1],\"value_range\":[0,1],\"seed\":null}",
        NULL};
    description_round_trip(ctx, "{\"input_shape\": [8, 8, 1], \"layers\": [" AUG_LAYERS NET, want);
    static const char *const seeded[] = {"{\"type\":\"random_rotation\",\"factor\":[-0.1,0.2],\"fill_mode\":\"wrap\","
                                         "\"interpolation\":\"nearest\",\"fill_value\":0.5,\"seed\":42}",
                                         NULL};
    description_round_trip(ctx, "{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"random_rotation\", \"factor\": "
                                "[0.2, -0.1], \"fill_mode\": \"wrap\", \"interpolation\": \"nearest\", \"fill_value\": "
                                "0.5, \"seed\": 42}, " NET,
                           seeded);
    kn_ctx_free(ctx);
    free(x);
    free(labels);
}

/* The graph builder's refusals: the graph fails with one line naming the op and the field. */
static void op_errors(void) {
    static const struct { kn_random_image_opts o; int ndim; const char *want; } cases[] = {
        {{.kind = KN_RANDOM_ROTATION, .factor = {0.5f, 0.2f}}, 4, "random_rotation: factor [0.5, 0.2] must be lower <= upper"},
        {{.kind = KN_RANDOM_ZOOM, .factor = {-0.1f, 1.5f}, .width_same = true}, 4, "random_zoom: height_factor [-0.1, 1.5]"},
        {{.kind = KN_RANDOM_FLIP}, 4, "random_flip: mode flips no axis"},
        {{.kind = KN_RANDOM_TRANSLATION, .fill_mode = (kn_fill_mode)7}, 4, "random_translation: fill_mode 7 unknown"},
        {{.kind = KN_RANDOM_BRIGHTNESS, .factor = {-0.1f, 0.1f}, .value_range = {1, 1}}, 4,
         "random_brightness: value_range [1, 1] must be finite with low < high"},
        {{.kind = KN_RANDOM_CONTRAST, .factor = {0.1f, 0.1f}, .value_range = {0, 1}, .seeded = true, .seed = -2}, 4,
         "random_contrast: seed -2 must be >= 0"},
        {{.kind = KN_RANDOM_FLIP, .horizontal = true}, 2, "must be F32 (batch, height, width, channels)"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        kn_ctx *ctx = new_ctx();
        kn_graph *g;
        kn_graph_new(ctx, &g);
        kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){2, 5, 4, 3}, cases[k].ndim, "x");
        kn_tensor *y = kn_random_image(g, x, &cases[k].o);
        kn_status st = kn_graph_compile(g, 2, false);
        const char *msg = kn_last_error(ctx);
        CHECK(!y && st != KN_OK && strstr(msg, cases[k].want) && !strchr(msg, '\n'), "op error %zu: '%s'", k, msg);
        kn_graph_free(g);
        kn_ctx_free(ctx);
    }
    printf("the op's refusals name it and the field\n");
}

int main(void) {
    op_errors();
    geometric_cases();
    directions();
    flip_statistics();
    draw_ranges();
    color_case(&(kn_random_image_opts){.kind = KN_RANDOM_CONTRAST, .factor = {0.5f, 0.3f}, .value_range = {0, 1}});
    color_case(&(kn_random_image_opts){.kind = KN_RANDOM_BRIGHTNESS, .factor = {-0.3f, 0.25f}, .value_range = {-2, 3}});
    determinism();
    models();
    /* a small CNN with every layer trained on digits (8 x 8 images): accuracy, reload, the
     * description read back */
    digits_case("augmented cnn",
                "{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"random_rotation\", \"factor\": 0.03}, "
                "{\"type\": \"random_zoom\", \"height_factor\": 0.1}, {\"type\": \"random_translation\", "
                "\"height_factor\": 0.08, \"width_factor\": 0.08, \"fill_mode\": \"constant\"}, {\"type\": "
                "\"random_contrast\", \"factor\": 0.2, \"value_range\": [0, 1]}, {\"type\": \"random_brightness\", "
                "\"factor\": 0.05, \"value_range\": [0, 1]}, "
                "{\"type\": \"conv2d\", \"filters\": 16, \"kernel_size\": 3, \"activation\": \"relu\"}, "
                "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}]}",
                KN_PRECISION_FP32, 0.85, 15);
    return checks_done("random layer");
}
