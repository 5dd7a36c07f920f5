/* test_emu_grid.cu — the CUDA emulator's cooperative launches (README.md here): device.cuh's
 * KN_LAUNCH_COOP and kn__grid_sync, the emulated device's capacity, and the faults of a grid
 * barrier used wrong. Built as the backend's kernels are (rewrite_launches.pl, emu_device.h
 * force-included), against libkn_cuda_emu only (not libkiln).
 *
 *   test_emu_grid                        the checks that pass, on the default capacity
 *   test_emu_grid capacity SMS PER_SM    the capacity's checks, run with KILN_CUDA_EMU_SMS=SMS
 *                                        and KILN_CUDA_EMU_BLOCKS_PER_SM=PER_SM
 *   test_emu_grid fault-exit | fault-split | fault-plain | fault-pdl | fault-door
 *                                        one fault each (a fault is sticky: one a process),
 *                                        its message read back from stderr
 *   test_emu_grid race-NAME              one deliberate race each (make test-emu-race) */
#include "kiln.h"

#include "device.cuh"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

static int failures, checks;

#define CHECK(cond, ...)                                                                                      \
    do {                                                                                                      \
        checks++;                                                                                             \
        if (!(cond)) {                                                                                        \
            failures++;                                                                                       \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                              \
            fprintf(stderr, __VA_ARGS__);                                                                     \
            fputc('\n', stderr);                                                                              \
        }                                                                                                     \
    } while (0)

/* ------------------------------------------------------------------ kernels */

/* The thread's and block's linear numbers, x fastest. */
__device__ static int thread_no(void) { return (int)(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)); }
__device__ static int block_no(void) { return (int)(blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z)); }
__device__ static int grid_blocks(void) { return (int)(gridDim.x * gridDim.y * gridDim.z); }

__host__ __device__ static int64_t written(int b, int t) { return (int64_t)(b + 1) * 1000003 + 7 * t; }

/* Each thread writes its value, passes `syncs` grid barriers in a row, then sums what the
 * threads of the same number in the other blocks wrote (stored where its coordinates, read
 * again after the barriers, say). */
__global__ static void grid_sum(int syncs, int64_t *v, int64_t *out) {
    kn__pdl_wait(); /* (every block, for a launch with programmatic dependence) */
    int n = (int)(blockDim.x * blockDim.y * blockDim.z), t = thread_no(), b = block_no(), blocks = grid_blocks();
    v[b * n + t] = written(b, t);
    for (int s = 0; s < syncs; s++) kn__grid_sync();
    int64_t sum = 0;
    for (int o = 0; o < blocks; o++)
        if (o != b) sum += v[o * n + t];
    out[block_no() * n + thread_no()] = sum;
}

/* Rounds of: write, grid barrier, read another block's value and sum a block's worth of them
 * (warp shuffles and __syncthreads between grid barriers), grid barrier (all have read
 * before the next round writes). blockDim (x only) a multiple of 32. */
__global__ static void grid_rounds(int rounds, uint32_t *v, uint32_t *out) {
    __shared__ double part[33];
    int n = (int)blockDim.x, t = (int)threadIdx.x, b = block_no(), blocks = grid_blocks();
    uint32_t x = (uint32_t)(b * n + t) * 2654435761u + 1;
    for (int r = 0; r < rounds; r++) {
        v[b * n + t] = x;
        kn__grid_sync();
        uint32_t y = v[(b + 1) % blocks * n + (n - 1 - t)];
        double s = kn__block_sum_double((double)(y & 0xfffff), part);
        kn__grid_sync();
        x = x * 3u + y + (uint32_t)s;
    }
    out[b * n + t] = x;
}

/* Blocks of 48 threads (a warp and a half, so a block's first fiber is not a warp's in the
 * emulator's numbering): each thread stores lane 0's value of its warp and its neighbour's
 * (lane ^ 1), before the grid barrier and after. */
__global__ static void warp_shuffles(int *out) {
    int t = (int)threadIdx.x, b = block_no(), n = (int)blockDim.x, blocks = grid_blocks();
    for (int phase = 0; phase < 2; phase++) {
        if (phase) kn__grid_sync();
        int v = b * 1000 + t + phase, *o = out + 2 * (phase * blocks + b) * n;
        o[t] = __shfl_sync(0xffffffffu, v, 0);
        o[n + t] = __shfl_xor_sync(0xffffffffu, v, 1);
    }
    /* a lane may exit as soon as it has made its last shuffle: the lanes it gave to still
     * read its value (the emulator runs the first lanes past the shuffle before the others
     * have read) */
    int *o = out + 4 * blocks * n;
    int got = __shfl_xor_sync(0xffffffffu, b * 1000 + t + 7, 1);
    if (t & 1) return;
    o[b * n + t] = got;
}

