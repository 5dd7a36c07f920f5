/* graph.h — the static graph inside: tensors are nodes, one op table gives each op its
 * shape inference, its backward builder and its CPU kernel. Internal to libkiln. */
#ifndef KN_GRAPH_H
#define KN_GRAPH_H

#include "core/core.h"
#include "backend/loss_params.h"

#define KN_BATCH (-1)   /* symbolic leading dimension, resolved by kn_graph_set_batch */
#define KN_MAX_SRC 5
/* Floats grad_buf has past param_floats: room for the step's figures that the distributed
 * gradient all-reduce carries along (dist.c), so a step needs one collective. */
#define KN_GRAD_SLACK 16

/* Add an op: a line here, an entry in ops.c's table (static_assert keeps them in step),
 * its finite-difference gradient test in tests/test_gradcheck.c. */
typedef enum {
    KN_OP_INPUT,      /* leaf: fed by the caller before each run */
    KN_OP_PARAM,      /* leaf: trainable, in the flat parameter buffer */
    KN_OP_CONST,      /* leaf: filled with fparam[0] at compile time */
    KN_OP_MATMUL,     /* (m,k)x(k,n)->(m,n); iparam[0], [1]: transpose a, b */
    KN_OP_ADD,        /* a + b; b same shape, a row vector (n) or a scalar */
    KN_OP_SUB,        /* a - b; broadcast as ADD */
    KN_OP_MUL,        /* a * b; broadcast as ADD */
    KN_OP_SCALE,      /* a * fparam[0] */
    KN_OP_COPY,       /* a */
    KN_OP_ACT,        /* activation iparam[0] (kn_activation), alpha fparam[0] */
    KN_OP_ACT_GRAD,   /* (dy, x or y) -> dx for activation iparam[0]; which one: act_grad_uses_output */
    KN_OP_SUM_ROWS,   /* (m,n) -> (n) */
    KN_OP_SUM,        /* any -> scalar */
    KN_OP_SUM_SQUARES,/* any -> scalar: sum of x^2 */
    KN_OP_LOSS,       /* (pred, target) -> scalar mean loss; iparam[0] kn_loss, iparam[1] from_logits,
                       * fparam[0] label smoothing (the cross-entropies; 0: none), fparam[1]
                       * focal gamma, fparam[2] focal alpha, fparam[3] huber's delta (0: 1),
                       * iparam[2] class balancing (binary focal): kn__loss_node_params */
    KN_OP_LOSS_GRAD,  /* (pred, target, dloss) -> dpred; the loss's iparam and fparam */
    KN_OP_OPTIMIZER,  /* updates every parameter from the flat gradient buffer (fused) */
    KN_OP_TRANSPOSE,  /* (m,n) -> (n,m), a copy */
    KN_OP_RESHAPE,    /* a view of src[0] with another shape (same element count); no copy */
    /* Convolution and pooling, NHWC; the window geometry is packed in iparam (kn__win): */
    KN_OP_CONV2D,     /* (x (N,H,W,C), kernel (KH*KW*C, F)) -> (N,OH,OW,F): im2col(x) kernel,
                       * im2col(x) holding each output position's window as one row ((ky, kx, c)
                       * order, zeros in the padding). iparam[5] G > 1 groups (kn__conv_groups;
                       * all three conv ops): kernel (KH*KW*C/G, F), filter f reading only
                       * channels [j C/G, (j+1) C/G) of group j = f / (F/G); the
                       * windows gathered a block of rows at a time into the node's scratch
                       * (never the whole im2col matrix); the fuse pass may add src[2] a bias
                       * (F) and iparam[4] an activation (alpha fparam[0]) to its epilogue */
    KN_OP_CONV2D_GRAD_INPUT,  /* (dy (N,OH,OW,F), kernel) -> dx (N,H,W,C): col2im(dy kernel^T); the
                       * fuse pass may add src[2] v and iparam[4] an activation: dx * act'(v)
                       * (as the pooling gradients below). Also kn_conv2d_transpose's forward
                       * (any H, W and leading padding: cells no window reaches are 0), hence
                       * a backward of its own (kn__backward_conv2d_grad_input) */
    KN_OP_CONV2D_GRAD_KERNEL, /* (x, dy) -> d kernel (KH*KW*C, F): im2col(x)^T dy */
    KN_OP_MAXPOOL2D,  /* x (N,H,W,C) -> (N,OH,OW,C): window maximum over the valid cells */
    KN_OP_MAXPOOL2D_GRAD, /* (dy, x) -> dx: dy to each window's first maximum (recomputed) */
    KN_OP_AVGPOOL2D,  /* x (N,H,W,C) -> (N,OH,OW,C): window mean over the valid cells */
    KN_OP_AVGPOOL2D_GRAD, /* dy -> dx of the builder's shape: dy / count to each valid cell */
    KN_OP_DROPOUT,    /* inverted dropout, rate fparam[0], mask key iparam[0]: in a training run
                       * a * mask / (1 - rate), the mask drawn from (seed, step, key, element);
                       * a copy otherwise. Its gradient is a DROPOUT of dy with the same key.
                       * iparam[1] S > 0: one mask shared by S steps (Keras's noise_shape
                       * (batch, 1, F), SpatialDropout): element i of x viewed as (rows, S,
                       * F = iparam[2]) takes the draw of mask element (i / (S F)) F + i % F */
    KN_OP_BATCH_NORM, /* (x, moving_mean, moving_var) -> x normalized per channel (the last
                       * dimension); momentum fparam[0], epsilon fparam[1]. In a training run
                       * with the batch's mean and biased variance, which it also folds into
                       * the moving statistics (Keras's update); otherwise with the moving ones */
    KN_OP_BATCH_NORM_GRAD, /* (dy, x) -> dx through the batch statistics (recomputed from x) */
    KN_OP_LAYER_NORM, /* (x, gamma or NULL, beta or NULL) -> each row of x's last dimension
                       * normalized by its own mean and biased variance, then scaled and
                       * shifted: (x - mean) / sqrt(var + eps) * gamma + beta, eps fparam[0];
                       * the same in training and inference (no state) */
    KN_OP_LAYER_NORM_GRAD, /* (dy, x, gamma or NULL) -> dx through the row statistics
                       * (recomputed from x, as the forward computed them), eps fparam[0] */
    KN_OP_LAYER_NORM_GAMMA_GRAD, /* (dy, x) -> (channels): sum over the rows of dy * xhat, xhat
                       * x normalized as LAYER_NORM does (eps fparam[0]); beta's is a SUM_ROWS */
    /* Made by the optimizer's passes (graph/passes/), never differentiated: */
    KN_OP_DENSE,      /* act(op(a) op(b) + bias): iparam[0], [1] transposes, [2] activation
                       * (KN_LINEAR: none), fparam[0] alpha; src[2] bias (n) or NULL */
    KN_OP_MATMUL_ACT_GRAD, /* (op(a) op(b)) * act'(v): the incoming gradient's matmul with the
                       * activation's gradient applied; src[2] = v, iparam[2] activation */
    KN_OP_ELEMENTWISE,/* a chain of elementwise ops in one loop: program in aux (fuse.c) */
    KN_OP_OPT_UPDATE, /* updates one parameter src[0] from its gradient src[1]; src[2]: the
                       * clip factor (GRAD_NORM) or NULL. The fuse pass merges them all */
    KN_OP_GRAD_NORM,  /* scalar: the clip-by-global-norm factor of every gradient */
    KN_OP_BATCH_NORM_FOLD, /* (moving_mean, moving_var) -> (channels): an inference batch
                       * norm's scale 1 / sqrt(var + eps) (iparam[0] 0) or shift -mean * scale
                       * (1), eps fparam[1]; the fold pass makes BATCH_NORM x * scale + shift */
    KN_OP_CONCAT,     /* (a, b) -> a and b joined along their last axis (the others equal) */
    KN_OP_SLICE,      /* x -> columns [iparam[0], iparam[0] + iparam[1]) of its last axis (concat's backward) */
    KN_OP_MAXIMUM,    /* (a, b) -> max(a, b), same shapes */
    KN_OP_MAXIMUM_GRAD, /* (dy, a, b) -> dy where a >= b (iparam[0] 0: a's gradient) or where a < b (1: b's) */
    KN_OP_SLICE_GRAD, /* dy -> x of iparam[2] columns: dy in columns [iparam[0], iparam[0] + iparam[1]) of its last axis, zeros elsewhere */
    /* Recurrent layers (graph/ops_rnn.c; the cell formulas in backend/rnn_cell.h): */
    KN_OP_RNN,        /* (xw (N, T*G*H), recurrent kernel U (H, G*H), recurrent bias (G*H) or NULL) -> the
                       * sequence's states (N, kn__rnn_width): iparam[0] cell (kn_rnn_cell, G gates), [1]
                       * units H, [2] steps T, [3] activation, [4] recurrent activation, [5] go
                       * backwards. xw holds each step's input term x_t W + b; the output row holds
                       * h_0 = 0, h_1 .. h_T (reversed: h at times 0 .. T-1, then the zero state),
                       * then each time's recurrent term h_prev U + b_r, then (lstm) the cell states,
                       * in time order: what the backward reads, so it recomputes nothing.
                       * iparam[5]: bit 0 go_backwards, the mask key above (KN__RNN_KEY_SHIFT);
                       * fparam[0] > 0: recurrent dropout at that rate (Keras 2's tied mask: in a
                       * training run the products read h_prev times one keep factor per (row,
                       * unit), 0 or 1 / (1 - rate), the same at every step, drawn as dropout's
                       * element n H + j; the row then also holds those states, kn__rnn_width) */
    /* (KN_OP_RNN's src[3], KN_OP_RNN_GRAD's src[4]: a mask (N, T), or NULL: a step it drops
     * keeps the state (h and c) and outputs the previous h, Keras's masked steps) */
    KN_OP_RNN_GRAD,   /* (d states, xw, U, states) -> d xw (N, T*G*H), followed for a gru by the recurrent
                       * term's gradient (its candidate part differs: times the reset gate) */
    KN_OP_GATHER,     /* (indices (...), table (V, D)) -> (..., D): row indices[i] of the table for
                       * each index, f32 whole numbers in [0, V); any other value a row of zeros
                       * (never a read outside the table). An embedding lookup (embedding.c) */
    KN_OP_GATHER_GRAD, /* (dy (..., D), indices (...)) -> (V, D) (the builder's shape): zeros, then
                       * each dy row added to row indices[i] in index order (a scatter-add;
                       * other values skipped). Deterministic on every thread count and device */
    /* Attention (graph/ops_attention.c): iparam[0] heads H, [1] query steps Tq, [2] key steps
     * Tk, [3] key_dim Dk, [4] value_dim Dv, [5] KN_ATTENTION_CAUSAL; fparam[0] the scale */
    KN_OP_ATTENTION,  /* (Q (N, Tq*H*Dk), K (N, Tk*H*Dk), V (N, Tk*H*Dv)) -> (N, Tq*H*Dv): for each
                       * sample and head h (columns h*D .. h*D + D - 1 of every step),
                       * softmax(Q_h K_h^T scale) V_h; causal: query step i sees key steps <= i */
    KN_OP_ATTENTION_GRAD, /* (dO, Q, K, V[, masks]) -> (N, dQ | dK | dV), the probabilities recomputed */
    KN_OP_MASKED_MEAN, /* (x (N, T*C), mask (N, T)) -> (N, C): the mean over the steps the mask keeps
                        * (> 0.5), 0 where it keeps none; iparam[0] T, [1] C (ops_mask.c) */
    KN_OP_MASKED_MEAN_GRAD, /* (dy (N, C), mask (N, T)) -> (N, T*C): dy * mask_t / kept steps */
    KN_OP_NOISE,      /* Keras's GaussianNoise, GaussianDropout, AlphaDropout: mode iparam[1]
                       * (backend/noise_formulas.h), parameter fparam[0], key iparam[0] (dropout's:
                       * element i's draws from (seed, step, key, i) as KN_OP_DROPOUT's). In a training
                       * run, z_i a standard normal: 0 x + stddev z_i; 1 x (1 + s z_i), s = sqrt(rate
                       * / (1 - rate)); 2 a (kept_i ? x : alpha_p) + b (kept_i: dropout's draw of
                       * element i at the rate); 3 (2's gradient) kept_i ? x a : 0. A copy otherwise.
                       * Gradients: 0 dy itself, 1 a mode 1 of dy, 2 a mode 3 of dy, same key */
    /* Depthwise convolution (graph/ops_depthwise.c; Keras's DepthwiseConv2D), NHWC, the window
     * in iparam (kn__win) as KN_OP_CONV2D's; M, the depth multiplier, is the kernel's columns / C.
     * f32 only and never fused (no bias or activation inside: the fuse pass matches conv2d alone) */
    KN_OP_DEPTHWISE_CONV2D, /* (x (N,H,W,C), kernel (KH*KW, C*M)) -> (N,OH,OW,C*M): output channel
                       * c*M + m sums input channel c alone over the window, each tap (ky, kx) times
                       * kernel[ky*KW + kx, c*M + m] (zeros in the padding) */
    KN_OP_DEPTHWISE_CONV2D_GRAD_INPUT, /* (dy (N,OH,OW,C*M), kernel) -> dx (N,H,W,C) (the builder's
                       * shape): each cell sums dy * kernel over the outputs whose windows read it */
    KN_OP_DEPTHWISE_CONV2D_GRAD_KERNEL, /* (x, dy) -> d kernel (KH*KW, C*M): per tap and column, the
                       * sum over every output position of its window's cell of x times dy */
    /* Spatial resizing (graph/ops_resize.c; Keras's ZeroPadding, Cropping and UpSampling
     * layers), NHWC, f32 only, never fused; the formulas in backend/resize_formulas.h */
    KN_OP_PAD2D,      /* x (N,H,W,C) -> (N, H + top + bottom, W + left + right, C), the amounts in
                       * iparam[0..3] (top, bottom, left, right): y[n, oy, ox, c] = x[n, oy - top,
                       * ox - left, c] where that cell is inside x, else 0, so a negative amount
                       * crops. Its own adjoint: the gradient is a PAD2D of dy, the amounts negated */
    KN_OP_UPSAMPLE2D, /* x (N,H,W,C) -> (N, H sh, W sw, C), sh iparam[0], sw iparam[1]; iparam[2]
                       * kn_interpolation: nearest y[oy, ox] = x[oy / sh, ox / sw], or bilinear with
                       * half-pixel centers (four cells, each axis's pair and weights) */
    KN_OP_UPSAMPLE2D_GRAD, /* dy (N, H sh, W sw, C) -> dx (N,H,W,C) (the builder's shape), the same
                       * iparams: each cell sums the outputs that read it times their weights, in a
                       * fixed order (a gather: the same bits on any thread count or device) */
    KN_OP_RESIZE2D,   /* x (N,H,W,C) -> (N, OH, OW, C), the node's own size (any, up or down, each axis
                       * alone; iparam[0] OH, iparam[1] OW), iparam[2] kn_interpolation, half-pixel
                       * centers with the float scale H / OH (Keras's Resizing): bilinear four cells,
                       * nearest x[min(floor(H/OH (oy + 0.5)), H - 1), ...] (PyTorch's nearest-exact) */
    KN_OP_RESIZE2D_GRAD, /* dy (N,OH,OW,C) -> dx (N,H,W,C) (the builder's shape), iparam[2] the mode:
                       * each cell sums the outputs that read it times their weights, in a fixed
                       * order (a gather: the same bits on any thread count or device) */
    /* Per-sample broadcasts (graph/ops_bcast.c, which kn_add, kn_sub and kn_mul build): a (N,
     * ..., C) viewed as (N, P, C), b as (N, Pb, Cb), Pb 1 or P (iparam[1]: 1), Cb 1 or C
     * (iparam[2]: 1): a squeeze-and-excitation's gates (N, 1, 1, C), a map (N, H, W, 1) */
    KN_OP_BCAST_BINARY, /* (x, v) -> x op v[n, p or 0, c or 0], op iparam[0] (kn__bcast_op: add,
                       * sub x - v, rsub v - x, mul); x's shape */
    KN_OP_BCAST_REDUCE, /* (d (N, P, C), w of d's shape or NULL) -> (N, Pb, Cb) (the builder's
                       * shape): d (times w) summed over the axes iparam[1], [2] broadcast, in
                       * order (positions, then channels); the gradient of v */
    KN_OP_PERMUTE,    /* x (N, a1 .. ar) -> each sample's axes permuted (graph/ops_permute.c):
                       * output axis k is x's axis iparam[k] + 1; iparam[3] r (1 to 3) */
    /* Group normalization (graph/ops_group_norm.c): x (N, ..., C), iparam[0] groups G (C / G
     * consecutive channels each), fparam[0] epsilon */
    KN_OP_GROUP_NORM, /* (x, gamma or NULL, beta or NULL) -> each (sample, group)'s values
                       * normalized by their mean and biased variance, then * gamma + beta per
                       * channel */
    KN_OP_GROUP_NORM_GRAD, /* (dy, x, gamma or NULL) -> dx through the group statistics
                       * (recomputed from x) */
    KN_OP_GROUP_NORM_GAMMA_GRAD, /* (dy, x) -> (C): sum over samples and positions of dy * xhat;
                       * beta's is a SUM_ROWS */
    KN_OP_MASK_VALUES, /* x rows (N, T*C) -> (N, T): 1 where any of a step's C values (iparam[0] T,
                       * [1] C) differs from fparam[0], else 0 (Keras's Masking); no gradient */
    KN_OP_UNIT_NORM,  /* x -> each row of the last axis over max(its L2 norm, sqrt(eps)), eps fparam[0]
                       * (graph/ops_unit_norm.c: Keras's UnitNormalization) */
    KN_OP_UNIT_NORM_GRAD, /* (dy, x) -> dx through the norm (recomputed from x), eps fparam[0] */
    /* Keras 3's random image augmentation (graph/ops_random_aug.c; the arithmetic in
     * backend/random_aug_formulas.h): x (N,H,W,C) F32 -> the same shape. iparam[0] the key (sample
     * n draws kn__rng_draw(dropout's key of (seed, step, key), n)), [1] the kind, [3] the layer's
     * seed (-1: the context's). In a training run only; a copy otherwise */
    KN_OP_RANDOM_AFFINE, /* flip, translation, rotation, zoom: output cell (x, y) reads the input
                       * through sample n's map (kn__raug_map_of of fparam[0..3], the factors),
                       * bilinear or nearest, the fill mode for taps outside (iparam[2] flags),
                       * fill value iparam[5] (a float's bits) */
    KN_OP_RANDOM_AFFINE_GRAD, /* dy -> dx, the forward's parameters: the map's transpose, each
                       * (sample, channel) summing its outputs' taps into dx in output order
                       * (one thread a plane: the same bits on any thread count or device) */
    KN_OP_RANDOM_COLOR, /* contrast ((x - mean) f + mean, the mean over each (sample, channel)'s
                       * cells) or brightness (x + delta), clipped to [fparam[2], fparam[3]];
                       * the factor from fparam[0], [1] (kn__raug_color_factor) */
    KN_OP_RANDOM_COLOR_GRAD, /* (x, dy) -> dx through the clip's mask (and contrast's mean) */
    /* A 3-D convolution's depth taps as channels (graph/ops_depth_taps.c; nn/model_volume.c's
     * conv3d): volumes as (N, D H, W, C); iparam[0] D, [1] taps KD, [2] stride, [3] dilation,
     * [4] the padding in front, [5] the output depth OD */
    KN_OP_DEPTH_TAPS, /* x (N, D H, W, C) -> (N, OD H, W, KD C): element (od, h, w, t C + c) is x's
                       * (od stride + t dilation - front, h, w, c), 0 outside [0, D) */
    KN_OP_DEPTH_TAPS_GRAD, /* dy (N, OD H, W, KD C) -> dx (N, D H, W, C): each x element the sum
                       * of the dy elements that copied it, taps in order (a gather: any thread
                       * count, the same bits) */
    KN_OP_COUNT
} kn_op;

