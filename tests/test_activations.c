/* test_activations.c — every activation's value and derivative against PyTorch's, at 20
 * inputs from -8 to 8 (saturated ends included), through a graph: x (a parameter) ->
 * activation -> sum, so the derivative comes from autodiff and the backend's gradient
 * kernel (from the output or the input, as kn__act_grad_uses_output says), with the graph
 * optimizer's passes on and off. Reference: tests/golden/activations.txt, recorded by
 * tests/golden/make_activations.py. Also: the JSON names (aliases "swish", "hard_swish")
 * and the error that lists them. */
#include "check.h"
#include "core/core.h"
#include "golden.h"
#include "graph/graph.h"

#include <math.h>

#define N_X 20

/* |got - want| <= 2e-6 + 2e-6 |want|: float rounding of a few operations (exp(8) = 2981
 * carries ~2e-4 absolute); the references are doubles. */
static bool close_to(double got, double want) { return fabs(got - want) <= 2e-6 + 2e-6 * fabs(want); }

static void check_activation(kn_activation act, const double *xs, unsigned passes) {
    const char *name = kn_activation_name(act);
    double want_y[N_X], want_dy[N_X];
    char key[64];
    snprintf(key, sizeof key, "%s_grad", name);
    int ny = get(name, want_y, N_X), nd = get(key, want_dy, N_X);
    CHECK(ny == N_X && nd == N_X, "%s: golden record missing (%d, %d values)", name, ny, nd);
    if (ny != N_X || nd != N_X) return;

    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 1}, &ctx);
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *x = kn_param(g, (int64_t[]){N_X}, 1, KN_INIT_ZEROS, "x");
    g->build_phase = KN_PHASE_LOSS;
    kn_tensor *y = kn_act(g, x, act);
    kn_tensor *loss = kn__sum(g, y);
    g->build_phase = 0;
    kn_graph_keep(g, y);
    kn_graph_keep(g, loss);
    kn_status st = kn_graph_backward(g, loss);
    if (!st) st = kn_graph_set_passes(g, passes);
    if (!st) st = kn_graph_compile(g, 1, false);
    CHECK(st == KN_OK, "%s: build failed: %s", name, kn_last_error(ctx));
    if (!st) {
        float *xd = kn_tensor_data(x);
        for (int i = 0; i < N_X; i++) xd[i] = (float)xs[i];
        st = kn_graph_run(g);
        CHECK(st == KN_OK, "%s: run failed: %s", name, kn_last_error(ctx));
    }
    if (!st) {
        const float *yd = kn_tensor_data(y), *gd = x->grad ? kn_tensor_data(x->grad) : NULL;
        CHECK(gd != NULL, "%s: x has no gradient", name);
        int bad = 0;
        for (int i = 0; gd && i < N_X; i++) {
            if (!close_to(yd[i], want_y[i]) && bad++ < 3)
                CHECK(0, "%s (passes %#x) at x = %g: %.9g, PyTorch %.9g", name, passes, xs[i], (double)yd[i], want_y[i]);
            if (!close_to(gd[i], want_dy[i]) && bad++ < 3)
                CHECK(0, "%s' (passes %#x) at x = %g: %.9g, PyTorch %.9g", name, passes, xs[i], (double)gd[i], want_dy[i]);
        }
    }
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

static void check_names(void) {
    kn_activation a;
    CHECK(kn_activation_parse("swish", &a) && a == KN_SILU, "swish is silu");
    CHECK(kn_activation_parse("hard_swish", &a) && a == KN_HARD_SILU, "hard_swish is hard_silu");
    for (int i = 0; i < KN_ACTIVATION_COUNT; i++)
        CHECK(kn_activation_parse(kn_activation_name((kn_activation)i), &a) && a == (kn_activation)i,
              "%s parses back", kn_activation_name((kn_activation)i));
    CHECK(!kn_activation_parse("swishy", &a), "an unknown name is refused");

    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1}, &ctx);
    kn_model *m = NULL;
    kn_spec spec;
    kn_status st = kn_model_from_json(
        ctx, "{\"input_shape\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 3, \"activation\": \"swishy\"}]}", NULL,
        &m, &spec);
    const char *msg = kn_last_error(ctx);
    CHECK(st != KN_OK && strstr(msg, "layers[0].activation") && strstr(msg, "swishy") && strstr(msg, "hard_silu"),
          "unknown activation: field, name and the list expected: %s", msg);
    kn_model_free(m);
    m = NULL;
    st = kn_model_from_json(ctx,
                            "{\"input_shape\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 3, \"activation\": "
                            "\"swish\"}, {\"type\": \"activation\", \"activation\": \"mish\"}], \"loss\": \"mse\"}",
                            NULL, &m, &spec);
    CHECK(st == KN_OK, "swish and mish layers: %s", kn_last_error(ctx));
    kn_model_free(m);
    kn_ctx_free(ctx);
}

int main(void) {
    golden = read_all("tests/golden/activations.txt");
    CHECK(golden != NULL, "tests/golden/activations.txt missing (run from the repository root)");
    if (!golden) return 1;
    double xs[N_X];
    CHECK(get("x", xs, N_X) == N_X, "golden x missing");
    for (int a = KN_RELU; a < KN_ACTIVATION_COUNT; a++) {
        if (a == KN_SOFTMAX) continue; /* a row operation: test_gradcheck, test_golden */
        check_activation((kn_activation)a, xs, KN_PASS_ALL);
        check_activation((kn_activation)a, xs, KN_PASS_NONE);
    }
    check_names();
    free(golden);
    printf("test_activations: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
