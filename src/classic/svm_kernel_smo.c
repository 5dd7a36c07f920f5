/* svm_kernel_smo.c — the kernel SVM's solver: LIBSVM's Solver (SMO, second-order
 * working-set selection, shrinking, gradient reconstruction) on one binary problem, with the
 * kernel rows it asks for computed a GEMM at a time into the row cache (svm_kernel.c says
 * why), and the setup of one binary problem's rows, bounds and memory around it. */
#include "classic/svm_kernel.h"

#include <math.h>
#include <string.h>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "backend/cpu/sgemm.h"
#include "core/pool.h"

#define TAU 1e-12
enum { SPEC_ROWS = 64, SPEC_MIN_D = 64 }; /* rows computed together while the cache has room, at d >= SPEC_MIN_D */
enum { SVR_BUFS = 4 };   /* the SVR's gathered rows kept (at least 3: a step holds two) */

/* ------------------------------------------------------------------ the solver */

enum { LOWER_BOUND, UPPER_BOUND, FREE };

/* One problem in LIBSVM's form, min 0.5 a'Qa + p'a, y'a = 0, 0 <= a_i <= C_i, with
 * Q_ij = y_i y_j K(x_i, x_j): C-SVC has p = -e; epsilon-SVR has 2l variables over l rows, each
 * row twice (y = +1 with p = epsilon - t_i, y = -1 with p = epsilon + t_i). Everything is
 * indexed by position; shrinking permutes positions (swap_index), active_set maps them back
 * to the caller's order.
 *
 * Two ways to hold the kernel (LIBSVM's SVC_Q and SVR_Q): a classifier keeps x and the cache
 * by position, so a swap moves rows and swaps two columns of every cached row; the SVR
 * (svr = true) keeps its l rows in their own order and caches whole kernel rows by row
 * (never swapped), and each get_q gathers Q's row over the positions from them
 * (index[position] says the row) into one of two buffers. */
typedef struct {
    int32_t l, active_size;
    int64_t d;
    const kn__svm_kparams *kp;
    float *x;         /* (l, d) the rows, permuted with the positions */
    float *sq;        /* (l) their squared norms */
    int8_t *y;        /* (l) +1 / -1 */
    int8_t *status;   /* (l) LOWER_BOUND, UPPER_BOUND, FREE */
    double *alpha, *G, *G_bar, *C, *QD, *p; /* (l) each; p the linear term */
    int32_t *active_set;                /* (l) */
    int32_t *pending, n_pending;        /* (2 l) swaps whose cache columns are not yet swapped */
    kn__svm_cache cache;
    float *tile_a;    /* (SPEC_ROWS, d) rows gathered for a GEMM */
    float *tile_c;    /* (SPEC_ROWS, l) their kernel rows */
    float *row_tmp;   /* (d) for swaps */
    double eps;
    int64_t max_iter;
    bool shrinking, unshrink;
    int threads;      /* for a kernel row's products (kn__svm_shared's gemm_threads) */
    bool nu;          /* LIBSVM's Solver_NU: I_up and I_low taken per sign of y, two rhos */
    double r;         /* Solver_NU's r, (r1 + r2) / 2 */
    bool svr;         /* below: the SVR's kernel by row */
    int32_t *index;   /* (l) each position's row, in [0, n_rows) */
    float *xt;        /* (d, n_rows) x transposed: a kernel row as d passes of axpy */
    int32_t n_rows;   /* rows of x (l for a classifier, l / 2 for the SVR) */
    /* gathered rows, reused while no swap has moved the positions (select_working_set's row i
     * is asked for again beside row j) */
    int32_t n_bufs;
    float *bufs;      /* (n_bufs, l) */
    int32_t *buf_pos, *buf_len; /* (n_bufs) what each holds (position, length; -1: nothing) */
    int64_t *buf_epoch, *buf_used; /* (n_bufs) as of which swap count; last use (LRU) */
    int32_t *pos_buf; /* (l) the buffer a position's row may be in, or -1 */
    int64_t epoch, clock;
    double m_up, m_low; /* the last selection's m(alpha) and M(alpha) */
} solver;

static void update_status(solver *s, int32_t i) {
    s->status[i] = s->alpha[i] >= s->C[i] ? UPPER_BOUND : s->alpha[i] <= 0 ? LOWER_BOUND : FREE;
}

/* Kernel values of positions rows[0..m) against positions [start, len), times y_r y_k, into
 * out (m, ld). */
static void compute_rows(solver *s, const int32_t *rows, int m, int32_t start, int32_t len, float *out, int64_t ld) {
    const int64_t d = s->d, cnt = len - start;
    const float *a = s->x + (int64_t)rows[0] * d;
    if (m > 1) {
        for (int r = 0; r < m; r++) memcpy(s->tile_a + r * d, s->x + (int64_t)rows[r] * d, (size_t)d * sizeof(float));
        a = s->tile_a;
    }
    // (m, d) x (cnt, d)^T -> (m, cnt)
    kn__sgemm(false, true, m, cnt, d, 1.0f, a, d, s->x + (int64_t)start * d, d, 0.0f, out, ld, s->threads);
    for (int r = 0; r < m; r++) {
        float *o = out + r * ld;
        kn__svm_kernel_map(s->kp, o, cnt, s->sq[rows[r]], s->sq + start);
        const int8_t *y = s->y + start;
        if (s->y[rows[r]] > 0) {
            for (int64_t k = 0; k < cnt; k++) o[k] = y[k] > 0 ? o[k] : -o[k];
        } else {
            for (int64_t k = 0; k < cnt; k++) o[k] = y[k] > 0 ? -o[k] : o[k];
        }
    }
}

/* Part of an SVR kernel row: x_row . x_r for r in a chunk of [start, n) as d passes of axpy
 * over x transposed, 8 lanes each (a GEMV of n dot products of d terms spends its time reducing
 * when d is small: 10x slower at d = 10), then the kernel's map. */
enum { SVR_ROW_CHUNK = 4096 };
typedef struct {
    solver *s;
    const float *xr; /* (d) the row's features */
    float *data;     /* (n) its cached kernel row */
    int32_t start, n, row, chunk;
} svr_row_job;

