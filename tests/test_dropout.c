/* test_dropout.c — dropout as Keras defines it (inverted): in training a fraction rate of
 * the elements is zeroed and the rest scaled by 1 / (1 - rate); the identity in evaluation
 * and prediction. Masks are a pure function of (seed, step, node, element): the same
 * whatever the thread count or the graph optimizer's passes, the same in two runs of one
 * seed, new at each step, and drawn again after a checkpoint resume. */
#define _GNU_SOURCE
#include "backend/cpu/cpu.h"
#include "core/core.h"
#include "graph/graph.h"
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

enum { BIG = 100000 };

typedef struct {
    kn_ctx *ctx;
    kn_graph *g;
    kn_tensor *p, *y, *y2;
} drop_graph;

/* p (BIG) -> y = dropout(p), y2 = another dropout of p; loss = sum(y^2) + sum(y2^2), an
 * SGD update too small to move p (so runs count steps). */
static bool build(drop_graph *d, int threads, uint64_t seed, float rate, unsigned passes) {
    memset(d, 0, sizeof *d);
    kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = seed}, &d->ctx);
    kn_graph_new(d->ctx, &d->g);
    kn_graph_set_passes(d->g, passes);
    d->p = kn_param(d->g, (int64_t[]){BIG}, 1, KN_INIT_ZEROS, "p");
    d->y = kn_dropout(d->g, d->p, rate);
    d->y2 = kn_dropout(d->g, d->p, rate);
    kn_tensor *loss = kn_add(d->g, kn_sum_squares(d->g, d->y), kn_sum_squares(d->g, d->y2));
    kn_graph_keep(d->g, d->y);
    kn_graph_keep(d->g, d->y2);
    kn_status st = kn_graph_backward(d->g, loss);
    if (!st) st = kn_graph_add_optimizer(d->g, &(kn_optimizer){.kind = KN_OPT_SGD, .learning_rate = 1e-30f}); /* p stays */
    if (!st) st = kn_graph_compile(d->g, 1, true);
    CHECK(!st, "dropout graph: %s", kn_last_error(d->ctx));
    if (st) return false;
    float *p = d->p->data;
    for (int64_t i = 0; i < BIG; i++) p[i] = 0.25f + (float)(i % 13);
    return kn_graph_upload(d->g) == KN_OK; /* p is a parameter: to the device (a no-op on the cpu) */
}

static void drop_free(drop_graph *d) {
    kn_graph_free(d->g);
    kn_ctx_free(d->ctx);
}

/* Gradients whose mask is not the forward's: d loss/dp = 2 y / (1 - rate) where y kept p. */
static int64_t grad_mismatches(const drop_graph *d, float scale) {
    kn_graph_sync(d->g); /* the gradient from the device (a no-op on the cpu) */
    const float *y = d->y->data, *y2 = d->y2->data, *gp = d->p->grad->data;
    int64_t bad = 0;
    for (int64_t i = 0; i < BIG; i++) {
        float want = 2 * y[i] * (y[i] != 0 ? scale : 0) + 2 * y2[i] * (y2[i] != 0 ? scale : 0);
        bad += fabsf(gp[i] - want) > 1e-5f * fabsf(want);
    }
    return bad;
}

