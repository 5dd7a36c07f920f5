/* onnx_import_quant.c — quantized ONNX models (onnxruntime.quantization's three forms) read as
 * the float models they quantize: a pass over the parsed graph, before the walk, rewrites each
 * quantized op to its float op over dequantized constants, so the readers of onnx_import*.c
 * then see a float model. kiln serves the result in f32, or in its own int8 (--int8, kiln
 * convert --to int8), whose per-column symmetric weights are ORT's when ORT's were
 * per-channel symmetric (its default for int8 weights).
 *
 *   QDQ (quantize_static's default)   DequantizeLinear of a constant: the float constant
 *                                     (x - zero_point) scale, per tensor or along `axis`;
 *                                     QuantizeLinear and DequantizeLinear of a value: nothing
 *   QOperator (QuantFormat.QOperator) QLinearConv, QLinearMatMul, QGemm: Conv, MatMul, Gemm
 *                                     of the dequantized weights (an int32 bias times x_scale
 *                                     w_scale); QLinearAdd, QLinearMul, QLinearConcat,
 *                                     QLinearGlobalAveragePool, QLinearAveragePool,
 *                                     QLinearSigmoid, QLinearLeakyRelu: their float ops
 *   quantize_dynamic                  DynamicQuantizeLinear, MatMulInteger or ConvInteger,
 *                                     Cast, Mul by (x_scale w_scale): MatMul or Conv of the
 *                                     weights dequantized with w_scale; MatMulIntegerToFloat
 *                                     and DynamicQuantizeMatMul likewise; a Gather of an int8
 *                                     table then DequantizeLinear: a Gather of the float table
 *
 * What the rewrite does not keep: the rounding of activations to their 8-bit grid (kiln
 * computes them in f32, so it gives the float model's outputs, which ORT's approximate to
 * within that rounding), and the clipping of an activation at its calibrated range, except at
 * 0: a value quantized with zero_point the type's lowest (uint8 0, int8 -128) holds nothing
 * below 0, which is how onnxruntime's quantizer fuses a Relu away, so kiln puts a Relu there
 * (unless the value is already a Relu's, Sigmoid's, ... or a pool of one). Quantized ops
 * other than these are refused naming the node. The pass does nothing to a graph without a
 * quantized op. */
#include "io/onnx_import.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* What the pass does to the nodes, applied when it ends (kn__imp_dequantize's rebuild). */
typedef struct {
    imp *s;
    kn__onnx_model *m;
    unsigned char *dead;   /* per node: dropped */
    unsigned char *relu;   /* per node: a Relu after it (its output renamed, the Relu making the old name) */
    char (*bias)[KN__ONNX_NAME]; /* per node: an Add of this constant after it ("" none) */
    int made;              /* initializers added (their names) */
    int cap_inits;         /* room reserved in m->inits: pointers to constants stay valid */
    char (*dyn)[KN__ONNX_NAME]; /* a DynamicQuantizeLinear's scale and zero point outputs */
    int n_dyn;
    char (*scale)[KN__ONNX_NAME]; /* per node: the scale its input 0 was quantized with (a quantizer bypassed) */
} qpass;

static bool op_is(const kn__onnx_node *nd, const char *op) { return strcmp(nd->op, op) == 0; }

static int64_t type_min(int type) {
    return type == KN__ONNX_INT8 ? -128 : type == KN__ONNX_INT16 ? -32768 : type == KN__ONNX_INT32 ? INT32_MIN : 0;
}
static int64_t type_max(int type) {
    return type == KN__ONNX_INT8 ? 127 : type == KN__ONNX_INT16 ? 32767 : type == KN__ONNX_UINT16 ? 65535
                                         : type == KN__ONNX_INT32 ? INT32_MAX : 255;
}

static kn_status fail(qpass *q, const char *why, const char *detail) {
    return kn__imp_fail(q->s, KN_ERR_UNSUPPORTED, why, detail);
}

/* Input k of node nd as a constant (NULL when absent or not one). */
static const kn__onnx_tensor *const_in(qpass *q, const kn__onnx_node *nd, int k) {
    return k < nd->n_inputs && nd->inputs[k][0] ? kn__imp_constant(q->s, nd->inputs[k]) : NULL;
}

/* The node still in the graph making value `name`, or -1. */
static int making(const qpass *q, const char *name) {
    for (int i = 0; name[0] && i < q->m->n_nodes; i++)
        for (int k = 0; !q->dead[i] && k < q->m->nodes[i].n_outputs; k++)
            if (strcmp(q->m->nodes[i].outputs[k], name) == 0) return i;
    return -1;
}

/* The number of nodes still in the graph reading value `name`. */
static int live_readers(const qpass *q, const char *name) {
    int n = 0;
    for (int i = 0; i < q->m->n_nodes; i++)
        for (int k = 0; !q->dead[i] && k < q->m->nodes[i].n_inputs; k++) n += strcmp(q->m->nodes[i].inputs[k], name) == 0;
    return n;
}

/* The one live node reading `name` (its index), or -1. */
static int sole_reader(const qpass *q, const char *name) {
    int at = -1;
    for (int i = 0; i < q->m->n_nodes; i++)
        for (int k = 0; !q->dead[i] && k < q->m->nodes[i].n_inputs; k++)
            if (strcmp(q->m->nodes[i].inputs[k], name) == 0) {
                if (at >= 0) return -1;
                at = i;
            }
    return at;
}

