/* kernels_row.cu — a single row through a forward chain of dense layers (a predict of one
 * sample) as one thread-block cluster (Hopper), for latency: the chain kernel's single row
 * took 15.5 us on the H200 (kernels_chain.cu: its first layer split over 24 blocks that
 * hand their sums over through global memory and a counter, then one block reading each
 * later layer's weights from L2 in turn: two dependent memory trips a layer).
 *
 * Here the cluster's C blocks each take a slice of layer 0's inputs (its weights' loads
 * all in flight at once) and put their sums straight into block 0's shared memory
 * (distributed shared memory, kn__cluster_map), behind one cluster barrier; meanwhile block
 * 0 has copied the later layers' weights and biases into its shared memory (cp.async, when
 * they fit: kn__cu_chain's row_kept), so that after the barrier every later layer runs from
 * shared memory alone. Outputs as the chain kernel's: each sums its products in a fixed
 * order (layer 0's blocks' sums in rank order), the softmax and the writes the same
 * (chain.cuh). small_batch.c chooses it (kn__cuda_dense_chain). On the H200 the reference
 * MLP's predict took 13.8 us so, host in and out, against 17.6 unfused (bench/RESULTS.md,
 * session 29; the phases in docs/cuda.md).
 *
 * Two more kernels of the same code, for A/Bs not yet measured on a GPU (session 30, without
 * one): dense_row_param_kernel takes the input in its launch's parameters
 * (KILN_CUDA_ROW_INPUT=param: the input arrives with the launch instead of across the bus
 * after block 0 starts, 2.2 of the kernel's 7.2 us on the H200), and dense_row_repeat_kernel
 * (KILN_CUDA_ROW_REPEAT=1 with KILN_CUDA_CHAIN_TIMING=1, a diagnostic) runs the later layers
 * twice, stamping both passes. */
#include "launch.h"
#include "device.cuh"
#include "chain.cuh"

#include <string.h>

#define ROW_THREADS 512
static_assert(KN_CU_ROW_SLICE <= ROW_THREADS, "row_layer0: a thread an input of the slice");
static_assert(KN_CU_ROW_WIDTH < ROW_THREADS, "row_layer0: a pass of columns");

/* Copies one float from global memory to shared memory without the thread waiting for it
 * (cp.async, sm_80 and later: the loads of the later layers' weights stay in flight while
 * layer 0 is computed); copy_wait() waits for the thread's copies, and a barrier after
 * it makes every thread's visible to the block. The emulator: a plain copy. */
__device__ static inline void copy_async(float *dst_shared, const float *src) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    unsigned d = (unsigned)__cvta_generic_to_shared(dst_shared);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(d), "l"(src) : "memory");
#else
    *dst_shared = *src;
#endif
}
__device__ static inline void copy_wait(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_all;" ::: "memory");
#endif
}

/* Layer 0's bias (n0), then layers 1..n-1's weights (k, n) and biases (n), one after
 * another from kept[0] (row_kept: block 0's copy of them), the layers' descriptors read
 * from the kernel's parameters (the same address in every thread: the constant cache); the
 * loads issued and not waited for. ch.row_tail (KILN_CUDA_ROW_TAIL=warps): each later
 * layer's weights transposed instead, column j's k weights at j (k + 1) (a float of padding
 * a column, so that the consecutive columns a warp writes fall in different banks, and the
 * consecutive weights of one column it reads later too). */
template <int Tail>
__device__ static void keep_layers(const kn__cu_chain &ch, float *kept) {
    int off = 0;
    for (int l = 0; l < ch.n; l++) {
        const float *w = ch.layer[l].w, *bias = ch.layer[l].bias;
        if (!w) continue;
        int n = ch.layer[l].n, k = ch.layer[l].k, kn = l ? k * n : 0;
        if (Tail && l) {
            for (int i = threadIdx.x; i < kn; i += blockDim.x) {
                int p = i / n, j = i - p * n; /* (a division, in the shadow of the input's wait) */
                copy_async(&kept[off + j * (k + 1) + p], &w[i]);
            }
            off += n * (k + 1);
        } else {
            for (int i = threadIdx.x; i < kn; i += blockDim.x) copy_async(&kept[off + i], &w[i]);
            off += kn;
        }
        if (bias)
            for (int i = threadIdx.x; i < n; i += blockDim.x) copy_async(&kept[off + i], &bias[i]);
        off += bias ? n : 0;
    }
}

