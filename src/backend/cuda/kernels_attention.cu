/* kernels_attention.cu — scaled dot-product attention over heads (KN_OP_ATTENTION) and its
 * gradient on the GPU, what backend/cpu/attention.c computes, without a (Tq, Tk) buffer:
 * the probabilities are rebuilt a chunk of 32 keys at a time from Q and K, with an online
 * softmax (a running max and sum, rescaled when the max grows). A block takes 8 rows of one
 * (sample, head), a warp a row; each chunk's 32 partners (keys for a query row, queries for
 * a key row) are a lane each. The dot products stage 64 columns of both sides at a time in
 * shared memory, and a block accumulates 128 output columns (4 a lane; wider heads take
 * more blocks along y, which recompute the scores), so any head width works with fixed
 * shared memory (27 KB). Everything is sums in a fixed order, no atomics: a run's bits are
 * the same every time. f32 only (half_support.c lists neither op). Dropout on the
 * probabilities (a training run, rate > 0) weighs the values by P W and the gradient of P by
 * dO.V W, W the CPU's keep factors (drawn here from the same key and element index).
 * Masks (a query and/or a key mask, cpu/attention.c's): a row sees the keys both keep; a
 * "blind" row (its query masked, or every key it could see masked) takes equal scores, so
 * uniform probabilities 1 / Tk over all keys (dropout on them as on any), and no dS; rows of
 * a masked block walk every key (a blind row weighs them all), the unmasked path as before.
 *
 *   forward   row i: O_i = sum_j P_ij V_j, P_i. = softmax(Q_i K^T scale) over the keys i sees
 *   backward  1) query rows: max m_i, 1/sum inv_i and D_i = sum_j P_ij dP_ij (dP_ij = dO_i.V_j)
 *                into stats (N*H*Tq*3 floats), then dQ_i = scale sum_j dS_ij K_j with
 *                dS_ij = P_ij (dP_ij - D_i)
 *             2) key rows (a launch after, reading the stats): dV_j = sum_i P_ij dO_i,
 *                dK_j = scale sum_i dS_ij Q_i; the same P as 1), bit for bit (the same dot
 *                products in the same column order, the same exp and multiply) */
#include "launch.h"
#include "device.cuh"
#include "dropout.cuh"

#include <limits.h>

#define WARPS 8               /* rows a block, a warp each */
#define THREADS (WARPS * 32)
#define CHUNK 32              /* partner rows a step, a lane each */
#define DT 64                 /* dot-product columns staged at a time */
#define COLS 128              /* output columns a block accumulates */
#define PER_LANE (COLS / 32)

/* Dropout's keep factor of probability (i, j) of sample n, head h: 0 or 1 / (1 - rate), the
 * CPU's mask (cpu/attention.c's apply_dropout: element ((n H + h) Tq + i) Tk + j of the mask
 * dropout.cuh draws); 1 when the run does not train. */
typedef kn__dev_drop drop_mask;

__device__ static inline drop_mask drop_of(const kn__cu_attention &d) {
    if (d.rate <= 0.0f || !d.step) return drop_mask{0, 0, 1.0f, false};
    return kn__dev_dropout(d.step, d.seed, d.drop_node, d.rate);
}

__device__ static inline float keep_factor(const drop_mask &k, const kn__cu_attention &d, int64_t n, int64_t h,
                                           int64_t i, int64_t j) {
    return k.on ? kn__dev_drop_keep(k, (uint64_t)(((n * d.H + h) * d.Tq + i) * d.Tk + j)) : 1.0f;
}

/* The key steps query step i sees (cpu/attention.c's seen). */
__device__ static inline int64_t seen_by(const kn__cu_attention &d, int64_t i) {
    return d.causal && i + 1 < d.Tk ? i + 1 : d.Tk;
}

/* Masks (cpu/attention.c's query_kept, key_kept and row_blind): whether sample n's query
 * step i and key step j count (a mask keeps a step above 0.5; no mask keeps all). */
