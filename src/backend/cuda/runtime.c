/* runtime.c — the CUDA backend: a compiled graph's buffers mirrored in device memory
 * (plain cudaMalloc, never managed memory: the parameter, gradient and state buffers and
 * one arena with the planner's offsets, so a tensor's device address is its host address
 * moved to the mirror), its nodes run by this file's kernel table on one stream, and, from
 * the second run with the same batch and phases, the whole run captured as one CUDA graph
 * and replayed (KILN_CUDA_GRAPHS=0 turns capture off).
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

#include <math.h>
#include <stddef.h>
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
static void resident_free(kn__cuda_graph *c) {
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
    case KN_OP_OPTIMIZER: /* the clip factor (its first 64 bytes), then the norm's partial sums */
    case KN_OP_GRAD_NORM: return 64 + KN_CU_NORM_BLOCKS * sizeof(double);
    case KN_OP_SUM_ROWS: /* the chunks' partial sums (kernels.cu), at the compiled batch */
        return t->ne[0] ? kn__cu_sum_rows_ws(kn__numel(t->src[0]) / t->ne[0], t->ne[0]) : 0;
    case KN_OP_DENSE:
    case KN_OP_MATMUL_ACT_GRAD: return kn__cuda_wide_product_bytes(t); /* a half output's f32 product (ops.c) */
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

#define CU(call, what)                                                                                       \
    do {                                                                                                     \
        cudaError_t e_ = (call);                                                                             \
        if (e_ != cudaSuccess) return kn__cuda_fail(g, NULL, what, e_);                                      \
    } while (0)

static kn_status cuda_malloc(kn_graph *g, void **p, size_t bytes, const char *what) {
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
            bool out = (t->flags & KN_FLAG_KEEP) && t->op != KN_OP_INPUT && !(t->flags & KN_FLAG_FOLDED) &&
                       kn__op_info(t->op)->cpu && inside(t->data, g->arena, g->arena_bytes);
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
    if (!c->io_direct || !c->io_phases) return kn__error(g->ctx, KN_ERR_OUT_OF_MEMORY, "cuda: out of memory");
    kn__cuda_plan_chain_io(g, c);
    return KN_OK;
}

/* A run's copies between the staging and the arena: the small ones (at most
 * KN_CUDA_MAPPED_BYTES each, at most KN_CU_COPY_SEGMENTS of them) as one kernel reading or
 * writing the mapped staging, the others by the copy engine. in: the inputs (host to
 * device), else the kept outputs of mask. */
