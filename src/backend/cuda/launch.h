/* launch.h — the CUDA kernels' launchers, callable from C (runtime.c, run.c, ops.c, small_batch.c, matmul.c). Each
 * enqueues its kernel(s) on stream s and returns cudaGetLastError(), which the caller
 * turns into a kiln error naming the launcher and the node. Sizes are element counts;
 * every pointer is device memory. The formulas are the CPU backend's (the files of backend/cpu),
 * element for element, so a GPU result differs from the CPU's only by the rounding of
 * the math library (expf, erff, tanhf) and of reductions summed in another order. */
#ifndef KN_CUDA_LAUNCH_H
#define KN_CUDA_LAUNCH_H

#include <cuda_runtime_api.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/loss_params.h"
#include "graph/ew_program.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KN_CUDA_STEP_RING 64 /* resident runs' step values in flight (runtime.c's ring, run.c's runs) */

/* A launcher's `pdl`: launch with programmatic dependence (device.cuh's KN_LAUNCH; the
 * kernel waits for the one before first), else the plain way. */

/* Values that change from step to step, read by the kernels from device memory (not
 * baked into their arguments) so that a captured CUDA graph replays correctly: the host
 * writes them to pinned memory and the graph's first node copies them in (a resident run's
 * start kernel reads them from the mapped ring slot itself, without a copy). */
typedef struct {
    int64_t step;       /* optimizer steps taken, this one included (Adam's t) */
    int64_t rng_step;   /* dropout masks' step and accumulation slot (kn_graph's) */
    int64_t rng_micro;
    int32_t training;   /* dropout draws masks, batch norm uses batch statistics */
    float lr;           /* the optimizer's learning rate (fit's schedule changes it per step) */
    float grad_unscale; /* fp16 loss scaling: the gradients' multiplier in the update (1 otherwise) */
    int64_t first;      /* a resident run: the batch's first position in the epoch's order */
    int64_t skipped_known; /* resident fp16: skipped updates the host's step count already leaves out */
    int32_t skip;       /* 0 from the host; a resident run's guard sets it: the update does nothing */
    int32_t failed_before; /* a resident run: an earlier step had failed (start_step writes it, and
                          * nothing after it in the step: the guard's blocks read it while the
                          * block that records this step's failure writes failed_step) */
    /* Adam's bias corrections 1 - beta^step (float of the double), from the host when it
     * knows the step (corrections_set), so that the update kernel has no pow to wait on;
     * 0: the kernel computes them (a resident fp16 run, whose step the guard may take back) */
    float c1, c2;
    int32_t corrections_set;
    /* Nadam's factors of this step, learning rate aside (nadam_schedule.h's kn__nadam_factors):
     * from the host with the corrections; else the run's start_step computes them from the
     * step the device counts (resident.cuh) */
    float nadam_grad, nadam_moment;
    /* RAdam's factors of this step, learning rate aside (radam_schedule.h's kn__radam_factors),
     * from the host with the corrections; else optimizer.cuh's opt_step_factors computes them */
    float radam_rect, radam_plain;
    float acc_scale;    /* a KN_RUN_ACCUMULATE update: 1 / the accumulated rows (kn_graph's grad_acc_scale) */
    float grad_share;   /* resident data parallel: this rank's rows / the step's (kn_graph's grad_share) */
} kn__cuda_step;

/* A resident run's figures and failure on the device (kn_resident_stats's fields; the
 * three sums first, so that a reset is one memset of their bytes). */
typedef struct {
    double loss_sum;
    int64_t rows, correct;
    int64_t failed_step, failed_first;
    int32_t failed_what;
    float failed_loss;
    int32_t grad_bad;   /* this step's gradient check found a non-finite value */
    int32_t scaling;    /* fp16's dynamic loss scaling (loss_scale.c's rules), with: */
    float scale;        /* the scale of the next step */
    int64_t good, interval, skipped; /* clean updates in a row, the growth interval, skips since open */
    uint32_t guard_done; /* the guard kernel's blocks that finished checking (0 between steps) */
    int32_t ring_pos;    /* the step ring's slot the next resident run reads (mapped ring only):
                          * advanced once a run, by its figures' count (count_step) */
    /* data parallel (NCCL inside the step, resident.cuh): the guard only gives this rank's
     * verdict, which rides in the gradient buffer's extra float (verdict: +inf when the
     * loss or a gradient here is non-finite, else 0) through the all-reduce; every rank
     * then decides from the sum (kn__cu_sum_guard). local_what: 1 the loss, 2 a gradient. */
    int32_t dist, local_what;
    float *verdict;
    /* Nadam in a run whose step the device may take back (fp16's, corrections_set 0): its
     * beta_1 and momentum_decay (nadam 0: another optimizer), and the cache of P_t
     * (nadam_schedule.h) that start_step advances, seeded at open with the host's */
    int32_t nadam;
    float nadam_b1, nadam_decay;
    int64_t nadam_at;
    double nadam_product;
} kn__cuda_resident;

/* Optimizer hyperparameters fixed for a graph (a kn_optimizer's fields; the learning rate
 * is in kn__cuda_step). */
typedef struct {
    int kind;           /* kn_optimizer_kind */
    float b1, b2, eps, mu, rho, weight_decay, clip_norm, clip_value;
    int nesterov;
    float lr_power, l1, l2, l2_shrinkage, ftrl_beta; /* ftrl */
    int32_t amsgrad;     /* adam, adamw: the third slot (largest second moments) at s1 + slot_stride */
    int64_t slot_stride; /* floats from one state slot to the next (the graph's param_floats) */
} kn__cuda_opt;

/* y = a op b, op 0 add, 1 sub, 2 mul; bcast kn_bcast (0 same, 1 row of cols, 2 scalar). */
cudaError_t kn__cu_binary(cudaStream_t s, int op, int bcast, const float *a, const float *b, float *y, int64_t n,
                          int64_t cols);
cudaError_t kn__cu_scale(cudaStream_t s, const float *x, float *y, float f, int64_t n);
/* Activations (not softmax) and softmax over rows of cols. */
cudaError_t kn__cu_act(cudaStream_t s, int act, float alpha, const float *x, float *y, int64_t n);
cudaError_t kn__cu_act_grad(cudaStream_t s, int act, float alpha, const float *dy, const float *v, float *dx,
                            int64_t n);
cudaError_t kn__cu_softmax(cudaStream_t s, const float *x, float *y, int64_t rows, int64_t cols);
cudaError_t kn__cu_softmax_grad(cudaStream_t s, const float *dy, const float *y, float *dx, int64_t rows,
                                int64_t cols);
/* Adds a bias row (may be NULL) and applies act (softmax too) to c (rows, cols). */
cudaError_t kn__cu_bias_act(cudaStream_t s, float *c, const float *bias, int act, float alpha, int64_t rows,
                            int64_t cols);