static void test_graph(void) {
    const float rate = 0.3f;
    drop_graph a, b, c, one, other;
    if (!build(&a, 4, 11, rate, KN_PASS_ALL)) return;
    const float *p = a.p->data, *y = a.y->data, *y2 = a.y2->data;
    static float first[BIG], mask_step0[BIG];
    /* evaluation: the identity */
    kn__graph_run_phases(a.g, KN_PHASE_FORWARD | KN_PHASE_LOSS);
    CHECK(memcmp(y, p, BIG * sizeof(float)) == 0, "evaluating, dropout is not the identity");
    /* training (forward + loss + backward + update in one run) */
    kn_graph_run(a.g);
    const float scale = 1.0f / (1.0f - rate);
    int64_t zeros = 0, bad = 0, grad_bad = grad_mismatches(&a, 1.0f / (1.0f - rate)), same2 = 0;
    for (int64_t i = 0; i < BIG; i++) {
        if (y[i] == 0) zeros++;
        else if (y[i] != p[i] * scale) bad++;
        same2 += (y[i] == 0) == (y2[i] == 0);
        first[i] = y[i];
        mask_step0[i] = y[i] == 0;
    }
    double frac = (double)zeros / BIG;
    printf("rate %.2f: %.4f of %d elements zeroed\n", (double)rate, frac, BIG);
    CHECK(fabs(frac - rate) < 0.01, "zeroed fraction %.4f, rate %.2f", frac, (double)rate);
    CHECK(bad == 0, "%lld survivors not scaled by 1/(1-rate)", (long long)bad);
    CHECK(grad_bad == 0, "%lld gradients do not use the forward's mask", (long long)grad_bad);
    CHECK(same2 < BIG * 0.7, "two dropouts of one tensor share their mask (%lld of %d agree)", (long long)same2, BIG);
    CHECK(kn_graph_step(a.g) == 1, "step %lld", (long long)kn_graph_step(a.g));
    /* the next step draws a new mask; evaluation stays the identity */
    kn_graph_run(a.g);
    int64_t changed = 0;
    for (int64_t i = 0; i < BIG; i++) changed += (y[i] == 0) != (mask_step0[i] != 0);
    CHECK(changed > BIG / 4, "the mask did not change across steps (%lld changed)", (long long)changed);
    kn__graph_run_phases(a.g, KN_PHASE_FORWARD | KN_PHASE_PREDICT);
    CHECK(memcmp(y, p, BIG * sizeof(float)) == 0, "predicting, dropout is not the identity");
    /* fit's way: forward, then backward in a run of its own, the same mask; within one
     * step, the batches of a gradient accumulation draw masks of their own */
    static float acc0[BIG];
    for (int micro = 0; micro < 2; micro++) {
        a.g->rng_micro_next = micro;
        kn__graph_run_phases(a.g, KN_PHASE_FORWARD | KN_PHASE_LOSS | KN_RUN_TRAINING);
        kn__graph_run_phases(a.g, KN_PHASE_BACKWARD);
        CHECK(grad_mismatches(&a, scale) == 0, "accumulated batch %d: the backward run's mask differs", micro);
        if (!micro) memcpy(acc0, y, sizeof acc0);
    }
    CHECK(kn_graph_step(a.g) == 2 && memcmp(acc0, y, sizeof acc0) != 0, "accumulated batches share a mask");

    /* same seed: one thread or four, every pass or none, the same masks */
    if (build(&b, 1, 11, rate, KN_PASS_ALL)) {
        kn_graph_run(b.g);
        CHECK(memcmp(b.y->data, first, BIG * sizeof(float)) == 0, "1 thread and 4 draw different masks");
        drop_free(&b);
    }
    if (build(&c, 3, 11, rate, KN_PASS_NONE)) {
        kn_graph_run(c.g);
        CHECK(memcmp(c.y->data, first, BIG * sizeof(float)) == 0, "the passes change the mask");
        drop_free(&c);
    }
    if (build(&one, 4, 11, rate, KN_PASS_ALL)) {
        kn_graph_run(one.g);
        CHECK(memcmp(one.y->data, first, BIG * sizeof(float)) == 0, "two runs of one seed differ");
        drop_free(&one);
    }
    if (build(&other, 4, 12, rate, KN_PASS_ALL)) {
        kn_graph_run(other.g);
        CHECK(memcmp(other.y->data, first, BIG * sizeof(float)) != 0, "another seed draws the same mask");
        drop_free(&other);
    }
    drop_free(&a);

    /* rate 0 is the identity even while training; rates outside [0, 1) are refused */
    drop_graph z;
    if (build(&z, 2, 11, 0.0f, KN_PASS_ALL)) {
        kn_graph_run(z.g);
        CHECK(memcmp(z.y->data, z.p->data, BIG * sizeof(float)) == 0, "rate 0 is not the identity");
        drop_free(&z);
    }
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1}, &ctx);
    float bad_rates[] = {1.0f, -0.1f, 1.5f, NAN};
    for (int k = 0; k < 4; k++) {
        kn_graph *g;
        kn_graph_new(ctx, &g);
        kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 4}, 2, "x");
        CHECK(kn_dropout(g, x, bad_rates[k]) == NULL && kn_graph_status(g) == KN_ERR_INVALID_ARGUMENT &&
                  strstr(kn_last_error(ctx), "dropout: rate"),
              "kn_dropout rate %g: %s", (double)bad_rates[k], kn_last_error(ctx));
        kn_graph_free(g);
    }
    kn_ctx_free(ctx);
}