__device__ static inline bool masks_on(const kn__cu_attention &d) { return d.qmask || d.kmask; }
__device__ static inline bool query_kept(const kn__cu_attention &d, int64_t n, int64_t i) {
    return !d.qmask || d.qmask[n * d.mask_w + i] > 0.5f;
}
__device__ static inline bool key_kept(const kn__cu_attention &d, int64_t n, int64_t j) {
    return !d.kmask || d.kmask[n * d.mask_w + j] > 0.5f;
}

/* The first key step sample n's key mask keeps (0 without one, Tk when it keeps none), by a
 * whole warp (every lane gets it): row i sees a key exactly when this is below seen_by(i). */
__device__ static inline int64_t first_kept_key(const kn__cu_attention &d, int64_t n) {
    if (!d.kmask) return 0;
    int lane = (int)threadIdx.x & 31;
    for (int64_t j0 = 0; j0 < d.Tk; j0 += 32) {
        bool kept = j0 + lane < d.Tk && key_kept(d, n, j0 + lane);
        float top = kn__warp_max(kept ? -(float)lane : -32.0f); /* minus the first kept lane */
        if (top > -32.0f) return j0 - (int64_t)top;
    }
    return d.Tk;
}

/* Whether query row i of sample n sees no key under the masks (first: first_kept_key's):
 * then its probabilities are uniform, 1 / Tk over all keys, and its scores get no gradient. */
__device__ static inline bool row_blind(const kn__cu_attention &d, int64_t n, int64_t i, int64_t first) {
    return masks_on(d) && (!query_kept(d, n, i) || first >= seen_by(d, i));
}

/* Whether row i (blind or not) weighs key j: a blind row every key, another the keys it
 * sees under the masks. */
__device__ static inline bool row_sees(const kn__cu_attention &d, int64_t n, int64_t i, bool blind, int64_t j) {
    return blind ? j < d.Tk : j < seen_by(d, i) && key_kept(d, n, j);
}

/* The keys a block of query rows walks (last_row: its last): all of them under masks (a
 * blind row weighs every key), else those the last row sees. */
__device__ static inline int64_t block_keys(const kn__cu_attention &d, int64_t last_row) {
    return masks_on(d) ? d.Tk : seen_by(d, last_row);
}

/* The online softmax's rescale of the sums so far under the new max top: 0 before any key
 * (m = -inf; also while a masked row has met no live key, top = -inf), 1 while the max holds
 * (a causal row past its keys included). */
__device__ static inline float rescale(bool row, float m, float top) {
    return row && top != -INFINITY ? expf(m - top) : 0.0f;
}

/* sh (nr, width; row stride ldsh) <- rows [r0, r0 + nr), columns [c0, c0 + width) of m
 * (row stride ld), zeros past rows or cols; by the whole block. Consecutive threads read
 * consecutive columns of a row. */
__device__ static inline void stage(float *sh, int nr, int width, int ldsh, const float *m, int64_t ld, int64_t r0,
                                    int64_t rows, int64_t c0, int64_t cols) {
    for (int e = (int)threadIdx.x; e < nr * width; e += (int)blockDim.x) {
        int r = e / width, c = e - r * width;
        sh[r * ldsh + c] = r0 + r < rows && c0 + c < cols ? m[(r0 + r) * ld + c0 + c] : 0.0f;
    }
}

/* Lane l of warp w: row a0 + w of a (row stride lda) dot row b0 + l of b (ldb) over n
 * columns, in column order (rows past ar / br read as zeros), staged DT columns at a time
 * through rows_sh (WARPS, DT) and chunk_sh (CHUNK, DT + 1: the lanes' rows one bank apart).
 * Every thread of the block calls it. */