/* What grid_rounds computes, on the host. */
static std::vector<uint32_t> grid_rounds_expected(int rounds, int blocks, int n) {
    std::vector<uint32_t> x((size_t)blocks * n), v(x.size());
    for (size_t i = 0; i < x.size(); i++) x[i] = (uint32_t)i * 2654435761u + 1;
    for (int r = 0; r < rounds; r++) {
        v = x;
        for (int b = 0; b < blocks; b++) {
            double s = 0;
            for (int t = 0; t < n; t++) s += (double)(v[(size_t)((b + 1) % blocks * n + (n - 1 - t))] & 0xfffff);
            for (int t = 0; t < n; t++) {
                uint32_t y = v[(size_t)((b + 1) % blocks * n + (n - 1 - t))];
                x[(size_t)(b * n + t)] = x[(size_t)(b * n + t)] * 3u + y + (uint32_t)s;
            }
        }
    }
    return x;
}

/* Keeps a __shared__ value across the grid barrier: each thread stores its block's number
 * as read after it. A GPU keeps a resident block's shared memory, and so does the emulator
 * (each block's own, however the blocks interleave). */
__global__ static void shared_across(int *out) {
    __shared__ int mine;
    if (thread_no() == 0) mine = block_no();
    __syncthreads();
    kn__grid_sync();
    out[block_no() * (int)(blockDim.x * blockDim.y * blockDim.z) + thread_no()] = mine;
}

/* Reads, in the same phase, what the block before it writes: a race (no grid barrier
 * between), which the blocks' forward order alone would hide. out[phase][block]: what was
 * read; 2 phases. */
__global__ static void missing_barrier(int *v, int *out) {
    int b = block_no(), blocks = grid_blocks();
    for (int phase = 0; phase < 2; phase++) {
        if (phase) kn__grid_sync();
        if (thread_no() == 0) {
            v[b] = 100 * phase + b;
            out[phase * blocks + b] = b ? v[b - 1] : 100 * phase - 1;
        }
    }
}

/* Deliberate races, for make test-emu-race (ThreadSanitizer must name each kernel; see
 * check_race): */
/* a shared-memory read of another warp's write without __syncthreads between (a race
 * between lanes of one warp goes unseen: a warp is one thread to ThreadSanitizer) */
__global__ static void race_shared(int *out) {
    __shared__ int s[1024];
    int t = thread_no(), n = (int)blockDim.x;
    s[t] = t;
    out[t] = s[(t + 33) % n];
}
/* device.cuh's kn__block_sum_double without its second barrier, in a block of 1024: the
 * threads past warp 0 read part[32] before warp 0 wrote it */
__global__ static void race_block_sum(int *out) {
    __shared__ double part[33];
    double v = thread_no();
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int lane = (int)threadIdx.x % 32, warps = (int)(blockDim.x + 31) / 32;
    if (lane == 0) part[threadIdx.x / 32] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        double w = lane < warps ? part[lane] : 0.0;
        for (int o = 16; o > 0; o >>= 1) w += __shfl_xor_sync(0xffffffffu, w, o);
        if (lane == 0) part[32] = w;
    }
    double r = part[32];
    __syncthreads();
    out[thread_no()] = (int)r;
}
/* two blocks of a plain launch writing the same word (the emulator runs them one after
 * the other: still unordered) */
__global__ static void race_plain_blocks(int *out) { out[thread_no()] = block_no(); }
/* a kernel launched with programmatic dependence reading, before its kn__pdl_wait, what
 * the kernel before it writes (pdl_reader: the same read after the wait, no race) */
__global__ static void pdl_writer(int *v) { v[thread_no()] = 5; }
__global__ static void race_pdl_early(int *v, int *out) {
    out[thread_no()] = v[thread_no()];
    kn__pdl_wait();
}
__global__ static void pdl_reader(int *v, int *out) {
    kn__pdl_wait();
    out[thread_no()] = v[thread_no()];
}

/* a kernel reading mapped host memory the host rewrites after the launch, before it
 * synchronized (host_ordered_read: the same read of what the host wrote before the launch,
 * no race) */
__global__ static void host_ordered_read(const int *h, int *out) { out[thread_no()] = h[thread_no()]; }
__global__ static void race_host_read(const int *h, int *out) { out[thread_no()] = h[thread_no()]; }

/* A persistent kernel (device.cuh's kn__door_wait, as kernels_chain.cu's predict): at each
 * doorbell d, every thread writes in[i] * 2 + d, and the last of the blocks to finish
 * publishes d at flag (mapped memory the host polls); KN_CU_DOOR_STOP ends it. served counts
 * the samples. */
