/* rnn.c — the recurrent layers' CPU kernels (KN_OP_RNN, KN_OP_RNN_GRAD): the whole
 * sequence in one node, a step at a time. Each step is one product of the batch's previous
 * states with the recurrent kernel (N x H x G*H, kn__sgemm on the context's threads) and a
 * loop over the units applying the cell (rnn_cell.h, shared with the CUDA kernels). The
 * forward keeps every step's recurrent term and (lstm) cell state in its output row, so the
 * backward recomputes no product: it walks the steps backwards, one product a step for the
 * state's gradient through U. U's own gradient is one product over all steps, built by the
 * graph (graph/ops_rnn.c). A mask (Keras's, graph.h): at a dropped step a row's h (and c)
 * is copied on from the step before after the cell ran; backwards its gradient passes
 * straight to the previous state and the step's input and recurrent terms get none.
 * Recurrent dropout (fparam[0]): each step also writes its h times the row's keep factors
 * into the row's masked states (h itself when not training), which the products read;
 * backwards the product d r U^T goes to its own buffer and reaches dh_prev times the same
 * factors, beside the direct part. */
#include "cpu.h"
#include "sgemm.h"
#include "backend/rnn_cell.h"

#include <string.h>

/* The default activations (tanh, and sigmoid for the gates: Keras's and PyTorch's) take a
 * vectorized path: a block of units at a time, every gate's exponential in one kn__vexp
 * call (libm's expf and tanhf, a call each per unit and gate, were 85% of an LSTM's step).
 * sigmoid(z) = 1 / (1 + e^-z) and tanh(z) = 2 sigmoid(2z) - 1; the slopes come from the
 * values (s (1 - s), 1 - t^2). Any other activation takes rnn_cell.h's scalar formulas. */
enum { BLK = 16 };

static inline float sig_of(float e) { return 1.0f / (1.0f + e); }       /* e = exp(-z) */
static inline float tanh_of(float e) { return 2.0f / (1.0f + e) - 1.0f; } /* e = exp(-2z) */

/* Units [j, j + nb) of one row, one step: xw and r point at unit 0 of the row's step (gates
 * H apart); hp, cp: the previous h and c of the row (cp NULL for the first step), h, c: out. */
static void fast_forward(int cell, const float *xw, const float *r, int64_t H, int64_t j, int64_t nb,
                         const float *hp, const float *cp, float *h, float *c) {
    float e[4 * BLK] = {0}; /* (lanes past nb stay 0: kn__vexp reads whole blocks) */
    if (cell == KN_RNN_LSTM) {
        for (int g = 0; g < 4; g++)
            for (int64_t k = 0; k < nb; k++) {
                float z = xw[g * H + j + k] + r[g * H + j + k];
                e[g * BLK + k] = g == 2 ? -2.0f * z : -z;
            }
        kn__vexp(e, e, 4 * BLK);
        float cc[BLK] = {0};
        for (int64_t k = 0; k < nb; k++) {
            float i = sig_of(e[k]), f = sig_of(e[BLK + k]), gg = tanh_of(e[2 * BLK + k]);
            cc[k] = f * (cp ? cp[j + k] : 0.0f) + i * gg;
            c[j + k] = cc[k];
            e[k] = -2.0f * cc[k];
        }
        kn__vexp(e, e, BLK);
        for (int64_t k = 0; k < nb; k++) h[j + k] = sig_of(e[3 * BLK + k]) * tanh_of(e[k]);
    } else if (cell == KN_RNN_GRU) {
        for (int g = 0; g < 2; g++)
            for (int64_t k = 0; k < nb; k++) e[g * BLK + k] = -(xw[g * H + j + k] + r[g * H + j + k]);
        kn__vexp(e, e, 2 * BLK);
        float z[BLK] = {0};
        for (int64_t k = 0; k < nb; k++) {
            z[k] = sig_of(e[k]);
            e[2 * BLK + k] = -2.0f * (xw[2 * H + j + k] + sig_of(e[BLK + k]) * r[2 * H + j + k]);
        }
        kn__vexp(e + 2 * BLK, e + 2 * BLK, BLK);
        for (int64_t k = 0; k < nb; k++) h[j + k] = z[k] * hp[j + k] + (1.0f - z[k]) * tanh_of(e[2 * BLK + k]);
    } else {
        for (int64_t k = 0; k < nb; k++) e[k] = -2.0f * (xw[j + k] + r[j + k]);
        kn__vexp(e, e, BLK);
        for (int64_t k = 0; k < nb; k++) h[j + k] = tanh_of(e[k]);
    }
}

