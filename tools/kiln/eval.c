/* eval.c — `kiln eval MODEL --data DATA [--out DIR]`: a saved model on a data source's
 * test split (the train split when it has none): loss, accuracy, precision/recall/F1 per
 * class and averaged, the confusion matrix, and with --out a confusion.svg heatmap.
 * Regression models report mse, rmse, mae and r2. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char eval_help[] =
    "usage: kiln eval MODEL --data DATA [--out DIR] [--int8] [options]\n"
    "\n"
    "Evaluates a saved model (a .kiln file, or an .onnx file imported as kiln import would)\n"
    "on the test split of DATA, or on its train split\n"
    "when DATA has no test split (said on stderr).\n"
    "\n"
    "  --data DATA      fashion-mnist | mnist | idx:DIR (the test split), or csv:FILE[:sep=..]\n"
    "                   [:na=..] (every row, through the model's saved preprocessing) (required)\n"
    "  --out DIR        write DIR/confusion.svg, creating DIR and its parents\n"
    "                   (default: none, nothing is written)\n"
    "  --targets T      labels (default) or inputs: each row its own target, for a model\n"
    "                   trained with kiln train --targets inputs (an autoencoder: the\n"
    "                   reconstruction's mse, rmse, mae and r2)\n"
    "  --int8           run the network's dense layers on 8-bit integers (dynamic\n"
    "                   quantization: weights per column, each input row over its range)\n"
    "\n" CLI_GLOBAL_HELP
    "\n"
    "JSON keys: n, loss, accuracy, precision_macro, recall_macro, f1_macro, f1_micro, log_loss,\n"
    "roc_auc (two classes), roc_auc_ovr and roc_auc_ovr_weighted (more classes: one-vs-rest),\n"
    "f1_weighted, labels, per_class (a list of {label, precision, recall, f1, support}),\n"
    "confusion (rows: true labels, in labels order); for regression n, loss, mse, rmse, mae, r2.\n";

typedef struct eval_args {
    const char *model, *data, *out, *targets;
    bool int8;
} eval_args;

#define AT(field) offsetof(eval_args, field)
static const cli_option eval_options[] = {CLI_NON_EMPTY("--data", AT(data)), CLI_NON_EMPTY("--out", AT(out)),
                                          CLI_STRING("--targets", AT(targets)), CLI_FLAG("--int8", AT(int8)), {0}};
static const cli_positional eval_positionals[] = {{AT(model), "MODEL (a .kiln or .onnx file)"}};
static const cli_command eval_command = {"eval", eval_help, eval_options, eval_positionals,
                                         CLI_COUNT(eval_positionals)};

static int parse_args(int argc, char **argv, cli_global *g, eval_args *a) {
    int rc = cli_parse_args(&eval_command, argc, argv, g, a);
    if (rc != CLI_PARSED) return rc;
    if (!a->data) return cli_usage_error("eval", "missing --data DATA");
    return cli_check_targets("eval", a->targets);
}

/* ---------------------------------------------------------------- confusion.svg */

typedef struct svg_job {
    const kn_model *m;
    const int64_t *cm; /* (c, c): [true][predicted] */
    int c;
} svg_job;

static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '&') fputs("&amp;", f);
        else if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '"') fputs("&quot;", f);
        else if ((unsigned char)*s >= 0x20) fputc(*s, f);
    }
}

/* A heatmap: cell colour is the share of its row (the true class), so each class reads
 * as its recall whatever the class sizes; the count is written in the cell. */
