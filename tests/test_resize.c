/* test_resize.c — padding and cropping (kn_pad2d, kn_pad1d), upsampling (kn_upsample2d
 * nearest and bilinear, kn_upsample1d) and resizing to any size (kn_resize2d), and Keras's
 * layers over them (zero_padding1d/2d, cropping1d/2d, up_sampling1d/2d, resizing):
 *
 * - each op and its gradient against a direct double-precision reference written here
 *   (bilinear from TensorFlow's half-pixel formula, not kiln's), odd sizes, crops, mixed
 *   signs, factors 1 to 4, 70 channels (the CPU's blocks of 64 and a tail), one-row images;
 *   resizing up and down, each axis alone (28 -> 20, 28 -> 37, 5 -> 3, 7 -> 16, 1 -> 4,
 *   4 -> 1), its source positions from the float scale in / out as PyTorch and TensorFlow
 *   compute it (the definition), the rest in double;
 * - 1 and 3 threads give the same bits (on cuda: a launch and a captured graph's replay);
 * - upsampling and resizing against PyTorch's F.interpolate (tests/golden/resize.txt from
 *   tests/golden/make_resize.py, which also checks PyTorch against Keras's definitions);
 * - each layer in a model against the reference, every parameter of a model holding them
 *   against finite differences, two models trained on digits, saved and loaded bit for bit,
 *   described and read back; the precision pass keeping them f32; masks dropped;
 * - the errors: the op's and the layers', in one line naming the layer and field.
 *
 * Tolerances: padding, cropping and nearest upsampling move values: bit for bit. Sums (the
 * nearest gradient, everything bilinear): |got - want| <= 1e-6 (1 + mag), mag the sum of the
 * |terms|: float32 sums of at most (2 s)^2 = 64 terms, each rounding 2^-24 of the running
 * magnitude, and bilinear weights from a float src (exact for powers of two; for s = 3
 * within 2^-24 of 1/3's multiples), against double sums; a wrong cell is off by O(1).
 * PyTorch's goldens (float64): 2e-6 relative to 1 + |want|, the same reasons (resizing's
 * float scale in / out and the rounded product put a source position within about 2^-23 n of
 * float64's, n <= 9 cells here: 1e-6 of a cell, times neighbouring values' difference,
 * mostly below 2; seen 9e-7).
 * KILN_TEST_DEVICE=cuda runs everything on the GPU (the threads check becomes the replay
 * check). Run from the source root. */
#define _DEFAULT_SOURCE /* mkdtemp (model_test.h) */
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "golden.h"
#include "model_test.h"

static kn_device device = KN_DEVICE_CPU;

static kn_ctx *new_ctx(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 17, .device = device}, &ctx);
    return ctx;
}

#define TOL 1e-6        /* see above */
#define GOLDEN_TOL 2e-6 /* see above */