static void svr_row_chunk(void *args, int64_t c) {
    const svr_row_job *j = args;
    const solver *s = j->s;
    const int32_t lo = j->start + (int32_t)c * j->chunk, hi = lo + j->chunk < j->n ? lo + j->chunk : j->n, cnt = hi - lo;
    float *restrict o = j->data + lo;
    const float a0 = j->xr[0], *restrict col0 = s->xt + lo;
    for (int32_t k = 0; k < cnt; k++) o[k] = a0 * col0[k];
    for (int64_t f = 1; f < s->d; f++) {
        const float a = j->xr[f], *restrict col = s->xt + f * j->n + lo;
        for (int32_t k = 0; k < cnt; k++) o[k] += a * col[k];
    }
    kn__svm_kernel_map(s->kp, o, cnt, s->sq[j->row], s->sq + lo);
}

/* The SVR's row i of Q over positions [0, len) (LIBSVM's SVR_Q::get_Q): the kernel row of
 * position i's row (cached whole, by row), gathered by index and signed by y_i y_k. */
static const float *svr_get_q(solver *s, int32_t i, int32_t len) {
    const int32_t row = s->index[i], n = s->n_rows;
    int32_t start;
    float *data = kn__svm_cache_get(&s->cache, row, n, &start);
    if (start < n) {
        svr_row_job j = {s, s->x + (int64_t)row * s->d, data, start, n, row, SVR_ROW_CHUNK};
        const int64_t chunks = (n - start + SVR_ROW_CHUNK - 1) / SVR_ROW_CHUNK;
        /* threads only where a row is worth it (d x n multiply-adds); each entry is computed
         * the same way whichever thread takes its chunk */
        kn__pool_run((int64_t)(n - start) * s->d >= (1 << 20) ? s->threads : 1, chunks, svr_row_chunk, &j);
    }
    /* a buffer that still holds it (same position, long enough, no swap since) is given back as
     * it is: a step asks for row i in select_working_set and again beside row j, and the
     * same variables come back between shrinkings */
    int32_t b = s->pos_buf[i];
    if (b >= 0 && s->buf_pos[b] == i && s->buf_len[b] >= len && s->buf_epoch[b] == s->epoch) {
        s->buf_used[b] = ++s->clock;
        return s->bufs + (int64_t)b * s->l;
    }
    b = 0; /* else the least recently used (never one of the two rows a step holds: n_bufs >= 3) */
    for (int32_t c = 1; c < s->n_bufs; c++)
        if (s->buf_used[c] < s->buf_used[b]) b = c;
    float *restrict out = s->bufs + (int64_t)b * s->l;
    s->buf_pos[b] = i, s->buf_len[b] = len, s->buf_epoch[b] = s->epoch, s->buf_used[b] = ++s->clock;
    s->pos_buf[i] = b;
    const int32_t *restrict index = s->index;
    const int8_t *restrict y = s->y;
    const float yi = s->y[i];
    /* the row (n floats) was likely computed long ago and sits in memory; the gather below
     * reads it in the order of the positions, which no prefetcher follows, so ask for it in
     * order first (measured on Friedman #1, 10,000 rows: ~7 cycles an element without) */
    for (int32_t r = 0; r < n; r += 16) __builtin_prefetch(data + r, 0, 3);
    int32_t k = 0;
#if defined(__AVX2__)
    const __m256 yiv = _mm256_set1_ps(yi);
    for (; k + 8 <= len; k += 8) { /* y_i y_k K: the signs are +-1, so the product is exact */
        __m256 v = _mm256_i32gather_ps(data, _mm256_loadu_si256((const __m256i *)(index + k)), 4);
        __m256 yk = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(y + k))));
        _mm256_storeu_ps(out + k, _mm256_mul_ps(_mm256_mul_ps(yiv, yk), v));
    }
#endif
    for (; k < len; k++) out[k] = yi * (float)y[k] * data[index[k]];
    return out;
}

/* Row i of Q over positions [0, len) (LIBSVM's get_Q). */
static const float *get_q(solver *s, int32_t i, int32_t len) {
    if (s->svr) return svr_get_q(s, i, len);
    int32_t start;
    float *data = kn__svm_cache_get(&s->cache, i, len, &start);
    if (start >= len) return data;
    int32_t rows[SPEC_ROWS];
    int m = 1;
    rows[0] = i;
    /* a row missing entirely while the cache has room: compute with it the uncached rows
     * most likely to be asked for next, the most violating ones (by the last selection's
     * m = max_{I_up} -y G and M = min_{I_low} -y G). Only where a row costs more to compute
     * than to fault in: at d < SPEC_MIN_D a row is a few flops an entry, and a slot touched for
     * nothing costs its page faults (10,000 rows of 10 features: the fit 0.6 -> 0.3 s) */
    if (start == 0 && s->cache.n_free > 0 && s->d >= SPEC_MIN_D) {
        const int want = s->cache.n_free < SPEC_ROWS - 1 ? s->cache.n_free : SPEC_ROWS - 1;
        double best[SPEC_ROWS];
        int nb = 0;
        const double mu = s->m_up, ml = s->m_low;
        for (int32_t t = 0; t < len; t++) {
            if (t == i || s->cache.h[t].len != 0) continue;
            const double yg = s->y[t] * s->G[t];
            const bool up = s->y[t] > 0 ? s->status[t] != UPPER_BOUND : s->status[t] != LOWER_BOUND;
            const bool low = s->y[t] > 0 ? s->status[t] != LOWER_BOUND : s->status[t] != UPPER_BOUND;
            double score = -INFINITY;
            if (up) score = -yg - ml;
            if (low && mu + yg > score) score = mu + yg;
            if (!(score > 0) || (nb == want && score <= best[nb - 1])) continue;
            int q = nb < want ? nb++ : nb - 1; /* insertion into best (descending) */
            while (q > 0 && best[q - 1] < score) best[q] = best[q - 1], rows[q + 1] = rows[q], q--;
            best[q] = score;
            rows[q + 1] = t;
        }
        m = 1 + nb;
    }
    if (m == 1) {
        compute_rows(s, rows, 1, start, len, data + start, len - start);
        return data;
    }
    compute_rows(s, rows, m, 0, len, s->tile_c, len);
    memcpy(data, s->tile_c, (size_t)len * sizeof(float));
    for (int r = 1; r < m; r++) {
        kn__svm_cache_head *h = &s->cache.h[rows[r]];
        h->slot = s->cache.free[--s->cache.n_free];
        h->len = len;
        kn__svm_lru_insert(&s->cache, rows[r], false); /* unasked for: first to be evicted */
        memcpy(kn__svm_slot_data(&s->cache, rows[r]), s->tile_c + (int64_t)r * len, (size_t)len * sizeof(float));
    }
    return data;
}

