/* test_control.c — training control: early stopping and reduce-on-plateau on scripted
 * sequences of metrics (Keras's EarlyStopping / ReduceLROnPlateau semantics, worked out by
 * hand below), then through kn_model_fit (the epoch it stops at, the weights it restores,
 * the best model it saves, the learning rate a schedule gives each epoch), and the JSON
 * description's "schedule" and "callbacks". */
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#include "train/control.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

static kn_epoch_record epoch_with(int epoch, double val_loss) {
    return (kn_epoch_record){.epoch = epoch, .loss = NAN, .accuracy = NAN, .val_loss = val_loss, .val_accuracy = NAN};
}

/* Keras: wait resets on improvement (by more than min_delta), else grows; stop at patience. */
static void scripted_early_stopping(kn_ctx *ctx) {
    const double seq[] = {1.0, 0.9, 0.95, 0.93, 0.96, 0.97, 0.5};
    kn__monitor mon;
    CHECK(kn__monitor_init(ctx, &mon, NULL, KN_MODE_AUTO, 0, true, "test") == KN_OK, "init");
    CHECK(strcmp(kn__monitor_name(&mon), "val_loss") == 0 && !mon.maximize, "default monitor");
    int stop_at = 0;
    for (int e = 0; e < 7 && !stop_at; e++) {
        kn_epoch_record r = epoch_with(e + 1, seq[e]);
        kn__monitor_update(&mon, &r);
        if (mon.wait >= 3) stop_at = e + 1;
    }
    CHECK(stop_at == 5 && mon.best_epoch == 2 && mon.best == 0.9, "patience 3: stop at %d (want 5), best epoch %d (2)",
          stop_at, mon.best_epoch);
    /* min_delta 0.15: 0.9 is not enough better than 1.0 */
    kn__monitor_init(ctx, &mon, "val_loss", KN_MODE_MIN, 0.15, true, "test");
    kn_epoch_record r1 = epoch_with(1, 1.0), r2 = epoch_with(2, 0.9), r3 = epoch_with(3, 0.8);
    CHECK(kn__monitor_update(&mon, &r1) && !kn__monitor_update(&mon, &r2) && kn__monitor_update(&mon, &r3),
          "min_delta 0.15");
    /* NaN never improves; max mode; accuracy defaults to max */
    kn_epoch_record rn = epoch_with(4, NAN);
    CHECK(!kn__monitor_update(&mon, &rn) && mon.wait == 1, "NaN");
    kn__monitor_init(ctx, &mon, "val_accuracy", KN_MODE_AUTO, 0, true, "test");
    CHECK(mon.maximize, "val_accuracy maximizes");
    CHECK(kn__monitor_init(ctx, &mon, "val_loss", KN_MODE_AUTO, 0, false, "early stopping") == KN_ERR_INVALID_ARGUMENT &&
              strstr(kn_last_error(ctx), "validation"),
          "val_loss without validation data: %s", kn_last_error(ctx));
    CHECK(kn__monitor_init(ctx, &mon, "val_los", KN_MODE_AUTO, 0, true, "early stopping") == KN_ERR_INVALID_ARGUMENT &&
              strstr(kn_last_error(ctx), "val_los"),
          "unknown monitor named: %s", kn_last_error(ctx));
}

/* Keras ReduceLROnPlateau(patience 2, factor 0.5, cooldown 1, min_lr 0.02, min_delta 0).
 * Its on_epoch_end: a cooldown epoch first counts the cooldown down and zeroes wait, then
 * (out of cooldown now) counts the non-improving epoch, so wait reaches 2 again one epoch
 * after the cooldown:
 * epoch:     1    2    3     4    5     6    7     8    9
 * val_loss: 1.0  1.0  1.0   1.0  1.0   1.0  1.0   0.5  0.5
 * wait:      0    1   2->0   1   2->0   1   2->0   0    1
 * lr after: 0.1  0.1  0.05  0.05 0.025 .025 0.02 (0.0125 clamped to min_lr) 0.02 0.02 */
