/* cuda_internal.h — the CUDA backend's per-graph state and its kernel table, shared by
 * runtime.c (buffers, memory), run.c (runs, capture), resident_data.c, ops.c (one function
 * per op), small_batch.c and matmul.c. */
#ifndef KN_CUDA_INTERNAL_H
#define KN_CUDA_INTERNAL_H

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include "backend/backend.h"
#include "data/augment.h"
#include "graph/graph.h"
#include "launch.h"

#define KN_CUDA_EXECS 4
#define KN_CUDA_BGRAD_PAIRS 32
#define KN_CUDA_CHAINS 8
#define KN_CUDA_PRIVATE 32 /* tensors moved out of the arena (small_batch.c's make_private) */
#define KN_CUDA_CHAIN_ROWS 256 /* the most rows a fused dense chain takes by default (KILN_CUDA_CHAIN_ROWS;
                               * on the H200 the reference MLP at batch 128 and 256 ran 20% and 15% faster
                               * with its chains than with 64; session 29's faster chain.cuh, batch 256
                               * 0.0146 s/epoch with them, 0.0175 without) */
#define KN_CUDA_CHAIN_ROWS_MAX 1024 /* ... and at most */
#define KN_CUDA_WGRAD_ROWS 256 /* the most rows the fused weight gradients take (KILN_CUDA_WGRAD_ROWS; 64 before
                               * session 28: on the H200 the batch-256 epoch took 0.0185 s so, 0.0216 with
                               * cuBLASLt's products) */
#define KN_CUDA_WGRAD_UNTILED_ROWS 64 /* ... a thread summing a weight's rows alone up to this many; by tiles past it */
#define KN_CUDA_GRAPH_STEPS 32 /* resident runs held back and launched as one graph (KILN_CUDA_GRAPH_STEPS; 1: each
                               * alone); a plain MLP's K steps one kernel (KILN_CUDA_STEPS_KERNEL=0: off).
                               * On the H200 (session 28) batch 32: 0.0918 s/epoch each alone, 0.0783 by
                               * 32s, 0.0684 as one kernel; batch 256: 0.0233 alone, 0.0215 by 32s */
#define KN_CUDA_CHAIN_WEIGHTS ((int64_t)1 << 20) /* the most weights (4 MB of floats, L2-resident)
                                                  * a chain or the weight-gradient kernel takes */

