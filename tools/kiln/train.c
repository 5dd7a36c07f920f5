/* train.c — `kiln train SPEC --data DATA [options]`: builds the model a JSON description
 * gives, trains it, evaluates it on the data's test split, and reports (JSON keys as
 * INTERFACE.md defines them). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char train_help[] =
    "usage: kiln train SPEC --data DATA [options]\n"
    "\n"
    "SPEC is a JSON model description: a path (models/mlp.json) or the text itself ('{...}').\n"
    "Options override the description's own values.\n"
    CLI_MODEL_TYPES_HELP
    "\n"
    "  --data DATA              fashion-mnist | mnist | idx:DIR | csv:FILE[:key=value]...\n"
    "                           (required; CSV keys: see 'kiln --help')\n"
    "  --epochs N               epochs (default: the description's, else 1)\n"
    "  --batch-size N           batch size (default: the description's, else 32); under\n"
    "                           mpirun the global batch, divided among the ranks\n"
    "  --optimizer NAME         sgd | adam | adamw | rmsprop | adagrad | adamax | adadelta |\n"
    "                           nadam | lion | radam | ftrl, with Keras's defaults (RAdam's:\n"
    "                           PyTorch's) (default: the description's, else adam)\n"
    "  --lr X                   learning rate (default: the optimizer's)\n"
    "  --test-split F           when the data has no test split: hold out this fraction of\n"
    "                           the rows for the final evaluation (stratified, seeded)\n"
    "                           (default: 0, none held out)\n"
    "  --validation-split F     hold out a fraction F of the training rows for validation,\n"
    "                           stratified by class and seeded (default: 0)\n"
    "  --targets T              labels: the data's labels or targets; inputs: each row is its\n"
    "                           own target (an autoencoder: a regression of the inputs, mse by\n"
    "                           default; augmentation may add noise or erase, not move pixels)\n"
    "                           (default: labels)\n"
    "  --precision P            fp32 | bf16 | fp16: fp32 throughout, or mixed precision (fp32\n"
    "                           weights and updates, activations and gradients stored in the\n"
    "                           half type); fp16 adds dynamic loss scaling, and the epoch line,\n"
    "                           history.csv and --json then show skipped steps and the loss\n"
    "                           scale (default: the description's \"precision\", else fp32;\n"
    "                           see docs/mixed_precision.md)\n"
    "  --checkpoint-every N     with --out: save DIR/checkpoint.kiln every N optimizer steps\n"
    "                           and at each epoch's end (weights, optimizer state, position)\n"
    "                           (default: none, no checkpoints)\n"
    "  --resume DIR             continue the run checkpointed in DIR/checkpoint.kiln (SPEC may\n"
    "                           be left out; --out defaults to DIR); ends bit-identical to an\n"
    "                           uninterrupted run (default: none, a fresh run)\n"
    "  --schedule NAME          learning-rate schedule over the run: constant, step, exponential,\n"
    "                           cosine, polynomial, one_cycle, inverse_time (with their defaults;\n"
    "                           piecewise_constant and multi_step take their steps from the\n"
    "                           description) (default: the description's, else constant)\n"
    "  --warmup-steps N         a linear warm-up over the first N optimizer steps (default:\n"
    "                           the description's schedule's, else 0)\n"
    "  --early-stopping PATIENCE  stop when val_loss (loss without validation data) has not\n"
    "                           improved for PATIENCE epochs, and restore the best weights\n"
    "                           (default: the description's early_stopping callback, else off)\n"
    "  --accumulate N           update every N batches from their mean gradient (as a batch\n"
    "                           N times larger; default 1)\n"
    "  --class-weight W         weigh each class's rows in the training loss: balanced (rows /\n"
    "                           (classes x rows of the class)) or a list W0,W1,... by class\n"
    "                           (default: the description's class_weight, else none)\n"
    "  --save-best              with --out: save DIR/best.kiln at each epoch with the best\n"
    "                           val_loss (loss without validation data) so far (default: off)\n"
    "  --augment A              image augmentation while training: off, or JSON such as\n"
    "                           '{\"shift\": 2, \"flip\": 0.5, \"rotate\": 10, \"noise\": 0.05, \"erase\": 0.1}'\n"
    "                           (default: the description's \"augment\", else off)\n"
    "  --loader-thread MODE     on | off | auto: gather (and augment) the next batch on a\n"
    "                           background thread while a step trains (default: auto, on when\n"
    "                           augmenting)\n"
    "  --passes LIST            graph optimizer passes: all (default), none, a list run alone\n"
    "                           (dce,fold) or exclusions (-fuse,-inplace); see 'kiln graph'\n"
    "  --grad-compression C     under mpirun: none (fp32) or fp16 all-reduce of the gradients\n"
    "                           (default: none)\n"
    "  --deterministic          accepted: kiln's training is always deterministic for a seed\n"
    "                           (default: off, which changes nothing)\n"
    "  --out DIR                write DIR/model.kiln, DIR/history.csv and DIR/curves.svg (loss\n"
    "                           and accuracy per epoch), creating DIR and its\n"
    "                           parents (default: none, nothing is written)\n"
    "\n" CLI_GLOBAL_HELP
    "\n"
    "Data-parallel training: mpirun -np N kiln train ... trains one model across N processes\n"
    "(rank 0 prints and writes; --threads defaults to the cores divided among a machine's\n"
    "ranks). See docs/distributed.md.\n"
    "\n"
    "JSON keys: model_type, task, n_train, n_test, params, epochs, batch_size, steps (networks;\n"
    "classical models: iterations, and oob_score for forests that compute it), threads,\n"
    "ranks, precision, train_seconds, seconds_per_epoch, final_loss, val_loss, val_accuracy,\n"
    "test_loss, test_accuracy, test_f1_macro (classification) or test_mse, test_rmse, test_mae,\n"
    "test_r2 (regression), and model (DIR/model.kiln) with --out; under mpirun also\n"
    "rank_batch_size, grad_compression, allreduce_seconds and allreduce_us_per_step; with\n"
    "fp16 also skipped_steps (updates skipped for overflow) and loss_scale (at the end); on a\n"
    "device that kept the training data and ran each step as one launch, resident: true.\n";

typedef struct train_args {
    const char *spec, *data, *optimizer, *precision, *out, *resume, *passes, *schedule, *class_weight, *augment,
        *grad_compression, *targets;
    long long epochs, batch_size, checkpoint_every, early_stopping, warmup_steps, accumulate;
    bool save_best;
    int loader_thread; /* 0 auto, 1 on, -1 off */
    double lr, validation_split, test_split;
    bool validation_given, deterministic;
} train_args;

