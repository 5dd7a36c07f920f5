/* chain.cuh — the pieces of a chain of dense layers (launch.h's kn__cu_chain) that both of
 * its kernels share: kernels_chain.cu's dense_chain_kernel (a block a row, its first layer
 * split over blocks) and kernels_row.cu's dense_row_kernel (a single row over a thread-block
 * cluster): a block's reduction, a layer's sums over its inputs with the bias and the
 * activation, the softmax and the write of a layer's row, and the timing stamps. Each
 * output sums its k products in a fixed order, so a run gives the same bits every time. */
#ifndef KN_CUDA_CHAIN_CUH
#define KN_CUDA_CHAIN_CUH

#include "launch.h"
#include "device.cuh"

/* The block's max (max != 0) or sum of v over its threads, every thread gets it: each warp
 * by shuffles, then warp 0 over the warps' results through red, in a fixed tree (two
 * barriers where a shared-memory tree takes nine). */
__device__ static float block_reduce(float v, float *red, bool max) {
    v = max ? kn__warp_max(v) : kn__warp_sum(v);
    int warps = (int)(blockDim.x + 31) / 32, lane = (int)threadIdx.x % 32;
    if (lane == 0) red[threadIdx.x / 32] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        float w = lane < warps ? red[lane] : max ? -INFINITY : 0.0f;
        w = max ? kn__warp_max(w) : kn__warp_sum(w);
        if (lane == 0) red[32] = w;
    }
    __syncthreads();
    float r = red[32];
    __syncthreads(); /* red is reused by the next reduction */
    return r;
}

/* Layer L's value from its sum s over k: its bias b (0 without one) and activation, or,
 * going backward, the activation's derivative at v. A softmax is applied by the caller.
 * The callers load b and v before the sums, so that those loads wait alongside the
 * weights' instead of after them. */
__device__ static float layer_finish(const kn__cu_chain_layer &L, float s, float b, float v) {
    if (L.bias) s += b; /* (not + 0.0f without one: -0.0 stays -0.0) */
    return L.backward ? kn__dev_act_grad(L.act, L.alpha, s, v) : L.act == KN_SOFTMAX ? s : kn__dev_act(L.act, L.alpha, s);
}

/* The loads a thread issues together before it sums them (in order), where a loop would
 * otherwise wait on each: weights of a forward layer, rows of a weight gradient (a split
 * layer's parts: twice as many). */
#define BATCH 16

/* The outputs a warp of the backward mode takes at a time (a warp per output, its lanes
 * along the output's weight row): their loads all in flight before any sum waits. */
#define BWD_GROUP 8

/* How a forward layer's n columns spread over the block (blockDim.x a power of two): parts
 * = 2^lp threads a column, the most up to max_parts (a power of two) that still gives a
 * pass of cols = blockDim.x / parts >= n columns; this thread's column and part. Shifts and
 * masks only: an integer division by a value known only at run time is a chain of
 * dependent instructions, and the seven this took by divisions cost a small layer about a
 * third of its 3300 cycles on the H200 (bench/gpu/layer_probe.cu). */
struct chain_spread {
    int parts, lp, cols, col, part;
};
__device__ static inline chain_spread chain_spread_of(int n, int max_parts) {
    /* lp: the most, up to log2(max_parts), with blockDim.x >> lp >= n; n's ceiling log2 by
     * a count of leading zeros, in closed form (a loop's compares wait on one another) */
    const int lb = __ffs((int)blockDim.x) - 1, lmax = __ffs(max_parts) - 1, ln = n > 1 ? 32 - __clz(n - 1) : 0;
    int lp = lb - ln < lmax ? lb - ln : lmax;
    lp = lp > 0 ? lp : 0;
    chain_spread sp;
    sp.lp = lp;
    sp.parts = 1 << lp;
    sp.cols = (int)blockDim.x >> lp;
    sp.col = (int)threadIdx.x & (sp.cols - 1);
    sp.part = (int)threadIdx.x >> (lb - lp);
    return sp;
}

/* acc plus the sum, in order, of in[u] times weight (p + u, j) for u < cnt (1 <= cnt <= B),
 * column j's weights at wj[p n]: B loads at once (past cnt the last weight again: no load
 * conditional, so all issue before the first sum waits). */
template <int B>
__device__ static inline float part_sum(const float *wj, int n, const float *in, int p, int cnt, float acc) {
    const float *w0 = wj + p * n;
    float w[B];
    KN_UNROLL(B)
    for (int u = 0; u < B; u++) w[u] = w0[(u < cnt ? u : cnt - 1) * n];
    KN_UNROLL(B)
    for (int u = 0; u < B; u++)
        if (u < cnt) acc += in[u] * w[u];
    return acc;
}

