/* logistic_loss.c — logistic regression's objective (logistic.c fits it): sum_i w_i
 * logloss_i and its gradient over the rows, plus the l2 penalty; the L-BFGS and OWL-QN
 * iterations that minimize it are logistic_lbfgs.c's.
 *
 * Loss and gradient: rows in fixed chunks (run by kn__pool_run), each chunk in blocks of 64
 * rows, x_b (64, d) read once per evaluation: the change of the logits along the step,
 * step (k, d) x_b^T by kiln's sgemm, then softmax / sigmoid in double, then the chunk's
 * gradient (k, d) += residuals (k, 64) x_b (64, d) while x_b is still in cache. Chunk
 * partials are summed in double in chunk order: nothing depends on the thread count.
 *
 * Precision: the logits are kept in double and moved by each accepted step, z = z0 + X step,
 * with only X step in float32. The objective is then smooth to double rounding along a line
 * (the line search and the 2.2e-9 stall test see real differences, as scipy's do in double),
 * where logits recomputed in float32 at each trial point would be noisy at 1e-7 of the
 * objective. Along a line search's direction d the product X d is computed once (in the first
 * trial's pass) and reused: later trials cost one GEMM instead of two.
 *
 * Limits: the fit reads x once per evaluation, so it runs at memory speed (Fashion-MNIST:
 * ~25 ms a pass on one core here); chunk partials are capped at 64 MB, so a model of more than
 * ~16M coefficients gets fewer chunks than threads. */
#include "classic/logistic.h"

#include <math.h>
#include <string.h>

#include "backend/cpu/sgemm.h"
#include "core/pool.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

enum {
    CHUNK_BLOCKS = 8,    /* blocks in a chunk of the pool (512 rows) */
    MAX_CHUNKS = 256,    /* at most this many partial gradients ... */
};
#define PARTIAL_BYTES ((size_t)64 << 20) /* ... and at most 64 MB of them */

/* ------------------------------------------------------------------ exp in double */

/* y = exp(x) for x <= 0 (x < -708 gives 0): x = n ln2 + r, |r| <= ln2/2, a degree-12 Taylor
 * polynomial (truncation 2e-16 relative), 2^n into the exponent. A smooth function to double
 * rounding, 4 lanes at a time, as libm's exp is one call per value. */
#if defined(__AVX2__) && defined(__FMA__)
static void exp_nonpositive(const double *x, double *y, int64_t n) {
    const __m256d log2e = _mm256_set1_pd(1.4426950408889634), ln2_hi = _mm256_set1_pd(6.93147180369123816490e-01),
                  ln2_lo = _mm256_set1_pd(1.90821492927058770002e-10), lo = _mm256_set1_pd(-708.0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d v = _mm256_loadu_pd(x + i);
        __m256d under = _mm256_cmp_pd(v, lo, _CMP_LT_OQ);
        v = _mm256_min_pd(_mm256_max_pd(v, lo), _mm256_setzero_pd());
        __m256d k = _mm256_round_pd(_mm256_mul_pd(v, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256d r = _mm256_fnmadd_pd(k, ln2_hi, v);
        r = _mm256_fnmadd_pd(k, ln2_lo, r);
        __m256d p = _mm256_set1_pd(1.0 / 479001600.0);
        static const double c[12] = {1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0,
                                     1.0 / 720.0,      1.0 / 120.0,     1.0 / 24.0,     1.0 / 6.0,     0.5,
                                     1.0,              1.0};
        for (int q = 0; q < 12; q++) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(c[q]));
        __m256i e = _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(k)); /* k in [-1022, 0] */
        __m256d scale = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(e, _mm256_set1_epi64x(1023)), 52));
        _mm256_storeu_pd(y + i, _mm256_andnot_pd(under, _mm256_mul_pd(p, scale)));
    }
    for (; i < n; i++) y[i] = x[i] < -708.0 ? 0.0 : exp(x[i]);
}
#else
static void exp_nonpositive(const double *x, double *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < -708.0 ? 0.0 : exp(x[i]);
}
#endif

