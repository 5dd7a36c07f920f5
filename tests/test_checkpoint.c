/* test_checkpoint.c — checkpoints and exact resume. A run is killed (SIGKILL, from the
 * test hook at points the code names: after a training step, half-way through writing a
 * checkpoint, just before its rename) at many moments; each time the checkpoint on disk
 * loads (the old one or the new one, never a broken one), and training resumed from it
 * ends with parameters bit-identical to an uninterrupted run: with Adam, and with Nadam
 * (whose running product of its momentum schedule must resume too). */
#define _GNU_SOURCE
#include <kiln.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { N = 330, F = 6, C = 3, EPOCHS = 3, BATCH = 16, EVERY = 7 };
static float X[N * F];
static int32_t Y[N];
static const char *PARAMS[] = {"dense_0/kernel", "dense_0/bias", "dense_1/kernel", "dense_1/bias"};
static int failures;

static const char *kill_point;
static int kill_at, seen_count;
static void hook(void *user, const char *point) {
    (void)user;
    if (kill_point && strcmp(point, kill_point) == 0 && ++seen_count == kill_at) kill(getpid(), SIGKILL);
}

static kn_optimizer optimizer; /* the runs' (main sets it: Adam, then Nadam) */

static kn_model *new_model(kn_ctx *ctx) {
    kn_model *m;
    kn_model_new_sequential(ctx, (int64_t[]){F}, 1, &m);
    kn_model_add_dense(m, 12, KN_RELU);
    kn_model_add_dense(m, C, KN_SOFTMAX);
    kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = optimizer});
    return m;
}

/* The parameters, concatenated. */
static size_t params_of(kn_model *m, float *out) {
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        int64_t k;
        const float *w = kn_model_param(m, PARAMS[i], &k);
        memcpy(out + n, w, (size_t)k * sizeof(float));
        n += (size_t)k;
    }
    return n;
}

/* The uninterrupted run, then runs killed at each of kills (at: the point's count) and
 * resumed from the checkpoint on disk: each must end with its parameters and last loss. */
