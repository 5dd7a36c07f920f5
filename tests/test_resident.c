#define _POSIX_C_SOURCE 200809L /* setenv */
/* test_resident.c — fit's resident loop (src/train/resident.c: the training data bound on
 * the graph's device, each step one KN_RUN_RESIDENT run, the figures read only when shown)
 * gives exactly what the host loop gives: the same epoch records bit for bit, the same
 * parameters and optimizer state, the same error naming the same step when the loss or a
 * gradient goes non-finite. Run on the mirror backend (KILN_TEST_MIRROR=1, the host
 * implementation of the resident steps, backend/resident_host.c), against the same backend
 * with KILN_RESIDENT=0; the CUDA backend's kernels follow the same order (docs/cuda.md).
 * KILN_TEST_DEVICE=cuda (test_resident_cuda): the same on the GPU, its resident kernels
 * against its own host loop (the same kernels otherwise: bit for bit too); exits 77,
 * skipped, where no GPU is usable. */
#include <kiln.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "nn/model.h"
#ifdef KILN_HAVE_CUDA
#include "backend/cuda/cuda_internal.h" /* kn__cuda_grouped_launches */
#endif

enum { N = 203, F = 6 }; /* 203 rows: batches of 16 leave a partial last one */

typedef struct {
    const char *name, *json;
    int classes;             /* 0: regression (2 targets) */
    kn_fit_opts fit;
    bool poison;             /* one row of huge values: the loss overflows */
    bool skips;              /* fp16: the loss scaler must skip some updates */
    bool inf_feature;        /* one row's first feature infinite: through tanh the loss stays
                              * finite, but that feature's weight gradients are inf x 0 = NaN */
    int val_rows;            /* the last val_rows rows as separate validation data */
    int image[3];            /* (h, w, c): the rows are such images (augmentation); 0: F features */
} tcase;

/* The input_dim of an embedding in the description (its features are then token indices in
 * [0, input_dim)), or 0. */
static int embedding_tokens(const char *json) {
    const char *e = strstr(json, "\"embedding\""), *d = e ? strstr(e, "\"input_dim\": ") : NULL;
    return d ? atoi(d + strlen("\"input_dim\": ")) : 0;
}

static int n_features(const tcase *c) { return c->image[0] ? c->image[0] * c->image[1] * c->image[2] : F; }

static float *features(int nf) {
    float *x = malloc(sizeof(float) * N * nf);
    uint64_t s = 12345;
    for (int i = 0; i < N * nf; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);
    }
    return x;
}

typedef struct {
    kn_ctx *ctx;
    kn_model *m;
    const kn_history *h;
    kn_status st;
    char err[512];
} result;

static kn_device device = KN_DEVICE_CPU; /* KILN_TEST_DEVICE; cpu: the mirror stands in for a device */
/* KILN_TEST_NCCL=1 (cuda): the first run of each pair goes through fit's NCCL paths instead
 * (KILN_NCCL=force: a one-rank communicator): resident with the all-reduce inside the step
 * (its guard's verdict through the sum), or, with fp16's scaler or accumulation, the host
 * loop's NCCL path (the gradients checked on the device, never pulled). Both must give the
 * host loop's results bit for bit (a one-rank sum is the rank's own gradient). */
static bool via_nccl;