typedef struct {
    cudaStream_t stream;
    cublasLtHandle_t lt;
    bool lt_ok;
    void *lt_ws;                 /* cuBLASLt's workspace */
    size_t lt_ws_bytes;
    bool tf32;                   /* KILN_CUDA_TF32=1 at compile: f32 products in TF32 (matmul.c) */
    float *param, *grad, *state; /* mirrors of the flat buffers (same layout) */
    uint8_t *arena;              /* mirror of the arena (the planner's offsets) */
    void *param_half;            /* mixed precision: the parameters narrowed to half_type (param_floats
                                  * elements, the flat layout), the operand of products with half
                                  * activations; NULL in fp32 graphs */
    int half_type;               /* KN_BF16 or KN_F16 with param_half */
    int64_t bias_unfused;        /* products whose f32 bias could not go in a half epilogue (matmul.c) */
    void *ws;                    /* workspace of the reductions (loss rows, batch-norm stats) */
    size_t ws_bytes;
    bool conv_direct;            /* KILN_CUDA_CONV=direct at compile: the direct convolution kernels
                                  * (kernels_nn.cu); otherwise (gemm, the default) im2col + cuBLASLt */
    bool index64;                /* KILN_CUDA_INDEX64=1 at compile: pooling, im2col and col2im on their
                                  * 64-bit kernels, the fallback past 2^31 elements (kernels_nn.cu) */
    size_t conv_cap;             /* the cap on a convolution's column chunk (KILN_CUDA_CONV_WS_MB,
                                  * default 256 MB; one chunk of output positions at least) */
    float *conv_cols;            /* the column workspace (one cudaMalloc at compile, never per run):
                                  * the largest chunk any convolution node takes, rows x K floats */
    size_t conv_cols_bytes;
    kn__cuda_step *h_step, *d_step; /* the step's values: a ring of KN_CUDA_STEP_RING pinned
                                  * host slots for resident runs (a copy from one is still
                                  * queued while the next run fills another) and one more,
                                  * h_step[KN_CUDA_STEP_RING], for the others (which wait for
                                  * their run, so a captured copy may read it); the device copy */
    kn__cuda_step *d_ring;       /* the device's view of h_step (mapped): a resident run's start
                                  * kernel reads its slot there, no copy (NULL: KILN_CUDA_MAPPED=0,
                                  * or no mapping); slot ring_pos, the device's kn__cuda_resident
                                  * ring_pos in step with it */
    /* Pinned staging of the other runs' inputs and kept outputs (io_bytes at the largest
     * batch): the host copies between the arena and here, and the copies between here and
     * the device are nodes of the captured graph, so a run is one launch and one wait. */
    uint8_t *h_io;
    uint8_t *d_io;               /* the device's view of h_io (mapped), or NULL: copies only */
    bool *io_direct;             /* (n_io) this run's chain reads or writes entry k in place (no copy) */
    size_t *io_nbytes;           /* (n_io) entry k's bytes at this run's batch */
    /* The decisions above (io_direct, io_nbytes, the chains' direct and row_param, row_param_run,
     * poll_run) depend on the run's batch and mask alone: kn__cuda_run takes them again only
     * when those change (decided_batch, decided_mask; decided false: never taken) */
    bool decided;
    int64_t decided_batch;
    unsigned decided_mask;
    unsigned *io_phases;         /* (n_io_in) the phases of the nodes that read input k (none: no copy) */
    size_t io_bytes;
    int n_io;
    kn_tensor **io_t;            /* (n_io) inputs first (n_io_in), then kept outputs */
    size_t *io_off;              /* (n_io) offsets in h_io */
    int n_io_in;
    int ring_pos, inflight;      /* the next slot; runs enqueued since the stream last synchronized */
    kn__cuda_opt opt;
    bool use_graphs;             /* KILN_CUDA_GRAPHS != 0 */
    /* KILN_CUDA_POLL=1 (unmeasured: off): a run that is one chain's kernel reading and writing
     * the mapped staging and nothing else (a plain MLP's predict) is waited for by spinning on
     * a mapped word the kernel writes last (kn__cu_chain's flag), not by cudaStreamSynchronize;
     * after KN_CUDA_POLL_US without it, by the synchronize after all (the emulator always:
     * its kernels run at a synchronize) */
    bool poll;
    bool poll_run;               /* this run is waited for so (cuda_run decides, before its launch) */
    uint32_t *d_poll;            /* the kernel's counts (kn__cu_chain's poll) */
    uint32_t *h_poll, *m_poll;   /* the mapped word (pinned) and its device view */
    uint32_t poll_seq;           /* polled runs launched (the word's next value, less one) */
    int64_t polls, poll_fallbacks; /* polled runs, and those the word did not end (tests) */
    /* KILN_CUDA_PERSIST=1 (unmeasured: off; polls with it): a polled run's chain kernel is
     * launched once and stays running, each run a doorbell (kn__cu_chain's door): the host
     * writes the inputs to the staging, then the next number to h_door, and polls. Any other
     * use of the stream stops it first (stop_persistent: KN_CU_DOOR_STOP, then a synchronize). */
    bool persist;
    bool persist_on;             /* it is running, for runs of persist_batch rows and mask persist_mask */
    bool persist_launch;         /* the run being enqueued launches it (small_batch.c sets the door) */
    bool persist_refused;        /* ... but its blocks would not all fit at once: launched as a plain
                                  * polled run (small_batch.c) */
    int64_t chain_capacity;      /* kn__cu_dense_chain_capacity, once known (-1 before) */
    int64_t persist_batch;
    unsigned persist_mask;
    uint32_t *h_door, *m_door;   /* the doorbell (mapped, in h_poll's allocation) and its device view */
    uint32_t door_seq;           /* the last number rung */
    int64_t persist_launches, persist_served, persist_refusals; /* (tests) */
    int64_t persist_shared;      /* ... and runs plain because other CUDA graphs lived (run.c) */
    bool counted;                /* among run.c's live graphs (kn__cuda_graph_born) */
    /* A resident step's gather folded into its chain and weight gradients (small_batch.c's
     * kn__cuda_plan_fold, at resident_open; KILN_CUDA_FOLD=0: never): when the only readers
     * of every table's input are the first forward chain (as its x, as its loss's target)
     * and the fused weight gradients (as an x), those read the tables through the order
     * themselves and the run has no gather kernel (docs/cuda.md, "Small batches") */
    int fold_chain;              /* that chain, or -1: no fold */
    int fold_x, fold_t;          /* the tables it reads as x and as the target (or -1) */
    bool folding;                /* the resident run being enqueued is folded */
    bool pdl;                    /* KILN_CUDA_PDL=1: a resident step's chain, weight gradients and
                                  * update launched with programmatic dependence (unmeasured: off) */
    struct {                     /* captured runs, by batch and mask (a training step, an evaluation...) */
        cudaGraphExec_t exec;
        int64_t batch;
        unsigned mask;
        int steps;               /* resident runs replayed back to back (graph_steps), else 1 */
        int64_t used;            /* the run count at its last use: the least recent is replaced */
    } execs[KN_CUDA_EXECS];
    /* KILN_CUDA_GRAPH_STEPS=K (unmeasured: 1, off): resident runs alike (batch, mask) are held
     * back, their step values already in the mapped ring, and launched K to one captured
     * graph of K runs back to back (one graph launch, and kernel-to-kernel gaps between the
     * steps, instead of K launches); fewer are launched one by one from their own captured
     * run (pending_slot) when anything else needs the stream (flush_pending: a
     * synchronize, a copy, another kind of run, resident_close) */
    int graph_steps, pending, pending_slot;
    int64_t grouped;             /* launches of graph_steps runs (tests) */
    int64_t pending_batch;
    unsigned pending_mask;
    int64_t last_batch, runs;
    unsigned last_mask;
    int64_t replays, captures;
    /* training data resident on the device (resident_open; backend.h) */
    bool resident_on;
    int n_tables;
    kn_tensor *table_input[4];
    void *table[4];
    size_t table_row_bytes[4];
    int32_t *d_order, *d_labels; /* (n_rows): the epoch's order; the class labels or NULL */
    int64_t n_rows;
    kn__cuda_resident *d_res;    /* the figures and the failure */
    float *grad_acc;             /* desc.accumulate: the gradient accumulator (param_floats), or NULL */
    kn__cu_augment_draw *d_draws; /* desc.augment: the epoch's draws by table row (n_rows), or NULL */
    int aug_h, aug_w, aug_c;
    float aug_sigma;
    bool narrow_x;               /* desc.narrow_x: table 0's f32 rows narrowed to its half input by the gather */
    const kn_tensor *res_loss, *res_out, *res_seed; /* res_seed: fp16's backward seed, or NULL */
    void *res_nccl;              /* data parallel inside the resident step: the communicator, or NULL */
    /* bias gradients in the weight gradient's product (ops.c, KILN_CUDA_BGRAD=0: never): the
     * sum_rows node bgrad_sum[i] is computed by the matmul bgrad_mm[i], which reads the same
     * rows as its untransposed second operand; that sum_rows node then does nothing */
    int n_bgrad;
    const kn_tensor *bgrad_mm[KN_CUDA_BGRAD_PAIRS], *bgrad_sum[KN_CUDA_BGRAD_PAIRS];
    /* dense chains for small batches (small_batch.c's plan_dense_chains, KILN_CUDA_CHAIN=0: none):
     * consecutive f32 dense nodes, each reading the one before, run as one kernel
     * (kernels_chain.cu) when a run's rows are at most KN_CUDA_CHAIN_ROWS; the head
     * launches it, the other members then do nothing (fused[] says so for this run) */
    int n_chains;
    struct {
        const kn_tensor *node[KN_CU_CHAIN_LAYERS];
        bool write[KN_CU_CHAIN_LAYERS]; /* the output is read by another node, or kept */
        int len;
        bool fused;                     /* the head launched the chain in the run being enqueued */
        const kn_tensor *loss, *loss_grad; /* the loss node the chain ends in and its gradient node
                                         * (the chain computes them: small_batch.c), or NULL */
        bool loss_fused, grad_fused;    /* ... in the run being enqueued */
        int in_io, out_io;              /* the staging entries (io_t) of its input and last output
                                         * (kn__cuda_plan_chain_io), or -1 */
        unsigned io_readers;            /* the phases of the other nodes that read them */
        int bwd;                        /* a forward chain ending in its loss's gradient: the backward
                                         * chain starting from that gradient, run by the same kernel
                                         * after each row's loss (small_batch.c), or -1 */
        bool merged;                    /* a backward chain: its forward chain ran it in the run being
                                         * enqueued */
        bool direct;                    /* the run being enqueued reads and writes them in the mapped
                                         * staging itself (no copy kernels) */
        bool row_fits, row_kept;        /* its shapes fit the row kernel, and its later layers its shared
                                         * memory (small_batch.c's row_shape_fits, as it is planned) */
        bool row_param;                 /* ... and its single row goes as the row kernel with the input
                                         * in the launch's parameters (row_param below) */
    } chain[KN_CUDA_CHAINS];
    uint32_t *chain_done;               /* the chain loss's count of finished blocks (0 between runs) */
    double *chain_rows_loss;            /* (chain_rows) a chain loss's rows when a resident run's count
                                         * takes the mean (mean_deferred; c->ws may be reused before it) */
    bool mean_deferred;                 /* ... in the run being enqueued */
    int32_t *chain_correct;             /* (chain_rows) the rows' correct predictions a chain found
                                         * for a resident run's count (count_deferred) */
    bool count_deferred;                /* ... in the run being enqueued */
    int64_t chain_rows;                 /* the most rows a chain runs fused (KN_CUDA_CHAIN_ROWS) */
    int64_t wgrad_rows;                 /* ... and the weight gradients (KN_CUDA_WGRAD_ROWS) */
    int wgrad_tiled;                    /* KILN_CUDA_WGRAD_TILED: 1 always by tiles, 0 never, -1 past 64 rows */
    bool chain_unsplit;                 /* KILN_CUDA_CHAIN_SPLIT=0: a block a row, never split */
    bool chain_predict;                 /* KILN_CUDA_CHAIN_PREDICT=1: a single row's forward run fused too (small_batch.c's chain_fuses) */
    int row_cluster;                    /* a single row's forward chain as a cluster of this many blocks (kernels_row.cu;
                                         * KILN_CUDA_ROW_CLUSTER, 0: off or no clusters on the device) */
    bool row_param;                     /* KILN_CUDA_ROW_INPUT=param: the row kernel's input in its launch's
                                         * parameters (launch.h's kn__cu_dense_row_param) */
    bool row_param_run;                 /* ... in the run being enqueued: it is launched, not captured */
    int row_parts;                      /* KILN_CUDA_ROW_PARTS: kn__cu_chain's row_parts (8) */
    bool row_repeat;                    /* KILN_CUDA_ROW_REPEAT=1: kn__cu_chain's row_repeat (with chain_timing) */
    int row_tail;                       /* KILN_CUDA_ROW_TAIL: kn__cu_chain's row_tail (warps 1, warps_end 2) */
    int64_t row_param_launches;         /* the row kernel's launches with the input in the parameters */
    int64_t split_blocks;               /* about how many blocks a split launches (KN_CU_CHAIN_SPLIT_BLOCKS;
                                         * KILN_CUDA_SPLIT_BLOCKS, unmeasured otherwise) */
    bool chain_prefetch;                /* KILN_CUDA_PREFETCH=1: kn__cu_chain's prefetch */
    float *chain_part;                  /* a split first layer's parts (kn__cu_chain), and */
    uint32_t *chain_count;              /* each row's count of its blocks done (chain_rows; 0 between runs) */
    bool chain_timing;                  /* KILN_CUDA_CHAIN_TIMING=1: the first chain's row-0 phases timed (kn__cu_chain's stamps), */
    unsigned long long *chain_stamps;   /* ... summed here (KN_CU_STAMP_SLOTS), printed when the graph is freed */
    unsigned run_mask;                  /* the phases of the run being enqueued */
    int64_t chain_launches;             /* chains launched (test_cuda_ops checks they run) */
    int64_t row_launches;               /* ... of them, as the row kernel's cluster */
    /* the small-batch weight gradients (small_batch.c's plan_weight_grads, with the chains):
     * param-gradient products X^T dZ (and their paired bias sums) computed by one kernel at
     * the last one's place when a run has at most KN_CUDA_WGRAD_ROWS rows */
    int n_wgrad;
    const kn_tensor *wgrad_mm[KN_CU_CHAIN_LAYERS];
    bool wgrad_fused;                   /* this run's decision, taken at the first of them */
    bool wgrad_all;                     /* they are every parameter's gradient: a resident step's
                                         * guard can run in their launch (run.c's enqueue) */
    const kn__cu_wgrad_guard *wgrad_guard; /* the guard to run with them in the run being enqueued, or NULL */
    bool wgrad_guarded;                 /* ... and they did */
    bool guard_late;                    /* KILN_CUDA_GUARD_LATE=1 (unmeasured: off), where the update is
                                         * one launch over every parameter without clipping (late_ok):
                                         * the fused weight gradients only flag, the update kernel counts
                                         * and decides (resident.cuh's guard_late) */
    bool wgrad_update;                  /* KILN_CUDA_WGRAD_UPDATE=1 (unmeasured: off; the late guard
                                         * with it): the weight gradients take the update too, in one
                                         * cooperative launch (kn__cu_wgrad_update) where the update's
                                         * parameters are theirs and its blocks fit at once */
    int64_t wgrad_capacity[2];          /* kn__cu_weight_grads_capacity(untiled, tiled), once known (-1 before) */
    bool update_taken;                  /* the run being enqueued: its weight gradients took the update */
    int64_t fused_updates;              /* runs whose weight gradients took the update (tests) */
    int64_t fused_update_rows;          /* ... the most rows of one such run (tests) */
    /* KILN_CUDA_STEPS_KERNEL=1 (unmeasured: off; with KILN_CUDA_GRAPH_STEPS=K and the update
     * in the weight gradients): a resident step whose run is exactly the folded chain and
     * the updating weight gradients (their launches recorded in steps_rec as the run is
     * enqueued; its one-step capture two nodes) has its K-step graph made of one
     * resident_steps_kernel launch (launch.h's kn__cu_steps) */
    bool steps_kernel;
    kn__cu_steps steps_rec;
    bool recording;                     /* a one-step capture is being enqueued: record the launches */
    bool rec_chain, rec_wgrad;          /* ... and it recorded them */
    bool steps_ok;                      /* steps_rec is the (steps_batch, steps_mask) run's, and the run is
                                         * nothing else */
    int64_t steps_batch;
    unsigned steps_mask;
    int64_t steps_capacity;             /* kn__cu_resident_steps_capacity, once known (-1 before) */
    int64_t steps_launches;             /* K-step graphs made of it (tests) */
    kn__cuda_step *d_ring_copy;         /* the ring's slots, copied to the device first by a graph of K
                                         * resident steps (KILN_CUDA_GRAPH_STEPS), whose steps read them
                                         * there (ring_copied while it is captured) */
    bool ring_copied;
    const kn__cu_wgrad_guard *update_guard; /* the guard the update takes in the run being enqueued, or NULL */
    int64_t wgrad_launches;             /* (test_cuda_ops checks it runs) */
    /* tensors kept outside the arena, in buffers of their own (a backward chain writes its
     * later members' outputs at its head, before their places in the plan; the weight
     * gradients read their inputs after them): every kernel finds them through
     * kn__cuda_tensor */
    int n_priv;
    const kn_tensor *priv_t[KN_CUDA_PRIVATE];
    void *priv_d[KN_CUDA_PRIVATE];
    int64_t res_outs;
    float res_threshold;
} kn__cuda_graph;

