/* test_gradcheck.c — finite-difference gradient check of every differentiable op (and of
 * the builders composed of them: the sequence ops, global pooling): the gradient kiln's
 * autodiff builds is compared with central differences of the loss sum(op(x) * r) for a
 * fixed random r, element by element, in float32. */
#include "graph/graph.h"
#include "backend/cpu/cpu.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include "check.h"

typedef kn_tensor *(*build_fn)(kn_graph *g, kn_tensor **in, const void *arg);

typedef struct {
    int64_t shape[3][4];
    int ndim[3];
    int n_in;            /* differentiable inputs (params) */
    bool away_from_zero; /* keep values away from kinks (relu, mae) */
    bool positive;       /* probabilities: (0.05, 1) */
    bool distinct;       /* values 0.05 apart (a permutation), so a max never changes under eps */
} case_shapes;

static uint64_t rng = 12345;
static float frand(void) { /* uniform in [-1, 1) */
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

/* A training run (dropout drops) without the backward pass; no update, so the step, and
 * dropout's mask, stay those of the analytic gradient's run. */
static float run_loss(kn_graph *g, kn_tensor *loss) {
    kn__graph_run_phases(g, KN_PHASE_FORWARD | KN_PHASE_LOSS | KN_PHASE_PREDICT | KN_RUN_TRAINING);
    return *(float *)loss->data;
}

/* Builds op(inputs), reduces it to a scalar with a random projection, and compares
 * gradients. Extra non-differentiable inputs (labels, targets) are filled by fill_extra. */
static void gradcheck(const char *name, build_fn build, const void *arg, const case_shapes *cs,
                      void (*fill_extra)(kn_graph *g)) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 1}, &ctx);
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *in[3] = {0};
    for (int i = 0; i < cs->n_in; i++) {
        char pname[16];
        snprintf(pname, sizeof pname, "in%d", i);
        in[i] = kn_param(g, cs->shape[i], cs->ndim[i], KN_INIT_ZEROS, pname);
    }
    g->build_phase = KN_PHASE_LOSS;
    kn_tensor *y = build(g, in, arg);
    kn_tensor *loss = y;
    if (y && y->ndim > 0) {
        kn_tensor *r = kn_input(g, KN_F32, y->shape, y->ndim, "projection");
        loss = kn__sum(g, kn_mul(g, y, r));
    }
    g->build_phase = 0;
    kn_graph_keep(g, loss); /* read after runs: the optimizer must not drop or reuse it */
    kn_status st = kn_graph_backward(g, loss);
    if (!st) st = kn_graph_compile(g, 1, false);
    CHECK(st == KN_OK, "%s: build failed: %s", name, kn_last_error(ctx));
    if (st) {
        kn_graph_free(g);
        kn_ctx_free(ctx);
        return;
    }
    for (int i = 0; i < cs->n_in; i++) {
        float *x = in[i]->data;
        for (int64_t k = 0; k < kn__numel(in[i]); k++) {
            float v = frand();
            if (cs->away_from_zero) v = v < 0 ? v - 0.2f : v + 0.2f;
            if (cs->positive) v = 0.05f + 0.9f * (0.5f * v + 0.5f);
            if (cs->distinct) v = 0.05f * (float)((k * 7919 + i * 13) % kn__numel(in[i])) - 1.0f;
            x[k] = v;
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        if (t->op == KN_OP_INPUT && strcmp(t->name, "projection") == 0)
            for (int64_t k = 0; k < kn__numel(t); k++) ((float *)t->data)[k] = frand();
    }
    if (fill_extra) fill_extra(g);
    kn_graph_run(g); /* forward + backward: analytic gradients */
    double worst = 0;
    for (int i = 0; i < cs->n_in; i++) {
        float *x = in[i]->data;
        const float *grad = in[i]->grad ? in[i]->grad->data : NULL;
        CHECK(grad != NULL, "%s: input %d has no gradient", name, i);
        if (!grad) continue;
        for (int64_t k = 0; k < kn__numel(in[i]); k++) {
            const float eps = 1e-2f;
            float keep = x[k];
            x[k] = keep + eps;
            double lp = run_loss(g, loss);
            x[k] = keep - eps;
            double lm = run_loss(g, loss);
            x[k] = keep;
            double numeric = (lp - lm) / (2.0 * eps);
            double err = fabs(numeric - grad[k]) / (fabs(numeric) + fabs(grad[k]) + 1e-2);
            if (err > worst) worst = err;
            /* float32 central differences with eps 1e-2 carry ~1e-3 relative error from
             * rounding and O(eps^2) truncation; 2e-2 leaves room for curvature. */
            CHECK(err < 2e-2, "%s: d/d in%d[%lld]: autodiff %.6g vs numeric %.6g", name, i, (long long)k,
                  (double)grad[k], numeric);
        }
    }
    printf("%-40s max relative error %.2e\n", name, worst);
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

/* ---------------------------------------------------------------- builders */

static kn_tensor *b_matmul(kn_graph *g, kn_tensor **in, const void *arg) {
    const int *t = arg;
    return kn_matmul_t(g, in[0], in[1], t[0], t[1]);
}
static kn_tensor *b_add(kn_graph *g, kn_tensor **in, const void *arg) { (void)arg; return kn_add(g, in[0], in[1]); }
static kn_tensor *b_sub(kn_graph *g, kn_tensor **in, const void *arg) { (void)arg; return kn_sub(g, in[0], in[1]); }
static kn_tensor *b_mul(kn_graph *g, kn_tensor **in, const void *arg) { (void)arg; return kn_mul(g, in[0], in[1]); }
static kn_tensor *b_scale(kn_graph *g, kn_tensor **in, const void *arg) { (void)arg; return kn_scale(g, in[0], -1.7f); }
static kn_tensor *b_copy(kn_graph *g, kn_tensor **in, const void *arg) { (void)arg; return kn__copy(g, in[0]); }
/* rate 0.4 on (6, 10): a fixed mask (no update between the runs), some of it dropped */
static kn_tensor *b_dropout(kn_graph *g, kn_tensor **in, const void *arg) { (void)arg; return kn_dropout(g, in[0], 0.4f); }
/* the noise op's modes (KN_OP_NOISE), likewise fixed draws between the runs: Gaussian noise
 * (gradient 1), Gaussian dropout (the forward's factors), alpha dropout (a where kept) */
static kn_tensor *b_gaussian_noise(kn_graph *g, kn_tensor **in, const void *arg) {
    (void)arg;
    return kn_gaussian_noise(g, in[0], 0.5f);
}
static kn_tensor *b_gaussian_dropout(kn_graph *g, kn_tensor **in, const void *arg) {
    (void)arg;
    return kn_gaussian_dropout(g, in[0], 0.4f);
}
static kn_tensor *b_alpha_dropout(kn_graph *g, kn_tensor **in, const void *arg) {
    (void)arg;
    return kn_alpha_dropout(g, in[0], 0.4f);
}
/* batch normalization in training (batch statistics) over x's last dimension, gamma and
 * beta trained; the moving statistics are parameters of no gradient */
static kn_tensor *b_batch_norm(kn_graph *g, kn_tensor **in, const void *arg) {
    (void)arg;
    int64_t c = in[0]->shape[in[0]->ndim - 1];
    kn_tensor *mm = kn_param(g, (int64_t[]){c}, 1, KN_INIT_ZEROS, "moving_mean");
    kn_tensor *mv = kn_param(g, (int64_t[]){c}, 1, KN_INIT_ONES, "moving_variance");
    return kn_batch_norm(g, in[0], in[1], in[2], mm, mv, 0.99f, 1e-3f);
}
/* layer normalization over x's last dimension: gamma (when scale) is in[1], beta (when
 * center) the next input */
typedef struct { bool center, scale; } ln_arg;
static kn_tensor *b_layer_norm(kn_graph *g, kn_tensor **in, const void *arg) {
    const ln_arg *a = arg;
    return kn_layer_norm(g, in[0], a->scale ? in[1] : NULL, a->center ? in[1 + a->scale] : NULL, 1e-3f);
}
/* each row of x's last axis over its L2 norm (arg: epsilon) */
static kn_tensor *b_unit_norm(kn_graph *g, kn_tensor **in, const void *arg) {
    return kn_unit_norm(g, in[0], *(const float *)arg);
}
/* group normalization of x into groups: gamma (when scale) in[1], beta (when center) the next */
typedef struct { bool center, scale; int groups; } gn_arg;
static kn_tensor *b_group_norm(kn_graph *g, kn_tensor **in, const void *arg) {
    const gn_arg *a = arg;
    return kn_group_norm(g, in[0], a->scale ? in[1] : NULL, a->center ? in[1 + a->scale] : NULL, a->groups, 1e-3f);
}
static kn_tensor *b_transpose(kn_graph *g, kn_tensor **in, const void *arg) { (void)arg; return kn_transpose(g, in[0]); }
/* joined twice, the second time to itself, so each input's gradient sums two slices */
static kn_tensor *b_concat(kn_graph *g, kn_tensor **in, const void *arg) {
    (void)arg;
    kn_tensor *j = kn_concat(g, in[0], in[1]);
    return kn_concat(g, j, kn_mul(g, j, j));
}
static kn_tensor *b_maximum(kn_graph *g, kn_tensor **in, const void *arg) {
    (void)arg;
    return kn_maximum(g, in[0], in[1]);
}
/* rows of the table (in[0], (7, 3)) picked by ids (an input, fill_ids), then squared so the
 * gradient depends on the values; repeated ids sum, bad ones (-1, 7, 2.5) add nothing */
static kn_tensor *b_gather(kn_graph *g, kn_tensor **in, const void *arg) {
    (void)arg;
    kn_tensor *ids = kn_input(g, KN_F32, (int64_t[]){3, 5}, 2, "ids");
    kn_tensor *y = kn_gather(g, ids, in[0]);
    return kn_mul(g, y, y);
}
static void fill_ids(kn_graph *g) {
    static const float ids[15] = {0, 3, 3, 6, 1, 3, -1, 2, 2, 7, 5, 2.5f, 0, 3, 6};
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == KN_OP_INPUT && strcmp(g->nodes[i]->name, "ids") == 0) memcpy(g->nodes[i]->data, ids, sizeof ids);
}
/* (3, 5) viewed as (5, 3), then squared so the gradient depends on the value */
/* columns [1, 4) of x's last axis, then a product so the gradient is not uniform */
static kn_tensor *b_slice(kn_graph *g, kn_tensor **in, const void *arg) {
    (void)arg;
    kn_tensor *s = kn__slice_last(g, in[0], 1, 3);
    return kn_mul(g, s, s);
}
/* a recurrent layer over x (2, 4 steps, 3 features), 3 units: x, kernel and recurrent
 * kernel are the inputs, the bias a fixed constant 0.3 (bias_in: the bias, kernel and
 * recurrent kernel are, x a fixed glorot draw) */