/* KILN_CUDA_ROW_TAIL=warps (an A/B, unmeasured): a later layer from its transposed weights
 * in shared memory (keep_layers), a warp a column, WARP_COLS columns at a time (warp w's
 * columns w, w + warps, ...), its lanes along the column's k inputs (lane, lane + 32, ...),
 * the lanes' sums added by shuffles (a butterfly: every lane the same bits), one barrier a
 * layer; where layer_sums spreads a column over parts threads and adds their sums through
 * shared memory behind a barrier (two a layer). */
#define WARP_COLS 4

/* sum[g] for g < WARP_COLS: column col[g]'s k weights (contiguous) times in's k values, by
 * the warp's lanes along the inputs (lane, lane + 32, ...), the lanes' sums then added by
 * shuffles (a butterfly: every lane gets the same bits). */
__device__ static inline void warp_col_sums(const float *const *col, const float *in, int k, float *sum) {
    float acc[WARP_COLS];
    KN_UNROLL(WARP_COLS)
    for (int g = 0; g < WARP_COLS; g++) acc[g] = 0.0f;
    for (int p = (int)threadIdx.x & 31; p < k; p += 32) {
        float x = in[p], w[WARP_COLS];
        KN_UNROLL(WARP_COLS)
        for (int g = 0; g < WARP_COLS; g++) w[g] = col[g][p];
        KN_UNROLL(WARP_COLS)
        for (int g = 0; g < WARP_COLS; g++) acc[g] += x * w[g];
    }
    KN_UNROLL(WARP_COLS)
    for (int g = 0; g < WARP_COLS; g++) sum[g] = kn__warp_sum(acc[g]);
}
__device__ static void row_layer_warps(const kn__cu_chain_layer &L, const float *wt, const float *in, float *out) {
    const int warps = (int)blockDim.x >> 5, lane = (int)threadIdx.x & 31, ks = L.k + 1;
    for (int j0 = (int)threadIdx.x >> 5; j0 < L.n; j0 += warps * WARP_COLS) {
        const float *col[WARP_COLS]; /* (past n the last column again: no load conditional) */
        float acc[WARP_COLS], b[WARP_COLS];
        KN_UNROLL(WARP_COLS)
        for (int g = 0; g < WARP_COLS; g++) {
            int j = j0 + g * warps < L.n ? j0 + g * warps : L.n - 1;
            col[g] = wt + j * ks;
            b[g] = L.bias ? L.bias[j] : 0.0f;
        }
        warp_col_sums(col, in, L.k, acc);
        if (lane == 0) {
            KN_UNROLL(WARP_COLS)
            for (int g = 0; g < WARP_COLS; g++)
                if (j0 + g * warps < L.n) out[j0 + g * warps] = layer_finish(L, acc[g], b[g], 0.0f);
        }
    }
    __syncthreads();
}

/* KILN_CUDA_CHAIN_TIMING for the row kernel, whose phases all run on block 0: thread 0
 * reads its multiprocessor's clock at each phase's end into shared memory (a few cycles,
 * where chain_stamp's global read and atomics took about half a microsecond a phase, on
 * the critical path), and at the end turns the cycles into nanoseconds by the clock's rate
 * over the whole run, summed into the stamps as chain_stamp's are. */
