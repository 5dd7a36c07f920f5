/* test_conv_transpose.c — the transposed convolution (kn_conv2d_transpose, Keras's
 * Conv2DTranspose; a KN_OP_CONV2D_GRAD_INPUT node; kn_conv1d_transpose, Conv1DTranspose, the
 * same over a sequence's view) and the conv2d_transpose and conv1d_transpose layers:
 *
 * - the op's output and both gradients against a direct double-precision reference written
 *   here in the scatter form (each input cell spreads x kernel^T over its window), for
 *   strides 1 to 3, 'same' and 'valid', output_padding, dilation, even kernels, odd sizes,
 *   C != F, a 1x1 window with gaps between cells, and sizes that split over threads; 1 and
 *   3 threads give the same bits (on a device: a launch and a graph replay);
 * - against PyTorch (F.conv_transpose2d and 1d cropped as Keras crops; tests/golden/
 *   conv_transpose.txt from tests/golden/make_conv_transpose.py), and Keras's 'same' on a
 *   2x2 image worked by hand (PyTorch's padding=1, output_padding=1 is one cell off it);
 * - with a bias and tanh after it under every pass, and in bf16 mixed precision;
 * - the layer: predictions against a reference from its own parameters, Keras's parameter
 *   names, shapes and fans, every parameter's gradient against finite differences; a conv
 *   autoencoder trained on digits, saved and loaded bit for bit, described and read back;
 *   the 1-D layer's parameters, gradients, description, summary and reload;
 * - the refusals, each one line.
 *
 * Tolerances: |got - want| <= tol (1 + mag), mag the sum of the |terms| the element sums.
 * 1e-5 in f32: sums of at most a few thousand float32 products in a fixed order, each
 * rounding 2^-24 of the running magnitude, against double sums of the same inputs (a wrong
 * tap, crop or channel is off by O(1)). 3e-2 in bf16: every activation and gradient between
 * kernels is rounded to 8 bits of mantissa (2^-9 relative) once or twice on the way.
 * KILN_TEST_DEVICE=cuda runs the op and layer checks there (not the digits training).
 * Run from the source root. */
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

#define TOL 1e-5      /* f32, see above */
#define TOL_BF16 3e-2 /* bf16, see above */

/* A case: images (n, h, w, c) to f filters, a kh x kw window, strides, dilations, padding,
 * output padding (oph < 0: Keras's None). */
typedef struct {
    int64_t n, h, w, c, f;
    int kh, kw, sh, sw, dh, dw;
    bool same;
    int oph, opw;
} geom;

static uint64_t rng = 7;
static float frand(void) { /* uniform in [-1, 1) */
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

/* Keras's output length and crop of one axis, written from its rules: 'valid' (in - 1) s +
 * span + op (None: max(s - span, 0)), no crop; 'same' in s (None) or (in - 1) s + span % 2
 * + op, cropped by TensorFlow's top padding of the convolution from out back to in. */
static void keras_axis(int64_t in, int k, int s, int d, bool same, int op, int64_t *out, int64_t *crop) {
    int64_t span = (int64_t)(k - 1) * d + 1;
    if (!same) {
        *out = (in - 1) * s + span + (op >= 0 ? op : (s > span ? s - span : 0));
        *crop = 0;
        return;
    }
    *out = op >= 0 ? (in - 1) * s + span % 2 + op : in * s;
    int64_t total = (in - 1) * s + span - *out;
    *crop = total > 0 ? total / 2 : 0;
}

typedef struct {
    int64_t oh, ow, ct, cl, taps;
    int64_t nx, nk, ny; /* elements of x, the kernel, y */
} sizes;

static sizes sizes_of(const geom *q) {
    sizes z = {.taps = (int64_t)q->kh * q->kw};
    keras_axis(q->h, q->kh, q->sh, q->dh, q->same, q->oph, &z.oh, &z.ct);
    keras_axis(q->w, q->kw, q->sw, q->dw, q->same, q->opw, &z.ow, &z.cl);
    z.nx = q->n * q->h * q->w * q->c, z.nk = z.taps * q->f * q->c, z.ny = q->n * z.oh * z.ow * q->f;
    return z;
}

/* The reference in double: y, and the gradients dx, dk of sum(y * dy); mag_*: the sums of
 * the |terms| each element adds. */
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

/* x (n, h, w, c), k (kh kw f, c) (Keras's (KH, KW, F, C)), dy (n, oh, ow, f): input cell
 * (iy, ix) through tap (ky, kx) lands on output cell (iy sh + ky dh - crop_top, ix sw + kx dw
 * - crop_left), when that is inside the output. */
static void reference_run(const geom *q, const sizes *z, const float *x, const float *k, const float *dy,
                          reference *r) {
    for (int64_t n = 0; n < q->n; n++)
        for (int64_t iy = 0; iy < q->h; iy++)
            for (int64_t ix = 0; ix < q->w; ix++)
                for (int ky = 0; ky < q->kh; ky++)
                    for (int kx = 0; kx < q->kw; kx++) {
                        int64_t oy = iy * q->sh + (int64_t)ky * q->dh - z->ct;
                        int64_t ox = ix * q->sw + (int64_t)kx * q->dw - z->cl;
                        if (oy < 0 || oy >= z->oh || ox < 0 || ox >= z->ow) continue;
                        for (int64_t f = 0; f < q->f; f++)
                            for (int64_t c = 0; c < q->c; c++) {
                                int64_t xi = ((n * q->h + iy) * q->w + ix) * q->c + c;
                                int64_t yi = ((n * z->oh + oy) * z->ow + ox) * q->f + f;
                                int64_t ki = ((ky * q->kw + kx) * q->f + f) * q->c + c;
                                double xv = x[xi], kv = k[ki], dv = dy[yi];
                                r->y[yi] += xv * kv, r->mag_y[yi] += fabs(xv * kv);
                                r->dx[xi] += dv * kv, r->mag_dx[xi] += fabs(dv * kv);
                                r->dk[ki] += xv * dv, r->mag_dk[ki] += fabs(xv * dv);
                            }
                    }
}

/* got against want, each within tol of 1 + its magnitude (a NaN fails); prints the worst. */
static void compare(const char *what, const char *part, const float *got, const double *want, const double *mag,
                    int64_t n, double tol) {
    double worst = 0;
    int64_t at = -1;
    for (int64_t i = 0; i < n; i++) {
        double err = fabs(got[i] - want[i]) / (1.0 + mag[i]);
        if (!(err <= worst)) worst = err, at = i;
    }
    printf("%-46s %-3s %6lld values, worst error %.2e\n", what, part, (long long)n, worst);
    CHECK(worst <= tol, "%s: %s[%lld] = %.9g, want %.9g (error %.3g)", what, part, (long long)at,
          at >= 0 ? (double)got[at] : 0.0, at >= 0 ? want[at] : 0.0, worst);
}

/* ---------------------------------------------------------------- the graph */

/* loss = sum(post(convT(pre(x), kernel)) * dy); x and the kernel are parameters (for their
 * gradients), dy an input. With `act`, pre = tanh and post = tanh(. + bias). */
typedef struct {
    kn_ctx *ctx;
    kn_graph *g;
    kn_tensor *x, *k, *bias, *dy, *y;
} ct_graph;

static kn_conv2d_transpose_opts opts_of(const geom *q) {
    return (kn_conv2d_transpose_opts){.kernel_h = q->kh, .kernel_w = q->kw, .stride_h = q->sh, .stride_w = q->sw,
                                      .dilation_h = q->dh, .dilation_w = q->dw, .same = q->same,
                                      .has_output_padding = q->oph >= 0, .output_padding_h = q->oph,
                                      .output_padding_w = q->opw};
}

/* seq: q is a sequence's case (h = kh = sh = dh = 1, oph 0 or -1 with opw), built with
 * kn_conv1d_transpose on (n, w, c) sequences: the same memory as the (n, 1, w, c) images. */
static bool graph_build(ct_graph *d, const geom *q, int threads, bool act, kn_precision precision, bool seq) {
    sizes z = sizes_of(q);
    memset(d, 0, sizeof *d);
    kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 1, .device = device}, &d->ctx);
    kn_graph_new(d->ctx, &d->g);
    kn_graph_set_precision(d->g, precision);
    kn_graph *g = d->g;
    d->x = seq ? kn_param(g, (int64_t[]){q->n, q->w, q->c}, 3, KN_INIT_ZEROS, "x")
               : kn_param(g, (int64_t[]){q->n, q->h, q->w, q->c}, 4, KN_INIT_ZEROS, "x");
    d->k = kn_param(g, (int64_t[]){z.taps * q->f, q->c}, 2, KN_INIT_ZEROS, "kernel");
    kn_conv2d_transpose_opts o = opts_of(q);
    kn_conv1d_transpose_opts o1 = {.kernel_size = q->kw, .stride = q->sw, .dilation = q->dw, .same = q->same,
                                   .has_output_padding = q->opw >= 0, .output_padding = q->opw};
    kn_tensor *in = act ? kn_act(g, d->x, KN_TANH) : d->x;
    d->y = seq ? kn_conv1d_transpose(g, in, d->k, &o1) : kn_conv2d_transpose(g, in, d->k, &o);
    kn_tensor *out = d->y;
    if (act) {
        d->bias = kn_param(g, (int64_t[]){q->f}, 1, KN_INIT_ZEROS, "bias");
        out = kn_act(g, kn_add(g, d->y, d->bias), KN_TANH);
    }
    d->dy = seq ? kn_input(g, KN_F32, (int64_t[]){q->n, z.ow, q->f}, 3, "dy")
                : kn_input(g, KN_F32, (int64_t[]){q->n, z.oh, z.ow, q->f}, 4, "dy");
    g->build_phase = KN_PHASE_LOSS;
    kn_tensor *loss = kn__sum(g, kn_mul(g, out, d->dy));
    g->build_phase = KN_PHASE_FORWARD;
    if (!act) kn_graph_keep(g, d->y); /* (with act, y stays an activation the precision may halve) */
    kn_graph_keep(g, loss);
    kn_status st = kn_graph_backward(g, loss);
    if (!st) st = kn_graph_compile(g, 1, false);
    CHECK(!st, "build: %s", kn_last_error(d->ctx));
    return !st;
}