static result train(const tcase *c, bool resident) {
    result r = {0};
    if (device == KN_DEVICE_CPU) setenv("KILN_TEST_MIRROR", "1", 1);
    setenv("KILN_RESIDENT", resident ? "1" : "0", 1);
    if (via_nccl && resident) setenv("KILN_NCCL", "force", 1);
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 99, .device = device}, &r.ctx)) {
        r.st = KN_ERR_OUT_OF_MEMORY;
        return r;
    }
    kn_ctx *ctx = r.ctx;
    const int nf = n_features(c);
    float *x = features(nf);
    if (c->poison)
        for (int j = 0; j < nf; j++) x[150 * nf + j] = 3e38f;
    if (c->inf_feature) x[150 * nf] = INFINITY;
    kn_dataset *data = NULL, *val = NULL;
    int n_data = N - c->val_rows; /* the rest: the validation data */
    if (c->classes) {
        int32_t lab[N];
        for (int i = 0; i < N; i++) lab[i] = (x[i * nf] + x[i * nf + 1] > 0) + (c->classes > 2 && x[i * nf + 2] > 0.3f ? 1 : 0);
        for (int i = 0; i < N; i++) lab[i] %= c->classes;
        int tokens = embedding_tokens(c->json);
        for (int i = 0; tokens && i < N * nf; i++) /* the labels' features as whole numbers */
            x[i] = fminf(floorf((x[i] + 1.0f) * 0.5f * (float)tokens), (float)(tokens - 1));
        kn_dataset_from_arrays(ctx, x, lab, n_data, nf, c->classes, &data);
        if (c->val_rows) kn_dataset_from_arrays(ctx, x + n_data * nf, lab + n_data, c->val_rows, nf, c->classes, &val);
    } else {
        float *y = malloc(sizeof(float) * N * 2);
        for (int i = 0; i < N; i++) y[2 * i] = x[i * nf] * 2 - x[i * nf + 3], y[2 * i + 1] = x[i * nf + 1] * x[i * nf + 2];
        kn_dataset_from_arrays_regression(ctx, x, y, n_data, nf, 2, &data);
        if (c->val_rows) kn_dataset_from_arrays_regression(ctx, x + n_data * nf, y + n_data * 2, c->val_rows, nf, 2, &val);
        free(y);
    }
    free(x);
    if (c->image[0]) { /* images: what augmentation needs */
        const int64_t shape[3] = {c->image[0], c->image[1], c->image[2]};
        kn_dataset_set_sample_shape(data, shape, 3);
        if (val) kn_dataset_set_sample_shape(val, shape, 3);
    }
    kn_spec spec;
    r.st = kn_model_from_json(ctx, c->json, data, &r.m, &spec);
    if (!r.st) r.st = kn_model_compile(r.m, &spec.compile);
    float *sw = NULL;
    kn_fit_opts o = c->fit;
    o.verbose = 0;
    if (o.sample_weight) { /* a marker: weights by row */
        sw = malloc(sizeof(float) * N);
        for (int i = 0; i < N; i++) sw[i] = 0.25f + (float)(i % 7) * 0.25f;
        o.sample_weight = sw;
    }
    o.validation_data = val;
    if (!r.st) r.st = kn_model_fit(r.m, data, &o, &r.h);
    if (r.st) snprintf(r.err, sizeof r.err, "%s", kn_last_error(ctx));
    free(sw);
    kn_dataset_free(data);
    kn_dataset_free(val);
    unsetenv("KILN_TEST_MIRROR");
    unsetenv("KILN_RESIDENT");
    unsetenv("KILN_NCCL");
    return r;
}

static bool same_double(double a, double b) { return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0; }