typedef struct { const char *point; int at; } kill_at_point;
static void check_kills(const char *name, kn_ctx *ctx, kn_dataset *ds, const char *dir, const char *ck,
                        const kill_at_point *kills, size_t n_kills) {
    float ref[512], got[512];
    kn_model *m = new_model(ctx);
    const kn_history *h;
    if (kn_model_fit(m, ds, &(kn_fit_opts){.epochs = EPOCHS, .batch_size = BATCH, .validation_split = 0.1}, &h)) {
        printf("FAIL %s: the uninterrupted run failed\n", name);
        failures++;
        kn_model_free(m);
        return;
    }
    size_t n = params_of(m, ref);
    double ref_loss = h->epochs[EPOCHS - 1].loss;
    kn_model_free(m);
    m = new_model(ctx); /* (its checkpoints change nothing) */
    kn_model_fit(m, ds, &(kn_fit_opts){.epochs = EPOCHS, .batch_size = BATCH, .validation_split = 0.1,
                                       .verbose = 0, .checkpoint_path = ck, .checkpoint_every = EVERY}, &h);
    params_of(m, got);
    if (memcmp(ref, got, n * sizeof(float)) != 0) { printf("FAIL %s: checkpointing changed the run\n", name); failures++; }
    kn_model_free(m);
    for (size_t k = 0; k < n_kills; k++) {
        unlink(ck);
        pid_t pid = fork();
        if (pid == 0) {
            kill_point = kills[k].point;
            kill_at = kills[k].at;
            seen_count = 0;
            kn_model *cm = new_model(ctx);
            kn_model_fit(cm, ds, &(kn_fit_opts){.epochs = EPOCHS, .batch_size = BATCH, .validation_split = 0.1,
                                                .verbose = 0, .checkpoint_path = ck, .checkpoint_every = EVERY}, NULL);
            _exit(3); /* not killed: the point was never reached */
        }
        int status;
        waitpid(pid, &status, 0);
        if (!WIFSIGNALED(status)) {
            printf("FAIL %s %s #%d: the run was not killed\n", name, kills[k].point, kills[k].at);
            failures++;
            continue;
        }
        kn_model *r = NULL;
        bool fresh = access(ck, F_OK) != 0; /* killed before the first checkpoint: start over */
        if (fresh) {
            r = new_model(ctx);
        } else if (kn_model_load(ctx, ck, NULL, &r) != KN_OK) {
            printf("FAIL %s %s #%d: the checkpoint does not load: %s\n", name, kills[k].point, kills[k].at, kn_last_error(ctx));
            failures++;
            continue;
        }
        int epoch = 0;
        int64_t batch = 0;
        kn_model_checkpoint_position(r, &epoch, &batch, NULL);
        kn_status st = kn_model_fit(r, ds, &(kn_fit_opts){.epochs = EPOCHS, .batch_size = BATCH, .validation_split = 0.1,
                                                          .verbose = 0, .resume = !fresh}, &h);
        params_of(r, got);
        bool same = st == KN_OK && memcmp(ref, got, n * sizeof(float)) == 0;
        printf("%s %s kill at %s #%d: resumed from epoch %d batch %lld%s\n", same ? "ok  " : "FAIL", name, kills[k].point,
               kills[k].at, epoch, (long long)batch, fresh ? " (no checkpoint yet)" : "");
        if (!same) failures++;
        if (st == KN_OK && h->epochs[EPOCHS - 1].loss != ref_loss) {
            printf("FAIL %s: the last epoch's loss differs after resume: %.9g vs %.9g\n", name, h->epochs[EPOCHS - 1].loss,
                   ref_loss);
            failures++;
        }
        kn_model_free(r);
        char tmpglob[200];
        snprintf(tmpglob, sizeof tmpglob, "rm -f %s/*.tmp.*", dir); /* a killed save leaves its temporary file */
        if (system(tmpglob) != 0) failures++;
    }
}

