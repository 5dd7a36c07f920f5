/* onnx_import_attn.c — attention subgraphs read as kiln's multi_head_attention: PyTorch's
 * nn.MultiheadAttention (alone or inside nn.TransformerEncoderLayer / DecoderLayer, batch
 * first or not, packed or separate projections) and kiln export's own attention.
 *
 * Such a subgraph is found before the walk (kn__imp_find_attention): a Softmax between two
 * MatMuls of data (the scores Q K^T, then their product with V), the nodes back from those
 * to the projections (a MatMul or Gemm by a constant: the query, key and value kernels)
 * through Transposes, Reshapes, Slices, Splits, Gathers, (Un)Squeezes, scalings and bias
 * Adds, and the nodes after it to the output projection (and the Reshapes after that). No
 * other node may read what those nodes make (Shape of it aside). The walk skips them and
 * reads the whole subgraph at its last node (kn__imp_read_attention).
 *
 * Reading it tracks, for every value, what each of its axes holds: a list of factors, each
 * the batch (N), a source's steps (T) or channels (C), or a projection's columns (P: a
 * strided run of them, so that a Reshape may split one into heads and head channels). The
 * sizes of Reshape targets and Slice bounds that PyTorch computes from Shape nodes are
 * evaluated for two batch sizes (onnx_import_shape.c), which tells the batch's factor from the
 * others. At the
 * core, the query's last axis must be one head's channels (stride 1) with its heads (stride
 * key_dim) among the leading axes, matched one for one by the key's and the value's; what
 * reaches the output projection must be the heads then their channels, as kiln's attention
 * concatenates them. A constant Add to the scores must be a causal mask (0 on and below the
 * diagonal, at most -1e4 above it) or zeros; a scaling of the scores other than 1/sqrt(key_dim)
 * goes into the query's kernel and bias. */
#include "io/onnx_import.h"
#include "nn/model.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { AX = 6, FAC = 4, MAX_SRC = 3, MAX_PROJ = 6, DEPTH = 64 };

typedef struct {
    char kind;      /* 'N' the batch, 'T' a source's steps, 'C' a source's channels, 'P' a projection's columns */
    int idx;        /* the source ('T', 'C') or projection ('P') */
    int64_t size;   /* (1 for N) */
    int64_t stride; /* 'P': columns apart from one index to the next */
} factor;

/* What a value of the subgraph holds, axis by axis. */
typedef struct {
    int n;
    int nf[AX];
    factor f[AX][FAC];
    int proj;     /* the projection whose columns its P factors index (-1: none) */
    int64_t lo;   /* their first column */
    double scale; /* the value is scale times what the factors say */
    char stage;   /* 'p' projected, 's' scores, 'a' attention probabilities, 'h' attended values, 'o' output projected */
} layout;

typedef struct {
    char name[KN__ONNX_NAME];
    layout l;
} rvalue;

typedef struct {
    const kn__onnx_tensor *W;
    bool trans;      /* W is (out, in) (Gemm's transB) */
    int64_t in, out;
    int src;         /* the source its input is; -1: the attended values (the output projection) */
    float *bias;     /* out values, zeros where no Add gave one */
    unsigned char *biased;
    bool any_bias;
} projection;

/* The core's three projections, as the scores and the attended values read them. */
typedef struct {
    int proj, src;
    int64_t lo, heads, dim, steps;
} side;

typedef struct {
    imp *s;
    char src[MAX_SRC][KN__ONNX_NAME]; /* the values it reads (imp_values, by name: the walk's list may move) */
    int n_src;
    projection P[MAX_PROJ];
    int n_proj;
    rvalue *vals;
    int n_vals, cap_vals;
    side q, k, v;
    int out_proj;
    layout lead; /* the scores' leading axes (batch and heads) */
    double score_scale;
    bool causal, core_seen, attended;
    kn__imp_shapes sh; /* the shape arithmetic, reading this file's values through region_dims */
} attn;

/* ------------------------------------------------------------- the graph */

static bool op_is(const kn__onnx_node *nd, const char *op) { return strcmp(nd->op, op) == 0; }

/* A constant, or computed from constants and shapes alone (PyTorch slices a packed
 * projection's weights by bounds computed from the query's shape). *budget bounds the nodes
 * visited (a malformed graph may branch without end). */
static bool is_const_at(const imp *s, const char *name, int depth, int *budget) {
    if (!name[0] || --*budget < 0) return false;
    if (kn__imp_constant(s, name)) return true;
    int p = depth > 16 ? -1 : kn__imp_node_making(s->m, name);
    if (p < 0) return false;
    const kn__onnx_node *nd = &s->m->nodes[p];
    if (op_is(nd, "Shape") || op_is(nd, "Size")) return true;
    static const char *const ops[] = {"Gather", "Unsqueeze", "Squeeze", "Concat", "Add", "Sub", "Mul", "Div", "Cast",
                                      "Slice", "Transpose", "Reshape", "Identity"};
    bool known = false;
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) known |= op_is(nd, ops[k]);
    if (!known || nd->n_inputs < 1) return false;
    for (int k = 0; k < nd->n_inputs; k++)
        if (nd->inputs[k][0] && !is_const_at(s, nd->inputs[k], depth + 1, budget)) return false;
    return true;
}

static bool is_const(const imp *s, const char *name) {
    int budget = 256;
    return is_const_at(s, name, 0, &budget);
}

static bool shape_reader(const kn__onnx_node *nd) { return op_is(nd, "Shape") || op_is(nd, "Size"); }

/* The node's first output ("" when it has none). */
static const char *out0(const kn__onnx_node *nd) { return nd->n_outputs >= 1 ? nd->outputs[0] : ""; }

/* The nodes reading `name` as data (Shape and Size aside): how many, and the last one. */
static int data_readers(const kn__onnx_model *m, const char *name, int *which) {
    int n = 0;
    for (int i = 0; i < m->n_nodes && name[0]; i++) {
        if (shape_reader(&m->nodes[i])) continue;
        for (int k = 0; k < m->nodes[i].n_inputs; k++)
            if (strcmp(m->nodes[i].inputs[k], name) == 0) n++, *which = i;
    }
    return n;
}

