/* schedule.c — learning-rate schedules: the rate of optimizer step `step` from the base
 * rate, written to give the numbers Keras's LearningRateSchedule classes and PyTorch's
 * schedulers give (tests/test_schedule.c compares them with values PyTorch produced,
 * tests/golden/schedules.txt). Everything is in double; Keras computes in the dtype of
 * initial_learning_rate (float32 unless told otherwise), so it agrees with kiln to float32
 * rounding, PyTorch (Python floats) to double rounding.
 *
 * Out-of-range settings are made harmless rather than reported, because a rate is asked
 * for every step and has no way to fail: a total or decay length <= 0 counts as 1 step,
 * a divisor <= 0 as 1. Valid settings never give NaN. */
#include "core/core.h"

#include <math.h>
#include <string.h>

/* math.pi, as Keras and PyTorch use it (M_PI is not in strict C11). */
static const double pi = 3.14159265358979323846;

static const char *schedule_names[] = {
    [KN_SCHEDULE_CONSTANT] = "constant", [KN_SCHEDULE_STEP] = "step",
    [KN_SCHEDULE_EXPONENTIAL] = "exponential", [KN_SCHEDULE_COSINE] = "cosine",
    [KN_SCHEDULE_POLYNOMIAL] = "polynomial", [KN_SCHEDULE_ONE_CYCLE] = "one_cycle",
    [KN_SCHEDULE_INVERSE_TIME] = "inverse_time", [KN_SCHEDULE_PIECEWISE_CONSTANT] = "piecewise_constant",
    [KN_SCHEDULE_MULTI_STEP] = "multi_step",
};
_Static_assert(sizeof schedule_names / sizeof *schedule_names == KN_SCHEDULE_COUNT, "schedule names");

const char *kn_schedule_name(kn_schedule_kind kind) {
    return (unsigned)kind < KN_SCHEDULE_COUNT ? schedule_names[kind] : "?";
}

bool kn_schedule_parse(const char *name, kn_schedule_kind *out) {
    if (!name) return false;
    for (int i = 0; i < KN_SCHEDULE_COUNT; i++)
        if (strcmp(schedule_names[i], name) == 0) {
            *out = (kn_schedule_kind)i;
            return true;
        }
    return false;
}

kn_schedule kn_schedule_default(kn_schedule_kind kind) {
    kn_schedule s = {.kind = kind};
    switch (kind) {
    case KN_SCHEDULE_STEP: s.decay_rate = 0.1; break;         /* torch StepLR gamma */
    case KN_SCHEDULE_EXPONENTIAL: s.decay_rate = 0.96; break; /* the Keras docs' example */
    case KN_SCHEDULE_COSINE: s.m_mul = 1; break;              /* alpha 0; t_mul 0: no restarts */
    case KN_SCHEDULE_POLYNOMIAL:                              /* Keras PolynomialDecay */
        s.end_learning_rate = 1e-4;
        s.power = 1;
        break;
    case KN_SCHEDULE_ONE_CYCLE: /* torch OneCycleLR; max_learning_rate 0: the caller's base */
        s.pct_start = 0.3;
        s.div_factor = 25;
        s.final_div_factor = 1e4;
        break;
    case KN_SCHEDULE_INVERSE_TIME: s.decay_rate = 0.5; break; /* the Keras docs' example */
    case KN_SCHEDULE_MULTI_STEP: s.decay_rate = 0.1; break;   /* torch MultiStepLR gamma */
    default: break;
    }
    return s;
}

kn_status kn_schedule_check(const kn_schedule *s, const char **why) {
    const char *w = NULL;
    if ((unsigned)s->kind >= KN_SCHEDULE_COUNT) w = "schedule.type: unknown kind";
    else if (s->warmup_steps < 0 || s->decay_steps < 0) w = "schedule: negative warmup_steps or decay_steps";
    else if (s->n_boundaries < 0 || s->n_boundaries > KN_SCHEDULE_MAX_BOUNDARIES)
        w = "schedule.boundaries: more than 32 (KN_SCHEDULE_MAX_BOUNDARIES)";
    else if (s->kind == KN_SCHEDULE_PIECEWISE_CONSTANT && s->n_boundaries < 1)
        w = "schedule.boundaries: piecewise_constant needs at least one boundary, and its values";
    for (int i = 0; !w && i < s->n_boundaries; i++)
        if (s->boundaries[i] < 0 || (i && s->boundaries[i] <= s->boundaries[i - 1]))
            w = s->kind == KN_SCHEDULE_MULTI_STEP ? "schedule.milestones: not increasing steps >= 0"
                                                  : "schedule.boundaries: not increasing steps >= 0";
    for (int i = 0; !w && s->kind == KN_SCHEDULE_PIECEWISE_CONSTANT && i <= s->n_boundaries; i++)
        if (!(s->values[i] > 0) || !isfinite(s->values[i])) w = "schedule.values: a rate not finite and > 0";
    if (why) *why = w;
    return w ? KN_ERR_INVALID_ARGUMENT : KN_OK;
}