struct row_clock {
    unsigned long long c0, t0;
    unsigned long long at[KN_CU_STAMP_RUNS]; /* (shared memory: the clock at each phase's end, 0: not reached) */
};
__device__ static void row_clock_start(const kn__cu_chain &ch, row_clock *rc) {
    if (!ch.stamps || threadIdx.x != 0) return;
    for (int s = 0; s < KN_CU_STAMP_RUNS; s++) rc->at[s] = 0;
    rc->c0 = kn__clock();
    rc->t0 = kn__now_ns();
}
__device__ static void row_clock_at(const kn__cu_chain &ch, row_clock *rc, int slot) {
    if (ch.stamps && threadIdx.x == 0) rc->at[slot] = kn__clock();
}
__device__ static void row_clock_end(const kn__cu_chain &ch, row_clock *rc) {
    if (!ch.stamps || threadIdx.x != 0) return;
    rc->at[KN_CU_STAMP_END] = kn__clock();
    unsigned long long cycles = rc->at[KN_CU_STAMP_END] - rc->c0, ns = kn__now_ns() - rc->t0;
    double per = cycles ? (double)ns / (double)cycles : 0.0;
    for (int s = 0; s < KN_CU_STAMP_RUNS; s++) {
        if (!rc->at[s]) continue;
        atomicAdd(&ch.stamps[s], (unsigned long long)((double)(rc->at[s] - rc->c0) * per));
        atomicAdd(&ch.stamps[KN_CU_STAMP_SLOTS + s], 1ull);
    }
    if (rc->at[KN_CU_STAMP_PARTS]) atomicAdd(&ch.stamps[KN_CU_STAMP_CYCLES], rc->at[KN_CU_STAMP_PARTS] - rc->c0);
    /* where block 0 ran against the run before (runs are one after another on the stream:
     * no other run's block 0 is here at the same time) */
    unsigned long long sm = (unsigned long long)kn__smid() + 1;
    if (ch.stamps[KN_CU_STAMP_SM]) ch.stamps[KN_CU_STAMP_SM_PAIRS]++;
    if (ch.stamps[KN_CU_STAMP_SM] == sm) ch.stamps[KN_CU_STAMP_SM_SAME]++;
    ch.stamps[KN_CU_STAMP_SM] = sm;
    atomicAdd(&ch.stamps[KN_CU_STAMP_RUNS], 1ull);
}

/* Layer 0's sums over this block's slice [p0, p1) of the inputs x (global or mapped host
 * memory), raw, into own (n0 values; layer_sums' forward arrangement: parts threads a
 * column, each column's parts added in order). The input crosses the bus from the host, so
 * its loads go first (a thread an input: the slice is at most KN_CU_ROW_SLICE =
 * ROW_THREADS), then each thread's first weights' loads, then (kept: block 0's) the later
 * layers' copies into shared memory, all waiting alongside the input; then the slice is
 * put in xin for every thread (rc: block 0's clock, the input's arrival stamped; else
 * NULL). */
template <int Tail>
__device__ static void row_layer0(const kn__cu_chain_layer &L, const float *x, int p0, int p1, float *xin, float *red,
                                  float *own, const kn__cu_chain &ch, row_clock *rc, float *kept) {
    const bool have = (int)threadIdx.x < p1 - p0;
    const float xv = have ? x[p0 + threadIdx.x] : 0.0f;
    const chain_spread sp = chain_spread_of(L.n, 32);
    const int parts = sp.parts, cols = sp.cols, j = sp.col, part = sp.part;
    int chunk = (p1 - p0 + parts - 1) >> sp.lp, q0 = p0 + part * chunk, q1 = q0 + chunk < p1 ? q0 + chunk : p1;
    bool mine = j < L.n; /* (cols >= n0: launch.h's KN_CU_ROW_WIDTH < ROW_THREADS) */
    float w[BATCH];
    KN_UNROLL(BATCH)
    for (int u = 0; u < BATCH; u++) w[u] = mine && q0 + u < q1 ? L.w[(int64_t)(q0 + u) * L.n + j] : 0.0f;
    if (kept) keep_layers<Tail>(ch, kept);
    if (have) xin[threadIdx.x] = xv;
    __syncthreads();
    if (rc) row_clock_at(ch, rc, KN_CU_STAMP_INPUT);
    float acc = 0.0f;
    KN_UNROLL(BATCH)
    for (int u = 0; u < BATCH; u++)
        if (q0 + u < q1) acc += xin[q0 + u - p0] * w[u];
    for (int pb = q0 + BATCH; mine && pb < q1; pb += BATCH) /* a part past BATCH inputs */
        acc = part_sum<BATCH>(L.w + j, L.n, xin + (pb - p0), pb, q1 - pb < BATCH ? q1 - pb : BATCH, acc);
    red[threadIdx.x] = acc;
    __syncthreads();
    if (part == 0 && mine) own[j] = parts_sum(red, parts, cols, j);
    __syncthreads();
}

/* A softmax over out's n values by warp 0 alone (shuffles, no block barrier but the last),
 * then the row written out when something reads it: layer_post's, for one row of at most
 * KN_CU_ROW_WIDTH; the same max, exponentials and sum (a different order of the sum). */
