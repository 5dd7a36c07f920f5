/* test_passes.c — each pass of the graph optimizer (graph/passes/) on small hand-built
 * graphs: what it must rewrite (node count, ops, flags, fused labels, aliases) and what it
 * must leave alone, and that every rewritten graph computes what the same graph computes
 * with no pass at all (KN_PASS_NONE), on deterministic pseudo-random inputs. Outputs are
 * read only through kept tensors, parameters and their gradients: nothing else is
 * promised to survive the passes. */
#include "graph/ew_program.h"
#include "graph/graph.h"
#include "graph/passes/passes.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include "check.h"

enum { BATCH = 5, CLASSES = 3 };

/* ---------------------------------------------------------------- building and running */

/* A graph under test and the tensors the caller keeps, in build order (the same order in
 * the optimized and the reference graph, so outputs pair up by index). */
typedef struct {
    kn_graph *g;
    kn_tensor *keep[8];
    int n_keep;
    bool ok;
} built;

typedef void (*build_fn)(kn_graph *g, built *b);

static kn_tensor *keep(built *b, kn_tensor *t) {
    if (t && b->n_keep < 8) b->keep[b->n_keep++] = t;
    kn_graph_keep(b->g, t);
    return t;
}

/* Deterministic values in [-1, 1) from a tensor's name and an element index, so that two
 * graphs built by the same function get the same inputs and parameters. */
static float value_at(const char *name, int64_t i) {
    uint64_t h = 1469598103934665603ull;
    for (const char *c = name; *c; c++) h = (h ^ (uint8_t)*c) * 1099511628211ull;
    h += (uint64_t)i * 0x9E3779B97F4A7C15ull;
    h ^= h >> 30, h *= 0xbf58476d1ce4e5b9ull, h ^= h >> 27, h *= 0x94d049bb133111ebull, h ^= h >> 31;
    return (float)((double)(h >> 40) / 8388608.0) - 1.0f;
}

static void fill_tensor(kn_tensor *t, float scale) {
    for (int64_t k = 0; k < kn__numel(t); k++) {
        if (t->dtype == KN_I32) ((int32_t *)t->data)[k] = (int32_t)((k * 7 + 1) % CLASSES);
        else ((float *)t->data)[k] = scale * value_at(t->name, k);
    }
}

/* Inputs in [-1, 1); parameters in [-0.5, 0.5) (small enough that tanh and softmax stay
 * away from saturation, where the fused and unfused forms round differently). */
static void fill(kn_graph *g) {
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == KN_OP_INPUT) fill_tensor(g->nodes[i], 1.0f);
    for (int i = 0; i < g->n_params; i++) fill_tensor(g->params[i], 0.5f);
}

/* Builds, sets the passes, compiles for BATCH and fills the graph. */
static built make(kn_ctx *ctx, build_fn build, unsigned passes) {
    built b = {0};
    kn_graph_new(ctx, &b.g);
    build(b.g, &b);
    kn_graph_set_passes(b.g, passes);
    kn_status st = kn_graph_compile(b.g, BATCH, true);
    b.ok = st == KN_OK;
    if (b.ok) fill(b.g);
    return b;
}

/* The largest error of got against want, relative to each element's magnitude with a
 * floor of 1e-3 of the tensor's largest (so an element that cancels to ~0 is judged
 * against the terms it came from); NaN when either holds a NaN. */
static double rel_error(const float *got, const float *want, int64_t n) {
    double big = 0, worst = 0;
    for (int64_t k = 0; k < n; k++) big = fmax(big, fabs((double)want[k]));
    for (int64_t k = 0; k < n; k++) {
        double d = fabs((double)got[k] - (double)want[k]);
        if (isnan(got[k]) || isnan(want[k])) return NAN;
        double e = d == 0 ? 0 : d / (fabs((double)want[k]) + 1e-3 * big + 1e-30);
        if (e > worst) worst = e;
    }
    return worst;
}

/* Compares one tensor; returns its error (for the case's summary line). */
static double check_close(const char *what, const char *name, const float *got, const float *want, int64_t n, double tol) {
    double e = rel_error(got, want, n);
    CHECK(e <= tol, "%s: %s differs from the unoptimized graph: relative error %.3g > %.1g", what, name, e, tol);
    return e;
}

/* Runs b and a fresh KN_PASS_NONE build of the same graph once, and compares every kept
 * tensor, every parameter gradient and every parameter (updated when the graph trains). */
static void check_same(kn_ctx *ctx, const char *what, build_fn build, built *b, double tol) {
    built ref = make(ctx, build, KN_PASS_NONE);
    CHECK(b->ok && ref.ok, "%s: compile failed: %s", what, kn_last_error(ctx));
    if (b->ok && ref.ok) {
        double worst = 0;
        kn_graph_run(b->g);
        kn_graph_run(ref.g);
        for (int i = 0; i < b->n_keep; i++)
            worst = fmax(worst, check_close(what, b->keep[i]->name, b->keep[i]->data, ref.keep[i]->data,
                                            kn__numel(ref.keep[i]), tol));
        for (int i = 0; i < b->g->n_params && i < ref.g->n_params; i++) {
            kn_tensor *p = b->g->params[i], *q = ref.g->params[i];
            if (p->grad && q->grad)
                worst = fmax(worst, check_close(what, p->grad->name, p->grad->data, q->grad->data, kn__numel(q), tol));
            worst = fmax(worst, check_close(what, p->name, p->data, q->data, kn__numel(q), tol));
        }
        printf("%-44s %3d -> %3d nodes, max relative error %.2e\n", what, ref.g->n_nodes, b->g->n_nodes, worst);
    }
    kn_graph_free(ref.g);
}

/* ---------------------------------------------------------------- inspecting graphs */

static int count_op(const kn_graph *g, kn_op op) {
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) n += g->nodes[i]->op == op;
    return n;
}

static bool in_graph(const kn_graph *g, const kn_tensor *t) {
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i] == t) return !(t->flags & KN_FLAG_DEAD);
    return false;
}

static int count_folded(const kn_graph *g) {
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) n += (g->nodes[i]->flags & KN_FLAG_FOLDED) != 0;
    return n;
}

/* Nodes the run computes: not leaves, not folded. */
static int count_computed(const kn_graph *g) {
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const kn_tensor *t = g->nodes[i];
        n += t->op != KN_OP_INPUT && t->op != KN_OP_PARAM && t->op != KN_OP_CONST && !(t->flags & KN_FLAG_FOLDED);
    }
    return n;
}

static bool depends_on_param(const kn_tensor *t) {
    if (t->op == KN_OP_PARAM) return true;
    for (int s = 0; s < KN_MAX_SRC; s++)
        if (t->src[s] && depends_on_param(t->src[s])) return true;
    return false;
}

/* ---------------------------------------------------------------- shared graphs */

static kn_tensor *input2(kn_graph *g, int64_t cols, const char *name) {
    return kn_input(g, KN_F32, (int64_t[]){KN_BATCH, cols}, 2, name);
}

/* x (batch, 6) -> dense 8 relu -> dense 8 tanh -> dense 3 softmax; sparse cross-entropy
 * from probabilities plus an l2 term on w1; Adam. The step every fusion applies to. */
