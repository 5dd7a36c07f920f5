/* test_cuda_ops.c — every op on the GPU against the CPU backend (the reference), on random
 * inputs: each case builds the same graph twice, once per device, fills its inputs and
 * parameters with the same values, runs it (training cases: several steps), and compares
 * the kept outputs, the parameters and their gradients element by element. Layer norm
 * alone and in a small MLP trained a few steps (fp32 and half). The gather (an embedding
 * lookup) and its deterministic scatter-add, alone and under a dense layer. Convolutions
 * on both CUDA paths (KILN_CUDA_CONV=direct, and im2col + cuBLASLt whole and in chunks
 * under KILN_CUDA_CONV_WS_MB); the sequence builders (conv1d with causal padding, pooling
 * and global pooling) and global max pooling of images, on both paths too. Then a small MLP
 * trained a few steps on both devices, and the same training, and a chunked convolution's,
 * replayed from a captured CUDA graph against step-by-step launches (bit for bit). The
 * recurrent layers (simple_rnn, lstm, gru: sequences, last steps, stacked, with and without
 * a bias) as graphs, replayed too, and as models trained by kn_model_fit on both devices;
 * masked (kn_rnn_masked: sequences, last steps, go_backwards, stacked, trained, replayed);
 * with dropout and recurrent dropout (kn_rnn_dropout: the same, evaluated after training
 * too). Spatial dropout (a mask shared by steps) bit for bit, replayed, and in half.
 * Gaussian noise, Gaussian and alpha dropout (KN_OP_NOISE) step by step, replayed.
 * Attention over heads (kn_attention) and its gradient: heads, Tq != Tk, causal, a sequence
 * attending to itself, Dk != Dv, several chunks, row tiles and column tiles of the GPU's
 * kernels; trained under projections, replayed, and in bf16 (where it stays f32). The
 * depthwise convolution and its gradients: geometries, fused and not, 32- and 64-bit
 * kernels, trained and replayed. Padding, cropping and upsampling (nearest, bilinear) and
 * their gradients bit for bit, fused and not, 32- and 64-bit kernels, trained and replayed.
 * Keras 3's random augmentation layers (kn_random_image: every kind, fill modes, both
 * interpolations) step by step bit for bit, evaluated (the identity), trained and replayed.
 *
 * Tolerances, and why (|gpu - cpu| <= atol + rtol * |cpu|):
 *   1e-6 rel  elementwise arithmetic, copies, transposes, dropout: the same float
 *             operations in the same order, so equal, except each case's scalar loss
 *             sum(y * r), a sum of doubles in another order rounded to float (1 ulp).
 *   2e-6 rel  activations: CUDA's expf / erff / tanhf / expm1f are within 1-2 ulp of
 *             glibc's, not equal to them.
 *   1e-5 rel  the activations after softmax (selu ... exponential): several of them
 *             compose two to four such functions (mish: tanh of log1p of exp, and its
 *             slope more), so their 1-2 ulp differences add up (not yet run on a GPU).
 *   1e-5      Gaussian noise and dropout: normals through CUDA's logf and cosf (noise_cases).
 *   1e-5      reductions and losses: sums in another order (a tree of doubles on the
 *             GPU, row order on the CPU), and the math library's exp/log.
 *   1e-4      matrix products (cuBLASLt's blocking sums k terms in another order), and
 *             what is computed from them over a few optimizer steps (Adam divides by
 *             sqrt(v) + eps, which magnifies early differences).
 *   bf16, fp16 — mixed precision (the MLPs trained 3 steps on both devices at the same
 *             precision) are not compared element by element with the CPU: both store
 *             activations and their gradients rounded to the half type (2^-9 and 2^-12
 *             relative per rounding), but not at the same places (the GPU's products
 *             read the half copy of the weights, where the CPU reads the f32 master
 *             weights; the GPU rounds a product's output before a non-relu activation;
 *             sums run in another order), and three steps of SGD with momentum magnify
 *             those differences: on the CUDA emulator (tests/cuda_emu) the bf16 wide MLP's
 *             gradients end 13% (rms) from fp32's on the CPU and on the GPU alike, and
 *             1% from each other, with single elements 10% apart. So each half result is
 *             compared with the same case trained in fp32 on the CPU (the truth), and the
 *             GPU must be about as close to it as the CPU's half training is: rms and
 *             largest error at most 2x the CPU's, plus 2 ulp of the half type on the truth's
 *             rms (half_compare).
 *             fp16 runs with a loss scale of 256 (the seed input and the optimizer's
 *             unscale); the fp32 truth runs with the same scale (FP16_LOSS_SCALE).
 *
 * Without a usable GPU (no device, or "CUDA driver version is insufficient") it prints why
 * and exits 77, which ctest reports as skipped. Registered only in builds with KILN_CUDA. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "backend/backend.h"
#include "backend/cuda/cuda_internal.h"
#include "backend/loss_formulas.h"
#include "nn/model.h"
#include "core/half.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

typedef void (*build_fn)(kn_graph *g, const void *arg);

typedef struct {
    const char *name;
    build_fn build;
    const void *arg;
    unsigned passes;
    int steps;        /* runs of the whole graph (training: optimizer steps) */
    float atol, rtol;
    kn_precision precision; /* 0: fp32 */
} tcase;

static uint64_t rng_state;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng_state >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

/* KILN_TEST_CUDA_OPS_ON=mirror (test_cuda_ops_mirror, every CUDA build): the "GPU" side of
 * each case is the mirror backend (KILN_TEST_MIRROR=1: the CPU kernels behind a device's
 * private buffers), so without a GPU the cases still check the test's own syncs, that every
 * graph passes the device backends' buffer check, and that a run's kept outputs come back;
 * the checks of CUDA internals (capture counts, conv paths, unfused biases) are skipped. */
static bool on_mirror;

/* Inputs and parameters from one seed: "pos_" names get (0.05, 1) (probabilities, moving
 * variances), "tie_" names one of -0.25, 0, 0.25, 0.5 (exact ties, the same on every
 * device: no transcendental function decides them), I32 tensors labels in [0, 5), "tok<R>_"
 * names token indices for a table of R rows: whole numbers in [0, R] (R names no row), and
 * every 7th value -1, 2.5 or NaN (no row either); "mask" names masks (rows of T steps) of
 * 1 (kept) and 0, about a third 0: "mask0_" with its last row all 0 (a sample that keeps
 * nothing), "maskl_" with the first 32 steps of every row 0 (kept steps past a first chunk). */
static void fill(kn_tensor *t, uint64_t seed) {
    rng_state = seed;
    int64_t n = kn__numel(t);
    if (strncmp(t->name, "mask", 4) == 0 && t->dtype == KN_F32) {
        int64_t T = t->shape[t->ndim - 1], rows = n / T;
        for (int64_t i = 0; i < n; i++) {
            bool kept = frand() > -1.0f / 3.0f;
            if (t->name[4] == '0' && i / T == rows - 1) kept = false;
            if (t->name[4] == 'l' && i % T < 32) kept = false;
            ((float *)t->data)[i] = kept ? 1.0f : 0.0f;
        }
        return;
    }
    if (strncmp(t->name, "tok", 3) == 0 && t->dtype == KN_F32) {
        int rows = atoi(t->name + 3);
        static const float bad[3] = {-1.0f, 2.5f, NAN};
        for (int64_t i = 0; i < n; i++) {
            int k = (int)((frand() + 1.0f) * 0.5f * (float)(rows + 1));
            ((float *)t->data)[i] = i % 7 == 6 ? bad[i / 7 % 3] : (float)(k < rows ? k : rows);
        }
        return;
    }
    if (t->dtype == KN_I32) {
        for (int64_t i = 0; i < n; i++) ((int32_t *)t->data)[i] = (int32_t)((frand() + 1.0f) * 2.5f) % 5;
        return;
    }
    bool pos = strncmp(t->name, "pos_", 4) == 0, tie = strncmp(t->name, "tie_", 4) == 0;
    bool half = t->dtype == KN_BF16 || t->dtype == KN_F16; /* (a half input: narrowed, as a model's loader does) */
    float *d = half ? malloc((size_t)n * sizeof(float)) : t->data;
    for (int64_t i = 0; i < n; i++)
        d[i] = pos ? 0.05f + 0.95f * (frand() + 1.0f) * 0.5f : tie ? 0.25f * (float)((int)((frand() + 1.0f) * 2.0f) - 1) : frand();
    if (half) kn__tensor_store_f32(t, 0, d, n), free(d);
}

/* fp16 cases run with this loss scale, and their fp32 truth (run_half_case) too. */
#define FP16_LOSS_SCALE 256.0f

/* Builds, compiles and fills a case's graph on a device, with a loss scale (0: none); NULL
 * (and a failure) on error. */
static kn_graph *make_scaled(kn_ctx *ctx, const tcase *c, kn_device dev, float loss_scale) {
    kn_graph *g;
    kn_graph_new(ctx, &g);
    bool mirror = dev == KN_DEVICE_CUDA && on_mirror;
    kn_graph_set_device(g, mirror ? KN_DEVICE_CPU : dev);
    kn_graph_set_passes(g, c->passes);
    if (c->precision) kn_graph_set_precision(g, c->precision);
    if (loss_scale > 0) kn_graph_set_loss_scale(g, loss_scale);
    c->build(g, c->arg);
    if (mirror) setenv("KILN_TEST_MIRROR", "1", 1);
    kn_status st = kn_graph_compile(g, 4, true);
    if (mirror) unsetenv("KILN_TEST_MIRROR");
    CHECK(st == KN_OK, "%s on %s: compile: %s", c->name, kn_device_name(dev), kn_last_error(ctx));
    if (st) {
        kn_graph_free(g);
        return NULL;
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == KN_OP_INPUT) fill(g->nodes[i], 1000u + (uint64_t)i);
    for (int i = 0; i < g->n_params; i++) fill(g->params[i], 5000u + (uint64_t)i);
    CHECK(kn_graph_upload(g) == KN_OK, "%s: upload: %s", c->name, kn_last_error(ctx));
    return g;
}

static kn_graph *make(kn_ctx *ctx, const tcase *c, kn_device dev) {
    return make_scaled(ctx, c, dev, c->precision == KN_PRECISION_FP16 ? FP16_LOSS_SCALE : 0);
}

static void compare(const char *what, const char *name, const kn_tensor *a, const kn_tensor *b, float atol, float rtol) {
    int64_t n = kn__numel(a), bad = 0, first = -1;
    double worst = 0;
    if (a->dtype != KN_F32) return;
    for (int64_t i = 0; i < n; i++) {
        float x = ((const float *)a->data)[i], y = ((const float *)b->data)[i];
        double d = fabs((double)x - y);
        if (!(d <= atol + rtol * fabs((double)x))) {
            if (first < 0) first = i;
            bad++;
        }
        if (d > worst || d != d) worst = d;
    }
    CHECK(bad == 0, "%s: %s '%s': %lld of %lld differ (first [%lld]: cpu %g gpu %g; worst %g)", name, what, a->name,
          (long long)bad, (long long)n, (long long)first, first >= 0 ? ((const float *)a->data)[first] : 0.0,
          first >= 0 ? ((const float *)b->data)[first] : 0.0, worst);
}

/* Root mean square and largest |x - ref| over a tensor (ref: the fp32 truth). */
static void distance(const kn_tensor *x, const kn_tensor *ref, double *rms, double *worst) {
    int64_t n = kn__numel(ref);
    double s = 0;
    *worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)((const float *)x->data)[i] - ((const float *)ref->data)[i]);
        s += d * d;
        if (d > *worst || d != d) *worst = d;
    }
    *rms = n ? sqrt(s / (double)n) : 0;
}

/* A half-precision result: the GPU's no further from the fp32 truth than about the CPU's
 * half result is (the tolerances above): twice the CPU's distance, plus two units in the
 * last place of the half type on the truth's rms (a floor for results the CPU happens to
 * get almost exactly, such as a single loss value). */
static void half_compare(const tcase *c, const char *what, const kn_tensor *ref, const kn_tensor *cpu,
                         const kn_tensor *gpu) {
    if (ref->dtype != KN_F32 || cpu->dtype != KN_F32 || kn__numel(ref) != kn__numel(gpu)) return;
    double cpu_rms, cpu_worst, gpu_rms, gpu_worst, truth = 0;
    int64_t n = kn__numel(ref);
    for (int64_t i = 0; i < n; i++) truth += (double)((const float *)ref->data)[i] * ((const float *)ref->data)[i];
    truth = n ? sqrt(truth / (double)n) : 0;
    distance(cpu, ref, &cpu_rms, &cpu_worst);
    distance(gpu, ref, &gpu_rms, &gpu_worst);
    double ulp = c->precision == KN_PRECISION_BF16 ? 0x1p-8 : 0x1p-11, slack = 2 * ulp * truth;
    CHECK(gpu_rms <= 2 * cpu_rms + slack && gpu_worst <= 2 * cpu_worst + slack,
          "%s %s: %s '%s': from fp32, the gpu's rms %g and largest %g against the cpu's %g and %g (fp32 rms %g)",
          c->name, kn_precision_name(c->precision), what, ref->name, gpu_rms, gpu_worst, cpu_rms, cpu_worst, truth);
}

/* The node of g named like t (kept outputs: a half graph may hold more nodes than fp32's). */
static const kn_tensor *named(const kn_graph *g, const kn_tensor *t) {
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i]->name, t->name) == 0) return g->nodes[i];
    return NULL;
}

/* A mixed-precision case: the CPU and GPU half runs against the fp32 truth (above). */
static void run_half_case(kn_ctx *ctx, const tcase *c) {
    tcase f = *c;
    f.precision = KN_PRECISION_FP32;
    kn_graph *ref = make_scaled(ctx, &f, KN_DEVICE_CPU, c->precision == KN_PRECISION_FP16 ? FP16_LOSS_SCALE : 0);
    kn_graph *cpu = make(ctx, c, KN_DEVICE_CPU), *gpu = make(ctx, c, KN_DEVICE_CUDA);
    if (ref && cpu && gpu) {
        for (int s = 0; s < c->steps; s++) {
            CHECK(kn_graph_run(ref) == KN_OK, "%s: fp32 run: %s", c->name, kn_last_error(ctx));
            CHECK(kn_graph_run(cpu) == KN_OK, "%s: cpu run: %s", c->name, kn_last_error(ctx));
            CHECK(kn_graph_run(gpu) == KN_OK, "%s: gpu run: %s", c->name, kn_last_error(ctx));
        }
        CHECK(kn_graph_sync(gpu) == KN_OK, "%s: sync: %s", c->name, kn_last_error(ctx));
        for (int i = 0; i < cpu->n_nodes && cpu->n_nodes == gpu->n_nodes; i++) {
            const kn_tensor *r = named(ref, cpu->nodes[i]);
            if ((cpu->nodes[i]->flags & KN_FLAG_KEEP) && r)
                half_compare(c, "output", r, cpu->nodes[i], gpu->nodes[i]);
        }
        for (int i = 0; i < cpu->n_params && ref->n_params == cpu->n_params; i++) {
            half_compare(c, "parameter", ref->params[i], cpu->params[i], gpu->params[i]);
            if (cpu->params[i]->grad && ref->params[i]->grad)
                half_compare(c, "gradient", ref->params[i]->grad, cpu->params[i]->grad, gpu->params[i]->grad);
        }
    }
    kn_graph_free(ref);
    kn_graph_free(cpu);
    kn_graph_free(gpu);
}

static void run_case(kn_ctx *ctx, const tcase *c) {
    if (c->precision != KN_PRECISION_FP32) {
        run_half_case(ctx, c);
        return;
    }
    kn_graph *cpu = make(ctx, c, KN_DEVICE_CPU), *gpu = make(ctx, c, KN_DEVICE_CUDA);
    if (cpu && gpu) {
        CHECK(cpu->n_nodes == gpu->n_nodes, "%s: %d nodes on the cpu, %d on the gpu", c->name, cpu->n_nodes, gpu->n_nodes);
        for (int s = 0; s < c->steps; s++) {
            CHECK(kn_graph_run(cpu) == KN_OK, "%s: cpu run: %s", c->name, kn_last_error(ctx));
            CHECK(kn_graph_run(gpu) == KN_OK, "%s: gpu run: %s", c->name, kn_last_error(ctx));
        }
        CHECK(kn_graph_sync(gpu) == KN_OK, "%s: sync: %s", c->name, kn_last_error(ctx));
        for (int i = 0; i < cpu->n_nodes && cpu->n_nodes == gpu->n_nodes; i++)
            if (cpu->nodes[i]->flags & KN_FLAG_KEEP) compare("output", c->name, cpu->nodes[i], gpu->nodes[i], c->atol, c->rtol);
        for (int i = 0; i < cpu->n_params; i++) {
            compare("parameter", c->name, cpu->params[i], gpu->params[i], c->atol, c->rtol);
            if (cpu->params[i]->grad)
                compare("gradient", c->name, cpu->params[i]->grad, gpu->params[i]->grad, c->atol, c->rtol);
        }
    }
    kn_graph_free(cpu);
    kn_graph_free(gpu);
}

/* ---------------------------------------------------------------- cases */

/* loss = sum(y * r) for a random r, and its backward: every op's gradient gets checked. */
static void train_on(kn_graph *g, kn_tensor *y, const kn_optimizer *opt) {
    kn_graph_keep(g, y);
    kn_tensor *r = kn_input(g, KN_F32, y->shape, y->ndim, "projection");
    kn_tensor *loss = kn__sum(g, kn_mul(g, y, r));
    kn_graph_keep(g, loss);
    kn_graph_backward(g, loss);
    if (opt) kn_graph_add_optimizer(g, opt);
}

static void b_matmul(kn_graph *g, const void *arg) {
    const int *t = arg; /* ta, tb */
    kn_tensor *a = kn_param(g, t[0] ? (int64_t[]){37, 19} : (int64_t[]){19, 37}, 2, KN_INIT_ZEROS, "a");
    kn_tensor *b = kn_param(g, t[1] ? (int64_t[]){23, 37} : (int64_t[]){37, 23}, 2, KN_INIT_ZEROS, "b");
    train_on(g, kn_matmul_t(g, a, b, t[0], t[1]), NULL);
}

static void b_binary(kn_graph *g, const void *arg) {
    int which = *(const int *)arg;
    kn_tensor *a = kn_param(g, (int64_t[]){9, 33}, 2, KN_INIT_ZEROS, "a");
    kn_tensor *same = kn_param(g, (int64_t[]){9, 33}, 2, KN_INIT_ZEROS, "same");
    kn_tensor *row = kn_param(g, (int64_t[]){33}, 1, KN_INIT_ZEROS, "row");
    kn_tensor *y = kn_add(g, a, same);
    y = which == 0 ? kn_add(g, y, row) : which == 1 ? kn_sub(g, y, row) : kn_mul(g, y, row);
    y = kn_sub(g, kn_mul(g, y, same), kn_scale(g, a, 0.5f));
    train_on(g, kn_transpose(g, y), NULL);
}

/* The merge ops: concat (and its gradient's slices), maximum (and its gradient). */
static void b_merge(kn_graph *g, const void *arg) {
    (void)arg;
    kn_tensor *a = kn_param(g, (int64_t[]){9, 33}, 2, KN_INIT_ZEROS, "a");
    kn_tensor *b = kn_param(g, (int64_t[]){9, 17}, 2, KN_INIT_ZEROS, "b");
    kn_tensor *c = kn_param(g, (int64_t[]){9, 33}, 2, KN_INIT_ZEROS, "c");
    kn_tensor *y = kn_concat(g, kn_maximum(g, a, c), b);
    train_on(g, kn_add(g, y, kn_concat(g, a, kn_mul(g, b, b))), NULL);
}

/* The gather (an embedding lookup) and its scatter-add gradient: indices with repeats and
 * values naming no row (fill's "tok<R>_"), tables of (12, 37) (the GPU's gradient kernel:
 * 6 groups of 37 columns a block, indices in chunks of 256) and (700, 5) (several blocks of
 * rows); and the lookup under a dense layer trained 3 Adam steps. */
typedef struct { int64_t rows, cols, n, t; bool adam; } gather_arg;
static void b_gather(kn_graph *g, const void *arg) {
    const gather_arg *a = arg;
    char name[32];
    snprintf(name, sizeof name, "tok%lld_ids", (long long)a->rows);
    kn_tensor *table = kn_param(g, (int64_t[]){a->rows, a->cols}, 2, KN_INIT_ZEROS, "table");
    kn_tensor *y = kn_gather(g, kn_input(g, KN_F32, (int64_t[]){a->n, a->t}, 2, name), table);
    if (!a->adam) {
        train_on(g, y, NULL);
        return;
    }
    kn_tensor *w = kn_param(g, (int64_t[]){a->t * a->cols, 3}, 2, KN_INIT_ZEROS, "w");
    kn_tensor *h = kn_matmul(g, kn_reshape(g, y, (int64_t[]){a->n, a->t * a->cols}, 2), w);
    kn_optimizer adam = kn_adam(1e-2f);
    train_on(g, kn_act(g, h, KN_TANH), &adam);
}

/* A recurrent layer (kn_rnn) over x (5 rows, T steps, 3 features), its every output and
 * gradient against the CPU's (cpu/rnn.c): the states through each step's product and cell,
 * the walk back through them, and the slices (and their gradients) that take the sequence or
 * the last step out of the states row; stack: a second layer (lstm, last step) reads the
 * first's sequence. opt: trained a few steps (else one run of the backward). */
typedef struct {
    kn_rnn_cell cell;
    kn_activation act, ract;
    bool seq, bias, stack;
    int64_t T, H;
    const kn_optimizer *opt;
    bool back; /* KN_RNN_GO_BACKWARDS (the first layer) */
} rnn_arg;

/* Keras's dropout rates of a layer (kn_rnn_dropout): on its input and on the state its
 * products read; 0, 0: none (kn_rnn_masked). */
typedef struct {
    float input, recurrent;
} rnn_rates;

/* One layer over x; mask: its (N, T) mask, or NULL (kn_rnn_masked without one is kn_rnn). */
static kn_tensor *rnn_layer(kn_graph *g, const rnn_arg *a, kn_tensor *x, int64_t H, kn_rnn_cell cell, bool seq,
                            bool back, const char *prefix, kn_tensor *mask, rnn_rates drop) {
    int64_t F = x->shape[2], GH = (cell == KN_RNN_LSTM ? 4 : cell == KN_RNN_GRU ? 3 : 1) * H;
    char name[3][32];
    snprintf(name[0], sizeof name[0], "%skernel", prefix);
    snprintf(name[1], sizeof name[1], "%srecurrent", prefix);
    snprintf(name[2], sizeof name[2], "%sbias", prefix);
    kn_tensor *k = kn_param(g, (int64_t[]){F, GH}, 2, KN_INIT_ZEROS, name[0]);
    kn_tensor *u = kn_param(g, (int64_t[]){H, GH}, 2, KN_INIT_ZEROS, name[1]);
    kn_tensor *b = !a->bias ? NULL
                   : cell == KN_RNN_GRU ? kn_param(g, (int64_t[]){2, GH}, 2, KN_INIT_ZEROS, name[2])
                                        : kn_param(g, (int64_t[]){GH}, 1, KN_INIT_ZEROS, name[2]);
    return kn_rnn_dropout(g, cell, x, k, u, b, a->act, a->ract,
                          (seq ? KN_RNN_RETURN_SEQUENCES : 0u) | (back ? KN_RNN_GO_BACKWARDS : 0u), mask, drop.input,
                          drop.recurrent);
}

/* Case a's layers over x (5 rows, T steps), each given the mask named mask (an input filled
 * by fill's "mask" rules), or none if NULL: a stacked second layer takes it too, as a
 * Keras model passes a sequence's mask on; and both the dropout rates drop. */