/* "1,5,0.5" into w (up to max; w NULL: just check); returns the count, 0 when malformed. */
static int parse_weights(const char *text, float *w, int max) {
    int n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !(v >= 0) || v > 1e12 || (*end && *end != ',')) return 0;
        if (w && n < max) w[n] = (float)v;
        n++;
        p = *end ? end + 1 : end;
    }
    return n;
}

static bool take_validation_split(const char *cmd, const char *opt, const char *value, void *args) {
    train_args *a = args;
    if (!cli_parse_double(cmd, opt, value, 0, 0.99, &a->validation_split)) return false;
    a->validation_given = true;
    return true;
}

static bool take_loader_thread(const char *cmd, const char *opt, const char *value, void *args) {
    if (!value || (strcmp(value, "on") && strcmp(value, "off") && strcmp(value, "auto"))) {
        cli_usage_error(cmd, "%s expects on, off or auto", opt);
        return false;
    }
    ((train_args *)args)->loader_thread = value[1] == 'n' ? 1 : value[1] == 'f' ? -1 : 0;
    return true;
}

#define AT(field) offsetof(train_args, field)
static const cli_option train_options[] = {
    CLI_STRING("--data", AT(data)),
    CLI_STRING("--optimizer", AT(optimizer)),
    CLI_STRING("--precision", AT(precision)),
    CLI_NON_EMPTY("--out", AT(out)),
    CLI_NON_EMPTY("--resume", AT(resume)),
    CLI_STRING("--passes", AT(passes)),
    CLI_STRING("--schedule", AT(schedule)),
    CLI_STRING("--class-weight", AT(class_weight)),
    CLI_STRING("--grad-compression", AT(grad_compression)),
    CLI_STRING("--targets", AT(targets)),
    CLI_INT("--epochs", AT(epochs), 1, 1000000),
    CLI_INT("--batch-size", AT(batch_size), 1, 1 << 24),
    CLI_DOUBLE("--lr", AT(lr), 1e-12, 1e6),
    CLI_DOUBLE("--test-split", AT(test_split), 0.01, 0.99),
    CLI_CUSTOM("--validation-split", take_validation_split),
    CLI_INT("--checkpoint-every", AT(checkpoint_every), 1, (long long)1 << 40),
    CLI_INT("--early-stopping", AT(early_stopping), 1, 1000000),
    CLI_INT("--warmup-steps", AT(warmup_steps), 0, (long long)1 << 40),
    CLI_INT("--accumulate", AT(accumulate), 1, 1 << 20),
    CLI_FLAG("--save-best", AT(save_best)),
    CLI_CUSTOM("--loader-thread", take_loader_thread),
    {.name = "--augment", .kind = CLI_OPT_STRING, .offset = AT(augment), .non_empty = true,
     .no_value = "--augment needs a value (off, or JSON such as '{\"flip\": 0.5}')"},
    CLI_FLAG("--deterministic", AT(deterministic)), /* training is deterministic in every mode; kept for scripts */
    {0}};
