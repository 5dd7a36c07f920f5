/* device.cuh — device functions the CUDA kernels share: activations and their gradients
 * (activation.c's formulas), warp and block reductions, and kiln's counter RNG
 * (core.h's kn__mix64 / kn__rng_key / kn__rng_draw, the same 64-bit arithmetic). */
#ifndef KN_CUDA_DEVICE_CUH
#define KN_CUDA_DEVICE_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#ifdef __CUDACC__
#include <cooperative_groups.h>
#endif
#include <math.h>
#include <stdint.h>

#include "backend/act_formulas.h"

/* KN_UNROLL(n): unroll the next loop n times (nvcc; the emulator's compiler ignores it), so
 * that a latency-bound loop has n independent loads in flight instead of one at a time. */
#ifdef __CUDACC__
#define KN_PRAGMA_(x) _Pragma(#x)
#define KN_UNROLL(n) KN_PRAGMA_(unroll n)
#else
#define KN_UNROLL(n)
#endif

/* Blocks of `threads` for a grid-stride loop over n elements (KN_CU_GRID_STRIDE): at least
 * one, at most 65535 * 4 (the loop takes the rest). */
static inline unsigned kn__cu_blocks_for(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 1 ? 1 : b > 65535 * 4 ? 65535 * 4 : b);
}
#define KN_CU_GRID_STRIDE(i, n) \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

/* A product (a sum) rounded alone: nvcc would otherwise contract a product and the addition
 * after it into an fma, and where it does depends on the code around the expression, so the
 * same formula inlined into two kernels could give two results (the optimizer's update in
 * the update kernel and in the weight gradients' launch: optimizer.cuh). The emulator's
 * C++ is built without FMA instructions: never fused there. */
__device__ static inline float kn__mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}
__device__ static inline float kn__add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}

/* Nanoseconds on the device's global timer (%globaltimer: the same clock in every block;
 * the emulator: the host's monotonic clock), for kn__cu_chain's stamps. */
#if !defined(__CUDACC__)
#include <time.h>
#endif
__device__ static inline unsigned long long kn__now_ns(void) {
#if defined(__CUDA_ARCH__)
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
#elif !defined(__CUDACC__)
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
#else
    return 0;
#endif
}

/* The multiprocessor's cycle counter (clock64; the emulator: kn__now_ns), for the clock
 * rate the chain's stamps report beside their nanoseconds. */
__device__ static inline unsigned long long kn__clock(void) {
#if defined(__CUDA_ARCH__)
    return (unsigned long long)clock64();
#else
    return kn__now_ns();
#endif
}
/* The multiprocessor the calling thread runs on (%smid; the emulator: 0), for the row
 * kernel's stamps: whether a predict's block 0 lands where the one before ran. */
__device__ static inline unsigned kn__smid(void) {
#if defined(__CUDA_ARCH__)
    unsigned id;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
    return id;
#else
    return 0;
#endif
}

/* Programmatic dependent launch (Hopper; KILN_CUDA_PDL=1, docs/cuda.md "Small batches"): a
 * kernel launched with KN_LAUNCH(true, ...) may start while the kernel before it in the
 * stream still runs, so that its launch overlaps the other's tail. Such a kernel calls
 * kn__pdl_wait() first, before it reads or writes anything: it returns once the kernel
 * before has finished and its writes are visible (at once for a kernel launched the plain
 * way). kn__pdl_trigger() lets the kernel after this one start launching early (its own
 * wait still holds it until this one ends). */