/* Marks the nodes from a projection (MatMul or Gemm by a constant) to `name` through ops that
 * move, cut or scale values; false when `name` does not come so from one. */
static bool walk_back(const imp *s, const char *name, unsigned char *mark, int depth) {
    const kn__onnx_model *m = s->m;
    int p = kn__imp_node_making(m, name);
    if (p < 0 || depth > DEPTH) return false;
    const kn__onnx_node *nd = &m->nodes[p];
    if ((op_is(nd, "MatMul") || op_is(nd, "Gemm")) && nd->n_inputs >= 2) {
        if (!is_const(s, nd->inputs[1]) || is_const(s, nd->inputs[0])) return false;
        return mark[p] = 1, true;
    }
    static const char *const moves[] = {"Transpose", "Reshape", "Slice", "Split", "Gather", "Squeeze", "Unsqueeze",
                                        "Dropout", "Identity"};
    for (size_t k = 0; k < sizeof moves / sizeof *moves; k++)
        if (op_is(nd, moves[k]) && nd->n_inputs >= 1 && !is_const(s, nd->inputs[0]))
            return mark[p] = 1, walk_back(s, nd->inputs[0], mark, depth + 1);
    if ((op_is(nd, "Mul") || op_is(nd, "Div") || op_is(nd, "Add")) && nd->n_inputs == 2) {
        bool c0 = is_const(s, nd->inputs[0]), c1 = is_const(s, nd->inputs[1]);
        if (c0 == c1 || (c0 && op_is(nd, "Div"))) return false;
        return mark[p] = 1, walk_back(s, nd->inputs[c0 ? 1 : 0], mark, depth + 1);
    }
    return false;
}

/* The subgraph around Softmax node `i`, marked in mark; its last node, or -1 when it is not
 * attention as this file reads it (*why: the reason, once the Softmax is found between two
 * products of data, as attention's is). */
static int region_of_softmax(const imp *s, int i, unsigned char *mark, const char **why) {
    const kn__onnx_model *m = s->m;
    const kn__onnx_node *sm = &m->nodes[i];
    if (sm->n_inputs != 1 || sm->n_outputs < 1) return -1;
    mark[i] = 1;
    /* back to the scores' MatMul through a mask and scalings */
    int p = kn__imp_node_making(m, sm->inputs[0]);
    for (int depth = 0; p >= 0 && depth < 4; depth++) {
        const kn__onnx_node *nd = &m->nodes[p];
        bool scaled = (op_is(nd, "Mul") || op_is(nd, "Div") || op_is(nd, "Add")) && nd->n_inputs == 2;
        if (!scaled) break;
        bool c0 = is_const(s, nd->inputs[0]), c1 = is_const(s, nd->inputs[1]);
        if (c0 == c1 || (c0 && op_is(nd, "Div"))) return -1;
        mark[p] = 1;
        p = kn__imp_node_making(m, nd->inputs[c0 ? 1 : 0]);
    }
    if (p < 0) return -1;
    const kn__onnx_node *m1 = &m->nodes[p];
    if (!op_is(m1, "MatMul") || m1->n_inputs != 2 || is_const(s, m1->inputs[0]) || is_const(s, m1->inputs[1])) return -1;
    mark[p] = 1;
    static const char *const unprojected = "its queries, keys or values do not come from a projection (a MatMul or Gemm by "
                                           "constant weights) through ops that only move, cut or scale them";
    *why = "its probabilities are read other than by their product with the values (PyTorch's need_weights=True "
           "returns them: pass need_weights=False)";
    if (!walk_back(s, m1->inputs[0], mark, 0) || !walk_back(s, m1->inputs[1], mark, 0)) return *why = unprojected, -1;
    /* forward: (dropout), the product with V */
    const char *cur = out0(sm);
    int r = -1;
    for (int depth = 0;; depth++) {
        if (data_readers(m, cur, &r) != 1 || depth > 4) return -1;
        const kn__onnx_node *nd = &m->nodes[r];
        if (!(op_is(nd, "Dropout") || op_is(nd, "Identity")) || nd->n_outputs < 1) break;
        mark[r] = 1;
        cur = out0(nd);
    }
    const kn__onnx_node *m2 = &m->nodes[r];
    if (!op_is(m2, "MatMul") || m2->n_inputs != 2 || m2->n_outputs < 1 || strcmp(m2->inputs[0], cur) != 0 ||
        is_const(s, m2->inputs[1]))
        return -1;
    mark[r] = 1;
    if (!walk_back(s, m2->inputs[1], mark, 0)) return *why = unprojected, -1;
    /* the heads merged, the output projection, its bias and Reshapes */
    cur = out0(m2);
    int end = r;
    bool projected = false, biased = false;
    for (int depth = 0; depth < DEPTH; depth++) {
        if (data_readers(m, cur, &r) != 1) break;
        const kn__onnx_node *nd = &m->nodes[r];
        if (nd->n_outputs < 1) break;
        if (nd->n_inputs < 1 || strcmp(nd->inputs[0], cur) != 0) {
            if (!(projected && !biased && op_is(nd, "Add") && nd->n_inputs == 2 && is_const(s, nd->inputs[0]))) break;
        }
        bool moves = op_is(nd, "Reshape") || (!projected && (op_is(nd, "Transpose") || op_is(nd, "Squeeze") ||
                                                             op_is(nd, "Unsqueeze")));
        bool proj = !projected && (op_is(nd, "MatMul") || op_is(nd, "Gemm")) && nd->n_inputs >= 2 && is_const(s, nd->inputs[1]);
        bool bias = projected && !biased && op_is(nd, "Add") && nd->n_inputs == 2 &&
                    is_const(s, nd->inputs[strcmp(nd->inputs[0], cur) == 0 ? 1 : 0]);
        if (!moves && !proj && !bias) break;
        projected |= proj;
        biased |= bias;
        mark[r] = 1;
        end = r;
        cur = out0(nd);
    }
    if (!projected) return *why = "no output projection (a MatMul or Gemm by constant weights) follows it", -1;
    /* nothing outside reads a value inside (but its shape) */
    for (int j = 0; j <= end; j++) {
        if (!mark[j] || j == end) continue;
        for (int k = 0; k < m->nodes[j].n_outputs; k++)
            for (int t = 0; t < m->n_nodes; t++) {
                const kn__onnx_node *nd = &m->nodes[t];
                if (mark[t] || shape_reader(nd)) continue;
                for (int q = 0; q < nd->n_inputs; q++)
                    if (m->nodes[j].outputs[k][0] && strcmp(nd->inputs[q], m->nodes[j].outputs[k]) == 0)
                        return *why = "a value inside it is read by a node outside it", -1;
            }
    }
    return end;
}