static void compare(const tcase *c, const result *dev, const result *host) {
    CHECK(dev->st == host->st, "%s: status %d resident, %d host (%s | %s)", c->name, dev->st, host->st, dev->err, host->err);
    if (dev->st || host->st) {
        CHECK(strcmp(dev->err, host->err) == 0, "%s: the same error:\n  resident: %s\n  host:     %s", c->name, dev->err, host->err);
    } else {
        /* (through NCCL: resident but with fp16's scaler or accumulation) */
        bool resident = !via_nccl || (c->fit.accumulate <= 1 && !strstr(c->json, "fp16"));
        CHECK(dev->h->resident == resident && !host->h->resident, "%s: the resident loop %s (and KILN_RESIDENT=0 turned it off)",
              c->name, resident ? "ran" : "did not run");
        CHECK(dev->h->n_epochs == host->h->n_epochs && dev->h->steps == host->h->steps, "%s: epochs %d/%d, steps %lld/%lld",
              c->name, dev->h->n_epochs, host->h->n_epochs, (long long)dev->h->steps, (long long)host->h->steps);
        for (int e = 0; e < dev->h->n_epochs && e < host->h->n_epochs; e++) {
            const kn_epoch_record *a = &dev->h->epochs[e], *b = &host->h->epochs[e];
            CHECK(same_double(a->loss, b->loss) && same_double(a->accuracy, b->accuracy) &&
                      same_double(a->val_loss, b->val_loss) && same_double(a->val_accuracy, b->val_accuracy),
                  "%s: epoch %d: loss %.9g/%.9g accuracy %g/%g val_loss %.9g/%.9g", c->name, e + 1, a->loss, b->loss,
                  a->accuracy, b->accuracy, a->val_loss, b->val_loss);
            CHECK(a->skipped_steps == b->skipped_steps && a->loss_scale == b->loss_scale && same_double(a->learning_rate, b->learning_rate),
                  "%s: epoch %d: skipped %lld/%lld, loss scale %g/%g", c->name, e + 1, (long long)a->skipped_steps,
                  (long long)b->skipped_steps, a->loss_scale, b->loss_scale);
        }
    }
    kn_graph *ga = dev->m ? dev->m->graph : NULL, *gb = host->m ? host->m->graph : NULL;
    if (!ga || !gb) return;
    /* where the scaler stands for the next fit, after a failure too */
    CHECK(dev->m->history.skipped_steps == host->m->history.skipped_steps && dev->m->loss_scale == host->m->loss_scale &&
              dev->m->loss_scale_good == host->m->loss_scale_good,
          "%s: %lld/%lld updates skipped in all, loss scale %g/%g, %lld/%lld clean updates", c->name,
          (long long)dev->m->history.skipped_steps, (long long)host->m->history.skipped_steps, (double)dev->m->loss_scale,
          (double)host->m->loss_scale, (long long)dev->m->loss_scale_good, (long long)host->m->loss_scale_good);
    kn_graph_sync(ga); /* a failed fit leaves the device's values on the device */
    kn_graph_sync(gb);
    CHECK(ga->step == gb->step, "%s: optimizer step %lld resident, %lld host", c->name, (long long)ga->step, (long long)gb->step);
    CHECK(ga->param_floats == gb->param_floats && memcmp(ga->param_buf, gb->param_buf, ga->param_floats * sizeof(float)) == 0,
          "%s: the same parameters bit for bit", c->name);
    CHECK(ga->state_floats == gb->state_floats &&
              (!ga->state_floats || memcmp(ga->state_buf, gb->state_buf, ga->state_floats * sizeof(float)) == 0),
          "%s: the same optimizer state", c->name);
}

#ifdef KILN_HAVE_CUDA
/* Whether a plain MLP's batches of `rows` have their weight gradients fused (at most
 * KILN_CUDA_WGRAD_ROWS rows, 256 unless set), and take the K-step kernel
 * (KILN_CUDA_STEPS_KERNEL): fused and not by tiles (past 64 rows unless
 * KILN_CUDA_WGRAD_TILED=0); small_batch.c's rules. */
static bool wgrad_fused_rows(int rows) {
    const char *wr = getenv("KILN_CUDA_WGRAD_ROWS");
    return rows <= (wr && atoi(wr) > 0 ? atoi(wr) : 256);
}
/* KILN_CUDA_GRAPH_STEPS (runtime.c: 32 unless set, 1 for "1" or less); whether the K-step
 * kernel is on (unless KILN_CUDA_STEPS_KERNEL=0 or KILN_CUDA_WGRAD_UPDATE=0) and the update
 * taken by the weight gradients (that, or KILN_CUDA_WGRAD_UPDATE=1): small_batch.c's rules */
static int graph_steps(void) {
    const char *k = getenv("KILN_CUDA_GRAPH_STEPS");
    int n = k ? (atoi(k) > 1 ? atoi(k) : 1) : 32;
    return n < 32 ? n : 32;
}
static bool env_is(const char *name, const char *value) {
    const char *v = getenv(name);
    return v && strcmp(v, value) == 0;
}
static bool steps_kernel_on(void) { return !env_is("KILN_CUDA_STEPS_KERNEL", "0") && !env_is("KILN_CUDA_WGRAD_UPDATE", "0"); }
static bool update_fused_on(void) { return env_is("KILN_CUDA_WGRAD_UPDATE", "1") || steps_kernel_on(); }
static bool steps_kernel_rows(int rows) {
    const char *tiled = getenv("KILN_CUDA_WGRAD_TILED");
    bool untiled = tiled && strcmp(tiled, "0") == 0 ? true : tiled && strcmp(tiled, "1") == 0 ? false : rows <= 64;
    return wgrad_fused_rows(rows) && untiled;
}
#endif

#define MLP(LAYERS, LOSS, OPT, EXTRA)                                                                                  \
    "{\"type\": \"sequential\", \"input_shape\": [6], \"layers\": [" LAYERS "], \"loss\": \"" LOSS "\", "              \
    "\"optimizer\": " OPT EXTRA "}"