static void rnn_graph(kn_graph *g, const rnn_arg *a, const char *mask, rnn_rates drop) {
    kn_tensor *x = kn_param(g, (int64_t[]){5, a->T, 3}, 3, KN_INIT_ZEROS, "x");
    kn_tensor *m = mask ? kn_input(g, KN_F32, (int64_t[]){5, a->T}, 2, mask) : NULL;
    kn_tensor *y = rnn_layer(g, a, x, a->H, a->cell, a->seq || a->stack, a->back, "", m, drop);
    if (a->stack) y = rnn_layer(g, a, y, 3, KN_RNN_LSTM, false, false, "second_", m, drop);
    train_on(g, y, a->opt);
}

static void b_rnn(kn_graph *g, const void *arg) { rnn_graph(g, arg, NULL, (rnn_rates){0, 0}); }

/* A masked recurrent case (kn_rnn_masked): the layers and their mask's input name. */
typedef struct {
    rnn_arg a;
    const char *mask;
} masked_rnn_arg;

static void b_masked_rnn(kn_graph *g, const void *arg) {
    const masked_rnn_arg *m = arg;
    rnn_graph(g, &m->a, m->mask, (rnn_rates){0, 0});
}

/* A recurrent case with dropout (kn_rnn_dropout): the layers, their mask's input name (or
 * NULL) and the rates. */
typedef struct {
    rnn_arg a;
    const char *mask;
    rnn_rates drop;
} dropout_rnn_arg;

static void b_dropout_rnn(kn_graph *g, const void *arg) {
    const dropout_rnn_arg *d = arg;
    rnn_graph(g, &d->a, d->mask, d->drop);
}

static void b_act(kn_graph *g, const void *arg) {
    kn_activation a = *(const kn_activation *)arg;
    kn_tensor *x = kn_param(g, (int64_t[]){7, 45}, 2, KN_INIT_ZEROS, "x");
    train_on(g, a == KN_LEAKY_RELU ? kn_leaky_relu(g, x, 0.2f) : kn_act(g, x, a), NULL);
}

static void b_reduce(kn_graph *g, const void *arg) {
    (void)arg;
    kn_tensor *x = kn_param(g, (int64_t[]){300, 21}, 2, KN_INIT_ZEROS, "x");
    kn_tensor *s = kn_sum_rows(g, x), *q = kn_sum_squares(g, x);
    kn_graph_keep(g, q);
    train_on(g, kn_add(g, s, q), NULL);
}

typedef struct { kn_loss loss; bool logits; float ls; /* label smoothing */ } loss_arg;
/* the loss node of a case: the focal losses with settings other than Keras's defaults
 * (class balancing on), huber with a delta of 0.4, so that each reaches the kernels */
static kn_tensor *case_loss(kn_graph *g, const loss_arg *l, kn_tensor *p, kn_tensor *y) {
    bool focal = kn__loss_is_focal(l->loss);
    return kn_loss_op_with(g, l->loss, p, y, NULL, &(kn_loss_options){
        .from_logits = l->logits, .label_smoothing = l->ls, .focal_gamma = focal ? 1.5f : 0,
        .focal_alpha = focal ? 0.35f : 0, .apply_class_balancing = focal,
        .huber_delta = l->loss == KN_LOSS_HUBER ? 0.4f : 0});
}
static void b_loss(kn_graph *g, const void *arg) {
    const loss_arg *l = arg;
    /* positive predictions where the loss takes probabilities or a log of them */
    bool probs = !l->logits && (kn__loss_is_cross_entropy(l->loss) || l->loss == KN_LOSS_POISSON ||
                                l->loss == KN_LOSS_KL_DIVERGENCE || l->loss == KN_LOSS_MSLE);
    kn_tensor *p = kn_param(g, (int64_t[]){6, 5}, 2, KN_INIT_ZEROS, probs ? "pos_pred" : "pred");
    kn_tensor *y = l->loss == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY ? kn_input(g, KN_I32, (int64_t[]){6}, 1, "labels")
                                                                      : kn_input(g, KN_F32, (int64_t[]){6, 5}, 2, "pos_target");
    kn_tensor *loss = case_loss(g, l, p, y);
    kn_graph_keep(g, loss);
    kn_graph_backward(g, loss);
}

/* A loss of a product's output, so that mixed precision gives it half predictions (the
 * loss kernels' half-reading forms): x (6, 8) w (8, 5), then b_loss's loss of them. */
static void b_loss_of_product(kn_graph *g, const void *arg) {
    const loss_arg *l = arg;
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){6, 8}, 2, "x");
    kn_tensor *w = kn_param(g, (int64_t[]){8, 5}, 2, KN_INIT_GLOROT_UNIFORM, "w");
    kn_tensor *p = kn_matmul(g, x, w);
    bool binary = l->loss == KN_LOSS_BINARY_CROSSENTROPY || l->loss == KN_LOSS_BINARY_FOCAL_CROSSENTROPY;
    if (!l->logits && kn__loss_is_cross_entropy(l->loss)) p = kn_act(g, p, binary ? KN_SIGMOID : KN_SOFTMAX);
    kn_tensor *y = l->loss == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY ? kn_input(g, KN_I32, (int64_t[]){6}, 1, "labels")
                                                                      : kn_input(g, KN_F32, (int64_t[]){6, 5}, 2, "pos_target");
    kn_tensor *loss = case_loss(g, l, p, y);
    kn_graph_keep(g, loss);
    kn_graph_backward(g, loss);
    kn_graph_add_optimizer(g, &(kn_optimizer){.kind = KN_OPT_SGD, .learning_rate = 0.1f});
}

/* 20 -> 32 relu -> 32 gelu -> dropout -> 5, sparse cross-entropy from the logits, trained
 * by opt; with layer_norm, a layer norm between the second layer's sum and its gelu. The
 * first two dense layers make a chain for the small-batch kernel (cuda/small_batch.c);
 * with the layer norm the chain ends at it (not a member: its own kernels run after). */
static void mlp(kn_graph *g, const kn_optimizer *opt, bool layer_norm) {
    g->half_inputs = layer_norm; /* (mixed precision: every activation half, both layer norm kernels' too) */
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){16, 20}, 2, "x");
    kn_tensor *labels = kn_input(g, KN_I32, (int64_t[]){16}, 1, "labels");
    kn_tensor *w1 = kn_param(g, (int64_t[]){20, 32}, 2, KN_INIT_GLOROT_UNIFORM, "w1");
    kn_tensor *b1 = kn_param(g, (int64_t[]){32}, 1, KN_INIT_ZEROS, "b1");
    kn_tensor *w2 = kn_param(g, (int64_t[]){32, 32}, 2, KN_INIT_GLOROT_UNIFORM, "w2");
    kn_tensor *b2 = kn_param(g, (int64_t[]){32}, 1, KN_INIT_ZEROS, "b2");
    kn_tensor *w3 = kn_param(g, (int64_t[]){32, 5}, 2, KN_INIT_GLOROT_UNIFORM, "w3");
    kn_tensor *h = kn_act(g, kn_add(g, kn_matmul(g, x, w1), b1), KN_RELU);
    h = kn_add(g, kn_matmul(g, h, w2), b2);
    if (layer_norm)
        h = kn_layer_norm(g, h, kn_param(g, (int64_t[]){32}, 1, KN_INIT_ONES, "gamma"),
                          kn_param(g, (int64_t[]){32}, 1, KN_INIT_ZEROS, "beta"), 1e-3f);
    h = kn_act(g, h, KN_GELU);
    h = kn_dropout(g, h, 0.25f);
    kn_tensor *loss = kn_loss_op(g, KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, kn_matmul(g, h, w3), labels, true);
    kn_graph_keep(g, loss);
    kn_graph_backward(g, loss);
    kn_graph_add_optimizer(g, opt);
}
static void b_mlp(kn_graph *g, const void *arg) { mlp(g, arg, false); }
static void b_ln_mlp(kn_graph *g, const void *arg) { mlp(g, arg, true); }

static void b_dropout(kn_graph *g, const void *arg) {
    (void)arg;
    kn_tensor *x = kn_param(g, (int64_t[]){13, 77}, 2, KN_INIT_ZEROS, "x");
    train_on(g, kn_dropout(g, x, 0.3f), NULL);
}

/* Spatial dropout (kn_spatial_dropout: KN_OP_DROPOUT with one mask shared by the steps) of x
 * (rows, steps..., channels), trained by opt (the step, so the mask, changes) or not. */
typedef struct {
    int ndim;
    int64_t shape[4];
    const kn_optimizer *opt;
} spatial_arg;

static void b_spatial_dropout(kn_graph *g, const void *arg) {
    const spatial_arg *a = arg;
    kn_tensor *x = kn_param(g, a->shape, a->ndim, KN_INIT_ZEROS, "x");
    train_on(g, kn_spatial_dropout(g, x, 0.3f), a->opt);
}

/* Mixed precision: x (64 rows, 12) half (a model's loader), tanh of a dense layer (16
 * channels, half on the GPU) viewed as (16, 4 steps, 16) through spatial dropout 0.25 into a
 * dense layer and sparse cross-entropy, trained by opt: the dropout reads and writes half. */
static void b_spatial_half(kn_graph *g, const void *arg) {
    g->half_inputs = true;
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){64, 12}, 2, "x");
    kn_tensor *labels = kn_input(g, KN_I32, (int64_t[]){64}, 1, "labels");
    kn_tensor *w1 = kn_param(g, (int64_t[]){12, 16}, 2, KN_INIT_GLOROT_UNIFORM, "w1");
    kn_tensor *b1 = kn_param(g, (int64_t[]){16}, 1, KN_INIT_ZEROS, "b1");
    kn_tensor *w2 = kn_param(g, (int64_t[]){16, 5}, 2, KN_INIT_GLOROT_UNIFORM, "w2");
    kn_tensor *h = kn_act(g, kn_add(g, kn_matmul(g, x, w1), b1), KN_TANH);
    h = kn_spatial_dropout(g, kn_reshape(g, h, (int64_t[]){16, 4, 16}, 3), 0.25f);
    h = kn_reshape(g, h, (int64_t[]){64, 16}, 2);
    kn_tensor *loss = kn_loss_op(g, KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, kn_matmul(g, h, w2), labels, true);
    kn_graph_keep(g, loss);
    kn_graph_backward(g, loss);
    kn_graph_add_optimizer(g, arg);
}

static void b_batch_norm(kn_graph *g, const void *arg) {
    (void)arg;
    kn_tensor *x = kn_param(g, (int64_t[]){40, 12}, 2, KN_INIT_ZEROS, "x");
    kn_tensor *mm = kn_param(g, (int64_t[]){12}, 1, KN_INIT_ZEROS, "moving_mean");
    kn_tensor *mv = kn_param(g, (int64_t[]){12}, 1, KN_INIT_ZEROS, "pos_moving_var");
    kn_tensor *gamma = kn_param(g, (int64_t[]){12}, 1, KN_INIT_ZEROS, "gamma");
    train_on(g, kn_batch_norm(g, x, gamma, NULL, mm, mv, 0.9f, 1e-3f), NULL);
}

/* Layer normalization of a parameter x (its gradient too), gamma and beta when given. */
typedef struct {
    int64_t shape[4];
    int ndim;
    bool center, scale;
    float shift; /* added to x first: rows far from zero against their spread */
} ln_arg;

static void b_layer_norm(kn_graph *g, const void *arg) {
    const ln_arg *a = arg;
    int64_t c = a->shape[a->ndim - 1];
    kn_tensor *x = kn_param(g, a->shape, a->ndim, KN_INIT_ZEROS, "x");
    kn_tensor *gamma = a->scale ? kn_param(g, &c, 1, KN_INIT_ZEROS, "gamma") : NULL;
    kn_tensor *beta = a->center ? kn_param(g, &c, 1, KN_INIT_ZEROS, "beta") : NULL;
    if (a->shift) x = kn_add(g, x, kn__const_scalar(g, a->shift));
    train_on(g, kn_layer_norm(g, x, gamma, beta, 1e-3f), NULL);
}

/* Group normalization of a parameter x into groups (c / groups channels each). */
typedef struct {
    int64_t shape[4];
    int ndim, groups;
    bool center, scale;
    float shift;
} gn_arg;

static void b_group_norm(kn_graph *g, const void *arg) {
    const gn_arg *a = arg;
    int64_t c = a->shape[a->ndim - 1];
    kn_tensor *x = kn_param(g, a->shape, a->ndim, KN_INIT_ZEROS, "x");
    kn_tensor *gamma = a->scale ? kn_param(g, &c, 1, KN_INIT_ZEROS, "gamma") : NULL;
    kn_tensor *beta = a->center ? kn_param(g, &c, 1, KN_INIT_ZEROS, "beta") : NULL;
    if (a->shift) x = kn_add(g, x, kn__const_scalar(g, a->shift));
    train_on(g, kn_group_norm(g, x, gamma, beta, a->groups, 1e-3f), NULL);
}

/* Group norm on both devices: an image's channels in groups, a whole sample, instance
 * normalization of a sequence, values near 40, one sample of 2 parts on the CPU (p c =
 * 73728), gamma and beta each on and off. Both sum in double (the GPU a block a group by a
 * tree, the CPU per channel over parts), so y and dx differ by their last float roundings;
 * dx = rstd gamma dy + (x - mean) b + k cancels, so 5e-5 absolute as layer norm's; gamma's
 * gradient sums up to 73728 products: 1e-5 relative. */
static void group_norm_cases(kn_ctx *ctx) {
    static const gn_arg ops[] = {{{2, 3, 4, 6}, 4, 3, true, true, 0},  {{5, 8}, 2, 1, true, false, 0},
                                 {{3, 7, 5}, 3, 5, false, true, 0},    {{2, 5, 5, 8}, 4, 2, false, false, 40},
                                 {{1, 48, 48, 32}, 4, 4, true, true, 0}};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        run_case(ctx, &(tcase){"group_norm", b_group_norm, &ops[i], KN_PASS_ALL, 1, 5e-5f, 1e-5f, KN_PRECISION_FP32});
}

/* Unit normalization of a parameter x's rows (arg: {rows, c}), and under the floor (eps 1e4). */
static void b_unit_norm(kn_graph *g, const void *arg) {
    const int64_t *a = arg;
    kn_tensor *x = kn_param(g, (int64_t[]){a[0], a[1]}, 2, KN_INIT_ZEROS, "x");
    train_on(g, kn_unit_norm(g, x, a[2] ? 1e4f : 1e-12f), NULL);
}

/* Both sum a row in double in order: the CPU's bits up to the last rounding (1e-6). */
static void unit_norm_cases(kn_ctx *ctx) {
    static const int64_t shapes[3][3] = {{7, 5, 0}, {40, 33, 0}, {6, 4, 1}};
    for (int i = 0; i < 3; i++)
        run_case(ctx, &(tcase){"unit_norm", b_unit_norm, shapes[i], KN_PASS_ALL, 1, 1e-6f, 1e-6f, KN_PRECISION_FP32});
}

/* Layer norm on both devices: the op alone (dense rows; rows past the gamma gradient's
 * chunk, 300 > 128; an image's channels; rows of 1100, and of 1100 near 40 with a spread of
 * 0.6; gamma and beta each on and off),
 * then the MLP with a layer norm (b_ln_mlp) trained 3 steps with Adam, fused and not; and
 * at bf16 and fp16 with half_cases' optimizers, its inputs half so that every activation
 * is, both layer norm kernels' included (with f32 inputs the GPU keeps the first layers
 * and the layer norm's dx f32: cuBLASLt multiplies one type), compared by half_compare.
 * Tolerances: the op alone 1e-5 relative and 5e-5 absolute: row sums of floats in another
 * order (a warp's 32 strided partial sums and a shuffle tree against the CPU's blocks of 8
 * lanes) for y and dx, whose d - mean(d) - xhat * mean(d * xhat) cancels, so its rounding
 * is relative to d, not to dx (the emulator: 6e-7 at most); gamma's and beta's gradients
 * sum up to 300 rows of |dy * xhat| ~ 1 in chunks of 128 against the CPU's one order, up
 * to about 300 * 2^-24 = 2e-5 apart (the emulator: 7.6e-6). The MLP 1e-4 (products and
 * Adam, as "mlp training"; the emulator: 5.4e-7). */
static void layer_norm_cases(kn_ctx *ctx) {
    static const ln_arg ops[] = {{{40, 12}, 2, true, true, 0},      {{300, 21}, 2, true, true, 0},
                                 {{2, 6, 5, 7}, 4, false, true, 0}, {{4, 1100}, 2, true, false, 0},
                                 {{9, 33}, 2, false, false, 0},     {{6, 1100}, 2, true, true, 40}};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        run_case(ctx, &(tcase){"layer_norm", b_layer_norm, &ops[i], KN_PASS_NONE, 1, 5e-5f, 1e-5f, KN_PRECISION_FP32});
        run_case(ctx, &(tcase){"layer_norm fused", b_layer_norm, &ops[i], KN_PASS_ALL, 1, 5e-5f, 1e-5f, KN_PRECISION_FP32});
    }
    kn_optimizer adam = kn_adam(1e-2f);
    tcase lm = {"mlp with layer_norm", b_ln_mlp, &adam, KN_PASS_ALL, 3, 1e-4f, 1e-4f, KN_PRECISION_FP32};
    run_case(ctx, &lm);
    run_case(ctx, &(tcase){"mlp with layer_norm unfused", b_ln_mlp, &adam, KN_PASS_NONE, 3, 1e-4f, 1e-4f, KN_PRECISION_FP32});
    /* the small-batch chain took the two dense layers before the layer norm, and ran */
    kn_graph *gl = on_mirror ? NULL : make(ctx, &lm, KN_DEVICE_CUDA);
    if (gl) {
        const kn__cuda_graph *cg = gl->backend.context;
        int members = 0, ln = 0;
        for (int k = 0; k < cg->n_chains; k++)
            for (int l = 0; l < cg->chain[k].len; l++) {
                members++;
                ln += cg->chain[k].node[l]->op == KN_OP_LAYER_NORM;
            }
        CHECK(kn_graph_run(gl) == KN_OK, "%s: gpu run: %s", lm.name, kn_last_error(ctx));
        CHECK(members == 2 && ln == 0 && cg->chain_launches >= 1,
              "%s: %d chains of %d nodes (%d layer norms among them), %lld chain launches", lm.name, cg->n_chains,
              members, ln, (long long)cg->chain_launches);
        kn_graph_free(gl);
    }
    kn_optimizer half_opts[2] = {kn_sgd(0.05f), kn_adam(1e-3f)}; /* half_cases' */
    half_opts[0].momentum = 0.9f;
    for (int h = 0; h < 4; h++) {
        kn_precision p = h % 2 ? KN_PRECISION_FP16 : KN_PRECISION_BF16;
        tcase c = {"mlp with layer_norm half", b_ln_mlp, &half_opts[h / 2], KN_PASS_ALL, 3, 0, 0, p};
        kn_graph *gpu = make(ctx, &c, KN_DEVICE_CUDA);
        int half_ln = 0; /* (else the comparison proves nothing of the half kernels) */
        for (int i = 0; gpu && i < gpu->n_nodes; i++) {
            const kn_tensor *t = gpu->nodes[i];
            half_ln += (t->op == KN_OP_LAYER_NORM || t->op == KN_OP_LAYER_NORM_GRAD) && t->dtype != KN_F32;
        }
        CHECK(half_ln == 2, "%s %s: %d layer norm nodes write half on the gpu, expected 2", c.name, kn_precision_name(p),
              half_ln);
        kn_graph_free(gpu);
        run_case(ctx, &c);
    }
}

static void b_conv(kn_graph *g, const void *arg) {
    const int *same = arg;
    kn_tensor *x = kn_param(g, (int64_t[]){2, 9, 8, 3}, 4, KN_INIT_ZEROS, "x");
    kn_tensor *k = kn_param(g, (int64_t[]){3 * 3 * 3, 5}, 2, KN_INIT_ZEROS, "kernel");
    kn_tensor *bias = kn_param(g, (int64_t[]){5}, 1, KN_INIT_ZEROS, "bias");
    kn_tensor *y = kn_act(g, kn_add(g, kn_conv2d(g, x, k, 3, 3, *same ? 2 : 1, 1, 1, *same ? 1 : 2, *same), bias), KN_RELU);
    y = kn_max_pool2d(g, y, 2, 2, 2, 2, *same);
    y = kn_avg_pool2d(g, kn_act(g, y, KN_TANH), 2, 2, 1, 1, *same);
    train_on(g, y, NULL);
}

/* The sequence builders (views of the 2-D ops with 1 x K windows; causal padding is a
 * leading padding of dilation * (K - 1) the 2-D ops never see otherwise) and global max
 * pooling of images: a causal dilated convolution, 'same' max pooling, a strided 'same'
 * convolution, 'same' average pooling, the global maximum and mean of the sequence plus the
 * global maximum of an image. */
static void b_conv1d(kn_graph *g, const void *arg) {
    (void)arg;
    kn_tensor *x = kn_param(g, (int64_t[]){2, 13, 3}, 3, KN_INIT_ZEROS, "x");
    kn_tensor *k1 = kn_param(g, (int64_t[]){3 * 3, 4}, 2, KN_INIT_ZEROS, "kernel1");
    kn_tensor *b1 = kn_param(g, (int64_t[]){4}, 1, KN_INIT_ZEROS, "bias1");
    kn_tensor *k2 = kn_param(g, (int64_t[]){2 * 4, 5}, 2, KN_INIT_ZEROS, "kernel2");
    kn_tensor *img = kn_param(g, (int64_t[]){2, 3, 4, 5}, 4, KN_INIT_ZEROS, "img");
    kn_tensor *y = kn_act(g, kn_add(g, kn_conv1d(g, x, k1, 3, 1, 2, KN_PADDING_CAUSAL), b1), KN_RELU);
    y = kn_max_pool1d(g, y, 2, 2, true);
    y = kn_conv1d(g, kn_act(g, y, KN_TANH), k2, 2, 2, 1, KN_PADDING_SAME);
    y = kn_avg_pool1d(g, y, 3, 1, true);
    y = kn_add(g, kn_add(g, kn_global_max_pool1d(g, y), kn_global_avg_pool1d(g, y)), kn_global_max_pool2d(g, img));
    train_on(g, y, NULL);
}

/* The 64-bit fallback kernels of pooling, im2col and col2im (the launchers take them past
 * 2^31 elements; KILN_CUDA_INDEX64=1 forces them) give the 32-bit kernels' results bit for
 * bit (kernels_nn.cu keeps each element's order of operations): every kept output, every
 * parameter, gradient and optimizer state after c's steps. */
static void index64_case(kn_ctx *ctx, const tcase *c) {
    if (on_mirror) return; /* (a CUDA setting) */
    kn_graph *fast = make(ctx, c, KN_DEVICE_CUDA);
    setenv("KILN_CUDA_INDEX64", "1", 1);
    kn_graph *wide = make(ctx, c, KN_DEVICE_CUDA);
    unsetenv("KILN_CUDA_INDEX64");
    if (!fast || !wide) goto done;
    const kn__cuda_graph *cf = fast->backend.context, *cw = wide->backend.context;
    CHECK(!cf->index64 && cw->index64, "%s: KILN_CUDA_INDEX64 not taken", c->name);
    for (int s = 0; s < c->steps; s++) {
        CHECK(kn_graph_run(fast) == KN_OK, "%s: 32-bit run: %s", c->name, kn_last_error(ctx));
        CHECK(kn_graph_run(wide) == KN_OK, "%s: 64-bit run: %s", c->name, kn_last_error(ctx));
    }
    kn_graph_sync(fast);
    kn_graph_sync(wide);
    for (int i = 0; i < fast->n_nodes && fast->n_nodes == wide->n_nodes; i++) {
        const kn_tensor *a = fast->nodes[i], *b = wide->nodes[i];
        if (a->flags & KN_FLAG_KEEP)
            CHECK(memcmp(a->data, b->data, kn__nbytes(a)) == 0, "%s: '%s' differs between the 32- and 64-bit kernels",
                  c->name, a->name);
    }
    CHECK(memcmp(fast->param_buf, wide->param_buf, fast->param_floats * sizeof(float)) == 0 &&
              memcmp(fast->grad_buf, wide->grad_buf, fast->param_floats * sizeof(float)) == 0 &&
              (!fast->state_floats || memcmp(fast->state_buf, wide->state_buf, fast->state_floats * sizeof(float)) == 0),
          "%s: parameters, gradients or optimizer state differ between the 32- and 64-bit kernels", c->name);
done:
    kn_graph_free(fast);
    kn_graph_free(wide);
}

