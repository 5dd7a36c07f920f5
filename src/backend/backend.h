/* backend.h — the small interface every backend implements, { iface; device; context }:
 * allocate and free device memory, copy in and out, run a compiled graph's nodes,
 * synchronize. A graph holds one (kn_graph.backend), chosen by its device at compile.
 *
 * The host buffers are the graph's interface on every backend: the planner's offsets, the
 * flat parameter / gradient / state buffers and kn_tensor_data are the same whatever the
 * device. A device backend mirrors them (one device allocation each, the same offsets) and
 * translates a tensor's host address into its device address; the CPU backend is the
 * host buffers themselves, its run the loop over the op table's cpu kernels, unchanged. */
#ifndef KN_BACKEND_H
#define KN_BACKEND_H

#include "graph/graph.h"
#include "data/augment.h"

/* Training data resident on the device (train/resident.c builds this; fit then runs each
 * step as one KN_RUN_RESIDENT run and reads the figures only when it shows or saves them;
 * a KN_RUN_RESIDENT run without the backward phase evaluates: gather, forward, loss, the
 * figures, nothing else).
 * A table is an input's rows for the whole dataset, already in the input's storage type,
 * in one piece or two (fit's training rows, then separate validation data's: rows [0,
 * n_first) from rows, [n_first, n_rows) from rest); the caller keeps the tables alive until
 * resident_close. */
typedef struct kn_resident_table {
    kn_tensor *input;            /* a graph input of (batch, ...) rows */
    const void *rows;            /* (n_first) rows of row_bytes; all n_rows when rest is NULL */
    const void *rest;            /* (n_rows - n_first) rows of row_bytes, or NULL */
    size_t row_bytes;
} kn_resident_table;

typedef struct kn_resident_desc {
    int64_t n_rows, n_first;     /* n_first: where the tables' rest begins (n_rows: nowhere) */
    int n_tables;
    kn_resident_table tables[4];
    const int32_t *labels;       /* (n_first, or n_rows without labels_rest) class labels for the correct count, or NULL */
    const int32_t *labels_rest;  /* (n_rows - n_first) the rest's labels, or NULL */
    const kn_tensor *loss;       /* scalar f32: the batch's mean loss */
    const kn_tensor *out;        /* (batch, outs): argmax against the label, or > threshold when outs == 1 */
    int64_t outs;
    float threshold;
    /* fp16's dynamic loss scaling kept on the device (train/loss_scale.c's rules): the
     * backward seed (an input, written by the run from the scale) and the update's unscale
     * follow the scale; an overflowing gradient skips the update and halves it, interval
     * clean updates double it; an overflow at KN_LOSS_SCALE_MIN is a failure (3). */
    kn_tensor *loss_seed;        /* NULL: no loss scaling (required with accumulate) */
    float scale;
    int64_t good, interval;
    bool accumulate;             /* KN_RUN_ACCUMULATE runs will come: an accumulator of the
                                  * gradients' size, zeroed */
    /* Data parallel through NCCL (nccl_comm.h's communicator), NULL alone; not with loss
     * scaling or accumulation. Each training run then takes this rank's share of the step
     * (g->grad_share: its rows / the step's) of its gradient and sums it over the ranks
     * inside the step; the guard's verdict goes through the sum with it, so every rank skips
     * or fails the same step. The figures stay this rank's (fit sums them when it reads). */
    void *nccl;
    /* Image augmentation in the training runs (fit's augment, on a backend with
     * resident_augment): table 0, the f32 features, holds (aug_h, aug_w, aug_c) images, and
     * each training run's rows are augmented as the epoch's draws say (data/augment.h's
     * kn__augment_draw by table row; kn__augment_apply, sigma the noise's); evaluation runs'
     * rows stay as stored. */
    bool augment;
    int aug_h, aug_w, aug_c;
    float aug_sigma;
    /* With augment, for a half-precision input: table 0 holds the f32 rows (row_bytes
     * theirs) and the gather narrows each row to the input's storage type after augmenting
     * it (round to nearest even, as core/half.c), an evaluation's rows too. */
    bool narrow_x;
} kn_resident_desc;