static uint64_t rng = 7;
static float frand(void) { /* uniform in [-1, 1) */
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

/* ---------------------------------------------------------------- the reference */

/* A case: images (n, h, w, c); pad: a = top, bottom, left, right (negative crops); else
 * upsampling: a = sh, sw, kn_interpolation; resize: a = height, width, kn_interpolation. */
typedef struct {
    int64_t n, h, w, c;
    bool pad;
    int a[4];
    bool resize;
} rcase;

static int64_t out_h(const rcase *q) { return q->pad ? q->h + q->a[0] + q->a[1] : q->resize ? q->a[0] : q->h * q->a[0]; }
static int64_t out_w(const rcase *q) { return q->pad ? q->w + q->a[2] + q->a[3] : q->resize ? q->a[1] : q->w * q->a[1]; }

/* Resizing's taps on an axis of n cells to out: the source position from the float scale
 * n / out times (o + 0.5) rounded to float (PyTorch's and TensorFlow's arithmetic, which
 * decides the cell where it lands on a whole number), the rest in double: nearest the cell
 * floor of it (at most n - 1), bilinear the pair around it less 0.5 (clamped at 0). */
static void resize_taps(bool bilinear, int64_t o, int64_t n, int64_t out, int64_t idx[2], double wt[2], int *k) {
    volatile float scale = (float)n / (float)out, centre = scale * ((float)o + 0.5f);
    if (!bilinear) {
        int64_t i = (int64_t)floor(centre);
        idx[0] = i < n - 1 ? i : n - 1, wt[0] = 1, *k = 1;
        return;
    }
    double src = fmax((double)centre - 0.5, 0.0), lo = floor(src), frac = src - lo;
    int64_t a = (int64_t)lo, b = a + 1;
    idx[0] = a > n - 1 ? n - 1 : a, wt[0] = 1 - frac;
    idx[1] = b > n - 1 ? n - 1 : b, wt[1] = frac;
    *k = 2;
}

/* The input cells output cell o of an axis reads and their weights: *k of them (0 to 2).
 * n input cells; lead: the pad's leading amount; s: the factor (resizing: the output's
 * size, resize_taps); bilinear: TensorFlow's
 * half_pixel_centers (src = (o + 0.5) / s - 0.5; floor and floor + 1 clamped into the axis,
 * weights 1 - frac and frac) in double. */
static void axis_taps(const rcase *q, int64_t o, int64_t n, int lead, int s, int64_t idx[2], double wt[2], int *k) {
    *k = 0;
    if (q->resize) {
        resize_taps(q->a[2] == KN_INTERP_BILINEAR, o, n, s, idx, wt, k);
        return;
    }
    if (q->pad) {
        int64_t i = o - lead;
        if (i >= 0 && i < n) idx[0] = i, wt[0] = 1, *k = 1;
        return;
    }
    if (q->a[2] == KN_INTERP_NEAREST) {
        idx[0] = o / s, wt[0] = 1, *k = 1;
        return;
    }
    double src = (o + 0.5) / s - 0.5, lo = floor(src), frac = src - lo;
    int64_t a = (int64_t)lo, b = a + 1;
    idx[0] = a < 0 ? 0 : a > n - 1 ? n - 1 : a, wt[0] = 1 - frac;
    idx[1] = b < 0 ? 0 : b > n - 1 ? n - 1 : b, wt[1] = frac;
    *k = 2;
}

/* y (n, oh, ow, c) = op(x) and dx (n, h, w, c) = op's adjoint of dy, in double, with each
 * element's magnitude (the sum of its |terms|). */
typedef struct {
    double *y, *dx, *mag_y, *mag_dx;
} reference;

static void reference_run(const rcase *q, const float *x, const float *dy, reference *r) {
    int64_t oh = out_h(q), ow = out_w(q), ny = q->n * oh * ow * q->c, nx = q->n * q->h * q->w * q->c;
    r->y = calloc((size_t)ny, sizeof(double)), r->mag_y = calloc((size_t)ny, sizeof(double));
    r->dx = calloc((size_t)nx, sizeof(double)), r->mag_dx = calloc((size_t)nx, sizeof(double));
    for (int64_t n = 0; n < q->n; n++)
        for (int64_t oy = 0; oy < oh; oy++) {
            int64_t iy[2], ix[2];
            double wy[2], wx[2];
            int ky, kx;
            axis_taps(q, oy, q->h, q->a[0], q->resize ? (int)oh : q->a[0], iy, wy, &ky);
            for (int64_t ox = 0; ox < ow; ox++) {
                axis_taps(q, ox, q->w, q->a[2], q->resize ? (int)ow : q->a[1], ix, wx, &kx);
                for (int a = 0; a < ky; a++)
                    for (int b = 0; b < kx; b++)
                        for (int64_t c = 0; c < q->c; c++) {
                            int64_t o = ((n * oh + oy) * ow + ox) * q->c + c, i = ((n * q->h + iy[a]) * q->w + ix[b]) * q->c + c;
                            double w = wy[a] * wx[b];
                            r->y[o] += w * x[i], r->mag_y[o] += fabs(w * x[i]);
                            r->dx[i] += w * dy[o], r->mag_dx[i] += fabs(w * dy[o]);
                        }
            }
        }
}

static void reference_free(reference *r) { free(r->y), free(r->dx), free(r->mag_y), free(r->mag_dx); }

/* got against want: exact (bits) when the op only moves values, else within TOL (1 + mag). */
static void compare(const char *name, const char *what, const float *got, const double *want, const double *mag,
                    int64_t n, bool exact) {
    double worst = 0;
    int64_t bad = -1;
    for (int64_t i = 0; i < n; i++) {
        double err = fabs(got[i] - want[i]) / (1.0 + mag[i]);
        if (exact ? got[i] != (float)want[i] : !(err <= TOL)) bad = bad < 0 ? i : bad;
        if (!(err <= worst)) worst = err;
    }
    CHECK(bad < 0, "%s: %s[%lld] = %.9g, want %.9g", name, what, (long long)bad, bad < 0 ? 0.0 : (double)got[bad],
          bad < 0 ? 0.0 : want[bad]);
    printf("%-46s %-2s %6lld values, %s %.2e\n", name, what, (long long)n, exact ? "exact," : "worst", worst);
}

/* ---------------------------------------------------------------- the graph */

/* loss = sum(op(x) * dy), x a parameter (for its gradient), dy an input. */
typedef struct {
    kn_ctx *ctx;
    kn_graph *g;
    kn_tensor *x, *dy, *y;
} rs_graph;

static kn_tensor *op_of(kn_graph *g, const rcase *q, kn_tensor *x) {
    if (q->pad) return kn_pad2d(g, x, q->a[0], q->a[1], q->a[2], q->a[3]);
    if (q->resize) return kn_resize2d(g, x, q->a[0], q->a[1], (kn_interpolation)q->a[2]);
    return kn_upsample2d(g, x, q->a[0], q->a[1], (kn_interpolation)q->a[2]);
}

static bool graph_new(rs_graph *d, const rcase *q, int threads) {
    memset(d, 0, sizeof *d);
    kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 1, .device = device}, &d->ctx);
    kn_graph_new(d->ctx, &d->g);
    kn_graph *g = d->g;
    d->x = kn_param(g, (int64_t[]){q->n, q->h, q->w, q->c}, 4, KN_INIT_ZEROS, "x");
    d->y = op_of(g, q, d->x);
    d->dy = kn_input(g, KN_F32, (int64_t[]){q->n, out_h(q), out_w(q), q->c}, 4, "dy");
    g->build_phase = KN_PHASE_LOSS;
    kn_tensor *loss = kn__sum(g, kn_mul(g, d->y, d->dy));
    g->build_phase = KN_PHASE_FORWARD;
    kn_graph_keep(g, d->y);
    kn_graph_keep(g, loss);
    kn_status st = kn_graph_backward(g, loss);
    if (!st) st = kn_graph_compile(g, 1, false);
    CHECK(!st, "build: %s", kn_last_error(d->ctx));
    return !st;
}

static void graph_free(rs_graph *d) {
    kn_graph_free(d->g);
    kn_ctx_free(d->ctx);
}

static bool graph_run(rs_graph *d, const float *x, const float *dy) {
    memcpy(d->x->data, x, kn__nbytes(d->x));
    memcpy(d->dy->data, dy, kn__nbytes(d->dy));
    kn_status st = kn_graph_upload(d->g);
    if (!st) st = kn_graph_run(d->g);
    if (!st) st = kn_graph_sync(d->g);
    CHECK(!st, "run: %s", kn_last_error(d->ctx));
    return !st;
}

static float *random_floats(int64_t n) {
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; v && i < n; i++) v[i] = frand();
    return v;
}

static const char *name_of(const rcase *q, char *buf, size_t size) {
    static const char *const interp[2] = {"nearest", "bilinear"};
    if (q->pad)
        snprintf(buf, size, "pad (%lld,%lld,%lld,%lld) by (%d,%d,%d,%d)", (long long)q->n, (long long)q->h,
                 (long long)q->w, (long long)q->c, q->a[0], q->a[1], q->a[2], q->a[3]);
    else if (q->resize)
        snprintf(buf, size, "resize %s (%lld,%lld,%lld,%lld) to %dx%d", interp[q->a[2] & 1], (long long)q->n,
                 (long long)q->h, (long long)q->w, (long long)q->c, q->a[0], q->a[1]);
    else
        snprintf(buf, size, "%s (%lld,%lld,%lld,%lld) x %dx%d", interp[q->a[2] & 1], (long long)q->n, (long long)q->h,
                 (long long)q->w, (long long)q->c, q->a[0], q->a[1]);
    return buf;
}

/* ---------------------------------------------------------------- op cases */

