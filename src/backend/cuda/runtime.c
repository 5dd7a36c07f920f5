/* runtime.c — the CUDA backend: a compiled graph's buffers mirrored in device memory
 * (plain cudaMalloc, never managed memory: the parameter, gradient and state buffers and
 * one arena with the planner's offsets, so a tensor's device address is its host address
 * moved to the mirror), the backend's table (kn__cuda_backend), its compile and release,
 * and the copies between host and device. Its nodes run on one stream by ops.c's kernel
 * table: run.c enqueues them and, from the second run with the same batch and phases,
 * captures the whole run as one CUDA graph and replays it (KILN_CUDA_GRAPHS=0 turns capture
 * off); resident_data.c keeps fit's training data on the device.
 *
 * A run: folded tensors (recomputed on the host) and inputs are copied in, the step's
 * values (step, dropout key, training) are copied to device memory from pinned memory,
 * the nodes run (or the graph replays), the kept tensors are copied out, the stream is
 * synchronized. Parameters, gradients and optimizer state stay on the device between
 * runs: kn_graph_sync (pull) brings them back, kn_graph_upload (push) sends them.
 * Every CUDA and cuBLASLt call's status is checked and reported naming the call and the
 * node (KN_ERR_DEVICE). */
#include "backend/backend.h"
#include "cuda_internal.h"
#include "nccl_comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- errors */

kn_status kn__cuda_fail(kn_graph *g, const kn_tensor *t, const char *call, cudaError_t e) {
    if (t)
        return kn__error(g->ctx, KN_ERR_DEVICE, "cuda: %s failed at node '%s' (%s): %s", call, t->name,
                         kn__op_info(t->op)->name, cudaGetErrorString(e));
    return kn__error(g->ctx, KN_ERR_DEVICE, "cuda: %s failed: %s", call, cudaGetErrorString(e));
}

kn_status kn__cuda_check(kn_ctx *ctx) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess)
        return kn__error(ctx, KN_ERR_UNSUPPORTED, "device cuda: no usable GPU (cudaGetDeviceCount: %s)",
                         cudaGetErrorString(e));
    if (n < 1) return kn__error(ctx, KN_ERR_UNSUPPORTED, "device cuda: no GPU found");
    return kn__cuda_select_device(ctx);
}

/* The launcher's local rank (this process's index among the ranks on its machine), or -1
 * when no launcher set one. */
static int local_rank(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID", "LOCAL_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        char *end;
        long r = v && *v ? strtol(v, &end, 10) : -1;
        if (v && *v && !*end && r >= 0 && r < 1 << 20) return (int)r;
    }
    return -1;
}

kn_status kn__cuda_select_device(kn_ctx *ctx) {
    /* the current device is per host thread in the CUDA runtime: once per thread, before the
     * thread's first allocation, stream or launch (the same device on every thread) */
    static _Thread_local bool selected;
    if (selected) return KN_OK;
    int r = local_rank();
    if (r >= 0) {
        int n = 0;
        cudaError_t e = cudaGetDeviceCount(&n);
        if (e != cudaSuccess || n < 1)
            return kn__error(ctx, KN_ERR_UNSUPPORTED, "device cuda: no usable GPU (cudaGetDeviceCount: %s)",
                             e != cudaSuccess ? cudaGetErrorString(e) : "no GPU found");
        e = cudaSetDevice(r % n);
        if (e != cudaSuccess)
            return kn__error(ctx, KN_ERR_DEVICE, "cuda: cudaSetDevice(%d) for local rank %d (%d GPUs here) failed: %s",
                             r % n, r, n, cudaGetErrorString(e));
    }
    selected = true;
    return KN_OK;
}

/* ---------------------------------------------------------------- addresses */

static bool inside(const void *p, const void *base, size_t bytes) {
    return base && (const uint8_t *)p >= (const uint8_t *)base && (const uint8_t *)p < (const uint8_t *)base + bytes;
}

void *kn__cuda_ptr(const kn_graph *g, const void *host) {
    const kn__cuda_graph *c = g->backend.context;
    const uint8_t *p = host;
    size_t pb = g->param_floats * sizeof(float);
    if (!p) return NULL;
    if (inside(p, g->param_buf, pb ? pb : 1)) return (uint8_t *)c->param + (p - (const uint8_t *)g->param_buf);
    if (inside(p, g->grad_buf, pb ? pb : 1)) return (uint8_t *)c->grad + (p - (const uint8_t *)g->grad_buf);
    if (inside(p, g->state_buf, g->state_floats * sizeof(float)))
        return (uint8_t *)c->state + (p - (const uint8_t *)g->state_buf);
    if (inside(p, g->arena, g->arena_bytes ? g->arena_bytes : 1))
        return c->arena + (p - (const uint8_t *)g->arena);
    return NULL; /* not a graph buffer: a bug (compile checks every node) */
}

void *kn__cuda_param_half(const kn_graph *g, const void *host) {
    const kn__cuda_graph *c = g->backend.context;
    const uint8_t *p = host;
    size_t pb = g->param_floats * sizeof(float);
    if (!p || !c->param_half || !inside(p, g->param_buf, pb ? pb : 1)) return NULL;
    return (uint8_t *)c->param_half + (size_t)(p - (const uint8_t *)g->param_buf) / sizeof(float) * sizeof(uint16_t);
}