__device__ static void row_post(const kn__cu_chain_layer &L, float *out, float *red) {
    if (L.act != KN_SOFTMAX || L.backward) {
        layer_post(L, out, red, 0);
        return;
    }
    if (threadIdx.x < 32) {
        float mx = -INFINITY;
        for (int j = threadIdx.x; j < L.n; j += 32) mx = fmaxf(mx, out[j]);
        mx = kn__warp_max(mx);
        float sum = 0.0f;
        for (int j = threadIdx.x; j < L.n; j += 32) {
            float e = expf(out[j] - mx);
            out[j] = e;
            sum += e;
        }
        float inv = 1.0f / kn__warp_sum(sum);
        for (int j = threadIdx.x; j < L.n; j += 32) {
            out[j] *= inv;
            if (L.y) L.y[j] = out[j];
        }
    }
    __syncthreads();
}

/* KILN_CUDA_ROW_TAIL=warps_end (an A/B, unmeasured): the chain's last dense layer L, at most
 * 32 columns, and S, the softmax node ending the chain after it, by warp 0 alone, without a
 * barrier where a layer and a softmax node take three: its lanes along the k inputs of
 * WARP_COLS columns at a time (L's transposed weights wt), each column's sum by shuffles
 * (every lane holds it) and lane j keeping column j's; then the softmax across the lanes
 * with row_post's arithmetic (the max, the exponentials, 1 / their sum, each times it) and
 * the rows written out (L's own values too when something reads them). A dense layer never
 * carries a softmax of its own here: the fuse pass leaves softmax a node of its own. */
__device__ static void row_end_warp(const kn__cu_chain_layer &L, const float *wt, const float *in,
                                    const kn__cu_chain_layer &S) {
    if (threadIdx.x >= 32) return;
    const int lane = (int)threadIdx.x, ks = L.k + 1;
    const bool mine = lane < L.n;
    const float b = mine && L.bias ? L.bias[lane] : 0.0f;
    float v = 0.0f;
    for (int j0 = 0; j0 < L.n; j0 += WARP_COLS) {
        const float *col[WARP_COLS]; /* (past n the last column again: no load conditional) */
        float sum[WARP_COLS];
        KN_UNROLL(WARP_COLS)
        for (int g = 0; g < WARP_COLS; g++) col[g] = wt + (j0 + g < L.n ? j0 + g : L.n - 1) * ks;
        warp_col_sums(col, in, L.k, sum);
        KN_UNROLL(WARP_COLS)
        for (int g = 0; g < WARP_COLS; g++)
            if (lane == j0 + g) v = sum[g];
    }
    v = mine ? layer_finish(L, v, b, 0.0f) : 0.0f;
    if (L.y && mine) L.y[lane] = v;
    const float mx = kn__warp_max(mine ? v : -INFINITY);
    const float e = mine ? expf(v - mx) : 0.0f;
    const float inv = 1.0f / kn__warp_sum(e);
    if (S.y && mine) S.y[lane] = e * inv;
}

/* Block 0's later layers 1..n-1 (lay: their descriptors), from layer 0's values in act[0]:
 * each from kept (off: where layer 1's weights start there) when row_kept, else from global
 * memory; each stamped at layer slot l - 1 + slot0 (rc: block 0's clock). */
template <int Tail>
__device__ static void row_tail(const kn__cu_chain &ch, const kn__cu_chain_layer *lay, float (*act)[KN_CU_ROW_WIDTH],
                                const float *kept, int off, float *red, row_clock *rc, int slot0) {
    int cur = 0;
    for (int l = 1; l < ch.n; l++) {
        kn__cu_chain_layer L = lay[l];
        if (!L.w && L.act == KN_SOFTMAX) { /* a softmax node alone: in place, by warp 0 (no copy, no barrier) */
            row_post(L, act[cur], red);
            row_clock_at(ch, rc, chain_layer_slot(l + slot0));
            continue;
        }
        const float *in = act[cur];
        float *out = act[cur ^ 1];
        if (Tail && L.w && ch.row_kept) { /* transposed in shared memory: a warp a column */
            const float *wt = kept + off;
            off += L.n * (L.k + 1);
            if (L.bias) L.bias = kept + off, off += L.n;
            /* Tail 2: the last dense layer and the softmax node ending the chain, warp 0 alone */
            const bool end = l == ch.n - 2 && !lay[l + 1].w && lay[l + 1].act == KN_SOFTMAX;
            if (Tail == 2 && L.n <= 32 && end) {
                row_end_warp(L, wt, in, lay[l + 1]);
                row_clock_at(ch, rc, chain_layer_slot(l + slot0));
                row_clock_at(ch, rc, chain_layer_slot(l + 1 + slot0));
                return;
            }
            row_layer_warps(L, wt, in, out);
        } else if (L.w) {
            if (ch.row_kept) { /* from shared memory, where keep_layers put them */
                L.w = kept + off;
                off += L.k * L.n;
                if (L.bias) L.bias = kept + off, off += L.n;
            }
            /* (at most row_parts parts a column, 8 by default: products from shared memory
             * are cheap, and the parts are added one after another) */
            layer_sums(L, in, 0, L.k, red, out, true, 0, ch.row_parts);
        } else { /* an activation node alone */
            for (int j = threadIdx.x; j < L.n; j += blockDim.x) out[j] = kn__dev_act(L.act, L.alpha, in[j]);
            __syncthreads();
        }
        row_post(L, out, red);
        row_clock_at(ch, rc, chain_layer_slot(l + slot0));
        cur ^= 1;
    }
}

