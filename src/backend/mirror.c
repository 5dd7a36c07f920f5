/* mirror.c — a test backend that behaves like a device for the flat buffers: the CPU
 * kernels run on private host copies of the parameter, gradient and optimizer-state
 * buffers, so the graph's host buffers see a run only after a pull (and the kernels see a
 * host write only after a push), exactly as with a GPU. Chosen for cpu graphs when
 * KILN_TEST_MIRROR=1 at compile (backend.c), so that the model layer's syncs are tested on
 * machines without a GPU. The arena is private too, as a device's: a run copies the inputs
 * in and the kept outputs of the arena out (the CUDA backend's plan_io), so a host read of
 * any other tensor after a run sees stale memory here as it would on a GPU.
 *
 * How the kernels reach the copies: between runs every tensor keeps its host address (the
 * graph's interface, as on a device), and g->param_buf / grad_buf / state_buf stay the host
 * buffers. For the duration of a run, the tensors whose data lies in a flat buffer (the
 * parameters, their gradients, views of either: found once, at compile) are re-pointed at
 * the same offset in the copy, and the three g->*_buf pointers are swapped for the copies
 * (the optimizer kernel indexes them directly); both are put back after the run. A graph
 * with shared (read-only, memory-mapped) parameters reads them in place: never written,
 * they need no copy. As on the CUDA backend, kept gradients are not copied out after a
 * run: every host read of a flat buffer must pull first. */
#include "backend.h"

#include <stdint.h>
#include <string.h>

kn_status kn__cpu_run(kn_graph *g, unsigned mask); /* graph/compile.c: the node loop */

typedef struct {
    float *param, *grad, *state; /* the copies (param: the shared buffer itself when shared) */
    int n_moved;
    kn_tensor **moved;           /* tensors whose data lies in a flat buffer */
    void **host, **copy;         /* their data on the host, and in the copies */
    kn__resident_host *resident; /* bound training data (resident_open), or NULL */
    uint8_t *arena;              /* the private arena (the host's layout) */
    int n_arena;
    kn_tensor **arena_t;         /* (n_arena) the nodes whose data or scratch lies in the arena */
    bool *arena_data;            /* (n_arena) its data does (else only its scratch) */
} mirror;

static kn_status oom(kn_graph *g) {
    return kn__error(g->ctx, KN_ERR_OUT_OF_MEMORY, "mirror: out of memory for the copies of the flat buffers");
}

/* p's address in the copies, or NULL when it is in no flat buffer. */
static void *translate(const kn_graph *g, const mirror *c, const void *p) {
    uintptr_t a = (uintptr_t)p;
    const float *host[3] = {g->param_buf, g->grad_buf, g->state_buf};
    float *copy[3] = {c->param, c->grad, c->state};
    size_t floats[3] = {g->param_floats, g->param_floats + KN_GRAD_SLACK, g->state_floats};
    for (int k = 0; k < 3; k++) {
        uintptr_t lo = (uintptr_t)host[k];
        if (host[k] && copy[k] != host[k] && a >= lo && a < lo + floats[k] * sizeof(float))
            return (uint8_t *)copy[k] + (a - lo);
    }
    return NULL;
}

static void note(kn_graph *g, mirror *c, kn_tensor *t) {
    void *to = t ? translate(g, c, t->data) : NULL;
    if (!to) return;
    for (int i = 0; i < c->n_moved; i++)
        if (c->moved[i] == t) return;
    c->moved[c->n_moved] = t;
    c->host[c->n_moved] = t->data;
    c->copy[c->n_moved++] = to;
}

static kn_status mirror_push(kn_graph *g, unsigned parts);