static bool graph_new(ct_graph *d, const geom *q, int threads, bool act, kn_precision precision) {
    return graph_build(d, q, threads, act, precision, false);
}

static void graph_free(ct_graph *d) {
    kn_graph_free(d->g);
    kn_ctx_free(d->ctx);
}

static bool graph_run(ct_graph *d, const float *x, const float *k, const float *bias, const float *dy) {
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

static void random_inputs(const sizes *z, float **x, float **k, float **dy) {
    *x = malloc((size_t)z->nx * sizeof(float)), *k = malloc((size_t)z->nk * sizeof(float));
    *dy = malloc((size_t)z->ny * sizeof(float));
    for (int64_t i = 0; i < z->nx; i++) (*x)[i] = frand();
    for (int64_t i = 0; i < z->nk; i++) (*k)[i] = frand();
    for (int64_t i = 0; i < z->ny; i++) (*dy)[i] = frand();
}

static const char *name_of(const geom *q, char *buf, size_t size) {
    char op[24] = "";
    if (q->oph >= 0) snprintf(op, sizeof op, " op%dx%d", q->oph, q->opw);
    snprintf(buf, size, "(%lld,%lld,%lld,%lld)->%lld %dx%d s%dx%d d%dx%d %s%s", (long long)q->n, (long long)q->h,
             (long long)q->w, (long long)q->c, (long long)q->f, q->kh, q->kw, q->sh, q->sw, q->dh, q->dw,
             q->same ? "same" : "valid", op);
    return buf;
}

/* ---------------------------------------------------------------- op cases */

static const geom shapes[] = {
    {2, 5, 4, 3, 2, 3, 3, 1, 1, 1, 1, false, -1, -1},  /* stride 1 'valid': (H + 2, W + 2) */
    {2, 4, 5, 3, 4, 3, 3, 2, 2, 1, 1, true, -1, -1},   /* the DCGAN-like 'same' doubling, odd kernel */
    {1, 3, 4, 2, 5, 4, 4, 2, 2, 1, 1, true, -1, -1},   /* even kernel 'same' */
    {2, 3, 5, 4, 3, 3, 2, 3, 2, 1, 1, false, 2, 1},    /* output_padding, strides 3x2 */
    {2, 5, 5, 3, 3, 3, 3, 1, 1, 2, 2, true, -1, -1},   /* dilation 2 'same' */
    {1, 4, 3, 5, 2, 2, 3, 2, 3, 2, 1, false, -1, -1},  /* strides with dilation (Keras refuses; PyTorch's) */
    {2, 3, 4, 3, 2, 1, 1, 3, 2, 1, 1, false, -1, -1},  /* a 1x1 window: gaps of zeros between cells */
    {2, 4, 4, 6, 6, 1, 1, 1, 1, 1, 1, true, -1, -1},   /* a 1x1 stride-1 window: the GEMM-only path */
    {1, 1, 1, 2, 3, 3, 3, 2, 2, 1, 1, true, 1, 0},     /* one cell, 'same' with output_padding */
    {8, 12, 12, 8, 16, 3, 3, 2, 2, 1, 1, true, -1, -1}, /* big enough for blocks, parts and threads */
    {4, 9, 7, 13, 5, 5, 5, 2, 3, 1, 1, true, 1, 2},    /* odd, C 13, 5x5 'same' with output_padding */
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
    ct_graph d;
    if (graph_new(&d, q, 2, false, KN_PRECISION_FP32) && graph_run(&d, x, k, NULL, dy)) {
        CHECK(d.y->ndim == 4 && d.y->ne[1] == z.oh && d.y->ne[2] == z.ow && d.y->ne[3] == q->f,
              "%s: y is not (n, %lld, %lld, %lld)", name, (long long)z.oh, (long long)z.ow, (long long)q->f);
        compare(name, "y", d.y->data, r.y, r.mag_y, z.ny, TOL);
        compare(name, "dx", d.x->grad->data, r.dx, r.mag_dx, z.nx, TOL);
        compare(name, "dk", d.k->grad->data, r.dk, r.mag_dk, z.nk, TOL);
    }
    graph_free(&d);
    reference_free(&r);
    free(x), free(k), free(dy);
}

/* y, dx and dk of two runs, bit for bit: 1 and 3 threads on the CPU; on a device a launch
 * and a captured graph's replay. */
static void determinism_case(const geom *q) {
    char name[96];
    name_of(q, name, sizeof name);
    sizes z = sizes_of(q);
    float *x, *k, *dy;
    random_inputs(&z, &x, &k, &dy);
    bool cpu = device == KN_DEVICE_CPU;
    ct_graph a = {0}, b = {0};
    bool ok = graph_new(&a, q, 1, false, KN_PRECISION_FP32) && (!cpu || graph_new(&b, q, 3, false, KN_PRECISION_FP32));
    float *keep[3] = {0};
    if (ok && graph_run(&a, x, k, NULL, dy)) {
        const kn_tensor *t[3] = {a.y, a.x->grad, a.k->grad};
        for (int i = 0; i < 3; i++) keep[i] = malloc(kn__nbytes(t[i])), memcpy(keep[i], t[i]->data, kn__nbytes(t[i]));
        ct_graph *second = cpu ? &b : &a;
        for (int run = 0; run < (cpu ? 1 : 2); run++) graph_run(second, x, k, NULL, dy);
        const kn_tensor *u[3] = {second->y, second->x->grad, second->k->grad};
        static const char *what[3] = {"y", "dx", "dk"};
        for (int i = 0; i < 3; i++)
            CHECK(memcmp(keep[i], u[i]->data, kn__nbytes(u[i])) == 0, "%s: %s differs between %s", name, what[i],
                  cpu ? "1 and 3 threads" : "a launch and a replay");
        printf("%-46s bit for bit between %s\n", name, cpu ? "1 and 3 threads" : "a launch and a replay");
    }
    for (int i = 0; i < 3; i++) free(keep[i]);
    graph_free(&a);
    graph_free(&b);
    free(x), free(k), free(dy);
}

/* u = tanh(convT(tanh(x)) + bias), loss sum(u dy), under every pass and in `precision`:
 * the reference's y of tanh(x), then its gradients for dz = dy (1 - u^2), and dx through
 * the first tanh. The transposed convolution stays one conv2d_grad_input node (named
 * conv2d_transpose_*); in bf16 on the CPU it reads and writes bf16 activations. */
static void chain_case(const geom *q, kn_precision precision, double tol) {
    char name[96], g[64];
    snprintf(name, sizeof name, "tanh(convT(tanh x) + b) %s, %s", precision ? "bf16" : "f32",
             name_of(q, g, sizeof g));
    sizes z = sizes_of(q);
    float *x, *k, *dy, *bias = malloc((size_t)q->f * sizeof(float)), *dz = malloc((size_t)z.ny * sizeof(float));
    float *tx = malloc((size_t)z.nx * sizeof(float));
    random_inputs(&z, &x, &k, &dy);
    for (int64_t j = 0; j < q->f; j++) bias[j] = 0.5f * frand();
    for (int64_t i = 0; i < z.nx; i++) tx[i] = (float)tanh(x[i]);
    reference r, r2;
    reference_new(&r, &z), reference_new(&r2, &z);
    reference_run(q, &z, tx, k, dy, &r); /* (its y; the gradients again with dz) */
    for (int64_t i = 0; i < z.ny; i++) {
        double t = tanh(r.y[i] + bias[i % q->f]);
        dz[i] = (float)(dy[i] * (1.0 - t * t));
    }
    reference_run(q, &z, tx, k, dz, &r2);
    for (int64_t i = 0; i < z.nx; i++) r2.dx[i] *= 1.0 - (double)tx[i] * tx[i];
    ct_graph d;
    if (graph_new(&d, q, 2, true, precision) && graph_run(&d, x, k, bias, dy)) {
        const kn_tensor *ct = NULL;
        for (int i = 0; i < d.g->n_nodes; i++)
            if (strncmp(d.g->nodes[i]->name, "conv2d_transpose_", 17) == 0 && !(d.g->nodes[i]->flags & KN_FLAG_DEAD))
                ct = d.g->nodes[i];
        CHECK(ct && ct->op == KN_OP_CONV2D_GRAD_INPUT, "%s: no conv2d_transpose node", name);
        bool half = device == KN_DEVICE_CPU && precision == KN_PRECISION_BF16;
        if (ct)
            CHECK(!half || (ct->dtype == KN_BF16 && ct->src[0]->dtype == KN_BF16), "%s: the node is %s from %s, "
                  "want bf16 from bf16", name, kn_dtype_name(ct->dtype), kn_dtype_name(ct->src[0]->dtype));
        compare(name, "dx", d.x->grad->data, r2.dx, r2.mag_dx, z.nx, tol);
        compare(name, "dk", d.k->grad->data, r2.dk, r2.mag_dk, z.nk, tol);
    }
    graph_free(&d);
    reference_free(&r), reference_free(&r2);
    free(x), free(k), free(dy), free(bias), free(dz), free(tx);
}

/* PyTorch's values (tests/golden/conv_transpose.txt): inputs from the file, results compared
 * with torch's, each element's tolerance scaled by the reference's magnitude. */
static void golden_case(const char *cs) {
    char rec[96];
    double dims[16];
    snprintf(rec, sizeof rec, "%s.dims", cs);
    CHECK(get(rec, dims, 16) == 16, "golden %s: no dims", cs);
    geom q = {(int64_t)dims[0], (int64_t)dims[1], (int64_t)dims[2], (int64_t)dims[3], (int64_t)dims[4], (int)dims[5],
              (int)dims[6], (int)dims[7], (int)dims[8], (int)dims[9], (int)dims[10], dims[11] != 0, (int)dims[12],
              (int)dims[13]};
    sizes z = sizes_of(&q);
    CHECK(z.oh == (int64_t)dims[14] && z.ow == (int64_t)dims[15], "golden %s: Keras's size %lldx%lld, here %lldx%lld",
          cs, (long long)dims[14], (long long)dims[15], (long long)z.oh, (long long)z.ow);
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
    ct_graph d;
    if (ok) reference_run(&q, &z, in[0], in[1], in[2], &r);
    if (ok && graph_new(&d, &q, 2, false, KN_PRECISION_FP32)) {
        char name[96];
        snprintf(name, sizeof name, "golden %s", cs);
        if (graph_run(&d, in[0], in[1], NULL, in[2])) {
            compare(name, "y", d.y->data, v[3], r.mag_y, z.ny, TOL);
            compare(name, "dx", d.x->grad->data, v[4], r.mag_dx, z.nx, TOL);
            compare(name, "dk", d.k->grad->data, v[5], r.mag_dk, z.nk, TOL);
        }
        graph_free(&d);
    }
    reference_free(&r);
    for (int i = 0; i < 6; i++) free(v[i]);
    for (int i = 0; i < 3; i++) free(in[i]);
}

/* The 1-D goldens (F.conv_transpose1d; '<case>.dims1d' N L C F K S D SAME OP OL) through
 * kn_conv1d_transpose, against the 2-D reference of the (n, 1, L, C) view. */
static void golden1d_case(const char *cs) {
    char rec[96];
    double dims[10];
    snprintf(rec, sizeof rec, "%s.dims1d", cs);
    CHECK(get(rec, dims, 10) == 10, "golden %s: no dims1d", cs);
    int op = (int)dims[8];
    geom q = {(int64_t)dims[0], 1, (int64_t)dims[1], (int64_t)dims[2], (int64_t)dims[3], 1, (int)dims[4], 1,
              (int)dims[5], 1, (int)dims[6], dims[7] != 0, op >= 0 ? 0 : -1, op};
    sizes z = sizes_of(&q);
    CHECK(z.oh == 1 && z.ow == (int64_t)dims[9], "golden %s: Keras's %lld steps, here %lld", cs, (long long)dims[9],
          (long long)z.ow);
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
    ct_graph d;
    if (ok) reference_run(&q, &z, in[0], in[1], in[2], &r);
    if (ok && graph_build(&d, &q, 2, false, KN_PRECISION_FP32, true)) {
        char name[96];
        snprintf(name, sizeof name, "golden 1-D %s", cs);
        if (graph_run(&d, in[0], in[1], NULL, in[2])) {
            CHECK(d.y->ndim == 3 && d.y->ne[1] == z.ow && d.y->ne[2] == q.f, "%s: y is not (n, %lld, %lld)", name,
                  (long long)z.ow, (long long)q.f);
            compare(name, "y", d.y->data, v[3], r.mag_y, z.ny, TOL);
            compare(name, "dx", d.x->grad->data, v[4], r.mag_dx, z.nx, TOL);
            compare(name, "dk", d.k->grad->data, v[5], r.mag_dk, z.nk, TOL);
        }
        graph_free(&d);
    }
    reference_free(&r);
    for (int i = 0; i < 6; i++) free(v[i]);
    for (int i = 0; i < 3; i++) free(in[i]);
}

/* Keras's 'same' with a 3x3 kernel of ones and strides 2 on [[1, 2], [3, 4]]: the full 5x5
 * output loses its last row and column (TensorFlow's padding of the 4x4 -> 2x2 convolution is
 * 0 before and 1 after), so the corner cell holds 1 alone. PyTorch's padding=1,
 * output_padding=1 drops the first row and column instead: [[1, 3, 2, 2], ...]. */
static void hand_case(void) {
    geom q = {1, 2, 2, 1, 1, 3, 3, 2, 2, 1, 1, true, -1, -1};
    static const float x[4] = {1, 2, 3, 4}, k[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    static const float want[16] = {1, 1, 3, 2, 1, 1, 3, 2, 4, 4, 10, 6, 3, 3, 7, 4};
    float dy[16] = {0};
    ct_graph d;
    if (graph_new(&d, &q, 1, false, KN_PRECISION_FP32) && graph_run(&d, x, k, NULL, dy)) {
        bool same = d.y->ne[1] == 4 && d.y->ne[2] == 4 && memcmp(d.y->data, want, sizeof want) == 0;
        const float *y = d.y->data;
        CHECK(same, "Keras's 'same' by hand: row 0 is %g %g %g %g, want 1 1 3 2", y[0], y[1], y[2], y[3]);
        printf("%-46s %s\n", "Keras's 'same' 3x3 stride 2 by hand", same ? "equal" : "differs");
    }
    graph_free(&d);
}

/* A builder error: NULL, the compile fails, and one line naming each fragment. */
static void refusal(const char *what, const int64_t *xs, const int64_t *ks, kn_conv2d_transpose_opts o,
                    const char *want1, const char *want2) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .device = device}, &ctx);
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *x = kn_param(g, xs, 4, KN_INIT_ZEROS, "img");
    kn_tensor *k = kn_param(g, ks, 2, KN_INIT_ZEROS, "tk");
    kn_tensor *y = kn_conv2d_transpose(g, x, k, &o);
    const char *msg = kn_last_error(ctx);
    CHECK(y == NULL && kn_graph_compile(g, 1, true) != KN_OK && strstr(msg, want1) && strstr(msg, want2) &&
              !strchr(msg, '\n'), "%s: '%s'", what, msg);
    printf("%-46s refused: %s\n", what, msg);
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