/* A pooling of a given geometry on 2 images of 7 x 9 (odd: cells past the last window
 * under 'valid') with c channels, after a relu (whose gradient the passes fuse into the
 * pooling's) or, with ties, of x itself holding -0.25, 0, 0.25 or 0.5 ("tie_": most max
 * windows hold equal maxima, and the gradient there is 1): a window that gives its dy to
 * another cell than its first maximum changes x's gradient (a relu's zeros tie too, but
 * take no gradient). (Ties made by elu(40 x - 40), -1 below -17.3, were tried first: on the
 * H200 the GPU's expm1f left a few such cells not quite -1, so windows there chose another
 * cell than the CPU's.) */
typedef struct {
    int kh, kw, sh, sw;
    bool same, max;
    int64_t c;
    bool ties;
} pool_arg;

static void b_pool(kn_graph *g, const void *arg) {
    const pool_arg *a = arg;
    kn_tensor *x = kn_param(g, (int64_t[]){2, 7, 9, a->c}, 4, KN_INIT_ZEROS, a->ties ? "tie_x" : "x");
    kn_tensor *y = a->ties ? x : kn_act(g, x, KN_RELU);
    y = a->max ? kn_max_pool2d(g, y, a->kh, a->kw, a->sh, a->sw, a->same)
               : kn_avg_pool2d(g, y, a->kh, a->kw, a->sh, a->sw, a->same);
    train_on(g, y, NULL);
}

/* The pooling kernels' paths: max pooling with windows apart (stride >= size: the
 * gradient scattered from each window, the cells between windows and past the last zero)
 * and overlapping (gathered), average pooling; each with 3 channels (one a thread) and 8
 * (16-byte channel groups), after a relu fused and not, and with exact ties. */
static void pool_cases(kn_ctx *ctx) {
    static const pool_arg geoms[] = {
        {2, 2, 2, 2, false, true, 0, false}, /* tiles, valid: a row and a column past the last window */
        {2, 2, 3, 3, true, true, 0, false},  /* stride 3 > size 2: cells between windows, padding */
        {2, 1, 2, 3, false, true, 0, false}, /* 2x1 windows, strides 2x3 */
        {3, 3, 2, 2, true, true, 0, false},  /* overlapping: the gather */
        {3, 2, 1, 2, false, true, 0, false}, /* overlapping rows only */
        {2, 2, 2, 2, true, false, 0, false}, /* average, windows apart */
        {3, 3, 2, 2, true, false, 0, false}, /* average, overlapping */
    };
    static const int64_t chans[2] = {3, 8};
    for (int i = 0; i < (int)(sizeof geoms / sizeof geoms[0]); i++)
        for (int k = 0; k < 2; k++)
            for (int m = 0; m < 3; m++) { /* relu, relu fused, ties */
                pool_arg a = geoms[i];
                a.c = chans[k], a.ties = m == 2;
                char name[64];
                snprintf(name, sizeof name, "pool %d c %lld%s", i, (long long)a.c,
                         m == 0 ? "" : m == 1 ? " fused" : " ties");
                tcase c = {name, b_pool, &a, m == 0 ? KN_PASS_NONE : KN_PASS_ALL, 1, 1e-6f, 1e-6f, KN_PRECISION_FP32};
                run_case(ctx, &c);
                if (m != 0) index64_case(ctx, &c); /* (fused: a relu's gradient in the pooling's) */
            }
}

/* One convolution of a given geometry, between an activation of its input (its gradient
 * fused into the convolution's input gradient by the passes) and a bias + activation (fused
 * into the forward): y = act(conv(pre(x)) + bias). */
typedef struct {
    int kh, kw, sh, sw, dh, dw;
    bool same;
    int64_t n, h, w, c, f;
    kn_activation pre, act;
    const kn_optimizer *opt; /* NULL: gradients only */
    int groups;              /* 0: 1 (kn_grouped_conv2d's) */
} conv_arg;

static int conv_groups(const conv_arg *a) { return a->groups > 1 ? a->groups : 1; }
/* The window's length K of a conv_arg: the kernel's rows. */
static int64_t conv_k(const conv_arg *a) { return (int64_t)a->kh * a->kw * a->c / conv_groups(a); }

static void b_conv_geom(kn_graph *g, const void *arg) {
    const conv_arg *a = arg;
    kn_tensor *x = kn_param(g, (int64_t[]){a->n, a->h, a->w, a->c}, 4, KN_INIT_ZEROS, "x");
    kn_tensor *k = kn_param(g, (int64_t[]){conv_k(a), a->f}, 2, KN_INIT_ZEROS, "kernel");
    kn_tensor *bias = kn_param(g, (int64_t[]){a->f}, 1, KN_INIT_ZEROS, "bias");
    if (a->pre != KN_LINEAR) x = kn_act(g, x, a->pre);
    kn_tensor *y = kn_grouped_conv2d(g, x, k, a->kh, a->kw, a->sh, a->sw, a->dh, a->dw, a->same, conv_groups(a));
    y = kn_add(g, y, bias);
    if (a->act != KN_LINEAR) y = kn_act(g, y, a->act);
    train_on(g, y, a->opt);
}

/* Output positions per image of a conv_arg (graph.c's window()). */
static int64_t conv_per(const conv_arg *a) {
    int64_t oh = a->same ? (a->h + a->sh - 1) / a->sh : (a->h - (int64_t)(a->kh - 1) * a->dh - 1) / a->sh + 1;
    int64_t ow = a->same ? (a->w + a->sw - 1) / a->sw : (a->w - (int64_t)(a->kw - 1) * a->dw - 1) / a->sw + 1;
    return oh * ow;
}
static bool conv_pointwise(const conv_arg *a) { return a->kh == 1 && a->kw == 1 && a->sh == 1 && a->sw == 1; }

/* The GPU graph of c really took the path the environment asked for (else the comparison
 * with the CPU proves nothing about it): direct kernels and no column workspace; or a
 * workspace of the whole column matrix (none for a pointwise window, nor for a grouped
 * convolution: the direct kernels whatever the mode); or, under a cap below it, one chunk
 * of at most the cap (at least one row). */
static void conv_path_check(kn_ctx *ctx, const tcase *c, const conv_arg *a, bool direct, size_t cap) {
    if (on_mirror) return;
    kn_graph *gpu = make(ctx, c, KN_DEVICE_CUDA);
    if (!gpu) return;
    const kn__cuda_graph *cg = gpu->backend.context;
    size_t row = (size_t)conv_k(a) * sizeof(float), full = (size_t)(a->n * conv_per(a)) * row;
    size_t want_most =
        conv_pointwise(a) || direct || conv_groups(a) > 1 ? 0 : cap && cap < full ? (cap > row ? cap : row) : full;
    CHECK(cg->conv_direct == direct, "%s: KILN_CUDA_CONV %s not taken", c->name, direct ? "direct" : "gemm");
    CHECK(cg->conv_cols_bytes <= want_most && (want_most == 0) == (cg->conv_cols_bytes == 0) &&
              (!cap || cap >= full || cg->conv_cols_bytes < full),
          "%s: a %zu-byte column workspace (cap %zu, whole matrix %zu)", c->name, cg->conv_cols_bytes, cap, full);
    kn_graph_free(gpu);
}

/* Convolution geometries (stride, padding, dilation, non-square windows, one and several
 * input channels, the pointwise GEMM) on the direct kernels and on im2col + cuBLASLt, the
 * latter whole, in chunks of two images (the last one ragged) and in chunks of a few rows
 * that split images (col2im adding to the images an earlier chunk began). Two runs: the
 * second is captured as a CUDA graph; grouped convolutions likewise. 72 cases, small
 * enough for compute-sanitizer's time in bench/gpu/run.sh. */
static void conv_cases(kn_ctx *ctx) {
    static const conv_arg geoms[] = {
        {3, 3, 2, 2, 1, 1, true, 3, 9, 8, 3, 5, KN_TANH, KN_RELU, NULL, 0},    /* stride 2, same, cin 3 */
        {3, 3, 1, 1, 2, 2, false, 3, 7, 7, 1, 4, KN_LINEAR, KN_GELU, NULL, 0}, /* dilation 2, valid, cin 1 */
        {3, 2, 2, 1, 1, 2, true, 3, 10, 9, 2, 6, KN_RELU, KN_TANH, NULL, 0},   /* 3x2, strides 2x1, dilation 1x2 */
        {1, 1, 1, 1, 1, 1, false, 2, 5, 6, 4, 3, KN_SIGMOID, KN_RELU, NULL, 0}, /* pointwise: no im2col */
        {1, 1, 2, 2, 1, 1, true, 3, 5, 5, 3, 2, KN_LINEAR, KN_LINEAR, NULL, 0}, /* 1x1 with stride 2 */
        {5, 5, 1, 1, 1, 1, true, 4, 6, 7, 1, 2, KN_ELU, KN_LINEAR, NULL, 0},   /* 5x5 same, cin 1 */
        {2, 3, 3, 2, 1, 1, false, 3, 8, 9, 3, 4, KN_LINEAR, KN_LEAKY_RELU, NULL, 0}, /* 2x3 valid, strides 3x2 */
        /* cin a multiple of 4: im2col and col2im move 16-byte channel groups */
        {3, 3, 1, 1, 1, 1, true, 2, 7, 6, 8, 4, KN_RELU, KN_RELU, NULL, 0},     /* 3x3 same, stride 1, cin 8 */
        {2, 3, 2, 1, 1, 2, false, 2, 7, 8, 4, 3, KN_TANH, KN_LINEAR, NULL, 0}, /* strides 2x1, dilation 1x2, cin 4 */
        /* grouped (the direct kernels in either mode): 2 groups of 3 -> 2; 4 of 2 -> 3 with
         * stride and dilation; a pointwise one of 3 groups of 2 -> 1 */
        {3, 3, 1, 1, 1, 1, true, 2, 6, 7, 6, 4, KN_TANH, KN_RELU, NULL, 2},
        {3, 2, 2, 1, 1, 2, false, 3, 9, 8, 8, 12, KN_RELU, KN_TANH, NULL, 4},
        {1, 1, 1, 1, 1, 1, false, 2, 5, 5, 6, 3, KN_LINEAR, KN_SIGMOID, NULL, 3},
    };
    for (int i = 0; i < (int)(sizeof geoms / sizeof geoms[0]); i++) {
        const conv_arg *a = &geoms[i];
        /* two images' columns and half a row (strtod's rounding must not lose the second image) */
        char two[32], name[96];
        snprintf(two, sizeof two, "%.9f", (double)((2 * conv_per(a) * conv_k(a) + conv_k(a) / 2) * 4) / 1048576.0);
        const char *caps[4] = {NULL, NULL, "0.0005", two}; /* 0.0005 MB: 524 bytes, a few rows */
        for (int m = 0; m < 4; m++) {
            setenv("KILN_CUDA_CONV", m == 0 ? "direct" : "gemm", 1);
            if (caps[m]) setenv("KILN_CUDA_CONV_WS_MB", caps[m], 1);
            size_t cap = caps[m] ? (size_t)(strtod(caps[m], NULL) * 1048576.0) : 0;
            /* capped: the fused graph only (its col2im applies the activation's gradient) */
            for (int fused = caps[m] ? 1 : 0; fused < 2; fused++) {
                snprintf(name, sizeof name, "conv %d %s%s%s%s", i, m == 0 ? "direct" : "gemm", caps[m] ? " cap " : "",
                         caps[m] ? caps[m] : "", fused ? " fused" : "");
                tcase c = {name, b_conv_geom, a, fused ? KN_PASS_ALL : KN_PASS_NONE, 2,
                           1e-4f, 1e-4f, KN_PRECISION_FP32};
                if (fused == (caps[m] ? 1 : 0)) conv_path_check(ctx, &c, a, m == 0, cap);
                run_case(ctx, &c);
                if (m >= 2 && fused) index64_case(ctx, &c); /* im2col and col2im by chunks */
            }
            unsetenv("KILN_CUDA_CONV");
            unsetenv("KILN_CUDA_CONV_WS_MB");
        }
    }
}

/* A wider MLP for mixed precision, 96 -> 128 -> width -> 16 logits: products with widths
 * multiple of 8 (the tensor cores' tiles), two activations, a softmax-free head. "mlp wide
 * half": f32 inputs, a fused relu dense and a gelu one (the first products f32 x f32, so
 * f32 outputs). "mlp half inputs": a model's mixed-precision MLP (its loaders narrow the
 * batches), so every dense layer's output is half, with tanh and sigmoid fused into the
 * dense nodes and their gradients into the backward products (matmul + activation
 * gradient, half too): the CUDA backend's products into an f32 workspace, each element
 * narrowed once after the activation (ops.c wide_product), as the CPU's epilogues do. */
typedef struct {
    const kn_optimizer *opt;
    bool half_inputs;
    kn_activation act1, act2;
    int64_t width;
} mlp3_arg;

static void b_mlp3(kn_graph *g, const void *arg) {
    const mlp3_arg *a = arg;
    g->half_inputs = a->half_inputs;
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){64, 96}, 2, "x");
    kn_tensor *labels = kn_input(g, KN_I32, (int64_t[]){64}, 1, "labels");
    kn_tensor *w1 = kn_param(g, (int64_t[]){96, 128}, 2, KN_INIT_GLOROT_UNIFORM, "w1");
    kn_tensor *b1 = kn_param(g, (int64_t[]){128}, 1, KN_INIT_ZEROS, "b1");
    kn_tensor *w2 = kn_param(g, (int64_t[]){128, a->width}, 2, KN_INIT_GLOROT_UNIFORM, "w2");
    kn_tensor *b2 = kn_param(g, (int64_t[]){a->width}, 1, KN_INIT_ZEROS, "b2");
    kn_tensor *w3 = kn_param(g, (int64_t[]){a->width, 16}, 2, KN_INIT_GLOROT_UNIFORM, "w3");
    kn_tensor *h = kn_act(g, kn_add(g, kn_matmul(g, x, w1), b1), a->act1);
    h = kn_act(g, kn_add(g, kn_matmul(g, h, w2), b2), a->act2);
    kn_tensor *loss = kn_loss_op(g, KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, kn_matmul(g, h, w3), labels, true);
    kn_graph_keep(g, loss);
    kn_graph_backward(g, loss);
    kn_graph_add_optimizer(g, a->opt);
}

/* One half dense layer with an activation cuBLASLt's epilogue lacks (half inputs: its
 * output is half), read back exactly: a leaky relu widens y (and scales its negative half
 * in f32, one IEEE rounding on either device) into the kept output. */
typedef struct {
    kn_activation act;
} dense_round_arg;

static void b_dense_round(kn_graph *g, const void *arg) {
    const dense_round_arg *a = arg;
    g->half_inputs = true;
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){64, 96}, 2, "x");
    kn_tensor *w = kn_param(g, (int64_t[]){96, 128}, 2, KN_INIT_GLOROT_UNIFORM, "w");
    kn_tensor *b = kn_param(g, (int64_t[]){128}, 1, KN_INIT_ZEROS, "b");
    kn_tensor *y = kn_act(g, kn_add(g, kn_matmul(g, x, w), b), a->act);
    kn_graph_keep(g, kn_act(g, y, KN_LEAKY_RELU));
}

/* x (rows, k) half, the weights narrowed to the half type as the GPU multiplies them (its
 * parameters' half copy), every sum, the bias and the activation in double, and each
 * output narrowed once, then widened and through the kept leaky relu as the graph does:
 * what the GPU's half dense should give but where its f32 sums, in another order, round
 * to neighbouring half values. */
static void dense_round_reference(const kn_graph *g, kn_activation act, float alpha, float leak, float *z) {
    const kn_tensor *x = g->nodes[0], *w = g->params[0], *b = g->params[1];
    int64_t rows = x->ne[0], k = x->ne[1], n = w->ne[1];
    bool bf16 = x->dtype == KN_BF16;
    float *xf = malloc(sizeof(float) * (size_t)(rows * k)), *wf = malloc(sizeof(float) * (size_t)(k * n));
    uint16_t *h = malloc(sizeof(uint16_t) * (size_t)(k * n > rows * n ? k * n : rows * n));
    if (bf16) kn__bf16_to_f32(x->data, xf, (size_t)(rows * k)), kn__f32_to_bf16(w->data, h, (size_t)(k * n));
    else kn__f16_to_f32(x->data, xf, (size_t)(rows * k)), kn__f32_to_f16(w->data, h, (size_t)(k * n));
    if (bf16) kn__bf16_to_f32(h, wf, (size_t)(k * n));
    else kn__f16_to_f32(h, wf, (size_t)(k * n));
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < n; j++) {
            double v = ((const float *)b->data)[j];
            for (int64_t q = 0; q < k; q++) v += (double)xf[i * k + q] * wf[q * n + j];
            v = act == KN_TANH ? tanh(v) : act == KN_SIGMOID ? 1 / (1 + exp(-v)) : v > 0 ? v : alpha * (exp(v) - 1);
            z[i * n + j] = (float)v;
        }
    if (bf16) kn__f32_to_bf16(z, h, (size_t)(rows * n)), kn__bf16_to_f32(h, z, (size_t)(rows * n));
    else kn__f32_to_f16(z, h, (size_t)(rows * n)), kn__f16_to_f32(h, z, (size_t)(rows * n));
    for (int64_t i = 0; i < rows * n; i++) z[i] = z[i] > 0 ? z[i] : leak * z[i];
    free(xf), free(wf), free(h);
}

/* The product, its bias and the activation in f32, narrowed once (ops.c wide_product), as
 * the CPU's epilogues do: the GPU's half outputs equal the reference above but for under 1
 * in 200 (rounding twice, the product with a half bias and then the activation, 1 in 8 to
 * 1 in 4 differed, in bf16 and fp16 alike). */
static void dense_rounding_cases(kn_ctx *ctx) {
    static const kn_activation acts[3] = {KN_TANH, KN_SIGMOID, KN_ELU};
    static const kn_precision precs[2] = {KN_PRECISION_BF16, KN_PRECISION_FP16};
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < 3; i++) {
            dense_round_arg a = {acts[i]};
            /* (not in place: the kept output over the dense's would keep it f32) */
            tcase c = {"dense rounding", b_dense_round, &a, KN_PASS_ALL & ~KN_PASS_INPLACE, 1, 0, 0, precs[p]};
            kn_graph *gpu = make(ctx, &c, KN_DEVICE_CUDA);
            if (!gpu) continue;
            const kn_tensor *d = NULL, *out = gpu->nodes[gpu->n_nodes - 1];
            for (int k = 0; k < gpu->n_nodes; k++)
                if (gpu->nodes[k]->op == KN_OP_DENSE) d = gpu->nodes[k];
            bool ok = d && (d->dtype == KN_BF16 || d->dtype == KN_F16) && d->iparam[2] == (int)acts[i] &&
                      gpu->nodes[0]->dtype == d->dtype && out->dtype == KN_F32;
            CHECK(ok, "dense rounding %s %s: no half dense node with the activation", kn_activation_name(acts[i]),
                  kn_precision_name(precs[p]));
            if (ok) {
                CHECK(kn_graph_run(gpu) == KN_OK && kn_graph_sync(gpu) == KN_OK, "dense rounding: run: %s",
                      kn_last_error(ctx));
                int64_t n = kn__numel(out), differ = 0;
                float *ref = malloc(sizeof(float) * (size_t)n);
                dense_round_reference(gpu, acts[i], d->fparam[0], out->fparam[0], ref);
                for (int64_t k = 0; k < n; k++) differ += ref[k] != ((const float *)out->data)[k];
                free(ref);
                CHECK(differ * 200 < n, "dense rounding %s %s: %lld of %lld half outputs differ from the reference",
                      kn_activation_name(acts[i]), kn_precision_name(precs[p]), (long long)differ, (long long)n);
                printf("test_cuda_ops: dense rounding %s %s: %lld of %lld half outputs differ from the reference\n",
                       kn_activation_name(acts[i]), kn_precision_name(precs[p]), (long long)differ, (long long)n);
            }
            kn_graph_free(gpu);
        }
}

/* ---------------------------------------------------------------- dense chains */

/* A stack of dense layers (the fuse pass makes each matmul + bias + activation one dense
 * node) that the CUDA backend runs as one chain kernel for at most KN_CUDA_CHAIN_ROWS rows:
 * inference (a predict) or, with an optimizer, training (the forward chain, its
 * activations written for the backward pass). */
typedef struct {
    int64_t rows;
    const kn_optimizer *opt; /* NULL: inference */
    bool big;                /* a middle layer of 1100 x 1000 weights, past KN_CUDA_CHAIN_WEIGHTS */
    bool ce;                 /* ends in logits and a sparse cross-entropy (the chain computes the
                              * loss and its gradient), not a softmax and a projection */
    kn_activation hidden[2]; /* the two hidden layers' activations (linear, linear: relu, gelu) */
    float ls;                /* with ce: the loss's label smoothing */
    bool focal;              /* with ce: categorical focal cross-entropy of one-hot-like targets
                              * (a row statistics loss in the chain kernel) instead */
} chain_arg;

static void b_chain(kn_graph *g, const void *arg) {
    const chain_arg *a = arg;
    /* 100 inputs: the first layer splits over 3 blocks a row (kn__cuda_chain_split) */
    const int64_t width[4] = {100, a->big ? 1100 : 40, a->big ? 1000 : 50, 7};
    static const kn_activation act[3] = {KN_RELU, KN_GELU, KN_SOFTMAX};
    kn_tensor *h = kn_input(g, KN_F32, (int64_t[]){a->rows, width[0]}, 2, "x");
    kn_tensor *labels = !a->ce    ? NULL
                        : a->focal ? kn_input(g, KN_F32, (int64_t[]){a->rows, 7}, 2, "pos_target")
                                   : kn_input(g, KN_I32, (int64_t[]){a->rows}, 1, "labels");
    for (int l = 0; l < 3; l++) {
        char wn[8], bn[8];
        snprintf(wn, sizeof wn, "w%d", l);
        snprintf(bn, sizeof bn, "b%d", l);
        kn_tensor *w = kn_param(g, (int64_t[]){width[l], width[l + 1]}, 2, KN_INIT_GLOROT_UNIFORM, wn);
        kn_tensor *b = kn_param(g, (int64_t[]){width[l + 1]}, 1, KN_INIT_ZEROS, bn);
        h = kn_add(g, kn_matmul(g, h, w), b);
        kn_activation al = l < 2 && a->hidden[l] != KN_LINEAR ? a->hidden[l] : act[l];
        if (l < 2 || !a->ce) h = kn_act(g, h, al);
    }
    if (a->ce) {
        kn_tensor *loss =
            a->focal ? kn_loss_op_with(g, KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY, h, labels, NULL,
                                       &(kn_loss_options){.from_logits = true, .label_smoothing = a->ls,
                                                          .focal_gamma = 2, .focal_alpha = 0.25f})
                     : kn_loss_op_smoothed(g, KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, h, labels, NULL, true, a->ls);
        kn_graph_keep(g, loss);
        kn_graph_backward(g, loss);
        kn_graph_add_optimizer(g, a->opt);
    } else if (a->opt) {
        train_on(g, h, a->opt);
    } else {
        kn_graph_keep(g, h);
    }
}

/* A 100-input MLP of three dense layers of units (relu, gelu, softmax; SGD) in context c. */
static kn_model *mlp_100_to_7(kn_ctx *c, const int64_t units[3]) {
    static const kn_activation acts[3] = {KN_RELU, KN_GELU, KN_SOFTMAX};
    kn_model *m = NULL;
    CHECK(kn_model_new_sequential(c, (int64_t[]){100}, 1, &m) == KN_OK, "predict mlp: model: %s", kn_last_error(c));
    for (int l = 0; l < 3 && m; l++) CHECK(kn_model_add_dense(m, units[l], acts[l]) == KN_OK, "predict mlp: dense");
    kn_compile_opts o = {.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = {.kind = KN_OPT_SGD, .learning_rate = 0.1f}};
    CHECK(m && kn_model_compile(m, &o) == KN_OK, "predict mlp: compile: %s", kn_last_error(c));
    return m;
}

