/* logistic_lbfgs.c — the minimizers of logistic regression's objective (logistic_loss.c):
 * L-BFGS with a Moré-Thuente line search, as scipy's L-BFGS-B runs it on an unbounded problem
 * (10 corrections, the same steps, stopping rule and iteration counts), for l2 and none, and
 * OWL-QN for l1; each asks the objective for values and gradients along a line. */
#include "classic/logistic.h"

#include <float.h>
#include <math.h>
#include <string.h>

enum {
    MAX_LINE_SEARCH = 20 /* evaluations in one line search (scipy's maxls) */
};
#define FTOL 2.220446049250313e-09       /* scipy minimize(method="L-BFGS-B")'s default ftol */

/* ------------------------------------------------------------------ Moré-Thuente line search */

/* MINPACK-2's dcsrch / dcstep (Moré and Thuente 1994), as scipy's L-BFGS-B calls them, in
 * reverse communication: start with ls_start, then after each evaluation at *stp call
 * ls_next, which returns LS_EVAL with the next step in *stp, or LS_DONE (sufficient decrease
 * and curvature, or a rounding / interval warning that L-BFGS-B also accepts). */
typedef struct line_search {
    double ftol, gtol, xtol, stpmin, stpmax;
    double finit, ginit, gtest, width, width1;
    double stx, fx, gx, sty, fy, gy, stmin, stmax;
    bool brackt;
    int stage;
} line_search;

enum { LS_EVAL, LS_DONE, LS_ERROR };

static void dcstep(double *stx, double *fx, double *dx, double *sty, double *fy, double *dy, double *stp,
                   double fp, double dp, bool *brackt, double stpmin, double stpmax) {
    double sgnd = dp * (*dx / fabs(*dx)), stpf, stpc, stpq, theta, s, gamma, p, q, r;
    if (fp > *fx) { /* higher function value: the minimum is bracketed */
        theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        s = fmax(fabs(theta), fmax(fabs(*dx), fabs(dp)));
        gamma = s * sqrt((theta / s) * (theta / s) - (*dx / s) * (dp / s));
        if (*stp < *stx) gamma = -gamma;
        p = (gamma - *dx) + theta;
        q = ((gamma - *dx) + gamma) + dp;
        r = p / q;
        stpc = *stx + r * (*stp - *stx);
        stpq = *stx + ((*dx / ((*fx - fp) / (*stp - *stx) + *dx)) / 2.0) * (*stp - *stx);
        if (fabs(stpc - *stx) < fabs(stpq - *stx)) stpf = stpc;
        else stpf = stpc + (stpq - stpc) / 2.0;
        *brackt = true;
    } else if (sgnd < 0) { /* derivatives of opposite sign: bracketed */
        theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        s = fmax(fabs(theta), fmax(fabs(*dx), fabs(dp)));
        gamma = s * sqrt((theta / s) * (theta / s) - (*dx / s) * (dp / s));
        if (*stp > *stx) gamma = -gamma;
        p = (gamma - dp) + theta;
        q = ((gamma - dp) + gamma) + *dx;
        r = p / q;
        stpc = *stp + r * (*stx - *stp);
        stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        stpf = fabs(stpc - *stp) > fabs(stpq - *stp) ? stpc : stpq;
        *brackt = true;
    } else if (fabs(dp) < fabs(*dx)) { /* same sign, the derivative's magnitude falls */
        theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        s = fmax(fabs(theta), fmax(fabs(*dx), fabs(dp)));
        gamma = s * sqrt(fmax(0.0, (theta / s) * (theta / s) - (*dx / s) * (dp / s)));
        if (*stp > *stx) gamma = -gamma;
        p = (gamma - dp) + theta;
        q = (gamma + (*dx - dp)) + gamma;
        r = p / q;
        if (r < 0 && gamma != 0) stpc = *stp + r * (*stx - *stp);
        else if (*stp > *stx) stpc = stpmax;
        else stpc = stpmin;
        stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        if (*brackt) {
            stpf = fabs(stpc - *stp) < fabs(stpq - *stp) ? stpc : stpq;
            if (*stp > *stx) stpf = fmin(*stp + 0.66 * (*sty - *stp), stpf);
            else stpf = fmax(*stp + 0.66 * (*sty - *stp), stpf);
        } else {
            stpf = fabs(stpc - *stp) > fabs(stpq - *stp) ? stpc : stpq;
            stpf = fmin(stpmax, stpf);
            stpf = fmax(stpmin, stpf);
        }
    } else { /* same sign, the derivative does not fall */
        if (*brackt) {
            theta = 3.0 * (fp - *fy) / (*sty - *stp) + *dy + dp;
            s = fmax(fabs(theta), fmax(fabs(*dy), fabs(dp)));
            gamma = s * sqrt((theta / s) * (theta / s) - (*dy / s) * (dp / s));
            if (*stp > *sty) gamma = -gamma;
            p = (gamma - dp) + theta;
            q = ((gamma - dp) + gamma) + *dy;
            r = p / q;
            stpc = *stp + r * (*sty - *stp);
            stpf = stpc;
        } else if (*stp > *stx) {
            stpf = stpmax;
        } else {
            stpf = stpmin;
        }
    }
    if (fp > *fx) {
        *sty = *stp;
        *fy = fp;
        *dy = dp;
    } else {
        if (sgnd < 0) {
            *sty = *stx;
            *fy = *fx;
            *dy = *dx;
        }
        *stx = *stp;
        *fx = fp;
        *dx = dp;
    }
    *stp = stpf;
}

