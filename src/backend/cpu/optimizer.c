/* optimizer.c — one update pass over the flat parameter buffer: SGD (momentum, Nesterov),
 * Adam, AdamW, RMSprop, Adagrad, Adamax, Adadelta, Nadam, Lion, RAdam, Ftrl, with optional clipping by global
 * gradient norm and Keras 3's decoupled weight decay (w -= lr wd w, any optimizer; AdamW is
 * Adam with weight_decay 0.004 by default). Keras's
 * update rules, except Adam's epsilon, which is added to sqrt(v_hat) as in the paper and
 * PyTorch (the golden test compares with PyTorch). State slots follow the parameters'
 * layout: state_buf + k * param_floats is slot k. */
#include "cpu.h"

#include <math.h>
#include "backend/backend.h"
#include "backend/nadam_schedule.h"
#include "backend/ftrl_rule.h"
#include "backend/radam_schedule.h"
#include "core/pool.h"

/* The factor every gradient is multiplied by before its rule: fp16's loss-scale undo
 * (g->grad_unscale, 1 otherwise) times the clip-by-global-norm factor, the norm taken of the
 * unscaled gradient (so clip_norm means what it says whatever the loss scale). */
static float clip_factor(const kn_graph *g) {
    float u = g->grad_unscale;
    if (!(g->opt.clip_norm > 0)) return u;
    const float *d = g->grad_buf;
    double ss = 0;
    for (size_t i = 0; i < g->param_floats; i++) ss += (double)d[i] * d[i];
    double norm = sqrt(ss) * (double)u;
    return norm > g->opt.clip_norm ? (float)((double)u * (g->opt.clip_norm / norm)) : u;
}

/* Each update rule over one contiguous range; restrict lets the compiler vectorize. */
typedef struct {
    float lr, eps, cf, mu, b1, b2, step, inv_sqrt_c2, decay, rho;
    float step_g; /* nadam: the gradient's step (step: the first moment's); radam: the unrectified
                   * step lr / c1 (step: the rectified one; one of the two is 0: radam_schedule.h) */
    float cv; /* clip each gradient to [-cv, cv] (infinity: no clipping) */
    bool nesterov;
    /* ftrl: -lr_power, l1, 2 (l2 + beta / (2 lr)) and 2 l2_shrinkage (kn__ftrl_one) */
    float f_pow, f_l1, f_l2x2, f_shrink2;
} rule_args;

/* Keras's clipvalue: each gradient element clamped to [-cv, cv]. */
static inline float clipv(float g, float cv) { return g > cv ? cv : g < -cv ? -cv : g; }

static void sgd_range(float *restrict w, const float *restrict d, float *restrict v, int64_t n, const rule_args *a) {
    if (a->mu > 0) {
        for (int64_t i = 0; i < n; i++) {
            float gi = clipv(d[i] * a->cf, a->cv);
            v[i] = a->mu * v[i] - a->lr * gi;
            w[i] += a->nesterov ? a->mu * v[i] - a->lr * gi : v[i];
        }
    } else {
        for (int64_t i = 0; i < n; i++) w[i] -= a->lr * clipv(d[i] * a->cf, a->cv);
    }
}

/* Adam is the hot loop of small models: per parameter a square root and a divide, whose
 * AVX-512 forms issue once every ~10 cycles. The AVX-512 path replaces them with the
 * 14-bit reciprocal square root and reciprocal estimates, each refined by one Newton step
 * (to within ~2 ulp of the exact forms), which take FMA-unit slots instead: 2-3x faster. */
static void adam_plain(float *restrict w, const float *restrict d, float *restrict m, float *restrict v, int64_t n,
                       const rule_args *a) {
    const float b1 = a->b1, b2 = a->b2, cf = a->cf, step = a->step, isc2 = a->inv_sqrt_c2, eps = a->eps;
    const float decay = a->decay, cv = a->cv;
    for (int64_t i = 0; i < n; i++) {
        float gi = clipv(d[i] * cf, cv);
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        w[i] = w[i] * decay - step * m[i] / (sqrtf(v[i]) * isc2 + eps);
    }
}