#ifndef __CUDACC__
void kn_emu_pdl_wait(void);
#endif
__device__ static inline void kn__pdl_wait(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#elif !defined(__CUDACC__)
    kn_emu_pdl_wait(); /* (the emulator checks that every block of such a launch waits) */
#endif
}
__device__ static inline void kn__pdl_trigger(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

/* A barrier across every block of a cooperative launch (KN_LAUNCH_COOP below, whose blocks
 * are all resident at once, so none waits on one that cannot start): every thread of every
 * block calls it; it returns once all have arrived, their writes before it visible to all
 * after it. On a GPU it is cooperative groups' grid.sync(), NVIDIA's own (its barrier word
 * is the cooperative launch's). A block's __shared__ memory is kept across it (the emulator
 * gives each block its own too, while it runs the blocks one at a time between grid
 * barriers, in alternate orders: tests/cuda_emu). */
#ifndef __CUDACC__
void kn_emu_grid_sync(void);
#endif
__device__ static inline void kn__grid_sync(void) {
#if defined(__CUDACC__)
    cooperative_groups::this_grid().sync();
#else
    kn_emu_grid_sync();
#endif
}

/* Thread-block clusters (Hopper; KN_LAUNCH_CLUSTER below: a launch of exactly one cluster,
 * its blocks along x): a block's rank in its cluster; the cluster's barrier split in two
 * (kn__cluster_arrive, then kn__cluster_wait: every thread of every block calls both, the
 * wait returning once all have arrived, their writes before the arrival visible after it);
 * and kn__cluster_map(p, rank): the address of the same __shared__ variable in block rank
 * (distributed shared memory: loads and stores through it reach that block's memory).
 * A block must not touch another's shared memory before a barrier has shown that block
 * started, nor exit while another may still touch its own. On the emulator the launch is
 * cooperative (one block at a time up to each barrier: tests/cuda_emu), the wait its grid
 * barrier and the map the same slot of the other block's shared memory. */
#ifndef __CUDACC__
void *kn_emu_shared_map(const void *p, unsigned rank);
#endif
__device__ static inline unsigned kn__cluster_rank(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    return cooperative_groups::this_cluster().block_rank();
#else
    return blockIdx.x;
#endif
}
__device__ static inline void kn__cluster_arrive(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("barrier.cluster.arrive.release.aligned;" ::: "memory");
#endif
}
__device__ static inline void kn__cluster_wait(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("barrier.cluster.wait.acquire.aligned;" ::: "memory");
#elif defined(__CUDA_ARCH__)
    __trap(); /* (never launched below sm_90: the host asks cudaDevAttrClusterLaunch) */
#elif !defined(__CUDACC__)
    kn_emu_grid_sync();
#endif
}
template <class T> __device__ static inline T *kn__cluster_map(T *p, unsigned rank) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    return cooperative_groups::this_cluster().map_shared_rank(p, (int)rank);
#elif !defined(__CUDACC__)
    return (T *)kn_emu_shared_map(p, rank);
#else
    (void)rank;
    return p;
#endif
}

/* A persistent kernel's doorbell (kn__cu_chain's door): thread 0 of a block waits until the
 * mapped host word at door holds a number other than seen, and returns it (a system-scope
 * acquire load, so that the reads after it see what the host wrote before ringing). On the
 * emulator the launch parks between the loads until the host rings (the kernel stays
 * running across the host's samples, as on a GPU: tests/cuda_emu). kn__ld_fresh(p): *p
 * from memory another processor writes (mapped staging), never an L1 line a load before
 * left. */
/* The word at p once it holds a number other than seen, by acquire loads at system scope
 * (sys: mapped host memory the host writes) or at the GPU's (device memory another block
 * writes). */
__device__ static inline uint32_t kn__spin_changed(const uint32_t *p, uint32_t seen, bool sys) {
    uint32_t v;
#if defined(__CUDA_ARCH__)
    do {
        if (sys) asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
        else asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    } while (v == seen);
#elif defined(KN_CUDA_EMU_DEVICE_H)
    (void)sys;
    while ((v = __atomic_load_n(p, __ATOMIC_ACQUIRE)) == seen) kn_emu_door_wait(p, seen);
#else /* (nvcc's host pass: never called) */
    (void)p, (void)sys;
    v = seen;
#endif
    return v;
}
__device__ static inline uint32_t kn__door_wait(const uint32_t *door, uint32_t seen) {
    return kn__spin_changed(door, seen, true);
}
/* ... through a relay (relay: a word in device memory, 0 at the launch; NULL: every block
 * waits on the host's word itself): the lead block's thread 0 alone waits on the mapped
 * doorbell and passes each number on to relay, where the other blocks' wait, in L2 rather
 * than across the bus (24 blocks each spinning on host memory took a sample's round trip
 * from 9.5 to 118 us on the H200: bench/gpu/latency_probe.cu's persistent ways). */
