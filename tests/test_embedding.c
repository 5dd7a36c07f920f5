/* test_embedding.c — Keras's Embedding layer and the gather op under it.
 *   - the op alone: rows (and zero rows for indices that name none: negative, too large,
 *     fractions, NaN), its gradient summed over repeated indices in index order (the same
 *     bits as a plain loop, on 1 and 3 threads, with row and column splits), in bf16;
 *   - two small classifiers (embedding -> global_average_pool1d or flatten -> dense softmax)
 *     against PyTorch (tests/golden/embedding.txt from tests/golden/make_embedding.py):
 *     predictions, loss, every gradient (the unused row's exactly 0) and the parameters
 *     after 3 Adam steps;
 *   - a synthetic task (does the sequence hold the trigger token?) learned to high held-out
 *     accuracy through embedding -> conv1d -> global_max_pool1d -> dense, saved and loaded
 *     (same predictions, parameters, description), kn_model_param, the summary line;
 *   - mixed precision with a vocabulary of 5000 (fp16 holds whole numbers exactly only up
 *     to 2048, bf16 up to 256): the input stays f32 in bf16 and fp16 training graphs and the
 *     same task is learned with trigger tokens above 4990; training on 1 and 2 threads
 *     gives the same bits;
 *   - a description with two embeddings of the input concatenated (functional), read back;
 *   - bad indices (out of range, negative, fractional, NaN) refused by fit, evaluate,
 *     predict, train_step and kn_model_check_input with one line naming row, column and
 *     value; an embedding fed by another layer, bad options and descriptions refused, each
 *     with one line naming the layer and field; augmentation refused.
 * KILN_TEST_DEVICE=cuda (test_embedding_cuda): the model-level parts on that device
 * (exits 77, skipped, where none is usable). Tolerances are stated where used. */
#define _GNU_SOURCE
#include "graph/graph.h"
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "golden.h"
#include "layer_test.h"

static kn_device device = KN_DEVICE_CPU;

static kn_ctx *new_ctx(int threads, uint64_t seed) {
    kn_ctx *ctx = NULL;
    kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = seed, .device = device}, &ctx);
    return ctx;
}

static uint64_t lcg;
static uint32_t next_u32(void) {
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(lcg >> 33);
}
static float frand(void) { return (float)(next_u32() >> 8) * (2.0f / 16777216.0f) - 1.0f; } /* [-1, 1) */

/* ------------------------------------------------------------- the op */

/* ids (batch, t) -> gather -> loss sum(y * proj): the graph compiled for `batch`, on the CPU
 * with `threads`; ids, the table and proj filled by the caller through the returned handles. */
typedef struct {
    kn_ctx *ctx;
    kn_graph *g;
    kn_tensor *ids, *table, *y, *proj;
} op_graph;

static bool op_build(op_graph *o, int threads, int64_t batch, int64_t t, int64_t rows, int64_t cols,
                     kn_precision precision) {
    kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 1}, &o->ctx);
    kn_graph_new(o->ctx, &o->g);
    /* (in bf16 without the in-place pass, which would run the product over the rows and
     * join them to the f32 group of the sum reading it) */
    if (precision) kn_graph_set_precision(o->g, precision), kn_graph_set_passes(o->g, KN_PASS_ALL & ~KN_PASS_INPLACE);
    o->ids = kn_input(o->g, KN_F32, (int64_t[]){KN_BATCH, t}, 2, "ids");
    o->table = kn_param(o->g, (int64_t[]){rows, cols}, 2, KN_INIT_ZEROS, "table");
    o->y = kn_gather(o->g, o->ids, o->table);
    o->proj = o->y ? kn_input(o->g, KN_F32, o->y->shape, o->y->ndim, "proj") : NULL;
    o->g->build_phase = KN_PHASE_LOSS;
    kn_tensor *loss = kn__sum(o->g, kn_mul(o->g, o->y, o->proj));
    o->g->build_phase = KN_PHASE_FORWARD;
    if (!precision) kn_graph_keep(o->g, o->y); /* (kept: f32; in bf16 left to the pass, half) */
    kn_graph_keep(o->g, loss);
    kn_status st = kn_graph_backward(o->g, loss);
    if (!st) st = kn_graph_compile(o->g, batch, false);
    if (!st) st = kn_graph_set_batch(o->g, batch);
    CHECK(!st, "gather graph (%lld, %lld) of (%lld, %lld): %s", (long long)batch, (long long)t, (long long)rows,
          (long long)cols, kn_last_error(o->ctx));
    return !st;
}

static void op_free(op_graph *o) {
    kn_graph_free(o->g);
    kn_ctx_free(o->ctx);
}

/* The gradient as a plain loop computes it: zeros, then proj rows added in index order. */
static void reference_grad(const float *ids, const float *proj, int64_t n, int64_t rows, int64_t cols, float *out) {
    memset(out, 0, (size_t)(rows * cols) * sizeof *out);
    for (int64_t i = 0; i < n; i++) {
        float f = ids[i];
        if (!(f >= 0 && f < (float)rows && f == floorf(f))) continue;
        for (int64_t c = 0; c < cols; c++) out[(int64_t)f * cols + c] += proj[i * cols + c];
    }
}

