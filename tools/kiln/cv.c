/* cv.c — `kiln cv SPEC --data DATA --folds K [--grid JSON] [--json]`: k-fold
 * cross-validation. The data's training rows are cut into K stratified, seeded folds; for each
 * fold a fresh model from the description trains on the other folds and is evaluated on it.
 * Reports each fold and the mean and standard deviation of every metric (JSON: folds, mean_X,
 * std_X). With --grid, as scikit-learn's GridSearchCV: every combination of the listed values
 * is put into the description and cross-validated on the same folds, and the one with the
 * best mean accuracy (or R²) is reported with its full description. With --out DIR, as
 * scikit-learn's refit: the (best) description then trains on all the rows and is saved as
 * DIR/model.kiln, with the CSV preprocessing fitted on all of them. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char cv_help[] =
    "usage: kiln cv SPEC --data DATA [options]\n"
    "\n"
    "K-fold cross-validation of the model a JSON description gives (a path, or the text).\n"
    CLI_MODEL_TYPES_HELP
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
    "  --grid JSON              a grid search (default: none): an object of lists, each key a\n"
    "                           description key or a path into it (\"C\", \"optimizer.learning_rate\",\n"
    "                           \"layers.0.units\"); every combination is cross-validated on the\n"
    "                           same folds and the best mean accuracy (regression: R2) wins\n"
    "  --scoring METRIC         what the grid search ranks by: accuracy, f1_macro or loss\n"
    "                           (classification), r2, mse, mae or loss (regression); loss,\n"
    "                           mse and mae lower is better (default: accuracy, or r2)\n"
    "  --out DIR                then train the (best) description on all the rows and write\n"
    "                           DIR/model.kiln (scikit-learn's refit) (default: none)\n"
    "  --targets T              labels (default) or inputs: each row its own target (an\n"
    "                           autoencoder, as kiln train --targets inputs; scored as a\n"
    "                           regression: loss, mse, mae, r2), after the preprocessing\n"
    "\n" CLI_GLOBAL_HELP
    "\n"
    "JSON keys: folds, and mean_X and std_X (population standard deviation over the folds)\n"
    "for X in loss, accuracy, f1_macro (classification) or loss, mse, mae, r2 (regression);\n"
    "per_fold (a list). With --grid: grid (a list of {params, mean_X, std_X}), best_index, scoring,\n"
    "best_params, best_spec (the whole description), and the best one's mean_X and std_X.\n"
    "With --out: model (the saved file's path) and n_refit (the rows it trained on).\n";

enum { MAX_FOLDS = 100, METRICS = 4, MAX_GRID = 1000 };
static const char *const class_metrics[METRICS] = {"loss", "accuracy", "f1_macro", NULL};
static const char *const regression_metrics[METRICS] = {"loss", "mse", "mae", "r2"};

typedef struct cv_args {
    const char *spec, *data, *class_weight, *grid, *out, *scoring, *targets;
    long long folds, epochs, batch_size;
} cv_args;

#define AT(field) offsetof(cv_args, field)
static const cli_option cv_options[] = {
    CLI_NON_EMPTY("--data", AT(data)),
    CLI_NON_EMPTY("--class-weight", AT(class_weight)),
    CLI_NON_EMPTY("--grid", AT(grid)),
    CLI_NON_EMPTY("--out", AT(out)),
    CLI_NON_EMPTY("--scoring", AT(scoring)),
    CLI_NON_EMPTY("--targets", AT(targets)),
    CLI_INT("--folds", AT(folds), 2, MAX_FOLDS),
    CLI_INT("--epochs", AT(epochs), 1, 1000000),
    CLI_INT("--batch-size", AT(batch_size), 1, 1 << 24),
    {0}};
static const cli_positional cv_positionals[] = {{AT(spec), "SPEC (a JSON model description)"}};
static const cli_command cv_command = {"cv", cv_help, cv_options, cv_positionals, CLI_COUNT(cv_positionals)};

/* Whether the data's rows are scored as classes: labels of classes, not --targets inputs. */
static bool classifies(const cv_args *a, const kn_dataset *all) {
    return kn_dataset_classes(all) > 0 && !(a->targets && strcmp(a->targets, "inputs") == 0);
}