/* The GPU of this rank: when a launcher set a local rank (OMPI_COMM_WORLD_LOCAL_RANK,
 * MPI_LOCALRANKID, SLURM_LOCALID, LOCAL_RANK), cudaSetDevice(local rank % GPUs), once per
 * host thread, before its first allocation or launch (kn__cuda_check, compile, run and
 * kn__nccl_open call it); without one, the runtime's default (device 0, or
 * CUDA_VISIBLE_DEVICES'). */
kn_status kn__cuda_select_device(kn_ctx *ctx);

/* Small batches (small_batch.c): at compile, the chains and the weight gradients that run
 * together (and the tensors that move out of the arena for them: priv_t); at a run, the
 * chain i from its head (*fused: the run's rows allowed it), whether t belongs to a chain
 * launched whole in this run, and the weight gradients (*done: t needs nothing more). */
void kn__cuda_plan_small_batch(kn_graph *g, kn__cuda_graph *c);
void kn__cuda_plan_chain_io(kn_graph *g, kn__cuda_graph *c);
void kn__cuda_chains_direct(kn_graph *g, bool *io_direct, unsigned mask);
kn_status kn__cuda_dense_chain(kn_graph *g, int i, bool *fused);
bool kn__cuda_chained(kn_graph *g, const kn_tensor *t);
/* Whether loss node t (or its gradient node) was computed by a chain in this run. */
bool kn__cuda_chain_loss_done(kn_graph *g, const kn_tensor *t);
int kn__cuda_chain_split(int64_t rows, int64_t k, int64_t blocks);
kn_status kn__cuda_weight_grads(kn_graph *g, kn_tensor *t, bool *done);

