/* golden_model.h — a model against PyTorch's golden values (tests/golden/NAME.txt, read by
 * golden.h's get after read_all into `golden`): the model built from its description, its
 * parameters set from the file by their kiln names, then its predictions, one training
 * step's loss and every listed parameter's gradient compared (test_rnn.c, test_attention.c).
 * Include after check.h, golden.h and model_test.h. */
#ifndef KN_TEST_GOLDEN_MODEL_H
#define KN_TEST_GOLDEN_MODEL_H

/* got against want: the worst of |got - want| / (1 + |want|) below tol. */
static void compare(const char *what, const float *got, const double *want, int n, double tol) {
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double err = fabs(got[i] - want[i]) / (1.0 + fabs(want[i]));
        if (!(err <= worst)) worst = err;
    }
    printf("%-52s %3d values, worst error %.2e\n", what, n, worst);
    CHECK(worst < tol, "%s: worst error %.3g", what, worst);
}

/* Model `prefix` ("A:") of n samples of (steps, features) and `classes` classes; params: its
 * parameters' names, NULL-terminated (each at most 256 values; x at most 128). */
static void golden_model(const char *prefix, const char *text, const char *const *params, int n, int steps,
                         int features, int classes) {
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, text);
    char name[128];
    int nx = n * steps * features;
    double x[128], lab[8], y[32], loss, v[256];
    snprintf(name, sizeof name, "%sx", prefix);
    bool ok = m && get(name, x, 128) == nx;
    snprintf(name, sizeof name, "%slabels", prefix);
    ok = ok && get(name, lab, 8) == n;
    snprintf(name, sizeof name, "%sy", prefix);
    ok = ok && get(name, y, 32) == n * classes;
    snprintf(name, sizeof name, "%sloss", prefix);
    ok = ok && get(name, &loss, 1) == 1;
    CHECK(ok, "golden %s: records missing or the model did not build", prefix);
    for (int p = 0; ok && params[p]; p++) {
        int64_t k;
        float *w = kn_model_param(m, params[p], &k);
        snprintf(name, sizeof name, "%s%s", prefix, params[p]);
        ok = w && get(name, v, 256) == k;
        CHECK(ok, "golden %s: parameter %s", prefix, params[p]);
        for (int64_t i = 0; ok && i < k; i++) w[i] = (float)v[i];
    }
    if (ok) {
        float xf[128], pred[32], got_loss;
        int32_t labels[8];
        for (int i = 0; i < nx; i++) xf[i] = (float)x[i];
        for (int i = 0; i < n; i++) labels[i] = (int32_t)lab[i];
        /* float32 against float64 through a few layers (three recurrences of 5 or 6 steps;
         * projections, a softmax over the steps and a layer norm): 1e-5 is some tens of
         * float32 roundings */
        CHECK(!kn_model_predict(m, xf, n, pred), "predict: %s", kn_last_error(ctx));
        snprintf(name, sizeof name, "%s y", prefix);
        compare(name, pred, y, n * classes, 1e-5);
        CHECK(!kn_model_train_step(m, xf, labels, n, &got_loss), "train_step: %s", kn_last_error(ctx));
        snprintf(name, sizeof name, "%s loss", prefix);
        compare(name, &got_loss, &loss, 1, 1e-5);
        for (int p = 0; params[p]; p++) {
            int64_t k;
            const float *gr = kn_model_grad(m, params[p], &k);
            snprintf(name, sizeof name, "%sgrad:%s", prefix, params[p]);
            CHECK(gr && get(name, v, 256) == k, "golden: %s", name);
            if (gr) compare(name, gr, v, (int)k, 2e-5);
        }
    }
    kn_model_free(m);
    kn_ctx_free(ctx);
}

#endif