/* A fresh model from the description `json`, trained on tr (preprocessed) with the fit
 * options the description and the command line give; *m receives it (NULL on failure). */
static int fit_description(kn_ctx *ctx, const cv_args *a, const char *json, const char *spec_name, kn_dataset *tr,
                           kn_model **m) {
    kn_spec spec = {0};
    kn_status st;
    if ((st = kn_model_from_json(ctx, json, tr, m, &spec)) || (st = kn_model_compile(*m, &spec.compile))) {
        fprintf(stderr, "kiln: %s: %s\n", spec_name, kn_last_error(ctx));
        kn_model_free(*m);
        *m = NULL;
        return CLI_RUNTIME;
    }
    kn_fit_opts fo = {.epochs = a->epochs ? (int)a->epochs : spec.epochs, .batch_size = a->batch_size ? a->batch_size : spec.batch_size,
                      .verbose = 0, .class_weight_balanced = a->class_weight != NULL || spec.class_weight_balanced,
                      .schedule = spec.schedule, .augment = spec.augment};
    if (!a->class_weight && spec.n_class_weights) /* the description's list of weights by class */
        fo.class_weight = spec.class_weight, fo.n_class_weights = spec.n_class_weights;
    if ((st = kn_model_fit(*m, tr, &fo, NULL))) {
        kn_model_free(*m);
        *m = NULL;
        return cli_fail(ctx, st);
    }
    return CLI_OK;
}

/* Cross-validates the description `json` on all's folds into value[fold][metric]; prints a
 * line per fold unless quiet. */
static int run_folds(kn_ctx *ctx, const cli_global *g, const cv_args *a, const char *json, const char *spec_name, kn_dataset *all,
                     bool quiet, double value[MAX_FOLDS][METRICS]) {
    const bool classify = classifies(a, all);
    const char *const *names = classify ? class_metrics : regression_metrics;
    const int shown = classify ? 3 : 4;
    FILE *human = g->json ? stderr : stdout;
    int rc = CLI_OK;
    kn_status st;
    for (int k = 0; k < a->folds && !rc; k++) {
        kn_dataset *tr = NULL, *te = NULL;
        kn_model *m = NULL;
        kn_eval_report rep;
        cli_global fold_g = *g;
        fold_g.quiet = g->quiet || quiet;
        if ((st = kn_dataset_fold(all, (int)a->folds, k, g->seed, &tr, &te))) {
            rc = cli_fail(ctx, st);
        } else if ((rc = cli_preprocess(ctx, &fold_g, NULL, &tr, &te, NULL))) { /* CSV: fitted on this fold's training rows */
        } else if ((rc = cli_apply_targets(ctx, a->targets, &tr)) || (rc = cli_apply_targets(ctx, a->targets, &te))) {
        } else if ((rc = fit_description(ctx, a, json, spec_name, tr, &m))) {
        } else if ((st = kn_model_evaluate(m, te, &rep))) {
            rc = cli_fail(ctx, st);
        } else {
            double got[METRICS] = {rep.loss, rep.accuracy, rep.f1_macro, NAN};
            if (!classify) got[1] = rep.mse, got[2] = rep.mae, got[3] = rep.r2;
            if (!fold_g.quiet) fprintf(human, "fold %d/%lld: %lld train, %lld test rows", k + 1, a->folds,
                                       (long long)kn_dataset_size(tr), (long long)kn_dataset_size(te));
            for (int j = 0; j < shown; j++) {
                value[k][j] = got[j];
                if (!fold_g.quiet && isfinite(got[j])) fprintf(human, " - %s %.4f", names[j], got[j]);
            }
            if (!fold_g.quiet) fputc('\n', human);
        }
        kn_model_free(m);
        kn_dataset_free(tr);
        kn_dataset_free(te);
    }
    return rc;
}

/* --out DIR: the description `json` trained on all the rows (*all, replaced by its
 * preprocessed form for CSV data, the preprocessing fitted on every row and kept with the
 * model) and saved as DIR/model.kiln; *path receives that path, *rows the rows used. */