static void refusals(void) {
    refusal("kernel rows not a multiple of KH*KW", (int64_t[]){2, 5, 5, 3}, (int64_t[]){10, 3},
            (kn_conv2d_transpose_opts){.kernel_h = 3, .kernel_w = 3}, "(10, 3)", "(2, 5, 5, 3)");
    refusal("kernel columns not C", (int64_t[]){2, 5, 5, 3}, (int64_t[]){18, 2},
            (kn_conv2d_transpose_opts){.kernel_h = 3, .kernel_w = 3}, "(18, 2)", "'img'");
    refusal("output padding not below the stride", (int64_t[]){1, 4, 4, 1}, (int64_t[]){9, 1},
            (kn_conv2d_transpose_opts){.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2,
                                       .has_output_padding = true, .output_padding_h = 2},
            "output_padding 2x0", "strides 2x2");
    refusal("an empty output", (int64_t[]){1, 1, 3, 1}, (int64_t[]){4, 1},
            (kn_conv2d_transpose_opts){.kernel_h = 2, .kernel_w = 2, .same = true, .has_output_padding = true},
            "gives 0x2", "(1, 1, 3, 1)");
    refusal("a crop over 255", (int64_t[]){1, 2, 2, 1}, (int64_t[]){4, 1},
            (kn_conv2d_transpose_opts){.kernel_h = 4, .kernel_w = 1, .dilation_h = 255, .same = true},
            "cropped 382x0", "dilation 255x1");
    refusal("a window over 255", (int64_t[]){1, 2, 2, 1}, (int64_t[]){256, 1},
            (kn_conv2d_transpose_opts){.kernel_h = 256, .kernel_w = 1}, "window 256x1", "[1, 255]");
    /* the 1-D builder: an image is not a sequence; a kernel that does not fit names the sequence */
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .device = device}, &ctx);
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *img = kn_param(g, (int64_t[]){1, 4, 4, 2}, 4, KN_INIT_ZEROS, "img");
    kn_tensor *k = kn_param(g, (int64_t[]){6, 2}, 2, KN_INIT_ZEROS, "tk");
    kn_conv1d_transpose_opts o = {.kernel_size = 3};
    kn_tensor *y = kn_conv1d_transpose(g, img, k, &o);
    CHECK(!y && strstr(kn_last_error(ctx), "conv1d_transpose: input 'img' must be F32 (batch, steps, channels)"),
          "1-D refusal: '%s'", kn_last_error(ctx));
    kn_graph_free(g);
    kn_graph_new(ctx, &g);
    kn_tensor *seq = kn_param(g, (int64_t[]){2, 5, 3}, 3, KN_INIT_ZEROS, "seq");
    k = kn_param(g, (int64_t[]){6, 2}, 2, KN_INIT_ZEROS, "tk");
    y = kn_conv1d_transpose(g, seq, k, &o);
    CHECK(!y && strstr(kn_last_error(ctx), "conv1d_transpose: kernel 'tk' (6, 2)") &&
              strstr(kn_last_error(ctx), "'seq' (2, 5, 3)"), "1-D refusal: '%s'", kn_last_error(ctx));
    printf("%-46s refused: %s\n", "a 1-D kernel that does not fit", kn_last_error(ctx));
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