/* The backward of fast_forward's units: dh in (this step's total), dcn: the next step's cell
 * gradient (lstm; written back with this step's dc_prev); dxw, dr out (gates H apart, dr
 * only for a gru), dhp out: the direct part of h_prev's gradient (gru's dh z; else 0). h:
 * this step's output, c: its cell state (lstm). */
static void fast_backward(int cell, const float *xw, const float *r, int64_t H, int64_t j, int64_t nb,
                          const float *hp, const float *cp, const float *h, const float *c, const float *dh, float *dcn,
                          float *dxw, float *dr, float *dhp) {
    float e[5 * BLK] = {0};
    if (cell == KN_RNN_LSTM) {
        for (int g = 0; g < 4; g++)
            for (int64_t k = 0; k < nb; k++) {
                float z = xw[g * H + j + k] + r[g * H + j + k];
                e[g * BLK + k] = g == 2 ? -2.0f * z : -z;
            }
        for (int64_t k = 0; k < nb; k++) e[4 * BLK + k] = -2.0f * c[j + k];
        kn__vexp(e, e, 5 * BLK);
        for (int64_t k = 0; k < nb; k++) {
            float i = sig_of(e[k]), f = sig_of(e[BLK + k]), gg = tanh_of(e[2 * BLK + k]), o = sig_of(e[3 * BLK + k]);
            float tc = tanh_of(e[4 * BLK + k]), d = dh[j + k];
            float dcell = d * o * (1.0f - tc * tc) + dcn[j + k];
            dxw[j + k] = dcell * gg * i * (1.0f - i);
            dxw[H + j + k] = dcell * (cp ? cp[j + k] : 0.0f) * f * (1.0f - f);
            dxw[2 * H + j + k] = dcell * i * (1.0f - gg * gg);
            dxw[3 * H + j + k] = d * tc * o * (1.0f - o);
            dcn[j + k] = dcell * f;
            dhp[j + k] = 0.0f;
        }
    } else if (cell == KN_RNN_GRU) {
        for (int g = 0; g < 2; g++)
            for (int64_t k = 0; k < nb; k++) e[g * BLK + k] = -(xw[g * H + j + k] + r[g * H + j + k]);
        kn__vexp(e, e, 2 * BLK);
        for (int64_t k = 0; k < nb; k++)
            e[2 * BLK + k] = -2.0f * (xw[2 * H + j + k] + sig_of(e[BLK + k]) * r[2 * H + j + k]);
        kn__vexp(e + 2 * BLK, e + 2 * BLK, BLK);
        for (int64_t k = 0; k < nb; k++) {
            float z = sig_of(e[k]), rg = sig_of(e[BLK + k]), n = tanh_of(e[2 * BLK + k]), d = dh[j + k];
            float dpn = d * (1.0f - z) * (1.0f - n * n);
            float dpz = d * (hp[j + k] - n) * z * (1.0f - z);
            float dpr = dpn * r[2 * H + j + k] * rg * (1.0f - rg);
            dxw[j + k] = dr[j + k] = dpz;
            dxw[H + j + k] = dr[H + j + k] = dpr;
            dxw[2 * H + j + k] = dpn;
            dr[2 * H + j + k] = dpn * rg;
            dhp[j + k] = d * z;
        }
    } else {
        for (int64_t k = 0; k < nb; k++) {
            dxw[j + k] = dh[j + k] * (1.0f - h[j + k] * h[j + k]);
            dhp[j + k] = 0.0f;
        }
    }
}

typedef struct {
    int cell, act, ract;
    int64_t N, H, T, G;
    bool fast;               /* the default activations: the vectorized path */
    bool reverse;            /* go_backwards: the steps run from the last time to the first */
    int64_t hm;              /* recurrent dropout: the masked states' offset in a row; 0: none */
    uint64_t drop_key;       /* in a training run: the keep factors' element key */
    uint32_t drop_threshold; /* (0: every factor 1, not training) */
    float drop_scale;
} rnn_dims;