/* Phases let one graph serve training, evaluation and prediction: each node belongs to
 * the phase that was current when it was built, and a run names the phases it wants. */
enum {
    KN_PHASE_FORWARD = 1u << 0,  /* the model's forward pass */
    KN_PHASE_PREDICT = 1u << 1,  /* output heads only predictions need (softmax of logits) */
    KN_PHASE_LOSS = 1u << 2,     /* the loss and regularizers */
    KN_PHASE_BACKWARD = 1u << 3, /* gradients */
    KN_PHASE_UPDATE = 1u << 4,   /* the optimizer update (apart, for gradient accumulation) */
    KN_PHASE_ALL = 0xffu,
    KN_PHASE_TRAIN = KN_PHASE_FORWARD | KN_PHASE_LOSS | KN_PHASE_BACKWARD | KN_PHASE_UPDATE,
};
/* Not a phase (nodes never carry it): a run mask bit saying the run is training, for a
 * forward run whose backward comes in a later run (fit). A run with KN_PHASE_BACKWARD in a
 * graph that has a backward pass trains too; every other run evaluates (dropout is off). */
#define KN_RUN_TRAINING (1u << 8)
/* A resident training step (backends with resident_open, backend.h): the batch gathered on
 * the device from the bound tables at order[resident_first ..], forward, loss, the step's
 * figures accumulated, backward, a guard that skips the update (for good) once the loss or
 * a gradient is non-finite, update: the whole step in one run, nothing copied per step. */