static bool graph_output(const qpass *q, const char *name) {
    for (int i = 0; i < q->m->n_outputs; i++)
        if (strcmp(q->m->outputs[i].name, name) == 0) return true;
    return false;
}

static bool is_dyn(const qpass *q, const char *name) {
    for (int i = 0; i < q->n_dyn; i++)
        if (strcmp(q->dyn[i], name) == 0) return true;
    return false;
}

/* Whether value `name` holds nothing below 0: made by a Relu (or one the pass adds), Sigmoid,
 * Softmax, ..., or by a pool, reshape or copy of such values. */
static bool nonneg(const qpass *q, const char *name, int depth) {
    if (depth > 64) return false;
    int i = making(q, name);
    if (i < 0) return false;
    const kn__onnx_node *nd = &q->m->nodes[i];
    if (q->relu[i]) return true;
    static const char *const makes[] = {"Relu", "Sigmoid", "Softmax", "HardSigmoid", "Softplus", "Exp"};
    for (size_t k = 0; k < sizeof makes / sizeof *makes; k++)
        if (op_is(nd, makes[k])) return true;
    if (op_is(nd, "Clip")) {
        const kn__onnx_tensor *lo = nd->n_inputs > 1 && nd->inputs[1][0] ? kn__imp_constant(q->s, nd->inputs[1]) : NULL;
        return (lo && lo->f && lo->numel == 1 && lo->f[0] >= 0) || kn__imp_attr_float(nd, "min", -1) >= 0;
    }
    static const char *const keeps[] = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Reshape", "Flatten",
                                        "Identity", "Transpose", "Squeeze", "Unsqueeze", "Dropout", "Resize", "Upsample",
                                        "QuantizeLinear", "DequantizeLinear", "QLinearAveragePool", "QLinearGlobalAveragePool"};
    for (size_t k = 0; k < sizeof keeps / sizeof *keeps; k++)
        if (op_is(nd, keeps[k])) return nd->n_inputs > 0 && nonneg(q, nd->inputs[0], depth + 1);
    /* x + c or x c (constants c >= 0) of x >= 0; 1 + x and more of x in [-1, 1] (an Erf's or a
     * Tanh's: GELU's 1 + erf); the sum or product of two values >= 0 */
    if ((op_is(nd, "Add") || op_is(nd, "Mul")) && nd->n_inputs == 2) {
        const kn__onnx_tensor *c0 = kn__imp_constant(q->s, nd->inputs[0]), *c1 = kn__imp_constant(q->s, nd->inputs[1]);
        if (!c0 && !c1) return nonneg(q, nd->inputs[0], depth + 1) && nonneg(q, nd->inputs[1], depth + 1);
        const kn__onnx_tensor *c = c0 ? c0 : c1;
        const char *x = nd->inputs[c0 ? 1 : 0];
        if ((c0 && c1) || !c->f) return false;
        int p = making(q, x);
        bool unit = op_is(nd, "Add") && p >= 0 && (op_is(&q->m->nodes[p], "Erf") || op_is(&q->m->nodes[p], "Tanh"));
        for (int64_t j = 0; j < c->numel; j++)
            if (c->f[j] < (unit ? 1.0f : 0.0f)) return false;
        return unit || nonneg(q, x, depth + 1);
    }
    if (op_is(nd, "Concat") || op_is(nd, "QLinearConcat")) {
        for (int k = op_is(nd, "Concat") ? 0 : 2; k < nd->n_inputs; k += op_is(nd, "Concat") ? 1 : 3)
            if (!nonneg(q, nd->inputs[k], depth + 1)) return false;
        return nd->n_inputs > 0;
    }
    return false;
}

/* A new initializer `name` ("" gives it one, written back) of dims, without data; NULL when
 * out of the room reserved. */
static kn__onnx_tensor *new_tensor(qpass *q, char *name, size_t name_size, const int64_t *dims, int ndim) {
    if (q->m->n_inits >= q->cap_inits) return NULL;
    kn__onnx_tensor *t = &q->m->inits[q->m->n_inits++];
    memset(t, 0, sizeof *t);
    if (!name[0]) snprintf(name, name_size, "kiln/dequantized/%d", q->made);
    q->made++;
    snprintf(t->name, sizeof t->name, "%s", name);
    memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
    t->ndim = ndim;
    t->numel = 1;
    for (int k = 0; k < ndim; k++) t->numel *= dims[k];
    return t;
}

/* The same, of floats the caller fills; NULL when out of room or memory. */
static float *new_const(qpass *q, char *name, size_t name_size, const int64_t *dims, int ndim) {
    kn__onnx_tensor *t = new_tensor(q, name, name_size, dims, ndim);
    if (!t) return NULL;
    t->data_type = KN__ONNX_FLOAT;
    t->f = malloc((size_t)(t->numel > 0 ? t->numel : 1) * sizeof *t->f);
    return t->f;
}

/* The float constant (x - zero_point) scale of integer tensor x, scale and zero_point (NULL:
 * 0) one value or one per index of x's `axis`, into a new initializer named `name` ("" gives
 * one a name, written back); extra (NULL, or as scale) multiplies the scale. */
