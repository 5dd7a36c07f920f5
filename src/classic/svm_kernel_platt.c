/* svm_kernel_platt.c — the kernel SVM's probabilities, as LIBSVM's: per pair, decision
 * values from an internal 5-fold CV and Platt's sigmoid fitted to them (Lin, Lin and Weng);
 * at prediction, the pairwise probabilities coupled into class probabilities (Wu, Lin and
 * Weng's method 2). */
#include "classic/svm_kernel.h"

#include <math.h>
#include <string.h>

#include "backend/cpu/sgemm.h"

/* ------------------------------------------------------------------ Platt scaling */

/* Platt's sigmoid P(y = 1 | f) = 1 / (1 + exp(A f + B)) fitted by Newton's method with
 * backtracking (Lin, Lin and Weng 2007; LIBSVM's sigmoid_train). */
static void sigmoid_train(int64_t l, const double *dec, const int8_t *labels, double *a_out, double *b_out) {
    double prior1 = 0, prior0 = 0;
    for (int64_t i = 0; i < l; i++) labels[i] > 0 ? prior1++ : prior0++;
    const int max_iter = 100;
    const double min_step = 1e-10, sigma = 1e-12, eps = 1e-5;
    const double hi = (prior1 + 1.0) / (prior1 + 2.0), lo = 1 / (prior0 + 2.0);
    double A = 0.0, B = log((prior0 + 1.0) / (prior1 + 1.0)), fval = 0.0;
#define TARGET(i) (labels[i] > 0 ? hi : lo)
    for (int64_t i = 0; i < l; i++) {
        double f = dec[i] * A + B, t = TARGET(i);
        fval += f >= 0 ? t * f + log(1 + exp(-f)) : (t - 1) * f + log(1 + exp(f));
    }
    for (int iter = 0; iter < max_iter; iter++) {
        double h11 = sigma, h22 = sigma, h21 = 0, g1 = 0, g2 = 0;
        for (int64_t i = 0; i < l; i++) {
            double f = dec[i] * A + B, p, q;
            if (f >= 0) {
                p = exp(-f) / (1.0 + exp(-f));
                q = 1.0 / (1.0 + exp(-f));
            } else {
                p = 1.0 / (1.0 + exp(f));
                q = exp(f) / (1.0 + exp(f));
            }
            double d2 = p * q, d1 = TARGET(i) - p;
            h11 += dec[i] * dec[i] * d2;
            h22 += d2;
            h21 += dec[i] * d2;
            g1 += dec[i] * d1;
            g2 += d1;
        }
        if (fabs(g1) < eps && fabs(g2) < eps) break;
        double det = h11 * h22 - h21 * h21;
        double dA = -(h22 * g1 - h21 * g2) / det, dB = -(-h21 * g1 + h11 * g2) / det;
        double gd = g1 * dA + g2 * dB, step = 1;
        while (step >= min_step) {
            double na = A + step * dA, nbv = B + step * dB, nf = 0;
            for (int64_t i = 0; i < l; i++) {
                double f = dec[i] * na + nbv, t = TARGET(i);
                nf += f >= 0 ? t * f + log(1 + exp(-f)) : (t - 1) * f + log(1 + exp(f));
            }
            if (nf < fval + 0.0001 * step * gd) {
                A = na, B = nbv, fval = nf;
                break;
            }
            step /= 2;
        }
        if (step < min_step) break; /* line search failed: keep the last point, as LIBSVM */
    }
#undef TARGET
    *a_out = A;
    *b_out = B;
}

double kn__svm_sigmoid_predict(double f, double A, double B) {
    double fab = f * A + B;
    return fab >= 0 ? exp(-fab) / (1.0 + exp(-fab)) : 1.0 / (1 + exp(fab));
}

/* Decision values of rows test[0..m) under the binary solution (rows, coef = y alpha, rho):
 * dec[t] = sum_s coef_s K(x_s, x_t) - rho. Returns false when out of memory. */
static bool binary_decision(kn__svm_shared *sh, const int64_t *rows, const double *coef, int32_t l, double rho,
                            const int64_t *test, int64_t m, double *dec) {
    const int64_t d = sh->d;
    int32_t nsv = 0;
    for (int32_t i = 0; i < l; i++) nsv += coef[i] != 0;
    enum { R = 64 };
    size_t bytes = ((size_t)nsv * (size_t)(d + 2) + (size_t)R * (size_t)(d + nsv)) * sizeof(float);
    float *mem = kn__svm_shared_alloc(sh, bytes ? bytes : 1);
    if (!mem) return false;
    float *sv = mem, *sv_sq = sv + (int64_t)nsv * d, *cf = sv_sq + nsv, *xa = cf + nsv, *kb = xa + (int64_t)R * d;
    for (int32_t i = 0, q = 0; i < l; i++)
        if (coef[i] != 0) {
            memcpy(sv + (int64_t)q * d, sh->x + rows[i] * d, (size_t)d * sizeof(float));
            sv_sq[q] = kn__svm_sqnorm(sv + (int64_t)q * d, d);
            cf[q++] = (float)coef[i];
        }
    for (int64_t t0 = 0; t0 < m; t0 += R) {
        int64_t r = m - t0 < R ? m - t0 : R;
        for (int64_t t = 0; t < r; t++) memcpy(xa + t * d, sh->x + test[t0 + t] * d, (size_t)d * sizeof(float));
        // (r, d) x (nsv, d)^T -> (r, nsv)
        kn__sgemm(false, true, r, nsv, d, 1.0f, xa, d, sv, d, 0.0f, kb, nsv, 1);
        for (int64_t t = 0; t < r; t++) {
            kn__svm_kernel_map(&sh->kp, kb + t * nsv, nsv, kn__svm_sqnorm(xa + t * d, d), sv_sq);
            dec[t0 + t] = kn__svm_dot_ff(kb + t * nsv, cf, nsv) - rho;
        }
    }
    kn__svm_shared_free(sh, mem);
    return true;
}