static void op_cases(void) {
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) reference_case(&shapes[i]);
    determinism_case(&shapes[9]);
    determinism_case(&shapes[10]);
    chain_case(&shapes[1], KN_PRECISION_FP32, TOL);
    chain_case(&shapes[10], KN_PRECISION_FP32, TOL);
    chain_case(&shapes[9], KN_PRECISION_BF16, TOL_BF16);
    hand_case();
    golden = read_all("tests/golden/conv_transpose.txt");
    CHECK(golden != NULL, "cannot read tests/golden/conv_transpose.txt (run from the source root)");
    static const char *goldens[] = {"valid3x3",   "same3x3_s2",      "same4x4_s2",  "valid3x2_s2x3_op",
                                    "same3x3_d2", "same2x3_s3x2_op", "valid1x1_s2", "valid2x2_s3",
                                    "valid3x3_s2_d2", "same5x5_s2_op0"};
    for (size_t i = 0; golden && i < sizeof goldens / sizeof *goldens; i++) golden_case(goldens[i]);
    static const char *goldens1d[] = {"seq_same3_s2", "seq_valid4_s3_op2", "seq_same2_d3"};
    for (size_t i = 0; golden && i < sizeof goldens1d / sizeof *goldens1d; i++) golden1d_case(goldens1d[i]);
    free(golden);
    refusals();
}

