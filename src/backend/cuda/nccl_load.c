/* nccl_load.c — libnccl opened with dlopen when a device communicator is first asked for
 * (data-parallel training on GPUs), never linked: a CPU run, a one-GPU run and a run under
 * valgrind never load it (like cuBLASLt, cublaslt_load.c). Looked for by its soname (rpath,
 * LD_LIBRARY_PATH, the loader's cache), then beside the cudart this process loaded, the
 * toolkit's directory configured at build time and /usr/local/cuda/lib64. */
#include "nccl_comm.h"
#include "nccl_internal.h"
#include "cuda_internal.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#ifndef KILN_NCCL_SONAME
#define KILN_NCCL_SONAME "libnccl.so.2"
#endif

kn__nccl_api kn__nccl;

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static void *lib; /* the process's one libnccl, kept open to its end (as cuBLASLt is) */

kn_status kn__nccl_load(kn_ctx *ctx) {
    pthread_mutex_lock(&load_lock);
    kn_status st = KN_OK;
    if (lib) goto done;
    void *h = kn__cuda_dlopen(KILN_NCCL_SONAME);
    if (!h) {
        st = kn__error(ctx, KN_ERR_UNSUPPORTED,
                       "nccl: cannot load %s (NCCL, the GPUs' all-reduce): %s; add its directory to LD_LIBRARY_PATH, "
                       "or set KILN_NCCL=0 to all-reduce over MPI through the host",
                       KILN_NCCL_SONAME, dlerror());
        goto done;
    }
    kn__nccl_api api;
#define SYM(field, name)                                                                                       \
    do {                                                                                                       \
        *(void **)&api.field = dlsym(h, #name);                                                                \
        if (!api.field) {                                                                                      \
            dlclose(h);                                                                                        \
            st = kn__error(ctx, KN_ERR_UNSUPPORTED, "nccl: %s lacks %s (an NCCL older than 2.%d?)", KILN_NCCL_SONAME, \
                           #name, NCCL_MINOR);                                                                 \
            goto done;                                                                                         \
        }                                                                                                      \
    } while (0)
    SYM(GetUniqueId, ncclGetUniqueId);
    SYM(CommInitRank, ncclCommInitRank);
    SYM(AllReduce, ncclAllReduce);
    SYM(Broadcast, ncclBroadcast);
    SYM(CommDestroy, ncclCommDestroy);
    SYM(CommAbort, ncclCommAbort);
    SYM(GetErrorString, ncclGetErrorString);
    SYM(CommGetAsyncError, ncclCommGetAsyncError);
#undef SYM
    kn__nccl = api;
    lib = h;
done:
    pthread_mutex_unlock(&load_lock);
    return st;
}
