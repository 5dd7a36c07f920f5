/* kernels_chain.cu — a chain of dense layers (y = act(x W + b), each layer's output the next
 * one's input) as one kernel for small batches: a block per row keeps the row's activations
 * in shared memory from the first layer to the last, so a single-sample predict of an MLP is
 * one launch instead of a cuBLASLt product and an activation kernel per layer (small_batch.c's
 * plan_dense_chains chooses the chains and launches them for ops.c's k_dense). An activation node
 * after a dense one (a softmax head) can end the chain too. Backward, the input gradients
 * of the same layers (matmul_act_grad nodes: act'(dz W^T)) chain the same way, from the
 * loss's gradient down, each row's gradient in shared memory. A forward chain can end in
 * its loss (the loss node after it) and that loss's gradient, each row's by its block.
 *
 * Each output sums its k products in a fixed order (parts of k in threads, then the parts
 * in order), so a run gives the same bits every time; the order is not cuBLASLt's, so the
 * result differs from the unfused path's by float rounding (test_cuda_ops: 1e-4). */
#include "launch.h"
#include "device.cuh"
#include "chain.cuh"
#include "loss.cuh"
#include "resident.cuh"
#include "optimizer.cuh"

#include <string.h>

#define THREADS 256
static_assert(THREADS == KN_CU_GUARD_THREADS, "guard_finish's blocks");

/* What the loss of row r needs from memory, asked for at the row's start (chain_loss_ask)
 * so that the loads wait alongside the forward layers' instead of one after another on
 * thread 0 at the loss (on the H200 the batch-32 step's loss phase took 4.6 us so): the
 * target's row, in shared memory when it fits (a sparse label, or up to
 * KN_CU_CHAIN_TARGET values), and the loss gradient's scale. */
struct chain_loss_args {
    const void *target; /* the target row's table and its row in it: the shared copy and 0, or loss.target and tr */
    int64_t tr;
    float dl;
};
#define KN_CU_CHAIN_TARGET 256
__device__ static void chain_loss_ask(const kn__cu_chain &ch, int64_t tr, chain_loss_args *a) {
    __shared__ float trow[KN_CU_CHAIN_TARGET];
    __shared__ int32_t label;
    const kn__cu_chain_loss &q = ch.loss;
    a->target = q.target, a->tr = tr;
    if (q.kind < 0) return;
    int64_t c = ch.layer[q.from].n;
    if (q.kind == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY) {
        if (threadIdx.x == 0) label = ((const int32_t *)q.target)[tr];
        a->target = &label, a->tr = 0;
    } else if (c <= KN_CU_CHAIN_TARGET) {
        for (int64_t j = threadIdx.x; j < c; j += blockDim.x) trow[j] = ((const float *)q.target)[tr * c + j];
        a->target = trow, a->tr = 0;
    }
    a->dl = q.dx && threadIdx.x == 0 ? *q.dloss : 0.0f; /* (thread 0's alone: it takes the loss) */
}

/* The chain's loss (kn__cu_chain_loss), row r's part: its loss and gradient (into dx, a row
 * of c) from the prediction row pr and the target's row (a, chain_loss_ask's), and with
 * loss.correct whether the count's prediction row po is right, by thread 0 (pr, po: shared
 * memory when a row is the last forward layer's, else the row the block wrote). */
__device__ static void chain_loss_row(const kn__cu_chain *ch, int64_t r, int64_t rows, const chain_loss_args &a,
                                      const float *pr, const float *po, float *dx) {
    const kn__cu_chain_loss *q = &ch->loss;
    int64_t c = ch->layer[q->from].n;
    __syncthreads(); /* the block's writes of the prediction row (and of the target's) are visible to it */
    if (threadIdx.x == 0) {
        loss_row(q->kind, q->logits != 0, q->lp, pr, a.target, q->w, q->ws, r, a.tr, c);
        if (q->correct) { /* (resident.cuh's count_step: the first largest against the label) */
            int32_t best = 0, outs = ch->layer[q->pred].n;
            float v = po[0];
            for (int32_t j = 1; j < outs; j++)
                if (po[j] > v) v = po[j], best = j;
            q->correct[r] = best == ((const int32_t *)a.target)[a.tr];
        }
        if (q->dx)
            loss_grad_row(q->kind, q->logits != 0, q->lp, pr, a.target, q->w, dx, r, a.tr, c, a.dl / (float)rows,
                          a.dl / (float)(rows * c));
    }
}

