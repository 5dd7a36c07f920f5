/* test_nccl.c — the device communicators (backend/cuda/nccl_comm.h) and the dist layer's
 * use of them (kn__dist_open_device, kn__dist_reduce_grad_device). NCCL can only run with
 * one rank on the one lent GPU, so every collective here goes through a one-rank
 * communicator: the id, the join, the pre-scale kernel, ncclAllReduce / ncclBroadcast on
 * the graph's stream, the wait and the close all run for real, but the sum over one rank is
 * the rank's own values, so the results are compared exactly (x * 0.5 and x * 0.25 are
 * exact in binary floating point). More than one rank: tests/cli_cuda.sh trains on
 * two ranks through the CUDA emulator's NCCL (tests/cuda_emu: MPI underneath), never on GPUs.
 *
 * Without a GPU: the checks that need none (refusals on a cpu graph, KILN_NCCL=force
 * leaving a cpu run alone, and, where the build found NCCL, that libnccl loads with every
 * function kiln resolves), then exit 77 (ctest: skipped). "mpi" as the first argument:
 * the same under mpirun -np 1 through kn_dist_init. Registered only in builds with CUDA. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "backend/backend.h"
#include "backend/cuda/nccl_comm.h"
#include "core/half.h"
#include "dist/dist.h"

#ifdef KILN_HAVE_CUDA
#include "backend/cuda/cuda_internal.h"
#endif

#include <stdlib.h>
#include <string.h>
#include "check.h"

/* The reference MLP's shape, small: x (16, 24) -> 32 relu -> 8 logits, Adam (so there is
 * optimizer state to broadcast). */
static kn_graph *mlp(kn_ctx *ctx, kn_device dev, kn_precision precision) {
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_graph_set_device(g, dev);
    if (precision) kn_graph_set_precision(g, precision);
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){16, 24}, 2, "x");
    kn_tensor *labels = kn_input(g, KN_I32, (int64_t[]){16}, 1, "labels");
    kn_tensor *w1 = kn_param(g, (int64_t[]){24, 32}, 2, KN_INIT_GLOROT_UNIFORM, "w1");
    kn_tensor *b1 = kn_param(g, (int64_t[]){32}, 1, KN_INIT_ZEROS, "b1");
    kn_tensor *w2 = kn_param(g, (int64_t[]){32, 8}, 2, KN_INIT_GLOROT_UNIFORM, "w2");
    kn_tensor *h = kn_act(g, kn_add(g, kn_matmul(g, x, w1), b1), KN_RELU);
    kn_tensor *loss = kn_loss_op(g, KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, kn_matmul(g, h, w2), labels, true);
    kn_graph_keep(g, loss);
    kn_graph_backward(g, loss);
    kn_optimizer adam = kn_adam(1e-3f);
    kn_graph_add_optimizer(g, &adam);
    kn_status st = kn_graph_compile(g, 16, true);
    CHECK(st == KN_OK, "compile on %s: %s", kn_device_name(dev), kn_last_error(ctx));
    if (st) {
        kn_graph_free(g);
        return NULL;
    }
    return g;
}

/* Known gradients (quarters, so every scaling below is exact), pushed to the device. */
static float grad_value(size_t i) { return (float)((int)(i % 13) - 6) + 0.25f * (float)(i % 4); }

static void set_grads(kn_graph *g) {
    for (size_t i = 0; i < g->param_floats; i++) g->grad_buf[i] = grad_value(i);
    CHECK(kn__graph_push(g, KN_SYNC_GRADS) == KN_OK, "push gradients: %s", kn_last_error(g->ctx));
}

/* The device gradients pulled and compared exactly with grad_value * f. */
static void check_grads(kn_graph *g, float f, const char *what) {
    memset(g->grad_buf, 0xff, g->param_floats * sizeof(float)); /* NaNs: a missing pull shows */
    CHECK(kn__graph_pull(g, KN_SYNC_GRADS) == KN_OK, "%s: pull: %s", what, kn_last_error(g->ctx));
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < g->param_floats; i++)
        if (g->grad_buf[i] != grad_value(i) * f && !bad++) first = i;
    CHECK(bad == 0, "%s: %zu of %zu gradients differ (first [%zu]: %g, want %g)", what, bad, g->param_floats, first,
          (double)g->grad_buf[first], (double)(grad_value(first) * f));
}