#define KN_RUN_RESIDENT (1u << 9)
/* With KN_RUN_RESIDENT, gradient accumulation on the device (the backend's accumulator,
 * resident_open's desc.accumulate): after the guard, the batch's gradient times its rows is
 * added to the accumulator (fma, as fit's host loop sums it); a run with KN_PHASE_UPDATE
 * then takes the sum times grad_acc_scale (1 / the group's rows) as the gradient and
 * clears the accumulator before its update. */
#define KN_RUN_ACCUMULATE (1u << 10)

enum {
    KN_FLAG_KEEP = 1u << 0,       /* value read by the caller: never reused */
    KN_FLAG_EXTERNAL = 1u << 1,   /* data lives in a flat buffer, not in the arena */
    KN_FLAG_NEEDS_GRAD = 1u << 2, /* depends on a parameter */
    KN_FLAG_PARAM_GRAD = 1u << 3, /* is the gradient of a parameter */
    KN_FLAG_FOLDED = 1u << 4,     /* constant: computed when parameters are set, not per run */
    KN_FLAG_DEAD = 1u << 5,       /* removed by a pass (graph/passes/), about to leave the list */
};

struct kn_tensor {
    kn_op op;
    kn_dtype dtype;
    int ndim;
    int64_t shape[KN_MAX_DIMS]; /* as built; shape[0] may be KN_BATCH */
    int64_t ne[KN_MAX_DIMS];    /* resolved for the current batch */
    int64_t batch_rows;         /* shape[0] == KN_BATCH: that dimension is batch * batch_rows
                                 * (0: unset, inherited from the first batched source; as 1) */
    kn_tensor *src[KN_MAX_SRC];
    int32_t iparam[6];
    float fparam[4];
    void *data;
    kn_tensor *grad;            /* d loss / d this, after kn_graph_backward */
    uint32_t flags;
    uint8_t phase;              /* KN_PHASE_* bit this node runs in */
    kn_init init;               /* params */
    float init_value;           /* params: KN_INIT_CONSTANT's value (kn_param leaves 0) */
    int64_t init_rf;            /* params: a flattened conv kernel's receptive field KH*KW (fans as Keras), or 0 */
    int64_t init_ones_at, init_ones_len; /* params: elements set to 1 after the initializer (an lstm
                                 * bias's forget gate: Keras's unit_forget_bias), or len 0 */
    size_t param_offset;        /* params: offset in floats into the flat buffers */
    size_t arena_offset;        /* others: byte offset into the arena */
    size_t scratch_bytes;       /* working memory the kernel needs while it runs (planned in
                                 * the arena beside the live tensors), or 0 */
    size_t scratch_offset;
    void *scratch;
    int id;                     /* position in graph order */
    kn_tensor *alias;           /* shares this tensor's memory (a view, or in-place), or NULL */
    int n_uses;                 /* readers (source slots), kept by the passes */
    char fused[64];             /* the fused kernel this node runs ("matmul+add+relu"), or "" */
    void *aux;                  /* op-specific data owned by the graph (a fused program) */
    char name[64];
};

