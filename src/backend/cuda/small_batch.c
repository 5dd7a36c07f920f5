/* small_batch.c — the CUDA backend's fusions for small batches (docs/cuda.md, "Small
 * batches"): at compile, which nodes run together (forward dense chains, backward chains,
 * the weight gradients, and the tensors that then move out of the arena); at each run, the
 * launches that stand for them when the run's rows are few enough (KN_CUDA_CHAIN_ROWS,
 * KN_CUDA_WGRAD_ROWS).
 * The kernels are kernels_chain.cu's; ops.c's k_dense, k_act, k_matmul_act_grad and
 * k_matmul ask here first. KILN_CUDA_CHAIN=0 turns all of it off. */
#include "node_launch.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- planning (compile) */

/* A dense node the chain kernel takes: f32 throughout, the weights untransposed, widths the
 * kernel's shared memory holds, an activation it applies. */
static bool chain_dense(const kn_tensor *t) {
    if (t->op != KN_OP_DENSE || (t->flags & KN_FLAG_FOLDED) || t->ndim != 2) return false;
    const kn_tensor *a = t->src[0], *w = t->src[1], *b = t->src[2];
    if (t->dtype != KN_F32 || a->dtype != KN_F32 || w->dtype != KN_F32 || (b && b->dtype != KN_F32)) return false;
    int act = t->iparam[2];
    return !t->iparam[0] && !t->iparam[1] && a->ndim == 2 && w->ndim == 2 && a->ne[0] == t->ne[0] && a->ne[1] > 0 &&
           a->ne[1] <= KN_CU_CHAIN_WIDTH && t->ne[1] > 0 && t->ne[1] <= KN_CU_CHAIN_WIDTH && act >= KN_LINEAR &&
           act < KN_ACTIVATION_COUNT;
}

/* An activation node (softmax included) the chain kernel can apply after a dense one. */
static bool chain_act(const kn_tensor *t) {
    if (t->op != KN_OP_ACT || (t->flags & KN_FLAG_FOLDED) || t->ndim != 2 || t->src[0]->ndim != 2) return false;
    int act = t->iparam[0];
    return t->dtype == KN_F32 && t->src[0]->dtype == KN_F32 && t->ne[1] == t->src[0]->ne[1] && t->ne[1] > 0 &&
           t->ne[1] <= KN_CU_CHAIN_WIDTH && act >= KN_LINEAR && act < KN_ACTIVATION_COUNT;
}

/* Whether any node but `except` reads t (through views too), or t is kept. */
static bool read_elsewhere(const kn_graph *g, const kn_tensor *t, const kn_tensor *except) {
    if (t->flags & KN_FLAG_KEEP) return true;
    for (int i = 0; i < g->n_nodes; i++) {
        const kn_tensor *u = g->nodes[i];
        if (u == except || (u->flags & KN_FLAG_FOLDED)) continue;
        for (int s = 0; s < KN_MAX_SRC; s++)
            if (u->src[s] && kn__alias_root(u->src[s]) == t && u->alias != t) return true;
        if (u->alias == t && read_elsewhere(g, u, except)) return true; /* a view of t, read */
    }
    return false;
}

static bool overlap(const kn_tensor *a, const kn_tensor *b) {
    const uint8_t *pa = a->data, *pb = b->data;
    return pa && pb && pa < pb + kn__nbytes(b) && pb < pa + kn__nbytes(a);
}

/* A layer's input gradient the chain kernel takes: act'(dz W^T) at v (a matmul_act_grad
 * node with the forward layer's weights read transposed), f32, not softmax's (a row dot). */
static bool chain_backward(const kn_tensor *t) {
    if (t->op != KN_OP_MATMUL_ACT_GRAD || (t->flags & KN_FLAG_FOLDED) || t->ndim != 2) return false;
    const kn_tensor *dz = t->src[0], *w = t->src[1], *v = t->src[2];
    if (t->dtype != KN_F32 || dz->dtype != KN_F32 || w->dtype != KN_F32 || !v || v->dtype != KN_F32) return false;
    int act = t->iparam[2];
    return !t->iparam[0] && t->iparam[1] && dz->ndim == 2 && w->ndim == 2 && dz->ne[0] == t->ne[0] &&
           w->ne[0] == t->ne[1] && w->ne[1] == dz->ne[1] && kn__numel(v) == kn__numel(t) && dz->ne[1] > 0 &&
           dz->ne[1] <= KN_CU_CHAIN_WIDTH && t->ne[1] > 0 && t->ne[1] <= KN_CU_CHAIN_WIDTH && act >= KN_LINEAR &&
           act < KN_ACTIVATION_COUNT && act != KN_SOFTMAX;
}

/* The weights a chained node reads (each block of the chain kernel reads them all, and
 * each thread of the weight-gradient kernel sums the batch for one): 0 for an activation. */
static int64_t chain_weights(const kn_tensor *t) {
    if (t->op == KN_OP_DENSE || t->op == KN_OP_MATMUL_ACT_GRAD) return kn__numel(t->src[1]);
    return t->op == KN_OP_MATMUL ? kn__numel(t) : 0;
}

/* The dense chains (cuda_internal.h): runs of consecutive enqueued nodes of one phase, a
 * dense node first, then dense or activation nodes each reading the one before, with at most
 * KN_CUDA_CHAIN_WEIGHTS weights in all (a block per row reads every weight: for large
 * layers a product reading them once wins). The kernel's blocks run in any order, so its
 * input and every output it writes must not share memory (the planner may reuse a dead
 * tensor's bytes): a chain where they would is cut there. */