static const rcase shapes[] = {
    {2, 5, 6, 3, true, {1, 2, 3, 0}, false},         /* padding, uneven sides */
    {2, 7, 9, 4, true, {-2, -1, -3, -3}, false},     /* cropping */
    {1, 6, 5, 2, true, {3, -2, -1, 4}, false},       /* mixed: pad above, crop below, ... */
    {2, 3, 4, 70, true, {0, 0, -4, 2}, false},       /* every column of x cropped: zeros and a shift */
    {2, 5, 6, 3, false, {2, 2, KN_INTERP_NEAREST, 0}, false},
    {1, 4, 3, 5, false, {3, 1, KN_INTERP_NEAREST, 0}, false},
    {2, 5, 6, 3, false, {2, 2, KN_INTERP_BILINEAR, 0}, false},
    {1, 4, 5, 2, false, {3, 2, KN_INTERP_BILINEAR, 0}, false},  /* an odd factor: src not exact */
    {2, 3, 7, 70, false, {4, 3, KN_INTERP_BILINEAR, 0}, false}, /* 70 channels: a block of 64, a tail */
    {2, 1, 4, 3, false, {2, 5, KN_INTERP_BILINEAR, 0}, false},  /* one row */
    {1, 6, 1, 2, false, {1, 3, KN_INTERP_BILINEAR, 0}, false},  /* a factor of 1, one column */
    /* resizing: down, up by fractions, each axis its own way, sides of 1, 70 channels */
    {2, 28, 28, 3, false, {20, 37, KN_INTERP_BILINEAR, 0}, true}, /* 28 -> 20 rows, 28 -> 37 columns */
    {2, 28, 28, 3, false, {37, 20, KN_INTERP_NEAREST, 0}, true},
    {1, 5, 7, 70, false, {3, 16, KN_INTERP_BILINEAR, 0}, true},  /* 5 -> 3, 7 -> 16; a block of 64, a tail */
    {1, 5, 7, 70, false, {3, 16, KN_INTERP_NEAREST, 0}, true},
    {2, 1, 4, 2, false, {4, 1, KN_INTERP_BILINEAR, 0}, true},    /* 1 -> 4 rows, 4 -> 1 column */
    {2, 1, 4, 2, false, {4, 1, KN_INTERP_NEAREST, 0}, true},
    {1, 10, 9, 2, false, {3, 6, KN_INTERP_NEAREST, 0}, true},    /* scales 10/3 and 1.5: sources on whole numbers */
    {1, 4, 6, 1, false, {12, 6, KN_INTERP_BILINEAR, 0}, true},   /* a whole factor, and a side kept */
};

static void reference_case(const rcase *q) {
    char name[96];
    name_of(q, name, sizeof name);
    int64_t nx = q->n * q->h * q->w * q->c, ny = q->n * out_h(q) * out_w(q) * q->c;
    float *x = random_floats(nx), *dy = random_floats(ny);
    reference r;
    reference_run(q, x, dy, &r);
    rs_graph d;
    bool moves = q->pad || q->a[2] == KN_INTERP_NEAREST;
    if (graph_new(&d, q, 2) && graph_run(&d, x, dy)) {
        CHECK(d.y->ne[1] == out_h(q) && d.y->ne[2] == out_w(q) && d.y->ne[3] == q->c, "%s: y's shape", name);
        compare(name, "y", d.y->data, r.y, r.mag_y, ny, moves);
        compare(name, "dx", d.x->grad->data, r.dx, r.mag_dx, nx, q->pad);
    }
    graph_free(&d);
    reference_free(&r);
    free(x), free(dy);
}

/* y and dx of two runs: bit for bit. On the CPU one with 1 thread and one with 3 (the
 * shapes past the size where rows split over threads); on a device the first run (launched)
 * and the third (a captured graph's replay). */
static void determinism_case(const rcase *q) {
    char name[96];
    name_of(q, name, sizeof name);
    int64_t nx = q->n * q->h * q->w * q->c, ny = q->n * out_h(q) * out_w(q) * q->c;
    float *x = random_floats(nx), *dy = random_floats(ny);
    bool cpu = device == KN_DEVICE_CPU;
    rs_graph a = {0}, b = {0};
    bool ok = graph_new(&a, q, 1) && (!cpu || graph_new(&b, q, 3));
    float *keep[2] = {0};
    if (ok && graph_run(&a, x, dy)) {
        const kn_tensor *t[2] = {a.y, a.x->grad};
        for (int i = 0; i < 2; i++) keep[i] = malloc(kn__nbytes(t[i])), memcpy(keep[i], t[i]->data, kn__nbytes(t[i]));
        rs_graph *second = cpu ? &b : &a;
        for (int run = 0; run < (cpu ? 1 : 2); run++) graph_run(second, x, dy);
        const kn_tensor *u[2] = {second->y, second->x->grad};
        for (int i = 0; i < 2; i++)
            CHECK(memcmp(keep[i], u[i]->data, kn__nbytes(u[i])) == 0, "%s: %s differs between %s", name,
                  i ? "dx" : "y", cpu ? "1 and 3 threads" : "a launch and a replay");
        printf("%-46s bit for bit between %s\n", name, cpu ? "1 and 3 threads" : "a launch and a replay");
    }
    for (int i = 0; i < 2; i++) free(keep[i]);
    graph_free(&a);
    graph_free(&b);
    free(x), free(dy);
}

/* got against PyTorch's want, each error relative to 1 + |want| (a NaN counts as the worst). */
static void golden_compare(const char *what, const float *got, const double *want, int64_t n) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double err = fabs(got[i] - want[i]) / (1.0 + fabs(want[i]));
        if (!(err <= worst)) worst = err;
    }
    printf("%-46s    %6lld values, worst %.2e\n", what, (long long)n, worst);
    CHECK(worst < GOLDEN_TOL, "%s: worst error %.3g", what, worst);
}

/* PyTorch's values: y and dx of each golden case within GOLDEN_TOL of 1 + |want| (resizing's
 * cases named resize_*). */
static void golden_case(const char *gname) {
    char key[96];
    double dims[7];
    snprintf(key, sizeof key, "%s.dims", gname);
    CHECK(get(key, dims, 7) == 7, "golden: no %s", key);
    rcase q = {(int64_t)dims[0], (int64_t)dims[1], (int64_t)dims[2], (int64_t)dims[3], false,
               {(int)dims[4], (int)dims[5], dims[6] != 0 ? KN_INTERP_BILINEAR : KN_INTERP_NEAREST, 0},
               strncmp(gname, "resize_", 7) == 0}; /* (dims 4 and 5: the output's size) */
    int64_t nx = q.n * q.h * q.w * q.c, ny = q.n * out_h(&q) * out_w(&q) * q.c;
    double *v[4];
    static const char *const what[4] = {"x", "dy", "y", "dx"};
    int64_t count[4] = {nx, ny, ny, nx};
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "%s.%s", gname, what[i]);
        v[i] = golden_record(key, count[i]);
    }
    rs_graph d;
    if (v[0] && v[1] && v[2] && v[3] && graph_new(&d, &q, 2)) {
        float *x = malloc((size_t)nx * sizeof *x), *dy = malloc((size_t)ny * sizeof *dy);
        for (int64_t i = 0; i < nx; i++) x[i] = (float)v[0][i];
        for (int64_t i = 0; i < ny; i++) dy[i] = (float)v[1][i];
        if (graph_run(&d, x, dy)) {
            snprintf(key, sizeof key, "torch %s y", gname);
            golden_compare(key, d.y->data, v[2], ny);
            snprintf(key, sizeof key, "torch %s dx", gname);
            golden_compare(key, d.x->grad->data, v[3], nx);
        }
        free(x), free(dy);
        graph_free(&d);
    }
    for (int i = 0; i < 4; i++) free(v[i]);
}