/* Keras PiecewiseConstantDecay's interval: the first boundary step is at or below. */
static double piecewise(const kn_schedule *s, int64_t step) {
    int i = 0;
    while (i < s->n_boundaries && step > s->boundaries[i]) i++;
    return s->values[i];
}

/* torch MultiStepLR: the milestones reached, each a factor of gamma (decay_rate). */
static double multi_step(const kn_schedule *s, double base, int64_t step) {
    int reached = 0;
    while (reached < s->n_boundaries && step >= s->boundaries[reached]) reached++;
    return base * pow(s->decay_rate, (double)reached);
}

/* Keras CosineDecay: p = min(step, decay_steps) / decay_steps, so the rate stays at
 * alpha * base after the decay. (torch's CosineAnnealingLR gives the same values up to
 * T_max = decay_steps but then rises again: it is a cosine of period 2 T_max.) */
static double cosine_decay(double base, double alpha, int64_t step, int64_t decay_steps) {
    double fraction = (double)(step < decay_steps ? step : decay_steps) / (double)decay_steps;
    double cosine_decayed = 0.5 * (1.0 + cos(pi * fraction));
    return base * ((1 - alpha) * cosine_decayed + alpha);
}

/* Keras CosineDecayRestarts. With the periods first, first*t_mul, first*t_mul^2, ...,
 * period i starts at fraction (step / first) sum_r(i) = (1 - t_mul^i) / (1 - t_mul), the
 * geometric series; Keras finds i as floor(log(1 - fraction * (1 - t_mul)) / log(t_mul))
 * and scales the cosine by m_mul^i (alpha is not scaled). Exactly on a boundary that floor
 * can land one period early through rounding (t_mul 3: log(243) / log(3) is
 * 4.9999999999999991), turning the restart at step 121 * first into the bottom of the
 * previous period. kiln therefore settles i by comparing fraction with sum_r directly,
 * counting a fraction within a rounding error of a boundary as on it, as torch's
 * CosineAnnealingWarmRestarts (which counts steps) has it. Elsewhere the result is
 * Keras's, operation for operation. */
static double geometric_sum(double t_mul, double i) { return (1.0 - pow(t_mul, i)) / (1.0 - t_mul); }

static double cosine_restarts(const kn_schedule *s, double base, int64_t step, int64_t first) {
    double fraction = (double)step / (double)first, i_restart;
    if (s->t_mul == 1.0) {
        i_restart = floor(fraction);
        fraction -= i_restart;
    } else {
        double x = 1.0 - fraction * (1.0 - s->t_mul);
        /* t_mul < 1: the periods shrink and all of them together last first / (1 - t_mul)
         * steps; past that there is no period left: stay at the floor of the decay. */
        if (x <= 0) return base * s->alpha;
        i_restart = floor(log(x) / log(s->t_mul));
        if (!(i_restart >= 0)) i_restart = 0;
        double eps = 1e-12 * (fraction > 1 ? fraction : 1);
        /* The log's estimate is off by at most one; two tries each way are plenty. */
        for (int fix = 0; fix < 2 && i_restart > 0 && fraction < geometric_sum(s->t_mul, i_restart) - eps; fix++)
            i_restart -= 1;
        for (int fix = 0; fix < 2 && fraction >= geometric_sum(s->t_mul, i_restart + 1) - eps; fix++)
            i_restart += 1;
        fraction = (fraction - geometric_sum(s->t_mul, i_restart)) / pow(s->t_mul, i_restart);
        if (fraction < 0) fraction = 0; /* a boundary counted as reached */
    }
    double m_fac = pow(s->m_mul, i_restart);
    double cosine_decayed = 0.5 * m_fac * (1.0 + cos(pi * fraction));
    double rate = base * ((1 - s->alpha) * cosine_decayed + s->alpha);
    /* Only t_mul < 1 can get here non-finite (periods shorter than a rounding error near
     * their limit); the rate there is the floor the decay tends to. */
    return isfinite(rate) ? rate : base * s->alpha;
}

