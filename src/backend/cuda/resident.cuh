/* resident.cuh — the resident step's figures and its guard's decision, device functions
 * kernels_resident.cu's guard kernel and kernels_chain.cu's weight gradients (which take
 * the guard's place when they produce every gradient) share. */
#ifndef KN_CUDA_RESIDENT_CUH
#define KN_CUDA_RESIDENT_CUH

#include "launch.h"
#include "device.cuh"
#include "backend/nadam_schedule.h"

/* A resident step's start, by one thread before anything reads what it writes (the gather
 * kernel's thread 0, or a folded chain's): the step values from src (the mapped ring's slot,
 * else stp itself, copied in before); after a failed step nothing changes any more (the
 * optimizer and batch norm's moving statistics read step->skip); fp16: updates skipped since
 * the host last read the figures are taken out of the step counts (Adam's t and the dropout
 * key count updates taken, as in the host loop), and the scale goes to the backward seed and
 * the update's unscale (powers of two: exact). Such a run's Nadam factors are then this
 * step's as the device counts it (the host's values hold them otherwise: run.c), from P_t
 * cached in r (nadam_schedule.h; seeded with the host's at open), which only this thread
 * advances, once a step, before the update that reads the factors is launched or, in the
 * K-step kernel, before its grid barrier: no other thread reads the cache. A skipped
 * update's step comes again with the same t and finds P_t cached. */
__device__ static void start_step(kn__cuda_step *stp, const kn__cuda_step *src, kn__cuda_resident *r, float *seed) {
    if (src != stp) *stp = *src;
    r->grad_bad = 0; /* (the late guard leaves it set until here: guard_late) */
    stp->skip = stp->failed_before = r->failed_step >= 0;
    int64_t unseen = r->skipped - stp->skipped_known;
    stp->step -= unseen;
    stp->rng_step -= unseen;
    if (r->nadam && !stp->corrections_set) {
        double product = kn__nadam_product(r->nadam_b1, r->nadam_decay, stp->step, &r->nadam_at, &r->nadam_product);
        kn__nadam_factors(r->nadam_b1, r->nadam_decay, stp->step, product, &stp->nadam_grad, &stp->nadam_moment);
    }
    if (r->scaling && seed) {
        *seed = r->scale;
        stp->grad_unscale = 1.0f / r->scale;
    }
}

/* The mean of the rows' losses a chain left (kn__cuda_count's ws), as the chain's last
 * block would have taken it (kernels_chain.cu's chain_loss_mean: the same sums); every
 * thread of the block calls it and gets it. */
__device__ static float rows_mean(const kn__cuda_count *q, double *part) {
    double s = 0;
    for (int64_t i = threadIdx.x; i < q->rows; i += blockDim.x) s += q->ws[i];
    s = kn__block_sum_double(s, part);
    return (float)(s / (double)q->rows);
}

/* One block: the loss checked by thread 0 (a failure recorded once, with the step and
 * position of the run), then, unless this or an earlier step failed, each row's prediction
 * against its label (the argmax, the first of equal maxima as the host takes it; or
 * > threshold for one output), counted per thread and summed in a fixed order. Every
 * thread of the block calls it (part: THREADS doubles of shared memory, failed: a shared
 * int). */
__device__ static void count_step(const kn__cuda_step *stp, kn__cuda_resident *r, const kn__cuda_count *q, bool training,
                                  double *part, int *failed) {
    if (q->ws) { /* the loss's mean, which the chain left */
        float mean = rows_mean(q, part);
        if (threadIdx.x == 0) *(float *)q->loss = mean;
    }
    if (threadIdx.x == 0) {
        r->ring_pos = (r->ring_pos + 1) % KN_CUDA_STEP_RING; /* (every resident run counts once, after its start) */
        float l = *q->loss;
        if (training && r->dist) { /* data parallel: this rank's verdict only (guard_decide) */
            r->local_what = isfinite(l) ? 0 : 1;
        } else if (training && r->failed_step < 0 && !isfinite(l)) { /* (an evaluation only counts) */
            r->failed_step = stp->step;
            r->failed_first = stp->first;
            r->failed_what = 1;
            r->failed_loss = l;
        }
        *failed = r->failed_step >= 0 || (training && r->dist && r->local_what);
        if (!*failed) {
            r->loss_sum += (double)l * (double)q->rows;
            r->rows += q->rows;
        }
    }
    __syncthreads();
    if (*failed || !q->labels) return;
    double n = 0;
    for (int64_t i = threadIdx.x; i < q->rows && q->correct; i += blockDim.x) n += q->correct[i];
    for (int64_t i = threadIdx.x; i < q->rows && !q->correct; i += blockDim.x) {
        int32_t label = q->labels[q->order[stp->first + i]], best = 0;
        if (q->outs == 1) {
            best = kn__ld(q->out, q->out_t, i) > q->threshold;
        } else {
            float v = kn__ld(q->out, q->out_t, i * q->outs);
            for (int64_t j = 1; j < q->outs; j++) {
                float u = kn__ld(q->out, q->out_t, i * q->outs + j);
                if (u > v) v = u, best = (int32_t)j;
            }
        }
        n += best == label;
    }
    n = kn__block_sum_double(n, part);
    if (threadIdx.x == 0) r->correct += (int64_t)n;
}

/* One thread, after every gradient was checked: a failure recorded once; the update
 * skipped from then on. With loss scaling (resident_host.c's guard, loss_scale.c's rules):
 * an overflow halves the scale and skips this update, or at the smallest scale fails (3);
 * interval clean updates in a row double it, up to the largest. */