static void build_train_mlp(kn_graph *g, built *b) {
    kn_tensor *x = input2(g, 6, "x"), *labels = kn_input(g, KN_I32, (int64_t[]){KN_BATCH}, 1, "labels");
    kn_tensor *w1 = kn_param(g, (int64_t[]){6, 8}, 2, KN_INIT_GLOROT_UNIFORM, "w1");
    kn_tensor *b1 = kn_param(g, (int64_t[]){8}, 1, KN_INIT_ZEROS, "b1");
    kn_tensor *w2 = kn_param(g, (int64_t[]){8, 8}, 2, KN_INIT_GLOROT_UNIFORM, "w2");
    kn_tensor *b2 = kn_param(g, (int64_t[]){8}, 1, KN_INIT_ZEROS, "b2");
    kn_tensor *w3 = kn_param(g, (int64_t[]){8, 3}, 2, KN_INIT_GLOROT_UNIFORM, "w3");
    kn_tensor *b3 = kn_param(g, (int64_t[]){3}, 1, KN_INIT_ZEROS, "b3");
    kn_tensor *h1 = kn_act(g, kn_add(g, kn_matmul(g, x, w1), b1), KN_RELU);
    kn_tensor *h2 = kn_act(g, kn_add(g, kn_matmul(g, h1, w2), b2), KN_TANH);
    kn_tensor *p = kn_act(g, kn_add(g, kn_matmul(g, h2, w3), b3), KN_SOFTMAX);
    g->build_phase = KN_PHASE_LOSS;
    kn_tensor *ce = kn_loss_op(g, KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, p, labels, false);
    kn_tensor *loss = kn_add(g, ce, kn_scale(g, kn_sum_squares(g, w1), 0.01f));
    g->build_phase = KN_PHASE_FORWARD;
    keep(b, loss);
    kn_graph_backward(g, loss);
    kn_optimizer o = kn_adam(1e-2f);
    kn_graph_add_optimizer(g, &o);
}

/* y = (x W + b) * s + o, every operand but x a parameter: a dense layer followed by a
 * per-column scale and shift (batch norm at inference), for the fold pass. */
static void build_affine(kn_graph *g, built *b) {
    kn_tensor *x = input2(g, 4, "x");
    kn_tensor *w = kn_param(g, (int64_t[]){4, 3}, 2, KN_INIT_GLOROT_UNIFORM, "W");
    kn_tensor *bias = kn_param(g, (int64_t[]){3}, 1, KN_INIT_ZEROS, "b");
    kn_tensor *s = kn_param(g, (int64_t[]){3}, 1, KN_INIT_ONES, "s");
    kn_tensor *o = kn_param(g, (int64_t[]){3}, 1, KN_INIT_ZEROS, "o");
    keep(b, kn_add(g, kn_mul(g, kn_add(g, kn_matmul(g, x, w), bias), s), o));
}

static void build_affine_frozen(kn_graph *g, built *b) {
    build_affine(g, b);
    kn_graph_freeze_params(g);
}

/* ---------------------------------------------------------------- dce */

static void build_dead_branch(kn_graph *g, built *b) {
    kn_tensor *x = input2(g, 4, "x");
    kn_tensor *w = kn_param(g, (int64_t[]){4, 3}, 2, KN_INIT_GLOROT_UNIFORM, "W");
    kn_param(g, (int64_t[]){3}, 1, KN_INIT_ZEROS, "unused_param");
    input2(g, 4, "unused_input");
    kn_act(g, kn_scale(g, x, 2.0f), KN_RELU); /* read by nothing kept: two dead nodes */
    keep(b, kn_matmul(g, x, w));
    keep(b, kn_scale(g, x, 3.0f)); /* kept and read by nobody: stays */
}

static void build_nothing_dead(kn_graph *g, built *b) {
    kn_tensor *x = input2(g, 4, "x");
    kn_tensor *w = kn_param(g, (int64_t[]){4, 3}, 2, KN_INIT_GLOROT_UNIFORM, "W");
    kn_tensor *h = kn_matmul(g, x, w);
    keep(b, kn_add(g, kn_act(g, h, KN_RELU), kn_reshape(g, kn_scale(g, h, 0.5f), (int64_t[]){KN_BATCH, 3}, 2)));
}

static void test_dce(kn_ctx *ctx) {
    built b = make(ctx, build_dead_branch, KN_PASS_DCE);
    CHECK(b.ok, "dce: compile: %s", kn_last_error(ctx));
    if (b.ok) {
        CHECK(b.g->n_nodes == b.g->nodes_before - 2, "dce: %d nodes of %d left, expected the 2 dead ones gone",
              b.g->n_nodes, b.g->nodes_before);
        CHECK(count_op(b.g, KN_OP_ACT) == 0 && count_op(b.g, KN_OP_SCALE) == 1, "dce: the dead scale+relu survived");
        CHECK(count_op(b.g, KN_OP_INPUT) == 2 && count_op(b.g, KN_OP_PARAM) == 2, "dce: removed an input or parameter");
        CHECK(in_graph(b.g, b.keep[0]) && in_graph(b.g, b.keep[1]), "dce: removed a kept tensor");
        kn_graph_report r;
        CHECK(kn_graph_get_report(b.g, &r) == KN_OK && r.n_passes == 1 && strcmp(r.passes[0].name, "dce") == 0 &&
                  r.passes[0].nodes_after == b.g->n_nodes,
              "dce: the report does not show the one pass run");
    }
    check_same(ctx, "dce", build_dead_branch, &b, 0);
    kn_graph_free(b.g);

    /* nothing dead: the same nodes in the same order (a view's source included) */
    built ref = make(ctx, build_nothing_dead, KN_PASS_NONE);
    b = make(ctx, build_nothing_dead, KN_PASS_DCE);
    CHECK(b.ok && ref.ok && b.g->n_nodes == ref.g->n_nodes, "dce: a graph with nothing dead lost nodes");
    for (int i = 0; b.ok && ref.ok && i < b.g->n_nodes && i < ref.g->n_nodes; i++)
        CHECK(b.g->nodes[i]->op == ref.g->nodes[i]->op && strcmp(b.g->nodes[i]->name, ref.g->nodes[i]->name) == 0,
              "dce: node %d changed (%s, was %s)", i, b.g->nodes[i]->name, ref.g->nodes[i]->name);
    check_same(ctx, "dce (nothing dead)", build_nothing_dead, &b, 0);
    kn_graph_free(b.g);
    kn_graph_free(ref.g);
}

/* ---------------------------------------------------------------- fold */

static void build_const_chain(kn_graph *g, built *b) {
    kn_tensor *x = input2(g, 4, "x");
    kn_tensor *k = kn_scale(g, kn_scale(g, kn__const_scalar(g, 3.0f), 2.0f), 5.0f); /* 30, from constants only */
    keep(b, kn_mul(g, x, k));
}

