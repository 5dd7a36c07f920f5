/* optimizer.cuh — one parameter's optimizer update (backend/cpu/optimizer.c's formulas),
 * shared by kernels.cu's update kernel and kernels_chain.cu's weight gradients when they
 * take the update too (KILN_CUDA_WGRAD_UPDATE): the same function, so the same bits. */
#ifndef KN_CUDA_OPTIMIZER_CUH
#define KN_CUDA_OPTIMIZER_CUH

#include "launch.h"
#include "device.cuh"

__device__ static float clipv(float g, float cv) { return g > cv ? cv : g < -cv ? -cv : g; }

/* One parameter's update (optimizer.c's formulas): w the weight, a and b its state slots
 * (s0, s1), gi its clipped gradient. */
__device__ static inline void opt_one(const kn__cuda_opt &o, float lr, float step, float isc2, float decay, float gi,
                                      float &w, float &a, float &b) {
    switch (o.kind) {
    case KN_OPT_SGD:
        if (o.mu > 0) {
            a = o.mu * a - lr * gi;
            w += o.nesterov ? o.mu * a - lr * gi : a;
        } else {
            w -= lr * gi;
        }
        break;
    case KN_OPT_ADAM:
    case KN_OPT_ADAMW:
        a = o.b1 * a + (1 - o.b1) * gi;
        b = o.b2 * b + (1 - o.b2) * gi * gi;
        w = w * decay - step * a / (sqrtf(b) * isc2 + o.eps);
        break;
    case KN_OPT_RMSPROP: {
        a = o.rho * a + (1 - o.rho) * gi * gi;
        float inc = lr * gi / sqrtf(a + o.eps);
        if (o.mu > 0) {
            b = o.mu * b + inc;
            w -= b;
        } else {
            w -= inc;
        }
        break;
    }
    case KN_OPT_ADAGRAD:
        a += gi * gi;
        w -= lr * gi / sqrtf(a + o.eps);
        break;
    case KN_OPT_ADAMAX:
        a = o.b1 * a + (1 - o.b1) * gi;
        b = fmaxf(o.b2 * b, fabsf(gi));
        w -= step * a / (b + o.eps);
        break;
    case KN_OPT_ADADELTA: {
        a = o.rho * a + (1 - o.rho) * gi * gi;
        float delta = sqrtf(b + o.eps) / sqrtf(a + o.eps) * gi;
        b = o.rho * b + (1 - o.rho) * delta * delta;
        w -= lr * delta;
        break;
    }
    default: break;
    }
}

/* The state slots an optimizer reads and writes (s1 of a one-slot optimizer points past
 * the state: never touched). */
__device__ static inline bool opt_uses_s0(const kn__cuda_opt &o) { return o.kind != KN_OPT_SGD || o.mu > 0; }
__host__ __device__ static inline bool opt_uses_s1(const kn__cuda_opt &o) {
    return o.kind == KN_OPT_ADAM || o.kind == KN_OPT_ADAMW || o.kind == KN_OPT_ADAMAX || o.kind == KN_OPT_ADADELTA ||
           (o.kind == KN_OPT_RMSPROP && o.mu > 0);
}

/* Adam's bias corrections as the update takes them: lr / (1 - b1^t) into *step and
 * 1 / sqrt(1 - b2^t) into *isc2, from the host's values in stp when it set them, else in
 * double from the step (the host's arithmetic), by thread 0 once for the block. Every thread
 * of the block calls it (a barrier inside). */
__device__ static void opt_corrections(const kn__cuda_opt &o, const kn__cuda_step *stp, float *step, float *isc2) {
    __shared__ float s_step, s_isc2;
    if (threadIdx.x == 0) {
        float c1 = stp->c1, c2 = stp->c2;
        if (!stp->corrections_set) { /* (the same double arithmetic as the host's) */
            double t = (double)stp->step;
            c1 = (float)(1.0 - pow((double)o.b1, t)), c2 = (float)(1.0 - pow((double)o.b2, t));
        }
        s_step = stp->lr / c1;
        s_isc2 = 1.0f / sqrtf(c2);
    }
    __syncthreads();
    *step = s_step, *isc2 = s_isc2;
}

#endif
