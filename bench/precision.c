/* precision.c — mixed precision's figures (issue 11's CPU half): a model description
 * (default models/mlp.json, the reference MLP) trained on Fashion-MNIST in fp32, bf16 and
 * fp16 for each seed, in the same process on the same data: test accuracy per seed and its
 * mean, median seconds per epoch, skipped fp16 steps, and the planned arena of one
 * training step at batch 32, 128 and 256 in each precision against fp32's.
 * usage: precision [SPEC=models/mlp.json] [EPOCHS=10] [SEEDS=3] [THREADS=2]
 * (run from the repository root; bench/RESULTS.md has its figures) */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

static kn_ctx *ctx;

#define TRY(call)                                                       \
    do {                                                                \
        if ((call) != KN_OK) {                                          \
            fprintf(stderr, "precision: %s\n", kn_last_error(ctx));     \
            exit(1);                                                    \
        }                                                               \
    } while (0)

static kn_model *build(const char *json, const kn_dataset *train, kn_precision p, kn_spec *spec) {
    kn_model *m;
    TRY(kn_model_from_json(ctx, json, train, &m, spec));
    spec->compile.precision = p;
    TRY(kn_model_compile(m, &spec->compile));
    return m;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "models/mlp.json";
    int epochs = argc > 2 ? atoi(argv[2]) : 10, seeds = argc > 3 ? atoi(argv[3]) : 3;
    int threads = argc > 4 ? atoi(argv[4]) : 2;
    char *json = slurp(path);
    if (!json) {
        fprintf(stderr, "precision: cannot read %s\n", path);
        return 1;
    }
    TRY(kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 42}, &ctx));
    kn_dataset *train, *test;
    TRY(kn_dataset_load(ctx, "fashion-mnist", &train, &test));
    printf("%s on Fashion-MNIST, %d epochs, %d threads\n\n", path, epochs, threads);

    printf("planned arena of one training step (bytes, and %% of fp32):\n");
    int64_t batches[] = {32, 128, 256};
    for (int b = 0; b < 3; b++) {
        size_t f32 = 0;
        printf("  batch %3lld:", (long long)batches[b]);
        for (kn_precision p = 0; p < KN_PRECISION_COUNT; p++) {
            kn_spec spec;
            kn_model *m = build(json, train, p, &spec);
            kn_graph_report r;
            TRY(kn_model_graph_report(m, batches[b], true, &r, NULL));
            if (p == KN_PRECISION_FP32) f32 = r.arena_bytes;
            printf("  %s %zu (%.1f%%)", kn_precision_name(p), r.arena_bytes, 100.0 * (double)r.arena_bytes / (double)f32);
            kn_model_free(m);
        }
        printf("\n");
    }

    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_ctx_free(ctx);

    printf("\n%-6s %-5s %9s %9s %8s\n", "prec", "seed", "test_acc", "s/epoch", "skipped");
    double mean[KN_PRECISION_COUNT] = {0};
    for (int s = 0; s < seeds; s++) {
        TRY(kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = (uint64_t)(42 + s)}, &ctx));
        TRY(kn_dataset_load(ctx, "fashion-mnist", &train, &test));
        for (kn_precision p = 0; p < KN_PRECISION_COUNT; p++) { /* interleaved: the machine's drift hits all alike */
            kn_spec spec;
            kn_model *m = build(json, train, p, &spec);
            const kn_history *h;
            kn_eval_report e;
            TRY(kn_model_fit(m, train, &(kn_fit_opts){.epochs = epochs, .batch_size = spec.batch_size, .verbose = 0}, &h));
            TRY(kn_model_evaluate(m, test, &e));
            mean[p] += e.accuracy / seeds;
            printf("%-6s %-5d %9.4f %9.3f %8lld\n", kn_precision_name(p), 42 + s, e.accuracy, h->seconds_per_epoch,
                   (long long)h->skipped_steps);
            fflush(stdout);
            kn_model_free(m);
        }
        kn_dataset_free(train);
        kn_dataset_free(test);
        kn_ctx_free(ctx);
    }
    printf("\nmean test accuracy over %d seeds:", seeds);
    for (kn_precision p = 0; p < KN_PRECISION_COUNT; p++)
        printf("  %s %.4f (%+.2f points)", kn_precision_name(p), mean[p], 100 * (mean[p] - mean[KN_PRECISION_FP32]));
    printf("\n");
    free(json);
    return 0;
}