/* ... and the mean: the last block to finish writes it, summing the rows in a fixed order
 * (each thread its rows t, t + blockDim.x, ..., then a tree). */
__device__ static void chain_loss_mean(const kn__cu_chain *ch, int64_t rows) {
    __shared__ bool last;
    __shared__ double part[THREADS];
    const kn__cu_chain_loss *q = &ch->loss;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(q->done, 1u) == (unsigned)rows - 1;
    __syncthreads();
    if (!last) return;
    double s = 0;
    for (int64_t i = threadIdx.x; i < rows; i += blockDim.x) s += ((volatile const double *)q->ws)[i];
    s = kn__block_sum_double(s, part);
    if (threadIdx.x == 0) {
        *q->out = (float)(s / (double)rows);
        *q->done = 0;
    }
}

/* Row r of forward layer l's output once the forward layers are done: last, the last one's
 * (shared memory), or the row the block wrote (visible to it after a barrier). */
__device__ static const float *chain_row(const kn__cu_chain &ch, int l, int fwd, const float *last, int64_t r) {
    return l == fwd - 1 ? last : ch.layer[l].y + r * ch.layer[l].n;
}

/* Which part of a chain a block runs: row r of rows, slice y of S (a launch of its own:
 * blockIdx and gridDim; in resident_steps_kernel, the block's items in turn). */
struct chain_item {
    int64_t r, rows;
    int y, S;
};

/* Row r = at.r, layer by layer, in[k] -> out[n] in shared memory. With at.S = S > 1,
 * layer 0 is split over S blocks by its inputs (at.y the slice): each puts its part
 * of the row's sums in ch.part, and the last of the row's blocks to finish (counted in
 * ch.count[r], reset by it) adds the parts in slice order and goes on with the chain alone;
 * so a single row's first layer spreads over many multiprocessors instead of one. Only the
 * layers whose output something else reads (y != NULL) are written out, and the last one
 * always. */