/* Whether this run's launches that support it go with programmatic dependence
 * (KILN_CUDA_PDL=1): resident runs only, where the work before each is a kernel of the
 * same run. */
void kn__cuda_plan_fold(kn_graph *g, kn__cuda_graph *c);
/* Whether the run of mask is one chain's kernel and nothing more: one chain reads and
 * writes the staging in place (kn__cuda_chains_direct decided it for this run), every node
 * of mask is that chain's, and no other input or output crosses (the caller checks the step
 * values). */
bool kn__cuda_one_chain_run(kn_graph *g, unsigned mask);
static inline bool kn__cuda_pdl(const kn__cuda_graph *c) { return c->pdl && (c->run_mask & KN_RUN_RESIDENT); }

/* A node's CUDA kernel: enqueues it on the graph's stream; KN_ERR_DEVICE naming the node
 * when a launch fails. NULL for ops without one. */
typedef kn_status (*kn__cuda_kernel_fn)(kn_graph *g, kn_tensor *t);
kn__cuda_kernel_fn kn__cuda_kernel(kn_op op);
/* The gather op's and its gradient's (embedding.c). */
kn_status kn__cuda_k_gather(kn_graph *g, kn_tensor *t);
kn_status kn__cuda_k_gather_grad(kn_graph *g, kn_tensor *t);
/* The attention op's and its gradient's (attention.c); the gradient's workspace (its
 * per-query-row statistics at t's resolved batch, runtime.c sizes ws with it). */