/* ---------------------------------------------------------------- compile, release */

/* The resident data released, and with it every captured resident run (which holds its
 * addresses); the stream has been synchronized. */
void kn__cuda_resident_free(kn__cuda_graph *c) {
    for (int i = 0; i < KN_CUDA_EXECS; i++)
        if (c->execs[i].exec && (c->execs[i].mask & KN_RUN_RESIDENT)) {
            cudaGraphExecDestroy(c->execs[i].exec);
            c->execs[i].exec = NULL;
        }
    if (c->last_mask & KN_RUN_RESIDENT) c->last_mask = 0; /* the next resident run is launched, then captured */
    c->steps_ok = false; /* (steps_rec names the tables freed here) */
    for (int k = 0; k < c->n_tables; k++) cudaFree(c->table[k]), c->table[k] = NULL;
    cudaFree(c->d_order);
    cudaFree(c->d_labels);
    cudaFree(c->d_res);
    cudaFree(c->grad_acc);
    cudaFree(c->d_draws);
    c->grad_acc = NULL;
    c->d_draws = NULL;
    c->n_tables = 0;
    c->fold_chain = -1;
    c->d_order = c->d_labels = NULL;
    c->d_res = NULL;
    c->res_nccl = NULL;
    c->resident_on = false;
}

/* Workspace bytes the node's kernel needs beyond its output (ws, shared by all nodes). */
static size_t node_workspace(const kn_tensor *t) {
    switch (t->op) {
    case KN_OP_LOSS: return (size_t)(t->src[0]->ne[0] > 0 ? t->src[0]->ne[0] : 1) * sizeof(double);
    case KN_OP_BATCH_NORM:
    case KN_OP_BATCH_NORM_GRAD: return (size_t)t->ne[t->ndim - 1] * 5 * sizeof(float);
    case KN_OP_LAYER_NORM_GAMMA_GRAD: /* the rows' statistics and the chunks' sums, at the compiled batch */
        return t->ne[0] ? kn__cu_layer_norm_gamma_grad_ws(kn__numel(t->src[1]) / t->ne[0], t->ne[0]) : 0;
    case KN_OP_OPTIMIZER: /* the clip factor (its first 64 bytes), then the norm's partial sums */
    case KN_OP_GRAD_NORM: return 64 + KN_CU_NORM_BLOCKS * sizeof(double);
    case KN_OP_SUM_ROWS: /* the chunks' partial sums (kernels.cu), at the compiled batch */
        return t->ne[0] ? kn__cu_sum_rows_ws(kn__numel(t->src[0]) / t->ne[0], t->ne[0]) : 0;
    case KN_OP_DENSE:
    case KN_OP_MATMUL_ACT_GRAD: return kn__cuda_wide_product_bytes(t); /* a half output's f32 product (ops.c) */
    case KN_OP_RNN:
    case KN_OP_RNN_GRAD: return kn__cuda_rnn_workspace(t); /* a step's product; the walk back's dh, dc (, dh_prod) */
    case KN_OP_ATTENTION_GRAD: return kn__cuda_attention_workspace(t); /* each query row's max, 1/sum, D */
    case KN_OP_DEPTHWISE_CONV2D_GRAD_KERNEL: return kn__cuda_depthwise_workspace(t); /* its parts' partial sums */
    case KN_OP_GROUP_NORM:
    case KN_OP_GROUP_NORM_GRAD:
    case KN_OP_GROUP_NORM_GAMMA_GRAD: return kn__cuda_group_norm_workspace(t); /* the group statistics */
    default: return 0;
    }
}

/* Every node that runs on the device has a kernel there, and every tensor it touches
 * lives in a graph buffer. */
static kn_status check_nodes(kn_graph *g) {
    kn_status st = kn__backend_check_buffers(g); /* (kn__cuda_ptr maps only those) */
    if (st) return st;
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        if (t->flags & KN_FLAG_FOLDED) continue;
        if (kn__op_info(t->op)->cpu && !kn__cuda_kernel(t->op))
            return kn__error(g->ctx, KN_ERR_UNSUPPORTED, "cuda: op %s (node '%s') has no CUDA kernel",
                             kn__op_info(t->op)->name, t->name);
        /* half storage only where the precision pass put it (kn__cuda_half_writes/reads) */
        bool half = (t->dtype == KN_BF16 || t->dtype == KN_F16) && g->precision != KN_PRECISION_FP32;
        if (t->dtype != KN_F32 && t->dtype != KN_I32 && !half && kn__op_info(t->op)->cpu)
            return kn__error(g->ctx, KN_ERR_DTYPE, "cuda: node '%s' is %s; the CUDA backend computes in f32", t->name,
                             kn_dtype_name(t->dtype));
    }
    return KN_OK;
}

kn_status kn__cuda_malloc(kn_graph *g, void **p, size_t bytes, const char *what) {
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e != cudaSuccess)
        return kn__error(g->ctx, e == cudaErrorMemoryAllocation ? KN_ERR_OUT_OF_MEMORY : KN_ERR_DEVICE,
                         "cuda: cudaMalloc of %zu bytes for the %s failed: %s", bytes, what, cudaGetErrorString(e));
    return KN_OK;
}