/* Where processing step s (0 first) of a sequence lies: its time t, the states row's index of
 * the state it reads (hp) and of the one it writes (ho), and the time of the previous
 * step's cell state (ct, -1 for the first step). Forward: h_0 = 0 at index 0, time t's
 * output at t + 1. Reversed, everything stays in time order: time t's output at index t,
 * the zero state at index T, and step s (time T-1-s) reads index t + 1. */
typedef struct { int64_t t, hp, ho, ct; } step_at;
static step_at step_of(const rnn_dims *d, int64_t s) {
    if (!d->reverse) return (step_at){s, s, s + 1, s - 1};
    int64_t t = d->T - 1 - s;
    return (step_at){t, t + 1, t, s > 0 ? t + 1 : -1};
}

static rnn_dims dims_of(const kn_graph *g, const kn_tensor *rnn_node, int64_t rows) {
    rnn_dims d = {rnn_node->iparam[0], rnn_node->iparam[3], rnn_node->iparam[4], rows, rnn_node->iparam[1],
                  rnn_node->iparam[2], 0, false, false, 0, 0, 0, 1.0f};
    d.G = kn__rnn_gates(d.cell);
    d.fast = d.act == KN_TANH && (d.ract == KN_SIGMOID || d.cell == KN_RNN_SIMPLE);
    d.reverse = (rnn_node->iparam[5] & KN__RNN_REVERSE) != 0;
    float rate = rnn_node->fparam[0];
    if (rate > 0.0f) {
        d.hm = kn__rnn_hm_offset(d.cell, d.H, d.T);
        if (g->training)
            d.drop_key = kn__cpu_dropout_key(g, (uint32_t)rnn_node->iparam[5] >> KN__RNN_KEY_SHIFT, rate,
                                             &d.drop_threshold, &d.drop_scale);
    }
    return d;
}

/* out[j] = a[j] * (row n's keep factor of unit j) + (acc ? out[j] : 0) over the row's H
 * units: the factors are dropout.c's draws of elements n H + j (1 when not training), one
 * 64-bit draw for each four elements. */
static void times_keep(const rnn_dims *d, int64_t n, const float *a, float *out, bool acc) {
    uint64_t r = 0;
    for (int64_t j = 0; j < d->H; j++) {
        float f = 1.0f;
        if (d->drop_threshold) {
            uint64_t e = (uint64_t)(n * d->H + j);
            if (j == 0 || (e & 3) == 0) r = kn__rng_draw(d->drop_key, e >> 2);
            f = (uint32_t)(r >> (16 * (e & 3)) & 0xffffu) >= d->drop_threshold ? d->drop_scale : 0.0f;
        }
        out[j] = acc ? out[j] + a[j] * f : a[j] * f;
    }
}

/* One step's units over rows [lo, hi). */
typedef struct {
    rnn_dims d;
    int64_t s, W;            /* the step; the states row's width */
    const float *xw;         /* (N, T*G*H) */
    float *y;                /* (N, W) states */
    const float *mask;       /* (N, T), or NULL */
} step_args;

/* Whether row n's time t is a step its mask drops. */
static inline bool dropped(const float *mask, const rnn_dims *d, int64_t n, int64_t t) {
    return mask && !(mask[n * d->T + t] > 0.5f);
}

/* A dropped step: the previous state carried on (h at ho from hp; c from the step before, or
 * 0 before the first). */
static void carry_state(const rnn_dims *d, float *row, const step_at *at, float *cs, const float *cp) {
    memcpy(row + at->ho * d->H, row + at->hp * d->H, (size_t)d->H * sizeof *row);
    if (cs) {
        if (cp) memcpy(cs, cp, (size_t)d->H * sizeof *cs);
        else memset(cs, 0, (size_t)d->H * sizeof *cs);
    }
}

