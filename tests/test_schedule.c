/* test_schedule.c — learning-rate schedules against the rates PyTorch's schedulers (and
 * Keras's formulas, where PyTorch has none) give, stored by
 * tests/golden/make_schedule_golden.py in tests/golden/schedules.txt; then the edges the
 * golden runs do not reach: names, warm-up boundaries, decay_steps 0, steps past the end,
 * one_cycle's default maximum, and settings that must not give NaN. */
#include <kiln.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, checks;

#define CHECK(cond, ...)                                   \
    do {                                                   \
        checks++;                                          \
        if (!(cond)) {                                     \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);    \
            printf(__VA_ARGS__);                           \
            printf("\n");                                  \
            failures++;                                    \
        }                                                  \
    } while (0)

/* Relative 1e-9: kiln and the reference both compute in double, but torch's schedulers
 * are recursive (each rate from the last), so they drift from closed forms by a few ulps
 * per step. The absolute floor only admits exact zeros (cosine to alpha 0). */
static bool close_to(double got, double want) {
    return fabs(got - want) <= 1e-9 * fmax(fabs(got), fabs(want)) + 1e-300;
}

/* One golden line: "kind=cosine base=0.1 decay_steps=20 ... step=S rate=R". */
static bool check_golden_line(char *line, int line_no) {
    kn_schedule s = {0};
    bool have_kind = false, have_base = false, have_rate = false;
    double base = 0, rate = 0;
    long long total = -1, step = -1;
    for (char *tok = strtok(line, " \n"); tok; tok = strtok(NULL, " \n")) {
        char *eq = strchr(tok, '=');
        if (!eq) return false;
        *eq = 0;
        const char *key = tok, *val = eq + 1;
        double v = strtod(val, NULL);
        if (strcmp(key, "kind") == 0) {
            kn_schedule_kind kind;
            if (!kn_schedule_parse(val, &kind)) return false;
            s = kn_schedule_default(kind);
            have_kind = true;
        } else if (!have_kind) return false; /* the defaults come first, then the fields */
        else if (strcmp(key, "base") == 0) base = v, have_base = true;
        else if (strcmp(key, "warmup") == 0) s.warmup_steps = (int64_t)v;
        else if (strcmp(key, "total") == 0) total = (long long)v;
        else if (strcmp(key, "step") == 0) step = (long long)v;
        else if (strcmp(key, "rate") == 0) rate = v, have_rate = true;
        else if (strcmp(key, "decay_steps") == 0) s.decay_steps = (int64_t)v;
        else if (strcmp(key, "decay_rate") == 0) s.decay_rate = v;
        else if (strcmp(key, "staircase") == 0) s.staircase = v != 0;
        else if (strcmp(key, "alpha") == 0) s.alpha = v;
        else if (strcmp(key, "t_mul") == 0) s.t_mul = v;
        else if (strcmp(key, "m_mul") == 0) s.m_mul = v;
        else if (strcmp(key, "end_learning_rate") == 0) s.end_learning_rate = v;
        else if (strcmp(key, "power") == 0) s.power = v;
        else if (strcmp(key, "max_learning_rate") == 0) s.max_learning_rate = v;
        else if (strcmp(key, "pct_start") == 0) s.pct_start = v;
        else if (strcmp(key, "div_factor") == 0) s.div_factor = v;
        else if (strcmp(key, "final_div_factor") == 0) s.final_div_factor = v;
        else if (strcmp(key, "boundaries") == 0 || strcmp(key, "values") == 0) { /* comma-joined lists */
            bool values = key[0] == 'v';
            int n = 0;
            for (const char *p = val; *p; n++) {
                char *end;
                double x = strtod(p, &end);
                if (end == p || n > KN_SCHEDULE_MAX_BOUNDARIES) return false;
                if (values) s.values[n] = x;
                else s.boundaries[n] = (int64_t)x;
                p = *end == ',' ? end + 1 : end;
            }
            if (!values) s.n_boundaries = n;
        } else return false;
    }
    if (!have_kind || !have_base || !have_rate || total < 0 || step < 0) return false;
    double got = kn_schedule_rate(&s, base, step, total);
    CHECK(close_to(got, rate), "golden line %d: %s step %lld of %lld: %.17g, want %.17g", line_no,
          kn_schedule_name(s.kind), step, total, got, rate);
    return true;
}