/* ------------------------------------------------------------------ loss and gradient */
/* One chunk: its rows' trial logits, sum w loss and gradient. Logits are stored transposed,
 * (k, rows) per block, so the softmax runs along rows: vectorized whatever k is. */
static void chunk_loss(void *p, int64_t chunk) {
    const kn__logreg_problem *pb = p;
    int64_t d = pb->d, k = pb->k, r_lo = chunk * pb->chunk_rows;
    int64_t r_hi = r_lo + pb->chunk_rows < pb->n ? r_lo + pb->chunk_rows : pb->n;
    float *rt = pb->resid + chunk * k * BLOCK_ROWS;                 // (k, rb)
    double *e = pb->work + chunk * (k + 2) * BLOCK_ROWS;            // (k, rb)
    double *mx = e + k * BLOCK_ROWS, *sum = mx + BLOCK_ROWS;        // (rb) each
    float *g = pb->part_g + chunk * k * d;                          // (k, d)
    double *gi = pb->part_gi + chunk * k, f = 0;
    for (int64_t c = 0; c < k; c++) gi[c] = 0;
    for (int64_t r0 = r_lo; r0 < r_hi; r0 += BLOCK_ROWS) {
        int64_t rb = r_hi - r0 < BLOCK_ROWS ? r_hi - r0 : BLOCK_ROWS, off = r0 / BLOCK_ROWS * k * BLOCK_ROWS;
        const float *xb = pb->x + r0 * d; // (rb, d)
        float *zd = pb->zd + off;         // (k, rb)
        const double *z0 = pb->z0 + off;
        double *z = pb->z1 + off;
        if (pb->compute_step) {
            kn__sgemm(false, true, k, rb, d, 1.0f, pb->step_coef, d, xb, d, 0.0f, zd, rb, 1); // (k,d)x(d,rb)
            for (int64_t c = 0; c < k; c++)
                for (int64_t i = 0; i < rb; i++) zd[c * rb + i] += pb->step_icpt[c];
        }
        for (int64_t j = 0; j < k * rb; j++) z[j] = z0[j] + pb->alpha * zd[j];
        if (k == 1) {
            /* loss = log(1 + e^z) - t z = max(z, 0) + log1p(e^-|z|) - t z; residual sigmoid(z) - t */
            for (int64_t i = 0; i < rb; i++) mx[i] = -fabs(z[i]);
            exp_nonpositive(mx, sum, rb);
            for (int64_t i = 0; i < rb; i++) {
                double zi = z[i], ei = sum[i], t = pb->y[r0 + i] == pb->pos, wi = pb->w ? pb->w[r0 + i] : 1.0;
                f += wi * ((zi > 0 ? zi : 0) + log1p(ei) - t * zi);
                double sig = zi >= 0 ? 1.0 / (1.0 + ei) : ei / (1.0 + ei);
                rt[i] = (float)(wi * (sig - t));
            }
        } else {
            /* loss = logsumexp(z) - z_y; residual softmax(z) - onehot(y) */
            for (int64_t i = 0; i < rb; i++) mx[i] = z[i];
            for (int64_t c = 1; c < k; c++)
                for (int64_t i = 0; i < rb; i++) mx[i] = z[c * rb + i] > mx[i] ? z[c * rb + i] : mx[i];
            for (int64_t c = 0; c < k; c++)
                for (int64_t i = 0; i < rb; i++) e[c * rb + i] = z[c * rb + i] - mx[i];
            exp_nonpositive(e, e, k * rb);
            for (int64_t i = 0; i < rb; i++) sum[i] = 0;
            for (int64_t c = 0; c < k; c++)
                for (int64_t i = 0; i < rb; i++) sum[i] += e[c * rb + i];
            for (int64_t i = 0; i < rb; i++) {
                double wi = pb->w ? pb->w[r0 + i] : 1.0;
                f += wi * (mx[i] + log(sum[i]) - z[pb->y[r0 + i] * rb + i]);
                sum[i] = 1.0 / sum[i];
                mx[i] = wi;
            }
            for (int64_t c = 0; c < k; c++)
                for (int64_t i = 0; i < rb; i++) e[c * rb + i] *= sum[i]; // softmax
            for (int64_t i = 0; i < rb; i++) e[pb->y[r0 + i] * rb + i] -= 1.0;
            for (int64_t c = 0; c < k; c++)
                for (int64_t i = 0; i < rb; i++) rt[c * rb + i] = (float)(mx[i] * e[c * rb + i]);
        }
        if (!pb->need_grad) continue;
        for (int64_t c = 0; c < k; c++) {
            double s = 0;
            for (int64_t i = 0; i < rb; i++) s += rt[c * rb + i];
            gi[c] += s;
        }
        kn__sgemm(false, false, k, d, rb, 1.0f, rt, rb, xb, d, r0 == r_lo ? 0.0f : 1.0f, g, d, 1); // (k,rb)x(rb,d)
    }
    pb->part_f[chunk] = f;
}

