/* backend.c — the CPU backend's function table (host memory, the op table's cpu
 * kernels), the choice of a graph's backend at compile, and the public device API. */
#include "backend.h"
#include "nadam_schedule.h"

#include <stdlib.h>
#include <string.h>

kn_status kn__cpu_run(kn_graph *g, unsigned mask); /* graph/compile.c: the node loop */

static kn_status cpu_compile(kn_graph *g) { (void)g; return KN_OK; }
static void cpu_release(kn_graph *g) { (void)g; }

static kn_status cpu_alloc(kn_graph *g, size_t bytes, void **out) {
    *out = kn__alloc(g->ctx, bytes ? bytes : 1);
    return *out ? KN_OK : kn__error(g->ctx, KN_ERR_OUT_OF_MEMORY, "cpu: out of memory for %zu bytes", bytes);
}

static void cpu_free(kn_graph *g, void *ptr) { kn__free(g->ctx, ptr); }

static kn_status cpu_copy(kn_graph *g, void *dst, const void *src, size_t bytes) {
    (void)g;
    if (bytes && dst != src) memcpy(dst, src, bytes);
    return KN_OK;
}

static kn_status cpu_nothing(kn_graph *g) { (void)g; return KN_OK; }
static kn_status cpu_in_place(kn_graph *g, unsigned parts) { (void)g, (void)parts; return KN_OK; }

const kn_backend_iface kn__cpu_backend = {
    .name = "cpu", .compile = cpu_compile, .release = cpu_release, .alloc = cpu_alloc, .free = cpu_free,
    .copy_in = cpu_copy, .copy_out = cpu_copy, .run = kn__cpu_run, .synchronize = cpu_nothing,
    .pull = cpu_in_place, .push = cpu_in_place,
};

static bool inside(const void *p, const void *base, size_t bytes) {
    return base && (const uint8_t *)p >= (const uint8_t *)base && (const uint8_t *)p < (const uint8_t *)base + bytes;
}

kn_status kn__backend_check_buffers(kn_graph *g) {
    size_t pb = g->param_floats * sizeof(float);
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        if ((t->flags & KN_FLAG_FOLDED) || !kn__op_info(t->op)->cpu) continue;
        for (int k = -1; k < KN_MAX_SRC; k++) {
            const kn_tensor *u = k < 0 ? t : t->src[k];
            if (!u || !kn__nbytes(u) || !u->data) continue; /* (an update's output: nothing, never touched) */
            const void *p = u->data;
            if (!inside(p, g->param_buf, pb ? pb : 1) && !inside(p, g->grad_buf, pb ? pb : 1) &&
                !inside(p, g->state_buf, g->state_floats * sizeof(float)) &&
                !inside(p, g->arena, g->arena_bytes ? g->arena_bytes : 1))
                return kn__error(g->ctx, KN_ERR_UNSUPPORTED,
                                 "%s: node '%s' (%s) reads or writes '%s' outside the graph's buffers", kn_device_name(g->device),
                                 t->name, kn__op_info(t->op)->name, u->name);
        }
    }
    return KN_OK;
}

double kn__nadam_graph_product(kn_graph *g, int64_t t) {
    const kn_optimizer *o = &g->opt;
    if (g->nadam.b1 != o->beta_1 || g->nadam.decay != o->momentum_decay) /* (another optimizer: anew) */
        g->nadam.at = 0, g->nadam.b1 = o->beta_1, g->nadam.decay = o->momentum_decay;
    return kn__nadam_product(o->beta_1, o->momentum_decay, t, &g->nadam.at, &g->nadam.product);
}

/* KILN_TEST_MIRROR=1: cpu graphs get the mirror backend (tests of the host/device sync). */
static bool test_mirror(void) {
    const char *env = getenv("KILN_TEST_MIRROR");
    return env && strcmp(env, "1") == 0;
}

