/* radam_schedule.h — RAdam's rectification (Liu et al. 2020, "On the Variance of the
 * Adaptive Learning Rate and Beyond"; PyTorch's torch.optim.RAdam) and the factor of each
 * step's update, in double, shared by the host (cpu/optimizer.c; cuda/run.c, which hands it
 * to the device in the step's values) and the CUDA device (cuda/optimizer.cuh, when the
 * device counts the step itself: a resident fp16 run), so that every path takes the same
 * operations.
 *
 * With c1 = 1 - b1^t, c2 = 1 - b2^t, rho_inf = 2 / (1 - b2) - 1 and
 * rho_t = rho_inf - 2 t b2^t / c2 (the length of the simple moving average the second moment
 * approximates), the update is
 *   rho_t > 5:  p -= lr r_t sqrt(c2) / c1 * m / (sqrt(v) + eps),
 *               r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t));
 *   otherwise:  p -= lr / c1 * m (momentum SGD with the bias-corrected first moment).
 * epsilon is added to sqrt(v) before the bias correction, as PyTorch does (Adam in kiln adds
 * it to sqrt(v_hat), Keras's and the paper's form). For b2 = 0.999 the first 5 steps are
 * unrectified (rho_5 = 4.99, rho_6 = 5.99). */
#ifndef KN_RADAM_SCHEDULE_H
#define KN_RADAM_SCHEDULE_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define KN_RADAM_FN __host__ __device__ static inline
#else
#define KN_RADAM_FN static inline
#endif

/* Step t's factors, learning rate aside, for b1 = beta_1 and b2 = beta_2 (each the float the
 * optimizer holds, widened; b2 < 1): *rect = r_t sqrt(c2) / c1 and *plain = 0 when rectified,
 * else *rect = 0 and *plain = 1 / c1. */
KN_RADAM_FN void kn__radam_factors(double b1, double b2, int64_t t, float *rect, float *plain) {
    double c1 = 1.0 - pow(b1, (double)t), b2t = pow(b2, (double)t), c2 = 1.0 - b2t;
    double rho_inf = 2.0 / (1.0 - b2) - 1.0, rho_t = rho_inf - 2.0 * (double)t * b2t / c2;
    if (rho_t > 5.0) {
        double r = sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t));
        *rect = (float)(r * sqrt(c2) / c1);
        *plain = 0.0f;
    } else {
        *rect = 0.0f;
        *plain = (float)(1.0 / c1);
    }
}

#endif