/* Evaluates the trial point z1 = z0 + alpha * X step: sum_i w_i loss_i, and its gradient
 * (when need_grad) into grad = [coef (k, d), intercept (k) when fitted]. step (same layout,
 * may be NULL to reuse the last one) is rounded to float for the GEMM. */
double kn__logreg_loss_grad(kn__logreg_problem *pb, const double *step, double alpha, bool intercept, double *grad) {
    int64_t kd = pb->k * pb->d;
    pb->compute_step = step != NULL;
    pb->alpha = alpha;
    if (step) {
        for (int64_t j = 0; j < kd; j++) pb->step_coef[j] = (float)step[j];
        for (int64_t c = 0; c < pb->k; c++) pb->step_icpt[c] = intercept ? (float)step[kd + c] : 0.0f;
    }
    kn__pool_run(pb->threads, pb->n_chunks, chunk_loss, pb);
    double f = 0;
    for (int64_t ch = 0; ch < pb->n_chunks; ch++) f += pb->part_f[ch];
    if (!pb->need_grad) return f;
    for (int64_t j = 0; j < kd; j++) grad[j] = 0;
    for (int64_t ch = 0; ch < pb->n_chunks; ch++) {
        const float *gc = pb->part_g + ch * kd;
        for (int64_t j = 0; j < kd; j++) grad[j] += gc[j];
    }
    if (intercept)
        for (int64_t c = 0; c < pb->k; c++) {
            double s = 0;
            for (int64_t ch = 0; ch < pb->n_chunks; ch++) s += pb->part_gi[ch * pb->k + c];
            grad[kd + c] = s;
        }
    return f;
}

/* The trial point becomes the current one. */
void kn__logreg_accept_trial(kn__logreg_problem *pb) {
    double *t = pb->z0;
    pb->z0 = pb->z1;
    pb->z1 = t;
}

void kn__logreg_problem_free(kn_ctx *ctx, kn__logreg_problem *pb) {
    kn__free(ctx, pb->z0);
    kn__free(ctx, pb->z1);
    kn__free(ctx, pb->zd);
    kn__free(ctx, pb->step_coef);
    kn__free(ctx, pb->step_icpt);
    kn__free(ctx, pb->part_g);
    kn__free(ctx, pb->part_gi);
    kn__free(ctx, pb->part_f);
    kn__free(ctx, pb->resid);
    kn__free(ctx, pb->work);
    memset(pb, 0, sizeof *pb);
}

/* The chunking depends on n, k and d only (never on threads), so the sums do not either.
 * The logits start at zero (theta = 0). */