static void plan_dense_chains(kn_graph *g, kn__cuda_graph *c) {
    const kn_tensor *prev = NULL;
    int open = -1;       /* the chain being extended */
    int64_t weights = 0; /* its weights so far */
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        if ((t->flags & KN_FLAG_FOLDED) || !kn__op_info(t->op)->cpu) continue; /* not enqueued */
        if (open >= 0 && (chain_dense(t) || chain_act(t)) && t->src[0] == prev && t->phase == prev->phase &&
            c->chain[open].len < KN_CU_CHAIN_LAYERS && weights + chain_weights(t) <= KN_CUDA_CHAIN_WEIGHTS) {
            /* prev is written only if something else reads it; t always (it may end the chain) */
            int len = c->chain[open].len;
            bool prev_write = read_elsewhere(g, prev, t), clash = overlap(t, c->chain[open].node[0]->src[0]);
            for (int l = 0; l < len - 1 && !clash; l++) clash = c->chain[open].write[l] && overlap(t, c->chain[open].node[l]);
            if (prev_write && overlap(t, prev)) clash = true;
            if (!clash) {
                c->chain[open].write[len - 1] = prev_write;
                c->chain[open].node[c->chain[open].len++] = t;
                weights += chain_weights(t);
                prev = t;
                continue;
            }
        }
        if (open >= 0 && c->chain[open].len < 2) c->n_chains--; /* a single layer: no chain */
        open = -1;
        prev = NULL;
        if (chain_dense(t) && c->n_chains < KN_CUDA_CHAINS && !overlap(t, t->src[0]) &&
            chain_weights(t) <= KN_CUDA_CHAIN_WEIGHTS) {
            open = c->n_chains++;
            weights = chain_weights(t);
            c->chain[open].len = 1;
            c->chain[open].node[0] = t;
            c->chain[open].write[0] = true;
            prev = t;
        }
    }
    if (open >= 0 && c->chain[open].len < 2) c->n_chains--;
    for (int k = 0; k < c->n_chains; k++) c->chain[k].write[c->chain[k].len - 1] = true;
}

/* Moves t out of the arena into a buffer of its own (cuda_internal.h; allocated by
 * private_buffers); false when t cannot move: the host reads or writes it (an input, a
 * constant, a kept output) or it is not the arena's (a parameter, a gradient). */
static bool make_private(kn__cuda_graph *c, const kn_tensor *t) {
    const kn_tensor *r = kn__alias_root((kn_tensor *)t);
    if (!kn__planned(r) || (r->flags & (KN_FLAG_KEEP | KN_FLAG_FOLDED | KN_FLAG_PARAM_GRAD)) || r->op == KN_OP_INPUT ||
        r->op == KN_OP_CONST)
        return false;
    for (int i = 0; i < c->n_priv; i++)
        if (c->priv_t[i] == r) return true;
    if (c->n_priv >= KN_CUDA_PRIVATE) return false;
    c->priv_t[c->n_priv++] = r;
    return true;
}

/* Whether a backward chain headed by `head` of `len` members will merge into the forward
 * chain whose loss gradient it reads (plan_merged_chains' test, before it runs). */
static bool merges_later(const kn__cuda_graph *c, const kn_tensor *head, int len) {
    for (int f = 0; f < c->n_chains; f++)
        if (c->chain[f].loss_grad && c->chain[f].node[0]->op == KN_OP_DENSE && head->src[0] == c->chain[f].loss_grad &&
            c->chain[f].len + len <= KN_CU_CHAIN_LAYERS)
            return true;
    return false;
}

/* Backward chains: from a matmul_act_grad node, the next one reading its output, and so on
 * (the weight gradients' products sit between them in the node order and read what the
 * chain writes, all of it, at its head). The head's output is written in its place; the
 * later members' are written early, at the head, so they go to memory of their own
 * (cuda_internal.h's private buffers), which no tensor of the arena shares at any time.
 * A single node is a chain only when `merging` and it reads a forward chain's loss
 * gradient: a two-layer MLP's backward part, which the forward chain's kernel then takes
 * (plan_merged_chains), its step then the K-step kernel's. Its head moves out of the arena
 * here, so that the merge cannot fail. */
static void plan_backward_chains(kn_graph *g, kn__cuda_graph *c, bool merging) {
    for (int h = 0; h < g->n_nodes && c->n_chains < KN_CUDA_CHAINS; h++) {
        kn_tensor *head = g->nodes[h];
        if (!chain_backward(head) || (head->flags & KN_FLAG_KEEP) || chain_weights(head) > KN_CUDA_CHAIN_WEIGHTS) continue;
        bool member_already = false;
        for (int k = 0; k < c->n_chains; k++)
            for (int l = 0; l < c->chain[k].len; l++) member_already |= c->chain[k].node[l] == head;
        if (member_already) continue;
        int open = c->n_chains, last = h;
        int64_t weights = chain_weights(head);
        c->chain[open].len = 1;
        c->chain[open].node[0] = head;
        for (int i = h + 1; i < g->n_nodes && c->chain[open].len < KN_CU_CHAIN_LAYERS; i++) {
            kn_tensor *t = g->nodes[i];
            if (!chain_backward(t) || t->src[0] != g->nodes[last] || t->phase != head->phase || (t->flags & KN_FLAG_KEEP) ||
                t->alias)
                continue;
            if (weights + chain_weights(t) > KN_CUDA_CHAIN_WEIGHTS || !make_private(c, t)) break;
            weights += chain_weights(t);
            c->chain[open].node[c->chain[open].len++] = t;
            last = i;
        }
        if (c->chain[open].len < 2 && !(merging && merges_later(c, head, 1) && make_private(c, head)))
            continue; /* (no member was made private: none followed the head) */
        for (int l = 0; l < c->chain[open].len; l++) /* what the weight gradients read */
            c->chain[open].write[l] = true;
        c->n_chains++;
    }
}

/* A parameter gradient's product X^T dZ the weight-gradient kernel takes (f32, one batch). */
static bool wgrad_member(const kn_tensor *t) {
    if (t->op != KN_OP_MATMUL || (t->flags & KN_FLAG_FOLDED) || !(t->flags & KN_FLAG_PARAM_GRAD) ||
        t->phase != KN_PHASE_BACKWARD || t->ndim != 2)
        return false;
    const kn_tensor *x = t->src[0], *dz = t->src[1];
    return t->dtype == KN_F32 && x->dtype == KN_F32 && dz->dtype == KN_F32 && t->iparam[0] && !t->iparam[1] &&
           x->ndim == 2 && dz->ndim == 2 && x->ne[0] == dz->ne[0] && t->ne[0] == x->ne[1] && t->ne[1] == dz->ne[1];
}

/* a and b have as many rows at every batch: now, and per batch element. */
static bool same_rows(const kn_tensor *a, const kn_tensor *b) {
    return a->ne[0] == b->ne[0] && (a->shape[0] == KN_BATCH) == (b->shape[0] == KN_BATCH) &&
           kn__batch_rows(a) == kn__batch_rows(b);
}

static bool is_private(const kn__cuda_graph *c, const kn_tensor *t) {
    const kn_tensor *r = kn__alias_root((kn_tensor *)t);
    for (int i = 0; i < c->n_priv; i++)
        if (c->priv_t[i] == r) return true;
    return false;
}

