/* tabular.c — a classifier for a CSV table from C: load the raw table, hold out a test split,
 * fit the preprocessing on the training rows only, build the model from models/tabular.json
 * (its input width and output layer come from the data), train, evaluate, save, then predict
 * from the raw CSV rows through the preprocessing saved in the model.
 * usage: tabular [CSV=tests/data/wine.csv] [SPEC=models/tabular.json] (from the repository root) */
#include <kiln.h>

#include <stdio.h>
#include <stdlib.h>

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

int main(int argc, char **argv) {
    const char *csv = argc > 1 ? argv[1] : "tests/data/wine.csv", *spec_path = argc > 2 ? argv[2] : "models/tabular.json";
    char source[512];
    snprintf(source, sizeof source, "csv:%s", csv);
    char *spec_text = read_text(spec_path);
    if (!spec_text) {
        fprintf(stderr, "tabular: cannot read %s\n", spec_path);
        return 1;
    }
    kn_ctx *ctx = NULL;
    kn_dataset *raw = NULL, *raw_train = NULL, *raw_test = NULL, *train = NULL, *test = NULL, *rows = NULL;
    kn_preprocessor *prep = NULL;
    kn_model *m = NULL, *loaded = NULL;
    kn_spec spec;
    kn_eval_report rep;
    float *probs = NULL;
    kn_status st = kn_ctx_new(&(kn_ctx_opts){.seed = 42}, &ctx);
    if (!st) st = kn_dataset_load(ctx, source, &raw, NULL);               /* the raw table */
    if (!st) st = kn_dataset_split(raw, 0.2, 42, &raw_train, &raw_test);  /* stratified, seeded */
    if (!st) st = kn_preprocessor_fit(raw_train, &prep);                  /* training rows only */
    if (!st) st = kn_preprocessor_transform(prep, raw_train, &train);
    if (!st) st = kn_preprocessor_transform(prep, raw_test, &test);
    if (!st) printf("%s\n", kn_preprocessor_report(prep));
    if (!st) st = kn_model_from_json(ctx, spec_text, train, &m, &spec);   /* sizes from the data */
    if (!st) st = kn_model_compile(m, &spec.compile);
    if (!st) st = kn_model_set_preprocessor(m, prep);                     /* saved with the model */
    if (!st) st = kn_model_fit(m, train, &(kn_fit_opts){.epochs = spec.epochs, .batch_size = spec.batch_size, .verbose = 0}, NULL);
    if (!st) st = kn_model_evaluate(m, test, &rep);
    bool regression = !st && kn_dataset_classes(train) == 0;
    if (!st && !regression)
        printf("test: %lld rows, loss %.4f, accuracy %.4f, macro F1 %.4f\n", (long long)rep.n, rep.loss, rep.accuracy,
               rep.f1_macro);
    if (!st && regression)
        printf("test: %lld rows, MSE %.4f, MAE %.4f, R2 %.4f\n", (long long)rep.n, rep.mse, rep.mae, rep.r2);
    if (!st) st = kn_model_save(m, "tabular.kiln");
    /* later, elsewhere: the saved model reads raw CSV rows itself */
    if (!st) st = kn_model_load(ctx, "tabular.kiln", NULL, &loaded);
    if (!st) st = kn_model_load_inputs(loaded, csv, &rows);
    int64_t outs = loaded ? kn_model_output_size(loaded) : 0;
    if (!st && !(probs = malloc(sizeof(float) * (size_t)(3 * outs)))) st = KN_ERR_OUT_OF_MEMORY;
    if (!st) st = kn_model_predict(loaded, kn_dataset_x(rows), 3, probs);
    for (int i = 0; !st && regression && i < 3; i++) printf("row %d: %.3f\n", i, probs[i * outs]);
    for (int i = 0; !st && !regression && i < 3; i++) {
        int best = 0;
        for (int c = 1; c < outs; c++)
            if (probs[i * outs + c] > probs[i * outs + best]) best = c;
        const char *name = kn_model_label_name(loaded, best);
        printf("row %d: class %s (p = %.3f)\n", i, name ? name : "?", probs[i * outs + best]);
    }
    if (st) fprintf(stderr, "tabular: %s\n", ctx ? kn_last_error(ctx) : kn_status_text(st));
    free(probs);
    free(spec_text);
    kn_model_free(m);
    kn_model_free(loaded);
    kn_preprocessor_free(prep);
    kn_dataset_free(raw);
    kn_dataset_free(raw_train);
    kn_dataset_free(raw_test);
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_dataset_free(rows);
    kn_ctx_free(ctx);
    return st ? 1 : 0;
}