/* LIBSVM's svm_binary_svc_probability: decision values from a 5-fold CV (folds from a
 * seeded permutation, stream KN_STREAM_SVM + 1, one counter range per pair), then Platt's
 * fit. Returns false when out of memory. */
bool kn__svm_binary_probability(kn__svm_shared *sh, const int64_t *rows, const int8_t *y, const double *C, int32_t l,
                               int64_t pair, double *prob_a, double *prob_b) {
    const int folds = 5;
    size_t bytes = (size_t)l * (2 * sizeof(int64_t) + 3 * sizeof(double) + sizeof(int8_t) + sizeof(int32_t));
    char *mem = kn__svm_shared_alloc(sh, bytes);
    if (!mem) return false;
    int64_t *sub_rows = (int64_t *)mem, *test = sub_rows + l;
    double *dec = (double *)(test + l), *sub_c = dec + l, *sub_alpha = sub_c + l;
    int32_t *perm = (int32_t *)(sub_alpha + l);
    int8_t *sub_y = (int8_t *)(perm + l);
    bool ok = true;
    for (int32_t i = 0; i < l; i++) perm[i] = i;
    for (int32_t i = 0; i < l; i++) {
        uint64_t r = kn__rng_u64(sh->o->seed, KN_STREAM_SVM + 1, ((uint64_t)pair << 32) | (uint64_t)i);
        int32_t j = i + (int32_t)(((unsigned __int128)r * (uint64_t)(l - i)) >> 64);
        SWAP(int32_t, perm[i], perm[j]);
    }
    for (int f = 0; ok && f < folds; f++) {
        int32_t begin = (int32_t)((int64_t)f * l / folds), end = (int32_t)((int64_t)(f + 1) * l / folds);
        int32_t k = 0, pos = 0, neg = 0;
        for (int32_t t = 0; t < l; t++) {
            if (t >= begin && t < end) continue;
            int32_t i = perm[t];
            sub_rows[k] = rows[i], sub_y[k] = y[i], sub_c[k] = C[i];
            y[i] > 0 ? pos++ : neg++;
            k++;
        }
        int64_t m = end - begin;
        for (int64_t t = 0; t < m; t++) test[t] = rows[perm[begin + t]];
        if (pos > 0 && neg > 0) {
            double rho, obj;
            int64_t it;
            ok = kn__svm_solve_svc(sh, sub_rows, sub_y, sub_c, k, sub_alpha, &rho, &obj, &it) &&
                 binary_decision(sh, sub_rows, sub_alpha, k, rho, test, m, dec + begin);
        } else {
            for (int64_t t = 0; t < m; t++) dec[begin + t] = pos > 0 ? 1 : neg > 0 ? -1 : 0;
        }
    }
    if (ok) {
        /* dec is in fold order; the labels in the same order */
        for (int32_t t = 0; t < l; t++) sub_y[t] = y[perm[t]];
        sigmoid_train(l, dec, sub_y, prob_a, prob_b);
    }
    kn__svm_shared_free(sh, mem);
    return ok;
}

/* Wu, Lin and Weng's method 2 (LIBSVM's multiclass_probability): class probabilities p (k)
 * from pairwise ones r (k, k). Q: (k, k) scratch, qp: (k). */
void kn__svm_multiclass_probability(int k, const double *r, double *p, double *Q, double *qp) {
    const int max_iter = k > 100 ? k : 100;
    const double eps = 0.005 / k;
    for (int t = 0; t < k; t++) {
        p[t] = 1.0 / k;
        Q[t * k + t] = 0;
        for (int j = 0; j < t; j++) {
            Q[t * k + t] += r[j * k + t] * r[j * k + t];
            Q[t * k + j] = Q[j * k + t];
        }
        for (int j = t + 1; j < k; j++) {
            Q[t * k + t] += r[j * k + t] * r[j * k + t];
            Q[t * k + j] = -r[j * k + t] * r[t * k + j];
        }
    }
    for (int iter = 0; iter < max_iter; iter++) {
        double pqp = 0, max_error = 0;
        for (int t = 0; t < k; t++) {
            qp[t] = 0;
            for (int j = 0; j < k; j++) qp[t] += Q[t * k + j] * p[j];
            pqp += p[t] * qp[t];
        }
        for (int t = 0; t < k; t++) max_error = fmax(max_error, fabs(qp[t] - pqp));
        if (max_error < eps) break;
        for (int t = 0; t < k; t++) {
            double diff = (-qp[t] + pqp) / Q[t * k + t];
            p[t] += diff;
            pqp = (pqp + diff * (diff * Q[t * k + t] + 2 * qp[t])) / (1 + diff) / (1 + diff);
            for (int j = 0; j < k; j++) {
                qp[j] = (qp[j] + diff * Q[t * k + j]) / (1 + diff);
                p[j] /= (1 + diff);
            }
        }
    }
}