static void scripted_plateau(kn_ctx *ctx) {
    kn__plateau p = {.opts = {.patience = 2, .factor = 0.5, .cooldown = 1, .min_lr = 0.02}};
    CHECK(kn__monitor_init(ctx, &p.mon, NULL, KN_MODE_AUTO, 0, true, "test") == KN_OK, "init");
    const double seq[] = {1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5};
    const double want[] = {0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02, 0.02};
    double lr = 0.1;
    for (int e = 0; e < 9; e++) {
        kn_epoch_record r = epoch_with(e + 1, seq[e]);
        lr = kn__plateau_update(&p, &r, lr);
        CHECK(fabs(lr - want[e]) < 1e-12, "plateau epoch %d: lr %g, want %g", e + 1, lr, want[e]);
    }
    /* never below min_lr: it stays at 0.02 */
    for (int e = 9; e < 20; e++) {
        kn_epoch_record r = epoch_with(e + 1, 0.5);
        lr = kn__plateau_update(&p, &r, lr);
    }
    CHECK(fabs(lr - 0.02) < 1e-12, "min_lr: %g", lr);
}

enum { N = 256, F = 5, C = 2 };
static float X[N * F];
static int32_t Y[N];

static kn_model *small_model(kn_ctx *ctx, float lr) {
    kn_model *m;
    kn_model_new_sequential(ctx, (int64_t[]){F}, 1, &m);
    kn_model_add_dense(m, 8, KN_TANH);
    kn_model_add_dense(m, C, KN_SOFTMAX);
    kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_sgd(lr)});
    return m;
}

static float w_after_epoch1[8 * F];
static kn_model *watched;
static bool copy_epoch1(void *user, int epoch, int64_t batch, double loss) {
    (void)user, (void)loss;
    int64_t n;
    if (batch < 0 && epoch == 1) memcpy(w_after_epoch1, kn_model_param(watched, "dense_0/kernel", &n), sizeof w_after_epoch1);
    return true;
}

