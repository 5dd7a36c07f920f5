/* test_noise.c — KN_OP_NOISE (kn_gaussian_noise, kn_gaussian_dropout, kn_alpha_dropout) over a
 * (64, 4096) tensor of a fixed input, for each mode:
 *
 * - every element against a reference written here in double from the specification (graph.h):
 *   element i's draw under dropout's element key (kn__cpu_dropout_key at the run's step), its
 *   Box-Muller normal from the top 24 bits of each 32-bit half, alpha dropout's keep decision
 *   from dropout's 16-bit draw; within 1e-5 (1 + |y|): the kernels compute in float, whose
 *   angle 2 pi u2 and logf round (|z| <= 5.8, so z is within about 3e-6 of the double one);
 * - the statistics, each within 4 standard errors (two-sided, a false failure about 6e-5 per
 *   check): Gaussian noise's y - x has mean 0, standard deviation stddev and the normal's
 *   fractions within 1 and 2 of it; Gaussian dropout's y / x has mean 1, standard deviation
 *   s = sqrt(rate / (1 - rate)) and the normal's fraction within s; alpha dropout keeps an input
 *   drawn from N(0, 1) at mean 0 and variance 1 (the standard error of the variance from the
 *   sample's own fourth moment: the output is no normal), replaces about `rate` of it by the
 *   constant a alpha_p + b, and kept elements are a x + b exactly; it drops the very elements
 *   a dropout of that rate and key (kn__dropout_keyed) drops;
 * - the gradient of sum(y): 1 (Gaussian noise), y / x (Gaussian dropout: the forward's
 *   factors again), a where kept and 0 elsewhere (alpha dropout);
 * - another run at the same step draws the same values, the next step others; evaluating
 *   (and a graph without backward, even asked to train) is the identity bit for bit;
 * - in a bf16 graph the noise stays f32 (no half kernel) and a training step runs;
 * - bad parameters (negative, NaN, infinite stddev; rates outside [0, 1)) fail the graph with
 *   a message naming the op.
 * Finite differences are test_gradcheck.c's; the CUDA kernels against the CPU's, test_cuda_ops.
 * KILN_TEST_DEVICE=cuda runs the graph checks on that device. Run from the source root. */
#define _DEFAULT_SOURCE /* mkdtemp (model_test.h) */
#include "graph/graph.h"
#include "backend/cpu/cpu.h"
#include "backend/noise_formulas.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model_test.h"

static kn_device device = KN_DEVICE_CPU;

static kn_ctx *new_ctx(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 11, .device = device}, &ctx);
    return ctx;
}

enum { ROWS = 64, COLS = 4096, N = ROWS * COLS };
#define SE 4.0 /* standard errors a statistic may stray */
#define TWO_PI 6.283185307179586

