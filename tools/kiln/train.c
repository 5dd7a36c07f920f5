/* train.c — `kiln train SPEC --data DATA [options]`: builds the model a JSON description
 * gives, trains it, evaluates it on the data's test split, and reports (JSON keys as
 * INTERFACE.md defines them). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *train_help =
    "usage: kiln train SPEC --data DATA [options]\n"
    "\n"
    "SPEC is a JSON model description: a path (models/mlp.json) or the text itself ('{...}').\n"
    "Options override the description's own values.\n"
    "\n"
    "  --data DATA              fashion-mnist | mnist | idx:DIR (required)\n"
    "  --epochs N               epochs (default: the description's, else 1)\n"
    "  --batch-size N           batch size (default: the description's, else 32)\n"
    "  --optimizer NAME         sgd | adam | adamw | rmsprop | adagrad, with Keras's defaults\n"
    "                           (default: the description's, else adam)\n"
    "  --lr X                   learning rate (default: the optimizer's)\n"
    "  --validation-split F     hold out the last fraction F of the training data (default: 0)\n"
    "  --precision fp32         arithmetic precision (default: fp32; the only one so far)\n"
    "\n" CLI_GLOBAL_HELP
    "\n"
    "JSON keys: model_type, task, n_train, n_test, params, epochs, batch_size, steps, threads,\n"
    "ranks, precision, train_seconds, seconds_per_epoch, final_loss, val_loss, val_accuracy,\n"
    "test_loss, test_accuracy, test_f1_macro.\n";

typedef struct train_args {
    const char *spec, *data, *optimizer, *precision;
    long long epochs, batch_size;
    double lr, validation_split;
} train_args;

static int parse_args(int argc, char **argv, cli_global *g, train_args *a, bool *help) {
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int taken = cli_take_global(g, argc, argv, &i);
        if (taken < 0) return CLI_USAGE;
        if (taken) continue;
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) { *help = true; return CLI_OK; }
        if (strcmp(s, "--data") == 0 || strcmp(s, "--optimizer") == 0 || strcmp(s, "--precision") == 0) {
            if (!val) return cli_usage_error("train", "%s needs a value", s);
            if (s[2] == 'd') a->data = val;
            else if (s[2] == 'o') a->optimizer = val;
            else a->precision = val;
            i++;
        } else if (strcmp(s, "--epochs") == 0) {
            if (!cli_parse_int("train", s, val, 1, 1000000, &a->epochs)) return CLI_USAGE;
            i++;
        } else if (strcmp(s, "--batch-size") == 0) {
            if (!cli_parse_int("train", s, val, 1, 1 << 24, &a->batch_size)) return CLI_USAGE;
            i++;
        } else if (strcmp(s, "--lr") == 0) {
            if (!cli_parse_double("train", s, val, 1e-12, 1e6, &a->lr)) return CLI_USAGE;
            i++;
        } else if (strcmp(s, "--validation-split") == 0) {
            if (!cli_parse_double("train", s, val, 0, 0.99, &a->validation_split)) return CLI_USAGE;
            i++;
        } else if (s[0] == '-' && s[1] == '-') {
            return cli_usage_error("train", "unknown option '%s'", s);
        } else if (!a->spec) {
            a->spec = s;
        } else {
            return cli_usage_error("train", "unexpected argument '%s'", s);
        }
    }
    if (!a->spec) return cli_usage_error("train", "missing SPEC (a JSON model description)");
    if (!a->data) return cli_usage_error("train", "missing --data DATA");
    kn_optimizer_kind kind;
    if (a->optimizer && !kn_optimizer_parse(a->optimizer, &kind))
        return cli_usage_error("train", "--optimizer: unknown optimizer '%s' (sgd, adam, adamw, rmsprop, adagrad)",
                               a->optimizer);
    if (a->precision && strcmp(a->precision, "fp32") != 0)
        return cli_usage_error("train", "--precision %s is not available yet (fp32 only)", a->precision);
    return CLI_OK;
}

static void json_number(FILE *f, const char *key, double v, bool *first) {
    fprintf(f, "%s\"%s\": ", *first ? "" : ", ", key);
    if (isfinite(v)) fprintf(f, "%.10g", v);
    else fputs("null", f);
    *first = false;
}

int cmd_train(int argc, char **argv, cli_global *g) {
    train_args a = {0};
    bool help = false;
    int rc = parse_args(argc, argv, g, &a, &help);
    if (help) {
        fputs(train_help, stdout);
        return CLI_OK;
    }
    if (rc) return rc;
    if (strcmp(g->device, "cpu") != 0) {
        fprintf(stderr, "kiln: --device %s: this build of kiln has no CUDA backend\n", g->device);
        return CLI_RUNTIME;
    }
    char *json = NULL;
    if (a.spec[0] == '{') {
        json = strdup(a.spec);
    } else if (!(json = cli_read_file(a.spec))) {
        fprintf(stderr, "kiln: %s: cannot read the model description: %s\n", a.spec, strerror(errno));
        return CLI_RUNTIME;
    }
    kn_ctx *ctx = cli_ctx(g);
    if (!ctx) {
        free(json);
        return CLI_RUNTIME;
    }
    kn_dataset *train = NULL, *test = NULL;
    kn_model *m = NULL;
    kn_spec spec;
    const kn_history *h = NULL;
    kn_eval_report test_report = {.loss = NAN, .accuracy = NAN, .f1_macro = NAN};
    const char *spec_name = a.spec[0] == '{' ? "SPEC" : a.spec;

    kn_status st = kn_dataset_load(ctx, a.data, &train, &test);
    if (st) { rc = cli_fail(ctx, st); goto done; }
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
    if (a.epochs) spec.epochs = (int)a.epochs;
    if (a.batch_size) spec.batch_size = a.batch_size;
    if ((st = kn_model_compile(m, &spec.compile))) {
        fprintf(stderr, "kiln: %s: %s\n", spec_name, kn_last_error(ctx));
        rc = CLI_RUNTIME;
        goto done;
    }
    if (!g->quiet) {
        char summary[512];
        kn_model_summary(m, summary, sizeof summary);
        fprintf(g->json ? stderr : stdout, "%s\n", summary);
    }
    kn_fit_opts fo = {.epochs = spec.epochs, .batch_size = spec.batch_size,
                      .validation_split = a.validation_split, .verbose = g->quiet ? 0 : 1};
    if ((st = kn_model_fit(m, train, &fo, &h))) { rc = cli_fail(ctx, st); goto done; }
    if (test) {
        if ((st = kn_model_evaluate(m, test, &test_report))) { rc = cli_fail(ctx, st); goto done; }
        if (!g->quiet)
            fprintf(g->json ? stderr : stdout, "test: loss %.4f, accuracy %.4f, f1_macro %.4f (%lld samples)\n",
                    test_report.loss, test_report.accuracy, test_report.f1_macro, (long long)test_report.n);
    }
    if (g->json) {
        const kn_epoch_record *last = h->n_epochs ? &h->epochs[h->n_epochs - 1] : NULL;
        bool first = true, classify = kn_dataset_classes(train) > 0;
        double n_val = floor((double)kn_dataset_size(train) * a.validation_split);
        printf("{\"model_type\": \"sequential\", \"task\": \"%s\", \"precision\": \"fp32\"",
               classify ? "classification" : "regression");
        first = false;
        json_number(stdout, "n_train", (double)kn_dataset_size(train) - n_val, &first);
        json_number(stdout, "n_test", test ? (double)kn_dataset_size(test) : 0, &first);
        json_number(stdout, "params", (double)kn_model_param_count(m), &first);
        json_number(stdout, "epochs", h->n_epochs, &first);
        json_number(stdout, "batch_size", (double)spec.batch_size, &first);
        json_number(stdout, "steps", (double)h->steps, &first);
        json_number(stdout, "threads", kn_ctx_threads(ctx), &first);
        json_number(stdout, "ranks", 1, &first);
        json_number(stdout, "train_seconds", h->train_seconds, &first);
        json_number(stdout, "seconds_per_epoch", h->seconds_per_epoch, &first);
        json_number(stdout, "final_loss", last ? last->loss : NAN, &first);
        if (a.validation_split > 0) {
            json_number(stdout, "val_loss", last ? last->val_loss : NAN, &first);
            json_number(stdout, "val_accuracy", last ? last->val_accuracy : NAN, &first);
        }
        if (test) {
            json_number(stdout, "test_loss", test_report.loss, &first);
            json_number(stdout, "test_accuracy", test_report.accuracy, &first);
            json_number(stdout, "test_f1_macro", test_report.f1_macro, &first);
        }
        printf("}\n");
    }
done:
    kn_model_free(m);
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_ctx_free(ctx);
    free(json);
    return rc;
}