static kn_status dequantize_const(qpass *q, const kn__onnx_tensor *x, const kn__onnx_tensor *scale,
                                  const kn__onnx_tensor *zp, int64_t axis, const kn__onnx_tensor *extra, char *name,
                                  size_t name_size) {
    if (!x->i) return fail(q, "the quantized tensor must be an integer constant", NULL);
    if (!scale || !scale->f || scale->numel < 1) return fail(q, "the scale must be a float constant", NULL);
    if (zp && (!zp->i || (zp->numel != scale->numel && zp->numel != 1)))
        return fail(q, "the zero point must be an integer constant shaped as the scale", NULL);
    if (extra && extra->numel != 1 && extra->numel != scale->numel) return fail(q, "scales of different lengths", NULL);
    int64_t per = scale->numel, inner = 1;
    if (per > 1) {
        if (axis < 0) axis += x->ndim;
        if (axis < 0 || axis >= x->ndim || x->dims[axis] != per) {
            char d[96];
            snprintf(d, sizeof d, " (%lld scales; the tensor's axis %lld does not have that many)", (long long)per, (long long)axis);
            return kn__imp_fail(q->s, KN_ERR_SHAPE, "per-axis scales do not fit the tensor", d);
        }
        for (int k = (int)axis + 1; k < x->ndim; k++) inner *= x->dims[k];
    }
    float *f = new_const(q, name, name_size, x->dims, x->ndim);
    if (!f) return kn__imp_oom(q->s);
    for (int64_t k = 0; k < x->numel; k++) {
        int64_t c = per > 1 ? (k / inner) % per : 0;
        float s = scale->f[c] * (extra ? extra->f[extra->numel > 1 ? c : 0] : 1.0f);
        f[k] = (float)(x->i[k] - (zp ? zp->i[zp->numel > 1 ? c : 0] : 0)) * s;
    }
    return KN_OK;
}

/* Whether every zero point of zp (NULL: 0 of uint8) is its type's lowest: the value it
 * quantizes holds nothing below 0. */
static bool floor_zero(const kn__onnx_tensor *zp) {
    if (!zp) return true;
    if (!zp->i) return false;
    for (int64_t k = 0; k < zp->numel; k++)
        if (zp->i[k] != type_min(zp->data_type)) return false;
    return true;
}

/* Node nd's op and inputs become op (inputs given, at most as many as it had). */
static void rewrite(kn__onnx_node *nd, const char *op, const char *const *inputs, int n) {
    char tmp[8][KN__ONNX_NAME];
    if (n > 8) n = 8; /* (callers give at most 8) */
    for (int k = 0; k < n; k++) snprintf(tmp[k], sizeof tmp[k], "%s", inputs[k]);
    for (int k = 0; k < n; k++) memcpy(nd->inputs[k], tmp[k], sizeof tmp[k]);
    nd->n_inputs = n;
    snprintf(nd->op, sizeof nd->op, "%s", op);
    nd->domain[0] = 0;
}

/* Node i, a quantizer or dequantizer of a value, dropped: the nodes after it read its input
 * instead of its output, so the float graph's patterns (a GELU or layer norm spelled in
 * nodes, attention) read as they do unquantized; each reader's input 0 remembers the scale
 * (`scale`, "" none) it was quantized with. A graph output stays made by an Identity. */
static void bypass(qpass *q, int i, const char *scale) {
    kn__onnx_node *nd = &q->m->nodes[i];
    char from[KN__ONNX_NAME], to[KN__ONNX_NAME];
    snprintf(from, sizeof from, "%s", nd->outputs[0]);
    snprintf(to, sizeof to, "%s", nd->inputs[0]);
    if (graph_output(q, from)) {
        const char *in[1] = {to};
        rewrite(nd, "Identity", in, 1);
        return;
    }
    q->dead[i] = 1;
    for (int j = i + 1; j < q->m->n_nodes; j++)
        for (int k = 0; k < q->m->nodes[j].n_inputs; k++)
            if (strcmp(q->m->nodes[j].inputs[k], from) == 0) {
                snprintf(q->m->nodes[j].inputs[k], KN__ONNX_NAME, "%s", to);
                if (k == 0) snprintf(q->scale[j], KN__ONNX_NAME, "%s", scale);
            }
}

/* A requantizing op's output quantized with zero point zp (input k): a Relu after it when
 * that holds nothing below 0 and its input may (inputs: the float values it reads). */
static void relu_if_floored(qpass *q, int i, int k, const char *const *inputs, int n) {
    const kn__onnx_node *nd = &q->m->nodes[i];
    if (k >= nd->n_inputs || !nd->inputs[k][0]) return; /* (no zero point: float output, or uint8's 0) */
    const kn__onnx_tensor *zp = const_in(q, nd, k);
    if (!zp || !floor_zero(zp)) return;
    for (int j = 0; j < n; j++)
        if (!nonneg(q, inputs[j], 0)) {
            q->relu[i] = 1;
            return;
        }
}

/* DequantizeLinear: of a constant, that constant in float; of a Gather of an int8 table, the
 * Gather of the float table; of a value, Identity. */