static int refit(kn_ctx *ctx, const cli_global *g, const cv_args *a, const char *json, const char *spec_name, kn_dataset **all,
                 char **path, long long *rows) {
    kn_preprocessor *prep = NULL;
    kn_model *m = NULL;
    kn_status st = KN_OK;
    cli_global quiet_g = *g;
    quiet_g.quiet = true;
    *path = cli_path_join(a->out, "model.kiln");
    int rc = *path ? CLI_OK : (fprintf(stderr, "kiln: %s: out of memory\n", a->out), CLI_RUNTIME);
    if (!rc) rc = cli_preprocess(ctx, &quiet_g, NULL, all, NULL, &prep);
    if (!rc) rc = cli_apply_targets(ctx, a->targets, all);
    if (!rc) rc = fit_description(ctx, a, json, spec_name, *all, &m);
    if (!rc && prep && (st = kn_model_set_preprocessor(m, prep))) rc = cli_fail(ctx, st);
    if (!rc && (st = kn_model_save(m, *path))) rc = cli_fail(ctx, st);
    *rows = (long long)kn_dataset_size(*all);
    if (!rc && !g->quiet)
        fprintf(g->json ? stderr : stdout, "refit on all %lld rows: saved %s\n", *rows, *path);
    kn_model_free(m);
    kn_preprocessor_free(prep);
    return rc;
}

/* The index of metric name among names[0, shown), or -1. */
static int metric_index(const char *const *names, int shown, const char *name) {
    for (int j = 0; j < shown; j++)
        if (strcmp(names[j], name) == 0) return j;
    return -1;
}

static void mean_sd(const double value[MAX_FOLDS][METRICS], int folds, int shown, double mean[METRICS], double sd[METRICS]) {
    for (int j = 0; j < shown; j++) {
        double s = 0, ss = 0;
        for (int k = 0; k < folds; k++) s += value[k][j];
        mean[j] = s / (double)folds;
        for (int k = 0; k < folds; k++) ss += (value[k][j] - mean[j]) * (value[k][j] - mean[j]);
        sd[j] = sqrt(ss / (double)folds);
    }
}

static void json_means(const double mean[METRICS], const double sd[METRICS], const char *const *names, int shown, bool *first) {
    for (int j = 0; j < shown; j++) {
        char key[32];
        snprintf(key, sizeof key, "mean_%s", names[j]);
        cli_json_key_number(stdout, key, mean[j], first);
        snprintf(key, sizeof key, "std_%s", names[j]);
        cli_json_key_number(stdout, key, sd[j], first);
    }
}

/* ---------------------------------------------------------------- --grid */

/* Sets path ("a", "a.b", "layers.0.units") in spec to a copy of v; creates missing objects.
 * false, with a usage error printed, when the path runs into something else. */
static bool set_path(cJSON *spec, const char *path, const cJSON *v) {
    char buf[256];
    if (strlen(path) >= sizeof buf) return cli_usage_error("cv", "--grid: the key '%.40s...' is too long", path), false;
    strcpy(buf, path);
    cJSON *at = spec;
    char *save = NULL, *part = strtok_r(buf, ".", &save);
    while (part) {
        char *next = strtok_r(NULL, ".", &save);
        cJSON *child = NULL;
        if (cJSON_IsArray(at)) {
            char *end;
            long i = strtol(part, &end, 10);
            if (*end || i < 0 || i >= cJSON_GetArraySize(at))
                return cli_usage_error("cv", "--grid: '%s': '%s' is not an index of the list there", path, part), false;
            if (!next) return cJSON_ReplaceItemInArray(at, (int)i, cJSON_Duplicate(v, 1)), true;
            child = cJSON_GetArrayItem(at, (int)i);
        } else if (cJSON_IsObject(at)) {
            if (!next) { /* in place when present, so the description keeps its order */
                if (cJSON_GetObjectItemCaseSensitive(at, part)) cJSON_ReplaceItemInObjectCaseSensitive(at, part, cJSON_Duplicate(v, 1));
                else cJSON_AddItemToObject(at, part, cJSON_Duplicate(v, 1));
                return true;
            }
            child = cJSON_GetObjectItemCaseSensitive(at, part);
            if (!child) child = cJSON_AddObjectToObject(at, part);
        } else {
            return cli_usage_error("cv", "--grid: '%s': '%s' is inside a value, not an object or list", path, part), false;
        }
        at = child;
        part = next;
    }
    return cli_usage_error("cv", "--grid: an empty key"), false;
}