kn_status kn__imp_find_attention(imp *s) {
    const kn__onnx_model *m = s->m;
    int n_soft = 0;
    for (int i = 0; i < m->n_nodes; i++) n_soft += op_is(&m->nodes[i], "Softmax");
    if (!n_soft) return KN_OK;
    s->attn_region = malloc((size_t)m->n_nodes * sizeof *s->attn_region);
    s->attn_end = malloc((size_t)n_soft * sizeof *s->attn_end);
    s->attn_dot = calloc((size_t)n_soft, sizeof *s->attn_dot);
    unsigned char *mark = malloc((size_t)m->n_nodes);
    if (!s->attn_region || !s->attn_end || !s->attn_dot || !mark) {
        free(mark);
        return kn__imp_oom(s);
    }
    for (int i = 0; i < m->n_nodes; i++) s->attn_region[i] = -1;
    for (int i = 0; i < m->n_nodes; i++) {
        if (!op_is(&m->nodes[i], "Softmax") || s->attn_region[i] >= 0) continue;
        memset(mark, 0, (size_t)m->n_nodes);
        const char *why = NULL;
        imp_dot dot;
        int end = kn__imp_dot_region(s, i, mark, &dot); /* (attention without projections: Keras's Attention) */
        if (end < 0) memset(mark, 0, (size_t)m->n_nodes), end = region_of_softmax(s, i, mark, &why);
        else s->attn_dot[s->n_attn] = dot;
        bool taken = false;
        for (int j = 0; end >= 0 && j < m->n_nodes; j++) taken |= mark[j] && s->attn_region[j] >= 0;
        if (end < 0 && why && !s->attn_near) s->attn_near = calloc((size_t)m->n_nodes, 1);
        if (end < 0 && why && s->attn_near) { /* a message for the walk's refusal of one of its nodes */
            for (int j = 0; j < m->n_nodes; j++) s->attn_near[j] |= mark[j];
            snprintf(s->attn_why, sizeof s->attn_why, "; it belongs to attention around Softmax node %d, which kiln "
                     "reads only whole, and %s", i, why);
        }
        if (end < 0 || taken) {
            s->attn_dot[s->n_attn].found = false;
            continue;
        }
        for (int j = 0; j < m->n_nodes; j++)
            if (mark[j]) s->attn_region[j] = s->n_attn;
        s->attn_end[s->n_attn++] = end;
    }
    free(mark);
    return KN_OK;
}

bool kn__imp_attn_internal(const imp *s, const char *name) {
    if (!s->attn_region) return false;
    int p = kn__imp_node_making(s->m, name);
    return p >= 0 && s->attn_region[p] >= 0 && s->attn_end[s->attn_region[p]] != p;
}

/* ------------------------------------------------------------- values */

static kn_status fail(attn *a, const char *why) { return kn__imp_unsupported(a->s, why); }

static int64_t axis_size(const layout *l, int ax, int64_t batch) {
    int64_t z = 1;
    for (int k = 0; k < l->nf[ax]; k++) z *= l->f[ax][k].kind == 'N' ? batch : l->f[ax][k].size;
    return z;
}

static const rvalue *find_rvalue(const attn *a, const char *name) {
    for (int i = a->n_vals - 1; i >= 0; i--)
        if (strcmp(a->vals[i].name, name) == 0) return &a->vals[i];
    return NULL;
}

static kn_status put(attn *a, const char *name, const layout *l) {
    if (a->n_vals == a->cap_vals) {
        int nc = a->cap_vals ? a->cap_vals * 2 : 32;
        rvalue *p = realloc(a->vals, (size_t)nc * sizeof *p);
        if (!p) return kn__imp_oom(a->s);
        a->vals = p, a->cap_vals = nc;
    }
    rvalue *v = &a->vals[a->n_vals++];
    snprintf(v->name, sizeof v->name, "%s", name);
    v->l = *l;
    return KN_OK;
}

/* The layout of a sequence the walk imported; a source of the attention when `source` (a
 * Shape may read any value). */
static kn_status source_layout(attn *a, const char *name, layout *l, bool source) {
    imp *s = a->s;
    const imp_value *v = kn__imp_find_value(s, name);
    if (!v) return fail(a, "it reads a value kiln did not import");
    if (v->ambiguous && v->seq) { /* the (N, ., .) input, read by a MatMul first: (N, L, C) */
        kn__imp_load_value(s, v);
        kn_status st = kn__imp_resolve_seq(s, "MatMul");
        if (!st) st = kn__imp_add_value(s, name);
        if (st) return st;
        v = kn__imp_find_value(s, name);
    }
    if (!v->seq || v->ids || v->half || strchr(v->ord, 'D'))
        return fail(a, "attention over other than a sequence of (N, L, C) (in any order of the three)");
    int idx = 0;
    while (idx < a->n_src && strcmp(a->src[idx], name) != 0) idx++;
    if (idx == a->n_src && source) {
        if (a->n_src == MAX_SRC) return fail(a, "attention over more than three values");
        snprintf(a->src[a->n_src++], KN__ONNX_NAME, "%s", name);
    }
    memset(l, 0, sizeof *l);
    l->n = (int)strlen(v->ord);
    l->proj = -1, l->scale = 1, l->stage = 'x';
    for (int k = 0; k < l->n; k++) {
        char c = v->ord[k];
        l->nf[k] = 1;
        l->f[k][0] = (factor){c == 'N' ? 'N' : c == 'L' ? 'T' : 'C', idx, c == 'N' ? 1 : c == 'L' ? v->l : v->c, 1};
    }
    return KN_OK;
}