/* ------------------------------------------------------------- the layer in a model */

enum { N = 330, F = 6, C = 3, BATCH = 16 };
static float X[N * F];
static int32_t Y[N];
static const char *PARAMS[] = {"dense_0/kernel", "dense_0/bias", "dense_1/kernel", "dense_1/bias"};

static kn_model *new_model(kn_ctx *ctx, bool dropout) {
    kn_model *m;
    kn_model_new_sequential(ctx, (int64_t[]){F}, 1, &m);
    if (dropout) kn_model_add_dropout(m, 0.2f);
    kn_model_add_dense(m, 32, KN_RELU);
    if (dropout) kn_model_add_dropout(m, 0.5f);
    kn_model_add_dense(m, C, KN_SOFTMAX);
    kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_adam(5e-3f)});
    return m;
}

static size_t params_of(kn_model *m, float *out) {
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        int64_t k;
        const float *w = kn_model_param(m, PARAMS[i], &k);
        if (!w) return 0;
        memcpy(out + n, w, (size_t)k * sizeof(float));
        n += (size_t)k;
    }
    return n;
}

static bool stop_at(void *user, int epoch, int64_t batch, double loss) {
    (void)loss;
    int *count = user; /* {batches seen, the batch to stop after} */
    (void)epoch, (void)batch;
    return ++count[0] < count[1];
}