#define DOOR_STOP 0xffffffffu
__global__ static void door_echo(const uint32_t *door, const int *in, int *out, uint32_t *count, uint32_t *flag,
                                 uint32_t *served) {
    __shared__ uint32_t rung;
    __shared__ bool last;
    for (uint32_t seen = 0;;) {
        if (threadIdx.x == 0) rung = kn__door_wait(door, seen);
        __syncthreads();
        uint32_t d = rung;
        __syncthreads(); /* (every thread read it before thread 0 waits again) */
        if (d == DOOR_STOP) return;
        seen = d;
        int i = block_no() * (int)blockDim.x + (int)threadIdx.x;
        out[i] = in[i] * 2 + (int)d;
        __threadfence_system();
        __syncthreads();
        if (threadIdx.x == 0) last = atomicAdd(count, 1u) == (unsigned)grid_blocks() - 1;
        __syncthreads();
        if (last && threadIdx.x == 0) {
            *count = 0;
            *served += 1;
            kn__publish_sys(flag, d);
        }
    }
}

/* The order the blocks run in, phase by phase (the emulator's: a GPU has none). order[phase]
 * [k]: the k-th block to reach the count in that phase; 3 phases. */
__global__ static void run_order(int *order, int *count) {
    for (int phase = 0; phase < 3; phase++) {
        if (phase) kn__grid_sync();
        if (thread_no() == 0) order[phase * grid_blocks() + atomicAdd(&count[phase], 1)] = block_no();
    }
}

/* A plain launch's block sums (shuffles and __syncthreads from fiber 0 again after the
 * cooperative launches). */
__global__ static void block_sums(double *out) {
    __shared__ double part[33];
    double s = kn__block_sum_double((double)threadIdx.x, part);
    if (threadIdx.x == 0) out[blockIdx.x] = s;
}

/* A thread-block cluster (KN_LAUNCH_CLUSTER: one cluster, the grid): each block puts
 * 100 x its rank + t for each of its first 8 threads into block 0's shared array at its
 * rank's row (distributed shared memory), behind the cluster's barrier; block 0 then writes
 * the whole array out. The first barrier shows every block started (its memory may be
 * written), the second that every block's stores are in. */
__global__ static void cluster_gather(int *out) {
    __shared__ int rows[16][8];
    unsigned rank = kn__cluster_rank(), t = threadIdx.x;
    kn__cluster_arrive();
    kn__cluster_wait();
    if (t < 8) kn__cluster_map(&rows[0][0], 0)[rank * 8 + t] = (int)(100 * rank + t);
    kn__cluster_arrive();
    kn__cluster_wait();
    if (rank == 0)
        for (unsigned i = t; i < gridDim.x * 8; i += blockDim.x) out[i] = (&rows[0][0])[i];
}
/* A map to another block in a launch that is not a cluster: a fault. */
__global__ static void map_outside(int *out) {
    __shared__ int v;
    *kn__cluster_map(&v, 1) = 1;
    out[block_no()] = 1;
}

/* Faults: block 1 returns before the barrier; half a block at __syncthreads, half at the
 * grid barrier; block 2 never calls kn__pdl_wait. */
__global__ static void exit_early(int *out) {
    if (block_no() == 1) return;
    kn__grid_sync();
    out[block_no()] = 1;
}
/* Odd lanes return before the shuffle their even neighbours read them in. */
__global__ static void shuffle_exited(int *out) {
    int t = (int)threadIdx.x;
    if (t & 1) return;
    out[t] = __shfl_xor_sync(0xffffffffu, t, 1);
}
__global__ static void split_barriers(int *out) {
    if (thread_no() < 128) __syncthreads();
    else kn__grid_sync();
    out[block_no()] = 1; /* (never reached: the fault comes first) */
}
__global__ static void pdl_partial(int *out) {
    if (block_no() != 2) kn__pdl_wait();
    kn__grid_sync();
    out[block_no()] = 1;
}

/* ------------------------------------------------------------------ host helpers */

template <class T> static T *device_array(size_t count) {
    T *p = nullptr;
    CHECK(cudaMalloc((void **)&p, count * sizeof(T)) == cudaSuccess, "cudaMalloc %zu", count * sizeof(T));
    CHECK(cudaMemset(p, 0, count * sizeof(T)) == cudaSuccess, "cudaMemset");
    return p;
}

