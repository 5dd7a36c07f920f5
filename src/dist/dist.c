/* dist.c — see dist.h; also the public kn_dist_* calls of kiln.h. With MPI (KILN_HAVE_MPI)
 * kiln works on its own duplicate of MPI_COMM_WORLD, with errors returned rather than fatal,
 * so its collectives never meet the caller's messages. Without MPI every rank is alone. */
#include "dist/dist.h"
#include "backend/cuda/nccl_comm.h"
#include "core/half.h"
#include "graph/graph.h"

#include <stdlib.h>
#include <string.h>

#ifdef KILN_HAVE_MPI
#include <mpi.h>

/* The agreement vector: [0] failures, [1, 1 + KN_DIST_SUMS) the step's sums, then the
 * lowest failing rank (min), the largest tag and the largest -tag (so the smallest). */
enum { AG_FAIL = 0, AG_SUMS = 1, AG_RANK = AG_SUMS + KN_DIST_SUMS, AG_TAG_MAX, AG_TAG_NEG_MAX, AG_LEN };

typedef struct kn__dist_mpi {
    MPI_Comm comm;
    MPI_Datatype agree_type;    /* AG_LEN doubles as one element, so the op sees whole vectors */
    MPI_Op agree_op, half_sum;
} kn__dist_mpi;

static void agree_combine(void *in_, void *inout_, int *len, MPI_Datatype *type) {
    (void)type;
    const double *in = in_;
    double *io = inout_;
    for (int k = 0; k < *len; k++, in += AG_LEN, io += AG_LEN) {
        for (int i = AG_FAIL; i < AG_RANK; i++) io[i] += in[i];
        if (in[AG_RANK] < io[AG_RANK]) io[AG_RANK] = in[AG_RANK];
        if (in[AG_TAG_MAX] > io[AG_TAG_MAX]) io[AG_TAG_MAX] = in[AG_TAG_MAX];
        if (in[AG_TAG_NEG_MAX] > io[AG_TAG_NEG_MAX]) io[AG_TAG_NEG_MAX] = in[AG_TAG_NEG_MAX];
    }
}

/* fp16 gradients summed in fp32 and rounded back at each hop of the reduction. */
static void half_combine(void *in, void *inout, int *len, MPI_Datatype *type) {
    (void)type;
    kn__f16_add(inout, in, (size_t)*len);
}

static bool mpi_running(void) {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    return init && !fin;
}

static kn_status mpi_fail(kn__dist *d, int rc, const char *what) {
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, text, &len);
    return kn__error(d->ctx, KN_ERR_DIST, "distributed: %s failed on rank %d of %d: %s", what, d->rank, d->world, text);
}

/* MPI counts are ints: big buffers go in pieces. */
#define CHUNK ((size_t)1 << 30)

kn_status kn__dist_open(kn__dist *d, kn_ctx *ctx, bool distributed, kn_grad_compression compression) {
    memset(d, 0, sizeof *d);
    d->ctx = ctx;
    d->world = 1;
    d->compression = compression;
    if ((unsigned)compression > KN_GRAD_COMPRESSION_FP16)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fit: grad_compression %d is unknown (none, fp16)", (int)compression);
    if (!distributed) return KN_OK;
    if (!mpi_running())
        return kn__error(ctx, KN_ERR_STATE, "fit: distributed training needs MPI started: call kn_dist_init first");
    int world = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (world == 1) return KN_OK;
    kn__dist_mpi *mp = kn__calloc(ctx, 1, sizeof *mp);
    if (!mp) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "fit: out of memory for the communicator");
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &mp->comm);
    if (rc != MPI_SUCCESS) {
        kn__free(ctx, mp);
        return mpi_fail(d, rc, "MPI_Comm_dup");
    }
    MPI_Comm_set_errhandler(mp->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(mp->comm, &d->rank);
    d->world = world;
    MPI_Type_contiguous(AG_LEN, MPI_DOUBLE, &mp->agree_type);
    MPI_Type_commit(&mp->agree_type);
    MPI_Op_create(agree_combine, 1, &mp->agree_op);
    MPI_Op_create(half_combine, 1, &mp->half_sum);
    d->mpi = mp;
    return KN_OK;
}