/* The cluster is the grid (KN_LAUNCH_CLUSTER: one cluster). Block b sums layer 0 over its
 * slice of the inputs, [b chunk, (b + 1) chunk), into own, then into block 0's part at b n0;
 * block 0 finishes layer 0 from the C parts and runs the later layers alone. The layers'
 * descriptors are read once into shared memory (each read of a kernel parameter's array
 * by a layer's index otherwise waits on the constant cache, a layer at a time). x: global
 * or mapped host memory, or the launch's parameters (dense_row_param_kernel). */
/* (Repeat: KILN_CUDA_ROW_REPEAT's kernel; Tail: KILN_CUDA_ROW_TAIL's, 1 warps, 2 warps_end;
 * each a kernel of its own, the default's code left as it was) */
template <bool Repeat, int Tail>
__device__ static void row_run(const kn__cu_chain &ch, const float *x) {
    __shared__ float xin[KN_CU_ROW_SLICE];
    __shared__ float red[ROW_THREADS];
    __shared__ float own[KN_CU_ROW_WIDTH];
    __shared__ float part[KN_CU_ROW_PARTS]; /* block 0's: every block's sums of layer 0, block b's at b n0 */
    __shared__ float act[2][KN_CU_ROW_WIDTH];
    __shared__ float kept[KN_CU_ROW_KEPT];
    __shared__ kn__cu_chain_layer lay[KN_CU_CHAIN_LAYERS];
    __shared__ row_clock rc;
    kn__pdl_wait();
    kn__pdl_trigger();
    const unsigned rank = kn__cluster_rank(), C = gridDim.x;
    const int n = ch.n;
    if (rank == 0) row_clock_start(ch, &rc);
    kn__cluster_arrive(); /* this block has started: its shared memory may be written (the first wait below) */
    const kn__cu_chain_layer L0 = ch.layer[0];
    const int chunk = ch.row_chunk, p0 = (int)rank * chunk < L0.k ? (int)rank * chunk : L0.k,
              p1 = p0 + chunk < L0.k ? p0 + chunk : L0.k; /* (the host's chunk: no division on the way to the input) */
    if (rank == 0 && (int)threadIdx.x < n) lay[threadIdx.x] = ch.layer[threadIdx.x];
    row_layer0<Tail>(L0, x, p0, p1, xin, red, own, ch, rank == 0 ? &rc : NULL, rank == 0 && ch.row_kept ? kept : NULL);
    if (rank == 0) row_clock_at(ch, &rc, KN_CU_STAMP_PARTS); /* (row_layer0's barriers made lay visible to block 0) */
    kn__cluster_wait(); /* every block has started */
    float *to = kn__cluster_map(part, 0) + rank * L0.n;
    for (int j = threadIdx.x; j < L0.n; j += blockDim.x) to[j] = own[j];
    kn__cluster_arrive();
    kn__cluster_wait(); /* every block's sums are in block 0's part */
    if (rank != 0) return; /* (nothing reads the other blocks' shared memory any more) */
    row_clock_at(ch, &rc, KN_CU_STAMP_HANDOFF);
    copy_wait();
    __syncthreads(); /* every thread's copies are in kept */
    const float *b0 = ch.row_kept ? kept : L0.bias;
    for (int j = threadIdx.x; j < L0.n; j += blockDim.x) {
        float s = 0.0f;
        for (unsigned q = 0; q < C; q++) s += part[q * L0.n + j];
        act[0][j] = layer_finish(L0, s, L0.bias ? b0[j] : 0.0f, 0.0f);
    }
    __syncthreads();
    row_post(L0, act[0], red);
    row_clock_at(ch, &rc, KN_CU_STAMP_LAYER0);
    const int off = L0.bias ? L0.n : 0;
    if (!Repeat) {
        row_tail<Tail>(ch, lay, act, kept, off, red, &rc, 0);
    } else { /* (own, block 0's sums, is free now: layer 0's values kept there for the second pass) */
        for (int j = threadIdx.x; j < L0.n; j += blockDim.x) own[j] = act[0][j];
        /* (one call site, not unrolled: the second pass runs the same instructions as the first) */
        KN_UNROLL(1)
        for (int pass = 0; pass < 2; pass++) {
            if (pass) {
                __syncthreads(); /* (the last layer's writes out may still read act) */
                for (int j = threadIdx.x; j < L0.n; j += blockDim.x) act[0][j] = own[j];
                __syncthreads();
            }
            row_tail<Tail>(ch, lay, act, kept, off, red, &rc, pass ? n - 1 : 0);
        }
    }
    if (ch.flag) chain_poll_publish(ch, 1);
    row_clock_end(ch, &rc);
}