__device__ static inline float chunk_dot(const float *a, int64_t lda, int64_t a0, int64_t ar, const float *b,
                                         int64_t ldb, int64_t b0, int64_t br, int64_t n, float *rows_sh,
                                         float *chunk_sh) {
    int warp = (int)threadIdx.x >> 5, lane = (int)threadIdx.x & 31;
    float s = 0.0f;
    for (int64_t d0 = 0; d0 < n; d0 += DT) {
        __syncthreads(); /* the tiles' last readers are done */
        stage(rows_sh, WARPS, DT, DT, a, lda, a0, ar, d0, n);
        stage(chunk_sh, CHUNK, DT, DT + 1, b, ldb, b0, br, d0, n);
        __syncthreads();
        int dn = n - d0 < DT ? (int)(n - d0) : DT;
        const float *x = rows_sh + warp * DT, *y = chunk_sh + lane * (DT + 1);
        for (int c = 0; c < dn; c++) s = fmaf(x[c], y[c], s);
    }
    return s;
}

/* acc[u] += sum over the chunk's rows t, in order, of w_t (lane t's w) times m[b0 + t][c0 +
 * lane + 32 u] (rows past `rows` and columns past `cols` count as zeros), the rows staged
 * through out_sh (CHUNK, COLS). Every thread of the block calls it. */
__device__ static inline void chunk_accumulate(float acc[PER_LANE], float w, const float *m, int64_t ld, int64_t b0,
                                               int64_t rows, int64_t c0, int64_t cols, float *out_sh) {
    int lane = (int)threadIdx.x & 31;
    int64_t left = cols - c0, nrow = rows - b0;
    int nu = left >= COLS ? PER_LANE : (int)((left + 31) / 32); /* the lanes' column groups in use */
    int nt = nrow >= CHUNK ? CHUNK : (int)nrow;
    __syncthreads(); /* out_sh's last readers are done */
    stage(out_sh, CHUNK, nu * 32, COLS, m, ld, b0, rows, c0, cols);
    __syncthreads();
    for (int t = 0; t < nt; t++) {
        float wt = __shfl_sync(0xffffffffu, w, t);
        for (int u = 0; u < PER_LANE; u++)
            if (u < nu) acc[u] = fmaf(wt, out_sh[t * COLS + lane + 32 * u], acc[u]);
    }
}

/* The block's (sample, head) and its first row: blocks run over (n, h) then tiles of WARPS rows. */
__device__ static inline void block_item(const kn__cu_attention &d, int64_t rows, int64_t *n, int64_t *h,
                                         int64_t *r0) {
    int64_t tiles = (rows + WARPS - 1) / WARPS, nh = blockIdx.x / tiles;
    *r0 = (blockIdx.x - nh * tiles) * WARPS;
    *n = nh / d.H;
    *h = nh - *n * d.H;
}

/* Sample n, head h's first column in q, k, v and (dout NULL: the forward) the output's
 * gradient: each a (steps, D) matrix of row stride H*D. */
struct head_view {
    const float *Q, *K, *V, *dO;
};

__device__ static inline head_view head_of(const kn__cu_attention &d, int64_t n, int64_t h, const float *q,
                                           const float *k, const float *v, const float *dout) {
    int64_t HDk = d.H * d.Dk, HDv = d.H * d.Dv;
    head_view hv = {q + n * d.Tq * HDk + h * d.Dk, k + n * d.Tk * HDk + h * d.Dk, v + n * d.Tk * HDv + h * d.Dv,
                    dout ? dout + n * d.Tq * HDv + h * d.Dv : NULL};
    return hv;
}