/* The builders' refusals, one line each naming the op and the shape or value. */
static void op_refusals(void) {
    static const struct { int which; int a[4]; const char *want; } cases[] = {
        {0, {-3, -2, 0, 0}, "padding (-3, -2) rows and (0, 0) columns of (2, 5, 6, 3) leaves 0 x 6"},
        {0, {0, 0, 1 << 25, 0}, "pad2d: amounts (0, 0, 33554432, 0) must each be within +-16777216"},
        {1, {0, 2, KN_INTERP_NEAREST, 0}, "upsample2d: size 0 x 2: each must be in [1, 4096]"},
        {1, {2, 2, 7, 0}, "upsample2d: unknown interpolation 7"},
        {2, {1, 1, 0, 0}, "pad1d: 'x' must be F32 (batch, steps, channels), got F32 (2, 5, 6, 3)"},
        {3, {2, 0, 0, 0}, "upsample1d: 'x' must be F32 (batch, steps, channels)"},
        {4, {-3, -3, 0, 0}, "pad1d: padding (-3, -3) of 's' (2, 5, 3): each amount within +-16777216, leaving a step"},
        {5, {0, 0, 0, 0}, "upsample1d: size 0 must be in [1, 4096]"},
        {6, {0, 3, KN_INTERP_BILINEAR, 0}, "resize2d: size 0 x 3: each must be in [1, 2^23]"},
        {6, {3, (1 << 23) + 1, KN_INTERP_NEAREST, 0}, "resize2d: size 3 x 8388609: each must be in [1, 2^23]"},
        {6, {3, 3, 4, 0}, "resize2d: unknown interpolation 4"},
        {7, {3, 3, KN_INTERP_BILINEAR, 0}, "resize2d: 's' must be F32 (batch, height, width, channels), got F32 (2, 5, 3)"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        kn_ctx *ctx = new_ctx();
        kn_graph *g;
        kn_graph_new(ctx, &g);
        kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){2, 5, 6, 3}, 4, "x");
        kn_tensor *s = kn_input(g, KN_F32, (int64_t[]){2, 5, 3}, 3, "s");
        const int *a = cases[k].a;
        kn_tensor *y = cases[k].which == 0   ? kn_pad2d(g, x, a[0], a[1], a[2], a[3])
                     : cases[k].which == 1 ? kn_upsample2d(g, x, a[0], a[1], (kn_interpolation)a[2])
                     : cases[k].which == 2 ? kn_pad1d(g, x, a[0], a[1])
                     : cases[k].which == 3 ? kn_upsample1d(g, x, a[0])
                     : cases[k].which == 4 ? kn_pad1d(g, s, a[0], a[1])
                     : cases[k].which == 5 ? kn_upsample1d(g, s, a[0])
                     : cases[k].which == 6 ? kn_resize2d(g, x, a[0], a[1], (kn_interpolation)a[2])
                                           : kn_resize2d(g, s, a[0], a[1], (kn_interpolation)a[2]);
        const char *e = kn_last_error(ctx);
        CHECK(!y && kn_graph_status(g) != KN_OK && strstr(e, cases[k].want) && !strchr(e, '\n'), "refusal %zu: '%s'", k,
              e);
        kn_graph_free(g);
        kn_ctx_free(ctx);
    }
    /* bilinear's source positions are floats: an axis of more than 2^23 cells is refused */
    kn_ctx *ctx = new_ctx();
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *tall = kn_input(g, KN_F32, (int64_t[]){1, 4097, 1, 1}, 4, "tall");
    CHECK(kn_upsample2d(g, tall, 2048, 1, KN_INTERP_NEAREST) &&
              !kn_upsample2d(g, tall, 2048, 1, KN_INTERP_BILINEAR) &&
              strstr(kn_last_error(ctx), "upsample2d: (1, 4097, 1, 1) upsampled 2048 x 1 is 8390656 x 1 (at most "
                     "8388608 a side for bilinear)"),
          "bilinear past 2^23: '%s'", kn_last_error(ctx));
    kn_graph_free(g);
    /* amounts of 0 and factors of 1 are x itself */
    kn_graph_new(ctx, &g);
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){2, 5, 6, 3}, 4, "x");
    kn_tensor *s = kn_input(g, KN_F32, (int64_t[]){2, 5, 3}, 3, "s");
    CHECK(kn_pad2d(g, x, 0, 0, 0, 0) == x && kn_upsample2d(g, x, 1, 1, KN_INTERP_BILINEAR) == x &&
          kn_pad1d(g, s, 0, 0) == s && kn_upsample1d(g, s, 1) == s && kn_resize2d(g, x, 5, 6, KN_INTERP_BILINEAR) == x &&
          kn_resize2d(g, x, 5, 6, KN_INTERP_NEAREST) == x, "the identities are not x itself");
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

static void op_cases(void) {
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) reference_case(&shapes[i]);
    static const rcase big[] = {
        {4, 30, 40, 16, true, {2, -3, 5, -1}, false},
        {4, 24, 24, 16, false, {2, 2, KN_INTERP_NEAREST, 0}, false}, /* (dx too past KN_PAR_MIN: split over threads) */
        {4, 24, 24, 16, false, {3, 2, KN_INTERP_BILINEAR, 0}, false},
        {4, 28, 28, 16, false, {20, 37, KN_INTERP_BILINEAR, 0}, true},
        {4, 28, 28, 16, false, {37, 20, KN_INTERP_NEAREST, 0}, true},
    };
    for (size_t i = 0; i < sizeof big / sizeof *big; i++) determinism_case(&big[i]);
    golden = read_all("tests/golden/resize.txt");
    CHECK(golden != NULL, "cannot read tests/golden/resize.txt (run from the source root)");
    static const char *const goldens[] = {"bilinear2x2", "bilinear3x2", "bilinear1x3", "bilinear4x4",
                                          "bilinear2x5_one_row", "nearest2x3", "resize_bilinear_down",
                                          "resize_bilinear_up", "resize_bilinear_mixed", "resize_nearest_down",
                                          "resize_nearest_up", "resize_nearest_to_one"};
    for (size_t i = 0; golden && i < sizeof goldens / sizeof *goldens; i++) golden_case(goldens[i]);
    free(golden);
    golden = NULL;
    op_refusals();
}

/* ---------------------------------------------------------------- layers */

/* A layer case: its description, the input per sample (h, w, c; a sequence: h 1, its steps
 * w), and the op it must compute. */
