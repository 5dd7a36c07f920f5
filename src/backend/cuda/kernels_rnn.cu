/* kernels_rnn.cu — the recurrent layers' per-step cell kernels (KN_OP_RNN, KN_OP_RNN_GRAD)
 * and the slice's gradient on the GPU. The cell math is backend/rnn_cell.h, the header the
 * CPU kernels' scalar path (cpu/rnn.c) calls, so both backends compute the same float
 * operations per unit there (the CPU's vectorized path for the default activations rounds
 * its exponentials otherwise); the products between the steps (h_s U forward, d r_s U^T backward) are cuBLASLt's,
 * enqueued by ops.c between these launches. One thread per (row, unit): it reads and writes
 * only its own unit's gates, states and gradients, so a step's kernel has no data shared
 * between threads; what the next step needs from all units goes through the product, a
 * separate launch on the same stream. A mask (kn__cu_rnn's) drops steps per row as
 * cpu/rnn.c does: the thread copies its unit's state on instead of running the cell.
 * Recurrent dropout (d.hm) as cpu/rnn.c: each step also writes its unit's h times the row's
 * keep factor into the masked states, which the next product reads instead of h; backwards
 * that product's gradient arrives in its own buffer (dh_prod) and the next step's thread adds
 * it times the same factor to its dh_rec (the direct part, its own unit's). The factors are
 * dropout's draws (dropout.cuh) under the node's key at the step values on the device, so a
 * replayed capture draws each step's mask; each thread draws its own unit's. */
#include "launch.h"
#include "device.cuh"
#include "dropout.cuh"
#include "backend/rnn_cell.h"

#define THREADS 256

static unsigned blocks_for(int64_t n) {
    int64_t b = (n + THREADS - 1) / THREADS;
    return (unsigned)(b < 1 ? 1 : b > 65535 * 4 ? 65535 * 4 : b);
}
#define GRID_STRIDE(i, n) for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

/* ------------------------------------------------------------- slice's gradient */

/* dy (rows, w) -> dx (rows, cols): dy in columns [off, off + w), zeros elsewhere */
__global__ void slice_grad_kernel(const float *dy, float *dx, int64_t rows, int64_t cols, int64_t off, int64_t w) {
    GRID_STRIDE(i, rows * cols) {
        int64_t r = i / cols, j = i - r * cols - off;
        dx[i] = j >= 0 && j < w ? dy[r * w + j] : 0.0f;
    }
}

