/* test_conv.c — kn_conv2d, kn_max_pool2d and kn_avg_pool2d (NHWC) against PyTorch
 * (tests/golden/conv.txt, from tests/golden/make_conv.py): forward values and the
 * gradients of x and the kernel, to 1e-5 relative, with every pass on and off, and with a
 * batched input run at a smaller batch than it was compiled for. Also: results do not
 * depend on the thread count, and shape errors name the shapes. */
#include "graph/graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

enum { MAXV = 4096 };
typedef struct { int64_t n; float v[MAXV]; } arr;

static bool read_arr(FILE *f, const char *name, arr *a) {
    char got[32];
    long long n;
    if (fscanf(f, "%31s %lld", got, &n) != 2 || strcmp(got, name) || n < 0 || n > MAXV) return false;
    for (long long i = 0; i < n; i++)
        if (fscanf(f, "%f", &a->v[i]) != 1) return false;
    a->n = n;
    return true;
}

/* Relative error, against the value or, for values near zero (where float32 sums of
 * larger terms cancel), against 5% of the array's largest magnitude. */
static double compare(const char *what, const char *label, const float *got, const arr *want) {
    double worst = 0, big = 0;
    for (int64_t i = 0; i < want->n; i++) big = fmax(big, fabs(want->v[i]));
    for (int64_t i = 0; i < want->n; i++) {
        double err = fabs((double)got[i] - want->v[i]) / fmax(fabs(want->v[i]), 0.05 * big + 1e-30);
        if (err > worst) worst = err;
    }
    CHECK(worst < 1e-5, "%s %s: relative error %.3g", label, what, worst);
    return worst;
}

typedef struct { int n, h, w, c, kh, kw, f, sh, sw, dh, dw, same; bool conv, max; } spec;

/* Builds y = op(x), loss = sum(y * dy), runs forward and backward, compares. batched: x is
 * an input of shape (batch, H, W, C) compiled for batch n + 2 and run at n (no dx then). */
static double run_case(const spec *s, const char *label, arr **vals, unsigned passes, bool batched) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 1}, &ctx);
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_graph_set_passes(g, passes);
    int64_t xs[4] = {batched ? KN_BATCH : s->n, s->h, s->w, s->c};
    kn_tensor *x = batched ? kn_input(g, KN_F32, xs, 4, "x") : kn_param(g, xs, 4, KN_INIT_ZEROS, "x");
    kn_tensor *k = s->conv ? kn_param(g, (int64_t[]){(int64_t)s->kh * s->kw * s->c, s->f}, 2, KN_INIT_ZEROS, "k") : NULL;
    kn_tensor *y = s->conv ? kn_conv2d(g, x, k, s->kh, s->kw, s->sh, s->sw, s->dh, s->dw, s->same)
                   : s->max ? kn_max_pool2d(g, x, s->kh, s->kw, s->sh, s->sw, s->same)
                            : kn_avg_pool2d(g, x, s->kh, s->kw, s->sh, s->sw, s->same);
    kn_tensor *dy = y ? kn_input(g, KN_F32, y->shape, 4, "dy") : NULL;
    kn_tensor *loss = kn__sum(g, kn_mul(g, y, dy));
    kn_graph_keep(g, y);
    kn_status st = batched && !s->conv ? KN_OK : kn_graph_backward(g, loss);
    if (!st) st = kn_graph_compile(g, batched ? s->n + 2 : s->n, false);
    if (!st && batched) st = kn_graph_set_batch(g, s->n);
    CHECK(st == KN_OK, "%s: build failed: %s", label, kn_last_error(ctx));
    double worst = 0;
    if (!st) {
        arr *xv = vals[0], *kv = s->conv ? vals[1] : NULL, *dyv = vals[s->conv ? 2 : 1];
        arr *yv = vals[s->conv ? 3 : 2], *dxv = vals[s->conv ? 4 : 3], *dkv = s->conv ? vals[5] : NULL;
        memcpy(x->data, xv->v, (size_t)xv->n * sizeof(float));
        if (k) memcpy(k->data, kv->v, (size_t)kv->n * sizeof(float));
        memcpy(dy->data, dyv->v, (size_t)dyv->n * sizeof(float));
        CHECK(kn__numel(y) == yv->n, "%s: y has %lld values, expected %lld", label, (long long)kn__numel(y),
              (long long)yv->n);
        kn_graph_run(g);
        if (kn__numel(y) == yv->n) worst = fmax(worst, compare("y", label, y->data, yv));
        if (!batched) worst = fmax(worst, compare("dx", label, x->grad->data, dxv));
        if (k) worst = fmax(worst, compare("dkernel", label, k->grad->data, dkv));
    }
    kn_graph_free(g);
    kn_ctx_free(ctx);
    return worst;
}