/* Forward rows (zero rows for bad indices) and the gradient, bit for bit against the loops. */
static void test_gather_values(void) {
    enum { B = 3, T = 8, V = 10, D = 5 };
    op_graph o;
    if (!op_build(&o, 1, B, T, V, D, KN_PRECISION_FP32)) return op_free(&o);
    const float ids[B * T] = {0, 9, 3, 3, 7, 3, 0, 1,                /* repeats within a row */
                              -1, 10, 2.5f, NAN, 1e9f, -0.0f, 9, 3,  /* each bad but -0 (row 0) */
                              INFINITY, -INFINITY, 4, 4, 4, 4, 8, 0};
    memcpy(o.ids->data, ids, sizeof ids);
    lcg = 3;
    float *table = o.table->data, *proj = o.proj->data;
    for (int i = 0; i < V * D; i++) table[i] = frand();
    for (int i = 0; i < B * T * D; i++) proj[i] = frand();
    kn_graph_upload(o.g); /* (the table written on the host: a device graph's copy, KILN_TEST_MIRROR) */
    CHECK(!kn_graph_run(o.g), "gather run: %s", kn_last_error(o.ctx));
    kn_graph_sync(o.g);
    int bad = 0;
    for (int i = 0; i < B * T; i++) {
        float f = ids[i];
        bool valid = f >= 0 && f < V && f == floorf(f);
        for (int c = 0; c < D; c++) {
            float want = valid ? table[(int)f * D + c] : 0.0f, got = ((float *)o.y->data)[i * D + c];
            bad += memcmp(&want, &got, sizeof want) != 0 && !(want == 0 && got == 0);
        }
    }
    CHECK(bad == 0, "gather: %d values differ from the table's rows (zeros for bad indices)", bad);
    float ref[V * D];
    reference_grad(ids, proj, B * T, V, D, ref);
    CHECK(o.table->grad && memcmp(o.table->grad->data, ref, sizeof ref) == 0,
          "gather's gradient differs from the loop's sums in index order");
    float row5 = 0;
    for (int c = 0; c < D; c++) row5 += fabsf(((float *)o.table->grad->data)[5 * D + c]);
    CHECK(row5 == 0, "row 5 (no index names it) has a gradient");
    printf("gather: rows, zero rows for 8 bad indices, gradient over repeats: the loops' bits\n");
    op_free(&o);
}

/* A large gradient (threads split rows and columns) on 1 and 3 threads: the loop's bits. */
static void test_gather_threads(int64_t rows, int64_t cols) {
    enum { B = 64, T = 64 };
    float *ref = malloc((size_t)(rows * cols) * sizeof *ref), *got[2] = {NULL, NULL};
    float *ids = malloc(B * T * sizeof *ids), *proj = malloc((size_t)(B * T * cols) * sizeof *proj);
    lcg = 17;
    for (int i = 0; i < B * T; i++) /* a skewed draw: low rows repeat often (as frequent tokens do) */
        ids[i] = (float)(next_u32() % 4 == 0 ? next_u32() % 8 : next_u32() % rows);
    for (int64_t i = 0; i < B * T * cols; i++) proj[i] = frand();
    reference_grad(ids, proj, B * T, rows, cols, ref);
    const int threads[2] = {1, 3};
    for (int k = 0; k < 2; k++) {
        op_graph o;
        if (op_build(&o, threads[k], B, T, rows, cols, KN_PRECISION_FP32)) {
            memcpy(o.ids->data, ids, B * T * sizeof *ids);
            memcpy(o.proj->data, proj, (size_t)(B * T * cols) * sizeof *proj);
            kn_graph_upload(o.g); /* (the table written on the host: a device graph's copy, KILN_TEST_MIRROR) */
    CHECK(!kn_graph_run(o.g), "gather run: %s", kn_last_error(o.ctx));
    kn_graph_sync(o.g);
            got[k] = malloc((size_t)(rows * cols) * sizeof *ref);
            memcpy(got[k], o.table->grad->data, (size_t)(rows * cols) * sizeof *ref);
        }
        op_free(&o);
    }
    for (int k = 0; k < 2; k++)
        CHECK(got[k] && memcmp(got[k], ref, (size_t)(rows * cols) * sizeof *ref) == 0,
              "gather gradient (%lld, %lld) on %d threads differs from the loop's", (long long)rows, (long long)cols,
              threads[k]);
    printf("gather gradient (%lld, %lld) from %d indices: 1 and 3 threads give the loop's bits\n", (long long)rows,
           (long long)cols, B * T);
    free(got[0]), free(got[1]), free(ref), free(ids), free(proj);
}

/* bf16: the gathered rows and their gradient stored half (the precision pass), the indices
 * f32; the gradient within bf16's rounding (2^-8 relative per value, a few per sum). */