/* Every tensor a run copies in (inputs) or out (kept outputs of the arena, inputs excepted),
 * its place in the pinned staging buffer at the largest batch (compile has resolved shapes
 * for it). */
static kn_status plan_io(kn_graph *g, kn__cuda_graph *c) {
    c->io_t = kn__alloc(g->ctx, ((size_t)g->n_nodes + 1) * sizeof *c->io_t);
    c->io_off = kn__alloc(g->ctx, ((size_t)g->n_nodes + 1) * sizeof *c->io_off);
    if (!c->io_t || !c->io_off) return kn__error(g->ctx, KN_ERR_OUT_OF_MEMORY, "cuda: out of memory");
    size_t off = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < g->n_nodes; i++) {
            kn_tensor *t = g->nodes[i];
            bool in = t->op == KN_OP_INPUT && !t->alias;
            /* kept tensors of the arena: those in the flat buffers (the parameters' gradients)
             * stay on the device until a pull, as the mirror backend tests (copied each run,
             * the wide MLP's 564 MB of gradients would cross the bus every step) */
            /* (a kept reshape, a view without a kernel, too: a recurrent layer's sequence) */
            bool out = (t->flags & KN_FLAG_KEEP) && t->op != KN_OP_INPUT && !(t->flags & KN_FLAG_FOLDED) &&
                       (kn__op_info(t->op)->cpu || t->op == KN_OP_RESHAPE) && inside(t->data, g->arena, g->arena_bytes);
            if (pass == 0 ? !in : !out) continue;
            c->io_t[c->n_io] = t;
            c->io_off[c->n_io++] = off;
            off += (kn__nbytes(t) + 63) / 64 * 64;
        }
        if (pass == 0) c->n_io_in = c->n_io;
    }
    c->io_bytes = off;
    /* mapped, so that a kernel moves a run's small inputs and outputs (enqueue) */
    cudaError_t e = cudaHostAlloc((void **)&c->h_io, off ? off : 64, cudaHostAllocMapped);
    if (e != cudaSuccess) return kn__cuda_fail(g, NULL, "cudaHostAlloc (input and output staging)", e);
    const char *mapped = getenv("KILN_CUDA_MAPPED"); /* 0: copies only (the A/B of bench/gpu/run.sh) */
    if (!(mapped && strcmp(mapped, "0") == 0) && cudaHostGetDevicePointer((void **)&c->d_io, c->h_io, 0) != cudaSuccess) {
        c->d_io = NULL; /* (no mapping: the copy engine moves them all) */
        cudaGetLastError();
    }
    if (!(mapped && strcmp(mapped, "0") == 0) && cudaHostGetDevicePointer((void **)&c->d_ring, c->h_step, 0) != cudaSuccess) {
        c->d_ring = NULL; /* (a resident run's step values then go by a copy) */
        cudaGetLastError();
    }
    c->io_direct = kn__calloc(g->ctx, (size_t)c->n_io + 1, sizeof *c->io_direct);
    c->io_phases = kn__calloc(g->ctx, (size_t)c->n_io + 1, sizeof *c->io_phases);
    c->io_nbytes = kn__calloc(g->ctx, (size_t)c->n_io + 1, sizeof *c->io_nbytes);
    if (!c->io_direct || !c->io_phases || !c->io_nbytes) return kn__error(g->ctx, KN_ERR_OUT_OF_MEMORY, "cuda: out of memory");
    kn__cuda_plan_chain_io(g, c);
    return KN_OK;
}

/* A run's copies between the staging and the arena: the small ones (at most
 * KN_CUDA_MAPPED_BYTES each, at most KN_CU_COPY_SEGMENTS of them) as one kernel reading or
 * writing the mapped staging, the others by the copy engine. in: the inputs (host to
 * device), else the kept outputs of mask. */
#define KN_CUDA_MAPPED_BYTES (256 << 10)
kn_status kn__cuda_stage_copies(kn_graph *g, kn__cuda_graph *c, bool in, unsigned mask) {
    kn__cu_copies cp = {.n = 0};
    for (int k = in ? 0 : c->n_io_in; k < (in ? c->n_io_in : c->n_io); k++) {
        kn_tensor *t = c->io_t[k];
        size_t bytes = kn__nbytes(t);
        if (!bytes || (in ? !(c->io_phases[k] & mask) : !(t->phase & mask)) || c->io_direct[k]) continue;
        uint8_t *dev = kn__cuda_tensor(g, t);
        if (c->d_io && bytes <= KN_CUDA_MAPPED_BYTES && cp.n < KN_CU_COPY_SEGMENTS) {
            cp.src[cp.n] = in ? c->d_io + c->io_off[k] : dev;
            cp.dst[cp.n] = in ? dev : c->d_io + c->io_off[k];
            cp.bytes[cp.n++] = (int64_t)bytes;
            continue;
        }
        cudaError_t e = in ? cudaMemcpyAsync(dev, c->h_io + c->io_off[k], bytes, cudaMemcpyHostToDevice, c->stream)
                           : cudaMemcpyAsync(c->h_io + c->io_off[k], dev, bytes, cudaMemcpyDeviceToHost, c->stream);
        if (e != cudaSuccess) return kn__cuda_fail(g, NULL, in ? "cudaMemcpyAsync (in)" : "cudaMemcpyAsync (out)", e);
    }
    if (cp.n) {
        cudaError_t e = kn__cu_copy_segments(c->stream, &cp);
        if (e != cudaSuccess) return kn__cuda_fail(g, NULL, in ? "kn__cu_copy_segments (in)" : "kn__cu_copy_segments (out)", e);
    }
    return KN_OK;
}