/* AMSGrad (Adam's and AdamW's amsgrad): vmax, the largest v so far, in the denominator. */
static void adam_ams_range(float *restrict w, const float *restrict d, float *restrict m, float *restrict v,
                           float *restrict vmax, int64_t n, const rule_args *a) {
    const float b1 = a->b1, b2 = a->b2, cf = a->cf, step = a->step, isc2 = a->inv_sqrt_c2, eps = a->eps;
    const float decay = a->decay, cv = a->cv;
    for (int64_t i = 0; i < n; i++) {
        float gi = clipv(d[i] * cf, cv);
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        vmax[i] = fmaxf(vmax[i], v[i]);
        w[i] = w[i] * decay - step * m[i] / (sqrtf(vmax[i]) * isc2 + eps);
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx512f"))) static void adam_avx512(float *restrict w, const float *restrict d,
                                                            float *restrict m, float *restrict v, int64_t n,
                                                            const rule_args *a) {
    const __m512 b1 = _mm512_set1_ps(a->b1), nb1 = _mm512_set1_ps(1 - a->b1), b2 = _mm512_set1_ps(a->b2),
                 nb2 = _mm512_set1_ps(1 - a->b2), cf = _mm512_set1_ps(a->cf), step = _mm512_set1_ps(a->step),
                 isc2 = _mm512_set1_ps(a->inv_sqrt_c2), eps = _mm512_set1_ps(a->eps),
                 decay = _mm512_set1_ps(a->decay), half = _mm512_set1_ps(0.5f), three_halves = _mm512_set1_ps(1.5f),
                 two = _mm512_set1_ps(2.0f), zero = _mm512_setzero_ps(), cv = _mm512_set1_ps(a->cv),
                 ncv = _mm512_set1_ps(-a->cv);
    int64_t i = 0;
    for (; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, d + i), cf);
        g = _mm512_min_ps(_mm512_max_ps(g, ncv), cv); /* clip by value (no-op at infinity) */
        __m512 mi = _mm512_fmadd_ps(b1, _mm512_maskz_loadu_ps(k, m + i), _mm512_mul_ps(nb1, g));
        __m512 vi = _mm512_fmadd_ps(b2, _mm512_maskz_loadu_ps(k, v + i), _mm512_mul_ps(_mm512_mul_ps(nb2, g), g));
        /* sqrt(v) = v * rsqrt(v), one Newton step: y' = y (1.5 - 0.5 v y^2); 0 where v is 0 */
        __m512 y = _mm512_rsqrt14_ps(vi);
        y = _mm512_mul_ps(y, _mm512_fnmadd_ps(_mm512_mul_ps(half, vi), _mm512_mul_ps(y, y), three_halves));
        __m512 root = _mm512_mask_mul_ps(zero, _mm512_cmp_ps_mask(vi, zero, _CMP_GT_OQ), vi, y);
        /* 1 / (sqrt(v_hat) + eps), one Newton step: r' = r (2 - x r) */
        __m512 den = _mm512_fmadd_ps(root, isc2, eps);
        __m512 r = _mm512_rcp14_ps(den);
        r = _mm512_mul_ps(r, _mm512_fnmadd_ps(den, r, two));
        __m512 wi = _mm512_fnmadd_ps(_mm512_mul_ps(step, mi), r, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, w + i), decay));
        _mm512_mask_storeu_ps(m + i, k, mi);
        _mm512_mask_storeu_ps(v + i, k, vi);
        _mm512_mask_storeu_ps(w + i, k, wi);
    }
}
#endif

static void adam_range(float *restrict w, const float *restrict d, float *restrict m, float *restrict v, int64_t n,
                       const rule_args *a) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f") && a->eps > 0) { /* eps > 0 keeps the denominator away from 0 */
        adam_avx512(w, d, m, v, n, a);
        return;
    }