kn_status kn__cuda_k_attention(kn_graph *g, kn_tensor *t);
kn_status kn__cuda_k_attention_grad(kn_graph *g, kn_tensor *t);
size_t kn__cuda_attention_workspace(const kn_tensor *t);
/* Keras's Permute's (permute.c). */
kn_status kn__cuda_k_permute(kn_graph *g, kn_tensor *t);
/* A 3-D convolution's depth taps and their gradient (depth_taps.c). */
kn_status kn__cuda_k_depth_taps(kn_graph *g, kn_tensor *t);
/* Group normalization's three nodes (group_norm.c), and the workspace each needs. */
kn_status kn__cuda_k_group_norm(kn_graph *g, kn_tensor *t);
size_t kn__cuda_group_norm_workspace(const kn_tensor *t);
/* The per-sample broadcasts' (bcast.c). */
kn_status kn__cuda_k_bcast_binary(kn_graph *g, kn_tensor *t);
kn_status kn__cuda_k_bcast_reduce(kn_graph *g, kn_tensor *t);
/* The masked mean's and its gradient's (mask.c). */
kn_status kn__cuda_k_masked_mean(kn_graph *g, kn_tensor *t);
kn_status kn__cuda_k_masked_mean_grad(kn_graph *g, kn_tensor *t);
kn_status kn__cuda_k_mask_values(kn_graph *g, kn_tensor *t);
/* Keras's UnitNormalization and its gradient (unit_norm.c). */
kn_status kn__cuda_k_unit_norm(kn_graph *g, kn_tensor *t);
/* The depthwise convolution's and its gradients' (depthwise.c); the kernel gradient's
 * workspace (its parts' partial sums at t's resolved batch, runtime.c sizes ws with it). */