template <class T> static std::vector<T> to_host(const T *p, size_t count) {
    std::vector<T> h(count);
    CHECK(cudaMemcpy(h.data(), p, count * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess, "cudaMemcpy back");
    return h;
}

/* grid_sum on grid x block (256 threads by default), cooperative (pdl as asked), against the
 * host's sums. */
static void check_grid_sum(dim3 grid, int syncs, bool pdl, cudaStream_t stream, dim3 block = dim3(256)) {
    int blocks = (int)(grid.x * grid.y * grid.z), n = (int)(block.x * block.y * block.z);
    int64_t *v = device_array<int64_t>((size_t)blocks * n), *out = device_array<int64_t>((size_t)blocks * n);
    KN_LAUNCH_COOP(pdl, grid_sum, grid, block, 0, stream, syncs, v, out);
    CHECK(cudaGetLastError() == cudaSuccess, "grid_sum launch (%u,%u,%u), %d barriers", grid.x, grid.y, grid.z, syncs);
    CHECK(cudaStreamSynchronize(stream) == cudaSuccess, "grid_sum run");
    std::vector<int64_t> h = to_host(out, (size_t)blocks * n);
    int wrong = 0;
    for (int b = 0; b < blocks; b++)
        for (int t = 0; t < n; t++) {
            int64_t want = 0;
            for (int o = 0; o < blocks; o++)
                if (o != b) want += written(o, t);
            wrong += h[(size_t)(b * n + t)] != want;
        }
    CHECK(wrong == 0, "grid_sum on (%u,%u,%u) blocks of (%u,%u,%u), %d barriers in a row%s: %d of %d sums wrong", grid.x,
          grid.y, grid.z, block.x, block.y, block.z, syncs, pdl ? ", pdl" : "", wrong, blocks * n);
    cudaFree(v);
    cudaFree(out);
}

static void check_grid_rounds(dim3 grid, int rounds) {
    dim3 block(256);
    int blocks = (int)(grid.x * grid.y * grid.z), n = 256;
    uint32_t *v = device_array<uint32_t>((size_t)blocks * n), *out = device_array<uint32_t>((size_t)blocks * n);
    KN_LAUNCH_COOP(false, grid_rounds, grid, block, 0, 0, rounds, v, out);
    CHECK(cudaGetLastError() == cudaSuccess, "grid_rounds launch");
    CHECK(cudaDeviceSynchronize() == cudaSuccess, "grid_rounds run");
    std::vector<uint32_t> h = to_host(out, (size_t)blocks * n), want = grid_rounds_expected(rounds, blocks, n);
    int wrong = 0;
    for (size_t i = 0; i < h.size(); i++) wrong += h[i] != want[i];
    CHECK(wrong == 0, "grid_rounds on (%u,%u,%u) blocks, %d rounds: %d of %d wrong", grid.x, grid.y, grid.z, rounds,
          wrong, blocks * n);
    cudaFree(v);
    cudaFree(out);
}

/* The capacity's numbers, and a cooperative launch one block past it refused without running. */
static void check_capacity(int sms, int per_sm) {
    int v = -1, dev = -1;
    CHECK(cudaGetDevice(&dev) == cudaSuccess && dev == 0, "cudaGetDevice %d", dev);
    CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) == cudaSuccess && v == sms, "SMs %d", v);
    CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrCooperativeLaunch, 0) == cudaSuccess && v == 1, "cooperative %d", v);
    CHECK(cudaDeviceGetAttribute(nullptr, cudaDevAttrMultiProcessorCount, 0) == cudaErrorInvalidValue, "NULL value");
    CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, 99) == cudaErrorInvalidDevice, "device 99");
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0) == cudaSuccess && prop.multiProcessorCount == sms && prop.cooperativeLaunch == 1,
          "cudaGetDeviceProperties: %d SMs, cooperative %d", prop.multiProcessorCount, prop.cooperativeLaunch);

    const void *k = (const void *)grid_sum;
    int want256 = per_sm < 8 ? per_sm : 8, want1024 = per_sm < 2 ? per_sm : 2, want32 = per_sm < 64 ? per_sm : 64;
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&v, k, 256, 0) == cudaSuccess && v == want256, "256: %d", v);
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&v, k, 1024, 0) == cudaSuccess && v == want1024, "1024: %d", v);
    v = -1; /* the kernel itself (cuda_runtime.h's template, emu_device.h's here) */
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&v, grid_rounds, 256, 0) == cudaSuccess && v == want256,
          "template 256: %d", v);
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&v, k, 20, 0) == cudaSuccess && v == want32, "20: %d", v);
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&v, k, 0, 0) == cudaErrorInvalidValue, "block 0");
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&v, k, 1025, 0) == cudaErrorInvalidValue, "block 1025");
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(nullptr, k, 256, 0) == cudaErrorInvalidValue, "NULL count");
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&v, nullptr, 256, 0) == cudaErrorInvalidValue, "NULL kernel");

    int fit = sms * want256, n = 256;
    check_grid_sum(dim3((unsigned)fit), 1, false, 0); /* the most the device holds: runs */
    int64_t *v64 = device_array<int64_t>((size_t)(fit + 1) * n), *out = device_array<int64_t>((size_t)(fit + 1) * n);
    dim3 grid((unsigned)fit + 1), block(256);
    KN_LAUNCH_COOP(false, grid_sum, grid, block, 0, 0, 1, v64, out);
    cudaError_t e = cudaGetLastError();
    CHECK(e == cudaErrorCooperativeLaunchTooLarge, "%d blocks of 256: %s", fit + 1, cudaGetErrorName(e));
    CHECK(cudaGetLastError() == cudaSuccess, "the launch error is cleared, not sticky");
    CHECK(cudaDeviceSynchronize() == cudaSuccess, "nothing faulted");
    std::vector<int64_t> h = to_host(out, (size_t)(fit + 1) * n);
    size_t ran = 0;
    for (int64_t x : h) ran += x != 0;
    CHECK(ran == 0, "the refused launch wrote %zu sums", ran);
    cudaFree(v64);
    cudaFree(out);
}