/* Column col's parts (red[q cols + col], q < parts) added in order, 8 loads at a time (past
 * parts the last again: no load conditional). */
__device__ static inline float parts_sum(const float *red, int parts, int cols, int col) {
    float s = 0.0f;
    for (int qb = 0; qb < parts; qb += 8) {
        float v[8];
        KN_UNROLL(8)
        for (int u = 0; u < 8; u++) v[u] = red[(qb + u < parts ? qb + u : parts - 1) * cols + col];
        KN_UNROLL(8)
        for (int u = 0; u < 8; u++)
            if (qb + u < parts) s += v[u];
    }
    return s;
}

/* dst[j] for each of L's n columns: the sum over inputs p0 <= p < p1 of in[p - p0] times
 * weight (p, j), finished (layer_finish) or, for a split layer's part, raw. Backward, a warp
 * per output along its weight row (j, .), BWD_GROUP outputs at once; forward, the columns go
 * in passes of cols = THREADS / parts columns, parts threads per column (parts: the power
 * of two, at most max_parts, that spreads the inputs over the block when n is small),
 * coalesced along a weight row; each column sums its parts in order. Every load a pass needs is issued before its
 * sums wait (the loops unrolled, no load conditional, the bias and v loaded first): the
 * chain is latency-bound, a block per row running its layers one after another (a load
 * under a condition was issued just before its sum, one after another: 3300 cycles for a
 * 64 x 64 layer on the H200 where its arrangement with constant sizes takes 600). */
__device__ static void layer_sums(const kn__cu_chain_layer &L, const float *in, int p0, int p1, float *red, float *dst,
                                  bool finish, int64_t r, int max_parts = 32) {
    if (L.backward) { /* weight row j is contiguous: a warp per output, its lanes along the row (coalesced) */
        int warps = (int)blockDim.x / 32, lane = (int)threadIdx.x % 32, w = (int)threadIdx.x / 32;
        for (int j0 = w; j0 < L.n; j0 += warps * BWD_GROUP) {
            float acc[BWD_GROUP], v[BWD_GROUP];
            KN_UNROLL(BWD_GROUP)
            for (int q = 0; q < BWD_GROUP; q++) {
                int j = j0 + q * warps;
                acc[q] = 0.0f;
                v[q] = finish && lane == 0 && j < L.n ? L.v[r * L.n + j] : 0.0f;
            }
            const float *row[BWD_GROUP]; /* output j's weight row (the last row for j past n: no load conditional) */
            KN_UNROLL(BWD_GROUP)
            for (int q = 0; q < BWD_GROUP; q++) {
                int j = j0 + q * warps;
                row[q] = L.w + (int64_t)(j < L.n ? j : L.n - 1) * L.k;
            }
            for (int p = p0 + lane; p < p1; p += 32) {
                float x = in[p - p0], wv[BWD_GROUP];
                KN_UNROLL(BWD_GROUP)
                for (int q = 0; q < BWD_GROUP; q++) wv[q] = row[q][p];
                KN_UNROLL(BWD_GROUP)
                for (int q = 0; q < BWD_GROUP; q++)
                    if (j0 + q * warps < L.n) acc[q] += x * wv[q];
            }
            KN_UNROLL(BWD_GROUP)
            for (int q = 0; q < BWD_GROUP; q++) acc[q] = kn__warp_sum(acc[q]);
            if (lane == 0) {
                KN_UNROLL(BWD_GROUP)
                for (int q = 0; q < BWD_GROUP; q++) {
                    int j = j0 + q * warps;
                    if (j < L.n) dst[j] = finish ? layer_finish(L, acc[q], 0.0f, v[q]) : acc[q];
                }
            }
        }
        __syncthreads();
        return;
    }
    const chain_spread sp = chain_spread_of(L.n, max_parts);
    const int parts = sp.parts, cols = sp.cols, col = sp.col, part = sp.part;
    int chunk = (p1 - p0 + parts - 1) >> sp.lp, q0 = p0 + part * chunk, q1 = q0 + chunk < p1 ? q0 + chunk : p1;
    const int n = L.n;
    for (int j0 = 0; j0 < n; j0 += cols) {
        int j = j0 + col;
        float acc = 0.0f, b = finish && part == 0 && j < n && L.bias ? L.bias[j] : 0.0f;
        if (j < n) {
            const float *wj = L.w + j; /* column j: weight (p, j) at wj[p n] */
            if (q1 > q0 && q1 - q0 <= BATCH / 2) /* (a short part: half the loads) */
                acc = part_sum<BATCH / 2>(wj, n, in + (q0 - p0), q0, q1 - q0, acc);
            else /* (none for a part past the inputs) */
                for (int pb = q0; pb < q1; pb += BATCH)
                    acc = part_sum<BATCH>(wj, n, in + (pb - p0), pb, q1 - pb < BATCH ? q1 - pb : BATCH, acc);
        }
        red[threadIdx.x] = acc;
        __syncthreads();
        if (part == 0 && j < n) {
            float s = parts_sum(red, parts, cols, col);
            dst[j] = finish ? layer_finish(L, s, b, 0.0f) : s;
        }
        __syncthreads();
    }
}