/* SPEC may be left out with --resume: checked below */
static const cli_positional train_positionals[] = {{AT(spec), NULL}};
static const cli_command train_command = {"train", train_help, train_options, train_positionals,
                                          CLI_COUNT(train_positionals)};

static int parse_args(int argc, char **argv, cli_global *g, train_args *a) {
    int rc = cli_parse_args(&train_command, argc, argv, g, a);
    if (rc != CLI_PARSED) return rc;
    if (!a->spec && !a->resume) return cli_usage_error("train", "missing SPEC (a JSON model description)");
    if (a->checkpoint_every && !a->out && !a->resume)
        return cli_usage_error("train", "--checkpoint-every needs --out DIR (where checkpoint.kiln goes)");
    if (a->resume && (a->optimizer || a->lr > 0))
        return cli_usage_error("train", "--resume continues the checkpointed run: --optimizer and --lr cannot change it");
    if (a->resume && !a->out) a->out = a->resume;
    if (!a->data) return cli_usage_error("train", "missing --data DATA");
    kn_optimizer_kind kind;
    if (a->optimizer && !kn_optimizer_parse(a->optimizer, &kind))
        return cli_usage_error("train", "--optimizer: unknown optimizer '%s' (sgd, adam, adamw, rmsprop, adagrad, adamax, adadelta, nadam, lion, radam, ftrl)",
                               a->optimizer);
    kn_schedule_kind sk;
    if (a->schedule && !kn_schedule_parse(a->schedule, &sk))
        return cli_usage_error("train", "--schedule: unknown schedule '%s' (constant, step, exponential, cosine, "
                                        "polynomial, one_cycle, inverse_time, piecewise_constant, multi_step)", a->schedule);
    if (a->save_best && !a->out) return cli_usage_error("train", "--save-best needs --out DIR (where best.kiln goes)");
    if (a->class_weight && strcmp(a->class_weight, "balanced") != 0 && !parse_weights(a->class_weight, NULL, 0))
        return cli_usage_error("train", "--class-weight: '%s' is neither 'balanced' nor a list of weights >= 0 such as 1,5",
                               a->class_weight);
    if (a->grad_compression && strcmp(a->grad_compression, "none") != 0 && strcmp(a->grad_compression, "fp16") != 0)
        return cli_usage_error("train", "--grad-compression expects none or fp16, got '%s'", a->grad_compression);
    if (cli_check_targets("train", a->targets) != CLI_PARSED) return CLI_USAGE;
    kn_precision prec;
    if (a->precision && !kn_precision_parse(a->precision, &prec))
        return cli_usage_error("train", "--precision expects fp32, bf16 or fp16, got '%s'", a->precision);
    return CLI_PARSED;
}

/* history.csv: one row per epoch; an empty field where a value is NaN (no validation).
 * fp16 runs add two columns: the epoch's skipped updates and its final loss scale. */
typedef struct history_out {
    const kn_history *h;
    bool fp16;
} history_out;