/* The bias gradient paired with product m (pair_bias_grads), or NULL. */
static const kn_tensor *paired_bias(const kn__cuda_graph *c, const kn_tensor *m) {
    for (int i = 0; i < c->n_bgrad; i++)
        if (c->bgrad_mm[i] == m) return c->bgrad_sum[i];
    return NULL;
}

/* The weight gradients computed together (cuda_internal.h), by one kernel at the last
 * one's place. An input that a node between a product's place and the last one's may
 * write over (the planner gives a tensor's bytes to a younger one once it was read) moves
 * out of the arena; a product is left to run alone when its input cannot move, or when a
 * node reads its gradient before the kernel made it. */
static void plan_weight_grads(kn_graph *g, kn__cuda_graph *c) {
    const kn_tensor *cand[KN_CU_CHAIN_LAYERS];
    int pos[KN_CU_CHAIN_LAYERS], n = 0, launch = -1;
    int64_t weights = 0; /* at most KN_CUDA_CHAIN_WEIGHTS in all: larger products run on cuBLASLt */
    /* One count of rows for them all (the launch sums the last product's rows of each):
     * a recurrent layer's kernels sum the batch's rows times its steps (graph/ops_rnn.c's
     * reshaped rows) where a dense layer's sum the batch's rows, so only the products whose
     * rows scale with the batch as the last one's are taken. */
    const kn_tensor *last = NULL;
    for (int i = g->n_nodes - 1; i >= 0 && !last; i--)
        if (wgrad_member(g->nodes[i])) last = g->nodes[i]->src[0];
    for (int i = 0; i < g->n_nodes && n < KN_CU_CHAIN_LAYERS; i++)
        if (wgrad_member(g->nodes[i]) && same_rows(g->nodes[i]->src[0], last) &&
            weights + chain_weights(g->nodes[i]) <= KN_CUDA_CHAIN_WEIGHTS) {
            weights += chain_weights(g->nodes[i]);
            cand[n] = g->nodes[i], pos[n++] = i, launch = i;
        }
    c->n_wgrad = 0;
    for (int m = 0; m < n; m++) {
        const kn_tensor *t = cand[m], *bias = paired_bias(c, t);
        bool ok = true;
        for (int i = pos[m] + 1; i <= launch && ok; i++) {
            const kn_tensor *u = g->nodes[i];
            if ((u->flags & KN_FLAG_FOLDED) || !kn__op_info(u->op)->cpu) continue;
            for (int s = 0; s < 2 && ok && i < launch; s++) /* an input the node may overwrite: moved out */
                if (!is_private(c, t->src[s]) && overlap(u, t->src[s])) ok = make_private(c, t->src[s]);
            for (int s = 0; s < KN_MAX_SRC && ok; s++)
                if (u->src[s] && (kn__alias_root(u->src[s]) == t || (bias && kn__alias_root(u->src[s]) == bias)))
                    ok = false;
        }
        if (ok) c->wgrad_mm[c->n_wgrad++] = t;
    }
    if (c->n_wgrad < 2 || c->wgrad_mm[c->n_wgrad - 1] != g->nodes[launch]) c->n_wgrad = 0;
    /* every parameter's gradient among them (weights, or their paired bias sums)? */
    c->wgrad_all = c->n_wgrad > 0;
    for (int i = 0; i < g->n_params && c->wgrad_all; i++) {
        const kn_tensor *grad = g->params[i]->grad;
        if (!grad) continue;
        bool found = false;
        for (int m = 0; m < c->n_wgrad && !found; m++)
            found = kn__alias_root((kn_tensor *)grad) == c->wgrad_mm[m] ||
                    (paired_bias(c, c->wgrad_mm[m]) && kn__alias_root((kn_tensor *)grad) == paired_bias(c, c->wgrad_mm[m]));
        c->wgrad_all = found;
    }
}

/* The loss a forward chain ends in: the node enqueued right after the chain's last member,
 * a loss reading one member's output as its prediction; and, when its gradient node can
 * move out of the arena (the chain writes it during the forward pass, long before its
 * place), that node too. */
static void plan_chain_losses(kn_graph *g, kn__cuda_graph *c) {
    for (int k = 0; k < c->n_chains; k++) {
        if (c->chain[k].node[0]->op != KN_OP_DENSE) continue;
        const kn_tensor *end = c->chain[k].node[c->chain[k].len - 1];
        int i = 0;
        while (i < g->n_nodes && g->nodes[i] != end) i++;
        for (i++; i < g->n_nodes; i++)
            if (!(g->nodes[i]->flags & KN_FLAG_FOLDED) && kn__op_info(g->nodes[i]->op)->cpu) break;
        if (i >= g->n_nodes) continue;
        kn_tensor *L = g->nodes[i];
        if (L->op != KN_OP_LOSS || L->dtype != KN_F32 || L->src[0]->dtype != KN_F32 || L->src[0]->ndim != 2 ||
            (L->src[2] && L->src[2]->dtype != KN_F32))
            continue;
        int from = -1;
        for (int l = 0; l < c->chain[k].len; l++)
            if (c->chain[k].node[l] == L->src[0]) from = l;
        if (from < 0) continue;
        c->chain[k].write[from] = true; /* (the loss reads it: written already) */
        c->chain[k].loss = L;
        for (int j = i + 1; j < g->n_nodes; j++) {
            kn_tensor *G = g->nodes[j];
            if (G->op == KN_OP_LOSS_GRAD && !(G->flags & KN_FLAG_FOLDED) && G->src[0] == L->src[0] &&
                G->src[1] == L->src[1] && G->src[3] == L->src[2] && kn__loss_nodes_agree(G, L) &&
                G->iparam[1] == L->iparam[1] && G->dtype == KN_F32 && G->src[2]->dtype == KN_F32 && make_private(c, G)) {
                c->chain[k].loss_grad = G;
                break;
            }
        }
    }
}

/* How many blocks a row of a chain of `rows` rows gives its first layer of k inputs:
 * about `blocks` blocks in all (KN_CU_CHAIN_SPLIT_BLOCKS unless KILN_CUDA_SPLIT_BLOCKS), or more when a block would otherwise take
 * more than KN_CU_CHAIN_SPLIT_MAX inputs, none fewer than KN_CU_CHAIN_SPLIT_MIN; without
 * an empty slice. */
