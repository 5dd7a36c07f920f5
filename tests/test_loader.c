/* test_loader.c — the training batches: how a global batch is shared among ranks; that the
 * background loader thread changes nothing (the same parameters, bit for bit, as gathering
 * inline, with and without augmentation); that augmentation changes training and is keyed by
 * the seed; that a checkpointed augmented run resumes bit-identically; and that non-image
 * data and bad augment values are refused with a message naming the field. */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include "check.h"
#include "train/loader.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N = 203, SIDE = 8, F = SIDE * SIDE, C = 3, EPOCHS = 3, BATCH = 16 };
static float X[N * F];
static int32_t Y[N];

static void test_shard(void) {
    int64_t start, count, total = 0, next = 0;
    for (int r = 0; r < 3; r++) { /* 16 rows over 3 ranks: 5, 5, 6, contiguous */
        kn__shard(16, r, 3, &start, &count);
        CHECK(start == next && (count == 5 || count == 6), "rank %d: [%lld, +%lld)", r, (long long)start, (long long)count);
        next = start + count;
        total += count;
    }
    CHECK(total == 16, "the shares cover the batch");
    kn__shard(7, 0, 1, &start, &count);
    CHECK(start == 0 && count == 7, "one rank takes it all");
    kn__shard(2, 3, 4, &start, &count);
    CHECK(count == 1 && start == 1, "more ranks than rows: some get none, the rest one (rank 3: [%lld, +%lld))", (long long)start,
          (long long)count);
}

static kn_dataset *images(kn_ctx *ctx);

/* Data parallelism: the ranks' loaders over one shuffled epoch visit every training row
 * exactly once between them (uneven batches, a short last batch, more ranks than rows in it). */
static void test_epoch_shards(kn_ctx *ctx) {
    kn_dataset *ds = images(ctx);
    int64_t perm[N];
    int visits[N];
    const int64_t batches[] = {16, 7, 64, 203};
    for (int world = 1; world <= 4; world++)
        for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
            int64_t bs = batches[bi], n_rows = N - 1; /* the last row is not a training row */
            for (int64_t i = 0; i < n_rows; i++) perm[i] = i;
            kn__rng_shuffle(perm, n_rows, 5, KN_STREAM_SHUFFLE + 1);
            memset(visits, 0, sizeof visits);
            for (int r = 0; r < world; r++) {
                kn__loader l;
                if (kn__loader_init(&l, ctx, ds, n_rows, bs, r, world, NULL, 5, false)) {
                    CHECK(0, "loader init");
                    continue;
                }
                kn__loader_epoch(&l, perm, 1, 0);
                for (int64_t s = 0; s < l.steps; s++) {
                    const int64_t *idx;
                    int64_t n;
                    kn__loader_rows(&l, s, &idx, &n);
                    const float *x = n ? kn__loader_take(&l, s) : NULL;
                    for (int64_t i = 0; i < n; i++) {
                        visits[idx[i]]++;
                        CHECK(memcmp(x + i * F, X + idx[i] * F, F * sizeof(float)) == 0, "gathered row %lld", (long long)idx[i]);
                    }
                }
                kn__loader_free(&l);
            }
            int64_t once = 0;
            for (int64_t i = 0; i < n_rows; i++) once += visits[i] == 1;
            CHECK(once == n_rows && visits[N - 1] == 0, "world %d, batch %lld: %lld of %lld rows visited exactly once", world,
                  (long long)bs, (long long)once, (long long)n_rows);
        }
    kn_dataset_free(ds);
}

static kn_dataset *images(kn_ctx *ctx) {
    kn_dataset *ds = NULL;
    if (kn_dataset_from_arrays(ctx, X, Y, N, F, C, &ds)) return NULL;
    if (kn_dataset_set_sample_shape(ds, (const int64_t[]){SIDE, SIDE, 1}, 3)) {
        kn_dataset_free(ds);
        return NULL;
    }
    return ds;
}

/* Trains a fresh model with the given options; its parameters go to out (n floats). */
static kn_status train(kn_ctx *ctx, const kn_dataset *ds, kn_fit_opts o, float *out, int64_t *n, const char *resume_from) {
    kn_model *m = NULL;
    kn_status st;
    if (resume_from) {
        st = kn_model_load(ctx, resume_from, NULL, &m);
        o.resume = true;
    } else {
        st = kn_model_new_sequential(ctx, (const int64_t[]){F}, 1, &m);
        if (!st) st = kn_model_add_dense(m, 16, KN_RELU);
        if (!st) st = kn_model_add_dense(m, C, KN_SOFTMAX);
        if (!st)
            st = kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
                                                        .optimizer = kn_adam(0.01f)});
    }
    if (!st) st = kn_model_fit(m, ds, &o, NULL);
    int64_t k = 0, got;
    static const char *names[] = {"dense_0/kernel", "dense_0/bias", "dense_1/kernel", "dense_1/bias"};
    for (int i = 0; !st && i < 4; i++) {
        const float *p = kn_model_param(m, names[i], &got);
        memcpy(out + k, p, (size_t)got * sizeof(float));
        k += got;
    }
    *n = k;
    kn_model_free(m);
    return st;
}

static bool stop_at(void *user, int epoch, int64_t batch, double loss) {
    (void)loss;
    const int *at = user; /* {epoch, batch}: stop after it */
    return !(epoch == at[0] && batch == at[1]);
}