__device__ static void chain_run(const kn__cu_chain &ch, const float *x, const chain_item at) {
    __shared__ float act[2][KN_CU_CHAIN_WIDTH];
    __shared__ float red[THREADS];
    __shared__ bool last;
    int64_t r = at.r, rows = at.rows, tr = r; /* tr: the row of x and of the target */
    if (ch.stamps && r == 0 && at.y == 0 && threadIdx.x == 0)
        chain_stamp_start(ch);
    if (ch.order) { /* a folded resident step (launch.h): the batch's rows through the order */
        __shared__ int64_t row;
        if (threadIdx.x == 0) { /* (one read of the mapped ring a block, not one a warp) */
            const kn__cuda_step *src = ch.ring ? ch.ring + ch.res->ring_pos : ch.step;
            row = ch.order[src->first + r]; /* (first: which start_step never changes) */
            if (at.r == 0 && at.y == 0) start_step(ch.step, src, ch.res, NULL);
        }
        __syncthreads();
        tr = row;
    }
    chain_loss_args la;
    chain_loss_ask(ch, tr, &la);
    int cur = 0, first = 0, S = at.S;
    const kn__cu_chain_layer L0 = ch.layer[0];
    const float *xr = x + tr * L0.k;
    if (ch.prefetch) { /* (a hint: its loads wait for nothing; 64 KB a layer at most) */
        if (S > 1) {
            int chunk = (L0.k + S - 1) / S, p0 = at.y * chunk, p1 = p0 + chunk < L0.k ? p0 + chunk : L0.k;
            kn__prefetch_l1(L0.w + (int64_t)p0 * L0.n, (int64_t)(p1 - p0) * L0.n * (int64_t)sizeof(float));
        }
        for (int l = 1; l < ch.n; l++)
            if (ch.layer[l].w && (int64_t)ch.layer[l].k * ch.layer[l].n <= 16384) {
                kn__prefetch_l1(ch.layer[l].w, (int64_t)ch.layer[l].k * ch.layer[l].n * (int64_t)sizeof(float));
                if (ch.layer[l].bias) kn__prefetch_l1(ch.layer[l].bias, (int64_t)ch.layer[l].n * (int64_t)sizeof(float));
            }
        if (L0.bias) kn__prefetch_l1(L0.bias, (int64_t)L0.n * (int64_t)sizeof(float));
    }
    if (S > 1) {
        int chunk = (L0.k + S - 1) / S, p0 = at.y * chunk, p1 = p0 + chunk < L0.k ? p0 + chunk : L0.k;
        for (int i = threadIdx.x; i < p1 - p0; i += blockDim.x) act[0][i] = ch.door ? kn__ld_fresh(&xr[p0 + i]) : xr[p0 + i];
        __syncthreads();
        if (at.y == 0) chain_stamp(ch, r, KN_CU_STAMP_INPUT);
        layer_sums(L0, act[0], p0, p1, red, ch.part + ((int64_t)at.y * rows + r) * L0.n, false, r);
        if (at.y == 0) chain_stamp(ch, r, KN_CU_STAMP_PARTS);
        __threadfence();
        __syncthreads();
        if (threadIdx.x == 0) last = atomicAdd(&ch.count[r], 1u) == (unsigned)S - 1;
        __syncthreads();
        if (!last) return;
        chain_stamp(ch, r, KN_CU_STAMP_HANDOFF);
        if (threadIdx.x == 0) ch.count[r] = 0;
        for (int j = threadIdx.x; j < L0.n; j += blockDim.x) { /* the parts from L2 (__ldcg: not a stale L1 line) */
            float s = 0.0f, b = L0.bias ? L0.bias[j] : 0.0f;
            for (int qb = 0; qb < S; qb += 2 * BATCH) {
                const int cnt = S - qb < 2 * BATCH ? S - qb : 2 * BATCH;
                float v[2 * BATCH];
                KN_UNROLL(2 * BATCH) /* (past cnt the last part again: no load conditional, as layer_sums') */
                for (int u = 0; u < 2 * BATCH; u++)
                    v[u] = __ldcg(&ch.part[((int64_t)(qb + (u < cnt ? u : cnt - 1)) * rows + r) * L0.n + j]);
                KN_UNROLL(2 * BATCH)
                for (int u = 0; u < 2 * BATCH; u++)
                    if (u < cnt) s += v[u];
            }
            act[1][j] = layer_finish(L0, s, b, 0.0f);
        }
        __syncthreads();
        layer_post(L0, act[1], red, r);
        chain_stamp(ch, r, KN_CU_STAMP_LAYER0);
        cur = 1, first = 1;
    } else {
        for (int i = threadIdx.x; i < L0.k; i += blockDim.x) act[0][i] = ch.door ? kn__ld_fresh(&xr[i]) : xr[i];
        __syncthreads();
        chain_stamp(ch, r, KN_CU_STAMP_INPUT);
    }
    int fwd = ch.n_fwd > 0 ? ch.n_fwd : ch.n, c = ch.loss.kind >= 0 ? ch.layer[ch.loss.from].n : 0;
    for (int l = first; l < ch.n; l++) {
        if (l == fwd) { /* the backward layers start from the row's loss gradient, kept in shared memory */
            if (ch.loss.kind < 0 || !ch.loss.dx) break;
            chain_loss_row(&ch, r, rows, la, chain_row(ch, ch.loss.from, fwd, act[cur], r), ch.loss.correct ? chain_row(ch, ch.loss.pred, fwd, act[cur], r) : NULL,
                           act[cur ^ 1]);
            __syncthreads(); /* thread 0's gradient row is visible to the block */
            chain_stamp(ch, r, KN_CU_STAMP_LOSS);
            cur ^= 1;
            for (int j = threadIdx.x; j < c; j += blockDim.x) ch.loss.dx[r * c + j] = act[cur][j];
        }
        const kn__cu_chain_layer L = ch.layer[l];
        const float *in = act[cur];
        float *out = act[cur ^ 1];
        if (L.w) {
            layer_sums(L, in, 0, L.k, red, out, true, r);
        } else { /* an activation node alone */
            for (int j = threadIdx.x; j < L.n; j += blockDim.x)
                out[j] = L.act == KN_SOFTMAX ? in[j] : kn__dev_act(L.act, L.alpha, in[j]);
            __syncthreads();
        }
        layer_post(L, out, red, r);
        chain_stamp(ch, r, chain_layer_slot(l));
        cur ^= 1;
    }
    if (ch.loss.kind >= 0) {
        if (fwd == ch.n)
            chain_loss_row(&ch, r, rows, la, chain_row(ch, ch.loss.from, fwd, act[cur], r), ch.loss.correct ? chain_row(ch, ch.loss.pred, fwd, act[cur], r) : NULL,
                           ch.loss.dx ? ch.loss.dx + r * c : NULL);
        if (fwd == ch.n) chain_stamp(ch, r, KN_CU_STAMP_LOSS);
        if (!ch.loss.defer) chain_loss_mean(&ch, rows);
    }
    if (ch.flag) chain_poll_publish(ch, rows);
    chain_stamp(ch, r, KN_CU_STAMP_END);
}

