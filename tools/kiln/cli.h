/* cli.h — shared pieces of the kiln command line: global options, output helpers and the
 * subcommands. Exit codes: 0 success, 1 runtime error (one line on stderr), 2 usage error. */
#ifndef KILN_CLI_H
#define KILN_CLI_H

#include <kiln.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum { CLI_OK = 0, CLI_RUNTIME = 1, CLI_USAGE = 2 };

typedef struct cli_global {
    int threads;        /* --threads N (0 = all cores) */
    uint64_t seed;      /* --seed N */
    bool json;          /* --json: the last stdout line is one JSON object */
    bool quiet;         /* --quiet: no progress */
    const char *device; /* --device cpu|cuda */
} cli_global;

/* Creates the context the global options describe; prints the error and returns NULL. */
kn_ctx *cli_ctx(const cli_global *g);
/* Prints "kiln: MESSAGE" to stderr and returns CLI_RUNTIME (the status's text when ctx has none). */
int cli_fail(kn_ctx *ctx, kn_status st);
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reads a whole file into a NUL-terminated buffer (free()); NULL with errno set on failure. */
char *cli_read_file(const char *path);
/* Parses a number option's value; false (message printed) when it is not one. */
bool cli_parse_int(const char *cmd, const char *opt, const char *s, long long lo, long long hi, long long *out);
bool cli_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out);

/* A command's options as a table, one parser for every command (options.c). Each command
 * keeps its arguments in a struct of its own; a table entry names the field by offsetof. */
typedef enum cli_option_kind {
    CLI_OPT_STRING, /* const char *: the next argument, whatever it starts with */
    CLI_OPT_INT,    /* long long in [int_min, int_max] */
    CLI_OPT_DOUBLE, /* double in [double_min, double_max] */
    CLI_OPT_FLAG,   /* bool, set to true; takes no value */
    CLI_OPT_CUSTOM, /* take() reads the value: the rare option with rules of its own */
} cli_option_kind;

typedef struct cli_option {
    const char *name; /* "--epochs" */
    cli_option_kind kind;
    size_t offset; /* of the destination in the command's argument struct */
    long long int_min, int_max;
    double double_min, double_max;
    bool non_empty;       /* CLI_OPT_STRING: an empty value counts as none */
    const char *no_value; /* CLI_OPT_STRING: the usage error without a value (else "NAME needs a value") */
    /* CLI_OPT_CUSTOM: value is NULL at the end of argv; false after printing a usage error */
    bool (*take)(const char *cmd, const char *opt, const char *value, void *args);
} cli_option;

#define CLI_STRING(NAME, OFFSET) {.name = NAME, .kind = CLI_OPT_STRING, .offset = OFFSET}
#define CLI_NON_EMPTY(NAME, OFFSET) {.name = NAME, .kind = CLI_OPT_STRING, .offset = OFFSET, .non_empty = true}
#define CLI_INT(NAME, OFFSET, MIN, MAX) {.name = NAME, .kind = CLI_OPT_INT, .offset = OFFSET, .int_min = MIN, .int_max = MAX}
#define CLI_DOUBLE(NAME, OFFSET, MIN, MAX) \
    {.name = NAME, .kind = CLI_OPT_DOUBLE, .offset = OFFSET, .double_min = MIN, .double_max = MAX}
#define CLI_FLAG(NAME, OFFSET) {.name = NAME, .kind = CLI_OPT_FLAG, .offset = OFFSET}
#define CLI_CUSTOM(NAME, TAKE) {.name = NAME, .kind = CLI_OPT_CUSTOM, .take = TAKE}

/* An argument not starting with "--" (so "-5" and "-" are positionals), in order. */
typedef struct cli_positional {
    size_t offset;       /* of its const char * in the argument struct */
    const char *missing; /* "MODEL (a .kiln file)" gives "missing MODEL (a .kiln file)";
                          * NULL: optional to the parser (the command checks it itself) */
} cli_positional;

typedef struct cli_command {
    const char *name;                  /* "train": usage errors read "kiln train: ..." */
    const char *help;                  /* what --help and -h print on stdout */
    const cli_option *options;         /* ends with {0}; NULL: none beyond the global ones */
    const cli_positional *positionals; /* n_positionals of them */
    int n_positionals;
} cli_command;

#define CLI_COUNT(array) ((int)(sizeof(array) / sizeof *(array)))

/* cli_parse_args's "go on": not an exit code. */
enum { CLI_PARSED = -1 };

/* Walks argv in order: global options, --help/-h (prints cmd->help, stops), cmd's options
 * (the last of a repeated one wins), then positionals; the first bad argument ends it with
 * its usage error, then the first required positional missing does. Returns CLI_PARSED when
 * the command goes on, CLI_OK after the help, CLI_USAGE after a usage error (one line). */
int cli_parse_args(const cli_command *cmd, int argc, char **argv, cli_global *g, void *args);

/* false (one line printed) when --device names a backend not usable here (the build, the GPU). */
bool cli_device_ok(const cli_global *g);