static void golden(void) {
    FILE *f = fopen("tests/golden/conv.txt", "r");
    CHECK(f != NULL, "cannot open tests/golden/conv.txt (run from the source root)");
    if (!f) return;
    static arr store[6];
    arr *vals[6] = {&store[0], &store[1], &store[2], &store[3], &store[4], &store[5]};
    char kind[16];
    int cases = 0;
    while (fscanf(f, "%15s", kind) == 1) {
        spec s = {0};
        s.conv = strcmp(kind, "conv") == 0;
        s.max = strcmp(kind, "maxpool") == 0;
        s.dh = s.dw = 1;
        int ok = s.conv ? fscanf(f, "%d %d %d %d %d %d %d %d %d %d %d %d", &s.n, &s.h, &s.w, &s.c, &s.kh, &s.kw, &s.f,
                                 &s.sh, &s.sw, &s.dh, &s.dw, &s.same) == 12
                        : fscanf(f, "%d %d %d %d %d %d %d %d %d", &s.n, &s.h, &s.w, &s.c, &s.kh, &s.kw, &s.sh, &s.sw,
                                 &s.same) == 9;
        static const char *conv_names[] = {"x", "kernel", "dy", "y", "dx", "dkernel"};
        static const char *pool_names[] = {"x", "dy", "y", "dx"};
        for (int i = 0; ok && i < (s.conv ? 6 : 4); i++) ok = read_arr(f, s.conv ? conv_names[i] : pool_names[i], vals[i]);
        CHECK(ok, "conv.txt: case %d (%s) is malformed", cases, kind);
        if (!ok) break;
        char label[96];
        snprintf(label, sizeof label, "%s %dx%dx%d %dx%d s%dx%d d%dx%d %s", kind, s.h, s.w, s.c, s.kh, s.kw, s.sh, s.sw,
                 s.dh, s.dw, s.same ? "same" : "valid");
        double w1 = run_case(&s, label, vals, KN_PASS_ALL, false);
        double w2 = run_case(&s, label, vals, 0, false);
        double w3 = run_case(&s, label, vals, KN_PASS_ALL, true);
        printf("%-44s max relative error %.2e (passes on), %.2e (off), %.2e (batched)\n", label, w1, w2, w3);
        cases++;
    }
    fclose(f);
    CHECK(cases == 11, "conv.txt: %d cases read, expected 11", cases);
}

/* A conv + max pool + avg pool training graph large enough to run on several threads: the
 * loss and every gradient are bit-for-bit the same on 1 and 3 threads. */
static void thread_independence(void) {
    float *res[2] = {0};
    size_t n_res = 0;
    for (int r = 0; r < 2; r++) {
        kn_ctx *ctx;
        kn_ctx_new(&(kn_ctx_opts){.threads = r ? 3 : 1, .seed = 5}, &ctx);
        kn_graph *g;
        kn_graph_new(ctx, &g);
        kn_tensor *x = kn_param(g, (int64_t[]){8, 24, 24, 8}, 4, KN_INIT_GLOROT_UNIFORM, "x");
        kn_tensor *k = kn_param(g, (int64_t[]){3 * 3 * 8, 16}, 2, KN_INIT_GLOROT_UNIFORM, "k");
        kn_tensor *y = kn_conv2d(g, x, k, 3, 3, 1, 1, 1, 1, true);
        kn_tensor *p = kn_max_pool2d(g, y, 3, 3, 1, 1, true);
        kn_tensor *q = kn_avg_pool2d(g, p, 3, 3, 2, 2, true);
        kn_tensor *loss = kn_sum_squares(g, q);
        kn_graph_keep(g, loss);
        kn_status st = kn_graph_backward(g, loss);
        if (!st) st = kn_graph_compile(g, 8, true);
        CHECK(st == KN_OK, "threads: build failed: %s", kn_last_error(ctx));
        if (!st) {
            kn_graph_run(g);
            n_res = (size_t)(kn__numel(x) + kn__numel(k) + 1);
            res[r] = malloc(n_res * sizeof(float));
            memcpy(res[r], x->grad->data, (size_t)kn__numel(x) * sizeof(float));
            memcpy(res[r] + kn__numel(x), k->grad->data, (size_t)kn__numel(k) * sizeof(float));
            res[r][n_res - 1] = *(float *)loss->data;
        }
        kn_graph_free(g);
        kn_ctx_free(ctx);
    }
    if (res[0] && res[1])
        CHECK(memcmp(res[0], res[1], n_res * sizeof(float)) == 0, "threads: 1 and 3 threads give different gradients");
    printf("%-44s %s\n", "1 vs 3 threads", res[0] && res[1] && !memcmp(res[0], res[1], n_res * sizeof(float)) ? "identical" : "differ");
    free(res[0]);
    free(res[1]);
}

/* Shape errors come from the builder and name the shapes. */
static void errors(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1}, &ctx);
    struct { const char *want[2]; int kh, rows; bool same; } cases[] = {
        {{"larger than input", "(batch, 3, 3, 2)"}, 5, 50, false},
        {{"(18, filters)", "(batch, 3, 3, 2)"}, 3, 27, false},
    };
    for (int i = 0; i < 2; i++) {
        kn_graph *g;
        kn_graph_new(ctx, &g);
        kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 3, 3, 2}, 4, "x");
        kn_tensor *k = kn_param(g, (int64_t[]){cases[i].rows, 4}, 2, KN_INIT_ZEROS, "k");
        kn_tensor *y = kn_conv2d(g, x, k, cases[i].kh, cases[i].kh, 1, 1, 1, 1, cases[i].same);
        const char *msg = kn_last_error(ctx);
        CHECK(!y && kn_graph_status(g) == KN_ERR_SHAPE, "error case %d: no shape error", i);
        for (int j = 0; j < 2; j++) CHECK(strstr(msg, cases[i].want[j]), "error case %d: '%s' lacks '%s'", i, msg, cases[i].want[j]);
        printf("error: %s\n", msg);
        kn_graph_free(g);
    }
    /* 'same' never fails on size; a 3-D input does */
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 3, 3, 2}, 4, "x");
    CHECK(kn_max_pool2d(g, x, 5, 5, 2, 2, true) != NULL, "max_pool2d 5x5 'same' over 3x3: %s", kn_last_error(ctx));
    kn_tensor *flat = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 9}, 2, "flat");
    CHECK(kn_avg_pool2d(g, flat, 2, 2, 2, 2, false) == NULL && strstr(kn_last_error(ctx), "(batch, 9)"),
          "avg_pool2d over a matrix: %s", kn_last_error(ctx));
    printf("error: %s\n", kn_last_error(ctx));
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

int main(void) {
    golden();
    thread_independence();
    errors();
    return checks_done("convolution");
}
