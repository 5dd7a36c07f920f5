/* test_batchnorm.c — batch normalization as Keras's BatchNormalization: per channel (the
 * last axis), batch mean and biased variance in training, moving statistics updated as
 * moving * momentum + batch * (1 - momentum) (the biased variance too, as Keras; PyTorch
 * would use the unbiased one), the moving statistics in evaluation and prediction. Golden
 * forward and gradients from PyTorch and Keras-style moving statistics after two steps
 * (tests/golden/batchnorm.txt from tests/golden/make_batchnorm.py); the inference formula;
 * the layer in a model: trained, saved and loaded with its moving statistics, thread
 * counts and checkpoint resume bit-identical, bad momentum and epsilon refused. */
#define _GNU_SOURCE
#include "graph/graph.h"
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "golden.h"
#include "layer_test.h"

enum { MAXV = 256 };

static int load(const char *name, double *v, int want) {
    int n = get(name, v, MAXV);
    CHECK(n == want, "golden %s: %d values, expected %d", name, n, want);
    return n == want;
}

static void fill(float *dst, const char *name, int n) {
    double v[MAXV];
    if (!load(name, v, n)) return;
    for (int i = 0; i < n; i++) dst[i] = (float)v[i];
}

/* x (a parameter, to get its gradient), gamma, beta; loss = sum(batch_norm(x) * dy). */
static void golden_case(const char *cs, const int64_t *shape, int ndim) {
    kn_tensor *x;
    int64_t c, n;
    kn_graph *g = lt_golden_graph(shape, ndim, &x, &c, &n);
    kn_ctx *ctx = g->ctx;
    kn_tensor *gamma = kn_param(g, &c, 1, KN_INIT_ONES, "gamma"), *beta = kn_param(g, &c, 1, KN_INIT_ZEROS, "beta");
    kn_tensor *mm = kn_param(g, &c, 1, KN_INIT_ZEROS, "moving_mean");
    kn_tensor *mv = kn_param(g, &c, 1, KN_INIT_ONES, "moving_variance");
    kn_tensor *dy = kn_input(g, KN_F32, shape, ndim, "dy");
    kn_tensor *y = kn_batch_norm(g, x, gamma, beta, mm, mv, 0.99f, 1e-3f);
    if (!lt_compile_projected(g, y, dy, cs)) goto done;
    CHECK(mm->grad == NULL && mv->grad == NULL, "%s: the moving statistics have gradients", cs);
    char name[64];
    snprintf(name, sizeof name, "%s.gamma", cs);
    fill(gamma->data, name, (int)c);
    snprintf(name, sizeof name, "%s.beta", cs);
    fill(beta->data, name, (int)c);
    double want[MAXV];
    for (int step = 1; step <= 2; step++) {
        snprintf(name, sizeof name, "%s.x%d", cs, step);
        fill(x->data, name, (int)n);
        snprintf(name, sizeof name, "%s.dy%d", cs, step);
        fill(dy->data, name, (int)n);
        kn_graph_upload(g); /* gamma and beta are parameters (a no-op on the cpu) */
        CHECK(!kn_graph_run(g), "%s: run: %s", cs, kn_last_error(ctx));
        kn_graph_sync(g); /* their gradients and the moving statistics */
        static const char *what[4] = {"y", "dx", "dgamma", "dbeta"};
        const float *got[4] = {y->data, x->grad->data, gamma->grad->data, beta->grad->data};
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "%s.%s%d", cs, what[k], step);
            int cnt = k < 2 ? (int)n : (int)c;
            if (load(name, want, cnt)) compare_golden(name, got[k], want, cnt, 2e-5);
        }
    }
    snprintf(name, sizeof name, "%s.moving_mean", cs);
    if (load(name, want, (int)c)) compare_golden(name, mm->data, want, (int)c, 1e-6);
    snprintf(name, sizeof name, "%s.moving_variance", cs);
    if (load(name, want, (int)c)) compare_golden(name, mv->data, want, (int)c, 1e-6);

    /* evaluating: the moving statistics, and they stay */
    float keep_mm[16], keep_mv[16];
    memcpy(keep_mm, mm->data, (size_t)c * sizeof(float));
    memcpy(keep_mv, mv->data, (size_t)c * sizeof(float));
    snprintf(name, sizeof name, "%s.x3", cs);
    fill(x->data, name, (int)n);
    kn_graph_upload(g); /* x is a parameter here (for its gradient) */
    CHECK(!kn__graph_run_phases(g, KN_PHASE_FORWARD), "%s: evaluate: %s", cs, kn_last_error(ctx));
    snprintf(name, sizeof name, "%s.y3", cs);
    if (load(name, want, (int)n)) compare_golden(name, y->data, want, (int)n, 2e-5);
    CHECK(memcmp(keep_mm, mm->data, (size_t)c * sizeof(float)) == 0 &&
              memcmp(keep_mv, mv->data, (size_t)c * sizeof(float)) == 0,
          "%s: evaluating changed the moving statistics", cs);
    /* the inference formula, from kiln's own moving statistics */
    const float *xv = x->data, *yv = y->data, *gv = gamma->data, *bv = beta->data, *m = mm->data, *v = mv->data;
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t k = i % c;
        double f = (xv[i] - (double)m[k]) / sqrt((double)v[k] + 1e-3) * gv[k] + bv[k];
        worst = fmax(worst, fabs(yv[i] - f) / (1 + fabs(f)));
    }
    printf("%-28s worst error %.2e\n", "inference formula", worst);
    CHECK(worst < 1e-6, "%s: inference is not (x - moving_mean) / sqrt(moving_variance + eps) * gamma + beta: %.3g",
          cs, worst);
