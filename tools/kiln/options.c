/* options.c — one parser for every command's options: the global ones, --help, then the
 * command's table (strings, bounded numbers, flags, the odd custom one) and positionals, with
 * the usage errors all commands share. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool cli_parse_int(const char *cmd, const char *opt, const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v < lo || v > hi) {
        cli_usage_error(cmd, "%s expects a whole number in [%lld, %lld], got '%s'", opt, lo, hi, s ? s : "");
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || errno || end == s || *end || !(v >= lo && v <= hi)) {
        cli_usage_error(cmd, "%s expects a number in [%g, %g], got '%s'", opt, lo, hi, s ? s : "");
        return false;
    }
    *out = v;
    return true;
}

/* Takes a global option at argv[*i] (advancing *i past its value); returns 1 if taken,
 * 0 if not a global option, -1 on a usage error (message printed). */
static int take_global(cli_global *g, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    const char *val = *i + 1 < argc ? argv[*i + 1] : NULL;
    long long n;
    if (strcmp(a, "--json") == 0) { g->json = true; return 1; }
    if (strcmp(a, "--quiet") == 0) { g->quiet = true; return 1; }
    if (strcmp(a, "--threads") == 0) {
        if (!cli_parse_int(NULL, a, val, 0, 1024, &n)) return -1;
        g->threads = (int)n;
        (*i)++;
        return 1;
    }
    if (strcmp(a, "--seed") == 0) {
        if (!cli_parse_int(NULL, a, val, 0, (long long)1 << 62, &n)) return -1;
        g->seed = (uint64_t)n;
        (*i)++;
        return 1;
    }
    if (strcmp(a, "--device") == 0) {
        if (!val || (strcmp(val, "cpu") != 0 && strcmp(val, "cuda") != 0)) {
            cli_usage_error(NULL, "--device expects cpu or cuda");
            return -1;
        }
        g->device = val;
        (*i)++;
        return 1;
    }
    return 0;
}

static const cli_option *find_option(const cli_option *options, const char *arg) {
    for (const cli_option *o = options; o && o->name; o++)
        if (strcmp(arg, o->name) == 0) return o;
    return NULL;
}

/* Stores option o's value (NULL past the end of argv) in args; false after a usage error. */
static bool take_value(const char *cmd, const cli_option *o, const char *value, char *args) {
    void *dest = args + o->offset;
    switch (o->kind) {
    case CLI_OPT_STRING:
        if (!value || (o->non_empty && !*value)) {
            if (o->no_value) cli_usage_error(cmd, "%s", o->no_value);
            else cli_usage_error(cmd, "%s needs a value", o->name);
            return false;
        }
        *(const char **)dest = value;
        return true;
    case CLI_OPT_INT: return cli_parse_int(cmd, o->name, value, o->int_min, o->int_max, dest);
    case CLI_OPT_DOUBLE: return cli_parse_double(cmd, o->name, value, o->double_min, o->double_max, dest);
    case CLI_OPT_CUSTOM: return o->take(cmd, o->name, value, args);
    case CLI_OPT_FLAG: break; /* takes no value: cli_parse_args sets it */
    }
    return false;
}

int cli_parse_args(const cli_command *cmd, int argc, char **argv, cli_global *g, void *args) {
    char *base = args;
    int positionals = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        int taken = take_global(g, argc, argv, &i);
        if (taken < 0) return CLI_USAGE;
        if (taken) continue;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(cmd->help, stdout);
            return CLI_OK;
        }
        const cli_option *o = find_option(cmd->options, arg);
        if (o && o->kind == CLI_OPT_FLAG) {
            *(bool *)(base + o->offset) = true;
        } else if (o) {
            if (!take_value(cmd->name, o, i + 1 < argc ? argv[i + 1] : NULL, base)) return CLI_USAGE;
            i++;
        } else if (arg[0] == '-' && arg[1] == '-') {
            return cli_usage_error(cmd->name, "unknown option '%s'", arg);
        } else if (positionals < cmd->n_positionals) {
            *(const char **)(base + cmd->positionals[positionals++].offset) = arg;
        } else {
            return cli_usage_error(cmd->name, "unexpected argument '%s'", arg);
        }
    }
    for (int k = positionals; k < cmd->n_positionals; k++)
        if (cmd->positionals[k].missing) return cli_usage_error(cmd->name, "missing %s", cmd->positionals[k].missing);
    return CLI_PARSED;
}