static bool write_confusion_svg(FILE *f, const void *user) {
    const svg_job *j = user;
    int c = j->c, cell = c <= 10 ? 44 : c <= 30 ? 24 : 12, font = cell >= 44 ? 12 : cell >= 24 ? 9 : 5;
    char buf[CLI_LABEL_BUF];
    size_t longest = 1;
    for (int k = 0; k < c; k++) {
        size_t n = strlen(cli_label(j->m, k, buf));
        longest = n > longest ? n : longest;
    }
    if (longest > 24) longest = 24;
    int left = 40 + (int)longest * 7, top = 40 + (int)longest * 5, w = left + c * cell + 10 + (int)longest * 5, h = top + c * cell + 20;
    if (w < 380) w = 380; /* the title's width */
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            w, h, w, h);
    fprintf(f, "<text x=\"8\" y=\"16\" font-size=\"13\">Confusion matrix (rows: true, columns: predicted)</text>\n");
    fprintf(f, "<text transform=\"translate(14 %d) rotate(-90)\" text-anchor=\"middle\">true</text>\n", top + c * cell / 2);
    for (int k = 0; k < c; k++) {
        const char *name = cli_label(j->m, k, buf);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" dominant-baseline=\"middle\">", left - 6, top + k * cell + cell / 2);
        xml_text(f, name);
        fprintf(f, "</text>\n<text transform=\"translate(%d %d) rotate(-45)\">", left + k * cell + cell / 2, top - 6);
        xml_text(f, name);
        fputs("</text>\n", f);
    }
    for (int t = 0; t < c; t++) {
        int64_t row = 0;
        for (int p = 0; p < c; p++) row += j->cm[t * c + p];
        for (int p = 0; p < c; p++) {
            int64_t n = j->cm[t * c + p];
            double share = row ? (double)n / (double)row : 0;
            int r = (int)(255 - share * (255 - 8)), g = (int)(255 - share * (255 - 48)), b = (int)(255 - share * (255 - 107));
            int x = left + p * cell, y = top + t * cell;
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,%d)\" stroke=\"#ccc\"/>\n", x, y,
                    cell, cell, r, g, b);
            fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"%d\" text-anchor=\"middle\" dominant-baseline=\"middle\" "
                       "fill=\"%s\">%lld</text>\n",
                    x + cell / 2, y + cell / 2, font, share > 0.5 ? "white" : "black", (long long)n);
        }
    }
    fputs("</svg>\n", f);
    return !ferror(f);
}

/* ---------------------------------------------------------------- reports */

/* From the model's probabilities on the data: ROC-AUC (two classes), log-loss, and for
 * more classes the one-vs-rest ROC-AUC, macro and weighted (scores[SCORE_*]); left NaN when
 * they cannot be had (out of memory, a class absent). The hinge losses' outputs (categorical
 * hinge's too) are scores,
 * not probabilities: ROC-AUC (which only ranks them) but no log-loss or one-vs-rest AUC
 * (scikit-learn's needs rows of probabilities). A classifier whose rows are one-hot decisions
 * (one_hot: linear_svm, svm without probability) gets none of them. */
enum { SCORE_AUC, SCORE_LOG_LOSS, SCORE_AUC_OVR, SCORE_AUC_OVR_WEIGHTED, SCORES };
static void probability_scores(kn_ctx *ctx, kn_model *m, const kn_dataset *ds, int c, double scores[SCORES], bool one_hot) {
    if (one_hot) return; /* a classifier's bare decisions (linear_svm, svm without probability): nothing to rank */
    kn_loss loss;
    bool probabilities = !(cli_model_loss(m, ctx, &loss) && (loss == KN_LOSS_HINGE || loss == KN_LOSS_SQUARED_HINGE ||
                                                               loss == KN_LOSS_CATEGORICAL_HINGE));
    int64_t n = kn_dataset_size(ds), outs = kn_model_output_size(m);
    const int32_t *labels = kn_dataset_labels(ds);
    float *p = malloc(sizeof(float) * (size_t)(n * outs)), *rows = malloc(sizeof(float) * (size_t)(n * c));
    if (p && rows && labels && kn_model_predict(m, kn_dataset_x(ds), n, p) == KN_OK) {
        for (int64_t i = 0; i < n; i++) { /* one sigmoid output: the rows [1 - p, p] */
            if (outs == 1) rows[i * c] = 1 - p[i], rows[i * c + 1] = p[i];
            else memcpy(rows + i * c, p + i * outs, sizeof(float) * (size_t)c);
        }
        if (probabilities) scores[SCORE_LOG_LOSS] = kn_log_loss(rows, labels, n, c);
        if (c == 2) {
            for (int64_t i = 0; i < n; i++) p[i] = rows[i * 2 + 1];
            scores[SCORE_AUC] = kn_roc_auc(ctx, p, labels, n);
        } else if (probabilities) {
            scores[SCORE_AUC_OVR] = kn_roc_auc_ovr(ctx, rows, labels, n, c, &scores[SCORE_AUC_OVR_WEIGHTED]);
        }
    }
    free(p);
    free(rows);
}