static kn_status read_dequantize(qpass *q, int i) {
    kn__onnx_node *nd = &q->m->nodes[i];
    if (kn__imp_attr_int(nd, "block_size", 0)) return fail(q, "blocked quantization (block_size)", NULL);
    const kn__onnx_tensor *x = const_in(q, nd, 0), *scale = const_in(q, nd, 1), *zp = const_in(q, nd, 2);
    if (nd->n_inputs < 2 || nd->n_outputs < 1) return kn__imp_fail(q->s, KN_ERR_FORMAT, "too few inputs or outputs", NULL);
    if (x) { /* weights */
        char name[KN__ONNX_NAME];
        snprintf(name, sizeof name, "%s", nd->outputs[0]);
        q->dead[i] = 1;
        return dequantize_const(q, x, scale, zp, kn__imp_attr_int(nd, "axis", 1), NULL, name, sizeof name);
    }
    if (!scale || !scale->f) return fail(q, "the scale must be a float constant", NULL);
    int g = making(q, nd->inputs[0]);
    kn__onnx_node *gather = g >= 0 && op_is(&q->m->nodes[g], "Gather") ? &q->m->nodes[g] : NULL;
    const kn__onnx_tensor *table = gather ? const_in(q, gather, 0) : NULL;
    if (table && table->i) { /* quantize_dynamic's embedding: the table dequantized, then gathered */
        if (scale->numel != 1 || kn__imp_attr_int(gather, "axis", 0) != 0)
            return fail(q, "a Gather of a quantized table dequantized other than per tensor along axis 0", NULL);
        char name[KN__ONNX_NAME] = "";
        kn_status st = dequantize_const(q, table, scale, zp, 0, NULL, name, sizeof name);
        if (st) return st;
        snprintf(gather->inputs[0], KN__ONNX_NAME, "%s", name);
    }
    bypass(q, i, "");
    return KN_OK;
}

/* QuantizeLinear of a value: Identity, or a Relu when the zero point floors it at 0; of a
 * constant (a weight quantized in the file's graph), the integer constant. */
static kn_status read_quantize(qpass *q, int i) {
    kn__onnx_node *nd = &q->m->nodes[i];
    const kn__onnx_tensor *x = const_in(q, nd, 0), *scale = const_in(q, nd, 1), *zp = const_in(q, nd, 2);
    if (nd->n_inputs < 2 || nd->n_outputs < 1) return kn__imp_fail(q->s, KN_ERR_FORMAT, "too few inputs or outputs", NULL);
    if (!scale || !scale->f) return fail(q, "the scale must be a float constant", NULL);
    if (zp && !zp->i) return fail(q, "the zero point must be an integer constant", NULL);
    if (x) { /* a float constant quantized, then (DequantizeLinear) dequantized: kept in float, rounded as ORT would */
        if (!x->f) return fail(q, "the quantized constant must be float", NULL);
        if (scale->numel != 1) return fail(q, "a constant quantized other than per tensor", NULL);
        char name[KN__ONNX_NAME];
        snprintf(name, sizeof name, "%s", nd->outputs[0]);
        int type = zp ? zp->data_type : KN__ONNX_UINT8;
        kn__onnx_tensor *t = new_tensor(q, name, sizeof name, x->dims, x->ndim);
        if (t) t->data_type = type, t->i = malloc((size_t)(x->numel > 0 ? x->numel : 1) * sizeof *t->i);
        if (!t || !t->i) return kn__imp_oom(q->s);
        for (int64_t k = 0; k < x->numel; k++) {
            double v = nearbyint((double)x->f[k] / scale->f[0]) + (double)(zp ? zp->i[0] : 0);
            t->i[k] = (int64_t)fmin(fmax(v, (double)type_min(type)), (double)type_max(type));
        }
        q->dead[i] = 1;
        return KN_OK;
    }
    if (floor_zero(zp) && !nonneg(q, nd->inputs[0], 0)) { /* (the Relu it stands for) */
        const char *in[1] = {nd->inputs[0]};
        rewrite(nd, "Relu", in, 1);
        return KN_OK;
    }
    bypass(q, i, nd->inputs[1]);
    return KN_OK;
}

/* The value a quantized op reads at input k: a value of the graph as it is, or a constant
 * dequantized with the scale and zero point at inputs k + 1, k + 2 (into name). */
static kn_status operand(qpass *q, const kn__onnx_node *nd, int k, char *name, size_t size) {
    const kn__onnx_tensor *x = const_in(q, nd, k);
    snprintf(name, size, "%s", x ? "" : nd->inputs[k]);
    if (!x) return KN_OK;
    if (x->f) return snprintf(name, size, "%s", nd->inputs[k]), KN_OK; /* (already float) */
    return dequantize_const(q, x, const_in(q, nd, k + 1), const_in(q, nd, k + 2), 1, NULL, name, size);
}

/* QLinearConv (x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B): Conv (x, w in float, B
 * x_scale w_scale), its attributes as they are. */
static kn_status read_qlinear_conv(qpass *q, int i) {
    kn__onnx_node *nd = &q->m->nodes[i];
    if (nd->n_inputs < 8) return kn__imp_fail(q->s, KN_ERR_FORMAT, "QLinearConv has 8 or 9 inputs", NULL);
    const kn__onnx_tensor *w = const_in(q, nd, 3), *xs = const_in(q, nd, 1), *ws = const_in(q, nd, 4), *b = const_in(q, nd, 8);
    if (!w || !w->i) return fail(q, "the weights (input 3) must be an integer constant", NULL);
    if (!xs || !xs->f || xs->numel != 1) return fail(q, "x_scale must be one float constant", NULL);
    char wname[KN__ONNX_NAME] = "", bname[KN__ONNX_NAME] = "";
    kn_status st = dequantize_const(q, w, ws, const_in(q, nd, 5), 0, NULL, wname, sizeof wname);
    if (st) return st;
    if (nd->n_inputs > 8 && nd->inputs[8][0]) {
        if (!b || !b->i || b->numel != w->dims[0]) return fail(q, "the bias must be an int32 constant of one value per filter", NULL);
        /* (its scale: w_scale, per filter or one, times x_scale) */
        if ((st = dequantize_const(q, b, ws, NULL, 0, xs, bname, sizeof bname))) return st;
    }
    const char *x = nd->inputs[0];
    relu_if_floored(q, i, 7, &x, 1);
    const char *in[3] = {nd->inputs[0], wname, bname};
    rewrite(nd, "Conv", in, bname[0] ? 3 : 2);
    return KN_OK;
}