/* Reductions, each in one fixed order (the same bits run after run). */
/* Column sums of (rows, cols); ws: kn__cu_sum_rows_ws(rows, cols) bytes (0: none needed). */
#define KN_CU_SUM_ROWS_CHUNK 128
size_t kn__cu_sum_rows_ws(int64_t rows, int64_t cols);
cudaError_t kn__cu_sum_rows(cudaStream_t s, const float *x, float *y, float *ws, int64_t rows, int64_t cols);
cudaError_t kn__cu_sum(cudaStream_t s, const float *x, float *y, int64_t n, bool squares);
cudaError_t kn__cu_transpose(cudaStream_t s, const float *x, float *y, int64_t rows, int64_t cols);
/* Merges (f32): a (rows, na) and b (rows, nb) joined into y (rows, na + nb); columns
 * [off, off + w) of x (rows, cols) into y (rows, w); the elementwise maximum and its
 * gradient (dy where a >= b for side 0, where a < b for side 1). */
cudaError_t kn__cu_concat(cudaStream_t s, const float *a, const float *b, float *y, int64_t rows, int64_t na, int64_t nb);
cudaError_t kn__cu_slice(cudaStream_t s, const float *x, float *y, int64_t rows, int64_t cols, int64_t off, int64_t w);
cudaError_t kn__cu_maximum(cudaStream_t s, const float *a, const float *b, float *y, int64_t n);
cudaError_t kn__cu_maximum_grad(cudaStream_t s, const float *dy, const float *a, const float *b, float *dx, int64_t n,
                                int side);
/* slice's gradient (f32): dy (rows, w) into columns [off, off + w) of dx (rows, cols), zeros
 * elsewhere. */
cudaError_t kn__cu_slice_grad(cudaStream_t s, const float *dy, float *dx, int64_t rows, int64_t cols, int64_t off,
                              int64_t w);
/* The recurrent layers (kernels_rnn.cu; graph.h's KN_OP_RNN, the cell formulas in
 * backend/rnn_cell.h), one launch a step, a thread a (row, unit). A sequence's dimensions:
 * the cell (kn_rnn_cell) and its G gates, its activations, N rows, H units, T steps, W the
 * states row's width (kn__rnn_width), and reverse: the steps from the last time to the first
 * (the node's iparam[5] where the graph sets it, go_backwards; the states stay in time
 * order, the zero state at index T). Step s is the s-th processed, at time t = s (t =
 * T-1-s reversed). mask: the node's mask on the device (N, T) f32, a row's time t kept
 * where > 0.5, or NULL (every step kept); at a dropped step the state carries over and its
 * gradient passes straight back (cpu/rnn.c's masked steps). Recurrent dropout (the node's
 * fparam[0] > 0): hm, the offset in a states row of the masked states the products read
 * (kn__rnn_hm_offset; 0: none), h times row n's keep factor of unit j, dropout's draw of
 * element n H + j of node key drop_node at rate, keyed by (seed, the step values at step) as
 * the dropout kernel's; every factor 1 when the run does not train. */
typedef struct {
    int cell, act, ract, reverse;
    int64_t N, H, T, G, W;
    const float *mask;
    int64_t hm;
    float rate;
    int32_t drop_node;
    uint64_t seed;
    const kn__cuda_step *step;
} kn__cu_rnn;
/* Forward step s over y (N, W), the states: each row's recurrent term of time t, b_r + prod
 * (br (G*H) or NULL; prod (N, G*H), the previous h times U, or NULL at s = 0: the zero
 * state, which this step writes), at column (T+1)*H + t*G*H, then the cell on it and xw
 * (N, T*G*H): h and (lstm) c of time t; with recurrent dropout (d->hm) also h times the keep
 * factors into the masked states (and their zero state at s = 0), which the next product
 * reads. */
cudaError_t kn__cu_rnn_step(cudaStream_t s, const kn__cu_rnn *d, int64_t step, const float *xw, const float *prod,
                            const float *br, float *y);
/* Backward step s: dy (N, W) the states' gradient, xw and y as above; writes time t's d xw
 * (and a gru's d r, T*G*H columns further) into out (N, ow), and into dh_rec and dc (N, H
 * each) the direct parts of the previous h's and c's gradients; reads them first (the
 * recurrence's part of dh, after the caller's product dh_rec (+)= d r U^T of step s + 1,
 * and that step's cell gradient) unless first (s = T - 1: zeros). With a mask the direct
 * part of dh may be nonzero for every cell (a dropped step's whole dh), so the caller's
 * product adds to dh_rec (beta 1), as it does for a gru. With recurrent dropout (d->hm) the
 * product goes to dh_prod (N, H) instead, which the step adds times the keep factors to
 * dh_rec first (unless first); dh_prod NULL otherwise. */
cudaError_t kn__cu_rnn_back_step(cudaStream_t s, const kn__cu_rnn *d, int64_t step, bool first, const float *dy,
                                 const float *xw, const float *y, float *out, int64_t ow, float *dh_rec, float *dc,
                                 const float *dh_prod);
/* Mean loss over rows (ws: rows doubles) and its gradient; dloss is a device scalar; ls the
 * cross-entropies' label smoothing (0: none). */
cudaError_t kn__cu_loss(cudaStream_t s, int kind, bool logits, kn_loss_params lp, const float *p, const void *target,
                        const float *w, float *out, double *ws, int64_t rows, int64_t c);
cudaError_t kn__cu_loss_grad(cudaStream_t s, int kind, bool logits, kn_loss_params lp, const float *p, const void *target,
                             const float *dloss, const float *w, float *dx, int64_t rows, int64_t c);
/* The factor n gradients are multiplied by in the update into *out: step->grad_unscale
 * times the clip-by-global-norm factor of the unscaled gradients (1 when clip_norm <= 0). */
/* part: KN_CU_NORM_BLOCKS doubles of workspace. */
#define KN_CU_NORM_BLOCKS 256
cudaError_t kn__cu_grad_norm(cudaStream_t s, const kn__cuda_step *step, const float *grad, int64_t n, float clip_norm,
                             float *out, double *part);
/* One update over [0, n) of the flat buffers' slices w, d, s0, s1 (s1 at param_floats
 * after s0); cf a device scalar factor (kn__cu_grad_norm's) or NULL (step->grad_unscale).
 * wh: NULL, or the matching slice of the parameters' half compute copy (mixed precision),
 * written with each updated weight narrowed to wt in the same pass.
 * late: a resident step's guard left to this launch (kn__cu_wgrad_guard's late), or NULL. */
struct kn__cu_wgrad_guard;
cudaError_t kn__cu_opt_update(cudaStream_t s, const kn__cuda_opt *o, const kn__cuda_step *step, const float *cf,
                              float *w, const float *d, float *s0, float *s1, int64_t n, void *wh, int wt, bool pdl,
                              const struct kn__cu_wgrad_guard *late);
