/* emu_device.h — what nvcc gives a .cu file, for kiln's kernels compiled by g++ as C++ and
 * run by the CUDA emulator (emu_runtime.cpp): the built-in variables (threadIdx, blockIdx,
 * blockDim, gridDim), __syncthreads, the warp shuffles, __umulhi, __ldcg, the qualifiers, and the
 * launch that rewrite_launches.pl puts where the source says kernel<<<grid, block, shared,
 * stream>>>(args). Force-included (-include) before the kernel file, whose own includes
 * then find cuda_fp16.h and cuda_bf16.h in include/ beside this file.
 *
 * Kernels run one block at a time, each thread on its own fiber, switched at every
 * barrier. A cooperative launch (KN_LAUNCH_COOP) gives every block's threads their fibers
 * at once and still runs one block at a time, each until its threads wait at the grid
 * barrier (kn__grid_sync) or exit, the blocks in alternate orders from one grid barrier to
 * the next. rewrite_launches.pl turns each __shared__ declaration into a reference to the
 * running block's own memory (kn_emu_shared_slot). A launch's arguments are converted to the
 * kernel's parameter types and copied at the launch (so a captured graph replays the values
 * of its capture, as on a GPU). */
#ifndef KN_CUDA_EMU_DEVICE_H
#define KN_CUDA_EMU_DEVICE_H

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

/* host_defines.h gives these as attributes nvcc understands; the emulator's meaning: */
#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __forceinline__
#undef __noinline__ /* (libstdc++ spells its attribute so) */
#undef __launch_bounds__
#undef __grid_constant__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
/* (__shared__ is left undefined: rewrite_launches.pl rewrites its declarations) */

#define __launch_bounds__(...)
#define __grid_constant__

/* The running thread's coordinates (the scheduler sets them at every switch). __thread and
 * initial-exec, not thread_local: every threadIdx in a kernel reads it, and a thread_local of
 * a class type in a shared library is read through a call to its init wrapper and to
 * __tls_get_addr (a fifth of the emulator's time in the small-batch chain's kernels). */
struct kn_emu_coords {
    uint3 thread, block, block_dim, grid_dim; /* (uint3: dim3's constructor is not constant initialization) */
};
extern __thread kn_emu_coords kn_emu_at __attribute__((tls_model("initial-exec")));
#define threadIdx (kn_emu_at.thread)
#define blockIdx (kn_emu_at.block)
#define blockDim (kn_emu_at.block_dim)
#define gridDim (kn_emu_at.grid_dim)

/* Barriers: the whole block's, and the thread's warp's (inside a shuffle). */
void kn_emu_syncthreads(void);
#define __syncthreads() kn_emu_syncthreads()
/* Publishes v for this lane, waits for the warp, returns lane src's value (a fault when
 * src is outside the warp or its thread has exited: undefined on a GPU). */
uint64_t kn_emu_warp_exchange(unsigned mask, uint64_t v, int src_lane);
int kn_emu_lane(void);
/* The grid's barrier (device.cuh's kn__grid_sync): a cooperative launch's only. */
void kn_emu_grid_sync(void);
/* A persistent kernel's thread waiting on its doorbell while it holds seen (device.cuh's
 * kn__door_wait): the launch parks until the host rings (emu_runtime.cpp). */
void kn_emu_door_wait(const uint32_t *door, uint32_t seen);

template <class T> static inline T kn_emu_shfl(unsigned mask, T v, int src_lane) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "a shuffle moves at most 8 bytes");
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    bits = kn_emu_warp_exchange(mask, bits, src_lane);
    T r;
    memcpy(&r, &bits, sizeof r);
    return r;
}
template <class T> static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    int lane = kn_emu_lane();
    return kn_emu_shfl(mask, v, (lane & ~(width - 1)) | ((lane ^ lane_mask) & (width - 1)));
}
template <class T> static inline T __shfl_down_sync(unsigned mask, T v, unsigned d, int width = 32) {
    int lane = kn_emu_lane(), base = lane & ~(width - 1), src = (lane & (width - 1)) + (int)d;
    return kn_emu_shfl(mask, v, src < width ? base + src : lane);
}
template <class T> static inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
    int lane = kn_emu_lane();
    return kn_emu_shfl(mask, v, (lane & ~(width - 1)) | (src & (width - 1)));
}

/* The position of the lowest set bit, from 1 (0 for 0): chain.cuh's log2 of blockDim.x. */
static inline int __ffs(int x) { return __builtin_ffs(x); }
/* The count of leading zero bits (32 for 0): chain.cuh's ceiling log2. */
static inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
/* The high 32 bits of a 32 x 32-bit product (kernels_nn.cu's divisions by a magic number). */
static inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
/* A load past L1 (ld.global.cg): one memory here, so a plain load. */
template <class T> static inline T __ldcg(const T *p) { return *p; }