static kn_status input_layout(attn *a, const char *name, layout *l) {
    const rvalue *r = find_rvalue(a, name);
    if (r) return *l = r->l, KN_OK;
    return source_layout(a, name, l, true);
}

/* ------------------------------------------------------------- moving axes */

static int norm_axis(int64_t ax, int n) { return ax < 0 ? (int)(ax + n) : (int)ax; }

static kn_status read_reshape(attn *a, const kn__onnx_node *nd, layout *l) {
    int64_t k[8];
    bool batched[8];
    int n = 0;
    kn_status st = nd->n_inputs == 2 ? kn__imp_shape_dims(&a->sh, nd->inputs[1], k, batched, &n) : fail(a, "a Reshape without its shape");
    if (st) return st;
    if (n < 1 || n > AX) return fail(a, "a Reshape to more than 6 dimensions");
    /* 0 copies the input's dimension; -1 is what is left */
    int minus = -1;
    int64_t total = 1, known = 1;
    bool total_b = false, known_b = false;
    for (int ax = 0; ax < l->n; ax++)
        for (int j = 0; j < l->nf[ax]; j++) {
            if (l->f[ax][j].kind == 'N') total_b = true;
            else total *= l->f[ax][j].size;
        }
    for (int j = 0; j < n; j++) {
        if (k[j] == 0 && !batched[j]) {
            if (j >= l->n) return fail(a, "a Reshape copying a dimension the input lacks");
            batched[j] = false, k[j] = 1;
            for (int q = 0; q < l->nf[j]; q++) {
                if (l->f[j][q].kind == 'N') batched[j] = true;
                else k[j] *= l->f[j][q].size;
            }
        }
        if (k[j] == -1 && !batched[j]) {
            if (minus >= 0) return fail(a, "a Reshape with two -1s");
            minus = j;
            continue;
        }
        if (k[j] < 1 || k[j] > (1 << 30) || __builtin_mul_overflow(known, k[j], &known))
            return fail(a, "a Reshape to a dimension below 1 or too large");
        known_b |= batched[j];
    }
    if (minus >= 0) {
        if (known_b && !total_b) return fail(a, "a Reshape kiln cannot work out");
        if (known == 0 || total % known) return fail(a, "a Reshape to a shape of another size");
        k[minus] = total / known, batched[minus] = total_b && !known_b;
    }
    /* the factors, in order, regrouped to the target's dimensions */
    factor list[AX * FAC + AX];
    int nl = 0, at = 0;
    for (int ax = 0; ax < l->n; ax++)
        for (int j = 0; j < l->nf[ax]; j++) list[nl++] = l->f[ax][j];
    layout o = *l;
    o.n = n;
    for (int j = 0; j < n; j++) {
        int64_t rem = k[j];
        bool need_n = batched[j];
        o.nf[j] = 0;
        while (rem > 1 || need_n) {
            if (at == nl || o.nf[j] == FAC) return fail(a, "a Reshape that mixes the batch, steps and channels");
            factor f = list[at];
            if (f.kind == 'N') {
                if (!need_n) return fail(a, "a Reshape that moves the batch");
                need_n = false;
            } else if (rem % f.size == 0) {
                rem /= f.size;
            } else if (f.kind == 'P' && f.size % rem == 0) { /* a projection's columns split: outer rem, inner the rest */
                int64_t inner = f.size / rem;
                f.size = rem, f.stride *= inner;
                list[at].size = inner;
                o.f[j][o.nf[j]++] = f;
                rem = 1;
                continue;
            } else {
                return fail(a, "a Reshape that mixes the batch, steps and channels");
            }
            o.f[j][o.nf[j]++] = f;
            at++;
        }
    }
    for (; at < nl; at++) { /* what is left must be of size 1 */
        if (list[at].kind == 'N' || list[at].size != 1) return fail(a, "a Reshape to a shape of another size");
        if (o.nf[n - 1] == FAC) return fail(a, "a Reshape that mixes the batch, steps and channels");
        o.f[n - 1][o.nf[n - 1]++] = list[at];
    }
    *l = o;
    return KN_OK;
}

static kn_status read_transpose(attn *a, const kn__onnx_node *nd, layout *l) {
    int64_t perm[AX];
    for (int k = 0; k < l->n; k++) perm[k] = l->n - 1 - k;
    const kn__onnx_attr *p = kn__onnx_attr_get(nd, "perm");
    if (p && (p->kind != KN__ONNX_ATTR_INTS || p->n != l->n)) return fail(a, "a Transpose whose perm does not fit its input");
    for (int k = 0; p && k < l->n; k++) perm[k] = p->ints[k];
    layout o = *l;
    for (int k = 0; k < l->n; k++) {
        if (perm[k] < 0 || perm[k] >= l->n) return fail(a, "a Transpose whose perm does not fit its input");
        o.nf[k] = l->nf[perm[k]];
        memcpy(o.f[k], l->f[perm[k]], sizeof o.f[k]);
    }
    *l = o;
    return KN_OK;
}

/* Columns [b, e) of axis ax, which must be one projection's factor. */
static kn_status narrow(attn *a, layout *l, int ax, int64_t b, int64_t e, bool drop) {
    if (ax < 0 || ax >= l->n || l->nf[ax] != 1 || l->f[ax][0].kind != 'P')
        return fail(a, "a Slice, Split or Gather of other than a projection's columns");
    factor *f = &l->f[ax][0];
    if (b < 0) b += f->size;
    if (e < 0) e += f->size;
    if (b < 0) b = 0;
    if (e > f->size) e = f->size;
    if (b >= e) return fail(a, "an empty Slice");
    l->lo += b * f->stride;
    f->size = e - b;
    if (drop) {
        if (f->size != 1) return fail(a, "a Gather of more than one index");
        memmove(&l->nf[ax], &l->nf[ax + 1], (size_t)(l->n - ax - 1) * sizeof l->nf[0]);
        memmove(&l->f[ax], &l->f[ax + 1], (size_t)(l->n - ax - 1) * sizeof l->f[0]);
        l->n--;
    }
    return KN_OK;
}