/* A chain of dense layers for small batches (kernels_chain.cu): layer l computes
 * y_l = act_l(y_{l-1} W_l + b_l) (or act_l(y_{l-1}) for an activation node; or, going
 * backward, y_l = act_l'(y_{l-1} W_l^T) at v_l) for each row, all in one launch, a block
 * per row (its first layer split over several blocks a row when the rows are few). */
#define KN_CU_CHAIN_LAYERS 8
#define KN_CU_CHAIN_WIDTH 4096 /* the widest input or output a layer may have (shared memory) */
typedef struct {
    const float *w;    /* (k, n), row-major, untransposed; NULL: an activation alone (k == n);
                        * backward layers: (n, k), the forward layer's weights, read transposed */
    const float *bias; /* (n) or NULL */
    const float *v;    /* backward layers: (rows, n), the value act' is taken at; else NULL */
    float *y;          /* (rows, n): written when something reads it (the last layer's always is), else NULL */
    int32_t k, n, act; /* act: kn_activation (softmax included, not in backward layers) */
    int32_t backward;  /* y = act'(x W^T) at v (a matmul_act_grad node), not act(x W + b) */
    float alpha;
} kn__cu_chain_layer;
/* A loss the chain ends in (kind < 0: none): layer `from`'s output (rows, c), written, is
 * the prediction; each block puts its row's loss in ws[row] (and, with dx, its gradient
 * row: loss_grad's, scaled by *dloss); the last block to finish (counted in *done, reset
 * by it) writes the mean to *out. */
typedef struct {
    int32_t kind, logits, from;
    kn_loss_params lp; /* the loss node's settings (kn__loss_node_params) */
    const void *target;
    const float *w, *dloss;
    double *ws;
    float *out, *dx;
    uint32_t *done;
    int32_t defer; /* the mean left to the resident run's count (kn__cuda_count's ws): no last block */
    int32_t *correct; /* a resident run's count with a sparse cross-entropy: each row's 1 when the
                       * first largest of layer pred's output (the run's kept prediction) is its label
                       * (count_step's rule), for the count (kn__cuda_count's correct); NULL: none */
    int32_t pred;
} kn__cu_chain_loss;
/* Layer 0 split by its inputs over `split` blocks a row (kernels_chain.cu), so that a few rows'
 * first layer still spreads over the GPU: part holds the blocks' sums, (split, rows, n_0);
 * count[row] (0 between launches) counts the row's blocks done. split 1: a block a row. */
/* kn__cu_chain's stamps: the phases of row 0 (kernels_chain.cu's chain_run) */
enum {
    KN_CU_STAMP_INPUT,    /* the row's input (a split layer's slice) in shared memory */
    KN_CU_STAMP_PARTS,    /* a split first layer's part summed (block (0, 0)) */
    KN_CU_STAMP_HANDOFF,  /* the row's last block knows it is (the counter) */
    KN_CU_STAMP_LAYER0,   /* the first layer's values (the parts added, or the whole layer) */
    KN_CU_STAMP_LAYERS,   /* ... then each later layer l at KN_CU_STAMP_LAYERS + l - 1 */
    KN_CU_STAMP_LOSS = KN_CU_STAMP_LAYERS + 12, /* the row's loss (and its gradient) */
    KN_CU_STAMP_END,      /* the block's work done (the loss's mean, the poll flag) */
    KN_CU_STAMP_RUNS,     /* how many runs */
    KN_CU_STAMP_START,    /* the current run's start */
    KN_CU_STAMP_START_CLOCK, /* ... on block (0, 0)'s multiprocessor's clock (clock64) */
    KN_CU_STAMP_CYCLES,   /* the clock's cycles from the start to the parts, summed over the runs that had them */
    KN_CU_STAMP_SM,       /* the row kernel: block 0's multiprocessor in the run before, plus 1 (0: none yet) */
    KN_CU_STAMP_SM_SAME,  /* ... the runs whose block 0 ran on the same one as the run before's, */
    KN_CU_STAMP_SM_PAIRS, /* ... of the runs after the first */
    KN_CU_STAMP_SLOTS
};
#define KN_CU_DOOR_STOP 0xffffffffu /* a persistent chain's doorbell: end (kn__cu_chain's door) */
#define KN_CU_CHAIN_SPLIT_BLOCKS 256 /* about how many blocks a split chain launches */
#define KN_CU_CHAIN_SPLIT_MIN 32     /* the fewest of layer 0's inputs a block of a split takes */
#define KN_CU_CHAIN_SPLIT_MAX 256    /* the most (a larger first layer is split more) */
typedef struct {
    int32_t n; /* layers, 1..KN_CU_CHAIN_LAYERS */
    int32_t n_fwd; /* with a loss: the layers before it; layers n_fwd..n-1 are a backward chain run
                    * after it, from each row's loss gradient (0: all n before it) */
    kn__cu_chain_layer layer[KN_CU_CHAIN_LAYERS];
    kn__cu_chain_loss loss;
    int32_t split;
    float *part;
    uint32_t *count;
    /* A polled run (run.c, KILN_CUDA_POLL=1): after every row's outputs are written, the
     * last row's block counts the run in poll[1] and writes that count to flag (mapped host
     * memory), which the host spins on instead of synchronizing; poll[0] counts the rows
     * done (0 between launches). NULL flag: not polled. */
    uint32_t *poll, *flag;
    /* KILN_CUDA_PERSIST=1 (run.c): a persistent predict. The kernel stays running: each
     * block waits for door (mapped host memory) to hold a new number, runs the chain once
     * (the input read afresh from the staging, never from a line an earlier sample left in
     * L1; polled as above), and waits again; KN_CU_DOOR_STOP ends it. NULL: one run. */
    const uint32_t *door;
    uint32_t *relay; /* (device memory: block (0, 0) passes the doorbell on to the others, device.cuh's kn__door_relay) */
    /* KILN_CUDA_CHAIN_TIMING=1 (runtime.c prints them when the graph is freed): row 0's
     * phases, each slot the sum over runs of the nanoseconds from block (0, 0)'s start to
     * the phase's end (KN_CU_STAMP_*), KN_CU_STAMP_SLOTS on the runs that had each phase,
     * the runs in KN_CU_STAMP_RUNS; 2 KN_CU_STAMP_SLOTS values; NULL: not timed. */
    unsigned long long *stamps;
    /* A resident step whose batch the chain reads itself, through the epoch's order (no
     * gather kernel: runtime.c's fold): x and the loss's target are then their tables, and
     * row r of each is the table's row order[first + r], first from ring's slot r->ring_pos
     * (NULL ring: from step); block (0, 0) also starts the step as the gather kernel's
     * thread 0 would (resident.cuh's start_step). NULL order: x and the target are the
     * batch's own rows. */
    const int32_t *order;
    kn__cuda_step *step;
    const kn__cuda_step *ring;
    kn__cuda_resident *res;
    /* KILN_CUDA_PREFETCH=1 (unmeasured: off): each block first asks for the weights and
     * biases it will read into its L1 (a split block its slice of layer 0; every block the
     * later layers', any one of them possibly the row's last) */
    int32_t prefetch;
    /* A single row as one thread-block cluster of `cluster` blocks (kernels_row.cu's
     * kn__cu_dense_row; 0: the chain kernel): a forward chain without a loss, its shapes
     * within KN_CU_ROW_* below (small_batch.c's row_fits); row_kept: layer 0's bias and
     * the later layers' weights and biases fit in KN_CU_ROW_KEPT floats, copied into shared
     * memory first. */
    int32_t cluster, row_kept;
    int32_t row_chunk; /* layer 0's inputs a block of the cluster takes: ceil(k0 / cluster) */
    int32_t row_parts; /* the row kernel's later layers: at most this many threads a column (a power of
                        * two, 1..32; KILN_CUDA_ROW_PARTS, default 8) */
    /* KILN_CUDA_ROW_REPEAT=1 with the stamps (a diagnostic): block 0 runs the later layers a
     * second time, stamped as layers n..2n-2 (the same outputs), to tell the first pass's cost
     * from what the same code costs once it has run (its instructions fetched, its data read) */
    int32_t row_repeat;
    /* KILN_CUDA_ROW_TAIL (A/Bs): 1 (warps), the later layers kept transposed, each a warp a
     * column (kernels_row.cu's row_layer_warps); 2 (warps_end), and the last dense layer with
     * the softmax ending the chain by warp 0 alone (row_end_warp); 0: layer_sums, as the chain
     * kernel's */
    int32_t row_tail;
} kn__cu_chain;
/* (with ch->door, a cooperative launch: every block resident at once, or it fails; the
 * caller checks rows x split against kn__cu_dense_chain_capacity first) */
