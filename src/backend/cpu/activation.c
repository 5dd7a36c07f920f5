/* activation.c — activations and their gradients. Gradients of relu, sigmoid, tanh and
 * softmax are computed from the output y (the input can then be freed early); those of
 * leaky_relu, elu and gelu from the input x. gelu is the exact (erf) form, as Keras and
 * PyTorch default to. softmax is over the last dimension, max-subtracted for stability. */
#include "cpu.h"

#include <math.h>

bool kn__act_grad_uses_output(kn_activation a) {
    return a == KN_RELU || a == KN_SIGMOID || a == KN_TANH || a == KN_SOFTMAX;
}

static void softmax_rows(const float *x, float *y, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mx = xr[0];
        for (int64_t c = 1; c < cols; c++) mx = xr[c] > mx ? xr[c] : mx;
        float s = 0;
        for (int64_t c = 0; c < cols; c++) s += (yr[c] = expf(xr[c] - mx));
        float inv = 1.0f / s;
        for (int64_t c = 0; c < cols; c++) yr[c] *= inv;
    }
}

void kn__cpu_act(kn_graph *g, kn_tensor *t) {
    const float *x = t->src[0]->data;
    float *y = t->data;
    int64_t n = kn__numel(t);
    float alpha = t->fparam[0];
    int th = kn__threads_for(g, n);
    switch ((kn_activation)t->iparam[0]) {
    case KN_LINEAR:
#pragma omp parallel for simd num_threads(th) if (th > 1)
        for (int64_t i = 0; i < n; i++) y[i] = x[i];
        break;
    case KN_RELU:
#pragma omp parallel for simd num_threads(th) if (th > 1)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f;
        break;
    case KN_LEAKY_RELU:
#pragma omp parallel for simd num_threads(th) if (th > 1)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : alpha * x[i];
        break;
    case KN_ELU:
#pragma omp parallel for num_threads(th) if (th > 1)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : alpha * expm1f(x[i]);
        break;
    case KN_SIGMOID:
#pragma omp parallel for num_threads(th) if (th > 1)
        for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case KN_TANH:
#pragma omp parallel for num_threads(th) if (th > 1)
        for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    case KN_GELU:
#pragma omp parallel for num_threads(th) if (th > 1)
        for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
        break;
    case KN_SOFTMAX: {
        int64_t cols = t->ne[t->ndim - 1];
        softmax_rows(x, y, n / cols, cols);
        break;
    }
    default: break;
    }
}

/* src[0] = dy; src[1] = y (relu, sigmoid, tanh, softmax) or x (the others). */
void kn__cpu_act_grad(kn_graph *g, kn_tensor *t) {
    const float *dy = t->src[0]->data, *v = t->src[1]->data;
    float *dx = t->data;
    int64_t n = kn__numel(t);
    float alpha = t->fparam[0];
    int th = kn__threads_for(g, n);
    switch ((kn_activation)t->iparam[0]) {
    case KN_LINEAR:
#pragma omp parallel for simd num_threads(th) if (th > 1)
        for (int64_t i = 0; i < n; i++) dx[i] = dy[i];
        break;
    case KN_RELU:
#pragma omp parallel for simd num_threads(th) if (th > 1)
        for (int64_t i = 0; i < n; i++) dx[i] = v[i] > 0 ? dy[i] : 0.0f;
        break;
    case KN_LEAKY_RELU:
#pragma omp parallel for simd num_threads(th) if (th > 1)
        for (int64_t i = 0; i < n; i++) dx[i] = v[i] > 0 ? dy[i] : alpha * dy[i];
        break;
    case KN_ELU:
#pragma omp parallel for num_threads(th) if (th > 1)
        for (int64_t i = 0; i < n; i++) dx[i] = v[i] > 0 ? dy[i] : dy[i] * alpha * expf(v[i]);
        break;
    case KN_SIGMOID:
#pragma omp parallel for simd num_threads(th) if (th > 1)
        for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * v[i] * (1.0f - v[i]);
        break;
    case KN_TANH:
#pragma omp parallel for simd num_threads(th) if (th > 1)
        for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - v[i] * v[i]);
        break;
    case KN_GELU: {
        const float inv_sqrt_2pi = 0.3989422804014327f;
#pragma omp parallel for num_threads(th) if (th > 1)
        for (int64_t i = 0; i < n; i++) {
            float xi = v[i];
            float cdf = 0.5f * (1.0f + erff(xi * (float)M_SQRT1_2));
            dx[i] = dy[i] * (cdf + xi * inv_sqrt_2pi * expf(-0.5f * xi * xi));
        }
        break;
    }
    case KN_SOFTMAX: {
        int64_t cols = t->ne[t->ndim - 1], rows = n / cols;
        for (int64_t r = 0; r < rows; r++) {
            const float *dyr = dy + r * cols, *yr = v + r * cols;
            float *dxr = dx + r * cols;
            float dot = 0;
            for (int64_t c = 0; c < cols; c++) dot += dyr[c] * yr[c];
            for (int64_t c = 0; c < cols; c++) dxr[c] = yr[c] * (dyr[c] - dot);
        }
        break;
    }
    default: break;
    }
}
