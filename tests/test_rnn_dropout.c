/* test_rnn_dropout.c — Keras's dropout and recurrent_dropout on the recurrent layers
 * (kn_rnn_dropout) and spatial dropout (kn_spatial_dropout, spatial_dropout1d/2d/3d):
 *
 * - spatial dropout's mask: one draw per (sample, channel), the same at every step or
 *   position, 0 or 1 / (1 - rate), about `rate` of them dropped, the same draws within a
 *   step and others at the next, nothing dropped when evaluating;
 * - recurrent dropout against a reference written here in double from the formulas (Keras
 *   2's cells, the products reading h_prev times the row's keep factors): the factors are
 *   read back from the states the products read (kept at the RNN node), checked to be one
 *   per (row, unit) for the whole sequence, 0 or 1 / (1 - rate), then the sequence
 *   recomputed with them; evaluating, the sequence of the factors 1;
 * - models: the layers' options trained on digits (8 steps of 8), saved and loaded, their
 *   description written and read back, and the errors.
 * The gradients are finite-difference checked in test_gradcheck.c. KILN_TEST_DEVICE=cuda
 * runs the graph checks on that device. Run from the source root. */
#define _DEFAULT_SOURCE /* mkdtemp (model_test.h) */
#include "graph/graph.h"
#include "nn/model.h"
#include "backend/rnn_cell.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model_test.h"

static kn_device device = KN_DEVICE_CPU;

static kn_ctx *new_ctx(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 5, .device = device}, &ctx);
    return ctx;
}

/* ------------------------------------------------------------- spatial dropout */

/* x (N, S1, S2, C) of ones (S2 = 0: (N, S1, C)), a parameter so the graph trains (compile.c:
 * only such graphs drop). */