cudaError_t kn__cu_dense_chain(cudaStream_t s, const kn__cu_chain *ch, const float *x, int64_t rows, bool pdl);
/* The row kernel's limits (its shared memory, static: 46 KB): layer 0's inputs a block
 * takes, its widths (layer 0's output, every later layer's input and output), the cluster's
 * sums of layer 0 (blocks x its width), the later layers' weights and biases kept. */
#define KN_CU_ROW_CLUSTER_MAX 8 /* (the portable cluster size) */
#define KN_CU_ROW_SLICE 512
#define KN_CU_ROW_WIDTH 256
#define KN_CU_ROW_PARTS 2048
#define KN_CU_ROW_KEPT 8192
cudaError_t kn__cu_dense_row(cudaStream_t s, const kn__cu_chain *ch, const float *x, bool pdl);
/* KILN_CUDA_ROW_INPUT=param (an A/B): the row's input carried in the launch's parameters (up
 * to KN_CU_ROW_PARAM floats, from host memory x: it arrives with the launch, where the mapped
 * staging is read across the bus after the kernel starts); such a launch cannot be a CUDA
 * graph's replay (its parameters would be the captured sample's), so the run is launched.
 * 848 floats: a 28 x 28 image, and the launch's parameters within the 4 KB they were
 * limited to before CUDA 12.1 (kernels_row.cu checks), in case the driver still moves
 * those faster. */
#define KN_CU_ROW_PARAM 848
typedef struct {
    float v[KN_CU_ROW_PARAM];
} kn__cu_row_input;
cudaError_t kn__cu_dense_row_param(cudaStream_t s, const kn__cu_chain *ch, const float *x, bool pdl);
int64_t kn__cu_dense_chain_capacity(void);

/* The weight gradients of a few dense layers for small batches, in one launch
 * (kernels_chain.cu): dW_l = X_l^T dZ_l ((k, n), row-major, from X_l (rows, k) and dZ_l
 * (rows, n)) and, with db_l, the bias gradient: dZ_l's column sums. Each element sums its
 * rows in order. Element e of the flat index belongs to the layer with
 * first[l] <= e < first[l + 1] (k n weights, then n biases when db_l). */
typedef struct {
    const float *x, *dz;
    float *dw, *db; /* db: NULL for none */
    int32_t k, n;
    int64_t first;
    int32_t gathered; /* x is a table whose row r is order[step->first + r] (kn__cu_wgrad's) */
} kn__cu_wgrad_layer;
typedef struct {
    int32_t n;
    int64_t total; /* the elements of all layers */
    kn__cu_wgrad_layer layer[KN_CU_CHAIN_LAYERS];
    const int32_t *order;        /* a folded resident step (kn__cu_chain's order): the gathered layers' */
    const kn__cuda_step *step;   /* rows, order[step->first + r] (the chain's start wrote step) */
} kn__cu_wgrad;
#define KN_CU_WGRAD_FOLD_ROWS 1024 /* the most rows a gathered layer takes (its order in shared memory) */
/* (kn__cu_weight_grads: below kn__cuda_count) */

/* Inverted dropout with the CPU's mask (dropout.c): seed, node key, rate; steps > 0: one mask
 * shared by steps (KN_OP_DROPOUT's iparam[1], [2]: x viewed as (rows, steps, features)), 0: a
 * draw an element; x and y stored as tx and ty (kn_dtype: KN_F32 or a half type). */
cudaError_t kn__cu_dropout(cudaStream_t s, const kn__cuda_step *step, uint64_t seed, int32_t key, float rate,
                           int64_t steps, int64_t features, const void *x, int tx, void *y, int ty, int64_t n);
/* KN_OP_NOISE (backend/noise_formulas.h, cpu/noise.c): mode, the node's parameter param and
 * its constants (kn__noise_consts_of: p, b, alpha_p, threshold); element i's draws under
 * dropout's element key for seed, node key and the step values (kn__dev_dropout_key). The
 * identity when the step values do not train or param is 0. f32 x and y (y may be x). */
cudaError_t kn__cu_noise(cudaStream_t s, const kn__cuda_step *step, uint64_t seed, int32_t key, int mode, float param,
                         float p, float b, float alpha_p, uint32_t threshold, const float *x, float *y, int64_t n);
/* Batch norm over the last dimension c; ws: 5 c floats. */
cudaError_t kn__cu_batch_norm(cudaStream_t s, const kn__cuda_step *step, const float *x, float *y, float *mm,
                              float *mv, float momentum, float eps, bool update_moving, float *ws, int64_t rows,
                              int64_t c);
cudaError_t kn__cu_batch_norm_grad(cudaStream_t s, const float *dy, const float *x, float *dx, float eps, float *ws,
                                   int64_t rows, int64_t c);
cudaError_t kn__cu_batch_norm_fold(cudaStream_t s, const float *mm, const float *mv, float *out, float eps,
                                   bool shift, int64_t c);