/* A graph's backend (backend/backend.h): its function table, device, and per-graph state. */
struct kn_backend_iface;
typedef struct {
    const struct kn_backend_iface *iface; /* NULL before compile */
    kn_device device;
    void *context;                        /* the backend's per-graph state, or NULL (cpu) */
} kn_backend;

/* The flat buffers a backend's pull and push move (kn__graph_pull, kn__graph_push). */
#define KN_SYNC_PARAMS 1u
#define KN_SYNC_GRADS 2u
#define KN_SYNC_STATE 4u
#define KN_SYNC_ALL (KN_SYNC_PARAMS | KN_SYNC_GRADS | KN_SYNC_STATE)

struct kn_graph {
    kn_ctx *ctx;
    kn_status status;           /* sticky: the first builder error */
    kn_tensor **nodes;
    int n_nodes, cap_nodes;
    kn_tensor **params;
    int n_params, cap_params;
    bool compiled, has_backward, has_optimizer;
    uint8_t build_phase;        /* phase given to new nodes (KN_PHASE_FORWARD by default) */
    int64_t max_batch, batch;
    /* flat buffers, each 64-byte aligned: parameters, their gradients, optimizer state */
    float *param_buf, *grad_buf, *state_buf; /* grad_buf: NULL without backward */
    const float *shared_params;  /* set before compile: param_buf is this (read-only), not owned */
    size_t param_floats;        /* padded length of param_buf and grad_buf */
    size_t state_floats;
    uint8_t *arena;
    size_t arena_bytes;         /* planned peak */
    size_t naive_bytes;         /* the same tensors, each in its own block */
    kn_optimizer opt;
    int64_t step;               /* optimizer steps taken */
    struct {                    /* Nadam's P_at = u_1 ... u_at (backend/nadam_schedule.h), for */
        int64_t at;             /* this beta_1 and momentum_decay: a cache of a function of the */
        double product;         /* step (kn__nadam_graph_product), not state: zeroed, it is */
        float b1, decay;        /* computed anew */
    } nadam;
    bool training;              /* the current run trains (kn__graph_run_phases sets it) */
    int64_t rng_step;           /* the step of the last forward run: dropout masks' key */
    int64_t rng_micro;          /* which batch of a gradient accumulation the last forward run was */
    int64_t rng_micro_next;     /* set by fit for the next forward run (which takes it and clears it) */
    /* the optimizer (graph/passes/): which passes compile runs, what they did */
    unsigned passes;            /* KN_PASS_* bits */
    bool frozen_params;         /* parameters are constants to the fold pass (inference) */
    bool fold_stale;            /* folded tensors must be recomputed before the next run */
    int nodes_before;           /* node count as built */
    int n_pass_runs;
    struct { unsigned pass; int nodes_after; } pass_runs[8];
    double *prof_seconds;       /* KILN_PROFILE: time spent in each node, and runs */
    int64_t prof_runs;
    kn_device device;           /* where compile puts it (kn_graph_set_device; the ctx's by default) */
    /* Inference from a half-precision model file: a copy of the parameters in that type
     * (KN_F16 or KN_BF16; KN_F32: none), which single-sample products read instead of
     * param_buf (backend/cpu/gemv_half.c). Set before compile; made by compile. */
    kn_dtype param_half_dtype;
    uint16_t *param_half;
    /* Int8 inference (kn_model_set_quantization; set before compile): products by constant
     * weights (dense, matmul) run on 8-bit integers, each node's packed weights in its aux
     * (backend/cpu/dense_q8.c), packed again before a run after the weights changed. */
    kn_quant quant;
    bool q8_stale;
    /* Mixed precision (set before compile): the precision pass (graph/passes/precision.c)
     * stores activations and gradients in this type where every kernel touching them reads
     * and writes it. loss_scale multiplies the loss gradient's output (fp16's dynamic loss
     * scaling; 1 otherwise); grad_unscale multiplies the gradients in the optimizer. */
    kn_precision precision;
    float loss_scale, grad_unscale;
    float grad_acc_scale;       /* a KN_RUN_ACCUMULATE update: 1 / the accumulated rows */
    float grad_share;           /* a resident data-parallel run: this rank's rows / the step's */
    kn_tensor *loss_seed;       /* fp16: the backward pass's seed, set to loss_scale by every run */
    bool half_inputs;           /* inputs may be half too (the model's batch loaders narrow) */
    kn_backend backend;         /* set by compile */
    bool refolded;              /* folded tensors were just recomputed on the host (a device copies them in) */
    int64_t resident_first;     /* a KN_RUN_RESIDENT run: the batch's first position in the epoch's order */
    bool state_frozen;          /* a resident run after a failed step: batch norm's moving statistics stay */
    int64_t resident_skipped;   /* resident fp16: the skipped updates fit has taken out of step already (the
                                 * run takes out those since: step and rng_step count updates taken) */
    kn_tensor **dead;           /* nodes the passes removed, freed with the graph */
    int n_dead, cap_dead;
};

