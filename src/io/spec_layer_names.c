/* spec_layer_names.c — the layer types a model description may name, by kind, for the
 * message that refuses an unknown one: the nearest types kiln knows first (compared
 * lowercased, underscores dropped, so a misspelt Keras class name finds its type too), then
 * every type grouped by kind. spec.c's parse_layer reads the types themselves (and Keras's
 * class names and aliases, layer_alias); test_conv1d checks that it takes every type listed
 * here. */
#include "io/spec.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define KN_KIND_NAMES 16 /* the most types of one kind */
static const struct {
    const char *kind;
    const char *names[KN_KIND_NAMES];
} layer_kinds[] = {
    {"core", {"dense", "activation", "identity", "embedding", "position_embedding", "masking", "rescaling", "prelu"}},
    {"convolution",
     {"conv1d", "conv2d", "depthwise_conv1d", "depthwise_conv2d", "separable_conv1d", "separable_conv2d", "conv1d_transpose",
      "conv2d_transpose", "conv3d", "conv3d_transpose"}},
    {"pooling",
     {"max_pool1d", "max_pool2d", "average_pool1d", "average_pool2d", "global_max_pool1d", "global_max_pool2d",
      "global_average_pool1d", "global_average_pool2d", "max_pool3d", "average_pool3d", "global_max_pool3d",
      "global_average_pool3d"}},
    {"normalization", {"batch_normalization", "layer_normalization", "group_normalization", "unit_normalization"}},
    {"regularization",
     {"dropout", "spatial_dropout1d", "spatial_dropout2d", "spatial_dropout3d", "gaussian_noise", "gaussian_dropout",
      "alpha_dropout"}},
    {"reshaping",
     {"flatten", "reshape", "permute", "repeat_vector", "zero_padding1d", "zero_padding2d", "cropping1d", "cropping2d",
      "up_sampling1d", "up_sampling2d", "center_crop", "resizing", "zero_padding3d", "cropping3d", "up_sampling3d"}},
    {"merging", {"add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"}},
    {"recurrent", {"simple_rnn", "lstm", "gru", "bidirectional", "time_distributed"}},
    {"attention", {"multi_head_attention", "attention"}},
    {"augmentation",
     {"random_flip", "random_translation", "random_rotation", "random_zoom", "random_contrast", "random_brightness"}},
};

/* s lowercased with its underscores dropped, into out (at most size - 1 characters) */
static void fold(const char *s, char *out, size_t size) {
    size_t n = 0;
    for (; *s && n + 1 < size; s++)
        if (*s != '_') out[n++] = (char)tolower((unsigned char)*s);
    out[n] = '\0';
}

/* Levenshtein's distance between a and b (each at most 63 characters), capped at 9 */
static int distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 9;
    int row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb] < 9 ? row[lb] : 9;
}

/* The distance from the folded name t to type n, folded too */
static int nearness(const char *t, const char *n) {
    char f[64];
    fold(n, f, sizeof f);
    return distance(t, f);
}

kn_status kn__spec_unknown_layer(kn_ctx *ctx, const char *field, const char *type) {
    char t[64], near[160] = "", all[2000];
    fold(type, t, sizeof t);
    /* the nearest types: at most 3, within a third of the name's length (at least 1, at most 3) */
    int limit = (int)strlen(t) / 3, best = 9, found = 0;
    limit = limit < 1 ? 1 : limit > 3 ? 3 : limit;
    for (size_t g = 0; g < sizeof layer_kinds / sizeof layer_kinds[0]; g++)
        for (int i = 0; i < KN_KIND_NAMES && layer_kinds[g].names[i]; i++) {
            int d = nearness(t, layer_kinds[g].names[i]);
            best = d < best ? d : best;
        }
    if (best <= limit) {
        size_t used = 0;
        for (size_t g = 0; g < sizeof layer_kinds / sizeof layer_kinds[0]; g++)
            for (int i = 0; i < KN_KIND_NAMES && layer_kinds[g].names[i] && found < 3; i++)
                if (nearness(t, layer_kinds[g].names[i]) == best)
                    used += (size_t)snprintf(near + used, sizeof near - used, "%s%s", found++ ? " or " : "did you mean ",
                                             layer_kinds[g].names[i]);
        snprintf(near + used, sizeof near - used, "? ");
    }
    size_t used = 0;
    for (size_t g = 0; g < sizeof layer_kinds / sizeof layer_kinds[0] && used < sizeof all; g++) {
        used += (size_t)snprintf(all + used, sizeof all - used, "%s%s:", g ? "; " : "", layer_kinds[g].kind);
        for (int i = 0; i < KN_KIND_NAMES && layer_kinds[g].names[i] && used < sizeof all; i++)
            used += (size_t)snprintf(all + used, sizeof all - used, "%s %s", i ? "," : "", layer_kinds[g].names[i]);
    }
    return kn__spec_error(ctx, field, "unknown layer '%.60s' (%skiln's layers are %s; and Keras's ReLU, LeakyReLU, ELU and Softmax)",
                          type, near, all);
}