static void swap_index(solver *s, int32_t i, int32_t j) {
    if (s->svr) {
        SWAP(int32_t, s->index[i], s->index[j]); /* rows and cache stay as they are */
        s->epoch++;
    } else {
        kn__svm_cache_swap_heads(&s->cache, i, j); /* the rows' columns at flush_swaps */
        s->pending[2 * s->n_pending] = i, s->pending[2 * s->n_pending + 1] = j;
        s->n_pending++;
        const size_t row = (size_t)s->d * sizeof(float);
        memcpy(s->row_tmp, s->x + (int64_t)i * s->d, row);
        memcpy(s->x + (int64_t)i * s->d, s->x + (int64_t)j * s->d, row);
        memcpy(s->x + (int64_t)j * s->d, s->row_tmp, row);
        SWAP(float, s->sq[i], s->sq[j]);
    }
    SWAP(int8_t, s->y[i], s->y[j]);
    SWAP(double, s->G[i], s->G[j]);
    SWAP(int8_t, s->status[i], s->status[j]);
    SWAP(double, s->alpha[i], s->alpha[j]);
    SWAP(int32_t, s->active_set[i], s->active_set[j]);
    SWAP(double, s->G_bar[i], s->G_bar[j]);
    SWAP(double, s->C[i], s->C[j]);
    SWAP(double, s->QD[i], s->QD[j]);
    SWAP(double, s->p[i], s->p[j]);
}

/* The cache columns of the swaps made since the last flush (a classifier's shrinking). */
static void flush_swaps(solver *s) {
    kn__svm_cache_swap_columns(&s->cache, s->pending, s->n_pending);
    s->n_pending = 0;
}

static void reconstruct_gradient(solver *s) {
    const int32_t l = s->l, act = s->active_size;
    if (act == l) return;
    int32_t nr_free = 0;
    for (int32_t j = act; j < l; j++) s->G[j] = s->G_bar[j] + s->p[j];
    for (int32_t j = 0; j < act; j++)
        if (s->status[j] == FREE) nr_free++;
    if ((int64_t)nr_free * l > 2 * (int64_t)act * (l - act)) {
        for (int32_t i = act; i < l; i++) {
            const float *q = get_q(s, i, act);
            double g = 0;
            for (int32_t j = 0; j < act; j++)
                if (s->status[j] == FREE) g += s->alpha[j] * q[j];
            s->G[i] += g;
        }
    } else {
        for (int32_t i = 0; i < act; i++)
            if (s->status[i] == FREE) {
                const float *q = get_q(s, i, l);
                const double a = s->alpha[i];
                for (int32_t j = act; j < l; j++) s->G[j] += a * q[j];
            }
    }
}

/* LIBSVM's WSS 2, its two scans. Each keeps LIBSVM's tie rule (the last index of the best
 * value wins), so the AVX2 scans below, 4 positions at a time, pick what the scalar ones
 * pick: each lane keeps its last best, and the lanes' best value then goes to its largest
 * index. */

#if defined(__AVX2__) && defined(__FMA__)
/* Positions t..t+3: *ypos (y > 0, as a lane mask) and the mask of those in I_up (up) or
 * I_low (!up): I_up is y > 0 not at the upper bound or y < 0 not at 0; I_low the mirror. */
static inline __m256i lanes_in_set(const int8_t *y, const int8_t *st, int32_t t, bool up, __m256i *ypos) {
    const __m256i one = _mm256_set1_epi64x(1), zero = _mm256_setzero_si256();
    int32_t y4, s4;
    memcpy(&y4, y + t, 4), memcpy(&s4, st + t, 4);
    const __m256i yv = _mm256_cvtepi8_epi64(_mm_cvtsi32_si128(y4)), sv = _mm256_cvtepi8_epi64(_mm_cvtsi32_si128(s4));
    *ypos = _mm256_cmpgt_epi64(yv, zero);
    /* the status that excludes: UPPER_BOUND (1) for y > 0 in I_up, LOWER_BOUND (0) for y < 0; the mirror in I_low */
    const __m256i excluded = up ? _mm256_blendv_epi8(zero, one, *ypos) : _mm256_blendv_epi8(one, zero, *ypos);
    return _mm256_andnot_si256(_mm256_cmpeq_epi64(sv, excluded), _mm256_set1_epi64x(-1));
}
#endif