static void test_gather_half(void) {
    enum { B = 4, T = 9, V = 3000, D = 6 };
    op_graph o;
    if (!op_build(&o, 2, B, T, V, D, KN_PRECISION_BF16)) return op_free(&o);
    CHECK(o.ids->dtype == KN_F32 && o.y->dtype == KN_BF16, "bf16 graph: indices %s (want F32), rows %s (want BF16)",
          kn_dtype_name(o.ids->dtype), kn_dtype_name(o.y->dtype));
    float ids[B * T], *proj = o.proj->data, *table = o.table->data;
    lcg = 23;
    for (int i = 0; i < B * T; i++) ids[i] = (float)(V - 1 - (int)(next_u32() % 5)); /* 2995..2999: bf16 would round them */
    memcpy(o.ids->data, ids, sizeof ids);
    for (int i = 0; i < V * D; i++) table[i] = frand();
    for (int i = 0; i < B * T * D; i++) proj[i] = frand();
    kn_graph_upload(o.g);
    CHECK(!kn_graph_run(o.g), "bf16 gather run: %s", kn_last_error(o.ctx));
    kn_graph_sync(o.g);
    static float ref[V * D];
    reference_grad(ids, proj, B * T, V, D, ref);
    double worst = 0;
    for (int i = 0; i < V * D; i++) worst = fmax(worst, fabs(((float *)o.table->grad->data)[i] - ref[i]) / (1 + fabs(ref[i])));
    printf("gather in bf16: gradient within %.2e of f32's\n", worst);
    CHECK(worst < 0.05, "bf16 gather gradient %.3g from f32's", worst);
    op_free(&o);
}

/* ------------------------------------------------------------- against PyTorch */

enum { GN = 5, GT = 6, GV = 11, GD = 4, GC = 3 };

static bool fill_record(float *dst, const char *model, const char *what, int64_t n) {
    char name[96];
    snprintf(name, sizeof name, "%s.%s", model, what);
    double *v = golden_record(name, n);
    for (int64_t i = 0; v && i < n; i++) dst[i] = (float)v[i];
    free(v);
    return v != NULL;
}

/* 1e-5 of 1 + |value|: float32 against float64, sums of a few terms, 3 Adam steps */
static void compare_record(const char *model, const char *what, const float *got, int64_t n) {
    char name[96];
    snprintf(name, sizeof name, "%s.%s", model, what);
    double *want = golden_record(name, n);
    if (want) compare_golden(name, got, want, (int)n, 1e-5);
    free(want);
}

static void golden_model(const char *which) {
    kn_ctx *ctx = new_ctx(2, 5);
    kn_model *m = NULL;
    kn_model_new_sequential(ctx, (int64_t[]){GT}, 1, &m);
    kn_status st = kn_model_add_embedding(m, GV, GD);
    bool gap = strcmp(which, "gap") == 0;
    if (!st) st = gap ? kn_model_add_global_pool1d(m, KN_POOL_AVG) : kn_model_add_flatten(m);
    if (!st) st = kn_model_add_dense(m, GC, KN_SOFTMAX);
    if (!st) st = kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
                                                        .optimizer = kn_adam(0.05f)});
    CHECK(!st, "%s model: %s", which, kn_last_error(ctx));
    static const char *const names[] = {"embedding_0/embeddings", "dense_0/kernel", "dense_0/bias"};
    int64_t sizes[3] = {GV * GD, (gap ? GD : GT * GD) * GC, GC};
    float x[GN * GT], y[GN * GC], labels_f[GN];
    int32_t labels[GN];
    bool ok = !st && fill_record(x, which, "x", GN * GT) && fill_record(labels_f, which, "labels", GN);
    for (int k = 0; ok && k < 3; k++) {
        int64_t n = 0;
        float *w = kn_model_param(m, names[k], &n);
        CHECK(w && n == sizes[k], "%s: parameter %s: %lld values (want %lld)", which, names[k], (long long)n,
              (long long)sizes[k]);
        ok = w && n == sizes[k] && fill_record(w, which, names[k], n);
    }
    if (!ok) goto done;
    for (int i = 0; i < GN; i++) labels[i] = (int32_t)labels_f[i];
    CHECK(!kn_model_predict(m, x, GN, y), "predict: %s", kn_last_error(ctx));
    compare_record(which, "y", y, GN * GC);
    for (int step = 0; step < 3; step++) {
        float loss = NAN;
        CHECK(!kn_model_train_step(m, x, labels, GN, &loss), "train_step: %s", kn_last_error(ctx));
        char what[16];
        snprintf(what, sizeof what, "loss%d", step);
        compare_record(which, what, &loss, 1);
        for (int k = 0; step == 0 && k < 3; k++) {
            int64_t n = 0;
            const float *gr = kn_model_grad(m, names[k], &n);
            char gname[64];
            snprintf(gname, sizeof gname, "grad:%s", names[k]);
            CHECK(gr != NULL, "%s: no gradient of %s", which, names[k]);
            if (gr) compare_record(which, gname, gr, n);
            if (gr && k == 0) { /* token 6 is in no row: its gradient is exactly zero */
                bool zero = true;
                for (int c = 0; c < GD; c++) zero = zero && gr[6 * GD + c] == 0.0f;
                CHECK(zero, "%s: the unused row 6 has a gradient", which);
            }
        }
    }
    for (int k = 0; k < 3; k++) {
        int64_t n = 0;
        const float *w = kn_model_param(m, names[k], &n);
        char fname[64];
        snprintf(fname, sizeof fname, "final:%s", names[k]);
        if (w) compare_record(which, fname, w, n);
    }