/* KILN_CUDA_CONV (direct or gemm, the default), KILN_CUDA_CONV_WS_MB (the column chunk's
 * cap in MB, fractions allowed, default 256) and KILN_CUDA_INDEX64, read once per compile. */
static kn_status conv_settings(kn_graph *g, kn__cuda_graph *c) {
    const char *mode = getenv("KILN_CUDA_CONV"), *cap = getenv("KILN_CUDA_CONV_WS_MB");
    if (mode && *mode && strcmp(mode, "direct") != 0 && strcmp(mode, "gemm") != 0)
        return kn__error(g->ctx, KN_ERR_INVALID_ARGUMENT, "cuda: KILN_CUDA_CONV=%s: expected direct or gemm", mode);
    c->conv_direct = mode && strcmp(mode, "direct") == 0;
    const char *index64 = getenv("KILN_CUDA_INDEX64");
    c->index64 = index64 && strcmp(index64, "1") == 0;
    double mb = 256;
    if (cap && *cap) {
        char *end;
        mb = strtod(cap, &end);
        if (*end || !(mb > 0 && mb <= 1048576)) /* up to 1 TB */
            return kn__error(g->ctx, KN_ERR_INVALID_ARGUMENT,
                             "cuda: KILN_CUDA_CONV_WS_MB=%s: expected a size in MB in (0, 1048576]", cap);
    }
    c->conv_cap = (size_t)(mb * 1048576.0);
    return KN_OK;
}

/* The bias gradients a weight gradient's product can sum in its epilogue: a sum_rows of an
 * f32 or half (rows, n) into a parameter's f32 gradient, and a matmul a^T b (f32, a
 * parameter's gradient too) whose b is the same rows, both in the backward pass. */
static void pair_bias_grads(kn_graph *g, kn__cuda_graph *c) {
    const char *env = getenv("KILN_CUDA_BGRAD");
    if (env && strcmp(env, "0") == 0) return;
    for (int i = 0; i < g->n_nodes && c->n_bgrad < KN_CUDA_BGRAD_PAIRS; i++) {
        const kn_tensor *s = g->nodes[i];
        if (s->op != KN_OP_SUM_ROWS || (s->flags & KN_FLAG_FOLDED) || s->phase != KN_PHASE_BACKWARD ||
            !(s->flags & KN_FLAG_PARAM_GRAD) || s->dtype != KN_F32 || s->src[0]->ndim != 2)
            continue;
        for (int j = 0; j < g->n_nodes; j++) {
            const kn_tensor *m = g->nodes[j];
            if (m->op != KN_OP_MATMUL || (m->flags & KN_FLAG_FOLDED) || m->phase != KN_PHASE_BACKWARD ||
                !(m->flags & KN_FLAG_PARAM_GRAD) || m->dtype != KN_F32 || m->src[1] != s->src[0] || !m->iparam[0] ||
                m->iparam[1] || m->ne[1] != s->ne[0])
                continue;
            bool taken = false;
            for (int k = 0; k < c->n_bgrad; k++) taken |= c->bgrad_mm[k] == m;
            if (taken) continue;
            c->bgrad_mm[c->n_bgrad] = m;
            c->bgrad_sum[c->n_bgrad++] = s;
            break;
        }
    }
}

static kn_status private_buffers(kn_graph *g, kn__cuda_graph *c) {
    for (int i = 0; i < c->n_priv; i++) {
        kn_status st = kn__cuda_malloc(g, &c->priv_d[i], kn__nbytes(c->priv_t[i]), "a tensor out of the arena");
        if (st) return st;
    }
    return KN_OK;
}

void *kn__cuda_tensor(const kn_graph *g, const kn_tensor *t) {
    const kn__cuda_graph *c = g->backend.context;
    if (!t) return NULL;
    if (c->n_priv) {
        const kn_tensor *r = kn__alias_root((kn_tensor *)t);
        for (int i = 0; i < c->n_priv; i++)
            if (c->priv_t[i] == r) return (uint8_t *)c->priv_d[i] + ((const uint8_t *)t->data - (const uint8_t *)r->data);
    }
    return kn__cuda_ptr(g, t->data);
}