/* cluster_gather's array for clusters of 2, 5 and 8 blocks; a cluster launch whose grid is
 * not one cluster refused at the call. */
static void check_cluster(void) {
    int *out = device_array<int>(16 * 8);
    for (unsigned c : {2u, 5u, 8u}) {
        KN_LAUNCH_CLUSTER(false, cluster_gather, c, dim3(64), 0, out);
        CHECK(cudaDeviceSynchronize() == cudaSuccess, "cluster_gather run (%u blocks)", c);
        std::vector<int> h = to_host(out, (size_t)c * 8);
        int wrong = 0;
        for (unsigned i = 0; i < c * 8; i++) wrong += h[i] != (int)(100 * (i / 8) + i % 8);
        CHECK(wrong == 0, "cluster of %u: %d of block 0's gathered values wrong", c, wrong);
    }
    kn_emu::launch_config(dim3(4), dim3(64), 0, 0, false, true, 2).launch("cluster_gather", cluster_gather, out);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration, "a grid of 2 clusters: not refused");
    printf("test_emu_grid: clusters of 2, 5 and 8 blocks gathered into block 0's shared memory\n");
    cudaFree(out);
}

/* A __shared__ value kept across the grid barrier: every block reads its own, while the
 * other blocks wrote theirs in between. */
static void check_shared_across(void) {
    dim3 grid(4), block(256);
    int blocks = 4, n = 256, *out = device_array<int>((size_t)blocks * n);
    KN_LAUNCH_COOP(false, shared_across, grid, block, 0, 0, out);
    CHECK(cudaDeviceSynchronize() == cudaSuccess, "shared_across run");
    std::vector<int> h = to_host(out, (size_t)blocks * n);
    int wrong = 0;
    for (size_t i = 0; i < (size_t)blocks * n; i++) wrong += h[i] != (int)(i / n);
    CHECK(wrong == 0, "%d threads read another block's __shared__ value after kn__grid_sync", wrong);
    printf("test_emu_grid: __shared__ across the grid barrier: each of %d blocks kept its own\n", blocks);
    cudaFree(out);
}

static void check_warp_shuffles(void) {
    dim3 grid(4), block(48);
    int blocks = 4, n = 48, *out = device_array<int>((size_t)5 * blocks * n);
    KN_LAUNCH_COOP(false, warp_shuffles, grid, block, 0, 0, out);
    CHECK(cudaGetLastError() == cudaSuccess, "warp_shuffles launch");
    CHECK(cudaDeviceSynchronize() == cudaSuccess, "warp_shuffles run");
    std::vector<int> h = to_host(out, (size_t)5 * blocks * n);
    int wrong = 0;
    for (int phase = 0; phase < 2; phase++)
        for (int b = 0; b < blocks; b++) {
            const int *o = h.data() + 2 * (phase * blocks + b) * n;
            for (int t = 0; t < n; t++)
                wrong += (o[t] != b * 1000 + t / 32 * 32 + phase) + (o[n + t] != b * 1000 + (t ^ 1) + phase);
        }
    CHECK(wrong == 0, "warp_shuffles on blocks of 48: %d of %d wrong", wrong, 4 * blocks * n);
    const int *last = h.data() + 4 * blocks * n; /* the even lanes' reads of neighbours that exited after it */
    for (int b = 0; b < blocks; b++)
        for (int t = 0; t < n; t += 2) wrong += last[b * n + t] != b * 1000 + (t ^ 1) + 7;
    CHECK(wrong == 0, "warp_shuffles, a last shuffle before half the lanes exit: %d of %d wrong", wrong, blocks * n / 2);
    cudaFree(out);
}

/* The alternate orders: forward in even phases, backward in odd ones (the other way round
 * under KILN_CUDA_EMU_REVERSE=1); so one of missing_barrier's two phases reads stale values. */