static void forward_rows(void *p, int64_t lo, int64_t hi) {
    const step_args *a = p;
    const rnn_dims *d = &a->d;
    int64_t GH = d->G * d->H, roff = (d->T + 1) * d->H, coff = roff + d->T * GH;
    for (int64_t n = lo / d->H; n < hi / d->H; n++) { /* whole rows: the range is in units, a multiple of H */
        step_at at = step_of(d, a->s);
        const float *xw = a->xw + n * d->T * GH + at.t * GH;
        float *row = a->y + n * a->W;
        const float *r = row + roff + at.t * GH;
        bool lstm = d->cell == KN_RNN_LSTM;
        float *cs = lstm ? row + coff + at.t * d->H : NULL;                     /* this step's cell state */
        const float *cp = lstm && at.ct >= 0 ? row + coff + at.ct * d->H : NULL; /* the previous step's */
        if (dropped(a->mask, d, n, at.t)) {
            carry_state(d, row, &at, cs, cp);
        } else if (d->fast) {
            for (int64_t j = 0; j < d->H; j += BLK)
                fast_forward(d->cell, xw, r, d->H, j, d->H - j < BLK ? d->H - j : BLK, row + at.hp * d->H, cp,
                             row + at.ho * d->H, cs);
        } else {
            for (int64_t j = 0; j < d->H; j++) {
                float c = 0.0f;
                kn__rnn_cell_forward(d->cell, d->act, d->ract, xw + j, r + j, d->H, row[at.hp * d->H + j],
                                     cp ? cp[j] : 0.0f, &row[at.ho * d->H + j], &c);
                if (lstm) cs[j] = c;
            }
        }
        if (d->hm) { /* the state the next step's product reads */
            times_keep(d, n, row + at.ho * d->H, row + d->hm + at.ho * d->H, false);
        }
    }
}

/* (xw, U, b_r) -> states (N, W). */
void kn__cpu_rnn(kn_graph *g, kn_tensor *t) {
    rnn_dims d = dims_of(g, t, t->ne[0]);
    int64_t GH = d.G * d.H, W = t->ne[1], roff = (d.T + 1) * d.H;
    const float *U = t->src[1]->data, *br = t->src[2] ? t->src[2]->data : NULL;
    float *y = t->data;
    int threads = kn__gemm_threads(g, d.N, GH, d.H);
    int64_t h0 = d.reverse ? d.T : 0; /* the zero initial state's index */
    for (int64_t n = 0; n < d.N; n++) {
        memset(y + n * W + h0 * d.H, 0, (size_t)d.H * sizeof *y);
        if (d.hm) memset(y + n * W + d.hm + h0 * d.H, 0, (size_t)d.H * sizeof *y);
    }
    step_args a = {d, 0, W, t->src[0]->data, y, t->src[3] ? t->src[3]->data : NULL};
    for (int64_t s = 0; s < d.T; s++) {
        step_at at = step_of(&d, s);
        float *r = y + roff + at.t * GH; /* this step's recurrent term, row stride W */
        for (int64_t n = 0; n < d.N; n++) {
            if (br) memcpy(r + n * W, br, (size_t)GH * sizeof *r);
            else memset(r + n * W, 0, (size_t)GH * sizeof *r);
        }
        if (s > 0) /* the initial state is zero: the first step's term is the bias */
            kn__sgemm(false, false, d.N, GH, d.H, 1.0f, y + d.hm + at.hp * d.H, W, U, GH, 1.0f, r, W, threads);
        a.s = s;
        kn__parallel_for(g, d.N * d.H, d.H, forward_rows, &a);
    }
}

typedef struct {
    rnn_dims d;
    int64_t s, W, OW;
    const float *dy, *xw, *y;
    float *out, *dh_rec, *dc;  /* dh_rec: in, the recurrence's part of dh; out, the direct part of dh_prev */
    const float *mask;         /* (N, T), or NULL */
    const float *dh_prod;      /* recurrent dropout: the product d r U^T (N, H), not yet times the factors */
} back_args;