/* A 100-40-50-7 MLP (relu, gelu, softmax) predicting 1, 1, 1 and 5 rows on the CPU and on
 * the GPU with KILN_CUDA_POLL=1 set: the same probabilities (1e-5), and every GPU call polled.
 * persist (KILN_CUDA_PERSIST=1): every call through the persistent kernel; after the third,
 * a training step on both devices (the model's graph rebuilt for training: the old one's
 * kernel stopped as it is freed); the calls after it see the new weights, and a 5-row call
 * then a single row again restart the kernel for their batch. */
/* polled_predict's 100-40-50-7 MLP (relu, gelu, softmax; SGD) in context c. */
static kn_model *predict_mlp(kn_ctx *c) { return mlp_100_to_7(c, (const int64_t[3]){40, 50, 7}); }

/* predict_mlp on the CPU (m[0]) and on the GPU (m[1]), each in a context of its own, and
 * both freed with their contexts. */
static void predict_mlp_pair(kn_model *m[2]) {
    for (int d = 0; d < 2; d++) {
        kn_ctx *c;
        kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 7, .device = d ? KN_DEVICE_CUDA : KN_DEVICE_CPU}, &c);
        m[d] = predict_mlp(c);
    }
}
static void free_model_pair(kn_model *m[2]) {
    for (int d = 0; d < 2; d++) {
        kn_ctx *c = kn_model_ctx(m[d]);
        kn_model_free(m[d]);
        kn_ctx_free(c);
    }
}

static void polled_predict(kn_ctx *ctx, bool persist) {
    (void)ctx;
    kn_model *m[2];
    predict_mlp_pair(m);
    float x[5 * 100], p[2][5 * 7];
    int32_t y[5] = {0, 3, 6, 2, 1};
    for (int i = 0; i < 5 * 100; i++) x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    static const int64_t rows[7] = {1, 1, 1, 1, 1, 5, 1};
    int calls = persist ? 7 : 4, since_graph = 0; /* (calls on the model's current graph) */
    for (int k = 0; k < calls; k++) {
        if (persist && k == 3) {
            for (int d = 0; d < 2; d++)
                CHECK(kn_model_train_step(m[d], x, y, 5, NULL) == KN_OK, "polled predict: a training step: %s",
                      kn_last_error(kn_model_ctx(m[d])));
            since_graph = 0;
        }
        for (int d = 0; d < 2; d++)
            CHECK(kn_model_predict(m[d], x + (k % 5) * 100 * (rows[k] == 1), rows[k], p[d]) == KN_OK, "polled predict %d: %s", k,
                  kn_last_error(kn_model_ctx(m[d])));
        for (int i = 0; i < rows[k] * 7; i++)
            CHECK(fabsf(p[0][i] - p[1][i]) <= 1e-5f, "polled predict %d: probability %d: cpu %g, gpu %g", k, i, p[0][i], p[1][i]);
        since_graph++;
    }
    const kn__cuda_graph *cg = m[1]->graph ? m[1]->graph->backend.context : NULL;
    CHECK(cg && cg->polls == since_graph, "polled predict: %lld of %d calls polled", cg ? (long long)cg->polls : -1LL,
          since_graph);
    if (cg) printf("polled predict: %lld of %lld waits fell back to a synchronize\n", (long long)cg->poll_fallbacks, (long long)cg->polls);
    if (persist && cg) { /* (launched 3 times: the first call, serving the second too, the 5 rows, the
                          * single row after them; the emulator, which holds 4 blocks at once, refuses the
                          * 5 rows' 15: there 2 launches, its kernel parked between the host's samples) */
        CHECK(cg->persist_served + cg->persist_refusals == since_graph && cg->persist_served >= 3 && cg->persist_refusals <= 1,
              "persistent predict: %lld of %d calls served, %lld refused", (long long)cg->persist_served, since_graph,
              (long long)cg->persist_refusals);
        CHECK(cg->persist_launches == 3 - cg->persist_refusals, "persistent predict: %lld launches, not %lld",
              (long long)cg->persist_launches, 3 - (long long)cg->persist_refusals);
        printf("persistent predict: %lld calls served, %lld refused, %lld launches\n", (long long)cg->persist_served,
               (long long)cg->persist_refusals, (long long)cg->persist_launches);
    }
    free_model_pair(m);
}

/* A single-row predict (a forward-only run of one row) on the CPU and on the GPU, for each
 * way the GPU may take it: by default the row kernel's cluster (kernels_row.cu) when the
 * chain fits it, else unfused; KILN_CUDA_ROW_CLUSTER=0 unfused (cuBLASLt's products);
 * with KILN_CUDA_CHAIN_PREDICT=1 too, the chain kernel. Each the CPU's probabilities (1e-5)
 * for 1, 1, 1 rows (launched, captured, replayed), then 5 rows (the chain kernel always),
 * and the launches counted: how many single rows went by the chain kernel and by the row
 * kernel. Models: predict_mlp (100-40-50-7, relu, gelu, softmax; its later layers' weights
 * kept in shared memory), one whose later layers are too many floats to keep (read from
 * global memory instead: 100-200-150-7) and one too wide for the row kernel (300 outputs:
 * unfused by default). Clusters of 8 (the default), 3 (slices of 34, 34 and 32 inputs) and
 * 2; the A/B switches KILN_CUDA_ROW_INPUT=param (the input in the launch's parameters: every
 * single row launched, none captured), KILN_CUDA_ROW_PARTS (1 and 32 threads a column) and
 * KILN_CUDA_ROW_TAIL=warps (the later layers a warp a column) and warps_end (the last layer
 * and its softmax by warp 0 alone). */
typedef struct {
    const char *name;
    int64_t units[3];
    const char *cluster, *chain_predict;
    int64_t chained, rowed; /* the single rows (3) by a kernel of the chain's, and of them by the row kernel */
    const char *env;        /* more switches, NAME=VALUE separated by spaces, or NULL */
    int64_t param_rows;     /* ... of them with the input in the launch's parameters (never captured: all 3) */
} row_case;


/* A row case's switches (NAME=VALUE separated by spaces; NULL: none) set, or unset. */
static void row_switches(const char *list, bool set) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", list ? list : "");
    for (char *v = strtok(buf, " "); v; v = strtok(NULL, " ")) {
        char *eq = strchr(v, '=');
        if (!eq) continue;
        *eq = '\0';
        if (set) setenv(v, eq + 1, 1);
        else unsetenv(v);
    }
}

static void single_row_case(const row_case *rc) {
    if (rc->cluster) setenv("KILN_CUDA_ROW_CLUSTER", rc->cluster, 1);
    if (rc->chain_predict) setenv("KILN_CUDA_CHAIN_PREDICT", rc->chain_predict, 1);
    row_switches(rc->env, true);
    kn_model *m[2];
    for (int d = 0; d < 2; d++) {
        kn_ctx *c;
        kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 7, .device = d ? KN_DEVICE_CUDA : KN_DEVICE_CPU}, &c);
        m[d] = mlp_100_to_7(c, rc->units);
    }
    float x[5 * 100], p[2][5 * 7];
    for (int i = 0; i < 5 * 100; i++) x[i] = (float)((i * 53) % 97) / 48.0f - 1.0f;
    int64_t chained = -1, rowed = -1, param = -1;
    for (int k = 0; k < 4; k++) { /* 1, 1, 1 rows (launched, captured, replayed), then 5 */
        int64_t n = k < 3 ? 1 : 5;
        for (int d = 0; d < 2; d++)
            CHECK(kn_model_predict(m[d], x + (n == 1 ? k * 100 : 0), n, p[d]) == KN_OK, "%s: predict %d: %s", rc->name, k,
                  kn_last_error(kn_model_ctx(m[d])));
        for (int i = 0; i < n * 7; i++)
            CHECK(fabsf(p[0][i] - p[1][i]) <= 1e-5f, "%s: predict %d: probability %d: cpu %g, gpu %g", rc->name, k, i,
                  p[0][i], p[1][i]);
        const kn__cuda_graph *cg = m[1]->graph ? m[1]->graph->backend.context : NULL;
        if (k == 2 && cg) chained = cg->chain_launches, rowed = cg->row_launches, param = cg->row_param_launches;
        if (k == 3 && cg)
            CHECK(cg->chain_launches > chained && cg->row_launches == rowed, "%s: 5 rows: not the chain kernel (%lld, %lld)",
                  rc->name, (long long)cg->chain_launches, (long long)cg->row_launches);
    }
    /* (the replay runs the captured graph: no launch counted; so 2 single rows count) */
    CHECK(chained == rc->chained && rowed == rc->rowed, "%s: %lld single rows by the chain's kernels, %lld by the row "
          "kernel; expected %lld and %lld", rc->name, (long long)chained, (long long)rowed, (long long)rc->chained,
          (long long)rc->rowed);
    CHECK(param == rc->param_rows, "%s: %lld single rows with the input in the parameters, expected %lld", rc->name,
          (long long)param, (long long)rc->param_rows);
    free_model_pair(m);
    unsetenv("KILN_CUDA_ROW_CLUSTER");
    unsetenv("KILN_CUDA_CHAIN_PREDICT");
    row_switches(rc->env, false);
}

static void single_row_predict(void) {
    static const row_case cases[] = {
        {"row kernel (cluster of 8, later layers kept)", {40, 50, 7}, NULL, NULL, 2, 2, NULL, 0},
        {"row kernel (cluster of 3)", {40, 50, 7}, "3", NULL, 2, 2, NULL, 0},
        {"row kernel (cluster of 2, later layers from global memory)", {200, 150, 7}, "2", NULL, 2, 2, NULL, 0},
        {"row kernel (too wide: unfused)", {300, 50, 7}, NULL, NULL, 0, 0, NULL, 0},
        {"KILN_CUDA_ROW_CLUSTER=0 (unfused)", {40, 50, 7}, "0", NULL, 0, 0, NULL, 0},
        {"KILN_CUDA_CHAIN_PREDICT=1 (the chain kernel)", {40, 50, 7}, "0", "1", 2, 0, NULL, 0},
        {"KILN_CUDA_CHAIN_PREDICT=1 (the row kernel first)", {40, 50, 7}, NULL, "1", 2, 2, NULL, 0},
        /* the input in the launch's parameters: each single row launched (3), none captured */
        {"KILN_CUDA_ROW_INPUT=param", {40, 50, 7}, NULL, NULL, 3, 3, "KILN_CUDA_ROW_INPUT=param", 3},
        {"KILN_CUDA_ROW_INPUT=param (cluster of 3, later layers from global memory)", {200, 150, 7}, "3", NULL, 3, 3,
         "KILN_CUDA_ROW_INPUT=param", 3},
        {"KILN_CUDA_ROW_INPUT=param (too wide: unfused)", {300, 50, 7}, NULL, NULL, 0, 0, "KILN_CUDA_ROW_INPUT=param", 0},
        /* the later layers' threads a column: 1 (a thread a column, no parts to add), 32 */
        {"KILN_CUDA_ROW_PARTS=1", {40, 50, 7}, NULL, NULL, 2, 2, "KILN_CUDA_ROW_PARTS=1", 0},
        {"KILN_CUDA_ROW_PARTS=32 (later layers from global memory)", {200, 150, 7}, NULL, NULL, 2, 2,
         "KILN_CUDA_ROW_PARTS=32", 0},
        /* the later layers kept transposed, a warp a column (kept: 40 x 50 and 50 x 7 with
         * their padding; 200 x 150 is not, and keeps layer_sums from global memory) */
        {"KILN_CUDA_ROW_TAIL=warps", {40, 50, 7}, NULL, NULL, 2, 2, "KILN_CUDA_ROW_TAIL=warps", 0},
        {"KILN_CUDA_ROW_TAIL=warps (cluster of 3)", {40, 50, 7}, "3", NULL, 2, 2, "KILN_CUDA_ROW_TAIL=warps", 0},
        {"KILN_CUDA_ROW_TAIL=warps (later layers from global memory)", {200, 150, 7}, NULL, NULL, 2, 2,
         "KILN_CUDA_ROW_TAIL=warps", 0},
        {"KILN_CUDA_ROW_TAIL=warps KILN_CUDA_ROW_INPUT=param", {40, 50, 7}, NULL, NULL, 3, 3,
         "KILN_CUDA_ROW_TAIL=warps KILN_CUDA_ROW_INPUT=param", 3},
        /* ... and the last layer with its softmax by warp 0 alone */
        {"KILN_CUDA_ROW_TAIL=warps_end", {40, 50, 7}, NULL, NULL, 2, 2, "KILN_CUDA_ROW_TAIL=warps_end", 0},
        {"KILN_CUDA_ROW_TAIL=warps_end KILN_CUDA_ROW_INPUT=param (cluster of 2)", {40, 50, 7}, "2", NULL, 3, 3,
         "KILN_CUDA_ROW_TAIL=warps_end KILN_CUDA_ROW_INPUT=param", 3},
        {"KILN_CUDA_ROW_TAIL=warps_end (later layers from global memory)", {200, 150, 7}, NULL, NULL, 2, 2,
         "KILN_CUDA_ROW_TAIL=warps_end", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) single_row_case(&cases[i]);
}

/* One predict of row k of x (1 row) on the CPU twin and the CUDA model: the same
 * probabilities (1e-5). */
static void predict_pair(kn_model *cpu, kn_model *gpu, const float *x, int k, const char *what) {
    float p[2][7];
    CHECK(kn_model_predict(cpu, x + k * 100, 1, p[0]) == KN_OK && kn_model_predict(gpu, x + k * 100, 1, p[1]) == KN_OK,
          "%s: predict: %s", what, kn_last_error(kn_model_ctx(gpu)));
    for (int i = 0; i < 7; i++)
        CHECK(fabsf(p[0][i] - p[1][i]) <= 1e-5f, "%s: probability %d: cpu %g, gpu %g", what, i, p[0][i], p[1][i]);
}

/* KILN_CUDA_PERSIST=1 with two CUDA models (run.c's persist_lock): the first's kernel serves
 * its predicts while it is the only CUDA graph; the second's graph (compiled at its first
 * predict) stops it, and while
 * both live every predict is a plain polled run (the second's cooperative launches could
 * otherwise wait on the first's blocks forever; on the emulator, the second's work while the
 * first's kernel waits is a fault); a training step of the second meanwhile; with the second
 * freed, the first's next predict launches its kernel again. Each model against its CPU
 * twin (the contexts make the same weights in the same order). */
static void persist_two_models(void) {
    kn_ctx *cc, *gc;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 7, .device = KN_DEVICE_CPU}, &cc);
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 7, .device = KN_DEVICE_CUDA}, &gc);
    float x[5 * 100];
    int32_t y[5] = {0, 3, 6, 2, 1};
    for (int i = 0; i < 5 * 100; i++) x[i] = (float)((i * 53) % 97) / 48.0f - 1.0f;
    kn_model *a0 = predict_mlp(cc), *a = predict_mlp(gc);
    predict_pair(a0, a, x, 0, "two models: the first alone");
    predict_pair(a0, a, x, 1, "two models: the first alone, again");
    const kn__cuda_graph *ca = a && a->graph ? a->graph->backend.context : NULL;
    CHECK(ca && ca->persist_on && ca->persist_launches == 1 && ca->persist_served == 2,
          "two models: the first alone: its kernel launched once for both predicts");
    kn_model *b0 = predict_mlp(cc), *b = predict_mlp(gc);
    predict_pair(b0, b, x, 3, "two models: the second"); /* (its graph compiled now: the first's kernel stopped) */
    const kn__cuda_graph *cb = b && b->graph ? b->graph->backend.context : NULL;
    CHECK(ca && !ca->persist_on && cb && cb->persist_shared == 1 && !cb->persist_launches,
          "two models: the second's graph stopped the first's kernel, and predicts without one");
    predict_pair(a0, a, x, 2, "two models: the first beside the second");
    CHECK(kn_model_train_step(b0, x, y, 5, NULL) == KN_OK && kn_model_train_step(b, x, y, 5, NULL) == KN_OK,
          "two models: the second's training step: %s", kn_last_error(gc));
    predict_pair(b0, b, x, 4, "two models: the second, trained");
    predict_pair(a0, a, x, 0, "two models: the first, after the second's training step");
    CHECK(ca && !ca->persist_on && ca->persist_shared == 2 && ca->persist_launches == 1,
          "two models: the first's predicts beside the second plain polled runs (%lld), its kernel not launched again",
          ca ? (long long)ca->persist_shared : -1LL);
    kn_model_free(b);
    kn_model_free(b0);
    predict_pair(a0, a, x, 1, "two models: the first alone again");
    predict_pair(a0, a, x, 2, "two models: the first alone again, twice");
    CHECK(ca && ca->persist_on && ca->persist_launches == 2 && ca->persist_served == 4,
          "two models: the first alone again: its kernel launched again, serving both (%lld launches, %lld served)",
          ca ? (long long)ca->persist_launches : -1LL, ca ? (long long)ca->persist_served : -1LL);
    kn_model_free(a);
    kn_model_free(a0);
    kn_ctx_free(gc);
    kn_ctx_free(cc);
}

/* The weight gradients by tiles (KILN_CUDA_WGRAD_TILED=1) give the one-thread-an-element
 * kernel's bits (each output sums its rows in order either way), at `rows` rows with the
 * fused weight gradients allowed that many (KILN_CUDA_WGRAD_ROWS). */
static void wgrad_tiled_same(kn_ctx *ctx, int64_t rows, const kn_optimizer *opt) {
    chain_arg a = {rows, opt, false, false, {KN_LINEAR, KN_LINEAR}, 0, false};
    tcase c = {"weight gradients by tiles", b_chain, &a, KN_PASS_ALL, 1, 0, 0, KN_PRECISION_FP32};
    char lim[32];
    snprintf(lim, sizeof lim, "%lld", (long long)rows);
    setenv("KILN_CUDA_WGRAD_ROWS", lim, 1);
    kn_graph *g[2] = {NULL, NULL};
    for (int t = 0; t < 2; t++) {
        setenv("KILN_CUDA_WGRAD_TILED", t ? "1" : "0", 1);
        g[t] = make(ctx, &c, KN_DEVICE_CUDA);
        if (g[t]) {
            CHECK(kn_graph_run(g[t]) == KN_OK && kn_graph_sync(g[t]) == KN_OK, "%s: run: %s", c.name, kn_last_error(ctx));
            CHECK(((kn__cuda_graph *)g[t]->backend.context)->wgrad_launches == 1, "%s, %lld rows: not fused", c.name,
                  (long long)rows);
        }
    }
    unsetenv("KILN_CUDA_WGRAD_TILED");
    unsetenv("KILN_CUDA_WGRAD_ROWS");
    for (int i = 0; g[0] && g[1] && i < g[0]->n_params; i++)
        CHECK(memcmp(g[0]->params[i]->grad->data, g[1]->params[i]->grad->data, kn__nbytes(g[0]->params[i]->grad)) == 0,
              "%s, %lld rows: gradient '%s' differs from the per-element kernel's", c.name, (long long)rows,
              g[0]->params[i]->grad->name);
    kn_graph_free(g[0]);
    kn_graph_free(g[1]);
}