/* The test's own generator (splitmix64), independent of kiln's: uniforms in (0, 1]. */
static uint64_t gen = 99;
static double uniform(void) {
    uint64_t z = (gen += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1p-53 + 0x1p-54;
}

/* The fixed input of a mode: 0 sin(0.37 i); 1 values of magnitude 0.25 .. 1.25 (y / x taken);
 * 2 N(0, 1) draws. */
static float input(int mode, int64_t i) {
    if (mode == KN_NOISE_GAUSSIAN) return (float)sin(0.37 * (double)i);
    if (mode == KN_NOISE_GAUSSIAN_DROPOUT) return (float)((i % 2 ? 1 : -1) * (0.25 + 0.25 * (double)(i % 5)));
    return (float)(sqrt(-2.0 * log(uniform())) * cos(TWO_PI * uniform()));
}

/* The reference draws: element i's normal and alpha dropout's keep decision. */
static double ref_normal(uint64_t key, int64_t i) {
    uint64_t r = kn__rng_draw(key, (uint64_t)i);
    double u1 = (double)((r >> 40) + 1) / 16777216.0, u2 = (double)((uint32_t)r >> 8) / 16777216.0;
    return sqrt(-2.0 * log(u1)) * cos(TWO_PI * u2);
}
static bool ref_kept(uint64_t key, int64_t i, double rate) {
    uint32_t draw = (uint32_t)(kn__rng_draw(key, (uint64_t)i >> 2) >> (16 * (i & 3))) & 0xffffu;
    return draw >= (uint32_t)(rate * 65536.0 + 0.5);
}

static const char *mode_name[3] = {"gaussian_noise", "gaussian_dropout", "alpha_dropout"};

static kn_tensor *noise(kn_graph *g, kn_tensor *x, int mode, float p) {
    if (mode == KN_NOISE_GAUSSIAN) return kn_gaussian_noise(g, x, p);
    return mode == KN_NOISE_GAUSSIAN_DROPOUT ? kn_gaussian_dropout(g, x, p) : kn_alpha_dropout(g, x, p);
}

/* |v - want| within SE standard errors se. */
static void near(const char *what, int mode, double v, double want, double se) {
    printf("  %-16s %-34s %.5f (want %.5f, %.1f standard errors)\n", mode_name[mode], what, v, want,
           se > 0 ? fabs(v - want) / se : 0.0);
    CHECK(fabs(v - want) <= SE * se, "%s: %s %.6f, want %.6f within %.0f x %.2e", mode_name[mode], what, v, want, SE,
          se);
}

/* Statistics of a training run's y given x (mode 2: and the dropout drop of x, same key). */
static void check_statistics(int mode, float p, const float *x, const float *y, const float *drop) {
    double s1 = 0, s2 = 0, s3 = 0, s4 = 0, within1 = 0, within2 = 0, replaced = 0, x1 = 0, x2 = 0;
    kn__noise_consts c = kn__noise_consts_of(mode, p);
    float dropped_value = c.p * c.alpha_p + c.b; /* (C11: no contraction, the kernels' float) */
    int64_t wrong = 0, not_dropout = 0;
    double scale = mode == KN_NOISE_GAUSSIAN ? p : mode == KN_NOISE_GAUSSIAN_DROPOUT ? sqrt(p / (1.0 - p)) : 1.0;
    for (int64_t i = 0; i < N; i++) {
        double v = mode == KN_NOISE_GAUSSIAN ? (double)y[i] - x[i]
                   : mode == KN_NOISE_GAUSSIAN_DROPOUT ? (double)y[i] / x[i] - 1.0 : y[i];
        s1 += v, s2 += v * v;
        within1 += fabs(v) <= scale, within2 += fabs(v) <= 2 * scale;
        if (mode != KN_NOISE_ALPHA_DROPOUT) continue;
        x1 += x[i], x2 += (double)x[i] * x[i];
        bool out = y[i] == dropped_value;
        replaced += out;
        wrong += !out && y[i] != c.p * x[i] + c.b;
        not_dropout += out != (drop[i] == 0.0f);
    }
    double mean = s1 / N, var = s2 / N - mean * mean, sd = sqrt(var);
    if (mode != KN_NOISE_ALPHA_DROPOUT) { /* v = scale z, z ~ N(0, 1) */
        near("mean", mode, mean, 0.0, scale / sqrt(N));
        near("standard deviation", mode, sd, scale, scale / sqrt(2.0 * N));
        double p1 = 0.6826894921370859, p2 = 0.9544997361036416; /* P(|z| <= 1), P(|z| <= 2) */
        near("fraction within 1 sd", mode, within1 / N, p1, sqrt(p1 * (1 - p1) / N));
        if (mode == KN_NOISE_GAUSSIAN) near("fraction within 2 sd", mode, within2 / N, p2, sqrt(p2 * (1 - p2) / N));
        return;
    }
    for (int64_t i = 0; i < N; i++) {
        double d = y[i] - mean;
        s3 += d * d, s4 += d * d * d * d;
    }
    printf("  %-16s input mean %.5f variance %.5f\n", mode_name[mode], x1 / N, x2 / N - (x1 / N) * (x1 / N));
    near("mean", mode, mean, 0.0, sqrt(var / N));
    near("variance", mode, s3 / N, 1.0, sqrt((s4 / N - var * var) / N));
    near("fraction replaced", mode, replaced / N, p, sqrt(p * (1.0 - p) / N));
    CHECK(wrong == 0, "%s: %lld kept elements are not a x + b", mode_name[mode], (long long)wrong);
    CHECK(not_dropout == 0, "%s: %lld elements dropped unlike dropout's mask of the same key", mode_name[mode],
          (long long)not_dropout);
}

/* Every element against the double reference from the draws under key; the gradient of sum(y). */
static void check_elements(int mode, float p, uint64_t key, const float *x, const float *y, const float *grad) {
    double s = mode == KN_NOISE_GAUSSIAN ? p : sqrt(p / (1.0 - p)), worst = 0;
    double alpha_p = -KN_NOISE_SELU_ALPHA * KN_NOISE_SELU_SCALE;
    double a = 1.0 / sqrt((1.0 - p) * (1.0 + p * alpha_p * alpha_p)), b = -a * alpha_p * p;
    int64_t bad = 0, bad_grad = 0;
    for (int64_t i = 0; i < N; i++) {
        double ref, g;
        if (mode == KN_NOISE_ALPHA_DROPOUT) {
            bool kept = ref_kept(key, i, p);
            ref = a * (kept ? x[i] : alpha_p) + b;
            g = kept ? (float)a : 0.0; /* dy = 1: exactly a */
            bad_grad += grad[i] != (float)g;
        } else {
            double z = ref_normal(key, i);
            ref = mode == KN_NOISE_GAUSSIAN ? x[i] + s * z : x[i] * (1.0 + s * z);
            g = mode == KN_NOISE_GAUSSIAN ? 1.0 : (double)y[i] / x[i]; /* the forward's factor */
            bad_grad += mode == KN_NOISE_GAUSSIAN ? grad[i] != 1.0f : fabs(grad[i] - g) > 1e-6 * (1 + fabs(g));
        }
        double e = fabs(y[i] - ref) / (1 + fabs(ref));
        bad += !(e <= 1e-5);
        if (e > worst || e != e) worst = e;
    }
    printf("  %-16s against the reference: worst %.2e (1 + |y|) of %d elements\n", mode_name[mode], worst, N);
    CHECK(bad == 0, "%s: %lld elements differ from the reference (worst %.2e)", mode_name[mode], (long long)bad, worst);
    CHECK(bad_grad == 0, "%s: %lld gradient elements wrong", mode_name[mode], (long long)bad_grad);
}

/* One mode at parameter p: x (ROWS, COLS) a parameter (so the graph trains), y = noise(x)
 * kept, loss sum(y); alpha dropout also keeps a dropout of x with y's key. */
static void mode_case(int mode, float p) {
    kn_ctx *ctx = new_ctx();
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *x = kn_param(g, (int64_t[]){ROWS, COLS}, 2, KN_INIT_ZEROS, "x");
    kn_tensor *y = noise(g, x, mode, p), *drop = NULL;
    kn_graph_keep(g, y);
    if (y && mode == KN_NOISE_ALPHA_DROPOUT) kn_graph_keep(g, drop = kn__dropout_keyed(g, x, p, y->iparam[0], 0, 0));
    kn_status st = kn_graph_backward(g, kn__sum(g, y));
    if (!st) st = kn_graph_compile(g, 1, false);
    CHECK(!st && y, "%s graph: %s", mode_name[mode], kn_last_error(ctx));
    float *first = malloc((size_t)N * sizeof *first);
    if (st || !y || !first) goto done;
    float *xs = x->data;
    for (int64_t i = 0; i < N; i++) xs[i] = input(mode, i);
    kn_graph_upload(g);
    const float *out = kn_tensor_data(y);
    /* forward and backward, training (no optimizer: the step stays) */
    CHECK(kn_graph_run(g) == KN_OK && kn_graph_sync(g) == KN_OK, "%s run: %s", mode_name[mode], kn_last_error(ctx));
    uint32_t threshold;
    float scale;
    uint64_t key = kn__cpu_dropout_key(g, (uint32_t)y->iparam[0], 0.0f, &threshold, &scale);
    printf("%s %g over (%d, %d):\n", mode_name[mode], (double)p, ROWS, COLS);
    check_elements(mode, p, key, xs, out, x->grad->data);
    check_statistics(mode, p, xs, out, drop ? kn_tensor_data(drop) : NULL);
    memcpy(first, out, (size_t)N * sizeof *first);
    kn__graph_run_phases(g, KN_PHASE_FORWARD | KN_RUN_TRAINING);
    CHECK(memcmp(first, out, (size_t)N * sizeof *first) == 0, "%s: another run at the same step draws others",
          mode_name[mode]);
    g->step++; /* (what an update does) */
    kn__graph_run_phases(g, KN_PHASE_FORWARD | KN_RUN_TRAINING);
    int64_t differ = 0;
    for (int64_t i = 0; i < N; i++) differ += out[i] != first[i];
    /* normals: every element moves; alpha dropout: those whose keep decision changes, 2 r (1 - r) */
    double want = mode == KN_NOISE_ALPHA_DROPOUT ? p * (1.0 - p) : 0.99;
    CHECK((double)differ / N > want, "%s: the next step changes %lld of %d elements (want over %.2f)", mode_name[mode],
          (long long)differ, N, want);
    kn__graph_run_phases(g, KN_PHASE_FORWARD);
    CHECK(memcmp(xs, out, (size_t)N * sizeof *first) == 0, "%s: evaluating is not the identity", mode_name[mode]);
done:
    free(first);
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

/* Without backward (a prediction graph), asked to train: the identity (simplify drops it,
 * or the kernel copies when the caller holds it). */
static void no_backward(int mode) {
    kn_ctx *ctx = new_ctx();
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){3, 50}, 2, "x");
    kn_tensor *y = noise(g, x, mode, 0.5f);
    kn_graph_keep(g, y);
    kn_status st = kn_graph_compile(g, 1, false);
    CHECK(!st && y, "%s without backward: %s", mode_name[mode], kn_last_error(ctx));
    if (!st && y) {
        for (int i = 0; i < 150; i++) ((float *)x->data)[i] = (float)i - 70.5f;
        kn__graph_run_phases(g, KN_PHASE_FORWARD | KN_RUN_TRAINING);
        CHECK(memcmp(kn_tensor_data(y), x->data, 150 * sizeof(float)) == 0, "%s without backward: not the identity",
              mode_name[mode]);
    }
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

/* Mixed precision (bf16): half_support.c lists no noise, so the precision pass keeps each
 * mode's node, its input and its gradient f32, and a training step runs to a finite loss. On
 * the CPU the first layer's activations still store half; on CUDA none do here (the f32
 * gradients out of the noise meet cuBLASLt's one type per product, precision.c, which
 * turns every product's operands back to f32 in so small a network). */
static void mixed_precision(int mode) {
    kn_ctx *ctx = new_ctx();
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_graph_set_precision(g, KN_PRECISION_BF16);
    g->half_inputs = true; /* (x half, as a model's loader stores it: the GPU's products then half) */
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){8, 12}, 2, "x");
    kn_tensor *w1 = kn_param(g, (int64_t[]){12, 16}, 2, KN_INIT_GLOROT_UNIFORM, "w1");
    kn_tensor *w2 = kn_param(g, (int64_t[]){16, 16}, 2, KN_INIT_GLOROT_UNIFORM, "w2");
    kn_tensor *w3 = kn_param(g, (int64_t[]){16, 3}, 2, KN_INIT_GLOROT_UNIFORM, "w3");
    kn_tensor *h = kn_act(g, kn_matmul(g, x, w1), KN_TANH); /* (read by a product: half) */
    h = noise(g, kn_act(g, kn_matmul(g, h, w2), KN_TANH), mode, 0.3f);
    kn_tensor *loss = kn__sum(g, kn_act(g, kn_matmul(g, h, w3), KN_TANH));
    kn_graph_keep(g, loss);
    kn_status st = kn_graph_backward(g, loss);
    if (!st) st = kn_graph_compile(g, 1, true);
    CHECK(!st && h, "%s in bf16: %s", mode_name[mode], kn_last_error(ctx));
    if (!st && h) {
        float xs[96];
        for (int i = 0; i < 96; i++) xs[i] = (float)sin(0.7 * i);
        kn__tensor_store_f32(x, 0, xs, 96);
        int half = 0, noise_f32 = 0, nodes = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            const kn_tensor *t = g->nodes[i];
            half += t->dtype == KN_BF16;
            if (t->op != KN_OP_NOISE) continue;
            nodes++;
            noise_f32 += t->dtype == KN_F32 && t->src[0]->dtype == KN_F32;
        }
        st = kn_graph_run(g);
        if (!st) st = kn_graph_sync(g);
        float l = *(const float *)kn_tensor_data(loss);
        printf("%s in bf16: %d noise nodes f32, %d tensors bf16, loss %g\n", mode_name[mode], noise_f32, half,
               (double)l);
        CHECK(!st && isfinite(l) && nodes > 0 && noise_f32 == nodes &&
                  (half > 0 || device == KN_DEVICE_CUDA),
              "%s in bf16: %d of %d noise nodes f32, %d half tensors, loss %g: %s", mode_name[mode], noise_f32, nodes,
              half, (double)l, kn_last_error(ctx));
    }
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