/* masked: a mask input "rnn_mask" (2, 4) (fill_rnn_mask) drops steps of both rows; drop,
 * rec_drop: kn_rnn_dropout's rates (the training runs' masks) */
typedef struct {
    kn_rnn_cell cell;
    bool seq, bias_in;
    kn_activation act, ract;
    bool back, masked;
    float drop, rec_drop;
} rnn_arg;
static kn_tensor *b_rnn(kn_graph *g, kn_tensor **in, const void *arg) {
    const rnn_arg *a = arg;
    int64_t gh = a->cell == KN_RNN_LSTM ? 12 : a->cell == KN_RNN_GRU ? 9 : 3;
    int64_t bshape[2] = {a->cell == KN_RNN_GRU ? 2 : gh, gh};
    kn_tensor *x = in[0], *bias;
    if (a->bias_in) {
        bias = in[0];
        x = kn_param(g, (int64_t[]){2, 4, 3}, 3, KN_INIT_GLOROT_UNIFORM, "x");
    } else {
        bias = kn_param(g, a->cell == KN_RNN_GRU ? bshape : bshape + 1, a->cell == KN_RNN_GRU ? 2 : 1, KN_INIT_CONSTANT,
                        "bias");
        if (bias) bias->init_value = 0.3f;
    }
    kn_tensor *mask = a->masked ? kn_input(g, KN_F32, (int64_t[]){2, 4}, 2, "rnn_mask") : NULL;
    return kn_rnn_dropout(g, a->cell, x, in[1], in[2], bias, a->act, a->ract,
                          (a->seq ? KN_RNN_RETURN_SEQUENCES : 0) | (a->back ? KN_RNN_GO_BACKWARDS : 0), mask, a->drop,
                          a->rec_drop);
}
static kn_tensor *b_spatial_dropout(kn_graph *g, kn_tensor **in, const void *arg) {
    (void)arg;
    return kn_spatial_dropout(g, in[0], 0.4f);
}
/* row 0 drops its first and third steps (padding before and between), row 1 its last two */
static void fill_rnn_mask(kn_graph *g) {
    static const float mask[8] = {0, 1, 0, 1, 1, 1, 0, 0};
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == KN_OP_INPUT && strcmp(g->nodes[i]->name, "rnn_mask") == 0)
            memcpy(g->nodes[i]->data, mask, sizeof mask);
}
/* attention over heads: q, k, v the inputs (self: one input as all three) */
/* masks: 1 a query mask, 2 a key mask (inputs "qmask" (2, Tq) and "kmask" (2, Tk), fill_masks) */
typedef struct { int heads; unsigned flags; bool self; float dropout; int masks; } att_arg;
static kn_tensor *b_attention(kn_graph *g, kn_tensor **in, const void *arg) {
    const att_arg *a = arg;
    kn_tensor *q = in[0], *k = a->self ? in[0] : in[1], *v = a->self ? in[0] : in[2];
    kn_tensor *qm = a->masks & 1 ? kn_input(g, KN_F32, (int64_t[]){2, q->shape[1]}, 2, "qmask") : NULL;
    kn_tensor *km = a->masks & 2 ? kn_input(g, KN_F32, (int64_t[]){2, k->shape[1]}, 2, "kmask") : NULL;
    return kn_attention_masked(g, q, k, v, a->heads, a->flags, a->dropout, qm, km);
}
/* query masks keep all but step 2 of sample 0; key masks drop sample 0's step 1 and its last,
 * and all of sample 1's but its last two (causal: its first rows see none, uniform) */
static void fill_masks(kn_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        if (t->op != KN_OP_INPUT || (strcmp(t->name, "qmask") && strcmp(t->name, "kmask"))) continue;
        float *m = t->data;
        int64_t T = t->shape[1];
        bool key = t->name[0] == 'k';
        for (int64_t j = 0; j < T; j++) {
            m[j] = key ? (j != 1 && j != T - 1) : j != 2;
            m[T + j] = key ? j >= T - 2 : 1.0f;
        }
    }
}
/* the mean over the steps a mask keeps: the mask from ids through kn__mask_nonzero (sample
 * 1's keeps none: zeros, no gradient) */
static kn_tensor *b_masked_mean(kn_graph *g, kn_tensor **in, const void *arg) {
    (void)arg;
    kn_tensor *ids = kn_input(g, KN_F32, (int64_t[]){2, 4}, 2, "ids");
    kn_tensor *y = kn_masked_mean(g, in[0], kn__mask_nonzero(g, ids));
    return kn_mul(g, y, y);
}
static void fill_mask_ids(kn_graph *g) {
    static const float ids[8] = {3, 0, 2, 0, 0, 0, 0, 0};
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == KN_OP_INPUT && strcmp(g->nodes[i]->name, "ids") == 0) memcpy(g->nodes[i]->data, ids, sizeof ids);
}
static kn_tensor *b_reshape(kn_graph *g, kn_tensor **in, const void *arg) {
    (void)arg;
    kn_tensor *v = kn_reshape(g, in[0], (int64_t[]){5, 3}, 2);
    return kn_mul(g, v, v);
}
static kn_tensor *b_act(kn_graph *g, kn_tensor **in, const void *arg) {
    return kn_act(g, in[0], *(const kn_activation *)arg);
}
/* an activation with its alpha (leaky_relu's slope, elu's): arg {activation, alpha} */
typedef struct { kn_activation act; float alpha; } act_alpha_arg;
static kn_tensor *b_act_alpha(kn_graph *g, kn_tensor **in, const void *arg) {
    const act_alpha_arg *a = arg;
    return kn__act_alpha(g, in[0], a->act, a->alpha);
}
static kn_tensor *b_sum_rows(kn_graph *g, kn_tensor **in, const void *arg) { (void)arg; return kn_sum_rows(g, in[0]); }
static kn_tensor *b_sum(kn_graph *g, kn_tensor **in, const void *arg) { (void)arg; return kn__sum(g, in[0]); }
static kn_tensor *b_sum_squares(kn_graph *g, kn_tensor **in, const void *arg) { (void)arg; return kn_sum_squares(g, in[0]); }

typedef struct { int kh, kw, sh, sw, dh, dw; bool same; } win_arg;
static kn_tensor *b_conv2d(kn_graph *g, kn_tensor **in, const void *arg) {
    const win_arg *w = arg;
    return kn_conv2d(g, in[0], in[1], w->kh, w->kw, w->sh, w->sw, w->dh, w->dw, w->same);
}
/* a op b (0 add, 1 sub, 2 mul): with per-sample broadcasts, ops_bcast.c's nodes */
static kn_tensor *b_binop(kn_graph *g, kn_tensor **in, const void *arg) {
    int op = *(const int *)arg;
    return op == 0 ? kn_add(g, in[0], in[1]) : op == 1 ? kn_sub(g, in[0], in[1]) : kn_mul(g, in[0], in[1]);
}
/* kn_permute: arg int[4], the perm's length then its axes */
static kn_tensor *b_permute(kn_graph *g, kn_tensor **in, const void *arg) {
    const int *p = arg;
    return kn_mul(g, kn_permute(g, in[0], p + 1, p[0]), in[1]); /* (times weights: each place its own slope) */
}
/* kn__depth_taps: arg int[6] (D, taps, stride, dilation, front, OD), times weights */
static kn_tensor *b_depth_taps(kn_graph *g, kn_tensor **in, const void *arg) {
    const int *q = arg;
    return kn_mul(g, kn__depth_taps(g, in[0], q[0], q[1], q[2], q[3], q[4], q[5]), in[1]);
}
/* kn__depth_taps_sum (the taps' adjoint, conv3d_transpose's depth part), times weights */
static kn_tensor *b_depth_taps_sum(kn_graph *g, kn_tensor **in, const void *arg) {
    const int *q = arg;
    return kn_mul(g, kn__depth_taps_sum(g, in[0], q[0], q[1], q[2], q[3], q[4], q[5]), in[1]);
}
typedef struct { win_arg a; int groups; } group_arg;
static kn_tensor *b_grouped_conv2d(kn_graph *g, kn_tensor **in, const void *arg) {
    const group_arg *ga = arg;
    const win_arg *w = &ga->a;
    return kn_grouped_conv2d(g, in[0], in[1], w->kh, w->kw, w->sh, w->sw, w->dh, w->dw, w->same, ga->groups);
}
static kn_tensor *b_depthwise(kn_graph *g, kn_tensor **in, const void *arg) {
    const win_arg *w = arg;
    return kn_depthwise_conv2d(g, in[0], in[1], w->kh, w->kw, w->sh, w->sw, w->dh, w->dw, w->same);
}
/* padding and cropping (int[4]: top, bottom, left, right), upsampling (int[3]: sh, sw,
 * kn_interpolation) and their sequence forms (int[2] left, right; int[1] size) */
