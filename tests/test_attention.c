/* test_attention.c — Keras's MultiHeadAttention and the position embedding: three models
 * against PyTorch (tests/golden/attention.txt, make_attention.py: outputs, loss and every
 * parameter's gradient; model A's attention also pinned to torch.nn.MultiheadAttention's
 * layout there); the model-level gradient by finite differences; a small transformer
 * learning digits read a row at a time (8 steps of 8 pixels), saved, loaded and its
 * description read back; the C API with query, value and key as three inputs; parameter
 * shapes and initializers; and the errors. Run from the source root. KILN_TEST_DEVICE=cuda
 * (test_attention_cuda): the golden models and the finite differences on that device (77,
 * skipped, where it is not usable). */
#define _GNU_SOURCE
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "golden.h"
#include "model_test.h"
#include "golden_model.h"

static kn_device device = KN_DEVICE_CPU;

static kn_ctx *new_ctx(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 3, .device = device}, &ctx);
    return ctx;
}

/* ------------------------------------------------------------- PyTorch golden */

#define SPARSE_SGD "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"sgd\", \"learning_rate\": 0.1}}"
#define MHA_PARAMS(i) "multi_head_attention_" #i "/query/kernel", "multi_head_attention_" #i "/query/bias", \
    "multi_head_attention_" #i "/key/kernel", "multi_head_attention_" #i "/key/bias", \
    "multi_head_attention_" #i "/value/kernel", "multi_head_attention_" #i "/value/bias", \
    "multi_head_attention_" #i "/attention_output/kernel", "multi_head_attention_" #i "/attention_output/bias"

static const char *const MODEL_A =
    "{\"input_shape\": [5, 4], \"layers\": ["
    "{\"type\": \"position_embedding\"},"
    "{\"type\": \"multi_head_attention\", \"num_heads\": 2, \"key_dim\": 2},"
    "{\"type\": \"layer_normalization\"},"
    "{\"type\": \"global_average_pool1d\"},"
    "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}]," SPARSE_SGD;
static const char *const PARAMS_A[] = {"position_embedding_0/embeddings", MHA_PARAMS(0), "layer_normalization_0/gamma",
                                       "layer_normalization_0/beta", "dense_0/kernel", "dense_0/bias", NULL};

static const char *const MODEL_B =
    "{\"input_shape\": [6, 3], \"layers\": ["
    "{\"name\": \"proj\", \"type\": \"conv1d\", \"filters\": 4, \"kernel_size\": 1},"
    "{\"name\": \"keyp\", \"type\": \"conv1d\", \"filters\": 2, \"kernel_size\": 1, \"inputs\": \"input\"},"
    "{\"type\": \"multi_head_attention\", \"num_heads\": 3, \"key_dim\": 2, \"value_dim\": 3, \"output_shape\": 5,"
    " \"use_causal_mask\": true, \"inputs\": [\"proj\", \"input\", \"keyp\"]},"
    "{\"type\": \"global_max_pool1d\"},"
    "{\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}]," SPARSE_SGD;
static const char *const PARAMS_B[] = {"conv1d_0/kernel", "conv1d_0/bias", "conv1d_1/kernel", "conv1d_1/bias",
                                       MHA_PARAMS(0), "dense_0/kernel", "dense_0/bias", NULL};

static const char *const MODEL_C =
    "{\"input_shape\": [5, 4], \"layers\": ["
    "{\"name\": \"att\", \"type\": \"multi_head_attention\", \"num_heads\": 1, \"key_dim\": 3, \"use_bias\": false,"
    " \"use_causal_mask\": true},"
    "{\"type\": \"add\", \"inputs\": [\"att\", \"input\"]},"
    "{\"type\": \"layer_normalization\"},"
    "{\"type\": \"flatten\"},"
    "{\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}]," SPARSE_SGD;
static const char *const PARAMS_C[] = {"multi_head_attention_0/query/kernel", "multi_head_attention_0/key/kernel",
                                       "multi_head_attention_0/value/kernel",
                                       "multi_head_attention_0/attention_output/kernel", "layer_normalization_0/gamma",
                                       "layer_normalization_0/beta", "dense_0/kernel", "dense_0/bias", NULL};