static void bad_parameters(void) {
    static const struct {
        int mode;
        float p;
    } bad[] = {{0, -0.1f}, {0, NAN}, {0, INFINITY}, {1, -0.1f}, {1, 1.0f}, {1, NAN}, {2, -1e-3f}, {2, 1.5f}, {2, NAN}};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        kn_ctx *ctx = new_ctx();
        kn_graph *g;
        kn_graph_new(ctx, &g);
        kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){2, 3}, 2, "x");
        kn_tensor *y = noise(g, x, bad[k].mode, bad[k].p);
        CHECK(y == NULL && kn_graph_status(g) == KN_ERR_INVALID_ARGUMENT &&
                  strstr(kn_last_error(ctx), mode_name[bad[k].mode]) != NULL,
              "%s %g: %s", mode_name[bad[k].mode], (double)bad[k].p, kn_last_error(ctx));
        if (k == 0 || k == 4) printf("refused: %s\n", kn_last_error(ctx));
        kn_graph_free(g);
        kn_ctx_free(ctx);
    }
}

static void run_all(void) {
    mode_case(KN_NOISE_GAUSSIAN, 0.5f);
    mode_case(KN_NOISE_GAUSSIAN_DROPOUT, 0.3f);
    mode_case(KN_NOISE_ALPHA_DROPOUT, 0.2f);
    mode_case(KN_NOISE_ALPHA_DROPOUT, 0.55f);
    for (int m = 0; m < 3; m++) no_backward(m), mixed_precision(m);
    bad_parameters();
}