static bool write_history(FILE *f, const void *user) {
    const history_out *out = user;
    const kn_history *h = out->h;
    fputs(out->fp16 ? "epoch,loss,accuracy,val_loss,val_accuracy,seconds,learning_rate,skipped_steps,loss_scale\n"
                    : "epoch,loss,accuracy,val_loss,val_accuracy,seconds,learning_rate\n", f);
    for (int i = 0; i < h->n_epochs; i++) {
        const kn_epoch_record *r = &h->epochs[i];
        const double v[] = {r->loss, r->accuracy, r->val_loss, r->val_accuracy, r->seconds};
        fprintf(f, "%d", r->epoch);
        for (size_t k = 0; k < sizeof v / sizeof *v; k++)
            if (isfinite(v[k])) fprintf(f, ",%.8g", v[k]);
            else fputc(',', f);
        /* the rate is a float inside: 7 digits give 0.01, not 0.0099999998 */
        if (isfinite(r->learning_rate)) fprintf(f, ",%.7g", r->learning_rate);
        else fputc(',', f);
        if (out->fp16) fprintf(f, ",%lld,%.9g", (long long)r->skipped_steps, r->loss_scale);
        fputc('\n', f);
    }
    return !ferror(f);
}

/* DIR/model.kiln and DIR/history.csv after training; *model_path receives the model's path. */
static int write_outputs(kn_ctx *ctx, kn_model *m, const kn_history *h, const char *dir, char **model_path) {
    char *hist = cli_path_join(dir, "history.csv"), *curves = cli_path_join(dir, "curves.svg");
    *model_path = cli_path_join(dir, "model.kiln");
    if (!hist || !curves || !*model_path) {
        free(hist);
        free(curves);
        fprintf(stderr, "kiln: %s: out of memory\n", dir);
        return CLI_RUNTIME;
    }
    kn_status st = kn_model_save(m, *model_path);
    history_out ho = {h, kn_model_precision(m) == KN_PRECISION_FP16};
    int rc = st ? cli_fail(ctx, st) : cli_write_atomic(hist, write_history, &ho);
    if (!rc) rc = cli_write_atomic(curves, cli_write_curves, h);
    free(hist);
    free(curves);
    return rc;
}

/* --validation-split F: a stratified, seeded share of the training rows (before any CSV
 * preprocessing is fitted, so it sees none of them), as scikit-learn's train_test_split; a
 * resume repeats it from the same seed and fraction. */
static int split_validation(kn_ctx *ctx, const train_args *a, const cli_global *g, kn_dataset **train, kn_dataset **val) {
    if (!(a->validation_split > 0)) return CLI_OK;
    kn_dataset *rest = NULL;
    kn_status st = kn_dataset_split(*train, a->validation_split, g->seed + 1, &rest, val);
    if (st) return cli_fail(ctx, st);
    kn_dataset_free(*train);
    *train = rest;
    return CLI_OK;
}

/* The ranks of an mpirun launch (rank 0 of 1 otherwise); shared: the run's error reached
 * every rank (they all exit with it, no rank waits for another). */
typedef struct train_ranks {
    int rank, world;
    bool shared;
} train_ranks;