void kn__dist_close(kn__dist *d) {
    kn__dist_mpi *mp = d->mpi;
    kn__nccl_close(d->nccl, d->failed); /* before MPI's: a peer that left is not waited for */
    d->nccl = NULL;
    if (mp && mpi_running()) {
        MPI_Op_free(&mp->agree_op);
        MPI_Op_free(&mp->half_sum);
        MPI_Type_free(&mp->agree_type);
        MPI_Comm_free(&mp->comm);
    }
    kn__free(d->ctx, mp);
    kn__free(d->ctx, d->half);
    kn__free(d->ctx, d->state);
    d->mpi = NULL;
    d->half = NULL;
    d->state = NULL;
}

/* Every rank takes the message of rank `from` (status and text), prefixed with its rank. */
static kn_status share_error(kn__dist *d, int from, kn_status st) {
    kn__dist_mpi *mp = d->mpi;
    struct { int status; char text[KN_ERROR_CAP]; } msg = {.status = (int)st};
    if (d->rank == from) {
        const char *own = kn_last_error(d->ctx);
        snprintf(msg.text, sizeof msg.text, "%s", *own ? own : kn_status_text(st));
    }
    int rc = MPI_Bcast(&msg, (int)sizeof msg, MPI_BYTE, from, mp->comm);
    if (rc != MPI_SUCCESS) return mpi_fail(d, rc, "sharing an error (MPI_Bcast)");
    msg.text[KN_ERROR_CAP - 1] = 0;
    kn_status shared = msg.status > KN_OK && msg.status < KN_STATUS_COUNT ? (kn_status)msg.status : KN_ERR_DIST;
    kn__error(d->ctx, shared, "rank %d of %d: %s", from, d->world, msg.text);
    d->ctx->error_shared = true;
    return shared;
}

kn_status kn__dist_agree(kn__dist *d, kn_status st, int tag, double *sums, int n) {
    if (d->world == 1 || d->done) return st;
    kn__dist_mpi *mp = d->mpi;
    double v[AG_LEN] = {0};
    v[AG_FAIL] = st ? 1 : 0;
    for (int i = 0; i < n && i < KN_DIST_SUMS; i++) v[AG_SUMS + i] = sums[i];
    v[AG_RANK] = st ? d->rank : d->world;
    v[AG_TAG_MAX] = tag;
    v[AG_TAG_NEG_MAX] = -tag;
    double t0 = kn__now();
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, 1, mp->agree_type, mp->agree_op, mp->comm);
    d->agree_seconds += kn__now() - t0;
    if (rc != MPI_SUCCESS) {
        d->done = d->failed = true;
        return mpi_fail(d, rc, "agreeing on a step (MPI_Allreduce)");
    }
    if (v[AG_FAIL] > 0) {
        d->done = d->failed = true;
        return share_error(d, (int)v[AG_RANK], st);
    }
    if (v[AG_TAG_MAX] != -v[AG_TAG_NEG_MAX]) {
        d->done = d->failed = true;
        kn__error(d->ctx, KN_ERR_DIST,
                  "distributed: the %d ranks are at different points of training (a callback or early stop on "
                  "some ranks only?); every rank must take the same steps", d->world);
        d->ctx->error_shared = true;
        return KN_ERR_DIST;
    }
    for (int i = 0; i < n && i < KN_DIST_SUMS; i++) sums[i] = v[AG_SUMS + i];
    if (tag == KN_DIST_TAG_END) d->done = true;
    return KN_OK;
}

kn_status kn__dist_broadcast(kn__dist *d, float *x, size_t n) {
    if (d->world == 1) return KN_OK;
    for (size_t off = 0; off < n; off += CHUNK) {
        int rc = MPI_Bcast(x + off, (int)(n - off < CHUNK ? n - off : CHUNK), MPI_FLOAT, 0, d->mpi->comm);
        if (rc != MPI_SUCCESS) return mpi_fail(d, rc, "broadcasting rank 0's parameters (MPI_Bcast)");
    }
    return KN_OK;
}

kn_status kn__dist_same(kn__dist *d, const int64_t *v, const char *const *names, int n) {
    if (d->world == 1) return KN_OK;
    int64_t both[16]; /* max of v, and max of -v: the min */
    if (n > 8) n = 8;
    for (int i = 0; i < n; i++) both[i] = v[i], both[n + i] = -v[i];
    int rc = MPI_Allreduce(MPI_IN_PLACE, both, 2 * n, MPI_INT64_T, MPI_MAX, d->mpi->comm);
    if (rc != MPI_SUCCESS) return mpi_fail(d, rc, "comparing the ranks' settings (MPI_Allreduce)");
    for (int i = 0; i < n; i++)
        if (both[i] != -both[n + i]) {
            kn__error(d->ctx, KN_ERR_INVALID_ARGUMENT,
                      "distributed: the ranks disagree on %s (from %lld to %lld); every rank must load the same data "
                      "and model", names[i], (long long)-both[n + i], (long long)both[i]);
            d->ctx->error_shared = true; /* every rank saw the same figures */
            return KN_ERR_INVALID_ARGUMENT;
        }
    return KN_OK;
}