extern "C" cudaError_t kn__cu_slice_grad(cudaStream_t s, const float *dy, float *dx, int64_t rows, int64_t cols,
                                         int64_t off, int64_t w) {
    if (rows > 0 && cols > 0) slice_grad_kernel<<<blocks_for(rows * cols), THREADS, 0, s>>>(dy, dx, rows, cols, off, w);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- the recurrent steps */

/* Where processing step s (0 first) of a sequence lies, as cpu/rnn.c places it: its time t,
 * the states row's index of the h it reads (hp) and of the one it writes (ho), and the time
 * of the previous step's lstm cell state (ct, -1 for the first step). In order: h_0 = 0 at
 * index 0, time t's output at t + 1. Reversed (iparam[5], go_backwards, where the graph
 * has it), everything stays in time order: time t's output at index t, the zero state at
 * index T, and step s (time T-1-s) reads index t + 1. */
typedef struct {
    int64_t t, hp, ho, ct;
} step_at;

__device__ static inline step_at step_of(const kn__cu_rnn &d, int64_t s) {
    if (!d.reverse) return step_at{s, s, s + 1, s - 1};
    int64_t t = d.T - 1 - s;
    return step_at{t, t + 1, t, s > 0 ? t + 1 : -1};
}

/* Whether row n's time t is a step its mask drops (cpu/rnn.c's dropped: kept where > 0.5). */
__device__ static inline bool dropped(const kn__cu_rnn &d, int64_t n, int64_t t) {
    return d.mask && !(d.mask[n * d.T + t] > 0.5f);
}

/* Recurrent dropout's mask (d.hm > 0): off without one, and, as cpu/rnn.c's keep_factor, when
 * the run does not train or the rate rounds to a threshold of 0 (the CPU then scales nothing
 * either); row n's factor of unit j is dropout's draw of element n H + j. */
__device__ static inline kn__dev_drop rnn_drop_of(const kn__cu_rnn &d) {
    if (!d.hm) return kn__dev_drop{0, 0, 1.0f, false};
    kn__dev_drop m = kn__dev_dropout(d.step, d.seed, d.drop_node, d.rate);
    m.on = m.on && m.threshold != 0;
    return m;
}

__device__ static inline float rnn_keep(const kn__dev_drop &m, const kn__cu_rnn &d, int64_t n, int64_t j) {
    return m.on ? kn__dev_drop_keep(m, (uint64_t)(n * d.H + j)) : 1.0f;
}

/* Forward step s, unit j of row n: the recurrent term r = b_r + prod (either may be absent:
 * prod is NULL at s = 0, which reads the zero state, written here) into the states row, as
 * cpu/rnn.c's memcpy of b_r and its product with beta 1 leave it, then the cell (h, lstm c);
 * at a step the mask drops, instead of the cell, cpu/rnn.c's carry_state: h at ho copied
 * from hp and (lstm) c from the previous step's (0 before the first). With recurrent dropout,
 * after either, the masked state h times the keep factor at hm (the zero state's too at s = 0). */
__global__ void rnn_step_kernel(kn__cu_rnn d, int64_t s, const float *xw, const float *prod, const float *br,
                                float *y) {
    int64_t H = d.H, GH = d.G * H, roff = (d.T + 1) * H, coff = roff + d.T * GH;
    step_at at = step_of(d, s);
    kn__dev_drop m = rnn_drop_of(d);
    GRID_STRIDE(k, d.N * H) {
        int64_t n = k / H, j = k - n * H;
        float *row = y + n * d.W, *r = row + roff + at.t * GH;
        if (s == 0) { /* the initial state (and its masked copy) */
            row[at.hp * H + j] = 0.0f;
            if (d.hm) row[d.hm + at.hp * H + j] = 0.0f;
        }
        for (int64_t q = 0; q < d.G; q++) {
            int64_t c = q * H + j;
            float v = br ? br[c] : 0.0f;
            if (prod) v = br ? v + prod[n * GH + c] : prod[n * GH + c];
            r[c] = v;
        }
        float c_prev = d.cell == KN_RNN_LSTM && at.ct >= 0 ? row[coff + at.ct * H + j] : 0.0f, c = 0.0f;
        if (dropped(d, n, at.t)) { /* the previous state carried on */
            row[at.ho * H + j] = row[at.hp * H + j];
            c = c_prev;
        } else {
            kn__rnn_cell_forward(d.cell, d.act, d.ract, xw + n * d.T * GH + at.t * GH + j, r + j, H, row[at.hp * H + j],
                                 c_prev, &row[at.ho * H + j], &c);
        }
        if (d.cell == KN_RNN_LSTM) row[coff + at.t * H + j] = c;
        if (d.hm) row[d.hm + at.ho * H + j] = row[at.ho * H + j] * rnn_keep(m, d, n, j); /* what the product reads */
    }
}

extern "C" cudaError_t kn__cu_rnn_step(cudaStream_t s, const kn__cu_rnn *d, int64_t step, const float *xw,
                                       const float *prod, const float *br, float *y) {
    if (d->N > 0 && d->H > 0) rnn_step_kernel<<<blocks_for(d->N * d->H), THREADS, 0, s>>>(*d, step, xw, prod, br, y);
    return cudaGetLastError();
}

/* A step the mask drops, backwards (cpu/rnn.c's masked branch of backward_rows): its h was
 * the previous one, so dh passes whole to the previous h (the direct part, to which the
 * caller's product adds d r U^T with beta 1), dc passes unchanged, and the step's d xw (and
 * a gru's d r) are 0. Unit j's columns, gates H apart. */
__device__ static inline void dropped_back(const kn__cu_rnn &d, int64_t j, float dh, float dcn, float *dxw, float *dr,
                                           float *dh_prev, float *dc_prev) {
    for (int64_t q = 0; q < d.G; q++) {
        dxw[q * d.H + j] = 0.0f;
        if (d.cell == KN_RNN_GRU) dr[q * d.H + j] = 0.0f;
    }
    *dh_prev = dh;
    *dc_prev = dcn;
}

/* Backward step s, unit j of row n, as cpu/rnn.c's backward_rows: dh = the step's output
 * gradient plus dh_rec (the recurrence's part, left by the product after the step processed
 * after this one; 0 for the last, first), then the cell's backward (or, at a step the mask
 * drops, dropped_back); dh_rec and dc take this step's direct parts of its previous h's
 * and c's gradients. With recurrent dropout (dh_prod: the product d r U^T of the step
 * processed before, (N, H)), the recurrence's part is dh_rec + dh_prod times the unit's keep
 * factor, summed in cpu/rnn.c's order (the direct part first). */
__global__ void rnn_back_step_kernel(kn__cu_rnn d, int64_t s, bool first, const float *dy, const float *xw,
                                     const float *y, float *out, int64_t OW, float *dh_rec, float *dc,
                                     const float *dh_prod) {
    int64_t H = d.H, GH = d.G * H, roff = (d.T + 1) * H, coff = roff + d.T * GH;
    bool gru = d.cell == KN_RNN_GRU, lstm = d.cell == KN_RNN_LSTM;
    step_at at = step_of(d, s);
    kn__dev_drop m = rnn_drop_of(d);
    GRID_STRIDE(k, d.N * H) {
        int64_t n = k / H, j = k - n * H;
        const float *row = y + n * d.W;
        float *dxw = out + n * OW + at.t * GH, *dr = gru ? out + n * OW + (d.T + at.t) * GH : dxw;
        float rec = first ? 0.0f : dh_rec[k], dcn = first ? 0.0f : dc[k];
        if (dh_prod && !first) rec += dh_prod[k] * rnn_keep(m, d, n, j);
        float dh = dy[n * d.W + at.ho * H + j] + rec;
        float dh_prev, dc_prev;
        if (dropped(d, n, at.t)) {
            dropped_back(d, j, dh, dcn, dxw, dr, &dh_prev, &dc_prev);
        } else {
            float c_prev = lstm && at.ct >= 0 ? row[coff + at.ct * H + j] : 0.0f;
            float c = lstm ? row[coff + at.t * H + j] : 0.0f;
            kn__rnn_cell_backward(d.cell, d.act, d.ract, xw + n * d.T * GH + at.t * GH + j, row + roff + at.t * GH + j,
                                  H, row[at.hp * H + j], c_prev, c, dh, dcn, dxw + j, dr + j, &dh_prev, &dc_prev);
        }
        dh_rec[k] = dh_prev;
        dc[k] = dc_prev;
    }
}

extern "C" cudaError_t kn__cu_rnn_back_step(cudaStream_t s, const kn__cu_rnn *d, int64_t step, bool first,
                                            const float *dy, const float *xw, const float *y, float *out, int64_t ow,
                                            float *dh_rec, float *dc, const float *dh_prod) {
    if (d->N > 0 && d->H > 0)
        rnn_back_step_kernel<<<blocks_for(d->N * d->H), THREADS, 0, s>>>(*d, step, first, dy, xw, y, out, ow, dh_rec,
                                                                         dc, dh_prod);
    return cudaGetLastError();
}
