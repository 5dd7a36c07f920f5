/* model.h — classical models behind kiln's one model API (kn_model_*): each type supplies a
 * table of operations (kn__classic_ops) and keeps its fitted state in flat arrays that are
 * saved as the tensors of a .kiln file. nn/, train/ and io/ dispatch to these when
 * kn_model's `classic` is set; everything else (labels, preprocessing, CLI) is shared. */
#ifndef KN_CLASSIC_MODEL_H
#define KN_CLASSIC_MODEL_H

#include "classic/classic.h"

struct cJSON;

/* A tensor of a fitted model, for saving (data points into the state) or loading (data
 * points into the file; the state copies what it keeps). */
typedef struct kn__ctensor {
    char name[64];
    kn_dtype dtype;        /* KN_F32, KN_I32 or KN_U8 */
    int ndim;
    int64_t shape[2];
    const void *data;
} kn__ctensor;

typedef struct kn__classic_ops {
    const char *name;                /* "logistic_regression": the JSON type and the file's kiln.model_type */
    bool classification, regression; /* tasks it handles */
    size_t state_size;               /* bytes of its state (zeroed before parse) */
    /* Hyperparameters from the description (scikit-learn names and defaults); unknown keys
     * and bad values are errors naming the field ("random_forest.n_estimators: ..."). */
    kn_status (*parse)(kn_ctx *ctx, const struct cJSON *spec, void *state);
    /* The hyperparameters back as JSON (every one, defaults included), with "type". */
    struct cJSON *(*describe)(const void *state);
    kn_status (*fit)(kn_ctx *ctx, void *state, const kn__xy *xy);
    /* out: (n, outputs): class probabilities (one-hot of the decision for models without
     * probabilities) or regression values. Safe to call from several threads at once. */
    kn_status (*predict)(kn_ctx *ctx, const void *state, const float *x, int64_t n, float *out);
    bool (*has_proba)(const void *state);
    /* The fitted state's tensors (at most max); returns their count, or -1 with ctx's error
     * set (it may build a packed copy for saving, kept in the state). */
    int (*tensors)(kn_ctx *ctx, void *state, kn__ctensor *out, int max);
    /* Rebuilds the fitted state from the file's tensors (hyperparameters already parsed;
     * d and outputs known): checks every shape and index, copies. */
    kn_status (*load)(kn_ctx *ctx, void *state, const kn__ctensor *t, int n, int64_t d, int outputs, const char *path);
    void (*free)(kn_ctx *ctx, void *state);
    int64_t (*param_count)(const void *state);
    int (*iterations)(const void *state); /* solver iterations of the last fit (0: not iterative) */
    /* Optional: why class weights cannot apply with these hyperparameters (then a fit given
     * some is refused, naming class_weight), or NULL when they can. */
    const char *(*class_weight_refused)(const void *state);
    /* Optional: the out-of-bag score of the last fit (accuracy or R²), NaN when none. */
    double (*oob_score)(const void *state);
    /* Optional: impurity-decrease feature importances (d), as scikit-learn's. */
    void (*importances)(const void *state, double *out);
    /* Optional: the model as text (scikit-learn's export_text for a tree); names may be NULL. */
    kn_status (*export_text)(kn_ctx *ctx, const void *state, const char *const *feature_names, const char *const *class_names,
                             char **out);
} kn__classic_ops;

/* The tensor of t[0..n) with this name and dtype, or NULL (for the types' load). */
const kn__ctensor *kn__ctensor_find(const kn__ctensor *t, int n, const char *name, kn_dtype dtype);

/* The registry (classic/model.c): the ops of a type name, or NULL. */
const kn__classic_ops *kn__classic_find(const char *name);
/* "linear_regression, logistic_regression, ..." for messages. */
const char *kn__classic_names(void);

/* Builds an unfitted classical model of spec's "type" (the caller checked it is one);
 * data (may be NULL) gives the input width, the task and the classes. */
kn_status kn__classic_new(kn_ctx *ctx, const struct cJSON *spec, const kn_dataset *data, kn_model **out);
kn_status kn__classic_fit(kn_model *m, const kn_dataset *data, const kn_fit_opts *o, const kn_history **history);
kn_status kn__classic_predict(kn_model *m, const float *x, int64_t n, float *out);
kn_status kn__classic_evaluate(kn_model *m, const kn_dataset *data, kn_eval_report *rep);
void kn__classic_free(kn_model *m);
struct cJSON *kn__classic_to_cjson(const kn_model *m);
void kn__classic_summary(const kn_model *m, char *buf, size_t size);
int64_t kn__classic_param_count(const kn_model *m);
/* A fitted F32 tensor by name ("coef", "intercept", "threshold", "sv", ...), as
 * kn_model_param gives it: into the model's state (writes change the model). */
float *kn__classic_param(kn_model *m, const char *name, int64_t *n);

/* io/classic_file.c */
kn_status kn__classic_save(kn_model *m, const char *path);
/* A model built from a file's kiln.architecture: its fitted state from the file's tensors
 * (header: the parsed safetensors header; data: the data section). */
kn_status kn__classic_bind(kn_model *m, const char *path, const struct cJSON *header, const uint8_t *data, size_t data_len);

#endif