/* O (N, Tq*H*Dv): a warp a query row, output columns [c0, c0 + COLS) of its head. */
__global__ void attention_kernel(kn__cu_attention d, const float *q, const float *k, const float *v, float *o) {
    __shared__ float rows_sh[WARPS * DT], chunk_sh[CHUNK * (DT + 1)], out_sh[CHUNK * COLS];
    int warp = (int)threadIdx.x >> 5, lane = (int)threadIdx.x & 31;
    int64_t n, h, i0, HDk = d.H * d.Dk, HDv = d.H * d.Dv, c0 = (int64_t)blockIdx.y * COLS;
    block_item(d, d.Tq, &n, &h, &i0);
    head_view hv = head_of(d, n, h, q, k, v, NULL);
    const float *Q = hv.Q, *K = hv.K, *V = hv.V;
    int64_t i = i0 + warp, last_row = i0 + WARPS < d.Tq ? i0 + WARPS - 1 : d.Tq - 1;
    bool row = i < d.Tq;
    int64_t first = first_kept_key(d, n), keys = block_keys(d, last_row); /* the block's keys */
    bool blind = row && row_blind(d, n, i, first);
    float m = -INFINITY, l = 0.0f, acc[PER_LANE] = {0.0f};
    drop_mask dm = drop_of(d);
    for (int64_t j0 = 0; j0 < keys; j0 += CHUNK) {
        float s = chunk_dot(Q, HDk, i0, d.Tq, K, HDk, j0, d.Tk, d.Dk, rows_sh, chunk_sh) * d.scale;
        bool live = row && row_sees(d, n, i, blind, j0 + lane);
        if (blind) s = 0.0f; /* equal scores: uniform probabilities, l = Tk */
        float top = fmaxf(m, kn__warp_max(live ? s : -INFINITY));
        float alpha = rescale(row, m, top), p = live ? expf(s - top) : 0.0f;
        l = l * alpha + kn__warp_sum(p); /* the sum before dropout: it normalizes P */
        for (int u = 0; u < PER_LANE; u++) acc[u] *= alpha;
        float w = live ? keep_factor(dm, d, n, h, i, j0 + lane) : 0.0f;
        chunk_accumulate(acc, p * w, V, HDv, j0, d.Tk, c0, d.Dv, out_sh);
        m = top;
    }
    if (!row) return;
    float *O = o + n * d.Tq * HDv + h * d.Dv + i * HDv;
    for (int u = 0; u < PER_LANE; u++) {
        int64_t c = c0 + lane + 32 * u;
        if (c < d.Dv) O[c] = acc[u] / l;
    }
}

/* Backward, query rows: stats (N*H*Tq, 3) <- (m, inv, D) of each row (blocks of y = 0), and
 * dQ (columns [0, Tq*H*Dk) of out's rows) for columns [c0, c0 + COLS) of the head. */