int kn__cuda_chain_split(int64_t rows, int64_t k, int64_t blocks) {
    if (rows <= 0 || k <= 0) return 1;
    int64_t s = (blocks + rows - 1) / rows, wide = (k + KN_CU_CHAIN_SPLIT_MAX - 1) / KN_CU_CHAIN_SPLIT_MAX;
    if (s < wide) s = wide;
    if (s > k / KN_CU_CHAIN_SPLIT_MIN) s = k / KN_CU_CHAIN_SPLIT_MIN;
    if (s <= 1) return 1;
    int64_t chunk = (k + s - 1) / s;
    return (int)((k + chunk - 1) / chunk);
}

/* A forward chain computing its loss's gradient, and the backward chain that starts from
 * that gradient (its head reads it): every layer of the backward chain is row by row too,
 * so the forward chain's kernel goes on with it, each block its row, after the row's loss
 * (kernels_chain.cu), a launch fewer a step. The backward chain's outputs are then written
 * long before their places: its head's moves out of the arena as its members' did. */
static void plan_merged_chains(kn__cuda_graph *c) {
    for (int k = 0; k < c->n_chains; k++) c->chain[k].bwd = -1;
    for (int f = 0; f < c->n_chains; f++) {
        const kn_tensor *G = c->chain[f].loss_grad;
        if (!G || c->chain[f].node[0]->op != KN_OP_DENSE) continue;
        for (int b = 0; b < c->n_chains; b++)
            if (c->chain[b].node[0]->op == KN_OP_MATMUL_ACT_GRAD && c->chain[b].node[0]->src[0] == G &&
                c->chain[f].len + c->chain[b].len <= KN_CU_CHAIN_LAYERS && make_private(c, c->chain[b].node[0])) {
                c->chain[f].bwd = b;
                break;
            }
    }
}

/* Whether chain k's shapes fit the row kernel's shared memory (launch.h's KN_CU_ROW_*), and
 * whether layer 0's bias and the later layers' weights and biases fit there too (*kept):
 * worked out once, as the chains are planned (cluster: the row kernel's blocks). */
static bool row_shape_fits(const kn__cuda_graph *c, int k, int cluster, bool *kept) {
    int64_t floats = 0;
    for (int l = 0; l < c->chain[k].len; l++) {
        const kn_tensor *u = c->chain[k].node[l];
        int64_t in = u->src[0]->ne[1], out = u->ne[1];
        bool dense = u->op == KN_OP_DENSE;
        if (u->op == KN_OP_MATMUL_ACT_GRAD || (l == 0 && !dense) || out > KN_CU_ROW_WIDTH) return false;
        if (l == 0 && ((in + cluster - 1) / cluster > KN_CU_ROW_SLICE || out * cluster > KN_CU_ROW_PARTS)) return false;
        if (l > 0 && in > KN_CU_ROW_WIDTH) return false;
        if (dense) /* (layer 0's bias, then later weights and biases; row_tail's transposed a float of padding a column) */
            floats += (l ? (in + (c->row_tail ? 1 : 0)) * out : 0) + (u->src[2] ? out : 0);
    }
    *kept = floats <= KN_CU_ROW_KEPT;
    return true;
}

/* KILN_CUDA_ROW_CLUSTER: the row kernel's blocks, 2 to KN_CU_ROW_CLUSTER_MAX (default the
 * most), 0 none (the chain kernel or the unfused products: A/B); none on a device without
 * cluster launches (before Hopper). */
static int row_cluster_size(void) {
    const char *env = getenv("KILN_CUDA_ROW_CLUSTER");
    int n = env ? atoi(env) : KN_CU_ROW_CLUSTER_MAX, dev = 0, on = 0;
    if (n < 2) return 0;
    if (n > KN_CU_ROW_CLUSTER_MAX) n = KN_CU_ROW_CLUSTER_MAX;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&on, cudaDevAttrClusterLaunch, dev) != cudaSuccess) {
        cudaGetLastError(); /* (not left for the next launch's check) */
        return 0;
    }
    return on ? n : 0;
}