typedef struct {
    const char *layer;
    int64_t h, w, c;
    bool seq;
    rcase op; /* (its n, h, w, c filled from the above) */
} layer_case;

/* input -> the layer -> flatten -> dense 2: predictions of N samples against the reference
 * op's output projected by the model's own dense kernel and bias, in double. */
static void layer_reference(const layer_case *lc) {
    enum { N = 3, OUT = 2 };
    char text[768], shape[48];
    if (lc->seq) snprintf(shape, sizeof shape, "[%lld, %lld]", (long long)lc->w, (long long)lc->c);
    else snprintf(shape, sizeof shape, "[%lld, %lld, %lld]", (long long)lc->h, (long long)lc->w, (long long)lc->c);
    snprintf(text, sizeof text, "{\"input_shape\": %s, \"layers\": [%s, {\"type\": \"flatten\"}, {\"type\": \"dense\", "
             "\"units\": %d, \"bias_initializer\": \"ones\"}], \"loss\": \"mse\"}", shape, lc->layer, OUT);
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, text);
    rcase q = lc->op;
    q.n = N, q.h = lc->h, q.w = lc->w, q.c = lc->c;
    int64_t nx = N * q.h * q.w * q.c, per = out_h(&q) * out_w(&q) * q.c;
    const float *k = m ? kn_model_param(m, "dense_0/kernel", NULL) : NULL, *b = m ? kn_model_param(m, "dense_0/bias", NULL) : NULL;
    CHECK(!m || (k && b && m->layers[0].features == per), "%s: its output is not %lld values", lc->layer, (long long)per);
    if (m && k && b && m->layers[0].features == per) {
        float *x = random_floats(nx), *dy = random_floats(N * per), y[N * OUT];
        reference r;
        reference_run(&q, x, dy, &r);
        kn_status st = kn_model_predict(m, x, N, y);
        CHECK(!st, "%s: predict: %s", lc->layer, kn_last_error(ctx));
        double worst = 0;
        for (int n = 0; !st && n < N; n++)
            for (int o = 0; o < OUT; o++) {
                double want = b[o];
                for (int64_t i = 0; i < per; i++) want += r.y[n * per + i] * k[i * OUT + o];
                worst = fmax(worst, fabs(want - y[n * OUT + o]));
            }
        /* (the dense product: float32 sums of a few hundred products of values below 2) */
        CHECK(!st && worst < 1e-5, "%s: predictions %.3g from the reference", lc->layer, worst);
        printf("%-60.60s predictions within %.1e\n", lc->layer, worst);
        reference_free(&r);
        free(x), free(dy);
    }
    kn_model_free(m);
    kn_ctx_free(ctx);
}

