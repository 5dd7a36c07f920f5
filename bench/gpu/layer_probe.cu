/* layer_probe.cu — what one small dense layer of a chain costs a block on this GPU, in
 * cycles: chain.cuh's layer_sums (the chain kernels' own code) on one row, 64 inputs to
 * 64 outputs (relu) and 64 to 10, its weights in shared memory (the row kernel's kept
 * layers) or in global memory (L2), each launch running ROUNDS layers one after another
 * and timing each on block 0's clock (clock64). Round 0 of a launch pays whatever a cold
 * start costs (instruction fetch, the first loads); the later rounds run the same code
 * again. Session 29's row kernel measured ~2 us (4000 cycles) a layer from shared memory
 * (bench/RESULTS.md), far over its arithmetic: this says whether the layer's code itself
 * or something around it takes that; and the same sums with the columns spread by integer
 * divisions (session 28's code), with every size a constant (the arrangement's floor),
 * and two barriers alone. Built by
 * bench/gpu/prepare.sh; run by run.sh.
 * usage: layer_probe [launches] */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include "launch.h"
#include "device.cuh"
#include "chain.cuh"

#define ROUNDS 6
#define CHECK(call)                                                                               \
    do {                                                                                          \
        cudaError_t e_ = (call);                                                                  \
        if (e_ != cudaSuccess) {                                                                  \
            fprintf(stderr, "layer_probe: %s: %s\n", #call, cudaGetErrorString(e_));              \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

/* Session 28's forward layer_sums (its spread by integer divisions), for the A/B against
 * chain.cuh's (by shifts): the same sums, in the same order. */
__device__ static void layer_sums_div(const kn__cu_chain_layer &L, const float *in, int p0, int p1, float *red,
                                      float *dst, int max_parts) {
    int parts = 1;
    while (parts < max_parts && (int)blockDim.x / (parts * 2) >= L.n) parts *= 2;
    int cols = (int)blockDim.x / parts, col = (int)threadIdx.x % cols, part = (int)threadIdx.x / cols;
    int chunk = (p1 - p0 + parts - 1) / parts, q0 = p0 + part * chunk, q1 = q0 + chunk < p1 ? q0 + chunk : p1;
    for (int j0 = 0; j0 < L.n; j0 += cols) {
        int j = j0 + col;
        float acc = 0.0f, b = part == 0 && j < L.n && L.bias ? L.bias[j] : 0.0f;
        if (j < L.n)
            for (int pb = q0; pb < q1; pb += BATCH) {
                float w[BATCH];
                KN_UNROLL(BATCH)
                for (int u = 0; u < BATCH; u++) w[u] = pb + u < q1 ? L.w[(int64_t)(pb + u) * L.n + j] : 0.0f;
                KN_UNROLL(BATCH)
                for (int u = 0; u < BATCH; u++)
                    if (pb + u < q1) acc += in[pb + u - p0] * w[u];
            }
        red[threadIdx.x] = acc;
        __syncthreads();
        if (part == 0 && j < L.n) {
            float s = 0.0f;
            for (int q = 0; q < parts; q++) s += red[q * cols + col];
            dst[j] = layer_finish(L, s, b, 0.0f);
        }
        __syncthreads();
    }
}

/* The same layer with every size a constant (64 -> 64, PARTS parts a column, relu): the
 * floor of layer_sums' arrangement. */
template <int PARTS>
__device__ static void layer_fixed(const float *w, const float *bias, const float *in, float *red, float *dst) {
    constexpr int N = 64, K = 64, CHUNK = K / PARTS;
    const int col = threadIdx.x % N, part = threadIdx.x / N;
    float acc = 0.0f, b = part == 0 ? bias[col] : 0.0f, wv[CHUNK];
#pragma unroll
    for (int u = 0; u < CHUNK; u++) wv[u] = w[(part * CHUNK + u) * N + col];
#pragma unroll
    for (int u = 0; u < CHUNK; u++) acc += in[part * CHUNK + u] * wv[u];
    red[threadIdx.x] = acc;
    __syncthreads();
    if (part == 0) {
        float s = 0.0f;
#pragma unroll
        for (int q = 0; q < PARTS; q++) s += red[q * N + col];
        s += b;
        dst[col] = s > 0 ? s : 0.0f;
    }
    __syncthreads();
}

/* ROUNDS layers k -> n (each round's input the last round's output, n == k, or the same
 * input when n < k), weights w (k, n) and bias b from shared memory (kept) or global;
 * cycles[launch * ROUNDS + round]; max_parts as the row kernel's (8) or the chain's (32);
 * out: the last round's outputs (so nothing is dead). */
template <int THREADS>
__global__ void __launch_bounds__(THREADS) probe_kernel(const float *w, const float *b, int k, int n, bool kept,
                                                        int max_parts, int mode, long long *cycles, float *out) {
    __shared__ float red[THREADS];
    __shared__ float act[2][256];
    __shared__ float ws[64 * 64 + 64];
    if (kept) {
        for (int i = threadIdx.x; i < k * n; i += blockDim.x) ws[i] = w[i];
        for (int i = threadIdx.x; i < n; i += blockDim.x) ws[k * n + i] = b[i];
    }
    for (int i = threadIdx.x; i < k; i += blockDim.x) act[0][i] = 0.01f * (float)(i % 7);
    __syncthreads();
    kn__cu_chain_layer L = {};
    L.w = kept ? ws : w;
    L.bias = kept ? ws + k * n : b;
    L.k = k, L.n = n, L.act = KN_RELU;
    int cur = 0;
    for (int r = 0; r < ROUNDS; r++) {
        long long t0 = clock64();
        if (mode == 0) layer_sums(L, act[cur], 0, k, red, act[cur ^ 1], true, 0, max_parts);
        else if (mode == 1) layer_sums_div(L, act[cur], 0, k, red, act[cur ^ 1], max_parts);
        else if (mode == 3 && THREADS == 512 && n == 64 && k == 64) layer_fixed<8>(L.w, L.bias, act[cur], red, act[cur ^ 1]);
        else if (mode == 3 && THREADS == 256 && n == 64 && k == 64) layer_fixed<4>(L.w, L.bias, act[cur], red, act[cur ^ 1]);
        else { /* two barriers alone: the round's floor */
            __syncthreads();
            __syncthreads();
        }
        long long t1 = clock64();
        if (threadIdx.x == 0) cycles[(long long)blockIdx.y * ROUNDS + r] = t1 - t0;
        if (n == k) cur ^= 1;
    }
    for (int j = threadIdx.x; j < n; j += blockDim.x) out[j] = act[cur ^ (n == k ? 0 : 1)][j];
}

static int cmp_ll(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

template <int THREADS>
static void probe(const char *what, const float *w, const float *b, int k, int n, bool kept, int max_parts, int mode,
                  int launches, long long *d_cycles, float *d_out) {
    for (int i = 0; i < launches; i++) { /* one launch at a time, as a predict's */
        probe_kernel<THREADS><<<dim3(1, 1), THREADS>>>(w, b, k, n, kept, max_parts, mode, d_cycles + (long long)i * ROUNDS, d_out);
        CHECK(cudaGetLastError());
        CHECK(cudaDeviceSynchronize());
    }
    long long *h = (long long *)malloc(sizeof(long long) * ROUNDS * launches), *col = (long long *)malloc(sizeof(long long) * launches);
    CHECK(cudaMemcpy(h, d_cycles, sizeof(long long) * ROUNDS * launches, cudaMemcpyDeviceToHost));
    printf("RESULT layer_probe %s %s threads=%d k=%d n=%d max_parts=%d median_cycles_by_round=", what,
           mode == 0 ? "layer_sums" : mode == 1 ? "by_divisions" : mode == 2 ? "barriers_only" : "sizes_constant", THREADS, k, n, max_parts);
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < launches; i++) col[i] = h[(long long)i * ROUNDS + r];
        qsort(col, launches, sizeof *col, cmp_ll);
        printf("%s%lld", r ? "," : "", col[launches / 2]);
    }
    printf("\n");
    free(h);
    free(col);
}

int main(int argc, char **argv) {
    int launches = argc > 1 ? atoi(argv[1]) : 200;
    if (launches < 1) launches = 1;
    float *w, *b, *out;
    long long *cycles;
    CHECK(cudaMalloc(&w, 64 * 64 * sizeof(float)));
    CHECK(cudaMalloc(&b, 64 * sizeof(float)));
    CHECK(cudaMalloc(&out, 256 * sizeof(float)));
    CHECK(cudaMalloc(&cycles, sizeof(long long) * ROUNDS * launches));
    float hw[64 * 64];
    for (int i = 0; i < 64 * 64; i++) hw[i] = 0.001f * (float)((i * 37) % 101) - 0.05f;
    CHECK(cudaMemcpy(w, hw, sizeof hw, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(b, hw, 64 * sizeof(float), cudaMemcpyHostToDevice));
    for (int mode = 0; mode < 2; mode++) {
        probe<512>("shared", w, b, 64, 64, true, 8, mode, launches, cycles, out);
        probe<512>("shared", w, b, 64, 10, true, 8, mode, launches, cycles, out);
        probe<256>("shared", w, b, 64, 64, true, 32, mode, launches, cycles, out);
        probe<256>("global", w, b, 64, 64, false, 32, mode, launches, cycles, out);
    }
    probe<512>("shared", w, b, 64, 64, true, 8, 3, launches, cycles, out);
    probe<256>("shared", w, b, 64, 64, true, 32, 3, launches, cycles, out);
    probe<256>("global", w, b, 64, 64, false, 32, 3, launches, cycles, out);
    probe<512>("shared", w, b, 64, 64, true, 8, 2, launches, cycles, out);
    probe<256>("shared", w, b, 64, 64, true, 8, 2, launches, cycles, out);
    return 0;
}