#endif
    adam_plain(w, d, m, v, n, a);
}

static void rmsprop_range(float *restrict w, const float *restrict d, float *restrict ms, float *restrict mom,
                          int64_t n, const rule_args *a) {
    for (int64_t i = 0; i < n; i++) {
        float gi = clipv(d[i] * a->cf, a->cv);
        ms[i] = a->rho * ms[i] + (1 - a->rho) * gi * gi;
        float inc = a->lr * gi / sqrtf(ms[i] + a->eps);
        if (a->mu > 0) {
            mom[i] = a->mu * mom[i] + inc;
            w[i] -= mom[i];
        } else {
            w[i] -= inc;
        }
    }
}

static void adagrad_range(float *restrict w, const float *restrict d, float *restrict acc, int64_t n,
                          const rule_args *a) {
    for (int64_t i = 0; i < n; i++) {
        float gi = clipv(d[i] * a->cf, a->cv);
        acc[i] += gi * gi;
        w[i] -= a->lr * gi / sqrtf(acc[i] + a->eps);
    }
}

static void adamax_range(float *restrict w, const float *restrict d, float *restrict m, float *restrict u, int64_t n,
                         const rule_args *a) {
    for (int64_t i = 0; i < n; i++) {
        float gi = clipv(d[i] * a->cf, a->cv);
        m[i] = a->b1 * m[i] + (1 - a->b1) * gi;
        u[i] = fmaxf(a->b2 * u[i], fabsf(gi));
        w[i] -= a->step * m[i] / (u[i] + a->eps);
    }
}

static void adadelta_range(float *restrict w, const float *restrict d, float *restrict acc, float *restrict acc_delta,
                           int64_t n, const rule_args *a) {
    for (int64_t i = 0; i < n; i++) {
        float gi = clipv(d[i] * a->cf, a->cv);
        acc[i] = a->rho * acc[i] + (1 - a->rho) * gi * gi;
        float delta = sqrtf(acc_delta[i] + a->eps) / sqrtf(acc[i] + a->eps) * gi;
        acc_delta[i] = a->rho * acc_delta[i] + (1 - a->rho) * delta * delta;
        w[i] -= a->lr * delta;
    }
}

/* Nadam: Adam's moments, and the step along both the gradient and the first moment
 * (make_args's factors; cuda/optimizer.cuh's opt_one takes the same operations). */
static void nadam_range(float *restrict w, const float *restrict d, float *restrict m, float *restrict v, int64_t n,
                        const rule_args *a) {
    for (int64_t i = 0; i < n; i++) {
        float gi = clipv(d[i] * a->cf, a->cv);
        m[i] = a->b1 * m[i] + (1 - a->b1) * gi;
        v[i] = a->b2 * v[i] + (1 - a->b2) * gi * gi;
        w[i] -= (a->step_g * gi + a->step * m[i]) / (sqrtf(v[i]) * a->inv_sqrt_c2 + a->eps);
    }
}

/* Lion (Chen et al. 2023; Keras 3's Lion): the step is the sign of the interpolation
 * b1 m + (1 - b1) g, taken before the momentum moves on with b2: every weight moves by lr
 * exactly (0 where the interpolation is 0). One state slot. */
static void lion_range(float *restrict w, const float *restrict d, float *restrict m, int64_t n, const rule_args *a) {
    for (int64_t i = 0; i < n; i++) {
        float gi = clipv(d[i] * a->cf, a->cv);
        float c = a->b1 * m[i] + (1 - a->b1) * gi;
        w[i] -= a->lr * (float)((c > 0) - (c < 0));
        m[i] = a->b2 * m[i] + (1 - a->b2) * gi;
    }
}

/* RAdam (PyTorch's): Adam's moments; the step rectified or not by the step's factors
 * (radam_schedule.h; make_args: exactly one of step and step_g is non-zero). */