static int ls_start(line_search *ls, double f, double g, double stp) {
    if (stp < ls->stpmin || stp > ls->stpmax || g >= 0) return LS_ERROR;
    ls->brackt = false;
    ls->stage = 1;
    ls->finit = f;
    ls->ginit = g;
    ls->gtest = ls->ftol * g;
    ls->width = ls->stpmax - ls->stpmin;
    ls->width1 = ls->width / 0.5;
    ls->stx = 0;
    ls->fx = f;
    ls->gx = g;
    ls->sty = 0;
    ls->fy = f;
    ls->gy = g;
    ls->stmin = 0;
    ls->stmax = stp + 4.0 * stp;
    return LS_EVAL;
}

static int ls_next(line_search *ls, double f, double g, double *stp) {
    const double xtrapl = 1.1, xtrapu = 4.0;
    double ftest = ls->finit + *stp * ls->gtest;
    if (ls->stage == 1 && f <= ftest && g >= 0) ls->stage = 2;
    /* warnings: L-BFGS-B takes the step as it is */
    if (ls->brackt && (*stp <= ls->stmin || *stp >= ls->stmax)) return LS_DONE;
    if (ls->brackt && ls->stmax - ls->stmin <= ls->xtol * ls->stmax) return LS_DONE;
    if (*stp == ls->stpmax && f <= ftest && g <= ls->gtest) return LS_DONE;
    if (*stp == ls->stpmin && (f > ftest || g >= ls->gtest)) return LS_DONE;
    if (f <= ftest && fabs(g) <= ls->gtol * (-ls->ginit)) return LS_DONE; /* converged */
    if (ls->stage == 1 && f <= ls->fx && f > ftest) {
        /* the modified function psi(stp) = f(stp) - f(0) - ftest*stp until a step has both */
        double fm = f - *stp * ls->gtest, fxm = ls->fx - ls->stx * ls->gtest, fym = ls->fy - ls->sty * ls->gtest;
        double gm = g - ls->gtest, gxm = ls->gx - ls->gtest, gym = ls->gy - ls->gtest;
        dcstep(&ls->stx, &fxm, &gxm, &ls->sty, &fym, &gym, stp, fm, gm, &ls->brackt, ls->stmin, ls->stmax);
        ls->fx = fxm + ls->stx * ls->gtest;
        ls->fy = fym + ls->sty * ls->gtest;
        ls->gx = gxm + ls->gtest;
        ls->gy = gym + ls->gtest;
    } else {
        dcstep(&ls->stx, &ls->fx, &ls->gx, &ls->sty, &ls->fy, &ls->gy, stp, f, g, &ls->brackt, ls->stmin, ls->stmax);
    }
    if (ls->brackt) {
        if (fabs(ls->sty - ls->stx) >= 0.66 * ls->width1) *stp = ls->stx + 0.5 * (ls->sty - ls->stx);
        ls->width1 = ls->width;
        ls->width = fabs(ls->sty - ls->stx);
        ls->stmin = fmin(ls->stx, ls->sty);
        ls->stmax = fmax(ls->stx, ls->sty);
    } else {
        ls->stmin = *stp + xtrapl * (*stp - ls->stx);
        ls->stmax = *stp + xtrapu * (*stp - ls->stx);
    }
    *stp = fmax(*stp, ls->stpmin);
    *stp = fmin(*stp, ls->stpmax);
    if ((ls->brackt && (*stp <= ls->stmin || *stp >= ls->stmax)) ||
        (ls->brackt && ls->stmax - ls->stmin <= ls->xtol * ls->stmax))
        *stp = ls->stx;
    return LS_EVAL;
}

