/* train_step.c — one training step with the graph optimizer's passes off and on, timed in
 * the same process in alternating blocks (this VM's speed drifts by tens of percent over
 * seconds, so separate runs cannot resolve a 10% difference). Same model, same batch, same
 * thread count; medians over blocks.
 * usage: [PASSES=LIST] train_step SPEC.json [BATCH=the spec's] [BLOCKS=15] [STEPS_PER_BLOCK=200] [THREADS=2]
 * (PASSES: the set compared with none; default all) */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: train_step SPEC.json [BATCH] [BLOCKS] [STEPS_PER_BLOCK] [THREADS]\n");
        return 2;
    }
    char *json = slurp(argv[1]);
    int blocks = argc > 3 ? atoi(argv[3]) : 15, per = argc > 4 ? atoi(argv[4]) : 200;
    int threads = argc > 5 ? atoi(argv[5]) : 2;
    kn_ctx *ctx;
    if (!json || kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 1}, &ctx)) return 1;
    unsigned variants[2] = {KN_PASS_NONE, KN_PASS_ALL};
    /* PASSES=LIST compares that set with none instead of all (e.g. PASSES=-fuse) */
    if (getenv("PASSES") && kn_passes_parse(ctx, getenv("PASSES"), &variants[1])) {
        fprintf(stderr, "train_step: %s\n", kn_last_error(ctx));
        return 2;
    }
    kn_model *m[2];
    kn_spec spec;
    kn_graph_report rep[2];
    for (int v = 0; v < 2; v++) {
        if (kn_model_from_json(ctx, json, NULL, &m[v], &spec) || kn_model_compile(m[v], &spec.compile) ||
            kn_model_set_passes(m[v], variants[v])) {
            fprintf(stderr, "train_step: %s: %s\n", argv[1], kn_last_error(ctx));
            return 1;
        }
    }
    int64_t batch = argc > 2 && atoi(argv[2]) > 0 ? atoi(argv[2]) : spec.batch_size;
    int64_t in = kn_model_input_size(m[0]), outs = kn_model_output_size(m[0]);
    float *x = malloc(sizeof(float) * (size_t)(batch * in));
    int32_t *y = malloc(sizeof(int32_t) * (size_t)batch);
    for (int64_t i = 0; i < batch * in; i++) x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
    for (int64_t i = 0; i < batch; i++) y[i] = (int32_t)(i % outs);
    for (int v = 0; v < 2; v++) kn_model_graph_report(m[v], batch, true, &rep[v], NULL);
    double *t[2] = {malloc(sizeof(double) * (size_t)blocks), malloc(sizeof(double) * (size_t)blocks)};
    float loss;
    for (int v = 0; v < 2; v++) /* warm up: graphs built, caches and the worker pool hot */
        for (int s = 0; s < per; s++) kn_model_train_step(m[v], x, y, batch, &loss);
    for (int b = 0; b < blocks; b++)
        for (int v = 0; v < 2; v++) {
            double t0 = now();
            for (int s = 0; s < per; s++) kn_model_train_step(m[v], x, y, batch, &loss);
            t[v][b] = (now() - t0) / per * 1e6;
        }
    printf("%s, batch %lld, %d threads: median of %d blocks of %d steps, alternating\n", argv[1], (long long)batch,
           threads, blocks, per);
    for (int v = 0; v < 2; v++) {
        qsort(t[v], (size_t)blocks, sizeof(double), cmp);
        printf("  passes %-4s: %3d nodes, arena %8zu bytes (naive %8zu), %8.2f us/step (blocks %.2f-%.2f)\n",
               v ? (getenv("PASSES") ? getenv("PASSES") : "all") : "none", rep[v].nodes_after, rep[v].arena_bytes, rep[v].naive_bytes, t[v][blocks / 2],
               t[v][0], t[v][blocks - 1]);
    }
    printf("  speedup from the passes: %.2fx\n", t[0][blocks / 2] / t[1][blocks / 2]);
    for (int v = 0; v < 2; v++) kn_model_free(m[v]);
    kn_ctx_free(ctx);
    free(json);
    free(x);
    free(y);
    free(t[0]);
    free(t[1]);
    return 0;
}