/* Layer norm over the last dimension c of rows rows (layernorm.c's formulas, a warp a row);
 * x, dy, y and dx stored as their type codes say, gamma and beta (each may be NULL) and
 * gamma's gradient f32. y may be x. gamma's gradient (sum over rows of dy * xhat) needs ws:
 * kn__cu_layer_norm_gamma_grad_ws(rows, c) bytes. */
cudaError_t kn__cu_layer_norm(cudaStream_t s, const void *x, int tx, const float *gamma, const float *beta, void *y,
                              int ty, float eps, int64_t rows, int64_t c);
cudaError_t kn__cu_layer_norm_grad(cudaStream_t s, const void *dy, int tdy, const void *x, int tx, const float *gamma,
                                   void *dx, int tdx, float eps, int64_t rows, int64_t c);
size_t kn__cu_layer_norm_gamma_grad_ws(int64_t rows, int64_t c);
cudaError_t kn__cu_layer_norm_gamma_grad(cudaStream_t s, const void *dy, int tdy, const void *x, int tx, float *out,
                                         float eps, float *ws, int64_t rows, int64_t c);

/* NHWC windows: image n, h, w, c and the packed kn__win fields; index64: the 64-bit
 * kernels even when the 32-bit ones would do (KILN_CUDA_INDEX64=1, for their tests);
 * groups: a convolution's (kn__conv_groups, 1 or more; read by the conv kernels alone). */
typedef struct {
    int64_t n, h, w, c, f;
    int kh, kw, sh, sw, dh, dw, pt, pl, oh, ow;
    bool index64;
    int groups;
} kn__cuda_win;
cudaError_t kn__cu_pool(cudaStream_t s, const kn__cuda_win *w, bool max, const float *x, float *y);
/* dx from dy (x: the pooled images, max only); act_v, act: the fused activation gradient or NULL. */
cudaError_t kn__cu_pool_grad(cudaStream_t s, const kn__cuda_win *w, bool max, const float *dy, const float *x,
                             float *dx, const float *act_v, int act, float alpha);
/* The direct convolution kernels (KILN_CUDA_CONV=direct; ops.c runs im2col + cuBLASLt otherwise). */
cudaError_t kn__cu_conv2d(cudaStream_t s, const kn__cuda_win *w, const float *x, const float *k, const float *bias,
                          int act, float alpha, float *y);
cudaError_t kn__cu_conv2d_grad_input(cudaStream_t s, const kn__cuda_win *w, const float *dy, const float *k,
                                     float *dx, const float *act_v, int act, float alpha);
cudaError_t kn__cu_conv2d_grad_kernel(cudaStream_t s, const kn__cuda_win *w, const float *x, const float *dy,
                                      float *dk);
/* The GEMM convolutions' halves (ops.c; K = kh kw c, per = oh ow output positions an
 * image, rows r = (n oh + oy) ow + ox of the (n oh ow, K) column matrix and of y / dy).
 * im2col: cols (rows, K) = the windows of output positions [r0, r0 + rows) of x
 * (n, h, w, c), row r - r0 holding position r's window in the kernel's (ky, kx, c) order,
 * zeros in the padding. */
cudaError_t kn__cu_im2col(cudaStream_t s, const kn__cuda_win *w, const float *x, int64_t r0, int64_t rows,
                          float *cols);
/* col2im as a gather, for a chunk: cols (rows, K) holds the column gradient of output
 * positions [r0, r0 + rows); every element of dx (n, h, w, c) in the images those positions
 * belong to sums, in a fixed (ky, kx) order, the entries of the chunk's rows whose window
 * reads it. An image that starts in the chunk is written, one begun by an earlier chunk is
 * added to (chunks run in order), and an image that ends in the chunk gets the fused
 * activation's gradient (act_v: its value, or NULL) applied to its total. No atomics: the
 * same bits every run. */
cudaError_t kn__cu_col2im(cudaStream_t s, const kn__cuda_win *w, const float *cols, int64_t r0, int64_t rows,
                          float *dx, const float *act_v, int act, float alpha);
/* An elementwise chain (ew_program.h) over n outputs; rows of cols for row broadcasts. */
cudaError_t kn__cu_elementwise(cudaStream_t s, const kn_ew_program *p, const float *const *in, float *out, int64_t n,
                               int64_t cols);
/* Mixed precision (docs/mixed_precision.md): the same ops over tensors stored f32, bf16
 * or f16, each pointer with its kn_dtype code (KN_F32, KN_BF16, KN_F16): elements widened
 * to float, the f32 formulas, results narrowed once with round-to-nearest-even. The ops
 * above run these only when some operand is half, so an fp32 graph launches exactly the
 * kernels it did. Biases, targets, weights, dloss and sum_rows' output stay f32. */
cudaError_t kn__cu_binary_x(cudaStream_t s, int op, int bcast, const void *a, int ta, const void *b, int tb, void *y,
                            int ty, int64_t n, int64_t cols);
/* y = x * f (f = 1: a conversion between storage types) */
cudaError_t kn__cu_scale_x(cudaStream_t s, const void *x, int tx, void *y, int ty, float f, int64_t n);
cudaError_t kn__cu_act_x(cudaStream_t s, int act, float alpha, const void *x, int tx, void *y, int ty, int64_t n);
cudaError_t kn__cu_act_grad_x(cudaStream_t s, int act, float alpha, const void *dy, int tdy, const void *v, int tv,
                              void *dx, int tdx, int64_t n);
cudaError_t kn__cu_softmax_x(cudaStream_t s, const void *x, int tx, void *y, int ty, int64_t rows, int64_t cols);
cudaError_t kn__cu_softmax_grad_x(cudaStream_t s, const void *dy, int tdy, const void *y, int ty, void *dx, int tdx,
                                  int64_t rows, int64_t cols);
cudaError_t kn__cu_bias_act_x(cudaStream_t s, void *c, int tc, const float *bias, int act, float alpha, int64_t rows,
                              int64_t cols);
cudaError_t kn__cu_sum_rows_x(cudaStream_t s, const void *x, int tx, float *y, float *ws, int64_t rows, int64_t cols);
cudaError_t kn__cu_loss_x(cudaStream_t s, int kind, bool logits, kn_loss_params lp, const void *p, int tp, const void *target,
                          const float *w, float *out, double *ws, int64_t rows, int64_t c);
cudaError_t kn__cu_loss_grad_x(cudaStream_t s, int kind, bool logits, kn_loss_params lp, const void *p, int tp, const void *target,
                               const float *dloss, const float *w, void *dx, int tdx, int64_t rows, int64_t c);
cudaError_t kn__cu_elementwise_x(cudaStream_t s, const kn_ew_program *p, const void *const *in, const int *tin,
                                 void *out, int tout, int64_t n, int64_t cols);

