/* dataset.c — datasets: loading image sources (fashion-mnist, mnist, idx:DIR) into f32 rows
 * scaled to [0, 1], datasets from caller arrays, slices and accessors. */
#include "dataset.h"
#include "idx.h"
#include "image.h"
#include "tabular.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

kn_status kn__dataset_alloc(kn_ctx *ctx, int64_t n, int64_t features, int n_classes, int64_t outputs,
                            kn_dataset **out) {
    *out = NULL;
    size_t xs, ys;
    if (n < 0 || features < 1 || !kn__mul_size((size_t)n, (size_t)features, &xs) ||
        !kn__mul_size(xs, sizeof(float), &xs) ||
        !kn__mul_size((size_t)n, n_classes > 0 ? sizeof(int32_t) : (size_t)outputs * sizeof(float), &ys))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "dataset: size %lld x %lld is out of range", (long long)n,
                         (long long)features);
    kn_dataset *ds = kn__calloc(ctx, 1, sizeof *ds);
    if (!ds) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "dataset: out of memory");
    ds->ctx = ctx;
    ds->n = n;
    ds->features = features;
    ds->n_classes = n_classes;
    ds->outputs = n_classes > 0 ? 0 : outputs;
    ds->sample_ndim = 1;
    ds->sample_shape[0] = features;
    ds->input_scale = 1.0;
    ds->x = kn__alloc(ctx, xs);
    if (n_classes > 0) ds->labels = kn__alloc(ctx, ys);
    else ds->targets = kn__alloc(ctx, ys);
    if (!ds->x || (n_classes > 0 ? !ds->labels : !ds->targets)) {
        kn_dataset_free(ds);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "dataset: out of memory for %lld rows", (long long)n);
    }
    *out = ds;
    return KN_OK;
}

void kn_dataset_free(kn_dataset *ds) {
    if (!ds) return;
    kn_ctx *ctx = ds->ctx;
    if (ds->label_names)
        for (int i = 0; i < ds->n_classes; i++) kn__free(ctx, ds->label_names[i]);
    kn__free(ctx, ds->label_names);
    kn__free(ctx, ds->x);
    kn__free(ctx, ds->labels);
    kn__free(ctx, ds->targets);
    kn__raw_release(ds->raw);
    kn__free(ctx, ds);
}

kn_status kn__dataset_copy_meta(kn_dataset *d, const kn_dataset *ds) {
    d->input_scale = ds->input_scale;
    d->sample_ndim = ds->sample_ndim;
    memcpy(d->sample_shape, ds->sample_shape, sizeof d->sample_shape);
    d->raw = kn__raw_retain(ds->raw);
    d->targets_are_inputs = ds->targets_are_inputs;
    return ds->label_names && !d->label_names ? kn__dataset_set_names(d, (const char *const *)ds->label_names) : KN_OK;
}