/* The chain against the CPU, and that it ran as one kernel exactly when the rows allow. */
static void chain_cases(kn_ctx *ctx) {
    /* SGD with momentum at a small rate: Adam's first steps are lr * sign(g), so a gradient
     * near zero (5 rows, a softmax head) turns a rounding difference into 2 lr; and at
     * lr 0.01 this model carries the products' rounding (cuBLASLt's order or the chain's,
     * against the CPU's) from step to step: 64 rows, the gradients' largest difference
     * 6e-6, 2.4e-5, 1.6e-4 after steps 1, 2, 3 (cuBLASLt's: 5e-6, 1e-5, 3e-5) */
    kn_optimizer sgd = kn_sgd(0.001f);
    sgd.momentum = 0.9f;
    static const int64_t rows[4] = {1, 5, KN_CUDA_CHAIN_ROWS, KN_CUDA_CHAIN_ROWS + 1};
    /* past the weight cap: the big layer and the one before it run on cuBLASLt, the last
     * dense layer and its softmax as a chain of two */
    chain_arg big = {5, NULL, true, false, {KN_LINEAR, KN_LINEAR}, 0, false};
    tcase cb = {"dense chain past the weight cap", b_chain, &big, KN_PASS_ALL, 1, 1e-4f, 1e-4f, KN_PRECISION_FP32};
    run_case(ctx, &cb);
    kn_graph *gb = on_mirror ? NULL : make(ctx, &cb, KN_DEVICE_CUDA);
    if (gb) {
        const kn__cuda_graph *c = gb->backend.context;
        CHECK(c->n_chains == 1 && c->chain[0].len == 2 && c->chain[0].node[0]->ne[1] == 7,
              "past the weight cap: %d chains, the first of %d nodes", c->n_chains, c->n_chains ? c->chain[0].len : 0);
        kn_graph_free(gb);
    }
    /* the same layers trained with Adam on logits and a cross-entropy (the softmax head
     * saturates: its gradients would be 0): 1.2M parameters, past KN_CU_UPDATE_VEC_MIN, so
     * the update takes eight parameters a thread (16-byte accesses) */
    kn_optimizer adam = kn_adam(1e-3f);
    adam.epsilon = 0.1f; /* (not sign(g) for the gradients near 0, whose rounding the GPU's product order changes) */
    chain_arg big_train = {5, &adam, true, true, {KN_LINEAR, KN_LINEAR}, 0, false};
    tcase cbt = {"dense chain past the weight cap, Adam", b_chain, &big_train, KN_PASS_ALL, 4, 1e-4f, 1e-4f, KN_PRECISION_FP32};
    run_case(ctx, &cbt);
    /* a chain ending in its loss: the loss and its gradient computed by the chain kernel,
     * the loss and gradient nodes doing nothing, over 3 steps (capture and replay) */
    for (int i = 0; i < 8; i++) { /* (4, 5: label smoothing 0.2; 6, 7: categorical focal, smoothed) */
        chain_arg a = {rows[i % 4], &sgd, false, true, {KN_LINEAR, KN_LINEAR}, i >= 4 ? 0.2f : 0.0f, i >= 6};
        char name[80];
        snprintf(name, sizeof name, "dense chain and its loss, %lld rows%s%s", (long long)a.rows,
                 i >= 4 ? ", label smoothing" : "", i >= 6 ? ", categorical focal" : "");
        tcase c = {name, b_chain, &a, KN_PASS_ALL, 3, 1e-4f, 1e-4f, KN_PRECISION_FP32};
        run_case(ctx, &c);
        kn_graph *gl = on_mirror ? NULL : make(ctx, &c, KN_DEVICE_CUDA);
        if (!gl) continue;
        const kn__cuda_graph *cg = gl->backend.context;
        CHECK(cg->n_chains >= 1 && cg->chain[0].loss && cg->chain[0].loss_grad, "%s: no chain loss planned", name);
        CHECK(kn_graph_run(gl) == KN_OK, "%s: gpu run: %s", name, kn_last_error(ctx));
        bool small = a.rows <= KN_CUDA_CHAIN_ROWS;
        /* the backward chain (the gelu and relu layers' input gradients) run by the forward
         * chain's kernel after each row's loss: one launch in all */
        CHECK(cg->n_chains < 1 || cg->chain[0].bwd >= 0, "%s: the backward chain not merged", name);
        CHECK(cg->chain_launches == (small ? 1 : 0), "%s: %lld chain launches", name, (long long)cg->chain_launches);
        CHECK(cg->n_chains < 1 || (cg->chain[0].loss_fused == small && cg->chain[0].grad_fused == small),
              "%s: the loss fused %d, its gradient %d", name, cg->n_chains ? cg->chain[0].loss_fused : -1,
              cg->n_chains ? cg->chain[0].grad_fused : -1);
        kn_graph_free(gl);
    }
    /* the activations after softmax in a chain, forward and backward, trained 3 steps (not
     * exponential: these cases' weights are uniform in [-1, 1], so exp of a 100-input layer
     * overflows within the steps; it shares the chain's code path with the others) */
    for (int k = KN_SELU; k + 1 < KN_EXPONENTIAL; k += 2) { /* selu and softplus, ..., relu6 and mish */
        chain_arg a = {5, &sgd, false, true, {(kn_activation)k, (kn_activation)(k + 1)}, 0, false};
        char name[80];
        snprintf(name, sizeof name, "dense chain, %s and %s", kn_activation_name(a.hidden[0]), kn_activation_name(a.hidden[1]));
        tcase c = {name, b_chain, &a, KN_PASS_ALL, 3, 1e-4f, 1e-4f, KN_PRECISION_FP32};
        run_case(ctx, &c);
        kn_graph *gl = on_mirror ? NULL : make(ctx, &c, KN_DEVICE_CUDA);
        if (!gl) continue;
        const kn__cuda_graph *cg = gl->backend.context;
        CHECK(kn_graph_run(gl) == KN_OK, "%s: gpu run: %s", name, kn_last_error(ctx));
        /* one launch: the forward chain, its loss and the backward chain merged into it */
        CHECK(cg->n_chains >= 1 && cg->chain[0].bwd >= 0 && cg->chain_launches == 1,
              "%s: %d chains, %lld chain launches", name, cg->n_chains, (long long)cg->chain_launches);
        kn_graph_free(gl);
    }
    for (int i = 0; i < 10; i++) { /* 8, 9: a block a row (KILN_CUDA_CHAIN_SPLIT=0) */
        chain_arg a = {rows[i % 4], i < 4 || i == 8 ? NULL : &sgd, false, false, {KN_LINEAR, KN_LINEAR}, 0, false};
        if (i >= 8) a.rows = 5;
        if (i == 8) setenv("KILN_CUDA_CHAIN_SPLIT", "0", 1);
        char name[80];
        snprintf(name, sizeof name, "dense chain%s, %lld rows%s", a.opt ? " training" : "", (long long)a.rows,
                 i >= 8 ? ", unsplit" : "");
        tcase c = {name, b_chain, &a, KN_PASS_ALL, a.opt ? 3 : 1, 1e-4f, 1e-4f, KN_PRECISION_FP32};
        run_case(ctx, &c);
        if (on_mirror) continue;
        kn_graph *gpu = make(ctx, &c, KN_DEVICE_CUDA);
        if (!gpu) continue;
        CHECK(kn_graph_run(gpu) == KN_OK, "%s: gpu run: %s", c.name, kn_last_error(ctx));
        int64_t launched = ((kn__cuda_graph *)gpu->backend.context)->chain_launches;
        /* one run: the forward chain (dense, dense, gelu, dense, softmax), and in training the
         * backward one (the gelu and relu layers' input gradients) */
        int64_t want = a.rows > KN_CUDA_CHAIN_ROWS ? 0 : a.opt ? 2 : 1;
        CHECK(launched == want, "%s: %lld chain launches, not %lld", c.name, (long long)launched, (long long)want);
        /* and the three weight gradients in one kernel */
        int64_t wgrad = ((kn__cuda_graph *)gpu->backend.context)->wgrad_launches;
        CHECK(wgrad == (a.opt && a.rows <= KN_CUDA_WGRAD_ROWS), "%s: %lld weight-gradient launches", c.name, (long long)wgrad);
        kn_graph_free(gpu);
    }
    unsetenv("KILN_CUDA_CHAIN_SPLIT");
    /* a model's predict, the chain's one kernel, waited for by polling the word it writes
     * last (KILN_CUDA_POLL=1): the CPU's probabilities, each call polled (launched, captured,
     * replayed); the emulator runs kernels only at a synchronize, so there every wait falls
     * back to it */
    if (!on_mirror && !getenv("KILN_CUDA_POLL") && !getenv("KILN_CUDA_PERSIST")) single_row_predict();
    setenv("KILN_CUDA_POLL", "1", 1);
    if (!on_mirror) polled_predict(ctx, false);
    unsetenv("KILN_CUDA_POLL");
    /* ... and kept running between calls, each a doorbell (KILN_CUDA_PERSIST=1) */
    setenv("KILN_CUDA_PERSIST", "1", 1);
    if (!on_mirror) polled_predict(ctx, true);
    if (!on_mirror) persist_two_models();
    unsetenv("KILN_CUDA_PERSIST");
    if (!on_mirror) {
        wgrad_tiled_same(ctx, 5, &sgd);
        wgrad_tiled_same(ctx, 200, &sgd); /* 7 chunks of 32 rows, the last partial */
    }
    const int64_t B = KN_CU_CHAIN_SPLIT_BLOCKS;
    CHECK(kn__cuda_chain_split(1, 784, B) == 24 && kn__cuda_chain_split(32, 784, B) == 8 && kn__cuda_chain_split(256, 784, B) == 4 &&
              kn__cuda_chain_split(5, 40, B) == 1 && kn__cuda_chain_split(64, 100, B) == 3 && kn__cuda_chain_split(32, 784, 128) == 4,
          "the split rule: %d %d %d %d %d %d blocks a row", kn__cuda_chain_split(1, 784, B), kn__cuda_chain_split(32, 784, B),
          kn__cuda_chain_split(256, 784, B), kn__cuda_chain_split(5, 40, B), kn__cuda_chain_split(64, 100, B),
          kn__cuda_chain_split(32, 784, 128));
}

/* The MLPs trained at bf16 and fp16 on both devices (tolerances above), after checking
 * the GPU graph really stores activations half (else the comparison proves nothing). */
static void half_cases(kn_ctx *ctx) {
    static const kn_precision precs[2] = {KN_PRECISION_BF16, KN_PRECISION_FP16};
    kn_optimizer opts[2] = {kn_sgd(0.05f), kn_adam(1e-3f)};
    opts[0].momentum = 0.9f;
    for (int p = 0; p < 2; p++) {
        for (int o = 0; o < 2; o++) {
            mlp3_arg wide = {&opts[o], false, KN_RELU, KN_GELU, 128}, half_in = {&opts[o], true, KN_TANH, KN_SIGMOID, 64};
            tcase c = {"mlp wide half", b_mlp3, &wide, KN_PASS_ALL, 3, 0, 0, precs[p]};
            kn_graph *gpu = make(ctx, &c, KN_DEVICE_CUDA);
            if (gpu) {
                int half = 0;
                for (int i = 0; i < gpu->n_nodes; i++) half += gpu->nodes[i]->dtype == KN_BF16 || gpu->nodes[i]->dtype == KN_F16;
                CHECK(half > 0, "%s %s: no tensor stored half on the gpu", c.name, kn_precision_name(precs[p]));
                CHECK(kn_graph_run(gpu) == KN_OK, "%s: gpu run: %s", c.name, kn_last_error(ctx));
                if (!on_mirror)
                    printf("test_cuda_ops: %s %s: %d half tensors, %lld products with the bias unfused\n", c.name,
                           kn_precision_name(precs[p]), half,
                           (long long)((kn__cuda_graph *)gpu->backend.context)->bias_unfused);
            }
            kn_graph_free(gpu);
            run_case(ctx, &c);
            c.name = "mlp half inputs", c.arg = &half_in;
            run_case(ctx, &c);
            c.name = "mlp half", c.build = b_mlp, c.arg = &opts[o];
            run_case(ctx, &c);
            c.passes = KN_PASS_NONE, c.name = "mlp half unfused";
            run_case(ctx, &c);
        }
    }
}

/* ---------------------------------------------------------------- graph replay */

/* A case trained 5 steps replayed from a captured CUDA graph and launched node by node:
 * the same parameters, optimizer state and gradients bit for bit (every kernel sums in a
 * fixed order): the MLP, and a convolution in chunks that split images (col2im adding to
 * dx, the kernel gradient accumulated over chunks). */
static void replay_vs_launches(kn_ctx *ctx, const tcase *cs) {
    tcase c = *cs;
    setenv("KILN_CUDA_GRAPHS", "0", 1);
    kn_graph *eager = make(ctx, &c, KN_DEVICE_CUDA);
    unsetenv("KILN_CUDA_GRAPHS");
    kn_graph *graphed = make(ctx, &c, KN_DEVICE_CUDA);
    if (!eager || !graphed) goto done;
    for (int s = 0; s < c.steps; s++) {
        CHECK(kn_graph_run(eager) == KN_OK, "%s: eager run: %s", c.name, kn_last_error(ctx));
        CHECK(kn_graph_run(graphed) == KN_OK, "%s: graph run: %s", c.name, kn_last_error(ctx));
    }
    int64_t replays, captures;
    kn__cuda_graph_counts(graphed, &replays, &captures);
    CHECK(on_mirror || (captures == 1 && replays == c.steps - 1), "%s: %lld captures, %lld replays (want 1, %d)", c.name,
          (long long)captures, (long long)replays, c.steps - 1);
    kn__cuda_graph_counts(eager, &replays, &captures);
    CHECK(captures == 0 && replays == 0, "%s: KILN_CUDA_GRAPHS=0 still captured", c.name);
    kn_graph_sync(eager);
    kn_graph_sync(graphed);
    CHECK(memcmp(eager->param_buf, graphed->param_buf, eager->param_floats * sizeof(float)) == 0,
          "%s: parameters after %d steps differ between replay and launches", c.name, c.steps);
    CHECK(memcmp(eager->state_buf, graphed->state_buf, eager->state_floats * sizeof(float)) == 0,
          "%s: optimizer state differs between replay and launches", c.name);
    CHECK(memcmp(eager->grad_buf, graphed->grad_buf, eager->param_floats * sizeof(float)) == 0,
          "%s: gradients differ between replay and launches", c.name);
done:
    kn_graph_free(eager);
    kn_graph_free(graphed);
}

/* ---------------------------------------------------------------- spatial dropout */

/* The kept output of g's dropout node (the first), or NULL. */
static const kn_tensor *kept_dropout(const kn_graph *g) {
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == KN_OP_DROPOUT && (g->nodes[i]->flags & KN_FLAG_KEEP)) return g->nodes[i];
    return NULL;
}

/* Whether f32 tensors a and b hold the same bytes (-0 and 0 differ). */
static bool same_bits(const kn_tensor *a, const kn_tensor *b) {
    return a && b && kn__numel(a) == kn__numel(b) &&
           memcmp(a->data, b->data, (size_t)kn__numel(a) * sizeof(float)) == 0;
}

/* Case c (b_spatial_dropout) on both devices, bit for bit: each training step's output and
 * x's gradient (the same mask on dy) the CPU's exactly; then an evaluation run (the forward
 * alone) is the identity. Trained, the SGD rate is a power of two, so both devices update x
 * to the same bits (the product lr g exact) and the next step's mask meets the same x. */
static void spatial_bits(kn_ctx *ctx, const tcase *c) {
    kn_graph *cpu = make(ctx, c, KN_DEVICE_CPU), *gpu = make(ctx, c, KN_DEVICE_CUDA);
    const kn_tensor *yc = cpu ? kept_dropout(cpu) : NULL, *yg = gpu ? kept_dropout(gpu) : NULL;
    CHECK(yc && yg, "%s: no kept dropout output", c->name);
    for (int s = 0; yc && yg && s < c->steps; s++) {
        CHECK(kn_graph_run(cpu) == KN_OK && kn_graph_run(gpu) == KN_OK && kn_graph_sync(gpu) == KN_OK,
              "%s: run: %s", c->name, kn_last_error(ctx));
        CHECK(same_bits(yc, yg), "%s: step %d's output differs from the cpu's", c->name, s + 1);
        CHECK(same_bits(cpu->params[0]->grad, gpu->params[0]->grad), "%s: step %d's gradient differs from the cpu's",
              c->name, s + 1);
    }
    if (yc && yg) {
        CHECK(kn__graph_run_phases(gpu, KN_PHASE_FORWARD) == KN_OK && kn_graph_sync(gpu) == KN_OK, "%s: evaluation: %s",
              c->name, kn_last_error(ctx));
        CHECK(same_bits(yg, gpu->params[0]), "%s: evaluating, spatial dropout is not the identity", c->name);
    }
    kn_graph_free(cpu);
    kn_graph_free(gpu);
}

/* Spatial dropout (kn_spatial_dropout: KN_OP_DROPOUT with iparam[1] S > 0) against the CPU's
 * (cpu/dropout.c's shared_block): x (rows, steps, channels) and (rows, H, W, C), channels not
 * a multiple of 4 (draws split between channels), fused and not, at the dropout case's
 * tolerance and then bit for bit (spatial_bits); trained 3 steps (a new mask each step) and
 * replayed from a captured CUDA graph against its launches. In bf16 and fp16 (the dropout
 * reads and writes half on the GPU, checked), as close to the fp32 truth as the CPU's half
 * training is (half_compare), which another mask would be far from. */
static void spatial_dropout_cases(kn_ctx *ctx) {
    kn_optimizer sgd = kn_sgd(0x1p-10f);
    spatial_arg shapes[] = {{3, {4, 7, 5, 0}, NULL}, {4, {3, 4, 5, 6}, NULL}, {3, {2, 3, 33, 0}, &sgd}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        int steps = shapes[i].opt ? 3 : 2;
        tcase c = {"spatial dropout", b_spatial_dropout, &shapes[i], KN_PASS_NONE, steps, 0, 1e-6f, KN_PRECISION_FP32};
        run_case(ctx, &c);
        spatial_bits(ctx, &c);
        c.passes = KN_PASS_ALL, c.name = "spatial dropout fused", c.atol = 1e-6f;
        run_case(ctx, &c);
        spatial_bits(ctx, &c);
    }
    kn_optimizer adam = kn_adam(1e-2f); /* (an optimizer with state: replay_vs_launches compares it) */
    spatial_arg trained = {3, {2, 3, 33, 0}, &adam};
    replay_vs_launches(ctx, &(tcase){"replay spatial dropout", b_spatial_dropout, &trained, KN_PASS_ALL, 5, 0, 0,
                                     KN_PRECISION_FP32});
    static const kn_precision precs[2] = {KN_PRECISION_BF16, KN_PRECISION_FP16};
    kn_optimizer momentum = kn_sgd(0.05f);
    momentum.momentum = 0.9f;
    for (int p = 0; p < 2; p++) {
        tcase c = {"spatial dropout half", b_spatial_half, &momentum, KN_PASS_ALL, 3, 0, 0, precs[p]};
        kn_graph *gpu = make(ctx, &c, KN_DEVICE_CUDA);
        const kn_tensor *d = NULL;
        for (int i = 0; gpu && i < gpu->n_nodes; i++)
            if (gpu->nodes[i]->op == KN_OP_DROPOUT && gpu->nodes[i]->iparam[1] > 0) d = gpu->nodes[i];
        CHECK(on_mirror || (d && d->dtype != KN_F32 && d->src[0]->dtype != KN_F32),
              "%s %s: the spatial dropout is not half on the gpu", c.name, kn_precision_name(precs[p]));
        kn_graph_free(gpu);
        run_case(ctx, &c);
    }
}

/* ---------------------------------------------------------------- noise */

/* The noise op (KN_OP_NOISE) of x (13, 77): mode 0 kn_gaussian_noise, 1 kn_gaussian_dropout,
 * 2 kn_alpha_dropout at p, trained by opt (the step, so the draws, change) or not; squared:
 * y * y trained, so that even Gaussian noise's draws reach x's gradient (2 y r). */
typedef struct {
    int mode;
    float p;
    const kn_optimizer *opt;
    bool squared;
} noise_arg;

static void b_noise(kn_graph *g, const void *arg) {
    const noise_arg *a = arg;
    kn_tensor *x = kn_param(g, (int64_t[]){13, 77}, 2, KN_INIT_ZEROS, "x");
    kn_tensor *y = a->mode == 0   ? kn_gaussian_noise(g, x, a->p)
                   : a->mode == 1 ? kn_gaussian_dropout(g, x, a->p)
                                  : kn_alpha_dropout(g, x, a->p);
    train_on(g, a->squared ? kn_mul(g, y, y) : y, a->opt);
}

/* The kept noise node of g (the forward's), or NULL. */
static const kn_tensor *kept_noise(const kn_graph *g) {
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == KN_OP_NOISE && (g->nodes[i]->flags & KN_FLAG_KEEP)) return g->nodes[i];
    return NULL;
}

/* Case c (b_noise) on both devices step by step: each training step's output and x's
 * gradient the CPU's, bit for bit (bits: alpha dropout) or within the case's tolerance; then
 * an evaluation run (the forward alone) is the identity on the GPU, bit for bit. */
static void noise_steps(kn_ctx *ctx, const tcase *c, bool bits) {
    kn_graph *cpu = make(ctx, c, KN_DEVICE_CPU), *gpu = make(ctx, c, KN_DEVICE_CUDA);
    const kn_tensor *yc = cpu ? kept_noise(cpu) : NULL, *yg = gpu ? kept_noise(gpu) : NULL;
    CHECK(yc && yg, "%s: no kept noise output", c->name);
    for (int s = 0; yc && yg && s < c->steps; s++) {
        CHECK(kn_graph_run(cpu) == KN_OK && kn_graph_run(gpu) == KN_OK && kn_graph_sync(gpu) == KN_OK,
              "%s: run: %s", c->name, kn_last_error(ctx));
        char what[48];
        snprintf(what, sizeof what, "step %d's output", s + 1);
        if (bits) CHECK(same_bits(yc, yg), "%s: %s differs from the cpu's", c->name, what);
        else compare(what, c->name, yc, yg, c->atol, c->rtol);
        snprintf(what, sizeof what, "step %d's gradient", s + 1);
        if (bits) CHECK(same_bits(cpu->params[0]->grad, gpu->params[0]->grad), "%s: %s differs", c->name, what);
        else compare(what, c->name, cpu->params[0]->grad, gpu->params[0]->grad, c->atol, c->rtol);
    }
    if (yc && yg) {
        CHECK(kn__graph_run_phases(gpu, KN_PHASE_FORWARD) == KN_OK && kn_graph_sync(gpu) == KN_OK, "%s: evaluation: %s",
              c->name, kn_last_error(ctx));
        CHECK(same_bits(yg, gpu->params[0]), "%s: evaluating, the noise is not the identity", c->name);
    }
    kn_graph_free(cpu);
    kn_graph_free(gpu);
}

/* Each mode against the CPU's kernel (cpu/noise.c), fused and not, 2 steps untrained and 3
 * trained by SGD at 2^-10 (the next step's draws meet x updated alike on both devices), then
 * y * y trained 5 steps by Adam replayed from a captured CUDA graph against its launches (the
 * step values, not the capture's step, key the draws). Tolerances: alpha dropout multiplies by the
 * same float constants and draws the same keep decisions, so its outputs and gradients are
 * the CPU's bits (run_case's 1e-6: the loss, a sum in another order). The normals of Gaussian
 * noise and dropout go through CUDA's logf and cosf, within 1 and 2 ulp of glibc's: z within
 * about 5 ulp (3e-7) of the CPU's relative, |z| <= 5.8, so an output moves by at most 2e-6
 * (stddev 0.5, s 0.82, |x| < 1); 1e-5 absolute and relative leaves room for the loss, a sum
 * of 1001 such products (on the emulator, glibc's functions on both sides: equal). */
static void noise_cases(kn_ctx *ctx) {
    static const char *names[3] = {"gaussian_noise", "gaussian_dropout", "alpha_dropout"};
    kn_optimizer sgd = kn_sgd(0x1p-10f), adam = kn_adam(1e-2f);
    for (int mode = 0; mode < 3; mode++) {
        bool bits = mode == 2;
        float tol = bits ? 1e-6f : 1e-5f;
        for (int trained = 0; trained < 2; trained++) {
            noise_arg a = {mode, mode == 0 ? 0.5f : 0.4f, trained ? &sgd : NULL, false};
            char name[64];
            snprintf(name, sizeof name, "%s%s", names[mode], trained ? " trained" : "");
            tcase c = {name, b_noise, &a, KN_PASS_NONE, trained ? 3 : 2, bits ? 0 : tol, tol, KN_PRECISION_FP32};
            run_case(ctx, &c);
            noise_steps(ctx, &c, bits);
            char fused[80];
            snprintf(fused, sizeof fused, "%s fused", name);
            c.passes = KN_PASS_ALL, c.name = fused;
            run_case(ctx, &c);
            noise_steps(ctx, &c, bits);
        }
        noise_arg r = {mode, mode == 0 ? 0.5f : 0.4f, &adam, true};
        char name[64];
        snprintf(name, sizeof name, "replay %s", names[mode]);
        replay_vs_launches(ctx, &(tcase){name, b_noise, &r, KN_PASS_ALL, 5, 0, 0, KN_PRECISION_FP32});
    }
}

/* ---------------------------------------------------------------- recurrent layers */

/* The recurrent ops (KN_OP_RNN, KN_OP_RNN_GRAD, KN_OP_SLICE_GRAD) against the CPU: each
 * cell, its sequence and its last step, with and without a bias, other activations (the
 * gru's softsign / hard_sigmoid, a relu simple_rnn, an lstm of elu and hard_sigmoid), one
 * step and 9, stacked, fused and not, trained 3 steps with Adam; then the lstm's training
 * replayed from a captured CUDA graph against its launches, bit for bit. Tolerances as the
 * products': 1e-4 (each step's product h U in cuBLASLt's order, and the CPU's vectorized
 * cells for the default activations; on the emulator 1.2e-5 at most, the elu lstm's
 * gradients over 9 steps). Then two small models trained by kn_model_fit on both devices (rnn_models). */
/* Small models trained with kn_model_fit on the CPU and on cuda, from the same weights
 * (contexts of one seed): an lstm's sequence into a gru's last step into softmax, a relu
 * simple_rnn's sequence into an lstm without bias, a bidirectional lstm into a backwards gru,
 * and spatial dropout into an lstm with dropout and recurrent dropout into a backwards gru
 * with recurrent dropout (the same masks on both devices: one seed, the same steps; the
 * predictions drop nothing). First one training step of 8 rows:
 * its loss and every gradient; then 2 epochs of 37 rows in batches of 16 (a short last
 * batch: runs below the compiled batch), Adam: each epoch's loss, the parameters and the
 * predictions after (1e-4, as the products'; the epochs' losses 1e-5: the emulator's are
 * 5e-8 from the CPU's), the short batch included. And a bf16
 * model: its recurrences stay f32 on the GPU too (half_support.c), and it trains. */
/* |b - a| <= tol (1 + |a|) for all n (a NaN anywhere fails), the worst printed when not. */
static bool within(const float *a, const float *b, int64_t n, double tol) {
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)b[i] - a[i]) <= tol * (1 + fabs(a[i])))) bad++, first = first < 0 ? i : first;
    if (bad) printf("  %lld of %lld differ (first [%lld]: %g against %g)\n", (long long)bad, (long long)n, (long long)first,
                    b[first], a[first]);
    return bad == 0;
}