#define KN_CUDA_MAPPED_BYTES (256 << 10)
static kn_status stage_copies(kn_graph *g, kn__cuda_graph *c, bool in, unsigned mask) {
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
        kn_status st = cuda_malloc(g, &c->priv_d[i], kn__nbytes(c->priv_t[i]), "a tensor out of the arena");
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
    kn_status st = kn__cuda_select_device(g->ctx); /* this rank's GPU, before the first allocation */
    if (st || (st = check_nodes(g)) || (st = conv_settings(g, c))) return st;
    const char *tf32 = getenv("KILN_CUDA_TF32");
    c->tf32 = tf32 && strcmp(tf32, "1") == 0;
    pair_bias_grads(g, c);
    kn__cuda_plan_small_batch(g, c);
    if ((st = private_buffers(g, c))) return st;
    bool chain_loss = false;
    for (int k = 0; k < c->n_chains; k++) chain_loss |= c->chain[k].loss != NULL;
    if (chain_loss && ((st = cuda_malloc(g, (void **)&c->chain_done, sizeof *c->chain_done, "the chain loss's counter")) ||
                       (st = cuda_malloc(g, (void **)&c->chain_rows_loss, (size_t)c->chain_rows * sizeof(double),
                                         "the chain loss's rows")) ||
                       (st = cuda_malloc(g, (void **)&c->chain_correct, (size_t)c->chain_rows * sizeof(int32_t),
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
    if (part && ((st = cuda_malloc(g, (void **)&c->chain_part, part, "a split chain's parts")) ||
                 (st = cuda_malloc(g, (void **)&c->chain_count, (size_t)c->chain_rows * sizeof *c->chain_count,
                                   "a split chain's counters"))))
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
    if ((st = cuda_malloc(g, (void **)&c->param, pb, "parameters")) ||
        /* (a resident data-parallel step's verdict rides in the float after the gradients) */
        (g->grad_buf && (st = cuda_malloc(g, (void **)&c->grad, pb + 64, "gradients"))) ||
        (g->state_buf && (st = cuda_malloc(g, (void **)&c->state, g->state_floats * sizeof(float), "optimizer state"))) ||
        (st = cuda_malloc(g, (void **)&c->arena, g->arena_bytes, "arena")) ||
        (st = cuda_malloc(g, &c->ws, ws, "workspace")) || (st = cuda_malloc(g, &c->lt_ws, c->lt_ws_bytes, "cuBLASLt workspace")) ||
        (st = cuda_malloc(g, (void **)&c->d_step, sizeof *c->d_step, "step values")) ||
        (cols && (st = cuda_malloc(g, (void **)&c->conv_cols, cols, "convolution columns"))))
        return st;
    if (g->precision == KN_PRECISION_BF16 || g->precision == KN_PRECISION_FP16) {
        /* the products' half operand copy of the parameters (matmul.c), filled by push */
        c->half_type = g->precision == KN_PRECISION_BF16 ? KN_BF16 : KN_F16;
        if ((st = cuda_malloc(g, &c->param_half, g->param_floats * sizeof(uint16_t), "half parameter copy"))) return st;
    }
    CU(cudaHostAlloc((void **)&c->h_step, (KN_CUDA_STEP_RING + 1) * sizeof *c->h_step, cudaHostAllocMapped),
       "cudaHostAlloc (step values)");
    if ((st = plan_io(g, c))) return st;
    CU(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    if (c->chain_done) CU(cudaMemsetAsync(c->chain_done, 0, sizeof *c->chain_done, c->stream), "cudaMemsetAsync (counter)");
    if (c->chain_count)
        CU(cudaMemsetAsync(c->chain_count, 0, (size_t)c->chain_rows * sizeof *c->chain_count, c->stream),
           "cudaMemsetAsync (counters)");
    if ((st = kn__cublaslt_load(g->ctx))) return st;
    cublasStatus_t bs = kn__lt.Create(&c->lt);
    if (bs != CUBLAS_STATUS_SUCCESS)
        return kn__error(g->ctx, KN_ERR_DEVICE, "cuda: cublasLtCreate failed: %s", kn__lt.GetStatusString(bs));
    c->lt_ok = true;
    const kn_optimizer *o = &g->opt;
    c->opt = (kn__cuda_opt){o->kind, o->beta_1, o->beta_2, o->epsilon, o->momentum, o->rho,
                            o->weight_decay, o->clip_norm, o->clip_value, o->nesterov};
    const char *env = getenv("KILN_CUDA_GRAPHS");
    c->use_graphs = !(env && strcmp(env, "0") == 0);
    env = getenv("KILN_CUDA_GRAPH_STEPS"); /* (ring slots: at most half the ring held back) */
    c->graph_steps = env && atoi(env) > 1 ? (atoi(env) < KN_CUDA_STEP_RING / 2 ? atoi(env) : KN_CUDA_STEP_RING / 2) : 1;
    c->fold_chain = -1; /* (kn__cuda_plan_fold decides at resident_open) */
    c->chain_capacity = -1;
    c->steps_capacity = -1;
    c->wgrad_capacity[0] = c->wgrad_capacity[1] = -1;
    env = getenv("KILN_CUDA_POLL"); /* 1: a one-kernel predict waited for by polling (the A/B of bench/gpu/run.sh) */
    c->poll = env && strcmp(env, "1") == 0;
    env = getenv("KILN_CUDA_PERSIST"); /* 1: that kernel launched once, then rung (the A/B of bench/gpu/run.sh) */
    c->persist = env && strcmp(env, "1") == 0;
    c->poll = c->poll || c->persist;
    if (c->poll) { /* the poll word, and 64 bytes on, the doorbell */
        if ((st = cuda_malloc(g, (void **)&c->d_poll, 2 * sizeof *c->d_poll, "poll counts"))) return st;
        CU(cudaMemsetAsync(c->d_poll, 0, 2 * sizeof *c->d_poll, c->stream), "cudaMemsetAsync (poll counts)");
        CU(cudaHostAlloc((void **)&c->h_poll, 128, cudaHostAllocMapped), "cudaHostAlloc (poll word)");
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
    CU(cudaMemcpyAsync(c->arena, g->arena, g->arena_bytes, cudaMemcpyHostToDevice, c->stream), "cudaMemcpyAsync (arena)");
    if (g->grad_buf) CU(cudaMemcpyAsync(c->grad, g->grad_buf, pb, cudaMemcpyHostToDevice, c->stream), "cudaMemcpyAsync (gradients)");
    return g->backend.iface->push(g, KN_SYNC_PARAMS | KN_SYNC_STATE);
}

static kn_status stop_persistent(kn_graph *g);

static void cuda_release(kn_graph *g) {
    kn__cuda_graph *c = g->backend.context;
    if (!c) return;
    stop_persistent(g);
    c->pending = 0; /* (nothing held back is wanted any more) */
    if (c->stream) cudaStreamSynchronize(c->stream);
    resident_free(c); /* (its captured runs too) */
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
    if (c->h_step) cudaFreeHost(c->h_step);
    if (c->h_io) cudaFreeHost(c->h_io);
    kn__free(g->ctx, c->io_t);
    kn__free(g->ctx, c->io_off);
    kn__free(g->ctx, c->io_direct);
    kn__free(g->ctx, c->io_phases);
    kn__free(g->ctx, c);
    g->backend.context = NULL;
}

static kn_status flush_pending(kn_graph *g); /* (KILN_CUDA_GRAPH_STEPS's held-back runs, first) */

/* ---------------------------------------------------------------- memory */

static kn_status cuda_alloc(kn_graph *g, size_t bytes, void **out) { return cuda_malloc(g, out, bytes, "buffer"); }
static void cuda_free(kn_graph *g, void *ptr) { (void)g; cudaFree(ptr); }

static kn_status cuda_copy_in(kn_graph *g, void *dst, const void *src, size_t bytes) {
    kn__cuda_graph *c = g->backend.context;
    kn_status st = flush_pending(g); /* (after the runs before it) */
    if (st) return st;
    CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream), "cudaMemcpyAsync (in)");
    return KN_OK;
}

static kn_status cuda_copy_out(kn_graph *g, void *dst, const void *src, size_t bytes) {
    kn__cuda_graph *c = g->backend.context;
    kn_status st = flush_pending(g);
    if (st) return st;
    CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream), "cudaMemcpyAsync (out)");
    return KN_OK;
}

static kn_status cuda_synchronize(kn_graph *g) {
    kn__cuda_graph *c = g->backend.context;
    kn_status st = flush_pending(g);
    if (st) return st;
    /* resident data parallel: the steps' all-reduces may wait on a peer: watched, with a deadline */
    if (c->res_nccl && (st = kn__nccl_wait(g, c->res_nccl, "a resident step's all-reduce"))) return st;
    CU(cudaStreamSynchronize(c->stream), "cudaStreamSynchronize");
    c->inflight = 0; /* every queued copy from the step ring has run */
    return KN_OK;
}

/* The flat buffers of parts (KN_SYNC_*): device -> host. Shared parameters are never
 * written, so never copied back. */
static kn_status cuda_pull(kn_graph *g, unsigned parts) {
    kn__cuda_graph *c = g->backend.context;
    size_t pb = g->param_floats * sizeof(float);
    kn_status st = cuda_synchronize(g);
    if (st) return st;
    if ((parts & KN_SYNC_PARAMS) && !g->shared_params)
        CU(cudaMemcpy(g->param_buf, c->param, pb, cudaMemcpyDeviceToHost), "cudaMemcpy (parameters out)");
    if ((parts & KN_SYNC_GRADS) && g->grad_buf)
        CU(cudaMemcpy(g->grad_buf, c->grad, pb, cudaMemcpyDeviceToHost), "cudaMemcpy (gradients out)");
    if ((parts & KN_SYNC_STATE) && g->state_buf)
        CU(cudaMemcpy(g->state_buf, c->state, g->state_floats * sizeof(float), cudaMemcpyDeviceToHost),
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
    kn_status st = cuda_synchronize(g);
    if (st) return st;
    if (parts & KN_SYNC_PARAMS) {
        CU(cudaMemcpyAsync(c->param, g->param_buf, pb, cudaMemcpyHostToDevice, c->stream), "cudaMemcpyAsync (parameters in)");
        if (c->param_half && g->param_floats) /* ordered before the next run on the stream */
            CU(kn__cu_scale_x(c->stream, c->param, KN_F32, c->param_half, c->half_type, 1.0f, (int64_t)g->param_floats),
               "kn__cu_scale_x (half parameter copy)");
    }
    if ((parts & KN_SYNC_GRADS) && g->grad_buf)
        CU(cudaMemcpyAsync(c->grad, g->grad_buf, pb, cudaMemcpyHostToDevice, c->stream), "cudaMemcpyAsync (gradients in)");
    if ((parts & KN_SYNC_STATE) && g->state_buf)
        CU(cudaMemcpyAsync(c->state, g->state_buf, g->state_floats * sizeof(float), cudaMemcpyHostToDevice, c->stream),
           "cudaMemcpyAsync (optimizer state in)");
    return KN_OK;
}

/* ---------------------------------------------------------------- run */

/* The nodes of mask, in order, enqueued on the stream. */
static kn_status enqueue_nodes(kn_graph *g, unsigned mask) {
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        if (!(t->phase & mask) || (t->flags & KN_FLAG_FOLDED) || !kn__op_info(t->op)->cpu) continue;
        kn_status st = kn__cuda_kernel(t->op)(g, t);
        if (st) return st;
    }
    return KN_OK;
}

#define LAUNCHED(call, what)                                                                                 \
    do {                                                                                                     \
        cudaError_t e_ = (call);                                                                             \
        if (e_ != cudaSuccess) return kn__cuda_fail(g, NULL, what, e_);                                      \
    } while (0)

/* A run's work, which a capture records whole. A run: the step values and inputs from
 * their pinned staging, the nodes, the kept outputs of mask to their staging. A resident
 * step (backend.h): the batch gathered from the tables, forward and loss, the figures,
 * backward, the guard, the update (whose kernel returns at once when the guard set
 * step->skip); its step values were queued before it, from the ring. The host version:
 * resident_host.c. */
/* Whether a node of mask reads the step values (the kernels ops.c hands d_step to): a
 * predict of a plain MLP does not, and its graph is then one copy node shorter. */
static bool reads_step(const kn_graph *g, unsigned mask) {
    for (int i = 0; i < g->n_nodes; i++) {
        const kn_tensor *t = g->nodes[i];
        if (!(t->phase & mask) || (t->flags & KN_FLAG_FOLDED)) continue;
        switch (t->op) {
        case KN_OP_OPTIMIZER:
        case KN_OP_OPT_UPDATE:
        case KN_OP_GRAD_NORM:
        case KN_OP_DROPOUT:
        case KN_OP_BATCH_NORM:
            return true;
        default: break;
        }
    }
    return false;
}

static kn_status enqueue(kn_graph *g, unsigned mask) {
    kn__cuda_graph *c = g->backend.context;
    c->run_mask = mask;
    for (int k = 0; k < c->n_chains; k++) c->chain[k].merged = false; /* (set by a forward chain's launch) */
    if (!(mask & KN_RUN_RESIDENT)) {
        if (reads_step(g, mask))
            LAUNCHED(cudaMemcpyAsync(c->d_step, &c->h_step[KN_CUDA_STEP_RING], sizeof *c->h_step, cudaMemcpyHostToDevice,
                                     c->stream),
                     "cudaMemcpyAsync (step)");
        kn_status st = stage_copies(g, c, true, mask); /* (io_direct: cuda_run's, for this run) */
        if (st || (st = enqueue_nodes(g, mask))) return st;
        return stage_copies(g, c, false, mask);
    }
    kn__cuda_gather_set set;
    memset(&set, 0, sizeof set);
    for (int k = 0; k < c->n_tables; k++) {
        set.table[k] = c->table[k];
        set.dst[k] = kn__cuda_ptr(g, c->table_input[k]->data);
        set.row_bytes[k] = (int64_t)c->table_row_bytes[k];
    }
    set.dst0_dtype = c->narrow_x ? (int)c->table_input[0]->dtype : KN_F32; /* (f32 rows narrowed by the gather) */
    set.dst0_row_bytes = c->narrow_x ? set.row_bytes[0] / 2 : set.row_bytes[0];
    set.draws = c->d_draws; /* (training runs only: the kernel reads the step's) */
    set.aug_h = c->aug_h, set.aug_w = c->aug_w, set.aug_c = c->aug_c;
    set.aug_sigma = c->aug_sigma;
    /* folded (small_batch.c's kn__cuda_plan_fold): the chain and the weight gradients read the
     * tables through the order, and the chain starts the step, when this run fuses them */
    int64_t rows = g->batch;
    c->folding = c->fold_chain >= 0 && !c->res_seed && rows > 0 && rows <= c->chain_rows &&
                 rows <= KN_CU_WGRAD_FOLD_ROWS && (!(mask & KN_PHASE_BACKWARD) || rows <= c->wgrad_rows);
    if (!c->folding)
        LAUNCHED(kn__cu_resident_start(c->stream, c->d_step, c->d_res, c->res_seed ? kn__cuda_ptr(g, c->res_seed->data) : NULL,
                                       &set, c->n_tables, c->d_order, g->batch, kn__cuda_ring(c)),
                 "kn__cu_resident_start");
    c->mean_deferred = c->count_deferred = false; /* (a chain ending in the run's loss leaves its mean, and
                                                   * maybe its correct rows, to the count: small_batch.c) */
    kn_status st = enqueue_nodes(g, mask & (KN_PHASE_FORWARD | KN_PHASE_LOSS));
    if (st) return st;
    kn__cuda_count q = {kn__cuda_tensor(g, c->res_loss),
                        c->res_out ? kn__cuda_tensor(g, c->res_out) : NULL,
                        c->res_out ? (int)c->res_out->dtype : KN_F32,
                        c->res_outs,
                        c->res_threshold,
                        c->res_out ? c->d_labels : NULL,
                        c->d_order,
                        g->batch,
                        c->mean_deferred ? c->chain_rows_loss : NULL,
                        c->count_deferred ? c->chain_correct : NULL};
    if (!(mask & KN_PHASE_BACKWARD)) { /* an evaluation: the figures only */
        c->folding = false;
        LAUNCHED(kn__cu_resident_count(c->stream, c->d_step, c->d_res, &q, false), "kn__cu_resident_count");
        return KN_OK;
    }
    /* a training step: the figures are counted in the guard's launch, after the backward
     * pass (the loss and the outputs are kept tensors: nothing overwrites them); when the
     * small-batch weight gradients are every gradient, in theirs (small_batch.c) */
    bool accumulating = mask & KN_RUN_ACCUMULATE; /* (the late guard decides in the update, which a batch mid-group lacks) */
    kn__cu_wgrad_guard guard = {c->d_step, c->d_res, q, c->guard_late && !c->res_seed && !accumulating && !c->res_nccl};
    c->wgrad_guard = &guard;
    c->wgrad_guarded = false;
    c->update_taken = false;
    st = enqueue_nodes(g, mask & KN_PHASE_BACKWARD);
    c->wgrad_guard = NULL;
    if (st) return st;
    if (!c->wgrad_guarded)
        LAUNCHED(kn__cu_resident_guard(c->stream, c->d_step, c->d_res, c->grad, (int64_t)g->param_floats, &q),
                 "kn__cu_resident_guard");
    if (c->res_nccl) { /* data parallel: this rank's share, the sum (verdict included), the decision */
        int64_t n = (int64_t)g->param_floats + 1;
        LAUNCHED(kn__cu_grad_share(c->stream, c->d_step, c->grad, n), "kn__cu_grad_share");
        if ((st = kn__nccl_enqueue_allreduce(g, c->res_nccl, c->grad, (size_t)n))) return st;
        LAUNCHED(kn__cu_sum_guard(c->stream, c->d_step, c->d_res, c->grad, n, kn__cuda_tensor(g, c->res_loss)),
                 "kn__cu_sum_guard");
    }
    if (accumulating) {
        if (!c->grad_acc) return kn__error(g->ctx, KN_ERR_STATE, "cuda: an accumulating run without an accumulator");
        LAUNCHED(kn__cu_grad_accumulate(c->stream, c->d_step, c->grad, c->grad_acc, (int64_t)g->param_floats,
                                        (float)g->batch, mask & KN_PHASE_UPDATE),
                 "kn__cu_grad_accumulate");
    }
    c->update_guard = c->wgrad_guarded && guard.late ? &guard : NULL; /* (the weight gradients only flagged) */
    st = enqueue_nodes(g, mask & KN_PHASE_UPDATE);
    c->update_guard = NULL;
    c->folding = false;
    return st;
}

/* A polled run's wait (KILN_CUDA_POLL=1; cuda_internal.h): spinning until the chain kernel
 * wrote the run's number to the mapped word, or after KN_CUDA_POLL_US without it, the
 * stream synchronized (a failed kernel's error), after which the word must be there. The
 * stream is left unsynchronized, as a resident run leaves it (inflight counts it).
 * persistent (KILN_CUDA_PERSIST): the kernel does not end, so no synchronize: after
 * KN_CUDA_POLL_US the stream is asked now and then instead. Done: the kernel ended (the
 * emulator's, once it served what was rung: it runs kernels only when asked), which must
 * have answered; an error: the kernel failed; past KN_CUDA_PERSIST_WAIT_S, an error. */
#define KN_CUDA_POLL_US 2000
#define KN_CUDA_PERSIST_WAIT_S 10.0
static kn_status poll_wait(kn_graph *g, kn__cuda_graph *c, bool persistent) {
    uint32_t want = ++c->poll_seq;
    const uint32_t *word = c->h_poll; /* (read with acquire loads: the kernel's outputs are there once it is) */
    c->polls++;
    double t0 = kn__now();
    for (unsigned spin = 1; __atomic_load_n(word, __ATOMIC_ACQUIRE) != want; spin++) {
        if (spin % 64 || kn__now() - t0 < KN_CUDA_POLL_US * 1e-6) continue;
        cudaError_t e = persistent ? cudaStreamQuery(c->stream) : cudaSuccess;
        if (e == cudaErrorNotReady && kn__now() - t0 <= KN_CUDA_PERSIST_WAIT_S) continue;
        if (e == cudaErrorNotReady)
            return kn__error(g->ctx, KN_ERR_DEVICE, "cuda: the persistent predict did not answer in %g s", KN_CUDA_PERSIST_WAIT_S);
        c->persist_on = false; /* (ended, or failed) */
        if (e != cudaSuccess) return kn__cuda_fail(g, NULL, "the persistent predict", e);
        c->poll_fallbacks++;
        kn_status st = persistent ? KN_OK : cuda_synchronize(g);
        if (st) return st;
        uint32_t got = __atomic_load_n(word, __ATOMIC_ACQUIRE);
        if (got != want)
            return kn__error(g->ctx, KN_ERR_DEVICE, "cuda: a polled run ended without its count (%u, not %u)", (unsigned)got,
                             (unsigned)want);
        break;
    }
    return KN_OK;
}

/* The captured run for (batch, mask) of `steps` runs back to back, or -1. */
static int find_exec(const kn__cuda_graph *c, int64_t batch, unsigned mask, int steps) {
    for (int i = 0; i < KN_CUDA_EXECS; i++)
        if (c->execs[i].exec && c->execs[i].batch == batch && c->execs[i].mask == mask && c->execs[i].steps == steps)
            return i;
    return -1;
}

/* Captures the run's work (`steps` times back to back: resident runs, each reading its own
 * ring slot) as one CUDA graph and instantiates it in the least recently used slot (never
 * the held-back runs' own); returns the slot in *slot. */
static kn_status capture(kn_graph *g, kn__cuda_graph *c, unsigned mask, int steps, int *slot) {
    int k = -1;
    for (int i = 0; i < KN_CUDA_EXECS; i++) {
        if (c->pending && i == c->pending_slot) continue;
        if (k < 0 || !c->execs[i].exec || (c->execs[k].exec && c->execs[i].used < c->execs[k].used)) k = i;
        if (!c->execs[k].exec) break;
    }
    if (c->execs[k].exec) {
        cudaGraphExecDestroy(c->execs[k].exec);
        c->execs[k].exec = NULL;
    }
    cudaGraph_t graph;
    /* KILN_CUDA_STEPS_KERNEL: K steps as one kernel, when this (batch, mask)'s one-step run was
     * found to be the chain and the updating weight gradients alone (below) */
    bool one_kernel = steps > 1 && c->steps_ok && c->steps_batch == g->batch && c->steps_mask == mask;
    c->rec_chain = c->rec_wgrad = false;
    c->recording = c->steps_kernel && steps == 1; /* (small_batch.c records the two launches) */
    /* K resident steps (KILN_CUDA_GRAPH_STEPS): the ring's slots, which the host filled for all
     * K before the launch, taken to the device first (kn__cu_ring_take: one kernel reading
     * the K slots, not a read of mapped memory at every step's start); the steps read them
     * there (kn__cuda_ring) */
    bool copy_ring = steps > 1 && c->d_ring && (mask & KN_RUN_RESIDENT);
    size_t ring_bytes = KN_CUDA_STEP_RING * sizeof *c->h_step;
    kn_status st = KN_OK;
    if (copy_ring && !c->d_ring_copy && (st = cuda_malloc(g, (void **)&c->d_ring_copy, ring_bytes, "step ring copy")))
        return st; /* (before the capture: no allocation inside one) */
    CU(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
    if (copy_ring) {
        cudaError_t le = kn__cu_ring_take(c->stream, c->d_ring_copy, c->d_ring, c->d_res, steps);
        if (le != cudaSuccess) st = kn__cuda_fail(g, NULL, "kn__cu_ring_take", le);
        c->ring_copied = true;
    }
    if (one_kernel && !st) {
        kn__cu_steps p = c->steps_rec;
        p.ch.ring = kn__cuda_ring(c);
        cudaError_t le = kn__cu_resident_steps(c->stream, &p, steps, c->steps_capacity);
        if (le != cudaSuccess) st = kn__cuda_fail(g, NULL, "kn__cu_resident_steps", le);
    }
    for (int i = 0; i < steps && !st && !one_kernel; i++) st = enqueue(g, mask);
    c->recording = c->ring_copied = false;
    cudaError_t e = cudaStreamEndCapture(c->stream, &graph);
    if (st) {
        if (e == cudaSuccess) cudaGraphDestroy(graph);
        return st;
    }
    if (e != cudaSuccess) return kn__cuda_fail(g, NULL, "cudaStreamEndCapture", e);
    if (one_kernel) c->steps_launches++;
    if (c->steps_kernel && steps == 1 && (mask & KN_RUN_RESIDENT) && (mask & KN_PHASE_BACKWARD)) {
        size_t nodes = 0; /* the run is the two recorded launches and nothing else */
        if (c->steps_capacity < 0) c->steps_capacity = kn__cu_resident_steps_capacity();
        c->steps_ok = c->rec_chain && c->rec_wgrad && c->steps_capacity > 0 && c->d_ring && c->steps_rec.ch.ring == c->d_ring &&
                      cudaGraphGetNodes(graph, NULL, &nodes) == cudaSuccess && nodes == 2;
        cudaGetLastError();
        c->steps_batch = g->batch, c->steps_mask = mask;
    }
    e = cudaGraphInstantiate(&c->execs[k].exec, graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess) return kn__cuda_fail(g, NULL, "cudaGraphInstantiate", e);
    c->execs[k].batch = g->batch;
    c->execs[k].mask = mask;
    c->execs[k].steps = steps;
    c->execs[k].used = c->runs;
    c->captures++;
    *slot = k;
    return KN_OK;
}

static kn_status launch_exec(kn__cuda_graph *c, kn_graph *g, int slot) {
    CU(cudaGraphLaunch(c->execs[slot].exec, c->stream), "cudaGraphLaunch");
    c->execs[slot].used = c->runs;
    c->replays++;
    return KN_OK;
}

/* The persistent predict's doorbell (mapped) set to v: a sequentially consistent store, so
 * that what the host wrote before (the staged inputs) is there before the kernel, which
 * reads the doorbell with an acquire load (device.cuh's kn__door_wait), sees it. */
static void ring_door(kn__cuda_graph *c, uint32_t v) { __atomic_store_n(c->h_door, v, __ATOMIC_SEQ_CST); }

/* KILN_CUDA_PERSIST: the persistent predict kernel ended (the doorbell's stop, then the
 * stream synchronized), before anything else uses the stream. */
static kn_status stop_persistent(kn_graph *g) {
    kn__cuda_graph *c = g->backend.context;
    if (!c->persist_on) return KN_OK;
    c->persist_on = false;
    ring_door(c, KN_CU_DOOR_STOP);
    CU(cudaStreamSynchronize(c->stream), "cudaStreamSynchronize (the persistent predict's end)");
    return KN_OK;
}

/* The held-back resident runs launched one by one (their step values wait in the ring),
 * after the persistent predict, if one runs, has ended. */
static kn_status flush_pending(kn_graph *g) {
    kn__cuda_graph *c = g->backend.context;
    kn_status st = stop_persistent(g);
    if (st) return st;
    for (; c->pending > 0 && !st; c->pending--) st = launch_exec(c, g, c->pending_slot);
    c->pending = 0;
    return st;
}

/* KILN_CUDA_GRAPH_STEPS: a resident run held back (its values are in the ring already), and
 * launched with the others as one graph once there are graph_steps of them. Its own
 * one-run graph is captured first (while g->batch is still its batch), for a flush. */
static kn_status hold_back(kn_graph *g, kn__cuda_graph *c, unsigned mask) {
    kn_status st;
    if (c->pending && (c->pending_batch != g->batch || c->pending_mask != mask) && (st = flush_pending(g))) return st;
    if (!c->pending) {
        int one = find_exec(c, g->batch, mask, 1);
        if (one < 0 && (st = capture(g, c, mask, 1, &one))) return st;
        c->pending_slot = one, c->pending_batch = g->batch, c->pending_mask = mask;
    }
    c->execs[c->pending_slot].used = c->runs;
    if (++c->pending < c->graph_steps) return KN_OK;
    int many = find_exec(c, g->batch, mask, c->graph_steps);
    if (many < 0 && (st = capture(g, c, mask, c->graph_steps, &many))) return st;
    c->pending = 0;
    c->replays += c->graph_steps - 1; /* (launch_exec counts one) */
    c->grouped++;
    return launch_exec(c, g, many);
}

/* The run's kept outputs, from the staging to their tensors. */
static void copy_outputs(kn__cuda_graph *c, unsigned mask) {
    for (int k = c->n_io_in; k < c->n_io; k++) {
        kn_tensor *t = c->io_t[k];
        if ((t->phase & mask) && kn__nbytes(t)) memcpy(t->data, c->h_io + c->io_off[k], kn__nbytes(t));
    }
}

/* KILN_CUDA_PERSIST: a polled one-kernel run (a predict) through the persistent kernel:
 * launched at the first such run (again after anything stopped it, or for another batch),
 * then each run rings its doorbell (the inputs are in the staging already) and polls. */
static kn_status persistent_run(kn_graph *g, kn__cuda_graph *c, unsigned mask) {
    kn_status st;
    if (c->persist_on && (c->persist_batch != g->batch || c->persist_mask != mask) && (st = stop_persistent(g))) return st;
    if (!c->persist_on) {
        if ((st = flush_pending(g))) return st;
        ring_door(c, 0); /* (the kernel waits for anything else) */
        c->persist_launch = true, c->persist_refused = false;
        st = enqueue(g, mask);
        c->persist_launch = false;
        if (st) return st;
        if (c->persist_refused) { /* too many blocks to keep: this run was launched as a plain polled one */
            c->persist_refusals++;
            c->runs++, c->inflight++;
            if ((st = poll_wait(g, c, false))) return st;
            copy_outputs(c, mask);
            return KN_OK;
        }
        c->persist_on = true, c->persist_batch = g->batch, c->persist_mask = mask;
        c->persist_launches++;
    }
    uint32_t ring = ++c->door_seq;
    if (ring == 0 || ring == KN_CU_DOOR_STOP) ring = c->door_seq = 1;
    ring_door(c, ring);
    c->runs++;
    if ((st = poll_wait(g, c, true))) return st;
    c->persist_served++;
    c->last_batch = g->batch;
    c->last_mask = mask;
    copy_outputs(c, mask);
    return KN_OK;
}

static kn_status cuda_run(kn_graph *g, unsigned mask) {
    kn__cuda_graph *c = g->backend.context;
    bool resident = mask & KN_RUN_RESIDENT;
    kn_status st = kn__cuda_select_device(g->ctx); /* a thread's first run (a flag after that) */
    if (st) return st;
    if (resident && !c->resident_on)
        return kn__error(g->ctx, KN_ERR_STATE, "cuda: a resident run without resident data (resident_open)");
    /* every slot of the step ring may still be queued: wait for the stream (resident runs
     * otherwise never wait, so this is once per KN_CUDA_STEP_RING steps) */
    if (c->inflight >= KN_CUDA_STEP_RING && (st = cuda_synchronize(g))) return st;
    for (int i = 0; i < g->n_nodes; i++) { /* folded values the host just recomputed */
        kn_tensor *t = g->nodes[i];
        if (g->refolded && (t->flags & KN_FLAG_FOLDED) && kn__nbytes(t) &&
            (st = cuda_copy_in(g, kn__cuda_ptr(g, t->data), t->data, kn__nbytes(t))))
            return st;
    }
    g->refolded = false;
    kn__cuda_step values = {.step = g->step, .rng_step = g->rng_step, .rng_micro = g->rng_micro, .training = g->training,
                            .lr = g->opt.learning_rate, .grad_unscale = g->grad_unscale, .first = g->resident_first,
                            .skipped_known = g->resident_skipped, .c1 = 1.0f, .c2 = 1.0f, .acc_scale = g->grad_acc_scale,
                            .grad_share = g->grad_share};
    if (!(resident && c->res_seed)) { /* Adam's corrections (kernels.cu's opt_update: the same formula);
                                       * a resident fp16 run's step may be taken back on the device */
        values.c1 = (float)(1.0 - pow((double)g->opt.beta_1, (double)g->step));
        values.c2 = (float)(1.0 - pow((double)g->opt.beta_2, (double)g->step));
        values.corrections_set = 1;
    }
    if (resident) { /* the step values in the ring: the start kernel reads its slot (mapped), or
                     * a copy queued before the run brings them */
        kn__cuda_step *h = &c->h_step[c->ring_pos];
        c->ring_pos = (c->ring_pos + 1) % KN_CUDA_STEP_RING;
        *h = values;
        if (!c->d_ring) CU(cudaMemcpyAsync(c->d_step, h, sizeof *h, cudaMemcpyHostToDevice, c->stream), "cudaMemcpyAsync (step)");
    } else { /* the run copies them in itself, with its inputs, from pinned staging */
        c->h_step[KN_CUDA_STEP_RING] = values;
        for (int k = 0; k < c->n_io_in; k++)
            if (kn__nbytes(c->io_t[k])) memcpy(c->h_io + c->io_off[k], c->io_t[k]->data, kn__nbytes(c->io_t[k]));
        /* which chains read and write the staging in place this run (the same for a launch and
         * for the replay of its capture), and whether the run is then that one kernel alone */
        memset(c->io_direct, 0, (size_t)c->n_io * sizeof *c->io_direct);
        if (c->d_io) kn__cuda_chains_direct(g, c->io_direct, mask);
        c->poll_run = c->poll && c->d_poll && !reads_step(g, mask) && kn__cuda_one_chain_run(g, mask);
    }
    if (!resident && c->persist && c->poll_run) return persistent_run(g, c, mask);
    if ((st = stop_persistent(g))) return st; /* (any other run: the stream is its own again) */
    c->inflight++;
    c->runs++;
    /* a data-parallel resident step is launched, never captured: whether an NCCL call is
     * captured must be the same on every rank (NCCL's rule), and the ranks' batches may
     * change size at different steps (the last batch's shares) */
    bool graphs = c->use_graphs && !(resident && c->res_nccl && (mask & KN_PHASE_BACKWARD));
    if (resident && c->graph_steps > 1 && graphs && c->d_ring &&
        (find_exec(c, g->batch, mask, 1) >= 0 || (c->last_batch == g->batch && c->last_mask == mask))) {
        /* held back, then K to a launch (from the second run alike: the first of a kind is
         * launched as it comes, as every run is, before anything of it is captured) */
        c->last_batch = g->batch;
        c->last_mask = mask;
        return hold_back(g, c, mask);
    }
    if ((st = flush_pending(g))) return st; /* (held-back runs go first) */
    int slot = graphs ? find_exec(c, g->batch, mask, 1) : -1;
    if (slot < 0 && graphs && c->last_batch == g->batch && c->last_mask == mask) {
        /* the second run alike: capture it, then replay from now on */
        if ((st = capture(g, c, mask, 1, &slot))) return st;
    }
    if (slot >= 0) {
        if ((st = launch_exec(c, g, slot))) return st;
    } else if ((st = enqueue(g, mask))) {
        return st;
    }
    c->last_batch = g->batch;
    c->last_mask = mask;
    if (resident) return KN_OK; /* nothing to copy out, nothing to wait for: the figures stay on the device */
    if ((st = c->poll_run ? poll_wait(g, c, false) : cuda_synchronize(g))) return st;
    copy_outputs(c, mask); /* what the caller reads, from the staging */
    return KN_OK;
}

/* ---------------------------------------------------------------- resident training data */

/* A copy to the device queued on the stream, its failure a status (for a goto). */
static kn_status queue_in(kn_graph *g, void *dst, const void *src, size_t bytes, const char *what) {
    kn__cuda_graph *c = g->backend.context;
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream);
    return e == cudaSuccess ? KN_OK : kn__cuda_fail(g, NULL, what, e);
}

/* bytes of zeros at dst, queued on the stream, its failure a status (for a goto). */
static kn_status cuda_memset_zero(kn_graph *g, void *dst, size_t bytes, const char *what) {
    kn__cuda_graph *c = g->backend.context;
    cudaError_t e = cudaMemsetAsync(dst, 0, bytes, c->stream);
    return e == cudaSuccess ? KN_OK : kn__cuda_fail(g, NULL, what, e);
}

/* A table's n_rows rows to one device buffer, from its one or two pieces (backend.h). */
static kn_status queue_pieces(kn_graph *g, void *dst, const void *rows, const void *rest, const kn_resident_desc *d,
                              size_t row_bytes, const char *what) {
    int64_t first = rest ? d->n_first : d->n_rows;
    kn_status st = queue_in(g, dst, rows, (size_t)first * row_bytes, what);
    if (!st && rest && d->n_rows > first)
        st = queue_in(g, (uint8_t *)dst + (size_t)first * row_bytes, rest, (size_t)(d->n_rows - first) * row_bytes, what);
    return st;
}

static kn_status cuda_resident_open(kn_graph *g, const kn_resident_desc *d, bool *placed) {
    kn__cuda_graph *c = g->backend.context;
    *placed = false;
    kn_status st = cuda_synchronize(g);
    if (st) return st;
    resident_free(c);
    if (!kn__resident_placeable(g, d)) return KN_OK; /* (each gathered input checked there) */
    if (d->nccl && (d->loss_seed || d->accumulate || !c->grad)) return KN_OK; /* (fit asks for neither with it) */
    /* the step's figures are counted after the backward pass (in the guard's launch): the
     * loss and the outputs must be kept tensors, which nothing overwrites (a model's are) */
    if (!(d->loss->flags & KN_FLAG_KEEP) || (d->out && d->labels && !(d->out->flags & KN_FLAG_KEEP))) return KN_OK;
    /* augmentation: table 0 is the f32 images (h, w, c) the draws apply to */
    if (d->augment && (d->n_tables < 1 || d->aug_h < 1 || d->aug_w < 1 || d->aug_c < 1 ||
                       (d->tables[0].input->dtype != KN_F32 && !d->narrow_x) ||
                       d->tables[0].row_bytes != (size_t)d->aug_h * (size_t)d->aug_w * (size_t)d->aug_c * sizeof(float)))
        return KN_OK;
    size_t need = (size_t)d->n_rows * sizeof(int32_t) * (d->labels ? 2 : 1) + sizeof(kn__cuda_resident), free_b = 0, total = 0;
    if (d->augment) need += (size_t)d->n_rows * sizeof(kn__cu_augment_draw);
    for (int k = 0; k < d->n_tables; k++) need += (size_t)d->n_rows * d->tables[k].row_bytes;
    CU(cudaMemGetInfo(&free_b, &total), "cudaMemGetInfo");
    /* the data fits with room to spare (a tenth of the device, for cuBLASLt and the rest):
     * else the host loop, as before */
    if (need + total / 10 > free_b) return KN_OK;
    c->n_rows = d->n_rows;
    for (int k = 0; k < d->n_tables; k++) {
        size_t bytes = (size_t)d->n_rows * d->tables[k].row_bytes;
        c->table_input[k] = d->tables[k].input;
        c->table_row_bytes[k] = d->tables[k].row_bytes;
        c->n_tables = k + 1;
        if ((st = cuda_malloc(g, &c->table[k], bytes, "resident training data")) ||
            (st = queue_pieces(g, c->table[k], d->tables[k].rows, d->tables[k].rest, d, d->tables[k].row_bytes,
                               "cudaMemcpyAsync (resident training data)")))
            goto fail;
    }
    kn__cuda_resident zero = {0};
    zero.failed_step = -1;
    zero.scaling = d->loss_seed != NULL;
    zero.scale = d->loss_seed ? d->scale : 1.0f;
    zero.good = d->good;
    zero.interval = d->interval;
    zero.dist = d->nccl != NULL;
    zero.verdict = c->grad ? c->grad + g->param_floats : NULL;
    if ((st = cuda_malloc(g, (void **)&c->d_order, (size_t)d->n_rows * sizeof(int32_t), "resident order")) ||
        (d->labels && (st = cuda_malloc(g, (void **)&c->d_labels, (size_t)d->n_rows * sizeof(int32_t), "resident labels"))) ||
        (st = cuda_malloc(g, (void **)&c->d_res, sizeof *c->d_res, "resident figures")) ||
        (d->accumulate && (st = cuda_malloc(g, (void **)&c->grad_acc, g->param_floats * sizeof(float) + 4, "gradient accumulator"))) ||
        (d->accumulate && (st = cuda_memset_zero(g, c->grad_acc, g->param_floats * sizeof(float) + 4,
                                                            "cudaMemsetAsync (resident accumulator)"))) ||
        (d->augment && (st = cuda_malloc(g, (void **)&c->d_draws, (size_t)d->n_rows * sizeof(kn__cu_augment_draw),
                                         "resident augmentation draws"))) ||
        (d->augment && (st = cuda_memset_zero(g, c->d_draws, (size_t)d->n_rows * sizeof(kn__cu_augment_draw),
                                                         "cudaMemsetAsync (resident augmentation draws)"))) ||
        (d->labels && (st = queue_pieces(g, c->d_labels, d->labels, d->labels_rest, d, sizeof(int32_t),
                                         "cudaMemcpyAsync (resident labels)"))) ||
        (st = queue_in(g, c->d_res, &zero, sizeof zero, "cudaMemcpyAsync (resident figures)")))
        goto fail;
    c->ring_pos = 0; /* (as the device's, zeroed above) */
    c->aug_h = d->aug_h, c->aug_w = d->aug_w, c->aug_c = d->aug_c;
    c->aug_sigma = d->aug_sigma;
    c->narrow_x = d->narrow_x;
    kn__cuda_plan_fold(g, c); /* (never with augmentation: the gather kernel augments) */
    c->res_loss = d->loss;
    c->res_seed = d->loss_seed;
    c->res_nccl = d->nccl;
    c->res_out = d->labels ? d->out : NULL;
    c->res_outs = d->outs;
    c->res_threshold = d->threshold;
    c->resident_on = true;
    *placed = true;
    return KN_OK;
fail:
    cudaStreamSynchronize(c->stream); /* no queued copy into what is freed */
    resident_free(c);
    return st;
}

static kn_status cuda_resident_order(kn_graph *g, const int32_t *order, int64_t n) {
    kn__cuda_graph *c = g->backend.context;
    kn_status st = cuda_synchronize(g); /* no queued step reads the old order any more */
    if (st) return st;
    if (n > c->n_rows)
        return kn__error(g->ctx, KN_ERR_INVALID_ARGUMENT, "cuda: an order of %lld rows for %lld", (long long)n,
                         (long long)c->n_rows);
    return queue_in(g, c->d_order, order, (size_t)n * sizeof *order, "cudaMemcpyAsync (resident order)");
}

/* data/augment.h's draw is the kernels' (launch.h's copy of it) */
_Static_assert(sizeof(kn__augment_draw) == sizeof(kn__cu_augment_draw) &&
                   offsetof(kn__augment_draw, noise_key) == offsetof(kn__cu_augment_draw, noise_key) &&
                   offsetof(kn__augment_draw, rotate) == offsetof(kn__cu_augment_draw, rotate) &&
                   offsetof(kn__augment_draw, noise) == offsetof(kn__cu_augment_draw, noise) &&
                   offsetof(kn__augment_draw, ew) == offsetof(kn__cu_augment_draw, ew),
               "kn__augment_draw and kn__cu_augment_draw differ");

static kn_status cuda_resident_augment(kn_graph *g, const kn__augment_draw *draws, int64_t n) {
    kn__cuda_graph *c = g->backend.context;
    kn_status st = cuda_synchronize(g); /* no queued step reads the old draws any more */
    if (st) return st;
    if (!c->d_draws || n > c->n_rows)
        return kn__error(g->ctx, KN_ERR_INVALID_ARGUMENT, "cuda: augmentation draws for %lld rows%s", (long long)n,
                         c->d_draws ? " (more than the tables')" : " without augmentation");
    return queue_in(g, c->d_draws, draws, (size_t)n * sizeof *draws, "cudaMemcpyAsync (resident augmentation draws)");
}

static kn_status cuda_resident_stats(kn_graph *g, kn_resident_stats *out, bool reset) {
    kn__cuda_graph *c = g->backend.context;
    kn_status st = cuda_synchronize(g);
    if (st) return st;
    kn__cuda_resident r;
    CU(cudaMemcpy(&r, c->d_res, sizeof r, cudaMemcpyDeviceToHost), "cudaMemcpy (resident figures out)");
    *out = (kn_resident_stats){r.loss_sum, r.rows,  r.correct,     r.failed_step, r.failed_first, r.failed_what,
                               r.failed_loss, r.scale, r.good, r.skipped};
    if (reset) /* the three sums lead the struct (launch.h) */
        CU(cudaMemsetAsync(c->d_res, 0, sizeof(double) + 2 * sizeof(int64_t), c->stream), "cudaMemsetAsync (resident figures)");
    return KN_OK;
}

static void cuda_resident_close(kn_graph *g) {
    kn__cuda_graph *c = g->backend.context;
    flush_pending(g); /* (the host counted them as run; a failed launch shows at the next synchronize) */
    if (c->res_nccl && kn__nccl_wait(g, c->res_nccl, "a resident step's all-reduce") != KN_OK) {
        /* a peer left mid-collective: waiting or freeing (cudaFree synchronizes) would hang
         * until the communicator is aborted; the buffers are left to the process's end */
        c->resident_on = false;
        c->res_nccl = NULL;
        return;
    }
    cudaStreamSynchronize(c->stream);
    c->inflight = 0;
    resident_free(c);
}

/* The gradients checked on the device: a word of the workspace (scratch between runs) set
 * by the scan, then 4 bytes copied out. */
static kn_status cuda_grads_finite(kn_graph *g, bool *finite) {
    kn__cuda_graph *c = g->backend.context;
    kn_status st = flush_pending(g);
    if (st) return st;
    int32_t *flag = c->ws, bad = 0;
    *finite = true;
    if (!c->grad || !g->param_floats) return KN_OK;
    CU(cudaMemsetAsync(flag, 0, sizeof *flag, c->stream), "cudaMemsetAsync (gradient check)");
    CU(kn__cu_find_nonfinite(c->stream, c->grad, (int64_t)g->param_floats, flag), "kn__cu_find_nonfinite");
    CU(cudaMemcpyAsync(&bad, flag, sizeof bad, cudaMemcpyDeviceToHost, c->stream), "cudaMemcpyAsync (gradient check)");
    if ((st = cuda_synchronize(g))) return st;
    *finite = !bad;
    return KN_OK;
}

const kn_backend_iface kn__cuda_backend = {
    .name = "cuda", .compile = cuda_compile, .release = cuda_release, .alloc = cuda_alloc, .free = cuda_free,
    .copy_in = cuda_copy_in, .copy_out = cuda_copy_out, .run = cuda_run, .synchronize = cuda_synchronize,
    .pull = cuda_pull, .push = cuda_push, .resident_open = cuda_resident_open, .resident_order = cuda_resident_order,
    .resident_stats = cuda_resident_stats, .resident_close = cuda_resident_close, .grads_finite = cuda_grads_finite,
    .resident_augment = cuda_resident_augment,
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
