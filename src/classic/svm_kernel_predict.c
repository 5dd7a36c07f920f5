/* svm_kernel_predict.c — the kernel SVM's predictions: test rows in blocks, one kernel block
 * against all the support vectors a block (sgemm, then the kernel's map), each pair's
 * decision, then one-vs-one votes or coupled Platt probabilities; blocks in parallel, in
 * caller-provided scratch or scratch allocated here. */
#include "classic/svm_kernel.h"

#include <math.h>
#include <string.h>

#include "backend/cpu/sgemm.h"
#include "core/pool.h"

/* ------------------------------------------------------------------ predict */

enum { PRED_ROWS = 128 }; /* test rows a kernel block: (128, n_sv) floats */

static size_t align64(size_t b) { return (b + 63) / 64 * 64; }

/* The workspace: shared part (SV norms, class starts), then one slice per thread:
 * kernel block (PRED_ROWS, n_sv), row norms, decisions (PRED_ROWS, pairs), votes (k),
 * pairwise probabilities (k, k), coupling scratch (k, k) + 2 k. */
static size_t shared_bytes(const kn__svm *m) {
    return align64((size_t)m->n_sv * sizeof(float)) + align64((size_t)m->n_classes * sizeof(int64_t));
}

static size_t slice_bytes(const kn__svm *m) {
    const size_t k = (size_t)m->n_classes, pairs = k * (k - 1) / 2;
    return align64((size_t)PRED_ROWS * (size_t)m->n_sv * sizeof(float)) + align64(PRED_ROWS * sizeof(float)) +
           align64(PRED_ROWS * pairs * sizeof(float)) + align64(k * sizeof(int32_t)) + align64(2 * k * k * sizeof(double)) +
           align64(2 * k * sizeof(double));
}

static int64_t pred_slices(int64_t n, int threads) {
    int64_t blocks = (n + PRED_ROWS - 1) / PRED_ROWS;
    return threads < 1 ? 1 : blocks < threads ? (blocks > 0 ? blocks : 1) : threads;
}

size_t kn__svm_workspace_size(const kn__svm *m, int64_t n, int threads) {
    return shared_bytes(m) + (size_t)pred_slices(n, threads) * slice_bytes(m);
}

typedef struct {
    const kn__svm *m;
    kn__svm_kparams kp;
    const float *x;
    int64_t n, blocks, slices;
    float *dec;      /* (n, pairs) or NULL */
    int32_t *labels; /* (n) or NULL */
    float *proba;    /* (n, k) or NULL */
    const float *sv_sq;
    const int64_t *sv_start;
    char *slices_mem;
    size_t slice;
} pred_job;

static void pred_chunk(void *args, int64_t s) {
    const pred_job *j = args;
    const kn__svm *m = j->m;
    const int k = m->n_classes;
    const int64_t n_sv = m->n_sv, d = m->d, pairs = (int64_t)k * (k - 1) / 2;
    char *mem = j->slices_mem + (size_t)s * j->slice;
    float *kb = (float *)mem;
    mem += align64((size_t)PRED_ROWS * (size_t)n_sv * sizeof(float));
    float *xsq = (float *)mem;
    mem += align64(PRED_ROWS * sizeof(float));
    float *dec_tmp = (float *)mem;
    mem += align64(PRED_ROWS * (size_t)pairs * sizeof(float));
    int32_t *votes = (int32_t *)mem;
    mem += align64((size_t)k * sizeof(int32_t));
    double *pw = (double *)mem, *Q = pw + k * k, *pk = Q + k * k, *qp = pk + k;
    for (int64_t b = s; b < j->blocks; b += j->slices) {
        const int64_t r0 = b * PRED_ROWS, rows = j->n - r0 < PRED_ROWS ? j->n - r0 : PRED_ROWS;
        const float *xb = j->x + r0 * d;
        // (rows, d) x (n_sv, d)^T -> (rows, n_sv)
        kn__sgemm(false, true, rows, n_sv, d, 1.0f, xb, d, m->sv, d, 0.0f, kb, n_sv, 1);
        float *dec = j->dec ? j->dec + r0 * pairs : dec_tmp;
        for (int64_t r = 0; r < rows; r++) {
            float *kr = kb + r * n_sv;
            xsq[r] = kn__svm_sqnorm(xb + r * d, d);
            kn__svm_kernel_map(&j->kp, kr, n_sv, xsq[r], j->sv_sq);
            int64_t p = 0;
            for (int a = 0; a < k; a++)
                for (int c = a + 1; c < k; c++, p++) {
                    const int64_t sa = j->sv_start[a], sc = j->sv_start[c];
                    double v = kn__svm_dot_ff(m->dual_coef + (int64_t)(c - 1) * n_sv + sa, kr + sa, m->n_sv_class[a]) +
                               kn__svm_dot_ff(m->dual_coef + (int64_t)a * n_sv + sc, kr + sc, m->n_sv_class[c]);
                    dec[r * pairs + p] = (float)(v + m->intercept[p]);
                }
        }
        if (j->labels)
            for (int64_t r = 0; r < rows; r++) {
                memset(votes, 0, (size_t)k * sizeof *votes);
                int64_t p = 0;
                for (int a = 0; a < k; a++)
                    for (int c = a + 1; c < k; c++, p++) votes[dec[r * pairs + p] > 0 ? a : c]++;
                int best = 0;
                for (int c = 1; c < k; c++)
                    if (votes[c] > votes[best]) best = c;
                j->labels[r0 + r] = best;
            }
        if (j->proba)
            for (int64_t r = 0; r < rows; r++) {
                const double min_prob = 1e-7;
                int64_t p = 0;
                for (int a = 0; a < k; a++)
                    for (int c = a + 1; c < k; c++, p++) {
                        double v = kn__svm_sigmoid_predict(dec[r * pairs + p], m->prob_a[p], m->prob_b[p]);
                        v = fmin(fmax(v, min_prob), 1 - min_prob);
                        pw[a * k + c] = v;
                        pw[c * k + a] = 1 - v;
                    }
                kn__svm_multiclass_probability(k, pw, pk, Q, qp);
                for (int c = 0; c < k; c++) j->proba[(r0 + r) * k + c] = (float)pk[c];
            }
    }
}