__device__ static inline uint32_t kn__door_relay(const uint32_t *door, uint32_t *relay, uint32_t seen, bool lead) {
    if (!relay) return kn__door_wait(door, seen);
    if (lead) {
        uint32_t v = kn__door_wait(door, seen);
#if defined(__CUDA_ARCH__)
        asm volatile("st.release.gpu.global.u32 [%0], %1;" ::"l"(relay), "r"(v) : "memory");
#elif defined(KN_CUDA_EMU_DEVICE_H)
        __atomic_store_n(relay, v, __ATOMIC_RELEASE);
#endif
        return v;
    }
    return kn__spin_changed(relay, seen, false);
}
template <class T> __device__ static inline T kn__ld_fresh(const T *p) { /* (T: float or uint32_t, __ldcv's) */
#if defined(__CUDA_ARCH__)
    return __ldcv(p);
#else
    return *(volatile const T *)p;
#endif
}

/* Publishes v at p in mapped host memory, for the host polling it (after the writes it
 * announces, made visible by a __threadfence_system before): a volatile store on a GPU, a
 * release store on the emulator (the host reads it with an acquire load). */
__device__ static inline void kn__publish_sys(uint32_t *p, uint32_t v) {
#if defined(__CUDA_ARCH__)
    *(volatile uint32_t *)p = v;
#else
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
#endif
}

/* Raises a flag (*flag = 1) that threads of other warps and blocks may raise at the same
 * time: an atomic, as plain stores of the same 1 from several threads would race under the
 * memory model (make test-emu-race reports them). Readers order after it by a fence and an
 * atomic, a grid barrier or a launch boundary. */
__device__ static inline void kn__flag_raise(int32_t *flag) { atomicExch(flag, 1); }

/* Asks for the bytes [p, p + bytes) in this multiprocessor's L1 (prefetch.global.L1, a
 * hint: nothing waits for it), the block's threads a 128-byte line each in turn; so that a
 * latency-bound kernel's later loads of read-only data find it there, not in L2. Every
 * thread of the block calls it (the emulator: nothing). */
__device__ static inline void kn__prefetch_l1(const void *p, int64_t bytes) {
#if defined(__CUDA_ARCH__)
    if (bytes <= 0) return;
    const char *c = (const char *)p;
    for (int64_t off = (int64_t)threadIdx.x * 128; off < bytes + 127; off += (int64_t)blockDim.x * 128)
        asm volatile("prefetch.global.L1 [%0];" ::"l"(c + (off < bytes ? off : bytes - 1)));
#else
    (void)p, (void)bytes;
#endif
}

/* KN_LAUNCH(pdl, kernel, grid, block, shared, stream, args...): kernel<<<grid, block,
 * shared, stream>>>(args...), with pdl through cudaLaunchKernelEx and the programmatic
 * stream serialization attribute (a statement; a failed launch returns its error).
 * KN_LAUNCH_COOP(pdl, ...): the same as a cooperative launch (the cooperative attribute:
 * every block resident at once, or the launch fails; a kernel that calls kn__grid_sync).
 * KN_LAUNCH_CLUSTER(pdl, kernel, cluster, block, stream, args...): one thread-block cluster
 * of `cluster` blocks along x (the cluster dimension attribute; past 8 the kernel must
 * allow a non-portable size first), no dynamic shared memory. */