/* i = argmax over I_up of -y_t G_t: I_up is y > 0 below its bound, y < 0 above 0. */
static int32_t scan_up(const solver *s, int32_t act, double *gmax_out) {
    const double *G = s->G;
    const int8_t *y = s->y, *st = s->status;
    double gmax = -INFINITY;
    int32_t gmax_idx = -1, t = 0;
#if defined(__AVX2__) && defined(__FMA__)
    if (act >= 8) {
        __m256d best = _mm256_set1_pd(-INFINITY);
        __m256i bidx = _mm256_set1_epi64x(-1), idx = _mm256_setr_epi64x(0, 1, 2, 3);
        for (; t + 4 <= act; t += 4) {
            __m256i ypos;
            const __m256i ok = lanes_in_set(y, st, t, true, &ypos);
            const __m256d g = _mm256_loadu_pd(G + t);
            const __m256d v = _mm256_blendv_pd(g, _mm256_sub_pd(_mm256_setzero_pd(), g), _mm256_castsi256_pd(ypos));
            const __m256d upd = _mm256_and_pd(_mm256_cmp_pd(v, best, _CMP_GE_OQ), _mm256_castsi256_pd(ok));
            best = _mm256_blendv_pd(best, v, upd);
            bidx = _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(bidx), _mm256_castsi256_pd(idx), upd));
            idx = _mm256_add_epi64(idx, _mm256_set1_epi64x(4));
        }
        double bv[4];
        int64_t bi[4];
        _mm256_storeu_pd(bv, best);
        _mm256_storeu_si256((__m256i *)bi, bidx);
        for (int q = 0; q < 4; q++)
            if (bi[q] >= 0 && (bv[q] > gmax || (bv[q] == gmax && bi[q] > gmax_idx))) gmax = bv[q], gmax_idx = (int32_t)bi[q];
    }
#endif
    for (; t < act; t++) {
        if (y[t] > 0) {
            if (st[t] != UPPER_BOUND && -G[t] >= gmax) gmax = -G[t], gmax_idx = t;
        } else {
            if (st[t] != LOWER_BOUND && G[t] >= gmax) gmax = G[t], gmax_idx = t;
        }
    }
    *gmax_out = gmax;
    return gmax_idx;
}

/* j = argmin over I_low with gmax + y_j G_j > 0 of -(gmax + y_j G_j)^2 / (K_ii + K_jj - 2 K_ij)
 * (I_low: y > 0 above 0, y < 0 below its bound); *gmax2 = max over I_low of y_j G_j. qi is
 * Q's row i (y_i y_j K_ij), so K_ij = y_i y_j qi[j]. */
static int32_t scan_low(const solver *s, int32_t act, double gmax, const float *qi, double qdi, double yi, double *gmax2_out) {
    const double *G = s->G, *QD = s->QD;
    const int8_t *y = s->y, *st = s->status;
    double gmax2 = -INFINITY, obj_diff_min = INFINITY;
    int32_t gmin_idx = -1, j = 0;
#if defined(__AVX2__) && defined(__FMA__)
    if (act >= 8) {
        const __m256d gm = _mm256_set1_pd(gmax), qd_i = _mm256_set1_pd(qdi), two_yi = _mm256_set1_pd(2.0 * yi),
                      tau = _mm256_set1_pd(TAU), zd = _mm256_setzero_pd();
        __m256d best = _mm256_set1_pd(INFINITY), g2 = _mm256_set1_pd(-INFINITY);
        __m256i bidx = _mm256_set1_epi64x(-1), idx = _mm256_setr_epi64x(0, 1, 2, 3);
        for (; j + 4 <= act; j += 4) {
            __m256i ypos;
            const __m256i ok = lanes_in_set(y, st, j, false, &ypos);
            const __m256d okd = _mm256_castsi256_pd(ok), yposd = _mm256_castsi256_pd(ypos);
            const __m256d g = _mm256_loadu_pd(G + j);
            const __m256d v = _mm256_blendv_pd(_mm256_sub_pd(zd, g), g, yposd); /* y_j G_j */
            g2 = _mm256_blendv_pd(g2, _mm256_max_pd(v, g2), okd);
            const __m256d gd = _mm256_add_pd(gm, v);
            /* quad = K_ii + K_jj - 2 y_i y_j qi[j], as the scalar code's qdi + QD[j] -+ 2 yi qi[j] */
            const __m256d q = _mm256_cvtps_pd(_mm_loadu_ps(qi + j));
            const __m256d two_yiyj = _mm256_blendv_pd(_mm256_sub_pd(zd, two_yi), two_yi, yposd);
            __m256d quad = _mm256_fnmadd_pd(two_yiyj, q, _mm256_add_pd(qd_i, _mm256_loadu_pd(QD + j)));
            quad = _mm256_blendv_pd(tau, quad, _mm256_cmp_pd(quad, zd, _CMP_GT_OQ));
            const __m256d od = _mm256_div_pd(_mm256_sub_pd(zd, _mm256_mul_pd(gd, gd)), quad);
            const __m256d upd = _mm256_and_pd(_mm256_and_pd(okd, _mm256_cmp_pd(gd, zd, _CMP_GT_OQ)),
                                              _mm256_cmp_pd(od, best, _CMP_LE_OQ));
            best = _mm256_blendv_pd(best, od, upd);
            bidx = _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(bidx), _mm256_castsi256_pd(idx), upd));
            idx = _mm256_add_epi64(idx, _mm256_set1_epi64x(4));
        }
        double bv[4], gv[4];
        int64_t bi[4];
        _mm256_storeu_pd(bv, best);
        _mm256_storeu_pd(gv, g2);
        _mm256_storeu_si256((__m256i *)bi, bidx);
        for (int q = 0; q < 4; q++) {
            gmax2 = fmax(gmax2, gv[q]);
            if (bi[q] >= 0 && (bv[q] < obj_diff_min || (bv[q] == obj_diff_min && bi[q] > gmin_idx)))
                obj_diff_min = bv[q], gmin_idx = (int32_t)bi[q];
        }
    }
#endif
    for (; j < act; j++) {
        if (y[j] > 0) {
            if (st[j] != LOWER_BOUND) {
                double grad_diff = gmax + G[j];
                if (G[j] >= gmax2) gmax2 = G[j];
                if (grad_diff > 0) {
                    double quad = qdi + QD[j] - 2.0 * yi * qi[j];
                    double obj_diff = -(grad_diff * grad_diff) / (quad > 0 ? quad : TAU);
                    if (obj_diff <= obj_diff_min) gmin_idx = j, obj_diff_min = obj_diff;
                }
            }
        } else {
            if (st[j] != UPPER_BOUND) {
                double grad_diff = gmax - G[j];
                if (-G[j] >= gmax2) gmax2 = -G[j];
                if (grad_diff > 0) {
                    double quad = qdi + QD[j] + 2.0 * yi * qi[j];
                    double obj_diff = -(grad_diff * grad_diff) / (quad > 0 ? quad : TAU);
                    if (obj_diff <= obj_diff_min) gmin_idx = j, obj_diff_min = obj_diff;
                }
            }
        }
    }
    *gmax2_out = gmax2;
    return gmin_idx;
}