done:
    lt_golden_free(g);
}

static void test_golden(void) {
    if (!lt_golden_open("tests/golden/batchnorm.txt")) return;
    golden_case("img", (int64_t[]){2, 3, 4, 3}, 4);
    golden_case("dense", (int64_t[]){5, 4}, 2);
    free(golden);
    golden = NULL;
}

/* ------------------------------------------------------------- folding */

/* What feeds the batch norm: x (batch, 5) -> dense 4 (+ bias), or x (batch, 6, 6, 2) ->
 * conv2d 3x3 'same' to 4 filters, with a bias or without, or a depthwise 3x3 'same' of
 * depth multiplier 2 (4 channels out), with a bias or without. */
typedef enum { FOLD_DENSE, FOLD_CONV_BIAS, FOLD_CONV, FOLD_DEPTHWISE_BIAS, FOLD_DEPTHWISE } fold_kind;

static int64_t fold_outputs(fold_kind k) { return k == FOLD_DENSE ? 8 * 4 : 8 * 6 * 6 * 4; }

/* That layer -> batch_norm, evaluating; parameters frozen when passes fold. */
static kn_graph *fold_graph(kn_ctx *ctx, fold_kind kind, unsigned passes, kn_tensor **x, kn_tensor **y) {
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_graph_set_passes(g, passes);
    kn_tensor *p[5], *h;
    if (kind == FOLD_DENSE) {
        *x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 5}, 2, "x");
        h = kn_matmul(g, *x, kn_param(g, (int64_t[]){5, 4}, 2, KN_INIT_ZEROS, "W"));
    } else if (kind == FOLD_CONV_BIAS || kind == FOLD_CONV) {
        *x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 6, 6, 2}, 4, "x");
        h = kn_conv2d(g, *x, kn_param(g, (int64_t[]){18, 4}, 2, KN_INIT_ZEROS, "K"), 3, 3, 1, 1, 1, 1, true);
    } else {
        *x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 6, 6, 2}, 4, "x");
        h = kn_depthwise_conv2d(g, *x, kn_param(g, (int64_t[]){9, 4}, 2, KN_INIT_ZEROS, "D"), 3, 3, 1, 1, 1, 1, true);
    }
    for (int k = 0; k < 5; k++) p[k] = kn_param(g, (int64_t[]){4}, 1, KN_INIT_ZEROS, "p");
    if (kind != FOLD_CONV && kind != FOLD_DEPTHWISE) h = kn_add(g, h, p[0]);
    *y = kn_batch_norm(g, h, p[1], p[2], p[3], p[4], 0.99f, 1e-3f);
    kn_graph_keep(g, *y);
    if (passes & KN_PASS_FOLD) kn_graph_freeze_params(g);
    kn_status st = kn_graph_compile(g, 8, false);
    if (!st) st = kn_graph_set_batch(g, 8);
    CHECK(!st, "fold graph: %s", kn_last_error(ctx));
    if (st) {
        kn_graph_free(g);
        return NULL;
    }
    for (int i = 0; i < g->n_params; i++) {
        float *d = g->params[i]->data;
        for (int64_t k = 0; k < kn__numel(g->params[i]); k++)
            d[k] = (float)((i * 7 + k * 5) % 11) / 11.0f + (i == 5 ? 0.2f : -0.4f); /* moving variance (p[4]) > 0 */
    }
    int64_t n_in = kn__numel(*x);
    float *xd = (*x)->data;
    for (int64_t k = 0; k < n_in; k++) xd[k] = (float)((k * 13) % 17) / 4.0f - 2.0f;
    kn_graph_refold(g);
    kn_graph_upload(g); /* the parameters to the device (a no-op on the cpu) */
    return g;
}