static void build_affine_no_bias_frozen(kn_graph *g, built *b) {
    kn_tensor *x = input2(g, 4, "x");
    kn_tensor *w = kn_param(g, (int64_t[]){4, 3}, 2, KN_INIT_GLOROT_UNIFORM, "W");
    kn_tensor *s = kn_param(g, (int64_t[]){3}, 1, KN_INIT_ONES, "s");
    keep(b, kn_scale(g, kn_mul(g, kn_matmul(g, x, w), s), 0.5f));
    kn_graph_freeze_params(g);
}

/* A bias of one element broadcast as a scalar, then a per-column scale or shift: legal
 * graphs (ADD broadcasts a (1) operand as a scalar), so folding must keep them working. */
static kn_tensor *scalar_bias_layer(kn_graph *g, kn_tensor **row) {
    kn_tensor *x = input2(g, 4, "x");
    kn_tensor *w = kn_param(g, (int64_t[]){4, 3}, 2, KN_INIT_GLOROT_UNIFORM, "W");
    kn_tensor *bias = kn_param(g, (int64_t[]){1}, 1, KN_INIT_ZEROS, "b");
    *row = kn_param(g, (int64_t[]){3}, 1, KN_INIT_ONES, "s");
    kn_graph_freeze_params(g);
    return kn_add(g, kn_matmul(g, x, w), bias);
}

static void build_scalar_bias_scale(kn_graph *g, built *b) {
    kn_tensor *s, *h = scalar_bias_layer(g, &s);
    keep(b, kn_mul(g, h, s));
}

static void build_scalar_bias_shift(kn_graph *g, built *b) {
    kn_tensor *o, *h = scalar_bias_layer(g, &o);
    keep(b, kn_add(g, h, o));
}

/* Writes new values into the parameters named, in both graphs. */
static void change_param(kn_graph *g, const char *name) {
    for (int i = 0; i < g->n_params; i++)
        if (strcmp(g->params[i]->name, name) == 0)
            for (int64_t k = 0; k < kn__numel(g->params[i]); k++)
                ((float *)g->params[i]->data)[k] = 1.5f + value_at("changed", k);
}

static void test_fold(kn_ctx *ctx) {
    /* constants only: folded once, skipped by the run */
    built b = make(ctx, build_const_chain, KN_PASS_FOLD);
    CHECK(b.ok && count_folded(b.g) == 2, "fold: scale(scale(const)) not folded (%d folded)", b.ok ? count_folded(b.g) : -1);
    CHECK(b.ok && !(b.keep[0]->flags & KN_FLAG_FOLDED), "fold: x * k folded though x is an input");
    if (b.ok) {
        kn_graph_run(b.g);
        kn_tensor *k = b.keep[0]->src[1], *x = b.keep[0]->src[0];
        CHECK(*(float *)k->data == 30.0f, "fold: folded value %g, expected 30", (double)*(float *)k->data);
        /* a run does not recompute a folded value: one written over stays until a refold */
        *(float *)k->data = -1.0f;
        kn_graph_run(b.g);
        CHECK(((float *)b.keep[0]->data)[0] == -((float *)x->data)[0], "fold: the run recomputed a folded node");
        kn_graph_refold(b.g);
    }
    check_same(ctx, "fold (constants)", build_const_chain, &b, 0);
    kn_graph_free(b.g);

    /* frozen parameters: the scale and the shift go into the weights and the bias. The
     * product x (W s) rounds differently from (x W) s: float32 rounding, ~1e-6. */
    const double affine_tol = 1e-5;
    b = make(ctx, build_affine_frozen, KN_PASS_FOLD);
    if (b.ok) {
        kn_tensor *y = b.keep[0];
        CHECK(count_computed(b.g) == 2, "fold: %d nodes run per step, expected matmul and add", count_computed(b.g));
        CHECK(y->op == KN_OP_ADD && y->src[0]->op == KN_OP_MATMUL && (y->src[1]->flags & KN_FLAG_FOLDED) &&
                  (y->src[0]->src[1]->flags & KN_FLAG_FOLDED),
              "fold: y is not x (W s) + (b s + o) with folded weights and bias");
    }
    check_same(ctx, "fold (frozen affine)", build_affine_frozen, &b, affine_tol);
    /* new parameter values reach the folded weights after kn_graph_refold */
    built ref = make(ctx, build_affine_frozen, KN_PASS_NONE);
    if (b.ok && ref.ok) {
        const char *changed[] = {"W", "s", "o"};
        for (int i = 0; i < 3; i++) change_param(b.g, changed[i]), change_param(ref.g, changed[i]);
        kn_graph_refold(b.g);
        kn_graph_run(b.g);
        kn_graph_run(ref.g);
        check_close("fold after refold", "y", b.keep[0]->data, ref.keep[0]->data, kn__numel(ref.keep[0]), affine_tol);
    }
    kn_graph_free(ref.g);
    kn_graph_free(b.g);

    /* with fusion after it, the layer is one dense kernel over folded weights */
    b = make(ctx, build_affine_frozen, KN_PASS_FOLD | KN_PASS_FUSE);
    CHECK(b.ok && count_computed(b.g) == 1 && b.keep[0]->op == KN_OP_DENSE && strcmp(b.keep[0]->fused, "matmul+add") == 0,
          "fold+fuse: expected one dense 'matmul+add' node, got %d nodes, y '%s'", b.ok ? count_computed(b.g) : -1,
          b.ok ? b.keep[0]->fused : "");
    check_same(ctx, "fold+fuse (frozen affine)", build_affine_frozen, &b, affine_tol);
    kn_graph_free(b.g);

    /* (x W) * s * 0.5 without a bias: the matmul reads W * s * 0.5 */
    b = make(ctx, build_affine_no_bias_frozen, KN_PASS_FOLD);
    CHECK(b.ok && count_computed(b.g) == 1 && b.keep[0]->op == KN_OP_MATMUL,
          "fold: (x W) s 0.5 is not one matmul over folded weights (%d nodes)", b.ok ? count_computed(b.g) : -1);
    check_same(ctx, "fold (no bias)", build_affine_no_bias_frozen, &b, affine_tol);
    kn_graph_free(b.g);

    b = make(ctx, build_scalar_bias_scale, KN_PASS_FOLD);
    CHECK(b.ok, "fold: (x W + b) * s, b of shape (1), s of shape (3), fails to compile: %s", kn_last_error(ctx));
    if (b.ok) check_same(ctx, "fold (scalar bias, scale)", build_scalar_bias_scale, &b, affine_tol);
    kn_graph_free(b.g);
    b = make(ctx, build_scalar_bias_shift, KN_PASS_FOLD);
    CHECK(b.ok, "fold: (x W + b) + o, b of shape (1), o of shape (3), fails to compile: %s", kn_last_error(ctx));
    if (b.ok) check_same(ctx, "fold (scalar bias, shift)", build_scalar_bias_shift, &b, affine_tol);
    kn_graph_free(b.g);

    /* parameters not frozen: they change between runs, nothing reading them folds */
    ref = make(ctx, build_affine, KN_PASS_NONE);
    b = make(ctx, build_affine, KN_PASS_FOLD);
    CHECK(b.ok && count_folded(b.g) == 0 && b.g->n_nodes == ref.g->n_nodes,
          "fold: folded %d nodes of a graph whose parameters are not frozen", b.ok ? count_folded(b.g) : -1);
    check_same(ctx, "fold (not frozen)", build_affine, &b, 0);
    kn_graph_free(b.g);
    kn_graph_free(ref.g);

    /* training: the constant chain of the l2 term's gradient folds, nothing with a parameter */
    b = make(ctx, build_train_mlp, KN_PASS_FOLD);
    CHECK(b.ok && count_folded(b.g) > 0, "fold: nothing folded in a training graph with constant chains");
    for (int i = 0; b.ok && i < b.g->n_nodes; i++)
        CHECK(!(b.g->nodes[i]->flags & KN_FLAG_FOLDED) || !depends_on_param(b.g->nodes[i]),
              "fold: '%s' folded in a training graph but reads a parameter", b.g->nodes[i]->name);
    check_same(ctx, "fold (training)", build_train_mlp, &b, 0);
    CHECK(b.ok && kn_graph_freeze_params(b.g) == KN_ERR_STATE, "fold: froze the parameters of a compiled training graph");
    kn_graph_free(b.g);
    kn_graph *g;
    kn_graph_new(ctx, &g);
    built tb = {.g = g};
    build_train_mlp(g, &tb);
    CHECK(kn_graph_freeze_params(g) == KN_ERR_STATE, "fold: froze the parameters of a training graph");
    kn_graph_free(g);
}

