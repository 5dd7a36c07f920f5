/* optimizer.cuh — one parameter's optimizer update (backend/cpu/optimizer.c's formulas),
 * shared by kernels.cu's update kernel and kernels_chain.cu's weight gradients when they
 * take the update too (KILN_CUDA_WGRAD_UPDATE): the same function, so the same bits. */
#ifndef KN_CUDA_OPTIMIZER_CUH
#define KN_CUDA_OPTIMIZER_CUH

#include "launch.h"
#include "device.cuh"
#include "backend/ftrl_rule.h"
#include "backend/radam_schedule.h"

__device__ static float clipv(float g, float cv) { return g > cv ? cv : g < -cv ? -cv : g; }

/* The factors of a step's update, the same for every parameter (opt_step_factors): the
 * learning rate; Adam's lr / (1 - b1^t) (Nadam's: the first moment's step; RAdam's: the
 * rectified step, 0 before rectification) and 1 / sqrt(1 - b2^t); the weight decay's factor
 * 1 - lr wd; Nadam's step along the gradient (RAdam's: the unrectified step lr / c1, 0 once
 * rectified). */
struct opt_factors {
    float lr, step, isc2, decay, step_g;
};

/* One parameter's update (optimizer.c's formulas): w the weight, a and b its state slots
 * (s0, s1), vmax AMSGrad's third (o.amsgrad), gi its clipped gradient. Every product is rounded alone (M: kn__mul_rn), never
 * contracted with the sum after it: nvcc's choice of which product to fuse depends on the
 * kernel the function is inlined into, and the update kernel and the weight gradients'
 * launch (KILN_CUDA_WGRAD_UPDATE, the K-step kernel) must give the same bits (on the H200
 * Nadam's state and parameters differed between them before: test_resident). */
__device__ static inline void opt_one(const kn__cuda_opt &o, const opt_factors &f, float gi, float &w, float &a,
                                      float &b, float &vmax) {
#define M kn__mul_rn
    const float lr = f.lr, step = f.step, isc2 = f.isc2, decay = f.decay;
    if (o.kind != KN_OPT_ADAM && o.kind != KN_OPT_ADAMW) w = M(w, decay); /* (Adam's: in its own expression) */
    switch (o.kind) {
    case KN_OPT_SGD:
        if (o.mu > 0) {
            a = M(o.mu, a) - M(lr, gi);
            w += o.nesterov ? M(o.mu, a) - M(lr, gi) : a;
        } else {
            w -= M(lr, gi);
        }
        break;
    case KN_OPT_ADAM:
    case KN_OPT_ADAMW:
        a = M(o.b1, a) + M(1 - o.b1, gi);
        b = M(o.b2, b) + M(M(1 - o.b2, gi), gi);
        if (o.amsgrad) vmax = fmaxf(vmax, b);
        w = M(w, decay) - M(step, a) / (M(sqrtf(o.amsgrad ? vmax : b), isc2) + o.eps);
        break;
    case KN_OPT_RMSPROP: {
        a = M(o.rho, a) + M(M(1 - o.rho, gi), gi);
        float inc = M(lr, gi) / sqrtf(a + o.eps);
        if (o.mu > 0) {
            b = M(o.mu, b) + inc;
            w -= b;
        } else {
            w -= inc;
        }
        break;
    }
    case KN_OPT_ADAGRAD:
        a += M(gi, gi);
        w -= M(lr, gi) / sqrtf(a + o.eps);
        break;
    case KN_OPT_ADAMAX:
        a = M(o.b1, a) + M(1 - o.b1, gi);
        b = fmaxf(M(o.b2, b), fabsf(gi));
        w -= M(step, a) / (b + o.eps);
        break;
    case KN_OPT_ADADELTA: {
        a = M(o.rho, a) + M(M(1 - o.rho, gi), gi);
        float delta = M(sqrtf(b + o.eps) / sqrtf(a + o.eps), gi);
        b = M(o.rho, b) + M(M(1 - o.rho, delta), delta);
        w -= M(lr, delta);
        break;
    }
    case KN_OPT_NADAM:
        a = M(o.b1, a) + M(1 - o.b1, gi);
        b = M(o.b2, b) + M(M(1 - o.b2, gi), gi);
        w -= (M(f.step_g, gi) + M(step, a)) / (M(sqrtf(b), isc2) + o.eps);
        break;
    case KN_OPT_LION: { /* the sign of the interpolation, before the momentum moves on */
        float c = M(o.b1, a) + M(1 - o.b1, gi);
        w -= M(lr, (float)((c > 0) - (c < 0)));
        a = M(o.b2, a) + M(1 - o.b2, gi);
        break;
    }
    case KN_OPT_RADAM: /* (the same for every thread: one of the two steps is 0) */
        a = M(o.b1, a) + M(1 - o.b1, gi);
        b = M(o.b2, b) + M(M(1 - o.b2, gi), gi);
        w -= step > 0 ? M(step, a) / (sqrtf(b) + o.eps) : M(f.step_g, a);
        break;
    case KN_OPT_FTRL: /* a the accumulator, b the linear term (ftrl_rule.h; optimizer.c's make_args' factors) */
        kn__ftrl_one(gi, lr, -o.lr_power, o.l1, 2.0f * (o.l2 + o.ftrl_beta / (2.0f * lr)), 2.0f * o.l2_shrinkage, &w, &a, &b);
        break;
    default: break;
    }
#undef M
}