/* ------------------------------------------------------------------ L-BFGS memory */

static void memory_push(kn__logreg_memory *m, const double *s, const double *y, double sy, double yy) {
    memcpy(m->s + m->head * m->size, s, (size_t)m->size * sizeof *s);
    memcpy(m->y + m->head * m->size, y, (size_t)m->size * sizeof *y);
    m->rho[m->head] = 1.0 / sy;
    m->gamma = sy / yy;
    m->head = (m->head + 1) % MEMORY;
    if (m->count < MEMORY) m->count++;
}

/* d = -H g by the two-loop recursion (d = -g with no pairs, as L-BFGS-B's theta = 1). */
static void memory_direction(kn__logreg_memory *m, const double *g, double *d) {
    int64_t n = m->size;
    for (int64_t j = 0; j < n; j++) d[j] = -g[j];
    if (m->count == 0) return;
    for (int q = 0; q < m->count; q++) {
        int slot = (m->head - 1 - q + 2 * MEMORY) % MEMORY;
        m->alpha[slot] = m->rho[slot] * kn__logreg_dot(m->s + slot * n, d, n);
        const double *y = m->y + slot * n;
        for (int64_t j = 0; j < n; j++) d[j] -= m->alpha[slot] * y[j];
    }
    for (int64_t j = 0; j < n; j++) d[j] *= m->gamma;
    for (int q = m->count - 1; q >= 0; q--) {
        int slot = (m->head - 1 - q + 2 * MEMORY) % MEMORY;
        double beta = m->rho[slot] * kn__logreg_dot(m->y + slot * n, d, n);
        const double *s = m->s + slot * n;
        for (int64_t j = 0; j < n; j++) d[j] += (m->alpha[slot] - beta) * s[j];
    }
}

/* ------------------------------------------------------------------ L-BFGS (l2, none) and OWL-QN (l1) */
/* scipy's L-BFGS-B on an unbounded problem: the first step is 1/||d|| along -g, later ones
 * start at 1; a failed line search (20 evaluations, or an ascent direction) restarts from
 * the steepest descent with an empty memory, and stops the solve when the memory was
 * already empty. Corrections with s'y <= eps * (-g0'd) are skipped. */