/* The chain once, or, persistent (ch.door), once a doorbell until KN_CU_DOOR_STOP. */
__global__ void dense_chain_kernel(kn__cu_chain ch, const float *x) {
    kn__pdl_wait();
    kn__pdl_trigger();
    const chain_item at = {blockIdx.x, gridDim.x, (int)blockIdx.y, (int)gridDim.y};
    if (!ch.door) {
        chain_run(ch, x, at);
        return;
    }
    __shared__ uint32_t rung;
    for (uint32_t seen = 0;;) {
        if (threadIdx.x == 0) rung = kn__door_relay(ch.door, ch.relay, seen, blockIdx.x == 0 && blockIdx.y == 0);
        __syncthreads();
        uint32_t d = rung;
        __syncthreads(); /* (every thread read it before thread 0 waits again) */
        if (d == KN_CU_DOOR_STOP) return;
        seen = d;
        chain_run(ch, x, at);
    }
}

extern "C" cudaError_t kn__cu_dense_chain(cudaStream_t s, const kn__cu_chain *ch, const float *x, int64_t rows, bool pdl) {
    dim3 grid((unsigned)rows, (unsigned)ch->split);
    if (rows > 0 && ch->n > 0 && ch->door) { /* (its blocks wait for one another's samples: all resident) */
        cudaError_t e = ch->relay ? cudaMemsetAsync(ch->relay, 0, sizeof *ch->relay, s) : cudaSuccess;
        if (e != cudaSuccess) return e;
        KN_LAUNCH_COOP(pdl, dense_chain_kernel, grid, THREADS, 0, s, *ch, x);
    }
    else if (rows > 0 && ch->n > 0)
        KN_LAUNCH(pdl, dense_chain_kernel, grid, THREADS, 0, s, *ch, x);
    return cudaGetLastError();
}

/* How many blocks of THREADS of kernel the current device holds at once: its multiprocessors
 * times the kernel's occupancy; 0 when it cannot launch cooperatively or a query fails. */
template <class K> static int64_t coop_capacity(K kernel) {
    int dev = 0, sms = 0, coop = 0, per = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, dev) != cudaSuccess ||
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per, kernel, THREADS, 0) != cudaSuccess) {
        cudaGetLastError(); /* (not left for the next launch's check) */
        return 0;
    }
    return coop ? (int64_t)sms * per : 0;
}

extern "C" int64_t kn__cu_dense_chain_capacity(void) { return coop_capacity(dense_chain_kernel); }

/* ------------------------------------------------------------- weight gradients */

/* One thread per weight (or bias) of every layer: its sum over the batch's rows, in row
 * order. Consecutive threads take consecutive columns j, so dZ's rows are read coalesced.
 * guarded: the step's guard too (guard_finish, each thread's share the values it wrote). */
/* A folded resident step's gathered rows (kn__cu_wgrad's order): xrow[r] = order[first + r],
 * loaded once a block; every thread of the block calls it. */