static void spatial_case(int64_t N, int64_t s1, int64_t s2, int64_t C, float rate) {
    kn_ctx *ctx = new_ctx();
    kn_graph *g;
    kn_graph_new(ctx, &g);
    int64_t shape[4] = {N, s1, s2 ? s2 : C, C}, steps = s1 * (s2 ? s2 : 1);
    kn_tensor *x = kn_param(g, shape, s2 ? 4 : 3, KN_INIT_ONES, "x");
    kn_tensor *y = kn_spatial_dropout(g, x, rate);
    kn_graph_keep(g, y);
    kn_status st = kn_graph_backward(g, kn__sum(g, y));
    if (!st) st = kn_graph_compile(g, 1, false);
    CHECK(!st && y, "spatial dropout graph: %s", kn_last_error(ctx));
    if (st || !y) goto done;
    int64_t n = N * steps * C, zeros = 0, bad = 0, shared = 0;
    for (int64_t i = 0; i < n; i++) ((float *)x->data)[i] = 1.0f;
    kn_graph_upload(g); /* (a device graph's parameters: the host's values to it) */
    const float *out = kn_tensor_data(y);
    float *first = malloc((size_t)n * sizeof *first);
    kn__graph_run_phases(g, KN_PHASE_FORWARD | KN_RUN_TRAINING);
    float scale = 1.0f / (1.0f - rate);
    for (int64_t r = 0; r < N; r++)
        for (int64_t c = 0; c < C; c++) {
            float v = out[r * steps * C + c];
            zeros += v == 0.0f;
            bad += v != 0.0f && fabsf(v - scale) > 1e-6f;
            for (int64_t s = 1; s < steps; s++) shared += out[(r * steps + s) * C + c] == v;
        }
    double dropped = (double)zeros / (double)(N * C);
    printf("spatial dropout %.2f over (%lld, %lld steps, %lld): %.3f of %lld channels dropped, each the same at every "
           "step: %s\n", (double)rate, (long long)N, (long long)steps, (long long)C, dropped, (long long)(N * C),
           shared == N * C * (steps - 1) ? "yes" : "no");
    /* N C independent draws: 3 standard deviations */
    double sd = sqrt(rate * (1.0 - rate) / (double)(N * C));
    CHECK(fabs(dropped - rate) < 3 * sd + 1e-3 && bad == 0, "spatial dropout: dropped %.4f (want %.2f), %lld not 0 or "
          "1/(1-rate)", dropped, (double)rate, (long long)bad);
    CHECK(shared == N * C * (steps - 1), "spatial dropout: %lld of %lld later steps repeat the first's draw",
          (long long)shared, (long long)(N * C * (steps - 1)));
    for (int64_t i = 0; first && i < n; i++) first[i] = out[i];
    kn__graph_run_phases(g, KN_PHASE_FORWARD | KN_RUN_TRAINING);
    bool same = first != NULL;
    for (int64_t i = 0; same && i < n; i++) same = out[i] == first[i];
    CHECK(same, "spatial dropout: another run at the same step draws another mask");
    g->step++; /* (what an update does) */
    kn__graph_run_phases(g, KN_PHASE_FORWARD | KN_RUN_TRAINING);
    int64_t differ = 0;
    for (int64_t i = 0; first && i < n; i += steps * C / (s2 ? s2 : 1)) differ += out[i] != first[i];
    CHECK(differ > 0, "spatial dropout: the next step's mask repeats this one's");
    kn__graph_run_phases(g, KN_PHASE_FORWARD);
    bool ones = true;
    for (int64_t i = 0; i < n; i++) ones = ones && out[i] == 1.0f;
    CHECK(ones, "spatial dropout: evaluating drops nothing");
    free(first);
done:
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

static void test_spatial(void) {
    spatial_case(48, 7, 0, 24, 0.3f);  /* a sequence (steps, channels): SpatialDropout1D */
    spatial_case(32, 3, 5, 16, 0.5f);  /* an image (height, width, channels): SpatialDropout2D */
    spatial_case(40, 9, 0, 13, 0.15f); /* rows not a multiple of 4 elements (the draws' groups) */
}

/* ------------------------------------------------------------- recurrent dropout */

static double sigm(double z) { return 1.0 / (1.0 + exp(-z)); }

/* One step of Keras's cell in double for row r, from the input term xw (G H: x W + b) and the
 * state the product reads hd (h_prev times the keep factors): h (and c) in place. U (H, G H),
 * br: a gru's recurrent bias (G H). */
static void ref_step(kn_rnn_cell cell, int64_t H, const double *xw, const double *hd, const float *U, const float *br,
                     double *h, double *c) {
    int64_t G = cell == KN_RNN_LSTM ? 4 : cell == KN_RNN_GRU ? 3 : 1, GH = G * H;
    double r[4 * 64];
    for (int64_t q = 0; q < GH; q++) {
        double v = br ? br[q] : 0.0;
        for (int64_t k = 0; k < H; k++) v += hd[k] * U[k * GH + q];
        r[q] = v;
    }
    for (int64_t j = 0; j < H; j++) {
        if (cell == KN_RNN_SIMPLE) {
            h[j] = tanh(xw[j] + r[j]);
        } else if (cell == KN_RNN_LSTM) {
            double i = sigm(xw[j] + r[j]), f = sigm(xw[H + j] + r[H + j]), gg = tanh(xw[2 * H + j] + r[2 * H + j]);
            double o = sigm(xw[3 * H + j] + r[3 * H + j]);
            c[j] = f * c[j] + i * gg;
            h[j] = o * tanh(c[j]);
        } else { /* reset_after; the update mixes the undropped h_prev */
            double z = sigm(xw[j] + r[j]), rg = sigm(xw[H + j] + r[H + j]);
            double n = tanh(xw[2 * H + j] + rg * r[2 * H + j]);
            h[j] = z * h[j] + (1.0 - z) * n;
        }
    }
}

/* The RNN node (the one KN_OP_RNN) of g. */
static kn_tensor *rnn_node(kn_graph *g) {
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == KN_OP_RNN) return g->nodes[i];
    return NULL;
}

/* A sequence of `cell` (N rows, T steps, F features, H units) with recurrent dropout `rate`
 * against ref_step: training (the factors read back) and evaluating (factors 1). */