/* QLinearMatMul (a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp), b the constant weights:
 * MatMul (a, b in float). */
static kn_status read_qlinear_matmul(qpass *q, int i) {
    kn__onnx_node *nd = &q->m->nodes[i];
    if (nd->n_inputs < 8) return kn__imp_fail(q->s, KN_ERR_FORMAT, "QLinearMatMul has 8 inputs", NULL);
    const kn__onnx_tensor *b = const_in(q, nd, 3);
    if (!b || !b->i) return fail(q, "kiln reads a QLinearMatMul whose b (input 3) is the constant weights", NULL);
    char wname[KN__ONNX_NAME] = "";
    kn_status st = dequantize_const(q, b, const_in(q, nd, 4), const_in(q, nd, 5), -1, NULL, wname, sizeof wname);
    if (st) return st;
    const char *a = nd->inputs[0];
    relu_if_floored(q, i, 7, &a, 1);
    const char *in[2] = {nd->inputs[0], wname};
    rewrite(nd, "MatMul", in, 2);
    return KN_OK;
}

/* QGemm (com.microsoft: A, a_scale, a_zp, B, b_scale, b_zp, C, y_scale, y_zp): Gemm (A, B in
 * float, C a_scale b_scale), alpha and transB as they are. */
static kn_status read_qgemm(qpass *q, int i) {
    kn__onnx_node *nd = &q->m->nodes[i];
    if (nd->n_inputs < 6) return kn__imp_fail(q->s, KN_ERR_FORMAT, "QGemm has 6 to 9 inputs", NULL);
    const kn__onnx_tensor *B = const_in(q, nd, 3), *as = const_in(q, nd, 1), *bs = const_in(q, nd, 4), *C = const_in(q, nd, 6);
    if (!B || !B->i || B->ndim != 2) return fail(q, "B (input 3) must be a 2-D integer constant (the weights)", NULL);
    if (!as || !as->f || as->numel != 1) return fail(q, "a_scale must be one float constant", NULL);
    bool transB = kn__imp_attr_int(nd, "transB", 0) != 0;
    char wname[KN__ONNX_NAME] = "", cname[KN__ONNX_NAME] = "";
    kn_status st = dequantize_const(q, B, bs, const_in(q, nd, 5), transB ? 0 : 1, NULL, wname, sizeof wname);
    if (st) return st;
    if (nd->n_inputs > 6 && nd->inputs[6][0]) {
        if (!C || (!C->i && !C->f)) return fail(q, "C must be a constant", NULL);
        if (C->f) snprintf(cname, sizeof cname, "%s", nd->inputs[6]);
        else if ((st = dequantize_const(q, C, bs, NULL, 0, as, cname, sizeof cname))) /* (scale a_scale b_scale) */
            return st;
    }
    const char *a = nd->inputs[0];
    if (nd->n_inputs > 8) relu_if_floored(q, i, 8, &a, 1);
    const char *in[3] = {nd->inputs[0], wname, cname};
    rewrite(nd, "Gemm", in, cname[0] ? 3 : 2);
    return KN_OK;
}

/* The element-wise QLinear ops of com.microsoft: their float op over the values read (each
 * input a value, or a constant dequantized with its scale and zero point). */
static kn_status read_qlinear_elementwise(qpass *q, int i, const char *op) {
    kn__onnx_node *nd = &q->m->nodes[i];
    char a[KN__ONNX_NAME], b[KN__ONNX_NAME];
    kn_status st;
    if (strcmp(op, "Add") == 0 || strcmp(op, "Mul") == 0) { /* (A, A_s, A_zp, B, B_s, B_zp, C_s, C_zp) */
        if (nd->n_inputs < 7) return kn__imp_fail(q->s, KN_ERR_FORMAT, "too few inputs", NULL);
        if ((st = operand(q, nd, 0, a, sizeof a)) || (st = operand(q, nd, 3, b, sizeof b))) return st;
        const char *in[2] = {a, b};
        relu_if_floored(q, i, 7, in, 2);
        rewrite(nd, op, in, 2);
        return KN_OK;
    }
    /* (X, X_s, X_zp, Y_s, Y_zp): pools and activations */
    if (nd->n_inputs < 4) return kn__imp_fail(q->s, KN_ERR_FORMAT, "too few inputs", NULL);
    if (kn__imp_attr_int(nd, "channels_last", 0)) return fail(q, "channels_last = 1", NULL);
    const char *in[1] = {nd->inputs[0]};
    if (strcmp(op, "Sigmoid") != 0) relu_if_floored(q, i, 4, in, 1);
    rewrite(nd, op, in, 1);
    return KN_OK;
}