kn_status kn__dist_reduce_grad(kn__dist *d, float *grad, size_t n) {
    if (d->world == 1) return KN_OK;
    double t0 = kn__now();
    int rc = MPI_SUCCESS;
    if (d->compression == KN_GRAD_COMPRESSION_FP16) {
        if (d->half_floats < n) { /* the first step only: the gradient's length does not change */
            kn__free(d->ctx, d->half);
            if (!(d->half = kn__alloc(d->ctx, n * sizeof *d->half)))
                return kn__error(d->ctx, KN_ERR_OUT_OF_MEMORY, "fit: out of memory for the fp16 gradient");
            d->half_floats = n;
        }
        kn__f32_to_f16(grad, d->half, n);
        for (size_t off = 0; off < n && rc == MPI_SUCCESS; off += CHUNK)
            rc = MPI_Allreduce(MPI_IN_PLACE, d->half + off, (int)(n - off < CHUNK ? n - off : CHUNK), MPI_UINT16_T,
                               d->mpi->half_sum, d->mpi->comm);
        kn__f16_to_f32(d->half, grad, n);
    } else {
        for (size_t off = 0; off < n && rc == MPI_SUCCESS; off += CHUNK)
            rc = MPI_Allreduce(MPI_IN_PLACE, grad + off, (int)(n - off < CHUNK ? n - off : CHUNK), MPI_FLOAT, MPI_SUM,
                               d->mpi->comm);
    }
    d->reduce_seconds += kn__now() - t0;
    d->reduces++;
    return rc == MPI_SUCCESS ? KN_OK : mpi_fail(d, rc, "the gradient all-reduce (MPI_Allreduce)");
}

/* The trailer after the gradient: the failures, then the sums. (No tag: the caller uses
 * this only where every rank takes the same steps, without a callback that could stop one
 * rank alone, so all ranks are always in the same collective.) */
enum { TR_FAIL, TR_SUMS, TR_LEN = TR_SUMS + 4 };
_Static_assert(TR_LEN <= KN_GRAD_SLACK, "the step trailer must fit in the gradient buffer's slack");

kn_status kn__dist_reduce_step(kn__dist *d, kn_status st, float *grad, size_t n, double *sums, int n_sums) {
    if (d->world == 1 || d->done) return st;
    if (n_sums > TR_LEN - TR_SUMS || n > CHUNK - TR_LEN || d->compression != KN_GRAD_COMPRESSION_NONE) {
        kn_status a = kn__dist_agree(d, st, KN_DIST_TAG_STEP, sums, n_sums); /* the general path */
        return a ? a : kn__dist_reduce_grad(d, grad, n);
    }
    float *tr = grad + n;
    memset(tr, 0, TR_LEN * sizeof *tr);
    tr[TR_FAIL] = st ? 1.0f : 0.0f;
    for (int i = 0; i < n_sums; i++) tr[TR_SUMS + i] = (float)sums[i];
    double t0 = kn__now();
    int rc = MPI_Allreduce(MPI_IN_PLACE, grad, (int)(n + TR_LEN), MPI_FLOAT, MPI_SUM, d->mpi->comm);
    d->reduce_seconds += kn__now() - t0;
    d->reduces++;
    if (rc != MPI_SUCCESS) {
        d->done = d->failed = true;
        return mpi_fail(d, rc, "the gradient all-reduce (MPI_Allreduce)");
    }
    /* someone failed: every rank meets in the agreement, which shares the failing rank's
     * message (the others pass their own OK) */
    if (tr[TR_FAIL] > 0) return kn__dist_agree(d, st, KN_DIST_TAG_STEP, NULL, 0);
    for (int i = 0; i < n_sums; i++) sums[i] = tr[TR_SUMS + i];
    return KN_OK;
}