kn__logreg_solve_result kn__logreg_lbfgs(kn__logreg_objective_fn *ob, kn__logreg_work *wk, double *theta, int max_iter,
                                         double tol) {
    int64_t n = ob->size;
    kn__logreg_solve_result res = {0, false};
    double f = kn__logreg_evaluate(ob, theta, theta, 1.0, wk->g); /* z0 = 0 at the start: z = X theta */
    kn__logreg_accept_trial(ob->pb);
    if (kn__logreg_max_abs(wk->g, n) <= tol) return (kn__logreg_solve_result){0, true};
    wk->mem.count = wk->mem.head = 0;
    while (res.iterations < max_iter) {
        memory_direction(&wk->mem, wk->g, wk->d);
        double gd = kn__logreg_dot(wk->g, wk->d, n);
        if (!(gd < 0)) {
            if (wk->mem.count == 0) break; /* not even -g descends: rounding has taken over */
            wk->mem.count = wk->mem.head = 0;
            continue;
        }
        double stp = res.iterations == 0 ? fmin(1.0 / sqrt(kn__logreg_dot(wk->d, wk->d, n)), 1e10) : 1.0;
        double f0 = f, gd0 = gd;
        memcpy(wk->x0, theta, (size_t)n * sizeof *theta);
        memcpy(wk->g0, wk->g, (size_t)n * sizeof *theta);
        line_search ls = {.ftol = 1e-3, .gtol = 0.9, .xtol = 0.1, .stpmin = 0, .stpmax = 1e10};
        int state = ls_start(&ls, f, gd, stp), evals = 0;
        while (state == LS_EVAL && evals < MAX_LINE_SEARCH) {
            for (int64_t j = 0; j < n; j++) theta[j] = wk->x0[j] + stp * wk->d[j];
            f = kn__logreg_evaluate(ob, theta, evals == 0 ? wk->d : NULL, stp, wk->g); /* X d once a line */
            evals++;
            gd = kn__logreg_dot(wk->g, wk->d, n);
            state = ls_next(&ls, f, gd, &stp);
        }
        if (state != LS_DONE || !isfinite(f)) { /* back to x0; restart, or stop if just restarted */
            memcpy(theta, wk->x0, (size_t)n * sizeof *theta);
            memcpy(wk->g, wk->g0, (size_t)n * sizeof *theta);
            f = f0;
            if (wk->mem.count == 0) break;
            wk->mem.count = wk->mem.head = 0;
            continue;
        }
        kn__logreg_accept_trial(ob->pb);
        res.iterations++;
        if (kn__logreg_max_abs(wk->g, n) <= tol) {
            res.converged = true;
            break;
        }
        if (f0 - f <= FTOL * fmax(fmax(fabs(f0), fabs(f)), 1.0)) {
            res.converged = true;
            break;
        }
        for (int64_t j = 0; j < n; j++) {
            wk->s[j] = theta[j] - wk->x0[j];
            wk->y[j] = wk->g[j] - wk->g0[j];
        }
        double sy = kn__logreg_dot(wk->s, wk->y, n), yy = kn__logreg_dot(wk->y, wk->y, n);
        if (sy > DBL_EPSILON * (-gd0 * stp)) memory_push(&wk->mem, wk->s, wk->y, sy, yy);
    }
    return res;
}

/* The pseudo-gradient of f + lambda ||theta[0..np)||_1 (the steepest-descent direction's
 * negative): for a zero coefficient, the side whose one-sided derivative falls, or 0. */
static void pseudo_gradient(const double *theta, const double *g, double lambda, int64_t np, int64_t n, double *pg) {
    for (int64_t j = 0; j < n; j++) {
        if (j >= np) pg[j] = g[j];
        else if (theta[j] > 0) pg[j] = g[j] + lambda;
        else if (theta[j] < 0) pg[j] = g[j] - lambda;
        else if (g[j] + lambda < 0) pg[j] = g[j] + lambda;
        else if (g[j] - lambda > 0) pg[j] = g[j] - lambda;
        else pg[j] = 0;
    }
}

/* OWL-QN (Andrew and Gao 2007): L-BFGS on the smooth part, the direction from the
 * pseudo-gradient kept to its orthant, steps projected onto the orthant (coefficients that
 * would cross zero stop at zero), backtracking until f falls by 1e-4 of the pseudo-gradient's
 * prediction. Same stopping rule as lbfgs on the pseudo-gradient. */