static void test_golden(const char *path) {
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s (run from the source root)", path);
    if (!f) return;
    char line[1024];
    int line_no = 0, runs_seen = 0, kinds_seen[KN_SCHEDULE_COUNT] = {0};
    while (fgets(line, sizeof line, f)) {
        line_no++;
        if (line[0] == '#' || line[0] == '\n') continue;
        kn_schedule_kind kind;
        char name[32];
        if (sscanf(line, "kind=%31s", name) == 1 && kn_schedule_parse(name, &kind)) kinds_seen[kind]++;
        CHECK(check_golden_line(line, line_no), "%s:%d: malformed line", path, line_no);
        runs_seen++;
    }
    fclose(f);
    CHECK(runs_seen > 500, "%s: only %d rates", path, runs_seen);
    for (int k = 0; k < KN_SCHEDULE_COUNT; k++)
        CHECK(kinds_seen[k] > 0, "%s: no %s runs", path, kn_schedule_name((kn_schedule_kind)k));
}

static void test_names(void) {
    for (int k = 0; k < KN_SCHEDULE_COUNT; k++) {
        const char *name = kn_schedule_name((kn_schedule_kind)k);
        kn_schedule_kind back = KN_SCHEDULE_COUNT;
        CHECK(name && kn_schedule_parse(name, &back) && back == (kn_schedule_kind)k, "round trip of %d (%s)", k,
              name ? name : "NULL");
        CHECK(kn_schedule_default((kn_schedule_kind)k).kind == (kn_schedule_kind)k, "default kind %d", k);
    }
    CHECK(strcmp(kn_schedule_name(KN_SCHEDULE_ONE_CYCLE), "one_cycle") == 0, "one_cycle's name");
    CHECK(strcmp(kn_schedule_name(KN_SCHEDULE_COUNT), "?") == 0, "name of an unknown kind");
    const char *unknown[] = {"", "Cosine", "cosine_restarts", "linear", "onecycle", "step "};
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
        kn_schedule_kind out = KN_SCHEDULE_COUNT;
        CHECK(!kn_schedule_parse(unknown[i], &out) && out == KN_SCHEDULE_COUNT, "parse accepted '%s'", unknown[i]);
    }
    kn_schedule_kind out;
    CHECK(!kn_schedule_parse(NULL, &out), "parse accepted NULL");
}

static void test_defaults(void) {
    CHECK(kn_schedule_default(KN_SCHEDULE_STEP).decay_rate == 0.1, "step decay_rate");
    CHECK(kn_schedule_default(KN_SCHEDULE_EXPONENTIAL).decay_rate == 0.96, "exponential decay_rate");
    kn_schedule c = kn_schedule_default(KN_SCHEDULE_COSINE);
    CHECK(c.alpha == 0 && c.t_mul == 0 && c.m_mul == 1, "cosine defaults");
    kn_schedule p = kn_schedule_default(KN_SCHEDULE_POLYNOMIAL);
    CHECK(p.end_learning_rate == 1e-4 && p.power == 1, "polynomial defaults");
    kn_schedule o = kn_schedule_default(KN_SCHEDULE_ONE_CYCLE);
    CHECK(o.pct_start == 0.3 && o.div_factor == 25 && o.final_div_factor == 1e4 && o.max_learning_rate == 0,
          "one_cycle defaults");
    CHECK(o.warmup_steps == 0 && o.decay_steps == 0, "one_cycle: no warm-up, no decay_steps");
    CHECK(kn_schedule_default(KN_SCHEDULE_INVERSE_TIME).decay_rate == 0.5, "inverse_time decay_rate");
    CHECK(kn_schedule_default(KN_SCHEDULE_MULTI_STEP).decay_rate == 0.1 &&
              kn_schedule_default(KN_SCHEDULE_MULTI_STEP).n_boundaries == 0,
          "multi_step defaults");
    /* without boundaries: piecewise_constant is the base (and kn_schedule_check refuses it),
     * multi_step the base (torch's MultiStepLR with no milestones) */
    kn_schedule pw = kn_schedule_default(KN_SCHEDULE_PIECEWISE_CONSTANT), ms = kn_schedule_default(KN_SCHEDULE_MULTI_STEP);
    const char *why = NULL;
    CHECK(kn_schedule_rate(&pw, 0.3, 7, 10) == 0.3 && kn_schedule_check(&pw, &why) == KN_ERR_INVALID_ARGUMENT && why &&
              strstr(why, "schedule.boundaries"),
          "piecewise_constant without boundaries: %s", why ? why : "accepted");
    CHECK(kn_schedule_rate(&ms, 0.3, 7, 10) == 0.3 && kn_schedule_check(&ms, &why) == KN_OK && !why, "multi_step without milestones");
}