void kn__cuda_plan_small_batch(kn_graph *g, kn__cuda_graph *c) {
    const char *rows = getenv("KILN_CUDA_CHAIN_ROWS"); /* the A/B of bench/gpu/run.sh at batch 256 */
    c->chain_rows = KN_CUDA_CHAIN_ROWS;
    if (rows && atoll(rows) >= 0) c->chain_rows = atoll(rows) < KN_CUDA_CHAIN_ROWS_MAX ? atoll(rows) : KN_CUDA_CHAIN_ROWS_MAX;
    const char *tiled = getenv("KILN_CUDA_WGRAD_TILED"); /* 1: always by tiles, 0: never, else past 64 rows */
    c->wgrad_tiled = tiled && strcmp(tiled, "1") == 0 ? 1 : tiled && strcmp(tiled, "0") == 0 ? 0 : -1;
    const char *wrows = getenv("KILN_CUDA_WGRAD_ROWS"); /* (64: cuBLASLt's products past 64 rows, the old default) */
    c->wgrad_rows = KN_CUDA_WGRAD_ROWS;
    if (wrows && atoll(wrows) >= 0) c->wgrad_rows = atoll(wrows) < KN_CUDA_CHAIN_ROWS_MAX ? atoll(wrows) : KN_CUDA_CHAIN_ROWS_MAX;
    const char *prefetch = getenv("KILN_CUDA_PREFETCH"); /* 1: the chain's weights asked into L1 first (A/B) */
    c->chain_prefetch = prefetch && strcmp(prefetch, "1") == 0;
    const char *blocks = getenv("KILN_CUDA_SPLIT_BLOCKS"); /* the split's blocks in all (the A/B of bench/gpu/run.sh) */
    c->split_blocks = blocks && atoll(blocks) >= 1 && atoll(blocks) <= 65535 ? atoll(blocks) : KN_CU_CHAIN_SPLIT_BLOCKS;
    const char *split = getenv("KILN_CUDA_CHAIN_SPLIT"); /* 0: a block a row (the A/B of bench/gpu/run.sh) */
    c->chain_unsplit = split && strcmp(split, "0") == 0;
    const char *timing = getenv("KILN_CUDA_CHAIN_TIMING"); /* 1: row 0's phases timed (kn__cu_chain's stamps) */
    c->chain_timing = timing && strcmp(timing, "1") == 0;
    const char *predict = getenv("KILN_CUDA_CHAIN_PREDICT"); /* 1: a single-row predict fused too (A/B) */
    c->chain_predict = predict && strcmp(predict, "1") == 0;
    c->row_cluster = row_cluster_size();
    const char *input = getenv("KILN_CUDA_ROW_INPUT"); /* param: the input in the launch's parameters (A/B) */
    c->row_param = input && strcmp(input, "param") == 0;
    const char *parts = getenv("KILN_CUDA_ROW_PARTS"); /* the later layers' threads a column, a power of two (A/B) */
    int np = parts ? atoi(parts) : 8;
    c->row_parts = np >= 1 && np <= 32 && !(np & (np - 1)) ? np : 8;
    const char *repeat = getenv("KILN_CUDA_ROW_REPEAT"); /* 1: the later layers twice, with the timing (diagnostic) */
    c->row_repeat = repeat && strcmp(repeat, "1") == 0;
    const char *tail = getenv("KILN_CUDA_ROW_TAIL"); /* warps: the later layers a warp a column; warps_end: and the
                                                      * last with its softmax by warp 0 alone (A/Bs) */
    c->row_tail = tail && strcmp(tail, "warps") == 0 ? 1 : tail && strcmp(tail, "warps_end") == 0 ? 2 : 0;
    const char *chains = getenv("KILN_CUDA_CHAIN"); /* 0: none (the A/B of bench/gpu/run.sh) */
    if (chains && strcmp(chains, "0") == 0) return;
    plan_dense_chains(g, c);
    plan_chain_losses(g, c);
    const char *merge = getenv("KILN_CUDA_CHAIN_MERGE"); /* 0: the backward chain in a launch of its own (A/B) */
    bool merging = !(merge && strcmp(merge, "0") == 0);
    plan_backward_chains(g, c, merging);
    for (int k = 0; k < c->n_chains; k++)
        c->chain[k].row_fits = c->row_cluster >= 1 && row_shape_fits(c, k, c->row_cluster, &c->chain[k].row_kept);
    if (merging) plan_merged_chains(c);
    else for (int k = 0; k < c->n_chains; k++) c->chain[k].bwd = -1;
    plan_weight_grads(g, c);
    const char *guard = getenv("KILN_CUDA_WGRAD_GUARD"); /* 0: the guard in a launch of its own (A/B) */
    if (guard && strcmp(guard, "0") == 0) c->wgrad_all = false;
    /* the guard taken late by the update: its phase one optimizer node over every parameter */
    const char *late = getenv("KILN_CUDA_GUARD_LATE"); /* 1: (the A/B of bench/gpu/run.sh) */
    int updates = 0, others = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const kn_tensor *t = g->nodes[i];
        if (!(t->phase & KN_PHASE_UPDATE) || (t->flags & KN_FLAG_FOLDED) || !kn__op_info(t->op)->cpu) continue;
        if (t->op == KN_OP_OPTIMIZER && !t->iparam[0]) updates++;
        else others++;
    }
    /* the K-step kernel (on unless KILN_CUDA_STEPS_KERNEL=0; measured faster, KN_CUDA_GRAPH_STEPS)
     * needs the update in the weight gradients (KILN_CUDA_WGRAD_UPDATE=1 alone: A/B; 0: neither) */
    const char *fuse = getenv("KILN_CUDA_WGRAD_UPDATE");
    const char *steps = getenv("KILN_CUDA_STEPS_KERNEL");
    bool fuse_off = fuse && strcmp(fuse, "0") == 0;
    c->steps_kernel = !(steps && strcmp(steps, "0") == 0) && !fuse_off;
    c->wgrad_update = (fuse && strcmp(fuse, "1") == 0) || c->steps_kernel;
    c->guard_late = ((late && strcmp(late, "1") == 0) || c->wgrad_update) && c->wgrad_all && updates == 1 && !others &&
                    !(g->opt.clip_norm > 0);
    c->wgrad_update = c->wgrad_update && c->guard_late;
}

/* The phases of the nodes but `except` that read t (through views too), 0 when none does;
 * unlike read_elsewhere, a kept tensor the host alone reads counts as unread. */
static unsigned device_readers(const kn_graph *g, const kn_tensor *t, const kn_tensor *except) {
    unsigned phases = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const kn_tensor *u = g->nodes[i];
        if (u == except || (u->flags & KN_FLAG_FOLDED)) continue;
        for (int s = 0; s < KN_MAX_SRC; s++)
            if (u->src[s] && kn__alias_root(u->src[s]) == t && u->alias != t) phases |= u->phase;
        if (u->alias == t) phases |= device_readers(g, u, except);
    }
    return phases;
}

/* A forward chain whose input is a run's input and whose last output is a kept output
 * (a predict): in a run where no other node reads either (io_readers: the phases that do),
 * the chain kernel takes the input from the mapped staging and writes the output there
 * (runtime.c's plan_io, run.c's enqueue), so the run is one kernel between a launch and a wait. */
void kn__cuda_plan_chain_io(kn_graph *g, kn__cuda_graph *c) {
    for (int e = 0; e < c->n_io_in; e++) /* (and which runs read each input: the others skip its copy) */
        c->io_phases[e] = device_readers(g, c->io_t[e], NULL);
    for (int k = 0; k < c->n_chains; k++) {
        c->chain[k].in_io = c->chain[k].out_io = -1;
        const kn_tensor *head = c->chain[k].node[0], *last = c->chain[k].node[c->chain[k].len - 1];
        if (!c->d_io || head->op != KN_OP_DENSE || last->alias) continue;
        for (int e = 0; e < c->n_io; e++) {
            if (e < c->n_io_in && c->io_t[e] == head->src[0]) c->chain[k].in_io = e;
            if (e >= c->n_io_in && c->io_t[e] == last) c->chain[k].out_io = e;
        }
        if (c->chain[k].in_io < 0 || c->chain[k].out_io < 0) {
            c->chain[k].in_io = c->chain[k].out_io = -1;
            continue;
        }
        c->chain[k].io_readers = device_readers(g, head->src[0], head) | device_readers(g, last, NULL);
    }
}

/* Whether chain k's single row, in a run of phases mask, runs as the row kernel's cluster
 * (kernels_row.cu): clusters on (row_cluster), a forward chain whose loss the run leaves
 * out, its shapes within the kernel's shared memory (row_shape_fits: the chain's row_fits
 * and row_kept); *kept: the later layers kept in shared memory (may be NULL). */
static bool row_fits(const kn__cuda_graph *c, int k, unsigned mask, bool *kept) {
    if (c->row_cluster < 1 || (c->chain[k].loss && (mask & KN_PHASE_LOSS)) || (mask & (KN_PHASE_BACKWARD | KN_RUN_RESIDENT)))
        return false;
    if (kept) *kept = c->chain[k].row_kept;
    return c->chain[k].row_fits;
}