static kn_tensor *b_pad2d(kn_graph *g, kn_tensor **in, const void *arg) {
    const int *p = arg;
    return kn_pad2d(g, in[0], p[0], p[1], p[2], p[3]);
}
static kn_tensor *b_upsample2d(kn_graph *g, kn_tensor **in, const void *arg) {
    const int *s = arg;
    return kn_upsample2d(g, in[0], s[0], s[1], (kn_interpolation)s[2]);
}
static kn_tensor *b_resize2d(kn_graph *g, kn_tensor **in, const void *arg) {
    const int *s = arg; /* height, width, kn_interpolation */
    return kn_resize2d(g, in[0], s[0], s[1], (kn_interpolation)s[2]);
}
/* Keras 3's random augmentation ops (kn_random_image; arg a kn_random_image_opts): the
 * training runs' transforms, fixed within the step (no update between the runs) */
static kn_tensor *b_random_image(kn_graph *g, kn_tensor **in, const void *arg) {
    return kn_random_image(g, in[0], arg);
}
static kn_tensor *b_pad1d(kn_graph *g, kn_tensor **in, const void *arg) {
    const int *p = arg;
    return kn_pad1d(g, in[0], p[0], p[1]);
}
static kn_tensor *b_upsample1d(kn_graph *g, kn_tensor **in, const void *arg) {
    return kn_upsample1d(g, in[0], *(const int *)arg);
}
static kn_tensor *b_conv_transpose(kn_graph *g, kn_tensor **in, const void *arg) {
    return kn_conv2d_transpose(g, in[0], in[1], arg);
}
static kn_tensor *b_conv1d_transpose(kn_graph *g, kn_tensor **in, const void *arg) {
    return kn_conv1d_transpose(g, in[0], in[1], arg);
}
static kn_tensor *b_max_pool(kn_graph *g, kn_tensor **in, const void *arg) {
    const win_arg *w = arg;
    return kn_max_pool2d(g, in[0], w->kh, w->kw, w->sh, w->sw, w->same);
}
static kn_tensor *b_avg_pool(kn_graph *g, kn_tensor **in, const void *arg) {
    const win_arg *w = arg;
    return kn_avg_pool2d(g, in[0], w->kh, w->kw, w->sh, w->sw, w->same);
}
static kn_tensor *b_global_avg_pool(kn_graph *g, kn_tensor **in, const void *arg) {
    (void)arg;
    return kn_global_avg_pool2d(g, in[0]);
}

static kn_tensor *b_global_max_pool(kn_graph *g, kn_tensor **in, const void *arg) {
    (void)arg;
    return kn_global_max_pool2d(g, in[0]);
}
/* sequences (batch, steps, channels): the 2-D ops over a (batch, 1, steps, channels) view */
typedef struct { int k, s, d; kn_padding padding; } seq_arg;
static kn_tensor *b_conv1d(kn_graph *g, kn_tensor **in, const void *arg) {
    const seq_arg *a = arg;
    return kn_conv1d(g, in[0], in[1], a->k, a->s, a->d, a->padding);
}
static kn_tensor *b_max_pool1d(kn_graph *g, kn_tensor **in, const void *arg) {
    const seq_arg *a = arg;
    return kn_max_pool1d(g, in[0], a->k, a->s, a->padding == KN_PADDING_SAME);
}
static kn_tensor *b_avg_pool1d(kn_graph *g, kn_tensor **in, const void *arg) {
    const seq_arg *a = arg;
    return kn_avg_pool1d(g, in[0], a->k, a->s, a->padding == KN_PADDING_SAME);
}
static kn_tensor *b_global_avg_pool1d(kn_graph *g, kn_tensor **in, const void *arg) {
    (void)arg;
    return kn_global_avg_pool1d(g, in[0]);
}
static kn_tensor *b_global_max_pool1d(kn_graph *g, kn_tensor **in, const void *arg) {
    (void)arg;
    return kn_global_max_pool1d(g, in[0]);
}

typedef struct { kn_loss loss; bool logits, weighted; kn_loss_options o; } loss_arg;
static kn_tensor *b_loss(kn_graph *g, kn_tensor **in, const void *arg) {
    const loss_arg *a = arg;
    kn_tensor *target = a->loss == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY
                            ? kn_input(g, KN_I32, (int64_t[]){in[0]->shape[0]}, 1, "labels")
                            : kn_input(g, KN_F32, in[0]->shape, 2, "targets");
    kn_tensor *w = a->weighted ? kn_input(g, KN_F32, (int64_t[]){in[0]->shape[0]}, 1, "weights") : NULL;
    kn_loss_options o = a->o;
    o.from_logits = a->logits;
    return kn_loss_op_with(g, a->loss, in[0], target, w, &o);
}

static void fill_targets(kn_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        if (t->op != KN_OP_INPUT) continue;
        if (strcmp(t->name, "labels") == 0) {
            for (int64_t k = 0; k < kn__numel(t); k++) ((int32_t *)t->data)[k] = (int32_t)(k % 3);
        } else if (strcmp(t->name, "weights") == 0) { /* sample weights in [0.25, 2.25) */
            for (int64_t k = 0; k < kn__numel(t); k++) ((float *)t->data)[k] = 1.25f + frand();
        } else if (strcmp(t->name, "targets") == 0) {
            /* rows of a distribution (valid for every loss): positive, summing to 1 */
            int64_t cols = t->ne[1], rows = t->ne[0];
            for (int64_t r = 0; r < rows; r++) {
                float s = 0, *row = (float *)t->data + r * cols;
                for (int64_t c = 0; c < cols; c++) s += row[c] = 0.1f + 0.5f * (frand() + 1.0f);
                for (int64_t c = 0; c < cols; c++) row[c] /= s;
            }
        }
    }
}

/* The vectorized exp under softmax and the cross-entropy losses: within 2 ulp of expf over
 * the range that matters, 0 / inf / NaN at the edges. */
static void check_vexp(void) {
    enum { N = 20001 };
    static float x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = -87.0f + 175.0f * (float)i / (N - 1);
    kn__vexp(x, y, N);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double ref = exp((double)x[i]), ulp = nextafterf((float)ref, INFINITY) - (float)ref;
        double err = fabs(y[i] - ref) / ulp;
        if (err > worst) worst = err;
    }
    CHECK(worst <= 2.0, "vexp: %.2f ulp from exp", worst);
    float edge[5] = {-100.0f, 100.0f, NAN, 0.0f, 88.5f}, out[5];
    kn__vexp(edge, out, 5);
    CHECK(out[0] == 0 && isinf(out[1]) && isnan(out[2]) && out[3] == 1.0f && isfinite(out[4]),
          "vexp edges: %g %g %g %g %g", (double)out[0], (double)out[1], (double)out[2], (double)out[3], (double)out[4]);
    printf("%-40s max error %.2f ulp\n", "vexp", worst);
}

/* Attention's row helpers: a row's max, the sum of its max-shifted exps (within 2 ulp of
 * expf each, the sum to float rounding), a dot product; every length through the 8-lane tails. */
static void check_row_helpers(void) {
    float x[37], y[37], z[37];
    double worst = 0;
    for (int n = 1; n <= 37; n++) {
        for (int i = 0; i < n; i++) x[i] = 30.0f * sinf(1.7f * (float)(i + n)) - 20.0f, z[i] = cosf((float)i);
        float mx = -INFINITY;
        double sum = 0, dot = 0;
        for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx, dot += (double)x[i] * z[i];
        CHECK(kn__vmax(x, n) == mx, "vmax of %d: %g, expected %g", n, (double)kn__vmax(x, n), (double)mx);
        float s = kn__vexp_sum(x, mx, y, n);
        for (int i = 0; i < n; i++) {
            double ref = exp((double)(x[i] - mx)), ulp = nextafterf((float)ref, INFINITY) - (float)ref; /* (the float difference, as the kernel takes it) */
            worst = fmax(worst, ref > 1e-37 ? fabs(y[i] - ref) / ulp : fabs(y[i]) > 1e-37 ? 99 : 0);
            sum += ref;
        }
        CHECK(fabs(s - sum) <= 1e-6 * sum, "vexp_sum of %d: %.9g, expected %.9g", n, (double)s, sum);
        CHECK(fabs(kn__vdot(x, z, n) - dot) <= 1e-5 * (1 + fabs(dot)), "vdot of %d: %g, expected %g", n,
              (double)kn__vdot(x, z, n), dot);
    }
    CHECK(worst <= 2.0, "vexp_sum: %.2f ulp from exp", worst);
    float nan_row[3] = {1.0f, NAN, 2.0f};
    CHECK(isnan(kn__vexp_sum(nan_row, 2.0f, y, 3)), "vexp_sum of a row holding NaN is not NaN");
    printf("%-40s max error %.2f ulp\n", "vmax, vexp_sum, vdot", worst);
}

/* The lanes' sigmoid and silu of the CPU's activations: a few ulp (1e-6 relative; 1e-30
 * absolute, below which the gate flushes to 0) from the formula in double, every tail
 * length; saturation, -0 and NaN. */