/* scikit-learn's classification_report layout (4 digits), then the loss and the confusion
 * matrix. */
static void print_classification(FILE *f, const kn_model *m, const kn_metrics *mt, const kn_class_metrics *pc,
                                 const int64_t *cm, int c, double loss) {
    char buf[CLI_LABEL_BUF];
    int w = (int)strlen("weighted avg");
    for (int k = 0; k < c; k++) {
        int n = (int)strlen(cli_label(m, k, buf));
        w = n > w ? n : w;
    }
    if (w > 32) w = 32;
    double wp = 0, wr = 0;
    int64_t total = 0;
    for (int k = 0; k < c; k++) {
        wp += pc[k].precision * (double)pc[k].support;
        wr += pc[k].recall * (double)pc[k].support;
        total += pc[k].support;
    }
    if (total) wp /= (double)total, wr /= (double)total;
    fprintf(f, "%*s  %9s %9s %9s %9s\n\n", w, "", "precision", "recall", "f1-score", "support");
    for (int k = 0; k < c; k++)
        fprintf(f, "%*.*s  %9.4f %9.4f %9.4f %9lld\n", w, w, cli_label(m, k, buf), pc[k].precision, pc[k].recall, pc[k].f1,
                (long long)pc[k].support);
    fprintf(f, "\n%*s  %9s %9s %9.4f %9lld\n", w, "accuracy", "", "", mt->accuracy, (long long)total);
    fprintf(f, "%*s  %9.4f %9.4f %9.4f %9lld\n", w, "macro avg", mt->precision_macro, mt->recall_macro, mt->f1_macro,
            (long long)total);
    fprintf(f, "%*s  %9.4f %9.4f %9.4f %9lld\n\n", w, "weighted avg", wp, wr, mt->f1_weighted, (long long)total);
    fprintf(f, "loss %.4f, f1 micro %.4f\n", loss, mt->f1_micro);
    int64_t most = 1;
    for (int k = 0; k < c * c; k++) most = cm[k] > most ? cm[k] : most;
    int cw = snprintf(NULL, 0, "%lld", (long long)most);
    cw = cw < 5 ? 5 : cw;
    fprintf(f, "\nconfusion matrix (rows: true, columns: predicted, in the order above)\n");
    for (int t = 0; t < c; t++) {
        fprintf(f, "%-*.*s", w, w, cli_label(m, t, buf));
        for (int p = 0; p < c; p++) fprintf(f, " %*lld", cw, (long long)cm[t * c + p]);
        fputc('\n', f);
    }
}