static kn_status read_slice(attn *a, const kn__onnx_node *nd, layout *l) {
    int64_t b[8], e[8], ax[8], step[8];
    int nb = 0, ne = 0, na = 0, ns = 0;
    kn_status st = nd->n_inputs >= 3 ? KN_OK : fail(a, "a Slice of opset below 10 (starts and ends as attributes)");
    if (!st) st = kn__imp_shape_fixed(&a->sh, nd->inputs[1], b, &nb);
    if (!st) st = kn__imp_shape_fixed(&a->sh, nd->inputs[2], e, &ne);
    if (!st && nd->n_inputs > 3 && nd->inputs[3][0]) st = kn__imp_shape_fixed(&a->sh, nd->inputs[3], ax, &na);
    if (!st && nd->n_inputs > 4 && nd->inputs[4][0]) st = kn__imp_shape_fixed(&a->sh, nd->inputs[4], step, &ns);
    if (st) return st;
    if (nb != ne || (na && na != nb) || (ns && ns != nb)) return fail(a, "a Slice whose inputs disagree in length");
    for (int j = 0; j < nb; j++) {
        if (ns && step[j] != 1) return fail(a, "a Slice with a step other than 1");
        if ((st = narrow(a, l, norm_axis(na ? ax[j] : j, l->n), b[j], e[j] > (int64_t)1 << 40 ? (int64_t)1 << 40 : e[j], false)))
            return st;
    }
    return KN_OK;
}

static kn_status read_unsqueeze(attn *a, const kn__onnx_node *nd, layout *l, bool squeeze) {
    int64_t ax[8];
    int na = 0;
    const kn__onnx_attr *at = kn__onnx_attr_get(nd, "axes");
    if (at && at->kind == KN__ONNX_ATTR_INTS && at->n <= 8) {
        na = at->n;
        for (int k = 0; k < na; k++) ax[k] = at->ints[k];
    } else if (nd->n_inputs > 1 && nd->inputs[1][0]) {
        kn_status st = kn__imp_shape_fixed(&a->sh, nd->inputs[1], ax, &na);
        if (st) return st;
    } else {
        return fail(a, "a Squeeze or Unsqueeze without its axes");
    }
    for (int j = 0; j < na; j++) {
        int n = squeeze ? l->n : l->n + 1, x = norm_axis(ax[j], n);
        if (x < 0 || x >= n || (!squeeze && l->n == AX)) return fail(a, "a Squeeze or Unsqueeze of an axis the value lacks");
        if (squeeze) {
            if (axis_size(l, x, 2) != 1) return fail(a, "a Squeeze of an axis longer than 1");
            memmove(&l->nf[x], &l->nf[x + 1], (size_t)(l->n - x - 1) * sizeof l->nf[0]);
            memmove(&l->f[x], &l->f[x + 1], (size_t)(l->n - x - 1) * sizeof l->f[0]);
            l->n--;
        } else {
            memmove(&l->nf[x + 1], &l->nf[x], (size_t)(l->n - x) * sizeof l->nf[0]);
            memmove(&l->f[x + 1], &l->f[x], (size_t)(l->n - x) * sizeof l->f[0]);
            l->nf[x] = 0;
            l->n++;
        }
    }
    return KN_OK;
}

/* ------------------------------------------------------------- projections */

static kn_status read_projection(attn *a, const kn__onnx_node *nd, layout *l) {
    bool gemm = op_is(nd, "Gemm");
    const kn__onnx_tensor *W = kn__imp_shape_tensor(&a->sh, nd->inputs[1]);
    bool trans = gemm && kn__imp_attr_int(nd, "transB", 0);
    if (!W || !W->f || W->ndim != 2) return fail(a, "a projection whose weights are not a 2-D float constant");
    if (gemm && (kn__imp_attr_int(nd, "transA", 0) || kn__imp_attr_float(nd, "alpha", 1) != 1 ||
                 kn__imp_attr_float(nd, "beta", 1) != 1))
        return fail(a, "a Gemm with transA, alpha or beta");
    int64_t in = W->dims[trans ? 1 : 0], out = W->dims[trans ? 0 : 1];
    int last = l->n - 1;
    int src = -2;
    if (l->stage == 'x' && l->nf[last] == 1 && l->f[last][0].kind == 'C') src = l->f[last][0].idx;
    if (l->stage == 'h' && l->nf[last] >= 1 && l->nf[last] <= 2) { /* the heads, then each head's channels */
        const factor *h = &l->f[last][0], *d = &l->f[last][l->nf[last] - 1];
        bool heads_first = l->nf[last] == 1 ? a->v.heads == 1 : h->kind == 'P' && h->size == a->v.heads && h->stride == a->v.dim;
        if (heads_first && d->kind == 'P' && d->stride == 1 && d->size == a->v.dim && l->lo == a->v.lo) src = -1;
    }
    if (src == -2)
        return fail(a, l->stage == 'h' ? "the output projection reads the attended values in an order other than heads, then each "
                                         "head's channels"
                                       : "a projection of other than a source's channels");
    if (axis_size(l, last, 2) != in) return fail(a, "a projection whose weights do not fit its input");
    if (a->n_proj == MAX_PROJ) return fail(a, "more than six projections");
    projection *P = &a->P[a->n_proj];
    *P = (projection){W, trans, in, out, src, calloc((size_t)out, sizeof(float)), calloc((size_t)out, 1), false};
    if (!P->bias || !P->biased) {
        free(P->bias), free(P->biased);
        return kn__imp_oom(a->s);
    }
    l->nf[last] = 1;
    l->f[last][0] = (factor){'P', a->n_proj, out, 1};
    l->proj = a->n_proj++, l->lo = 0;
    l->stage = src == -1 ? 'o' : 'p';
    if (src == -1) a->out_proj = l->proj;
    if (gemm && nd->n_inputs > 2 && nd->inputs[2][0]) {
        const kn__onnx_tensor *b = kn__imp_shape_tensor(&a->sh, nd->inputs[2]);
        if (!b || !b->f || (b->numel != out && b->numel != 1)) return fail(a, "a Gemm whose C is not a bias");
        for (int64_t j = 0; j < out; j++) P->bias[j] = b->f[b->numel == 1 ? 0 : j], P->biased[j] = 1;
        P->any_bias = true;
    }
    return KN_OK;
}