/* The state slots an optimizer reads and writes (s1 of a one-slot optimizer points past
 * the state: never touched). */
__device__ static inline bool opt_uses_s0(const kn__cuda_opt &o) { return o.kind != KN_OPT_SGD || o.mu > 0; }
__host__ __device__ static inline bool opt_uses_s1(const kn__cuda_opt &o) {
    return o.kind == KN_OPT_ADAM || o.kind == KN_OPT_ADAMW || o.kind == KN_OPT_ADAMAX || o.kind == KN_OPT_ADADELTA ||
           o.kind == KN_OPT_NADAM || o.kind == KN_OPT_RADAM || o.kind == KN_OPT_FTRL || (o.kind == KN_OPT_RMSPROP && o.mu > 0);
}

/* The step's factors (optimizer.c's make_args), by thread 0 once for the block: Adam's bias
 * corrections (and RAdam's factors) from the host's values in stp when it set them, else in
 * double from the step (the host's arithmetic); Nadam's from stp (the host's, or start_step's: resident.cuh),
 * times the rate as the CPU takes them. Every thread of the block calls it (a barrier
 * inside). */
__device__ static opt_factors opt_step_factors(const kn__cuda_opt &o, const kn__cuda_step *stp) {
    __shared__ opt_factors s;
    if (threadIdx.x == 0) {
        float c1 = stp->c1, c2 = stp->c2, lr = stp->lr;
        if (!stp->corrections_set) { /* (the same double arithmetic as the host's) */
            double t = (double)stp->step;
            c1 = (float)(1.0 - pow((double)o.b1, t)), c2 = (float)(1.0 - pow((double)o.b2, t));
        }
        s.lr = lr;
        s.step = o.kind == KN_OPT_NADAM ? lr * stp->nadam_moment : lr / c1;
        s.step_g = lr * stp->nadam_grad;
        if (o.kind == KN_OPT_RADAM) { /* the host's factors, else the step's as the device counts it */
            float rect = stp->radam_rect, plain = stp->radam_plain;
            if (!stp->corrections_set) kn__radam_factors(o.b1, o.b2, stp->step, &rect, &plain);
            s.step = lr * rect;
            s.step_g = lr * plain;
        }
        s.isc2 = 1.0f / sqrtf(c2);
        s.decay = 1.0f - lr * o.weight_decay; /* (Keras 3: every optimizer) */
    }
    __syncthreads();
    return s;
}

#endif
