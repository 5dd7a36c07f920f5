/* emu_api.h — what the CUDA emulator's runtime (emu_runtime.cpp, libkn_cuda_emu.so) offers
 * its other parts beyond the CUDA runtime API it stands in for: the fake cuBLASLt
 * (cublaslt_emu.c) queues its products on a stream through it and checks its pointers.
 *
 * The emulator runs kiln's CUDA backend (src/backend/cuda: the kernels' own source, the
 * runtime's host logic, the captured graphs) on the CPU, so the GPU code is tested on every
 * machine; see README.md beside this file. */
#ifndef KN_CUDA_EMU_API_H
#define KN_CUDA_EMU_API_H

#include <cuda_runtime_api.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Queues fn(args) on stream s, in order with the stream's kernels and copies (recorded into
 * the graph instead while s is capturing, and run at each replay). args (bytes) is copied
 * at the call; fn gets the copy. name appears in fault messages. cudaErrorInvalidValue for
 * a NULL fn; cudaErrorInvalidResourceHandle for a destroyed stream. */
cudaError_t kn_emu_enqueue_host(cudaStream_t s, const char *name, void (*fn)(void *args), const void *args,
                                size_t bytes);

/* 1 when [p, p + bytes) lies inside one live device allocation (cudaMalloc), else 0. */
int kn_emu_device_range(const void *p, size_t bytes);

/* Called by queued work that finds a fault while it runs (an out-of-range index, a bad
 * pointer): prints "cuda-emu: " and the message to stderr and makes the stream's next
 * synchronization, and cudaGetLastError, return cudaErrorLaunchFailure, as a kernel fault
 * does on a GPU. */
void kn_emu_fault(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif

#endif