kn_status kn__backend_compile(kn_graph *g) {
    g->backend = (kn_backend){&kn__cpu_backend, KN_DEVICE_CPU, NULL};
    if (g->device == KN_DEVICE_CPU && test_mirror()) {
        g->backend.iface = &kn__mirror_backend;
        kn_status st = kn__mirror_backend.compile(g);
        if (st) {
            kn__mirror_backend.release(g);
            g->backend = (kn_backend){&kn__cpu_backend, KN_DEVICE_CPU, NULL};
        }
        return st;
    }
    if (g->device == KN_DEVICE_CPU) return KN_OK;
#ifdef KILN_HAVE_CUDA
    kn_status st = kn__cuda_check(g->ctx);
    if (st) return st;
    g->backend = (kn_backend){&kn__cuda_backend, KN_DEVICE_CUDA, NULL};
    st = kn__cuda_backend.compile(g);
    if (st) {
        kn__cuda_backend.release(g);
        g->backend = (kn_backend){&kn__cpu_backend, KN_DEVICE_CPU, NULL};
    }
    return st;
#else
    return kn_device_check(g->ctx, g->device);
#endif
}

void kn__backend_release(kn_graph *g) {
    if (g->backend.iface) g->backend.iface->release(g);
    g->backend.context = NULL;
}

/* ---------------------------------------------------------------- public API */

static const char *const device_names[KN_DEVICE_COUNT] = {"cpu", "cuda"};

const char *kn_device_name(kn_device d) { return (unsigned)d < KN_DEVICE_COUNT ? device_names[d] : "?"; }

bool kn_device_parse(const char *name, kn_device *out) {
    for (int i = 0; name && i < KN_DEVICE_COUNT; i++)
        if (strcmp(name, device_names[i]) == 0) {
            *out = (kn_device)i;
            return true;
        }
    return false;
}

kn_status kn_device_check(kn_ctx *ctx, kn_device device) {
    if (!ctx || (unsigned)device >= KN_DEVICE_COUNT) return KN_ERR_INVALID_ARGUMENT;
    if (device == KN_DEVICE_CPU) return KN_OK;
#ifdef KILN_HAVE_CUDA
    return kn__cuda_check(ctx);
#else
    return kn__error(ctx, KN_ERR_UNSUPPORTED,
                     "device cuda: this build of kiln has no CUDA backend (configure with -DKILN_CUDA=ON "
                     "where nvcc is found)");
#endif
}

kn_status kn_graph_set_device(kn_graph *g, kn_device device) {
    if (!g || (unsigned)device >= KN_DEVICE_COUNT) return KN_ERR_INVALID_ARGUMENT;
    if (g->compiled) return kn__error(g->ctx, KN_ERR_STATE, "set_device: the graph is compiled already");
    g->device = device;
    return KN_OK;
}

kn_device kn_graph_device(const kn_graph *g) { return g ? g->device : KN_DEVICE_CPU; }

kn_status kn__graph_pull(kn_graph *g, unsigned parts) {
    return g && g->compiled && g->backend.iface ? g->backend.iface->pull(g, parts) : KN_OK;
}

kn_status kn__graph_push(kn_graph *g, unsigned parts) {
    return g && g->compiled && g->backend.iface ? g->backend.iface->push(g, parts) : KN_OK;
}

kn_status kn_graph_sync(kn_graph *g) {
    if (!g) return KN_ERR_INVALID_ARGUMENT;
    if (!g->compiled) return kn__error(g->ctx, KN_ERR_STATE, "sync: compile the graph first");
    return g->backend.iface->pull(g, KN_SYNC_ALL);
}

kn_status kn_graph_upload(kn_graph *g) {
    if (!g) return KN_ERR_INVALID_ARGUMENT;
    if (!g->compiled) return kn__error(g->ctx, KN_ERR_STATE, "upload: compile the graph first");
    return g->backend.iface->push(g, KN_SYNC_PARAMS | KN_SYNC_STATE); /* as documented: not the gradients */
}
