/* test_init.c — the weight initializers against Keras's definitions: each kind's statistics
 * on a (300, 200) kernel, truncation, orthogonality, exact constants, determinism, a
 * model's initializers through its JSON description and back, and bad input refused with
 * the field named.
 *
 * Tolerances: 60,000 draws give a sample std a relative standard error of about 0.2%
 * (uniform) to 0.3% (truncated normal), and a sample mean one of 1/sqrt(60000) = 0.4% of
 * the std. Std within 3% and |mean| within 2% of the std are each over 5 standard errors, so
 * a correct initializer passes for any seed, while a wrong formula (a factor sqrt(2), or the
 * truncation correction 0.8796 left out: 12% off) cannot. */
#include "graph/graph.h"
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

#define ROWS 300 /* fan_in */
#define COLS 200 /* fan_out */
#define N (ROWS * COLS)

/* One parameter of the given shape and kind in a graph of its own, initialized by compile
 * from seed; its values copied to out. Returns compile's status. */
static kn_status init_values(uint64_t seed, int threads, const int64_t *shape, int ndim, kn_init kind, float value,
                             float *out) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = seed}, &ctx);
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *p = kn_param(g, shape, ndim, kind, "w");
    p->init_value = value;
    kn_graph_keep(g, p);
    kn_status st = kn_graph_compile(g, 1, true);
    if (!st) memcpy(out, p->data, (size_t)kn__numel(p) * sizeof *out);
    kn_graph_free(g);
    kn_ctx_free(ctx);
    return st;
}

static float w[N], w2[N];

typedef struct { double mean, std, max_abs; } stats;

static stats measure(const float *x, int n) {
    double sum = 0, sq = 0, max_abs = 0;
    for (int i = 0; i < n; i++) {
        sum += x[i];
        if (fabs(x[i]) > max_abs) max_abs = fabs(x[i]);
    }
    double mean = sum / n;
    for (int i = 0; i < n; i++) sq += (x[i] - mean) * (x[i] - mean);
    return (stats){mean, sqrt(sq / n), max_abs};
}

/* U(-limit, limit): std limit / sqrt(3), nothing beyond the limit, the range filled. */
static void check_uniform(kn_init kind, double limit) {
    const char *name = kn_init_name(kind);
    CHECK(!init_values(42, 1, (int64_t[]){ROWS, COLS}, 2, kind, 0, w), "%s: compile failed", name);
    stats s = measure(w, N);
    double want = limit / sqrt(3.0);
    CHECK(fabs(s.std / want - 1) < 0.03, "%s: std %g, want %g", name, s.std, want);
    CHECK(fabs(s.mean) < 0.02 * want, "%s: mean %g", name, s.mean);
    CHECK(s.max_abs <= limit && s.max_abs > 0.99 * limit, "%s: max |w| %g, limit %g", name, s.max_abs, limit);
}

/* Keras's truncated normal: the std asked for (the truncation corrected), no value beyond
 * two of the untruncated distribution's stddevs, and the tails reaching near that bound. */
static void check_truncated_normal(kn_init kind, double variance) {
    const char *name = kn_init_name(kind);
    CHECK(!init_values(42, 1, (int64_t[]){ROWS, COLS}, 2, kind, 0, w), "%s: compile failed", name);
    stats s = measure(w, N);
    double want = sqrt(variance), bound = 2 * want / 0.87962566103423978;
    CHECK(fabs(s.std / want - 1) < 0.03, "%s: std %g, want %g", name, s.std, want);
    CHECK(fabs(s.mean) < 0.02 * want, "%s: mean %g", name, s.mean);
    CHECK(s.max_abs <= bound * (1 + 1e-6) && s.max_abs > 0.98 * bound, "%s: max |w| %g, bound %g", name, s.max_abs,
          bound);
}

/* The largest |(A'A - I)_ij| of A (rows, cols) with orthonormal columns, in double. */
static double gram_error(const float *a, int rows, int cols, bool columns) {
    double worst = 0;
    int dim = columns ? cols : rows, len = columns ? rows : cols;
    for (int i = 0; i < dim; i++)
        for (int j = i; j < dim; j++) {
            double dot = 0;
            for (int k = 0; k < len; k++)
                dot += columns ? (double)a[k * cols + i] * a[k * cols + j] : (double)a[i * cols + k] * a[j * cols + k];
            double err = fabs(dot - (i == j ? 1.0 : 0.0));
            if (err > worst) worst = err;
        }
    return worst;
}

