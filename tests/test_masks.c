/* test_masks.c — Keras's masks (an embedding's mask_zero carried on to multi_head_attention
 * global_average_pool1d and the recurrent layers): three models against PyTorch computing
 * Keras 3's masked attention, mean and recurrent steps (tests/golden/masks.txt,
 * make_masks.py: outputs, loss and every parameter's gradient, with padding trailing,
 * scattered and leading, causal attention whose masked queries see no key, an lstm
 * returning its masked sequence to a gru going backwards); padding that moves or grows changes nothing a masked
 * model predicts (and does change an unmasked one's); an all-padding row gives finite
 * probabilities; the mask kept through save and load; the layers that pass a mask on and
 * those that drop it; and the errors. Run from the source root. KILN_TEST_DEVICE=cuda
 * (test_masks_cuda): the golden models on that device (77, skipped, where it is not usable). */
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
#define MHA_PARAMS "multi_head_attention_0/query/kernel", "multi_head_attention_0/query/bias", \
    "multi_head_attention_0/key/kernel", "multi_head_attention_0/key/bias", "multi_head_attention_0/value/kernel", \
    "multi_head_attention_0/value/bias", "multi_head_attention_0/attention_output/kernel", \
    "multi_head_attention_0/attention_output/bias"

static const char *const MODEL_M =
    "{\"input_shape\": [6], \"layers\": ["
    "{\"type\": \"embedding\", \"input_dim\": 7, \"output_dim\": 4, \"mask_zero\": true},"
    "{\"name\": \"pos\", \"type\": \"position_embedding\"},"
    "{\"name\": \"att\", \"type\": \"multi_head_attention\", \"num_heads\": 2, \"key_dim\": 2},"
    "{\"type\": \"add\", \"inputs\": [\"att\", \"pos\"]},"
    "{\"type\": \"layer_normalization\"},"
    "{\"type\": \"global_average_pool1d\"},"
    "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}]," SPARSE_SGD;
static const char *const PARAMS_M[] = {"embedding_0/embeddings", "position_embedding_0/embeddings", MHA_PARAMS,
                                       "layer_normalization_0/gamma", "layer_normalization_0/beta", "dense_0/kernel",
                                       "dense_0/bias", NULL};

static const char *const MODEL_N =
    "{\"input_shape\": [5], \"layers\": ["
    "{\"name\": \"emb\", \"type\": \"embedding\", \"input_dim\": 6, \"output_dim\": 3, \"mask_zero\": true},"
    "{\"name\": \"proj\", \"type\": \"conv1d\", \"filters\": 4, \"kernel_size\": 1},"
    "{\"type\": \"multi_head_attention\", \"num_heads\": 1, \"key_dim\": 3, \"use_causal_mask\": true,"
    " \"inputs\": [\"proj\", \"emb\"]},"
    "{\"type\": \"global_average_pool1d\"},"
    "{\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}]," SPARSE_SGD;
static const char *const PARAMS_N[] = {"embedding_0/embeddings", "conv1d_0/kernel", "conv1d_0/bias", MHA_PARAMS,
                                       "dense_0/kernel", "dense_0/bias", NULL};

static const char *const MODEL_R =
    "{\"input_shape\": [5], \"layers\": ["
    "{\"type\": \"embedding\", \"input_dim\": 8, \"output_dim\": 3, \"mask_zero\": true},"
    "{\"type\": \"lstm\", \"units\": 4, \"return_sequences\": true},"
    "{\"type\": \"gru\", \"units\": 3, \"go_backwards\": true},"
    "{\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}]," SPARSE_SGD;
static const char *const PARAMS_R[] = {"embedding_0/embeddings", "lstm_0/kernel", "lstm_0/recurrent_kernel", "lstm_0/bias",
                                       "gru_0/kernel", "gru_0/recurrent_kernel", "gru_0/bias", "dense_0/kernel",
                                       "dense_0/bias", NULL};

static void test_golden(void) {
    golden = read_all("tests/golden/masks.txt");
    CHECK(golden != NULL, "cannot read tests/golden/masks.txt (run from the source root)");
    if (!golden) return;
    golden_model("M:", MODEL_M, PARAMS_M, 3, 6, 1, 3);
    golden_model("N:", MODEL_N, PARAMS_N, 2, 5, 1, 2);
    golden_model("R:", MODEL_R, PARAMS_R, 3, 5, 1, 2);
    free(golden);
    golden = NULL;
}

/* ------------------------------------------------------------- what padding changes */

