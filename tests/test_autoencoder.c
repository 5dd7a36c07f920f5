/* test_autoencoder.c — rows as their own targets (kn_dataset_inputs_as_targets; the command
 * line's --targets inputs), Keras's model.fit(x, x):
 *
 * - the dataset: a regression of every feature onto itself (targets a copy of the rows, the
 *   sample shape kept, labels gone), its splits keeping what it is;
 * - a convolutional autoencoder on digits (8x8 images through a 4x4x8 code and back with
 *   conv2d_transpose) whose held-out reconstruction error is well under the mean image's,
 *   and a dense one trained with noise augmentation (a denoising autoencoder);
 * - the refusals, one line each: augmentation that moves pixels (shift, flip, rotate: the
 *   targets would not move with them), a raw CSV table (not yet preprocessed). Run from the
 *   source root. */
#define _DEFAULT_SOURCE /* mkdtemp (model_test.h) */
#include "nn/model.h"
#include "data/dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model_test.h"

enum { MAX = 1797, TRAIN = 1437 };

static kn_ctx *new_ctx(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 21}, &ctx);
    return ctx;
}

/* Mean squared error over ds's rows of predicting each row by m (or, m NULL, by mean). */
static double reconstruction_mse(kn_model *m, const kn_dataset *ds, const float *mean) {
    float *out = malloc((size_t)(ds->n * ds->features) * sizeof *out);
    kn_status st = m ? kn_model_predict(m, ds->x, ds->n, out) : KN_OK;
    CHECK(out && !st, "predict: %s", m ? kn_last_error(kn_model_ctx(m)) : "");
    double sum = 0;
    for (int64_t r = 0; out && !st && r < ds->n; r++)
        for (int64_t f = 0; f < ds->features; f++) {
            double p = m ? out[r * ds->features + f] : mean[f], d = p - ds->targets[r * ds->features + f];
            sum += d * d;
        }
    free(out);
    return sum / (double)(ds->n * ds->features);
}

/* digits' rows as 8x8 images (64 pixels in [0, 1]), split 1437 / 360, as their own targets. */
static void digits_autoencoder_sets(kn_ctx *ctx, kn_dataset **train, kn_dataset **test) {
    float *x = malloc((size_t)MAX * 64 * sizeof *x);
    int32_t *labels = malloc(MAX * sizeof *labels);
    int64_t n = x && labels ? read_digits(x, labels, MAX) : 0;
    CHECK(n == MAX, "digits: %lld rows", (long long)n);
    kn_dataset *tr = NULL, *te = NULL;
    kn_dataset_from_arrays(ctx, x, labels, TRAIN, 64, 10, &tr);
    kn_dataset_from_arrays(ctx, x + TRAIN * 64, labels + TRAIN, MAX - TRAIN, 64, 10, &te);
    kn_status st = tr && te ? KN_OK : KN_ERR_IO;
    for (int k = 0; !st && k < 2; k++) { /* 8x8 images, as an image source would describe them (augmentation needs it) */
        kn_dataset *d = k ? te : tr;
        d->sample_ndim = 3;
        memcpy(d->sample_shape, (int64_t[]){8, 8, 1}, 3 * sizeof(int64_t));
    }
    if (!st) st = kn_dataset_inputs_as_targets(tr, train);
    if (!st) st = kn_dataset_inputs_as_targets(te, test);
    CHECK(!st, "digits as their own targets: %s", kn_last_error(ctx));
    kn_dataset_free(tr);
    kn_dataset_free(te);
    free(x);
    free(labels);
}

static void dataset_checks(kn_ctx *ctx, const kn_dataset *train) {
    CHECK(train->n == TRAIN && train->features == 64 && train->outputs == 64 && train->n_classes == 0 &&
              !train->labels && train->targets && memcmp(train->x, train->targets, 64 * TRAIN * sizeof(float)) == 0,
          "the rows are not their own targets");
    CHECK(train->sample_ndim == 3 && train->sample_shape[0] == 8 && train->sample_shape[2] == 1, "sample shape lost");
    kn_dataset *a = NULL, *b = NULL;
    kn_status st = kn_dataset_split(train, 0.25, 3, &a, &b);
    CHECK(!st && a && b && a->targets_are_inputs && b->targets_are_inputs && a->outputs == 64 &&
              memcmp(b->x, b->targets, (size_t)(b->n * 64) * sizeof(float)) == 0,
          "a split of it: %s", kn_last_error(ctx));
    kn_dataset_free(a);
    kn_dataset_free(b);
    /* a raw CSV table is refused: its targets would be raw columns, not the model's inputs */
    kn_dataset *raw = NULL, *raw_test = NULL, *out = NULL;
    st = kn_dataset_load(ctx, "csv:tests/data/iris.csv", &raw, &raw_test);
    CHECK(!st && kn_dataset_is_raw(raw), "iris: %s", kn_last_error(ctx));
    st = raw ? kn_dataset_inputs_as_targets(raw, &out) : KN_OK;
    const char *msg = kn_last_error(ctx);
    CHECK(st == KN_ERR_INVALID_ARGUMENT && !out && strstr(msg, "preprocess them first") && !strchr(msg, '\n'),
          "a raw table: status %d, '%s'", (int)st, msg);
    kn_dataset_free(raw);
    kn_dataset_free(raw_test);
}