/* LIBSVM's WSS 2: returns 1 when optimal within eps. */
static int select_working_set(solver *s, int32_t *out_i, int32_t *out_j) {
    const int32_t act = s->active_size;
    double gmax, gmax2 = -INFINITY;
    const int32_t i = scan_up(s, act, &gmax);
    s->m_up = gmax;
    int32_t j = -1;
    if (i != -1) {
        j = scan_low(s, act, gmax, get_q(s, i, act), s->QD[i], s->y[i], &gmax2);
    } else { /* nothing in I_up: only M(alpha) is wanted (no grad_diff is > 0) */
        for (int32_t t = 0; t < act; t++)
            if (s->y[t] > 0 ? s->status[t] != LOWER_BOUND : s->status[t] != UPPER_BOUND)
                gmax2 = fmax(gmax2, s->y[t] > 0 ? s->G[t] : -s->G[t]);
    }
    s->m_low = -gmax2;
    if (gmax + gmax2 < s->eps || j == -1) return 1;
    *out_i = i;
    *out_j = j;
    return 0;
}

/* ------------------------------------------------------------------ Solver_NU */

/* LIBSVM's Solver_NU::select_working_set: the pair is taken within one sign of y, i the most
 * violating of that sign in I_up, j by the second-order gain among the same sign in I_low. */
static int select_working_set_nu(solver *s, int32_t *out_i, int32_t *out_j) {
    double gmaxp = -INFINITY, gmaxp2 = -INFINITY, gmaxn = -INFINITY, gmaxn2 = -INFINITY, obj_diff_min = INFINITY;
    int32_t gmaxp_idx = -1, gmaxn_idx = -1, gmin_idx = -1;
    const int32_t act = s->active_size;
    const double *G = s->G;
    const int8_t *y = s->y, *st = s->status;
    for (int32_t t = 0; t < act; t++) {
        if (y[t] > 0) {
            if (st[t] != UPPER_BOUND && -G[t] >= gmaxp) gmaxp = -G[t], gmaxp_idx = t;
        } else {
            if (st[t] != LOWER_BOUND && G[t] >= gmaxn) gmaxn = G[t], gmaxn_idx = t;
        }
    }
    const int32_t ip = gmaxp_idx, in = gmaxn_idx;
    const float *q_ip = ip != -1 ? get_q(s, ip, act) : NULL, *q_in = in != -1 ? get_q(s, in, act) : NULL;
    for (int32_t j = 0; j < act; j++) {
        if (y[j] > 0) {
            if (st[j] != LOWER_BOUND) {
                double grad_diff = gmaxp + G[j];
                if (G[j] >= gmaxp2) gmaxp2 = G[j];
                if (grad_diff > 0) {
                    double quad = s->QD[ip] + s->QD[j] - 2 * q_ip[j];
                    double obj_diff = -(grad_diff * grad_diff) / (quad > 0 ? quad : TAU);
                    if (obj_diff <= obj_diff_min) gmin_idx = j, obj_diff_min = obj_diff;
                }
            }
        } else {
            if (st[j] != UPPER_BOUND) {
                double grad_diff = gmaxn - G[j];
                if (-G[j] >= gmaxn2) gmaxn2 = -G[j];
                if (grad_diff > 0) {
                    double quad = s->QD[in] + s->QD[j] - 2 * q_in[j];
                    double obj_diff = -(grad_diff * grad_diff) / (quad > 0 ? quad : TAU);
                    if (obj_diff <= obj_diff_min) gmin_idx = j, obj_diff_min = obj_diff;
                }
            }
        }
    }
    s->m_up = fmax(gmaxp, gmaxn), s->m_low = -fmax(gmaxp2, gmaxn2); /* for get_q's speculation only */
    if (fmax(gmaxp + gmaxp2, gmaxn + gmaxn2) < s->eps || gmin_idx == -1) return 1;
    *out_i = y[gmin_idx] > 0 ? gmaxp_idx : gmaxn_idx;
    *out_j = gmin_idx;
    return 0;
}

static bool be_shrunk_nu(const solver *s, int32_t i, double gmax1, double gmax2, double gmax3, double gmax4) {
    if (s->status[i] == UPPER_BOUND) return s->y[i] > 0 ? -s->G[i] > gmax1 : -s->G[i] > gmax4;
    if (s->status[i] == LOWER_BOUND) return s->y[i] > 0 ? s->G[i] > gmax2 : s->G[i] > gmax3;
    return false;
}

static void do_shrinking_nu(solver *s) {
    /* max -y G over I_up and max y G over I_low, for y = +1 (1, 2) and y = -1 (4, 3) */
    double gmax1 = -INFINITY, gmax2 = -INFINITY, gmax3 = -INFINITY, gmax4 = -INFINITY;
    for (int32_t i = 0; i < s->active_size; i++) {
        if (s->status[i] != UPPER_BOUND) {
            if (s->y[i] > 0) gmax1 = fmax(gmax1, -s->G[i]);
            else gmax4 = fmax(gmax4, -s->G[i]);
        }
        if (s->status[i] != LOWER_BOUND) {
            if (s->y[i] > 0) gmax2 = fmax(gmax2, s->G[i]);
            else gmax3 = fmax(gmax3, s->G[i]);
        }
    }
    if (!s->unshrink && fmax(gmax1 + gmax2, gmax3 + gmax4) <= s->eps * 10) {
        s->unshrink = true;
        reconstruct_gradient(s);
        s->active_size = s->l;
    }
    for (int32_t i = 0; i < s->active_size; i++)
        if (be_shrunk_nu(s, i, gmax1, gmax2, gmax3, gmax4)) {
            s->active_size--;
            while (s->active_size > i) {
                if (!be_shrunk_nu(s, s->active_size, gmax1, gmax2, gmax3, gmax4)) {
                    swap_index(s, i, s->active_size);
                    break;
                }
                s->active_size--;
            }
        }
    flush_swaps(s);
}