/* A causal mask (0 at and below the diagonal, -1e4 or less above it), or zeros. */
static kn_status read_mask(attn *a, const kn__onnx_tensor *t, const layout *l) {
    int64_t tq = axis_size(l, l->n - 2, 2), tk = axis_size(l, l->n - 1, 2);
    if (!t->f || t->numel != tq * tk) return fail(a, "an Add to the scores of other than a (query steps, key steps) mask");
    bool masked = false, all = true;
    for (int64_t i = 0; i < tq; i++)
        for (int64_t j = 0; j < tk; j++) {
            float x = t->f[i * tk + j];
            if (j <= i ? x != 0 : x != 0 && !(x <= -1e4f)) return fail(a, "an attention mask other than the causal one");
            if (j > i) masked |= x != 0, all &= x != 0;
        }
    if (masked && !all) return fail(a, "an attention mask other than the causal one");
    a->causal |= masked;
    return KN_OK;
}

static kn_status read_add(attn *a, const kn__onnx_node *nd, const kn__onnx_tensor *b, layout *l) {
    (void)nd;
    if (l->stage == 's') return read_mask(a, b, l);
    int last = l->n - 1;
    if (l->proj < 0 || l->nf[last] != 1 || l->f[last][0].kind != 'P' || l->f[last][0].stride != 1)
        return fail(a, "an Add of a constant other than to a projection's columns (its bias) or to the scores (a mask)");
    int64_t n = l->f[last][0].size;
    if (!b->f || (b->numel != n && b->numel != 1)) return fail(a, "a bias of another size than its projection's columns");
    projection *P = &a->P[l->proj];
    for (int64_t j = 0; j < n; j++) {
        if (P->biased[l->lo + j]) return fail(a, "a projection's column biased twice");
        P->bias[l->lo + j] = b->f[b->numel == 1 ? 0 : j] / (float)l->scale;
        P->biased[l->lo + j] = 1;
    }
    P->any_bias = true;
    return KN_OK;
}

/* ------------------------------------------------------------- the core */

/* One side of the scores (the query: steps then channels; the key: channels then steps) or
 * the value: its projection, heads and channels; the leading axes must hold the batch and
 * the heads alone. */
static kn_status core_side(attn *a, const layout *l, bool key, side *out, layout *lead) {
    int ax_t = l->n - (key ? 1 : 2), ax_d = l->n - (key ? 2 : 1);
    if (l->n < 3 || l->stage != 'p' || l->nf[ax_t] != 1 || l->f[ax_t][0].kind != 'T' || l->nf[ax_d] != 1 ||
        l->f[ax_d][0].kind != 'P' || l->f[ax_d][0].stride != 1)
        return fail(a, "attention whose query, key or value is not (batch and heads, steps, channels)");
    *out = (side){l->proj, a->P[l->proj].src, l->lo, 1, l->f[ax_d][0].size, l->f[ax_t][0].size};
    *lead = *l;
    lead->n = l->n - 2;
    int n_heads = 0;
    for (int ax = 0; ax < lead->n; ax++)
        for (int j = 0; j < lead->nf[ax]; j++) {
            factor *f = &lead->f[ax][j];
            if (f->kind == 'P') {
                if (n_heads++ || f->stride != out->dim) return fail(a, "attention whose heads are not whole runs of channels");
                out->heads = f->size;
            } else if (f->kind != 'N') {
                return fail(a, "attention whose batch axes hold steps or channels");
            }
        }
    if (out->src < 0) return fail(a, "attention over the output of attention's own projection");
    return KN_OK;
}

static bool same_lead(const layout *x, const layout *y) {
    if (x->n != y->n) return false;
    for (int ax = 0; ax < x->n; ax++) {
        if (x->nf[ax] != y->nf[ax]) return false;
        for (int j = 0; j < x->nf[ax]; j++)
            if (x->f[ax][j].kind != y->f[ax][j].kind || x->f[ax][j].size != y->f[ax][j].size) return false;
    }
    return true;
}

static kn_status read_scores(attn *a, const layout *q, const layout *k, layout *l) {
    layout lq, lk;
    if (a->core_seen) return fail(a, "two products of queries and keys in one attention");
    kn_status st = core_side(a, q, false, &a->q, &lq);
    if (!st) st = core_side(a, k, true, &a->k, &lk);
    if (st) return st;
    if (!same_lead(&lq, &lk) || a->q.heads != a->k.heads || a->q.dim != a->k.dim)
        return fail(a, "attention whose queries and keys differ in heads or channels");
    a->lead = lq;
    a->core_seen = true;
    *l = lq;
    l->n = lq.n + 2;
    l->nf[l->n - 2] = l->nf[l->n - 1] = 1;
    l->f[l->n - 2][0] = q->f[q->n - 2][0];
    l->f[l->n - 1][0] = k->f[k->n - 1][0];
    l->proj = -1, l->lo = 0;
    l->scale = q->scale * k->scale;
    l->stage = 's';
    return KN_OK;
}