#define CONV_AE                                                                                                      \
    "{\"input_shape\": [8, 8, 1], \"layers\": ["                                                                   \
    "{\"type\": \"conv2d\", \"filters\": 8, \"kernel_size\": 3, \"strides\": 2, \"padding\": \"same\", "           \
    "\"activation\": \"relu\"}, "                                                                                   \
    "{\"type\": \"conv2d_transpose\", \"filters\": 1, \"kernel_size\": 4, \"strides\": 2, \"padding\": \"same\", " \
    "\"activation\": \"sigmoid\"}], \"loss\": \"mse\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}"

#define DENSE_AE                                                                                                     \
    "{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"flatten\"}, "                                           \
    "{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 64}], \"loss\": \"mse\", "      \
    "\"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}"

/* m fitted on train for epochs with aug; its held-out mse against the mean image's. */
static void fit_and_check(kn_ctx *ctx, const char *what, const char *text, const kn_dataset *train,
                          const kn_dataset *test, const kn_augment *aug, double want_ratio) {
    kn_model *m = build(ctx, text);
    kn_status st = m ? kn_model_fit(m, train,
                                    &(kn_fit_opts){.epochs = 20, .batch_size = 32, .augment = aug ? *aug : (kn_augment){0}},
                                    NULL)
                     : KN_ERR_SPEC;
    CHECK(!st, "%s: %s", what, kn_last_error(ctx));
    float mean[64] = {0};
    for (int64_t r = 0; r < train->n; r++)
        for (int f = 0; f < 64; f++) mean[f] += train->x[r * 64 + f] / (float)train->n;
    double base = reconstruction_mse(NULL, test, mean), got = !st ? reconstruction_mse(m, test, NULL) : INFINITY;
    printf("%s on digits, 20 epochs: held-out reconstruction mse %.4f (the mean image's %.4f)\n", what, got, base);
    CHECK(got < want_ratio * base, "%s: held-out mse %.4f, not under %.2f x the mean image's %.4f", what, got, want_ratio,
          base);
    kn_model_free(m);
}

static void refusals(kn_ctx *ctx, const kn_dataset *train) {
    static const kn_augment moves[] = {{.shift = 1}, {.flip = 0.5f}, {.rotate = 10}};
    for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++) {
        kn_model *m = build(ctx, DENSE_AE);
        kn_status st = m ? kn_model_fit(m, train, &(kn_fit_opts){.epochs = 1, .augment = moves[i]}, NULL) : KN_ERR_SPEC;
        const char *msg = kn_last_error(ctx);
        CHECK(st == KN_ERR_INVALID_ARGUMENT && strstr(msg, "shift, flip and rotate move the inputs but not the targets") &&
                  !strchr(msg, '\n'),
              "augmentation %zu moving pixels: status %d, '%s'", i, (int)st, msg);
        kn_model_free(m);
    }
}

int main(void) {
    kn_ctx *ctx = new_ctx();
    kn_dataset *train = NULL, *test = NULL;
    digits_autoencoder_sets(ctx, &train, &test);
    if (train && test) {
        dataset_checks(ctx, train);
        fit_and_check(ctx, "conv autoencoder (conv2d -> conv2d_transpose)", CONV_AE, train, test, NULL, 0.2);
        kn_augment noise = {.noise = 0.1f};
        fit_and_check(ctx, "dense denoising autoencoder (noise 0.1)", DENSE_AE, train, test, &noise, 0.6);
        refusals(ctx, train);
    }
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_ctx_free(ctx);
    printf("test_autoencoder: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