/* QLinearConcat (Y_s, Y_zp, then (X, X_s, X_zp) per input): Concat of the inputs. */
static kn_status read_qlinear_concat(qpass *q, int i) {
    kn__onnx_node *nd = &q->m->nodes[i];
    int n = (nd->n_inputs - 2) / 3;
    if (nd->n_inputs < 5 || (nd->n_inputs - 2) % 3 || n > 8) return fail(q, "a QLinearConcat of other than 1 to 8 inputs", NULL);
    char names[8][KN__ONNX_NAME];
    const char *in[8] = {NULL};
    for (int k = 0; k < n; k++) {
        kn_status st = operand(q, nd, 2 + 3 * k, names[k], sizeof names[k]);
        if (st) return st;
        in[k] = names[k];
    }
    relu_if_floored(q, i, 1, in, n);
    rewrite(nd, "Concat", in, n);
    return KN_OK;
}

/* The scale of a dynamic chain's output: Cast (to float) of the integer product, Mul by S,
 * where S = Mul (the input's dynamic scale, w_scale) or a constant x_scale w_scale when the
 * input was quantized with a constant scale a_scale. w_scale into *ws (owned by the graph or
 * a new initializer); the chain's last node into *last; the nodes it drops marked. */
static kn_status dynamic_chain(qpass *q, int i, const char *a_scale, const kn__onnx_tensor **ws, int *last) {
    const kn__onnx_node *nd = &q->m->nodes[i];
    int c = sole_reader(q, nd->outputs[0]);
    const kn__onnx_node *cast = c >= 0 ? &q->m->nodes[c] : NULL;
    if (!cast || !op_is(cast, "Cast") || kn__imp_attr_int(cast, "to", 0) != KN__ONNX_FLOAT)
        return fail(q, "kiln reads an integer product only as quantize_dynamic writes it: a Cast to float, then a Mul by the "
                       "scales", NULL);
    int mi = sole_reader(q, cast->outputs[0]);
    const kn__onnx_node *mul = mi >= 0 ? &q->m->nodes[mi] : NULL;
    if (!mul || !op_is(mul, "Mul") || mul->n_inputs != 2) return fail(q, "the Cast to float is not followed by a Mul by the scales", NULL);
    const char *S = strcmp(mul->inputs[0], cast->outputs[0]) == 0 ? mul->inputs[1] : mul->inputs[0];
    const kn__onnx_tensor *sc = kn__imp_constant(q->s, S);
    int si = sc ? -1 : making(q, S);
    const kn__onnx_node *smul = si >= 0 ? &q->m->nodes[si] : NULL;
    *ws = NULL;
    if (smul && op_is(smul, "Mul") && smul->n_inputs == 2) {
        for (int k = 0; k < 2 && !*ws; k++)
            if (strcmp(smul->inputs[k], a_scale) == 0) *ws = kn__imp_constant(q->s, smul->inputs[1 - k]);
    } else if (sc && sc->f) {
        const kn__onnx_tensor *as = kn__imp_constant(q->s, a_scale);
        if (!as || !as->f || as->numel != 1 || as->f[0] == 0) return fail(q, "the input's scale is neither dynamic nor a constant", NULL);
        char name[KN__ONNX_NAME] = "";
        float *f = new_const(q, name, sizeof name, sc->dims, sc->ndim);
        if (!f) return kn__imp_oom(q->s);
        for (int64_t k = 0; k < sc->numel; k++) f[k] = sc->f[k] / as->f[0];
        *ws = &q->m->inits[q->m->n_inits - 1];
    }
    if (!*ws || !(*ws)->f) return fail(q, "the Mul after the Cast is not by the input's scale times constant weight scales", NULL);
    q->dead[c] = 1;
    q->dead[mi] = 1;
    if (smul && live_readers(q, S) == 0 && !graph_output(q, S)) q->dead[si] = 1;
    *last = mi;
    return KN_OK;
}

/* MatMulInteger (a, b, a_zp, b_zp) or ConvInteger (x, w, x_zp, w_zp) then Cast and Mul by the
 * scales: MatMul or Conv of the weights (b - b_zp) w_scale, making the Mul's output. */
static kn_status read_integer_product(qpass *q, int i, bool conv) {
    kn__onnx_node *nd = &q->m->nodes[i];
    const kn__onnx_tensor *w = const_in(q, nd, 1);
    if (nd->n_inputs < 2 || !w || !w->i) return fail(q, "kiln reads an integer product whose second input is the constant weights", NULL);
    const char *a_scale = q->scale[i]; /* (the quantizer's, bypassed) */
    const kn__onnx_tensor *ws = NULL;
    int last = -1;
    kn_status st = dynamic_chain(q, i, a_scale, &ws, &last);
    if (st) return st;
    char wname[KN__ONNX_NAME] = "";
    if ((st = dequantize_const(q, w, ws, const_in(q, nd, 3), conv ? 0 : -1, NULL, wname, sizeof wname))) return st;
    snprintf(nd->outputs[0], KN__ONNX_NAME, "%s", q->m->nodes[last].outputs[0]);
    const char *in[2] = {nd->inputs[0], wname};
    rewrite(nd, conv ? "Conv" : "MatMul", in, 2);
    return KN_OK;
}

/* MatMulIntegerToFloat (A, B, a_scale, b_scale, a_zp, b_zp, bias) and DynamicQuantizeMatMul
 * (A, B, b_scale, b_zp, bias), com.microsoft's: MatMul of B dequantized, then an Add of the bias. */