/* ---------------------------------------------------------------- the layer */

/* input (H, W, C) -> conv2d_transpose (tanh) -> flatten -> dense 2: predictions against the
 * reference run on the layer's own parameters (Keras's names; the kernel (KH KW, F, C)).
 * seq: input (W, C) -> conv1d_transpose (q's h, kh, sh, dh 1, oph 0 or -1), kernel (K, F, C). */
static void layer_case(const char *what, geom q, bool seq) {
    enum { OUT = 2 };
    char op[48] = "null", text[768], shape[48], window[160];
    const char *type = seq ? "conv1d_transpose" : "conv2d_transpose";
    if (q.oph >= 0 && seq) snprintf(op, sizeof op, "%d", q.opw);
    else if (q.oph >= 0) snprintf(op, sizeof op, "[%d, %d]", q.oph, q.opw);
    if (seq) snprintf(shape, sizeof shape, "%lld, %lld", (long long)q.w, (long long)q.c);
    else snprintf(shape, sizeof shape, "%lld, %lld, %lld", (long long)q.h, (long long)q.w, (long long)q.c);
    if (seq) snprintf(window, sizeof window, "\"kernel_size\": %d, \"strides\": %d, \"dilation_rate\": %d", q.kw, q.sw, q.dw);
    else snprintf(window, sizeof window, "\"kernel_size\": [%d, %d], \"strides\": [%d, %d], \"dilation_rate\": [%d, %d]",
                  q.kh, q.kw, q.sh, q.sw, q.dh, q.dw);
    snprintf(text, sizeof text,
             "{\"input_shape\": [%s], \"layers\": [{\"type\": \"%s\", \"filters\": %lld, %s, \"padding\": \"%s\", "
             "\"output_padding\": %s, \"activation\": \"tanh\", \"bias_initializer\": \"he_uniform\"}, "
             "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": %d}], \"loss\": \"mse\"}",
             shape, type, (long long)q.f, window, q.same ? "same" : "valid", op, OUT);
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, text);
    if (!m) {
        kn_ctx_free(ctx);
        return;
    }
    sizes z = sizes_of(&q);
    int64_t nk = 0, nb = 0, nk2 = 0;
    char kname[48], bname[48];
    snprintf(kname, sizeof kname, "%s_0/kernel", type);
    snprintf(bname, sizeof bname, "%s_0/bias", type);
    const float *k = kn_model_param(m, kname, &nk);
    const float *b = kn_model_param(m, bname, &nb);
    const float *k2 = kn_model_param(m, "dense_0/kernel", &nk2), *b2 = kn_model_param(m, "dense_0/bias", NULL);
    kn__param_spec specs[8];
    int ns = kn__model_param_specs(m, specs, 8, NULL);
    CHECK(ns == 4 && strcmp(specs[0].name, kname) == 0 && specs[0].ndim == 3 &&
              specs[0].shape[0] == z.taps && specs[0].shape[1] == q.f && specs[0].shape[2] == q.c &&
              strcmp(specs[1].name, bname) == 0 && specs[1].shape[0] == q.f,
          "%s: parameters %s (%lld, %lld, %lld)", what, specs[0].name, (long long)specs[0].shape[0],
          (long long)specs[0].shape[1], (long long)specs[0].shape[2]);
    CHECK(k && b && k2 && b2 && nk == z.nk && nb == q.f && nk2 == z.oh * z.ow * q.f * OUT, "%s: parameters", what);
    if (!k || !b || !k2 || !b2) goto done;
    enum { N = 3 };
    float *x = malloc((size_t)(N * q.h * q.w * q.c) * sizeof(float)), y[N * OUT];
    for (int64_t i = 0; i < N * q.h * q.w * q.c; i++) x[i] = (float)sin(0.61 * (double)i + 0.3);
    kn_status st = kn_model_predict(m, x, N, y);
    CHECK(!st, "%s: predict: %s", what, kn_last_error(ctx));
    geom qn = q;
    qn.n = N;
    sizes zn = sizes_of(&qn);
    float *dy = calloc((size_t)zn.ny, sizeof(float));
    reference r;
    reference_new(&r, &zn);
    reference_run(&qn, &zn, x, k, dy, &r);
    double worst = 0;
    for (int64_t n = 0; !st && n < N; n++)
        for (int o = 0; o < OUT; o++) {
            double s = b2[o];
            for (int64_t j = 0; j < z.oh * z.ow * q.f; j++)
                s += tanh(r.y[n * z.oh * z.ow * q.f + j] + b[j % q.f]) * k2[j * OUT + o];
            worst = fmax(worst, fabs(s - y[n * OUT + o]));
        }
    printf("%-46s predictions within %.2g of the reference\n", what, worst);
    CHECK(!st && worst < 2e-5, "%s: predictions differ from the reference by %.3g", what, worst);
    reference_free(&r);
    free(x), free(dy);