/* Without positions, attention and a mean are blind to where the kept tokens stand and to
 * each token repeated as often: a masked model predicts the same for the tokens {3, 1, 4}
 * padded at the end, at the start, between them, reordered, and twice over with less
 * padding; unmasked, the padding counts as tokens, so the last differs. */
static const char *invariance_model(bool mask_zero) {
    static char text[1024];
    snprintf(text, sizeof text,
             "{\"input_shape\": [8], \"layers\": ["
             "{\"type\": \"embedding\", \"input_dim\": 9, \"output_dim\": 6, \"mask_zero\": %s},"
             "{\"type\": \"multi_head_attention\", \"num_heads\": 2, \"key_dim\": 3},"
             "{\"type\": \"dropout\", \"rate\": 0.2},"
             "{\"type\": \"layer_normalization\"},"
             "{\"type\": \"conv1d\", \"filters\": 5, \"kernel_size\": 1, \"activation\": \"relu\"},"
             "{\"type\": \"global_average_pool1d\"},"
             "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}]," SPARSE_SGD,
             mask_zero ? "true" : "false");
    return text;
}

static void test_padding(void) {
    static const float rows[6][8] = {
        {3, 1, 4, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 3, 1, 4}, {0, 3, 0, 0, 1, 0, 4, 0}, {4, 3, 1, 0, 0, 0, 0, 0},
        {3, 1, 4, 3, 1, 4, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0}, /* all padding: no key, no step to average */
    };
    for (int masked = 0; masked < 2; masked++) {
        kn_ctx *ctx = new_ctx();
        kn_model *m = build(ctx, invariance_model(masked));
        float p[6][3] = {{0}};
        if (m) CHECK(!kn_model_predict(m, &rows[0][0], 6, &p[0][0]), "predict: %s", kn_last_error(ctx));
        double spread = 0, doubled = 0;
        for (int r = 1; m && r < 5; r++)
            for (int c = 0; c < 3; c++) spread = fmax(spread, fabs((double)p[r][c] - p[0][c]));
        for (int c = 0; m && c < 3; c++) doubled = fmax(doubled, fabs((double)p[4][c] - p[0][c]));
        bool finite = true;
        for (int c = 0; m && c < 3; c++) finite = finite && isfinite(p[5][c]);
        printf("%-44s largest difference %.2e (row 0: %.4f %.4f %.4f; all padding: %.4f %.4f %.4f)\n",
               masked ? "mask_zero: {3, 1, 4} padded 5 ways" : "no mask: the same", masked ? spread : doubled, p[0][0],
               p[0][1], p[0][2], p[5][0], p[5][1], p[5][2]);
        if (masked) {
            CHECK(m && spread < 1e-6, "mask_zero: padding changed the prediction by %.3g", spread);
            CHECK(m && finite, "mask_zero: an all-padding row gave %g %g %g", p[5][0], p[5][1], p[5][2]);
            /* the mask in the description, through save and load */
            char *desc = NULL;
            double diff = m ? reload_difference(ctx, m, &rows[0][0], 6, 3, &desc) : INFINITY;
            CHECK(diff == 0.0, "save and load: predictions differ by %.3g", diff);
            CHECK(desc && strstr(desc, "\"mask_zero\":true"), "the saved description keeps mask_zero: %s",
                  desc ? desc : "(none)");
            free(desc);
        } else {
            CHECK(m && doubled > 1e-3, "no mask: the padding should count (difference %.3g)", doubled);
        }
        kn_model_free(m);
        kn_ctx_free(ctx);
    }
}

/* A masked recurrent stack (a bidirectional lstm's sequence into a gru) reads only the kept
 * steps in order, both ways: {3, 1, 4} padded at the end, at the start and between its
 * tokens gives the same prediction, bit for bit; unmasked, not. */
