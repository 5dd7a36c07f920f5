/* run.c — the CUDA backend's runs (runtime.c's kn__cuda_backend.run): a run's nodes
 * enqueued on the stream (their kernels: ops.c's table, small_batch.c's fusions), captured
 * as one CUDA graph from the second run with the same batch and phases and replayed
 * (KILN_CUDA_GRAPHS=0: launched every time), K resident steps held back and launched as one
 * graph (KILN_CUDA_GRAPH_STEPS) or one kernel (KILN_CUDA_STEPS_KERNEL), and a one-kernel
 * predict waited for by polling its word (KILN_CUDA_POLL) or served by a persistent kernel
 * rung through a doorbell (KILN_CUDA_PERSIST). docs/cuda.md says which are on. */
#include "backend/backend.h"
#include "backend/nadam_schedule.h"
#include "backend/radam_schedule.h"
#include "cuda_internal.h"
#include "nccl_comm.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

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
        case KN_OP_NOISE: /* whether the run trains, and its step (kernels_noise.cu) */
        case KN_OP_RANDOM_AFFINE: /* likewise (kernels_random_aug.cu) */
        case KN_OP_RANDOM_AFFINE_GRAD:
        case KN_OP_RANDOM_COLOR:
        case KN_OP_RANDOM_COLOR_GRAD:
        case KN_OP_BATCH_NORM:
            return true;
        case KN_OP_ATTENTION: /* with dropout: whether the run trains, its step (attention.c) */
        case KN_OP_ATTENTION_GRAD:
            if (t->fparam[1] > 0.0f) return true;
            break;
        case KN_OP_RNN: /* with recurrent dropout, likewise (ops.c; the gradient's src[3] the forward) */
        case KN_OP_RNN_GRAD:
            if ((t->op == KN_OP_RNN ? t : t->src[3])->fparam[0] > 0.0f) return true;
            break;
        default: break;
        }
    }
    return false;
}

/* A run's work, which a capture records whole. A run: the step values and inputs from
 * their pinned staging, the nodes, the kept outputs of mask to their staging. A resident
 * step (backend.h): the batch gathered from the tables, forward and loss, the figures,
 * backward, the guard, the update (whose kernel returns at once when the guard set
 * step->skip); its step values were queued before it, from the ring. The host version:
 * resident_host.c. */