/* Solver_NU::calculate_rho: r1 and r2 from each sign's free variables (else the middle of
 * its bounds); rho = (r1 - r2) / 2, s->r = (r1 + r2) / 2. */
static double calculate_rho_nu(solver *s) {
    int32_t nr_free1 = 0, nr_free2 = 0;
    double ub1 = INFINITY, ub2 = INFINITY, lb1 = -INFINITY, lb2 = -INFINITY, sum_free1 = 0, sum_free2 = 0;
    for (int32_t i = 0; i < s->active_size; i++) {
        const double g = s->G[i];
        if (s->y[i] > 0) {
            if (s->status[i] == UPPER_BOUND) lb1 = fmax(lb1, g);
            else if (s->status[i] == LOWER_BOUND) ub1 = fmin(ub1, g);
            else nr_free1++, sum_free1 += g;
        } else {
            if (s->status[i] == UPPER_BOUND) lb2 = fmax(lb2, g);
            else if (s->status[i] == LOWER_BOUND) ub2 = fmin(ub2, g);
            else nr_free2++, sum_free2 += g;
        }
    }
    const double r1 = nr_free1 > 0 ? sum_free1 / nr_free1 : (ub1 + lb1) / 2;
    const double r2 = nr_free2 > 0 ? sum_free2 / nr_free2 : (ub2 + lb2) / 2;
    s->r = (r1 + r2) / 2;
    return (r1 - r2) / 2;
}

static bool be_shrunk(const solver *s, int32_t i, double gmax1, double gmax2) {
    if (s->status[i] == UPPER_BOUND) return s->y[i] > 0 ? -s->G[i] > gmax1 : -s->G[i] > gmax2;
    if (s->status[i] == LOWER_BOUND) return s->y[i] > 0 ? s->G[i] > gmax2 : s->G[i] > gmax1;
    return false;
}

static void do_shrinking(solver *s) {
    double gmax1 = -INFINITY, gmax2 = -INFINITY; /* max -y G over I_up, max y G over I_low */
    for (int32_t i = 0; i < s->active_size; i++) {
        double g = s->G[i];
        if (s->y[i] > 0) {
            if (s->status[i] != UPPER_BOUND && -g >= gmax1) gmax1 = -g;
            if (s->status[i] != LOWER_BOUND && g >= gmax2) gmax2 = g;
        } else {
            if (s->status[i] != UPPER_BOUND && -g >= gmax2) gmax2 = -g;
            if (s->status[i] != LOWER_BOUND && g >= gmax1) gmax1 = g;
        }
    }
    if (!s->unshrink && gmax1 + gmax2 <= s->eps * 10) {
        s->unshrink = true;
        reconstruct_gradient(s);
        s->active_size = s->l;
    }
    for (int32_t i = 0; i < s->active_size; i++)
        if (be_shrunk(s, i, gmax1, gmax2)) {
            s->active_size--;
            while (s->active_size > i) {
                if (!be_shrunk(s, s->active_size, gmax1, gmax2)) {
                    swap_index(s, i, s->active_size);
                    break;
                }
                s->active_size--;
            }
        }
    flush_swaps(s);
}

static double calculate_rho(const solver *s) {
    double ub = INFINITY, lb = -INFINITY, sum_free = 0;
    int32_t nr_free = 0;
    for (int32_t i = 0; i < s->active_size; i++) {
        double yg = s->y[i] * s->G[i];
        if (s->status[i] == UPPER_BOUND) {
            if (s->y[i] < 0) ub = fmin(ub, yg);
            else lb = fmax(lb, yg);
        } else if (s->status[i] == LOWER_BOUND) {
            if (s->y[i] > 0) ub = fmin(ub, yg);
            else lb = fmax(lb, yg);
        } else {
            nr_free++;
            sum_free += yg;
        }
    }
    return nr_free > 0 ? sum_free / nr_free : (ub + lb) / 2;
}

/* LIBSVM's Solver::Solve from alpha = 0. On return alpha (caller's order) holds y_i alpha_i;
 * *rho, *obj and *iters are set. */