done:
    kn_model_free(m);
    kn_ctx_free(ctx);
}

static void test_golden(void) {
    if (!lt_golden_open("tests/golden/embedding.txt")) return;
    golden_model("gap");
    golden_model("flat");
    free(golden);
    golden = NULL;
}

/* ------------------------------------------------------------- a task to learn */

/* n rows of t tokens in [0, vocab): label 1 for about half the rows, which hold one of the
 * trigger tokens (once or twice) at random places, 0 for the rest, which hold none. */
static void token_rows(float *x, int32_t *y, int n, int t, int vocab, const int *trig, int n_trig, uint64_t seed) {
    lcg = seed;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < t; j++) {
            int v;
            do v = (int)(next_u32() % (uint32_t)vocab);
            while (v == trig[0] || (n_trig > 1 && v == trig[1]) || (n_trig > 2 && v == trig[2]));
            x[i * t + j] = (float)v;
        }
        y[i] = (int32_t)(next_u32() & 1);
        for (int k = 0; y[i] && k < 1 + (int)(next_u32() & 1); k++)
            x[i * t + next_u32() % (uint32_t)t] = (float)trig[next_u32() % (uint32_t)n_trig];
    }
}

typedef struct {
    int vocab, t, rows, test_rows, epochs;
    const int *trig;
    int n_trig;
    kn_precision precision;
    int threads;
} task;

/* embedding(vocab, 8) -> conv1d 16 (kernel 3, same, relu) -> global_max_pool1d -> dense 2
 * softmax, Adam 1e-2, trained on the task's rows; *acc its held-out accuracy. */
static kn_model *train_task(kn_ctx *ctx, const task *tk, double *acc) {
    int n = tk->rows + tk->test_rows;
    float *x = malloc((size_t)n * tk->t * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    token_rows(x, y, n, tk->t, tk->vocab, tk->trig, tk->n_trig, 99);
    kn_dataset *train = NULL, *test = NULL;
    kn_model *m = NULL;
    kn_status st = kn_dataset_from_arrays(ctx, x, y, tk->rows, tk->t, 2, &train);
    if (!st) st = kn_dataset_from_arrays(ctx, x + (size_t)tk->rows * tk->t, y + tk->rows, tk->test_rows, tk->t, 2, &test);
    if (!st) st = kn_model_new_sequential(ctx, (int64_t[]){tk->t}, 1, &m);
    if (!st) st = kn_model_add_embedding(m, tk->vocab, 8);
    if (!st) st = kn_model_add_conv1d(m, &(kn_conv1d_opts){.filters = 16, .kernel_size = 3, .padding = KN_PADDING_SAME,
                                                           .activation = KN_RELU});
    if (!st) st = kn_model_add_global_pool1d(m, KN_POOL_MAX);
    if (!st) st = kn_model_add_dense(m, 2, KN_SOFTMAX);
    if (!st) st = kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
                                                        .optimizer = kn_adam(1e-2f), .precision = tk->precision});
    if (!st) st = kn_model_fit(m, train, &(kn_fit_opts){.epochs = tk->epochs, .batch_size = 32, .verbose = 0}, NULL);
    kn_eval_report rep = {0};
    if (!st) st = kn_model_evaluate(m, test, &rep);
    CHECK(!st, "task (vocab %d, %s): %s", tk->vocab, kn_precision_name(tk->precision), kn_last_error(ctx));
    *acc = st ? 0 : rep.accuracy;
    kn_dataset_free(train);
    kn_dataset_free(test);
    free(x);
    free(y);
    if (st) {
        kn_model_free(m);
        return NULL;
    }
    return m;
}