/* ---------------------------------------------------------------- cse */

static void build_twin_matmuls(kn_graph *g, built *b) {
    kn_tensor *x = input2(g, 4, "x");
    kn_tensor *w = kn_param(g, (int64_t[]){4, 3}, 2, KN_INIT_GLOROT_UNIFORM, "W");
    /* two identical chains: matmul then relu, merged as a whole */
    keep(b, kn_add(g, kn_act(g, kn_matmul(g, x, w), KN_RELU), kn_act(g, kn_matmul(g, x, w), KN_RELU)));
}

static void build_distinct(kn_graph *g, built *b) {
    kn_tensor *x = input2(g, 4, "x"), *x2 = input2(g, 4, "x2");
    /* different factors, different inputs of one shape, different phases: none merge */
    kn_tensor *s = kn_add(g, kn_scale(g, x, 2.0f), kn_scale(g, x, 3.0f));
    kn_tensor *t = kn_add(g, kn_act(g, x, KN_TANH), kn_act(g, x2, KN_TANH));
    g->build_phase = KN_PHASE_LOSS;
    kn_tensor *in_loss = kn_act(g, x, KN_SIGMOID);
    g->build_phase = KN_PHASE_FORWARD;
    kn_tensor *in_forward = kn_act(g, x, KN_SIGMOID); /* a prediction cannot read a LOSS-phase value */
    keep(b, kn_add(g, s, t));
    keep(b, in_loss);
    keep(b, kn_scale(g, in_forward, 1.5f));
}

static void build_kept_twins(kn_graph *g, built *b) {
    kn_tensor *x = input2(g, 4, "x");
    kn_tensor *w = kn_param(g, (int64_t[]){4, 3}, 2, KN_INIT_GLOROT_UNIFORM, "W");
    kn_tensor *first = kn_matmul(g, x, w);
    kn_tensor *second = keep(b, kn_matmul(g, x, w)); /* the later twin is held by the caller */
    keep(b, kn_add(g, first, second));
    kn_tensor *c1 = kn__const_scalar(g, 2.0f), *c2 = kn__const_scalar(g, 2.0f);
    keep(b, kn_add(g, kn_mul(g, x, c1), kn_mul(g, x, c2)));
    /* a LOSS-phase twin of a FORWARD value may read it: every mode with LOSS has FORWARD */
    kn_tensor *in_forward = kn_act(g, x, KN_SIGMOID);
    g->build_phase = KN_PHASE_LOSS;
    keep(b, kn_add(g, kn_scale(g, in_forward, 2.0f), kn_act(g, x, KN_SIGMOID)));
    g->build_phase = KN_PHASE_FORWARD;
}

static void test_cse(kn_ctx *ctx) {
    built b = make(ctx, build_twin_matmuls, KN_PASS_CSE);
    CHECK(b.ok && count_op(b.g, KN_OP_MATMUL) == 1 && count_op(b.g, KN_OP_ACT) == 1,
          "cse: %d matmuls and %d relus left, expected one each", count_op(b.g, KN_OP_MATMUL), count_op(b.g, KN_OP_ACT));
    CHECK(b.ok && b.keep[0]->src[0] == b.keep[0]->src[1], "cse: the add does not read one relu twice");
    check_same(ctx, "cse", build_twin_matmuls, &b, 0);
    kn_graph_free(b.g);

    built ref = make(ctx, build_distinct, KN_PASS_NONE);
    b = make(ctx, build_distinct, KN_PASS_CSE);
    CHECK(b.ok && ref.ok && b.g->n_nodes == ref.g->n_nodes, "cse: merged nodes that differ (%d nodes of %d)",
          b.ok ? b.g->n_nodes : -1, ref.ok ? ref.g->n_nodes : -1);
    CHECK(b.ok && in_graph(b.g, b.keep[1]) && b.keep[2]->src[0] != b.keep[1], "cse: a FORWARD node reads a LOSS-phase twin");
    check_same(ctx, "cse (distinct)", build_distinct, &b, 0);
    kn_graph_free(b.g);
    kn_graph_free(ref.g);

    b = make(ctx, build_kept_twins, KN_PASS_CSE);
    if (b.ok) {
        kn_tensor *second = b.keep[0], *sum = b.keep[1];
        CHECK(in_graph(b.g, second) && sum->src[1] == second, "cse: removed the kept twin");
        CHECK(count_op(b.g, KN_OP_CONST) == 1 && count_op(b.g, KN_OP_MUL) == 1, "cse: equal constants not merged");
        CHECK(count_op(b.g, KN_OP_ACT) == 1, "cse: a LOSS-phase twin of a FORWARD sigmoid not merged");
    }
    check_same(ctx, "cse (kept)", build_kept_twins, &b, 0);
    kn_graph_free(b.g);
}

/* ---------------------------------------------------------------- simplify */

/* Each identity under a relu (so the identity itself is not kept): the relu must end up
 * reading x directly. */
static void build_identities(kn_graph *g, built *b) {
    kn_tensor *x = input2(g, 12, "x");
    kn_tensor *m = kn_input(g, KN_F32, (int64_t[]){3, 4}, 2, "m"); /* fixed shape: transposable */
    keep(b, kn_act(g, kn_mul(g, x, kn__const_scalar(g, 1.0f)), KN_RELU));
    keep(b, kn_act(g, kn_add(g, x, kn__const_scalar(g, 0.0f)), KN_RELU));
    keep(b, kn_act(g, kn_sub(g, x, kn__const_scalar(g, 0.0f)), KN_RELU));
    keep(b, kn_act(g, kn_scale(g, x, 1.0f), KN_RELU));
    keep(b, kn_act(g, kn_transpose(g, kn_transpose(g, m)), KN_RELU));
    keep(b, kn_act(g, kn_reshape(g, x, (int64_t[]){KN_BATCH, 12}, 2), KN_RELU));
    kn_tensor *there = kn_reshape(g, x, (int64_t[]){KN_BATCH, 3, 4}, 3);
    keep(b, kn_act(g, kn_reshape(g, there, (int64_t[]){KN_BATCH, 12}, 2), KN_RELU));
}