static kn_status cuda_compile(kn_graph *g) {
    kn__cuda_graph *c = kn__calloc(g->ctx, 1, sizeof *c);
    if (!c) return kn__error(g->ctx, KN_ERR_OUT_OF_MEMORY, "cuda: out of memory");
    g->backend.context = c;
    kn_status st = kn__cuda_graph_born(g); /* (no other graph's persistent kernel while two live: run.c) */
    if (st || (st = kn__cuda_select_device(g->ctx)) || (st = check_nodes(g)) || (st = conv_settings(g, c))) return st;
    const char *tf32 = getenv("KILN_CUDA_TF32");
    c->tf32 = tf32 && strcmp(tf32, "1") == 0;
    pair_bias_grads(g, c);
    kn__cuda_plan_small_batch(g, c);
    if ((st = private_buffers(g, c))) return st;
    bool chain_loss = false;
    for (int k = 0; k < c->n_chains; k++) chain_loss |= c->chain[k].loss != NULL;
    if (chain_loss && ((st = kn__cuda_malloc(g, (void **)&c->chain_done, sizeof *c->chain_done, "the chain loss's counter")) ||
                       (st = kn__cuda_malloc(g, (void **)&c->chain_rows_loss, (size_t)c->chain_rows * sizeof(double),
                                         "the chain loss's rows")) ||
                       (st = kn__cuda_malloc(g, (void **)&c->chain_correct, (size_t)c->chain_rows * sizeof(int32_t),
                                         "the chain's correct rows"))))
        return st;
    size_t part = 0; /* the largest split's parts, at any rows a run may have */
    for (int k = 0; k < c->n_chains; k++) {
        const kn_tensor *head = c->chain[k].node[0];
        for (int64_t r = 1; r <= head->ne[0] && r <= c->chain_rows; r++) {
            int s = c->chain_unsplit ? 1 : kn__cuda_chain_split(r, head->src[0]->ne[1], c->split_blocks);
            size_t need = s > 1 ? (size_t)s * (size_t)r * (size_t)head->ne[1] * sizeof(float) : 0;
            part = need > part ? need : part;
        }
    }
    if (part && ((st = kn__cuda_malloc(g, (void **)&c->chain_part, part, "a split chain's parts")) ||
                 (st = kn__cuda_malloc(g, (void **)&c->chain_count, (size_t)c->chain_rows * sizeof *c->chain_count,
                                   "a split chain's counters"))))
        return st;
    if (c->chain_timing && c->n_chains &&
        (st = kn__cuda_malloc(g, (void **)&c->chain_stamps, 2 * KN_CU_STAMP_SLOTS * sizeof *c->chain_stamps, "chain timing")))
        return st;
    size_t pb = g->param_floats * sizeof(float), ws = 64, cols = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        size_t w = node_workspace(t);
        size_t cw = c->conv_direct || (t->flags & KN_FLAG_FOLDED) ? 0 : kn__cuda_conv_workspace(t, c->conv_cap);
        ws = w > ws ? w : ws;
        cols = cw > cols ? cw : cols;
    }
    c->ws_bytes = ws;
    c->conv_cols_bytes = cols; /* at the compiled (largest) batch: runs chunk within it */
    c->lt_ws_bytes = 32u << 20; /* cuBLASLt's workspace: 32 MB, as cuBLAS uses on Hopper */
    if ((st = kn__cuda_malloc(g, (void **)&c->param, pb, "parameters")) ||
        /* (a resident data-parallel step's verdict rides in the float after the gradients) */
        (g->grad_buf && (st = kn__cuda_malloc(g, (void **)&c->grad, pb + 64, "gradients"))) ||
        (g->state_buf && (st = kn__cuda_malloc(g, (void **)&c->state, g->state_floats * sizeof(float), "optimizer state"))) ||
        (st = kn__cuda_malloc(g, (void **)&c->arena, g->arena_bytes, "arena")) ||
        (st = kn__cuda_malloc(g, &c->ws, ws, "workspace")) || (st = kn__cuda_malloc(g, &c->lt_ws, c->lt_ws_bytes, "cuBLASLt workspace")) ||
        (st = kn__cuda_malloc(g, (void **)&c->d_step, sizeof *c->d_step, "step values")) ||
        (cols && (st = kn__cuda_malloc(g, (void **)&c->conv_cols, cols, "convolution columns"))))
        return st;
    if (g->precision == KN_PRECISION_BF16 || g->precision == KN_PRECISION_FP16) {
        /* the products' half operand copy of the parameters (matmul.c), filled by push */
        c->half_type = g->precision == KN_PRECISION_BF16 ? KN_BF16 : KN_F16;
        if ((st = kn__cuda_malloc(g, &c->param_half, g->param_floats * sizeof(uint16_t), "half parameter copy"))) return st;
    }
    KN_CU_TRY(cudaHostAlloc((void **)&c->h_step, (KN_CUDA_STEP_RING + 1) * sizeof *c->h_step, cudaHostAllocMapped),
       "cudaHostAlloc (step values)");
    if ((st = plan_io(g, c))) return st;
    KN_CU_TRY(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    if (c->chain_done) KN_CU_TRY(cudaMemsetAsync(c->chain_done, 0, sizeof *c->chain_done, c->stream), "cudaMemsetAsync (counter)");
    if (c->chain_count)
        KN_CU_TRY(cudaMemsetAsync(c->chain_count, 0, (size_t)c->chain_rows * sizeof *c->chain_count, c->stream),
           "cudaMemsetAsync (counters)");
    if (c->chain_stamps)
        KN_CU_TRY(cudaMemsetAsync(c->chain_stamps, 0, 2 * KN_CU_STAMP_SLOTS * sizeof *c->chain_stamps, c->stream),
           "cudaMemsetAsync (chain timing)");
    if ((st = kn__cublaslt_load(g->ctx))) return st;
    cublasStatus_t bs = kn__lt.Create(&c->lt);
    if (bs != CUBLAS_STATUS_SUCCESS)
        return kn__error(g->ctx, KN_ERR_DEVICE, "cuda: cublasLtCreate failed: %s", kn__lt.GetStatusString(bs));
    c->lt_ok = true;
    const kn_optimizer *o = &g->opt;
    c->opt = (kn__cuda_opt){o->kind, o->beta_1, o->beta_2, o->epsilon, o->momentum, o->rho,
                            o->weight_decay, o->clip_norm, o->clip_value, o->nesterov,
                            o->lr_power, o->l1, o->l2, o->l2_shrinkage, o->ftrl_beta,
                            (o->kind == KN_OPT_ADAM || o->kind == KN_OPT_ADAMW) && o->amsgrad, (int64_t)g->param_floats};
    const char *env = getenv("KILN_CUDA_GRAPHS");
    c->use_graphs = !(env && strcmp(env, "0") == 0);
    env = getenv("KILN_CUDA_GRAPH_STEPS"); /* (ring slots: at most half the ring held back; 1: each run alone) */
    c->graph_steps = env ? (atoi(env) > 1 ? atoi(env) : 1) : KN_CUDA_GRAPH_STEPS;
    if (c->graph_steps > KN_CUDA_STEP_RING / 2) c->graph_steps = KN_CUDA_STEP_RING / 2;
    c->fold_chain = -1; /* (kn__cuda_plan_fold decides at resident_open) */
    c->chain_capacity = -1;
    c->steps_capacity = -1;
    c->wgrad_capacity[0] = c->wgrad_capacity[1] = -1;
    env = getenv("KILN_CUDA_POLL"); /* 1: a one-kernel predict waited for by polling (the A/B of bench/gpu/run.sh) */
    c->poll = env && strcmp(env, "1") == 0;
    env = getenv("KILN_CUDA_PERSIST"); /* 1: that kernel launched once, then rung (the A/B of bench/gpu/run.sh) */
    c->persist = env && strcmp(env, "1") == 0;
    c->poll = c->poll || c->persist;
    if (c->poll) { /* the poll word, and 64 bytes on, the doorbell; on the device the counts and the doorbell's relay */
        if ((st = kn__cuda_malloc(g, (void **)&c->d_poll, 3 * sizeof *c->d_poll, "poll counts"))) return st;
        KN_CU_TRY(cudaMemsetAsync(c->d_poll, 0, 3 * sizeof *c->d_poll, c->stream), "cudaMemsetAsync (poll counts)");
        KN_CU_TRY(cudaHostAlloc((void **)&c->h_poll, 128, cudaHostAllocMapped), "cudaHostAlloc (poll word)");
        *c->h_poll = 0;
        c->h_door = c->h_poll + 16;
        if (cudaHostGetDevicePointer((void **)&c->m_poll, c->h_poll, 0) != cudaSuccess) {
            cudaGetLastError();
            c->poll = c->persist = false; /* (no mapping: synchronized as usual) */
        }
        c->m_door = c->m_poll ? c->m_poll + 16 : NULL;
    }
    env = getenv("KILN_CUDA_PDL"); /* 1: programmatic dependent launch in resident steps (the A/B of bench/gpu/run.sh) */
    c->pdl = env && strcmp(env, "1") == 0;
    /* the arena's constants (filled at compile), parameters, zeroed gradients, state */
    KN_CU_TRY(cudaMemcpyAsync(c->arena, g->arena, g->arena_bytes, cudaMemcpyHostToDevice, c->stream), "cudaMemcpyAsync (arena)");
    if (g->grad_buf) KN_CU_TRY(cudaMemcpyAsync(c->grad, g->grad_buf, pb, cudaMemcpyHostToDevice, c->stream), "cudaMemcpyAsync (gradients)");
    return g->backend.iface->push(g, KN_SYNC_PARAMS | KN_SYNC_STATE);
}

