/* half_support.c — which CUDA kernels read and write tensors stored in f16/bf16 (the
 * precision pass, graph/passes/precision.c, asks for cuda graphs, as
 * backend/cpu/half_support.c answers for cpu ones). Plain C without CUDA types, compiled in
 * every build: without the CUDA backend the answer is always no.
 *
 * Listed: the ops an MLP's training step runs (products with their fused epilogues, the
 * loss and its gradient, activations, dropout, layer normalization, elementwise chains, the
 * bias gradient) and the cheap elementwise ops; each has a launcher taking every operand's
 * storage type (launch.h, the _x launchers). Everything else stays f32 (an op without half support
 * costs memory, never correctness): the merges (concat, slice and its gradient, maximum) and
 * the recurrent ops (rnn, rnn_grad: their recurrences and states in f32, as on the CPU) and
 * the noise op (Gaussian noise and dropout, alpha dropout: f32 on both backends) among them.
 * Products also need operands of one type (cuBLASLt):
 * the precision pass enforces that for cuda graphs. */
#include "graph/graph.h"

bool kn__cuda_half_writes(const kn_tensor *t) {
#ifdef KILN_HAVE_CUDA
    switch (t->op) {
    case KN_OP_INPUT: /* the model's batch loaders narrow; the run copies kn__nbytes */
    case KN_OP_DENSE: /* cuBLASLt writes a 16BF / 16F D */
    case KN_OP_MATMUL:
    case KN_OP_MATMUL_ACT_GRAD:
    case KN_OP_LOSS_GRAD:
    case KN_OP_ACT: /* softmax too: a warp per row, any width */
    case KN_OP_ACT_GRAD:
    case KN_OP_ELEMENTWISE:
    case KN_OP_ADD:
    case KN_OP_SUB:
    case KN_OP_MUL:
    case KN_OP_SCALE:
    case KN_OP_COPY:
    case KN_OP_DROPOUT:
    case KN_OP_LAYER_NORM: /* a warp a row, any width */
    case KN_OP_LAYER_NORM_GRAD:
        return true;
    default:
        return false;
    }
#else
    (void)t;
    return false;
#endif
}

bool kn__cuda_half_reads(const kn_tensor *t, int slot) {
#ifdef KILN_HAVE_CUDA
    switch (t->op) {
    case KN_OP_RESHAPE: /* a view: its readers decide */
    case KN_OP_ACT:
    case KN_OP_ACT_GRAD:
    case KN_OP_ELEMENTWISE:
    case KN_OP_SUM_ROWS: /* its output, a bias gradient, stays f32 */
    case KN_OP_ADD:
    case KN_OP_SUB:
    case KN_OP_MUL:
    case KN_OP_SCALE:
    case KN_OP_COPY:
    case KN_OP_DROPOUT:
        return true;
    case KN_OP_LAYER_NORM: /* x; gamma and beta (1, 2) are f32 parameters */
        return slot == 0;
    case KN_OP_LAYER_NORM_GRAD: /* dy and x; gamma (2) is a parameter */
    case KN_OP_LAYER_NORM_GAMMA_GRAD: /* dy and x; its output, a parameter gradient, stays f32 */
        return slot == 0 || slot == 1;
    case KN_OP_DENSE: /* a and b; the bias (2) is an f32 parameter */
    case KN_OP_MATMUL:
        return slot == 0 || slot == 1;
    case KN_OP_MATMUL_ACT_GRAD: /* a, b and the activation's value */
        return slot <= 2;
    case KN_OP_LOSS: /* the prediction only; targets and weights stay f32 */
    case KN_OP_LOSS_GRAD:
        return slot == 0 && t->src[0]->ndim == 2;
    default:
        return false;
    }
#else
    (void)t, (void)slot;
    return false;
#endif
}
