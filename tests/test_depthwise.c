/* test_depthwise.c — the depthwise 2-D convolution (kn_depthwise_conv2d, Keras's
 * DepthwiseConv2D without its bias) and both its gradients:
 *
 * - against a direct double-precision reference written here, for shapes with odd sizes,
 *   C not a multiple of 8, depth multipliers 1, 2 and 3, 'same' with even kernels, strides
 *   and dilations, and ones large enough that the kernel gradient sums several parts and
 *   the CPU's loops split over threads;
 * - 1 and 3 threads give the same bits (on cuda: a launched run and a captured graph's
 *   replay give the same bits);
 * - against PyTorch (F.conv2d with groups = C; tests/golden/depthwise.txt from
 *   tests/golden/make_depthwise.py);
 * - under the optimizer's passes with a bias and tanh after it: the node stays unfused and
 *   the results stay the reference's;
 * - kernels that do not fit the input, and windows larger than it, refused in one line.
 *
 * Tolerances: |got - want| <= tol * (1 + mag), mag the sum of the |terms| the element sums
 * (the magnitude a float32 sum works at). 1e-5: float32 sums of at most a few thousand
 * products in a fixed order, each rounding 2^-24 of the running magnitude (about
 * sqrt(n) 2^-24 = 4e-6 for 4608 terms), against double sums of the same float32 inputs; a
 * wrong tap or channel is off by O(1). KILN_TEST_DEVICE=cuda runs it all on the GPU (the
 * threads check becomes the replay check). Run from the source root. */
#include "graph/graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "golden.h"

static kn_device device = KN_DEVICE_CPU;

#define TOL 1e-5 /* see above */

/* A case: images (n, h, w, c), a kh x kw window, depth multiplier m, strides, dilations, padding. */
typedef struct {
    int64_t n, h, w, c;
    int kh, kw, m, sh, sw, dh, dw;
    bool same;
} geom;