done:
    kn_model_free(m);
    kn_ctx_free(ctx);
}

/* he_uniform draws from +-sqrt(6 / fan_in); Keras's fan_in for the (KH, KW, F, C) kernel is
 * KH KW F (its second-to-last axis), not KH KW C: with F = 8 and C = 2 the bounds are 0.289
 * and 0.577, and 144 draws come within 13% of the right bound almost surely (1 - 0.87^144
 * = 1 - 1e-9). */
static void fans_case(void) {
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, "{\"input_shape\": [4, 4, 2], \"layers\": [{\"type\": \"conv2d_transpose\", \"filters\": "
                             "8, \"kernel_size\": 3, \"kernel_initializer\": \"he_uniform\"}, {\"type\": \"flatten\"}, "
                             "{\"type\": \"dense\", \"units\": 1}], \"loss\": \"mse\"}");
    int64_t n = 0;
    const float *k = m ? kn_model_param(m, "conv2d_transpose_0/kernel", &n) : NULL;
    double most = 0, bound = sqrt(6.0 / (3 * 3 * 8));
    for (int64_t i = 0; k && i < n; i++) most = fmax(most, fabs(k[i]));
    printf("%-46s he_uniform: max |w| %.3f, bound %.3f\n", "conv2d_transpose fans (Keras's)", most, bound);
    CHECK(k && n == 144 && most <= bound && most > 0.87 * bound, "fans: max |w| %.3f, Keras's bound %.3f", most,
          bound);
    kn_model_free(m);
    kn_ctx_free(ctx);
}

static void layer_cases(void) {
    layer_case("layer 3x3 same stride 2, (3, 4, 2) -> 3", (geom){1, 3, 4, 2, 3, 3, 3, 2, 2, 1, 1, true, -1, -1}, false);
    layer_case("layer 2x3 valid strides 2x3 op 1x2, C 3 F 2", (geom){1, 2, 3, 3, 2, 2, 3, 2, 3, 1, 1, false, 1, 2},
               false);
    layer_case("layer 3x3 same dilation 2, (4, 3, 1) -> 4", (geom){1, 4, 3, 1, 4, 3, 3, 1, 1, 2, 2, true, -1, -1}, false);
    layer_case("1-D layer 3 same stride 2, (5, 2) -> 3", (geom){1, 1, 5, 2, 3, 1, 3, 1, 2, 1, 1, true, -1, -1}, true);
    layer_case("1-D layer 4 valid stride 3 op 1, (4, 3) -> 2", (geom){1, 1, 4, 3, 2, 1, 4, 1, 3, 1, 1, false, 0, 1},
               true);
    fans_case();
    model_gradcheck("conv2d_transpose (op, l2) -> flatten -> dense",
                    "{\"input_shape\": [3, 2, 2], \"layers\": [{\"type\": \"conv2d_transpose\", \"filters\": 2, "
                    "\"kernel_size\": 3, \"strides\": 2, \"padding\": \"same\", \"output_padding\": [0, 1], "
                    "\"activation\": \"tanh\", \"kernel_regularizer\": {\"l2\": 0.01}}, {\"type\": \"flatten\"}, "
                    "{\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}], \"loss\": "
                    "\"sparse_categorical_crossentropy\"}", 12, 2);
    model_gradcheck("conv1d -> conv1d_transpose (same, op) -> flatten",
                    "{\"input_shape\": [6, 2], \"layers\": [{\"type\": \"conv1d\", \"filters\": 3, \"kernel_size\": 3, "
                    "\"strides\": 2, \"padding\": \"same\", \"activation\": \"tanh\"}, {\"type\": \"conv1d_transpose\", "
                    "\"filters\": 2, \"kernel_size\": 3, \"strides\": 2, \"padding\": \"same\", \"output_padding\": 1, "
                    "\"activation\": \"tanh\", \"kernel_regularizer\": {\"l2\": 0.02}}, {\"type\": \"flatten\"}, {\"type\": "
                    "\"dense\", \"units\": 2, \"activation\": \"softmax\"}], \"loss\": \"sparse_categorical_crossentropy\"}",
                    12, 2);
    model_gradcheck("conv2d -> conv2d_transpose (valid) -> flatten",
                    "{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel_size\": "
                    "2, \"strides\": 2, \"activation\": \"tanh\"}, {\"type\": \"conv2d_transpose\", \"filters\": 1, "
                    "\"kernel_size\": 2, \"strides\": 2, \"activation\": \"elu\"}, {\"type\": \"flatten\"}, {\"type\": "
                    "\"dense\", \"units\": 2, \"activation\": \"softmax\"}], \"loss\": "
                    "\"sparse_categorical_crossentropy\"}", 16, 2);
}