static void check_phase_orders(void) {
    bool reversed = getenv("KILN_CUDA_EMU_REVERSE") && getenv("KILN_CUDA_EMU_REVERSE")[0] == '1';
    dim3 grid(4), block(64);
    int blocks = 4, *order = device_array<int>(3 * 4), *count = device_array<int>(3);
    KN_LAUNCH_COOP(false, run_order, grid, block, 0, 0, order, count);
    CHECK(cudaDeviceSynchronize() == cudaSuccess, "run_order run");
    std::vector<int> h = to_host(order, 3 * 4);
    for (int phase = 0; phase < 3; phase++)
        for (int k = 0; k < blocks; k++) {
            bool backward = reversed != (phase % 2 == 1);
            int want = backward ? blocks - 1 - k : k, got = h[(size_t)(phase * blocks + k)];
            CHECK(got == want, "phase %d: block %d ran %d-th (want block %d)", phase, got, k, want);
        }
    cudaFree(order);
    cudaFree(count);

#if defined(__SANITIZE_THREAD__)
    return; /* (a race ThreadSanitizer reports: test_emu_grid race-blocks) */
#endif
    int *v = device_array<int>(4), *out = device_array<int>(2 * 4);
    KN_LAUNCH_COOP(false, missing_barrier, grid, block, 0, 0, v, out);
    CHECK(cudaDeviceSynchronize() == cudaSuccess, "missing_barrier run");
    std::vector<int> r = to_host(out, 2 * 4);
    int stale[2] = {0, 0};
    for (int phase = 0; phase < 2; phase++)
        for (int b = 1; b < blocks; b++) stale[phase] += r[(size_t)(phase * blocks + b)] != 100 * phase + b - 1;
    CHECK(stale[0] + stale[1] > 0, "a read of another block's write without a grid barrier was never stale");
    CHECK(stale[0] == 0 || stale[1] == 0, "stale in both phases (%d, %d): the order was not forward in either", stale[0],
          stale[1]);
    cudaFree(v);
    cudaFree(out);
}

static void check_plain_after_coop(void) {
    double *out = device_array<double>(3);
    block_sums<<<3, 256>>>(out);
    CHECK(cudaDeviceSynchronize() == cudaSuccess, "block_sums run");
    std::vector<double> h = to_host(out, 3);
    for (int b = 0; b < 3; b++) CHECK(h[(size_t)b] == 255.0 * 256 / 2, "block %d sum %g", b, h[(size_t)b]);
    cudaFree(out);
}

/* ------------------------------------------------------------------ faults */

/* Runs launch (a launch and a synchronization), its stderr caught and returned (and echoed):
 * the emulator's fault message. */
template <class F> static std::string caught_stderr(F launch) {
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    launch();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    std::string text;
    rewind(tmp);
    for (int c; (c = fgetc(tmp)) != EOF;) text += (char)c;
    fclose(tmp);
    fputs(text.c_str(), stderr);
    return text;
}

/* door_echo launched once on 2 blocks and rung for 3 samples, each written before its ring
 * (racy: written after it, for test_emu_grid race-door): the stream is not done while the
 * kernel waits (cudaStreamQuery: cudaErrorNotReady), each sample's outputs are there once
 * its flag is, and KN_CU_DOOR_STOP then a synchronize end it. */
static void run_door(bool racy) {
    uint32_t *door = nullptr, *flag = nullptr, *count = device_array<uint32_t>(2);
    int *in = nullptr, *out = nullptr;
    CHECK(cudaHostAlloc((void **)&door, 2 * sizeof *door, cudaHostAllocMapped) == cudaSuccess &&
              cudaHostAlloc((void **)&in, 128 * sizeof *in, cudaHostAllocMapped) == cudaSuccess &&
              cudaHostAlloc((void **)&out, 128 * sizeof *out, cudaHostAllocMapped) == cudaSuccess,
          "door: mapped memory");
    flag = door + 1;
    __atomic_store_n(door, 0u, __ATOMIC_SEQ_CST);
    __atomic_store_n(flag, 0u, __ATOMIC_SEQ_CST);
    cudaStream_t s;
    CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess, "door: stream");
    KN_LAUNCH_COOP(false, door_echo, dim3(2), dim3(64), 0, s, door, in, out, count, flag, count + 1);
    CHECK(cudaGetLastError() == cudaSuccess, "door: launch");
    for (uint32_t k = 1; k <= 3; k++) {
        if (!racy)
            for (int i = 0; i < 128; i++) in[i] = i * (int)k;
        __atomic_store_n(door, k, __ATOMIC_SEQ_CST);
        if (racy)
            for (int i = 0; i < 128; i++) in[i] = i * (int)k; /* the kernel may be reading them */
        cudaError_t e = cudaSuccess;
        for (int tries = 0; __atomic_load_n(flag, __ATOMIC_ACQUIRE) != k && tries < 4; tries++) e = cudaStreamQuery(s);
        CHECK(e == cudaErrorNotReady, "door %u: cudaStreamQuery gave %s, not cudaErrorNotReady (the kernel waits on)", k,
              cudaGetErrorName(e));
        CHECK(__atomic_load_n(flag, __ATOMIC_ACQUIRE) == k, "door %u: flag %u", k, __atomic_load_n(flag, __ATOMIC_ACQUIRE));
        int wrong = 0;
        for (int i = 0; i < 128; i++) wrong += out[i] != i * (int)k * 2 + (int)k;
        CHECK(wrong == 0, "door %u: %d outputs wrong", k, wrong);
    }
    __atomic_store_n(door, DOOR_STOP, __ATOMIC_SEQ_CST);
    CHECK(cudaStreamSynchronize(s) == cudaSuccess, "door: the kernel ended");
    CHECK(cudaStreamQuery(s) == cudaSuccess, "door: the stream is done");
    CHECK(to_host(count, 2)[1] == 3, "door: one launch served %u samples, not 3", to_host(count, 2)[1]);
    CHECK(cudaStreamDestroy(s) == cudaSuccess, "door: stream destroy");
    cudaFreeHost(door);
    cudaFreeHost(in);
    cudaFreeHost(out);
    cudaFree(count);
}