static uint64_t rng = 99;
static float frand(void) { /* uniform in [-1, 1) */
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

/* One axis's output size and leading padding, as Keras ('same': ceil(in / s), the smaller
 * half of the padding first); false when a 'valid' window does not fit. */
static bool out_dim(int64_t in, int k, int s, int d, bool same, int64_t *out, int64_t *pad) {
    int64_t span = (int64_t)(k - 1) * d + 1;
    if (same) {
        *out = (in + s - 1) / s;
        int64_t total = (*out - 1) * s + span - in;
        *pad = total > 0 ? total / 2 : 0;
        return true;
    }
    *pad = 0;
    *out = span <= in ? (in - span) / s + 1 : 0;
    return span <= in;
}

typedef struct {
    int64_t oh, ow, pt, pl, cm, taps;
    int64_t nx, nk, ny; /* elements of x, the kernel, y */
} sizes;

static sizes sizes_of(const geom *q) {
    sizes z = {.cm = q->c * q->m, .taps = (int64_t)q->kh * q->kw};
    out_dim(q->h, q->kh, q->sh, q->dh, q->same, &z.oh, &z.pt);
    out_dim(q->w, q->kw, q->sw, q->dw, q->same, &z.ow, &z.pl);
    z.nx = q->n * q->h * q->w * q->c, z.nk = z.taps * z.cm, z.ny = q->n * z.oh * z.ow * z.cm;
    return z;
}

/* The reference, in double, from the definition: for every output element and tap inside
 * the image, y += x k, and the same product's partners in dx and dk. mag_*: the sums of the
 * |terms| each element adds (the tolerance's scale). Arrays of sizes_of's lengths. */
typedef struct {
    double *y, *dx, *dk, *mag_y, *mag_dx, *mag_dk;
} reference;

static void reference_new(reference *r, const sizes *z) {
    r->y = calloc((size_t)z->ny, sizeof(double)), r->mag_y = calloc((size_t)z->ny, sizeof(double));
    r->dx = calloc((size_t)z->nx, sizeof(double)), r->mag_dx = calloc((size_t)z->nx, sizeof(double));
    r->dk = calloc((size_t)z->nk, sizeof(double)), r->mag_dk = calloc((size_t)z->nk, sizeof(double));
}

static void reference_free(reference *r) {
    free(r->y), free(r->dx), free(r->dk), free(r->mag_y), free(r->mag_dx), free(r->mag_dk);
}

/* x (n, h, w, c), k (kh*kw, c*m), dy (n, oh, ow, c*m) */
static void reference_run(const geom *q, const sizes *z, const float *x, const float *k, const float *dy,
                          reference *r) {
    for (int64_t n = 0; n < q->n; n++)
        for (int64_t oy = 0; oy < z->oh; oy++)
            for (int64_t ox = 0; ox < z->ow; ox++)
                for (int64_t c = 0; c < q->c; c++)
                    for (int64_t m = 0; m < q->m; m++) {
                        int64_t j = c * q->m + m, yi = ((n * z->oh + oy) * z->ow + ox) * z->cm + j;
                        for (int ky = 0; ky < q->kh; ky++)
                            for (int kx = 0; kx < q->kw; kx++) {
                                int64_t iy = oy * q->sh + (int64_t)ky * q->dh - z->pt;
                                int64_t ix = ox * q->sw + (int64_t)kx * q->dw - z->pl;
                                if (iy < 0 || iy >= q->h || ix < 0 || ix >= q->w) continue;
                                int64_t xi = ((n * q->h + iy) * q->w + ix) * q->c + c;
                                int64_t ki = (ky * q->kw + kx) * z->cm + j;
                                double xv = x[xi], kv = k[ki], dv = dy[yi];
                                r->y[yi] += xv * kv, r->mag_y[yi] += fabs(xv * kv);
                                r->dx[xi] += dv * kv, r->mag_dx[xi] += fabs(dv * kv);
                                r->dk[ki] += xv * dv, r->mag_dk[ki] += fabs(xv * dv);
                            }
                    }
}

/* got against want, each within TOL of 1 + its magnitude (a NaN fails); prints the worst. */
static void compare(const char *what, const char *part, const float *got, const double *want, const double *mag,
                    int64_t n) {
    double worst = 0;
    int64_t at = -1;
    for (int64_t i = 0; i < n; i++) {
        double err = fabs(got[i] - want[i]) / (1.0 + mag[i]);
        if (!(err <= worst)) worst = err, at = i;
    }
    printf("%-44s %-3s %6lld values, worst error %.2e\n", what, part, (long long)n, worst);
    CHECK(worst <= TOL, "%s: %s[%lld] = %.9g, want %.9g (error %.3g)", what, part, (long long)at,
          at >= 0 ? (double)got[at] : 0.0, at >= 0 ? want[at] : 0.0, worst);
}

/* ---------------------------------------------------------------- the graph */

/* loss = sum(post(dwconv(x, kernel)) * dy), x and the kernel parameters (for their
 * gradients), dy an input; post: a bias and tanh, or nothing. */
typedef struct {
    kn_ctx *ctx;
    kn_graph *g;
    kn_tensor *x, *k, *bias, *dy, *y; /* y: the depthwise node (kept without post) */
    kn_tensor *out;                    /* post(y): y itself, or tanh(y + bias) (kept) */
} dw_graph;

static bool graph_new(dw_graph *d, const geom *q, int threads, bool post, unsigned passes) {
    sizes z = sizes_of(q);
    memset(d, 0, sizeof *d);
    kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 1, .device = device}, &d->ctx);
    kn_graph_new(d->ctx, &d->g);
    kn_graph_set_passes(d->g, passes);
    kn_graph *g = d->g;
    d->x = kn_param(g, (int64_t[]){q->n, q->h, q->w, q->c}, 4, KN_INIT_ZEROS, "x");
    d->k = kn_param(g, (int64_t[]){z.taps, z.cm}, 2, KN_INIT_ZEROS, "kernel");
    d->y = kn_depthwise_conv2d(g, d->x, d->k, q->kh, q->kw, q->sh, q->sw, q->dh, q->dw, q->same);
    kn_tensor *out = d->y;
    if (post) {
        d->bias = kn_param(g, (int64_t[]){z.cm}, 1, KN_INIT_ZEROS, "bias");
        out = kn_act(g, kn_add(g, d->y, d->bias), KN_TANH);
    }
    d->dy = kn_input(g, KN_F32, (int64_t[]){q->n, z.oh, z.ow, z.cm}, 4, "dy");
    g->build_phase = KN_PHASE_LOSS;
    kn_tensor *loss = kn__sum(g, kn_mul(g, out, d->dy));
    g->build_phase = KN_PHASE_FORWARD;
    d->out = out;
    kn_graph_keep(g, out); /* (with post, y itself is not kept: the fuse pass may take it in) */
    kn_graph_keep(g, loss);
    kn_status st = kn_graph_backward(g, loss);
    if (!st) st = kn_graph_compile(g, 1, false);
    CHECK(!st, "build: %s", kn_last_error(d->ctx));
    return !st;
}