template <bool Repeat, int Tail>
__global__ void __launch_bounds__(ROW_THREADS) dense_row_kernel(kn__cu_chain ch, const float *x) {
    row_run<Repeat, Tail>(ch, x);
}

/* The input in the parameters (__grid_constant__: read where the launch put it, through its
 * address, never copied per thread). */
template <int Tail>
__global__ void __launch_bounds__(ROW_THREADS)
    dense_row_param_kernel(kn__cu_chain ch, const __grid_constant__ kn__cu_row_input in) {
    row_run<false, Tail>(ch, in.v);
}

static_assert(sizeof(kn__cu_chain) + sizeof(kn__cu_row_input) <= 4096, "the parameters' input: 4 KB of parameters in all");

static bool row_launchable(const kn__cu_chain *ch) { return ch->cluster >= 1 && ch->cluster <= KN_CU_ROW_CLUSTER_MAX; }

extern "C" cudaError_t kn__cu_dense_row(cudaStream_t s, const kn__cu_chain *ch, const float *x, bool pdl) {
    if (!row_launchable(ch)) return cudaErrorInvalidValue;
    const unsigned C = (unsigned)ch->cluster;
    if (ch->row_repeat && ch->stamps && ch->n > 1) { /* (the diagnostic: the default's tail twice) */
        KN_LAUNCH_CLUSTER(pdl, (dense_row_kernel<true, 0>), C, ROW_THREADS, s, *ch, x);
    } else if (ch->row_tail == 2) {
        KN_LAUNCH_CLUSTER(pdl, (dense_row_kernel<false, 2>), C, ROW_THREADS, s, *ch, x);
    } else if (ch->row_tail == 1) {
        KN_LAUNCH_CLUSTER(pdl, (dense_row_kernel<false, 1>), C, ROW_THREADS, s, *ch, x);
    } else {
        KN_LAUNCH_CLUSTER(pdl, (dense_row_kernel<false, 0>), C, ROW_THREADS, s, *ch, x);
    }
    return cudaGetLastError();
}

extern "C" cudaError_t kn__cu_dense_row_param(cudaStream_t s, const kn__cu_chain *ch, const float *x, bool pdl) {
    const int k = ch->layer[0].k;
    if (!row_launchable(ch) || k < 1 || k > KN_CU_ROW_PARAM) return cudaErrorInvalidValue;
    kn__cu_row_input in;
    memcpy(in.v, x, (size_t)k * sizeof(float));
    memset(in.v + k, 0, (size_t)(KN_CU_ROW_PARAM - k) * sizeof(float)); /* (no stray bytes of this stack in the launch) */
    const unsigned C = (unsigned)ch->cluster;
    if (ch->row_tail == 2)
        KN_LAUNCH_CLUSTER(pdl, dense_row_param_kernel<2>, C, ROW_THREADS, s, *ch, in);
    else if (ch->row_tail == 1)
        KN_LAUNCH_CLUSTER(pdl, dense_row_param_kernel<1>, C, ROW_THREADS, s, *ch, in);
    else
        KN_LAUNCH_CLUSTER(pdl, dense_row_param_kernel<0>, C, ROW_THREADS, s, *ch, in);
    return cudaGetLastError();
}