/* The resident step (kernels_resident.cu, backend.h's KN_RUN_RESIDENT), in its order: */
/* rows order[step->first + i] (i < rows) of each table (row_bytes each) into its input,
 * one launch; and the step started: step->skip set when an earlier step failed, the step
 * counts less the skipped updates the host has not seen, with loss scaling seed (the
 * backward seed, a device scalar) and the update's unscale from the scale; */
typedef struct {
    const uint8_t *table[4];
    uint8_t *dst[4];
    int64_t row_bytes[4];
    /* Image augmentation of table 0's rows (f32 (h, w, c) images) in a training run:
     * draws[table row] says what each gets (augment.cuh); NULL: none. */
    const struct kn__cu_augment_draw *draws;
    int aug_h, aug_w, aug_c;
    float aug_sigma;
    /* table 0's input: its storage type (kn_dtype), f32 unless the gather narrows the f32
     * rows to bf16 or f16 (backend.h's narrow_x), and the bytes of its rows there */
    int dst0_dtype;
    int64_t dst0_row_bytes;
} kn__cuda_gather_set;
/* data/augment.h's kn__augment_draw, field for field (resident_data.c checks the layout). */
typedef struct kn__cu_augment_draw {
    float sn, cs;
    int32_t dy, dx;
    int32_t top, left, eh, ew;
    uint64_t noise_key;
    uint8_t rotate, flip, erase, noise;
    uint8_t pad[4];
} kn__cu_augment_draw;
/* ring: the device's view of the mapped step ring (KN_CUDA_STEP_RING slots), whose slot
 * r->ring_pos the kernel copies to step itself; NULL: step was copied in before. */
cudaError_t kn__cu_resident_start(cudaStream_t s, kn__cuda_step *step, kn__cuda_resident *r, float *seed,
                                  const kn__cuda_gather_set *set, int n_tables, const int32_t *order, int64_t rows,
                                  const kn__cuda_step *ring);
/* What a step's figures are counted from: the loss, out (rows, outs) stored as out_t, the
 * labels by row of the tables (or NULL), the epoch's order, the rows of the batch. */
typedef struct {
    const float *loss;
    const void *out;
    int out_t;
    int64_t outs;
    float threshold;
    const int32_t *labels, *order;
    int64_t rows;
    /* the rows' losses a chain left (kn__cu_chain_loss's defer), or NULL: their mean is
     * written to loss first, summed as the chain's last block would */
    const double *ws;
    /* each row's correct prediction, which a chain found (kn__cu_chain_loss's correct), or
     * NULL: found here from out and the labels */
    const int32_t *correct;
} kn__cuda_count;
/* an evaluation's figures, after the loss: its check, loss x rows and the correct count
 * added to r's sums unless failed; */
cudaError_t kn__cu_resident_count(cudaStream_t s, const kn__cuda_step *step, kn__cuda_resident *r,
                                  const kn__cuda_count *q, bool training);
/* a training step's, after the backward pass: grad[0..n) checked, the figures counted (as
 * above, a non-finite loss failing the step), then step->skip set when this step or an
 * earlier one failed (the optimizer kernel then returns at once). */
cudaError_t kn__cu_resident_guard(cudaStream_t s, kn__cuda_step *step, kn__cuda_resident *r, const float *grad,
                                  int64_t n, const kn__cuda_count *q);
/* Resident data parallel, around the all-reduce (kn__cuda_resident's dist): grad[0..n)
 * times step->grad_share before it; after it, the summed grad[0..n) (the verdicts' sum
 * included) checked, and the step failed on every rank alike when any is non-finite
 * (the failure's kind this rank's local_what, its loss *loss). */
cudaError_t kn__cu_grad_share(cudaStream_t s, const kn__cuda_step *step, float *grad, int64_t n);
/* The step values of the next `steps` resident runs, the slots from r->ring_pos on (wrapping),
 * from the mapped ring to the same slots of copy: the first node of a graph of K resident
 * steps (KILN_CUDA_GRAPH_STEPS). It reads only those slots, which the host filled before
 * the launch, not the others it may be filling meanwhile for the next graph (a copy of the
 * whole ring would read those as the host writes them). */
cudaError_t kn__cu_ring_take(cudaStream_t s, kn__cuda_step *copy, const kn__cuda_step *ring, const kn__cuda_resident *r,
                             int steps);
cudaError_t kn__cu_sum_guard(cudaStream_t s, kn__cuda_step *step, kn__cuda_resident *r, const float *grad, int64_t n,
                             const float *loss);
/* *flag (device memory, zeroed before) set to 1 when any of grad[0..n) is not finite. */
cudaError_t kn__cu_find_nonfinite(cudaStream_t s, const float *grad, int64_t n, int32_t *flag);
/* A KN_RUN_ACCUMULATE run after its guard (nothing once step->skip): acc += rows x grad
 * (fmaf); update: grad = that sum x step->acc_scale, acc = 0 (graph.h). */
cudaError_t kn__cu_grad_accumulate(cudaStream_t s, const kn__cuda_step *step, float *grad, float *acc, int64_t n,
                                   float rows, bool update);
/* The weight gradients above (kn__cu_wgrad); with guard, when they are every gradient of a
 * resident training step, the step's guard too, in the same launch (kn__cu_resident_guard's
 * work, each thread checking the gradients it computed). tiled: by tiles through shared
 * memory (for many rows; the same bits). */
typedef struct kn__cu_wgrad_guard {
    kn__cuda_step *step;
    kn__cuda_resident *r;
    kn__cuda_count q;
    /* late (KILN_CUDA_GUARD_LATE=1): the weight gradients only flag a non-finite value
     * (r->grad_bad); the update kernel given this guard counts and decides (kernels.cu) */
    int32_t late;
} kn__cu_wgrad_guard;
/* With a late guard, the weight gradients may take the step's update too
 * (KILN_CUDA_WGRAD_UPDATE=1): after every gradient is written, a grid barrier (the launch
 * cooperative: its blocks all resident at once), the guard's decision in every block, and
 * each thread updates the parameters whose gradients it computed (optimizer.cuh, as the
 * update kernel would: the same bits); the optimizer node then launches nothing. Every dw
 * and db lies in grad, the flat gradient buffer; parameter i's weight, state slots and half
 * copy are w[i], s0[i], s1[i], wh[i] (s0, s1, wh NULL when the optimizer or the precision
 * has none). */
typedef struct {
    kn__cuda_opt opt;
    const float *grad;
    float *w, *s0, *s1;
    void *wh;
    int32_t wt;       /* wh's kn_dtype */
    int64_t capacity; /* (the launcher's) the blocks the device holds at once: kn__cu_weight_grads_capacity */
} kn__cu_wgrad_update;
/* up: NULL, or the update (guard given and late). A launch with up is cooperative: tiled,
 * the caller checks first that kn__cu_weight_grads_blocks(wg, true) fit in up->capacity
 * (else cudaErrorCooperativeLaunchTooLarge); untiled, the grid is capped to fit. */