static void test_recurrent_padding(void) {
    static const float rows[3][6] = {{3, 1, 4, 0, 0, 0}, {0, 0, 0, 3, 1, 4}, {0, 3, 0, 1, 0, 4}};
    for (int masked = 0; masked < 2; masked++) {
        char text[512];
        snprintf(text, sizeof text,
                 "{\"input_shape\": [6], \"layers\": [{\"type\": \"embedding\", \"input_dim\": 6, \"output_dim\": 4,"
                 " \"mask_zero\": %s}, {\"type\": \"bidirectional\", \"layer\": {\"type\": \"lstm\", \"units\": 5,"
                 " \"return_sequences\": true}},"
                 " {\"type\": \"gru\", \"units\": 4}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
                 SPARSE_SGD, masked ? "true" : "false");
        kn_ctx *ctx = new_ctx();
        kn_model *m = build(ctx, text);
        float p[3][3] = {{0}};
        if (m) CHECK(!kn_model_predict(m, &rows[0][0], 3, &p[0][0]), "predict: %s", kn_last_error(ctx));
        double spread = 0;
        for (int r = 1; m && r < 3; r++)
            for (int c = 0; c < 3; c++) spread = fmax(spread, fabs((double)p[r][c] - p[0][c]));
        printf("%-44s largest difference %.2e\n", masked ? "mask_zero: bidirectional lstm -> gru, padded 3 ways" :
               "no mask: the same", spread);
        /* (bit for bit on the CPU; a device's products may round the zero state's term apart) */
        if (masked)
            CHECK(m && spread <= (device == KN_DEVICE_CPU ? 0.0 : 1e-6),
                  "mask_zero: padding moved a recurrent model's prediction by %.3g", spread);
        else CHECK(m && spread > 1e-4, "no mask: the padding should count (difference %.3g)", spread);
        kn_model_free(m);
        kn_ctx_free(ctx);
    }
}

/* ------------------------------------------------------------- which layers carry it */

static void test_propagation(void) {
    kn_ctx *ctx = new_ctx();
    static const struct { const char *layers; const char *masked; } cases[] = {
        /* passes it: dropout, activation, norms, positions, position-wise conv1d, attention, merges */
        {"{\"type\": \"dropout\", \"rate\": 0.1}, {\"type\": \"activation\", \"activation\": \"tanh\"},"
         "{\"type\": \"layer_normalization\"}, {\"type\": \"batch_normalization\"}, {\"type\": \"position_embedding\"},"
         "{\"type\": \"conv1d\", \"filters\": 4, \"kernel_size\": 1}, {\"type\": \"multi_head_attention\", \"num_heads\": 1,"
         " \"key_dim\": 2}, {\"name\": \"last\", \"type\": \"add\", \"inputs\": [\"embedding_0\", \"multi_head_attention_0\"]}",
         "11111111"},
        /* recurrent layers: a sequence passes it, the last state does not */
        {"{\"type\": \"lstm\", \"units\": 3, \"return_sequences\": true}, {\"type\": \"gru\", \"units\": 2}", "10"},
        /* drops it: a wider convolution, pooling, flatten */
        {"{\"type\": \"conv1d\", \"filters\": 4, \"kernel_size\": 2, \"padding\": \"same\"},"
         "{\"type\": \"max_pool1d\", \"pool_size\": 1}, {\"type\": \"flatten\"}", "000"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char text[1024];
        snprintf(text, sizeof text, "{\"input_shape\": [5], \"layers\": [{\"type\": \"embedding\", \"input_dim\": 9,"
                 " \"output_dim\": 4, \"mask_zero\": true}, %s]}", cases[k].layers);
        kn_spec spec;
        kn_model *m = NULL;
        kn_status st = kn_model_from_json(ctx, text, NULL, &m, &spec);
        CHECK(!st, "propagation case %zu: %s", k, kn_last_error(ctx));
        for (int i = 1; m && i < m->n_layers; i++)
            CHECK(m->layers[i].masked == (cases[k].masked[i - 1] == '1'), "case %zu: layers[%d] %s masked %d", k, i,
                  kn__layer_type(&m->layers[i]), (int)m->layers[i].masked);
        CHECK(!m || m->layers[0].masked, "case %zu: the embedding's mask", k);
        kn_model_free(m);
    }
    kn_ctx_free(ctx);
}

/* ------------------------------------------------------------- errors */

static void test_errors(void) {
    kn_ctx *ctx = new_ctx();
    static const description_case bad[] = {
        {"{\"input_shape\": [2, 3], \"layers\": [{\"type\": \"embedding\", \"input_dim\": 9, \"output_dim\": 3, "
         "\"mask_zero\": true}]}",
         "layers[0] embedding: mask_zero needs a sequence of indices"},
        {"{\"input_shape\": [5], \"layers\": [{\"type\": \"embedding\", \"input_dim\": 9, \"output_dim\": 3, \"mask_zero\": "
         "1}]}",
         "layers[0].mask_zero: expected true or false"},
    };
    check_descriptions(ctx, bad, sizeof bad / sizeof bad[0]);
    kn_ctx_free(ctx);
}

/* the golden models: what a device runs (KILN_TEST_DEVICE) */
static void on_device(void) {
    test_golden();
    test_padding();
    test_recurrent_padding();
}

int main(void) {
    int rc = run_on_test_device("test_masks", &device, on_device);
    if (rc >= 0) return rc;
    test_golden();
    test_padding();
    test_recurrent_padding();
    test_propagation();
    test_errors();
    return checks_done("mask");
}