kn_status kn__dist_reduce_state(kn__dist *d, kn_graph *g) {
    if (d->world == 1) return KN_OK;
    size_t total = 0;
    for (int i = 0; i < g->n_params; i++)
        if (!g->params[i]->grad) total += (size_t)kn__numel(g->params[i]);
    if (total == 0) return KN_OK; /* most models: every parameter is trained */
    if (d->state_floats < total) {
        kn__free(d->ctx, d->state);
        if (!(d->state = kn__alloc(d->ctx, total * sizeof *d->state)))
            return kn__error(d->ctx, KN_ERR_OUT_OF_MEMORY, "fit: out of memory for the moving statistics");
        d->state_floats = total;
    }
    double t0 = kn__now();
    kn_status st = kn__graph_pull(g, KN_SYNC_PARAMS); /* the statistics the step just updated */
    if (st) return st;
    size_t at = 0;
    for (int i = 0; i < g->n_params; i++) {
        const kn_tensor *p = g->params[i];
        if (p->grad) continue;
        memcpy(d->state + at, g->param_buf + p->param_offset, (size_t)kn__numel(p) * sizeof(float));
        at += (size_t)kn__numel(p);
    }
    int rc = MPI_Allreduce(MPI_IN_PLACE, d->state, (int)total, MPI_FLOAT, MPI_SUM, d->mpi->comm);
    if (rc != MPI_SUCCESS) return mpi_fail(d, rc, "averaging the moving statistics (MPI_Allreduce)");
    float inv = 1.0f / (float)d->world;
    at = 0;
    for (int i = 0; i < g->n_params; i++) {
        const kn_tensor *p = g->params[i];
        if (p->grad) continue;
        float *dst = g->param_buf + p->param_offset;
        for (int64_t k = 0; k < kn__numel(p); k++) dst[k] = d->state[at + (size_t)k] * inv;
        at += (size_t)kn__numel(p);
    }
    d->reduce_seconds += kn__now() - t0;
    return kn__graph_push(g, KN_SYNC_PARAMS);
}

/* id[0..n) from rank 0 to every rank (the device communicator's id). */
static kn_status broadcast_bytes(kn__dist *d, void *id, int n) {
    if (d->world == 1) return KN_OK;
    int rc = MPI_Bcast(id, n, MPI_BYTE, 0, d->mpi->comm);
    return rc == MPI_SUCCESS ? KN_OK : mpi_fail(d, rc, "sharing the NCCL communicator's id (MPI_Bcast)");
}

/* ---------------------------------------------------------------- public (kiln.h) */

bool kn_dist_available(void) { return true; }

kn_status kn_dist_init(int *argc, char ***argv) {
    if (mpi_running()) return KN_OK;
    int provided = 0;
    /* FUNNELED: only the thread that called fit talks to MPI (workers and the loader
     * thread never do) */
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return KN_ERR_DIST;
    return KN_OK;
}

kn_status kn_dist_finalize(void) {
    if (mpi_running()) MPI_Finalize();
    return KN_OK;
}

int kn_dist_rank(void) {
    int r = 0;
    if (mpi_running()) MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int kn_dist_world(void) {
    int n = 1;
    if (mpi_running()) MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
}

int kn_dist_local_world(void) {
    if (!mpi_running()) return 1;
    MPI_Comm node;
    int n = 1;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS) return 1;
    MPI_Comm_size(node, &n);
    MPI_Comm_free(&node);
    return n;
}

void kn_dist_abort(int code) {
    if (mpi_running()) MPI_Abort(MPI_COMM_WORLD, code);
}

#else /* built without MPI: one rank, nothing to exchange */

kn_status kn__dist_open(kn__dist *d, kn_ctx *ctx, bool distributed, kn_grad_compression compression) {
    (void)distributed;
    memset(d, 0, sizeof *d);
    d->ctx = ctx;
    d->world = 1;
    d->compression = compression;
    if ((unsigned)compression > KN_GRAD_COMPRESSION_FP16)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fit: grad_compression %d is unknown (none, fp16)", (int)compression);
    return KN_OK;
}
void kn__dist_close(kn__dist *d) {
    kn__nccl_close(d->nccl, d->failed);
    d->nccl = NULL;
}
kn_status kn__dist_agree(kn__dist *d, kn_status st, int tag, double *sums, int n) {
    (void)d, (void)tag, (void)sums, (void)n;
    return st;
}
kn_status kn__dist_broadcast(kn__dist *d, float *x, size_t n) {
    (void)d, (void)x, (void)n;
    return KN_OK;
}
kn_status kn__dist_same(kn__dist *d, const int64_t *v, const char *const *names, int n) {
    (void)d, (void)v, (void)names, (void)n;
    return KN_OK;
}
kn_status kn__dist_reduce_grad(kn__dist *d, float *grad, size_t n) {
    (void)d, (void)grad, (void)n;
    return KN_OK;
}
kn_status kn__dist_reduce_step(kn__dist *d, kn_status st, float *grad, size_t n, double *sums, int n_sums) {
    (void)d, (void)grad, (void)n, (void)sums, (void)n_sums;
    return st;
}
kn_status kn__dist_reduce_state(kn__dist *d, kn_graph *g) {
    (void)d, (void)g;
    return KN_OK;
}

