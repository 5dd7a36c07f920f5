/* tabular.c — raw CSV tables on the command line: the preprocessing fitted on the training
 * rows (or a model's own), then every split transformed with it. */
#include "cli.h"

#include <string.h>

int cli_preprocess(kn_ctx *ctx, const cli_global *g, const kn_preprocessor *use, kn_dataset **train, kn_dataset **test,
                   kn_preprocessor **fitted) {
    if (fitted) *fitted = NULL;
    if (!kn_dataset_is_raw(*train)) return CLI_OK;
    kn_preprocessor *own = NULL;
    kn_status st = use ? KN_OK : kn_preprocessor_fit(*train, &own);
    if (st) return cli_fail(ctx, st);
    const kn_preprocessor *p = use ? use : own;
    kn_dataset *tr = NULL, *te = NULL;
    if ((st = kn_preprocessor_transform(p, *train, &tr)) || (test && *test && (st = kn_preprocessor_transform(p, *test, &te)))) {
        kn_dataset_free(tr);
        kn_preprocessor_free(own);
        return cli_fail(ctx, st);
    }
    if (!g->quiet && !use) fprintf(g->json ? stderr : stdout, "%s\n", kn_preprocessor_report(p)); /* progress, as the summary */
    kn_dataset_free(*train);
    *train = tr;
    if (test && *test) {
        kn_dataset_free(*test);
        *test = te;
    }
    if (fitted) *fitted = own;
    else kn_preprocessor_free(own);
    return CLI_OK;
}

int cli_check_targets(const char *cmd, const char *targets) {
    if (!targets || strcmp(targets, "labels") == 0 || strcmp(targets, "inputs") == 0) return CLI_PARSED;
    return cli_usage_error(cmd, "--targets expects labels or inputs, got '%s'", targets);
}

int cli_apply_targets(kn_ctx *ctx, const char *targets, kn_dataset **ds) {
    if (!targets || strcmp(targets, "inputs") != 0 || !ds || !*ds) return CLI_OK;
    kn_dataset *t = NULL;
    kn_status st = kn_dataset_inputs_as_targets(*ds, &t);
    if (st) return cli_fail(ctx, st);
    kn_dataset_free(*ds);
    *ds = t;
    return CLI_OK;
}