kn_status kn__cuda_k_depthwise(kn_graph *g, kn_tensor *t);
kn_status kn__cuda_k_depthwise_grad_input(kn_graph *g, kn_tensor *t);
kn_status kn__cuda_k_depthwise_grad_kernel(kn_graph *g, kn_tensor *t);
size_t kn__cuda_depthwise_workspace(const kn_tensor *t);
/* Padding and cropping, upsampling and its gradient (resize.c). */
kn_status kn__cuda_k_pad2d(kn_graph *g, kn_tensor *t);
kn_status kn__cuda_k_upsample2d(kn_graph *g, kn_tensor *t);
kn_status kn__cuda_k_upsample2d_grad(kn_graph *g, kn_tensor *t);
kn_status kn__cuda_k_resize2d(kn_graph *g, kn_tensor *t);
kn_status kn__cuda_k_resize2d_grad(kn_graph *g, kn_tensor *t);
/* Random image augmentation (random_aug.c): the forward and gradient nodes of each op. */
kn_status kn__cuda_k_random_affine(kn_graph *g, kn_tensor *t);
kn_status kn__cuda_k_random_color(kn_graph *g, kn_tensor *t);

/* The device address of a host address inside one of g's buffers (NULL outside them). */
void *kn__cuda_ptr(const kn_graph *g, const void *host);
/* The device address of a tensor's data: kn__cuda_ptr's, or its private buffer's (a chained
 * gradient, runtime.c). Kernels take their operands through this. */