/* fp32, a vocabulary of 100: learned, saved and loaded, described, summarized. */
static void test_task(void) {
    kn_ctx *ctx = new_ctx(2, 21);
    static const int trig[] = {7};
    task tk = {.vocab = 100, .t = 10, .rows = 1200, .test_rows = 400, .epochs = 4, .trig = trig, .n_trig = 1};
    double acc;
    kn_model *m = train_task(ctx, &tk, &acc);
    printf("token-presence task, vocabulary 100, fp32: held-out accuracy %.4f\n", acc);
    CHECK(acc >= 0.97, "held-out accuracy %.4f (want 0.97 or more: presence of one token is easy)", acc);
    if (!m) return kn_ctx_free(ctx);
    char summary[512];
    kn_model_summary(m, summary, sizeof summary);
    printf("%s\n", summary);
    CHECK(strstr(summary, "sequential: input 10 -> embedding 100x8 -> conv1d 16 kernel 3 same relu -> global_max_pool1d "
                          "-> dense 2 softmax (1234 parameters)"), "summary: %s", summary);
    int64_t n = 0;
    const float *w = kn_model_param(m, "embedding_0/embeddings", &n);
    CHECK(w && n == 800, "kn_model_param embedding_0/embeddings: %lld values", (long long)n);
    /* saved and loaded: the same parameters and predictions, bit for bit */
    static float x[50 * 10], pa[100], pb[100];
    int32_t yy[50];
    token_rows(x, yy, 50, 10, 100, trig, 1, 5);
    CHECK(!kn_model_predict(m, x, 50, pa), "predict: %s", kn_last_error(ctx));
    char dir[] = "/tmp/kiln_embedding_XXXXXX", path[160];
    if (mkdtemp(dir)) {
        snprintf(path, sizeof path, "%s/model.kiln", dir);
        kn_model *r = NULL;
        CHECK(!kn_model_save(m, path) && !kn_model_load(ctx, path, NULL, &r), "save and load: %s", kn_last_error(ctx));
        if (r) {
            CHECK(!kn_model_predict(r, x, 50, pb) && memcmp(pa, pb, sizeof pa) == 0,
                  "the loaded model predicts other values (%g against %g)", (double)pb[0], (double)pa[0]);
            int64_t n2 = 0;
            const float *w2 = kn_model_param(r, "embedding_0/embeddings", &n2);
            w = kn_model_param(m, "embedding_0/embeddings", &n);
            CHECK(w && w2 && n2 == n && memcmp(w, w2, (size_t)n * sizeof *w) == 0, "the loaded table differs");
            float bad[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 100}; /* a loaded model refuses bad indices too */
            kn_status st = kn_model_predict(r, bad, 1, pb);
            CHECK(st == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "row 0, column 9: token index 100"),
                  "loaded model, index 100: %d '%s'", (int)st, kn_last_error(ctx));
            kn_model_free(r);
        }
        unlink(path);
        rmdir(dir);
    }
    char *json = NULL;
    CHECK(!kn_model_to_json(m, &json) && json &&
              strstr(json, "{\"type\":\"embedding\",\"input_dim\":100,\"output_dim\":8,\"embeddings_initializer\":\"uniform\"}"),
          "description: %s", json ? json : kn_last_error(ctx));
    if (json) {
        kn_spec spec;
        kn_model *jm = NULL;
        CHECK(!kn_model_from_json(ctx, json, NULL, &jm, &spec) && jm && kn_model_param_count(jm) == kn_model_param_count(m),
              "description read back: %s", kn_last_error(ctx));
        kn_model_free(jm);
    }
    kn_free(ctx, json);
    kn_model_free(m);
    kn_ctx_free(ctx);
}

/* The model input's dtype in m's training graph, and the gather's output's. */
static void graph_dtypes(const kn_model *m, kn_dtype *x, kn_dtype *rows) {
    *x = m->x ? m->x->dtype : KN_DTYPE_COUNT;
    *rows = KN_DTYPE_COUNT;
    for (int i = 0; m->graph && i < m->graph->n_nodes; i++)
        if (m->graph->nodes[i]->op == KN_OP_GATHER) *rows = m->graph->nodes[i]->dtype;
}

/* A vocabulary of 5000 whose trigger tokens (4993, 4997, 4999) bf16 and fp16 would round
 * (to 4992 and 5008; 4992, 5000, 5000): learned in fp32, bf16 and fp16, the input staying f32. */
static void test_large_vocabulary(void) {
    static const int trig[] = {4993, 4997, 4999};
    static const kn_precision precisions[] = {KN_PRECISION_FP32, KN_PRECISION_BF16, KN_PRECISION_FP16};
    /* (on a device the half precisions alone, on fewer rows: the emulator is slow) */
    for (int p = device == KN_DEVICE_CPU ? 0 : 1; p < 3; p++) {
        kn_ctx *ctx = new_ctx(2, 31);
        task tk = {.vocab = 5000, .t = 12, .rows = 1600, .test_rows = 400, .epochs = 4, .trig = trig, .n_trig = 3,
                   .precision = precisions[p]};
        if (device != KN_DEVICE_CPU) tk.rows = 640, tk.test_rows = 160, tk.epochs = 3;
        double acc;
        kn_model *m = train_task(ctx, &tk, &acc);
        kn_dtype x = KN_DTYPE_COUNT, rows = KN_DTYPE_COUNT;
        if (m) graph_dtypes(m, &x, &rows);
        printf("token-presence task, vocabulary 5000, %s: held-out accuracy %.4f (input %s, gathered rows %s)\n",
               kn_precision_name(precisions[p]), acc, kn_dtype_name(x), kn_dtype_name(rows));
        CHECK(acc >= 0.95, "%s: held-out accuracy %.4f (want 0.95 or more)", kn_precision_name(precisions[p]), acc);
        CHECK(x == KN_F32, "%s: the model input is %s in the training graph (token indices must stay F32)",
              kn_precision_name(precisions[p]), kn_dtype_name(x));
        if (device == KN_DEVICE_CPU && p > 0) /* the CPU's gather writes half rows; CUDA's stays f32 */
            CHECK(rows == (p == 1 ? KN_BF16 : KN_F16), "%s: gathered rows %s", kn_precision_name(precisions[p]),
                  kn_dtype_name(rows));
        kn_model_free(m);
        kn_ctx_free(ctx);
    }
}