static kn_status read_attended(attn *a, const layout *p, const layout *v, layout *l) {
    layout lv;
    if (p->stage != 'a') return fail(a, "a product with the values of other than the softmax of the scores");
    kn_status st = core_side(a, v, false, &a->v, &lv);
    if (st) return st;
    if (!same_lead(&lv, &a->lead) || a->v.heads != a->q.heads || a->v.steps != a->k.steps)
        return fail(a, "attention whose values differ from its keys in heads or steps");
    if (v->scale != 1 || p->scale != 1) return fail(a, "a scaling of the values or of the probabilities");
    *l = *p;
    int last = l->n - 1;
    for (int ax = 0; ax < last - 1; ax++) /* the heads: now the value's (the scores carried the query's) */
        for (int j = 0; j < l->nf[ax]; j++)
            if (l->f[ax][j].kind == 'P') l->f[ax][j].idx = a->v.proj, l->f[ax][j].stride = a->v.dim;
    l->f[last][0] = v->f[v->n - 1][0];
    l->proj = v->proj, l->lo = v->lo;
    l->scale = 1;
    l->stage = 'h';
    a->attended = true;
    return KN_OK;
}

/* ------------------------------------------------------------- one node */

static kn_status read_node(attn *a, const kn__onnx_node *nd) {
    imp *s = a->s;
    layout l, r;
    const char *op = nd->op;
    int data = 0;
    if ((op_is(nd, "Mul") || op_is(nd, "Div") || op_is(nd, "Add")) && is_const(s, nd->inputs[0])) data = 1;
    kn_status st = input_layout(a, nd->inputs[data], &l);
    if (st) return st;
    if (op_is(nd, "MatMul") && !is_const(s, nd->inputs[1])) {
        if ((st = input_layout(a, nd->inputs[1], &r))) return st;
        st = l.stage == 'p' ? read_scores(a, &l, &r, &l) : read_attended(a, &l, &r, &l);
    } else if (op_is(nd, "MatMul") || op_is(nd, "Gemm")) {
        if (l.stage != 'x' && l.stage != 'h') return fail(a, "a projection of a value already projected");
        st = read_projection(a, nd, &l);
    } else if (op_is(nd, "Reshape")) {
        st = read_reshape(a, nd, &l);
    } else if (op_is(nd, "Transpose")) {
        st = read_transpose(a, nd, &l);
    } else if (op_is(nd, "Slice")) {
        st = read_slice(a, nd, &l);
    } else if (op_is(nd, "Gather")) {
        int64_t idx[8];
        int ni = 0;
        if (nd->n_inputs != 2) return fail(a, "a Gather without its indices");
        if ((st = kn__imp_shape_fixed(&a->sh, nd->inputs[1], idx, &ni))) return st;
        const kn__onnx_tensor *t = kn__imp_constant(s, nd->inputs[1]);
        if (ni != 1 || (t && t->ndim != 0)) return fail(a, "a Gather of other than one index");
        int ax = norm_axis(kn__imp_attr_int(nd, "axis", 0), l.n);
        int64_t i0 = idx[0] < 0 && ax >= 0 && ax < l.n ? idx[0] + axis_size(&l, ax, 2) : idx[0];
        st = narrow(a, &l, ax, i0, i0 + 1, true);
    } else if (op_is(nd, "Split")) {
        int ax = norm_axis(kn__imp_attr_int(nd, "axis", 0), l.n);
        int64_t parts[8];
        int np = nd->n_outputs;
        const kn__onnx_attr *sp = kn__onnx_attr_get(nd, "split");
        if (np > 8) return fail(a, "a Split into more than 8");
        if (sp && sp->kind == KN__ONNX_ATTR_INTS && sp->n == np) {
            for (int k = 0; k < np; k++) parts[k] = sp->ints[k];
        } else if (nd->n_inputs > 1 && nd->inputs[1][0]) {
            int n = 0;
            if ((st = kn__imp_shape_fixed(&a->sh, nd->inputs[1], parts, &n))) return st;
            if (n != np) return fail(a, "a Split whose sizes do not match its outputs");
        } else {
            int64_t z = ax >= 0 && ax < l.n ? axis_size(&l, ax, 2) : 0;
            if (z % np) return fail(a, "a Split into unequal parts without their sizes");
            for (int k = 0; k < np; k++) parts[k] = z / np;
        }
        int64_t at = 0;
        for (int k = 0; k < np; k++) {
            layout o = l;
            if ((st = narrow(a, &o, ax, at, at + parts[k], false))) return st;
            at += parts[k];
            if (nd->outputs[k][0] && (st = put(a, nd->outputs[k], &o))) return st;
        }
        return KN_OK;
    } else if (op_is(nd, "Squeeze") || op_is(nd, "Unsqueeze")) {
        st = read_unsqueeze(a, nd, &l, op[0] == 'S');
    } else if (op_is(nd, "Mul") || op_is(nd, "Div") || op_is(nd, "Add")) {
        const kn__onnx_tensor *c = kn__imp_shape_tensor(&a->sh, nd->inputs[1 - data]);
        if (!c || !c->f) return fail(a, "an Add, Mul or Div of a value of the graph inside attention");
        if (op[0] == 'A') {
            st = read_add(a, nd, c, &l);
        } else {
            if (c->numel != 1 || c->f[0] == 0 || !isfinite(c->f[0])) return fail(a, "a Mul or Div by other than a number");
            l.scale = op[0] == 'M' ? l.scale * c->f[0] : l.scale / c->f[0];
        }
    } else if (op_is(nd, "Softmax")) {
        int64_t ax = kn__imp_attr_int(nd, "axis", s->m->opset >= 13 ? -1 : 1);
        if (l.stage != 's' || norm_axis(ax, l.n) != l.n - 1) return fail(a, "a Softmax of other than the scores over the keys");
        a->score_scale = l.scale;
        l.scale = 1;
        l.stage = 'a';
    } else if (!(op_is(nd, "Dropout") || op_is(nd, "Identity"))) {
        return fail(a, "an op attention does not hold");
    }
    if (st) return st;
    return put(a, out0(nd), &l);
}

/* ------------------------------------------------------------- the layer */

/* Columns [lo, lo + n) of projection P's kernel as a (in, n) matrix, times scale. */
static void kernel_columns(const projection *P, int64_t lo, int64_t n, float scale, float *out) {
    for (int64_t r = 0; r < P->in; r++)
        for (int64_t c = 0; c < n; c++)
            out[r * n + c] = scale * (P->trans ? P->W->f[(lo + c) * P->in + r] : P->W->f[r * P->out + lo + c]);
}

