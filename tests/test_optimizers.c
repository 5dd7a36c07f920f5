/* test_optimizers.c — every optimizer's update rule against PyTorch's: SGD (plain, momentum,
 * Nesterov, with clipvalue), Adam (and with clipnorm), AdamW, RMSprop (plain, momentum),
 * Adagrad, Adamax, Adadelta, Nadam (PyTorch's schedule and Keras 3's), Lion (Keras 3's rule;
 * torch has none: the script's own), RAdam (12 steps: unrectified, then rectified),
 * Ftrl (Keras 3's rule, the script's own; with L1, L2, shrinkage and beta), Adam's and
 * AdamW's AMSGrad, and
 * Keras 3's decoupled weight decay on each (the "_wd" cases). A parameter p of 7 floats under the loss sum(c_t p^2) / 2 (gradient c_t p, c_t
 * new every step), 6 steps through a graph with its fused update (passes on) and the
 * per-parameter one (passes off); p after each step against tests/golden/optimizers.txt,
 * recorded by tests/golden/make_optimizers.py (which says where Keras's and PyTorch's rules
 * differ and how the cases avoid it). */
#include "check.h"
#include "core/core.h"
#include "golden.h"
#include "graph/graph.h"

#include <math.h>
#include <string.h>

#define P 7
#define STEPS 6       /* a case's steps */
#define LONG_STEPS 12 /* RAdam's (make_optimizers.py's LONG) */

/* float against double after 6 steps of a few roundings each */
static bool close_to(double got, double want) { return fabs(got - want) <= 2e-6 + 2e-5 * fabs(want); }

static void check_optimizer(const char *name, kn_optimizer opt, int steps, unsigned passes) {
    double p0[P], c[LONG_STEPS][P];
    CHECK(get("p0", p0, P) == P, "golden p0 missing");
    for (int t = 0; t < steps; t++) {
        char key[16];
        snprintf(key, sizeof key, "c%d", t);
        CHECK(get(key, c[t], P) == P, "golden %s missing", key);
    }
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 1}, &ctx);
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *p = kn_param(g, (int64_t[]){P}, 1, KN_INIT_ZEROS, "p");
    kn_tensor *ct = kn_input(g, KN_F32, (int64_t[]){P}, 1, "c");
    g->build_phase = KN_PHASE_LOSS;
    kn_tensor *loss = kn_scale(g, kn__sum(g, kn_mul(g, ct, kn_mul(g, p, p))), 0.5f);
    g->build_phase = 0;
    kn_graph_keep(g, loss);
    kn_status st = kn_graph_backward(g, loss);
    if (!st) st = kn_graph_add_optimizer(g, &opt);
    if (!st) st = kn_graph_set_passes(g, passes);
    if (!st) st = kn_graph_compile(g, 1, false);
    CHECK(st == KN_OK, "%s: build failed: %s", name, kn_last_error(ctx));
    float *pd = st ? NULL : kn_tensor_data(p), *cd = st ? NULL : kn_tensor_data(ct);
    for (int i = 0; pd && i < P; i++) pd[i] = (float)p0[i];
    if (!st) st = kn_graph_upload(g);
    int bad = 0;
    for (int t = 0; !st && t < steps; t++) {
        for (int i = 0; i < P; i++) cd[i] = (float)c[t][i];
        st = kn_graph_run(g);
        if (!st) st = kn_graph_sync(g);
        CHECK(st == KN_OK, "%s: step %d: %s", name, t, kn_last_error(ctx));
        double want[P];
        char key[64];
        snprintf(key, sizeof key, "%s_%d", name, t);
        CHECK(get(key, want, P) == P, "golden %s missing", key);
        for (int i = 0; !st && i < P; i++)
            if (!close_to(pd[i], want[i]) && bad++ < 3)
                CHECK(0, "%s (passes %#x) step %d: p[%d] %.9g, PyTorch %.9g", name, passes, t + 1, i, (double)pd[i], want[i]);
    }
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

static kn_optimizer with_decay(kn_optimizer o, float weight_decay) {
    o.weight_decay = weight_decay;
    return o;
}

