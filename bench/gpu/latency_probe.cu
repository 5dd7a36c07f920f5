/* latency_probe.cu — what a single-sample predict's round trip costs on this GPU before any
 * model work: host in, host out, one sample (784 floats in, 10 out), each way timed as the
 * median of N round trips, so that runtime.c's predict path can take the cheapest
 * (bench/RESULTS.md, "Predict round trip"). Built by bench/gpu/prepare.sh with nvcc; run by
 * bench/gpu/run.sh. Ways:
 *   launch        an empty kernel, launch + synchronize
 *   copies        copy in (pinned, async) + a kernel + copy out + synchronize
 *   copies graph  the same captured as one CUDA graph, replayed
 *   mapped        a kernel reading the input from mapped pinned host memory and writing the
 *                 output there (no copies), launch + synchronize; 1 and 24 blocks
 *   mapped graph  the same as a one-node graph
 *   copy kernels graph  a copy kernel in (from mapped memory), the work, a copy kernel out
 *   mapped wc     the input in write-combined mapped memory
 *   mapped poll   the mapped kernel, the host spinning on a flag the kernel writes last
 *                 (mapped) instead of cudaStreamSynchronize
 *   persistent    no launch a sample: a kernel started once spins on a mapped doorbell
 *                 word, takes each sample from mapped memory as the host rings (its
 *                 number), writes the output and a flag there; the host spins on the flag
 *                 (1 and 24 blocks; what a resident predict server would cost); 24 blocks
 *                 relayed: block 0 alone polls the host, the others a word in device memory
 * and what a resident training step's graph costs between its kernels (each a median over
 * rounds of N/10 graphs replayed back to back, per graph):
 *   chain4        a graph of 4 dependent kernels (256 blocks of 256 threads each)
 *   chain4_pdl    the same, kernels 2-4 with programmatic dependent launch (KILN_CUDA_PDL)
 *   copy_chain4   a 64-byte pinned copy before each graph (KILN_CUDA_MAPPED=0's step values)
 * usage: latency_probe [N] */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IN 784
