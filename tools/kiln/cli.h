/* cli.h — shared pieces of the kiln command line: global options, output helpers and the
 * subcommands. Exit codes: 0 success, 1 runtime error (one line on stderr), 2 usage error. */
#ifndef KILN_CLI_H
#define KILN_CLI_H

#include <kiln.h>

#include <stdbool.h>
#include <stdio.h>

enum { CLI_OK = 0, CLI_RUNTIME = 1, CLI_USAGE = 2 };

typedef struct cli_global {
    int threads;        /* --threads N (0 = all cores) */
    uint64_t seed;      /* --seed N */
    bool json;          /* --json: the last stdout line is one JSON object */
    bool quiet;         /* --quiet: no progress */
    const char *device; /* --device cpu|cuda */
} cli_global;

/* Takes a global option at argv[*i] (advancing *i past its value); returns 1 if taken,
 * 0 if not a global option, -1 on a usage error (message printed). */
int cli_take_global(cli_global *g, int argc, char **argv, int *i);
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

/* false (one line printed) when --device names a backend not usable here (the build, the GPU). */
bool cli_device_ok(const cli_global *g);

/* JSON by hand (output.c): a quoted, escaped string; a number (null when not finite);
 * '"key": number' preceded by ", " unless *first. */
void cli_json_string(FILE *f, const char *s);
void cli_json_number(FILE *f, double v);
void cli_json_key_number(FILE *f, const char *key, double v, bool *first);

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

int cmd_train(int argc, char **argv, cli_global *g);
int cmd_eval(int argc, char **argv, cli_global *g);
int cmd_predict(int argc, char **argv, cli_global *g);
int cmd_info(int argc, char **argv, cli_global *g);
int cmd_graph(int argc, char **argv, cli_global *g);
int cmd_cv(int argc, char **argv, cli_global *g);
int cmd_convert(int argc, char **argv, cli_global *g);

#define CLI_GLOBAL_HELP                                                                 \
    "  --threads N      worker threads (default: all cores)\n"                         \
    "  --seed N         seed for initialization and shuffling (default: 42)\n"         \
    "  --device cpu     where to compute (default: cpu; cuda: graphs only so far)\n"      \
    "  --json           print one JSON object as the last line of stdout;\n"           \
    "                   progress and messages go to stderr\n"                          \
    "  --quiet          no progress output\n"                                          \
    "  --help           this help\n"

#endif