static void through_fit(kn_ctx *ctx) {
    for (int i = 0; i < N; i++) {
        Y[i] = i % C;
        for (int j = 0; j < F; j++) X[i * F + j] = (float)((i * 7 + j * 3) % 11) / 11.0f + (j == Y[i] ? 1.0f : 0.0f);
    }
    kn_dataset *ds;
    kn_dataset_from_arrays(ctx, X, Y, N, F, C, &ds);
    /* "loss" watched in max mode: every later (lower) loss is no improvement, so epoch 1 is
     * the best; patience 2 stops after epoch 3, and the epoch-1 weights come back */
    kn_model *m = watched = small_model(ctx, 0.5f);
    const kn_history *h;
    char best[] = "/tmp/kiln_test_control_XXXXXX";
    int fd = mkstemp(best);
    if (fd >= 0) close(fd);
    kn_fit_opts fo = {.epochs = 10, .batch_size = 32, .verbose = 0, .callback = copy_epoch1, .best_path = best,
                      .early_stopping = {.monitor = "loss", .patience = 2, .mode = KN_MODE_MAX, .restore_best_weights = true}};
    kn_status st = kn_model_fit(m, ds, &fo, &h);
    CHECK(st == KN_OK, "fit: %s", kn_last_error(ctx));
    CHECK(h->n_epochs == 3 && h->stopped_early && h->best_epoch == 1, "stopped after %d epochs (3), early %d, best %d (1)",
          h->n_epochs, h->stopped_early, h->best_epoch);
    CHECK(h->epochs[2].loss < h->epochs[0].loss, "the loss did fall (so the restore is visible)");
    int64_t n;
    const float *w = kn_model_param(m, "dense_0/kernel", &n);
    CHECK(n == 8 * F && memcmp(w, w_after_epoch1, sizeof w_after_epoch1) == 0, "the best epoch's weights restored");
    kn_model *b = NULL;
    CHECK(kn_model_load(ctx, best, NULL, &b) == KN_OK, "best model saved at %s: %s", best, kn_last_error(ctx));
    if (b) {
        const float *bw = kn_model_param(b, "dense_0/kernel", &n);
        CHECK(bw && memcmp(bw, w_after_epoch1, sizeof w_after_epoch1) == 0, "best.kiln holds epoch 1's weights");
        kn_model_free(b);
    }
    unlink(best);
    kn_model_free(m);
    /* patience never runs out: the best epoch's weights still come back at the end (Keras 3) */
    m = watched = small_model(ctx, 0.5f);
    fo = (kn_fit_opts){.epochs = 3, .batch_size = 32, .verbose = 0, .callback = copy_epoch1,
                       .early_stopping = {.monitor = "loss", .patience = 20, .mode = KN_MODE_MAX, .restore_best_weights = true}};
    st = kn_model_fit(m, ds, &fo, &h);
    w = kn_model_param(m, "dense_0/kernel", &n);
    CHECK(st == KN_OK && h->n_epochs == 3 && !h->stopped_early && h->best_epoch == 1 &&
              memcmp(w, w_after_epoch1, sizeof w_after_epoch1) == 0,
          "restore at the end without stopping");
    kn_model_free(m);

    /* a step schedule halving every epoch (8 steps an epoch): each epoch's recorded rate */
    m = small_model(ctx, 0.4f);
    kn_schedule sch = kn_schedule_default(KN_SCHEDULE_STEP);
    sch.decay_steps = N / 32;
    sch.decay_rate = 0.5;
    st = kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 4, .batch_size = 32, .verbose = 0, .schedule = sch}, &h);
    CHECK(st == KN_OK, "fit with a schedule: %s", kn_last_error(ctx));
    for (int e = 0; e < 4 && !st; e++)
        CHECK(fabs(h->epochs[e].learning_rate - 0.4 * pow(0.5, e)) < 1e-6, "epoch %d rate %g, want %g", e + 1,
              h->epochs[e].learning_rate, 0.4 * pow(0.5, e));
    /* early stopping on val_loss needs validation data; resume is refused with it */
    st = kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 2, .verbose = 0, .early_stopping = {.patience = 1, .monitor = "val_loss"}}, &h);
    CHECK(st == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "validation"), "val_loss without validation: %s",
          kn_last_error(ctx));
    kn_model_free(m);
    kn_dataset_free(ds);
}

/* Four batches of 8 accumulated make the same update as one batch of 32 (to float rounding:
 * the gradient is summed over the rows in another order). */