static void graph_free(dw_graph *d) {
    kn_graph_free(d->g);
    kn_ctx_free(d->ctx);
}

/* Fills x, the kernel, the bias (when there is one) and dy, and runs forward and backward;
 * every result on the host after it. */
static bool graph_run(dw_graph *d, const float *x, const float *k, const float *bias, const float *dy) {
    memcpy(d->x->data, x, kn__nbytes(d->x));
    memcpy(d->k->data, k, kn__nbytes(d->k));
    if (d->bias) memcpy(d->bias->data, bias, kn__nbytes(d->bias));
    memcpy(d->dy->data, dy, kn__nbytes(d->dy));
    kn_status st = kn_graph_upload(d->g);
    if (!st) st = kn_graph_run(d->g);
    if (!st) st = kn_graph_sync(d->g);
    CHECK(!st, "run: %s", kn_last_error(d->ctx));
    return !st;
}

/* Random x, kernel and dy for q (malloc'd; free each). */
static void random_inputs(const sizes *z, float **x, float **k, float **dy) {
    *x = malloc((size_t)z->nx * sizeof(float)), *k = malloc((size_t)z->nk * sizeof(float));
    *dy = malloc((size_t)z->ny * sizeof(float));
    for (int64_t i = 0; i < z->nx; i++) (*x)[i] = frand();
    for (int64_t i = 0; i < z->nk; i++) (*k)[i] = frand();
    for (int64_t i = 0; i < z->ny; i++) (*dy)[i] = frand();
}

static const char *name_of(const geom *q, char *buf, size_t size) {
    snprintf(buf, size, "(%lld,%lld,%lld,%lld) %dx%d m%d s%dx%d d%dx%d %s", (long long)q->n, (long long)q->h,
             (long long)q->w, (long long)q->c, q->kh, q->kw, q->m, q->sh, q->sw, q->dh, q->dw,
             q->same ? "same" : "valid");
    return buf;
}

/* ---------------------------------------------------------------- cases */

static const geom shapes[] = {
    {2, 7, 9, 5, 3, 3, 1, 1, 1, 1, 1, false},   /* odd sizes, C 5, M 1 */
    {2, 8, 6, 3, 4, 2, 2, 1, 1, 1, 1, true},    /* even kernel under 'same', M 2 */
    {3, 9, 7, 7, 3, 3, 3, 2, 2, 1, 1, true},    /* strides 2, M 3 */
    {2, 11, 10, 4, 3, 2, 1, 1, 2, 2, 3, false}, /* dilation 2x3, stride 1x2 */
    {1, 13, 12, 10, 5, 5, 2, 2, 1, 2, 1, true}, /* 5x5 'same', dilation and stride on different axes */
    {2, 6, 5, 1, 2, 2, 3, 2, 2, 1, 1, false},   /* one channel */
    {2, 5, 6, 9, 1, 1, 2, 1, 1, 1, 1, false},   /* a 1x1 window (a per-channel scaling) */
    {2, 4, 4, 3, 5, 3, 1, 3, 2, 1, 2, true},    /* a window over the whole image, 'same' */
    {8, 24, 24, 8, 3, 3, 2, 1, 1, 1, 1, true},  /* the kernel gradient in parts; rows over threads */
    {4, 33, 31, 13, 3, 3, 1, 2, 2, 1, 1, true}, /* odd, C 13, strides */
    {16, 20, 20, 6, 3, 3, 1, 1, 1, 2, 2, true}, /* dilation 2 'same', the kernel gradient in more parts */
    {2, 9, 8, 35, 3, 2, 1, 1, 2, 1, 2, true},   /* C 35, M 1: the CPU's blocks of 16 channels and a tail */
};