int main(void) {
    const char *device_name = getenv("KILN_TEST_DEVICE"), *nccl = getenv("KILN_TEST_NCCL");
    via_nccl = nccl && strcmp(nccl, "1") == 0;
    if (device_name && *device_name && !kn_device_parse(device_name, &device)) {
        printf("FAIL KILN_TEST_DEVICE=%s: not a device\n", device_name);
        return 1;
    }
    if (device != KN_DEVICE_CPU) {
        kn_ctx *probe;
        kn_ctx_new(NULL, &probe);
        if (kn_device_check(probe, device)) {
            printf("test_resident: SKIP: %s\n", kn_last_error(probe));
            kn_ctx_free(probe);
            return 77;
        }
        kn_ctx_free(probe);
    }
    const char *adam = "{\"type\": \"adam\", \"learning_rate\": 0.01}";
    const tcase cases[] = {
        {"sparse categorical, dropout, validation split",
         MLP("{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dropout\", \"rate\": 0.3},"
             "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "%s", ""),
         3, {.epochs = 3, .batch_size = 16, .validation_split = 0.2}, false, false, false, 0, {0}},
        {"sparse categorical, a plain MLP, validation split (on cuda the small-batch chain: the gather, the loss's mean "
         "and the correct count folded into it)",
         MLP("{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 12, \"activation\": \"relu\"},"
             "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "%s", ""),
         3, {.epochs = 3, .batch_size = 16, .validation_split = 0.2}, false, false, false, 0, {0}},
        {"a plain MLP, batches of 66 (on cuda the chain past 64 rows; with KILN_CUDA_WGRAD_ROWS=256 the weight gradients "
         "by tiles over three row chunks, the last partial; a last batch of 5)",
         MLP("{\"type\": \"dense\", \"units\": 24, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 12, \"activation\": \"relu\"},"
             "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "%s", ""),
         3, {.epochs = 2, .batch_size = 66}, false, false, false, 0, {0}},
        {"sparse categorical, a plain MLP of two layers (on cuda its one backward node merged into the forward "
         "chain's kernel: the K-step kernel's step)",
         MLP("{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, "
             "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "%s", ""),
         3, {.epochs = 3, .batch_size = 16, .validation_split = 0.2}, false, false, false, 0, {0}},
        {"sparse categorical, a plain MLP, separate validation data (its rows after the training rows on the device)",
         MLP("{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 12, \"activation\": \"relu\"},"
             "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "%s", ""),
         3, {.epochs = 3, .batch_size = 16}, false, false, false, 41, {0}},
        {"regression, separate validation data, bf16 (both pieces narrowed into one table)",
         MLP("{\"type\": \"dense\", \"units\": 8, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 2}", "mse",
             "%s", ", \"precision\": \"bf16\""),
         0, {.epochs = 2, .batch_size = 20}, false, false, false, 50, {0}},
        {"gradient accumulation by 3 (13 batches an epoch: a last group of one), dropout, validation split "
         "(the sum on the device)",
         MLP("{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dropout\", \"rate\": 0.3},"
             "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "%s", ""),
         3, {.epochs = 3, .batch_size = 16, .accumulate = 3, .validation_split = 0.2}, false, false, false, 0, {0}},
        {"gradient accumulation by 4, a plain MLP (the small-batch chain and fused weight gradients), sample weights",
         MLP("{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 12, \"activation\": \"relu\"},"
             "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "%s", ""),
         3, {.epochs = 2, .batch_size = 16, .accumulate = 4, .sample_weight = (const float *)1}, false, false, false, 0, {0}},
        {"gradient accumulation by 2 and a non-finite loss at row 150 (a batch mid-group or last: the step named)",
         MLP("{\"type\": \"dense\", \"units\": 8, \"activation\": \"relu\"}, {\"type\": \"dropout\", \"rate\": 0.2},"
             "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "%s", ""),
         3, {.epochs = 2, .batch_size = 16, .accumulate = 2}, true, false, false, 0, {0}},
        {"gradient accumulation by 3 and a non-finite gradient at row 150",
         MLP("{\"type\": \"dense\", \"units\": 8, \"activation\": \"tanh\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "%s", ""),
         3, {.epochs = 2, .batch_size = 16, .accumulate = 3}, false, false, true, 0, {0}},
        {"one-hot categorical, balanced class weights, separate validation data (weighted training, unweighted validation)",
         MLP("{\"type\": \"dense\", \"units\": 8, \"activation\": \"tanh\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "categorical_crossentropy", "%s", ""),
         3, {.epochs = 2, .batch_size = 32, .class_weight_balanced = true}, false, false, false, 30, {0}},
        {"binary, sample weights, validation split (the split's rows weighed 1, as the host evaluates them)",
         MLP("{\"type\": \"dense\", \"units\": 8, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 1, \"activation\": \"sigmoid\"}",
             "binary_crossentropy", "%s", ""),
         2, {.epochs = 2, .batch_size = 16, .sample_weight = (const float *)1, .validation_split = 0.2}, false, false, false, 0, {0}},
        {"regression, mse, sgd momentum",
         MLP("{\"type\": \"dense\", \"units\": 8, \"activation\": \"gelu\"}, {\"type\": \"dense\", \"units\": 2}", "mse",
             "{\"type\": \"sgd\", \"learning_rate\": 0.05, \"momentum\": 0.9}", ""),
         0, {.epochs = 3, .batch_size = 20}, false, false, false, 0, {0}},
        {"batch norm, cosine schedule, rmsprop",
         MLP("{\"type\": \"dense\", \"units\": 8}, {\"type\": \"batch_normalization\"}, {\"type\": \"activation\", \"activation\": \"relu\"},"
             "{\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "{\"type\": \"rmsprop\", \"learning_rate\": 0.01}", ""),
         2, {.epochs = 2, .batch_size = 16, .schedule = {.kind = KN_SCHEDULE_COSINE, .warmup_steps = 3}}, false, false, false, 0, {0}},
        {"layer norm after each dense layer, adam (on cuda: no dense chain across it; its own kernels in the step)",
         MLP("{\"type\": \"dense\", \"units\": 16}, {\"type\": \"layer_normalization\"}, {\"type\": \"activation\", \"activation\": \"relu\"},"
             "{\"type\": \"dense\", \"units\": 12, \"activation\": \"relu\"}, {\"type\": \"layer_normalization\", \"center\": false},"
             "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "%s", ""),
         3, {.epochs = 2, .batch_size = 16, .validation_split = 0.1}, false, false, false, 0, {0}},
        {"an embedding of token features, flattened (the gather in the step, its scatter-add before the update), "
         "validation split",
         "{\"type\": \"sequential\", \"input_shape\": [6], \"layers\": [{\"type\": \"embedding\", \"input_dim\": 12,"
         " \"output_dim\": 4}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
         " \"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": %s}",
         3, {.epochs = 2, .batch_size = 16, .validation_split = 0.2}, false, false, false, 0, {0}},
        {"an embedding of 3000 tokens in bf16 (its indices stay f32: the features table is not narrowed), a 1-D CNN",
         "{\"type\": \"sequential\", \"input_shape\": [6], \"layers\": [{\"type\": \"embedding\", \"input_dim\": 3000,"
         " \"output_dim\": 4}, {\"type\": \"conv1d\", \"filters\": 4, \"kernel_size\": 2, \"activation\": \"relu\"},"
         " {\"type\": \"global_max_pool1d\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
         " \"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": %s, \"precision\": \"bf16\"}",
         3, {.epochs = 2, .batch_size = 16}, false, false, false, 0, {0}},
        {"bf16 (the features table narrowed once)",
         MLP("{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "%s", ", \"precision\": \"bf16\""),
         3, {.epochs = 2, .batch_size = 16}, false, false, false, 0, {0}},
        {"a non-finite loss at row 150",
         MLP("{\"type\": \"dense\", \"units\": 8, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "%s", ""),
         3, {.epochs = 2, .batch_size = 16}, true, false, false, 0, {0}},
        {"batch norm and a non-finite loss (the moving statistics frozen after it)",
         MLP("{\"type\": \"dense\", \"units\": 8}, {\"type\": \"batch_normalization\"}, {\"type\": \"activation\", \"activation\": \"relu\"},"
             "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "%s", ""),
         3, {.epochs = 2, .batch_size = 16}, true, false, false, 0, {0}},
        {"a small CNN: conv, batch norm, max pool, dropout (the convolution kernels inside the step)",
         "{\"type\": \"sequential\", \"input_shape\": [3, 2, 1], \"layers\": ["
         "{\"type\": \"conv2d\", \"filters\": 4, \"kernel_size\": 2, \"padding\": \"same\", \"activation\": \"relu\"},"
         "{\"type\": \"batch_normalization\"}, {\"type\": \"max_pool2d\", \"pool_size\": 2}, {\"type\": \"flatten\"},"
         "{\"type\": \"dropout\", \"rate\": 0.2}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
         " \"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": %s}",
         3, {.epochs = 2, .batch_size = 16, .validation_split = 0.1}, false, false, false, 0, {0}},
        {"Keras's random augmentation layers in a CNN (their draws keyed by the step values: K steps a graph draw each "
         "step's transforms), validation split (the identity there)",
         "{\"type\": \"sequential\", \"input_shape\": [5, 7, 3], \"layers\": [{\"type\": \"random_flip\"},"
         "{\"type\": \"random_rotation\", \"factor\": 0.1}, {\"type\": \"random_zoom\", \"height_factor\": 0.2},"
         "{\"type\": \"random_translation\", \"height_factor\": 0.1, \"width_factor\": 0.2, \"fill_mode\": \"wrap\"},"
         "{\"type\": \"random_contrast\", \"factor\": 0.3, \"value_range\": [-3, 3]},"
         "{\"type\": \"random_brightness\", \"factor\": 0.1, \"value_range\": [-3, 3]},"
         "{\"type\": \"conv2d\", \"filters\": 4, \"kernel_size\": 3, \"padding\": \"same\", \"activation\": \"relu\"},"
         "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
         " \"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": %s}",
         3, {.epochs = 2, .batch_size = 16, .validation_split = 0.1}, false, false, false, 0, {0}},
        {"fp16 loss scaling from 2^24 (overflows, halvings, doublings every 5), dropout",
         MLP("{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dropout\", \"rate\": 0.2},"
             "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "%s",
             ", \"precision\": \"fp16\", \"loss_scale\": {\"initial_scale\": 16777216, \"dynamic_growth_steps\": 5}"),
         3, {.epochs = 3, .batch_size = 16, .validation_split = 0.1}, false, true, false, 0, {0}},
        {"a finite loss and a non-finite gradient at row 150 (the guard's own check: in the fused weight gradients on cuda)",
         MLP("{\"type\": \"dense\", \"units\": 8, \"activation\": \"tanh\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "%s", ""),
         3, {.epochs = 2, .batch_size = 16}, false, false, true, 0, {0}},
        {"augmentation of 12x12 grey images (every op: the AVX2 paths on the host), an MLP (no fold: the gather kernel augments), validation split "
         "(its rows never augmented)",
         "{\"type\": \"sequential\", \"input_shape\": [12, 12, 1], \"layers\": [{\"type\": \"flatten\"},"
         "{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
         " \"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": %s}",
         3, {.epochs = 3, .batch_size = 16, .validation_split = 0.2,
             .augment = {.shift = 2, .flip = 0.5f, .rotate = 25, .rotate_p = 0.7f, .noise = 0.1f, .noise_p = 0.6f, .erase = 0.5f}},
         false, false, false, 0, {12, 12, 1}},
        {"augmentation of 5x7 images of 3 channels (the scalar paths on the host), a CNN, separate validation data",
         "{\"type\": \"sequential\", \"input_shape\": [5, 7, 3], \"layers\": ["
         "{\"type\": \"conv2d\", \"filters\": 4, \"kernel_size\": 3, \"padding\": \"same\", \"activation\": \"relu\"},"
         "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
         " \"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": %s}",
         3, {.epochs = 2, .batch_size = 16, .augment = {.shift = 1, .flip = 0.5f, .rotate = 40, .noise = 0.05f, .erase = 0.4f}},
         false, false, false, 30, {5, 7, 3}},
        {"augmentation in bf16 (the f32 rows augmented, then narrowed by the gather), validation split (narrowed only)",
         "{\"type\": \"sequential\", \"input_shape\": [12, 12, 1], \"layers\": [{\"type\": \"flatten\"},"
         "{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
         " \"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": %s, \"precision\": \"bf16\"}",
         3, {.epochs = 2, .batch_size = 16, .validation_split = 0.2,
             .augment = {.shift = 2, .flip = 0.5f, .rotate = 25, .noise = 0.1f, .erase = 0.5f}},
         false, false, false, 0, {12, 12, 1}},
        {"augmentation in fp16 with loss scaling (narrowed to f16)",
         "{\"type\": \"sequential\", \"input_shape\": [12, 12, 1], \"layers\": [{\"type\": \"flatten\"},"
         "{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
         " \"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": %s, \"precision\": \"fp16\","
         " \"loss_scale\": {\"initial_scale\": 1024, \"dynamic_growth_steps\": 5}}",
         3, {.epochs = 2, .batch_size = 16, .augment = {.shift = 1, .flip = 0.5f, .rotate = 15, .noise = 0.05f}},
         false, false, false, 0, {12, 12, 1}},
        {"augmentation and a non-finite loss at row 150 (the diagnosis reloads the batch augmented as the device did)",
         "{\"type\": \"sequential\", \"input_shape\": [12, 12, 1], \"layers\": [{\"type\": \"flatten\"},"
         "{\"type\": \"dense\", \"units\": 8, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
         " \"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": %s}",
         3, {.epochs = 2, .batch_size = 16, .augment = {.shift = 2, .flip = 0.5f, .rotate = 25, .noise = 0.1f, .erase = 0.5f}},
         true, false, false, 0, {12, 12, 1}},
        {"nadam, a plain MLP (its factors from the host's step values on every path: the chain, the fused update, "
         "K steps a graph or a kernel)",
         MLP("{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 12, \"activation\": \"relu\"},"
             "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "{\"type\": \"nadam\", \"learning_rate\": 0.01}", ""),
         3, {.epochs = 3, .batch_size = 16, .validation_split = 0.2}, false, false, false, 0, {0}},
        {"nadam, fp16 loss scaling from 2^24 (skipped updates: the device's start_step takes Nadam's factors at its own "
         "step count, from its cache of the running product)",
         MLP("{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "{\"type\": \"nadam\", \"learning_rate\": 0.01}",
             ", \"precision\": \"fp16\", \"loss_scale\": {\"initial_scale\": 16777216, \"dynamic_growth_steps\": 5}"),
         3, {.epochs = 3, .batch_size = 16, .validation_split = 0.1}, false, true, false, 0, {0}},
        {"radam, a plain MLP (its factors from the host's step values; unrectified, then rectified from step 6)",
         MLP("{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 12, \"activation\": \"relu\"},"
             "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "{\"type\": \"radam\", \"learning_rate\": 0.01}", ""),
         3, {.epochs = 3, .batch_size = 16, .validation_split = 0.2}, false, false, false, 0, {0}},
        {"radam, fp16 loss scaling from 2^24 (skipped updates: the update takes RAdam's factors at the device's step count)",
         MLP("{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "{\"type\": \"radam\", \"learning_rate\": 0.01}",
             ", \"precision\": \"fp16\", \"loss_scale\": {\"initial_scale\": 16777216, \"dynamic_growth_steps\": 5}"),
         3, {.epochs = 3, .batch_size = 16, .validation_split = 0.1}, false, true, false, 0, {0}},
        {"lion with weight decay, a plain MLP",
         MLP("{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 12, \"activation\": \"relu\"},"
             "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "{\"type\": \"lion\", \"learning_rate\": 0.001, \"weight_decay\": 0.5}", ""),
         3, {.epochs = 3, .batch_size = 16, .validation_split = 0.2}, false, false, false, 0, {0}},
        {"adam with AMSGrad (a third state slot), a plain MLP",
         MLP("{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 12, \"activation\": \"relu\"},"
             "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "{\"type\": \"adam\", \"learning_rate\": 0.01, \"amsgrad\": true}", ""),
         3, {.epochs = 3, .batch_size = 16, .validation_split = 0.2}, false, false, false, 0, {0}},
        {"ftrl with L1 and shrinkage, a plain MLP",
         MLP("{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 12, \"activation\": \"relu\"},"
             "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy",
             "{\"type\": \"ftrl\", \"learning_rate\": 0.05, \"l1_regularization_strength\": 0.001, "
             "\"l2_shrinkage_regularization_strength\": 0.01}", ""),
         3, {.epochs = 3, .batch_size = 16, .validation_split = 0.2}, false, false, false, 0, {0}},
        {"fp16 loss scaling and a non-finite loss (the scaler's state at the failure)",
         MLP("{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}",
             "sparse_categorical_crossentropy", "%s",
             ", \"precision\": \"fp16\", \"loss_scale\": {\"initial_scale\": 16777216, \"dynamic_growth_steps\": 5}"),
         3, {.epochs = 2, .batch_size = 16}, true, false, false, 0, {0}},
    };
    /* KILN_TEST_RESIDENT_CASE=TEXT: only the cases whose name holds TEXT (ctest's variants
     * that matter to one case alone) */
    const char *only = getenv("KILN_TEST_RESIDENT_CASE");
    int ran = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tcase c = cases[i];
        if (only && *only && !strstr(c.name, only)) continue;
        ran++;
        char json[2048];
        snprintf(json, sizeof json, c.json, adam);
        c.json = json;
        result dev = train(&c, true), host = train(&c, false);
        compare(&c, &dev, &host);
#ifdef KILN_HAVE_CUDA
        /* KILN_CUDA_GRAPH_STEPS=K (32 unless set): the resident steps went K to a launch (all
         * but the last few of an epoch, and every one of a run that failed before K) */
        int k = graph_steps();
        if (device == KN_DEVICE_CUDA && k > 1 && !env_is("KILN_CUDA_MAPPED", "0") && !dev.st && dev.h->steps >= 2 * k &&
            c.fit.accumulate <= 1) /* (copied step values: never held back; accumulating, runs
                                    * alike come at most accumulate - 1 in a row) */
            CHECK(kn__cuda_grouped_launches(dev.m->graph) > 0, "%s: %d steps a graph: no grouped launch", c.name, k);
        /* the update in a plain MLP's weight gradients (KILN_CUDA_WGRAD_UPDATE=1, or the K-step
         * kernel's default; the chain's cases, without accumulation, whose update is a run of
         * its own) */
        if (device == KN_DEVICE_CUDA && update_fused_on() && strstr(c.name, "a plain MLP") && c.fit.accumulate <= 1 &&
            !via_nccl) {
            /* (the full batches took it too where their rows are fused: batches of 66 by tiles,
             * unless the device holds fewer blocks at once than the tiles' cooperative grid, as
             * the emulator's one-block variants: there the update stays apart past 64 rows) */
            bool one_block = env_is("KILN_CUDA_EMU_SMS", "1") && env_is("KILN_CUDA_EMU_BLOCKS_PER_SM", "1");
            bool fused_rows = wgrad_fused_rows(c.fit.batch_size) && !(one_block && !steps_kernel_rows(c.fit.batch_size));
            int64_t most = kn__cuda_fused_update_rows(dev.m->graph), want = fused_rows ? c.fit.batch_size : 1;
            CHECK(kn__cuda_fused_updates(dev.m->graph) > 0 && most >= want,
                  "%s: the update fused: taken by runs of at most %lld rows, not %lld", c.name, (long long)most,
                  (long long)want);
        }
        /* the K-step kernel (unless KILN_CUDA_STEPS_KERNEL=0), with K steps a graph: a plain
         * MLP's K steps as one kernel */
        if (device == KN_DEVICE_CUDA && steps_kernel_on() && k > 1 && strstr(c.name, "a plain MLP") && c.fit.accumulate <= 1 &&
            !via_nccl && !dev.st && dev.h->steps >= 2 * k && steps_kernel_rows(c.fit.batch_size))
            CHECK(kn__cuda_steps_kernels(dev.m->graph) > 0, "%s: %d steps: no K-step kernel", c.name, k);
#endif
        if (c.skips && !dev.st)
            CHECK(dev.h->skipped_steps > 0 && dev.h->skipped_steps < dev.h->steps, "%s: %lld of %lld updates skipped",
                  c.name, (long long)dev.h->skipped_steps, (long long)dev.h->steps);
        if (c.poison || c.inf_feature)
            CHECK(dev.st == KN_ERR_NUMERIC && strstr(dev.err, "step"), "%s: an error naming the step: %s", c.name, dev.err);
        if (c.inf_feature) CHECK(strstr(dev.err, "gradient") != NULL, "%s: a gradient named, not the loss: %s", c.name, dev.err);
        kn_model_free(dev.m);
        kn_model_free(host.m);
        kn_ctx_free(dev.ctx);
        kn_ctx_free(host.ctx);
    }
    CHECK(ran > 0, "KILN_TEST_RESIDENT_CASE=%s: no case's name holds it", only ? only : "");
    printf("test_resident: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