/* KILN_CUDA_CHAIN_TIMING=1: the first chain's row-0 phases (kn__cu_chain's stamps), as means over
 * the runs in microseconds from block (0, 0)'s start, on stderr: a diagnostic for the GPU
 * sessions (bench/gpu/run.sh), printed as the graph is freed. */
static void print_chain_timing(kn__cuda_graph *c) {
    unsigned long long v[2 * KN_CU_STAMP_SLOTS];
    if (!c->chain_stamps || cudaMemcpy(v, c->chain_stamps, sizeof v, cudaMemcpyDeviceToHost) != cudaSuccess) {
        cudaGetLastError();
        return;
    }
    if (!v[KN_CU_STAMP_RUNS]) return;
    double mean[KN_CU_STAMP_RUNS];
    int order[KN_CU_STAMP_RUNS], m = 0; /* the phases that ran, in the order they ended */
    for (int i = 0; i < KN_CU_STAMP_RUNS; i++) {
        const unsigned long long runs = v[KN_CU_STAMP_SLOTS + i];
        if (!runs) continue;
        mean[i] = (double)v[i] / (double)runs / 1000.0;
        int j = m++;
        for (; j > 0 && mean[order[j - 1]] > mean[i]; j--) order[j] = order[j - 1];
        order[j] = i;
    }
    fprintf(stderr, "kiln: cuda chain timing: row 0 over %llu runs, mean us from the run's start:", v[KN_CU_STAMP_RUNS]);
    for (int k = 0; k < m; k++) {
        int i = order[k];
        char name[24];
        int layer = i - KN_CU_STAMP_LAYERS + 1, n = c->n_chains ? c->chain[0].len : 0;
        if (i >= KN_CU_STAMP_LAYERS && i < KN_CU_STAMP_LOSS && c->row_repeat && v[KN_CU_STAMP_SM] && layer >= n)
            /* (KILN_CUDA_ROW_REPEAT's second pass, in a graph whose single rows ran as the row kernel) */
            snprintf(name, sizeof name, "again layer %d", layer - n + 1);
        else if (i >= KN_CU_STAMP_LAYERS && i < KN_CU_STAMP_LOSS) snprintf(name, sizeof name, "layer %d", layer);
        else snprintf(name, sizeof name, "%s", i == KN_CU_STAMP_INPUT ? "input" : i == KN_CU_STAMP_PARTS ? "parts"
                                             : i == KN_CU_STAMP_HANDOFF ? "handoff" : i == KN_CU_STAMP_LAYER0 ? "layer 0"
                                             : i == KN_CU_STAMP_LOSS ? "loss" : "end");
        fprintf(stderr, " %s %.2f", name, mean[i]);
        if (v[KN_CU_STAMP_SLOTS + i] != v[KN_CU_STAMP_RUNS]) fprintf(stderr, " (%llu runs)", v[KN_CU_STAMP_SLOTS + i]);
    }
    if (v[KN_CU_STAMP_PARTS]) /* (the clock's cycles over the nanoseconds of the same stretch) */
        fprintf(stderr, "; block (0, 0)'s clock to the parts %.0f MHz", 1e3 * (double)v[KN_CU_STAMP_CYCLES] / (double)v[KN_CU_STAMP_PARTS]);
    if (v[KN_CU_STAMP_SM]) /* (the row kernel's) */
        fprintf(stderr, "; block 0 on the run before's multiprocessor in %llu of %llu runs", v[KN_CU_STAMP_SM_SAME],
                v[KN_CU_STAMP_SM_PAIRS]);
    fprintf(stderr, "\n");
}