static void check_vsigmoid(void) {
    enum { N = 20003 };
    static float x[N], y[N], z[N];
    for (int i = 0; i < N; i++) x[i] = -95.0f + 190.0f * (float)i / (N - 1);
    kn__vsigmoid(x, y, N, false);
    kn__vsigmoid(x, z, N, true);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double sg = 1.0 / (1.0 + exp(-(double)x[i]));
        worst = fmax(worst, fabs(y[i] - sg) / (sg + 1e-30 / 1e-6));
        worst = fmax(worst, fabs(z[i] - x[i] * sg) / (fabs(x[i] * sg) + 1e-30 / 1e-6));
    }
    CHECK(worst <= 1e-6, "vsigmoid: %.3g relative from the formula", worst);
    float edge[7] = {-200.0f, 200.0f, NAN, 0.0f, -88.0f, 30.0f, -0.0f}, out[7], outs[7];
    kn__vsigmoid(edge, out, 7, false);
    kn__vsigmoid(edge, outs, 7, true);
    CHECK(out[0] == 0 && out[1] == 1 && isnan(out[2]) && out[3] == 0.5f && out[4] >= 0 && out[5] == 1.0f && isnan(outs[2]) &&
              outs[0] == 0 && signbit(outs[0]) && outs[1] == 200.0f && outs[3] == 0,
          "vsigmoid edges: %g %g %g %g %g %g / silu %g %g %g", (double)out[0], (double)out[1], (double)out[2], (double)out[3],
          (double)out[4], (double)out[5], (double)outs[0], (double)outs[1], (double)outs[2]);
    for (int n = 1; n <= 33; n++) { /* tails: nothing past n written */
        float in[40], o[40];
        for (int i = 0; i < 40; i++) in[i] = 0.3f * (float)i - 2.0f, o[i] = 42.0f;
        kn__vsigmoid(in, o, n, true);
        CHECK(o[n] == 42.0f && fabs(o[n - 1] - in[n - 1] / (1 + exp(-(double)in[n - 1]))) < 1e-6, "vsigmoid tail %d", n);
    }
    printf("%-40s max error %.2e relative\n", "vsigmoid, silu", worst);
}

/* The lanes' GELU: within 1e-6 relative (4e-6 below -4, where Phi is the tail of erfc; 1e-12
 * absolute below -5.6, where it is under 1e-8) of x Phi(x) computed in double, every tail
 * length; 0 at 0, x far above 0, 0 far below, NaN. */
static void check_vgelu(void) {
    enum { N = 40001 };
    static float x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = -12.0f + 24.0f * (float)i / (N - 1);
    kn__vgelu(x, y, N);
    double worst = 0, worst_at = 0;
    for (int i = 0; i < N; i++) {
        double ref = 0.5 * x[i] * erfc(-(double)x[i] / sqrt(2.0)), err = fabs(y[i] - ref) / (fabs(ref) + 1e-30);
        if (x[i] > -4 && err > worst) worst = err, worst_at = x[i];
        CHECK(err <= 4e-6 || fabs(y[i] - ref) < 1e-12, "vgelu(%g): %.9g, expected %.9g", (double)x[i], (double)y[i], ref);
    }
    CHECK(worst <= 1e-6, "vgelu: %.3g relative from the formula at %g", worst, worst_at);
    float edge[4] = {0.0f, 30.0f, -30.0f, NAN}, out[4];
    kn__vgelu(edge, out, 4);
    CHECK(out[0] == 0 && out[1] == 30.0f && out[2] == 0 && isnan(out[3]), "vgelu edges: %g %g %g %g", (double)out[0],
          (double)out[1], (double)out[2], (double)out[3]);
    for (int n = 1; n <= 33; n++) { /* tails: nothing past n written */
        float in[40], o[40];
        for (int i = 0; i < 40; i++) in[i] = 0.4f * (float)i - 3.0f, o[i] = 42.0f;
        kn__vgelu(in, o, n);
        CHECK(o[n] == 42.0f, "vgelu tail %d", n);
    }
    printf("%-40s max error %.2e relative (above -4)\n", "vgelu", worst);
    /* the gradients: gelu'(x) = Phi(x) + x phi(x), silu'(x) = s (1 + x (1 - s)), times dy */
    static float dy[N], dg[N], ds[N];
    for (int i = 0; i < N; i++) dy[i] = 1.0f + 0.25f * sinf((float)i);
    kn__vgelu_grad(dy, x, dg, N);
    kn__vsilu_grad(dy, x, ds, N);
    double wg = 0, ws = 0;
    for (int i = 0; i < N; i++) {
        double v = x[i], phi = 0.5 * erfc(-v / sqrt(2.0)), g = dy[i] * (phi + v * exp(-0.5 * v * v) * 0.3989422804014327);
        double sg = 1.0 / (1.0 + exp(-v)), sl = dy[i] * sg * (1.0 + v * (1.0 - sg));
        /* relative to the terms' sizes: each slope crosses 0 where its terms cancel */
        if (v > -10) wg = fmax(wg, fabs(dg[i] - g) / (fabs(dy[i]) * (phi + fabs(v) * exp(-0.5 * v * v) * 0.4)));
        else wg = fmax(wg, fabs(dg[i]) > 1e-20 ? 1.0 : 0.0); /* (below -10: 0, the slope under 1e-21) */
        ws = fmax(ws, fabs(ds[i] - sl) / (fabs(dy[i]) * sg * (1.0 + fabs(v) * (1.0 - sg))));
    }
    CHECK(wg <= 2e-6 && ws <= 2e-6, "gelu' %.3g, silu' %.3g relative from the formulas", wg, ws);
    printf("%-40s max error %.2e / %.2e relative to their terms\n", "vgelu_grad, vsilu_grad", wg, ws);
}