static void rnn_models(void) {
    static const char *const specs[] = {
        "{\"input_shape\": [6, 3], \"layers\": [{\"type\": \"lstm\", \"units\": 5, \"return_sequences\": true},"
        "{\"type\": \"gru\", \"units\": 4}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
        "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}",
        "{\"input_shape\": [6, 3], \"layers\": [{\"type\": \"simple_rnn\", \"units\": 4, \"activation\": \"relu\","
        " \"return_sequences\": true}, {\"type\": \"lstm\", \"units\": 5, \"use_bias\": false},"
        "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
        "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}",
        "{\"input_shape\": [6, 3], \"layers\": [{\"type\": \"bidirectional\", \"layer\": {\"type\": \"lstm\", \"units\": 4,"
        " \"return_sequences\": true}}, {\"type\": \"gru\", \"units\": 3, \"go_backwards\": true},"
        "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
        "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}",
        "{\"input_shape\": [6, 3], \"layers\": [{\"type\": \"spatial_dropout1d\", \"rate\": 0.2},"
        "{\"type\": \"lstm\", \"units\": 4, \"return_sequences\": true, \"dropout\": 0.2, \"recurrent_dropout\": 0.3},"
        "{\"type\": \"gru\", \"units\": 3, \"go_backwards\": true, \"recurrent_dropout\": 0.25},"
        "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
        "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}",
    };
    enum { N = 37, F = 18, C = 3 };
    float x[N * F];
    int32_t labels[N];
    for (int i = 0; i < N * F; i++) x[i] = (float)sin(0.37 * i + 0.2) * 1.3f;
    for (int i = 0; i < N; i++) labels[i] = (i * 7) % C;
    for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
        kn_ctx *c[2] = {NULL, NULL};
        kn_model *m[2] = {NULL, NULL};
        kn_dataset *ds[2] = {NULL, NULL};
        const kn_history *h[2] = {NULL, NULL};
        float loss[2] = {0, 0}, pred[2][N * C];
        bool ok = true;
        for (int d = 0; d < 2; d++) {
            kn_spec spec;
            kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 7, .device = d ? KN_DEVICE_CUDA : KN_DEVICE_CPU}, &c[d]);
            kn_status st = kn_model_from_json(c[d], specs[k], NULL, &m[d], &spec);
            if (!st) st = kn_model_compile(m[d], &spec.compile);
            if (!st) st = kn_dataset_from_arrays(c[d], x, labels, N, F, C, &ds[d]);
            if (!st) st = kn_model_train_step(m[d], x, labels, 8, &loss[d]);
            CHECK(!st, "rnn model %zu on %s: %s", k, d ? "cuda" : "cpu", kn_last_error(c[d]));
            ok = ok && !st;
        }
        if (!ok) goto next;
        CHECK(within(&loss[0], &loss[1], 1, 1e-5), "rnn model %zu: a step's loss: cpu %.9g, cuda %.9g", k, loss[0], loss[1]);
        for (int p = 0; p < m[0]->graph->n_params; p++) {
            const char *name = m[0]->graph->params[p]->name;
            int64_t n0, n1;
            const float *g0 = kn_model_grad(m[0], name, &n0), *g1 = kn_model_grad(m[1], name, &n1);
            CHECK(g0 && g1 && n0 == n1, "rnn model %zu: gradient %s", k, name);
            CHECK(g0 && g1 && n0 == n1 && within(g0, g1, n0, 1e-4), "rnn model %zu: gradient %s differs", k, name);
        }
        for (int d = 0; d < 2; d++) {
            kn_status st = kn_model_fit(m[d], ds[d], &(kn_fit_opts){.epochs = 2, .batch_size = 16, .verbose = 0}, &h[d]);
            if (!st) st = kn_model_predict(m[d], x, N, pred[d]);
            CHECK(!st, "rnn model %zu: fit on %s: %s", k, d ? "cuda" : "cpu", kn_last_error(c[d]));
            ok = ok && !st;
        }
        if (!ok) goto next;
        printf("rnn model %zu: epoch losses cpu %.9g %.9g, cuda %.9g %.9g%s\n", k, h[0]->epochs[0].loss,
               h[0]->epochs[1].loss, h[1]->epochs[0].loss, h[1]->epochs[1].loss, h[1]->resident ? " (resident)" : "");
        for (int e = 0; e < 2; e++)
            CHECK(fabs(h[0]->epochs[e].loss - h[1]->epochs[e].loss) <= 1e-5 * (1 + fabs(h[0]->epochs[e].loss)),
                  "rnn model %zu: epoch %d's loss: cpu %.9g, cuda %.9g", k, e + 1, h[0]->epochs[e].loss,
                  h[1]->epochs[e].loss);
        CHECK(within(pred[0], pred[1], N * C, 1e-4), "rnn model %zu: predictions differ", k);
        for (int p = 0; p < m[0]->graph->n_params; p++) {
            const char *name = m[0]->graph->params[p]->name;
            int64_t n0, n1;
            const float *w0 = kn_model_param(m[0], name, &n0), *w1 = kn_model_param(m[1], name, &n1);
            CHECK(w0 && w1 && n0 == n1 && within(w0, w1, n0, 1e-4), "rnn model %zu: parameter %s differs after fit", k,
                  name);
        }
    next:
        for (int d = 0; d < 2; d++) {
            kn_dataset_free(ds[d]);
            kn_model_free(m[d]);
            kn_ctx_free(c[d]);
        }
    }
    /* bf16 on cuda: the products around the recurrence half, the recurrence f32 */
    kn_ctx *c = NULL;
    kn_model *m = NULL;
    kn_dataset *ds = NULL;
    kn_spec spec;
    const kn_history *h = NULL;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 7, .device = KN_DEVICE_CUDA}, &c);
    kn_status st = kn_model_from_json(c, specs[0], NULL, &m, &spec);
    spec.compile.precision = KN_PRECISION_BF16;
    if (!st) st = kn_model_compile(m, &spec.compile);
    if (!st) st = kn_dataset_from_arrays(c, x, labels, N, F, C, &ds);
    if (!st) st = kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 2, .batch_size = 16, .verbose = 0}, &h);
    CHECK(!st && h && isfinite(h->epochs[1].loss), "rnn model bf16 on cuda: %s", kn_last_error(c));
    int rnn_f32 = 0, rnn = 0;
    for (int i = 0; !st && m->graph && i < m->graph->n_nodes; i++) {
        const kn_tensor *t = m->graph->nodes[i];
        if (t->op != KN_OP_RNN && t->op != KN_OP_RNN_GRAD) continue;
        rnn++;
        rnn_f32 += t->dtype == KN_F32 && t->src[0]->dtype == KN_F32;
    }
    CHECK(!st && rnn >= 2 && rnn_f32 == rnn, "rnn model bf16 on cuda: %d of %d recurrent nodes f32", rnn_f32, rnn);
    if (!st && h) printf("rnn model bf16 on cuda: epoch losses %.6g %.6g\n", h->epochs[0].loss, h->epochs[1].loss);
    kn_dataset_free(ds);
    kn_model_free(m);
    kn_ctx_free(c);
}

static void rnn_cases(kn_ctx *ctx) {
    kn_optimizer adam = kn_adam(1e-2f);
    static const struct {
        kn_rnn_cell cell;
        kn_activation act, ract;
    } cells[] = {{KN_RNN_SIMPLE, KN_TANH, KN_SIGMOID}, {KN_RNN_LSTM, KN_TANH, KN_SIGMOID}, {KN_RNN_GRU, KN_TANH, KN_SIGMOID},
                 {KN_RNN_SIMPLE, KN_RELU, KN_SIGMOID}, {KN_RNN_LSTM, KN_ELU, KN_HARD_SIGMOID},
                 {KN_RNN_GRU, KN_SOFTSIGN, KN_HARD_SIGMOID}};
    char name[96];
    for (size_t i = 0; i < sizeof cells / sizeof *cells; i++)
        for (int v = 0; v < 4; v++) {
            bool seq = v & 1, bias = !(v & 2);
            rnn_arg a = {cells[i].cell, cells[i].act, cells[i].ract, seq, bias, false, i < 3 ? 4 : 9, 6, NULL, false};
            snprintf(name, sizeof name, "rnn %s %s/%s %s%s, %lld steps",
                     a.cell == KN_RNN_LSTM ? "lstm" : a.cell == KN_RNN_GRU ? "gru" : "simple_rnn",
                     kn_activation_name(a.act), kn_activation_name(a.ract), seq ? "sequence" : "last step",
                     bias ? "" : " no bias", (long long)a.T);
            run_case(ctx, &(tcase){name, b_rnn, &a, KN_PASS_NONE, 1, 1e-4f, 1e-4f, KN_PRECISION_FP32});
            if (v == 0) {
                run_case(ctx, &(tcase){name, b_rnn, &a, KN_PASS_ALL, 1, 1e-4f, 1e-4f, KN_PRECISION_FP32});
                a.opt = &adam;
                run_case(ctx, &(tcase){name, b_rnn, &a, KN_PASS_ALL, 3, 1e-4f, 1e-4f, KN_PRECISION_FP32});
            }
        }
    for (int c = 0; c < 3; c++) { /* one step (no product); stacked under an lstm */
        rnn_arg one = {(kn_rnn_cell)c, KN_TANH, KN_SIGMOID, true, true, false, 1, 5, &adam, false};
        run_case(ctx, &(tcase){"rnn one step", b_rnn, &one, KN_PASS_ALL, 2, 1e-4f, 1e-4f, KN_PRECISION_FP32});
        rnn_arg st = {(kn_rnn_cell)c, KN_TANH, KN_SIGMOID, true, true, true, 7, 4, &adam, false};
        run_case(ctx, &(tcase){"rnn stacked", b_rnn, &st, KN_PASS_ALL, 3, 1e-4f, 1e-4f, KN_PRECISION_FP32});
        run_case(ctx, &(tcase){"rnn stacked unfused", b_rnn, &st, KN_PASS_NONE, 3, 1e-4f, 1e-4f, KN_PRECISION_FP32});
    }
    for (int c = 0; c < 3; c++) /* go_backwards: the steps from the last time, the states in time order */
        for (int v = 0; v < 3; v++) {
            rnn_arg b = {(kn_rnn_cell)c, KN_TANH, KN_SIGMOID, v == 1, v != 2, v == 2, 5, 4, v ? &adam : NULL, true};
            snprintf(name, sizeof name, "rnn go_backwards %s%s", c == 1 ? "lstm" : c == 2 ? "gru" : "simple_rnn",
                     v == 0 ? "" : v == 1 ? " sequence, trained" : " stacked, no bias, trained");
            run_case(ctx, &(tcase){name, b_rnn, &b, KN_PASS_ALL, v ? 3 : 1, 1e-4f, 1e-4f, KN_PRECISION_FP32});
        }
    rnn_arg lstm = {KN_RNN_LSTM, KN_TANH, KN_SIGMOID, true, true, true, 6, 5, &adam, false};
    replay_vs_launches(ctx, &(tcase){"replay lstm", b_rnn, &lstm, KN_PASS_ALL, 5, 0, 0, KN_PRECISION_FP32});
    rnn_arg gru = {KN_RNN_GRU, KN_TANH, KN_SIGMOID, false, true, false, 6, 5, &adam, true};
    replay_vs_launches(ctx, &(tcase){"replay gru go_backwards", b_rnn, &gru, KN_PASS_ALL, 5, 0, 0, KN_PRECISION_FP32});
    if (!on_mirror) rnn_models(); /* (contexts on cuda itself) */
}

/* Masked recurrent layers (kn_rnn_masked, the mask KN_OP_RNN's src[3] and its gradient's
 * src[4]) against the CPU (cpu/rnn.c's masked steps: a dropped step's h and c carried on,
 * its gradient passed straight back, its d xw and a gru's d r 0): each cell, its sequence
 * and its last step, in order and go_backwards, fused and not; "mask_" drops about a third
 * of the steps at random, "mask0_" also every step of the last row (its states stay 0, its
 * gradients pass through every step). Other activations (the CPU's scalar cells); stacked
 * under a masked lstm and trained 3 steps with Adam; the lstm's masked training replayed
 * from a captured CUDA graph against its launches, bit for bit. Tolerances as rnn_cases'. */
static void masked_rnn_cases(kn_ctx *ctx) {
    kn_optimizer adam = kn_adam(1e-2f);
    static const char *const cell_names[] = {"simple_rnn", "lstm", "gru"};
    char name[128];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 4; v++) {
            bool seq = v & 1, back = v & 2;
            masked_rnn_arg m = {{(kn_rnn_cell)c, KN_TANH, KN_SIGMOID, seq, true, false, 7, 5, NULL, back},
                                v % 3 == 0 ? "mask0_" : "mask_"};
            snprintf(name, sizeof name, "rnn masked (%s) %s %s%s", m.mask, cell_names[c], seq ? "sequence" : "last step",
                     back ? " go_backwards" : "");
            run_case(ctx, &(tcase){name, b_masked_rnn, &m, KN_PASS_NONE, 1, 1e-4f, 1e-4f, KN_PRECISION_FP32});
            run_case(ctx, &(tcase){name, b_masked_rnn, &m, KN_PASS_ALL, 1, 1e-4f, 1e-4f, KN_PRECISION_FP32});
        }
    static const struct {
        kn_rnn_cell cell;
        kn_activation act, ract;
    } others[] = {{KN_RNN_SIMPLE, KN_RELU, KN_SIGMOID}, {KN_RNN_LSTM, KN_ELU, KN_HARD_SIGMOID},
                  {KN_RNN_GRU, KN_SOFTSIGN, KN_HARD_SIGMOID}};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        masked_rnn_arg m = {{others[i].cell, others[i].act, others[i].ract, true, i != 1, false, 9, 6, NULL, i == 2},
                            "mask0_"};
        snprintf(name, sizeof name, "rnn masked (%s) %s %s/%s sequence%s%s", m.mask, cell_names[m.a.cell],
                 kn_activation_name(m.a.act), kn_activation_name(m.a.ract), m.a.bias ? "" : " no bias",
                 m.a.back ? " go_backwards" : "");
        run_case(ctx, &(tcase){name, b_masked_rnn, &m, KN_PASS_ALL, 1, 1e-4f, 1e-4f, KN_PRECISION_FP32});
    }
    for (int c = 0; c < 3; c++) /* stacked under a masked lstm (last step), trained with Adam */
        for (int back = 0; back < 2; back++) {
            masked_rnn_arg m = {{(kn_rnn_cell)c, KN_TANH, KN_SIGMOID, true, true, true, 6, 4, &adam, back != 0},
                                back ? "mask_" : "mask0_"};
            snprintf(name, sizeof name, "rnn masked (%s) %s stacked%s, trained", m.mask, cell_names[c],
                     back ? " go_backwards" : "");
            run_case(ctx, &(tcase){name, b_masked_rnn, &m, KN_PASS_ALL, 3, 1e-4f, 1e-4f, KN_PRECISION_FP32});
        }
    masked_rnn_arg lstm = {{KN_RNN_LSTM, KN_TANH, KN_SIGMOID, true, true, true, 6, 5, &adam, false}, "mask0_"};
    replay_vs_launches(ctx, &(tcase){"replay masked lstm", b_masked_rnn, &lstm, KN_PASS_ALL, 5, 0, 0, KN_PRECISION_FP32});
}

/* The k-th kept node of g's forward phase (0 first), or NULL. */
static const kn_tensor *kept_forward(const kn_graph *g, int k) {
    for (int i = 0; i < g->n_nodes; i++) {
        const kn_tensor *t = g->nodes[i];
        if ((t->flags & KN_FLAG_KEEP) && t->phase == KN_PHASE_FORWARD && k-- == 0) return t;
    }
    return NULL;
}

/* Case c (b_dropout_rnn, no optimizer: the weights stay) run for one training step, then
 * evaluated (the forward alone) on both devices: the CPU's outputs; and on the GPU the layers'
 * output has the same bits as the same layers without dropout evaluate to (every keep factor 1: the products read
 * h times 1, the input's dropout a copy), which a kernel drawing the training step's mask
 * from the step values left on the device would not give. */
static void rnn_dropout_evaluated(kn_ctx *ctx, const tcase *c) {
    const dropout_rnn_arg *d = c->arg;
    dropout_rnn_arg none = *d;
    none.drop = (rnn_rates){0, 0};
    tcase plain = *c;
    plain.arg = &none;
    kn_graph *cpu = make(ctx, c, KN_DEVICE_CPU), *gpu = make(ctx, c, KN_DEVICE_CUDA);
    kn_graph *ref = make(ctx, &plain, KN_DEVICE_CUDA);
    if (cpu && gpu && ref) {
        for (int pass = 0; pass < 2; pass++) { /* a training step, then an evaluation */
            unsigned mask = pass ? KN_PHASE_FORWARD : KN_PHASE_ALL;
            CHECK(kn__graph_run_phases(cpu, mask) == KN_OK && kn__graph_run_phases(gpu, mask) == KN_OK &&
                      kn_graph_sync(gpu) == KN_OK, "%s: run: %s", c->name, kn_last_error(ctx));
        }
        CHECK(kn__graph_run_phases(ref, KN_PHASE_FORWARD) == KN_OK && kn_graph_sync(ref) == KN_OK,
              "%s: run without dropout: %s", c->name, kn_last_error(ctx));
        int n = 0;
        for (const kn_tensor *t; (t = kept_forward(cpu, n)); n++) {
            const kn_tensor *on = kept_forward(gpu, n), *off = kept_forward(ref, n);
            compare("output", c->name, t, on, c->atol, c->rtol);
            if (n == 0) /* (y; the loss after it reads an input the fill gives other values by its index) */
                CHECK(same_bits(on, off), "%s: evaluating, the output differs from the layers' without dropout",
                      c->name);
        }
        CHECK(n >= 2, "%s: %d kept outputs", c->name, n);
    }
    kn_graph_free(cpu);
    kn_graph_free(gpu);
    kn_graph_free(ref);
}

/* Recurrent dropout (kn_rnn_dropout: the RNN node's fparam[0], the masked states its products
 * read, their gradient through the keep factors; and the input's dropout, a spatial dropout)
 * against the CPU (cpu/rnn.c): each cell, its sequence and its last step, in order and
 * go_backwards, the recurrent dropout alone and with input dropout, without a mask and under
 * "mask_" and "mask0_" (a Keras-masked step still writes its masked state), fused and not.
 * Other activations (the CPU's scalar cells); stacked (the second layer its own masks) and
 * trained 3 steps with Adam (a new mask each step); an lstm's and a masked gru's training
 * replayed from a captured CUDA graph against their launches, bit for bit; and evaluations
 * after a training step (rnn_dropout_evaluated; the simple_rnn's graph reads the step values
 * for its recurrent dropout alone: no other node does). A wrong mask moves the outputs far past the
 * tolerances, as rnn_cases'. */
static void rnn_dropout_cases(kn_ctx *ctx) {
    kn_optimizer adam = kn_adam(1e-2f);
    static const char *const cell_names[] = {"simple_rnn", "lstm", "gru"};
    char name[160];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 8; v++) {
            bool seq = v & 1, back = v & 2, both = v & 4;
            const char *mask = v % 3 == 0 ? "mask0_" : v % 3 == 1 ? NULL : "mask_";
            dropout_rnn_arg d = {{(kn_rnn_cell)c, KN_TANH, KN_SIGMOID, seq, true, false, 7, 5, NULL, back}, mask,
                                 {both ? 0.25f : 0.0f, 0.4f}};
            snprintf(name, sizeof name, "rnn dropout %g/%g (%s) %s %s%s", (double)d.drop.input,
                     (double)d.drop.recurrent, mask ? mask : "no mask", cell_names[c], seq ? "sequence" : "last step",
                     back ? " go_backwards" : "");
            run_case(ctx, &(tcase){name, b_dropout_rnn, &d, KN_PASS_NONE, 1, 1e-4f, 1e-4f, KN_PRECISION_FP32});
            run_case(ctx, &(tcase){name, b_dropout_rnn, &d, KN_PASS_ALL, 1, 1e-4f, 1e-4f, KN_PRECISION_FP32});
        }
    static const struct {
        kn_rnn_cell cell;
        kn_activation act, ract;
    } others[] = {{KN_RNN_SIMPLE, KN_RELU, KN_SIGMOID}, {KN_RNN_LSTM, KN_ELU, KN_HARD_SIGMOID},
                  {KN_RNN_GRU, KN_SOFTSIGN, KN_HARD_SIGMOID}};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        dropout_rnn_arg d = {{others[i].cell, others[i].act, others[i].ract, true, i != 1, false, 9, 6, NULL, i == 2},
                             i == 1 ? "mask0_" : NULL, {0.2f, 0.3f}};
        snprintf(name, sizeof name, "rnn dropout 0.2/0.3 %s %s/%s sequence%s%s", cell_names[d.a.cell],
                 kn_activation_name(d.a.act), kn_activation_name(d.a.ract), d.mask ? " masked" : "",
                 d.a.back ? " go_backwards" : "");
        run_case(ctx, &(tcase){name, b_dropout_rnn, &d, KN_PASS_ALL, 1, 1e-4f, 1e-4f, KN_PRECISION_FP32});
    }
    for (int c = 0; c < 3; c++) /* stacked under an lstm (last step), trained with Adam */
        for (int back = 0; back < 2; back++) {
            dropout_rnn_arg d = {{(kn_rnn_cell)c, KN_TANH, KN_SIGMOID, true, true, true, 6, 4, &adam, back != 0},
                                 back ? "mask_" : NULL, {0.2f, 0.35f}};
            snprintf(name, sizeof name, "rnn dropout 0.2/0.35 %s stacked%s%s, trained", cell_names[c],
                     back ? " go_backwards" : "", d.mask ? " masked" : "");
            run_case(ctx, &(tcase){name, b_dropout_rnn, &d, KN_PASS_ALL, 3, 1e-4f, 1e-4f, KN_PRECISION_FP32});
        }
    dropout_rnn_arg lstm = {{KN_RNN_LSTM, KN_TANH, KN_SIGMOID, true, true, true, 6, 5, &adam, false}, NULL,
                            {0.2f, 0.3f}};
    replay_vs_launches(ctx, &(tcase){"replay lstm with dropout", b_dropout_rnn, &lstm, KN_PASS_ALL, 5, 0, 0,
                                     KN_PRECISION_FP32});
    dropout_rnn_arg gru = {{KN_RNN_GRU, KN_TANH, KN_SIGMOID, false, true, false, 6, 5, &adam, true}, "mask_",
                           {0.0f, 0.4f}};
    replay_vs_launches(ctx, &(tcase){"replay masked gru go_backwards with recurrent dropout", b_dropout_rnn, &gru,
                                     KN_PASS_ALL, 5, 0, 0, KN_PRECISION_FP32});
    for (int c = 0; c < 3; c++) {
        dropout_rnn_arg d = {{(kn_rnn_cell)c, KN_TANH, KN_SIGMOID, c != 1, true, c == 1, 5, 4, NULL, c == 2},
                             c == 0 ? NULL : "mask_", {c == 0 ? 0.0f : 0.25f, 0.4f}};
        snprintf(name, sizeof name, "rnn dropout %g/0.4 %s, evaluated after a step", (double)d.drop.input,
                 cell_names[c]);
        tcase e = {name, b_dropout_rnn, &d, c == 1 ? KN_PASS_NONE : KN_PASS_ALL, 1, 1e-4f, 1e-4f, KN_PRECISION_FP32};
        rnn_dropout_evaluated(ctx, &e);
    }
}

/* ---------------------------------------------------------------- attention */

/* Attention (kn_attention, KN_OP_ATTENTION and its gradient) against the CPU's
 * (cpu/attention.c): q (N, Tq, H*Dk), k (N, Tk, H*Dk) and v (N, Tk, H*Dv) parameters, or one
 * (N, T, H*D) parameter as all three (self: its gradient the sum of three parts); proj: x
 * (N, T, 6) through tanh, projected to q, k and v by products, the output by another, tanh,
 * then a dense layer (a model's attention layer and the layer after it), trained with Adam. */
typedef struct {
    int64_t N, H, Tq, Tk, Dk, Dv;
    unsigned flags;
    bool self, proj;
    const kn_optimizer *opt;
    float dropout; /* on the probabilities: the training steps' masks, the CPU's bit for bit */
} attention_arg;

/* x (N, T, C) times w (C, W) -> (N, T, W) */
static kn_tensor *project(kn_graph *g, kn_tensor *x, int64_t W, const char *name) {
    int64_t N = x->shape[0], T = x->shape[1], C = x->shape[2];
    kn_tensor *w = kn_param(g, (int64_t[]){C, W}, 2, KN_INIT_ZEROS, name);
    kn_tensor *y = kn_matmul(g, kn_reshape(g, x, (int64_t[]){N * T, C}, 2), w);
    return kn_reshape(g, y, (int64_t[]){N, T, W}, 3);
}

/* The graph of attention case a; qmask, kmask: the names of its query and key masks' inputs
 * ((N, Tq) and (N, Tk), filled by fill's "mask" rules), NULL for none. */