static void cuda_release(kn_graph *g) {
    kn__cuda_graph *c = g->backend.context;
    if (!c) return;
    kn__cuda_stop_persistent(g);
    kn__cuda_graph_gone(g);
    c->pending = 0; /* (nothing held back is wanted any more) */
    if (c->stream) cudaStreamSynchronize(c->stream);
    print_chain_timing(c);
    kn__cuda_resident_free(c); /* (its captured runs too) */
    for (int i = 0; i < KN_CUDA_EXECS; i++)
        if (c->execs[i].exec) cudaGraphExecDestroy(c->execs[i].exec);
    if (c->lt_ok) kn__lt.Destroy(c->lt);
    if (c->stream) cudaStreamDestroy(c->stream);
    cudaFree(c->param);
    cudaFree(c->grad);
    cudaFree(c->state);
    cudaFree(c->arena);
    cudaFree(c->param_half);
    cudaFree(c->ws);
    cudaFree(c->conv_cols);
    cudaFree(c->lt_ws);
    cudaFree(c->d_step);
    cudaFree(c->d_ring_copy);
    cudaFree(c->d_poll);
    if (c->h_poll) cudaFreeHost(c->h_poll);
    for (int i = 0; i < c->n_priv; i++) cudaFree(c->priv_d[i]);
    cudaFree(c->chain_done);
    cudaFree(c->chain_rows_loss);
    cudaFree(c->chain_correct);
    cudaFree(c->chain_part);
    cudaFree(c->chain_count);
    cudaFree(c->chain_stamps);
    if (c->h_step) cudaFreeHost(c->h_step);
    if (c->h_io) cudaFreeHost(c->h_io);
    kn__free(g->ctx, c->io_t);
    kn__free(g->ctx, c->io_off);
    kn__free(g->ctx, c->io_direct);
    kn__free(g->ctx, c->io_nbytes);
    kn__free(g->ctx, c->io_phases);
    kn__free(g->ctx, c);
    g->backend.context = NULL;
}

/* ---------------------------------------------------------------- memory */

static kn_status cuda_alloc(kn_graph *g, size_t bytes, void **out) { return kn__cuda_malloc(g, out, bytes, "buffer"); }
static void cuda_free(kn_graph *g, void *ptr) { (void)g; cudaFree(ptr); }

kn_status kn__cuda_copy_in(kn_graph *g, void *dst, const void *src, size_t bytes) {
    kn__cuda_graph *c = g->backend.context;
    kn_status st = kn__cuda_flush_pending(g); /* (after the runs before it) */
    if (st) return st;
    KN_CU_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream), "cudaMemcpyAsync (in)");
    return KN_OK;
}

static kn_status cuda_copy_out(kn_graph *g, void *dst, const void *src, size_t bytes) {
    kn__cuda_graph *c = g->backend.context;
    kn_status st = kn__cuda_flush_pending(g);
    if (st) return st;
    KN_CU_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream), "cudaMemcpyAsync (out)");
    return KN_OK;
}

