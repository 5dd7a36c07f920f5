/* svm_kernel_smo.c — the kernel SVM's solver: LIBSVM's Solver (SMO, second-order
 * working-set selection, shrinking, gradient reconstruction) on one binary problem, with the
 * kernel rows it asks for computed a GEMM at a time into the row cache (svm_kernel.c says
 * why), and the setup of one binary problem's rows, bounds and memory around it. */
#include "classic/svm_kernel.h"

#include <math.h>
#include <string.h>

#include "backend/cpu/sgemm.h"

#define TAU 1e-12
enum { SPEC_ROWS = 64 }; /* rows computed together while the cache has room */

/* ------------------------------------------------------------------ the solver */

enum { LOWER_BOUND, UPPER_BOUND, FREE };

/* One problem in LIBSVM's form, min 0.5 a'Qa + p'a, y'a = 0, 0 <= a_i <= C_i, with
 * Q_ij = y_i y_j K(x_i, x_j): C-SVC has p = -e; epsilon-SVR has 2l variables over l rows, each
 * row twice (y = +1 with p = epsilon - t_i, y = -1 with p = epsilon + t_i). Everything is indexed by position; shrinking permutes
 * positions (swap_index), active_set maps them back to the caller's order. */
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
    kn__svm_cache cache;
    float *tile_a;    /* (SPEC_ROWS, d) rows gathered for a GEMM */
    float *tile_c;    /* (SPEC_ROWS, l) their kernel rows */
    float *row_tmp;   /* (d) for swaps */
    double eps;
    int64_t max_iter;
    bool shrinking, unshrink;
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
    kn__sgemm(false, true, m, cnt, d, 1.0f, a, d, s->x + (int64_t)start * d, d, 0.0f, out, ld, 1);
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