kn_status kn__dataset_set_names(kn_dataset *ds, const char *const *names) {
    ds->label_names = kn__calloc(ds->ctx, (size_t)ds->n_classes, sizeof *ds->label_names);
    if (!ds->label_names) return kn__error(ds->ctx, KN_ERR_OUT_OF_MEMORY, "dataset: out of memory");
    for (int i = 0; i < ds->n_classes; i++) {
        char digit[16];
        snprintf(digit, sizeof digit, "%d", i);
        ds->label_names[i] = kn__strdup(ds->ctx, names ? names[i] : digit);
        if (!ds->label_names[i]) return kn__error(ds->ctx, KN_ERR_OUT_OF_MEMORY, "dataset: out of memory");
    }
    return KN_OK;
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* DIR/NAME.gz if present, else DIR/NAME (reported as missing when neither exists). */
static void pick_file(char *out, size_t size, const char *dir, const char *name) {
    snprintf(out, size, "%s/%s.gz", dir, name);
    if (!file_exists(out)) snprintf(out, size, "%s/%s", dir, name);
}

/* Reads one images/labels pair into a dataset. */
static kn_status load_pair(kn_ctx *ctx, const char *dir, const char *prefix, const char *const *names,
                           kn_dataset **out) {
    char ipath[4096], lpath[4096], iname[64], lname[64];
    snprintf(iname, sizeof iname, "%s-images-idx3-ubyte", prefix);
    snprintf(lname, sizeof lname, "%s-labels-idx1-ubyte", prefix);
    pick_file(ipath, sizeof ipath, dir, iname);
    pick_file(lpath, sizeof lpath, dir, lname);
    kn__idx images = {0}, labels = {0};
    kn_status st = kn__idx_read(ctx, ipath, &images);
    if (!st) st = kn__idx_read(ctx, lpath, &labels);
    if (!st && images.ndim != 3)
        st = kn__error(ctx, KN_ERR_FORMAT, "%s: expected an images file (3 dimensions), got %d", ipath, images.ndim);
    if (!st && labels.ndim != 1)
        st = kn__error(ctx, KN_ERR_FORMAT, "%s: expected a labels file (1 dimension), got %d", lpath, labels.ndim);
    if (!st && images.dims[0] != labels.dims[0])
        st = kn__error(ctx, KN_ERR_FORMAT, "%s: %lld labels for %lld images in %s", lpath, (long long)labels.dims[0],
                       (long long)images.dims[0], ipath);
    /* a named dataset's classes are all its names, even in a split that lacks some */
    int n_classes = names ? 10 : 0;
    for (int64_t i = 0; !st && i < labels.dims[0]; i++)
        if (labels.data[i] + 1 > n_classes) n_classes = labels.data[i] + 1;
    kn_dataset *ds = NULL;
    if (!st) st = kn__dataset_alloc(ctx, images.dims[0], images.dims[1] * images.dims[2], n_classes, 0, &ds);
    if (!st) {
        int64_t total = ds->n * ds->features;
        for (int64_t i = 0; i < total; i++) ds->x[i] = (float)images.data[i] * (1.0f / 255.0f);
        for (int64_t i = 0; i < ds->n; i++) ds->labels[i] = labels.data[i];
        ds->input_scale = 1.0 / 255.0;
        ds->sample_ndim = 3;
        ds->sample_shape[0] = images.dims[1];
        ds->sample_shape[1] = images.dims[2];
        ds->sample_shape[2] = 1;
        st = kn__dataset_set_names(ds, names && n_classes == 10 ? names : NULL);
    }
    kn__idx_free(ctx, &images);
    kn__idx_free(ctx, &labels);
    if (st) kn_dataset_free(ds);
    else *out = ds;
    return st;
}

kn_status kn_dataset_load(kn_ctx *ctx, const char *source, kn_dataset **train, kn_dataset **test) {
    if (!ctx || !source || !train) return KN_ERR_INVALID_ARGUMENT;
    *train = NULL;
    if (test) *test = NULL;
    char dir[4096];
    const char *const *names = NULL;
    struct stat sb;
    if (strcmp(source, "fashion-mnist") == 0 || strcmp(source, "mnist") == 0) {
        /* $KILN_DATA/NAME when that folder exists, else /usr/share/datasets/NAME */
        const char *root = getenv("KILN_DATA");
        char env_dir[4096] = "";
        if (root && *root) snprintf(env_dir, sizeof env_dir, "%s/%s", root, source);
        if (*env_dir && stat(env_dir, &sb) == 0 && S_ISDIR(sb.st_mode)) snprintf(dir, sizeof dir, "%s", env_dir);
        else snprintf(dir, sizeof dir, "/usr/share/datasets/%s", source);
        if (strcmp(source, "fashion-mnist") == 0) names = fashion_names;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return kn__error(ctx, KN_ERR_IO, "%s%s%s: data folder not found (for %s; %s)", env_dir, *env_dir ? " or " : "",
                             dir, source,
                             names ? "install dataset-fashion-mnist or set KILN_DATA" : "set KILN_DATA to a folder holding mnist/");
    } else if (strncmp(source, "csv:", 4) == 0) { /* raw: preprocess.c fits and applies the transforms */
        return kn__raw_load(ctx, source + 4, train);
    } else if (strncmp(source, "idx:", 4) == 0 && source[4]) {
        snprintf(dir, sizeof dir, "%s", source + 4);
    } else {
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                         "data source '%s' is not known (expected fashion-mnist, mnist, idx:DIR or csv:FILE[:key=value]...)", source);
    }
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return kn__error(ctx, KN_ERR_IO, "%s: data folder not found (for %s)", dir, source);
    kn_status st = load_pair(ctx, dir, "train", names, train);
    if (st || !test) return st;
    char probe[4200];
    pick_file(probe, sizeof probe, dir, "t10k-images-idx3-ubyte");
    if (!file_exists(probe)) return KN_OK; /* no test split */
    st = load_pair(ctx, dir, "t10k", names, test);
    if (st) {
        kn_dataset_free(*train);
        *train = NULL;
    }
    return st;
}