/* The normal draws of init.c's orthogonal: element (r, c) of the (max, min) matrix is pair
 * r min + c of the parameter's stream, Box-Muller's cosine half over 53-bit uniforms. */
static double drawn_normal(uint64_t seed, uint64_t stream, uint64_t pair) {
    double u1 = ((double)(kn__rng_u64(seed, stream, 2 * pair) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = ((double)(kn__rng_u64(seed, stream, 2 * pair + 1) >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Keras's orthogonal is Q of A = QR with the signs fixed so R's diagonal is positive, so
 * W'A (= R) must be upper triangular with a positive diagonal: checks the sign correction,
 * which orthogonality alone cannot see. W (rows, cols), rows >= cols, param index 0. */
static void check_orthogonal_is_keras_q(const float *q, int rows, int cols, uint64_t seed) {
    static double a[N];
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) a[r * cols + c] = drawn_normal(seed, KN_STREAM_INIT, (uint64_t)(r * cols + c));
    int bad_diag = 0, bad_lower = 0;
    for (int i = 0; i < cols; i++)
        for (int j = 0; j <= i; j++) { /* (W'A)_ij, on and below the diagonal */
            double dot = 0, norm = 0;
            for (int k = 0; k < rows; k++) {
                dot += (double)q[k * cols + i] * a[k * cols + j];
                norm += a[k * cols + j] * a[k * cols + j];
            }
            if (i == j) bad_diag += !(dot > 0);
            else bad_lower += fabs(dot) > 1e-4 * sqrt(norm);
        }
    CHECK(bad_diag == 0 && bad_lower == 0, "orthogonal: W'A has %d non-positive diagonal and %d non-zero lower entries",
          bad_diag, bad_lower);
}

static void test_kinds(void) {
    check_uniform(KN_INIT_GLOROT_UNIFORM, sqrt(6.0 / (ROWS + COLS)));
    check_uniform(KN_INIT_HE_UNIFORM, sqrt(6.0 / ROWS));
    check_uniform(KN_INIT_LECUN_UNIFORM, sqrt(3.0 / ROWS));
    check_uniform(KN_INIT_UNIFORM, 0.05); /* Keras's RandomUniform defaults, whatever the fans */
    check_truncated_normal(KN_INIT_GLOROT_NORMAL, 2.0 / (ROWS + COLS));
    check_truncated_normal(KN_INIT_HE_NORMAL, 2.0 / ROWS);
    check_truncated_normal(KN_INIT_LECUN_NORMAL, 1.0 / ROWS);

    /* the default kernel keeps its exact bits: (2u - 1) limit from the init stream's draws */
    CHECK(!init_values(42, 1, (int64_t[]){ROWS, COLS}, 2, KN_INIT_GLOROT_UNIFORM, 0, w), "glorot_uniform");
    int differ = 0;
    for (int i = 0; i < N; i++) {
        float u = kn__rng_uniform(42, KN_STREAM_INIT, (uint64_t)i);
        differ += w[i] != (float)((2.0 * u - 1.0) * sqrt(6.0 / (ROWS + COLS)));
    }
    CHECK(differ == 0, "glorot_uniform: %d values differ from the formula's bits", differ);

    /* orthogonal: W'W = I when in >= out, WW' = I when in < out, a conv-shaped kernel
     * flattened to (h w in, out) */
    CHECK(!init_values(42, 1, (int64_t[]){ROWS, COLS}, 2, KN_INIT_ORTHOGONAL, 0, w), "orthogonal");
    double err = gram_error(w, ROWS, COLS, true);
    CHECK(err < 1e-4, "orthogonal (300, 200): max |W'W - I| %g", err);
    check_orthogonal_is_keras_q(w, ROWS, COLS, 42);
    CHECK(!init_values(42, 1, (int64_t[]){COLS, ROWS}, 2, KN_INIT_ORTHOGONAL, 0, w), "orthogonal");
    err = gram_error(w, COLS, ROWS, false);
    CHECK(err < 1e-4, "orthogonal (200, 300): max |WW' - I| %g", err);
    CHECK(!init_values(42, 1, (int64_t[]){2, 3, 4, 5}, 4, KN_INIT_ORTHOGONAL, 0, w), "orthogonal");
    err = gram_error(w, 24, 5, true);
    CHECK(err < 1e-4, "orthogonal (2, 3, 4, 5): max |W'W - I| %g", err);
    CHECK(init_values(42, 1, (int64_t[]){COLS}, 1, KN_INIT_ORTHOGONAL, 0, w) == KN_ERR_SHAPE,
          "orthogonal of a vector must fail");

    /* constants are exact */
    CHECK(!init_values(42, 1, (int64_t[]){ROWS, COLS}, 2, KN_INIT_CONSTANT, 0.25f, w), "constant");
    int off = 0;
    for (int i = 0; i < N; i++) off += w[i] != 0.25f;
    CHECK(off == 0, "constant: %d values are not 0.25", off);
    CHECK(!init_values(42, 1, (int64_t[]){ROWS, COLS}, 2, KN_INIT_ONES, 0, w), "ones");
    off = 0;
    for (int i = 0; i < N; i++) off += w[i] != 1.0f;
    CHECK(off == 0, "ones: %d values are not 1", off);
    w[0] = 1;
    CHECK(!init_values(42, 1, (int64_t[]){ROWS, COLS}, 2, KN_INIT_ZEROS, 0, w), "zeros");
    off = 0;
    for (int i = 0; i < N; i++) off += w[i] != 0.0f;
    CHECK(off == 0, "zeros: %d values are not 0", off);
}

/* The same seed gives the same bits, whatever the thread count; another seed other values. */
static void test_determinism(void) {
    const kn_init random_kinds[] = {KN_INIT_GLOROT_UNIFORM, KN_INIT_HE_UNIFORM, KN_INIT_LECUN_UNIFORM, KN_INIT_GLOROT_NORMAL,
                                    KN_INIT_HE_NORMAL, KN_INIT_LECUN_NORMAL, KN_INIT_ORTHOGONAL, KN_INIT_UNIFORM};
    const int64_t shape[] = {60, 50}; /* small: determinism needs no statistics */
    int n = 60 * 50;
    for (size_t k = 0; k < sizeof random_kinds / sizeof *random_kinds; k++) {
        kn_init kind = random_kinds[k];
        init_values(7, 1, shape, 2, kind, 0, w);
        init_values(7, 4, shape, 2, kind, 0, w2);
        CHECK(memcmp(w, w2, (size_t)n * sizeof *w) == 0, "%s: seed 7 differs between 1 and 4 threads", kn_init_name(kind));
        init_values(8, 1, shape, 2, kind, 0, w2);
        int same = 0;
        for (int i = 0; i < n; i++) same += w[i] == w2[i];
        CHECK(same < n / 100, "%s: seeds 7 and 8 share %d of %d values", kn_init_name(kind), same, n);
    }
}

static void test_names(void) {
    for (int i = 0; i < KN_INIT_COUNT; i++) {
        kn_init back = KN_INIT_COUNT;
        CHECK(kn_init_parse(kn_init_name((kn_init)i), &back) && back == (kn_init)i, "name of %d does not parse back", i);
    }
    struct { const char *name; kn_init kind; } keras[] = {
        {"GlorotUniform", KN_INIT_GLOROT_UNIFORM}, {"HeNormal", KN_INIT_HE_NORMAL}, {"LecunUniform", KN_INIT_LECUN_UNIFORM},
        {"HE_NORMAL", KN_INIT_HE_NORMAL}, {"Orthogonal", KN_INIT_ORTHOGONAL}, {"OrthogonalInitializer", KN_INIT_ORTHOGONAL},
        {"Zeros", KN_INIT_ZEROS}, {"zero", KN_INIT_ZEROS}, {"Ones", KN_INIT_ONES}, {"Constant", KN_INIT_CONSTANT},
        {"uniform", KN_INIT_UNIFORM}, {"RandomUniform", KN_INIT_UNIFORM}, {"random_uniform", KN_INIT_UNIFORM},
    };
    for (size_t i = 0; i < sizeof keras / sizeof *keras; i++) {
        kn_init k = KN_INIT_COUNT;
        CHECK(kn_init_parse(keras[i].name, &k) && k == keras[i].kind, "'%s' parsed as %d", keras[i].name, (int)k);
    }
    kn_init k;
    CHECK(!kn_init_parse("foo", &k) && !kn_init_parse("", &k) && !kn_init_parse(NULL, &k), "bad names must not parse");
    CHECK(strcmp(kn_init_name(KN_INIT_HE_NORMAL), "he_normal") == 0, "he_normal's name");
    CHECK(strcmp(kn_init_name(KN_INIT_COUNT), "?") == 0, "an unknown kind's name");
}

static kn_status from_json(kn_ctx *ctx, const char *json, kn_model **m) {
    kn_spec spec;
    return kn_model_from_json(ctx, json, NULL, m, &spec);
}

/* A model's initializers go into its description and come back out unchanged (a saved
 * model keeps its description in the file), and the weights are what they say. */
static void test_json_round_trip(kn_ctx *ctx) {
    const char *json =
        "{\"input_shape\": [4], \"loss\": \"mse\", \"layers\": [{\"type\": \"dense\", \"units\": 3,"
        " \"kernel_initializer\": \"he_normal\","
        " \"bias_initializer\": {\"class_name\": \"Constant\", \"config\": {\"value\": 0.1}}}]}";
    kn_model *m = NULL, *m2 = NULL;
    char *text = NULL, *text2 = NULL;
    CHECK(!from_json(ctx, json, &m), "parse: %s", kn_last_error(ctx));
    if (!m) return;
    const kn_dense_opts *o = &m->layers[0].u.dense;
    CHECK(o->kernel_init == KN_INIT_HE_NORMAL && o->bias_init == KN_INIT_CONSTANT && o->init_value == 0.1f,
          "parsed as kernel %d, bias %d, value %g", (int)o->kernel_init, (int)o->bias_init, (double)o->init_value);
    CHECK(!kn_model_to_json(m, &text), "to_json");
    CHECK(text && strstr(text, "\"kernel_initializer\":\"he_normal\""), "written: %s", text ? text : "");
    CHECK(text && strstr(text, "\"bias_initializer\":{\"class_name\":\"Constant\",\"config\":{\"value\":0.1}}"),
          "written: %s", text ? text : "");
    CHECK(text && !from_json(ctx, text, &m2), "parse back: %s", kn_last_error(ctx));
    if (m2) {
        CHECK(memcmp(&m2->layers[0].u.dense, o, sizeof *o) == 0, "options differ after the round trip");
        CHECK(!kn_model_to_json(m2, &text2) && strcmp(text, text2) == 0, "written again: %s", text2 ? text2 : "");
        kn_model_compile(m2, &(kn_compile_opts){.loss = KN_LOSS_MSE, .optimizer = kn_sgd(0.1f)});
        int64_t n = 0;
        const float *b = kn_model_param(m2, "dense_0/bias", &n);
        CHECK(b && n == 3 && b[0] == 0.1f && b[1] == 0.1f && b[2] == 0.1f, "bias is not Constant(0.1)");
        const float *k = kn_model_param(m2, "dense_0/kernel", &n);
        double bound = 2 * sqrt(2.0 / 4) / 0.87962566103423978;
        for (int64_t i = 0; k && i < n; i++) CHECK(fabs(k[i]) <= bound && k[i] != 0, "kernel[%lld] = %g", (long long)i, k[i]);
    }
    kn_free(ctx, text);
    kn_free(ctx, text2);
    kn_model_free(m);
    kn_model_free(m2);

    /* Keras's own serializations: class names, configs with seeds, Keras 3's extra keys */
    json = "{\"input_shape\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 5,"
           " \"kernel_initializer\": {\"module\": \"keras.initializers\", \"class_name\": \"OrthogonalInitializer\","
           " \"config\": {\"gain\": 1.0, \"seed\": null}, \"registered_name\": null},"
           " \"bias_initializer\": {\"class_name\": \"Zeros\", \"config\": {}}},"
           " {\"type\": \"dense\", \"units\": 2, \"kernel_initializer\": {\"class_name\": \"LecunNormal\", \"config\": {\"seed\": 3}},"
           " \"bias_initializer\": \"ones\"}]}";
    CHECK(!from_json(ctx, json, &m), "Keras forms: %s", kn_last_error(ctx));
    if (m) {
        CHECK(m->layers[0].u.dense.kernel_init == KN_INIT_ORTHOGONAL && m->layers[0].u.dense.bias_init == KN_INIT_ZEROS &&
                  m->layers[1].u.dense.kernel_init == KN_INIT_LECUN_NORMAL && m->layers[1].u.dense.bias_init == KN_INIT_ONES,
              "Keras forms parsed wrong");
        kn_model_free(m);
    }

    /* the C API's zeroed options: glorot_uniform kernel, zeros bias, written as such */
    kn_model_new_sequential(ctx, (int64_t[]){4}, 1, &m);
    kn_model_add_dense(m, 3, KN_RELU);
    CHECK(m->layers[0].u.dense.bias_init == KN_INIT_ZEROS, "default bias_init is %d", (int)m->layers[0].u.dense.bias_init);
    text = NULL;
    kn_model_to_json(m, &text);
    CHECK(text && strstr(text, "\"kernel_initializer\":\"glorot_uniform\",\"bias_initializer\":\"zeros\""), "written: %s",
          text ? text : "");
    kn_free(ctx, text);
    CHECK(kn_model_add_dense_ex(m, &(kn_dense_opts){.units = 2, .bias_init = KN_INIT_ORTHOGONAL}) == KN_ERR_INVALID_ARGUMENT,
          "an orthogonal bias must be refused");
    CHECK(kn_model_add_dense_ex(m, &(kn_dense_opts){.units = 2, .bias_init = KN_INIT_COUNT}) == KN_ERR_INVALID_ARGUMENT,
          "an unknown bias initializer must be refused");
    CHECK(kn_model_add_dense_ex(m, &(kn_dense_opts){.units = 2, .init_value = NAN}) == KN_ERR_INVALID_ARGUMENT,
          "a NaN init_value must be refused");
    kn_model_free(m);
}

/* Bad initializers: KN_ERR_SPEC, and the message names the field. */
static void test_errors(kn_ctx *ctx) {
    struct { const char *layer, *message; } cases[] = {
        {"\"kernel_initializer\": \"foo\"", "layers[0].kernel_initializer: unknown initializer 'foo' (expected glorot_uniform"},
        {"\"bias_initializer\": \"bar\"", "layers[0].bias_initializer: unknown initializer 'bar'"},
        {"\"kernel_initializer\": 42", "layers[0].kernel_initializer: expected a name"},
        {"\"kernel_initializer\": {\"config\": {}}", "layers[0].kernel_initializer.class_name:"},
        {"\"kernel_initializer\": {\"class_name\": \"Constant\", \"config\": {\"value\": \"x\"}}",
         "layers[0].kernel_initializer.config.value:"},
        {"\"kernel_initializer\": {\"class_name\": \"Constant\", \"config\": 3}", "layers[0].kernel_initializer.config:"},
        {"\"kernel_initializer\": {\"class_name\": \"Orthogonal\", \"config\": {\"gain\": 2}}",
         "layers[0].kernel_initializer.config.gain:"},
        {"\"kernel_initializer\": {\"class_name\": \"HeNormal\", \"config\": {\"scale\": 2}}",
         "layers[0].kernel_initializer.config.scale:"},
        {"\"bias_initializer\": \"orthogonal\"", "layers[0].bias_initializer: orthogonal needs a matrix"},
        {"\"bias_initializer\": \"glorot_uniform\"", "layers[0].bias_initializer:"},
        {"\"kernel_initializer\": {\"class_name\": \"Constant\", \"config\": {\"value\": 0.5}},"
         " \"bias_initializer\": {\"class_name\": \"Constant\", \"config\": {\"value\": 0.1}}",
         "layers[0].bias_initializer: Constant(0.1) differs"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char json[512];
        snprintf(json, sizeof json, "{\"input_shape\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 3, %s}]}",
                 cases[i].layer);
        kn_model *m = NULL;
        kn_status st = from_json(ctx, json, &m);
        CHECK(st == KN_ERR_SPEC && !m, "case %zu: status %d", i, (int)st);
        CHECK(strstr(kn_last_error(ctx), cases[i].message), "case %zu: message '%s' lacks '%s'", i, kn_last_error(ctx),
              cases[i].message);
        kn_model_free(m);
    }
}

int main(void) {
    test_kinds();
    test_determinism();
    test_names();
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 1}, &ctx);
    test_json_round_trip(ctx);
    test_errors(ctx);
    kn_ctx_free(ctx);
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_init: all checks passed\n");
    return 0;
}