cudaError_t kn__cu_weight_grads(cudaStream_t s, const kn__cu_wgrad *wg, int64_t rows, const kn__cu_wgrad_guard *guard,
                                bool tiled, bool pdl, const kn__cu_wgrad_update *up);
int64_t kn__cu_weight_grads_blocks(const kn__cu_wgrad *wg, bool tiled);
/* How many blocks of the weight gradients' kernel (tiled or not) the current device holds
 * at once (its multiprocessors times the kernel's occupancy), 0 when it cannot launch
 * cooperatively or the query fails. */
int64_t kn__cu_weight_grads_capacity(bool tiled);

/* K resident training steps in one cooperative launch (KILN_CUDA_STEPS_KERNEL=1 with
 * KILN_CUDA_GRAPH_STEPS=K; run.c's capture): where a step is exactly two kernels, the
 * folded chain (forward, loss, backward) and the weight gradients taking the update, each
 * step runs the chain's items (row, slice) over the launch's blocks, a grid barrier, the
 * weight gradients with the guard and the update (grid barriers of their own), and a grid
 * barrier before the next step reads the new weights. Every step reads its values from the
 * ring, as the graph of K steps it replaces does, so the same parameters serve them all. */
typedef struct {
    kn__cu_chain ch;
    const float *x;
    int64_t rows;
    kn__cu_wgrad wg;
    kn__cu_wgrad_guard guard;
    kn__cu_wgrad_update up;
} kn__cu_steps;
cudaError_t kn__cu_resident_steps(cudaStream_t s, const kn__cu_steps *p, int steps, int64_t capacity);
/* How many blocks of resident_steps_kernel the current device holds at once (0: none, or no
 * cooperative launch). */
int64_t kn__cu_resident_steps_capacity(void);

/* A run's small copies between the mapped pinned staging and the device as one kernel
 * (runtime.c, KILN_CUDA_MAPPED): a launch's round trip is shorter than a copy engine's
 * (bench/gpu/latency_probe.cu). Segment i: bytes from src[i] to dst[i], either side the
 * device's view of the staging. */
#define KN_CU_COPY_SEGMENTS 8
typedef struct {
    const uint8_t *src[KN_CU_COPY_SEGMENTS];
    uint8_t *dst[KN_CU_COPY_SEGMENTS];
    int64_t bytes[KN_CU_COPY_SEGMENTS];
    int n;
} kn__cu_copies;
cudaError_t kn__cu_copy_segments(cudaStream_t s, const kn__cu_copies *cp);

/* The gather op and its gradient (kernels_embedding.cu), f32: y (n, cols) the rows of table
 * (rows, cols) that idx (n) names, zeros for a value naming none; out (rows, cols) zeroed,
 * then dy (n, cols) added row by row at idx in index order (deterministic, no atomics). */
cudaError_t kn__cu_gather(cudaStream_t s, const float *idx, const float *table, float *y, int64_t n, int64_t rows,
                          int64_t cols);
cudaError_t kn__cu_gather_grad(cudaStream_t s, const float *dy, const float *idx, float *out, int64_t n, int64_t rows,
                               int64_t cols);

/* Attention over heads and its gradient (kernels_attention.cu; graph.h's KN_OP_ATTENTION),
 * f32: N samples, H heads, Tq query and Tk key steps, Dk and Dv a head's widths (a sample's
 * rows: q Tq*H*Dk, k Tk*H*Dk, v Tk*H*Dv floats, head h the columns h*D .. h*D + D - 1 of each
 * step), causal: query step i sees key steps <= i; scale: the scores' factor. o (N,
 * Tq*H*Dv); the backward's out (N, dQ | dK | dV) as the CPU's, stats a workspace of N*H*Tq*3
 * floats (each query row's max, 1/sum and sum_j P dP, between its two launches).
 * Masks (graph/ops_attention.c): query step i sees key step j where qmask keeps i, kmask
 * keeps j (> 0.5) and, causal, j <= i; a row that sees no key is uniform over all Tk keys
 * with no gradient to its scores. Deterministic: no atomics. */
typedef struct {
    int64_t N, H, Tq, Tk, Dk, Dv;
    int causal;
    float scale;
    /* dropout on the probabilities (rate > 0, a training step): the CPU's mask (cpu/attention.c),
     * keyed as the dropout kernel keys its own, by (seed, the device step's values, node key) */
    float rate;
    int32_t drop_node;
    uint64_t seed;
    const kn__cuda_step *step;
    /* sample 0's query (Tq) and key (Tk) masks, a sample's rows mask_w floats apart; NULL: none */
    const float *qmask, *kmask;
    int64_t mask_w;
} kn__cu_attention;
cudaError_t kn__cu_attention_forward(cudaStream_t s, const kn__cu_attention *d, const float *q, const float *k,
                                     const float *v, float *o);
cudaError_t kn__cu_attention_backward(cudaStream_t s, const kn__cu_attention *d, const float *dout, const float *q,
                                      const float *k, const float *v, float *out, float *stats);

/* Group normalization and its gradients (kernels_group_norm.cu; graph.h's KN_OP_GROUP_NORM),
 * f32: x (n, p, c) in `groups` groups of consecutive channels; ws of kn__cu_group_norm_ws(n, c,
 * groups) bytes (the group statistics; gamma's gradient's per-sample sums). */
size_t kn__cu_group_norm_ws(int64_t n, int64_t c, int64_t groups);
cudaError_t kn__cu_group_norm(cudaStream_t st, const float *x, const float *gamma, const float *beta, float *y,
                              double *ws, int64_t n, int64_t p, int64_t c, int64_t groups, float eps);
cudaError_t kn__cu_group_norm_grad(cudaStream_t st, const float *dy, const float *x, const float *gamma, float *dx,
                                   double *ws, int64_t n, int64_t p, int64_t c, int64_t groups, float eps);
cudaError_t kn__cu_group_norm_gamma_grad(cudaStream_t st, const float *dy, const float *x, float *out, double *ws,
                                         int64_t n, int64_t p, int64_t c, int64_t groups, float eps);

/* Each sample's axes permuted (kernels_permute.cu; graph.h's KN_OP_PERMUTE), f32: y (n,
 * out[0], out[1], out[2]) from x, y[s, i0, i1, i2] = x[s * per + i0 from[0] + i1 from[1] + i2
 * from[2]], per = out[0] out[1] out[2]. */
cudaError_t kn__cu_permute(cudaStream_t s, const float *x, float *y, int64_t n, const int64_t out[3],
                           const int64_t from[3]);