/* kn_schedule_check: what fit refuses, each with the field at fault. */
static void test_check(void) {
    kn_schedule s = kn_schedule_default(KN_SCHEDULE_PIECEWISE_CONSTANT);
    s.n_boundaries = 2, s.boundaries[0] = 5, s.boundaries[1] = 9, s.values[0] = 0.1, s.values[1] = 0.01, s.values[2] = 0.001;
    const char *why = NULL;
    CHECK(kn_schedule_check(&s, &why) == KN_OK, "a good piecewise_constant: %s", why ? why : "");
    kn_schedule bad = s;
    bad.boundaries[1] = 5;
    CHECK(kn_schedule_check(&bad, &why) && strstr(why, "schedule.boundaries"), "equal boundaries");
    bad = s, bad.values[2] = NAN;
    CHECK(kn_schedule_check(&bad, &why) && strstr(why, "schedule.values"), "a NaN rate");
    bad = s, bad.n_boundaries = KN_SCHEDULE_MAX_BOUNDARIES + 1;
    CHECK(kn_schedule_check(&bad, &why) && strstr(why, "32"), "too many boundaries");
    bad = s, bad.kind = KN_SCHEDULE_MULTI_STEP, bad.boundaries[0] = -1;
    CHECK(kn_schedule_check(&bad, &why) && strstr(why, "schedule.milestones"), "a negative milestone");
    bad = s, bad.kind = KN_SCHEDULE_COUNT;
    CHECK(kn_schedule_check(&bad, &why) && strstr(why, "schedule.type"), "an unknown kind");
    bad = s, bad.warmup_steps = -1;
    CHECK(kn_schedule_check(&bad, &why) && strstr(why, "negative"), "negative warm-up");
}

static void test_warmup(void) {
    for (int k = 0; k < KN_SCHEDULE_COUNT; k++) {
        kn_schedule s = kn_schedule_default((kn_schedule_kind)k);
        s.warmup_steps = 4;
        s.decay_steps = 10;
        const char *name = kn_schedule_name((kn_schedule_kind)k);
        CHECK(kn_schedule_rate(&s, 0.2, 0, 100) == 0.2 * 1 / 4, "%s: warm-up step 0", name);
        CHECK(kn_schedule_rate(&s, 0.2, 3, 100) == 0.2, "%s: last warm-up step reaches the base", name);
        /* After warm-up the schedule starts at its own step 0 (with a run 4 steps shorter). */
        kn_schedule plain = s;
        plain.warmup_steps = 0;
        for (int64_t step = 4; step < 100; step += 7)
            CHECK(kn_schedule_rate(&s, 0.2, step, 100) == kn_schedule_rate(&plain, 0.2, step - 4, 96),
                  "%s: step %lld is the schedule's step %lld", name, (long long)step, (long long)step - 4);
        if (k != KN_SCHEDULE_ONE_CYCLE) /* every schedule but one_cycle starts at the base */
            CHECK(kn_schedule_rate(&s, 0.2, 4, 100) == 0.2, "%s: first step after warm-up", name);
    }
}