/* Whether chain k fuses in a run of `rows` rows (mask: its phases): up to chain_rows rows;
 * a single row's forward-only run (a predict) as the row kernel's cluster when it fits,
 * else unfused, its products through cuBLASLt (on the H200, session 28, the reference
 * MLP's predict took 19.5 and 18.2 us so against the chain kernel's 21.3 and 20.3, in two
 * calls), unless its wait is polled or persistent (KILN_CUDA_POLL, KILN_CUDA_PERSIST: they
 * need the one kernel) or KILN_CUDA_CHAIN_PREDICT=1. */
static bool chain_fuses(const kn__cuda_graph *c, int k, int64_t rows, unsigned mask) {
    if (rows < 1 || rows > c->chain_rows) return false;
    return rows > 1 || (mask & (KN_PHASE_BACKWARD | KN_RUN_RESIDENT)) || c->poll || c->chain_predict ||
           row_fits(c, k, mask, NULL);
}

/* At a run's start (not resident): which chains read and write the staging in place this
 * run (their rows few enough, no other node of the run reading their input or output),
 * marking those entries in io_direct (n_io) for the copies to leave out. */
void kn__cuda_chains_direct(kn_graph *g, bool *io_direct, unsigned mask) {
    kn__cuda_graph *c = CTX;
    c->row_param_run = false;
    for (int k = 0; k < c->n_chains; k++) {
        const kn_tensor *head = c->chain[k].node[0];
        int64_t rows = head->ne[0];
        c->chain[k].direct = c->chain[k].in_io >= 0 && (head->phase & mask) && !(c->chain[k].io_readers & mask) &&
                             chain_fuses(c, k, rows, mask);
        if (c->chain[k].direct) io_direct[c->chain[k].in_io] = io_direct[c->chain[k].out_io] = true;
        /* (as kn__cuda_dense_chain takes the row kernel: no persistent kernel, no loss) */
        c->chain[k].row_param = c->chain[k].direct && c->row_param && rows == 1 && !c->persist &&
                                head->src[0]->ne[1] <= KN_CU_ROW_PARAM && row_fits(c, k, mask, NULL);
        c->row_param_run |= c->chain[k].row_param;
    }
}

/* Whether u reading t as its source s is one the fold takes over (cuda_internal.h): chain
 * k's head reading it as x, its loss or loss gradient as the target (unweighted), a fused
 * weight gradient's product as its x. */
static bool fold_reader(const kn__cuda_graph *c, int k, const kn_tensor *u, int s, const kn_tensor *t, bool *as_x) {
    *as_x = s == 0;
    if (u->src[s] != t) return false; /* (a view of the table's input) */
    if (u == c->chain[k].node[0]) return s == 0;
    if (u == c->chain[k].loss) return s == 1 && !u->src[2];
    if (u == c->chain[k].loss_grad) return s == 1 && !u->src[3];
    for (int m = 0; m < c->n_wgrad; m++)
        if (u == c->wgrad_mm[m]) return s == 0;
    return false;
}

void kn__cuda_plan_fold(kn_graph *g, kn__cuda_graph *c) {
    c->fold_chain = c->fold_x = c->fold_t = -1;
    const char *env = getenv("KILN_CUDA_FOLD"); /* 0: the gather kernel always (the A/B of bench/gpu/run.sh) */
    if ((env && strcmp(env, "0") == 0) || c->n_tables < 1 || c->d_draws) return; /* (augmenting: the gather kernel does it) */
    int k = 0; /* the first forward chain */
    while (k < c->n_chains && c->chain[k].node[0]->op != KN_OP_DENSE) k++;
    if (k >= c->n_chains) return;
    int fx = -1, ft = -1;
    for (int tb = 0; tb < c->n_tables; tb++) {
        const kn_tensor *t = c->table_input[tb];
        bool x = false, target = false;
        for (int i = 0; i < g->n_nodes; i++) {
            const kn_tensor *u = g->nodes[i];
            if (u->flags & KN_FLAG_FOLDED) continue;
            if (u->alias == t) return; /* a view of it: read some other way */
            for (int s = 0; s < KN_MAX_SRC; s++) {
                if (!u->src[s] || kn__alias_root(u->src[s]) != t) continue;
                bool as_x;
                if (!fold_reader(c, k, u, s, t, &as_x)) return;
                x |= as_x, target |= !as_x;
            }
        }
        if (x == target) return; /* read as both, or by nothing (left to the gather) */
        if (x ? fx >= 0 : ft >= 0) return;
        if (x) fx = tb;
        else ft = tb;
    }
    if (fx < 0 || c->table_input[fx]->dtype != KN_F32 || c->table_input[fx] != c->chain[k].node[0]->src[0]) return;
    c->fold_chain = k, c->fold_x = fx, c->fold_t = ft;
}

bool kn__cuda_one_chain_run(kn_graph *g, unsigned mask) {
    kn__cuda_graph *c = CTX;
    int k = -1;
    for (int i = 0; i < c->n_chains; i++)
        if (c->chain[i].direct) {
            if (k >= 0) return false;
            k = i;
        }
    if (k < 0 || (c->chain[k].loss && (mask & KN_PHASE_LOSS))) return false;
    for (int i = 0; i < g->n_nodes; i++) {
        const kn_tensor *t = g->nodes[i];
        if (!(t->phase & mask) || (t->flags & KN_FLAG_FOLDED) || !kn__op_info(t->op)->cpu) continue;
        bool member = false;
        for (int l = 0; l < c->chain[k].len && !member; l++) member = c->chain[k].node[l] == t;
        if (!member) return false;
    }
    for (int e = 0; e < c->n_io; e++) { /* (as runtime.c's kn__cuda_stage_copies chooses what to copy) */
        const kn_tensor *t = c->io_t[e];
        bool needed = e < c->n_io_in ? (c->io_phases[e] & mask) != 0 : (t->phase & mask) != 0;
        if (kn__nbytes(t) && needed && !c->io_direct[e]) return false;
    }
    return true;
}

/* ---------------------------------------------------------------- launching (runs) */

/* Whether t is a member of a dense chain its head launched whole in this run. */
bool kn__cuda_chain_loss_done(kn_graph *g, const kn_tensor *t) {
    kn__cuda_graph *c = CTX;
    for (int i = 0; i < c->n_chains; i++)
        if ((c->chain[i].loss == t && c->chain[i].loss_fused) || (c->chain[i].loss_grad == t && c->chain[i].grad_fused))
            return true;
    return false;
}

