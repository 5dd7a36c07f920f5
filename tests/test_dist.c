/* test_dist.c — data-parallel training (kn_fit_opts.distributed), run by ctest under
 * `timeout 60 mpirun -np 2`: N ranks with global batch B end with the parameters of one
 * process with batch B (even shares, uneven shares with class and sample weights, a last
 * batch with fewer rows than ranks); every rank holds bit-identical parameters after every
 * step (checksums compared through MPI after each step, fp16 compression and batch
 * normalization included); a NaN loss or bad data on one rank ends every rank's fit with
 * that rank's message within seconds. Alone (no mpirun) it checks the one-rank case. */
#include "nn/model.h"
#include "graph/graph.h"

#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { F = 12, C = 3 };
static int failures, rank, world;

#define CHECK(cond, ...)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            failures++;                                                                     \
            fprintf(stderr, "rank %d: FAIL %s:%d: ", rank, __FILE__, __LINE__);             \
            fprintf(stderr, __VA_ARGS__);                                                   \
            fputc('\n', stderr);                                                            \
        }                                                                                   \
    } while (0)

/* Rows that a small MLP can learn a little of: class c lifts feature c. */
static void make_data(int n, float *x, int32_t *y) {
    uint32_t s = 12345;
    for (int i = 0; i < n; i++) {
        y[i] = (int32_t)(i * 7 % C);
        for (int j = 0; j < F; j++) {
            s = s * 1664525u + 1013904223u;
            x[i * F + j] = (float)(s >> 8) / 16777216.0f - 0.5f + (j == y[i] ? 0.7f : 0.0f);
        }
    }
}

static kn_model *new_model(kn_ctx *ctx, bool batch_norm) {
    kn_model *m = NULL;
    kn_model_new_sequential(ctx, (int64_t[]){F}, 1, &m);
    kn_model_add_dense(m, 16, KN_RELU);
    if (batch_norm) {
        kn_model_add_batch_norm(m, 0.9f, 1e-3f);
        kn_model_add_dropout(m, 0.2f);
    }
    kn_model_add_dense(m, C, KN_SOFTMAX);
    kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_adam(1e-2f)});
    return m;
}

/* After every step: the parameters' checksum must be the same on every rank. */
typedef struct { kn_model *m; int steps, mismatches; } step_watch;
static bool after_step(void *user, int epoch, int64_t batch, double loss) {
    (void)epoch, (void)loss;
    step_watch *w = user;
    if (batch < 0) return true; /* the epoch-end call */
    kn_graph *g = w->m->graph;
    uint64_t sum = kn__checksum(g->param_buf, g->param_floats * sizeof(float)), lo = sum, hi = sum;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    w->steps++;
    w->mismatches += lo != hi;
    return true;
}

typedef struct {
    const char *name;
    int n;                 /* rows */
    int64_t batch;         /* global */
    int epochs;
    bool weights;          /* class and sample weights */
    bool batch_norm;       /* batch norm + dropout: ranks identical, not equal to one process */
    kn_grad_compression compression;
    double tolerance;      /* largest |distributed - one process| allowed, per parameter */
    bool unwatched;        /* no per-step callback: the fit's one-collective path (checked at the end) */
} fit_case;

/* Trains the case alone and distributed (on every rank) and compares. */
static void run_case(const fit_case *fc) {
    float *x = malloc(sizeof(float) * (size_t)fc->n * F), *sw = malloc(sizeof(float) * (size_t)fc->n);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)fc->n);
    make_data(fc->n, x, y);
    for (int i = 0; i < fc->n; i++) sw[i] = 0.5f + (float)(i % 4) * 0.5f;
    static const float class_w[C] = {1.0f, 2.5f, 0.5f};
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 7}, &ctx);
    kn_dataset *ds;
    kn_dataset_from_arrays(ctx, x, y, fc->n, F, C, &ds);
    kn_fit_opts o = {.epochs = fc->epochs, .batch_size = fc->batch, .verbose = 0, .grad_compression = fc->compression};
    if (fc->weights) o.class_weight = class_w, o.n_class_weights = C, o.sample_weight = sw;

    kn_model *alone = new_model(ctx, fc->batch_norm), *dist = new_model(ctx, fc->batch_norm);
    const kn_history *h1 = NULL, *h2 = NULL;
    kn_status st = kn_model_fit(alone, ds, &o, &h1);
    CHECK(st == KN_OK, "%s: one-process fit: %s", fc->name, kn_last_error(ctx));
    double alone_loss = h1 ? h1->epochs[h1->n_epochs - 1].loss : NAN;
    step_watch w = {.m = dist};
    o.distributed = true;
    o.grad_compression = fc->compression;
    if (!fc->unwatched) {
        o.callback = after_step;
        o.callback_user = &w;
    }
    st = kn_model_fit(dist, ds, &o, &h2);
    CHECK(st == KN_OK, "%s: distributed fit: %s", fc->name, kn_last_error(ctx));
    if (st == KN_OK) {
        int64_t steps_per_epoch = (fc->n + fc->batch - 1) / fc->batch;
        CHECK(h2->ranks == world, "%s: history says %d ranks, not %d", fc->name, h2->ranks, world);
        if (fc->unwatched) { /* the ranks' parameters once, at the end */
            after_step(&w, 0, 0, 0);
            w.steps = fc->epochs * (int)steps_per_epoch;
        }
        CHECK(w.steps == fc->epochs * steps_per_epoch, "%s: %d steps watched", fc->name, w.steps);
        CHECK(w.mismatches == 0, "%s: the ranks' parameters differed after %d of %d steps", fc->name, w.mismatches, w.steps);
        float *a = alone->graph->param_buf, *b = dist->graph->param_buf;
        double worst = 0;
        for (size_t i = 0; i < dist->graph->param_floats; i++) worst = fmax(worst, fabs((double)a[i] - (double)b[i]));
        CHECK(worst <= fc->tolerance, "%s: distributed parameters differ from one process's by %g (> %g)", fc->name, worst,
              fc->tolerance);
        double loss = h2->epochs[h2->n_epochs - 1].loss;
        CHECK(fabs(loss - alone_loss) <= 1e-3 + fc->tolerance * 10, "%s: last epoch's loss %.7f, one process %.7f", fc->name,
              loss, alone_loss);
        if (rank == 0)
            printf("%-28s %d ranks: %lld steps, max |param - one process| = %.3g, loss %.6f vs %.6f, all-reduce %.0f us/step\n",
                   fc->name, world, (long long)h2->steps, worst, loss, alone_loss,
                   h2->steps ? h2->allreduce_seconds / (double)h2->steps * 1e6 : 0.0);
    }
    kn_model_free(alone);
    kn_model_free(dist);
    kn_dataset_free(ds);
    kn_ctx_free(ctx);
    free(x);
    free(y);
    free(sw);
}

