/* test_loss_scale.c — fp16's dynamic loss scaling (train/loss_scale.c, train/fit.c) and the
 * optimizer's gradient unscaling (backend/cpu/optimizer.c). Overflows are planted by the
 * test hook at "fit:backward" (an Inf or NaN written into the gradient buffer after the
 * backward pass), so nothing here depends on half-precision storage: (a) the scaler skips
 * exactly the overflowing updates (parameters, Adam's moments and step untouched), halves
 * then doubles the scale on schedule, keeps it fixed across accumulated batches, and stops
 * at the smallest scale; (b) a run resumed from a mid-run checkpoint ends bit-identical to an
 * uninterrupted one; (c) unscaling inside the update (clip by norm included) is exact; (d)
 * bad options are refused with one-line messages, and the description round-trips. */
#define _GNU_SOURCE
#include <kiln.h>

#include "check.h"
#include "graph/graph.h"
#include "nn/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N = 96, F = 4, C = 3, BATCH = 16, STEPS = N / BATCH, MAXP = 256 };
static float X[N * F];
static int32_t Y[N];

/* The hook's plan: overflows at chosen backward passes (1-based, counted over the hook's
 * life), and what it saw. */
static struct {
    kn_model *m;
    int calls;
    int at[8], n_at;
    float nan_at;           /* a call that plants a NaN instead of an Inf */
    float scale_seen[64];   /* g->loss_scale at each backward pass */
    float mult;             /* (c): multiply the gradient by this and unscale in the update */
} plan;

static void hook(void *user, const char *point) {
    (void)user;
    if (!plan.m || strcmp(point, "fit:backward") != 0) return;
    kn_graph *g = plan.m->graph;
    int call = ++plan.calls;
    if (call <= 64) plan.scale_seen[call - 1] = g->loss_scale;
    for (int i = 0; i < plan.n_at; i++)
        if (plan.at[i] == call) g->grad_buf[call % 7] = (float)call == plan.nan_at ? NAN : INFINITY;
    if (plan.mult > 0) {
        for (size_t i = 0; i < g->param_floats; i++) g->grad_buf[i] *= plan.mult;
        g->grad_unscale = 1.0f / plan.mult;
    }
}

static void set_plan(kn_model *m, int calls, const int *at, int n_at) {
    memset(&plan, 0, sizeof plan);
    plan.m = m;
    plan.calls = calls;
    for (int i = 0; i < n_at; i++) plan.at[i] = at[i];
    plan.n_at = n_at;
}

static kn_model *new_model(kn_ctx *ctx, kn_precision p, float initial, int growth, kn_optimizer opt) {
    kn_model *m;
    kn_model_new_sequential(ctx, (int64_t[]){F}, 1, &m);
    kn_model_add_dense(m, 8, KN_RELU);
    kn_model_add_dense(m, C, KN_SOFTMAX);
    kn_status st = kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = opt,
                                                          .precision = p, .loss_scale_initial = initial,
                                                          .loss_scale_growth_interval = growth});
    CHECK(st == KN_OK, "compile: %s", kn_last_error(ctx));
    return m;
}

/* Per update (the fit callback, after it): the parameters and Adam's moments, to see
 * which steps changed them. */
static struct {
    kn_model *m;
    int n;
    float params[32][MAXP], state[32][2 * MAXP];
    int cut_at;             /* (b): stop the run after this many steps (0: never) */
} trace;

static bool on_step(void *user, int epoch, int64_t batch, double loss) {
    (void)user, (void)epoch, (void)loss;
    if (batch < 0) return true; /* the epoch's end */
    kn_graph *g = trace.m->graph;
    kn_graph_sync(g); /* a device graph's buffers (the mirror's: KILN_TEST_MIRROR) */
    if (trace.n < 32 && g->param_floats <= MAXP) {
        memcpy(trace.params[trace.n], g->param_buf, g->param_floats * sizeof(float));
        memcpy(trace.state[trace.n], g->state_buf, g->state_floats * sizeof(float));
    }
    trace.n++;
    return !(trace.cut_at && trace.n == trace.cut_at);
}

static size_t params_of(kn_model *m, float *out) {
    memcpy(out, m->graph->param_buf, m->graph->param_floats * sizeof(float));
    return m->graph->param_floats;
}

/* (a) one epoch of 6 updates, growth interval 3, overflows at steps 2 (Inf), 3 (NaN), 6:
 *   step 1 2048 ok | 2 2048 skip -> 1024 | 3 1024 skip -> 512 | 4 512 ok | 5 512 ok
 *   | 6 512 skip -> 256 ; then a second epoch of 6 clean steps: 256 x3, doubled to 512 x3,
 *   doubled again to 1024 at the end. */
