/* optimizer.c — one update pass over the flat parameter buffer: SGD (momentum, Nesterov),
 * Adam, AdamW, RMSprop, Adagrad, with optional clipping by global gradient norm. Keras's
 * update rules, except Adam's epsilon, which is added to sqrt(v_hat) as in the paper and
 * PyTorch (the golden test compares with PyTorch). State slots follow the parameters'
 * layout: state_buf + k * param_floats is slot k. */
#include "cpu.h"

#include <math.h>

static float clip_factor(const kn_graph *g) {
    if (!(g->opt.clip_norm > 0)) return 1.0f;
    const float *d = g->grad_buf;
    double ss = 0;
    for (size_t i = 0; i < g->param_floats; i++) ss += (double)d[i] * d[i];
    double norm = sqrt(ss);
    return norm > g->opt.clip_norm ? (float)(g->opt.clip_norm / norm) : 1.0f;
}

void kn__cpu_optimizer(kn_graph *g, kn_tensor *t) {
    (void)t;
    const kn_optimizer *o = &g->opt;
    float *w = g->param_buf;
    const float *d = g->grad_buf;
    float *s0 = g->state_buf, *s1 = g->state_buf + g->param_floats;
    int64_t n = (int64_t)g->param_floats;
    float lr = o->learning_rate, eps = o->epsilon, cf = clip_factor(g);
    g->step++;
    int th = n >= (1 << 18) ? kn_ctx_threads(g->ctx) : 1;
    switch (o->kind) {
    case KN_OPT_SGD: {
        float mu = o->momentum;
        if (mu > 0) {
#pragma omp parallel for simd num_threads(th) if (th > 1)
            for (int64_t i = 0; i < n; i++) {
                float gi = d[i] * cf;
                s0[i] = mu * s0[i] - lr * gi;
                w[i] += o->nesterov ? mu * s0[i] - lr * gi : s0[i];
            }
        } else {
#pragma omp parallel for simd num_threads(th) if (th > 1)
            for (int64_t i = 0; i < n; i++) w[i] -= lr * d[i] * cf;
        }
        break;
    }
    case KN_OPT_ADAM:
    case KN_OPT_ADAMW: {
        float b1 = o->beta_1, b2 = o->beta_2;
        float c1 = (float)(1.0 - pow(b1, (double)g->step)), c2 = (float)(1.0 - pow(b2, (double)g->step));
        float step = lr / c1, inv_sqrt_c2 = 1.0f / sqrtf(c2);
        float decay = o->kind == KN_OPT_ADAMW ? 1.0f - lr * o->weight_decay : 1.0f;
#pragma omp parallel for simd num_threads(th) if (th > 1)
        for (int64_t i = 0; i < n; i++) {
            float gi = d[i] * cf;
            s0[i] = b1 * s0[i] + (1 - b1) * gi;
            s1[i] = b2 * s1[i] + (1 - b2) * gi * gi;
            w[i] = w[i] * decay - step * s0[i] / (sqrtf(s1[i]) * inv_sqrt_c2 + eps);
        }
        break;
    }
    case KN_OPT_RMSPROP: {
        float rho = o->rho, mu = o->momentum;
#pragma omp parallel for simd num_threads(th) if (th > 1)
        for (int64_t i = 0; i < n; i++) {
            float gi = d[i] * cf;
            s0[i] = rho * s0[i] + (1 - rho) * gi * gi;
            float inc = lr * gi / sqrtf(s0[i] + eps);
            if (mu > 0) {
                s1[i] = mu * s1[i] + inc;
                w[i] -= s1[i];
            } else {
                w[i] -= inc;
            }
        }
        break;
    }
    case KN_OPT_ADAGRAD:
#pragma omp parallel for simd num_threads(th) if (th > 1)
        for (int64_t i = 0; i < n; i++) {
            float gi = d[i] * cf;
            s0[i] += gi * gi;
            w[i] -= lr * gi / sqrtf(s0[i] + eps);
        }
        break;
    default: break;
    }
}