__global__ void attention_query_grad_kernel(kn__cu_attention d, const float *dout, const float *q, const float *k,
                                            const float *v, float *out, float *stats) {
    __shared__ float rows_sh[WARPS * DT], chunk_sh[CHUNK * (DT + 1)], out_sh[CHUNK * COLS];
    int warp = (int)threadIdx.x >> 5, lane = (int)threadIdx.x & 31;
    int64_t n, h, i0, HDk = d.H * d.Dk, HDv = d.H * d.Dv, c0 = (int64_t)blockIdx.y * COLS;
    int64_t OW = (d.Tq + d.Tk) * HDk + d.Tk * HDv;
    block_item(d, d.Tq, &n, &h, &i0);
    head_view hv = head_of(d, n, h, q, k, v, dout);
    const float *Q = hv.Q, *K = hv.K, *V = hv.V, *dO = hv.dO;
    int64_t i = i0 + warp, last_row = i0 + WARPS < d.Tq ? i0 + WARPS - 1 : d.Tq - 1;
    bool row = i < d.Tq;
    int64_t first = first_kept_key(d, n), keys = block_keys(d, last_row);
    bool blind = row && row_blind(d, n, i, first);
    /* pass 1, online as the forward: m, the exponentials' sum l, and sum_j e_ij dP_ij */
    float m = -INFINITY, l = 0.0f, edp = 0.0f;
    drop_mask dm = drop_of(d);
    for (int64_t j0 = 0; j0 < keys; j0 += CHUNK) {
        float s = chunk_dot(Q, HDk, i0, d.Tq, K, HDk, j0, d.Tk, d.Dk, rows_sh, chunk_sh) * d.scale;
        bool live = row && row_sees(d, n, i, blind, j0 + lane);
        if (blind) s = 0.0f; /* (as the forward's) */
        /* dP: the gradient of the probability before dropout, dO.V times its keep factor */
        float dp = chunk_dot(dO, HDv, i0, d.Tq, V, HDv, j0, d.Tk, d.Dv, rows_sh, chunk_sh) *
                   (live ? keep_factor(dm, d, n, h, i, j0 + lane) : 0.0f);
        float top = fmaxf(m, kn__warp_max(live ? s : -INFINITY));
        float alpha = rescale(row, m, top), e = live ? expf(s - top) : 0.0f;
        l = l * alpha + kn__warp_sum(e);
        edp = edp * alpha + kn__warp_sum(e * dp);
        m = top;
    }
    float inv = row ? 1.0f / l : 0.0f, D = edp * inv;
    if (row && blockIdx.y == 0 && lane == 0) {
        float *st = stats + ((n * d.H + h) * d.Tq + i) * 3;
        st[0] = m, st[1] = inv, st[2] = D;
    }
    /* pass 2: P as the CPU forms it (exp(s - max) times 1/sum), dS, dQ; a blind row's dS is
     * 0 (its scores are constants), so is its dQ */
    float acc[PER_LANE] = {0.0f};
    for (int64_t j0 = 0; j0 < keys; j0 += CHUNK) {
        float s = chunk_dot(Q, HDk, i0, d.Tq, K, HDk, j0, d.Tk, d.Dk, rows_sh, chunk_sh) * d.scale;
        bool live = row && !blind && row_sees(d, n, i, false, j0 + lane);
        float dp = chunk_dot(dO, HDv, i0, d.Tq, V, HDv, j0, d.Tk, d.Dv, rows_sh, chunk_sh) *
                   (live ? keep_factor(dm, d, n, h, i, j0 + lane) : 0.0f);
        float p = live ? expf(s - m) * inv : 0.0f;
        chunk_accumulate(acc, p * (dp - D), K, HDk, j0, d.Tk, c0, d.Dk, out_sh);
    }
    if (!row) return;
    float *dQ = out + n * OW + h * d.Dk + i * HDk;
    for (int u = 0; u < PER_LANE; u++) {
        int64_t c = c0 + lane + 32 * u;
        if (c < d.Dk) dQ[c] = acc[u] * d.scale;
    }
}

/* Backward, key rows (after the query rows' launch: reads its stats): dK and dV of a warp's
 * key row j, columns [c0, c0 + COLS) of each; a key no query sees (causal, j >= Tq; masked)
 * gets zeros, but for a blind query row's uniform share of dV. */