static void test_training(kn_ctx *ctx, const char *dir) {
    kn_dataset *ds = images(ctx);
    CHECK(ds != NULL, "dataset: %s", kn_last_error(ctx));
    if (!ds) return;
    static float a[4096], b[4096], c[4096], d[4096];
    int64_t na = 0, nb = 0, nc = 0, nd = 0;
    kn_fit_opts base = {.epochs = EPOCHS, .batch_size = BATCH, .verbose = 0};
    kn_augment aug = {.shift = 1, .flip = 0.5f, .rotate = 10, .noise = 0.05f, .erase = 0.2f};

    kn_fit_opts o = base;
    o.loader_thread = -1;
    kn_status st = train(ctx, ds, o, a, &na, NULL);
    o.loader_thread = 1;
    if (!st) st = train(ctx, ds, o, b, &nb, NULL);
    CHECK(st == KN_OK && na == nb && memcmp(a, b, sizeof(float) * (size_t)na) == 0,
          "no augmentation: the loader thread gives the same parameters as inline (%s)", kn_last_error(ctx));

    o = base;
    o.augment = aug;
    o.loader_thread = -1;
    st = train(ctx, ds, o, c, &nc, NULL);
    o.loader_thread = 1;
    if (!st) st = train(ctx, ds, o, d, &nd, NULL);
    CHECK(st == KN_OK && nc == nd && memcmp(c, d, sizeof(float) * (size_t)nc) == 0,
          "augmented: the loader thread gives the same parameters as inline (%s)", kn_last_error(ctx));
    CHECK(st == KN_OK && memcmp(a, c, sizeof(float) * (size_t)na) != 0, "augmentation changes training");

    /* resume: stopped in epoch 2 after batch 5, resumed from the last checkpoint (every 4 steps) */
    char ck[256];
    snprintf(ck, sizeof ck, "%s/ck.kiln", dir);
    static float e[4096];
    int64_t ne = 0;
    int at[2] = {2, 5};
    o = base;
    o.augment = aug;
    o.checkpoint_path = ck;
    o.checkpoint_every = 4;
    o.callback = stop_at;
    o.callback_user = at;
    st = train(ctx, ds, o, e, &ne, NULL);
    kn_model *probe = NULL;
    kn_augment saved = {0};
    if (!st) st = kn_model_load(ctx, ck, NULL, &probe);
    CHECK(st == KN_OK && kn_model_checkpoint_augment(probe, &saved) && saved.rotate == 10 && saved.flip == 0.5f,
          "the checkpoint keeps the run's augmentation: %s", kn_last_error(ctx));
    kn_model_free(probe);
    o = base;
    o.augment = saved;
    o.checkpoint_path = ck;
    o.checkpoint_every = 4;
    if (!st) st = train(ctx, ds, o, e, &ne, ck);
    CHECK(st == KN_OK && ne == nc && memcmp(c, e, sizeof(float) * (size_t)nc) == 0,
          "an augmented run resumed from a checkpoint ends bit-identical (%s)", kn_last_error(ctx));

    {   /* the same without augmentation */
        int at2[2] = {2, 5};
        kn_fit_opts q = base;
        q.checkpoint_path = ck;
        q.checkpoint_every = 4;
        q.callback = stop_at;
        q.callback_user = at2;
        st = train(ctx, ds, q, e, &ne, NULL);
        q = base;
        q.checkpoint_path = ck;
        q.checkpoint_every = 4;
        if (!st) st = train(ctx, ds, q, e, &ne, ck);
        CHECK(st == KN_OK && memcmp(a, e, sizeof(float) * (size_t)na) == 0, "plain resume bit-identical (%s)", kn_last_error(ctx));
    }
    /* refusals */
    o = base;
    o.augment = (kn_augment){.flip = 1.5f};
    st = train(ctx, ds, o, e, &ne, NULL);
    CHECK(st == KN_ERR_SPEC && strstr(kn_last_error(ctx), "augment.flip"), "a bad probability is named: %s", kn_last_error(ctx));
    kn_dataset *flat = NULL;
    kn_dataset_from_arrays(ctx, X, Y, N, F, C, &flat);
    o.augment = aug;
    st = train(ctx, flat, o, e, &ne, NULL);
    CHECK(st == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "not images"), "rows without an image shape: %s",
          kn_last_error(ctx));
    kn_dataset_free(flat);
    kn_augment parsed;
    st = kn_augment_parse(ctx, "{\"shift\": 2, \"flip\": 0.5, \"rotate\": 10, \"noise\": 0.05, \"erase\": 0.1}", &parsed);
    CHECK(st == KN_OK && parsed.shift == 2 && parsed.erase == 0.1f, "kn_augment_parse: %s", kn_last_error(ctx));
    st = kn_augment_parse(ctx, "{\"shift\": 2.5}", &parsed);
    CHECK(st == KN_ERR_SPEC && strstr(kn_last_error(ctx), "augment.shift"), "a fractional shift: %s", kn_last_error(ctx));
    st = kn_augment_parse(ctx, "{\"flip\": 0.5, \"spin\": 3}", &parsed);
    CHECK(st == KN_ERR_SPEC && strstr(kn_last_error(ctx), "spin"), "an unknown key: %s", kn_last_error(ctx));
    st = kn_augment_parse(ctx, "off", &parsed);
    CHECK(st == KN_OK && parsed.flip == 0 && parsed.shift == 0, "off");
    kn_dataset_free(ds);
}

int main(void) {
    for (int i = 0; i < N; i++) { /* class c: a bright band in a third of the image */
        Y[i] = i % C;
        for (int p = 0; p < F; p++) {
            int row = p / SIDE;
            X[i * F + p] = (row / 3 == Y[i] ? 0.8f : 0.1f) + 0.05f * (float)((i * 7 + p * 13) % 11) / 11.0f;
        }
    }
    char dir[] = "/tmp/kiln_loader_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    kn_ctx *ctx = NULL;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 11, .log_level = KN_LOG_ERROR}, &ctx)) return 1;
    test_shard();
    test_epoch_shards(ctx);
    test_training(ctx, dir);
    kn_ctx_free(ctx);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