/* One rank's data goes bad (a NaN in a row of its share, or a feature missing): every
 * rank's fit must fail with that rank's message, promptly. */
static void failing_rank(bool nan_row) {
    enum { N = 640 };
    float *x = malloc(sizeof(float) * N * F);
    int32_t *y = malloc(sizeof(int32_t) * N);
    make_data(N, x, y);
    int bad = world - 1, features = F;
    if (rank == bad && nan_row) x[(3 * 64 + 63) * F + 2] = NAN; /* step 4's last row: the last rank's share */
    if (rank == bad && !nan_row) features = F - 1;                /* the model wants F */
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 7}, &ctx);
    kn_dataset *ds;
    kn_dataset_from_arrays(ctx, x, y, N, features, C, &ds);
    kn_model *m = new_model(ctx, false);
    double t0 = MPI_Wtime();
    kn_status st = kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 2, .batch_size = 64, .no_shuffle = true, .distributed = true}, NULL);
    double took = MPI_Wtime() - t0;
    const char *msg = kn_last_error(ctx);
    char want[32];
    snprintf(want, sizeof want, "rank %d of %d: ", bad, world);
    const char *what = nan_row ? "nan" : "features";
    CHECK(st == (nan_row ? KN_ERR_NUMERIC : KN_ERR_SHAPE), "%s: status %s", what, kn_status_name(st));
    if (world > 1) {
        CHECK(strstr(msg, want) != NULL, "%s: message without '%s': %s", what, want, msg);
        CHECK(kn_dist_error_shared(ctx), "%s: the error is not marked shared", what);
    }
    /* the NaN reaches the loss or, through relu, the gradient first: either way step 4 */
    CHECK(strstr(msg, nan_row ? "at epoch 1, step 4" : "features per sample") != NULL, "%s: message: %s", what, msg);
    CHECK(took < 5, "%s: the failure took %.1f s to reach every rank", what, took);
    if (rank == 0) printf("failing rank (%s): every rank stopped in %.3f s: %s\n", what, took, msg);
    kn_model_free(m);
    kn_dataset_free(ds);
    kn_ctx_free(ctx);
    free(x);
    free(y);
}

int main(int argc, char **argv) {
    if (kn_dist_init(&argc, &argv) != KN_OK) return 1;
    rank = kn_dist_rank();
    world = kn_dist_world();
    /* tolerances: 20 Adam steps amplify the rounding of a gradient summed in another order
     * to ~1e-6; fp16 rounds each gradient to 11 bits, and Adam's normalized steps carry
     * that into the weights at ~lr x 1e-1 */
    const fit_case cases[] = {
        {"even shares", 640, 64, 2, false, false, KN_GRAD_COMPRESSION_NONE, 1e-5, false},
        {"uneven shares + weights", 641, 63, 2, true, false, KN_GRAD_COMPRESSION_NONE, 1e-5, false},
        {"last batch of one row", 641, 64, 2, false, false, KN_GRAD_COMPRESSION_NONE, 1e-5, false},
        {"fp16 all-reduce", 640, 64, 2, false, false, KN_GRAD_COMPRESSION_FP16, 2e-3, false},
        {"batch norm + dropout", 640, 64, 2, false, true, KN_GRAD_COMPRESSION_NONE, INFINITY, false},
        {"uneven, one collective a step", 641, 63, 2, true, false, KN_GRAD_COMPRESSION_NONE, 1e-5, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(&cases[i]);
    failing_rank(true);
    failing_rank(false);
    int all = failures;
    MPI_Allreduce(MPI_IN_PLACE, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("%s (%d failures over %d ranks)\n", all ? "FAILED" : "ok", all, world);
    kn_dist_finalize();
    return all ? 1 : 0;
}
