/* attention.c — KN_OP_ATTENTION and its gradient on the CPU (graph/ops_attention.c says
 * what they compute). The work is one item per (sample, head), split over the worker pool;
 * each item's products run on its thread through kn__sgemm with the heads' column blocks as
 * strided matrices (row stride H*D), and its (Tq, Tk) probabilities live in that thread's
 * part of the node's scratch. The backward recomputes the probabilities (S = Q K^T scale,
 * softmax) and then, with dP = dO V^T and dS = P (dP - rowsum(dP P)):
 *   dV = P^T dO,  dQ = dS K scale,  dK = dS^T Q scale.
 * Attention dropout (a training run): O = (P W) V with W the keep factors (0 or 1 / (1 -
 * rate)), so dV = (P W)^T dO and dP = (dO V^T) W; the mask is drawn again in the backward.
 * Masks (ops_attention.c): a masked-out score's probability is 0; a row that sees no key is
 * uniform over all keys, its dS row 0. */
#include "cpu.h"
#include "sgemm.h"
#include "core/pool.h"

#include <math.h>
#include <string.h>

typedef struct {
    int64_t H, Tq, Tk, Dk, Dv;
    bool causal;
    float scale;
    uint64_t drop_key;             /* dropout (a training run, rate > 0): the mask's element key */
    uint32_t drop_threshold;       /* drop where the element's 16-bit draw is below this; 0: none */
    float drop_scale;              /* 1 / (1 - rate) */
    const float *q, *k, *v, *dout; /* rows of Tq*H*Dk, Tk*H*Dk, Tk*H*Dv, Tq*H*Dv floats */
    const float *qmask, *kmask;    /* sample 0's (Tq) and (Tk) masks, rows mask_w apart; NULL: none */
    int64_t mask_w;
    float *out;                    /* forward: (N, Tq*H*Dv); backward: (N, dQ | dK | dV) */
    float *scratch;                /* per thread slot: 2 * Tq * Tk floats */
} att_args;

static att_args args_of(const kn_graph *g, const kn_tensor *t, bool grad) {
    att_args a = {.H = t->iparam[0], .Tq = t->iparam[1], .Tk = t->iparam[2], .Dk = t->iparam[3], .Dv = t->iparam[4],
                  .causal = (t->iparam[5] & KN_ATTENTION_CAUSAL) != 0, .scale = t->fparam[0], .out = t->data};
    float rate = t->fparam[1];
    if (g->training && rate > 0.0f) /* the mask as dropout.c draws it, keyed by (seed, step, node) */
        a.drop_key = kn__cpu_dropout_key(g, (uint32_t)t->iparam[5] >> KN__ATTENTION_KEY_SHIFT, rate, &a.drop_threshold,
                                         &a.drop_scale);
    int s = grad ? 1 : 0;
    if (grad) a.dout = t->src[0]->data;
    a.q = t->src[s]->data;
    a.k = t->src[s + 1]->data;
    a.v = t->src[s + 2]->data;
    const kn_tensor *masks = t->src[s + 3];
    if (masks) {
        const float *m = masks->data;
        bool qm = (t->iparam[5] & KN__ATTENTION_QUERY_MASK) != 0, km = (t->iparam[5] & KN__ATTENTION_KEY_MASK) != 0;
        a.mask_w = masks->ne[1];
        a.qmask = qm ? m : NULL;
        a.kmask = km ? m + (qm ? a.Tq : 0) : NULL;
    }
    return a;
}

/* dropout: M (Tq, Tk) *= each probability's keep factor (0 or 1 / (1 - rate)) for sample
 * n, head h; probability (i, j) is element ((n H + h) Tq + i) Tk + j of the mask, its 16-bit
 * draw bits 16 (e % 4) .. of draw e / 4 (dropout.c's layout, the CUDA kernels' too). */
static void apply_dropout(const att_args *a, int64_t n, int64_t h, float *M) {
    int64_t base = ((n * a->H + h) * a->Tq) * a->Tk;
    for (int64_t e = 0; e < a->Tq * a->Tk; e++)
        M[e] *= kn__cpu_dropout_keep(a->drop_key, (uint64_t)(base + e), a->drop_threshold, a->drop_scale);
}

