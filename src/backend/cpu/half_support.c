/* half_support.c — which CPU kernels read and write tensors stored in f16/bf16 (the
 * precision pass, graph/passes/precision.c, asks). A kernel listed here takes each of those
 * sources and its output in whatever type the tensor has, widening and narrowing a block
 * at a time (graph/tensor_io.c); anything not listed stays f32. Add an op here only with
 * its kernel handling both types, and a case in tests/test_precision.c. */
#include "cpu.h"

bool kn__cpu_half_writes(const kn_tensor *t) {
    switch (t->op) {
    case KN_OP_INPUT: /* the model's batch loaders narrow (kn__tensor_store_f32) */
    case KN_OP_DENSE:
    case KN_OP_MATMUL:
    case KN_OP_MATMUL_ACT_GRAD:
    case KN_OP_LOSS_GRAD:
    case KN_OP_ELEMENTWISE:
    case KN_OP_CONV2D:            /* the GEMM writes f32 scratch, narrowed a block at a time */
    case KN_OP_CONV2D_GRAD_INPUT: /* an image's dx summed in f32 scratch, then narrowed */
    case KN_OP_MAXPOOL2D:
    case KN_OP_MAXPOOL2D_GRAD:
    case KN_OP_AVGPOOL2D:
    case KN_OP_AVGPOOL2D_GRAD:
    case KN_OP_DROPOUT:
    case KN_OP_BATCH_NORM:
    case KN_OP_BATCH_NORM_GRAD:
    case KN_OP_LAYER_NORM: /* a row's blocks widened and narrowed on the stack */
    case KN_OP_LAYER_NORM_GRAD:
    case KN_OP_ADD: /* a block at a time, broadcasts included */
    case KN_OP_SUB:
    case KN_OP_MUL:
    case KN_OP_SCALE:
    case KN_OP_COPY:
    case KN_OP_GATHER: /* rows copied or zeroed a block at a time */
        return true;
    case KN_OP_ACT: /* softmax works by whole rows through the same buffers */
    case KN_OP_ACT_GRAD:
        return t->iparam[0] != KN_SOFTMAX || t->ne[t->ndim - 1] <= KN_HALF_BLOCK;
    default:
        return false;
    }
}

bool kn__cpu_half_reads(const kn_tensor *t, int slot) {
    switch (t->op) {
    case KN_OP_RESHAPE: /* a view: its readers decide */
    case KN_OP_DENSE:   /* slot 2, the bias, is a parameter (never half) */
    case KN_OP_MATMUL:
    case KN_OP_MATMUL_ACT_GRAD:
    case KN_OP_ELEMENTWISE:
    case KN_OP_SUM_ROWS:
    case KN_OP_MAXPOOL2D:      /* pooling: x, dy, the fused activation's value (slot 2) */
    case KN_OP_MAXPOOL2D_GRAD:
    case KN_OP_AVGPOOL2D:
    case KN_OP_AVGPOOL2D_GRAD:
    case KN_OP_DROPOUT:
    case KN_OP_BATCH_NORM_GRAD: /* dy and x */
    case KN_OP_ADD:
    case KN_OP_SUB:
    case KN_OP_MUL:
    case KN_OP_SCALE:
    case KN_OP_COPY:
        return true;
    case KN_OP_CONV2D: /* x; the kernel (1) and bias (2) are parameters */
        return slot == 0;
    case KN_OP_CONV2D_GRAD_INPUT: /* dy and the fused activation's value; not the kernel (1) */
        return slot == 0 || slot == 2;
    case KN_OP_CONV2D_GRAD_KERNEL: /* x and dy; its output is a parameter gradient */
        return slot == 0 || slot == 1;
    case KN_OP_BATCH_NORM: /* x; the moving mean and variance (1, 2) are f32 state */
    case KN_OP_LAYER_NORM: /* x; gamma and beta (1, 2) are parameters */
        return slot == 0;
    case KN_OP_LAYER_NORM_GRAD: /* dy and x; gamma (2) is a parameter */
    case KN_OP_LAYER_NORM_GAMMA_GRAD: /* dy and x; its output is a parameter gradient */
        return slot == 0 || slot == 1;
    case KN_OP_ACT:
    case KN_OP_ACT_GRAD:
        return kn__cpu_half_writes(t);
    case KN_OP_LOSS: /* the prediction only; targets and weights stay f32 */
    case KN_OP_LOSS_GRAD:
        return slot == 0 && t->src[0]->ndim == 2 && t->src[0]->ne[1] <= KN_HALF_BLOCK;
    case KN_OP_GATHER_GRAD: /* dy; never the indices (1), whole numbers that half types round
                             * past 2048 (fp16) or 256 (bf16): they and the gather's stay f32 */
        return slot == 0;
    default:
        return false;
    }
}