static kn_status run_predict(kn_ctx *ctx, const kn__svm *m, const float *x, int64_t n, float *dec, int32_t *labels,
                             float *proba, void *workspace) {
    if (!m || !m->sv || m->n_classes < 2) return kn__error(ctx, KN_ERR_STATE, "svm: the model is not fitted");
    if (n <= 0) return KN_OK;
    if (!x) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: x is NULL");
    const int threads = kn_ctx_threads(ctx);
    const size_t need = kn__svm_workspace_size(m, n, threads);
    char *ws = workspace;
    if (!ws && !(ws = kn__alloc(ctx, need)))
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "svm: no memory for %zu bytes of prediction scratch", need);
    float *sv_sq = (float *)ws;
    int64_t *sv_start = (int64_t *)(ws + align64((size_t)m->n_sv * sizeof(float)));
    for (int64_t s = 0; s < m->n_sv; s++) sv_sq[s] = kn__svm_sqnorm(m->sv + s * m->d, m->d);
    sv_start[0] = 0;
    for (int c = 1; c < m->n_classes; c++) sv_start[c] = sv_start[c - 1] + m->n_sv_class[c - 1];
    pred_job j = {.m = m,
                  .kp = {m->kernel, m->degree, (float)m->gamma, (float)m->coef0},
                  .x = x,
                  .n = n,
                  .blocks = (n + PRED_ROWS - 1) / PRED_ROWS,
                  .slices = pred_slices(n, threads),
                  .dec = dec,
                  .labels = labels,
                  .proba = proba,
                  .sv_sq = sv_sq,
                  .sv_start = sv_start,
                  .slices_mem = ws + shared_bytes(m),
                  .slice = slice_bytes(m)};
    kn__pool_run(threads, j.slices, pred_chunk, &j);
    if (!workspace) kn__free(ctx, ws);
    return KN_OK;
}

kn_status kn__svm_decision(kn_ctx *ctx, const kn__svm *m, const float *x, int64_t n, float *dec, void *workspace) {
    if (!dec) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: dec is NULL");
    return run_predict(ctx, m, x, n, dec, NULL, NULL, workspace);
}

kn_status kn__svm_predict(kn_ctx *ctx, const kn__svm *m, const float *x, int64_t n, int32_t *labels, void *workspace) {
    if (!labels) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: labels is NULL");
    return run_predict(ctx, m, x, n, NULL, labels, NULL, workspace);
}

kn_status kn__svm_predict_proba(kn_ctx *ctx, const kn__svm *m, const float *x, int64_t n, float *proba,
                                void *workspace) {
    if (!proba) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: proba is NULL");
    if (m && (!m->prob_a || !m->prob_b))
        return kn__error(ctx, KN_ERR_STATE, "svm: the model was fitted without probability");
    return run_predict(ctx, m, x, n, NULL, NULL, proba, workspace);
}