__device__ static void gathered_rows(const kn__cu_wgrad &wg, int64_t rows, int32_t *xrow) {
    if (!wg.order) return;
    int64_t first = wg.step->first;
    for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) xrow[r] = wg.order[first + r];
    __syncthreads();
}

/* Element e of the launch's flat index: its layer's index and its place there (local). */
__device__ static int wgrad_layer_of(const kn__cu_wgrad &wg, int64_t e, int64_t *local) {
    int l = 0;
    while (l + 1 < wg.n && e >= wg.layer[l + 1].first) l++;
    *local = e - wg.layer[l].first;
    return l;
}

/* The update of the weights whose gradients a thread computed, when the weight gradients
 * take it (kn__cu_wgrad_update): what opt_update_kernel does for each of its parameters
 * (optimizer.cuh's opt_one, its factors taken the same way: no clip factor, since no
 * global norm clips with it, so stp->grad_unscale); the caller then calls update_one
 * for each gradient, g at its place in up.grad. */
struct wgrad_updater {
    const kn__cu_wgrad_update &up;
    opt_factors f;
    float cv, cf;
    bool u0, u1;
    __device__ wgrad_updater(const kn__cu_wgrad_update &u, const kn__cuda_step *stp) : up(u) {
        f = opt_step_factors(up.opt, stp); /* (every thread: a barrier inside) */
        cv = up.opt.clip_value > 0 ? up.opt.clip_value : INFINITY;
        cf = stp->grad_unscale;
        u0 = opt_uses_s0(up.opt), u1 = opt_uses_s1(up.opt);
    }
    __device__ void update_one(const float *at, float g) const {
        int64_t i = at - up.grad;
        float w = up.w[i], a = u0 ? up.s0[i] : 0.0f, b = u1 ? up.s1[i] : 0.0f;
        float vm = up.opt.amsgrad ? up.s1[i + up.opt.slot_stride] : 0.0f;
        opt_one(up.opt, f, clipv(g * cf, cv), w, a, b, vm);
        up.w[i] = w;
        if (u0) up.s0[i] = a;
        if (u1) up.s1[i] = b;
        if (up.opt.amsgrad) up.s1[i + up.opt.slot_stride] = vm;
        if (up.wh) kn__st(up.wh, up.wt, i, w);
    }
};

/* weight_grads_kernel's work, every thread of the launch's 1-D grid calling it (a
 * resident_steps_kernel's too). */