static void test_whole_run(void) {
    /* decay_steps 0: cosine and polynomial decay over the run after warm-up. */
    kn_schedule_kind kinds[] = {KN_SCHEDULE_COSINE, KN_SCHEDULE_POLYNOMIAL};
    for (int i = 0; i < 2; i++) {
        kn_schedule whole = kn_schedule_default(kinds[i]), explicit = whole;
        whole.warmup_steps = explicit.warmup_steps = 10;
        whole.alpha = explicit.alpha = 0.1;
        explicit.decay_steps = 90;
        for (int64_t step = 0; step < 120; step++)
            CHECK(kn_schedule_rate(&whole, 0.5, step, 100) == kn_schedule_rate(&explicit, 0.5, step, 100),
                  "%s: decay_steps 0 at step %lld", kn_schedule_name(kinds[i]), (long long)step);
    }
    /* Step and exponential decay: 0 counts as 1 step per decay. */
    kn_schedule_kind per_step[] = {KN_SCHEDULE_STEP, KN_SCHEDULE_EXPONENTIAL};
    for (int i = 0; i < 2; i++) {
        kn_schedule zero = kn_schedule_default(per_step[i]), one = zero;
        one.decay_steps = 1;
        for (int64_t step = 0; step < 20; step++)
            CHECK(kn_schedule_rate(&zero, 0.5, step, 20) == kn_schedule_rate(&one, 0.5, step, 20),
                  "%s: decay_steps 0 at step %lld", kn_schedule_name(per_step[i]), (long long)step);
    }
}

static void test_past_the_end(void) {
    kn_schedule c = kn_schedule_default(KN_SCHEDULE_COSINE);
    c.alpha = 0.05;
    c.decay_steps = 50;
    for (int64_t step = 50; step < 400; step += 23)
        CHECK(close_to(kn_schedule_rate(&c, 0.4, step, 100), 0.4 * 0.05), "cosine stays at alpha: step %lld",
              (long long)step);
    kn_schedule p = kn_schedule_default(KN_SCHEDULE_POLYNOMIAL);
    p.end_learning_rate = 0.01;
    p.power = 2;
    for (int64_t step = 100; step < 400; step += 23)
        CHECK(kn_schedule_rate(&p, 0.4, step, 100) == 0.01, "polynomial stays at the end: step %lld", (long long)step);
    kn_schedule o = kn_schedule_default(KN_SCHEDULE_ONE_CYCLE);
    double last = kn_schedule_rate(&o, 0.4, 99, 100);
    CHECK(close_to(last, 0.4 / 25 / 1e4), "one_cycle ends at max / (div * final_div): %.17g", last);
    for (int64_t step = 100; step < 300; step += 37)
        CHECK(kn_schedule_rate(&o, 0.4, step, 100) == last, "one_cycle stays at its end: step %lld", (long long)step);
}

static void test_one_cycle_max(void) {
    kn_schedule by_default = kn_schedule_default(KN_SCHEDULE_ONE_CYCLE), given = by_default;
    given.max_learning_rate = 0.05;
    for (int64_t step = 0; step < 60; step++)
        CHECK(kn_schedule_rate(&by_default, 0.05, step, 60) == kn_schedule_rate(&given, 0.9, step, 60),
              "one_cycle max 0 uses the base: step %lld", (long long)step);
    CHECK(close_to(kn_schedule_rate(&by_default, 0.05, 0, 60), 0.05 / 25), "one_cycle starts at max / div");
    /* Phase one ends at pct_start * total - 1 = 17: the maximum exactly there. */
    CHECK(close_to(kn_schedule_rate(&by_default, 0.05, 17, 60), 0.05), "one_cycle peaks at step 17");
    /* pct_start * total == 1: torch divides by zero; kiln peaks at step 0. */
    kn_schedule tiny = given;
    tiny.pct_start = 0.25;
    CHECK(kn_schedule_rate(&tiny, 1, 0, 4) == 0.05, "one_cycle with a one-step rise");
}