static kn_status mirror_compile(kn_graph *g) {
    mirror *c = kn__calloc(g->ctx, 1, sizeof *c);
    if (!c) return oom(g);
    g->backend.context = c;
    kn_status st = kn__backend_check_buffers(g); /* as a device's compile does */
    if (st) return st;
    c->param = g->shared_params ? g->param_buf : kn__alloc(g->ctx, (g->param_floats ? g->param_floats : 1) * sizeof(float));
    c->grad = g->grad_buf ? kn__calloc(g->ctx, g->param_floats + KN_GRAD_SLACK, sizeof(float)) : NULL;
    c->state = g->state_buf ? kn__alloc(g->ctx, g->state_floats * sizeof(float)) : NULL;
    /* at most every node, parameter and parameter gradient */
    size_t cap = (size_t)g->n_nodes + 2 * (size_t)g->n_params + 1;
    c->moved = kn__alloc(g->ctx, cap * sizeof *c->moved);
    c->host = kn__alloc(g->ctx, cap * sizeof *c->host);
    c->copy = kn__alloc(g->ctx, cap * sizeof *c->copy);
    if (!c->param || (g->grad_buf && !c->grad) || (g->state_buf && !c->state) || !c->moved || !c->host || !c->copy)
        return oom(g);
    for (int i = 0; i < g->n_nodes; i++) note(g, c, g->nodes[i]);
    /* the private arena: the constants compile wrote, and the nodes that live there */
    c->arena = kn__alloc(g->ctx, g->arena_bytes ? g->arena_bytes : 1);
    c->arena_t = kn__alloc(g->ctx, ((size_t)g->n_nodes + 1) * sizeof *c->arena_t);
    c->arena_data = kn__alloc(g->ctx, ((size_t)g->n_nodes + 1) * sizeof *c->arena_data);
    if (!c->arena || !c->arena_t || !c->arena_data) return oom(g);
    memcpy(c->arena, g->arena, g->arena_bytes);
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        const uint8_t *p = t->data;
        bool data = p && p >= g->arena && p < g->arena + g->arena_bytes;
        if (data || t->scratch) c->arena_data[c->n_arena] = data, c->arena_t[c->n_arena++] = t;
    }
    for (int i = 0; i < g->n_params; i++) {
        note(g, c, g->params[i]);
        note(g, c, g->params[i]->grad);
    }
    /* as a device's compile: the initialized parameters, zeroed gradients, initial state */
    return mirror_push(g, KN_SYNC_ALL);
}

static void mirror_release(kn_graph *g) {
    mirror *c = g->backend.context;
    if (!c) return;
    kn__resident_host_close(g, &c->resident);
    kn__free(g->ctx, c->arena);
    kn__free(g->ctx, c->arena_t);
    kn__free(g->ctx, c->arena_data);
    if (c->param != g->param_buf) kn__free(g->ctx, c->param);
    kn__free(g->ctx, c->grad);
    kn__free(g->ctx, c->state);
    kn__free(g->ctx, c->moved);
    kn__free(g->ctx, c->host);
    kn__free(g->ctx, c->copy);
    kn__free(g->ctx, c);
    g->backend.context = NULL;
}

static kn_status mirror_alloc(kn_graph *g, size_t bytes, void **out) {
    *out = kn__alloc(g->ctx, bytes ? bytes : 1);
    return *out ? KN_OK : kn__error(g->ctx, KN_ERR_OUT_OF_MEMORY, "mirror: out of memory for %zu bytes", bytes);
}

static void mirror_free(kn_graph *g, void *ptr) { kn__free(g->ctx, ptr); }

static kn_status mirror_copy(kn_graph *g, void *dst, const void *src, size_t bytes) {
    (void)g;
    if (bytes && dst != src) memcpy(dst, src, bytes);
    return KN_OK;
}

static kn_status mirror_synchronize(kn_graph *g) { (void)g; return KN_OK; }

/* from (copies -> host) or to (host -> copies) */
static void move(kn_graph *g, unsigned parts, bool to_copies) {
    mirror *c = g->backend.context;
    float *host[3] = {g->param_buf, g->grad_buf, g->state_buf};
    float *copy[3] = {c->param, c->grad, c->state};
    size_t floats[3] = {g->param_floats, g->param_floats + KN_GRAD_SLACK, g->state_floats};
    const unsigned bit[3] = {KN_SYNC_PARAMS, KN_SYNC_GRADS, KN_SYNC_STATE};
    for (int k = 0; k < 3; k++)
        if ((parts & bit[k]) && host[k] && copy[k] != host[k] && floats[k])
            memcpy(to_copies ? copy[k] : host[k], to_copies ? host[k] : copy[k], floats[k] * sizeof(float));
}

static kn_status mirror_pull(kn_graph *g, unsigned parts) {
    move(g, parts, false);
    return KN_OK;
}

static kn_status mirror_push(kn_graph *g, unsigned parts) {
    move(g, parts, true);
    return KN_OK;
}

/* Arena tensors (and scratch) moved by delta: into the private arena and back. */
static void move_arena(mirror *c, ptrdiff_t delta) {
    for (int i = 0; i < c->n_arena; i++) {
        kn_tensor *t = c->arena_t[i];
        if (c->arena_data[i]) t->data = (uint8_t *)t->data + delta;
        if (t->scratch) t->scratch = (uint8_t *)t->scratch + delta;
    }
}

static bool in_arena(const kn_graph *g, const void *p) {
    return p && (const uint8_t *)p >= g->arena && (const uint8_t *)p < g->arena + g->arena_bytes;
}

/* The CPU kernels with the flat buffers swapped for the copies and the arena for the
 * private one (see the top). */