static void test_schedule(kn_ctx *ctx, kn_dataset *ds) {
    kn_model *m = new_model(ctx, KN_PRECISION_FP16, 2048, 3, kn_adam(1e-2f));
    set_plan(m, 0, (int[]){2, 3, 6}, 3);
    plan.nan_at = 3;
    memset(&trace, 0, sizeof trace);
    trace.m = m;
    const kn_history *h = NULL;
    kn_status st = kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 2, .batch_size = BATCH, .callback = on_step}, &h);
    CHECK(st == KN_OK, "fp16 fit: %s", kn_last_error(ctx));
    if (st) return;
    const float want[12] = {2048, 2048, 1024, 512, 512, 512, 256, 256, 256, 512, 512, 512};
    for (int i = 0; i < 12; i++) CHECK(plan.scale_seen[i] == want[i], "step %d ran at scale %g, not %g", i + 1,
                                       (double)plan.scale_seen[i], (double)want[i]);
    CHECK(h->n_epochs == 2 && h->epochs[0].skipped_steps == 3 && h->epochs[1].skipped_steps == 0,
          "skipped per epoch: %lld, %lld (want 3, 0)", (long long)h->epochs[0].skipped_steps,
          (long long)h->epochs[1].skipped_steps);
    CHECK(h->epochs[0].loss_scale == 256 && h->epochs[1].loss_scale == 1024, "scale at the epochs' ends: %g, %g (want 256, 1024)",
          h->epochs[0].loss_scale, h->epochs[1].loss_scale);
    CHECK(h->skipped_steps == 3, "history.skipped_steps %lld (want 3)", (long long)h->skipped_steps);
    /* Adam's step counter (the graph's, which sets its bias correction) counts updates only */
    CHECK(h->steps == 9 && m->graph->step == 9, "optimizer steps %lld (want 12 - 3 skipped)", (long long)h->steps);
    size_t P = m->graph->param_floats, S = m->graph->state_floats;
    CHECK(trace.n == 12 && P <= MAXP && S <= 2 * MAXP, "traced %d steps", trace.n);
    for (int i = 1; i < 12 && trace.n == 12; i++) {
        bool skipped = i == 1 || i == 2 || i == 5;
        bool same_p = memcmp(trace.params[i], trace.params[i - 1], P * sizeof(float)) == 0;
        bool same_s = memcmp(trace.state[i], trace.state[i - 1], S * sizeof(float)) == 0;
        CHECK(same_p == skipped && same_s == skipped, "step %d: parameters %s, Adam's moments %s (skipped: %d)", i + 1,
              same_p ? "unchanged" : "changed", same_s ? "unchanged" : "changed", skipped);
    }
    /* a second fit continues the scaler where the first left it (as Keras's optimizer) */
    set_plan(m, 0, NULL, 0);
    trace.m = NULL;
    st = kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 1, .batch_size = BATCH}, &h);
    CHECK(st == KN_OK && plan.scale_seen[0] == 1024, "the next fit starts at %g (want 1024)", (double)plan.scale_seen[0]);
    kn_model_free(m);
    plan.m = NULL;

    /* fp32 and bf16: no scaling (scale 1 throughout), and a non-finite gradient is an error */
    for (int p = 0; p < 2; p++) {
        kn_precision prec = p ? KN_PRECISION_BF16 : KN_PRECISION_FP32;
        m = new_model(ctx, prec, 0, 0, kn_adam(1e-2f));
        set_plan(m, 0, (int[]){4}, 1);
        st = kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 1, .batch_size = BATCH, .verbose = 0}, &h);
        CHECK(st == KN_ERR_NUMERIC && strstr(kn_last_error(ctx), "a gradient became non-finite at epoch 1, step 4"),
              "%s: an Inf gradient gave %d: %s", kn_precision_name(prec), (int)st, kn_last_error(ctx));
        CHECK(plan.scale_seen[0] == 1 && plan.scale_seen[2] == 1, "%s ran at scale %g", kn_precision_name(prec),
              (double)plan.scale_seen[0]);
        kn_model_free(m);
    }
    plan.m = NULL;
}

/* Accumulation: the scale holds across a group's batches; one overflowing batch skips the
 * group's update. 6 batches, 2 a group: groups (1,2) (3,4) (5,6), an Inf in batch 3. */