/* What needs no GPU. */
static void without_gpu(kn_ctx *ctx, bool mpi) {
    kn_graph *cpu = mlp(ctx, KN_DEVICE_CPU, 0);
    if (!cpu) return;
    CHECK(kn__nccl_allreduce_grads(cpu, NULL, 0.5f) == KN_ERR_UNSUPPORTED, "all-reduce on a cpu graph: not refused");
    CHECK(kn__nccl_broadcast_params(cpu, NULL) == KN_ERR_UNSUPPORTED, "broadcast on a cpu graph: not refused");
    /* a cpu run stays on the host path even when forced, and never opens libnccl */
    setenv("KILN_NCCL", "force", 1);
    kn__dist d;
    CHECK(kn__dist_open(&d, ctx, mpi, KN_GRAD_COMPRESSION_NONE) == KN_OK, "dist open: %s", kn_last_error(ctx));
    CHECK(kn__dist_open_device(&d, cpu) == KN_OK && !d.nccl, "KILN_NCCL=force on a cpu graph: %s", kn_last_error(ctx));
    CHECK(kn__dist_reduce_grad_device(&d, cpu, 1.0f) == KN_OK, "host path, alone: %s", kn_last_error(ctx));
    kn__dist_close(&d);
    unsetenv("KILN_NCCL");
#ifdef KILN_TEST_NCCL_PRESENT /* the build found libnccl: it must load, every function kiln calls resolved */
    CHECK(kn__nccl_load(ctx) == KN_OK, "libnccl: %s", kn_last_error(ctx));
#endif
    kn_graph_free(cpu);
}

#ifdef KILN_HAVE_NCCL
/* One-rank communicator: the all-reduce with a pre-scale and without, then the broadcast
 * of a bf16 graph's parameters refreshing its half copy. */
static void communicator(kn_ctx *ctx) {
    uint8_t id[KN_NCCL_ID_BYTES];
    void *comm = NULL;
    kn_graph *g = mlp(ctx, KN_DEVICE_CUDA, 0), *h = mlp(ctx, KN_DEVICE_CUDA, KN_PRECISION_BF16);
    CHECK(kn__nccl_unique_id(ctx, id) == KN_OK, "ncclGetUniqueId: %s", kn_last_error(ctx));
    CHECK(kn__nccl_open(ctx, id, 0, 1, &comm) == KN_OK && comm, "open: %s", kn_last_error(ctx));
    if (!g || !h || !comm) goto done;
    set_grads(g);
    CHECK(kn__nccl_allreduce_grads(g, comm, 0.5f) == KN_OK, "all-reduce x0.5: %s", kn_last_error(ctx));
    check_grads(g, 0.5f, "all-reduce x0.5");
    set_grads(g);
    CHECK(kn__nccl_allreduce_grads(g, comm, 1.0f) == KN_OK, "all-reduce x1: %s", kn_last_error(ctx));
    check_grads(g, 1.0f, "all-reduce x1");

    /* the broadcast: new parameters written straight to the device (the half copy now
     * stale, as on a rank receiving rank 0's), then broadcast; the state comes back as it was */
    kn__cuda_graph *c = h->backend.context;
    size_t n = h->param_floats, ns = h->state_floats;
    CHECK(c->param_half != NULL, "the bf16 graph has no half parameter copy");
    float *want = malloc(n * sizeof *want), *state = malloc((ns ? ns : 1) * sizeof *state);
    uint16_t *half = malloc(n * sizeof *half), *want_half = malloc(n * sizeof *want_half);
    for (size_t i = 0; i < n; i++) want[i] = grad_value(i) * 0.125f;
    for (size_t i = 0; i < ns; i++) h->state_buf[i] = 0.5f + (float)(i % 7);
    CHECK(kn__graph_push(h, KN_SYNC_STATE) == KN_OK, "push state: %s", kn_last_error(ctx));
    memcpy(state, h->state_buf, ns * sizeof *state);
    CHECK(cudaMemcpy(c->param, want, n * sizeof *want, cudaMemcpyHostToDevice) == cudaSuccess, "cudaMemcpy params");
    /* a pageable copy may still be in flight when cudaMemcpy returns, and the graph's stream
     * is non-blocking (not ordered after the default stream's work) */
    CHECK(cudaDeviceSynchronize() == cudaSuccess, "cudaDeviceSynchronize");
    CHECK(kn__nccl_broadcast_params(h, comm) == KN_OK, "broadcast: %s", kn_last_error(ctx));
    memset(h->state_buf, 0, ns * sizeof *state);
    CHECK(kn__graph_pull(h, KN_SYNC_PARAMS | KN_SYNC_STATE) == KN_OK, "pull: %s", kn_last_error(ctx));
    CHECK(memcmp(h->param_buf, want, n * sizeof *want) == 0, "broadcast: the parameters changed");
    CHECK(memcmp(h->state_buf, state, ns * sizeof *state) == 0, "broadcast: the optimizer state changed");
    if (c->param_half) {
        kn__f32_to_bf16(want, want_half, n);
        CHECK(cudaMemcpy(half, c->param_half, n * sizeof *half, cudaMemcpyDeviceToHost) == cudaSuccess, "cudaMemcpy half");
        CHECK(memcmp(half, want_half, n * sizeof *half) == 0, "broadcast: the bf16 parameter copy was not refreshed");
    }
    free(want), free(state), free(half), free(want_half);
done:
    kn__nccl_close(comm, false);
    kn_graph_free(g);
    kn_graph_free(h);
}
#endif