static void reference_case(const geom *q) {
    char name[96];
    name_of(q, name, sizeof name);
    sizes z = sizes_of(q);
    float *x, *k, *dy;
    random_inputs(&z, &x, &k, &dy);
    reference r;
    reference_new(&r, &z);
    reference_run(q, &z, x, k, dy, &r);
    dw_graph d;
    if (graph_new(&d, q, 2, false, KN_PASS_ALL) && graph_run(&d, x, k, NULL, dy)) {
        CHECK(d.y->ndim == 4 && d.y->ne[3] == z.cm && d.y->ne[1] == z.oh && d.y->ne[2] == z.ow,
              "%s: y is not (n, %lld, %lld, %lld)", name, (long long)z.oh, (long long)z.ow, (long long)z.cm);
        compare(name, "y", d.y->data, r.y, r.mag_y, z.ny);
        compare(name, "dx", d.x->grad->data, r.dx, r.mag_dx, z.nx);
        compare(name, "dk", d.k->grad->data, r.dk, r.mag_dk, z.nk);
    }
    graph_free(&d);
    reference_free(&r);
    free(x), free(k), free(dy);
}

/* y, dx and dk of two runs: bit for bit. On the CPU one with 1 thread and one with 3; on a
 * device the first run (launched) and the third (a captured graph's replay). */
static void determinism_case(const geom *q) {
    char name[96];
    name_of(q, name, sizeof name);
    sizes z = sizes_of(q);
    float *x, *k, *dy;
    random_inputs(&z, &x, &k, &dy);
    bool cpu = device == KN_DEVICE_CPU;
    dw_graph a = {0}, b = {0};
    bool ok = graph_new(&a, q, 1, false, KN_PASS_ALL) && (!cpu || graph_new(&b, q, 3, false, KN_PASS_ALL));
    float *keep[3] = {0};
    if (ok && graph_run(&a, x, k, NULL, dy)) {
        const kn_tensor *t[3] = {a.y, a.x->grad, a.k->grad};
        for (int i = 0; i < 3; i++) keep[i] = malloc(kn__nbytes(t[i])), memcpy(keep[i], t[i]->data, kn__nbytes(t[i]));
        dw_graph *second = cpu ? &b : &a;
        for (int run = 0; run < (cpu ? 1 : 2); run++) graph_run(second, x, k, NULL, dy);
        const kn_tensor *u[3] = {second->y, second->x->grad, second->k->grad};
        static const char *what[3] = {"y", "dx", "dk"};
        for (int i = 0; i < 3; i++)
            CHECK(memcmp(keep[i], u[i]->data, kn__nbytes(u[i])) == 0, "%s: %s differs between %s", name, what[i],
                  cpu ? "1 and 3 threads" : "a launch and a replay");
        printf("%-44s bit for bit between %s\n", name, cpu ? "1 and 3 threads" : "a launch and a replay");
    }
    for (int i = 0; i < 3; i++) free(keep[i]);
    graph_free(&a);
    graph_free(&b);
    free(x), free(k), free(dy);
}

/* y = tanh(dwconv(x, k) + bias) under every pass: the fuse pass makes the forward one
 * depthwise node with the bias and tanh in it (its label says so), the gradients stay plain
 * depthwise nodes, and they are the reference's taken through dz = dy (1 - tanh(z)^2). */