/* A conv autoencoder on tests/data/digits.csv's 8x8 images (1437 rows trained, 360 held
 * out): (8, 8, 1) -> conv2d 8 stride 2 (4, 4, 8) -> conv2d 16 stride 2 (2, 2, 16) ->
 * conv2d_transpose 8 stride 2 (4, 4, 8) -> conv2d_transpose 1 stride 2 sigmoid (8, 8, 1),
 * mean squared error against its own input. Its held-out error must fall well under the
 * per-pixel mean image's; saved and loaded it predicts the same bits; its description
 * reads back to the same text and its summary names the layers. */
static void autoencoder_case(void) {
    enum { MAX = 1797, TRAIN = 1437, TEST = MAX - TRAIN };
    float *x = malloc((size_t)MAX * 64 * sizeof *x), *out = malloc((size_t)TEST * 64 * sizeof *out);
    int32_t *labels = malloc(MAX * sizeof *labels);
    int64_t n = x && labels && out ? read_digits(x, labels, MAX) : 0;
    CHECK(n == MAX, "digits: %lld rows", (long long)n);
    if (n != MAX) goto done;
    const char *text =
        "{\"input_shape\": [64], \"layers\": [{\"type\": \"reshape\", \"target_shape\": [8, 8, 1]}, "
        "{\"type\": \"conv2d\", \"filters\": 8, \"kernel_size\": 3, \"strides\": 2, \"padding\": \"same\", "
        "\"activation\": \"relu\"}, {\"type\": \"conv2d\", \"filters\": 16, \"kernel_size\": 3, \"strides\": 2, "
        "\"padding\": \"same\", \"activation\": \"relu\"}, {\"type\": \"conv2d_transpose\", \"filters\": 8, "
        "\"kernel_size\": 3, \"strides\": 2, \"padding\": \"same\", \"activation\": \"relu\"}, {\"type\": "
        "\"conv2d_transpose\", \"filters\": 1, \"kernel_size\": 3, \"strides\": 2, \"padding\": \"same\", "
        "\"activation\": \"sigmoid\"}, {\"type\": \"flatten\"}], \"loss\": \"mse\", \"optimizer\": {\"type\": "
        "\"adam\", \"learning_rate\": 0.01}}";
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, text);
    kn_dataset *train = NULL;
    if (m) kn_dataset_from_arrays_regression(ctx, x, x, TRAIN, 64, 64, &train);
    kn_status st = m && train ? kn_model_fit(m, train, &(kn_fit_opts){.epochs = 8, .batch_size = 32}, NULL) : KN_ERR_STATE;
    if (!st) st = kn_model_predict(m, x + TRAIN * 64, TEST, out);
    CHECK(!st, "autoencoder: %s", kn_last_error(ctx));
    if (!st) {
        double mean[64] = {0}, base = 0, err = 0;
        for (int64_t i = 0; i < TRAIN * 64; i++) mean[i % 64] += x[i] / TRAIN;
        for (int64_t i = 0; i < TEST * 64; i++) {
            double v = x[TRAIN * 64 + i];
            base += (v - mean[i % 64]) * (v - mean[i % 64]) / (TEST * 64);
            err += (v - out[i]) * (v - out[i]) / (TEST * 64);
        }
        printf("conv autoencoder on digits, 8 epochs: held-out mse %.4f (the mean image's %.4f)\n", err, base);
        CHECK(err < 0.5 * base, "autoencoder: held-out mse %.4f, the mean image's %.4f", err, base);
        char *a = NULL, *b = NULL, summary[512];
        double diff = reload_difference(ctx, m, x + TRAIN * 64, TEST, 64, &b);
        printf("conv autoencoder saved and loaded: predictions differ by %.3g\n", diff);
        CHECK(diff == 0, "autoencoder reload: predictions differ by %.3g", diff);
        CHECK(!kn_model_to_json(m, &a) && b && strcmp(a, b) == 0, "autoencoder: descriptions differ:\n%s\n%s", a, b);
        kn_model *j = a ? build(ctx, a) : NULL;
        char *again = NULL;
        CHECK(j && !kn_model_to_json(j, &again) && strcmp(a, again) == 0, "autoencoder read back:\n%s\n%s", a, again);
        CHECK(a && strstr(a, "\"type\":\"conv2d_transpose\",\"filters\":8,\"kernel_size\":[3,3],\"strides\":[2,2],"
                             "\"padding\":\"same\",\"output_padding\":null"),
              "autoencoder: description %s", a);
        kn_model_summary(m, summary, sizeof summary);
        printf("%s\n", summary);
        CHECK(strstr(summary, "conv2d_transpose 8 3x3 stride 2x2 same relu -> conv2d_transpose 1 3x3 stride 2x2 "
                              "same sigmoid"), "summary: %s", summary);
        kn_model_free(j);
        kn_free(ctx, again);
        kn_free(ctx, a);
        kn_free(ctx, b);
    }
    kn_dataset_free(train);
    kn_model_free(m);
    kn_ctx_free(ctx);
done:
    free(x), free(labels), free(out);
}

#define TAIL "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}"