static void solve(solver *s, const double *alpha0, double *alpha_out, double *rho, double *obj, int64_t *iters) {
    const int32_t l = s->l;
    for (int32_t i = 0; i < l; i++) {
        s->alpha[i] = alpha0 ? alpha0[i] : 0;
        s->G[i] = s->p[i];
        s->G_bar[i] = 0;
        s->active_set[i] = i;
        update_status(s, i);
    }
    /* a starting point off 0 (Solver_NU's): G = p + Q alpha, G_bar = sum over bounded C_i Q_i */
    for (int32_t i = 0; alpha0 && i < l; i++) {
        if (s->status[i] == LOWER_BOUND) continue;
        const float *q = get_q(s, i, l);
        const double a = s->alpha[i];
        for (int32_t j = 0; j < l; j++) s->G[j] += a * q[j];
        if (s->status[i] == UPPER_BOUND)
            for (int32_t j = 0; j < l; j++) s->G_bar[j] += s->C[i] * q[j];
    }
    s->active_size = l;
    s->unshrink = false;
    s->m_up = INFINITY, s->m_low = -INFINITY;
    int64_t iter = 0;
    int32_t counter = (l < 1000 ? l : 1000) + 1;
    for (;;) {
        if (s->max_iter != -1 && iter >= s->max_iter) break;
        if (--counter == 0) {
            counter = l < 1000 ? l : 1000;
            if (s->shrinking) s->nu ? do_shrinking_nu(s) : do_shrinking(s);
        }
        int32_t i, j;
        if ((s->nu ? select_working_set_nu(s, &i, &j) : select_working_set(s, &i, &j)) != 0) {
            reconstruct_gradient(s);
            s->active_size = l;
            if ((s->nu ? select_working_set_nu(s, &i, &j) : select_working_set(s, &i, &j)) != 0) break;
            counter = 1; /* shrink at the next step */
        }
        ++iter;
        const float *qi = get_q(s, i, s->active_size);
        const float *qj = get_q(s, j, s->active_size);
        const double ci = s->C[i], cj = s->C[j];
        const double old_ai = s->alpha[i], old_aj = s->alpha[j];
        double *alpha = s->alpha;
        if (s->y[i] != s->y[j]) {
            double quad = s->QD[i] + s->QD[j] + 2 * qi[j];
            if (quad <= 0) quad = TAU;
            double delta = (-s->G[i] - s->G[j]) / quad, diff = alpha[i] - alpha[j];
            alpha[i] += delta;
            alpha[j] += delta;
            if (diff > 0) {
                if (alpha[j] < 0) alpha[j] = 0, alpha[i] = diff;
            } else {
                if (alpha[i] < 0) alpha[i] = 0, alpha[j] = -diff;
            }
            if (diff > ci - cj) {
                if (alpha[i] > ci) alpha[i] = ci, alpha[j] = ci - diff;
            } else {
                if (alpha[j] > cj) alpha[j] = cj, alpha[i] = cj + diff;
            }
        } else {
            double quad = s->QD[i] + s->QD[j] - 2 * qi[j];
            if (quad <= 0) quad = TAU;
            double delta = (s->G[i] - s->G[j]) / quad, sum = alpha[i] + alpha[j];
            alpha[i] -= delta;
            alpha[j] += delta;
            if (sum > ci) {
                if (alpha[i] > ci) alpha[i] = ci, alpha[j] = sum - ci;
            } else {
                if (alpha[j] < 0) alpha[j] = 0, alpha[i] = sum;
            }
            if (sum > cj) {
                if (alpha[j] > cj) alpha[j] = cj, alpha[i] = sum - cj;
            } else {
                if (alpha[i] < 0) alpha[i] = 0, alpha[j] = sum;
            }
        }
        const double dai = alpha[i] - old_ai, daj = alpha[j] - old_aj;
        double *restrict G = s->G;
        for (int32_t k = 0; k < s->active_size; k++) G[k] += qi[k] * dai + qj[k] * daj;
        const bool ui = s->status[i] == UPPER_BOUND, uj = s->status[j] == UPPER_BOUND;
        update_status(s, i);
        update_status(s, j);
        if (ui != (s->status[i] == UPPER_BOUND)) {
            qi = get_q(s, i, l);
            const double c = ui ? -ci : ci;
            for (int32_t k = 0; k < l; k++) s->G_bar[k] += c * qi[k];
        }
        if (uj != (s->status[j] == UPPER_BOUND)) {
            qj = get_q(s, j, l);
            const double c = uj ? -cj : cj;
            for (int32_t k = 0; k < l; k++) s->G_bar[k] += c * qj[k];
        }
    }
    if (s->active_size < l) { /* stopped by max_iter while shrunk: rho needs every gradient */
        reconstruct_gradient(s);
        s->active_size = l;
    }
    *rho = s->nu ? calculate_rho_nu(s) : calculate_rho(s);
    double v = 0;
    for (int32_t i = 0; i < l; i++) v += s->alpha[i] * (s->G[i] + s->p[i]);
    *obj = v / 2;
    for (int32_t i = 0; i < l; i++) alpha_out[s->active_set[i]] = s->alpha[i] * s->y[i];
    *iters = iter;
}
/* ------------------------------------------------------------------ binary problems */

void *kn__svm_shared_alloc(kn__svm_shared *sh, size_t size) {
    pthread_mutex_lock(&sh->lock);
    void *p = kn__alloc(sh->ctx, size);
    pthread_mutex_unlock(&sh->lock);
    return p;
}

void kn__svm_shared_free(kn__svm_shared *sh, void *p) {
    if (!p) return;
    pthread_mutex_lock(&sh->lock);
    kn__free(sh->ctx, p);
    pthread_mutex_unlock(&sh->lock);
}