#define OUT 10
#define CHECK(call)                                                                               \
    do {                                                                                          \
        cudaError_t e_ = (call);                                                                  \
        if (e_ != cudaSuccess) {                                                                  \
            fprintf(stderr, "latency_probe: %s: %s\n", #call, cudaGetErrorString(e_));            \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

__global__ void empty_kernel(void) {}

/* Each block sums its slice of the input; block 0 thread j writes out[j] (a stand-in for a
 * model's work: it depends on every input, so every read happens). */
__device__ void touch(const float *in, float *out, float *scratch) {
    __shared__ float red[256];
    int per = (IN + gridDim.x - 1) / gridDim.x, p0 = blockIdx.x * per;
    float s = 0.0f;
    for (int i = p0 + threadIdx.x; i < p0 + per && i < IN; i += blockDim.x) s += in[i];
    red[threadIdx.x] = s;
    __syncthreads();
    for (int h = blockDim.x / 2; h > 0; h >>= 1) {
        if (threadIdx.x < h) red[threadIdx.x] += red[threadIdx.x + h];
        __syncthreads();
    }
    if (threadIdx.x == 0) scratch[blockIdx.x] = red[0];
    if (blockIdx.x == 0 && threadIdx.x < OUT) out[threadIdx.x] = red[0] + (float)threadIdx.x;
}

__global__ void touch_kernel(const float *in, float *out, float *scratch) { touch(in, out, scratch); }

/* touch, then (once block 0's outputs are visible to the host) flag = seq, by block 0 */
__global__ void touch_flag_kernel(const float *in, float *out, float *scratch, volatile unsigned *flag, unsigned seq) {
    touch(in, out, scratch);
    __threadfence_system();
    __syncthreads();
    if (blockIdx.x == 0 && threadIdx.x == 0) *flag = seq;
}

/* The persistent way: each block's thread 0 spins on the doorbell (a system-scope acquire
 * load of mapped host memory) until it holds a new number; STOP ends the kernel. The
 * sample is read with __ldcv (never a line an earlier sample left in L1); the last block to
 * finish a sample (count, device memory) writes the output, then the flag, to the host. */
#define STOP 0xffffffffu
__device__ static unsigned load_acquire_sys(const unsigned *p) {
    unsigned v;
    asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}

/* relay (device memory, or NULL): block 0 alone spins on the host's doorbell and passes
 * each number on there, where the other blocks spin (in L2, not across the bus) */
__global__ void persist_kernel(const float *in, float *out, const unsigned *door, volatile unsigned *flag, float *scratch,
                               unsigned *count, unsigned *relay) {
    __shared__ float red[256];
    __shared__ unsigned ring, last;
    unsigned seen = 0;
    for (;;) {
        if (threadIdx.x == 0) {
            unsigned d;
            if (!relay || blockIdx.x == 0) {
                while ((d = load_acquire_sys(door)) == seen) {
                }
                if (relay) asm volatile("st.release.gpu.global.u32 [%0], %1;" ::"l"(relay), "r"(d) : "memory");
            } else {
                do {
                    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(d) : "l"(relay) : "memory");
                } while (d == seen);
            }
            ring = d;
        }
        __syncthreads();
        unsigned d = ring;
        if (d == STOP) return;
        seen = d;
        int per = (IN + gridDim.x - 1) / gridDim.x, p0 = blockIdx.x * per;
        float s = 0.0f;
        for (int i = p0 + threadIdx.x; i < p0 + per && i < IN; i += blockDim.x) s += __ldcv(&in[i]);
        red[threadIdx.x] = s;
        __syncthreads();
        for (int h = blockDim.x / 2; h > 0; h >>= 1) {
            if (threadIdx.x < h) red[threadIdx.x] += red[threadIdx.x + h];
            __syncthreads();
        }
        if (threadIdx.x == 0) {
            scratch[blockIdx.x] = red[0];
            __threadfence();
            last = atomicAdd(count, 1u) == gridDim.x - 1;
        }
        __syncthreads();
        if (last) {
            float t = 0.0f;
            for (int b = 0; b < (int)gridDim.x; b++) t += __ldcg(&scratch[b]);
            if (threadIdx.x < OUT) out[threadIdx.x] = t + (float)threadIdx.x;
            __threadfence_system();
            __syncthreads();
            if (threadIdx.x == 0) {
                *count = 0;
                *flag = d;
            }
        }
        __syncthreads();
    }
}

/* One kernel of a dependent chain: every thread reads its word of buf, which the kernel
 * before wrote, and writes it back plus one (pdl: waits for the kernel before first, and
 * lets the next one launch at once). */
__global__ void link_kernel(float *buf, int pdl) {
    if (pdl) asm volatile("griddepcontrol.wait;" ::: "memory");
    if (pdl) asm volatile("griddepcontrol.launch_dependents;" :::);
    int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    buf[i] = buf[i] + 1.0f;
}

static void launch_link(cudaStream_t s, float *buf, bool pdl) {
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(256);
    cfg.blockDim = dim3(256);
    cfg.stream = s;
    cfg.attrs = at;
    cfg.numAttrs = pdl ? 1 : 0;
    CHECK(cudaLaunchKernelEx(&cfg, link_kernel, buf, (int)pdl));
}

__global__ void copy_kernel(const float *src, float *dst, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) dst[i] = src[i];
}

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double *times;
static int n_times;

static void report(const char *way) {
    qsort(times, n_times, sizeof *times, cmp);
    printf("RESULT latency_probe way=%s samples=%d median_us=%.2f p99_us=%.2f\n", way, n_times, times[n_times / 2],
           times[n_times * 99 / 100]);
}

/* The captured graph replayed N times after 50 warm-ups, each a sample in (the user's
 * buffer to the pinned staging), the replay, its wait and the result out; then the graph
 * is freed. */
typedef struct {
    const float *user_in;
    float *h_in, *h_out, *user_out;
} io_bufs;

static void replay(cudaStream_t s, cudaGraph_t graph, io_bufs io, const char *way) {
    cudaGraphExec_t exec;
    CHECK(cudaGraphInstantiate(&exec, graph, 0));
    for (int i = 0; i < n_times + 50; i++) {
        double t = now_us();
        memcpy(io.h_in, io.user_in, IN * sizeof(float));
        CHECK(cudaGraphLaunch(exec, s));
        CHECK(cudaStreamSynchronize(s));
        memcpy(io.user_out, io.h_out, OUT * sizeof(float));
        if (i >= 50) times[i - 50] = now_us() - t;
    }
    report(way);
    CHECK(cudaGraphExecDestroy(exec));
    CHECK(cudaGraphDestroy(graph));
}

int main(int argc, char **argv) {
    n_times = argc > 1 ? atoi(argv[1]) : 2000;
    if (n_times < 10) n_times = 10;
    times = (double *)malloc((n_times > 64 ? n_times : 64) * sizeof *times); /* (and the 21 rounds below) */
    float *user_in = (float *)malloc(IN * sizeof(float)), user_out[OUT];
    for (int i = 0; i < IN; i++) user_in[i] = (float)(i % 17) / 17.0f;
    cudaStream_t s;
    CHECK(cudaSetDevice(0));
    CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    float *h_in, *h_out, *h_in_wc, *d_in, *d_out, *d_scratch, *m_in, *m_out, *m_in_wc;
    CHECK(cudaHostAlloc((void **)&h_in, IN * sizeof(float), cudaHostAllocMapped));
    CHECK(cudaHostAlloc((void **)&h_out, OUT * sizeof(float), cudaHostAllocMapped));
    CHECK(cudaHostAlloc((void **)&h_in_wc, IN * sizeof(float), cudaHostAllocMapped | cudaHostAllocWriteCombined));
    CHECK(cudaHostGetDevicePointer((void **)&m_in, h_in, 0));
    CHECK(cudaHostGetDevicePointer((void **)&m_out, h_out, 0));
    CHECK(cudaHostGetDevicePointer((void **)&m_in_wc, h_in_wc, 0));
    CHECK(cudaMalloc((void **)&d_in, IN * sizeof(float)));
    CHECK(cudaMalloc((void **)&d_out, OUT * sizeof(float)));
    CHECK(cudaMalloc((void **)&d_scratch, 64 * sizeof(float)));

    for (int i = 0; i < n_times + 50; i++) { /* launch */
        double t = now_us();
        empty_kernel<<<1, 32, 0, s>>>();
        CHECK(cudaStreamSynchronize(s));
        if (i >= 50) times[i - 50] = now_us() - t;
    }
    report("launch");

    for (int i = 0; i < n_times + 50; i++) { /* copies */
        double t = now_us();
        memcpy(h_in, user_in, IN * sizeof(float));
        CHECK(cudaMemcpyAsync(d_in, h_in, IN * sizeof(float), cudaMemcpyHostToDevice, s));
        touch_kernel<<<1, 256, 0, s>>>(d_in, d_out, d_scratch);
        CHECK(cudaMemcpyAsync(h_out, d_out, OUT * sizeof(float), cudaMemcpyDeviceToHost, s));
        CHECK(cudaStreamSynchronize(s));
        memcpy(user_out, h_out, sizeof user_out);
        if (i >= 50) times[i - 50] = now_us() - t;
    }
    report("copies");

    cudaGraph_t graph;
    io_bufs in = {user_in, h_in, h_out, user_out};
    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    CHECK(cudaMemcpyAsync(d_in, h_in, IN * sizeof(float), cudaMemcpyHostToDevice, s));
    touch_kernel<<<1, 256, 0, s>>>(d_in, d_out, d_scratch);
    CHECK(cudaMemcpyAsync(h_out, d_out, OUT * sizeof(float), cudaMemcpyDeviceToHost, s));
    CHECK(cudaStreamEndCapture(s, &graph));
    replay(s, graph, in, "copies_graph");

    static const int blocks[2] = {1, 24};
    for (int b = 0; b < 2; b++) {
        for (int i = 0; i < n_times + 50; i++) { /* mapped */
            double t = now_us();
            memcpy(h_in, user_in, IN * sizeof(float));
            touch_kernel<<<blocks[b], 256, 0, s>>>(m_in, m_out, d_scratch);
            CHECK(cudaStreamSynchronize(s));
            memcpy(user_out, h_out, sizeof user_out);
            if (i >= 50) times[i - 50] = now_us() - t;
        }
        report(b ? "mapped_24_blocks" : "mapped_1_block");
    }

    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    touch_kernel<<<24, 256, 0, s>>>(m_in, m_out, d_scratch);
    CHECK(cudaStreamEndCapture(s, &graph));
    replay(s, graph, in, "mapped_graph_24_blocks");

    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    copy_kernel<<<4, 256, 0, s>>>(m_in, d_in, IN);
    touch_kernel<<<24, 256, 0, s>>>(d_in, d_out, d_scratch);
    copy_kernel<<<1, 32, 0, s>>>(d_out, m_out, OUT);
    CHECK(cudaStreamEndCapture(s, &graph));
    replay(s, graph, in, "copy_kernels_graph_24_blocks");

    for (int i = 0; i < n_times + 50; i++) { /* mapped, write-combined input */
        double t = now_us();
        memcpy(h_in_wc, user_in, IN * sizeof(float));
        touch_kernel<<<24, 256, 0, s>>>(m_in_wc, m_out, d_scratch);
        CHECK(cudaStreamSynchronize(s));
        memcpy(user_out, h_out, sizeof user_out);
        if (i >= 50) times[i - 50] = now_us() - t;
    }
    report("mapped_wc_24_blocks");

    unsigned *h_flag, *m_flag, seq = 0;
    CHECK(cudaHostAlloc((void **)&h_flag, sizeof *h_flag, cudaHostAllocMapped));
    CHECK(cudaHostGetDevicePointer((void **)&m_flag, h_flag, 0));
    *h_flag = 0;
    for (int i = 0; i < n_times + 50; i++) { /* mapped, the host polling the kernel's flag */
        double t = now_us();
        memcpy(h_in, user_in, IN * sizeof(float));
        touch_flag_kernel<<<24, 256, 0, s>>>(m_in, m_out, d_scratch, m_flag, ++seq);
        while (*(volatile unsigned *)h_flag != seq) {
        }
        memcpy(user_out, h_out, sizeof user_out);
        if (i >= 50) times[i - 50] = now_us() - t;
    }
    CHECK(cudaStreamSynchronize(s));
    report("mapped_poll_24_blocks");

    /* persistent: one launch, then a doorbell a sample (1 and 24 blocks; 24 with block 0
     * relaying the doorbell to the others through device memory) */
    unsigned *h_door, *m_door, *d_count, *d_relay;
    CHECK(cudaHostAlloc((void **)&h_door, sizeof *h_door, cudaHostAllocMapped));
    CHECK(cudaHostGetDevicePointer((void **)&m_door, h_door, 0));
    CHECK(cudaMalloc((void **)&d_count, sizeof *d_count));
    CHECK(cudaMalloc((void **)&d_relay, sizeof *d_relay));
    for (int b = 0; b < 3; b++) {
        *(volatile unsigned *)h_door = 0;
        *(volatile unsigned *)h_flag = 0;
        CHECK(cudaMemset(d_count, 0, sizeof *d_count));
        CHECK(cudaMemset(d_relay, 0, sizeof *d_relay));
        CHECK(cudaDeviceSynchronize());
        persist_kernel<<<blocks[b > 0], 256, 0, s>>>(m_in, m_out, m_door, m_flag, d_scratch, d_count, b == 2 ? d_relay : NULL);
        CHECK(cudaGetLastError());
        bool lost = false;
        for (unsigned i = 0; i < (unsigned)n_times + 50 && !lost; i++) {
            double t = now_us();
            memcpy(h_in, user_in, IN * sizeof(float));
            __sync_synchronize(); /* (the sample before the doorbell) */
            *(volatile unsigned *)h_door = i + 1;
            while (*(volatile unsigned *)h_flag != i + 1)
                if (now_us() - t > 1e5) { /* never answered: say so, and leave the kernel to the exit */
                    printf("latency_probe: persistent_%d%s: sample %u never answered\n", blocks[b > 0], b == 2 ? "_relay" : "", i);
                    lost = true;
                    break;
                }
            memcpy(user_out, h_out, sizeof user_out);
            if (i >= 50) times[i - 50] = now_us() - t;
        }
        if (lost) return 1;
        *(volatile unsigned *)h_door = STOP;
        CHECK(cudaStreamSynchronize(s));
        report(b == 2 ? "persistent_24_blocks_relay" : b ? "persistent_24_blocks" : "persistent_1_block");
    }

    /* a training step's graph between its kernels: graphs replayed back to back */
    float *d_links, *h_small, *d_small;
    CHECK(cudaMalloc((void **)&d_links, 256 * 256 * sizeof(float)));
    CHECK(cudaMemset(d_links, 0, 256 * 256 * sizeof(float)));
    CHECK(cudaHostAlloc((void **)&h_small, 64, cudaHostAllocDefault));
    CHECK(cudaMalloc((void **)&d_small, 64));
    const char *ways[3] = {"chain4", "chain4_pdl", "copy_chain4"};
    for (int w = 0; w < 3; w++) {
        CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
        for (int k = 0; k < 4; k++) launch_link(s, d_links, w == 1 && k > 0);
        cudaError_t e = cudaStreamEndCapture(s, &graph);
        if (e != cudaSuccess) {
            printf("latency_probe: %s: the capture failed: %s\n", ways[w], cudaGetErrorString(e));
            cudaGetLastError();
            continue;
        }
        cudaGraphExec_t exec;
        CHECK(cudaGraphInstantiate(&exec, graph, 0));
        int per = n_times / 10 > 10 ? n_times / 10 : 10, rounds = 21;
        for (int r = 0; r < rounds + 2; r++) {
            double t = now_us();
            for (int i = 0; i < per; i++) {
                if (w == 2) CHECK(cudaMemcpyAsync(d_small, h_small, 64, cudaMemcpyHostToDevice, s));
                CHECK(cudaGraphLaunch(exec, s));
            }
            CHECK(cudaStreamSynchronize(s));
            if (r >= 2) times[r - 2] = (now_us() - t) / per;
        }
        int keep = n_times;
        n_times = rounds;
        report(ways[w]);
        n_times = keep;
        CHECK(cudaGraphExecDestroy(exec));
        CHECK(cudaGraphDestroy(graph));
    }

    /* the same kernel on device memory alone: the work's own share */
    for (int i = 0; i < n_times + 50; i++) {
        double t = now_us();
        touch_kernel<<<24, 256, 0, s>>>(d_in, d_out, d_scratch);
        CHECK(cudaStreamSynchronize(s));
        if (i >= 50) times[i - 50] = now_us() - t;
    }
    report("device_only_24_blocks");
    printf("latency_probe: check %g\n", (double)user_out[0]);
    return 0;
}