static kn_status read_matmul_to_float(qpass *q, int i, bool dynamic) {
    kn__onnx_node *nd = &q->m->nodes[i];
    int bs = dynamic ? 2 : 3, bz = dynamic ? 3 : 5, bias = dynamic ? 4 : 6;
    const kn__onnx_tensor *B = const_in(q, nd, 1);
    if (nd->n_inputs <= bs || !B || !B->i) return fail(q, "B (input 1) must be an integer constant (the weights)", NULL);
    char wname[KN__ONNX_NAME] = "";
    kn_status st = dequantize_const(q, B, const_in(q, nd, bs), const_in(q, nd, bz), -1, NULL, wname, sizeof wname);
    if (st) return st;
    if (nd->n_inputs > bias && nd->inputs[bias][0]) {
        const kn__onnx_tensor *b = const_in(q, nd, bias);
        if (!b || !b->f) return fail(q, "the bias must be a float constant", NULL);
        snprintf(q->bias[i], KN__ONNX_NAME, "%s", nd->inputs[bias]);
    }
    const char *in[2] = {nd->inputs[0], wname};
    rewrite(nd, "MatMul", in, 2);
    return KN_OK;
}

/* Rewrites node i when it is a quantized op (*quant), else leaves it. */
static kn_status read_node(qpass *q, int i) {
    kn__onnx_node *nd = &q->m->nodes[i];
    const char *op = nd->op;
    bool ms = strcmp(nd->domain, "com.microsoft") == 0, std = !nd->domain[0] || strcmp(nd->domain, "ai.onnx") == 0;
    if (std && strcmp(op, "DequantizeLinear") == 0) return read_dequantize(q, i);
    if ((std || ms) && strcmp(op, "QuantizeLinear") == 0) return read_quantize(q, i);
    if (std && strcmp(op, "DynamicQuantizeLinear") == 0) {
        if (nd->n_inputs != 1 || nd->n_outputs != 3) return kn__imp_fail(q->s, KN_ERR_FORMAT, "DynamicQuantizeLinear has 1 input and 3 outputs", NULL);
        for (int k = 1; k < 3; k++) snprintf(q->dyn[q->n_dyn++], KN__ONNX_NAME, "%s", nd->outputs[k]);
        char scale[KN__ONNX_NAME];
        snprintf(scale, sizeof scale, "%s", nd->outputs[1]);
        nd->n_outputs = 1;
        bypass(q, i, scale);
        return KN_OK;
    }
    if (std && strcmp(op, "QLinearConv") == 0) return read_qlinear_conv(q, i);
    if (std && strcmp(op, "QLinearMatMul") == 0) return read_qlinear_matmul(q, i);
    if (std && strcmp(op, "MatMulInteger") == 0) return read_integer_product(q, i, false);
    if (std && strcmp(op, "ConvInteger") == 0) return read_integer_product(q, i, true);
    if (ms && strcmp(op, "QGemm") == 0) return read_qgemm(q, i);
    if (ms && strcmp(op, "MatMulIntegerToFloat") == 0) return read_matmul_to_float(q, i, false);
    if (ms && strcmp(op, "DynamicQuantizeMatMul") == 0) return read_matmul_to_float(q, i, true);
    if (ms && strcmp(op, "QLinearConcat") == 0) return read_qlinear_concat(q, i);
    static const char *const ew[][2] = {{"QLinearAdd", "Add"}, {"QLinearMul", "Mul"}, {"QLinearGlobalAveragePool", "GlobalAveragePool"},
                                        {"QLinearAveragePool", "AveragePool"}, {"QLinearSigmoid", "Sigmoid"},
                                        {"QLinearLeakyRelu", "LeakyRelu"}};
    for (size_t k = 0; ms && k < sizeof ew / sizeof *ew; k++)
        if (strcmp(op, ew[k][0]) == 0) return read_qlinear_elementwise(q, i, ew[k][1]);
    if (strncmp(op, "QLinear", 7) == 0 || strstr(op, "Integer") || strstr(op, "Quantize") || (ms && op[0] == 'Q'))
        return fail(q, "a quantized op kiln does not read (it reads QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, "
                       "QLinearConv, QLinearMatMul, MatMulInteger, ConvInteger and com.microsoft's QGemm, QLinearAdd, QLinearMul, "
                       "QLinearConcat, QLinearGlobalAveragePool, QLinearAveragePool, QLinearSigmoid, QLinearLeakyRelu, "
                       "MatMulIntegerToFloat, DynamicQuantizeMatMul)", NULL);
    return KN_OK;
}

/* Whether node nd is a quantized op (the pass has work). */
static bool quantized(const kn__onnx_node *nd) {
    return strstr(nd->op, "Quantize") || strncmp(nd->op, "QLinear", 7) == 0 || strstr(nd->op, "Integer") ||
           strcmp(nd->op, "QGemm") == 0;
}

/* A new node op (a, b or "" none) -> out. */
static bool make_node(kn__onnx_node *nd, const char *op, const char *a, const char *b, const char *out) {
    memset(nd, 0, sizeof *nd);
    nd->inputs = calloc(2, sizeof *nd->inputs);
    nd->outputs = calloc(1, sizeof *nd->outputs);
    if (!nd->inputs || !nd->outputs) {
        free(nd->inputs);
        free(nd->outputs);
        return false;
    }
    snprintf(nd->op, sizeof nd->op, "%s", op);
    snprintf(nd->name, sizeof nd->name, "%s (kiln, after dequantizing)", op);
    snprintf(nd->inputs[0], KN__ONNX_NAME, "%s", a);
    snprintf(nd->inputs[1], KN__ONNX_NAME, "%s", b);
    snprintf(nd->outputs[0], KN__ONNX_NAME, "%s", out);
    nd->n_inputs = b[0] ? 2 : 1;
    nd->n_outputs = 1;
    return true;
}