/* One fault by name: the launch, the sticky error it leaves, and its message. */
static void check_fault(const char *which) {
    int *out = device_array<int>(1024);
    dim3 grid(4), block(256);
    std::string want;
    cudaError_t synced = cudaSuccess;
    std::string text = caught_stderr([&] {
        if (!strcmp(which, "fault-exit")) {
            KN_LAUNCH_COOP(false, exit_early, grid, block, 0, 0, out);
            want = "kernel exit_early: a grid barrier its threads cannot all reach (256 exited, 768 at kn__grid_sync; "
                   "block (1,0,0) from thread: 0:exited)";
        } else if (!strcmp(which, "fault-shuffle")) {
            shuffle_exited<<<1, 64>>>(out);
            want = "kernel shuffle_exited: thread 0 shuffles from lane 1, which has exited";
        } else if (!strcmp(which, "fault-split")) {
            KN_LAUNCH_COOP(false, split_barriers, grid, block, 0, 0, out);
            want = "a barrier its threads cannot all reach (0 exited, 128 at __syncthreads, 0 in a shuffle, 128 at "
                   "kn__grid_sync; from thread: 0:at __syncthreads 128:at kn__grid_sync)";
        } else if (!strcmp(which, "fault-plain")) {
            int64_t *v = (int64_t *)out, *sums = (int64_t *)out + 256;
            grid_sum<<<1, 256>>>(1, v, sums);
            want = "kernel grid_sum: kn__grid_sync in a launch that is not cooperative (KN_LAUNCH_COOP)";
        } else if (!strcmp(which, "fault-pdl")) {
            KN_LAUNCH_COOP(true, pdl_partial, grid, block, 0, 0, out);
            want = "kernel pdl_partial: launched with programmatic dependence, block (2, 0, 0) never waited";
        } else if (!strcmp(which, "fault-map")) {
            KN_LAUNCH_COOP(false, map_outside, grid, block, 0, 0, out);
            want = "kernel map_outside: kn__cluster_map to block 1 in a launch that is not a cluster (KN_LAUNCH_CLUSTER)";
        } else if (!strcmp(which, "fault-door")) { /* a synchronize while it waits on a doorbell nobody rings */
            uint32_t *door = nullptr;
            CHECK(cudaHostAlloc((void **)&door, 2 * sizeof *door, cudaHostAllocMapped) == cudaSuccess, "mapped memory");
            door[0] = door[1] = 0;
            KN_LAUNCH_COOP(false, door_echo, grid, block, 0, 0, door, out, out + 512, (uint32_t *)out + 1000, door + 1,
                           (uint32_t *)out + 1001);
            want = "kernel door_echo: waits on its doorbell (kn__door_wait), which the host did not ring before it "
                   "synchronized (on a GPU: a hang)";
        } else {
            fprintf(stderr, "test_emu_grid: no fault named %s\n", which);
            exit(2);
        }
        CHECK(cudaGetLastError() == cudaSuccess, "%s: the launch itself is accepted", which);
        synced = cudaDeviceSynchronize();
    });
    CHECK(synced == cudaErrorLaunchFailure, "%s: cudaDeviceSynchronize gave %s", which, cudaGetErrorName(synced));
    CHECK(cudaGetLastError() == cudaErrorLaunchFailure, "%s: not sticky", which);
    CHECK(text.find(want) != std::string::npos, "%s: no \"%s\" among the emulator's messages", which, want.c_str());
}