static void test_fold(fold_kind kind) {
    static const char *const what[] = {"the dense layer", "the convolution (with bias)", "the convolution (no bias)",
                                       "the depthwise convolution (with bias)", "the depthwise convolution (no bias)"};
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 3}, &ctx);
    kn_tensor *x0, *y0, *x1, *y1, *x2, *y2;
    kn_graph *ref = fold_graph(ctx, kind, KN_PASS_NONE, &x0, &y0), *fold = fold_graph(ctx, kind, KN_PASS_FOLD, &x1, &y1),
             *all = fold_graph(ctx, kind, KN_PASS_ALL, &x2, &y2);
    if (ref && fold && all) {
        int computed = 0, bn = 0, computed_all = 0;
        for (int i = 0; i < fold->n_nodes; i++) {
            const kn_tensor *t = fold->nodes[i];
            bn += t->op == KN_OP_BATCH_NORM;
            computed += t->op != KN_OP_INPUT && t->op != KN_OP_PARAM && t->op != KN_OP_CONST && !(t->flags & KN_FLAG_FOLDED);
        }
        for (int i = 0; i < all->n_nodes; i++) {
            const kn_tensor *t = all->nodes[i];
            computed_all += t->op != KN_OP_INPUT && t->op != KN_OP_PARAM && t->op != KN_OP_CONST && !(t->flags & KN_FLAG_FOLDED);
        }
        CHECK(bn == 0 && computed == 2, "fold into %s: %d batch norms left, %d nodes run (expected the product and add)",
              what[kind], bn, computed);
        CHECK(computed_all == 1, "fold into %s with every pass: %d nodes run (expected one fused layer)", what[kind],
              computed_all);
        CHECK(!kn_graph_run(ref) && !kn_graph_run(fold) && !kn_graph_run(all), "fold runs: %s", kn_last_error(ctx));
        double worst = 0;
        const float *a = y0->data, *b = y1->data, *c = y2->data;
        for (int64_t k = 0; k < fold_outputs(kind); k++)
            worst = fmax(worst, fmax(fabs(a[k] - b[k]), fabs(a[k] - c[k])) / (1 + fabs(a[k])));
        printf("batch norm folded into %s before it: %d nodes run (%d with every pass), worst error %.2e\n", what[kind],
               computed, computed_all, worst);
        CHECK(worst < 1e-5, "fold: the folded batch norm computes differently (%.3g)", worst);
    }
    kn_graph_free(ref);
    kn_graph_free(fold);
    kn_graph_free(all);
    kn_ctx_free(ctx);
}

/* ------------------------------------------------------------- the layer in a model */

enum { BATCH = 16 };

/* lt_model's normalizations: batch norms, momentum 0.9 after the dense layer (features),
 * 0.99 after the convolution (channels of an image). */
static void add_norm(kn_model *m, int which, const void *arg) {
    (void)arg;
    kn_model_add_batch_norm(m, which ? 0.99f : 0.9f, 1e-3f);
}

static kn_model *new_model(kn_ctx *ctx) { return lt_model(ctx, add_norm, NULL); }

static const char *const PARAMS[] = {"dense_0/kernel", "dense_0/bias", "batch_normalization_0/gamma",
                                     "batch_normalization_0/beta", "batch_normalization_0/moving_mean",
                                     "batch_normalization_0/moving_variance", "conv2d_0/kernel", "conv2d_0/bias",
                                     "batch_normalization_1/gamma", "batch_normalization_1/beta",
                                     "batch_normalization_1/moving_mean", "batch_normalization_1/moving_variance",
                                     "dense_1/kernel", "dense_1/bias"};