bool kn__svm_solve(kn__svm_shared *sh, const kn__svm_problem *pb, double *alpha_out, kn__svm_solution *sol) {
    const int64_t d = sh->d;
    const int64_t *rows = pb->rows;
    const int32_t n_rows = pb->n_rows, l = pb->svr ? 2 * pb->n_rows : pb->n_rows;
    const bool svr = pb->svr;
    /* the cache: rows of n_rows floats, at least 2 (LIBSVM's floor), at most all n_rows */
    int64_t slots = (int64_t)(sh->cache_bytes / ((size_t)n_rows * sizeof(float)));
    slots = slots < 2 ? 2 : slots > n_rows ? n_rows : slots;
    const int64_t spec = svr ? 0 : SPEC_ROWS; /* the SVR computes one row at a time */
    size_t bytes = 0, off[24];
    int nb = 0;
#define PART(count, type) (off[nb++] = bytes, bytes += ((size_t)(count) * sizeof(type) + 63) / 64 * 64)
    PART((int64_t)n_rows * d, float);       /* x */
    PART(n_rows, float);                    /* sq */
    PART(l, int8_t);                        /* y */
    PART(l, int8_t);                        /* status */
    PART(6 * (int64_t)l, double);           /* alpha, G, G_bar, C, QD, p */
    PART(l, int32_t);                       /* active_set */
    PART(svr ? 0 : 2 * (int64_t)l, int32_t); /* pending */
    PART(n_rows + 1, kn__svm_cache_head);   /* cache heads */
    PART(slots, int32_t);                   /* free slots */
    PART(slots * n_rows, float);            /* slab */
    PART(spec * d, float);                  /* tile_a */
    PART(spec * l, float);                  /* tile_c */
    PART(d, float);                         /* row_tmp */
    /* the SVR's gathered rows: a few, so that they stay in cache (256 of them caught 20% more
     * repeats on Friedman #1 but cost more in stores to cold lines than they saved) */
    const int64_t n_bufs = svr ? SVR_BUFS : 0;
    PART(svr ? l : 0, int32_t);             /* index */
    PART(n_bufs * l, float);                /* bufs */
    PART(4 * n_bufs, int64_t);              /* buf_pos and buf_len (as int32 pairs), buf_epoch, buf_used */
    PART(svr ? l : 0, int32_t);             /* pos_buf */
    PART(svr ? (int64_t)n_rows * d : 0, float); /* xt */
#undef PART
    char *mem = kn__svm_shared_alloc(sh, bytes);
    if (!mem) return false;
    kn__advise_huge(mem, bytes); /* the cache's rows are filled one by one: fewer page faults */
    solver s = {.l = l, .d = d, .kp = &sh->kp, .eps = sh->o->tol, .max_iter = sh->o->max_iter,
                .shrinking = sh->o->shrinking, .threads = sh->gemm_threads, .nu = pb->nu, .svr = svr, .n_rows = n_rows};
    nb = 0;
    s.x = (float *)(mem + off[nb++]);
    s.sq = (float *)(mem + off[nb++]);
    s.y = (int8_t *)(mem + off[nb++]);
    s.status = (int8_t *)(mem + off[nb++]);
    s.alpha = (double *)(mem + off[nb++]);
    s.G = s.alpha + l, s.G_bar = s.G + l, s.C = s.G_bar + l, s.QD = s.C + l, s.p = s.QD + l;
    s.active_set = (int32_t *)(mem + off[nb++]);
    s.pending = (int32_t *)(mem + off[nb++]);
    s.cache.h = (kn__svm_cache_head *)(mem + off[nb++]);
    s.cache.free = (int32_t *)(mem + off[nb++]);
    s.cache.slab = (float *)(mem + off[nb++]);
    s.tile_a = (float *)(mem + off[nb++]);
    s.tile_c = (float *)(mem + off[nb++]);
    s.row_tmp = (float *)(mem + off[nb++]);
    s.index = (int32_t *)(mem + off[nb++]);
    s.bufs = (float *)(mem + off[nb++]);
    s.n_bufs = (int32_t)n_bufs;
    s.buf_epoch = (int64_t *)(mem + off[nb++]);
    s.buf_used = s.buf_epoch + n_bufs;
    s.buf_pos = (int32_t *)(s.buf_used + n_bufs);
    s.buf_len = s.buf_pos + n_bufs;
    s.pos_buf = (int32_t *)(mem + off[nb++]);
    s.xt = (float *)(mem + off[nb++]);
    for (int32_t b = 0; b < n_bufs; b++) s.buf_pos[b] = -1, s.buf_len[b] = 0, s.buf_epoch[b] = -1, s.buf_used[b] = 0;
    for (int32_t i = 0; svr && i < l; i++) s.pos_buf[i] = -1;
    s.cache.l = n_rows;
    s.cache.n_slots = (int32_t)slots;
    kn__svm_cache_init(&s.cache);
    for (int32_t r = 0; r < n_rows; r++) {
        const float *xr = sh->x + rows[r] * d;
        memcpy(s.x + (int64_t)r * d, xr, (size_t)d * sizeof(float));
        s.sq[r] = kn__svm_sqnorm(xr, d);
        for (int64_t j = 0; svr && j < d; j++) s.xt[j * n_rows + r] = xr[j];
    }
    for (int32_t i = 0; i < l; i++) {
        const int32_t r = svr ? i % n_rows : i;
        if (svr) s.index[i] = r;
        s.y[i] = svr ? (i < n_rows ? 1 : -1) : pb->y[i];
        s.C[i] = pb->C[i];
        s.p[i] = pb->p ? pb->p[i] : -1.0;
        s.QD[i] = kn__svm_kernel_self(&sh->kp, (double)s.sq[r]);
    }
    solve(&s, pb->alpha0, alpha_out, &sol->rho, &sol->obj, &sol->iters);
    sol->r = s.r;
    kn__svm_shared_free(sh, mem);
    return true;
}

bool kn__svm_solve_binary(kn__svm_shared *sh, const int64_t *rows, const int8_t *y, const double *C, const double *p,
                          int32_t l, double *alpha_out, double *rho, double *obj, int64_t *iters) {
    kn__svm_solution sol;
    const kn__svm_problem pb = {.rows = rows, .n_rows = l, .y = y, .C = C, .p = p};
    if (!kn__svm_solve(sh, &pb, alpha_out, &sol)) return false;
    *rho = sol.rho, *obj = sol.obj, *iters = sol.iters;
    return true;
}

bool kn__svm_solve_svc(kn__svm_shared *sh, const int64_t *rows, const int8_t *y, const double *C, int32_t l, double *alpha_out,
                       double *rho, double *obj, int64_t *iters) {
    const double nu = sh->o->nu;
    if (!(nu > 0)) return kn__svm_solve_binary(sh, rows, y, C, NULL, l, alpha_out, rho, obj, iters);
    /* LIBSVM's solve_nu_svc (scikit-learn's, with per-row bounds C_i): each sign's alphas start
     * filled greedily to nu sum(C) / 2, with no linear term; the solution is then scaled by 1 / r */
    double *alpha0 = kn__svm_shared_alloc(sh, 2 * (size_t)l * sizeof(double));
    if (!alpha0) return false;
    double *zeros = alpha0 + l, nu_l = 0;
    for (int32_t i = 0; i < l; i++) nu_l += nu * C[i];
    double sum_pos = nu_l / 2, sum_neg = nu_l / 2;
    for (int32_t i = 0; i < l; i++) {
        double *sum = y[i] > 0 ? &sum_pos : &sum_neg;
        alpha0[i] = fmin(C[i], *sum);
        *sum -= alpha0[i];
        zeros[i] = 0;
    }
    kn__svm_solution sol;
    const kn__svm_problem pb = {.rows = rows, .n_rows = l, .y = y, .C = C, .p = zeros, .alpha0 = alpha0, .nu = true};
    const bool ok = kn__svm_solve(sh, &pb, alpha_out, &sol);
    kn__svm_shared_free(sh, alpha0);
    if (!ok) return false;
    for (int32_t i = 0; i < l; i++) alpha_out[i] /= sol.r;
    *rho = sol.rho / sol.r, *obj = sol.obj / (sol.r * sol.r), *iters = sol.iters;
    return true;
}