__device__ static void wgrad_run(const kn__cu_wgrad &wg, int64_t rows, const kn__cu_wgrad_guard &guard, bool guarded,
                                 const kn__cu_wgrad_update &up, bool updating) {
    __shared__ int32_t xrow[KN_CU_WGRAD_FOLD_ROWS];
    gathered_rows(wg, rows, xrow);
    bool bad = false;
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < wg.total; e += (int64_t)gridDim.x * blockDim.x) {
        int64_t local;
        const kn__cu_wgrad_layer L = wg.layer[wgrad_layer_of(wg, e, &local)];
        int64_t kn = (int64_t)L.k * L.n;
        float s = 0.0f;
        /* (each BATCH rows' loads at once, summed in order; past the last row, the last row
         * again: no load conditional, so all issue before the first sum waits, as layer_sums') */
        if (local < kn) {
            int64_t i, j; /* (a 32-bit division where it fits: the 64-bit one is a long call) */
            if (kn <= INT32_MAX) i = (int32_t)local / L.n, j = (int32_t)local % L.n;
            else i = local / L.n, j = local % L.n;
            for (int64_t rb = 0; rb < rows; rb += BATCH) {
                const int cnt = rows - rb < BATCH ? (int)(rows - rb) : BATCH;
                float xv[BATCH], zv[BATCH];
                KN_UNROLL(BATCH)
                for (int u = 0; u < BATCH; u++) {
                    int64_t rr = rb + (u < cnt ? u : cnt - 1), xr = L.gathered ? (int64_t)xrow[rr] : rr;
                    xv[u] = L.x[xr * L.k + i];
                    zv[u] = L.dz[rr * L.n + j];
                }
                KN_UNROLL(BATCH)
                for (int u = 0; u < BATCH; u++)
                    if (u < cnt) s += xv[u] * zv[u];
            }
            L.dw[local] = s;
        } else {
            int64_t j = local - kn;
            for (int64_t rb = 0; rb < rows; rb += BATCH) {
                const int cnt = rows - rb < BATCH ? (int)(rows - rb) : BATCH;
                float zv[BATCH];
                KN_UNROLL(BATCH)
                for (int u = 0; u < BATCH; u++) zv[u] = L.dz[(rb + (u < cnt ? u : cnt - 1)) * L.n + j];
                KN_UNROLL(BATCH)
                for (int u = 0; u < BATCH; u++)
                    if (u < cnt) s += zv[u];
            }
            L.db[j] = s;
        }
        bad |= !isfinite(s);
    }
    if (updating) { /* the update too, after a grid barrier (the launch is cooperative) */
        bool go = guard_fused(guard.step, guard.r, &guard.q, bad);
        const wgrad_updater u(up, guard.step);
        if (!go) return;
        for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < wg.total; e += (int64_t)gridDim.x * blockDim.x) {
            int64_t local;
            const kn__cu_wgrad_layer L = wg.layer[wgrad_layer_of(wg, e, &local)];
            int64_t kn = (int64_t)L.k * L.n;
            const float *at = local < kn ? L.dw + local : L.db + (local - kn);
            u.update_one(at, *at); /* (this thread's own write above) */
        }
    } else if (guarded && guard.late && bad) {
        kn__flag_raise(&guard.r->grad_bad); /* (the update kernel decides: guard_late) */
    } else if (guarded && !guard.late) {
        guard_finish(guard.step, guard.r, &guard.q, bad);
    }
}

__global__ void weight_grads_kernel(kn__cu_wgrad wg, int64_t rows, kn__cu_wgrad_guard guard, bool guarded,
                                    kn__cu_wgrad_update up, bool updating) {
    kn__pdl_wait();
    kn__pdl_trigger();
    wgrad_run(wg, rows, guard, guarded, up, updating);
}

/* The same sums by tiles, for many rows (a thread summing 256 rows alone is a long chain
 * of dependent loads): a block per WG_TI x WG_TJ tile of a layer's dW (with db as one more
 * row of inputs, all 1), the batch staged through shared memory WG_TR rows at a time,
 * each thread four outputs. Every output still sums its rows in order, one product at a
 * time, so the bits are weight_grads_kernel's. Block b is tile b of the layers' tiles in
 * order, each layer's row-major over (input tiles, output tiles). */
#define WG_TI 32
#define WG_TJ 32
#define WG_TR 32
#define WG_STAGE (WG_TR * WG_TI / 256) /* elements of a chunk's tiles a thread stages (blocks of 256) */
__device__ static int wgrad_tiles(const kn__cu_wgrad_layer &L, int *ti) {
    *ti = (L.k + (L.db ? 1 : 0) + WG_TI - 1) / WG_TI;
    return *ti * ((L.n + WG_TJ - 1) / WG_TJ);
}

