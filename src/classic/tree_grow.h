/* tree_grow.h — internal to the CART grower (tree.c, tree_split.c; tree.h is the trees'
 * API): the grower's state, the split search's types and what each file calls in the other. */
#ifndef KN_CLASSIC_TREE_GROW_H
#define KN_CLASSIC_TREE_GROW_H

#include <pthread.h>

#include "classic/tree.h"

#define FULL_MIN_ROWS 2048      /* smaller nodes build per-feature histograms */
#define MAX_FULL_BUFFERS 6      /* whole-node histograms alive at once, per tree */
#define BLOCK_ROWS 2048         /* rows gathered at a time */
#define MAX_BLOCK_F 32          /* features gathered together (fewer when classes are many) */

enum { CRIT_GINI, CRIT_ENTROPY, CRIT_MSE };

/* The best split of one feature in one node. */
typedef struct {
    int32_t feature;
    int16_t bl, br;     /* the last bin going left, the first nonempty bin going right */
    bool constant;      /* the node's rows fall in one bin of this feature */
    bool valid;         /* some split leaves >= min_samples_leaf rows on each side */
    double proxy;       /* scikit-learn's proxy impurity improvement (larger is better) */
    double *left;       /* (T) the left child's totals */
} kn__tree_feat_best;

/* A node waiting to be grown. */
typedef struct {
    int64_t start, end; /* its rows: idx[start, end) */
    int32_t parent;     /* node id, -1 for the root */
    int depth;
    bool is_left;
    double *hist;       /* its whole-node histogram, or NULL */
} kn__tree_pending;

/* Totals (T doubles): classification [W, N, w_class0 .. w_class(C-1)]; regression
 * [W, N, sum w t, sum w t^2]. A histogram bin (S doubles): classification [N, w_class...];
 * regression [N, W, sum w t, sum w t^2]. W is the weight, N the row count. */
typedef struct kn__tree_grower {
    kn_ctx *ctx;
    pthread_mutex_t *lock;
    int64_t n, d;
    int C, S, T, crit;
    bool regression;
    const uint8_t *codes;
    const int *n_bins;
    const float *lower, *upper;
    int64_t *hoff;              /* (d) offset of each feature in a whole-node histogram */
    int64_t hsize;              /* doubles in a whole-node histogram */
    int max_depth, max_features, threads;
    int64_t mss, msl;
    uint64_t seed;
    int32_t *idx, *tmp_idx;     /* (n) rows in the sample; partition scratch */
    int32_t *ny, *tmp_y;        /* (n) labels in idx's order, or NULL */
    float *nt, *tmp_t;          /* (n) targets in idx's order, or NULL */
    float *nw, *tmp_w;          /* (n) weights in idx's order */
    int64_t n_rows;
    double *xlogx;              /* (xlogx_n) k ln k for integer weights, or NULL */
    int64_t xlogx_n;
    int32_t *perm;              /* (d) the features, shuffled by the draws */
    int32_t *cand;              /* (d) a node's candidate features */
    kn__tree_feat_best *res;    /* (d) their best splits */
    double *res_tot;            /* (d, T) */
    int words;                  /* uint64 words of a feature bit set */
    uint64_t *known;            /* (words) constant features of the current node */
    int n_scratch, block_f;
    size_t scratch_stride;      /* doubles per chunk: block_f (256, S) histograms, T, then
                                   block_f * BLOCK_ROWS gathered codes */
    double *scratch;            /* (n_scratch, scratch_stride) */
    double *full_free[MAX_FULL_BUFFERS];
    int n_full_free, n_full;
    kn__tree_pending *stack;    /* (stack_cap) */
    double *stack_tot;          /* (stack_cap, T) */
    uint64_t *stack_known;      /* (stack_cap, words) */
    int64_t sp, stack_cap;
    int64_t n_nodes, cap, node_rank;
    int32_t *feature, *left, *right, *n_samples;
    float *threshold, *value, *impurity;
    double *importance;         /* (d) */
    double *work;               /* (5, T) totals: the node, its children, the best split, the root */
    double root_w;              /* the root's weight */
} kn__tree_grower;

/* ------------------------------------------------------------------ tree.c */

double *kn__tree_full_get(kn__tree_grower *g);

/* ------------------------------------------------------------------ tree_split.c */

typedef struct {
    kn__tree_grower *g;
    bool subtract;        /* false: evaluate candidates; true: build child, parent -= child */
    int64_t start, end;   /* the node's rows (evaluate) or the smaller child's (subtract) */
    const double *tot;    /* the node's totals (evaluate) */
    double *hist;         /* the node's whole-node histogram (or NULL), or the parent's (subtract) */
    bool build;           /* evaluate: build hist's regions first */
    double *child;        /* subtract: the smaller child's whole-node histogram */
    const int32_t *feats; /* (n_feats) */
    int n_feats, n_chunks;
    kn__tree_feat_best *res; /* (n_feats) */
    double *res_tot;      /* (n_feats, T) */
} kn__tree_feat_job;

static inline bool kn__tree_known_has(const uint64_t *k, int64_t j) { return (k[j >> 6] >> (j & 63)) & 1; }
static inline void kn__tree_known_set(uint64_t *k, int64_t j) { k[j >> 6] |= UINT64_C(1) << (j & 63); }

double kn__tree_impurity_of(const kn__tree_grower *g, const double *tot);
bool kn__tree_leaf_before_search(const kn__tree_grower *g, int depth, int64_t rows, double impurity);
void kn__tree_run_features(kn__tree_grower *g, kn__tree_feat_job *job);
void kn__tree_find_split(kn__tree_grower *g, kn__tree_pending *e, const double *tot, kn__tree_feat_best *best);

#endif
