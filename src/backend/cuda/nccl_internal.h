/* nccl_internal.h — NCCL's functions as kiln calls them: a table filled from libnccl with
 * dlopen (nccl_load.c) the first time a communicator is asked for, never linked. The types
 * come from NCCL's own header, so every call is checked as if it were linked. Included by
 * nccl_load.c and nccl_comm.c only (the rest of kiln sees nccl_comm.h, plain C). */
#ifndef KN_NCCL_INTERNAL_H
#define KN_NCCL_INTERNAL_H

#include <nccl.h>

#include "core/core.h"

typedef struct {
    __typeof__(&ncclGetUniqueId) GetUniqueId;
    __typeof__(&ncclCommInitRank) CommInitRank;
    __typeof__(&ncclAllReduce) AllReduce;
    __typeof__(&ncclBroadcast) Broadcast;
    __typeof__(&ncclCommDestroy) CommDestroy;
    __typeof__(&ncclCommAbort) CommAbort;
    __typeof__(&ncclGetErrorString) GetErrorString;
    __typeof__(&ncclCommGetAsyncError) CommGetAsyncError;
} kn__nccl_api;

/* kn__nccl.AllReduce(...) where a linked build would call ncclAllReduce(...); valid after
 * kn__nccl_load returned KN_OK. */
extern kn__nccl_api kn__nccl;

#endif