static void passes_case(const geom *q) {
    char name[96];
    snprintf(name, sizeof name, "tanh(dw + bias), all passes");
    sizes z = sizes_of(q);
    float *x, *k, *dy, *bias = malloc((size_t)z.cm * sizeof(float)), *dz = malloc((size_t)z.ny * sizeof(float));
    random_inputs(&z, &x, &k, &dy);
    for (int64_t j = 0; j < z.cm; j++) bias[j] = 0.5f * frand();
    reference r, r2;
    reference_new(&r, &z), reference_new(&r2, &z);
    reference_run(q, &z, x, k, dy, &r); /* (y, then the gradients again with dz) */
    double *want = malloc((size_t)z.ny * sizeof(double)); /* tanh(y + bias) */
    for (int64_t i = 0; i < z.ny; i++) {
        double t = tanh(r.y[i] + bias[i % z.cm]);
        want[i] = t;
        dz[i] = (float)(dy[i] * (1.0 - t * t));
    }
    reference_run(q, &z, x, k, dz, &r2);
    dw_graph d;
    if (graph_new(&d, q, 2, true, KN_PASS_ALL) && graph_run(&d, x, k, bias, dy)) {
        int plain = 0, fused = 0, convs = 0;
        for (int i = 0; i < d.g->n_nodes; i++) {
            const kn_tensor *t = d.g->nodes[i];
            if (t->flags & KN_FLAG_DEAD) continue;
            plain += (t->op == KN_OP_DEPTHWISE_CONV2D_GRAD_INPUT || t->op == KN_OP_DEPTHWISE_CONV2D_GRAD_KERNEL) &&
                     !t->src[2] && !t->fused[0];
            fused += t->op == KN_OP_DEPTHWISE_CONV2D && t == d.out && t->src[2] == d.bias &&
                     t->iparam[4] == KN_TANH && strcmp(t->fused, "depthwise_conv2d+add+tanh") == 0;
            convs += t->op == KN_OP_CONV2D || t->op == KN_OP_CONV2D_GRAD_INPUT || t->op == KN_OP_CONV2D_GRAD_KERNEL;
        }
        CHECK(plain == 2 && fused == 1 && convs == 0,
              "%s: %d plain depthwise gradient nodes (want 2), %d forward nodes with the bias and tanh fused in "
              "(want 1), %d conv2d nodes (want 0)", name, plain, fused, convs);
        /* tanh is 1-Lipschitz: its error is at most the sum's */
        compare(name, "y", d.out->data, want, r.mag_y, z.ny);
        /* dz went through float; its rounding (2^-24 relative) is far inside TOL */
        compare(name, "dx", d.x->grad->data, r2.dx, r2.mag_dx, z.nx);
        compare(name, "dk", d.k->grad->data, r2.dk, r2.mag_dk, z.nk);
    }
    graph_free(&d);
    reference_free(&r), reference_free(&r2);
    free(x), free(k), free(dy), free(bias), free(dz), free(want);
}

/* PyTorch's values (tests/golden/depthwise.txt): inputs from the file, results compared with
 * torch's, each element's tolerance scaled by the reference's magnitude for the same inputs. */
static void golden_case(const char *cs) {
    char rec[96];
    double dims[12];
    snprintf(rec, sizeof rec, "%s.dims", cs);
    CHECK(get(rec, dims, 12) == 12, "golden %s: no dims", cs);
    geom q = {(int64_t)dims[0], (int64_t)dims[1], (int64_t)dims[2], (int64_t)dims[3], (int)dims[4], (int)dims[5],
              (int)dims[6], (int)dims[7], (int)dims[8], (int)dims[9], (int)dims[10], dims[11] != 0};
    sizes z = sizes_of(&q);
    static const char *what[6] = {"x", "kernel", "dy", "y", "dx", "dkernel"};
    int64_t count[6] = {z.nx, z.nk, z.ny, z.ny, z.nx, z.nk};
    double *v[6] = {0};
    bool ok = true;
    for (int i = 0; i < 6; i++) {
        snprintf(rec, sizeof rec, "%s.%s", cs, what[i]);
        v[i] = golden_record(rec, count[i]);
        ok = ok && v[i];
    }
    float *in[3] = {0};
    for (int i = 0; ok && i < 3; i++) {
        in[i] = malloc((size_t)count[i] * sizeof(float));
        for (int64_t e = 0; e < count[i]; e++) in[i][e] = (float)v[i][e];
    }
    reference r;
    reference_new(&r, &z);
    dw_graph d;
    if (ok) reference_run(&q, &z, in[0], in[1], in[2], &r);
    if (ok && graph_new(&d, &q, 2, false, KN_PASS_ALL)) {
        char name[96];
        snprintf(name, sizeof name, "golden %s", cs);
        if (graph_run(&d, in[0], in[1], NULL, in[2])) {
            compare(name, "y", d.y->data, v[3], r.mag_y, z.ny);
            compare(name, "dx", d.x->grad->data, v[4], r.mag_dx, z.nx);
            compare(name, "dk", d.k->grad->data, v[5], r.mag_dk, z.nk);
        }
        graph_free(&d);
    }
    reference_free(&r);
    for (int i = 0; i < 6; i++) free(v[i]);
    for (int i = 0; i < 3; i++) free(in[i]);
}

