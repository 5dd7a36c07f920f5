/* test_sessions.c — four threads, each with its own session over one loaded model's shared
 * read-only weights, predict concurrently and get exactly the single-threaded results. */
#define _GNU_SOURCE
#include <kiln.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N = 500, F = 40, C = 6, THREADS = 4, ROUNDS = 20 };
static float X[N * F], REF_ONE[N * C], REF_ALL[N * C]; /* single-threaded: batch 1, batch N */

typedef struct { kn_session *s; int id, mismatches; kn_status st; } job;

static void *run(void *arg) {
    job *j = arg;
    float *out = malloc(sizeof(float) * N * C);
    for (int r = 0; r < ROUNDS && !j->st; r++) {
        /* alternate batch sizes so the threads' graphs resolve different shapes at once */
        int64_t b = (r + j->id) % 2 ? 1 : N;
        for (int64_t i = 0; i < N && !j->st; i += b) j->st = kn_session_predict(j->s, X + i * F, b, out + i * C);
        if (memcmp(out, b == 1 ? REF_ONE : REF_ALL, sizeof REF_ONE) != 0) j->mismatches++;
    }
    free(out);
    return NULL;
}

int main(void) {
    for (int i = 0; i < N * F; i++) X[i] = (float)((i * 7919) % 1000) / 1000.0f;
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 8}, &ctx);
    kn_model *m;
    kn_model_new_sequential(ctx, (int64_t[]){F}, 1, &m);
    kn_model_add_dense(m, 96, KN_GELU);
    kn_model_add_dense(m, 48, KN_TANH);
    kn_model_add_dense(m, C, KN_SOFTMAX);
    kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_adam(1e-3f)});
    char path[] = "/tmp/kiln_sessions_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    kn_model_save(m, path);
    kn_model_free(m);
    kn_model *l;
    if (kn_model_load(ctx, path, NULL, &l)) { printf("FAIL load: %s\n", kn_last_error(ctx)); return 1; }
    /* references from one session on this thread; batch size changes the summation order
     * (GEMV for one row, tiled GEMM for many), so each batch size has its own */
    kn_session *ref;
    kn_session_new(l, 64, &ref);
    for (int i = 0; i < N; i++) kn_session_predict(ref, X + i * F, 1, REF_ONE + i * C);
    kn_session_predict(ref, X, N, REF_ALL);
    kn_session_free(ref);
    float direct[N * C];
    kn_model_predict(l, X, N, direct);
    for (int i = 0; i < N * C; i++)
        if (direct[i] - REF_ALL[i] > 1e-6f || REF_ALL[i] - direct[i] > 1e-6f) {
            printf("FAIL: session and model predictions differ at %d: %g vs %g\n", i, (double)REF_ALL[i], (double)direct[i]);
            return 1;
        }
    job jobs[THREADS];
    pthread_t tid[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (job){.id = t};
        if (kn_session_new(l, 64, &jobs[t].s)) { printf("FAIL session: %s\n", kn_last_error(ctx)); return 1; }
    }
    for (int t = 0; t < THREADS; t++) pthread_create(&tid[t], NULL, run, &jobs[t]);
    int fail = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(tid[t], NULL);
        if (jobs[t].st || jobs[t].mismatches) {
            printf("FAIL thread %d: status %s, %d of %d rounds differ from the single-threaded result\n", t,
                   kn_status_name(jobs[t].st), jobs[t].mismatches, ROUNDS);
            fail = 1;
        }
        kn_session_free(jobs[t].s);
    }
    kn_model_free(l);
    kn_ctx_free(ctx);
    unlink(path);
    printf(fail ? "sessions FAILED\n" : "%d threads x %d rounds matched the single-threaded predictions\n", THREADS, ROUNDS);
    return fail;
}