/* t_mul 3: Keras's floor(log(243) / log(3)) is 4, which would put step 121 at the bottom of
 * the period before; the restart is there (torch counts steps). */
static void test_restart_boundaries(void) {
    kn_schedule s = kn_schedule_default(KN_SCHEDULE_COSINE);
    s.decay_steps = 1;
    s.t_mul = 3;
    s.m_mul = 0.5;
    int64_t start = 0, length = 1;
    for (int i = 0; i < 12; i++) {
        CHECK(close_to(kn_schedule_rate(&s, 1, start, 0), pow(0.5, i)), "t_mul 3: restart %d at step %lld", i,
              (long long)start);
        start += length;
        length *= 3;
    }
    s.t_mul = 1.1; /* boundaries at 10, 21, 33.1, ...: step 21 restarts */
    s.decay_steps = 10;
    CHECK(close_to(kn_schedule_rate(&s, 1, 21, 0), 0.25), "t_mul 1.1: restart at step 21");
    CHECK(kn_schedule_rate(&s, 1, 20, 0) < 0.25 * 0.05, "t_mul 1.1: step 20 near the bottom of period 1");
}

/* Valid or out-of-range settings: never NaN, never infinite. */
static void test_finite(void) {
    const int64_t totals[] = {-5, 0, 1, 2, 3, 10, 1000};
    const int64_t steps[] = {-3, 0, 1, 2, 5, 9, 10, 999, 1000, 100000, 1LL << 40};
    const int64_t warmups[] = {0, 1, 3};
    const int64_t decays[] = {-1, 0, 1, 7};
    const double t_muls[] = {0, 0.5, 1, 2, 3.7};
    for (int k = 0; k < KN_SCHEDULE_COUNT; k++)
        for (size_t a = 0; a < sizeof totals / sizeof *totals; a++)
            for (size_t b = 0; b < sizeof steps / sizeof *steps; b++)
                for (size_t c = 0; c < sizeof warmups / sizeof *warmups; c++)
                    for (size_t d = 0; d < sizeof decays / sizeof *decays; d++)
                        for (size_t e = 0; e < sizeof t_muls / sizeof *t_muls; e++) {
                            kn_schedule s = kn_schedule_default((kn_schedule_kind)k);
                            s.warmup_steps = warmups[c];
                            s.decay_steps = decays[d];
                            s.t_mul = t_muls[e];
                            s.m_mul = e % 2 ? 0.5 : 1;
                            s.alpha = 0.01;
                            double r = kn_schedule_rate(&s, 0.1, steps[b], totals[a]);
                            if (!isfinite(r) || r < 0)
                                CHECK(false, "%s total %lld step %lld warmup %lld decay %lld t_mul %g: %g",
                                      kn_schedule_name((kn_schedule_kind)k), (long long)totals[a],
                                      (long long)steps[b], (long long)warmups[c], (long long)decays[d], t_muls[e], r);
                        }
    kn_schedule o = kn_schedule_default(KN_SCHEDULE_ONE_CYCLE);
    o.div_factor = 0;
    o.final_div_factor = 0;
    CHECK(isfinite(kn_schedule_rate(&o, 0.1, 3, 10)), "one_cycle with zero divisors");
    o = kn_schedule_default(KN_SCHEDULE_ONE_CYCLE);
    o.pct_start = 1;
    for (int64_t step = 0; step < 12; step++)
        CHECK(isfinite(kn_schedule_rate(&o, 0.1, step, 10)), "one_cycle pct_start 1, step %lld", (long long)step);
}

int main(int argc, char **argv) {
    test_golden(argc > 1 ? argv[1] : "tests/golden/schedules.txt");
    test_names();
    test_defaults();
    test_check();
    test_warmup();
    test_whole_run();
    test_past_the_end();
    test_one_cycle_max();
    test_restart_boundaries();
    test_finite();
    if (failures) printf("%d of %d schedule check(s) failed\n", failures, checks);
    else printf("all %d schedule checks passed\n", checks);
    return failures ? 1 : 0;
}