static void build_scales(kn_graph *g, built *b) {
    kn_tensor *x = input2(g, 4, "x");
    keep(b, kn_scale(g, kn_scale(g, x, 2.0f), 0.25f)); /* exact: one scale by 0.5 */
    keep(b, kn_scale(g, kn_scale(g, x, 3.0f), 0.1f));  /* 3 * 0.1 is not 0.3 in float: two scales */
    keep(b, kn_act(g, kn_scale(g, kn_scale(g, x, 2.0f), 0.5f), KN_RELU)); /* scale by 1: gone */
    keep(b, kn_mul(g, x, kn__const_scalar(g, 1.0f)));  /* x * 1 held by the caller: stays */
    keep(b, kn_mul(g, x, kn__const_scalar(g, 2.0f)));  /* not an identity */
    keep(b, kn_add(g, x, kn__const_scalar(g, 1.0f)));
}

static void test_simplify(kn_ctx *ctx) {
    built b = make(ctx, build_identities, KN_PASS_SIMPLIFY);
    if (b.ok) {
        for (int i = 0; i < b.n_keep; i++) {
            kn_tensor *src = b.keep[i]->src[0];
            CHECK(src->op == KN_OP_INPUT, "simplify: identity %d left a %s between the relu and its input", i,
                  kn__op_info(src->op)->name);
        }
        CHECK(count_op(b.g, KN_OP_CONST) == 0, "simplify: constants of removed identities left behind");
    }
    check_same(ctx, "simplify (identities)", build_identities, &b, 0);
    kn_graph_free(b.g);

    b = make(ctx, build_scales, KN_PASS_SIMPLIFY);
    if (b.ok) {
        kn_tensor **k = b.keep;
        CHECK(k[0]->op == KN_OP_SCALE && k[0]->src[0]->op == KN_OP_INPUT && k[0]->fparam[0] == 0.5f,
              "simplify: scale(scale(x, 2), 0.25) is not scale(x, 0.5)");
        CHECK(k[1]->op == KN_OP_SCALE && k[1]->src[0]->op == KN_OP_SCALE, "simplify: merged an inexact scale(scale(x, 3), 0.1)");
        CHECK(k[2]->src[0]->op == KN_OP_INPUT, "simplify: scale(scale(x, 2), 0.5) under a relu is not x");
        CHECK(k[3]->op == KN_OP_MUL && in_graph(b.g, k[3]), "simplify: removed a kept x * 1");
        CHECK(k[4]->op == KN_OP_MUL && k[5]->op == KN_OP_ADD, "simplify: rewrote x * 2 or x + 1");
        CHECK(count_op(b.g, KN_OP_SCALE) == 3, "simplify: %d scales, expected 3", count_op(b.g, KN_OP_SCALE));
    }
    check_same(ctx, "simplify (scales)", build_scales, &b, 0); /* each rule is exact */
    kn_graph_free(b.g);
}

static void build_reshape_chain(kn_graph *g, built *b) {
    kn_tensor *x = input2(g, 12, "x");
    kn_tensor *r = kn_reshape(g, kn_reshape(g, x, (int64_t[]){KN_BATCH, 3, 4}, 3), (int64_t[]){KN_BATCH, 2, 6}, 3);
    keep(b, kn_act(g, r, KN_RELU));
}

static void build_transposed_matmuls(kn_graph *g, built *b) {
    kn_tensor *a = kn_input(g, KN_F32, (int64_t[]){4, 3}, 2, "a"), *c = kn_input(g, KN_F32, (int64_t[]){4, 5}, 2, "c");
    kn_tensor *d = kn_input(g, KN_F32, (int64_t[]){5, 3}, 2, "d"), *e = kn_input(g, KN_F32, (int64_t[]){3, 5}, 2, "e");
    keep(b, kn_matmul(g, kn_transpose(g, a), c));                  /* (4,3)^T x (4,5) -> (3,5) */
    keep(b, kn_matmul(g, c, kn_transpose(g, e)));                  /* (4,5) x (3,5)^T -> (4,3) */
    keep(b, kn_matmul(g, kn_transpose(g, d), kn_transpose(g, c))); /* (5,3)^T x (4,5)^T -> (3,4) */
}

static void test_simplify_views(kn_ctx *ctx) {
    built b = make(ctx, build_reshape_chain, KN_PASS_SIMPLIFY);
    if (b.ok) {
        kn_tensor *r = b.keep[0]->src[0];
        CHECK(count_op(b.g, KN_OP_RESHAPE) == 1 && r->op == KN_OP_RESHAPE && r->src[0]->op == KN_OP_INPUT &&
                  r->alias == r->src[0],
              "simplify: reshape(reshape(x)) is not one view of x");
    }
    check_same(ctx, "simplify (reshapes)", build_reshape_chain, &b, 0);
    kn_graph_free(b.g);

    b = make(ctx, build_transposed_matmuls, KN_PASS_SIMPLIFY);
    if (b.ok) {
        kn_tensor **k = b.keep;
        CHECK(count_op(b.g, KN_OP_TRANSPOSE) == 0, "simplify: %d transposes left", count_op(b.g, KN_OP_TRANSPOSE));
        CHECK(k[0]->iparam[0] == 1 && k[0]->iparam[1] == 0 && k[0]->src[0]->op == KN_OP_INPUT,
              "simplify: matmul(transpose(a), c) has no transpose flag on a");
        CHECK(k[1]->iparam[0] == 0 && k[1]->iparam[1] == 1, "simplify: matmul(c, transpose(e)) has no transpose flag on e");
        CHECK(k[2]->iparam[0] == 1 && k[2]->iparam[1] == 1, "simplify: two transposed operands, not both flagged");
    }
    check_same(ctx, "simplify (transposes)", build_transposed_matmuls, &b, 0);
    kn_graph_free(b.g);
}

/* ---------------------------------------------------------------- fuse */

static void build_dense(kn_graph *g, built *b) {
    kn_tensor *x = input2(g, 4, "x");
    kn_tensor *w = kn_param(g, (int64_t[]){4, 3}, 2, KN_INIT_GLOROT_UNIFORM, "W");
    kn_tensor *bias = kn_param(g, (int64_t[]){3}, 1, KN_INIT_ZEROS, "b");
    keep(b, kn_act(g, kn_add(g, kn_matmul(g, x, w), bias), KN_RELU));
    keep(b, kn_act(g, kn_matmul(g, x, w), KN_TANH)); /* a second product of x and W: fuse alone does not merge it */
}

/* The pre-activation h has a second reader: the dense may take the bias, not the relu. A
 * matmul the caller keeps is not absorbed at all. */