/* A __shared__ declaration's site (a static beside it) and the running block's memory for
 * it (emu_runtime.cpp): rewrite_launches.pl's rewriting of `__shared__ T name[N];`. */
struct kn_emu_shared_site {
    char unused;
};
void *kn_emu_shared_slot(const kn_emu_shared_site *site, size_t bytes);
/* Distributed shared memory (device.cuh's kn__cluster_map): p, an address in one of the
 * running block's __shared__ declarations, at the same offset in block `rank`'s own (a
 * cluster launch's only; a fault otherwise, or when p lies in none). */
void *kn_emu_shared_map(const void *p, unsigned rank);

/* Atomics and fences: threads run one at a time and switch only at barriers, so any
 * read-modify-write would be atomic here; they are the compiler's seq_cst atomics so that
 * ThreadSanitizer (make test-emu-race) sees them as atomics that order, as a fence and an
 * atomic do on a GPU. Every write is visible to the next thread to run, so a fence is only
 * the compiler's (ThreadSanitizer does not model fences). */
template <class T> static inline T atomicAdd(T *p, T v) {
    if constexpr (std::is_integral<T>::value) {
        return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
    } else {
        T old, want;
        __atomic_load(p, &old, __ATOMIC_SEQ_CST);
        do want = old + v;
        while (!__atomic_compare_exchange(p, &old, &want, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
        return old;
    }
}
template <class T> static inline T atomicExch(T *p, T v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
static inline void __threadfence(void) { __atomic_signal_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_system(void) { __atomic_signal_fence(__ATOMIC_SEQ_CST); }

/* cuda_runtime.h's overload, which nvcc's kernels have (the emulator includes the C API's
 * header only): the kernel passed as itself. */
template <class T>
static inline cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *numBlocks, T func, int blockSize,
                                                                        size_t dynamicSMemSize) {
    return ::cudaOccupancyMaxActiveBlocksPerMultiprocessor(numBlocks, (const void *)func, blockSize, dynamicSMemSize);
}

/* A launch, as the runtime queues it: its name, shape, the pointers among its arguments
 * (each must lie in device memory when it runs) and the call. */
struct kn_emu_kernel {
    const char *name;
    dim3 grid, block;
    size_t shared;
    bool pdl = false;  /* launched with programmatic dependence (KN_LAUNCH): every block must call kn__pdl_wait */
    bool coop = false; /* cooperative (KN_LAUNCH_COOP): all blocks resident at once, kn__grid_sync allowed */
    unsigned cluster = 0; /* a thread-block cluster (KN_LAUNCH_CLUSTER): its blocks along x, the grid exactly one
                           * cluster; run as a cooperative launch (the cluster's barrier its grid barrier) */
    bool host_work = false; /* a copy, memset or host work run as a kernel of one thread (ThreadSanitizer) */
    std::vector<std::pair<int, const void *>> pointers; /* (argument position from 0, value) */
    std::function<void()> body;
};
/* Queues k on stream s (records it while s captures); a bad shape, or a cooperative launch
 * of more blocks than the device holds at once, sets the launch error cudaGetLastError
 * returns, as on a GPU. */
void kn_emu_submit(cudaStream_t s, kn_emu_kernel &&k);

template <class T>
static inline void kn_emu_note_pointer(std::vector<std::pair<int, const void *>> &v, int &pos, const T &a) {
    if constexpr (std::is_pointer<T>::value) v.push_back({pos, (const void *)a});
    else (void)v, (void)a;
    pos++;
}

namespace kn_emu {
struct launch_config {
    dim3 grid, block;
    size_t shared;
    cudaStream_t stream;
    bool pdl, coop;
    unsigned cluster;
    launch_config(dim3 g, dim3 b, size_t sh = 0, cudaStream_t s = 0, bool p = false, bool c = false, unsigned cl = 0)
        : grid(g), block(b), shared(sh), stream(s), pdl(p), coop(c), cluster(cl) {}
    template <class... P, class... A> void launch(const char *name, void (*kernel)(P...), A &&...args) const {
        static_assert(sizeof...(P) == sizeof...(A), "a kernel launched with the wrong number of arguments");
        std::tuple<std::decay_t<P>...> values(static_cast<std::decay_t<P>>(std::forward<A>(args))...);
        kn_emu_kernel k;
        k.name = name;
        k.grid = grid;
        k.block = block;
        k.shared = shared;
        k.pdl = pdl;
        k.coop = coop;
        k.cluster = cluster;
        int pos = 0;
        std::apply([&](const auto &...v) { (kn_emu_note_pointer(k.pointers, pos, v), ...); }, values);
        k.body = [kernel, values]() { std::apply(kernel, values); };
        kn_emu_submit(stream, std::move(k));
    }
};
} // namespace kn_emu

#endif