int main(void) {
    golden = read_all("tests/golden/optimizers.txt");
    CHECK(golden != NULL, "tests/golden/optimizers.txt missing (run from the repository root)");
    if (!golden) return 1;
    kn_optimizer sgd = kn_sgd(0.1f), momentum = kn_sgd(0.1f), nesterov = kn_sgd(0.1f);
    momentum.momentum = nesterov.momentum = 0.9f;
    nesterov.nesterov = true;
    kn_optimizer clipvalue = momentum;
    clipvalue.clip_value = 0.5f;
    kn_optimizer adam = kn_adam(0.01f), adamw = kn_adamw(0.01f, 0.05f), clipnorm = kn_adam(0.01f);
    clipnorm.clip_norm = 1.0f;
    kn_optimizer rmsprop = kn_rmsprop(0.01f), rms_momentum = kn_rmsprop(0.01f), adagrad = kn_adagrad(0.1f);
    rmsprop.epsilon = rms_momentum.epsilon = adagrad.epsilon = 0; /* where PyTorch's epsilon differs */
    rms_momentum.momentum = 0.5f;
    kn_optimizer adamax = kn_adamax(0.01f), adadelta = kn_adadelta(1.0f);
    adamax.epsilon = 0;
    adadelta.epsilon = 1e-6f;
    kn_optimizer nadam = kn_nadam(0.01f), nadam_keras3 = kn_nadam(0.01f);
    nadam.momentum_decay = 0.004f; /* PyTorch's NAdam; the default is Keras 3's u_t = b1 (1 - 0.5 * 0.96^t) */
    nadam_keras3.momentum_decay = 1;
    kn_optimizer lion = kn_lion(0.01f), lion_betas = kn_lion(0.02f), radam = kn_radam(0.01f), radam_b2 = kn_radam(0.05f);
    lion_betas.beta_1 = 0.5f, lion_betas.beta_2 = 0.9f;
    radam_b2.beta_1 = 0.8f, radam_b2.beta_2 = 0.9f, radam_b2.epsilon = 1e-6f;
    kn_optimizer adam_ams = kn_adam(0.01f), adamw_ams = kn_adamw(0.01f, 0.05f);
    adam_ams.amsgrad = adamw_ams.amsgrad = true;
    adamw_ams.beta_1 = 0.8f, adamw_ams.beta_2 = 0.9f; /* (the second moment falls: the maximum holds) */
    kn_optimizer ftrl = kn_ftrl(0.1f), ftrl_l1l2 = kn_ftrl(0.2f);
    ftrl_l1l2.lr_power = -0.7f, ftrl_l1l2.initial_accumulator = 0.3f, ftrl_l1l2.l1 = 0.05f, ftrl_l1l2.l2 = 0.1f;
    ftrl_l1l2.l2_shrinkage = 0.02f, ftrl_l1l2.ftrl_beta = 0.5f;
    const struct { const char *name; kn_optimizer opt; } cases[] = {
        {"sgd", sgd}, {"sgd_momentum", momentum}, {"sgd_nesterov", nesterov}, {"sgd_clipvalue", clipvalue},
        {"adam", adam}, {"adamw", adamw}, {"adam_clipnorm", clipnorm}, {"rmsprop", rmsprop},
        {"rmsprop_momentum", rms_momentum}, {"adagrad", adagrad}, {"adamax", adamax}, {"adadelta", adadelta},
        {"nadam", nadam}, {"nadam_keras3", nadam_keras3}, {"lion", lion}, {"lion_betas", lion_betas},
        {"radam", radam}, {"radam_b2", radam_b2}, {"ftrl", ftrl}, {"ftrl_l1l2", ftrl_l1l2},
        {"adam_amsgrad", adam_ams}, {"adamw_amsgrad", adamw_ams},
        /* Keras 3's weight decay, any optimizer (make_optimizers.py's "decayed") */
        {"sgd_wd", with_decay(sgd, 0.3f)}, {"sgd_nesterov_wd", with_decay(nesterov, 0.3f)},
        {"adam_wd", with_decay(adam, 0.05f)}, {"rmsprop_momentum_wd", with_decay(rms_momentum, 2.0f)},
        {"adagrad_wd", with_decay(adagrad, 0.3f)}, {"adamax_wd", with_decay(adamax, 2.0f)},
        {"adadelta_wd", with_decay(adadelta, 0.03f)}, {"nadam_keras3_wd", with_decay(nadam_keras3, 2.0f)},
        {"lion_wd", with_decay(lion, 1.0f)}, {"radam_wd", with_decay(radam, 0.5f)},
        {"ftrl_wd", with_decay(ftrl, 0.5f)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int steps = strncmp(cases[i].name, "radam", 5) == 0 ? LONG_STEPS : STEPS; /* (make_optimizers.py's LONG) */
        check_optimizer(cases[i].name, cases[i].opt, steps, KN_PASS_ALL);
        check_optimizer(cases[i].name, cases[i].opt, steps, KN_PASS_NONE);
    }
    free(golden);
    printf("test_optimizers: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