static void test_golden(void) {
    golden = read_all("tests/golden/attention.txt");
    CHECK(golden != NULL, "cannot read tests/golden/attention.txt (run from the source root)");
    if (!golden) return;
    golden_model("A:", MODEL_A, PARAMS_A, 3, 5, 4, 3);
    golden_model("B:", MODEL_B, PARAMS_B, 2, 6, 3, 2);
    golden_model("C:", MODEL_C, PARAMS_C, 2, 5, 4, 2);
    free(golden);
    golden = NULL;
}

/* ------------------------------------------------------------- finite differences */

static void test_gradients(void) {
    model_gradcheck("position_embedding -> attention 2x3 causal -> mean",
                    "{\"input_shape\": [4, 3], \"layers\": ["
                    "{\"type\": \"position_embedding\"},"
                    "{\"type\": \"multi_head_attention\", \"num_heads\": 2, \"key_dim\": 3, \"value_dim\": 2,"
                    " \"use_causal_mask\": true, \"bias_initializer\": \"ones\"},"
                    "{\"type\": \"global_average_pool1d\"},"
                    "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
                    "\"loss\": \"sparse_categorical_crossentropy\"}",
                    12, 3);
    model_gradcheck("attention of a half to the other (two inputs) -> flatten",
                    "{\"input_shape\": [6, 2], \"layers\": ["
                    "{\"name\": \"q\", \"type\": \"conv1d\", \"filters\": 3, \"kernel_size\": 2, \"strides\": 2},"
                    "{\"name\": \"v\", \"type\": \"conv1d\", \"filters\": 2, \"kernel_size\": 3, \"inputs\": \"input\"},"
                    "{\"type\": \"multi_head_attention\", \"num_heads\": 1, \"key_dim\": 2, \"inputs\": [\"q\", \"v\"]},"
                    "{\"type\": \"flatten\"},"
                    "{\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}],"
                    "\"loss\": \"sparse_categorical_crossentropy\"}",
                    12, 2);
}

/* ------------------------------------------------------------- attention dropout */

/* With one key each query's probability is 1, so an output row is its value row times the
 * keep factor: 0 or 1 / (1 - rate). Training runs drop about `rate` of them, the same ones
 * at the same step and others at the next; evaluating drops none. */