typedef struct kn_op_info {
    const char *name;
    int arity;
    /* Sets t's shape and dtype from its sources and params; reports errors via kn__graph_fail. */
    bool (*infer)(kn_graph *g, kn_tensor *t);
    /* Given dy = d loss / d t, accumulates gradients into t's sources (kn__grad_accumulate). */
    void (*backward)(kn_graph *g, kn_tensor *t, kn_tensor *dy);
    /* Computes t from its sources on the CPU. */
    void (*cpu)(kn_graph *g, kn_tensor *t);
    /* Bytes of scratch the CPU kernel needs at the resolved (largest) batch, or NULL: none. */
    size_t (*cpu_scratch)(const kn_graph *g, const kn_tensor *t);
    /* Other backends keep their kernels in their own table indexed by op, beside their
     * code (backend/cuda/ops.c's cuda_kernels), so this table and the CPU build stay
     * free of device types; an op with a cpu kernel and none there is refused when a
     * graph using it is compiled for that device. */
} kn_op_info;

const kn_op_info *kn__op_info(kn_op op);

/* Int8 inference (backend/cpu/dense_q8.c): whether node t runs in int8 in g (decided before
 * the plan: its scratch holds the quantized rows); its packed weights (backend/cpu/q8.h's
 * kn__q8_weights) once compiled, or NULL; compile's allocation of them; a run's packing. */
bool kn__q8_eligible(const kn_graph *g, const kn_tensor *t);
static inline const void *kn__q8_node(const kn_graph *g, const kn_tensor *t) {
    return g->quant == KN_QUANT_INT8 && (t->op == KN_OP_MATMUL || t->op == KN_OP_DENSE || t->op == KN_OP_CONV2D)
               ? t->aux
               : NULL;
}
kn_status kn__q8_graph_alloc(kn_graph *g);
void kn__q8_graph_pack(kn_graph *g);

/* The half copy of parameter t's values (graph.h's param_half), or NULL. */
static inline const uint16_t *kn__param_half(const kn_graph *g, const kn_tensor *t) {
    return g->param_half && t->op == KN_OP_PARAM ? g->param_half + t->param_offset : NULL;
}

/* Creates a node (NULL and sticky error on failure); srcs may be NULL. */
kn_tensor *kn__node(kn_graph *g, kn_op op, kn_tensor *a, kn_tensor *b, kn_tensor *c);
/* Runs a freshly built node's shape inference (NULL when it fails); kn__node's nodes are
 * finished by their builder, after it sets their parameters. */
