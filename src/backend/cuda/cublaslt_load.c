/* cublaslt_load.c — cuBLASLt opened with dlopen when a graph first compiles for cuda, not
 * linked: a linked libcublasLt (~500 MB) is loaded and initialized by every kiln process,
 * CPU runs included — measured here, 80 ms more per CLI start and 20 s more per run under
 * valgrind. The function table below is filled from the library on first use; the
 * declarations come from cublasLt.h, so the types are checked as if it were linked. */
#include "cuda_internal.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#ifndef KILN_CUBLASLT_SONAME
#define KILN_CUBLASLT_SONAME "libcublasLt.so"
#endif
#ifndef KILN_CUDA_LIBDIR
#define KILN_CUDA_LIBDIR ""
#endif

kn__cublaslt_api kn__lt;

void *kn__cuda_dlopen(const char *soname) {
    char path[512];
    /* the soname (rpath, LD_LIBRARY_PATH, the loader's cache) */
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    /* then beside the cudart this process loaded (the toolkit keeps them together), the
     * toolkit directory configured at build time, and the usual install */
    Dl_info rt;
    const char *dirs[3] = {NULL, KILN_CUDA_LIBDIR, "/usr/local/cuda/lib64"};
    char rt_dir[400] = "";
    if (!h && dladdr((void *)&cudaGetDeviceCount, &rt) && rt.dli_fname) {
        snprintf(rt_dir, sizeof rt_dir, "%s", rt.dli_fname);
        char *slash = strrchr(rt_dir, '/');
        if (slash) *slash = 0, dirs[0] = rt_dir;
    }
    for (int i = 0; !h && i < 3; i++) {
        if (!dirs[i] || !dirs[i][0]) continue;
        snprintf(path, sizeof path, "%s/%s", dirs[i], soname);
        h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    }
    return h;
}

kn_status kn__cublaslt_load(kn_ctx *ctx) {
    static void *lib;
    if (lib) return KN_OK; /* loaded before (compiles are on the caller's thread) */
    void *h = kn__cuda_dlopen(KILN_CUBLASLT_SONAME);
    if (!h)
        return kn__error(ctx, KN_ERR_DEVICE, "cuda: cannot load %s (cuBLASLt): %s; add its directory to LD_LIBRARY_PATH",
                         KILN_CUBLASLT_SONAME, dlerror());
    kn__cublaslt_api api;
#define SYM(field, name)                                                                                       \
    do {                                                                                                       \
        *(void **)&api.field = dlsym(h, #name);                                                                \
        if (!api.field) {                                                                                      \
            dlclose(h);                                                                                        \
            return kn__error(ctx, KN_ERR_DEVICE, "cuda: %s lacks %s (a cuBLASLt older than CUDA %d?)",          \
                             KILN_CUBLASLT_SONAME, #name, CUDART_VERSION / 1000);                              \
        }                                                                                                      \
    } while (0)
    SYM(Create, cublasLtCreate);
    SYM(Destroy, cublasLtDestroy);
    SYM(GetStatusString, cublasLtGetStatusString);
    SYM(Matmul, cublasLtMatmul);
    SYM(MatmulAlgoGetHeuristic, cublasLtMatmulAlgoGetHeuristic);
    SYM(MatmulDescCreate, cublasLtMatmulDescCreate);
    SYM(MatmulDescDestroy, cublasLtMatmulDescDestroy);
    SYM(MatmulDescSetAttribute, cublasLtMatmulDescSetAttribute);
    SYM(MatmulPreferenceCreate, cublasLtMatmulPreferenceCreate);
    SYM(MatmulPreferenceDestroy, cublasLtMatmulPreferenceDestroy);
    SYM(MatmulPreferenceSetAttribute, cublasLtMatmulPreferenceSetAttribute);
    SYM(MatrixLayoutCreate, cublasLtMatrixLayoutCreate);
    SYM(MatrixLayoutDestroy, cublasLtMatrixLayoutDestroy);
#undef SYM
    kn__lt = api;
    lib = h;
    return KN_OK;
}