__global__ void weight_grads_tiled_kernel(kn__cu_wgrad wg, int64_t rows, kn__cu_wgrad_guard guard, bool guarded,
                                          kn__cu_wgrad_update up, bool updating) {
    __shared__ float xs[WG_TR][WG_TI + 1], zs[WG_TR][WG_TJ + 1];
    __shared__ int32_t xrow[KN_CU_WGRAD_FOLD_ROWS];
    kn__pdl_wait();
    kn__pdl_trigger();
    gathered_rows(wg, rows, xrow);
    int tile = (int)blockIdx.x, l = 0, ti = 0;
    while (l < wg.n - 1 && tile >= wgrad_tiles(wg.layer[l], &ti)) tile -= wgrad_tiles(wg.layer[l++], &ti);
    const kn__cu_wgrad_layer L = wg.layer[l];
    int tiles = wgrad_tiles(L, &ti);
    bool bad = false;
    int i0 = tile / ((L.n + WG_TJ - 1) / WG_TJ) * WG_TI, j0 = tile % ((L.n + WG_TJ - 1) / WG_TJ) * WG_TJ;
    int tj = (int)threadIdx.x % WG_TJ, tq = (int)threadIdx.x / WG_TJ, per = (int)blockDim.x / WG_TJ; /* 8 */
    float acc[WG_TI / 8] = {0.0f};
    if (tile < tiles) {
        /* each thread stages elements e = threadIdx.x + m blockDim.x of a chunk's tiles; the next
         * chunk's are loaded into registers while this one's are summed (their loads in flight) */
        float xv[WG_STAGE], zv[WG_STAGE];
        auto load = [&](int64_t r0) {
            KN_UNROLL(WG_STAGE)
            for (int m = 0; m < WG_STAGE; m++) {
                int e = (int)threadIdx.x + m * (int)blockDim.x, r = e / WG_TI, c = e % WG_TI, i = i0 + c, j = j0 + c;
                bool in = e < WG_TR * WG_TI && r0 + r < rows;
                int64_t xr = !in ? 0 : L.gathered ? xrow[r0 + r] : r0 + r;
                xv[m] = !in ? 0.0f : i < L.k ? L.x[xr * L.k + i] : 1.0f; /* (i == k: the bias's row) */
                zv[m] = in && j < L.n ? L.dz[(r0 + r) * L.n + j] : 0.0f;
            }
        };
        load(0);
        for (int64_t r0 = 0; r0 < rows; r0 += WG_TR) {
            for (int m = 0; m < WG_STAGE; m++) {
                int e = (int)threadIdx.x + m * (int)blockDim.x;
                if (e < WG_TR * WG_TI) xs[e / WG_TI][e % WG_TI] = xv[m], zs[e / WG_TI][e % WG_TI] = zv[m];
            }
            __syncthreads();
            if (r0 + WG_TR < rows) load(r0 + WG_TR);
            int nr = rows - r0 < WG_TR ? (int)(rows - r0) : WG_TR;
            for (int r = 0; r < nr; r++)
                for (int q = 0; q < WG_TI / 8; q++) acc[q] += xs[r][tq + per * q] * zs[r][tj];
            __syncthreads();
        }
        int j = j0 + tj;
        for (int q = 0; q < WG_TI / 8 && j < L.n; q++) {
            int i = i0 + tq + per * q;
            if (i < L.k) L.dw[(int64_t)i * L.n + j] = acc[q];
            else if (i == L.k && L.db) L.db[j] = acc[q];
            else continue;
            bad |= !isfinite(acc[q]);
        }
    }
    if (updating) { /* the update too, after a grid barrier (the launch is cooperative), from acc */
        bool go = guard_fused(guard.step, guard.r, &guard.q, bad);
        const wgrad_updater u(up, guard.step);
        int j = j0 + tj;
        if (!go || tile >= tiles || j >= L.n) return;
        for (int q = 0; q < WG_TI / 8; q++) {
            int i = i0 + tq + per * q;
            if (i < L.k) u.update_one(&L.dw[(int64_t)i * L.n + j], acc[q]);
            else if (i == L.k && L.db) u.update_one(&L.db[j], acc[q]);
        }
    } else if (guarded && guard.late && bad) {
        kn__flag_raise(&guard.r->grad_bad); /* (the update kernel decides: guard_late) */
    } else if (guarded && !guard.late) {
        guard_finish(guard.step, guard.r, &guard.q, bad);
    }
}

/* The launch's blocks: tiles, or a thread per element (at most 65535 blocks). */
extern "C" int64_t kn__cu_weight_grads_blocks(const kn__cu_wgrad *wg, bool tiled) {
    int64_t b = 0;
    if (tiled) {
        for (int l = 0; l < wg->n; l++) {
            const kn__cu_wgrad_layer *L = &wg->layer[l];
            b += (int64_t)((L->k + (L->db ? 1 : 0) + WG_TI - 1) / WG_TI) * ((L->n + WG_TJ - 1) / WG_TJ);
        }
        return b < 1 ? 1 : b;
    }
    b = (wg->total + THREADS - 1) / THREADS;
    return b < 1 ? 1 : b > 65535 ? 65535 : b;
}