kn__logreg_solve_result kn__logreg_owlqn(kn__logreg_objective_fn *ob, kn__logreg_work *wk, double *theta, int max_iter,
                                         double tol) {
    int64_t n = ob->size, np = ob->n_penalized;
    double lam = ob->lambda;
    kn__logreg_solve_result res = {0, false};
    double f = kn__logreg_evaluate(ob, theta, theta, 1.0, wk->g) + lam * kn__logreg_l1_norm(theta, np);
    kn__logreg_accept_trial(ob->pb);
    pseudo_gradient(theta, wk->g, lam, np, n, wk->pg);
    if (kn__logreg_max_abs(wk->pg, n) <= tol) return (kn__logreg_solve_result){0, true};
    wk->mem.count = wk->mem.head = 0;
    while (res.iterations < max_iter) {
        memory_direction(&wk->mem, wk->pg, wk->d);
        for (int64_t j = 0; j < np; j++)
            if (wk->d[j] * wk->pg[j] >= 0) wk->d[j] = 0;
        double pgd = kn__logreg_dot(wk->pg, wk->d, n);
        if (!(pgd < 0)) {
            if (wk->mem.count == 0) break;
            wk->mem.count = wk->mem.head = 0;
            continue;
        }
        double stp =
            res.iterations == 0 && wk->mem.count == 0 ? fmin(1.0 / sqrt(kn__logreg_dot(wk->d, wk->d, n)), 1e10) : 1.0;
        double f0 = f;
        memcpy(wk->x0, theta, (size_t)n * sizeof *theta);
        memcpy(wk->g0, wk->g, (size_t)n * sizeof *theta);
        bool accepted = false;
        for (int evals = 0; evals < MAX_LINE_SEARCH; evals++, stp *= 0.5) {
            double pred = 0;
            for (int64_t j = 0; j < n; j++) {
                double x = wk->x0[j] + stp * wk->d[j];
                if (j < np) { /* the orthant: x0's sign, or the descent side for a zero */
                    double orth = wk->x0[j] != 0 ? wk->x0[j] : -wk->pg[j];
                    if (x * orth <= 0) x = 0;
                }
                theta[j] = x;
                wk->s[j] = x - wk->x0[j];
                pred += wk->pg[j] * wk->s[j];
            }
            f = kn__logreg_evaluate(ob, theta, wk->s, 1.0, wk->g) + lam * kn__logreg_l1_norm(theta, np);
            if (isfinite(f) && f <= f0 + 1e-4 * pred) {
                accepted = true;
                break;
            }
        }
        if (!accepted) {
            memcpy(theta, wk->x0, (size_t)n * sizeof *theta);
            memcpy(wk->g, wk->g0, (size_t)n * sizeof *theta);
            f = f0;
            if (wk->mem.count == 0) break;
            wk->mem.count = wk->mem.head = 0;
            pseudo_gradient(theta, wk->g, lam, np, n, wk->pg);
            continue;
        }
        kn__logreg_accept_trial(ob->pb);
        res.iterations++;
        pseudo_gradient(theta, wk->g, lam, np, n, wk->pg);
        if (kn__logreg_max_abs(wk->pg, n) <= tol || f0 - f <= FTOL * fmax(fmax(fabs(f0), fabs(f)), 1.0)) {
            res.converged = true;
            break;
        }
        for (int64_t j = 0; j < n; j++) {
            wk->s[j] = theta[j] - wk->x0[j];
            wk->y[j] = wk->g[j] - wk->g0[j];
        }
        double sy = kn__logreg_dot(wk->s, wk->y, n), yy = kn__logreg_dot(wk->y, wk->y, n);
        if (sy > DBL_EPSILON * yy) memory_push(&wk->mem, wk->s, wk->y, sy, yy);
    }
    return res;
}

void kn__logreg_work_free(kn_ctx *ctx, kn__logreg_work *wk) {
    kn__free(ctx, wk->g);
    kn__free(ctx, wk->x0);
    kn__free(ctx, wk->g0);
    kn__free(ctx, wk->d);
    kn__free(ctx, wk->s);
    kn__free(ctx, wk->y);
    kn__free(ctx, wk->pg);
    kn__free(ctx, wk->mem.s);
    kn__free(ctx, wk->mem.y);
    memset(wk, 0, sizeof *wk);
}

kn_status kn__logreg_work_init(kn_ctx *ctx, kn__logreg_work *wk, int64_t n) {
    memset(wk, 0, sizeof *wk);
    size_t b = (size_t)n * sizeof(double);
    wk->g = kn__alloc(ctx, b);
    wk->x0 = kn__alloc(ctx, b);
    wk->g0 = kn__alloc(ctx, b);
    wk->d = kn__alloc(ctx, b);
    wk->s = kn__alloc(ctx, b);
    wk->y = kn__alloc(ctx, b);
    wk->pg = kn__alloc(ctx, b);
    wk->mem.s = kn__alloc(ctx, MEMORY * b);
    wk->mem.y = kn__alloc(ctx, MEMORY * b);
    wk->mem.size = n;
    if (!wk->g || !wk->x0 || !wk->g0 || !wk->d || !wk->s || !wk->y || !wk->pg || !wk->mem.s || !wk->mem.y) {
        kn__logreg_work_free(ctx, wk);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, WHO ": out of memory for the optimizer (%lld parameters)", (long long)n);
    }
    return KN_OK;
}