static void accumulation(kn_ctx *ctx) {
    kn_dataset *ds;
    kn_dataset_from_arrays(ctx, X, Y, 64, F, C, &ds);
    kn_model *a = small_model(ctx, 0.3f), *b = small_model(ctx, 0.3f);
    const kn_history *h;
    kn_status st = kn_model_fit(a, ds, &(kn_fit_opts){.epochs = 2, .batch_size = 8, .accumulate = 4, .verbose = 0}, &h);
    CHECK(st == KN_OK && h->steps == 4, "accumulated: %s, %lld updates (4)", kn_last_error(ctx), (long long)h->steps);
    st = kn_model_fit(b, ds, &(kn_fit_opts){.epochs = 2, .batch_size = 32, .verbose = 0}, &h);
    CHECK(st == KN_OK && h->steps == 4, "large batch: %s", kn_last_error(ctx));
    const char *names[] = {"dense_0/kernel", "dense_0/bias", "dense_1/kernel", "dense_1/bias"};
    double worst = 0;
    for (int p = 0; p < 4; p++) {
        int64_t n, nb;
        const float *wa = kn_model_param(a, names[p], &n), *wb = kn_model_param(b, names[p], &nb);
        for (int64_t i = 0; i < n && n == nb; i++) {
            double e = fabs((double)wa[i] - wb[i]) / (fabs((double)wb[i]) + 1e-3);
            if (e > worst) worst = e;
        }
    }
    CHECK(worst < 1e-5, "accumulation vs the large batch: worst relative difference %.2e", worst);
    printf("%-40s worst relative difference %.2e\n", "accumulate 4 x 8 vs batch 32", worst);
    kn_model_free(a);
    kn_model_free(b);
    /* the guard: an infinite input stops training before the update and names it (tanh
     * saturates, so the loss stays finite: the gradient is what goes non-finite) */
    float xi[64 * F];
    memcpy(xi, X, sizeof xi);
    xi[3 * F + 1] = INFINITY;
    kn_dataset *bad;
    kn_dataset_from_arrays(ctx, xi, Y, 64, F, C, &bad);
    a = small_model(ctx, 0.3f);
    st = kn_model_fit(a, bad, &(kn_fit_opts){.epochs = 1, .batch_size = 64, .no_shuffle = true, .verbose = 0}, &h);
    CHECK(st == KN_ERR_NUMERIC && strstr(kn_last_error(ctx), "step 1") && strstr(kn_last_error(ctx), "input 'x'") &&
              strstr(kn_last_error(ctx), "gradient"),
          "non-finite input named: %s", kn_last_error(ctx));
    int64_t n;
    const float *w = kn_model_param(a, "dense_0/kernel", &n);
    bool finite = true;
    for (int64_t i = 0; i < n; i++) finite &= isfinite(w[i]) != 0;
    CHECK(finite, "the weights were not updated with the non-finite gradient");
    /* a non-finite weight is named as a parameter */
    float *wk = kn_model_param(a, "dense_1/kernel", &n);
    wk[0] = NAN;
    st = kn_model_fit(a, ds, &(kn_fit_opts){.epochs = 1, .batch_size = 16, .verbose = 0}, &h);
    CHECK(st == KN_ERR_NUMERIC && strstr(kn_last_error(ctx), "parameter 'dense_1/kernel'"), "NaN weight named: %s",
          kn_last_error(ctx));
    kn_model_free(a);
    /* an op overflowing: weights of 1e38 make the first (relu) layer's output infinite */
    kn_model_new_sequential(ctx, (int64_t[]){F}, 1, &a);
    kn_model_add_dense(a, 8, KN_RELU);
    kn_model_add_dense(a, C, KN_SOFTMAX);
    kn_model_compile(a, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_sgd(0.1f)});
    kn_model_fit(a, ds, &(kn_fit_opts){.epochs = 1, .batch_size = 64, .verbose = 0}, &h); /* builds the graph */
    wk = kn_model_param(a, "dense_0/kernel", &n);
    for (int64_t i = 0; i < n; i++) wk[i] = 1e38f;
    st = kn_model_fit(a, ds, &(kn_fit_opts){.epochs = 1, .batch_size = 16, .verbose = 0}, &h);
    CHECK(st == KN_ERR_NUMERIC && strstr(kn_last_error(ctx), "the output of") && strstr(kn_last_error(ctx), "matmul"),
          "overflowing op named: %s", kn_last_error(ctx));
    kn_model_free(a);
    /* clipping by value: with clip_value tiny, one SGD step moves each weight by at most lr * clip */
    a = small_model(ctx, 1.0f);
    kn_compile_opts co = {.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_sgd(1.0f)};
    co.optimizer.clip_value = 1e-3f;
    kn_model_compile(a, &co);
    float before[8 * F];
    memcpy(before, kn_model_param(a, "dense_0/kernel", &n), sizeof before);
    st = kn_model_fit(a, ds, &(kn_fit_opts){.epochs = 1, .batch_size = 64, .verbose = 0}, &h);
    w = kn_model_param(a, "dense_0/kernel", &n);
    double moved = 0;
    for (int64_t i = 0; i < n; i++) moved = fmax(moved, fabs((double)w[i] - before[i]));
    CHECK(st == KN_OK && moved <= 1e-3 * 1.0001 && moved > 0, "clip_value: a weight moved %g (at most 1e-3)", moved);
    kn_model_free(a);
    kn_dataset_free(bad);
    kn_dataset_free(ds);
}