bool kn__cuda_chained(kn_graph *g, const kn_tensor *t) {
    kn__cuda_graph *c = CTX;
    for (int i = 0; i < c->n_chains; i++)
        for (int l = 1; l < c->chain[i].len; l++)
            if (c->chain[i].node[l] == t) return c->chain[i].fused;
    return false;
}

/* Chain i (plan_dense_chains above) as one kernel when this run's rows are few
 * enough; *fused says whether it was. */
kn_status kn__cuda_dense_chain(kn_graph *g, int i, bool *fused) {
    kn__cuda_graph *c = CTX;
    const kn_tensor *t = c->chain[i].node[0];
    int64_t rows = t->ne[0];
    if (c->chain[i].merged) { /* computed already, by its forward chain's kernel */
        *fused = c->chain[i].fused = true;
        return KN_OK;
    }
    *fused = c->chain[i].fused = chain_fuses(c, i, rows, c->run_mask);
    c->chain[i].loss_fused = c->chain[i].grad_fused = false;
    if (!*fused) return KN_OK;
    kn__cu_chain ch = {.n = c->chain[i].len, .split = c->chain_unsplit ? 1 : kn__cuda_chain_split(rows, t->src[0]->ne[1], c->split_blocks),
                       .part = c->chain_part, .count = c->chain_count, .prefetch = c->chain_prefetch,
                       .stamps = i == 0 ? c->chain_stamps : NULL, /* (the first chain's alone: one timeline) */
                       .row_parts = c->row_parts, .row_repeat = c->row_repeat, .row_tail = c->row_tail};
    ch.loss.kind = -1;
    const kn_tensor *L = c->chain[i].loss, *G = c->chain[i].loss_grad;
    if (L && (c->run_mask & KN_PHASE_LOSS)) { /* the loss (an evaluation, a training step) */
        int from = 0;
        while (c->chain[i].node[from] != L->src[0]) from++;
        ch.loss = (kn__cu_chain_loss){.kind = L->iparam[0], .logits = L->iparam[1], .lp = kn__loss_node_params(L), .from = from,
                                      .target = kn__cuda_tensor(g, L->src[1]),
                                      .w = L->src[2] ? kn__cuda_tensor(g, L->src[2]) : NULL,
                                      .ws = c->ws, .out = kn__cuda_tensor(g, L), .done = c->chain_done};
        c->chain[i].loss_fused = true;
        /* a resident run's loss that no node reads: its count (resident.cuh's count_step, after
         * every node) takes the mean from the rows, so the chain ends without a last block */
        if ((c->run_mask & KN_RUN_RESIDENT) && L == c->res_loss && !device_readers(g, L, NULL)) {
            ch.loss.ws = c->chain_rows_loss;
            ch.loss.defer = 1;
            c->mean_deferred = true;
            /* and the rows' correct predictions, when the count's prediction is one of the
             * chain's forward outputs and its labels the loss's (a sparse cross-entropy read
             * from the folded labels table, whose values are the count's labels) */
            int pred = -1;
            for (int l = 0; l < c->chain[i].len; l++)
                if (c->res_out == c->chain[i].node[l]) pred = l;
            if (L->iparam[0] == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY && pred >= 0 && c->res_out->dtype == KN_F32 &&
                c->res_outs == c->res_out->ne[1] && c->res_outs > 1 && c->folding && i == c->fold_chain && c->fold_t >= 0) {
                ch.loss.correct = c->chain_correct;
                ch.loss.pred = pred;
                c->count_deferred = true;
            }
        }
        if (G && (c->run_mask & KN_PHASE_BACKWARD)) { /* and its gradient (a training step) */
            ch.loss.dloss = kn__cuda_tensor(g, G->src[2]);
            ch.loss.dx = kn__cuda_tensor(g, G);
            c->chain[i].grad_fused = true;
        }
    }
    for (int l = 0; l < ch.n; l++) {
        const kn_tensor *u = c->chain[i].node[l];
        bool dense = u->op == KN_OP_DENSE, backward = u->op == KN_OP_MATMUL_ACT_GRAD; /* else an activation */
        ch.layer[l] = (kn__cu_chain_layer){
            .w = dense || backward ? kn__cuda_tensor(g, u->src[1]) : NULL,
            .bias = dense && u->src[2] ? kn__cuda_tensor(g, u->src[2]) : NULL,
            .v = backward ? kn__cuda_tensor(g, u->src[2]) : NULL,
            .y = c->chain[i].write[l] ? kn__cuda_tensor(g, u) : NULL,
            .k = (int32_t)u->src[0]->ne[1], .n = (int32_t)u->ne[1],
            .act = dense || backward ? u->iparam[2] : u->iparam[0], .backward = backward, .alpha = u->fparam[0]};
    }
    int b = c->chain[i].bwd;
    if (b >= 0 && c->chain[i].grad_fused) { /* the backward chain after the loss, in this kernel */
        ch.n_fwd = ch.n;
        for (int l = 0; l < c->chain[b].len; l++) {
            const kn_tensor *u = c->chain[b].node[l];
            ch.layer[ch.n++] = (kn__cu_chain_layer){
                .w = kn__cuda_tensor(g, u->src[1]), .bias = NULL, .v = kn__cuda_tensor(g, u->src[2]),
                .y = kn__cuda_tensor(g, u), .k = (int32_t)u->src[0]->ne[1], .n = (int32_t)u->ne[1],
                .act = u->iparam[2], .backward = 1, .alpha = u->fparam[0]};
        }
        c->chain[b].merged = true;
    }
    const void *x = kn__cuda_tensor(g, t->src[0]);
    if (c->folding && i == c->fold_chain) { /* a folded resident step: the tables through the order */
        x = c->table[c->fold_x];
        if (ch.loss.kind >= 0 && c->fold_t >= 0) ch.loss.target = c->table[c->fold_t];
        ch.order = c->d_order, ch.step = c->d_step, ch.ring = kn__cuda_ring(c), ch.res = c->d_res;
    }
    if (c->chain[i].direct && !(c->run_mask & KN_RUN_RESIDENT)) { /* the mapped staging itself */
        x = c->d_io + c->io_off[c->chain[i].in_io];
        ch.layer[ch.n - 1].y = (float *)(c->d_io + c->io_off[c->chain[i].out_io]);
        if (c->poll_run) ch.poll = c->d_poll, ch.flag = c->m_poll; /* (the run's only kernel) */
    }
    if (c->persist_launch && ch.flag) { /* the run's only kernel (run.c's persistent_run), when its blocks fit */
        if (c->chain_capacity < 0) c->chain_capacity = kn__cu_dense_chain_capacity();
        if (rows * ch.split <= c->chain_capacity) ch.door = c->m_door, ch.relay = c->d_poll + 2;
        else c->persist_refused = true;
    }
    if (c->recording && c->folding && i == c->fold_chain && (c->run_mask & KN_PHASE_BACKWARD) && ch.loss.defer) {
        c->steps_rec.ch = ch, c->steps_rec.x = x, c->steps_rec.rows = rows; /* (run.c's capture) */
        c->rec_chain = true;
    }
    c->chain_launches++;
    bool kept = false;
    if (rows == 1 && !ch.door && !ch.order && ch.loss.kind < 0 && row_fits(c, i, c->run_mask, &kept)) {
        ch.cluster = c->row_cluster, ch.row_kept = kept;
        ch.row_chunk = (ch.layer[0].k + ch.cluster - 1) / ch.cluster;
        c->row_launches++;
        if (c->chain[i].row_param && c->chain[i].direct && !(c->run_mask & KN_RUN_RESIDENT)) { /* (never captured: run.c) */
            c->row_param_launches++;
            LAUNCH(kn__cu_dense_row_param(STREAM, &ch, (const float *)(c->h_io + c->io_off[c->chain[i].in_io]), kn__cuda_pdl(c)));
            return KN_OK;
        }
        LAUNCH(kn__cu_dense_row(STREAM, &ch, x, kn__cuda_pdl(c)));
        return KN_OK;
    }
    LAUNCH(kn__cu_dense_chain(STREAM, &ch, x, rows, kn__cuda_pdl(c) && !ch.door));
    return KN_OK;
}