/* A builder error: the build fails with one line naming each fragment given. */
static void refusal(const char *what, const int64_t *xs, const int64_t *ks, int kh, int kw, int dh, bool same,
                    const char *want1, const char *want2) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .device = device}, &ctx);
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *x = kn_param(g, xs, 4, KN_INIT_ZEROS, "img");
    kn_tensor *k = kn_param(g, ks, 2, KN_INIT_ZEROS, "dwk");
    kn_tensor *y = kn_depthwise_conv2d(g, x, k, kh, kw, 1, 1, dh, 1, same);
    const char *msg = kn_last_error(ctx);
    CHECK(y == NULL && kn_graph_compile(g, 1, true) != KN_OK && strstr(msg, want1) && strstr(msg, want2) &&
              !strchr(msg, '\n'), "%s: '%s'", what, msg);
    printf("%-44s refused: %s\n", what, msg);
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

static void refusals(void) {
    refusal("kernel rows not KH*KW", (int64_t[]){2, 5, 5, 3}, (int64_t[]){6, 3}, 3, 3, 1, false, "(6, 3)",
            "(2, 5, 5, 3)");
    refusal("kernel columns not a multiple of C", (int64_t[]){2, 5, 5, 3}, (int64_t[]){9, 4}, 3, 3, 1, true, "(9, 4)",
            "multiple of 3");
    refusal("kernel columns fewer than C", (int64_t[]){2, 5, 5, 4}, (int64_t[]){4, 2}, 2, 2, 1, true, "(4, 2)",
            "'img'");
    refusal("valid window larger than the image", (int64_t[]){1, 4, 6, 2}, (int64_t[]){9, 2}, 3, 3, 2, false,
            "dilation", "(1, 4, 6, 2)");
}

static void all_cases(void) {
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) reference_case(&shapes[i]);
    determinism_case(&shapes[8]);
    determinism_case(&shapes[9]);
    determinism_case(&shapes[10]);
    determinism_case(&shapes[2]);
    passes_case(&shapes[1]);
    passes_case(&shapes[9]);
    golden = read_all("tests/golden/depthwise.txt");
    CHECK(golden != NULL, "cannot read tests/golden/depthwise.txt (run from the source root)");
    static const char *goldens[] = {"valid3x3", "same4x3_m2_s2x1", "same3x3_m3_d2", "valid2x2_s2_d1x2",
                                    "same2x2_m2_s2", "same3x3_c20"};
    for (size_t i = 0; golden && i < sizeof goldens / sizeof *goldens; i++) golden_case(goldens[i]);
    free(golden);
    refusals();
}

int main(void) {
    const char *dev = getenv("KILN_TEST_DEVICE");
    if (dev && *dev) {
        if (!kn_device_parse(dev, &device)) {
            printf("FAIL KILN_TEST_DEVICE=%s: not a device\n", dev);
            return 1;
        }
        kn_ctx *ctx;
        kn_ctx_new(&(kn_ctx_opts){.threads = 1}, &ctx);
        kn_status st = kn_device_check(ctx, device);
        if (st) printf("test_depthwise: SKIP: %s\n", kn_last_error(ctx));
        kn_ctx_free(ctx);
        if (st) return 77;
        printf("test_depthwise on %s\n", kn_device_name(device));
    }
    all_cases();
    if (failures) printf("%d check(s) failed\n", failures);
    else printf("all depthwise checks passed on %s\n", kn_device_name(device));
    return failures != 0;
}