static void attention_graph(kn_graph *g, const attention_arg *a, const char *qmask, const char *kmask) {
    kn_tensor *q, *k, *v;
    if (a->proj) {
        kn_tensor *x = kn_act(g, kn_param(g, (int64_t[]){a->N, a->Tq, 6}, 3, KN_INIT_ZEROS, "x"), KN_TANH);
        q = project(g, x, a->H * a->Dk, "wq");
        k = project(g, x, a->H * a->Dk, "wk");
        v = project(g, x, a->H * a->Dv, "wv");
    } else if (a->self) {
        q = k = v = kn_param(g, (int64_t[]){a->N, a->Tq, a->H * a->Dk}, 3, KN_INIT_ZEROS, "qkv");
    } else {
        q = kn_param(g, (int64_t[]){a->N, a->Tq, a->H * a->Dk}, 3, KN_INIT_ZEROS, "q");
        k = kn_param(g, (int64_t[]){a->N, a->Tk, a->H * a->Dk}, 3, KN_INIT_ZEROS, "k");
        v = kn_param(g, (int64_t[]){a->N, a->Tk, a->H * a->Dv}, 3, KN_INIT_ZEROS, "v");
    }
    kn_tensor *qm = qmask ? kn_input(g, KN_F32, (int64_t[]){a->N, a->Tq}, 2, qmask) : NULL;
    kn_tensor *km = kmask ? kn_input(g, KN_F32, (int64_t[]){a->N, a->Tk}, 2, kmask) : NULL;
    kn_tensor *y = kn_attention_masked(g, q, k, v, (int)a->H, a->flags, a->dropout, qm, km);
    if (a->proj) /* the output's projection, tanh, a dense layer, tanh */
        y = kn_act(g, project(g, kn_act(g, project(g, y, 5, "wo"), KN_TANH), 4, "w2"), KN_TANH);
    train_on(g, y, a->opt);
}

static void b_attention(kn_graph *g, const void *arg) { attention_graph(g, arg, NULL, NULL); }

/* Masked attention (kn_attention_masked): a case and its masks' input names (NULL: none). */
typedef struct {
    attention_arg a;
    const char *qmask, *kmask;
} masked_attention_arg;

static void b_masked_attention(kn_graph *g, const void *arg) {
    const masked_attention_arg *m = arg;
    attention_graph(g, &m->a, m->qmask, m->kmask);
}

/* Tolerance 1e-5 (atol and rtol): the GPU's sums run in other orders than the CPU's
 * kn__sgemm (dot products column by column, the probabilities' sum and the output a chunk
 * of 32 keys at a time with an online softmax's rescaling), and D = sum P dP as a ratio of
 * two sums, so results differ by a few ulp of the terms, and dS = P (dP - D) cancels
 * where dP is near D: atol covers elements whose value is itself near 0 (the loss a
 * double sum, 1 ulp). On the emulator the worst is 2.4e-7 absolute (values of order 1).
 * Under projections and Adam, the products' 1e-4. */
static void attention_cases(kn_ctx *ctx) {
    static const attention_arg cases[] = {
        {2, 1, 5, 5, 4, 4, 0, false, false, NULL, 0.0f},                   /* one head */
        {2, 2, 3, 7, 3, 5, 0, false, false, NULL, 0.0f},                   /* Tq < Tk, Dk != Dv */
        {3, 4, 6, 4, 2, 3, 0, false, false, NULL, 0.0f},                   /* Tq > Tk, 4 heads */
        {2, 2, 6, 6, 4, 4, KN_ATTENTION_CAUSAL, false, false, NULL, 0.0f}, /* causal */
        {2, 1, 7, 4, 3, 2, KN_ATTENTION_CAUSAL, false, false, NULL, 0.0f}, /* causal, Tq > Tk: the last rows see all */
        {2, 2, 3, 9, 4, 3, KN_ATTENTION_CAUSAL, false, false, NULL, 0.0f}, /* causal, Tq < Tk: keys 3.. seen by none */
        {2, 2, 5, 5, 3, 3, 0, true, false, NULL, 0.0f},                    /* a sequence to itself */
        {2, 4, 6, 6, 2, 2, KN_ATTENTION_CAUSAL, true, false, NULL, 0.0f},  /* to itself, causal */
        /* 2 chunks of keys and 3 tiles of query rows, Dk 72 (2 staged column tiles), Dv 136
         * (2 output column tiles), and keys past Tq seen by none (causal) */
        {1, 2, 19, 37, 72, 136, 0, false, false, NULL, 0.0f},
        {1, 1, 19, 37, 72, 136, KN_ATTENTION_CAUSAL, false, false, NULL, 0.0f},
    };
    char name[96];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const attention_arg *a = &cases[i];
        snprintf(name, sizeof name, "attention %lld head%s%s%s, Tq %lld, Tk %lld, Dk %lld, Dv %lld", (long long)a->H,
                 a->H > 1 ? "s" : "", a->flags & KN_ATTENTION_CAUSAL ? " causal" : "", a->self ? " to itself" : "",
                 (long long)a->Tq, (long long)a->Tk, (long long)a->Dk, (long long)a->Dv);
        run_case(ctx, &(tcase){name, b_attention, a, KN_PASS_NONE, 1, 1e-5f, 1e-5f, KN_PRECISION_FP32});
        if (i % 3 == 0) run_case(ctx, &(tcase){name, b_attention, a, KN_PASS_ALL, 1, 1e-5f, 1e-5f, KN_PRECISION_FP32});
    }
    kn_optimizer adam = kn_adam(1e-2f);
    attention_arg proj = {3, 2, 5, 5, 4, 3, KN_ATTENTION_CAUSAL, false, true, &adam, 0.0f};
    run_case(ctx, &(tcase){"attention projected, trained", b_attention, &proj, KN_PASS_ALL, 3, 1e-4f, 1e-4f,
                           KN_PRECISION_FP32});
    replay_vs_launches(ctx, &(tcase){"replay attention", b_attention, &proj, KN_PASS_ALL, 5, 0, 0, KN_PRECISION_FP32});
    /* attention dropout 0.4: the GPU draws the CPU's masks (any other mask would move the
     * outputs far past the tolerance), a new one each step, in replays too */
    attention_arg dropped = {3, 2, 5, 6, 4, 3, 0, false, true, &adam, 0.4f};
    dropped.Tk = dropped.Tq; /* (projected from the same x) */
    run_case(ctx, &(tcase){"attention projected, dropout 0.4, trained", b_attention, &dropped, KN_PASS_ALL, 3, 1e-4f,
                           1e-4f, KN_PRECISION_FP32});
    replay_vs_launches(ctx, &(tcase){"replay attention with dropout", b_attention, &dropped, KN_PASS_ALL, 5, 0, 0,
                                     KN_PRECISION_FP32});
    /* bf16: attention stays f32 (half_support.c lists neither op), with its operands; and
     * the training is as close to fp32's as the CPU's bf16 training is. (Here the whole graph
     * stays f32: the weight gradients' products pair the projections' inputs with the
     * attention gradient's f32 slices, and a product of two f32 operands writes f32, which
     * the output side's in-place tanh shares; the count is printed.) */
    tcase half = {"attention projected bf16", b_attention, &proj, KN_PASS_ALL, 3, 0, 0, KN_PRECISION_BF16};
    run_case(ctx, &half);
    kn_graph *g = make(ctx, &half, KN_DEVICE_CUDA);
    int att = 0, att_f32 = 0, narrow = 0;
    for (int i = 0; g && i < g->n_nodes; i++) {
        const kn_tensor *t = g->nodes[i];
        narrow += t->dtype == KN_BF16;
        if (t->op != KN_OP_ATTENTION && t->op != KN_OP_ATTENTION_GRAD) continue;
        att++;
        bool f32 = t->dtype == KN_F32;
        for (int s = 0; s < KN_MAX_SRC && t->src[s]; s++) f32 = f32 && t->src[s]->dtype == KN_F32;
        att_f32 += f32;
    }
    CHECK(g && att == 2 && att_f32 == att, "attention bf16: %d of %d attention nodes f32 with their operands", att_f32, att);
    if (g) CHECK(kn_graph_run(g) == KN_OK && kn_graph_sync(g) == KN_OK, "attention bf16: run: %s", kn_last_error(ctx));
    if (g) printf("attention bf16 on cuda: %d attention nodes f32, %d of %d tensors bf16\n", att_f32, narrow, g->n_nodes);
    kn_graph_free(g);
}

/* Masked attention (kn_attention_masked) against the CPU (cpu/attention.c's masks): masked
 * keys' probabilities 0, blind rows (a masked query, or every key it could see masked)
 * uniform over all keys with no gradient to their scores, under causal and dropout too. The
 * masks (fill's "mask" rules) give blind rows in every case but the non-causal "maskl_" one
 * (kernels that ignore blind rows fail each of the others): "mask0_" a last sample with no
 * key (all its rows blind), "mask_" random steps masked, "maskl_" the first 32 keys masked
 * (the kernels' first chunk of keys without a live one; causal rows before 32 blind).
 * Tolerances as attention_cases'. */
static void masked_attention_cases(kn_ctx *ctx) {
    static const masked_attention_arg cases[] = {
        {{2, 2, 5, 7, 4, 3, 0, false, false, NULL, 0.0f}, NULL, "mask0_k"},                   /* a key mask */
        {{3, 2, 6, 5, 3, 4, 0, false, false, NULL, 0.0f}, "mask_q", "mask_k"},                /* both */
        {{3, 1, 4, 6, 2, 2, 0, false, false, NULL, 0.0f}, "mask_q", NULL},                    /* a query mask */
        {{2, 2, 6, 6, 4, 4, KN_ATTENTION_CAUSAL, false, false, NULL, 0.0f}, "mask_q", "mask_k"}, /* causal */
        {{3, 1, 7, 4, 3, 2, KN_ATTENTION_CAUSAL, false, false, NULL, 0.0f}, "mask_q", "mask0_k"}, /* causal, Tq > Tk */
        {{2, 2, 5, 5, 3, 3, 0, true, false, NULL, 0.0f}, "mask_q", "mask0_k"},                /* to itself */
        /* 2 chunks of keys, the first all masked; 2 staged and 2 output column tiles */
        {{1, 2, 19, 37, 72, 136, 0, false, false, NULL, 0.0f}, NULL, "maskl_k"},
        {{1, 1, 40, 37, 72, 136, KN_ATTENTION_CAUSAL, false, false, NULL, 0.0f}, "mask_q", "maskl_k"},
    };
    char name[128];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const masked_attention_arg *m = &cases[i];
        const attention_arg *a = &m->a;
        snprintf(name, sizeof name, "attention masked (%s, %s) %lld head%s%s%s, Tq %lld, Tk %lld, Dk %lld, Dv %lld",
                 m->qmask ? m->qmask : "-", m->kmask ? m->kmask : "-", (long long)a->H, a->H > 1 ? "s" : "",
                 a->flags & KN_ATTENTION_CAUSAL ? " causal" : "", a->self ? " to itself" : "", (long long)a->Tq,
                 (long long)a->Tk, (long long)a->Dk, (long long)a->Dv);
        run_case(ctx, &(tcase){name, b_masked_attention, m, KN_PASS_NONE, 1, 1e-5f, 1e-5f, KN_PRECISION_FP32});
        if (i % 3 == 0)
            run_case(ctx, &(tcase){name, b_masked_attention, m, KN_PASS_ALL, 1, 1e-5f, 1e-5f, KN_PRECISION_FP32});
    }
    /* trained under projections and Adam: causal with both masks; dropout 0.4 with both (the
     * blind rows' uniform probabilities dropped as any), in replays too */
    kn_optimizer adam = kn_adam(1e-2f);
    masked_attention_arg proj = {{3, 2, 5, 5, 4, 3, KN_ATTENTION_CAUSAL, false, true, &adam, 0.0f}, "mask_q", "mask0_k"};
    run_case(ctx, &(tcase){"attention masked, projected, trained", b_masked_attention, &proj, KN_PASS_ALL, 3, 1e-4f,
                           1e-4f, KN_PRECISION_FP32});
    masked_attention_arg dropped = {{3, 2, 6, 6, 4, 3, 0, false, true, &adam, 0.4f}, "mask_q", "mask0_k"};
    run_case(ctx, &(tcase){"attention masked, projected, dropout 0.4, trained", b_masked_attention, &dropped,
                           KN_PASS_ALL, 3, 1e-4f, 1e-4f, KN_PRECISION_FP32});
    dropped.a.flags = KN_ATTENTION_CAUSAL;
    run_case(ctx, &(tcase){"attention masked causal, projected, dropout 0.4, trained", b_masked_attention, &dropped,
                           KN_PASS_ALL, 3, 1e-4f, 1e-4f, KN_PRECISION_FP32});
    replay_vs_launches(ctx, &(tcase){"replay masked attention with dropout", b_masked_attention, &dropped, KN_PASS_ALL,
                                     5, 0, 0, KN_PRECISION_FP32});
    /* a forward-only run after a training step (an evaluation) drops nothing: the kernels
     * read the run's step values (training 0), not the training step's left on the device */
    tcase eval = {"attention masked, dropout 0.4, evaluated after a step", b_masked_attention, &dropped, KN_PASS_ALL, 1,
                  1e-4f, 1e-4f, KN_PRECISION_FP32};
    kn_graph *cpu = make(ctx, &eval, KN_DEVICE_CPU), *gpu = make(ctx, &eval, KN_DEVICE_CUDA);
    if (cpu && gpu) {
        for (int pass = 0; pass < 2; pass++) { /* a training step, then an evaluation */
            unsigned mask = pass ? KN_PHASE_FORWARD : KN_PHASE_ALL;
            CHECK(kn__graph_run_phases(cpu, mask) == KN_OK && kn__graph_run_phases(gpu, mask) == KN_OK &&
                      kn_graph_sync(gpu) == KN_OK, "%s: run: %s", eval.name, kn_last_error(ctx));
        }
        for (int i = 0; i < cpu->n_nodes && cpu->n_nodes == gpu->n_nodes; i++)
            if ((cpu->nodes[i]->flags & KN_FLAG_KEEP) && cpu->nodes[i]->phase == KN_PHASE_FORWARD)
                compare("output", eval.name, cpu->nodes[i], gpu->nodes[i], eval.atol, eval.rtol);
    }
    kn_graph_free(cpu);
    kn_graph_free(gpu);
}

/* The masked mean (kn_masked_mean, KN_OP_MASKED_MEAN and its gradient) against the CPU's
 * (cpu/masked_mean.c): x (N, T, C) a parameter, its mask an input whose last sample keeps
 * nothing (zeros out, zero gradient); (3, 40, 300): channels past a block's 256 threads and
 * gradient elements past them. The GPU sums in the CPU's order: the same bits (the loss a
 * double sum in another order, 1 ulp). Under a dense layer trained with Adam: the product's
 * 1e-4. */
typedef struct { int64_t N, T, C; const kn_optimizer *opt; } masked_mean_arg;

static void b_masked_mean(kn_graph *g, const void *arg) {
    const masked_mean_arg *a = arg;
    kn_tensor *x = kn_param(g, (int64_t[]){a->N, a->T, a->C}, 3, KN_INIT_ZEROS, "x");
    kn_tensor *mask = kn_input(g, KN_F32, (int64_t[]){a->N, a->T}, 2, "mask0_steps");
    kn_tensor *y = kn_masked_mean(g, x, mask);
    if (a->opt) y = kn_act(g, kn_matmul(g, y, kn_param(g, (int64_t[]){a->C, 3}, 2, KN_INIT_ZEROS, "w")), KN_TANH);
    train_on(g, y, a->opt);
}

static void masked_mean_cases(kn_ctx *ctx) {
    kn_optimizer adam = kn_adam(1e-2f);
    masked_mean_arg cases[] = {{4, 7, 5, NULL}, {3, 40, 300, NULL}, {1, 1, 3, NULL}, {5, 6, 4, &adam}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        float tol = cases[i].opt ? 1e-4f : 1e-6f;
        int steps = cases[i].opt ? 3 : 1;
        run_case(ctx, &(tcase){"masked mean", b_masked_mean, &cases[i], KN_PASS_NONE, steps, 0, tol, KN_PRECISION_FP32});
        run_case(ctx, &(tcase){"masked mean fused", b_masked_mean, &cases[i], KN_PASS_ALL, steps, tol, tol,
                               KN_PRECISION_FP32});
    }
}

/* The depthwise convolution (kn_depthwise_conv2d, its input and kernel gradients) against
 * the CPU's: y = act(dwconv(tanh(x)) + bias), a geometry each (strides, dilations, 'same'
 * with even windows, depth multipliers 1 to 3, one channel, 33 channels: two column chunks
 * of the kernel gradient, the second ragged; 2304 output positions: its sum in two parts),
 * unfused and under every pass (which leave the depthwise nodes alone); the 32-bit kernels
 * against the 64-bit ones bit for bit; trained with Adam, replayed from a captured graph
 * against launches bit for bit. 1e-4 as the convolutions: the GPU sums the kernel gradient's
 * positions in another order (lanes and parts) than the CPU's parts. */
typedef struct {
    int kh, kw, sh, sw, dh, dw;
    bool same;
    int64_t n, h, w, c, m;
    kn_activation act;
    const kn_optimizer *opt; /* NULL: gradients only */
} depthwise_arg;

static void b_depthwise(kn_graph *g, const void *arg) {
    const depthwise_arg *a = arg;
    kn_tensor *x = kn_param(g, (int64_t[]){a->n, a->h, a->w, a->c}, 4, KN_INIT_ZEROS, "x");
    kn_tensor *k = kn_param(g, (int64_t[]){(int64_t)a->kh * a->kw, a->c * a->m}, 2, KN_INIT_ZEROS, "kernel");
    kn_tensor *bias = kn_param(g, (int64_t[]){a->c * a->m}, 1, KN_INIT_ZEROS, "bias");
    kn_tensor *y = kn_depthwise_conv2d(g, kn_act(g, x, KN_TANH), k, a->kh, a->kw, a->sh, a->sw, a->dh, a->dw, a->same);
    train_on(g, kn_act(g, kn_add(g, y, bias), a->act), a->opt);
}

static void depthwise_cases(kn_ctx *ctx) {
    static const depthwise_arg geoms[] = {
        {3, 3, 1, 1, 1, 1, true, 2, 7, 6, 5, 1, KN_SIGMOID, NULL},  /* 'same', C 5 */
        {3, 3, 2, 2, 1, 1, true, 3, 9, 8, 3, 2, KN_TANH, NULL},     /* strides 2, M 2 */
        {4, 2, 1, 2, 2, 1, false, 2, 10, 9, 4, 3, KN_ELU, NULL},    /* even window, dilation 2x1, M 3 */
        {2, 2, 2, 1, 1, 2, true, 2, 6, 7, 1, 2, KN_TANH, NULL},     /* even 'same', one channel */
        {3, 3, 1, 1, 1, 1, true, 4, 24, 24, 8, 1, KN_TANH, NULL},   /* 2304 positions: two parts */
        {2, 3, 2, 2, 1, 1, false, 2, 9, 7, 33, 1, KN_SIGMOID, NULL}, /* 33 columns: a ragged chunk */
    };
    for (int i = 0; i < (int)(sizeof geoms / sizeof geoms[0]); i++)
        for (int fused = 0; fused < 2; fused++) {
            char name[64];
            snprintf(name, sizeof name, "depthwise %d%s", i, fused ? " fused" : "");
            tcase c = {name, b_depthwise, &geoms[i], fused ? KN_PASS_ALL : KN_PASS_NONE, 1, 1e-4f, 1e-4f,
                       KN_PRECISION_FP32};
            run_case(ctx, &c);
            if (fused) index64_case(ctx, &c);
        }
    kn_optimizer adam = kn_adam(1e-2f);
    depthwise_arg trained = {3, 3, 2, 1, 1, 2, true, 3, 9, 10, 4, 2, KN_TANH, &adam};
    run_case(ctx, &(tcase){"depthwise trained", b_depthwise, &trained, KN_PASS_ALL, 3, 1e-4f, 1e-4f,
                           KN_PRECISION_FP32});
    replay_vs_launches(ctx, &(tcase){"replay depthwise", b_depthwise, &trained, KN_PASS_ALL, 5, 0, 0,
                                     KN_PRECISION_FP32});
}

/* Padding and cropping (kn_pad2d), upsampling (kn_upsample2d nearest and bilinear) and
 * resizing to any size (kn_resize2d) with their gradients against the CPU's: the GPU's kernels do the CPU's float operations in the
 * CPU's order (backend/resize_formulas.h), so y = op(x) and x's gradient are compared bit for
 * bit (resize_bits); then under tanh, unfused and under every pass (the loss and tanh: 2e-6,
 * the activations' tolerance); the 32-bit kernels against the 64-bit ones; trained with Adam
 * and replayed from a captured graph against launches, bit for bit. */
typedef struct {
    int64_t n, h, w, c;
    bool pad;      /* a: top, bottom, left, right; else sh, sw, kn_interpolation */
    int a[4];
    bool tanh;     /* y = tanh(op(x)), else op(x) */
    const kn_optimizer *opt;
    bool resize;   /* kn_resize2d: a = height, width, kn_interpolation */
} resize_arg;

static void b_resize(kn_graph *g, const void *arg) {
    const resize_arg *r = arg;
    kn_tensor *x = kn_param(g, (int64_t[]){r->n, r->h, r->w, r->c}, 4, KN_INIT_ZEROS, "x");
    kn_tensor *y = r->pad      ? kn_pad2d(g, x, r->a[0], r->a[1], r->a[2], r->a[3])
                 : r->resize ? kn_resize2d(g, x, r->a[0], r->a[1], (kn_interpolation)r->a[2])
                             : kn_upsample2d(g, x, r->a[0], r->a[1], (kn_interpolation)r->a[2]);
    train_on(g, r->tanh ? kn_act(g, y, KN_TANH) : y, r->opt);
}

/* Case c (b_resize without tanh) once on both devices: the resized y and x's gradient the
 * CPU's exactly. */
static void resize_bits(kn_ctx *ctx, const tcase *c) {
    kn_graph *cpu = make(ctx, c, KN_DEVICE_CPU), *gpu = make(ctx, c, KN_DEVICE_CUDA);
    if (cpu && gpu && kn_graph_run(cpu) == KN_OK && kn_graph_run(gpu) == KN_OK && kn_graph_sync(gpu) == KN_OK) {
        int checked = 0;
        for (int i = 0; i < cpu->n_nodes && cpu->n_nodes == gpu->n_nodes; i++) {
            const kn_tensor *t = cpu->nodes[i];
            if (t->op != KN_OP_PAD2D && t->op != KN_OP_UPSAMPLE2D && t->op != KN_OP_UPSAMPLE2D_GRAD &&
                t->op != KN_OP_RESIZE2D && t->op != KN_OP_RESIZE2D_GRAD)
                continue;
            CHECK(same_bits(t, gpu->nodes[i]), "%s: '%s' differs from the cpu's", c->name, t->name);
            checked++;
        }
        CHECK(checked == 2 && same_bits(cpu->params[0]->grad, gpu->params[0]->grad), "%s: %d resizing nodes; x's "
              "gradient %s", c->name, checked, same_bits(cpu->params[0]->grad, gpu->params[0]->grad) ? "equal" : "differs");
    } else {
        CHECK(false, "%s: %s", c->name, kn_last_error(ctx));
    }
    kn_graph_free(cpu);
    kn_graph_free(gpu);
}