kn_status kn__logreg_problem_init(kn_ctx *ctx, kn__logreg_problem *pb, const kn__xy *xy, int64_t k, int threads) {
    *pb = (kn__logreg_problem){.x = xy->x, .y = xy->y, .w = xy->w, .n = xy->n, .d = xy->d, .k = k, .pos = 1,
                    .threads = threads, .need_grad = true};
    size_t kd = (size_t)k * (size_t)xy->d, per_chunk = kd * sizeof(float);
    int64_t max_chunks = (int64_t)(PARTIAL_BYTES / (per_chunk ? per_chunk : 1));
    if (max_chunks > MAX_CHUNKS) max_chunks = MAX_CHUNKS;
    if (max_chunks < 1) max_chunks = 1;
    int64_t blocks = (xy->n + BLOCK_ROWS - 1) / BLOCK_ROWS;
    int64_t chunk_blocks = CHUNK_BLOCKS;
    if ((blocks + chunk_blocks - 1) / chunk_blocks > max_chunks) chunk_blocks = (blocks + max_chunks - 1) / max_chunks;
    pb->chunk_rows = chunk_blocks * BLOCK_ROWS;
    pb->n_chunks = (xy->n + pb->chunk_rows - 1) / pb->chunk_rows;
    size_t nc = (size_t)pb->n_chunks, zn = (size_t)blocks * (size_t)k * BLOCK_ROWS;
    pb->z0 = kn__calloc(ctx, zn, sizeof(double));
    pb->z1 = kn__alloc(ctx, zn * sizeof(double));
    pb->zd = kn__alloc(ctx, zn * sizeof(float));
    pb->step_coef = kn__alloc(ctx, per_chunk);
    pb->step_icpt = kn__alloc(ctx, (size_t)k * sizeof(float));
    pb->part_g = kn__alloc(ctx, nc * per_chunk);
    pb->part_gi = kn__alloc(ctx, nc * (size_t)k * sizeof(double));
    pb->part_f = kn__alloc(ctx, nc * sizeof(double));
    pb->resid = kn__alloc(ctx, nc * (size_t)k * BLOCK_ROWS * sizeof(float));
    pb->work = kn__alloc(ctx, nc * (size_t)(k + 2) * BLOCK_ROWS * sizeof(double));
    if (!pb->z0 || !pb->z1 || !pb->zd || !pb->step_coef || !pb->step_icpt || !pb->part_g || !pb->part_gi ||
        !pb->part_f || !pb->resid || !pb->work) {
        kn__logreg_problem_free(ctx, pb);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, WHO ": out of memory for %lld rows and %lld x %lld coefficients",
                         (long long)xy->n, (long long)k, (long long)xy->d);
    }
    return KN_OK;
}

/* ------------------------------------------------------------------ the objective */
/* f at the trial point theta = theta0 + alpha * step (z1 = z0 + alpha * X step; step NULL:
 * the last step again): sum w loss + lambda/2 ||coef||^2 (l2) with its gradient; for l1 the
 * smooth part only. */
double kn__logreg_evaluate(kn__logreg_objective_fn *ob, const double *theta, const double *step, double alpha,
                           double *grad) {
    double f = kn__logreg_loss_grad(ob->pb, step, alpha, ob->intercept, grad);
    if (ob->penalty == PEN_L2) {
        double sq = 0;
        for (int64_t j = 0; j < ob->n_penalized; j++) {
            sq += theta[j] * theta[j];
            grad[j] += ob->lambda * theta[j];
        }
        f += 0.5 * ob->lambda * sq;
    }
    return f;
}

double kn__logreg_l1_norm(const double *theta, int64_t n) {
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += fabs(theta[j]);
    return s;
}

double kn__logreg_max_abs(const double *v, int64_t n) {
    double m = 0;
    for (int64_t j = 0; j < n; j++) m = fabs(v[j]) > m ? fabs(v[j]) : m;
    return m;
}

double kn__logreg_dot(const double *a, const double *b, int64_t n) {
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += a[j] * b[j];
    return s;
}