__global__ void attention_key_grad_kernel(kn__cu_attention d, const float *dout, const float *q, const float *k,
                                          const float *v, float *out, const float *stats) {
    __shared__ float rows_sh[WARPS * DT], chunk_sh[CHUNK * (DT + 1)], out_sh[CHUNK * COLS];
    int warp = (int)threadIdx.x >> 5, lane = (int)threadIdx.x & 31;
    int64_t n, h, j0, HDk = d.H * d.Dk, HDv = d.H * d.Dv, c0 = (int64_t)blockIdx.y * COLS;
    int64_t OW = (d.Tq + d.Tk) * HDk + d.Tk * HDv;
    block_item(d, d.Tk, &n, &h, &j0);
    head_view hv = head_of(d, n, h, q, k, v, dout);
    const float *Q = hv.Q, *K = hv.K, *V = hv.V, *dO = hv.dO;
    const float *S = stats + (n * d.H + h) * d.Tq * 3;
    int64_t j = j0 + warp;
    bool key = j < d.Tk;
    float acc_k[PER_LANE] = {0.0f}, acc_v[PER_LANE] = {0.0f};
    drop_mask dm = drop_of(d);
    int64_t first = first_kept_key(d, n);
    /* causal: query i sees key j when j <= i (or i is past the last key), so none before j0;
     * under masks a blind row before j0 weighs key j too */
    for (int64_t i0 = d.causal && !masks_on(d) ? j0 : 0; i0 < d.Tq; i0 += CHUNK) {
        int64_t i = i0 + lane;
        float s = chunk_dot(K, HDk, j0, d.Tk, Q, HDk, i0, d.Tq, d.Dk, rows_sh, chunk_sh) * d.scale;
        float dp = chunk_dot(V, HDv, j0, d.Tk, dO, HDv, i0, d.Tq, d.Dv, rows_sh, chunk_sh);
        float p = 0.0f, ds = 0.0f, w = 0.0f;
        bool blind = key && i < d.Tq && row_blind(d, n, i, first);
        if (blind) { /* uniform, the CPU's 1 / Tk; no gradient to the scores */
            w = keep_factor(dm, d, n, h, i, j);
            p = 1.0f / (float)d.Tk;
        } else if (key && i < d.Tq && row_sees(d, n, i, false, j)) {
            const float *st = S + i * 3;
            w = keep_factor(dm, d, n, h, i, j);
            p = expf(s - st[0]) * st[1];
            ds = p * (dp * w - st[2]);
        }
        chunk_accumulate(acc_v, p * w, dO, HDv, i0, d.Tq, c0, d.Dv, out_sh); /* dV: the dropped P */
        chunk_accumulate(acc_k, ds, Q, HDk, i0, d.Tq, c0, d.Dk, out_sh);
    }
    if (!key) return;
    float *dK = out + n * OW + d.Tq * HDk + h * d.Dk + j * HDk, *dV = out + n * OW + (d.Tq + d.Tk) * HDk + h * d.Dv + j * HDv;
    for (int u = 0; u < PER_LANE; u++) {
        int64_t c = c0 + lane + 32 * u;
        if (c < d.Dk) dK[c] = acc_k[u] * d.scale;
        if (c < d.Dv) dV[c] = acc_v[u];
    }
}

/* The grid of a launch over `rows` rows per (sample, head) and `cols` output columns;
 * false when it exceeds what a launch takes (x: 2^31 - 1 blocks, y: 65535). */
static bool grid_of(const kn__cu_attention *d, int64_t rows, int64_t cols, dim3 *grid) {
    int64_t x = d->N * d->H * ((rows + WARPS - 1) / WARPS), y = (cols + COLS - 1) / COLS;
    if (x > INT_MAX || y > 65535) return false;
    *grid = dim3((unsigned)x, (unsigned)y);
    return true;
}

extern "C" cudaError_t kn__cu_attention_forward(cudaStream_t s, const kn__cu_attention *d, const float *q,
                                                const float *k, const float *v, float *o) {
    dim3 grid;
    if (d->N <= 0) return cudaGetLastError();
    if (!grid_of(d, d->Tq, d->Dv, &grid)) return cudaErrorInvalidConfiguration;
    attention_kernel<<<grid, THREADS, 0, s>>>(*d, q, k, v, o);
    return cudaGetLastError();
}

extern "C" cudaError_t kn__cu_attention_backward(cudaStream_t s, const kn__cu_attention *d, const float *dout,
                                                 const float *q, const float *k, const float *v, float *out,
                                                 float *stats) {
    dim3 gq, gk;
    if (d->N <= 0) return cudaGetLastError();
    if (!grid_of(d, d->Tq, d->Dk, &gq) || !grid_of(d, d->Tk, d->Dk > d->Dv ? d->Dk : d->Dv, &gk))
        return cudaErrorInvalidConfiguration;
    attention_query_grad_kernel<<<gq, THREADS, 0, s>>>(*d, dout, q, k, v, out, stats);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    attention_key_grad_kernel<<<gk, THREADS, 0, s>>>(*d, dout, q, k, v, out, stats);
    return cudaGetLastError();
}