kn_tensor *kn__finish(kn_graph *g, kn_tensor *t);
/* Records the first error in the graph (and the ctx) and returns false. */
bool kn__graph_fail(kn_graph *g, kn_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds dx into src's gradient (creating it or an ADD node). */
void kn__grad_accumulate(kn_graph *g, kn_tensor *src, kn_tensor *dx);

/* A 2-D window's geometry (kernel, strides, dilation, top/left padding, output size),
 * packed in iparam: kh, kw, sh, sw in iparam[0] and dh, dw, pt, pl in iparam[1], a byte
 * each (the builders check the range); oh, ow in iparam[2], [3]. */
typedef struct { int kh, kw, sh, sw, dh, dw, pt, pl, oh, ow; } kn__win;
static inline void kn__win_pack(kn_tensor *t, const kn__win *w) {
    t->iparam[0] = (int32_t)((uint32_t)w->kh | (uint32_t)w->kw << 8 | (uint32_t)w->sh << 16 | (uint32_t)w->sw << 24);
    t->iparam[1] = (int32_t)((uint32_t)w->dh | (uint32_t)w->dw << 8 | (uint32_t)w->pt << 16 | (uint32_t)w->pl << 24);
    t->iparam[2] = w->oh;
    t->iparam[3] = w->ow;
}
static inline kn__win kn__win_unpack(const kn_tensor *t) {
    uint32_t a = (uint32_t)t->iparam[0], b = (uint32_t)t->iparam[1];
    return (kn__win){(int)(a & 255), (int)(a >> 8 & 255), (int)(a >> 16 & 255), (int)(a >> 24),
                     (int)(b & 255), (int)(b >> 8 & 255), (int)(b >> 16 & 255), (int)(b >> 24),
                     t->iparam[2], t->iparam[3]};
}
/* A sequence x (N, L, C) as the (N, 1, L, C) view the 1-D ops run the 2-D ones on, or NULL
 * (the graph failed, the message naming `what`) when x is not an F32 sequence; and a result
 * y (N, 1, OL, C) back as (N, OL, C) (graph.c). */
kn_tensor *kn__seq_view(kn_graph *g, const char *what, kn_tensor *x);
kn_tensor *kn__seq_unview(kn_graph *g, kn_tensor *y);
/* kn_grouped_conv2d with any padding (kn_conv1d's causal one too): x (N, H, W, C). */
kn_tensor *kn__conv2d_padded(kn_graph *g, kn_tensor *x, kn_tensor *kernel, int kh, int kw, int sh, int sw, int dh,
                             int dw, kn_padding padding, int groups);
/* KN_OP_PERMUTE (ops_permute.c): its output's sample axes (padded with 1 to 3) and, for each,
 * the stride in x of the axis it reads: y[n, i0, i1, i2] = x[n * per + i0 from[0] + i1
 * from[1] + i2 from[2]]. */
bool kn__infer_permute(kn_graph *g, kn_tensor *t);
void kn__backward_permute(kn_graph *g, kn_tensor *t, kn_tensor *dy);
void kn__permute_axes(const kn_tensor *t, int64_t out[3], int64_t from[3]);
/* KN_OP_DEPTH_TAPS and its gradient (ops_depth_taps.c): the builder (x (N, D H, W, C), d = D;
 * taps, stride, dilation, front padding and output depth as the op's iparam), inference and
 * backward; and a node's geometry for the kernels: N is ne[0], g[0..5] the iparam, hw = H W,
 * c = C. */
kn_tensor *kn__depth_taps(kn_graph *g, kn_tensor *x, int d, int taps, int stride, int dilation, int front, int out_d);
/* KN_OP_DEPTH_TAPS_GRAD built directly (a transposed 3-D convolution's depth part): dy (N, OD
 * H, W, KD C) -> (N, D H, W, C), the same geometry as the taps it undoes. */
kn_tensor *kn__depth_taps_sum(kn_graph *g, kn_tensor *dy, int d, int taps, int stride, int dilation, int front, int out_d);
void kn__backward_depth_taps_sum(kn_graph *g, kn_tensor *t, kn_tensor *dy);
bool kn__infer_depth_taps(kn_graph *g, kn_tensor *t);
bool kn__infer_depth_taps_grad(kn_graph *g, kn_tensor *t);
void kn__backward_depth_taps(kn_graph *g, kn_tensor *t, kn_tensor *dy);
typedef struct { int64_t n, d, taps, stride, dilation, front, od, hw, c; } kn__depth_geom;
kn__depth_geom kn__depth_taps_geom(const kn_tensor *t);
/* KN_OP_GROUP_NORM and its gradients (ops_group_norm.c); the samples of x (its leading
 * dimension over its rows per batch element), each the next numel / samples values. */
bool kn__infer_group_norm(kn_graph *g, kn_tensor *t);
bool kn__infer_group_norm_grads(kn_graph *g, kn_tensor *t);
void kn__backward_group_norm(kn_graph *g, kn_tensor *t, kn_tensor *dy);
int64_t kn__group_norm_samples(const kn_tensor *x);
/* The per-sample broadcasts' ops (KN_OP_BCAST_BINARY's iparam[0]) */
typedef enum { KN__BCAST_ADD, KN__BCAST_SUB, KN__BCAST_RSUB, KN__BCAST_MUL, KN__BCAST_OPS } kn__bcast_op;
/* Whether b is a per-sample broadcast of a (ops_bcast.c's shapes; not a's own shape), and
 * the node a op b (either of a and b the broadcast one: kn__is_sample_bcast(a, b) or (b, a)). */
bool kn__is_sample_bcast(const kn_tensor *a, const kn_tensor *b);
kn_tensor *kn__sample_bcast(kn_graph *g, kn__bcast_op op, kn_tensor *a, kn_tensor *b);
bool kn__infer_bcast_binary(kn_graph *g, kn_tensor *t);
bool kn__infer_bcast_reduce(kn_graph *g, kn_tensor *t);
void kn__backward_bcast_binary(kn_graph *g, kn_tensor *t, kn_tensor *dy);
/* A convolution node's groups (iparam[5]; 0, as a node built before groups existed, is 1). */
static inline int64_t kn__conv_groups(const kn_tensor *t) { return t->iparam[5] > 1 ? t->iparam[5] : 1; }
/* The maximum or mean over every step of x (N, 1, L, C) -> (N, C): kn_global_max_pool1d and
 * kn_global_avg_pool1d on their view, in stages of windows of at most 255 steps
 * (kn__step_window): the maximum's 'same'-padded (padding never wins), the mean's dividing
 * the length exactly, so the mean of equal windows' means is the mean. */
kn_tensor *kn__global_pool_steps(kn_graph *g, kn_tensor *x, bool max);
/* The window of the next stage of a global pooling over n > 1 steps (kn__global_pool_steps): all of them up to 255; past that 255 for a maximum ('same'-padded), and
 * for a mean the largest divisor of n up to 255, or 0 when n has none above 1 (a prime
 * factor above 255: the mean cannot be taken in windows of equal size). */
static inline int kn__step_window(int64_t n, bool max) {
    if (n <= 255) return (int)n;
    if (max) return 255;
    for (int k = 255; k > 1; k--)
        if (n % k == 0) return k;
    return 0;
}
/* Rows of the leading dimension per batch element (1 unless batch_rows says otherwise). */
static inline int64_t kn__batch_rows(const kn_tensor *t) {
    return t->ndim > 0 && t->shape[0] == KN_BATCH && t->batch_rows > 1 ? t->batch_rows : 1;
}

/* Internal builders used by backward functions. */
kn_tensor *kn__const_scalar(kn_graph *g, float value);
/* A constant of the given shape, every element value (filled when the graph compiles). */
kn_tensor *kn__const_filled(kn_graph *g, const int64_t *shape, int ndim, float value);
kn_tensor *kn__copy(kn_graph *g, kn_tensor *a);
/* Columns [offset, offset + width) of x's last axis (a concatenation's gradient). */
kn_tensor *kn__slice_last(kn_graph *g, kn_tensor *x, int64_t offset, int64_t width);
/* slice's gradient: dy (..., width) placed at columns [offset, offset + width) of (..., cols), zeros elsewhere. */
kn_tensor *kn__slice_grad(kn_graph *g, kn_tensor *dy, int64_t offset, int64_t width, int64_t cols);
/* The op table's entries of the slice gradient and the recurrent ops (graph/ops_rnn.c). */
bool kn__infer_slice_grad(kn_graph *g, kn_tensor *t);
void kn__backward_slice(kn_graph *g, kn_tensor *t, kn_tensor *dy);
bool kn__infer_rnn(kn_graph *g, kn_tensor *t);
void kn__backward_rnn(kn_graph *g, kn_tensor *t, kn_tensor *dy);
bool kn__infer_rnn_grad(kn_graph *g, kn_tensor *t);
/* maximum(a, b)'s gradient for a (side 0: dy where a >= b) or b (side 1: dy where a < b). */
kn_tensor *kn__maximum_grad(kn_graph *g, kn_tensor *dy, kn_tensor *a, kn_tensor *b, int side);
kn_tensor *kn__sum(kn_graph *g, kn_tensor *x);
kn_tensor *kn__act_alpha(kn_graph *g, kn_tensor *x, kn_activation a, float alpha);
kn_tensor *kn__act_grad(kn_graph *g, kn_tensor *dy, kn_tensor *fwd);
kn_tensor *kn__loss_grad(kn_graph *g, kn_tensor *loss, kn_tensor *dloss);
/* A loss (or loss gradient) node's settings, and whether two nodes' kinds and settings agree. */
kn_loss_params kn__loss_node_params(const kn_tensor *t);
bool kn__loss_nodes_agree(const kn_tensor *a, const kn_tensor *b);
/* A reshape whose leading KN_BATCH dimension is batch * batch_rows (0: as 1). */
kn_tensor *kn__reshape_rows(kn_graph *g, kn_tensor *x, const int64_t *shape, int ndim, int64_t batch_rows);
/* Convolution and pooling nodes from a window's geometry (the public builders compute it). */
kn_tensor *kn__conv2d_grad_input(kn_graph *g, kn_tensor *dy, kn_tensor *kernel, const kn__win *w, const int64_t *x_shape,
                                 int groups);
kn_tensor *kn__conv2d_grad_kernel(kn_graph *g, kn_tensor *x, kn_tensor *dy, const kn__win *w, const kn_tensor *kernel,
                                  int groups);
/* The transposed convolution (graph/ops_conv_transpose.c) is a KN_OP_CONV2D_GRAD_INPUT node;
 * this is that op's backward (a conv2d node of its gradient, and a kernel gradient with
 * the roles of image and dy swapped), which makes kn_conv2d_transpose differentiable. */
void kn__backward_conv2d_grad_input(kn_graph *g, kn_tensor *t, kn_tensor *dy);
/* One axis of Keras's transposed convolution (k taps, stride s, dilation d, 'same' or 'valid';
 * op its output padding, or < 0 for Keras's None): in cells -> *out, and *crop, the leading
 * cells of the full output ((in - 1) s + (k - 1) d + 1 cells) that Keras drops. *out may be
 * 0 (Keras's empty output: callers refuse it). Shared by the graph builder and the layer. */
void kn__conv_transpose_axis(int64_t in, int k, int s, int d, bool same, int op, int64_t *out, int64_t *crop);
kn_tensor *kn__maxpool2d_grad(kn_graph *g, kn_tensor *dy, kn_tensor *x, const kn__win *w);
kn_tensor *kn__avgpool2d_grad(kn_graph *g, kn_tensor *dy, const kn__win *w, const int64_t *x_shape);
/* A dropout of x with the given mask key (kn_dropout uses its node's build index); steps,
 * features: a mask shared by steps (KN_OP_DROPOUT's iparam[1], [2]; 0, 0: none). */
kn_tensor *kn__dropout_keyed(kn_graph *g, kn_tensor *x, float rate, int32_t key, int64_t steps, int64_t features);
/* A KN_OP_NOISE node of mode (noise_formulas.h) and parameter on x with the given key (-1: the
 * node's build index, as kn_dropout); the public builders check the parameter first. */
kn_tensor *kn__noise_keyed(kn_graph *g, kn_tensor *x, int mode, float param, int32_t key);
/* The gradient of a BATCH_NORM node t (gamma and beta apart) given dy. */
kn_tensor *kn__batch_norm_grad(kn_graph *g, kn_tensor *dy, kn_tensor *t);
/* The scale (shift false) or shift of BATCH_NORM node t evaluating, from its moving statistics. */
kn_tensor *kn__batch_norm_fold(kn_graph *g, kn_tensor *t, bool shift);
/* The gradients of LAYER_NORM node t given dy: its input's (through gamma, when it has
 * one) and gamma's. */
kn_tensor *kn__layer_norm_grad(kn_graph *g, kn_tensor *dy, kn_tensor *t);
kn_tensor *kn__layer_norm_gamma_grad(kn_graph *g, kn_tensor *dy, kn_tensor *t);

/* Runs a freshly built node's shape inference and sets its resolved shape (what every
 * builder ends with); NULL when inference failed (the graph's error set). */
kn_tensor *kn__finish(kn_graph *g, kn_tensor *t);
/* The attention ops' table entries (graph/ops_attention.c). */
bool kn__infer_attention(kn_graph *g, kn_tensor *t);
/* iparam[5]'s bits beside KN_ATTENTION_CAUSAL: the node reads a query mask, a key mask
 * (src[3] forward, src[4] backward: (N, Tq if so + Tk if so)); the dropout key above them */
#define KN__ATTENTION_QUERY_MASK 2u
#define KN__ATTENTION_KEY_MASK 4u
#define KN__ATTENTION_KEY_SHIFT 3
bool kn__infer_masked_mean(kn_graph *g, kn_tensor *t);
bool kn__infer_masked_mean_grad(kn_graph *g, kn_tensor *t);
void kn__backward_masked_mean(kn_graph *g, kn_tensor *t, kn_tensor *dy);
/* KN_OP_NOISE's table entries (graph/ops_noise.c). */
bool kn__infer_noise(kn_graph *g, kn_tensor *t);
void kn__backward_noise(kn_graph *g, kn_tensor *t, kn_tensor *dy);
/* Keras's mask_zero: (batch, T) 1 where the indices x (batch, T) are not 0, else 0 (its
 * elementwise ops: relu6(6 x) / 6 of whole numbers >= 0), never differentiated. */
kn_tensor *kn__mask_nonzero(kn_graph *g, kn_tensor *x);
/* The steps both masks keep (their product); either NULL: the other; the same one: itself. */
kn_tensor *kn__mask_and(kn_graph *g, kn_tensor *a, kn_tensor *b);
/* Keras's Masking: the mask (batch, T) of x (batch, T, C), 1 where a step has a value other than
 * value (NaN never equals it), 0 where all its values are it; a mask, so no gradient passes it. */
kn_tensor *kn__mask_values(kn_graph *g, kn_tensor *x, float value);
bool kn__infer_mask_values(kn_graph *g, kn_tensor *t);
/* KN_OP_UNIT_NORM and its gradient (ops_unit_norm.c). */
bool kn__infer_unit_norm(kn_graph *g, kn_tensor *t);
void kn__backward_unit_norm(kn_graph *g, kn_tensor *t, kn_tensor *dy);
bool kn__infer_attention_grad(kn_graph *g, kn_tensor *t);
/* The depthwise convolution's table entries and gradient builders (graph/ops_depthwise.c):
 * dx of x_shape from dy, and d kernel of kernel's shape from x and dy, over window w. */
bool kn__infer_depthwise(kn_graph *g, kn_tensor *t);
bool kn__infer_depthwise_grad_input(kn_graph *g, kn_tensor *t);
bool kn__infer_depthwise_grad_kernel(kn_graph *g, kn_tensor *t);
void kn__backward_depthwise(kn_graph *g, kn_tensor *t, kn_tensor *dy);
kn_tensor *kn__depthwise_grad_input(kn_graph *g, kn_tensor *dy, kn_tensor *kernel, const kn__win *w,
                                    const int64_t *x_shape);
kn_tensor *kn__depthwise_grad_kernel(kn_graph *g, kn_tensor *x, kn_tensor *dy, const kn__win *w,
                                     const kn_tensor *kernel);
void kn__backward_attention(kn_graph *g, kn_tensor *t, kn_tensor *dy);
/* The random augmentation ops' table entries (graph/ops_random_aug.c). */
bool kn__infer_random_image(kn_graph *g, kn_tensor *t);
/* The layer's name of a kn_random_image_kind ("random_flip", ...), and the options' checks:
 * false with a one-line message (naming the field, no prefix) when they are invalid. */
const char *kn__random_image_name(int kind);
bool kn__random_image_check(const kn_random_image_opts *o, char *msg, size_t size);
void kn__backward_random_affine(kn_graph *g, kn_tensor *t, kn_tensor *dy);
void kn__backward_random_color(kn_graph *g, kn_tensor *t, kn_tensor *dy);
/* The resizing ops' table entries (graph/ops_resize.c). */
bool kn__infer_pad2d(kn_graph *g, kn_tensor *t);
void kn__backward_pad2d(kn_graph *g, kn_tensor *t, kn_tensor *dy);
bool kn__infer_upsample2d(kn_graph *g, kn_tensor *t);
void kn__backward_upsample2d(kn_graph *g, kn_tensor *t, kn_tensor *dy);
bool kn__infer_upsample2d_grad(kn_graph *g, kn_tensor *t);
bool kn__infer_resize2d(kn_graph *g, kn_tensor *t);
void kn__backward_resize2d(kn_graph *g, kn_tensor *t, kn_tensor *dy);
bool kn__infer_resize2d_grad(kn_graph *g, kn_tensor *t);
/* The gather ops (graph/embedding.c): shape inference and backward for ops.c's table, and
 * the gradient's builder, a scatter-add of dy into a (V, D) of the table's shape. */
bool kn__infer_gather(kn_graph *g, kn_tensor *t);
bool kn__infer_gather_grad(kn_graph *g, kn_tensor *t);
void kn__backward_gather(kn_graph *g, kn_tensor *t, kn_tensor *dy);
kn_tensor *kn__gather_grad(kn_graph *g, kn_tensor *dy, kn_tensor *indices, const kn_tensor *table);
/* Row of a (V, D) table that index value f picks: f when a whole number in [0, V), else -1
 * (a row of zeros forward, nothing added backward). V at most 2^24 (KN_GATHER_MAX_ROWS),
 * where every integer is a float. The CPU's and CUDA's kernels decide alike. */
#define KN_GATHER_MAX_ROWS (1LL << 24)
static inline int64_t kn__gather_row(float f, int64_t rows) {
    return f >= 0.0f && f < (float)rows && f == (float)(int32_t)f ? (int64_t)f : -1;
}

/* How b broadcasts onto a in ADD/SUB/MUL: same shape, a row (last dim) or a scalar. */
typedef enum { BCAST_SAME, BCAST_ROW, BCAST_SCALAR } kn_bcast;
kn_bcast kn__bcast(const kn_tensor *a, const kn_tensor *b);

/* Modes a graph is run in, as phase masks: a node may read another only if every mode
 * that runs the reader runs the writer too (CSE and fusion keep this). */
#define KN_PHASE_MODES {KN_PHASE_TRAIN, KN_PHASE_FORWARD | KN_PHASE_LOSS, KN_PHASE_FORWARD | KN_PHASE_PREDICT, KN_PHASE_FORWARD, KN_PHASE_ALL}
/* True when every run mode that runs phase `reader` also runs phase `writer`. */
bool kn__phase_covers(uint8_t writer, uint8_t reader);

/* The memory planner (plan.c): arena offsets for every planned tensor, the planned peak
 * and the naive sum. kn__planned: whether a tensor lives in the arena (not parameters,
 * gradients or the optimizer node). kn__liveness: first and last node index of each
 * tensor's life, by node id. */
kn_status kn__plan_memory(kn_graph *g, size_t *arena_bytes, size_t *naive_bytes);
bool kn__planned(const kn_tensor *t);
void kn__liveness(const kn_graph *g, int *first, int *last);

/* Fills parameter p (the graph's index-th) as its initializer says, from the ctx's seed
 * (init.c): a pure function of (seed, index, element), whatever the thread count. */
kn_status kn__init_param(kn_graph *g, kn_tensor *p, int index);

/* Runs the nodes whose phase is in mask, in order. */
kn_status kn__graph_run_phases(kn_graph *g, unsigned mask);

/* The flat buffers named by parts (KN_SYNC_*) from the graph's device into the host buffers
 * (pull), or from the host buffers to the device (push), before host code reads them or
 * after it wrote them (backend/backend.c). No-ops on the CPU backend, and on a graph that is
 * NULL or not compiled. */
kn_status kn__graph_pull(kn_graph *g, unsigned parts);
kn_status kn__graph_push(kn_graph *g, unsigned parts);

int64_t kn__numel(const kn_tensor *t);      /* resolved */
size_t kn__nbytes(const kn_tensor *t);      /* resolved */
bool kn__same_shape(const kn_tensor *a, const kn_tensor *b);
/* "(batch, 784)" style shape text for messages. */
const char *kn__shape_str(const kn_tensor *t, char *buf, size_t size);
/* True when the activation's gradient is computed from its output (relu, sigmoid, tanh,
 * softmax) rather than its input (elu, gelu, leaky_relu). */
bool kn__act_grad_uses_output(kn_activation a);
/* The tensor whose memory t uses (following views and in-place aliases), t itself if none. */
kn_tensor *kn__alias_root(kn_tensor *t);
/* KILN_PROFILE=1: per-node timings, printed to stderr when the graph is freed (profile.c). */
void kn__profile_print(const kn_graph *g);

/* Element types (tensor_io.c). Mixed precision stores activations and gradients in f16 or
 * bf16 (uint16_t storage); kernels compute in f32 a block at a time: kn__read_f32 gives
 * elements [lo, lo+n) as f32 (t's own memory when f32, else widened into buf); a kernel
 * computes elements [lo, lo+n) at kn__write_f32(t, lo, buf) (t's memory, or buf) and then
 * calls kn__write_done, which narrows buf into t when t is half. */
static inline bool kn__is_half(const kn_tensor *t) { return t->dtype == KN_F16 || t->dtype == KN_BF16; }
void kn__widen(kn_dtype dtype, const void *src, float *dst, int64_t n);
void kn__narrow(kn_dtype dtype, const float *src, void *dst, int64_t n);
const float *kn__read_f32(const kn_tensor *t, int64_t lo, int64_t n, float *buf);
static inline float *kn__write_f32(kn_tensor *t, int64_t lo, float *buf) {
    return kn__is_half(t) ? buf : (float *)t->data + lo;
}
void kn__write_done(kn_tensor *t, int64_t lo, int64_t n, const float *buf);
/* Stores n f32 values at element lo of t, narrowed when t is half (a batch into an input). */
void kn__tensor_store_f32(kn_tensor *t, int64_t lo, const float *src, int64_t n);
float kn__tensor_get_f32(const kn_tensor *t, int64_t i);
/* Block of elements the kernels widen or narrow at a time (4 KB of floats on the stack). */
#define KN_HALF_BLOCK 1024

/* The precision pass (graph/passes/precision.c): stores activations and gradients in
 * g->precision's half type wherever every kernel writing and reading them supports it
 * on the graph's device (kn__cpu_half_writes / _reads, backend/cpu/half_support.c;
 * kn__cuda_half_writes / _reads, backend/cuda/half_support.c, false in a build without
 * CUDA). Run by compile after the optimizer's passes. */
kn_status kn__pass_precision(kn_graph *g);
bool kn__cpu_half_writes(const kn_tensor *t);
bool kn__cpu_half_reads(const kn_tensor *t, int slot);
bool kn__cuda_half_writes(const kn_tensor *t);
bool kn__cuda_half_reads(const kn_tensor *t, int slot);

/* Runs the phases in mask again node by node and returns the first tensor (an input or a
 * parameter first) holding a NaN or an infinity, or NULL (diagnose.c). */
const kn_tensor *kn__first_nonfinite(kn_graph *g, unsigned mask);

/* Computes the folded tensors (KN_FLAG_FOLDED) from the current parameters. */
void kn__graph_refold_now(kn_graph *g);

#endif