/* torch OneCycleLR, two phases, anneal_strategy 'cos': phase one ends at step
 * pct_start * total - 1 (a float, as torch keeps it), phase two at total - 1. Steps past
 * the end stay at the final rate (torch raises there). torch divides by zero when a phase
 * has no length (pct_start * total == 1); kiln takes such a phase as finished. */
static double anneal_cos(double start, double end, double pct) {
    return end + (start - end) / 2.0 * (cos(pi * pct) + 1);
}

static double one_cycle(const kn_schedule *s, double base, int64_t step, int64_t total) {
    double max_lr = s->max_learning_rate > 0 ? s->max_learning_rate : base;
    double div = s->div_factor > 0 ? s->div_factor : 1, final_div = s->final_div_factor > 0 ? s->final_div_factor : 1;
    double initial_lr = max_lr / div, min_lr = initial_lr / final_div;
    if (step > total - 1) step = total - 1;
    double up_end = s->pct_start * (double)total - 1, down_end = (double)total - 1;
    double t = (double)step;
    if (t <= up_end) return anneal_cos(initial_lr, max_lr, up_end > 0 ? t / up_end : 1.0);
    return anneal_cos(max_lr, min_lr, down_end > up_end ? (t - up_end) / (down_end - up_end) : 1.0);
}

double kn_schedule_rate(const kn_schedule *s, double base_lr, int64_t step, int64_t total_steps) {
    if (step < 0) step = 0;
    int64_t warmup = s->warmup_steps > 0 ? s->warmup_steps : 0;
    /* kiln.h's rule for every kind, one_cycle included, where it rises to base_lr and the
     * cycle then starts at max / div_factor: one_cycle has its own rise (pct_start). */
    if (step < warmup) return base_lr * (double)(step + 1) / (double)warmup;
    /* The schedule proper runs on its own clock, from the end of warm-up. */
    step -= warmup;
    int64_t run = total_steps - warmup;
    if (run < 1) run = 1;
    /* decay_steps 0: the whole run for cosine and polynomial; one step for step and
     * exponential decay, where "the whole run" would mean no decay at all. */
    int64_t decay_steps = s->decay_steps > 0 ? s->decay_steps : 0;

    switch (s->kind) {
    case KN_SCHEDULE_CONSTANT: return base_lr;
    case KN_SCHEDULE_STEP:
        if (decay_steps == 0) decay_steps = 1;
        return base_lr * pow(s->decay_rate, (double)(step / decay_steps));
    case KN_SCHEDULE_EXPONENTIAL: {
        if (decay_steps == 0) decay_steps = 1;
        double p = (double)step / (double)decay_steps;
        if (s->staircase) p = floor(p);
        return base_lr * pow(s->decay_rate, p);
    }
    case KN_SCHEDULE_COSINE:
        if (decay_steps == 0) decay_steps = run;
        return s->t_mul > 0 ? cosine_restarts(s, base_lr, step, decay_steps)
                            : cosine_decay(base_lr, s->alpha, step, decay_steps);
    case KN_SCHEDULE_POLYNOMIAL: {
        if (decay_steps == 0) decay_steps = run;
        double p = (double)(step < decay_steps ? step : decay_steps) / (double)decay_steps;
        return (base_lr - s->end_learning_rate) * pow(1 - p, s->power) + s->end_learning_rate;
    }
    case KN_SCHEDULE_ONE_CYCLE: return one_cycle(s, base_lr, step, run);
    case KN_SCHEDULE_INVERSE_TIME: {
        if (decay_steps == 0) decay_steps = 1;
        double p = (double)step / (double)decay_steps;
        if (s->staircase) p = floor(p);
        double denominator = 1.0 + s->decay_rate * p;
        return denominator > 0 ? base_lr / denominator : base_lr; /* (decay_rate < 0: out of range) */
    }
    case KN_SCHEDULE_PIECEWISE_CONSTANT: {
        if (s->n_boundaries < 1 || s->n_boundaries > KN_SCHEDULE_MAX_BOUNDARIES) return base_lr;
        double r = piecewise(s, step);
        return isfinite(r) && r >= 0 ? r : base_lr;
    }
    case KN_SCHEDULE_MULTI_STEP:
        if (s->n_boundaries < 0 || s->n_boundaries > KN_SCHEDULE_MAX_BOUNDARIES) return base_lr;
        return multi_step(s, base_lr, step);
    default: return base_lr;
    }
}