kn_status kn_dataset_load_inputs(kn_ctx *ctx, const char *path, kn_dataset **out) {
    if (!ctx || !path || !out) return KN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    /* PNG and PGM by their magic bytes; anything else is read as IDX */
    unsigned char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(magic, 1, sizeof magic, f) : 0;
    if (f) fclose(f);
    if ((got >= 4 && magic[0] == 0x89 && magic[1] == 'P' && magic[2] == 'N' && magic[3] == 'G') ||
        (got >= 2 && magic[0] == 'P' && (magic[1] == '2' || magic[1] == '5'))) {
        kn__image img = {0};
        kn_status st = kn__image_read(ctx, path, &img);
        if (st) return st;
        st = kn__dataset_alloc(ctx, 1, img.rows * img.cols, 0, 0, out);
        if (!st) {
            kn_dataset *ds = *out;
            for (int64_t i = 0; i < ds->features; i++) ds->x[i] = (float)img.data[i] * (1.0f / 255.0f);
            ds->input_scale = 1.0 / 255.0;
            ds->sample_ndim = 3;
            ds->sample_shape[0] = img.rows;
            ds->sample_shape[1] = img.cols;
            ds->sample_shape[2] = 1;
        }
        kn__image_free(ctx, &img);
        return st;
    }
    kn__idx images = {0};
    kn_status st = kn__idx_read(ctx, path, &images);
    if (st) return st;
    if (images.ndim != 3) {
        int ndim = images.ndim;
        kn__idx_free(ctx, &images);
        return kn__error(ctx, KN_ERR_FORMAT, "%s: expected images (an idx3 file), got %d dimension(s)", path, ndim);
    }
    st = kn__dataset_alloc(ctx, images.dims[0], images.dims[1] * images.dims[2], 0, 0, out);
    if (!st) {
        kn_dataset *ds = *out;
        for (int64_t i = 0; i < ds->n * ds->features; i++) ds->x[i] = (float)images.data[i] * (1.0f / 255.0f);
        ds->input_scale = 1.0 / 255.0;
        ds->sample_ndim = 3;
        ds->sample_shape[0] = images.dims[1];
        ds->sample_shape[1] = images.dims[2];
        ds->sample_shape[2] = 1;
    }
    kn__idx_free(ctx, &images);
    return st;
}

kn_status kn_dataset_from_arrays(kn_ctx *ctx, const float *x, const int32_t *labels, int64_t n, int64_t features,
                                 int n_classes, kn_dataset **out) {
    if (!ctx || !out || (n && (!x || !labels))) return KN_ERR_INVALID_ARGUMENT;
    if (n_classes < 1) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "dataset: n_classes %d must be >= 1", n_classes);
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= n_classes)
            return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "dataset: label %d of row %lld outside [0, %d)", labels[i],
                             (long long)i, n_classes);
    kn_status st = kn__dataset_alloc(ctx, n, features, n_classes, 0, out);
    if (st) return st;
    memcpy((*out)->x, x, (size_t)(n * features) * sizeof(float));
    memcpy((*out)->labels, labels, (size_t)n * sizeof(int32_t));
    return KN_OK;
}

kn_status kn_dataset_from_arrays_regression(kn_ctx *ctx, const float *x, const float *y, int64_t n,
                                            int64_t features, int64_t outputs, kn_dataset **out) {
    if (!ctx || !out || (n && (!x || !y))) return KN_ERR_INVALID_ARGUMENT;
    if (outputs < 1) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "dataset: outputs %lld must be >= 1", (long long)outputs);
    kn_status st = kn__dataset_alloc(ctx, n, features, 0, outputs, out);
    if (st) return st;
    memcpy((*out)->x, x, (size_t)(n * features) * sizeof(float));
    memcpy((*out)->targets, y, (size_t)(n * outputs) * sizeof(float));
    return KN_OK;
}