static void build_dense_shared(kn_graph *g, built *b) {
    kn_tensor *x = input2(g, 4, "x");
    kn_tensor *w = kn_param(g, (int64_t[]){4, 3}, 2, KN_INIT_GLOROT_UNIFORM, "W");
    kn_tensor *bias = kn_param(g, (int64_t[]){3}, 1, KN_INIT_ZEROS, "b");
    kn_tensor *h = kn_add(g, kn_matmul(g, x, w), bias);
    keep(b, kn_act(g, h, KN_RELU));
    keep(b, kn_scale(g, h, 2.0f));
    kn_tensor *m = keep(b, kn_matmul(g, x, w));
    keep(b, kn_add(g, m, bias));
}

/* Zero padding before convolutions, as an imported model has it: into a 'valid' conv2d with
 * a bias and relu after it, into a 'same' depthwise one (the pads add up); a padding the
 * caller keeps, and one read twice, stay. */
static void build_padded_convs(kn_graph *g, built *b) {
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 7, 6, 3}, 4, "x");
    kn_tensor *w = kn_param(g, (int64_t[]){27, 4}, 2, KN_INIT_GLOROT_UNIFORM, "W");
    kn_tensor *bias = kn_param(g, (int64_t[]){4}, 1, KN_INIT_ZEROS, "b");
    kn_tensor *dk = kn_param(g, (int64_t[]){9, 6}, 2, KN_INIT_GLOROT_UNIFORM, "dk");
    keep(b, kn_act(g, kn_add(g, kn_conv2d(g, kn_pad2d(g, x, 1, 2, 0, 1), w, 3, 3, 2, 2, 1, 1, false), bias), KN_RELU));
    keep(b, kn_depthwise_conv2d(g, kn_pad2d(g, x, 2, 0, 1, 1), dk, 3, 3, 2, 1, 1, 1, true));
    kn_tensor *shared = kn_pad2d(g, x, 1, 1, 1, 1);
    keep(b, kn_conv2d(g, shared, w, 3, 3, 1, 1, 1, 1, false));
    keep(b, kn_depthwise_conv2d(g, shared, dk, 3, 3, 1, 1, 2, 2, false));
    /* max pools: after a relu (ResNet's stem) the pads go in; over signed x, or pads a whole
     * window could fall in, they stay */
    kn_tensor *r = kn_act(g, x, KN_RELU);
    keep(b, kn_max_pool2d(g, kn_pad2d(g, r, 1, 1, 1, 1), 3, 3, 2, 2, false));
    keep(b, kn_max_pool2d(g, kn_pad2d(g, x, 1, 1, 1, 1), 3, 3, 2, 2, false));
    keep(b, kn_max_pool2d(g, kn_pad2d(g, r, 0, 2, 2, 0), 2, 2, 1, 1, false));
}

static void build_chain(kn_graph *g, built *b) {
    kn_tensor *x = input2(g, 4, "x"), *a = input2(g, 4, "a"), *c = input2(g, 4, "c");
    keep(b, kn_act(g, kn_add(g, kn_mul(g, x, a), c), KN_RELU));
}

/* Wider chains: a row operand over rows longer than the kernel's 256-float block, a
 * scalar constant, more inputs than a program holds (4) and more ops than it holds (8). */
static void build_wide_chains(kn_graph *g, built *b) {
    kn_tensor *x = input2(g, 300, "x"), *row = kn_input(g, KN_F32, (int64_t[]){300}, 1, "row");
    keep(b, kn_act(g, kn_sub(g, kn_mul(g, x, row), kn__const_scalar(g, 0.25f)), KN_TANH));
    kn_tensor *in[5];
    for (int i = 0; i < 5; i++) {
        char name[8];
        snprintf(name, sizeof name, "in%d", i);
        in[i] = input2(g, 7, name);
    }
    kn_tensor *sum = in[0];
    for (int i = 1; i < 5; i++) sum = kn_add(g, sum, in[i]);
    keep(b, sum);
    kn_tensor *s = in[0];
    for (int i = 0; i < 10; i++) s = kn_act(g, kn_scale(g, s, 1.5f - 0.25f * (float)i), i % 2 ? KN_ELU : KN_LEAKY_RELU);
    keep(b, s);
}

/* A vector of 8 times a one-element vector: ADD/MUL broadcast the (1) operand along the
 * vector, so the fused loop must read its one element for all 8 outputs. */
static void build_vector_by_one(kn_graph *g, built *b) {
    kn_tensor *v = kn_input(g, KN_F32, (int64_t[]){8}, 1, "v"), *c = kn_input(g, KN_F32, (int64_t[]){8}, 1, "c");
    kn_tensor *one = kn_input(g, KN_F32, (int64_t[]){1}, 1, "one");
    keep(b, kn_act(g, kn_add(g, kn_mul(g, v, one), c), KN_SIGMOID));
}

static const kn_tensor *find_fused(const kn_graph *g, const char *label) {
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i]->fused, label) == 0) return g->nodes[i];
    return NULL;
}

/* Fusion reorders sums (a GEMM epilogue, softmax+cross-entropy from logits instead of
 * through clipped probabilities): float32 rounding, a few 1e-7 relative per op, so 1e-5
 * for a forward layer. A training step's gradients go through three more reordered
 * layers and sums (measured up to ~1e-5 relative on this MLP): 1e-4. */
static const double fuse_tol = 1e-5, train_tol = 1e-4;