void *kn__cuda_tensor(const kn_graph *g, const kn_tensor *t);
/* KN_ERR_DEVICE: "cuda: CALL failed at node 'NAME' (op): message" (t may be NULL). */
kn_status kn__cuda_fail(kn_graph *g, const kn_tensor *t, const char *call, cudaError_t e);
/* Returns kn__cuda_fail's status from a function with a graph g when call fails. */
#define KN_CU_TRY(call, what)                                                                                \
    do {                                                                                                     \
        cudaError_t e_ = (call);                                                                             \
        if (e_ != cudaSuccess) return kn__cuda_fail(g, NULL, what, e_);                                      \
    } while (0)

/* The backend's pieces across its files: runtime.c (compile, memory), run.c (runs, graphs,
 * the polled and persistent predict), resident_data.c (the resident hooks). */
kn_status kn__cuda_malloc(kn_graph *g, void **p, size_t bytes, const char *what);
void kn__cuda_resident_free(kn__cuda_graph *c);
kn_status kn__cuda_stage_copies(kn_graph *g, kn__cuda_graph *c, bool in, unsigned mask);
kn_status kn__cuda_copy_in(kn_graph *g, void *dst, const void *src, size_t bytes);
kn_status kn__cuda_synchronize(kn_graph *g);
kn_status kn__cuda_run(kn_graph *g, unsigned mask);
kn_status kn__cuda_stop_persistent(kn_graph *g);
kn_status kn__cuda_graph_born(kn_graph *g); /* (compile: another graph's persistent predict stopped) */
void kn__cuda_graph_gone(kn_graph *g);      /* (release) */
kn_status kn__cuda_flush_pending(kn_graph *g); /* (KILN_CUDA_GRAPH_STEPS's held-back runs) */
kn_status kn__cuda_resident_open(kn_graph *g, const kn_resident_desc *d, bool *placed);
kn_status kn__cuda_resident_order(kn_graph *g, const int32_t *order, int64_t n);
kn_status kn__cuda_resident_augment(kn_graph *g, const kn__augment_draw *draws, int64_t n);
kn_status kn__cuda_resident_stats(kn_graph *g, kn_resident_stats *out, bool reset);
void kn__cuda_resident_close(kn_graph *g);
kn_status kn__cuda_grads_finite(kn_graph *g, bool *finite);

/* op(a) op(b) -> c (m, n), row-major, through cuBLASLt; bias (n, f32) or NULL and relu
 * fused in its epilogue (matmul.c). at, bt, ct: the storage types (kn_dtype: KN_F32,
 * KN_BF16, KN_F16); at must equal bt (matmul.c's table). accumulate: c += op(a) op(b)
 * (beta 1; with neither bias nor relu), else c is overwritten. */
kn_status kn__cuda_gemm(kn_graph *g, const kn_tensor *t, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                        const void *a, int at, int64_t lda, const void *b, int bt, int64_t ldb, void *c, int ct,
                        const float *bias, bool relu, bool accumulate);
/* The same; bias_half: the bias narrowed to ct (a half output's epilogue reads it, as
 * cuBLASLt documents the bias as D's type), or NULL; and, with bgrad, the column sums of b (untransposed: its k rows summed into n
 * floats, a bias gradient) in cuBLASLt's BGRADA epilogue; *bgrad_done false when it could
 * not (no such algorithm, or not a plain f32 product): the caller sums them itself. */
kn_status kn__cuda_gemm_bgrad(kn_graph *g, const kn_tensor *t, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                              const void *a, int at, int64_t lda, const void *b, int bt, int64_t ldb, void *c, int ct,
                              const float *bias, const void *bias_half, bool relu, bool accumulate, float *bgrad,
                              bool *bgrad_done);

/* GEMM convolutions (ops.c): output positions a chunk of the column matrix takes under a
 * cap of cap bytes (per: positions an image, k: the window's length KH*KW*C), and the
 * column workspace node t needs at its resolved batch (0: none, as for a 1x1 window with
 * stride 1 and no padding, whose columns are the images' own rows). runtime.c sizes
 * conv_cols with the second; ops.c chunks with the first, never past it (the batch of a
 * run is at most the compiled one). */