static void json_classification(const kn_model *m, const kn_metrics *mt, const kn_class_metrics *pc,
                                const int64_t *cm, int c, double loss, const double scores[SCORES]) {
    char buf[CLI_LABEL_BUF];
    bool first = true;
    fputc('{', stdout);
    if (isfinite(scores[SCORE_AUC])) cli_json_key_number(stdout, "roc_auc", scores[SCORE_AUC], &first);
    if (isfinite(scores[SCORE_LOG_LOSS])) cli_json_key_number(stdout, "log_loss", scores[SCORE_LOG_LOSS], &first);
    if (isfinite(scores[SCORE_AUC_OVR])) cli_json_key_number(stdout, "roc_auc_ovr", scores[SCORE_AUC_OVR], &first);
    if (isfinite(scores[SCORE_AUC_OVR_WEIGHTED]))
        cli_json_key_number(stdout, "roc_auc_ovr_weighted", scores[SCORE_AUC_OVR_WEIGHTED], &first);
    cli_json_key_number(stdout, "n", (double)mt->n, &first);
    cli_json_key_number(stdout, "loss", loss, &first);
    cli_json_key_number(stdout, "accuracy", mt->accuracy, &first);
    cli_json_key_number(stdout, "precision_macro", mt->precision_macro, &first);
    cli_json_key_number(stdout, "recall_macro", mt->recall_macro, &first);
    cli_json_key_number(stdout, "f1_macro", mt->f1_macro, &first);
    cli_json_key_number(stdout, "f1_micro", mt->f1_micro, &first);
    cli_json_key_number(stdout, "f1_weighted", mt->f1_weighted, &first);
    fputs(", \"labels\": [", stdout);
    for (int k = 0; k < c; k++) {
        if (k) fputs(", ", stdout);
        cli_json_string(stdout, cli_label(m, k, buf));
    }
    fputs("], \"per_class\": [", stdout);
    for (int k = 0; k < c; k++) {
        fputs(k ? ", {\"label\": " : "{\"label\": ", stdout);
        cli_json_string(stdout, cli_label(m, k, buf));
        bool f = false;
        cli_json_key_number(stdout, "precision", pc[k].precision, &f);
        cli_json_key_number(stdout, "recall", pc[k].recall, &f);
        cli_json_key_number(stdout, "f1", pc[k].f1, &f);
        cli_json_key_number(stdout, "support", (double)pc[k].support, &f);
        fputc('}', stdout);
    }
    fputs("], \"confusion\": [", stdout);
    for (int t = 0; t < c; t++) {
        fputs(t ? ", [" : "[", stdout);
        for (int p = 0; p < c; p++) printf("%s%lld", p ? ", " : "", (long long)cm[t * c + p]);
        fputc(']', stdout);
    }
    fputs("]}\n", stdout);
}

/* Regression: mse, rmse, mae over every output, r2 averaged over outputs (kn_eval_report). */
static void report_regression(const kn_eval_report *rep, const cli_global *g) {
    if (!g->json || !g->quiet)
        fprintf(g->json ? stderr : stdout, "loss  %.6g\nmse   %.6g\nrmse  %.6g\nmae   %.6g\nr2    %.4f\n", rep->loss, rep->mse,
                rep->rmse, rep->mae, rep->r2);
    if (g->json) {
        bool first = true;
        fputc('{', stdout);
        cli_json_key_number(stdout, "n", (double)rep->n, &first);
        cli_json_key_number(stdout, "loss", rep->loss, &first);
        cli_json_key_number(stdout, "mse", rep->mse, &first);
        cli_json_key_number(stdout, "rmse", rep->rmse, &first);
        cli_json_key_number(stdout, "mae", rep->mae, &first);
        cli_json_key_number(stdout, "r2", rep->r2, &first);
        fputs("}\n", stdout);
    }
}

/* ---------------------------------------------------------------- the command */

