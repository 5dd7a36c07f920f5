/* rnn_cell.h — the recurrent cells' formulas at one unit of one row, shared by the CPU
 * kernels (cpu/rnn.c) and the CUDA kernels, so that both backends compute the same float
 * operations (as act_formulas.h for the activations). Keras's cells:
 *
 *   simple: h = act(z),                       z = x W + b + h_prev U
 *   lstm:   z = x W + b + h_prev U = (zi, zf, zc, zo)
 *           i = ract(zi), f = ract(zf), g = act(zc), o = ract(zo)
 *           c = f c_prev + i g,  h = o act(c)
 *   gru:    x W + b_x = (xz, xr, xh),  h_prev U + b_r = (rz, rr, rh)   (reset_after)
 *           z = ract(xz + rz), r = ract(xr + rr), n = act(xh + r rh)
 *           h = z h_prev + (1 - z) n
 *
 * Gates of a row are H apart. Slopes are taken from the pre-activations (never from the
 * outputs), so any activation works. Include after kiln.h. */
#ifndef KN_RNN_CELL_H
#define KN_RNN_CELL_H

#include "act_formulas.h"

/* The activations a cell allows (kn__rnn_act_ok): all but softmax (a row's, not a unit's)
 * and gelu (its erf form lives in the activation kernels only). */
KN_ACT_FN int kn__rnn_act_ok(int kind) { return kind != KN_SOFTMAX && kind != KN_GELU && kind >= 0 && kind < KN_ACTIVATION_COUNT; }

KN_ACT_FN float kn__rnn_act(int kind, float x) {
    switch (kind) {
    case KN_TANH: return tanhf(x);
    case KN_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case KN_RELU: return x > 0.0f ? x : 0.0f;
    case KN_LEAKY_RELU: return x > 0.0f ? x : 0.2f * x;
    case KN_ELU: return x > 0.0f ? x : expm1f(x);
    case KN_LINEAR: return x;
    default: return kn__act_value(kind, x);
    }
}

KN_ACT_FN float kn__rnn_slope(int kind, float x) {
    switch (kind) {
    case KN_TANH: {
        float t = tanhf(x);
        return 1.0f - t * t;
    }
    case KN_SIGMOID: {
        float s = 1.0f / (1.0f + expf(-x));
        return s * (1.0f - s);
    }
    case KN_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case KN_LEAKY_RELU: return x > 0.0f ? 1.0f : 0.2f;
    case KN_ELU: return x > 0.0f ? 1.0f : expf(x);
    case KN_LINEAR: return 1.0f;
    default: return kn__act_slope(kind, x);
    }
}

/* Forward, one unit: xw (its step's input term, gates H apart), r (the recurrent term,
 * h_prev U + b_r, likewise), h_prev and (lstm) c_prev; writes h and (lstm) c. */
KN_ACT_FN void kn__rnn_cell_forward(int cell, int act, int ract, const float *xw, const float *r, long long H,
                                    float h_prev, float c_prev, float *h, float *c) {
    if (cell == 1) { /* lstm */
        float i = kn__rnn_act(ract, xw[0] + r[0]), f = kn__rnn_act(ract, xw[H] + r[H]);
        float g = kn__rnn_act(act, xw[2 * H] + r[2 * H]), o = kn__rnn_act(ract, xw[3 * H] + r[3 * H]);
        float cc = f * c_prev + i * g;
        *c = cc;
        *h = o * kn__rnn_act(act, cc);
    } else if (cell == 2) { /* gru */
        float z = kn__rnn_act(ract, xw[0] + r[0]), rg = kn__rnn_act(ract, xw[H] + r[H]);
        float n = kn__rnn_act(act, xw[2 * H] + rg * r[2 * H]);
        *h = z * h_prev + (1.0f - z) * n;
    } else {
        *h = kn__rnn_act(act, xw[0] + r[0]);
    }
}

/* Backward, one unit: dh (the loss's gradient of h, this step's output and the next step's
 * recurrence together) and (lstm) dc_next (the next step's cell gradient through its f);
 * writes the gradients of the pre-activations: dxw (the input term's, gates H apart) and,
 * for a gru, dr (the recurrent term's, which differs in the candidate: times r), and the
 * parts of h_prev's and c_prev's gradients that do not go through U: *dh_prev (gru: dh z;
 * 0 otherwise) and (lstm) *dc_prev. */
KN_ACT_FN void kn__rnn_cell_backward(int cell, int act, int ract, const float *xw, const float *r, long long H,
                                     float h_prev, float c_prev, float c, float dh, float dc_next, float *dxw,
                                     float *dr, float *dh_prev, float *dc_prev) {
    if (cell == 1) { /* lstm */
        float zi = xw[0] + r[0], zf = xw[H] + r[H], zc = xw[2 * H] + r[2 * H], zo = xw[3 * H] + r[3 * H];
        float i = kn__rnn_act(ract, zi), f = kn__rnn_act(ract, zf), g = kn__rnn_act(act, zc);
        float o = kn__rnn_act(ract, zo);
        float dcell = dh * o * kn__rnn_slope(act, c) + dc_next;
        dxw[0] = dcell * g * kn__rnn_slope(ract, zi);
        dxw[H] = dcell * c_prev * kn__rnn_slope(ract, zf);
        dxw[2 * H] = dcell * i * kn__rnn_slope(act, zc);
        dxw[3 * H] = dh * kn__rnn_act(act, c) * kn__rnn_slope(ract, zo);
        *dc_prev = dcell * f;
        *dh_prev = 0.0f;
    } else if (cell == 2) { /* gru */
        float pz = xw[0] + r[0], pr = xw[H] + r[H];
        float z = kn__rnn_act(ract, pz), rg = kn__rnn_act(ract, pr);
        float pn = xw[2 * H] + rg * r[2 * H], n = kn__rnn_act(act, pn);
        float dpn = dh * (1.0f - z) * kn__rnn_slope(act, pn);
        float dpz = dh * (h_prev - n) * kn__rnn_slope(ract, pz);
        float dpr = dpn * r[2 * H] * kn__rnn_slope(ract, pr);
        dxw[0] = dr[0] = dpz;
        dxw[H] = dr[H] = dpr;
        dxw[2 * H] = dpn;
        dr[2 * H] = dpn * rg;
        *dh_prev = dh * z;
        *dc_prev = 0.0f;
    } else {
        dxw[0] = dh * kn__rnn_slope(act, xw[0] + r[0]);
        *dh_prev = *dc_prev = 0.0f;
    }
}

/* Gates per cell, and the floats of a states row (KN_OP_RNN's output): h_0 .. h_T, the
 * recurrent terms of steps 1 .. T, then (lstm) c_1 .. c_T; with recurrent dropout
 * (kn__rnn_width's dropout) then the states the products read, h_0 .. h_T times the row's
 * recurrent dropout mask, at kn__rnn_hm_offset and indexed as h. */
KN_ACT_FN int kn__rnn_gates(int cell) { return cell == 1 ? 4 : cell == 2 ? 3 : 1; }
KN_ACT_FN long long kn__rnn_hm_offset(int cell, long long H, long long T) {
    return (T + 1) * H + T * kn__rnn_gates(cell) * H + (cell == 1 ? T * H : 0);
}
KN_ACT_FN long long kn__rnn_width(int cell, long long H, long long T, int dropout) {
    return kn__rnn_hm_offset(cell, H, T) + (dropout ? (T + 1) * H : 0);
}

/* The RNN node's iparam[5]: bit 0 go_backwards, the recurrent dropout mask's key above it. */
#define KN__RNN_REVERSE 1
#define KN__RNN_KEY_SHIFT 1

#endif