static void radam_range(float *restrict w, const float *restrict d, float *restrict m, float *restrict v, int64_t n,
                        const rule_args *a) {
    const float b1 = a->b1, b2 = a->b2, cf = a->cf, cv = a->cv, step = a->step, plain = a->step_g, eps = a->eps;
    if (step > 0) { /* (two loops, so that each vectorizes) */
        for (int64_t i = 0; i < n; i++) {
            float gi = clipv(d[i] * cf, cv);
            m[i] = b1 * m[i] + (1 - b1) * gi;
            v[i] = b2 * v[i] + (1 - b2) * gi * gi;
            w[i] -= step * m[i] / (sqrtf(v[i]) + eps);
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            float gi = clipv(d[i] * cf, cv);
            m[i] = b1 * m[i] + (1 - b1) * gi;
            v[i] = b2 * v[i] + (1 - b2) * gi * gi;
            w[i] -= plain * m[i];
        }
    }
}

/* FTRL-Proximal (Keras's Ftrl): n the accumulator, z the linear term (kn__ftrl_one, the
 * formula the CUDA update shares). */
static void ftrl_range(float *restrict w, const float *restrict d, float *restrict n_acc, float *restrict z, int64_t n,
                       const rule_args *a) {
    for (int64_t i = 0; i < n; i++)
        kn__ftrl_one(clipv(d[i] * a->cf, a->cv), a->lr, a->f_pow, a->f_l1, a->f_l2x2, a->f_shrink2, &w[i], &n_acc[i], &z[i]);
}

/* Keras 3's decoupled weight decay, w -= lr wd w before the rule, for the rules that do not
 * fold it into their own pass (Adam's and AdamW's do: w * decay - ...). */
static void decay_range(float *restrict w, int64_t n, float decay) {
    for (int64_t i = 0; i < n; i++) w[i] *= decay;
}

static void update_range(kn_graph *g, int64_t lo, int64_t hi, const rule_args *a) {
    float *w = g->param_buf + lo, *s0 = g->state_buf + lo, *s1 = g->state_buf + g->param_floats + lo;
    const float *d = g->grad_buf + lo;
    int64_t n = hi - lo;
    if (a->decay != 1.0f && g->opt.kind != KN_OPT_ADAM && g->opt.kind != KN_OPT_ADAMW) decay_range(w, n, a->decay);
    switch (g->opt.kind) {
    case KN_OPT_SGD: sgd_range(w, d, s0, n, a); break;
    case KN_OPT_ADAM:
    case KN_OPT_ADAMW:
        if (g->opt.amsgrad) adam_ams_range(w, d, s0, s1, s1 + g->param_floats, n, a);
        else adam_range(w, d, s0, s1, n, a);
        break;
    case KN_OPT_RMSPROP: rmsprop_range(w, d, s0, s1, n, a); break;
    case KN_OPT_ADAGRAD: adagrad_range(w, d, s0, n, a); break;
    case KN_OPT_ADAMAX: adamax_range(w, d, s0, s1, n, a); break;
    case KN_OPT_ADADELTA: adadelta_range(w, d, s0, s1, n, a); break;
    case KN_OPT_NADAM: nadam_range(w, d, s0, s1, n, a); break;
    case KN_OPT_LION: lion_range(w, d, s0, n, a); break;
    case KN_OPT_RADAM: radam_range(w, d, s0, s1, n, a); break;
    case KN_OPT_FTRL: ftrl_range(w, d, s0, s1, n, a); break;
    default: break;
    }
}