static void test_fuse(kn_ctx *ctx) {
    built b = make(ctx, build_dense, KN_PASS_FUSE);
    if (b.ok) {
        kn_tensor *y = b.keep[0], *t = b.keep[1];
        CHECK(y->op == KN_OP_DENSE && strcmp(y->fused, "matmul+add+relu") == 0 && y->iparam[2] == KN_RELU,
              "fuse: relu(x W + b) is %s '%s', expected dense 'matmul+add+relu'", kn__op_info(y->op)->name, y->fused);
        CHECK(y->src[0]->op == KN_OP_INPUT && y->src[1]->op == KN_OP_PARAM && y->src[2] && y->src[2]->op == KN_OP_PARAM,
              "fuse: the dense does not read x, W and b");
        CHECK(t->op == KN_OP_DENSE && strcmp(t->fused, "matmul+tanh") == 0 && !t->src[2],
              "fuse: tanh(x W) is '%s', expected 'matmul+tanh'", t->fused);
        CHECK(count_computed(b.g) == 2, "fuse: %d nodes run, expected the two dense nodes", count_computed(b.g));
    }
    check_same(ctx, "fuse (dense)", build_dense, &b, fuse_tol);
    kn_graph_free(b.g);

    b = make(ctx, build_dense_shared, KN_PASS_FUSE);
    if (b.ok) {
        kn_tensor *relu = b.keep[0], *h = relu->src[0], *m = b.keep[2], *plus = b.keep[3];
        CHECK(relu->op == KN_OP_ACT && h->op == KN_OP_DENSE && h->iparam[2] == KN_LINEAR && strcmp(h->fused, "matmul+add") == 0,
              "fuse: a pre-activation read twice: relu is %s over %s '%s', expected act over dense 'matmul+add'",
              kn__op_info(relu->op)->name, kn__op_info(h->op)->name, h->fused);
        CHECK(m->op == KN_OP_MATMUL && plus->op == KN_OP_ADD && plus->src[0] == m, "fuse: absorbed a kept matmul");
    }
    check_same(ctx, "fuse (shared)", build_dense_shared, &b, fuse_tol);
    kn_graph_free(b.g);

    b = make(ctx, build_chain, KN_PASS_FUSE);
    if (b.ok) {
        kn_tensor *y = b.keep[0];
        CHECK(y->op == KN_OP_ELEMENTWISE && strcmp(y->fused, "mul+add+relu") == 0 && count_computed(b.g) == 1,
              "fuse: relu(x a + c) is %s '%s' in %d nodes, expected one elementwise 'mul+add+relu'",
              kn__op_info(y->op)->name, y->fused, count_computed(b.g));
        const kn_ew_program *prog = y->op == KN_OP_ELEMENTWISE ? y->aux : NULL;
        CHECK(prog && prog->n_inputs == 3 && prog->n_instr == 3, "fuse: the chain's program has %d inputs, %d ops",
              prog ? prog->n_inputs : -1, prog ? prog->n_instr : -1);
    }
    check_same(ctx, "fuse (chain)", build_chain, &b, 0); /* the same float ops in the same order */
    kn_graph_free(b.g);

    b = make(ctx, build_wide_chains, KN_PASS_FUSE);
    CHECK(b.ok && b.keep[0]->op == KN_OP_ELEMENTWISE && b.keep[1]->op == KN_OP_ADD && b.keep[1]->src[0]->op == KN_OP_ELEMENTWISE,
          "fuse: a row chain is not one loop, or five inputs were forced into one program");
    check_same(ctx, "fuse (wide chains)", build_wide_chains, &b, 0);
    kn_graph_free(b.g);

    b = make(ctx, build_vector_by_one, KN_PASS_FUSE);
    CHECK(b.ok && b.keep[0]->op == KN_OP_ELEMENTWISE, "fuse: sigmoid(v * one + c) not fused");
    check_same(ctx, "fuse (vector times a one-element vector)", build_vector_by_one, &b, 0);
    kn_graph_free(b.g);

    b = make(ctx, build_padded_convs, KN_PASS_FUSE);
    if (b.ok) {
        kn_tensor *c = b.keep[0], *d = b.keep[1];
        CHECK(c->op == KN_OP_CONV2D && strcmp(c->fused, "pad2d+conv2d+add+relu") == 0 && c->src[0]->op == KN_OP_INPUT,
              "fuse: relu(conv(pad(x)) + b) is %s '%s', expected conv2d 'pad2d+conv2d+add+relu' reading x",
              kn__op_info(c->op)->name, c->fused);
        kn__win w = kn__win_unpack(c);
        CHECK(w.pt == 1 && w.pl == 0 && w.oh == 4 && w.ow == 3, "fuse: the padded conv's window starts at (%d, %d), %dx%d",
              w.pt, w.pl, w.oh, w.ow);
        w = kn__win_unpack(d);
        CHECK(d->op == KN_OP_DEPTHWISE_CONV2D && strcmp(d->fused, "pad2d+depthwise_conv2d") == 0 && w.pt == 3 && w.pl == 2,
              "fuse: the 'same' depthwise conv of pad(x) is '%s', its window at (%d, %d), expected (3, 2): 'same' (1, 1) "
              "plus the padding's (2, 1)", d->fused, w.pt, w.pl);
        kn_tensor *mp = b.keep[4], *signed_mp = b.keep[5], *wide = b.keep[6];
        CHECK(strcmp(mp->fused, "pad2d+max_pool2d") == 0 && mp->src[0]->op == KN_OP_ACT,
              "fuse: a max pool of a padded relu is '%s' over %s, expected 'pad2d+max_pool2d' over the relu", mp->fused,
              kn__op_info(mp->src[0]->op)->name);
        CHECK(signed_mp->src[0]->op == KN_OP_PAD2D && wide->src[0]->op == KN_OP_PAD2D,
              "fuse: a max pool over signed values, or with pads as wide as its window, took the padding");
        CHECK(count_op(b.g, KN_OP_PAD2D) == 3, "fuse: %d pad2d nodes left, expected 3 (the one read twice, the signed "
              "and the wide max pools')", count_op(b.g, KN_OP_PAD2D));
    }
    check_same(ctx, "fuse (zero padding into convolutions)", build_padded_convs, &b, fuse_tol);
    kn_graph_free(b.g);

    /* a training step: dense forward, activation gradients in the backward matmuls,
     * softmax + cross-entropy from logits, one optimizer node */
    b = make(ctx, build_train_mlp, KN_PASS_FUSE);
    if (b.ok) {
        kn_graph *g = b.g;
        CHECK(count_op(g, KN_OP_MATMUL_ACT_GRAD) == 2, "fuse: %d matmul+act_grad nodes, expected 2 (relu, tanh)",
              count_op(g, KN_OP_MATMUL_ACT_GRAD));
        CHECK(find_fused(g, "matmul+relu_grad") && find_fused(g, "matmul+tanh_grad"), "fuse: activation gradients unlabelled");
        CHECK(find_fused(g, "matmul+add+relu") && find_fused(g, "matmul+add+tanh") && find_fused(g, "matmul+add"),
              "fuse: forward dense nodes missing");
        int losses = 0, fused_losses = 0, softmax = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            kn_tensor *t = g->nodes[i];
            losses += t->op == KN_OP_LOSS;
            fused_losses += t->op == KN_OP_LOSS && t->iparam[1] == 1 && t->src[0]->op == KN_OP_DENSE;
            softmax += t->op == KN_OP_ACT && t->iparam[0] == KN_SOFTMAX;
        }
        CHECK(losses == 1 && fused_losses == 1, "fuse: the loss does not read the logits (from_logits)");
        CHECK(softmax == 0, "fuse: a softmax nobody keeps is still computed");
        CHECK(count_op(g, KN_OP_LOSS_GRAD) == 1 && count_op(g, KN_OP_ACT_GRAD) == 0,
              "fuse: softmax gradient not folded into the loss gradient");
        CHECK(count_op(g, KN_OP_OPTIMIZER) == 1 && count_op(g, KN_OP_OPT_UPDATE) == 0,
              "fuse: %d optimizer and %d per-parameter update nodes, expected 1 and 0", count_op(g, KN_OP_OPTIMIZER),
              count_op(g, KN_OP_OPT_UPDATE));
    }
    check_same(ctx, "fuse (training step)", build_train_mlp, &b, train_tol);
    kn_graph_free(b.g);
}

/* ---------------------------------------------------------------- inplace */