int64_t kn__cuda_conv_chunk(int64_t per, int64_t k, size_t cap);
size_t kn__cuda_conv_workspace(const kn_tensor *t, size_t cap);
/* The f32 workspace a half dense or matmul + activation gradient node's product takes
 * before its activation narrows it once (ops.c), or 0. */
size_t kn__cuda_wide_product_bytes(const kn_tensor *t);
/* The workspace a recurrent node takes at its resolved batch (ops.c), or 0: KN_OP_RNN a
 * step's product h_s U (N, G*H), KN_OP_RNN_GRAD the (N, H) dh_rec and dc of the walk back
 * (and dh_prod, the product's part, with recurrent dropout). */
size_t kn__cuda_rnn_workspace(const kn_tensor *t);
/* The optimizer's state slots for the flat buffers' floats from lo on (state_floats /
 * param_floats of them: none for plain SGD, one for momentum, RMSprop and Adagrad, two for
 * Adam); a slot it lacks is NULL, never an address past the buffer (the emulator's pointer
 * check). ops.c's update and the weight gradients taking it (small_batch.c) share it. */
void kn__cuda_opt_slots(const kn_graph *g, int64_t lo, float **s0, float **s1);
/* The device address of a parameter's half compute copy (host: inside param_buf), or NULL
 * (not a parameter, or no copy: an fp32 graph). */
void *kn__cuda_param_half(const kn_graph *g, const void *host);

void kn__cuda_graph_counts(const kn_graph *g, int64_t *replays, int64_t *captures);
/* The step ring a resident run's kernels read their slot from: the device's copy while a
 * graph of K steps that made one is captured, else the mapped ring (or NULL: none). */
static inline const kn__cuda_step *kn__cuda_ring(const kn__cuda_graph *c) {
    return c->ring_copied ? c->d_ring_copy : c->d_ring;
}

/* Tests: how many launches replayed KILN_CUDA_GRAPH_STEPS resident runs at once; how many
 * runs' weight gradients took the update (KILN_CUDA_WGRAD_UPDATE=1). */
int64_t kn__cuda_grouped_launches(const kn_graph *g);
int64_t kn__cuda_fused_updates(const kn_graph *g);
int64_t kn__cuda_fused_update_rows(const kn_graph *g); /* ... the most rows of one of them */
/* ... and how many K-step graphs were one resident_steps_kernel (KILN_CUDA_STEPS_KERNEL=1). */
int64_t kn__cuda_steps_kernels(const kn_graph *g);

/* cuBLASLt's functions, from dlopen (cublaslt_load.c): kn__lt.Matmul(...) where a linked
 * build would call cublasLtMatmul(...). kn__cublaslt_load fills it (once; KN_ERR_DEVICE
 * naming the library when it cannot). */
typedef struct {
    __typeof__(&cublasLtCreate) Create;
    __typeof__(&cublasLtDestroy) Destroy;
    __typeof__(&cublasLtGetStatusString) GetStatusString;
    __typeof__(&cublasLtMatmul) Matmul;
    __typeof__(&cublasLtMatmulAlgoGetHeuristic) MatmulAlgoGetHeuristic;
    __typeof__(&cublasLtMatmulDescCreate) MatmulDescCreate;
    __typeof__(&cublasLtMatmulDescDestroy) MatmulDescDestroy;
    __typeof__(&cublasLtMatmulDescSetAttribute) MatmulDescSetAttribute;
    __typeof__(&cublasLtMatmulPreferenceCreate) MatmulPreferenceCreate;
    __typeof__(&cublasLtMatmulPreferenceDestroy) MatmulPreferenceDestroy;
    __typeof__(&cublasLtMatmulPreferenceSetAttribute) MatmulPreferenceSetAttribute;
    __typeof__(&cublasLtMatrixLayoutCreate) MatrixLayoutCreate;
    __typeof__(&cublasLtMatrixLayoutDestroy) MatrixLayoutDestroy;
} kn__cublaslt_api;
extern kn__cublaslt_api kn__lt;
/* dlopen of a CUDA library by soname: as given (rpath, LD_LIBRARY_PATH, the loader's cache),
 * then beside the loaded cudart, in the toolkit directory configured at build time, and in
 * /usr/local/cuda/lib64 (cublaslt_load.c); NULL when none opens (dlerror says why). */
void *kn__cuda_dlopen(const char *soname);
kn_status kn__cublaslt_load(kn_ctx *ctx);

#endif