#ifdef __CUDACC__
template <class... P, class... A>
static cudaError_t kn__launch_ex(bool pdl, bool coop, unsigned cluster, void (*kernel)(P...), dim3 grid, dim3 block,
                                 size_t shared, cudaStream_t s, A &&...args) {
    cudaLaunchAttribute at[3];
    unsigned n = 0;
    if (pdl) {
        at[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        at[n++].val.programmaticStreamSerializationAllowed = 1;
    }
    if (coop) {
        at[n].id = cudaLaunchAttributeCooperative;
        at[n++].val.cooperative = 1;
    }
    if (cluster) {
        at[n].id = cudaLaunchAttributeClusterDimension;
        at[n].val.clusterDim.x = cluster;
        at[n].val.clusterDim.y = 1;
        at[n++].val.clusterDim.z = 1;
    }
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = shared;
    cfg.stream = s;
    cfg.attrs = at;
    cfg.numAttrs = n;
    return cudaLaunchKernelEx(&cfg, kernel, static_cast<P>(args)...);
}
#define KN_LAUNCH(pdl, kernel, grid, block, shared, stream, ...)                                                   \
    do {                                                                                                            \
        if (pdl) {                                                                                                  \
            cudaError_t e_ = kn__launch_ex(true, false, 0, kernel, grid, block, shared, stream, __VA_ARGS__);       \
            if (e_ != cudaSuccess) return e_;                                                                       \
        } else {                                                                                                    \
            kernel<<<grid, block, shared, stream>>>(__VA_ARGS__);                                                   \
        }                                                                                                           \
    } while (0)
#define KN_LAUNCH_COOP(pdl, kernel, grid, block, shared, stream, ...)                                              \
    do {                                                                                                            \
        cudaError_t e_ = kn__launch_ex(pdl, true, 0, kernel, grid, block, shared, stream, __VA_ARGS__);             \
        if (e_ != cudaSuccess) return e_;                                                                           \
    } while (0)
#define KN_LAUNCH_CLUSTER(pdl, kernel, cluster, block, stream, ...)                                                 \
    do {                                                                                                            \
        cudaError_t e_ = kn__launch_ex(pdl, false, cluster, kernel, dim3(cluster), block, 0, stream, __VA_ARGS__);  \
        if (e_ != cudaSuccess) return e_;                                                                           \
    } while (0)
#else /* the emulator (tests/cuda_emu/emu_device.h): the launch marked, for the wait's check */
#define KN_LAUNCH(pdl, kernel, grid, block, shared, stream, ...)                                                   \
    kn_emu::launch_config(grid, block, shared, stream, pdl).launch(#kernel, kernel, __VA_ARGS__)
#define KN_LAUNCH_COOP(pdl, kernel, grid, block, shared, stream, ...)                                              \
    kn_emu::launch_config(grid, block, shared, stream, pdl, true).launch(#kernel, kernel, __VA_ARGS__)
#define KN_LAUNCH_CLUSTER(pdl, kernel, cluster, block, stream, ...)                                                 \
    kn_emu::launch_config(dim3(cluster), block, 0, stream, pdl, true, cluster).launch(#kernel, kernel, __VA_ARGS__)
#endif

/* Half storage (mixed precision): element i of p, stored as dt (KN_F32, KN_BF16, KN_F16),
 * widened to float; and v narrowed to dt with round-to-nearest-even (NaN and infinity kept),
 * as src/core/half.c narrows on the CPU. dt is the same for every thread of a launch, so
 * the branch does not diverge. */
__device__ static inline float kn__ld(const void *p, int dt, int64_t i) {
    if (dt == KN_BF16) return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    if (dt == KN_F16) return __half2float(((const __half *)p)[i]);
    return ((const float *)p)[i];
}
__device__ static inline void kn__st(void *p, int dt, int64_t i, float v) {
    if (dt == KN_BF16) ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v);
    else if (dt == KN_F16) ((__half *)p)[i] = __float2half_rn(v);
    else ((float *)p)[i] = v;
}

/* The same eight at a time: elements 8c .. 8c + 7 of p, whose base address is 16-byte
 * aligned (kn__aligned16), in one or two 16-byte accesses instead of eight, so that a
 * bandwidth-bound kernel keeps enough bytes in flight (a warp's 2-byte loads move 64 bytes
 * an instruction, its 16-byte ones 512). The values are kn__ld's and kn__st's. */
__device__ static inline void kn__ld8(const void *p, int dt, int64_t c, float v[8]) {
    if (dt == KN_F32) {
        float4 a = ((const float4 *)p)[2 * c], b = ((const float4 *)p)[2 * c + 1];
        v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
        return;
    }
    uint4 u = ((const uint4 *)p)[c];
    if (dt == KN_BF16) {
        const __nv_bfloat16 *h = reinterpret_cast<const __nv_bfloat16 *>(&u);
        for (int k = 0; k < 8; k++) v[k] = __bfloat162float(h[k]);
    } else {
        const __half *h = reinterpret_cast<const __half *>(&u);
        for (int k = 0; k < 8; k++) v[k] = __half2float(h[k]);
    }
}
__device__ static inline void kn__st8(void *p, int dt, int64_t c, const float v[8]) {
    if (dt == KN_F32) {
        float4 a = {v[0], v[1], v[2], v[3]}, b = {v[4], v[5], v[6], v[7]};
        ((float4 *)p)[2 * c] = a;
        ((float4 *)p)[2 * c + 1] = b;
        return;
    }
    uint4 u = {0, 0, 0, 0}; /* (every byte written below; g++ cannot tell through the casts) */
    if (dt == KN_BF16) {
        __nv_bfloat16 *h = reinterpret_cast<__nv_bfloat16 *>(&u);
        for (int k = 0; k < 8; k++) h[k] = __float2bfloat16_rn(v[k]);
    } else {
        __half *h = reinterpret_cast<__half *>(&u);
        for (int k = 0; k < 8; k++) h[k] = __float2half_rn(v[k]);
    }
    ((uint4 *)p)[c] = u;
}
/* Whether p (NULL counts as aligned) suits kn__ld8. */
__host__ __device__ static inline bool kn__aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

__device__ static inline float kn__dev_act(int act, float alpha, float x) {
    switch (act) {
    case KN_RELU: return x > 0 ? x : 0.0f;
    case KN_LEAKY_RELU: return x > 0 ? x : alpha * x;
    case KN_ELU: return x > 0 ? x : alpha * expm1f(x);
    case KN_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case KN_TANH: return tanhf(x);
    case KN_GELU: return 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
    case KN_SELU: case KN_SOFTPLUS: case KN_SOFTSIGN: case KN_SILU: case KN_HARD_SIGMOID: case KN_HARD_SILU:
    case KN_RELU6: case KN_MISH: case KN_EXPONENTIAL: return kn__act_value(act, x);
    default: return x;
    }
}

/* dx from dy and v, the output or the input as kn__act_grad_uses_output says. */
__device__ static inline float kn__dev_act_grad(int act, float alpha, float dy, float v) {
    switch (act) {
    case KN_RELU: return v > 0 ? dy : 0.0f;
    case KN_LEAKY_RELU: return v > 0 ? dy : alpha * dy;
    case KN_ELU: return v > 0 ? dy : dy * alpha * expf(v);
    case KN_SIGMOID: return dy * v * (1.0f - v);
    case KN_TANH: return dy * (1.0f - v * v);
    case KN_GELU: {
        float cdf = 0.5f * (1.0f + erff(v * (float)M_SQRT1_2));
        return dy * (cdf + v * 0.3989422804014327f * expf(-0.5f * v * v));
    }
    case KN_EXPONENTIAL: return dy * v;
    case KN_SELU: case KN_SOFTPLUS: case KN_SOFTSIGN: case KN_SILU: case KN_HARD_SIGMOID: case KN_HARD_SILU:
    case KN_RELU6: case KN_MISH: return dy * kn__act_slope(act, v);
    default: return dy;
    }
}

__device__ static inline float kn__warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ static inline float kn__warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum of v over the block (blockDim.x a multiple of 32 up to 1024; part: at least 33
 * doubles of shared memory), a fixed tree; every thread gets it. */
__device__ static inline double kn__block_sum_double(double v, double *part) {
    /* each warp by shuffles, then warp 0 over the warps' sums, part[32] handing the result
     * to every thread (three barriers where a shared-memory tree takes eleven); the last
     * lets the caller reuse part at once */
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int lane = (int)threadIdx.x % 32, warps = (int)(blockDim.x + 31) / 32;
    if (lane == 0) part[threadIdx.x / 32] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        double w = lane < warps ? part[lane] : 0.0;
        for (int o = 16; o > 0; o >>= 1) w += __shfl_xor_sync(0xffffffffu, w, o);
        if (lane == 0) part[32] = w;
    }
    __syncthreads();
    double r = part[32];
    __syncthreads();
    return r;
}

__device__ static inline uint64_t kn__dev_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
__device__ static inline uint64_t kn__dev_rng_key(uint64_t seed, uint64_t stream) {
    return kn__dev_mix64(seed + 0x9e3779b97f4a7c15ULL * (stream + 1));
}
__device__ static inline uint64_t kn__dev_rng_draw(uint64_t key, uint64_t counter) {
    return kn__dev_mix64(key ^ kn__dev_mix64(counter + 0x632be59bd9b4e019ULL));
}
__device__ static inline uint64_t kn__dev_rng_u64(uint64_t seed, uint64_t stream, uint64_t counter) {
    return kn__dev_rng_draw(kn__dev_rng_key(seed, stream), counter);
}

#endif