int main(void) {
    for (int i = 0; i < N; i++) {
        Y[i] = i % C;
        for (int j = 0; j < F; j++) X[i * F + j] = (float)((i * 31 + j * 7) % 19) / 19.0f + (j == Y[i] ? 0.8f : 0.0f);
    }
    char dir[] = "/tmp/kiln_ckpt_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char ck[128];
    snprintf(ck, sizeof ck, "%s/checkpoint.kiln", dir);
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 77, .test_hook = hook}, &ctx);
    kn_dataset *ds;
    kn_dataset_from_arrays(ctx, X, Y, N, F, C, &ds);

    /* 297 training rows / 16 = 19 steps per epoch, 57 in all; checkpoints every 7 steps and at epoch ends */
    const kill_at_point kills[] = {
        {"fit:step", 1}, {"fit:step", 5}, {"fit:step", 7}, {"fit:step", 8}, {"fit:step", 19}, {"fit:step", 20},
        {"fit:step", 33}, {"fit:step", 56}, {"save:half-written", 1}, {"save:half-written", 2},
        {"save:half-written", 4}, {"save:before-rename", 1}, {"save:before-rename", 3}, {"save:before-rename", 6},
    };
    optimizer = kn_adam(5e-3f);
    check_kills("adam", ctx, ds, dir, ck, kills, sizeof kills / sizeof *kills);
    /* Nadam: resumed mid-epoch and at an epoch's end (its product of u_1 ... u_t follows the step) */
    const kill_at_point nadam_kills[] = {{"fit:step", 8}, {"fit:step", 20}, {"fit:step", 33}, {"save:before-rename", 3}};
    optimizer = kn_nadam(5e-3f);
    check_kills("nadam", ctx, ds, dir, ck, nadam_kills, sizeof nadam_kills / sizeof *nadam_kills);
    optimizer = kn_adam(5e-3f);

    float ref[512], got[512];
    kn_model *m;
    const kn_history *h;
    /* the same with training control: early stopping (best weights restored), reduce-on-plateau
     * and a cosine schedule carry over a resume (their state is in the checkpoint). Watching
     * the training loss in max mode, every epoch after the first "fails to improve": the rate
     * halves each epoch and the run stops after epoch 3, restoring epoch 1's weights. */
    kn_fit_opts ctl = {.epochs = 6, .batch_size = BATCH, .validation_split = 0.1, .verbose = 0,
                       .early_stopping = {.monitor = "loss", .mode = KN_MODE_MAX, .patience = 2, .restore_best_weights = true},
                       .reduce_lr = {.monitor = "loss", .mode = KN_MODE_MAX, .patience = 1, .factor = 0.5},
                       .schedule = kn_schedule_default(KN_SCHEDULE_COSINE)};
    m = new_model(ctx);
    if (kn_model_fit(m, ds, &ctl, &h)) return 1;
    size_t n = params_of(m, ref);
    int ref_epochs = h->n_epochs, ref_best = h->best_epoch;
    kn_epoch_record ref_rec[8];
    memcpy(ref_rec, h->epochs, sizeof(kn_epoch_record) * (size_t)(ref_epochs < 8 ? ref_epochs : 8));
    if (ref_epochs != 3 || ref_best != 1 || !h->stopped_early) {
        printf("FAIL control: the uninterrupted run ran %d epochs (3), best %d (1)\n", ref_epochs, ref_best);
        failures++;
    }
    kn_model_free(m);
    const int ctl_kills[] = {3, 19, 20, 25, 38, 50};
    for (size_t k = 0; k < sizeof ctl_kills / sizeof *ctl_kills; k++) {
        unlink(ck);
        pid_t pid = fork();
        if (pid == 0) {
            kill_point = "fit:step";
            kill_at = ctl_kills[k];
            seen_count = 0;
            kn_model *cm = new_model(ctx);
            kn_fit_opts o = ctl;
            o.checkpoint_path = ck;
            o.checkpoint_every = EVERY;
            kn_model_fit(cm, ds, &o, NULL);
            _exit(3);
        }
        int status;
        waitpid(pid, &status, 0);
        kn_model *r = NULL;
        bool killed = WIFSIGNALED(status), fresh = access(ck, F_OK) != 0;
        if (!killed) { /* the run stopped early before this step: nothing to resume */
            printf("ok   control: not killed at step %d (stopped earlier)\n", ctl_kills[k]);
            continue;
        }
        if (fresh) r = new_model(ctx);
        else if (kn_model_load(ctx, ck, NULL, &r) != KN_OK) {
            printf("FAIL control kill at step %d: the checkpoint does not load: %s\n", ctl_kills[k], kn_last_error(ctx));
            failures++;
            continue;
        }
        kn_fit_opts o = ctl;
        o.resume = !fresh;
        kn_status st = kn_model_fit(r, ds, &o, &h);
        params_of(r, got);
        bool same = st == KN_OK && memcmp(ref, got, n * sizeof(float)) == 0 && h->n_epochs == ref_epochs &&
                    h->best_epoch == ref_best;
        /* the restored weights hide the later epochs: their losses and rates must match too */
        for (int e = 0; same && e < ref_epochs && e < 8; e++)
            same = h->epochs[e].loss == ref_rec[e].loss && h->epochs[e].learning_rate == ref_rec[e].learning_rate;
        printf("%s control kill at step %d: %d epochs (uninterrupted %d), best %d (%d)%s\n", same ? "ok  " : "FAIL",
               ctl_kills[k], st ? -1 : h->n_epochs, ref_epochs, st ? -1 : h->best_epoch, ref_best, st ? kn_last_error(ctx) : "");
        if (!same) failures++;
        kn_model_free(r);
    }
    kn_dataset_free(ds);
    kn_ctx_free(ctx);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) failures++;
    printf(failures ? "%d failure(s)\n" : "checkpoint checks passed\n", failures);
    return failures ? 1 : 0;
}