static void test_accumulate(kn_ctx *ctx, kn_dataset *ds) {
    kn_model *m = new_model(ctx, KN_PRECISION_FP16, 1024, 1, kn_sgd(0.05f));
    set_plan(m, 0, (int[]){3}, 1);
    const kn_history *h = NULL;
    kn_status st = kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 1, .batch_size = BATCH, .accumulate = 2}, &h);
    CHECK(st == KN_OK, "accumulate: %s", kn_last_error(ctx));
    /* interval 1: every clean update doubles the scale */
    const float want[6] = {1024, 1024, 2048, 2048, 1024, 1024};
    for (int i = 0; i < 6; i++) CHECK(plan.scale_seen[i] == want[i], "accumulate: batch %d at scale %g, not %g", i + 1,
                                      (double)plan.scale_seen[i], (double)want[i]);
    CHECK(st || (h->steps == 2 && h->skipped_steps == 1 && h->epochs[0].loss_scale == 2048),
          "accumulate: %lld updates, %lld skipped, scale %g (want 2, 1, 2048)", (long long)h->steps,
          (long long)h->skipped_steps, h->epochs[0].loss_scale);
    kn_model_free(m);
    plan.m = NULL;
}

/* The smallest scale: an overflow at scale 1 stops the run with a message naming the step. */
static void test_floor(kn_ctx *ctx, kn_dataset *ds) {
    kn_model *m = new_model(ctx, KN_PRECISION_FP16, 2, 0, kn_adam(1e-2f));
    set_plan(m, 0, (int[]){1, 2}, 2); /* 2 -> 1, then an overflow at 1 */
    float before[MAXP], after[MAXP];
    kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 1, .batch_size = BATCH, .validation_split = 0.5}, NULL); /* builds the graph */
    m->loss_scale = 0; /* the scaler afresh, at 2 */
    set_plan(m, 0, (int[]){1, 2}, 2);
    size_t n = params_of(m, before);
    kn_status st = kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 1, .batch_size = BATCH}, NULL);
    params_of(m, after);
    CHECK(st == KN_ERR_NUMERIC && strstr(kn_last_error(ctx), "smallest loss scale") &&
              strstr(kn_last_error(ctx), "epoch 1, step 2") && !strchr(kn_last_error(ctx), '\n'),
          "an overflow at scale 1 gave %d: %s", (int)st, kn_last_error(ctx));
    CHECK(memcmp(before, after, n * sizeof(float)) == 0, "floor: the parameters changed");
    kn_model_free(m);
    plan.m = NULL;
}

/* (b) a checkpoint taken mid-run (the callback stops the run after `cut` steps) resumes to
 * the same bits as the uninterrupted run: parameters, per-epoch skipped steps and scales. */
static void test_resume(kn_ctx *ctx, kn_dataset *ds, const char *ck) {
    const int at[] = {2, 3, 9, 14};
    const int EPOCHS = 3; /* 18 steps */
    kn_fit_opts fo = {.epochs = EPOCHS, .batch_size = BATCH, .verbose = 0, .validation_split = 0};
    kn_model *m = new_model(ctx, KN_PRECISION_FP16, 4096, 3, kn_adam(1e-2f));
    set_plan(m, 0, at, 4);
    const kn_history *h = NULL;
    kn_status st = kn_model_fit(m, ds, &fo, &h);
    CHECK(st == KN_OK, "reference run: %s", kn_last_error(ctx));
    float ref[MAXP], got[MAXP];
    size_t n = params_of(m, ref);
    kn_epoch_record ref_rec[3];
    memcpy(ref_rec, h->epochs, sizeof ref_rec);
    int64_t ref_steps = h->steps, ref_skipped = h->skipped_steps;
    kn_model_free(m);
    CHECK(ref_skipped == 4 && ref_steps == 14, "reference: %lld skipped, %lld steps", (long long)ref_skipped,
          (long long)ref_steps);

    const int cuts[] = {3, 4, 7, 10, 15}; /* right after a skip, mid-growth, an epoch's first step, ... */
    for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
        unlink(ck);
        m = new_model(ctx, KN_PRECISION_FP16, 4096, 3, kn_adam(1e-2f));
        set_plan(m, 0, at, 4);
        memset(&trace, 0, sizeof trace);
        trace.m = m;
        trace.cut_at = cuts[c];
        kn_fit_opts cut = fo;
        cut.callback = on_step;
        cut.checkpoint_path = ck;
        st = kn_model_fit(m, ds, &cut, NULL);
        kn_model_free(m);
        kn_model *r = NULL;
        if (kn_model_load(ctx, ck, NULL, &r) != KN_OK) {
            CHECK(0, "cut %d: the checkpoint does not load: %s", cuts[c], kn_last_error(ctx));
            continue;
        }
        CHECK(kn_model_precision(r) == KN_PRECISION_FP16, "cut %d: the checkpoint's model is %s", cuts[c],
              kn_precision_name(kn_model_precision(r)));
        set_plan(r, cuts[c], at, 4); /* the backward passes already run */
        kn_fit_opts res = fo;
        res.resume = true;
        st = kn_model_fit(r, ds, &res, &h);
        CHECK(st == KN_OK, "cut %d: resume: %s", cuts[c], kn_last_error(ctx));
        if (st) { kn_model_free(r); continue; }
        params_of(r, got);
        CHECK(memcmp(ref, got, n * sizeof(float)) == 0, "cut %d: the resumed parameters differ", cuts[c]);
        CHECK(h->steps == ref_steps && h->skipped_steps == ref_skipped, "cut %d: %lld steps, %lld skipped (want %lld, %lld)",
              cuts[c], (long long)h->steps, (long long)h->skipped_steps, (long long)ref_steps, (long long)ref_skipped);
        for (int e = 0; e < EPOCHS && h->n_epochs == EPOCHS; e++)
            CHECK(h->epochs[e].skipped_steps == ref_rec[e].skipped_steps && h->epochs[e].loss_scale == ref_rec[e].loss_scale &&
                      h->epochs[e].loss == ref_rec[e].loss,
                  "cut %d: epoch %d: skipped %lld, scale %g, loss %.9g (want %lld, %g, %.9g)", cuts[c], e + 1,
                  (long long)h->epochs[e].skipped_steps, h->epochs[e].loss_scale, h->epochs[e].loss,
                  (long long)ref_rec[e].skipped_steps, ref_rec[e].loss_scale, ref_rec[e].loss);
        kn_model_free(r);
    }
    plan.m = NULL;
}