static kn_status mirror_run(kn_graph *g, unsigned mask) {
    mirror *c = g->backend.context;
    bool resident = mask & KN_RUN_RESIDENT;
    for (int i = 0; i < g->n_nodes; i++) { /* what the host wrote: inputs (not gathered), refolded values */
        kn_tensor *t = g->nodes[i];
        bool in = t->op == KN_OP_INPUT && !t->alias && !resident, folded = g->refolded && (t->flags & KN_FLAG_FOLDED);
        if (resident && t == g->loss_seed) in = false; /* written by the run */
        if ((in || folded) && in_arena(g, t->data) && kn__nbytes(t))
            memcpy(c->arena + ((uint8_t *)t->data - g->arena), t->data, kn__nbytes(t));
    }
    float *host_param = g->param_buf, *host_grad = g->grad_buf, *host_state = g->state_buf;
    ptrdiff_t delta = c->arena - g->arena;
    for (int i = 0; i < c->n_moved; i++) c->moved[i]->data = c->copy[i];
    move_arena(c, delta);
    g->param_buf = c->param, g->grad_buf = c->grad, g->state_buf = c->state;
    kn_status st = KN_OK;
    if (resident) { /* as the CUDA backend's resident run orders its kernels */
        g->state_frozen = c->resident->stats.failed_step >= 0; /* nothing changes after a failure */
        int64_t unseen = c->resident->stats.skipped - g->resident_skipped; /* fp16's skips fit has not seen */
        g->step -= unseen, g->rng_step -= unseen;
        kn__resident_host_gather(g, c->resident);
        st = kn__cpu_run(g, mask & (KN_PHASE_FORWARD | KN_PHASE_LOSS));
        bool training = mask & KN_PHASE_BACKWARD; /* (else an evaluation: no guard, no update) */
        kn__resident_host_count(g, c->resident, training);
        if (!st && training) st = kn__cpu_run(g, mask & KN_PHASE_BACKWARD);
        if (!st && training && kn__resident_host_guard(g, c->resident, c->grad, g->param_floats)) {
            if (mask & KN_RUN_ACCUMULATE)
                kn__resident_host_accumulate(g, c->resident, c->grad, g->param_floats, mask & KN_PHASE_UPDATE);
            st = kn__cpu_run(g, mask & KN_PHASE_UPDATE);
        }
        g->state_frozen = false;
        g->step += unseen, g->rng_step += unseen;
    } else {
        st = kn__cpu_run(g, mask);
    }
    g->param_buf = host_param, g->grad_buf = host_grad, g->state_buf = host_state;
    for (int i = 0; i < c->n_moved; i++) c->moved[i]->data = c->host[i];
    move_arena(c, -delta);
    g->refolded = false;
    for (int i = 0; !resident && i < g->n_nodes; i++) { /* what the caller reads: the kept outputs of the arena */
        kn_tensor *t = g->nodes[i];
        if ((t->flags & KN_FLAG_KEEP) && (t->phase & mask) && t->op != KN_OP_INPUT && !(t->flags & KN_FLAG_FOLDED) &&
            in_arena(g, t->data) && kn__nbytes(t))
            memcpy(t->data, c->arena + ((uint8_t *)t->data - g->arena), kn__nbytes(t));
    }
    return st;
}

static kn_status mirror_resident_open(kn_graph *g, const kn_resident_desc *d, bool *placed) {
    mirror *c = g->backend.context;
    kn__resident_host_close(g, &c->resident);
    *placed = false;
    if (!kn__resident_placeable(g, d)) return KN_OK;
    kn_status st = kn__resident_host_open(g, &c->resident, d);
    *placed = !st;
    return st;
}

static kn_status mirror_resident_order(kn_graph *g, const int32_t *order, int64_t n) {
    mirror *c = g->backend.context;
    return kn__resident_host_order(g, c->resident, order, n);
}

static kn_status mirror_resident_augment(kn_graph *g, const kn__augment_draw *draws, int64_t n) {
    mirror *c = g->backend.context;
    return kn__resident_host_augment(g, c->resident, draws, n);
}

static kn_status mirror_resident_stats(kn_graph *g, kn_resident_stats *out, bool reset) {
    mirror *c = g->backend.context;
    *out = c->resident->stats;
    if (reset) c->resident->stats.loss_sum = 0, c->resident->stats.rows = c->resident->stats.correct = 0;
    return KN_OK;
}

static void mirror_resident_close(kn_graph *g) {
    mirror *c = g->backend.context;
    kn__resident_host_close(g, &c->resident);
}

const kn_backend_iface kn__mirror_backend = {
    .name = "mirror", .compile = mirror_compile, .release = mirror_release, .alloc = mirror_alloc,
    .free = mirror_free, .copy_in = mirror_copy, .copy_out = mirror_copy, .run = mirror_run,
    .synchronize = mirror_synchronize, .pull = mirror_pull, .push = mirror_push,
    .resident_open = mirror_resident_open, .resident_order = mirror_resident_order,
    .resident_stats = mirror_resident_stats, .resident_close = mirror_resident_close,
    .resident_augment = mirror_resident_augment,
};