static void resize_cases(kn_ctx *ctx) {
    static const resize_arg geoms[] = {
        {2, 5, 6, 3, true, {1, 2, 3, 0}, false, NULL, false},          /* padding */
        {2, 7, 9, 4, true, {-2, -1, 2, -3}, false, NULL, false},       /* cropping and padding */
        {2, 5, 6, 3, false, {2, 3, KN_INTERP_NEAREST, 0}, false, NULL, false},
        {2, 5, 6, 3, false, {2, 2, KN_INTERP_BILINEAR, 0}, false, NULL, false},
        {1, 4, 5, 70, false, {3, 2, KN_INTERP_BILINEAR, 0}, false, NULL, false}, /* odd factor, the CPU's channel blocks */
        {2, 1, 4, 2, false, {4, 1, KN_INTERP_BILINEAR, 0}, false, NULL, false},  /* one row, a factor of 1 */
        /* resizing: 28 -> 20 rows and 28 -> 37 columns, the reverse nearest, 70 channels, sides of 1 */
        {2, 28, 28, 3, false, {20, 37, KN_INTERP_BILINEAR, 0}, false, NULL, true},
        {2, 28, 28, 3, false, {37, 20, KN_INTERP_NEAREST, 0}, false, NULL, true},
        {1, 5, 7, 70, false, {3, 16, KN_INTERP_BILINEAR, 0}, false, NULL, true},
        {2, 1, 4, 2, false, {4, 1, KN_INTERP_NEAREST, 0}, false, NULL, true},
    };
    for (int i = 0; i < (int)(sizeof geoms / sizeof geoms[0]); i++) {
        char name[64];
        snprintf(name, sizeof name, "resize %d", i);
        tcase c = {name, b_resize, &geoms[i], KN_PASS_ALL, 1, 0, 0, KN_PRECISION_FP32};
        resize_bits(ctx, &c);
        index64_case(ctx, &c);
        resize_arg t = geoms[i];
        t.tanh = true;
        for (int fused = 0; fused < 2; fused++) {
            snprintf(name, sizeof name, "resize %d tanh%s", i, fused ? " fused" : "");
            run_case(ctx, &(tcase){name, b_resize, &t, fused ? KN_PASS_ALL : KN_PASS_NONE, 1, 1e-6f, 2e-6f,
                                   KN_PRECISION_FP32});
        }
    }
    kn_optimizer adam = kn_adam(1e-2f);
    resize_arg trained = {2, 6, 5, 3, false, {3, 2, KN_INTERP_BILINEAR, 0}, true, &adam, false};
    replay_vs_launches(ctx, &(tcase){"replay resize", b_resize, &trained, KN_PASS_ALL, 5, 0, 0, KN_PRECISION_FP32});
    resize_arg resized = {2, 6, 5, 3, false, {4, 9, KN_INTERP_BILINEAR, 0}, true, &adam, true};
    replay_vs_launches(ctx, &(tcase){"replay resize2d", b_resize, &resized, KN_PASS_ALL, 5, 0, 0, KN_PRECISION_FP32});
}

/* ---------------------------------------------------------------- depth taps */

/* A 3-D convolution's depth taps (kn__depth_taps: D, taps, stride, dilation, front, OD) of x
 * (n, D h, w, c), then tanh (or not), trained by opt or summed. */
typedef struct {
    int q[6];
    int64_t n, h, w, c;
    bool tanh;
    const kn_optimizer *opt;
} taps_arg;

static void b_depth_taps(kn_graph *g, const void *arg) {
    const taps_arg *a = arg;
    kn_tensor *x = kn_param(g, (int64_t[]){a->n, a->q[0] * a->h, a->w, a->c}, 4, KN_INIT_ZEROS, "x");
    kn_tensor *y = kn__depth_taps(g, x, a->q[0], a->q[1], a->q[2], a->q[3], a->q[4], a->q[5]);
    train_on(g, a->tanh ? kn_act(g, y, KN_TANH) : y, a->opt);
}

/* The taps and their gradient the CPU's bits (copies, and sums in tap order on both). */
static void depth_taps_cases(kn_ctx *ctx) {
    static const taps_arg geoms[] = {
        {{4, 3, 1, 1, 1, 4}, 2, 3, 5, 2, false, NULL},   /* 'same' */
        {{7, 2, 2, 3, 0, 2}, 3, 2, 3, 5, false, NULL},   /* strided, dilated 'valid' */
        {{5, 3, 2, 1, 1, 3}, 1, 4, 4, 70, false, NULL},  /* strided 'same', many channels */
    };
    for (int i = 0; i < (int)(sizeof geoms / sizeof geoms[0]); i++) {
        char name[64];
        snprintf(name, sizeof name, "depth taps %d", i);
        tcase c = {name, b_depth_taps, &geoms[i], KN_PASS_ALL, 1, 0, 0, KN_PRECISION_FP32};
        kn_graph *cpu = make(ctx, &c, KN_DEVICE_CPU), *gpu = make(ctx, &c, KN_DEVICE_CUDA);
        if (cpu && gpu && kn_graph_run(cpu) == KN_OK && kn_graph_run(gpu) == KN_OK && kn_graph_sync(gpu) == KN_OK) {
            int checked = 0;
            for (int k = 0; k < cpu->n_nodes && cpu->n_nodes == gpu->n_nodes; k++) {
                const kn_tensor *t = cpu->nodes[k];
                if (t->op != KN_OP_DEPTH_TAPS && t->op != KN_OP_DEPTH_TAPS_GRAD) continue;
                CHECK(same_bits(t, gpu->nodes[k]), "%s: '%s' differs from the cpu's", name, t->name);
                checked++;
            }
            CHECK(checked == 2, "%s: %d depth-taps nodes", name, checked);
        } else {
            CHECK(false, "%s: %s", name, kn_last_error(ctx));
        }
        kn_graph_free(cpu);
        kn_graph_free(gpu);
        taps_arg t = geoms[i];
        t.tanh = true;
        snprintf(name, sizeof name, "depth taps %d tanh", i);
        run_case(ctx, &(tcase){name, b_depth_taps, &t, KN_PASS_ALL, 1, 1e-6f, 2e-6f, KN_PRECISION_FP32});
    }
    kn_optimizer adam = kn_adam(1e-2f);
    taps_arg trained = {{4, 3, 1, 1, 1, 4}, 2, 3, 5, 2, true, &adam};
    replay_vs_launches(ctx, &(tcase){"replay depth taps", b_depth_taps, &trained, KN_PASS_ALL, 5, 0, 0, KN_PRECISION_FP32});
}

/* ---------------------------------------------------------------- random augmentation */

/* kn_random_image of x (3, 7, 6, 3) under opts, y * y trained by opt (so the steps, and the
 * draws, change, and the transforms reach x's gradient through 2 y r), or y alone. The
 * kernels take the CPU's formulas (backend/random_aug_formulas.h: the same float operations
 * in the same order, their own sine and cosine) and draws (dropout's key, the step values), so
 * every random node, y and x's gradient are compared bit for bit at every step; an evaluation
 * run is the identity; trained with Adam, a captured graph's replays draw each step's
 * transforms as launches do (bit for bit). */
typedef struct {
    kn_random_image_opts o;
    const kn_optimizer *opt;
} random_arg;

static void b_random(kn_graph *g, const void *arg) {
    const random_arg *a = arg;
    kn_tensor *x = kn_param(g, (int64_t[]){3, 7, 6, 3}, 4, KN_INIT_ZEROS, "x");
    kn_tensor *y = kn_random_image(g, x, &a->o);
    kn_graph_keep(g, y); /* (read after the runs) */
    train_on(g, a->opt ? kn_mul(g, y, y) : y, a->opt);
}

static void random_steps(kn_ctx *ctx, const tcase *c) {
    kn_graph *cpu = make(ctx, c, KN_DEVICE_CPU), *gpu = make(ctx, c, KN_DEVICE_CUDA);
    CHECK(cpu && gpu && cpu->n_nodes == gpu->n_nodes, "%s: %s", c->name, kn_last_error(ctx));
    for (int s = 0; cpu && gpu && cpu->n_nodes == gpu->n_nodes && s < c->steps; s++) {
        CHECK(kn_graph_run(cpu) == KN_OK && kn_graph_run(gpu) == KN_OK && kn_graph_sync(gpu) == KN_OK,
              "%s: run: %s", c->name, kn_last_error(ctx));
        int checked = 0;
        for (int i = 0; i < cpu->n_nodes; i++) {
            const kn_tensor *t = cpu->nodes[i];
            if (t->op < KN_OP_RANDOM_AFFINE || t->op > KN_OP_RANDOM_COLOR_GRAD || (t->flags & KN_FLAG_DEAD)) continue;
            CHECK(same_bits(t, gpu->nodes[i]), "%s: step %d: '%s' differs from the cpu's", c->name, s + 1, t->name);
            checked++;
        }
        CHECK(checked == 2 && same_bits(cpu->params[0]->grad, gpu->params[0]->grad),
              "%s: step %d: %d random nodes, x's gradient %s", c->name, s + 1, checked,
              same_bits(cpu->params[0]->grad, gpu->params[0]->grad) ? "equal" : "differs");
    }
    if (cpu && gpu) {
        const kn_tensor *y = NULL;
        for (int i = 0; i < gpu->n_nodes && !y; i++)
            if (gpu->nodes[i]->op == KN_OP_RANDOM_AFFINE || gpu->nodes[i]->op == KN_OP_RANDOM_COLOR) y = gpu->nodes[i];
        CHECK(kn__graph_run_phases(gpu, KN_PHASE_FORWARD) == KN_OK && kn_graph_sync(gpu) == KN_OK, "%s: evaluation: %s",
              c->name, kn_last_error(ctx));
        CHECK(y && (y->flags & KN_FLAG_KEEP) && same_bits(y, gpu->params[0]), "%s: evaluating is not the identity",
              c->name);
    }
    kn_graph_free(cpu);
    kn_graph_free(gpu);
}

static void random_cases(kn_ctx *ctx) {
    kn_optimizer sgd = kn_sgd(0x1p-10f), adam = kn_adam(1e-2f);
    static const kn_random_image_opts opts[] = {
        {.kind = KN_RANDOM_FLIP, .horizontal = true, .vertical = true},
        {.kind = KN_RANDOM_TRANSLATION, .factor = {-0.4f, 0.3f}, .width_factor = {-0.3f, 0.5f},
         .fill_mode = KN_FILL_REFLECT, .interpolation = KN_INTERP_BILINEAR},
        {.kind = KN_RANDOM_TRANSLATION, .factor = {-0.5f, 0.5f}, .width_factor = {-0.5f, 0.5f},
         .fill_mode = KN_FILL_WRAP, .interpolation = KN_INTERP_NEAREST},
        {.kind = KN_RANDOM_ROTATION, .factor = {-0.5f, 0.5f}, .fill_mode = KN_FILL_CONSTANT,
         .interpolation = KN_INTERP_BILINEAR, .fill_value = 0.25f},
        {.kind = KN_RANDOM_ROTATION, .factor = {-0.2f, 0.3f}, .fill_mode = KN_FILL_NEAREST,
         .interpolation = KN_INTERP_NEAREST, .seeded = true, .seed = 9},
        {.kind = KN_RANDOM_ZOOM, .factor = {-0.5f, 0.7f}, .width_same = true, .fill_mode = KN_FILL_REFLECT,
         .interpolation = KN_INTERP_BILINEAR},
        {.kind = KN_RANDOM_ZOOM, .factor = {-0.3f, 0.2f}, .width_factor = {0.1f, 0.9f}, .fill_mode = KN_FILL_WRAP,
         .interpolation = KN_INTERP_BILINEAR},
        {.kind = KN_RANDOM_CONTRAST, .factor = {0.5f, 0.4f}, .value_range = {-0.5f, 0.6f}},
        {.kind = KN_RANDOM_BRIGHTNESS, .factor = {-0.4f, 0.3f}, .value_range = {-0.7f, 0.5f}},
    };
    for (int i = 0; i < (int)(sizeof opts / sizeof opts[0]); i++) {
        char name[64];
        random_arg a = {opts[i], &sgd};
        snprintf(name, sizeof name, "random %d (%s)", i, kn__random_image_name((int)opts[i].kind));
        random_steps(ctx, &(tcase){name, b_random, &a, KN_PASS_ALL, 3, 0, 0, KN_PRECISION_FP32});
        random_arg plain = {opts[i], NULL};
        snprintf(name, sizeof name, "random %d plain", i);
        run_case(ctx, &(tcase){name, b_random, &plain, KN_PASS_NONE, 1, 1e-6f, 1e-6f, KN_PRECISION_FP32});
    }
    random_arg r = {opts[3], &adam};
    replay_vs_launches(ctx, &(tcase){"replay random rotation", b_random, &r, KN_PASS_ALL, 5, 0, 0, KN_PRECISION_FP32});
    random_arg rc = {opts[7], &adam};
    replay_vs_launches(ctx, &(tcase){"replay random contrast", b_random, &rc, KN_PASS_ALL, 5, 0, 0, KN_PRECISION_FP32});
}

int main(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 7}, &ctx);
    const char *on = getenv("KILN_TEST_CUDA_OPS_ON");
    on_mirror = on && strcmp(on, "mirror") == 0;
    if (on_mirror) printf("test_cuda_ops: on the mirror backend, not a GPU\n");
    if (!on_mirror && kn_device_check(ctx, KN_DEVICE_CUDA) != KN_OK) {
        printf("test_cuda_ops: SKIP: %s\n", kn_last_error(ctx));
        kn_ctx_free(ctx);
        return 77;
    }
    const char *only = getenv("KILN_TEST_CUDA_OPS_ONLY"); /* single_row: those cases alone (a sanitizer's run) */
    if (!on_mirror && only && strcmp(only, "single_row") == 0) {
        single_row_predict();
        kn_ctx_free(ctx);
        printf("test_cuda_ops (single rows): %s\n", failures ? "FAILED" : "ok");
        return failures != 0;
    }
    static const int tr[4][2] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};
    for (int i = 0; i < 4; i++) {
        run_case(ctx, &(tcase){"matmul", b_matmul, tr[i], KN_PASS_NONE, 1, 1e-4f, 1e-4f, KN_PRECISION_FP32});
        run_case(ctx, &(tcase){"matmul fused", b_matmul, tr[i], KN_PASS_ALL, 1, 1e-4f, 1e-4f, KN_PRECISION_FP32});
    }
    static const int ops[3] = {0, 1, 2};
    for (int i = 0; i < 3; i++) {
        run_case(ctx, &(tcase){"binary", b_binary, &ops[i], KN_PASS_NONE, 1, 0, 1e-6f, KN_PRECISION_FP32});
        run_case(ctx, &(tcase){"binary fused", b_binary, &ops[i], KN_PASS_ALL, 1, 1e-6f, 1e-6f, KN_PRECISION_FP32});
    }
    run_case(ctx, &(tcase){"merge", b_merge, NULL, KN_PASS_NONE, 1, 0, 1e-6f, KN_PRECISION_FP32});
    run_case(ctx, &(tcase){"merge fused", b_merge, NULL, KN_PASS_ALL, 1, 1e-6f, 1e-6f, KN_PRECISION_FP32});
    /* the gather: rows copied and the gradient summed in the CPU's order (the same bits; the
     * loss, a sum of doubles in another order, 1 ulp); under Adam, the product's 1e-4 */
    static const gather_arg gathers[] = {{12, 37, 9, 41, false}, {700, 5, 30, 40, false}, {50, 6, 8, 7, true}};
    for (int i = 0; i < 3; i++) {
        float tol = gathers[i].adam ? 1e-4f : 1e-6f;
        run_case(ctx, &(tcase){"gather", b_gather, &gathers[i], KN_PASS_NONE, gathers[i].adam ? 3 : 1, 0, tol,
                               KN_PRECISION_FP32});
        run_case(ctx, &(tcase){"gather fused", b_gather, &gathers[i], KN_PASS_ALL, gathers[i].adam ? 3 : 1, tol, tol,
                               KN_PRECISION_FP32});
    }
    static kn_activation acts[KN_ACTIVATION_COUNT]; /* every activation, fused and not */
    for (int i = 0; i < KN_ACTIVATION_COUNT; i++) {
        acts[i] = (kn_activation)i;
        float rtol = i > KN_SOFTMAX ? 1e-5f : 2e-6f; /* composed formulas: see the header */
        run_case(ctx, &(tcase){kn_activation_name(acts[i]), b_act, &acts[i], KN_PASS_NONE, 1, 1e-6f, rtol, KN_PRECISION_FP32});
        run_case(ctx, &(tcase){kn_activation_name(acts[i]), b_act, &acts[i], KN_PASS_ALL, 1, 1e-6f, rtol, KN_PRECISION_FP32});
    }
    run_case(ctx, &(tcase){"reductions", b_reduce, NULL, KN_PASS_NONE, 1, 1e-5f, 1e-5f, KN_PRECISION_FP32});
    for (int l = 0; l < KN_LOSS_COUNT; l++)
        for (int logits = 0; logits < 2; logits++) {
            bool ce = kn__loss_is_cross_entropy(l);
            if (logits && !ce) continue; /* from_logits: the cross-entropies only */
            loss_arg a = {(kn_loss)l, logits, 0};
            run_case(ctx, &(tcase){kn_loss_name((kn_loss)l), b_loss, &a, KN_PASS_NONE, 1, 1e-5f, 1e-5f, KN_PRECISION_FP32});
            run_case(ctx, &(tcase){kn_loss_name((kn_loss)l), b_loss, &a, KN_PASS_ALL, 1, 1e-5f, 1e-5f, KN_PRECISION_FP32});
            if (!ce && kn__loss_by_row(l)) { /* the half-reading row statistics (cosine, categorical hinge) */
                run_case(ctx, &(tcase){kn_loss_name((kn_loss)l), b_loss_of_product, &a, KN_PASS_ALL, 2, 0, 0, KN_PRECISION_BF16});
                run_case(ctx, &(tcase){kn_loss_name((kn_loss)l), b_loss_of_product, &a, KN_PASS_ALL, 2, 0, 0, KN_PRECISION_FP16});
            }
            if (!ce) continue;
            /* label smoothing: the f32 kernels, and the half-reading ones under bf16 and fp16 */
            loss_arg s = {(kn_loss)l, logits, 0.15f};
            char name[96];
            snprintf(name, sizeof name, "%s%s, label smoothing 0.15", kn_loss_name((kn_loss)l), logits ? " from logits" : "");
            run_case(ctx, &(tcase){name, b_loss, &s, KN_PASS_NONE, 1, 1e-5f, 1e-5f, KN_PRECISION_FP32});
            run_case(ctx, &(tcase){name, b_loss, &s, KN_PASS_ALL, 1, 1e-5f, 1e-5f, KN_PRECISION_FP32});
            run_case(ctx, &(tcase){name, b_loss_of_product, &s, KN_PASS_ALL, 2, 1e-5f, 1e-5f, KN_PRECISION_FP32});
            run_case(ctx, &(tcase){name, b_loss_of_product, &s, KN_PASS_ALL, 2, 0, 0, KN_PRECISION_BF16});
            run_case(ctx, &(tcase){name, b_loss_of_product, &s, KN_PASS_ALL, 2, 0, 0, KN_PRECISION_FP16});
        }
    run_case(ctx, &(tcase){"dropout", b_dropout, NULL, KN_PASS_ALL, 2, 0, 1e-6f, KN_PRECISION_FP32});
    run_case(ctx, &(tcase){"batch_norm", b_batch_norm, NULL, KN_PASS_ALL, 2, 1e-5f, 1e-4f, KN_PRECISION_FP32});
    static const int same[2] = {0, 1};
    for (int i = 0; i < 2; i++) {
        run_case(ctx, &(tcase){"conv+pool", b_conv, &same[i], KN_PASS_NONE, 1, 1e-4f, 1e-4f, KN_PRECISION_FP32});
        run_case(ctx, &(tcase){"conv+pool fused", b_conv, &same[i], KN_PASS_ALL, 1, 1e-4f, 1e-4f, KN_PRECISION_FP32});
    }
    for (int direct = 0; direct < 2; direct++) { /* (KILN_CUDA_CONV: conv_cases) */
        setenv("KILN_CUDA_CONV", direct ? "direct" : "gemm", 1);
        run_case(ctx, &(tcase){direct ? "conv1d+pool1d direct" : "conv1d+pool1d", b_conv1d, NULL, KN_PASS_NONE, 1, 1e-4f,
                               1e-4f, KN_PRECISION_FP32});
        run_case(ctx, &(tcase){direct ? "conv1d+pool1d direct fused" : "conv1d+pool1d fused", b_conv1d, NULL, KN_PASS_ALL,
                               1, 1e-4f, 1e-4f, KN_PRECISION_FP32});
        unsetenv("KILN_CUDA_CONV");
    }
    kn_optimizer opts[17] = {kn_sgd(0.05f), kn_adam(1e-2f), kn_adamw(1e-2f, 0.01f), kn_rmsprop(1e-2f), kn_adagrad(0.05f),
                             kn_sgd(0.05f), kn_adamax(1e-2f), kn_adadelta(1.0f), kn_nadam(1e-2f), kn_nadam(1e-2f),
                             kn_rmsprop(1e-2f), kn_lion(1e-3f), kn_radam(1e-2f), kn_ftrl(0.05f), kn_ftrl(0.05f),
                             kn_adam(1e-2f), kn_adamw(1e-2f, 0.5f)};
    opts[5].momentum = 0.9f, opts[5].nesterov = true, opts[5].clip_norm = 0.5f, opts[5].weight_decay = 0.5f;
    opts[9].momentum_decay = 1, opts[9].clip_value = 0.05f; /* (Keras 3's schedule: u_t changes from step to step) */
    opts[10].momentum = 0.5f, opts[10].weight_decay = 2.0f; /* (weight decay outside Adam's expression) */
    opts[11].weight_decay = 1.0f;
    /* Ftrl with every term, and a power other than -0.5 (powf, not sqrt) */
    opts[14].lr_power = -0.6f, opts[14].l1 = 1e-3f, opts[14].l2 = 0.01f, opts[14].l2_shrinkage = 0.01f;
    opts[14].ftrl_beta = 0.1f, opts[14].weight_decay = 0.5f;
    opts[15].amsgrad = opts[16].amsgrad = true; /* AMSGrad: the third state slot */
    opts[16].beta_2 = 0.9f;
    for (int i = 0; i < 17; i++) { /* (RAdam: 8 steps, the last 3 rectified) */
        int steps = opts[i].kind == KN_OPT_RADAM ? 8 : 3;
        run_case(ctx, &(tcase){"mlp training", b_mlp, &opts[i], KN_PASS_ALL, steps, 1e-4f, 1e-4f, KN_PRECISION_FP32});
        run_case(ctx, &(tcase){"mlp training unfused", b_mlp, &opts[i], KN_PASS_NONE, steps, 1e-4f, 1e-4f, KN_PRECISION_FP32});
    }
    layer_norm_cases(ctx);
    group_norm_cases(ctx);
    unit_norm_cases(ctx);
    pool_cases(ctx);
    conv_cases(ctx);
    chain_cases(ctx);
    kn_optimizer adam = kn_adam(1e-2f);
    replay_vs_launches(ctx, &(tcase){"replay", b_mlp, &adam, KN_PASS_ALL, 5, 0, 0, KN_PRECISION_FP32});
    /* Nadam's factors change every step (the running product): a replay must read them from
     * the step's values, not keep those of its capture */
    replay_vs_launches(ctx, &(tcase){"replay nadam", b_mlp, &opts[9], KN_PASS_ALL, 5, 0, 0, KN_PRECISION_FP32});
    /* RAdam's too (unrectified for 5 steps, then rectified) */
    replay_vs_launches(ctx, &(tcase){"replay radam", b_mlp, &opts[12], KN_PASS_ALL, 8, 0, 0, KN_PRECISION_FP32});
    conv_arg ca = {3, 2, 2, 1, 1, 2, true, 3, 10, 9, 2, 6, KN_RELU, KN_TANH, &adam, 0};
    setenv("KILN_CUDA_CONV_WS_MB", "0.0005", 1); /* chunks of a few rows: images split */
    replay_vs_launches(ctx, &(tcase){"replay conv chunked", b_conv_geom, &ca, KN_PASS_ALL, 5, 0, 0, KN_PRECISION_FP32});
    unsetenv("KILN_CUDA_CONV_WS_MB");
    half_cases(ctx);
    spatial_dropout_cases(ctx);
    noise_cases(ctx);
    if (!on_mirror) dense_rounding_cases(ctx);
    rnn_cases(ctx);
    masked_rnn_cases(ctx);
    rnn_dropout_cases(ctx);
    attention_cases(ctx);
    masked_attention_cases(ctx);
    masked_mean_cases(ctx);
    depthwise_cases(ctx);
    resize_cases(ctx);
    depth_taps_cases(ctx);
    random_cases(ctx);
    kn_ctx_free(ctx);
    printf("test_cuda_ops: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
