/* nadam_schedule.h — Nadam's momentum schedule and the two factors of its update, in
 * double, shared by the host (cpu/optimizer.c; cuda/run.c, which hands them to the device
 * in the step's values) and the CUDA device (cuda/resident.cuh: a resident fp16 step, whose
 * step count the device may take back), so that every path takes the same operations.
 *
 * u_t = b1 (1 - 0.5 * 0.96^(t * momentum_decay)); P_t = u_1 u_2 ... u_t (PyTorch's state
 * 'mu_product', Keras's _u_product). kiln keeps no P_t in the optimizer state: it is a
 * function of the step alone, the product taken in double in the order i = 1 ... t, and
 * advanced from a cached (step, product) pair, so a checkpoint (which holds the step)
 * resumes it bit for bit, a skipped fp16 update (the step taken back) reuses it, and any
 * other jump of the step recomputes it from i = 1 (O(t) once). PyTorch and Keras multiply
 * in float32; P_t (about 0.45^t) is below 1e-6 after 18 steps, where 1 - P_t rounds alike in
 * either, so the two differ by float32 roundings of the first steps' factors at most. */
#ifndef KN_NADAM_SCHEDULE_H
#define KN_NADAM_SCHEDULE_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define KN_NADAM_FN __host__ __device__ static inline
#else
#define KN_NADAM_FN static inline
#endif

/* u_t for b1 = beta_1, decay = momentum_decay (each the float the optimizer holds, widened) */
KN_NADAM_FN double kn__nadam_u(double b1, double decay, int64_t t) {
    return b1 * (1.0 - 0.5 * pow(0.96, (double)t * decay));
}

/* P_t from the cache (*at, *product) = (s, P_s), which it leaves at (t, P_t): multiplied on
 * from s when s <= t, else (or when s <= 0: a zeroed cache) from P_0 = 1. */
KN_NADAM_FN double kn__nadam_product(double b1, double decay, int64_t t, int64_t *at, double *product) {
    if (*at <= 0 || *at > t) *at = 0, *product = 1.0;
    while (*at < t) *product *= kn__nadam_u(b1, decay, ++*at);
    return *product;
}

/* Step t's factors, learning rate aside, given P_t: of the gradient (1 - u_t) / (1 - P_t),
 * and of the first moment u_{t+1} / (1 - P_t u_{t+1}); each rounded to float once (0 before
 * the first step: a run that updates nothing). */
KN_NADAM_FN void kn__nadam_factors(double b1, double decay, int64_t t, double product, float *of_grad,
                                   float *of_moment) {
    if (t < 1) {
        *of_grad = *of_moment = 0.0f;
        return;
    }
    double u = kn__nadam_u(b1, decay, t), next = kn__nadam_u(b1, decay, t + 1);
    *of_grad = (float)((1.0 - u) / (1.0 - product));
    *of_moment = (float)(next / (1.0 - product * next));
}

#endif