static void backward_rows(void *p, int64_t lo, int64_t hi) {
    const back_args *a = p;
    const rnn_dims *d = &a->d;
    int64_t H = d->H, GH = d->G * H, roff = (d->T + 1) * H, coff = roff + d->T * GH;
    step_at at = step_of(d, a->s);
    int64_t t = at.t;
    bool gru = d->cell == KN_RNN_GRU, lstm = d->cell == KN_RNN_LSTM;
    for (int64_t n = lo / H; n < hi / H; n++) { /* whole rows (the range is in units, a multiple of H) */
        const float *row = a->y + n * a->W, *dyrow = a->dy + n * a->W;
        const float *xw = a->xw + n * d->T * GH + t * GH, *r = row + roff + t * GH;
        float *dxw = a->out + n * a->OW + t * GH, *dr = gru ? a->out + n * a->OW + (d->T + t) * GH : dxw;
        const float *cp = lstm && at.ct >= 0 ? row + coff + at.ct * H : NULL, *cs = lstm ? row + coff + t * H : NULL;
        if (a->dh_prod) /* the product's part of dh arrives through the keep factors */
            times_keep(d, n, a->dh_prod + n * H, a->dh_rec + n * H, true);
        if (dropped(a->mask, d, n, t)) { /* h_prev carried on: its whole gradient; c's passes as it is */
            float *dh = a->dh_rec + n * H;
            const float *dyh = dyrow + at.ho * H;
            for (int64_t j = 0; j < H; j++) dh[j] += dyh[j];
            memset(dxw, 0, (size_t)GH * sizeof *dxw);
            if (gru) memset(dr, 0, (size_t)GH * sizeof *dr);
            continue;
        }
        if (d->fast) {
            float *dh = a->dh_rec + n * H; /* in: the recurrence's part; then the total; out: the direct part */
            const float *dyh = dyrow + at.ho * H;
            for (int64_t j = 0; j < H; j++) dh[j] += dyh[j];
            for (int64_t j = 0; j < H; j += BLK)
                fast_backward(d->cell, xw, r, H, j, H - j < BLK ? H - j : BLK, row + at.hp * H, cp, row + at.ho * H,
                              cs, dh, a->dc + n * H, dxw, dr, dh);
            continue;
        }
        for (int64_t j = 0; j < H; j++) {
            int64_t k = n * H + j;
            float dh = dyrow[at.ho * H + j] + a->dh_rec[k];
            float c_prev = cp ? cp[j] : 0.0f, c = cs ? cs[j] : 0.0f;
            float dh_prev, dc_prev;
            kn__rnn_cell_backward(d->cell, d->act, d->ract, xw + j, r + j, H, row[at.hp * H + j], c_prev, c, dh, a->dc[k],
                                  dxw + j, dr + j, &dh_prev, &dc_prev);
            a->dh_rec[k] = dh_prev;
            a->dc[k] = dc_prev;
        }
    }
}

size_t kn__cpu_rnn_grad_scratch(const kn_graph *g, const kn_tensor *t) {
    (void)g;
    int buffers = t->src[3]->fparam[0] > 0.0f ? 3 : 2; /* dh_rec, dc (, dh_prod) */
    return (size_t)(buffers * t->ne[0] * t->src[3]->iparam[1]) * sizeof(float);
}

/* (d states, xw, U, states) -> d xw (N, T*G*H) [, a gru's d r (N, T*G*H)] */
void kn__cpu_rnn_grad(kn_graph *g, kn_tensor *t) {
    const kn_tensor *st = t->src[3];
    rnn_dims d = dims_of(g, st, t->ne[0]);
    int64_t GH = d.G * d.H, W = st->ne[1], OW = t->ne[1];
    size_t bytes = kn__cpu_rnn_grad_scratch(g, t);
    float *scratch = kn__cpu_scratch(g, t, bytes);
    if (!scratch) return;
    memset(scratch, 0, bytes);
    float *dh_prod = d.hm ? scratch + 2 * d.N * d.H : NULL;
    back_args a = {d, 0, W, OW, t->src[0]->data, t->src[1]->data, st->data, t->data, scratch, scratch + d.N * d.H,
                   t->src[4] ? t->src[4]->data : NULL, dh_prod};
    const float *U = t->src[2]->data;
    int threads = kn__gemm_threads(g, d.N, d.H, GH);
    int64_t dr_off = d.cell == KN_RNN_GRU ? d.T * GH : 0; /* where d r lies in an output row */
    for (int64_t s = d.T - 1; s >= 0; s--) {
        a.s = s;
        kn__parallel_for(g, d.N * d.H, d.H, backward_rows, &a);
        /* the previous state's gradient through U: dh_rec = d r_s U^T (+ the direct part: a
         * gru's, and a dropped step's whole gradient; 0 otherwise); with recurrent dropout the
         * product alone, to dh_prod, which the next step's rows add times the keep factors */
        if (s > 0)
            kn__sgemm(false, true, d.N, d.H, GH, 1.0f, a.out + dr_off + step_of(&d, s).t * GH, OW, U, GH,
                      !dh_prod && (d.cell == KN_RNN_GRU || a.mask) ? 1.0f : 0.0f, dh_prod ? dh_prod : a.dh_rec, d.H,
                      threads);
    }
    kn__cpu_scratch_done(g, t, scratch);
}