static kn_status add_layer(attn *a, const layout *end, const char *out_name) {
    imp *s = a->s;
    int64_t H = a->q.heads, Dk = a->q.dim, Dv = a->v.dim;
    const projection *O = &a->P[a->out_proj];
    /* the scores' scale, as kiln's 1/sqrt(key_dim), the rest into the query */
    double fold = a->score_scale * sqrt((double)Dk);
    if (fabs(fold - 1) < 1e-6) fold = 1;
    /* the output: the batch, the query's steps and the output projection's columns, one each */
    char ord[IMP_ORD] = {0};
    if (end->n != 3) return fail(a, "attention whose output is not (N, L, C) in some order");
    for (int ax = 0; ax < 3; ax++) {
        const factor *f = &end->f[ax][0];
        bool ok = end->nf[ax] == 1 && (f->kind == 'N' || (f->kind == 'T' && f->idx == a->q.src) ||
                                       (f->kind == 'P' && f->idx == a->out_proj && f->stride == 1 && f->size == O->out));
        if (!ok || end->lo != 0 || end->scale != 1) return fail(a, "attention whose output is not (N, L, C) in some order");
        ord[ax] = f->kind == 'N' ? 'N' : f->kind == 'T' ? 'L' : 'C';
    }
    bool bias = a->P[a->q.proj].any_bias || a->P[a->k.proj].any_bias || a->P[a->v.proj].any_bias || O->any_bias;
    /* inputs in Keras's order: query, value, key */
    int order[3] = {a->q.src, a->v.src, a->k.src};
    kn__imp_load_value(s, kn__imp_find_value(s, a->src[a->q.src]));
    bool self = order[0] == order[1] && order[1] == order[2];
    int from[3];
    for (int k = 0; k < 3; k++) from[k] = kn__imp_find_value(s, a->src[order[k]])->layer;
    imp_layer *L = self ? kn__imp_add_layer(s, "multi_head_attention")
                        : kn__imp_add_layer_from(s, "multi_head_attention", from, order[1] == order[2] ? 2 : 3);
    if (!L) return kn__imp_oom(s);
    cJSON_AddNumberToObject(L->json, "num_heads", (double)H);
    cJSON_AddNumberToObject(L->json, "key_dim", (double)Dk);
    cJSON_AddNumberToObject(L->json, "value_dim", (double)Dv);
    cJSON_AddNumberToObject(L->json, "output_shape", (double)O->out);
    if (!bias) cJSON_AddBoolToObject(L->json, "use_bias", false);
    if (a->causal) cJSON_AddBoolToObject(L->json, "use_causal_mask", true);
    const side *sides[3] = {&a->q, &a->k, &a->v};
    static const char *const kernels[3] = {"query/kernel", "key/kernel", "value/kernel"};
    static const char *const biases[3] = {"query/bias", "key/bias", "value/bias"};
    for (int k = 0; k < 3; k++) {
        const side *sd = sides[k];
        const projection *P = &a->P[sd->proj];
        float scale = k == 0 ? (float)fold : 1.0f;
        float *w = kn__imp_add_param(L, kernels[k], P->in * H * sd->dim);
        float *b = bias ? kn__imp_add_param(L, biases[k], H * sd->dim) : NULL;
        if (!w || (bias && !b)) return kn__imp_oom(s);
        kernel_columns(P, sd->lo, H * sd->dim, scale, w);
        for (int64_t j = 0; b && j < H * sd->dim; j++) b[j] = scale * P->bias[sd->lo + j];
    }
    float *w = kn__imp_add_param(L, "attention_output/kernel", O->in * O->out);
    float *b = bias ? kn__imp_add_param(L, "attention_output/bias", O->out) : NULL;
    if (!w || (bias && !b)) return kn__imp_oom(s);
    if (O->in != H * Dv) return fail(a, "an output projection of another width than the attended values");
    kernel_columns(O, 0, O->out, 1.0f, w);
    if (b) memcpy(b, O->bias, (size_t)O->out * sizeof *b);
    /* the output value */
    s->seq = true, s->ids = false, s->image = false, s->perm = false, s->nhwc = false, s->ambiguous = false;
    s->nonneg = false, s->half = 0, s->units = 0;
    memcpy(s->ord, ord, sizeof s->ord);
    s->l = a->q.steps, s->c = O->out, s->d = 1;
    s->excl = true;
    return kn__imp_add_value(s, out_name);
}

/* The dimensions of a value of the region (shape arithmetic's dims_of). */
static bool region_dims(void *ctx, const char *name, int64_t batch, int64_t *dims, int *n) {
    const rvalue *r = find_rvalue(ctx, name);
    if (!r) return false;
    for (*n = 0; *n < r->l.n; (*n)++) dims[*n] = axis_size(&r->l, *n, batch);
    return true;
}

kn_status kn__imp_read_attention(imp *s, int region) {
    if (s->attn_dot && s->attn_dot[region].found) return kn__imp_read_dot_attention(s, &s->attn_dot[region]);
    attn a = {.s = s, .out_proj = -1};
    a.sh = (kn__imp_shapes){.s = s, .dims_of = region_dims, .ctx = &a};
    kn_status st = KN_OK;
    int end = s->attn_end[region];
    for (int i = 0; i <= end && !st; i++) {
        if (s->attn_region[i] != region) continue;
        s->node = &s->m->nodes[i], s->node_index = i;
        st = read_node(&a, s->node);
    }
    const rvalue *r = st ? NULL : find_rvalue(&a, out0(&s->m->nodes[end]));
    if (!st && (!r || !a.core_seen || !a.attended || a.out_proj < 0 || r->l.stage != 'o'))
        st = fail(&a, "attention kiln could not follow from its projections to its output");
    if (!st) st = add_layer(&a, &r->l, out0(&s->m->nodes[end]));
    for (int k = 0; k < a.n_proj; k++) free(a.P[k].bias), free(a.P[k].biased);
    kn__imp_shapes_free(&a.sh);
    free(a.vals);
    return st;
}