/* A 3-D convolution's depth taps as channels (kernels_depth_taps.cu; graph.h's
 * KN_OP_DEPTH_TAPS), f32, geometry q: graph.h's kn__depth_geom's nine values in its order (n,
 * d, taps, stride, dilation, front, od, hw, c). grad false: x (N, D HW, C) -> y (N, OD HW,
 * KD C); grad true: dy (N, OD HW, KD C) -> dx (N, D HW, C), each element the sum of the taps
 * that copied it, in tap order. */
cudaError_t kn__cu_depth_taps(cudaStream_t s, const float *src, float *dst, const int64_t q[9], bool grad);

/* The per-sample broadcasts (kernels_bcast.cu; graph.h's KN_OP_BCAST_BINARY and
 * KN_OP_BCAST_REDUCE), f32: x (N, P, C) op v (N, Pb, Cb) (Pb 1 where pb1, else P; Cb 1
 * where cb1, else C; op 0 add, 1 sub, 2 rsub, 3 mul) -> y; and d (times w, NULL: none)
 * summed over the broadcast axes -> out (N, Pb, Cb). The CPU's bits. */
cudaError_t kn__cu_bcast_binary(cudaStream_t s, const float *x, const float *v, float *y, int64_t N, int64_t P,
                                int64_t C, bool pb1, bool cb1, int op);
cudaError_t kn__cu_bcast_reduce(cudaStream_t s, const float *d, const float *w, float *out, int64_t N, int64_t P,
                                int64_t C, bool pb1, bool cb1);

/* The masked mean and its gradient (kernels_mask.cu; graph.h's KN_OP_MASKED_MEAN), f32: x
 * (N, T*C) and mask (N, T) -> y (N, C), each sample's mean over the steps its mask keeps
 * (> 0.5); dx (N, T*C) = dy (N, C) / kept at kept steps, 0 at the others; zeros for a
 * sample that keeps none. The CPU's sums in its order (the same bits). */
cudaError_t kn__cu_masked_mean(cudaStream_t s, const float *x, const float *mask, float *y, int64_t N, int64_t T,
                               int64_t C);
cudaError_t kn__cu_masked_mean_grad(cudaStream_t s, const float *dy, const float *mask, float *dx, int64_t N, int64_t T,
                                    int64_t C);
/* Each row (rows, c) over its L2 norm floored at sqrt(eps) (kernels_unit_norm.cu); with dy, the
 * gradient. */
cudaError_t kn__cu_unit_norm(cudaStream_t s, const float *x, const float *dy, float *out, int64_t rows, int64_t c,
                             float eps);
/* Keras's Masking's mask: y (steps) 1 where a step of x (steps, C) has a value other than v. */
cudaError_t kn__cu_mask_values(cudaStream_t s, const float *x, float *y, int64_t steps, int64_t C, float v);

/* The depthwise convolution and its gradients (kernels_depthwise.cu; graph.h's
 * KN_OP_DEPTHWISE_CONV2D), f32, over the window w with w->c input channels and w->f = C*M
 * output channels: x (n, h, w, c), kernel (kh*kw, C*M), y and dy (n, oh, ow, C*M). The
 * forward and the input gradient a thread per output element (the gradient a gather, no
 * atomics); the kernel gradient a deterministic reduction over parts of the output positions
 * fixed by the shape, whose partial sums need ws: kn__cu_depthwise_grad_kernel_ws(w) bytes
 * (0: none, ws may be NULL). The same bits every run. */
/* The forward adds bias (C*M; NULL: none) and applies act (alpha its parameter; KN_LINEAR:
 * none) to each sum: the fuse pass's depthwise + add + activation. */
cudaError_t kn__cu_depthwise(cudaStream_t s, const kn__cuda_win *w, const float *x, const float *k, const float *bias,
                             int act, float alpha, float *y);
cudaError_t kn__cu_depthwise_grad_input(cudaStream_t s, const kn__cuda_win *w, const float *dy, const float *k,
                                        float *dx);
size_t kn__cu_depthwise_grad_kernel_ws(const kn__cuda_win *w);
cudaError_t kn__cu_depthwise_grad_kernel(cudaStream_t s, const kn__cuda_win *w, const float *x, const float *dy,
                                         float *dk, float *ws);

/* Padding and cropping, upsampling, resizing and their gradients (kernels_resize.cu; graph.h's
 * KN_OP_PAD2D, KN_OP_UPSAMPLE2D, KN_OP_UPSAMPLE2D_GRAD, KN_OP_RESIZE2D, KN_OP_RESIZE2D_GRAD), f32, a thread per output element, no atomics: the
 * CPU's bits (backend/cpu/resize.c). The image side (n, h, w, c) is x (pad2d, upsample2d) or
 * dx (the gradient); the other side (n, oh, ow, c) is y or dy. index64: the 64-bit kernels
 * even when the 32-bit ones would do (KILN_CUDA_INDEX64=1). */
typedef struct {
    int64_t n, h, w, c, oh, ow;
    int top, left;    /* pad2d: y (oy, ox) reads x (oy - top, ox - left) */
    int sh, sw;       /* upsampling factors */
    bool bilinear;    /* else nearest */
    bool index64;
} kn__cuda_resize;
cudaError_t kn__cu_pad2d(cudaStream_t s, const kn__cuda_resize *r, const float *x, float *y);
cudaError_t kn__cu_upsample2d(cudaStream_t s, const kn__cuda_resize *r, const float *x, float *y);
cudaError_t kn__cu_upsample2d_grad(cudaStream_t s, const kn__cuda_resize *r, const float *dy, float *dx);
cudaError_t kn__cu_resize2d(cudaStream_t s, const kn__cuda_resize *r, const float *x, float *y);
cudaError_t kn__cu_resize2d_grad(cudaStream_t s, const kn__cuda_resize *r, const float *dy, float *dx);

/* Keras 3's random image augmentation (kernels_random_aug.cu; graph.h's KN_OP_RANDOM_AFFINE,
 * KN_OP_RANDOM_COLOR and their gradients), f32, the CPU's bits (cpu/random_aug.c): images (n, h,
 * w, c); kind, flags (iparam[2]), factors f (fparam) and fill value as the node's; draws under
 * dropout's element key of seed (the layer's or the context's) and node key, from the step
 * values (the identity, a copy, when they do not train). */
typedef struct {
    int64_t n, h, w, c;
    int kind;
    unsigned flags;
    int32_t node_key;
    uint64_t seed;
    float fill;
    float f[4];
} kn__cuda_random_image;
/* grad: dy -> dx (x is dy, y is dx) */
cudaError_t kn__cu_random_affine(cudaStream_t s, const kn__cuda_step *step, const kn__cuda_random_image *r,
                                 const float *x, float *y, bool grad);
/* dy NULL: x -> y; else (x, dy) -> dx in y */
cudaError_t kn__cu_random_color(cudaStream_t s, const kn__cuda_step *step, const kn__cuda_random_image *r,
                                const float *x, const float *dy, float *y);

#ifdef __cplusplus
}
#endif
#endif