/* (c) unscaling in the update: gradients multiplied by 8 and g->grad_unscale 1/8 give the
 * bits of the plain run (powers of two are exact), for SGD and Adam, with and without clip
 * by global norm (whose norm must be the unscaled one), fused or not. */
static void test_unscale(kn_ctx *ctx, kn_dataset *ds) {
    for (int k = 0; k < 8; k++) {
        kn_optimizer opt = k & 1 ? kn_adam(1e-2f) : kn_sgd(0.1f);
        if (k & 2) opt.clip_norm = 0.05f; /* small enough that every step clips */
        unsigned passes = k & 4 ? 0 : KN_PASS_ALL;
        float a[MAXP], b[MAXP];
        size_t n = 0;
        for (int run = 0; run < 2; run++) {
            kn_model *m = new_model(ctx, KN_PRECISION_FP32, 0, 0, opt);
            kn_model_set_passes(m, passes);
            set_plan(m, 0, NULL, 0);
            plan.mult = run ? 8.0f : 0.0f;
            kn_status st = kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 1, .batch_size = BATCH, .verbose = 0}, NULL);
            CHECK(st == KN_OK, "unscale: %s", kn_last_error(ctx));
            n = params_of(m, run ? b : a);
            kn_model_free(m);
        }
        CHECK(memcmp(a, b, n * sizeof(float)) == 0, "unscale: %s%s%s: scaled and unscaled runs differ", k & 1 ? "adam" : "sgd",
              k & 2 ? ", clipnorm" : "", k & 4 ? ", no passes" : "");
    }
    plan.m = NULL;
}