/* One deliberate race (race-blocks, race-shared, race-block-sum, race-plain, race-pdl,
 * race-host, race-door: a sample written after its doorbell), which
 * a ThreadSanitizer build must report (the test passes on its SUMMARY line naming the
 * kernel); then, with nothing else racing, the same accesses ordered, which it must not
 * (race-pdl: the read after kn__pdl_wait; race-host: of what the host wrote before the
 * launch). */
static void check_race(const char *which) {
    int *v = device_array<int>(128), *out = device_array<int>(1024);
    cudaStream_t s;
    CHECK(cudaStreamCreate(&s) == cudaSuccess, "stream");
    if (!strcmp(which, "race-blocks")) {
        KN_LAUNCH_COOP(false, missing_barrier, dim3(4), dim3(64), 0, s, v, out);
    } else if (!strcmp(which, "race-shared")) {
        race_shared<<<1, 64, 0, s>>>(out);
    } else if (!strcmp(which, "race-block-sum")) {
        race_block_sum<<<1, 1024, 0, s>>>(out);
    } else if (!strcmp(which, "race-plain")) {
        race_plain_blocks<<<2, 32, 0, s>>>(out);
    } else if (!strcmp(which, "race-pdl")) {
        pdl_writer<<<1, 32, 0, s>>>(v);
        KN_LAUNCH(true, pdl_reader, dim3(1), dim3(32), 0, s, v, out);
        CHECK(cudaStreamSynchronize(s) == cudaSuccess, "pdl_reader run");
        pdl_writer<<<1, 32, 0, s>>>(v);
        KN_LAUNCH(true, race_pdl_early, dim3(1), dim3(32), 0, s, v, out);
    } else if (!strcmp(which, "race-door")) {
        run_door(true);
    } else if (!strcmp(which, "race-host")) {
        int *h = nullptr;
        CHECK(cudaHostAlloc((void **)&h, 32 * sizeof *h, cudaHostAllocMapped) == cudaSuccess, "mapped memory");
        for (int i = 0; i < 32; i++) h[i] = i;
        host_ordered_read<<<1, 32, 0, s>>>(h, out);
        CHECK(cudaStreamSynchronize(s) == cudaSuccess, "host_ordered_read run");
        h[5] = 50; /* after the synchronize: ordered after the read */
        race_host_read<<<1, 32, 0, s>>>(h, out);
        h[5] = 500; /* the kernel may be reading it */
        CHECK(cudaStreamSynchronize(s) == cudaSuccess, "race_host_read run");
        cudaFreeHost(h);
    } else {
        fprintf(stderr, "test_emu_grid: no race named %s\n", which);
        exit(2);
    }
    CHECK(cudaStreamSynchronize(s) == cudaSuccess, "%s run", which);
    CHECK(cudaStreamDestroy(s) == cudaSuccess, "stream destroy");
    cudaFree(v);
    cudaFree(out);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "capacity") && argc == 4) {
        check_capacity(atoi(argv[2]), atoi(argv[3]));
    } else if (!strncmp(mode, "fault-", 6)) {
        check_fault(mode);
    } else if (!strncmp(mode, "race-", 5)) {
        check_race(mode);
    } else if (!*mode) {
        if (getenv("KILN_CUDA_EMU_SMS") || getenv("KILN_CUDA_EMU_BLOCKS_PER_SM"))
            fprintf(stderr, "test_emu_grid: expects the default capacity (use `capacity SMS PER_SM` with the variables)\n");
        check_capacity(2, 2);
        cudaStream_t s;
        CHECK(cudaStreamCreate(&s) == cudaSuccess, "stream");
        for (int syncs = 1; syncs <= 3; syncs++) {
            check_grid_sum(dim3(4), syncs, false, s);
            check_grid_sum(dim3(2, 2, 1), syncs, syncs == 2, 0);
        }
        check_grid_sum(dim3(1), 2, false, s); /* one block: the barrier waits for itself only */
        check_grid_sum(dim3(2, 1, 2), 2, false, s, dim3(16, 8, 2));
        check_warp_shuffles();
        check_grid_rounds(dim3(4), 3);
        check_grid_rounds(dim3(2, 2, 1), 3);
        check_shared_across();
        check_cluster();
        check_phase_orders();
        check_plain_after_coop();
        run_door(false);
        CHECK(cudaStreamDestroy(s) == cudaSuccess, "stream destroy");
    } else {
        fprintf(stderr, "usage: test_emu_grid [capacity SMS PER_SM | fault-exit | fault-split | fault-plain | fault-pdl | "
                        "fault-door | fault-map | fault-shuffle | race-blocks | race-shared | race-block-sum | race-plain | race-pdl | race-host | "
                        "race-door]\n");
        return 2;
    }
    printf("test_emu_grid%s%s: %d checks, %d failures\n", *mode ? " " : "", mode, checks, failures);
    return failures != 0;
}