static void test_model(void) {
    for (int i = 0; i < N; i++) {
        Y[i] = i % C;
        for (int j = 0; j < F; j++) X[i * F + j] = (float)((i * 31 + j * 7) % 19) / 19.0f + (j == Y[i] ? 0.8f : 0.0f);
    }
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 77}, &ctx);
    kn_dataset *ds;
    kn_dataset_from_arrays(ctx, X, Y, N, F, C, &ds);

    /* trained with dropout, it predicts and evaluates exactly as the same weights without */
    kn_model *m = new_model(ctx, true), *plain = new_model(ctx, false);
    const kn_history *h;
    CHECK(!kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 2, .batch_size = BATCH}, &h), "fit: %s", kn_last_error(ctx));
    float w[512];
    size_t n = params_of(m, w), off = 0;
    CHECK(n > 0, "parameters");
    for (int i = 0; i < 4; i++) {
        int64_t k;
        float *dst = kn_model_param(plain, PARAMS[i], &k);
        memcpy(dst, w + off, (size_t)k * sizeof(float));
        off += (size_t)k;
    }
    static float pa[N * C], pb[N * C];
    CHECK(!kn_model_predict(m, X, N, pa) && !kn_model_predict(plain, X, N, pb), "predict: %s", kn_last_error(ctx));
    CHECK(memcmp(pa, pb, sizeof pa) == 0, "with dropout the model predicts differently");
    kn_eval_report ea, eb;
    CHECK(!kn_model_evaluate(m, ds, &ea) && !kn_model_evaluate(plain, ds, &eb), "evaluate: %s", kn_last_error(ctx));
    CHECK(ea.loss == eb.loss && ea.accuracy == eb.accuracy, "evaluate: %.9g vs %.9g", ea.loss, eb.loss);
    /* the description names the layer and its rate (read back by kn_model_load) */
    char *json = NULL;
    CHECK(!kn_model_to_json(m, &json) && json && strstr(json, "{\"type\":\"dropout\",\"rate\":0.5}"),
          "description: %s", json ? json : kn_last_error(ctx));
    kn_free(ctx, json);
    kn_model_free(plain);
    kn_model_free(m);

    /* the same seed: the same run, with 1 thread or 4 */
    float ref[512], got[512];
    kn_ctx *c1, *c4;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 77}, &c1);
    kn_ctx_new(&(kn_ctx_opts){.threads = 4, .seed = 77}, &c4);
    kn_model *m1 = new_model(c1, true), *m4 = new_model(c4, true);
    kn_fit_opts fo = {.epochs = 3, .batch_size = BATCH, .validation_split = 0.1};
    CHECK(!kn_model_fit(m1, ds, &fo, NULL) && !kn_model_fit(m4, ds, &fo, NULL), "fit: %s", kn_last_error(c1));
    n = params_of(m1, ref);
    params_of(m4, got);
    CHECK(memcmp(ref, got, n * sizeof(float)) == 0, "1 and 4 threads train differently with dropout");
    kn_model_free(m4);

    /* a checkpoint resume is bit-identical: stop after 25 batches, load, resume (also with
     * gradient accumulation, whose batches draw masks by their place in it) */
    char dir[] = "/tmp/kiln_drop_XXXXXX", ck[128];
    if (!mkdtemp(dir)) return;
    snprintf(ck, sizeof ck, "%s/checkpoint.kiln", dir);
    kn_status st;
    for (int acc = 1; acc <= 2; acc++) {
        fo.accumulate = acc;
        if (acc > 1) {
            kn_model *ma = new_model(c1, true);
            CHECK(!kn_model_fit(ma, ds, &fo, NULL), "fit: %s", kn_last_error(c1));
            params_of(ma, ref);
            kn_model_free(ma);
        }
        int count[2] = {0, 24 + acc}; /* mid-epoch 2, after an update */
        kn_model *cm = new_model(ctx, true);
        kn_fit_opts co = fo;
        co.checkpoint_path = ck;
        co.callback = stop_at;
        co.callback_user = count;
        st = kn_model_fit(cm, ds, &co, NULL);
        CHECK(st == KN_OK || st == KN_ERR_STOPPED, "fit to the checkpoint: %s", kn_last_error(ctx));
        kn_model_free(cm);
        kn_model *r = NULL;
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
            printf("%s resume from epoch %d batch %lld with dropout, accumulate %d\n", same ? "ok  " : "FAIL", epoch,
                   (long long)batch, acc);
            CHECK(same, "a resumed run with dropout (accumulate %d) differs from the uninterrupted one", acc);
            kn_model_free(r);
        }
        unlink(ck);
    }
    rmdir(dir);
    kn_model_free(m1);
    kn_ctx_free(c1);
    kn_ctx_free(c4);

    /* rates outside [0, 1) are refused, naming the layer */
    kn_model *bad;
    kn_model_new_sequential(ctx, (int64_t[]){F}, 1, &bad);
    kn_model_add_dense(bad, 4, KN_RELU);
    float rates[] = {1.0f, -0.25f, NAN};
    for (int k = 0; k < 3; k++) {
        st = kn_model_add_dropout(bad, rates[k]);
        CHECK(st == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "layers[1] dropout: rate"),
              "rate %g: status %d, '%s'", (double)rates[k], (int)st, kn_last_error(ctx));
    }
    kn_model_free(bad);
    kn_spec spec;
    kn_model *jm = NULL;
    st = kn_model_from_json(ctx, "{\"input_shape\": [6], \"layers\": [{\"type\": \"dense\", \"units\": 4}, "
                                 "{\"type\": \"dropout\", \"rate\": -0.5}, {\"type\": \"dense\", \"units\": 3}]}",
                            NULL, &jm, &spec);
    CHECK(st != KN_OK && strstr(kn_last_error(ctx), "layers[1].rate"), "JSON rate -0.5: '%s'", kn_last_error(ctx));
    kn_model_free(jm);
    kn_dataset_free(ds);
    kn_ctx_free(ctx);
}

/* In place (a linear dense layer's output is read by the dropout alone): training with every
 * pass matches training with none, to fusion's rounding (test_optimized_equal's 1e-4). */