/* Parses --grid: an object of non-empty lists, at most MAX_GRID combinations in all. */
static cJSON *parse_grid(const char *text, int *combos) {
    cJSON *grid = cJSON_Parse(text);
    if (!cJSON_IsObject(grid) || !grid->child) {
        cJSON_Delete(grid);
        cli_usage_error("cv", "--grid: expected a JSON object of lists, e.g. '{\"C\": [0.1, 1, 10]}'");
        return NULL;
    }
    long long n = 1;
    for (const cJSON *k = grid->child; k; k = k->next) {
        if (!cJSON_IsArray(k) || cJSON_GetArraySize(k) < 1) {
            cli_usage_error("cv", "--grid: '%s' must be a non-empty list of values", k->string);
            cJSON_Delete(grid);
            return NULL;
        }
        n *= cJSON_GetArraySize(k);
        if (n > MAX_GRID) {
            cli_usage_error("cv", "--grid: over %d combinations", MAX_GRID);
            cJSON_Delete(grid);
            return NULL;
        }
    }
    *combos = (int)n;
    return grid;
}

/* The params of combination c (the last key varies fastest, as scikit-learn's ParameterGrid
 * over sorted keys would with the keys in the order given). */
static cJSON *grid_params(const cJSON *grid, int c) {
    int keys = cJSON_GetArraySize(grid);
    const cJSON *key[64];
    int i = 0;
    for (const cJSON *k = grid->child; k && i < 64; k = k->next) key[i++] = k;
    cJSON *p = cJSON_CreateObject();
    int pick[64];
    for (int j = (keys < 64 ? keys : 64) - 1; j >= 0; j--) {
        int len = cJSON_GetArraySize(key[j]);
        pick[j] = c % len;
        c /= len;
    }
    for (int j = 0; j < keys && j < 64; j++) cJSON_AddItemToObject(p, key[j]->string, cJSON_Duplicate(cJSON_GetArrayItem(key[j], pick[j]), 1));
    return p;
}

/* Before any data is read: the grid parses and each of its keys is a path into the
 * description (a description that does not parse gets kiln's own message for it). */
static int grid_check(kn_ctx *ctx, const char *grid_text, const char *json, const char *spec_name) {
    int combos = 0;
    cJSON *grid = parse_grid(grid_text, &combos), *spec = grid ? cJSON_Parse(json) : NULL;
    int rc = grid ? CLI_OK : CLI_USAGE;
    if (grid && !cJSON_IsObject(spec)) {
        kn_model *m = NULL;
        kn_spec sp;
        kn_status st = kn_model_from_json(ctx, json, NULL, &m, &sp);
        kn_model_free(m);
        fprintf(stderr, "kiln: %s: %s\n", spec_name, st ? kn_last_error(ctx) : "not a JSON object");
        rc = CLI_RUNTIME;
    } else if (grid && cJSON_GetArraySize(grid) > 64) {
        rc = cli_usage_error("cv", "--grid: over 64 keys");
    } else if (grid) {
        cJSON *first = grid_params(grid, 0);
        for (const cJSON *p = first->child; p && !rc; p = p->next)
            if (!set_path(spec, p->string, p)) rc = CLI_USAGE;
        cJSON_Delete(first);
    }
    cJSON_Delete(grid);
    cJSON_Delete(spec);
    return rc;
}

