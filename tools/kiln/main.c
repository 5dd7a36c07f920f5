/* main.c — the kiln command line: dispatch to subcommands, help, usage errors, the context. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *usage_text =
    "kiln " KILN_VERSION " — train, evaluate and serve machine-learning models\n"
    "\n"
    "usage: kiln COMMAND [ARGS] [--threads N] [--seed N] [--device cpu] [--json] [--quiet]\n"
    "\n"
    "commands:\n"
    "  train SPEC --data DATA   train a model described in JSON (a file, or the text itself)\n"
    "                           and evaluate it on the data's test split; --out DIR saves it\n"
    "  eval MODEL --data DATA   evaluate a saved model: loss, accuracy, precision, recall, F1,\n"
    "                           confusion matrix (--out DIR writes confusion.svg; --int8)\n"
    "  predict MODEL INPUT      predict every image of INPUT (IDX, PNG or PGM) or row of a CSV\n"
    "                           (through the model's saved preprocessing) (--top K, --int8:\n"
    "                           dense layers and convolutions on 8-bit integers)\n"
    "  info MODEL               describe a saved model: architecture, parameters, labels,\n"
    "                           training summary\n"
    "  cv SPEC --data DATA      k-fold cross-validation (--folds K): mean and deviation\n"
    "  graph SPEC               what the graph optimizer and memory planner do to a model's\n"
    "                           graph (--training, --passes LIST, --dot FILE)\n"
    "  convert MODEL --to fp16|bf16|int8 OUT\n"
    "                           store a network's weights in half precision (about half the\n"
    "                           file) or int8 (about a quarter), for inference\n"
    "  import MODEL.onnx OUT    an ONNX model (dense, convolutions, pooling, batch norm,\n"
    "                           activations, residual and branching merges, recurrent and\n"
    "                           attention layers; quantized ones as their float model) as a\n"
    "                           kiln model file\n"
    "  export MODEL OUT.onnx    a network as an ONNX model, for ONNX Runtime and the others\n"
    "\n"
    "data sources (--data): fashion-mnist, mnist, idx:DIR, csv:FILE[:key=value]...\n"
    "  fashion-mnist reads $KILN_DATA/fashion-mnist, else /usr/share/datasets/fashion-mnist\n"
    "  csv keys: target=NAME|#N (default: the last column), drop=COL,..., sep=,|;|tab (default:\n"
    "  detected), na=TOKEN,... (default: empty, NA, NaN, ?), categorical=COL,..., numeric=COL,...,\n"
    "  task=classification|regression (default: inferred), impute=mean|median|most_frequent|\n"
    "  constant|drop (default mean; fill=X for constant), scale=standard|minmax|none (default\n"
    "  standard), onehot=on|off (default on), dates=on|off (default on: year, month, day of\n"
    "  year, weekday), poly=1|2 (default 1), pca=K|F (components, or share of variance; off),\n"
    "  text=COL,... (free text as TF-IDF features; none), text_features=N (words kept per text\n"
    "  column; default 1000), sequence=COL (one free-text column as token ids for an embedding,\n"
    "  as Keras's TextVectorization(output_mode=\"int\"); none), sequence_length=L (ids per row;\n"
    "  default: the longest training row), max_tokens=V (vocabulary with ids 0 and 1; 20000)\n"
    "\n"
    "global options:\n" CLI_GLOBAL_HELP
    "\n"
    "Run 'kiln COMMAND --help' for a command's options. Exit codes: 0 success, 1 runtime error,\n"
    "2 usage error.\n";

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kiln%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'kiln%s%s --help')\n", cmd ? " " : "", cmd ? cmd : "");
    va_end(ap);
    return CLI_USAGE;
}

kn_ctx *cli_ctx(const cli_global *g) {
    kn_ctx *ctx = NULL;
    kn_device device = KN_DEVICE_CPU; /* --device was checked (cli_device_ok) */
    kn_device_parse(g->device, &device);
    kn_status st = kn_ctx_new(&(kn_ctx_opts){.threads = g->threads, .seed = g->seed, .device = device}, &ctx);
    if (st) {
        fprintf(stderr, "kiln: cannot create a context: %s\n", kn_status_text(st));
        return NULL;
    }
    kn_ctx_set_log_stream_stderr(ctx, g->json);
    return ctx;
}

int cli_fail(kn_ctx *ctx, kn_status st) {
    /* an error every rank of a distributed run returned: rank 0 says it for them all */
    if (ctx && kn_dist_error_shared(ctx) && kn_dist_rank() != 0) return CLI_RUNTIME;
    const char *msg = ctx ? kn_last_error(ctx) : "";
    fprintf(stderr, "kiln: %s\n", msg && *msg ? msg : kn_status_text(st));
    return CLI_RUNTIME;
}

char *cli_read_file(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) return NULL;
    if (!S_ISREG(sb.st_mode)) {
        errno = S_ISDIR(sb.st_mode) ? EISDIR : EINVAL;
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
        if (len + 1 == cap) {
            if (cap > ((size_t)1 << 30)) { free(buf); buf = NULL; errno = EFBIG; break; }
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
    }
    if (buf && ferror(f)) { free(buf); buf = NULL; errno = EIO; }
    fclose(f);
    if (buf) buf[len] = 0;
    return buf;
}

int main(int argc, char **argv) {
    cli_global g = {.seed = 42, .device = "cpu"};
    if (argc < 2) {
        fputs(usage_text, stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("kiln %s\n", KILN_VERSION);
        return CLI_OK;
    }
    static const struct { const char *name; int (*run)(int, char **, cli_global *); } commands[] = {
        {"train", cmd_train}, {"eval", cmd_eval}, {"predict", cmd_predict}, {"info", cmd_info}, {"graph", cmd_graph}, {"cv", cmd_cv},
        {"convert", cmd_convert}, {"import", cmd_import}, {"export", cmd_export}};
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(cmd, commands[i].name) == 0) return commands[i].run(argc - 2, argv + 2, &g);
    return cli_usage_error(NULL, "unknown command '%s'", cmd);
}