/* After layer L's values are in out: a softmax over the row (max, exp, sum, normalize, as
 * softmax_kernel), then the row written out when something reads it. */
__device__ static void layer_post(const kn__cu_chain_layer &L, float *out, float *red, int64_t r) {
    if (L.act == KN_SOFTMAX && !L.backward) {
        float mx = -INFINITY;
        for (int j = threadIdx.x; j < L.n; j += blockDim.x) mx = fmaxf(mx, out[j]);
        mx = block_reduce(mx, red, true);
        float sum = 0.0f;
        for (int j = threadIdx.x; j < L.n; j += blockDim.x) {
            float e = expf(out[j] - mx);
            out[j] = e;
            sum += e;
        }
        float inv = 1.0f / block_reduce(sum, red, false);
        for (int j = threadIdx.x; j < L.n; j += blockDim.x) out[j] *= inv;
        __syncthreads();
    }
    if (L.y)
        for (int j = threadIdx.x; j < L.n; j += blockDim.x) L.y[r * L.n + j] = out[j];
}

/* KILN_CUDA_CHAIN_TIMING (kn__cu_chain's stamps): row 0's phase `slot` ended, by thread 0 of
 * the block running it: the nanoseconds since block (0, 0) started the run, summed over
 * runs, and the runs that had it counted. (Block (0, 0)'s start is visible to the block
 * stamping: it is that block, or comes after the fence and counter that follow the start.) */
__device__ static void chain_stamp(const kn__cu_chain &ch, int64_t r, int slot) {
    if (!ch.stamps || r != 0 || threadIdx.x != 0) return;
    unsigned long long now = kn__now_ns(), start = ((volatile unsigned long long *)ch.stamps)[KN_CU_STAMP_START];
    if (slot == KN_CU_STAMP_PARTS) /* (by block (0, 0), which started the run: the same multiprocessor's clock) */
        atomicAdd(&ch.stamps[KN_CU_STAMP_CYCLES], kn__clock() - ((volatile unsigned long long *)ch.stamps)[KN_CU_STAMP_START_CLOCK]);
    atomicAdd(&ch.stamps[slot], now - start);
    atomicAdd(&ch.stamps[KN_CU_STAMP_SLOTS + slot], 1ull); /* (a phase some runs have: a training run's loss) */
    if (slot == KN_CU_STAMP_END) atomicAdd(&ch.stamps[KN_CU_STAMP_RUNS], 1ull);
}
/* The run's start, by thread 0 of block (0, 0): its time and its multiprocessor's clock. */
__device__ static void chain_stamp_start(const kn__cu_chain &ch) {
    ((volatile unsigned long long *)ch.stamps)[KN_CU_STAMP_START_CLOCK] = kn__clock();
    ((volatile unsigned long long *)ch.stamps)[KN_CU_STAMP_START] = kn__now_ns();
}
__device__ static int chain_layer_slot(int l) {
    int s = l == 0 ? KN_CU_STAMP_LAYER0 : KN_CU_STAMP_LAYERS + l - 1;
    return s < KN_CU_STAMP_LOSS ? s : KN_CU_STAMP_LOSS - 1;
}

/* A polled run (kn__cu_chain's flag): once this block's outputs are out, the last of the
 * run's rows to finish counts the run and tells the host (every thread of the block calls it). */
__device__ static void chain_poll_publish(const kn__cu_chain &ch, int64_t rows) {
    __threadfence_system(); /* (each thread's writes of the outputs, to the mapped staging) */
    __syncthreads();
    if (threadIdx.x == 0 && atomicAdd(&ch.poll[0], 1u) == (unsigned)rows - 1) {
        ch.poll[0] = 0;
        uint32_t runs = ch.poll[1] + 1;
        ch.poll[1] = runs;
        __threadfence_system();
        kn__publish_sys(ch.flag, runs);
    }
}

#endif