extern "C" int64_t kn__cu_weight_grads_capacity(bool tiled) {
    return tiled ? coop_capacity(weight_grads_tiled_kernel) : coop_capacity(weight_grads_kernel);
}

extern "C" cudaError_t kn__cu_weight_grads(cudaStream_t s, const kn__cu_wgrad *wg, int64_t rows,
                                           const kn__cu_wgrad_guard *guard, bool tiled, bool pdl,
                                           const kn__cu_wgrad_update *up) {
    kn__cu_wgrad_guard none;
    memset(&none, 0, sizeof none);
    kn__cu_wgrad_update no_update;
    memset(&no_update, 0, sizeof no_update);
    if (wg->order && rows > KN_CU_WGRAD_FOLD_ROWS) return cudaErrorInvalidValue;
    if (up && !(guard && guard->late)) return cudaErrorInvalidValue; /* (the update needs the late guard's decision) */
    int64_t b = kn__cu_weight_grads_blocks(wg, tiled);
    if (tiled && wg->n > 0) {
        if (b > 65535) return cudaErrorInvalidValue;
        if (up && b > up->capacity) return cudaErrorCooperativeLaunchTooLarge;
        if (up)
            KN_LAUNCH_COOP(pdl, weight_grads_tiled_kernel, (unsigned)b, THREADS, 0, s, *wg, rows, *guard, true, *up, true);
        else
            KN_LAUNCH(pdl, weight_grads_tiled_kernel, (unsigned)b, THREADS, 0, s, *wg, rows, guard ? *guard : none,
                      guard != NULL, no_update, false);
    } else if (up) { /* a grid of at most what the device holds at once (the loops stride over the rest) */
        int64_t cap = up->capacity;
        if (cap < 1) return cudaErrorCooperativeLaunchTooLarge;
        KN_LAUNCH_COOP(pdl, weight_grads_kernel, (unsigned)(b < cap ? b : cap), THREADS, 0, s, *wg, rows, *guard, true, *up,
                       true);
    } else if (wg->total > 0 || guard) {
        KN_LAUNCH(pdl, weight_grads_kernel, (unsigned)b, THREADS, 0, s, *wg, rows, guard ? *guard : none, guard != NULL,
                  no_update, false);
    }
    return cudaGetLastError();
}

/* ------------------------------------------------------------- K steps in one launch */

/* launch.h's kn__cu_steps: K resident steps, the grid's blocks taking the chain's items in
 * turn, then every gradient and the update (wgrad_run, as weight_grads_kernel runs it),
 * with grid barriers between (device.cuh's kn__grid_sync: what other blocks wrote before
 * one, the new weights included, is what every block reads after it). */
__global__ void resident_steps_kernel(kn__cu_steps p, int steps) {
    int64_t items = p.rows * p.ch.split;
    for (int s = 0; s < steps; s++) {
        for (int64_t it = blockIdx.x; it < items; it += gridDim.x)
            chain_run(p.ch, p.x, chain_item{it % p.rows, p.rows, (int)(it / p.rows), p.ch.split});
        kn__grid_sync(); /* (every row's outputs and gradients) */
        wgrad_run(p.wg, p.rows, p.guard, true, p.up, true);
        kn__grid_sync(); /* (the step's update, before the next step's chain) */
    }
}

extern "C" int64_t kn__cu_resident_steps_capacity(void) { return coop_capacity(resident_steps_kernel); }

extern "C" cudaError_t kn__cu_resident_steps(cudaStream_t s, const kn__cu_steps *p, int steps, int64_t capacity) {
    if (steps < 1 || p->rows < 1 || p->ch.split < 1 || !p->guard.late || capacity < 1) return cudaErrorInvalidValue;
    int64_t items = p->rows * p->ch.split, wblocks = kn__cu_weight_grads_blocks(&p->wg, false);
    int64_t blocks = items > wblocks ? items : wblocks;
    blocks = blocks < capacity ? blocks : capacity;
    KN_LAUNCH_COOP(false, resident_steps_kernel, (unsigned)blocks, THREADS, 0, s, *p, steps);
    return cudaGetLastError();
}