kn_status kn__cuda_synchronize(kn_graph *g) {
    kn__cuda_graph *c = g->backend.context;
    kn_status st = kn__cuda_flush_pending(g);
    if (st) return st;
    /* resident data parallel: the steps' all-reduces may wait on a peer: watched, with a deadline */
    if (c->res_nccl && (st = kn__nccl_wait(g, c->res_nccl, "a resident step's all-reduce"))) return st;
    KN_CU_TRY(cudaStreamSynchronize(c->stream), "cudaStreamSynchronize");
    c->inflight = 0; /* every queued copy from the step ring has run */
    return KN_OK;
}

/* The flat buffers of parts (KN_SYNC_*): device -> host. Shared parameters are never
 * written, so never copied back. */
static kn_status cuda_pull(kn_graph *g, unsigned parts) {
    kn__cuda_graph *c = g->backend.context;
    size_t pb = g->param_floats * sizeof(float);
    kn_status st = kn__cuda_synchronize(g);
    if (st) return st;
    if ((parts & KN_SYNC_PARAMS) && !g->shared_params)
        KN_CU_TRY(cudaMemcpy(g->param_buf, c->param, pb, cudaMemcpyDeviceToHost), "cudaMemcpy (parameters out)");
    if ((parts & KN_SYNC_GRADS) && g->grad_buf)
        KN_CU_TRY(cudaMemcpy(g->grad_buf, c->grad, pb, cudaMemcpyDeviceToHost), "cudaMemcpy (gradients out)");
    if ((parts & KN_SYNC_STATE) && g->state_buf)
        KN_CU_TRY(cudaMemcpy(g->state_buf, c->state, g->state_floats * sizeof(float), cudaMemcpyDeviceToHost),
           "cudaMemcpy (optimizer state out)");
    return KN_OK;
}

/* The flat buffers of parts: host -> device. Every host-to-device copy of this backend is
 * queued on the graph's stream (a plain cudaMemcpy from pageable memory may return before
 * its DMA ends, and the non-blocking stream would not wait for it); the source is
 * consumed when the call returns. */
static kn_status cuda_push(kn_graph *g, unsigned parts) {
    kn__cuda_graph *c = g->backend.context;
    size_t pb = g->param_floats * sizeof(float);
    kn_status st = kn__cuda_synchronize(g);
    if (st) return st;
    if (parts & KN_SYNC_PARAMS) {
        KN_CU_TRY(cudaMemcpyAsync(c->param, g->param_buf, pb, cudaMemcpyHostToDevice, c->stream), "cudaMemcpyAsync (parameters in)");
        if (c->param_half && g->param_floats) /* ordered before the next run on the stream */
            KN_CU_TRY(kn__cu_scale_x(c->stream, c->param, KN_F32, c->param_half, c->half_type, 1.0f, (int64_t)g->param_floats),
               "kn__cu_scale_x (half parameter copy)");
    }
    if ((parts & KN_SYNC_GRADS) && g->grad_buf)
        KN_CU_TRY(cudaMemcpyAsync(c->grad, g->grad_buf, pb, cudaMemcpyHostToDevice, c->stream), "cudaMemcpyAsync (gradients in)");
    if ((parts & KN_SYNC_STATE) && g->state_buf)
        KN_CU_TRY(cudaMemcpyAsync(c->state, g->state_buf, g->state_floats * sizeof(float), cudaMemcpyHostToDevice, c->stream),
           "cudaMemcpyAsync (optimizer state in)");
    return KN_OK;
}

const kn_backend_iface kn__cuda_backend = {
    .name = "cuda", .compile = cuda_compile, .release = cuda_release, .alloc = cuda_alloc, .free = cuda_free,
    .copy_in = kn__cuda_copy_in, .copy_out = cuda_copy_out, .run = kn__cuda_run, .synchronize = kn__cuda_synchronize,
    .pull = cuda_pull, .push = cuda_push, .resident_open = kn__cuda_resident_open, .resident_order = kn__cuda_resident_order,
    .resident_stats = kn__cuda_resident_stats, .resident_close = kn__cuda_resident_close, .grads_finite = kn__cuda_grads_finite,
    .resident_augment = kn__cuda_resident_augment,
};

/* Tests: how many runs replayed a captured graph, and how many captures were made. */
void kn__cuda_graph_counts(const kn_graph *g, int64_t *replays, int64_t *captures) {
    const kn__cuda_graph *c = g->backend.iface == &kn__cuda_backend ? g->backend.context : NULL;
    *replays = c ? c->replays : 0;
    *captures = c ? c->captures : 0;
}

int64_t kn__cuda_grouped_launches(const kn_graph *g) {
    const kn__cuda_graph *c = g->backend.iface == &kn__cuda_backend ? g->backend.context : NULL;
    return c ? c->grouped : 0;
}

int64_t kn__cuda_fused_updates(const kn_graph *g) {
    const kn__cuda_graph *c = g->backend.iface == &kn__cuda_backend ? g->backend.context : NULL;
    return c ? c->fused_updates : 0; /* (counted as runs are enqueued: a captured run once) */
}

int64_t kn__cuda_fused_update_rows(const kn_graph *g) {
    const kn__cuda_graph *c = g->backend.iface == &kn__cuda_backend ? g->backend.context : NULL;
    return c ? c->fused_update_rows : 0;
}

int64_t kn__cuda_steps_kernels(const kn_graph *g) {
    const kn__cuda_graph *c = g->backend.iface == &kn__cuda_backend ? g->backend.context : NULL;
    return c ? c->steps_launches : 0;
}