/* The same training on 1 and 2 threads (the table's gradient split over threads): the same bits. */
static void test_threads_equal(void) {
    if (device != KN_DEVICE_CPU) return; /* (the host's threads) */
    static const int trig[] = {4999};
    float *w[2] = {NULL, NULL};
    int64_t n = 0;
    for (int k = 0; k < 2; k++) {
        kn_ctx *ctx = new_ctx(k + 1, 41);
        task tk = {.vocab = 5000, .t = 12, .rows = 320, .test_rows = 32, .epochs = 1, .trig = trig, .n_trig = 1};
        double acc;
        kn_model *m = train_task(ctx, &tk, &acc);
        const float *p = m ? kn_model_param(m, "embedding_0/embeddings", &n) : NULL;
        if (p) {
            w[k] = malloc((size_t)n * sizeof *p);
            memcpy(w[k], p, (size_t)n * sizeof *p);
        }
        kn_model_free(m);
        kn_ctx_free(ctx);
    }
    CHECK(w[0] && w[1] && memcmp(w[0], w[1], (size_t)n * sizeof *w[0]) == 0,
          "training on 1 and 2 threads gives different tables");
    free(w[0]);
    free(w[1]);
}

/* ------------------------------------------------------------- descriptions */

/* Two embeddings of the input (the second named to read it), joined and classified. */
static void test_description(void) {
    kn_ctx *ctx = new_ctx(1, 3);
    const char *text =
        "{\"input_shape\": [5], \"layers\": ["
        "{\"type\": \"embedding\", \"name\": \"words\", \"input_dim\": 20, \"output_dim\": 3, \"input_length\": 5,"
        " \"embeddings_initializer\": {\"class_name\": \"RandomUniform\", \"config\": {\"minval\": -0.05, \"maxval\": 0.05,"
        " \"seed\": null}}, \"mask_zero\": false, \"embeddings_constraint\": null},"
        "{\"type\": \"embedding\", \"name\": \"more\", \"inputs\": \"input\", \"input_dim\": 12, \"output_dim\": 2,"
        " \"embeddings_initializer\": \"glorot_uniform\", \"embeddings_regularizer\": {\"l2\": 0.01}},"
        "{\"type\": \"concatenate\", \"inputs\": [\"words\", \"more\"]},"
        "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
        " \"loss\": \"sparse_categorical_crossentropy\"}";
    kn_spec spec;
    kn_model *m = NULL;
    kn_status st = kn_model_from_json(ctx, text, NULL, &m, &spec);
    CHECK(!st, "two embeddings: %s", kn_last_error(ctx));
    if (st) return kn_ctx_free(ctx);
    kn_model_compile(m, &spec.compile);
    CHECK(kn_model_param_count(m) == 20 * 3 + 12 * 2 + 25 * 3 + 3, "parameters: %lld", (long long)kn_model_param_count(m));
    int64_t n = 0;
    CHECK(kn_model_param(m, "embedding_1/embeddings", &n) && n == 24, "embedding_1/embeddings: %lld", (long long)n);
    /* the smaller vocabulary (12) decides what every input value may be */
    float x[10] = {0, 1, 2, 3, 11, 0, 1, 2, 3, 12}, out[6];
    st = kn_model_predict(m, x, 2, out);
    CHECK(st == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "row 1, column 4: token index 12 is not below "
                                                                       "input_dim (layers[1] embedding 'more'"),
          "index 12 for a vocabulary of 12: %d '%s'", (int)st, kn_last_error(ctx));
    CHECK(!kn_model_predict(m, x, 1, out), "predict: %s", kn_last_error(ctx));
    char *json = NULL;
    CHECK(!kn_model_to_json(m, &json) && json && strstr(json, "\"name\":\"more\",\"inputs\":\"input\",\"input_dim\":12,"
                                                               "\"output_dim\":2,\"embeddings_initializer\":"
                                                               "\"glorot_uniform\",\"embeddings_regularizer\":{\"l2\":0.01}"),
          "description: %s", json ? json : kn_last_error(ctx));
    kn_model *back = NULL;
    CHECK(json && !kn_model_from_json(ctx, json, NULL, &back, &spec) && kn_model_param_count(back) == kn_model_param_count(m),
          "read back: %s", kn_last_error(ctx));
    kn_model_free(back);
    kn_free(ctx, json);
    kn_model_free(m);
    kn_ctx_free(ctx);
}

/* A description whose layers are `layers` is refused with one line holding want. */
static void bad_description(kn_ctx *ctx, const char *input_shape, const char *layers, const char *want) {
    char text[1024];
    snprintf(text, sizeof text, "{\"input_shape\": %s, \"layers\": [%s, {\"type\": \"flatten\"}, {\"type\": \"dense\", "
             "\"units\": 2}]}", input_shape, layers);
    kn_spec spec;
    kn_model *m = NULL;
    kn_status st = kn_model_from_json(ctx, text, NULL, &m, &spec);
    const char *e = kn_last_error(ctx);
    CHECK(st != KN_OK && strstr(e, want) && !strchr(e, '\n'), "%s: %d '%s' (want '%s')", layers, (int)st, e, want);
    kn_model_free(m);
}