/* The dist layer: KILN_NCCL=force opens a one-rank communicator; unset or 0 leaves a
 * one-rank run on the host path, whose reduce (the scale alone) must give the same. */
static void dist(kn_ctx *ctx, bool mpi) {
    kn_graph *g = mlp(ctx, KN_DEVICE_CUDA, 0);
    if (!g) return;
    static const char *const envs[3] = {"force", NULL, "0"};
    for (int e = 0; e < 3; e++) {
        if (envs[e])
            setenv("KILN_NCCL", envs[e], 1);
        else
            unsetenv("KILN_NCCL");
        const char *name = envs[e] ? envs[e] : "unset";
        kn__dist d;
        CHECK(kn__dist_open(&d, ctx, mpi, KN_GRAD_COMPRESSION_NONE) == KN_OK, "dist open: %s", kn_last_error(ctx));
        kn_status st = kn__dist_open_device(&d, g);
#ifdef KILN_HAVE_NCCL
        CHECK(st == KN_OK, "KILN_NCCL=%s: open_device: %s", name, kn_last_error(ctx));
        CHECK((d.nccl != NULL) == (e == 0), "KILN_NCCL=%s: communicator %s", name, d.nccl ? "opened" : "not opened");
#else
        CHECK(e == 0 ? st == KN_ERR_UNSUPPORTED : st == KN_OK, "KILN_NCCL=%s without NCCL: %s", name, kn_status_name(st));
#endif
        if (!st) {
            set_grads(g);
            CHECK(kn__dist_reduce_grad_device(&d, g, 0.25f) == KN_OK, "KILN_NCCL=%s: reduce: %s", name, kn_last_error(ctx));
            check_grads(g, 0.25f, name);
            CHECK(kn__dist_broadcast_device(&d, g) == KN_OK, "KILN_NCCL=%s: broadcast: %s", name, kn_last_error(ctx));
        }
        kn__dist_close(&d);
    }
    unsetenv("KILN_NCCL");
    kn_graph_free(g);
}

int main(int argc, char **argv) {
    bool mpi = argc > 1 && strcmp(argv[1], "mpi") == 0;
    if (mpi && kn_dist_init(&argc, &argv) != KN_OK) {
        printf("test_nccl: FAIL: kn_dist_init\n");
        return 1;
    }
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 7}, &ctx);
    without_gpu(ctx, mpi);
    if (kn_device_check(ctx, KN_DEVICE_CUDA) != KN_OK) {
        printf("test_nccl: SKIP (after %d failures without a GPU): %s\n", failures, kn_last_error(ctx));
        kn_ctx_free(ctx);
        if (mpi) kn_dist_finalize();
        return failures ? 1 : 77;
    }
#ifdef KILN_HAVE_NCCL
    communicator(ctx);
#endif
    dist(ctx, mpi);
    kn_ctx_free(ctx);
    if (mpi) kn_dist_finalize();
    printf("test_nccl: %s (one rank; two: cli_cuda on the emulator)\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