enum { NP = sizeof PARAMS / sizeof *PARAMS };

static size_t params_of(kn_model *m, float *out) { return lt_params(m, PARAMS, NP, out); }

static kn_status add_batch_norm(kn_model *m, float epsilon) { return kn_model_add_batch_norm(m, 0.99f, epsilon); }

static bool stop_at(void *user, int epoch, int64_t batch, double loss) {
    (void)loss, (void)epoch, (void)batch;
    int *count = user; /* {batches seen, the batch to stop after} */
    return ++count[0] < count[1];
}

static void test_model(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 77}, &ctx);
    kn_dataset *ds = lt_dataset(ctx);
    kn_model *m = new_model(ctx);
    /* dense 6*12+12, bn 4*12, conv 2*2*2*4+4, bn 4*4, dense 24*3+3 (Keras counts the moving statistics too) */
    CHECK(kn_model_param_count(m) == 84 + 48 + 36 + 16 + 75, "parameter count %lld", (long long)kn_model_param_count(m));
    int64_t k;
    const float *mm0 = kn_model_param(m, "batch_normalization_0/moving_mean", &k);
    const float *mv0 = kn_model_param(m, "batch_normalization_0/moving_variance", NULL);
    const float *g0 = kn_model_param(m, "batch_normalization_0/gamma", NULL);
    CHECK(mm0 && mv0 && g0 && k == 12 && mm0[0] == 0 && mv0[0] == 1 && g0[0] == 1, "initial batch normalization state");
    const kn_history *h;
    CHECK(!kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 3, .batch_size = BATCH}, &h), "fit: %s", kn_last_error(ctx));
    kn_eval_report ev;
    CHECK(!kn_model_evaluate(m, ds, &ev), "evaluate: %s", kn_last_error(ctx));
    printf("trained with batch normalization: loss %.4f accuracy %.3f\n", ev.loss, ev.accuracy);
    CHECK(ev.accuracy > 0.6, "accuracy %.3f", ev.accuracy);
    /* the moving statistics moved (not by the optimizer: they have no gradient) */
    const float *mm = kn_model_param(m, "batch_normalization_0/moving_mean", NULL);
    const float *mv = kn_model_param(m, "batch_normalization_1/moving_variance", NULL);
    CHECK(mm && mv && mm[0] != 0 && mv[0] != 1, "the moving statistics did not move");
    CHECK(kn_model_grad(m, "batch_normalization_0/moving_mean", NULL) == NULL &&
              kn_model_grad(m, "batch_normalization_0/gamma", NULL) != NULL,
          "gradients: moving statistics none, gamma one");
    /* predicting with the moving statistics; saved and loaded with them. A loaded model's
     * weights are constants: its batch norms fold into the dense layers before them, so its
     * products round differently (the same to float rounding: 1e-5) */
    lt_save_load(ctx, m, PARAMS, NP, 1e-5, "{\"type\":\"batch_normalization\",\"momentum\":0.9,\"epsilon\":0.001}");
    kn_model_free(m);

    /* the same seed: the same run, with 1 thread or 4 */
    static float ref[4096], got[4096];
    kn_ctx *c1, *c4;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 77}, &c1);
    kn_ctx_new(&(kn_ctx_opts){.threads = 4, .seed = 77}, &c4);
    kn_model *m1 = new_model(c1), *m4 = new_model(c4);
    kn_fit_opts fo = {.epochs = 3, .batch_size = BATCH, .validation_split = 0.1};
    CHECK(!kn_model_fit(m1, ds, &fo, NULL) && !kn_model_fit(m4, ds, &fo, NULL), "fit: %s", kn_last_error(c1));
    size_t n = params_of(m1, ref);
    params_of(m4, got);
    CHECK(memcmp(ref, got, n * sizeof(float)) == 0, "1 and 4 threads train differently with batch normalization");
    kn_model_free(m4);

    /* a checkpoint resume is bit-identical, moving statistics included (also accumulating) */
    char dir[] = "/tmp/kiln_bn_XXXXXX", ck[160];
    if (!mkdtemp(dir)) return;
    snprintf(ck, sizeof ck, "%s/checkpoint.kiln", dir);
    kn_status st;
    kn_model *r;
    for (int acc = 1; acc <= 2; acc++) {
        fo.accumulate = acc;
        if (acc > 1) {
            kn_model *ma = new_model(c1);
            CHECK(!kn_model_fit(ma, ds, &fo, NULL), "fit: %s", kn_last_error(c1));
            params_of(ma, ref);
            kn_model_free(ma);
        }
        int count[2] = {0, 24 + acc}; /* mid-epoch 2, after an update */
        kn_model *cm = new_model(ctx);
        kn_fit_opts co = fo;
        co.checkpoint_path = ck;
        co.callback = stop_at;
        co.callback_user = count;
        st = kn_model_fit(cm, ds, &co, NULL);
        CHECK(st == KN_OK || st == KN_ERR_STOPPED, "fit to the checkpoint: %s", kn_last_error(ctx));
        kn_model_free(cm);
        r = NULL;
        CHECK(!kn_model_load(ctx, ck, NULL, &r), "load: %s", kn_last_error(ctx));
        if (r) {
            int epoch = -1;
            int64_t batch = -1;
            kn_model_checkpoint_position(r, &epoch, &batch, NULL);
            kn_fit_opts ro = fo;
            ro.resume = true;
            CHECK(!kn_model_fit(r, ds, &ro, NULL), "resume: %s", kn_last_error(ctx));
            params_of(r, got);
            bool same = memcmp(ref, got, n * sizeof(float)) == 0;
            printf("%s resume from epoch %d batch %lld with batch normalization, accumulate %d\n", same ? "ok  " : "FAIL",
                   epoch, (long long)batch, acc);
            CHECK(same, "a resumed run with batch normalization (accumulate %d) differs from the uninterrupted one", acc);
            kn_model_free(r);
        }
        unlink(ck);
    }
    rmdir(dir);
    kn_model_free(m1);
    kn_ctx_free(c1);
    kn_ctx_free(c4);

    /* momentum outside [0, 1] and epsilon <= 0 are refused, naming the layer */
    kn_model *bad;
    kn_model_new_sequential(ctx, (int64_t[]){LT_FEATURES}, 1, &bad);
    kn_model_add_dense(bad, 4, KN_RELU);
    float moms[] = {1.5f, -0.1f, NAN};
    for (int i = 0; i < 3; i++) {
        st = kn_model_add_batch_norm(bad, moms[i], 1e-3f);
        CHECK(st == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "layers[1] batch_normalization: momentum"),
              "momentum %g: status %d, '%s'", (double)moms[i], (int)st, kn_last_error(ctx));
    }
    kn_model_free(bad);
    lt_bad_epsilon(ctx, add_batch_norm, "batch_normalization");
    lt_bad_layer(ctx, "{\"type\": \"batch_normalization\", \"momentum\": 1.01}", "layers[1].momentum");
    lt_bad_layer(ctx, "{\"type\": \"batch_normalization\", \"momentum\": \"high\"}", "layers[1].momentum");
    lt_bad_layer(ctx, "{\"type\": \"batch_normalization\", \"epsilon\": 0}", "layers[1].epsilon");
    lt_bad_layer(ctx, "{\"type\": \"batch_normalization\", \"epsilon\": -1}", "layers[1].epsilon");
    lt_bad_layer(ctx, "{\"type\": \"batch_normalization\", \"axis\": 1}", "layers[1].axis");
    /* the graph builder refuses them too */
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 3}, 2, "x");
    kn_tensor *p = kn_param(g, (int64_t[]){3}, 1, KN_INIT_ONES, "p");
    CHECK(kn_batch_norm(g, x, NULL, NULL, p, p, 2.0f, 1e-3f) == NULL && strstr(kn_last_error(ctx), "batch_norm: momentum"),
          "kn_batch_norm momentum 2: %s", kn_last_error(ctx));
    kn_graph_free(g);
    kn_dataset_free(ds);
    kn_ctx_free(ctx);
}

int main(void) {
    test_golden();
    test_fold(FOLD_DENSE);
    test_fold(FOLD_CONV_BIAS);
    test_fold(FOLD_CONV);
    test_fold(FOLD_DEPTHWISE_BIAS);
    test_fold(FOLD_DEPTHWISE);
    test_model();
    if (!failures) printf("test_batchnorm: all passed\n");
    return failures ? 1 : 0;
}