/* The figures of the resident steps since the last reset, and the first failure (kept
 * until resident_close: once failed, no later step updates anything). */
typedef struct kn_resident_stats {
    double loss_sum;             /* the batches' mean loss x rows, summed in step order */
    int64_t rows, correct;
    int64_t failed_step;         /* g->step of the failed run's update (not taken), or -1 */
    int64_t failed_first;        /* that run's resident_first */
    int failed_what;             /* 1: the loss, 2: a gradient is non-finite, 3: a gradient overflowed
                                  * at the smallest loss scale */
    float failed_loss;
    float scale;                 /* loss scaling: the scale for the next step, the clean updates */
    int64_t good, skipped;       /* since it last changed, and the updates skipped since open */
} kn_resident_stats;

typedef struct kn_backend_iface {
    const char *name;
    /* After the planner: device memory for g's buffers and whatever else the backend keeps
     * per graph (in g->backend.context); refuses ops it has no kernel for, naming them. */
    kn_status (*compile)(kn_graph *g);
    void (*release)(kn_graph *g);
    kn_status (*alloc)(kn_graph *g, size_t bytes, void **out);
    void (*free)(kn_graph *g, void *ptr);
    kn_status (*copy_in)(kn_graph *g, void *device_dst, const void *host_src, size_t bytes);
    kn_status (*copy_out)(kn_graph *g, void *host_dst, const void *device_src, size_t bytes);
    /* Runs the nodes whose phase is in mask (kn__graph_run_phases has done the step and
     * RNG bookkeeping); a device backend copies inputs in and kept outputs out. */
    kn_status (*run)(kn_graph *g, unsigned mask);
    kn_status (*synchronize)(kn_graph *g);
    /* The flat buffers named by parts (KN_SYNC_* bits, graph.h): device -> host, host -> device. */
    kn_status (*pull)(kn_graph *g, unsigned parts);
    kn_status (*push)(kn_graph *g, unsigned parts);
    /* Optional (NULL: fit brings every batch from the host): the tables uploaded once
     * (*placed false, and nothing kept, when they do not fit on the device); the epoch's
     * order of rows (n <= n_rows indices into the tables); the figures (synchronizes;
     * reset zeroes the sums, never the failure); and everything released. */
    kn_status (*resident_open)(kn_graph *g, const kn_resident_desc *d, bool *placed);
    kn_status (*resident_order)(kn_graph *g, const int32_t *order, int64_t n);
    kn_status (*resident_stats)(kn_graph *g, kn_resident_stats *out, bool reset);
    void (*resident_close)(kn_graph *g);
    /* Optional (NULL: fit augments every batch on the host): with desc.augment, the epoch's
     * draws, draws[r] for table row r < n (the training rows); the caller keeps them alive
     * and unchanged until the next call or resident_close. */
    kn_status (*resident_augment)(kn_graph *g, const kn__augment_draw *draws, int64_t n);
    /* Optional (NULL: pull the gradients and check them on the host): whether every value
     * of the device's gradient buffer is finite, checked there, only the answer copied
     * (synchronizes). fit's NCCL path asks it instead of pulling the gradients twice a step. */
    kn_status (*grads_finite)(kn_graph *g, bool *finite);
} kn_backend_iface;

extern const kn_backend_iface kn__cpu_backend;
/* Tests only (KILN_TEST_MIRROR=1 at compile): the CPU kernels on private host copies of the
 * flat buffers, so the host buffers behave as a device's would (backend/mirror.c). */
extern const kn_backend_iface kn__mirror_backend;
#ifdef KILN_HAVE_CUDA
extern const kn_backend_iface kn__cuda_backend;
/* KN_OK when a CUDA device is usable here, else KN_ERR_UNSUPPORTED naming the cause. */
kn_status kn__cuda_check(kn_ctx *ctx);
#endif

/* The resident step on the host (backend/resident_host.c), for backends whose memory the
 * host can address (the mirror test backend): the same steps as a device's kernels. */
/* loss_scale.h's bounds (the backends cannot include train/) */
#define KN_RESIDENT_SCALE_MIN 1.0f
#define KN_RESIDENT_SCALE_MAX 16777216.0f