static void test_dropout(void) {
    kn_ctx *ctx = new_ctx();
    kn_graph *g;
    kn_graph_new(ctx, &g);
    enum { N = 32, TQ = 64, H = 4 };
    kn_tensor *q = kn_input(g, KN_F32, (int64_t[]){N, TQ, H * 2}, 3, "q");
    kn_tensor *k = kn_input(g, KN_F32, (int64_t[]){N, 1, H * 2}, 3, "k");
    /* v a parameter and a backward pass: a graph that trains (compile.c: only those drop) */
    kn_tensor *v = kn_param(g, (int64_t[]){N, 1, H * 3}, 3, KN_INIT_ONES, "v");
    kn_tensor *y = kn_attention_dropout(g, q, k, v, H, 0, 0.3f);
    kn_graph_keep(g, y);
    kn_status st = kn_graph_backward(g, kn__sum(g, y));
    if (!st) st = kn_graph_compile(g, 1, false);
    CHECK(!st && y, "attention dropout graph: %s", kn_last_error(ctx));
    if (!st && y) {
        float *qv = kn_tensor_data(q), *kv = kn_tensor_data(k), *vv = v->data;
        for (int i = 0; i < N * TQ * H * 2; i++) qv[i] = (float)sin(i);
        for (int i = 0; i < N * H * 2; i++) kv[i] = (float)cos(i);
        for (int i = 0; i < N * H * 3; i++) vv[i] = 1.0f;
        kn_graph_upload(g); /* (a device graph's parameters: the host's values to it) */
        const float *out = kn_tensor_data(y);
        int64_t n = (int64_t)N * TQ * H * 3, zeros = 0, scaled = 0;
        float *first = malloc((size_t)n * sizeof *first);
        kn__graph_run_phases(g, KN_PHASE_FORWARD | KN_RUN_TRAINING);
        for (int64_t i = 0; i < n; i++) {
            zeros += out[i] == 0.0f;
            scaled += fabsf(out[i] - 1.0f / 0.7f) < 1e-6f;
            if (first) first[i] = out[i];
        }
        double dropped = (double)zeros / (double)n;
        printf("attention dropout 0.3: %.4f of %lld probabilities dropped, the rest scaled by 1/0.7: %s\n", dropped,
               (long long)n, zeros + scaled == n ? "yes" : "no");
        /* each draw is one of 3 value columns: 8192 independent draws, sd 0.005 */
        CHECK(fabs(dropped - 0.3) < 0.02 && zeros + scaled == n, "dropped %.4f, kept-and-scaled %lld of %lld", dropped,
              (long long)scaled, (long long)n);
        kn__graph_run_phases(g, KN_PHASE_FORWARD | KN_RUN_TRAINING);
        bool same = first != NULL;
        for (int64_t i = 0; same && i < n; i++) same = out[i] == first[i];
        CHECK(same, "attention dropout: another run at the same step draws another mask");
        g->step++; /* (what an update does) */
        kn__graph_run_phases(g, KN_PHASE_FORWARD | KN_RUN_TRAINING);
        int64_t differ = 0;
        for (int64_t i = 0; first && i < n; i++) differ += out[i] != first[i];
        CHECK(differ > n / 4, "attention dropout: the next step's mask repeats this one's (%lld differ)", (long long)differ);
        kn__graph_run_phases(g, KN_PHASE_FORWARD);
        bool ones = true;
        for (int64_t i = 0; i < n; i++) ones = ones && fabsf(out[i] - 1.0f) < 1e-6f;
        CHECK(ones, "attention dropout: evaluating drops nothing");
        free(first);
    }
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

/* ------------------------------------------------------------- digits, a row a step */

static void test_digits(void) {
    /* a transformer encoder block: positions, attention, residual + layer norm, a
     * position-wise feed-forward (conv1d of kernel 1: Keras's per-step Dense), residual +
     * layer norm, the mean over the steps */
    const char *block =
        "{\"input_shape\": [8, 8], \"layers\": ["
        "{\"name\": \"emb\", \"type\": \"conv1d\", \"filters\": 32, \"kernel_size\": 1},"
        "{\"name\": \"pos\", \"type\": \"position_embedding\"},"
        "{\"name\": \"att\", \"type\": \"multi_head_attention\", \"num_heads\": 4, \"key_dim\": 8, \"dropout\": 0.1},"
        "{\"name\": \"res1\", \"type\": \"add\", \"inputs\": [\"pos\", \"att\"]},"
        "{\"name\": \"ln1\", \"type\": \"layer_normalization\"},"
        "{\"name\": \"ff1\", \"type\": \"conv1d\", \"filters\": 64, \"kernel_size\": 1, \"activation\": \"relu\"},"
        "{\"name\": \"ff2\", \"type\": \"conv1d\", \"filters\": 32, \"kernel_size\": 1},"
        "{\"name\": \"res2\", \"type\": \"add\", \"inputs\": [\"ln1\", \"ff2\"]},"
        "{\"name\": \"ln2\", \"type\": \"layer_normalization\"},"
        "{\"type\": \"global_average_pool1d\"},"
        "{\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}],"
        "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.003}}";
    /* the same model without the attention dropout in PyTorch (nn.MultiheadAttention,
     * nn.LayerNorm(eps=1e-3), the same data and settings; tests/golden/torch_digits_transformer.py)
     * held out 0.919, 0.919 and 0.917 (seeds 0-2); kiln measured 0.931 without the dropout,
     * 0.939 with it (bf16: 0.942) */
    digits_case("transformer block (4 heads of 8)", block, KN_PRECISION_FP32, 0.90, 20);
    digits_case("transformer block bf16", block, KN_PRECISION_BF16, 0.88, 20);
}

/* ------------------------------------------------------------- the C API, shapes, errors */

static void test_api(void) {
    kn_ctx *ctx = new_ctx();
    kn_model *m = NULL;
    kn_model_new_sequential(ctx, (int64_t[]){6, 5}, 2, &m);
    kn_conv1d_opts c = {.filters = 3, .kernel_size = 1};
    CHECK(!kn_model_next_layer(m, "keys", (const char *const[]){"input"}, 1) && !kn_model_add_conv1d(m, &c),
          "conv1d: %s", kn_last_error(ctx));
    kn_attention_opts o = kn_attention_default(2, 4);
    CHECK(o.kernel_init == KN_INIT_GLOROT_UNIFORM && o.bias_init == KN_INIT_ZEROS && !o.causal && !o.value_dim,
          "kn_attention_default: Keras's");
    o.value_dim = 3;
    o.output_dim = 7;
    /* query the input, value the input, key the convolution's (3 channels) */
    CHECK(!kn_model_next_layer(m, "att", (const char *const[]){"input", "input", "keys"}, 3) &&
              !kn_model_add_attention(m, &o),
          "attention: %s", kn_last_error(ctx));
    CHECK(!kn_model_add_global_pool1d(m, KN_POOL_AVG) && !kn_model_add_dense(m, 2, KN_SOFTMAX), "head: %s",
          kn_last_error(ctx));
    kn_compile_opts co = {.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
                          .optimizer = kn_adam(0.01f)};
    CHECK(!kn_model_compile(m, &co), "compile: %s", kn_last_error(ctx));
    /* conv 5*3+3; query (5,2,4)+(2,4); key (3,2,4)+(2,4); value (5,2,3)+(2,3); out (2,3,7)+7; dense 7*2+2 */
    int64_t want = 18 + 48 + 32 + 36 + 49 + 16;
    CHECK(kn_model_param_count(m) == want, "param count %lld, want %lld", (long long)kn_model_param_count(m),
          (long long)want);
    int64_t n;
    const float *kq = kn_model_param(m, "multi_head_attention_0/query/kernel", &n);
    /* Keras's glorot on (5, 2, 4): fan_in 5*2, fan_out 5*4, limit sqrt(6/30) */
    double limit = sqrt(6.0 / 30.0), biggest = 0;
    for (int64_t i = 0; kq && i < n; i++) biggest = fmax(biggest, fabs(kq[i]));
    CHECK(kq && n == 40 && biggest <= limit && biggest > 0.6 * limit, "query kernel: %lld values, max %.3f of %.3f",
          (long long)n, biggest, limit);
    const float *kb = kn_model_param(m, "multi_head_attention_0/key/kernel", &n);
    CHECK(kb && n == 24, "key kernel over the convolution's 3 channels: %lld values", (long long)n);
    char summary[512];
    kn_model_summary(m, summary, sizeof summary);
    CHECK(strstr(summary, "multi_head_attention 2x4") && strstr(summary, "(from input, input, keys)"), "summary: %s",
          summary);
    /* a few steps learn a rule (the class: whether the first step's first value is positive) */
    float x[64 * 30];
    int32_t y[64];
    for (int i = 0; i < 64 * 30; i++) x[i] = (float)sin(1.7 * i + 0.3);
    for (int i = 0; i < 64; i++) y[i] = x[i * 30] > 0;
    kn_dataset *ds = NULL;
    kn_dataset_from_arrays(ctx, x, y, 64, 30, 2, &ds);
    double before = eval_loss(m, ds);
    CHECK(!kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 40, .batch_size = 16}, NULL), "fit: %s", kn_last_error(ctx));
    double after = eval_loss(m, ds);
    printf("three-input attention: loss %.3f -> %.3f over 40 epochs\n", before, after);
    CHECK(after < 0.5 * before, "loss %.3f -> %.3f", before, after);
    char *desc = NULL;
    double diff = reload_difference(ctx, m, x, 64, 2, &desc);
    CHECK(diff == 0, "three-input attention reload: predictions differ by %.3g", diff);
    kn_free(ctx, desc);
    kn_dataset_free(ds);
    kn_model_free(m);

    static const description_case bad[] = {
        {"{\"input_shape\": [10], \"layers\": [{\"type\": \"multi_head_attention\", \"num_heads\": 2, \"key_dim\": 4}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0] multi_head_attention: its query must be a sequence (steps, channels), got 1 dimension"},
        {"{\"input_shape\": [4, 2], \"layers\": [{\"type\": \"multi_head_attention\", \"key_dim\": 4}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].num_heads: missing"},
        {"{\"input_shape\": [4, 2], \"layers\": [{\"type\": \"multi_head_attention\", \"num_heads\": 2}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].key_dim: missing"},
        {"{\"input_shape\": [4, 2], \"layers\": [{\"type\": \"multi_head_attention\", \"num_heads\": 0, \"key_dim\": 4}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].num_heads"},
        {"{\"input_shape\": [4, 2], \"layers\": [{\"type\": \"multi_head_attention\", \"num_heads\": 2, \"key_dim\": 4, \"dropout\": 1}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].dropout: expected a number in [0, 1)"},
        {"{\"input_shape\": [4, 2], \"layers\": [{\"type\": \"multi_head_attention\", \"num_heads\": 2, \"key_dim\": 4, \"attention_axes\": [1]}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].attention_axes: only null"},
        {"{\"input_shape\": [4, 2], \"layers\": [{\"type\": \"multi_head_attention\", \"num_heads\": 2, \"key_dim\": 4, \"output_shape\": [2, 3]}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].output_shape: expected a positive whole number"},
        {"{\"input_shape\": [4, 2], \"layers\": [{\"type\": \"multi_head_attention\", \"num_heads\": 2, \"key_dim\": 4, \"units\": 3}, {\"type\": \"dense\", \"units\": 2}]}",
         "unknown key 'units'"},
        {"{\"input_shape\": [6, 2], \"layers\": [{\"name\": \"half\", \"type\": \"conv1d\", \"filters\": 2, \"kernel_size\": 2, \"strides\": 2},"
         "{\"type\": \"multi_head_attention\", \"num_heads\": 1, \"key_dim\": 2, \"inputs\": [\"input\", \"input\", \"half\"]}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[1] multi_head_attention: value of 6 steps and key of 3 steps"},
        {"{\"input_shape\": [4, 2], \"layers\": [{\"type\": \"multi_head_attention\", \"num_heads\": 1, \"key_dim\": 2, \"inputs\": [\"input\", \"input\", \"input\", \"input\"]}, {\"type\": \"dense\", \"units\": 2}]}",
         "takes 1 to 3 inputs"},
        {"{\"input_shape\": [10], \"layers\": [{\"type\": \"position_embedding\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0] position_embedding: needs a sequence input"},
        {"{\"input_shape\": [4, 2], \"layers\": [{\"type\": \"position_embedding\", \"sequence_length\": 5}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].sequence_length: 5, but the input has 4 steps"},
        {"{\"input_shape\": [4, 2], \"layers\": [{\"type\": \"position_embedding\", \"initializer\": \"zeros\"}, {\"type\": \"dense\", \"units\": 2}]}",
         NULL}, /* zeros is allowed (learned from zero) */
    };
    check_descriptions(ctx, bad, sizeof bad / sizeof bad[0]);
    kn_ctx_free(ctx);
}

/* the golden models and the finite differences: what a device runs (KILN_TEST_DEVICE) */
static void on_device(void) {
    test_golden();
    test_gradients();
}

int main(void) {
    int rc = run_on_test_device("test_attention", &device, on_device);
    if (rc >= 0) return rc;
    test_golden();
    test_gradients();
    test_api();
    test_dropout();
    test_digits();
    return checks_done("attention");
}