static void recurrent_case(const char *what, kn_rnn_cell cell, bool reverse, float rate) {
    enum { N = 24, T = 5, F = 3, H = 16 };
    int64_t G = cell == KN_RNN_LSTM ? 4 : cell == KN_RNN_GRU ? 3 : 1, GH = G * H;
    kn_ctx *ctx = new_ctx();
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){N, T, F}, 3, "x");
    kn_tensor *w = kn_param(g, (int64_t[]){F, GH}, 2, KN_INIT_GLOROT_UNIFORM, "kernel");
    kn_tensor *u = kn_param(g, (int64_t[]){H, GH}, 2, KN_INIT_ORTHOGONAL, "recurrent_kernel");
    kn_tensor *b = cell == KN_RNN_GRU ? kn_param(g, (int64_t[]){2, GH}, 2, KN_INIT_ZEROS, "bias")
                                      : kn_param(g, (int64_t[]){GH}, 1, KN_INIT_ZEROS, "bias"); /* (values below) */
    unsigned flags = KN_RNN_RETURN_SEQUENCES | (reverse ? KN_RNN_GO_BACKWARDS : 0u);
    kn_tensor *y = kn_rnn_dropout(g, cell, x, w, u, b, KN_TANH, KN_SIGMOID, flags, NULL, 0.0f, rate);
    kn_tensor *states = rnn_node(g);
    kn_graph_keep(g, y);
    if (states) kn_graph_keep(g, states);
    kn_status st = kn_graph_backward(g, kn__sum(g, kn_mul(g, y, y)));
    if (!st) st = kn_graph_compile(g, N, false);
    CHECK(!st && y && states, "%s graph: %s", what, kn_last_error(ctx));
    if (st || !y || !states) goto done;
    float *xv = kn_tensor_data(x), *wv = w->data, *uv = u->data, *bv = b->data;
    for (int64_t i = 0; i < N * T * F; i++) xv[i] = (float)sin(0.7 * (double)i + 0.3) * 1.5f;
    for (int64_t i = 0; i < F * GH; i++) wv[i] = 0.6f * (float)sin(1.3 * (double)i + 0.5);
    for (int64_t i = 0; i < H * GH; i++) uv[i] = 0.4f * (float)cos(0.9 * (double)i + 0.1);
    for (int64_t i = 0; i < (cell == KN_RNN_GRU ? 2 : 1) * GH; i++) bv[i] = 0.1f * (float)cos((double)i);
    kn_graph_upload(g);
    /* the input term of every (row, step), as the graph's product gives it: x W + b */
    const float *bx = bv, *br = cell == KN_RNN_GRU ? bv + GH : NULL;
    double *xw = malloc((size_t)(N * T * GH) * sizeof *xw);
    for (int64_t i = 0; xw && i < N * T; i++)
        for (int64_t q = 0; q < GH; q++) {
            double v = bx[q];
            for (int64_t k = 0; k < F; k++) v += (double)xv[i * F + k] * wv[k * GH + q];
            xw[i * GH + q] = v;
        }
    int64_t W = states->shape[1], hm = kn__rnn_hm_offset(cell, H, T), h0 = reverse ? T : 0;
    CHECK(W == kn__rnn_width(cell, H, T, 1), "%s: states row %lld wide", what, (long long)W);
    const float *out = kn_tensor_data(y), *sv = kn_tensor_data(states);
    for (int pass = 0; xw && pass < 2; pass++) {
        bool training = pass == 0;
        kn__graph_run_phases(g, KN_PHASE_FORWARD | (training ? KN_RUN_TRAINING : 0));
        /* each (row, unit)'s factor: masked state / state, which must be one value at every step */
        double m[N * H], scale = 1.0 / (1.0 - rate);
        int64_t zeros = 0, inconsistent = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t j = 0; j < H; j++) {
                double f = NAN;
                for (int64_t t = 0; t <= T; t++) {
                    if (t == h0) {
                        inconsistent += sv[n * W + hm + t * H + j] != 0.0f; /* the zero state's copy */
                        continue;
                    }
                    double hv = sv[n * W + t * H + j], hmv = sv[n * W + hm + t * H + j];
                    if (fabs(hv) < 1e-3) continue;
                    double ratio = hmv / hv;
                    if (isnan(f)) f = ratio;
                    else inconsistent += fabs(ratio - f) > 1e-5 * scale;
                }
                if (isnan(f)) f = 1.0; /* (never seen on these inputs) */
                bool ok = training ? fabs(f) < 1e-6 || fabs(f - scale) < 1e-5 * scale : fabs(f - 1.0) < 1e-6;
                inconsistent += !ok;
                m[n * H + j] = fabs(f) < 1e-6 ? 0.0 : training ? scale : 1.0;
                zeros += m[n * H + j] == 0.0;
            }
        CHECK(inconsistent == 0, "%s %s: %lld states do not read h times one factor per (row, unit)", what,
              training ? "training" : "evaluating", (long long)inconsistent);
        if (training) {
            double dropped = (double)zeros / (N * H), sd = sqrt(rate * (1.0 - rate) / (N * H));
            CHECK(fabs(dropped - rate) < 3 * sd + 1e-3, "%s: dropped %.3f of the units (want %.2f)", what, dropped,
                  (double)rate);
        }
        /* the sequence again in double with those factors */
        double worst = 0;
        for (int64_t n = 0; n < N; n++) {
            double h[H] = {0}, c[H] = {0}, hd[H] = {0};
            for (int64_t s = 0; s < T; s++) {
                int64_t t = reverse ? T - 1 - s : s;
                for (int64_t j = 0; j < H; j++) hd[j] = h[j] * m[n * H + j];
                ref_step(cell, H, xw + (n * T + t) * GH, hd, uv, br, h, c);
                for (int64_t j = 0; j < H; j++) worst = fmax(worst, fabs(h[j] - out[(n * T + t) * H + j]));
            }
        }
        printf("%s, %s: sequence within %.2g of the reference%s\n", what, training ? "training" : "evaluating", worst,
               training ? "" : " (no dropout)");
        CHECK(worst < 2e-5, "%s %s: sequence differs from the reference by %.3g", what,
              training ? "training" : "evaluating", worst);
    }
    free(xw);