static int grid_search(kn_ctx *ctx, const cli_global *g, const cv_args *a, const char *json, const char *spec_name, kn_dataset **all_p) {
    kn_dataset *all = *all_p;
    int combos = 0;
    cJSON *grid = parse_grid(a->grid, &combos), *spec = cJSON_Parse(json);
    if (!grid || !spec) { /* grid_check passed both: out of memory */
        cJSON_Delete(grid);
        cJSON_Delete(spec);
        fprintf(stderr, "kiln: out of memory\n");
        return CLI_RUNTIME;
    }
    const bool classify = classifies(a, all);
    const char *const *names = classify ? class_metrics : regression_metrics;
    const int shown = classify ? 3 : 4;
    int score = classify ? 1 : 3; /* accuracy, r2 */
    if (a->scoring && (score = metric_index(names, shown, a->scoring)) < 0) { /* (cmd_cv checked it against both lists) */
        fprintf(stderr, "kiln: --scoring %s: not a %s metric (expected %s)\n", a->scoring,
                classify ? "classification" : "regression", classify ? "accuracy, f1_macro or loss" : "r2, mse, mae or loss");
        cJSON_Delete(grid);
        cJSON_Delete(spec);
        return CLI_USAGE;
    }
    const bool lower_better = score == 0 || (!classify && score < 3); /* loss, mse, mae */
    FILE *human = g->json ? stderr : stdout;
    double (*mean)[METRICS] = calloc((size_t)combos, sizeof *mean), (*sd)[METRICS] = calloc((size_t)combos, sizeof *sd);
    static double value[MAX_FOLDS][METRICS];
    int rc = mean && sd ? CLI_OK : (fprintf(stderr, "kiln: out of memory\n"), CLI_RUNTIME), best = -1;
    for (int c = 0; c < combos && !rc; c++) {
        cJSON *params = grid_params(grid, c), *point = cJSON_Duplicate(spec, 1);
        for (const cJSON *p = params->child; p && !rc; p = p->next)
            if (!set_path(point, p->string, p)) rc = CLI_USAGE;
        char *text = rc ? NULL : cJSON_PrintUnformatted(point), *shown_params = cJSON_PrintUnformatted(params);
        if (!rc) rc = run_folds(ctx, g, a, text, spec_name, all, true, value);
        if (!rc) {
            mean_sd(value, (int)a->folds, shown, mean[c], sd[c]);
            double v = mean[c][score], b = best < 0 ? NAN : mean[best][score]; /* NaN: no such metric (an SVM's loss) */
            if (best < 0 || (isfinite(v) && (!isfinite(b) || (lower_better ? v < b : v > b)))) best = c;
            if (!g->quiet) {
                fprintf(human, "%d/%d %s:", c + 1, combos, shown_params ? shown_params : "?");
                for (int j = 0; j < shown; j++)
                    if (isfinite(mean[c][j])) fprintf(human, " %s %.4f +- %.4f", names[j], mean[c][j], sd[c][j]);
                fputc('\n', human);
            }
        }
        free(text);
        free(shown_params);
        cJSON_Delete(params);
        cJSON_Delete(point);
    }
    if (!rc && !isfinite(mean[best][score])) {
        fprintf(stderr, "kiln: %s: no combination has a %s to rank by (the model gives no %s%s)\n", spec_name, names[score],
                names[score], score == 0 ? ": no probabilities" : "");
        rc = CLI_RUNTIME;
    }
    if (!rc) {
        cJSON *bp = grid_params(grid, best), *bs = cJSON_Duplicate(spec, 1);
        for (const cJSON *p = bp->child; p; p = p->next) set_path(bs, p->string, p);
        char *bp_text = cJSON_PrintUnformatted(bp), *bs_text = cJSON_PrintUnformatted(bs), *model_path = NULL;
        long long refit_rows = 0;
        if (!bs_text) rc = (fprintf(stderr, "kiln: out of memory\n"), CLI_RUNTIME);
        if (!rc && a->out) rc = refit(ctx, g, a, bs_text, spec_name, all_p, &model_path, &refit_rows);
        if (!rc && (!g->json || !g->quiet)) {
            fprintf(human, "grid search of %s on %s, %lld folds, %d combinations; best (by mean %s): %s\n", spec_name, a->data, a->folds,
                    combos, names[score], bp_text ? bp_text : "?");
            for (int j = 0; j < shown; j++)
                if (isfinite(mean[best][j])) fprintf(human, "  %-9s %.4f +- %.4f\n", names[j], mean[best][j], sd[best][j]);
            fprintf(human, "  description: %s\n", bs_text ? bs_text : "?");
        }
        if (!rc && g->json) {
            bool first = true;
            fputc('{', stdout);
            cli_json_key_number(stdout, "folds", (double)a->folds, &first);
            json_means(mean[best], sd[best], names, shown, &first);
            cli_json_key_number(stdout, "best_index", best, &first);
            fprintf(stdout, ", \"scoring\": \"%s\"", names[score]);
            if (model_path) {
                fprintf(stdout, ", \"model\": ");
                cli_json_string(stdout, model_path);
                cli_json_key_number(stdout, "n_refit", (double)refit_rows, &first);
            }
            fprintf(stdout, ", \"best_params\": %s, \"best_spec\": %s, \"grid\": [", bp_text ? bp_text : "null", bs_text ? bs_text : "null");
            for (int c = 0; c < combos; c++) {
                cJSON *params = grid_params(grid, c);
                char *pt = cJSON_PrintUnformatted(params);
                bool f = false;
                fprintf(stdout, "%s{\"params\": %s", c ? ", " : "", pt ? pt : "null");
                json_means(mean[c], sd[c], names, shown, &f);
                fputc('}', stdout);
                free(pt);
                cJSON_Delete(params);
            }
            fprintf(stdout, "]}\n");
        }
        free(bp_text);
        free(bs_text);
        free(model_path);
        cJSON_Delete(bp);
        cJSON_Delete(bs);
    }
    free(mean);
    free(sd);
    cJSON_Delete(grid);
    cJSON_Delete(spec);
    return rc;
}