/* JSON by hand (output.c): a quoted, escaped string; a number (null when not finite);
 * '"key": number' preceded by ", " unless *first. */
void cli_json_string(FILE *f, const char *s);
void cli_json_number(FILE *f, double v);
void cli_json_key_number(FILE *f, const char *key, double v, bool *first);

/* The loss a network was compiled with (false for a classical model or one without). */
bool cli_model_loss(const kn_model *m, kn_ctx *ctx, kn_loss *out);
/* Whether a model trained under loss predicts classes (its outputs are probabilities or
 * scores per class), not values. */
bool cli_classification_loss(kn_loss loss);
/* A class's name from the model, else its number written into buf. */
#define CLI_LABEL_BUF 16
const char *cli_label(const kn_model *m, int cls, char buf[CLI_LABEL_BUF]);

/* Creates dir and its parents (mkdir -p); prints "kiln: DIR: ..." and returns CLI_RUNTIME
 * when it cannot. */
int cli_mkdir_p(const char *dir);
/* Writes path atomically: write() fills PATH.tmp.PID, which is flushed, fsync'd and renamed
 * over path; on failure the temporary is removed, "kiln: PATH: ..." printed and CLI_RUNTIME
 * returned. write returns false on its own failure. */
typedef bool (*cli_writer)(FILE *f, const void *user);
int cli_write_atomic(const char *path, cli_writer write, const void *user);
/* curves.svg: loss and accuracy per epoch (a cli_writer over a kn_history). */
bool cli_write_curves(FILE *f, const void *user);
/* "DIR/NAME" (malloc'd; NULL when out of memory). */
char *cli_path_join(const char *dir, const char *name);

/* Raw CSV data (kn_dataset_is_raw(*train)): fits the preprocessing on *train (or applies
 * `use`, a model's, when given) and replaces *train and *test (either may be absent) by their
 * transforms; *fitted (may be NULL) receives what was fitted. Prints the report (stdout, or
 * stderr with --json) unless --quiet. Data that is not raw is left alone. */
int cli_preprocess(kn_ctx *ctx, const cli_global *g, const kn_preprocessor *use, kn_dataset **train, kn_dataset **test,
                   kn_preprocessor **fitted);

/* --targets labels|inputs (train, eval): CLI_PARSED for NULL, labels or inputs, else a usage
 * error of cmd. cli_apply_targets replaces a model-ready *ds (if any) by its rows as their own
 * targets (kn_dataset_inputs_as_targets) when targets is "inputs": an autoencoder's data. */
int cli_check_targets(const char *cmd, const char *targets);
int cli_apply_targets(kn_ctx *ctx, const char *targets, kn_dataset **ds);

int cmd_train(int argc, char **argv, cli_global *g);
int cmd_eval(int argc, char **argv, cli_global *g);
int cmd_predict(int argc, char **argv, cli_global *g);
int cmd_info(int argc, char **argv, cli_global *g);
int cmd_graph(int argc, char **argv, cli_global *g);
int cmd_cv(int argc, char **argv, cli_global *g);
int cmd_convert(int argc, char **argv, cli_global *g);
int cmd_import(int argc, char **argv, cli_global *g);
int cmd_export(int argc, char **argv, cli_global *g);
/* A model for predict, eval, info and convert: a .kiln file (kn_model_load, checksum
 * verified), or an ONNX file (a path ending in .onnx) imported (kn_model_import_onnx). */
bool cli_is_onnx(const char *path);
kn_status cli_load_model(kn_ctx *ctx, const char *path, kn_model **m);

#define CLI_GLOBAL_HELP                                                                 \
    "  --threads N      worker threads (default: all cores)\n"                         \
    "  --seed N         seed for initialization and shuffling (default: 42)\n"         \
    "  --device cpu     where to compute (default: cpu; cuda: graphs only so far)\n"      \
    "  --json           print one JSON object as the last line of stdout;\n"           \
    "                   progress and messages go to stderr\n"                          \
    "  --quiet          no progress output\n"                                          \
    "  --help           this help\n"

/* The model types a description's "type" takes (train and cv). */
#define CLI_MODEL_TYPES_HELP                                                            \
    "Model types (\"type\"): sequential (a network of \"layers\"), or a classical model:\n" \
    "linear_regression, logistic_regression, decision_tree, random_forest,\n"          \
    "hist_gradient_boosting, linear_svm, svm, k_nearest_neighbors, gaussian_nb,\n"     \
    "multinomial_nb, bernoulli_nb, complement_nb, lasso, elastic_net, with\n"          \
    "scikit-learn's hyperparameter names and defaults\n"                               \
    "('{\"type\": \"hist_gradient_boosting\", \"max_iter\": 200}'). The data says the task: on a\n" \
    "regression target svm is SVR (epsilon) and linear_svm LinearSVR; \"nu\" makes svm\n"   \
    "NuSVC or NuSVR.\n"

#endif