/* The nodes again: the dropped ones freed, a Relu or a bias Add put after those that take one. */
static kn_status rebuild(qpass *q) {
    kn__onnx_model *m = q->m;
    int n = 0;
    for (int i = 0; i < m->n_nodes; i++) n += !q->dead[i] + (q->relu[i] || q->bias[i][0]);
    kn__onnx_node *nodes = calloc((size_t)(n ? n : 1), sizeof *nodes);
    if (!nodes) return kn__imp_oom(q->s);
    int at = 0;
    bool ok = true;
    for (int i = 0; i < m->n_nodes; i++) {
        kn__onnx_node *nd = &m->nodes[i];
        if (q->dead[i]) {
            kn__onnx_node_free(nd);
            continue;
        }
        nodes[at++] = *nd;
        if (!q->relu[i] && !q->bias[i][0]) continue;
        char pre[KN__ONNX_NAME];
        snprintf(pre, sizeof pre, "kiln/before_%s/%d", q->relu[i] ? "relu" : "bias", i);
        kn__onnx_node *made = &nodes[at++];
        if (ok) ok = make_node(made, q->relu[i] ? "Relu" : "Add", pre, q->relu[i] ? "" : q->bias[i], nd->outputs[0]);
        else memset(made, 0, sizeof *made);
        if (ok) snprintf(nodes[at - 2].outputs[0], KN__ONNX_NAME, "%s", pre);
    }
    free(m->nodes);
    m->nodes = nodes;
    m->n_nodes = at;
    return ok ? KN_OK : kn__imp_oom(q->s);
}

kn_status kn__imp_dequantize(imp *s, kn__onnx_model *m) {
    bool any = false;
    for (int i = 0; i < m->n_nodes && !any; i++) any = quantized(&m->nodes[i]);
    if (!any) return KN_OK;
    qpass q = {.s = s, .m = m};
    int cap = m->n_inits + 2 * m->n_nodes + 8;
    kn__onnx_tensor *inits = realloc(m->inits, (size_t)cap * sizeof *inits);
    if (!inits) return kn__imp_oom(s);
    m->inits = inits;
    q.cap_inits = cap;
    q.dead = calloc((size_t)m->n_nodes, 1);
    q.relu = calloc((size_t)m->n_nodes, 1);
    q.bias = calloc((size_t)m->n_nodes, sizeof *q.bias);
    q.dyn = calloc((size_t)m->n_nodes * 2 + 1, sizeof *q.dyn);
    q.scale = calloc((size_t)m->n_nodes, sizeof *q.scale);
    kn_status st = q.dead && q.relu && q.bias && q.dyn && q.scale ? KN_OK : kn__imp_oom(s);
    for (int i = 0; !st && i < m->n_nodes; i++) {
        if (q.dead[i]) continue;
        s->node = &m->nodes[i], s->node_index = i;
        st = read_node(&q, i);
    }
    /* what still reads a dynamic quantizer's scale or zero point is not a form kiln folds */
    for (int i = 0; !st && i < m->n_nodes; i++)
        for (int k = 0; !st && !q.dead[i] && k < m->nodes[i].n_inputs; k++)
            if (is_dyn(&q, m->nodes[i].inputs[k])) {
                s->node = &m->nodes[i], s->node_index = i;
                st = fail(&q, "it reads a DynamicQuantizeLinear's scale or zero point, which kiln folds into the weights only "
                              "in quantize_dynamic's forms (MatMulInteger or ConvInteger, Cast, Mul by the scales)", NULL);
            }
    /* a Reshape of a float constant (quantize_dynamic's ConvInteger bias, reshaped to (1, M, 1, 1)) folded */
    for (int i = 0; !st && i < m->n_nodes; i++) {
        kn__onnx_node *nd = &m->nodes[i];
        const kn__onnx_tensor *x = !q.dead[i] && op_is(nd, "Reshape") ? const_in(&q, nd, 0) : NULL;
        const kn__onnx_tensor *shape = x ? const_in(&q, nd, 1) : NULL;
        if (!x || !x->f || !shape || !shape->i || shape->numel > KN__ONNX_MAX_DIMS) continue;
        int64_t dims[KN__ONNX_MAX_DIMS], known = 1, free_at = -1;
        for (int k = 0; k < shape->numel; k++) {
            dims[k] = shape->i[k] == 0 && k < x->ndim ? x->dims[k] : shape->i[k];
            if (dims[k] == -1 && free_at < 0) free_at = k;
            else known *= dims[k];
        }
        if (free_at >= 0 && known > 0) dims[free_at] = x->numel / known, known *= dims[free_at];
        if (known != x->numel) continue; /* (left to the walk, which refuses it) */
        char name[KN__ONNX_NAME];
        snprintf(name, sizeof name, "%s", nd->outputs[0]);
        const float *src = x->f;
        float *f = new_const(&q, name, sizeof name, dims, (int)shape->numel);
        if (!f) st = kn__imp_oom(s);
        else memcpy(f, src, (size_t)known * sizeof *f);
        q.dead[i] = 1;
    }
    s->node = NULL;
    if (!st) st = rebuild(&q);
    free(q.dead);
    free(q.relu);
    free(q.bias);
    free(q.dyn);
    free(q.scale);
    return st;
}