static kn_status enqueue(kn_graph *g, unsigned mask) {
    kn__cuda_graph *c = g->backend.context;
    c->run_mask = mask;
    for (int k = 0; k < c->n_chains; k++) c->chain[k].merged = false; /* (set by a forward chain's launch) */
    if (!(mask & KN_RUN_RESIDENT)) {
        if (reads_step(g, mask))
            KN_CU_TRY(cudaMemcpyAsync(c->d_step, &c->h_step[KN_CUDA_STEP_RING], sizeof *c->h_step, cudaMemcpyHostToDevice,
                                     c->stream),
                     "cudaMemcpyAsync (step)");
        kn_status st = kn__cuda_stage_copies(g, c, true, mask); /* (io_direct: kn__cuda_run's, for this run) */
        if (st || (st = enqueue_nodes(g, mask))) return st;
        return kn__cuda_stage_copies(g, c, false, mask);
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
        KN_CU_TRY(kn__cu_resident_start(c->stream, c->d_step, c->d_res, c->res_seed ? kn__cuda_ptr(g, c->res_seed->data) : NULL,
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
        KN_CU_TRY(kn__cu_resident_count(c->stream, c->d_step, c->d_res, &q, false), "kn__cu_resident_count");
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
        KN_CU_TRY(kn__cu_resident_guard(c->stream, c->d_step, c->d_res, c->grad, (int64_t)g->param_floats, &q),
                 "kn__cu_resident_guard");
    if (c->res_nccl) { /* data parallel: this rank's share, the sum (verdict included), the decision */
        int64_t n = (int64_t)g->param_floats + 1;
        KN_CU_TRY(kn__cu_grad_share(c->stream, c->d_step, c->grad, n), "kn__cu_grad_share");
        if ((st = kn__nccl_enqueue_allreduce(g, c->res_nccl, c->grad, (size_t)n))) return st;
        KN_CU_TRY(kn__cu_sum_guard(c->stream, c->d_step, c->d_res, c->grad, n, kn__cuda_tensor(g, c->res_loss)),
                 "kn__cu_sum_guard");
    }
    if (accumulating) {
        if (!c->grad_acc) return kn__error(g->ctx, KN_ERR_STATE, "cuda: an accumulating run without an accumulator");
        KN_CU_TRY(kn__cu_grad_accumulate(c->stream, c->d_step, c->grad, c->grad_acc, (int64_t)g->param_floats,
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
        kn_status st = persistent ? KN_OK : kn__cuda_synchronize(g);
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
    if (copy_ring && !c->d_ring_copy && (st = kn__cuda_malloc(g, (void **)&c->d_ring_copy, ring_bytes, "step ring copy")))
        return st; /* (before the capture: no allocation inside one) */
    KN_CU_TRY(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
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
    KN_CU_TRY(cudaGraphLaunch(c->execs[slot].exec, c->stream), "cudaGraphLaunch");
    c->execs[slot].used = c->runs;
    c->replays++;
    return KN_OK;
}

/* The persistent predict's doorbell (mapped) set to v: a sequentially consistent store, so
 * that what the host wrote before (the staged inputs) is there before the kernel, which
 * reads the doorbell with an acquire load (device.cuh's kn__door_wait), sees it. */
static void ring_door(kn__cuda_graph *c, uint32_t v) { __atomic_store_n(c->h_door, v, __ATOMIC_SEQ_CST); }

/* KILN_CUDA_PERSIST across graphs. A persistent kernel holds its blocks until stopped, and
 * another graph's cooperative launch (the steps kernel, the weight gradients taking the
 * update: grids sized to the whole device) could wait for them forever. So one runs only
 * while its graph is the process's only CUDA graph: a graph's compile stops the one running
 * (kn__cuda_graph_born), and while two or more live, predicts are plain polled runs.
 * persist_lock (recursive: a persistent run may stop and flush its own graph) orders every
 * start, run and stop of one, on any thread. */
static pthread_mutex_t persist_lock;
static pthread_once_t persist_once = PTHREAD_ONCE_INIT;
static int live_graphs;         /* compiled CUDA graphs (runtime.c's compile and release) */
static kn_graph *persist_graph; /* the graph whose persistent kernel runs, or NULL */

static void persist_lock_init(void) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&persist_lock, &a);
    pthread_mutexattr_destroy(&a);
}
static void persist_enter(void) {
    pthread_once(&persist_once, persist_lock_init);
    pthread_mutex_lock(&persist_lock);
}
static void persist_leave(void) { pthread_mutex_unlock(&persist_lock); }

/* KILN_CUDA_PERSIST: the persistent predict kernel ended (the doorbell's stop, then the
 * stream synchronized), before anything else uses the stream. */
kn_status kn__cuda_stop_persistent(kn_graph *g) {
    kn__cuda_graph *c = g->backend.context;
    if (!c->persist) return KN_OK; /* (never started: persist_on is set by persistent_run alone) */
    persist_enter();
    kn_status st = KN_OK;
    if (c->persist_on) {
        c->persist_on = false;
        if (persist_graph == g) persist_graph = NULL;
        ring_door(c, KN_CU_DOOR_STOP);
        cudaError_t e = cudaStreamSynchronize(c->stream);
        if (e != cudaSuccess) st = kn__cuda_fail(g, NULL, "cudaStreamSynchronize (the persistent predict's end)", e);
    }
    persist_leave();
    return st;
}

/* A CUDA graph compiled (before its first CUDA call): another graph's persistent kernel, if
 * one runs, stopped; and gone (its release). */
kn_status kn__cuda_graph_born(kn_graph *g) {
    persist_enter();
    live_graphs++;
    ((kn__cuda_graph *)g->backend.context)->counted = true;
    kn_status st = persist_graph && persist_graph != g ? kn__cuda_stop_persistent(persist_graph) : KN_OK;
    persist_leave();
    return st == KN_OK ? KN_OK : kn__error(g->ctx, KN_ERR_DEVICE, "cuda: another model's persistent predict did not stop");
}

void kn__cuda_graph_gone(kn_graph *g) {
    kn__cuda_graph *c = g->backend.context;
    persist_enter();
    if (c->counted) live_graphs--, c->counted = false;
    if (persist_graph == g) persist_graph = NULL;
    persist_leave();
}

/* The held-back resident runs launched one by one (their step values wait in the ring),
 * after the persistent predict, if one runs, has ended. */
kn_status kn__cuda_flush_pending(kn_graph *g) {
    kn__cuda_graph *c = g->backend.context;
    kn_status st = kn__cuda_stop_persistent(g);
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
    if (c->pending && (c->pending_batch != g->batch || c->pending_mask != mask) && (st = kn__cuda_flush_pending(g))) return st;
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

/* The run's kept outputs, from the staging to their tensors (io_nbytes: decide's, for this
 * run). */
static void copy_outputs(kn__cuda_graph *c, unsigned mask) {
    for (int k = c->n_io_in; k < c->n_io; k++) {
        kn_tensor *t = c->io_t[k];
        if ((t->phase & mask) && c->io_nbytes[k]) memcpy(t->data, c->h_io + c->io_off[k], c->io_nbytes[k]);
    }
}

/* A non-resident run's decisions (cuda_internal.h, beside io_direct): the staging entries'
 * bytes, which chains read and write the staging in place (the same for a launch and for the
 * replay of its capture), whether the input travels in a launch's parameters, and whether the
 * run is then that one kernel alone (polled). They depend on the batch and the mask alone, so
 * they are taken again only when one of those changes (a predict after a predict takes none:
 * bench/RESULTS.md, the CUDA predict's host side). */
static void decide(kn_graph *g, kn__cuda_graph *c, unsigned mask) {
    if (c->decided && c->decided_batch == g->batch && c->decided_mask == mask) return;
    for (int k = 0; k < c->n_io; k++) c->io_nbytes[k] = kn__nbytes(c->io_t[k]);
    memset(c->io_direct, 0, (size_t)c->n_io * sizeof *c->io_direct);
    c->row_param_run = false;
    if (c->d_io) kn__cuda_chains_direct(g, c->io_direct, mask);
    c->poll_run = c->poll && c->d_poll && !reads_step(g, mask) && kn__cuda_one_chain_run(g, mask);
    c->decided = true, c->decided_batch = g->batch, c->decided_mask = mask;
}

/* KILN_CUDA_PERSIST: a polled one-kernel run (a predict) through the persistent kernel:
 * launched at the first such run (again after anything stopped it, or for another batch),
 * then each run rings its doorbell (the inputs are in the staging already) and polls. While
 * other CUDA graphs live (persist_lock's comment), a plain polled run instead. */
static kn_status persistent_run_locked(kn_graph *g, kn__cuda_graph *c, unsigned mask) {
    kn_status st;
    if (c->persist_on && (c->persist_batch != g->batch || c->persist_mask != mask) && (st = kn__cuda_stop_persistent(g))) return st;
    if (!c->persist_on) {
        if ((st = kn__cuda_flush_pending(g))) return st;
        ring_door(c, 0); /* (the kernel waits for anything else) */
        bool alone = live_graphs <= 1;
        c->persist_launch = alone, c->persist_refused = false;
        st = enqueue(g, mask);
        c->persist_launch = false;
        if (st) return st;
        if (c->persist_refused || !alone) { /* too many blocks to keep, or other graphs: launched as a plain polled run */
            if (alone) c->persist_refusals++;
            else c->persist_shared++;
            c->runs++, c->inflight++;
            if ((st = poll_wait(g, c, false))) return st;
            copy_outputs(c, mask);
            return KN_OK;
        }
        c->persist_on = true, c->persist_batch = g->batch, c->persist_mask = mask;
        persist_graph = g;
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

static kn_status persistent_run(kn_graph *g, kn__cuda_graph *c, unsigned mask) {
    persist_enter();
    kn_status st = persistent_run_locked(g, c, mask);
    persist_leave();
    return st;
}

kn_status kn__cuda_run(kn_graph *g, unsigned mask) {
    kn__cuda_graph *c = g->backend.context;
    bool resident = mask & KN_RUN_RESIDENT;
    kn_status st = kn__cuda_select_device(g->ctx); /* a thread's first run (a flag after that) */
    if (st) return st;
    if (resident && !c->resident_on)
        return kn__error(g->ctx, KN_ERR_STATE, "cuda: a resident run without resident data (resident_open)");
    /* every slot of the step ring may still be queued: wait for the stream (resident runs
     * otherwise never wait, so this is once per KN_CUDA_STEP_RING steps) */
    if (c->inflight >= KN_CUDA_STEP_RING && (st = kn__cuda_synchronize(g))) return st;
    for (int i = 0; g->refolded && i < g->n_nodes; i++) { /* folded values the host just recomputed */
        kn_tensor *t = g->nodes[i];
        if ((t->flags & KN_FLAG_FOLDED) && kn__nbytes(t) &&
            (st = kn__cuda_copy_in(g, kn__cuda_ptr(g, t->data), t->data, kn__nbytes(t))))
            return st;
    }
    g->refolded = false;
    kn__cuda_step values = {.step = g->step, .rng_step = g->rng_step, .rng_micro = g->rng_micro, .training = g->training,
                            .lr = g->opt.learning_rate, .grad_unscale = g->grad_unscale, .first = g->resident_first,
                            .skipped_known = g->resident_skipped, .c1 = 1.0f, .c2 = 1.0f, .acc_scale = g->grad_acc_scale,
                            .grad_share = g->grad_share};
    if (resident ? !c->res_seed : (mask & KN_PHASE_UPDATE) != 0) {
        /* Adam's corrections (kernels.cu's opt_update: the same formula); not for another run
         * that does not update (a predict has no use for them); a resident fp16 run's step may
         * be taken back on the device */
        values.c1 = (float)(1.0 - pow((double)g->opt.beta_1, (double)g->step));
        values.c2 = (float)(1.0 - pow((double)g->opt.beta_2, (double)g->step));
        values.corrections_set = 1;
        /* Nadam's from P_t in double on the host, as the CPU backend's (cpu/optimizer.c):
         * every path reads them from the step's values (a K-step graph or kernel, one slot of
         * the ring a step), so none keeps a running product on the device to race over */
        if (g->opt.kind == KN_OPT_NADAM)
            kn__nadam_factors(g->opt.beta_1, g->opt.momentum_decay, g->step, kn__nadam_graph_product(g, g->step),
                              &values.nadam_grad, &values.nadam_moment);
        if (g->opt.kind == KN_OPT_RADAM) /* (cpu/optimizer.c's make_args: the same factors) */
            kn__radam_factors(g->opt.beta_1, g->opt.beta_2, g->step, &values.radam_rect, &values.radam_plain);
    }
    if (resident) { /* the step values in the ring: the start kernel reads its slot (mapped), or
                     * a copy queued before the run brings them */
        kn__cuda_step *h = &c->h_step[c->ring_pos];
        c->ring_pos = (c->ring_pos + 1) % KN_CUDA_STEP_RING;
        *h = values;
        if (!c->d_ring) KN_CU_TRY(cudaMemcpyAsync(c->d_step, h, sizeof *h, cudaMemcpyHostToDevice, c->stream), "cudaMemcpyAsync (step)");
    } else { /* the run copies them in itself, with its inputs, from pinned staging */
        c->h_step[KN_CUDA_STEP_RING] = values;
        decide(g, c, mask);
        for (int k = 0; k < c->n_io_in; k++)
            if (c->io_nbytes[k]) memcpy(c->h_io + c->io_off[k], c->io_t[k]->data, c->io_nbytes[k]);
    }
    if (!resident && c->persist && c->poll_run) return persistent_run(g, c, mask);
    if ((st = kn__cuda_stop_persistent(g))) return st; /* (any other run: the stream is its own again) */
    c->inflight++;
    c->runs++;
    /* a data-parallel resident step is launched, never captured: whether an NCCL call is
     * captured must be the same on every rank (NCCL's rule), and the ranks' batches may
     * change size at different steps (the last batch's shares) */
    bool graphs = c->use_graphs && !(resident && c->res_nccl && (mask & KN_PHASE_BACKWARD)) &&
                  !(!resident && c->row_param_run); /* (a launch's parameters carry the sample: small_batch.c) */
    if (resident && c->graph_steps > 1 && graphs && c->d_ring &&
        (find_exec(c, g->batch, mask, 1) >= 0 || (c->last_batch == g->batch && c->last_mask == mask))) {
        /* held back, then K to a launch (from the second run alike: the first of a kind is
         * launched as it comes, as every run is, before anything of it is captured) */
        c->last_batch = g->batch;
        c->last_mask = mask;
        return hold_back(g, c, mask);
    }
    if ((st = kn__cuda_flush_pending(g))) return st; /* (held-back runs go first) */
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
    if ((st = c->poll_run ? poll_wait(g, c, false) : kn__cuda_synchronize(g))) return st;
    copy_outputs(c, mask); /* what the caller reads, from the staging */
    return KN_OK;
}