int main(void) {
    check_vexp();
    check_row_helpers();
    /* the activations' lanes: 16 where the CPU has AVX-512F, and 8 (forced) too */
    for (int forced = 0; forced <= 8; forced += 8) {
        kn__vact_force_lanes(forced);
        printf("activations on %d lanes:\n", kn__vact_lanes());
        check_vsigmoid();
        check_vgelu();
        if (kn__vact_lanes() != 16) break; /* (8 already) */
    }
    kn__vact_force_lanes(0);
    int tt[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    for (int i = 0; i < 4; i++) {
        case_shapes cs = {.n_in = 2, .ndim = {2, 2}};
        int64_t m = 3, k = 4, n = 5;
        int64_t a0 = tt[i][0] ? k : m, a1 = tt[i][0] ? m : k, b0 = tt[i][1] ? n : k, b1 = tt[i][1] ? k : n;
        memcpy(cs.shape[0], (int64_t[]){a0, a1}, 2 * sizeof(int64_t));
        memcpy(cs.shape[1], (int64_t[]){b0, b1}, 2 * sizeof(int64_t));
        char name[32];
        snprintf(name, sizeof name, "matmul ta=%d tb=%d", tt[i][0], tt[i][1]);
        gradcheck(name, b_matmul, tt[i], &cs, NULL);
    }
    case_shapes same = {.n_in = 2, .ndim = {2, 2}, .shape = {{3, 4}, {3, 4}}};
    case_shapes row = {.n_in = 2, .ndim = {2, 1}, .shape = {{3, 4}, {4}}};
    case_shapes scalar = {.n_in = 2, .ndim = {2, 0}, .shape = {{3, 4}, {0}}};
    /* a one-element vector against a vector broadcasts as a scalar (its gradient sums all) */
    case_shapes one_of_vec = {.n_in = 2, .ndim = {1, 1}, .shape = {{40}, {1}}};
    build_fn binaries[] = {b_add, b_sub, b_mul};
    const char *bnames[] = {"add", "sub", "mul"};
    for (int i = 0; i < 3; i++) {
        char name[40];
        snprintf(name, sizeof name, "%s same shape", bnames[i]);
        gradcheck(name, binaries[i], NULL, &same, NULL);
        snprintf(name, sizeof name, "%s row broadcast", bnames[i]);
        gradcheck(name, binaries[i], NULL, &row, NULL);
        snprintf(name, sizeof name, "%s scalar broadcast", bnames[i]);
        gradcheck(name, binaries[i], NULL, &scalar, NULL);
        snprintf(name, sizeof name, "%s (40) by (1)", bnames[i]);
        gradcheck(name, binaries[i], NULL, &one_of_vec, NULL);
    }
    case_shapes one = {.n_in = 1, .ndim = {2}, .shape = {{3, 5}}};
    gradcheck("scale", b_scale, NULL, &one, NULL);
    gradcheck("copy", b_copy, NULL, &one, NULL);
    gradcheck("transpose", b_transpose, NULL, &one, NULL);
    case_shapes drop = {.n_in = 1, .ndim = {2}, .shape = {{6, 10}}};
    gradcheck("dropout 0.4", b_dropout, NULL, &drop, NULL);
    gradcheck("reshape", b_reshape, NULL, &one, NULL);
    gradcheck("sum_rows", b_sum_rows, NULL, &one, NULL);
    gradcheck("sum", b_sum, NULL, &one, NULL);
    gradcheck("sum_squares", b_sum_squares, NULL, &one, NULL);
    /* convolution: (2, H, W, 3) images, 4 filters */
    struct { const char *name; int h, w; win_arg a; } convs[] = {
        {"conv2d 3x3 valid", 5, 6, {3, 3, 1, 1, 1, 1, false}},
        {"conv2d 3x3 same", 5, 6, {3, 3, 1, 1, 1, 1, true}},
        {"conv2d 3x3 stride 2 same", 6, 5, {3, 3, 2, 2, 1, 1, true}},
        {"conv2d 3x3 stride 2 valid", 7, 6, {3, 3, 2, 2, 1, 1, false}},
        {"conv2d 3x3 dilation 2 valid", 6, 7, {3, 3, 1, 1, 2, 2, false}},
        {"conv2d 2x3 stride 2x1 dilation 2 same", 5, 6, {2, 3, 2, 1, 2, 2, true}},
    };
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) {
        const win_arg *a = &convs[i].a;
        case_shapes cs = {.n_in = 2, .ndim = {4, 2}, .shape = {{2, convs[i].h, convs[i].w, 3}, {a->kh * a->kw * 3, 4}}};
        gradcheck(convs[i].name, b_conv2d, a, &cs, NULL);
    }
    struct { const char *name; build_fn fn; win_arg a; } pools[] = {
        {"max_pool2d 2x2 stride 2 valid", b_max_pool, {2, 2, 2, 2, 1, 1, false}},
        {"max_pool2d 3x3 stride 2 same", b_max_pool, {3, 3, 2, 2, 1, 1, true}},
        {"max_pool2d 3x2 stride 1 same", b_max_pool, {3, 2, 1, 1, 1, 1, true}},
        {"avg_pool2d 2x2 stride 2 valid", b_avg_pool, {2, 2, 2, 2, 1, 1, false}},
        {"avg_pool2d 3x3 stride 2 same", b_avg_pool, {3, 3, 2, 2, 1, 1, true}},
        {"avg_pool2d 3x2 stride 1 same", b_avg_pool, {3, 2, 1, 1, 1, 1, true}},
    };
    for (size_t i = 0; i < sizeof pools / sizeof pools[0]; i++) {
        case_shapes cs = {.n_in = 1, .ndim = {4}, .shape = {{2, 5, 6, 3}}, .distinct = true};
        gradcheck(pools[i].name, pools[i].fn, &pools[i].a, &cs, NULL);
    }
    { /* windows that tile the image exactly: each cell written once (conv.c's fast path) */
        win_arg tile = {2, 2, 2, 2, 1, 1, false};
        case_shapes cs = {.n_in = 1, .ndim = {4}, .shape = {{2, 4, 6, 3}}, .distinct = true};
        gradcheck("max_pool2d 2x2 stride 2 over 4x6 (tiling)", b_max_pool, &tile, &cs, NULL);
    }
    case_shapes gap = {.n_in = 1, .ndim = {4}, .shape = {{2, 4, 3, 5}}};
    gradcheck("global_avg_pool2d", b_global_avg_pool, NULL, &gap, NULL);
    for (int a = KN_RELU; a < KN_ACTIVATION_COUNT; a++) {
        case_shapes cs = one;
        cs.away_from_zero = a == KN_RELU || a == KN_LEAKY_RELU || a == KN_ELU || a == KN_RELU6 || a == KN_SELU;
        char name[40];
        snprintf(name, sizeof name, "act %s", kn_activation_name((kn_activation)a));
        kn_activation act = (kn_activation)a;
        gradcheck(name, b_act, &act, &cs, NULL);
    }
    for (int l = 0; l < KN_LOSS_COUNT; l++)
        for (int logits = 0; logits < 2; logits++) {
            kn_loss loss = (kn_loss)l;
            bool ce = kn__loss_is_cross_entropy(loss);
            if (logits && !ce) continue;
            case_shapes cs = {.n_in = 1, .ndim = {2}, .shape = {{4, 3}}};
            /* predictions in (0.05, 0.95) where the loss takes probabilities or a log of them */
            cs.positive = (ce && !logits) || loss == KN_LOSS_POISSON || loss == KN_LOSS_KL_DIVERGENCE || loss == KN_LOSS_MSLE;
            /* |p - y| has a kink where p == y; y < 1 here */
            cs.away_from_zero = loss == KN_LOSS_MAE || loss == KN_LOSS_MAPE;
            /* the focal losses: Keras's defaults, then other settings with class balancing
             * and label smoothing (a gamma below 1 too) */
            bool focal = kn__loss_is_focal(loss), huber = loss == KN_LOSS_HUBER;
            for (int variant = 0; variant < (focal || huber ? 2 : 1); variant++)
                for (int weighted = 0; weighted < 2; weighted++) {
                    char name[96];
                    snprintf(name, sizeof name, "loss %s%s%s%s", kn_loss_name(loss), logits ? " (logits)" : "",
                             weighted ? " weighted" : "",
                             !variant ? "" : huber ? " (delta 0.3)" : " (gamma 0.7, balanced, smoothed)");
                    loss_arg a = {loss, logits, weighted, {0}};
                    if (focal && !variant) a.o = (kn_loss_options){.focal_gamma = 2, .focal_alpha = 0.25f};
                    if (variant && focal)
                        a.o = (kn_loss_options){.focal_gamma = 0.7f, .focal_alpha = 0.3f, .apply_class_balancing = true,
                                                .label_smoothing = 0.1f};
                    if (variant && huber) a.o = (kn_loss_options){.huber_delta = 0.3f};
                    gradcheck(name, b_loss, &a, &cs, fill_targets);
                }
        }
    /* batch and layer normalization (last, so the cases above keep their random values) */
    case_shapes bn2 = {.n_in = 3, .ndim = {2, 1, 1}, .shape = {{6, 4}, {4}, {4}}};
    gradcheck("batch_norm (6, 4) training", b_batch_norm, NULL, &bn2, NULL);
    case_shapes bn4 = {.n_in = 3, .ndim = {4, 1, 1}, .shape = {{2, 3, 2, 3}, {3}, {3}}};
    gradcheck("batch_norm (2, 3, 2, 3) training", b_batch_norm, NULL, &bn4, NULL);
    /* layer normalization: dense rows, an image's channels, each of gamma and beta off */
    static const ln_arg ln_full = {true, true}, ln_scale = {false, true}, ln_center = {true, false}, ln_none = {false, false};
    case_shapes ln2 = {.n_in = 3, .ndim = {2, 1, 1}, .shape = {{6, 5}, {5}, {5}}};
    gradcheck("layer_norm (6, 5)", b_layer_norm, &ln_full, &ln2, NULL);
    case_shapes ln4 = {.n_in = 3, .ndim = {4, 1, 1}, .shape = {{2, 3, 2, 4}, {4}, {4}}};
    gradcheck("layer_norm (2, 3, 2, 4)", b_layer_norm, &ln_full, &ln4, NULL);
    case_shapes ln1 = {.n_in = 2, .ndim = {2, 1}, .shape = {{4, 7}, {7}}};
    gradcheck("layer_norm (4, 7) scale only", b_layer_norm, &ln_scale, &ln1, NULL);
    gradcheck("layer_norm (4, 7) center only", b_layer_norm, &ln_center, &ln1, NULL);
    case_shapes ln0 = {.n_in = 1, .ndim = {2}, .shape = {{4, 7}}};
    gradcheck("layer_norm (4, 7) neither", b_layer_norm, &ln_none, &ln0, NULL);
    /* global max pooling of images, and the sequence builders (after the cases above, which
     * keep their random values): 1-D convolutions of (2, L, 3) sequences to 4 filters */
    case_shapes gmp = {.n_in = 1, .ndim = {4}, .shape = {{2, 4, 3, 5}}, .distinct = true};
    gradcheck("global_max_pool2d", b_global_max_pool, NULL, &gmp, NULL);
    struct { const char *name; int steps; seq_arg a; } convs1d[] = {
        {"conv1d 3 valid", 7, {3, 1, 1, KN_PADDING_VALID}},
        {"conv1d 4 same", 6, {4, 1, 1, KN_PADDING_SAME}},
        {"conv1d 3 stride 2 same", 7, {3, 2, 1, KN_PADDING_SAME}},
        {"conv1d 3 causal", 6, {3, 1, 1, KN_PADDING_CAUSAL}},
        {"conv1d 3 dilation 2 causal", 7, {3, 1, 2, KN_PADDING_CAUSAL}},
        {"conv1d 2 stride 2 dilation 3 causal", 8, {2, 2, 3, KN_PADDING_CAUSAL}},
    };
    for (size_t i = 0; i < sizeof convs1d / sizeof convs1d[0]; i++) {
        const seq_arg *a = &convs1d[i].a;
        case_shapes cs = {.n_in = 2, .ndim = {3, 2}, .shape = {{2, convs1d[i].steps, 3}, {a->k * 3, 4}}};
        gradcheck(convs1d[i].name, b_conv1d, a, &cs, NULL);
    }
    struct { const char *name; build_fn fn; seq_arg a; } pools1d[] = {
        {"max_pool1d 2 valid", b_max_pool1d, {2, 2, 1, KN_PADDING_VALID}},
        {"max_pool1d 3 stride 2 same", b_max_pool1d, {3, 2, 1, KN_PADDING_SAME}},
        {"avg_pool1d 2 stride 1 valid", b_avg_pool1d, {2, 1, 1, KN_PADDING_VALID}},
        {"avg_pool1d 3 stride 2 same", b_avg_pool1d, {3, 2, 1, KN_PADDING_SAME}},
    };
    for (size_t i = 0; i < sizeof pools1d / sizeof pools1d[0]; i++) {
        case_shapes cs = {.n_in = 1, .ndim = {3}, .shape = {{2, 7, 3}}, .distinct = true};
        gradcheck(pools1d[i].name, pools1d[i].fn, &pools1d[i].a, &cs, NULL);
    }
    case_shapes gp1 = {.n_in = 1, .ndim = {3}, .shape = {{2, 5, 3}}, .distinct = true};
    gradcheck("global_avg_pool1d", b_global_avg_pool1d, NULL, &gp1, NULL);
    gradcheck("global_max_pool1d", b_global_max_pool1d, NULL, &gp1, NULL);
    /* 300 steps: the mean in windows of 150 then 2, the maximum in windows of 255 ('same') then 2 */
    case_shapes gp_long = {.n_in = 1, .ndim = {3}, .shape = {{1, 300, 2}}, .distinct = true};
    gradcheck("global_avg_pool1d over 300 steps", b_global_avg_pool1d, NULL, &gp_long, NULL);
    gradcheck("global_max_pool1d over 300 steps", b_global_max_pool1d, NULL, &gp_long, NULL);
    /* the merge ops (last: the inputs above draw from one random stream) */
    case_shapes joined = {.n_in = 2, .ndim = {3, 3}, .shape = {{2, 3, 4}, {2, 3, 2}}};
    gradcheck("concat (2,3,4) (2,3,2)", b_concat, NULL, &joined, NULL);
    /* distinct values 0.05 apart at least (never a tie, where the derivative jumps) */
    case_shapes apart = {.n_in = 2, .ndim = {2, 2}, .shape = {{3, 4}, {3, 4}}, .distinct = true};
    gradcheck("maximum", b_maximum, NULL, &apart, NULL);
    case_shapes sliced = {.n_in = 1, .ndim = {2}, .shape = {{3, 5}}};
    gradcheck("slice columns [1, 4) of (3, 5)", b_slice, NULL, &sliced, NULL);
    /* the recurrent ops: every cell, the sequence or the last step, other activations */
    static const struct { const char *name; rnn_arg a; } rnns[] = {
        {"rnn simple_rnn tanh, sequence", {KN_RNN_SIMPLE, true, false, KN_TANH, KN_SIGMOID, false, false, 0, 0}},
        {"rnn simple_rnn elu, last", {KN_RNN_SIMPLE, false, false, KN_ELU, KN_SIGMOID, false, false, 0, 0}},
        {"rnn lstm, sequence", {KN_RNN_LSTM, true, false, KN_TANH, KN_SIGMOID, false, false, 0, 0}},
        {"rnn lstm softsign / hard_sigmoid, last", {KN_RNN_LSTM, false, false, KN_SOFTSIGN, KN_HARD_SIGMOID, false, false, 0, 0}},
        {"rnn lstm bias, sequence", {KN_RNN_LSTM, true, true, KN_TANH, KN_SIGMOID, false, false, 0, 0}},
        {"rnn gru, sequence", {KN_RNN_GRU, true, false, KN_TANH, KN_SIGMOID, false, false, 0, 0}},
        {"rnn gru silu / sigmoid, last", {KN_RNN_GRU, false, false, KN_SILU, KN_SIGMOID, false, false, 0, 0}},
        {"rnn gru bias (input and recurrent), last", {KN_RNN_GRU, false, true, KN_TANH, KN_SIGMOID, false, false, 0, 0}},
        {"rnn simple_rnn bias, sequence", {KN_RNN_SIMPLE, true, true, KN_TANH, KN_SIGMOID, false, false, 0, 0}},
        {"rnn lstm go_backwards, sequence", {KN_RNN_LSTM, true, false, KN_TANH, KN_SIGMOID, true, false, 0, 0}},
        {"rnn lstm go_backwards softsign, last", {KN_RNN_LSTM, false, true, KN_SOFTSIGN, KN_SIGMOID, true, false, 0, 0}},
        {"rnn gru go_backwards, sequence", {KN_RNN_GRU, true, true, KN_TANH, KN_SIGMOID, true, false, 0, 0}},
        {"rnn simple_rnn go_backwards, last", {KN_RNN_SIMPLE, false, false, KN_TANH, KN_SIGMOID, true, false, 0, 0}},
        /* masks (mask_zero's): dropped steps carry the state on */
        {"rnn lstm masked, sequence", {KN_RNN_LSTM, true, false, KN_TANH, KN_SIGMOID, false, true, 0, 0}},
        {"rnn gru masked, last", {KN_RNN_GRU, false, true, KN_TANH, KN_SIGMOID, false, true, 0, 0}},
        {"rnn simple_rnn masked go_backwards, sequence", {KN_RNN_SIMPLE, true, true, KN_TANH, KN_SIGMOID, true, true, 0, 0}},
        {"rnn lstm masked softsign, last", {KN_RNN_LSTM, false, false, KN_SOFTSIGN, KN_HARD_SIGMOID, false, true, 0, 0}},
        {"rnn gru masked go_backwards elu, sequence", {KN_RNN_GRU, true, false, KN_ELU, KN_SIGMOID, true, true, 0, 0}},
        /* Keras's dropout (the input's, one draw per sample and feature) and recurrent_dropout
         * (the state the products read): a training run's masks, fixed within the step */
        {"rnn lstm recurrent_dropout 0.5, sequence",
         {KN_RNN_LSTM, true, false, KN_TANH, KN_SIGMOID, false, false, 0.0f, 0.5f}},
        {"rnn gru dropout 0.3, recurrent_dropout 0.5, last",
         {KN_RNN_GRU, false, false, KN_TANH, KN_SIGMOID, false, false, 0.3f, 0.5f}},
        {"rnn simple_rnn recurrent_dropout 0.5 go_backwards, sequence",
         {KN_RNN_SIMPLE, true, true, KN_TANH, KN_SIGMOID, true, false, 0.0f, 0.5f}},
        {"rnn gru masked recurrent_dropout 0.4 go_backwards, sequence",
         {KN_RNN_GRU, true, true, KN_TANH, KN_SIGMOID, true, true, 0.0f, 0.4f}},
        {"rnn lstm masked softsign, dropout 0.5, recurrent_dropout 0.3, last",
         {KN_RNN_LSTM, false, false, KN_SOFTSIGN, KN_HARD_SIGMOID, false, true, 0.5f, 0.3f}},
        {"rnn gru elu, recurrent_dropout 0.5, sequence",
         {KN_RNN_GRU, true, false, KN_ELU, KN_SIGMOID, false, false, 0.0f, 0.5f}},
    };
    for (size_t i = 0; i < sizeof rnns / sizeof rnns[0]; i++) {
        const rnn_arg *a = &rnns[i].a;
        int64_t gh = a->cell == KN_RNN_LSTM ? 12 : a->cell == KN_RNN_GRU ? 9 : 3;
        case_shapes cs = {.n_in = 3, .ndim = {3, 2, 2}, .shape = {{2, 4, 3}, {3, gh}, {3, gh}}};
        if (a->bias_in) {
            cs.ndim[0] = a->cell == KN_RNN_GRU ? 2 : 1;
            cs.shape[0][0] = a->cell == KN_RNN_GRU ? 2 : gh;
            cs.shape[0][1] = gh;
        }
        gradcheck(rnns[i].name, b_rnn, a, &cs, a->masked ? fill_rnn_mask : NULL);
    }
    /* (after the cases above, whose inputs come before it in frand's sequence) */
    case_shapes seq3 = {.n_in = 1, .ndim = {3}, .shape = {{3, 4, 5}}};
    gradcheck("spatial_dropout 0.4, (3, 4 steps, 5)", b_spatial_dropout, NULL, &seq3, NULL);
    /* attention: heads as column blocks, other query and key lengths, the causal mask, and a
     * sequence attending to itself (its gradient the sum of the three parts) */
    static const struct { const char *name; att_arg a; int64_t tq, tk, dk, dv; } atts[] = {
        {"attention 2 heads, Tq 3, Tk 4", {2, 0, false, 0.0f, 0}, 3, 4, 2, 3},
        {"attention 2 heads causal, Tq 4, Tk 4", {2, KN_ATTENTION_CAUSAL, false, 0.0f, 0}, 4, 4, 3, 2},
        {"attention 1 head causal, Tq 5, Tk 3", {1, KN_ATTENTION_CAUSAL, false, 0.0f, 0}, 5, 3, 2, 2},
        {"attention 3 heads, a sequence to itself", {3, 0, true, 0.0f, 0}, 4, 4, 2, 2},
        {"attention 2 heads causal, to itself", {2, KN_ATTENTION_CAUSAL, true, 0.0f, 0}, 5, 5, 2, 2},
        /* dropout on the probabilities: the training runs' mask, the same in every run */
        {"attention 2 heads, dropout 0.3", {2, 0, false, 0.3f, 0}, 4, 5, 2, 3},
        {"attention causal to itself, dropout 0.5", {2, KN_ATTENTION_CAUSAL, true, 0.5f, 0}, 5, 5, 2, 2},
        /* masks (mask_zero's): keys dropped, a query step blind, whole rows blind */
        {"attention 2 heads, key mask", {2, 0, false, 0.0f, 2}, 3, 5, 2, 3},
        {"attention 2 heads, query and key masks", {2, 0, false, 0.0f, 3}, 4, 5, 2, 2},
        {"attention causal to itself, both masks", {2, KN_ATTENTION_CAUSAL, true, 0.0f, 3}, 5, 5, 2, 2},
        {"attention 1 head, query mask, dropout 0.3", {1, 0, false, 0.3f, 1}, 4, 3, 2, 2},
    };
    for (size_t i = 0; i < sizeof atts / sizeof atts[0]; i++) {
        int64_t H = atts[i].a.heads;
        case_shapes cs = {.n_in = atts[i].a.self ? 1 : 3, .ndim = {3, 3, 3},
                          .shape = {{2, atts[i].tq, H * atts[i].dk}, {2, atts[i].tk, H * atts[i].dk},
                                    {2, atts[i].tk, H * atts[i].dv}}};
        gradcheck(atts[i].name, b_attention, &atts[i].a, &cs, atts[i].a.masks ? fill_masks : NULL);
    }
    /* the gather (an embedding lookup): the table's gradient, summed over repeated indices */
    case_shapes table = {.n_in = 1, .ndim = {2}, .shape = {{7, 3}}};
    gradcheck("gather (3, 5) ids from a (7, 3) table", b_gather, NULL, &table, fill_ids);
    case_shapes steps = {.n_in = 1, .ndim = {3}, .shape = {{2, 4, 3}}};
    gradcheck("masked mean over (2, 4, 3), mask_zero's mask", b_masked_mean, NULL, &steps, fill_mask_ids);
    /* (appended last: the cases above draw their inputs from one sequential generator) */
    gradcheck("gaussian_noise 0.5", b_gaussian_noise, NULL, &drop, NULL);
    gradcheck("gaussian_dropout 0.4", b_gaussian_dropout, NULL, &drop, NULL);
    gradcheck("alpha_dropout 0.4", b_alpha_dropout, NULL, &drop, NULL);
    /* the depthwise convolution (last: appended cases keep the others' inputs): (2, H, W, 3)
     * images, depth multiplier m, kernel (KH*KW, 3 m) */
    struct { const char *name; int h, w, m; win_arg a; } dws[] = {
        {"depthwise 3x3 valid, m 1", 5, 6, 1, {3, 3, 1, 1, 1, 1, false}},
        {"depthwise 3x3 same, m 2", 5, 6, 2, {3, 3, 1, 1, 1, 1, true}},
        {"depthwise 2x3 stride 2 same, m 1", 6, 5, 1, {2, 3, 2, 2, 1, 1, true}},
        {"depthwise 3x3 stride 2 valid, m 2", 7, 6, 2, {3, 3, 2, 2, 1, 1, false}},
        {"depthwise 3x3 dilation 2 valid, m 1", 6, 7, 1, {3, 3, 1, 1, 2, 2, false}},
        {"depthwise 2x2 stride 2x1 dilation 2 same, m 2", 5, 6, 2, {2, 2, 2, 1, 2, 2, true}},
    };
    for (size_t i = 0; i < sizeof dws / sizeof dws[0]; i++) {
        const win_arg *a = &dws[i].a;
        case_shapes cs = {.n_in = 2, .ndim = {4, 2},
                          .shape = {{2, dws[i].h, dws[i].w, 3}, {a->kh * a->kw, 3 * dws[i].m}}};
        gradcheck(dws[i].name, b_depthwise, a, &cs, NULL);
    }
    /* padding, cropping and upsampling (last: appended cases keep the others' inputs) over
     * (2, 5, 6, 3) images and (2, 7, 3) sequences; bilinear at odd scales and sizes */
    static const struct { const char *name; int p[4]; } pads[] = {
        {"pad2d (1, 2, 3, 0)", {1, 2, 3, 0}},
        {"pad2d crop (-1, -2, -2, -1)", {-1, -2, -2, -1}},
        {"pad2d mixed (2, -1, -3, 1)", {2, -1, -3, 1}},
    };
    case_shapes img = {.n_in = 1, .ndim = {4}, .shape = {{2, 5, 6, 3}}};
    for (size_t i = 0; i < sizeof pads / sizeof pads[0]; i++) gradcheck(pads[i].name, b_pad2d, pads[i].p, &img, NULL);
    static const struct { const char *name; int s[3]; } ups[] = {
        {"upsample2d nearest 2x3", {2, 3, KN_INTERP_NEAREST}},
        {"upsample2d bilinear 2x2", {2, 2, KN_INTERP_BILINEAR}},
        {"upsample2d bilinear 3x1", {3, 1, KN_INTERP_BILINEAR}},
        {"upsample2d bilinear 1x4", {1, 4, KN_INTERP_BILINEAR}},
    };
    for (size_t i = 0; i < sizeof ups / sizeof ups[0]; i++) gradcheck(ups[i].name, b_upsample2d, ups[i].s, &img, NULL);
    case_shapes seq = {.n_in = 1, .ndim = {3}, .shape = {{2, 7, 3}}};
    static const int pad1[2] = {2, -3}, up1 = 3;
    gradcheck("pad1d (2, -3)", b_pad1d, pad1, &seq, NULL);
    gradcheck("upsample1d 3", b_upsample1d, &up1, &seq, NULL);
    /* the transposed convolution (appended after the depthwise cases, for the same reason):
     * (2, H, W, 3) images to f filters, kernel (KH*KW*f, 3) */
    struct { const char *name; int h, w, f; kn_conv2d_transpose_opts o; } cts[] = {
        {"conv2d_transpose 3x3 valid", 3, 4, 2, {.kernel_h = 3, .kernel_w = 3}},
        {"conv2d_transpose 3x3 stride 2 same", 3, 3, 4, {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2,
                                                         .same = true}},
        {"conv2d_transpose 2x3 strides 2x3 valid op 1x2", 2, 3, 2,
         {.kernel_h = 2, .kernel_w = 3, .stride_h = 2, .stride_w = 3, .has_output_padding = true,
          .output_padding_h = 1, .output_padding_w = 2}},
        {"conv2d_transpose 3x2 dilation 2 same", 4, 3, 3, {.kernel_h = 3, .kernel_w = 2, .dilation_h = 2,
                                                           .dilation_w = 2, .same = true}},
        {"conv2d_transpose 1x1 stride 2 (gaps)", 3, 2, 2, {.kernel_h = 1, .kernel_w = 1, .stride_h = 2, .stride_w = 2}},
    };
    for (size_t i = 0; i < sizeof cts / sizeof cts[0]; i++) {
        const kn_conv2d_transpose_opts *o = &cts[i].o;
        case_shapes cs = {.n_in = 2, .ndim = {4, 2},
                          .shape = {{2, cts[i].h, cts[i].w, 3}, {o->kernel_h * o->kernel_w * cts[i].f, 3}}};
        gradcheck(cts[i].name, b_conv_transpose, o, &cs, NULL);
    }
    /* ... and over a sequence (2, 7, 3), kernel (K*2, 3) */
    kn_conv1d_transpose_opts ct1 = {.kernel_size = 3, .stride = 2, .same = true, .has_output_padding = true,
                                    .output_padding = 1};
    case_shapes seq_k = {.n_in = 2, .ndim = {3, 2}, .shape = {{2, 7, 3}, {3 * 2, 3}}};
    gradcheck("conv1d_transpose 3 stride 2 same op 1", b_conv1d_transpose, &ct1, &seq_k, NULL);
    /* grouped convolutions (appended last, as above): (2, H, W, C) images to F filters in G
     * groups, kernel (KH*KW*C/G, F): all groups in one expanded block (3 of 2 filters), a
     * block a group (2 of 16 filters), blocks of 4 groups of 4 filters, a 1x1 one (direct) */
    struct { const char *name; int h, w, c, f; group_arg a; } gcs[] = {
        {"grouped conv2d 3x3 same, 3 groups 2 -> 2", 5, 6, 6, 6, {{3, 3, 1, 1, 1, 1, true}, 3}},
        {"grouped conv2d 3x3 stride 2 valid, 2 groups 2 -> 16", 6, 5, 4, 32, {{3, 3, 2, 2, 1, 1, false}, 2}},
        {"grouped conv2d 2x3 dilation 2 same, 8 groups 1 -> 4", 5, 6, 8, 32, {{2, 3, 1, 1, 2, 2, true}, 8}},
        {"grouped conv2d 1x1, 4 groups 2 -> 3", 4, 5, 8, 12, {{1, 1, 1, 1, 1, 1, false}, 4}},
    };
    for (size_t i = 0; i < sizeof gcs / sizeof gcs[0]; i++) {
        const win_arg *a = &gcs[i].a.a;
        case_shapes cs = {.n_in = 2, .ndim = {4, 2},
                          .shape = {{2, gcs[i].h, gcs[i].w, gcs[i].c},
                                    {a->kh * a->kw * gcs[i].c / gcs[i].a.groups, gcs[i].f}}};
        gradcheck(gcs[i].name, b_grouped_conv2d, &gcs[i].a, &cs, NULL);
    }
    /* per-sample broadcasts (appended last): images (2, 3, 4, 5) with a sample's channels
     * (2, 1, 1, 5), a map (2, 3, 4, 1), a value (2, 1, 1, 1); either side the broadcast one */
    static const int ops3[3] = {0, 1, 2};
    static const char *const op_names[3] = {"add", "sub", "mul"};
    static const int64_t bshapes[3][4] = {{2, 1, 1, 5}, {2, 3, 4, 1}, {2, 1, 1, 1}};
    static const char *const bcast_names[3] = {"channels (2,1,1,5)", "map (2,3,4,1)", "value (2,1,1,1)"};
    for (int o = 0; o < 3; o++)
        for (int b = 0; b < 3; b++)
            for (int side = 0; side < 2; side++) {
                char name[96];
                snprintf(name, sizeof name, "%s %s %s", op_names[o], side ? "broadcast first," : "by", bcast_names[b]);
                case_shapes cs = {.n_in = 2, .ndim = {4, 4}};
                memcpy(cs.shape[side], (int64_t[]){2, 3, 4, 5}, 4 * sizeof(int64_t));
                memcpy(cs.shape[1 - side], bshapes[b], 4 * sizeof(int64_t));
                gradcheck(name, b_binop, &ops3[o], &cs, NULL);
            }
    /* each sample's axes permuted (appended last), times weights of the output's shape */
    static const struct { const char *name; int p[4]; int64_t x[4], w[4]; int nd; } perms[] = {
        {"permute (2, 1) of (2, 3, 4)", {2, 1, 0}, {2, 3, 4}, {2, 4, 3}, 3},
        {"permute (3, 1, 2) of (2, 2, 3, 4)", {3, 2, 0, 1}, {2, 2, 3, 4}, {2, 4, 2, 3}, 4},
        {"permute (2, 3, 1) of (2, 2, 3, 4)", {3, 1, 2, 0}, {2, 2, 3, 4}, {2, 3, 4, 2}, 4},
        {"permute (1, 3, 2) of (2, 2, 3, 4)", {3, 0, 2, 1}, {2, 2, 3, 4}, {2, 2, 4, 3}, 4},
    };
    for (size_t i = 0; i < sizeof perms / sizeof perms[0]; i++) {
        case_shapes cs = {.n_in = 2, .ndim = {perms[i].nd, perms[i].nd}};
        memcpy(cs.shape[0], perms[i].x, sizeof perms[i].x);
        memcpy(cs.shape[1], perms[i].w, sizeof perms[i].w);
        gradcheck(perms[i].name, b_permute, perms[i].p, &cs, NULL);
    }
    /* a 3-D convolution's depth taps as channels (ops_depth_taps.c), times weights: 'same'
     * (zeros at both ends), strided and dilated 'valid', a front past every tap of the first
     * output (all zeros there) */
    static const struct { const char *name; int q[6]; int64_t h, w, c; } taps[] = {
        {"depth taps 3 of 4, same", {4, 3, 1, 1, 1, 4}, 2, 3, 2},
        {"depth taps 2 of 5, stride 2, dilation 2", {5, 2, 2, 2, 0, 2}, 1, 2, 3},
        {"depth taps 2 of 3, front 2", {3, 2, 1, 1, 2, 3}, 2, 2, 1},
    };
    for (size_t i = 0; i < sizeof taps / sizeof taps[0]; i++) {
        case_shapes cs = {.n_in = 2, .ndim = {4, 4}};
        memcpy(cs.shape[0], (int64_t[]){2, taps[i].q[0] * taps[i].h, taps[i].w, taps[i].c}, 4 * sizeof(int64_t));
        memcpy(cs.shape[1], (int64_t[]){2, taps[i].q[5] * taps[i].h, taps[i].w, taps[i].q[1] * taps[i].c},
               4 * sizeof(int64_t));
        gradcheck(taps[i].name, b_depth_taps, taps[i].q, &cs, NULL);
        /* and the sum (its input the taps' shape, its output x's) */
        case_shapes sum = {.n_in = 2, .ndim = {4, 4}};
        memcpy(sum.shape[0], cs.shape[1], 4 * sizeof(int64_t));
        memcpy(sum.shape[1], cs.shape[0], 4 * sizeof(int64_t));
        char name[80];
        snprintf(name, sizeof name, "%s, summed back", taps[i].name);
        gradcheck(name, b_depth_taps_sum, taps[i].q, &sum, NULL);
    }
    /* group normalization: an image's channels in groups, a whole sample (1 group), instance
     * normalization (a group a channel), each of gamma and beta off */
    static const gn_arg gn_full = {true, true, 2}, gn_whole = {false, true, 1}, gn_inst = {true, false, 5},
                        gn_none = {false, false, 3};
    case_shapes gn4 = {.n_in = 3, .ndim = {4, 1, 1}, .shape = {{2, 3, 2, 4}, {4}, {4}}};
    gradcheck("group_norm (2, 3, 2, 4) 2 groups", b_group_norm, &gn_full, &gn4, NULL);
    case_shapes gn1 = {.n_in = 2, .ndim = {2, 1}, .shape = {{3, 6}, {6}}};
    gradcheck("group_norm (3, 6) 1 group, scale only", b_group_norm, &gn_whole, &gn1, NULL);
    case_shapes gn3 = {.n_in = 2, .ndim = {3, 1}, .shape = {{2, 4, 5}, {5}}};
    gradcheck("group_norm (2, 4, 5) instance, center only", b_group_norm, &gn_inst, &gn3, NULL);
    case_shapes gn0 = {.n_in = 1, .ndim = {3}, .shape = {{2, 3, 6}}};
    gradcheck("group_norm (2, 3, 6) 3 groups, neither", b_group_norm, &gn_none, &gn0, NULL);
    { /* activations' alphas other than the defaults (Keras's LeakyReLU and ELU layers take theirs) */
        static const act_alpha_arg alphas[] = {{KN_LEAKY_RELU, 0.1f}, {KN_LEAKY_RELU, 0.3f}, {KN_ELU, 0.5f}, {KN_ELU, 2.0f}};
        for (size_t i = 0; i < sizeof alphas / sizeof *alphas; i++) {
            case_shapes cs = one;
            cs.away_from_zero = true;
            char name[48];
            snprintf(name, sizeof name, "act %s alpha %g", kn_activation_name(alphas[i].act), (double)alphas[i].alpha);
            gradcheck(name, b_act_alpha, &alphas[i], &cs, NULL);
        }
    }
    { /* unit normalization: rows of features, an image's channels, and rows under the floor (eps 1e4 > any
       * row's sum of squares here: y = x / 100, linear) */
        static const float eps_small = 1e-12f, eps_floor = 1e4f;
        case_shapes un2 = {.n_in = 1, .ndim = {2}, .shape = {{5, 6}}};
        gradcheck("unit_norm (5, 6)", b_unit_norm, &eps_small, &un2, NULL);
        case_shapes un4 = {.n_in = 1, .ndim = {4}, .shape = {{2, 3, 2, 4}}};
        gradcheck("unit_norm (2, 3, 2, 4)", b_unit_norm, &eps_small, &un4, NULL);
        gradcheck("unit_norm (5, 6) under the floor", b_unit_norm, &eps_floor, &un2, NULL);
    }
    { /* resizing to any size (appended last, keeping the other cases' inputs): (2, 5, 6, 3)
       * images down, up, to a side of 1 and mixed; bilinear and nearest (linear in x both) */
        static const struct { const char *name; int s[3]; } rs[] = {
            {"resize2d bilinear 5x6 -> 3x4", {3, 4, KN_INTERP_BILINEAR}},
            {"resize2d bilinear 5x6 -> 8x13", {8, 13, KN_INTERP_BILINEAR}},
            {"resize2d bilinear 5x6 -> 1x9", {1, 9, KN_INTERP_BILINEAR}},
            {"resize2d nearest 5x6 -> 7x4", {7, 4, KN_INTERP_NEAREST}},
        };
        case_shapes rimg = {.n_in = 1, .ndim = {4}, .shape = {{2, 5, 6, 3}}};
        for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) gradcheck(rs[i].name, b_resize2d, rs[i].s, &rimg, NULL);
    }
    { /* random image augmentation (appended last): the affine resampling's transpose for each
       * layer, fill mode and interpolation over (3, 5, 6, 2) images (odd and even sides), and
       * contrast's mean through its gradient (a wide value range: eps 1e-2 would cross the clip,
       * whose mask test_random_layers checks exactly); three samples draw three transforms */
        static const kn_random_image_opts ro[] = {
            {.kind = KN_RANDOM_FLIP, .horizontal = true, .vertical = true},
            {.kind = KN_RANDOM_TRANSLATION, .factor = {-0.3f, 0.3f}, .width_factor = {-0.4f, 0.2f},
             .fill_mode = KN_FILL_REFLECT, .interpolation = KN_INTERP_BILINEAR},
            {.kind = KN_RANDOM_TRANSLATION, .factor = {-0.5f, 0.5f}, .width_factor = {-0.5f, 0.5f},
             .fill_mode = KN_FILL_WRAP, .interpolation = KN_INTERP_BILINEAR},
            {.kind = KN_RANDOM_ROTATION, .factor = {-0.2f, 0.2f}, .fill_mode = KN_FILL_CONSTANT,
             .interpolation = KN_INTERP_BILINEAR, .fill_value = 0.5f},
            {.kind = KN_RANDOM_ROTATION, .factor = {-0.5f, 0.5f}, .fill_mode = KN_FILL_NEAREST,
             .interpolation = KN_INTERP_NEAREST},
            {.kind = KN_RANDOM_ZOOM, .factor = {-0.5f, 0.6f}, .width_same = true, .fill_mode = KN_FILL_REFLECT,
             .interpolation = KN_INTERP_BILINEAR},
            {.kind = KN_RANDOM_ZOOM, .factor = {-0.3f, 0.8f}, .width_factor = {0.2f, 0.9f},
             .fill_mode = KN_FILL_CONSTANT, .interpolation = KN_INTERP_NEAREST, .seeded = true, .seed = 7},
            {.kind = KN_RANDOM_CONTRAST, .factor = {0.5f, 0.5f}, .value_range = {-10.0f, 10.0f}},
            {.kind = KN_RANDOM_BRIGHTNESS, .factor = {-0.2f, 0.2f}, .value_range = {-10.0f, 10.0f}},
        };
        static const char *const names[] = {"random flip both", "random translation reflect", "random translation wrap",
                                            "random rotation constant", "random rotation nearest nearest",
                                            "random zoom reflect (aspect kept)", "random zoom constant nearest",
                                            "random contrast", "random brightness"};
        case_shapes rimg3 = {.n_in = 1, .ndim = {4}, .shape = {{3, 5, 6, 2}}};
        for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++) gradcheck(names[i], b_random_image, &ro[i], &rimg3, NULL);
    }
    return checks_done("gradient");
}