__device__ static void guard_decide(kn__cuda_step *stp, kn__cuda_resident *r, const float *loss, bool reset) {
    bool bad = *(volatile int32_t *)&r->grad_bad;
    if (reset) r->grad_bad = 0;
    if (r->dist) { /* data parallel: the verdict into the sum; every rank decides after it (kn__cu_sum_guard) */
        if (!r->local_what && bad) r->local_what = 2;
        *r->verdict = r->local_what ? INFINITY : 0.0f; /* (+inf: a sum of verdicts stays non-finite) */
        return;
    }
    if (r->failed_step < 0 && r->scaling) {
        if (!bad) {
            if (++r->good >= r->interval) {
                r->good = 0;
                if (r->scale < 16777216.0f) r->scale *= 2.0f;
            }
        } else {
            r->good = 0;
            if (r->scale > 1.0f) {
                r->scale *= 0.5f;
                r->skipped++;
                stp->skip = 1;
                return;
            }
        }
    }
    if (r->failed_step < 0 && bad) {
        r->failed_step = stp->step;
        r->failed_first = stp->first;
        r->failed_what = r->scaling ? 3 : 2;
        r->failed_loss = *loss;
    }
    if (r->failed_step >= 0) stp->skip = 1;
}

/* The end of a step's guard, every thread of every block of the launch calling it with
 * whether its share of the gradients held a non-finite value: any such sets r->grad_bad,
 * and the last block to finish (counted in r->guard_done, after a fence that makes the
 * blocks' flags visible) counts the step's figures (count_step: a non-finite loss is this
 * step's failure first) and decides (guard_decide). Blocks of KN_CU_GUARD_THREADS. */
#define KN_CU_GUARD_THREADS 256
__device__ static void guard_finish(kn__cuda_step *stp, kn__cuda_resident *r, const kn__cuda_count *q, bool bad) {
    __shared__ bool last;
    __shared__ double part[KN_CU_GUARD_THREADS];
    __shared__ int failed;
    if (bad) kn__flag_raise(&r->grad_bad);
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(&r->guard_done, 1u) == gridDim.x - 1;
    __syncthreads();
    if (!last) return;
    count_step(stp, r, q, true, part, &failed);
    if (threadIdx.x != 0) return;
    r->guard_done = 0;
    guard_decide(stp, r, q->loss, true);
}

/* The guard taken late (KILN_CUDA_GUARD_LATE=1; kn__cu_wgrad_guard's late), by the update
 * kernel, every thread of every block calling it: whether this block skips the update.
 * Each block tells it from what the step left, as guard_decide would (an earlier failure
 * (failed_before: block 0 may be recording this step's in failed_step meanwhile),
 * a non-finite gradient flagged by the weight gradients, a non-finite loss: the mean as
 * count_step takes it, the same sums), without a fence or a last block; block 0 alone
 * counts the step and records the decision (grad_bad stays set for the others until the
 * next step's start_step). Not with loss scaling (whose decisions need the scale). */
__device__ static bool guard_late(kn__cuda_step *stp, kn__cuda_resident *r, const kn__cuda_count *q) {
    __shared__ double part[KN_CU_GUARD_THREADS];
    __shared__ int failed, skip;
    float mean = q->ws ? rows_mean(q, part) : threadIdx.x == 0 ? *q->loss : 0.0f;
    if (threadIdx.x == 0) skip = stp->failed_before || *(volatile int32_t *)&r->grad_bad || !isfinite(mean);
    __syncthreads();
    bool sk = skip;
    if (blockIdx.x == 0) {
        count_step(stp, r, q, true, part, &failed);
        if (threadIdx.x == 0) guard_decide(stp, r, q->loss, false);
    }
    return sk;
}

/* The guard when the weight gradients take the update (KILN_CUDA_WGRAD_UPDATE=1;
 * kn__cu_wgrad_update): guard_late's decision in the weight gradients' own launch, a grid
 * barrier where guard_late has the launch boundary. Every thread of every block calls it,
 * with whether its gradients held a non-finite value; it returns whether to update. Before
 * the barrier: each block takes the loss's mean (count_step's sums) and reads an earlier
 * failure (failed_before, as guard_late); block 0 counts the step (count_step, which no
 * gradient enters); a thread that found a non-finite gradient raises r->grad_bad. After
 * it: grad_bad, now every block's, and block 0's thread 0 records the decision
 * (guard_decide, grad_bad left set until the next step's start_step, as guard_late leaves
 * it). Whatever this step's count or decision writes to failed_step only happens when the
 * mean or grad_bad already says skip, so every thread decides alike. */
__device__ static bool guard_fused(kn__cuda_step *stp, kn__cuda_resident *r, const kn__cuda_count *q, bool bad) {
    __shared__ double part[KN_CU_GUARD_THREADS];
    __shared__ int failed;
    float mean = q->ws ? rows_mean(q, part) : *(volatile const float *)q->loss;
    bool skip = stp->failed_before || !isfinite(mean);
    if (blockIdx.x == 0) count_step(stp, r, q, true, part, &failed);
    if (bad) kn__flag_raise(&r->grad_bad);
    kn__grid_sync();
    skip = skip || *(volatile int32_t *)&r->grad_bad;
    if (blockIdx.x == 0 && threadIdx.x == 0) guard_decide(stp, r, q->loss, false);
    return !skip;
}

#endif