int cmd_eval(int argc, char **argv, cli_global *g) {
    eval_args a = {0};
    int parsed = parse_args(argc, argv, g, &a);
    if (parsed != CLI_PARSED) return parsed;
    int rc = CLI_OK;
    if (!cli_device_ok(g)) return CLI_RUNTIME;
    kn_ctx *ctx = a.out && cli_mkdir_p(a.out) ? NULL : cli_ctx(g);
    if (!ctx) return CLI_RUNTIME;
    kn_model *m = NULL;
    kn_dataset *train = NULL, *test = NULL;
    int64_t *cm = NULL;
    kn_class_metrics *pc = NULL;
    char *svg_path = NULL;
    FILE *human = g->json ? stderr : stdout;

    kn_status st = cli_load_model(ctx, a.model, &m);
    if (!st && a.int8) st = kn_model_set_quantization(m, KN_QUANT_INT8);
    if (st) { rc = cli_fail(ctx, st); goto done; }
    bool csv = strncmp(a.data, "csv:", 4) == 0;
    if (csv && kn_model_preprocessor(m)) { /* every row, through the model's own preprocessing */
        if ((st = kn_model_load_data(m, a.data, &test))) { rc = cli_fail(ctx, st); goto done; }
    } else if ((st = kn_dataset_load(ctx, a.data, &train, &test))) {
        rc = cli_fail(ctx, st);
        goto done;
    } else if (kn_dataset_is_raw(train)) {
        fprintf(stderr, "kiln: %s: the model was not trained from a CSV (it has no preprocessing to read one with)\n", a.model);
        rc = CLI_RUNTIME;
        goto done;
    }
    if ((rc = cli_apply_targets(ctx, a.targets, &train)) || (rc = cli_apply_targets(ctx, a.targets, &test))) goto done;
    const kn_dataset *ds = test ? test : train;
    if (!test)
        fprintf(stderr, "kiln: note: %s has no test split; evaluating on its train split (%lld samples)\n", a.data,
                (long long)kn_dataset_size(train));
    kn_eval_report rep;
    if ((st = kn_model_evaluate(m, ds, &rep))) {
        fprintf(stderr, "kiln: %s on %s: %s\n", a.model, a.data, kn_last_error(ctx));
        rc = CLI_RUNTIME;
        goto done;
    }
    int c = kn_dataset_classes(ds);
    if (c > 0 && kn_model_class_count(m) > c) c = kn_model_class_count(m); /* classes this split lacks */
    if (c == 0) {
        report_regression(&rep, g);
        if (a.out && !g->quiet) fprintf(stderr, "kiln: note: a regression model has no confusion.svg\n");
        goto done;
    }
    cm = calloc((size_t)c * (size_t)c, sizeof *cm);
    pc = calloc((size_t)c, sizeof *pc);
    if (!cm || !pc) {
        fprintf(stderr, "kiln: %s: out of memory for a %d-class confusion matrix\n", a.data, c);
        rc = CLI_RUNTIME;
        goto done;
    }
    if ((st = kn_model_confusion(m, ds, cm, c))) {
        fprintf(stderr, "kiln: %s on %s: %s\n", a.model, a.data, kn_last_error(ctx));
        rc = CLI_RUNTIME;
        goto done;
    }
    kn_metrics mt;
    kn_metrics_from_confusion(cm, c, &mt, pc);
    double scores[SCORES] = {NAN, NAN, NAN, NAN};
    /* a classifier without probabilities reports no loss: its rows are one-hot decisions, from
     * which a log-loss or a ROC-AUC would only restate the accuracy */
    probability_scores(ctx, m, ds, c, scores, !isfinite(rep.loss));
    if (a.out) {
        svg_path = cli_path_join(a.out, "confusion.svg");
        if (!svg_path) { fprintf(stderr, "kiln: %s: out of memory\n", a.out); rc = CLI_RUNTIME; goto done; }
        if ((rc = cli_write_atomic(svg_path, write_confusion_svg, &(svg_job){m, cm, c}))) goto done;
    }
    if (!g->json || !g->quiet) {
        fprintf(human, "%s on %s (%s, %lld samples)\n", a.model, a.data, csv ? "every row" : test ? "test split" : "train split",
                (long long)mt.n);
        print_classification(human, m, &mt, pc, cm, c, rep.loss);
        if (isfinite(scores[SCORE_LOG_LOSS])) fprintf(human, "log_loss   %.4f\n", scores[SCORE_LOG_LOSS]);
        if (isfinite(scores[SCORE_AUC])) fprintf(human, "roc_auc    %.4f\n", scores[SCORE_AUC]);
        if (isfinite(scores[SCORE_AUC_OVR]))
            fprintf(human, "roc_auc    %.4f one-vs-rest (weighted %.4f)\n", scores[SCORE_AUC_OVR], scores[SCORE_AUC_OVR_WEIGHTED]);
        if (svg_path) fprintf(human, "wrote %s\n", svg_path);
    }
    if (g->json) json_classification(m, &mt, pc, cm, c, rep.loss, scores);
done:
    free(svg_path);
    free(cm);
    free(pc);
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_model_free(m);
    kn_ctx_free(ctx);
    return rc;
}