done:
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

static void test_recurrent(void) {
    recurrent_case("lstm recurrent_dropout 0.3", KN_RNN_LSTM, false, 0.3f);
    recurrent_case("gru recurrent_dropout 0.5, go_backwards", KN_RNN_GRU, true, 0.5f);
    recurrent_case("simple_rnn recurrent_dropout 0.2", KN_RNN_SIMPLE, false, 0.2f);
    recurrent_case("gru recurrent_dropout 0.25", KN_RNN_GRU, false, 0.25f);
}

/* ------------------------------------------------------------- models */

#define DIGITS_TAIL "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}"

static void test_models(bool first_only) {
    digits_case("lstm 32, dropout 0.2, recurrent_dropout 0.2",
                "{\"input_shape\": [8, 8], \"layers\": [{\"type\": \"lstm\", \"units\": 32, \"dropout\": 0.2, "
                "\"recurrent_dropout\": 0.2}, {\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}], "
                DIGITS_TAIL, KN_PRECISION_FP32, 0.85, 12);
    if (first_only) return;
    digits_case("spatial_dropout1d 0.1 -> bidirectional gru 16 (recurrent_dropout 0.3, sequences) -> mean",
                "{\"input_shape\": [8, 8], \"layers\": [{\"type\": \"spatial_dropout1d\", \"rate\": 0.1}, "
                "{\"type\": \"bidirectional\", \"layer\": {\"type\": \"gru\", \"units\": 16, \"recurrent_dropout\": 0.3, "
                "\"return_sequences\": true}}, {\"type\": \"global_average_pool1d\"}, "
                "{\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}], " DIGITS_TAIL,
                KN_PRECISION_FP32, 0.85, 12);
    digits_case("reshape (8, 8, 1) -> conv2d -> spatial_dropout2d 0.2",
                "{\"input_shape\": [64], \"layers\": [{\"type\": \"reshape\", \"target_shape\": [8, 8, 1]}, "
                "{\"type\": \"conv2d\", \"filters\": 8, \"kernel_size\": 3, \"activation\": \"relu\"}, "
                "{\"type\": \"spatial_dropout2d\", \"rate\": 0.2}, {\"type\": \"flatten\"}, "
                "{\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}], " DIGITS_TAIL,
                KN_PRECISION_FP32, 0.85, 6);

    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, "{\"input_shape\": [8, 8], \"layers\": [{\"type\": \"spatial_dropout1d\", \"rate\": 0.1}, "
                             "{\"type\": \"simple_rnn\", \"units\": 4, \"dropout\": 0.5}, {\"type\": \"dense\", "
                             "\"units\": 2}]}");
    char summary[256] = "";
    if (m) kn_model_summary(m, summary, sizeof summary);
    CHECK(strstr(summary, "spatial_dropout1d 0.1 -> simple_rnn"), "summary: %s", summary);
    kn_model_free(m);

    static const description_case bad[] = {
        {"{\"input_shape\": [8], \"layers\": [{\"type\": \"spatial_dropout1d\", \"rate\": 0.1}, {\"type\": \"dense\", "
         "\"units\": 2}]}",
         "layers[0].type: spatial_dropout1d needs a (steps, channels) input, got 1 dimension"},
        {"{\"input_shape\": [8, 8], \"layers\": [{\"type\": \"spatial_dropout2d\", \"rate\": 0.1}, {\"type\": "
         "\"dense\", \"units\": 2}]}",
         "layers[0].type: spatial_dropout2d needs a (height, width, channels) input, got 2 dimensions"},
        {"{\"input_shape\": [8, 8], \"layers\": [{\"type\": \"spatial_dropout1d\", \"rate\": 1}, {\"type\": "
         "\"dense\", \"units\": 2}]}",
         "layers[0].rate: expected a number in [0, 1)"},
        {"{\"input_shape\": [8, 8], \"layers\": [{\"type\": \"spatial_dropout1d\", \"rate\": 0.2, \"noise_shape\": 1}, "
         "{\"type\": \"dense\", \"units\": 2}]}",
         "layers[0]: unknown key 'noise_shape'"},
        {"{\"input_shape\": [8, 8], \"layers\": [{\"type\": \"lstm\", \"units\": 3, \"recurrent_dropout\": 1.5}, "
         "{\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].recurrent_dropout: 1.5 is out of range [0, 1]"},
        {"{\"input_shape\": [8, 8], \"layers\": [{\"type\": \"bidirectional\", \"layer\": {\"type\": \"gru\", "
         "\"units\": 3, \"dropout\": 1}}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].layer.dropout: expected a number in [0, 1)"},
    };
    check_descriptions(ctx, bad, sizeof bad / sizeof bad[0]);
    /* from C: out-of-range rates refused, the model left as it was */
    kn_model *c = NULL;
    kn_status st = kn_model_new_sequential(ctx, (int64_t[]){8, 8}, 2, &c);
    kn_rnn_opts o = kn_rnn_defaults(KN_RNN_LSTM, 4);
    o.recurrent_dropout = -0.5f;
    CHECK(!st && kn_model_add_rnn(c, &o) == KN_ERR_INVALID_ARGUMENT && c->n_layers == 0,
          "a negative recurrent_dropout: %s", kn_last_error(ctx));
    CHECK(kn_model_add_spatial_dropout(c, 0.5f) == KN_OK && c->n_layers == 1, "spatial dropout from C: %s",
          kn_last_error(ctx));
    kn_model_free(c);
    kn_ctx_free(ctx);
}

/* On a device: the masks, the recurrent references and the first digits model only (the
 * other two models' ops are test_cuda_ops' cases; on the CUDA emulator they took ~25 s of
 * the CI's run). */
static void on_device(void) {
    test_spatial();
    test_recurrent();
    test_models(true);
}

int main(void) {
    int rc = run_on_test_device("test_rnn_dropout", &device, on_device);
    if (rc >= 0) return rc;
    test_spatial();
    test_recurrent();
    test_models(false);
    return checks_done("recurrent dropout");
}