/* Class-weighted sparse cross-entropy from logits (the fused kernel, and the unfused graph)
 * against PyTorch: tests/golden/weighted_ce.txt, made by make_weighted_ce_golden.py. */
static void weighted_ce_golden(kn_ctx *ctx) {
    FILE *f = fopen("tests/golden/weighted_ce.txt", "r");
    CHECK(f != NULL, "tests/golden/weighted_ce.txt missing (run from the repository root)");
    if (!f) return;
    int n = 0, c = 0;
    float z[64], w[16], gref[64];
    int32_t lab[16];
    double loss_ref = 0;
    bool ok = fscanf(f, "N %d C %d logits", &n, &c) == 2 && n * c <= 64 && n <= 16;
    for (int i = 0; ok && i < n * c; i++) ok = fscanf(f, "%f", &z[i]) == 1;
    ok = ok && fscanf(f, " labels") == 0;
    for (int i = 0; ok && i < n; i++) ok = fscanf(f, "%d", &lab[i]) == 1;
    float cw[16];
    ok = ok && fscanf(f, " class_weight") == 0;
    for (int i = 0; ok && i < c; i++) ok = fscanf(f, "%f", &cw[i]) == 1;
    ok = ok && fscanf(f, " loss %lf grad", &loss_ref) == 1;
    for (int i = 0; ok && i < n * c; i++) ok = fscanf(f, "%f", &gref[i]) == 1;
    fclose(f);
    CHECK(ok, "weighted_ce.txt unreadable");
    if (!ok) return;
    for (int i = 0; i < n; i++) w[i] = cw[lab[i]];
    for (int variant = 0; variant < 2; variant++) { /* the loss fused with a softmax, and not */
        kn_graph *g;
        kn_graph_new(ctx, &g);
        kn_tensor *p = kn_param(g, (int64_t[]){n, c}, 2, KN_INIT_ZEROS, "logits");
        kn_tensor *y = kn_input(g, KN_I32, (int64_t[]){n}, 1, "labels");
        kn_tensor *wt = kn_input(g, KN_F32, (int64_t[]){n}, 1, "weights");
        kn_tensor *loss = variant ? kn_loss_op_weighted(g, KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, kn_act(g, p, KN_SOFTMAX), y, wt, false)
                                  : kn_loss_op_weighted(g, KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, p, y, wt, true);
        kn_graph_keep(g, loss);
        kn_status st = kn_graph_backward(g, loss);
        if (!st) st = kn_graph_compile(g, n, false);
        CHECK(st == KN_OK, "weighted CE graph: %s", kn_last_error(ctx));
        if (!st) {
            memcpy(kn_tensor_data(p), z, sizeof(float) * (size_t)(n * c));
            memcpy(kn_tensor_data(y), lab, sizeof(int32_t) * (size_t)n);
            memcpy(kn_tensor_data(wt), w, sizeof(float) * (size_t)n);
            kn_graph_upload(g); /* the logits are a parameter: to the device (a no-op on the cpu) */
            kn_graph_run(g);
            kn_graph_sync(g); /* the gradient back */
            /* the update ran too (no optimizer here: the gradient is as computed) */
            const float *gr = kn_tensor_data(kn_tensor_grad(p));
            double worst = fabs(*(float *)kn_tensor_data(loss) - loss_ref) / loss_ref;
            for (int i = 0; i < n * c; i++) worst = fmax(worst, fabs((double)gr[i] - gref[i]) / (fabs(gref[i]) + 1e-3));
            /* float32 against float64: a few ulps of the largest terms */
            CHECK(worst < 1e-5, "weighted CE vs PyTorch (%s): worst relative error %.2e", variant ? "softmax + CE" : "logits", worst);
            printf("%-40s worst relative error %.2e\n", variant ? "weighted CE vs PyTorch (softmax+CE)" : "weighted CE vs PyTorch (logits)", worst);
        }
        kn_graph_free(g);
    }
}