/* Row i of Q over positions [0, len) (LIBSVM's get_Q). */
static const float *get_q(solver *s, int32_t i, int32_t len) {
    int32_t start;
    float *data = kn__svm_cache_get(&s->cache, i, len, &start);
    if (start >= len) return data;
    int32_t rows[SPEC_ROWS];
    int m = 1;
    rows[0] = i;
    /* a row missing entirely while the cache has room: compute with it the uncached rows
     * most likely to be asked for next, the most violating ones (by the last selection's
     * m = max_{I_up} -y G and M = min_{I_low} -y G) */
    if (start == 0 && s->cache.n_free > 0) {
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
    kn__svm_cache_swap(&s->cache, i, j);
    const size_t row = (size_t)s->d * sizeof(float);
    memcpy(s->row_tmp, s->x + (int64_t)i * s->d, row);
    memcpy(s->x + (int64_t)i * s->d, s->x + (int64_t)j * s->d, row);
    memcpy(s->x + (int64_t)j * s->d, s->row_tmp, row);
    SWAP(float, s->sq[i], s->sq[j]);
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

/* LIBSVM's WSS 2: returns 1 when optimal within eps. */
static int select_working_set(solver *s, int32_t *out_i, int32_t *out_j) {
    double gmax = -INFINITY, gmax2 = -INFINITY, obj_diff_min = INFINITY;
    int32_t gmax_idx = -1, gmin_idx = -1;
    const int32_t act = s->active_size;
    const double *G = s->G;
    const int8_t *y = s->y, *st = s->status;
    for (int32_t t = 0; t < act; t++) {
        if (y[t] > 0) {
            if (st[t] != UPPER_BOUND && -G[t] >= gmax) gmax = -G[t], gmax_idx = t;
        } else {
            if (st[t] != LOWER_BOUND && G[t] >= gmax) gmax = G[t], gmax_idx = t;
        }
    }
    const int32_t i = gmax_idx;
    s->m_up = gmax;
    const float *qi = i != -1 ? get_q(s, i, act) : NULL;
    const double qdi = i != -1 ? s->QD[i] : 0;
    const double yi = i != -1 ? y[i] : 0;
    for (int32_t j = 0; j < act; j++) {
        if (y[j] > 0) {
            if (st[j] != LOWER_BOUND) {
                double grad_diff = gmax + G[j];
                if (G[j] >= gmax2) gmax2 = G[j];
                if (grad_diff > 0) {
                    double quad = qdi + s->QD[j] - 2.0 * yi * qi[j];
                    double obj_diff = -(grad_diff * grad_diff) / (quad > 0 ? quad : TAU);
                    if (obj_diff <= obj_diff_min) gmin_idx = j, obj_diff_min = obj_diff;
                }
            }
        } else {
            if (st[j] != UPPER_BOUND) {
                double grad_diff = gmax - G[j];
                if (-G[j] >= gmax2) gmax2 = -G[j];
                if (grad_diff > 0) {
                    double quad = qdi + s->QD[j] + 2.0 * yi * qi[j];
                    double obj_diff = -(grad_diff * grad_diff) / (quad > 0 ? quad : TAU);
                    if (obj_diff <= obj_diff_min) gmin_idx = j, obj_diff_min = obj_diff;
                }
            }
        }
    }
    s->m_low = -gmax2;
    if (gmax + gmax2 < s->eps || gmin_idx == -1) return 1;
    *out_i = gmax_idx;
    *out_j = gmin_idx;
    return 0;
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
static void solve(solver *s, double *alpha_out, double *rho, double *obj, int64_t *iters) {
    const int32_t l = s->l;
    for (int32_t i = 0; i < l; i++) {
        s->alpha[i] = 0;
        s->G[i] = s->p[i];
        s->G_bar[i] = 0;
        s->active_set[i] = i;
        update_status(s, i);
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
            if (s->shrinking) do_shrinking(s);
        }
        int32_t i, j;
        if (select_working_set(s, &i, &j) != 0) {
            reconstruct_gradient(s);
            s->active_size = l;
            if (select_working_set(s, &i, &j) != 0) break;
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
    *rho = calculate_rho(s);
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

/* Solves the problem on rows[0..l) (labels y: +1/-1, bounds C, linear term p or NULL for
 * -1 everywhere; a row may appear twice): alpha_out (l) gets y_i alpha_i. Returns false when
 * out of memory. */
bool kn__svm_solve_binary(kn__svm_shared *sh, const int64_t *rows, const int8_t *y, const double *C, const double *p,
                          int32_t l, double *alpha_out, double *rho, double *obj, int64_t *iters) {
    const int64_t d = sh->d;
    /* the cache: at least 2 rows (LIBSVM's floor), at most all l */
    int64_t slots = (int64_t)(sh->cache_bytes / ((size_t)l * sizeof(float)));
    slots = slots < 2 ? 2 : slots > l ? l : slots;
    size_t bytes = 0, off[16];
    int nb = 0;
#define PART(count, type) (off[nb++] = bytes, bytes += ((size_t)(count) * sizeof(type) + 63) / 64 * 64)
    PART((int64_t)l * d, float);            /* x */
    PART(l, float);                         /* sq */
    PART(l, int8_t);                        /* y */
    PART(l, int8_t);                        /* status */
    PART(6 * (int64_t)l, double);           /* alpha, G, G_bar, C, QD, p */
    PART(l, int32_t);                       /* active_set */
    PART(l + 1, kn__svm_cache_head);        /* cache heads */
    PART(slots, int32_t);                   /* free slots */
    PART(slots * l, float);                 /* slab */
    PART((int64_t)SPEC_ROWS * d, float);    /* tile_a */
    PART((int64_t)SPEC_ROWS * l, float);    /* tile_c */
    PART(d, float);                         /* row_tmp */
#undef PART
    char *mem = kn__svm_shared_alloc(sh, bytes);
    if (!mem) return false;
    solver s = {.l = l, .d = d, .kp = &sh->kp, .eps = sh->o->tol, .max_iter = sh->o->max_iter,
                .shrinking = sh->o->shrinking};
    nb = 0;
    s.x = (float *)(mem + off[nb++]);
    s.sq = (float *)(mem + off[nb++]);
    s.y = (int8_t *)(mem + off[nb++]);
    s.status = (int8_t *)(mem + off[nb++]);
    s.alpha = (double *)(mem + off[nb++]);
    s.G = s.alpha + l, s.G_bar = s.G + l, s.C = s.G_bar + l, s.QD = s.C + l, s.p = s.QD + l;
    s.active_set = (int32_t *)(mem + off[nb++]);
    s.cache.h = (kn__svm_cache_head *)(mem + off[nb++]);
    s.cache.free = (int32_t *)(mem + off[nb++]);
    s.cache.slab = (float *)(mem + off[nb++]);
    s.tile_a = (float *)(mem + off[nb++]);
    s.tile_c = (float *)(mem + off[nb++]);
    s.row_tmp = (float *)(mem + off[nb++]);
    s.cache.l = l;
    s.cache.n_slots = (int32_t)slots;
    kn__svm_cache_init(&s.cache);
    for (int32_t i = 0; i < l; i++) {
        const float *xi = sh->x + rows[i] * d;
        memcpy(s.x + (int64_t)i * d, xi, (size_t)d * sizeof(float));
        s.sq[i] = kn__svm_sqnorm(xi, d);
        s.y[i] = y[i];
        s.C[i] = C[i];
        s.p[i] = p ? p[i] : -1.0;
        s.QD[i] = kn__svm_kernel_self(&sh->kp, (double)s.sq[i]);
    }
    solve(&s, alpha_out, rho, obj, iters);
    kn__svm_shared_free(sh, mem);
    return true;
}