static void build_inplace(kn_graph *g, built *b) {
    kn_tensor *x = input2(g, 4, "x");
    kn_tensor *w = kn_param(g, (int64_t[]){4, 4}, 2, KN_INIT_GLOROT_UNIFORM, "W");
    kn_tensor *h = kn_matmul(g, x, w);
    kn_tensor *r = kn_act(g, h, KN_RELU);    /* h read for the last time: over h */
    keep(b, kn_scale(g, r, 2.0f));
    kn_tensor *h2 = kn_matmul(g, x, w);
    kn_tensor *r2 = kn_act(g, h2, KN_TANH);  /* h2 read again below: not over h2 */
    keep(b, kn_add(g, r2, h2));
    kn_tensor *k = keep(b, kn_matmul(g, x, w));
    keep(b, kn_act(g, k, KN_SIGMOID));        /* k kept: not over k */
    keep(b, kn_act(g, x, KN_ELU));            /* x an input: not over x */
    keep(b, kn_scale(g, w, 3.0f));            /* W a parameter: not over W */
}

/* A kept tensor made in place over a temporary, then read through a view by the last
 * node: the last node must not write over the kept tensor's memory. */
static void build_inplace_kept_view(kn_graph *g, built *b) {
    kn_tensor *x = input2(g, 4, "x");
    kn_tensor *w = kn_param(g, (int64_t[]){4, 4}, 2, KN_INIT_GLOROT_UNIFORM, "W");
    kn_tensor *k = keep(b, kn_act(g, kn_matmul(g, x, w), KN_RELU));
    keep(b, kn_scale(g, kn_reshape(g, k, (int64_t[]){KN_BATCH, 2, 2}, 3), 2.0f));
}

static void test_inplace(kn_ctx *ctx) {
    built b = make(ctx, build_inplace, KN_PASS_INPLACE);
    if (b.ok) {
        kn_tensor **k = b.keep;
        kn_tensor *r = k[0]->src[0], *h = r->src[0], *r2 = k[1]->src[0], *h2 = r2->src[0];
        CHECK(r->alias == h && r->data == h->data, "inplace: relu over a matmul read for the last time is not in place");
        CHECK(!r2->alias && r2->data != h2->data, "inplace: tanh written over a matmul that is read again");
        CHECK(!k[3]->alias && k[3]->data != k[2]->data, "inplace: sigmoid written over a kept tensor");
        CHECK(!k[4]->alias && k[4]->data != k[4]->src[0]->data, "inplace: elu written over a graph input");
        CHECK(!k[5]->alias && k[5]->data != k[5]->src[0]->data, "inplace: scale written over a parameter");
        kn_graph_run(b.g);
        kn_tensor *x = k[4]->src[0];
        bool same = true;
        for (int64_t i = 0; i < kn__numel(x); i++) same &= ((float *)x->data)[i] == value_at("x", i);
        CHECK(same, "inplace: a run changed the graph input");
    }
    check_same(ctx, "inplace", build_inplace, &b, 0);
    kn_graph_free(b.g);

    b = make(ctx, build_inplace_kept_view, KN_PASS_INPLACE);
    CHECK(b.ok && b.keep[1]->data != b.keep[0]->data,
          "inplace: the last node writes over a kept tensor it reads through a view (kept relu %s over its matmul)",
          b.ok && b.keep[0]->alias ? "is" : "is not");
    check_same(ctx, "inplace (kept tensor through a view)", build_inplace_kept_view, &b, 0);
    kn_graph_free(b.g);

    b = make(ctx, build_train_mlp, KN_PASS_INPLACE);
    int aliased = 0;
    for (int i = 0; b.ok && i < b.g->n_nodes; i++) aliased += b.g->nodes[i]->alias != NULL;
    CHECK(aliased > 0, "inplace: nothing in place in a training step");
    check_same(ctx, "inplace (training step)", build_train_mlp, &b, 0);
    kn_graph_free(b.g);
}

/* ---------------------------------------------------------------- all passes, parsing */

static void test_all(kn_ctx *ctx) {
    static const char *order[] = {"dce", "fold", "cse", "simplify", "fuse", "inplace"};
    built b = make(ctx, build_train_mlp, KN_PASS_ALL);
    kn_graph_report r = {0};
    CHECK(b.ok && kn_graph_get_report(b.g, &r) == KN_OK && r.n_passes == 6, "all: %d passes reported", r.n_passes);
    for (int i = 0; i < r.n_passes && i < 6; i++)
        CHECK(strcmp(r.passes[i].name, order[i]) == 0, "all: pass %d is %s, expected %s", i, r.passes[i].name, order[i]);
    CHECK(r.nodes_after < r.nodes_before && r.n_fused > 0, "all: %d -> %d nodes, %d fused", r.nodes_before, r.nodes_after,
          r.n_fused);
    CHECK(b.ok && kn_graph_set_passes(b.g, KN_PASS_NONE) == KN_ERR_STATE, "set_passes after compile accepted");
    check_same(ctx, "all passes (training step)", build_train_mlp, &b, train_tol);
    kn_graph_free(b.g);
    kn_graph *g;
    kn_graph_new(ctx, &g);
    CHECK(kn_graph_set_passes(g, 1u << 6) == KN_ERR_INVALID_ARGUMENT, "set_passes: unknown bit accepted");
    kn_graph_free(g);
}

static void test_parse(kn_ctx *ctx) {
    static const struct { const char *text; unsigned bits; } good[] = {
        {"all", KN_PASS_ALL},
        {"none", KN_PASS_NONE},
        {"dce,fold", KN_PASS_DCE | KN_PASS_FOLD},
        {"inplace", KN_PASS_INPLACE},
        {"-fuse,-inplace", KN_PASS_ALL & ~(KN_PASS_FUSE | KN_PASS_INPLACE)},
        {"-cse", KN_PASS_ALL & ~KN_PASS_CSE},
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        unsigned bits = 0xdead;
        kn_status st = kn_passes_parse(ctx, good[i].text, &bits);
        CHECK(st == KN_OK && bits == good[i].bits, "parse '%s': status %s, bits 0x%x, expected 0x%x", good[i].text,
              kn_status_name(st), bits, good[i].bits);
    }
    static const char *bad[] = {"bogus", "dce,-fuse", "", "dce,bogus", "-", "ALL"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        unsigned bits = 0xdead;
        kn_status st = kn_passes_parse(ctx, bad[i], &bits);
        CHECK(st == KN_ERR_INVALID_ARGUMENT && bits == 0xdead, "parse '%s' accepted (status %s)", bad[i], kn_status_name(st));
    }
    kn_passes_parse(ctx, "dce,bogus", &(unsigned){0});
    CHECK(strstr(kn_last_error(ctx), "bogus") != NULL, "parse: the message does not name the pass: %s", kn_last_error(ctx));
    CHECK(kn_pass_name(KN_PASS_SIMPLIFY) && strcmp(kn_pass_name(KN_PASS_SIMPLIFY), "simplify") == 0 && !kn_pass_name(3),
          "kn_pass_name");
}

int main(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 7, .log_level = KN_LOG_WARN}, &ctx);
    test_dce(ctx);
    test_fold(ctx);
    test_cse(ctx);
    test_simplify(ctx);
    test_simplify_views(ctx);
    test_fuse(ctx);
    test_inplace(ctx);
    test_all(ctx);
    test_parse(ctx);
    kn_ctx_free(ctx);
    printf(failures ? "%d check(s) failed\n" : "graph optimizer pass checks passed\n", failures);
    return failures ? 1 : 0;
}