static void layer_cases(void) {
    static const layer_case cases[] = {
        {"{\"type\": \"zero_padding2d\", \"padding\": [[1, 2], [0, 3]]}", 5, 4, 2, false, {.pad = true, .a = {1, 2, 0, 3}}},
        {"{\"type\": \"zero_padding2d\"}", 3, 3, 1, false, {.pad = true, .a = {1, 1, 1, 1}}}, /* Keras's default 1 */
        {"{\"type\": \"cropping2d\", \"cropping\": [1, 2]}", 6, 7, 3, false, {.pad = true, .a = {-1, -1, -2, -2}}},
        /* Keras's CenterCrop: (7 - 4) // 2 rows above, (6 - 3) // 2 columns left, the rest after */
        {"{\"type\": \"CenterCrop\", \"height\": 4, \"width\": 3}", 7, 6, 2, false, {.pad = true, .a = {-1, -2, -1, -2}}},
        {"{\"type\": \"zero_padding1d\", \"padding\": [2, 1]}", 1, 6, 3, true, {.pad = true, .a = {0, 0, 2, 1}}},
        {"{\"type\": \"cropping1d\", \"cropping\": 2}", 1, 9, 2, true, {.pad = true, .a = {0, 0, -2, -2}}},
        {"{\"type\": \"up_sampling2d\", \"size\": [2, 3]}", 3, 4, 2, false, {.a = {2, 3, KN_INTERP_NEAREST}}},
        {"{\"type\": \"up_sampling2d\", \"size\": 2, \"interpolation\": \"bilinear\", \"data_format\": "
         "\"channels_last\"}", 4, 3, 3, false, {.a = {2, 2, KN_INTERP_BILINEAR}}},
        {"{\"type\": \"up_sampling1d\", \"size\": 3}", 1, 5, 2, true, {.a = {1, 3, KN_INTERP_NEAREST}}},
        /* Keras's Resizing: bilinear by default; Keras's options at their defaults accepted */
        {"{\"type\": \"resizing\", \"height\": 5, \"width\": 9}", 7, 4, 3, false,
         {.a = {5, 9, KN_INTERP_BILINEAR}, .resize = true}},
        {"{\"type\": \"Resizing\", \"height\": 3, \"width\": 3, \"interpolation\": \"nearest\", "
         "\"crop_to_aspect_ratio\": false, \"pad_to_aspect_ratio\": false, \"antialias\": false, \"data_format\": "
         "\"channels_last\"}", 7, 8, 2, false, {.a = {3, 3, KN_INTERP_NEAREST}, .resize = true}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) layer_reference(&cases[i]);
    model_gradcheck("zero_padding2d -> conv2d -> up_sampling2d bilinear -> cropping2d -> dense",
                    "{\"input_shape\": [4, 4, 2], \"layers\": [{\"type\": \"zero_padding2d\", \"padding\": [[1, 0], "
                    "[0, 2]]}, {\"type\": \"conv2d\", \"filters\": 2, \"kernel_size\": 3, \"activation\": \"tanh\"}, "
                    "{\"type\": \"up_sampling2d\", \"size\": [2, 3], \"interpolation\": \"bilinear\"}, {\"type\": "
                    "\"cropping2d\", \"cropping\": [[1, 2], [2, 1]]}, {\"type\": \"flatten\"}, {\"type\": \"dense\", "
                    "\"units\": 2, \"activation\": \"softmax\"}], \"loss\": \"sparse_categorical_crossentropy\"}",
                    32, 2);
    model_gradcheck("resizing bilinear 5x7 -> conv2d -> resizing nearest 4x2 -> resizing 3x5 -> dense",
                    "{\"input_shape\": [4, 6, 2], \"layers\": [{\"type\": \"resizing\", \"height\": 5, \"width\": 7}, "
                    "{\"type\": \"conv2d\", \"filters\": 2, \"kernel_size\": 2, \"activation\": \"tanh\"}, "
                    "{\"type\": \"resizing\", \"height\": 4, \"width\": 2, \"interpolation\": \"nearest\"}, "
                    "{\"type\": \"resizing\", \"height\": 3, \"width\": 5}, {\"type\": \"flatten\"}, {\"type\": "
                    "\"dense\", \"units\": 2, \"activation\": \"softmax\"}], \"loss\": \"sparse_categorical_crossentropy\"}",
                    48, 2);
    model_gradcheck("zero_padding1d -> conv1d -> up_sampling1d -> cropping1d -> dense",
                    "{\"input_shape\": [6, 2], \"layers\": [{\"type\": \"zero_padding1d\", \"padding\": [2, 1]}, "
                    "{\"type\": \"conv1d\", \"filters\": 3, \"kernel_size\": 3, \"activation\": \"tanh\"}, {\"type\": "
                    "\"up_sampling1d\", \"size\": 2}, {\"type\": \"cropping1d\", \"cropping\": [1, 3]}, {\"type\": "
                    "\"flatten\"}, {\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}], \"loss\": "
                    "\"sparse_categorical_crossentropy\"}", 12, 2);
}

#define DIGITS_TAIL "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}"
#define DIGITS_2D "{\"input_shape\": [64], \"layers\": [{\"type\": \"reshape\", \"target_shape\": [8, 8, 1]}, " \
    "{\"type\": \"zero_padding2d\", \"padding\": 1}, {\"type\": \"conv2d\", \"filters\": 8, \"kernel_size\": 3, " \
    "\"activation\": \"relu\"}, {\"type\": \"max_pool2d\"}, {\"type\": \"up_sampling2d\", \"size\": 2, " \
    "\"interpolation\": \"bilinear\"}, {\"type\": \"cropping2d\", \"cropping\": [[1, 1], [2, 0]]}, {\"type\": " \
    "\"conv2d\", \"filters\": 8, \"kernel_size\": 3, \"activation\": \"relu\"}, {\"type\": \"flatten\"}, " \
    "{\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}], " DIGITS_TAIL
#define DIGITS_RESIZE "{\"input_shape\": [64], \"layers\": [{\"type\": \"reshape\", \"target_shape\": [8, 8, 1]}, " \
    "{\"type\": \"resizing\", \"height\": 12, \"width\": 11}, {\"type\": \"conv2d\", \"filters\": 8, " \
    "\"kernel_size\": 3, \"activation\": \"relu\"}, {\"type\": \"max_pool2d\"}, {\"type\": \"resizing\", " \
    "\"height\": 3, \"width\": 5, \"interpolation\": \"nearest\"}, {\"type\": \"flatten\"}, " \
    "{\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}], " DIGITS_TAIL
#define DIGITS_1D "{\"input_shape\": [64], \"layers\": [{\"type\": \"reshape\", \"target_shape\": [64, 1]}, " \
    "{\"type\": \"zero_padding1d\", \"padding\": [1, 1]}, {\"type\": \"conv1d\", \"filters\": 8, \"kernel_size\": 3, " \
    "\"activation\": \"relu\"}, {\"type\": \"max_pool1d\"}, {\"type\": \"up_sampling1d\", \"size\": 2}, " \
    "{\"type\": \"cropping1d\", \"cropping\": [3, 5]}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": " \
    "10, \"activation\": \"softmax\"}], " DIGITS_TAIL

/* The layers' lines in a summary, their descriptions as Keras writes them (and read back),
 * and the precision pass: a bf16 training graph keeps the resizing nodes f32 (their kernels
 * are f32 only) while the convolution stores half. */
static void descriptions(void) {
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, DIGITS_2D);
    char sum[1024], *json = NULL;
    if (m) {
        kn_model_summary(m, sum, sizeof sum);
        CHECK(strstr(sum, " -> zero_padding2d ((1, 1), (1, 1)) -> conv2d") &&
                  strstr(sum, " -> up_sampling2d 2x2 bilinear -> cropping2d ((1, 1), (2, 0)) -> conv2d"),
              "summary: %s", sum);
        CHECK(!kn_model_to_json(m, &json) && strstr(json, "{\"type\":\"zero_padding2d\",\"padding\":[[1,1],[1,1]]}") &&
                  strstr(json, "{\"type\":\"up_sampling2d\",\"size\":[2,2],\"interpolation\":\"bilinear\"}") &&
                  strstr(json, "{\"type\":\"cropping2d\",\"cropping\":[[1,1],[2,0]]}"),
              "description: %s", json ? json : kn_last_error(ctx));
        kn_free(ctx, json);
        kn_model_free(m);
    }
    m = build(ctx, DIGITS_1D);
    if (m) {
        kn_model_summary(m, sum, sizeof sum);
        CHECK(strstr(sum, " -> zero_padding1d (1, 1) -> conv1d") &&
                  strstr(sum, " -> up_sampling1d 2 -> cropping1d (3, 5) -> flatten"), "summary: %s", sum);
        CHECK(!kn_model_to_json(m, &json) && strstr(json, "{\"type\":\"zero_padding1d\",\"padding\":[1,1]}") &&
                  strstr(json, "{\"type\":\"up_sampling1d\",\"size\":2}") &&
                  strstr(json, "{\"type\":\"cropping1d\",\"cropping\":[3,5]}"),
              "description: %s", json ? json : kn_last_error(ctx));
        kn_free(ctx, json);
        kn_model_free(m);
    }
    m = build(ctx, DIGITS_RESIZE);
    if (m) {
        kn_model_summary(m, sum, sizeof sum);
        CHECK(strstr(sum, " -> resizing 12x11 bilinear -> conv2d") && strstr(sum, " -> resizing 3x5 nearest -> flatten"),
              "summary: %s", sum);
        CHECK(!kn_model_to_json(m, &json) &&
                  strstr(json, "{\"type\":\"resizing\",\"height\":12,\"width\":11,\"interpolation\":\"bilinear\"}") &&
                  strstr(json, "{\"type\":\"resizing\",\"height\":3,\"width\":5,\"interpolation\":\"nearest\"}"),
              "description: %s", json ? json : kn_last_error(ctx));
        kn_model *back = json ? build(ctx, json) : NULL; /* read back: the same layers and shapes */
        CHECK(back && back->n_layers == m->n_layers && back->layers[1].kind == KN__LAYER_RESIZE &&
                  back->layers[4].u.resizing.interpolation == KN_INTERP_NEAREST && back->layers[4].shape[0] == 3 &&
                  back->layers[4].shape[1] == 5 && back->layers[4].shape[2] == 8,
              "description read back: %s", kn_last_error(ctx));
        kn_model_free(back);
        kn_free(ctx, json);
        kn_model_free(m);
    }
    /* the C API builds what the description does */
    kn_model *c = NULL;
    kn_model_new_sequential(ctx, (int64_t[]){5, 6, 2}, 3, &c);
    CHECK(!kn_model_add_zero_padding2d(c, 1, 2, 0, 3) && !kn_model_add_cropping2d(c, 2, 0, 1, 1) &&
              !kn_model_add_up_sampling2d(c, 3, 2, KN_INTERP_BILINEAR) && !kn_model_add_flatten(c) &&
              !kn_model_add_dense(c, 2, KN_SOFTMAX),
          "C API: %s", kn_last_error(ctx));
    CHECK(c->n_layers == 5 && c->layers[2].shape[0] == 18 && c->layers[2].shape[1] == 14 && c->layers[2].shape[2] == 2,
          "C API: up_sampling2d's shape");
    kn_model *r = NULL;
    kn_model_new_sequential(ctx, (int64_t[]){5, 6, 2}, 3, &r);
    CHECK(!kn_model_add_resizing(r, 9, 4, KN_INTERP_NEAREST) && r->n_layers == 1 && r->layers[0].shape[0] == 9 &&
              r->layers[0].shape[1] == 4 && r->layers[0].shape[2] == 2,
          "C API resizing: %s", kn_last_error(ctx));
    kn_model_free(r);
    CHECK(!kn_model_to_json(c, &json) && strstr(json, "\"cropping\":[[2,0],[1,1]]"), "C API description: %s", json);
    kn_free(ctx, json);
    kn_model_free(c);
    /* mixed precision: the resizing nodes stay f32, the convolutions' outputs go bf16 (the
     * resizing model: two forward nodes and the second's gradient at least) */
    static const struct { const char *text; int least; } mixed[] = {{DIGITS_2D, 5}, {DIGITS_RESIZE, 3}};
    for (int k = 0; k < 2; k++) {
        kn_spec spec;
        m = NULL;
        kn_status st = kn_model_from_json(ctx, mixed[k].text, NULL, &m, &spec);
        spec.compile.precision = KN_PRECISION_BF16;
        if (!st) st = kn_model_compile(m, &spec.compile);
        if (!st) st = kn__model_ensure_graph(m, 8, true);
        CHECK(!st, "bf16: %s", kn_last_error(ctx));
        int resize = 0, half = 0, wrong = 0;
        for (int i = 0; !st && i < m->graph->n_nodes; i++) {
            const kn_tensor *t = m->graph->nodes[i];
            bool ours = t->op == KN_OP_PAD2D || t->op == KN_OP_UPSAMPLE2D || t->op == KN_OP_UPSAMPLE2D_GRAD ||
                        t->op == KN_OP_RESIZE2D || t->op == KN_OP_RESIZE2D_GRAD;
            resize += ours;
            half += t->dtype == KN_BF16;
            wrong += ours && (t->dtype != KN_F32 || t->src[0]->dtype != KN_F32);
        }
        CHECK(!st && resize >= mixed[k].least && half > 0 && !wrong,
              "bf16 graph %d: %d resizing nodes (%d not f32), %d bf16 tensors", k, resize, wrong, half);
        kn_model_free(m);
    }
    kn_ctx_free(ctx);
}