kn_status kn_dataset_inputs_as_targets(const kn_dataset *ds, kn_dataset **out) {
    if (!ds || !out) return KN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (ds->raw)
        return kn__error(ds->ctx, KN_ERR_INVALID_ARGUMENT,
                         "dataset: inputs as targets: the rows are a CSV table's raw columns; preprocess them first "
                         "(kn_preprocessor_fit / kn_preprocessor_apply), so the targets are the model's inputs");
    if (ds->features < 1)
        return kn__error(ds->ctx, KN_ERR_INVALID_ARGUMENT, "dataset: inputs as targets: the rows have no features");
    kn_status st = kn__dataset_alloc(ds->ctx, ds->n, ds->features, 0, ds->features, out);
    if (st) return st;
    kn_dataset *d = *out;
    memcpy(d->x, ds->x, (size_t)(ds->n * ds->features) * sizeof(float));
    memcpy(d->targets, ds->x, (size_t)(ds->n * ds->features) * sizeof(float));
    d->input_scale = ds->input_scale; /* (not kn__dataset_copy_meta: no label names, no raw table) */
    d->sample_ndim = ds->sample_ndim;
    memcpy(d->sample_shape, ds->sample_shape, sizeof d->sample_shape);
    d->targets_are_inputs = true;
    return KN_OK;
}

kn_status kn_dataset_slice(const kn_dataset *ds, int64_t start, int64_t count, kn_dataset **out) {
    if (!ds || !out) return KN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (start < 0 || count < 0 || start > ds->n || count > ds->n - start)
        return kn__error(ds->ctx, KN_ERR_INVALID_ARGUMENT, "dataset: slice [%lld, %lld) outside %lld rows",
                         (long long)start, (long long)(start + count), (long long)ds->n);
    kn_status st = kn__dataset_alloc(ds->ctx, count, ds->features, ds->n_classes, ds->outputs, out);
    if (st) return st;
    kn_dataset *s = *out;
    memcpy(s->x, ds->x + start * ds->features, (size_t)(count * ds->features) * sizeof(float));
    if (ds->labels) memcpy(s->labels, ds->labels + start, (size_t)count * sizeof(int32_t));
    if (ds->targets) memcpy(s->targets, ds->targets + start * ds->outputs, (size_t)(count * ds->outputs) * sizeof(float));
    if ((st = kn__dataset_copy_meta(s, ds))) {
        kn_dataset_free(s);
        *out = NULL;
    }
    return st;
}

int64_t kn_dataset_size(const kn_dataset *ds) { return ds->n; }
int64_t kn_dataset_features(const kn_dataset *ds) { return ds->features; }
int kn_dataset_classes(const kn_dataset *ds) { return ds->n_classes; }
int64_t kn_dataset_outputs(const kn_dataset *ds) { return ds->n_classes > 0 ? 0 : ds->outputs > 0 ? ds->outputs : 1; }
const float *kn_dataset_x(const kn_dataset *ds) { return ds->x; }
const int32_t *kn_dataset_labels(const kn_dataset *ds) { return ds->labels; }
const float *kn_dataset_targets(const kn_dataset *ds) { return ds->targets; }
const char *kn_dataset_label_name(const kn_dataset *ds, int cls) {
    return ds->label_names && cls >= 0 && cls < ds->n_classes ? ds->label_names[cls] : NULL;
}
kn_status kn_dataset_set_sample_shape(kn_dataset *ds, const int64_t *shape, int ndim) {
    if (!ds || !shape || ndim < 1 || ndim > KN_MAX_DIMS) return KN_ERR_INVALID_ARGUMENT;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1 || shape[i] > ds->features) return kn__error(ds->ctx, KN_ERR_SHAPE, "dataset: sample shape dimension %d is %lld", i, (long long)shape[i]);
        n *= shape[i];
    }
    if (n != ds->features)
        return kn__error(ds->ctx, KN_ERR_SHAPE, "dataset: a sample shape of %lld values for %lld features", (long long)n,
                         (long long)ds->features);
    memcpy(ds->sample_shape, shape, (size_t)ndim * sizeof *shape);
    ds->sample_ndim = ndim;
    return KN_OK;
}

int kn_dataset_sample_shape(const kn_dataset *ds, int64_t shape[KN_MAX_DIMS]) {
    memcpy(shape, ds->sample_shape, sizeof ds->sample_shape);
    return ds->sample_ndim;
}