static void test_bad_descriptions(void) {
    kn_ctx *ctx = new_ctx(1, 3);
    struct { const char *shape, *layer, *want; } cases[] = {
        {"[4]", "{\"type\": \"embedding\", \"output_dim\": 3}", "layers[0].input_dim: missing"},
        {"[4]", "{\"type\": \"embedding\", \"input_dim\": 9}", "layers[0].output_dim: missing"},
        {"[4]", "{\"type\": \"embedding\", \"input_dim\": 0, \"output_dim\": 3}", "layers[0].input_dim: 0 is out of range"},
        {"[4]", "{\"type\": \"embedding\", \"input_dim\": 2.5, \"output_dim\": 3}", "layers[0].input_dim: 2.5 is not a whole"},
        {"[4]", "{\"type\": \"embedding\", \"input_dim\": 16777217, \"output_dim\": 3}", "layers[0].input_dim: 1.67772e+07 is out of range"},
        {"[4]", "{\"type\": \"embedding\", \"input_dim\": 9, \"output_dim\": -1}", "layers[0].output_dim: -1 is out of range"},
        {"[4]", "{\"type\": \"embedding\", \"input_dim\": 9, \"output_dim\": 3, \"mask_zero\": \"yes\"}",
         "layers[0].mask_zero: expected true or false"},
        {"[4]", "{\"type\": \"embedding\", \"input_dim\": 9, \"output_dim\": 3, \"embeddings_constraint\": \"non_neg\"}",
         "layers[0].embeddings_constraint: constraints are not supported"},
        {"[4]", "{\"type\": \"embedding\", \"input_dim\": 9, \"output_dim\": 3, \"input_length\": 5}",
         "layers[0].input_length: 5 does not match the model's input_shape"},
        {"[4]", "{\"type\": \"embedding\", \"input_dim\": 9, \"output_dim\": 3, \"units\": 5}",
         "layers[0]: unknown key 'units'"},
        {"[4]", "{\"type\": \"embedding\", \"input_dim\": 9, \"output_dim\": 3, \"embeddings_initializer\": \"bogus\"}",
         "layers[0].embeddings_initializer: unknown initializer 'bogus'"},
        {"[4]", "{\"type\": \"embedding\", \"input_dim\": 9, \"output_dim\": 3, \"embeddings_initializer\": "
                "{\"class_name\": \"RandomUniform\", \"config\": {\"minval\": -1}}}",
         "layers[0].embeddings_initializer.config.minval: only RandomUniform(minval=-0.05, maxval=0.05)"},
        {"[4]", "{\"type\": \"embedding\", \"input_dim\": 9, \"output_dim\": 3, \"embeddings_regularizer\": {\"l1\": 1}}",
         "layers[0].embeddings_regularizer: unknown key 'l1'"},
        {"[2, 2, 2]", "{\"type\": \"embedding\", \"input_dim\": 9, \"output_dim\": 3}",
         "layers[0] embedding: input_shape has 3 dimensions (at most 2"},
        {"[4]", "{\"type\": \"dense\", \"units\": 4}, {\"type\": \"embedding\", \"input_dim\": 9, \"output_dim\": 3}",
         "layers[1] embedding: reads token indices from the model input, but its input is layers[0] dense 'dense_0'"},
        {"[4]", "{\"type\": \"embedding\", \"input_dim\": 9, \"output_dim\": 3}, {\"type\": \"embedding\", \"input_dim\": 9, "
                "\"output_dim\": 3}", "layers[1] embedding: reads token indices from the model input, but its input is "
                                     "layers[0] embedding 'embedding_0'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) bad_description(ctx, cases[i].shape, cases[i].layer, cases[i].want);
    /* the C API: the same checks, one line naming the layer */
    kn_model *m = NULL;
    kn_model_new_sequential(ctx, (int64_t[]){4}, 1, &m);
    struct { kn_embedding_opts o; const char *want; } api[] = {
        {{.input_dim = 0, .output_dim = 2}, "layers[0] embedding: input_dim is 0"},
        {{.input_dim = 5, .output_dim = 0}, "layers[0] embedding: output_dim is 0"},
        {{.input_dim = 1 << 24, .output_dim = 1 << 10}, "is more than 2^31 parameters"},
        {{.input_dim = 5, .output_dim = 2, .embeddings_init = KN_INIT_COUNT}, "unknown embeddings_initializer"},
        {{.input_dim = 5, .output_dim = 2, .l2 = -1}, "layers[0] embedding: l2 is -1"},
    };
    for (size_t i = 0; i < sizeof api / sizeof *api; i++) {
        kn_status st = kn_model_add_embedding_ex(m, &api[i].o);
        CHECK(st != KN_OK && strstr(kn_last_error(ctx), api[i].want), "C API case %zu: %d '%s'", i, (int)st,
              kn_last_error(ctx));
    }
    CHECK(m->n_layers == 0, "a refused embedding was added");
    kn_model_free(m);
    kn_ctx_free(ctx);
}

/* ------------------------------------------------------------- bad data */

static void expect_index_error(kn_ctx *ctx, kn_status st, const char *what, const char *want) {
    const char *e = kn_last_error(ctx);
    CHECK(st == KN_ERR_INVALID_ARGUMENT && strstr(e, want) && !strchr(e, '\n'), "%s: %d '%s' (want '%s')", what, (int)st,
          e, want);
}

static void test_bad_indices(void) {
    kn_ctx *ctx = new_ctx(2, 3);
    enum { N = 40, T = 6, V = 30 };
    static float x[N * T];
    static int32_t y[N];
    static const int trig[] = {3};
    token_rows(x, y, N, T, V, trig, 1, 8);
    kn_model *m = NULL;
    kn_model_new_sequential(ctx, (int64_t[]){T}, 1, &m);
    kn_model_add_embedding(m, V, 4);
    kn_model_add_flatten(m);
    kn_model_add_dense(m, 2, KN_SOFTMAX);
    kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_adam(1e-3f)});
    struct { float v; const char *want; } bad[] = {
        {30, "token index 30 is not below input_dim (layers[0] embedding 'embedding_0' takes whole numbers in [0, 30))"},
        {-1, "token index -1 is negative"},
        {2.5f, "token index 2.5 is not a whole number"},
        {NAN, "token index nan is not a number"},
        {1e30f, "token index 1.00000002e+30 is not below input_dim"},
        {-INFINITY, "token index -inf is negative"},
    };
    float out[N * 2];
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        float keep = x[17 * T + 4];
        x[17 * T + 4] = bad[k].v;
        char want[256];
        snprintf(want, sizeof want, "row 17, column 4: %s", bad[k].want);
        kn_dataset *ds = NULL;
        kn_dataset_from_arrays(ctx, x, y, N, T, 2, &ds);
        kn_eval_report rep;
        expect_index_error(ctx, kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 1, .verbose = 0}, NULL), "fit", want);
        expect_index_error(ctx, kn_model_evaluate(m, ds, &rep), "evaluate", want);
        expect_index_error(ctx, kn_model_predict(m, x, N, out), "predict", want);
        expect_index_error(ctx, kn_model_train_step(m, x, y, N, NULL), "train_step", want);
        expect_index_error(ctx, kn_model_check_input(m, x, N), "check_input", want);
        /* validation data too */
        x[17 * T + 4] = keep;
        kn_dataset *good = NULL;
        kn_dataset_from_arrays(ctx, x, y, N, T, 2, &good);
        expect_index_error(ctx, kn_model_fit(m, good, &(kn_fit_opts){.epochs = 1, .verbose = 0, .validation_data = ds}, NULL),
                           "fit's validation data", want);
        kn_session *s = NULL;
        if (!kn_session_new(m, 64, &s)) {
            x[17 * T + 4] = bad[k].v;
            expect_index_error(ctx, kn_session_predict(s, x, N, out), "session predict", want);
            x[17 * T + 4] = keep;
            kn_session_free(s);
        }
        kn_dataset_free(ds);
        kn_dataset_free(good);
    }
    /* the good data trains (nothing was left half done by the refusals) */
    kn_dataset *ds = NULL;
    kn_dataset_from_arrays(ctx, x, y, N, T, 2, &ds);
    CHECK(!kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 1, .verbose = 0}, NULL), "fit: %s", kn_last_error(ctx));
    CHECK(!kn_model_check_input(m, x, N), "check_input: %s", kn_last_error(ctx));
    /* augmentation would move or blur the indices */
    kn_dataset_set_sample_shape(ds, (int64_t[]){2, 3}, 2);
    kn_model *mi = NULL;
    kn_model_new_sequential(ctx, (int64_t[]){2, 3}, 2, &mi);
    kn_model_add_embedding(mi, V, 4);
    kn_model_add_flatten(mi);
    kn_model_add_dense(mi, 2, KN_SOFTMAX);
    kn_model_compile(mi, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_adam(1e-3f)});
    kn_status st = kn_model_fit(mi, ds, &(kn_fit_opts){.epochs = 1, .verbose = 0, .augment = {.noise = 0.1f}}, NULL);
    CHECK(st == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "augmentation would change"),
          "augmenting indices: %d '%s'", (int)st, kn_last_error(ctx));
    kn_model_free(mi);
    kn_dataset_free(ds);
    kn_model_free(m);
    kn_ctx_free(ctx);
}

int main(void) {
    const char *dev = getenv("KILN_TEST_DEVICE");
    if (dev && *dev && !kn_device_parse(dev, &device)) {
        printf("FAIL KILN_TEST_DEVICE=%s: not a device\n", dev);
        return 1;
    }
    if (device != KN_DEVICE_CPU) {
        kn_ctx *ctx = new_ctx(1, 1);
        kn_status st = kn_device_check(ctx, device);
        if (st) printf("test_embedding: SKIP: %s\n", kn_last_error(ctx));
        kn_ctx_free(ctx);
        if (st) return 77;
    } else { /* the op alone (test_cuda_ops compares the device's kernels with these) */
        test_gather_values();
        test_gather_threads(300, 24); /* rows and columns split */
        test_gather_threads(5000, 3); /* rows split, a row of 3 */
        test_gather_threads(40, 130); /* columns split, a ragged last block */
        test_gather_half();
    }
    test_golden();
    test_task();
    test_large_vocabulary();
    test_threads_equal();
    test_description();
    test_bad_descriptions();
    test_bad_indices();
    return checks_done("embedding");
}
