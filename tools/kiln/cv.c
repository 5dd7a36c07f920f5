/* cv.c — `kiln cv SPEC --data DATA --folds K [--json]`: k-fold cross-validation. The data's
 * training rows are cut into K stratified, seeded folds; for each fold a fresh model from the
 * description trains on the other folds and is evaluated on it. Reports each fold and the
 * mean and standard deviation of every metric (JSON: folds, mean_X, std_X). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char cv_help[] =
    "usage: kiln cv SPEC --data DATA [options]\n"
    "\n"
    "K-fold cross-validation of the model a JSON description gives (a path, or the text).\n"
    "\n"
    "  --data DATA              fashion-mnist | mnist | idx:DIR | csv:FILE[:key=value]...\n"
    "                           (required); its training rows. CSV preprocessing is fitted on\n"
    "                           each fold's training rows only\n"
    "  --folds K                folds (default 5), stratified by class, seeded\n"
    "  --epochs N               epochs per fold (default: the description's)\n"
    "  --batch-size N           batch size (default: the description's)\n"
    "  --class-weight W         balanced (a list of weights: in the description's\n"
    "                           class_weight, or kiln train) (default: the description's\n"
    "                           class_weight, else none)\n"
    "\n" CLI_GLOBAL_HELP
    "\n"
    "JSON keys: folds, and mean_X and std_X (population standard deviation over the folds)\n"
    "for X in loss, accuracy, f1_macro (classification) or loss, mse, mae, r2 (regression);\n"
    "per_fold (a list).\n";

enum { MAX_FOLDS = 100, METRICS = 4 };
static const char *const class_metrics[METRICS] = {"loss", "accuracy", "f1_macro", NULL};
static const char *const regression_metrics[METRICS] = {"loss", "mse", "mae", "r2"};

typedef struct cv_args {
    const char *spec, *data, *class_weight;
    long long folds, epochs, batch_size;
} cv_args;

#define AT(field) offsetof(cv_args, field)
static const cli_option cv_options[] = {
    CLI_NON_EMPTY("--data", AT(data)),
    CLI_NON_EMPTY("--class-weight", AT(class_weight)),
    CLI_INT("--folds", AT(folds), 2, MAX_FOLDS),
    CLI_INT("--epochs", AT(epochs), 1, 1000000),
    CLI_INT("--batch-size", AT(batch_size), 1, 1 << 24),
    {0}};
static const cli_positional cv_positionals[] = {{AT(spec), "SPEC (a JSON model description)"}};
static const cli_command cv_command = {"cv", cv_help, cv_options, cv_positionals, CLI_COUNT(cv_positionals)};

int cmd_cv(int argc, char **argv, cli_global *g) {
    cv_args a = {.folds = 5};
    int parsed = cli_parse_args(&cv_command, argc, argv, g, &a);
    if (parsed != CLI_PARSED) return parsed;
    const char *spec_arg = a.spec, *data = a.data, *class_weight = a.class_weight;
    long long folds = a.folds, epochs = a.epochs, batch = a.batch_size;
    if (!data) return cli_usage_error("cv", "missing --data DATA");
    if (class_weight && strcmp(class_weight, "balanced") != 0)
        return cli_usage_error("cv", "--class-weight: only 'balanced' here (lists: kiln train)");
    if (!cli_device_ok(g)) return CLI_RUNTIME;
    char *json = spec_arg[0] == '{' ? strdup(spec_arg) : cli_read_file(spec_arg);
    if (!json) {
        fprintf(stderr, "kiln: %s: cannot read the model description: %s\n", spec_arg, strerror(errno));
        return CLI_RUNTIME;
    }
    kn_ctx *ctx = cli_ctx(g);
    if (!ctx) {
        free(json);
        return CLI_RUNTIME;
    }
    int rc = CLI_OK;
    kn_dataset *all = NULL, *unused_test = NULL;
    double value[MAX_FOLDS][METRICS];
    kn_status st = kn_dataset_load(ctx, data, &all, &unused_test);
    if (st) {
        rc = cli_fail(ctx, st);
        goto done;
    }
    bool classify = kn_dataset_classes(all) > 0;
    const char *const *names = classify ? class_metrics : regression_metrics;
    int shown = classify ? 3 : 4;
    FILE *human = g->json ? stderr : stdout;
    for (int k = 0; k < folds && !rc; k++) {
        kn_dataset *tr = NULL, *te = NULL;
        kn_model *m = NULL;
        kn_spec spec = {0};
        kn_eval_report rep;
        if ((st = kn_dataset_fold(all, (int)folds, k, g->seed, &tr, &te))) {
            rc = cli_fail(ctx, st);
        } else if ((rc = cli_preprocess(ctx, g, NULL, &tr, &te, NULL))) { /* CSV: fitted on this fold's training rows */
        } else if ((st = kn_model_from_json(ctx, json, tr, &m, &spec)) || (st = kn_model_compile(m, &spec.compile))) {
            fprintf(stderr, "kiln: %s: %s\n", spec_arg[0] == '{' ? "SPEC" : spec_arg, kn_last_error(ctx));
            rc = CLI_RUNTIME;
        } else {
            kn_fit_opts fo = {.epochs = epochs ? (int)epochs : spec.epochs, .batch_size = batch ? batch : spec.batch_size,
                              .verbose = 0, .class_weight_balanced = class_weight != NULL || spec.class_weight_balanced,
                              .schedule = spec.schedule, .augment = spec.augment};
            if (!class_weight && spec.n_class_weights) /* the description's list of weights by class */
                fo.class_weight = spec.class_weight, fo.n_class_weights = spec.n_class_weights;
            if ((st = kn_model_fit(m, tr, &fo, NULL)) || (st = kn_model_evaluate(m, te, &rep))) {
                rc = cli_fail(ctx, st);
            } else {
                double got[METRICS] = {rep.loss, rep.accuracy, rep.f1_macro, NAN};
                if (!classify) got[1] = rep.mse, got[2] = rep.mae, got[3] = rep.r2;
                if (!g->quiet) fprintf(human, "fold %d/%lld: %lld train, %lld test rows", k + 1, folds,
                                       (long long)kn_dataset_size(tr), (long long)kn_dataset_size(te));
                for (int j = 0; j < shown; j++) {
                    value[k][j] = got[j];
                    if (!g->quiet && isfinite(got[j])) fprintf(human, " - %s %.4f", names[j], got[j]);
                }
                if (!g->quiet) fputc('\n', human);
            }
        }
        kn_model_free(m);
        kn_dataset_free(tr);
        kn_dataset_free(te);
    }
    if (rc) goto done;
    double mean[METRICS], sd[METRICS];
    for (int j = 0; j < shown; j++) {
        double s = 0, ss = 0;
        for (int k = 0; k < folds; k++) s += value[k][j];
        mean[j] = s / (double)folds;
        for (int k = 0; k < folds; k++) ss += (value[k][j] - mean[j]) * (value[k][j] - mean[j]);
        sd[j] = sqrt(ss / (double)folds);
    }
    if (!g->json || !g->quiet) {
        fprintf(human, "%lld-fold cross-validation of %s on %s:\n", folds,
                spec_arg[0] == '{' ? "the description given" : spec_arg, data);
        /* a metric with no value (the loss of a model without probabilities) is left out, as eval does */
        for (int j = 0; j < shown; j++)
            if (isfinite(mean[j])) fprintf(human, "  %-9s %.4f +- %.4f\n", names[j], mean[j], sd[j]);
    }
    if (g->json) {
        bool first = true;
        fputc('{', stdout);
        cli_json_key_number(stdout, "folds", (double)folds, &first);
        for (int j = 0; j < shown; j++) {
            char key[32];
            snprintf(key, sizeof key, "mean_%s", names[j]);
            cli_json_key_number(stdout, key, mean[j], &first);
            snprintf(key, sizeof key, "std_%s", names[j]);
            cli_json_key_number(stdout, key, sd[j], &first);
        }
        fprintf(stdout, ", \"per_fold\": [");
        for (int k = 0; k < folds; k++) {
            bool f = true;
            fprintf(stdout, "%s{", k ? ", " : "");
            for (int j = 0; j < shown; j++) cli_json_key_number(stdout, names[j], value[k][j], &f);
            fputc('}', stdout);
        }
        fprintf(stdout, "]}\n");
    }
done:
    kn_dataset_free(all);
    kn_dataset_free(unused_test);
    free(json);
    kn_ctx_free(ctx);
    return rc;
}
