/* graph.c — `kiln graph SPEC [--batch-size N] [--training] [--precision P] [--passes LIST]
 * [--dot FILE] [--json]`: what the graph optimizer does to a model's graph: node counts before and after
 * each pass, the fused kernels, the planned arena against the naive sum, the flat buffers,
 * and optionally the graph as Graphviz DOT (INTERFACE.md's keys). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char graph_help[] =
    "usage: kiln graph SPEC [options]\n"
    "\n"
    "Builds the graph of the model a JSON description gives (a path, or the text itself),\n"
    "runs the graph optimizer's passes and the memory planner, and reports what they did.\n"
    "\n"
    "  --batch-size N    plan for batches of N (default: the description's, else 32)\n"
    "  --training        the training graph: forward, loss, backward and optimizer update\n"
    "                    (default: the inference graph)\n"
    "  --precision P     fp32, bf16 or fp16: where activations and gradients are stored\n"
    "                    (default: the description's, else fp32); the arena shows the saving\n"
    "  --passes LIST     all (default), none, a list run alone (dce,fold) or a list of\n"
    "                    exclusions (-fuse,-inplace); passes: dce, fold, cse, simplify, fuse,\n"
    "                    inplace\n"
    "  --dot FILE        write the optimized graph as Graphviz DOT (dot -Tsvg FILE)\n"
    "                    (default: none, nothing is written)\n"
    "  --data DATA       fill in what the description leaves to the data (input shape,\n"
    "                    the last layer's units) (default: none, the description alone)\n"
    "\n" CLI_GLOBAL_HELP
    "\n"
    "JSON keys: nodes_before, nodes_after, passes (list of {name, nodes_after}), fused,\n"
    "arena_bytes, naive_bytes, param_bytes, grad_bytes, optimizer_bytes, batch_size, training,\n"
    "precision.\n";

typedef struct graph_args {
    const char *spec, *passes, *dot, *data, *precision;
    long long batch_size;
    bool training;
} graph_args;

#define AT(field) offsetof(graph_args, field)
static const cli_option graph_options[] = {
    CLI_NON_EMPTY("--passes", AT(passes)),
    CLI_NON_EMPTY("--dot", AT(dot)),
    CLI_NON_EMPTY("--data", AT(data)),
    CLI_NON_EMPTY("--precision", AT(precision)),
    CLI_INT("--batch-size", AT(batch_size), 1, 1 << 24),
    CLI_FLAG("--training", AT(training)),
    {0}};
static const cli_positional graph_positionals[] = {{AT(spec), "SPEC (a JSON model description)"}};
static const cli_command graph_command = {"graph", graph_help, graph_options, graph_positionals,
                                          CLI_COUNT(graph_positionals)};

static int parse_args(int argc, char **argv, cli_global *g, graph_args *a) {
    int rc = cli_parse_args(&graph_command, argc, argv, g, a);
    if (rc != CLI_PARSED) return rc;
    kn_precision p;
    if (a->precision && !kn_precision_parse(a->precision, &p))
        return cli_usage_error("graph", "--precision: '%s' is not fp32, bf16 or fp16", a->precision);
    return CLI_PARSED;
}

static void print_json(const kn_graph_report *r, long long batch, bool training, kn_precision precision) {
    printf("{\"nodes_before\": %d, \"nodes_after\": %d, \"passes\": [", r->nodes_before, r->nodes_after);
    for (int i = 0; i < r->n_passes; i++) {
        printf("%s{\"name\": ", i ? ", " : "");
        cli_json_string(stdout, r->passes[i].name);
        printf(", \"nodes_after\": %d}", r->passes[i].nodes_after);
    }
    printf("], \"fused\": [");
    for (int i = 0; i < r->n_fused; i++) {
        if (i) printf(", ");
        cli_json_string(stdout, r->fused[i]);
    }
    printf("], \"arena_bytes\": %zu, \"naive_bytes\": %zu, \"param_bytes\": %zu, \"grad_bytes\": %zu, "
           "\"optimizer_bytes\": %zu, \"batch_size\": %lld, \"training\": %s, \"precision\": \"%s\"}\n",
           r->arena_bytes, r->naive_bytes, r->param_bytes, r->grad_bytes, r->optimizer_bytes, batch,
           training ? "true" : "false", kn_precision_name(precision));
}

static void print_text(const kn_graph_report *r, long long batch, bool training, kn_precision precision) {
    printf("%s graph, batch %lld, %s: %d nodes as built, %d after the passes\n", training ? "training" : "inference",
           batch, kn_precision_name(precision), r->nodes_before, r->nodes_after);
    for (int i = 0; i < r->n_passes; i++) printf("  %-9s -> %d nodes\n", r->passes[i].name, r->passes[i].nodes_after);
    if (r->n_passes == 0) printf("  (no passes)\n");
    printf("fused kernels: %d\n", r->n_fused);
    for (int i = 0; i < r->n_fused; i++) printf("  %s\n", r->fused[i]);
    double pct = r->naive_bytes ? 100.0 * (double)r->arena_bytes / (double)r->naive_bytes : 0;
    printf("arena: %zu bytes planned, %zu naive (%.1f%%)\n", r->arena_bytes, r->naive_bytes, pct);
    printf("parameters %zu bytes, gradients %zu, optimizer state %zu\n", r->param_bytes, r->grad_bytes,
           r->optimizer_bytes);
}

int cmd_graph(int argc, char **argv, cli_global *g) {
    graph_args a = {0};
    int parsed = parse_args(argc, argv, g, &a);
    if (parsed != CLI_PARSED) return parsed;
    int rc = CLI_OK;
    if (!cli_device_ok(g)) return CLI_RUNTIME;
    kn_ctx *ctx = cli_ctx(g);
    if (!ctx) return CLI_RUNTIME;
    unsigned passes = KN_PASS_ALL;
    if (a.passes && kn_passes_parse(ctx, a.passes, &passes)) {
        rc = cli_usage_error("graph", "--passes: %s", kn_last_error(ctx));
        kn_ctx_free(ctx);
        return rc;
    }
    char *json = a.spec[0] == '{' ? strdup(a.spec) : cli_read_file(a.spec);
    if (!json) {
        fprintf(stderr, "kiln: %s: cannot read the model description: %s\n", a.spec, strerror(errno));
        kn_ctx_free(ctx);
        return CLI_RUNTIME;
    }
    const char *spec_name = a.spec[0] == '{' ? "SPEC" : a.spec;
    kn_dataset *train = NULL;
    kn_model *m = NULL;
    kn_spec spec;
    kn_graph_report r;
    kn_status st = a.data ? kn_dataset_load(ctx, a.data, &train, NULL) : KN_OK;
    if (st) {
        rc = cli_fail(ctx, st);
        goto done;
    }
    if ((st = kn_model_from_json(ctx, json, train, &m, &spec)) || (st = kn_model_compile(m, &spec.compile)) ||
        (st = kn_model_set_passes(m, passes))) {
        fprintf(stderr, "kiln: %s: %s\n", spec_name, kn_last_error(ctx));
        rc = CLI_RUNTIME;
        goto done;
    }
    if (a.precision) { /* overrides the description's */
        kn_precision_parse(a.precision, &spec.compile.precision);
        if ((st = kn_model_compile(m, &spec.compile))) {
            rc = cli_fail(ctx, st);
            goto done;
        }
    }
    long long batch = a.batch_size ? a.batch_size : spec.batch_size;
    if ((st = kn_model_graph_report(m, batch, a.training, &r, a.dot))) {
        rc = cli_fail(ctx, st);
        goto done;
    }
    if (g->json) print_json(&r, batch, a.training, spec.compile.precision);
    else print_text(&r, batch, a.training, spec.compile.precision);
    if (a.dot && !g->json && !g->quiet) printf("wrote %s\n", a.dot);
done:
    kn_model_free(m);
    kn_dataset_free(train);
    free(json);
    kn_ctx_free(ctx);
    return rc;
}