/* The key steps query step i sees. */
static inline int64_t seen(const att_args *a, int64_t i) { return a->causal && i + 1 < a->Tk ? i + 1 : a->Tk; }

/* Whether query step i of sample n sees key steps at all under the masks (then those the
 * key mask keeps below seen(i)), and key step j's mask. */
static inline bool query_kept(const att_args *a, int64_t n, int64_t i) {
    return !a->qmask || a->qmask[n * a->mask_w + i] > 0.5f;
}
static inline bool key_kept(const float *km, int64_t j) { return !km || km[j] > 0.5f; }
/* Whether row i sees no key (masked: uniform over all keys, Keras's -1e9 scores). */
static bool row_blind(const att_args *a, int64_t n, int64_t i) {
    if (!query_kept(a, n, i)) return true;
    if (!a->kmask) return false;
    const float *km = a->kmask + n * a->mask_w;
    for (int64_t j = 0, L = seen(a, i); j < L; j++)
        if (km[j] > 0.5f) return false;
    return true;
}

/* The softmax of P's rows (sample n's scores) in place under the masks: over the keys a
 * row sees (the key mask's, below seen(i)), the others 0; a blind row uniform over all. */
static void masked_probabilities(const att_args *a, int64_t n, float *P) {
    int64_t Tq = a->Tq, Tk = a->Tk;
    const float *km = a->kmask ? a->kmask + n * a->mask_w : NULL;
    for (int64_t i = 0; i < Tq; i++) {
        float *p = P + i * Tk;
        int64_t L = seen(a, i);
        if (row_blind(a, n, i)) {
            for (int64_t j = 0; j < Tk; j++) p[j] = 1.0f / (float)Tk;
            continue;
        }
        float mx = -INFINITY;
        for (int64_t j = 0; j < L; j++)
            if (key_kept(km, j)) mx = p[j] > mx ? p[j] : mx;
        float s = 0.0f;
        for (int64_t j = 0; j < Tk; j++) {
            p[j] = j < L && key_kept(km, j) ? expf(p[j] - mx) : 0.0f;
            s += p[j];
        }
        float inv = 1.0f / s;
        for (int64_t j = 0; j < Tk; j++) p[j] *= inv;
    }
}

/* P (Tq, Tk) = softmax(Q K^T scale) of sample n, head h; masked entries 0. */
static void probabilities(const att_args *a, int64_t n, int64_t h, float *P) {
    int64_t HDk = a->H * a->Dk, Tq = a->Tq, Tk = a->Tk;
    const float *Q = a->q + n * Tq * HDk + h * a->Dk, *K = a->k + n * Tk * HDk + h * a->Dk;
    kn__sgemm(false, true, Tq, Tk, a->Dk, a->scale, Q, HDk, K, HDk, 0.0f, P, Tk, 1);
    if (a->qmask || a->kmask) {
        masked_probabilities(a, n, P);
        return;
    }
    for (int64_t i = 0; i < Tq; i++) { /* a row at a time, in 8 lanes (scalar max and sum chains cost more than the exps) */
        float *p = P + i * Tk;
        int64_t L = seen(a, i);
        float inv = 1.0f / kn__vexp_sum(p, kn__vmax(p, L), p, L);
        for (int64_t j = 0; j < L; j++) p[j] *= inv;
        for (int64_t j = L; j < Tk; j++) p[j] = 0.0f;
    }
}

static void forward_item(void *p, int64_t item) {
    const att_args *a = p;
    int64_t n = item / a->H, h = item % a->H, HDv = a->H * a->Dv;
    float *P = a->scratch + (int64_t)kn__pool_slot() * 2 * a->Tq * a->Tk;
    probabilities(a, n, h, P);
    if (a->drop_threshold) apply_dropout(a, n, h, P);
    const float *V = a->v + n * a->Tk * HDv + h * a->Dv;
    float *O = a->out + n * a->Tq * HDv + h * a->Dv;
    kn__sgemm(false, false, a->Tq, a->Dv, a->Tk, 1.0f, P, a->Tk, V, HDv, 0.0f, O, HDv, 1);
}