static int train(int argc, char **argv, cli_global *g, train_ranks *r) {
    train_args a = {0};
    int parsed = parse_args(argc, argv, g, &a);
    if (parsed != CLI_PARSED) return parsed;
    int rc = CLI_OK;
    if (!cli_device_ok(g)) return CLI_RUNTIME;
    char *json = NULL;
    if (a.resume) {
        if (a.spec && !g->quiet) fprintf(stderr, "kiln: note: --resume takes the model from the checkpoint; SPEC is ignored\n");
        a.spec = NULL;
    } else if (a.spec[0] == '{') {
        json = strdup(a.spec);
    } else if (!(json = cli_read_file(a.spec))) {
        fprintf(stderr, "kiln: %s: cannot read the model description: %s\n", a.spec, strerror(errno));
        return CLI_RUNTIME;
    }
    /* the folder first: a bad --out fails before the training, not after it */
    bool leader = r->rank == 0; /* rank 0 alone prints results and writes files */
    kn_ctx *ctx = a.out && leader && cli_mkdir_p(a.out) ? NULL : cli_ctx(g);
    if (!ctx) {
        free(json);
        return CLI_RUNTIME;
    }
    char *model_path = NULL;
    kn_dataset *train = NULL, *test = NULL, *val = NULL;
    kn_model *m = NULL;
    kn_preprocessor *prep = NULL;
    kn_spec spec = {0}; /* a resume fills only what the checkpoint gives */
    const kn_history *h = NULL;
    kn_eval_report test_report = {.loss = NAN, .accuracy = NAN, .f1_macro = NAN};
    const char *spec_name = !a.spec ? "checkpoint" : a.spec[0] == '{' ? "SPEC" : a.spec;
    char *ck_path = a.out ? cli_path_join(a.out, "checkpoint.kiln") : NULL;
    char *best_path = a.out ? cli_path_join(a.out, "best.kiln") : NULL;
    char *resume_path = a.resume ? cli_path_join(a.resume, "checkpoint.kiln") : NULL;

    kn_status st = kn_dataset_load(ctx, a.data, &train, &test);
    if (st) { rc = cli_fail(ctx, st); goto done; }
    if (a.test_split > 0 && test) {
        if (!g->quiet) fprintf(stderr, "kiln: note: %s has a test split of its own; --test-split is not used\n", a.data);
    } else if (a.test_split > 0) { /* hold out a stratified, seeded share of the rows */
        kn_dataset *rest = NULL;
        if ((st = kn_dataset_split(train, a.test_split, g->seed, &rest, &test))) { rc = cli_fail(ctx, st); goto done; }
        kn_dataset_free(train);
        train = rest;
    }
    if (a.resume) {
        int epochs = 0;
        double vs = 0;
        if ((st = kn_model_load(ctx, resume_path, NULL, &m))) { rc = cli_fail(ctx, st); goto done; }
        if (kn_model_param_dtype(m) != KN_F32) { /* kiln convert's output: weights rounded, no optimizer state */
            fprintf(stderr, "kiln: %s: a converted %s model file is for inference: it holds no training state to resume\n",
                    resume_path, kn_model_param_dtype(m) == KN_F16 ? "fp16" : "bf16");
            rc = CLI_RUNTIME;
            goto done;
        }
        if (!kn_model_checkpoint_position(m, NULL, NULL, &epochs) || !kn_model_checkpoint_run(m, &spec.batch_size, &vs)) {
            fprintf(stderr, "kiln: %s: a model file, not a checkpoint (no training position)\n", resume_path);
            rc = CLI_RUNTIME;
            goto done;
        }
        kn_precision prec = KN_PRECISION_FP32;
        if (a.precision && kn_precision_parse(a.precision, &prec) && prec != kn_model_precision(m)) {
            rc = cli_usage_error("train", "--precision %s: the checkpointed run trains in %s (--resume cannot change it)",
                                 a.precision, kn_precision_name(kn_model_precision(m)));
            goto done;
        }
        if (a.batch_size && a.batch_size != spec.batch_size) {
            rc = cli_usage_error("train", "--batch-size %lld: the checkpointed run used %lld", a.batch_size,
                                 (long long)spec.batch_size);
            goto done;
        }
        if (!a.validation_given) a.validation_split = vs;
        if ((rc = split_validation(ctx, &a, g, &train, &val))) goto done;
        /* CSV data: through the preprocessing the checkpointed run fitted */
        if ((rc = cli_preprocess(ctx, g, kn_model_preprocessor(m), &train, &test, NULL)) ||
            (val && (rc = cli_preprocess(ctx, g, kn_model_preprocessor(m), &val, NULL, NULL))))
            goto done;
        if ((rc = cli_apply_targets(ctx, a.targets, &train)) || (rc = cli_apply_targets(ctx, a.targets, &test)) ||
            (rc = cli_apply_targets(ctx, a.targets, &val)))
            goto done;
        spec.epochs = a.epochs ? (int)a.epochs : epochs;
    } else {
        /* CSV data: preprocessing fitted on the training rows (validation and test rows held
         * out first), the model's input width from it */
        if ((rc = split_validation(ctx, &a, g, &train, &val))) goto done;
        if ((rc = cli_preprocess(ctx, g, NULL, &train, &test, &prep)) || (val && (rc = cli_preprocess(ctx, g, prep, &val, NULL, NULL))))
            goto done;
        /* --targets inputs: after the preprocessing, so the targets are the model's inputs */
        if ((rc = cli_apply_targets(ctx, a.targets, &train)) || (rc = cli_apply_targets(ctx, a.targets, &test)) ||
            (rc = cli_apply_targets(ctx, a.targets, &val)))
            goto done;
        if ((st = kn_model_from_json(ctx, json, train, &m, &spec))) {
            fprintf(stderr, "kiln: %s: %s\n", spec_name, kn_last_error(ctx));
            rc = CLI_RUNTIME;
            goto done;
        }
        if (a.optimizer) {
            kn_optimizer_kind kind = KN_OPT_ADAM;
            kn_optimizer_parse(a.optimizer, &kind); /* checked in parse_args */
            if (kind != spec.compile.optimizer.kind) spec.compile.optimizer = kn_optimizer_default(kind);
        }
        if (a.lr > 0) spec.compile.optimizer.learning_rate = (float)a.lr;
        if (a.precision) kn_precision_parse(a.precision, &spec.compile.precision); /* checked in parse_args */
        if (a.epochs) spec.epochs = (int)a.epochs;
        if (a.batch_size) spec.batch_size = a.batch_size;
        if ((st = kn_model_compile(m, &spec.compile))) {
            fprintf(stderr, "kiln: %s: %s\n", spec_name, kn_last_error(ctx));
            rc = CLI_RUNTIME;
            goto done;
        }
        if (prep && (st = kn_model_set_preprocessor(m, prep))) { rc = cli_fail(ctx, st); goto done; }
    }
    unsigned passes = KN_PASS_ALL;
    if (a.passes && kn_passes_parse(ctx, a.passes, &passes)) {
        rc = cli_usage_error("train", "--passes: %s", kn_last_error(ctx));
        goto done;
    }
    kn_model_set_passes(m, passes);
    if (!g->quiet && leader) {
        char summary[512];
        kn_model_summary(m, summary, sizeof summary);
        fprintf(g->json ? stderr : stdout, "%s\n", summary);
    }
    kn_fit_opts fo = {.epochs = spec.epochs, .batch_size = spec.batch_size, .validation_data = val,
                      .validation_split = a.validation_split, /* recorded in checkpoints; val holds the rows */
                      .verbose = g->quiet ? 0 : 1,
                      .checkpoint_path = a.checkpoint_every || a.resume ? ck_path : NULL,
                      .checkpoint_every = a.checkpoint_every, .resume = a.resume != NULL,
                      .schedule = spec.schedule, .early_stopping = spec.early_stopping, .reduce_lr = spec.reduce_lr};
    if (a.resume) kn_model_checkpoint_schedule(m, &fo.schedule); /* the checkpointed run's (older ones: the description's) */
    if (a.schedule) {
        kn_schedule_kind sk = KN_SCHEDULE_CONSTANT;
        kn_schedule_parse(a.schedule, &sk); /* checked in parse_args */
        if (sk != fo.schedule.kind) fo.schedule = kn_schedule_default(sk);
        if (sk == KN_SCHEDULE_PIECEWISE_CONSTANT && fo.schedule.n_boundaries < 1) {
            rc = cli_usage_error("train", "--schedule piecewise_constant: its boundaries and values go in the "
                                          "description's \"schedule\"");
            goto done;
        }
    }
    if (a.warmup_steps) fo.schedule.warmup_steps = a.warmup_steps;
    fo.accumulate = (int)a.accumulate;
    fo.augment = spec.augment; /* the description's (a resume: the checkpointed run's) */
    if (a.resume) kn_model_checkpoint_augment(m, &fo.augment);
    if (a.augment && (st = kn_augment_parse(ctx, a.augment, &fo.augment))) {
        rc = cli_usage_error("train", "--augment: %s", kn_last_error(ctx));
        goto done;
    }
    fo.loader_thread = a.loader_thread;
    fo.distributed = r->world > 1;
    if (a.grad_compression && strcmp(a.grad_compression, "fp16") == 0) fo.grad_compression = KN_GRAD_COMPRESSION_FP16;
    float class_w[1024];
    if (!a.class_weight) { /* the description's, unless the command line says otherwise */
        fo.class_weight_balanced = spec.class_weight_balanced;
        if (spec.n_class_weights) fo.class_weight = spec.class_weight, fo.n_class_weights = spec.n_class_weights;
    }
    if (a.class_weight && strcmp(a.class_weight, "balanced") == 0) {
        fo.class_weight_balanced = true;
    } else if (a.class_weight) {
        fo.n_class_weights = parse_weights(a.class_weight, class_w, 1024);
        if (fo.n_class_weights > 1024) fo.n_class_weights = 1024;
        fo.class_weight = class_w;
    }
    if (a.early_stopping) {
        fo.early_stopping.patience = (int)a.early_stopping;
        fo.early_stopping.restore_best_weights = true;
    }
    if (a.save_best || spec.save_best) fo.best_path = best_path;
    if (spec.save_best && !a.out && !g->quiet && leader)
        fprintf(stderr, "kiln: note: the description's model_checkpoint needs --out DIR; no best model is saved\n");
    if ((st = kn_model_fit(m, train, &fo, &h))) { rc = cli_fail(ctx, st); goto done; }
    if (!leader) goto done; /* the same parameters as rank 0's: nothing more to do */
    if (a.out) {
        if ((rc = write_outputs(ctx, m, h, a.out, &model_path))) goto done;
        if (!g->quiet) fprintf(g->json ? stderr : stdout, "saved %s, history.csv and curves.svg\n", model_path);
    }
    if (test) {
        if ((st = kn_model_evaluate(m, test, &test_report))) { rc = cli_fail(ctx, st); goto done; }
        if (!g->quiet && kn_dataset_classes(test) > 0)
            fprintf(g->json ? stderr : stdout, "test: loss %.4f, accuracy %.4f, f1_macro %.4f (%lld samples)\n",
                    test_report.loss, test_report.accuracy, test_report.f1_macro, (long long)test_report.n);
        else if (!g->quiet)
            fprintf(g->json ? stderr : stdout, "test: loss %.4g, mse %.4g, rmse %.4g, mae %.4g, r2 %.4f (%lld samples)\n",
                    test_report.loss, test_report.mse, test_report.rmse, test_report.mae, test_report.r2,
                    (long long)test_report.n);
    }
    if (g->json) {
        const kn_epoch_record *last = h->n_epochs ? &h->epochs[h->n_epochs - 1] : NULL;
        bool first = true, classify = kn_dataset_classes(train) > 0;
        kn_precision prec = kn_model_precision(m);
        printf("{\"model_type\": \"%s\", \"task\": \"%s\", \"precision\": \"%s\"", kn_model_type(m),
               classify ? "classification" : "regression", kn_precision_name(prec));
        first = false;
        cli_json_key_number(stdout, "n_train", (double)kn_dataset_size(train), &first);
        if (val) cli_json_key_number(stdout, "n_val", (double)kn_dataset_size(val), &first);
        cli_json_key_number(stdout, "n_test", test ? (double)kn_dataset_size(test) : 0, &first);
        cli_json_key_number(stdout, "params", (double)kn_model_param_count(m), &first);
        bool network = strcmp(kn_model_type(m), "sequential") == 0; /* epochs and batches apply to networks */
        if (network) {
            cli_json_key_number(stdout, "epochs", h->n_epochs, &first);
            if (h->best_epoch > 0) cli_json_key_number(stdout, "best_epoch", h->best_epoch, &first);
            if (h->stopped_early) fprintf(stdout, ", \"stopped_early\": true");
            cli_json_key_number(stdout, "batch_size", (double)spec.batch_size, &first);
            cli_json_key_number(stdout, "steps", (double)h->steps, &first);
            if (h->resident) fprintf(stdout, ", \"resident\": true"); /* the data on the device, a launch a step */
            if (prec == KN_PRECISION_FP16) { /* fp16's loss scaling: updates skipped, the scale at the end */
                cli_json_key_number(stdout, "skipped_steps", (double)h->skipped_steps, &first);
                cli_json_key_number(stdout, "loss_scale", last ? last->loss_scale : NAN, &first);
            }
        } else {
            cli_json_key_number(stdout, "iterations", (double)h->steps, &first); /* the solver's (0: not iterative) */
        }
        cli_json_key_number(stdout, "threads", kn_ctx_threads(ctx), &first);
        cli_json_key_number(stdout, "ranks", h->ranks > 0 ? h->ranks : 1, &first);
        if (network && h->ranks > 1) {
            cli_json_key_number(stdout, "rank_batch_size", (double)h->rank_batch_size, &first);
            fprintf(stdout, ", \"grad_compression\": \"%s\"", fo.grad_compression == KN_GRAD_COMPRESSION_FP16 ? "fp16" : "none");
            cli_json_key_number(stdout, "allreduce_seconds", h->allreduce_seconds, &first);
            cli_json_key_number(stdout, "allreduce_us_per_step", h->steps ? h->allreduce_seconds / (double)h->steps * 1e6 : 0,
                                &first);
        }
        cli_json_key_number(stdout, "train_seconds", h->train_seconds, &first);
        if (network) {
            cli_json_key_number(stdout, "seconds_per_epoch", h->seconds_per_epoch, &first);
            cli_json_key_number(stdout, "final_loss", last ? last->loss : NAN, &first);
        }
        if (isfinite(kn_model_oob_score(m))) cli_json_key_number(stdout, "oob_score", kn_model_oob_score(m), &first);
        if (a.validation_split > 0) {
            cli_json_key_number(stdout, "val_loss", last ? last->val_loss : NAN, &first);
            cli_json_key_number(stdout, "val_accuracy", last ? last->val_accuracy : NAN, &first);
        }
        if (test) {
            cli_json_key_number(stdout, "test_loss", test_report.loss, &first);
            if (classify) {
                cli_json_key_number(stdout, "test_accuracy", test_report.accuracy, &first);
                cli_json_key_number(stdout, "test_f1_macro", test_report.f1_macro, &first);
            } else {
                cli_json_key_number(stdout, "test_mse", test_report.mse, &first);
                cli_json_key_number(stdout, "test_rmse", test_report.rmse, &first);
                cli_json_key_number(stdout, "test_mae", test_report.mae, &first);
                cli_json_key_number(stdout, "test_r2", test_report.r2, &first);
            }
        }
        if (model_path) {
            fputs(", \"model\": ", stdout);
            cli_json_string(stdout, model_path);
        }
        printf("}\n");
    }
done:
    r->shared = ctx && kn_dist_error_shared(ctx);
    kn_model_free(m);
    kn_preprocessor_free(prep);
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_dataset_free(val);
    kn_ctx_free(ctx);
    free(json);
    free(model_path);
    free(ck_path);
    free(best_path);
    free(resume_path);
    return rc;
}