/* The layers (gaussian_noise, gaussian_dropout, alpha_dropout) in models on digits: trained,
 * saved and loaded bit for bit (the identity when predicting), their descriptions written
 * and read back; and the errors. */
#define DIGITS_TAIL "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.005}}"
static void test_layers(void) {
    digits_case("gaussian_noise 0.1 -> dense 64 relu -> gaussian_dropout 0.2 -> softmax",
                "{\"input_shape\": [64], \"layers\": [{\"type\": \"gaussian_noise\", \"stddev\": 0.1}, "
                "{\"type\": \"dense\", \"units\": 64, \"activation\": \"relu\"}, {\"type\": \"gaussian_dropout\", "
                "\"rate\": 0.2}, {\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}], " DIGITS_TAIL,
                KN_PRECISION_FP32, 0.9, 20);
    digits_case("dense 64 selu (lecun_normal) -> alpha_dropout 0.1 -> softmax",
                "{\"input_shape\": [64], \"layers\": [{\"type\": \"dense\", \"units\": 64, \"activation\": "
                "\"selu\", \"kernel_initializer\": \"lecun_normal\"}, {\"type\": \"alpha_dropout\", \"rate\": "
                "0.1}, {\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}], " DIGITS_TAIL,
                KN_PRECISION_FP32, 0.9, 20);
    kn_ctx *ctx = new_ctx();
    static const description_case bad[] = {
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"gaussian_noise\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].stddev: missing"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"gaussian_noise\", \"stddev\": -1}, {\"type\": "
         "\"dense\", \"units\": 2}]}",
         "layers[0].stddev: expected a number >= 0"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"gaussian_noise\", \"rate\": 0.1}, {\"type\": "
         "\"dense\", \"units\": 2}]}",
         "layers[0]: unknown key 'rate'"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"gaussian_dropout\", \"rate\": 1}, {\"type\": "
         "\"dense\", \"units\": 2}]}",
         "layers[0].rate: expected a number in [0, 1)"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"alpha_dropout\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].rate: missing"},
    };
    check_descriptions(ctx, bad, sizeof bad / sizeof bad[0]);
    kn_model *m = build(ctx, "{\"input_shape\": [4], \"layers\": [{\"type\": \"gaussian_noise\", \"stddev\": 0.5}, "
                             "{\"type\": \"alpha_dropout\", \"rate\": 0.2}, {\"type\": \"dense\", \"units\": 2}]}");
    char summary[256] = "";
    if (m) kn_model_summary(m, summary, sizeof summary);
    CHECK(strstr(summary, "gaussian_noise 0.5 -> alpha_dropout 0.2 -> dense"), "summary: %s", summary);
    CHECK(m && kn_model_add_gaussian_dropout(m, -0.1f) != KN_OK, "a negative gaussian_dropout rate from C");
    kn_model_free(m);
    kn_ctx_free(ctx);
}

int main(void) {
    int rc = run_on_test_device("test_noise", &device, run_all);
    if (rc >= 0) return rc;
    run_all();
    test_layers();
    return checks_done("noise");
}