static kn_status broadcast_bytes(kn__dist *d, void *id, int n) {
    (void)d, (void)id, (void)n; /* alone: rank 0 is everyone */
    return KN_OK;
}

bool kn_dist_available(void) { return false; }
kn_status kn_dist_init(int *argc, char ***argv) {
    (void)argc, (void)argv;
    return KN_OK;
}
kn_status kn_dist_finalize(void) { return KN_OK; }
int kn_dist_rank(void) { return 0; }
int kn_dist_world(void) { return 1; }
int kn_dist_local_world(void) { return 1; }
void kn_dist_abort(int code) { (void)code; }

#endif

/* ---------------------------------------------------------------- GPUs (NCCL) */

kn_status kn__dist_open_device(kn__dist *d, kn_graph *g) {
    if (d->nccl || d->done) return KN_OK;
    const char *env = getenv("KILN_NCCL");
    bool off = env && (strcmp(env, "0") == 0 || strcmp(env, "off") == 0);
    bool force = env && strcmp(env, "force") == 0;
#ifdef KILN_HAVE_NCCL
    bool built = true;
#else
    bool built = force; /* forced in a build without NCCL: the error says so */
#endif
    bool cuda = g && g->compiled && g->backend.device == KN_DEVICE_CUDA;
    /* every rank must want it (a cpu rank, a KILN_NCCL=0 rank: the host path for all) */
    double want = cuda && built && !off && (d->world > 1 || force) ? 1 : 0;
    kn_status st = kn__dist_agree(d, KN_OK, KN_DIST_TAG_SETUP, &want, 1);
    if (st || want < d->world) return st; /* alone: want is 0 or 1 */
    /* libnccl on every rank (and the id on rank 0) before anyone joins: a rank without it
     * fails everyone here, rather than leaving the others waiting in ncclCommInitRank */
    uint8_t id[KN_NCCL_ID_BYTES] = {0};
    st = d->rank == 0 ? kn__nccl_unique_id(d->ctx, id) : kn__nccl_load(d->ctx);
    if ((st = kn__dist_agree(d, st, KN_DIST_TAG_SETUP, NULL, 0))) return st;
    if ((st = broadcast_bytes(d, id, (int)sizeof id))) return st;
    void *comm = NULL;
    st = kn__nccl_open(d->ctx, id, d->rank, d->world, &comm);
    if ((st = kn__dist_agree(d, st, KN_DIST_TAG_SETUP, NULL, 0))) {
        kn__nccl_close(comm, true);
        return st;
    }
    d->nccl = comm;
    return KN_OK;
}

kn_status kn__dist_reduce_grad_device(kn__dist *d, kn_graph *g, float pre_scale) {
    kn_status st;
    if (d->nccl) {
        double t0 = kn__now();
        st = kn__nccl_allreduce_grads(g, d->nccl, pre_scale);
        d->reduce_seconds += kn__now() - t0;
        d->reduces++;
        return st;
    }
    /* the host path: the same sum through MPI (which counts and times it; alone: the scale) */
    if (d->world == 1 && pre_scale == 1.0f) return KN_OK;
    if ((st = kn__graph_pull(g, KN_SYNC_GRADS))) return st;
    if (pre_scale != 1.0f)
        for (size_t i = 0; i < g->param_floats; i++) g->grad_buf[i] *= pre_scale;
    if ((st = kn__dist_reduce_grad(d, g->grad_buf, g->param_floats))) return st;
    return kn__graph_push(g, KN_SYNC_GRADS);
}

kn_status kn__dist_broadcast_device(kn__dist *d, kn_graph *g) {
    if (!d->nccl) return KN_OK;
    kn_status st = kn__nccl_broadcast_params(g, d->nccl);
    return st ? st : kn__graph_pull(g, KN_SYNC_PARAMS | KN_SYNC_STATE);
}

bool kn_dist_error_shared(const kn_ctx *ctx) { return ctx && ctx->error_shared; }