/* Launched by mpirun (or another MPI launcher): its environment names the job's size. */
static bool launched_by_mpi(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return true;
    return false;
}

/* Under mpirun: MPI around the run, threads shared among a machine's ranks, and an error
 * that only some ranks saw (a file one rank could not read) ending the whole job. */
int cmd_train(int argc, char **argv, cli_global *g) {
    train_ranks r = {.rank = 0, .world = 1};
    if (!launched_by_mpi()) return train(argc, argv, g, &r);
    if (!kn_dist_available()) {
        fprintf(stderr, "kiln: started by mpirun, but this kiln was built without MPI (install libopenmpi-dev and "
                        "configure with -DKILN_MPI=ON); each rank would train alone\n");
        return CLI_RUNTIME;
    }
    if (kn_dist_init(NULL, NULL)) {
        fprintf(stderr, "kiln: cannot start MPI (MPI_Init_thread failed)\n");
        return CLI_RUNTIME;
    }
    r.rank = kn_dist_rank();
    r.world = kn_dist_world();
    if (g->threads == 0) { /* the machine's cores divided among its ranks, not each taking all */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        int local = kn_dist_local_world();
        g->threads = cores / local > 1 ? (int)(cores / local) : 1;
    }
    if (r.rank != 0) g->quiet = true;
    int rc = train(argc, argv, g, &r);
    /* a usage error is every rank's (the same arguments); a shared error too */
    if (rc == CLI_RUNTIME && r.world > 1 && !r.shared) {
        fflush(stdout);
        fflush(stderr);
        kn_dist_abort(rc);
    }
    kn_dist_finalize();
    return rc;
}