static void backward_item(void *p, int64_t item) {
    const att_args *a = p;
    int64_t n = item / a->H, h = item % a->H, Tq = a->Tq, Tk = a->Tk;
    int64_t HDk = a->H * a->Dk, HDv = a->H * a->Dv, OW = (Tq + Tk) * HDk + Tk * HDv;
    float *P = a->scratch + (int64_t)kn__pool_slot() * 2 * Tq * Tk, *dS = P + Tq * Tk;
    probabilities(a, n, h, P);
    const float *Q = a->q + n * Tq * HDk + h * a->Dk, *K = a->k + n * Tk * HDk + h * a->Dk;
    const float *V = a->v + n * Tk * HDv + h * a->Dv, *dO = a->dout + n * Tq * HDv + h * a->Dv;
    float *row = a->out + n * OW;
    float *dQ = row + h * a->Dk, *dK = row + Tq * HDk + h * a->Dk, *dV = row + (Tq + Tk) * HDk + h * a->Dv;
    if (a->drop_threshold) { /* the dropped probabilities weigh the values: dV = (P W)^T dO */
        memcpy(dS, P, (size_t)(Tq * Tk) * sizeof *dS);
        apply_dropout(a, n, h, dS);
        kn__sgemm(true, false, Tk, a->Dv, Tq, 1.0f, dS, Tk, dO, HDv, 0.0f, dV, HDv, 1);
    } else {
        kn__sgemm(true, false, Tk, a->Dv, Tq, 1.0f, P, Tk, dO, HDv, 0.0f, dV, HDv, 1); /* dV = P^T dO */
    }
    kn__sgemm(false, true, Tq, Tk, a->Dv, 1.0f, dO, HDv, V, HDv, 0.0f, dS, Tk, 1); /* dP = dO V^T */
    if (a->drop_threshold) apply_dropout(a, n, h, dS);                              /* (times W) */
    for (int64_t i = 0; i < Tq; i++) { /* dS = P (dP - rowsum(dP P)), in place */
        float *d = dS + i * Tk, dot = 0.0f;
        const float *pr = P + i * Tk;
        if ((a->qmask || a->kmask) && row_blind(a, n, i)) { /* constant scores: no gradient */
            memset(d, 0, (size_t)Tk * sizeof *d);
            continue;
        }
        dot = kn__vdot(d, pr, Tk);
        for (int64_t j = 0; j < Tk; j++) d[j] = pr[j] * (d[j] - dot);
    }
    kn__sgemm(false, false, Tq, a->Dk, Tk, a->scale, dS, Tk, K, HDk, 0.0f, dQ, HDk, 1); /* dQ = dS K scale */
    kn__sgemm(true, false, Tk, a->Dk, Tq, a->scale, dS, Tk, Q, HDk, 0.0f, dK, HDk, 1);  /* dK = dS^T Q scale */
}

/* Worker threads for n items of about flops each: one below ~0.2 MFLOP of work in all. */
static int threads_for(const kn_graph *g, int64_t items, double flops) {
    int th = kn_ctx_threads(g->ctx);
    if (th > items) th = (int)items;
    return (double)items * flops < 2e5 || th < 1 ? 1 : th;
}

static size_t scratch_bytes(const kn_graph *g, const kn_tensor *t) {
    return (size_t)kn_ctx_threads(g->ctx) * 2 * (size_t)t->iparam[1] * (size_t)t->iparam[2] * sizeof(float);
}
size_t kn__cpu_attention_scratch(const kn_graph *g, const kn_tensor *t) { return scratch_bytes(g, t); }
size_t kn__cpu_attention_grad_scratch(const kn_graph *g, const kn_tensor *t) { return scratch_bytes(g, t); }

static void run(kn_graph *g, kn_tensor *t, bool grad) {
    att_args a = args_of(g, t, grad);
    size_t bytes = scratch_bytes(g, t);
    a.scratch = kn__cpu_scratch(g, t, bytes);
    if (!a.scratch) return;
    int64_t items = t->ne[0] * a.H;
    double flops = 2.0 * (double)a.Tq * (double)a.Tk * (double)(a.Dk + a.Dv) * (grad ? 2.5 : 1.0);
    kn__pool_run(threads_for(g, items, flops), items, grad ? backward_item : forward_item, &a);
    kn__cpu_scratch_done(g, t, a.scratch);
}

void kn__cpu_attention(kn_graph *g, kn_tensor *t) { run(g, t, false); }
void kn__cpu_attention_grad(kn_graph *g, kn_tensor *t) { run(g, t, true); }