static void test_inplace(void) {
    float got[2][512];
    size_t n = 0;
    int aliased = 0;
    for (int k = 0; k < 2; k++) {
        kn_ctx *ctx;
        kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 5}, &ctx);
        kn_dataset *ds;
        kn_dataset_from_arrays(ctx, X, Y, N, F, C, &ds);
        kn_model *m;
        kn_model_new_sequential(ctx, (int64_t[]){F}, 1, &m);
        kn_model_add_dense(m, 32, KN_LINEAR);
        kn_model_add_dropout(m, 0.5f);
        kn_model_add_activation(m, KN_TANH);
        kn_model_add_dense(m, C, KN_SOFTMAX);
        kn_model_set_passes(m, k ? KN_PASS_NONE : KN_PASS_ALL);
        kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_sgd(0.05f)});
        CHECK(!kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 1, .batch_size = BATCH}, NULL), "fit: %s", kn_last_error(ctx));
        n = params_of(m, got[k]);
        for (int i = 0; !k && m->graph && i < m->graph->n_nodes; i++)
            aliased += m->graph->nodes[i]->op == KN_OP_DROPOUT && m->graph->nodes[i]->alias != NULL;
        kn_model_free(m);
        kn_dataset_free(ds);
        kn_ctx_free(ctx);
    }
    CHECK(aliased > 0, "no dropout ran in place");
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[0][i] - got[1][i]) / (fabs((double)got[1][i]) + 1e-2);
        if (e > worst) worst = e;
    }
    printf("in place (%d dropouts): every pass vs none, worst relative difference %.2e\n", aliased, worst);
    CHECK(n > 0 && worst < 1e-4, "in-place dropout trains differently: %.3g", worst);
}

/* The mask is the pure function itself: element i of a node kept iff bits 16 (i % 4) ..
 * 16 (i % 4) + 15 of kn__rng_draw(key, i / 4) reach the threshold, and then y = x * scale
 * exactly, on any split of the elements (lengths that are no multiple of the 32 elements
 * the AVX-512 path takes at once, ranges of 3 threads). ctest runs this file again with
 * KILN_DROPOUT_ISA=avx2 and =scalar, the other two paths. */
static void test_pure_function(void) {
    const int64_t sizes[2] = {4099, 100003};
    const int threads[2] = {1, 3};
    for (int k = 0; k < 2; k++) {
        kn_ctx *ctx;
        kn_graph *g;
        const int64_t n = sizes[k];
        kn_ctx_new(&(kn_ctx_opts){.threads = threads[k], .seed = 21}, &ctx);
        kn_graph_new(ctx, &g);
        kn_tensor *p = kn_param(g, (int64_t[]){n}, 1, KN_INIT_ZEROS, "p");
        kn_tensor *y = kn_dropout(g, p, 0.3f);
        kn_graph_keep(g, y);
        kn_status st = kn_graph_backward(g, kn_sum_squares(g, y));
        if (!st) st = kn_graph_compile(g, 1, true);
        CHECK(!st, "pure-function graph: %s", kn_last_error(ctx));
        if (!st) {
            float *pv = p->data;
            for (int64_t i = 0; i < n; i++) pv[i] = 0.5f + (float)(i % 7);
            st = kn_graph_upload(g); /* (to the device or mirror backend; a no-op on the cpu) */
            if (!st) st = kn_graph_run(g);
            if (!st) st = kn_graph_sync(g);
            uint32_t thr;
            float scale;
            uint64_t key = kn__cpu_dropout_key(g, (uint32_t)y->iparam[0], 0.3f, &thr, &scale);
            const float *yv = y->data;
            int64_t bad = 0;
            for (int64_t i = 0; !st && i < n; i++) {
                uint32_t d16 = (uint32_t)(kn__rng_draw(key, (uint64_t)i >> 2) >> (16 * (i & 3))) & 0xffffu;
                float want = d16 >= thr ? pv[i] * scale : 0.0f;
                bad += memcmp(&yv[i], &want, sizeof want) != 0;
            }
            CHECK(!st && bad == 0, "%lld elements on %d threads: %lld differ from the pure function", (long long)n,
                  threads[k], (long long)bad);
        }
        kn_graph_free(g);
        kn_ctx_free(ctx);
    }
}

int main(void) {
    test_pure_function();
    test_graph();
    test_model();
    test_inplace();
    if (!failures) printf("test_dropout: all passed\n");
    return failures != 0;
}