/* (d) bad options, and the description's "precision" and "loss_scale" */
static void test_options(kn_ctx *ctx) {
    kn_model *m;
    kn_model_new_sequential(ctx, (int64_t[]){F}, 1, &m);
    kn_model_add_dense(m, C, KN_SOFTMAX);
    struct { kn_compile_opts o; const char *msg; } bad[] = {
        {{.precision = (kn_precision)7}, "unknown precision 7"},
        {{.precision = KN_PRECISION_FP16, .loss_scale_initial = -1}, "loss_scale_initial -1"},
        {{.precision = KN_PRECISION_FP16, .loss_scale_initial = NAN}, "loss_scale_initial nan"},
        {{.precision = KN_PRECISION_FP16, .loss_scale_initial = INFINITY}, "loss_scale_initial inf"},
        {{.precision = KN_PRECISION_FP16, .loss_scale_initial = 1000}, "power of two"},
        {{.precision = KN_PRECISION_FP16, .loss_scale_initial = 0.5f}, "power of two"},
        {{.precision = KN_PRECISION_FP16, .loss_scale_initial = 33554432.0f}, "from 1 to 16777216"},
        {{.precision = KN_PRECISION_FP16, .loss_scale_growth_interval = -3}, "loss_scale_growth_interval -3"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        bad[i].o.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
        bad[i].o.optimizer = kn_adam(1e-3f);
        kn_status st = kn_model_compile(m, &bad[i].o);
        const char *e = kn_last_error(ctx);
        CHECK(st == KN_ERR_INVALID_ARGUMENT && strstr(e, bad[i].msg) && !strchr(e, '\n'), "bad option %zu: %d: %s", i,
              (int)st, e);
    }
    kn_compile_opts good = {.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_adam(1e-3f),
                            .precision = KN_PRECISION_FP16, .loss_scale_initial = 1, .loss_scale_growth_interval = 5};
    CHECK(kn_model_compile(m, &good) == KN_OK && kn_model_precision(m) == KN_PRECISION_FP16, "fp16, scale 1: %s",
          kn_last_error(ctx));
    /* the description writes back what it read */
    char *json = NULL;
    CHECK(kn_model_to_json(m, &json) == KN_OK && strstr(json, "\"precision\":\"fp16\"") &&
              strstr(json, "\"loss_scale\":{\"initial_scale\":1,\"dynamic_growth_steps\":5}"),
          "written description: %s", json ? json : "(none)");
    kn_model *back = NULL;
    kn_spec spec;
    CHECK(json && kn_model_from_json(ctx, json, NULL, &back, &spec) == KN_OK && spec.compile.precision == KN_PRECISION_FP16 &&
              spec.compile.loss_scale_initial == 1 && spec.compile.loss_scale_growth_interval == 5,
          "the description does not round-trip: %s", kn_last_error(ctx));
    kn_model_free(back);
    free(json);
    kn_model_free(m);
    const char *base = "{\"input_shape\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 3}], ";
    struct { const char *tail; const char *msg; } specs[] = {
        {"\"precision\": \"fp8\"}", "precision: expected \"fp32\", \"bf16\" or \"fp16\""},
        {"\"precision\": 16}", "precision: expected"},
        {"\"loss_scale\": {\"initial_scale\": 1024}}", "applies to \"precision\": \"fp16\" only"},
        {"\"precision\": \"fp16\", \"loss_scale\": {\"initial\": 1024}}", "unknown key 'initial'"},
        {"\"precision\": \"fp16\", \"loss_scale\": {\"initial_scale\": 1000}}", "not a power of two"},
        {"\"precision\": \"fp16\", \"loss_scale\": {\"initial_scale\": -2}}", "loss_scale.initial_scale"},
        {"\"precision\": \"fp16\", \"loss_scale\": {\"dynamic_growth_steps\": 0}}", "loss_scale.dynamic_growth_steps"},
        {"\"precision\": \"fp16\", \"loss_scale\": 7}", "expected an object"},
    };
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        char text[512];
        snprintf(text, sizeof text, "%s%s", base, specs[i].tail);
        kn_model *sm = NULL;
        kn_status st = kn_model_from_json(ctx, text, NULL, &sm, &spec);
        CHECK(st == KN_ERR_SPEC && strstr(kn_last_error(ctx), specs[i].msg), "spec %zu: %d: %s", i, (int)st,
              kn_last_error(ctx));
        kn_model_free(sm);
    }
    char text[512];
    snprintf(text, sizeof text, "%s\"precision\": \"bf16\"}", base);
    kn_model *sm = NULL;
    CHECK(kn_model_from_json(ctx, text, NULL, &sm, &spec) == KN_OK && spec.compile.precision == KN_PRECISION_BF16,
          "bf16 description: %s", kn_last_error(ctx));
    kn_model_free(sm);
}

int main(void) {
    for (int i = 0; i < N; i++) {
        Y[i] = i % C;
        for (int j = 0; j < F; j++) X[i * F + j] = (float)((i * 31 + j * 7) % 19) / 19.0f + (j == Y[i] ? 0.8f : 0.0f);
    }
    char dir[] = "/tmp/kiln_lscale_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char ck[128];
    snprintf(ck, sizeof ck, "%s/checkpoint.kiln", dir);
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 5, .test_hook = hook}, &ctx);
    kn_dataset *ds;
    kn_dataset_from_arrays(ctx, X, Y, N, F, C, &ds);

    test_schedule(ctx, ds);
    test_accumulate(ctx, ds);
    test_floor(ctx, ds);
    test_resume(ctx, ds, ck);
    test_unscale(ctx, ds);
    test_options(ctx);

    unlink(ck);
    rmdir(dir);
    kn_dataset_free(ds);
    kn_ctx_free(ctx);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