static void description_errors(void) {
    kn_ctx *ctx = new_ctx();
    static const description_case bad[] = {
        {"{\"input_shape\": [8, 8], \"layers\": [{\"type\": \"conv2d_transpose\", \"filters\": 2, \"kernel_size\": 3}, "
         TAIL, "layers[0] conv2d_transpose: needs an image input (height, width, channels), got (8, 8)"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"conv2d_transpose\", \"kernel_size\": 3}, " TAIL,
         "layers[0].filters: missing"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"conv2d_transpose\", \"filters\": 2}, " TAIL,
         "layers[0].kernel_size: missing"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"conv2d_transpose\", \"filters\": 2, \"kernel_size\": "
         "3, \"strides\": 2, \"output_padding\": 2}, " TAIL,
         "layers[0] conv2d_transpose: output_padding 2x2 must be below the strides 2x2"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"conv2d_transpose\", \"filters\": 2, \"kernel_size\": "
         "3, \"output_padding\": [1]}, " TAIL,
         "layers[0].output_padding: expected null, a whole number or a list [height, width]"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"conv2d_transpose\", \"filters\": 2, \"kernel_size\": "
         "3, \"output_padding\": -1}, " TAIL, "layers[0].output_padding: expected null"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"conv2d_transpose\", \"filters\": 2, \"kernel_size\": "
         "3, \"depth_multiplier\": 2}, " TAIL, "layers[0]: unknown key 'depth_multiplier'"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"conv2d_transpose\", \"filters\": 2, \"kernel_size\": "
         "3, \"padding\": \"full\"}, " TAIL, "layers[0].padding: expected \"valid\" or \"same\""},
        {"{\"input_shape\": [1, 5, 1], \"layers\": [{\"type\": \"conv2d_transpose\", \"filters\": 2, \"kernel_size\": "
         "2, \"padding\": \"same\", \"output_padding\": 0}, " TAIL,
         "layers[0] conv2d_transpose: input (1, 5, 1) under a 2x2 kernel (strides 1x1, dilation 1x1, 'same') gives "
         "(0, 4, 2)"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"conv2d_transpose\", \"filters\": 2, \"kernel_size\": "
         "3, \"kernel_initializer\": \"nope\"}, " TAIL, "layers[0].kernel_initializer: unknown initializer 'nope'"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"conv2d_transpose\", \"filters\": 2, \"kernel_size\": "
         "3, \"strides\": [2, 1], \"output_padding\": [1, 0], \"padding\": \"same\"}, " TAIL, NULL},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"conv1d_transpose\", \"filters\": 2, \"kernel_size\": "
         "3}, " TAIL, "layers[0] conv1d_transpose: needs a sequence input (steps, channels), got (8, 8, 1)"},
        {"{\"input_shape\": [8, 2], \"layers\": [{\"type\": \"conv1d_transpose\", \"filters\": 2, \"kernel_size\": "
         "3, \"padding\": \"causal\"}, " TAIL, "layers[0].padding: expected \"valid\" or \"same\""},
        {"{\"input_shape\": [8, 2], \"layers\": [{\"type\": \"conv1d_transpose\", \"filters\": 2, \"kernel_size\": "
         "3, \"strides\": 2, \"output_padding\": [1, 1]}, " TAIL,
         "layers[0].output_padding: expected null, a whole number or a list of one [n]"},
        {"{\"input_shape\": [8, 2], \"layers\": [{\"type\": \"conv1d_transpose\", \"filters\": 2, \"kernel_size\": "
         "3, \"output_padding\": [1]}, " TAIL,
         "layers[0] conv1d_transpose: output_padding 1 must be below the strides 1"},
        {"{\"input_shape\": [8, 2], \"layers\": [{\"type\": \"conv1d_transpose\", \"filters\": 2, \"kernel_size\": "
         "[3], \"strides\": [2], \"output_padding\": [1], \"dilation_rate\": 1}, " TAIL, NULL},
    };
    check_descriptions(ctx, bad, sizeof bad / sizeof bad[0]);
    /* from C: the same checks, and the model left as it was */
    kn_model *m = NULL;
    kn_model_new_sequential(ctx, (int64_t[]){4, 4, 3}, 3, &m);
    kn_status st = kn_model_add_conv2d_transpose(m, &(kn_conv2d_transpose_opts){.filters = 0, .kernel_h = 3,
                                                                                .kernel_w = 3});
    CHECK(st == KN_ERR_SHAPE && strstr(kn_last_error(ctx), "layers[0] conv2d_transpose: filters is 0"), "C: '%s'",
          kn_last_error(ctx));
    st = kn_model_add_conv2d_transpose(m, &(kn_conv2d_transpose_opts){.filters = 2, .kernel_h = 3, .kernel_w = 0});
    CHECK(st == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "kernel 3x0"), "C: '%s'", kn_last_error(ctx));
    st = kn_model_add_conv2d_transpose(m, &(kn_conv2d_transpose_opts){.filters = 2, .kernel_h = 3, .kernel_w = 3,
                                                                      .stride_h = 2, .stride_w = 2, .same = true});
    CHECK(!st && kn_model_output_size(m) == 8 * 8 * 2, "C: a valid layer: %s", kn_last_error(ctx));
    kn_model_free(m);
    kn_ctx_free(ctx);
}

/* A conv1d_transpose model's description written and read back to the same text, its
 * summary, and its saved-and-loaded copy predicting the same bits. */
static void sequence_model_case(void) {
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, "{\"input_shape\": [7, 2], \"layers\": [{\"type\": \"conv1d_transpose\", \"filters\": 3, "
                             "\"kernel_size\": 3, \"strides\": 2, \"padding\": \"same\", \"output_padding\": 1, "
                             "\"activation\": \"tanh\"}, {\"type\": \"conv1d_transpose\", \"filters\": 2, \"kernel_size\": 2, "
                             "\"dilation_rate\": 2}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3}], \"loss\": "
                             "\"mse\"}");
    char *a = NULL, *b = NULL, summary[512] = "";
    if (m) {
        float x[4 * 14];
        for (int i = 0; i < 4 * 14; i++) x[i] = (float)cos(0.3 * i);
        double diff = reload_difference(ctx, m, x, 4, 3, &b);
        CHECK(diff == 0, "1-D reload: predictions differ by %.3g", diff);
        CHECK(!kn_model_to_json(m, &a) && b && strcmp(a, b) == 0, "1-D descriptions differ:\n%s\n%s", a, b);
        CHECK(a && strstr(a, "\"type\":\"conv1d_transpose\",\"filters\":3,\"kernel_size\":[3],\"strides\":[2],"
                             "\"padding\":\"same\",\"output_padding\":[1],\"dilation_rate\":[1]"), "1-D description %s", a);
        kn_model *j = a ? build(ctx, a) : NULL;
        char *again = NULL;
        CHECK(j && !kn_model_to_json(j, &again) && strcmp(a, again) == 0, "1-D read back:\n%s\n%s", a, again);
        kn_model_summary(m, summary, sizeof summary);
        printf("%s\n", summary);
        /* 7 steps -> 14 (same, stride 2, output_padding 1: 6 * 2 + 1 + 1) -> 16 (valid, span 3) */
        CHECK(strstr(summary, "conv1d_transpose 3 kernel 3 stride 2 same output_padding 1 tanh -> conv1d_transpose 2 "
                              "kernel 2 dilation 2 linear") && kn_model_output_size(m) == 3 &&
                  m->layers[0].shape[0] == 14 && m->layers[1].shape[0] == 16,
              "1-D summary: %s", summary);
        kn_model_free(j);
        kn_free(ctx, again);
    }
    kn_free(ctx, a);
    kn_free(ctx, b);
    kn_model_free(m);
    kn_ctx_free(ctx);
}

/* What KILN_TEST_DEVICE=cuda runs on the device: the op and the layer, not the training. */
static void device_cases(void) {
    op_cases();
    layer_cases();
}

int main(void) {
    int rc = run_on_test_device("test_conv_transpose", &device, device_cases);
    if (rc >= 0) return rc;
    device_cases();
    autoencoder_case();
    sequence_model_case();
    description_errors();
    return checks_done("conv_transpose");
}