typedef struct kn__resident_host {
    kn_resident_desc desc;
    int32_t *order;              /* (n_order) */
    int64_t n_order, cap_order;
    kn_resident_stats stats;
    float *acc;                  /* desc.accumulate: the gradient accumulator (param_floats) */
    const kn__augment_draw *draws; /* desc.augment: the epoch's draws (resident_augment), n_draws of them */
    int64_t n_draws;
    float *aug_scratch;          /* desc.augment: one image (kn__augment_apply's scratch) */
} kn__resident_host;
/* Row r of table t, and row r's label, wherever the piece holding it lies. */
static inline const void *kn__resident_row(const kn_resident_desc *d, const kn_resident_table *t, int64_t r) {
    return t->rest && r >= d->n_first ? (const uint8_t *)t->rest + (size_t)(r - d->n_first) * t->row_bytes
                                      : (const uint8_t *)t->rows + (size_t)r * t->row_bytes;
}
static inline int32_t kn__resident_label(const kn_resident_desc *d, int64_t r) {
    return d->labels_rest && r >= d->n_first ? d->labels_rest[r - d->n_first] : d->labels[r];
}

/* The bytes a row of table k fills in its input: row_bytes, or with narrow_x table 0's f32
 * rows narrowed to 2-byte values. */
static inline size_t kn__resident_input_row_bytes(const kn_resident_desc *d, int k) {
    return k == 0 && d->narrow_x ? d->tables[0].row_bytes / 2 : d->tables[k].row_bytes;
}

/* Whether d can run g's resident steps: every input of g is gathered from a table (or is
 * d's loss seed, which the run writes), each table's rows fill its input at g's batch, and
 * the input lies in g's arena. Every resident_open checks it (else *placed is false). */
bool kn__resident_placeable(const kn_graph *g, const kn_resident_desc *d);
kn_status kn__resident_host_open(kn_graph *g, kn__resident_host **r, const kn_resident_desc *d);
kn_status kn__resident_host_order(kn_graph *g, kn__resident_host *r, const int32_t *order, int64_t n);
void kn__resident_host_close(kn_graph *g, kn__resident_host **r);
kn_status kn__resident_host_augment(kn_graph *g, kn__resident_host *r, const kn__augment_draw *draws, int64_t n);
/* The batch's rows into the bound inputs (host addresses), table 0's augmented in a
 * training run when desc.augment. */
void kn__resident_host_gather(kn_graph *g, kn__resident_host *r);
/* After the loss phase: the figures, and (training) the loss's check; an evaluation run
 * (no backward pass) only adds to the figures, whatever its loss. */
void kn__resident_host_count(kn_graph *g, kn__resident_host *r, bool training);
/* Before the update: grad (the gradients, n floats) checked; false when the update must be
 * skipped (this step or an earlier one failed). */
bool kn__resident_host_guard(kn_graph *g, kn__resident_host *r, const float *grad, size_t n);
/* A KN_RUN_ACCUMULATE run whose guard passed: grad (n floats) added to the accumulator
 * times the batch's rows; with update, grad becomes the sum times g->grad_acc_scale and
 * the accumulator is cleared (the CUDA kernel's and fit's host loop's operations). */
void kn__resident_host_accumulate(kn_graph *g, kn__resident_host *r, float *grad, size_t n, bool update);

/* A device backend mirrors g's flat buffers and arena and maps addresses inside them
 * only: every tensor a node with a kernel reads or writes must lie in one (else
 * KN_ERR_UNSUPPORTED naming it). The CUDA and mirror backends check it at compile. */
kn_status kn__backend_check_buffers(kn_graph *g);

/* Nadam's P_t = u_1 ... u_t for g's optimizer (nadam_schedule.h), from the graph's cache
 * (g->nadam), which it advances: what every backend's host side takes the update's factors
 * from (backend.c). */
double kn__nadam_graph_product(kn_graph *g, int64_t t);

/* Picks g's backend from g->device and runs its compile (compile.c calls it last). */
kn_status kn__backend_compile(kn_graph *g);
void kn__backend_release(kn_graph *g);

#endif