/* A mask (an embedding's mask_zero) stops at the resizing layers, as in Keras: their
 * outputs carry none, and the mean after them is over every step. */
static void masks(void) {
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, "{\"input_shape\": [6], \"layers\": [{\"type\": \"embedding\", \"input_dim\": 5, "
                             "\"output_dim\": 3, \"mask_zero\": true}, {\"type\": \"zero_padding1d\"}, {\"type\": "
                             "\"up_sampling1d\"}, {\"type\": \"global_average_pool1d\"}, {\"type\": \"dense\", "
                             "\"units\": 2}], \"loss\": \"sparse_categorical_crossentropy\"}");
    if (m) {
        CHECK(m->layers[0].masked && !m->layers[1].masked && !m->layers[2].masked, "masks: %d %d %d",
              m->layers[0].masked, m->layers[1].masked, m->layers[2].masked);
        float x[12] = {1, 2, 0, 0, 3, 4, 2, 2, 1, 0, 0, 0}, loss = 0;
        int32_t y[2] = {0, 1};
        CHECK(!kn_model_train_step(m, x, y, 2, &loss) && isfinite(loss), "masked model: %s", kn_last_error(ctx));
        kn_model_free(m);
    }
    kn_ctx_free(ctx);
}

static void refusals(void) {
    kn_ctx *ctx = new_ctx();
#define TAIL ", {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}"
    static const description_case bad[] = {
        {"{\"input_shape\": [5, 6, 1], \"layers\": [{\"type\": \"cropping2d\", \"cropping\": [[3, 2], [0, 0]]}" TAIL,
         "layers[0] cropping2d: cropping 3 + 2 rows of 5 leaves none (input (5, 6, 1))"},
        {"{\"input_shape\": [5, 6, 1], \"layers\": [{\"type\": \"cropping2d\", \"cropping\": [0, 3]}" TAIL,
         "layers[0] cropping2d: cropping 3 + 3 columns of 6 leaves none (input (5, 6, 1))"},
        {"{\"input_shape\": [4, 2], \"layers\": [{\"type\": \"cropping1d\", \"cropping\": [2, 2]}" TAIL,
         "layers[0] cropping1d: cropping 2 + 2 steps of 4 leaves none (input (4, 2))"},
        {"{\"input_shape\": [8, 2], \"layers\": [{\"type\": \"zero_padding2d\"}" TAIL,
         "layers[0] zero_padding2d: needs an image input (height, width, channels), got (8, 2)"},
        {"{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"up_sampling1d\"}" TAIL,
         "layers[0] up_sampling1d: needs a sequence input (steps, channels), got (4, 4, 1)"},
        {"{\"input_shape\": [16], \"layers\": [{\"type\": \"cropping1d\"}" TAIL,
         "layers[0] cropping1d: needs a sequence input (steps, channels), got (16,)"},
        {"{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"zero_padding2d\", \"padding\": -1}" TAIL,
         "layers[0].padding: expected a whole number, a list [height, width] or [[top, bottom], [left, right]], each "
         "in [0, 2^24]"},
        {"{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"zero_padding2d\", \"padding\": [[1, 2, 3], [0, 0]]}" TAIL,
         "layers[0].padding: expected a whole number, a list [height, width]"},
        {"{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"cropping2d\", \"cropping\": [1.5, 1]}" TAIL,
         "layers[0].cropping: expected a whole number, a list [height, width]"},
        {"{\"input_shape\": [4, 2], \"layers\": [{\"type\": \"zero_padding1d\", \"padding\": [[1, 2]]}" TAIL,
         "layers[0].padding: expected a whole number or a list [left, right], each in [0, 2^24]"},
        {"{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"up_sampling2d\", \"interpolation\": \"bicubic\"}" TAIL,
         "layers[0].interpolation: expected \"nearest\" or \"bilinear\" (kiln has no bicubic, lanczos or area)"},
        {"{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"up_sampling2d\", \"size\": 0}" TAIL,
         "layers[0].size: expected a whole number or a list [height, width], each in [1, 4096]"},
        {"{\"input_shape\": [4, 2], \"layers\": [{\"type\": \"up_sampling1d\", \"size\": [2]}" TAIL,
         "layers[0].size: expected a whole number in [1, 4096]"},
        {"{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"cropping2d\", \"data_format\": \"channels_first\"}" TAIL,
         "layers[0].data_format: only \"channels_last\" is supported"},
        {"{\"input_shape\": [4, 2], \"layers\": [{\"type\": \"up_sampling1d\", \"interpolation\": \"nearest\"}" TAIL,
         "layers[0]: unknown key 'interpolation'"},
        {"{\"input_shape\": [4096, 2, 1], \"layers\": [{\"type\": \"up_sampling2d\", \"size\": [4096, 1], "
         "\"interpolation\": \"bilinear\"}" TAIL,
         "layers[0] up_sampling2d: bilinear output 16777216 x 2 exceeds 2^23 a side"},
        {"{\"input_shape\": [1, 1, 1], \"layers\": [{\"type\": \"zero_padding2d\", \"padding\": 16777216}" TAIL,
         "layers[0] zero_padding2d: its output of 1125899973951489 values a sample exceeds 2^31"},
        /* Keras's forms, read alike */
        {"{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"zero_padding2d\", \"padding\": [[1, 2], 3]}" TAIL, NULL},
        {"{\"input_shape\": [4, 2], \"layers\": [{\"type\": \"cropping1d\", \"cropping\": null}" TAIL, NULL},
        {"{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"center_crop\", \"height\": 5, \"width\": 2}" TAIL,
         "layers[0].height: 5 is more than the input's 4"},
        {"{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"center_crop\", \"height\": 2}" TAIL,
         "layers[0].width: expected a whole number of pixels"},
        {"{\"input_shape\": [8], \"layers\": [{\"type\": \"center_crop\", \"height\": 2, \"width\": 2}" TAIL,
         "layers[0] center_crop: needs an image input"},
        {"{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"resizing\", \"height\": 3}" TAIL,
         "layers[0].width: expected a whole number of pixels in [1, 2^23] (required)"},
        {"{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"resizing\", \"height\": 0, \"width\": 3}" TAIL,
         "layers[0].height: expected a whole number of pixels in [1, 2^23] (required)"},
        {"{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"resizing\", \"height\": 2, \"width\": 3, "
         "\"interpolation\": \"bicubic\"}" TAIL,
         "layers[0].interpolation: expected \"bilinear\" or \"nearest\" (kiln has no bicubic, lanczos3, lanczos5 or area)"},
        {"{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"resizing\", \"height\": 2, \"width\": 3, "
         "\"crop_to_aspect_ratio\": true}" TAIL,
         "layers[0].crop_to_aspect_ratio: only false is supported (kiln stretches the image to height x width, without "
         "antialiasing)"},
        {"{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"resizing\", \"height\": 2, \"width\": 3, "
         "\"antialias\": true}" TAIL, "layers[0].antialias: only false is supported"},
        {"{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"resizing\", \"height\": 2, \"width\": 3, "
         "\"data_format\": \"channels_first\"}" TAIL, "layers[0].data_format: only \"channels_last\" is supported"},
        {"{\"input_shape\": [16], \"layers\": [{\"type\": \"resizing\", \"height\": 2, \"width\": 3}" TAIL,
         "layers[0] resizing: needs an image input (height, width, channels), got (16,)"},
        {"{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"resizing\", \"height\": 2, \"width\": 3, "
         "\"size\": 2}" TAIL, "layers[0]: unknown key 'size'"},
    };
#undef TAIL
    check_descriptions(ctx, bad, sizeof bad / sizeof bad[0]);
    kn_model *m = NULL;
    kn_model_new_sequential(ctx, (int64_t[]){5, 6, 2}, 3, &m);
    kn_status st = kn_model_add_cropping2d(m, -1, 0, 0, 0);
    CHECK(st == KN_ERR_INVALID_ARGUMENT &&
              strstr(kn_last_error(ctx), "layers[0] cropping2d: cropping ((-1, 0), (0, 0)): each must be in [0, 2^24]"),
          "C API cropping -1: %d '%s'", (int)st, kn_last_error(ctx));
    st = kn_model_add_up_sampling2d(m, 2, 2, (kn_interpolation)9);
    CHECK(st == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "layers[0] up_sampling2d: unknown interpolation 9"),
          "C API interpolation 9: %d '%s'", (int)st, kn_last_error(ctx));
    st = kn_model_add_up_sampling1d(m, 2);
    CHECK(st == KN_ERR_SHAPE && strstr(kn_last_error(ctx), "layers[0] up_sampling1d: needs a sequence input"),
          "C API up_sampling1d on an image: %d '%s'", (int)st, kn_last_error(ctx));
    st = kn_model_add_resizing(m, 0, 4, KN_INTERP_BILINEAR);
    CHECK(st == KN_ERR_INVALID_ARGUMENT &&
              strstr(kn_last_error(ctx), "layers[0] resizing: size (0, 4): each must be in [1, 2^23]"),
          "C API resizing 0: %d '%s'", (int)st, kn_last_error(ctx));
    st = kn_model_add_resizing(m, 3, 4, (kn_interpolation)5);
    CHECK(st == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "layers[0] resizing: unknown interpolation 5"),
          "C API resizing interpolation 5: %d '%s'", (int)st, kn_last_error(ctx));
    CHECK(m->n_layers == 0, "a refused layer was added");
    kn_model_free(m);
    kn_ctx_free(ctx);
}

static void on_device(void) {
    op_cases();
    layer_cases();
}

int main(void) {
    int rc = run_on_test_device("test_resize", &device, on_device);
    if (rc >= 0) return rc;
    on_device();
    digits_case("reshape (8, 8, 1) -> zero_padding2d -> conv2d -> max_pool2d -> up_sampling2d bilinear -> cropping2d "
                "-> conv2d -> softmax", DIGITS_2D, KN_PRECISION_FP32, 0.85, 10);
    digits_case("reshape (8, 8, 1) -> resizing 12x11 -> conv2d -> max_pool2d -> resizing nearest 3x5 -> softmax",
                DIGITS_RESIZE, KN_PRECISION_FP32, 0.85, 10);
    digits_case("reshape (64, 1) -> zero_padding1d -> conv1d -> max_pool1d -> up_sampling1d -> cropping1d -> softmax",
                DIGITS_1D, KN_PRECISION_FP32, 0.85, 10);
    descriptions();
    masks();
    refusals();
    return checks_done("resize");
}