int cmd_cv(int argc, char **argv, cli_global *g) {
    cv_args a = {.folds = 5};
    int parsed = cli_parse_args(&cv_command, argc, argv, g, &a);
    if (parsed != CLI_PARSED) return parsed;
    const char *spec_arg = a.spec, *data = a.data, *class_weight = a.class_weight;
    long long folds = a.folds;
    if (!data) return cli_usage_error("cv", "missing --data DATA");
    if (cli_check_targets("cv", a.targets) != CLI_PARSED) return CLI_USAGE;
    if (class_weight && strcmp(class_weight, "balanced") != 0)
        return cli_usage_error("cv", "--class-weight: only 'balanced' here (lists: kiln train)");
    if (!cli_device_ok(g)) return CLI_RUNTIME;
    if (a.scoring && !a.grid) return cli_usage_error("cv", "--scoring ranks a --grid search; give --grid too");
    if (a.scoring && metric_index(class_metrics, 3, a.scoring) < 0 && metric_index(regression_metrics, 4, a.scoring) < 0)
        return cli_usage_error("cv", "--scoring: unknown metric '%s' (expected accuracy, f1_macro, loss, r2, mse or mae)",
                               a.scoring);
    if (a.out && cli_mkdir_p(a.out)) return CLI_RUNTIME;
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
    const char *spec_name = spec_arg[0] == '{' ? "SPEC" : spec_arg;
    int rc = a.grid ? grid_check(ctx, a.grid, json, spec_name) : CLI_OK;
    kn_dataset *all = NULL, *unused_test = NULL;
    double value[MAX_FOLDS][METRICS];
    kn_status st = rc ? KN_OK : kn_dataset_load(ctx, data, &all, &unused_test);
    if (rc) goto done;
    if (st) {
        rc = cli_fail(ctx, st);
        goto done;
    }
    if (a.grid) {
        rc = grid_search(ctx, g, &a, json, spec_name, &all);
        goto done;
    }
    bool classify = classifies(&a, all);
    const char *const *names = classify ? class_metrics : regression_metrics;
    int shown = classify ? 3 : 4;
    FILE *human = g->json ? stderr : stdout;
    rc = run_folds(ctx, g, &a, json, spec_name, all, false, value);
    if (rc) goto done;
    double mean[METRICS], sd[METRICS];
    mean_sd(value, (int)folds, shown, mean, sd);
    char *model_path = NULL;
    long long refit_rows = 0;
    if (a.out && (rc = refit(ctx, g, &a, json, spec_name, &all, &model_path, &refit_rows))) {
        free(model_path);
        goto done;
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
        json_means(mean, sd, names, shown, &first);
        fprintf(stdout, ", \"per_fold\": [");
        for (int k = 0; k < folds; k++) {
            bool f = true;
            fprintf(stdout, "%s{", k ? ", " : "");
            for (int j = 0; j < shown; j++) cli_json_key_number(stdout, names[j], value[k][j], &f);
            fputc('}', stdout);
        }
        fprintf(stdout, "]");
        if (model_path) {
            fprintf(stdout, ", \"model\": ");
            cli_json_string(stdout, model_path);
            cli_json_key_number(stdout, "n_refit", (double)refit_rows, &first);
        }
        fprintf(stdout, "}\n");
    }
    free(model_path);
done:
    kn_dataset_free(all);
    kn_dataset_free(unused_test);
    free(json);
    kn_ctx_free(ctx);
    return rc;
}