/* Imbalanced data (class 1 a tenth of the rows, overlapping): balanced class weights raise
 * its recall; equal weights of 2 double the training loss (lr ~ 0: nothing moves). */
static void class_weights(kn_ctx *ctx) {
    enum { R = 600 };
    static float x[R * 2];
    static int32_t y[R];
    for (int i = 0; i < R; i++) {
        y[i] = i % 10 == 0;
        float u = (float)((i * 7919) % 1000) / 1000.0f, v = (float)((i * 104729) % 997) / 997.0f;
        x[i * 2] = u + (y[i] ? 0.35f : 0.0f);
        x[i * 2 + 1] = v;
    }
    kn_dataset *ds;
    kn_dataset_from_arrays(ctx, x, y, R, 2, 2, &ds);
    double recall[2];
    for (int balanced = 0; balanced < 2; balanced++) {
        kn_model *m;
        kn_model_new_sequential(ctx, (int64_t[]){2}, 1, &m);
        kn_model_add_dense(m, 8, KN_RELU);
        kn_model_add_dense(m, 2, KN_SOFTMAX);
        kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_adam(0.01f)});
        kn_status st = kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 20, .batch_size = 32, .verbose = 0,
                                                          .class_weight_balanced = balanced}, NULL);
        CHECK(st == KN_OK, "fit: %s", kn_last_error(ctx));
        int64_t cm[4];
        kn_model_confusion(m, ds, cm, 2);
        recall[balanced] = (double)cm[3] / (double)(cm[2] + cm[3]);
        kn_model_free(m);
    }
    CHECK(recall[1] > recall[0] + 0.1, "minority recall: %.3f unweighted, %.3f balanced", recall[0], recall[1]);
    printf("%-40s minority recall %.3f unweighted, %.3f balanced\n", "class_weight balanced", recall[0], recall[1]);
    double first[2];
    const float twos[2] = {2.0f, 2.0f};
    for (int v = 0; v < 2; v++) {
        kn_model *m;
        kn_model_new_sequential(ctx, (int64_t[]){2}, 1, &m);
        kn_model_add_dense(m, 2, KN_SOFTMAX);
        kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_sgd(1e-12f)});
        const kn_history *h;
        kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 1, .batch_size = 50, .verbose = 0, .class_weight = v ? twos : NULL,
                                           .n_class_weights = 2}, &h);
        first[v] = h->epochs[0].loss;
        kn_model_free(m);
    }
    CHECK(fabs(first[1] - 2 * first[0]) < 1e-5 * first[0], "weights of 2: loss %g, unweighted %g", first[1], first[0]);
    kn_model *m;
    kn_model_new_sequential(ctx, (int64_t[]){2}, 1, &m);
    kn_model_add_dense(m, 2, KN_SOFTMAX);
    kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_sgd(0.1f)});
    CHECK(kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 1, .class_weight = twos, .n_class_weights = 1, .verbose = 0}, NULL) ==
              KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "class weights"),
          "too few class weights refused: %s", kn_last_error(ctx));
    kn_model_free(m);
    kn_dataset_free(ds);
}