/* Whether the weight gradients wg (every parameter's, with the late guard) take the step's
 * update too (KILN_CUDA_WGRAD_UPDATE=1), and its operands in *up: the same buffers the
 * optimizer node's whole update would take (ops.c's update_span over [0, param_floats)),
 * when every gradient lies in the flat buffer and the launch's blocks fit on the device at
 * once (tiled: every tile's block; untiled, the grid is capped to what fits). */
static bool take_update(kn_graph *g, kn__cuda_graph *c, const kn__cu_wgrad *wg, bool tiled, kn__cu_wgrad_update *up) {
    if (!c->wgrad_update || !c->grad) return false;
    for (int l = 0; l < wg->n; l++) {
        const kn__cu_wgrad_layer *L = &wg->layer[l];
        const float *end = c->grad + g->param_floats;
        if (L->dw < c->grad || L->dw + (int64_t)L->k * L->n > end || (L->db && (L->db < c->grad || L->db + L->n > end)))
            return false;
    }
    if (c->wgrad_capacity[tiled] < 0) c->wgrad_capacity[tiled] = kn__cu_weight_grads_capacity(tiled);
    int64_t cap = c->wgrad_capacity[tiled];
    if (cap < 1 || (tiled && kn__cu_weight_grads_blocks(wg, true) > cap)) return false;
    float *s0, *s1;
    kn__cuda_opt_slots(g, 0, &s0, &s1);
    *up = (kn__cu_wgrad_update){.opt = c->opt,
                                .grad = c->grad,
                                .w = c->param,
                                .s0 = s0,
                                .s1 = s1,
                                .wh = c->param_half,
                                .wt = c->half_type,
                                .capacity = cap};
    return true;
}

/* The small-batch weight gradients (plan_weight_grads above): decided at the first
 * of them, launched at the last; *done when t needs nothing more. */
kn_status kn__cuda_weight_grads(kn_graph *g, kn_tensor *t, bool *done) {
    kn__cuda_graph *c = CTX;
    *done = false;
    int at = -1;
    for (int i = 0; i < c->n_wgrad && at < 0; i++)
        if (c->wgrad_mm[i] == t) at = i;
    if (at < 0) return KN_OK;
    int64_t rows = t->src[0]->ne[0];
    if (at == 0) c->wgrad_fused = rows > 0 && rows <= c->wgrad_rows;
    if (!c->wgrad_fused) return KN_OK;
    *done = true;
    if (at < c->n_wgrad - 1) return KN_OK;
    kn__cu_wgrad wg = {.n = c->n_wgrad};
    for (int l = 0; l < wg.n; l++) {
        const kn_tensor *m = c->wgrad_mm[l], *bias = paired_bias(c, m);
        int32_t k = (int32_t)m->ne[0], n = (int32_t)m->ne[1];
        wg.layer[l] = (kn__cu_wgrad_layer){kn__cuda_tensor(g, m->src[0]), kn__cuda_tensor(g, m->src[1]),
                                           kn__cuda_tensor(g, m), bias ? kn__cuda_tensor(g, bias) : NULL, k, n, wg.total, 0};
        if (c->folding && m->src[0] == c->table_input[c->fold_x]) { /* its x, the table through the order */
            wg.layer[l].x = c->table[c->fold_x];
            wg.layer[l].gathered = 1;
            wg.order = c->d_order, wg.step = c->d_step;
        }
        wg.total += (int64_t)k * n + (bias ? n : 0);
    }
    c->wgrad_launches++;
    c->wgrad_guarded = c->wgrad_all && c->wgrad_guard;
    /* by tiles past 64 rows (only when KILN_CUDA_WGRAD_ROWS allows them), or always with
     * KILN_CUDA_WGRAD_TILED=1; never with 0 (both unmeasured: the A/Bs of bench/gpu/run.sh) */
    bool tiled = c->wgrad_tiled > 0 || (c->wgrad_tiled < 0 && rows > KN_CUDA_WGRAD_UNTILED_ROWS);
    kn__cu_wgrad_update up;
    bool updating = c->wgrad_guarded && c->wgrad_guard->late && take_update(g, c, &wg, tiled, &up);
    LAUNCH(kn__cu_weight_grads(STREAM, &wg, rows, c->wgrad_guarded ? c->wgrad_guard : NULL, tiled, kn__cuda_pdl(c),
                               updating ? &up : NULL));
    if (updating) {
        c->update_taken = true, c->fused_updates++;
        if (rows > c->fused_update_rows) c->fused_update_rows = rows;
    }
    if (updating && !tiled && c->recording) { /* (run.c's capture) */
        c->steps_rec.wg = wg, c->steps_rec.guard = *c->wgrad_guard, c->steps_rec.up = up;
        c->rec_wgrad = true;
    }
    return KN_OK;
}

