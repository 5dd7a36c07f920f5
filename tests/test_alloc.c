#define _POSIX_C_SOURCE 200809L
/* test_alloc.c — the training loop allocates nothing after its first step: every
 * allocation kiln makes goes through the context's allocator hook, which counts them; a
 * fit callback reads the count at each batch end (validation included, at epoch ends). */
#include <kiln.h>

#include <stdio.h>
#include <stdlib.h>

typedef struct { long allocs, frees; } counter;

static void *count_alloc(void *user, size_t size, size_t align) {
    ((counter *)user)->allocs++;
    void *p = NULL;
    return posix_memalign(&p, align, size) ? NULL : p;
}
static void count_free(void *user, void *p) {
    ((counter *)user)->frees++;
    free(p);
}

typedef struct { counter *c; long after_first; long max_later; int64_t calls; } watch;

static bool on_batch(void *user, int epoch, int64_t batch, double loss) {
    (void)loss;
    watch *w = user;
    if (epoch == 1 && batch == 0) w->after_first = w->c->allocs;
    else if (w->c->allocs > w->max_later) w->max_later = w->c->allocs;
    w->calls++;
    return true;
}

int main(void) {
    counter c = {0};
    kn_allocator a = {count_alloc, count_free, &c};
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 1, .allocator = &a}, &ctx);
    enum { N = 1000, F = 20, C = 4 };
    float *x = malloc(sizeof(float) * N * F);
    int32_t *y = malloc(sizeof(int32_t) * N);
    for (int i = 0; i < N; i++) {
        y[i] = i % C;
        for (int j = 0; j < F; j++) x[i * F + j] = (float)((i * 31 + j * 17) % 13) / 13.0f + (j == y[i] ? 1.0f : 0.0f);
    }
    kn_dataset *ds;
    kn_dataset_from_arrays(ctx, x, y, N, F, C, &ds);
    kn_model *m;
    kn_model_new_sequential(ctx, (int64_t[]){F}, 1, &m);
    kn_model_add_dense(m, 16, KN_RELU);
    kn_model_add_dense_ex(m, &(kn_dense_opts){.units = C, .activation = KN_SOFTMAX, .l2 = 1e-4f});
    kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_adam(1e-2f)});
    watch w = {.c = &c, .after_first = -1};
    kn_status st = kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 3, .batch_size = 30, .validation_split = 0.2,
                                                        .verbose = 0, .callback = on_batch, .callback_user = &w}, NULL);
    int fail = 0;
    if (st) { printf("FAIL fit: %s\n", kn_last_error(ctx)); fail = 1; }
    printf("allocations: %ld before the loop and its first step, %ld at the last callback (%lld callbacks)\n",
           w.after_first, w.max_later, (long long)w.calls);
    if (w.after_first <= 0 || w.calls < 10) { printf("FAIL: the allocator hook or the callback was not used\n"); fail = 1; }
    if (w.max_later != w.after_first) { printf("FAIL: the training loop allocated after its first step\n"); fail = 1; }
    kn_model_free(m);
    kn_dataset_free(ds);
    long leaked = c.allocs - c.frees - 1; /* the context itself is still alive */
    kn_ctx_free(ctx);
    if (leaked != 0) { printf("FAIL: %ld allocations not freed\n", leaked); fail = 1; }
    free(x);
    free(y);
    return fail;
}