static void from_json(kn_ctx *ctx) {
    const char *json =
        "{\"type\": \"sequential\", \"input_shape\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
        " \"loss\": \"sparse_categorical_crossentropy\","
        " \"schedule\": {\"type\": \"cosine\", \"warmup_steps\": 10, \"alpha\": 0.1}, \"class_weight\": [1, 2.5, 4],"
        " \"callbacks\": [{\"type\": \"early_stopping\", \"patience\": 4, \"restore_best_weights\": true},"
        "               {\"type\": \"reduce_lr_on_plateau\", \"factor\": 0.5, \"patience\": 2},"
        "               {\"type\": \"model_checkpoint\", \"monitor\": \"val_accuracy\"}]}";
    kn_model *m = NULL;
    kn_spec spec;
    kn_status st = kn_model_from_json(ctx, json, NULL, &m, &spec);
    CHECK(st == KN_OK, "json: %s", kn_last_error(ctx));
    if (!st) {
        CHECK(spec.schedule.kind == KN_SCHEDULE_COSINE && spec.schedule.warmup_steps == 10 && spec.schedule.alpha == 0.1,
              "schedule fields");
        CHECK(spec.early_stopping.patience == 4 && spec.early_stopping.restore_best_weights &&
                  strcmp(spec.early_stopping.monitor, "val_accuracy") == 0,
              "early stopping fields");
        CHECK(spec.reduce_lr.patience == 2 && spec.reduce_lr.factor == 0.5 && spec.save_best, "plateau, checkpoint");
        CHECK(spec.n_class_weights == 3 && spec.class_weight[1] == 2.5f && !spec.class_weight_balanced, "class_weight list");
    }
    kn_model_free(m);
    /* the list-taking schedules: Keras's PiecewiseConstantDecay, PyTorch's MultiStepLR (gamma
     * its name for decay_rate), Keras's InverseTimeDecay */
    const char *lists =
        "{\"layers\": [{\"type\": \"dense\", \"units\": 2}], \"input_shape\": [2],"
        " \"schedule\": {\"type\": \"piecewise_constant\", \"boundaries\": [100, 250], \"values\": [0.01, 0.005, 0.001]}}";
    m = NULL;
    st = kn_model_from_json(ctx, lists, NULL, &m, &spec);
    CHECK(st == KN_OK && spec.schedule.kind == KN_SCHEDULE_PIECEWISE_CONSTANT && spec.schedule.n_boundaries == 2 &&
              spec.schedule.boundaries[1] == 250 && spec.schedule.values[2] == 0.001,
          "piecewise_constant fields: %s", kn_last_error(ctx));
    CHECK(kn_schedule_rate(&spec.schedule, 0.5, 100, 1000) == 0.01 && kn_schedule_rate(&spec.schedule, 0.5, 101, 1000) == 0.005 &&
              kn_schedule_rate(&spec.schedule, 0.5, 251, 1000) == 0.001,
          "piecewise_constant's rates at its boundaries");
    kn_model_free(m);
    m = NULL;
    st = kn_model_from_json(ctx,
                            "{\"layers\": [{\"type\": \"dense\", \"units\": 2}], \"input_shape\": [2],"
                            " \"schedule\": {\"type\": \"multi_step\", \"milestones\": [3, 9], \"gamma\": 0.5}}",
                            NULL, &m, &spec);
    CHECK(st == KN_OK && spec.schedule.kind == KN_SCHEDULE_MULTI_STEP && spec.schedule.n_boundaries == 2 &&
              spec.schedule.decay_rate == 0.5 && kn_schedule_rate(&spec.schedule, 0.2, 9, 100) == 0.05,
          "multi_step fields: %s", kn_last_error(ctx));
    kn_model_free(m);
    m = NULL;
    st = kn_model_from_json(ctx,
                            "{\"layers\": [{\"type\": \"dense\", \"units\": 2}], \"input_shape\": [2],"
                            " \"schedule\": {\"type\": \"inverse_time\", \"decay_steps\": 10, \"decay_rate\": 1, \"staircase\": true}}",
                            NULL, &m, &spec);
    CHECK(st == KN_OK && kn_schedule_rate(&spec.schedule, 0.2, 19, 100) == 0.1 && kn_schedule_rate(&spec.schedule, 0.2, 20, 100) == 0.2 / 3,
          "inverse_time: %s", kn_last_error(ctx));
    kn_model_free(m);
#define SCHED(body) "{\"layers\": [{\"type\": \"dense\", \"units\": 2}], \"input_shape\": [2], \"schedule\": " body "}"
    const char *bad_lists[][2] = {
        {SCHED("{\"type\": \"piecewise_constant\", \"boundaries\": [10, 5], \"values\": [1, 2, 3]}"), "schedule.boundaries: not increasing"},
        {SCHED("{\"type\": \"piecewise_constant\", \"boundaries\": [10], \"values\": [1]}"), "schedule.values: 1 rates for 1 boundaries"},
        {SCHED("{\"type\": \"piecewise_constant\", \"values\": [1]}"), "schedule.values"},
        {SCHED("{\"type\": \"piecewise_constant\", \"boundaries\": [1.5], \"values\": [1, 2]}"), "schedule.boundaries: entry 0"},
        {SCHED("{\"type\": \"piecewise_constant\", \"boundaries\": [1], \"values\": [1, -2]}"), "schedule.values: entry 1"},
        {SCHED("{\"type\": \"piecewise_constant\", \"boundaries\": 5, \"values\": [1, 2]}"), "schedule.boundaries: expected a list"},
        {SCHED("{\"type\": \"multi_step\", \"milestones\": [4, 4]}"), "schedule.milestones: not increasing"},
        {SCHED("{\"type\": \"multi_step\", \"milestones\": [1], \"gamma\": 0.5, \"decay_rate\": 0.5}"), "schedule.gamma"},
        {SCHED("{\"type\": \"cosine\", \"boundaries\": [1]}"), "schedule.boundaries: belongs to piecewise_constant"},
        {SCHED("{\"type\": \"step\", \"milestones\": [1]}"), "schedule.milestones: belongs to multi_step"},
        {SCHED("{\"type\": \"multi_step\", \"milestones\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33]}"),
         "schedule.milestones: 33 entries, at most 32"},
    };
#undef SCHED
    for (size_t i = 0; i < sizeof bad_lists / sizeof bad_lists[0]; i++) {
        m = NULL;
        st = kn_model_from_json(ctx, bad_lists[i][0], NULL, &m, &spec);
        CHECK(st == KN_ERR_SPEC && strstr(kn_last_error(ctx), bad_lists[i][1]), "bad schedule %zu: %s", i, kn_last_error(ctx));
        kn_model_free(m);
    }
    const char *bad[][2] = {
        {"{\"layers\": [{\"type\": \"dense\", \"units\": 2}], \"input_shape\": [2], \"schedule\": {\"type\": \"cosin\"}}", "schedule.type"},
        {"{\"layers\": [{\"type\": \"dense\", \"units\": 2}], \"input_shape\": [2], \"schedule\": {\"type\": \"step\", \"decay_step\": 3}}", "decay_step"},
        {"{\"layers\": [{\"type\": \"dense\", \"units\": 2}], \"input_shape\": [2], \"callbacks\": [{\"type\": \"early_stoping\"}]}", "early_stoping"},
        {"{\"layers\": [{\"type\": \"dense\", \"units\": 2}], \"input_shape\": [2], \"class_weight\": [1, -2]}", "class_weight[1]"},
        {"{\"layers\": [{\"type\": \"dense\", \"units\": 2}], \"input_shape\": [2], \"callbacks\": [{\"type\": \"early_stopping\", \"monitor\": \"acc\"}]}", "callbacks[0].monitor"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m = NULL;
        st = kn_model_from_json(ctx, bad[i][0], NULL, &m, &spec);
        CHECK(st == KN_ERR_SPEC && strstr(kn_last_error(ctx), bad[i][1]), "bad description %zu: %s", i, kn_last_error(ctx));
        kn_model_free(m);
    }
}

int main(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 5}, &ctx);
    scripted_early_stopping(ctx);
    scripted_plateau(ctx);
    through_fit(ctx);
    accumulation(ctx);
    weighted_ce_golden(ctx);
    class_weights(ctx);
    from_json(ctx);
    kn_ctx_free(ctx);
    printf(failures ? "%d check(s) failed\n" : "training control checks passed\n", failures);
    return failures ? 1 : 0;
}