static rule_args make_args(kn_graph *g, float cf) {
    const kn_optimizer *o = &g->opt;
    /* g->step counts this step already (kn__graph_run_phases increments it first) */
    float c1 = (float)(1.0 - pow(o->beta_1, (double)g->step)), c2 = (float)(1.0 - pow(o->beta_2, (double)g->step));
    rule_args a = {.lr = o->learning_rate, .eps = o->epsilon, .cf = cf, .mu = o->momentum,
                   .b1 = o->beta_1, .b2 = o->beta_2, .step = o->learning_rate / c1,
                   .inv_sqrt_c2 = 1.0f / sqrtf(c2),
                   .decay = 1.0f - o->learning_rate * o->weight_decay, /* (Keras 3: every optimizer) */
                   .rho = o->rho, .nesterov = o->nesterov,
                   .cv = o->clip_value > 0 ? o->clip_value : INFINITY, .f_pow = -o->lr_power, .f_l1 = o->l1,
                   .f_l2x2 = 2.0f * (o->l2 + o->ftrl_beta / (2.0f * o->learning_rate)), .f_shrink2 = 2.0f * o->l2_shrinkage};
    if (o->kind == KN_OPT_NADAM) { /* (the CUDA backend's run.c: the same factors, the same products) */
        float of_grad, of_moment;
        kn__nadam_factors(o->beta_1, o->momentum_decay, g->step, kn__nadam_graph_product(g, g->step), &of_grad,
                          &of_moment);
        a.step_g = o->learning_rate * of_grad;
        a.step = o->learning_rate * of_moment;
    }
    if (o->kind == KN_OPT_RADAM) { /* (the CUDA backend's run.c: the same factors, the same products) */
        float rect, plain;
        kn__radam_factors(o->beta_1, o->beta_2, g->step, &rect, &plain);
        a.step = o->learning_rate * rect;
        a.step_g = o->learning_rate * plain;
    }
    return a;
}

typedef struct {
    kn_graph *g;
    const rule_args *a;
    int64_t lo, n;
} span_job;

enum { UPDATE_CHUNK = 8192 }; /* floats: 64-byte multiples, ~3 µs of Adam each */

static void update_chunk(void *p, int64_t k) {
    const span_job *j = p;
    int64_t s = k * UPDATE_CHUNK, e = s + UPDATE_CHUNK < j->n ? s + UPDATE_CHUNK : j->n;
    update_range(j->g, j->lo + s, j->lo + e, j->a);
}

/* Updates the flat buffers' floats [lo, lo + n), in chunks on the worker pool when they
 * outgrow a core's cache: below that the update is bound by the L2 of the core that just
 * wrote the gradients, and a second core only adds traffic between the two (measured: the
 * reference MLP's 55k parameters, 22 us on one thread, 24 on two). */
static void update_span(kn_graph *g, int64_t lo, int64_t n, const rule_args *a) {
    int th = n >= (1 << 20) ? kn_ctx_threads(g->ctx) : 1;
    span_job j = {g, a, lo, n};
    kn__pool_run(th, (n + UPDATE_CHUNK - 1) / UPDATE_CHUNK, update_chunk, &j);
}

/* The fused update: every parameter in one pass over the flat buffers. */
void kn__cpu_optimizer(kn_graph *g, kn_tensor *t) {
    rule_args a = make_args(g, clip_factor(g));
    if (!t->iparam[0]) { /* every parameter has a gradient: the whole buffer at once */
        update_span(g, 0, (int64_t)g->param_floats, &a);
        return;
    }
    for (int i = 0; i < g->n_params; i++) /* a parameter without a gradient is not updated */
        if (g->params[i]->grad) update_span(g, (int64_t)g->params[i]->param_offset, kn__numel(g->params[i]), &a);
}

/* One parameter's update (the unfused form); src[2], when present, holds the clip factor
 * (grad_norm's, the loss-scale undo included), else the undo alone. */
void kn__cpu_opt_update(kn_graph *g, kn_tensor *t) {
    const kn_tensor *p = t->src[0];
    float cf = t->src[2] ? *(const float *)t->src[2]->data : g->grad_unscale;
    rule_args a = make_args(g, cf);
    update_span(g, (int64_t)p->param_offset, kn__numel(p), &a);
}

void kn__cpu_grad_norm(kn_graph *g, kn_tensor *t) { *(float *)t->data = clip_factor(g); }
